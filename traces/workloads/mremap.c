/* mremap: write 16 pages, grow in place to 32 (room is reserved after the
 * region), touch the new half, then move the 32 pages with
 * MREMAP_MAYMOVE|MREMAP_FIXED onto a placeholder mapping, touch after. */
#include "mmreplay_ckpt.h"

#define N 16

int main(void)
{
	char *p, *q, *dst, *r;
	size_t i;

	mmr_gate();
	/* reserve 2N pages so growth in place is possible, keep only the first N */
	p = mmr_map_anon(2 * N);
	if (munmap(p + N * MMR_PAGE, N * MMR_PAGE))
		mmr_die("munmap tail");
	for (i = 0; i < N; i++)
		touch_w(p + i * MMR_PAGE, (char)i);
	ckpt("after_write", p, N);
	q = mremap(p, N * MMR_PAGE, 2 * N * MMR_PAGE, 0);
	if (q == MAP_FAILED)
		mmr_die("mremap grow");
	printf("MMREPLAY_INFO grow_in_place=%d old=0x%lx new=0x%lx\n", q == p,
	       (unsigned long)p, (unsigned long)q);
	ckpt("after_grow", q, 2 * N);
	for (i = N; i < 2 * N; i++)
		if (i % 2) touch_r(q + i * MMR_PAGE); else touch_w(q + i * MMR_PAGE, (char)i);
	ckpt("after_grow_touch", q, 2 * N);
	dst = mmr_map_anon(2 * N);	/* placeholder replaced by MREMAP_FIXED */
	r = mremap(q, 2 * N * MMR_PAGE, 2 * N * MMR_PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	if (r == MAP_FAILED)
		mmr_die("mremap move");
	printf("MMREPLAY_INFO moved old=0x%lx new=0x%lx\n", (unsigned long)q, (unsigned long)r);
	ckpt("after_move_old", q, 2 * N);
	ckpt("after_move_new", r, 2 * N);
	for (i = 0; i < 2 * N; i += 2) {
		touch_r(r + i * MMR_PAGE);
		touch_w(r + (i + 1) * MMR_PAGE, (char)i);
	}
	ckpt("after_move_touch", r, 2 * N);
	return 0;
}
