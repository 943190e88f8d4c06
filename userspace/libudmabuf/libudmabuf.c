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
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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
/* The smallest struct_size of ABI 2's structs. */
#define SEGMENT_MIN_SIZE	(offsetof(struct udmabuf_segment, size) + 8)
#define INFO_MIN_SIZE		offsetof(struct udmabuf_info, reserved)

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

/*
 * The text of module parameter @name in @buf, or -errno; touches neither
 * errno nor the message.
 */
static int read_param_text(const char *name, char *buf, size_t len)
{
	char path[128];
	int fd, err;
	ssize_t n;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* A count parameter, or -errno; touches neither errno nor the message. */
static long read_count(const char *name)
{
	char buf[32], *end;
	long val;
	int ret;

	ret = read_param_text(name, buf, sizeof(buf));
	if (ret)
		return ret;
	val = strtol(buf, &end, 10);
	if (end == buf || *end || val < 0 || val == LONG_MAX)
		return -EINVAL;
	return val;
}

static long read_param(const char *name)
{
	int saved = errno;
	long val = read_count(name);

	if (val == -EINVAL)
		return fail(EINVAL, PARAM_DIR "%s does not hold a count", name);
	if (val < 0)
		return fail(-val, "cannot read " PARAM_DIR "%s", name);
	errno = saved;
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
	int fd, ret, saved = errno;

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
	errno = saved;
	return fd;
}

EXPORT int udmabuf_memfd_create(const char *name, uint64_t size,
				unsigned int flags)
{
	unsigned int mflags = MFD_ALLOW_SEALING | MFD_CLOEXEC;
	uint64_t align = udmabuf_page_size();
	int fd, err;

	if (flags & ~(UDMABUF_MEMFD_HUGETLB | UDMABUF_MEMFD_THP))
		return fail(EINVAL, "unknown memfd flags 0x%x%s", flags,
			    flags & UDMABUF_CLOEXEC ?
			    " (UDMABUF_CLOEXEC is a udmabuf flag)" : "");
	if ((flags & UDMABUF_MEMFD_HUGETLB) && (flags & UDMABUF_MEMFD_THP))
		return fail(EINVAL, "UDMABUF_MEMFD_HUGETLB and UDMABUF_MEMFD_THP together");
	if (!size)
		return fail(EINVAL, "a memfd of 0 bytes");
	if (flags & UDMABUF_MEMFD_HUGETLB)
		mflags |= MFD_HUGETLB | MFD_HUGE_2MB;
	if (flags & (UDMABUF_MEMFD_HUGETLB | UDMABUF_MEMFD_THP))
		align = HUGE_2M;
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

/*
 * The checks of Linux's udmabuf_create(), with its errnos: a memfd that is
 * not open, or not shmem or hugetlbfs, is EBADFD; the rest EINVAL.
 */
EXPORT int udmabuf_memfd_check(int memfd, uint64_t offset, uint64_t size)
{
	uint64_t ps = udmabuf_page_size();
	int seals, saved = errno;
	struct statfs sfs;
	struct stat st;

	if (fstat(memfd, &st)) {
		if (errno == EBADF)
			return fail(EBADFD, "memfd %d is not open", memfd);
		return fail(errno, "fstat of memfd %d", memfd);
	}
	if (fstatfs(memfd, &sfs))
		return fail(errno, "fstatfs of fd %d", memfd);
	if (sfs.f_type != TMPFS_MAGIC && sfs.f_type != HUGETLBFS_MAGIC)
		return fail(EBADFD, "fd %d is not a shmem or hugetlbfs memfd",
			    memfd);
	seals = fcntl(memfd, F_GET_SEALS);
	if (seals < 0)
		return fail(EBADFD, "fd %d does not support seals", memfd);
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
	errno = saved;
	return 0;
}

static const struct udmabuf_segment *seg_at(const struct udmabuf_segment *segs,
					    unsigned int i)
{
	return (const void *)((const char *)segs +
			      (size_t)i * segs[0].struct_size);
}

EXPORT int udmabuf_create_segments(int dev, const struct udmabuf_segment *segs,
				   unsigned int n, unsigned int flags)
{
	struct udmabuf_create_list *list;
	int ret, err, saved = errno;
	uint64_t total = 0;
	unsigned int i;
	long limit;

	if (flags & ~UDMABUF_CLOEXEC)
		return fail(EINVAL, "unknown udmabuf flags 0x%x%s", flags,
			    flags & (UDMABUF_MEMFD_HUGETLB | UDMABUF_MEMFD_THP) ?
			    " (UDMABUF_MEMFD_* are memfd flags)" : "");
	if (!n || !segs)
		return fail(EINVAL, "a udmabuf needs at least one segment");
	if (segs[0].struct_size < SEGMENT_MIN_SIZE)
		return fail(EINVAL, "struct udmabuf_segment of %u bytes: set struct_size to sizeof(struct udmabuf_segment)",
			    segs[0].struct_size);
	if (n > INT_MAX / segs[0].struct_size)
		return fail(EINVAL, "%u segments", n);
	for (i = 0; i < n; i++) {
		const struct udmabuf_segment *seg = seg_at(segs, i);

		if (seg->struct_size != segs[0].struct_size)
			return fail(EINVAL, "segment %u: struct_size %u, segment 0: %u",
				    i, seg->struct_size, segs[0].struct_size);
		ret = udmabuf_memfd_check(seg->memfd, seg->offset, seg->size);
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
		total += seg->size;
	}
	/* Unreadable limits are the kernel's to enforce. */
	limit = read_count("list_limit");
	if (limit >= 0 && n > (unsigned long)limit)
		return fail(EINVAL, "%u segments exceed the module's list_limit of %ld",
			    n, limit);
	limit = read_count("size_limit_mb");
	if (limit >= 0 && total > ((uint64_t)limit << 20))
		return fail(EINVAL, "%llu bytes exceed the module's size_limit_mb of %ld MiB",
			    (unsigned long long)total, limit);
	if (fcntl(dev, F_GETFD) < 0)
		return fail(EBADF, "fd %d (the udmabuf device) is not open",
			    dev);

	list = calloc(1, sizeof(*list) + n * sizeof(list->list[0]));
	if (!list)
		return fail(ENOMEM, "no memory for %u segments", n);
	list->flags = flags & UDMABUF_CLOEXEC ? UDMABUF_FLAGS_CLOEXEC : 0;
	list->count = n;
	for (i = 0; i < n; i++) {
		list->list[i].memfd = seg_at(segs, i)->memfd;
		list->list[i].offset = seg_at(segs, i)->offset;
		list->list[i].size = seg_at(segs, i)->size;
	}
	if (n == 1) {
		struct udmabuf_create c = {
			.memfd = list->list[0].memfd,
			.flags = list->flags,
			.offset = list->list[0].offset,
			.size = list->list[0].size,
		};

		ret = ioctl(dev, UDMABUF_CREATE, &c);
	} else {
		ret = ioctl(dev, UDMABUF_CREATE_LIST, list);
	}
	err = errno;
	free(list);
	if (ret < 0) {
		if (err == ENOTTY)
			return fail(err, "fd %d is not the udmabuf device", dev);
		return fail(err, "UDMABUF_CREATE%s of %u segment%s, %llu bytes, failed",
			    n > 1 ? "_LIST" : "", n, n > 1 ? "s" : "",
			    (unsigned long long)total);
	}
	errno = saved;
	return ret;
}

EXPORT int udmabuf_create(int dev, int memfd, uint64_t offset, uint64_t size,
			  unsigned int flags)
{
	struct udmabuf_segment seg = UDMABUF_SEGMENT(memfd, offset, size);

	return udmabuf_create_segments(dev, &seg, 1, flags);
}

/*
 * The exporter name of dma-buf @fd from /proc/self/fdinfo: 0, 1 if @fd is
 * open but no dma-buf, or -errno.  Touches neither errno nor the message.
 */
static int exporter_name(int fd, char *name, size_t len)
{
	char path[64], line[256];
	int found = 0, err;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f) {
		err = errno == ENOENT ? EBADF : errno;
		return -err;
	}
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
	return found ? 0 : 1;
}

/* Is @st the udmabuf misc device?  Its sysfs name says. */
static int is_udmabuf_dev(const struct stat *st)
{
	char path[64], link[256];
	const char *base;
	ssize_t n;

	if (!S_ISCHR(st->st_mode))
		return 0;
	snprintf(path, sizeof(path), "/sys/dev/char/%u:%u",
		 major(st->st_rdev), minor(st->st_rdev));
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = '\0';
	base = strrchr(link, '/');
	return !strcmp(base ? base + 1 : link, "udmabuf");
}

/* 0 if @fd is a udmabuf, or -errno with the message set. */
static int check_udmabuf(int fd, const char *what)
{
	char name[64];
	int ret;

	ret = exporter_name(fd, name, sizeof(name));
	if (ret < 0)
		return fail(-ret, "fd %d is not open", fd);
	if (ret)
		return fail(EINVAL, "fd %d is not a dma-buf%s", fd, what);
	if (strcmp(name, "udmabuf"))
		return fail(EINVAL, "fd %d is a dma-buf of '%s', not a udmabuf",
			    fd, name);
	return 0;
}

EXPORT int udmabuf_follows(int fd)
{
	int ret, saved = errno;
	struct stat st;
	char buf[16];

	if (fstat(fd, &st))
		return fail(errno, "fd %d is not open", fd);
	if (!is_udmabuf_dev(&st)) {
		ret = check_udmabuf(fd, " or the udmabuf device");
		if (ret)
			return ret;
	}
	ret = read_param_text("follow", buf, sizeof(buf));
	errno = saved;
	if (ret == -ENOENT)
		return 0;	/* the in-tree driver: never follows */
	if (ret)
		return fail(-ret, "cannot read " PARAM_DIR "follow");
	if (!strcmp(buf, "Y") || !strcmp(buf, "1"))
		return 1;
	if (!strcmp(buf, "N") || !strcmp(buf, "0"))
		return 0;
	return fail(EINVAL, PARAM_DIR "follow holds '%s', not Y or N", buf);
}

EXPORT int udmabuf_query(int dbuf, struct udmabuf_info *info)
{
	struct udmabuf_info out = { .struct_size = sizeof(out) };
	int ret, saved = errno;
	struct stat st;
	off_t size;

	if (!info)
		return fail(EINVAL, "no udmabuf_info to fill");
	if (info->struct_size < INFO_MIN_SIZE)
		return fail(EINVAL, "struct udmabuf_info of %u bytes: set struct_size to sizeof(struct udmabuf_info)",
			    info->struct_size);
	if (fstat(dbuf, &st))
		return fail(errno, "fd %d is not open", dbuf);
	ret = check_udmabuf(dbuf, "");
	if (ret)
		return ret;
	size = lseek(dbuf, 0, SEEK_END);
	if (size < 0)
		return fail(errno, "cannot get the size of udmabuf %d", dbuf);
	if (lseek(dbuf, 0, SEEK_SET) < 0)
		return fail(errno, "cannot rewind udmabuf %d", dbuf);
	ret = udmabuf_follows(dbuf);
	if (ret < 0)
		return ret;
	out.flags = ret ? UDMABUF_INFO_FOLLOWS : 0;
	out.size = size;
	out.ino = st.st_ino;
	if (info->struct_size > sizeof(out)) {
		memset(info, 0, info->struct_size);
		memcpy(info, &out, sizeof(out));
		info->struct_size = out.struct_size;
	} else {
		memcpy((char *)info + sizeof(info->struct_size),
		       (char *)&out + sizeof(out.struct_size),
		       info->struct_size - sizeof(info->struct_size));
	}
	errno = saved;
	return 0;
}

EXPORT int udmabuf_close(int dbuf)
{
	int saved = errno;

	if (close(dbuf))
		return fail(errno, "close of udmabuf %d", dbuf);
	errno = saved;
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
	int fd, saved = errno;

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
	errno = saved;
	return pool;
}

EXPORT void udmabuf_pool_free(struct udmabuf_pool *pool)
{
	int saved = errno;

	if (!pool)
		return;
	close(pool->memfd);
	free(pool);
	errno = saved;
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
