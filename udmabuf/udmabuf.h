/* SPDX-License-Identifier: GPL-2.0 */
/*
 * udmabuf: dma-bufs over memfd pages that follow page replacement.
 *
 * Internal interfaces between the parts of the module, in the order a
 * removal or a fault travels through them:
 *
 *  udmabuf_follow.c  the buffer's pages against the memfd's page cache:
 *                    the watches of the memfd ranges (removals, faults in
 *                    any mm), the lazy catch-up of accesses, and telling
 *                    the views (CPU mmaps, dynamic importers);
 *  udmabuf_cache.c   lookups in a memfd's page cache, allocating a hole
 *                    only when asked; calls nothing else of the module;
 *  udmabuf_ops.c     the dma-buf exporter: pins, sg tables, CPU mmap,
 *                    vmap, CPU access;
 *  udmabuf_main.c    the uAPI (/dev/udmabuf, as Linux 6.12), creation and
 *                    the module.
 */
#ifndef UDMABUF_INTERNAL_H
#define UDMABUF_INTERNAL_H

#include <linux/dma-buf.h>
#include <linux/mapping_watch.h>
#include <linux/mutex.h>

struct udmabuf;

/*
 * The buffer pages [@start, @start + @nr) are memfd pages [@first,
 * @first + @nr) of @memfd, watched through @watch while the buffer lives.
 */
struct udmabuf_seg {
	struct mapping_watch watch;
	struct udmabuf *buf;
	struct file *memfd;
	pgoff_t first;
	pgoff_t start;
	pgoff_t nr;
	bool watched;
};

/*
 * An sg table of buffer pages.  @refs: it holds a reference on each page,
 * because nothing pins the buffer for as long as it lives.
 */
struct udmabuf_map {
	struct sg_table sgt;
	struct device *dev;
	enum dma_data_direction dir;
	unsigned long gen;
	bool refs;
};

/*
 * An attachment's last map, kept for its next map while nothing changed:
 * an importer that maps and unmaps per frame gets the same table back.
 * Under the reservation lock.
 */
struct udmabuf_attach {
	struct udmabuf_map *cache;
	bool in_use;		/* handed out, not unmapped yet */
};

struct udmabuf {
	struct dma_buf *dmabuf;
	bool follow;			/* the follow parameter at creation */
	/*
	 * Protects @folios, @stale, @nr_stale, @zero, @pinned, @gen and
	 * @holes.  Taken by the watch callbacks, with the memfd's inode lock
	 * held on removals, and inside the reservation lock.  Held while
	 * zapping the CPU mmaps of pages it lets go of; never while telling
	 * importers.
	 */
	struct mutex lock;
	/*
	 * Per buffer page, the memfd folio holding it, referenced, or NULL
	 * while the memfd has a hole there (never filled on the buffer's
	 * behalf: see udmabuf_follow.c).
	 */
	struct folio **folios;
	/* Pages whose folio left the page cache while pinned, and how many. */
	unsigned long *stale;
	pgoff_t nr_stale;
	/* Pages that CPU mmaps map to the zero page (holes). */
	unsigned long *zero;
	/* Pinned attachments and vmaps: while non-zero, no page changes. */
	unsigned int pinned;
	/* Bumped whenever a page changes. */
	unsigned long gen;
	pgoff_t holes;			/* NULL pages in @folios */
	pgoff_t pagecount;
	unsigned int nr_segs;
	struct udmabuf_seg *segs;
	/* Protects @cpu_map, for begin/end_cpu_access. */
	struct mutex map_lock;
	struct udmabuf_map *cpu_map;
	void *vaddr;			/* the vmap, under the resv lock */
};

/* Event counters, shown in <debugfs>/udmabuf/stats. */
struct udmabuf_stats {
	atomic_long_t removed_pages;	/* pages dropped on removals */
	atomic_long_t frozen_pages;	/* ... kept because pinned */
	atomic_long_t eager_pages;	/* pages taken on fault updates */
	atomic_long_t lazy_pages;	/* pages taken on accesses */
	atomic_long_t resyncs;		/* last unpins that changed pages */
	atomic_long_t zero_maps;	/* CPU faults given the zero page */
	/* What lives now: the tests check that a failed call leaves none. */
	atomic_long_t live_buffers;	/* buffers allocated, not destroyed */
	atomic_long_t live_pins;	/* pins (attachments, vmaps) held */
	atomic_long_t live_watches;	/* memfd ranges watched */
};

extern struct udmabuf_stats udmabuf_stats;
extern bool udmabuf_follow_faults;
extern const struct dma_buf_ops udmabuf_ops;
extern struct device *udmabuf_dma_dev;

/* udmabuf_ops.c */
void udmabuf_destroy(struct udmabuf *buf);

/* udmabuf_cache.c */
struct folio *udmabuf_cache_get(struct file *memfd, pgoff_t idx, bool alloc);

/* udmabuf_follow.c */
int udmabuf_follow_start(struct udmabuf *buf);
void udmabuf_follow_stop(struct udmabuf *buf);
struct udmabuf_seg *udmabuf_seg_of(struct udmabuf *buf, pgoff_t pg);
int udmabuf_fill(struct udmabuf *buf, pgoff_t first, pgoff_t nr,
		 bool alloc);
struct udmabuf_map *udmabuf_map_pages(struct udmabuf *buf, struct device *dev,
				      enum dma_data_direction dir, bool present,
				      bool refs);
bool udmabuf_map_current(struct udmabuf *buf, const struct udmabuf_map *map);
void udmabuf_unmap_pages(struct udmabuf_map *map);
int udmabuf_pin_pages(struct udmabuf *buf);
void udmabuf_unpin_pages(struct udmabuf *buf);
void udmabuf_catch_up(struct udmabuf *buf);
vm_fault_t udmabuf_cpu_fault(struct udmabuf *buf, struct vm_fault *vmf,
			     bool mkwrite);
int udmabuf_cpu_sync(struct udmabuf *buf, enum dma_data_direction dir,
		     bool begin);
void udmabuf_cpu_map_drop(struct udmabuf *buf);

#endif /* UDMABUF_INTERNAL_H */
