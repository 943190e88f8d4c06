// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf: dma-bufs over memfd pages that follow page replacement.
 *
 * Drop-in replacement for drivers/dma-buf/udmabuf.c: the same /dev/udmabuf
 * uAPI, limits, seal rules and errnos as Linux 6.12.  The stock driver pins
 * the folios it finds at create time forever; when the memfd range is
 * hole-punched and written again, the memfd gets new folios but the dma-buf
 * keeps the old ones.  This one follows the page cache; udmabuf.h says
 * where each part lives.  This file: the uAPI, creation and the module.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/dma-mapping.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hugetlb.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/udmabuf.h>

#include "udmabuf.h"

static int list_limit = 1024;
module_param(list_limit, int, 0644);
MODULE_PARM_DESC(list_limit,
		 "udmabuf_create_list->count limit. Default is 1024.");

static int size_limit_mb = 64;
module_param(size_limit_mb, int, 0644);
MODULE_PARM_DESC(size_limit_mb,
		 "Max size of a dmabuf, in megabytes. Default is 64.");

static bool follow = true;
module_param(follow, bool, 0644);
MODULE_PARM_DESC(follow,
		 "Buffers created while set follow page replacement; unset, they keep their pages as the in-tree driver does. Default is Y.");

bool udmabuf_follow_faults = true;
module_param_named(follow_faults, udmabuf_follow_faults, bool, 0644);
MODULE_PARM_DESC(follow_faults,
		 "Take new pages when faults map them; unset, only accesses through the driver do (test knob). Default is Y.");

#define UDMABUF_SEALS_WANTED	(F_SEAL_SHRINK)
#define UDMABUF_SEALS_DENIED	(F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)

struct udmabuf_stats udmabuf_stats;
struct device *udmabuf_dma_dev;
static struct dentry *udmabuf_debugfs;

static int udmabuf_stats_show(struct seq_file *m, void *unused)
{
	static const char *const names[] = {
		"removed_pages", "frozen_pages", "eager_pages", "lazy_pages",
		"resyncs", "zero_maps", "live_buffers", "live_pins",
		"live_watches",
	};
	const atomic_long_t *v = (const atomic_long_t *)&udmabuf_stats;
	unsigned int i;

	BUILD_BUG_ON(sizeof(udmabuf_stats) != sizeof(names) / sizeof(*names) *
		     sizeof(atomic_long_t));
	for (i = 0; i < ARRAY_SIZE(names); i++)
		seq_printf(m, "%s %ld\n", names[i], atomic_long_read(&v[i]));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(udmabuf_stats);

static int udmabuf_check_memfd(struct file *memfd)
{
	unsigned int seals;

	if (shmem_file(memfd))
		seals = SHMEM_I(file_inode(memfd))->seals;
#ifdef CONFIG_HUGETLBFS
	else if (is_file_hugepages(memfd))
		seals = HUGETLBFS_I(file_inode(memfd))->seals;
#endif
	else
		return -EBADFD;
	if ((seals & UDMABUF_SEALS_WANTED) != UDMABUF_SEALS_WANTED ||
	    (seals & UDMABUF_SEALS_DENIED))
		return -EINVAL;
	return 0;
}

/* Take memfd @item and check it for segment @i. */
static int udmabuf_add_seg(struct udmabuf *buf, unsigned int i,
			   const struct udmabuf_create_item *item)
{
	struct udmabuf_seg *seg = &buf->segs[i];
	struct file *memfd = fget(item->memfd);
	int ret;

	if (!memfd)
		return -EBADFD;
	buf->nr_segs = i + 1;
	seg->buf = buf;
	seg->memfd = memfd;
	seg->first = item->offset >> PAGE_SHIFT;
	seg->start = buf->pagecount;
	seg->nr = item->size >> PAGE_SHIFT;
	/* Against memfd_add_seals(), which takes it for write. */
	inode_lock_shared(file_inode(memfd));
	ret = udmabuf_check_memfd(memfd);
	if (!ret && (!item->size || item->offset + item->size < item->offset ||
		     item->offset + item->size >
		     i_size_read(file_inode(memfd))))
		ret = -EINVAL;
	inode_unlock_shared(file_inode(memfd));
	if (!ret)
		buf->pagecount += seg->nr;
	return ret;
}

static long udmabuf_create(struct udmabuf_create_list *head,
			   struct udmabuf_create_item *list)
{
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	pgoff_t pgcnt = 0, pglimit;
	struct dma_buf *dmabuf;
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
	atomic_long_inc(&udmabuf_stats.live_buffers);
	mutex_init(&buf->lock);
	mutex_init(&buf->map_lock);
	buf->follow = READ_ONCE(follow);
	buf->folios = kvcalloc(pgcnt, sizeof(*buf->folios), GFP_KERNEL);
	buf->stale = bitmap_zalloc(pgcnt, GFP_KERNEL);
	buf->zero = bitmap_zalloc(pgcnt, GFP_KERNEL);
	buf->segs = kcalloc(head->count, sizeof(*buf->segs), GFP_KERNEL);
	if (!buf->folios || !buf->stale || !buf->zero || !buf->segs) {
		ret = -ENOMEM;
		goto destroy_buf;
	}
	for (i = 0; i < head->count; i++) {
		ret = udmabuf_add_seg(buf, i, &list[i]);
		if (ret)
			goto destroy_buf;
	}
	buf->holes = buf->pagecount;
	/* Watch first: a removal from now on finds the pages taken below. */
	if (buf->follow) {
		ret = udmabuf_follow_start(buf);
		if (ret)
			goto destroy_buf;
	}
	/* Every page, holes filled, as the in-tree driver pins them. */
	ret = udmabuf_fill(buf, 0, buf->pagecount, true);
	if (ret)
		goto destroy_buf;

	exp_info.ops = &udmabuf_ops;
	exp_info.size = buf->pagecount << PAGE_SHIFT;
	exp_info.priv = buf;
	exp_info.flags = O_RDWR;
	dmabuf = dma_buf_export(&exp_info);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto destroy_buf;
	}
	/* From here the dma-buf owns the buffer: release destroys it. */
	mutex_lock(&buf->lock);
	WRITE_ONCE(buf->dmabuf, dmabuf);
	mutex_unlock(&buf->lock);
	ret = dma_buf_fd(dmabuf, head->flags & UDMABUF_FLAGS_CLOEXEC ?
			 O_CLOEXEC : 0);
	if (ret < 0)
		dma_buf_put(dmabuf);
	return ret;

destroy_buf:
	udmabuf_destroy(buf);
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
	udmabuf_dma_dev = udmabuf_misc.this_device;
	ret = dma_coerce_mask_and_coherent(udmabuf_dma_dev, DMA_BIT_MASK(64));
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
}

module_init(udmabuf_init);
module_exit(udmabuf_exit);

MODULE_DESCRIPTION("udmabuf that follows page replacement in memfds");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(DMA_BUF);
