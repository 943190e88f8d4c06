/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uAPI of the udmabuf_importer test module (/dev/udmabuf_importer): a
 * dma-buf importer whose "DMA" is a CPU copy through the pages of the sg
 * table it got from the exporter.
 *
 * Each open file holds up to UDMABUF_IMPORTER_SLOTS attachments.  Closing
 * the file unmaps, unpins and detaches all of them.
 *
 * Errors of every ioctl that takes a slot:
 *  EINVAL  slot number out of range, nonzero padding, unknown flags;
 *  ENOENT  no attachment in that slot (never attached, or detached).
 * Besides:
 *  ATTACH  EBADF: @fd is not open; EINVAL: @fd is not a dma-buf;
 *          ENOSPC: every slot is taken.
 *  MAP     what the exporter's map_dma_buf returned.
 *  UNMAP   ENODATA: not mapped.
 *  PIN     EINVAL: a static attachment (the dma-buf core pins those for
 *          their lifetime); EBUSY: already pinned through this slot.
 *  UNPIN   EINVAL: a static attachment, or not pinned.
 *  READ    ENODATA: not mapped; EINVAL: @offset + @len beyond the end of
 *          the dma-buf (or overflowing); EFAULT: bad @ptr;
 *          EOPNOTSUPP: the kernel mangles sg tables (CONFIG_DMABUF_DEBUG).
 *  any     ENOTTY: unknown ioctl.
 */
#ifndef UDMABUF_IMPORTER_H
#define UDMABUF_IMPORTER_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define UDMABUF_IMPORTER_SLOTS		4

/* Attach with dma_buf_dynamic_attach() and a move_notify callback. */
#define UDMABUF_IMPORTER_ATTACH_DYNAMIC	0x1

/**
 * struct udmabuf_importer_attach - argument of UDMABUF_IMPORTER_ATTACH
 * @fd: the dma-buf
 * @flags: UDMABUF_IMPORTER_ATTACH_*
 *
 * The ioctl returns the slot of the new attachment.
 */
struct udmabuf_importer_attach {
	__s32 fd;
	__u32 flags;
};

/**
 * struct udmabuf_importer_read - argument of UDMABUF_IMPORTER_READ
 * @slot: a mapped attachment
 * @__pad: must be zero
 * @offset: byte offset in the dma-buf
 * @len: bytes to copy
 * @ptr: user buffer of @len bytes
 *
 * Copies through the pages of the slot's current sg table, whether or not
 * the exporter invalidated it since (the importer's DMA would read those).
 */
struct udmabuf_importer_read {
	__u32 slot;
	__u32 __pad;
	__u64 offset;
	__u64 len;
	__u64 ptr;
};

/*
 * struct udmabuf_importer_info flags: a dynamic attachment, mapped (has an
 * sg table), invalidated (move_notify since it was mapped), pinned through
 * this slot, and a kernel with CONFIG_DMABUF_MOVE_NOTIFY (else the core
 * pins the buffer while a dynamic attachment has it mapped).
 */
#define UDMABUF_IMPORTER_INFO_DYNAMIC		0x1
#define UDMABUF_IMPORTER_INFO_MAPPED		0x2
#define UDMABUF_IMPORTER_INFO_INVALIDATED	0x4
#define UDMABUF_IMPORTER_INFO_PINNED		0x8
#define UDMABUF_IMPORTER_INFO_MOVE_NOTIFY	0x10

/**
 * struct udmabuf_importer_info - argument of UDMABUF_IMPORTER_INFO
 * @slot: in: the attachment
 * @flags: out: UDMABUF_IMPORTER_INFO_*
 * @moves: out: move_notify calls since the attachment was made
 * @size: out: size of the dma-buf in bytes
 */
struct udmabuf_importer_info {
	__u32 slot;
	__u32 flags;
	__u64 moves;
	__u64 size;
};

#define UDMABUF_IMPORTER_ATTACH	_IOW('I', 0x01, struct udmabuf_importer_attach)
/*
 * These take the slot number itself as the argument.  MAP replaces the
 * slot's mapping (if any) with a new one.
 */
#define UDMABUF_IMPORTER_MAP	_IO('I', 0x02)
#define UDMABUF_IMPORTER_UNMAP	_IO('I', 0x03)
#define UDMABUF_IMPORTER_PIN	_IO('I', 0x04)
#define UDMABUF_IMPORTER_UNPIN	_IO('I', 0x05)
#define UDMABUF_IMPORTER_DETACH	_IO('I', 0x06)
#define UDMABUF_IMPORTER_READ	_IOW('I', 0x07, struct udmabuf_importer_read)
#define UDMABUF_IMPORTER_INFO	_IOWR('I', 0x08, struct udmabuf_importer_info)

#endif
