// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf_vmap: test helper reading a dma-buf through a kernel vmap.
 *
 * UDMABUF_VMAP_READ maps the dma-buf with dma_buf_vmap_unlocked(), copies a
 * range of it to userspace and unmaps it again, or reads the mapping that
 * UDMABUF_VMAP_HOLD made and keeps until the file is closed.
 * UDMABUF_VMAP_PUNCH punches a hole in a memfd from a workqueue.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-buf.h>
#include <linux/falloc.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/iosys-map.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "udmabuf_vmap.h"

struct uv_file {
	struct mutex lock;	/* protects the held mapping */
	struct dma_buf *held;
	struct iosys_map map;
};

static int uv_copy(struct dma_buf *dmabuf, struct iosys_map *map,
		   const struct udmabuf_vmap_read *arg)
{
	if (arg->offset > dmabuf->size ||
	    arg->len > dmabuf->size - arg->offset)
		return -EINVAL;
	if (copy_to_user(u64_to_user_ptr(arg->ptr), map->vaddr + arg->offset,
			 arg->len))
		return -EFAULT;
	return 0;
}

static long uv_read(struct uv_file *f, struct udmabuf_vmap_read __user *uarg)
{
	struct udmabuf_vmap_read arg;
	struct iosys_map map;
	struct dma_buf *dmabuf;
	long ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags & UDMABUF_VMAP_HELD) {
		mutex_lock(&f->lock);
		ret = f->held ? uv_copy(f->held, &f->map, &arg) : -ENOENT;
		mutex_unlock(&f->lock);
		return ret;
	}
	dmabuf = dma_buf_get(arg.fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	ret = dma_buf_vmap_unlocked(dmabuf, &map);
	if (ret)
		goto put_buf;
	ret = uv_copy(dmabuf, &map, &arg);
	dma_buf_vunmap_unlocked(dmabuf, &map);
put_buf:
	dma_buf_put(dmabuf);
	return ret;
}

static long uv_hold(struct uv_file *f, int fd)
{
	struct dma_buf *dmabuf;
	long ret;

	dmabuf = dma_buf_get(fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	mutex_lock(&f->lock);
	ret = -EBUSY;
	if (f->held)
		goto unlock;
	ret = dma_buf_vmap_unlocked(dmabuf, &f->map);
	if (ret)
		goto unlock;
	f->held = dmabuf;
	dmabuf = NULL;
unlock:
	mutex_unlock(&f->lock);
	if (dmabuf)
		dma_buf_put(dmabuf);
	return ret;
}

struct uv_punch {
	struct work_struct work;
	struct file *memfd;
	struct udmabuf_vmap_punch arg;
	long ret;
};

static void uv_punch_work(struct work_struct *work)
{
	struct uv_punch *p = container_of(work, struct uv_punch, work);

	p->ret = vfs_fallocate(p->memfd,
			       FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       p->arg.offset, p->arg.len);
}

static long uv_punch(struct udmabuf_vmap_punch __user *uarg)
{
	struct uv_punch p;

	if (copy_from_user(&p.arg, uarg, sizeof(p.arg)))
		return -EFAULT;
	if (p.arg.pad || p.arg.offset > LLONG_MAX ||
	    p.arg.len > LLONG_MAX - p.arg.offset || !p.arg.len)
		return -EINVAL;
	p.memfd = fget(p.arg.fd);
	if (!p.memfd)
		return -EBADF;
	INIT_WORK_ONSTACK(&p.work, uv_punch_work);
	queue_work(system_unbound_wq, &p.work);
	flush_work(&p.work);
	destroy_work_on_stack(&p.work);
	fput(p.memfd);
	return p.ret;
}

static long uv_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case UDMABUF_VMAP_READ:
		return uv_read(file->private_data, (void __user *)arg);
	case UDMABUF_VMAP_HOLD:
		return uv_hold(file->private_data, (int)arg);
	case UDMABUF_VMAP_PUNCH:
		return uv_punch((void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static int uv_open(struct inode *inode, struct file *file)
{
	struct uv_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	file->private_data = f;
	return 0;
}

static int uv_release(struct inode *inode, struct file *file)
{
	struct uv_file *f = file->private_data;

	if (f->held) {
		dma_buf_vunmap_unlocked(f->held, &f->map);
		dma_buf_put(f->held);
	}
	kfree(f);
	return 0;
}

static const struct file_operations uv_fops = {
	.owner = THIS_MODULE,
	.open = uv_open,
	.release = uv_release,
	.unlocked_ioctl = uv_ioctl,
};

static struct miscdevice uv_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "udmabuf_vmap",
	.fops = &uv_fops,
};

module_misc_device(uv_misc);

MODULE_DESCRIPTION("Test helper: read a dma-buf through a kernel vmap, punch from a kernel thread");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(DMA_BUF);
