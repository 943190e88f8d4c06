// SPDX-License-Identifier: GPL-2.0
/*
 * The buffer's pages against the memfd's page cache.
 *
 * A buffer page holds a reference on the memfd folio at its index, or
 * nothing while the memfd has a hole there.  Every memfd range under a
 * buffer is watched (mm/mapping_watch.c, patch 4 of the series):
 *
 *  - a removal (punch, truncation), by whatever task or kernel thread,
 *    calls udmabuf_removed() once the folios left the page cache.  An
 *    unpinned buffer drops them at once: their memory comes back, the CPU
 *    mmaps of those pages are zapped and dynamic importers get
 *    move_notify, all before the removal returns.  A pinned buffer keeps
 *    them and notes them stale for the last unpin;
 *  - a fault in any mm that maps folios of the range (and a UFFDIO_COPY
 *    into shmem, which installs an entry as a fault does) calls
 *    udmabuf_update(), and a write(2) udmabuf_written(): the buffer takes
 *    the new folios of its holes (from the update itself when it
 *    validates) and zaps the zero pages its CPU mmaps had there;
 *  - accesses that go through the driver (SYNC, map, vmap, pin) look the
 *    holes up again, in case a refill was missed (follow_faults unset).
 *
 * A hole is never filled on the buffer's behalf by a CPU read of its mmap,
 * which maps the zero page there.  A write through the mmap, a map by an
 * importer, a vmap or a pin fill it, as a write or a read fault of the memfd
 * would.  Lookups run under buf->lock, which the removal callback takes
 * after the folios left the page cache: a lookup either sees the removal or
 * runs before its callback, which then drops what it found.
 */
#include <linux/dma-resv.h>
#include <linux/hugetlb.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "udmabuf.h"

struct udmabuf_seg *udmabuf_seg_of(struct udmabuf *buf, pgoff_t pg)
{
	unsigned int lo = 0, hi = buf->nr_segs;

	while (hi - lo > 1) {
		unsigned int mid = (lo + hi) / 2;

		if (buf->segs[mid].start <= pg)
			lo = mid;
		else
			hi = mid;
	}
	return &buf->segs[lo];
}

/* The memfd page index of buffer page @pg, which @seg covers. */
static pgoff_t udmabuf_seg_index(const struct udmabuf_seg *seg, pgoff_t pg)
{
	return seg->first + (pg - seg->start);
}

/* A range of buffer pages that changed, to tell the views about. */
struct udmabuf_span {
	pgoff_t lo, hi;		/* empty while lo > hi */
};

#define UDMABUF_SPAN_INIT { .lo = ULONG_MAX, .hi = 0 }

static void udmabuf_span_add(struct udmabuf_span *span, pgoff_t pg)
{
	span->lo = min(span->lo, pg);
	span->hi = max(span->hi, pg);
}

/*
 * Zap the CPU mmaps of changed pages, so that their next access faults the
 * current page in.  Before the buffer lets go of a page that it replaced,
 * under buf->lock: no CPU mmap may map a page the buffer no longer holds.
 */
static void udmabuf_zap(struct udmabuf *buf, const struct udmabuf_span *span)
{
	struct dma_buf *dmabuf = READ_ONCE(buf->dmabuf);
	struct file *file;

	/* Before it is exported, the buffer has no view to tell. */
	if (span->lo > span->hi || !dmabuf)
		return;
	/*
	 * The dma-buf's file goes before the buffer: its inode is evicted
	 * on the last fput, and the buffer released (its watches removed)
	 * only after.  A file nobody holds has no mmap to zap; one held
	 * stays while we zap.
	 */
	file = dmabuf->file;
	if (!atomic_long_inc_not_zero(&file->f_count))
		return;
	unmap_mapping_range(file->f_mapping,
			    (loff_t)span->lo << PAGE_SHIFT,
			    (loff_t)(span->hi - span->lo + 1) << PAGE_SHIFT, 1);
	fput(file);
}

/*
 * Tell the other views that pages changed: the SYNC view lets go of its
 * pages, and dynamic importers get move_notify; they see the current pages
 * when they map again.  Without buf->lock; @resv_held when the caller holds
 * the reservation lock.
 */
static void udmabuf_notify(struct udmabuf *buf, bool resv_held)
{
	struct dma_buf *dmabuf = READ_ONCE(buf->dmabuf);
	struct dma_buf_attachment *at;

	if (!dmabuf)
		return;
	udmabuf_cpu_map_drop(buf);
	if (!resv_held)
		dma_resv_lock(dmabuf->resv, NULL);
	/* The maps kept for the next map hold pages that changed. */
	list_for_each_entry(at, &dmabuf->attachments, node) {
		struct udmabuf_attach *ua = at->priv;

		if (ua && ua->cache && !ua->in_use) {
			udmabuf_unmap_pages(ua->cache);
			ua->cache = NULL;
		}
	}
	dma_buf_move_notify(dmabuf);
	if (!resv_held)
		dma_resv_unlock(dmabuf->resv);
}

static void udmabuf_set(struct udmabuf *buf, pgoff_t pg, struct folio *folio)
{
	buf->holes += !folio - !buf->folios[pg];
	if (buf->folios[pg])
		folio_put(buf->folios[pg]);
	/* udmabuf_refilled() glances at it without the lock. */
	WRITE_ONCE(buf->folios[pg], folio);
	buf->gen++;
}

/* The folio that @update mapped at memfd page @idx, not referenced. */
static struct folio *udmabuf_update_at(const struct mmu_notifier_update *u,
				       pgoff_t idx)
{
	return pfn_folio(u->pfn + (idx - u->pgoff));
}

/*
 * The folio that @u, a validated update, mapped at memfd page @idx of @seg,
 * referenced, if it is still the page cache's: a reference taken and its
 * mapping and index checked, as a page cache lookup would.  NULL otherwise.
 */
static struct folio *udmabuf_update_folio(struct udmabuf_seg *seg,
					  const struct mmu_notifier_update *u,
					  pgoff_t idx)
{
	struct folio *folio;

	if (!u)
		return NULL;
	folio = udmabuf_update_at(u, idx);
	if (!folio_try_get(folio))
		return NULL;
	/* A lookup, which then refuses it, sees a count near overflow. */
	if (READ_ONCE(folio->mapping) != seg->memfd->f_mapping ||
	    idx - folio->index >= folio_nr_pages(folio) ||
	    folio_ref_count(folio) > INT_MAX / 2) {
		folio_put(folio);
		return NULL;
	}
	return folio;
}

/* Under buf->lock: fill the hole at buffer page @pg with a reference. */
static void udmabuf_fill_page(struct udmabuf *buf, pgoff_t pg,
			      struct folio *folio, struct udmabuf_span *zapped,
			      atomic_long_t *count)
{
	/* udmabuf_refilled() glances at it without the lock. */
	WRITE_ONCE(buf->folios[pg], folio);
	buf->holes--;
	buf->gen++;
	atomic_long_inc(count);
	/* Under buf->lock: no atomic needed to test. */
	if (test_bit(pg, buf->zero) && test_and_clear_bit(pg, buf->zero))
		udmabuf_span_add(zapped, pg);
}

/*
 * Under buf->lock: give the holes of buffer pages [@first, @first + @nr)
 * the folios the page cache has there, allocating the remaining holes if
 * @alloc.  Pages whose CPU mmaps had the zero page go into @zapped.  The
 * folios that @update mapped, if not NULL, are taken without a lookup:
 * @update was validated under buf->lock.
 */
static int udmabuf_fill_locked(struct udmabuf *buf, pgoff_t first, pgoff_t nr,
			       bool alloc, struct udmabuf_span *zapped,
			       atomic_long_t *count,
			       const struct mmu_notifier_update *update)
{
	pgoff_t pg = first, end = first + nr;

	lockdep_assert_held(&buf->lock);
	if (!buf->holes)
		return 0;
	while (pg < end) {
		struct udmabuf_seg *seg;
		struct folio *folio;
		pgoff_t idx, n;

		if (buf->folios[pg]) {
			pg++;
			continue;
		}
		/*
		 * Filling a large buffer's holes takes long: let a kill in,
		 * and other tasks on a kernel without preemption.
		 */
		if (alloc && nr > 1) {
			if (fatal_signal_pending(current))
				return -EINTR;
			cond_resched();
		}
		seg = udmabuf_seg_of(buf, pg);
		idx = udmabuf_seg_index(seg, pg);
		folio = udmabuf_update_folio(seg, update, idx);
		if (!folio)
			folio = udmabuf_cache_get(seg->memfd, idx, alloc);
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		if (!folio) {
			pg++;
			continue;
		}
		/* The pages of a large folio that the segment also covers. */
		n = folio_nr_pages(folio);
		n = min3(n - (idx & (n - 1)), end - pg,
			 seg->start + seg->nr - pg);
		/* A reference a page: keep the count far from overflowing. */
		if (folio_ref_count(folio) > INT_MAX / 2 - (int)n) {
			folio_put(folio);
			return -EOVERFLOW;
		}
		if (n > 1)
			folio_ref_add(folio, n - 1);
		for (; n; n--, pg++) {
			if (buf->folios[pg]) {
				folio_put(folio);
				continue;
			}
			udmabuf_fill_page(buf, pg, folio, zapped, count);
		}
	}
	return 0;
}

/**
 * udmabuf_fill - fill holes of a buffer, allocating them if asked
 * @buf: the buffer, not pinned
 * @first: first buffer page
 * @nr: number of pages
 * @alloc: allocate the holes that remain
 *
 * Return: 0, the errno of the allocation, or -EINTR if the task was killed.
 */
int udmabuf_fill(struct udmabuf *buf, pgoff_t first, pgoff_t nr, bool alloc)
{
	struct udmabuf_span zapped = UDMABUF_SPAN_INIT;
	int ret;

	mutex_lock(&buf->lock);
	ret = udmabuf_fill_locked(buf, first, nr, alloc, &zapped,
				  &udmabuf_stats.lazy_pages, NULL);
	mutex_unlock(&buf->lock);
	udmabuf_zap(buf, &zapped);
	return ret;
}

/**
 * udmabuf_catch_up - take the refills no fault reported
 * @buf: the buffer
 *
 * For the accesses that go through the driver: a pinned buffer stays as it
 * is, an unpinned one takes what the page cache has in its holes.
 */
void udmabuf_catch_up(struct udmabuf *buf)
{
	if (buf->follow)
		udmabuf_fill(buf, 0, buf->pagecount, false);
}

/**
 * udmabuf_pin_pages - freeze the buffer's pages
 * @buf: the buffer
 *
 * The first pin fills every hole: a pinned buffer has a page everywhere.
 * Until the last unpin, no page of the buffer changes.
 *
 * Return: 0, the errno of the allocation, or -EINTR if the task was killed.
 */
int udmabuf_pin_pages(struct udmabuf *buf)
{
	struct udmabuf_span zapped = UDMABUF_SPAN_INIT;
	int ret = 0;

	mutex_lock(&buf->lock);
	if (!buf->pinned && buf->holes)
		ret = udmabuf_fill_locked(buf, 0, buf->pagecount, true,
					  &zapped, &udmabuf_stats.lazy_pages,
					  NULL);
	if (!ret) {
		buf->pinned++;
		atomic_long_inc(&udmabuf_stats.live_pins);
	}
	mutex_unlock(&buf->lock);
	udmabuf_zap(buf, &zapped);
	return ret;
}

/**
 * udmabuf_unpin_pages - undo udmabuf_pin_pages()
 * @buf: the buffer, with the reservation lock held
 *
 * The last unpin lets go of the pages that left the page cache meanwhile,
 * and only of those, takes their replacements if the page cache has any,
 * and tells the views.
 */
void udmabuf_unpin_pages(struct udmabuf *buf)
{
	struct udmabuf_span changed = UDMABUF_SPAN_INIT;
	pgoff_t pg;

	dma_resv_assert_held(buf->dmabuf->resv);
	mutex_lock(&buf->lock);
	if (WARN_ON_ONCE(!buf->pinned)) {
		mutex_unlock(&buf->lock);
		return;
	}
	atomic_long_dec(&udmabuf_stats.live_pins);
	/* Nothing changed meanwhile: an importer's frame costs no scan. */
	if (--buf->pinned || !buf->nr_stale) {
		mutex_unlock(&buf->lock);
		return;
	}
	buf->nr_stale = 0;
	for_each_set_bit(pg, buf->stale, buf->pagecount)
		udmabuf_span_add(&changed, pg);
	udmabuf_zap(buf, &changed);
	for_each_set_bit(pg, buf->stale, buf->pagecount) {
		struct udmabuf_seg *seg = udmabuf_seg_of(buf, pg);
		struct folio *folio;

		clear_bit(pg, buf->stale);
		folio = udmabuf_cache_get(seg->memfd,
					  udmabuf_seg_index(seg, pg), false);
		udmabuf_set(buf, pg, IS_ERR(folio) ? NULL : folio);
	}
	mutex_unlock(&buf->lock);
	if (changed.lo <= changed.hi) {
		atomic_long_inc(&udmabuf_stats.resyncs);
		udmabuf_notify(buf, true);
	}
}

/* The buffer pages of @seg over memfd pages [@first, @last], if any. */
static bool udmabuf_seg_span(const struct udmabuf_seg *seg, pgoff_t first,
			     pgoff_t last, pgoff_t *pg, pgoff_t *nr)
{
	pgoff_t lo = max(first, seg->first);
	pgoff_t hi = min(last, seg->first + seg->nr - 1);

	if (lo > hi)
		return false;
	*pg = seg->start + (lo - seg->first);
	*nr = hi - lo + 1;
	return true;
}

/*
 * Under buf->lock, while pinned: buffer page @pg is for the last unpin to
 * look up again.  Returns whether it was not marked yet.
 */
static bool udmabuf_mark_stale(struct udmabuf *buf, pgoff_t pg)
{
	if (__test_and_set_bit(pg, buf->stale))
		return false;
	buf->nr_stale++;
	return true;
}

/*
 * Under buf->lock: buffer pages [@pg, @pg + @nr) of @seg whose folios left
 * the page cache.  An unpinned buffer zaps their CPU mmaps, then lets go of
 * them: their memory comes back.  A pinned one keeps them, stale.  The
 * pages let go of go into @changed.  A fault that refilled a page between
 * the removal of its folio and the removal's call does this itself.
 */
static void udmabuf_drop_removed(struct udmabuf_seg *seg, pgoff_t pg,
				 pgoff_t nr, struct udmabuf_span *changed)
{
	struct address_space *mapping = seg->memfd->f_mapping;
	struct udmabuf *buf = seg->buf;
	/* Filled before it is read: not worth zeroing on every fault. */
	struct folio_batch fbatch __uninitialized;
	pgoff_t i, dropped = 0;

	folio_batch_init(&fbatch);
	for (i = pg; i < pg + nr; i++) {
		struct folio *folio = buf->folios[i];

		/* Parts of a large folio that a punch zeroed stay cached. */
		if (!folio || READ_ONCE(folio->mapping) == mapping)
			continue;
		if (buf->pinned) {
			if (udmabuf_mark_stale(buf, i))
				atomic_long_inc(&udmabuf_stats.frozen_pages);
			continue;
		}
		/* Before the first one goes, the CPU mmaps of the rest. */
		if (!dropped++) {
			struct udmabuf_span rest = { i, pg + nr - 1 };

			udmabuf_zap(buf, &rest);
		}
		udmabuf_span_add(changed, i);
		WRITE_ONCE(buf->folios[i], NULL);
		buf->holes++;
		buf->gen++;
		/* As a truncation frees them: a batch at a time. */
		if (!folio_batch_add(&fbatch, folio))
			folios_put(&fbatch);
	}
	if (folio_batch_count(&fbatch))
		folios_put(&fbatch);
	atomic_long_add(dropped, &udmabuf_stats.removed_pages);
}

static void udmabuf_removed(struct mapping_watch *watch, pgoff_t first,
			    pgoff_t last)
{
	struct udmabuf_seg *seg = container_of(watch, struct udmabuf_seg,
					       watch);
	struct udmabuf_span changed = UDMABUF_SPAN_INIT;
	struct udmabuf *buf = seg->buf;
	pgoff_t pg, nr;

	if (!udmabuf_seg_span(seg, first, last, &pg, &nr))
		return;
	mutex_lock(&buf->lock);
	udmabuf_drop_removed(seg, pg, nr, &changed);
	mutex_unlock(&buf->lock);
	if (changed.lo <= changed.hi)
		udmabuf_notify(buf, false);
}

/*
 * Memfd pages [@first, @last] were refilled: a fault mapped them (@update),
 * or write(2) stored them.  The buffer takes the folios that fill its
 * holes, or that replace folios gone from the page cache before the
 * removal's call (which then finds nothing to do): straight from @update
 * when it validates, with lookups otherwise.
 */
static void udmabuf_refilled(struct mapping_watch *watch, pgoff_t first,
			     pgoff_t last,
			     const struct mmu_notifier_update *update)
{
	struct udmabuf_seg *seg = container_of(watch, struct udmabuf_seg,
					       watch);
	struct udmabuf_span changed = UDMABUF_SPAN_INIT;
	struct udmabuf_span zapped = UDMABUF_SPAN_INIT;
	struct udmabuf *buf = seg->buf;
	struct folio *folio;
	pgoff_t pg, nr, i;

	if (!READ_ONCE(udmabuf_follow_faults) ||
	    !udmabuf_seg_span(seg, first, last, &pg, &nr))
		return;
	/* Most faults map what the buffer holds: glance without the lock. */
	for (i = 0; i < nr; i++) {
		pgoff_t idx = udmabuf_seg_index(seg, pg + i);

		folio = READ_ONCE(buf->folios[pg + i]);
		if (!folio ||
		    (update && folio != udmabuf_update_at(update, idx)))
			break;
	}
	if (i == nr)
		return;
	mutex_lock(&buf->lock);
	if (update && mapping_watch_read_retry(watch, update->seq))
		update = NULL;
	/* The common refault: one hole, nothing to drop, no lookup. */
	folio = NULL;
	if (!buf->pinned && nr - i == 1 && !buf->folios[pg + i])
		folio = udmabuf_update_folio(seg, update,
					     udmabuf_seg_index(seg, pg + i));
	if (folio) {
		udmabuf_fill_page(buf, pg + i, folio, &zapped,
				  &udmabuf_stats.eager_pages);
	} else if (!buf->pinned) {
		udmabuf_drop_removed(seg, pg + i, nr - i, &changed);
		udmabuf_fill_locked(buf, pg + i, nr - i, false, &zapped,
				    &udmabuf_stats.eager_pages, update);
	} else {
		/*
		 * Pinned: the folio it holds may have left the page cache,
		 * the removal's call not come yet.  The last unpin looks it
		 * up again.
		 */
		for (; i < nr; i++)
			udmabuf_mark_stale(buf, pg + i);
	}
	mutex_unlock(&buf->lock);
	udmabuf_zap(buf, &zapped);
	if (changed.lo <= changed.hi)
		udmabuf_notify(buf, false);
}

static void udmabuf_update(struct mapping_watch *watch,
			   const struct mmu_notifier_update *update)
{
	udmabuf_refilled(watch, update->pgoff, update->pgoff +
			 ((update->end - update->start) >> PAGE_SHIFT) - 1,
			 update);
}

static void udmabuf_written(struct mapping_watch *watch, pgoff_t first,
			    pgoff_t last)
{
	udmabuf_refilled(watch, first, last, NULL);
}

static const struct mapping_watch_ops udmabuf_watch_ops = {
	.removed = udmabuf_removed,
	.update = udmabuf_update,
	.written = udmabuf_written,
};

/**
 * udmabuf_follow_start - watch the memfd ranges of a buffer
 * @buf: the buffer, with its segments set up and no page taken yet
 *
 * Return: 0 or -ENOMEM; on error, udmabuf_follow_stop() undoes what was
 * done.
 */
int udmabuf_follow_start(struct udmabuf *buf)
{
	unsigned int i;
	int ret;

	for (i = 0; i < buf->nr_segs; i++) {
		struct udmabuf_seg *seg = &buf->segs[i];

		ret = mapping_watch_insert(&seg->watch, seg->memfd, seg->first,
					   seg->first + seg->nr - 1,
					   &udmabuf_watch_ops);
		if (ret)
			return ret;
		seg->watched = true;
		atomic_long_inc(&udmabuf_stats.live_watches);
	}
	return 0;
}

/* Stop watching; no callback runs on the buffer once this returns. */
void udmabuf_follow_stop(struct udmabuf *buf)
{
	unsigned int i;

	for (i = 0; i < buf->nr_segs; i++) {
		if (!buf->segs[i].watched)
			continue;
		mapping_watch_remove(&buf->segs[i].watch);
		buf->segs[i].watched = false;
		atomic_long_dec(&udmabuf_stats.live_watches);
	}
}

/**
 * udmabuf_cpu_fault - what a CPU mmap of the buffer maps at a page
 * @buf: the buffer
 * @vmf: the fault, on a page of @buf's mmap
 * @mkwrite: a write to the read-only zero page mapped at a hole
 *
 * A read of a hole maps the zero page, read-only, without filling the hole;
 * a write fills it, as a write fault of the memfd would.
 *
 * Return: the fault's result.
 */
vm_fault_t udmabuf_cpu_fault(struct udmabuf *buf, struct vm_fault *vmf,
			     bool mkwrite)
{
	struct udmabuf_span zapped = UDMABUF_SPAN_INIT;
	struct vm_area_struct *vma = vmf->vma;
	unsigned long addr = vmf->address & PAGE_MASK;
	bool write = mkwrite || (vmf->flags & FAULT_FLAG_WRITE);
	struct udmabuf_seg *seg;
	pgoff_t pg = vmf->pgoff;
	struct folio *folio;
	vm_fault_t ret;
	int err;

	if (pg >= buf->pagecount)
		return VM_FAULT_SIGBUS;
	seg = udmabuf_seg_of(buf, pg);
	mutex_lock(&buf->lock);
	err = udmabuf_fill_locked(buf, pg, 1, write, &zapped,
				  &udmabuf_stats.lazy_pages, NULL);
	if (err) {
		mutex_unlock(&buf->lock);
		/*
		 * An empty hugetlb pool is no OOM that a kill fixes:
		 * VM_FAULT_OOM would refault forever.  A SIGBUS, as on the
		 * memfd itself.
		 */
		if (err == -ENOMEM && !is_file_hugepages(seg->memfd))
			return VM_FAULT_OOM;
		return VM_FAULT_SIGBUS;
	}
	/* The zero pages of this hole go before its page comes in. */
	udmabuf_zap(buf, &zapped);
	if (mkwrite) {
		/*
		 * This entry may still be the zero page, whoever filled the
		 * hole: never let it be made writable.  The write refaults and
		 * maps the page.
		 */
		zap_vma_ptes(vma, addr, PAGE_SIZE);
		mutex_unlock(&buf->lock);
		return VM_FAULT_NOPAGE;
	}
	folio = buf->folios[pg];
	if (folio) {
		struct page *page = folio_file_page(folio,
						    udmabuf_seg_index(seg, pg));

		ret = vmf_insert_pfn_prot(vma, addr, page_to_pfn(page),
					  vm_get_page_prot(vma->vm_flags));
	} else {
		set_bit(pg, buf->zero);
		atomic_long_inc(&udmabuf_stats.zero_maps);
		ret = vmf_insert_pfn_prot(vma, addr, my_zero_pfn(addr),
					  vm_get_page_prot(vma->vm_flags &
							   ~VM_WRITE));
	}
	mutex_unlock(&buf->lock);
	return ret;
}

/**
 * udmabuf_map_pages - an sg table of the buffer's pages, DMA-mapped
 * @buf: the buffer
 * @dev: the device to map for
 * @dir: the direction
 * @present: only the pages the buffer has (the CPU's view); otherwise fill
 *           every hole first, as an importer needs
 * @refs: the map may outlive the pins of the buffer
 *
 * A map that may outlive the buffer's pins, or made while nothing pins it,
 * holds a reference on each page, so that what an importer mapped stays
 * valid until it unmaps, after move_notify.
 *
 * Return: the map or an ERR_PTR().
 */
struct udmabuf_map *udmabuf_map_pages(struct udmabuf *buf, struct device *dev,
				      enum dma_data_direction dir, bool present,
				      bool refs)
{
	struct udmabuf_span zapped = UDMABUF_SPAN_INIT;
	struct udmabuf_map *map;
	struct scatterlist *sg;
	unsigned int i;
	pgoff_t pg;
	int ret;

	map = kzalloc(sizeof(*map), GFP_KERNEL);
	if (!map)
		return ERR_PTR(-ENOMEM);
	map->dev = dev;
	map->dir = dir;
	mutex_lock(&buf->lock);
	ret = 0;
	if (!present && !buf->pinned)
		ret = udmabuf_fill_locked(buf, 0, buf->pagecount, true,
					  &zapped, &udmabuf_stats.lazy_pages,
					  NULL);
	/* A buffer that is all holes has no page for the CPU to sync. */
	if (!ret && buf->pagecount > buf->holes)
		ret = sg_alloc_table(&map->sgt, buf->pagecount - buf->holes,
				     GFP_KERNEL);
	if (ret) {
		mutex_unlock(&buf->lock);
		kfree(map);
		udmabuf_zap(buf, &zapped);
		return ERR_PTR(ret);
	}
	map->refs = refs || !buf->pinned;
	map->gen = buf->gen;
	sg = map->sgt.sgl;
	for (i = 0; i < buf->nr_segs; i++) {
		const struct udmabuf_seg *seg = &buf->segs[i];

		for (pg = seg->start; pg < seg->start + seg->nr; pg++) {
			struct folio *folio = buf->folios[pg];
			struct page *page;

			if (!folio)
				continue;
			page = folio_file_page(folio,
					       udmabuf_seg_index(seg, pg));
			if (map->refs)
				get_page(page);
			sg_set_page(sg, page, PAGE_SIZE, 0);
			sg = sg_next(sg);
		}
	}
	mutex_unlock(&buf->lock);
	udmabuf_zap(buf, &zapped);
	ret = map->sgt.orig_nents ?
		dma_map_sgtable(dev, &map->sgt, dir, 0) : 0;
	if (ret) {
		udmabuf_unmap_pages(map);
		return ERR_PTR(ret);
	}
	return map;
}

/**
 * udmabuf_map_current - may a map made before be handed out again
 * @buf: the buffer
 * @map: from udmabuf_map_pages()
 *
 * Return: true if no page changed since @map was made, and its pages are
 * held: by its own references, or by a pin of the buffer.
 */
bool udmabuf_map_current(struct udmabuf *buf, const struct udmabuf_map *map)
{
	bool ret;

	mutex_lock(&buf->lock);
	ret = map->gen == buf->gen && (map->refs || buf->pinned);
	mutex_unlock(&buf->lock);
	return ret;
}

/* Undo udmabuf_map_pages(), or its table when the DMA mapping failed. */
void udmabuf_unmap_pages(struct udmabuf_map *map)
{
	struct scatterlist *sg;
	unsigned int i;

	if (map->sgt.nents)
		dma_unmap_sgtable(map->dev, &map->sgt, map->dir, 0);
	if (map->refs)
		for_each_sgtable_sg(&map->sgt, sg, i)
			put_page(sg_page(sg));
	sg_free_table(&map->sgt);
	kfree(map);
}

/* Let go of the SYNC view's pages: a removal must free them. */
void udmabuf_cpu_map_drop(struct udmabuf *buf)
{
	struct udmabuf_map *map;

	mutex_lock(&buf->map_lock);
	map = buf->cpu_map;
	buf->cpu_map = NULL;
	mutex_unlock(&buf->map_lock);
	if (map)
		udmabuf_unmap_pages(map);
}

/**
 * udmabuf_cpu_sync - DMA_BUF_IOCTL_SYNC
 * @buf: the buffer
 * @dir: the direction
 * @begin: start (catch up with the page cache, sync for the CPU) or end
 *         (sync for the device)
 *
 * Return: 0, or the errno of mapping the pages.
 */
int udmabuf_cpu_sync(struct udmabuf *buf, enum dma_data_direction dir,
		     bool begin)
{
	struct udmabuf_map *old = NULL, *map;
	int ret = 0;

	if (begin)
		udmabuf_catch_up(buf);
	mutex_lock(&buf->map_lock);
	if (begin && (!buf->cpu_map ||
		      buf->cpu_map->gen != READ_ONCE(buf->gen))) {
		map = udmabuf_map_pages(buf, udmabuf_dma_dev,
					DMA_BIDIRECTIONAL, true, true);
		if (IS_ERR(map)) {
			ret = PTR_ERR(map);
			goto unlock;
		}
		old = buf->cpu_map;
		buf->cpu_map = map;
	}
	/* At the end, a view that a removal dropped has nothing to sync. */
	if (!buf->cpu_map)
		ret = begin ? -EINVAL : 0;
	else if (begin)
		dma_sync_sgtable_for_cpu(udmabuf_dma_dev, &buf->cpu_map->sgt,
					 dir);
	else
		dma_sync_sgtable_for_device(udmabuf_dma_dev,
					    &buf->cpu_map->sgt, dir);
unlock:
	mutex_unlock(&buf->map_lock);
	if (old)
		udmabuf_unmap_pages(old);
	return ret;
}
