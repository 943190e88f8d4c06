// SPDX-License-Identifier: GPL-2.0
/*
 * What the mmu notifier core does around interval update subscribers,
 * through the mmu_update_core module: removing an interval subscription
 * waits for its own update callbacks only, not for other subscriptions'
 * callbacks or for unrelated invalidations, and a fault overlapping more
 * subscriptions than fit on the stack reaches every one of them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "mmu_update_core/mmu_update_core.h"

#define PAGE		4096UL
#define PAGES		8
/* What "does not wait" means; holds last 10 s. */
#define QUICK_NS	2000000000LL

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

FIXTURE(muc) {
	int dev;
	int fd;
	char *p;
};

FIXTURE_SETUP(muc)
{
	self->dev = open(MUC_DEV, O_RDWR);
	ASSERT_GE(self->dev, 0) TH_LOG("open %s: %s", MUC_DEV, strerror(errno));
	self->fd = memfd_create("update_core", 0);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, ftruncate(self->fd, PAGES * PAGE));
	self->p = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->p);
}

FIXTURE_TEARDOWN(muc)
{
	ioctl(self->dev, MUC_IOC_RELEASE);
	close(self->dev);
}

static int insert(int dev, void *start, size_t len, int update)
{
	struct muc_interval iv = {
		.start = (uintptr_t)start, .length = len, .update = update,
	};

	if (ioctl(dev, MUC_IOC_INSERT, &iv))
		return -errno;
	return iv.id;
}

static struct muc_counters counters(int dev)
{
	struct muc_counters c = { 0 };

	ioctl(dev, MUC_IOC_COUNTERS, &c);
	return c;
}

/* A thread running one ioctl or madvise, and whether it has returned. */
struct job {
	int dev;
	unsigned long cmd, arg;
	void *addr;
	int ret;
	int done;	/* __atomic */
	int gate[2];	/* a pipe: an ioctl job waits for go() */
};

/*
 * Start an ioctl job that waits to be let go: creating a thread maps its
 * stack, which needs the mmap_lock that a held invalidation or fault holds.
 */
static int start_ioctl_job(pthread_t *t, struct job *j);

static void go(struct job *j)
{
	char c = 0;

	if (write(j->gate[1], &c, 1) != 1)
		abort();
}

static void *ioctl_job(void *arg)
{
	struct job *j = arg;
	char c;

	if (read(j->gate[0], &c, 1) != 1)
		abort();
	j->ret = ioctl(j->dev, j->cmd, j->arg);
	__atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int start_ioctl_job(pthread_t *t, struct job *j)
{
	if (pipe(j->gate))
		return -1;
	return pthread_create(t, NULL, ioctl_job, j);
}

static void *dontneed_job(void *arg)
{
	struct job *j = arg;

	j->ret = madvise(j->addr, PAGE, MADV_DONTNEED);
	__atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *touch_job(void *arg)
{
	struct job *j = arg;

	__atomic_store_n((char *)j->addr, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

TEST_F(muc, interval_remove_waits_for_its_own_update_callbacks_only)
{
	struct job fault = { .addr = self->p };
	struct job rm = { .dev = self->dev, .cmd = MUC_IOC_REMOVE };
	pthread_t t1, t2;
	long long t0, dt;
	int x, y;

	x = insert(self->dev, self->p, 4 * PAGE, 1);
	y = insert(self->dev, self->p + 4 * PAGE, 4 * PAGE, 1);
	ASSERT_GE(x, 0);
	ASSERT_GE(y, 0);
	rm.arg = x;
	ASSERT_EQ(0, start_ioctl_job(&t2, &rm));

	/* A fault in x: x's update callback stops. */
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HOLD_UPDATE, x));
	ASSERT_EQ(0, pthread_create(&t1, NULL, touch_job, &fault));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_WAIT_HELD));

	/* Removing y does not wait for it. */
	t0 = now_ns();
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_REMOVE, y));
	dt = now_ns() - t0;
	EXPECT_LT(dt, QUICK_NS) TH_LOG("removing y took %lld ms",
				       dt / 1000000);

	/* Removing x does. */
	go(&rm);
	usleep(300000);
	EXPECT_EQ(0, __atomic_load_n(&rm.done, __ATOMIC_ACQUIRE));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_RELEASE));
	ASSERT_EQ(0, pthread_join(t2, NULL));
	ASSERT_EQ(0, rm.ret);
	ASSERT_EQ(0, pthread_join(t1, NULL));
	ASSERT_EQ(1, counters(self->dev).updates);
}

TEST_F(muc, interval_remove_does_not_wait_for_unrelated_invalidations)
{
	struct job inval = { .addr = self->p + 6 * PAGE };
	pthread_t t;
	long long t0, dt;
	int s;

	/* A plain subscriber, and an interval user elsewhere. */
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_SUBSCRIBE_MM));
	s = insert(self->dev, self->p, 4 * PAGE, 0);
	ASSERT_GE(s, 0);

	/* An invalidation outside the interval, held in the plain one. */
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HOLD_INVAL,
			   (uintptr_t)inval.addr));
	ASSERT_EQ(0, pthread_create(&t, NULL, dontneed_job, &inval));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_WAIT_HELD));

	t0 = now_ns();
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_REMOVE, s));
	dt = now_ns() - t0;
	EXPECT_LT(dt, QUICK_NS) TH_LOG("removing the interval took %lld ms",
				       dt / 1000000);

	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_RELEASE));
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_EQ(0, inval.ret);
}

/* More subscriptions over one page than the core keeps on its stack. */
TEST_F(muc, every_overlapping_interval_gets_the_update)
{
	int devs[3], i, j, n = 0;
	struct muc_counters c;

	for (i = 0; i < 3; i++) {
		devs[i] = open(MUC_DEV, O_RDWR);
		ASSERT_GE(devs[i], 0);
		for (j = 0; j < MUC_MAX_INTERVALS; j++, n++)
			ASSERT_LE(0, insert(devs[i], self->p, PAGES * PAGE, 1));
	}
	self->p[0] = 1;
	for (i = 0; i < 3; i++) {
		c = counters(devs[i]);
		ASSERT_EQ(MUC_MAX_INTERVALS, c.updates);
		ASSERT_EQ(MUC_MAX_INTERVALS, c.valid);
		close(devs[i]);
	}
	ASSERT_EQ(12, n);
}

TEST_HARNESS_MAIN
