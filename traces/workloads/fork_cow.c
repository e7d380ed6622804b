/* fork_cow: write 32 pages, fork; child writes pages 0-7 (COW in child),
 * then the parent writes pages 16-23 (COW in parent); pages 8-15 and 24-31
 * stay shared.  Pipes order the steps so the run is deterministic:
 *   parent: write, ckpt, fork, ckpt, wait for child's "cowed"
 *   child:  ckpt, write 0-7, ckpt, signal "cowed", wait for parent's "go"
 *   parent: write 16-23, ckpt, signal "go"
 *   child:  ckpt (sees parent's COW), exit
 *   parent: waitpid, ckpt */
#include "mmreplay_ckpt.h"
#include <sys/wait.h>

#define N 32

int main(void)
{
	char *p, c = 0;
	size_t i;
	int c2p[2], p2c[2], st;
	pid_t pid;

	mmr_gate();
	p = mmr_map_anon(N);
	for (i = 0; i < N; i++)
		touch_w(p + i * MMR_PAGE, (char)i);
	ckpt("pre_fork", p, N);
	if (pipe(c2p) || pipe(p2c))
		mmr_die("pipe");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		mmr_die("fork");
	if (pid == 0) {
		ckpt("child_after_fork", p, N);
		for (i = 0; i < 8; i++)
			touch_w(p + i * MMR_PAGE, (char)(i + 50));
		ckpt("child_after_cow", p, N);
		if (write(c2p[1], "c", 1) != 1) mmr_die("write pipe");
		if (read(p2c[0], &c, 1) != 1) mmr_die("read pipe");
		ckpt("child_after_parent_cow", p, N);
		_exit(0);
	}
	ckpt("parent_after_fork", p, N);
	if (read(c2p[0], &c, 1) != 1) mmr_die("read pipe");
	ckpt("parent_after_child_cow", p, N);
	for (i = 16; i < 24; i++)
		touch_w(p + i * MMR_PAGE, (char)(i + 70));
	ckpt("parent_after_cow", p, N);
	if (write(p2c[1], "g", 1) != 1) mmr_die("write pipe");
	if (waitpid(pid, &st, 0) != pid)
		mmr_die("waitpid");
	ckpt("parent_after_wait", p, N);
	/* after the child is gone, the still-shared pages are exclusive again;
	 * a write to one reuses it (no copy) */
	touch_w(p + 8 * MMR_PAGE, 1);
	touch_w(p + 24 * MMR_PAGE, 1);
	ckpt("parent_after_reuse", p, N);
	return 0;
}
