// SPDX-License-Identifier: GPL-2.0
/*
 * The raw reader's promises, as QEMU reads a udmabuf: a PROT_READ mapping
 * of the buffer, read directly, never DMA_BUF_IOCTL_SYNC.
 *
 *  - Once a removal (a hole punch) returned, no removed page is seen
 *    through the buffer, whoever removed it: the creator, another process,
 *    or a kernel thread.  Two punches are in flight at once.
 *  - Reading the hole through the buffer allocates nothing: the memfd's
 *    blocks stay as the punch left them (the reader sees zeros).
 *  - The refilled page is seen, whoever refilled it: a fault in the
 *    creator's mm, a fault in another mm, write(2) (not hugetlbfs), or
 *    UFFDIO_COPY (shmem).
 *
 * Every remover and refiller, for shmem 4 KiB pages, shmem THP and hugetlb
 * 2 MiB pages.  The buffer covers four units of the memfd (a unit is a page
 * of the kind); units 1 and 3 are punched and refilled.
 */
#include "udmabuf_lib.h"

#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#define UNITS		4

enum remover { RM_CREATOR, RM_OTHER, RM_KTHREAD };
enum refiller { RF_FAULT, RF_OTHER_FAULT, RF_WRITE, RF_UFFD };

FIXTURE(matrix) {
	int dev, fd, dbuf;
	size_t unit, size;
	unsigned long pages, upages;	/* pages in all, per unit */
	uint64_t *m;			/* the creator's mapping */
	const volatile uint64_t *b;	/* the raw reader's */
};

FIXTURE_VARIANT(matrix) {
	enum ub_kind kind;
	enum remover rm;
	enum refiller rf;
};

#define CELL(k, r, f)							\
	FIXTURE_VARIANT_ADD(matrix, k##_##r##_##f) {			\
		.kind = UB_##k, .rm = RM_##r, .rf = RF_##f,		\
	}

#define ROW(k, r)							\
	CELL(k, r, FAULT);						\
	CELL(k, r, OTHER_FAULT)

ROW(SHMEM, CREATOR);
ROW(SHMEM, OTHER);
ROW(SHMEM, KTHREAD);
ROW(THP, CREATOR);
ROW(THP, OTHER);
ROW(THP, KTHREAD);
ROW(HUGETLB, CREATOR);
ROW(HUGETLB, OTHER);
ROW(HUGETLB, KTHREAD);
CELL(SHMEM, CREATOR, WRITE);
CELL(SHMEM, OTHER, WRITE);
CELL(SHMEM, KTHREAD, WRITE);
CELL(THP, CREATOR, WRITE);
CELL(THP, OTHER, WRITE);
CELL(THP, KTHREAD, WRITE);
CELL(SHMEM, CREATOR, UFFD);
CELL(SHMEM, OTHER, UFFD);
CELL(SHMEM, KTHREAD, UFFD);
CELL(THP, CREATOR, UFFD);
CELL(THP, OTHER, UFFD);
CELL(THP, KTHREAD, UFFD);

static long blocks(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : (long)st.st_blocks;
}

FIXTURE_SETUP(matrix)
{
	self->unit = variant->kind == UB_SHMEM ? PS : HPS;
	self->size = UNITS * self->unit;
	self->pages = self->size / PS;
	self->upages = self->unit / PS;
	self->dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_GE(self->dev, 0);
	self->fd = ub_memfd(variant->kind, self->size);
	if (self->fd < 0 && variant->kind == UB_HUGETLB)
		SKIP(return, "no 2 MiB huge pages");
	ASSERT_GE(self->fd, 0);
	self->m = ub_map_memfd(variant->kind, self->fd, self->size);
	ASSERT_NE(NULL, self->m);
	ub_fill(self->m, 0, self->pages, 1);
	if (variant->kind == UB_THP && !ub_thp_mapped())
		SKIP(return, "no shmem THP (shmem_enabled)");
	self->dbuf = ub_create(self->dev, self->fd, 0, self->size);
	ASSERT_GE(self->dbuf, 0);
	self->b = mmap(NULL, self->size, PROT_READ, MAP_SHARED, self->dbuf, 0);
	ASSERT_NE(MAP_FAILED, self->b);
	ASSERT_EQ(-1, ub_check(self->b, 0, 0, self->pages, 1));
}

FIXTURE_TEARDOWN(matrix)
{
}

struct punch {
	int fd, vdev;
	uint64_t off, len;
	int ret;
	pthread_barrier_t *start;
};

static void *punch_thread(void *arg)
{
	struct punch *p = arg;

	pthread_barrier_wait(p->start);
	if (p->vdev >= 0) {
		struct udmabuf_vmap_punch k = {
			.fd = p->fd, .offset = p->off, .len = p->len,
		};

		p->ret = ioctl(p->vdev, UDMABUF_VMAP_PUNCH, &k) ? -errno : 0;
	} else {
		p->ret = ub_punch(p->fd, p->off, p->len) ? -errno : 0;
	}
	return NULL;
}

/* Punch units 1 and 3 at once, from two threads; 0 or a negative errno. */
static int punch_two(int fd, size_t unit, bool kthread)
{
	struct punch p[2];
	pthread_barrier_t start;
	pthread_t t[2];
	int i, vdev = -1, ret = 0;

	if (kthread) {
		vdev = open("/dev/udmabuf_vmap", O_RDWR);
		if (vdev < 0)
			return -errno;
	}
	pthread_barrier_init(&start, NULL, 2);
	for (i = 0; i < 2; i++) {
		p[i] = (struct punch){ .fd = fd, .vdev = vdev,
				       .off = (2 * i + 1) * unit, .len = unit,
				       .start = &start };
		if (pthread_create(&t[i], NULL, punch_thread, &p[i]))
			return -EAGAIN;
	}
	for (i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		if (p[i].ret)
			ret = p[i].ret;
	}
	pthread_barrier_destroy(&start);
	if (vdev >= 0)
		close(vdev);
	return ret;
}

/* In a child: its exit status is 0 if @fn returned 0. */
static int in_child(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (!pid)
		_exit(fn(arg) ? 1 : 0);
	if (waitpid(pid, &status, 0) != pid)
		return -ECHILD;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -EIO;
}

struct job {
	int fd;
	size_t unit;
	uint64_t *m;
	unsigned long upages;
};

static int punch_job(void *arg)
{
	struct job *j = arg;

	return punch_two(j->fd, j->unit, false);
}

static int fill_job(void *arg)
{
	struct job *j = arg;

	ub_fill(j->m, j->upages, j->upages, 2);
	ub_fill(j->m, 3 * j->upages, j->upages, 2);
	return 0;
}

static int write_units(int fd, size_t unit, unsigned long upages)
{
	uint64_t *buf = malloc(unit);
	unsigned long u, pg, w;

	if (!buf)
		return -ENOMEM;
	for (u = 1; u < UNITS; u += 2) {
		for (pg = 0; pg < upages; pg++)
			for (w = 0; w < PS / 8; w++)
				buf[pg * (PS / 8) + w] =
					ub_tag(u * upages + pg, 2);
		if (pwrite(fd, buf, unit, u * unit) != (ssize_t)unit) {
			free(buf);
			return -EIO;
		}
	}
	free(buf);
	return 0;
}

/* UFFDIO_COPY the gen-2 tags into units 1 and 3 of a new mapping. */
static int uffd_units(int fd, size_t size, size_t unit, unsigned long upages)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	uint64_t *src = malloc(PS);
	unsigned long u, pg, w;
	int uffd, ret = 0;
	char *dst;

	uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	if (uffd < 0 || !src)
		return -errno;
	dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (dst == MAP_FAILED || ioctl(uffd, UFFDIO_API, &api))
		return -errno;
	reg.range.start = (uintptr_t)dst;
	reg.range.len = size;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	for (u = 1; u < UNITS && !ret; u += 2) {
		for (pg = 0; pg < upages && !ret; pg++) {
			struct uffdio_copy c = {
				.dst = (uintptr_t)dst + u * unit + pg * PS,
				.src = (uintptr_t)src,
				.len = PS,
			};

			for (w = 0; w < PS / 8; w++)
				src[w] = ub_tag(u * upages + pg, 2);
			if (ioctl(uffd, UFFDIO_COPY, &c))
				ret = -errno;
		}
	}
	munmap(dst, size);
	close(uffd);
	free(src);
	return ret;
}

/* Every word of buffer pages [first, first + nr) is 0. */
static long first_nonzero(const volatile uint64_t *b, unsigned long first,
			  unsigned long nr)
{
	unsigned long pg, w;

	for (pg = first; pg < first + nr; pg++)
		for (w = 0; w < PS / 8; w += 64)
			if (b[pg * (PS / 8) + w])
				return pg;
	return -1;
}

TEST_F(matrix, removed_not_seen_refill_seen)
{
	struct job j = { .fd = self->fd, .unit = self->unit, .m = self->m,
			 .upages = self->upages };
	unsigned long u = self->upages;
	long punched;
	int ret;

	switch (variant->rm) {
	case RM_CREATOR:
		ret = punch_two(self->fd, self->unit, false);
		break;
	case RM_OTHER:
		ret = in_child(punch_job, &j);
		break;
	default:
		ret = punch_two(self->fd, self->unit, true);
		break;
	}
	ASSERT_EQ(0, ret);
	punched = blocks(self->fd);

	/* The removal returned: none of its pages is seen. */
	EXPECT_EQ(-1, first_nonzero(self->b, u, u));
	EXPECT_EQ(-1, first_nonzero(self->b, 3 * u, u));
	EXPECT_EQ(-1, ub_check(self->b, 0, 0, u, 1));
	EXPECT_EQ(-1, ub_check(self->b, 0, 2 * u, u, 1));
	/* Reading the holes allocated nothing. */
	EXPECT_EQ(punched, blocks(self->fd));

	switch (variant->rf) {
	case RF_FAULT:
		ret = fill_job(&j);
		break;
	case RF_OTHER_FAULT:
		ret = in_child(fill_job, &j);
		break;
	case RF_WRITE:
		ret = write_units(self->fd, self->unit, u);
		break;
	default:
		ret = uffd_units(self->fd, self->size, self->unit, u);
		break;
	}
	ASSERT_EQ(0, ret);

	/* The refill is seen, with no SYNC and nothing else in between. */
	EXPECT_EQ(-1, ub_check(self->b, 0, u, u, 2));
	EXPECT_EQ(-1, ub_check(self->b, 0, 3 * u, u, 2));
	EXPECT_EQ(-1, ub_check(self->b, 0, 0, u, 1));
}

TEST_HARNESS_MAIN
