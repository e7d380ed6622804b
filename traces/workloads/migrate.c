/* migrate: try to make the kernel migrate the workload's own anonymous pages
 * (new PFN, same virtual address) and checkpoint before/after each attempt so
 * the PFN change is visible in pagemap.
 * Region: 512 pages (2 MiB) at a 2 MiB boundary with MADV_HUGEPAGE, all
 * written -> one THP.  Attempts, in this order:
 *   1. move_pages(2) of all pages to node 0 (the only node on a 1-node box)
 *   2. mbind(MPOL_BIND node 0, MPOL_MF_MOVE | MPOL_MF_STRICT)
 *   3. split the THP into 512 order-0 pages: MADV_PAGEOUT of the LAST page
 *      only (a partial range splits the large folio; no swap, so the page
 *      itself stays).  Compaction skips compound pages, and order-0 pages
 *      faulted in normally came (right after earlier compactions) from free
 *      fragments above the scanners' meeting point, so compaction moved none
 *      of them (0/256 in 3 rounds, 5 of 6 test runs).  The THP comes from a
 *      free pageblock low in the zone, which compaction does empty.
 *   4. write "1" to /proc/sys/vm/compact_memory (global compaction, root).
 *      If none of our pages moved, steps 3+4 are repeated (at most 8
 *      attempts in all) on a NEW 2 MiB region (labels a<k>_written,
 *      a<k>_after_split, a<k>_after_compact); the old region is unmapped
 *      after the new one is written.  The write runs
 *      compaction synchronously in THIS task, so its migrate:* events pass
 *      the capture's set_event_pid filter (also those for pages of other
 *      processes and page cache that compaction moves).
 *   5. MADV_COLD, then MADV_PAGEOUT of the whole region (reclaim; no swap)
 *   6. MADV_SOFT_OFFLINE on page 0 (needs CONFIG_MEMORY_FAILURE, root)
 * Every attempt prints "MMREPLAY_INFO step=<name> ret=<r> errno=<e> ..." and
 * "MMREPLAY_INFO step=<label> pfn_changed=<n>/<N> not_present=<m>" (pages
 * whose PFN differs from the previous checkpoint), then a checkpoint <label>
 * (split into <label>#0..#3).  Data values are never 0: on split, the
 * kernel maps zero-filled subpages to the shared zero page.  Finally pages 0-3 are written and 4-7 read
 * (after a migration the PTE is restored with its old permissions: no fault
 * expected).  Needs root for pagemap PFNs, compact_memory and soft offline.
 */
#include "mmreplay_ckpt.h"

#define N 512 /* pages = 2 MiB; 4 checkpoint lines per checkpoint (label#0..#3) */

#ifndef MPOL_BIND
#define MPOL_BIND 2
#endif
#ifndef MPOL_MF_STRICT
#define MPOL_MF_STRICT (1 << 0)
#endif
#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE (1 << 1)
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE 101
#endif

static uint64_t prev[N];

/* read the PFNs (0 if not present) */
static void pfns(char *p, uint64_t *out)
{
	uint64_t pm[N];
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	size_t i;

	if (fd < 0)
		mmr_die("open pagemap");
	if (pread(fd, pm, sizeof pm, (off_t)((unsigned long)p / MMR_PAGE) * 8) != (ssize_t)sizeof pm)
		mmr_die("pread pagemap");
	close(fd);
	for (i = 0; i < N; i++)
		out[i] = (pm[i] & (1ULL << 63)) ? (pm[i] & ((1ULL << 55) - 1)) : 0;
}

static void step_done(const char *step, char *p)
{
	uint64_t now[N];
	size_t i, changed = 0, absent = 0;

	pfns(p, now);
	for (i = 0; i < N; i++) {
		if (!now[i])
			absent++;
		else if (now[i] != prev[i])
			changed++;
		prev[i] = now[i];
	}
	printf("MMREPLAY_INFO step=%s pfn_changed=%zu/%d not_present=%zu\n", step, changed, N, absent);
	ckpt(step, p, N);
}

/* map 2*N pages, write the 2 MiB-aligned N pages inside (MADV_HUGEPAGE ->
 * one THP); values are never 0 (a zero-filled subpage is replaced by the
 * shared zero page when the THP is split) */
static char *new_region(char **mapping, const char *label)
{
	char *m = mmr_map_anon(2 * N), *p;
	size_t i;

	p = (char *)(((unsigned long)m + N * MMR_PAGE - 1) & ~(N * MMR_PAGE - 1));
	if (madvise(p, N * MMR_PAGE, MADV_HUGEPAGE))
		mmr_die("madvise hugepage");
	for (i = 0; i < N; i++)
		touch_w(p + i * MMR_PAGE, (char)(i % 251 + 1));
	pfns(p, prev);
	for (i = 1; i < N && prev[i] == prev[0] + i; i++)
		;
	printf("MMREPLAY_INFO region=0x%lx mapping=0x%lx pfn0=0x%llx contiguous_pfns=%zu/%d (512 = THP)\n",
	       (unsigned long)p, (unsigned long)m, (unsigned long long)prev[0], i, N);
	ckpt(label, p, N);
	*mapping = m;
	return p;
}

int main(void)
{
	char *p, *m, *oldm = NULL;
	char lab[64];
	size_t i, moved = 0;
	long r;
	int e, fd, a;

	mmr_gate();
	p = new_region(&m, "written");

	/* 1. move_pages(pid 0 = self, all pages -> node 0) */
	{
		void *pages[N];
		int nodes[N], status[N], cnt[4] = {0, 0, 0, 0};
		for (i = 0; i < N; i++) {
			pages[i] = p + i * MMR_PAGE;
			nodes[i] = 0;
			status[i] = -12345;
		}
		r = syscall(SYS_move_pages, 0, (unsigned long)N, pages, nodes, status, MPOL_MF_MOVE);
		e = r < 0 ? errno : 0;
		for (i = 0; i < N; i++)
			cnt[status[i] == 0 ? 0 : status[i] > 0 ? 1 : status[i] == -12345 ? 3 : 2]++;
		printf("MMREPLAY_INFO step=move_pages ret=%ld errno=%d status_node0=%d status_othernode=%d status_err=%d status_unset=%d first_status=%d\n",
		       r, e, cnt[0], cnt[1], cnt[2], cnt[3], status[0]);
	}
	step_done("after_move_pages", p);

	/* 2. mbind to node 0 with MPOL_MF_MOVE */
	{
		unsigned long mask = 1;
		r = syscall(SYS_mbind, p, N * MMR_PAGE, MPOL_BIND, &mask, 64UL,
			    MPOL_MF_MOVE | MPOL_MF_STRICT);
		e = r < 0 ? errno : 0;
		printf("MMREPLAY_INFO step=mbind ret=%ld errno=%d\n", r, e);
	}
	step_done("after_mbind", p);

	/* 3.+4. split the THP, then compact.  Up to 8 attempts: if none of our
	 * pages moved, map and write a NEW 2 MiB region (the old one stays
	 * mapped until the new one is written, so the new THP comes from
	 * another pageblock) and try again. */
	for (a = 0; a < 8 && !moved; a++) {
		uint64_t before[N];

		if (a > 0) {
			oldm = m;
			snprintf(lab, sizeof lab, "a%d_written", a);
			p = new_region(&m, lab);
			if (munmap(oldm, 2 * N * MMR_PAGE))
				mmr_die("munmap");
		}
		/* 3. split the THP: MADV_PAGEOUT of the last page only */
		r = madvise(p + (N - 1) * MMR_PAGE, MMR_PAGE, MADV_PAGEOUT);
		e = r < 0 ? errno : 0;
		printf("MMREPLAY_INFO step=split_by_pageout_last_page attempt=%d ret=%ld errno=%d\n", a, r, e);
		snprintf(lab, sizeof lab, a ? "a%d_after_split" : "after_split", a);
		step_done(lab, p);

		/* 4. global compaction, synchronously in this task */
		memcpy(before, prev, sizeof before);
		fd = open("/proc/sys/vm/compact_memory", O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			e = errno;
			r = -1;
		} else {
			r = write(fd, "1", 1);
			e = r < 0 ? errno : 0;
			close(fd);
		}
		printf("MMREPLAY_INFO step=compact_memory attempt=%d ret=%ld errno=%d\n", a, r, e);
		snprintf(lab, sizeof lab, a ? "a%d_after_compact" : "after_compact", a);
		step_done(lab, p);
		for (i = 0; i < N; i++)
			moved += before[i] != prev[i];
		if (r < 0)
			break;
	}

	/* 5. reclaim hints */
	r = madvise(p, N * MMR_PAGE, MADV_COLD);
	e = r < 0 ? errno : 0;
	printf("MMREPLAY_INFO step=madv_cold ret=%ld errno=%d\n", r, e);
	step_done("after_cold", p);
	r = madvise(p, N * MMR_PAGE, MADV_PAGEOUT);
	e = r < 0 ? errno : 0;
	printf("MMREPLAY_INFO step=madv_pageout ret=%ld errno=%d\n", r, e);
	step_done("after_pageout", p);

	/* 6. soft offline of page 0 */
	r = madvise(p, MMR_PAGE, MADV_SOFT_OFFLINE);
	e = r < 0 ? errno : 0;
	printf("MMREPLAY_INFO step=madv_soft_offline ret=%ld errno=%d\n", r, e);
	step_done("after_soft_offline", p);

	/* access after the attempts: write 0-3, read 4-7 */
	for (i = 0; i < 4; i++)
		touch_w(p + i * MMR_PAGE, (char)(i + 100));
	for (i = 4; i < 8; i++)
		touch_r(p + i * MMR_PAGE);
	step_done("after_access", p);
	if (munmap(m, 2 * N * MMR_PAGE))
		mmr_die("munmap");
	return 0;
}
