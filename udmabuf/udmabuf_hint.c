// SPDX-License-Identifier: GPL-2.0
/*
 * Hints from the mms that created buffers.
 *
 * Creating a buffer subscribes the creator's mm (one struct mmu_notifier per
 * mm, shared through mmu_notifier_get()).  While some buffer awaits the
 * refault of a page that left the page cache, its update op hears every
 * shmem and hugetlbfs fault of that mm, through any mapping (CPU accesses,
 * get_user_pages(), KVM faulting guest RAM); each becomes an update hint on
 * the memfd pages the fault mapped.  The rest of the time the updates are
 * paused (udmabuf_updates_want()): until a page under a buffer leaves the
 * page cache, no fault can map anything but the page the buffer holds.
 * Updates are only hints here: the follow work checks what it pins against
 * the page cache itself, so this needs neither the update's sequence nor a
 * lock in invalidate_range_start.
 *
 * invalidate_range_start turns the removal of memfd pages this mm maps (a
 * hole punch by anyone unmaps them from every mm first) into invalidation
 * hints, so that the buffers' CPU mmaps follow writes made through other
 * mms or write(2): the pages that left the page cache are zapped when the
 * punching task returns to user space (udmabuf_follow_gone()).  An
 * invalidation names virtual addresses only, so each subscription
 * remembers which memfd ranges its mm maps where: learned when a buffer is
 * created (the creator's shared mappings of its memfds) and from update
 * hints that hit a buffer, forgotten when the range is unmapped.
 * Translations are only ever made from a learned VMA that is still mapped:
 * munmap() and mremap() send MMU_NOTIFY_UNMAP before the range can be
 * reused, and learning happens under the mmap or VMA lock.
 */
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/pagemap.h>
#include <linux/seqlock.h>
#include <linux/slab.h>

#include "udmabuf.h"

/* A shared mapping of a memfd: [@start, @end) maps pages from @pgoff. */
struct udmabuf_vma {
	unsigned long start;
	unsigned long end;
	pgoff_t pgoff;
	struct address_space *mapping;	/* never dereferenced */
};

#define UDMABUF_MM_VMAS	8

struct udmabuf_mm {
	struct mmu_notifier mn;
	struct list_head node;		/* in udmabuf_mms if @listed */
	bool listed;
	spinlock_t lock;		/* serialises writers of @vmas */
	seqcount_spinlock_t seq;	/* readers of @vmas */
	unsigned int nr_vmas;
	unsigned int next;		/* the slot to reuse when full */
	struct udmabuf_vma vmas[UDMABUF_MM_VMAS];
};

/*
 * The subscribed mms.  Their update callbacks run only while some buffer
 * awaits the refault of a page that left the page cache: the rest of the
 * time they are paused, and the mms' faults cost one bit test.
 */
static LIST_HEAD(udmabuf_mms);
/*
 * Protects udmabuf_mms, udmabuf_mm.listed and udmabuf_awaiting, and orders
 * the pauses and resumes.  Taken inside invalidation callbacks and
 * udmabuf.pending_lock; takes the mm's subscriptions lock.
 */
static DEFINE_SPINLOCK(udmabuf_mms_lock);
static unsigned long udmabuf_awaiting;	/* buffers awaiting refaults */

/**
 * udmabuf_updates_want - a buffer starts or stops awaiting refaults
 * @want: true when it starts
 *
 * The first buffer to start resumes the updates of every subscribed mm,
 * the last one to stop pauses them.  Without a buffer awaiting, no update
 * could change a buffer: its pages are still the page cache's.
 *
 * Context: process context, including mmu notifier callbacks.
 */
void udmabuf_updates_want(bool want)
{
	struct udmabuf_mm *um;

	spin_lock(&udmabuf_mms_lock);
	if (want) {
		if (!udmabuf_awaiting++) {
			atomic_long_inc(&udmabuf_stats.update_resumes);
			list_for_each_entry(um, &udmabuf_mms, node)
				mmu_notifier_update_resume(&um->mn);
		}
	} else if (!WARN_ON_ONCE(!udmabuf_awaiting) && !--udmabuf_awaiting) {
		list_for_each_entry(um, &udmabuf_mms, node)
			mmu_notifier_update_pause(&um->mn);
	}
	atomic_long_set(&udmabuf_stats.awaiting, udmabuf_awaiting);
	spin_unlock(&udmabuf_mms_lock);
}

static bool udmabuf_vma_same(const struct udmabuf_vma *a,
			     const struct vm_area_struct *vma)
{
	return a->start == vma->vm_start && a->end == vma->vm_end &&
	       a->pgoff == vma->vm_pgoff &&
	       a->mapping == vma->vm_file->f_mapping;
}

/* Remember that @vma maps its memfd; under the mmap or VMA lock. */
static void udmabuf_mm_learn(struct udmabuf_mm *um,
			     struct vm_area_struct *vma)
{
	unsigned int i, seq;
	bool known;

	do {
		known = false;
		seq = read_seqcount_begin(&um->seq);
		for (i = 0; i < READ_ONCE(um->nr_vmas) && !known; i++)
			known = udmabuf_vma_same(&um->vmas[i], vma);
	} while (read_seqcount_retry(&um->seq, seq));
	if (known)
		return;

	spin_lock(&um->lock);
	write_seqcount_begin(&um->seq);
	if (um->nr_vmas < UDMABUF_MM_VMAS) {
		i = um->nr_vmas++;
	} else {
		i = um->next;
		um->next = (um->next + 1) % UDMABUF_MM_VMAS;
	}
	um->vmas[i].start = vma->vm_start;
	um->vmas[i].end = vma->vm_end;
	um->vmas[i].pgoff = vma->vm_pgoff;
	um->vmas[i].mapping = vma->vm_file->f_mapping;
	write_seqcount_end(&um->seq);
	spin_unlock(&um->lock);
}

/*
 * [@start, @end) is being unmapped: forget that part of the mappings it
 * overlaps.  The rest of such a mapping still maps the same memfd pages at
 * the same addresses (munmap() or mremap() of a part of it), and is kept:
 * while updates are paused nothing would learn it again before the mm
 * creates another buffer.  Splitting one in two takes a free slot; without
 * one, the tail is forgotten.
 */
static void udmabuf_mm_forget(struct udmabuf_mm *um, unsigned long start,
			      unsigned long end)
{
	unsigned int i = 0;

	spin_lock(&um->lock);
	write_seqcount_begin(&um->seq);
	while (i < um->nr_vmas) {
		struct udmabuf_vma *v = &um->vmas[i];

		if (v->start >= end || start >= v->end) {
			i++;
			continue;
		}
		if (start > v->start && end < v->end &&
		    um->nr_vmas < UDMABUF_MM_VMAS) {
			struct udmabuf_vma *tail = &um->vmas[um->nr_vmas++];

			*tail = *v;
			tail->pgoff += (end - v->start) >> PAGE_SHIFT;
			tail->start = end;
		}
		if (start > v->start) {
			v->end = start;
			i++;
		} else if (end < v->end) {
			v->pgoff += (end - v->start) >> PAGE_SHIFT;
			v->start = end;
			i++;
		} else {
			*v = um->vmas[--um->nr_vmas];
		}
	}
	write_seqcount_end(&um->seq);
	spin_unlock(&um->lock);
}

static void udmabuf_mn_update(struct mmu_notifier *mn,
			      const struct mmu_notifier_update *u)
{
	struct udmabuf_mm *um = container_of(mn, struct udmabuf_mm, mn);
	struct vm_area_struct *vma = u->vma;
	pgoff_t lo;

	if (!READ_ONCE(udmabuf_follow_hints) || !vma->vm_file)
		return;
	lo = linear_page_index(vma, u->start);
	if (udmabuf_index_hint(vma->vm_file->f_mapping, lo,
			       lo + ((u->end - u->start) >> PAGE_SHIFT),
			       u->pfn))
		udmabuf_mm_learn(um, vma);
}

/* The memfd pages that learned mapping @v has in [@start, @end). */
struct udmabuf_span {
	struct address_space *mapping;
	pgoff_t lo, hi;
};

static __always_inline bool udmabuf_vma_span(const struct udmabuf_vma *v,
					     unsigned long start,
					     unsigned long end,
					     struct udmabuf_span *span)
{
	unsigned long s = max(start, v->start);
	unsigned long e = min(end, v->end);

	if (s >= e)
		return false;
	span->mapping = v->mapping;
	span->lo = v->pgoff + ((s - v->start) >> PAGE_SHIFT);
	span->hi = v->pgoff + ((e - v->start + PAGE_SIZE - 1) >> PAGE_SHIFT);
	return true;
}

/*
 * Pages that some buffer may cover are being removed: hint each span.  The
 * spans are copied out of the seqcount section, which may be retried,
 * because a hint has side effects.
 */
static noinline void udmabuf_mn_clear_hint(struct udmabuf_mm *um,
					   const struct mmu_notifier_range *r)
{
	struct udmabuf_span span[UDMABUF_MM_VMAS] __uninitialized;
	unsigned int i, n, seq;

	do {
		seq = read_seqcount_begin(&um->seq);
		for (i = 0, n = 0; i < READ_ONCE(um->nr_vmas); i++)
			if (udmabuf_vma_span(&um->vmas[i], r->start, r->end,
					     &span[n]))
				n++;
	} while (read_seqcount_retry(&um->seq, seq));
	/* Does not sleep: it only queues work. */
	for (i = 0; i < n; i++)
		udmabuf_index_hint(span[i].mapping, span[i].lo, span[i].hi,
				   UDMABUF_HINT_GONE);
}

/*
 * Might a buffer cover a page that a learned mapping has in [@start, @end)?
 * A true answer, even from a section that a writer then retries, only sends
 * the invalidation down udmabuf_mn_clear_hint(), which reads again.
 */
static __always_inline bool udmabuf_mn_may_cover(struct udmabuf_mm *um,
						 unsigned long start,
						 unsigned long end)
{
	struct udmabuf_span span;
	unsigned int i, seq;

	do {
		seq = read_seqcount_begin(&um->seq);
		for (i = 0; i < READ_ONCE(um->nr_vmas); i++)
			if (udmabuf_vma_span(&um->vmas[i], start, end, &span) &&
			    udmabuf_index_may_cover(span.mapping, span.lo,
						    span.hi))
				return true;
	} while (read_seqcount_retry(&um->seq, seq));
	return false;
}

/*
 * Every invalidation of the mm comes here (MADV_DONTNEED of guest RAM,
 * munmap, a punch anywhere): the common answer, no buffer covers any page
 * of it, is a walk of the few learned mappings and one summary glance each.
 * Only a clear removes pages: a punch, truncation, MADV_DONTNEED.
 */
static int udmabuf_mn_invalidate_start(struct mmu_notifier *mn,
				       const struct mmu_notifier_range *range)
{
	struct udmabuf_mm *um = container_of(mn, struct udmabuf_mm, mn);

	if (!READ_ONCE(um->nr_vmas))
		return 0;
	if (likely(range->event == MMU_NOTIFY_CLEAR)) {
		if (READ_ONCE(udmabuf_follow_hints) &&
		    udmabuf_mn_may_cover(um, range->start, range->end))
			udmabuf_mn_clear_hint(um, range);
	} else if (range->event == MMU_NOTIFY_UNMAP) {
		udmabuf_mm_forget(um, range->start, range->end);
	}
	return 0;
}

static struct mmu_notifier *udmabuf_mn_alloc(struct mm_struct *mm)
{
	struct udmabuf_mm *um;

	um = kzalloc(sizeof(*um), GFP_KERNEL);
	if (!um)
		return ERR_PTR(-ENOMEM);
	spin_lock_init(&um->lock);
	seqcount_spinlock_init(&um->seq, &um->lock);
	return &um->mn;
}

static void udmabuf_mn_free(struct mmu_notifier *mn)
{
	struct udmabuf_mm *um = container_of(mn, struct udmabuf_mm, mn);

	spin_lock(&udmabuf_mms_lock);
	if (um->listed)
		list_del(&um->node);
	spin_unlock(&udmabuf_mms_lock);
	kfree(um);
}

static const struct mmu_notifier_ops udmabuf_mn_ops = {
	.invalidate_range_start = udmabuf_mn_invalidate_start,
	.update = udmabuf_mn_update,
	.alloc_notifier = udmabuf_mn_alloc,
	.free_notifier = udmabuf_mn_free,
};

/* Learn the creator's shared mappings of the buffer's memfds. */
static void udmabuf_mm_learn_buf(struct udmabuf_mm *um, struct udmabuf *buf)
{
	struct mm_struct *mm = um->mn.mm;
	struct vm_area_struct *vma;
	unsigned int i;

	mmap_read_lock(mm);
	{
		VMA_ITERATOR(vmi, mm, 0);

		for_each_vma(vmi, vma) {
			if (!vma->vm_file || !(vma->vm_flags & VM_SHARED))
				continue;
			for (i = 0; i < buf->nr_segs; i++) {
				struct udmabuf_seg *seg = &buf->segs[i];
				pgoff_t first = udmabuf_seg_first(seg);

				if (vma->vm_file->f_mapping !=
				    seg->memfd->f_mapping ||
				    vma->vm_pgoff >= first + seg->nr ||
				    vma->vm_pgoff + vma_pages(vma) <= first)
					continue;
				udmabuf_mm_learn(um, vma);
				break;
			}
		}
	}
	mmap_read_unlock(mm);
}

/**
 * udmabuf_subscribe - follow the faults of the creating process's mm
 * @buf: a new buffer
 *
 * Creating a buffer never fails for the follower's sake: if the mm cannot
 * be subscribed (mmu_notifier_get() takes every lock of the mm the first
 * time, and can fail with -EINTR or -ENOMEM), the buffer follows lazily
 * only, and the next creation in that mm tries again.
 */
void udmabuf_subscribe(struct udmabuf *buf)
{
	struct mmu_notifier *mn;

	if (!current->mm)
		return;
	mn = mmu_notifier_get(&udmabuf_mn_ops, current->mm);
	if (IS_ERR(mn)) {
		atomic_long_inc(&udmabuf_stats.no_subscription);
		return;
	}
	buf->um = container_of(mn, struct udmabuf_mm, mn);
	/* A new subscription's updates run until it joins the list. */
	spin_lock(&udmabuf_mms_lock);
	if (!buf->um->listed) {
		list_add(&buf->um->node, &udmabuf_mms);
		buf->um->listed = true;
		if (!udmabuf_awaiting)
			mmu_notifier_update_pause(mn);
	}
	spin_unlock(&udmabuf_mms_lock);
	udmabuf_mm_learn_buf(buf->um, buf);
}

void udmabuf_unsubscribe(struct udmabuf *buf)
{
	if (!buf->um)
		return;
	mmu_notifier_put(&buf->um->mn);
	buf->um = NULL;
}
