// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf_importer: what dma-buf importers of a udmabuf see when its memfd
 * pages are replaced, through the udmabuf_importer test module (an importer
 * whose "DMA" copies through the pages of its sg table).
 *
 * For shmem (4 KiB pages), shmem THP and hugetlb (2 MiB) memfds:
 *  - dynamic_eager: a dynamic importer gets move_notify (bounded wait) when
 *    the creator punches and rewrites through its own mapping, keeps the old
 *    pages until it maps again, then reads the new ones;
 *  - dynamic_lazy: the same when another process rewrites and a lazy access
 *    (DMA_BUF_IOCTL_SYNC, a fresh mmap) finds the new pages: move_notify has
 *    come by the time that access returned;
 *  - pinned_freezes: while a dynamic importer pins, every view of the buffer
 *    (the importer's mappings, CPU mmaps old and new, SYNC) shows the old
 *    pages; after the unpin the buffer catches up;
 *  - static_freezes: the same for a static importer until it detaches.
 * Besides: the module's errors, reads at odd offsets, the release of a
 * file that still holds attachments, and importers racing with the
 * creator's rewrites.
 *
 * Every wait is bounded (WAIT_MS); nothing asserts on time.
 */
#include "udmabuf_lib.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include "knob.h"
#include "udmabuf_importer_lib.h"
#include "kselftest_harness.h"

/* The bound of the waits that remain (a released importer's teardown). */
#define WAIT_MS		5000

#define DYNAMIC		UDMABUF_IMPORTER_ATTACH_DYNAMIC

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* move_notify calls @slot got so far, or UINT64_MAX. */
static uint64_t imp_moves(int imp, int slot)
{
	struct udmabuf_importer_info i;

	return imp_info(imp, slot, &i) ? UINT64_MAX : i.moves;
}

static uint32_t imp_flags(int imp, int slot)
{
	struct udmabuf_importer_info i;

	return imp_info(imp, slot, &i) ? 0 : i.flags;
}


/* Punch memfd pages [first, +nr) and write generation @gen to them. */
static void punch_rewrite(int memfd, uint64_t *mem, unsigned long first,
			  unsigned long nr, unsigned int gen)
{
	if (ub_punch(memfd, first * PS, nr * PS))
		perror("punch");
	ub_fill(mem, first, nr, gen);
}

/* A forked child punches memfd pages [first, +nr) and writes them. */
static int child_rewrite(enum ub_kind kind, int memfd, size_t memfd_size,
			 unsigned long first, unsigned long nr,
			 unsigned int gen)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		uint64_t *mem;

		if (ub_punch(memfd, first * PS, nr * PS))
			_exit(1);
		mem = ub_map_memfd(kind, memfd, memfd_size);
		if (!mem)
			_exit(1);
		ub_fill(mem, first, nr, gen);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || status)
		return -1;
	return 0;
}

/*
 * The buffer pages [0, npages) with memfd pages [pfirst, pfirst + pnr) at
 * generation @gen and the rest at generation 1.  Returns the bad page or -1.
 */
static long check_split(const volatile uint64_t *buf, unsigned long base,
			unsigned long npages, unsigned long pfirst,
			unsigned long pnr, unsigned int gen)
{
	unsigned long pg;

	for (pg = 0; pg < npages; pg++) {
		unsigned long idx = base + pg;
		bool punched = idx >= pfirst && idx < pfirst + pnr;

		if (ub_check(buf, base, pg, 1, punched ? gen : 1) >= 0)
			return pg;
	}
	return -1;
}

FIXTURE(importer) {
	int dev;		/* /dev/udmabuf */
	int imp;		/* /dev/udmabuf_importer */
	int memfd;
	uint64_t *mem;		/* the creator's memfd mapping */
	int dbuf;
	volatile uint64_t *map;	/* the udmabuf mapping made before punching */
	uint64_t *copy;		/* what READ returns */
	unsigned long base;	/* memfd page of buffer page 0 */
	unsigned long npages;	/* buffer pages */
	unsigned long pfirst;	/* punched memfd pages */
	unsigned long pnr;
};

FIXTURE_VARIANT(importer) {
	enum ub_kind kind;
	size_t memfd_size;
	uint64_t buf_off;	/* udmabuf offset in the memfd */
	uint64_t buf_size;
	uint64_t punch_off;	/* punched memfd range */
	uint64_t punch_len;
};

FIXTURE_VARIANT_ADD(importer, shmem) {
	.kind = UB_SHMEM,
	.memfd_size = 64 * PS,
	.buf_off = 8 * PS,
	.buf_size = 48 * PS,
	.punch_off = 16 * PS,
	.punch_len = 8 * PS,
};

FIXTURE_VARIANT_ADD(importer, thp) {
	.kind = UB_THP,
	.memfd_size = 4 * HPS,
	.buf_off = HPS / 2,
	.buf_size = 3 * HPS,
	.punch_off = HPS,
	.punch_len = HPS,
};

FIXTURE_VARIANT_ADD(importer, hugetlb) {
	.kind = UB_HUGETLB,
	.memfd_size = 4 * HPS,
	.buf_off = 3 * PS,
	.buf_size = 3 * HPS,
	.punch_off = HPS,
	.punch_len = HPS,
};

FIXTURE_SETUP(importer)
{
	if (variant->kind == UB_HUGETLB) {
		long free = read_long("/sys/kernel/mm/hugepages/"
				      "hugepages-2048kB/free_hugepages");

		/* The memfd, and the new pages while old ones are held. */
		if (free < (long)(variant->memfd_size / HPS) + 4)
			SKIP(return, "%ld free 2 MiB huge pages", free);
	}
	self->dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_LE(0, self->dev);
	self->imp = open("/dev/udmabuf_importer", O_RDWR);
	ASSERT_LE(0, self->imp) TH_LOG("udmabuf_importer.ko not loaded?");
	self->memfd = ub_memfd(variant->kind, variant->memfd_size);
	ASSERT_LE(0, self->memfd);
	self->mem = ub_map_memfd(variant->kind, self->memfd,
				 variant->memfd_size);
	ASSERT_NE(NULL, self->mem);
	ub_fill(self->mem, 0, variant->memfd_size / PS, 1);
	self->base = variant->buf_off / PS;
	self->npages = variant->buf_size / PS;
	self->pfirst = variant->punch_off / PS;
	self->pnr = variant->punch_len / PS;
	self->dbuf = ub_create(self->dev, self->memfd, variant->buf_off,
			       variant->buf_size);
	ASSERT_LE(0, self->dbuf);
	self->map = mmap(NULL, variant->buf_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, self->dbuf, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	/* Fault the whole udmabuf mapping in before anything is punched. */
	ASSERT_EQ(-1, ub_check(self->map, self->base, 0, self->npages, 1));
	self->copy = malloc(variant->buf_size);
	ASSERT_NE(NULL, self->copy);
}

FIXTURE_TEARDOWN(importer)
{
	free(self->copy);
	munmap((void *)self->map, variant->buf_size);
	/* Detaches whatever a failed test left attached. */
	close(self->imp);
	close(self->dbuf);
	if (self->mem)
		munmap(self->mem, variant->memfd_size);
	close(self->memfd);
	close(self->dev);
}

/* @buf (the whole buffer) with the punched pages at @gen, the rest at 1. */
#define SPLIT(buf, gen) \
	check_split(buf, self->base, self->npages, self->pfirst, self->pnr, gen)

/* READ all of @slot and check it like SPLIT(); -2 when READ failed. */
static long imp_split(FIXTURE_DATA(importer) *self, int slot, unsigned int gen)
{
	if (imp_read(self->imp, slot, 0, self->copy, self->npages * PS))
		return -2;
	return SPLIT(self->copy, gen);
}


/*
 * Dynamic importers only follow with CONFIG_DMABUF_MOVE_NOTIFY: without it
 * the core pins the buffer while a dynamic attachment has it mapped.
 */
#define NEED_MOVE_NOTIFY(slot) do { \
	if (!(imp_flags(self->imp, slot) & UDMABUF_IMPORTER_INFO_MOVE_NOTIFY)) \
		SKIP(return, "kernel without CONFIG_DMABUF_MOVE_NOTIFY: " \
		     "the core pins mapped dynamic attachments"); \
} while (0)

/*
 * Every view of the buffer shows generation 1 everywhere, after the
 * punched pages were rewritten: importer @slot's mapping, the CPU mmap made
 * before, a fresh mmap, and the CPU mmap inside DMA_BUF_IOCTL_SYNC.
 */
static void check_frozen(struct __test_metadata *_metadata,
			 FIXTURE_DATA(importer) *self, int slot)
{
	size_t size = self->npages * PS;
	volatile uint64_t *fresh;

	EXPECT_EQ(-1, imp_split(self, slot, 1)) TH_LOG("importer");
	EXPECT_EQ(-1, SPLIT(self->map, 1)) TH_LOG("old CPU mmap");
	fresh = mmap(NULL, size, PROT_READ, MAP_SHARED, self->dbuf, 0);
	ASSERT_NE(MAP_FAILED, fresh);
	EXPECT_EQ(-1, SPLIT(fresh, 1)) TH_LOG("fresh CPU mmap");
	munmap((void *)fresh, size);
	EXPECT_EQ(0, ub_sync(self->dbuf, DMA_BUF_SYNC_START |
				 DMA_BUF_SYNC_READ));
	EXPECT_EQ(-1, SPLIT(self->map, 1)) TH_LOG("CPU mmap after SYNC");
	EXPECT_EQ(0, ub_sync(self->dbuf, DMA_BUF_SYNC_END |
				 DMA_BUF_SYNC_READ));
}

/*
 * The creator punches and rewrites through its own mapping.  The punch sends
 * one move_notify before it returns, the refill none; the invalidated
 * mapping keeps the old pages until the importer maps again.
 */
TEST_F_TIMEOUT(importer, dynamic_eager, 120)
{
	uint64_t moves;
	uint32_t flags;
	int slot;

	slot = imp_attach(self->imp, self->dbuf, DYNAMIC);
	ASSERT_LE(0, slot);
	NEED_MOVE_NOTIFY(slot);
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
	ASSERT_EQ(-1, imp_split(self, slot, 1));
	moves = imp_moves(self->imp, slot);
	ASSERT_NE(UINT64_MAX, moves);

	punch_rewrite(self->memfd, self->mem, self->pfirst, self->pnr, 2);
	EXPECT_EQ(moves + 1, imp_moves(self->imp, slot));
	flags = imp_flags(self->imp, slot);
	EXPECT_TRUE(flags & UDMABUF_IMPORTER_INFO_MAPPED);
	EXPECT_TRUE(flags & UDMABUF_IMPORTER_INFO_INVALIDATED);
	/* The invalidated mapping still reads the old pages, not freed ones. */
	EXPECT_EQ(-1, imp_split(self, slot, 1));

	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
	EXPECT_EQ(-1, imp_split(self, slot, 2));
	EXPECT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_DETACH, slot));
}

/*
 * The creator does not map the memfd; another process punches and rewrites
 * it.  Its punch notifies the importer, once, before it returns; the
 * importer then maps the new pages, whatever the creator did meanwhile.
 */
TEST_F_TIMEOUT(importer, dynamic_lazy, 120)
{
	size_t size = variant->buf_size;
	volatile uint64_t *fresh;
	uint64_t moves;
	int slot;

	slot = imp_attach(self->imp, self->dbuf, DYNAMIC);
	ASSERT_LE(0, slot);
	NEED_MOVE_NOTIFY(slot);
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
	ASSERT_EQ(-1, imp_split(self, slot, 1));
	ASSERT_EQ(0, munmap(self->mem, variant->memfd_size));
	self->mem = NULL;

	/* Round 1: DMA_BUF_IOCTL_SYNC. */
	moves = imp_moves(self->imp, slot);
	ASSERT_EQ(0, child_rewrite(variant->kind, self->memfd,
				   variant->memfd_size, self->pfirst,
				   self->pnr, 2));
	EXPECT_EQ(moves + 1, imp_moves(self->imp, slot))
		TH_LOG("after the other process's punch");
	ASSERT_EQ(0, ub_sync(self->dbuf, DMA_BUF_SYNC_START |
				 DMA_BUF_SYNC_READ));
	EXPECT_EQ(-1, SPLIT(self->map, 2));
	EXPECT_EQ(0, ub_sync(self->dbuf, DMA_BUF_SYNC_END |
				 DMA_BUF_SYNC_READ));
	/* Until it maps again, the importer reads the old pages. */
	EXPECT_EQ(-1, imp_split(self, slot, 1));
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
	EXPECT_EQ(-1, imp_split(self, slot, 2));

	/* Round 2: the faults of a fresh mmap. */
	moves = imp_moves(self->imp, slot);
	ASSERT_EQ(0, child_rewrite(variant->kind, self->memfd,
				   variant->memfd_size, self->pfirst,
				   self->pnr, 3));
	EXPECT_EQ(moves + 1, imp_moves(self->imp, slot))
		TH_LOG("after the other process's punch");
	fresh = mmap(NULL, size, PROT_READ, MAP_SHARED, self->dbuf, 0);
	ASSERT_NE(MAP_FAILED, fresh);
	EXPECT_EQ(-1, SPLIT(fresh, 3));
	munmap((void *)fresh, size);
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
	EXPECT_EQ(-1, imp_split(self, slot, 3));
	EXPECT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_DETACH, slot));
}

/*
 * A pinning dynamic importer freezes the buffer: one dma-buf, one content.
 * At the unpin the buffer catches up and tells the importer.
 */
TEST_F_TIMEOUT(importer, pinned_freezes, 120)
{
	uint64_t moves;
	int slot;

	slot = imp_attach(self->imp, self->dbuf, DYNAMIC);
	ASSERT_LE(0, slot);
	/* Else the mapping itself would keep the buffer pinned. */
	NEED_MOVE_NOTIFY(slot);
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_PIN, slot));
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
	ASSERT_EQ(-1, imp_split(self, slot, 1));

	punch_rewrite(self->memfd, self->mem, self->pfirst, self->pnr, 2);
	check_frozen(_metadata, self, slot);
	/* A new mapping made while pinned shows the pinned pages too. */
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
	EXPECT_EQ(-1, imp_split(self, slot, 1));

	moves = imp_moves(self->imp, slot);
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_UNPIN, slot));
	/* The unpin catches up before it returns. */
	EXPECT_EQ(-1, SPLIT(self->map, 2)) TH_LOG("CPU mmap after the unpin");
	EXPECT_EQ(moves + 1, imp_moves(self->imp, slot))
		TH_LOG("move_notify at the unpin");
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
	EXPECT_EQ(-1, imp_split(self, slot, 2));
	EXPECT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_DETACH, slot));
}

/*
 * A static importer (the core pins for the attachment's lifetime) freezes
 * the buffer until it detaches.
 */
TEST_F_TIMEOUT(importer, static_freezes, 120)
{
	int slot;

	slot = imp_attach(self->imp, self->dbuf, 0);
	ASSERT_LE(0, slot);
	EXPECT_FALSE(imp_flags(self->imp, slot) &
		     UDMABUF_IMPORTER_INFO_DYNAMIC);
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
	ASSERT_EQ(-1, imp_split(self, slot, 1));

	punch_rewrite(self->memfd, self->mem, self->pfirst, self->pnr, 2);
	check_frozen(_metadata, self, slot);
	/* Mapping again hands out the same (pinned) pages. */
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
	EXPECT_EQ(-1, imp_split(self, slot, 1));

	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_DETACH, slot));
	/* The detach unpins, which catches up before it returns. */
	EXPECT_EQ(-1, SPLIT(self->map, 2)) TH_LOG("CPU mmap after the detach");
	/* A new static importer maps the new pages. */
	slot = imp_attach(self->imp, self->dbuf, 0);
	ASSERT_LE(0, slot);
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
	EXPECT_EQ(-1, imp_split(self, slot, 2));
	EXPECT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_DETACH, slot));
}

/*
 * Without CONFIG_DMABUF_MOVE_NOTIFY, as in Debian's kernel, the core pins the
 * buffer for as long as a dynamic importer has it mapped: frozen like a
 * pinned one.  Once it unmaps, the buffer lets go of what was removed
 * meanwhile, and the next map gets the current pages.
 */
TEST_F_TIMEOUT(importer, mapped_pins_without_move_notify, 120)
{
	int slot;

	slot = imp_attach(self->imp, self->dbuf, DYNAMIC);
	ASSERT_LE(0, slot);
	if (imp_flags(self->imp, slot) & UDMABUF_IMPORTER_INFO_MOVE_NOTIFY)
		SKIP(return, "kernel with CONFIG_DMABUF_MOVE_NOTIFY");
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
	ASSERT_EQ(-1, imp_split(self, slot, 1));

	punch_rewrite(self->memfd, self->mem, self->pfirst, self->pnr, 2);
	check_frozen(_metadata, self, slot);

	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_UNMAP, slot));
	EXPECT_EQ(-1, SPLIT(self->map, 2)) TH_LOG("CPU mmap after the unmap");
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
	EXPECT_EQ(-1, imp_split(self, slot, 2));
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_UNMAP, slot));

	/* Unmapped, a removal is followed at once; the next map sees it. */
	punch_rewrite(self->memfd, self->mem, self->pfirst, self->pnr, 3);
	EXPECT_EQ(-1, SPLIT(self->map, 3));
	ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
	EXPECT_EQ(-1, imp_split(self, slot, 3));
	EXPECT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_DETACH, slot));
}

static long minflt(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) ? -1 : ru.ru_minflt;
}

/*
 * A map/unmap cycle with nothing changed, as an importer does per frame:
 * it zaps nothing, so reading the CPU mmap again faults nowhere.
 */
TEST_F_TIMEOUT(importer, map_cycles_zap_nothing, 120)
{
	long before;
	int slot, i;

	slot = imp_attach(self->imp, self->dbuf, DYNAMIC);
	ASSERT_LE(0, slot);
	EXPECT_EQ(-1, SPLIT(self->map, 1));
	for (i = 0; i < 100; i++) {
		ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_MAP, slot));
		ASSERT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_UNMAP, slot));
	}
	/*
	 * Only the second read is counted: the loop's own first calls may
	 * fault in a page of this program's text, which a forked test has
	 * not mapped yet.
	 */
	before = minflt();
	EXPECT_EQ(-1, SPLIT(self->map, 1));
	EXPECT_EQ(before, minflt());
	EXPECT_EQ(0, imp_op(self->imp, UDMABUF_IMPORTER_DETACH, slot));
}

/* A udmabuf over all of a 16-page shmem memfd filled with generation 1. */
struct small_buf {
	int dev, memfd, dbuf;
	uint64_t *mem;
};

#define SMALL_PAGES	16

static int small_buf_create(struct small_buf *b)
{
	b->dev = open("/dev/udmabuf", O_RDWR);
	b->memfd = ub_memfd(UB_SHMEM, SMALL_PAGES * PS);
	if (b->dev < 0 || b->memfd < 0)
		return -1;
	b->mem = ub_map_memfd(UB_SHMEM, b->memfd, SMALL_PAGES * PS);
	if (!b->mem)
		return -1;
	ub_fill(b->mem, 0, SMALL_PAGES, 1);
	b->dbuf = ub_create(b->dev, b->memfd, 0, SMALL_PAGES * PS);
	return b->dbuf < 0 ? -1 : 0;
}

static void small_buf_destroy(struct small_buf *b)
{
	munmap(b->mem, SMALL_PAGES * PS);
	close(b->dbuf);
	close(b->memfd);
	close(b->dev);
}

/* ioctl @expr fails with @err. */
#define EXPECT_ERRNO(err, expr) do { \
	int __ret = (expr), __err = errno; \
	EXPECT_EQ(-1, __ret) TH_LOG("%s succeeded", #expr); \
	if (__ret == -1) \
		EXPECT_EQ(err, __err) TH_LOG("%s: %s", #expr, \
					    strerror(__err)); \
} while (0)

TEST(errors)
{
	static const unsigned long slot_ops[] = {
		UDMABUF_IMPORTER_MAP, UDMABUF_IMPORTER_UNMAP,
		UDMABUF_IMPORTER_PIN, UDMABUF_IMPORTER_UNPIN,
		UDMABUF_IMPORTER_DETACH,
	};
	struct udmabuf_importer_read rd = { 0 };
	struct udmabuf_importer_info info;
	uint64_t size = SMALL_PAGES * PS;
	int imp, s, d, i, slots[UDMABUF_IMPORTER_SLOTS];
	struct small_buf b;
	char byte;

	ASSERT_EQ(0, small_buf_create(&b));
	imp = open("/dev/udmabuf_importer", O_RDWR);
	ASSERT_LE(0, imp);

	/* ATTACH: no fd, not a dma-buf, unknown flags. */
	EXPECT_ERRNO(EBADF, imp_attach(imp, -1, 0));
	EXPECT_ERRNO(EBADF, imp_attach(imp, 1000, DYNAMIC));
	EXPECT_ERRNO(EINVAL, imp_attach(imp, b.memfd, 0));
	EXPECT_ERRNO(EINVAL, imp_attach(imp, b.dbuf, 0x80));
	EXPECT_ERRNO(ENOTTY, ioctl(imp, _IO('I', 0x7f), 0));

	/* Bad slots: out of range, never attached. */
	for (i = 0; i < 5; i++) {
		EXPECT_ERRNO(EINVAL, imp_op(imp, slot_ops[i],
					    UDMABUF_IMPORTER_SLOTS));
		EXPECT_ERRNO(EINVAL, imp_op(imp, slot_ops[i], ~0UL));
		EXPECT_ERRNO(ENOENT, imp_op(imp, slot_ops[i], 0));
	}
	EXPECT_ERRNO(EINVAL, imp_info(imp, UDMABUF_IMPORTER_SLOTS, &info));
	EXPECT_ERRNO(ENOENT, imp_info(imp, 0, &info));
	EXPECT_ERRNO(EINVAL, imp_read(imp, ~0U, 0, &byte, 1));
	EXPECT_ERRNO(ENOENT, imp_read(imp, 0, 0, &byte, 1));

	/* A static attachment: not mapped yet, cannot pin. */
	s = imp_attach(imp, b.dbuf, 0);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, imp_info(imp, s, &info));
	EXPECT_EQ(size, info.size);
	EXPECT_EQ(0, info.moves);
	EXPECT_EQ(0, info.flags & ~UDMABUF_IMPORTER_INFO_MOVE_NOTIFY);
	EXPECT_ERRNO(ENODATA, imp_read(imp, s, 0, &byte, 1));
	EXPECT_ERRNO(ENODATA, imp_op(imp, UDMABUF_IMPORTER_UNMAP, s));
	EXPECT_ERRNO(EINVAL, imp_op(imp, UDMABUF_IMPORTER_PIN, s));
	EXPECT_ERRNO(EINVAL, imp_op(imp, UDMABUF_IMPORTER_UNPIN, s));

	/* READ out of range, overflowing, to a bad pointer, bad padding. */
	ASSERT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_MAP, s));
	EXPECT_TRUE(imp_flags(imp, s) & UDMABUF_IMPORTER_INFO_MAPPED);
	EXPECT_EQ(0, imp_read(imp, s, size - 1, &byte, 1));
	EXPECT_EQ(0, imp_read(imp, s, size, &byte, 0));
	EXPECT_ERRNO(EINVAL, imp_read(imp, s, size, &byte, 1));
	EXPECT_ERRNO(EINVAL, imp_read(imp, s, size - 1, &byte, 2));
	EXPECT_ERRNO(EINVAL, imp_read(imp, s, size + PS, &byte, 0));
	EXPECT_ERRNO(EINVAL, imp_read(imp, s, PS, &byte, UINT64_MAX));
	EXPECT_ERRNO(EINVAL, imp_read(imp, s, UINT64_MAX, &byte, 2));
	EXPECT_ERRNO(EFAULT, imp_read(imp, s, 0, NULL, PS));
	EXPECT_ERRNO(EFAULT, ioctl(imp, UDMABUF_IMPORTER_READ, NULL));
	EXPECT_ERRNO(EFAULT, ioctl(imp, UDMABUF_IMPORTER_INFO, NULL));
	EXPECT_ERRNO(EFAULT, ioctl(imp, UDMABUF_IMPORTER_ATTACH, NULL));
	rd.slot = s;
	rd.__pad = 1;
	rd.len = 1;
	rd.ptr = (uintptr_t)&byte;
	EXPECT_ERRNO(EINVAL, ioctl(imp, UDMABUF_IMPORTER_READ, &rd));
	EXPECT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_UNMAP, s));
	EXPECT_ERRNO(ENODATA, imp_read(imp, s, 0, &byte, 1));

	/* A dynamic attachment: pin once, unpin once. */
	d = imp_attach(imp, b.dbuf, DYNAMIC);
	ASSERT_LE(0, d);
	EXPECT_NE(s, d);
	EXPECT_TRUE(imp_flags(imp, d) & UDMABUF_IMPORTER_INFO_DYNAMIC);
	EXPECT_ERRNO(EINVAL, imp_op(imp, UDMABUF_IMPORTER_UNPIN, d));
	EXPECT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_PIN, d));
	EXPECT_TRUE(imp_flags(imp, d) & UDMABUF_IMPORTER_INFO_PINNED);
	EXPECT_ERRNO(EBUSY, imp_op(imp, UDMABUF_IMPORTER_PIN, d));
	EXPECT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_UNPIN, d));
	EXPECT_ERRNO(EINVAL, imp_op(imp, UDMABUF_IMPORTER_UNPIN, d));

	/* Every slot taken. */
	for (i = 2; i < UDMABUF_IMPORTER_SLOTS; i++) {
		slots[i] = imp_attach(imp, b.dbuf, i & 1 ? DYNAMIC : 0);
		EXPECT_LE(0, slots[i]);
	}
	EXPECT_ERRNO(ENOSPC, imp_attach(imp, b.dbuf, 0));
	for (i = 2; i < UDMABUF_IMPORTER_SLOTS; i++)
		EXPECT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_DETACH, slots[i]));

	/* Detached slots: every ioctl says so. */
	EXPECT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_MAP, d));
	EXPECT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_PIN, d));
	EXPECT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_DETACH, d));
	EXPECT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_DETACH, s));
	for (i = 0; i < 5; i++) {
		EXPECT_ERRNO(ENOENT, imp_op(imp, slot_ops[i], s));
		EXPECT_ERRNO(ENOENT, imp_op(imp, slot_ops[i], d));
	}
	EXPECT_ERRNO(ENOENT, imp_info(imp, d, &info));
	EXPECT_ERRNO(ENOENT, imp_read(imp, d, 0, &byte, 1));
	/* A freed slot is reused. */
	s = imp_attach(imp, b.dbuf, DYNAMIC);
	EXPECT_LE(0, s);
	EXPECT_EQ(0, imp_info(imp, s, &info));
	EXPECT_EQ(0, info.moves);

	close(imp);
	small_buf_destroy(&b);
}

/* READ at offsets and lengths that cross page boundaries. */
TEST(read_ranges)
{
	static const struct { uint64_t off, len; } r[] = {
		{ 0, 1 }, { 8, 8 }, { PS - 8, 16 }, { 3 * PS + 24, PS + 40 },
		{ 5 * PS, 3 * PS }, { SMALL_PAGES * PS - 8, 8 },
		{ 0, SMALL_PAGES * PS },
	};
	struct small_buf b;
	int imp, s, d, i;
	char *out, *dst;

	ASSERT_EQ(0, small_buf_create(&b));
	imp = open("/dev/udmabuf_importer", O_RDWR);
	ASSERT_LE(0, imp);
	out = malloc(SMALL_PAGES * PS);
	ASSERT_NE(NULL, out);
	s = imp_attach(imp, b.dbuf, 0);
	ASSERT_LE(0, s);
	d = imp_attach(imp, b.dbuf, DYNAMIC);
	ASSERT_LE(0, d);
	ASSERT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_MAP, s));
	ASSERT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_MAP, d));
	for (i = 0; i < ARRAY_SIZE(r); i++) {
		memset(out, 0, r[i].len);
		EXPECT_EQ(0, imp_read(imp, s, r[i].off, out, r[i].len));
		EXPECT_EQ(0, memcmp(out, (char *)b.mem + r[i].off, r[i].len))
			TH_LOG("static, %d", i);
		memset(out, 0, r[i].len);
		EXPECT_EQ(0, imp_read(imp, d, r[i].off, out, r[i].len));
		EXPECT_EQ(0, memcmp(out, (char *)b.mem + r[i].off, r[i].len))
			TH_LOG("dynamic, %d", i);
	}
	/* Into a udmabuf mapping: the copy faults on the exporter's mmap. */
	dst = mmap(NULL, SMALL_PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED,
		   b.dbuf, 0);
	ASSERT_NE(MAP_FAILED, dst);
	EXPECT_EQ(0, imp_read(imp, d, 2 * PS, dst, PS));
	EXPECT_EQ(-1, ub_check((uint64_t *)dst, 2, 0, 1, 1));
	munmap(dst, SMALL_PAGES * PS);
	free(out);
	close(imp);
	small_buf_destroy(&b);
}

/*
 * Attachments of /dev/udmabuf_importer to the dma-buf with inode @ino in
 * the dma-buf debugfs file; -1 if no such dma-buf, -2 without the file.
 */
static int bufinfo_attached(ino_t ino)
{
	bool found = false, ours = false;
	char line[512], name[64];
	unsigned long size, i;
	unsigned int fl, mode;
	long count;
	int n = 0;
	FILE *f;

	f = fopen("/sys/kernel/debug/dma_buf/bufinfo", "r");
	if (!f)
		return -2;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] != '\t') {
			ours = sscanf(line, "%lu %x %x %ld %63s %lu", &size,
				      &fl, &mode, &count, name, &i) == 6 &&
			       i == ino;
			found |= ours;
		} else if (ours && !strcmp(line, "\tudmabuf_importer\n")) {
			n++;
		}
	}
	fclose(f);
	return found ? n : -1;
}

/*
 * Closing the importer detaches everything: mapped, pinned or not, and
 * the last reference to a dma-buf can be the importer's.
 */
TEST(release_detaches)
{
	volatile uint64_t *map;
	struct small_buf b;
	uint64_t word;
	struct stat st;
	long end, bad;
	int imp, s;

	ASSERT_EQ(0, small_buf_create(&b));
	ASSERT_EQ(0, fstat(b.dbuf, &st));
	if (bufinfo_attached(st.st_ino) == -2)
		SKIP(return, "no /sys/kernel/debug/dma_buf/bufinfo");
	ASSERT_EQ(0, bufinfo_attached(st.st_ino));
	map = mmap(NULL, SMALL_PAGES * PS, PROT_READ, MAP_SHARED, b.dbuf, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(-1, ub_check(map, 0, 0, SMALL_PAGES, 1));

	imp = open("/dev/udmabuf_importer", O_RDWR);
	ASSERT_LE(0, imp);
	s = imp_attach(imp, b.dbuf, DYNAMIC);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_PIN, s));
	ASSERT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_MAP, s));
	s = imp_attach(imp, b.dbuf, 0);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_MAP, s));
	ASSERT_LE(0, imp_attach(imp, b.dbuf, DYNAMIC));
	EXPECT_EQ(3, bufinfo_attached(st.st_ino));
	close(imp);
	EXPECT_EQ(0, bufinfo_attached(st.st_ino));
	/* Nothing pins the buffer any more: it follows. */
	punch_rewrite(b.memfd, b.mem, 4, 1, 2);
	end = now_ms() + WAIT_MS;
	while ((bad = ub_check(map, 0, 4, 1, 2)) >= 0 && now_ms() < end)
		usleep(10000);
	EXPECT_EQ(-1, bad);
	munmap((void *)map, SMALL_PAGES * PS);

	/* The importer holds the last reference of the dma-buf. */
	imp = open("/dev/udmabuf_importer", O_RDWR);
	ASSERT_LE(0, imp);
	s = imp_attach(imp, b.dbuf, DYNAMIC);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_PIN, s));
	ASSERT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_MAP, s));
	small_buf_destroy(&b);
	EXPECT_EQ(1, bufinfo_attached(st.st_ino));
	EXPECT_EQ(0, imp_read(imp, s, 5 * PS, &word, sizeof(word)));
	EXPECT_EQ(ub_tag(5, 1), word);
	close(imp);
	EXPECT_EQ(-1, bufinfo_attached(st.st_ino));
}

#define RACE_MS		2000

struct race {
	struct small_buf b;
	volatile bool stop;
	unsigned int gens;	/* generations the writer wrote */
	long bad_page;		/* a READ found a foreign page here, or -1 */
	uint64_t bad_word;	/* ... whose first word was this */
};

/* The creator punches and rewrites pages [8, 16) until told to stop. */
static void *race_writer(void *arg)
{
	struct race *r = arg;
	long end = now_ms() + RACE_MS;
	unsigned int gen;

	for (gen = 2; !r->stop && now_ms() < end; gen++) {
		punch_rewrite(r->b.memfd, r->b.mem, 8, 8, gen);
		r->gens = gen;
	}
	r->stop = true;
	return NULL;
}

/* Other importers attach, pin, map, read, and go away, over and over. */
static void *race_importer(void *arg)
{
	struct race *r = arg;
	unsigned int round;
	uint64_t word;
	int imp, s;

	for (round = 0; !r->stop; round++) {
		imp = open("/dev/udmabuf_importer", O_RDWR);
		if (imp < 0)
			break;
		s = imp_attach(imp, r->b.dbuf, DYNAMIC);
		if (s >= 0 && !imp_op(imp, UDMABUF_IMPORTER_PIN, s)) {
			imp_op(imp, UDMABUF_IMPORTER_MAP, s);
			imp_read(imp, s, 9 * PS, &word, sizeof(word));
			imp_op(imp, UDMABUF_IMPORTER_UNPIN, s);
		}
		/* Half of them detach, the others leave it to the release. */
		if (s >= 0 && (round & 1))
			imp_op(imp, UDMABUF_IMPORTER_DETACH, s);
		close(imp);
	}
	return NULL;
}

/*
 * move_notify, MAP, READ, PIN, DETACH and release racing with the creator's
 * rewrites: every page an importer reads is a page of the memfd at that
 * index (a tag of that index, or zeroes of a page being rewritten, or a
 * tag half stored over those zeroes when READ copied it).
 */
TEST(race)
{
	pthread_t writer, other;
	struct race r = { .bad_page = -1 };
	uint64_t *copy;
	unsigned long pg;
	int imp, s, rounds = 0, err = 0;

	ASSERT_EQ(0, small_buf_create(&r.b));
	copy = malloc(SMALL_PAGES * PS);
	ASSERT_NE(NULL, copy);
	imp = open("/dev/udmabuf_importer", O_RDWR);
	ASSERT_LE(0, imp);
	s = imp_attach(imp, r.b.dbuf, DYNAMIC);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, pthread_create(&writer, NULL, race_writer, &r));
	ASSERT_EQ(0, pthread_create(&other, NULL, race_importer, &r));
	while (!r.stop && r.bad_page < 0) {
		if (imp_op(imp, UDMABUF_IMPORTER_MAP, s) ||
		    imp_read(imp, s, 0, copy, SMALL_PAGES * PS)) {
			err = errno;
			break;
		}
		for (pg = 0; pg < SMALL_PAGES; pg++) {
			uint64_t w = copy[pg * (PS / 8)];

			/* READ copies byte by byte: see ub_torn_tag(). */
			if (w && (w >> 48 != TAG_MAGIC ||
				  (w >> 24 & 0xffffff) != pg) &&
			    !ub_torn_tag(w, pg)) {
				r.bad_page = pg;
				r.bad_word = w;
			}
		}
		rounds++;
	}
	r.stop = true;
	pthread_join(writer, NULL);
	pthread_join(other, NULL);
	EXPECT_EQ(0, err) TH_LOG("MAP or READ: %s", strerror(err));
	EXPECT_EQ(-1, r.bad_page)
		TH_LOG("page %ld read %#llx in round %d (generation %u)",
		       r.bad_page, (unsigned long long)r.bad_word, rounds,
		       r.gens);
	/* Quiet now: mapping again shows the last generation. */
	ASSERT_EQ(0, imp_op(imp, UDMABUF_IMPORTER_MAP, s));
	ASSERT_EQ(0, imp_read(imp, s, 0, copy, SMALL_PAGES * PS));
	EXPECT_EQ(-1, ub_check(copy, 0, 0, 8, 1));
	EXPECT_EQ(-1, ub_check(copy, 0, 8, 8, r.gens));
	ksft_print_msg("%d importer rounds, %u generations\n", rounds,
		       r.gens);
	close(imp);
	free(copy);
	small_buf_destroy(&r.b);
}

TEST_HARNESS_MAIN
