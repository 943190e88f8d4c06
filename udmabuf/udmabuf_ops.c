// SPDX-License-Identifier: GPL-2.0
/*
 * The dma-buf exporter.
 *
 * The rules it keeps (README.md has the whole matrix):
 *  - while an attachment is pinned (dma_buf_pin(), the core pinning a
 *    static importer, or, with CONFIG_DMABUF_MOVE_NOTIFY unset, any
 *    importer while it has the buffer mapped) or a vmap lives, no page
 *    changes: every view shows the same pages.  The last unpin lets go of
 *    the pages removed meanwhile, and only of those;
 *  - otherwise a removal under the buffer drops its pages before it
 *    returns: CPU mmaps are zapped, dynamic importers get move_notify and
 *    map the current pages again; what they mapped before stays referenced
 *    by their sg table until they unmap it;
 *  - a CPU read of a hole maps the zero page and leaves the hole; a write,
 *    a map, a vmap or a pin fill it.
 */
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/iosys-map.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "udmabuf.h"

static vm_fault_t udmabuf_vm_fault(struct vm_fault *vmf)
{
	return udmabuf_cpu_fault(vmf->vma->vm_private_data, vmf, false);
}

/* A write to the zero page of a hole: fill it, then let the write refault. */
static vm_fault_t udmabuf_vm_pfn_mkwrite(struct vm_fault *vmf)
{
	return udmabuf_cpu_fault(vmf->vma->vm_private_data, vmf, true);
}

static const struct vm_operations_struct udmabuf_vm_ops = {
	.fault = udmabuf_vm_fault,
	.pfn_mkwrite = udmabuf_vm_pfn_mkwrite,
};

static int udmabuf_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & (VM_SHARED | VM_MAYSHARE)))
		return -EINVAL;
	vma->vm_ops = &udmabuf_vm_ops;
	vma->vm_private_data = dmabuf->priv;
	vm_flags_set(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	return 0;
}

/* A vmap freezes the buffer like a pin, until vunmap. */
static int udmabuf_vmap(struct dma_buf *dmabuf, struct iosys_map *ism)
{
	struct udmabuf *buf = dmabuf->priv;
	struct page **pages;
	unsigned int i;
	pgoff_t pg;
	int ret;

	dma_resv_assert_held(dmabuf->resv);
	if (WARN_ON_ONCE(buf->vaddr))
		return -EBUSY;
	pages = kvmalloc_array(buf->pagecount, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	ret = udmabuf_pin_pages(buf);
	if (ret)
		goto free_pages;
	/* Pinned: the pages stay, and no hole is left. */
	for (i = 0; i < buf->nr_segs; i++) {
		const struct udmabuf_seg *seg = &buf->segs[i];
		pgoff_t idx = seg->first;

		for (pg = seg->start; pg < seg->start + seg->nr; pg++, idx++)
			pages[pg] = folio_file_page(buf->folios[pg], idx);
	}
	buf->vaddr = vm_map_ram(pages, buf->pagecount, NUMA_NO_NODE);
	if (!buf->vaddr) {
		ret = -ENOMEM;
		udmabuf_unpin_pages(buf);
		goto free_pages;
	}
	iosys_map_set_vaddr(ism, buf->vaddr);
free_pages:
	kvfree(pages);
	return ret;
}

static void udmabuf_vunmap(struct dma_buf *dmabuf, struct iosys_map *ism)
{
	struct udmabuf *buf = dmabuf->priv;

	dma_resv_assert_held(dmabuf->resv);
	if (WARN_ON_ONCE(!buf->vaddr || buf->vaddr != ism->vaddr))
		return;
	vm_unmap_ram(buf->vaddr, buf->pagecount);
	buf->vaddr = NULL;
	udmabuf_unpin_pages(buf);
}

static int udmabuf_attach(struct dma_buf *dmabuf,
			  struct dma_buf_attachment *at)
{
	struct udmabuf_attach *ua = kzalloc(sizeof(*ua), GFP_KERNEL);

	at->priv = ua;
	return ua ? 0 : -ENOMEM;
}

static void udmabuf_detach(struct dma_buf *dmabuf,
			   struct dma_buf_attachment *at)
{
	struct udmabuf_attach *ua = at->priv;

	if (ua->cache)
		udmabuf_unmap_pages(ua->cache);
	kfree(ua);
}

/* Under the reservation lock, as the core maps and unmaps. */
static struct sg_table *udmabuf_map_dma_buf(struct dma_buf_attachment *at,
					    enum dma_data_direction dir)
{
	struct udmabuf_attach *ua = at->priv;
	struct udmabuf *buf = at->dmabuf->priv;
	struct udmabuf_map *map = ua->cache;

	if (map && !ua->in_use) {
		if (map->dir == dir && udmabuf_map_current(buf, map)) {
			ua->in_use = true;
			return &map->sgt;
		}
		ua->cache = NULL;
		udmabuf_unmap_pages(map);
	}
	/*
	 * Without CONFIG_DMABUF_MOVE_NOTIFY, the core pins every attachment
	 * for as long as it has a map, and static ones are pinned while
	 * attached.  A dynamic importer's map may outlive its pins.
	 */
	map = udmabuf_map_pages(buf, at->dev, dir, false,
				IS_ENABLED(CONFIG_DMABUF_MOVE_NOTIFY) &&
				dma_buf_attachment_is_dynamic(at));
	if (IS_ERR(map))
		return ERR_CAST(map);
	if (!ua->cache) {
		ua->cache = map;
		ua->in_use = true;
	}
	return &map->sgt;
}

static void udmabuf_unmap_dma_buf(struct dma_buf_attachment *at,
				  struct sg_table *sgt,
				  enum dma_data_direction dir)
{
	struct udmabuf_attach *ua = at->priv;
	struct udmabuf_map *map = container_of(sgt, struct udmabuf_map, sgt);

	/* Kept for the next map, until a page changes or it detaches. */
	if (map == ua->cache)
		ua->in_use = false;
	else
		udmabuf_unmap_pages(map);
}

static int udmabuf_pin(struct dma_buf_attachment *at)
{
	dma_resv_assert_held(at->dmabuf->resv);
	return udmabuf_pin_pages(at->dmabuf->priv);
}

static void udmabuf_unpin(struct dma_buf_attachment *at)
{
	udmabuf_unpin_pages(at->dmabuf->priv);
}

static int udmabuf_begin_cpu_access(struct dma_buf *dmabuf,
				    enum dma_data_direction dir)
{
	return udmabuf_cpu_sync(dmabuf->priv, dir, true);
}

static int udmabuf_end_cpu_access(struct dma_buf *dmabuf,
				  enum dma_data_direction dir)
{
	return udmabuf_cpu_sync(dmabuf->priv, dir, false);
}

/**
 * udmabuf_destroy - free a buffer, exported or not
 * @buf: the buffer
 *
 * Stops the watches first: once they are removed, no callback runs on it.
 */
void udmabuf_destroy(struct udmabuf *buf)
{
	unsigned int i;
	pgoff_t pg, n;

	udmabuf_follow_stop(buf);
	if (buf->cpu_map)
		udmabuf_unmap_pages(buf->cpu_map);
	if (WARN_ON_ONCE(buf->vaddr || buf->pinned))
		atomic_long_sub(buf->pinned, &udmabuf_stats.live_pins);
	/* The references of a run of pages of one folio go at once. */
	for (pg = 0; buf->folios && pg < buf->pagecount; pg += n) {
		for (n = 1; pg + n < buf->pagecount &&
		     buf->folios[pg + n] == buf->folios[pg]; n++)
			;
		if (buf->folios[pg])
			folio_put_refs(buf->folios[pg], n);
	}
	for (i = 0; i < buf->nr_segs; i++)
		if (buf->segs[i].memfd)
			fput(buf->segs[i].memfd);
	kvfree(buf->folios);
	bitmap_free(buf->stale);
	bitmap_free(buf->zero);
	kfree(buf->segs);
	kfree(buf);
	atomic_long_dec(&udmabuf_stats.live_buffers);
}

static void udmabuf_release(struct dma_buf *dmabuf)
{
	udmabuf_destroy(dmabuf->priv);
}

const struct dma_buf_ops udmabuf_ops = {
	.attach = udmabuf_attach,
	.detach = udmabuf_detach,
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
