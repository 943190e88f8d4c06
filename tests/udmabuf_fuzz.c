// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf_fuzz: a seeded fuzzer of udmabuf.ko, the udmabuf_importer and
 * udmabuf_vmap test modules, vgem imports and hmm_mirror.ko (issue 21).
 *
 *   udmabuf_fuzz [--seconds N] [--threads N] [--seed S] [--trace]
 *                [--no-hmm-release] [harness options]
 *
 * (defaults 30 s, 4 threads, a seed from the clock; UDMABUF_FUZZ_SECONDS,
 * _THREADS and _SEED in the environment do the same).  It prints "# seed S"
 * first and "# ops N (per thread ...) seed S" at the end.  Thread i draws
 * every choice from its own splitmix64 sequence seeded with S + i, and from
 * nothing else, so a seed repeats each thread's sequence of ops (how far a
 * thread gets in the time differs, and so does the interleaving): thread i
 * of seed S alone is "--seed S+i --threads 1".  --trace prints every op as
 * it starts; --no-hmm-release leaves HMM_DMIRROR_RELEASE out (to tell its
 * races with migrations, which the fuzzer found and
 * tests/hmm_mirror_release.c now covers, from anything else).
 *
 * Each thread has its own sealed memfd (shmem, shmem THP or hugetlb, the
 * seed decides), a model of what each of its pages holds (udmabuf_fuzz_ops.h),
 * up to NBUF buffers over it or over the churn memfd that all threads share,
 * an importer file with its slots, a vgem file, a /dev/hmm_dmirrorN file and
 * anonymous memory between PROT_NONE guards.  Each step it does one op:
 *
 *  - creates with valid arguments (UDMABUF_CREATE, UDMABUF_CREATE_LIST up
 *    to list_limit items) and with every kind of bad one: misaligned, empty,
 *    overflowing or past the end, over size_limit_mb, counts of 0, past
 *    list_limit and past the items mapped (EFAULT), bad pointers, unknown
 *    ioctls, fds of every wrong kind (fz_fdkind).  A bad one must fail with
 *    the errno Linux 6.12 gives (fz_create_errno()), a valid one succeed
 *    (ENOMEM allowed for hugetlb), FD_CLOEXEC as UDMABUF_FLAGS_CLOEXEC says
 *    (6.12 ignores the other flag bits, and so must the module);
 *  - punches (by this task, or by a kernel thread through udmabuf_vmap),
 *    rewrites (through the memfd mapping, pwrite(2), a device write of
 *    hmm_mirror, or a buffer's own writable mmap where the page is not a
 *    hole), MADV_DONTNEED, mremap and bad mmaps of buffer mappings, fork
 *    with a child that punches and writes the memfd, writes a MAP_PRIVATE
 *    copy and the anon memory, and checks the buffers itself;
 *  - DMA_BUF_IOCTL_SYNC with valid and invalid flags, importer attach
 *    (dynamic, static), map, unmap, pin, unpin, detach, read and info with
 *    good and bad arguments, vmaps read once or held, vgem imports;
 *  - create/close churn over the shared memfd;
 *  - hmm_mirror ioctls: device reads, writes, prefill windows, snapshots,
 *    migration, exclusive access, counters, hold/unhold, release, on the
 *    thread's memfd and anon memory, and with bad addresses (guards,
 *    unmapped, kernel, a dma-buf mapping), sizes and commands.
 *
 * After every op that changes the thread's memfd, every mapping of its
 * buffers is read directly (no SYNC) and must show what the model says: the
 * newest tag, or zero for a hole, when nothing pins the buffer (it follows:
 * udmabuf/README.md); a tag of the right page or zero while pinned (frozen).
 * Importer and vmap copies are checked the same way and against the mmap.
 * The first failure stops all threads; it is printed with the thread, its
 * step, the op, the arguments, the thread's buffers and slots and its last
 * ops.  A watchdog process (its own mm: a thread stuck in the kernel with
 * mmap_lock held stops every page fault of this one) names the threads and
 * prints their kernel stacks if the run has not ended 240 s after its time.
 */
#include "udmabuf_fuzz_ops.h"

#include <dirent.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <xf86drm.h>
#include <linux/magic.h>

#include "knob.h"
#include "udmabuf_vgem.h"
#include "kselftest_harness.h"
#include "udmabuf_fuzz_create.h"
#include "udmabuf_fuzz_dmabuf.h"
#include "udmabuf_fuzz_hmm.h"

static struct fuzz fz = {
	.seconds = 30,
	.nthreads = 4,
};

static __thread struct fz_thread *fz_self;

/* --- the memfd: punches and rewrites ----------------------------------- */

static void op_punch(struct fz_thread *t)
{
	unsigned long first, nr;

	rand_range(t, &first, &nr, 64);
	fz_note(t, "memfd pages [%lu, +%lu)", first, nr);
	if (fz_punch(t, first, nr))
		fz_check_all(t, "mmap after a punch");
}

static void op_rewrite(struct fz_thread *t)
{
	unsigned long first, nr;

	rand_range(t, &first, &nr, 64);
	fz_rewrite(t, first, nr);
	fz_check_all(t, "mmap after a rewrite");
}

/* The promise: after a punch and a rewrite, buffers show the new tags. */
static void op_punch_rewrite(struct fz_thread *t)
{
	unsigned long first, nr, sub, subnr;

	rand_range(t, &first, &nr, 64);
	fz_note(t, "punch memfd pages [%lu, +%lu)", first, nr);
	if (!fz_punch(t, first, nr))
		return;
	if (chance(t, 1, 3) && !fz_check_all(t, "mmap after a punch"))
		return;
	if (chance(t, 2, 3)) {
		fz_rewrite(t, first, nr);
	} else {	/* part of it: the rest stays a hole */
		subnr = 1 + below(t, nr);
		sub = first + below(t, nr - subnr + 1);
		fz_rewrite(t, sub, subnr);
	}
	fz_check_all(t, "mmap after a punch and a rewrite");
}

static void op_dontneed(struct fz_thread *t)
{
	unsigned long first, nr, hp = HPS / PS;
	int k, ret;

	switch (below(t, 4)) {
	case 0:		/* the memfd mapping: nothing changes */
		rand_range(t, &first, &nr, 64);
		if (t->kind == UB_HUGETLB) {
			first -= first % hp;
			nr = nr < hp ? hp : nr - nr % hp;
		}
		fz_note(t, "memfd mapping pages [%lu, +%lu)", first, nr);
		if (madvise(t->mem + first * W, nr * PS, MADV_DONTNEED))
			fz_fail(t, "MADV_DONTNEED of memfd mapping pages [%lu, +%lu): %s",
				first, nr, strerror(errno));
		break;
	case 1:		/* a buffer mapping: VM_PFNMAP refuses */
		k = buf_pick(t, false);
		if (k < 0 || !t->bufs[k].map)
			return;
		fz_note(t, "mmap of buffer #%lu", t->bufs[k].id);
		ret = madvise((void *)t->bufs[k].map, t->bufs[k].map_pages * PS,
			      MADV_DONTNEED);
		fz_expect_err(t, ret, errno, EINVAL,
			      "MADV_DONTNEED of a buffer mapping");
		break;
	case 2:		/* anon memory: zero from now */
		nr = 1 + below(t, ANON_PAGES);
		first = below(t, ANON_PAGES - nr + 1);
		fz_note(t, "anon pages [%lu, +%lu)", first, nr);
		if (madvise(t->anon + first * W, nr * PS, MADV_DONTNEED))
			fz_fail(t, "MADV_DONTNEED of anon pages: %s",
				strerror(errno));
		memset(t->anon_cur + first, 0, nr * sizeof(t->anon_cur[0]));
		break;
	default:	/* the MAP_PRIVATE copy */
		if (!t->priv)
			return;
		rand_range(t, &first, &nr, 64);
		fz_note(t, "private mapping pages [%lu, +%lu)", first, nr);
		if (madvise(t->priv + first * W, nr * PS, MADV_DONTNEED))
			fz_fail(t, "MADV_DONTNEED of the private mapping: %s",
				strerror(errno));
	}
	fz_check_all(t, "mmap after MADV_DONTNEED");
}

/* --- buffer mappings --------------------------------------------------- */

static void op_mremap(struct fz_thread *t)
{
	int k = buf_pick(t, false);
	struct fz_buf *b;
	size_t len;
	void *p, *dst;

	if (k < 0 || !t->bufs[k].map)
		return;
	b = &t->bufs[k];
	len = b->map_pages * PS;
	switch (below(t, 10)) {
	case 0 ... 4:	/* move it */
		dst = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
		if (dst == MAP_FAILED) {
			fz_fail(t, "mmap of %zu bytes: %s", len,
				strerror(errno));
			return;
		}
		fz_note(t, "move buffer #%lu's mmap (%lu pages)", b->id,
			b->map_pages);
		p = mremap((void *)b->map, len, len,
			   MREMAP_MAYMOVE | MREMAP_FIXED, dst);
		if (p != dst) {
			fz_fail(t, "mremap of buffer #%lu's mmap to a new place: %s",
				b->id, strerror(errno));
			munmap(dst, len);
			return;
		}
		b->map = p;
		break;
	case 5 ... 6:	/* shrink it */
		if (b->map_pages < 2)
			return;
		len = (1 + below(t, b->map_pages - 1)) * PS;
		fz_note(t, "shrink buffer #%lu's mmap to %zu pages", b->id,
			len / PS);
		p = mremap((void *)b->map, b->map_pages * PS, len, 0);
		if (p != (void *)b->map) {
			fz_fail(t, "mremap shrinking buffer #%lu's mmap: %s",
				b->id, strerror(errno));
			return;
		}
		b->map_pages = len / PS;
		break;
	case 7 ... 8:	/* grow it: VM_DONTEXPAND */
		fz_note(t, "grow buffer #%lu's mmap", b->id);
		p = mremap((void *)b->map, len, len + (1 + below(t, 4)) * PS,
			   MREMAP_MAYMOVE);
		fz_expect_err(t, p == MAP_FAILED ? -1 : 0, errno, EFAULT,
			      "mremap growing a buffer mapping");
		if (p != MAP_FAILED)
			b->map = NULL;	/* the test failed anyway */
		return;
	default:	/* MREMAP_DONTUNMAP of a VM_PFNMAP mapping */
		fz_note(t, "MREMAP_DONTUNMAP buffer #%lu's mmap", b->id);
		p = mremap((void *)b->map, len, len,
			   MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
		fz_expect_err(t, p == MAP_FAILED ? -1 : 0, errno, EINVAL,
			      "mremap(MREMAP_DONTUNMAP) of a buffer mapping");
		if (p != MAP_FAILED)
			b->map = NULL;
		return;
	}
	fz_check_map(t, b, "mmap after mremap");
}

/* Private, oversized and misplaced mmaps fail; a partial one works. */
static void op_mmap(struct fz_thread *t)
{
	int k = buf_pick(t, false);
	unsigned long off, nr, i;
	struct fz_buf *b;
	volatile uint64_t *p;

	if (k < 0)
		return;
	b = &t->bufs[k];
	switch (below(t, 4)) {
	case 0:
		nr = b->npages;
		fz_note(t, "MAP_PRIVATE of buffer #%lu", b->id);
		p = mmap(NULL, nr * PS, PROT_READ, MAP_PRIVATE, b->fd, 0);
		fz_expect_err(t, p == MAP_FAILED ? -1 : 0, errno, EINVAL,
			      "MAP_PRIVATE mmap of a buffer");
		break;
	case 1:
		nr = b->npages + 1 + below(t, 4);
		fz_note(t, "%lu pages of buffer #%lu (%lu)", nr, b->id,
			b->npages);
		p = mmap(NULL, nr * PS, PROT_READ, MAP_SHARED, b->fd, 0);
		fz_expect_err(t, p == MAP_FAILED ? -1 : 0, errno, EINVAL,
			      "mmap past the end of a buffer");
		break;
	default:
		nr = 1 + below(t, b->npages);
		off = below(t, b->npages - nr + 1);
		fz_note(t, "buffer #%lu pages [%lu, +%lu)", b->id, off, nr);
		p = mmap(NULL, nr * PS, PROT_READ, MAP_SHARED, b->fd, off * PS);
		if (p == MAP_FAILED) {
			fz_fail(t, "mmap of buffer #%lu pages [%lu, +%lu): %s",
				b->id, off, nr, strerror(errno));
			return;
		}
		for (i = 0; i < nr; i++)
			if (!fz_check_page(t, b, off + i, p[i * W],
					   p[i * W + W - 1], !b->pins,
					   "partial mmap"))
				break;
		munmap((void *)p, nr * PS);
		return;
	}
	if (p != MAP_FAILED)
		munmap((void *)p, nr * PS);
}

/* --- fork -------------------------------------------------------------- */

struct fork_plan {
	unsigned long first, nr;	/* punched, then written */
	unsigned long fill;		/* pages of it written */
	bool punch, priv, anon;
	uint32_t gen;
};

/* The child: no libc but syscalls, it reports through t->report. */
static void __attribute__((noreturn))
fork_child(struct fz_thread *t, const struct fork_plan *p)
{
	unsigned long m, i;
	int k;

	if (p->punch && ub_punch(t->memfd, p->first * PS, p->nr * PS))
		_exit(3);
	if (p->punch)
		fz_punched(t, p->first, p->nr);
	ub_fill(t->mem, p->first, p->fill, p->gen);
	for (m = p->first; m < p->first + p->fill; m++)
		fz_written(t, m, p->gen);
	/* Copy-on-write pages of this child's own: no one else sees them. */
	if (p->priv && t->priv)
		ub_fill(t->priv, p->first, p->nr, GEN_PRIVATE);
	if (p->anon)
		for (i = 0; i < ANON_PAGES; i++)
			t->anon[i * W] = ub_tag(ANON_TAG + i, GEN_PRIVATE);
	/* The inherited buffer mappings follow this child's writes too. */
	for (k = 0; k < NBUF; k++) {
		const struct fz_buf *b = &t->bufs[k];

		for (i = 0; b->used && b->map && i < b->map_pages; i++) {
			uint64_t w0 = b->map[i * W], w1 = b->map[i * W + W - 1];

			if (fz_page_ok(t, b, i, w0, w1, !b->pins))
				continue;
			*t->report = (struct fz_report) {
				.bad = 1, .buf = k, .page = i, .m = b->pg[i],
				.w0 = w0, .w1 = w1,
				.want = fz_want(t, b->pg[i] & ~CHURN_BIT),
			};
			_exit(4);
		}
	}
	_exit(0);
}

static void op_fork(struct fz_thread *t)
{
	struct fork_plan p = { 0 };
	double end;
	int status = 0;
	pid_t pid, w;
	unsigned long m;

	rand_range(t, &p.first, &p.nr, 64);
	p.punch = chance(t, 2, 3);
	p.fill = chance(t, 3, 4) ? p.nr : below(t, p.nr + 1);
	p.priv = chance(t, 1, 2);
	p.anon = chance(t, 1, 2);
	p.gen = fz_next_gen(t);
	fz_note(t, "child: %s memfd pages [%lu, +%lu), writes %lu of them (generation %u)%s%s",
		p.punch ? "punches" : "keeps", p.first, p.nr, p.fill, p.gen,
		p.priv ? ", writes the private copy" : "",
		p.anon ? ", writes anon memory" : "");
	memset(t->report, 0, sizeof(*t->report));
	/*
	 * A copy of the address space, sharing the fd table: a child of
	 * fork() would hold its own references to every thread's files, and
	 * keep another thread's importer or vmap file, and the pins that go
	 * with it, past that thread's close().
	 */
	pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, NULL, NULL, NULL, 0);
	if (pid < 0) {
		fz_fail(t, "fork: %s", strerror(errno));
		return;
	}
	if (!pid)
		fork_child(t, &p);
	/* Bounded: a child that hangs is killed and reported. */
	end = fz_now() + 60;
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && fz_now() < end)
		usleep(1000);
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fz_fail(t, "fork child %d did not exit within 60 s", pid);
		return;
	}
	if (w < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		const struct fz_report *r = t->report;

		fz_fail(t, "fork child: status %#x%s; buffer record %d page %lu (memfd page %#x): words %#llx, %#llx, want %#llx",
			status, r->bad ? " (a buffer mapping was wrong)" : "",
			r->buf, r->page, r->m, (unsigned long long)r->w0,
			(unsigned long long)r->w1,
			(unsigned long long)r->want);
		return;
	}
	if (p.punch)
		fz_punched(t, p.first, p.nr);
	for (m = p.first; m < p.first + p.fill; m++)
		fz_written(t, m, p.gen);
	fz_check_all(t, "mmap after a child's punch and writes");
}

/* A full check, including the memfd itself (pread: no fault, no fill). */
static void op_check(struct fz_thread *t)
{
	unsigned long first, nr, i;

	rand_range(t, &first, &nr, MPAGES);
	fz_note(t, "all mappings; pread of memfd pages [%lu, +%lu)", first, nr);
	if (!fz_check_all(t, "mmap"))
		return;
	if (pread(t->memfd, t->scratch, nr * PS, first * PS) !=
	    (ssize_t)(nr * PS)) {
		fz_fail(t, "pread of memfd pages [%lu, +%lu): %s", first, nr,
			strerror(errno));
		return;
	}
	fz_check_memcopy(t, first, nr, "pread of the memfd");
	/* Unwritten, the private mapping shows the memfd too. */
	for (i = first; t->priv && i < first + nr; i++)
		if (t->priv[i * W] != fz_want(t, i)) {
			fz_fail(t, "private mapping page %lu: %#llx, want %#llx",
				i, (unsigned long long)t->priv[i * W],
				(unsigned long long)fz_want(t, i));
			return;
		}
}

/* --- threads ----------------------------------------------------------- */

static const struct {
	const char *name;
	unsigned int weight;
	void (*fn)(struct fz_thread *t);
} fz_ops[] = {
	{ "create", 8, op_create },
	{ "create_list", 4, op_list },
	{ "bad_create", 10, op_bad },
	{ "close", 6, op_close },
	{ "punch", 5, op_punch },
	{ "rewrite", 5, op_rewrite },
	{ "punch_rewrite", 10, op_punch_rewrite },
	{ "dontneed", 4, op_dontneed },
	{ "mremap", 3, op_mremap },
	{ "mmap", 3, op_mmap },
	{ "fork", 2, op_fork },
	{ "sync", 6, op_sync },
	{ "importer", 12, op_importer },
	{ "vmap", 3, op_vmap },
	{ "vgem", 2, op_vgem },
	{ "churn", 8, op_churn },
	{ "hmm", 12, op_hmm },
	{ "check", 3, op_check },
};

#define NOPS (sizeof(fz_ops) / sizeof(fz_ops[0]))

static const char * const kind_name[] = { "shmem", "shmem THP", "hugetlb" };

static bool thread_setup(struct fz_thread *t)
{
	size_t list_bytes = sizeof(struct udmabuf_create_list) +
			    LIST_CAP * sizeof(struct udmabuf_create_item);
	unsigned long r = below(t, 10), i, w;
	int k;

	t->imp = t->card = t->hmm = -1;
	for (k = 0; k < NBUF; k++) {
		t->bufs[k].fd = -1;
		t->bufs[k].vmap_fd = -1;
	}
	for (k = 0; k < NSLOT; k++)
		t->slots[k].buf = -1;
	t->kind = r < 5 ? UB_SHMEM : r < 8 ? UB_THP : UB_HUGETLB;
	t->memfd = ub_memfd(t->kind, MPAGES * PS);
	if (t->memfd < 0 && t->kind == UB_HUGETLB) {
		ksft_print_msg("thread %d: no hugetlb memfd (%s): shmem\n",
			       t->id, strerror(errno));
		t->kind = UB_SHMEM;
		t->memfd = ub_memfd(t->kind, MPAGES * PS);
	}
	if (t->memfd < 0) {
		fz_fail(t, "memfd: %s", strerror(errno));
		return false;
	}
	t->mem = ub_map_memfd(t->kind, t->memfd, MPAGES * PS);
	if (t->kind != UB_HUGETLB)
		t->priv = mmap(NULL, MPAGES * PS, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE, t->memfd, 0);
	t->area = mmap(NULL, (ANON_PAGES + 2 * GUARD_PAGES) * PS, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->scratch = mmap(NULL, MPAGES * PS, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->list_len = (list_bytes + PS - 1) & ~(PS - 1);
	t->list_area = mmap(NULL, t->list_len + PS, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->guard = mmap(NULL, PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	t->report = mmap(NULL, PS, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!t->mem || t->priv == MAP_FAILED || t->area == MAP_FAILED ||
	    t->scratch == MAP_FAILED || t->list_area == MAP_FAILED ||
	    t->guard == MAP_FAILED || t->report == MAP_FAILED ||
	    mprotect(t->list_area + t->list_len, PS, PROT_NONE)) {
		fz_fail(t, "mmap: %s", strerror(errno));
		return false;
	}
	t->anon = (uint64_t *)(t->area + GUARD_PAGES * PS);
	if (mprotect(t->anon, ANON_PAGES * PS, PROT_READ | PROT_WRITE)) {
		fz_fail(t, "mprotect: %s", strerror(errno));
		return false;
	}
	/* Every page written once: generation 1. */
	t->gen = 1;
	ub_fill(t->mem, 0, MPAGES, 1);
	for (i = 0; i < MPAGES; i++)
		fz_written(t, i, 1);
	for (i = 0; i < ANON_PAGES; i++) {
		for (w = 0; w < W; w++)
			t->anon[i * W + w] = ub_tag(ANON_TAG + i, 1);
		t->anon_cur[i] = 1;
	}
	if (t->f->importer) {
		t->imp = open("/dev/udmabuf_importer", O_RDWR | O_CLOEXEC);
		if (t->imp < 0) {
			fz_fail(t, "open /dev/udmabuf_importer: %s",
				strerror(errno));
			return false;
		}
	}
	if (t->f->vgem)
		t->card = ub_open_vgem();
	if (t->f->hmm)
		hmm_open(t);
	return !t->fail[0];
}

static void thread_teardown(struct fz_thread *t)
{
	int k;

	if (t->imp >= 0)
		close(t->imp);
	for (k = 0; k < NSLOT; k++)
		if (t->slots[k].buf >= 0)
			slot_forget(t, k);
	for (k = 0; k < NBUF; k++)
		if (t->bufs[k].used)
			buf_close(t, k, false);
	if (t->card >= 0)
		close(t->card);
	if (t->hmm >= 0)
		close(t->hmm);
	if (t->mem)
		munmap(t->mem, MPAGES * PS);
	if (t->priv && t->priv != MAP_FAILED)
		munmap(t->priv, MPAGES * PS);
	if (t->area && t->area != MAP_FAILED)
		munmap(t->area, (ANON_PAGES + 2 * GUARD_PAGES) * PS);
	if (t->scratch && t->scratch != MAP_FAILED)
		munmap(t->scratch, MPAGES * PS);
	if (t->list_area && t->list_area != MAP_FAILED)
		munmap(t->list_area, t->list_len + PS);
	if (t->guard && t->guard != MAP_FAILED)
		munmap(t->guard, PS);
	if (t->report && t->report != MAP_FAILED)
		munmap(t->report, PS);
	if (t->memfd >= 0)
		close(t->memfd);
}

/* What the model of a failed thread holds: its buffers and slots. */
static void dump_model(struct fz_thread *t)
{
	size_t len = sizeof(t->model), n = 0;
	const struct fz_buf *b;
	const struct fz_slot *sl;
	int k;

	for (k = 0; k < NBUF && n < len; k++) {
		b = &t->bufs[k];
		if (!b->used)
			continue;
		n += snprintf(t->model + n, len - n,
			      "thread %d record %d: buffer #%lu fd %d, %lu pages from memfd page %u%s, mmap %lu pages, pins %d (vmap %s, vgem %s)\n",
			      t->id, k, b->id, b->fd, b->npages,
			      b->pg[0] & ~CHURN_BIT,
			      b->pg[0] & CHURN_BIT ? " (churn)" : "",
			      b->map ? b->map_pages : 0, b->pins,
			      b->vmap_fd >= 0 ? "held" : "no",
			      b->vgem ? "imported" : "no");
	}
	for (k = 0; k < NSLOT && n < len; k++) {
		sl = &t->slots[k];
		if (sl->buf < 0)
			continue;
		n += snprintf(t->model + n, len - n,
			      "thread %d slot %d: buffer #%lu, %s%s%s\n",
			      t->id, k, t->bufs[sl->buf].id,
			      sl->dynamic ? "dynamic" : "static",
			      sl->mapped ? ", mapped" : "",
			      sl->pinned ? ", pinned" : "");
	}
}

static void print_lines(const char *s)
{
	const char *nl;

	for (; *s; s = *nl ? nl + 1 : nl) {
		nl = strchrnul(s, '\n');
		ksft_print_msg("  %.*s\n", (int)(nl - s), s);
	}
}

static void *fz_thread_main(void *arg)
{
	struct fz_thread *t = arg;
	struct fuzz *f = t->f;
	unsigned int total = 0, i;
	uint64_t r;

	fz_self = t;
	t->op = "setup";
	for (i = 0; i < NOPS; i++)
		total += fz_ops[i].weight;
	if (thread_setup(t)) {
		while (!t->fail[0] && !atomic_load(&f->stop) &&
		       fz_now() < f->deadline) {
			t->step++;
			t->trace[t->step % TRACE][0] = 0;
			r = below(t, total);
			for (i = 0; r >= fz_ops[i].weight; i++)
				r -= fz_ops[i].weight;
			t->op = fz_ops[i].name;
			f->status->th[t->id].step = t->step;
			f->status->th[t->id].op = i;
			fz_ops[i].fn(t);
			t->ops[i]++;
			t->nops++;
		}
	}
	if (t->fail[0])
		dump_model(t);
	t->op = "teardown";
	f->status->th[t->id].op = -1;
	thread_teardown(t);
	return NULL;
}

/*
 * A thread stuck in the kernel may hold its mm's mmap_lock, or have a
 * writer queued on it: then any page fault of this process waits too, and
 * it cannot even print.  A process of its own watches from the start: past
 * @limit seconds it names each thread's step and op, prints the kernel
 * stacks of the threads, and kills the test.
 */
static pid_t start_watchdog(const struct fuzz *f, unsigned int limit)
{
	pid_t parent = getpid(), pid = fork();
	char path[300], line[256];
	struct dirent *d;
	unsigned int i, u;
	DIR *dir;
	FILE *s;
	int fd;

	if (pid)
		return pid;
	for (fd = 3; fd < 4096; fd++)
		close(fd);
	for (i = 0; i < limit * 10; i++) {
		if (atomic_load(&f->status->done) || getppid() != parent)
			_exit(0);
		usleep(100000);
	}
	printf("# watchdog: no end %u s after the start (seed %llu)\n", limit,
	       (unsigned long long)f->seed);
	for (u = 0; u < f->nthreads; u++) {
		int op = f->status->th[u].op;

		printf("# watchdog: thread %u at step %lu, %s %s\n", u,
		       f->status->th[u].step, op < 0 ? "outside" : "in op",
		       op < 0 ? "the ops" : fz_ops[op].name);
	}
	snprintf(path, sizeof(path), "/proc/%d/task", parent);
	dir = opendir(path);
	while (dir && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stack", parent,
			 d->d_name);
		s = fopen(path, "r");
		if (!s)
			continue;
		printf("# watchdog: kernel stack of task %s:\n", d->d_name);
		while (fgets(line, sizeof(line), s))
			printf("#   %s", line);
		fclose(s);
	}
	if (dir)
		closedir(dir);
	fflush(stdout);
	kill(parent, SIGKILL);
	_exit(0);
}

/* A crash of a thread still names the seed and the op. */
static void fz_fatal(int sig)
{
	struct fz_thread *t = fz_self;
	char msg[256];
	int n;

	n = snprintf(msg, sizeof(msg), "# signal %d in thread %d step %lu op %s, seed %llu\n",
		     sig, t ? t->id : -1, t ? t->step : 0, t ? t->op : "-",
		     (unsigned long long)fz.seed);
	if (write(2, msg, n) < 0)
		n = 0;
	signal(sig, SIG_DFL);
	raise(sig);
}

/* --- the shared set-up ------------------------------------------------- */

static int vgem_dmabuf(int card)
{
	struct drm_mode_create_dumb dumb = {
		.width = 64, .height = 64, .bpp = 32,
	};
	int fd = -1;

	if (drmIoctl(card, DRM_IOCTL_MODE_CREATE_DUMB, &dumb))
		return -1;
	if (drmPrimeHandleToFD(card, dumb.handle, DRM_CLOEXEC, &fd))
		fd = -1;
	drmCloseBufferHandle(card, dumb.handle);
	return fd;
}

/* A memfd of 16 pages with @seals (-1: sealing not allowed at all). */
static int seal_memfd(int seals)
{
	int fd = memfd_create("fuzz-bad", MFD_CLOEXEC |
			      (seals >= 0 ? MFD_ALLOW_SEALING : 0));

	if (fd < 0 || ftruncate(fd, 16 * PS) ||
	    (seals > 0 && fcntl(fd, F_ADD_SEALS, seals))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void set_fd(struct fuzz *f, enum fz_fdkind k, const char *name, int fd,
		   int err, uint64_t size)
{
	f->fds[k] = (struct fz_fdinfo) {
		.name = name, .fd = fd, .avail = fd >= 0 || fd < -1 ||
		k == FK_NEG, .err = err, .size = size,
	};
}

static void fz_shared_setup(struct __test_metadata *_metadata, struct fuzz *f)
{
	struct udmabuf_importer_attach a = {
		.flags = UDMABUF_IMPORTER_ATTACH_DYNAMIC,
	};
	struct udmabuf_importer_info info = { 0 };
	struct udmabuf_importer_read r = { .len = 8 };
	int pipefd[2], fd, imp, card;
	struct statfs sfs;
	long v;

	f->dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, f->dev) TH_LOG("no /dev/udmabuf: %s", strerror(errno));
	v = read_long("/sys/module/udmabuf/parameters/list_limit");
	f->list_limit = v > 0 ? v : 1024;
	v = read_long("/sys/module/udmabuf/parameters/size_limit_mb");
	f->size_limit_mb = v > 0 ? v : 64;
	f->churn = ub_memfd(UB_SHMEM, CHURN_PAGES * PS);
	ASSERT_LE(0, f->churn);
	f->churn_map = mmap(NULL, CHURN_PAGES * PS, PROT_READ | PROT_WRITE,
			    MAP_SHARED, f->churn, 0);
	ASSERT_NE(MAP_FAILED, f->churn_map);
	ub_fill((uint64_t *)f->churn_map, 0, CHURN_PAGES, 1);

	set_fd(f, FK_OWN, "own memfd", -1, 0, MPAGES * PS);
	f->fds[FK_OWN].avail = true;
	set_fd(f, FK_CHURN, "churn memfd", f->churn, 0, CHURN_PAGES * PS);
	set_fd(f, FK_NOSEAL, "unsealed memfd", seal_memfd(0), EINVAL, 16 * PS);
	set_fd(f, FK_SEALWRITE, "F_SEAL_WRITE memfd",
	       seal_memfd(F_SEAL_SHRINK | F_SEAL_WRITE), EINVAL, 16 * PS);
	set_fd(f, FK_FUTUREWRITE, "F_SEAL_FUTURE_WRITE memfd",
	       seal_memfd(F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE), EINVAL,
	       16 * PS);
	set_fd(f, FK_NOSEALING, "memfd without sealing", seal_memfd(-1),
	       EINVAL, 16 * PS);
	set_fd(f, FK_GROW, "F_SEAL_GROW memfd", seal_memfd(F_SEAL_GROW),
	       EINVAL, 16 * PS);
	fd = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 && ftruncate(fd, 16 * PS)) {
		close(fd);
		fd = -1;
	}
	set_fd(f, FK_TMPFS, "tmpfs file", fd, EINVAL, 16 * PS);
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && (fstatfs(fd, &sfs) || sfs.f_type == TMPFS_MAGIC ||
			sfs.f_type == HUGETLBFS_MAGIC)) {
		close(fd);
		fd = -1;
	}
	set_fd(f, FK_REGULAR, "regular file", fd, EBADFD, 0);
	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	close(pipefd[1]);
	set_fd(f, FK_PIPE, "pipe", pipefd[0], EBADFD, 0);
	set_fd(f, FK_NULL, "/dev/null", open("/dev/null", O_RDWR | O_CLOEXEC),
	       EBADFD, 0);
	set_fd(f, FK_EVENTFD, "eventfd", eventfd(0, EFD_CLOEXEC), EBADFD, 0);
	set_fd(f, FK_DMABUF, "udmabuf", ub_create(f->dev, f->churn, 0, PS),
	       EBADFD, 0);
	set_fd(f, FK_UDEV, "/dev/udmabuf", f->dev, EBADFD, 0);
	card = ub_open_vgem();
	f->vgem = card >= 0;
	set_fd(f, FK_VGEM, "vgem card", card, EBADFD, 0);
	set_fd(f, FK_VGEMBUF, "vgem dma-buf",
	       card >= 0 ? vgem_dmabuf(card) : -1, EBADFD, 0);
	set_fd(f, FK_CLOSED, "fd never open", 1 << 20, EBADFD, 0);
	set_fd(f, FK_NEG, "fd -1", -1, EBADFD, 0);
	set_fd(f, FK_INTMIN, "fd INT_MIN", INT_MIN, EBADFD, 0);
	ASSERT_LE(0, f->fds[FK_DMABUF].fd);

	f->vmap = !access("/dev/udmabuf_vmap", R_OK | W_OK);
	f->hmm = !access("/dev/hmm_dmirror0", R_OK | W_OK);
	f->importer = !access("/dev/udmabuf_importer", R_OK | W_OK);
	if (f->importer) {
		/* CONFIG_DMABUF_MOVE_NOTIFY, and whether reads work. */
		imp = open("/dev/udmabuf_importer", O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, imp);
		a.fd = f->fds[FK_DMABUF].fd;
		ASSERT_EQ(0, ioctl(imp, UDMABUF_IMPORTER_ATTACH, &a));
		ASSERT_EQ(0, ioctl(imp, UDMABUF_IMPORTER_INFO, &info));
		f->move_notify = info.flags & UDMABUF_IMPORTER_INFO_MOVE_NOTIFY;
		ASSERT_EQ(0, ioctl(imp, UDMABUF_IMPORTER_MAP, 0));
		r.ptr = (uintptr_t)&v;
		f->imp_read = !ioctl(imp, UDMABUF_IMPORTER_READ, &r);
		close(imp);
	}
	ksft_print_msg("%u s, %u threads; list_limit %ld, size_limit_mb %ld; importer %s%s%s, vmap %s, vgem %s, hmm_mirror %s\n",
		       f->seconds, f->nthreads, f->list_limit, f->size_limit_mb,
		       f->importer ? "yes" : "no",
		       f->importer && f->move_notify ? " (move_notify)" : "",
		       f->importer && !f->imp_read ? " (no reads)" : "",
		       f->vmap ? "yes" : "no", f->vgem ? "yes" : "no",
		       f->hmm ? "yes" : "no");
}

static void fz_shared_teardown(struct fuzz *f)
{
	int k;

	for (k = FK_NOSEAL; k < FK_NR; k++)
		if (f->fds[k].fd >= 0 && k != FK_UDEV && k != FK_CLOSED)
			close(f->fds[k].fd);
	munmap((void *)f->churn_map, CHURN_PAGES * PS);
	close(f->churn);
	close(f->dev);
}

static int count_fds(void)
{
	char path[64];
	int fd, n = 0;

	for (fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n += !access(path, F_OK);
	}
	return n;
}

static void print_stats(void)
{
	char line[128];
	FILE *s;

	s = fopen("/sys/kernel/debug/udmabuf/stats", "r");
	if (!s)
		return;
	while (fgets(line, sizeof(line), s))
		ksft_print_msg("udmabuf stats: %s", line);
	fclose(s);
}

FIXTURE(fuzz) {
	int unused;
};

FIXTURE_SETUP(fuzz)
{
}

FIXTURE_TEARDOWN(fuzz)
{
}

/* The harness's limit; main() sets it from --seconds. */
TEST_F_TIMEOUT(fuzz, run, 600)
{
	struct fz_thread *th;
	pid_t watchdog;
	unsigned long total = 0;
	char per[512];
	int fds_before, p = 0, failed = 0, idle = 0, i, j;
	unsigned int u;

	ksft_print_msg("seed %llu\n", (unsigned long long)fz.seed);
	signal(SIGSEGV, fz_fatal);
	signal(SIGBUS, fz_fatal);
	fds_before = count_fds();
	fz_shared_setup(_metadata, &fz);
	th = calloc(fz.nthreads, sizeof(*th));
	ASSERT_NE(NULL, th);
	fz.status = mmap(NULL, sizeof(*fz.status), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, fz.status);
	for (u = 0; u < fz.nthreads; u++)
		fz.status->th[u].op = -1;
	fflush(stdout);
	watchdog = start_watchdog(&fz, fz.seconds + 240);
	ASSERT_LT(0, watchdog);
	fz.deadline = fz_now() + fz.seconds;
	for (u = 0; u < fz.nthreads; u++) {
		th[u].f = &fz;
		th[u].id = u;
		th[u].rng = fz.seed + u;
		ASSERT_EQ(0, pthread_create(&th[u].th, NULL, fz_thread_main,
					    &th[u]));
	}
	/* Bounded by the watchdog: a thread stuck in the kernel is named. */
	for (u = 0; u < fz.nthreads; u++)
		pthread_join(th[u].th, NULL);
	atomic_store(&fz.status->done, 1);
	waitpid(watchdog, NULL, 0);
	munmap(fz.status, sizeof(*fz.status));
	for (u = 0; u < fz.nthreads; u++) {
		struct fz_thread *t = &th[u];
		char line[1024];
		int q = 0;

		total += t->nops;
		p += snprintf(per + p, sizeof(per) - p, "%s%lu",
			      u ? " + " : "", t->nops);
		for (i = 0; i < (int)NOPS; i++)
			q += snprintf(line + q, sizeof(line) - q, " %s %lu",
				      fz_ops[i].name, t->ops[i]);
		ksft_print_msg("thread %u (%s memfd, hmm device %d): %lu ops:%s\n",
			       u, kind_name[t->kind], t->hmm_dev, t->nops,
			       line);
		ksft_print_msg("thread %u: %lu buffer pages checked as following (%lu of them holes), %lu as frozen or shared; %lu allowed errors (ENOMEM, EBUSY, ...)\n",
			       u, t->n_strict, t->n_holes, t->n_weak,
			       t->n_allowed);
		if (!t->fail[0])
			continue;
		failed++;
		ksft_print_msg("FAIL (seed %llu): %s\n",
			       (unsigned long long)fz.seed, t->fail);
		print_lines(t->model);
		for (j = TRACE - 1; j >= 0; j--) {
			const char *s = t->trace[(t->step - j) % TRACE];

			if (t->step >= (unsigned long)j && s[0])
				ksft_print_msg("  thread %u %s\n", u, s);
		}
	}
	ksft_print_msg("ops %lu (%s) seed %llu\n", total, per,
		       (unsigned long long)fz.seed);
	print_stats();
	for (u = 0; u < fz.nthreads; u++)
		idle += !th[u].nops;
	free(th);
	fz_shared_teardown(&fz);
	EXPECT_EQ(0, failed) TH_LOG("seed %llu", (unsigned long long)fz.seed);
	EXPECT_EQ(0, idle) TH_LOG("threads that did no op");
	EXPECT_EQ(fds_before, count_fds()) TH_LOG("fds left open");
}

static unsigned long long arg_num(const char *s, const char *name)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	if (!*s || *end) {
		fprintf(stderr, "udmabuf_fuzz: bad %s '%s'\n", name, s);
		exit(KSFT_FAIL);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *env;
	int i, n = 1;

	fz.seed = (uint64_t)time(NULL) * 1000003 ^ getpid();
	if ((env = getenv("UDMABUF_FUZZ_SECONDS")))
		fz.seconds = arg_num(env, "seconds");
	if ((env = getenv("UDMABUF_FUZZ_THREADS")))
		fz.nthreads = arg_num(env, "threads");
	if ((env = getenv("UDMABUF_FUZZ_SEED")))
		fz.seed = arg_num(env, "seed");
	/* Our options; the rest goes to the harness. */
	for (i = 1; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--seconds"))
			fz.seconds = arg_num(argv[++i], "seconds");
		else if (i + 1 < argc && !strcmp(argv[i], "--threads"))
			fz.nthreads = arg_num(argv[++i], "threads");
		else if (i + 1 < argc && !strcmp(argv[i], "--seed"))
			fz.seed = arg_num(argv[++i], "seed");
		else if (!strcmp(argv[i], "--trace"))
			fz.trace = true;
		else if (!strcmp(argv[i], "--no-hmm-release"))
			fz.no_hmm_release = true;
		else
			argv[n++] = argv[i];
	}
	argv[n] = NULL;
	if (fz.seconds < 1 || fz.seconds > 3600 || fz.nthreads < 1 ||
	    fz.nthreads > 64) {
		fprintf(stderr, "udmabuf_fuzz: --seconds 1..3600, --threads 1..64\n");
		return KSFT_FAIL;
	}
	/* Set-up and teardown on a slow (KASAN) kernel, and the join limit. */
	_fuzz_run_object->timeout = fz.seconds + 300;
	return test_harness_run(n, argv);
}
