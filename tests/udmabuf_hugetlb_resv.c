// SPDX-License-Identifier: GPL-2.0
/*
 * A udmabuf over holes of a hugetlb memfd that was never mapped makes
 * memfd_pin_folios() allocate the huge pages.  On 6.12 that consumed a
 * reservation nobody made: HugePages_Rsvd underflowed (and DEBUG_VM hit a
 * VM_BUG_ON).  The series' first patch reserves first; check the counters.
 */
#include "udmabuf_lib.h"
#include "kselftest_harness.h"

/* A HugePages_* line of /proc/meminfo, -1 if missing. */
static long meminfo(const char *key)
{
	char line[256];
	size_t len = strlen(key);
	long val = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, len) && line[len] == ':')
			val = strtol(line + len + 1, NULL, 10);
	fclose(f);
	return val;
}

TEST(pin_holes_keeps_reservations_sane)
{
	const size_t size = 4 * HPS;
	struct udmabuf_create create = { .size = size };
	long free0, rsvd0, total;
	uint64_t *p;
	int dev, fd, buf;

	total = meminfo("HugePages_Total");
	free0 = meminfo("HugePages_Free");
	rsvd0 = meminfo("HugePages_Rsvd");
	ASSERT_GE(free0, 4);
	ASSERT_GE(rsvd0, 0);

	dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_GE(dev, 0);
	fd = ub_memfd(UB_HUGETLB, size);
	ASSERT_GE(fd, 0);
	create.memfd = fd;

	/* No mmap, no fault: every huge page is a hole the pin fills. */
	buf = ioctl(dev, UDMABUF_CREATE, &create);
	ASSERT_GE(buf, 0);
	ASSERT_EQ(free0 - 4, meminfo("HugePages_Free"));
	/* The pages are in use, not reserved; nothing went negative. */
	ASSERT_EQ(rsvd0, meminfo("HugePages_Rsvd"));
	ASSERT_LE(meminfo("HugePages_Rsvd"), total);

	/* The memfd sees the pinned pages: a fault maps them, no new one. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 7;
	ASSERT_EQ(free0 - 4, meminfo("HugePages_Free"));
	ASSERT_EQ(rsvd0, meminfo("HugePages_Rsvd"));
	munmap(p, size);

	close(buf);
	close(fd);
	close(dev);
	/* Everything back, bounded wait for the deferred frees. */
	for (int i = 0; i < 100 && meminfo("HugePages_Free") != free0; i++)
		usleep(10000);
	ASSERT_EQ(free0, meminfo("HugePages_Free"));
	ASSERT_EQ(rsvd0, meminfo("HugePages_Rsvd"));
}

TEST_HARNESS_MAIN
