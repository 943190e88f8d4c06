// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf_fallocate: a udmabuf never shows memory that the memfd has not
 * cleared.  fallocate() leaves new shmem folios in the page cache without
 * clearing them (the first access does), and before 6.12.118 ("mm/gup: fix
 * clearing folios in memfd_pin_folios()") memfd_pin_folios() returned them
 * as they were: a udmabuf over such a range must still read as zero,
 * when it is created over it and when a punched range is refilled with
 * fallocate() instead of being written.  The freed memory is filled with a
 * pattern first, so that what fallocate() gets is likely not zero.  Both
 * with small folios and with shmem THP (shmem_enabled=always for the test),
 * whose fallocated 2 MiB folios memfd_pin_folios() clears whole.
 */
#include "udmabuf_lib.h"

#include "kselftest_harness.h"

#define NPAGES		1024
#define DIRT		0xd1d1d1d1d1d1d1d1ULL

/* Leave @mib MiB of freed memory full of DIRT for the next allocations. */
static void dirty_free_memory(unsigned long mib)
{
	size_t size = mib << 20, i;
	uint64_t *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	for (i = 0; i < size / 8; i++)
		p[i] = DIRT;
	munmap(p, size);
}

/* Pages of @buf (@npages of them) with a non-zero word; first one in *@pg. */
static long nonzero_pages(const volatile uint64_t *buf, unsigned long npages,
			  unsigned long *pg)
{
	unsigned long p, w;
	long n = 0;

	for (p = 0; p < npages; p++) {
		for (w = 0; w < PS / 8; w++)
			if (buf[p * (PS / 8) + w])
				break;
		if (w < PS / 8 && !n++)
			*pg = p;
	}
	return n;
}

#define SHMEM_ENABLED	"/sys/kernel/mm/transparent_hugepage/shmem_enabled"

/* Write @mode to SHMEM_ENABLED; with @old, save the current one there. */
static int shmem_thp_mode(const char *mode, char *old, size_t len)
{
	char buf[128], *a, *b;
	int fd, ret;

	fd = open(SHMEM_ENABLED, O_RDWR);
	if (fd < 0)
		return -1;
	ret = read(fd, buf, sizeof(buf) - 1);
	if (ret > 0 && old) {
		buf[ret] = 0;
		a = strchr(buf, '[');
		b = a ? strchr(a, ']') : NULL;
		if (!b || (size_t)(b - a) > len)
			ret = -1;
		else
			snprintf(old, len, "%.*s", (int)(b - a - 1), a + 1);
	}
	if (ret > 0)
		ret = write(fd, mode, strlen(mode)) == (ssize_t)strlen(mode) ?
		      0 : -1;
	close(fd);
	return ret < 0 ? -1 : 0;
}

FIXTURE(falloc) {
	int dev;
	int memfd;
	size_t size;
	char thp_mode[32];
};

FIXTURE_VARIANT(falloc) {
	bool thp;
};

FIXTURE_VARIANT_ADD(falloc, small) {
	.thp = false,
};

FIXTURE_VARIANT_ADD(falloc, thp) {
	.thp = true,
};

FIXTURE_SETUP(falloc)
{
	self->thp_mode[0] = 0;
	self->size = NPAGES * PS;
	self->dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_LE(0, self->dev);
	self->memfd = ub_memfd(UB_SHMEM, self->size);
	ASSERT_LE(0, self->memfd);
	/* Last, so that a failed setup leaves the global mode alone. */
	if (variant->thp && access(SHMEM_ENABLED, W_OK))
		SKIP(return, "no %s", SHMEM_ENABLED);
	if (variant->thp)
		ASSERT_EQ(0, shmem_thp_mode("always", self->thp_mode,
					    sizeof(self->thp_mode)));
}

FIXTURE_TEARDOWN(falloc)
{
	close(self->memfd);
	close(self->dev);
	if (self->thp_mode[0])
		shmem_thp_mode(self->thp_mode, NULL, 0);
}

/* Created over fallocated, never written pages. */
TEST_F(falloc, create)
{
	unsigned long pg = 0;
	long thp_kb;
	uint64_t *copy;
	void *map;
	int dbuf;

	dirty_free_memory(64);
	thp_kb = ub_meminfo("ShmemHugePages");
	ASSERT_EQ(0, fallocate(self->memfd, 0, 0, self->size));
	if (variant->thp &&
	    ub_meminfo("ShmemHugePages") - thp_kb < (long)(HPS >> 10))
		SKIP(return, "fallocate() made no shmem THP");
	dbuf = ub_create(self->dev, self->memfd, 0, self->size);
	ASSERT_LE(0, dbuf);
	map = mmap(NULL, self->size, PROT_READ, MAP_SHARED, dbuf, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(0, nonzero_pages(map, NPAGES, &pg)) {
		TH_LOG("udmabuf mmap page %lu is not zero", pg);
	}
	copy = malloc(self->size);
	ASSERT_NE(NULL, copy);
	ASSERT_EQ(0, ub_vmap_read(dbuf, 0, copy, self->size));
	EXPECT_EQ(0, nonzero_pages(copy, NPAGES, &pg)) {
		TH_LOG("udmabuf vmap page %lu is not zero", pg);
	}
	/* And the memfd agrees. */
	ASSERT_EQ((ssize_t)self->size, pread(self->memfd, copy, self->size, 0));
	EXPECT_EQ(0, nonzero_pages(copy, NPAGES, &pg));
	free(copy);
	munmap(map, self->size);
	close(dbuf);
}

/* A written range punched, then refilled by fallocate(), not written. */
TEST_F(falloc, refill)
{
	unsigned long pg = 0;
	long thp_kb;
	uint64_t *mem, *copy;
	void *map;
	int dbuf;

	mem = ub_map_memfd(UB_SHMEM, self->memfd, self->size);
	ASSERT_NE(NULL, mem);
	ub_fill(mem, 0, NPAGES, 1);
	dbuf = ub_create(self->dev, self->memfd, 0, self->size);
	ASSERT_LE(0, dbuf);
	map = mmap(NULL, self->size, PROT_READ, MAP_SHARED, dbuf, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(-1, ub_check(map, 0, 0, NPAGES, 1));

	ASSERT_EQ(0, ub_punch(self->memfd, 0, self->size));
	dirty_free_memory(64);
	thp_kb = ub_meminfo("ShmemHugePages");
	ASSERT_EQ(0, fallocate(self->memfd, 0, 0, self->size));
	if (variant->thp &&
	    ub_meminfo("ShmemHugePages") - thp_kb < (long)(HPS >> 10))
		SKIP(return, "fallocate() made no shmem THP");
	/* The lazy path: begin_cpu_access, then the mmap refaults. */
	ASSERT_EQ(0, ub_sync(dbuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
	EXPECT_EQ(0, nonzero_pages(map, NPAGES, &pg)) {
		TH_LOG("udmabuf mmap page %lu is not zero", pg);
	}
	ASSERT_EQ(0, ub_sync(dbuf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ));
	copy = malloc(self->size);
	ASSERT_NE(NULL, copy);
	ASSERT_EQ(0, ub_vmap_read(dbuf, 0, copy, self->size));
	EXPECT_EQ(0, nonzero_pages(copy, NPAGES, &pg)) {
		TH_LOG("udmabuf vmap page %lu is not zero", pg);
	}
	free(copy);
	munmap(map, self->size);
	munmap(mem, self->size);
	close(dbuf);
}

TEST_HARNESS_MAIN
