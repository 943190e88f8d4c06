// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf_readers: a raw CPU mmap reader of a udmabuf follows writers
 * without DMA_BUF_IOCTL_SYNC, the way QEMU maps a udmabuf PROT_READ and
 * reads guest memory straight from it.
 *
 * For shmem (4 KiB pages), shmem THP and hugetlb (2 MiB) memfds: the
 * creator maps the whole memfd and keeps it mapped (its mm is what the
 * driver's fault and invalidation hints come from), creates a udmabuf over
 * part of it, maps the udmabuf PROT_READ and faults every page of it in.
 * Then, in several rounds, one writer punches a range of the memfd and
 * writes a new generation tag to every word of the punched pages:
 *
 *  - creator_faults: the creator, through its own mapping (its faults);
 *  - other_process: a forked child, through its own mapping, punching too;
 *  - write_syscall: pwrite(2) on the memfd (hugetlbfs has no write(2):
 *    skipped for hugetlb).
 *
 * Only after the writer returned, every word of the buffer is read through
 * the mapping made at the start: punched pages must show the new
 * generation, the others the generation they had.  Pages that do not are
 * counted (old generation, zero, foreign) and reported per round.
 */
#include "udmabuf_lib.h"

#include <sys/wait.h>

#include "kselftest_harness.h"

#define ROUNDS_MAX	8

struct range {
	uint64_t off;		/* bytes */
	uint64_t len;
};

FIXTURE(readers) {
	int dev;
	int memfd;
	uint64_t *mem;			/* the creator's memfd mapping */
	int dbuf;
	const volatile uint64_t *map;	/* udmabuf mapping, faulted in once */
	unsigned long base;		/* memfd page of buffer page 0 */
	unsigned long npages;		/* buffer pages */
	unsigned int *gen;		/* expected generation per memfd page */
};

FIXTURE_VARIANT(readers) {
	enum ub_kind kind;
	size_t memfd_size;
	uint64_t buf_off;
	uint64_t buf_size;
	unsigned int nr_rounds;
	struct range rounds[ROUNDS_MAX];	/* punched per round */
};

FIXTURE_VARIANT_ADD(readers, shmem) {
	.kind = UB_SHMEM,
	.memfd_size = 64 * PS,
	.buf_off = 8 * PS,
	.buf_size = 48 * PS,
	.nr_rounds = 6,
	.rounds = {
		{ 16 * PS, 8 * PS },	/* inside */
		{ 8 * PS, PS },		/* first buffer page */
		{ 55 * PS, PS },	/* last buffer page */
		{ 4 * PS, 8 * PS },	/* across the start */
		{ 50 * PS, 10 * PS },	/* across the end */
		{ 16 * PS, 8 * PS },	/* the same range again */
	},
};

FIXTURE_VARIANT_ADD(readers, thp) {
	.kind = UB_THP,
	.memfd_size = 4 * HPS,
	.buf_off = HPS / 2,
	.buf_size = 3 * HPS,
	.nr_rounds = 5,
	.rounds = {
		{ HPS, HPS },		/* a whole huge page inside */
		{ 0, HPS },		/* across the start */
		{ 3 * HPS, HPS },	/* across the end */
		{ HPS + 16 * PS, 16 * PS },	/* part of a huge page */
		{ HPS, 2 * HPS },
	},
};

FIXTURE_VARIANT_ADD(readers, hugetlb) {
	.kind = UB_HUGETLB,
	.memfd_size = 4 * HPS,
	.buf_off = 3 * PS,
	.buf_size = 3 * HPS,
	.nr_rounds = 5,
	.rounds = {
		{ HPS, HPS },
		{ 0, HPS },		/* across the start */
		{ 3 * HPS, HPS },	/* across the end */
		{ 2 * HPS, 2 * HPS },
		{ HPS, HPS },
	},
};

/* What the pages of one read of the buffer showed. */
struct tally {
	unsigned long stale;	/* pages with an older generation */
	unsigned long zero;	/* pages with a zero word (a hole) */
	unsigned long foreign;	/* pages with a word of another page */
	long first;		/* first bad buffer page, -1 if none */
	unsigned long word;	/* its first bad word */
	uint64_t got, want;
};

/*
 * Read every word of the buffer through @map and compare it with the tags
 * of generation gen[memfd page].
 */
static void read_buffer(const volatile uint64_t *map, unsigned long base,
			unsigned long npages, const unsigned int *gen,
			struct tally *t)
{
	unsigned long pg, w;

	memset(t, 0, sizeof(*t));
	t->first = -1;
	for (pg = 0; pg < npages; pg++) {
		uint64_t want = ub_tag(base + pg, gen[base + pg]);
		bool zero = false, foreign = false, stale = false;
		long bad = -1;

		for (w = 0; w < PS / 8; w++) {
			uint64_t got = map[pg * (PS / 8) + w];

			if (got == want)
				continue;
			if (bad < 0)
				bad = w;
			if (!got)
				zero = true;
			else if (got >> 24 != want >> 24 ||
				 (got & 0xffffff) > (want & 0xffffff))
				foreign = true;
			else
				stale = true;
		}
		if (bad < 0)
			continue;
		if (foreign)
			t->foreign++;
		else if (zero)
			t->zero++;
		else if (stale)
			t->stale++;
		if (t->first < 0) {
			t->first = pg;
			t->word = bad;
			t->got = map[pg * (PS / 8) + bad];
			t->want = want;
		}
	}
}

static unsigned long tally_bad(const struct tally *t)
{
	return t->stale + t->zero + t->foreign;
}

FIXTURE_SETUP(readers)
{
	unsigned long mpages = variant->memfd_size / PS, pg;
	struct tally t;

	self->dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_LE(0, self->dev);
	self->memfd = ub_memfd(variant->kind, variant->memfd_size);
	ASSERT_LE(0, self->memfd);
	self->mem = ub_map_memfd(variant->kind, self->memfd,
				 variant->memfd_size);
	ASSERT_NE(NULL, self->mem);
	self->gen = calloc(mpages, sizeof(*self->gen));
	ASSERT_NE(NULL, self->gen);
	ub_fill(self->mem, 0, mpages, 1);
	for (pg = 0; pg < mpages; pg++)
		self->gen[pg] = 1;
	if (variant->kind == UB_THP && !ub_thp_mapped())
		ksft_print_msg("no PMD-mapped shmem THP, testing 4K pages\n");

	self->base = variant->buf_off / PS;
	self->npages = variant->buf_size / PS;
	self->dbuf = ub_create(self->dev, self->memfd, variant->buf_off,
			       variant->buf_size);
	ASSERT_LE(0, self->dbuf);
	self->map = mmap(NULL, variant->buf_size, PROT_READ, MAP_SHARED,
			 self->dbuf, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	/* Every page read once: the mapping holds the original pfns. */
	read_buffer(self->map, self->base, self->npages, self->gen, &t);
	ASSERT_EQ(0, tally_bad(&t));
}

FIXTURE_TEARDOWN(readers)
{
	munmap((void *)self->map, variant->buf_size);
	close(self->dbuf);
	munmap(self->mem, variant->memfd_size);
	close(self->memfd);
	close(self->dev);
	free(self->gen);
}

/* A writer: punch @r and write generation @gen to every word of it. */
typedef int (*writer_fn)(void *ctx, const struct range *r, unsigned int gen);

struct rounds_ctx {
	const char *writer;
	writer_fn write;
	void *ctx;
};

/*
 * Run the variant's rounds with one writer; after each, read the old
 * mapping.  Returns the number of bad pages over all rounds, or -1 when a
 * writer failed.
 */
static long run_rounds(FIXTURE_DATA(readers) *self,
		       const FIXTURE_VARIANT(readers) *variant,
		       const struct rounds_ctx *rc)
{
	unsigned long total = 0, pg;
	unsigned int round;
	struct tally t;

	for (round = 0; round < variant->nr_rounds; round++) {
		const struct range *r = &variant->rounds[round];
		unsigned long first = r->off / PS, nr = r->len / PS;
		unsigned int gen = round + 2;

		if (rc->write(rc->ctx, r, gen)) {
			ksft_print_msg("%s: round %u: the writer failed\n",
				       rc->writer, round);
			return -1;
		}
		/* The writer returned: from now on the memfd holds @gen. */
		for (pg = first; pg < first + nr; pg++)
			self->gen[pg] = gen;
		read_buffer(self->map, self->base, self->npages, self->gen,
			    &t);
		total += tally_bad(&t);
		if (!tally_bad(&t))
			continue;
		ksft_print_msg("%s: round %u (memfd pages %lu-%lu punched, generation %u): %lu bad buffer pages: %lu stale, %lu zero, %lu foreign\n",
			       rc->writer, round, first, first + nr - 1, gen,
			       tally_bad(&t), t.stale, t.zero, t.foreign);
		ksft_print_msg("%s: first: buffer page %ld (memfd page %lu) word %lu: %#llx, want %#llx\n",
			       rc->writer, t.first, self->base + t.first,
			       t.word, (unsigned long long)t.got,
			       (unsigned long long)t.want);
	}
	return total;
}

struct creator_ctx {
	int memfd;
	uint64_t *mem;
};

static int creator_write(void *ctx, const struct range *r, unsigned int gen)
{
	struct creator_ctx *c = ctx;

	if (ub_punch(c->memfd, r->off, r->len))
		return -1;
	ub_fill(c->mem, r->off / PS, r->len / PS, gen);
	return 0;
}

TEST_F(readers, creator_faults)
{
	struct creator_ctx c = { .memfd = self->memfd, .mem = self->mem };
	struct rounds_ctx rc = {
		.writer = "creator",
		.write = creator_write,
		.ctx = &c,
	};
	long bad;

	bad = run_rounds(self, variant, &rc);
	if (variant->kind == UB_THP && !ub_thp_mapped())
		ksft_print_msg("no PMD-mapped shmem THP after the rounds\n");
	ASSERT_LE(0, bad);
	EXPECT_EQ(0, bad);
}

/* The other process: a child with its own mapping of the memfd. */
struct child_cmd {
	uint64_t off;
	uint64_t len;		/* 0: exit */
	uint32_t gen;
};

struct child_ctx {
	pid_t pid;
	int cmd;		/* write end of the command pipe */
	int reply;		/* read end of the reply pipe */
};

static void __attribute__((noreturn))
child_loop(enum ub_kind kind, int memfd, size_t size, int cmd, int reply)
{
	struct child_cmd c;
	uint64_t *mem;
	char st;

	mem = ub_map_memfd(kind, memfd, size);
	if (!mem)
		_exit(1);
	while (read(cmd, &c, sizeof(c)) == sizeof(c) && c.len) {
		st = 0;
		if (ub_punch(memfd, c.off, c.len))
			st = 1;
		else
			ub_fill(mem, c.off / PS, c.len / PS, c.gen);
		/* Everything written before the reply. */
		if (write(reply, &st, 1) != 1)
			_exit(1);
	}
	_exit(0);
}

static int child_write(void *ctx, const struct range *r, unsigned int gen)
{
	struct child_ctx *c = ctx;
	struct child_cmd cmd = { .off = r->off, .len = r->len, .gen = gen };
	char st;

	if (write(c->cmd, &cmd, sizeof(cmd)) != sizeof(cmd))
		return -1;
	if (read(c->reply, &st, 1) != 1)
		return -1;
	return st ? -1 : 0;
}

TEST_F(readers, other_process)
{
	struct child_ctx c;
	struct rounds_ctx rc = {
		.writer = "other process",
		.write = child_write,
		.ctx = &c,
	};
	struct child_cmd quit = { 0 };
	int cmd[2], reply[2], status;
	long bad;

	ASSERT_EQ(0, pipe(cmd));
	ASSERT_EQ(0, pipe(reply));
	c.pid = fork();
	ASSERT_LE(0, c.pid);
	if (!c.pid) {
		/* Only the memfd: no udmabuf, no mapping of the creator. */
		close(cmd[1]);
		close(reply[0]);
		munmap((void *)self->map, variant->buf_size);
		close(self->dbuf);
		munmap(self->mem, variant->memfd_size);
		close(self->dev);
		child_loop(variant->kind, self->memfd, variant->memfd_size,
			   cmd[0], reply[1]);
	}
	close(cmd[0]);
	close(reply[1]);
	c.cmd = cmd[1];
	c.reply = reply[0];

	bad = run_rounds(self, variant, &rc);

	if (write(c.cmd, &quit, sizeof(quit)) != sizeof(quit))
		kill(c.pid, SIGKILL);
	close(c.cmd);
	close(c.reply);
	ASSERT_EQ(c.pid, waitpid(c.pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	ASSERT_LE(0, bad);
	EXPECT_EQ(0, bad);
}

struct pwrite_ctx {
	int memfd;
	uint64_t *page;		/* one page of tags, rewritten per page */
};

static int pwrite_write(void *ctx, const struct range *r, unsigned int gen)
{
	struct pwrite_ctx *c = ctx;
	unsigned long pg, w;

	if (ub_punch(c->memfd, r->off, r->len))
		return -1;
	for (pg = r->off / PS; pg < (r->off + r->len) / PS; pg++) {
		for (w = 0; w < PS / 8; w++)
			c->page[w] = ub_tag(pg, gen);
		if (pwrite(c->memfd, c->page, PS, pg * PS) != PS)
			return -1;
	}
	return 0;
}

TEST_F(readers, write_syscall)
{
	struct pwrite_ctx c = { .memfd = self->memfd };
	struct rounds_ctx rc = {
		.writer = "write(2)",
		.write = pwrite_write,
		.ctx = &c,
	};
	long bad;

	if (variant->kind == UB_HUGETLB)
		SKIP(return, "hugetlbfs does not support write(2)");
	c.page = malloc(PS);
	ASSERT_NE(NULL, c.page);
	bad = run_rounds(self, variant, &rc);
	free(c.page);
	ASSERT_LE(0, bad);
	EXPECT_EQ(0, bad);
}

TEST_HARNESS_MAIN
