/* SPDX-License-Identifier: MIT */
/* tests/test_guest_access.c - the guest memory accessor and dirty logging over
 * every stage-2 format: reads/writes across page and area boundaries against a
 * shadow copy, permission refusals, lazy population, volatile accesses, the
 * dirty bitmap against a model, and harvesting of hardware dirty bits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/per-format.h"
#include "common/rng.h"

#include <physim/aspace.h>
#include <physim/ram.h>
#include <physim/walk.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG	  UINT64_C(4096)
#define RAM_BASE  UINT64_C(0x80000000)
#define RAM_SIZE  (UINT64_C(16) << 20)
#define MMIO_BASE UINT64_C(0x100000000) /* outside RAM, below 2^34 */
#define GBASE	  UINT64_C(0x40000000)
#define GPAGES	  2048u /* 8 MiB of guest-physical space */
#define RW	  (PHYSIM_R | PHYSIM_W)

struct fx {
	const struct physim_pt_format *fmt;
	struct physim_pt_format_info info;
	struct physim_ram *ram;
	struct physim_counting_hal *ch;
	struct physim_aspace *as;
	physim_hpa_t lin; /* 4 RAM frames behind the linear area */
	uint64_t flushed_lo, flushed_hi, flush_calls;
};

static void on_flush(void *ctx, const uint64_t *vas, size_t n, bool all)
{
	struct fx *f = ctx;
	f->flush_calls++;
	if (all) {
		f->flushed_lo = 0;
		f->flushed_hi = UINT64_MAX;
	}
	for (size_t i = 0; i < n; i++) {
		if (vas[i] < f->flushed_lo)
			f->flushed_lo = vas[i];
		if (vas[i] > f->flushed_hi)
			f->flushed_hi = vas[i];
	}
}

static void flush_reset(struct fx *f)
{
	f->flush_calls = 0;
	f->flushed_lo = UINT64_MAX;
	f->flushed_hi = 0;
}

static uint64_t G(unsigned page)
{
	return GBASE + page * PG;
}

/*
 * The standard layout (pages of the space):
 *   0-3   ALLOC populated RW      4-7   ALLOC lazy RW
 *   8-11  LINEAR RW over 4 RAM frames (f->lin)
 *   12-13 ALLOC populated R       14-15 hole
 *   16-19 LINEAR RW over MMIO (no host memory)
 *   20-23 ALLOC lazy R
 */
static void fx_open(struct fx *f, const struct physim_pt_format *fmt)
{
	memset(f, 0, sizeof(*f));
	f->fmt = fmt;
	physim_format_get_info(fmt, &f->info);
	struct physim_ram_config rc = {
	    .base = RAM_BASE, .size = RAM_SIZE, .debug = PHYSIM_RAM_DEBUG_POISON};
	assert_int_equal(physim_ram_create(&rc, &f->ram), 0);
	struct physim_counting_hal_config cc = {
	    .mm = physim_ram_mm_hal(f->ram),
	    .paging = physim_ram_paging_handler(f->ram),
	};
	assert_int_equal(physim_counting_hal_create(&cc, &f->ch), 0);
	struct physim_aspace_config c = {
	    .format = fmt,
	    .paging = physim_counting_hal_paging(f->ch),
	    .mm = physim_counting_hal_mm(f->ch),
	    .base = GBASE,
	    .size = GPAGES * PG,
	    .flush = on_flush,
	    .flush_ctx = f,
	};
	assert_int_equal(physim_aspace_create(&c, &f->as), 0);
	flush_reset(f);
	assert_int_equal(physim_ram_alloc_frames(f->ram, 4, PG, &f->lin), 0);
	/* Known contents for the linear frames. */
	void *h;
	assert_int_equal(physim_ram_phys_to_virt(f->ram, f->lin, &h), 0);
	for (uint64_t i = 0; i < 4 * PG; i++)
		((uint8_t *)h)[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(physim_aspace_map_alloc(f->as, G(0), 4 * PG, RW, true), 0);
	assert_int_equal(physim_aspace_map_alloc(f->as, G(4), 4 * PG, RW, false), 0);
	assert_int_equal(physim_aspace_map_linear(f->as, G(8), f->lin, 4 * PG, RW), 0);
	assert_int_equal(physim_aspace_map_alloc(f->as, G(12), 2 * PG, PHYSIM_R, true), 0);
	assert_int_equal(physim_aspace_map_linear(f->as, G(16), MMIO_BASE, 4 * PG, RW), 0);
	assert_int_equal(physim_aspace_map_alloc(f->as, G(20), 4 * PG, PHYSIM_R, false), 0);
}

static void fx_close(struct fx *f)
{
	physim_aspace_destroy(f->as);
	assert_int_equal(physim_counting_hal_counts(f->ch).frames_live, 0);
	assert_int_equal(physim_ram_free_frames(f->ram, f->lin, 4), 0);
	assert_int_equal(physim_ram_stats(f->ram).used_frames, 0);
	physim_counting_hal_destroy(f->ch);
	physim_ram_destroy(f->ram);
}

static const struct physim_pt_format *state_format(void **state)
{
	return *(const struct physim_pt_format **)*state;
}

static bool backed(const struct fx *f, uint64_t gpa)
{
	physim_hpa_t h;
	return physim_aspace_translate(f->as, gpa, &h) == 0;
}

/* Host pointer to a guest byte, found independently of the accessor. */
static uint8_t *host_byte(const struct fx *f, uint64_t gpa)
{
	physim_hpa_t hpa;
	void *h;
	assert_int_equal(physim_aspace_translate(f->as, gpa, &hpa), 0);
	assert_int_equal(physim_ram_phys_to_virt(f->ram, hpa, &h), 0);
	return h;
}

/* ---- reads and writes against a shadow ---- */

#define SPAN_PAGES 12u /* pages 0-11: populated, lazy, linear */

static void t_shadow(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state));
	static uint8_t shadow[SPAN_PAGES * 4096], buf[SPAN_PAGES * 4096];
	/* Populated and lazy pages read as zero, the linear ones as set up. */
	memset(shadow, 0, sizeof(shadow));
	for (uint64_t i = 0; i < 4 * PG; i++)
		shadow[8 * PG + i] = (uint8_t)(i * 7 + 3);
	uint64_t seed = 0x243f6a8885a308d3ull ^ f.info.va_bits;
	for (int step = 0; step < 300; step++) {
		uint64_t off = tc_rand(&seed) % sizeof(shadow);
		uint64_t len = 1 + tc_rand(&seed) % (step % 4 == 0 ? 3 * PG : 300);
		if (off + len > sizeof(shadow))
			len = sizeof(shadow) - off;
		if (tc_rand(&seed) & 1) {
			for (uint64_t i = 0; i < len; i++)
				buf[i] = (uint8_t)tc_rand(&seed);
			assert_int_equal(physim_guest_write(f.as, GBASE + off, buf, len), 0);
			memcpy(shadow + off, buf, len);
		} else {
			memset(buf, 0xee, len);
			assert_int_equal(physim_guest_read(f.as, GBASE + off, buf, len), 0);
			assert_memory_equal(buf, shadow + off, len);
		}
	}
	/* Everything at once, then byte by byte through the host pointers. */
	assert_int_equal(physim_guest_read(f.as, GBASE, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, shadow, sizeof(buf));
	for (uint64_t i = 0; i < sizeof(shadow); i += 97)
		assert_int_equal(*host_byte(&f, GBASE + i), shadow[i]);
	/* The linear frames hold what was written at their guest addresses. */
	void *h;
	assert_int_equal(physim_ram_phys_to_virt(f.ram, f.lin, &h), 0);
	assert_memory_equal(h, shadow + 8 * PG, 4 * PG);
	fx_close(&f);
}

/* ---- refusals: nothing copied, nothing populated ---- */

struct state_snap {
	struct physim_aspace_stats st;
	int64_t live;
	uint8_t bytes[24 * 4096];
	bool backed[24];
};

static void snap(struct fx *f, struct state_snap *s)
{
	s->st = physim_aspace_stats(f->as);
	s->live = physim_counting_hal_counts(f->ch).frames_live;
	memset(s->bytes, 0, sizeof(s->bytes));
	for (unsigned p = 0; p < 24; p++) {
		s->backed[p] = backed(f, G(p));
		if (s->backed[p] && !(p >= 16 && p < 20))
			memcpy(s->bytes + p * PG, host_byte(f, G(p)), PG);
	}
}

static void assert_same(struct fx *f, const struct state_snap *before)
{
	static struct state_snap now;
	snap(f, &now);
	assert_int_equal(now.st.alloc_frames, before->st.alloc_frames);
	assert_int_equal(now.st.table_frames, before->st.table_frames);
	assert_int_equal(now.st.faults_handled, before->st.faults_handled);
	assert_int_equal(now.live, before->live);
	assert_memory_equal(now.backed, before->backed, sizeof(now.backed));
	assert_memory_equal(now.bytes, before->bytes, sizeof(now.bytes));
}

static void t_refusals(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state));
	static struct state_snap s;
	static uint8_t buf[8 * 4096], keep[8 * 4096];
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(physim_guest_write(f.as, G(0), buf, 4 * PG), 0);
	snap(&f, &s);
	memset(buf, 0xa5, sizeof(buf));
	memcpy(keep, buf, sizeof(buf));
	struct {
		uint64_t gpa, len;
		bool write;
	} cases[] = {
	    {G(11), 2 * PG, true},	  /* linear RW into populated R-only */
	    {G(12), 16, true},		  /* R-only */
	    {G(5), 9 * PG + 1, true},	  /* lazy pages, then R-only: none populated */
	    {G(13) + 100, 2 * PG, false}, /* into the hole */
	    {G(6), 8 * PG + 5, false},	  /* lazy, linear, R, then the hole */
	    {G(15), 10, false},		  /* hole */
	    {G(16), 8, false},		  /* MMIO: no host memory */
	    {G(16), 8, true},		  /* MMIO */
	    {G(15) + PG - 4, 8, false},	  /* hole into MMIO */
	    {G(20), 4, true},		  /* lazy R-only: a write is refused */
	    {G(23), PG + 1, false},	  /* lazy R, then no area */
	    {GBASE - 16, 32, false},	  /* below the space */
	    {G(GPAGES) - 8, 16, false},	  /* past its end */
	    {UINT64_MAX - 7, 16, false},  /* wraps */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = cases[i].write ? physim_guest_write(f.as, cases[i].gpa, buf, cases[i].len)
					: physim_guest_read(f.as, cases[i].gpa, buf, cases[i].len);
		assert_int_equal(rc, -EFAULT);
		assert_memory_equal(buf, keep, sizeof(buf));
		assert_same(&f, &s);
	}
	/* Reads are allowed where writes are not. */
	assert_int_equal(physim_guest_read(f.as, G(12), buf, 2 * PG), 0);
	/* Arguments */
	assert_int_equal(physim_guest_read(NULL, G(0), buf, 1), -EINVAL);
	assert_int_equal(physim_guest_write(NULL, G(0), buf, 1), -EINVAL);
	assert_int_equal(physim_guest_read(f.as, G(0), NULL, 1), -EINVAL);
	assert_int_equal(physim_guest_write(f.as, G(0), NULL, 1), -EINVAL);
	/* Zero length: nothing to check, nothing to do. */
	assert_int_equal(physim_guest_read(f.as, G(15), buf, 0), 0);
	assert_int_equal(physim_guest_write(f.as, G(15), NULL, 0), 0);
	fx_close(&f);
}

/* ---- lazy pages fault in on access ---- */

static void t_lazy(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state));
	uint8_t buf[64];
	struct physim_aspace_stats st0 = physim_aspace_stats(f.as);
	assert_false(backed(&f, G(4)));
	/* A read faults a zeroed page in. */
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(physim_guest_read(f.as, G(4) + 10, buf, sizeof(buf)), 0);
	static const uint8_t zero[64];
	assert_memory_equal(buf, zero, sizeof(buf));
	assert_true(backed(&f, G(4)));
	assert_false(backed(&f, G(5)));
	struct physim_aspace_stats st = physim_aspace_stats(f.as);
	assert_int_equal(st.faults_handled, st0.faults_handled + 1);
	assert_int_equal(st.alloc_frames, st0.alloc_frames + 1);
	/* A write across three pages: the two still lazy ones fault in. */
	memset(buf, 0x11, sizeof(buf));
	static uint8_t big[2 * 4096 + 64];
	memset(big, 0x22, sizeof(big));
	assert_int_equal(physim_guest_write(f.as, G(5) - 32, big, sizeof(big)), 0);
	assert_true(backed(&f, G(5)) && backed(&f, G(6)) && backed(&f, G(7)));
	st = physim_aspace_stats(f.as);
	assert_int_equal(st.faults_handled, st0.faults_handled + 4);
	assert_int_equal(*host_byte(&f, G(7) + 31), 0x22);
	assert_int_equal(*host_byte(&f, G(7) + 32), 0);
	/* A read-only lazy area faults in on reads. */
	assert_int_equal(physim_guest_read(f.as, G(21), buf, 1), 0);
	assert_true(backed(&f, G(21)));
	/* The area reports its frames. */
	physim_hpa_t h;
	assert_int_equal(physim_aspace_translate(f.as, G(21), &h), 0);
	assert_int_equal(physim_ram_frame_in_use(f.ram, h), 1);
	fx_close(&f);
}

/* A write that must fault in pages, with allocation n failing for every n:
 * -ENOMEM, no page populated, no byte written (not even in backed pages). */
static void t_lazy_fail_injection(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state));
	/* A lazy area far from the others: it needs its own tables. */
	const uint64_t far = GBASE + (GPAGES - 8) * PG;
	assert_int_equal(physim_aspace_map_alloc(f.as, far, 8 * PG, RW, false), 0);
	assert_int_equal(physim_aspace_map_alloc(f.as, far - 4 * PG, 4 * PG, RW, true), 0);
	static uint8_t buf[3 * 4096 + 200];
	memset(buf, 0x77, sizeof(buf));
	static struct state_snap s;
	snap(&f, &s);
	bool far_backed[8];
	for (unsigned p = 0; p < 8; p++)
		far_backed[p] = backed(&f, far + p * PG);
	uint8_t before = *host_byte(&f, far - 100);
	uint64_t n = 1;
	for (;; n++) {
		struct physim_counting_hal_config plan = {.fail_nth = n};
		physim_counting_hal_set_plan(f.ch, &plan);
		int rc = physim_guest_write(f.as, far - 100, buf, sizeof(buf));
		struct physim_counting_hal_config none = {0};
		physim_counting_hal_set_plan(f.ch, &none);
		if (rc == 0)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_same(&f, &s);
		for (unsigned p = 0; p < 8; p++)
			assert_int_equal(backed(&f, far + p * PG), far_backed[p]);
		assert_int_equal(*host_byte(&f, far - 100), before);
		assert_true(n < 100);
	}
	/* 4 pages faulted in (far .. far + 3 pages + 99): 4 frames, no table
	 * (the populated area just below made them). */
	assert_int_equal(n - 1, 4);
	assert_int_equal(*host_byte(&f, far - 100), 0x77);
	assert_int_equal(*host_byte(&f, far + 3 * PG + 99), 0x77);
	assert_int_equal(physim_aspace_stats(f.as).faults_handled, 4);
	fx_close(&f);
}

/* The same across a last-level table boundary: the first pages are mapped
 * when the table for the next one cannot be had, and must be taken back. */
static void t_lazy_fail_midway(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state));
	/* Pages per last-level table; the layout occupies the first table. */
	unsigned bp = (unsigned)((UINT64_C(1) << f.info.level[1].shift) / PG);
	assert_true(bp >= 512 && bp + 2 <= GPAGES);
	assert_int_equal(physim_aspace_map_alloc(f.as, G(bp - 2), 4 * PG, RW, false), 0);
	static uint8_t buf[4 * 4096];
	memset(buf, 0x3c, sizeof(buf));
	static struct state_snap s;
	snap(&f, &s);
	uint64_t n = 1;
	for (;; n++) {
		struct physim_counting_hal_config plan = {.fail_nth = n};
		physim_counting_hal_set_plan(f.ch, &plan);
		int rc = physim_guest_write(f.as, G(bp - 2), buf, sizeof(buf));
		struct physim_counting_hal_config none = {0};
		physim_counting_hal_set_plan(f.ch, &none);
		if (rc == 0)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_same(&f, &s);
		for (unsigned p = bp - 2; p < bp + 2; p++)
			assert_false(backed(&f, G(p)));
		assert_true(n < 100);
	}
	/* 4 frames, then one last-level table for the pages past bp. */
	assert_int_equal(n - 1, 5);
	assert_int_equal(*host_byte(&f, G(bp + 1) + PG - 1), 0x3c);
	fx_close(&f);
}

/* ---- volatile accesses ---- */

static void t_volatile(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state));
	static const unsigned widths[] = {1, 2, 4, 8};
	const uint64_t v = 0x0123456789abcdefull;
	for (size_t w = 0; w < 4; w++) {
		unsigned width = widths[w];
		uint64_t mask = width == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * width)) - 1;
		for (uint64_t gpa = G(1) - 16; gpa < G(1) + 16; gpa += width) {
			uint8_t before[32], after[32], expect[32];
			assert_int_equal(physim_guest_read(f.as, G(1) - 16, before, 32), 0);
			assert_int_equal(physim_guest_write_volatile(f.as, gpa, width, v ^ gpa), 0);
			assert_int_equal(physim_guest_read(f.as, G(1) - 16, after, 32), 0);
			/* Exactly `width` bytes changed, in host byte order. */
			memcpy(expect, before, 32);
			uint64_t val = (v ^ gpa) & mask;
			uint8_t bytes[8];
			memcpy(bytes, &val, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
			memcpy(expect + (gpa - (G(1) - 16)), bytes + 8 - width, width);
#else
			memcpy(expect + (gpa - (G(1) - 16)), bytes, width);
#endif
			assert_memory_equal(after, expect, 32);
			uint64_t got = ~0ull;
			assert_int_equal(physim_guest_read_volatile(f.as, gpa, width, &got), 0);
			assert_int_equal(got, val);
		}
		/* Misaligned (for width > 1). */
		if (width > 1) {
			uint64_t got = 5;
			assert_int_equal(physim_guest_read_volatile(f.as, G(0) + 1, width, &got),
					 -EINVAL);
			assert_int_equal(got, 5);
			assert_int_equal(
			    physim_guest_write_volatile(f.as, G(0) + width / 2, width, 1), -EINVAL);
		}
		/* Permissions, holes, MMIO, the linear area. */
		uint64_t got = 9;
		assert_int_equal(physim_guest_write_volatile(f.as, G(12), width, 1), -EFAULT);
		assert_int_equal(physim_guest_read_volatile(f.as, G(12), width, &got), 0);
		assert_int_equal(got, 0);
		assert_int_equal(physim_guest_read_volatile(f.as, G(14), width, &got), -EFAULT);
		assert_int_equal(physim_guest_read_volatile(f.as, G(16), width, &got), -EFAULT);
		assert_int_equal(physim_guest_write_volatile(f.as, G(9) + 8, width, v), 0);
		void *h;
		assert_int_equal(physim_ram_phys_to_virt(f.ram, f.lin + PG + 8, &h), 0);
		uint64_t raw = 0;
		memcpy(&raw, h, width);
		assert_int_equal(raw, v & mask);
	}
	/* Bad widths and arguments. */
	uint64_t got;
	static const unsigned bad[] = {0, 3, 5, 6, 7, 16};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(physim_guest_read_volatile(f.as, G(0), bad[i], &got), -EINVAL);
		assert_int_equal(physim_guest_write_volatile(f.as, G(0), bad[i], 0), -EINVAL);
	}
	assert_int_equal(physim_guest_read_volatile(f.as, G(0), 4, NULL), -EINVAL);
	assert_int_equal(physim_guest_read_volatile(NULL, G(0), 4, &got), -EINVAL);
	assert_int_equal(physim_guest_write_volatile(NULL, G(0), 4, 0), -EINVAL);
	/* A volatile read faults a lazy page in; a write to a lazy R page
	 * is refused without populating it. */
	assert_false(backed(&f, G(6)));
	assert_int_equal(physim_guest_read_volatile(f.as, G(6) + 8, 8, &got), 0);
	assert_int_equal(got, 0);
	assert_true(backed(&f, G(6)));
	assert_int_equal(physim_guest_write_volatile(f.as, G(22), 4, 1), -EFAULT);
	assert_false(backed(&f, G(22)));
	fx_close(&f);
}

/* ---- dirty log ---- */

static int64_t fetch(struct fx *f, unsigned first, unsigned n, uint64_t *bm)
{
	return physim_aspace_dirty_log_fetch_clear(f->as, G(first), n, bm);
}

/* The pages set in bm (n pages from `first`), as a count; checks each
 * against want(page). */
static void assert_bits(const uint64_t *bm, unsigned n, const bool *want)
{
	for (unsigned i = 0; i < n; i++)
		assert_int_equal((bm[i / 64] >> (i % 64)) & 1, want[i]);
}

static void t_dirty_basic(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state));
	static uint64_t bm[GPAGES / 64];
	static bool want[GPAGES];
	uint8_t buf[6000];
	memset(buf, 1, sizeof(buf));
	/* Off: fetch refused, marks and writes not recorded. */
	assert_int_equal(fetch(&f, 0, GPAGES, bm), -EINVAL);
	physim_aspace_mark_dirty(f.as, G(3));
	assert_int_equal(physim_guest_write(f.as, G(0), buf, 10), 0);
	assert_int_equal(physim_aspace_dirty_log_enable(f.as), 0);
	assert_int_equal(physim_aspace_dirty_log_enable(f.as), 0);
	assert_int_equal(fetch(&f, 0, GPAGES, bm), 0);
	memset(want, 0, sizeof(want));
	assert_bits(bm, GPAGES, want);
	/* Accessor writes mark every page they touch; reads do not. */
	assert_int_equal(physim_guest_write(f.as, G(1) + 100, buf, 5000), 0);
	assert_int_equal(physim_guest_read(f.as, G(0), buf, sizeof(buf)), 0);
	assert_int_equal(physim_guest_write_volatile(f.as, G(9) + 4, 4, 7), 0);
	assert_int_equal(physim_guest_write(f.as, G(5) + PG - 1, buf, 1), 0); /* lazy */
	assert_int_equal(physim_guest_read_volatile(f.as, G(10), 8, &(uint64_t){0}), 0);
	physim_aspace_mark_dirty(f.as, G(700) + 123); /* no area needed */
	physim_aspace_mark_dirty(f.as, GBASE - 1);    /* outside: ignored */
	physim_aspace_mark_dirty(f.as, G(GPAGES));    /* outside: ignored */
	physim_aspace_mark_dirty(NULL, G(0));
	/* Refused writes mark nothing. */
	assert_int_equal(physim_guest_write(f.as, G(12), buf, 10), -EFAULT);
	assert_int_equal(physim_guest_write(f.as, G(11), buf, PG + 10), -EFAULT);
	want[1] = want[2] = want[9] = want[5] = want[700] = true;
	assert_int_equal(fetch(&f, 0, GPAGES, bm), 5);
	assert_bits(bm, GPAGES, want);
	/* fetch cleared them */
	assert_int_equal(fetch(&f, 0, GPAGES, bm), 0);
	/* Bad ranges */
	assert_int_equal(physim_aspace_dirty_log_fetch_clear(f.as, G(0) + 8, 1, bm), -EINVAL);
	assert_int_equal(fetch(&f, 0, 0, bm), -EINVAL);
	assert_int_equal(fetch(&f, 1, GPAGES, bm), -EINVAL);
	assert_int_equal(physim_aspace_dirty_log_fetch_clear(f.as, GBASE - PG, 2, bm), -EINVAL);
	assert_int_equal(fetch(&f, 0, 1, NULL), -EINVAL);
	assert_int_equal(physim_aspace_dirty_log_fetch_clear(NULL, G(0), 1, bm), -EINVAL);
	assert_int_equal(physim_aspace_dirty_log_fetch_clear(f.as, G(0), UINT64_MAX / 2, bm),
			 -EINVAL);
	/* Disable drops the log; enable starts clean. */
	physim_aspace_mark_dirty(f.as, G(4));
	physim_aspace_dirty_log_disable(f.as);
	physim_aspace_dirty_log_disable(f.as);
	physim_aspace_dirty_log_disable(NULL);
	assert_int_equal(fetch(&f, 0, GPAGES, bm), -EINVAL);
	assert_int_equal(physim_aspace_dirty_log_enable(f.as), 0);
	assert_int_equal(fetch(&f, 0, GPAGES, bm), 0);
	assert_int_equal(physim_aspace_dirty_log_enable(NULL), -EINVAL);
	fx_close(&f);
}

/* Random marks, fetched in random sub-ranges (any bit offset, any length),
 * against a model bitmap. */
static void t_dirty_model(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state));
	static bool model[GPAGES];
	static uint64_t bm[GPAGES / 64 + 1];
	memset(model, 0, sizeof(model));
	assert_int_equal(physim_aspace_dirty_log_enable(f.as), 0);
	uint64_t seed = 0x13198a2e03707344ull;
	for (int round = 0; round < 200; round++) {
		unsigned marks = (unsigned)(tc_rand(&seed) % 40);
		for (unsigned i = 0; i < marks; i++) {
			unsigned p = (unsigned)(tc_rand(&seed) % GPAGES);
			physim_aspace_mark_dirty(f.as, G(p) + tc_rand(&seed) % PG);
			model[p] = true;
		}
		unsigned first = (unsigned)(tc_rand(&seed) % GPAGES);
		unsigned n = 1 + (unsigned)(tc_rand(&seed) % (GPAGES - first));
		memset(bm, 0xcc, sizeof(bm));
		int64_t got = fetch(&f, first, n, bm);
		int64_t expect = 0;
		for (unsigned i = 0; i < n; i++) {
			expect += model[first + i];
			assert_int_equal((bm[i / 64] >> (i % 64)) & 1, model[first + i]);
			model[first + i] = false;
		}
		assert_int_equal(got, expect);
		/* Only (n + 63) / 64 words are written. */
		assert_int_equal(bm[(n + 63) / 64], 0xccccccccccccccccull);
		/* Bits past n in the last word are zero. */
		if (n % 64)
			assert_int_equal(bm[n / 64] >> (n % 64), 0);
	}
	int64_t left = 0;
	for (unsigned i = 0; i < GPAGES; i++)
		left += model[i];
	assert_int_equal(fetch(&f, 0, GPAGES, bm), left);
	assert_bits(bm, GPAGES, model);
	fx_close(&f);
}

/* ---- hardware dirty bits in the stage-2 leaves ---- */

struct pte_find {
	uint64_t gpa;
	unsigned level;
	physim_hpa_t table;
	uint64_t table_va;
};

static int find_table(void *ctx, uint64_t va, uint64_t span, unsigned level, physim_hpa_t pa)
{
	struct pte_find *p = ctx;
	if (level == p->level && p->gpa >= va && p->gpa - va < span) {
		p->table = pa;
		p->table_va = va;
	}
	return 0;
}

/* The descriptor of the leaf mapping gpa at `level` (found by walking the
 * table: the engine tells where tables are, the manual where the bits are). */
static uint64_t *leaf_pte(struct fx *f, uint64_t gpa, unsigned level)
{
	struct pte_find p = {.gpa = gpa, .level = level};
	struct physim_pt_walk_ops ops = {.table = find_table};
	assert_int_equal(physim_pt_walk(physim_aspace_pt(f->as), gpa, PG, &ops, &p), 0);
	assert_int_not_equal(p.table, 0);
	unsigned shift = f->info.level[level].shift;
	uint64_t idx = (gpa >> shift) & ((UINT64_C(1) << f->info.level[level].index_bits) - 1);
	void *h;
	assert_int_equal(physim_ram_phys_to_virt(f->ram, p.table + idx * 8, &h), 0);
	return h;
}

static physim_hpa_t tx_hpa(const struct fx *f, uint64_t gpa)
{
	physim_hpa_t h = 0;
	assert_int_equal(physim_aspace_translate(f->as, gpa, &h), 0);
	return h;
}

static bool is_ept(const struct fx *f)
{
	return strncmp(f->info.name, "ept", 3) == 0;
}

/* Intel SDM Vol. 3C 29.3.5 (accessed and dirty flags for EPT): bit 8 of
 * an EPT entry that maps a page is its accessed flag, bit 9 its dirty flag. */
#define EPT_ACCESSED (UINT64_C(1) << 8)
#define EPT_DIRTY    (UINT64_C(1) << 9)

static bool leaf_dirty(const struct fx *f, uint64_t gpa)
{
	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(physim_aspace_pt(f->as), gpa, &m), 0);
	return m.dirty;
}

static void t_dirty_hardware(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state));
	static uint64_t bm[GPAGES / 64];
	static bool want[GPAGES];
	memset(want, 0, sizeof(want));
	/* A 2 MiB-aligned linear area big enough for one huge leaf. */
	uint64_t h = 0;
	for (unsigned b = 13; b < 64 && !h; b++)
		if (f.info.page_sizes >> b & 1)
			h = UINT64_C(1) << b;
	unsigned hp = (unsigned)(h / PG); /* pages per huge leaf */
	if (hp * 2 <= GPAGES)
		assert_int_equal(
		    physim_aspace_map_linear(f.as, G(GPAGES - hp), MMIO_BASE + h, h, RW), 0);
	if (!is_ept(&f)) {
		/* No usable hardware dirty bit: AArch64 stage 2 (no DBM) never
		 * reports one, RISC-V G-stage pre-sets D on every writable leaf.
		 * Either way nothing is harvested. */
		bool preset = leaf_dirty(&f, G(0));
		assert_int_equal(preset, f.info.arch == PHYSIM_ARCH_RISCV64);
		assert_int_equal(f.info.presets_dirty, preset);
		assert_int_equal(physim_aspace_dirty_log_enable(f.as), 0);
		assert_int_equal(fetch(&f, 0, GPAGES, bm), 0);
		assert_int_equal(leaf_dirty(&f, G(0)), preset);
		assert_int_equal(physim_aspace_unmap(f.as, G(0), PG), 0);
		assert_int_equal(fetch(&f, 0, GPAGES, bm), 0);
		fx_close(&f);
		return;
	}
	/* EPT: D set by "hardware" (here, by hand) before logging starts is
	 * cleared by enable and not reported. */
	assert_false(leaf_dirty(&f, G(0)));
	*leaf_pte(&f, G(0), 0) |= EPT_DIRTY;
	assert_true(leaf_dirty(&f, G(0)));
	assert_int_equal(physim_aspace_dirty_log_enable(f.as), 0);
	assert_false(leaf_dirty(&f, G(0)));
	assert_int_equal(fetch(&f, 0, GPAGES, bm), 0);
	/* While logging: harvested into the bitmap, cleared in the leaf, and
	 * the change reported to the flush callback. */
	physim_hpa_t hpa_before;
	assert_int_equal(physim_aspace_translate(f.as, G(2), &hpa_before), 0);
	*leaf_pte(&f, G(2), 0) |= EPT_DIRTY;
	*leaf_pte(&f, G(9), 0) |= EPT_DIRTY;
	flush_reset(&f);
	want[2] = want[9] = true;
	assert_int_equal(fetch(&f, 0, GPAGES, bm), 2);
	assert_bits(bm, GPAGES, want);
	assert_false(leaf_dirty(&f, G(2)));
	assert_false(leaf_dirty(&f, G(9)));
	assert_true(f.flush_calls >= 2);
	assert_int_equal(f.flushed_lo, G(2));
	assert_int_equal(f.flushed_hi, G(9));
	/* The mapping itself is unchanged. */
	physim_hpa_t hpa_after;
	assert_int_equal(physim_aspace_translate(f.as, G(2), &hpa_after), 0);
	assert_int_equal(hpa_after, hpa_before);
	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(physim_aspace_pt(f.as), G(2), &m), 0);
	assert_int_equal(m.flags, RW);
	assert_int_equal(fetch(&f, 0, GPAGES, bm), 0);
	/* The walker, as the CPU with EPT A/D on (EPTP bit 6): a guest write
	 * sets D, a read does not; the next fetch reports exactly the write. */
	struct physim_mmu_config mc = {
	    .format = f.fmt,
	    .mem = physim_ram_paging_handler(f.ram),
	    .root = physim_aspace_root(f.as),
	    .ctl = {.ept_ad = true},
	};
	struct physim_mmu *mmu;
	assert_int_equal(physim_mmu_create(&mc, &mmu), 0);
	struct physim_xlate x;
	assert_int_equal(physim_mmu_translate(mmu, &(struct physim_access){.va = G(11) + 8}, &x),
			 0);
	assert_int_equal(
	    physim_mmu_translate(mmu, &(struct physim_access){.va = G(1) + 16, .write = true}, &x),
	    0);
	assert_int_equal(x.pa, tx_hpa(&f, G(1)) + 16);
	assert_true(leaf_dirty(&f, G(1)));
	assert_false(leaf_dirty(&f, G(11)));
	/* Both accesses set A (29.3.5), the write also D. */
	assert_int_equal(*leaf_pte(&f, G(1), 0) & (EPT_ACCESSED | EPT_DIRTY),
			 EPT_ACCESSED | EPT_DIRTY);
	assert_int_equal(*leaf_pte(&f, G(11), 0) & (EPT_ACCESSED | EPT_DIRTY), EPT_ACCESSED);
	uint64_t pte1 = *leaf_pte(&f, G(1), 0), pte11 = *leaf_pte(&f, G(11), 0);
	memset(want, 0, sizeof(want));
	want[1] = true;
	assert_int_equal(fetch(&f, 0, GPAGES, bm), 1);
	assert_bits(bm, GPAGES, want);
	assert_false(leaf_dirty(&f, G(1)));
	/* The fetch cleared D and nothing else: A survives (accessed-bit aging
	 * is the hypervisor's separate business), the read page is untouched. */
	assert_int_equal(*leaf_pte(&f, G(1), 0), pte1 & ~EPT_DIRTY);
	assert_int_equal(*leaf_pte(&f, G(11), 0), pte11);
	assert_int_equal(physim_pt_query(physim_aspace_pt(f.as), G(1), &m), 0);
	assert_true(m.accessed);
	physim_mmu_destroy(mmu);
	memset(want, 0, sizeof(want));
	/* A fetch of a range harvests only leaves in it. */
	*leaf_pte(&f, G(3), 0) |= EPT_DIRTY;
	assert_int_equal(fetch(&f, 0, 3, bm), 0);
	assert_true(leaf_dirty(&f, G(3)));
	assert_int_equal(fetch(&f, 3, 1, bm), 1);
	/* A huge leaf: a fetch of part of it reports that part and keeps the
	 * rest for later, though the leaf's one bit is cleared. */
	unsigned h0 = GPAGES - hp;
	assert_int_equal(physim_pt_query(physim_aspace_pt(f.as), G(h0), &m), 0);
	assert_int_equal(m.size, h);
	*leaf_pte(&f, G(h0), 1) |= EPT_ACCESSED | EPT_DIRTY;
	assert_true(leaf_dirty(&f, G(h0 + 5)));
	assert_int_equal(fetch(&f, h0, 16, bm), 16);
	assert_false(leaf_dirty(&f, G(h0)));
	assert_int_equal(*leaf_pte(&f, G(h0), 1) & (EPT_ACCESSED | EPT_DIRTY), EPT_ACCESSED);
	assert_int_equal(physim_pt_query(physim_aspace_pt(f.as), G(h0), &m), 0);
	assert_int_equal(m.size, h); /* still one huge leaf */
	assert_int_equal(fetch(&f, 0, GPAGES, bm), hp - 16);
	/* Unmapping a dirty page while logging keeps its dirty state. */
	*leaf_pte(&f, G(1), 0) |= EPT_DIRTY;
	assert_int_equal(physim_aspace_unmap(f.as, G(0), 2 * PG), 0);
	memset(want, 0, sizeof(want));
	want[1] = true;
	assert_int_equal(fetch(&f, 0, GPAGES, bm), 1);
	assert_bits(bm, GPAGES, want);
	/* clear() too. */
	*leaf_pte(&f, G(10), 0) |= EPT_DIRTY;
	physim_aspace_clear(f.as);
	memset(want, 0, sizeof(want));
	want[10] = true;
	assert_int_equal(fetch(&f, 0, GPAGES, bm), 1);
	assert_bits(bm, GPAGES, want);
	fx_close(&f);
}

/* ---- registration: every test over every stage-2 format ---- */

static const struct tc_format_test per_format_tests[] = {
    {"shadow", t_shadow},
    {"refusals", t_refusals},
    {"lazy", t_lazy},
    {"lazy_fail_injection", t_lazy_fail_injection},
    {"lazy_fail_midway", t_lazy_fail_midway},
    {"volatile", t_volatile},
    {"dirty_basic", t_dirty_basic},
    {"dirty_model", t_dirty_model},
    {"dirty_hardware", t_dirty_hardware},
};

int main(void)
{
	return tc_run_per_stage2_format("guest_access", per_format_tests,
					sizeof(per_format_tests) / sizeof(per_format_tests[0]));
}
