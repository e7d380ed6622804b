/* mprotect: write 16 pages, mprotect PROT_READ, read them, mprotect back to
 * PROT_READ|PROT_WRITE, write them again (write-protect faults, unless the
 * kernel restores the write bit in mprotect itself), then the same for a
 * second region whose pages were only read before mprotect (zero page). */
#include "mmreplay_ckpt.h"

#define N 16

int main(void)
{
	char *p;
	size_t i;

	mmr_gate();
	p = mmr_map_anon(N);
	for (i = 0; i < 8; i++)
		touch_w(p + i * MMR_PAGE, (char)i);
	for (i = 8; i < N; i++)
		touch_r(p + i * MMR_PAGE);
	ckpt("after_fault", p, N);
	if (mprotect(p, N * MMR_PAGE, PROT_READ))
		mmr_die("mprotect ro");
	ckpt("after_mprotect_ro", p, N);
	for (i = 0; i < N; i++)
		touch_r(p + i * MMR_PAGE);
	ckpt("after_read_ro", p, N);
	if (mprotect(p, N * MMR_PAGE, PROT_READ | PROT_WRITE))
		mmr_die("mprotect rw");
	ckpt("after_mprotect_rw", p, N);
	for (i = 0; i < N; i++)
		touch_w(p + i * MMR_PAGE, (char)(i + 1));
	ckpt("after_write_rw", p, N);
	return 0;
}
