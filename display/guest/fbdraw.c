// SPDX-License-Identifier: GPL-2.0
/*
 * fbdraw: the nested guest's half of the display scenario (display/README.md).
 *
 * Opens the virtio-gpu card, checks that the device offers blob resources,
 * creates a dumb buffer whose size is a whole number of 2 MiB pages, sets it
 * as the scanout, draws pattern 1 and marks it dirty, then waits on the
 * control line (a serial port) for "redraw", draws pattern 2 and marks it
 * dirty again.  Every step is reported on the control line:
 *
 *   READY 1 width=W height=H pitch=P size=S blob=1 hugepages=N
 *   READY 2
 *   ERROR <what went wrong>        (and exit status 1)
 *
 * The patterns are defined in display/host/patterns.py too; keep them equal.
 * Every pixel's X byte (bits 24-31, not displayed) carries the pattern's tag
 * so the host can find the buffer's pages in guest RAM by content.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>
#include <drm_fourcc.h>

/* linux/virtgpu_drm.h; libdrm's copy predates blob resources. */
struct virtgpu_getparam {
	uint64_t param;
	uint64_t value;		/* user pointer to an int */
};
#define VIRTGPU_GETPARAM_IOCTL \
	DRM_IOWR(DRM_COMMAND_BASE + 0x03, struct virtgpu_getparam)
#define VIRTGPU_PARAM_RESOURCE_BLOB 3

#define TAG1 0x5a
#define TAG2 0xa5
#define HUGE (2u << 20)

static FILE *ctl;

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(ctl, fmt, ap);
	va_end(ap);
	fputc('\n', ctl);
	fflush(ctl);
	/* The console log keeps a copy for the host's error report. */
	va_start(ap, fmt);
	fprintf(stderr, "fbdraw: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void __attribute__((noreturn)) fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say("ERROR %s", msg);
	exit(1);
}

/* Pattern 1: eight vertical colour bars. */
static const uint32_t bars[8] = {
	0xffffff, 0xffff00, 0x00ffff, 0x00ff00,
	0xff00ff, 0xff0000, 0x0000ff, 0x000000,
};

static void draw(uint8_t *map, uint32_t pitch, uint32_t w, uint32_t h, int n)
{
	for (uint32_t y = 0; y < h; y++) {
		uint32_t *row = (uint32_t *)(map + (size_t)y * pitch);

		for (uint32_t x = 0; x < w; x++) {
			uint32_t rgb;

			if (n == 1)
				rgb = bars[x * 8 / w];
			else	/* 64x64 checkerboard, orange and dark blue */
				rgb = ((x / 64) ^ (y / 64)) & 1 ? 0x002060 : 0xff8000;
			row[x] = (uint32_t)(n == 1 ? TAG1 : TAG2) << 24 | rgb;
		}
		/* Padding beyond the width carries the tag too. */
		for (uint32_t x = w; x < pitch / 4; x++)
			row[x] = (uint32_t)(n == 1 ? TAG1 : TAG2) << 24;
	}
}

static long meminfo(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			v = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return v;
}

static int dumb_create(int fd, uint32_t w, uint32_t h, struct drm_mode_create_dumb *d)
{
	memset(d, 0, sizeof(*d));
	d->width = w;
	d->height = h;
	d->bpp = 32;
	return drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, d);
}

static void dumb_destroy(int fd, uint32_t handle)
{
	struct drm_mode_destroy_dumb d = { .handle = handle };

	drmIoctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &d);
}

/* Read one line from the control port, at most timeout_s seconds. */
static int wait_command(int fd, char *buf, size_t len, int timeout_s)
{
	size_t n = 0;
	time_t end = time(NULL) + timeout_s;

	while (n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)(end - time(NULL));

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, left * 1000) <= 0)
			continue;
		if (read(fd, buf + n, 1) != 1)
			return -EIO;
		if (buf[n] == '\r')
			continue;
		if (buf[n] == '\n') {
			if (n == 0)
				continue;
			break;
		}
		n++;
	}
	buf[n] = 0;
	return 0;
}

int main(int argc, char **argv)
{
	const char *card = "/dev/dri/card0", *port = "/dev/ttyS1";
	int timeout_s = 600;
	struct drm_mode_create_dumb fb;
	struct drm_mode_map_dumb md = { 0 };
	drmModeConnector *conn = NULL;
	drmModeModeInfo mode;
	drmModeRes *res;
	drmModeEncoder *enc;
	uint32_t crtc = 0, fb_id, h, handles[4] = { 0 }, pitches[4] = { 0 }, offsets[4] = { 0 };
	uint64_t cap = 0;
	int fd, cfd, blob = 0, opt;
	struct termios t;
	uint8_t *map;
	char cmd[64];

	while ((opt = getopt(argc, argv, "c:p:t:")) != -1) {
		switch (opt) {
		case 'c': card = optarg; break;
		case 'p': port = optarg; break;
		case 't': timeout_s = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: fbdraw [-c CARD] [-p CONTROL_TTY] [-t TIMEOUT_S]\n");
			return 2;
		}
	}
	if (timeout_s <= 0) {
		fprintf(stderr, "fbdraw: -t wants a positive number of seconds\n");
		return 2;
	}
	cfd = open(port, O_RDWR | O_NOCTTY);
	if (cfd < 0) {
		fprintf(stderr, "fbdraw: cannot open control port %s: %s\n", port, strerror(errno));
		return 1;
	}
	if (!tcgetattr(cfd, &t)) {
		cfmakeraw(&t);
		tcsetattr(cfd, TCSANOW, &t);
	}
	ctl = fdopen(dup(cfd), "w");

	fd = open(card, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail("no DRM card: %s: %s", card, strerror(errno));
	drmVersion *v = drmGetVersion(fd);
	if (!v || strcmp(v->name, "virtio_gpu"))
		fail("%s is %s, not virtio_gpu", card, v ? v->name : "unknown");
	drmFreeVersion(v);
	struct virtgpu_getparam gp = {
		VIRTGPU_PARAM_RESOURCE_BLOB, (uintptr_t)&blob
	};
	if (ioctl(fd, VIRTGPU_GETPARAM_IOCTL, &gp))
		fail("VIRTGPU_GETPARAM(RESOURCE_BLOB): %s", strerror(errno));
	if (!blob)
		fail("virtio-gpu offers no blob resources: QEMU turned blob off "
		     "(no /dev/udmabuf or no sealable memfd guest RAM on the host)");
	if (drmGetCap(fd, DRM_CAP_DUMB_BUFFER, &cap) || !cap)
		fail("no dumb buffer support on %s", card);

	res = drmModeGetResources(fd);
	if (!res)
		fail("no KMS resources on %s: %s", card, strerror(errno));
	for (int i = 0; i < res->count_connectors && !conn; i++) {
		conn = drmModeGetConnector(fd, res->connectors[i]);
		if (conn && (conn->connection != DRM_MODE_CONNECTED || !conn->count_modes)) {
			drmModeFreeConnector(conn);
			conn = NULL;
		}
	}
	if (!conn)
		fail("no connected connector with a mode");
	mode = conn->modes[0];
	for (int i = 0; i < conn->count_modes; i++)
		if (conn->modes[i].type & DRM_MODE_TYPE_PREFERRED) {
			mode = conn->modes[i];
			break;
		}
	enc = conn->encoder_id ? drmModeGetEncoder(fd, conn->encoder_id) : NULL;
	if (enc && enc->crtc_id)
		crtc = enc->crtc_id;
	for (int i = 0; !crtc && i < conn->count_encoders; i++) {
		drmModeEncoder *e = drmModeGetEncoder(fd, conn->encoders[i]);

		for (int j = 0; e && j < res->count_crtcs; j++)
			if (e->possible_crtcs & (1u << j)) {
				crtc = res->crtcs[j];
				break;
			}
		drmModeFreeEncoder(e);
	}
	if (!crtc)
		fail("no CRTC for connector %u", conn->connector_id);

	/*
	 * With shmem THP the buffer comes in 2 MiB folios, and the allocator
	 * hands out the two folios of a 4 MiB buffer next to each other.
	 * QEMU 7.2 maps a buffer that is one contiguous range of guest RAM
	 * directly, without a udmabuf: the host boots this guest with
	 * swiotlb=force, which caps the buffer's scatterlist segments (what
	 * the guest tells the device) at 256 KiB.
	 *
	 * "realloc" from the host (it found the buffer in one contiguous
	 * range of guest RAM all the same): a new buffer while the old one
	 * stays allocated, so it lands elsewhere.
	 */
	int attempt = 0;
	uint8_t *old_map = NULL;
	uint64_t old_size = 0;
new_fb:
	attempt++;
	h = mode.vdisplay;
	for (;;) {
		if (dumb_create(fd, mode.hdisplay, h, &fb))
			fail("no dumb buffer of %ux%u: %s", mode.hdisplay, h, strerror(errno));
		if ((uint64_t)fb.pitch * h % HUGE == 0)
			break;
		dumb_destroy(fd, fb.handle);
		h = (uint32_t)(((uint64_t)fb.pitch * h / HUGE + 1) * HUGE / fb.pitch);
		while ((uint64_t)fb.pitch * h % HUGE)
			h++;
		if (h > 8 * mode.vdisplay)
			fail("no height makes a %u-byte pitch whole 2 MiB pages", fb.pitch);
	}
	handles[0] = fb.handle;
	pitches[0] = fb.pitch;
	if (drmModeAddFB2(fd, mode.hdisplay, h, DRM_FORMAT_XRGB8888, handles, pitches,
			  offsets, &fb_id, 0))
		fail("drmModeAddFB2: %s", strerror(errno));
	md.handle = fb.handle;
	if (drmIoctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md))
		fail("DRM_IOCTL_MODE_MAP_DUMB: %s", strerror(errno));
	map = mmap(NULL, fb.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, md.offset);
	if (map == MAP_FAILED)
		fail("mmap of the dumb buffer: %s", strerror(errno));

	draw(map, fb.pitch, mode.hdisplay, h, 1);
	if (drmModeSetCrtc(fd, crtc, fb_id, 0, 0, &conn->connector_id, 1, &mode))
		fail("drmModeSetCrtc %ux%u: %s", mode.hdisplay, mode.vdisplay, strerror(errno));
	if (drmModeDirtyFB(fd, fb_id, NULL, 0) && errno != ENOSYS)
		fail("drmModeDirtyFB: %s", strerror(errno));
	/* The host finds the buffer by its tag: the old one must not have it. */
	if (old_map)
		memset(old_map, 0, old_size);
	say("READY 1 width=%u height=%u mode=%ux%u pitch=%u size=%llu blob=%d shmem_huge_kb=%ld attempt=%d",
	    mode.hdisplay, h, mode.hdisplay, mode.vdisplay, fb.pitch,
	    (unsigned long long)fb.size, blob, meminfo("ShmemHugePages"), attempt);

	for (;;) {
		int r = wait_command(cfd, cmd, sizeof(cmd), timeout_s);

		if (r == -ETIMEDOUT)
			fail("no command on %s within %d s", port, timeout_s);
		if (r)
			fail("reading %s: %s", port, strerror(-r));
		if (!strcmp(cmd, "redraw"))
			break;
		if (!strcmp(cmd, "realloc")) {
			if (attempt >= 8)
				fail("still no framebuffer QEMU maps through a udmabuf after %d buffers",
				     attempt);
			old_map = map;
			old_size = fb.size;
			goto new_fb;
		}
		say("IGNORED %s", cmd);
	}
	draw(map, fb.pitch, mode.hdisplay, h, 2);
	if (drmModeDirtyFB(fd, fb_id, NULL, 0) && errno != ENOSYS)
		fail("drmModeDirtyFB: %s", strerror(errno));
	say("READY 2");
	/* Keep the scanout until the host is done (it quits QEMU). */
	wait_command(cfd, cmd, sizeof(cmd), timeout_s);
	return 0;
}
