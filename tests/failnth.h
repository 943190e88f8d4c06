/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fault injection for the sweeps (make test DEBUG=1): make the Nth
 * injection point (slab or page allocation, user copy) that the calling
 * thread reaches fail, through /proc/thread-self/fail-nth, and snapshots
 * of what a failed call must not leave behind.
 */
#ifndef FAILNTH_H
#define FAILNTH_H

#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Give up on an operation that still reaches injection points after this. */
#define FAILNTH_MAX	4000

static inline int failnth_knob(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int ret = -1;

	if (fd < 0)
		return -1;
	if (write(fd, val, strlen(val)) == (ssize_t)strlen(val))
		ret = 0;
	close(fd);
	return ret;
}

/*
 * The thread's fail-nth file, or -1 on a kernel without fault injection.
 * GFP_KERNEL and order-0 allocations become injection points too (by
 * default they never fail), with no stack trace per injected failure.
 */
static inline int failnth_open(void)
{
	static const char *const knobs[][2] = {
		{ "failslab/ignore-gfp-wait", "N" },
		{ "fail_page_alloc/ignore-gfp-wait", "N" },
		{ "fail_page_alloc/ignore-gfp-highmem", "N" },
		{ "fail_page_alloc/min-order", "0" },
		{ "failslab/verbose", "0" },
		{ "fail_page_alloc/verbose", "0" },
		{ "fail_usercopy/verbose", "0" },
	};
	char path[128];
	unsigned int i;
	int fd;

	fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		snprintf(path, sizeof(path), "/sys/kernel/debug/%s",
			 knobs[i][0]);
		if (failnth_knob(path, knobs[i][1])) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* Fail the @n-th injection point from now (0: none). */
static inline int failnth_arm(int fd, unsigned int n)
{
	char s[16];
	int len = snprintf(s, sizeof(s), "%u", n);

	return pwrite(fd, s, len, 0) == len ? 0 : -1;
}

/*
 * Disarm, and say whether the armed failure was injected since
 * failnth_arm().  The file reads 0 once it was; if the read itself is the
 * injection point (its copy to user), the operation before it was not.
 */
static inline bool failnth_fired(int fd)
{
	char s[16] = "";
	bool fired;

	fired = pread(fd, s, sizeof(s) - 1, 0) > 0 && strtoul(s, NULL, 10) == 0;
	failnth_arm(fd, 0);
	return fired;
}

/*
 * The thread's state that a failed call must leave as it was: open files,
 * mappings, and the modules' live objects (their debugfs gauges, -1 for a
 * module not loaded): udmabuf's buffers, pins and watches, hmm_mirror's
 * mirrors and device pages.
 */
struct failnth_state {
	int fds;
	int maps;
	long buffers;
	long pins;
	long watches;
	long mirrors;
	long devpages;
};

static inline int failnth_count_fds(void)
{
	struct dirent *d;
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n - 1;	/* the directory's own fd */
}

static inline int failnth_count_maps(void)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

#define FAILNTH_UDMABUF	"/sys/kernel/debug/udmabuf/stats"
#define FAILNTH_HMM	"/sys/kernel/debug/hmm_mirror/stats"

/* Gauge @name of stats file @path, or -1. */
static inline long failnth_gauge(const char *path, const char *name)
{
	char line[128];
	size_t len = strlen(name);
	long val = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ' ')
			val = strtol(line + len + 1, NULL, 10);
	fclose(f);
	return val;
}

static inline void failnth_snapshot(struct failnth_state *s)
{
	s->fds = failnth_count_fds();
	s->maps = failnth_count_maps();
	s->buffers = failnth_gauge(FAILNTH_UDMABUF, "live_buffers");
	s->pins = failnth_gauge(FAILNTH_UDMABUF, "live_pins");
	s->watches = failnth_gauge(FAILNTH_UDMABUF, "live_watches");
	s->mirrors = failnth_gauge(FAILNTH_HMM, "live_mirrors");
	s->devpages = failnth_gauge(FAILNTH_HMM, "device_pages");
}

/*
 * What differs between @a and @b, as text in @out; false if nothing.  With
 * @objects, only the modules' objects that a call makes and frees as a
 * whole (buffers, pins, watches, mirrors) count.
 */
static inline bool failnth_differs(const struct failnth_state *a,
				   const struct failnth_state *b,
				   bool objects, char *out, size_t size)
{
	snprintf(out, size,
		 "fds %d->%d maps %d->%d buffers %ld->%ld pins %ld->%ld watches %ld->%ld mirrors %ld->%ld device pages %ld->%ld",
		 a->fds, b->fds, a->maps, b->maps, a->buffers, b->buffers,
		 a->pins, b->pins, a->watches, b->watches, a->mirrors,
		 b->mirrors, a->devpages, b->devpages);
	if (objects)
		return a->buffers != b->buffers || a->pins != b->pins ||
		       a->watches != b->watches || a->mirrors != b->mirrors;
	return memcmp(a, b, sizeof(*a)) != 0;
}

/*
 * Faulting accesses in an armed run: a SIGBUS ends the run with
 * FAILNTH_SIGBUS; one that does not end within FAILNTH_ALARM seconds (a
 * refault loop) with FAILNTH_TIMEOUT.  failnth_catch_faults() installs the
 * handler; FAILNTH_FAULTS_BEGIN() and FAILNTH_FAULTS_END() go around the
 * accesses, in the function that returns the run's result.
 */
#define FAILNTH_SIGBUS	1000
#define FAILNTH_TIMEOUT	1001
#define FAILNTH_ALARM	20

static sigjmp_buf failnth_jmp;
static volatile sig_atomic_t failnth_faulting;

static inline void failnth_on_signal(int sig)
{
	if (failnth_faulting)
		siglongjmp(failnth_jmp, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * The handler runs on a stack of its own, faulted in now: delivering the
 * signal needs no page, even while every page allocation of the task
 * fails.
 */
static inline int failnth_catch_faults(void)
{
	static char altstack[64 << 10];
	struct sigaction sa = {
		.sa_handler = failnth_on_signal,
		.sa_flags = SA_ONSTACK,
	};
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };

	memset(altstack, 1, sizeof(altstack));
	return sigaltstack(&ss, NULL) || sigaction(SIGBUS, &sa, NULL) ||
	       sigaction(SIGALRM, &sa, NULL);
}

#define FAILNTH_FAULTS_BEGIN()						\
	do {								\
		int __sig = sigsetjmp(failnth_jmp, 1);			\
									\
		if (__sig) {						\
			failnth_faulting = 0;				\
			alarm(0);					\
			return __sig == SIGBUS ? FAILNTH_SIGBUS :	\
			       FAILNTH_TIMEOUT;				\
		}							\
		failnth_faulting = 1;					\
		alarm(FAILNTH_ALARM);					\
	} while (0)

#define FAILNTH_FAULTS_END()						\
	do {								\
		alarm(0);						\
		failnth_faulting = 0;					\
	} while (0)

/*
 * An operation to sweep.  @setup makes what it works on (unarmed); @run is
 * the operation (armed): 0, -errno or FAILNTH_SIGBUS/TIMEOUT; @check looks
 * at what it left (unarmed); @put closes everything.  @setup and @check
 * return -1 and say why in the context's text (@why of failnth_sweep()).
 * @errnos: what @run may fail with; @atomic: a failed @run leaves the state
 * as @setup made it; @sigbus: @run may end in SIGBUS.
 */
struct failnth_op {
	const char *name;
	int (*setup)(void *ctx);
	int (*run)(void *ctx);
	int (*check)(void *ctx, int ret);
	void (*put)(void *ctx);
	int errnos[4];
	bool atomic;
	bool sigbus;
};

static inline const char *failnth_ret_name(int ret)
{
	static char s[64];

	if (ret == FAILNTH_SIGBUS)
		return "SIGBUS";
	if (ret == FAILNTH_TIMEOUT)
		return "no end (refault loop?)";
	if (!ret)
		return "success";
	snprintf(s, sizeof(s), "%s", strerror(-ret));
	return s;
}

static inline bool failnth_allowed(const struct failnth_op *op, int ret)
{
	int i;

	if (ret == FAILNTH_SIGBUS)
		return op->sigbus;
	for (i = 0; i < 4 && op->errnos[i]; i++)
		if (ret == -op->errnos[i])
			return true;
	return false;
}

/*
 * Sweep @op on @ctx through fail-nth file @fnth: fail its Nth injection
 * point, N = 1, 2, ..., until it completes without reaching the failure.
 * Return the number of injection points passed through, or -1 with the
 * failure in @report.
 */
static inline int failnth_sweep(int fnth, const struct failnth_op *op,
				void *ctx, const char *why, char *report,
				size_t size)
{
	struct failnth_state s0, s1, s2;
	char diff[256], what[600];
	bool fired;
	int n, ret;

	for (n = 1; n <= FAILNTH_MAX; n++) {
		failnth_snapshot(&s0);
		if (op->setup(ctx)) {
			snprintf(what, sizeof(what), "setup: %s", why);
			goto fail;
		}
		failnth_snapshot(&s1);
		if (failnth_arm(fnth, n)) {
			snprintf(what, sizeof(what), "cannot arm fail-nth: %m");
			goto fail;
		}
		ret = op->run(ctx);
		fired = failnth_fired(fnth);
		if (ret && !failnth_allowed(op, ret)) {
			snprintf(what, sizeof(what), "fails with %s",
				 failnth_ret_name(ret));
			goto fail;
		}
		if (ret && !fired) {
			snprintf(what, sizeof(what),
				 "fails with %s, no failure injected",
				 failnth_ret_name(ret));
			goto fail;
		}
		/*
		 * A failed call leaves nothing: with @atomic nothing at all,
		 * else none of the modules' whole objects (the steps of
		 * @run that succeeded may have left their fds and pages).
		 */
		if (ret) {
			failnth_snapshot(&s2);
			if (failnth_differs(&s1, &s2, !op->atomic, diff,
					    sizeof(diff))) {
				snprintf(what, sizeof(what),
					 "failed (%s) but left %s",
					 failnth_ret_name(ret), diff);
				goto fail;
			}
		}
		if (op->check(ctx, ret)) {
			snprintf(what, sizeof(what), "after %s: %s",
				 failnth_ret_name(ret), why);
			goto fail;
		}
		op->put(ctx);
		failnth_snapshot(&s2);
		if (failnth_differs(&s0, &s2, false, diff, sizeof(diff))) {
			snprintf(what, sizeof(what),
				 "after %s and closing everything: %s",
				 failnth_ret_name(ret), diff);
			goto report;
		}
		if (!fired)
			return n - 1;
	}
	snprintf(report, size, "%s: still failing at fail-nth %d", op->name,
		 FAILNTH_MAX);
	return -1;
fail:
	op->put(ctx);
report:
	snprintf(report, size, "%s, fail-nth %d: %s", op->name, n, what);
	return -1;
}

#endif
