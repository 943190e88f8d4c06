// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf-scale-bench: what udmabufs cost the faults they do not cover, for
 * make bench (scripts/bench-udmabuf-scale.sh).
 *
 *   udmabuf-scale-bench fault [--bufs LIST] [--mib M] [--reps R]
 *			       [--rounds K] [--other-memfd] [--threads T]
 *	A process like QEMU: one shmem memfd (sealed F_SEAL_SHRINK) mapped
 *	MAP_SHARED for its lifetime, N one-page udmabufs (UDMABUF_CREATE) over
 *	N of the first M MiB + N pages spread evenly over them, and the M MiB
 *	of other pages among them that no buffer covers.  Whatever its N, the
 *	memfd of every child also has a last page, after M MiB and as many
 *	pages as the largest N of LIST, written once and never punched: its
 *	page cache is as deep with or without buffers (one level deeper is
 *	about 1% slower to fault).  It is as deep, not as busy: a punch frees
 *	the page cache nodes that hold no buffer page, so with many buffers
 *	fewer nodes are allocated again each pass.  R times (default 5):
 *	map the memfd a second time, time writing one byte in every uncovered
 *	page through that mapping, unmap it and punch the uncovered pages.
 *	With --other-memfd the buffers are over a second memfd of N pages and
 *	all M MiB of the first one are faulted.  With --threads T (default 1)
 *	T threads fault a contiguous share of the pages each, timed from the
 *	start of the first to the end of the last.
 *
 *   udmabuf-scale-bench dontneed [--bufs LIST] [--mib M] [--reps R] [--rounds K]
 *	The same process and layout; the uncovered pages are written once
 *	and zapped, then R times: for every uncovered page, write one byte
 *	in it and MADV_DONTNEED it (a minor write fault and a zap each).
 *
 * --state S (either mode) sets what happened to the buffers before the
 * measurement: none (default); punch-fault, punch-write, punch-other,
 * punch-never: the first buffer's page was punched, then refilled at once
 * by a fault, by write(2) 0.3 s later, by another process, or never; pin:
 * a vmap of the first buffer is held (udmabuf_vmap.ko); other-process: a
 * helper process made the buffers over the same memfd, this one has none.
 *
 * With --notifier (either mode, the patched kernel with the mmu_update_core
 * test module loaded), two more children make no udmabuf but subscribe
 * their mm: one with a bare mmu notifier whose invalidate_range_start()
 * returns at once, the shape of KVM's ("bare-inval"), one with an interval
 * notifier with an update op over a page of its own that the loops never
 * touch ("bare-interval"): what this core charges the mm for an interval
 * update subscriber that no fault or invalidation overlaps.
 *
 * Every measurement runs in a child forked from a parent that never creates
 * a udmabuf (the driver may subscribe a creator's mm for good): N = 0, no
 * udmabuf and no /dev/udmabuf open in that process, and each N of LIST
 * (comma-separated, default 1,16,256,1024; at most 4096).  K rounds
 * (default 3) measure every N once, in order and then in reverse order
 * alternately, after one unmeasured warm-up child.
 *
 * Output: one line per N, N = 0 first (with --notifier, N = bare-inval and
 * bare-interval last):
 *	bufs N per_sec F ratio F/F(0) round_ratio_min X round_ratio_max Y ...
 * per_sec is faults (or loops of dontneed) per second of the best pass of
 * all rounds; ratio divides it by the best of N = 0, round_ratio_* are the
 * extremes of the same ratio taken within each round.  Exit status 2 on
 * bad arguments, 1 when the system refuses something (including raising
 * RLIMIT_NOFILE to N + 64 descriptors).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/falloc.h>
#include <linux/udmabuf.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "../tests/mmu_update_core/mmu_update_core.h"
#include "../tests/udmabuf_vmap/udmabuf_vmap.h"

#define PAGE		4096UL
#define MIB		(1UL << 20)
#define MAX_BUFS	4096
#define MAX_COUNTS	18	/* 0, up to 15 of --bufs, 2 bare */
#define MAX_THREADS	64
#define SPARE_FDS	64
/* Counts of the --notifier children: no buffer, a bare notifier. */
#define BARE_INVAL	(-1L)
#define BARE_INTERVAL	(-3L)

static const char *prog = "udmabuf-scale-bench";

static void usage(void)
{
	fprintf(stderr,
		"usage: udmabuf-scale-bench fault [--bufs LIST] [--mib M] [--reps R] [--rounds K]\n"
		"                                 [--other-memfd] [--threads T]\n"
		"       udmabuf-scale-bench dontneed [--bufs LIST] [--mib M] [--reps R] [--rounds K]\n"
		"       either with --notifier: also bare mmu notifiers (needs %s),\n"
		"       or --state S: what happened to the buffers first (see the source)\n"
		"LIST: comma-separated buffer counts in [1, %d] (N = 0 is always measured)\n",
		MUC_DEV, MAX_BUFS);
	exit(2);
}

static void bad(const char *msg)
{
	fprintf(stderr, "%s: %s\n", prog, msg);
	exit(2);
}

static void die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	exit(1);
}

enum mode { MODE_FAULT, MODE_DONTNEED };

/*
 * What happened to the buffers before the measurement (--state): nothing; a
 * punch of the first buffer's page, refilled at once by a fault, by
 * write(2) 0.3 s later, by another process, or never; a pin of the first
 * buffer (a vmap held through /dev/udmabuf_vmap); or the buffers made by
 * another process over the same memfd while this one has none.
 */
enum state {
	ST_NONE, ST_PUNCH_FAULT, ST_PUNCH_WRITE, ST_PUNCH_OTHER,
	ST_PUNCH_NEVER, ST_PIN, ST_OTHER_PROCESS, NR_STATES
};

static const char *const state_names[] = {
	"none", "punch-fault", "punch-write", "punch-other", "punch-never",
	"pin", "other-process",
};

struct config {
	enum mode mode;
	unsigned long pages;	/* uncovered pages faulted per pass */
	unsigned long spare;	/* pages for buffers, the largest N */
	long reps, rounds, threads;
	int other_memfd;
	enum state state;
};

/* Best times of one child, in a page shared with the parent. */
struct result {
	double pass;		/* seconds of the fastest timed pass */
	double munmap;		/* seconds of the fastest munmap (fault mode) */
};

/* One measurement's process: the memfds, the layout, the buffers. */
struct proc {
	const struct config *cfg;
	long nbufs;
	int fd;			/* the memfd faulted */
	unsigned long total;	/* its pages */
	volatile char *ram;	/* its lifetime mapping */
	int buf_fd;		/* the memfd the buffers are over */
	volatile char *buf_ram;
	unsigned long *idx;	/* uncovered pages of fd, ascending */
	volatile char *win;	/* this pass's mapping (fault mode) */
	pthread_barrier_t start, end;
};

static int make_memfd(unsigned long pages, volatile char **map)
{
	int fd = memfd_create(prog, MFD_ALLOW_SEALING);

	if (fd < 0)
		die("memfd_create");
	if (ftruncate(fd, pages * PAGE))
		die("ftruncate");
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK))
		die("F_ADD_SEALS F_SEAL_SHRINK");
	*map = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
	if (*map == MAP_FAILED)
		die("mmap memfd");
	return fd;
}

/* Buffers over pages @bufpg of pr->buf_fd; the first one's fd. */
static int make_buffers(struct proc *pr, const unsigned long *bufpg,
			unsigned long n)
{
	struct udmabuf_create c = {
		.flags = UDMABUF_FLAGS_CLOEXEC, .size = PAGE,
		.memfd = pr->buf_fd,
	};
	int dev, fd, first = -1;
	unsigned long j;

	dev = open("/dev/udmabuf", O_RDWR);
	if (dev < 0)
		die("open /dev/udmabuf");
	for (j = 0; j < n; j++) {
		pr->buf_ram[bufpg[j] * PAGE] = 1;
		c.offset = bufpg[j] * PAGE;
		fd = ioctl(dev, UDMABUF_CREATE, &c);
		if (fd < 0)
			die("UDMABUF_CREATE");
		if (first < 0)
			first = fd;
	}
	close(dev);
	return first;
}

/*
 * ST_OTHER_PROCESS: a helper process makes the buffers over the same memfd
 * and keeps them until this one exits.
 */
static void make_buffers_elsewhere(struct proc *pr, const unsigned long *bufpg,
				   unsigned long n)
{
	int ready[2];
	char c;
	pid_t pid;

	if (pipe(ready))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		close(ready[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		make_buffers(pr, bufpg, n);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		die("the buffers' process");
	close(ready[0]);
}

/* --state: what happened to the first buffer (@dbuf, memfd page @pg). */
static void apply_state(struct proc *pr, int dbuf, unsigned long pg)
{
	off_t off = pg * PAGE;
	int vfd, status;
	pid_t pid;

	switch (pr->cfg->state) {
	case ST_NONE:
	case ST_OTHER_PROCESS:
		return;
	case ST_PIN:
		/* Kept open, and the vmap held, until the child exits. */
		vfd = open("/dev/udmabuf_vmap", O_RDWR);
		if (vfd < 0)
			die("open /dev/udmabuf_vmap (insmod udmabuf_vmap.ko)");
		if (ioctl(vfd, UDMABUF_VMAP_HOLD, dbuf))
			die("UDMABUF_VMAP_HOLD");
		return;
	default:
		break;
	}
	if (fallocate(pr->buf_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      off, PAGE))
		die("fallocate(PUNCH_HOLE)");
	switch (pr->cfg->state) {
	case ST_PUNCH_FAULT:
		pr->buf_ram[off] = 3;
		break;
	case ST_PUNCH_WRITE:
		usleep(300000);
		if (pwrite(pr->buf_fd, "w", 1, off) != 1)
			die("pwrite");
		break;
	case ST_PUNCH_OTHER:
		pid = fork();
		if (pid < 0)
			die("fork");
		if (!pid) {
			pr->buf_ram[off] = 4;
			_exit(0);
		}
		if (waitpid(pid, &status, 0) != pid || status)
			die("the refilling process");
		break;
	default:
		break;
	}
}

/*
 * Lay out @pr and create its buffers, over pages written first, as QEMU's
 * are.  On the faulted memfd, of its first pages + N pages, buffer j covers
 * page (2j + 1) * used / 2N, distinct pages as used / N >= 1, and every
 * other one is faulted.  The memfd has pages + spare + 1 pages, spare being
 * the largest N measured: its last page, written here and left alone, gives
 * its page cache the same depth for every N.  With other_memfd, buffer j
 * covers page j of a memfd of N pages and every page of the faulted one is
 * faulted.
 */
static void setup(struct proc *pr)
{
	const struct config *cfg = pr->cfg;
	unsigned long n = pr->nbufs < 0 ? 0 : pr->nbufs, i, j, k;
	unsigned long used = cfg->pages + n, last = cfg->pages + cfg->spare;
	unsigned long *bufpg;
	int dev, first;

	pr->total = cfg->other_memfd ? cfg->pages : last + 1;
	pr->fd = make_memfd(pr->total, &pr->ram);
	pr->buf_fd = pr->fd;
	pr->buf_ram = pr->ram;
	pr->idx = malloc(cfg->pages * sizeof(*pr->idx));
	bufpg = malloc((n + 1) * sizeof(*bufpg));
	if (!pr->idx || !bufpg)
		die("malloc");
	if (cfg->other_memfd) {
		if (n)
			pr->buf_fd = make_memfd(n, &pr->buf_ram);
		for (i = 0; i < cfg->pages; i++)
			pr->idx[i] = i;
		for (j = 0; j < n; j++)
			bufpg[j] = j;
	} else {
		pr->ram[last * PAGE] = 1;
		for (i = 0, j = 0, k = 0; i < used; i++) {
			if (j < n && i == (2 * j + 1) * used / (2 * n))
				bufpg[j++] = i;
			else
				pr->idx[k++] = i;
		}
		if (j != n || k != cfg->pages) {
			fprintf(stderr, "%s: layout: %lu buffers, %lu pages\n",
				prog, j, k);
			exit(1);
		}
	}
	if (pr->nbufs < 0) {
		/* Kept open until the child exits. */
		dev = open(MUC_DEV, O_RDWR);
		if (dev < 0)
			die("open " MUC_DEV " (insmod mmu_update_core.ko)");
		if (pr->nbufs == BARE_INTERVAL) {
			struct muc_interval iv = {
				.length = PAGE, .update = 1,
			};
			void *page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (page == MAP_FAILED)
				die("mmap interval page");
			iv.start = (uintptr_t)page;
			if (ioctl(dev, MUC_IOC_INSERT, &iv))
				die("MUC_IOC_INSERT");
		} else if (ioctl(dev, MUC_IOC_SUBSCRIBE_BARE, MUC_BARE_INVAL)) {
			die("MUC_IOC_SUBSCRIBE_BARE");
		}
	}
	if (!n) {
		free(bufpg);
		return;		/* no udmabuf, not even the device open */
	}
	if (cfg->state == ST_OTHER_PROCESS) {
		make_buffers_elsewhere(pr, bufpg, n);
		free(bufpg);
		return;
	}
	first = make_buffers(pr, bufpg, n);
	apply_state(pr, first, bufpg[0]);
	free(bufpg);
}

/* Punch the uncovered pages, one fallocate per run of them. */
static void punch_uncovered(struct proc *pr)
{
	unsigned long i, first;

	for (i = 0; i < pr->cfg->pages; ) {
		first = i;
		while (++i < pr->cfg->pages && pr->idx[i] == pr->idx[i - 1] + 1)
			;
		if (fallocate(pr->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      pr->idx[first] * PAGE,
			      (pr->idx[i - 1] - pr->idx[first] + 1) * PAGE))
			die("fallocate(PUNCH_HOLE)");
	}
}

/* Write-fault share @t of the uncovered pages through pr->win. */
static void fault_share(struct proc *pr, long t, char v)
{
	unsigned long n = pr->cfg->pages, nt = pr->cfg->threads;
	unsigned long i, from = n * t / nt, to = n * (t + 1) / nt;

	for (i = from; i < to; i++)
		pr->win[pr->idx[i] * PAGE] = v;
}

struct worker {
	struct proc *pr;
	long t;
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	long r;

	for (r = 0; r < w->pr->cfg->reps; r++) {
		pthread_barrier_wait(&w->pr->start);
		fault_share(w->pr, w->t, (char)(r + 2));
		pthread_barrier_wait(&w->pr->end);
	}
	return NULL;
}

static void run_fault(struct proc *pr, struct result *res)
{
	const struct config *cfg = pr->cfg;
	unsigned long size = pr->total * PAGE;
	struct worker w[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	double t0, t;
	long r, i;

	if (cfg->threads > 1) {
		if (pthread_barrier_init(&pr->start, NULL, cfg->threads + 1) ||
		    pthread_barrier_init(&pr->end, NULL, cfg->threads + 1))
			die("pthread_barrier_init");
		for (i = 0; i < cfg->threads; i++) {
			w[i].pr = pr;
			w[i].t = i;
			errno = pthread_create(&tid[i], NULL, worker, &w[i]);
			if (errno)
				die("pthread_create");
		}
	}
	for (r = 0; r < cfg->reps; r++) {
		pr->win = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			       pr->fd, 0);
		if (pr->win == MAP_FAILED)
			die("mmap memfd");
		t0 = now();
		if (cfg->threads > 1) {
			pthread_barrier_wait(&pr->start);
			pthread_barrier_wait(&pr->end);
		} else {
			fault_share(pr, 0, (char)(r + 2));
		}
		t = now() - t0;
		if (!res->pass || t < res->pass)
			res->pass = t;
		t0 = now();
		munmap((void *)pr->win, size);
		t = now() - t0;
		if (!res->munmap || t < res->munmap)
			res->munmap = t;
		punch_uncovered(pr);
	}
	for (i = 0; cfg->threads > 1 && i < cfg->threads; i++)
		pthread_join(tid[i], NULL);
}

/* Write @v into every uncovered page and zap it with MADV_DONTNEED. */
static void write_and_zap(struct proc *pr, char v)
{
	unsigned long i;

	for (i = 0; i < pr->cfg->pages; i++) {
		char *p = (char *)pr->ram + pr->idx[i] * PAGE;

		*(volatile char *)p = v;
		if (madvise(p, PAGE, MADV_DONTNEED))
			die("madvise(MADV_DONTNEED)");
	}
}

static void run_dontneed(struct proc *pr, struct result *res)
{
	double t0, t;
	long r;

	/*
	 * In the page cache, and not mapped: every timed write is a minor
	 * fault, the first pass's too.
	 */
	write_and_zap(pr, 1);
	for (r = 0; r < pr->cfg->reps; r++) {
		t0 = now();
		write_and_zap(pr, (char)(r + 2));
		t = now() - t0;
		if (!res->pass || t < res->pass)
			res->pass = t;
	}
}

/* What a child measures, for messages. */
static const char *child_name(long nbufs)
{
	static char name[32];

	if (nbufs == BARE_INVAL)
		return "bare-inval";
	if (nbufs == BARE_INTERVAL)
		return "bare-interval";
	snprintf(name, sizeof(name), "%ld buffers", nbufs);
	return name;
}

/* Measure @nbufs in a fresh child; its best times land in @res. */
static void measure(const struct config *cfg, long nbufs, struct result *res)
{
	int status;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		struct proc pr = { .cfg = cfg, .nbufs = nbufs };

		setup(&pr);
		if (cfg->mode == MODE_FAULT)
			run_fault(&pr, res);
		else
			run_dontneed(&pr, res);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "%s: the child for %s failed (status 0x%x)\n",
			prog, child_name(nbufs), status);
		exit(1);
	}
	if (!res->pass) {
		fprintf(stderr, "%s: the child for %s timed nothing\n",
			prog, child_name(nbufs));
		exit(1);
	}
}

/* N buffers and the memfds need N + SPARE_FDS descriptors. */
static void raise_nofile(long nbufs)
{
	rlim_t need = nbufs + SPARE_FDS;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit(RLIMIT_NOFILE)");
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max < need) {
		struct rlimit want = { need, need };

		if (setrlimit(RLIMIT_NOFILE, &want)) {
			fprintf(stderr, "%s: %ld buffers need %lu file descriptors; RLIMIT_NOFILE is %lu (hard %lu), not raised: %s\n",
				prog, nbufs, (unsigned long)need,
				(unsigned long)rl.rlim_cur,
				(unsigned long)rl.rlim_max, strerror(errno));
			exit(1);
		}
		return;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("setrlimit(RLIMIT_NOFILE)");
}

/* "1,16,256" into @counts after the leading 0; returns how many in all. */
static int parse_counts(const char *s, long *counts)
{
	char *copy = strdup(s), *rest = copy, *tok;
	int n = 1, i;

	if (!copy)
		die("strdup");
	counts[0] = 0;
	while ((tok = strsep(&rest, ","))) {
		if (!*tok)
			bad("--bufs: give counts like 1,16,256,1024");
		if (n == MAX_COUNTS - 2)
			bad("--bufs: at most 15 counts");
		counts[n] = number_arg("--bufs", tok, 1, MAX_BUFS);
		for (i = 1; i < n; i++)
			if (counts[i] == counts[n])
				bad("--bufs: a count given twice");
		n++;
	}
	free(copy);
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bufs", required_argument, NULL, 'b' },
		{ "mib", required_argument, NULL, 'm' },
		{ "reps", required_argument, NULL, 'r' },
		{ "rounds", required_argument, NULL, 'k' },
		{ "other-memfd", no_argument, NULL, 'o' },
		{ "threads", required_argument, NULL, 't' },
		{ "notifier", no_argument, NULL, 'n' },
		{ "state", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	long counts[MAX_COUNTS], most = 0, mib = 64, k, i, j;
	double lo[MAX_COUNTS], hi[MAX_COUNTS];
	struct config cfg = { .reps = 5, .rounds = 3, .threads = 1 };
	struct result *res, *best;
	int n, c, st, threads_set = 0, bare = 0;
	const char *mode;

	if (argc < 2 || argv[1][0] == '-')
		usage();
	mode = argv[1];
	if (!strcmp(mode, "fault")) {
		cfg.mode = MODE_FAULT;
	} else if (!strcmp(mode, "dontneed")) {
		cfg.mode = MODE_DONTNEED;
	} else {
		fprintf(stderr, "%s: unknown mode '%s'\n", prog, mode);
		usage();
	}
	n = parse_counts("1,16,256,1024", counts);
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': n = parse_counts(optarg, counts); break;
		case 'm': mib = number_arg("--mib", optarg, 1, 4096); break;
		case 'r': cfg.reps = number_arg("--reps", optarg, 1, 1000); break;
		case 'k': cfg.rounds = number_arg("--rounds", optarg, 1, 100); break;
		case 'o': cfg.other_memfd = 1; break;
		case 's':
			for (st = 0; st < NR_STATES; st++)
				if (!strcmp(optarg, state_names[st]))
					break;
			if (st == NR_STATES)
				bad("--state: none, punch-fault, punch-write, punch-other, punch-never, pin or other-process");
			cfg.state = st;
			break;
		case 'n': bare = 1; break;
		case 't':
			cfg.threads = number_arg("--threads", optarg, 1, MAX_THREADS);
			threads_set = 1;
			break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (cfg.mode == MODE_DONTNEED && (cfg.other_memfd || threads_set))
		bad("dontneed takes --bufs, --mib, --reps and --rounds only");
	cfg.pages = mib * MIB / PAGE;
	if (access("/dev/udmabuf", R_OK | W_OK))
		die("/dev/udmabuf");
	if (bare) {
		if (access(MUC_DEV, R_OK | W_OK))
			die(MUC_DEV " (insmod mmu_update_core.ko)");
		counts[n++] = BARE_INVAL;
		counts[n++] = BARE_INTERVAL;
	}
	for (i = 0; i < n; i++)
		if (counts[i] > most)
			most = counts[i];
	raise_nofile(most);
	cfg.spare = most;

	/* per count: the child's result, then the best so far */
	res = mmap(NULL, 2 * MAX_COUNTS * sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		die("mmap results");
	best = res + MAX_COUNTS;
	{	/* warm-up: one pass, no buffers */
		struct config warm = cfg;

		warm.reps = 1;
		measure(&warm, 0, &res[0]);
	}
	for (k = 0; k < cfg.rounds; k++) {
		for (j = 0; j < n; j++) {
			i = k % 2 ? n - 1 - j : j;
			measure(&cfg, counts[i], &res[i]);
			if (!best[i].pass || res[i].pass < best[i].pass)
				best[i].pass = res[i].pass;
			if (!best[i].munmap || res[i].munmap < best[i].munmap)
				best[i].munmap = res[i].munmap;
		}
		for (i = 0; i < n; i++) {
			double r = res[0].pass / res[i].pass;

			if (!k || r < lo[i])
				lo[i] = r;
			if (!k || r > hi[i])
				hi[i] = r;
		}
	}
	for (i = 0; i < n; i++) {
		if (counts[i] < 0)
			printf("bufs %s", child_name(counts[i]));
		else
			printf("bufs %ld", counts[i]);
		printf(" per_sec %.0f ratio %.4f round_ratio_min %.4f round_ratio_max %.4f",
		       cfg.pages / best[i].pass,
		       best[0].pass / best[i].pass, lo[i], hi[i]);
		if (cfg.mode == MODE_FAULT)
			printf(" munmap_ms %.3f", best[i].munmap * 1e3);
		printf(" pages %lu reps %ld rounds %ld memfd %s threads %ld mode %s\n",
		       cfg.pages, cfg.reps, cfg.rounds,
		       cfg.other_memfd ? "other" : "same", cfg.threads, mode);
	}
	return 0;
}
