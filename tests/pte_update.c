// SPDX-License-Identifier: GPL-2.0
/*
 * The mmu notifier update op seen from userspace, through the
 * mmu_update_test module: which faults report, with which address, pfn,
 * order and permission, and whether the sequence validates.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/memfd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "knob.h"
#include "mmu_update_test/mmu_update_test.h"

#define PAGE		4096UL
#define HPAGE		(2UL << 20)

static int read_events(int fd, struct mut_event *ev, unsigned int room)
{
	struct mut_read r = { .events = (uintptr_t)ev, .count = room };

	if (ioctl(fd, MUT_IOC_READ, &r))
		return -errno;
	if (r.lost)
		return -EOVERFLOW;
	return r.count;
}

/* The whole log, as read by events_in(). */
static struct mut_event all[MUT_MAX_EVENTS];

/* Events that overlap [addr, addr + len), in log order. */
static int events_in(int fd, void *addr, size_t len, struct mut_event *out,
		     unsigned int room)
{
	uint64_t lo = (uintptr_t)addr, hi = lo + len;
	int n, i, k = 0;

	n = read_events(fd, all, MUT_MAX_EVENTS);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (all[i].end <= lo || all[i].start >= hi)
			continue;
		if (k == (int)room)
			return -ENOSPC;
		out[k++] = all[i];
	}
	return k;
}

/* The pfn mapped at addr, 0 if not present. */
static uint64_t pagemap_pfn(void *addr)
{
	uint64_t ent = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &ent, sizeof(ent), (uintptr_t)addr / PAGE * 8) != 8)
		ent = 0;
	close(fd);
	if (!(ent & (1ULL << 63)))
		return 0;
	return ent & ((1ULL << 55) - 1);
}

/* A mapping of len bytes at an address aligned to align. */
static void *map_aligned(size_t len, size_t align, int prot, int flags, int fd)
{
	char *area, *p;

	area = mmap(NULL, len + align, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		return MAP_FAILED;
	p = (char *)(((uintptr_t)area + align - 1) & ~(align - 1));
	if (mmap(p, len, prot, flags | MAP_FIXED, fd, 0) == MAP_FAILED)
		return MAP_FAILED;
	return p;
}

static int shmem_fd(size_t len, unsigned int flags)
{
	int fd = memfd_create("pte_update", flags);

	if (fd >= 0 && ftruncate(fd, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

FIXTURE(mut) {
	int dev;
	struct mut_event ev[MUT_MAX_EVENTS];
};

FIXTURE_SETUP(mut)
{
	/*
	 * A plain subscriber sees every invalidation of the mm, and the
	 * first write to a page this forked test shares with its parent is
	 * one (a COW copy): write the buffers the tests fill after they
	 * subscribe now, or a revalidation may fail for no reason of the
	 * test's.
	 */
	memset(all, 0, sizeof(all));
	memset(self->ev, 0, sizeof(self->ev));
	self->dev = open(MUT_DEV, O_RDWR);
	ASSERT_GE(self->dev, 0) TH_LOG("open %s: %s", MUT_DEV, strerror(errno));
}

FIXTURE_TEARDOWN(mut)
{
	close(self->dev);
}

/* Each event must describe exactly what pagemap shows mapped. */
static void check_against_pagemap(struct __test_metadata *_metadata,
				  struct mut_event *ev, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		uint64_t a;

		ASSERT_EQ(0, ev[i].start % PAGE);
		ASSERT_LT(ev[i].start, ev[i].end);
		for (a = ev[i].start; a < ev[i].end; a += PAGE)
			ASSERT_EQ(ev[i].pfn + (a - ev[i].start) / PAGE,
				  pagemap_pfn((void *)(uintptr_t)a));
	}
}

TEST_F(mut, shmem_write_fault_one_update_per_page)
{
	const int pages = 16;
	char *p;
	int fd, i, n;

	fd = shmem_fd(pages * PAGE, 0);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_SUBSCRIBE_MM));

	for (i = 0; i < pages; i++)
		p[i * PAGE] = i;

	n = events_in(self->dev, p, pages * PAGE, self->ev, MUT_MAX_EVENTS);
	ASSERT_EQ(pages, n);
	for (i = 0; i < pages; i++) {
		ASSERT_EQ((uintptr_t)(p + i * PAGE), self->ev[i].start);
		ASSERT_EQ(self->ev[i].start + PAGE, self->ev[i].end);
		ASSERT_EQ(0, self->ev[i].order);
		ASSERT_EQ(MUT_SRC_MM, self->ev[i].source);
		ASSERT_TRUE(self->ev[i].flags & MUT_EV_WRITE);
		ASSERT_TRUE(self->ev[i].flags & MUT_EV_VALID);
		ASSERT_NE(0, self->ev[i].pfn);
	}
	check_against_pagemap(_metadata, self->ev, n);

	/* Faults on present entries install nothing new. */
	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_CLEAR));
	for (i = 0; i < pages; i++)
		p[i * PAGE] += 1;
	ASSERT_EQ(0, events_in(self->dev, p, pages * PAGE, self->ev, 1));
}

TEST_F(mut, shmem_read_fault_read_only_mapping)
{
	const int pages = 8;
	volatile char *p;
	int fd, i, n;

	fd = shmem_fd(pages * PAGE, 0);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, pages * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_SUBSCRIBE_MM));

	for (i = 0; i < pages; i++)
		(void)p[i * PAGE];

	n = events_in(self->dev, (void *)p, pages * PAGE, self->ev,
		      MUT_MAX_EVENTS);
	ASSERT_EQ(pages, n);
	for (i = 0; i < n; i++) {
		ASSERT_EQ((uintptr_t)(p + i * PAGE), self->ev[i].start);
		ASSERT_EQ(PAGE, self->ev[i].end - self->ev[i].start);
		ASSERT_FALSE(self->ev[i].flags & MUT_EV_WRITE);
		ASSERT_TRUE(self->ev[i].flags & MUT_EV_VALID);
	}
	check_against_pagemap(_metadata, self->ev, n);
}

TEST_F(mut, fault_around_reports_mapped_folio_ranges)
{
	const int pages = 16;	/* the default fault_around_bytes, 4 KiB pages */
	char buf[PAGE];
	volatile char *p;
	int fd, i, n, covered = 0, present = 0;

	fd = shmem_fd(pages * PAGE, 0);
	ASSERT_GE(fd, 0);
	/* In the page cache, not mapped anywhere. */
	for (i = 0; i < pages; i++) {
		memset(buf, i + 1, sizeof(buf));
		ASSERT_EQ(PAGE, pwrite(fd, buf, PAGE, i * PAGE));
	}
	p = map_aligned(pages * PAGE, HPAGE, PROT_READ, MAP_SHARED, fd);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_SUBSCRIBE_MM));

	ASSERT_EQ(1, p[0]);

	n = events_in(self->dev, (void *)p, pages * PAGE, self->ev,
		      MUT_MAX_EVENTS);
	ASSERT_GT(n, 0);
	/* One event per contiguous range, not one per page. */
	ASSERT_LE(n, pages);
	check_against_pagemap(_metadata, self->ev, n);
	for (i = 0; i < n; i++) {
		covered += (self->ev[i].end - self->ev[i].start) / PAGE;
		ASSERT_TRUE(self->ev[i].flags & MUT_EV_VALID);
		ASSERT_FALSE(self->ev[i].flags & MUT_EV_WRITE);
		if (i) {	/* adjacent ranges only split where pfns do */
			ASSERT_TRUE(self->ev[i].start != self->ev[i - 1].end ||
				    self->ev[i].pfn != self->ev[i - 1].pfn +
				    (self->ev[i - 1].end -
				     self->ev[i - 1].start) / PAGE);
		}
	}
	for (i = 0; i < pages; i++)
		present += !!pagemap_pfn((void *)(p + i * PAGE));
	/* Fault-around mapped more than the faulting page... */
	ASSERT_GT(present, 1);
	/* ...and every page it mapped was reported exactly once. */
	ASSERT_EQ(present, covered);
}

#define FAULT_AROUND	"/sys/kernel/debug/fault_around_bytes"

/* Pages of [p, p + pages pages) that are mapped. */
static int present_pages(volatile char *p, int pages)
{
	int i, present = 0;

	for (i = 0; i < pages; i++)
		present += !!pagemap_pfn((void *)(p + i * PAGE));
	return present;
}

/*
 * Subscribing changes nothing of what a fault maps: with a window wider
 * than the batch the entries are read back in (16 runs), fault-around in a
 * subscribed mm maps the whole window, as before subscribing, and every
 * page of it is reported.
 */
TEST_F(mut, fault_around_is_unchanged_by_subscribers)
{
	const int pages = 64;
	int fd, i, n, covered = 0, before = -1, after = -1, sub = -1;
	volatile char *p, *q;
	char buf[PAGE];
	long old;

	fd = shmem_fd(pages * PAGE, 0);
	ASSERT_GE(fd, 0);
	for (i = 0; i < pages; i++) {
		memset(buf, i + 1, sizeof(buf));
		ASSERT_EQ(PAGE, pwrite(fd, buf, PAGE, i * PAGE));
	}
	/* The VM's init mounts debugfs. */
	old = read_long(FAULT_AROUND);
	if (old <= 0)
		SKIP(return, "no " FAULT_AROUND " (debugfs)");
	ASSERT_EQ(0, write_long(FAULT_AROUND, pages * PAGE));
	p = map_aligned(pages * PAGE, HPAGE, PROT_READ, MAP_SHARED, fd);
	q = map_aligned(pages * PAGE, HPAGE, PROT_READ, MAP_SHARED, fd);
	if (p != MAP_FAILED && q != MAP_FAILED) {
		before = p[0];
		sub = ioctl(self->dev, MUT_IOC_SUBSCRIBE_MM);
		after = q[0];
	}
	/* Restored before any assertion can end the test. */
	ASSERT_EQ(0, write_long(FAULT_AROUND, old));
	ASSERT_EQ(old, read_long(FAULT_AROUND));
	ASSERT_EQ(0, sub);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ(1, before);
	ASSERT_EQ(1, after);

	ASSERT_EQ(pages, present_pages(p, pages));
	ASSERT_EQ(pages, present_pages(q, pages));
	n = events_in(self->dev, (void *)q, pages * PAGE, self->ev,
		      MUT_MAX_EVENTS);
	ASSERT_GT(n, 0);
	check_against_pagemap(_metadata, self->ev, n);
	for (i = 0; i < n; i++) {
		covered += (self->ev[i].end - self->ev[i].start) / PAGE;
		ASSERT_TRUE(self->ev[i].flags & MUT_EV_VALID);
		ASSERT_FALSE(self->ev[i].flags & MUT_EV_WRITE);
	}
	ASSERT_EQ(pages, covered);
}

TEST_F(mut, shmem_thp_reports_one_pmd)
{
	char *p;
	int fd, n;

	fd = shmem_fd(HPAGE, 0);
	ASSERT_GE(fd, 0);
	p = map_aligned(HPAGE, HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, HPAGE, MADV_HUGEPAGE));
	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_SUBSCRIBE_MM));

	p[12345] = 1;

	n = events_in(self->dev, p, HPAGE, self->ev, MUT_MAX_EVENTS);
	ASSERT_EQ(1, n);
	ASSERT_EQ((uintptr_t)p, self->ev[0].start);
	ASSERT_EQ(HPAGE, self->ev[0].end - self->ev[0].start);
	ASSERT_EQ(9, self->ev[0].order);
	ASSERT_TRUE(self->ev[0].flags & MUT_EV_WRITE);
	ASSERT_TRUE(self->ev[0].flags & MUT_EV_VALID);
	check_against_pagemap(_metadata, self->ev, n);
}

TEST_F(mut, hugetlb_2m_reports_one_update)
{
	char *p;
	int fd, n;

	fd = shmem_fd(2 * HPAGE, MFD_HUGETLB);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_SUBSCRIBE_MM));

	p[HPAGE + 77] = 1;
	(void)*(volatile char *)p;

	n = events_in(self->dev, p, 2 * HPAGE, self->ev, MUT_MAX_EVENTS);
	ASSERT_EQ(2, n);
	ASSERT_EQ((uintptr_t)p + HPAGE, self->ev[0].start);
	ASSERT_EQ((uintptr_t)p, self->ev[1].start);
	ASSERT_EQ(HPAGE, self->ev[0].end - self->ev[0].start);
	ASSERT_EQ(9, self->ev[0].order);
	ASSERT_EQ(9, self->ev[1].order);
	/* A shared writable hugetlb mapping is mapped writable on read too. */
	ASSERT_TRUE(self->ev[0].flags & MUT_EV_WRITE);
	ASSERT_TRUE(self->ev[0].flags & MUT_EV_VALID);
	ASSERT_TRUE(self->ev[1].flags & MUT_EV_VALID);
	check_against_pagemap(_metadata, self->ev, n);
}

TEST_F(mut, hugetlb_1g_reports_one_update)
{
	const size_t gpage = 1UL << 30;
	char *p;
	int fd, n;

	fd = memfd_create("pte_update", MFD_HUGETLB | MFD_HUGE_1GB);
	ASSERT_GE(fd, 0);
	if (ftruncate(fd, gpage))
		SKIP(return, "no 1 GiB huge page reserved (hugepagesz=1G)");
	p = map_aligned(gpage, gpage, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_SUBSCRIBE_MM));

	p[gpage - 1] = 1;

	n = events_in(self->dev, p, gpage, self->ev, MUT_MAX_EVENTS);
	ASSERT_EQ(1, n);
	ASSERT_EQ((uintptr_t)p, self->ev[0].start);
	ASSERT_EQ(gpage, self->ev[0].end - self->ev[0].start);
	ASSERT_EQ(18, self->ev[0].order);
	ASSERT_TRUE(self->ev[0].flags & MUT_EV_VALID);
	ASSERT_EQ(self->ev[0].pfn, pagemap_pfn(p));
	ASSERT_EQ(self->ev[0].pfn + (gpage - PAGE) / PAGE,
		  pagemap_pfn(p + gpage - PAGE));
}

TEST_F(mut, shared_anonymous_is_shmem_and_reports)
{
	const int pages = 4;
	char *p;
	int i, n;

	p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_SUBSCRIBE_MM));
	for (i = 0; i < pages; i++)
		p[i * PAGE] = 1;
	n = events_in(self->dev, p, pages * PAGE, self->ev, MUT_MAX_EVENTS);
	ASSERT_EQ(pages, n);
	for (i = 0; i < n; i++)
		ASSERT_TRUE(self->ev[i].flags & MUT_EV_VALID);
	check_against_pagemap(_metadata, self->ev, n);
}

TEST_F(mut, anonymous_and_private_cow_report_nothing)
{
	const int pages = 8;
	char *anon, *priv;
	int fd, i;

	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_SUBSCRIBE_MM));
	anon = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, anon);
	fd = shmem_fd(pages * PAGE, 0);
	ASSERT_GE(fd, 0);
	priv = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		    fd, 0);
	ASSERT_NE(MAP_FAILED, priv);

	for (i = 0; i < pages; i++) {
		anon[i * PAGE] = 1;
		priv[i * PAGE] = 1;	/* a COWed anonymous copy */
	}
	ASSERT_EQ(0, events_in(self->dev, anon, pages * PAGE, self->ev, 1));
	ASSERT_EQ(0, events_in(self->dev, priv, pages * PAGE, self->ev, 1));
}

TEST_F(mut, unsubscribed_mm_reports_nothing)
{
	const int pages = 4;
	char *p;
	int fd, i, status;
	pid_t pid;

	fd = shmem_fd(pages * PAGE, 0);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);

	/* No subscription yet: this file hears nothing. */
	p[0] = 1;
	ASSERT_EQ(0, events_in(self->dev, p, pages * PAGE, self->ev, 1));

	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_SUBSCRIBE_MM));
	ASSERT_EQ(0, madvise(p, pages * PAGE, MADV_DONTNEED));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* The child's mm has no subscriber. */
		for (i = 0; i < pages; i++)
			p[i * PAGE] = 2;
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	ASSERT_EQ(0, events_in(self->dev, p, pages * PAGE, self->ev, 1));
}

TEST_F(mut, interval_subscribers_only_for_their_range)
{
	const int pages = 8;
	struct mut_interval a = { .length = 2 * PAGE };
	struct mut_interval b = { .length = 2 * PAGE };
	char *p;
	int fd, n, i;

	fd = shmem_fd(pages * PAGE, 0);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	a.start = (uintptr_t)p;
	b.start = (uintptr_t)p + 4 * PAGE;
	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_SUBSCRIBE_RANGE, &a));
	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_SUBSCRIBE_RANGE, &b));
	ASSERT_NE(a.id, b.id);

	p[0] = 1;		/* in a */
	p[PAGE] = 1;		/* in a */
	p[2 * PAGE] = 1;	/* in neither */
	p[5 * PAGE] = 1;	/* in b */

	n = events_in(self->dev, p, pages * PAGE, self->ev, MUT_MAX_EVENTS);
	ASSERT_EQ(3, n);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(a.id, self->ev[i].source);
		ASSERT_EQ((uintptr_t)p + i * PAGE, self->ev[i].start);
		ASSERT_TRUE(self->ev[i].flags & MUT_EV_VALID);
	}
	ASSERT_EQ(b.id, self->ev[2].source);
	ASSERT_EQ((uintptr_t)p + 5 * PAGE, self->ev[2].start);
	ASSERT_TRUE(self->ev[2].flags & MUT_EV_VALID);
	check_against_pagemap(_metadata, self->ev, n);
}

/* An interval subscription over [p, p + len), or one for the whole mm. */
static int subscribe(int dev, bool interval, void *p, size_t len)
{
	struct mut_interval iv = { .start = (uintptr_t)p, .length = len };

	if (interval)
		return ioctl(dev, MUT_IOC_SUBSCRIBE_RANGE, &iv);
	return ioctl(dev, MUT_IOC_SUBSCRIBE_MM);
}

/* Race an invalidation into the window between the PTE read and validation. */
struct racer {
	char *addr;
};

static void *fault_thread(void *arg)
{
	struct racer *r = arg;

	*(volatile char *)r->addr = 42;
	return NULL;
}

enum inval { PUNCH, DONTNEED };

/*
 * Fault page 0 of @p (memfd @fd, @unit bytes) from a thread, hold its update
 * callback after the entry was read and before it validates, invalidate
 * the entry as @how says meanwhile, then let the callback go on.
 */
static void held_window(struct __test_metadata *_metadata, int dev, char *p,
			int fd, size_t unit, enum inval how)
{
	struct racer r = { .addr = p };
	pthread_t t;

	ASSERT_EQ(0, ioctl(dev, MUT_IOC_HOLD));
	ASSERT_EQ(0, pthread_create(&t, NULL, fault_thread, &r));
	/* The fault installed the entry and is held before validating. */
	ASSERT_EQ(0, ioctl(dev, MUT_IOC_WAIT_HELD));
	if (how == PUNCH) {
		ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE |
				       FALLOC_FL_KEEP_SIZE, 0, unit));
	} else {
		ASSERT_EQ(0, madvise(p, unit, MADV_DONTNEED));
	}
	ASSERT_EQ(0, ioctl(dev, MUT_IOC_RELEASE));
	ASSERT_EQ(0, pthread_join(t, NULL));
}

static void window_race(struct __test_metadata *_metadata, int dev,
			struct mut_event *ev, bool interval, enum inval how,
			unsigned int mfd_flags, size_t unit)
{
	char *p;
	int fd, n;

	fd = shmem_fd(unit, mfd_flags);
	ASSERT_GE(fd, 0);
	p = map_aligned(unit, unit, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, subscribe(dev, interval, p, unit));
	held_window(_metadata, dev, p, fd, unit, how);

	n = events_in(dev, p, unit, ev, MUT_MAX_EVENTS);
	/* The held update, then the refault after the zap. */
	ASSERT_EQ(2, n);
	ASSERT_FALSE(ev[0].flags & MUT_EV_VALID);
	ASSERT_TRUE(ev[1].flags & MUT_EV_VALID);
	ASSERT_EQ(ev[1].pfn, pagemap_pfn(p));
	ASSERT_EQ(42, p[0]);
}

TEST_F(mut, punch_hole_in_window_fails_validation)
{
	window_race(_metadata, self->dev, self->ev, false, PUNCH, 0, PAGE);
}

TEST_F(mut, punch_hole_in_window_fails_interval_validation)
{
	window_race(_metadata, self->dev, self->ev, true, PUNCH, 0, PAGE);
}

TEST_F(mut, dontneed_in_window_fails_validation)
{
	window_race(_metadata, self->dev, self->ev, false, DONTNEED, 0, PAGE);
}

TEST_F(mut, dontneed_in_window_fails_interval_validation)
{
	window_race(_metadata, self->dev, self->ev, true, DONTNEED, 0, PAGE);
}

TEST_F(mut, hugetlb_punch_in_window_fails_validation)
{
	window_race(_metadata, self->dev, self->ev, false, PUNCH,
		    MFD_HUGETLB, HPAGE);
}

/*
 * munmap needs the locks the fault holds, so it cannot land inside the
 * callback: validate a logged update again after it, as a subscriber that
 * defers its work would.
 */
static void munmap_after(struct __test_metadata *_metadata, int dev,
			 struct mut_event *ev, bool interval, bool unmap)
{
	char *p;
	int fd, n;

	fd = shmem_fd(2 * PAGE, 0);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, subscribe(dev, interval, p, 2 * PAGE));
	p[0] = 1;
	n = events_in(dev, p, 2 * PAGE, ev, MUT_MAX_EVENTS);
	ASSERT_EQ(1, n);
	ASSERT_TRUE(ev[0].flags & MUT_EV_VALID);
	ASSERT_EQ(1, ioctl(dev, MUT_IOC_REVALIDATE, ev[0].index));
	if (unmap) {
		ASSERT_EQ(0, munmap(p, 2 * PAGE));
		ASSERT_EQ(0, ioctl(dev, MUT_IOC_REVALIDATE, ev[0].index));
	} else {
		/* Faults elsewhere are no invalidation. */
		p[PAGE] = 1;
		ASSERT_EQ(1, ioctl(dev, MUT_IOC_REVALIDATE, ev[0].index));
	}
}

TEST_F(mut, munmap_fails_later_validation)
{
	munmap_after(_metadata, self->dev, self->ev, false, true);
}

TEST_F(mut, munmap_fails_later_interval_validation)
{
	munmap_after(_metadata, self->dev, self->ev, true, true);
}

TEST_F(mut, stays_valid_without_invalidation)
{
	munmap_after(_metadata, self->dev, self->ev, true, false);
}

static int watch(int dev, int fd, uint64_t first, uint64_t last)
{
	struct mut_watch w = { .fd = fd, .first = first, .last = last };

	return ioctl(dev, MUT_IOC_WATCH_FILE, &w);
}

/* A watch hears the faults of every mm on its range, and only those. */
TEST_F(mut, watch_hears_faults_of_every_mm_in_its_range)
{
	const int pages = 8;
	int fd, i, n, status;
	char *p;
	pid_t pid;

	fd = shmem_fd(pages * PAGE, 0);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, watch(self->dev, fd, 2, 5));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* Another mm, with no subscription of its own. */
		for (i = 0; i < pages; i++)
			p[i * PAGE] = i;
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	n = read_events(self->dev, all, MUT_MAX_EVENTS);
	ASSERT_EQ(4, n);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(MUT_SRC_FILE, all[i].source);
		ASSERT_EQ(2 + i, all[i].pgoff);
		ASSERT_EQ(PAGE, all[i].end - all[i].start);
		ASSERT_TRUE(all[i].flags & MUT_EV_VALID);
	}
	/* The parent maps the same folios: the child reported them. */
	for (i = 2; i <= 5; i++)
		ASSERT_EQ(i, p[i * PAGE]);
	ASSERT_EQ(all[0].pfn, pagemap_pfn(p + 2 * PAGE));
}

TEST_F(mut, watch_hears_hugetlb_faults)
{
	char *p;
	int fd, n;

	fd = shmem_fd(2 * HPAGE, MFD_HUGETLB);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, watch(self->dev, fd, HPAGE / PAGE, HPAGE / PAGE));

	p[0] = 1;		/* outside the watch */
	p[HPAGE + 77] = 1;
	n = read_events(self->dev, all, MUT_MAX_EVENTS);
	ASSERT_EQ(1, n);
	ASSERT_EQ(HPAGE / PAGE, all[0].pgoff);
	ASSERT_EQ(9, all[0].order);
	ASSERT_TRUE(all[0].flags & MUT_EV_VALID);
	ASSERT_EQ(all[0].pfn, pagemap_pfn(p + HPAGE));
}

/* Removals reach the watch, with their range, from whoever removes. */
TEST_F(mut, watch_hears_removals_not_unmaps)
{
	struct mut_counters c;
	char *p;
	int fd;

	fd = shmem_fd(8 * PAGE, 0);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, watch(self->dev, fd, 0, 7));
	memset(p, 1, 8 * PAGE);
	ASSERT_EQ(0, madvise(p, 8 * PAGE, MADV_DONTNEED));
	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_COUNTERS, &c));
	ASSERT_EQ(0, c.invalidations);
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       3 * PAGE, 2 * PAGE));
	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_COUNTERS, &c));
	ASSERT_EQ(1, c.invalidations);
	ASSERT_EQ(3, c.removed_first);
	ASSERT_EQ(4, c.removed_last);
}

/* Held between its read and its validation, an update loses to a punch. */
TEST_F(mut, punch_hole_in_window_fails_watch_validation)
{
	char *p;
	int fd, n;

	fd = shmem_fd(PAGE, 0);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, watch(self->dev, fd, 0, 0));
	held_window(_metadata, self->dev, p, fd, PAGE, PUNCH);
	n = read_events(self->dev, all, MUT_MAX_EVENTS);
	ASSERT_EQ(2, n);
	ASSERT_FALSE(all[0].flags & MUT_EV_VALID);
	ASSERT_TRUE(all[1].flags & MUT_EV_VALID);
	ASSERT_EQ(all[1].pfn, pagemap_pfn(p));
	ASSERT_EQ(42, p[0]);
}

/* An unmap removes nothing from the file: the update stays valid. */
TEST_F(mut, dontneed_in_window_keeps_watch_validation)
{
	char *p;
	int fd, n;

	fd = shmem_fd(PAGE, 0);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, watch(self->dev, fd, 0, 0));
	held_window(_metadata, self->dev, p, fd, PAGE, DONTNEED);
	/* The held update, then the refault after the zap: both valid. */
	n = read_events(self->dev, all, MUT_MAX_EVENTS);
	ASSERT_EQ(2, n);
	ASSERT_TRUE(all[0].flags & MUT_EV_VALID);
	ASSERT_TRUE(all[1].flags & MUT_EV_VALID);
	ASSERT_EQ(all[0].pfn, all[1].pfn);
	ASSERT_EQ(1, ioctl(self->dev, MUT_IOC_REVALIDATE, all[0].index));
}

TEST_F(mut, bad_ioctls)
{
	struct mut_interval iv = { .start = 0, .length = 0 };
	int fd;

	ASSERT_EQ(-1, ioctl(self->dev, MUT_IOC_SUBSCRIBE_RANGE, &iv));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, ioctl(self->dev, MUT_IOC_REVALIDATE, 12345));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, ioctl(self->dev, _IO('M', 0x7f)));
	ASSERT_EQ(ENOTTY, errno);
	ASSERT_EQ(-1, ioctl(self->dev, MUT_IOC_READ, (void *)16));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, ioctl(self->dev, MUT_IOC_WAIT_HELD));
	ASSERT_EQ(ETIMEDOUT, errno);
	ASSERT_EQ(0, ioctl(self->dev, MUT_IOC_SUBSCRIBE_MM));
	ASSERT_EQ(-1, ioctl(self->dev, MUT_IOC_SUBSCRIBE_MM));
	ASSERT_EQ(EBUSY, errno);

	ASSERT_EQ(-1, watch(self->dev, -1, 0, 0));
	ASSERT_EQ(EBADF, errno);
	ASSERT_EQ(-1, watch(self->dev, self->dev, 0, 0));
	ASSERT_EQ(EINVAL, errno);
	fd = shmem_fd(PAGE, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(-1, watch(self->dev, fd, 1, 0));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(0, watch(self->dev, fd, 0, 0));
	ASSERT_EQ(-1, watch(self->dev, fd, 0, 0));
	ASSERT_EQ(EBUSY, errno);
}

TEST_HARNESS_MAIN
