// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_mirror_release: HMM_DMIRROR_RELEASE (give all device memory back)
 * while another thread migrates to the device, found by udmabuf_fuzz:
 *  - the release held the device's chunk lock while waiting for every
 *    page of the chunks to be freed, and a migration that held one of
 *    those pages waited for the lock to add a chunk: both hung,
 *    unkillable;
 *  - a chunk added while a release ran was freed under the adding thread,
 *    whose pages then went to the free list (WARNING in
 *    zone_device_page_init(), a use after free).
 * The releases must all return (bounded by the harness), the migrated
 * data must read back whole after each round, and once the file is
 * closed no device page may be left (the module's gauge).  The guest log
 * scan catches the WARNING.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#include "failnth.h"
#include "kselftest_harness.h"
#include "../hmm-mirror/hmm_mirror_uapi.h"

#define PS		4096UL
#define NPAGES		64
#define RELEASES	3000
#define SECONDS		20	/* the releases stop after this, done or not */

struct race {
	int fd;
	uint32_t *mem;
	volatile int stop;
	unsigned long rounds;
	char why[128];		/* the migrator's failure, or empty */
};

static void *migrator(void *arg)
{
	static uint32_t dev[NPAGES * PS / 4];
	struct race *r = arg;
	unsigned long i;

	while (!r->stop) {
		struct hmm_dmirror_cmd c = {
			.addr = (uintptr_t)r->mem,
			.ptr = (uintptr_t)dev,
			.npages = NPAGES,
		};
		uint32_t tag = r->rounds + 1;

		for (i = 0; i < NPAGES * PS / 4; i++)
			r->mem[i] = tag ^ i;
		/* Partial (ENOENT) or out of device memory: no matter. */
		if (ioctl(r->fd, HMM_DMIRROR_MIGRATE_TO_DEV, &c) &&
		    errno != ENOENT && errno != ENOMEM) {
			snprintf(r->why, sizeof(r->why), "migrate: %s",
				 strerror(errno));
			return NULL;
		}
		/* Whatever went to the device, and back, reads whole. */
		for (i = 0; i < NPAGES * PS / 4; i++)
			if (r->mem[i] != (tag ^ i)) {
				snprintf(r->why, sizeof(r->why),
					 "round %lu: word %lu reads %#x, not %#lx",
					 r->rounds, i, r->mem[i], tag ^ i);
				return NULL;
			}
		r->rounds++;
	}
	return NULL;
}

FIXTURE(release) {
	struct race r;
};

FIXTURE_VARIANT(release) {
	const char *dev;
};

FIXTURE_VARIANT_ADD(release, device_private) {
	.dev = "/dev/hmm_dmirror0",
};

FIXTURE_VARIANT_ADD(release, device_coherent) {
	.dev = "/dev/hmm_dmirror2",
};

FIXTURE_SETUP(release)
{
	memset(&self->r, 0, sizeof(self->r));
	self->r.fd = open(variant->dev, O_RDWR | O_CLOEXEC);
	if (self->r.fd < 0)
		SKIP(return, "no %s (load hmm_mirror.ko)", variant->dev);
	self->r.mem = mmap(NULL, NPAGES * PS, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->r.mem);
}

FIXTURE_TEARDOWN(release)
{
	if (self->r.fd < 0)
		return;
	munmap(self->r.mem, NPAGES * PS);
	close(self->r.fd);
}

/*
 * Up to RELEASES releases, for at most SECONDS, until a thread of @r
 * failed; then tells the threads to stop.  Returns the releases done.
 */
static int release_while_racing(struct race *r)
{
	struct hmm_dmirror_cmd c = { .addr = (uintptr_t)r->mem, .npages = 1 };
	struct timespec t0, t;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < RELEASES; i++) {
		if (ioctl(r->fd, HMM_DMIRROR_RELEASE, &c)) {
			snprintf(r->why, sizeof(r->why), "release: %s",
				 strerror(errno));
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (r->why[0] || t.tv_sec - t0.tv_sec >= SECONDS)
			break;
	}
	r->stop = 1;
	return i;
}

/* The pages go back with the memory and the file: no device page left. */
static long close_and_count_device_pages(struct race *r)
{
	munmap(r->mem, NPAGES * PS);
	close(r->fd);
	r->fd = -1;
	return failnth_gauge(FAILNTH_HMM, "device_pages");
}

TEST_F_TIMEOUT(release, during_migrate, 300)
{
	pthread_t th;
	int i;

	ASSERT_EQ(0, pthread_create(&th, NULL, migrator, &self->r));
	i = release_while_racing(&self->r);
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_EQ(0, self->r.why[0]) TH_LOG("%s", self->r.why);
	printf("# %d releases during %lu migrations\n", i, self->r.rounds);
	EXPECT_LT(0, self->r.rounds);
	EXPECT_EQ(0, close_and_count_device_pages(&self->r));
}

struct releaser {
	int fd;
	volatile int done;
	int err;
};

static void *releaser(void *arg)
{
	struct releaser *rl = arg;
	struct hmm_dmirror_cmd c = { .npages = 1 };

	rl->err = ioctl(rl->fd, HMM_DMIRROR_RELEASE, &c) ? errno : 0;
	rl->done = 1;
	return NULL;
}

/*
 * Exclusive (atomic) access to memory on the device, then a release.  On
 * 6.12 a page made device-exclusive loses its mapcount, so no migration
 * can move it: a release that met one waited for it forever, unkillable.
 * After RELEASE_WAIT seconds the test touches the pages, in case that lets
 * such a release end, and fails.  With hmm_mirror.ko before the fix it did
 * not end: the release thread stays in D state and only the harness's (or
 * the VM's) timeout ends the test.
 */
#define RELEASE_WAIT	30

TEST_F_TIMEOUT(release, exclusive_on_device, 120)
{
	struct hmm_dmirror_cmd c = {
		.addr = (uintptr_t)self->r.mem,
		.npages = NPAGES,
	};
	static uint32_t dev[NPAGES * PS / 4];
	struct releaser rl = { .fd = self->r.fd };
	volatile uint32_t *mem = self->r.mem;
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	unsigned long i, waited;
	pthread_t th;

	for (i = 0; i < NPAGES * PS / 4; i++)
		mem[i] = 0x5a000000 ^ i;
	c.ptr = (uintptr_t)dev;
	ASSERT_EQ(0, ioctl(self->r.fd, HMM_DMIRROR_MIGRATE_TO_DEV, &c))
		TH_LOG("migrate: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(self->r.fd, HMM_DMIRROR_EXCLUSIVE, &c))
		TH_LOG("exclusive: %s", strerror(errno));
	for (i = 0; i < NPAGES * PS / 4; i++)
		ASSERT_EQ(0x5a000000 ^ i, dev[i]) TH_LOG("word %lu", i);
	/* The device holds the pages for atomic access. */
	ASSERT_EQ(-1, ioctl(self->r.fd, HMM_DMIRROR_CHECK_EXCLUSIVE, &c));
	ASSERT_EQ(EPERM, errno);

	ASSERT_EQ(0, pthread_create(&th, NULL, releaser, &rl));
	for (waited = 0; !rl.done && waited < RELEASE_WAIT * 100; waited++)
		nanosleep(&tick, NULL);
	if (!rl.done) {
		/* The CPU's touch ends the exclusive access. */
		for (i = 0; i < NPAGES; i++)
			(void)mem[i * PS / 4];
	}
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_LT(waited, RELEASE_WAIT * 100)
		TH_LOG("the release waited for exclusive pages");
	EXPECT_EQ(0, rl.err) TH_LOG("release: %s", strerror(rl.err));
	for (i = 0; i < NPAGES * PS / 4; i++)
		ASSERT_EQ(0x5a000000 ^ i, mem[i]) TH_LOG("word %lu", i);
	EXPECT_EQ(0, close_and_count_device_pages(&self->r));
}

static void *exclusiver(void *arg)
{
	static uint32_t dev[NPAGES * PS / 4];
	struct race *r = arg;

	while (!r->stop) {
		struct hmm_dmirror_cmd c = {
			.addr = (uintptr_t)r->mem,
			.ptr = (uintptr_t)dev,
			.npages = NPAGES,
		};

		/*
		 * A page a racing migration put on the device: EBUSY; one it
		 * took before the read back: ENOENT.
		 */
		if (ioctl(r->fd, HMM_DMIRROR_EXCLUSIVE, &c) && errno != EBUSY &&
		    errno != ENOENT) {
			snprintf(r->why, sizeof(r->why), "exclusive: %s",
				 strerror(errno));
			return NULL;
		}
	}
	return NULL;
}

/*
 * Releases while one thread migrates to the device and another takes the
 * same pages for exclusive access: every release must return (a hang here
 * is unkillable, bounded only by the harness), and the migrator's data
 * must read whole.
 */
TEST_F_TIMEOUT(release, during_exclusive, 300)
{
	pthread_t mig, excl;
	int i;

	ASSERT_EQ(0, pthread_create(&mig, NULL, migrator, &self->r));
	ASSERT_EQ(0, pthread_create(&excl, NULL, exclusiver, &self->r));
	i = release_while_racing(&self->r);
	ASSERT_EQ(0, pthread_join(mig, NULL));
	ASSERT_EQ(0, pthread_join(excl, NULL));
	ASSERT_EQ(0, self->r.why[0]) TH_LOG("%s", self->r.why);
	printf("# %d releases during %lu migrations\n", i, self->r.rounds);
	EXPECT_LT(0, self->r.rounds);
	EXPECT_EQ(0, close_and_count_device_pages(&self->r));
}

TEST_HARNESS_MAIN
