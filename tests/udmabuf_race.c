// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf_race: one thread punches and rewrites ranges of the memfd in a
 * loop (through the creator's mapping, so its faults drive the eager path),
 * another punches at random so that invalidations race with those faults,
 * others read through the udmabuf: its mmap, kernel vmaps and SYNC.  Every
 * word read must be the memfd's old or new content for that page: a tag of
 * the right page index, or zero (a hole), or, in a vmap copy the kernel
 * made byte by byte, such a tag half stored over zeroes.  Once the
 * writer stops, the udmabuf must equal the memfd, and after everything is
 * closed no memory may be left behind.  Bounded to a few seconds.
 */
#include "udmabuf_lib.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "kselftest_harness.h"

#define RACE_SECONDS	3

struct race {
	enum ub_kind kind;
	int memfd;
	int dbuf;
	uint64_t *mem;
	volatile uint64_t *map;
	unsigned long npages;
	unsigned long chunk;		/* pages punched at a time */
	atomic_uint gen;		/* highest generation written */
	atomic_bool stop;
	atomic_ulong bad;		/* words that were neither */
	atomic_ulong rounds, punches, reads, vmaps;
	uint64_t bad_word, bad_again;	/* the word, read again 1 ms later */
	unsigned long bad_page;
	const char *bad_src;		/* which reader saw it */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * @copied: the word comes from a copy the kernel made (the vmap reader),
 * byte by byte, which may catch a tag half stored over zeroes.
 */
static bool word_ok(struct race *r, unsigned long pg, uint64_t w,
		    bool copied)
{
	if (!w)
		return true;
	if (copied && ub_torn_tag(w, pg))
		return true;
	return w >> 48 == TAG_MAGIC && ((w >> 24) & 0xffffff) == pg &&
	       (w & 0xffffff) >= 1 && (w & 0xffffff) <= atomic_load(&r->gen);
}

/*
 * Check page @pg of @buf (read by @src).  On a bad word, read it again a
 * millisecond later: a transient (a page shown before it was cleared) and a
 * lasting bad mapping look different.
 */
static void check_words(struct race *r, const volatile uint64_t *buf,
			unsigned long pg, const char *src)
{
	bool copied = buf != r->map;
	unsigned long w = pg * (PS / 8);
	uint64_t a = buf[w];
	uint64_t b = buf[w + PS / 8 - 1];

	if (word_ok(r, pg, a, copied) && word_ok(r, pg, b, copied))
		return;
	if (word_ok(r, pg, a, copied)) {
		a = b;
		w += PS / 8 - 1;
	}
	if (!atomic_fetch_add(&r->bad, 1)) {
		r->bad_word = a;
		r->bad_page = pg;
		r->bad_src = src;
		usleep(1000);
		r->bad_again = buf[w];
	}
}

static void write_page(struct race *r, unsigned long pg, unsigned int gen)
{
	r->mem[pg * (PS / 8)] = ub_tag(pg, gen);
	r->mem[pg * (PS / 8) + PS / 8 - 1] = ub_tag(pg, gen);
}

static void *writer(void *arg)
{
	struct race *r = arg;
	unsigned long first, pg, seed = 1;
	unsigned int gen;

	while (!atomic_load(&r->stop)) {
		seed = seed * 1103515245 + 12345;
		first = (seed >> 8) % (r->npages / r->chunk) * r->chunk;
		gen = atomic_load(&r->gen) + 1;
		/* Publish the generation before any page carries it. */
		atomic_store(&r->gen, gen);
		ub_punch(r->memfd, first * PS, r->chunk * PS);
		for (pg = first; pg < first + r->chunk; pg++)
			write_page(r, pg, gen);
		atomic_fetch_add(&r->rounds, 1);
	}
	return NULL;
}

/* Punches without writing, to race with the writer's faults. */
static void *puncher(void *arg)
{
	struct race *r = arg;
	unsigned long first, seed = 7;

	while (!atomic_load(&r->stop)) {
		seed = seed * 1103515245 + 12345;
		first = (seed >> 8) % (r->npages / r->chunk) * r->chunk;
		ub_punch(r->memfd, first * PS, r->chunk * PS);
		atomic_fetch_add(&r->punches, 1);
	}
	return NULL;
}

static void *map_reader(void *arg)
{
	struct race *r = arg;
	unsigned long pg;

	while (!atomic_load(&r->stop)) {
		for (pg = 0; pg < r->npages; pg++)
			check_words(r, r->map, pg, "mmap");
		atomic_fetch_add(&r->reads, 1);
	}
	return NULL;
}

static void *vmap_reader(void *arg)
{
	struct race *r = arg;
	size_t size = r->npages * PS;
	unsigned long pg;
	uint64_t *copy;

	copy = malloc(size);
	if (!copy)
		return NULL;
	while (!atomic_load(&r->stop)) {
		if (ub_sync(r->dbuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ) ||
		    ub_sync(r->dbuf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ))
			atomic_fetch_add(&r->bad, 1);
		if (ub_vmap_read(r->dbuf, 0, copy, size)) {
			atomic_fetch_add(&r->bad, 1);
			continue;
		}
		for (pg = 0; pg < r->npages; pg++)
			check_words(r, copy, pg, "vmap");
		atomic_fetch_add(&r->vmaps, 1);
	}
	free(copy);
	return NULL;
}

/*
 * The first page of @buf (read through @what) whose first or last word is
 * not the memfd's, or -1.
 */
static long first_mismatch(struct race *r, const volatile uint64_t *buf,
			   const char *what)
{
	unsigned long pg, w0, w1;

	for (pg = 0; pg < r->npages; pg++) {
		w0 = pg * (PS / 8);
		w1 = w0 + PS / 8 - 1;
		if (buf[w0] != r->mem[w0] || buf[w1] != r->mem[w1]) {
			ksft_print_msg("%s page %lu: %#llx, memfd %#llx\n",
				       what, pg, (unsigned long long)buf[w0],
				       (unsigned long long)r->mem[w0]);
			return pg;
		}
	}
	return -1;
}

FIXTURE(race) {
	int dev;
};

FIXTURE_VARIANT(race) {
	enum ub_kind kind;
	unsigned long npages;
	unsigned long chunk;
	const char *meminfo;	/* what must come back after teardown */
	long slack_kb;
};

FIXTURE_VARIANT_ADD(race, shmem) {
	.kind = UB_SHMEM,
	.npages = 256,
	.chunk = 4,
	.meminfo = "Shmem",
	.slack_kb = 2048,
};

FIXTURE_VARIANT_ADD(race, hugetlb) {
	.kind = UB_HUGETLB,
	.npages = 4 * (HPS / PS),
	.chunk = HPS / PS,
	.meminfo = "HugePages_Free",
	.slack_kb = 0,
};

FIXTURE_SETUP(race)
{
	self->dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_LE(0, self->dev);
}

FIXTURE_TEARDOWN(race)
{
	close(self->dev);
}

TEST_F_TIMEOUT(race, punch_vs_read, 120)
{
	pthread_t w, p, m, v;
	struct race r = {
		.kind = variant->kind,
		.npages = variant->npages,
		.chunk = variant->chunk,
	};
	size_t size = r.npages * PS;
	long before, after;
	unsigned long pg;
	uint64_t *copy;
	double end;

	before = ub_meminfo(variant->meminfo);
	r.memfd = ub_memfd(r.kind, size);
	ASSERT_LE(0, r.memfd);
	r.mem = ub_map_memfd(r.kind, r.memfd, size);
	ASSERT_NE(NULL, r.mem);
	atomic_store(&r.gen, 1);
	for (pg = 0; pg < r.npages; pg++)
		write_page(&r, pg, 1);
	r.dbuf = ub_create(self->dev, r.memfd, 0, size);
	ASSERT_LE(0, r.dbuf);
	r.map = mmap(NULL, size, PROT_READ, MAP_SHARED, r.dbuf, 0);
	ASSERT_NE(MAP_FAILED, r.map);
	ASSERT_EQ(0, pthread_create(&w, NULL, writer, &r));
	ASSERT_EQ(0, pthread_create(&p, NULL, puncher, &r));
	ASSERT_EQ(0, pthread_create(&m, NULL, map_reader, &r));
	ASSERT_EQ(0, pthread_create(&v, NULL, vmap_reader, &r));
	end = now() + RACE_SECONDS;
	while (now() < end && !atomic_load(&r.bad))
		usleep(10000);
	atomic_store(&r.stop, true);
	pthread_join(w, NULL);
	pthread_join(p, NULL);
	pthread_join(m, NULL);
	pthread_join(v, NULL);
	ksft_print_msg("%lu rewrites, %lu punches, %lu mmap passes, %lu vmap passes\n",
		       atomic_load(&r.rounds), atomic_load(&r.punches),
		       atomic_load(&r.reads), atomic_load(&r.vmaps));
	if (atomic_load(&r.bad))
		ksft_print_msg("%s page %lu: bad word %#llx (%#llx 1 ms later)\n",
			       r.bad_src ? r.bad_src : "a failed ioctl:",
			       r.bad_page, (unsigned long long)r.bad_word,
			       (unsigned long long)r.bad_again);
	EXPECT_EQ(0, atomic_load(&r.bad));
	EXPECT_LT(0, atomic_load(&r.rounds));
	EXPECT_LT(0, atomic_load(&r.reads));

	/* Quiet now: every path must show exactly the memfd's contents. */
	ASSERT_EQ(0, ub_sync(r.dbuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
	EXPECT_EQ(-1, first_mismatch(&r, r.map, "mmap"));
	ASSERT_EQ(0, ub_sync(r.dbuf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ));
	copy = malloc(size);
	ASSERT_NE(NULL, copy);
	/* So does a new vmap. */
	ASSERT_EQ(0, ub_vmap_read(r.dbuf, 0, copy, size));
	EXPECT_EQ(-1, first_mismatch(&r, copy, "vmap"));
	free(copy);

	munmap((void *)r.map, size);
	munmap(r.mem, size);
	close(r.dbuf);
	close(r.memfd);
	after = ub_meminfo(variant->meminfo);
	ksft_print_msg("%s: %ld before, %ld after\n", variant->meminfo,
		       before, after);
	EXPECT_GE(variant->slack_kb, labs(after - before));
}

TEST_HARNESS_MAIN
