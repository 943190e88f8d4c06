/* SPDX-License-Identifier: GPL-2.0 */
/*
 * udmabuf_fuzz: hmm_mirror.ko requests (hmm-mirror/hmm_mirror_uapi.h):
 * valid ones on the thread's own memfd and anon memory, whose data must
 * match the model, and bad addresses, sizes, commands and pointers, each
 * with the errno hmm_mirror.c gives.  Every mirror covers the whole mm, so
 * other threads' invalidations may make a device access give up (EBUSY):
 * allowed, and a device write that gave up is done again by the CPU.
 */
#ifndef UDMABUF_FUZZ_HMM_H
#define UDMABUF_FUZZ_HMM_H

#include "udmabuf_fuzz_ops.h"

static void hmm_open(struct fz_thread *t)
{
	char path[32];

	t->hmm_dev = below(t, 4);
	snprintf(path, sizeof(path), "/dev/hmm_dmirror%d", t->hmm_dev);
	t->hmm = open(path, O_RDWR | O_CLOEXEC);
	if (t->hmm < 0 && t->hmm_dev >= 2) {	/* no device coherent memory */
		t->hmm_dev -= 2;
		snprintf(path, sizeof(path), "/dev/hmm_dmirror%d", t->hmm_dev);
		t->hmm = open(path, O_RDWR | O_CLOEXEC);
	}
	if (t->hmm < 0)
		fz_fail(t, "open %s: %s", path, strerror(errno));
}

static void hmm_check_anon(struct fz_thread *t, unsigned long first,
			   unsigned long nr, const char *what)
{
	unsigned long i;

	for (i = 0; i < nr; i++) {
		uint32_t g = t->anon_cur[first + i];
		uint64_t want = g ? ub_tag(ANON_TAG + first + i, g) : 0;
		uint64_t *p = t->scratch + i * W;

		if (p[0] != want || p[W - 1] != want) {
			fz_fail(t, "%s: anon page %lu reads %#llx, %#llx, want %#llx",
				what, first + i, (unsigned long long)p[0],
				(unsigned long long)p[W - 1],
				(unsigned long long)want);
			return;
		}
	}
}

/* Valid requests on the thread's own memfd and anon memory. */
static void hmm_valid(struct fz_thread *t)
{
	static const int busy[] = { EBUSY, 0 };
	static const int mig[] = { EBUSY, ENOENT, ENOMEM, 0 };
	struct hmm_dmirror_cmd c;
	unsigned long nr = 1 + below(t, 64), first, i, w;
	uint64_t anon = (uintptr_t)t->anon, mem;
	/* A hugetlb read fault may find the pool empty. */
	const int *mem_ok = t->kind == UB_HUGETLB ? mig : busy;
	char what[128];
	uint32_t gen;
	long ret;

	first = below(t, MPAGES - nr + 1);
	mem = (uintptr_t)(t->mem + first * W);
	switch (below(t, 13)) {
	case 0:
		snprintf(what, sizeof(what),
			 "device read of memfd pages [%lu, +%lu)", first, nr);
		fz_note(t, "%s", what);
		ret = hmm_cmd(t, HMM_DMIRROR_READ, mem, nr, t->scratch, NULL);
		if (fz_expect_ok(t, ret, errno, mem_ok, what))
			fz_check_memcopy(t, first, nr, what);
		return;
	case 1:
		fz_rewrite(t, first, nr);
		fz_check_all(t, "mmap after a rewrite");
		return;
	case 2 ... 3:
		nr = 1 + below(t, ANON_PAGES);
		first = below(t, ANON_PAGES - nr + 1);
		if (chance(t, 1, 2)) {
			snprintf(what, sizeof(what),
				 "device read of anon pages [%lu, +%lu)",
				 first, nr);
			fz_note(t, "%s", what);
			ret = hmm_cmd(t, HMM_DMIRROR_READ, anon + first * PS,
				      nr, t->scratch, NULL);
			if (fz_expect_ok(t, ret, errno, busy, what))
				hmm_check_anon(t, first, nr, what);
			return;
		}
		gen = fz_next_gen(t);
		snprintf(what, sizeof(what),
			 "device write of generation %u to anon pages [%lu, +%lu)",
			 gen, first, nr);
		fz_note(t, "%s", what);
		for (i = 0; i < nr; i++)
			for (w = 0; w < W; w++)
				t->scratch[i * W + w] =
					ub_tag(ANON_TAG + first + i, gen);
		ret = hmm_cmd(t, HMM_DMIRROR_WRITE, anon + first * PS, nr,
			      t->scratch, NULL);
		if (ret && fz_expect_ok(t, ret, errno, busy, what))
			return;
		if (ret)	/* contention: write it with the CPU */
			memcpy(t->anon + first * W, t->scratch, nr * PS);
		for (i = 0; i < nr; i++)
			t->anon_cur[first + i] = gen;
		fz_check_all(t, "after a device write of anon memory");
		return;
	case 4 ... 5: {		/* a prefill window, faults in it, a read */
		volatile uint64_t *p = t->mem;
		uint64_t np = chance(t, 1, 4) ? 0 : nr;		/* 0: off */

		snprintf(what, sizeof(what),
			 "prefill window memfd pages [%lu, +%llu)", first,
			 (unsigned long long)np);
		fz_note(t, "%s", what);
		ret = hmm_cmd(t, HMM_DMIRROR_PREFILL, mem, np, NULL, NULL);
		if (!fz_expect_ok(t, ret, errno, NULL, what))
			return;
		for (i = first; i < first + nr; i++)
			(void)p[i * W];
		ret = hmm_cmd(t, HMM_DMIRROR_READ, mem, nr, t->scratch, NULL);
		if (fz_expect_ok(t, ret, errno, mem_ok,
				 "device read after prefill"))
			fz_check_memcopy(t, first, nr,
					 "device read in a prefill window");
		return;
	}
	case 6: {
		const uint8_t *prot = (const uint8_t *)t->scratch;

		snprintf(what, sizeof(what),
			 "snapshot of memfd pages [%lu, +%lu)", first, nr);
		fz_note(t, "%s", what);
		ret = hmm_cmd(t, HMM_DMIRROR_SNAPSHOT, mem, nr, t->scratch, &c);
		if (!fz_expect_ok(t, ret, errno, busy, what))
			return;
		for (i = 0; i < nr; i++)
			if (prot[i] == HMM_DMIRROR_PROT_ERROR)
				fz_fail(t, "%s: page %lu is an error", what, i);
		return;
	}
	case 7 ... 8:
		nr = 1 + below(t, ANON_PAGES);
		first = below(t, ANON_PAGES - nr + 1);
		snprintf(what, sizeof(what),
			 "migration to device %d of anon pages [%lu, +%lu)",
			 t->hmm_dev, first, nr);
		fz_note(t, "%s", what);
		ret = hmm_cmd(t, HMM_DMIRROR_MIGRATE_TO_DEV, anon + first * PS,
			      nr, t->scratch, NULL);
		if (fz_expect_ok(t, ret, errno, mig, what))
			hmm_check_anon(t, first, nr, what);
		if (chance(t, 1, 2))
			return;
		fz_note(t, "migration back of anon pages [%lu, +%lu)", first, nr);
		ret = hmm_cmd(t, HMM_DMIRROR_MIGRATE_TO_SYS, anon + first * PS,
			      nr, NULL, NULL);
		fz_expect_ok(t, ret, errno, busy, "migration to system memory");
		return;
	case 9:
		nr = 1 + below(t, ANON_PAGES);
		first = below(t, ANON_PAGES - nr + 1);
		snprintf(what, sizeof(what),
			 "exclusive access to anon pages [%lu, +%lu)", first,
			 nr);
		fz_note(t, "%s", what);
		ret = hmm_cmd(t, HMM_DMIRROR_EXCLUSIVE, anon + first * PS, nr,
			      t->scratch, NULL);
		if (fz_expect_ok(t, ret, errno, mig, what))
			hmm_check_anon(t, first, nr, what);
		ret = hmm_cmd(t, HMM_DMIRROR_CHECK_EXCLUSIVE, anon + first * PS,
			      nr, NULL, NULL);
		if (ret && errno != EPERM)
			fz_fail(t, "HMM_DMIRROR_CHECK_EXCLUSIVE: %s",
				strerror(errno));
		return;
	case 10: {
		struct hmm_mirror_counters cnt;

		fz_note(t, "counters, reset, hold and unhold");
		if (ioctl(t->hmm, HMM_MIRROR_COUNTERS, &cnt) ||
		    ioctl(t->hmm, HMM_MIRROR_RESET) ||
		    ioctl(t->hmm, HMM_MIRROR_HOLD) ||
		    ioctl(t->hmm, HMM_MIRROR_UNHOLD))
			fz_fail(t, "counters, reset, hold or unhold: %s",
				strerror(errno));
		return;
	}
	case 11:
		if (chance(t, 1, 4) && !t->f->no_hmm_release) {
			fz_note(t, "release of device %d's memory", t->hmm_dev);
			ret = hmm_cmd(t, HMM_DMIRROR_RELEASE, anon, 1, NULL,
				      NULL);
			fz_expect_ok(t, ret, errno, NULL,
				     "HMM_DMIRROR_RELEASE");
			return;
		}
		fz_note(t, "close and reopen the mirror");
		close(t->hmm);
		hmm_open(t);
		return;
	default:
		fz_check_all(t, "after hmm requests");
	}
}

/* Bad addresses, sizes, commands and pointers. */
static void hmm_bad(struct fz_thread *t)
{
	static const int fault[] = { EFAULT, EPERM, EBUSY, 0 };
	static const unsigned long kaddr[] = {
		0xffff888000000000UL, 0xffffffff81000000UL, 1UL << 47,
		0x1000, 0x7ffffffff000UL,
	};
	uint64_t lo = (uintptr_t)t->area, addr, np;
	unsigned long span = ANON_PAGES + 2 * GUARD_PAGES, i, first;
	unsigned long req;
	char what[160];
	long ret;
	int err, k;

	switch (below(t, 8)) {
	case 0:		/* misaligned */
		addr = (uintptr_t)t->anon + 1 + below(t, PS - 1);
		snprintf(what, sizeof(what), "device read at %#llx",
			 (unsigned long long)addr);
		fz_note(t, "%s", what);
		ret = hmm_cmd(t, chance(t, 1, 2) ? HMM_DMIRROR_READ :
			      HMM_DMIRROR_PREFILL, addr, 1, t->scratch, NULL);
		fz_expect_err(t, ret, errno, EINVAL, what);
		return;
	case 1:		/* no pages, too many, overflowing */
		switch (below(t, 3)) {
		case 0:
			addr = (uintptr_t)t->anon;
			np = 0;
			break;
		case 1:
			addr = (uintptr_t)t->anon;
			np = (1UL << 18) + 1 + below(t, 1UL << 30);
			break;
		default:
			addr = -(uint64_t)PS * (1 + below(t, 16));
			np = 16 + below(t, 1 << 10);
		}
		req = chance(t, 1, 2) ? HMM_DMIRROR_WRITE : HMM_DMIRROR_READ;
		snprintf(what, sizeof(what), "device %s at %#llx of %llu pages",
			 req == HMM_DMIRROR_READ ? "read" : "write",
			 (unsigned long long)addr, (unsigned long long)np);
		fz_note(t, "%s", what);
		ret = hmm_cmd(t, req, addr, np, t->scratch, NULL);
		fz_expect_err(t, ret, errno, EINVAL, what);
		return;
	case 2 ... 3:	/* guards and anon; writes the model's own content */
		first = below(t, span);
		np = 1 + below(t, span - first);
		addr = lo + first * PS;
		for (i = 0; i < np; i++) {
			long a = (long)(first + i) - GUARD_PAGES;
			bool in = a >= 0 && a < ANON_PAGES;
			uint32_t g = in ? t->anon_cur[a] : 0;
			unsigned long w;

			for (w = 0; w < W; w++)
				t->scratch[i * W + w] = g ?
					ub_tag(ANON_TAG + a, g) : 0;
		}
		req = chance(t, 1, 2) ? HMM_DMIRROR_WRITE : HMM_DMIRROR_READ;
		snprintf(what, sizeof(what),
			 "device %s of guarded pages [%lu, +%llu) (anon at %d)",
			 req == HMM_DMIRROR_READ ? "read" : "write", first,
			 (unsigned long long)np, GUARD_PAGES);
		fz_note(t, "%s", what);
		ret = hmm_cmd(t, req, addr, np, t->scratch, NULL);
		err = errno;
		if (first >= GUARD_PAGES &&
		    first + np <= GUARD_PAGES + ANON_PAGES)
			fz_expect_ok(t, ret, err, fault + 2, what);
		else if (!ret)
			fz_fail(t, "%s: succeeded", what);
		else if (!fz_in(err, fault))
			fz_fail(t, "%s: %s", what, strerror(err));
		fz_check_all(t, "after device accesses around the guards");
		return;
	case 4:		/* kernel, unmapped and non-canonical addresses */
		addr = kaddr[below(t, 5)];
		np = 1 + below(t, 64);
		if (addr == 0x7ffffffff000UL)
			np = 1;
		req = chance(t, 1, 2) ? HMM_DMIRROR_WRITE : HMM_DMIRROR_READ;
		snprintf(what, sizeof(what), "device %s at %#llx of %llu pages",
			 req == HMM_DMIRROR_READ ? "read" : "write",
			 (unsigned long long)addr, (unsigned long long)np);
		fz_note(t, "%s", what);
		ret = hmm_cmd(t, req, addr, np, t->scratch, NULL);
		err = errno;
		if (!ret)
			fz_fail(t, "%s: succeeded", what);
		else if (!fz_in(err, fault) && err != EINVAL)
			fz_fail(t, "%s: %s", what, strerror(err));
		return;
	case 5:		/* a dma-buf mapping (VM_PFNMAP), migration of guards */
		k = buf_pick(t, false);
		if (k >= 0 && t->bufs[k].map && chance(t, 1, 2)) {
			snprintf(what, sizeof(what),
				 "device read of buffer #%lu's mmap",
				 t->bufs[k].id);
			fz_note(t, "%s", what);
			ret = hmm_cmd(t, HMM_DMIRROR_READ,
				      (uintptr_t)t->bufs[k].map, 1, t->scratch,
				      NULL);
			err = errno;
			/*
			 * The mirror covers the whole mm: a second of other
			 * threads' invalidations makes it give up (EBUSY)
			 * before it walks the VMA.
			 */
			if (ret && err == EBUSY)
				t->n_allowed++;
			else
				fz_expect_err(t, ret, err, EFAULT, what);
			return;
		}
		req = chance(t, 1, 2) ? HMM_DMIRROR_MIGRATE_TO_DEV :
					HMM_DMIRROR_MIGRATE_TO_SYS;
		addr = chance(t, 1, 2) ? lo : kaddr[below(t, 4)];
		snprintf(what, sizeof(what), "migration request %#lx at %#llx",
			 req, (unsigned long long)addr);
		fz_note(t, "%s", what);
		ret = hmm_cmd(t, req, addr, 1 + below(t, GUARD_PAGES),
			      t->scratch, NULL);
		fz_expect_err(t, ret, errno, EINVAL, what);
		return;
	case 6:		/* unknown commands */
		do {
			unsigned int type = chance(t, 3, 4) ? 'H' :
							      below(t, 256);

			req = _IOC(below(t, 4), type, below(t, 256),
				   sizeof(struct hmm_dmirror_cmd));
		} while (req == HMM_DMIRROR_READ || req == HMM_DMIRROR_WRITE ||
			 req == HMM_DMIRROR_MIGRATE_TO_DEV ||
			 req == HMM_DMIRROR_MIGRATE_TO_SYS ||
			 req == HMM_DMIRROR_SNAPSHOT ||
			 req == HMM_DMIRROR_EXCLUSIVE ||
			 req == HMM_DMIRROR_CHECK_EXCLUSIVE ||
			 req == HMM_DMIRROR_RELEASE ||
			 req == HMM_DMIRROR_PREFILL);
		snprintf(what, sizeof(what), "hmm ioctl %#lx", req);
		fz_note(t, "%s", what);
		ret = hmm_cmd(t, req, (uintptr_t)t->anon, 1, t->scratch, NULL);
		fz_expect_err(t, ret, errno, EINVAL, what);
		return;
	default:	/* bad pointers; a window out of the address space */
		if (chance(t, 1, 2)) {
			req = chance(t, 1, 2) ? HMM_DMIRROR_READ :
						HMM_MIRROR_COUNTERS;
			snprintf(what, sizeof(what),
				 "hmm ioctl %#lx at a PROT_NONE page", req);
			fz_note(t, "%s", what);
			FZ_ERR(t, ioctl(t->hmm, req, t->guard), EFAULT, what);
			return;
		}
		addr = chance(t, 1, 2) ? 1UL << 47 : (uintptr_t)t->anon;
		np = addr == (1UL << 47) ? 1 : 1UL << 40;
		snprintf(what, sizeof(what),
			 "prefill window at %#llx of %llu pages",
			 (unsigned long long)addr, (unsigned long long)np);
		fz_note(t, "%s", what);
		ret = hmm_cmd(t, HMM_DMIRROR_PREFILL, addr, np, NULL, NULL);
		fz_expect_err(t, ret, errno, EINVAL, what);
	}
}

static void op_hmm(struct fz_thread *t)
{
	if (t->hmm < 0)
		return;
	if (chance(t, 2, 3))
		hmm_valid(t);
	else
		hmm_bad(t);
}

#endif /* UDMABUF_FUZZ_HMM_H */
