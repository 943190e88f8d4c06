// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_update_test: a subscriber of the mmu notifier update op for tests.
 *
 * Each open file of /dev/mmu_update_test may subscribe the opener's mm with an
 * interval notifier over all of its user space and up to MUT_MAX_INTERVALS
 * others, and watch a range of one file (whatever mm faults on it).
 * Every update callback validates its sequence the way a mirror would and
 * logs what it was told; userspace reads the log and compares it with
 * /proc/self/pagemap.  A callback can be held between its entry and its
 * validation so a test can invalidate inside that window deterministically.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mapping_watch.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "mmu_update_test.h"

#define MUT_HOLD_TIMEOUT	(10 * HZ)

struct mut_file;

struct mut_range {
	struct mmu_interval_notifier notifier;
	struct mut_file *file;
	bool inserted;
};

struct mut_file {
	struct mm_struct *mm;		/* the opener's mm, mmgrab()ed */
	struct mmu_interval_notifier all;	/* MUT_IOC_SUBSCRIBE_MM */
	bool all_inserted;
	struct mapping_watch watch;	/* MUT_IOC_WATCH_FILE */
	struct file *watched;		/* held while watched */
	struct mut_range ranges[MUT_MAX_INTERVALS];
	/*
	 * The "user lock" of the notifier protocol: invalidate callbacks take
	 * it to move the sequence, update callbacks to validate and log.  It
	 * also protects the log, the counters and the subscription state.
	 */
	struct mutex lock;
	struct mut_event *log;
	u32 nr_events;
	u32 lost;
	struct mut_counters counters;
	/* MUT_IOC_HOLD: the next update callback waits for MUT_IOC_RELEASE. */
	atomic_t hold_armed;
	struct completion held;
	struct completion release;
};

static void mut_hold_point(struct mut_file *f)
{
	if (likely(!atomic_read(&f->hold_armed)) ||
	    atomic_cmpxchg(&f->hold_armed, 1, 0) != 1)
		return;
	complete(&f->held);
	if (!wait_for_completion_timeout(&f->release, MUT_HOLD_TIMEOUT))
		pr_warn("held update callback released by timeout\n");
}

/* Called with f->lock held. */
static void mut_log(struct mut_file *f, const struct mmu_notifier_update *u,
		    u32 source, bool valid)
{
	struct mut_event *ev;

	f->counters.updates++;
	if (f->nr_events == MUT_MAX_EVENTS) {
		f->lost++;
		return;
	}
	ev = &f->log[f->nr_events];
	ev->start = u->start;
	ev->end = u->end;
	ev->pfn = u->pfn;
	ev->seq = u->seq;
	ev->order = u->order;
	ev->flags = (u->flags & MMU_NOTIFIER_UPDATE_WRITE ? MUT_EV_WRITE : 0) |
		    (valid ? MUT_EV_VALID : 0);
	ev->source = source;
	ev->pgoff = u->pgoff;
	ev->index = f->nr_events++;
}

static int mut_lock_for(struct mut_file *f, bool blockable)
{
	if (blockable) {
		mutex_lock(&f->lock);
		return 0;
	}
	return mutex_trylock(&f->lock) ? 0 : -EAGAIN;
}

static bool mut_all_invalidate(struct mmu_interval_notifier *sub,
			       const struct mmu_notifier_range *range,
			       unsigned long cur_seq)
{
	struct mut_file *f = container_of(sub, struct mut_file, all);

	if (mut_lock_for(f, mmu_notifier_range_blockable(range)))
		return false;
	mmu_interval_set_seq(sub, cur_seq);
	f->counters.invalidations++;
	mutex_unlock(&f->lock);
	return true;
}

static void mut_all_update(struct mmu_interval_notifier *sub,
			   const struct mmu_notifier_update *update)
{
	struct mut_file *f = container_of(sub, struct mut_file, all);

	mut_hold_point(f);
	mutex_lock(&f->lock);
	mut_log(f, update, MUT_SRC_MM,
		!mmu_interval_read_retry(sub, update->seq));
	mutex_unlock(&f->lock);
}

static const struct mmu_interval_notifier_ops mut_all_ops = {
	.invalidate = mut_all_invalidate,
	.update = mut_all_update,
};

static void mut_watch_removed(struct mapping_watch *watch, pgoff_t first,
			      pgoff_t last)
{
	struct mut_file *f = container_of(watch, struct mut_file, watch);

	mutex_lock(&f->lock);
	f->counters.invalidations++;
	f->counters.removed_first = first;
	f->counters.removed_last = last;
	mutex_unlock(&f->lock);
}

static void mut_watch_update(struct mapping_watch *watch,
			     const struct mmu_notifier_update *update)
{
	struct mut_file *f = container_of(watch, struct mut_file, watch);

	mut_hold_point(f);
	mutex_lock(&f->lock);
	mut_log(f, update, MUT_SRC_FILE,
		!mapping_watch_read_retry(watch, update->seq));
	mutex_unlock(&f->lock);
}

static const struct mapping_watch_ops mut_watch_ops = {
	.removed = mut_watch_removed,
	.update = mut_watch_update,
};

static bool mut_range_invalidate(struct mmu_interval_notifier *sub,
				 const struct mmu_notifier_range *range,
				 unsigned long cur_seq)
{
	struct mut_range *r = container_of(sub, struct mut_range, notifier);
	struct mut_file *f = r->file;

	if (mut_lock_for(f, mmu_notifier_range_blockable(range)))
		return false;
	mmu_interval_set_seq(sub, cur_seq);
	f->counters.invalidations++;
	mutex_unlock(&f->lock);
	return true;
}

static void mut_range_update(struct mmu_interval_notifier *sub,
			     const struct mmu_notifier_update *update)
{
	struct mut_range *r = container_of(sub, struct mut_range, notifier);
	struct mut_file *f = r->file;

	mut_hold_point(f);
	mutex_lock(&f->lock);
	mut_log(f, update, r - f->ranges,
		!mmu_interval_read_retry(sub, update->seq));
	mutex_unlock(&f->lock);
}

static const struct mmu_interval_notifier_ops mut_range_ops = {
	.invalidate = mut_range_invalidate,
	.update = mut_range_update,
};

static int mut_open(struct inode *inode, struct file *file)
{
	struct mut_file *f;

	if (!current->mm)
		return -EINVAL;
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	f->log = kvcalloc(MUT_MAX_EVENTS, sizeof(*f->log), GFP_KERNEL);
	if (!f->log) {
		kfree(f);
		return -ENOMEM;
	}
	mutex_init(&f->lock);
	init_completion(&f->held);
	init_completion(&f->release);
	f->mm = current->mm;
	mmgrab(f->mm);
	file->private_data = f;
	return 0;
}

static int mut_release(struct inode *inode, struct file *file)
{
	struct mut_file *f = file->private_data;
	int i;

	/* Nothing may stay held once the file is gone. */
	atomic_set(&f->hold_armed, 0);
	complete_all(&f->release);
	for (i = 0; i < MUT_MAX_INTERVALS; i++)
		if (f->ranges[i].inserted)
			mmu_interval_notifier_remove(&f->ranges[i].notifier);
	if (f->all_inserted)
		mmu_interval_notifier_remove(&f->all);
	if (f->watched) {
		mapping_watch_remove(&f->watch);
		fput(f->watched);
	}
	mmdrop(f->mm);
	kvfree(f->log);
	kfree(f);
	return 0;
}

static long mut_subscribe_range(struct mut_file *f, void __user *uarg)
{
	struct mut_interval arg;
	struct mut_range *r = NULL;
	int i, ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (!arg.length || arg.pad)
		return -EINVAL;
	mutex_lock(&f->lock);
	for (i = 0; i < MUT_MAX_INTERVALS; i++) {
		if (!f->ranges[i].inserted) {
			r = &f->ranges[i];
			/* Claimed while the insertion runs unlocked. */
			r->inserted = true;
			break;
		}
	}
	mutex_unlock(&f->lock);
	if (!r)
		return -ENOSPC;
	r->file = f;
	/* Insertion may invalidate-wait: not under f->lock. */
	ret = mmu_interval_notifier_insert(&r->notifier, f->mm, arg.start,
					   arg.length, &mut_range_ops);
	if (ret) {
		mutex_lock(&f->lock);
		r->inserted = false;
		mutex_unlock(&f->lock);
		return ret;
	}
	arg.id = r - f->ranges;
	if (copy_to_user(uarg, &arg, sizeof(arg)))
		return -EFAULT;
	return 0;
}

static long mut_watch_file(struct mut_file *f, void __user *uarg)
{
	struct mut_watch arg;
	struct file *file;
	long ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.pad || arg.first > arg.last)
		return -EINVAL;
	file = fget(arg.fd);
	if (!file)
		return -EBADF;
	mutex_lock(&f->lock);
	ret = f->watched ? -EBUSY : 0;
	if (!ret)
		f->watched = file;
	mutex_unlock(&f->lock);
	if (ret)
		goto put_file;
	/* Insertion takes the file's watch lock: not under f->lock. */
	ret = mapping_watch_insert(&f->watch, file, arg.first, arg.last,
				   &mut_watch_ops);
	if (!ret)
		return 0;
	mutex_lock(&f->lock);
	f->watched = NULL;
	mutex_unlock(&f->lock);
put_file:
	fput(file);
	return ret;
}

/*
 * Copy the log out through a snapshot: copy_to_user() may fault and take
 * the mmap_lock, which invalidations hold when they take f->lock.
 */
static long mut_read(struct mut_file *f, void __user *uarg)
{
	struct mut_event *snap;
	struct mut_read arg;
	long ret = 0;
	u32 n;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	n = min_t(u32, arg.count, MUT_MAX_EVENTS);
	snap = kvcalloc(max_t(u32, n, 1), sizeof(*snap), GFP_KERNEL);
	if (!snap)
		return -ENOMEM;
	mutex_lock(&f->lock);
	n = min(n, f->nr_events);
	memcpy(snap, f->log, n * sizeof(*snap));
	arg.count = n;
	arg.lost = f->lost;
	mutex_unlock(&f->lock);
	if (n && copy_to_user(u64_to_user_ptr(arg.events), snap,
			      n * sizeof(*snap)))
		ret = -EFAULT;
	kvfree(snap);
	if (!ret && copy_to_user(uarg, &arg, sizeof(arg)))
		ret = -EFAULT;
	return ret;
}

static long mut_revalidate(struct mut_file *f, unsigned long index)
{
	struct mut_event *ev;
	bool retry;

	mutex_lock(&f->lock);
	if (index >= f->nr_events) {
		mutex_unlock(&f->lock);
		return -EINVAL;
	}
	ev = &f->log[index];
	if (ev->source == MUT_SRC_MM) {
		retry = mmu_interval_read_retry(&f->all, ev->seq);
	} else if (ev->source == MUT_SRC_FILE) {
		retry = mapping_watch_read_retry(&f->watch, ev->seq);
	} else {
		struct mmu_interval_notifier *sub;

		sub = &f->ranges[ev->source].notifier;
		retry = mmu_interval_read_retry(sub, ev->seq);
	}
	mutex_unlock(&f->lock);
	return !retry;
}

static long mut_wait_held(struct mut_file *f)
{
	long ret;

	ret = wait_for_completion_interruptible_timeout(&f->held,
							MUT_HOLD_TIMEOUT);
	if (ret < 0)
		return ret;
	return ret ? 0 : -ETIMEDOUT;
}

static long mut_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct mut_file *f = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct mut_counters counters;
	long ret;

	/* Subscriptions are for the opener's own mm. */
	if (current->mm != f->mm)
		return -EINVAL;

	switch (cmd) {
	case MUT_IOC_SUBSCRIBE_MM:
		mutex_lock(&f->lock);
		ret = f->all_inserted ? -EBUSY : 0;
		f->all_inserted = true;
		mutex_unlock(&f->lock);
		if (ret)
			return ret;
		/* Insertion may invalidate-wait: not under f->lock. */
		ret = mmu_interval_notifier_insert(&f->all, f->mm, PAGE_SIZE,
						   TASK_SIZE - PAGE_SIZE,
						   &mut_all_ops);
		if (ret) {
			mutex_lock(&f->lock);
			f->all_inserted = false;
			mutex_unlock(&f->lock);
		}
		return ret;
	case MUT_IOC_WATCH_FILE:
		return mut_watch_file(f, uarg);
	case MUT_IOC_SUBSCRIBE_RANGE:
		return mut_subscribe_range(f, uarg);
	case MUT_IOC_READ:
		return mut_read(f, uarg);
	case MUT_IOC_CLEAR:
		mutex_lock(&f->lock);
		f->nr_events = 0;
		f->lost = 0;
		mutex_unlock(&f->lock);
		return 0;
	case MUT_IOC_HOLD:
		reinit_completion(&f->held);
		reinit_completion(&f->release);
		atomic_set(&f->hold_armed, 1);
		return 0;
	case MUT_IOC_WAIT_HELD:
		return mut_wait_held(f);
	case MUT_IOC_RELEASE:
		atomic_set(&f->hold_armed, 0);
		complete_all(&f->release);
		return 0;
	case MUT_IOC_REVALIDATE:
		return mut_revalidate(f, arg);
	case MUT_IOC_COUNTERS:
		mutex_lock(&f->lock);
		counters = f->counters;
		mutex_unlock(&f->lock);
		if (copy_to_user(uarg, &counters, sizeof(counters)))
			return -EFAULT;
		return 0;
	}
	return -ENOTTY;
}

static const struct file_operations mut_fops = {
	.owner = THIS_MODULE,
	.open = mut_open,
	.release = mut_release,
	.unlocked_ioctl = mut_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice mut_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mmu_update_test",
	.fops = &mut_fops,
};

static int __init mut_init(void)
{
	return misc_register(&mut_misc);
}

static void __exit mut_exit(void)
{
	misc_deregister(&mut_misc);
}

module_init(mut_init);
module_exit(mut_exit);
MODULE_DESCRIPTION("Test subscriber of mmu notifier updates");
MODULE_LICENSE("GPL");
