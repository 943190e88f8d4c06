/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * uAPI of the mmu_update_test module: subscribes to mmu notifier updates on
 * the caller's mm, or watches a file range, and records what it was told,
 * for tests/pte_update.c.
 */
#ifndef _MMU_UPDATE_TEST_H
#define _MMU_UPDATE_TEST_H

#include <linux/const.h>
#include <linux/types.h>
#include <linux/ioctl.h>

#define MUT_DEV			"/dev/mmu_update_test"
#define MUT_MAX_INTERVALS	4
#define MUT_MAX_EVENTS		4096

/* struct mut_event.source: the whole-mm interval, the watch, or 0..3 */
#define MUT_SRC_MM		0xff
#define MUT_SRC_FILE		0xfe

/* struct mut_event.flags */
#define MUT_EV_WRITE		_BITUL(0)	/* MMU_NOTIFIER_UPDATE_WRITE */
#define MUT_EV_VALID		_BITUL(1)	/* validated in the callback */

struct mut_event {
	__u64 start;
	__u64 end;
	__u64 pfn;
	__u64 seq;
	__u32 order;
	__u32 flags;
	__u32 source;
	__u32 index;	/* position in the log, for MUT_IOC_REVALIDATE */
	__u64 pgoff;	/* file page index of start */
};

struct mut_watch {
	__s32 fd;	/* a shmem or hugetlbfs file */
	__u32 pad;
	__u64 first;	/* page indices watched */
	__u64 last;
};

struct mut_interval {
	__u64 start;
	__u64 length;
	__u32 id;	/* out: 0..MUT_MAX_INTERVALS-1 */
	__u32 pad;
};

struct mut_read {
	__u64 events;	/* user pointer to struct mut_event[count] */
	__u32 count;	/* in: room, out: events copied */
	__u32 lost;	/* out: events dropped because the log was full */
};

struct mut_counters {
	__u64 updates;		/* update callbacks */
	__u64 invalidations;	/* invalidate and removed callbacks */
	__u64 removed_first;	/* the range of the last removed callback */
	__u64 removed_last;
};

/* Subscribe an interval notifier over all of current->mm's user space. */
#define MUT_IOC_SUBSCRIBE_MM	_IO('M', 0x00)
/* Subscribe a struct mmu_interval_notifier over [start, start + length). */
#define MUT_IOC_SUBSCRIBE_RANGE	_IOWR('M', 0x01, struct mut_interval)
/* Copy out the event log (MUT_IOC_CLEAR empties it). */
#define MUT_IOC_READ		_IOWR('M', 0x02, struct mut_read)
/*
 * Hold the next update callback after it is entered and before it validates,
 * until MUT_IOC_RELEASE (or 10 s).  MUT_IOC_WAIT_HELD waits (at most 10 s,
 * else -ETIMEDOUT) until a callback is being held.
 */
#define MUT_IOC_HOLD		_IO('M', 0x03)
#define MUT_IOC_WAIT_HELD	_IO('M', 0x04)
#define MUT_IOC_RELEASE		_IO('M', 0x05)
/* Re-run the retry check of logged event @arg now; returns 1 if still valid. */
#define MUT_IOC_REVALIDATE	_IO('M', 0x06)
#define MUT_IOC_COUNTERS	_IOR('M', 0x07, struct mut_counters)
#define MUT_IOC_CLEAR		_IO('M', 0x08)
/* Watch pages [first, last] of a file: faults of every mm, removals. */
#define MUT_IOC_WATCH_FILE	_IOW('M', 0x09, struct mut_watch)

#endif /* _MMU_UPDATE_TEST_H */
