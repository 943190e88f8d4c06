// SPDX-License-Identifier: GPL-2.0
/*
 * Pins of memfd folios.  A buffer page holds a reference on the pin record
 * of its folio; a record holds one FOLL_PIN pin, taken by memfd_pin_folios()
 * and dropped with unpin_folio() when the last page lets go of it.
 */
#include <linux/memfd.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "udmabuf.h"

/* Pin records, allocated and freed in bulk where a run of folios allows. */
static struct kmem_cache *udmabuf_pin_cache;

static void udmabuf_pin_release(struct kref *ref)
{
	struct udmabuf_pin *pin = container_of(ref, struct udmabuf_pin, ref);

	unpin_folio(pin->folio);
	kmem_cache_free(udmabuf_pin_cache, pin);
}

void udmabuf_pin_put(struct udmabuf_pin *pin)
{
	kref_put(&pin->ref, udmabuf_pin_release);
}

/**
 * udmabuf_pages_ref - take or drop the pin references of buffer pages
 * @pages: the pages
 * @nr: number of pages
 * @get: take (true) or drop (false) one reference per page
 * @contig: the pages are as udmabuf_pin_pages() made them (nothing replaced
 *          since), so the pages of a pin are contiguous and a run is found
 *          without visiting each of its pages
 *
 * One atomic operation per run of pages sharing a pin (a huge folio is one
 * run).  Pages without a pin are skipped.
 */
void udmabuf_pages_ref(struct udmabuf_page *pages, pgoff_t nr, bool get,
		       bool contig)
{
	void *dead[32] __uninitialized;
	unsigned int nr_dead = 0;
	pgoff_t pg = 0, run;

	while (pg < nr) {
		struct udmabuf_pin *pin = pages[pg].pin;

		run = 1;
		if (contig && pin) {
			unsigned long sub = pages[pg].pfn -
					    folio_pfn(pin->folio);

			run = min_t(pgoff_t, nr - pg,
				    folio_nr_pages(pin->folio) - sub);
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
			kmem_cache_free_bulk(udmabuf_pin_cache, nr_dead, dead);
			nr_dead = 0;
		}
	}
	if (nr_dead)
		kmem_cache_free_bulk(udmabuf_pin_cache, nr_dead, dead);
}

/**
 * udmabuf_pin_pages - pin a range of memfd pages
 * @memfd: the memfd
 * @first: memfd page index of the first page
 * @nr: number of pages
 * @pages: receives one pin reference per page
 *
 * Holes in the range get new folios, as memfd_pin_folios() allocates them.
 *
 * Context: process context, may sleep and allocate; no udmabuf lock held.
 * Return: 0 or a negative errno (nothing pinned then).
 */
int udmabuf_pin_pages(struct file *memfd, pgoff_t first, pgoff_t nr,
		      struct udmabuf_page *pages)
{
	struct folio *folios_s[8] __uninitialized, **folios = folios_s;
	void *recs[16] __uninitialized;
	unsigned int nr_recs = 0;
	pgoff_t done = 0;
	pgoff_t off;
	long n, k;
	int ret = 0;

	if (nr > ARRAY_SIZE(folios_s))
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
		if (!nr_recs) {
			nr_recs = kmem_cache_alloc_bulk(udmabuf_pin_cache,
							GFP_KERNEL,
							min_t(long, n - k,
							      ARRAY_SIZE(recs)),
							recs);
			if (!nr_recs) {
				ret = -ENOMEM;
				break;
			}
		}
		pin = recs[--nr_recs];
		pin->folio = folios[k];
		/* One reference per buffer page, counted once per folio. */
		refcount_set(&pin->ref.refcount, cnt);
		for (; cnt; cnt--, sub++, done++) {
			pages[done].pin = pin;
			pages[done].pfn = folio_pfn(folios[k]) + sub;
		}
	}
	if (nr_recs)
		kmem_cache_free_bulk(udmabuf_pin_cache, nr_recs, recs);
	/* memfd_pin_folios() covers the range or fails: be safe anyway. */
	if (!ret && done != nr)
		ret = -EINVAL;
	if (ret) {
		for (; k < n; k++)
			unpin_folio(folios[k]);
		udmabuf_pages_ref(pages, done, false, false);
	}
free_folios:
	if (folios != folios_s)
		kvfree(folios);
	return ret;
}

int udmabuf_pin_init(void)
{
	udmabuf_pin_cache = KMEM_CACHE(udmabuf_pin, 0);
	return udmabuf_pin_cache ? 0 : -ENOMEM;
}

/* Every buffer and map snapshot is gone. */
void udmabuf_pin_exit(void)
{
	kmem_cache_destroy(udmabuf_pin_cache);
}
