// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libudmabuf: dma-bufs over memfd pages through /dev/udmabuf.
 *
 * The library checks what the kernel would reject (seals, alignment,
 * bounds, the module's limits) before the ioctl so that it can say which
 * rule a request broke; the kernel's errno is returned either way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <linux/udmabuf.h>

#include "libudmabuf.h"

#define EXPORT			__attribute__((visibility("default")))
#define HUGE_2M			(2ULL << 20)
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB		(21U << 26)
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE	0x0010
#endif
#define PARAM_DIR		"/sys/module/udmabuf/parameters/"
/* Segments remembered for udmabuf_query(), oldest forgotten first. */
#define REGISTRY_MAX		4096

static __thread char errmsg[512];

/* Record a failure: the message, errno set, -err returned. */
static int __attribute__((format(printf, 2, 3))) fail(int err,
						       const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(errmsg))
		snprintf(errmsg + n, sizeof(errmsg) - n, " (%s)",
			 strerror(err));
	errno = err;
	return -err;
}

EXPORT const char *udmabuf_strerror(void)
{
	return errmsg;
}

EXPORT uint64_t udmabuf_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (uint64_t)ps : 4096;
}

static long read_param(const char *name)
{
	char path[128], buf[32], *end;
	ssize_t n;
	long val;
	int fd;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "cannot open %s", path);
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		int err = errno;

		close(fd);
		return fail(err, "cannot read %s", path);
	}
	close(fd);
	buf[n] = '\0';
	errno = 0;
	val = strtol(buf, &end, 10);
	if (errno || end == buf || val < 0)
		return fail(EINVAL, "%s holds '%s', not a count", path, buf);
	return val;
}

EXPORT long udmabuf_size_limit_mb(void)
{
	return read_param("size_limit_mb");
}

EXPORT long udmabuf_list_limit(void)
{
	return read_param("list_limit");
}

/* A character device (a probe can only be trusted on one). */
static int is_char_dev(int fd)
{
	struct stat st;

	return !fstat(fd, &st) && S_ISCHR(st.st_mode);
}

EXPORT int udmabuf_open(const char *path)
{
	struct udmabuf_create probe = { 0 };
	int fd, ret;

	if (!path)
		path = UDMABUF_DEVICE;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return fail(ENOENT, "%s does not exist: is udmabuf.ko loaded?",
				    path);
		return fail(errno, "cannot open %s", path);
	}
	/*
	 * Probe: the udmabuf device refuses a create without a memfd with an
	 * errno of its own; other files do not know the ioctl (ENOTTY).
	 */
	if (!is_char_dev(fd)) {
		close(fd);
		return fail(ENOTTY, "%s is not a udmabuf device (not a character device)",
			    path);
	}
	probe.memfd = -1;
	probe.size = udmabuf_page_size();
	ret = ioctl(fd, UDMABUF_CREATE, &probe);
	if (ret >= 0 || errno == ENOTTY) {
		if (ret >= 0)
			close(ret);
		close(fd);
		return fail(ENOTTY, "%s is not a udmabuf device", path);
	}
	return fd;
}

EXPORT int udmabuf_memfd_create(const char *name, uint64_t size,
				unsigned int flags)
{
	unsigned int mflags = MFD_ALLOW_SEALING | MFD_CLOEXEC;
	uint64_t align = udmabuf_page_size();
	int fd, err;

	if (flags & ~(UDMABUF_MEMFD_HUGETLB | UDMABUF_MEMFD_THP))
		return fail(EINVAL, "unknown memfd flags 0x%x", flags);
	if (!size)
		return fail(EINVAL, "a memfd of 0 bytes");
	if (flags & UDMABUF_MEMFD_HUGETLB) {
		mflags |= MFD_HUGETLB | MFD_HUGE_2MB;
		align = HUGE_2M;
	}
	if (size > (uint64_t)LLONG_MAX - align)
		return fail(EINVAL, "memfd size %llu is too large",
			    (unsigned long long)size);
	size = (size + align - 1) & ~(align - 1);
	fd = memfd_create(name ? name : "udmabuf", mflags);
	if (fd < 0)
		return fail(errno, "memfd_create(%s)",
			    flags & UDMABUF_MEMFD_HUGETLB ? "hugetlb 2 MiB" :
			    "shmem");
	if (ftruncate(fd, size)) {
		err = errno;
		close(fd);
		return fail(err, "cannot size the memfd to %llu bytes",
			    (unsigned long long)size);
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		err = errno;
		close(fd);
		return fail(err, "cannot seal the memfd with F_SEAL_SHRINK");
	}
	return fd;
}

EXPORT int udmabuf_memfd_check(int memfd, uint64_t offset, uint64_t size)
{
	uint64_t ps = udmabuf_page_size();
	struct statfs sfs;
	struct stat st;
	int seals;

	if (fstat(memfd, &st))
		return fail(errno == EBADF ? EBADFD : errno,
			    "fd %d is not an open file", memfd);
	if (fstatfs(memfd, &sfs))
		return fail(errno, "fstatfs of fd %d", memfd);
	if (sfs.f_type != TMPFS_MAGIC && sfs.f_type != HUGETLBFS_MAGIC)
		return fail(EINVAL, "fd %d is not a shmem or hugetlbfs memfd",
			    memfd);
	seals = fcntl(memfd, F_GET_SEALS);
	if (seals < 0)
		return fail(EINVAL, "fd %d does not support seals", memfd);
	if (!(seals & F_SEAL_SHRINK) && (seals & F_SEAL_SEAL))
		return fail(EINVAL, "memfd %d lacks F_SEAL_SHRINK and takes no more seals: create it with MFD_ALLOW_SEALING",
			    memfd);
	if (!(seals & F_SEAL_SHRINK))
		return fail(EINVAL, "memfd %d lacks F_SEAL_SHRINK", memfd);
	if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
		return fail(EINVAL, "memfd %d is sealed against writes (F_SEAL_WRITE)",
			    memfd);
	if (!size)
		return fail(EINVAL, "an empty range of memfd %d", memfd);
	if (offset % ps || size % ps)
		return fail(EINVAL, "range 0x%llx+0x%llx of memfd %d is not aligned to the %llu-byte page size",
			    (unsigned long long)offset,
			    (unsigned long long)size, memfd,
			    (unsigned long long)ps);
	if (offset > (uint64_t)st.st_size ||
	    size > (uint64_t)st.st_size - offset)
		return fail(EINVAL, "range 0x%llx+0x%llx is beyond the end of memfd %d (0x%llx bytes)",
			    (unsigned long long)offset,
			    (unsigned long long)size, memfd,
			    (unsigned long long)st.st_size);
	return 0;
}

/* What the library knows of the buffers it made. */
struct reg_entry {
	struct reg_entry *next;
	uint64_t ino;
	unsigned int n;
	struct udmabuf_segment_info segs[];
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reg_entry *reg_head;	/* newest first */
static unsigned int reg_count;

/* Unlink the entry for @ino under reg_lock; the caller frees it. */
static struct reg_entry *reg_unlink(uint64_t ino)
{
	struct reg_entry **pp, *e;

	for (pp = &reg_head; (e = *pp); pp = &e->next)
		if (e->ino == ino) {
			*pp = e->next;
			reg_count--;
			return e;
		}
	return NULL;
}

static void reg_add(int dbuf, const struct udmabuf_segment *segs,
		    unsigned int n)
{
	struct reg_entry *e, *old, **pp;
	struct stat st;
	unsigned int i;

	/* Best effort: without an entry, queries report no segments. */
	if (fstat(dbuf, &st))
		return;
	e = malloc(sizeof(*e) + n * sizeof(e->segs[0]));
	if (!e)
		return;
	e->ino = st.st_ino;
	e->n = n;
	for (i = 0; i < n; i++) {
		struct stat mst;

		e->segs[i].memfd_ino = fstat(segs[i].memfd, &mst) ? 0 :
				       mst.st_ino;
		e->segs[i].offset = segs[i].offset;
		e->segs[i].size = segs[i].size;
	}
	pthread_mutex_lock(&reg_lock);
	free(reg_unlink(e->ino));
	e->next = reg_head;
	reg_head = e;
	if (++reg_count > REGISTRY_MAX) {
		for (pp = &reg_head; (*pp)->next; pp = &(*pp)->next)
			;
		old = *pp;
		*pp = NULL;
		reg_count--;
		free(old);
	}
	pthread_mutex_unlock(&reg_lock);
}

EXPORT int udmabuf_create_segments(int dev, const struct udmabuf_segment *segs,
				   unsigned int n, unsigned int flags)
{
	struct udmabuf_create_list *list;
	uint64_t total = 0;
	long limit;
	unsigned int i;
	int ret, err;

	if (flags & ~UDMABUF_CLOEXEC)
		return fail(EINVAL, "unknown udmabuf flags 0x%x", flags);
	if (!n || !segs)
		return fail(EINVAL, "a udmabuf needs at least one segment");
	for (i = 0; i < n; i++) {
		ret = udmabuf_memfd_check(segs[i].memfd, segs[i].offset,
					  segs[i].size);
		if (ret) {
			if (n > 1) {
				char inner[sizeof(errmsg)];

				snprintf(inner, sizeof(inner), "%s", errmsg);
				snprintf(errmsg, sizeof(errmsg),
					 "segment %u: %.480s", i, inner);
				errno = -ret;
			}
			return ret;
		}
		total += segs[i].size;
	}
	limit = udmabuf_list_limit();
	if (limit >= 0 && n > (unsigned long)limit)
		return fail(EINVAL, "%u segments exceed the module's list_limit of %ld",
			    n, limit);
	limit = udmabuf_size_limit_mb();
	if (limit >= 0 && total > ((uint64_t)limit << 20))
		return fail(EINVAL, "%llu bytes exceed the module's size_limit_mb of %ld MiB",
			    (unsigned long long)total, limit);

	list = calloc(1, sizeof(*list) + n * sizeof(list->list[0]));
	if (!list)
		return fail(ENOMEM, "no memory for %u segments", n);
	list->flags = flags & UDMABUF_CLOEXEC ? UDMABUF_FLAGS_CLOEXEC : 0;
	list->count = n;
	for (i = 0; i < n; i++) {
		list->list[i].memfd = segs[i].memfd;
		list->list[i].offset = segs[i].offset;
		list->list[i].size = segs[i].size;
	}
	if (n == 1) {
		struct udmabuf_create c = {
			.memfd = segs[0].memfd,
			.flags = list->flags,
			.offset = segs[0].offset,
			.size = segs[0].size,
		};

		ret = ioctl(dev, UDMABUF_CREATE, &c);
	} else {
		ret = ioctl(dev, UDMABUF_CREATE_LIST, list);
	}
	err = errno;
	free(list);
	if (ret < 0) {
		if (err == ENOTTY || err == EBADF)
			return fail(err, "fd %d is not the udmabuf device", dev);
		return fail(err, "UDMABUF_CREATE%s of %u segment%s, %llu bytes, failed",
			    n > 1 ? "_LIST" : "", n, n > 1 ? "s" : "",
			    (unsigned long long)total);
	}
	reg_add(ret, segs, n);
	return ret;
}

EXPORT int udmabuf_create(int dev, int memfd, uint64_t offset, uint64_t size,
			  unsigned int flags)
{
	struct udmabuf_segment seg = {
		.memfd = memfd,
		.offset = offset,
		.size = size,
	};

	return udmabuf_create_segments(dev, &seg, 1, flags);
}

/* The exporter name of dma-buf @fd from /proc/self/fdinfo, or -errno. */
static int exporter_name(int fd, char *name, size_t len)
{
	char path[64], line[256];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return fail(errno, "cannot open %s", path);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "exp_name:", 9)) {
			char *v = line + 9;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(name, len, "%s", v);
			found = 1;
			break;
		}
	fclose(f);
	if (!found)
		return fail(EBADF, "fd %d is not a dma-buf", fd);
	return 0;
}

EXPORT int udmabuf_query(int dbuf, struct udmabuf_info *info,
			 struct udmabuf_segment_info *segs, unsigned int max)
{
	struct reg_entry *e;
	char name[64];
	struct stat st;
	off_t size;
	int ret;

	if (!info)
		return fail(EINVAL, "no udmabuf_info to fill");
	if (fstat(dbuf, &st))
		return fail(errno, "fd %d is not open", dbuf);
	ret = exporter_name(dbuf, name, sizeof(name));
	if (ret)
		return ret;
	if (strcmp(name, "udmabuf"))
		return fail(EINVAL, "fd %d is a dma-buf of '%s', not a udmabuf",
			    dbuf, name);
	size = lseek(dbuf, 0, SEEK_END);
	if (size < 0)
		return fail(errno, "cannot get the size of udmabuf %d", dbuf);
	if (lseek(dbuf, 0, SEEK_SET) < 0)
		return fail(errno, "cannot rewind udmabuf %d", dbuf);
	memset(info, 0, sizeof(*info));
	info->size = size;
	info->ino = st.st_ino;
	pthread_mutex_lock(&reg_lock);
	for (e = reg_head; e; e = e->next)
		if (e->ino == info->ino) {
			info->nr_segments = e->n;
			if (segs)
				memcpy(segs, e->segs, (e->n < max ? e->n : max) *
				       sizeof(*segs));
			break;
		}
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

EXPORT int udmabuf_close(int dbuf)
{
	struct stat st;

	if (!fstat(dbuf, &st)) {
		pthread_mutex_lock(&reg_lock);
		free(reg_unlink(st.st_ino));
		pthread_mutex_unlock(&reg_lock);
	}
	if (close(dbuf))
		return fail(errno, "close of udmabuf %d", dbuf);
	return 0;
}

struct udmabuf_pool {
	int memfd;
	unsigned int nframes;
	uint64_t frame_size;
	uint64_t stride;
};

EXPORT struct udmabuf_pool *udmabuf_pool_new(uint64_t frame_size,
					     unsigned int nframes,
					     unsigned int flags)
{
	uint64_t align = flags & (UDMABUF_MEMFD_HUGETLB | UDMABUF_MEMFD_THP) ?
			 HUGE_2M : udmabuf_page_size();
	struct udmabuf_pool *pool;
	int fd;

	if (!frame_size || !nframes) {
		fail(EINVAL, "a pool of %u frames of %llu bytes", nframes,
		     (unsigned long long)frame_size);
		return NULL;
	}
	if (frame_size > (UINT64_MAX >> 2) / nframes) {
		fail(EOVERFLOW, "a pool of %u frames of %llu bytes is too large",
		     nframes, (unsigned long long)frame_size);
		return NULL;
	}
	pool = calloc(1, sizeof(*pool));
	if (!pool) {
		fail(ENOMEM, "no memory for a pool");
		return NULL;
	}
	pool->frame_size = frame_size;
	pool->nframes = nframes;
	pool->stride = (frame_size + align - 1) & ~(align - 1);
	fd = udmabuf_memfd_create("udmabuf-pool", pool->stride * nframes, flags);
	if (fd < 0) {
		free(pool);
		errno = -fd;
		return NULL;
	}
	pool->memfd = fd;
	return pool;
}

EXPORT void udmabuf_pool_free(struct udmabuf_pool *pool)
{
	if (!pool)
		return;
	close(pool->memfd);
	free(pool);
}

EXPORT int udmabuf_pool_memfd(const struct udmabuf_pool *pool)
{
	return pool->memfd;
}

EXPORT unsigned int udmabuf_pool_nframes(const struct udmabuf_pool *pool)
{
	return pool->nframes;
}

EXPORT uint64_t udmabuf_pool_stride(const struct udmabuf_pool *pool)
{
	return pool->stride;
}

EXPORT uint64_t udmabuf_pool_offset(const struct udmabuf_pool *pool,
				    unsigned int idx)
{
	return (uint64_t)idx * pool->stride;
}

EXPORT int udmabuf_pool_export(struct udmabuf_pool *pool, int dev,
			       unsigned int idx, unsigned int flags)
{
	uint64_t ps = udmabuf_page_size();

	if (idx >= pool->nframes)
		return fail(EINVAL, "frame %u of a pool of %u", idx,
			    pool->nframes);
	/* The udmabuf covers whole pages: the frame rounded up. */
	return udmabuf_create(dev, pool->memfd, udmabuf_pool_offset(pool, idx),
			      (pool->frame_size + ps - 1) & ~(ps - 1), flags);
}
