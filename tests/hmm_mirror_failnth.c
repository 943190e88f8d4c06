// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_mirror_failnth: hmm_mirror.ko's operations with each of their
 * injection points failing in turn (make test DEBUG=1; skipped on a kernel
 * without fault injection): open, HMM_DMIRROR_PREFILL with the CPU faults
 * it mirrors, device read, device write, migration to the device and back,
 * and release.  At each N the operation succeeds or fails with ENOMEM or
 * EFAULT (ENOENT for a migration that moved only part), leaves no mirror
 * behind when it fails (nor fd or mapping, but for the steps of a run that
 * succeeded), a CPU access ends in the right bytes or SIGBUS, afterwards
 * the device and the CPU see the same memory, and once everything is
 * closed no mirror or device page of it lives (the module's gauges).  The
 * runner checks the guest log, kmemleak and that the module unloads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "failnth.h"
#include "kselftest_harness.h"
#include "../hmm-mirror/hmm_mirror_uapi.h"

#define PS		4096UL
#define NPAGES		64
#define SIZE		(NPAGES * PS)
#define DEV		"/dev/hmm_dmirror0"

struct ctx {
	int fnth;
	int fd;			/* the mirror, or -1 */
	int memfd;		/* shmem backing @mem, or -1 for anonymous */
	uint32_t *mem;		/* what the device mirrors */
	uint32_t *want;		/* what @mem must hold */
	uint32_t *dev;		/* what the device read or writes */
	unsigned int gen;
	char why[400];
	char report[1024];
};

static void fill(uint32_t *p, unsigned int gen)
{
	unsigned long i;

	for (i = 0; i < SIZE / 4; i++)
		p[i] = gen * 2654435761u + i;
}

static int dmirror(int fd, unsigned long req, void *addr, void *ptr,
		   unsigned long npages)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)ptr,
		.npages = npages,
	};

	return ioctl(fd, req, &cmd) ? -errno : 0;
}

static int open_mirror(struct ctx *c)
{
	c->fd = open(DEV, O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		snprintf(c->why, sizeof(c->why), "open %s: %m", DEV);
	return c->fd < 0 ? -1 : 0;
}

/* @mem: shared shmem (prefill mirrors its faults) or private anonymous. */
static int map_mem(struct ctx *c, bool shmem)
{
	c->memfd = -1;
	if (shmem) {
		c->memfd = memfd_create("hmm-failnth", MFD_CLOEXEC);
		if (c->memfd < 0 || ftruncate(c->memfd, SIZE))
			goto fail;
		c->mem = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			      c->memfd, 0);
	} else {
		c->mem = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (c->mem == MAP_FAILED) {
		c->mem = NULL;
		goto fail;
	}
	return 0;
fail:
	snprintf(c->why, sizeof(c->why), "memory: %m");
	return -1;
}

/* The CPU's view and the device's both hold c->want.  Unarmed. */
static int check_both(struct ctx *c)
{
	int fd = c->fd, ret;

	if (memcmp(c->mem, c->want, SIZE)) {
		snprintf(c->why, sizeof(c->why), "the CPU reads a wrong byte");
		return -1;
	}
	if (fd < 0 && open_mirror(c))
		return -1;
	memset(c->dev, 0, SIZE);
	ret = dmirror(c->fd, HMM_DMIRROR_READ, c->mem, c->dev, NPAGES);
	if (ret)
		snprintf(c->why, sizeof(c->why), "device read: %s",
			 strerror(-ret));
	else if (memcmp(c->dev, c->want, SIZE)) {
		snprintf(c->why, sizeof(c->why),
			 "the device reads a wrong byte");
		ret = -1;
	}
	if (fd < 0) {
		close(c->fd);
		c->fd = -1;
	}
	return ret ? -1 : 0;
}

/* Memory setup_busy() migrates to the device (anonymous, private). */
static uint32_t *anon;

static void put_all(void *arg)
{
	struct ctx *c = arg;

	if (anon)
		munmap(anon, SIZE);
	anon = NULL;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->mem)
		munmap(c->mem, SIZE);
	c->mem = NULL;
	if (c->memfd >= 0)
		close(c->memfd);
	c->memfd = -1;
}

static int check_both_op(void *arg, int ret)
{
	return check_both(arg);
}

/* open(): the mirror and its interval notifier. */
static int setup_open(void *arg)
{
	struct ctx *c = arg;

	if (map_mem(c, true))
		return -1;
	fill(c->want, ++c->gen);
	memcpy(c->mem, c->want, SIZE);
	return 0;
}

static int run_open(void *arg)
{
	struct ctx *c = arg;

	c->fd = open(DEV, O_RDWR | O_CLOEXEC);
	return c->fd < 0 ? -errno : 0;
}

/* HMM_DMIRROR_PREFILL, then CPU faults whose updates it mirrors. */
static int setup_prefill(void *arg)
{
	struct ctx *c = arg;

	return open_mirror(c) || map_mem(c, true) ? -1 : 0;
}

static int run_prefill(void *arg)
{
	struct ctx *c = arg;
	int ret;

	fill(c->want, ++c->gen);
	ret = dmirror(c->fd, HMM_DMIRROR_PREFILL, c->mem, NULL, NPAGES);
	FAILNTH_FAULTS_BEGIN();
	memcpy(c->mem, c->want, SIZE);
	FAILNTH_FAULTS_END();
	return ret;
}

/* Device reads and writes of memory the CPU filled. */
static int setup_filled(void *arg)
{
	struct ctx *c = arg;

	if (setup_prefill(c))
		return -1;
	fill(c->want, ++c->gen);
	memcpy(c->mem, c->want, SIZE);
	return 0;
}

static int run_read(void *arg)
{
	struct ctx *c = arg;

	return dmirror(c->fd, HMM_DMIRROR_READ, c->mem, c->dev, NPAGES);
}

static int check_read(void *arg, int ret)
{
	struct ctx *c = arg;

	if (!ret && memcmp(c->dev, c->want, SIZE)) {
		snprintf(c->why, sizeof(c->why),
			 "the device read a wrong byte");
		return -1;
	}
	return check_both(c);
}

static int run_write(void *arg)
{
	struct ctx *c = arg;

	fill(c->dev, c->gen + 1);
	return dmirror(c->fd, HMM_DMIRROR_WRITE, c->mem, c->dev, NPAGES);
}

/*
 * A write that succeeded stored every page; one that failed stored each
 * page whole or not at all.
 */
static int check_write(void *arg, int ret)
{
	struct ctx *c = arg;
	unsigned long pg;

	for (pg = 0; pg < NPAGES; pg++) {
		uint32_t *m = c->mem + pg * (PS / 4);
		uint32_t *w = c->want + pg * (PS / 4);
		uint32_t *d = c->dev + pg * (PS / 4);

		if (!memcmp(m, d, PS)) {
			memcpy(w, d, PS);
			continue;
		}
		if (!ret) {
			snprintf(c->why, sizeof(c->why),
				 "the write succeeded without page %lu", pg);
			return -1;
		}
		if (memcmp(m, w, PS)) {
			snprintf(c->why, sizeof(c->why),
				 "page %lu is neither old nor new", pg);
			return -1;
		}
	}
	c->gen++;
	return check_both(c);
}

/* Migration of private anonymous memory to the device, then a CPU read. */
static int setup_anon(void *arg)
{
	struct ctx *c = arg;

	if (open_mirror(c) || map_mem(c, false))
		return -1;
	fill(c->want, ++c->gen);
	memcpy(c->mem, c->want, SIZE);
	return 0;
}

static int run_migrate(void *arg)
{
	struct ctx *c = arg;
	volatile uint32_t *m = c->mem;
	unsigned long pg;
	int ret;

	ret = dmirror(c->fd, HMM_DMIRROR_MIGRATE_TO_DEV, c->mem, c->dev,
		      NPAGES);
	/* Each page faults back to system memory. */
	FAILNTH_FAULTS_BEGIN();
	for (pg = 0; pg < NPAGES; pg++)
		(void)m[pg * (PS / 4)];
	FAILNTH_FAULTS_END();
	return ret;
}

static int setup_on_device(void *arg)
{
	struct ctx *c = arg;

	if (setup_anon(c))
		return -1;
	if (dmirror(c->fd, HMM_DMIRROR_MIGRATE_TO_DEV, c->mem, c->dev,
		    NPAGES)) {
		snprintf(c->why, sizeof(c->why), "migrate to device: %m");
		return -1;
	}
	return 0;
}

static int run_migrate_back(void *arg)
{
	struct ctx *c = arg;

	return dmirror(c->fd, HMM_DMIRROR_MIGRATE_TO_SYS, c->mem, NULL,
		       NPAGES);
}

/*
 * Release with everything in use: a prefill window over shmem the CPU
 * faulted, device entries, anonymous pages on the device.
 */
static int setup_busy(void *arg)
{
	struct ctx *c = arg;

	if (setup_filled(c))
		return -1;
	if (dmirror(c->fd, HMM_DMIRROR_READ, c->mem, c->dev, NPAGES)) {
		snprintf(c->why, sizeof(c->why), "device read: %m");
		return -1;
	}
	anon = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (anon == MAP_FAILED) {
		snprintf(c->why, sizeof(c->why), "mmap: %m");
		anon = NULL;
		return -1;
	}
	memcpy(anon, c->want, SIZE);
	if (dmirror(c->fd, HMM_DMIRROR_MIGRATE_TO_DEV, anon, c->dev, NPAGES)) {
		snprintf(c->why, sizeof(c->why), "migrate to device: %m");
		return -1;
	}
	return 0;
}

static int run_release(void *arg)
{
	struct ctx *c = arg;

	close(c->fd);
	c->fd = -1;
	return 0;
}

/* The pages left on the device come back once the mirror is gone. */
static int check_release(void *arg, int ret)
{
	struct ctx *c = arg;

	if (memcmp(anon, c->want, SIZE)) {
		snprintf(c->why, sizeof(c->why),
			 "a page migrated before the release reads wrong");
		return -1;
	}
	return check_both(c);
}

FIXTURE(hmm) {
	struct ctx c;
};

FIXTURE_SETUP(hmm)
{
	struct ctx *c = &self->c;

	memset(c, 0, sizeof(*c));
	c->fd = c->memfd = -1;
	c->fnth = failnth_open();
	if (c->fnth < 0)
		SKIP(return, "no fault injection (make test DEBUG=1)");
	if (access(DEV, R_OK | W_OK))
		SKIP(return, "no %s (load hmm_mirror.ko)", DEV);
	ASSERT_LE(0, failnth_gauge(FAILNTH_HMM, "live_mirrors"))
		TH_LOG("no live gauges in %s", FAILNTH_HMM);
	c->want = malloc(SIZE);
	c->dev = malloc(SIZE);
	ASSERT_NE(NULL, c->want);
	ASSERT_NE(NULL, c->dev);
	/* Touched now: the armed runs take no fault on them. */
	memset(c->want, 0, SIZE);
	memset(c->dev, 0, SIZE);
	ASSERT_EQ(0, failnth_catch_faults());
}

FIXTURE_TEARDOWN(hmm)
{
	if (self->c.fnth < 0)
		return;
	close(self->c.fnth);
	free(self->c.want);
	free(self->c.dev);
}

static void sweep(struct __test_metadata *_metadata, struct ctx *c,
		  const struct failnth_op *op)
{
	int n = failnth_sweep(c->fnth, op, c, c->why, c->report,
			      sizeof(c->report));

	if (n >= 0)
		printf("# hmm-mirror %s: %d injection points passed\n",
		       op->name, n);
	ASSERT_LE(0, n) TH_LOG("%s", c->report);
}

#define SWEEP_TIMEOUT	600
#define HMM_ERRNOS	{ ENOMEM, EFAULT }

TEST_F_TIMEOUT(hmm, open, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"open", setup_open, run_open, check_both_op, put_all,
		HMM_ERRNOS, .atomic = true,
	};

	sweep(_metadata, &self->c, &op);
}

TEST_F_TIMEOUT(hmm, prefill, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"HMM_DMIRROR_PREFILL and CPU faults", setup_prefill,
		run_prefill, check_both_op, put_all, HMM_ERRNOS,
	};

	sweep(_metadata, &self->c, &op);
}

TEST_F_TIMEOUT(hmm, device_read, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"device read", setup_filled, run_read, check_read, put_all,
		HMM_ERRNOS, .atomic = true,
	};

	sweep(_metadata, &self->c, &op);
}

TEST_F_TIMEOUT(hmm, device_write, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"device write", setup_filled, run_write, check_write,
		put_all, HMM_ERRNOS, .atomic = true,
	};

	sweep(_metadata, &self->c, &op);
}

TEST_F_TIMEOUT(hmm, migrate, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"migrate to the device and fault back", setup_anon,
		run_migrate, check_both_op, put_all,
		/* ENOENT: not every page went, as test_hmm.ko says it. */
		{ ENOMEM, EFAULT, ENOENT },
		.sigbus = true,
	};

	sweep(_metadata, &self->c, &op);
}

TEST_F_TIMEOUT(hmm, migrate_back, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		/* Its pages may go back before a failure (the final copy). */
		"migrate back to system memory", setup_on_device,
		run_migrate_back, check_both_op, put_all, HMM_ERRNOS,
	};

	sweep(_metadata, &self->c, &op);
}

TEST_F_TIMEOUT(hmm, release, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"release", setup_busy, run_release, check_release, put_all,
		HMM_ERRNOS,
	};

	sweep(_metadata, &self->c, &op);
}

/*
 * CPU touches of pages on the device, each injection point failing in
 * turn: the one that gets no system page for a touched page must end in
 * SIGBUS (a refault would find no page either for as long as memory stays
 * short), and every run ends with the right bytes or SIGBUS.
 */
static int sigbus_seen;

static int run_touch(void *arg)
{
	struct ctx *c = arg;
	volatile uint32_t *m = c->mem;
	unsigned long pg;

	FAILNTH_FAULTS_BEGIN();
	for (pg = 0; pg < NPAGES; pg++)
		(void)m[pg * (PS / 4)];
	FAILNTH_FAULTS_END();
	return 0;
}

static int check_touch(void *arg, int ret)
{
	sigbus_seen += ret == FAILNTH_SIGBUS;
	return check_both(arg);
}

TEST_F_TIMEOUT(hmm, fault_back, SWEEP_TIMEOUT)
{
	static const struct failnth_op op = {
		"CPU faults on device pages", setup_on_device, run_touch,
		check_touch, put_all, { 0 }, .sigbus = true,
	};

	sigbus_seen = 0;
	sweep(_metadata, &self->c, &op);
	EXPECT_LT(0, sigbus_seen)
		TH_LOG("no touch without a system page ended in SIGBUS");
}

TEST_HARNESS_MAIN
