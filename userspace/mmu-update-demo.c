// SPDX-License-Identifier: GPL-2.0
/*
 * mmu-update-demo: show the mmu notifier update op at work, through the
 * mmu_update_test module (make demo loads it in the VM).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../tests/mmu_update_test/mmu_update_test.h"

#define PAGE	4096UL
#define HPAGE	(2UL << 20)

static int dev;
static struct mut_event ev[MUT_MAX_EVENTS];

static void die(const char *what)
{
	fprintf(stderr, "mmu-update-demo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int memfd(const char *name, size_t len, unsigned int flags)
{
	int fd = memfd_create(name, flags);

	if (fd < 0 || ftruncate(fd, len))
		die(name);
	return fd;
}

static void *map_at_2m(size_t len, int prot, int fd)
{
	char *area = mmap(NULL, len + HPAGE, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *p;

	if (area == MAP_FAILED)
		die("mmap");
	p = (char *)(((uintptr_t)area + HPAGE - 1) & ~(HPAGE - 1));
	if (mmap(p, len, prot, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)
		die("mmap memfd");
	return p;
}

/* Print the updates that hit [base, base + len) and clear the log. */
static int show(const char *title, void *base, size_t len)
{
	struct mut_read r = { .events = (uintptr_t)ev, .count = MUT_MAX_EVENTS };
	uint64_t lo = (uintptr_t)base, hi = lo + len;
	int i, shown = 0;

	if (ioctl(dev, MUT_IOC_READ, &r) || ioctl(dev, MUT_IOC_CLEAR))
		die("read events");
	printf("\n%s\n", title);
	printf("  %-10s %-10s %-10s %-5s %-5s %-6s %s\n", "offset", "length",
	       "pfn", "order", "perm", "seq", "validated");
	for (i = 0; i < (int)r.count; i++) {
		if (ev[i].end <= lo || ev[i].start >= hi)
			continue;
		printf("  %#-10llx %#-10llx %#-10llx %-5u %-5s %-6llu %s\n",
		       (unsigned long long)(ev[i].start - lo),
		       (unsigned long long)(ev[i].end - ev[i].start),
		       (unsigned long long)ev[i].pfn, ev[i].order,
		       ev[i].flags & MUT_EV_WRITE ? "rw" : "ro",
		       (unsigned long long)ev[i].seq,
		       ev[i].flags & MUT_EV_VALID ?
		       "yes" : "no: invalidated since the PTE was read");
		shown++;
	}
	if (!shown)
		printf("  (no updates)\n");
	return shown;
}

static void *writer(void *p)
{
	*(volatile char *)p = 1;
	return NULL;
}

int main(void)
{
	char buf[PAGE], *p;
	volatile char *ro;
	pthread_t t;
	int fd, i, total = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	dev = open(MUT_DEV, O_RDWR);
	if (dev < 0)
		die(MUT_DEV);
	if (ioctl(dev, MUT_IOC_SUBSCRIBE_MM))
		die("subscribe");
	printf("Subscribed this process's mm to mmu notifier updates.\n");

	fd = memfd("shmem", 4 * PAGE, 0);
	p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	for (i = 0; i < 4; i++)
		p[i * PAGE] = i;
	total += show("Write faults on 4 pages of a shmem memfd: one update per page",
		      p, 4 * PAGE);

	fd = memfd("cached", 16 * PAGE, 0);
	for (i = 0; i < 16; i++) {
		memset(buf, i, sizeof(buf));
		if (pwrite(fd, buf, PAGE, i * PAGE) != PAGE)
			die("pwrite");
	}
	ro = map_at_2m(16 * PAGE, PROT_READ, fd);
	(void)ro[0];
	total += show("One read fault on 16 cached pages: fault-around maps them, one update per pfn range",
		      (void *)ro, 16 * PAGE);

	fd = memfd("thp", HPAGE, 0);
	p = map_at_2m(HPAGE, PROT_READ | PROT_WRITE, fd);
	madvise(p, HPAGE, MADV_HUGEPAGE);
	p[0] = 1;
	total += show("Write fault on a shmem THP (MADV_HUGEPAGE): one PMD-sized update",
		      p, HPAGE);

	fd = memfd_create("hugetlb", MFD_HUGETLB);
	if (fd < 0 || ftruncate(fd, HPAGE))
		die("hugetlb memfd (are 2 MiB pages reserved?)");
	p = mmap(NULL, HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap hugetlb");
	p[4096] = 1;
	total += show("Write fault on a hugetlb 2 MiB memfd: one update of order 9",
		      p, HPAGE);

	fd = memfd("race", PAGE, 0);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	if (ioctl(dev, MUT_IOC_HOLD) || pthread_create(&t, NULL, writer, p))
		die("hold");
	if (ioctl(dev, MUT_IOC_WAIT_HELD))
		die("wait for the held update");
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PAGE))
		die("punch");
	ioctl(dev, MUT_IOC_RELEASE);
	pthread_join(t, NULL);
	total += show("A hole punched while the update was on its way: the sequence rejects it, the refault's update validates",
		      p, PAGE);

	printf("\n%d updates shown.  Anonymous memory and other mms report nothing.\n",
	       total);
	return 0;
}
