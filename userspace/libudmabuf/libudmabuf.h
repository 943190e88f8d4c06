/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libudmabuf: dma-bufs over memfd pages through /dev/udmabuf.
 *
 * Every function that can fail returns a negative errno (or NULL with errno
 * set) and leaves a message saying what failed in udmabuf_strerror(), which
 * is per thread and valid until the thread's next call into the library.
 * The errno is the one the kernel gives for the same mistake.  A call that
 * succeeds leaves errno and the message as they were.
 *
 * ABI 2 (libudmabuf.so.2): the public structs start with their size, which
 * the caller sets to sizeof() of the struct it was compiled with, so that
 * later versions can grow them.
 */
#ifndef LIBUDMABUF_H
#define LIBUDMABUF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UDMABUF_DEVICE		"/dev/udmabuf"

/*
 * udmabuf_create*() and udmabuf_pool_export() flags.  Disjoint from the
 * memfd flags below: a flag of the other kind is refused with EINVAL.
 */
#define UDMABUF_CLOEXEC		(1U << 0)	/* the dma-buf fd is O_CLOEXEC */

/* udmabuf_memfd_create() and udmabuf_pool_new() flags (one at most) */
#define UDMABUF_MEMFD_HUGETLB	(1U << 16)	/* 2 MiB hugetlbfs pages */
/*
 * shmem, its size (and a pool's frames) 2 MiB aligned, so that the kernel
 * can back it with transparent huge pages.  Whether it does is the
 * system's choice: /sys/kernel/mm/transparent_hugepage/shmem_enabled
 * ("always", "within_size", or "advise" and MADV_HUGEPAGE on a mapping).
 */
#define UDMABUF_MEMFD_THP	(1U << 17)

/* One range of a memfd.  Offset and size are multiples of the page size. */
struct udmabuf_segment {
	uint32_t struct_size;	/* sizeof(struct udmabuf_segment) */
	int32_t memfd;
	uint64_t offset;
	uint64_t size;
};

/* A segment, for initialisers: UDMABUF_SEGMENT(memfd, offset, size). */
#define UDMABUF_SEGMENT(fd, off, len) \
	((struct udmabuf_segment){ sizeof(struct udmabuf_segment), (fd), \
				   (off), (len) })

/* udmabuf_info.flags */
#define UDMABUF_INFO_FOLLOWS	(1U << 0)	/* udmabuf_follows() said 1 */

/* What udmabuf_query() finds out about a dma-buf. */
struct udmabuf_info {
	uint32_t struct_size;	/* in: sizeof(struct udmabuf_info) */
	uint32_t flags;		/* UDMABUF_INFO_* */
	uint64_t size;		/* bytes, from the dma-buf itself */
	uint64_t ino;		/* the dma-buf's inode number */
	uint64_t reserved[4];	/* zero */
};

/* The message of this thread's last failure ("" if none). */
const char *udmabuf_strerror(void);

/* Open the udmabuf device (@path NULL: /dev/udmabuf): an fd or -errno. */
int udmabuf_open(const char *path);

/* The page size udmabuf offsets and sizes must be multiples of. */
uint64_t udmabuf_page_size(void);

/* The module's size_limit_mb and list_limit, or -errno if unreadable. */
long udmabuf_size_limit_mb(void);
long udmabuf_list_limit(void);

/*
 * Does @fd, the udmabuf device or a udmabuf, follow page replacement in
 * its memfds (a punched and rewritten range shows the new pages)?  1 yes,
 * 0 no, -errno: EBADF if @fd is not open, EINVAL if it is neither.
 *
 * Answered from the module: this project's udmabuf.ko has a parameter
 * /sys/module/udmabuf/parameters/follow, Y by default; the in-tree driver
 * (which never follows) has none.  A buffer takes the parameter's value
 * when it is created and keeps it, while this answers with today's value:
 * ask before creating buffers, and do not flip the parameter meanwhile.
 */
int udmabuf_follows(int fd);

/*
 * A memfd of @size bytes (rounded up to the page size, or to 2 MiB with
 * UDMABUF_MEMFD_HUGETLB or UDMABUF_MEMFD_THP), sealed against shrinking as
 * udmabuf requires.  Returns the fd (close-on-exec) or -errno.
 */
int udmabuf_memfd_create(const char *name, uint64_t size, unsigned int flags);

/*
 * Check that [@offset, +@size) of @memfd can back a udmabuf: a shmem or
 * hugetlbfs memfd, F_SEAL_SHRINK set, F_SEAL_WRITE unset, page aligned and
 * inside the file.  0 or -errno, the errno Linux's udmabuf returns for the
 * same memfd: EBADFD for an fd that is not open or not a shmem or hugetlbfs
 * file (sic: not EBADF), EINVAL for seals, alignment and bounds.
 */
int udmabuf_memfd_check(int memfd, uint64_t offset, uint64_t size);

/*
 * A udmabuf over one memfd range: the dma-buf fd or -errno.  Besides the
 * errnos of udmabuf_memfd_check(): EBADF if @dev is not open, ENOTTY if it
 * is not the udmabuf device, EINVAL for unknown flags or over the module's
 * limits, and what the kernel returns (ENOMEM, ...).
 */
int udmabuf_create(int dev, int memfd, uint64_t offset, uint64_t size,
		   unsigned int flags);

/*
 * A udmabuf over @n ranges, in order: the dma-buf fd or -errno.  Each
 * segment's struct_size must be at least that of ABI 2's struct; the
 * array's stride is segs[0].struct_size.
 */
int udmabuf_create_segments(int dev, const struct udmabuf_segment *segs,
			    unsigned int n, unsigned int flags);

/*
 * Size, inode and following of the udmabuf @dbuf.  @info->struct_size
 * must be set.  -EBADF if @dbuf is not open, -EINVAL if it is no dma-buf
 * or one of another exporter (as dma_buf_get() answers), or if struct_size
 * is too small.  Which memfd
 * ranges a buffer covers the kernel does not say: remember them.
 */
int udmabuf_query(int dbuf, struct udmabuf_info *info);

/* close(2) with a message: 0 or -errno.  A plain close() is as good. */
int udmabuf_close(int dbuf);

/*
 * A pool of @nframes frames of @frame_size bytes in one sealed memfd, each
 * frame starting page aligned (2 MiB aligned with UDMABUF_MEMFD_HUGETLB or
 * UDMABUF_MEMFD_THP).  NULL with errno set on failure.
 */
struct udmabuf_pool;

struct udmabuf_pool *udmabuf_pool_new(uint64_t frame_size,
				      unsigned int nframes, unsigned int flags);
void udmabuf_pool_free(struct udmabuf_pool *pool);
int udmabuf_pool_memfd(const struct udmabuf_pool *pool);
unsigned int udmabuf_pool_nframes(const struct udmabuf_pool *pool);
/* Distance between two frames (frame size rounded up to the alignment). */
uint64_t udmabuf_pool_stride(const struct udmabuf_pool *pool);
uint64_t udmabuf_pool_offset(const struct udmabuf_pool *pool,
			     unsigned int idx);
/* A udmabuf over frame @idx (the caller closes it): fd or -errno. */
int udmabuf_pool_export(struct udmabuf_pool *pool, int dev, unsigned int idx,
			unsigned int flags);

#ifdef __cplusplus
}
#endif

#endif /* LIBUDMABUF_H */
