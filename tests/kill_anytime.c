// SPDX-License-Identifier: GPL-2.0
/*
 * kill_anytime: a process killed (SIGKILL) in the middle of the modules'
 * long operations leaves nothing behind.
 *  - create_list_1g: during a 1 GiB UDMABUF_CREATE_LIST (1024 entries of
 *    1 MiB over holes that the create fills), 0 to 300 ms after the fill
 *    began;
 *  - refill_256: while it refills, by faults or by write(2), pages that
 *    256 buffers watch;
 *  - hmm_migrate: while it migrates 64 MiB to the device and back.
 * Each is killed at several delays, and must die of the SIGKILL within
 * WAIT_S.  Afterwards the 256 buffers (which this process holds) each read
 * what the memfd holds, the modules hold nothing of the dead process
 * (their debugfs gauges: udmabuf's buffers, pins and watches, hmm_mirror's
 * mirrors and device pages), and its memory is freed.  A create killed
 * halfway through its fill must stop there (it fills fewer pages than a
 * whole create).  The runner then checks kmemleak, the guest log, and that
 * both modules unload.
 */
#include "udmabuf_lib.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include "failnth.h"
#include "knob.h"
#include "kselftest_harness.h"
#include "../hmm-mirror/hmm_mirror_uapi.h"

#define SIZE_LIMIT	"/sys/module/udmabuf/parameters/size_limit_mb"
#define WAIT_S		120	/* how long a killed child may take to go */

static const int delays_ms[] = { 5, 50, 200, 1000, 3000 };

/* The longest a killed child took to go, in ms. */
static int slowest_ms;

/*
 * Kill @pid after @ms and reap it (bounded): 0, -1 if it did not go, or
 * its wait status if something else than the kill ended it.
 */
static int kill_after(pid_t pid, int ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };
	int i, st;

	nanosleep(&ts, NULL);
	kill(pid, SIGKILL);
	for (i = 0; i < WAIT_S * 100; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			if (i * 10 > slowest_ms)
				slowest_ms = i * 10;
			/* Not a child that failed before the kill came. */
			return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ?
			       0 : st;
		}
		usleep(10000);
	}
	return -1;
}

static bool gauges_zero(char *why, size_t len)
{
	long b = failnth_gauge(FAILNTH_UDMABUF, "live_buffers");
	long p = failnth_gauge(FAILNTH_UDMABUF, "live_pins");
	long w = failnth_gauge(FAILNTH_UDMABUF, "live_watches");
	long m = failnth_gauge(FAILNTH_HMM, "live_mirrors");
	long d = failnth_gauge(FAILNTH_HMM, "device_pages");

	snprintf(why, len,
		 "live buffers %ld, pins %ld, watches %ld, mirrors %ld, device pages %ld",
		 b, p, w, m, d);
	return !b && !p && !w && !m && !d;
}

/* The child of create_list_1g: holes, then one 1 GiB CREATE_LIST. */
static void create_1g(int done)
{
	struct {
		struct udmabuf_create_list head;
		struct udmabuf_create_item items[1024];
	} *l;
	int dev, memfd, i;

	l = calloc(1, sizeof(*l));
	dev = open("/dev/udmabuf", O_RDWR);
	memfd = ub_memfd(UB_SHMEM, 1UL << 30);
	if (!l || dev < 0 || memfd < 0)
		_exit(2);
	l->head.count = 1024;
	for (i = 0; i < 1024; i++)
		l->items[i] = (struct udmabuf_create_item){
			.memfd = memfd,
			.offset = (uint64_t)i << 20,
			.size = 1 << 20,
		};
	if (ioctl(dev, UDMABUF_CREATE_LIST, l) < 0)
		_exit(3);
	/* Tell the parent the create came through before the kill. */
	if (write(done, "x", 1) != 1)
		_exit(4);
	pause();
	_exit(0);
}

FIXTURE(kill) {
	long size_limit;
};

FIXTURE_SETUP(kill)
{
	self->size_limit = read_long(SIZE_LIMIT);
	if (self->size_limit < 0)
		SKIP(return, "no udmabuf.ko loaded");
}

FIXTURE_TEARDOWN(kill)
{
	if (self->size_limit > 0)
		write_long(SIZE_LIMIT, self->size_limit);
}

TEST_F_TIMEOUT(kill, create_list_1g, 900)
{
	long shmem0 = ub_meminfo("Shmem");
	int d, i, done = 0, cut = 0;
	char why[160];

	ASSERT_TRUE(gauges_zero(why, sizeof(why))) TH_LOG("before: %s", why);
	ASSERT_EQ(0, write_long(SIZE_LIMIT, 1024));
	for (d = 0; d < ARRAY_SIZE(delays_ms); d++) {
		long filled = failnth_gauge(FAILNTH_UDMABUF, "lazy_pages");
		int p[2];
		char c;
		pid_t pid;

		ASSERT_EQ(0, pipe2(p, O_CLOEXEC | O_NONBLOCK));
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			close(p[0]);
			create_1g(p[1]);
		}
		close(p[1]);
		/* Into the fill: once the create took its first pages. */
		for (i = 0; i < WAIT_S * 100 &&
		     failnth_gauge(FAILNTH_UDMABUF, "lazy_pages") == filled; i++)
			usleep(10000);
		ASSERT_EQ(0, kill_after(pid, delays_ms[d] / 10))
			TH_LOG("the child did not die of the kill within %d s",
			       WAIT_S);
		done += read(p[0], &c, 1) == 1;
		close(p[0]);
		ASSERT_TRUE(gauges_zero(why, sizeof(why)))
			TH_LOG("killed after %d ms: %s", delays_ms[d], why);
		/* The fill stopped partway: fewer pages than a whole create. */
		filled = failnth_gauge(FAILNTH_UDMABUF, "lazy_pages") - filled;
		cut += filled > 0 && filled < (1L << 30) / PS;
	}
	/* The memfd's 1 GiB went with the child. */
	EXPECT_GT(shmem0 + 64 * 1024, ub_meminfo("Shmem"));
	printf("# %d of %zu creates came through before the kill, %d stopped halfway; the slowest child went %d ms after it\n",
	       done, ARRAY_SIZE(delays_ms), cut, slowest_ms);
	/* Kills that landed while the create was filling stopped it. */
	EXPECT_EQ(ARRAY_SIZE(delays_ms), done + cut);
	EXPECT_LT(0, cut);
}

#define NBUF	256
#define PAGES	64

/* The child of refill_256: refill every page, by faults or write(2). */
static void refill(int memfd, uint64_t *map, bool by_write, unsigned int gen)
{
	uint64_t tag[PS / 8];
	unsigned long pg, w;

	for (pg = 0; pg < PAGES; pg++) {
		if (!by_write) {
			ub_fill(map, pg, 1, gen);
			continue;
		}
		for (w = 0; w < PS / 8; w++)
			tag[w] = ub_tag(pg, gen);
		if (pwrite(memfd, tag, PS, pg * PS) != PS)
			_exit(2);
	}
	_exit(0);
}

FIXTURE(refill) {
	int dev, memfd;
	uint64_t *map;
	int bufs[NBUF];
	uint64_t *views[NBUF];
};

FIXTURE_SETUP(refill)
{
	int i;

	for (i = 0; i < NBUF; i++)
		self->bufs[i] = -1;
	self->dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (self->dev < 0)
		SKIP(return, "no /dev/udmabuf");
	self->memfd = ub_memfd(UB_SHMEM, PAGES * PS);
	ASSERT_LE(0, self->memfd);
	self->map = ub_map_memfd(UB_SHMEM, self->memfd, PAGES * PS);
	ASSERT_NE(NULL, self->map);
	ub_fill(self->map, 0, PAGES, 1);
	for (i = 0; i < NBUF; i++) {
		self->bufs[i] = ub_create(self->dev, self->memfd, 0,
					  PAGES * PS);
		ASSERT_LE(0, self->bufs[i]);
		self->views[i] = mmap(NULL, PAGES * PS, PROT_READ, MAP_SHARED,
				      self->bufs[i], 0);
		ASSERT_NE(MAP_FAILED, self->views[i]);
	}
}

static void close_buffers(FIXTURE_DATA(refill) *self)
{
	int i;

	for (i = 0; i < NBUF; i++) {
		if (self->bufs[i] < 0)
			continue;
		munmap(self->views[i], PAGES * PS);
		close(self->bufs[i]);
		self->bufs[i] = -1;
	}
}

FIXTURE_TEARDOWN(refill)
{
	if (self->dev < 0)
		return;
	close_buffers(self);
	close(self->memfd);
	close(self->dev);
}

/*
 * Punch everything, let a child refill, kill it after each delay: every
 * buffer's mapping, read directly, shows what the memfd holds.
 */
static void killed_refill(struct __test_metadata *_metadata,
			  FIXTURE_DATA(refill) *self, bool by_write)
{
	static char want[PAGES * PS];
	unsigned int gen = 1;
	int d, i, completed = 0;
	char why[160];

	for (d = 0; d < ARRAY_SIZE(delays_ms); d++) {
		unsigned long pg;
		pid_t pid;

		/* Every buffer maps every page before the punch. */
		for (i = 0; i < NBUF; i++)
			for (pg = 0; pg < PAGES; pg++)
				(void)((volatile uint64_t *)
				       self->views[i])[pg * (PS / 8)];
		ASSERT_EQ(0, ub_punch(self->memfd, 0, PAGES * PS));
		gen++;
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid)
			refill(self->memfd, self->map, by_write, gen);
		ASSERT_EQ(0, kill_after(pid, delays_ms[d] / 5));
		ASSERT_EQ(PAGES * PS, pread(self->memfd, want, PAGES * PS, 0));
		completed += !memcmp(want + (PAGES - 1) * PS,
				     (uint64_t[]){ ub_tag(PAGES - 1, gen) }, 8);
		for (i = 0; i < NBUF; i++)
			for (pg = 0; pg < PAGES; pg++)
				ASSERT_EQ(0, memcmp(want + pg * PS,
						    (char *)self->views[i] +
						    pg * PS, PS))
					TH_LOG("buffer %d page %lu, killed after %d ms",
					       i, pg, delays_ms[d] / 5);
	}
	/* This process's buffers, and nothing else, live; then nothing. */
	EXPECT_EQ(NBUF, failnth_gauge(FAILNTH_UDMABUF, "live_buffers"));
	EXPECT_EQ(NBUF, failnth_gauge(FAILNTH_UDMABUF, "live_watches"));
	EXPECT_EQ(0, failnth_gauge(FAILNTH_UDMABUF, "live_pins"));
	close_buffers(self);
	EXPECT_TRUE(gauges_zero(why, sizeof(why))) TH_LOG("%s", why);
	printf("# %d of %zu refills came through before the kill\n",
	       completed, ARRAY_SIZE(delays_ms));
}

TEST_F_TIMEOUT(refill, by_faults, 600)
{
	killed_refill(_metadata, self, false);
}

TEST_F_TIMEOUT(refill, by_write, 600)
{
	killed_refill(_metadata, self, true);
}

#define HMM_DEV		"/dev/hmm_dmirror0"
#define HMM_SIZE	(64UL << 20)

/* The child of hmm_migrate: to the device and back, until killed. */
static void migrate_loop(void)
{
	struct hmm_dmirror_cmd cmd = { .npages = HMM_SIZE / PS };
	char *p, *back;
	int fd;

	fd = open(HMM_DEV, O_RDWR);
	p = mmap(NULL, HMM_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* Where a migration to the device copies what the device holds. */
	back = mmap(NULL, HMM_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fd < 0 || p == MAP_FAILED || back == MAP_FAILED)
		_exit(2);
	memset(p, 0x5a, HMM_SIZE);
	cmd.addr = (uintptr_t)p;
	cmd.ptr = (uintptr_t)back;
	/* Exit status 10 + errno: a migration failed before the kill. */
	for (;;) {
		if (ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd) ||
		    ioctl(fd, HMM_DMIRROR_MIGRATE_TO_SYS, &cmd))
			_exit(10 + errno);
	}
}

TEST_F_TIMEOUT(kill, hmm_migrate, 600)
{
	long anon0 = ub_meminfo("AnonPages");
	int d;

	if (access(HMM_DEV, R_OK | W_OK))
		SKIP(return, "no %s (load hmm_mirror.ko)", HMM_DEV);
	for (d = 0; d < ARRAY_SIZE(delays_ms); d++) {
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (!pid)
			migrate_loop();
		ASSERT_EQ(0, kill_after(pid, delays_ms[d] * 2))
			TH_LOG("the child did not die of the kill within %d s",
			       WAIT_S);
	}
	/* The child's 64 MiB went with it, and its mirror and device pages. */
	EXPECT_GT(anon0 + 16 * 1024, ub_meminfo("AnonPages"));
	EXPECT_EQ(0, failnth_gauge(FAILNTH_HMM, "live_mirrors"));
	EXPECT_EQ(0, failnth_gauge(FAILNTH_HMM, "device_pages"));
}

TEST_HARNESS_MAIN
