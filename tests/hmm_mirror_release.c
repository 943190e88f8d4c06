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

TEST_F_TIMEOUT(release, during_migrate, 300)
{
	struct hmm_dmirror_cmd c = { .addr = (uintptr_t)self->r.mem,
				     .npages = 1 };
	struct timespec t0, t;
	pthread_t th;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, pthread_create(&th, NULL, migrator, &self->r));
	for (i = 0; i < RELEASES; i++) {
		if (ioctl(self->r.fd, HMM_DMIRROR_RELEASE, &c)) {
			snprintf(self->r.why, sizeof(self->r.why),
				 "release: %s", strerror(errno));
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (self->r.why[0] || t.tv_sec - t0.tv_sec >= SECONDS)
			break;
	}
	self->r.stop = 1;
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_EQ(0, self->r.why[0]) TH_LOG("%s", self->r.why);
	printf("# %d releases during %lu migrations\n", i, self->r.rounds);
	EXPECT_LT(0, self->r.rounds);
	/* The pages go back with the memory and the file. */
	munmap(self->r.mem, NPAGES * PS);
	close(self->r.fd);
	self->r.fd = -1;
	EXPECT_EQ(0, failnth_gauge(FAILNTH_HMM, "device_pages"));
}

TEST_HARNESS_MAIN
