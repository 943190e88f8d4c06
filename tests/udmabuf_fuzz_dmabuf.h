/* SPDX-License-Identifier: GPL-2.0 */
/*
 * udmabuf_fuzz: dma-buf accesses: DMA_BUF_IOCTL_SYNC, the udmabuf_importer
 * test module's attachments (tests/udmabuf_importer/udmabuf_importer.h
 * lists its errnos), kernel vmaps (udmabuf_vmap) and vgem imports.  Each
 * pin or unpin updates the buffer's pin count in the model, and the
 * buffer's mmap is checked right after: frozen while pinned, following
 * again (caught up) after the last unpin.
 */
#ifndef UDMABUF_FUZZ_DMABUF_H
#define UDMABUF_FUZZ_DMABUF_H

#include "udmabuf_fuzz_ops.h"

static void op_sync(struct fz_thread *t)
{
	static const uint64_t valid[] = {
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ,
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE,
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW,
		DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ,
		DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE,
		DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW,
	};
	int k = buf_pick(t, false), ret;
	struct fz_buf *b;
	uint64_t flags;
	char what[96];
	bool ok;

	if (k < 0)
		return;
	b = &t->bufs[k];
	switch (below(t, 10)) {
	case 0:		/* not a dma-buf */
		fz_note(t, "on the memfd");
		FZ_ERR(t, ub_sync(t->memfd, DMA_BUF_SYNC_START |
				  DMA_BUF_SYNC_READ), ENOTTY,
		       "DMA_BUF_IOCTL_SYNC on a memfd");
		return;
	case 1:
		fz_note(t, "buffer #%lu, argument at a PROT_NONE page", b->id);
		FZ_ERR(t, ioctl(b->fd, DMA_BUF_IOCTL_SYNC, t->guard), EFAULT,
		       "DMA_BUF_IOCTL_SYNC with a bad pointer");
		return;
	case 2 ... 5:
		flags = valid[below(t, 6)];
		break;
	case 6:
		flags = below(t, 2) ? 0 : DMA_BUF_SYNC_END;
		break;
	default:
		flags = rnd(t) & (chance(t, 1, 2) ? 0xff : ~0ULL);
	}
	ok = !(flags & ~(DMA_BUF_SYNC_RW | DMA_BUF_SYNC_END)) &&
	     (flags & DMA_BUF_SYNC_RW);
	snprintf(what, sizeof(what),
		 "DMA_BUF_IOCTL_SYNC flags %#llx on buffer #%lu",
		 (unsigned long long)flags, b->id);
	fz_note(t, "%s", what);
	ret = ub_sync(b->fd, flags);
	if (!ok) {
		fz_expect_err(t, ret, errno, EINVAL, what);
		return;
	}
	if (fz_expect_ok(t, ret, errno, buf_ok(b), what) &&
	    !(flags & DMA_BUF_SYNC_END))
		fz_check_map(t, b, "mmap after DMA_BUF_IOCTL_SYNC");
}

/* The model's slot against what the importer says about it. */
static void slot_info_check(struct fz_thread *t, int s)
{
	struct udmabuf_importer_info info = { .slot = s };
	const struct fz_slot *sl = &t->slots[s];
	uint32_t want = (sl->dynamic ? UDMABUF_IMPORTER_INFO_DYNAMIC : 0) |
			(sl->mapped ? UDMABUF_IMPORTER_INFO_MAPPED : 0) |
			(sl->pinned ? UDMABUF_IMPORTER_INFO_PINNED : 0);
	uint32_t mask = UDMABUF_IMPORTER_INFO_DYNAMIC |
			UDMABUF_IMPORTER_INFO_MAPPED |
			UDMABUF_IMPORTER_INFO_PINNED;

	if (ioctl(t->imp, UDMABUF_IMPORTER_INFO, &info)) {
		fz_fail(t, "UDMABUF_IMPORTER_INFO slot %d: %s", s,
			strerror(errno));
		return;
	}
	if ((info.flags & mask) != want ||
	    info.size != t->bufs[sl->buf].npages * PS)
		fz_fail(t, "importer slot %d: flags %#x size %llu, want flags %#x size %lu",
			s, info.flags, (unsigned long long)info.size, want,
			t->bufs[sl->buf].npages * PS);
}

/* Read a mapped slot through the importer's sg table and check it. */
static void slot_read(struct fz_thread *t, int s)
{
	struct fz_slot *sl = &t->slots[s];
	struct fz_buf *b = &t->bufs[sl->buf];
	struct udmabuf_importer_info info = { .slot = s };
	struct udmabuf_importer_read r = {
		.slot = s,
		.len = b->npages * PS,
		.ptr = (uintptr_t)t->scratch,
	};
	bool moved;

	if (ioctl(t->imp, UDMABUF_IMPORTER_INFO, &info)) {
		fz_fail(t, "UDMABUF_IMPORTER_INFO slot %d: %s", s,
			strerror(errno));
		return;
	}
	if (ioctl(t->imp, UDMABUF_IMPORTER_READ, &r)) {
		fz_fail(t, "UDMABUF_IMPORTER_READ slot %d (%lu pages): %s", s,
			b->npages, strerror(errno));
		return;
	}
	/*
	 * Not invalidated since it was mapped, the table holds the buffer's
	 * pages: the mmap's, and the memfd's unless pinned.  After a
	 * move_notify it keeps what it mapped: only frozen rules then.
	 */
	moved = info.flags & UDMABUF_IMPORTER_INFO_INVALIDATED;
	fz_check_copy(t, b, t->scratch, !moved && !b->pins, !moved,
		      moved ? "importer read (invalidated)" : "importer read");
}

/* Attach to a buffer (slot = the lowest free), or to bad fds. */
static void imp_attach(struct fz_thread *t)
{
	struct udmabuf_importer_attach a = { 0 };
	int k = buf_pick(t, false), s, want_slot = -1, ret;
	char what[96];

	switch (below(t, 6)) {
	case 0:		/* not a dma-buf, not open, bad flags, bad pointer */
		switch (below(t, 4)) {
		case 0:
			a.fd = t->memfd;
			fz_note(t, "a memfd");
			FZ_ERR(t, ioctl(t->imp, UDMABUF_IMPORTER_ATTACH, &a),
			       EINVAL, "importer attach of a memfd");
			break;
		case 1:
			a.fd = t->f->fds[FK_CLOSED].fd;
			fz_note(t, "fd %d", a.fd);
			FZ_ERR(t, ioctl(t->imp, UDMABUF_IMPORTER_ATTACH, &a),
			       EBADF, "importer attach of a closed fd");
			break;
		case 2:
			a.fd = k >= 0 ? t->bufs[k].fd : t->memfd;
			a.flags = 2 << below(t, 30);
			fz_note(t, "flags %#x", a.flags);
			FZ_ERR(t, ioctl(t->imp, UDMABUF_IMPORTER_ATTACH, &a),
			       EINVAL, "importer attach with unknown flags");
			break;
		default:
			fz_note(t, "argument at a PROT_NONE page");
			FZ_ERR(t, ioctl(t->imp, UDMABUF_IMPORTER_ATTACH,
					t->guard), EFAULT,
			       "importer attach with a bad pointer");
		}
		return;
	default:
		break;
	}
	if (k < 0)
		return;
	a.fd = t->bufs[k].fd;
	a.flags = chance(t, 1, 2) ? UDMABUF_IMPORTER_ATTACH_DYNAMIC : 0;
	for (s = NSLOT - 1; s >= 0; s--)
		if (t->slots[s].buf < 0)
			want_slot = s;
	snprintf(what, sizeof(what), "importer attach (%s) of buffer #%lu",
		 a.flags ? "dynamic" : "static", t->bufs[k].id);
	fz_note(t, "%s", what);
	ret = ioctl(t->imp, UDMABUF_IMPORTER_ATTACH, &a);
	if (want_slot < 0) {
		fz_expect_err(t, ret, errno, ENOSPC, what);
		return;
	}
	if (!fz_expect_ok(t, ret, errno, buf_ok(&t->bufs[k]), what))
		return;
	if (ret != want_slot) {
		fz_fail(t, "%s: slot %d, want %d", what, ret, want_slot);
		return;
	}
	t->slots[ret] = (struct fz_slot) {
		.buf = k,
		.dynamic = a.flags,
	};
	t->bufs[k].pins += slot_pins(t->f, &t->slots[ret]);
	slot_info_check(t, ret);
	fz_check_map(t, &t->bufs[k], "mmap after an importer attach");
}

static void op_importer(struct fz_thread *t)
{
	int s = below(t, NSLOT + 2), ret, err, old, k;
	struct fz_slot *sl;
	struct fz_buf *b;
	char what[96];

	if (t->imp < 0)
		return;
	if (chance(t, 1, 40)) {		/* closing detaches everything */
		fz_note(t, "close and reopen /dev/udmabuf_importer");
		close(t->imp);
		for (s = 0; s < NSLOT; s++)
			if (t->slots[s].buf >= 0)
				slot_forget(t, s);
		t->imp = open("/dev/udmabuf_importer", O_RDWR | O_CLOEXEC);
		if (t->imp < 0)
			fz_fail(t, "open /dev/udmabuf_importer: %s",
				strerror(errno));
		fz_check_all(t, "mmap after the importer file closed");
		return;
	}
	if (chance(t, 1, 4)) {
		imp_attach(t);
		return;
	}
	sl = s < NSLOT ? &t->slots[s] : NULL;
	b = sl && sl->buf >= 0 ? &t->bufs[sl->buf] : NULL;
	switch (below(t, 9)) {
	case 0 ... 1: {
		static const unsigned int req[] = {
			UDMABUF_IMPORTER_MAP, UDMABUF_IMPORTER_UNMAP,
			UDMABUF_IMPORTER_PIN, UDMABUF_IMPORTER_UNPIN,
			UDMABUF_IMPORTER_DETACH,
		};
		unsigned int r = req[below(t, 5)];

		/* A slot that does not exist. */
		if (b)
			return;
		snprintf(what, sizeof(what), "importer ioctl %#x on %s slot %d",
			 r, sl ? "empty" : "no", s);
		fz_note(t, "%s", what);
		FZ_ERR(t, ioctl(t->imp, r, s), sl ? ENOENT : EINVAL, what);
		return;
	}
	case 2:
		if (!b)
			return;
		snprintf(what, sizeof(what), "importer map of slot %d (buffer #%lu, %s)",
			 s, b->id, sl->dynamic ? "dynamic" : "static");
		fz_note(t, "%s", what);
		old = slot_pins(t->f, sl);
		ret = ioctl(t->imp, UDMABUF_IMPORTER_MAP, s);
		err = errno;
		if (!ret) {
			sl->mapped = true;
		} else if (!fz_expect_ok(t, ret, err, buf_ok(b), what)) {
			if (sl->dynamic)
				sl->mapped = false;
		}
		b->pins += slot_pins(t->f, sl) - old;
		break;
	case 3:
		if (!b)
			return;
		snprintf(what, sizeof(what), "importer unmap of slot %d (buffer #%lu, %smapped)",
			 s, b->id, sl->mapped ? "" : "not ");
		fz_note(t, "%s", what);
		ret = ioctl(t->imp, UDMABUF_IMPORTER_UNMAP, s);
		if (!sl->mapped) {
			fz_expect_err(t, ret, errno, ENODATA, what);
			return;
		}
		if (!fz_expect_ok(t, ret, errno, NULL, what))
			return;
		old = slot_pins(t->f, sl);
		sl->mapped = false;
		b->pins += slot_pins(t->f, sl) - old;
		break;
	case 4:
		if (!b)
			return;
		snprintf(what, sizeof(what), "importer pin of slot %d (buffer #%lu, %s%s)",
			 s, b->id, sl->dynamic ? "dynamic" : "static",
			 sl->pinned ? ", pinned" : "");
		fz_note(t, "%s", what);
		ret = ioctl(t->imp, UDMABUF_IMPORTER_PIN, s);
		if (!sl->dynamic || sl->pinned) {
			fz_expect_err(t, ret, errno,
				      sl->dynamic ? EBUSY : EINVAL, what);
			return;
		}
		if (!fz_expect_ok(t, ret, errno, buf_ok(b), what))
			return;
		sl->pinned = true;
		b->pins++;
		break;
	case 5:
		if (!b)
			return;
		snprintf(what, sizeof(what), "importer unpin of slot %d (buffer #%lu, %s%s)",
			 s, b->id, sl->dynamic ? "dynamic" : "static",
			 sl->pinned ? ", pinned" : "");
		fz_note(t, "%s", what);
		ret = ioctl(t->imp, UDMABUF_IMPORTER_UNPIN, s);
		if (!sl->dynamic || !sl->pinned) {
			fz_expect_err(t, ret, errno, EINVAL, what);
			return;
		}
		if (!fz_expect_ok(t, ret, errno, NULL, what))
			return;
		sl->pinned = false;
		b->pins--;
		break;
	case 6:
		if (!b)
			return;
		fz_note(t, "importer detach of slot %d (buffer #%lu)", s, b->id);
		k = sl->buf;
		slot_detach(t, s);
		if (t->bufs[k].used)
			fz_check_map(t, &t->bufs[k], "mmap after a detach");
		return;
	default:	/* read */
		if (!b || !t->f->imp_read)
			return;
		if (!sl->mapped) {
			struct udmabuf_importer_read r = {
				.slot = s, .len = PS,
				.ptr = (uintptr_t)t->scratch,
			};

			fz_note(t, "importer read of unmapped slot %d", s);
			FZ_ERR(t, ioctl(t->imp, UDMABUF_IMPORTER_READ, &r),
			       ENODATA, "importer read of an unmapped slot");
			return;
		}
		if (chance(t, 1, 4)) {
			struct udmabuf_importer_read r = {
				.slot = s,
				.offset = b->npages * PS - below(t, 2) * PS,
				.len = 2 * PS,
				.ptr = (uintptr_t)t->scratch,
			};

			fz_note(t, "importer read of slot %d past the end", s);
			FZ_ERR(t, ioctl(t->imp, UDMABUF_IMPORTER_READ, &r),
			       EINVAL, "importer read past the end");
			return;
		}
		fz_note(t, "importer read of slot %d (buffer #%lu)", s, b->id);
		slot_read(t, s);
		return;
	}
	slot_info_check(t, s);
	fz_check_map(t, b, "mmap after an importer op");
}

/* Kernel vmaps: read once (a transient pin), or held (a pin). */
static void op_vmap(struct fz_thread *t)
{
	int k = buf_pick(t, false), ret;
	struct fz_buf *b;
	char what[96];

	if (k < 0 || !t->f->vmap)
		return;
	b = &t->bufs[k];
	switch (below(t, 4)) {
	case 0 ... 1:
		snprintf(what, sizeof(what), "vmap read of buffer #%lu (%lu pages, pins %d)",
			 b->id, b->npages, b->pins);
		fz_note(t, "%s", what);
		ret = ub_vmap_read(b->fd, 0, t->scratch, b->npages * PS);
		if (fz_expect_ok(t, ret, errno, buf_ok(b), what))
			fz_check_copy(t, b, t->scratch, !b->pins, true,
				      "vmap read");
		break;
	case 2:
		if (b->vmap_fd >= 0)
			return;
		snprintf(what, sizeof(what), "vmap hold of buffer #%lu", b->id);
		fz_note(t, "%s", what);
		ret = ub_vmap_hold(b->fd);
		if (!fz_expect_ok(t, ret, errno, buf_ok(b), what))
			return;
		b->vmap_fd = ret;
		b->pins++;
		if (ub_vmap_read_held(b->vmap_fd, 0, t->scratch,
				      b->npages * PS))
			fz_fail(t, "read of a held vmap: %s", strerror(errno));
		else
			fz_check_copy(t, b, t->scratch, false, true,
				      "held vmap");
		break;
	default:
		if (b->vmap_fd < 0)
			return;
		fz_note(t, "vunmap buffer #%lu", b->id);
		close(b->vmap_fd);
		b->vmap_fd = -1;
		b->pins--;
		fz_check_map(t, b, "mmap after a vunmap");
	}
}

/* vgem imports: a static importer, pinned while imported. */
static void op_vgem(struct fz_thread *t)
{
	int k = buf_pick(t, false);
	struct fz_buf *b;

	if (k < 0 || t->card < 0)
		return;
	b = &t->bufs[k];
	if (b->vgem) {
		fz_note(t, "close the vgem import of buffer #%lu", b->id);
		drmCloseBufferHandle(t->card, b->vgem);
		b->vgem = 0;
		b->pins--;
	} else {
		fz_note(t, "vgem import of buffer #%lu", b->id);
		if (drmPrimeFDToHandle(t->card, b->fd, &b->vgem)) {
			b->vgem = 0;
			fz_expect_ok(t, -1, errno, buf_ok(b), "vgem import");
			return;
		}
		b->pins++;
	}
	fz_check_map(t, b, "mmap after a vgem import or close");
}

#endif /* UDMABUF_FUZZ_DMABUF_H */
