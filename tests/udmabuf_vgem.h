/* SPDX-License-Identifier: GPL-2.0 */
/* The vgem device, for tests that import a udmabuf (libdrm). */
#ifndef UDMABUF_VGEM_H
#define UDMABUF_VGEM_H

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>

/* An fd of the first /dev/dri/card* that vgem drives, or -1. */
static inline int ub_open_vgem(void)
{
	char path[64];
	int i, fd;

	for (i = 0; i < 16; i++) {
		drmVersionPtr v;

		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		fd = open(path, O_RDWR);
		if (fd < 0)
			continue;
		v = drmGetVersion(fd);
		if (v && !strcmp(v->name, "vgem")) {
			drmFreeVersion(v);
			return fd;
		}
		if (v)
			drmFreeVersion(v);
		close(fd);
	}
	return -1;
}

#endif
