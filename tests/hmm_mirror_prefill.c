// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_mirror.ko prefill: pages the CPU faults in (shmem, shmem THP, hugetlb)
 * reach the device page table through the mmu notifier update op, so device
 * accesses to them take no device fault; prefill never installs a stale
 * entry; permissions follow the CPU mapping; anonymous memory and files
 * with prefill off behave as upstream test_hmm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "../hmm-mirror/hmm_mirror_uapi.h"

#define TWOMEG		(2UL << 20)

static long page_size;

static int dmirror(int fd, unsigned long req, void *addr, void *buf,
		   unsigned long npages, struct hmm_dmirror_cmd *out)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)buf,
		.npages = npages,
	};
	int ret;

	ret = ioctl(fd, req, &cmd);
	if (out)
		*out = cmd;
	return ret ? -errno : 0;
}

static int prefill(int fd, void *addr, unsigned long size)
{
	return dmirror(fd, HMM_DMIRROR_PREFILL, addr, NULL,
		       size / page_size, NULL);
}

static struct hmm_mirror_counters counters(int fd)
{
	struct hmm_mirror_counters c;

	memset(&c, 0xff, sizeof(c));
	if (ioctl(fd, HMM_MIRROR_COUNTERS, &c))
		memset(&c, 0xff, sizeof(c));
	return c;
}

/* A mapping aligned to @align inside a larger reservation. */
static void *map_aligned(unsigned long size, unsigned long align, int prot,
			 int flags, int fd)
{
	char *resv, *p;

	resv = mmap(NULL, size + align, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (resv == MAP_FAILED)
		return MAP_FAILED;
	p = (char *)(((uintptr_t)resv + align - 1) & ~(align - 1));
	return mmap(p, size, prot, flags | MAP_FIXED, fd, 0);
}

/*
 * A shmem memfd of @size bytes (its fd in *@memfd) mapped shared read-write;
 * with @thp, 2 MiB aligned and MADV_HUGEPAGE.
 */
static char *shmem_map(struct __test_metadata *_metadata, const char *name,
		       unsigned long size, bool thp, int *memfd)
{
	char *p;

	*memfd = memfd_create(name, 0);
	ASSERT_GE(*memfd, 0);
	ASSERT_EQ(ftruncate(*memfd, size), 0);
	if (thp)
		p = map_aligned(size, TWOMEG, PROT_READ | PROT_WRITE,
				MAP_SHARED, *memfd);
	else
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 *memfd, 0);
	ASSERT_NE(p, MAP_FAILED);
	if (thp)
		ASSERT_EQ(madvise(p, size, MADV_HUGEPAGE), 0);
	return p;
}

static void fill(void *p, unsigned long size, unsigned int seed)
{
	unsigned int *w = p;
	unsigned long i;

	for (i = 0; i < size / sizeof(*w); i++)
		w[i] = seed * 2654435761u + i;
}

FIXTURE(prefill)
{
	int fd;
	void *buf;
	void *mirror;
};

FIXTURE_SETUP(prefill)
{
	page_size = sysconf(_SC_PAGESIZE);
	self->fd = open("/dev/hmm_dmirror0", O_RDWR);
	if (self->fd < 0)
		SKIP(return, "no /dev/hmm_dmirror0 (load hmm_mirror.ko)");
	/* test_hmm.ko has no prefill. */
	if (prefill(self->fd, NULL, 0))
		SKIP(return, "no prefill: not hmm_mirror.ko");
	self->buf = malloc(2 * TWOMEG);
	self->mirror = malloc(2 * TWOMEG);
	ASSERT_NE(self->buf, NULL);
	ASSERT_NE(self->mirror, NULL);
}

FIXTURE_TEARDOWN(prefill)
{
	free(self->buf);
	free(self->mirror);
	if (self->fd >= 0)
		close(self->fd);
}

/*
 * The CPU writes @size bytes at @p (faulting every page in), then the
 * device reads and writes them: no device fault, same data both ways.
 */
static void cpu_then_device(struct __test_metadata *_metadata,
			    FIXTURE_DATA(prefill) *self, char *p,
			    unsigned long size, int memfd)
{
	unsigned long npages = size / page_size;
	struct hmm_mirror_counters c;
	struct hmm_dmirror_cmd cmd;

	ASSERT_EQ(prefill(self->fd, p, size), 0);
	ASSERT_EQ(ioctl(self->fd, HMM_MIRROR_RESET), 0);
	fill(self->buf, size, 1);
	memcpy(p, self->buf, size);
	c = counters(self->fd);
	EXPECT_GE(c.prefilled, npages);

	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_READ, p, self->mirror,
			  npages, &cmd), 0);
	EXPECT_EQ(cmd.cpages, npages);
	EXPECT_EQ(cmd.faults, 0);
	EXPECT_EQ(memcmp(self->mirror, self->buf, size), 0);

	fill(self->buf, size, 2);
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_WRITE, p, self->buf,
			  npages, &cmd), 0);
	EXPECT_EQ(cmd.cpages, npages);
	EXPECT_EQ(cmd.faults, 0);
	EXPECT_EQ(memcmp(p, self->buf, size), 0);
	if (memfd >= 0) {
		ASSERT_EQ(pread(memfd, self->mirror, size, 0), (ssize_t)size);
		EXPECT_EQ(memcmp(self->mirror, self->buf, size), 0);
	}
	c = counters(self->fd);
	EXPECT_EQ(c.device_faults, 0);
	TH_LOG("updates %llu prefilled %llu rejected %llu",
	       (unsigned long long)c.updates,
	       (unsigned long long)c.prefilled,
	       (unsigned long long)c.prefill_rejected);
}

TEST_F(prefill, memfd_shared)
{
	unsigned long size = 64 * page_size;
	int memfd;
	char *p;

	p = shmem_map(_metadata, "prefill", size, false, &memfd);
	cpu_then_device(_metadata, self, p, size, memfd);
	munmap(p, size);
	close(memfd);
}

TEST_F(prefill, shared_anon)
{
	unsigned long size = 64 * page_size;
	char *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(p, MAP_FAILED);
	cpu_then_device(_metadata, self, p, size, -1);
	munmap(p, size);
}

/* The device sees the CPU mapping's order: PMD for the THP. */
static void expect_pmd(struct __test_metadata *_metadata, int fd, void *p,
		       unsigned long npages)
{
	unsigned char *prot = malloc(npages);
	struct hmm_dmirror_cmd cmd;
	unsigned long i;

	ASSERT_NE(prot, NULL);
	ASSERT_EQ(dmirror(fd, HMM_DMIRROR_SNAPSHOT, p, prot, npages, &cmd), 0);
	for (i = 0; i < npages; i++)
		ASSERT_EQ(prot[i], HMM_DMIRROR_PROT_WRITE |
				   HMM_DMIRROR_PROT_PMD);
	free(prot);
}

TEST_F(prefill, shmem_thp)
{
	unsigned long size = TWOMEG;
	int memfd;
	char *p;

	p = shmem_map(_metadata, "prefill-thp", size, true, &memfd);
	cpu_then_device(_metadata, self, p, size, memfd);
	expect_pmd(_metadata, self->fd, p, size / page_size);
	munmap(p, size);
	close(memfd);
}

TEST_F(prefill, hugetlb)
{
	unsigned long size = 2 * TWOMEG;
	int memfd;
	char *p;

	memfd = memfd_create("prefill-huge", MFD_HUGETLB | MFD_HUGE_2MB);
	if (memfd < 0)
		SKIP(return, "no 2 MiB hugetlb memfd");
	ASSERT_EQ(ftruncate(memfd, size), 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	ASSERT_NE(p, MAP_FAILED);
	cpu_then_device(_metadata, self, p, size, memfd);
	expect_pmd(_metadata, self->fd, p, size / page_size);
	munmap(p, size);
	close(memfd);
}

/*
 * A PMD-mapped shmem THP is one huge device entry.  Punching one page out
 * of it (an invalidation of part of the entry) must drop the entry: the
 * device then sees the file's new page, never the old one.
 */
TEST_F(prefill, shmem_thp_partial_invalidate)
{
	unsigned long size = TWOMEG, npages = size / page_size;
	unsigned long hole = 5 * page_size;
	struct hmm_mirror_counters c;
	struct hmm_dmirror_cmd cmd;
	int memfd;
	char *p;

	p = shmem_map(_metadata, "prefill-thp-part", size, true, &memfd);
	ASSERT_EQ(prefill(self->fd, p, size), 0);
	ASSERT_EQ(ioctl(self->fd, HMM_MIRROR_RESET), 0);
	fill(self->buf, size, 9);
	memcpy(p, self->buf, size);
	c = counters(self->fd);
	EXPECT_GE(c.prefilled, npages);
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_READ, p, self->mirror,
			  npages, &cmd), 0);
	EXPECT_EQ(cmd.faults, 0);
	EXPECT_EQ(memcmp(self->mirror, self->buf, size), 0);

	/* One page leaves the file; a new one takes its place. */
	ASSERT_EQ(fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    hole, page_size), 0);
	fill(self->buf + hole, page_size, 10);
	ASSERT_EQ(pwrite(memfd, self->buf + hole, page_size, hole),
		  (ssize_t)page_size);
	c = counters(self->fd);
	EXPECT_GE(c.zapped, 1);

	memset(self->mirror, 0, size);
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_READ, p, self->mirror,
			  npages, &cmd), 0);
	EXPECT_EQ(cmd.cpages, npages);
	EXPECT_EQ(memcmp(self->mirror, self->buf, size), 0);
	/* The device writes: the file gets it all. */
	fill(self->buf, size, 11);
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_WRITE, p, self->buf,
			  npages, &cmd), 0);
	ASSERT_EQ(pread(memfd, self->mirror, size, 0), (ssize_t)size);
	EXPECT_EQ(memcmp(self->mirror, self->buf, size), 0);
	munmap(p, size);
	close(memfd);
}

/*
 * hugetlb: one huge page of two is punched out and faulted in again with
 * new data; the device sees the new page there and keeps its entry for
 * the other one.
 */
TEST_F(prefill, hugetlb_replace)
{
	unsigned long size = 2 * TWOMEG, npages = size / page_size, off;
	struct hmm_mirror_counters c;
	struct hmm_dmirror_cmd cmd;
	int memfd;
	char *p;

	memfd = memfd_create("prefill-huge-repl", MFD_HUGETLB | MFD_HUGE_2MB);
	if (memfd < 0)
		SKIP(return, "no 2 MiB hugetlb memfd");
	ASSERT_EQ(ftruncate(memfd, size), 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	ASSERT_NE(p, MAP_FAILED);
	ASSERT_EQ(prefill(self->fd, p, size), 0);
	ASSERT_EQ(ioctl(self->fd, HMM_MIRROR_RESET), 0);
	fill(self->buf, size, 12);
	memcpy(p, self->buf, size);
	c = counters(self->fd);
	EXPECT_GE(c.prefilled, npages);

	ASSERT_EQ(fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    0, TWOMEG), 0);
	c = counters(self->fd);
	EXPECT_GE(c.zapped, TWOMEG / page_size);
	/* Part of the huge page is enough to fault it in. */
	fill(self->buf, page_size, 13);
	memcpy(p, self->buf, page_size);
	memset(self->buf + page_size, 0, TWOMEG - page_size);

	memset(self->mirror, 0, size);
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_READ, p, self->mirror,
			  npages, &cmd), 0);
	EXPECT_EQ(cmd.cpages, npages);
	EXPECT_EQ(cmd.faults, 0);
	EXPECT_EQ(memcmp(self->mirror, self->buf, size), 0);
	/* A device write of one page, the huge entry is read-write. */
	off = TWOMEG + 7 * page_size;
	fill(self->buf + off, page_size, 14);
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_WRITE, p + off,
			  self->buf + off, 1, &cmd), 0);
	EXPECT_EQ(cmd.faults, 0);
	EXPECT_EQ(memcmp(p, self->buf, size), 0);
	munmap(p, size);
	close(memfd);
}

/*
 * Read-only CPU mappings give read-only device entries: reads hit, a
 * device write must fault (and on a private mapping, copy on write).
 */
TEST_F(prefill, read_only)
{
	unsigned long size = 16 * page_size, npages = size / page_size;
	struct hmm_mirror_counters c;
	struct hmm_dmirror_cmd cmd;
	int memfd;
	char *p;

	memfd = memfd_create("prefill-ro", 0);
	ASSERT_GE(memfd, 0);
	fill(self->buf, size, 3);
	ASSERT_EQ(pwrite(memfd, self->buf, size, 0), (ssize_t)size);

	/* Shared read-only: the device reads, cannot write. */
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, memfd, 0);
	ASSERT_NE(p, MAP_FAILED);
	ASSERT_EQ(prefill(self->fd, p, size), 0);
	EXPECT_EQ(memcmp(p, self->buf, size), 0);
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_READ, p, self->mirror,
			  npages, &cmd), 0);
	EXPECT_EQ(cmd.faults, 0);
	EXPECT_EQ(memcmp(self->mirror, self->buf, size), 0);
	c = counters(self->fd);
	EXPECT_EQ(dmirror(self->fd, HMM_DMIRROR_WRITE, p, self->mirror,
			  npages, &cmd), -EPERM);
	munmap(p, size);

	/* Private, read-faulted: page cache pages, mapped read-only. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, memfd, 0);
	ASSERT_NE(p, MAP_FAILED);
	ASSERT_EQ(prefill(self->fd, p, size), 0);
	ASSERT_EQ(ioctl(self->fd, HMM_MIRROR_RESET), 0);
	EXPECT_EQ(memcmp(p, self->buf, size), 0);
	c = counters(self->fd);
	EXPECT_GE(c.prefilled, npages);
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_READ, p, self->mirror,
			  npages, &cmd), 0);
	EXPECT_EQ(cmd.faults, 0);
	EXPECT_EQ(memcmp(self->mirror, self->buf, size), 0);
	fill(self->mirror, size, 4);
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_WRITE, p, self->mirror,
			  npages, &cmd), 0);
	EXPECT_EQ(cmd.faults, 1);
	EXPECT_EQ(memcmp(p, self->mirror, size), 0);
	/* The file is unchanged: the device wrote the private copies. */
	ASSERT_EQ(pread(memfd, self->mirror, size, 0), (ssize_t)size);
	EXPECT_EQ(memcmp(self->mirror, self->buf, size), 0);
	munmap(p, size);
	close(memfd);
}

/* Prefill off (the default): exactly the upstream behaviour. */
TEST_F(prefill, off_faults)
{
	unsigned long size = 32 * page_size, npages = size / page_size;
	struct hmm_mirror_counters c;
	struct hmm_dmirror_cmd cmd;
	int memfd;
	char *p;

	p = shmem_map(_metadata, "prefill-off", size, false, &memfd);
	fill(self->buf, size, 5);
	memcpy(p, self->buf, size);
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_READ, p, self->mirror,
			  npages, &cmd), 0);
	EXPECT_EQ(cmd.faults, 1);
	EXPECT_EQ(memcmp(self->mirror, self->buf, size), 0);
	/* The fault mapped everything: a second read hits. */
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_READ, p, self->mirror,
			  npages, &cmd), 0);
	EXPECT_EQ(cmd.faults, 0);
	c = counters(self->fd);
	EXPECT_EQ(c.prefilled, 0);
	EXPECT_EQ(c.updates, 0);
	EXPECT_EQ(c.device_faults, 1);
	munmap(p, size);
	close(memfd);
}

/* Anonymous memory is never prefilled, even inside the window. */
TEST_F(prefill, anon_faults)
{
	unsigned long size = 32 * page_size, npages = size / page_size;
	struct hmm_mirror_counters c;
	struct hmm_dmirror_cmd cmd;
	char *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(p, MAP_FAILED);
	ASSERT_EQ(prefill(self->fd, p, size), 0);
	fill(self->buf, size, 6);
	memcpy(p, self->buf, size);
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_READ, p, self->mirror,
			  npages, &cmd), 0);
	EXPECT_EQ(cmd.faults, 1);
	EXPECT_EQ(memcmp(self->mirror, self->buf, size), 0);
	fill(self->buf, size, 7);
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_WRITE, p, self->buf,
			  npages, &cmd), 0);
	EXPECT_EQ(cmd.faults, 0);
	EXPECT_EQ(memcmp(p, self->buf, size), 0);
	c = counters(self->fd);
	EXPECT_EQ(c.prefilled, 0);
	EXPECT_EQ(c.device_faults, 1);
	munmap(p, size);
}

/* Outside the window nothing is prefilled either. */
TEST_F(prefill, window)
{
	unsigned long size = 32 * page_size, npages = size / page_size;
	struct hmm_dmirror_cmd cmd;
	int memfd;
	char *p;

	p = shmem_map(_metadata, "prefill-window", size, false, &memfd);
	/* First half only. */
	ASSERT_EQ(prefill(self->fd, p, size / 2), 0);
	fill(self->buf, size, 8);
	memcpy(p, self->buf, size);
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_READ, p, self->mirror,
			  npages / 2, &cmd), 0);
	EXPECT_EQ(cmd.faults, 0);
	ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_READ, p + size / 2,
			  self->mirror + size / 2, npages / 2, &cmd), 0);
	EXPECT_EQ(cmd.faults, 1);
	EXPECT_EQ(memcmp(self->mirror, self->buf, size), 0);
	munmap(p, size);
	close(memfd);
}

/*
 * Stale entries: a faulting thread maps pages in (prefill), a mutating
 * thread punches holes and rewrites pages, drops and replaces the mapping,
 * and a device thread reads through the device.  Each page holds a
 * generation, bumped by every rewrite under a per-page sequence count
 * (odd while the page is being rewritten).  A device read that started and
 * ended with the same even count must return exactly that generation's
 * content: a stale entry would return a freed page.
 */
#define UPDATE_DELAY	"/sys/module/hmm_mirror/parameters/update_delay_us"
#define RACE_PAGES	16
#define RACE_SECONDS	8
#define RACE_MAX_ITERS	200000

struct race {
	int fd;
	int memfd;
	char *p;
	unsigned long size;
	atomic_uint seq[RACE_PAGES];
	atomic_int stop;
	unsigned long mismatches;
	unsigned long checked;
	unsigned long skipped;
	unsigned long dev_errors;
	unsigned long mutations;
	char detail[160];
};

static void race_fill(unsigned int *w, unsigned int page, unsigned int gen)
{
	unsigned long i;

	w[0] = page;
	w[1] = gen;
	for (i = 2; i < page_size / sizeof(*w); i++)
		w[i] = (page << 20) ^ (gen * 40503u) ^ i;
}

static bool race_check(const unsigned int *w, unsigned int page,
		       unsigned int gen)
{
	unsigned long i;

	if (w[0] != page || w[1] != gen)
		return false;
	for (i = 2; i < page_size / sizeof(*w); i++)
		if (w[i] != ((page << 20) ^ (gen * 40503u) ^ i))
			return false;
	return true;
}

static void *race_faulter(void *arg)
{
	struct race *r = arg;
	volatile char *p = r->p;
	unsigned long n = 0, i;

	/* Sweeps with pauses, so that entries live long enough to be read. */
	while (!atomic_load(&r->stop) && n++ < RACE_MAX_ITERS) {
		for (i = 0; i < RACE_PAGES; i++)
			(void)p[i * page_size + (n % 8) * 8];
		usleep(1000);
	}
	return NULL;
}

static void *race_mutator(void *arg)
{
	struct race *r = arg;
	unsigned int *page = malloc(page_size);
	unsigned int rnd = 1;
	unsigned long n = 0;
	char *scratch;

	/*
	 * The page a hole punch frees is likely the next one this CPU
	 * allocates: give it to a scratch page full of garbage rather than
	 * to the new generation, so that a stale device entry shows.
	 */
	scratch = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (scratch == MAP_FAILED)
		scratch = NULL;
	while (page && scratch && !atomic_load(&r->stop) && n++ < RACE_MAX_ITERS) {
		unsigned int i, s;

		rnd = rnd * 1103515245 + 12345;
		i = (rnd >> 8) % RACE_PAGES;
		switch ((rnd >> 20) % 8) {
		case 0:
			/* Drop all CPU mappings (content stays). */
			madvise(r->p, r->size, MADV_DONTNEED);
			break;
		case 1:
			/* Replace the mapping in place (no unmapped window). */
			if (mmap(r->p, r->size, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, r->memfd, 0) ==
			    MAP_FAILED)
				atomic_store(&r->stop, 1);
			break;
		default:
			/* Punch the page out and write a new generation. */
			s = atomic_fetch_add(&r->seq[i], 1) + 1;
			fallocate(r->memfd, FALLOC_FL_PUNCH_HOLE |
				  FALLOC_FL_KEEP_SIZE, (off_t)i * page_size,
				  page_size);
			madvise(scratch, page_size, MADV_DONTNEED);
			memset(scratch, 0xa5, page_size);
			race_fill(page, i, (s + 1) / 2);
			if (pwrite(r->memfd, page, page_size,
				   (off_t)i * page_size) != page_size)
				atomic_store(&r->stop, 1);
			atomic_fetch_add(&r->seq[i], 1);
			r->mutations++;
			break;
		}
	}
	free(page);
	if (scratch)
		munmap(scratch, page_size);
	return NULL;
}

/*
 * Reads the whole range per device access: a long hold of the mirror's
 * lock makes update callbacks and invalidations queue up behind it, which
 * is when the sequence check has something to reject.
 */
static void *race_device(void *arg)
{
	struct race *r = arg;
	unsigned int *data = malloc(r->size);
	unsigned int s0[RACE_PAGES], s1[RACE_PAGES];
	unsigned long n = 0;

	while (data && !atomic_load(&r->stop) && n++ < RACE_MAX_ITERS) {
		struct hmm_dmirror_cmd cmd;
		unsigned int i;

		for (i = 0; i < RACE_PAGES; i++)
			s0[i] = atomic_load(&r->seq[i]);
		if (dmirror(r->fd, HMM_DMIRROR_READ, r->p, data, RACE_PAGES,
			    &cmd)) {
			r->dev_errors++;
			continue;
		}
		for (i = 0; i < RACE_PAGES; i++)
			s1[i] = atomic_load(&r->seq[i]);
		for (i = 0; i < RACE_PAGES; i++) {
			const unsigned int *w = data + i * (page_size / 4);

			if (s0[i] != s1[i] || (s0[i] & 1)) {
				r->skipped++;
				continue;
			}
			r->checked++;
			if (!race_check(w, i, s0[i] / 2) && !r->mismatches++)
				snprintf(r->detail, sizeof(r->detail),
					 "page %u gen %u: device saw page %u gen %u",
					 i, s0[i] / 2, w[0], w[1]);
		}
	}
	free(data);
	return NULL;
}

static void race_run(struct __test_metadata *_metadata,
		     FIXTURE_DATA(prefill) *self, bool expect_rejects)
{
	struct hmm_mirror_counters c;
	pthread_t threads[3];
	struct race *r;
	unsigned int i;
	time_t start;

	r = calloc(1, sizeof(*r));
	ASSERT_NE(r, NULL);
	r->fd = self->fd;
	r->size = RACE_PAGES * page_size;
	r->memfd = memfd_create("prefill-race", 0);
	ASSERT_GE(r->memfd, 0);
	for (i = 0; i < RACE_PAGES; i++) {
		race_fill(self->buf, i, 0);
		ASSERT_EQ(pwrite(r->memfd, self->buf, page_size,
				 (off_t)i * page_size), page_size);
	}
	r->p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    r->memfd, 0);
	ASSERT_NE(r->p, MAP_FAILED);
	ASSERT_EQ(prefill(self->fd, r->p, r->size), 0);
	ASSERT_EQ(ioctl(self->fd, HMM_MIRROR_RESET), 0);

	ASSERT_EQ(pthread_create(&threads[0], NULL, race_faulter, r), 0);
	ASSERT_EQ(pthread_create(&threads[1], NULL, race_mutator, r), 0);
	ASSERT_EQ(pthread_create(&threads[2], NULL, race_device, r), 0);
	start = time(NULL);
	while (time(NULL) - start < RACE_SECONDS && !atomic_load(&r->stop))
		usleep(100000);
	atomic_store(&r->stop, 1);
	for (i = 0; i < 3; i++)
		pthread_join(threads[i], NULL);

	/* With nothing running, the device must see the file's content. */
	for (i = 0; i < RACE_PAGES; i++) {
		struct hmm_dmirror_cmd cmd;
		unsigned int gen = atomic_load(&r->seq[i]) / 2;

		ASSERT_EQ(dmirror(self->fd, HMM_DMIRROR_READ,
				  r->p + i * page_size, self->mirror, 1,
				  &cmd), 0);
		ASSERT_EQ(pread(r->memfd, self->buf, page_size,
				(off_t)i * page_size), page_size);
		EXPECT_EQ(memcmp(self->mirror, self->buf, page_size), 0);
		EXPECT_TRUE(race_check(self->mirror, i, gen));
	}

	c = counters(self->fd);
	TH_LOG("%lu mutations, %lu reads checked, %lu skipped, %lu failed",
	       r->mutations, r->checked, r->skipped, r->dev_errors);
	TH_LOG("updates %llu prefilled %llu rejected %llu invalidations %llu faults %llu",
	       (unsigned long long)c.updates,
	       (unsigned long long)c.prefilled,
	       (unsigned long long)c.prefill_rejected,
	       (unsigned long long)c.invalidations,
	       (unsigned long long)c.device_faults);
	if (r->mismatches)
		TH_LOG("first mismatch: %s", r->detail);
	EXPECT_EQ(r->mismatches, 0);
	EXPECT_GT(r->checked, 0);
	EXPECT_GT(c.prefilled, 0);
	if (expect_rejects) {
		EXPECT_GT(c.prefill_rejected, 0);
	} else if (!c.prefill_rejected) {
		TH_LOG("the sequence check rejected no update this run");
	}
	munmap(r->p, r->size);
	close(r->memfd);
	free(r);
}

TEST_F(prefill, no_stale_entries)
{
	race_run(_metadata, self, false);
}

static int set_update_delay(const char *us)
{
	int fd = open(UPDATE_DELAY, O_WRONLY);
	int ret;

	if (fd < 0)
		return -1;
	ret = write(fd, us, strlen(us)) == (ssize_t)strlen(us) ? 0 : -1;
	close(fd);
	return ret;
}

/*
 * The same with one update callback in eight sleeping before it validates
 * (a testing knob of the module): invalidations now land inside that
 * window, and the sequence check has to reject those updates.  The mirror's
 * interval covers the whole address space, so any invalidation of the mm
 * (hole punch, MADV_DONTNEED, remap, the mutator's scratch page) counts.
 */
TEST_F(prefill, no_stale_entries_slow_updates)
{
	if (set_update_delay("100"))
		SKIP(return, "no " UPDATE_DELAY);
	race_run(_metadata, self, true);
	set_update_delay("0");
}

static void *touch(void *arg)
{
	(void)*(volatile char *)arg;
	return NULL;
}

/*
 * Deterministic: an update is stopped after its delivery, before its
 * validation (HMM_MIRROR_HOLD); meanwhile the page is punched out of the
 * file, its memory likely recycled as garbage, and a new generation
 * written.  The released update must be rejected.  The CPU access then
 * faults again (its entry was zapped); that second update is held too,
 * so that the device reads while only the first one could have installed
 * anything: it must fault and see the new generation, never the page that
 * left the file.
 */
TEST_F(prefill, stale_update_rejected)
{
	unsigned long size = 4 * page_size;
	struct hmm_mirror_counters c = { 0 };
	struct hmm_dmirror_cmd cmd = { 0 };
	char *p, *target, *scratch;
	pthread_t thread;
	unsigned int i;
	int memfd, ret;

	memfd = memfd_create("prefill-hold", 0);
	ASSERT_GE(memfd, 0);
	for (i = 0; i < 4; i++) {
		race_fill(self->buf, i, 1);
		ASSERT_EQ(pwrite(memfd, self->buf, page_size,
				 (off_t)i * page_size), page_size);
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	ASSERT_NE(p, MAP_FAILED);
	scratch = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(scratch, MAP_FAILED);
	target = p + page_size;
	ASSERT_EQ(prefill(self->fd, target, page_size), 0);
	ASSERT_EQ(ioctl(self->fd, HMM_MIRROR_RESET), 0);

	ASSERT_EQ(ioctl(self->fd, HMM_MIRROR_HOLD), 0);
	ASSERT_EQ(pthread_create(&thread, NULL, touch, target), 0);
	ret = ioctl(self->fd, HMM_MIRROR_WAIT_HELD);
	if (!ret) {
		/* The page leaves the file; its memory gets garbage. */
		ret = fallocate(memfd, FALLOC_FL_PUNCH_HOLE |
				FALLOC_FL_KEEP_SIZE, page_size, page_size);
		memset(scratch, 0xa5, page_size);
		race_fill(self->buf, 1, 2);
		if (pwrite(memfd, self->buf, page_size, page_size) !=
		    page_size)
			ret = -1;
	}
	/* Hold the CPU's second fault, let the first update go on. */
	ioctl(self->fd, HMM_MIRROR_HOLD);
	ioctl(self->fd, HMM_MIRROR_UNHOLD);
	if (!ret)
		ret = ioctl(self->fd, HMM_MIRROR_WAIT_HELD);
	if (!ret) {
		c = counters(self->fd);
		memset(self->mirror, 0, page_size);
		ret = dmirror(self->fd, HMM_DMIRROR_READ, target,
			      self->mirror, 1, &cmd);
	}
	ioctl(self->fd, HMM_MIRROR_UNHOLD);
	ASSERT_EQ(pthread_join(thread, NULL), 0);
	ASSERT_EQ(ret, 0);

	EXPECT_EQ(c.updates, 1);
	EXPECT_EQ(c.prefill_rejected, 1);
	EXPECT_EQ(c.prefilled, 0);
	EXPECT_EQ(cmd.faults, 1);
	EXPECT_TRUE(race_check(self->mirror, 1, 2));
	if (!race_check(self->mirror, 1, 2))
		TH_LOG("device saw page %u gen %u",
		       ((unsigned int *)self->mirror)[0],
		       ((unsigned int *)self->mirror)[1]);
	/*
	 * The second update was current when it was made, but any
	 * invalidation in the mm while it was held (the interval covers the
	 * whole address space: compaction, say) rejects it as well.
	 */
	c = counters(self->fd);
	EXPECT_EQ(c.updates, 2);
	EXPECT_GE(c.prefill_rejected, 1);
	munmap(scratch, page_size);
	munmap(p, size);
	close(memfd);
}

TEST_HARNESS_MAIN
