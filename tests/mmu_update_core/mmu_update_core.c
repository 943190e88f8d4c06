// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_update_core: test subscriber for the mmu notifier core's handling of
 * update subscribers, for tests/update_core.c.
 *
 * Each open file may subscribe the opener's mm with a plain struct
 * mmu_notifier that has an update op (or a bare one whose callbacks return
 * at once, for make bench, or only count their calls), unsubscribe it
 * again, and insert and remove up to MUC_MAX_INTERVALS interval notifiers,
 * with or without an update op.
 * Every update callback validates its sequence and counts the result.
 * One invalidate_range_start() of the plain notifier, or one update
 * callback of an interval, can be held so that a test can do something
 * while an invalidation or an update is in flight.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/nospec.h>
#include <linux/sched/coredump.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "mmu_update_core.h"

#define MUC_HOLD_TIMEOUT	(10 * HZ)

enum muc_state { MUC_FREE, MUC_BUSY, MUC_ACTIVE };
enum muc_hold { MUC_HOLD_NONE, MUC_HOLD_INVAL, MUC_HOLD_UPDATE };

struct muc_file;

struct muc_range {
	struct mmu_interval_notifier notifier;
	struct muc_file *file;
	enum muc_state state;
};

struct muc_file {
	struct mm_struct *mm;		/* the opener's mm, mmgrab()ed */
	struct mmu_notifier mn;
	enum muc_state mn_state;
	struct muc_range ranges[MUC_MAX_INTERVALS];
	/*
	 * The "user lock": invalidate callbacks take it, update callbacks
	 * validate under it.  Also protects the counters and the states.
	 */
	struct mutex lock;
	struct muc_counters counters;
	/* The counting bare subscribers', which may not sleep. */
	atomic64_t bare_starts;
	atomic64_t bare_ends;
	atomic64_t bare_tlbs;
	atomic64_t bare_fails;
	atomic_t sleeping;		/* in MUC_IOC_SLEEP */
	bool abandoned;			/* MUC_IOC_ABANDON: leak on release */
	atomic_t hold;			/* enum muc_hold, armed */
	unsigned long hold_arg;		/* address or interval id */
	struct completion held;
	struct completion release;
};

/* Wait for MUC_IOC_RELEASE if a hold of this kind and argument is armed. */
static void muc_hold_point(struct muc_file *f, enum muc_hold kind,
			   unsigned long lo, unsigned long hi)
{
	unsigned long arg;

	if (likely(atomic_read(&f->hold) != kind))
		return;
	arg = READ_ONCE(f->hold_arg);
	if (arg < lo || arg >= hi ||
	    atomic_cmpxchg(&f->hold, kind, MUC_HOLD_NONE) != kind)
		return;
	complete(&f->held);
	if (!wait_for_completion_timeout(&f->release, MUC_HOLD_TIMEOUT))
		pr_info("hold released by timeout\n");
}

/* The user lock for an invalidation: it may not sleep when non-blocking. */
static bool muc_lock_for(struct muc_file *f,
			 const struct mmu_notifier_range *range)
{
	if (!mmu_notifier_range_blockable(range))
		return mutex_trylock(&f->lock);
	mutex_lock(&f->lock);
	return true;
}

static int muc_mn_invalidate_start(struct mmu_notifier *mn,
				   const struct mmu_notifier_range *range)
{
	struct muc_file *f = container_of(mn, struct muc_file, mn);

	if (mmu_notifier_range_blockable(range))
		muc_hold_point(f, MUC_HOLD_INVAL, range->start, range->end);
	if (!muc_lock_for(f, range))
		return -EAGAIN;
	f->counters.invalidations++;
	mutex_unlock(&f->lock);
	return 0;
}

static const struct mmu_notifier_ops muc_mn_ops = {
	.invalidate_range_start = muc_mn_invalidate_start,
};

static int muc_bare_invalidate_start(struct mmu_notifier *mn,
				     const struct mmu_notifier_range *range)
{
	return 0;
}

static const struct mmu_notifier_ops muc_bare_ops = {
	.invalidate_range_start = muc_bare_invalidate_start,
};

static int muc_nonblock_fail_start(struct mmu_notifier *mn,
				   const struct mmu_notifier_range *range)
{
	struct muc_file *f = container_of(mn, struct muc_file, mn);

	if (mmu_notifier_range_blockable(range))
		return 0;
	atomic64_inc(&f->bare_fails);
	return -EAGAIN;
}

static const struct mmu_notifier_ops muc_nonblock_fail_ops = {
	.invalidate_range_start = muc_nonblock_fail_start,
};

static const struct mmu_notifier_ops *const muc_bare[] = {
	[MUC_BARE_INVAL] = &muc_bare_ops,
	[MUC_BARE_NONBLOCK_FAIL] = &muc_nonblock_fail_ops,
};

static bool muc_range_invalidate(struct mmu_interval_notifier *sub,
				 const struct mmu_notifier_range *range,
				 unsigned long cur_seq)
{
	struct muc_range *r = container_of(sub, struct muc_range, notifier);
	struct muc_file *f = r->file;

	if (!muc_lock_for(f, range))
		return false;
	mmu_interval_set_seq(sub, cur_seq);
	f->counters.invalidations++;
	if (!mmu_notifier_range_blockable(range)) {
		f->counters.nonblock_invalidations++;
		f->counters.seq_nonblock = cur_seq;
	}
	f->counters.seq_last = cur_seq;
	mutex_unlock(&f->lock);
	return true;
}

static void muc_range_update(struct mmu_interval_notifier *sub,
			     const struct mmu_notifier_update *update)
{
	struct muc_range *r = container_of(sub, struct muc_range, notifier);
	struct muc_file *f = r->file;
	unsigned long id = r - f->ranges;

	muc_hold_point(f, MUC_HOLD_UPDATE, id, id + 1);
	mutex_lock(&f->lock);
	f->counters.updates++;
	if (!mmu_interval_read_retry(sub, update->seq))
		f->counters.valid++;
	mutex_unlock(&f->lock);
}

static const struct mmu_interval_notifier_ops muc_range_update_ops = {
	.invalidate = muc_range_invalidate,
	.update = muc_range_update,
};

static const struct mmu_interval_notifier_ops muc_range_ops = {
	.invalidate = muc_range_invalidate,
};

static int muc_open(struct inode *inode, struct file *file)
{
	struct muc_file *f;

	if (!current->mm)
		return -EINVAL;
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	init_completion(&f->held);
	init_completion(&f->release);
	f->mm = current->mm;
	mmgrab(f->mm);
	file->private_data = f;
	return 0;
}

static int muc_release(struct inode *inode, struct file *file)
{
	struct muc_file *f = file->private_data;
	int i;

	/* Nothing may stay held once the file is gone. */
	atomic_set(&f->hold, MUC_HOLD_NONE);
	complete_all(&f->release);
	if (f->abandoned) {
		pr_info("leaving the intervals of an abandoned file in place\n");
		return 0;
	}
	for (i = 0; i < MUC_MAX_INTERVALS; i++)
		if (f->ranges[i].state == MUC_ACTIVE)
			mmu_interval_notifier_remove(&f->ranges[i].notifier);
	if (f->mn_state == MUC_ACTIVE)
		mmu_notifier_unregister(&f->mn, f->mm);
	mmdrop(f->mm);
	kfree(f);
	return 0;
}

/* Move *state from @from to @to under f->lock; -EBUSY if it was not @from. */
static int muc_claim(struct muc_file *f, enum muc_state *state,
		     enum muc_state from, enum muc_state to)
{
	int ret = -EBUSY;

	mutex_lock(&f->lock);
	if (*state == from) {
		*state = to;
		ret = 0;
	}
	mutex_unlock(&f->lock);
	return ret;
}

static void muc_set(struct muc_file *f, enum muc_state *state,
		    enum muc_state to)
{
	mutex_lock(&f->lock);
	*state = to;
	mutex_unlock(&f->lock);
}

static long muc_subscribe(struct muc_file *f,
			  const struct mmu_notifier_ops *ops)
{
	int ret;

	ret = muc_claim(f, &f->mn_state, MUC_FREE, MUC_BUSY);
	if (ret)
		return ret;
	f->mn.ops = ops;
	ret = mmu_notifier_register(&f->mn, f->mm);
	muc_set(f, &f->mn_state, ret ? MUC_FREE : MUC_ACTIVE);
	return ret;
}

static long muc_unsubscribe(struct muc_file *f)
{
	int ret;

	ret = muc_claim(f, &f->mn_state, MUC_ACTIVE, MUC_BUSY);
	if (ret)
		return -EINVAL;
	/* Waits for SRCU, so possibly for a held invalidation. */
	mmu_notifier_unregister(&f->mn, f->mm);
	memset(&f->mn, 0, sizeof(f->mn));
	muc_set(f, &f->mn_state, MUC_FREE);
	return 0;
}

static long muc_insert(struct muc_file *f, void __user *uarg)
{
	struct muc_interval arg;
	struct muc_range *r;
	int i, ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (!arg.length)
		return -EINVAL;
	for (i = 0; i < MUC_MAX_INTERVALS; i++)
		if (!muc_claim(f, &f->ranges[i].state, MUC_FREE, MUC_BUSY))
			break;
	if (i == MUC_MAX_INTERVALS)
		return -ENOSPC;
	r = &f->ranges[i];
	r->file = f;
	/* May wait for invalidations: not under f->lock. */
	ret = mmu_interval_notifier_insert(&r->notifier, f->mm, arg.start,
					   arg.length,
					   arg.update ? &muc_range_update_ops :
							&muc_range_ops);
	muc_set(f, &r->state, ret ? MUC_FREE : MUC_ACTIVE);
	if (ret)
		return ret;
	arg.id = i;
	if (copy_to_user(uarg, &arg, sizeof(arg)))
		return -EFAULT;
	return 0;
}

static long muc_remove(struct muc_file *f, unsigned long id)
{
	struct muc_range *r;

	if (id >= MUC_MAX_INTERVALS)
		return -EINVAL;
	r = &f->ranges[id];
	if (muc_claim(f, &r->state, MUC_ACTIVE, MUC_BUSY))
		return -EINVAL;
	/* Waits for the update callbacks on it: not under f->lock. */
	mmu_interval_notifier_remove(&r->notifier);
	muc_set(f, &r->state, MUC_FREE);
	return 0;
}

static long muc_hold(struct muc_file *f, enum muc_hold kind,
		     unsigned long arg)
{
	if (atomic_read(&f->hold) != MUC_HOLD_NONE)
		return -EBUSY;
	reinit_completion(&f->held);
	reinit_completion(&f->release);
	WRITE_ONCE(f->hold_arg, arg);
	/* Orders hold_arg before the armed state muc_hold_point() reads. */
	smp_wmb();
	atomic_set(&f->hold, kind);
	return 0;
}

static long muc_wait_held(struct muc_file *f)
{
	long ret;

	ret = wait_for_completion_interruptible_timeout(&f->held,
							MUC_HOLD_TIMEOUT);
	if (ret < 0)
		return ret;
	return ret ? 0 : -ETIMEDOUT;
}

static long muc_counters(struct muc_file *f, void __user *uarg)
{
	struct muc_counters counters;

	mutex_lock(&f->lock);
	counters = f->counters;
	mutex_unlock(&f->lock);
	counters.nonblock_fails = atomic64_read(&f->bare_fails);
	counters.sleeping = atomic_read(&f->sleeping);
	if (copy_to_user(uarg, &counters, sizeof(counters)))
		return -EFAULT;
	return 0;
}

static long muc_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct muc_file *f = file->private_data;

	switch (cmd) {
	case MUC_IOC_COUNTERS:
		return muc_counters(f, (void __user *)arg);
	case MUC_IOC_ABANDON:
		mutex_lock(&f->lock);
		/* Its ops stay registered: the module may not go. */
		if (!f->abandoned)
			__module_get(THIS_MODULE);
		f->abandoned = true;
		mutex_unlock(&f->lock);
		return 0;
	}
	/* Subscriptions are for the opener's own mm. */
	if (current->mm != f->mm)
		return -EINVAL;

	switch (cmd) {
	case MUC_IOC_SUBSCRIBE_MM:
		return muc_subscribe(f, &muc_mn_ops);
	case MUC_IOC_SUBSCRIBE_BARE:
		if (arg >= ARRAY_SIZE(muc_bare))
			return -EINVAL;
		return muc_subscribe(f, muc_bare[array_index_nospec(arg,
						ARRAY_SIZE(muc_bare))]);
	case MUC_IOC_UNSUBSCRIBE_MM:
		return muc_unsubscribe(f);
	case MUC_IOC_INSERT:
		return muc_insert(f, (void __user *)arg);
	case MUC_IOC_REMOVE:
		return muc_remove(f, arg);
	case MUC_IOC_HOLD_INVAL:
		return muc_hold(f, MUC_HOLD_INVAL, arg);
	case MUC_IOC_HOLD_UPDATE:
		return muc_hold(f, MUC_HOLD_UPDATE, arg);
	case MUC_IOC_WAIT_HELD:
		return muc_wait_held(f);
	case MUC_IOC_RELEASE:
		atomic_set(&f->hold, MUC_HOLD_NONE);
		complete_all(&f->release);
		return 0;
	case MUC_IOC_SLEEP:
		if (arg > 10000)
			return -EINVAL;
		atomic_set(&f->sleeping, 1);
		msleep(arg);
		atomic_set(&f->sleeping, 0);
		return 0;
	}
	return -ENOTTY;
}

static const struct file_operations muc_fops = {
	.owner = THIS_MODULE,
	.open = muc_open,
	.release = muc_release,
	.unlocked_ioctl = muc_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice muc_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mmu_update_core",
	.fops = &muc_fops,
};

module_misc_device(muc_misc);
MODULE_DESCRIPTION("Test subscriber for the mmu notifier core's update handling");
MODULE_LICENSE("GPL");
