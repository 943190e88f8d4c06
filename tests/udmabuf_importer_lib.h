/* SPDX-License-Identifier: GPL-2.0 */
/* The udmabuf_importer test module's ioctls (/dev/udmabuf_importer). */
#ifndef UDMABUF_IMPORTER_LIB_H
#define UDMABUF_IMPORTER_LIB_H

#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

#include "udmabuf_importer/udmabuf_importer.h"

static inline int imp_attach(int imp, int dbuf, uint32_t flags)
{
	struct udmabuf_importer_attach a = { .fd = dbuf, .flags = flags };

	return ioctl(imp, UDMABUF_IMPORTER_ATTACH, &a);
}

/* MAP, UNMAP, PIN, UNPIN or DETACH of @slot. */
static inline int imp_op(int imp, unsigned long cmd, unsigned long slot)
{
	return ioctl(imp, cmd, slot);
}

static inline int imp_read(int imp, uint32_t slot, uint64_t off,
			   void *out, uint64_t len)
{
	struct udmabuf_importer_read r = {
		.slot = slot,
		.offset = off,
		.len = len,
		.ptr = (uintptr_t)out,
	};

	return ioctl(imp, UDMABUF_IMPORTER_READ, &r);
}

static inline int imp_info(int imp, uint32_t slot,
			   struct udmabuf_importer_info *i)
{
	memset(i, 0, sizeof(*i));
	i->slot = slot;
	return ioctl(imp, UDMABUF_IMPORTER_INFO, i);
}


#endif
