/* collapse: a 2 MiB-aligned 2 MiB anonymous region written page by page as 4 KiB pages
 * (MADV_NOHUGEPAGE), then MADV_COLLAPSE (6.1+): khugepaged's collapse_huge_page, run
 * synchronously, copies the 512 pages into one new THP mapped by a PMD. */
#include "mmreplay_ckpt.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define HP (2UL << 20)
#define NP (HP / MMR_PAGE)

int main(void)
{
	char *raw, *p;
	size_t i;

	mmr_gate();
	raw = mmap(NULL, 2 * HP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		mmr_die("mmap");
	p = (char *)(((unsigned long)raw + HP - 1) & ~(HP - 1));
	if (p > raw && munmap(raw, (size_t)(p - raw)))
		mmr_die("munmap head");
	if (raw + 2 * HP > p + HP && munmap(p + HP, (size_t)(raw + 2 * HP - (p + HP))))
		mmr_die("munmap tail");
	if (madvise(p, HP, MADV_NOHUGEPAGE))
		mmr_die("madvise nohugepage");
	for (i = 0; i < NP; i++)
		touch_w(p + i * MMR_PAGE, (char)i);
	ckpt("after_write", p, NP);
	if (madvise(p, HP, MADV_HUGEPAGE))
		mmr_die("madvise hugepage");
	if (madvise(p, HP, MADV_COLLAPSE))
		mmr_die("madvise collapse");
	ckpt("after_collapse", p, NP);
	touch_w(p, 1);
	ckpt("after_write_thp", p, NP);
	return 0;
}
