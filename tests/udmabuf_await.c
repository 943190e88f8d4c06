// SPDX-License-Identifier: GPL-2.0
/*
 * udmabuf_await: the creator's faults are reported to udmabuf only while a
 * buffer awaits the refault of a page that left the page cache.
 *
 * The mm's MMF_HAS_MMU_UPDATE bit, read through mmu_update_core (which
 * subscribes nothing here), is what its faults test: while it is clear they
 * record and deliver no update.  The driver's statistics say how many
 * buffers await a refault.
 *
 *  - Creating buffers and faulting memory, covered or not, keeps it clear.
 *  - Punching a covered page sets it; the refault is followed eagerly (the
 *    buffer's vmap shows the new page without a CPU access to the buffer),
 *    after which it is clear again.
 *  - MADV_DONTNEED of a covered page removes nothing from the page cache:
 *    it is clear again once the hint was looked at.
 *  - A punched page that is never refaulted keeps it set until the buffer
 *    is closed; a lazy access that fills the hole clears it.
 *  - Unmapping pages of the creator's mapping around the buffer's page
 *    keeps the rest of the mapping known to the driver.
 *  - A punch while an importer pins the buffer awaits nothing (the buffer
 *    is frozen); the last unpin follows what was refaulted and awaits the
 *    holes.
 *
 * Every wait is bounded (WAIT_MS).
 */
#include "udmabuf_lib.h"
#include "mmu_update_core/mmu_update_core.h"
#include "udmabuf_importer/udmabuf_importer.h"

#include <time.h>

#include "kselftest_harness.h"

#define PAGES		64
#define COVERED		10	/* the buffer's page */
#define WAIT_MS		5000
#define STATS		"/sys/kernel/debug/udmabuf/stats"

/* A field of the driver's statistics, -1 if missing. */
static long stat_of(const char *key)
{
	char name[64];
	long val, ret = -1;
	FILE *f = fopen(STATS, "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", name, &val) == 2)
		if (!strcmp(name, key))
			ret = val;
	fclose(f);
	return ret;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait until MMF_HAS_MMU_UPDATE of this mm is @want; its last value. */
static int wait_flag(int muc, int want)
{
	int v = -1, ms;

	for (ms = 0; ms < WAIT_MS; ms += 10) {
		v = ioctl(muc, MUC_IOC_HAS_UPDATE);
		if (v == want)
			break;
		sleep_ms(10);
	}
	return v;
}

FIXTURE(await) {
	int dev, muc, memfd, dbuf;
	uint64_t *mem;
};

FIXTURE_SETUP(await)
{
	self->dbuf = -1;
	self->muc = open(MUC_DEV, O_RDWR);
	ASSERT_GE(self->muc, 0) TH_LOG("open %s: %s", MUC_DEV,
				       strerror(errno));
	self->dev = open("/dev/udmabuf", O_RDWR);
	ASSERT_GE(self->dev, 0);
	self->memfd = ub_memfd(UB_SHMEM, PAGES * PS);
	ASSERT_GE(self->memfd, 0);
	self->mem = ub_map_memfd(UB_SHMEM, self->memfd, PAGES * PS);
	ASSERT_NE(NULL, self->mem);
	ub_fill(self->mem, 0, PAGES, 1);
	ASSERT_EQ(0, stat_of("awaiting"));
	self->dbuf = ub_create(self->dev, self->memfd, COVERED * PS, PS);
	ASSERT_GE(self->dbuf, 0);
}

FIXTURE_TEARDOWN(await)
{
	if (self->dbuf >= 0)
		close(self->dbuf);
	close(self->memfd);
	close(self->dev);
	close(self->muc);
}

#define VMAP_FAILED	(~0ULL)

/* The buffer's page as the kernel's vmap sees it: no CPU access path. */
static uint64_t vmap_word(int dbuf)
{
	uint64_t w = 0;

	if (ub_vmap_read(dbuf, 0, &w, sizeof(w)))
		return VMAP_FAILED;
	return w;
}

TEST_F(await, faults_skip_updates_while_nothing_awaits)
{
	long resumes = stat_of("update_resumes");
	unsigned long i;

	ASSERT_EQ(0, ioctl(self->muc, MUC_IOC_HAS_UPDATE));
	/* Zap and write-fault every page no buffer covers. */
	for (i = 0; i < PAGES; i++)
		if (i != COVERED)
			ASSERT_EQ(0, madvise((char *)self->mem + i * PS, PS,
					     MADV_DONTNEED));
	ub_fill(self->mem, 0, PAGES, 2);
	ASSERT_EQ(0, ioctl(self->muc, MUC_IOC_HAS_UPDATE));
	ASSERT_EQ(0, stat_of("awaiting"));
	ASSERT_EQ(resumes, stat_of("update_resumes"));
}

TEST_F(await, punch_and_refault_follow_eagerly_then_pause)
{
	long resumes = stat_of("update_resumes");
	long eager = stat_of("eager_pages");

	ASSERT_EQ(0, ub_punch(self->memfd, COVERED * PS, PS));
	ASSERT_EQ(1, ioctl(self->muc, MUC_IOC_HAS_UPDATE));
	ASSERT_EQ(1, stat_of("awaiting"));
	ASSERT_EQ(resumes + 1, stat_of("update_resumes"));
	/* The refault is reported and followed by the follow work. */
	ub_fill(self->mem, COVERED, 1, 3);
	ASSERT_EQ(0, wait_flag(self->muc, 0));
	ASSERT_EQ(0, stat_of("awaiting"));
	ASSERT_LT(eager, stat_of("eager_pages"));
	ASSERT_EQ(ub_tag(COVERED, 3), vmap_word(self->dbuf));
}

TEST_F(await, dontneed_of_a_covered_page_pauses_again)
{
	long resumes = stat_of("update_resumes");

	ASSERT_EQ(0, madvise((char *)self->mem + COVERED * PS, PS,
			     MADV_DONTNEED));
	/* The hint was heard, and the pages found still cached. */
	ASSERT_EQ(resumes + 1, stat_of("update_resumes"));
	ASSERT_EQ(0, wait_flag(self->muc, 0));
	ASSERT_EQ(0, stat_of("awaiting"));
	ASSERT_EQ(ub_tag(COVERED, 1), vmap_word(self->dbuf));
}

TEST_F(await, unrefaulted_hole_awaits_until_the_buffer_closes)
{
	ASSERT_EQ(0, ub_punch(self->memfd, COVERED * PS, PS));
	/* The follow work and the task work have had their chance. */
	sleep_ms(200);
	ASSERT_EQ(1, ioctl(self->muc, MUC_IOC_HAS_UPDATE));
	ASSERT_EQ(1, stat_of("awaiting"));
	close(self->dbuf);
	self->dbuf = -1;
	ASSERT_EQ(0, wait_flag(self->muc, 0));
	ASSERT_EQ(0, stat_of("awaiting"));
}

/*
 * Unmapping a page of the creator's mapping keeps the rest of it learned:
 * a punch under the buffer through it still resumes the updates (with
 * them paused, nothing would learn the mapping again).
 */
TEST_F(await, partial_munmap_keeps_the_mapping_learned)
{
	ASSERT_EQ(0, munmap((char *)self->mem + (COVERED + 2) * PS, PS));
	ASSERT_EQ(0, munmap((char *)self->mem, PS));
	ASSERT_EQ(0, ub_punch(self->memfd, COVERED * PS, PS));
	ASSERT_EQ(1, ioctl(self->muc, MUC_IOC_HAS_UPDATE));
	ASSERT_EQ(1, stat_of("awaiting"));
	ub_fill(self->mem, COVERED, 1, 3);
	ASSERT_EQ(0, wait_flag(self->muc, 0));
	ASSERT_EQ(ub_tag(COVERED, 3), vmap_word(self->dbuf));
}

/* A lazy access that fills the hole ends the wait as well. */
TEST_F(await, lazy_fill_of_the_hole_pauses_again)
{
	ASSERT_EQ(0, ub_punch(self->memfd, COVERED * PS, PS));
	ASSERT_EQ(1, ioctl(self->muc, MUC_IOC_HAS_UPDATE));
	ASSERT_EQ(0, vmap_word(self->dbuf));
	ASSERT_EQ(0, wait_flag(self->muc, 0));
	ASSERT_EQ(0, stat_of("awaiting"));
}

/* Attach @dbuf to the test importer as a dynamic importer and pin it. */
static int pin_by_importer(int dbuf, int *slot)
{
	struct udmabuf_importer_attach a = {
		.fd = dbuf, .flags = UDMABUF_IMPORTER_ATTACH_DYNAMIC,
	};
	int imp = open("/dev/udmabuf_importer", O_RDWR);

	if (imp < 0)
		return -1;
	*slot = ioctl(imp, UDMABUF_IMPORTER_ATTACH, &a);
	if (*slot < 0 || ioctl(imp, UDMABUF_IMPORTER_PIN, *slot)) {
		close(imp);
		return -1;
	}
	return imp;
}

/*
 * A pinned buffer cannot follow, so a punch under it awaits nothing: a
 * long pin (a static importer) must not keep every mm's updates on.  The
 * last unpin catches up with what was refaulted meanwhile.
 */
TEST_F(await, punch_under_a_pin_awaits_nothing_until_the_unpin)
{
	int imp, slot;

	imp = pin_by_importer(self->dbuf, &slot);
	ASSERT_GE(imp, 0) TH_LOG("pin through /dev/udmabuf_importer: %s",
				 strerror(errno));
	ASSERT_EQ(0, ub_punch(self->memfd, COVERED * PS, PS));
	ub_fill(self->mem, COVERED, 1, 3);
	/* The task work and the follow work have had their chance. */
	sleep_ms(200);
	ASSERT_EQ(0, ioctl(self->muc, MUC_IOC_HAS_UPDATE));
	ASSERT_EQ(0, stat_of("awaiting"));
	ASSERT_EQ(ub_tag(COVERED, 1), vmap_word(self->dbuf));

	ASSERT_EQ(0, ioctl(imp, UDMABUF_IMPORTER_UNPIN, slot));
	ASSERT_EQ(0, wait_flag(self->muc, 0));
	ASSERT_EQ(ub_tag(COVERED, 3), vmap_word(self->dbuf));
	ASSERT_EQ(0, stat_of("awaiting"));
	close(imp);
}

/* A hole punched under a pin is awaited from the last unpin on. */
TEST_F(await, hole_punched_under_a_pin_is_awaited_after_the_unpin)
{
	int imp, slot;

	imp = pin_by_importer(self->dbuf, &slot);
	ASSERT_GE(imp, 0) TH_LOG("pin through /dev/udmabuf_importer: %s",
				 strerror(errno));
	ASSERT_EQ(0, ub_punch(self->memfd, COVERED * PS, PS));
	sleep_ms(200);
	ASSERT_EQ(0, ioctl(self->muc, MUC_IOC_HAS_UPDATE));

	ASSERT_EQ(0, ioctl(imp, UDMABUF_IMPORTER_UNPIN, slot));
	close(imp);
	ASSERT_EQ(1, wait_flag(self->muc, 1));
	ASSERT_EQ(1, stat_of("awaiting"));
	/* The refault is heard and followed eagerly. */
	ub_fill(self->mem, COVERED, 1, 4);
	ASSERT_EQ(0, wait_flag(self->muc, 0));
	ASSERT_EQ(ub_tag(COVERED, 4), vmap_word(self->dbuf));
}

TEST_HARNESS_MAIN
