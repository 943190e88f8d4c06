// SPDX-License-Identifier: GPL-2.0
/*
 * What the mmu notifier core does around update subscribers, through the
 * mmu_update_core module: MMF_HAS_MMU_UPDATE follows the subscribers, plain
 * subscribers get no update while an invalidation runs and keep getting them
 * after unsubscribing in the middle of one, and removing an interval
 * subscription waits for its own update callbacks only, not for other
 * subscriptions' callbacks or for unrelated invalidations.  Also that the
 * invalidations of an mm still call every invalidate_range_end() and
 * arch_invalidate_secondary_tlbs() op its plain subscribers have, as they
 * come and go, now that the core skips the walks nobody needs.
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

TEST_F(muc, mmf_flag_follows_update_subscribers)
{
	int a, b;

	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_SUBSCRIBE_MM));
	ASSERT_EQ(1, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	a = insert(self->dev, self->p, PAGE, 1);
	ASSERT_GE(a, 0);
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_UNSUBSCRIBE_MM));
	/* The interval subscriber is still there. */
	ASSERT_EQ(1, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_REMOVE, a));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HAS_UPDATE));

	/* Interval subscribers without an update op do not count. */
	b = insert(self->dev, self->p, PAGE, 0);
	ASSERT_GE(b, 0);
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_SUBSCRIBE_MM));
	ASSERT_EQ(1, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_UNSUBSCRIBE_MM));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_REMOVE, b));

	/* Faults without a subscriber report nothing. */
	self->p[0] = 1;
	ASSERT_EQ(0, counters(self->dev).updates);
}

/* The bare subscriber of make bench's floor: only an update op sets the bit. */
TEST_F(muc, bare_plain_subscriber_sets_the_flag_with_an_update_op_only)
{
	ASSERT_EQ(-1, ioctl(self->dev, MUC_IOC_SUBSCRIBE_BARE,
			    MUC_BARE_NONBLOCK_FAIL + 1UL));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_SUBSCRIBE_BARE, MUC_BARE_INVAL));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	/* One plain subscription a file. */
	ASSERT_EQ(-1, ioctl(self->dev, MUC_IOC_SUBSCRIBE_BARE, MUC_BARE_UPDATE));
	ASSERT_EQ(EBUSY, errno);
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_UNSUBSCRIBE_MM));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_SUBSCRIBE_BARE, MUC_BARE_UPDATE));
	ASSERT_EQ(1, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	self->p[0] = 1;
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_UNSUBSCRIBE_MM));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	/* Its callbacks count nothing. */
	ASSERT_EQ(0, counters(self->dev).updates);
}

/*
 * A paused subscriber is not called, and the mm's faults skip updates when
 * it is the only one; resumed, it gets updates that validate.
 */
TEST_F(muc, paused_subscriber_gets_no_updates_until_resumed)
{
	struct muc_counters c;

	ASSERT_EQ(-1, ioctl(self->dev, MUC_IOC_PAUSE_UPDATES, 1));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_SUBSCRIBE_MM));
	ASSERT_EQ(-1, ioctl(self->dev, MUC_IOC_PAUSE_UPDATES, 2));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_PAUSE_UPDATES, 1));
	/* Twice is once. */
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_PAUSE_UPDATES, 1));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	self->p[0] = 1;
	ASSERT_EQ(0, counters(self->dev).updates);

	/* An interval subscriber is not paused with it. */
	ASSERT_GE(insert(self->dev, self->p + PAGE, PAGE, 1), 0);
	ASSERT_EQ(1, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	self->p[PAGE] = 1;
	c = counters(self->dev);
	ASSERT_EQ(1, c.updates);
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_REMOVE, 0));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HAS_UPDATE));

	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_PAUSE_UPDATES, 0));
	ASSERT_EQ(1, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	self->p[2 * PAGE] = 1;
	c = counters(self->dev);
	ASSERT_EQ(2, c.updates);
	ASSERT_EQ(2, c.valid);

	/* Paused when it leaves: the bit is clear, and stays so. */
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_PAUSE_UPDATES, 1));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_UNSUBSCRIBE_MM));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_SUBSCRIBE_MM));
	ASSERT_EQ(1, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_UNSUBSCRIBE_MM));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HAS_UPDATE));

	/* A subscriber without an update op has nothing to pause. */
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_SUBSCRIBE_BARE, MUC_BARE_INVAL));
	ASSERT_EQ(-1, ioctl(self->dev, MUC_IOC_PAUSE_UPDATES, 1));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_UNSUBSCRIBE_MM));
}

/* Write and zap every page: one invalidation and one TLB flush each. */
static int write_and_zap(char *p)
{
	int i;

	for (i = 0; i < PAGES; i++) {
		p[i * PAGE] = 1;
		if (madvise(p + i * PAGE, PAGE, MADV_DONTNEED))
			return -errno;
	}
	return 0;
}

/*
 * The paired subscriber's counters once its starts and ends match: another
 * task (kcompactd, kswapd) may be inside an invalidation of this mm while
 * they are read.  Gives up after about a second.
 */
static bool paired_balanced(int dev, struct muc_counters *c)
{
	int i;

	for (i = 0; i < 100; i++) {
		*c = counters(dev);
		if (c->invalidations == c->range_ends)
			return true;
		usleep(10000);
	}
	return false;
}

TEST_F(muc, every_range_end_and_secondary_tlb_op_is_called)
{
	int tlbs, start_only;
	struct muc_counters c;
	__u64 seen_tlbs, starts;

	tlbs = open(MUC_DEV, O_RDWR);
	ASSERT_GE(tlbs, 0);
	start_only = open(MUC_DEV, O_RDWR);
	ASSERT_GE(start_only, 0);
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_SUBSCRIBE_BARE, MUC_BARE_PAIRED));
	ASSERT_EQ(0, ioctl(tlbs, MUC_IOC_SUBSCRIBE_BARE, MUC_BARE_TLBS));
	ASSERT_EQ(0, ioctl(start_only, MUC_IOC_SUBSCRIBE_BARE, MUC_BARE_INVAL));

	/* All three kinds on the list. */
	ASSERT_EQ(0, write_and_zap(self->p));
	ASSERT_TRUE(paired_balanced(self->dev, &c));
	ASSERT_GE(c.invalidations, PAGES);
	ASSERT_EQ(0, c.secondary_tlbs);
	ASSERT_GE(counters(tlbs).secondary_tlbs, PAGES);

	/* One with neither leaves: the pair's ends and the TLB op remain. */
	ASSERT_EQ(0, ioctl(start_only, MUC_IOC_UNSUBSCRIBE_MM));
	starts = c.invalidations;
	seen_tlbs = counters(tlbs).secondary_tlbs;
	ASSERT_EQ(0, write_and_zap(self->p));
	ASSERT_TRUE(paired_balanced(self->dev, &c));
	ASSERT_GE(c.invalidations, starts + PAGES);
	ASSERT_GE(counters(tlbs).secondary_tlbs, seen_tlbs + PAGES);

	/* The TLB op leaves: ends still come, the TLB op is not called. */
	ASSERT_EQ(0, ioctl(tlbs, MUC_IOC_UNSUBSCRIBE_MM));
	seen_tlbs = counters(tlbs).secondary_tlbs;
	starts = c.invalidations;
	ASSERT_EQ(0, write_and_zap(self->p));
	ASSERT_TRUE(paired_balanced(self->dev, &c));
	ASSERT_GE(c.invalidations, starts + PAGES);
	ASSERT_EQ(seen_tlbs, counters(tlbs).secondary_tlbs);

	/* The TLB op back, the pair gone: only the TLB op is called. */
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_UNSUBSCRIBE_MM));
	c = counters(self->dev);
	ASSERT_EQ(0, ioctl(tlbs, MUC_IOC_SUBSCRIBE_BARE, MUC_BARE_TLBS));
	ASSERT_EQ(0, write_and_zap(self->p));
	ASSERT_GE(counters(tlbs).secondary_tlbs, seen_tlbs + PAGES);
	ASSERT_EQ(c.invalidations, counters(self->dev).invalidations);
	ASSERT_EQ(c.range_ends, counters(self->dev).range_ends);
	close(start_only);
	close(tlbs);
}

TEST_F(muc, no_plain_update_while_an_invalidation_runs)
{
	struct job j = { .addr = self->p };
	struct muc_counters c;
	pthread_t t;

	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_SUBSCRIBE_MM));
	self->p[PAGE] = 1;
	c = counters(self->dev);
	ASSERT_EQ(1, c.updates);
	ASSERT_EQ(1, c.valid);

	/* An invalidation of page 0 stops in the subscriber's callback. */
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HOLD_INVAL, (uintptr_t)self->p));
	ASSERT_EQ(0, pthread_create(&t, NULL, dontneed_job, &j));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_WAIT_HELD));

	/* A fault elsewhere now is not delivered. */
	self->p[2 * PAGE] = 1;
	ASSERT_EQ(1, counters(self->dev).updates);

	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_RELEASE));
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_EQ(0, j.ret);

	/* Once it ended, faults are delivered and validate again. */
	self->p[3 * PAGE] = 1;
	c = counters(self->dev);
	ASSERT_EQ(2, c.updates);
	ASSERT_EQ(2, c.valid);
}

TEST_F(muc, unsubscribe_during_an_invalidation_keeps_counts_paired)
{
	struct job inval = { .addr = self->p };
	struct job unsub = { .dev = self->dev, .cmd = MUC_IOC_UNSUBSCRIBE_MM };
	struct muc_counters c;
	pthread_t t1, t2;
	int i;

	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_SUBSCRIBE_MM));
	ASSERT_EQ(0, start_ioctl_job(&t2, &unsub));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HOLD_INVAL, (uintptr_t)self->p));
	ASSERT_EQ(0, pthread_create(&t1, NULL, dontneed_job, &inval));
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_WAIT_HELD));

	/*
	 * The last update subscriber leaves while the invalidation it was
	 * counted for runs: unregistering takes it off the list, then waits
	 * for SRCU, so for the held callback.
	 */
	go(&unsub);
	for (i = 0; i < 1000 && ioctl(self->dev, MUC_IOC_HAS_UPDATE); i++)
		usleep(10000);
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_HAS_UPDATE));
	ASSERT_EQ(0, __atomic_load_n(&unsub.done, __ATOMIC_ACQUIRE));

	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_RELEASE));
	ASSERT_EQ(0, pthread_join(t1, NULL));
	ASSERT_EQ(0, pthread_join(t2, NULL));
	ASSERT_EQ(0, inval.ret);
	ASSERT_EQ(0, unsub.ret);

	/* Its end was counted: a new subscriber gets valid updates. */
	ASSERT_EQ(0, ioctl(self->dev, MUC_IOC_SUBSCRIBE_MM));
	self->p[PAGE] = 1;
	c = counters(self->dev);
	ASSERT_EQ(1, c.updates);
	ASSERT_EQ(1, c.valid);
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

	/* A plain update subscriber, and an interval user elsewhere. */
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

TEST_HARNESS_MAIN
