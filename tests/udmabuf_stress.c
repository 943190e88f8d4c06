// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf_stress: bounded stress of a udmabuf follower (20 s by default,
 * UDMABUF_STRESS_SECONDS overrides it).  Correctness is checked all along;
 * progress is counted in iterations, never timed, so that a slow (KASAN,
 * lockdep) kernel passes as long as every thread got somewhere.
 *
 * One shmem memfd, mapped by this process (the creator).  The "checked
 * group": 256 one-page udmabufs, buffer i over memfd page i * SLOT +
 * CHECK_AT, each mapped PROT_READ; the other pages of each slot are
 * outside every buffer.  The "churn group": a separate range of the memfd
 * for short-lived buffers.  Threads:
 *
 *  - two fault threads: write-fault (after a read fault, sometimes) runs of
 *    pages outside the buffers and drop them with MADV_DONTNEED, and
 *    rewrite a checked page through the creator's mapping with the next
 *    generation;
 *  - a puncher: punches a checked page (sometimes with its neighbours),
 *    sometimes waits so that readers see the hole, and refills it with the
 *    next generation through the creator's mapping or with pwrite(2);
 *  - a churn thread: creates udmabufs over the churn range, maps, reads,
 *    vmaps (through /dev/udmabuf_vmap, if present) and imports them into
 *    vgem (if present), punching and rewriting churn pages meanwhile, and
 *    closes everything again.  A vgem import pins its buffer, which freezes
 *    it: never done on checked buffers;
 *  - a reader: reads every word of every checked buffer mapping.
 *
 * Every checked page has a state word (below): a writer owns the page while
 * it punches or rewrites it and then publishes "generation g completed".
 * Every word the reader sees must be a tag of that page ("foreign"
 * otherwise: always an error), of a generation no older than the one
 * completed before the read started ("stale" otherwise), or zero when a
 * punch of the page overlapped the read (a hole not rewritten yet).  When
 * the threads stopped, every checked buffer must equal the memfd.
 */
#include "udmabuf_lib.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <xf86drm.h>

#include "udmabuf_vgem.h"
#include "kselftest_harness.h"

#define NCHECK		256	/* checked buffers, one page each */
#define SLOT		8	/* memfd pages per checked buffer */
#define CHECK_AT	3	/* the buffer's page in its slot */
#define CHURN_FIRST	(NCHECK * SLOT)
#define CHURN_PAGES	64
#define MEMFD_PAGES	(CHURN_FIRST + CHURN_PAGES)
#define WORDS		(PS / 8)
#define GEN_MAX		0xfffff0U	/* ub_tag() has 24 bits of generation */
#define FAULTERS	2

/*
 * State word of a checked page: the last completed generation in bits
 * 32-63, a count of punches in bits 4-31, who wrote that generation in
 * bits 2-3 (enum writer), ST_PUNCHING while a punch and its refill are
 * under way, ST_BUSY while a writer owns the page.
 */
#define ST_BUSY		1ULL
#define ST_PUNCHING	2ULL
#define ST_SEQ_ONE	16ULL
#define ST_SEQ_MASK	0xfffffff0ULL
#define ST_GEN(st)	((unsigned int)((st) >> 32))
#define ST_WRITER(st)	((unsigned int)((st) >> 2) & 3)
#define ST_MAKE(gen, w, st)	\
	((uint64_t)(gen) << 32 | ((st) & ST_SEQ_MASK) | (uint64_t)(w) << 2)

/* Who wrote a generation, for the report of a bad word. */
enum writer {
	W_INIT,
	W_REWRITE,
	W_REFILL_MAP,
	W_REFILL_PWRITE,
};

static const char * const writer_name[] = {
	[W_INIT] = "initial fill",
	[W_REWRITE] = "rewrite through the creator's mapping",
	[W_REFILL_MAP] = "punch + refill through the creator's mapping",
	[W_REFILL_PWRITE] = "punch + refill with pwrite",
};

struct stress {
	int dev;
	int memfd;
	int card;			/* vgem, -1 if none */
	bool vmap;			/* /dev/udmabuf_vmap present */
	uint64_t *mem;			/* the creator's memfd mapping */
	int dbuf[NCHECK];
	const volatile uint64_t *map[NCHECK];
	_Atomic uint64_t state[NCHECK];
	double deadline;
	atomic_bool stop;

	atomic_ulong faults[FAULTERS], rewrites, punches, pwrites;
	atomic_ulong churns, churn_vmaps, churn_imports;
	atomic_ulong passes, holes;
	atomic_ulong stale, foreign, bad_reads, errors;

	pthread_mutex_t lock;		/* the first report of each kind */
	char bad_msg[512];
	char err_msg[256];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool running(struct stress *s)
{
	return !atomic_load(&s->stop) && now() < s->deadline;
}

static unsigned long rnd(unsigned long *seed)
{
	unsigned long x = *seed;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*seed = x;
	return x;
}

/* Memfd page of checked buffer @i. */
static unsigned long check_idx(unsigned int i)
{
	return i * SLOT + CHECK_AT;
}

static unsigned int stress_seconds(void)
{
	const char *env = getenv("UDMABUF_STRESS_SECONDS");
	long secs = env ? strtol(env, NULL, 10) : 20;

	return secs < 1 ? 1 : secs > 3600 ? 3600 : secs;
}

/* The harness's limit: the run, plus set-up and teardown on a slow kernel. */
static int stress_timeout(void)
{
	return 2 * stress_seconds() + 300;
}

static void note_error(struct stress *s, const char *what)
{
	int err = errno;

	if (atomic_fetch_add(&s->errors, 1))
		return;
	pthread_mutex_lock(&s->lock);
	snprintf(s->err_msg, sizeof(s->err_msg), "%s: %s", what,
		 strerror(err));
	pthread_mutex_unlock(&s->lock);
}

/* Take checked page @i for writing; its state before in *@st. */
static bool page_get(struct stress *s, unsigned int i, uint64_t *st)
{
	uint64_t old = atomic_load(&s->state[i]);

	if ((old & ST_BUSY) || ST_GEN(old) >= GEN_MAX)
		return false;
	if (!atomic_compare_exchange_strong(&s->state[i], &old,
					    old | ST_BUSY))
		return false;
	*st = old;
	return true;
}

/* Everything written: publish generation @gen completed. */
static void page_put(struct stress *s, unsigned int i, uint64_t st,
		     unsigned int gen, enum writer w)
{
	atomic_store(&s->state[i], ST_MAKE(gen, w, st));
}

static void rewrite(struct stress *s, unsigned int i)
{
	uint64_t st;

	if (!page_get(s, i, &st))
		return;
	ub_fill(s->mem, check_idx(i), 1, ST_GEN(st) + 1);
	page_put(s, i, st, ST_GEN(st) + 1, W_REWRITE);
	atomic_fetch_add(&s->rewrites, 1);
}

struct fault_arg {
	struct stress *s;
	int id;
};

static void *fault_thread(void *arg)
{
	struct fault_arg *fa = arg;
	struct stress *s = fa->s;
	unsigned long seed = 0x9e3779b97f4a7c15UL * (fa->id + 1);
	unsigned long slot, first, nr, pg, r;
	volatile uint64_t *m;

	do {
		r = rnd(&seed);
		slot = r % NCHECK;
		/* A run of outside pages, after or before the buffer's. */
		if (r & (1UL << 32)) {
			first = slot * SLOT + CHECK_AT + 1;
			nr = SLOT - CHECK_AT - 1;
		} else {
			first = slot * SLOT;
			nr = CHECK_AT;
		}
		for (pg = first; pg < first + nr; pg++) {
			m = (volatile uint64_t *)s->mem + pg * WORDS;
			/* A read fault maps around, buffer pages included. */
			if (r & (1UL << 33))
				(void)m[0];
			m[1] = ub_tag(pg, 1);
		}
		if (madvise(s->mem + first * WORDS, nr * PS, MADV_DONTNEED))
			note_error(s, "MADV_DONTNEED");
		rewrite(s, (r >> 40) % NCHECK);
		atomic_fetch_add(&s->faults[fa->id], 1);
	} while (running(s));
	return NULL;
}

static void *punch_thread(void *arg)
{
	struct stress *s = arg;
	unsigned long seed = 0x2545f4914f6cdd1dUL, r, idx, w;
	uint64_t st, page[WORDS];
	unsigned int i, gen;
	enum writer how;
	int ret;

	do {
		r = rnd(&seed);
		i = r % NCHECK;
		if (!page_get(s, i, &st))
			continue;
		idx = check_idx(i);
		gen = ST_GEN(st) + 1;
		/* Readers may see a hole from now until page_put(). */
		st = (st & ~ST_SEQ_MASK) | ((st + ST_SEQ_ONE) & ST_SEQ_MASK);
		atomic_store(&s->state[i], st | ST_BUSY | ST_PUNCHING);
		/* Sometimes with the outside neighbours. */
		if (!(r & (3UL << 32)))
			ret = ub_punch(s->memfd, (idx - 1) * PS, 3 * PS);
		else
			ret = ub_punch(s->memfd, idx * PS, PS);
		if (ret)
			note_error(s, "punch");
		if (!(r & (3UL << 34)))
			usleep(200);
		if (!(r & (3UL << 36))) {
			for (w = 0; w < WORDS; w++)
				page[w] = ub_tag(idx, gen);
			if (pwrite(s->memfd, page, PS, idx * PS) != PS)
				note_error(s, "pwrite");
			how = W_REFILL_PWRITE;
			atomic_fetch_add(&s->pwrites, 1);
		} else {
			ub_fill(s->mem, idx, 1, gen);
			how = W_REFILL_MAP;
		}
		page_put(s, i, st, gen, how);
		atomic_fetch_add(&s->punches, 1);
	} while (running(s));
	return NULL;
}

/*
 * pwrite(2) copies a refill into the hole a byte at a time, lowest address
 * first: a read racing with it may see the first bytes of a tag (the low
 * ones, on little-endian) and zeros above them.  Is @v such a prefix of a
 * tag of this page, of a generation up to @max_gen?
 */
static bool torn_tag(uint64_t v, uint64_t want_hi, unsigned int max_gen)
{
	uint64_t mask;
	int k;

	if (!(v & 0xffffff) || (v & 0xffffff) > max_gen)
		return false;
	for (k = 3; k < 8; k++) {
		mask = (1ULL << (8 * k)) - 1;
		if (!(v & ~mask))
			return ((want_hi << 24) & mask & ~0xffffffULL) ==
			       (v & ~0xffffffULL);
	}
	return false;
}

/*
 * Check one read of checked page @i: @copy was read between the state
 * loads @s0 and @s1.  Counts words; the first bad one is described in
 * s->bad_msg, with what the mapping shows a millisecond later.
 */
static void check_copy(struct stress *s, unsigned int i, const uint64_t *copy,
		       uint64_t s0, uint64_t s1)
{
	bool hole_ok = (s0 & ST_PUNCHING) || ((s0 ^ s1) & ST_SEQ_MASK);
	unsigned long idx = check_idx(i), w;
	uint64_t v, want_hi = TAG_MAGIC << 24 | idx;
	unsigned long stale = 0, foreign = 0, holes = 0, bad = WORDS;

	for (w = 0; w < WORDS; w++) {
		v = copy[w];
		if (!v) {
			if (hole_ok) {
				holes++;
				continue;
			}
			stale++;
		} else if (v >> 24 != want_hi || !(v & 0xffffff) ||
			   (v & 0xffffff) > ST_GEN(s1) + 1) {
			if (hole_ok && torn_tag(v, want_hi, ST_GEN(s1) + 1)) {
				holes++;
				continue;
			}
			foreign++;
		} else if ((v & 0xffffff) < ST_GEN(s0)) {
			stale++;
		} else {
			continue;
		}
		if (bad == WORDS)
			bad = w;
	}
	if (holes)
		atomic_fetch_add(&s->holes, 1);
	if (bad == WORDS)
		return;
	atomic_fetch_add(&s->stale, stale);
	atomic_fetch_add(&s->foreign, foreign);
	atomic_fetch_add(&s->bad_reads, 1);
	pthread_mutex_lock(&s->lock);
	if (!s->bad_msg[0]) {
		usleep(1000);
		snprintf(s->bad_msg, sizeof(s->bad_msg),
			 "buffer %u (memfd page %lu) word %lu: %#llx (%#llx 1 ms later); generation %u completed before the read (%s), %u after, %s; %lu stale, %lu foreign words in this read",
			 i, idx, bad, (unsigned long long)copy[bad],
			 (unsigned long long)s->map[i][bad], ST_GEN(s0),
			 writer_name[ST_WRITER(s0)], ST_GEN(s1),
			 hole_ok ? "punched meanwhile" : "no punch meanwhile",
			 stale, foreign);
	}
	pthread_mutex_unlock(&s->lock);
}

static void *read_thread(void *arg)
{
	struct stress *s = arg;
	uint64_t copy[WORDS], s0, s1;
	unsigned long w;
	unsigned int i;

	do {
		for (i = 0; i < NCHECK; i++) {
			s0 = atomic_load(&s->state[i]);
			for (w = 0; w < WORDS; w++)
				copy[w] = s->map[i][w];
			s1 = atomic_load(&s->state[i]);
			check_copy(s, i, copy, s0, s1);
		}
		atomic_fetch_add(&s->passes, 1);
	} while (running(s));
	return NULL;
}

/* Churn buffers may show any tag of the right page, or a hole. */
static void churn_check(struct stress *s, const volatile uint64_t *buf,
			unsigned long first, unsigned long nr, const char *what)
{
	unsigned long pg, w;
	uint64_t v;

	for (pg = 0; pg < nr; pg++) {
		for (w = 0; w < WORDS; w++) {
			v = buf[pg * WORDS + w];
			if (!v || v >> 24 == (TAG_MAGIC << 24 | (first + pg)))
				continue;
			atomic_fetch_add(&s->foreign, 1);
			pthread_mutex_lock(&s->lock);
			if (!s->bad_msg[0])
				snprintf(s->bad_msg, sizeof(s->bad_msg),
					 "churn buffer (%s) memfd page %lu word %lu: %#llx",
					 what, first + pg, w,
					 (unsigned long long)v);
			pthread_mutex_unlock(&s->lock);
		}
	}
}

/* Punch churn page @idx and write generation @gen to it, one way or other. */
static void churn_rewrite(struct stress *s, unsigned long idx,
			  unsigned int gen, bool use_pwrite)
{
	uint64_t page[WORDS];
	unsigned long w;

	if (ub_punch(s->memfd, idx * PS, PS))
		note_error(s, "churn punch");
	if (!use_pwrite) {
		ub_fill(s->mem, idx, 1, gen);
		return;
	}
	for (w = 0; w < WORDS; w++)
		page[w] = ub_tag(idx, gen);
	if (pwrite(s->memfd, page, PS, idx * PS) != PS)
		note_error(s, "churn pwrite");
}

static void *churn_thread(void *arg)
{
	struct stress *s = arg;
	unsigned long seed = 0xda942042e4dd58b5UL, r, first, nr;
	uint64_t copy[4 * WORDS];
	unsigned int gen = 1;
	const volatile uint64_t *map;
	uint32_t handle;
	int dbuf, vfd;

	do {
		r = rnd(&seed);
		nr = 1 + r % 4;
		first = CHURN_FIRST + (r >> 8) % (CHURN_PAGES - nr + 1);
		gen = gen < GEN_MAX ? gen + 1 : 2;
		dbuf = ub_create(s->dev, s->memfd, first * PS, nr * PS);
		if (dbuf < 0) {
			note_error(s, "churn UDMABUF_CREATE");
			continue;
		}
		map = mmap(NULL, nr * PS, PROT_READ, MAP_SHARED, dbuf, 0);
		if (map == MAP_FAILED) {
			note_error(s, "churn mmap");
			close(dbuf);
			continue;
		}
		churn_check(s, map, first, nr, "mmap");

		/* An attachment: frozen while imported. */
		if (s->card >= 0 && (r & (1UL << 40))) {
			if (drmPrimeFDToHandle(s->card, dbuf, &handle)) {
				note_error(s, "churn vgem import");
			} else {
				churn_rewrite(s, first + (r >> 44) % nr, gen,
					      r & (1UL << 50));
				churn_check(s, map, first, nr,
					    "mmap, imported");
				drmCloseBufferHandle(s->card, handle);
				atomic_fetch_add(&s->churn_imports, 1);
			}
		}

		/* A fresh vmap, and one held across a rewrite. */
		if (s->vmap && (r & (1UL << 41))) {
			if (ub_vmap_read(dbuf, 0, copy, nr * PS))
				note_error(s, "churn vmap read");
			else
				churn_check(s, copy, first, nr, "vmap");
			vfd = ub_vmap_hold(dbuf);
			if (vfd < 0) {
				note_error(s, "churn vmap hold");
			} else {
				churn_rewrite(s, first + (r >> 52) % nr, gen,
					      r & (1UL << 58));
				if (ub_vmap_read_held(vfd, 0, copy, nr * PS))
					note_error(s, "churn held vmap read");
				else
					churn_check(s, copy, first, nr,
						    "held vmap");
				close(vfd);
			}
			atomic_fetch_add(&s->churn_vmaps, 1);
		}

		churn_rewrite(s, first + (r >> 60) % nr, gen, r & (1UL << 42));
		churn_check(s, map, first, nr, "mmap, after a rewrite");
		munmap((void *)map, nr * PS);
		close(dbuf);
		atomic_fetch_add(&s->churns, 1);
	} while (running(s));
	return NULL;
}

static int count_fds(void)
{
	struct dirent *d;
	int n = 0;
	DIR *dir;

	dir = opendir("/proc/self/fd");
	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static void print_stats(const char *when)
{
	char line[128];
	FILE *f;

	f = fopen("/sys/kernel/debug/udmabuf/stats", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		ksft_print_msg("udmabuf stats %s: %s", when, line);
	fclose(f);
}

/* After the threads: every checked buffer equals the memfd. */
static unsigned long final_check(struct stress *s)
{
	unsigned long bad = 0, w, idx;
	unsigned int i, gen;
	uint64_t v, st;

	for (i = 0; i < NCHECK; i++) {
		idx = check_idx(i);
		st = atomic_load(&s->state[i]);
		gen = ST_GEN(st);
		for (w = 0; w < WORDS; w++) {
			v = s->map[i][w];
			if (v == ub_tag(idx, gen))
				continue;
			if (!bad++)
				ksft_print_msg("quiet: buffer %u (memfd page %lu) word %lu: %#llx, want %#llx (last writer: %s)\n",
					       i, idx, w,
					       (unsigned long long)v,
					       (unsigned long long)ub_tag(idx, gen),
					       writer_name[ST_WRITER(st)]);
		}
	}
	return bad;
}

/* A fixture only for TEST_F_TIMEOUT(): the limit depends on the run. */
FIXTURE(stress) {
	int unused;
};

FIXTURE_SETUP(stress)
{
}

FIXTURE_TEARDOWN(stress)
{
}

TEST_F_TIMEOUT(stress, checked_and_churn, stress_timeout())
{
	pthread_t faulters[FAULTERS], puncher, churner, reader;
	struct fault_arg fa[FAULTERS];
	unsigned long final_bad, idx;
	int fds_before, fds_after;
	struct stress *s;
	unsigned int i;

	fds_before = count_fds();
	ASSERT_LT(0, fds_before);
	s = calloc(1, sizeof(*s));
	ASSERT_NE(NULL, s);
	pthread_mutex_init(&s->lock, NULL);
	s->dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, s->dev);
	s->memfd = ub_memfd(UB_SHMEM, MEMFD_PAGES * PS);
	ASSERT_LE(0, s->memfd);
	s->mem = ub_map_memfd(UB_SHMEM, s->memfd, MEMFD_PAGES * PS);
	ASSERT_NE(NULL, s->mem);
	ub_fill(s->mem, 0, MEMFD_PAGES, 1);
	for (i = 0; i < NCHECK; i++) {
		idx = check_idx(i);
		atomic_init(&s->state[i], ST_MAKE(1, W_INIT, 0));
		s->dbuf[i] = ub_create(s->dev, s->memfd, idx * PS, PS);
		ASSERT_LE(0, s->dbuf[i]);
		s->map[i] = mmap(NULL, PS, PROT_READ, MAP_SHARED, s->dbuf[i],
				 0);
		ASSERT_NE(MAP_FAILED, s->map[i]);
		ASSERT_EQ(-1, ub_check(s->map[i], idx, 0, 1, 1));
	}
	s->card = ub_open_vgem();
	if (s->card < 0)
		ksft_print_msg("no vgem device: churn without attachments\n");
	s->vmap = !access("/dev/udmabuf_vmap", R_OK | W_OK);
	if (!s->vmap)
		ksft_print_msg("no /dev/udmabuf_vmap: churn without kernel vmaps\n");
	print_stats("before");

	ksft_print_msg("%u s, %d checked buffers, %d churn pages\n",
		       stress_seconds(), NCHECK, CHURN_PAGES);
	s->deadline = now() + stress_seconds();
	for (i = 0; i < FAULTERS; i++) {
		fa[i].s = s;
		fa[i].id = i;
		ASSERT_EQ(0, pthread_create(&faulters[i], NULL, fault_thread,
					    &fa[i]));
	}
	ASSERT_EQ(0, pthread_create(&puncher, NULL, punch_thread, s));
	ASSERT_EQ(0, pthread_create(&churner, NULL, churn_thread, s));
	ASSERT_EQ(0, pthread_create(&reader, NULL, read_thread, s));
	for (i = 0; i < FAULTERS; i++)
		pthread_join(faulters[i], NULL);
	pthread_join(puncher, NULL);
	pthread_join(churner, NULL);
	pthread_join(reader, NULL);

	ksft_print_msg("fault iterations %lu + %lu, rewrites %lu, punches %lu (%lu refilled with pwrite)\n",
		       atomic_load(&s->faults[0]), atomic_load(&s->faults[1]),
		       atomic_load(&s->rewrites), atomic_load(&s->punches),
		       atomic_load(&s->pwrites));
	ksft_print_msg("churn iterations %lu (%lu with vmaps, %lu with vgem imports)\n",
		       atomic_load(&s->churns), atomic_load(&s->churn_vmaps),
		       atomic_load(&s->churn_imports));
	ksft_print_msg("reader passes %lu (%lu page reads saw a hole); %lu stale, %lu foreign words in %lu bad page reads\n",
		       atomic_load(&s->passes), atomic_load(&s->holes),
		       atomic_load(&s->stale), atomic_load(&s->foreign),
		       atomic_load(&s->bad_reads));
	if (s->bad_msg[0])
		ksft_print_msg("first bad word: %s\n", s->bad_msg);
	if (s->err_msg[0])
		ksft_print_msg("first error: %s\n", s->err_msg);
	final_bad = final_check(s);
	ksft_print_msg("quiet state: %lu words differ from the memfd\n",
		       final_bad);
	print_stats("after");

	EXPECT_EQ(0, atomic_load(&s->stale));
	EXPECT_EQ(0, atomic_load(&s->foreign));
	EXPECT_EQ(0, final_bad);
	EXPECT_EQ(0, atomic_load(&s->errors));
	for (i = 0; i < FAULTERS; i++)
		EXPECT_LT(0, atomic_load(&s->faults[i]));
	EXPECT_LT(0, atomic_load(&s->punches));
	EXPECT_LT(0, atomic_load(&s->churns));
	EXPECT_LT(0, atomic_load(&s->passes));

	for (i = 0; i < NCHECK; i++) {
		munmap((void *)s->map[i], PS);
		close(s->dbuf[i]);
	}
	munmap(s->mem, MEMFD_PAGES * PS);
	close(s->memfd);
	if (s->card >= 0)
		close(s->card);
	close(s->dev);
	pthread_mutex_destroy(&s->lock);
	free(s);
	fds_after = count_fds();
	ksft_print_msg("open fds: %d before, %d after\n", fds_before,
		       fds_after);
	EXPECT_EQ(fds_before, fds_after);
}

TEST_HARNESS_MAIN
