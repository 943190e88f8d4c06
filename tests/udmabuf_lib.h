/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the udmabuf tests: memfds of each kind, tagged page
 * contents, the udmabuf ioctls and the kernel vmap reader.
 */
#ifndef UDMABUF_LIB_H
#define UDMABUF_LIB_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/dma-buf.h>
#include <linux/udmabuf.h>

#include "udmabuf_vmap/udmabuf_vmap.h"

#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB	(21U << 26)
#endif

#define PS		4096UL
#define HPS		(2UL << 20)
#define TAG_MAGIC	0x5544ULL

enum ub_kind { UB_SHMEM, UB_THP, UB_HUGETLB };

/* The tag of memfd page @idx written in generation @gen (never 0). */
static inline uint64_t ub_tag(unsigned long idx, unsigned int gen)
{
	return TAG_MAGIC << 48 | (uint64_t)idx << 24 | gen;
}

/*
 * Is @w a tag of memfd page @idx read while it was being stored over a
 * zeroed word?  Readers that copy byte by byte (the kernel's memcpy() and
 * copy_to_user(), rep movsb: a byte at a time under TCG) may see the high
 * bytes of the new tag above the low bytes of the zeroes: some low bytes
 * zero, the bytes above them those of a tag of @idx (any generation).
 * Zero and whole tags are not torn.  A page being cleared under such a
 * reader looks the same, so this is for words of pages that are being
 * written, not a test of which page a view maps.
 */
static inline bool ub_torn_tag(uint64_t w, unsigned long idx)
{
	const uint64_t gen_mask = 0xffffff;
	uint64_t want = ub_tag(idx, 0);
	int k;

	for (k = 1; k < 8; k++) {
		uint64_t low = (1ULL << (8 * k)) - 1;

		if (!(w & low) && (w & ~low) &&
		    (w & ~low & ~gen_mask) == (want & ~low & ~gen_mask))
			return true;
	}
	return false;
}

static inline int ub_memfd(enum ub_kind kind, size_t size)
{
	unsigned int flags = MFD_ALLOW_SEALING;
	int fd;

	if (kind == UB_HUGETLB)
		flags |= MFD_HUGETLB | MFD_HUGE_2MB;
	fd = memfd_create("udmabuf-test", flags);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, size) || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * A shared mapping of the whole memfd, 2 MiB aligned (THP needs that); the
 * rest of the reservation it is carved from is unmapped, so that
 * munmap(map, size) leaves nothing behind.
 */
static inline uint64_t *ub_map_memfd(enum ub_kind kind, int fd, size_t size)
{
	char *raw, *p;

	raw = mmap(NULL, size + HPS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)raw + HPS - 1) & ~(HPS - 1));
	if (p > raw)
		munmap(raw, p - raw);
	munmap(p + size, raw + HPS - p);
	if (mmap(p, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 fd, 0) == MAP_FAILED)
		return NULL;
	if (kind == UB_THP)
		madvise(p, size, MADV_HUGEPAGE);
	return (uint64_t *)p;
}

/* Write the tag of generation @gen to every word of memfd pages [first, +nr) */
static inline void ub_fill(uint64_t *map, unsigned long first,
			   unsigned long nr, unsigned int gen)
{
	unsigned long pg, w;

	for (pg = first; pg < first + nr; pg++)
		for (w = 0; w < PS / 8; w++)
			map[pg * (PS / 8) + w] = ub_tag(pg, gen);
}

/*
 * Check buffer pages [first, +nr) of @buf (a mapping of a udmabuf whose page
 * 0 is memfd page @base) for generation @gen: the first and last word.
 * Return the first bad buffer page or -1.
 */
static inline long ub_check(const volatile uint64_t *buf, unsigned long base,
			    unsigned long first, unsigned long nr,
			    unsigned int gen)
{
	unsigned long pg;

	for (pg = first; pg < first + nr; pg++) {
		uint64_t want = ub_tag(base + pg, gen);

		if (buf[pg * (PS / 8)] != want ||
		    buf[pg * (PS / 8) + PS / 8 - 1] != want)
			return pg;
	}
	return -1;
}

/* Does this process map shmem or file memory with PMDs (THP)? */
static inline bool ub_thp_mapped(void)
{
	char line[256];
	long kb = 0;
	FILE *f;

	f = fopen("/proc/self/smaps_rollup", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "FilePmdMapped:", 14) ||
		    !strncmp(line, "ShmemPmdMapped:", 15))
			kb += strtol(strchr(line, ':') + 1, NULL, 10);
	fclose(f);
	return kb > 0;
}

static inline int ub_create(int dev, int memfd, uint64_t off, uint64_t size)
{
	struct udmabuf_create c = {
		.memfd = memfd,
		.flags = UDMABUF_FLAGS_CLOEXEC,
		.offset = off,
		.size = size,
	};

	return ioctl(dev, UDMABUF_CREATE, &c);
}

static inline int ub_punch(int fd, uint64_t off, uint64_t len)
{
	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			 off, len);
}

static inline int ub_sync(int dbuf, uint64_t flags)
{
	struct dma_buf_sync s = { .flags = flags };

	return ioctl(dbuf, DMA_BUF_IOCTL_SYNC, &s);
}

/* Read @len bytes at @off of a fresh kernel vmap of @dbuf into @out. */
static inline int ub_vmap_read(int dbuf, uint64_t off, void *out, size_t len)
{
	struct udmabuf_vmap_read r = {
		.fd = dbuf,
		.offset = off,
		.len = len,
		.ptr = (uintptr_t)out,
	};
	int fd, ret;

	fd = open("/dev/udmabuf_vmap", O_RDWR);
	if (fd < 0)
		return -1;
	ret = ioctl(fd, UDMABUF_VMAP_READ, &r);
	close(fd);
	return ret;
}

/* Vmap @dbuf and keep it mapped until the returned fd is closed. */
static inline int ub_vmap_hold(int dbuf)
{
	int fd = open("/dev/udmabuf_vmap", O_RDWR);

	if (fd < 0)
		return -1;
	if (ioctl(fd, UDMABUF_VMAP_HOLD, dbuf)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read @len bytes at @off of the vmap held by @vfd. */
static inline int ub_vmap_read_held(int vfd, uint64_t off, void *out,
				    size_t len)
{
	struct udmabuf_vmap_read r = {
		.flags = UDMABUF_VMAP_HELD,
		.offset = off,
		.len = len,
		.ptr = (uintptr_t)out,
	};

	return ioctl(vfd, UDMABUF_VMAP_READ, &r);
}

static inline long ub_meminfo(const char *key)
{
	char line[256];
	long val = -1;
	FILE *f;

	f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) &&
		    line[strlen(key)] == ':')
			val = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return val;
}

#endif
