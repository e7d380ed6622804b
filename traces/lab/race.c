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
static int marker_fd = -1;
static volatile int active;	/* a request is in flight */
static volatile int stop;
static unsigned int racer_seed;

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

static void *racer(void *arg)
{
	(void)arg;
	while (!stop) {
		if (!active)
			continue;	/* busy wait, no syscalls */
		if (!strcmp(mode, "dontneed"))
			racer_dontneed();
		else if (!strcmp(mode, "fork_exit"))
			racer_fork(0);
		else if (!strcmp(mode, "fork_write"))
			racer_fork(1);
		else if (!strcmp(mode, "mprotect"))
			racer_mprotect();
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
	int nsizes = 0, fd, pm_fd, seq = 0;
	char *mirror, *copy, *p;
	pthread_t thr;

	if (argc < 2) {
		fprintf(stderr, "usage: %s none|dontneed|fork_exit|fork_write|mprotect|thp [calls] [seed] [sizes]\n",
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
	marker_fd = open("/sys/kernel/tracing/trace_marker", O_WRONLY);

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
	touch(0, REGION_PAGES, 1);
	memset(mirror, 0, REGION_PAGES * PAGE);

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
			unsigned long addr = (unsigned long)region + first * PAGE;
			struct hmm_dmirror_cmd cmd = {
				.addr = addr, .ptr = (uintptr_t)mirror, .npages = n,
			};
			char letters[REGION_PAGES + 1];
			uint64_t t0;
			int ret, err;

			seq++;
			active = 1;
			t0 = now_ns();
			out(marker_fd, "RACE_BEGIN mode=%s seq=%d clock_ns=%llu tid=%d addr=0x%lx npages=%lu\n",
			    mode, seq, (unsigned long long)t0, gettid_(), addr, n);
			ret = ioctl(fd, HMM_DMIRROR_EXCLUSIVE, &cmd);
			err = ret < 0 ? errno : 0;
			out(marker_fd, "RACE_END mode=%s seq=%d clock_ns=%llu tid=%d addr=0x%lx npages=%lu\n",
			    mode, seq, (unsigned long long)now_ns(), gettid_(), addr, n);
			active = 0;
			pagemap_letters(pm_fd, addr, n, letters);
			out(1, "RACE_CALL mode=%s seq=%d clock_ns=%llu tid=%d addr=0x%lx npages=%lu ret=%d errno=%d cpages=%llu pagemap=%s\n",
			    mode, seq, (unsigned long long)t0, gettid_(), addr, n, ret, err,
			    (unsigned long long)cmd.cpages, letters);
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
