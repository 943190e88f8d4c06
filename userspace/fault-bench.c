// SPDX-License-Identifier: GPL-2.0
/*
 * fault-bench: shmem page fault throughput, for make bench.
 *
 *   fault-bench [--pages N] [--reps R] [--read] [--subscribe]
 *
 * Maps a memfd of N pages, faults every page (write, or read with --read),
 * unmaps and punches it, R times; prints the faults per second of the
 * fastest repetition.  --subscribe first subscribes this mm through the
 * mmu_update_test module, so every fault is reported to a subscriber that
 * validates and logs it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

#include "../tests/mmu_update_test/mmu_update_test.h"

#define PAGE	4096UL

static void usage(void)
{
	fprintf(stderr, "usage: fault-bench [--pages N] [--reps R] [--read] [--subscribe]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pages", required_argument, NULL, 'p' },
		{ "reps", required_argument, NULL, 'r' },
		{ "read", no_argument, NULL, 'R' },
		{ "subscribe", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	long pages = 16384, reps = 5, i, r;
	int do_read = 0, subscribe = 0, fd, dev = -1, c;
	double best = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pages = number_arg(NULL, optarg, 1, 1L << 22); break;
		case 'r': reps = number_arg(NULL, optarg, 1, 1000); break;
		case 'R': do_read = 1; break;
		case 's': subscribe = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();

	if (subscribe) {
		dev = open(MUT_DEV, O_RDWR);
		if (dev < 0 || ioctl(dev, MUT_IOC_SUBSCRIBE_MM)) {
			perror("fault-bench: subscribe through " MUT_DEV);
			return 1;
		}
	}
	fd = memfd_create("fault-bench", 0);
	if (fd < 0 || ftruncate(fd, pages * PAGE)) {
		perror("fault-bench: memfd");
		return 1;
	}
	for (r = 0; r < reps; r++) {
		volatile char *p = mmap(NULL, pages * PAGE,
					PROT_READ | PROT_WRITE, MAP_SHARED,
					fd, 0);
		unsigned long sum = 0;
		double t0, t;

		if (p == MAP_FAILED) {
			perror("fault-bench: mmap");
			return 1;
		}
		t0 = now();
		if (do_read)
			for (i = 0; i < pages; i++)
				sum += p[i * PAGE];
		else
			for (i = 0; i < pages; i++)
				p[i * PAGE] = 1;
		t = now() - t0;
		if (sum)
			fprintf(stderr, "fault-bench: hole read back %lu\n", sum);
		if (!best || t < best)
			best = t;
		munmap((void *)p, pages * PAGE);
		fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			  pages * PAGE);
		if (dev >= 0)
			ioctl(dev, MUT_IOC_CLEAR);
	}
	printf("faults_per_sec %.0f pages %ld reps %ld mode %s subscriber %s\n",
	       pages / best, pages, reps, do_read ? "read" : "write",
	       subscribe ? "yes" : "no");
	return 0;
}
