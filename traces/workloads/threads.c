/* threads: two pthreads fault the two disjoint halves (32 pages each) of one
 * 64-page region in parallel (started together by a barrier; thread i is
 * pinned to CPU i when the machine has >= 2 CPUs, so they really overlap). */
#include "mmreplay_ckpt.h"
#include <pthread.h>
#include <sched.h>

#define N 64

static char *region;
static pthread_barrier_t bar;

static void *worker(void *arg)
{
	size_t half = (size_t)arg, i;
	char *base = region + half * (N / 2) * MMR_PAGE;

	if (sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
		cpu_set_t cs;
		CPU_ZERO(&cs);
		CPU_SET((int)half, &cs);
		if (pthread_setaffinity_np(pthread_self(), sizeof cs, &cs))
			fprintf(stderr, "threads: setaffinity failed\n");
	}
	pthread_barrier_wait(&bar);
	for (i = 0; i < N / 2; i++) {
		if (i % 4 == 3)
			touch_r(base + i * MMR_PAGE);
		else
			touch_w(base + i * MMR_PAGE, (char)i);
	}
	ckpt(half ? "thread1_done" : "thread0_done", base, N / 2);
	return NULL;
}

int main(void)
{
	pthread_t t[2];
	size_t i;

	mmr_gate();
	region = mmr_map_anon(N);
	ckpt("mapped", region, N);
	pthread_barrier_init(&bar, NULL, 2);
	for (i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i))
			mmr_die("pthread_create");
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ckpt("joined", region, N);
	return 0;
}
