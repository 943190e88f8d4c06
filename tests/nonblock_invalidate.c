// SPDX-License-Identifier: GPL-2.0
/*
 * A non-blocking invalidation that a plain subscriber fails must still end
 * the interval side of that invalidation.  Otherwise the mm's interval
 * sequence stays odd for good: the next invalidation brings no new
 * sequence, so an interval user cannot tell it from the old one, and
 * mmu_interval_read_begin() and mmu_interval_notifier_remove() wait
 * forever.  Upstream fixed it in "mm/mmu_notifier: finish non-blocking
 * interval invalidation on error" (6.12.118); this series carried its own
 * fix before.
 *
 * Interval update subscribers validate with that sequence: after such an
 * invalidation, the faults of the mm must still bring them valid updates.
 *
 * The non-blocking invalidation is the OOM reaper's, run by
 * process_mrelease(2) on a child that was killed while it sleeps in the
 * mmu_update_core module, so that its mm is still there to reap.  The
 * child's mm has an interval subscriber over an anonymous range, one with
 * an update op over a shared memfd page, and a plain subscriber that fails
 * every non-blocking invalidation.  After the reap, a read of
 * /proc/PID/mem faults in that shared page (the reaper leaves shared
 * mappings alone), which must bring the second interval a valid update.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "mmu_update_core/mmu_update_core.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open		434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd		438
#endif
#ifndef SYS_process_mrelease
#define SYS_process_mrelease	448
#endif

#define LEN		(64 * 4096UL)
/* The child's sleep, which bounds how long the test waits for it. */
#define SLEEP_MS	5000

/* What the child tells the parent. */
struct ready {
	int dev;		/* its /dev/mmu_update_core fd */
	uint64_t shared;	/* an untouched shared memfd page of its mm */
};

/* The child: subscribe its own mm, say where, then sleep in the module. */
static void child(int wfd)
{
	int dev = open(MUC_DEV, O_RDWR);
	struct muc_interval iv = { .length = LEN };
	struct muc_interval sv = { .length = 4096, .update = 1 };
	struct ready r = { .dev = dev };
	int memfd = memfd_create("nonblock", 0);
	char *p, *s;

	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dev < 0 || memfd < 0 || ftruncate(memfd, 4096) || p == MAP_FAILED)
		_exit(1);
	s = mmap(NULL, 4096, PROT_READ, MAP_SHARED, memfd, 0);
	if (s == MAP_FAILED)
		_exit(1);
	memset(p, 1, LEN);
	iv.start = (uintptr_t)p;
	r.shared = (uintptr_t)s;
	sv.start = (uintptr_t)s;
	if (ioctl(dev, MUC_IOC_SUBSCRIBE_BARE, MUC_BARE_NONBLOCK_FAIL) ||
	    ioctl(dev, MUC_IOC_INSERT, &iv) || ioctl(dev, MUC_IOC_INSERT, &sv))
		_exit(2);
	if (write(wfd, &r, sizeof(r)) != sizeof(r))
		_exit(3);
	ioctl(dev, MUC_IOC_SLEEP, SLEEP_MS);
	_exit(0);
}

/* Wait up to @ms for the opener of @fd to sleep in MUC_IOC_SLEEP. */
static int wait_sleeping(int fd, int ms)
{
	struct muc_counters c;

	for (; ms > 0; ms -= 10) {
		if (ioctl(fd, MUC_IOC_COUNTERS, &c))
			return -1;
		if (c.sleeping)
			return 0;
		usleep(10000);
	}
	return -1;
}

TEST(failed_nonblock_invalidation_ends_on_both_sides)
{
	struct pollfd pfd;
	struct muc_counters c = { 0 }, before = { 0 };
	int pipefd[2], pidfd, cfd, memf, status;
	struct ready r;
	char path[64];
	uint64_t word;
	pid_t pid;
	long ret;

	ASSERT_EQ(0, access(MUC_DEV, R_OK | W_OK))
		TH_LOG("%s: %s", MUC_DEV, strerror(errno));
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		close(pipefd[0]);
		child(pipefd[1]);
	}
	close(pipefd[1]);
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	ASSERT_GE(pidfd, 0) TH_LOG("pidfd_open: %s", strerror(errno));

	pfd = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	ASSERT_EQ(1, poll(&pfd, 1, 10000));
	ASSERT_EQ(sizeof(r), read(pipefd[0], &r, sizeof(r)))
		TH_LOG("the child could not subscribe its mm");
	cfd = syscall(SYS_pidfd_getfd, pidfd, r.dev, 0);
	ASSERT_GE(cfd, 0) TH_LOG("pidfd_getfd: %s", strerror(errno));
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	memf = open(path, O_RDONLY);
	ASSERT_GE(memf, 0) TH_LOG("%s: %s", path, strerror(errno));
	ASSERT_EQ(0, wait_sleeping(cfd, SLEEP_MS / 2));

	/* Killed in the sleep: it keeps its mm until the sleep ends. */
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ret = syscall(SYS_process_mrelease, pidfd, 0);
	/* The plain subscriber failed the reaper's invalidations. */
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EAGAIN, errno);
	/* A fault in the reaped mm: the interval over it gets its update. */
	ASSERT_EQ(0, ioctl(cfd, MUC_IOC_COUNTERS, &before));
	ASSERT_EQ(sizeof(word), pread(memf, &word, sizeof(word), r.shared))
		TH_LOG("read of the child's memory: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(cfd, MUC_IOC_COUNTERS, &c));
	EXPECT_LT(before.valid, c.valid) {
		TH_LOG("no valid update after the failed invalidation (%llu of %llu updates valid)",
		       c.valid, c.updates);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status));

	ASSERT_EQ(0, ioctl(cfd, MUC_IOC_COUNTERS, &c));
	TH_LOG("nonblock fails %llu; updates %llu, valid %llu; interval: %llu non-blocking at seq %llu, last seq %llu",
	       c.nonblock_fails, c.updates, c.valid, c.nonblock_invalidations,
	       c.seq_nonblock, c.seq_last);
	EXPECT_GE(c.nonblock_fails, 1);
	ASSERT_GE(c.nonblock_invalidations, 1);
	/*
	 * The exit's unmap came after the failed invalidation.  If that one
	 * never ended, the sequence is still odd and the exit's is the same;
	 * removing the interval would then wait forever: leave it in place.
	 */
	if (c.seq_last == c.seq_nonblock)
		ioctl(cfd, MUC_IOC_ABANDON);
	EXPECT_NE(c.seq_nonblock, c.seq_last);
	EXPECT_EQ(1, c.seq_last & 1);
	close(memf);
	close(cfd);
	close(pidfd);
	close(pipefd[0]);
}

TEST_HARNESS_MAIN
