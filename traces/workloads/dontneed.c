/* dontneed: write 32 pages, MADV_DONTNEED pages 8-23, refault: read 8-15
 * (zero page), write 16-23 (new pages). */
#include "mmreplay_ckpt.h"

#define N 32

int main(void)
{
	char *p;
	size_t i;

	mmr_gate();
	p = mmr_map_anon(N);
	for (i = 0; i < N; i++)
		touch_w(p + i * MMR_PAGE, (char)i);
	ckpt("after_write", p, N);
	if (madvise(p + 8 * MMR_PAGE, 16 * MMR_PAGE, MADV_DONTNEED))
		mmr_die("madvise");
	ckpt("after_dontneed", p, N);
	for (i = 8; i < 16; i++)
		touch_r(p + i * MMR_PAGE);
	for (i = 16; i < 24; i++)
		touch_w(p + i * MMR_PAGE, (char)(i + 1));
	ckpt("after_refault", p, N);
	return 0;
}
