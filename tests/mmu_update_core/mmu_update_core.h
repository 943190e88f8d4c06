/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * uAPI of the mmu_update_core module, for tests/update_core.c and
 * tests/nonblock_invalidate.c: what the mmu notifier core does around
 * interval update subscribers (delivering, removing) as seen from one mm;
 * and for userspace/udmabuf-scale-bench.c, its bare subscribers.
 */
#ifndef _MMU_UPDATE_CORE_H
#define _MMU_UPDATE_CORE_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define MUC_DEV			"/dev/mmu_update_core"
#define MUC_MAX_INTERVALS	4

struct muc_interval {
	__u64 start;
	__u64 length;
	__u32 update;	/* in: non-zero for an update op */
	__u32 id;	/* out: 0..MUC_MAX_INTERVALS-1 */
};

struct muc_counters {
	__u64 updates;		/* update callbacks, every subscription */
	__u64 valid;		/* of those, validated in the callback */
	__u64 invalidations;	/* invalidate callbacks */
	__u64 nonblock_fails;	/* MUC_BARE_NONBLOCK_FAIL's -EAGAINs */
	__u64 nonblock_invalidations;	/* non-blocking interval invalidates */
	__u64 seq_nonblock;	/* cur_seq of the last of those */
	__u64 seq_last;		/* cur_seq of the last interval invalidate */
	__u64 sleeping;		/* 1 while the opener is in MUC_IOC_SLEEP */
};

/* A plain struct mmu_notifier on current->mm, and off. */
#define MUC_IOC_SUBSCRIBE_MM	_IO('U', 0x00)
#define MUC_IOC_UNSUBSCRIBE_MM	_IO('U', 0x01)
/* An interval notifier, with or without an update op; remove by id. */
#define MUC_IOC_INSERT		_IOWR('U', 0x02, struct muc_interval)
#define MUC_IOC_REMOVE		_IO('U', 0x03)
/*
 * Hold, until MUC_IOC_RELEASE or 10 s, the next blockable
 * invalidate_range_start() of the plain notifier whose range contains the
 * address @arg, or the next update callback of interval @arg.
 * MUC_IOC_WAIT_HELD waits (at most 10 s, else -ETIMEDOUT) for it.
 */
#define MUC_IOC_HOLD_INVAL	_IO('U', 0x05)
#define MUC_IOC_HOLD_UPDATE	_IO('U', 0x06)
#define MUC_IOC_WAIT_HELD	_IO('U', 0x07)
#define MUC_IOC_RELEASE		_IO('U', 0x08)
#define MUC_IOC_COUNTERS	_IOR('U', 0x09, struct muc_counters)
/*
 * For make bench: a plain struct mmu_notifier on current->mm whose
 * invalidate_range_start() returns at once (the shape of KVM's), @arg
 * MUC_BARE_INVAL.  What any subscriber costs the mm, whatever it does in
 * its callbacks.  Off with MUC_IOC_UNSUBSCRIBE_MM.
 * MUC_BARE_NONBLOCK_FAIL: one whose invalidate_range_start() fails every
 * non-blocking invalidation with -EAGAIN (counted in .nonblock_fails), as
 * a driver that cannot take its lock without sleeping does.
 * EINVAL for any other @arg, EBUSY if the file has a plain subscription.
 */
#define MUC_BARE_INVAL		0
#define MUC_BARE_NONBLOCK_FAIL	4
#define MUC_IOC_SUBSCRIBE_BARE	_IO('U', 0x0a)
/*
 * Sleep uninterruptibly for @arg ms (at most 10000, else EINVAL): a task
 * that a test kills there keeps its mm until the sleep ends, for
 * process_mrelease(2) to reap it meanwhile.
 */
#define MUC_IOC_SLEEP		_IO('U', 0x0c)
/*
 * Leave the subscriptions in place, the file's memory allocated and the
 * module pinned when the file is released: for a test that found the mm's
 * interval invalidation never ending, where mmu_interval_notifier_remove()
 * would wait forever.
 * MUC_IOC_COUNTERS and MUC_IOC_ABANDON work from any process that has the
 * file (pidfd_getfd(2)); every other ioctl only from the opener's mm.
 */
#define MUC_IOC_ABANDON		_IO('U', 0x0d)

#endif /* _MMU_UPDATE_CORE_H */
