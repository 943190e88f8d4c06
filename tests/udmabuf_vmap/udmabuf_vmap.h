/* SPDX-License-Identifier: GPL-2.0 */
/* uAPI of the udmabuf_vmap test module (/dev/udmabuf_vmap). */
#ifndef UDMABUF_VMAP_H
#define UDMABUF_VMAP_H

#include <linux/ioctl.h>
#include <linux/types.h>

/*
 * Copy @len bytes at @offset of a fresh kernel vmap of dma-buf @fd, or with
 * UDMABUF_VMAP_HELD in @flags of the vmap held by this open file (@fd is
 * ignored then).
 */
struct udmabuf_vmap_read {
	__s32 fd;
	__u32 flags;
	__u64 offset;
	__u64 len;
	__u64 ptr;
};

#define UDMABUF_VMAP_HELD	0x1

#define UDMABUF_VMAP_READ	_IOW('U', 0x01, struct udmabuf_vmap_read)
/* Vmap dma-buf fd (an int) and hold the mapping until the file closes. */
#define UDMABUF_VMAP_HOLD	_IOW('U', 0x02, int)

/*
 * Punch [@offset, @offset + @len) of memfd @fd from a kernel thread (a
 * workqueue), and return once it is done: a remover that is no task of
 * the test's, as a balloon or free page reporting in the host kernel.
 */
struct udmabuf_vmap_punch {
	__s32 fd;
	__u32 pad;
	__u64 offset;
	__u64 len;
};

#define UDMABUF_VMAP_PUNCH	_IOW('U', 0x03, struct udmabuf_vmap_punch)

#endif
