/* mmreplay_ckpt.h - shared conventions for the mmreplay trace workloads.
 *
 * Gate:        mmr_gate() prints "MMREPLAY_PID <pid>", flushes, and waits for
 *              SIGUSR1 (blocked first, then sigwait) unless MMREPLAY_NOGATE=1.
 * Checkpoint:  ckpt(label, start, npages) reads /proc/self/pagemap and emits
 *              ONE line (or several "label#k" lines if >4000 bytes) to stdout
 *              and, with a single write(2), to the trace_marker file named by
 *              env MMREPLAY_MARKER (skipped if unset; several paths may be
 *              given separated by ':', each gets its own single write):
 *   MMREPLAY_CKPT v=1 label=<l> pid=<pid> tid=<tid> clock_ns=<mono ns> start=0x<hex> npages=<n> pages=<e0>,<e1>,...
 *              entry: "-" | "P:<pfn hex>:<flags>" | "S:<type>:<offset hex>:<flags>"
 *              flags: d = soft-dirty (bit 55), x = exclusively mapped (bit 56),
 *                     f = file page / shared anon (bit 61)
 *              After the marker write, a "beacon" syscall
 *                 ioctl(-1, MMREPLAY_BEACON_CMD, clock_ns)   (fails with EBADF)
 *              is made so that tools that cannot record ftrace:print (perf)
 *              still see each checkpoint (sys_enter_ioctl fd=-1, cmd=0x4d4d5250,
 *              arg=clock_ns of the line).  MMREPLAY_NOBEACON=1 disables it.
 * Touch:       touch_r()/touch_w() access one byte of a page and print
 *              "MMREPLAY_TOUCH op=<r|w> addr=0x<hex> tid=<tid>" to stdout.
 *
 * stdout is switched to line buffering in mmr_gate(), so fork() never
 * duplicates buffered output.
 */
#ifndef MMREPLAY_CKPT_H
#define MMREPLAY_CKPT_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MMR_PAGE 4096UL
#define MMREPLAY_BEACON_CMD 0x4d4d5250UL /* 'MMRP' */
#define MMR_LINE_MAX 4000

static inline pid_t mmr_gettid(void) { return (pid_t)syscall(SYS_gettid); }

static inline void mmr_die(const char *what)
{
	fprintf(stderr, "mmreplay: %s: %s\n", what, strerror(errno));
	exit(1);
}

#define MMR_MAX_MARKERS 4
static int mmr_marker_fd[MMR_MAX_MARKERS];
static int mmr_nmarkers = -1; /* -1: not opened yet */

/* MMREPLAY_MARKER is one trace_marker path, or several separated by ':'
 * (e.g. the trace_marker files of two tracefs instances); each file gets the
 * line with one write(2). */
static inline void mmr_open_markers(void)
{
	char buf[1024], *tok, *save = NULL;
	const char *m = getenv("MMREPLAY_MARKER");

	if (mmr_nmarkers >= 0)
		return;
	mmr_nmarkers = 0;
	if (!m || !*m)
		return;
	snprintf(buf, sizeof buf, "%s", m);
	for (tok = strtok_r(buf, ":", &save); tok && mmr_nmarkers < MMR_MAX_MARKERS;
	     tok = strtok_r(NULL, ":", &save)) {
		int fd = open(tok, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			fprintf(stderr, "mmreplay: cannot open marker %s: %s\n", tok, strerror(errno));
		else
			mmr_marker_fd[mmr_nmarkers++] = fd;
	}
}

static inline void mmr_gate(void)
{
	sigset_t set;
	int sig;
	const char *ng = getenv("MMREPLAY_NOGATE");

	setvbuf(stdout, NULL, _IOLBF, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		mmr_die("sigprocmask");
	/* open the marker before the gate so the open is not in the trace */
	mmr_open_markers();
	printf("MMREPLAY_PID %d\n", (int)getpid());
	fflush(stdout);
	if (ng && strcmp(ng, "1") == 0)
		return;
	if (sigwait(&set, &sig))
		mmr_die("sigwait");
}

static inline void touch_r(volatile char *p)
{
	(void)*p;
	printf("MMREPLAY_TOUCH op=r addr=0x%lx tid=%d\n", (unsigned long)p, (int)mmr_gettid());
}

static inline void touch_w(volatile char *p, char v)
{
	*p = v;
	printf("MMREPLAY_TOUCH op=w addr=0x%lx tid=%d\n", (unsigned long)p, (int)mmr_gettid());
}

static inline void mmr_emit(const char *line, size_t len)
{
	/* line ends with '\n'; len includes it */
	int i;

	mmr_open_markers();
	for (i = 0; i < mmr_nmarkers; i++) {
		ssize_t w = write(mmr_marker_fd[i], line, len);
		if (w != (ssize_t)len)
			fprintf(stderr, "mmreplay: short marker write %zd/%zu\n", w, len);
	}
	fwrite(line, 1, len, stdout);
	fflush(stdout);
}

static inline void mmr_beacon(uint64_t clock_ns)
{
	const char *nb = getenv("MMREPLAY_NOBEACON");
	if (nb && strcmp(nb, "1") == 0)
		return;
	syscall(SYS_ioctl, -1, MMREPLAY_BEACON_CMD, (unsigned long)clock_ns);
}

static inline int mmr_fmt_entry(char *buf, size_t sz, uint64_t e)
{
	char fl[4];
	int n = 0;
	if (e & (1ULL << 55)) fl[n++] = 'd';
	if (e & (1ULL << 56)) fl[n++] = 'x';
	if (e & (1ULL << 61)) fl[n++] = 'f';
	fl[n] = 0;
	if (e & (1ULL << 63))
		return snprintf(buf, sz, "P:%llx:%s", (unsigned long long)(e & ((1ULL << 55) - 1)), fl);
	if (e & (1ULL << 62))
		return snprintf(buf, sz, "S:%llx:%llx:%s", (unsigned long long)(e & 0x1f),
				(unsigned long long)((e >> 5) & ((1ULL << 50) - 1)), fl);
	return snprintf(buf, sz, "-");
}

/* Emit one checkpoint line (split into label#k lines if it would exceed 4000 bytes). */
static inline void ckpt(const char *label, void *start, size_t npages)
{
	/* per-thread buffers: ckpt() may run concurrently in several threads */
	static __thread uint64_t pm[1024];
	static __thread char ent[1024][40];
	static __thread char line[MMR_LINE_MAX + 64];
	struct timespec ts;
	uint64_t clock_ns;
	unsigned long base = (unsigned long)start;
	size_t total = 0, i, done = 0;
	int fd, part = 0, split;
	pid_t pid = getpid(), tid = mmr_gettid();

	if (npages > 1024) {
		ckpt(label, start, 1024); /* should not happen in these workloads */
		return;
	}
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		mmr_die("open pagemap");
	if (pread(fd, pm, npages * 8, (off_t)(base / MMR_PAGE) * 8) != (ssize_t)(npages * 8))
		mmr_die("pread pagemap");
	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	clock_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	for (i = 0; i < npages; i++)
		total += (size_t)mmr_fmt_entry(ent[i], sizeof ent[i], pm[i]) + 1;
	/* header is at most ~200 bytes (label kept short by the workloads) */
	split = (total + 200 + strlen(label) > MMR_LINE_MAX);
	do {
		char lab[200];
		int len;
		size_t n = 0;
		if (split)
			snprintf(lab, sizeof lab, "%s#%d", label, part);
		else
			snprintf(lab, sizeof lab, "%s", label);
		len = snprintf(line, sizeof line,
			       "MMREPLAY_CKPT v=1 label=%s pid=%d tid=%d clock_ns=%llu start=0x%lx npages=",
			       lab, (int)pid, (int)tid, (unsigned long long)clock_ns,
			       base + done * MMR_PAGE);
		/* count how many entries fit */
		{
			size_t room = MMR_LINE_MAX - (size_t)len - 16 - 8; /* npages digits + " pages=" + '\n' */
			size_t used = 0;
			while (done + n < npages && used + strlen(ent[done + n]) + 1 <= room) {
				used += strlen(ent[done + n]) + 1;
				n++;
			}
		}
		len += snprintf(line + len, sizeof line - len, "%zu pages=", n);
		for (i = 0; i < n; i++)
			len += snprintf(line + len, sizeof line - len, "%s%s", i ? "," : "", ent[done + i]);
		line[len++] = '\n';
		mmr_emit(line, (size_t)len);
		done += n;
		part++;
	} while (done < npages);
	mmr_beacon(clock_ns);
}

/* Map an anonymous RW region of npages, aborting on failure. */
static inline char *mmr_map_anon(size_t npages)
{
	void *p = mmap(NULL, npages * MMR_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		mmr_die("mmap");
	return p;
}

#endif
