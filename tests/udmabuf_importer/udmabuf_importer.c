// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf_importer: test helper, a dma-buf importer driven from userspace.
 *
 * Each open file of /dev/udmabuf_importer holds a few attachments (slots)
 * of dma-bufs, static (dma_buf_attach(): the core pins a dynamic exporter's
 * buffer for the attachment's lifetime and maps it once) or dynamic
 * (dma_buf_dynamic_attach() with a move_notify callback that counts its
 * calls and marks the current mapping invalidated).  Userspace maps, unmaps,
 * pins and unpins them, and reads through the pages of a slot's current sg
 * table: what the importer's DMA would read.  An invalidated mapping stays
 * in use until the next MAP or UNMAP, like a device that has not yet
 * stopped its DMA.  See udmabuf_importer.h for the uAPI.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/highmem.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "udmabuf_importer.h"

#define UI_DIR	DMA_BIDIRECTIONAL

/**
 * struct ui_slot - one attachment
 * @dmabuf: the attached dma-buf (a reference), NULL for a free slot
 * @attach: the attachment
 * @sgt: the current mapping, NULL when not mapped
 * @dynamic: @attach was made with dma_buf_dynamic_attach()
 * @pinned: dma_buf_pin() was called through this slot
 * @invalidated: move_notify was called since @sgt was mapped
 * @moves: move_notify calls since the attachment was made
 *
 * All fields but the last two are protected by the file's &ui_file.lock.
 * @invalidated is written with the dma-buf's reservation lock held (by
 * move_notify and by mapping); @moves is atomic.  A dynamic slot's @sgt
 * only changes with both locks held.
 */
struct ui_slot {
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;
	bool dynamic;
	bool pinned;
	bool invalidated;
	atomic64_t moves;
};

/* An open file of the device: its attachments. */
struct ui_file {
	/* Protects slots[] (see struct ui_slot); nests outside dma_resv. */
	struct mutex lock;
	struct ui_slot slots[UDMABUF_IMPORTER_SLOTS];
};

static struct miscdevice ui_misc;

static struct device *ui_dev(void)
{
	return ui_misc.this_device;
}

/* Called with the reservation lock held: no other lock may be taken. */
static void ui_move_notify(struct dma_buf_attachment *attach)
{
	struct ui_slot *slot = attach->importer_priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	atomic64_inc(&slot->moves);
	WRITE_ONCE(slot->invalidated, true);
}

static const struct dma_buf_attach_ops ui_importer_ops = {
	.move_notify = ui_move_notify,
};

/* The attached slot number @nr of @f, or an ERR_PTR. */
static struct ui_slot *ui_slot_get(struct ui_file *f, unsigned long nr)
{
	lockdep_assert_held(&f->lock);
	if (nr >= UDMABUF_IMPORTER_SLOTS)
		return ERR_PTR(-EINVAL);
	if (!f->slots[nr].dmabuf)
		return ERR_PTR(-ENOENT);
	return &f->slots[nr];
}

static long ui_attach(struct ui_file *f,
		      struct udmabuf_importer_attach __user *uarg)
{
	struct udmabuf_importer_attach arg;
	struct dma_buf_attachment *attach;
	struct dma_buf *dmabuf;
	struct ui_slot *slot;
	bool dynamic;
	long ret, nr;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags & ~UDMABUF_IMPORTER_ATTACH_DYNAMIC)
		return -EINVAL;
	dynamic = arg.flags & UDMABUF_IMPORTER_ATTACH_DYNAMIC;
	dmabuf = dma_buf_get(arg.fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);

	mutex_lock(&f->lock);
	for (nr = 0; nr < UDMABUF_IMPORTER_SLOTS; nr++)
		if (!f->slots[nr].dmabuf)
			break;
	ret = -ENOSPC;
	if (nr == UDMABUF_IMPORTER_SLOTS)
		goto unlock;
	slot = &f->slots[nr];
	/* No move_notify can reach the slot before it is on the list. */
	atomic64_set(&slot->moves, 0);
	slot->invalidated = false;
	if (dynamic)
		attach = dma_buf_dynamic_attach(dmabuf, ui_dev(),
						&ui_importer_ops, slot);
	else
		attach = dma_buf_attach(dmabuf, ui_dev());
	if (IS_ERR(attach)) {
		ret = PTR_ERR(attach);
		goto unlock;
	}
	slot->attach = attach;
	slot->sgt = NULL;
	slot->dynamic = dynamic;
	slot->pinned = false;
	slot->dmabuf = dmabuf;
	dmabuf = NULL;
	ret = nr;
unlock:
	mutex_unlock(&f->lock);
	if (dmabuf)
		dma_buf_put(dmabuf);
	return ret;
}

/* Unmap the slot's mapping; a dynamic slot's reservation lock is held. */
static void ui_unmap_sgt(struct ui_slot *slot)
{
	if (slot->dynamic) {
		dma_resv_assert_held(slot->dmabuf->resv);
		dma_buf_unmap_attachment(slot->attach, slot->sgt, UI_DIR);
		WRITE_ONCE(slot->invalidated, false);
	} else {
		dma_buf_unmap_attachment_unlocked(slot->attach, slot->sgt,
						  UI_DIR);
	}
	slot->sgt = NULL;
}

static int ui_map_dynamic(struct ui_slot *slot)
{
	struct dma_resv *resv = slot->dmabuf->resv;
	struct sg_table *sgt;
	long wait;
	int ret = 0;

	dma_resv_lock(resv, NULL);
	if (slot->sgt)
		ui_unmap_sgt(slot);
	/* A move_notify from here on is about the new mapping. */
	WRITE_ONCE(slot->invalidated, false);
	sgt = dma_buf_map_attachment(slot->attach, UI_DIR);
	if (IS_ERR(sgt)) {
		ret = PTR_ERR(sgt);
		goto unlock;
	}
	/* A dynamic importer waits for the exporter's kernel fences itself. */
	wait = dma_resv_wait_timeout(resv, DMA_RESV_USAGE_KERNEL, true,
				     MAX_SCHEDULE_TIMEOUT);
	if (wait < 0) {
		dma_buf_unmap_attachment(slot->attach, sgt, UI_DIR);
		ret = wait;
		goto unlock;
	}
	slot->sgt = sgt;
unlock:
	dma_resv_unlock(resv);
	return ret;
}

static int ui_map_static(struct ui_slot *slot)
{
	struct sg_table *sgt;

	/* The new mapping first: the pages never go unmapped meanwhile. */
	sgt = dma_buf_map_attachment_unlocked(slot->attach, UI_DIR);
	if (IS_ERR(sgt))
		return PTR_ERR(sgt);
	/* The core hands out the mapping it cached at attach time again. */
	if (slot->sgt && slot->sgt != sgt)
		ui_unmap_sgt(slot);
	slot->sgt = sgt;
	return 0;
}

static int ui_unmap(struct ui_slot *slot)
{
	if (!slot->sgt)
		return -ENODATA;
	if (slot->dynamic) {
		dma_resv_lock(slot->dmabuf->resv, NULL);
		ui_unmap_sgt(slot);
		dma_resv_unlock(slot->dmabuf->resv);
	} else {
		ui_unmap_sgt(slot);
	}
	return 0;
}

static int ui_pin(struct ui_slot *slot)
{
	int ret;

	/* dma_buf_pin() warns about static attachments. */
	if (!slot->dynamic)
		return -EINVAL;
	if (slot->pinned)
		return -EBUSY;
	dma_resv_lock(slot->dmabuf->resv, NULL);
	ret = dma_buf_pin(slot->attach);
	dma_resv_unlock(slot->dmabuf->resv);
	if (!ret)
		slot->pinned = true;
	return ret;
}

static int ui_unpin(struct ui_slot *slot)
{
	if (!slot->dynamic || !slot->pinned)
		return -EINVAL;
	dma_resv_lock(slot->dmabuf->resv, NULL);
	dma_buf_unpin(slot->attach);
	dma_resv_unlock(slot->dmabuf->resv);
	slot->pinned = false;
	return 0;
}

/* Unmap, unpin and detach the slot, and free it. */
static void ui_detach(struct ui_slot *slot)
{
	struct dma_buf *dmabuf = slot->dmabuf;

	if (slot->dynamic) {
		dma_resv_lock(dmabuf->resv, NULL);
		if (slot->sgt)
			ui_unmap_sgt(slot);
		if (slot->pinned)
			dma_buf_unpin(slot->attach);
		dma_resv_unlock(dmabuf->resv);
	} else if (slot->sgt) {
		ui_unmap_sgt(slot);
	}
	/* After this, move_notify no longer finds the slot. */
	dma_buf_detach(dmabuf, slot->attach);
	dma_buf_put(dmabuf);
	slot->attach = NULL;
	slot->pinned = false;
	slot->dmabuf = NULL;
}

static long ui_slot_op(struct ui_file *f, unsigned int cmd, unsigned long nr)
{
	struct ui_slot *slot;
	long ret;

	mutex_lock(&f->lock);
	slot = ui_slot_get(f, nr);
	if (IS_ERR(slot)) {
		ret = PTR_ERR(slot);
		goto unlock;
	}
	switch (cmd) {
	case UDMABUF_IMPORTER_MAP:
		ret = slot->dynamic ? ui_map_dynamic(slot) :
				      ui_map_static(slot);
		break;
	case UDMABUF_IMPORTER_UNMAP:
		ret = ui_unmap(slot);
		break;
	case UDMABUF_IMPORTER_PIN:
		ret = ui_pin(slot);
		break;
	case UDMABUF_IMPORTER_UNPIN:
		ret = ui_unpin(slot);
		break;
	case UDMABUF_IMPORTER_DETACH:
		ui_detach(slot);
		ret = 0;
		break;
	default:
		WARN_ON_ONCE(1);
		ret = -ENOTTY;
	}
unlock:
	mutex_unlock(&f->lock);
	return ret;
}

/**
 * ui_copy_sgt - copy bytes from the pages of an sg table to userspace
 * @sgt: the mapping
 * @offset: byte offset into the memory @sgt describes
 * @len: bytes to copy
 * @dst: user buffer
 *
 * Return: 0, -EFAULT, or -EINVAL when @sgt ends before @offset + @len.
 */
static int ui_copy_sgt(struct sg_table *sgt, u64 offset, u64 len,
		       char __user *dst)
{
	struct scatterlist *sg;
	unsigned int i;

	for_each_sgtable_sg(sgt, sg, i) {
		if (!len)
			return 0;
		if (offset >= sg->length) {
			offset -= sg->length;
			continue;
		}
		while (len && offset < sg->length) {
			u64 pos = sg->offset + offset;
			size_t chunk = min3(len, sg->length - offset,
					    PAGE_SIZE - offset_in_page(pos));
			struct page *page = nth_page(sg_page(sg),
						     pos >> PAGE_SHIFT);
			void *vaddr = kmap_local_page(page);
			unsigned long left;

			left = copy_to_user(dst, vaddr + offset_in_page(pos),
					    chunk);
			kunmap_local(vaddr);
			if (left)
				return -EFAULT;
			dst += chunk;
			offset += chunk;
			len -= chunk;
			cond_resched();
		}
		offset = 0;
	}
	return len ? -EINVAL : 0;
}

static long ui_read(struct ui_file *f,
		    struct udmabuf_importer_read __user *uarg)
{
	struct udmabuf_importer_read arg;
	struct ui_slot *slot;
	long ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.__pad)
		return -EINVAL;
	/* The core scrambles the page links that sg_page() reads then. */
	if (IS_ENABLED(CONFIG_DMABUF_DEBUG))
		return -EOPNOTSUPP;
	mutex_lock(&f->lock);
	slot = ui_slot_get(f, arg.slot);
	if (IS_ERR(slot)) {
		ret = PTR_ERR(slot);
		goto unlock;
	}
	ret = -ENODATA;
	if (!slot->sgt)
		goto unlock;
	ret = -EINVAL;
	if (arg.offset > slot->dmabuf->size ||
	    arg.len > slot->dmabuf->size - arg.offset)
		goto unlock;
	/* The pages stay pinned by the mapping, which the lock keeps. */
	ret = ui_copy_sgt(slot->sgt, arg.offset, arg.len,
			  u64_to_user_ptr(arg.ptr));
unlock:
	mutex_unlock(&f->lock);
	return ret;
}

static long ui_info(struct ui_file *f,
		    struct udmabuf_importer_info __user *uarg)
{
	struct udmabuf_importer_info arg;
	struct ui_slot *slot;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	mutex_lock(&f->lock);
	slot = ui_slot_get(f, arg.slot);
	if (IS_ERR(slot)) {
		mutex_unlock(&f->lock);
		return PTR_ERR(slot);
	}
	arg.flags = 0;
	if (slot->dynamic)
		arg.flags |= UDMABUF_IMPORTER_INFO_DYNAMIC;
	if (slot->sgt)
		arg.flags |= UDMABUF_IMPORTER_INFO_MAPPED;
	if (slot->sgt && READ_ONCE(slot->invalidated))
		arg.flags |= UDMABUF_IMPORTER_INFO_INVALIDATED;
	if (slot->pinned)
		arg.flags |= UDMABUF_IMPORTER_INFO_PINNED;
	if (IS_ENABLED(CONFIG_DMABUF_MOVE_NOTIFY))
		arg.flags |= UDMABUF_IMPORTER_INFO_MOVE_NOTIFY;
	arg.moves = atomic64_read(&slot->moves);
	arg.size = slot->dmabuf->size;
	mutex_unlock(&f->lock);
	if (copy_to_user(uarg, &arg, sizeof(arg)))
		return -EFAULT;
	return 0;
}

static long ui_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct ui_file *f = file->private_data;

	switch (cmd) {
	case UDMABUF_IMPORTER_ATTACH:
		return ui_attach(f, (void __user *)arg);
	case UDMABUF_IMPORTER_MAP:
	case UDMABUF_IMPORTER_UNMAP:
	case UDMABUF_IMPORTER_PIN:
	case UDMABUF_IMPORTER_UNPIN:
	case UDMABUF_IMPORTER_DETACH:
		return ui_slot_op(f, cmd, arg);
	case UDMABUF_IMPORTER_READ:
		return ui_read(f, (void __user *)arg);
	case UDMABUF_IMPORTER_INFO:
		return ui_info(f, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static int ui_open(struct inode *inode, struct file *file)
{
	struct ui_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	file->private_data = f;
	return 0;
}

static int ui_release(struct inode *inode, struct file *file)
{
	struct ui_file *f = file->private_data;
	unsigned int nr;

	mutex_lock(&f->lock);
	for (nr = 0; nr < UDMABUF_IMPORTER_SLOTS; nr++)
		if (f->slots[nr].dmabuf)
			ui_detach(&f->slots[nr]);
	mutex_unlock(&f->lock);
	mutex_destroy(&f->lock);
	kfree(f);
	return 0;
}

static const struct file_operations ui_fops = {
	.owner = THIS_MODULE,
	.open = ui_open,
	.release = ui_release,
	.unlocked_ioctl = ui_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice ui_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "udmabuf_importer",
	.fops = &ui_fops,
};

static int __init ui_init(void)
{
	int ret;

	ret = misc_register(&ui_misc);
	if (ret) {
		pr_err("cannot register /dev/udmabuf_importer: %d\n", ret);
		return ret;
	}
	/* Exporters map their sg tables for this device. */
	ret = dma_coerce_mask_and_coherent(ui_dev(), DMA_BIT_MASK(64));
	if (ret) {
		pr_err("cannot set the DMA mask: %d\n", ret);
		goto deregister;
	}
	return 0;

deregister:
	misc_deregister(&ui_misc);
	return ret;
}

static void __exit ui_exit(void)
{
	misc_deregister(&ui_misc);
}

module_init(ui_init);
module_exit(ui_exit);

MODULE_DESCRIPTION("Test helper: a dma-buf importer driven from userspace");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(DMA_BUF);
