/* swap: write 32 pages, MADV_PAGEOUT them all (reclaim: try_to_unmap leaves swap entries), then
 * read pages 8-15 and write 16-23 back in (do_swap_page), then munmap (the zap drops the rest).
 * Needs swap (swapon); without it MADV_PAGEOUT leaves anonymous pages where they are. */
#include "mmreplay_ckpt.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

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
	if (madvise(p, N * MMR_PAGE, MADV_PAGEOUT))
		mmr_die("madvise");
	ckpt("after_pageout", p, N);
	for (i = 8; i < 16; i++)
		touch_r(p + i * MMR_PAGE);
	for (i = 16; i < 24; i++)
		touch_w(p + i * MMR_PAGE, (char)(i + 1));
	ckpt("after_swapin", p, N);
	if (munmap(p, N * MMR_PAGE))
		mmr_die("munmap");
	return 0;
}
