// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf_sigbus: a CPU mmap fault of a udmabuf that cannot get a page
 * raises SIGBUS instead of refaulting forever.
 *
 * A udmabuf over one 2 MiB huge page of a hugetlb memfd is mmapped; the
 * huge page is punched and the huge page pool is emptied (nr_hugepages
 * lowered to what is in use, overcommit off), so that filling the hole
 * cannot allocate.  A read of the hole needs no page: it shows zeros.  A
 * write through the buffer must fill the hole, and then raises SIGBUS;
 * alarm() bounds each access, so a refault loop fails the test instead of
 * hanging it.  The pool is restored afterwards (also by the parent process
 * if the test process dies), and the same write must then succeed.
 *
 * Control: the same sequence over a shmem memfd, whose hole is filled
 * without the pool: the write succeeds.
 *
 * Each runs with the buffer mapping not faulted before the punch and
 * faulted before it (the punch zaps it).
 */
#include "udmabuf_lib.h"
#include "knob.h"

#include <setjmp.h>
#include <signal.h>

#include "kselftest_harness.h"

#define HSTATE		"/sys/kernel/mm/hugepages/hugepages-2048kB/"
#define READ_TIMEOUT	20	/* seconds for one read of the buffer */

FIXTURE(sigbus) {
	/* Shared with the parent, which restores the pool in teardown. */
	long nr_saved;		/* nr_hugepages before, -1: untouched */
	long overcommit_saved;	/* nr_overcommit_hugepages, -1: untouched */
	int dev;
	int memfd;
	uint64_t *mem;
	int dbuf;
	const volatile uint64_t *map;
};

FIXTURE_VARIANT(sigbus) {
	enum ub_kind kind;
	bool faulted;		/* the buffer mapping read before the punch */
	bool want_sigbus;
};

FIXTURE_VARIANT_ADD(sigbus, hugetlb) {
	.kind = UB_HUGETLB,
	.want_sigbus = true,
};

FIXTURE_VARIANT_ADD(sigbus, hugetlb_faulted) {
	.kind = UB_HUGETLB,
	.faulted = true,
	.want_sigbus = true,
};

FIXTURE_VARIANT_ADD(sigbus, shmem) {
	.kind = UB_SHMEM,
};

FIXTURE_VARIANT_ADD(sigbus, shmem_faulted) {
	.kind = UB_SHMEM,
	.faulted = true,
};

/*
 * Put the 2 MiB pool back as it was.  A pool just shrunk gives back whole
 * 2 MiB blocks; compaction is only a fallback.  Returns 0 when restored.
 */
static int pool_restore(FIXTURE_DATA(sigbus) *self)
{
	int i, ret = 0;

	if (self->nr_saved >= 0) {
		for (i = 0; i < 3; i++) {
			write_long(HSTATE "nr_hugepages", self->nr_saved);
			if (read_long(HSTATE "nr_hugepages") == self->nr_saved)
				break;
			write_long("/proc/sys/vm/compact_memory", 1);
		}
		if (read_long(HSTATE "nr_hugepages") != self->nr_saved) {
			ksft_print_msg("nr_hugepages %ld, was %ld before\n",
				       read_long(HSTATE "nr_hugepages"),
				       self->nr_saved);
			ret = -1;
		}
		self->nr_saved = -1;
	}
	if (self->overcommit_saved >= 0) {
		if (write_long(HSTATE "nr_overcommit_hugepages",
			       self->overcommit_saved))
			ret = -1;
		self->overcommit_saved = -1;
	}
	return ret;
}

/*
 * Leave no huge page that an allocation could take: no overcommit and a
 * pool of the pages in use (the kernel keeps the reserved ones).
 */
static int pool_empty(FIXTURE_DATA(sigbus) *self)
{
	long nr, free, resv;

	nr = read_long(HSTATE "nr_hugepages");
	self->overcommit_saved = read_long(HSTATE "nr_overcommit_hugepages");
	if (nr < 0 || self->overcommit_saved < 0)
		return -1;
	if (write_long(HSTATE "nr_overcommit_hugepages", 0))
		return -1;
	self->nr_saved = nr;
	free = read_long(HSTATE "free_hugepages");
	if (write_long(HSTATE "nr_hugepages", nr - free))
		return -1;
	free = read_long(HSTATE "free_hugepages");
	resv = read_long(HSTATE "resv_hugepages");
	ksft_print_msg("huge page pool: %ld pages, %ld free, %ld reserved (was %ld)\n",
		       read_long(HSTATE "nr_hugepages"), free, resv,
		       self->nr_saved);
	return free == resv ? 0 : -1;
}

static sigjmp_buf jump;

static void on_signal(int sig)
{
	siglongjmp(jump, sig);
}

enum read_result { READ_OK, READ_SIGBUS, READ_TIMED_OUT };

/*
 * Read every page of @map (@npages), or write a word of each if @wmap,
 * bounded by READ_TIMEOUT.  *@nonzero gets the number of non-zero words
 * read.
 */
static enum read_result access_bounded(const volatile uint64_t *map,
				       volatile uint64_t *wmap,
				       unsigned long npages,
				       volatile unsigned long *nonzero)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_bus, old_alrm;
	enum read_result res;
	unsigned long w;
	int sig;

	*nonzero = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGALRM, &sa, &old_alrm);
	sig = sigsetjmp(jump, 1);
	if (!sig) {
		alarm(READ_TIMEOUT);
		for (w = 0; wmap && w < npages * (PS / 8); w += PS / 8)
			wmap[w] = 1;
		for (w = 0; !wmap && w < npages * (PS / 8); w++)
			if (map[w])
				(*nonzero)++;
		res = READ_OK;
	} else {
		res = sig == SIGBUS ? READ_SIGBUS : READ_TIMED_OUT;
	}
	alarm(0);
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGALRM, &old_alrm, NULL);
	return res;
}

static const char *result_name(enum read_result res)
{
	switch (res) {
	case READ_OK:
		return "read";
	case READ_SIGBUS:
		return "SIGBUS";
	default:
		return "no result (refaulting?)";
	}
}

FIXTURE_SETUP(sigbus)
{
	unsigned long nonzero;

	self->nr_saved = -1;
	self->overcommit_saved = -1;
	self->dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_LE(0, self->dev);
	self->memfd = ub_memfd(variant->kind, HPS);
	ASSERT_LE(0, self->memfd);
	self->mem = ub_map_memfd(variant->kind, self->memfd, HPS);
	ASSERT_NE(NULL, self->mem);
	ub_fill(self->mem, 0, HPS / PS, 1);
	self->dbuf = ub_create(self->dev, self->memfd, 0, HPS);
	ASSERT_LE(0, self->dbuf);
	self->map = mmap(NULL, HPS, PROT_READ, MAP_SHARED, self->dbuf, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	if (variant->faulted) {
		ASSERT_EQ(READ_OK, access_bounded(self->map, NULL, HPS / PS,
						  &nonzero));
		ASSERT_EQ(-1, ub_check(self->map, 0, 0, HPS / PS, 1));
	}
}

/* In the parent: the pool comes back even if the test process died. */
FIXTURE_TEARDOWN_PARENT(sigbus)
{
	EXPECT_EQ(0, pool_restore(self));
}

/* Bounded accesses, even on a slow (KASAN) kernel. */
TEST_F_TIMEOUT(sigbus, read_punched_empty_pool, 4 * READ_TIMEOUT + 30)
{
	volatile unsigned long nonzero = 0, ignored;
	enum read_result res, wres, again;
	volatile uint64_t *w;

	w = mmap(NULL, HPS, PROT_READ | PROT_WRITE, MAP_SHARED, self->dbuf, 0);
	ASSERT_NE(MAP_FAILED, w);
	ASSERT_EQ(0, ub_punch(self->memfd, 0, HPS));
	ASSERT_EQ(0, pool_empty(self));

	/* A read of the hole needs no page: zeros. */
	res = access_bounded(self->map, NULL, HPS / PS, &nonzero);
	ksft_print_msg("empty pool: %s, %lu non-zero words\n",
		       result_name(res), nonzero);
	/* A write fills it. */
	wres = access_bounded(NULL, w, HPS / PS, &ignored);
	ksft_print_msg("empty pool: write %s\n", result_name(wres));

	/* With the pool back, the hole can be filled. */
	ASSERT_EQ(0, pool_restore(self));
	again = access_bounded(NULL, w, HPS / PS, &ignored);
	ksft_print_msg("pool restored: write %s\n", result_name(again));

	EXPECT_EQ(READ_OK, res);
	EXPECT_EQ(0, nonzero);
	EXPECT_EQ(variant->want_sigbus ? READ_SIGBUS : READ_OK, wres);
	EXPECT_EQ(READ_OK, again);
	EXPECT_EQ(1, self->mem[0]);

	munmap((void *)w, HPS);
	munmap((void *)self->map, HPS);
	close(self->dbuf);
	munmap(self->mem, HPS);
	close(self->memfd);
	close(self->dev);
}

TEST_HARNESS_MAIN
