/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libudmabuf: dma-bufs over memfd pages through /dev/udmabuf.
 *
 * Every function that can fail returns a negative errno (or NULL with errno
 * set) and leaves a message saying what failed in udmabuf_strerror(), which
 * is per thread and valid until the thread's next call into the library.
 */
#ifndef LIBUDMABUF_H
#define LIBUDMABUF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UDMABUF_DEVICE		"/dev/udmabuf"

/* udmabuf_create*() flags */
#define UDMABUF_CLOEXEC		(1U << 0)	/* the dma-buf fd is O_CLOEXEC */

/* udmabuf_memfd_create() and udmabuf_pool_new() flags */
#define UDMABUF_MEMFD_HUGETLB	(1U << 0)	/* 2 MiB hugetlbfs pages */
#define UDMABUF_MEMFD_THP	(1U << 1)	/* shmem, frames 2 MiB aligned */

/* One range of a memfd.  Offset and size are multiples of the page size. */
struct udmabuf_segment {
	int memfd;
	uint64_t offset;
	uint64_t size;
};

/* What udmabuf_query() knows of a segment: the memfd by inode number. */
struct udmabuf_segment_info {
	uint64_t memfd_ino;
	uint64_t offset;
	uint64_t size;
};

struct udmabuf_info {
	uint64_t size;			/* bytes, from the dma-buf itself */
	uint64_t ino;			/* the dma-buf's inode number */
	/*
	 * Segments of a buffer this process created with libudmabuf and has
	 * not passed to udmabuf_close(); 0 for any other udmabuf.
	 */
	unsigned int nr_segments;
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
 * A memfd of @size bytes (rounded up to the page size, or to 2 MiB with
 * UDMABUF_MEMFD_HUGETLB), sealed against shrinking as udmabuf requires.
 * Returns the fd (close-on-exec) or -errno.
 */
int udmabuf_memfd_create(const char *name, uint64_t size, unsigned int flags);

/*
 * Check that [@offset, +@size) of @memfd can back a udmabuf: a shmem or
 * hugetlbfs memfd, F_SEAL_SHRINK set, F_SEAL_WRITE unset, page aligned and
 * inside the file.  0 or -errno (the errno the kernel would return).
 */
int udmabuf_memfd_check(int memfd, uint64_t offset, uint64_t size);

/* A udmabuf over one memfd range: the dma-buf fd or -errno. */
int udmabuf_create(int dev, int memfd, uint64_t offset, uint64_t size,
		   unsigned int flags);

/* A udmabuf over @n ranges, in order: the dma-buf fd or -errno. */
int udmabuf_create_segments(int dev, const struct udmabuf_segment *segs,
			    unsigned int n, unsigned int flags);

/*
 * Size (and, if this process made it with libudmabuf, segments) of the
 * udmabuf @dbuf.  @segs may be NULL; at most @max segments are copied.
 * -EINVAL if @dbuf is a dma-buf of another exporter, -EBADF if no dma-buf.
 */
int udmabuf_query(int dbuf, struct udmabuf_info *info,
		  struct udmabuf_segment_info *segs, unsigned int max);

/* Close a udmabuf fd and forget its segments.  0 or -errno. */
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
