// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf: dma-bufs over memfd pages that follow page replacement.
 *
 * Drop-in replacement for drivers/dma-buf/udmabuf.c (same /dev/udmabuf
 * uAPI, limits and errnos as Linux 6.12).  The stock driver pins the folios
 * it finds at create time forever; when the memfd range is hole-punched and
 * written again, the memfd gets new folios but the dma-buf keeps the old
 * ones.  This one follows the page cache:
 *
 * Eager path (the creator's faults).  Each buffer subscribes the mm of the
 * process that created it to the mmu notifier update op (one plain struct
 * mmu_notifier per mm, shared through mmu_notifier_get()).  When a fault in
 * that mm (a CPU access or get_user_pages(), e.g. KVM faulting guest RAM)
 * installs a shmem or hugetlbfs folio through any mapping of the memfd at
 * an offset that a live buffer covers, the update callback first compares
 * the mapped pfns with what the buffers hold (equal: nothing to do), checks
 * on the mapped folio itself that it is still in the page cache at that
 * index, pins what the page cache holds at the indices that changed, takes
 * udmabuf_mm.lock (the lock that invalidate_range_start() takes), validates
 * with mmu_notifier_update_retry(), checks that the pinned folio is the one
 * the fault mapped (pfn match) and swaps it into every buffer of that mm
 * that covers the index.  Updates of up to 16 pages use no heap memory but
 * the one pin record per new folio.
 *
 * Lazy path (everything else: another process or mm, write(2), a fault the
 * update op missed).  These accesses first check each folio they are about
 * to use and, if it left the memfd's page cache at its index (punched or
 * truncated), pin that index again with memfd_pin_folios():
 *  - a fault on a CPU mmap of the buffer (the faulting page),
 *  - dma_buf_vmap() when the buffer is not vmapped yet (all pages),
 *  - DMA_BUF_IOCTL_SYNC start, i.e. begin_cpu_access (all pages),
 *  - map_dma_buf (all pages).
 * A hole that was punched and not written again is filled with a new zero
 * folio, as a read fault of the memfd would, so the buffer never shows the
 * contents from before the punch.
 *
 * After a swap, whichever path made it zaps the buffer's CPU mmaps (they
 * refault to the new pfn), points the live kernel vmap at the new pages,
 * bumps the generation so that the sg table cached for begin/end_cpu_access
 * is rebuilt on the next begin, and calls dma_buf_move_notify().  So a CPU
 * mmap or vmap that already maps a replaced page only keeps showing it when
 * the replacement came from outside the creator's mm and no access above
 * has run since: bracketing CPU access with DMA_BUF_IOCTL_SYNC, as dma-buf
 * asks anyway, is enough to see the new page.
 *
 * What importers see: a dynamic importer is told to move and maps again,
 * getting the current folios (only with CONFIG_DMABUF_MOVE_NOTIFY; without
 * it the core pins and importers behave as static ones).  A static importer
 * (vgem and most GPU drivers) got its sg table at attach time and keeps the
 * folios of that moment: they stay pinned by that sg table until it is
 * unmapped, so its DMA never touches freed memory, but it does not see
 * replaced pages.  Its CPU mmaps go through this driver's mmap and follow.
 * The kernel vmap (one at a time, the dma-buf core refcounts it) has its
 * page table entries rewritten on x86; elsewhere a live vmap keeps the old
 * pages (pinned until vunmap) and the next vmap sees the new ones.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hugetlb.h>
#include <linux/iosys-map.h>
#include <linux/kref.h>
#include <linux/llist.h>
#include <linux/memfd.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/scatterlist.h>
#include <linux/seq_file.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/udmabuf.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#ifdef CONFIG_X86
#include <asm/tlbflush.h>
#endif

static int list_limit = 1024;
module_param(list_limit, int, 0644);
MODULE_PARM_DESC(list_limit,
		 "udmabuf_create_list->count limit. Default is 1024.");

static int size_limit_mb = 64;
module_param(size_limit_mb, int, 0644);
MODULE_PARM_DESC(size_limit_mb,
		 "Max size of a dmabuf, in megabytes. Default is 64.");

static bool follow_faults = true;
module_param(follow_faults, bool, 0644);
MODULE_PARM_DESC(follow_faults,
		 "Follow the creator's faults eagerly (test knob). Default is Y.");

static unsigned int update_delay_us;
module_param(update_delay_us, uint, 0644);
MODULE_PARM_DESC(update_delay_us,
		 "Delay before validating an update, widens races (test knob).");

#define UDMABUF_SEALS_WANTED	(F_SEAL_SHRINK)
#define UDMABUF_SEALS_DENIED	(F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)

/*
 * One FOLL_PIN pin of a folio, shared by every user of that pin: @ref counts
 * buffer pages (and map snapshot pages) using it, added and dropped per run
 * of pages, so a 2 MiB folio costs one atomic operation, not 512.
 */
struct udmabuf_pin {
	struct folio *folio;
	union {
		struct kref ref;
		struct llist_node reap;	/* once @ref dropped to 0 */
	};
};

/* A buffer page: page @sub of @pin's folio. */
struct udmabuf_page {
	struct udmabuf_pin *pin;
	unsigned long sub;
};

/* The buffer pages [@start, @start + @nr) are memfd pages from @first. */
struct udmabuf_seg {
	struct file *memfd;
	pgoff_t first;
	pgoff_t start;
	pgoff_t nr;
};

/* An sg table or a vmap, with a reference on every pin it uses. */
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

/* The update subscription of one mm, shared by the buffers it created. */
struct udmabuf_mm {
	struct mmu_notifier mn;
	/*
	 * The notifier's user lock: invalidate_range_start() takes it, update
	 * callbacks validate under it.  Also protects @bufs.  Nothing that
	 * can allocate, fault or zap runs under it.
	 */
	struct mutex lock;
	struct list_head bufs;
};

struct udmabuf {
	struct kref ref;
	struct dma_buf *dmabuf;
	struct udmabuf_mm *um;		/* NULL when nobody follows */
	struct list_head mm_node;	/* on um->bufs, under um->lock */
	/*
	 * The dma-buf file's inode, held: its mapping has the CPU mmaps to
	 * zap.  The update callback has no reference on the dma-buf file, and
	 * the file may already be gone when the buffer is released, so the
	 * mapping is reached through this inode, never through the file.
	 */
	struct inode *inode;
	/*
	 * Update callbacks that picked this buffer from um->bufs and still
	 * use it (zap, move_notify); release waits for them after unlinking.
	 */
	atomic_t notifying;
	wait_queue_head_t notify_wq;
	/*
	 * Protects @pages and @gen.  Nests inside um->lock; never held while
	 * allocating, pinning or zapping.
	 */
	struct mutex lock;
	unsigned long gen;		/* bumped on every replacement */
	pgoff_t pagecount;
	struct udmabuf_page *pages;
	unsigned int nr_segs;
	struct udmabuf_seg *segs;
	/* Protects @cpu_map (begin/end_cpu_access). */
	struct mutex map_lock;
	struct udmabuf_map *cpu_map;
	/* Protects @vmap, its pins and its kernel page table entries. */
	struct mutex vmap_lock;
	struct udmabuf_map *vmap;
};

static struct miscdevice udmabuf_misc;

/* Event counters, shown in <debugfs>/udmabuf/stats. */
static struct {
	atomic_long_t eager_hits;	/* updates that found stale pages */
	atomic_long_t eager_retry;	/* ... dropped by validation */
	atomic_long_t eager_pages;	/* pages swapped by the eager path */
	atomic_long_t lazy_pages;	/* pages swapped by the lazy path */
	atomic_long_t vmap_pages;	/* vmap entries pointed elsewhere */
} udmabuf_stats;

static struct dentry *udmabuf_debugfs;

static int udmabuf_stats_show(struct seq_file *m, void *unused)
{
	seq_printf(m, "eager_hits %ld\neager_retry %ld\neager_pages %ld\n",
		   atomic_long_read(&udmabuf_stats.eager_hits),
		   atomic_long_read(&udmabuf_stats.eager_retry),
		   atomic_long_read(&udmabuf_stats.eager_pages));
	seq_printf(m, "lazy_pages %ld\nvmap_pages %ld\n",
		   atomic_long_read(&udmabuf_stats.lazy_pages),
		   atomic_long_read(&udmabuf_stats.vmap_pages));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(udmabuf_stats);

static void udmabuf_pin_release(struct kref *ref)
{
	struct udmabuf_pin *pin = container_of(ref, struct udmabuf_pin, ref);

	unpin_folio(pin->folio);
	kfree(pin);
}

static void udmabuf_pin_put(struct udmabuf_pin *pin)
{
	kref_put(&pin->ref, udmabuf_pin_release);
}

/*
 * Take or drop the pin references of @nr buffer pages, one atomic operation
 * per run of pages sharing a pin (a huge folio is one run).  Pages without
 * a pin are skipped.  @contig: the pages are as udmabuf_pin_pages() made
 * them (no page replaced since, i.e. generation 0), so the pages of a pin
 * are contiguous and a run is found without visiting each of its pages.
 */
static void udmabuf_pages_ref(struct udmabuf_page *pages, pgoff_t nr,
			      bool get, bool contig)
{
	void *dead[32];
	unsigned int nr_dead = 0;
	pgoff_t pg = 0, run;

	while (pg < nr) {
		struct udmabuf_pin *pin = pages[pg].pin;

		run = 1;
		if (contig && pin) {
			run = min_t(pgoff_t, nr - pg,
				    folio_nr_pages(pin->folio) - pages[pg].sub);
			if (pages[pg + run - 1].pin != pin)
				run = 1;
		}
		for (; pg + run < nr && pages[pg + run].pin == pin; run++)
			;
		pg += run;
		if (!pin)
			continue;
		if (get) {
			refcount_add(run, &pin->ref.refcount);
			continue;
		}
		if (!refcount_sub_and_test(run, &pin->ref.refcount))
			continue;
		/* As udmabuf_pin_release(), freeing the records in bulk. */
		unpin_folio(pin->folio);
		dead[nr_dead++] = pin;
		if (nr_dead == ARRAY_SIZE(dead)) {
			kfree_bulk(nr_dead, dead);
			nr_dead = 0;
		}
	}
	if (nr_dead)
		kfree_bulk(nr_dead, dead);
}

/*
 * The pins that the eager path replaced are released out of the fault path,
 * in batches, by udmabuf_reap_work; udmabuf_release() and module exit flush
 * it, so closing a buffer still returns its memory at once.
 */
static LLIST_HEAD(udmabuf_reap_list);

static void udmabuf_reap(struct work_struct *work)
{
	struct llist_node *list = llist_del_all(&udmabuf_reap_list);
	struct udmabuf_pin *pin, *next;
	struct folio_batch fbatch;

	folio_batch_init(&fbatch);
	llist_for_each_entry_safe(pin, next, list, reap) {
		/* Keep a plain reference, to free the folios in batches. */
		folio_get(pin->folio);
		unpin_folio(pin->folio);
		if (!folio_batch_add(&fbatch, pin->folio))
			folios_put(&fbatch);
		kfree(pin);
	}
	folios_put(&fbatch);
}

static DECLARE_DELAYED_WORK(udmabuf_reap_work, udmabuf_reap);

/* Drop @n references of @pin, releasing it from udmabuf_reap_work. */
static void udmabuf_pin_put_deferred(struct udmabuf_pin *pin, unsigned long n)
{
	if (!refcount_sub_and_test(n, &pin->ref.refcount))
		return;
	if (llist_add(&pin->reap, &udmabuf_reap_list))
		schedule_delayed_work(&udmabuf_reap_work, 1);
}

static unsigned long udmabuf_page_pfn(const struct udmabuf_page *p)
{
	return folio_pfn(p->pin->folio) + p->sub;
}

/**
 * udmabuf_pin_pages - pin a range of memfd pages
 * @memfd: the memfd
 * @first: memfd page index of the first page
 * @nr: number of pages
 * @pages: receives one pin reference per page
 *
 * Context: process context, may sleep and allocate; no udmabuf lock held.
 * Return: 0 or a negative errno (nothing pinned then).
 */
static int udmabuf_pin_pages(struct file *memfd, pgoff_t first, pgoff_t nr,
			     struct udmabuf_page *pages)
{
	struct folio **folios;
	pgoff_t done = 0;
	pgoff_t off;
	long n, k;
	int ret = 0;

	folios = kvmalloc_array(nr, sizeof(*folios), GFP_KERNEL);
	if (!folios)
		return -ENOMEM;
	n = memfd_pin_folios(memfd, (loff_t)first << PAGE_SHIFT,
			     ((loff_t)(first + nr) << PAGE_SHIFT) - 1,
			     folios, nr, &off);
	if (n <= 0) {
		ret = n ? n : -EINVAL;
		goto free_folios;
	}
	for (k = 0; k < n; k++) {
		unsigned long sub = k ? 0 : off >> PAGE_SHIFT;
		unsigned long cnt = 0;
		struct udmabuf_pin *pin;

		if (sub < folio_nr_pages(folios[k]))
			cnt = min_t(unsigned long,
				    folio_nr_pages(folios[k]) - sub, nr - done);
		if (!cnt) {
			unpin_folio(folios[k]);
			continue;
		}
		pin = kmalloc(sizeof(*pin), GFP_KERNEL);
		if (!pin) {
			ret = -ENOMEM;
			break;
		}
		pin->folio = folios[k];
		/* One reference per buffer page, counted once per folio. */
		refcount_set(&pin->ref.refcount, cnt);
		for (; cnt; cnt--, sub++, done++) {
			pages[done].pin = pin;
			pages[done].sub = sub;
		}
	}
	/* memfd_pin_folios() covers the range or fails: be safe anyway. */
	if (!ret && done != nr)
		ret = -EINVAL;
	if (ret) {
		for (; k < n; k++)
			unpin_folio(folios[k]);
		udmabuf_pages_ref(pages, done, false, false);
	}
free_folios:
	kvfree(folios);
	return ret;
}

static void udmabuf_free(struct kref *ref)
{
	struct udmabuf *buf = container_of(ref, struct udmabuf, ref);
	unsigned int i;

	udmabuf_pages_ref(buf->pages, buf->pagecount, false, !buf->gen);
	for (i = 0; i < buf->nr_segs; i++)
		if (buf->segs[i].memfd)
			fput(buf->segs[i].memfd);
	kvfree(buf->pages);
	kfree(buf->segs);
	kfree(buf);
}

static void udmabuf_put(struct udmabuf *buf)
{
	kref_put(&buf->ref, udmabuf_free);
}

/* The segment of buffer page @pg: segments are sorted by @start. */
static struct udmabuf_seg *udmabuf_seg_of(struct udmabuf *buf, pgoff_t pg)
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

/* Called with buf->lock held: the folio left the page cache at its index. */
static bool udmabuf_page_stale(struct udmabuf *buf, struct udmabuf_seg *seg,
			       pgoff_t pg)
{
	struct udmabuf_page *p = &buf->pages[pg];
	struct folio *folio = p->pin->folio;

	lockdep_assert_held(&buf->lock);
	if (READ_ONCE(folio->mapping) != seg->memfd->f_mapping)
		return true;
	return folio->index + p->sub != seg->first + (pg - seg->start);
}

#ifdef CONFIG_X86
/* Point the 4 KiB kernel mapping at @addr to @page. */
static bool udmabuf_set_kernel_pte(unsigned long addr, struct page *page)
{
	unsigned int level;
	pte_t *pte;

	pte = lookup_address(addr, &level);
	if (WARN_ON_ONCE(!pte || level != PG_LEVEL_4K))
		return false;
	set_pte(pte, mk_pte(page, PAGE_KERNEL));
	return true;
}

static void udmabuf_flush_tlb(void *unused)
{
	__flush_tlb_all();
}

/*
 * Point the live kernel vmap, if any, at the current pages of [@first,
 * @first + @nr).  The replaced pages stay pinned by the vmap until every CPU
 * flushed its TLB, so a reader sees the old page or the new one.
 */
static void udmabuf_vmap_refresh(struct udmabuf *buf, pgoff_t first,
				 pgoff_t nr)
{
	struct udmabuf_pin *old_s[16], **old = old_s;
	struct udmabuf_map *map;
	pgoff_t pg, nr_old = 0;

	/*
	 * No vmap: nothing to do.  One set up meanwhile catches up with
	 * buf->pages under buf->lock after publishing itself, so it sees
	 * any replacement made before this check.
	 */
	if (!READ_ONCE(buf->vmap))
		return;
	mutex_lock(&buf->vmap_lock);
	map = buf->vmap;
	if (!map)
		goto unlock_vmap;
	if (nr > ARRAY_SIZE(old_s))
		old = kvmalloc_array(nr, sizeof(*old), GFP_KERNEL);
	if (!old)
		goto unlock_vmap;
	for (pg = first; pg < first + nr; pg++) {
		struct page *page;

		struct udmabuf_page cur;

		mutex_lock(&buf->lock);
		cur = buf->pages[pg];
		if (cur.pin != map->pages[pg].pin)
			kref_get(&cur.pin->ref);
		mutex_unlock(&buf->lock);
		if (cur.pin == map->pages[pg].pin)
			continue;
		page = folio_page(cur.pin->folio, cur.sub);
		if (!udmabuf_set_kernel_pte((unsigned long)map->vaddr +
					    pg * PAGE_SIZE, page)) {
			udmabuf_pin_put(cur.pin);
			continue;
		}
		old[nr_old++] = map->pages[pg].pin;
		map->pages[pg] = cur;
		map->contig = false;
	}
	if (nr_old) {
		on_each_cpu(udmabuf_flush_tlb, NULL, 1);
		atomic_long_add(nr_old, &udmabuf_stats.vmap_pages);
	}
	mutex_unlock(&buf->vmap_lock);
	while (nr_old)
		udmabuf_pin_put(old[--nr_old]);
	if (old != old_s)
		kvfree(old);
	return;

unlock_vmap:
	mutex_unlock(&buf->vmap_lock);
}
#else
/* No way to flush kernel TLBs from a module: a live vmap stays as it is. */
static void udmabuf_vmap_refresh(struct udmabuf *buf, pgoff_t first,
				 pgoff_t nr)
{
}
#endif

/*
 * After pages [@first, @first + @nr) of @buf were replaced: zap the CPU
 * mmaps, refresh the kernel vmap and tell dynamic importers.  @resv_held:
 * the caller holds the reservation lock (vmap, map_dma_buf); @notify: call
 * move_notify.
 */
static void udmabuf_changed(struct udmabuf *buf, pgoff_t first, pgoff_t nr,
			    bool resv_held, bool notify)
{
	/*
	 * Not mmapped: nothing to zap.  udmabuf_vm_fault() inserts only
	 * after its mmap is on the mapping, and checks buf->gen after
	 * inserting, so an entry this check misses is dropped by its fault.
	 */
	if (mapping_mapped(buf->inode->i_mapping))
		unmap_mapping_range(buf->inode->i_mapping,
				    (loff_t)first << PAGE_SHIFT,
				    (loff_t)nr << PAGE_SHIFT, 1);
	udmabuf_vmap_refresh(buf, first, nr);
	if (!notify)
		return;
	/*
	 * No attachment: nobody to tell, and no lock to take.  An importer
	 * attaching meanwhile maps through udmabuf_map_sg(), whose
	 * buf->lock section comes after this replacement's, or added
	 * itself before it and is seen here.
	 */
	if (list_empty(&buf->dmabuf->attachments))
		return;
	if (!resv_held)
		dma_resv_lock(buf->dmabuf->resv, NULL);
	dma_buf_move_notify(buf->dmabuf);
	if (!resv_held)
		dma_resv_unlock(buf->dmabuf->resv);
}

/**
 * udmabuf_follow_lazy - repin the pages whose folio left the page cache
 * @buf: the buffer
 * @first: first buffer page to check
 * @nr: number of pages to check
 * @resv_held: the caller holds the buffer's reservation lock
 * @notify: tell dynamic importers when something changed
 *
 * Context: process context, no udmabuf lock held.
 * Return: 0 or a negative errno from pinning.
 */
static int udmabuf_follow_lazy(struct udmabuf *buf, pgoff_t first,
			       pgoff_t nr, bool resv_held, bool notify)
{
	pgoff_t end = first + nr, pg = first, run, i;
	struct udmabuf_page *fresh, *old;
	pgoff_t lo = end, hi = 0;
	struct udmabuf_seg *seg;
	int ret = 0;

	while (pg < end) {
		mutex_lock(&buf->lock);
		for (; pg < end; pg++) {
			seg = udmabuf_seg_of(buf, pg);
			if (udmabuf_page_stale(buf, seg, pg))
				break;
		}
		if (pg == end) {
			mutex_unlock(&buf->lock);
			break;
		}
		for (run = 1; pg + run < end &&
		     pg + run - seg->start < seg->nr &&
		     udmabuf_page_stale(buf, seg, pg + run); run++)
			;
		mutex_unlock(&buf->lock);

		fresh = kvcalloc(run, 2 * sizeof(*fresh), GFP_KERNEL);
		if (!fresh)
			return -ENOMEM;
		old = fresh + run;
		ret = udmabuf_pin_pages(seg->memfd,
					seg->first + (pg - seg->start),
					run, fresh);
		if (ret) {
			kvfree(fresh);
			break;
		}
		mutex_lock(&buf->lock);
		for (i = 0; i < run; i++) {
			/* Someone else may have followed it meanwhile. */
			if (!udmabuf_page_stale(buf, seg, pg + i)) {
				old[i] = fresh[i];
				continue;
			}
			old[i] = buf->pages[pg + i];
			buf->pages[pg + i] = fresh[i];
			buf->gen++;
			atomic_long_inc(&udmabuf_stats.lazy_pages);
			lo = min(lo, pg + i);
			hi = max(hi, pg + i);
		}
		mutex_unlock(&buf->lock);
		if (lo <= hi)
			udmabuf_changed(buf, lo, hi - lo + 1, resv_held,
					notify);
		udmabuf_pages_ref(old, run, false, false);
		kvfree(fresh);
		lo = end;
		hi = 0;
		pg += run;
	}
	return ret;
}

/* Snapshot the pages with a pin reference each, after following lazily. */
static struct udmabuf_map *udmabuf_map_get(struct udmabuf *buf, bool resv_held,
					   bool notify)
{
	struct udmabuf_map *map;
	int ret;

	ret = udmabuf_follow_lazy(buf, 0, buf->pagecount, resv_held, notify);
	if (ret)
		return ERR_PTR(ret);
	map = kvzalloc(struct_size(map, pages, buf->pagecount), GFP_KERNEL);
	if (!map)
		return ERR_PTR(-ENOMEM);
	map->nr = buf->pagecount;
	mutex_lock(&buf->lock);
	memcpy(map->pages, buf->pages, buf->pagecount * sizeof(*map->pages));
	map->gen = buf->gen;
	map->contig = !map->gen;
	udmabuf_pages_ref(map->pages, map->nr, true, map->contig);
	mutex_unlock(&buf->lock);
	return map;
}

static void udmabuf_map_put(struct udmabuf_map *map)
{
	udmabuf_pages_ref(map->pages, map->nr, false, map->contig);
	kvfree(map);
}

static struct page *udmabuf_map_page(struct udmabuf_map *map, pgoff_t pg)
{
	return folio_page(map->pages[pg].pin->folio, map->pages[pg].sub);
}

static struct udmabuf_map *udmabuf_map_sg(struct udmabuf *buf,
					  struct device *dev,
					  enum dma_data_direction dir,
					  bool resv_held, bool notify)
{
	struct udmabuf_map *map;
	struct scatterlist *sg;
	pgoff_t pg;
	int ret;

	map = udmabuf_map_get(buf, resv_held, notify);
	if (IS_ERR(map))
		return map;
	ret = sg_alloc_table(&map->sgt, map->nr, GFP_KERNEL);
	if (ret)
		goto put_map;
	for_each_sgtable_sg(&map->sgt, sg, pg)
		sg_set_page(sg, udmabuf_map_page(map, pg), PAGE_SIZE, 0);
	ret = dma_map_sgtable(dev, &map->sgt, dir, DMA_ATTR_SKIP_CPU_SYNC);
	if (ret)
		goto free_table;
	map->dev = dev;
	map->dir = dir;
	return map;

free_table:
	sg_free_table(&map->sgt);
put_map:
	udmabuf_map_put(map);
	return ERR_PTR(ret);
}

static void udmabuf_unmap_sg(struct udmabuf_map *map)
{
	dma_unmap_sgtable(map->dev, &map->sgt, map->dir,
			  DMA_ATTR_SKIP_CPU_SYNC);
	sg_free_table(&map->sgt);
	udmabuf_map_put(map);
}

static vm_fault_t udmabuf_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct udmabuf *buf = vma->vm_private_data;
	unsigned long addr = vmf->address & PAGE_MASK;
	struct udmabuf_pin *pin;
	unsigned long pfn, gen;
	vm_fault_t ret;
	bool moved;
	int err;

	if (vmf->pgoff >= buf->pagecount)
		return VM_FAULT_SIGBUS;
	err = udmabuf_follow_lazy(buf, vmf->pgoff, 1, false, true);
	if (err)
		return vmf_error(err);

	mutex_lock(&buf->lock);
	pin = buf->pages[vmf->pgoff].pin;
	kref_get(&pin->ref);
	pfn = udmabuf_page_pfn(&buf->pages[vmf->pgoff]);
	gen = buf->gen;
	mutex_unlock(&buf->lock);

	/*
	 * Insert without buf->lock: page table allocation may reclaim, and
	 * reclaim may invalidate and take um->lock, which nests outside
	 * buf->lock.  A replacement that raced with the insertion may have
	 * zapped before the entry existed: drop the entry then, the access
	 * refaults.  The pin reference keeps the pfn valid meanwhile.
	 */
	ret = vmf_insert_pfn(vma, addr, pfn);
	mutex_lock(&buf->lock);
	moved = buf->gen != gen;
	mutex_unlock(&buf->lock);
	if (moved)
		zap_vma_ptes(vma, addr, PAGE_SIZE);
	udmabuf_pin_put(pin);
	return ret;
}

static const struct vm_operations_struct udmabuf_vm_ops = {
	.fault = udmabuf_vm_fault,
};

static int udmabuf_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma)
{
	struct udmabuf *buf = dmabuf->priv;

	if (!(vma->vm_flags & (VM_SHARED | VM_MAYSHARE)))
		return -EINVAL;
	vma->vm_ops = &udmabuf_vm_ops;
	vma->vm_private_data = buf;
	vm_flags_set(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	return 0;
}

static int udmabuf_vmap(struct dma_buf *dmabuf, struct iosys_map *ism)
{
	struct udmabuf *buf = dmabuf->priv;
	struct udmabuf_map *map;
	struct page **pages;
	int ret = 0;
	pgoff_t pg;

	dma_resv_assert_held(dmabuf->resv);
	map = udmabuf_map_get(buf, true, true);
	if (IS_ERR(map))
		return PTR_ERR(map);
	pages = kvmalloc_array(map->nr, sizeof(*pages), GFP_KERNEL);
	if (!pages) {
		ret = -ENOMEM;
		goto put_map;
	}
	for (pg = 0; pg < map->nr; pg++)
		pages[pg] = udmabuf_map_page(map, pg);
	map->vaddr = vm_map_ram(pages, map->nr, NUMA_NO_NODE);
	kvfree(pages);
	if (!map->vaddr) {
		ret = -EINVAL;
		goto put_map;
	}
	mutex_lock(&buf->vmap_lock);
	if (WARN_ON_ONCE(buf->vmap)) {
		mutex_unlock(&buf->vmap_lock);
		vm_unmap_ram(map->vaddr, map->nr);
		ret = -EBUSY;
		goto put_map;
	}
	WRITE_ONCE(buf->vmap, map);
	mutex_unlock(&buf->vmap_lock);
	/* Catch up with replacements since the snapshot. */
	udmabuf_vmap_refresh(buf, 0, map->nr);
	iosys_map_set_vaddr(ism, map->vaddr);
	return 0;

put_map:
	udmabuf_map_put(map);
	return ret;
}

static void udmabuf_vunmap(struct dma_buf *dmabuf, struct iosys_map *ism)
{
	struct udmabuf *buf = dmabuf->priv;
	struct udmabuf_map *map;

	dma_resv_assert_held(dmabuf->resv);
	mutex_lock(&buf->vmap_lock);
	map = buf->vmap;
	WRITE_ONCE(buf->vmap, NULL);
	mutex_unlock(&buf->vmap_lock);
	if (WARN_ON_ONCE(!map || map->vaddr != ism->vaddr))
		return;
	vm_unmap_ram(map->vaddr, map->nr);
	udmabuf_map_put(map);
}

static struct sg_table *udmabuf_map_dma_buf(struct dma_buf_attachment *at,
					    enum dma_data_direction dir)
{
	struct udmabuf_map *map;

	/* The importer is mapping: no point telling it to move. */
	map = udmabuf_map_sg(at->dmabuf->priv, at->dev, dir, true, false);
	if (IS_ERR(map))
		return ERR_CAST(map);
	return &map->sgt;
}

static void udmabuf_unmap_dma_buf(struct dma_buf_attachment *at,
				  struct sg_table *sgt,
				  enum dma_data_direction dir)
{
	udmabuf_unmap_sg(container_of(sgt, struct udmabuf_map, sgt));
}

/* The pages never move while pinned by the buffer: nothing to do. */
static int udmabuf_pin(struct dma_buf_attachment *at)
{
	return 0;
}

static void udmabuf_unpin(struct dma_buf_attachment *at)
{
}

static int udmabuf_begin_cpu_access(struct dma_buf *dmabuf,
				    enum dma_data_direction dir)
{
	struct udmabuf *buf = dmabuf->priv;
	struct device *dev = udmabuf_misc.this_device;
	struct udmabuf_map *map, *old = NULL;
	unsigned long gen;
	int ret;

	ret = udmabuf_follow_lazy(buf, 0, buf->pagecount, false, true);
	if (ret)
		return ret;
	mutex_lock(&buf->map_lock);
	mutex_lock(&buf->lock);
	gen = buf->gen;
	mutex_unlock(&buf->lock);
	if (!buf->cpu_map || buf->cpu_map->gen != gen) {
		/* No move_notify here: that takes the reservation lock. */
		map = udmabuf_map_sg(buf, dev, DMA_BIDIRECTIONAL, false,
				     false);
		if (IS_ERR(map)) {
			ret = PTR_ERR(map);
			goto unlock_map;
		}
		old = buf->cpu_map;
		buf->cpu_map = map;
	}
	dma_sync_sgtable_for_cpu(dev, &buf->cpu_map->sgt, dir);
unlock_map:
	mutex_unlock(&buf->map_lock);
	if (old)
		udmabuf_unmap_sg(old);
	return ret;
}

static int udmabuf_end_cpu_access(struct dma_buf *dmabuf,
				  enum dma_data_direction dir)
{
	struct udmabuf *buf = dmabuf->priv;
	int ret = 0;

	mutex_lock(&buf->map_lock);
	if (buf->cpu_map)
		dma_sync_sgtable_for_device(udmabuf_misc.this_device,
					    &buf->cpu_map->sgt, dir);
	else
		ret = -EINVAL;
	mutex_unlock(&buf->map_lock);
	return ret;
}

static void udmabuf_release(struct dma_buf *dmabuf)
{
	struct udmabuf *buf = dmabuf->priv;

	if (buf->um) {
		mutex_lock(&buf->um->lock);
		list_del_init(&buf->mm_node);
		mutex_unlock(&buf->um->lock);
		/* No new callback can find it: wait for those that did. */
		wait_event(buf->notify_wq, !atomic_read(&buf->notifying));
		mmu_notifier_put(&buf->um->mn);
		buf->um = NULL;
		/* Release the pins its updates replaced now, not later. */
		flush_delayed_work(&udmabuf_reap_work);
	}
	if (buf->cpu_map)
		udmabuf_unmap_sg(buf->cpu_map);
	WARN_ON_ONCE(buf->vmap);
	iput(buf->inode);
	udmabuf_put(buf);
}

static const struct dma_buf_ops udmabuf_ops = {
	.pin = udmabuf_pin,
	.unpin = udmabuf_unpin,
	.map_dma_buf = udmabuf_map_dma_buf,
	.unmap_dma_buf = udmabuf_unmap_dma_buf,
	.release = udmabuf_release,
	.mmap = udmabuf_mmap,
	.vmap = udmabuf_vmap,
	.vunmap = udmabuf_vunmap,
	.begin_cpu_access = udmabuf_begin_cpu_access,
	.end_cpu_access = udmabuf_end_cpu_access,
};

/* ---- Eager path: the update notifier of the creator's mm. ---- */

static int udmabuf_mn_invalidate_start(struct mmu_notifier *mn,
				       const struct mmu_notifier_range *range)
{
	struct udmabuf_mm *um = container_of(mn, struct udmabuf_mm, mn);

	/* Only orders against update validation: see udmabuf_mn_update(). */
	if (mmu_notifier_range_blockable(range))
		mutex_lock(&um->lock);
	else if (!mutex_trylock(&um->lock))
		return -EAGAIN;
	mutex_unlock(&um->lock);
	return 0;
}

struct udmabuf_update {
	struct address_space *mapping;
	pgoff_t first;		/* memfd index mapped at update->start */
	pgoff_t end;		/* one past the last memfd index mapped */
	unsigned long pfn;	/* pfn mapped at @first */
};

/* The memfd indices [@lo, @hi) of @seg that the update @up mapped, if any. */
static bool udmabuf_seg_clip(const struct udmabuf_seg *seg,
			     const struct udmabuf_update *up, pgoff_t *lo,
			     pgoff_t *hi)
{
	if (seg->memfd->f_mapping != up->mapping)
		return false;
	*lo = max(up->first, seg->first);
	*hi = min(up->end, seg->first + seg->nr);
	return *lo < *hi;
}

/*
 * First pass, under um->lock: how many buffer pages hold another folio than
 * the one mapped, in which index range, and how many buffers.
 */
static pgoff_t udmabuf_update_scan(struct udmabuf_mm *um,
				   struct udmabuf_update *up, pgoff_t *lo_out,
				   pgoff_t *hi_out, unsigned int *nr_bufs)
{
	pgoff_t lo, hi, idx, pg, count = 0;
	struct udmabuf *buf;
	unsigned int i;

	*lo_out = ULONG_MAX;
	*hi_out = 0;
	*nr_bufs = 0;
	list_for_each_entry(buf, &um->bufs, mm_node) {
		bool hit = false;

		mutex_lock(&buf->lock);
		for (i = 0; i < buf->nr_segs; i++) {
			struct udmabuf_seg *seg = &buf->segs[i];

			if (!udmabuf_seg_clip(seg, up, &lo, &hi))
				continue;
			for (idx = lo; idx < hi; idx++) {
				pg = seg->start + (idx - seg->first);
				if (udmabuf_page_pfn(&buf->pages[pg]) ==
				    up->pfn + (idx - up->first))
					continue;
				count++;
				hit = true;
				*lo_out = min(*lo_out, idx);
				*hi_out = max(*hi_out, idx + 1);
			}
		}
		mutex_unlock(&buf->lock);
		*nr_bufs += hit;
	}
	return count;
}

/* The pinned folio that holds memfd index @idx, or NULL. */
static struct udmabuf_pin *udmabuf_find_pin(struct udmabuf_pin **pins,
					    long nr, pgoff_t idx)
{
	long k;

	for (k = 0; k < nr; k++)
		if (idx - pins[k]->folio->index <
		    folio_nr_pages(pins[k]->folio))
			return pins[k];
	return NULL;
}

/* Updates of up to this many pages and buffers need no heap memory. */
#define UDMABUF_SWAP_PAGES	16
#define UDMABUF_SWAP_BUFS	4

/* Work memory of one update, set up before um->lock is taken. */
struct udmabuf_swap {
	struct folio **folios;		/* what memfd_pin_folios() pinned */
	struct udmabuf_pin **pins;	/* the folios pinned for the range */
	long nr_pins;
	struct udmabuf_pin **old;	/* replaced pins, put after the zap */
	pgoff_t nr_old, max_old;
	struct udmabuf **bufs;		/* buffers changed, with a reference */
	pgoff_t *lo, *hi;		/* buffer pages changed, per buffer */
	unsigned int nr_bufs, max_bufs;
	/* Small updates (the common case: one fault) use these. */
	struct folio *folios_s[UDMABUF_SWAP_PAGES];
	struct udmabuf_pin *pins_s[UDMABUF_SWAP_PAGES];
	struct udmabuf_pin *old_s[UDMABUF_SWAP_PAGES];
	struct udmabuf *bufs_s[UDMABUF_SWAP_BUFS];
	pgoff_t lo_s[UDMABUF_SWAP_BUFS];
	pgoff_t hi_s[UDMABUF_SWAP_BUFS];
};

/*
 * Set up @sw for @nr memfd pages, @count replaced buffer pages and
 * @sw->max_bufs buffers: on the stack when small, else on the heap.
 * udmabuf_swap_free() must be called whatever this returns.
 */
static bool udmabuf_swap_alloc(struct udmabuf_swap *sw, pgoff_t nr,
			       pgoff_t count)
{
	sw->nr_pins = 0;
	sw->nr_old = 0;
	sw->max_old = count;
	sw->nr_bufs = 0;
	sw->folios = sw->folios_s;
	sw->pins = sw->pins_s;
	sw->old = sw->old_s;
	sw->bufs = sw->bufs_s;
	sw->lo = sw->lo_s;
	sw->hi = sw->hi_s;
	if (nr > UDMABUF_SWAP_PAGES) {
		sw->folios = kvmalloc_array(nr, sizeof(*sw->folios),
					    GFP_KERNEL);
		sw->pins = kvmalloc_array(nr, sizeof(*sw->pins), GFP_KERNEL);
	}
	if (count > UDMABUF_SWAP_PAGES)
		sw->old = kvmalloc_array(count, sizeof(*sw->old), GFP_KERNEL);
	if (sw->max_bufs > UDMABUF_SWAP_BUFS) {
		sw->bufs = kmalloc_array(sw->max_bufs, sizeof(*sw->bufs),
					 GFP_KERNEL);
		sw->lo = kmalloc_array(sw->max_bufs, sizeof(*sw->lo),
				       GFP_KERNEL);
		sw->hi = kmalloc_array(sw->max_bufs, sizeof(*sw->hi),
				       GFP_KERNEL);
	}
	return sw->folios && sw->pins && sw->old && sw->bufs && sw->lo &&
	       sw->hi;
}

static void udmabuf_swap_free(struct udmabuf_swap *sw)
{
	if (sw->folios != sw->folios_s)
		kvfree(sw->folios);
	if (sw->pins != sw->pins_s)
		kvfree(sw->pins);
	if (sw->old != sw->old_s)
		kvfree(sw->old);
	if (sw->bufs != sw->bufs_s)
		kfree(sw->bufs);
	if (sw->lo != sw->lo_s)
		kfree(sw->lo);
	if (sw->hi != sw->hi_s)
		kfree(sw->hi);
}

/* Second pass, under um->lock after validation: swap the folios in. */
static void udmabuf_update_swap(struct udmabuf_mm *um,
				struct udmabuf_update *up,
				struct udmabuf_swap *sw)
{
	pgoff_t lo, hi, idx, pg;
	struct udmabuf *buf;
	unsigned int i;

	list_for_each_entry(buf, &um->bufs, mm_node) {
		pgoff_t blo = ULONG_MAX, bhi = 0;

		if (sw->nr_bufs == sw->max_bufs)
			break;
		mutex_lock(&buf->lock);
		for (i = 0; i < buf->nr_segs; i++) {
			struct udmabuf_seg *seg = &buf->segs[i];

			if (!udmabuf_seg_clip(seg, up, &lo, &hi))
				continue;
			for (idx = lo; idx < hi; idx++) {
				struct udmabuf_page *p;
				struct udmabuf_pin *pin;
				unsigned long sub;

				pin = udmabuf_find_pin(sw->pins, sw->nr_pins,
						       idx);
				if (!pin || sw->nr_old == sw->max_old)
					continue;
				sub = idx - pin->folio->index;
				/* Not the folio that the fault mapped. */
				if (folio_pfn(pin->folio) + sub !=
				    up->pfn + (idx - up->first))
					continue;
				pg = seg->start + (idx - seg->first);
				p = &buf->pages[pg];
				if (p->pin->folio == pin->folio)
					continue;
				sw->old[sw->nr_old++] = p->pin;
				kref_get(&pin->ref);
				p->pin = pin;
				p->sub = sub;
				blo = min(blo, pg);
				bhi = max(bhi, pg + 1);
			}
		}
		if (blo < bhi) {
			buf->gen++;
			atomic_inc(&buf->notifying);
			sw->bufs[sw->nr_bufs] = buf;
			sw->lo[sw->nr_bufs] = blo;
			sw->hi[sw->nr_bufs] = bhi;
			sw->nr_bufs++;
		}
		mutex_unlock(&buf->lock);
	}
}

/*
 * Is the page at @pfn, which the fault mapped at memfd index @idx, still in
 * @mapping's page cache at that index?  Checked on the folio itself, with a
 * speculative reference, not with a page cache lookup.  If not, the update
 * is stale, and pinning would only fill a hole again.  Sets *@next to the
 * index after the folio.  A hint: validation under um->lock and the pfn
 * check of the pinned folios decide.
 */
static bool udmabuf_pfn_cached(struct address_space *mapping,
			       unsigned long pfn, pgoff_t idx, pgoff_t *next)
{
	struct folio *folio;
	struct page *page;
	bool ok;

	if (!pfn_valid(pfn))
		return false;
	page = pfn_to_page(pfn);
	folio = page_folio(page);
	if (!folio_try_get(folio))
		return false;
	/* It may have been freed and reused before the reference. */
	ok = page_folio(page) == folio &&
	     READ_ONCE(folio->mapping) == mapping &&
	     folio->index + folio_page_idx(folio, page) == idx;
	if (ok)
		*next = folio->index + folio_nr_pages(folio);
	folio_put(folio);
	return ok;
}

/* Is every page the fault mapped at memfd indices [@lo, @hi) cached? */
static bool udmabuf_range_cached(struct udmabuf_update *up, pgoff_t lo,
				 pgoff_t hi)
{
	pgoff_t idx = lo, next;

	while (idx < hi) {
		if (!udmabuf_pfn_cached(up->mapping,
					up->pfn + (idx - up->first), idx,
					&next))
			return false;
		idx = next;
	}
	return true;
}

static void udmabuf_mn_update(struct mmu_notifier *mn,
			      const struct mmu_notifier_update *u)
{
	struct udmabuf_mm *um = container_of(mn, struct udmabuf_mm, mn);
	struct vm_area_struct *vma = u->vma;
	struct udmabuf_update up;
	struct udmabuf_swap sw;
	pgoff_t lo, hi, count, off;
	unsigned int i;
	long k, n;

	if (!READ_ONCE(follow_faults) || !vma->vm_file)
		return;
	up.mapping = vma->vm_file->f_mapping;
	up.first = vma->vm_pgoff + ((u->start - vma->vm_start) >> PAGE_SHIFT);
	up.end = up.first + ((u->end - u->start) >> PAGE_SHIFT);
	up.pfn = u->pfn;

	/* Nothing to do when every buffer holds the pfns mapped already. */
	mutex_lock(&um->lock);
	count = udmabuf_update_scan(um, &up, &lo, &hi, &sw.max_bufs);
	mutex_unlock(&um->lock);
	if (!count || !udmabuf_range_cached(&up, lo, hi))
		return;
	if (!udmabuf_swap_alloc(&sw, hi - lo, count))
		goto free_work;

	/*
	 * Pin what the page cache holds now, for the indices that changed
	 * only; validation below proves that it is what the fault mapped and
	 * that it is still mapped.
	 */
	n = memfd_pin_folios(vma->vm_file, (loff_t)lo << PAGE_SHIFT,
			     ((loff_t)hi << PAGE_SHIFT) - 1, sw.folios, hi - lo,
			     &off);
	if (n <= 0)
		goto free_work;
	for (k = 0; k < n; k++) {
		struct udmabuf_pin *pin = kmalloc(sizeof(*pin), GFP_KERNEL);

		if (!pin) {
			for (; k < n; k++)
				unpin_folio(sw.folios[k]);
			goto put_pins;
		}
		pin->folio = sw.folios[k];
		kref_init(&pin->ref);
		sw.pins[sw.nr_pins++] = pin;
	}

	atomic_long_inc(&udmabuf_stats.eager_hits);
	if (READ_ONCE(update_delay_us))
		usleep_range(update_delay_us, update_delay_us + 10);
	mutex_lock(&um->lock);
	if (!mmu_notifier_update_retry(mn, u->seq))
		udmabuf_update_swap(um, &up, &sw);
	else
		atomic_long_inc(&udmabuf_stats.eager_retry);
	mutex_unlock(&um->lock);
	atomic_long_add(sw.nr_old, &udmabuf_stats.eager_pages);

	for (i = 0; i < sw.nr_bufs; i++)
		udmabuf_changed(sw.bufs[i], sw.lo[i], sw.hi[i] - sw.lo[i],
				false, true);
	/*
	 * The replaced pins, in runs (a huge folio is one pin), released
	 * later out of the fault path; queued before the buffers are let go,
	 * so that the flush in udmabuf_release() sees them.
	 */
	while (sw.nr_old) {
		struct udmabuf_pin *pin = sw.old[--sw.nr_old];
		unsigned long run = 1;

		for (; sw.nr_old && sw.old[sw.nr_old - 1] == pin; run++)
			sw.nr_old--;
		udmabuf_pin_put_deferred(pin, run);
	}
	for (i = 0; i < sw.nr_bufs; i++)
		if (atomic_dec_and_test(&sw.bufs[i]->notifying))
			wake_up(&sw.bufs[i]->notify_wq);
put_pins:
	for (k = 0; k < sw.nr_pins; k++)
		udmabuf_pin_put(sw.pins[k]);
free_work:
	udmabuf_swap_free(&sw);
}

static struct mmu_notifier *udmabuf_mn_alloc(struct mm_struct *mm)
{
	struct udmabuf_mm *um;

	um = kzalloc(sizeof(*um), GFP_KERNEL);
	if (!um)
		return ERR_PTR(-ENOMEM);
	mutex_init(&um->lock);
	INIT_LIST_HEAD(&um->bufs);
	return &um->mn;
}

static void udmabuf_mn_free(struct mmu_notifier *mn)
{
	kfree(container_of(mn, struct udmabuf_mm, mn));
}

static const struct mmu_notifier_ops udmabuf_mn_ops = {
	.invalidate_range_start = udmabuf_mn_invalidate_start,
	.update = udmabuf_mn_update,
	.alloc_notifier = udmabuf_mn_alloc,
	.free_notifier = udmabuf_mn_free,
};

/* ---- Creation. ---- */

static int udmabuf_check_memfd(struct file *memfd)
{
	unsigned int seals;

	if (shmem_file(memfd))
		seals = SHMEM_I(file_inode(memfd))->seals;
	else if (is_file_hugepages(memfd))
		seals = HUGETLBFS_I(file_inode(memfd))->seals;
	else
		return -EBADFD;
	if ((seals & UDMABUF_SEALS_WANTED) != UDMABUF_SEALS_WANTED ||
	    (seals & UDMABUF_SEALS_DENIED))
		return -EINVAL;
	return 0;
}

static long udmabuf_create(struct udmabuf_create_list *head,
			   struct udmabuf_create_item *list)
{
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	pgoff_t pgcnt = 0, pglimit;
	struct dma_buf *dmabuf;
	struct mmu_notifier *mn;
	struct udmabuf *buf;
	long ret = -EINVAL;
	u32 i;

	pglimit = ((u64)size_limit_mb * 1024 * 1024) >> PAGE_SHIFT;
	for (i = 0; i < head->count; i++) {
		if (!PAGE_ALIGNED(list[i].offset) ||
		    !PAGE_ALIGNED(list[i].size))
			return -EINVAL;
		pgcnt += list[i].size >> PAGE_SHIFT;
		if (pgcnt > pglimit)
			return -EINVAL;
	}
	if (!pgcnt)
		return -EINVAL;

	buf = kzalloc(sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	kref_init(&buf->ref);
	atomic_set(&buf->notifying, 0);
	init_waitqueue_head(&buf->notify_wq);
	mutex_init(&buf->lock);
	mutex_init(&buf->map_lock);
	mutex_init(&buf->vmap_lock);
	INIT_LIST_HEAD(&buf->mm_node);
	buf->pages = kvcalloc(pgcnt, sizeof(*buf->pages), GFP_KERNEL);
	buf->segs = kcalloc(head->count, sizeof(*buf->segs), GFP_KERNEL);
	if (!buf->pages || !buf->segs) {
		ret = -ENOMEM;
		goto put_buf;
	}

	for (i = 0; i < head->count; i++) {
		struct udmabuf_seg *seg = &buf->segs[i];
		struct file *memfd = fget(list[i].memfd);

		if (!memfd) {
			ret = -EBADFD;
			goto put_buf;
		}
		buf->nr_segs = i + 1;
		seg->memfd = memfd;
		seg->first = list[i].offset >> PAGE_SHIFT;
		seg->start = buf->pagecount;
		seg->nr = list[i].size >> PAGE_SHIFT;
		/* Against memfd_add_seals(), which takes it for write. */
		inode_lock_shared(file_inode(memfd));
		ret = udmabuf_check_memfd(memfd);
		if (!ret && list[i].offset + list[i].size < list[i].offset)
			ret = -EINVAL;
		if (!ret)
			ret = udmabuf_pin_pages(memfd, seg->first, seg->nr,
						&buf->pages[seg->start]);
		inode_unlock_shared(file_inode(memfd));
		if (ret)
			goto put_buf;
		buf->pagecount += seg->nr;
	}

	if (current->mm) {
		mn = mmu_notifier_get(&udmabuf_mn_ops, current->mm);
		if (IS_ERR(mn)) {
			ret = PTR_ERR(mn);
			goto put_buf;
		}
		buf->um = container_of(mn, struct udmabuf_mm, mn);
	}

	exp_info.ops = &udmabuf_ops;
	exp_info.size = buf->pagecount << PAGE_SHIFT;
	exp_info.priv = buf;
	exp_info.flags = O_RDWR;
	dmabuf = dma_buf_export(&exp_info);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto put_notifier;
	}
	/* From here the dma-buf owns the buffer: release frees it. */
	buf->dmabuf = dmabuf;
	buf->inode = file_inode(dmabuf->file);
	ihold(buf->inode);
	if (buf->um) {
		/* Only now may update callbacks find it. */
		mutex_lock(&buf->um->lock);
		list_add(&buf->mm_node, &buf->um->bufs);
		mutex_unlock(&buf->um->lock);
	}
	ret = dma_buf_fd(dmabuf, head->flags & UDMABUF_FLAGS_CLOEXEC ?
			 O_CLOEXEC : 0);
	if (ret < 0)
		dma_buf_put(dmabuf);
	return ret;

put_notifier:
	if (buf->um)
		mmu_notifier_put(&buf->um->mn);
put_buf:
	udmabuf_put(buf);
	return ret;
}

static long udmabuf_ioctl_create(unsigned long arg)
{
	struct udmabuf_create create;
	struct udmabuf_create_list head;
	struct udmabuf_create_item item;

	if (copy_from_user(&create, (void __user *)arg, sizeof(create)))
		return -EFAULT;
	head.flags = create.flags;
	head.count = 1;
	item.memfd = create.memfd;
	item.__pad = 0;
	item.offset = create.offset;
	item.size = create.size;
	return udmabuf_create(&head, &item);
}

static long udmabuf_ioctl_create_list(unsigned long arg)
{
	struct udmabuf_create_list head;
	struct udmabuf_create_item *list;
	long ret;

	if (copy_from_user(&head, (void __user *)arg, sizeof(head)))
		return -EFAULT;
	if (head.count > list_limit)
		return -EINVAL;
	list = memdup_array_user((void __user *)(arg + sizeof(head)),
				 head.count, sizeof(*list));
	if (IS_ERR(list))
		return PTR_ERR(list);
	ret = udmabuf_create(&head, list);
	kfree(list);
	return ret;
}

static long udmabuf_ioctl(struct file *filp, unsigned int cmd,
			  unsigned long arg)
{
	switch (cmd) {
	case UDMABUF_CREATE:
		return udmabuf_ioctl_create(arg);
	case UDMABUF_CREATE_LIST:
		return udmabuf_ioctl_create_list(arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations udmabuf_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = udmabuf_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice udmabuf_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "udmabuf",
	.fops = &udmabuf_fops,
};

static int __init udmabuf_init(void)
{
	int ret;

	ret = misc_register(&udmabuf_misc);
	if (ret) {
		pr_err("cannot register /dev/udmabuf: %d\n", ret);
		return ret;
	}
	ret = dma_coerce_mask_and_coherent(udmabuf_misc.this_device,
					   DMA_BIT_MASK(64));
	if (ret) {
		pr_err("cannot set the DMA mask: %d\n", ret);
		goto deregister;
	}
	udmabuf_debugfs = debugfs_create_dir("udmabuf", NULL);
	debugfs_create_file("stats", 0444, udmabuf_debugfs, NULL,
			    &udmabuf_stats_fops);
	return 0;

deregister:
	misc_deregister(&udmabuf_misc);
	return ret;
}

static void __exit udmabuf_exit(void)
{
	debugfs_remove_recursive(udmabuf_debugfs);
	misc_deregister(&udmabuf_misc);
	/* udmabuf_mn_free() runs from SRCU callbacks. */
	mmu_notifier_synchronize();
	flush_delayed_work(&udmabuf_reap_work);
}

module_init(udmabuf_init);
module_exit(udmabuf_exit);

MODULE_DESCRIPTION("udmabuf that follows page replacement in memfds");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(DMA_BUF);
