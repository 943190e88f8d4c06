// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_mirror: a software device that mirrors process address spaces.
 *
 * Each open file of /dev/hmm_dmirrorN is one device context mirroring the
 * opener's mm in a device page table: an xarray indexed by virtual page
 * number whose entries hold a pfn, permissions and the CPU mapping order.
 * The device reads and writes process memory only through that table.  A
 * missing entry is a device fault, resolved with hmm_range_fault() under
 * the interval notifier's sequence; invalidations clear entries.
 *
 * The uAPI is the one of lib/test_hmm.ko (device private and device
 * coherent memory, migration, snapshots, exclusive access), so the HMM
 * selftests run unchanged.  On top of it, an open file may ask for prefill:
 * when a CPU fault maps a shmem or hugetlbfs page inside the prefill window,
 * the mmu notifier update op hands the new entries to the mirror, which
 * validates them against its interval sequence and installs them, so that
 * the device need not fault on memory the CPU already mapped.
 *
 * Subscription: every open file inserts one interval notifier covering the
 * whole address space (hmm_range_fault() needs a notifier anyway), with an
 * update op.  It exists from open() on, so no CPU fault can come before it.
 * HMM_DMIRROR_PREFILL only sets the window that updates are accepted for.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/xarray.h>

#include "hmm_mirror_uapi.h"

#define HMIR_NDEVICES		4
#define HMIR_CHUNK_SIZE		(256UL << 20)
/* Pages per hmm_range_fault(), migrate_vma_setup() and exclusive call. */
#define HMIR_BATCH		64
/* Device accesses larger than this are refused. */
#define HMIR_MAX_PAGES		BIT(18)
/* How long HMM_MIRROR_HOLD may stop an update callback. */
#define HMIR_HOLD_TIMEOUT	(10 * HZ)

/*
 * A device page table entry is an xarray value: the pfn the device uses,
 * the order of the CPU mapping it came from and these flags.  A huge entry
 * is one multi-index entry for a whole huge CPU mapping (2^order pages at
 * an aligned index); its pfn is the one of the mapping's first page.
 */
#define HMIR_PTE_WRITE		BIT(0)	/* the device may write */
#define HMIR_PTE_ATOMIC		BIT(1)	/* exclusive (atomic) access */
#define HMIR_PTE_PREFILL	BIT(2)	/* installed from an update */
#define HMIR_PTE_HUGE		BIT(3)	/* multi-index, 2^order pages */
#define HMIR_PTE_ORDER_SHIFT	4
#define HMIR_PTE_ORDER_MASK	0x1fUL
#define HMIR_PTE_PFN_SHIFT	9

static unsigned long spm_addr_dev0;
module_param(spm_addr_dev0, ulong, 0444);
MODULE_PARM_DESC(spm_addr_dev0,
		 "Physical address of 256 MiB of reserved memory for device 2 (device coherent); needs spm_addr_dev1");

static unsigned long spm_addr_dev1;
module_param(spm_addr_dev1, ulong, 0444);
MODULE_PARM_DESC(spm_addr_dev1,
		 "Physical address of 256 MiB of reserved memory for device 3 (device coherent); needs spm_addr_dev0");

static unsigned int update_delay_us;
module_param(update_delay_us, uint, 0644);
MODULE_PARM_DESC(update_delay_us,
		 "Testing: microseconds one update callback in eight sleeps before validating, to widen its race with invalidations (0)");

struct hmir_device;

/* ZONE_DEVICE memory of a device, HMIR_CHUNK_SIZE bytes. */
struct hmir_chunk {
	struct dev_pagemap	pagemap;
	struct hmir_device	*mdev;
	struct list_head	node;		/* in hmir_device.chunks */
	struct resource		*res;		/* device private only */
	/* Under the device's free_lock: */
	bool			dying;		/* pages not to be reused */
	/* Pages taken off the free list whose refcount is not set yet. */
	unsigned int		handing_out;
};

struct hmir_device {
	struct cdev		cdev;
	struct device		dev;
	/* HMM_DMIRROR_MEMORY_DEVICE_* */
	unsigned int		type;
	phys_addr_t		spm_addr;	/* device coherent memory */

	/* Protects chunks and removing; free_lock nests inside it. */
	struct mutex		chunks_lock;
	struct list_head	chunks;
	/* Chunks taken off @chunks and not yet torn down. */
	unsigned int		removing;

	spinlock_t		free_lock;	/* protects the fields below */
	struct page		*free_pages;	/* via page->zone_device_data */
	unsigned long		nr_free;

	struct mutex		mirrors_lock;	/* protects mirrors */
	/* open files, through hmir_mirror.node */
	struct list_head	mirrors;
};

/* One open file: a device context mirroring the opener's mm. */
struct hmir_mirror {
	struct hmir_device		*mdev;
	struct list_head		node;	/* in hmir_device.mirrors */
	struct mmu_interval_notifier	notifier;
	/*
	 * The notifier's user lock: invalidate callbacks take it to move the
	 * sequence and clear entries, faults and updates to validate the
	 * sequence and install entries.  It protects the page table (pt),
	 * the prefill window and the counters, and is held while the device
	 * copies data from or to the pages that the table points to.
	 */
	struct mutex			lock;
	struct xarray			pt;
	unsigned long			prefill_start;
	unsigned long			prefill_end;	/* 0: prefill off */
	struct hmm_mirror_counters	stats;
	/* HMM_MIRROR_HOLD: the next update in the window waits for UNHOLD. */
	atomic_t			hold_armed;
	struct completion		held;
	struct completion		unhold;
};

/* Temporary interval notifier of a snapshot. */
struct hmir_snap {
	struct mmu_interval_notifier	notifier;
	struct hmir_mirror		*mir;
};

/* Totals over all files, for debugfs. */
static struct {
	atomic64_t	device_faults;
	atomic64_t	updates;
	atomic64_t	prefilled;
	atomic64_t	prefill_rejected;
	atomic64_t	invalidations;
	atomic64_t	zapped;
	/* What lives now: tests check that a failed call leaves none. */
	atomic64_t	live_mirrors;	/* open files */
	atomic64_t	device_pages;	/* device pages allocated */
} hmir_totals;

static struct hmir_device hmir_devices[HMIR_NDEVICES];
static unsigned int hmir_nr_devices;

/*
 * No device page may stay device-exclusive.  On this kernel a page made
 * device-exclusive gives up its mapcount and keeps its reference, so no
 * migration finds its mapping: a chunk eviction (release, unload) that
 * met such a device page never moved it, and waited, unkillable.
 * HMM_DMIRROR_EXCLUSIVE therefore moves the device coherent pages of the
 * range to system memory first, and gives exclusive access back at once
 * for any device page that a racing migration put there.  Exclusive
 * requests hold this semaphore for read from the grant until such a page
 * is mapped again; eviction passes hold it for write, so a pass never sees
 * that window.
 */
static DECLARE_RWSEM(hmir_exclusive_sem);
static dev_t hmir_devt;
static struct dentry *hmir_debugfs;
static const struct dev_pagemap_ops hmir_pagemap_ops;

static void *hmir_mkpte(unsigned long pfn, unsigned int order,
			unsigned long flags)
{
	return xa_mk_value((pfn << HMIR_PTE_PFN_SHIFT) |
			   ((order & HMIR_PTE_ORDER_MASK) <<
			    HMIR_PTE_ORDER_SHIFT) | flags);
}

static unsigned long hmir_pte_pfn(void *pte)
{
	return xa_to_value(pte) >> HMIR_PTE_PFN_SHIFT;
}

static unsigned long hmir_pte_flags(void *pte)
{
	return xa_to_value(pte) & (BIT(HMIR_PTE_ORDER_SHIFT) - 1);
}

static unsigned int hmir_pte_order(void *pte)
{
	return (xa_to_value(pte) >> HMIR_PTE_ORDER_SHIFT) &
	       HMIR_PTE_ORDER_MASK;
}

/* Pages an entry covers: 2^order for a huge entry, else one. */
static unsigned long hmir_pte_npages(void *pte)
{
	if (hmir_pte_flags(pte) & HMIR_PTE_HUGE)
		return 1UL << hmir_pte_order(pte);
	return 1;
}

/* The pfn that @pte, found at page index @index, maps there. */
static unsigned long hmir_pte_pfn_at(void *pte, unsigned long index)
{
	return hmir_pte_pfn(pte) + (index & (hmir_pte_npages(pte) - 1));
}

/*
 * Stores a 4 KiB entry at @index.  A huge entry covering @index is
 * dropped as a whole first: storing into part of a multi-index entry
 * would change the entry of every index it covers.  Called with
 * mir->lock held.
 */
static int hmir_pt_store(struct xarray *pt, unsigned long index, void *pte,
			 gfp_t gfp)
{
	XA_STATE(xas, pt, index);
	void *old;

	do {
		xas_lock(&xas);
		/* The store goes on from where the load stopped. */
		old = xas_load(&xas);
		if (old && (hmir_pte_flags(old) & HMIR_PTE_HUGE)) {
			xas_reset(&xas);
			xas_store(&xas, NULL);
			xas_reset(&xas);
		}
		xas_store(&xas, pte);
		xas_unlock(&xas);
	} while (xas_nomem(&xas, gfp));
	return xas_error(&xas);
}

static bool hmir_is_private(struct hmir_device *mdev)
{
	return mdev->type == HMM_DMIRROR_MEMORY_DEVICE_PRIVATE;
}

/*
 * The memory holding a device page's data: device private pages have no
 * kernel mapping, each is backed by a system page while allocated.
 */
static struct page *hmir_backing(struct page *page)
{
	if (is_device_private_page(page))
		return page->zone_device_data;
	return page;
}

static struct hmir_chunk *hmir_page_chunk(struct page *page)
{
	return container_of(page->pgmap, struct hmir_chunk, pagemap);
}

static struct hmir_device *hmir_page_device(struct page *page)
{
	return hmir_page_chunk(page)->mdev;
}

/* Clears the entries of [start, end).  Called with mir->lock held. */
static void hmir_zap(struct hmir_mirror *mir, unsigned long start,
		     unsigned long end)
{
	unsigned long index;
	void *pte;

	lockdep_assert_held(&mir->lock);
	/*
	 * The table holds no page references: an invalidation always comes
	 * before a mapped page can be freed, and clears the entry here.
	 */
	xa_for_each_range(&mir->pt, index, pte, start >> PAGE_SHIFT,
			  (end - 1) >> PAGE_SHIFT) {
		/* A huge entry goes as a whole, even if only partly hit. */
		xa_erase(&mir->pt, index);
		mir->stats.zapped += hmir_pte_npages(pte);
		atomic64_add(hmir_pte_npages(pte), &hmir_totals.zapped);
	}
}

static bool hmir_lock_for(struct hmir_mirror *mir,
			  const struct mmu_notifier_range *range)
{
	if (mmu_notifier_range_blockable(range)) {
		mutex_lock(&mir->lock);
		return true;
	}
	return mutex_trylock(&mir->lock);
}

static bool hmir_invalidate(struct mmu_interval_notifier *sub,
			    const struct mmu_notifier_range *range,
			    unsigned long cur_seq)
{
	struct hmir_mirror *mir = container_of(sub, struct hmir_mirror,
					       notifier);

	/*
	 * Our own migrations replace the entries themselves: migration to
	 * the device maps the new pages, migration back clears them.
	 */
	if (range->event == MMU_NOTIFY_MIGRATE && range->owner == mir->mdev)
		return true;
	if (!hmir_lock_for(mir, range))
		return false;
	mmu_interval_set_seq(sub, cur_seq);
	hmir_zap(mir, range->start, range->end);
	mir->stats.invalidations++;
	atomic64_inc(&hmir_totals.invalidations);
	mutex_unlock(&mir->lock);
	return true;
}

/*
 * Prefill of one huge mapping [addr, addr + 2^order pages), addr aligned:
 * one multi-index entry replacing whatever the range held.  Fails, storing
 * nothing, if the range holds an exclusive entry or is part of a larger
 * huge entry, or if memory is short.
 * Called with mir->lock held.
 */
static int hmir_prefill_huge(struct hmir_mirror *mir, unsigned long addr,
			     unsigned long pfn, unsigned int order,
			     unsigned long flags)
{
	XA_STATE_ORDER(xas, &mir->pt, addr >> PAGE_SHIFT, order);
	void *old;

	xas_lock(&xas);
	xas_for_each_conflict(&xas, old) {
		/* Nor into part of a larger huge entry (not expected). */
		if ((hmir_pte_flags(old) & HMIR_PTE_ATOMIC) ||
		    hmir_pte_npages(old) > 1UL << order) {
			xas_set_err(&xas, -EBUSY);
			break;
		}
	}
	/* Node allocation in xas_store() is GFP_NOWAIT already. */
	if (!xas_error(&xas))
		xas_store(&xas, hmir_mkpte(pfn, order, flags | HMIR_PTE_HUGE));
	xas_unlock(&xas);
	return xas_error(&xas);
}

/*
 * Prefill of the 4 KiB entries of [start, end): one xa_lock, one walk per
 * page (the store goes on from where the load stopped).  Returns the
 * number of entries stored.  Called with mir->lock held.
 */
static unsigned long hmir_prefill_ptes(struct hmir_mirror *mir,
				       unsigned long start, unsigned long end,
				       unsigned long pfn, unsigned int order,
				       unsigned long flags)
{
	unsigned long index = start >> PAGE_SHIFT, last = end >> PAGE_SHIFT;
	XA_STATE(xas, &mir->pt, index);
	unsigned long done = 0;
	void *old;

	xas_lock(&xas);
	for (; index < last; index++, pfn++) {
		xas_set(&xas, index);
		old = xas_load(&xas);
		if (old) {
			/* An exclusive entry stays until its invalidation. */
			if (hmir_pte_flags(old) & HMIR_PTE_ATOMIC)
				continue;
			/* Not into part of a huge entry: drop it first. */
			if (hmir_pte_flags(old) & HMIR_PTE_HUGE) {
				xas_reset(&xas);
				xas_store(&xas, NULL);
				xas_reset(&xas);
			}
		}
		/*
		 * Node allocation here is GFP_NOWAIT: reclaim could need
		 * mir->lock (invalidations).  An update is a hint, losing
		 * one is fine.
		 */
		xas_store(&xas, hmir_mkpte(pfn, order, flags));
		if (xas_error(&xas))
			break;
		done++;
	}
	xas_unlock(&xas);
	return done;
}

/*
 * A CPU fault mapped shmem or hugetlbfs pages: install those inside the
 * prefill window if no invalidation of the mm ran since the fault read
 * them.  Nothing here may fault on the mirrored mm.
 */
static void hmir_update(struct mmu_interval_notifier *sub,
			const struct mmu_notifier_update *u)
{
	struct hmir_mirror *mir = container_of(sub, struct hmir_mirror,
					       notifier);
	unsigned long start, end, addr, pfn, flags, size, done = 0;
	unsigned int order = u->order;
	unsigned int delay;

	/*
	 * Unlocked peek: updates for files without prefill (the default)
	 * cost no lock.  Missing one while the window changes is harmless.
	 */
	if (u->end <= READ_ONCE(mir->prefill_start) ||
	    u->start >= READ_ONCE(mir->prefill_end))
		return;
	if (unlikely(atomic_read(&mir->hold_armed)) &&
	    atomic_cmpxchg(&mir->hold_armed, 1, 0) == 1) {
		complete(&mir->held);
		if (!wait_for_completion_timeout(&mir->unhold,
						 HMIR_HOLD_TIMEOUT))
			pr_info("held update released by timeout\n");
	}
	/* One update in eight, so that the others keep things moving. */
	delay = READ_ONCE(update_delay_us);
	if (unlikely(delay) && !get_random_u32_below(8))
		usleep_range(delay, delay + delay / 4 + 1);
	mutex_lock(&mir->lock);
	start = max(u->start, mir->prefill_start);
	end = min(u->end, mir->prefill_end);
	if (start >= end)
		goto unlock;
	mir->stats.updates++;
	atomic64_inc(&hmir_totals.updates);
	if (mmu_interval_read_retry(sub, u->seq)) {
		mir->stats.prefill_rejected++;
		atomic64_inc(&hmir_totals.prefill_rejected);
		goto unlock;
	}
	flags = HMIR_PTE_PREFILL;
	if (u->flags & MMU_NOTIFIER_UPDATE_WRITE)
		flags |= HMIR_PTE_WRITE;
	pfn = u->pfn + ((start - u->start) >> PAGE_SHIFT);
	size = PAGE_SIZE << order;
	/* Whole huge mappings: one entry each, at their order. */
	if (order && IS_ALIGNED(start, size) && IS_ALIGNED(end, size)) {
		for (addr = start; addr < end;
		     addr += size, pfn += 1UL << order) {
			if (!hmir_prefill_huge(mir, addr, pfn, order, flags))
				done += 1UL << order;
			else
				done += hmir_prefill_ptes(mir, addr,
							  addr + size, pfn,
							  order, flags);
		}
	} else {
		/* Only a whole huge mapping is recorded at its order. */
		done = hmir_prefill_ptes(mir, start, end, pfn, 0, flags);
	}
	mir->stats.prefilled += done;
	atomic64_add(done, &hmir_totals.prefilled);
unlock:
	mutex_unlock(&mir->lock);
}

static const struct mmu_interval_notifier_ops hmir_notifier_ops = {
	.invalidate = hmir_invalidate,
	.update = hmir_update,
};

/* Installs what hmm_range_fault() found.  Called with mir->lock held. */
static int hmir_install_range(struct hmir_mirror *mir,
			      const struct hmm_range *range)
{
	unsigned long addr, i = 0;

	for (addr = range->start; addr < range->end; addr += PAGE_SIZE, i++) {
		unsigned long hpfn = range->hmm_pfns[i];
		unsigned long flags = 0;
		struct page *page;
		int ret;

		if (WARN_ON_ONCE(!(hpfn & HMM_PFN_VALID) ||
				 (hpfn & HMM_PFN_ERROR)))
			return -EFAULT;
		page = hmir_backing(hmm_pfn_to_page(hpfn));
		if (hpfn & HMM_PFN_WRITE)
			flags |= HMIR_PTE_WRITE;
		ret = hmir_pt_store(&mir->pt, addr >> PAGE_SHIFT,
				    hmir_mkpte(page_to_pfn(page),
					       hmm_pfn_to_map_order(hpfn),
					       flags), GFP_ATOMIC);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * A device fault: make [start, end) present in the device page table,
 * writable if @write, the way a device driver would.
 */
static int hmir_fault(struct hmir_mirror *mir, unsigned long start,
		      unsigned long end, bool write)
{
	struct mm_struct *mm = mir->notifier.mm;
	unsigned long hpfns[HMIR_BATCH];
	struct hmm_range range = {
		.notifier = &mir->notifier,
		.hmm_pfns = hpfns,
		.default_flags = HMM_PFN_REQ_FAULT |
				 (write ? HMM_PFN_REQ_WRITE : 0),
		.dev_private_owner = mir->mdev,
	};
	unsigned long timeout;
	int ret = 0;

	if (!mmget_not_zero(mm))
		return -EFAULT;
	for (range.start = start; range.start < end; range.start = range.end) {
		range.end = min(end, range.start + HMIR_BATCH * PAGE_SIZE);
		timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
		for (;;) {
			if (time_after(jiffies, timeout)) {
				ret = -EBUSY;
				goto out_mmput;
			}
			range.notifier_seq =
				mmu_interval_read_begin(&mir->notifier);
			mmap_read_lock(mm);
			ret = hmm_range_fault(&range);
			mmap_read_unlock(mm);
			if (ret == -EBUSY)
				continue;
			if (ret)
				goto out_mmput;
			mutex_lock(&mir->lock);
			if (!mmu_interval_read_retry(&mir->notifier,
						     range.notifier_seq))
				break;
			mutex_unlock(&mir->lock);
		}
		ret = hmir_install_range(mir, &range);
		mutex_unlock(&mir->lock);
		if (ret)
			break;
	}
out_mmput:
	mmput(mm);
	return ret;
}

/*
 * Copies between @buf and the pages mapped at [addr, addr + npages pages)
 * until an entry is missing (or not writable for a write).  Called with
 * mir->lock held, @done counts the pages copied.
 */
static int hmir_copy(struct hmir_mirror *mir, unsigned long addr,
		     unsigned long npages, void *buf, bool write,
		     unsigned long *done)
{
	lockdep_assert_held(&mir->lock);
	for (; *done < npages; (*done)++) {
		unsigned long va = addr + (*done << PAGE_SHIFT);
		void *data = buf + (*done << PAGE_SHIFT);
		struct page *page;
		void *pte;

		pte = xa_load(&mir->pt, va >> PAGE_SHIFT);
		if (!pte)
			return -ENOENT;
		if (write && !(hmir_pte_flags(pte) & HMIR_PTE_WRITE))
			return -ENOENT;
		page = pfn_to_page(hmir_pte_pfn_at(pte, va >> PAGE_SHIFT));
		if (write)
			memcpy_to_page(page, 0, data, PAGE_SIZE);
		else
			memcpy_from_page(data, page, 0, PAGE_SIZE);
	}
	return 0;
}

/* HMM_DMIRROR_READ and HMM_DMIRROR_WRITE: device accesses with faults. */
static int hmir_access(struct hmir_mirror *mir, struct hmm_dmirror_cmd *cmd,
		       bool write)
{
	unsigned long size = cmd->npages << PAGE_SHIFT;
	unsigned long done = 0, tries = 0;
	void __user *uptr = u64_to_user_ptr(cmd->ptr);
	void *buf;
	int ret;

	buf = kvmalloc(size, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	if (write && copy_from_user(buf, uptr, size)) {
		ret = -EFAULT;
		goto free_buf;
	}
	for (;;) {
		mutex_lock(&mir->lock);
		ret = hmir_copy(mir, cmd->addr, cmd->npages, buf, write, &done);
		mutex_unlock(&mir->lock);
		if (ret != -ENOENT)
			break;
		/* Each fault makes progress unless invalidations win. */
		if (++tries > cmd->npages + 16) {
			ret = -EBUSY;
			break;
		}
		ret = hmir_fault(mir, cmd->addr + (done << PAGE_SHIFT),
				 cmd->addr + size, write);
		if (ret)
			break;
		cmd->faults++;
		mutex_lock(&mir->lock);
		mir->stats.device_faults++;
		mutex_unlock(&mir->lock);
		atomic64_inc(&hmir_totals.device_faults);
	}
	if (!ret && !write && copy_to_user(uptr, buf, size))
		ret = -EFAULT;
	cmd->cpages = done;
free_buf:
	kvfree(buf);
	return ret;
}

/* Copies what the device table maps, without faults, to cmd->ptr. */
static int hmir_read_back(struct hmir_mirror *mir, struct hmm_dmirror_cmd *cmd)
{
	unsigned long size = cmd->npages << PAGE_SHIFT;
	unsigned long done = 0;
	void *buf;
	int ret;

	buf = kvmalloc(size, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	mutex_lock(&mir->lock);
	ret = hmir_copy(mir, cmd->addr, cmd->npages, buf, false, &done);
	mutex_unlock(&mir->lock);
	if (!ret && copy_to_user(u64_to_user_ptr(cmd->ptr), buf, size))
		ret = -EFAULT;
	cmd->cpages = done;
	kvfree(buf);
	return ret;
}

static int hmir_add_chunk(struct hmir_device *mdev)
{
	struct hmir_chunk *chunk;
	unsigned long pfn, first, last;
	void *ret_ptr;
	int ret;

	chunk = kzalloc(sizeof(*chunk), GFP_KERNEL);
	if (!chunk)
		return -ENOMEM;
	mutex_lock(&mdev->chunks_lock);
	if (hmir_is_private(mdev)) {
		chunk->res = request_free_mem_region(&iomem_resource,
						     HMIR_CHUNK_SIZE,
						     "hmm_mirror");
		if (IS_ERR(chunk->res)) {
			ret = PTR_ERR(chunk->res);
			goto unlock;
		}
		chunk->pagemap.type = MEMORY_DEVICE_PRIVATE;
		chunk->pagemap.range.start = chunk->res->start;
		chunk->pagemap.range.end = chunk->res->end;
	} else {
		/* The reserved range holds exactly one chunk. */
		ret = -ENOMEM;
		if (!list_empty(&mdev->chunks) || mdev->removing)
			goto unlock;
		chunk->pagemap.type = MEMORY_DEVICE_COHERENT;
		chunk->pagemap.range.start = mdev->spm_addr;
		chunk->pagemap.range.end = mdev->spm_addr + HMIR_CHUNK_SIZE - 1;
	}
	chunk->pagemap.nr_range = 1;
	chunk->pagemap.ops = &hmir_pagemap_ops;
	chunk->pagemap.owner = mdev;
	chunk->mdev = mdev;
	ret_ptr = memremap_pages(&chunk->pagemap, numa_node_id());
	if (IS_ERR_OR_NULL(ret_ptr)) {
		ret = ret_ptr ? PTR_ERR(ret_ptr) : -EFAULT;
		goto release_region;
	}
	/*
	 * Listed and its pages free under chunks_lock: a removal that takes
	 * the chunk off the list finds its pages on the free list too.
	 */
	list_add_tail(&chunk->node, &mdev->chunks);
	first = chunk->pagemap.range.start >> PAGE_SHIFT;
	last = (chunk->pagemap.range.end >> PAGE_SHIFT) + 1;
	spin_lock(&mdev->free_lock);
	for (pfn = first; pfn < last; pfn++) {
		struct page *page = pfn_to_page(pfn);

		page->zone_device_data = mdev->free_pages;
		mdev->free_pages = page;
	}
	mdev->nr_free += last - first;
	spin_unlock(&mdev->free_lock);
	mutex_unlock(&mdev->chunks_lock);
	dev_info(&mdev->dev, "added %lu MiB of %s memory, pfns [%#lx, %#lx)\n",
		 HMIR_CHUNK_SIZE >> 20,
		 hmir_is_private(mdev) ? "device private" : "device coherent",
		 first, last);
	return 0;

release_region:
	if (chunk->res)
		release_mem_region(chunk->res->start,
				   resource_size(chunk->res));
unlock:
	mutex_unlock(&mdev->chunks_lock);
	kfree(chunk);
	return ret;
}

/* Allocates a locked device page, NULL when out of device memory. */
static struct page *hmir_alloc_devpage(struct hmir_device *mdev)
{
	struct page *backing = NULL, *page;
	struct hmir_chunk *chunk;
	int tries;

	if (hmir_is_private(mdev)) {
		backing = alloc_page(GFP_HIGHUSER);
		if (!backing)
			return NULL;
	}
	for (tries = 0; tries < 2; tries++) {
		spin_lock(&mdev->free_lock);
		page = mdev->free_pages;
		if (page) {
			chunk = hmir_page_chunk(page);
			mdev->free_pages = page->zone_device_data;
			mdev->nr_free--;
			/* Before anyone may see the page in use. */
			page->zone_device_data = backing;
			chunk->handing_out++;
		}
		spin_unlock(&mdev->free_lock);
		if (page) {
			zone_device_page_init(page);
			spin_lock(&mdev->free_lock);
			chunk->handing_out--;
			spin_unlock(&mdev->free_lock);
			atomic64_inc(&hmir_totals.device_pages);
			return page;
		}
		if (hmir_add_chunk(mdev))
			break;
	}
	if (backing)
		__free_page(backing);
	return NULL;
}

static void hmir_page_free(struct page *page)
{
	struct hmir_chunk *chunk = container_of(page->pgmap, struct hmir_chunk,
						pagemap);
	struct hmir_device *mdev = chunk->mdev;

	if (is_device_private_page(page) && page->zone_device_data)
		__free_page(page->zone_device_data);
	page->zone_device_data = NULL;
	atomic64_dec(&hmir_totals.device_pages);
	spin_lock(&mdev->free_lock);
	if (!chunk->dying) {
		page->zone_device_data = mdev->free_pages;
		mdev->free_pages = page;
		mdev->nr_free++;
	}
	spin_unlock(&mdev->free_lock);
}

/* Clears the entries of @addr in every mirror of @mm on @mdev. */
static void hmir_zap_all(struct hmir_device *mdev, struct mm_struct *mm,
			 unsigned long addr)
{
	struct hmir_mirror *mir;

	mutex_lock(&mdev->mirrors_lock);
	list_for_each_entry(mir, &mdev->mirrors, node) {
		if (mir->notifier.mm != mm)
			continue;
		mutex_lock(&mir->lock);
		hmir_zap(mir, addr, addr + PAGE_SIZE);
		mutex_unlock(&mir->lock);
	}
	mutex_unlock(&mdev->mirrors_lock);
}

/*
 * Device to system memory for migrate_vma_setup() output: allocate, copy
 * and drop the device entries (own migrations skip the invalidation).
 */
static void hmir_copy_to_sys(struct migrate_vma *args,
			     struct hmir_device *mdev)
{
	unsigned long addr, i;

	for (addr = args->start, i = 0; addr < args->end;
	     addr += PAGE_SIZE, i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage;

		if (!spage || !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (WARN_ON_ONCE(!is_device_private_page(spage) &&
				 !is_device_coherent_page(spage)))
			continue;
		dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE, args->vma, addr);
		if (!dpage)
			continue;
		lock_page(dpage);
		hmir_zap_all(mdev, args->vma->vm_mm, addr);
		copy_highpage(dpage, hmir_backing(spage));
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (args->src[i] & MIGRATE_PFN_WRITE)
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
}

/* The CPU touched a device private page: bring it back. */
static vm_fault_t hmir_migrate_to_ram(struct vm_fault *vmf)
{
	struct hmir_device *mdev = hmir_page_device(vmf->page);
	unsigned long src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.start = vmf->address,
		.end = vmf->address + PAGE_SIZE,
		.src = &src,
		.dst = &dst,
		.pgmap_owner = mdev,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	bool no_page;

	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	hmir_copy_to_sys(&args, mdev);
	/*
	 * No system page for it: a SIGBUS rather than a refault that would
	 * find no page either for as long as memory stays short.
	 */
	no_page = (src & MIGRATE_PFN_MIGRATE) && !dst;
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	return no_page ? VM_FAULT_SIGBUS : 0;
}

static const struct dev_pagemap_ops hmir_pagemap_ops = {
	.page_free	= hmir_page_free,
	.migrate_to_ram	= hmir_migrate_to_ram,
};

/*
 * Is a page of @chunk being handed out: taken off the free list before
 * the chunk was dying, its refcount and lock not set yet?
 */
static bool hmir_chunk_handing_out(struct hmir_chunk *chunk)
{
	bool ret;

	spin_lock(&chunk->mdev->free_lock);
	ret = chunk->handing_out;
	spin_unlock(&chunk->mdev->free_lock);
	return ret;
}

/* Does a page of @chunk have a user (mapped, or held by a migration)? */
static bool hmir_chunk_busy(struct hmir_chunk *chunk)
{
	unsigned long pfn = chunk->pagemap.range.start >> PAGE_SHIFT;
	unsigned long last = chunk->pagemap.range.end >> PAGE_SHIFT;

	for (; pfn <= last; pfn++)
		if (page_ref_count(pfn_to_page(pfn)))
			return true;
	return false;
}

/* Moves the pages of @chunk that are in use back to system memory, once. */
static void hmir_evict_once(struct hmir_chunk *chunk, unsigned long *src,
			    unsigned long *dst)
{
	unsigned long first = chunk->pagemap.range.start >> PAGE_SHIFT;
	unsigned long npages = range_len(&chunk->pagemap.range) >> PAGE_SHIFT;
	unsigned long i;

	memset(src, 0, npages * sizeof(*src));
	memset(dst, 0, npages * sizeof(*dst));
	down_write(&hmir_exclusive_sem);
	migrate_device_range(src, first, npages);
	for (i = 0; i < npages; i++) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		struct page *dpage;

		if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		dpage = alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
		lock_page(dpage);
		copy_highpage(dpage, hmir_backing(spage));
		dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (src[i] & MIGRATE_PFN_WRITE)
			dst[i] |= MIGRATE_PFN_WRITE;
	}
	migrate_device_pages(src, dst, npages);
	migrate_device_finalize(src, dst, npages);
	up_write(&hmir_exclusive_sem);
}

/*
 * Moves every page of @chunk that is in use back to system memory.  A page
 * that a migration to the device holds locked is skipped by a pass: it is
 * moved by a later one, once that migration mapped or dropped it (the
 * chunk is dying, so no new page of it is handed out meanwhile).
 */
static void hmir_evict_chunk(struct hmir_chunk *chunk)
{
	unsigned long npages = range_len(&chunk->pagemap.range) >> PAGE_SHIFT;
	unsigned long *src, *dst, tries;

	/*
	 * The chunk is dying: no page of it leaves the free list any more.
	 * Those that already did must be initialised (referenced and
	 * locked) before a pass may see them.
	 */
	while (hmir_chunk_handing_out(chunk))
		usleep_range(100, 200);
	src = kvcalloc(npages, sizeof(*src), GFP_KERNEL | __GFP_NOFAIL);
	dst = kvcalloc(npages, sizeof(*dst), GFP_KERNEL | __GFP_NOFAIL);
	for (tries = 0;; tries++) {
		hmir_evict_once(chunk, src, dst);
		if (!hmir_chunk_busy(chunk))
			break;
		/* A page pinned (GUP) for long holds the release up. */
		if (tries == 10000)
			dev_warn(&chunk->mdev->dev,
				 "release waits for a device page in use\n");
		usleep_range(500, 1000);
	}
	kvfree(src);
	kvfree(dst);
}

/*
 * HMM_DMIRROR_RELEASE and unload: give all device memory back.  The chunks
 * are taken off the device under chunks_lock and torn down after it is
 * dropped: a migration that holds a page of one may need chunks_lock (to
 * add a chunk) before it lets go of that page, and tearing down waits for
 * every page of the chunk.
 */
static void hmir_remove_chunks(struct hmir_device *mdev)
{
	struct hmir_chunk *chunk, *tmp;
	LIST_HEAD(dying);

	mutex_lock(&mdev->chunks_lock);
	spin_lock(&mdev->free_lock);
	list_for_each_entry(chunk, &mdev->chunks, node)
		chunk->dying = true;
	/* Every free page belongs to a listed chunk: none stays free. */
	mdev->free_pages = NULL;
	mdev->nr_free = 0;
	spin_unlock(&mdev->free_lock);
	list_splice_init(&mdev->chunks, &dying);
	if (!list_empty(&dying))
		mdev->removing++;
	mutex_unlock(&mdev->chunks_lock);
	if (list_empty(&dying))
		return;

	list_for_each_entry_safe(chunk, tmp, &dying, node) {
		hmir_evict_chunk(chunk);
		memunmap_pages(&chunk->pagemap);
		if (chunk->res)
			release_mem_region(chunk->res->start,
					   resource_size(chunk->res));
		list_del(&chunk->node);
		kfree(chunk);
	}
	mutex_lock(&mdev->chunks_lock);
	mdev->removing--;
	mutex_unlock(&mdev->chunks_lock);
}

/*
 * Sets up the migration of [addr, end) clipped to its VMA and to HMIR_BATCH
 * pages (*next: where the next one starts), selecting @flags pages, into
 * @src and @dst of HMIR_BATCH entries.
 */
static int hmir_migrate_setup(struct hmir_mirror *mir, struct migrate_vma *args,
			      unsigned long *src, unsigned long *dst,
			      unsigned long addr, unsigned long end,
			      unsigned long flags, unsigned long *next)
{
	struct vm_area_struct *vma = vma_lookup(mir->notifier.mm, addr);

	if (!vma || !(vma->vm_flags & VM_READ))
		return -EINVAL;
	*next = min3(end, vma->vm_end, addr + HMIR_BATCH * PAGE_SIZE);
	memset(args, 0, sizeof(*args));
	args->vma = vma;
	args->src = src;
	args->dst = dst;
	args->start = addr;
	args->end = *next;
	args->pgmap_owner = mir->mdev;
	args->flags = flags;
	return migrate_vma_setup(args);
}

/* Fills the device pages of a migration to the device and maps them. */
static void hmir_copy_to_dev(struct hmir_mirror *mir, struct migrate_vma *args)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage;

		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (WARN_ON_ONCE(spage && is_zone_device_page(spage)))
			continue;
		dpage = hmir_alloc_devpage(mir->mdev);
		if (!dpage)
			continue;
		/* A hole or the zero page becomes a zeroed device page. */
		if (spage)
			copy_highpage(hmir_backing(dpage), spage);
		else
			clear_highpage(hmir_backing(dpage));
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if ((args->src[i] & MIGRATE_PFN_WRITE) ||
		    (!spage && (args->vma->vm_flags & VM_WRITE)))
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
}

static int hmir_map_migrated(struct hmir_mirror *mir, struct migrate_vma *args)
{
	unsigned long i;
	int ret = 0;

	mutex_lock(&mir->lock);
	for (i = 0; i < args->npages; i++) {
		struct page *dpage = migrate_pfn_to_page(args->dst[i]);
		unsigned long flags = 0;

		if (!dpage || !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (args->dst[i] & MIGRATE_PFN_WRITE)
			flags |= HMIR_PTE_WRITE;
		ret = hmir_pt_store(&mir->pt, (args->start >> PAGE_SHIFT) + i,
				    hmir_mkpte(page_to_pfn(hmir_backing(dpage)),
					       0, flags), GFP_ATOMIC);
		if (ret)
			break;
	}
	mutex_unlock(&mir->lock);
	return ret;
}

static int hmir_migrate_to_dev(struct hmir_mirror *mir,
			       struct hmm_dmirror_cmd *cmd)
{
	struct mm_struct *mm = mir->notifier.mm;
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	unsigned long src[HMIR_BATCH], dst[HMIR_BATCH];
	unsigned long addr, next;
	struct migrate_vma args;
	int ret = 0;

	if (!mmget_not_zero(mm))
		return -EINVAL;
	mmap_read_lock(mm);
	for (addr = cmd->addr; addr < end; addr = next) {
		/* A large migration goes batch by batch: let a kill in. */
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
		ret = hmir_migrate_setup(mir, &args, src, dst, addr, end,
					 MIGRATE_VMA_SELECT_SYSTEM, &next);
		if (ret)
			break;
		hmir_copy_to_dev(mir, &args);
		migrate_vma_pages(&args);
		ret = hmir_map_migrated(mir, &args);
		migrate_vma_finalize(&args);
		if (ret)
			break;
	}
	mmap_read_unlock(mm);
	mmput(mm);
	if (ret)
		return ret;
	/* The data as the device now sees it, without faulting. */
	return hmir_read_back(mir, cmd);
}

static int hmir_migrate_to_sys(struct hmir_mirror *mir,
			       struct hmm_dmirror_cmd *cmd)
{
	struct mm_struct *mm = mir->notifier.mm;
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	unsigned long src[HMIR_BATCH], dst[HMIR_BATCH];
	unsigned long select = hmir_is_private(mir->mdev) ?
			       MIGRATE_VMA_SELECT_DEVICE_PRIVATE :
			       MIGRATE_VMA_SELECT_DEVICE_COHERENT;
	unsigned long addr, next, i;
	struct migrate_vma args;
	int ret = 0;

	if (!mmget_not_zero(mm))
		return -EINVAL;
	mmap_read_lock(mm);
	for (addr = cmd->addr; addr < end; addr = next) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
		ret = hmir_migrate_setup(mir, &args, src, dst, addr, end,
					 select, &next);
		if (ret)
			break;
		hmir_copy_to_sys(&args, mir->mdev);
		migrate_vma_pages(&args);
		for (i = 0; i < args.npages; i++)
			if ((src[i] & MIGRATE_PFN_VALID) &&
			    (src[i] & MIGRATE_PFN_MIGRATE))
				cmd->cpages++;
		migrate_vma_finalize(&args);
	}
	mmap_read_unlock(mm);
	mmput(mm);
	return ret;
}

static int hmir_map_exclusive(struct hmir_mirror *mir, unsigned long addr,
			      unsigned long npages, struct page **pages)
{
	unsigned long i;
	int ret = 0;

	mutex_lock(&mir->lock);
	for (i = 0; i < npages; i++) {
		ret = hmir_pt_store(&mir->pt, (addr >> PAGE_SHIFT) + i,
				    hmir_mkpte(page_to_pfn(pages[i]), 0,
					       HMIR_PTE_ATOMIC), GFP_ATOMIC);
		if (ret)
			break;
	}
	mutex_unlock(&mir->lock);
	return ret;
}

/*
 * Has @mdev device coherent memory in use, or being released?  A hint: a
 * page a device gets after this said no is caught after the grant.
 */
static bool hmir_has_coherent_memory(struct hmir_device *mdev)
{
	bool ret;

	if (hmir_is_private(mdev))
		return false;
	mutex_lock(&mdev->chunks_lock);
	ret = !list_empty(&mdev->chunks) || mdev->removing;
	mutex_unlock(&mdev->chunks_lock);
	return ret;
}

/*
 * Moves the device coherent pages of this module's devices in [addr, end),
 * at most HMIR_BATCH pages, to system memory.  Called with the mmap lock
 * held.
 */
static noinline_for_stack void hmir_coherent_to_sys(struct mm_struct *mm,
						    unsigned long addr,
						    unsigned long end)
{
	unsigned long src[HMIR_BATCH], dst[HMIR_BATCH];
	struct vm_area_struct *vma;
	struct migrate_vma args;
	unsigned int i;

	while (addr < end && (vma = find_vma_intersection(mm, addr, end))) {
		for (i = 0; i < hmir_nr_devices; i++) {
			if (!hmir_has_coherent_memory(&hmir_devices[i]))
				continue;
			memset(&args, 0, sizeof(args));
			args.vma = vma;
			args.src = src;
			args.dst = dst;
			args.start = max(addr, vma->vm_start);
			args.end = min(end, vma->vm_end);
			args.pgmap_owner = &hmir_devices[i];
			args.flags = MIGRATE_VMA_SELECT_DEVICE_COHERENT;
			if (migrate_vma_setup(&args))
				break;
			hmir_copy_to_sys(&args, &hmir_devices[i]);
			migrate_vma_pages(&args);
			migrate_vma_finalize(&args);
		}
		addr = min(end, vma->vm_end);
	}
}

/*
 * Gives back the exclusive access granted at the pages of [addr, addr + n
 * pages) set in @device: a CPU write fault there maps the page again (the
 * grant needed a writable VMA).  Not killable: a pending kill must not
 * leave a device page exclusive.  Called with the mmap lock held.
 */
static void hmir_unexclusive(struct mm_struct *mm, unsigned long addr,
			     int n, unsigned long device)
{
	int i;

	for (i = 0; i < n; i++) {
		if (!(device & BIT(i)))
			continue;
		if (fixup_user_fault(mm, addr + i * PAGE_SIZE,
				     FAULT_FLAG_WRITE, NULL))
			pr_warn_ratelimited("device page left exclusive at %#lx\n",
					    addr + i * PAGE_SIZE);
	}
}

/* HMM_DMIRROR_EXCLUSIVE: take pages for atomic device access. */
static int hmir_exclusive(struct hmir_mirror *mir, struct hmm_dmirror_cmd *cmd)
{
	struct mm_struct *mm = mir->notifier.mm;
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	struct page *pages[HMIR_BATCH];
	unsigned long addr, next, device;
	int ret = 0, n, i;

	BUILD_BUG_ON(HMIR_BATCH > BITS_PER_LONG);
	if (!mmget_not_zero(mm))
		return -EINVAL;
	mmap_read_lock(mm);
	for (addr = cmd->addr; addr < end; addr = next) {
		next = min(end, addr + HMIR_BATCH * PAGE_SIZE);
		hmir_coherent_to_sys(mm, addr, next);
		if (down_read_killable(&hmir_exclusive_sem)) {
			ret = -EINTR;
			break;
		}
		n = make_device_exclusive_range(mm, addr, next, pages, NULL);
		if (n < 0) {
			up_read(&hmir_exclusive_sem);
			ret = n;
			break;
		}
		/* Map only if all were made exclusive, in system memory. */
		if (n != (next - addr) >> PAGE_SHIFT)
			ret = -EBUSY;
		device = 0;
		for (i = 0; i < n; i++) {
			if (!pages[i])
				ret = -EBUSY;
			else if (is_zone_device_page(pages[i]))
				device |= BIT(i);
		}
		if (device)
			ret = -EBUSY;
		if (!ret)
			ret = hmir_map_exclusive(mir, addr, n, pages);
		for (i = 0; i < n; i++) {
			if (pages[i]) {
				unlock_page(pages[i]);
				put_page(pages[i]);
			}
		}
		hmir_unexclusive(mm, addr, n, device);
		up_read(&hmir_exclusive_sem);
		if (ret)
			break;
	}
	mmap_read_unlock(mm);
	mmput(mm);
	if (ret)
		return ret;
	return hmir_read_back(mir, cmd);
}

static int hmir_check_exclusive(struct hmir_mirror *mir,
				struct hmm_dmirror_cmd *cmd)
{
	unsigned long first = cmd->addr >> PAGE_SHIFT;
	unsigned long index;
	int ret = 0;
	void *pte;

	mutex_lock(&mir->lock);
	xa_for_each_range(&mir->pt, index, pte, first,
			  first + cmd->npages - 1) {
		if (hmir_pte_flags(pte) & HMIR_PTE_ATOMIC) {
			ret = -EPERM;
			break;
		}
	}
	mutex_unlock(&mir->lock);
	return ret;
}

static bool hmir_snap_invalidate(struct mmu_interval_notifier *sub,
				 const struct mmu_notifier_range *range,
				 unsigned long cur_seq)
{
	struct hmir_snap *snap = container_of(sub, struct hmir_snap, notifier);

	if (!hmir_lock_for(snap->mir, range))
		return false;
	/* Any invalidation spoils the whole snapshot. */
	mmu_interval_set_seq(sub, cur_seq);
	mutex_unlock(&snap->mir->lock);
	return true;
}

static const struct mmu_interval_notifier_ops hmir_snap_ops = {
	.invalidate = hmir_snap_invalidate,
};

static u8 hmir_snap_prot(struct hmir_mirror *mir, unsigned long hpfn)
{
	struct page *page;
	u8 prot;

	if (hpfn & HMM_PFN_ERROR)
		return HMM_DMIRROR_PROT_ERROR;
	if (!(hpfn & HMM_PFN_VALID))
		return HMM_DMIRROR_PROT_NONE;
	page = hmm_pfn_to_page(hpfn);
	if (is_device_private_page(page))
		prot = hmir_page_device(page) == mir->mdev ?
		       HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL :
		       HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
	else if (is_device_coherent_page(page))
		prot = hmir_page_device(page) == mir->mdev ?
		       HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL :
		       HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
	else if (is_zero_pfn(page_to_pfn(page)))
		prot = HMM_DMIRROR_PROT_ZERO;
	else
		prot = HMM_DMIRROR_PROT_NONE;
	prot |= hpfn & HMM_PFN_WRITE ? HMM_DMIRROR_PROT_WRITE :
				       HMM_DMIRROR_PROT_READ;
	if (hmm_pfn_to_map_order(hpfn) + PAGE_SHIFT == PMD_SHIFT)
		prot |= HMM_DMIRROR_PROT_PMD;
	else if (hmm_pfn_to_map_order(hpfn) + PAGE_SHIFT == PUD_SHIFT)
		prot |= HMM_DMIRROR_PROT_PUD;
	return prot;
}

/* Snapshot of [range->start, range->end) into @prot, no faults. */
static int hmir_snapshot_batch(struct hmir_mirror *mir, struct hmm_range *range,
			       u8 *prot)
{
	struct mm_struct *mm = mir->notifier.mm;
	unsigned long timeout, i;
	struct hmir_snap snap = { .mir = mir };
	int ret;

	/* Its own notifier: the snapshot must not race with anything. */
	ret = mmu_interval_notifier_insert(&snap.notifier, mm, range->start,
					   range->end - range->start,
					   &hmir_snap_ops);
	if (ret)
		return ret;
	range->notifier = &snap.notifier;
	timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	for (;;) {
		if (time_after(jiffies, timeout)) {
			ret = -EBUSY;
			goto remove_notifier;
		}
		range->notifier_seq = mmu_interval_read_begin(&snap.notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(range);
		mmap_read_unlock(mm);
		if (ret == -EBUSY)
			continue;
		if (ret)
			goto remove_notifier;
		mutex_lock(&mir->lock);
		if (!mmu_interval_read_retry(&snap.notifier,
					     range->notifier_seq))
			break;
		mutex_unlock(&mir->lock);
	}
	for (i = 0; i < (range->end - range->start) >> PAGE_SHIFT; i++)
		prot[i] = hmir_snap_prot(mir, range->hmm_pfns[i]);
	mutex_unlock(&mir->lock);
remove_notifier:
	mmu_interval_notifier_remove(&snap.notifier);
	return ret;
}

static int hmir_snapshot(struct hmir_mirror *mir, struct hmm_dmirror_cmd *cmd)
{
	struct mm_struct *mm = mir->notifier.mm;
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	unsigned long hpfns[HMIR_BATCH];
	u8 prot[HMIR_BATCH];
	u8 __user *uptr = u64_to_user_ptr(cmd->ptr);
	struct hmm_range range = {
		.hmm_pfns = hpfns,
		.dev_private_owner = mir->mdev,
	};
	unsigned long n;
	int ret = 0;

	if (!mmget_not_zero(mm))
		return -EINVAL;
	for (range.start = cmd->addr; range.start < end;
	     range.start = range.end) {
		range.end = min(end, range.start + HMIR_BATCH * PAGE_SIZE);
		ret = hmir_snapshot_batch(mir, &range, prot);
		if (ret)
			break;
		n = (range.end - range.start) >> PAGE_SHIFT;
		if (copy_to_user(uptr, prot, n)) {
			ret = -EFAULT;
			break;
		}
		uptr += n;
		cmd->cpages += n;
	}
	mmput(mm);
	return ret;
}

static int hmir_set_prefill(struct hmir_mirror *mir,
			    struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = 0, end = 0;

	if (cmd->npages) {
		start = cmd->addr;
		end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	}
	/* Peeked at without the lock by hmir_update(). */
	mutex_lock(&mir->lock);
	WRITE_ONCE(mir->prefill_start, start);
	WRITE_ONCE(mir->prefill_end, end);
	mutex_unlock(&mir->lock);
	return 0;
}

static long hmir_counters_ioctl(struct hmir_mirror *mir, unsigned int command,
				void __user *uarg)
{
	struct hmm_mirror_counters stats;

	mutex_lock(&mir->lock);
	stats = mir->stats;
	if (command == HMM_MIRROR_RESET)
		memset(&mir->stats, 0, sizeof(mir->stats));
	mutex_unlock(&mir->lock);
	if (command == HMM_MIRROR_COUNTERS &&
	    copy_to_user(uarg, &stats, sizeof(stats)))
		return -EFAULT;
	return 0;
}

/*
 * HMM_MIRROR_HOLD arms: the next update callback for the prefill window
 * stops before it validates.  HMM_MIRROR_WAIT_HELD waits (bounded) until
 * one is stopped, HMM_MIRROR_UNHOLD lets it go on.  For tests that need an
 * invalidation between an update's delivery and its validation.
 */
static long hmir_hold_ioctl(struct hmir_mirror *mir, unsigned int command)
{
	switch (command) {
	case HMM_MIRROR_HOLD:
		reinit_completion(&mir->held);
		reinit_completion(&mir->unhold);
		atomic_set(&mir->hold_armed, 1);
		return 0;
	case HMM_MIRROR_WAIT_HELD:
		if (!wait_for_completion_timeout(&mir->held,
						 HMIR_HOLD_TIMEOUT)) {
			atomic_set(&mir->hold_armed, 0);
			return -ETIMEDOUT;
		}
		return 0;
	default:
		complete(&mir->unhold);
		return 0;
	}
}

static long hmir_ioctl(struct file *file, unsigned int command,
		       unsigned long arg)
{
	struct hmir_mirror *mir = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct hmm_dmirror_cmd cmd;
	int ret;

	if (command == HMM_MIRROR_COUNTERS || command == HMM_MIRROR_RESET)
		return hmir_counters_ioctl(mir, command, uarg);
	if (command == HMM_MIRROR_HOLD || command == HMM_MIRROR_WAIT_HELD ||
	    command == HMM_MIRROR_UNHOLD)
		return hmir_hold_ioctl(mir, command);
	if (copy_from_user(&cmd, uarg, sizeof(cmd)))
		return -EFAULT;
	if (!PAGE_ALIGNED(cmd.addr))
		return -EINVAL;
	if (command == HMM_DMIRROR_PREFILL) {
		if (cmd.npages && (cmd.addr >= TASK_SIZE ||
				   cmd.npages > (TASK_SIZE - cmd.addr) >>
						PAGE_SHIFT))
			return -EINVAL;
		return hmir_set_prefill(mir, &cmd);
	}
	if (!cmd.npages || cmd.npages > HMIR_MAX_PAGES ||
	    cmd.addr + (cmd.npages << PAGE_SHIFT) <= cmd.addr)
		return -EINVAL;
	cmd.cpages = 0;
	cmd.faults = 0;

	switch (command) {
	case HMM_DMIRROR_READ:
		ret = hmir_access(mir, &cmd, false);
		break;
	case HMM_DMIRROR_WRITE:
		ret = hmir_access(mir, &cmd, true);
		break;
	case HMM_DMIRROR_MIGRATE_TO_DEV:
		ret = hmir_migrate_to_dev(mir, &cmd);
		break;
	case HMM_DMIRROR_MIGRATE_TO_SYS:
		ret = hmir_migrate_to_sys(mir, &cmd);
		break;
	case HMM_DMIRROR_SNAPSHOT:
		ret = hmir_snapshot(mir, &cmd);
		break;
	case HMM_DMIRROR_EXCLUSIVE:
		ret = hmir_exclusive(mir, &cmd);
		break;
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
		ret = hmir_check_exclusive(mir, &cmd);
		break;
	case HMM_DMIRROR_RELEASE:
		hmir_remove_chunks(mir->mdev);
		ret = 0;
		break;
	default:
		return -EINVAL;
	}
	if (ret)
		return ret;
	if (copy_to_user(uarg, &cmd, sizeof(cmd)))
		return -EFAULT;
	return 0;
}

/* Mapping the device file gives zeroed pages the CPU and device share. */
static int hmir_mmap(struct file *file, struct vm_area_struct *vma)
{
	unsigned long addr;
	struct page *page;
	int ret;

	for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
		page = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!page)
			return -ENOMEM;
		ret = vm_insert_page(vma, addr, page);
		/* The mapping holds its own reference. */
		put_page(page);
		if (ret)
			return ret;
	}
	return 0;
}

static int hmir_open(struct inode *inode, struct file *file)
{
	struct hmir_device *mdev = container_of(inode->i_cdev,
						struct hmir_device, cdev);
	struct hmir_mirror *mir;
	int ret;

	if (!current->mm)
		return -EINVAL;
	mir = kzalloc(sizeof(*mir), GFP_KERNEL);
	if (!mir)
		return -ENOMEM;
	mir->mdev = mdev;
	mutex_init(&mir->lock);
	xa_init(&mir->pt);
	init_completion(&mir->held);
	init_completion(&mir->unhold);
	ret = mmu_interval_notifier_insert(&mir->notifier, current->mm, 0,
					   ULONG_MAX & PAGE_MASK,
					   &hmir_notifier_ops);
	if (ret)
		goto free_mirror;
	mutex_lock(&mdev->mirrors_lock);
	list_add(&mir->node, &mdev->mirrors);
	mutex_unlock(&mdev->mirrors_lock);
	file->private_data = mir;
	atomic64_inc(&hmir_totals.live_mirrors);
	return 0;

free_mirror:
	kfree(mir);
	return ret;
}

static int hmir_release(struct inode *inode, struct file *file)
{
	struct hmir_mirror *mir = file->private_data;
	struct hmir_device *mdev = mir->mdev;

	mutex_lock(&mdev->mirrors_lock);
	list_del(&mir->node);
	mutex_unlock(&mdev->mirrors_lock);
	/* Nothing may stay held; then wait for running callbacks. */
	atomic_set(&mir->hold_armed, 0);
	complete_all(&mir->unhold);
	mmu_interval_notifier_remove(&mir->notifier);
	xa_destroy(&mir->pt);
	kfree(mir);
	atomic64_dec(&hmir_totals.live_mirrors);
	return 0;
}

static const struct file_operations hmir_fops = {
	.owner		= THIS_MODULE,
	.open		= hmir_open,
	.release	= hmir_release,
	.mmap		= hmir_mmap,
	.unlocked_ioctl	= hmir_ioctl,
	.llseek		= default_llseek,
};

static int hmir_stats_show(struct seq_file *m, void *unused)
{
	seq_printf(m, "device_faults %lld\n",
		   atomic64_read(&hmir_totals.device_faults));
	seq_printf(m, "updates %lld\n", atomic64_read(&hmir_totals.updates));
	seq_printf(m, "prefilled %lld\n",
		   atomic64_read(&hmir_totals.prefilled));
	seq_printf(m, "prefill_rejected %lld\n",
		   atomic64_read(&hmir_totals.prefill_rejected));
	seq_printf(m, "invalidations %lld\n",
		   atomic64_read(&hmir_totals.invalidations));
	seq_printf(m, "zapped %lld\n", atomic64_read(&hmir_totals.zapped));
	seq_printf(m, "live_mirrors %lld\n",
		   atomic64_read(&hmir_totals.live_mirrors));
	seq_printf(m, "device_pages %lld\n",
		   atomic64_read(&hmir_totals.device_pages));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hmir_stats);

static void hmir_device_release(struct device *dev)
{
	/* Statically allocated. */
}

static int hmir_device_init(struct hmir_device *mdev, unsigned int id,
			    unsigned int type, phys_addr_t spm_addr)
{
	int ret;

	mdev->type = type;
	mdev->spm_addr = spm_addr;
	mutex_init(&mdev->chunks_lock);
	INIT_LIST_HEAD(&mdev->chunks);
	spin_lock_init(&mdev->free_lock);
	mutex_init(&mdev->mirrors_lock);
	INIT_LIST_HEAD(&mdev->mirrors);

	cdev_init(&mdev->cdev, &hmir_fops);
	mdev->cdev.owner = THIS_MODULE;
	device_initialize(&mdev->dev);
	mdev->dev.devt = MKDEV(MAJOR(hmir_devt), id);
	mdev->dev.release = hmir_device_release;
	ret = dev_set_name(&mdev->dev, "hmm_dmirror%u", id);
	if (ret)
		goto put_device;
	ret = cdev_device_add(&mdev->cdev, &mdev->dev);
	if (ret)
		goto put_device;
	/* Fails early if the coherent range is unusable. */
	ret = hmir_add_chunk(mdev);
	if (ret)
		goto del_cdev;
	return 0;

del_cdev:
	cdev_device_del(&mdev->cdev, &mdev->dev);
put_device:
	put_device(&mdev->dev);
	return ret;
}

static void hmir_device_fini(struct hmir_device *mdev)
{
	hmir_remove_chunks(mdev);
	cdev_device_del(&mdev->cdev, &mdev->dev);
	put_device(&mdev->dev);
}

static int __init hmir_init(void)
{
	unsigned int nr = 2, id;
	int ret;

	if (spm_addr_dev0 && spm_addr_dev1)
		nr = 4;
	else if (spm_addr_dev0 || spm_addr_dev1)
		pr_warn("device coherent memory needs both spm_addr_dev0 and spm_addr_dev1\n");
	ret = alloc_chrdev_region(&hmir_devt, 0, HMIR_NDEVICES, "hmm_mirror");
	if (ret)
		return ret;
	for (id = 0; id < nr; id++) {
		unsigned int type = id < 2 ? HMM_DMIRROR_MEMORY_DEVICE_PRIVATE :
					     HMM_DMIRROR_MEMORY_DEVICE_COHERENT;

		ret = hmir_device_init(&hmir_devices[id], id, type,
				       id == 2 ? spm_addr_dev0 : spm_addr_dev1);
		if (ret)
			goto fini_devices;
		hmir_nr_devices = id + 1;
	}
	hmir_debugfs = debugfs_create_dir("hmm_mirror", NULL);
	debugfs_create_file("stats", 0444, hmir_debugfs, NULL,
			    &hmir_stats_fops);
	pr_info("%u devices\n", nr);
	return 0;

fini_devices:
	while (hmir_nr_devices)
		hmir_device_fini(&hmir_devices[--hmir_nr_devices]);
	unregister_chrdev_region(hmir_devt, HMIR_NDEVICES);
	return ret;
}

static void __exit hmir_exit(void)
{
	debugfs_remove_recursive(hmir_debugfs);
	while (hmir_nr_devices)
		hmir_device_fini(&hmir_devices[--hmir_nr_devices]);
	unregister_chrdev_region(hmir_devt, HMIR_NDEVICES);
}

module_init(hmir_init);
module_exit(hmir_exit);
MODULE_DESCRIPTION("HMM mirror device with prefill from mmu notifier updates");
MODULE_LICENSE("GPL");
