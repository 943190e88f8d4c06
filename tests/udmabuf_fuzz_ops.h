/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The model behind tests/udmabuf_fuzz.c: what each thread knows about its
 * own memfd, buffers, importer slots and anonymous memory, the failure and
 * trace records, the fds of every wrong kind with the errno Linux 6.12's
 * udmabuf gives for them, and the checks of what a view of a buffer shows.
 */
#ifndef UDMABUF_FUZZ_OPS_H
#define UDMABUF_FUZZ_OPS_H

#include "udmabuf_lib.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <pthread.h>
#include <time.h>

#include <xf86drm.h>

#include "udmabuf_importer/udmabuf_importer.h"
#include "../hmm-mirror/hmm_mirror_uapi.h"

#define W		(PS / 8)	/* 64-bit words in a page */
#define MPAGES		1024		/* pages of a thread's own memfd */
#define CHURN_PAGES	256		/* pages of the shared churn memfd */
#define NBUF		6		/* buffer records per thread */
#define NSLOT		UDMABUF_IMPORTER_SLOTS
#define ANON_PAGES	64		/* a thread's anonymous memory */
#define GUARD_PAGES	16		/* PROT_NONE on either side of it */
#define ANON_TAG	0x800000UL	/* ub_tag() index of anon page 0 */
#define GEN_MAX		0xfffff0U
#define GEN_PRIVATE	0xffffffU	/* children's writes no one may see */
#define CHURN_BIT	0x80000000U	/* a buffer page over the churn memfd */
#define LIST_CAP	1100		/* list items before the guard page */
#define TRACE		16		/* ops remembered per thread */

/* The fds a create may name, each with the errno 6.12 gives for it. */
enum fz_fdkind {
	FK_OWN,		/* the thread's sealed memfd: valid */
	FK_CHURN,	/* the shared sealed memfd: valid */
	FK_NOSEAL,	/* sealing allowed, no seal: EINVAL */
	FK_SEALWRITE,	/* F_SEAL_SHRINK | F_SEAL_WRITE: EINVAL */
	FK_FUTUREWRITE,	/* F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE: EINVAL */
	FK_NOSEALING,	/* no MFD_ALLOW_SEALING (F_SEAL_SEAL only): EINVAL */
	FK_GROW,	/* F_SEAL_GROW without F_SEAL_SHRINK: EINVAL */
	FK_TMPFS,	/* a tmpfs file, not a memfd: EINVAL */
	FK_REGULAR,	/* a regular file (9p): EBADFD */
	FK_PIPE,
	FK_NULL,	/* /dev/null */
	FK_EVENTFD,
	FK_DMABUF,	/* a udmabuf itself */
	FK_UDEV,	/* /dev/udmabuf */
	FK_VGEM,	/* a vgem card */
	FK_VGEMBUF,	/* a dma-buf that vgem exported */
	FK_CLOSED,	/* a number no fd can have */
	FK_NEG,		/* -1 */
	FK_INTMIN,
	FK_NR
};

struct fz_fdinfo {
	const char *name;
	int fd;			/* -1 with avail unset: not on this system */
	bool avail;
	int err;		/* errno of a create naming it */
	uint64_t size;		/* of a memfd or tmpfs file */
};

/* Where each thread is, for a watchdog process with an mm of its own. */
struct fz_status {
	atomic_int done;
	struct {
		unsigned long step;
		int op;			/* index in fz_ops[], -1 outside ops */
	} th[64];
};

struct fuzz {
	unsigned int seconds, nthreads;
	uint64_t seed;
	double deadline;
	atomic_bool stop;		/* a thread failed */
	int dev;			/* /dev/udmabuf */
	int churn;			/* the shared memfd */
	volatile uint64_t *churn_map;
	struct fz_fdinfo fds[FK_NR];
	long list_limit, size_limit_mb;
	bool importer, imp_read, move_notify, vmap, hmm, vgem;
	bool trace;			/* print every op as it starts */
	bool no_hmm_release;		/* leave HMM_DMIRROR_RELEASE out */
	struct fz_status *status;	/* shared with the watchdog process */
};

/* One buffer record; pg[i] is the memfd page of buffer page i. */
struct fz_buf {
	bool used;		/* the fd is open or an importer holds it */
	int fd;			/* -1 once closed */
	unsigned long id;	/* for messages */
	unsigned long npages;
	uint32_t *pg;		/* | CHURN_BIT for pages of the churn memfd */
	volatile uint64_t *map;	/* CPU mmap of buffer pages [0, map_pages) */
	unsigned long map_pages;
	bool map_write;
	bool hugetlb;		/* over hugetlb pages: ENOMEM is allowed */
	int pins;		/* pins that freeze it, as the model counts */
	int vmap_fd;		/* a held vmap, or -1 */
	uint32_t vgem;		/* vgem handle of an import (static), or 0 */
};

/* An importer slot as the model knows it. */
struct fz_slot {
	int buf;		/* record index, -1 when free */
	bool dynamic, mapped, pinned;
};

/* What a fork child found wrong, for the parent to report. */
struct fz_report {
	int bad;
	int buf;
	unsigned long page;
	uint32_t m;
	uint64_t w0, w1, want;
};

struct fz_thread {
	struct fuzz *f;
	int id;
	pthread_t th;
	uint64_t rng;
	unsigned long step, nops, ops[32];
	/* Pages checked as following and as frozen or shared, holes among the
	 * first; errnos allowed (ENOMEM, EBUSY...) that came. */
	unsigned long n_strict, n_weak, n_holes, n_allowed;
	const char *op;
	char trace[TRACE][160];
	char fail[2048];
	char model[2048];		/* records and slots at the failure */

	enum ub_kind kind;
	int memfd;
	uint64_t *mem;			/* shared mapping of the memfd */
	uint64_t *priv;			/* MAP_PRIVATE mapping, never written */
	uint32_t cur[MPAGES];		/* generation of each page, 0: zero */
	uint32_t maxgen[MPAGES];	/* newest generation ever written */
	bool present[MPAGES];		/* written since the last punch */
	uint32_t gen;
	unsigned long next_id;
	struct fz_buf bufs[NBUF];

	int imp;			/* /dev/udmabuf_importer */
	struct fz_slot slots[NSLOT];
	int card;			/* vgem, -1 if none */
	int hmm, hmm_dev;		/* /dev/hmm_dmirrorN */
	char *area;			/* guard, anon, guard */
	uint64_t *anon;
	uint32_t anon_cur[ANON_PAGES];
	uint64_t *scratch;		/* MPAGES pages for reads */
	char *list_area;		/* LIST_CAP items, then a guard page */
	size_t list_len;
	char *guard;			/* a PROT_NONE page */
	struct fz_report *report;	/* shared with fork children */
};

static inline double fz_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* splitmix64: each thread's own sequence, from seed + thread index. */
static inline uint64_t rnd(struct fz_thread *t)
{
	uint64_t z = (t->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t below(struct fz_thread *t, uint64_t n)
{
	return n ? rnd(t) % n : 0;
}

/* True with probability @num / @den. */
static inline bool chance(struct fz_thread *t, unsigned int num,
			  unsigned int den)
{
	return below(t, den) < num;
}

/* A run length: mostly short, sometimes up to @max. */
static inline unsigned long rand_len(struct fz_thread *t, unsigned long max)
{
	unsigned long cap = chance(t, 6, 10) ? 16 : chance(t, 3, 4) ? 128 : max;

	return 1 + below(t, cap < max ? cap : max);
}

/* The first failure of a thread: stops every thread. */
static inline __attribute__((format(printf, 2, 3)))
void fz_fail(struct fz_thread *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->fail[0])
		return;
	n = snprintf(t->fail, sizeof(t->fail), "thread %d step %lu op %s: ",
		     t->id, t->step, t->op);
	va_start(ap, fmt);
	vsnprintf(t->fail + n, sizeof(t->fail) - n, fmt, ap);
	va_end(ap);
	atomic_store(&t->f->stop, true);
}

/*
 * What the op of this step does, for the trace printed on failure; a
 * second note of the same step is appended to the first.
 */
static inline __attribute__((format(printf, 2, 3)))
void fz_note(struct fz_thread *t, const char *fmt, ...)
{
	char *s = t->trace[t->step % TRACE], head[48];
	size_t len = sizeof(t->trace[0]);
	va_list ap;
	int n;

	n = snprintf(head, sizeof(head), "step %lu %s: ", t->step, t->op);
	if (!strncmp(s, head, n)) {
		n = strlen(s);
		if (n + 3 >= (int)len)
			return;
		n += snprintf(s + n, len - n, "; ");
	} else {
		n = snprintf(s, len, "%s", head);
	}
	va_start(ap, fmt);
	vsnprintf(s + n, len - n, fmt, ap);
	va_end(ap);
	if (t->f->trace)
		fprintf(stderr, "# thread %d %s\n", t->id, s);
}

/* A call that must succeed (@ok: errnos allowed besides, 0-terminated). */
static inline bool fz_expect_ok(struct fz_thread *t, long ret, int err,
				const int *ok, const char *what)
{
	if (ret >= 0)
		return true;
	for (; ok && *ok; ok++) {
		if (err == *ok) {
			t->n_allowed++;
			return false;
		}
	}
	fz_fail(t, "%s: %s (errno %d), want success", what, strerror(err),
		err);
	return false;
}

/* A call that must fail with @want. */
static inline void fz_expect_err(struct fz_thread *t, long ret, int err,
				 int want, const char *what)
{
	if (ret >= 0)
		fz_fail(t, "%s: succeeded (%ld), want %s", what, ret,
			strerror(want));
	else if (err != want)
		fz_fail(t, "%s: %s (errno %d), want %s (errno %d)", what,
			strerror(err), err, strerror(want), want);
}

/* Call @call, which must fail with @want (errno read after the call). */
#define FZ_ERR(t, call, want, what) do {				\
	long __ret = (call);						\
	int __err = errno;						\
									\
	fz_expect_err(t, __ret, __err, want, what);			\
} while (0)

/* Is @err in the 0-terminated list @ok? */
static inline bool fz_in(int err, const int *ok)
{
	for (; *ok; ok++)
		if (err == *ok)
			return true;
	return false;
}

/*
 * The model of the thread's memfd: generation g written to page m shows
 * ub_tag(m, g) in every word, a hole or a zeroed page shows 0.
 */
static inline uint64_t fz_want(const struct fz_thread *t, uint32_t m)
{
	return t->cur[m] ? ub_tag(m, t->cur[m]) : 0;
}

static inline void fz_written(struct fz_thread *t, uint32_t m, uint32_t gen)
{
	t->cur[m] = gen;
	t->present[m] = true;
	if (gen > t->maxgen[m])
		t->maxgen[m] = gen;
}

static inline void fz_punched(struct fz_thread *t, unsigned long first,
			      unsigned long nr)
{
	unsigned long m;

	for (m = first; m < first + nr; m++) {
		t->cur[m] = 0;
		t->present[m] = false;
	}
}

static inline uint32_t fz_next_gen(struct fz_thread *t)
{
	if (t->gen >= GEN_MAX)
		t->gen = GEN_MAX - 1;	/* never reached in a run */
	return ++t->gen;
}

/*
 * A word a frozen (pinned) view, or any view of the shared churn memfd,
 * may show for memfd page @m: zero, or a tag of that very page of a
 * generation that was written.  Anything else (another page's tag, a
 * child's private write, an anon tag, garbage) is foreign.
 */
static inline bool fz_weak_ok(const struct fz_thread *t, uint32_t m,
			      uint64_t v)
{
	uint32_t g = v & 0xffffff;

	if (!v)
		return true;
	/* Other threads write it while a kernel copy reads it. */
	if (m & CHURN_BIT)
		return (v >> 24 == (TAG_MAGIC << 24 | (m & ~CHURN_BIT)) && g) ||
		       ub_torn_tag(v, m & ~CHURN_BIT);
	return v >> 24 == (TAG_MAGIC << 24 | m) && g && g <= t->maxgen[m];
}

/*
 * May buffer page @i show first and last words @w0, @w1?  Unpinned
 * (@strict), a buffer follows: it shows what the memfd has now (udmabuf/
 * README.md, "The dma-buf rules").  Pinned, it is frozen: a tag of the
 * right page, or zero, one value for the whole page.  Pages of the shared
 * churn memfd, which other threads punch and write, may show any tag of
 * the right page, or zero.  Nothing here may call into libc: fork
 * children use it.
 */
static inline bool fz_page_ok(const struct fz_thread *t,
			      const struct fz_buf *b, unsigned long i,
			      uint64_t w0, uint64_t w1, bool strict)
{
	uint32_t m = b->pg[i];
	uint64_t want;

	if (m & CHURN_BIT)
		return fz_weak_ok(t, m, w0) && fz_weak_ok(t, m, w1);
	want = fz_want(t, m);
	if (strict)
		return w0 == want && w1 == want;
	return w0 == w1 && fz_weak_ok(t, m, w0);
}

/* The same, with the failure described. */
static inline bool fz_check_page(struct fz_thread *t, const struct fz_buf *b,
				 unsigned long i, uint64_t w0, uint64_t w1,
				 bool strict, const char *view)
{
	uint32_t m = b->pg[i];

	if (strict && !(m & CHURN_BIT)) {
		t->n_strict++;
		t->n_holes += !t->cur[m] && !t->present[m];
	} else {
		t->n_weak++;
	}
	if (fz_page_ok(t, b, i, w0, w1, strict))
		return true;
	if (m & CHURN_BIT) {
		fz_fail(t, "%s of buffer #%lu page %lu (churn memfd page %u): words %#llx, %#llx, neither zero nor a tag of that page",
			view, b->id, i, m & ~CHURN_BIT,
			(unsigned long long)w0, (unsigned long long)w1);
		return false;
	}
	fz_fail(t, "%s of buffer #%lu page %lu (memfd page %u): words %#llx, %#llx; want %s%#llx (generation %u, newest %u, %s); buffer pins %d",
		view, b->id, i, m, (unsigned long long)w0,
		(unsigned long long)w1,
		strict ? "" : "(frozen) zero or a tag up to the newest, as ",
		(unsigned long long)fz_want(t, m), t->cur[m], t->maxgen[m],
		t->present[m] ? "written since its last punch" :
				"punched or zeroed since",
		b->pins);
	return false;
}

/* The CPU mmap of a buffer, read directly, without DMA_BUF_IOCTL_SYNC. */
static inline bool fz_check_map(struct fz_thread *t, const struct fz_buf *b,
				const char *view)
{
	unsigned long i;

	if (!b->map)
		return true;
	for (i = 0; i < b->map_pages; i++)
		if (!fz_check_page(t, b, i, b->map[i * W],
				   b->map[i * W + W - 1], !b->pins, view))
			return false;
	return true;
}

/*
 * A copy of buffer pages [0, npages) that another view made (importer,
 * vmap): the same rules, and, where @same_as_map, the same words as the
 * CPU mmap (one dma-buf, one content, while its pages do not move).
 */
static inline bool fz_check_copy(struct fz_thread *t, const struct fz_buf *b,
				 const uint64_t *copy, bool strict,
				 bool same_as_map, const char *view)
{
	unsigned long i;

	for (i = 0; i < b->npages; i++) {
		uint64_t w0 = copy[i * W], w1 = copy[i * W + W - 1];

		if (!fz_check_page(t, b, i, w0, w1, strict, view))
			return false;
		if (!same_as_map || !b->map || i >= b->map_pages ||
		    (b->pg[i] & CHURN_BIT))
			continue;
		if (w0 != b->map[i * W] || w1 != b->map[i * W + W - 1]) {
			fz_fail(t, "%s of buffer #%lu page %lu (memfd page %u): %#llx, %#llx, but its mmap shows %#llx, %#llx (pins %d)",
				view, b->id, i, b->pg[i],
				(unsigned long long)w0, (unsigned long long)w1,
				(unsigned long long)b->map[i * W],
				(unsigned long long)b->map[i * W + W - 1],
				b->pins);
			return false;
		}
	}
	return true;
}

/* Every live mapping of every buffer of the thread, and its anon memory. */
static inline bool fz_check_all(struct fz_thread *t, const char *view)
{
	unsigned long i;
	int k;

	for (k = 0; k < NBUF; k++)
		if (t->bufs[k].used && !fz_check_map(t, &t->bufs[k], view))
			return false;
	for (i = 0; i < ANON_PAGES; i++) {
		uint64_t want = t->anon_cur[i] ?
				ub_tag(ANON_TAG + i, t->anon_cur[i]) : 0;
		volatile uint64_t *p = t->anon + i * W;

		if (p[0] != want || p[W - 1] != want) {
			fz_fail(t, "anon page %lu: words %#llx, %#llx, want %#llx (%s)",
				i, (unsigned long long)p[0],
				(unsigned long long)p[W - 1],
				(unsigned long long)want, view);
			return false;
		}
	}
	return true;
}

/*
 * The errno Linux 6.12's udmabuf gives for @count items (udmabuf_create()
 * of drivers/dma-buf/udmabuf.c, as udmabuf/udmabuf_main.c keeps it):
 * alignment and the size limit over all items first, then no pages at
 * all, then item by item the fd (EBADFD unless it is shmem or hugetlbfs),
 * its seals (EINVAL) and the range (EINVAL: empty, overflowing or past
 * the end).  Unknown flags are ignored, as 6.12 does.
 */
static inline int fz_create_errno(const struct fuzz *f,
				  const struct udmabuf_create_item *items,
				  const enum fz_fdkind *kinds, uint32_t count)
{
	uint64_t pglimit = (uint64_t)f->size_limit_mb << 8, pgcnt = 0;
	uint32_t i;

	for (i = 0; i < count; i++) {
		if ((items[i].offset | items[i].size) & (PS - 1))
			return EINVAL;
		pgcnt += items[i].size / PS;
		if (pgcnt > pglimit)
			return EINVAL;
	}
	if (!pgcnt)
		return EINVAL;
	for (i = 0; i < count; i++) {
		const struct fz_fdinfo *fi = &f->fds[kinds[i]];
		uint64_t end = items[i].offset + items[i].size;

		if (fi->err)
			return fi->err;
		if (!items[i].size || end < items[i].offset || end > fi->size)
			return EINVAL;
	}
	return 0;
}

/* Is the new fd's FD_CLOEXEC what UDMABUF_FLAGS_CLOEXEC in @flags says? */
static inline void fz_check_cloexec(struct fz_thread *t, int fd,
				    uint32_t flags)
{
	int fdf = fcntl(fd, F_GETFD);

	if (fdf < 0 ||
	    !!(fdf & FD_CLOEXEC) != !!(flags & UDMABUF_FLAGS_CLOEXEC))
		fz_fail(t, "fd %d of a create with flags %#x: FD_CLOEXEC %s",
			fd, flags, fdf < 0 ? "unknown" :
			fdf & FD_CLOEXEC ? "set" : "clear");
}

/* --- buffer records and importer slots, as the model keeps them ------- */

static const int ok_nomem[] = { ENOMEM, 0 };
static const int ok_none[] = { 0 };

/* ENOMEM is what a hugetlb buffer gets when the pool is empty. */
static const int *buf_ok(const struct fz_buf *b)
{
	return b->hugetlb ? ok_nomem : ok_none;
}

static int slot_of_buf(struct fz_thread *t, int k)
{
	int s;

	for (s = 0; s < NSLOT; s++)
		if (t->slots[s].buf == k)
			return s;
	return -1;
}

/* Forget a record once its fd is closed and no importer slot holds it. */
static void buf_put(struct fz_thread *t, int k)
{
	struct fz_buf *b = &t->bufs[k];

	if (!b->used || b->fd >= 0 || slot_of_buf(t, k) >= 0)
		return;
	free(b->pg);
	memset(b, 0, sizeof(*b));
	b->fd = -1;
	b->vmap_fd = -1;
}

/* What a slot pins (the model of the dma-buf core, udmabuf/README.md). */
static int slot_pins(const struct fuzz *f, const struct fz_slot *s)
{
	if (!s->dynamic)
		return 1;	/* a static attachment, for its lifetime */
	return s->pinned + (s->mapped && !f->move_notify);
}

static void slot_forget(struct fz_thread *t, int s)
{
	int k = t->slots[s].buf;

	t->bufs[k].pins -= slot_pins(t->f, &t->slots[s]);
	memset(&t->slots[s], 0, sizeof(t->slots[s]));
	t->slots[s].buf = -1;
	buf_put(t, k);
}

static void slot_detach(struct fz_thread *t, int s)
{
	if (ioctl(t->imp, UDMABUF_IMPORTER_DETACH, s))
		fz_fail(t, "UDMABUF_IMPORTER_DETACH slot %d: %s", s,
			strerror(errno));
	slot_forget(t, s);
}

/* Close everything of record @k: mapping, vmap, vgem import, fd. */
static void buf_close(struct fz_thread *t, int k, bool detach)
{
	struct fz_buf *b = &t->bufs[k];
	int s;

	if (b->map)
		munmap((void *)b->map, b->map_pages * PS);
	b->map = NULL;
	if (b->vmap_fd >= 0) {
		close(b->vmap_fd);
		b->vmap_fd = -1;
		b->pins--;
	}
	if (b->vgem) {
		drmCloseBufferHandle(t->card, b->vgem);
		b->vgem = 0;
		b->pins--;
	}
	for (s = 0; detach && s < NSLOT; s++)
		if (t->slots[s].buf == k)
			slot_detach(t, s);
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	buf_put(t, k);
}

/* A free record for a new buffer, closing a random one if need be. */
static int buf_slot(struct fz_thread *t)
{
	int k;

	for (k = 0; k < NBUF; k++)
		if (!t->bufs[k].used)
			return k;
	k = below(t, NBUF);
	buf_close(t, k, true);
	return k;
}

/* A random record with an open fd (and, if @own, over the own memfd only). */
static int buf_pick(struct fz_thread *t, bool own)
{
	int k, n = 0, cand[NBUF];
	unsigned long i;

	for (k = 0; k < NBUF; k++) {
		struct fz_buf *b = &t->bufs[k];

		if (!b->used || b->fd < 0)
			continue;
		for (i = 0; own && i < b->npages; i++)
			if (b->pg[i] & CHURN_BIT)
				break;
		if (!own || i == b->npages)
			cand[n++] = k;
	}
	return n ? cand[below(t, n)] : -1;
}

/* Map a new buffer into record @k, and check what it shows. */
static void buf_install(struct fz_thread *t, int k, int fd, uint32_t *pg,
			unsigned long npages, bool hugetlb)
{
	struct fz_buf *b = &t->bufs[k];
	void *p;

	memset(b, 0, sizeof(*b));
	b->used = true;
	b->fd = fd;
	b->id = ++t->next_id;
	b->pg = pg;
	b->npages = npages;
	b->hugetlb = hugetlb;
	b->vmap_fd = -1;
	b->map_write = chance(t, 1, 2);
	p = mmap(NULL, npages * PS,
		 PROT_READ | (b->map_write ? PROT_WRITE : 0), MAP_SHARED, fd,
		 0);
	if (p == MAP_FAILED) {
		fz_fail(t, "mmap of buffer #%lu (%lu pages): %s", b->id,
			npages, strerror(errno));
		return;
	}
	b->map = p;
	b->map_pages = npages;
	fz_check_map(t, b, "mmap of a new buffer");
}

/* --- changes to the thread's memfd ------------------------------------- */

/* A range of the own memfd; huge page aligned, sometimes, for THP/hugetlb. */
static void rand_range(struct fz_thread *t, unsigned long *first,
		       unsigned long *nr, unsigned long max)
{
	unsigned long hp = HPS / PS;

	if (t->kind != UB_SHMEM && chance(t, 1, 2)) {
		*first = below(t, MPAGES / hp) * hp;
		*nr = hp * (1 + below(t, (MPAGES - *first) / hp));
		return;
	}
	*nr = rand_len(t, max);
	*first = below(t, MPAGES - *nr + 1);
}

/* Punch memfd pages [first, +nr), by this task or by a kernel thread. */
static bool fz_punch(struct fz_thread *t, unsigned long first,
		     unsigned long nr)
{
	struct udmabuf_vmap_punch p = {
		.fd = t->memfd,
		.offset = first * PS,
		.len = nr * PS,
	};
	bool kthread = t->f->vmap && chance(t, 1, 5);
	int ret, fd, err;

	if (kthread) {
		fd = open("/dev/udmabuf_vmap", O_RDWR | O_CLOEXEC);
		ret = fd < 0 ? -1 : ioctl(fd, UDMABUF_VMAP_PUNCH, &p);
		err = errno;
		if (fd >= 0)
			close(fd);
	} else {
		ret = ub_punch(t->memfd, first * PS, nr * PS);
		err = errno;
	}
	if (ret) {
		fz_fail(t, "punch of memfd pages [%lu, +%lu)%s: %s", first, nr,
			kthread ? " by a kernel thread" : "", strerror(err));
		return false;
	}
	fz_punched(t, first, nr);
	return true;
}

static long hmm_cmd(struct fz_thread *t, unsigned long req, uint64_t addr,
		    uint64_t npages, void *ptr, struct hmm_dmirror_cmd *out)
{
	struct hmm_dmirror_cmd c = {
		.addr = addr,
		.ptr = (uintptr_t)ptr,
		.npages = npages,
	};
	long ret = ioctl(t->hmm, req, &c);

	if (out)
		*out = c;
	return ret;
}

static const char * const how_name[] = {
	"the memfd mapping", "pwrite", "a device write", "a buffer mmap",
};

/*
 * Write a new generation to memfd pages [first, +nr): through the memfd
 * mapping, pwrite(2) (not hugetlbfs), a device write of hmm_mirror, or a
 * writable mmap of an unpinned buffer where the page is no hole (a write
 * there into a hole would be one that only that buffer sees: README.md).
 */
static void fz_rewrite(struct fz_thread *t, unsigned long first,
		       unsigned long nr)
{
	uint32_t gen = fz_next_gen(t);
	unsigned int how = below(t, 4);
	unsigned long m, i, w;
	int k;

	if (how == 1 && t->kind == UB_HUGETLB)
		how = 0;
	if (how == 2 && (t->hmm < 0 || nr > 64))
		how = 0;
	fz_note(t, "%s generation %u to memfd pages [%lu, +%lu) through %s",
		t->op, gen, first, nr, how_name[how]);
	if (how == 1 || how == 2) {
		for (m = 0; m < nr; m++)
			for (w = 0; w < W; w++)
				t->scratch[m * W + w] = ub_tag(first + m, gen);
	}
	if (how == 1) {
		if (pwrite(t->memfd, t->scratch, nr * PS, first * PS) !=
		    (ssize_t)(nr * PS)) {
			fz_fail(t, "pwrite of memfd pages [%lu, +%lu): %s",
				first, nr, strerror(errno));
			return;
		}
	} else if (how == 2) {
		struct hmm_dmirror_cmd c;
		long ret = hmm_cmd(t, HMM_DMIRROR_WRITE,
				   (uintptr_t)(t->mem + first * W), nr,
				   t->scratch, &c);
		int err = errno;

		if (ret && err != EBUSY) {
			fz_fail(t, "HMM_DMIRROR_WRITE of memfd pages [%lu, +%lu) on device %d: %s",
				first, nr, t->hmm_dev, strerror(err));
			return;
		}
		/* Contention (mirrors cover the whole mm): write again. */
		if (ret)
			ub_fill(t->mem, first, nr, gen);
	} else if (how == 3) {
		k = buf_pick(t, false);
		if (k >= 0 && (!t->bufs[k].map || !t->bufs[k].map_write ||
			       t->bufs[k].pins))
			k = -1;
		for (i = 0; k >= 0 && i < t->bufs[k].map_pages; i++) {
			m = t->bufs[k].pg[i];
			if ((m & CHURN_BIT) || m < first || m >= first + nr ||
			    !t->present[m])
				continue;
			for (w = 0; w < W; w++)
				t->bufs[k].map[i * W + w] = ub_tag(m, gen);
			fz_written(t, m, gen);
		}
		/* The rest through the memfd mapping. */
		for (m = first; m < first + nr; m++)
			if (t->cur[m] != gen)
				ub_fill(t->mem, m, 1, gen);
	} else {
		ub_fill(t->mem, first, nr, gen);
	}
	for (m = first; m < first + nr; m++)
		fz_written(t, m, gen);
}

/* A copy of memfd pages [first, +nr) in t->scratch against the model. */
static void fz_check_memcopy(struct fz_thread *t, unsigned long first,
			  unsigned long nr, const char *what)
{
	unsigned long i;

	for (i = 0; i < nr; i++) {
		uint64_t want = fz_want(t, first + i);
		uint64_t *p = t->scratch + i * W;

		if (p[0] != want || p[W - 1] != want) {
			fz_fail(t, "%s: memfd page %lu reads %#llx, %#llx, want %#llx",
				what, first + i, (unsigned long long)p[0],
				(unsigned long long)p[W - 1],
				(unsigned long long)want);
			return;
		}
	}
}

#endif /* UDMABUF_FUZZ_OPS_H */
