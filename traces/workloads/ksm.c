/* ksm: 16 pages, MADV_MERGEABLE, each pair holding the same bytes (8 distinct contents), then
 * wait until ksmd has merged them (its pages_sharing count stops rising, at most 10 s), then write
 * one page of the first pair (a KSM page: do_wp_page copies it). Needs /sys/kernel/mm/ksm/run = 1. */
#include "mmreplay_ckpt.h"

#define N 16

static long ksm_stat(const char *name)
{
	char path[128], buf[64] = "";
	long v = -1;
	int fd;

	snprintf(path, sizeof path, "/sys/kernel/mm/ksm/%s", name);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		if (read(fd, buf, sizeof buf - 1) > 0)
			v = atol(buf);
		close(fd);
	}
	return v;
}

int main(void)
{
	char *p;
	size_t i;
	int tries;

	mmr_gate();
	p = mmr_map_anon(N);
	if (madvise(p, N * MMR_PAGE, MADV_MERGEABLE))
		mmr_die("madvise mergeable");
	for (i = 0; i < N; i++)
		memset(p + i * MMR_PAGE, 'a' + (int)(i / 2), MMR_PAGE);
	ckpt("after_write", p, N);
	for (tries = 0; tries < 100 && ksm_stat("pages_sharing") < N / 2; tries++)
		usleep(100000);
	printf("MMREPLAY_INFO pages_shared=%ld pages_sharing=%ld\n", ksm_stat("pages_shared"), ksm_stat("pages_sharing"));
	ckpt("after_merge", p, N);
	touch_w(p, 'z');
	ckpt("after_cow", p, N);
	return 0;
}
