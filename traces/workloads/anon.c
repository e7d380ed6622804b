/* anon: anonymous mapping; read faults (zero page), write faults (new page),
 * then writes to the read pages (COW from the shared zero page). 32 pages. */
#include "mmreplay_ckpt.h"

#define N 32

int main(void)
{
	char *p;
	size_t i;

	mmr_gate();
	p = mmr_map_anon(N);
	ckpt("mapped", p, N);
	for (i = 0; i < 16; i++)		/* read fault -> zero page */
		touch_r(p + i * MMR_PAGE);
	ckpt("after_read", p, N);
	for (i = 16; i < N; i++)		/* write fault -> new anon page */
		touch_w(p + i * MMR_PAGE, (char)i);
	ckpt("after_write", p, N);
	for (i = 0; i < 16; i++)		/* write to zero-page PTE -> COW */
		touch_w(p + i * MMR_PAGE, (char)(i + 100));
	ckpt("after_cow_zero", p, N);
	if (munmap(p, N * MMR_PAGE))
		mmr_die("munmap");
	ckpt("after_munmap", p, N);
	return 0;
}
