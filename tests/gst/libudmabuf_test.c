// SPDX-License-Identifier: GPL-2.0
/*
 * libudmabuf_test: the library against /dev/udmabuf: buffers over one and
 * several memfd ranges and what udmabuf_query() reports of them, the pool
 * helper's alignment and seals, and the message and errno of every error
 * the library promises (no device, missing seal, write seal, unaligned,
 * out of bounds, over size_limit_mb and list_limit, a foreign fd), each
 * errno against the kernel's own for the same request, errno untouched on
 * success, the flag namespaces and udmabuf_follows().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/dma-buf.h>
#include <linux/udmabuf.h>

#include "libudmabuf.h"
#include "kselftest_harness.h"

#define PS	4096UL

/* The last error message contains @what. */
static int said(const char *what)
{
	if (strstr(udmabuf_strerror(), what))
		return 1;
	fprintf(stderr, "# message '%s' lacks '%s'\n", udmabuf_strerror(),
		what);
	return 0;
}

FIXTURE(lib) {
	int dev;
};

FIXTURE_SETUP(lib)
{
	self->dev = udmabuf_open(NULL);
	ASSERT_LE(0, self->dev) TH_LOG("%s", udmabuf_strerror());
}

FIXTURE_TEARDOWN(lib)
{
	close(self->dev);
}

TEST(no_device)
{
	EXPECT_EQ(-ENOENT, udmabuf_open("/dev/no-such-udmabuf"));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_TRUE(said("is udmabuf.ko loaded?"));
	EXPECT_TRUE(said("/dev/no-such-udmabuf"));
	EXPECT_EQ(-ENOTTY, udmabuf_open("/dev/null"));
	EXPECT_TRUE(said("/dev/null is not a udmabuf device"));
	EXPECT_EQ(-ENOTTY, udmabuf_open("/proc/self/stat"));
	EXPECT_TRUE(said("not a character device"));
}

TEST_F(lib, create_and_query)
{
	struct udmabuf_info info = { .struct_size = sizeof(info) };
	uint8_t *mem, *map;
	struct stat st;
	int memfd, dbuf;

	memfd = udmabuf_memfd_create("t", 10 * PS, 0);
	ASSERT_LE(0, memfd) TH_LOG("%s", udmabuf_strerror());
	ASSERT_EQ(0, fstat(memfd, &st));
	EXPECT_EQ(10 * PS, st.st_size);
	EXPECT_EQ(F_SEAL_SHRINK, fcntl(memfd, F_GET_SEALS));
	mem = mmap(NULL, 10 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	ASSERT_NE(MAP_FAILED, mem);
	memset(mem, 0x5a, 10 * PS);

	dbuf = udmabuf_create(self->dev, memfd, 2 * PS, 4 * PS,
			      UDMABUF_CLOEXEC);
	ASSERT_LE(0, dbuf) TH_LOG("%s", udmabuf_strerror());
	EXPECT_EQ(FD_CLOEXEC, fcntl(dbuf, F_GETFD));
	ASSERT_EQ(0, udmabuf_query(dbuf, &info))
		TH_LOG("%s", udmabuf_strerror());
	EXPECT_EQ(sizeof(info), info.struct_size);
	EXPECT_EQ(4 * PS, info.size);
	ASSERT_EQ(0, fstat(dbuf, &st));
	EXPECT_EQ(st.st_ino, info.ino);
	EXPECT_EQ(udmabuf_follows(dbuf) == 1,
		  !!(info.flags & UDMABUF_INFO_FOLLOWS));

	map = mmap(NULL, 4 * PS, PROT_READ, MAP_SHARED, dbuf, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(0x5a, map[0]);
	mem[2 * PS + 7] = 0x11;
	EXPECT_EQ(0x11, map[7]);
	munmap(map, 4 * PS);

	EXPECT_EQ(0, udmabuf_close(dbuf));
	EXPECT_EQ(-EBADF, udmabuf_query(dbuf, &info));
	EXPECT_TRUE(said("not open"));
	/* Too small a struct (struct_size unset) is refused. */
	info.struct_size = 0;
	EXPECT_EQ(-EINVAL, udmabuf_query(memfd, &info));
	EXPECT_TRUE(said("struct_size"));
	munmap(mem, 10 * PS);
	close(memfd);
}

TEST_F(lib, segments)
{
	struct udmabuf_info info = { .struct_size = sizeof(info) };
	struct udmabuf_segment segs[3];
	int memfd[2], dbuf, i;
	uint8_t *map;

	for (i = 0; i < 2; i++) {
		memfd[i] = udmabuf_memfd_create("t", 4 * PS, 0);
		ASSERT_LE(0, memfd[i]) TH_LOG("%s", udmabuf_strerror());
		ASSERT_EQ(4, pwrite(memfd[i], i ? "\2\2\2\2" : "\1\1\1\1",
				    4, 0));
	}
	segs[0] = UDMABUF_SEGMENT(memfd[0], 0, PS);
	segs[1] = UDMABUF_SEGMENT(memfd[1], 0, 2 * PS);
	segs[2] = UDMABUF_SEGMENT(memfd[0], 3 * PS, PS);
	dbuf = udmabuf_create_segments(self->dev, segs, 3, 0);
	ASSERT_LE(0, dbuf) TH_LOG("%s", udmabuf_strerror());
	EXPECT_EQ(0, fcntl(dbuf, F_GETFD));
	ASSERT_EQ(0, udmabuf_query(dbuf, &info));
	EXPECT_EQ(4 * PS, info.size);
	map = mmap(NULL, 4 * PS, PROT_READ, MAP_SHARED, dbuf, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(1, map[0]);
	EXPECT_EQ(2, map[PS]);
	EXPECT_EQ(0, map[3 * PS]);
	munmap(map, 4 * PS);
	/* Closed with close(), as GstFdMemory does: nothing to forget. */
	EXPECT_EQ(0, close(dbuf));
	/* A segment without its size is refused. */
	segs[0].struct_size = 0;
	EXPECT_EQ(-EINVAL, udmabuf_create_segments(self->dev, segs, 3, 0));
	EXPECT_TRUE(said("struct_size"));
	close(memfd[0]);
	close(memfd[1]);
}

/*
 * The library's errno for a request is the kernel's for the same request
 * sent as a plain UDMABUF_CREATE.
 */
static int kernel_errno(int dev, int memfd, uint64_t offset, uint64_t size)
{
	struct udmabuf_create c = {
		.memfd = memfd, .offset = offset, .size = size,
	};
	int ret = ioctl(dev, UDMABUF_CREATE, &c);

	if (ret >= 0) {
		close(ret);
		return 0;
	}
	return errno;
}

#define EXPECT_AS_KERNEL(dev, memfd, off, size, what) do {		\
	int _k = kernel_errno(dev, memfd, off, size);			\
	int _l = udmabuf_create(dev, memfd, off, size, 0);		\
									\
	EXPECT_NE(0, _k);						\
	EXPECT_EQ(-_k, _l) TH_LOG("%s: kernel %s, library %s (%s)",	\
				  what, strerror(_k), strerror(-_l),	\
				  udmabuf_strerror());			\
	EXPECT_EQ(_k, errno);						\
} while (0)

TEST_F(lib, errnos_as_the_kernel)
{
	int memfd = udmabuf_memfd_create("t", 4 * PS, 0);
	int closed, fd = open("/proc/self/stat", O_RDONLY);
	int plain = memfd_create("t", MFD_ALLOW_SEALING);

	ASSERT_LE(0, memfd);
	ASSERT_LE(0, fd);
	ASSERT_LE(0, plain);
	ASSERT_EQ(0, ftruncate(plain, 4 * PS));
	closed = dup(memfd);
	ASSERT_LE(0, closed);
	close(closed);
	EXPECT_AS_KERNEL(self->dev, closed, 0, PS, "closed memfd");
	EXPECT_TRUE(said("not open"));
	EXPECT_AS_KERNEL(self->dev, fd, 0, PS, "not a memfd");
	EXPECT_TRUE(said("not a shmem or hugetlbfs memfd"));
	EXPECT_AS_KERNEL(self->dev, plain, 0, PS, "no F_SEAL_SHRINK");
	EXPECT_AS_KERNEL(self->dev, memfd, 100, PS, "unaligned offset");
	EXPECT_AS_KERNEL(self->dev, memfd, 0, PS + 1, "unaligned size");
	EXPECT_AS_KERNEL(self->dev, memfd, 2 * PS, 4 * PS, "beyond the end");
	EXPECT_AS_KERNEL(self->dev, memfd, 0, 0, "empty");
	/* The device itself not open: EBADF, and said so. */
	EXPECT_EQ(-EBADF, udmabuf_create(closed, memfd, 0, PS, 0));
	EXPECT_TRUE(said("(the udmabuf device) is not open"));
	close(plain);
	close(fd);
	close(memfd);
}

/* A successful call leaves errno and the message as they were. */
TEST_F(lib, errno_untouched_on_success)
{
	int memfd = udmabuf_memfd_create("t", 4 * PS, 0), dbuf, dev;
	struct udmabuf_info info = { .struct_size = sizeof(info) };

	ASSERT_LE(0, memfd);
	EXPECT_EQ(-ENOENT, udmabuf_open("/dev/no-such-udmabuf"));
	errno = 4242;
	dev = udmabuf_open(NULL);
	ASSERT_LE(0, dev);
	EXPECT_EQ(4242, errno);
	dbuf = udmabuf_create(dev, memfd, 0, 4 * PS, 0);
	ASSERT_LE(0, dbuf);
	EXPECT_EQ(4242, errno);
	EXPECT_EQ(0, udmabuf_query(dbuf, &info));
	EXPECT_LE(0, udmabuf_follows(dbuf));
	EXPECT_EQ(4242, errno);
	EXPECT_EQ(0, udmabuf_close(dbuf));
	EXPECT_EQ(4242, errno);
	/* The last failure's message is still there. */
	EXPECT_TRUE(said("/dev/no-such-udmabuf"));
	close(dev);
	close(memfd);
}

/*
 * Module parameters that cannot be read (here: hidden under an empty
 * tmpfs in a mount namespace of a child) leave the limits to the kernel: a
 * create that succeeds still leaves errno and the message alone.
 */
TEST_F(lib, unreadable_limits)
{
	pid_t pid;
	int status;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int memfd, dbuf;

		if (unshare(CLONE_NEWNS) ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("none", "/sys/module/udmabuf/parameters", "tmpfs",
			  0, NULL))
			_exit(10);
		memfd = udmabuf_memfd_create("t", 4 * PS, 0);
		if (memfd < 0)
			_exit(11);
		errno = 4242;
		dbuf = udmabuf_create(self->dev, memfd, 0, 4 * PS, 0);
		if (dbuf < 0)
			_exit(12);
		if (errno != 4242)
			_exit(13);
		if (udmabuf_strerror()[0])
			_exit(14);
		if (udmabuf_size_limit_mb() != -ENOENT || errno != ENOENT)
			_exit(15);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("child step %d failed (10 namespace, 12 create, 13 errno, 14 message)",
		       WEXITSTATUS(status));
}

/* The answer follows the module parameter; only udmabufs are asked. */
TEST_F(lib, follows)
{
	int memfd = udmabuf_memfd_create("t", PS, 0), dbuf, want, closed;
	char buf[8] = "";
	FILE *f;

	ASSERT_LE(0, memfd);
	f = fopen("/sys/module/udmabuf/parameters/follow", "re");
	want = f && fgets(buf, sizeof(buf), f) && buf[0] == 'Y';
	if (f)
		fclose(f);
	EXPECT_EQ(want, udmabuf_follows(self->dev));
	dbuf = udmabuf_create(self->dev, memfd, 0, PS, 0);
	ASSERT_LE(0, dbuf);
	EXPECT_EQ(want, udmabuf_follows(dbuf));
	fprintf(stderr, "# udmabuf_follows: %d (follow=%s)\n",
		udmabuf_follows(dbuf), buf[0] ? buf : "absent\n");
	EXPECT_EQ(-EINVAL, udmabuf_follows(memfd));
	EXPECT_TRUE(said("not a dma-buf or the udmabuf device"));
	closed = dup(dbuf);
	close(closed);
	EXPECT_EQ(-EBADF, udmabuf_follows(closed));
	close(dbuf);
	close(memfd);
}

TEST_F(lib, missing_seal)
{
	int memfd = memfd_create("t", MFD_ALLOW_SEALING);

	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, 4 * PS));
	EXPECT_EQ(-EINVAL, udmabuf_create(self->dev, memfd, 0, 4 * PS, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_TRUE(said("lacks F_SEAL_SHRINK"));
	/* The kernel agrees. */
	ASSERT_EQ(0, fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_WRITE));
	EXPECT_EQ(-EINVAL, udmabuf_create(self->dev, memfd, 0, 4 * PS, 0));
	EXPECT_TRUE(said("F_SEAL_WRITE"));
	close(memfd);

	memfd = memfd_create("t", 0);
	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, 4 * PS));
	EXPECT_EQ(-EINVAL, udmabuf_create(self->dev, memfd, 0, 4 * PS, 0));
	EXPECT_TRUE(said("MFD_ALLOW_SEALING"));
	close(memfd);
}

TEST_F(lib, not_a_memfd)
{
	int fd = open("/proc/self/stat", O_RDONLY);

	ASSERT_LE(0, fd);
	EXPECT_EQ(-EBADFD, udmabuf_create(self->dev, fd, 0, PS, 0));
	EXPECT_TRUE(said("not a shmem or hugetlbfs memfd"));
	close(fd);
	EXPECT_EQ(-EBADFD, udmabuf_create(self->dev, 1000, 0, PS, 0));
	EXPECT_TRUE(said("not open"));
}

TEST_F(lib, unaligned_and_bounds)
{
	int memfd = udmabuf_memfd_create("t", 4 * PS, 0);

	ASSERT_LE(0, memfd);
	EXPECT_EQ(-EINVAL, udmabuf_create(self->dev, memfd, 100, PS, 0));
	EXPECT_TRUE(said("not aligned"));
	EXPECT_EQ(-EINVAL, udmabuf_create(self->dev, memfd, 0, PS + 1, 0));
	EXPECT_TRUE(said("not aligned"));
	EXPECT_EQ(-EINVAL, udmabuf_create(self->dev, memfd, 2 * PS, 4 * PS, 0));
	EXPECT_TRUE(said("beyond the end"));
	EXPECT_EQ(-EINVAL, udmabuf_create(self->dev, memfd, 0, 0, 0));
	EXPECT_TRUE(said("empty range"));
	EXPECT_EQ(-EINVAL, udmabuf_create(self->dev, memfd, 0, PS, 0x80));
	EXPECT_TRUE(said("unknown udmabuf flags"));
	close(memfd);
}

TEST_F(lib, limits)
{
	long size_mb = udmabuf_size_limit_mb();
	long list = udmabuf_list_limit();
	struct udmabuf_segment *segs;
	int memfd, i;

	ASSERT_LT(0, size_mb) TH_LOG("%s", udmabuf_strerror());
	ASSERT_LT(0, list) TH_LOG("%s", udmabuf_strerror());
	memfd = udmabuf_memfd_create("t", (size_mb + 1) << 20, 0);
	ASSERT_LE(0, memfd);
	EXPECT_EQ(-EINVAL, udmabuf_create(self->dev, memfd, 0,
					  (size_mb + 1) << 20, 0));
	EXPECT_TRUE(said("size_limit_mb"));
	segs = calloc(list + 1, sizeof(*segs));
	ASSERT_NE(NULL, segs);
	for (i = 0; i <= list; i++)
		segs[i] = UDMABUF_SEGMENT(memfd, 0, PS);
	EXPECT_EQ(-EINVAL, udmabuf_create_segments(self->dev, segs, list + 1,
						   0));
	EXPECT_TRUE(said("list_limit"));
	/* A bad segment in a list is named. */
	segs[1].offset = 1;
	EXPECT_EQ(-EINVAL, udmabuf_create_segments(self->dev, segs, 3, 0));
	EXPECT_TRUE(said("segment 1: "));
	free(segs);
	close(memfd);
}

TEST_F(lib, not_a_udmabuf)
{
	struct udmabuf_info info = { .struct_size = sizeof(info) };
	int memfd = udmabuf_memfd_create("t", PS, 0);

	ASSERT_LE(0, memfd);
	EXPECT_EQ(-EINVAL, udmabuf_query(memfd, &info));
	EXPECT_TRUE(said("not a dma-buf"));
	EXPECT_EQ(-ENOTTY, udmabuf_create(memfd, memfd, 0, PS, 0));
	EXPECT_TRUE(said("not the udmabuf device"));
	close(memfd);
}

static void check_pool(struct __test_metadata *_metadata, int dev,
		       unsigned int flags, uint64_t align)
{
	const uint64_t frame = 3 * PS + 100;
	struct udmabuf_pool *pool;
	unsigned int i;
	uint8_t *mem;
	int dbuf[4];

	pool = udmabuf_pool_new(frame, 4, flags);
	ASSERT_NE(NULL, pool) TH_LOG("%s", udmabuf_strerror());
	EXPECT_EQ(4, udmabuf_pool_nframes(pool));
	EXPECT_EQ(0, udmabuf_pool_stride(pool) % align);
	EXPECT_LE(frame, udmabuf_pool_stride(pool));
	EXPECT_EQ(F_SEAL_SHRINK, fcntl(udmabuf_pool_memfd(pool), F_GET_SEALS));
	mem = mmap(NULL, 4 * udmabuf_pool_stride(pool), PROT_READ | PROT_WRITE,
		   MAP_SHARED, udmabuf_pool_memfd(pool), 0);
	ASSERT_NE(MAP_FAILED, mem);
	for (i = 0; i < 4; i++) {
		uint64_t off = udmabuf_pool_offset(pool, i);
		uint8_t *map;

		EXPECT_EQ(0, off % align);
		mem[off + frame - 1] = 0xa0 + i;
		dbuf[i] = udmabuf_pool_export(pool, dev, i, UDMABUF_CLOEXEC);
		ASSERT_LE(0, dbuf[i]) TH_LOG("%s", udmabuf_strerror());
		EXPECT_EQ(4 * PS, lseek(dbuf[i], 0, SEEK_END));
		map = mmap(NULL, 4 * PS, PROT_READ, MAP_SHARED, dbuf[i], 0);
		ASSERT_NE(MAP_FAILED, map);
		EXPECT_EQ(0xa0 + i, map[frame - 1]);
		munmap(map, 4 * PS);
	}
	EXPECT_EQ(-EINVAL, udmabuf_pool_export(pool, dev, 4, 0));
	EXPECT_TRUE(said("frame 4 of a pool of 4"));
	for (i = 0; i < 4; i++)
		close(dbuf[i]);
	munmap(mem, 4 * udmabuf_pool_stride(pool));
	udmabuf_pool_free(pool);
}

TEST_F(lib, pool_shmem)
{
	check_pool(_metadata, self->dev, 0, PS);
}

TEST_F(lib, pool_thp)
{
	check_pool(_metadata, self->dev, UDMABUF_MEMFD_THP, 2UL << 20);
}

TEST_F(lib, pool_hugetlb)
{
	check_pool(_metadata, self->dev, UDMABUF_MEMFD_HUGETLB, 2UL << 20);
}

TEST(pool_bad_args)
{
	EXPECT_EQ(NULL, udmabuf_pool_new(0, 4, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(NULL, udmabuf_pool_new(PS, 0, 0));
	EXPECT_EQ(NULL, udmabuf_pool_new(PS, 1, 0x100));
	EXPECT_TRUE(said("unknown memfd flags"));
	EXPECT_EQ(NULL, udmabuf_pool_new(PS, 1, UDMABUF_MEMFD_HUGETLB |
					 UDMABUF_MEMFD_THP));
	EXPECT_EQ(EINVAL, errno);
}

/* A flag of one kind passed where the other is due is refused. */
TEST_F(lib, flag_namespaces)
{
	struct stat st;
	int memfd;

	EXPECT_EQ(0, UDMABUF_CLOEXEC &
		  (UDMABUF_MEMFD_HUGETLB | UDMABUF_MEMFD_THP));
	EXPECT_EQ(NULL, udmabuf_pool_new(PS, 1, UDMABUF_CLOEXEC));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_TRUE(said("UDMABUF_CLOEXEC is a udmabuf flag"));
	EXPECT_EQ(-EINVAL, udmabuf_memfd_create("t", PS, UDMABUF_CLOEXEC));
	memfd = udmabuf_memfd_create("t", PS, 0);
	ASSERT_LE(0, memfd);
	EXPECT_EQ(-EINVAL, udmabuf_create(self->dev, memfd, 0, PS,
					  UDMABUF_MEMFD_HUGETLB));
	EXPECT_TRUE(said("memfd flags"));
	close(memfd);
	/* THP: a shmem memfd, 2 MiB of it. */
	memfd = udmabuf_memfd_create("t", PS, UDMABUF_MEMFD_THP);
	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, fstat(memfd, &st));
	EXPECT_EQ(2UL << 20, st.st_size);
	close(memfd);
}

TEST_HARNESS_MAIN
