// SPDX-License-Identifier: GPL-2.0
/*
 * Following the page cache: replacing the buffer pages whose folio left the
 * memfd's page cache at their index (hole punch) by the folio there now.
 *
 * Two callers:
 *  - the follow work, queued by update hints (udmabuf_index.c) for the
 *    pages a fault mapped anew, by invalidation hints (it zaps the pages
 *    that left the page cache from the CPU mmaps) and by the last unpin
 *    for the whole buffer.  It runs in process context, off every fault,
 *    and only takes pages the page cache holds: it never fills a hole,
 *    which would undo a punch;
 *  - lazy accesses (udmabuf_ops.c): a CPU mmap fault, vmap, map_dma_buf,
 *    begin_cpu_access, pin.  They need every page, so a hole gets a new
 *    zero folio, as a read fault of the memfd would give.
 *
 * Nothing is replaced while an attachment is pinned (udmabuf.pinned).
 *
 * A replaced page is zapped from the buffer's CPU mmaps before and after
 * the swap.  Before: a reader's PTE for the old folio that was inserted
 * before the folio left the page cache is gone by the time a hint can see
 * the new pfn in the buffer and decide that there is nothing to zap.  After:
 * entries inserted between the two, from pages read before the swap, are
 * also caught by the recheck in the mmap fault (udmabuf_vm_fault()).
 * Dynamic importers then get move_notify; the sg tables they mapped keep
 * their pins until unmapped, so their DMA never reaches a freed page.
 */
#include <linux/delay.h>
#include <linux/dma-resv.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/wait_bit.h>

#include "udmabuf.h"

static struct workqueue_struct *udmabuf_wq;

/* The segment of buffer page @pg: segments are sorted by buffer page. */
struct udmabuf_seg *udmabuf_seg_of(struct udmabuf *buf, pgoff_t pg)
{
	unsigned int lo = 0, hi = buf->nr_segs;

	while (hi - lo > 1) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (buf->segs[mid].start <= pg)
			lo = mid;
		else
			hi = mid;
	}
	WARN_ON_ONCE(pg - buf->segs[lo].start >= buf->segs[lo].nr);
	return &buf->segs[lo];
}

/**
 * udmabuf_page_stale - did the folio of a page leave the page cache?
 * @seg: the segment of the page
 * @p: the page
 * @idx: its memfd page index
 *
 * Truncation clears folio->mapping under the page cache lock; a pinned
 * folio is never freed, so it is never reused at the same index either.
 *
 * Return: true if @p's folio is no longer the memfd's folio at @idx.
 */
bool udmabuf_page_stale(const struct udmabuf_seg *seg,
			const struct udmabuf_page *p, pgoff_t idx)
{
	struct folio *folio = p->pin->folio;

	if (READ_ONCE(folio->mapping) != seg->memfd->f_mapping)
		return true;
	return folio->index + (p->pfn - folio_pfn(folio)) != idx;
}

/**
 * udmabuf_zap - drop buffer pages from the buffer's CPU mmaps
 * @buf: the buffer
 * @first: first buffer page
 * @nr: number of pages
 *
 * Cheap when the buffer has no CPU mmap.  Context: may sleep.
 */
void udmabuf_zap(struct udmabuf *buf, pgoff_t first, pgoff_t nr)
{
	struct address_space *mapping = buf->inode->i_mapping;

	if (mapping_mapped(mapping))
		unmap_mapping_range(mapping, (loff_t)first << PAGE_SHIFT,
				    (loff_t)nr << PAGE_SHIFT, 1);
}

/* move_notify to every dynamic importer but @except; resv lock held. */
static void udmabuf_move_notify(struct udmabuf *buf,
				struct dma_buf_attachment *except)
{
	struct dma_buf_attachment *at;

	dma_resv_assert_held(buf->dmabuf->resv);
	list_for_each_entry(at, &buf->dmabuf->attachments, node)
		if (at != except && at->importer_ops)
			at->importer_ops->move_notify(at);
}

/*
 * After pages [@first, @first + @nr) were replaced, under the reservation
 * lock: zap them from the CPU mmaps again and tell the dynamic importers.
 */
static void udmabuf_changed(struct udmabuf *buf, pgoff_t first, pgoff_t nr,
			    struct dma_buf_attachment *except)
{
	udmabuf_zap(buf, first, nr);
	/* Attachments are added and removed under the reservation lock. */
	if (!list_empty(&buf->dmabuf->attachments))
		udmabuf_move_notify(buf, except);
}

/* Page cache entries looked at in one RCU read-side section. */
#define UDMABUF_CACHED_BATCH	1024

/* xas_get_order() after xas_load(), without the call for an order-0 entry. */
static unsigned int udmabuf_entry_order(struct xa_state *xas)
{
	struct xa_node *node = xas->xa_node;

	if (node && !node->shift && xas->xa_offset + 1 < XA_CHUNK_SIZE &&
	    !xa_is_sibling(xa_entry(xas->xa, node, xas->xa_offset + 1)))
		return 0;
	return xas_get_order(xas);
}

/*
 * How many pages from memfd index @idx on are in the page cache (<= @nr).
 * A glance at the entries without folio references: the swap checks the
 * folios it pinned.  Swap (value) entries are holes here.
 */
static pgoff_t udmabuf_cached(struct file *memfd, pgoff_t idx, pgoff_t nr)
{
	XA_STATE(xas, &memfd->f_mapping->i_pages, idx);
	unsigned int budget = UDMABUF_CACHED_BATCH, order;
	pgoff_t next = idx, end = idx + nr;
	void *entry;

	rcu_read_lock();
	entry = xas_load(&xas);
	for (;;) {
		if (xas_retry(&xas, entry)) {
			entry = xas_load(&xas);
			continue;
		}
		/* xas_next() into an entry that grew meanwhile. */
		if (xa_is_sibling(entry)) {
			xas_set(&xas, next);
			entry = xas_load(&xas);
			continue;
		}
		if (!entry || xa_is_value(entry))
			break;
		/* Multi-index entries: a large folio, a hugetlb page. */
		order = udmabuf_entry_order(&xas);
		next = round_down(next, 1UL << order) + (1UL << order);
		if (next >= end)
			break;
		if (!--budget) {
			rcu_read_unlock();
			cond_resched();
			rcu_read_lock();
			budget = UDMABUF_CACHED_BATCH;
			xas_set(&xas, next);
			entry = xas_load(&xas);
			continue;
		}
		/*
		 * xas_next() keeps the slot in step with the index only after
		 * an order-0 entry: a multi-index one leaves it on its first.
		 */
		if (order) {
			xas_set(&xas, next);
			entry = xas_load(&xas);
		} else {
			entry = xas_next(&xas);
		}
	}
	rcu_read_unlock();
	return min(next, end) - idx;
}

/*
 * How many pages from memfd index @idx on are holes in the page cache
 * (<= @nr), as udmabuf_cached() sees them: one search for the next folio.
 */
static pgoff_t udmabuf_holes(struct file *memfd, pgoff_t idx, pgoff_t nr)
{
	XA_STATE(xas, &memfd->f_mapping->i_pages, idx);
	pgoff_t found = idx + nr;
	void *entry;

	rcu_read_lock();
	xas_for_each(&xas, entry, idx + nr - 1) {
		if (xas_retry(&xas, entry) || xa_is_value(entry))
			continue;
		found = max(xas.xa_index, idx);
		break;
	}
	rcu_read_unlock();
	return found - idx;
}

/*
 * Pin what the page cache holds for buffer pages [@pg, @pg + @run) of @seg
 * and swap it in where the buffer page is still stale and the fresh folio
 * is still cached.  The second check orders this swap against a later
 * replacement of the same page: if the fresh folio left the page cache
 * before this buf->lock section, a newer one is on its way.
 * Return: pages replaced, or a negative errno from pinning.
 */
static long udmabuf_follow_run(struct udmabuf *buf, struct udmabuf_seg *seg,
			       pgoff_t pg, pgoff_t run, pgoff_t *lo,
			       pgoff_t *hi)
{
	struct udmabuf_page fresh_s[8] __uninitialized, *fresh = fresh_s;
	pgoff_t first = udmabuf_seg_first(seg);
	long done = 0;
	pgoff_t i;
	int ret;

	if (run > ARRAY_SIZE(fresh_s))
		fresh = kvmalloc_array(run, sizeof(*fresh), GFP_KERNEL);
	if (!fresh)
		return -ENOMEM;
	ret = udmabuf_pin_pages(seg->memfd, first + (pg - seg->start), run,
				fresh);
	if (ret) {
		done = ret;
		goto free_fresh;
	}
	if (READ_ONCE(udmabuf_update_delay_us))
		usleep_range(udmabuf_update_delay_us,
			     udmabuf_update_delay_us + 10);
	udmabuf_zap(buf, pg, run);

	mutex_lock(&buf->lock);
	for (i = 0; i < run; i++) {
		struct udmabuf_page *cur = &buf->pages[pg + i];
		pgoff_t idx = first + (pg + i - seg->start);
		struct udmabuf_page old = *cur;

		if (buf->pinned || !udmabuf_page_stale(seg, cur, idx) ||
		    udmabuf_page_stale(seg, &fresh[i], idx))
			continue;
		cur->pin = fresh[i].pin;
		WRITE_ONCE(cur->pfn, fresh[i].pfn);
		/* fresh[] now holds what is to be let go. */
		fresh[i] = old;
		buf->gen++;
		done++;
		*lo = min(*lo, pg + i);
		*hi = max(*hi, pg + i + 1);
	}
	mutex_unlock(&buf->lock);
	udmabuf_pages_ref(fresh, run, false, false);
free_fresh:
	if (fresh != fresh_s)
		kvfree(fresh);
	return done;
}

/* Is buffer page @pg stale?  @segp caches its segment.  Under buf->lock. */
static bool udmabuf_pg_stale(struct udmabuf *buf, pgoff_t pg,
			     struct udmabuf_seg **segp)
{
	struct udmabuf_seg *seg = *segp;

	if (!seg || pg < seg->start || pg - seg->start >= seg->nr)
		*segp = seg = udmabuf_seg_of(buf, pg);
	return udmabuf_page_stale(seg, &buf->pages[pg],
				  udmabuf_seg_first(seg) + (pg - seg->start));
}

/*
 * Stale pages taken in one go: a follow consumes the run it found before it
 * looks again, so the run scans stay linear in the pages looked at, and the
 * array of fresh pages stays small.
 */
#define UDMABUF_RUN_MAX		512

/*
 * The first stale page in [@pg, @end), its segment in @segp.  Returns @end
 * if there is none.  Under buf->lock.
 */
static pgoff_t udmabuf_next_stale(struct udmabuf *buf, pgoff_t pg,
				  pgoff_t end, struct udmabuf_seg **segp)
{
	struct udmabuf_seg *seg = NULL;

	lockdep_assert_held(&buf->lock);
	while (pg < end && !udmabuf_pg_stale(buf, pg, &seg))
		pg++;
	*segp = seg;
	return pg;
}

/*
 * The run of stale pages from stale page @pg of @seg, at most @max (which
 * stays within the segment).  Under buf->lock.
 */
static pgoff_t udmabuf_stale_run(struct udmabuf *buf, struct udmabuf_seg *seg,
				 pgoff_t pg, pgoff_t max)
{
	pgoff_t run;

	lockdep_assert_held(&buf->lock);
	for (run = 1; run < max &&
	     udmabuf_page_stale(seg, &buf->pages[pg + run],
				udmabuf_seg_first(seg) +
				(pg + run - seg->start)); run++)
		;
	return run;
}

/**
 * udmabuf_follow - replace the pages whose folio left the page cache
 * @buf: the buffer
 * @first: first buffer page to check
 * @nr: number of pages to check
 * @flags: %UDMABUF_FOLLOW_HOLES to fill holes with new folios (otherwise
 *         stale pages over a hole keep their folio), %UDMABUF_FOLLOW_RESV
 *         if the caller holds the reservation lock (otherwise it is taken
 *         once a stale page is found), %UDMABUF_FOLLOW_WORK from the follow
 *         work (statistics)
 * @except: the attachment not to tell (the one being mapped), or NULL
 *
 * Does nothing while an attachment is pinned.
 *
 * Context: process context, no udmabuf lock held.
 * Return: 0 or a negative errno from pinning.
 */
int udmabuf_follow(struct udmabuf *buf, pgoff_t first, pgoff_t nr,
		   unsigned int flags, struct dma_buf_attachment *except)
{
	pgoff_t end = first + nr, pg = first, lo = end, hi = 0;
	struct dma_resv *resv = NULL;
	long total = 0, done = 0;
	struct udmabuf_seg *seg;
	pgoff_t run;

	/*
	 * A swap and its move_notify happen under the reservation lock, like
	 * any move of a dma-buf: an attachment that pins meanwhile (under
	 * that lock) then maps the new pages, and is not told to move.
	 */
	if (!(flags & UDMABUF_FOLLOW_RESV)) {
		mutex_lock(&buf->lock);
		pg = buf->pinned ? end :
		     udmabuf_next_stale(buf, first, end, &seg);
		mutex_unlock(&buf->lock);
		if (pg == end)
			return 0;
		resv = buf->dmabuf->resv;
		dma_resv_lock(resv, NULL);
		flags |= UDMABUF_FOLLOW_RESV;
	}
	while (pg < end) {
		pgoff_t want = UDMABUF_RUN_MAX, holes = 0, idx, left;

		mutex_lock(&buf->lock);
		pg = buf->pinned ? end : udmabuf_next_stale(buf, pg, end, &seg);
		if (pg < end) {
			idx = udmabuf_seg_first(seg) + (pg - seg->start);
			left = min(end - pg, seg->nr - (pg - seg->start));
			/*
			 * Only what the page cache holds: over a hole a buffer
			 * page is stale, and the whole hole (within the
			 * segment) is skipped in one search.
			 */
			if (!(flags & UDMABUF_FOLLOW_HOLES)) {
				want = udmabuf_cached(seg->memfd, idx,
						      min(left, want));
				if (!want)
					holes = udmabuf_holes(seg->memfd, idx,
							      left);
			}
			if (want)
				run = udmabuf_stale_run(buf, seg, pg,
							min(left, want));
		}
		mutex_unlock(&buf->lock);
		if (pg == end)
			break;
		if (!want) {
			pg += max(holes, 1UL);
			continue;
		}
		done = udmabuf_follow_run(buf, seg, pg, run, &lo, &hi);
		if (done < 0)
			break;
		total += done;
		pg += run;
	}
	if (total)
		atomic_long_add(total, flags & UDMABUF_FOLLOW_WORK ?
				&udmabuf_stats.eager_pages :
				&udmabuf_stats.lazy_pages);
	if (lo < hi)
		udmabuf_changed(buf, lo, hi - lo, except);
	if (resv)
		dma_resv_unlock(resv);
	/* A lazy access filled what a refault would have brought. */
	if (total && (flags & UDMABUF_FOLLOW_HOLES))
		udmabuf_await_settle(buf);
	return done < 0 ? done : 0;
}

/* Set the await range, for udmabuf_follow_coming() and settles. */
static void udmabuf_await_set(struct udmabuf *buf, pgoff_t lo, pgoff_t hi)
{
	lockdep_assert_held(&buf->pending_lock);
	write_seqcount_begin(&buf->await_seq);
	buf->await_lo = lo;
	buf->await_hi = hi;
	write_seqcount_end(&buf->await_seq);
	buf->await_gen++;
}

/*
 * Buffer pages [@lo, @hi) may have left the page cache: until they are
 * followed, the refault that maps their new folio must be heard.
 * Under buf->pending_lock.
 */
static void udmabuf_await(struct udmabuf *buf, pgoff_t lo, pgoff_t hi)
{
	bool first = buf->await_lo >= buf->await_hi;

	lockdep_assert_held(&buf->pending_lock);
	udmabuf_await_set(buf, min(buf->await_lo, lo), max(buf->await_hi, hi));
	if (first)
		udmabuf_updates_want(true);
}

/* Under buf->pending_lock. */
static void udmabuf_await_clear(struct udmabuf *buf)
{
	lockdep_assert_held(&buf->pending_lock);
	if (buf->await_lo >= buf->await_hi)
		return;
	udmabuf_await_set(buf, ULONG_MAX, 0);
	udmabuf_updates_want(false);
}

/*
 * Is an invalidation hint still being acted on?  Its punch may not have
 * truncated yet, so a settle now could stop awaiting pages that are about
 * to go.  Under buf->pending_lock.
 */
static bool udmabuf_gone_busy(struct udmabuf *buf)
{
	lockdep_assert_held(&buf->pending_lock);
	return buf->gone_task || buf->gone_working ||
	       (buf->pending_flags & UDMABUF_LATER_GONE);
}

/* Scans a settle makes at most while other settles or hints race with it. */
#define UDMABUF_SETTLE_TRIES	4

/**
 * udmabuf_await_settle - narrow the pages a buffer awaits to the stale ones
 * @buf: the buffer
 *
 * Once none is stale, the buffer stops awaiting.  Not while an invalidation
 * hint is still being acted on (its punch may not have truncated yet): the
 * task work or follow work that acts on it settles afterwards.
 *
 * Context: process context, no udmabuf lock held.
 */
void udmabuf_await_settle(struct udmabuf *buf)
{
	unsigned int tries = UDMABUF_SETTLE_TRIES;
	struct udmabuf_seg *seg;
	unsigned long gen;
	pgoff_t lo, hi;

again:
	seg = NULL;
	spin_lock(&buf->pending_lock);
	lo = buf->await_lo;
	hi = buf->await_hi;
	gen = buf->await_gen;
	if (udmabuf_gone_busy(buf))
		hi = lo;
	spin_unlock(&buf->pending_lock);
	if (lo >= hi)
		return;

	mutex_lock(&buf->lock);
	while (lo < hi && !udmabuf_pg_stale(buf, lo, &seg))
		lo++;
	while (hi > lo && !udmabuf_pg_stale(buf, hi - 1, &seg))
		hi--;
	mutex_unlock(&buf->lock);

	spin_lock(&buf->pending_lock);
	/*
	 * A hint or another settle meanwhile: the range is not the one read.
	 * The hint settles after it is acted on.
	 */
	if (buf->await_gen == gen) {
		if (lo < hi)
			udmabuf_await_set(buf, lo, hi);
		else
			udmabuf_await_clear(buf);
	} else if (--tries) {
		/* Another settle's result may be older than this one's. */
		spin_unlock(&buf->pending_lock);
		goto again;
	}
	spin_unlock(&buf->pending_lock);
}

/* The buffer goes away: it awaits nothing any more. */
void udmabuf_await_drop(struct udmabuf *buf)
{
	spin_lock(&buf->pending_lock);
	udmabuf_await_clear(buf);
	spin_unlock(&buf->pending_lock);
}

/*
 * Zap the pages of [@lo, @hi) whose folio left the page cache: an
 * invalidation hint said they might.  Return how many have not (yet), and
 * in @gone whether some have.  While the buffer is pinned its CPU mmaps
 * show the pinned pages: nothing is zapped, but the answer is the same.
 */
static pgoff_t udmabuf_zap_gone(struct udmabuf *buf, pgoff_t lo, pgoff_t hi,
				bool *gone)
{
	pgoff_t pg, zlo = hi, zhi = lo, cached = 0;
	struct udmabuf_seg *seg = NULL;
	bool pinned;

	mutex_lock(&buf->lock);
	pinned = buf->pinned;
	for (pg = lo; pg < hi; pg++) {
		if (!udmabuf_pg_stale(buf, pg, &seg)) {
			cached++;
			continue;
		}
		zlo = min(zlo, pg);
		zhi = pg + 1;
	}
	mutex_unlock(&buf->lock);
	*gone = zlo < zhi;
	if (zlo < zhi && !pinned) {
		atomic_long_inc(&udmabuf_stats.inval_zaps);
		udmabuf_zap(buf, zlo, zhi - zlo);
	}
	return cached;
}

/* Jiffies an invalidation hint waits at most for its truncation. */
#define UDMABUF_GONE_TRIES	16

/*
 * Merge [@lo, @hi) and @flags into what the follow work is to do, under
 * buf->pending_lock.  Return false once the buffer stopped following (the
 * task work of a punch may run after release began): nothing to queue.
 */
static bool udmabuf_later_locked(struct udmabuf *buf, pgoff_t lo, pgoff_t hi,
				 unsigned int flags)
{
	lockdep_assert_held(&buf->pending_lock);
	if (buf->follow_stopped)
		return false;
	/*
	 * The last unpin: nothing was awaited while pinned, so the pages that
	 * left meanwhile are awaited until the work's settle finds them.
	 */
	if (flags & UDMABUF_LATER_RESYNC)
		udmabuf_await(buf, lo, hi);
	buf->pending_lo = min(buf->pending_lo, lo);
	buf->pending_hi = max(buf->pending_hi, hi);
	buf->pending_flags |= flags;
	if (flags & UDMABUF_LATER_GONE)
		buf->pending_tries = UDMABUF_GONE_TRIES;
	return true;
}

static void udmabuf_follow_work(struct work_struct *work)
{
	struct udmabuf *buf = container_of(to_delayed_work(work),
					   struct udmabuf, follow_work);
	unsigned int flags, tries;
	pgoff_t lo, hi, alo, ahi, cached;
	bool gone, fresh;

	spin_lock(&buf->pending_lock);
	lo = buf->pending_lo;
	hi = buf->pending_hi;
	/* Hints on awaited pages queue nothing: udmabuf_follow_coming(). */
	alo = min(lo, buf->await_lo);
	ahi = max(hi, buf->await_hi);
	flags = buf->pending_flags;
	tries = buf->pending_tries;
	buf->pending_lo = ULONG_MAX;
	buf->pending_hi = 0;
	buf->pending_flags = 0;
	/* Until it is known whether to look again. */
	buf->gone_working = flags & UDMABUF_LATER_GONE;
	spin_unlock(&buf->pending_lock);
	/* Readers refault through the lazy path, which also fills holes. */
	if (flags & UDMABUF_LATER_RESYNC)
		udmabuf_zap(buf, 0, buf->pagecount);
	if (alo >= ahi) {
		udmabuf_await_settle(buf);
		return;
	}
	/*
	 * A punch unmaps before it truncates: until its pages have left the
	 * page cache, look again a jiffy later.  An invalidation that removes
	 * nothing (MADV_DONTNEED, munmap) gives up after a few tries.
	 */
	if ((flags & UDMABUF_LATER_GONE) && lo < hi) {
		cached = udmabuf_zap_gone(buf, lo, hi, &gone);
		spin_lock(&buf->pending_lock);
		/* A hint meanwhile gave its punch tries of its own. */
		fresh = buf->pending_flags & UDMABUF_LATER_GONE;
		if (cached && tries &&
		    udmabuf_later_locked(buf, lo, hi, UDMABUF_LATER_GONE)) {
			if (!fresh)
				buf->pending_tries = tries - 1;
			queue_delayed_work(udmabuf_wq, &buf->follow_work, 1);
		}
		buf->gone_working = false;
		spin_unlock(&buf->pending_lock);
	}
	/* Failures are left to the lazy path. */
	udmabuf_follow(buf, alo, ahi - alo, UDMABUF_FOLLOW_WORK, NULL);
	udmabuf_await_settle(buf);
}

/**
 * udmabuf_follow_coming - will the follow work look at these pages anyway?
 * @buf: the buffer, in the index
 * @lo: first buffer page
 * @hi: end of the range (exclusive)
 *
 * For an update hint on buffer pages whose folio a fault replaced: they
 * are stale, so a buffer that awaits them keeps awaiting them until they
 * are followed (a settle only drops pages that are not stale), and a
 * follow work that has not started yet looks at every awaited page.  Then
 * the hint need not queue anything, which spares the faults of a refill
 * the buffer's pending_lock.
 *
 * Context: any; the new folios are in the page cache.
 * Return: true if the pages are awaited and the follow work is queued.
 */
bool udmabuf_follow_coming(struct udmabuf *buf, pgoff_t lo, pgoff_t hi)
{
	pgoff_t alo, ahi;
	unsigned int seq;

	do {
		seq = read_seqcount_begin(&buf->await_seq);
		alo = buf->await_lo;
		ahi = buf->await_hi;
	} while (read_seqcount_retry(&buf->await_seq, seq));
	if (lo < alo || hi > ahi)
		return false;
	/*
	 * The new folios before the test, as the work clears its pending bit
	 * before it reads the await range and the page cache.
	 */
	smp_mb();
	return delayed_work_pending(&buf->follow_work);
}

/*
 * Task work queued and not run yet: it runs module code, and it may
 * outlive every buffer, so module exit waits for it.
 */
static atomic_t udmabuf_gone_pending = ATOMIC_INIT(0);

/* Zap what invalidations removed, as the punching task leaves the kernel. */
static void udmabuf_gone_twork(struct callback_head *twork)
{
	struct udmabuf *buf = container_of(twork, struct udmabuf, gone_twork);
	bool gone = false;
	pgoff_t lo, hi;

	spin_lock(&buf->pending_lock);
	lo = buf->gone_lo;
	hi = buf->gone_hi;
	buf->gone_lo = ULONG_MAX;
	buf->gone_hi = 0;
	buf->gone_task = NULL;
	spin_unlock(&buf->pending_lock);
	if (lo < hi)
		udmabuf_zap_gone(buf, lo, hi, &gone);
	/*
	 * The punch is over: what is not stale now needs no refault.  One
	 * that landed before the updates were resumed was not heard: the
	 * follow work picks it up from the page cache.
	 */
	udmabuf_await_settle(buf);
	if (gone)
		udmabuf_follow_later(buf, lo, hi, 0);
	udmabuf_put(buf);
	if (atomic_dec_and_test(&udmabuf_gone_pending))
		wake_up_var(&udmabuf_gone_pending);
}

/**
 * udmabuf_follow_gone - act on an invalidation hint for buffer pages
 * @buf: the buffer, in the index
 * @lo: first buffer page
 * @hi: end of the range (exclusive)
 *
 * A punch unmaps a range before it truncates it, and the hint comes from
 * inside the mmu notifier of the unmapping, where zapping must not nest.
 * The pages that did leave the page cache are zapped from the buffer's CPU
 * mmaps when the task returns to user space: after the truncation, before
 * the punching process (or one it tells) can write the range again.  One
 * task work a buffer, embedded in it and holding a buffer reference (not
 * buf->hinting: the task may release the buffer before it returns); the
 * ranges of every hint meanwhile are merged into it.  Kernel threads, user
 * workers (which do not return to user space), exiting tasks and reclaim,
 * and hints from a second task while the first one's work is queued, leave
 * it to the follow work, which looks again a jiffy later while the pages
 * are still cached.
 *
 * Context: inside an mmu notifier callback, under a spinlock.
 */
void udmabuf_follow_gone(struct udmabuf *buf, pgoff_t lo, pgoff_t hi)
{
	bool queue = false;

	spin_lock(&buf->pending_lock);
	/*
	 * Before the punch truncates: the refault may follow at once.  Not
	 * while pinned: the buffer cannot follow until the last unpin, whose
	 * resync awaits the whole buffer (it takes pending_lock after the
	 * unpin), and the updates of every mm would run meanwhile.  The zap
	 * below still comes after the truncation, and holds the resync's
	 * settle off until then (udmabuf_gone_busy()).
	 */
	if (!READ_ONCE(buf->pinned))
		udmabuf_await(buf, lo, hi);
	buf->gone_lo = min(buf->gone_lo, lo);
	buf->gone_hi = max(buf->gone_hi, hi);
	if (buf->gone_task == current) {
		/* Merged into the task work queued already. */
	} else if (!buf->gone_task &&
		   !(current->flags & (PF_KTHREAD | PF_USER_WORKER |
				       PF_EXITING | PF_MEMALLOC))) {
		buf->gone_task = current;
		queue = true;
	} else if (udmabuf_later_locked(buf, lo, hi, UDMABUF_LATER_GONE)) {
		/* In the same section as the await: see udmabuf_gone_busy(). */
		queue_delayed_work(udmabuf_wq, &buf->follow_work, 1);
	}
	spin_unlock(&buf->pending_lock);
	if (queue) {
		kref_get(&buf->ref);
		atomic_inc(&udmabuf_gone_pending);
		init_task_work(&buf->gone_twork, udmabuf_gone_twork);
		if (!task_work_add(current, &buf->gone_twork, TWA_RESUME))
			return;
		spin_lock(&buf->pending_lock);
		buf->gone_task = NULL;
		if (udmabuf_later_locked(buf, lo, hi, UDMABUF_LATER_GONE))
			queue_delayed_work(udmabuf_wq, &buf->follow_work, 1);
		spin_unlock(&buf->pending_lock);
		if (atomic_dec_and_test(&udmabuf_gone_pending))
			wake_up_var(&udmabuf_gone_pending);
		/* Not the last one: release waits for the index's lock. */
		udmabuf_put(buf);
	}
}

/**
 * udmabuf_follow_later - queue the follow work for buffer pages
 * @buf: the buffer, alive until udmabuf_follow_stop()
 * @lo: first buffer page
 * @hi: end of the range (exclusive)
 * @flags: %UDMABUF_LATER_RESYNC to zap every CPU mmap of the buffer first,
 *         %UDMABUF_LATER_GONE for an invalidation hint
 *
 * Context: any context that may take a spinlock.
 */
void udmabuf_follow_later(struct udmabuf *buf, pgoff_t lo, pgoff_t hi,
			  unsigned int flags)
{
	spin_lock(&buf->pending_lock);
	/*
	 * A jiffy later: a refill faults page after page, and waking the work
	 * for each would switch to it and back on every fault.  The CPU mmaps
	 * were zapped already; only importers hear a jiffy later.  A bit test
	 * when already queued.  Queued under the lock, so that it is never
	 * queued after udmabuf_follow_stop() (the task work of a punch may
	 * hold the last reference).
	 */
	if (udmabuf_later_locked(buf, lo, hi, flags))
		queue_delayed_work(udmabuf_wq, &buf->follow_work,
				   flags & UDMABUF_LATER_RESYNC ? 0 : 1);
	spin_unlock(&buf->pending_lock);
}

void udmabuf_follow_init(struct udmabuf *buf)
{
	INIT_DELAYED_WORK(&buf->follow_work, udmabuf_follow_work);
	spin_lock_init(&buf->pending_lock);
	seqcount_spinlock_init(&buf->await_seq, &buf->pending_lock);
	buf->pending_lo = ULONG_MAX;
	buf->gone_lo = ULONG_MAX;
	buf->await_lo = ULONG_MAX;
}

/* Once hints can no longer find the buffer (release). */
void udmabuf_follow_stop(struct udmabuf *buf)
{
	/* The task work of a punch may still run: it queues nothing now. */
	spin_lock(&buf->pending_lock);
	buf->follow_stopped = true;
	spin_unlock(&buf->pending_lock);
	cancel_delayed_work_sync(&buf->follow_work);
}

int udmabuf_follow_wq_init(void)
{
	udmabuf_wq = alloc_workqueue("udmabuf", WQ_UNBOUND, 0);
	return udmabuf_wq ? 0 : -ENOMEM;
}

void udmabuf_follow_wq_exit(void)
{
	/* Tasks that punched run it on their way back to user space. */
	wait_var_event(&udmabuf_gone_pending,
		       !atomic_read(&udmabuf_gone_pending));
	destroy_workqueue(udmabuf_wq);
}
