// SPDX-License-Identifier: GPL-2.0
/*
 * The index of buffer segments by memfd page, and what a hint does.
 *
 * A hint names memfd pages [lo, hi) of a mapping: an update hint (a fault
 * in a subscribed mm mapped them, at consecutive pfns from @pfn) or an
 * invalidation hint (a subscribed mm saw them unmapped, maybe punched).
 * Every fault of a subscribed mm on a shmem or hugetlbfs file asks, so the
 * common answer, "no buffer covers this", must cost little whatever the
 * number of buffers: a hash lookup of the memfd and one word of a bitmap of
 * the pages some segment covers (udmabuf_file.chunks), without a lock.
 * Only when a bit is set does the hint take the file's lock and walk the
 * interval tree.  The helpers of that answer are always inlined into
 * udmabuf_index_hint(): a kernel built for size would call each of them.
 *
 * For a covered page, an update hint compares the pfn the fault mapped with
 * the one the buffer holds.  If they differ and the buffer is not pinned,
 * it queues the buffer's follow work for those pages and zaps them from
 * the buffer's CPU mmaps, so that a reader refaults through the lazy path
 * once the writing fault has returned.  An invalidation hint hands the
 * pages to udmabuf_follow_gone(), which zaps those that did leave the page
 * cache once the punch is over.
 * Nothing here sleeps but the zap of an update hint, which runs with the
 * file's lock dropped and only when the buffer has a CPU mmap.
 */
#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>

#include "udmabuf.h"

/* The segments over one memfd. */
struct udmabuf_file {
	struct hlist_node node;		/* in udmabuf_files, RCU */
	struct address_space *mapping;	/* the key, never dereferenced */
	/*
	 * Protects @tree.  Taken by the faults of a subscribed mm on pages
	 * of this memfd that the bitmap says a segment may cover: held for
	 * one tree walk, nothing under it sleeps.
	 */
	spinlock_t lock;
	struct rb_root_cached tree;	/* udmabuf_seg.it, by memfd index */
	unsigned int nr_segs;		/* under udmabuf_files_lock */
	/*
	 * A bit for each page that a segment in @tree covers, in chunks.
	 * Read under RCU without a lock; written under udmabuf_files_lock,
	 * one whole word at a time.  The table is replaced when it grows,
	 * up to UDMABUF_CHUNKS_MAX.
	 */
	struct udmabuf_chunks __rcu *chunks;
	struct rcu_head rcu;
};

#define UDMABUF_CHUNK_SHIFT	12	/* 16 MiB of 4 KiB pages a chunk */
#define UDMABUF_CHUNK_PAGES	BIT(UDMABUF_CHUNK_SHIFT)
/*
 * The summary covers the first 64 GiB of a memfd, in a table of at most
 * 32 KiB; a hint on pages beyond takes the lock and walks the tree.
 */
#define UDMABUF_CHUNKS_MAX	4096UL
#define UDMABUF_SUMMARY_END	(UDMABUF_CHUNKS_MAX << UDMABUF_CHUNK_SHIFT)

struct udmabuf_chunk {
	unsigned long bits[BITS_TO_LONGS(UDMABUF_CHUNK_PAGES)];
};

/* The chunks by number, NULL where no segment ever covered a page. */
struct udmabuf_chunks {
	unsigned long nr;
	struct rcu_head rcu;
	struct udmabuf_chunk *chunk[];
};

#define UDMABUF_FILES_BITS	6
static DEFINE_HASHTABLE(udmabuf_files, UDMABUF_FILES_BITS);
/* Protects the writers of udmabuf_files, and udmabuf_file.nr_segs. */
static DEFINE_MUTEX(udmabuf_files_lock);

/* Under rcu_read_lock(). */
static __always_inline struct udmabuf_file *
udmabuf_file_find(struct address_space *mapping)
{
	struct udmabuf_file *f;

	hash_for_each_possible_rcu(udmabuf_files, f, node,
				   (unsigned long)mapping)
		if (f->mapping == mapping)
			return f;
	return NULL;
}

static void udmabuf_file_free(struct rcu_head *rcu)
{
	struct udmabuf_file *f = container_of(rcu, struct udmabuf_file, rcu);
	struct udmabuf_chunks *chs = rcu_dereference_protected(f->chunks, 1);
	unsigned long c;

	for (c = 0; chs && c < chs->nr; c++)
		kfree(chs->chunk[c]);
	kvfree(chs);
	kfree(f);
}

/* The chunk holding page @idx, or NULL.  Under rcu_read_lock(). */
static __always_inline struct udmabuf_chunk *
udmabuf_chunk(struct udmabuf_file *f, pgoff_t idx)
{
	unsigned long c = idx >> UDMABUF_CHUNK_SHIFT;
	struct udmabuf_chunks *chs = rcu_dereference_check(f->chunks,
				lockdep_is_held(&udmabuf_files_lock));

	if (!chs || c >= chs->nr)
		return NULL;
	/* Pairs with the release in udmabuf_chunk_get(): zeroed bits. */
	return smp_load_acquire(&chs->chunk[c]);
}

/* The chunk holding page @idx < UDMABUF_SUMMARY_END, allocated if need be. */
static struct udmabuf_chunk *udmabuf_chunk_get(struct udmabuf_file *f,
					       pgoff_t idx)
{
	unsigned long c = idx >> UDMABUF_CHUNK_SHIFT, nr;
	struct udmabuf_chunk *ch = udmabuf_chunk(f, idx);
	struct udmabuf_chunks *old, *chs;

	lockdep_assert_held(&udmabuf_files_lock);
	if (ch)
		return ch;
	chs = rcu_dereference_protected(f->chunks,
					lockdep_is_held(&udmabuf_files_lock));
	if (!chs || c >= chs->nr) {
		old = chs;
		nr = min(UDMABUF_CHUNKS_MAX, max(c + 1, old ? 2 * old->nr : 1));
		chs = kvzalloc(struct_size(chs, chunk, nr), GFP_KERNEL_ACCOUNT);
		if (!chs)
			return NULL;
		chs->nr = nr;
		if (old)
			memcpy(chs->chunk, old->chunk,
			       old->nr * sizeof(*old->chunk));
		rcu_assign_pointer(f->chunks, chs);
		if (old)
			kvfree_rcu(old, rcu);
	}
	ch = kzalloc(sizeof(*ch), GFP_KERNEL_ACCOUNT);
	if (ch)	/* Readers see the zeroed bits, see udmabuf_chunk(). */
		smp_store_release(&chs->chunk[c], ch);
	return ch;
}

/* The word of @ch that holds the bit of page @idx. */
static __always_inline unsigned long *
udmabuf_chunk_word(struct udmabuf_chunk *ch, pgoff_t idx)
{
	return &ch->bits[BIT_WORD(idx & (UDMABUF_CHUNK_PAGES - 1))];
}

/* The bits of the pages [@lo, @hi) that fall in the word of page @lo. */
static __always_inline unsigned long udmabuf_word_mask(pgoff_t lo, pgoff_t hi)
{
	pgoff_t end = min(hi, (lo | (BITS_PER_LONG - 1)) + 1);

	return BITMAP_FIRST_WORD_MASK(lo) &
	       BITMAP_LAST_WORD_MASK(end - (lo & ~(BITS_PER_LONG - 1)));
}

/* Summary words recomputed per walk of the tree: one chunk holds a block. */
#define UDMABUF_SUMMARY_BLOCK	16
#define UDMABUF_SUMMARY_SPAN	(UDMABUF_SUMMARY_BLOCK * BITS_PER_LONG)

/*
 * Set the summary bits of memfd pages [@lo, @hi), under udmabuf_files_lock:
 * a reader sees the old word or the new one, which only has more bits.
 */
static int udmabuf_summary_add(struct udmabuf_file *f, pgoff_t lo,
			       pgoff_t hi)
{
	struct udmabuf_chunk *ch = NULL;
	pgoff_t w;

	lockdep_assert_held(&udmabuf_files_lock);
	hi = min(hi, UDMABUF_SUMMARY_END);
	for (w = lo; w < hi; w = round_down(w, BITS_PER_LONG) + BITS_PER_LONG) {
		unsigned long *word;

		if (!ch || !(w & (UDMABUF_CHUNK_PAGES - 1)))
			ch = udmabuf_chunk_get(f, w);
		if (!ch)
			return -ENOMEM;
		word = udmabuf_chunk_word(ch, w);
		WRITE_ONCE(*word, *word | udmabuf_word_mask(w, hi));
	}
	return 0;
}

/*
 * Recompute the summary words over memfd pages [@lo, @hi) from the tree
 * after a removal, under udmabuf_files_lock (which also keeps the tree
 * still), a block of words per tree walk.  Each word is computed first and
 * written once, so a reader sees its old or its new value and never misses
 * a segment that stays.  Only clears bits: allocates nothing.
 */
static void udmabuf_summary_del(struct udmabuf_file *f, pgoff_t lo,
				pgoff_t hi)
{
	pgoff_t blo, end = min(hi, UDMABUF_SUMMARY_END);

	lockdep_assert_held(&udmabuf_files_lock);
	for (blo = round_down(lo, UDMABUF_SUMMARY_SPAN); blo < end;
	     blo += UDMABUF_SUMMARY_SPAN) {
		unsigned long bits[UDMABUF_SUMMARY_BLOCK] = { 0 };
		pgoff_t bhi = blo + UDMABUF_SUMMARY_SPAN, w;
		struct udmabuf_chunk *ch = udmabuf_chunk(f, blo);
		struct interval_tree_node *it;

		if (!ch)
			continue;
		for (it = interval_tree_iter_first(&f->tree, blo, bhi - 1); it;
		     it = interval_tree_iter_next(it, blo, bhi - 1)) {
			pgoff_t e = min(it->last + 1, bhi);

			for (w = max(it->start, blo); w < e;
			     w = round_down(w, BITS_PER_LONG) + BITS_PER_LONG)
				bits[(w - blo) / BITS_PER_LONG] |=
					udmabuf_word_mask(w, e);
		}
		for (w = blo; w < bhi; w += BITS_PER_LONG) {
			unsigned long *word = udmabuf_chunk_word(ch, w);
			unsigned long new = bits[(w - blo) / BITS_PER_LONG];

			if (*word != new)
				WRITE_ONCE(*word, new);
		}
	}
}

/* Might a segment cover a page of [@lo, @hi)?  Under rcu_read_lock(). */
static __always_inline bool udmabuf_summary_any(struct udmabuf_file *f,
						pgoff_t lo, pgoff_t hi)
{
	/* One page, the common hint: one bit. */
	if (hi - lo == 1 && lo < UDMABUF_SUMMARY_END) {
		struct udmabuf_chunk *ch = udmabuf_chunk(f, lo);

		return ch && test_bit(lo & (UDMABUF_CHUNK_PAGES - 1),
				      ch->bits);
	}
	while (lo < hi) {
		struct udmabuf_chunk *ch;
		pgoff_t end;

		/* No summary that far: let the tree answer. */
		if (lo >= UDMABUF_SUMMARY_END)
			return true;
		ch = udmabuf_chunk(f, lo);
		if (!ch) {
			lo = round_down(lo, UDMABUF_CHUNK_PAGES) +
			     UDMABUF_CHUNK_PAGES;
			continue;
		}
		end = min(hi, round_down(lo, BITS_PER_LONG) + BITS_PER_LONG);
		if (READ_ONCE(*udmabuf_chunk_word(ch, lo)) &
		    udmabuf_word_mask(lo, end))
			return true;
		lo = end;
	}
	return false;
}

/**
 * udmabuf_index_add - let hints find the buffer's segments
 * @buf: a buffer, ready to be followed
 *
 * Return: 0 or -ENOMEM; udmabuf_index_del() undoes a partial addition.
 */
int udmabuf_index_add(struct udmabuf *buf)
{
	unsigned int i;
	int ret = 0;

	mutex_lock(&udmabuf_files_lock);
	for (i = 0; i < buf->nr_segs; i++) {
		struct udmabuf_seg *seg = &buf->segs[i];
		struct address_space *mapping = seg->memfd->f_mapping;
		struct udmabuf_file *f;

		rcu_read_lock();
		f = udmabuf_file_find(mapping);
		rcu_read_unlock();
		if (!f) {
			f = kzalloc(sizeof(*f), GFP_KERNEL);
			if (!f) {
				ret = -ENOMEM;
				break;
			}
			f->mapping = mapping;
			spin_lock_init(&f->lock);
			f->tree = RB_ROOT_CACHED;
			hash_add_rcu(udmabuf_files, &f->node,
				     (unsigned long)mapping);
		}
		f->nr_segs++;
		seg->file = f;
		spin_lock(&f->lock);
		interval_tree_insert(&seg->it, &f->tree);
		spin_unlock(&f->lock);
		ret = udmabuf_summary_add(f, seg->it.start, seg->it.last + 1);
		if (ret)
			break;
	}
	mutex_unlock(&udmabuf_files_lock);
	return ret;
}

/**
 * udmabuf_index_del - hide the buffer from hints
 * @buf: the buffer
 *
 * Returns once no hint uses the buffer any more.
 */
void udmabuf_index_del(struct udmabuf *buf)
{
	struct udmabuf_file *f;
	unsigned int i;

	mutex_lock(&udmabuf_files_lock);
	for (i = 0; i < buf->nr_segs; i++) {
		f = buf->segs[i].file;
		if (!f)
			continue;
		spin_lock(&f->lock);
		interval_tree_remove(&buf->segs[i].it, &f->tree);
		spin_unlock(&f->lock);
		f->nr_segs--;
	}
	/*
	 * Then the summaries of the memfds that keep other segments.  A file
	 * freed here may be looked at again for a later segment: not before
	 * rcu_read_unlock().
	 */
	rcu_read_lock();
	for (i = 0; i < buf->nr_segs; i++) {
		struct udmabuf_seg *seg = &buf->segs[i];

		f = seg->file;
		if (!f)
			continue;
		seg->file = NULL;
		if (f->nr_segs) {
			udmabuf_summary_del(f, seg->it.start,
					    seg->it.last + 1);
		} else if (!hlist_unhashed(&f->node)) {
			hash_del_rcu(&f->node);
			call_rcu(&f->rcu, udmabuf_file_free);
		}
	}
	rcu_read_unlock();
	mutex_unlock(&udmabuf_files_lock);
	/* Hints that found it took buf->hinting under the file's lock. */
	wait_var_event(&buf->hinting, !atomic_read(&buf->hinting));
}

/* Segments are visited in (first index, address) order, see below. */
struct udmabuf_cursor {
	bool started;
	pgoff_t start;
	uintptr_t addr;
};

static bool udmabuf_seg_after(const struct udmabuf_seg *seg, pgoff_t start,
			      uintptr_t addr)
{
	return seg->it.start > start ||
	       (seg->it.start == start && (uintptr_t)seg > addr);
}

/*
 * The first segment after @cur that overlaps memfd pages [@lo, @hi), or
 * NULL.  The file's lock may be dropped between two calls, and the segment
 * @cur names may be gone by then: the cursor holds its key, not a pointer
 * to follow.  Quadratic in the number of overlapping segments, which is
 * almost always zero or one.
 */
static struct udmabuf_seg *udmabuf_file_next(struct udmabuf_file *f,
					     pgoff_t lo, pgoff_t hi,
					     const struct udmabuf_cursor *cur)
{
	struct udmabuf_seg *best = NULL;
	struct interval_tree_node *it;

	lockdep_assert_held(&f->lock);
	for (it = interval_tree_iter_first(&f->tree, lo, hi - 1); it;
	     it = interval_tree_iter_next(it, lo, hi - 1)) {
		struct udmabuf_seg *seg =
			container_of(it, struct udmabuf_seg, it);

		if (cur->started &&
		    !udmabuf_seg_after(seg, cur->start, cur->addr))
			continue;
		if (!best || udmabuf_seg_after(best, seg->it.start,
					       (uintptr_t)seg))
			best = seg;
	}
	return best;
}

/* A buffer whose CPU mmap loses pages [lo, hi) once the lock is dropped. */
struct udmabuf_hit {
	struct udmabuf *buf;
	pgoff_t lo, hi;
};

/*
 * Act on the pages of @seg in memfd pages [@lo, @hi), under the file's lock.
 * Return true if @hit was filled: the buffer has a CPU mmap to zap, and
 * buf->hinting keeps it alive until the caller is done.
 */
static bool udmabuf_seg_hint(struct udmabuf_seg *seg, pgoff_t lo, pgoff_t hi,
			     unsigned long pfn, struct udmabuf_hit *hit)
{
	struct udmabuf *buf = seg->buf;
	pgoff_t first = udmabuf_seg_first(seg);
	pgoff_t s = max(lo, first), e = min(hi, first + seg->nr);
	pgoff_t plo = seg->start + (s - first), phi = seg->start + (e - first);
	pgoff_t idx;

	/*
	 * An invalidation comes before the truncation it may be part of, and
	 * from inside the mmu notifier, where zapping (which invalidates
	 * other mms) must not nest: zap what left later.  Also while the
	 * buffer is pinned: a punch that truncates after the last unpin must
	 * still be zapped and awaited once it did.
	 */
	if (pfn == UDMABUF_HINT_GONE) {
		atomic_long_inc(&udmabuf_stats.inval_hints);
		udmabuf_follow_gone(buf, plo, phi);
		return false;
	}
	/* Frozen while pinned; the last unpin catches up. */
	if (READ_ONCE(buf->pinned))
		return false;
	plo = ULONG_MAX;
	phi = 0;
	for (idx = s; idx < e; idx++) {
		pgoff_t pg = seg->start + (idx - first);

		if (READ_ONCE(buf->pages[pg].pfn) == pfn + (idx - lo))
			continue;
		plo = min(plo, pg);
		phi = pg + 1;
	}
	if (plo >= phi)
		return false;
	atomic_long_inc(&udmabuf_stats.hints);
	if (!udmabuf_follow_coming(buf, plo, phi))
		udmabuf_follow_later(buf, plo, phi, 0);
	if (!mapping_mapped(buf->inode->i_mapping))
		return false;
	atomic_inc(&buf->hinting);
	hit->buf = buf;
	hit->lo = plo;
	hit->hi = phi;
	return true;
}

/* Zap a hit's pages outside the file's lock, then let the buffer go. */
static void udmabuf_hit_zap(struct udmabuf_hit *hit)
{
	udmabuf_zap(hit->buf, hit->lo, hit->hi - hit->lo);
	atomic_long_inc(&udmabuf_stats.hint_zaps);
	/* The buffer may be freed as soon as this reaches zero. */
	if (atomic_dec_and_test(&hit->buf->hinting))
		wake_up_var(&hit->buf->hinting);
}

/*
 * The slow path of udmabuf_index_hint(): segments one at a time in cursor
 * order, dropping the lock for each zap.  Segments visited before are
 * visited again (and zapped again): the hints are idempotent.
 */
static void udmabuf_index_hint_ordered(struct address_space *mapping,
				       pgoff_t lo, pgoff_t hi,
				       unsigned long pfn)
{
	struct udmabuf_cursor cur = { .started = false };
	struct udmabuf_hit hit;
	struct udmabuf_seg *seg;

	for (;;) {
		struct udmabuf_file *f;
		bool zap = false;

		rcu_read_lock();
		f = udmabuf_file_find(mapping);
		if (!f) {
			rcu_read_unlock();
			break;
		}
		spin_lock(&f->lock);
		while ((seg = udmabuf_file_next(f, lo, hi, &cur))) {
			cur.started = true;
			cur.start = seg->it.start;
			cur.addr = (uintptr_t)seg;
			zap = udmabuf_seg_hint(seg, lo, hi, pfn, &hit);
			if (zap)
				break;
		}
		spin_unlock(&f->lock);
		rcu_read_unlock();
		if (!zap)
			break;
		udmabuf_hit_zap(&hit);
	}
}

/* Buffers with a CPU mmap that one pass of a hint zaps. */
#define UDMABUF_HINT_HITS	4

/*
 * udmabuf_index_hint() once the summary of @f said that a buffer may cover
 * the range.  Called under rcu_read_lock(), which it drops.  Not inlined:
 * the hint on memory no buffer covers, by far the most common one, stays a
 * small function.
 */
static noinline bool udmabuf_index_hint_covered(struct udmabuf_file *f,
						pgoff_t lo, pgoff_t hi,
						unsigned long pfn)
	__releases(RCU)
{
	struct address_space *mapping = f->mapping;
	struct udmabuf_hit hits[UDMABUF_HINT_HITS] __uninitialized;
	struct interval_tree_node *it;
	unsigned int nr = 0, i;
	bool covered = false;

	spin_lock(&f->lock);
	for (it = interval_tree_iter_first(&f->tree, lo, hi - 1); it;
	     it = interval_tree_iter_next(it, lo, hi - 1)) {
		covered = true;
		if (nr == ARRAY_SIZE(hits))
			break;
		if (udmabuf_seg_hint(container_of(it, struct udmabuf_seg, it),
				     lo, hi, pfn, &hits[nr]))
			nr++;
	}
	spin_unlock(&f->lock);
	rcu_read_unlock();
	for (i = 0; i < nr; i++)
		udmabuf_hit_zap(&hits[i]);
	/* More buffers to zap than hits[] holds. */
	if (it)
		udmabuf_index_hint_ordered(mapping, lo, hi, pfn);
	return covered;
}

/**
 * udmabuf_index_hint - act on a hint
 * @mapping: the memfd's mapping
 * @lo: first memfd page index
 * @hi: end of the range (exclusive)
 * @pfn: the pfn mapped at @lo (pages at consecutive pfns), or
 *       %UDMABUF_HINT_GONE for an invalidation
 *
 * A hash lookup and a glance at the summary when no buffer covers the
 * range.  Otherwise one pass over the segments in the range, zapping
 * afterwards.  Once %UDMABUF_HINT_HITS buffers are to be zapped, any
 * further segment in the range sends the hint down the ordered slow path,
 * which visits (and counts in the statistics) the first ones again.
 *
 * Context: process context, no udmabuf lock held; an update hint may sleep
 * to zap, an invalidation hint does not sleep.
 * Return: true if some buffer covers a page of the range.
 */
bool udmabuf_index_hint(struct address_space *mapping, pgoff_t lo,
			pgoff_t hi, unsigned long pfn)
{
	struct udmabuf_file *f;

	rcu_read_lock();
	f = udmabuf_file_find(mapping);
	if (!f || !udmabuf_summary_any(f, lo, hi)) {
		rcu_read_unlock();
		return false;
	}
	return udmabuf_index_hint_covered(f, lo, hi, pfn);
}

/**
 * udmabuf_index_may_cover - might a segment cover a page of a memfd range?
 * @mapping: the memfd's mapping
 * @lo: first memfd page
 * @hi: end of the range (exclusive)
 *
 * The cheap first half of udmabuf_index_hint(), without side effects: a
 * hash lookup and a glance at the summary.  A true answer may be wrong
 * (beyond the summary, or racing with a removal), a false one is not.
 *
 * Context: any, does not sleep.
 */
bool udmabuf_index_may_cover(struct address_space *mapping, pgoff_t lo,
			     pgoff_t hi)
{
	struct udmabuf_file *f;
	bool ret;

	rcu_read_lock();
	f = udmabuf_file_find(mapping);
	ret = f && udmabuf_summary_any(f, lo, hi);
	rcu_read_unlock();
	return ret;
}

void udmabuf_index_exit(void)
{
	/* Every buffer is gone: only RCU callbacks may be left. */
	WARN_ON_ONCE(!hash_empty(udmabuf_files));
	rcu_barrier();
}
