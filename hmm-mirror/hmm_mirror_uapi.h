/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Userspace interface of hmm_mirror.ko, a software device that mirrors a
 * process address space.
 *
 * The first part is the interface of the kernel's lib/test_hmm.ko (struct
 * hmm_dmirror_cmd and the HMM_DMIRROR_* requests), unchanged, so programs
 * built for test_hmm.ko run against hmm_mirror.ko.  It is skipped when
 * lib/test_hmm_uapi.h was included first.  The second part is specific to
 * hmm_mirror.ko: prefill through the mmu notifier update op, and counters.
 */
#ifndef _HMM_MIRROR_UAPI_H
#define _HMM_MIRROR_UAPI_H

#include <linux/types.h>
#include <linux/ioctl.h>

#ifndef _LIB_TEST_HMM_UAPI_H
#define _LIB_TEST_HMM_UAPI_H

/*
 * @addr:   (in) first user address the device accesses, page aligned
 * @ptr:    (in) user buffer the device copies data to or from
 * @npages: (in) number of pages
 * @cpages: (out) number of pages handled
 * @faults: (out) number of device faults taken
 */
struct hmm_dmirror_cmd {
	__u64		addr;
	__u64		ptr;
	__u64		npages;
	__u64		cpages;
	__u64		faults;
};

#define HMM_DMIRROR_READ		_IOWR('H', 0x00, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_WRITE		_IOWR('H', 0x01, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_SYS	_IOWR('H', 0x03, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_SNAPSHOT		_IOWR('H', 0x04, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_EXCLUSIVE		_IOWR('H', 0x05, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_CHECK_EXCLUSIVE	_IOWR('H', 0x06, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_RELEASE		_IOWR('H', 0x07, struct hmm_dmirror_cmd)

/* Bytes stored at hmm_dmirror_cmd.ptr by HMM_DMIRROR_SNAPSHOT, one a page. */
enum {
	HMM_DMIRROR_PROT_ERROR			= 0xFF,
	HMM_DMIRROR_PROT_NONE			= 0x00,
	HMM_DMIRROR_PROT_READ			= 0x01,
	HMM_DMIRROR_PROT_WRITE			= 0x02,
	HMM_DMIRROR_PROT_PMD			= 0x04,
	HMM_DMIRROR_PROT_PUD			= 0x08,
	HMM_DMIRROR_PROT_ZERO			= 0x10,
	HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL	= 0x20,
	HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE	= 0x30,
	HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL	= 0x40,
	HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE	= 0x50,
};

enum {
	/* 0 is reserved to catch uninitialized type fields */
	HMM_DMIRROR_MEMORY_DEVICE_PRIVATE = 1,
	HMM_DMIRROR_MEMORY_DEVICE_COHERENT,
};

#endif /* _LIB_TEST_HMM_UAPI_H */

/*
 * HMM_DMIRROR_PREFILL: with @npages != 0, entries that CPU faults install
 * for shmem or hugetlbfs pages in [@addr, @addr + @npages pages) are copied
 * into the device page table as they are made (mmu notifier update op), so
 * that a later device access to them takes no device fault.  @npages == 0
 * turns prefill off.  Off by default; the setting belongs to the open file.
 * Entries prefilled before the call stay until invalidated.
 */
#define HMM_DMIRROR_PREFILL		_IOWR('H', 0x40, struct hmm_dmirror_cmd)

/*
 * struct hmm_mirror_counters - what an open file's device has done
 * @device_faults:    device accesses that missed and ran hmm_range_fault()
 * @updates:          update callbacks for the prefill window
 * @prefilled:        pages installed from update callbacks
 * @prefill_rejected: update callbacks dropped by the sequence check
 * @invalidations:    invalidate callbacks that cleared the page table
 * @zapped:           pages whose device entries invalidations cleared
 */
struct hmm_mirror_counters {
	__u64		device_faults;
	__u64		updates;
	__u64		prefilled;
	__u64		prefill_rejected;
	__u64		invalidations;
	__u64		zapped;
};

/* HMM_MIRROR_COUNTERS: read the counters; HMM_MIRROR_RESET: zero them. */
#define HMM_MIRROR_COUNTERS	_IOR('H', 0x41, struct hmm_mirror_counters)
#define HMM_MIRROR_RESET	_IO('H', 0x42)

/*
 * For tests: HMM_MIRROR_HOLD makes the next update callback for the prefill
 * window stop before it validates; HMM_MIRROR_WAIT_HELD waits (10 s at
 * most, else ETIMEDOUT) until one has stopped; HMM_MIRROR_UNHOLD releases
 * it.  Closing the file releases it too.
 */
#define HMM_MIRROR_HOLD		_IO('H', 0x43)
#define HMM_MIRROR_WAIT_HELD	_IO('H', 0x44)
#define HMM_MIRROR_UNHOLD	_IO('H', 0x45)

#endif /* _HMM_MIRROR_UAPI_H */
