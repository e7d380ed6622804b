/* stress: bench-sized run.  ITERS iterations (default 500, env
 * MMREPLAY_STRESS_ITERS) of:
 *   mmap 64 pages, write-fault all 64, MADV_DONTNEED all 64, refault
 *   (write the even pages, read the odd ones: zero page), mprotect PROT_READ,
 *   read all 64 (no faults), munmap;
 * every FORK_EVERY (50) iterations, before the munmap: fork, the child writes
 * pages 0-7 (COW of the even pages, COW from the zero page for the odd
 * ones, after an mprotect back to RW) and exits, the parent waits;
 * a checkpoint of the 64-page region (after the refault) every CKPT_EVERY
 * (100) iterations and a final one at the last iteration;
 * sleeps SLEEP_US (default 7000, env MMREPLAY_STRESS_SLEEP_US) after each
 * iteration so the whole run takes ~4 s and the ring buffers/perf keep up. */
#include "mmreplay_ckpt.h"
#include <sys/wait.h>

#define N 64
#define FORK_EVERY 50
#define CKPT_EVERY 100

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 0) : def;
}

int main(void)
{
	long iters = env_long("MMREPLAY_STRESS_ITERS", 500);
	long sleep_us = env_long("MMREPLAY_STRESS_SLEEP_US", 7000);
	long it;
	size_t i;
	char label[64];

	mmr_gate();
	printf("MMREPLAY_INFO iters=%ld sleep_us=%ld pages=%d fork_every=%d ckpt_every=%d\n",
	       iters, sleep_us, N, FORK_EVERY, CKPT_EVERY);
	for (it = 0; it < iters; it++) {
		char *p = mmr_map_anon(N);

		for (i = 0; i < N; i++)
			touch_w(p + i * MMR_PAGE, (char)(it + i));
		if (madvise(p, N * MMR_PAGE, MADV_DONTNEED))
			mmr_die("madvise");
		for (i = 0; i < N; i++) {
			if (i % 2 == 0)
				touch_w(p + i * MMR_PAGE, (char)(it + i + 1));
			else
				touch_r(p + i * MMR_PAGE);
		}
		if (it % CKPT_EVERY == 0 || it == iters - 1) {
			snprintf(label, sizeof label, "iter%ld", it);
			ckpt(label, p, N);
		}
		if (mprotect(p, N * MMR_PAGE, PROT_READ))
			mmr_die("mprotect");
		for (i = 0; i < N; i++)
			touch_r(p + i * MMR_PAGE);
		if (it % FORK_EVERY == FORK_EVERY - 1) {
			pid_t c;
			int st;

			if (mprotect(p, N * MMR_PAGE, PROT_READ | PROT_WRITE))
				mmr_die("mprotect rw");
			c = fork();
			if (c < 0)
				mmr_die("fork");
			if (c == 0) {
				for (i = 0; i < 8; i++)
					touch_w(p + i * MMR_PAGE, (char)(it + 7));
				fflush(stdout);
				_exit(0);
			}
			if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
				mmr_die("child");
		}
		if (munmap(p, N * MMR_PAGE))
			mmr_die("munmap");
		if (sleep_us > 0)
			usleep((useconds_t)sleep_us);
	}
	printf("MMREPLAY_INFO done iters=%ld\n", iters);
	return 0;
}
