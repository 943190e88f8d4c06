// SPDX-License-Identifier: GPL-2.0
/*
 * hmm-bench: device reads after CPU faults, for scripts/bench-hmm.sh.
 *
 *   hmm-bench [--mib M] [--hugetlb] [--prefill] [--chunk-pages N]
 *             [--reps R] [--device PATH]
 *
 * R times (default 3): a fresh memfd of M MiB (default 256; 2 MiB hugetlb
 * pages with --hugetlb) is mapped MAP_SHARED; with --prefill the mapping is
 * given to HMM_DMIRROR_PREFILL (hmm_mirror.ko only) before the CPU touches
 * it.  The CPU writes a tag into every 4 KiB page (the touch, timed), then
 * the device reads the whole buffer with HMM_DMIRROR_READ in chunks of N
 * pages (default 512, 2 MiB), each ioctl timed on its own; cmd.faults is
 * summed over the chunks.  A second device read of the buffer (the
 * reread) shows the cost of a read that needs no device fault.  Every
 * chunk read is checked against the tags.
 *
 * The device is PATH (default /dev/hmm_dmirror0), from hmm_mirror.ko or
 * from the kernel's lib/test_hmm.ko: both speak the test_hmm uAPI, only
 * hmm_mirror.ko answers HMM_MIRROR_COUNTERS, whose values (of the last
 * pass) are printed when it does.
 *
 * Output: one line of "name value" pairs; times are those of the fastest
 * pass, faults the most any pass took.  Exit status 2 on bad arguments,
 * 1 when the system refuses something or the device read wrong data.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

#include "../hmm-mirror/hmm_mirror_uapi.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB	0x0004U
#endif
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB	(21U << 26)
#endif

#define PAGE	4096UL
#define HPAGE	(2UL << 20)
#define MIB	(1UL << 20)
#define TAG	0x484d4d0000000000ULL	/* "HMM" */

static const char *prog = "hmm-bench";

static void usage(void)
{
	fprintf(stderr,
		"usage: %s [--mib M] [--hugetlb] [--prefill] [--chunk-pages N]\n"
		"                 [--reps R] [--device PATH]\n", prog);
	exit(2);
}

static uint64_t tag(long rep, unsigned long page)
{
	return TAG ^ ((uint64_t)rep << 32) ^ page;
}

struct pass {
	double touch;		/* s, CPU writes */
	double read;		/* s, first device read, ioctls only */
	double reread;		/* s, second device read */
	unsigned long faults;	/* cmd.faults, first read */
	unsigned long refaults;	/* cmd.faults, second read */
	int have_counters;
	struct hmm_mirror_counters c;
};

/*
 * Reads [p, p + npages pages) through the device in chunks into @dst,
 * checks the tags.  Returns 0, or -1 after a message.
 */
static int device_read(int dev, char *p, unsigned long npages,
		       unsigned long chunk, char *dst, long rep,
		       double *time, unsigned long *faults)
{
	unsigned long first, n, i;
	double t = 0, t0;

	*faults = 0;
	for (first = 0; first < npages; first += n) {
		struct hmm_dmirror_cmd cmd = { 0 };

		n = npages - first < chunk ? npages - first : chunk;
		cmd.addr = (uintptr_t)(p + first * PAGE);
		cmd.ptr = (uintptr_t)dst;
		cmd.npages = n;
		t0 = now();
		if (ioctl(dev, HMM_DMIRROR_READ, &cmd)) {
			fprintf(stderr, "%s: HMM_DMIRROR_READ of %lu pages at page %lu: %s\n",
				prog, n, first, strerror(errno));
			return -1;
		}
		t += now() - t0;
		if (cmd.cpages != n) {
			fprintf(stderr, "%s: HMM_DMIRROR_READ copied %llu of %lu pages\n",
				prog, (unsigned long long)cmd.cpages, n);
			return -1;
		}
		*faults += cmd.faults;
		for (i = 0; i < n; i++) {
			uint64_t want = tag(rep, first + i);
			uint64_t got = *(uint64_t *)(dst + i * PAGE);

			if (got != want) {
				fprintf(stderr, "%s: device read page %lu as %#llx, CPU wrote %#llx\n",
					prog, first + i,
					(unsigned long long)got,
					(unsigned long long)want);
				return -1;
			}
		}
	}
	*time = t;
	return 0;
}

static int prefill(int dev, void *addr, unsigned long npages)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr,
		.npages = npages,
	};

	return ioctl(dev, HMM_DMIRROR_PREFILL, &cmd);
}

static int one_pass(int dev, unsigned long size, int hugetlb, int do_prefill,
		    unsigned long chunk, char *dst, long rep, struct pass *r)
{
	unsigned long npages = size / PAGE, i;
	volatile char *p;
	double t0;
	int memfd, ret = -1;

	memset(r, 0, sizeof(*r));
	memfd = memfd_create("hmm-bench", hugetlb ? MFD_HUGETLB | MFD_HUGE_2MB : 0);
	if (memfd < 0) {
		fprintf(stderr, "%s: memfd_create%s: %s\n", prog,
			hugetlb ? " (MFD_HUGETLB)" : "", strerror(errno));
		return -1;
	}
	if (ftruncate(memfd, size)) {
		fprintf(stderr, "%s: ftruncate to %lu MiB: %s\n", prog,
			size / MIB, strerror(errno));
		goto out_close;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "%s: mmap: %s\n", prog, strerror(errno));
		goto out_close;
	}
	if (do_prefill && prefill(dev, (void *)p, npages)) {
		fprintf(stderr, "%s: HMM_DMIRROR_PREFILL: %s (is hmm_mirror.ko loaded?)\n",
			prog, strerror(errno));
		goto out_unmap;
	}
	r->have_counters = !ioctl(dev, HMM_MIRROR_RESET);

	/* The CPU touch: every 4 KiB page written, so every page faulted. */
	t0 = now();
	for (i = 0; i < npages; i++)
		*(volatile uint64_t *)(p + i * PAGE) = tag(rep, i);
	r->touch = now() - t0;

	if (device_read(dev, (char *)p, npages, chunk, dst, rep, &r->read,
			&r->faults) ||
	    device_read(dev, (char *)p, npages, chunk, dst, rep, &r->reread,
			&r->refaults))
		goto out_unmap;
	if (r->have_counters && ioctl(dev, HMM_MIRROR_COUNTERS, &r->c))
		r->have_counters = 0;
	ret = 0;
out_unmap:
	if (do_prefill)
		prefill(dev, NULL, 0);
	munmap((void *)p, size);
out_close:
	close(memfd);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "hugetlb", no_argument, NULL, 'H' },
		{ "prefill", no_argument, NULL, 'p' },
		{ "chunk-pages", required_argument, NULL, 'c' },
		{ "reps", required_argument, NULL, 'r' },
		{ "device", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	const char *device = "/dev/hmm_dmirror0";
	long mib = 256, chunk = 512, reps = 3, rep;
	int hugetlb = 0, do_prefill = 0, dev, c;
	struct pass best = { 0 }, r;
	unsigned long size, npages;
	char *dst;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm': mib = number_arg("--mib", optarg, 2, 4096); break;
		case 'H': hugetlb = 1; break;
		case 'p': do_prefill = 1; break;
		/* hmm_mirror.ko takes at most 1 GiB an access */
		case 'c': chunk = number_arg("--chunk-pages", optarg, 1, 1L << 18); break;
		case 'r': reps = number_arg("--reps", optarg, 1, 100); break;
		case 'd': device = optarg; break;
		default: usage();
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		usage();
	}
	if (hugetlb && mib % 2) {
		fprintf(stderr, "%s: --hugetlb needs --mib to be a multiple of 2 (2 MiB pages), not %ld\n",
			prog, mib);
		exit(2);
	}
	size = mib * MIB;
	npages = size / PAGE;
	if ((unsigned long)chunk > npages)
		chunk = npages;

	dev = open(device, O_RDWR);
	if (dev < 0) {
		fprintf(stderr, "%s: %s: %s (load hmm_mirror.ko or test_hmm.ko)\n",
			prog, device, strerror(errno));
		return 1;
	}
	/* The device's destination buffer, faulted in before any timing. */
	dst = mmap(NULL, chunk * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dst == MAP_FAILED) {
		fprintf(stderr, "%s: mmap of the destination: %s\n", prog,
			strerror(errno));
		return 1;
	}
	memset(dst, 0, chunk * PAGE);

	for (rep = 0; rep < reps; rep++) {
		if (one_pass(dev, size, hugetlb, do_prefill, chunk, dst, rep, &r))
			return 1;
		if (!rep || r.touch < best.touch)
			best.touch = r.touch;
		if (!rep || r.read < best.read)
			best.read = r.read;
		if (!rep || r.reread < best.reread)
			best.reread = r.reread;
		if (r.faults > best.faults)
			best.faults = r.faults;
		if (r.refaults > best.refaults)
			best.refaults = r.refaults;
		best.have_counters = r.have_counters;
		best.c = r.c;
	}

	printf("buffer %s prefill %s counters %s mib %ld pages %lu chunk_pages %ld reps %ld"
	       " touch_ns %.0f touch_pages_per_sec %.0f"
	       " read_ns %.0f read_faults %lu reread_ns %.0f reread_faults %lu",
	       hugetlb ? "hugetlb" : "shmem", do_prefill ? "on" : "off",
	       best.have_counters ? "yes" : "no", mib, npages, chunk,
	       reps, best.touch * 1e9, npages / best.touch, best.read * 1e9,
	       best.faults, best.reread * 1e9, best.refaults);
	if (best.have_counters)
		printf(" device_faults %llu updates %llu prefilled %llu rejected %llu"
		       " invalidations %llu zapped %llu",
		       (unsigned long long)best.c.device_faults,
		       (unsigned long long)best.c.updates,
		       (unsigned long long)best.c.prefilled,
		       (unsigned long long)best.c.prefill_rejected,
		       (unsigned long long)best.c.invalidations,
		       (unsigned long long)best.c.zapped);
	printf("\n");
	return 0;
}
