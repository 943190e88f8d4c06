// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf_errors: bad input gets the errno that Linux 6.12's udmabuf returns,
 * and the module cannot be unloaded while a buffer lives.
 */
#include "udmabuf_lib.h"

#include <limits.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

FIXTURE(bad) {
	int dev;
	int memfd;		/* 16 pages, F_SEAL_SHRINK */
};

FIXTURE_SETUP(bad)
{
	self->dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_LE(0, self->dev);
	self->memfd = ub_memfd(UB_SHMEM, 16 * PS);
	ASSERT_LE(0, self->memfd);
}

FIXTURE_TEARDOWN(bad)
{
	close(self->memfd);
	close(self->dev);
}

/* UDMABUF_CREATE must fail with @err. */
static int create_errno(int dev, int memfd, uint32_t flags, uint64_t off,
			uint64_t size)
{
	struct udmabuf_create c = {
		.memfd = memfd,
		.flags = flags,
		.offset = off,
		.size = size,
	};
	int fd = ioctl(dev, UDMABUF_CREATE, &c);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno;
}

static int list_errno(int dev, uint32_t count, int memfd, uint64_t size)
{
	struct udmabuf_create_list *list;
	uint32_t i, n = count > 2048 ? 2048 : count;
	int fd, err = 0;

	list = calloc(1, sizeof(*list) + (n + 1) * sizeof(list->list[0]));
	if (!list)
		return ENOMEM;
	list->count = count;
	for (i = 0; i < n; i++) {
		list->list[i].memfd = memfd;
		list->list[i].size = size;
	}
	fd = ioctl(dev, UDMABUF_CREATE_LIST, list);
	if (fd < 0)
		err = errno;
	else
		close(fd);
	free(list);
	return err;
}

TEST_F(bad, good_input_works)
{
	EXPECT_EQ(0, create_errno(self->dev, self->memfd, 0, 0, 16 * PS));
	EXPECT_EQ(0, create_errno(self->dev, self->memfd,
				  UDMABUF_FLAGS_CLOEXEC, 4 * PS, 4 * PS));
	EXPECT_EQ(0, list_errno(self->dev, 3, self->memfd, 4 * PS));
}

TEST_F(bad, not_a_memfd)
{
	int fd = open("/dev/null", O_RDWR);
	int pipefd[2];

	ASSERT_LE(0, fd);
	EXPECT_EQ(EBADFD, create_errno(self->dev, fd, 0, 0, PS));
	close(fd);
	ASSERT_EQ(0, pipe(pipefd));
	EXPECT_EQ(EBADFD, create_errno(self->dev, pipefd[0], 0, 0, PS));
	close(pipefd[0]);
	close(pipefd[1]);
	/* A tmpfs file that is not a memfd cannot be sealed: no SHRINK. */
	fd = open("/dev/shm", O_TMPFILE | O_RDWR, 0600);
	if (fd >= 0) {
		ASSERT_EQ(0, ftruncate(fd, PS));
		EXPECT_EQ(EINVAL, create_errno(self->dev, fd, 0, 0, PS));
		close(fd);
	}
}

TEST_F(bad, seals)
{
	int fd = memfd_create("noseal", MFD_ALLOW_SEALING);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, PS));
	EXPECT_EQ(EINVAL, create_errno(self->dev, fd, 0, 0, PS));
	ASSERT_EQ(0, fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_WRITE));
	EXPECT_EQ(EINVAL, create_errno(self->dev, fd, 0, 0, PS));
	close(fd);

	fd = memfd_create("futurewrite", MFD_ALLOW_SEALING);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, PS));
	ASSERT_EQ(0, fcntl(fd, F_ADD_SEALS,
			   F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE));
	EXPECT_EQ(EINVAL, create_errno(self->dev, fd, 0, 0, PS));
	close(fd);

	/* Sealing not allowed: the memfd is born with F_SEAL_SEAL only. */
	fd = memfd_create("nosealing", 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, PS));
	EXPECT_EQ(EINVAL, create_errno(self->dev, fd, 0, 0, PS));
	close(fd);
}

TEST_F(bad, alignment_and_size)
{
	EXPECT_EQ(EINVAL, create_errno(self->dev, self->memfd, 0, 100, PS));
	EXPECT_EQ(EINVAL, create_errno(self->dev, self->memfd, 0, 0, 100));
	EXPECT_EQ(EINVAL, create_errno(self->dev, self->memfd, 0, 0,
				       PS + 1));
	EXPECT_EQ(EINVAL, create_errno(self->dev, self->memfd, 0, 0, 0));
	/* Past EOF. */
	EXPECT_EQ(EINVAL, create_errno(self->dev, self->memfd, 0, 8 * PS,
				       16 * PS));
	EXPECT_EQ(EINVAL, create_errno(self->dev, self->memfd, 0, 16 * PS,
				       PS));
	/* offset + size overflows 64 bits. */
	EXPECT_EQ(EINVAL, create_errno(self->dev, self->memfd, 0,
				       UINT64_MAX & ~(PS - 1), 2 * PS));
	EXPECT_EQ(EINVAL, create_errno(self->dev, self->memfd, 0,
				       4 * PS, UINT64_MAX & ~(PS - 1)));
	EXPECT_EQ(EINVAL, create_errno(self->dev, self->memfd, 0,
				       1ULL << 62, 1ULL << 62));
}

TEST_F(bad, limits)
{
	int big = ub_memfd(UB_SHMEM, 66UL << 20);

	ASSERT_LE(0, big);
	/* size_limit_mb is 64 by default. */
	EXPECT_EQ(0, create_errno(self->dev, big, 0, 0, 64UL << 20));
	EXPECT_EQ(EINVAL, create_errno(self->dev, big, 0, 0,
				       (64UL << 20) + PS));
	EXPECT_EQ(EINVAL, list_errno(self->dev, 2, big, 33UL << 20));
	close(big);

	EXPECT_EQ(EINVAL, list_errno(self->dev, 0, self->memfd, PS));
	EXPECT_EQ(0, list_errno(self->dev, 1024, self->memfd, PS));
	EXPECT_EQ(EINVAL, list_errno(self->dev, 1025, self->memfd, PS));
	EXPECT_EQ(EINVAL, list_errno(self->dev, UINT32_MAX, self->memfd,
				     PS));
}

/* A zero-sized item inside a list fails like 6.12 (EINVAL from pinning). */
TEST_F(bad, list_zero_item)
{
	struct udmabuf_create_list *list;
	int fd;

	list = calloc(1, sizeof(*list) + 2 * sizeof(list->list[0]));
	ASSERT_NE(NULL, list);
	list->count = 2;
	list->list[0].memfd = self->memfd;
	list->list[0].size = 0;
	list->list[1].memfd = self->memfd;
	list->list[1].size = PS;
	fd = ioctl(self->dev, UDMABUF_CREATE_LIST, list);
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(EINVAL, errno);
	free(list);
}

/* 6.12 ignores flags other than UDMABUF_FLAGS_CLOEXEC: so does this one. */
TEST_F(bad, unknown_flags)
{
	EXPECT_EQ(0, create_errno(self->dev, self->memfd, 0x100, 0, PS));
	EXPECT_EQ(0, create_errno(self->dev, self->memfd, ~0U, 0, PS));
}

TEST_F(bad, hugetlb_offsets)
{
	int fd = ub_memfd(UB_HUGETLB, 2 * HPS);

	ASSERT_LE(0, fd);
	/* 6.12 wants PAGE_SIZE alignment, also inside a huge page. */
	EXPECT_EQ(0, create_errno(self->dev, fd, 0, 5 * PS, 3 * PS));
	EXPECT_EQ(0, create_errno(self->dev, fd, 0, HPS - PS, 2 * PS));
	EXPECT_EQ(EINVAL, create_errno(self->dev, fd, 0, 2048, PS));
	EXPECT_EQ(EINVAL, create_errno(self->dev, fd, 0, 0, HPS + 512));
	EXPECT_EQ(EINVAL, create_errno(self->dev, fd, 0, HPS, 2 * HPS));
	close(fd);
}

TEST_F(bad, closed_fd)
{
	int fd = ub_memfd(UB_SHMEM, PS);

	ASSERT_LE(0, fd);
	close(fd);
	EXPECT_EQ(EBADFD, create_errno(self->dev, fd, 0, 0, PS));
	EXPECT_EQ(EBADFD, create_errno(self->dev, -1, 0, 0, PS));
	EXPECT_EQ(EBADFD, list_errno(self->dev, 1, fd, PS));
}

TEST_F(bad, bad_pointers_and_ioctls)
{
	EXPECT_EQ(-1, ioctl(self->dev, UDMABUF_CREATE, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->dev, UDMABUF_CREATE_LIST, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->dev, _IO('u', 0x44), 0));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_F(bad, private_mmap)
{
	int dbuf = ub_create(self->dev, self->memfd, 0, 4 * PS);
	void *p;

	ASSERT_LE(0, dbuf);
	p = mmap(NULL, 4 * PS, PROT_READ, MAP_PRIVATE, dbuf, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, 8 * PS, PROT_READ, MAP_SHARED, dbuf, 0);
	EXPECT_EQ(MAP_FAILED, p);
	close(dbuf);
}

static int rmmod_udmabuf(void)
{
	return system("rmmod udmabuf 2>/dev/null");
}

/* Unload is refused while a buffer (its fd or just a mapping) lives. */
TEST_F(bad, rmmod_refused)
{
	int dbuf = ub_create(self->dev, self->memfd, 0, 4 * PS);
	void *p;

	ASSERT_LE(0, dbuf);
	/* The open /dev/udmabuf alone holds the module too: close it. */
	close(self->dev);
	self->dev = -1;
	EXPECT_NE(0, rmmod_udmabuf());
	p = mmap(NULL, 4 * PS, PROT_READ, MAP_SHARED, dbuf, 0);
	ASSERT_NE(MAP_FAILED, p);
	close(dbuf);
	EXPECT_NE(0, rmmod_udmabuf());
	munmap(p, 4 * PS);
	EXPECT_EQ(0, access("/dev/udmabuf", F_OK));
}

TEST_HARNESS_MAIN
