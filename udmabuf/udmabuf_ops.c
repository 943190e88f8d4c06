// SPDX-License-Identifier: GPL-2.0
/*
 * The dma-buf exporter.
 *
 * The rules it keeps (see README.md for the whole matrix):
 *  - a pinned attachment's pages never change: while any attachment is
 *    pinned (dma_buf_pin(), or the core pinning a static importer for its
 *    whole attachment), no path replaces a page, so every view of the
 *    buffer (CPU mmap, vmap, SYNC, sg tables) shows the same pages.  The
 *    last unpin zaps the CPU mmaps and queues a resync of every page;
 *  - dynamic importers get move_notify after every replacement and see the
 *    new pages when they map again; what they mapped before stays pinned
 *    by their sg table until they unmap it;
 *  - a vmap is a snapshot of the pages at vmap time, until vunmap;
 *  - every access that goes through the driver (mmap fault, vmap,
 *    map_dma_buf, begin_cpu_access, pin) first follows the page cache.
 */
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/hugetlb.h>
#include <linux/iosys-map.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "udmabuf.h"

/* Snapshot the pages, with a pin reference each. */
static struct udmabuf_map *udmabuf_map_get(struct udmabuf *buf)
{
	struct udmabuf_map *map;

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
	return pfn_to_page(map->pages[pg].pfn);
}

static struct udmabuf_map *udmabuf_map_sg(struct udmabuf *buf,
					  struct device *dev,
					  enum dma_data_direction dir)
{
	struct udmabuf_map *map;
	struct scatterlist *sg;
	pgoff_t pg;
	int ret;

	map = udmabuf_map_get(buf);
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

/*
 * A CPU mmap fault that cannot get a page: a hugetlb memfd whose pool is
 * empty gives -ENOMEM, which no OOM kill fixes, and VM_FAULT_OOM would
 * only refault forever.  Such a fault is a SIGBUS, as on the memfd itself.
 */
static vm_fault_t udmabuf_fault_error(struct udmabuf *buf, pgoff_t pg,
				      int err)
{
	if (err == -ENOMEM &&
	    !is_file_hugepages(udmabuf_seg_of(buf, pg)->memfd))
		return VM_FAULT_OOM;
	return VM_FAULT_SIGBUS;
}

static vm_fault_t udmabuf_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct udmabuf *buf = vma->vm_private_data;
	unsigned long addr = vmf->address & PAGE_MASK;
	pgoff_t pg = vmf->pgoff, idx;
	struct udmabuf_seg *seg;
	struct udmabuf_pin *pin;
	unsigned long pfn;
	vm_fault_t ret;
	bool moved;
	int err;

	if (pg >= buf->pagecount)
		return VM_FAULT_SIGBUS;
	err = udmabuf_follow(buf, pg, 1, UDMABUF_FOLLOW_HOLES, NULL);
	if (err)
		return udmabuf_fault_error(buf, pg, err);

	seg = udmabuf_seg_of(buf, pg);
	idx = udmabuf_seg_first(seg) + (pg - seg->start);
	mutex_lock(&buf->lock);
	pin = buf->pages[pg].pin;
	kref_get(&pin->ref);
	pfn = buf->pages[pg].pfn;
	mutex_unlock(&buf->lock);

	/*
	 * Insert without buf->lock: page table allocation may reclaim.  The
	 * pin reference keeps the pfn valid meanwhile.  The entry must not
	 * outlive its page in the buffer: if the page was replaced, or left
	 * the page cache (a punch that a hint zapped before the entry
	 * existed), drop it and let the access refault.
	 */
	ret = vmf_insert_pfn(vma, addr, pfn);
	/*
	 * The entry before the page cache check: a zap that did not see it
	 * (its walk is lockless until it finds a page table) comes after
	 * a truncation this check sees.
	 */
	smp_mb();
	mutex_lock(&buf->lock);
	moved = buf->pages[pg].pin != pin ||
		(!buf->pinned &&
		 udmabuf_page_stale(seg, &buf->pages[pg], idx));
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

/* A snapshot of the current pages, until vunmap. */
static int udmabuf_vmap(struct dma_buf *dmabuf, struct iosys_map *ism)
{
	struct udmabuf *buf = dmabuf->priv;
	struct udmabuf_map *map;
	struct page **pages;
	int ret = 0;
	pgoff_t pg;

	dma_resv_assert_held(dmabuf->resv);
	if (WARN_ON_ONCE(buf->vmap))
		return -EBUSY;
	ret = udmabuf_follow(buf, 0, buf->pagecount,
			     UDMABUF_FOLLOW_HOLES | UDMABUF_FOLLOW_RESV, NULL);
	if (ret)
		return ret;
	map = udmabuf_map_get(buf);
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
	buf->vmap = map;
	iosys_map_set_vaddr(ism, map->vaddr);
	return 0;

put_map:
	udmabuf_map_put(map);
	return ret;
}

static void udmabuf_vunmap(struct dma_buf *dmabuf, struct iosys_map *ism)
{
	struct udmabuf *buf = dmabuf->priv;
	struct udmabuf_map *map = buf->vmap;

	dma_resv_assert_held(dmabuf->resv);
	if (WARN_ON_ONCE(!map || map->vaddr != ism->vaddr))
		return;
	buf->vmap = NULL;
	vm_unmap_ram(map->vaddr, map->nr);
	udmabuf_map_put(map);
}

static struct sg_table *udmabuf_map_dma_buf(struct dma_buf_attachment *at,
					    enum dma_data_direction dir)
{
	struct udmabuf *buf = at->dmabuf->priv;
	struct udmabuf_map *map;
	int ret;

	/* The others are told; this one is mapping the new pages anyway. */
	ret = udmabuf_follow(buf, 0, buf->pagecount,
			     UDMABUF_FOLLOW_HOLES | UDMABUF_FOLLOW_RESV, at);
	if (ret)
		return ERR_PTR(ret);
	map = udmabuf_map_sg(buf, at->dev, dir);
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

/*
 * Pinned: the pages stay as they are until the last unpin.  Follow first,
 * so that what gets frozen is current.
 */
static int udmabuf_pin(struct dma_buf_attachment *at)
{
	struct udmabuf *buf = at->dmabuf->priv;
	int ret;

	dma_resv_assert_held(at->dmabuf->resv);
	ret = udmabuf_follow(buf, 0, buf->pagecount,
			     UDMABUF_FOLLOW_HOLES | UDMABUF_FOLLOW_RESV, at);
	if (ret)
		return ret;
	mutex_lock(&buf->lock);
	buf->pinned++;
	mutex_unlock(&buf->lock);
	return 0;
}

static void udmabuf_unpin(struct dma_buf_attachment *at)
{
	struct udmabuf *buf = at->dmabuf->priv;
	bool last;

	dma_resv_assert_held(at->dmabuf->resv);
	mutex_lock(&buf->lock);
	if (WARN_ON_ONCE(!buf->pinned))
		buf->pinned = 1;
	last = !--buf->pinned;
	mutex_unlock(&buf->lock);
	/* Catch up with what happened meanwhile, out of the resv lock. */
	if (last) {
		atomic_long_inc(&udmabuf_stats.resyncs);
		udmabuf_follow_later(buf, 0, buf->pagecount,
				     UDMABUF_LATER_RESYNC);
	}
}

static int udmabuf_begin_cpu_access(struct dma_buf *dmabuf,
				    enum dma_data_direction dir)
{
	struct udmabuf *buf = dmabuf->priv;
	struct udmabuf_map *map, *old = NULL;
	unsigned long gen;
	int ret;

	ret = udmabuf_follow(buf, 0, buf->pagecount, UDMABUF_FOLLOW_HOLES,
			     NULL);
	if (ret)
		return ret;
	mutex_lock(&buf->map_lock);
	mutex_lock(&buf->lock);
	gen = buf->gen;
	mutex_unlock(&buf->lock);
	if (!buf->cpu_map || buf->cpu_map->gen != gen) {
		map = udmabuf_map_sg(buf, udmabuf_dma_dev, DMA_BIDIRECTIONAL);
		if (IS_ERR(map)) {
			ret = PTR_ERR(map);
			goto unlock_map;
		}
		old = buf->cpu_map;
		buf->cpu_map = map;
	}
	dma_sync_sgtable_for_cpu(udmabuf_dma_dev, &buf->cpu_map->sgt, dir);
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
		dma_sync_sgtable_for_device(udmabuf_dma_dev,
					    &buf->cpu_map->sgt, dir);
	else
		ret = -EINVAL;
	mutex_unlock(&buf->map_lock);
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
	udmabuf_await_drop(buf);
	kvfree(buf->pages);
	kfree(buf->segs);
	if (buf->inode)
		iput(buf->inode);
	kfree(buf);
}

void udmabuf_put(struct udmabuf *buf)
{
	kref_put(&buf->ref, udmabuf_free);
}

/**
 * udmabuf_destroy - undo udmabuf creation
 * @buf: the buffer, exported or not
 *
 * Hides it from hints, waits for those in flight and for the follow work,
 * drops the subscription and the creation's reference.
 */
void udmabuf_destroy(struct udmabuf *buf)
{
	udmabuf_index_del(buf);
	udmabuf_follow_stop(buf);
	udmabuf_unsubscribe(buf);
	if (buf->cpu_map)
		udmabuf_unmap_sg(buf->cpu_map);
	WARN_ON_ONCE(buf->vmap || buf->pinned);
	udmabuf_put(buf);
}

static void udmabuf_release(struct dma_buf *dmabuf)
{
	udmabuf_destroy(dmabuf->priv);
}

const struct dma_buf_ops udmabuf_ops = {
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
