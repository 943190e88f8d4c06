// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf_failnth: every udmabuf operation with each of its injection
 * points failing in turn (make test DEBUG=1; skipped on a kernel without
 * fault injection).
 *
 * For each operation, fail-nth is set to 1, 2, 3, ... until the operation
 * completes without reaching the injected failure.  At each N:
 *  - the operation succeeds, or fails with an errno the in-tree driver
 *    could return (ENOMEM; EFAULT for a user copy), and then leaves none
 *    of the module's buffers, pins or watches (its debugfs gauges) and,
 *    unless it is made of steps, no fd or mapping;
 *  - a CPU fault that cannot get a page ends in SIGBUS on hugetlb, and is
 *    retried on shmem as the memfd's own faults are (an alarm bounds
 *    both); what a write fault stored is in the memfd;
 *  - afterwards every view of the buffer (CPU mmap read directly, after
 *    DMA_BUF_IOCTL_SYNC, a kernel vmap, a dynamic importer's map) or of a
 *    fresh one reads what the memfd holds, also after a punch and a
 *    rewrite: no stale page, no foreign byte;
 *  - once everything is closed, the module's gauges are back where they
 *    were.
 * The runner checks the guest log and kmemleak, and that the modules
 * unload.  Each test prints how many injection points it passed through.
 */
#include "udmabuf_lib.h"

#include "failnth.h"
#include "udmabuf_importer_lib.h"
#include "kselftest_harness.h"

#define NPAGES		16	/* buffer pages of the single-range operations */
#define LIST		64	/* entries of CREATE_LIST */

struct ctx {
	int dev, imp, fnth;
	enum ub_kind kind;
	int memfd;
	size_t size;
	uint64_t *map;		/* the memfd, mapped shared */
	unsigned int gen;
	/* The buffer: its memfd page of each buffer page. */
	unsigned long bpages;
	unsigned long pgmap[LIST * 2];
	struct udmabuf_create_item items[LIST];
	unsigned int nitems;
	int dbuf;
	uint64_t *bmap;		/* its CPU mmap, or NULL */
	int slot;		/* an importer's attachment, or -1 */
	int vfd;		/* a held vmap, or -1 */
	char why[400];
	char report[1024];	/* a sweep's failure */
};

/* What memfd page @idx holds, read without faulting anything in. */
static int memfd_page(struct ctx *c, unsigned long idx, char *out)
{
	return pread(c->memfd, out, PS, idx * PS) == PS ? 0 : -1;
}

/*
 * Compare @len bytes of buffer content @got (from buffer page @first)
 * against the memfd; describe the first difference in c->why.
 */
static int compare(struct ctx *c, const char *view, const char *got,
		   unsigned long first, unsigned long npages)
{
	static char want[PS];
	unsigned long pg;

	for (pg = first; pg < first + npages; pg++) {
		if (memfd_page(c, c->pgmap[pg], want)) {
			snprintf(c->why, sizeof(c->why), "pread: %m");
			return -1;
		}
		if (memcmp(got + (pg - first) * PS, want, PS)) {
			snprintf(c->why, sizeof(c->why),
				 "%s: buffer page %lu (memfd page %lu) reads %#llx, the memfd holds %#llx",
				 view, pg, c->pgmap[pg],
				 (unsigned long long)*(uint64_t *)(got + (pg - first) * PS),
				 (unsigned long long)*(uint64_t *)want);
			return -1;
		}
	}
	return 0;
}

/* Every view of @dbuf against the memfd.  Unarmed. */
static int check_views(struct ctx *c, int dbuf)
{
	/* Static: a malloc() here would move glibc's heap between snapshots. */
	static char copy[LIST * PS];
	size_t len = c->bpages * PS;
	void *m;
	int slot, ret = -1;

	/* A CPU mmap read directly, as QEMU reads it. */
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, dbuf, 0);
	if (m == MAP_FAILED) {
		snprintf(c->why, sizeof(c->why), "mmap: %m");
		return -1;
	}
	ret = compare(c, "mmap", m, 0, c->bpages);
	/* The same after DMA_BUF_IOCTL_SYNC. */
	if (!ret && (ub_sync(dbuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ) ||
		     (ret = compare(c, "mmap after SYNC", m, 0, c->bpages)) ||
		     ub_sync(dbuf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ))) {
		if (!ret)
			snprintf(c->why, sizeof(c->why), "SYNC: %m");
		ret = -1;
	}
	munmap(m, len);
	if (ret)
		return ret;
	/* A kernel vmap. */
	if (ub_vmap_read(dbuf, 0, copy, len)) {
		snprintf(c->why, sizeof(c->why), "vmap read: %m");
		return -1;
	}
	ret = compare(c, "vmap", copy, 0, c->bpages);
	if (ret)
		return ret;
	/* A dynamic importer's map. */
	slot = imp_attach(c->imp, dbuf, UDMABUF_IMPORTER_ATTACH_DYNAMIC);
	if (slot < 0 || imp_op(c->imp, UDMABUF_IMPORTER_MAP, slot) ||
	    imp_read(c->imp, slot, 0, copy, len)) {
		snprintf(c->why, sizeof(c->why), "importer: %m");
		ret = -1;
	} else {
		ret = compare(c, "importer", copy, 0, c->bpages);
	}
	if (slot >= 0)
		imp_op(c->imp, UDMABUF_IMPORTER_DETACH, slot);
	return ret;
}

/* Create the buffer of c->items, unarmed, or -1 with c->why. */
static int create_items(struct ctx *c)
{
	struct {
		struct udmabuf_create_list head;
		struct udmabuf_create_item items[LIST];
	} l = { .head = { .flags = UDMABUF_FLAGS_CLOEXEC,
			  .count = c->nitems } };
	int fd;

	memcpy(l.items, c->items, c->nitems * sizeof(c->items[0]));
	fd = ioctl(c->dev, UDMABUF_CREATE_LIST, &l);
	if (fd < 0)
		snprintf(c->why, sizeof(c->why), "CREATE_LIST: %m");
	return fd;
}

/*
 * After the operation: its buffer (or a fresh one) shows the memfd, also
 * after a punch and a rewrite of one of its pages by write(2) and of
 * another by a fault, which run the module's watches (a watch left behind
 * by a failed create would be a use after free here).
 */
static int verify(struct ctx *c)
{
	unsigned long a = c->pgmap[1], b = c->pgmap[c->bpages - 1];
	uint64_t tag[PS / 8];
	int dbuf = c->dbuf, ret = -1;
	unsigned long w;

	if (dbuf < 0) {
		dbuf = create_items(c);
		if (dbuf < 0)
			return -1;
	}
	if (check_views(c, dbuf))
		goto close_fresh;
	c->gen++;
	if (c->kind == UB_HUGETLB) {
		/* A hugetlb punch frees whole huge pages only. */
		if (ub_punch(c->memfd, a / 512 * HPS, HPS) ||
		    ub_punch(c->memfd, b / 512 * HPS, HPS))
			goto punch_failed;
	} else if (ub_punch(c->memfd, a * PS, PS) ||
		   ub_punch(c->memfd, b * PS, PS)) {
		goto punch_failed;
	}
	for (w = 0; w < PS / 8; w++)
		tag[w] = ub_tag(a, c->gen);
	/* hugetlbfs has no write(2): both by faults there. */
	if (c->kind == UB_HUGETLB)
		ub_fill(c->map, a, 1, c->gen);
	else if (pwrite(c->memfd, tag, PS, a * PS) != PS)
		goto punch_failed;
	ub_fill(c->map, b, 1, c->gen);
	ret = check_views(c, dbuf);
	goto close_fresh;
punch_failed:
	snprintf(c->why, sizeof(c->why), "punch or rewrite: %m");
close_fresh:
	if (dbuf != c->dbuf)
		close(dbuf);
	return ret;
}

static void put_views(struct ctx *c)
{
	if (c->slot >= 0)
		imp_op(c->imp, UDMABUF_IMPORTER_DETACH, c->slot);
	c->slot = -1;
	if (c->vfd >= 0)
		close(c->vfd);
	c->vfd = -1;
	if (c->bmap)
		munmap(c->bmap, c->bpages * PS);
	c->bmap = NULL;
	if (c->dbuf >= 0)
		close(c->dbuf);
	c->dbuf = -1;
}

/*
 * A fresh memfd of @npages (or huge pages), each page tagged, with the
 * pages of @holes (a bitmask of the first 64) punched.
 */
static int new_memfd(struct ctx *c, unsigned long npages, uint64_t holes)
{
	unsigned long unit = c->kind == UB_HUGETLB ? HPS : PS;
	unsigned long i;

	c->size = npages * unit;
	c->memfd = ub_memfd(c->kind, c->size);
	if (c->memfd < 0)
		return -1;
	/* A plain mapping: put_memfd() leaves no reservation behind. */
	c->map = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      c->memfd, 0);
	if (c->map == MAP_FAILED) {
		c->map = NULL;
		return -1;
	}
	c->gen++;
	/* One tag per 4 KiB page; in a huge page, only the pages used. */
	for (i = 0; i < c->bpages; i++)
		ub_fill(c->map, c->pgmap[i], 1, c->gen);
	for (i = 0; i < npages && i < 64; i++)
		if (holes >> i & 1 && ub_punch(c->memfd, i * unit, unit))
			return -1;
	return 0;
}

static void put_memfd(struct ctx *c)
{
	if (c->map)
		munmap(c->map, c->size);
	c->map = NULL;
	if (c->memfd >= 0)
		close(c->memfd);
	c->memfd = -1;
}

/*
 * One range of NPAGES pages with holes: shmem pages 0..15, 4..7 punched;
 * on hugetlb the last 8 pages of huge page 0 and the first 8 of huge page
 * 1, which is punched.
 */
static int setup_range(void *arg)
{
	struct ctx *c = arg;
	bool huge = c->kind == UB_HUGETLB;
	unsigned long i, first = huge ? 512 - NPAGES / 2 : 0;

	c->bpages = NPAGES;
	for (i = 0; i < NPAGES; i++)
		c->pgmap[i] = first + i;
	if (new_memfd(c, huge ? 2 : NPAGES, huge ? 0x2 : 0xf0))
		return -1;
	c->nitems = 1;
	c->items[0] = (struct udmabuf_create_item){
		.memfd = c->memfd,
		.offset = first * PS,
		.size = NPAGES * PS,
	};
	return 0;
}

/*
 * CREATE_LIST: LIST entries of one page each, over a shmem memfd of 2 *
 * LIST pages (entry i: page 2i + 1 backwards), a quarter of them holes;
 * over hugetlb, entry i is a page of huge page i % 8, huge pages 4..7
 * holes that the create fills.
 */
static int setup_list(void *arg)
{
	struct ctx *c = arg;
	unsigned long i;

	c->bpages = LIST;
	c->nitems = LIST;
	for (i = 0; i < LIST; i++)
		c->pgmap[i] = c->kind == UB_HUGETLB ? i % 8 * 512 + i :
			2 * (LIST - 1 - i) + 1;
	if (new_memfd(c, c->kind == UB_HUGETLB ? 8 : 2 * LIST,
		      c->kind == UB_HUGETLB ? 0xf0 : 0x2222222222222222ULL))
		return -1;
	for (i = 0; i < LIST; i++)
		c->items[i] = (struct udmabuf_create_item){
			.memfd = c->memfd,
			.offset = c->pgmap[i] * PS,
			.size = PS,
		};
	return 0;
}

/* A buffer over setup_range(), created unarmed. */
static int setup_buffer(void *arg)
{
	struct ctx *c = arg;

	if (setup_range(c))
		return -1;
	c->dbuf = create_items(c);
	if (c->dbuf < 0)
		return -1;
	/*
	 * The create filled the memfd's holes: punch them again, so that
	 * the buffer has holes for the operation to fill (shmem pages
	 * 4..7; on hugetlb huge page 1, buffer pages 8..15).
	 */
	if (c->kind == UB_HUGETLB ? ub_punch(c->memfd, HPS, HPS) :
	    ub_punch(c->memfd, 4 * PS, 4 * PS)) {
		snprintf(c->why, sizeof(c->why), "punch: %m");
		return -1;
	}
	return 0;
}

static int ret_errno(int ret)
{
	return ret < 0 ? -errno : 0;
}

static int run_create(void *arg)
{
	struct ctx *c = arg;

	c->dbuf = ub_create(c->dev, c->memfd, c->items[0].offset,
			    c->items[0].size);
	return ret_errno(c->dbuf);
}

static int run_create_list(void *arg)
{
	struct ctx *c = arg;
	struct {
		struct udmabuf_create_list head;
		struct udmabuf_create_item items[LIST];
	} l = { .head = { .flags = UDMABUF_FLAGS_CLOEXEC, .count = LIST } };

	memcpy(l.items, c->items, sizeof(l.items));
	c->dbuf = ioctl(c->dev, UDMABUF_CREATE_LIST, &l);
	return ret_errno(c->dbuf);
}

static int setup_mmap(void *arg)
{
	struct ctx *c = arg;

	if (setup_buffer(c))
		return -1;
	c->bmap = mmap(NULL, c->bpages * PS, PROT_READ | PROT_WRITE,
		       MAP_SHARED, c->dbuf, 0);
	if (c->bmap == MAP_FAILED) {
		c->bmap = NULL;
		return -1;
	}
	return 0;
}

/*
 * The first faults of the mmap: a page the buffer has, a hole read (the
 * zero page) then written, and a hole written (each filled).  Pages 0, 8
 * and 9 on hugetlb, 0, 4 and 5 on shmem.
 */
static int run_fault(void *arg)
{
	struct ctx *c = arg;
	unsigned long hole = c->kind == UB_HUGETLB ? 8 : 4;
	volatile uint64_t *m = c->bmap;

	FAILNTH_FAULTS_BEGIN();
	(void)m[0];
	(void)m[hole * (PS / 8)];
	/* A write to the zero page (pfn_mkwrite), and to a hole unmapped. */
	m[hole * (PS / 8)] = ub_tag(hole, c->gen);
	m[(hole + 1) * (PS / 8)] = ub_tag(hole + 1, c->gen);
	FAILNTH_FAULTS_END();
	return 0;
}

/* What the fault run wrote is in the memfd, and every view shows it. */
static int check_fault(void *arg, int ret)
{
	struct ctx *c = arg;
	unsigned long hole = c->kind == UB_HUGETLB ? 8 : 4, pg;
	uint64_t word;

	for (pg = hole; !ret && pg <= hole + 1; pg++) {
		if (pread(c->memfd, &word, 8, c->pgmap[pg] * PS) != 8 ||
		    word != ub_tag(pg, c->gen)) {
			snprintf(c->why, sizeof(c->why),
				 "the write to buffer page %lu is not in the memfd",
				 pg);
			return -1;
		}
	}
	return verify(c);
}

static int run_sync(void *arg)
{
	struct ctx *c = arg;

	if (ub_sync(c->dbuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW))
		return -errno;
	return ret_errno(ub_sync(c->dbuf, DMA_BUF_SYNC_END |
				 DMA_BUF_SYNC_RW));
}

static char out[LIST * PS];

static int run_vmap(void *arg)
{
	struct ctx *c = arg;

	return ret_errno(ub_vmap_read(c->dbuf, 0, out, c->bpages * PS));
}

/* Attach, map and read, as an importer does; on failure, it detaches. */
static int run_import(struct ctx *c, uint32_t flags)
{
	int ret = 0;

	c->slot = imp_attach(c->imp, c->dbuf, flags);
	if (c->slot < 0)
		return -errno;
	if (imp_op(c->imp, UDMABUF_IMPORTER_MAP, c->slot) ||
	    imp_read(c->imp, c->slot, 0, out, c->bpages * PS)) {
		ret = -errno;
		imp_op(c->imp, UDMABUF_IMPORTER_DETACH, c->slot);
		c->slot = -1;
	}
	return ret;
}

static int run_import_dynamic(void *arg)
{
	return run_import(arg, UDMABUF_IMPORTER_ATTACH_DYNAMIC);
}

static int run_import_static(void *arg)
{
	return run_import(arg, 0);
}

/* What an operation that read the buffer into out[] got. */
static int check_read(void *arg, int ret)
{
	struct ctx *c = arg;

	if (!ret && compare(c, "the operation's read", out, 0, c->bpages))
		return -1;
	/*
	 * Mapped, the run's attachment pins the buffer (without
	 * CONFIG_DMABUF_MOVE_NOTIFY), which then keeps its pages through
	 * verify()'s punch by the dma-buf rules: detach it first.
	 */
	if (c->slot >= 0 && imp_op(c->imp, UDMABUF_IMPORTER_DETACH, c->slot)) {
		snprintf(c->why, sizeof(c->why), "detach: %m");
		return -1;
	}
	c->slot = -1;
	return verify(c);
}

/*
 * Punch and refault: the buffer's CPU mmap is mapped and read, a dynamic
 * importer attached (not mapped: with CONFIG_DMABUF_MOVE_NOTIFY unset a
 * mapped one would pin the buffer).
 */
static int setup_punch(void *arg)
{
	struct ctx *c = arg;
	unsigned long pg;

	if (setup_buffer(c))
		return -1;
	c->bmap = mmap(NULL, c->bpages * PS, PROT_READ, MAP_SHARED, c->dbuf,
		       0);
	if (c->bmap == MAP_FAILED) {
		c->bmap = NULL;
		return -1;
	}
	for (pg = 0; pg < c->bpages; pg++)
		(void)((volatile uint64_t *)c->bmap)[pg * (PS / 8)];
	c->slot = imp_attach(c->imp, c->dbuf,
			     UDMABUF_IMPORTER_ATTACH_DYNAMIC);
	return c->slot < 0 ? -1 : 0;
}

/*
 * shmem: punch buffer pages 1..4, refill 1 and 2 by faults, 3 by
 * write(2), leave 4 a hole.  hugetlb: punch huge page 0 (buffer pages
 * 0..7), refill buffer page 1 by a fault.
 */
static int run_punch(void *arg)
{
	struct ctx *c = arg;
	uint64_t tag[PS / 8];
	unsigned long w;

	c->gen++;
	if (c->kind == UB_HUGETLB) {
		if (ub_punch(c->memfd, 0, HPS))
			return -errno;
		FAILNTH_FAULTS_BEGIN();
		ub_fill(c->map, c->pgmap[1], 1, c->gen);
		FAILNTH_FAULTS_END();
		return 0;
	}
	if (ub_punch(c->memfd, c->pgmap[1] * PS, 4 * PS))
		return -errno;
	FAILNTH_FAULTS_BEGIN();
	ub_fill(c->map, c->pgmap[1], 2, c->gen);
	FAILNTH_FAULTS_END();
	for (w = 0; w < PS / 8; w++)
		tag[w] = ub_tag(c->pgmap[3], c->gen);
	if (pwrite(c->memfd, tag, PS, c->pgmap[3] * PS) != PS)
		return -errno;
	return 0;
}

/* The mapping held through the punch, read directly, shows the memfd. */
static int check_punch(void *arg, int ret)
{
	struct ctx *c = arg;

	if (compare(c, "mmap held through the punch", (char *)c->bmap, 0,
		    c->bpages))
		return -1;
	return verify(c);
}

/*
 * Views held, in some teardown order: the CPU mmap (read), a dynamic
 * importer's map and a vmap (each pins the buffer), the dma-buf fd.  A
 * page is punched while pinned, so that the last unpin has pages to let
 * go of, whichever view goes last.
 */
static int setup_views(void *arg)
{
	struct ctx *c = arg;

	if (setup_punch(c) || imp_op(c->imp, UDMABUF_IMPORTER_MAP, c->slot))
		return -1;
	c->vfd = ub_vmap_hold(c->dbuf);
	if (c->vfd < 0)
		return -1;
	return ub_punch(c->memfd, c->kind == UB_HUGETLB ? HPS :
			c->pgmap[2] * PS, c->kind == UB_HUGETLB ? HPS : PS);
}

/* The teardown order of run_teardown(): a permutation of 0..3. */
static int order[4];
/* The mmap as read after the last unpin, when it went last. */
static bool read_last;

static int run_teardown(void *arg)
{
	struct ctx *c = arg;
	int i, ret = 0;

	read_last = false;
	for (i = 0; i < 4; i++) {
		switch (order[i]) {
		case 0:
			close(c->dbuf);
			c->dbuf = -1;
			break;
		case 1:
			/* After both pins went: read what it shows now. */
			if (c->slot < 0 && c->vfd < 0) {
				memcpy(out, c->bmap, c->bpages * PS);
				read_last = true;
			}
			munmap(c->bmap, c->bpages * PS);
			c->bmap = NULL;
			break;
		case 2:
			if (imp_op(c->imp, UDMABUF_IMPORTER_DETACH, c->slot))
				ret = ret ?: -errno;
			else
				c->slot = -1;
			break;
		case 3:
			close(c->vfd);
			c->vfd = -1;
			break;
		}
	}
	return ret;
}

/*
 * The mmap read after the last unpin, if it outlived both pins, shows the
 * memfd: the page punched while pinned is gone from it.
 */
static int check_teardown(void *arg, int ret)
{
	struct ctx *c = arg;

	if (read_last && compare(c, "mmap after the last unpin", out, 0,
				 c->bpages))
		return -1;
	return verify(c);
}

/* After the operation: its buffer, or a fresh one, shows the memfd. */
static int check_verify(void *arg, int ret)
{
	return verify(arg);
}

static void put_all(void *arg)
{
	put_views(arg);
	put_memfd(arg);
}

FIXTURE(failnth) {
	struct ctx c;
};

FIXTURE_VARIANT(failnth) {
	enum ub_kind kind;
};

FIXTURE_VARIANT_ADD(failnth, shmem) {
	.kind = UB_SHMEM,
};

FIXTURE_VARIANT_ADD(failnth, hugetlb) {
	.kind = UB_HUGETLB,
};

FIXTURE_SETUP(failnth)
{
	struct ctx *c = &self->c;

	memset(c, 0, sizeof(*c));
	c->kind = variant->kind;
	c->memfd = c->dbuf = c->slot = c->vfd = -1;
	c->fnth = failnth_open();
	if (c->fnth < 0)
		SKIP(return, "no fault injection (make test DEBUG=1)");
	c->dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->dev);
	c->imp = open("/dev/udmabuf_importer", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->imp);
	ASSERT_LE(0, failnth_gauge(FAILNTH_UDMABUF, "live_buffers"))
		TH_LOG("no live gauges in %s", FAILNTH_UDMABUF);
	ASSERT_EQ(0, failnth_catch_faults());
}

FIXTURE_TEARDOWN(failnth)
{
	if (self->c.fnth < 0)
		return;
	close(self->c.imp);
	close(self->c.dev);
	close(self->c.fnth);
}

static const char *kind_name(const struct ctx *c)
{
	return c->kind == UB_HUGETLB ? "hugetlb" : "shmem";
}

/* Sweep @op; print the injection points it passed through. */
static int sweep(struct ctx *c, const struct failnth_op *op)
{
	int n = failnth_sweep(c->fnth, op, c, c->why, c->report,
			      sizeof(c->report));

	if (n >= 0)
		printf("# %s (%s): %d injection points passed\n", op->name,
		       kind_name(c), n);
	else
		printf("# %s (%s): %s\n", op->name, kind_name(c), c->report);
	return n;
}

#define SWEEP_TIMEOUT	600
#define UB_ERRNOS	{ ENOMEM, EFAULT }

TEST_F_TIMEOUT(failnth, create, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"UDMABUF_CREATE", setup_range, run_create, check_verify,
		put_all, UB_ERRNOS, .atomic = true,
	};

	ASSERT_LE(0, sweep(&self->c, &op));
}

TEST_F_TIMEOUT(failnth, create_list, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"UDMABUF_CREATE_LIST of 64", setup_list, run_create_list,
		check_verify, put_all, UB_ERRNOS, .atomic = true,
	};

	ASSERT_LE(0, sweep(&self->c, &op));
}

/*
 * A fault that cannot get a page: SIGBUS on hugetlb (an empty pool is no
 * OOM), VM_FAULT_OOM and a retry on shmem, as the memfd's own faults.
 */
TEST_F_TIMEOUT(failnth, first_fault, SWEEP_TIMEOUT)
{
	struct failnth_op op = {
		"first faults of the mmap", setup_mmap, run_fault,
		check_fault, put_all, { 0 },
		.sigbus = variant->kind == UB_HUGETLB,
	};

	ASSERT_LE(0, sweep(&self->c, &op));
}

TEST_F_TIMEOUT(failnth, sync, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"DMA_BUF_IOCTL_SYNC", setup_buffer, run_sync, check_verify,
		put_all, UB_ERRNOS,
	};

	ASSERT_LE(0, sweep(&self->c, &op));
}

TEST_F_TIMEOUT(failnth, vmap, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"vmap", setup_buffer, run_vmap, check_read, put_all,
		UB_ERRNOS, .atomic = true,
	};

	ASSERT_LE(0, sweep(&self->c, &op));
}

TEST_F_TIMEOUT(failnth, import_dynamic, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"dynamic importer attach, map, read", setup_buffer,
		run_import_dynamic, check_read, put_all, UB_ERRNOS,
		.atomic = true,
	};

	ASSERT_LE(0, sweep(&self->c, &op));
}

TEST_F_TIMEOUT(failnth, import_static, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"static importer attach, map, read", setup_buffer,
		run_import_static, check_read, put_all, UB_ERRNOS,
		.atomic = true,
	};

	ASSERT_LE(0, sweep(&self->c, &op));
}

TEST_F_TIMEOUT(failnth, punch_refault, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"punch and refault", setup_punch, run_punch, check_punch,
		put_all, { ENOMEM },
	};

	ASSERT_LE(0, sweep(&self->c, &op));
}

/* Every order of closing the dma-buf fd, the mmap, the importer, the vmap. */
TEST_F_TIMEOUT(failnth, teardown_orders, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"teardown", setup_views, run_teardown, check_teardown,
		put_all, { ENOMEM },
	};
	struct ctx *c = &self->c;
	int p, i, n, total = 0;

	for (p = 0; p < 24; p++) {
		int pool[4] = { 0, 1, 2, 3 }, left = 4, k = p;

		for (i = 0; i < 4; i++) {
			int j = k % left;

			k /= left;
			order[i] = pool[j];
			pool[j] = pool[--left];
		}
		n = failnth_sweep(c->fnth, &op, c, c->why, c->report,
				  sizeof(c->report));
		ASSERT_LE(0, n) TH_LOG("order %d%d%d%d: %s", order[0],
				       order[1], order[2], order[3],
				       c->report);
		total += n;
	}
	printf("# teardown in 24 orders (%s): %d injection points passed\n",
	       kind_name(c), total);
}

TEST_HARNESS_MAIN
