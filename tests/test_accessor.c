/* SPDX-License-Identifier: MIT */
/* tests/test_accessor.c - the guest memory accessor over a caller's
 * translation: random reads and writes against a byte model of guest memory
 * over shuffled, non-contiguous frames, the callback's errors returned
 * unchanged with nothing copied, contract violations, volatile accesses, and
 * a translation through physim_translate over a real x86-64 table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/rng.h"

#include <physim/aspace.h>
#include <physim/ram.h>
#include <physim/walk.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PG	 UINT64_C(4096)
#define RAM_BASE UINT64_C(0x80000000)
#define RAM_SIZE (UINT64_C(8) << 20)
#define GBASE	 UINT64_C(0x10000000)
#define NPAGES	 64u
#define HOLE	 40u		       /* guest page with no backing: -ENOENT */
#define MMIO	 44u		       /* guest page backed outside RAM: -EFAULT */
#define MMIO_HPA UINT64_C(0x200000000) /* not RAM */
#define DENIED	 48u		       /* the callback says -EACCES */
#define PAIR	 10u		       /* pages PAIR, PAIR+1 on adjacent frames */
#define SHIFTED	 20u		       /* gpa page -> hpa at a 2-byte offset */

enum limit_mode {
	LIMIT_PAGE, /* bytes to the end of the guest page (or of a contiguous pair) */
	LIMIT_HUGE, /* "to the end of the area": more than is host-contiguous */
	LIMIT_ONE,  /* one byte at a time */
};

struct fx {
	struct physim_ram *ram;
	physim_hpa_t frame[NPAGES]; /* backing of each guest page (shuffled) */
	uint8_t model[NPAGES * PG]; /* what guest memory should hold */
	enum limit_mode mode;
	unsigned calls;
	int force_rc; /* nonzero: the callback returns this for everything */
	uint64_t force_limit;
	bool use_force_limit;
};

static uint64_t rng_state;
static uint64_t rng(void)
{
	return tc_rand(&rng_state);
}

static int translate(void *ctx, uint64_t gpa, physim_hpa_t *hpa, uint64_t *limit)
{
	struct fx *f = ctx;
	f->calls++;
	if (f->force_rc != 0)
		return f->force_rc;
	if (gpa < GBASE || gpa >= GBASE + NPAGES * PG)
		return -ENOENT;
	unsigned page = (unsigned)((gpa - GBASE) / PG);
	uint64_t off = (gpa - GBASE) % PG;
	if (page == HOLE)
		return -ENOENT;
	if (page == DENIED)
		return -EACCES;
	*hpa = page == MMIO ? MMIO_HPA + off : f->frame[page] + off;
	if (page == SHIFTED)
		*hpa += 2; /* the page's last two bytes live at the next frame's start */
	uint64_t rest = PG - off;
	if (page == PAIR)
		rest += PG; /* PAIR and PAIR+1 are host-contiguous */
	if (f->use_force_limit)
		*limit = f->force_limit;
	else if (f->mode == LIMIT_HUGE)
		*limit = GBASE + NPAGES * PG - gpa;
	else if (f->mode == LIMIT_ONE)
		*limit = 1;
	else
		*limit = rest;
	return 0;
}

/* Where the model's byte at guest offset o lives in host memory. */
static uint8_t *host_byte(struct fx *f, uint64_t o)
{
	unsigned page = (unsigned)(o / PG);
	uint64_t hpa = f->frame[page] + o % PG + (page == SHIFTED ? 2 : 0);
	void *p = NULL;
	assert_int_equal(physim_ram_phys_to_virt(f->ram, hpa, &p), 0);
	return p;
}

static bool page_backed(unsigned page)
{
	return page != HOLE && page != MMIO && page != DENIED;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(
	    physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE},
			      &f->ram),
	    0);
	/* The fixture's frames, claimed so a table built later cannot take them. */
	assert_int_equal(physim_ram_alloc_at(f->ram, RAM_BASE, 4 * NPAGES * PG), 0);
	/* Frames in a shuffled order, PAIR+1 right after PAIR, and the frame
	 * after SHIFTED's kept free of other pages (it holds SHIFTED's tail). */
	physim_hpa_t pool[2 * NPAGES];
	for (unsigned i = 0; i < 2 * NPAGES; i++)
		pool[i] = RAM_BASE + (uint64_t)(2 * i) * PG;
	rng_state = 7;
	for (unsigned i = 2 * NPAGES - 1; i > 0; i--) {
		unsigned j = (unsigned)(rng() % (i + 1));
		physim_hpa_t t = pool[i];
		pool[i] = pool[j];
		pool[j] = t;
	}
	for (unsigned p = 0; p < NPAGES; p++)
		f->frame[p] = pool[p];
	f->frame[PAIR + 1] = f->frame[PAIR] + PG; /* odd frames are unused */
	for (uint64_t o = 0; o < NPAGES * PG; o++) {
		f->model[o] = (uint8_t)rng();
		if (page_backed((unsigned)(o / PG)))
			*host_byte(f, o) = f->model[o];
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	physim_ram_destroy(f->ram);
	free(f);
	return 0;
}

static struct physim_guest_accessor acc_of(struct fx *f)
{
	return (struct physim_guest_accessor){
	    .translate = translate, .ctx = f, .mm = physim_ram_mm_hal(f->ram)};
}

/* A random range inside the backed pages before HOLE. */
static void random_range(uint64_t *off, size_t *len)
{
	uint64_t span = HOLE * PG;
	*off = rng() % span;
	uint64_t max = span - *off;
	uint64_t l = 1 + rng() % (rng() % 4 == 0 ? 3 * PG : 64);
	*len = (size_t)(l > max ? max : l);
}

static void check_model(struct fx *f)
{
	for (uint64_t o = 0; o < NPAGES * PG; o++)
		if (page_backed((unsigned)(o / PG)) && *host_byte(f, o) != f->model[o])
			fail_msg("guest byte %#llx differs from the model",
				 (unsigned long long)(GBASE + o));
}

static void random_ops(struct fx *f)
{
	struct physim_guest_accessor acc = acc_of(f);
	uint8_t buf[3 * 4096 + 64];
	for (unsigned i = 0; i < 3000; i++) {
		uint64_t off;
		size_t len;
		random_range(&off, &len);
		if (rng() % 2) {
			for (size_t k = 0; k < len; k++)
				buf[k] = (uint8_t)rng();
			assert_int_equal(physim_accessor_write(&acc, GBASE + off, buf, len), 0);
			memcpy(f->model + off, buf, len);
		} else {
			assert_int_equal(physim_accessor_read(&acc, GBASE + off, buf, len), 0);
			assert_memory_equal(buf, f->model + off, len);
		}
	}
	check_model(f);
}

static void t_random_page_limits(void **state)
{
	struct fx *f = *state;
	f->mode = LIMIT_PAGE;
	rng_state = 11;
	random_ops(f);
}

/* A limit that runs past the host frame (the seed's aspace gives the area's
 * end) must not be trusted for host contiguity. */
static void t_random_area_limits(void **state)
{
	struct fx *f = *state;
	f->mode = LIMIT_HUGE;
	rng_state = 12;
	random_ops(f);
}

static void t_random_byte_limits(void **state)
{
	struct fx *f = *state;
	f->mode = LIMIT_ONE;
	rng_state = 13;
	random_ops(f);
	/* One call per byte: the limit was honoured. */
	struct physim_guest_accessor acc = acc_of(f);
	uint8_t b[100];
	f->calls = 0;
	assert_int_equal(physim_accessor_read(&acc, GBASE + 5, b, sizeof(b)), 0);
	assert_int_equal(f->calls, 2 * sizeof(b)); /* check pass + copy pass */
}

/* The pieces of an access: two calls per frame touched (check, then copy),
 * one per frame for the contiguous pair too (frames are asked per 4 KiB). */
static void t_pieces(void **state)
{
	struct fx *f = *state;
	struct physim_guest_accessor acc = acc_of(f);
	uint8_t b[3 * 4096];
	f->calls = 0;
	assert_int_equal(physim_accessor_read(&acc, GBASE + 3 * PG + 100, b, 2 * PG), 0);
	assert_int_equal(f->calls, 2 * 3);
	assert_memory_equal(b, f->model + 3 * PG + 100, 2 * PG);
	/* SHIFTED: its bytes straddle two host frames. */
	f->calls = 0;
	assert_int_equal(physim_accessor_read(&acc, GBASE + SHIFTED * PG, b, PG), 0);
	assert_int_equal(f->calls, 2 * 2);
	assert_memory_equal(b, f->model + SHIFTED * PG, PG);
}

/* The callback's errno comes back unchanged, and nothing is copied: a write
 * that reaches a bad page changes no byte before it, a read leaves buf. */
static void t_errors_unchanged(void **state)
{
	struct fx *f = *state;
	struct physim_guest_accessor acc = acc_of(f);
	static const struct {
		unsigned page;
		int rc;
	} bad[] = {{HOLE, -ENOENT}, {MMIO, -EFAULT}, {DENIED, -EACCES}};
	uint8_t buf[3 * 4096], keep[sizeof(buf)];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t gpa = GBASE + (uint64_t)bad[i].page * PG - 2 * PG + 10;
		memset(buf, 0xa5, sizeof(buf));
		assert_int_equal(physim_accessor_write(&acc, gpa, buf, sizeof(buf)), bad[i].rc);
		check_model(f);
		memset(buf, 0x5a, sizeof(buf));
		memcpy(keep, buf, sizeof(buf));
		assert_int_equal(physim_accessor_read(&acc, gpa, buf, sizeof(buf)), bad[i].rc);
		assert_memory_equal(buf, keep, sizeof(buf));
	}
	f->force_rc = -EIO;
	assert_int_equal(physim_accessor_read(&acc, GBASE, buf, 1), -EIO);
	f->force_rc = 0;
}

static void t_contract(void **state)
{
	struct fx *f = *state;
	struct physim_guest_accessor acc = acc_of(f);
	uint8_t b[16] = {0};
	f->use_force_limit = true;
	f->force_limit = 0;
	assert_int_equal(physim_accessor_write(&acc, GBASE, b, sizeof(b)), -EFAULT);
	f->force_limit = UINT64_MAX; /* hpa + limit wraps */
	assert_int_equal(physim_accessor_write(&acc, GBASE, b, sizeof(b)), -EFAULT);
	f->use_force_limit = false;
	f->force_rc = 1; /* a positive return is not success */
	assert_int_equal(physim_accessor_read(&acc, GBASE, b, sizeof(b)), -EFAULT);
	f->force_rc = 0;
	check_model(f);
	/* [gpa, gpa + len) wraps */
	assert_int_equal(physim_accessor_read(&acc, UINT64_MAX - 3, b, 8), -EFAULT);
	/* bad arguments */
	assert_int_equal(physim_accessor_read(NULL, GBASE, b, 1), -EINVAL);
	assert_int_equal(physim_accessor_read(&acc, GBASE, NULL, 1), -EINVAL);
	assert_int_equal(physim_accessor_read(&acc, GBASE, NULL, 0), 0);
	struct physim_guest_accessor no_cb = acc;
	no_cb.translate = NULL;
	assert_int_equal(physim_accessor_write(&no_cb, GBASE, b, 1), -EINVAL);
	struct physim_guest_accessor no_mm = acc;
	no_mm.mm = NULL;
	assert_int_equal(physim_accessor_write(&no_mm, GBASE, b, 1), -EINVAL);
}

static uint64_t model_le(const struct fx *f, uint64_t off, unsigned width)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < width; i++)
		v |= (uint64_t)f->model[off + i] << (8 * i);
	return v;
}

static void t_volatile(void **state)
{
	struct fx *f = *state;
	struct physim_guest_accessor acc = acc_of(f);
	static const unsigned widths[] = {1, 2, 4, 8};
	rng_state = 99;
	for (unsigned i = 0; i < 2000; i++) {
		unsigned w = widths[rng() % 4];
		uint64_t off = (rng() % (HOLE * PG)) & ~(uint64_t)(w - 1);
		uint64_t v = 0;
		bool shifted = off / PG == SHIFTED && w > 2;
		int rc = physim_accessor_read_volatile(&acc, GBASE + off, w, &v);
		/* SHIFTED puts a width-4/8 access off its natural host alignment
		 * (or across two frames): one access cannot do it. */
		if (shifted) {
			assert_int_equal(rc, -EFAULT);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(v, model_le(f, off, w));
		uint64_t nv = rng();
		assert_int_equal(physim_accessor_write_volatile(&acc, GBASE + off, w, nv), 0);
		for (unsigned b = 0; b < w; b++)
			f->model[off + b] = (uint8_t)(nv >> (8 * b));
	}
	check_model(f);
	uint64_t v;
	assert_int_equal(physim_accessor_read_volatile(&acc, GBASE + 1, 2, &v), -EINVAL);
	assert_int_equal(physim_accessor_read_volatile(&acc, GBASE, 3, &v), -EINVAL);
	assert_int_equal(physim_accessor_read_volatile(&acc, GBASE, 8, NULL), -EINVAL);
	assert_int_equal(physim_accessor_write_volatile(&acc, GBASE + 4, 8, 0), -EINVAL);
	assert_int_equal(physim_accessor_read_volatile(&acc, GBASE + HOLE * PG, 4, &v), -ENOENT);
	assert_int_equal(physim_accessor_read_volatile(&acc, GBASE + MMIO * PG, 4, &v), -EFAULT);
}

/* ---- a real translation: a guest's x86-64 table, walked by physim ---- */

struct walk_ctx {
	struct physim_pt *pt;
	unsigned walks;
};

static int translate_by_walk(void *ctx, uint64_t va, physim_hpa_t *hpa, uint64_t *limit)
{
	struct walk_ctx *w = ctx;
	struct physim_xlate x;
	w->walks++;
	int rc = physim_translate(w->pt, &(struct physim_access){.va = va}, &x);
	if (rc != 0)
		return rc;
	*hpa = x.pa;
	*limit = x.page_size - (va & (x.page_size - 1));
	return 0;
}

static void t_through_walker(void **state)
{
	struct fx *f = *state;
	const struct physim_paging_handler *ph = physim_ram_paging_handler(f->ram);
	struct physim_pt *pt;
	assert_int_equal(physim_pt_create(physim_format("x86_64-4l"), ph, &pt), 0);
	/* VA 0x400000 + i pages -> the fixture's guest pages 0..7 in reverse. */
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(
		    physim_pt_map(pt, 0x400000 + i * PG, f->frame[7 - i], PG, PHYSIM_R | PHYSIM_W),
		    0);
	struct walk_ctx w = {.pt = pt};
	struct physim_guest_accessor acc = {
	    .translate = translate_by_walk, .ctx = &w, .mm = physim_ram_mm_hal(f->ram)};
	uint8_t b[8 * 4096];
	assert_int_equal(physim_accessor_read(&acc, 0x400000, b, sizeof(b)), 0);
	for (unsigned i = 0; i < 8; i++)
		assert_memory_equal(b + i * PG, f->model + (7 - i) * PG, PG);
	/* An unmapped VA: the walker's -EFAULT, nothing copied. */
	memset(b, 0x33, PG);
	assert_int_equal(physim_accessor_write(&acc, 0x400000 + 7 * PG, b, 2 * PG), -EFAULT);
	check_model(f);
	physim_pt_destroy(pt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(t_random_page_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_random_area_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_random_byte_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_pieces, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_errors_unchanged, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_contract, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_volatile, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_through_walker, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
