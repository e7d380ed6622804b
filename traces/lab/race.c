// SPDX-License-Identifier: GPL-2.0
/*
 * race.c - mmreplay kernel lab: race HMM_DMIRROR_EXCLUSIVE (test_hmm) requests
 * against another thread working on the same anonymous region.
 *
 * Build (static, from the kernel tree that provides lib/test_hmm_uapi.h):
 *   gcc -O2 -static -pthread -I<kernel tree> -o race race.c
 *
 * Usage: race MODE [CALLS_PER_SIZE] [SEED] [SIZES]
 *   MODE  = none | dontneed | fork_exit | fork_write | mprotect | thp
 *         | uffd_wp | migrate | pageout | writer | two_req | ksm
 *   SIZES = comma separated page counts (default 1,4,16,64,128,256,512)
 *
 * Region: 1024 anonymous pages (MAP_PRIVATE|MAP_ANONYMOUS, MADV_NOHUGEPAGE),
 * prefaulted by writing every page.  For each size, CALLS_PER_SIZE requests at
 * random page offsets inside the region.  Mode thp: the region is 2 MiB
 * aligned and MADV_HUGEPAGE instead (prefaulted the same way, so it is backed
 * by PMD-mapped THPs when the kernel has them), and no racer activity (like
 * none).
 *
 * stdout, one line per event (written with a single write(2)):
 *   RACE_START mode=.. calls=.. seed=.. sizes=.. region=0x.. npages=1024 pid=.. clock_ns=.. anon_huge_kb=..
 *   RACE_CALL mode=<m> seq=<n> clock_ns=<CLOCK_MONOTONIC before ioctl> tid=<tid>
 *             addr=0x<hex> npages=<n> ret=<ioctl ret> errno=<errno> cpages=<cmd.cpages>
 *             pagemap=<one letter per page, read right after the ioctl:
 *                      P present, - none, S swapped (other swap type),
 *                      E device-exclusive entry: swap type SWP_DEVICE_EXCLUSIVE_WRITE
 *                        or _READ, 29 or 30 in the 6.12 lab build)>
 *   RACE_OP op=dontneed|refault|fork|child_write|mprotect addr=0x.. npages=.. clock_ns=.. tid=.. [prot=r|rw] [ret=..] [pid=..]
 *   RACE_OP op=uffd_wp|uffd_unwp addr=0x.. npages=.. clock_ns=<after> tid=.. ret=.. errno=..
 *   RACE_OP op=move_pages addr=0x<first page> npages=.. clock_ns=<after> tid=.. node=<target> ret=.. errno=..
 *            status=0x<page>:<node or -errno>,... (the pages need not be contiguous)
 *   RACE_OP op=pageout addr=0x.. npages=.. clock_ns=<after> tid=.. ret=.. errno=..
 *   RACE_OP op=write addr=0x.. npages=.. clock_ns=<after> tid=..
 *   RACE_UFFD features=0x.. ioctls=0x..     (uffd_wp: the UFFDIO_API/REGISTER answers)
 *   RACE_KSM pages_sharing=N waited_ms=N    (ksm: before RACE_START, after waiting
 *                                            up to 5 s for ksmd's first merges)
 *   (two_req: the second thread's requests are RACE_CALL lines with their own
 *    tid and dev=1; every RACE_CALL carries dev=<hmm_dmirror minor>)
 *   RACE_DONE mode=.. calls=.. clock_ns=.. anon_huge_kb=..
 * (anon_huge_kb: the region's AnonHugePages from /proc/self/smaps, after the
 * prefault and at the end.)
 * trace_marker (tracefs), around each ioctl:
 *   RACE_BEGIN mode=<m> seq=<n> clock_ns=<ns> tid=<tid> addr=0x<hex> npages=<n>
 *   RACE_END   mode=<m> seq=<n> clock_ns=<ns> tid=<tid> addr=0x<hex> npages=<n>
 * (RACE_BEGIN's clock_ns is the same value as RACE_CALL's clock_ns.)
 *
 * The racer only works while a request is in flight (a flag set just before
 * RACE_BEGIN and cleared after RACE_END); it busy-waits without system calls
 * otherwise, so the trace stays small.  fork and mprotect take mmap_write_lock
 * and therefore land between requests (test_hmm holds mmap_read_lock for the
 * whole ioctl); MADV_DONTNEED and page faults can land inside.
 *
 * Racers added for the 6.12-r2 record (all one op per loop turn, only while a
 * request is in flight, 1-4 random pages unless said otherwise):
 *   uffd_wp  the region is registered with userfaultfd in WP mode with
 *            UFFD_FEATURE_WP_ASYNC (a write to a protected page is resolved by
 *            the kernel, no handler thread); the racer alternates
 *            UFFDIO_WRITEPROTECT mode=WP on a random range and mode=0 on the
 *            same range (mwriteprotect_range runs under mmap_read_lock).
 *   migrate  move_pages(2) (raw syscall) of up to 4 PRESENT pages (pagemap)
 *            among 32 of the request in flight, to the other NUMA node (the
 *            node of the first is asked first, nodes=NULL).
 *   pageout  madvise(MADV_PAGEOUT) of random pages (needs a swap device).
 *   writer   CPU writes to random pages (revokes exclusivity: do_swap_page).
 *   two_req  a second thread with its own fd on /dev/hmm_dmirror1 (another
 *            device, so another owner) requests one exclusive range per main
 *            request, of the same size, overlapping it (start within +-n/2).
 *   ksm      the region is MADV_MERGEABLE and every page has the same
 *            content; ksmd (started by run.sh) is the racer, the thread idles.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <lib/test_hmm_uapi.h>
#include <linux/userfaultfd.h>
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE (1 << 1)
#endif

#define REGION_PAGES 1024
#define PAGE 4096UL
/* 6.12, CONFIG_DEVICE_PRIVATE + CONFIG_MIGRATION, no CONFIG_MEMORY_FAILURE:
 * MAX_SWAPFILES = 32 - 4 - 3 - 0 - 1 = 24; SWP_DEVICE_EXCLUSIVE_WRITE = 24+0+3+2,
 * SWP_DEVICE_EXCLUSIVE_READ = 24+0+3+3 (include/linux/swap.h). */
/* lab.sh passes the values of the tree it builds against (offsets.txt). */
#ifndef SWP_DEVICE_EXCLUSIVE_WRITE
#define SWP_DEVICE_EXCLUSIVE_WRITE 29
#endif
#ifndef SWP_DEVICE_EXCLUSIVE_READ
#define SWP_DEVICE_EXCLUSIVE_READ 30
#endif

static const char *mode;
static char *region;
static int marker_fd = -1, marker_fd2 = -1;
static volatile int active;	/* a request is in flight */
static volatile int stop;
static unsigned int racer_seed;
static int uffd = -1;
static int seq;			/* request counter, shared by both requesting threads */
static volatile unsigned long cur_first, cur_n;	/* the main thread's request */
static volatile unsigned int gen;		/* bumped per main request */
static char *mirror2;
static int fd2 = -1, pm_fd = -1;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void out(int fd, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	if (fd >= 0 && write(fd, buf, n) < 0) {
		/* nothing useful to do */
	}
}

static unsigned int rnd(unsigned int *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 8) & 0xffffff;
}

static void touch(unsigned long first, unsigned long n, char val)
{
	for (unsigned long i = first; i < first + n; i++)
		*(volatile char *)(region + i * PAGE) = val;
}

static void racer_dontneed(void)
{
	unsigned long n = 1 + rnd(&racer_seed) % 4;
	unsigned long first = rnd(&racer_seed) % (REGION_PAGES - n + 1);
	char *a = region + first * PAGE;

	madvise(a, n * PAGE, MADV_DONTNEED);
	out(1, "RACE_OP op=dontneed addr=0x%lx npages=%lu clock_ns=%llu tid=%d\n",
	    (unsigned long)a, n, (unsigned long long)now_ns(), gettid_());
	touch(first, n, 0x5a);
	out(1, "RACE_OP op=refault addr=0x%lx npages=%lu clock_ns=%llu tid=%d\n",
	    (unsigned long)a, n, (unsigned long long)now_ns(), gettid_());
}

static void racer_fork(int write_pages)
{
	uint64_t t = now_ns();
	pid_t pid = fork();

	if (pid == 0) {
		if (write_pages) {
			unsigned int s = racer_seed ^ (unsigned int)getpid();
			unsigned long n = 1 + rnd(&s) % 8;
			unsigned long first = rnd(&s) % (REGION_PAGES - n + 1);

			touch(first, n, 0x33);
			out(1, "RACE_OP op=child_write addr=0x%lx npages=%lu clock_ns=%llu tid=%d\n",
			    (unsigned long)(region + first * PAGE), n,
			    (unsigned long long)now_ns(), getpid());
		}
		_exit(0);
	}
	out(1, "RACE_OP op=fork addr=0x%lx npages=%d clock_ns=%llu tid=%d ret=%d errno=%d pid=%d\n",
	    (unsigned long)region, REGION_PAGES, (unsigned long long)t, gettid_(),
	    pid < 0 ? -1 : 0, pid < 0 ? errno : 0, (int)pid);
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static void racer_mprotect(void)
{
	static unsigned long first, n;
	static int readonly;
	int ret;

	if (!readonly) {
		n = 1 + rnd(&racer_seed) % 64;
		first = rnd(&racer_seed) % (REGION_PAGES - n + 1);
	}
	ret = mprotect(region + first * PAGE, n * PAGE,
		       readonly ? PROT_READ | PROT_WRITE : PROT_READ);
	readonly = !readonly;
	out(1, "RACE_OP op=mprotect addr=0x%lx npages=%lu clock_ns=%llu tid=%d prot=%s ret=%d\n",
	    (unsigned long)(region + first * PAGE), n, (unsigned long long)now_ns(),
	    gettid_(), readonly ? "r" : "rw", ret);
}

static void racer_uffd_wp(void)
{
	static unsigned long first, n;
	static int wp;
	struct uffdio_writeprotect w;
	int ret, err;

	if (!wp) {
		n = 1 + rnd(&racer_seed) % 4;
		first = rnd(&racer_seed) % (REGION_PAGES - n + 1);
	}
	memset(&w, 0, sizeof(w));
	w.range.start = (unsigned long)(region + first * PAGE);
	w.range.len = n * PAGE;
	w.mode = wp ? 0 : UFFDIO_WRITEPROTECT_MODE_WP;
	ret = ioctl(uffd, UFFDIO_WRITEPROTECT, &w);
	err = ret < 0 ? errno : 0;
	wp = !wp;
	out(1, "RACE_OP op=%s addr=0x%lx npages=%lu clock_ns=%llu tid=%d ret=%d errno=%d\n",
	    wp ? "uffd_wp" : "uffd_unwp", (unsigned long)(region + first * PAGE), n,
	    (unsigned long long)now_ns(), gettid_(), ret, err);
}

static void racer_migrate(void)
{
	/* Present pages inside the request in flight: pages left
	 * device-exclusive by earlier requests are not present (move_pages
	 * gives -ENOENT for them), and a request's pages are present only
	 * between GUP restoring them and the walk converting them, which is
	 * the window to hit. So look at up to 32 pages of the request from a
	 * random offset in /proc/self/pagemap and move up to 4 present ones
	 * (a first record that moved random pages of the whole region got
	 * -ENOENT for 321 of 387 moves and no failed request). */
	unsigned long rn = cur_n, rf = cur_first;
	unsigned long k = rn < 32 ? rn : 32, start, n = 0;
	uint64_t pm[32];
	void *pages[4];
	int nodes[4], status[4], node;
	char st[64];
	long ret;
	int err, j = 0;

	start = rf + rnd(&racer_seed) % (rn - k + 1);
	if (pread(pm_fd, pm, k * 8, (off_t)(((unsigned long)region / PAGE) + start) * 8) != (ssize_t)(k * 8))
		return;
	for (unsigned long i = 0; i < k && n < 4; i++)
		if (pm[i] & (1ull << 63))
			pages[n++] = region + (start + i) * PAGE;
	if (!n)
		return;	/* nothing present: look again (no log line) */
	/* where is the first page now? (nodes == NULL: query only) */
	status[0] = -1;
	syscall(__NR_move_pages, 0, 1UL, pages, NULL, status, 0);
	node = status[0] == 1 ? 0 : 1;
	for (unsigned long i = 0; i < n; i++) {
		nodes[i] = node;
		status[i] = -1000;
	}
	ret = syscall(__NR_move_pages, 0, n, pages, nodes, status, MPOL_MF_MOVE);
	err = ret < 0 ? errno : 0;
	st[0] = 0;
	for (unsigned long i = 0; i < n; i++)
		j += snprintf(st + j, sizeof(st) - j, "%s0x%lx:%d", i ? "," : "", (unsigned long)pages[i], status[i]);
	out(1, "RACE_OP op=move_pages addr=0x%lx npages=%lu clock_ns=%llu tid=%d node=%d ret=%ld errno=%d status=%s\n",
	    (unsigned long)pages[0], n, (unsigned long long)now_ns(), gettid_(), node, ret, err, st);
}

static void racer_pageout(void)
{
	unsigned long n = 1 + rnd(&racer_seed) % 4;
	unsigned long first = rnd(&racer_seed) % (REGION_PAGES - n + 1);
	char *a = region + first * PAGE;
	int ret = madvise(a, n * PAGE, MADV_PAGEOUT);
	int err = ret < 0 ? errno : 0;

	out(1, "RACE_OP op=pageout addr=0x%lx npages=%lu clock_ns=%llu tid=%d ret=%d errno=%d\n",
	    (unsigned long)a, n, (unsigned long long)now_ns(), gettid_(), ret, err);
}

static void racer_writer(void)
{
	unsigned long n = 1 + rnd(&racer_seed) % 4;
	unsigned long first = rnd(&racer_seed) % (REGION_PAGES - n + 1);

	touch(first, n, 0x77);
	out(1, "RACE_OP op=write addr=0x%lx npages=%lu clock_ns=%llu tid=%d\n",
	    (unsigned long)(region + first * PAGE), n, (unsigned long long)now_ns(), gettid_());
}

static void pagemap_letters(int pm_fd, unsigned long addr, unsigned long n, char *dst);

/* One exclusive request on fd (device dev), logged like the main thread's. */
static void request(int fd, int dev, char *mir, unsigned long first, unsigned long n)
{
	unsigned long addr = (unsigned long)region + first * PAGE;
	struct hmm_dmirror_cmd cmd = {
		.addr = addr, .ptr = (uintptr_t)mir, .npages = n,
	};
	char letters[REGION_PAGES + 1];
	uint64_t t0;
	int ret, err, s = __sync_add_and_fetch(&seq, 1);

	t0 = now_ns();
	out(marker_fd, "RACE_BEGIN mode=%s seq=%d clock_ns=%llu tid=%d addr=0x%lx npages=%lu\n",
	    mode, s, (unsigned long long)t0, gettid_(), addr, n);
	if (marker_fd2 >= 0)
		out(marker_fd2, "RACE_BEGIN mode=%s seq=%d clock_ns=%llu tid=%d addr=0x%lx npages=%lu\n",
		    mode, s, (unsigned long long)t0, gettid_(), addr, n);
	ret = ioctl(fd, HMM_DMIRROR_EXCLUSIVE, &cmd);
	err = ret < 0 ? errno : 0;
	{
		uint64_t t1 = now_ns();

		out(marker_fd, "RACE_END mode=%s seq=%d clock_ns=%llu tid=%d addr=0x%lx npages=%lu\n",
		    mode, s, (unsigned long long)t1, gettid_(), addr, n);
		if (marker_fd2 >= 0)
			out(marker_fd2, "RACE_END mode=%s seq=%d clock_ns=%llu tid=%d addr=0x%lx npages=%lu\n",
			    mode, s, (unsigned long long)t1, gettid_(), addr, n);
	}
	if (dev == 0)
		active = 0;
	pagemap_letters(pm_fd, addr, n, letters);
	out(1, "RACE_CALL mode=%s seq=%d clock_ns=%llu tid=%d addr=0x%lx npages=%lu ret=%d errno=%d cpages=%llu %spagemap=%s\n",
	    mode, s, (unsigned long long)t0, gettid_(), addr, n, ret, err,
	    (unsigned long long)cmd.cpages, !strcmp(mode, "two_req") ? (dev ? "dev=1 " : "dev=0 ") : "", letters);
}

static void racer_two_req(void)
{
	static unsigned int done_gen;
	unsigned int g = gen;
	unsigned long n = cur_n, first = cur_first;
	long lo, hi, f;

	if (g == done_gen)
		return;
	done_gen = g;
	lo = (long)first - (long)(n / 2);
	hi = (long)first + (long)(n / 2);
	f = lo + (long)(rnd(&racer_seed) % (unsigned long)(hi - lo + 1));
	if (f < 0)
		f = 0;
	if (f > (long)(REGION_PAGES - n))
		f = REGION_PAGES - n;
	request(fd2, 1, mirror2, (unsigned long)f, n);
}

static void *racer(void *arg)
{
	int two = !strcmp(mode, "two_req");

	(void)arg;
	while (!stop) {
		/* two_req: one request per main request (gen), even if the main
		 * thread's request already ended */
		if (!active && !two)
			continue;	/* busy wait, no syscalls */
		if (!strcmp(mode, "dontneed"))
			racer_dontneed();
		else if (!strcmp(mode, "fork_exit"))
			racer_fork(0);
		else if (!strcmp(mode, "fork_write"))
			racer_fork(1);
		else if (!strcmp(mode, "mprotect"))
			racer_mprotect();
		else if (!strcmp(mode, "uffd_wp"))
			racer_uffd_wp();
		else if (!strcmp(mode, "migrate"))
			racer_migrate();
		else if (!strcmp(mode, "pageout"))
			racer_pageout();
		else if (!strcmp(mode, "writer"))
			racer_writer();
		else if (!strcmp(mode, "two_req"))
			racer_two_req();
		else
			break;
	}
	return NULL;
}

/* AnonHugePages (kB) of the smaps entry (VMA) holding addr; -1 if not found. */
static long anon_huge_kb(unsigned long addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int in = 0;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = s <= addr && addr < e;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

static void pagemap_letters(int pm_fd, unsigned long addr, unsigned long n, char *dst)
{
	uint64_t e[512];
	unsigned long done = 0;

	while (done < n) {
		unsigned long k = n - done > 512 ? 512 : n - done;
		off_t off = (off_t)((addr / PAGE) + done) * 8;
		ssize_t r = pread(pm_fd, e, k * 8, off);

		for (unsigned long i = 0; i < k; i++) {
			char c = '?';

			if (r == (ssize_t)(k * 8)) {
				uint64_t v = e[i];
				unsigned int type = v & 0x1f;

				if (v & (1ull << 63))
					c = 'P';
				else if (v & (1ull << 62))
					c = (type == SWP_DEVICE_EXCLUSIVE_WRITE ||
					     type == SWP_DEVICE_EXCLUSIVE_READ) ? 'E' : 'S';
				else
					c = '-';
			}
			dst[done + i] = c;
		}
		done += k;
	}
	dst[n] = 0;
}

int main(int argc, char **argv)
{
	int calls = argc > 2 ? atoi(argv[2]) : 40;
	unsigned int seed = argc > 3 ? (unsigned int)strtoul(argv[3], NULL, 0) : 12345;
	const char *sizes_arg = argc > 4 ? argv[4] : "1,4,16,64,128,256,512";
	unsigned long sizes[32];
	int nsizes = 0, fd;
	char *mirror, *copy, *p;
	const char *markers;
	pthread_t thr;

	if (argc < 2) {
		fprintf(stderr, "usage: %s none|dontneed|fork_exit|fork_write|mprotect|thp|uffd_wp|migrate|pageout|writer|two_req|ksm [calls] [seed] [sizes]\n",
			argv[0]);
		return 2;
	}
	mode = argv[1];
	racer_seed = seed * 7919u + 1;
	copy = strdup(sizes_arg);
	for (p = strtok(copy, ","); p && nsizes < 32; p = strtok(NULL, ","))
		sizes[nsizes++] = strtoul(p, NULL, 0);

	fd = open("/dev/hmm_dmirror0", O_RDWR);
	if (fd < 0) {
		perror("open /dev/hmm_dmirror0");
		return 1;
	}
	pm_fd = open("/proc/self/pagemap", O_RDONLY);
	if (pm_fd < 0) {
		perror("open pagemap");
		return 1;
	}
	/* RACE_MARKERS="file1:file2": write the markers to up to two trace_marker
	 * files (run.sh records into two tracefs instances at once, and a
	 * marker only goes to the buffer of the file it is written to). */
	markers = getenv("RACE_MARKERS");
	if (markers && *markers) {
		char *m = strdup(markers), *c = strchr(m, ':');

		if (c)
			*c++ = 0;
		marker_fd = open(m, O_WRONLY);
		if (c && *c)
			marker_fd2 = open(c, O_WRONLY);
	} else {
		marker_fd = open("/sys/kernel/tracing/trace_marker", O_WRONLY);
	}
	if (!strcmp(mode, "two_req")) {
		fd2 = open("/dev/hmm_dmirror1", O_RDWR);
		if (fd2 < 0) {
			perror("open /dev/hmm_dmirror1");
			return 1;
		}
	}

	if (!strcmp(mode, "thp")) {
		/* 2 MiB aligned, so that the region is two whole PMDs. */
		unsigned long huge = 2UL << 20, len = REGION_PAGES * PAGE + huge;
		char *raw = mmap(NULL, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		region = raw;
		if (raw != MAP_FAILED) {
			region = (char *)(((unsigned long)raw + huge - 1) & ~(huge - 1));
			if (region > raw)
				munmap(raw, region - raw);
			if (region + REGION_PAGES * PAGE < raw + len)
				munmap(region + REGION_PAGES * PAGE,
				       raw + len - (region + REGION_PAGES * PAGE));
		}
	} else {
		region = mmap(NULL, REGION_PAGES * PAGE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	mirror = mmap(NULL, REGION_PAGES * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED || mirror == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (!strcmp(mode, "thp")) {
		if (madvise(region, REGION_PAGES * PAGE, MADV_HUGEPAGE))
			perror("madvise MADV_HUGEPAGE");
	} else {
		madvise(region, REGION_PAGES * PAGE, MADV_NOHUGEPAGE);
	}
	madvise(mirror, REGION_PAGES * PAGE, MADV_NOHUGEPAGE);
	if (!strcmp(mode, "ksm") && madvise(region, REGION_PAGES * PAGE, MADV_MERGEABLE))
		perror("madvise MADV_MERGEABLE");
	touch(0, REGION_PAGES, 1);	/* every page: 0x01 then zeros (identical) */
	memset(mirror, 0, REGION_PAGES * PAGE);
	if (!strcmp(mode, "two_req")) {
		mirror2 = mmap(NULL, REGION_PAGES * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mirror2 == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		madvise(mirror2, REGION_PAGES * PAGE, MADV_NOHUGEPAGE);
		memset(mirror2, 0, REGION_PAGES * PAGE);
	}
	if (!strcmp(mode, "ksm")) {
		/* let ksmd (started by run.sh) merge the identical pages first:
		 * wait up to 5 s for pages_sharing > 0 */
		long sharing = -1;
		uint64_t w0 = now_ns();

		while (now_ns() - w0 < 5000000000ull) {
			FILE *f = fopen("/sys/kernel/mm/ksm/pages_sharing", "r");

			sharing = -1;
			if (f) {
				if (fscanf(f, "%ld", &sharing) != 1)
					sharing = -1;
				fclose(f);
			}
			if (sharing > 0)
				break;
			usleep(10000);
		}
		out(1, "RACE_KSM pages_sharing=%ld waited_ms=%llu\n", sharing,
		    (unsigned long long)((now_ns() - w0) / 1000000));
	}
	if (!strcmp(mode, "uffd_wp")) {
		struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC };
		struct uffdio_register reg = {
			.range = { .start = (unsigned long)region, .len = REGION_PAGES * PAGE },
			.mode = UFFDIO_REGISTER_MODE_WP,
		};

		uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		if (uffd < 0) {
			perror("userfaultfd");
			return 1;
		}
		if (ioctl(uffd, UFFDIO_API, &api)) {
			perror("UFFDIO_API (WP_ASYNC)");
			return 1;
		}
		if (ioctl(uffd, UFFDIO_REGISTER, &reg)) {
			perror("UFFDIO_REGISTER (MODE_WP)");
			return 1;
		}
		out(1, "RACE_UFFD features=0x%llx ioctls=0x%llx\n", (unsigned long long)api.features,
		    (unsigned long long)reg.ioctls);
	}

	out(1, "RACE_START mode=%s calls=%d seed=%u sizes=%s region=0x%lx npages=%d pid=%d clock_ns=%llu anon_huge_kb=%ld\n",
	    mode, calls, seed, sizes_arg, (unsigned long)region, REGION_PAGES, getpid(),
	    (unsigned long long)now_ns(), anon_huge_kb((unsigned long)region));

	if (pthread_create(&thr, NULL, racer, NULL)) {
		perror("pthread_create");
		return 1;
	}

	for (int si = 0; si < nsizes; si++) {
		unsigned long n = sizes[si];

		if (n == 0 || n > REGION_PAGES)
			continue;
		for (int c = 0; c < calls; c++) {
			unsigned long first = rnd(&seed) % (REGION_PAGES - n + 1);

			cur_first = first;
			cur_n = n;
			__sync_synchronize();
			gen++;
			active = 1;
			request(fd, 0, mirror, first, n);	/* clears active after RACE_END */
		}
	}
	stop = 1;
	pthread_join(thr, NULL);
	if (!strcmp(mode, "mprotect"))
		mprotect(region, REGION_PAGES * PAGE, PROT_READ | PROT_WRITE);
	out(1, "RACE_DONE mode=%s calls=%d clock_ns=%llu anon_huge_kb=%ld\n", mode, seq,
	    (unsigned long long)now_ns(), anon_huge_kb((unsigned long)region));
	return 0;
}
