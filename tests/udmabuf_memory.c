// SPDX-License-Identifier: GPL-2.0
/*
 * Memory comes back, and stays back: a punch under a buffer that nothing
 * pins frees what the same punch frees with no buffer (at least 90% of it,
 * measured in the same run), and reading the hole through the buffer's
 * mmap, as QEMU reads every frame, does not allocate it again.  While the
 * buffer is pinned (a held vmap), the punch frees nothing: the buffer keeps
 * the pages it froze, and lets go of them when unpinned.
 */
#include "udmabuf_lib.h"

#include <sys/stat.h>

#include "kselftest_harness.h"

#define MIB		(1UL << 20)
#define SIZE		(32 * MIB)
#define PUNCH		(16 * MIB)

/*
 * Free memory in kB, counting the pages on the per-CPU free lists, where a
 * punch's pages go first and MemFree does not see them.
 */
static long free_kb(void)
{
	long free = ub_meminfo("MemFree"), pcp = 0;
	char line[256];
	FILE *f;

	f = fopen("/proc/zoneinfo", "r");
	if (!f || free < 0)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *c = strstr(line, "count:");

		if (c && strstr(line, "    count:"))
			pcp += strtol(c + 6, NULL, 10);
	}
	fclose(f);
	return free + pcp * (PS / 1024);
}

static long meminfo(const char *key)
{
	return strcmp(key, "MemFree") ? ub_meminfo(key) : free_kb();
}

static long blocks(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : (long)st.st_blocks;
}

/* Read every page of @len bytes at @p, as a raw reader does. */
static uint64_t read_all(const volatile uint64_t *p, size_t len)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < len / 8; i += PS / 8)
		sum += p[i];
	return sum;
}

/* What a punch of the second half of a filled memfd frees, in kB. */
static long punch_frees(struct __test_metadata *_metadata, enum ub_kind kind,
			const char *key, size_t size, int dev, bool buffer,
			bool pin)
{
	int fd = ub_memfd(kind, size), dbuf = -1, vfd = -1;
	const volatile uint64_t *b = NULL;
	long before, after, punched;
	uint64_t *m;

	if (fd < 0)
		return -1;
	m = ub_map_memfd(kind, fd, size);
	if (!m)
		return -1;
	ub_fill(m, 0, size / PS, 1);
	/* The filling mapping goes: only the buffer holds pages now. */
	munmap(m, size);
	if (buffer) {
		dbuf = ub_create(dev, fd, 0, size);
		if (dbuf < 0)
			return -1;
		b = mmap(NULL, size, PROT_READ, MAP_SHARED, dbuf, 0);
		if (b == MAP_FAILED)
			return -1;
		read_all(b, size);
		if (pin) {
			vfd = ub_vmap_hold(dbuf);
			if (vfd < 0)
				return -1;
		}
	}
	before = meminfo(key);
	if (ub_punch(fd, size / 2, size / 2))
		return -1;
	after = meminfo(key);
	punched = blocks(fd);
	if (buffer) {
		/* Reading the hole, again and again, allocates nothing. */
		read_all(b, size);
		read_all(b, size);
		EXPECT_EQ(punched, blocks(fd));
		/* A hole reads 0, unless pinned: frozen, the old pages. */
		if (!pin)
			EXPECT_EQ(0, read_all((const volatile uint64_t *)
					      ((const char *)b + size / 2),
					      size / 2));
	}
	if (vfd >= 0) {
		long pinned = after;

		/* Unpinned, the buffer lets go of what it kept. */
		close(vfd);
		after = meminfo(key);
		TH_LOG("pinned: %ld kB freed by the punch, %ld kB at unpin",
		       pinned - before, after - pinned);
		EXPECT_LT(pinned - before, (long)(size / 2 / 1024 / 10));
	}
	if (dbuf >= 0) {
		munmap((void *)b, size);
		close(dbuf);
	}
	close(fd);
	return after - before;
}

static void compare(struct __test_metadata *_metadata, enum ub_kind kind,
		    const char *key, size_t size, long unit_kb, bool pin)
{
	int dev = open("/dev/udmabuf", O_RDWR);
	long none, with;

	ASSERT_GE(dev, 0);
	none = punch_frees(_metadata, kind, key, size, dev, false, false);
	with = punch_frees(_metadata, kind, key, size, dev, true, pin);
	ASSERT_GE(none, 0);
	ASSERT_GE(with, 0);
	TH_LOG("%s: a punch of %zu kB frees %ld (no buffer) and %ld (buffer)",
	       key, size / 2 / 1024, none * unit_kb, with * unit_kb);
	/* The punch itself frees about what it punched. */
	ASSERT_GE(none * unit_kb * 10, (long)(size / 2 / 1024) * 8);
	EXPECT_GE(with * 10, none * 9);
	close(dev);
}

TEST(shmem_punch_under_a_buffer_frees_what_it_punched)
{
	compare(_metadata, UB_SHMEM, "MemFree", SIZE, 1, false);
}

TEST(shmem_thp_punch_under_a_buffer_frees_what_it_punched)
{
	compare(_metadata, UB_THP, "MemFree", SIZE, 1, false);
}

TEST(hugetlb_punch_under_a_buffer_frees_its_huge_pages)
{
	long free = ub_meminfo("HugePages_Free");

	if (free < 8)
		SKIP(return, "%ld free huge pages, 8 wanted", free);
	/* HugePages_Free counts 2 MiB pages. */
	compare(_metadata, UB_HUGETLB, "HugePages_Free", 8 * HPS, 2048, false);
}

TEST(pinned_buffer_keeps_its_pages_until_unpinned)
{
	compare(_metadata, UB_SHMEM, "MemFree", SIZE, 1, true);
}

TEST_HARNESS_MAIN
