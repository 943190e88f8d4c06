// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf-tool: make a udmabuf over memfd ranges, import it into a DRM
 * device, punch and rewrite part of the memfd and report what each view of
 * the buffer shows.  See --help.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/dma-buf.h>
#include <xf86drm.h>

#include "libudmabuf.h"
#include "udmabuf_importer.h"

#define MAX_RANGES	64
#define MAGIC		0x5544ULL

enum { EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_EXPECT = 3 };

/* What a view shows in the punched range. */
enum state { ST_OLD, ST_NEW, ST_ZERO, ST_MIXED, ST_CORRUPT };
static const char *const state_names[] = { "old", "new", "zero", "mixed",
					   "corrupt" };

/*
 * V_REEXPORT is not what an importer maps: DRM hands back the dma-buf it
 * imported, so its mmap is the udmabuf's own.  V_IMPORTER is: the pages of
 * the sg table that the udmabuf_importer test module maps.
 */
enum view { V_MMAP, V_SYNC, V_REEXPORT, V_IMPORTER, V_RELEASED, NR_VIEWS };
static const char *const view_names[] = { "mmap", "sync", "reexport",
					  "importer", "released" };

static const char *prog = "udmabuf-tool";

static void usage(FILE *f)
{
	fprintf(f,
"Usage: %s [OPTION]...\n"
"Create a memfd and a udmabuf over ranges of it, import the udmabuf into a\n"
"DRM device (libdrm PRIME), punch and rewrite a range of the memfd, and\n"
"report whether the udmabuf's mmap and the importer see the new data.\n"
"\n"
"  -s, --size=BYTES       memfd size (default 1M); suffixes K, M, G\n"
"  -r, --range=OFF:LEN    a segment of the udmabuf, in order; repeat for\n"
"                         several (default: the whole memfd)\n"
"  -H, --hugetlb          back the memfd with 2 MiB hugetlbfs pages\n"
"  -u, --udmabuf=PATH     udmabuf device (default /dev/udmabuf)\n"
"  -d, --device=PATH      DRM device to import into; default: the first\n"
"                         /dev/dri/card* that accepts the import; 'none':\n"
"                         no import\n"
"  -p, --punch=OFF:LEN    punch this memfd range and write new data into it\n"
"                         through the memfd's mapping\n"
"  -R, --release          after the punch, close the DRM import and report\n"
"                         the udmabuf's mmap again ('released')\n"
"  -e, --expect=VIEW=STATE  exit 3 unless VIEW shows STATE after the punch;\n"
"                         repeatable.  VIEW: mmap (the udmabuf mapping made\n"
"                         before the punch), sync (the same read between\n"
"                         DMA_BUF_IOCTL_SYNC start and end), reexport (the\n"
"                         dma-buf the DRM device hands back for its handle,\n"
"                         mapped before the punch: DRM returns the dma-buf\n"
"                         it imported, so this is the udmabuf's own mmap,\n"
"                         not what the DRM device maps), importer (what the\n"
"                         udmabuf_importer test module reads through the\n"
"                         pages of its sg table, mapped before the punch and\n"
"                         again after a move notification, as a dynamic\n"
"                         importer does), released (mmap after --release).\n"
"                         STATE: old, new, zero, mixed\n"
"  -i, --importer=PATH    the udmabuf_importer device (default\n"
"                         /dev/udmabuf_importer if it exists; 'none')\n"
"  -t, --timeout=MS       how long 'released' may take to show new data\n"
"                         (default 2000)\n"
"  -h, --help             this text\n"
"\n"
"The first line says whether the udmabuf follows (udmabuf_follows()).\n"
"Every 8-byte word of memfd page P holds a tag of P and a generation:\n"
"1 before the punch, 2 after.  A view is 'old' if the punched range still\n"
"holds generation 1, 'new' if generation 2, 'zero' if zeros, 'mixed'\n"
"otherwise; pages outside the punched range must keep generation 1, or\n"
"the tool fails.  Output: one 'key: value' line per step.\n"
"Exit status: 0 done, 1 a step failed, 2 bad usage, 3 an --expect not met.\n",
		prog);
}

static void __attribute__((format(printf, 1, 2), noreturn)) die(const char *fmt,
								...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_FAIL);
}

static void __attribute__((format(printf, 1, 2), noreturn)) bad_usage(
	const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	exit(EXIT_USAGE);
}

/* A byte count with an optional K, M or G suffix. */
static bool parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno)
		return false;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end)
		return false;
	*out = v;
	return true;
}

static bool parse_range(const char *s, uint64_t *off, uint64_t *len)
{
	char buf[64], *colon;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	colon = strchr(buf, ':');
	if (!colon)
		return false;
	*colon = '\0';
	return parse_size(buf, off) && parse_size(colon + 1, len) && *len;
}

static uint64_t tag(uint64_t page, unsigned int gen)
{
	return MAGIC << 48 | page << 8 | gen;
}

static void fill(uint64_t *mem, uint64_t ps, uint64_t first, uint64_t nr,
		 unsigned int gen)
{
	uint64_t pg, w;

	for (pg = first; pg < first + nr; pg++)
		for (w = 0; w < ps / 8; w++)
			mem[pg * (ps / 8) + w] = tag(pg, gen);
}

struct layout {
	uint64_t ps;
	unsigned int n;
	uint64_t off[MAX_RANGES], len[MAX_RANGES];
	uint64_t size;			/* of the udmabuf */
	uint64_t punch_off, punch_len;	/* memfd range, len 0: none */
};

/* The generation a buffer page's word must hold, or 0 for "either". */
static enum state classify(const struct layout *l, const volatile uint64_t *buf)
{
	bool old = true, new = true, zero = true;
	uint64_t bpg = 0, pg, w;
	unsigned int i;

	for (i = 0; i < l->n; i++) {
		for (pg = l->off[i] / l->ps; pg < (l->off[i] + l->len[i]) / l->ps;
		     pg++, bpg++) {
			bool punched = l->punch_len &&
				       pg >= l->punch_off / l->ps &&
				       pg < (l->punch_off + l->punch_len) / l->ps;

			for (w = 0; w < l->ps / 8; w += l->ps / 8 - 1) {
				uint64_t v = buf[bpg * (l->ps / 8) + w];

				if (!punched) {
					if (v != tag(pg, 1))
						return ST_CORRUPT;
					continue;
				}
				old &= v == tag(pg, 1);
				new &= v == tag(pg, 2);
				zero &= v == 0;
			}
		}
	}
	if (old)
		return ST_OLD;
	if (new)
		return ST_NEW;
	return zero ? ST_ZERO : ST_MIXED;
}

/* The first DRM card that imports @dbuf; its fd and handle. */
static int import(const char *path, int dbuf, uint32_t *handle,
		  char *name, size_t len)
{
	char p[64];
	int i, fd;

	for (i = 0; i < 16; i++) {
		drmVersionPtr v;

		if (path) {
			snprintf(p, sizeof(p), "%s", path);
		} else {
			snprintf(p, sizeof(p), "/dev/dri/card%d", i);
			if (access(p, F_OK))
				continue;
		}
		fd = open(p, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			if (path)
				die("cannot open %s: %s", p, strerror(errno));
			continue;
		}
		if (drmPrimeFDToHandle(fd, dbuf, handle)) {
			if (path)
				die("%s refused the PRIME import: %s", p,
				    strerror(errno));
			close(fd);
			continue;
		}
		v = drmGetVersion(fd);
		snprintf(name, len, "%s (%s)", p, v ? v->name : "?");
		if (v)
			drmFreeVersion(v);
		return fd;
	}
	die("no /dev/dri/card* accepted the PRIME import (is vgem loaded?)");
}

static void *map_ro(int fd, uint64_t size, const char *what)
{
	void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		die("cannot mmap %s: %s", what, strerror(errno));
	return p;
}

/* The test importer's attachment of @dbuf in a slot, mapped: its fd. */
static int importer_attach(const char *path, int dbuf, uint32_t *slot)
{
	struct udmabuf_importer_attach at = { .fd = dbuf,
		.flags = UDMABUF_IMPORTER_ATTACH_DYNAMIC };
	int fd = open(path, O_RDWR | O_CLOEXEC), ret;

	if (fd < 0)
		die("cannot open %s: %s (is udmabuf_importer.ko loaded?)", path,
		    strerror(errno));
	ret = ioctl(fd, UDMABUF_IMPORTER_ATTACH, &at);
	if (ret < 0)
		die("%s: attach: %s", path, strerror(errno));
	*slot = ret;
	return fd;
}

/*
 * What the importer reads through its sg table, into @out (@len bytes).
 * With move_notify, it keeps its map and maps again once the exporter moved
 * the buffer.  Without (CONFIG_DMABUF_MOVE_NOTIFY unset), the dma-buf core
 * pins the buffer for as long as a map lasts: it maps for the read only.
 */
static void importer_read(int fd, uint32_t slot, void *out, uint64_t len)
{
	struct udmabuf_importer_info info = { .slot = slot };
	struct udmabuf_importer_read rd = {
		.slot = slot, .len = len, .ptr = (uintptr_t)out,
	};
	bool keep;

	if (ioctl(fd, UDMABUF_IMPORTER_INFO, &info))
		die("importer: info: %s", strerror(errno));
	keep = info.flags & UDMABUF_IMPORTER_INFO_MOVE_NOTIFY;
	if ((!(info.flags & UDMABUF_IMPORTER_INFO_MAPPED) ||
	     (info.flags & UDMABUF_IMPORTER_INFO_INVALIDATED)) &&
	    ioctl(fd, UDMABUF_IMPORTER_MAP, slot))
		die("importer: map: %s", strerror(errno));
	if (ioctl(fd, UDMABUF_IMPORTER_READ, &rd))
		die("importer: read: %s", strerror(errno));
	if (!keep && ioctl(fd, UDMABUF_IMPORTER_UNMAP, slot))
		die("importer: unmap: %s", strerror(errno));
}

static void buf_sync(int dbuf, uint64_t flags)
{
	struct dma_buf_sync s = { .flags = flags };

	if (ioctl(dbuf, DMA_BUF_IOCTL_SYNC, &s))
		die("DMA_BUF_IOCTL_SYNC: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "range", required_argument, NULL, 'r' },
		{ "hugetlb", no_argument, NULL, 'H' },
		{ "udmabuf", required_argument, NULL, 'u' },
		{ "device", required_argument, NULL, 'd' },
		{ "punch", required_argument, NULL, 'p' },
		{ "release", no_argument, NULL, 'R' },
		{ "expect", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ "importer", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	int expect[NR_VIEWS] = { -1, -1, -1, -1, -1 };
	const char *imp_dev = NULL;
	int imp = -1;
	uint32_t imp_slot = 0;
	uint64_t *ibuf = NULL;
	enum state got[NR_VIEWS] = { 0 };
	bool seen[NR_VIEWS] = { false };
	const char *udmabuf_dev = NULL, *drm_dev = NULL;
	struct layout l = { 0 };
	uint64_t size = 1 << 20, timeout_ms = 2000;
	bool hugetlb = false, release = false, no_import = false;
	struct udmabuf_segment segs[MAX_RANGES];
	volatile uint64_t *map, *imap = NULL;
	int c, dev, memfd, dbuf, card = -1, idbuf = -1, rc = 0;
	uint32_t handle = 0;
	char card_name[128];
	uint64_t *mem;
	unsigned int i;

	if (argc > 0 && argv[0][0])
		prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 :
		       argv[0];
	while ((c = getopt_long(argc, argv, "s:r:Hu:d:p:Re:t:i:h", opts,
				NULL)) != -1) {
		switch (c) {
		case 's':
			if (!parse_size(optarg, &size) || !size)
				bad_usage("bad size '%s'", optarg);
			break;
		case 'r':
			if (l.n == MAX_RANGES)
				bad_usage("more than %d ranges", MAX_RANGES);
			if (!parse_range(optarg, &l.off[l.n], &l.len[l.n]))
				bad_usage("bad range '%s' (want OFFSET:LENGTH)",
					  optarg);
			l.n++;
			break;
		case 'H':
			hugetlb = true;
			break;
		case 'u':
			udmabuf_dev = optarg;
			break;
		case 'd':
			if (!strcmp(optarg, "none"))
				no_import = true;
			else
				drm_dev = optarg;
			break;
		case 'p':
			if (!parse_range(optarg, &l.punch_off, &l.punch_len))
				bad_usage("bad punch range '%s' (want OFFSET:LENGTH)",
					  optarg);
			break;
		case 'R':
			release = true;
			break;
		case 'e': {
			char *eq = strchr(optarg, '=');
			int v, s;

			if (!eq)
				bad_usage("bad expectation '%s' (want VIEW=STATE)",
					  optarg);
			for (v = 0; v < NR_VIEWS; v++)
				if (!strncmp(optarg, view_names[v],
					     eq - optarg) &&
				    !view_names[v][eq - optarg])
					break;
			for (s = 0; s < ST_CORRUPT; s++)
				if (!strcmp(eq + 1, state_names[s]))
					break;
			if (v == NR_VIEWS || s == ST_CORRUPT)
				bad_usage("bad expectation '%s' (views: mmap, sync, reexport, importer, released; states: old, new, zero, mixed)",
					  optarg);
			expect[v] = s;
			break;
		}
		case 'i':
			imp_dev = optarg;
			break;
		case 't':
			if (!parse_size(optarg, &timeout_ms))
				bad_usage("bad timeout '%s'", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	if (release && no_import)
		bad_usage("--release needs an import (not --device none)");
	if (expect[V_RELEASED] >= 0 && !release)
		bad_usage("expecting 'released' needs --release");
	if (expect[V_REEXPORT] >= 0 && no_import)
		bad_usage("expecting 'reexport' needs an import");
	if (!imp_dev && !access("/dev/udmabuf_importer", F_OK))
		imp_dev = "/dev/udmabuf_importer";
	if (imp_dev && !strcmp(imp_dev, "none"))
		imp_dev = NULL;
	if (expect[V_IMPORTER] >= 0 && !imp_dev)
		bad_usage("expecting 'importer' needs /dev/udmabuf_importer (udmabuf_importer.ko) or --importer");
	if ((release || expect[V_MMAP] >= 0 || expect[V_SYNC] >= 0 ||
	     expect[V_REEXPORT] >= 0 || expect[V_IMPORTER] >= 0) &&
	    !l.punch_len)
		bad_usage("--release and --expect need --punch");

	/* The memfd, generation 1 everywhere. */
	memfd = udmabuf_memfd_create("udmabuf-tool", size,
				     hugetlb ? UDMABUF_MEMFD_HUGETLB : 0);
	if (memfd < 0)
		die("%s", udmabuf_strerror());
	if (hugetlb)
		size = (size + (2 << 20) - 1) & ~((uint64_t)(2 << 20) - 1);
	l.ps = udmabuf_page_size();
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		die("cannot map the memfd: %s", strerror(errno));
	fill(mem, l.ps, 0, size / l.ps, 1);
	if (l.punch_len && (l.punch_off % l.ps || l.punch_len % l.ps ||
			    l.punch_off + l.punch_len > size))
		die("punch range 0x%llx+0x%llx is not page aligned inside the %llu-byte memfd",
		    (unsigned long long)l.punch_off,
		    (unsigned long long)l.punch_len, (unsigned long long)size);

	/* The udmabuf. */
	if (!l.n) {
		l.off[0] = 0;
		l.len[0] = size;
		l.n = 1;
	}
	for (i = 0; i < l.n; i++) {
		segs[i] = UDMABUF_SEGMENT(memfd, l.off[i], l.len[i]);
		l.size += l.len[i];
	}
	dev = udmabuf_open(udmabuf_dev);
	if (dev < 0)
		die("%s", udmabuf_strerror());
	dbuf = udmabuf_create_segments(dev, segs, l.n, UDMABUF_CLOEXEC);
	if (dbuf < 0)
		die("%s", udmabuf_strerror());
	c = udmabuf_follows(dbuf);
	if (c < 0)
		die("%s", udmabuf_strerror());
	printf("follows: %s\n", c ? "yes" : "no");
	printf("udmabuf: %llu bytes in %u segment%s of a %llu-byte %s memfd\n",
	       (unsigned long long)l.size, l.n, l.n > 1 ? "s" : "",
	       (unsigned long long)size, hugetlb ? "hugetlb" : "shmem");
	map = map_ro(dbuf, l.size, "the udmabuf");
	if (classify(&l, map) != ST_OLD)
		die("the udmabuf's mmap does not show the memfd's data");
	printf("mmap: initial data ok\n");

	/* The import, read through the fd the device exports for it. */
	if (!no_import) {
		card = import(drm_dev, dbuf, &handle, card_name,
			      sizeof(card_name));
		if (drmPrimeHandleToFD(card, handle, DRM_CLOEXEC, &idbuf))
			die("%s cannot export handle %u again: %s", card_name,
			    handle, strerror(errno));
		imap = map_ro(idbuf, l.size, "the re-exported dma-buf");
		if (classify(&l, imap) != ST_OLD)
			die("the re-exported dma-buf does not show the memfd's data");
		printf("import: %s handle %u: initial data ok\n", card_name,
		       handle);
	}
	if (imp_dev) {
		ibuf = malloc(l.size);
		if (!ibuf)
			die("no memory for the importer's view");
		imp = importer_attach(imp_dev, dbuf, &imp_slot);
		importer_read(imp, imp_slot, ibuf, l.size);
		if (classify(&l, ibuf) != ST_OLD)
			die("the test importer does not see the memfd's data");
		printf("importer: %s slot %u (dynamic): initial data ok\n",
		       imp_dev, imp_slot);
	}

	if (l.punch_len) {
		if (fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      l.punch_off, l.punch_len))
			die("cannot punch 0x%llx+0x%llx: %s",
			    (unsigned long long)l.punch_off,
			    (unsigned long long)l.punch_len, strerror(errno));
		fill(mem, l.ps, l.punch_off / l.ps, l.punch_len / l.ps, 2);
		printf("punch: 0x%llx+0x%llx punched and rewritten\n",
		       (unsigned long long)l.punch_off,
		       (unsigned long long)l.punch_len);

		got[V_MMAP] = classify(&l, map);
		seen[V_MMAP] = true;
		buf_sync(dbuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
		got[V_SYNC] = classify(&l, map);
		buf_sync(dbuf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
		seen[V_SYNC] = true;
		if (imap) {
			got[V_REEXPORT] = classify(&l, imap);
			seen[V_REEXPORT] = true;
		}
		if (imp >= 0) {
			importer_read(imp, imp_slot, ibuf, l.size);
			got[V_IMPORTER] = classify(&l, ibuf);
			seen[V_IMPORTER] = true;
		}
		if (release) {
			struct timespec t0, t;
			uint64_t ms = 0;

			if (drmCloseBufferHandle(card, handle))
				die("cannot close handle %u: %s", handle,
				    strerror(errno));
			handle = 0;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			/* The buffer catches up asynchronously: poll. */
			for (;;) {
				got[V_RELEASED] = classify(&l, map);
				clock_gettime(CLOCK_MONOTONIC, &t);
				ms = (t.tv_sec - t0.tv_sec) * 1000 +
				     (t.tv_nsec - t0.tv_nsec) / 1000000;
				if (got[V_RELEASED] == ST_NEW ||
				    got[V_RELEASED] == ST_CORRUPT ||
				    ms >= timeout_ms)
					break;
				usleep(10000);
			}
			seen[V_RELEASED] = true;
			printf("release: import closed, mmap checked for %llu ms\n",
			       (unsigned long long)ms);
		}
		for (i = 0; i < NR_VIEWS; i++) {
			if (!seen[i])
				continue;
			printf("%s: %s\n", view_names[i],
			       state_names[got[i]]);
			if (got[i] == ST_CORRUPT) {
				fprintf(stderr, "%s: %s: pages outside the punched range changed\n",
					prog, view_names[i]);
				rc = EXIT_FAIL;
			}
		}
		for (i = 0; i < NR_VIEWS && !rc; i++)
			if (expect[i] >= 0 && expect[i] != (int)got[i]) {
				fprintf(stderr, "%s: %s shows %s, expected %s\n",
					prog, view_names[i],
					state_names[got[i]],
					state_names[expect[i]]);
				rc = EXIT_EXPECT;
			}
	}

	if (imp >= 0)
		close(imp);
	free(ibuf);
	if (imap)
		munmap((void *)imap, l.size);
	if (idbuf >= 0)
		close(idbuf);
	if (handle && drmCloseBufferHandle(card, handle))
		fprintf(stderr, "%s: cannot close handle %u: %s\n", prog,
			handle, strerror(errno));
	if (card >= 0)
		close(card);
	munmap((void *)map, l.size);
	udmabuf_close(dbuf);
	close(dev);
	munmap(mem, size);
	close(memfd);
	return rc;
}
