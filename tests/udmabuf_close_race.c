// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf_close_race: punches of a memfd while buffers over it are closed,
 * found by udmabuf_fuzz under KASAN.  The last fput of a dma-buf evicts its
 * inode before the buffer is released and stops watching the memfd; a
 * punch in between zapped the CPU mmaps through the freed inode's mapping
 * (KASAN: slab-use-after-free in unmap_mapping_pages() from
 * udmabuf_removed()).  One thread creates, maps, reads, unmaps and closes
 * buffers; another punches and rewrites the whole memfd; a third does the
 * same from a forked child, whose exit is another last fput.  The guest
 * log scan catches the report; every read must show a tag of its page or
 * zero.  Bounded to a few seconds.
 */
#include "udmabuf_lib.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"

#define SECONDS		3

struct close_race {
	enum ub_kind kind;
	int dev, memfd;
	uint64_t *mem;
	unsigned long npages;
	atomic_bool stop;
	atomic_ulong closes, punches;
	atomic_long bad_page;		/* a read of another page's tag, or -1 */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Create, map, read, unmap, close: each close is the last fput. */
static void one_buffer(struct close_race *r)
{
	size_t size = r->npages * PS;
	volatile uint64_t *m;
	unsigned long pg;
	int fd;

	fd = ub_create(r->dev, r->memfd, 0, size);
	if (fd < 0)
		return;
	m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (m != MAP_FAILED) {
		for (pg = 0; pg < r->npages; pg++) {
			uint64_t w = m[pg * (PS / 8)];

			if (w && (w >> 48 != TAG_MAGIC ||
				  (w >> 24 & 0xffffff) != pg))
				atomic_store(&r->bad_page, pg);
		}
		munmap((void *)m, size);
	}
	close(fd);
	atomic_fetch_add(&r->closes, 1);
}

static void *closer(void *arg)
{
	struct close_race *r = arg;

	while (!atomic_load(&r->stop))
		one_buffer(r);
	return NULL;
}

/* A child whose exit closes the buffers it made last. */
static void *forker(void *arg)
{
	struct close_race *r = arg;

	while (!atomic_load(&r->stop)) {
		pid_t pid = fork();

		if (pid < 0)
			break;
		if (!pid) {
			int fd = ub_create(r->dev, r->memfd, 0, r->npages * PS);

			(void)fd;
			_exit(0);
		}
		waitpid(pid, NULL, 0);
	}
	return NULL;
}

static void *puncher(void *arg)
{
	struct close_race *r = arg;
	unsigned int gen = 1;

	while (!atomic_load(&r->stop)) {
		if (ub_punch(r->memfd, 0, r->npages * PS))
			break;
		ub_fill(r->mem, 0, r->npages, ++gen);
		atomic_fetch_add(&r->punches, 1);
	}
	return NULL;
}

FIXTURE(close_race) {
	struct close_race r;
};

FIXTURE_VARIANT(close_race) {
	enum ub_kind kind;
	unsigned long npages;
};

FIXTURE_VARIANT_ADD(close_race, shmem) {
	.kind = UB_SHMEM,
	.npages = 16,
};

FIXTURE_VARIANT_ADD(close_race, hugetlb) {
	.kind = UB_HUGETLB,
	.npages = 512,
};

FIXTURE_SETUP(close_race)
{
	struct close_race *r = &self->r;
	size_t size = variant->npages * PS;

	memset(r, 0, sizeof(*r));
	r->kind = variant->kind;
	r->npages = variant->npages;
	atomic_store(&r->bad_page, -1);
	r->dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (r->dev < 0)
		SKIP(return, "no /dev/udmabuf");
	r->memfd = ub_memfd(r->kind, size);
	if (r->memfd < 0 && r->kind == UB_HUGETLB)
		SKIP(return, "no hugetlb memfd");
	ASSERT_LE(0, r->memfd);
	r->mem = ub_map_memfd(r->kind, r->memfd, size);
	ASSERT_NE(NULL, r->mem);
	ub_fill(r->mem, 0, r->npages, 1);
}

FIXTURE_TEARDOWN(close_race)
{
	if (self->r.dev < 0)
		return;
	close(self->r.memfd);
	close(self->r.dev);
}

TEST_F_TIMEOUT(close_race, punch_vs_last_close, 120)
{
	struct close_race *r = &self->r;
	pthread_t c, f, p;
	double end = now() + SECONDS;

	ASSERT_EQ(0, pthread_create(&c, NULL, closer, r));
	ASSERT_EQ(0, pthread_create(&f, NULL, forker, r));
	ASSERT_EQ(0, pthread_create(&p, NULL, puncher, r));
	while (now() < end && atomic_load(&r->bad_page) < 0)
		usleep(10000);
	atomic_store(&r->stop, true);
	pthread_join(c, NULL);
	pthread_join(f, NULL);
	pthread_join(p, NULL);
	ksft_print_msg("%lu closes during %lu punches\n",
		       atomic_load(&r->closes), atomic_load(&r->punches));
	EXPECT_EQ(-1, atomic_load(&r->bad_page));
	EXPECT_LT(0, atomic_load(&r->closes));
	EXPECT_LT(0, atomic_load(&r->punches));
}

TEST_HARNESS_MAIN
