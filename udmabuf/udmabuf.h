/* SPDX-License-Identifier: GPL-2.0 */
/*
 * udmabuf: dma-bufs over memfd pages that follow page replacement.
 *
 * Internal interfaces between the parts of the module, in the order a fault
 * travels through them:
 *
 *  udmabuf_hint.c   the mmu notifier of every mm that created a buffer: a
 *                   fault's update op, and invalidations of memfd ranges
 *                   that mm maps, become hints on memfd indices;
 *  udmabuf_index.c  (memfd mapping, page index) -> the buffer segments
 *                   covering it; turns a hint into zaps of the buffers' CPU
 *                   mmaps and queued follow work, without sleeping locks;
 *  udmabuf_follow.c replacing buffer pages whose folio left the page cache,
 *                   from the follow work (hints) or a lazy access, and
 *                   telling the buffer's views;
 *  udmabuf_ops.c    the dma-buf exporter: attachments, pins, sg tables,
 *                   CPU mmap, vmap, CPU access;
 *  udmabuf_pin.c    FOLL_PIN pins of memfd folios, counted per folio;
 *  udmabuf_main.c   the uAPI (/dev/udmabuf, as Linux 6.12), creation and
 *                   the module.
 */
#ifndef UDMABUF_INTERNAL_H
#define UDMABUF_INTERNAL_H

#include <linux/atomic.h>
#include <linux/dma-buf.h>
#include <linux/interval_tree.h>
#include <linux/kref.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/seqlock.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

struct udmabuf_file;
struct udmabuf_mm;

/*
 * One FOLL_PIN pin of a folio, shared by every user of that pin: @ref counts
 * buffer pages (and map snapshot pages) using it, added and dropped per run
 * of pages, so a 2 MiB folio costs one atomic operation, not 512.
 */
struct udmabuf_pin {
	struct folio *folio;
	struct kref ref;
};

/*
 * A buffer page: @pfn, a page of @pin's folio.  Both change together under
 * udmabuf.lock; hints read @pfn without it (READ_ONCE), never @pin.
 */
struct udmabuf_page {
	struct udmabuf_pin *pin;
	unsigned long pfn;
};

/*
 * The buffer pages [@start, @start + @nr) are memfd pages [@it.start,
 * @it.last] of @memfd.  @it is in @file's index while the buffer lives.
 */
struct udmabuf_seg {
	struct interval_tree_node it;
	struct udmabuf *buf;
	struct udmabuf_file *file;
	struct file *memfd;
	pgoff_t start;
	pgoff_t nr;
};

static inline pgoff_t udmabuf_seg_first(const struct udmabuf_seg *seg)
{
	return seg->it.start;
}

/* An sg table or a vmap: a snapshot with a reference on every pin it uses. */
struct udmabuf_map {
	struct sg_table sgt;
	struct device *dev;
	enum dma_data_direction dir;
	unsigned long gen;
	void *vaddr;
	pgoff_t nr;
	bool contig;		/* @pages as created, see udmabuf_pages_ref() */
	struct udmabuf_page pages[];
};

struct udmabuf {
	/*
	 * The dma-buf holds one reference until release; work run when a
	 * punching task returns to user space holds others.
	 */
	struct kref ref;
	struct dma_buf *dmabuf;
	/*
	 * The dma-buf file's inode, held: its mapping has the CPU mmaps to
	 * zap.  Hints have no reference on the dma-buf file, and the inode
	 * may already be unhashed when release runs.
	 */
	struct inode *inode;
	struct udmabuf_mm *um;		/* the creator's mm, NULL if none */
	/*
	 * Protects @pages, @gen and @pinned.  Nests inside the reservation
	 * lock; never held while pinning, allocating, zapping or notifying.
	 */
	struct mutex lock;
	unsigned int pinned;		/* attachments pinned: frozen */
	unsigned long gen;		/* bumped on every replacement */
	pgoff_t pagecount;
	struct udmabuf_page *pages;
	unsigned int nr_segs;
	struct udmabuf_seg *segs;
	/* Hints in flight that found the buffer; release waits for them. */
	atomic_t hinting;
	/* Follow work: the buffer pages hints said may have changed. */
	struct delayed_work follow_work;
	/* Protects @pending_*, @gone_*, @await_* and @follow_stopped. */
	spinlock_t pending_lock;
	pgoff_t pending_lo, pending_hi;
	unsigned int pending_flags;	/* UDMABUF_LATER_* */
	unsigned int pending_tries;	/* left for invalidation hints */
	bool gone_working;		/* the work acts on such a hint */
	bool follow_stopped;		/* released: queue no more work */
	/*
	 * The buffer pages whose folio an invalidation hint said may have
	 * left the page cache, and that may not be followed yet: the mms'
	 * updates run while some buffer has any (udmabuf_await()).
	 */
	pgoff_t await_lo, await_hi;
	unsigned long await_gen;	/* bumped by every write of them */
	seqcount_spinlock_t await_seq;	/* lockless readers of them */
	/* Task work zapping what invalidations removed, see follow_gone. */
	struct callback_head gone_twork;
	struct task_struct *gone_task;	/* the task it is queued on */
	pgoff_t gone_lo, gone_hi;
	/* Protects @cpu_map (begin/end_cpu_access). */
	struct mutex map_lock;
	struct udmabuf_map *cpu_map;
	struct udmabuf_map *vmap;	/* under the reservation lock */
};

/* Event counters, shown in <debugfs>/udmabuf/stats. */
struct udmabuf_stats {
	atomic_long_t hints;		/* update hints on stale pages */
	atomic_long_t hint_zaps;	/* ... and zapped a CPU mmap */
	atomic_long_t inval_hints;	/* invalidation hints on buffers */
	atomic_long_t inval_zaps;	/* ... whose pages the work zapped */
	atomic_long_t eager_pages;	/* pages swapped by the follow work */
	atomic_long_t lazy_pages;	/* pages swapped by lazy accesses */
	atomic_long_t resyncs;		/* catch-ups after the last unpin */
	atomic_long_t no_subscription;	/* buffers whose mm could not follow */
	atomic_long_t update_resumes;	/* the mms' updates were turned on */
	atomic_long_t awaiting;		/* buffers awaiting a refault now */
};

extern struct udmabuf_stats udmabuf_stats;
extern bool udmabuf_follow_hints;
extern unsigned int udmabuf_update_delay_us;
extern const struct dma_buf_ops udmabuf_ops;
extern struct device *udmabuf_dma_dev;

/* udmabuf_ops.c */
void udmabuf_destroy(struct udmabuf *buf);
void udmabuf_put(struct udmabuf *buf);

/* udmabuf_pin.c */
int udmabuf_pin_pages(struct file *memfd, pgoff_t first, pgoff_t nr,
		      struct udmabuf_page *pages);
void udmabuf_pages_ref(struct udmabuf_page *pages, pgoff_t nr, bool get,
		       bool contig);
void udmabuf_pin_put(struct udmabuf_pin *pin);
int udmabuf_pin_init(void);
void udmabuf_pin_exit(void);

/* udmabuf_index.c */
int udmabuf_index_add(struct udmabuf *buf);
void udmabuf_index_del(struct udmabuf *buf);
/* The pfn of an invalidation hint. */
#define UDMABUF_HINT_GONE	ULONG_MAX
bool udmabuf_index_hint(struct address_space *mapping, pgoff_t lo,
			pgoff_t hi, unsigned long pfn);
bool udmabuf_index_may_cover(struct address_space *mapping, pgoff_t lo,
			     pgoff_t hi);
void udmabuf_index_exit(void);

/* udmabuf_hint.c */
void udmabuf_subscribe(struct udmabuf *buf);
void udmabuf_unsubscribe(struct udmabuf *buf);
void udmabuf_updates_want(bool want);

/* udmabuf_follow.c */
#define UDMABUF_FOLLOW_HOLES	BIT(0)	/* fill holes with new folios */
#define UDMABUF_FOLLOW_RESV	BIT(1)	/* the caller holds the resv lock */
#define UDMABUF_FOLLOW_WORK	BIT(2)	/* from the follow work */
int udmabuf_follow(struct udmabuf *buf, pgoff_t first, pgoff_t nr,
		   unsigned int flags, struct dma_buf_attachment *except);
#define UDMABUF_LATER_RESYNC	BIT(0)	/* zap every CPU mmap first */
#define UDMABUF_LATER_GONE	BIT(1)	/* an invalidation: zap what left */
void udmabuf_follow_later(struct udmabuf *buf, pgoff_t lo, pgoff_t hi,
			  unsigned int flags);
void udmabuf_follow_gone(struct udmabuf *buf, pgoff_t lo, pgoff_t hi);
bool udmabuf_follow_coming(struct udmabuf *buf, pgoff_t lo, pgoff_t hi);
void udmabuf_await_settle(struct udmabuf *buf);
void udmabuf_await_drop(struct udmabuf *buf);
void udmabuf_follow_init(struct udmabuf *buf);
void udmabuf_follow_stop(struct udmabuf *buf);
void udmabuf_zap(struct udmabuf *buf, pgoff_t first, pgoff_t nr);
bool udmabuf_page_stale(const struct udmabuf_seg *seg,
			const struct udmabuf_page *p, pgoff_t idx);
struct udmabuf_seg *udmabuf_seg_of(struct udmabuf *buf, pgoff_t pg);
int udmabuf_follow_wq_init(void);
void udmabuf_follow_wq_exit(void);

#endif /* UDMABUF_INTERNAL_H */
