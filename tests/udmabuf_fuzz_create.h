/* SPDX-License-Identifier: GPL-2.0 */
/*
 * udmabuf_fuzz: creates, valid and not, and the churn over the memfd that
 * all threads share.  Every bad create must fail with the errno Linux
 * 6.12's udmabuf gives for it (fz_create_errno()), every valid one succeed.
 */
#ifndef UDMABUF_FUZZ_CREATE_H
#define UDMABUF_FUZZ_CREATE_H

#include "udmabuf_fuzz_ops.h"

/* Flags of a valid create: 6.12 looks at UDMABUF_FLAGS_CLOEXEC only. */
static uint32_t rand_flags(struct fz_thread *t)
{
	switch (below(t, 4)) {
	case 0:
		return 0;
	case 1:
		return (uint32_t)rnd(t);
	default:
		return UDMABUF_FLAGS_CLOEXEC;
	}
}

static void op_create(struct fz_thread *t)
{
	unsigned long nr = rand_len(t, MPAGES);
	unsigned long first = below(t, MPAGES - nr + 1);
	struct udmabuf_create c = {
		.memfd = t->memfd,
		.flags = rand_flags(t),
		.offset = first * PS,
		.size = nr * PS,
	};
	int k = buf_slot(t), fd;
	uint32_t *pg;
	unsigned long i;

	fz_note(t, "memfd pages [%lu, +%lu) flags %#x", first, nr, c.flags);
	fd = ioctl(t->f->dev, UDMABUF_CREATE, &c);
	if (!fz_expect_ok(t, fd, errno, t->kind == UB_HUGETLB ? ok_nomem : NULL,
			  "UDMABUF_CREATE"))
		return;
	fz_check_cloexec(t, fd, c.flags);
	pg = malloc(nr * sizeof(*pg));
	for (i = 0; i < nr; i++)
		pg[i] = first + i;
	buf_install(t, k, fd, pg, nr, t->kind == UB_HUGETLB);
}

/* The list header whose @n items end where the guard page begins. */
static struct udmabuf_create_list *list_at(struct fz_thread *t, uint32_t n)
{
	return (void *)(t->list_area + t->list_len -
			sizeof(struct udmabuf_create_list) -
			(size_t)n * sizeof(struct udmabuf_create_item));
}

static unsigned long list_cap(const struct fuzz *f)
{
	return f->list_limit < LIST_CAP ? f->list_limit : LIST_CAP;
}

/* A valid list: segments of the own memfd and of the churn memfd. */
static void op_list(struct fz_thread *t)
{
	bool many = chance(t, 1, 20);
	uint32_t n = many ? list_cap(t->f) : 1 + below(t, 8), i;
	struct udmabuf_create_list *l = list_at(t, n);
	unsigned long total = 0, j, first, nr;
	bool churn, huge = false;
	int k = buf_slot(t), fd;
	uint32_t *pg = malloc(MPAGES * sizeof(*pg));

	l->flags = rand_flags(t);
	l->count = n;
	for (i = 0; i < n; i++) {
		churn = !many && chance(t, 1, 6);
		nr = many ? 1 : churn ? 1 + below(t, 8) : rand_len(t, 64);
		if (nr > MPAGES - total)
			nr = MPAGES - total;
		if (!nr) {
			l->count = n = i;
			break;
		}
		first = below(t, (churn ? CHURN_PAGES : MPAGES) - nr + 1);
		l->list[i] = (struct udmabuf_create_item) {
			.memfd = churn ? t->f->churn : t->memfd,
			.offset = first * PS,
			.size = nr * PS,
		};
		for (j = 0; j < nr; j++)
			pg[total++] = (first + j) | (churn ? CHURN_BIT : 0);
		huge |= !churn && t->kind == UB_HUGETLB;
	}
	fz_note(t, "%u items, %lu pages, flags %#x", n, total, l->flags);
	if (!n) {
		free(pg);
		return;
	}
	fd = ioctl(t->f->dev, UDMABUF_CREATE_LIST, l);
	if (!fz_expect_ok(t, fd, errno, huge ? ok_nomem : NULL,
			  "UDMABUF_CREATE_LIST")) {
		free(pg);
		return;
	}
	fz_check_cloexec(t, fd, l->flags);
	buf_install(t, k, fd, pg, total, huge);
}

/* A random item, valid or not, and the kind of its fd. */
static void rand_item(struct fz_thread *t, struct udmabuf_create_item *it,
		      enum fz_fdkind *kind)
{
	const struct fuzz *f = t->f;
	uint64_t size, pages, off;

	if (chance(t, 1, 2)) {
		*kind = chance(t, 3, 4) ? FK_OWN : FK_CHURN;
	} else {
		do
			*kind = FK_NOSEAL + below(t, FK_NR - FK_NOSEAL);
		while (!f->fds[*kind].avail);
	}
	it->memfd = *kind == FK_OWN ? t->memfd : f->fds[*kind].fd;
	it->__pad = 0;
	size = f->fds[*kind].size;
	pages = size ? size / PS : 16;
	switch (below(t, 10)) {
	case 7:		/* misaligned */
		off = below(t, pages) * PS + 1 + below(t, PS - 1);
		break;
	case 8:		/* past the end */
		off = pages * PS + below(t, 4) * PS;
		break;
	case 9:		/* anything */
		off = rnd(t) & (chance(t, 1, 2) ? ~(PS - 1) : ~0ULL);
		break;
	default:
		off = below(t, pages) * PS;
	}
	it->offset = off;
	switch (below(t, 10)) {
	case 6:
		it->size = 0;
		break;
	case 7:		/* misaligned */
		it->size = (1 + below(t, 4)) * PS - 1 - below(t, PS - 1);
		break;
	case 8:		/* past the end */
		it->size = (pages + 1 + below(t, 4)) * PS;
		break;
	case 9:		/* over size_limit_mb, or anything */
		it->size = chance(t, 1, 2) ?
			   ((uint64_t)f->size_limit_mb << 20) + PS :
			   rnd(t) & ~(PS - 1);
		break;
	default:
		off /= PS;
		it->size = (1 + below(t, pages > off ? pages - off : 1)) * PS;
	}
}

static void describe_items(char *s, size_t len, const struct fuzz *f,
			   const struct udmabuf_create_item *it,
			   const enum fz_fdkind *kinds, uint32_t n)
{
	uint32_t i;
	int p = 0;

	s[0] = 0;
	for (i = 0; i < n && i < 4 && p < (int)len; i++)
		p += snprintf(s + p, len - p, "%s{%s fd %d, offset %#llx, size %#llx}",
			      i ? ", " : "", f->fds[kinds[i]].name,
			      (int)it[i].memfd,
			      (unsigned long long)it[i].offset,
			      (unsigned long long)it[i].size);
	if (n > 4 && p < (int)len)
		snprintf(s + p, len - p, ", ... (%u items)", n);
}

/* Bad (and some valid) arguments: each gets exactly 6.12's answer. */
static void op_bad(struct fz_thread *t)
{
	const struct fuzz *f = t->f;
	struct udmabuf_create_item item;
	struct udmabuf_create_list *l;
	enum fz_fdkind kind;
	uint32_t count, n, i, flags = rand_flags(t);
	char what[400], args[300];
	bool huge = false;
	int want, fd, err;

	switch (below(t, 10)) {
	case 0 ... 4: {		/* UDMABUF_CREATE */
		struct udmabuf_create c;

		rand_item(t, &item, &kind);
		c = (struct udmabuf_create) {
			.memfd = item.memfd,
			.flags = flags,
			.offset = item.offset,
			.size = item.size,
		};
		want = fz_create_errno(f, &item, &kind, 1);
		huge = kind == FK_OWN && t->kind == UB_HUGETLB;
		describe_items(args, sizeof(args), f, &item, &kind, 1);
		snprintf(what, sizeof(what), "UDMABUF_CREATE %s flags %#x",
			 args, flags);
		fz_note(t, "%s", what);
		fd = ioctl(f->dev, UDMABUF_CREATE, &c);
		break;
	}
	case 5 ... 8: {		/* UDMABUF_CREATE_LIST */
		enum fz_fdkind lk[LIST_CAP];
		bool same = chance(t, 1, 2);

		switch (below(t, 6)) {
		case 0:
			count = 0;
			break;
		case 1:
			count = f->list_limit;
			break;
		case 2:
			count = f->list_limit + 1 + below(t, 4);
			break;
		case 3:
			count = (uint32_t)rnd(t);
			break;
		default:
			count = 1 + below(t, 8);
		}
		n = count < list_cap(f) ? count : list_cap(f);
		l = list_at(t, n);
		l->flags = flags;
		l->count = count;
		/* Copies of one item, sometimes with one other among them. */
		for (i = 0; i < n; i++) {
			if (i && same) {
				l->list[i] = l->list[0];
				lk[i] = lk[0];
			} else {
				rand_item(t, &l->list[i], &lk[i]);
			}
		}
		if (same && n > 1 && chance(t, 1, 2)) {
			i = below(t, n);
			rand_item(t, &l->list[i], &lk[i]);
		}
		if (count > f->list_limit)
			want = EINVAL;
		else if (count > n)
			want = EFAULT;	/* the items run into the guard page */
		else
			want = fz_create_errno(f, l->list, lk, n);
		for (i = 0; i < n; i++)
			huge |= lk[i] == FK_OWN && t->kind == UB_HUGETLB;
		describe_items(args, sizeof(args), f, l->list, lk, n);
		snprintf(what, sizeof(what),
			 "UDMABUF_CREATE_LIST count %u flags %#x: %s", count,
			 flags, args);
		fz_note(t, "%s", what);
		fd = ioctl(f->dev, UDMABUF_CREATE_LIST, l);
		break;
	}
	default:		/* bad pointers, unknown requests */
		switch (below(t, 3)) {
		case 0:
			snprintf(what, sizeof(what),
				 "UDMABUF_CREATE at a PROT_NONE page");
			fd = ioctl(f->dev, UDMABUF_CREATE, t->guard);
			want = EFAULT;
			break;
		case 1:
			snprintf(what, sizeof(what),
				 "UDMABUF_CREATE_LIST at a PROT_NONE page");
			fd = ioctl(f->dev, UDMABUF_CREATE_LIST, t->guard);
			want = EFAULT;
			break;
		default:
			n = _IOC(below(t, 4), 'u', 0x44 + below(t, 16),
				 below(t, 64));
			snprintf(what, sizeof(what), "ioctl %#x on /dev/udmabuf",
				 n);
			fd = ioctl(f->dev, n, t->scratch);
			want = ENOTTY;
		}
		fz_note(t, "%s", what);
	}
	err = errno;
	if (!want) {
		if (fz_expect_ok(t, fd, err, huge ? ok_nomem : NULL, what)) {
			fz_check_cloexec(t, fd, flags);
			close(fd);
		}
		return;
	}
	if (fd >= 0)
		close(fd);
	if (fd < 0 && huge && err == ENOMEM)
		return;
	fz_expect_err(t, fd, err, want, what);
}

static void op_close(struct fz_thread *t)
{
	int k = buf_pick(t, false);

	if (k < 0)
		return;
	fz_note(t, "buffer #%lu, %s", t->bufs[k].id,
		slot_of_buf(t, k) >= 0 ? "importer slots keep it" :
					 "last user");
	buf_close(t, k, chance(t, 1, 2));
}

/*
 * Create and close buffers over the memfd all threads share, punch it and
 * write tags to it with 8-byte stores: its pages are checked only for
 * words that are neither zero nor a tag of the page (race-proof).
 */
static void op_churn(struct fz_thread *t)
{
	volatile uint64_t *cm = t->f->churn_map;
	unsigned long nr = 1 + below(t, 8);
	unsigned long first = below(t, CHURN_PAGES - nr + 1);
	unsigned long i, w, m;
	uint32_t *pg, gen;
	int k, fd;

	switch (below(t, 4)) {
	case 0:
		fz_note(t, "punch churn pages [%lu, +%lu)", first, nr);
		if (ub_punch(t->f->churn, first * PS, nr * PS))
			fz_fail(t, "punch of churn pages: %s", strerror(errno));
		return;
	case 1:
		gen = 1 + below(t, GEN_MAX);
		fz_note(t, "write churn pages [%lu, +%lu)", first, nr);
		for (m = first; m < first + nr; m++)
			for (w = 0; w < W; w++)
				cm[m * W + w] = ub_tag(m, gen);
		return;
	default:
		break;
	}
	k = buf_slot(t);
	fz_note(t, "create over churn pages [%lu, +%lu)", first, nr);
	fd = ub_create(t->f->dev, t->f->churn, first * PS, nr * PS);
	if (!fz_expect_ok(t, fd, errno, NULL,
			  "UDMABUF_CREATE over the churn memfd"))
		return;
	pg = malloc(nr * sizeof(*pg));
	for (i = 0; i < nr; i++)
		pg[i] = (first + i) | CHURN_BIT;
	buf_install(t, k, fd, pg, nr, false);
	if (chance(t, 1, 2))
		buf_close(t, k, true);
}

#endif /* UDMABUF_FUZZ_CREATE_H */
