// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf-bench: udmabuf measurements for make bench (scripts/bench-udmabuf.sh).
 *
 *   udmabuf-bench refault [--mib M] [--reps R] [--udmabuf]
 *	A shmem memfd of M MiB (default 256, sealed F_SEAL_SHRINK) mapped
 *	MAP_SHARED and written; with --udmabuf a udmabuf is created over all
 *	of it.  Then R times (default 5): punch the whole range, time writing
 *	one byte in every page through the memfd mapping.  Prints the faults
 *	per second of the fastest pass, the fastest punch, and the pages per
 *	second of the fastest punch + refault (with a udmabuf, the punched
 *	pages are freed by the punch too, and the refault's pages are taken
 *	by the buffer in the faults: nothing is deferred).
 *
 *   udmabuf-bench create [--mib M] [--items N] [--reps R] [--hugetlb]
 *	A memfd of M MiB (default 1024; 2 MiB hugetlb pages with --hugetlb),
 *	written in full, then R times (default 5): UDMABUF_CREATE_LIST with N
 *	items (default 16) of M/N MiB each, in order, covering the memfd, and
 *	close() of the returned fd.  Prints the fastest ioctl and the fastest
 *	close in microseconds.
 *
 *   udmabuf-bench map-cycles [--mib M] [--cycles C] [--reps R]
 *	A udmabuf over a shmem memfd of M MiB (default 8), attached by the
 *	udmabuf_importer test module as a dynamic importer; the best of R
 *	(default 3) runs of C (default 1000) map + unmap cycles.  Prints
 *	cycles per second.
 *
 *   udmabuf-bench stale [--mib M] [--reps R] [--writer W] [--batch B]
 *	A shmem memfd of M MiB (default 64) written with a tag per page, a
 *	udmabuf over it, mmapped and read in full.  Then R rounds (default 2):
 *	punch the whole range, and for each page write a new tag and read the
 *	page back at once through the udmabuf mmap (made before the punch, no
 *	DMA_BUF_IOCTL_SYNC).  Counts the reads that do not show the new tag.
 *	The writer W: "creator" (default), the buffer's creator through its
 *	memfd mapping; "child", a child forked before the udmabuf existed,
 *	through its own mapping of the memfd; "child-write", that child with
 *	pwrite(2).  The creator keeps its memfd mapping throughout.  B pages
 *	(default 1) are written, then read; a child gets each batch as a
 *	request on a pipe and answers on another once it wrote them.
 *
 * Output: one line of "name value" pairs.  Exit status 2 on bad arguments,
 * 1 when the system refuses something.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/falloc.h>
#include <linux/udmabuf.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "../tests/udmabuf_importer/udmabuf_importer.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB	0x0004U
#endif

#define PAGE	4096UL
#define HPAGE	(2UL << 20)
#define MIB	(1UL << 20)

static const char *prog = "udmabuf-bench";

static void usage(void)
{
	fprintf(stderr,
		"usage: udmabuf-bench refault [--mib M] [--reps R] [--udmabuf]\n"
		"       udmabuf-bench create [--mib M] [--items N] [--reps R] [--hugetlb]\n"
		"       udmabuf-bench stale [--mib M] [--reps R] [--writer creator|child|child-write]\n"
		"                           [--batch B]\n"
		"       udmabuf-bench map-cycles [--mib M] [--cycles C] [--reps R]\n");
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

/* A memfd of @size bytes sealed as udmabuf wants, mapped and written. */
static int make_memfd(unsigned long size, int hugetlb, volatile char **map)
{
	unsigned long step = hugetlb ? HPAGE : PAGE, off;
	volatile char *p;
	int fd;

	fd = memfd_create(prog, MFD_ALLOW_SEALING |
			  (hugetlb ? MFD_HUGETLB : 0));
	if (fd < 0)
		die(hugetlb ? "memfd_create(MFD_HUGETLB)" : "memfd_create");
	if (ftruncate(fd, size))
		die("ftruncate");
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK))
		die("F_ADD_SEALS F_SEAL_SHRINK");
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap memfd");
	for (off = 0; off < size; off += step)
		p[off] = 1;
	*map = p;
	return fd;
}

static int open_dev(void)
{
	int dev = open("/dev/udmabuf", O_RDWR);

	if (dev < 0)
		die("open /dev/udmabuf");
	return dev;
}

static int create_one(int dev, int memfd, unsigned long size)
{
	struct udmabuf_create c = {
		.memfd = memfd, .flags = UDMABUF_FLAGS_CLOEXEC,
		.offset = 0, .size = size,
	};
	int buf = ioctl(dev, UDMABUF_CREATE, &c);

	if (buf < 0)
		die("UDMABUF_CREATE (size_limit_mb too small?)");
	return buf;
}

static void punch(int fd, unsigned long size)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, size))
		die("fallocate(PUNCH_HOLE)");
}

static int do_refault(unsigned long size, long reps, int with_buf)
{
	unsigned long pages = size / PAGE, i;
	volatile char *p;
	double best = 0, best_punch = 0, best_cycle = 0;
	double t0, t1, t, t2;
	int fd, dev, buf = -1;
	long r;

	fd = make_memfd(size, 0, &p);
	if (with_buf) {
		dev = open_dev();
		buf = create_one(dev, fd, size);
		close(dev);
	}
	for (r = 0; r < reps; r++) {
		t1 = now();
		punch(fd, size);
		t0 = now();
		for (i = 0; i < pages; i++)
			p[i * PAGE] = (char)(r + 2);
		t2 = now();
		if (!best || t2 - t0 < best)
			best = t2 - t0;
		if (!best_punch || t0 - t1 < best_punch)
			best_punch = t0 - t1;
		t = t2 - t1;
		if (!best_cycle || t < best_cycle)
			best_cycle = t;
	}
	/* cycle: punch + refault, for where the old pages get freed */
	printf("faults_per_sec %.0f punch_ms %.2f cycle_faults_per_sec %.0f pages %lu reps %ld udmabuf %s\n",
	       pages / best, best_punch * 1e3, pages / best_cycle,
	       pages, reps, with_buf ? "yes" : "no");
	if (buf >= 0)
		close(buf);
	munmap((void *)p, size);
	close(fd);
	return 0;
}

static int do_create(unsigned long size, long items, long reps, int hugetlb)
{
	unsigned long chunk = size / items;
	struct udmabuf_create_list *list;
	double best_c = 0, best_x = 0, t0, t;
	volatile char *p;
	int fd, dev, buf;
	long i, r;

	fd = make_memfd(size, hugetlb, &p);
	dev = open_dev();
	list = calloc(1, sizeof(*list) + items * sizeof(list->list[0]));
	if (!list)
		die("calloc");
	list->flags = UDMABUF_FLAGS_CLOEXEC;
	list->count = items;
	for (i = 0; i < items; i++) {
		list->list[i].memfd = fd;
		list->list[i].offset = i * chunk;
		list->list[i].size = chunk;
	}
	for (r = 0; r < reps; r++) {
		t0 = now();
		buf = ioctl(dev, UDMABUF_CREATE_LIST, list);
		t = now() - t0;
		if (buf < 0)
			die("UDMABUF_CREATE_LIST (size_limit_mb too small?)");
		if (!best_c || t < best_c)
			best_c = t;
		t0 = now();
		if (close(buf))
			die("close udmabuf");
		t = now() - t0;
		if (!best_x || t < best_x)
			best_x = t;
	}
	printf("ioctl_us %.1f close_us %.1f mib %lu items %ld reps %ld backing %s\n",
	       best_c * 1e6, best_x * 1e6, size / MIB, items, reps,
	       hugetlb ? "hugetlb-2M" : "shmem-4K");
	free(list);
	close(dev);
	munmap((void *)p, size);
	close(fd);
	return 0;
}

/*
 * map-cycles: a dynamic importer (the udmabuf_importer test module) that
 * maps and unmaps the whole buffer per frame, as a compositor does.  Without
 * CONFIG_DMABUF_MOVE_NOTIFY the dma-buf core pins the buffer around every
 * map, so each cycle is a pin, a map, an unmap and an unpin.
 */
static int do_map_cycles(unsigned long size, long cycles, long reps)
{
	struct udmabuf_importer_attach at = {
		.flags = UDMABUF_IMPORTER_ATTACH_DYNAMIC,
	};
	double best = 0, t0, t;
	volatile char *p;
	int fd, dev, imp, slot;
	long i, r;

	fd = make_memfd(size, 0, &p);
	dev = open_dev();
	at.fd = create_one(dev, fd, size);
	imp = open("/dev/udmabuf_importer", O_RDWR);
	if (imp < 0)
		die("open /dev/udmabuf_importer (insmod udmabuf_importer.ko)");
	slot = ioctl(imp, UDMABUF_IMPORTER_ATTACH, &at);
	if (slot < 0)
		die("UDMABUF_IMPORTER_ATTACH");
	for (r = 0; r < reps; r++) {
		t0 = now();
		for (i = 0; i < cycles; i++) {
			if (ioctl(imp, UDMABUF_IMPORTER_MAP, slot))
				die("UDMABUF_IMPORTER_MAP");
			if (ioctl(imp, UDMABUF_IMPORTER_UNMAP, slot))
				die("UDMABUF_IMPORTER_UNMAP");
		}
		t = now() - t0;
		if (!best || t < best)
			best = t;
	}
	printf("cycles_per_sec %.1f mib %lu cycles %ld reps %ld\n",
	       cycles / best, size / MIB, cycles, reps);
	close(imp);
	close(at.fd);
	close(dev);
	munmap((void *)p, size);
	close(fd);
	return 0;
}

static uint64_t tag(long gen, unsigned long i)
{
	return 0x5eed000000000000ULL | (uint64_t)gen << 32 | i;
}

enum writer { W_CREATOR, W_CHILD, W_CHILD_WRITE };
static const char *const writer_names[] = { "creator", "child", "child-write" };

/* A request to the writing child: tag pages [first, first + count). */
struct stale_req {
	long gen;
	unsigned long first, count;
};

/*
 * The other-process writer: map the memfd anew (or pwrite() it), and for
 * every request on @req write the tags, then answer one byte on @ack.
 */
static void stale_child(int fd, unsigned long size, enum writer w, int req,
			int ack)
{
	volatile uint64_t *m = NULL;
	struct stale_req q;
	unsigned long i;
	ssize_t got;

	if (w == W_CHILD) {
		m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			die("child: mmap memfd");
	}
	while ((got = read(req, &q, sizeof(q))) == sizeof(q)) {
		for (i = q.first; i < q.first + q.count; i++) {
			uint64_t v = tag(q.gen, i);

			if (m)
				m[i * PAGE / 8] = v;
			else if (pwrite(fd, &v, sizeof(v), i * PAGE) != sizeof(v))
				die("child: pwrite memfd");
		}
		if (write(ack, "", 1) != 1)
			die("child: write ack");
	}
	if (got)
		die("child: read request");
	_exit(0);
}

static int do_stale(unsigned long size, long reps, enum writer w,
		    unsigned long batch)
{
	unsigned long pages = size / PAGE, i, j, n, stale = 0, zero = 0;
	unsigned long bad_init = 0;
	int fd, dev, buf, req[2], ack[2], status;
	volatile uint64_t *u, *m;
	pid_t child = -1;
	volatile char *p;
	double t0, t = 0;
	long r;

	fd = make_memfd(size, 0, &p);
	m = (volatile uint64_t *)p;
	for (i = 0; i < pages; i++)
		m[i * PAGE / 8] = tag(1, i);
	if (w != W_CREATOR) {	/* forked before this process makes a udmabuf */
		if (pipe(req) || pipe(ack))
			die("pipe");
		fflush(NULL);
		child = fork();
		if (child < 0)
			die("fork");
		if (!child) {
			close(req[1]);
			close(ack[0]);
			munmap((void *)p, size);
			stale_child(fd, size, w, req[0], ack[1]);
		}
		close(req[0]);
		close(ack[1]);
	}
	dev = open_dev();
	buf = create_one(dev, fd, size);
	close(dev);
	u = mmap(NULL, size, PROT_READ, MAP_SHARED, buf, 0);
	if (u == MAP_FAILED)
		die("mmap udmabuf");
	for (i = 0; i < pages; i++)
		if (u[i * PAGE / 8] != tag(1, i))
			bad_init++;
	if (bad_init) {
		fprintf(stderr, "%s: %lu pages differ through the udmabuf before the punch\n",
			prog, bad_init);
		return 1;
	}
	for (r = 0; r < reps; r++) {
		punch(fd, size);
		t0 = now();
		for (i = 0; i < pages; i += n) {
			n = pages - i < batch ? pages - i : batch;
			if (w == W_CREATOR) {
				for (j = i; j < i + n; j++)
					m[j * PAGE / 8] = tag(r + 2, j);
			} else {
				struct stale_req q = { r + 2, i, n };
				char c;

				if (write(req[1], &q, sizeof(q)) != sizeof(q))
					die("write request");
				if (read(ack[0], &c, 1) != 1)
					die("read ack (the writer died?)");
			}
			for (j = i; j < i + n; j++) {
				uint64_t v = u[j * PAGE / 8];

				if (v != tag(r + 2, j)) {
					stale++;
					zero += !v;
				}
			}
		}
		t += now() - t0;
	}
	if (child > 0) {
		close(req[1]);
		if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			fprintf(stderr, "%s: the writer child failed\n", prog);
			return 1;
		}
	}
	printf("stale %lu reads %lu zero %lu ns_per_page %.0f mib %lu reps %ld writer %s batch %lu\n",
	       stale, pages * reps, zero, t * 1e9 / (pages * reps),
	       size / MIB, reps, writer_names[w], batch);
	munmap((void *)u, size);
	close(buf);
	munmap((void *)p, size);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "reps", required_argument, NULL, 'r' },
		{ "items", required_argument, NULL, 'n' },
		{ "udmabuf", no_argument, NULL, 'u' },
		{ "hugetlb", no_argument, NULL, 'H' },
		{ "writer", required_argument, NULL, 'w' },
		{ "batch", required_argument, NULL, 'b' },
		{ "cycles", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	long mib = 0, reps = 0, items = 16, batch = 0, cycles = 0;
	int with_buf = 0, hugetlb = 0, items_set = 0;
	int writer = -1, c;
	const char *mode;

	if (argc < 2 || argv[1][0] == '-')
		usage();
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm': mib = number_arg(NULL, optarg, 1, 16384); break;
		case 'r': reps = number_arg(NULL, optarg, 1, 1000); break;
		case 'n': items = number_arg(NULL, optarg, 1, 1024); items_set = 1; break;
		case 'u': with_buf = 1; break;
		case 'H': hugetlb = 1; break;
		case 'w':
			for (writer = W_CHILD_WRITE; writer >= 0; writer--)
				if (!strcmp(optarg, writer_names[writer]))
					break;
			if (writer < 0)
				bad("--writer is creator, child or child-write");
			break;
		case 'b': batch = number_arg("--batch", optarg, 1, 1L << 20); break;
		case 'c': cycles = number_arg("--cycles", optarg, 1, 1000000); break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();

	if (strcmp(mode, "stale") && (writer >= 0 || batch))
		bad("--writer and --batch are for stale only");
	if (strcmp(mode, "map-cycles") && cycles)
		bad("--cycles is for map-cycles only");
	if (!strcmp(mode, "map-cycles")) {
		if (items_set || hugetlb || with_buf)
			bad("map-cycles takes --mib, --cycles and --reps only");
		return do_map_cycles((mib ?: 8) * MIB, cycles ?: 1000,
				     reps ?: 3);
	}
	if (!strcmp(mode, "refault")) {
		if (items_set || hugetlb)
			bad("refault takes --mib, --reps and --udmabuf only");
		return do_refault((mib ?: 256) * MIB, reps ?: 5, with_buf);
	}
	if (!strcmp(mode, "create")) {
		unsigned long size = (mib ?: 1024) * MIB;

		if (with_buf)
			bad("create takes --mib, --items, --reps and --hugetlb only");
		if (size % items || (size / items) % (hugetlb ? HPAGE : PAGE))
			bad(hugetlb ? "--mib / --items must be a multiple of 2 MiB"
				    : "--mib / --items must be a multiple of 4 KiB");
		return do_create(size, items, reps ?: 5, hugetlb);
	}
	if (!strcmp(mode, "stale")) {
		if (items_set || hugetlb || with_buf)
			bad("stale takes --mib, --reps, --writer and --batch only");
		return do_stale((mib ?: 64) * MIB, reps ?: 2,
				writer < 0 ? W_CREATOR : writer, batch ?: 1);
	}
	fprintf(stderr, "%s: unknown mode '%s'\n", prog, mode);
	usage();
	return 2;
}
