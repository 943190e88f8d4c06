// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf_follow: a udmabuf follows page replacement in its memfd.
 *
 * For shmem (4 KiB pages), shmem THP and hugetlb (2 MiB) memfds: fill the
 * memfd with generation 1 tags, create a udmabuf over part of it (at an
 * offset inside a huge page for hugetlb), punch a range, write generation 2
 * through the memfd mapping, and check every way of reading the udmabuf:
 * its CPU mmap made before the punch (only the eager path updates that
 * one), a kernel vmap, DMA_BUF_IOCTL_SYNC, a fresh mmap and an import into
 * vgem.  Pages outside the punched range must keep generation 1.
 */
#include "udmabuf_lib.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <xf86drm.h>
#include "udmabuf_vgem.h"
#include "kselftest_harness.h"

FIXTURE(follow) {
	int dev;
	int memfd;
	uint64_t *mem;		/* the memfd mapping */
	int dbuf;
	volatile uint64_t *map;	/* the udmabuf mapping made before punching */
	unsigned long base;	/* memfd page of buffer page 0 */
	unsigned long npages;	/* buffer pages */
};

FIXTURE_VARIANT(follow) {
	enum ub_kind kind;
	size_t memfd_size;
	uint64_t buf_off;	/* udmabuf offset in the memfd */
	uint64_t buf_size;
	uint64_t punch_off;	/* punched memfd range */
	uint64_t punch_len;
};

FIXTURE_VARIANT_ADD(follow, shmem) {
	.kind = UB_SHMEM,
	.memfd_size = 64 * PS,
	.buf_off = 8 * PS,
	.buf_size = 48 * PS,
	.punch_off = 16 * PS,
	.punch_len = 8 * PS,
};

FIXTURE_VARIANT_ADD(follow, thp) {
	.kind = UB_THP,
	.memfd_size = 4 * HPS,
	.buf_off = HPS / 2,
	.buf_size = 3 * HPS,
	.punch_off = HPS,
	.punch_len = HPS,
};

FIXTURE_VARIANT_ADD(follow, hugetlb) {
	.kind = UB_HUGETLB,
	.memfd_size = 4 * HPS,
	.buf_off = 3 * PS,
	.buf_size = 3 * HPS,
	.punch_off = HPS,
	.punch_len = HPS,
};

FIXTURE_SETUP(follow)
{
	self->dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_LE(0, self->dev);
	self->memfd = ub_memfd(variant->kind, variant->memfd_size);
	ASSERT_LE(0, self->memfd);
	self->mem = ub_map_memfd(variant->kind, self->memfd,
				 variant->memfd_size);
	ASSERT_NE(NULL, self->mem);
	ub_fill(self->mem, 0, variant->memfd_size / PS, 1);
	self->base = variant->buf_off / PS;
	self->npages = variant->buf_size / PS;
	self->dbuf = ub_create(self->dev, self->memfd, variant->buf_off,
			       variant->buf_size);
	ASSERT_LE(0, self->dbuf);
	self->map = mmap(NULL, variant->buf_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, self->dbuf, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	/* Fault the whole udmabuf mapping in before anything is punched. */
	ASSERT_EQ(-1, ub_check(self->map, self->base, 0, self->npages, 1));
}

FIXTURE_TEARDOWN(follow)
{
	munmap((void *)self->map, variant->buf_size);
	close(self->dbuf);
	close(self->memfd);
	close(self->dev);
}

/* Punch memfd pages [first, +nr) and write generation @gen to them. */
static void punch_rewrite(int memfd, uint64_t *mem, unsigned long first,
			  unsigned long nr, unsigned int gen)
{
	if (ub_punch(memfd, first * PS, nr * PS))
		perror("punch");
	ub_fill(mem, first, nr, gen);
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

/* check_split() until it passes, for up to 5 s; its last result. */
static long wait_split(const volatile uint64_t *buf, unsigned long base,
		       unsigned long npages, unsigned long pfirst,
		       unsigned long pnr, unsigned int gen)
{
	long bad = -1;
	int i;

	for (i = 0; i < 500; i++) {
		bad = check_split(buf, base, npages, pfirst, pnr, gen);
		if (bad < 0)
			break;
		usleep(10000);
	}
	return bad;
}

TEST_F(follow, punch_rewrite)
{
	unsigned long pfirst = variant->punch_off / PS;
	unsigned long pnr = variant->punch_len / PS;
	size_t size = variant->buf_size;
	volatile uint64_t *fresh;
	uint64_t *copy;
	int vfd;

	if (variant->kind == UB_THP && !ub_thp_mapped())
		ksft_print_msg("no PMD-mapped shmem THP, testing 4K pages\n");
	/* A kernel vmap freezes the buffer, like a pin, until vunmap. */
	vfd = ub_vmap_hold(self->dbuf);
	ASSERT_LE(0, vfd);
	punch_rewrite(self->memfd, self->mem, pfirst, pnr, 2);

	/* Frozen: the mmap and the vmap show the pages of before. */
	EXPECT_EQ(-1, ub_check(self->map, self->base, 0, self->npages, 1));
	copy = malloc(size);
	ASSERT_NE(NULL, copy);
	ASSERT_EQ(0, ub_vmap_read_held(vfd, 0, copy, size));
	EXPECT_EQ(-1, ub_check(copy, self->base, 0, self->npages, 1));
	/* The last unpin lets go of the old pages: the mmap follows. */
	close(vfd);
	EXPECT_EQ(-1, check_split(self->map, self->base, self->npages,
				  pfirst, pnr, 2));
	/* The next vmap shows the new pages. */
	ASSERT_EQ(0, ub_vmap_read(self->dbuf, 0, copy, size));
	EXPECT_EQ(-1, check_split(copy, self->base, self->npages, pfirst,
				  pnr, 2));
	free(copy);

	EXPECT_EQ(0, ub_sync(self->dbuf, DMA_BUF_SYNC_START |
				 DMA_BUF_SYNC_RW));
	EXPECT_EQ(-1, check_split(self->map, self->base, self->npages,
				  pfirst, pnr, 2));
	EXPECT_EQ(0, ub_sync(self->dbuf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW));

	fresh = mmap(NULL, size, PROT_READ, MAP_SHARED, self->dbuf, 0);
	ASSERT_NE(MAP_FAILED, fresh);
	EXPECT_EQ(-1, check_split(fresh, self->base, self->npages, pfirst,
				  pnr, 2));
	munmap((void *)fresh, size);

	/* Writes through the udmabuf land in the memfd's new pages. */
	self->map[(pfirst - self->base) * (PS / 8) + 1] = 0x1234;
	EXPECT_EQ(0x1234, self->mem[pfirst * (PS / 8) + 1]);
	self->map[(pfirst - self->base) * (PS / 8) + 1] = ub_tag(pfirst, 2);

	/* A second round, through the already refreshed mapping. */
	punch_rewrite(self->memfd, self->mem, pfirst, pnr, 3);
	EXPECT_EQ(-1, check_split(self->map, self->base, self->npages,
				  pfirst, pnr, 3));
}

TEST_F(follow, whole_buffer)
{
	unsigned long mpages = variant->memfd_size / PS;
	uint64_t *copy;

	/* hugetlbfs only punches whole huge pages: punch all of the memfd. */
	punch_rewrite(self->memfd, self->mem, 0, mpages, 2);
	EXPECT_EQ(-1, ub_check(self->map, self->base, 0, self->npages, 2));
	copy = malloc(variant->buf_size);
	ASSERT_NE(NULL, copy);
	ASSERT_EQ(0, ub_vmap_read(self->dbuf, 0, copy, variant->buf_size));
	EXPECT_EQ(-1, ub_check(copy, self->base, 0, self->npages, 2));
	free(copy);
}

TEST_F(follow, several_bufs)
{
	unsigned long pfirst = variant->punch_off / PS;
	unsigned long pnr = variant->punch_len / PS;
	volatile uint64_t *map2, *map3;
	int dbuf2, dbuf3;

	/* One over the punched range only, one over the whole memfd. */
	dbuf2 = ub_create(self->dev, self->memfd, variant->punch_off,
			  variant->punch_len);
	ASSERT_LE(0, dbuf2);
	dbuf3 = ub_create(self->dev, self->memfd, 0, variant->memfd_size);
	ASSERT_LE(0, dbuf3);
	map2 = mmap(NULL, variant->punch_len, PROT_READ, MAP_SHARED, dbuf2, 0);
	ASSERT_NE(MAP_FAILED, map2);
	map3 = mmap(NULL, variant->memfd_size, PROT_READ, MAP_SHARED, dbuf3,
		    0);
	ASSERT_NE(MAP_FAILED, map3);
	ASSERT_EQ(-1, ub_check(map2, pfirst, 0, pnr, 1));
	ASSERT_EQ(-1, ub_check(map3, 0, 0, variant->memfd_size / PS, 1));

	punch_rewrite(self->memfd, self->mem, pfirst, pnr, 2);
	EXPECT_EQ(-1, check_split(self->map, self->base, self->npages,
				  pfirst, pnr, 2));
	EXPECT_EQ(-1, ub_check(map2, pfirst, 0, pnr, 2));
	EXPECT_EQ(-1, check_split(map3, 0, variant->memfd_size / PS, pfirst,
				  pnr, 2));

	munmap((void *)map3, variant->memfd_size);
	munmap((void *)map2, variant->punch_len);
	close(dbuf3);
	close(dbuf2);
}

/* Punch, then write generation @gen from another process's mapping. */
static int child_rewrite(enum ub_kind kind, int memfd, size_t memfd_size,
			 unsigned long pfirst, unsigned long pnr,
			 unsigned int gen)
{
	int status;
	pid_t pid;

	if (ub_punch(memfd, pfirst * PS, pnr * PS))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		uint64_t *mem = ub_map_memfd(kind, memfd, memfd_size);

		if (!mem)
			_exit(1);
		ub_fill(mem, pfirst, pnr, gen);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || status)
		return -1;
	return 0;
}

/*
 * Another process rewrites the memfd while the creator does not map it:
 * its faults reach the buffer all the same, and every view shows the new
 * pages.  A kernel vmap held across the punch freezes the buffer until
 * vunmap.
 */
TEST_F(follow, lazy_other_process)
{
	unsigned long pfirst = variant->punch_off / PS;
	unsigned long pnr = variant->punch_len / PS;
	size_t size = variant->buf_size;
	volatile uint64_t *fresh;
	uint64_t *copy;
	int vfd;

	copy = malloc(size);
	ASSERT_NE(NULL, copy);
	vfd = ub_vmap_hold(self->dbuf);
	ASSERT_LE(0, vfd);
	ASSERT_EQ(0, munmap(self->mem, variant->memfd_size));

	/* Round 1: frozen by the vmap, then a fault of a fresh mapping. */
	ASSERT_EQ(0, child_rewrite(variant->kind, self->memfd,
				   variant->memfd_size, pfirst, pnr, 2));
	fresh = mmap(NULL, size, PROT_READ, MAP_SHARED, self->dbuf, 0);
	ASSERT_NE(MAP_FAILED, fresh);
	EXPECT_EQ(-1, ub_check(fresh, self->base, 0, self->npages, 1));
	ASSERT_EQ(0, ub_vmap_read_held(vfd, 0, copy, size));
	EXPECT_EQ(-1, ub_check(copy, self->base, 0, self->npages, 1));
	close(vfd);
	EXPECT_EQ(-1, check_split(fresh, self->base, self->npages, pfirst,
				  pnr, 2));
	munmap((void *)fresh, size);
	/* The old mapping was zapped at the unpin and refaults. */
	EXPECT_EQ(-1, check_split(self->map, self->base, self->npages,
				  pfirst, pnr, 2));

	/* Round 2: a fresh kernel vmap. */
	ASSERT_EQ(0, child_rewrite(variant->kind, self->memfd,
				   variant->memfd_size, pfirst, pnr, 3));
	ASSERT_EQ(0, ub_vmap_read(self->dbuf, 0, copy, size));
	EXPECT_EQ(-1, check_split(copy, self->base, self->npages, pfirst,
				  pnr, 3));
	EXPECT_EQ(-1, check_split(self->map, self->base, self->npages,
				  pfirst, pnr, 3));

	/* Round 3: DMA_BUF_IOCTL_SYNC around the old mapping. */
	ASSERT_EQ(0, child_rewrite(variant->kind, self->memfd,
				   variant->memfd_size, pfirst, pnr, 4));
	EXPECT_EQ(0, ub_sync(self->dbuf, DMA_BUF_SYNC_START |
				 DMA_BUF_SYNC_READ));
	EXPECT_EQ(-1, check_split(self->map, self->base, self->npages,
				  pfirst, pnr, 4));
	EXPECT_EQ(0, ub_sync(self->dbuf, DMA_BUF_SYNC_END |
				 DMA_BUF_SYNC_READ));
	free(copy);
	self->mem = ub_map_memfd(variant->kind, self->memfd,
				 variant->memfd_size);
}

static int set_follow_faults(const char *val)
{
	int fd = open("/sys/module/udmabuf/parameters/follow_faults", O_WRONLY);
	int ret;

	if (fd < 0)
		return -1;
	ret = write(fd, val, 1) == 1 ? 0 : -1;
	close(fd);
	return ret;
}

/*
 * Control: with the eager path switched off (test knob), the mapping made
 * before the punch shows the hole, not the refill, which shows that the
 * checks above see the eager path at work; the lazy paths still find the
 * new page.
 */
TEST_F(follow, eager_off_control)
{
	unsigned long pfirst = variant->punch_off / PS;
	unsigned long pnr = variant->punch_len / PS;
	unsigned long pg;
	uint64_t *copy;
	long stale;

	ASSERT_EQ(0, set_follow_faults("0"));
	/* The punch is followed: the mapping reads the hole... */
	ASSERT_EQ(0, ub_punch(self->memfd, pfirst * PS, pnr * PS));
	for (pg = pfirst - self->base; pg < pfirst - self->base + pnr; pg++)
		ASSERT_EQ(0, self->map[pg * (PS / 8)]);
	/* ...and keeps reading it: the refill's faults are not followed. */
	ub_fill(self->mem, pfirst, pnr, 2);
	stale = -1;
	for (pg = pfirst - self->base; pg < pfirst - self->base + pnr; pg++)
		if (self->map[pg * (PS / 8)] || self->map[pg * (PS / 8) + 1])
			stale = pg;
	copy = malloc(variant->buf_size);
	ASSERT_NE(NULL, copy);
	EXPECT_EQ(0, ub_vmap_read(self->dbuf, 0, copy, variant->buf_size));
	ASSERT_EQ(0, set_follow_faults("1"));
	EXPECT_EQ(-1, stale);
	EXPECT_EQ(-1, check_split(copy, self->base, self->npages, pfirst,
				  pnr, 2));
	free(copy);
	/* The vmap followed lazily and zapped the old mapping. */
	EXPECT_EQ(-1, check_split(self->map, self->base, self->npages,
				  pfirst, pnr, 2));
}

/*
 * vgem imports statically, so the dma-buf core pins its attachment for as
 * long as it lasts, and a pinned buffer does not change: every view keeps
 * the pages vgem mapped.  vgem cannot mmap an imported object itself, so
 * the contents are checked through the fd that vgem exports back (the same
 * dma-buf), mapped before the punch.  Once vgem lets go, the buffer catches
 * up (asynchronously: poll, bounded).
 */
TEST_F(follow, vgem_import)
{
	unsigned long pfirst = variant->punch_off / PS;
	unsigned long pnr = variant->punch_len / PS;
	volatile uint64_t *vmap;
	struct stat st1, st2;
	uint32_t handle;
	int card, fd2;

	card = ub_open_vgem();
	if (card < 0)
		SKIP(return, "no vgem device");
	ASSERT_EQ(0, drmPrimeFDToHandle(card, self->dbuf, &handle));
	ASSERT_EQ(0, drmPrimeHandleToFD(card, handle, DRM_CLOEXEC | DRM_RDWR,
					&fd2));
	ASSERT_EQ(0, fstat(self->dbuf, &st1));
	ASSERT_EQ(0, fstat(fd2, &st2));
	EXPECT_EQ(st1.st_ino, st2.st_ino);
	vmap = mmap(NULL, variant->buf_size, PROT_READ, MAP_SHARED, fd2, 0);
	ASSERT_NE(MAP_FAILED, vmap);
	ASSERT_EQ(-1, ub_check(vmap, self->base, 0, self->npages, 1));

	punch_rewrite(self->memfd, self->mem, pfirst, pnr, 2);
	/* Pinned: one dma-buf, one content, the pages vgem has. */
	EXPECT_EQ(-1, ub_check(vmap, self->base, 0, self->npages, 1));
	EXPECT_EQ(-1, ub_check(self->map, self->base, 0, self->npages, 1));
	EXPECT_EQ(0, ub_sync(self->dbuf, DMA_BUF_SYNC_START |
				 DMA_BUF_SYNC_READ));
	EXPECT_EQ(-1, ub_check(self->map, self->base, 0, self->npages, 1));
	EXPECT_EQ(0, ub_sync(self->dbuf, DMA_BUF_SYNC_END |
				 DMA_BUF_SYNC_READ));

	/* The last unpin: the CPU mmaps follow again. */
	EXPECT_EQ(0, drmCloseBufferHandle(card, handle));
	EXPECT_EQ(-1, wait_split(vmap, self->base, self->npages, pfirst, pnr,
				 2));
	EXPECT_EQ(-1, check_split(self->map, self->base, self->npages,
				  pfirst, pnr, 2));

	munmap((void *)vmap, variant->buf_size);
	close(fd2);
	close(card);
}

TEST(list_several_memfds)
{
	struct udmabuf_create_list *list;
	const unsigned long n = 3, pages = 16;
	volatile uint64_t *map;
	uint64_t *mem[3];
	int memfd[3], dev, dbuf;
	unsigned long i, pg;

	dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_LE(0, dev);
	list = calloc(1, sizeof(*list) + n * sizeof(list->list[0]));
	ASSERT_NE(NULL, list);
	for (i = 0; i < n; i++) {
		memfd[i] = ub_memfd(UB_SHMEM, pages * PS);
		ASSERT_LE(0, memfd[i]);
		mem[i] = ub_map_memfd(UB_SHMEM, memfd[i], pages * PS);
		ASSERT_NE(NULL, mem[i]);
		/* Tag memfd i's pages as indices i * 100 + page. */
		for (pg = 0; pg < pages; pg++)
			ub_fill(mem[i] - (i * 100) * (PS / 8), i * 100 + pg,
				1, 1);
		list->list[i].memfd = memfd[i];
		list->list[i].offset = 4 * PS;
		list->list[i].size = 8 * PS;
	}
	list->count = n;
	dbuf = ioctl(dev, UDMABUF_CREATE_LIST, list);
	ASSERT_LE(0, dbuf);
	map = mmap(NULL, n * 8 * PS, PROT_READ, MAP_SHARED, dbuf, 0);
	ASSERT_NE(MAP_FAILED, map);
	for (i = 0; i < n; i++)
		ASSERT_EQ(-1, ub_check(map + i * 8 * (PS / 8), i * 100 + 4,
				       0, 8, 1));

	/* Punch and rewrite page 6 of every memfd (buffer page 2 of each). */
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, ub_punch(memfd[i], 6 * PS, PS));
		ub_fill(mem[i] - (i * 100) * (PS / 8), i * 100 + 6, 1, 2);
	}
	for (i = 0; i < n; i++) {
		volatile uint64_t *part = map + i * 8 * (PS / 8);

		EXPECT_EQ(-1, ub_check(part, i * 100 + 4, 0, 2, 1));
		EXPECT_EQ(-1, ub_check(part, i * 100 + 4, 2, 1, 2));
		EXPECT_EQ(-1, ub_check(part, i * 100 + 4, 3, 5, 1));
	}
	munmap((void *)map, n * 8 * PS);
	close(dbuf);
	for (i = 0; i < n; i++)
		close(memfd[i]);
	free(list);
	close(dev);
}

/*
 * A buffer beyond the first GiB of its memfd, where the kernel's map of the
 * watched pages has a bit for several pages: faults on the buffer's pages
 * still reach it, and a punch and refault of a neighbour under the same bit
 * (read back for nobody) leaves it as it was.  A raw reader, no SYNC.
 */
TEST(far_watch)
{
	const uint64_t far = 4UL << 30, win = 16;
	const unsigned long base = far / PS;
	volatile uint64_t *map;
	uint64_t *mem;
	int memfd, dev, dbuf;

	dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_LE(0, dev);
	memfd = ub_memfd(UB_SHMEM, far + win * PS);
	ASSERT_LE(0, memfd);
	mem = mmap(NULL, win * PS, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
		   far);
	ASSERT_NE(MAP_FAILED, mem);
	ub_fill(mem - base * (PS / 8), base, win, 1);
	dbuf = ub_create(dev, memfd, far + 4 * PS, 2 * PS);
	ASSERT_LE(0, dbuf);
	map = mmap(NULL, 2 * PS, PROT_READ, MAP_SHARED, dbuf, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(-1, ub_check(map, base + 4, 0, 2, 1));

	/*
	 * The buffer's pages and their neighbours, punched: the reader maps
	 * the holes (zero pages).  Rewritten: only the faults' updates take
	 * the zero pages away (see eager_off_control).
	 */
	ASSERT_EQ(0, ub_punch(memfd, far + 2 * PS, 6 * PS));
	ASSERT_EQ(0, map[0]);
	ASSERT_EQ(0, map[PS / 8]);
	ub_fill(mem - base * (PS / 8), base + 2, 6, 2);
	EXPECT_EQ(-1, ub_check(map, base + 4, 0, 2, 2));
	ASSERT_EQ(0, ub_punch(memfd, far + 6 * PS, PS));
	ub_fill(mem - base * (PS / 8), base + 6, 1, 3);
	EXPECT_EQ(-1, ub_check(map, base + 4, 0, 2, 2));

	munmap((void *)map, 2 * PS);
	munmap(mem, win * PS);
	close(dbuf);
	close(memfd);
	close(dev);
}

/* Is page @pg of @map present in this process's page table? */
static int page_present(const void *map, unsigned long pg)
{
	uint64_t ent = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return -1;
	if (pread(fd, &ent, sizeof(ent),
		  ((uintptr_t)map / PS + pg) * sizeof(ent)) != sizeof(ent))
		ent = 0;
	close(fd);
	return !!(ent >> 63);
}

/*
 * A hole that another buffer's creation fills (no fault, no write(2)),
 * then mapped by the fault-around of a read fault on a hole next to it:
 * the memfd mapping then writes that page without a fault of its own.  The
 * fault-around's update must reach the buffer over the page although the
 * fault-around did not map the faulting page, or the buffer's reader keeps
 * the zero page (found by udmabuf_fuzz).
 */
TEST(fault_around_neighbour)
{
	/* Page 5 is in the window of a fault on page 4 for any size >= 8K. */
	const unsigned long win = 16, nb = 5;
	volatile uint64_t *map;
	int memfd, dev, dbuf, other;
	uint64_t *mem;

	dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_LE(0, dev);
	memfd = ub_memfd(UB_SHMEM, win * PS);
	ASSERT_LE(0, memfd);
	mem = ub_map_memfd(UB_SHMEM, memfd, win * PS);
	ASSERT_NE(NULL, mem);
	ub_fill(mem, 0, win, 1);
	dbuf = ub_create(dev, memfd, nb * PS, PS);
	ASSERT_LE(0, dbuf);
	map = mmap(NULL, PS, PROT_READ, MAP_SHARED, dbuf, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(-1, ub_check(map, nb, 0, 1, 1));

	ASSERT_EQ(0, ub_punch(memfd, 0, win * PS));
	ASSERT_EQ(0, map[0]);
	other = ub_create(dev, memfd, nb * PS, PS);
	ASSERT_LE(0, other);
	ASSERT_EQ(0, page_present(mem, nb));
	ASSERT_EQ(0, mem[(nb - 1) * (PS / 8)]);
	/* What this test is about: the read mapped its neighbour too. */
	if (page_present(mem, nb) != 1)
		SKIP(goto out, "the read mapped no neighbour: fault_around_bytes");
	ub_fill(mem, nb, 1, 2);
	EXPECT_EQ(-1, ub_check(map, nb, 0, 1, 2));

out:
	munmap((void *)map, PS);
	munmap(mem, win * PS);
	close(other);
	close(dbuf);
	close(memfd);
	close(dev);
}

/* Punch memfd page @pg under a raw reader, read the hole, rewrite it. */
static long follow_one(int memfd, uint64_t *mem, volatile uint64_t *map,
		       unsigned long pg, unsigned int gen)
{
	if (ub_punch(memfd, pg * PS, PS) || map[0])
		return -2;
	ub_fill(mem, pg, 1, gen);
	return ub_check(map, pg, 0, 1, gen);
}

/*
 * The kernel's map of watched pages when watches go, with a raw reader (no
 * SYNC) of a buffer that stays:
 *  - a bit a page (watches within the first GiB): a neighbour in the same
 *    word of the map goes;
 *  - a bit for 8 pages (4 GiB in, word 2048 of the map): a watch 8 pages
 *    on, in the same word, goes;
 *  - the far watches go, and the map shrinks back to a bit a page.
 * The buffers that stay must still follow a punch and rewrite by faults.
 */
TEST(watch_map_removal)
{
	const unsigned long far = 1UL << 20;	/* pages: 4 GiB in */
	const unsigned long pages[4] = { 4, 5, far, far + 8 };
	volatile uint64_t *map[4];
	uint64_t *near, *tail, *farmem;
	int memfd, dev, dbuf[4], i;

	dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_LE(0, dev);
	memfd = ub_memfd(UB_SHMEM, (far + 16) * PS);
	ASSERT_LE(0, memfd);
	near = ub_map_memfd(UB_SHMEM, memfd, 16 * PS);
	ASSERT_NE(NULL, near);
	tail = mmap(NULL, 16 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
		    far * PS);
	ASSERT_NE(MAP_FAILED, tail);
	farmem = tail - far * (PS / 8);
	ub_fill(near, 0, 16, 1);
	ub_fill(farmem, far, 16, 1);
	for (i = 0; i < 4; i++) {
		/* The far ones come after the first removal. */
		if (i == 2) {
			munmap((void *)map[1], PS);
			close(dbuf[1]);
			EXPECT_EQ(-1, follow_one(memfd, near, map[0], 4, 2));
		}
		dbuf[i] = ub_create(dev, memfd, pages[i] * PS, PS);
		ASSERT_LE(0, dbuf[i]);
		map[i] = mmap(NULL, PS, PROT_READ, MAP_SHARED, dbuf[i], 0);
		ASSERT_NE(MAP_FAILED, map[i]);
	}
	EXPECT_EQ(-1, follow_one(memfd, farmem, map[2], far, 2));

	munmap((void *)map[3], PS);
	close(dbuf[3]);
	EXPECT_EQ(-1, follow_one(memfd, farmem, map[2], far, 3));
	EXPECT_EQ(-1, follow_one(memfd, near, map[0], 4, 3));

	munmap((void *)map[2], PS);
	close(dbuf[2]);
	EXPECT_EQ(-1, follow_one(memfd, near, map[0], 4, 4));

	munmap((void *)map[0], PS);
	close(dbuf[0]);
	munmap(tail, 16 * PS);
	munmap(near, 16 * PS);
	close(memfd);
	close(dev);
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct msghdr msg = { 0 };
	struct iovec iov;
	int fd = -1;
	char c;

	iov.iov_base = &c;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	if (recvmsg(sock, &msg, 0) != 1 || !CMSG_FIRSTHDR(&msg))
		return -1;
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
	return fd;
}

/* Buffers outlive their memfd and their creator, in any order. */
TEST(teardown_orders)
{
	volatile uint64_t *map;
	int dev, memfd, dbuf, status;
	uint64_t *mem;
	int sv[2];
	pid_t pid;

	dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_LE(0, dev);

	/*
	 * The memfd's fd is closed first: the mapping alone punches
	 * (MADV_REMOVE) and rewrites, then goes away too.
	 */
	memfd = ub_memfd(UB_SHMEM, 16 * PS);
	ASSERT_LE(0, memfd);
	mem = ub_map_memfd(UB_SHMEM, memfd, 16 * PS);
	ASSERT_NE(NULL, mem);
	ub_fill(mem, 0, 16, 1);
	dbuf = ub_create(dev, memfd, 0, 16 * PS);
	ASSERT_LE(0, dbuf);
	close(memfd);
	ASSERT_EQ(0, madvise(mem, PS, MADV_REMOVE));
	ub_fill(mem, 0, 1, 2);
	munmap(mem, 16 * PS);
	map = mmap(NULL, 16 * PS, PROT_READ, MAP_SHARED, dbuf, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(-1, ub_check(map, 0, 0, 1, 2));
	EXPECT_EQ(-1, ub_check(map, 0, 1, 15, 1));
	munmap((void *)map, 16 * PS);
	close(dbuf);

	/* The creator exits while another process holds the buffer. */
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
		struct msghdr msg = { 0 };
		struct cmsghdr *cmsg;
		struct iovec iov;
		char c = 0;
		int fd;

		fd = ub_memfd(UB_SHMEM, 16 * PS);
		mem = ub_map_memfd(UB_SHMEM, fd, 16 * PS);
		if (fd < 0 || !mem)
			_exit(1);
		ub_fill(mem, 0, 16, 1);
		fd = ub_create(dev, fd, 0, 16 * PS);
		if (fd < 0)
			_exit(1);
		iov.iov_base = &c;
		iov.iov_len = 1;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
		_exit(sendmsg(sv[1], &msg, 0) == 1 ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	dbuf = recv_fd(sv[0]);
	ASSERT_LE(0, dbuf);
	map = mmap(NULL, 16 * PS, PROT_READ, MAP_SHARED, dbuf, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(-1, ub_check(map, 0, 0, 16, 1));
	EXPECT_EQ(0, ub_sync(dbuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
	EXPECT_EQ(0, ub_sync(dbuf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ));
	munmap((void *)map, 16 * PS);
	close(dbuf);
	close(sv[0]);
	close(sv[1]);
	close(dev);
}

TEST_HARNESS_MAIN
