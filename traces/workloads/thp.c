/* thp: 4 MiB anonymous region aligned to 2 MiB, MADV_HUGEPAGE, write every
 * page (expect two PMD-mapped THPs), then MADV_DONTNEED 64 KiB inside the
 * first huge page (PMD split), then refault that hole (4 reads, 12 writes). */
#include "mmreplay_ckpt.h"

#define HP (2UL << 20)
#define LEN (4UL << 20)
#define NP (LEN / MMR_PAGE)

int main(void)
{
	char *raw, *p, *hole;
	unsigned long a;
	size_t i;
	char buf[256] = "";
	int fd;

	fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof buf - 1);
		if (n > 0) buf[n - (buf[n - 1] == '\n')] = 0;
		close(fd);
	}
	mmr_gate();
	printf("MMREPLAY_INFO thp_enabled=\"%s\"\n", buf);
	raw = mmap(NULL, LEN + HP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		mmr_die("mmap");
	a = ((unsigned long)raw + HP - 1) & ~(HP - 1);
	p = (char *)a;
	if (p > raw && munmap(raw, (size_t)(p - raw)))
		mmr_die("munmap head");
	if ((char *)raw + LEN + HP > p + LEN && munmap(p + LEN, (size_t)(raw + LEN + HP - (p + LEN))))
		mmr_die("munmap tail");
	if (madvise(p, LEN, MADV_HUGEPAGE))
		mmr_die("madvise hugepage");
	ckpt("mapped", p, NP);
	for (i = 0; i < NP; i++)
		touch_w(p + i * MMR_PAGE, (char)i);
	ckpt("after_write", p, NP);
	hole = p + 1 * (1UL << 20);	/* 1 MiB into the first huge page */
	if (madvise(hole, 64 << 10, MADV_DONTNEED))
		mmr_die("madvise dontneed");
	ckpt("after_dontneed", p, NP);
	for (i = 0; i < 16; i++) {
		if (i < 4) touch_r(hole + i * MMR_PAGE);
		else touch_w(hole + i * MMR_PAGE, (char)(i + 3));
	}
	ckpt("after_refault", p, 512);
	return 0;
}
