/* filemap: a 16-page temp file (written with write(2), so its pages are in the
 * page cache), mapped MAP_PRIVATE and MAP_SHARED.
 *   private: read pages 0-7, write pages 4-11 (4-7: COW of a mapped file page,
 *            8-11: write fault straight to a private anon copy)
 *   shared:  read pages 0-7, write pages 4-11 (4-7: write-protect fault on a
 *            clean shared page, 8-11: write fault), dirtying the page cache.
 * Temp dir: $MMREPLAY_TMPDIR or /tmp. */
#include "mmreplay_ckpt.h"

#define N 16

int main(void)
{
	char path[512], page[MMR_PAGE];
	const char *dir = getenv("MMREPLAY_TMPDIR");
	char *pr, *sh;
	size_t i;
	int fd;

	if (!dir || !*dir) dir = "/tmp";
	snprintf(path, sizeof path, "%s/mmreplay-filemap-%d", dir, (int)getpid());
	mmr_gate();
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		mmr_die("open temp file");
	printf("MMREPLAY_INFO file=%s\n", path);
	for (i = 0; i < N; i++) {
		memset(page, 'a' + (int)i, sizeof page);
		if (write(fd, page, sizeof page) != (ssize_t)sizeof page)
			mmr_die("write file");
	}
	pr = mmap(NULL, N * MMR_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	sh = mmap(NULL, N * MMR_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (pr == MAP_FAILED || sh == MAP_FAILED)
		mmr_die("mmap file");
	ckpt("private_mapped", pr, N);
	for (i = 0; i < 8; i++)
		touch_r(pr + i * MMR_PAGE);
	ckpt("private_after_read", pr, N);
	for (i = 4; i < 12; i++)
		touch_w(pr + i * MMR_PAGE, 'P');
	ckpt("private_after_write", pr, N);
	ckpt("shared_mapped", sh, N);
	for (i = 0; i < 8; i++)
		touch_r(sh + i * MMR_PAGE);
	ckpt("shared_after_read", sh, N);
	for (i = 4; i < 12; i++)
		touch_w(sh + i * MMR_PAGE, 'S');
	ckpt("shared_after_write", sh, N);
	ckpt("private_after_shared_write", pr, N);
	if (munmap(pr, N * MMR_PAGE) || munmap(sh, N * MMR_PAGE))
		mmr_die("munmap");
	close(fd);
	unlink(path);
	return 0;
}
