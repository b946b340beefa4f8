/* SPDX-License-Identifier: MIT */
/* tests/test_pt.c - the page-table engine (lib/pt.c) on the toy formats of
 * pt-toy-format.h: every operation and bad input (each failure must leave the
 * table memory and the frame count as they were), splits, REPLACE, freeing of
 * empty tables, flush batching, callbacks, walks, hostile table memory and
 * allocation-failure injection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/env.h"
#include "common/rng.h"

#include "pt-toy-format.h"
#include "pt-priv.h"
#include <physim/ram.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K4	 UINT64_C(0x1000)
#define M1	 UINT64_C(0x100000)
#define M2	 UINT64_C(0x200000)
#define G1	 UINT64_C(0x40000000)
#define RAM_BASE UINT64_C(0x80000000)
#define RAM_SIZE (UINT64_C(8) << 20)
#define RW	 (PHYSIM_R | PHYSIM_W)
#define RWX	 (PHYSIM_R | PHYSIM_W | PHYSIM_X)
/* toy-39: the first address of the upper (sign-extended) half. */
#define UPPER UINT64_C(0xffffffc000000000)

/* ---- environment: RAM, counting HAL, table, flush log ---- */

#define MAX_CALLS     16
#define FLUSH_MAX_VAS 32

struct flush_call {
	uint64_t va[FLUSH_MAX_VAS];
	size_t n;
	bool all;
};

struct env {
	struct physim_ram *ram;
	struct physim_counting_hal *ch;
	const struct physim_paging_handler *ph;
	struct physim_paging_handler no_direct; /* ph without the direct map */
	struct physim_pt *pt;
	const struct physim_pt_format *f;
	uint8_t *hva; /* RAM as host memory */
	struct flush_call calls[MAX_CALLS];
	size_t ncalls;
};

struct env_opts {
	bool keep_empty;
	bool no_direct;
};

static int log_errors;

static void count_errors(void *ctx, enum physim_log_level level, const char *msg)
{
	(void)ctx;
	if (level <= PHYSIM_LOG_ERROR) {
		print_message("physim error: %s\n", msg);
		log_errors++;
	}
}

static void on_flush(void *ctx, const uint64_t *vas, size_t n, bool all)
{
	struct env *e = ctx;
	assert_true(n <= 32);
	assert_true(!all || n == 0);
	assert_true(n > 0 || all);
	if (e->ncalls++ >= MAX_CALLS)
		return; /* counted, not kept */
	struct flush_call *c = &e->calls[e->ncalls - 1];
	c->n = n;
	c->all = all;
	if (n)
		memcpy(c->va, vas, n * sizeof(*vas));
}

static void env_open(struct env *e, const struct physim_pt_format *f, struct env_opts o)
{
	memset(e, 0, sizeof(*e));
	physim_set_log(count_errors, NULL, PHYSIM_LOG_ERROR);
	log_errors = 0;
	struct physim_ram_config rc = {.base = RAM_BASE, .size = RAM_SIZE};
	assert_int_equal(physim_ram_create(&rc, &e->ram), 0);
	struct physim_counting_hal_config cc = {.paging = physim_ram_paging_handler(e->ram)};
	assert_int_equal(physim_counting_hal_create(&cc, &e->ch), 0);
	e->ph = physim_counting_hal_paging(e->ch);
	e->no_direct = *e->ph;
	e->no_direct.direct.size = 0;
	struct physim_direct_map dm = physim_ram_direct_map(e->ram);
	e->hva = dm.hva;
	e->f = f;
	struct physim_pt_config c = {
	    .format = f,
	    .paging = o.no_direct ? &e->no_direct : e->ph,
	    .flush = on_flush,
	    .flush_ctx = e,
	    .keep_empty_tables = o.keep_empty,
	};
	assert_int_equal(physim_pt_create_ex(&c, &e->pt), 0);
}

static int64_t frames_live(const struct env *e)
{
	return physim_counting_hal_counts(e->ch).frames_live;
}

static void env_close(struct env *e)
{
	physim_pt_destroy(e->pt);
	e->pt = NULL;
	assert_int_equal(frames_live(e), 0);
	assert_int_equal(physim_ram_stats(e->ram).used_frames, 0);
	physim_counting_hal_destroy(e->ch);
	physim_ram_destroy(e->ram);
	assert_int_equal(log_errors, 0);
	physim_set_log(NULL, NULL, PHYSIM_LOG_NONE);
}

static void *ram_ptr(const struct env *e, uint64_t pa)
{
	assert_true(pa >= RAM_BASE && pa < RAM_BASE + RAM_SIZE);
	return e->hva + (pa - RAM_BASE);
}

/* Raw descriptor i of the table at pa (level lvl), read by the test itself. */
static uint64_t raw_pte(const struct env *e, uint64_t table_pa, uint64_t i)
{
	const uint8_t *t = ram_ptr(e, table_pa);
	if (e->f->pte_bytes == 4) {
		uint32_t d;
		memcpy(&d, t + i * 4, 4);
		return d;
	}
	uint64_t d;
	memcpy(&d, t + i * 8, 8);
	return d;
}

static void raw_set(const struct env *e, uint64_t table_pa, uint64_t i, uint64_t d)
{
	uint8_t *t = ram_ptr(e, table_pa);
	if (e->f->pte_bytes == 4) {
		uint32_t d32 = (uint32_t)d;
		memcpy(t + i * 4, &d32, 4);
	} else {
		memcpy(t + i * 8, &d, 8);
	}
}

/* Address of the table at level lvl on the way to va (following the toy
 * encoding directly, not the engine). */
static uint64_t raw_table(const struct env *e, uint64_t va, unsigned lvl)
{
	const struct physim_pt_format *f = e->f;
	uint64_t t = physim_pt_root(e->pt);
	for (unsigned l = f->levels - 1u; l > lvl; l--) {
		uint64_t d = raw_pte(e, t, pt_index(f, va, l));
		assert_true((d & TOY_V) && (d & TOY_T));
		t = toy_output_addr(f, d, l);
	}
	return t;
}

/* Table frames reachable from the root, counted by the test's own walk. */
static uint64_t count_frames_at(const struct env *e, uint64_t t, unsigned lvl)
{
	const struct physim_pt_format *f = e->f;
	uint64_t bytes = pt_level_entries(f, lvl) * f->pte_bytes;
	uint64_t n = bytes < 4096 ? 1 : bytes / 4096;
	if (lvl == 0)
		return n;
	for (uint64_t i = 0; i < pt_level_entries(f, lvl); i++) {
		uint64_t d = raw_pte(e, t, i);
		if ((d & TOY_V) && (d & TOY_T))
			n += count_frames_at(e, toy_output_addr(f, d, lvl), lvl - 1);
	}
	return n;
}

/* The table's frame count three ways: engine, own walk, HAL. */
static void check_frames(const struct env *e, uint64_t expect)
{
	assert_int_equal(physim_pt_table_frames(e->pt), expect);
	assert_int_equal(count_frames_at(e, physim_pt_root(e->pt), e->f->levels - 1u), expect);
	assert_int_equal(frames_live(e), (int64_t)expect);
}

/* ---- snapshots: a failed call must change nothing ---- */

struct snap {
	uint8_t *mem;
	int64_t live;
	uint64_t table_frames;
	size_t ncalls;
};

static void snap_take(const struct env *e, struct snap *s)
{
	s->mem = malloc(RAM_SIZE);
	assert_non_null(s->mem);
	memcpy(s->mem, e->hva, RAM_SIZE);
	s->live = frames_live(e);
	s->table_frames = physim_pt_table_frames(e->pt);
	s->ncalls = e->ncalls;
}

static void snap_same(const struct env *e, const struct snap *s)
{
	assert_true(memcmp(s->mem, e->hva, RAM_SIZE) == 0);
	assert_int_equal(frames_live(e), s->live);
	assert_int_equal(physim_pt_table_frames(e->pt), s->table_frames);
	assert_int_equal(e->ncalls, s->ncalls); /* no flush for a failed call */
}

static void snap_restore(const struct env *e, const struct snap *s)
{
	memcpy(e->hva, s->mem, RAM_SIZE);
}

static void snap_free(struct snap *s)
{
	free(s->mem);
	s->mem = NULL;
}

/* ---- expectations ---- */

static void expect_page(const struct env *e, uint64_t addr, uint64_t va, uint64_t pa, uint64_t size,
			uint32_t flags, unsigned level)
{
	struct physim_pt_mapping m;
	memset(&m, 0xa5, sizeof(m));
	int rc = physim_pt_query(e->pt, addr, &m);
	if (rc != 0)
		print_message("query %#llx: %d\n", (unsigned long long)addr, rc);
	assert_int_equal(rc, 0);
	assert_int_equal(m.va, va);
	assert_int_equal(m.pa, pa);
	assert_int_equal(m.size, size);
	assert_int_equal(m.flags, flags);
	assert_int_equal(m.level, level);
}

static void expect_none(const struct env *e, uint64_t addr)
{
	struct physim_pt_mapping m;
	memset(&m, 0xa5, sizeof(m));
	assert_int_equal(physim_pt_query(e->pt, addr, &m), -ENOENT);
	/* Untouched on failure. */
	const uint8_t *b = (const uint8_t *)&m;
	for (size_t i = 0; i < sizeof(m); i++)
		assert_int_equal(b[i], 0xa5);
}

static void expect_flush(const struct env *e, size_t call, const uint64_t *vas, size_t n)
{
	assert_true(call < e->ncalls && call < MAX_CALLS);
	const struct flush_call *c = &e->calls[call];
	assert_false(c->all);
	if (c->n != n)
		print_message("flush call %zu: %zu VAs, expected %zu\n", call, c->n, n);
	assert_int_equal(c->n, n);
	/* Order is not part of the contract: compare as sets (no duplicates). */
	for (size_t i = 0; i < n; i++) {
		bool found = false;
		for (size_t j = 0; j < n; j++)
			found |= c->va[j] == vas[i];
		if (!found)
			print_message("flush call %zu: %#llx missing\n", call,
				      (unsigned long long)vas[i]);
		assert_true(found);
		for (size_t j = i + 1; j < n; j++)
			assert_true(c->va[i] != c->va[j]);
	}
}

static void expect_flush_all(const struct env *e, size_t call)
{
	assert_true(call < e->ncalls && call < MAX_CALLS);
	assert_true(e->calls[call].all);
	assert_int_equal(e->calls[call].n, 0);
}

/* Number of leaves of each page size in [va, va + size), via walk. */
struct leaf_count {
	uint64_t n4k, n2m, n1g, other;
};

static int count_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	struct leaf_count *c = ctx;
	if (m->size == K4)
		c->n4k++;
	else if (m->size == M2)
		c->n2m++;
	else if (m->size == G1)
		c->n1g++;
	else
		c->other++;
	return 0;
}

static struct leaf_count count_leaves(const struct env *e, uint64_t va, uint64_t size)
{
	struct leaf_count c = {0};
	struct physim_pt_walk_ops ops = {.leaf = count_leaf};
	assert_int_equal(physim_pt_walk(e->pt, va, size, &ops, &c), 0);
	return c;
}

/* ---- formats ---- */

static void test_format_info(void **state)
{
	(void)state;
	struct physim_pt_format_info i;

	physim_format_get_info(&toy_fmt_39, &i);
	assert_string_equal(i.name, "toy-39");
	assert_int_equal(i.levels, 3);
	assert_int_equal(i.pte_bytes, 8);
	assert_int_equal(i.va_bits, 39);
	assert_int_equal(i.pa_bits, 40);
	assert_true(i.sign_extended);
	assert_false(i.stage2);
	assert_int_equal(i.root_bytes, 4096);
	assert_int_equal(i.root_align, 4096);
	assert_int_equal(i.page_sizes, K4 | M2 | G1);
	assert_int_equal(i.level[1].shift, 21);
	assert_int_equal(i.level[1].index_bits, 9);
	assert_int_equal(i.level[1].table_bytes, 4096);
	assert_true(i.level[2].leaf_ok);
	assert_int_equal(i.flags_supported, 0x3f);
	assert_int_equal(i.arch_attr_mask, 0xc00);

	physim_format_get_info(&toy_fmt_32, &i);
	assert_true(i.stage2);
	assert_int_equal(i.root_bytes, 16384);
	assert_int_equal(i.root_align, 16384);
	assert_int_equal(i.level[0].table_bytes, 1024);
	assert_int_equal(i.page_sizes, K4 | M1);
	assert_int_equal(i.flags_supported, 0x37);

	physim_format_get_info(&toy_fmt_16k, &i);
	assert_int_equal(i.root_bytes, 16);
	assert_int_equal(i.root_align, 16);
	assert_int_equal(i.level[0].table_bytes, 16384);
	assert_int_equal(i.level[1].table_bytes, 16384);
	assert_int_equal(i.page_sizes, (UINT64_C(1) << 14) | (UINT64_C(1) << 25));
	assert_false(i.level[2].leaf_ok);

	/* NULL format: zeroed; NULL info: ignored. */
	memset(&i, 0xff, sizeof(i));
	physim_format_get_info(NULL, &i);
	assert_null(i.name);
	assert_int_equal(i.levels, 0);
	physim_format_get_info(&toy_fmt_39, NULL);
}

/* The compiled-in formats: geometry the engine relies on, and get_info
 * agreeing with itself (root size = entries x descriptor size). */
static void test_real_format_info(void **state)
{
	(void)state;
	for (size_t k = 0; k < physim_format_count(); k++) {
		const struct physim_pt_format *f = physim_format_at(k);
		struct physim_pt_format_info i;
		physim_format_get_info(f, &i);
		assert_ptr_equal(physim_format(i.name), f);
		assert_true(i.levels >= 2 && i.levels <= PHYSIM_PT_MAX_LEVELS);
		unsigned top = i.levels - 1;
		assert_int_equal(i.root_bytes,
				 (UINT64_C(1) << i.level[top].index_bits) * i.pte_bytes);
		assert_true(i.level[0].leaf_ok);
		assert_true(i.page_sizes & (UINT64_C(1) << i.level[0].shift));
		assert_true(i.level[top].shift + i.level[top].index_bits >= i.va_bits);
	}
	assert_null(physim_format_at(physim_format_count()));
}

/* ---- create / destroy ---- */

static void test_create_destroy(void **state)
{
	(void)state;
	struct env e;
	static const uint64_t root_frames[] = {1, 4, 1, 1};
	for (size_t k = 0; k < TOY_FORMAT_COUNT; k++) {
		env_open(&e, toy_formats[k], (struct env_opts){0});
		check_frames(&e, root_frames[k]);
		uint64_t root = physim_pt_root(e.pt);
		uint64_t bytes = root_frames[k] * 4096;
		assert_true(physim_is_aligned(root, bytes));
		const uint8_t *p = ram_ptr(&e, root);
		for (uint64_t i = 0; i < bytes; i++)
			assert_int_equal(p[i], 0);
		assert_ptr_equal(physim_pt_format(e.pt), toy_formats[k]);
		env_close(&e);
	}

	/* Every allocation fails: nothing is left behind. */
	env_open(&e, &toy_fmt_32, (struct env_opts){0});
	struct physim_counting_hal_config plan = {.fail_after = 0, .fail_nth = 1};
	physim_counting_hal_set_plan(e.ch, &plan);
	struct physim_pt *pt = (struct physim_pt *)&e; /* must stay untouched */
	assert_int_equal(physim_pt_create(&toy_fmt_32, e.ph, &pt), -ENOMEM);
	assert_ptr_equal(pt, (struct physim_pt *)&e);
	assert_int_equal(frames_live(&e), 4);
	env_close(&e);

	/* Bad arguments. */
	env_open(&e, &toy_fmt_39, (struct env_opts){0});
	assert_int_equal(physim_pt_create(NULL, e.ph, &pt), -EINVAL);
	assert_int_equal(physim_pt_create(&toy_fmt_39, NULL, &pt), -EINVAL);
	assert_int_equal(physim_pt_create(&toy_fmt_39, e.ph, NULL), -EINVAL);
	assert_int_equal(physim_pt_create_ex(NULL, &pt), -EINVAL);
	struct physim_pt_config c0 = {0};
	assert_int_equal(physim_pt_create_ex(&c0, &pt), -EINVAL);

	/* Geometries the engine must refuse. */
	struct physim_pt_format bad = toy_fmt_39;
	bad.level[0].leaf_ok = false;
	assert_int_equal(physim_pt_create(&bad, e.ph, &pt), -EINVAL);
	bad = toy_fmt_39;
	bad.level[1].leaf_ok = false; /* leaf at 2 but not at 1 */
	assert_int_equal(physim_pt_create(&bad, e.ph, &pt), -EINVAL);
	bad = toy_fmt_39;
	bad.level[1].shift = 22; /* gap between levels */
	assert_int_equal(physim_pt_create(&bad, e.ph, &pt), -EINVAL);
	bad = toy_fmt_39;
	bad.va_bits = 40; /* root does not reach the top input bit */
	assert_int_equal(physim_pt_create(&bad, e.ph, &pt), -EINVAL);
	bad = toy_fmt_39;
	bad.pte_bytes = 2;
	assert_int_equal(physim_pt_create(&bad, e.ph, &pt), -EINVAL);
	bad = toy_fmt_39;
	bad.levels = 0;
	assert_int_equal(physim_pt_create(&bad, e.ph, &pt), -EINVAL);
	bad = toy_fmt_39;
	bad.ops = NULL;
	assert_int_equal(physim_pt_create(&bad, e.ph, &pt), -EINVAL);
	/* A multi-frame table needs alloc_frames. */
	struct physim_paging_handler noframes = *e.ph;
	noframes.alloc_frames = NULL;
	assert_int_equal(physim_pt_create(&toy_fmt_32, &noframes, &pt), -EINVAL);
	assert_int_equal(physim_pt_create(&toy_fmt_39, &noframes, &pt), 0);
	physim_pt_destroy(pt);
	check_frames(&e, 1);

	physim_pt_destroy(NULL);
	assert_int_equal(physim_pt_root(NULL), 0);
	assert_null(physim_pt_format(NULL));
	assert_int_equal(physim_pt_table_frames(NULL), 0);
	env_close(&e);
	/* The no-direct-map path creates and destroys too. */
	env_open(&e, &toy_fmt_32, (struct env_opts){.no_direct = true});
	check_frames(&e, 4);
	env_close(&e);
}

/* ---- map and query ---- */

static void test_map_query(void **state)
{
	(void)state;
	struct env e;
	struct physim_pt_mapping m;
	env_open(&e, &toy_fmt_39, (struct env_opts){0});

	assert_int_equal(physim_pt_map(e.pt, 0x1000, 0x5000, K4, RW), 0);
	expect_page(&e, 0x1234, 0x1000, 0x5000, K4, RW, 0);
	assert_int_equal(physim_pt_query(e.pt, 0x1fff, &m), 0);
	/* toy-39 pre-sets accessed, and dirty on writable leaves. */
	assert_true(m.accessed);
	assert_true(m.dirty);
	assert_int_equal(m.arch, 0);
	expect_none(&e, 0x2000);
	expect_none(&e, 0xfff);
	check_frames(&e, 3); /* root + level 1 + level 0 */

	assert_int_equal(physim_pt_map(e.pt, 0x3000, 0x7000, K4, PHYSIM_R), 0);
	assert_int_equal(physim_pt_query(e.pt, 0x3000, &m), 0);
	assert_true(m.accessed);
	assert_false(m.dirty);
	check_frames(&e, 3);

	/* 2M in a new level-1 table (root entry 1), 1G in the upper half. */
	assert_int_equal(physim_pt_map(e.pt, G1 + M2, 0x40000000, M2, RWX), 0);
	expect_page(&e, G1 + M2 + 0x12345, G1 + M2, 0x40000000, M2, RWX, 1);
	check_frames(&e, 4);
	assert_int_equal(
	    physim_pt_map(e.pt, UPPER + G1, UINT64_C(0x8000000000) - G1, G1, PHYSIM_R | PHYSIM_U),
	    0);
	expect_page(&e, UPPER + G1 + 0x3456789, UPPER + G1, UINT64_C(0x7fc0000000), G1,
		    PHYSIM_R | PHYSIM_U, 2);
	expect_none(&e, UPPER);
	check_frames(&e, 4);

	/* The last page of each half. */
	assert_int_equal(physim_pt_map(e.pt, UINT64_C(0x3ffffff000), 0x9000, K4, PHYSIM_X), 0);
	expect_page(&e, UINT64_C(0x3fffffffff), UINT64_C(0x3ffffff000), 0x9000, K4, PHYSIM_X, 0);
	assert_int_equal(physim_pt_map(e.pt, UINT64_C(0xfffffffffffff000), 0xa000, K4, RW), 0);
	expect_page(&e, UINT64_MAX, UINT64_C(0xfffffffffffff000), 0xa000, K4, RW, 0);
	check_frames(&e, 8);

	/* Non-canonical and NULL. */
	assert_int_equal(physim_pt_query(e.pt, UINT64_C(0x8000000000), &m), -EINVAL);
	assert_int_equal(physim_pt_query(e.pt, UINT64_C(0xffff800000000000), &m), -EINVAL);
	assert_int_equal(physim_pt_query(e.pt, UINT64_C(0xffffffbfffffffff), &m), -EINVAL);
	assert_int_equal(physim_pt_query(NULL, 0x1000, &m), -EINVAL);
	assert_int_equal(physim_pt_query(e.pt, 0x1000, NULL), 0);

	/* Raw arch bits, every generic flag (U included: stage 1). */
	struct physim_pt_mapping mx = {
	    .va = 0x10000, .pa = 0x20000, .size = K4, .flags = 0x1f, .arch = 0x400};
	assert_int_equal(physim_pt_map_ex(e.pt, &mx, 0), 0);
	assert_int_equal(physim_pt_query(e.pt, 0x10000, &m), 0);
	assert_int_equal(m.arch, 0x400);
	assert_int_equal(m.flags, 0x1f);
	/* The descriptor the engine wrote is exactly the toy encoding:
	 * pa | V | T | flags << 2 | A | D | arch. */
	uint64_t l0 = raw_table(&e, 0x10000, 0);
	assert_int_equal(raw_pte(&e, l0, 0x10), 0x20000 | 3 | (0x1f << 2) | 0x300 | 0x400);
	env_close(&e);
}

/* Every bad input of the map calls leaves everything as it was. */
static void test_map_bad_inputs(void **state)
{
	(void)state;
	struct env e;
	struct snap s;
	env_open(&e, &toy_fmt_39, (struct env_opts){0});
	assert_int_equal(physim_pt_map(e.pt, 0x1000, 0x5000, K4, RW), 0);
	assert_int_equal(physim_pt_map(e.pt, 0x200000, 0x400000, M2, RW), 0);
	assert_int_equal(physim_pt_map(e.pt, 2 * G1, 0, G1, RW), 0);
	e.ncalls = 0;
	snap_take(&e, &s);

	struct {
		int rc;
		uint64_t va, pa, size;
		uint32_t flags;
	} single[] = {
	    {-EINVAL, 0x1800, 0x5000, K4, RW},			/* va misaligned */
	    {-EINVAL, 0x8000, 0x5800, K4, RW},			/* pa misaligned */
	    {-EINVAL, 0x8000, 0x5000, 2 * K4, RW},		/* no 8K pages */
	    {-EINVAL, 0x8000, 0x5000, 0, RW},			/* size 0 */
	    {-EINVAL, 0, 0, UINT64_C(1) << 39, RW},		/* not a leaf size */
	    {-EINVAL, 0x401000, 0x400000, M2, RW},		/* va not 2M aligned */
	    {-EINVAL, 0x400000, 0x401000, M2, RW},		/* pa not 2M aligned */
	    {-EINVAL, UINT64_C(0x8000000000), 0, K4, RW},	/* non-canonical */
	    {-EINVAL, UINT64_C(0xffff800000000000), 0, K4, RW}, /* non-canonical */
	    {-EINVAL, 0x8000, UINT64_C(1) << 40, K4, RW},	/* pa too wide */
	    {-EINVAL, 0x8000, 0x5000, K4, 1u << 6},		/* unknown flag */
	    {-ENOTSUP, 0x8000, 0x5000, K4, PHYSIM_W},		/* W without R */
	    {-ENOTSUP, 0x8000, 0x5000, K4, PHYSIM_R | 0x30},	/* DEVICE|UNCACHED */
	    {-EEXIST, 0x1000, 0x6000, K4, RW},			/* same page */
	    {-EEXIST, 0x203000, 0x6000, K4, RW},		/* inside 2M */
	    {-EEXIST, 0, 0x400000, M2, RW},			/* 2M over a 4K */
	    {-EEXIST, 0, 0, G1, RW},				/* 1G over tables */
	    {-EEXIST, 2 * G1 + M2, 0, M2, RW},			/* inside 1G */
	    {-ENOTSUP, 0x1000, 0x6000, K4, PHYSIM_W},		/* ENOTSUP first */
	};
	for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
		int rc = physim_pt_map(e.pt, single[i].va, single[i].pa, single[i].size,
				       single[i].flags);
		if (rc != single[i].rc)
			print_message("case %zu: %d\n", i, rc);
		assert_int_equal(rc, single[i].rc);
		snap_same(&e, &s);
	}

	struct {
		int rc;
		uint64_t va, pa, size;
		unsigned opts;
	} region[] = {
	    {-EINVAL, 0x8000, 0x5000, 0, 0},				/* empty */
	    {-EINVAL, 0x8000, 0x5000, 0x1800, 0},			/* size */
	    {-EINVAL, 0x8800, 0x5000, K4, 0},				/* va */
	    {-EINVAL, 0x8000, 0x5800, K4, 0},				/* pa */
	    {-EINVAL, UINT64_C(0x3ffffff000), 0, 2 * K4, 0},		/* leaves half */
	    {-EINVAL, UINT64_C(0xfffffffffffff000), 0, 2 * K4, 0},	/* wraps */
	    {-EINVAL, 0x8000, (UINT64_C(1) << 40) - K4, 2 * K4, 0},	/* pa too wide */
	    {-EINVAL, 0x8000, UINT64_C(0xfffffffffffff000), 2 * K4, 0}, /* pa wraps */
	    {-EINVAL, 0x8000, 0x5000, K4, 1u << 5},			/* opts */
	    {-EEXIST, 0x4000, 0x4000, 0x200000, 0},			/* last page */
	    {-EEXIST, 0, 0, 4 * G1, PHYSIM_ALLOW_HUGE},			/* all of it */
	    {-EEXIST, G1, G1, G1 + M2 + K4, PHYSIM_ALLOW_HUGE},		/* the 1G */
	};
	for (size_t i = 0; i < sizeof(region) / sizeof(region[0]); i++) {
		int rc = physim_pt_map_region(e.pt, region[i].va, region[i].pa, region[i].size, RW,
					      region[i].opts);
		if (rc != region[i].rc)
			print_message("region case %zu: %d\n", i, rc);
		assert_int_equal(rc, region[i].rc);
		snap_same(&e, &s);
	}

	struct physim_pt_mapping mx = {.va = 0x8000, .pa = 0x5000, .size = K4, .flags = RW};
	mx.arch = 0x1000; /* outside arch_attr_mask */
	assert_int_equal(physim_pt_map_ex(e.pt, &mx, 0), -ENOTSUP);
	mx.arch = 0;
	assert_int_equal(physim_pt_map_ex(e.pt, &mx, 1u << 4), -EINVAL);
	assert_int_equal(physim_pt_map_ex(e.pt, NULL, 0), -EINVAL);
	assert_int_equal(physim_pt_map_ex(NULL, &mx, 0), -EINVAL);
	assert_int_equal(physim_pt_map(NULL, 0x8000, 0, K4, RW), -EINVAL);
	assert_int_equal(physim_pt_map_region(NULL, 0x8000, 0, K4, RW, 0), -EINVAL);
	snap_same(&e, &s);
	snap_free(&s);
	env_close(&e);
}

/* map_region picks the largest page alignment and size allow. */
static void test_map_region_sizes(void **state)
{
	(void)state;
	struct env e;
	env_open(&e, &toy_fmt_39, (struct env_opts){0});

	/* 2 x 4K, 2M, 1G, 2M, 3 x 4K; pa congruent to va modulo 1G. */
	uint64_t va = G1 - M2 - 2 * K4, off = UINT64_C(0x100000000);
	uint64_t size = 2 * K4 + M2 + G1 + M2 + 3 * K4;
	assert_int_equal(physim_pt_map_region(e.pt, va, va + off, size, RW, PHYSIM_ALLOW_HUGE), 0);
	static const struct {
		uint64_t va, size;
		unsigned level;
	} pages[] = {
	    {0x3fdfe000, K4, 0}, {0x3fdff000, K4, 0}, {0x3fe00000, M2, 1}, {0x40000000, G1, 2},
	    {0x80000000, M2, 1}, {0x80200000, K4, 0}, {0x80201000, K4, 0}, {0x80202000, K4, 0},
	};
	uint64_t vas[8];
	for (size_t i = 0; i < 8; i++) {
		expect_page(&e, pages[i].va + pages[i].size / 2, pages[i].va, pages[i].va + off,
			    pages[i].size, RW, pages[i].level);
		vas[i] = pages[i].va;
	}
	expect_none(&e, va - 1);
	expect_none(&e, va + size);
	struct leaf_count c = count_leaves(&e, 0, 4 * G1);
	assert_int_equal(c.n4k, 5);
	assert_int_equal(c.n2m, 2);
	assert_int_equal(c.n1g, 1);
	/* root, L1 for [0,1G), L0 for the head, L1 for [2G,3G), L0 for the tail */
	check_frames(&e, 5);
	assert_int_equal(e.ncalls, 1);
	expect_flush(&e, 0, vas, 8);

	/* pa not 2M-aligned: only 4K pages. */
	assert_int_equal(physim_pt_map_region(e.pt, 4 * G1, 0x1000, 2 * M2, RW, PHYSIM_ALLOW_HUGE),
			 0);
	c = count_leaves(&e, 4 * G1, G1);
	assert_int_equal(c.n4k, 1024);
	assert_int_equal(c.n2m + c.n1g, 0);
	expect_page(&e, 4 * G1 + M2 + 0x5000, 4 * G1 + M2 + 0x5000, M2 + 0x6000, K4, RW, 0);
	check_frames(&e, 8);
	expect_flush_all(&e, 1);

	/* Without ALLOW_HUGE: granule pages even where 1G would fit. */
	assert_int_equal(physim_pt_map_region(e.pt, 8 * G1, 0, 2 * M2, PHYSIM_R, 0), 0);
	c = count_leaves(&e, 8 * G1, G1);
	assert_int_equal(c.n4k, 1024);
	check_frames(&e, 11);
	env_close(&e);
}

/* ---- REPLACE ---- */

static void test_replace(void **state)
{
	(void)state;
	struct env e;
	struct snap s;
	env_open(&e, &toy_fmt_39, (struct env_opts){0});

	/* 4K into a 2M page: the 2M page is split, the rest keeps its pa. */
	uint64_t P = UINT64_C(0x40000000), Q = UINT64_C(0x77000);
	assert_int_equal(physim_pt_map(e.pt, M2, P, M2, RWX), 0);
	check_frames(&e, 2);
	e.ncalls = 0;
	assert_int_equal(physim_pt_map_region(e.pt, M2 + K4, Q, K4, PHYSIM_R, PHYSIM_REPLACE), 0);
	expect_page(&e, M2 + K4, M2 + K4, Q, K4, PHYSIM_R, 0);
	expect_page(&e, M2, M2, P, K4, RWX, 0);
	expect_page(&e, M2 + 2 * K4, M2 + 2 * K4, P + 2 * K4, K4, RWX, 0);
	expect_page(&e, 2 * M2 - 1, 2 * M2 - K4, P + M2 - K4, K4, RWX, 0);
	assert_int_equal(count_leaves(&e, 0, G1).n4k, 512);
	check_frames(&e, 3);
	assert_int_equal(e.ncalls, 1);
	expect_flush(&e, 0, (uint64_t[]){M2, M2 + K4}, 2);

	/* Without REPLACE, a 2M over those 4K pages is refused... */
	snap_take(&e, &s);
	assert_int_equal(physim_pt_map_region(e.pt, M2, P, M2, RW, PHYSIM_ALLOW_HUGE), -EEXIST);
	snap_same(&e, &s);
	snap_free(&s);
	/* ...with it, the level-0 table is freed and one 2M leaf takes over. */
	assert_int_equal(
	    physim_pt_map_region(e.pt, M2, P, M2, RW, PHYSIM_ALLOW_HUGE | PHYSIM_REPLACE), 0);
	expect_page(&e, M2 + K4, M2, P, M2, RW, 1);
	check_frames(&e, 2);
	expect_flush_all(&e, 1); /* 512 leaves went */

	/* A 4K page in the middle of a 1G page: split twice. */
	uint64_t B = UINT64_C(0x100000000);
	assert_int_equal(physim_pt_map(e.pt, G1, B, G1, RW), 0);
	check_frames(&e, 2);
	e.ncalls = 0;
	assert_int_equal(physim_pt_map_region(e.pt, G1 + M2 + K4, Q, K4, RWX, PHYSIM_REPLACE), 0);
	check_frames(&e, 4);
	expect_page(&e, G1, G1, B, M2, RW, 1);
	expect_page(&e, G1 + M2, G1 + M2, B + M2, K4, RW, 0);
	expect_page(&e, G1 + M2 + K4, G1 + M2 + K4, Q, K4, RWX, 0);
	expect_page(&e, G1 + M2 + 2 * K4, G1 + M2 + 2 * K4, B + M2 + 2 * K4, K4, RW, 0);
	expect_page(&e, G1 + 2 * M2, G1 + 2 * M2, B + 2 * M2, M2, RW, 1);
	expect_page(&e, 2 * G1 - 1, 2 * G1 - M2, B + G1 - M2, M2, RW, 1);
	struct leaf_count c = count_leaves(&e, G1, G1);
	assert_int_equal(c.n2m, 511);
	assert_int_equal(c.n4k, 512);
	expect_flush(&e, 0, (uint64_t[]){G1, G1 + M2, G1 + M2 + K4}, 3);

	/* A whole huge leaf replaced by granule pages (no ALLOW_HUGE). */
	assert_int_equal(physim_pt_map(e.pt, 3 * G1, B, M2, RW), 0);
	check_frames(&e, 5);
	assert_int_equal(physim_pt_map_region(e.pt, 3 * G1, Q, M2, PHYSIM_R, PHYSIM_REPLACE), 0);
	check_frames(&e, 6);
	expect_page(&e, 3 * G1 + 0x5000, 3 * G1 + 0x5000, Q + 0x5000, K4, PHYSIM_R, 0);

	/* The same page again with REPLACE; map_ex with REPLACE. */
	e.ncalls = 0;
	assert_int_equal(physim_pt_map_region(e.pt, 3 * G1, Q, K4, RW, PHYSIM_REPLACE), 0);
	expect_page(&e, 3 * G1, 3 * G1, Q, K4, RW, 0);
	expect_flush(&e, 0, (uint64_t[]){3 * G1}, 1);
	struct physim_pt_mapping mx = {.va = 3 * G1, .pa = 0, .size = G1, .flags = RW};
	assert_int_equal(physim_pt_map_ex(e.pt, &mx, 0), -EEXIST);
	assert_int_equal(physim_pt_map_ex(e.pt, &mx, PHYSIM_REPLACE), 0);
	expect_page(&e, 3 * G1 + 0x5000, 3 * G1, 0, G1, RW, 2);
	check_frames(&e, 4);
	env_close(&e);
}

/* ---- unmap ---- */

static void test_unmap(void **state)
{
	(void)state;
	struct env e;
	struct snap s;
	struct physim_pt_mapping m;
	env_open(&e, &toy_fmt_39, (struct env_opts){0});

	assert_int_equal(physim_pt_map(e.pt, 0x1000, 0x5000, K4, RW), 0);
	assert_int_equal(physim_pt_map(e.pt, UPPER + M2, 0x400000, M2, PHYSIM_R), 0);
	check_frames(&e, 4);
	e.ncalls = 0;
	memset(&m, 0, sizeof(m));
	assert_int_equal(physim_pt_unmap(e.pt, 0x1abc, &m), 0);
	assert_int_equal(m.va, 0x1000);
	assert_int_equal(m.pa, 0x5000);
	assert_int_equal(m.size, K4);
	assert_int_equal(m.flags, RW);
	expect_none(&e, 0x1000);
	check_frames(&e, 2); /* empty tables went with it */
	expect_flush(&e, 0, (uint64_t[]){0x1000}, 1);

	/* An address inside a 2M page unmaps the whole page. */
	assert_int_equal(physim_pt_unmap(e.pt, UPPER + M2 + 0x12345, NULL), 0);
	expect_none(&e, UPPER + M2);
	check_frames(&e, 1);
	expect_flush(&e, 1, (uint64_t[]){UPPER + M2}, 1);

	snap_take(&e, &s);
	memset(&m, 0x5a, sizeof(m));
	assert_int_equal(physim_pt_unmap(e.pt, 0x1000, &m), -ENOENT);
	assert_int_equal(m.va, UINT64_C(0x5a5a5a5a5a5a5a5a));
	assert_int_equal(physim_pt_unmap(e.pt, UINT64_C(0x8000000000), &m), -EINVAL);
	assert_int_equal(physim_pt_unmap(NULL, 0x1000, &m), -EINVAL);
	assert_int_equal(physim_pt_unmap_region(e.pt, 0, 4 * G1), 0); /* all holes */
	snap_same(&e, &s);
	snap_free(&s);

	/* Part of a 2M page: split, the rest keeps pa, flags, A/D. */
	uint64_t P = UINT64_C(0x40000000);
	assert_int_equal(physim_pt_map(e.pt, M2, P, M2, RWX), 0);
	e.ncalls = 0;
	assert_int_equal(physim_pt_unmap_region(e.pt, M2 + K4, 2 * K4), 0);
	expect_none(&e, M2 + K4);
	expect_none(&e, M2 + 2 * K4);
	expect_page(&e, M2, M2, P, K4, RWX, 0);
	expect_page(&e, M2 + 3 * K4, M2 + 3 * K4, P + 3 * K4, K4, RWX, 0);
	assert_int_equal(physim_pt_query(e.pt, 2 * M2 - K4, &m), 0);
	assert_true(m.accessed && m.dirty);
	assert_int_equal(count_leaves(&e, 0, G1).n4k, 510);
	check_frames(&e, 3);
	expect_flush(&e, 0, (uint64_t[]){M2, M2 + K4, M2 + 2 * K4}, 3);

	/* One 4K from a 1G page: two splits. */
	assert_int_equal(physim_pt_map(e.pt, 2 * G1, 0, G1, PHYSIM_R), 0);
	assert_int_equal(physim_pt_unmap_region(e.pt, 2 * G1 + M2 + 0x3000, K4), 0);
	struct leaf_count c = count_leaves(&e, 2 * G1, G1);
	assert_int_equal(c.n2m, 511);
	assert_int_equal(c.n4k, 511);
	check_frames(&e, 5);

	/* Many tables: the middle ones are freed whole. */
	assert_int_equal(physim_pt_map_region(e.pt, 4 * G1, 0, 8 * M2, RW, 0), 0);
	check_frames(&e, 5 + 1 + 8);
	assert_int_equal(physim_pt_unmap_region(e.pt, 4 * G1 + K4, 8 * M2 - 2 * K4), 0);
	expect_page(&e, 4 * G1, 4 * G1, 0, K4, RW, 0);
	expect_page(&e, 4 * G1 + 8 * M2 - K4, 4 * G1 + 8 * M2 - K4, 8 * M2 - K4, K4, RW, 0);
	assert_int_equal(count_leaves(&e, 4 * G1, G1).n4k, 2);
	check_frames(&e, 5 + 1 + 2);

	/* Everything: back to the root alone. */
	assert_int_equal(physim_pt_unmap_region(e.pt, 0, 8 * G1), 0);
	check_frames(&e, 1);
	assert_int_equal(count_leaves(&e, 0, UINT64_C(1) << 38).n4k, 0);

	/* Bad ranges. */
	snap_take(&e, &s);
	assert_int_equal(physim_pt_unmap_region(e.pt, 0x800, K4), -EINVAL);
	assert_int_equal(physim_pt_unmap_region(e.pt, 0, 0x800), -EINVAL);
	assert_int_equal(physim_pt_unmap_region(e.pt, 0, 0), -EINVAL);
	assert_int_equal(physim_pt_unmap_region(e.pt, UINT64_C(0x3ffffff000), 2 * K4), -EINVAL);
	assert_int_equal(physim_pt_unmap_region(e.pt, UINT64_C(0x8000000000), K4), -EINVAL);
	assert_int_equal(physim_pt_unmap_region(e.pt, UINT64_C(0xfffffffffffff000), 2 * K4),
			 -EINVAL);
	assert_int_equal(physim_pt_unmap_region(NULL, 0, K4), -EINVAL);
	snap_same(&e, &s);
	snap_free(&s);
	/* The very top page of the upper half. */
	assert_int_equal(physim_pt_map(e.pt, UINT64_C(0xfffffffffffff000), 0, K4, RW), 0);
	assert_int_equal(physim_pt_unmap_region(e.pt, UINT64_C(0xffffffffc0000000), G1), 0);
	check_frames(&e, 1);
	env_close(&e);
}

static void test_keep_empty_tables(void **state)
{
	(void)state;
	struct env e;
	env_open(&e, &toy_fmt_39, (struct env_opts){.keep_empty = true});
	assert_int_equal(physim_pt_map(e.pt, 0x1000, 0x5000, K4, RW), 0);
	assert_int_equal(physim_pt_unmap(e.pt, 0x1000, NULL), 0);
	check_frames(&e, 3); /* kept */
	/* Reused: no new table. */
	assert_int_equal(physim_pt_map(e.pt, 0x3000, 0x5000, K4, RW), 0);
	check_frames(&e, 3);
	assert_int_equal(physim_pt_unmap_region(e.pt, 0, M2), 0);
	check_frames(&e, 3);
	/* A huge leaf over an empty table: allowed, the table is freed. */
	assert_int_equal(physim_pt_map_region(e.pt, 0, 0, M2, RW, PHYSIM_ALLOW_HUGE), 0);
	expect_page(&e, 0x3000, 0, 0, M2, RW, 1);
	check_frames(&e, 2);
	assert_int_equal(physim_pt_unmap(e.pt, 0, NULL), 0);
	struct physim_pt_mapping mx = {.va = 0, .pa = G1, .size = G1, .flags = RW};
	assert_int_equal(physim_pt_map_ex(e.pt, &mx, 0), 0);
	check_frames(&e, 1);
	env_close(&e);
}

/* A split keeps every attribute, accessed/dirty (set here behind the
 * engine's back, as hardware would) and arch bits included. 4-byte
 * descriptors, 1 KiB level-0 tables. */
static void test_split_keeps_attributes(void **state)
{
	(void)state;
	struct env e;
	struct physim_pt_mapping m;
	env_open(&e, &toy_fmt_32, (struct env_opts){0});
	uint64_t va = 0x00300000, pa = 0x12300000;
	struct physim_pt_mapping mx = {.va = va, .pa = pa, .size = M1, .flags = RWX, .arch = 0x800};
	assert_int_equal(physim_pt_map_ex(e.pt, &mx, 0), 0);
	uint64_t root = physim_pt_root(e.pt);
	uint64_t d = raw_pte(&e, root, 3);
	assert_int_equal(d, pa | 1 | (RWX << 2) | 0x800);
	raw_set(&e, root, 3, d | TOY_A | TOY_D);

	assert_int_equal(physim_pt_protect_region(e.pt, va + K4, K4, PHYSIM_R), 0);
	check_frames(&e, 5);
	for (uint64_t i = 0; i < 256; i++) {
		assert_int_equal(physim_pt_query(e.pt, va + i * K4, &m), 0);
		assert_int_equal(m.pa, pa + i * K4);
		assert_int_equal(m.size, K4);
		assert_int_equal(m.flags, i == 1 ? PHYSIM_R : RWX);
		assert_int_equal(m.arch, 0x800);
		assert_true(m.accessed);
		assert_true(m.dirty);
	}
	/* The raw level-0 descriptors: pa | V | T | flags | A | D | arch. */
	uint64_t l0 = toy_output_addr(e.f, raw_pte(&e, root, 3), 1);
	assert_int_equal(raw_pte(&e, l0, 0), pa | 3 | (RWX << 2) | 0x300 | 0x800);
	assert_int_equal(raw_pte(&e, l0, 1), (pa + K4) | 3 | (PHYSIM_R << 2) | 0x300 | 0x800);
	/* The level-0 table is one whole frame although it needs 1 KiB. */
	assert_true(physim_is_aligned(l0, 4096));

	/* Stage-2 style: U accepted, never reported. */
	assert_int_equal(physim_pt_map(e.pt, 0x500000, 0x500000, K4, RW | PHYSIM_U), 0);
	expect_page(&e, 0x500000, 0x500000, 0x500000, K4, RW, 0);
	env_close(&e);
}

/* ---- protect ---- */

static void test_protect(void **state)
{
	(void)state;
	struct env e;
	struct snap s;
	struct physim_pt_mapping m;
	env_open(&e, &toy_fmt_39, (struct env_opts){0});

	struct physim_pt_mapping mx = {
	    .va = 0x1000, .pa = 0x5000, .size = K4, .flags = PHYSIM_R, .arch = 0x400};
	assert_int_equal(physim_pt_map_ex(e.pt, &mx, 0), 0);
	assert_int_equal(physim_pt_query(e.pt, 0x1000, &m), 0);
	assert_false(m.dirty);
	e.ncalls = 0;
	assert_int_equal(physim_pt_protect(e.pt, 0x1800, RWX), 0);
	assert_int_equal(physim_pt_query(e.pt, 0x1000, &m), 0);
	assert_int_equal(m.flags, RWX);
	assert_int_equal(m.arch, 0x400); /* kept */
	assert_int_equal(m.pa, 0x5000);
	assert_true(m.dirty); /* toy-39 pre-sets dirty on writable leaves */
	expect_flush(&e, 0, (uint64_t[]){0x1000}, 1);
	/* Same flags again: the descriptor does not change, no flush. */
	assert_int_equal(physim_pt_protect(e.pt, 0x1000, RWX), 0);
	assert_int_equal(e.ncalls, 1);

	/* A huge page through an address inside it: no split. */
	assert_int_equal(physim_pt_map(e.pt, G1, 0, M2, PHYSIM_R), 0);
	assert_int_equal(physim_pt_protect(e.pt, G1 + 0x12345, PHYSIM_R | PHYSIM_X), 0);
	expect_page(&e, G1, G1, 0, M2, PHYSIM_R | PHYSIM_X, 1);
	check_frames(&e, 4);

	/* Region over holes and pages; holes stay holes, no tables made. */
	assert_int_equal(physim_pt_map_region(e.pt, 0x10000, 0x10000, 4 * K4, RW, 0), 0);
	e.ncalls = 0;
	assert_int_equal(physim_pt_protect_region(e.pt, 0, 2 * G1, PHYSIM_R), 0);
	for (uint64_t i = 0; i < 4; i++)
		expect_page(&e, 0x10000 + i * K4, 0x10000 + i * K4, 0x10000 + i * K4, K4, PHYSIM_R,
			    0);
	expect_page(&e, 0x1000, 0x1000, 0x5000, K4, PHYSIM_R, 0);
	expect_page(&e, G1, G1, 0, M2, PHYSIM_R, 1);
	expect_none(&e, 0x2000);
	expect_none(&e, G1 + M2);
	check_frames(&e, 4);
	expect_flush(&e, 0, (uint64_t[]){0x1000, 0x10000, 0x11000, 0x12000, 0x13000, G1}, 6);

	/* Part of a huge page: split. */
	assert_int_equal(physim_pt_protect_region(e.pt, G1 + M2 - K4, K4, RW), 0);
	expect_page(&e, G1 + M2 - K4, G1 + M2 - K4, M2 - K4, K4, RW, 0);
	expect_page(&e, G1, G1, 0, K4, PHYSIM_R, 0);
	check_frames(&e, 5);

	/* Failures change nothing. */
	snap_take(&e, &s);
	assert_int_equal(physim_pt_protect_region(e.pt, 0, G1, PHYSIM_W), -ENOTSUP);
	assert_int_equal(physim_pt_protect_region(e.pt, 4 * G1, G1, PHYSIM_W), -ENOTSUP);
	assert_int_equal(physim_pt_protect(e.pt, 0x1000, PHYSIM_DEVICE | PHYSIM_UNCACHED),
			 -ENOTSUP);
	assert_int_equal(physim_pt_protect(e.pt, 0x1000, 1u << 7), -EINVAL);
	assert_int_equal(physim_pt_protect_region(e.pt, 0, G1, 1u << 7), -EINVAL);
	assert_int_equal(physim_pt_protect(e.pt, 0x2000, PHYSIM_R), -ENOENT);
	assert_int_equal(physim_pt_protect(e.pt, UINT64_C(0x8000000000), PHYSIM_R), -EINVAL);
	assert_int_equal(physim_pt_protect_region(e.pt, 0x800, K4, PHYSIM_R), -EINVAL);
	assert_int_equal(physim_pt_protect_region(e.pt, 0, 0, PHYSIM_R), -EINVAL);
	assert_int_equal(physim_pt_protect_region(e.pt, UINT64_C(0x3ffffff000), 2 * K4, PHYSIM_R),
			 -EINVAL);
	assert_int_equal(physim_pt_protect_region(NULL, 0, K4, PHYSIM_R), -EINVAL);
	assert_int_equal(physim_pt_protect(NULL, 0, PHYSIM_R), -EINVAL);
	snap_same(&e, &s);
	snap_free(&s);
	env_close(&e);
}

/* ---- remap ---- */

static void test_remap(void **state)
{
	(void)state;
	struct env e;
	struct snap s;
	struct physim_pt_mapping m;
	env_open(&e, &toy_fmt_39, (struct env_opts){0});
	struct physim_pt_mapping mx = {
	    .va = 0x1000, .pa = 0x5000, .size = K4, .flags = RW, .arch = 0x800};
	assert_int_equal(physim_pt_map_ex(e.pt, &mx, 0), 0);
	assert_int_equal(physim_pt_map(e.pt, M2, 0, M2, RW), 0);
	e.ncalls = 0;

	assert_int_equal(physim_pt_remap(e.pt, 0x1000, 0x9000, PHYSIM_R), 0);
	assert_int_equal(physim_pt_query(e.pt, 0x1000, &m), 0);
	assert_int_equal(m.pa, 0x9000);
	assert_int_equal(m.flags, PHYSIM_R);
	assert_int_equal(m.arch, 0x800);
	assert_false(m.dirty); /* a new page, not writable */
	expect_flush(&e, 0, (uint64_t[]){0x1000}, 1);
	assert_int_equal(physim_pt_remap(e.pt, M2, 4 * M2, RWX), 0);
	expect_page(&e, M2 + 5, M2, 4 * M2, M2, RWX, 1);
	check_frames(&e, 3);

	snap_take(&e, &s);
	assert_int_equal(physim_pt_remap(e.pt, M2 + K4, 0, RW), -EINVAL); /* not the start */
	assert_int_equal(physim_pt_remap(e.pt, M2, K4, RW), -EINVAL);	  /* pa misaligned */
	assert_int_equal(physim_pt_remap(e.pt, 0x1000, UINT64_C(1) << 40, RW), -EINVAL);
	assert_int_equal(physim_pt_remap(e.pt, 0x3000, 0, RW), -ENOENT);
	assert_int_equal(physim_pt_remap(e.pt, 0x1000, 0, PHYSIM_W), -ENOTSUP);
	assert_int_equal(physim_pt_remap(e.pt, 0x1000, 0, 1u << 9), -EINVAL);
	assert_int_equal(physim_pt_remap(e.pt, UINT64_C(0x8000000000), 0, RW), -EINVAL);
	assert_int_equal(physim_pt_remap(NULL, 0x1000, 0, RW), -EINVAL);
	snap_same(&e, &s);
	snap_free(&s);
	env_close(&e);
}

/* ---- flush batching ---- */

static void test_flush_batching(void **state)
{
	(void)state;
	struct env e;
	env_open(&e, &toy_fmt_39, (struct env_opts){0});
	uint64_t vas[32];
	for (size_t i = 0; i < 32; i++)
		vas[i] = 0x100000 + i * K4;

	assert_int_equal(physim_pt_map_region(e.pt, 0x100000, 0, 32 * K4, RW, 0), 0);
	assert_int_equal(e.ncalls, 1);
	expect_flush(&e, 0, vas, 32);
	assert_int_equal(physim_pt_protect_region(e.pt, 0x100000, 32 * K4, PHYSIM_R), 0);
	expect_flush(&e, 1, vas, 32);
	assert_int_equal(physim_pt_unmap_region(e.pt, 0x100000, 32 * K4), 0);
	expect_flush(&e, 2, vas, 32);

	assert_int_equal(physim_pt_map_region(e.pt, 0x100000, 0, 33 * K4, RW, 0), 0);
	expect_flush_all(&e, 3);
	assert_int_equal(physim_pt_protect_region(e.pt, 0x100000, 33 * K4, PHYSIM_R), 0);
	expect_flush_all(&e, 4);
	assert_int_equal(physim_pt_unmap_region(e.pt, 0x100000, 33 * K4), 0);
	expect_flush_all(&e, 5);

	/* Nothing changed, nothing reported; failures report nothing. */
	assert_int_equal(physim_pt_unmap_region(e.pt, 0, G1), 0);
	assert_int_equal(physim_pt_protect_region(e.pt, 0, G1, RW), 0);
	assert_int_equal(physim_pt_map_region(e.pt, 0, 0, K4, PHYSIM_W, 0), -ENOTSUP);
	assert_int_equal(e.ncalls, 6);

	/* Unmapping a subtree reports its leaves: 3 pages under one 2M. */
	assert_int_equal(physim_pt_map_region(e.pt, G1, 0, 3 * K4, RW, 0), 0);
	assert_int_equal(physim_pt_map(e.pt, G1 + 40 * K4, 0, K4, RW), 0);
	e.ncalls = 0;
	assert_int_equal(physim_pt_unmap_region(e.pt, G1, G1), 0);
	expect_flush(&e, 0, (uint64_t[]){G1, G1 + K4, G1 + 2 * K4, G1 + 40 * K4}, 4);
	/* Replacing a subtree by a huge leaf reports the old leaves and the
	 * new one. */
	assert_int_equal(physim_pt_map_region(e.pt, G1 + K4, 0, 2 * K4, RW, 0), 0);
	assert_int_equal(
	    physim_pt_map_region(e.pt, G1, 0, M2, RW, PHYSIM_ALLOW_HUGE | PHYSIM_REPLACE), 0);
	expect_flush(&e, 2, (uint64_t[]){G1, G1 + K4, G1 + 2 * K4}, 3);
	check_frames(&e, 2);
	env_close(&e);
}

/* ---- map_region_cb ---- */

struct cb_ctx {
	uint64_t base_va;
	uint64_t calls;
	uint64_t fail_at; /* page index to fail at; UINT64_MAX: never */
	int fail_rc;
	uint64_t bad_pa_at;
	uint64_t bad_pa;
};

/* Pages in reverse order: page i of n gets pa 0x10000000 + (n-1-i) * 4K. */
static int pa_reverse(void *ctx, uint64_t va, uint64_t *pa)
{
	struct cb_ctx *c = ctx;
	uint64_t i = (va - c->base_va) / K4;
	assert_int_equal(i, c->calls); /* in order, once each */
	c->calls++;
	if (i == c->fail_at)
		return c->fail_rc;
	*pa = i == c->bad_pa_at ? c->bad_pa : UINT64_C(0x10000000) + (63 - i) * K4;
	return 0;
}

static void test_map_region_cb(void **state)
{
	(void)state;
	struct env e;
	struct snap s;
	env_open(&e, &toy_fmt_39, (struct env_opts){0});
	assert_int_equal(physim_pt_map(e.pt, M2 + 10 * K4, 0, K4, RW), 0);
	e.ncalls = 0;
	snap_take(&e, &s);

	/* Failures at the first, a middle and the last page, a misaligned
	 * and a too-wide pa, a conflict: nothing changes. */
	struct cb_ctx c = {.base_va = 0, .fail_at = UINT64_MAX, .bad_pa_at = UINT64_MAX};
	static const uint64_t fail_at[] = {0, 17, 63};
	for (size_t k = 0; k < 3; k++) {
		c.calls = 0;
		c.fail_at = fail_at[k];
		c.fail_rc = -EIO;
		assert_int_equal(physim_pt_map_region_cb(e.pt, 0, 64 * K4, RW, 0, pa_reverse, &c),
				 -EIO);
		assert_int_equal(c.calls, fail_at[k] + 1);
		snap_same(&e, &s);
	}
	c.fail_at = UINT64_MAX;
	c.calls = 0;
	c.bad_pa_at = 5;
	c.bad_pa = 0x10000800;
	assert_int_equal(physim_pt_map_region_cb(e.pt, 0, 64 * K4, RW, 0, pa_reverse, &c), -EINVAL);
	c.calls = 0;
	c.bad_pa = UINT64_C(1) << 40;
	assert_int_equal(physim_pt_map_region_cb(e.pt, 0, 64 * K4, RW, 0, pa_reverse, &c), -EINVAL);
	snap_same(&e, &s);
	c.bad_pa_at = UINT64_MAX;
	/* A conflict is found before the callback is asked for anything. */
	c.base_va = M2;
	c.calls = 0;
	assert_int_equal(physim_pt_map_region_cb(e.pt, M2, 64 * K4, RW, 0, pa_reverse, &c),
			 -EEXIST);
	assert_int_equal(c.calls, 0);
	assert_int_equal(physim_pt_map_region_cb(e.pt, M2, 64 * K4, PHYSIM_W, 0, pa_reverse, &c),
			 -ENOTSUP);
	assert_int_equal(physim_pt_map_region_cb(e.pt, M2, 64 * K4, RW, 0, NULL, &c), -EINVAL);
	assert_int_equal(physim_pt_map_region_cb(e.pt, M2 + 1, K4, RW, 0, pa_reverse, &c), -EINVAL);
	assert_int_equal(physim_pt_map_region_cb(NULL, M2, K4, RW, 0, pa_reverse, &c), -EINVAL);
	snap_same(&e, &s);
	snap_free(&s);

	/* Success; ALLOW_HUGE does not apply (2M-aligned va, still 4K). */
	c.base_va = 0;
	c.calls = 0;
	assert_int_equal(
	    physim_pt_map_region_cb(e.pt, 0, 64 * K4, RW, PHYSIM_ALLOW_HUGE, pa_reverse, &c), 0);
	assert_int_equal(c.calls, 64);
	for (uint64_t i = 0; i < 64; i++)
		expect_page(&e, i * K4, i * K4, 0x10000000 + (63 - i) * K4, K4, RW, 0);
	expect_none(&e, 64 * K4);
	expect_flush_all(&e, 0);

	/* REPLACE over the existing page, 2 pages: exact VAs. */
	c.base_va = M2 + 9 * K4;
	c.calls = 0;
	assert_int_equal(physim_pt_map_region_cb(e.pt, M2 + 9 * K4, 2 * K4, PHYSIM_R,
						 PHYSIM_REPLACE, pa_reverse, &c),
			 0);
	expect_page(&e, M2 + 10 * K4, M2 + 10 * K4, 0x10000000 + 62 * K4, K4, PHYSIM_R, 0);
	expect_flush(&e, 1, (uint64_t[]){M2 + 9 * K4, M2 + 10 * K4}, 2);
	env_close(&e);
}

/* ---- walk ---- */

#define MAX_EV 64

struct ev {
	char kind; /* 'T'able, 'H'ole, 'L'eaf */
	uint64_t va, size;
	unsigned level;
	uint64_t pa;
};

struct evlog {
	struct ev ev[MAX_EV];
	size_t n;
	size_t stop_at; /* event number whose callback returns stop_rc */
	int stop_rc;
};

static int ev_add(struct evlog *l, char kind, uint64_t va, uint64_t size, unsigned level,
		  uint64_t pa)
{
	assert_true(l->n < MAX_EV);
	l->ev[l->n] = (struct ev){kind, va, size, level, pa};
	return l->n++ == l->stop_at ? l->stop_rc : 0;
}

static int ev_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	return ev_add(ctx, 'L', m->va, m->size, m->level, m->pa);
}

static int ev_hole(void *ctx, uint64_t va, uint64_t size, unsigned level)
{
	return ev_add(ctx, 'H', va, size, level, 0);
}

static int ev_table(void *ctx, uint64_t va, uint64_t span, unsigned level, physim_hpa_t pa)
{
	return ev_add(ctx, 'T', va, span, level, pa);
}

static const struct physim_pt_walk_ops ev_ops = {ev_leaf, ev_hole, ev_table};

static void expect_events(const struct evlog *l, const struct ev *ev, size_t n)
{
	if (l->n != n)
		for (size_t i = 0; i < l->n; i++)
			print_message("%c %#llx %#llx %u\n", l->ev[i].kind,
				      (unsigned long long)l->ev[i].va,
				      (unsigned long long)l->ev[i].size, l->ev[i].level);
	assert_int_equal(l->n, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(l->ev[i].kind, ev[i].kind);
		assert_int_equal(l->ev[i].va, ev[i].va);
		assert_int_equal(l->ev[i].size, ev[i].size);
		assert_int_equal(l->ev[i].level, ev[i].level);
		assert_int_equal(l->ev[i].pa, ev[i].pa);
	}
}

static void test_walk(void **state)
{
	(void)state;
	struct env e;
	struct evlog l;
	env_open(&e, &toy_fmt_39, (struct env_opts){0});
	assert_int_equal(physim_pt_map(e.pt, 0x1000, 0x5000, K4, RW), 0);
	assert_int_equal(physim_pt_map(e.pt, 2 * M2, 0x400000, M2, RW), 0);
	uint64_t root = physim_pt_root(e.pt);
	uint64_t l1 = raw_table(&e, 0, 1), l0 = raw_table(&e, 0, 0);

	memset(&l, 0, sizeof(l));
	l.stop_at = SIZE_MAX;
	assert_int_equal(physim_pt_walk(e.pt, 0, 4 * M2, &ev_ops, &l), 0);
	const struct ev want[] = {
	    {'T', 0, UINT64_C(1) << 39, 2, root},
	    {'T', 0, G1, 1, l1},
	    {'T', 0, M2, 0, l0},
	    {'H', 0, K4, 0, 0},
	    {'L', 0x1000, K4, 0, 0x5000},
	    {'H', 0x2000, M2 - 0x2000, 0, 0},
	    {'H', M2, M2, 1, 0},
	    {'L', 2 * M2, M2, 1, 0x400000},
	    {'H', 3 * M2, M2, 1, 0},
	};
	expect_events(&l, want, sizeof(want) / sizeof(want[0]));

	/* A range that starts inside a huge page reports all of it. */
	memset(&l, 0, sizeof(l));
	l.stop_at = SIZE_MAX;
	assert_int_equal(physim_pt_walk(e.pt, 2 * M2 + 0x5000, K4, &ev_ops, &l), 0);
	const struct ev want2[] = {
	    {'T', 0, UINT64_C(1) << 39, 2, root},
	    {'T', 0, G1, 1, l1},
	    {'L', 2 * M2, M2, 1, 0x400000},
	};
	expect_events(&l, want2, 3);

	/* Holes only, and clipped to the range. */
	memset(&l, 0, sizeof(l));
	l.stop_at = SIZE_MAX;
	assert_int_equal(physim_pt_walk(e.pt, G1 + K4, 3 * G1 - K4, &ev_ops, &l), 0);
	const struct ev want3[] = {
	    {'T', 0, UINT64_C(1) << 39, 2, root},
	    {'H', G1 + K4, 3 * G1 - K4, 2, 0},
	};
	expect_events(&l, want3, 2);

	/* Early stop from each kind of callback. */
	static const struct {
		size_t at;
		int rc;
	} stops[] = {{0, -3}, {2, 9}, {3, 5}, {4, 7}, {8, 1}};
	for (size_t k = 0; k < 5; k++) {
		memset(&l, 0, sizeof(l));
		l.stop_at = stops[k].at;
		l.stop_rc = stops[k].rc;
		assert_int_equal(physim_pt_walk(e.pt, 0, 4 * M2, &ev_ops, &l), stops[k].rc);
		assert_int_equal(l.n, stops[k].at + 1);
	}

	/* Callbacks are optional; bad arguments. */
	struct physim_pt_walk_ops none = {0};
	assert_int_equal(physim_pt_walk(e.pt, 0, G1, &none, NULL), 0);
	assert_int_equal(physim_pt_walk(e.pt, K4, 0, &ev_ops, &l), -EINVAL); /* 0, 0: all */
	assert_int_equal(physim_pt_walk(e.pt, 0, G1, NULL, &l), -EINVAL);
	assert_int_equal(physim_pt_walk(NULL, 0, G1, &ev_ops, &l), -EINVAL);
	assert_int_equal(physim_pt_walk(e.pt, UINT64_C(0x8000000000), K4, &ev_ops, &l), -EINVAL);
	assert_int_equal(physim_pt_walk(e.pt, UINT64_C(0x3ffffff000), 2 * K4, &ev_ops, &l),
			 -EINVAL);

	/* The upper half reports canonical addresses. */
	assert_int_equal(physim_pt_map(e.pt, UINT64_C(0xfffffffffffff000), 0x7000, K4, RW), 0);
	memset(&l, 0, sizeof(l));
	l.stop_at = SIZE_MAX;
	struct physim_pt_walk_ops leaves = {.leaf = ev_leaf};
	assert_int_equal(physim_pt_walk(e.pt, UPPER, UINT64_C(1) << 38, &leaves, &l), 0);
	const struct ev want4[] = {{'L', UINT64_C(0xfffffffffffff000), K4, 0, 0x7000}};
	expect_events(&l, want4, 1);
	env_close(&e);
}

/* ---- hostile table memory ---- */

static void expect_fault_everywhere(struct env *e, uint64_t va)
{
	struct snap s;
	struct physim_pt_mapping m;
	struct leaf_count c = {0};
	struct physim_pt_walk_ops ops = {.leaf = count_leaf};
	uint64_t gran = pt_level_page_size(e->f, 0);
	snap_take(e, &s);
	assert_int_equal(physim_pt_query(e->pt, va, &m), -EFAULT);
	assert_int_equal(physim_pt_walk(e->pt, 0, 4 * G1, &ops, &c), -EFAULT);
	assert_int_equal(physim_pt_unmap_region(e->pt, va, gran), -EFAULT);
	assert_int_equal(physim_pt_unmap_region(e->pt, 0, 4 * G1), -EFAULT);
	assert_int_equal(physim_pt_protect_region(e->pt, 0, 4 * G1, PHYSIM_R), -EFAULT);
	assert_int_equal(physim_pt_map_region(e->pt, va, 0, gran, RW, 0), -EFAULT);
	assert_int_equal(physim_pt_map_region(e->pt, va, 0, gran, RW, PHYSIM_REPLACE), -EFAULT);
	assert_int_equal(
	    physim_pt_map_region(e->pt, 0, 0, 4 * G1, RW, PHYSIM_REPLACE | PHYSIM_ALLOW_HUGE),
	    -EFAULT);
	snap_same(e, &s);
	snap_free(&s);
}

static void test_hostile_targeted(void **state)
{
	(void)state;
	for (int direct = 0; direct < 2; direct++) {
		struct env e;
		struct snap clean;
		env_open(&e, &toy_fmt_39, (struct env_opts){.no_direct = direct == 0});
		assert_int_equal(physim_pt_map_region(e.pt, G1, 0, 4 * K4, RW, 0), 0);
		assert_int_equal(physim_pt_map(e.pt, 0x1000, 0x5000, K4, RW), 0);
		uint64_t l1 = raw_table(&e, G1, 1), l0 = raw_table(&e, G1, 0);
		uint64_t root = physim_pt_root(e.pt);
		snap_take(&e, &clean);
		e.ncalls = 0;
		uint64_t va = G1 + K4;

		/* A table pointer outside RAM, one running past its end. */
		raw_set(&e, l1, 0, UINT64_C(0x1000) | TOY_V | TOY_T);
		expect_fault_everywhere(&e, va);
		struct physim_pt_mapping m;
		raw_set(&e, l1, 0, (RAM_BASE + RAM_SIZE) | TOY_V | TOY_T);
		expect_fault_everywhere(&e, va);
		snap_restore(&e, &clean);

		/* Reserved descriptors at each level. */
		raw_set(&e, root, 1, raw_pte(&e, root, 1) | TOY_RSVD);
		expect_fault_everywhere(&e, va);
		snap_restore(&e, &clean);
		raw_set(&e, l1, 0, raw_pte(&e, l1, 0) | TOY_RSVD);
		expect_fault_everywhere(&e, va);
		snap_restore(&e, &clean);
		raw_set(&e, l0, 1, raw_pte(&e, l0, 1) | TOY_RSVD);
		assert_int_equal(physim_pt_query(e.pt, va, &m), -EFAULT);
		assert_int_equal(
		    physim_pt_walk(e.pt, G1, G1, &ev_ops, &(struct evlog){.stop_at = SIZE_MAX}),
		    -EFAULT);
		assert_int_equal(physim_pt_protect_region(e.pt, G1, G1, PHYSIM_R), -EFAULT);
		snap_restore(&e, &clean);
		/* A level-0 entry without T, a misaligned 2M leaf, W without R. */
		raw_set(&e, l0, 1, raw_pte(&e, l0, 1) & ~TOY_T);
		assert_int_equal(physim_pt_query(e.pt, va, &m), -EFAULT);
		snap_restore(&e, &clean);
		raw_set(&e, l1, 3, 0x1000 | TOY_V | (RW << 2));
		assert_int_equal(physim_pt_query(e.pt, G1 + 3 * M2, &m), -EFAULT);
		snap_restore(&e, &clean);
		raw_set(&e, l0, 1, (raw_pte(&e, l0, 1) & ~(UINT64_C(0x3f) << 2)) | (PHYSIM_W << 2));
		assert_int_equal(physim_pt_query(e.pt, va, &m), -EFAULT);
		snap_restore(&e, &clean);

		/* A cycle: a level-1 entry pointing back at the root. The
		 * root read as a level-0 table has valid-looking entries;
		 * depth stays bounded by the level count. */
		raw_set(&e, l1, 5, root | TOY_V | TOY_T);
		int rc = physim_pt_query(e.pt, G1 + 5 * M2, &m);
		assert_true(rc == 0 || rc == -EFAULT || rc == -ENOENT);
		struct leaf_count c = {0};
		struct physim_pt_walk_ops ops = {.leaf = count_leaf};
		rc = physim_pt_walk(e.pt, 0, 4 * G1, &ops, &c);
		assert_true(rc == 0 || rc == -EFAULT);
		snap_restore(&e, &clean);

		assert_int_equal(e.ncalls, 0);
		snap_free(&clean);
		env_close(&e);
	}
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	return tc_rand(&rng_state);
}

/* Mark the RAM frames of every table reachable from the table at t. */
static void mark_tables(const struct env *e, uint64_t t, unsigned lvl, bool *is_table)
{
	const struct physim_pt_format *f = e->f;
	uint64_t bytes = pt_level_entries(f, lvl) * f->pte_bytes;
	for (uint64_t i = 0; i < (bytes < 4096 ? 1 : bytes / 4096); i++)
		is_table[(t - RAM_BASE) / 4096 + i] = true;
	for (uint64_t i = 0; lvl > 0 && i < pt_level_entries(f, lvl); i++) {
		uint64_t d = raw_pte(e, t, i);
		if ((d & TOY_V) && (d & TOY_T))
			mark_tables(e, toy_output_addr(f, d, lvl), lvl - 1, is_table);
	}
}

/* A random descriptor: hole, noise, a table pointer into RAM or just past
 * it, or something leaf-like. */
static uint64_t garbage(const struct physim_pt_format *f)
{
	uint64_t r = rnd(), frame = RAM_BASE + (rnd() % (RAM_SIZE / 4096 + 4)) * 4096;
	uint64_t d;
	switch (r % 6) {
	case 0:
		d = 0;
		break;
	case 1:
		d = rnd();
		break;
	case 2:
	case 3:
		d = frame | TOY_V | TOY_T | (rnd() & 0xff0);
		break;
	default:
		d = (rnd() & toy_addr_mask(f)) | TOY_V | (rnd() & 0xffe);
		break;
	}
	return f->pte_bytes == 4 ? (uint32_t)d : d;
}

static int any_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	(void)m;
	++*(uint64_t *)ctx;
	return 0;
}

/* Garbage in every table: query and walk return errors or results, never
 * crash or loop (run under ASan/UBSan too). */
static void test_hostile_random(void **state)
{
	(void)state;
	rng_state = 12345;
	for (size_t k = 0; k < TOY_FORMAT_COUNT * 2; k++) {
		const struct physim_pt_format *f = toy_formats[k % TOY_FORMAT_COUNT];
		struct env e;
		struct snap clean;
		env_open(&e, f, (struct env_opts){.no_direct = k >= TOY_FORMAT_COUNT});
		uint64_t gran = pt_level_page_size(f, 0);
		/* Some real tables to corrupt. */
		for (uint64_t i = 0; i < 8; i++)
			assert_int_equal(physim_pt_map(e.pt, i * 37 * pt_level_page_size(f, 1), 0,
						       gran, PHYSIM_R),
					 0);
		snap_take(&e, &clean);
		static bool is_table[RAM_SIZE / 4096];
		memset(is_table, 0, sizeof(is_table));
		mark_tables(&e, physim_pt_root(e.pt), f->levels - 1u, is_table);
		uint64_t space =
		    f->sign_extended ? UINT64_C(1) << (f->va_bits - 1) : UINT64_C(1) << f->va_bits;
		for (int round = 0; round < 10; round++) {
			/* Every byte of RAM that holds a table, and a few
			 * more frames, becomes garbage. */
			for (uint64_t fr = 0; fr < RAM_SIZE / 4096; fr++) {
				if (!is_table[fr] && rnd() % 64 != 0)
					continue;
				uint64_t n = 4096 / f->pte_bytes;
				for (uint64_t i = 0; i < n; i++)
					raw_set(&e, RAM_BASE + fr * 4096, i, garbage(f));
			}
			for (int q = 0; q < 500; q++) {
				uint64_t va = rnd() % space & ~(gran - 1);
				if (f->sign_extended && (rnd() & 1))
					va |= ~(space - 1);
				struct physim_pt_mapping m;
				int rc = physim_pt_query(e.pt, va, &m);
				assert_true(rc == 0 || rc == -ENOENT || rc == -EFAULT);
				if (rc == 0) {
					assert_true(m.va <= va && va - m.va < m.size);
					assert_true(m.level < f->levels);
				}
			}
			for (int w = 0; w < 4; w++) {
				uint64_t va = rnd() % space & ~(gran - 1);
				uint64_t leaves = 0;
				struct physim_pt_walk_ops ops = {.leaf = any_leaf};
				uint64_t size = space - va < G1 ? space - va : G1;
				int rc = physim_pt_walk(e.pt, va, size, &ops, &leaves);
				assert_true(rc == 0 || rc == -EFAULT);
			}
			snap_restore(&e, &clean);
		}
		snap_free(&clean);
		env_close(&e);
	}
}

/* ---- allocation failure injection ---- */

/* Fail the 1st, 2nd, ... allocation of op until it succeeds; after each
 * failure the table memory and frame count are as before. Returns the number
 * of failed attempts. */
typedef int (*op_fn)(struct env *e, void *arg);

static uint64_t fail_until_success(struct env *e, op_fn op, void *arg)
{
	struct snap s;
	snap_take(e, &s);
	uint64_t n;
	for (n = 1;; n++) {
		struct physim_counting_hal_config plan = {.fail_nth = n};
		physim_counting_hal_set_plan(e->ch, &plan);
		int rc = op(e, arg);
		if (rc == 0)
			break;
		assert_int_equal(rc, -ENOMEM);
		snap_same(e, &s);
		assert_true(n < 100000);
	}
	struct physim_counting_hal_config none = {0};
	physim_counting_hal_set_plan(e->ch, &none);
	snap_free(&s);
	return n - 1;
}

struct region_arg {
	uint64_t va, pa, size;
	uint32_t flags;
	unsigned opts;
};

static int op_map_region(struct env *e, void *arg)
{
	struct region_arg *a = arg;
	return physim_pt_map_region(e->pt, a->va, a->pa, a->size, a->flags, a->opts);
}

static int op_unmap_region(struct env *e, void *arg)
{
	struct region_arg *a = arg;
	return physim_pt_unmap_region(e->pt, a->va, a->size);
}

static int op_protect_region(struct env *e, void *arg)
{
	struct region_arg *a = arg;
	return physim_pt_protect_region(e->pt, a->va, a->size, a->flags);
}

static int pa_linear(void *ctx, uint64_t va, uint64_t *pa)
{
	(void)ctx;
	*pa = va + 0x10000000;
	return 0;
}

static int op_map_cb(struct env *e, void *arg)
{
	struct region_arg *a = arg;
	return physim_pt_map_region_cb(e->pt, a->va, a->size, a->flags, a->opts, pa_linear, NULL);
}

static void test_fail_injection(void **state)
{
	(void)state;
	struct env e;
	env_open(&e, &toy_fmt_39, (struct env_opts){0});
	/* Existing tables in the way: L1 for [0,1G) and L0 for [0,2M). */
	assert_int_equal(physim_pt_map(e.pt, 0x1000, 0, K4, RW), 0);
	e.ncalls = 0;

	/* 256 MiB of 4K pages from 64 MiB: 128 new level-0 tables. */
	struct region_arg a = {.va = 64 << 20, .pa = 0, .size = 256 << 20, .flags = RW};
	assert_int_equal(fail_until_success(&e, op_map_region, &a), 128);
	check_frames(&e, 3 + 128);
	expect_page(&e, a.va + a.size - 1, a.va + a.size - K4, a.size - K4, K4, RW, 0);
	assert_int_equal(e.ncalls, 1);

	/* A huge mapping across three 1G slots with head and tail pages:
	 * new L1 tables for [1G,2G) and [3G,4G), L0 tables for head/tail. */
	a = (struct region_arg){.va = 2 * G1 - M2 - K4,
				.pa = 2 * G1 - M2 - K4,
				.size = K4 + M2 + G1 + M2 + K4,
				.flags = RW,
				.opts = PHYSIM_ALLOW_HUGE};
	assert_int_equal(fail_until_success(&e, op_map_region, &a), 4);
	check_frames(&e, 3 + 128 + 4);

	/* Splits: 1G -> 2M -> 4K for unmap and protect, REPLACE. */
	assert_int_equal(physim_pt_map(e.pt, 5 * G1, 0, G1, RW), 0);
	a = (struct region_arg){.va = 5 * G1 + 7 * M2 + 3 * K4, .size = K4};
	assert_int_equal(fail_until_success(&e, op_unmap_region, &a), 2);
	expect_none(&e, a.va);
	assert_int_equal(physim_pt_map(e.pt, 6 * G1, 0, G1, RW), 0);
	a = (struct region_arg){.va = 6 * G1 + 9 * M2 - K4, .size = 2 * K4, .flags = PHYSIM_R};
	assert_int_equal(fail_until_success(&e, op_protect_region, &a), 3);
	expect_page(&e, a.va, a.va, 9 * M2 - K4, K4, PHYSIM_R, 0);
	expect_page(&e, a.va - K4, a.va - K4, 9 * M2 - 2 * K4, K4, RW, 0);
	assert_int_equal(physim_pt_map(e.pt, 7 * G1, 0, G1, RW), 0);
	a = (struct region_arg){
	    .va = 7 * G1 + M2 + K4, .pa = 0, .size = K4, .flags = RW, .opts = PHYSIM_REPLACE};
	assert_int_equal(fail_until_success(&e, op_map_region, &a), 2);
	/* map_region_cb: 8 MiB = 4 level-0 tables, in a new L1 table. */
	a = (struct region_arg){.va = 9 * G1, .size = 8 << 20, .flags = RW};
	assert_int_equal(fail_until_success(&e, op_map_cb, &a), 5);
	expect_page(&e, 9 * G1 + 0x5000, 9 * G1 + 0x5000, 9 * G1 + 0x10005000, K4, RW, 0);
	env_close(&e);

	/* 4-byte descriptors with 1 KiB tables: 64 MiB = 64 level-0 tables. */
	env_open(&e, &toy_fmt_32, (struct env_opts){0});
	a = (struct region_arg){.va = 0x10000000, .pa = 0x10000000, .size = 64 << 20, .flags = RW};
	assert_int_equal(fail_until_success(&e, op_map_region, &a), 64);
	check_frames(&e, 4 + 64);
	env_close(&e);

	/* 16K granule, 16 KiB tables (alloc_frames): 256 MiB of 16K pages =
	 * 8 level-0 tables + 1 level-1 table. */
	env_open(&e, &toy_fmt_16k, (struct env_opts){0});
	a = (struct region_arg){.va = UINT64_C(1) << 30, .pa = 0, .size = 256 << 20, .flags = RW};
	assert_int_equal(fail_until_success(&e, op_map_region, &a), 9);
	check_frames(&e, 1 + 9 * 4);
	a = (struct region_arg){.va = UINT64_C(2) << 30,
				.pa = 0,
				.size = 256 << 20,
				.flags = RW,
				.opts = PHYSIM_ALLOW_HUGE};
	assert_int_equal(fail_until_success(&e, op_map_region, &a), 0); /* 8 x 32M leaves */
	a = (struct region_arg){
	    .va = (UINT64_C(2) << 30) + (32 << 20) + (16 << 10), .size = 16 << 10, .flags = RW};
	assert_int_equal(fail_until_success(&e, op_unmap_region, &a), 1);
	check_frames(&e, 1 + 9 * 4 + 4);
	/* A table that would run past the end of RAM (16 KiB at the last
	 * frame) is refused. */
	uint64_t l1 = raw_table(&e, a.va, 1);
	raw_set(&e, l1, 3, (RAM_BASE + RAM_SIZE - 4096) | TOY_V | TOY_T);
	expect_fault_everywhere(&e, 3 * (UINT64_C(1) << 25));
	raw_set(&e, l1, 3, 0);
	env_close(&e);
}

/* The non-linear address field: runs crossing 2 MiB boundaries of pa must
 * be encoded page by page. */
static void test_nonlinear_encoding(void **state)
{
	(void)state;
	struct env e;
	env_open(&e, &toy_fmt_scrambled, (struct env_opts){0});
	uint64_t pa = M2 - 16 * K4;
	assert_int_equal(physim_pt_map_region(e.pt, 0, pa, M2, RW, 0), 0);
	for (uint64_t i = 0; i < 512; i++)
		expect_page(&e, i * K4, i * K4, pa + i * K4, K4, RW, 0);
	assert_int_equal(physim_pt_map_region(e.pt, G1, 0, G1, RW, PHYSIM_ALLOW_HUGE), 0);
	for (uint64_t i = 0; i < 512; i += 7)
		expect_page(&e, G1 + i * M2, G1, 0, G1, RW, 2);
	/* Split the 1G: 2M pages with alternating bit 21. */
	assert_int_equal(physim_pt_unmap_region(e.pt, G1, K4), 0);
	for (uint64_t i = 1; i < 512; i++)
		expect_page(&e, G1 + i * M2, G1 + i * M2, i * M2, M2, RW, 1);
	expect_page(&e, G1 + K4, G1 + K4, K4, K4, RW, 0);
	assert_int_equal(physim_pt_map_region(e.pt, 4 * G1, 0, 64 * M2, RW, PHYSIM_ALLOW_HUGE), 0);
	for (uint64_t i = 0; i < 64; i++)
		expect_page(&e, 4 * G1 + i * M2 + K4, 4 * G1 + i * M2, i * M2, M2, RW, 1);
	env_close(&e);
}

/* Every page of [va, va + size) maps to pa + (va's offset): the query's
 * page (plain or grouped, any size) holds it. */
static void expect_linear(struct physim_pt *pt, uint64_t va, uint64_t pa, uint64_t size,
			  uint64_t gran, const char *what)
{
	for (uint64_t off = 0; off < size; off += gran) {
		struct physim_pt_mapping m;
		int rc = physim_pt_query(pt, va + off, &m);
		if (rc != 0 || m.pa + (va + off - m.va) != pa + off)
			print_message("%s: va %#llx: rc %d pa %#llx, want %#llx\n", what,
				      (unsigned long long)(va + off), rc,
				      (unsigned long long)(m.pa + (va + off - m.va)),
				      (unsigned long long)(pa + off));
		assert_int_equal(rc, 0);
		assert_int_equal(m.pa + (va + off - m.va), pa + off);
	}
}

/* A map derives the leaves of its later runs from an earlier run's
 * encoding (lib/pt-run.c, physim_pt_map_prepare). Maps of several
 * last-level tables, plain and with grouped leaves, at pa offsets that do and do not line up
 * with the runs, must give every page its address: on the toy format whose
 * address field flips a bit across 2 MiB, on every real format, and on the
 * LPA/LPA2 formats across the pa bit where their address field splits. */
static void test_map_runs_share_encoding(void **state)
{
	(void)state;
	static const uint64_t skew[] = {0, 16 * K4, M2 - K4, 64 * K4};
	struct env t;
	env_open(&t, &toy_fmt_scrambled, (struct env_opts){0});
	for (size_t i = 0; i < sizeof(skew) / sizeof(skew[0]); i++) {
		/* Starting at a table or 16 pages before its end, in an odd
		 * or an even 2 MiB of pa. */
		for (uint64_t j = 0; j < 4; j++) {
			uint64_t va = (j & 1) * (M2 - 16 * K4);
			uint64_t pa = (4 + j / 2) * M2 + skew[i] + va, size = 4 * M2 + 8 * K4;
			assert_int_equal(physim_pt_map_region(t.pt, va, pa, size, RW, 0), 0);
			expect_linear(t.pt, va, pa, size, K4, "toy-scrambled");
			assert_int_equal(physim_pt_unmap_region(t.pt, va, size), 0);
		}
	}
	env_close(&t);

	for (size_t k = 0; k < physim_format_count(); k++) {
		const struct physim_pt_format *f = physim_format_at(k);
		uint64_t gran = pt_level_page_size(f, 0);
		uint64_t run = gran * pt_level_entries(f, 0); /* one last-level table */
		uint64_t size = 3 * run + 5 * gran, va = run - 3 * gran;
		struct tc_env e;
		struct physim_pt *pt;
		tc_env_open(&e, RAM_BASE, 64 << 20);
		assert_int_equal(physim_pt_create(f, e.ph, &pt), 0);
		/* The bit where an LPA / LPA2 address field splits (OA[51:48] or
		 * OA[51:50] elsewhere in the descriptor), else 1 GiB. */
		uint64_t split = f->pa_bits == 52 && strncmp(f->name, "aarch64", 7) == 0
				     ? (gran == 64 * 1024 ? UINT64_C(1) << 48 : UINT64_C(1) << 50)
				     : G1;
		uint32_t flags = RW;
		for (unsigned opts = 0; opts <= PHYSIM_ALLOW_HUGE; opts += PHYSIM_ALLOW_HUGE) {
			for (size_t i = 0; i < sizeof(skew) / sizeof(skew[0]); i++) {
				/* The split falls inside the second run. */
				uint64_t pa = split - (run + run / 2) + skew[i] / K4 * gran;
				int rc = physim_pt_map_region(pt, va, pa, size, flags, opts);
				if (rc == -EOPNOTSUPP && flags == RW) {
					flags = RWX; /* no non-executable pages (i386) */
					rc = physim_pt_map_region(pt, va, pa, size, flags, opts);
				}
				if (rc != 0)
					print_message("%s: map pa %#llx: %d\n", f->name,
						      (unsigned long long)pa, rc);
				assert_int_equal(rc, 0);
				expect_linear(pt, va, pa, size, gran, f->name);
				assert_int_equal(physim_pt_unmap_region(pt, va, size), 0);
			}
		}
		physim_pt_destroy(pt);
		tc_env_close(&e);
	}
}

/* An unmap frees a last-level table it leaves without a valid entry
 * (table_empty scans 64 bytes at a time): not while a page at either end of
 * the table, or in its last 64 bytes, is mapped; yes when only non-zero
 * invalid entries (x86's present bit clear) are left. RAM frames counted. */
static void test_emptied_table_freed(void **state)
{
	(void)state;
	static const char *const names[] = {"x86_64-4l", "i386-2l", "armv7-short", "sv39"};
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		const struct physim_pt_format *f = physim_format(names[k]);
		if (f == NULL)
			continue; /* family not built (-Darchs) */
		uint64_t gran = pt_level_page_size(f, 0), n = pt_level_entries(f, 0);
		uint64_t va = 4 * (gran * n); /* the start of a last-level table */
		struct tc_env e;
		struct physim_pt *pt;
		tc_env_open(&e, RAM_BASE, 16 << 20);
		assert_int_equal(physim_pt_create(f, e.ph, &pt), 0);
		uint64_t frames0 = physim_ram_stats(e.ram).used_frames;
		uint32_t flags = strcmp(names[k], "i386-2l") == 0 ? RWX : RW;
		/* First, last, and the one before the last 64 bytes. */
		uint64_t idx[3] = {0, n - 1, n - 64 / f->pte_bytes - 1};
		for (unsigned keep = 0; keep < 3; keep++) {
			/* Every table the maps make goes again with the last
			 * page. */
			for (unsigned i = 0; i < 3; i++)
				assert_int_equal(physim_pt_map(pt, va + idx[i] * gran,
							       RAM_BASE + idx[i] * gran, gran,
							       flags),
						 0);
			uint64_t frames = physim_ram_stats(e.ram).used_frames;
			for (unsigned i = 0; i < 3; i++)
				if (i != keep)
					assert_int_equal(
					    physim_pt_unmap(pt, va + idx[i] * gran, NULL), 0);
			struct physim_pt_mapping m;
			assert_int_equal(physim_pt_query(pt, va + idx[keep] * gran, &m), 0);
			assert_int_equal(m.pa, RAM_BASE + idx[keep] * gran);
			assert_int_equal(physim_ram_stats(e.ram).used_frames, frames);
			assert_int_equal(physim_pt_unmap(pt, va + idx[keep] * gran, NULL), 0);
			assert_int_equal(physim_ram_stats(e.ram).used_frames, frames0);
		}
		if (strcmp(names[k], "x86_64-4l") == 0) {
			/* Non-zero but not present (bit 0 clear) entries do not
			 * keep the table. */
			assert_int_equal(physim_pt_map(pt, va, RAM_BASE, gran, flags), 0);
			uint64_t t = physim_pt_root(pt);
			for (unsigned l = f->levels - 1u; l > 0; l--)
				t = f->ops->output_addr(
				    f, tc_get_entry(&e, t + pt_index(f, va, l) * 8, 8), l);
			tc_put_entry(&e, t + (n - 1) * 8, 8, UINT64_C(0xfff000) | 0x2);
			tc_put_entry(&e, t + 7 * 8, 8, 0x2);
			assert_int_equal(physim_pt_unmap(pt, va, NULL), 0);
			assert_int_equal(physim_ram_stats(e.ram).used_frames, frames0);
		}
		physim_pt_destroy(pt);
		assert_int_equal(physim_ram_stats(e.ram).used_frames, 0);
		tc_env_close(&e);
	}
}

/* table_frames stays exact through a mixed sequence on every toy format. */
static void test_table_frames_exact(void **state)
{
	(void)state;
	for (size_t k = 0; k < TOY_FORMAT_COUNT; k++) {
		const struct physim_pt_format *f = toy_formats[k];
		struct env e;
		env_open(&e, f, (struct env_opts){.keep_empty = k == 1});
		uint64_t g = pt_level_page_size(f, 0), h = pt_level_page_size(f, 1);
		rng_state = 99 + k;
		for (int i = 0; i < 300; i++) {
			uint64_t va = (rnd() % 64) * h + (rnd() % 8) * g;
			uint64_t size = (1 + rnd() % 600) * g;
			switch (rnd() % 4) {
			case 0:
				(void)physim_pt_map_region(e.pt, va, va, size, RW,
							   (unsigned)(rnd() % 4));
				break;
			case 1:
				assert_int_equal(physim_pt_unmap_region(e.pt, va, size), 0);
				break;
			case 2:
				assert_int_equal(physim_pt_protect_region(e.pt, va, size, PHYSIM_R),
						 0);
				break;
			default:
				(void)physim_pt_map(e.pt, va & ~(h - 1), 0, h, RW);
				break;
			}
			uint64_t tf = physim_pt_table_frames(e.pt);
			assert_int_equal(count_frames_at(&e, physim_pt_root(e.pt), f->levels - 1u),
					 tf);
			assert_int_equal(frames_live(&e), (int64_t)tf);
		}
		env_close(&e);
	}
}

/* ---- the query memo against the format's calls ---- */

struct table_list {
	uint64_t pa[512];
	unsigned level[512];
	size_t n;
};

static int note_table(void *ctx, uint64_t va, uint64_t span, unsigned level, physim_hpa_t pa)
{
	(void)va;
	(void)span;
	struct table_list *l = ctx;
	if (l->n < 512) {
		l->pa[l->n] = pa;
		l->level[l->n++] = level;
	}
	return 0;
}

/* The answer of physim_pt_query by the format's own calls (classify,
 * output_addr, decode_leaf) level by level from the root, written here
 * from pt-format.h's contract: independent of the walk loop, its fast
 * path for plain table pointers and the memo. A table must lie wholly in
 * RAM. */
static int ref_query(const struct env *e, uint64_t va, struct physim_pt_mapping *m)
{
	const struct physim_pt_format *f = e->f;
	uint64_t t = physim_pt_root(e->pt);
	for (unsigned l = f->levels - 1u;; l--) {
		uint64_t d = raw_pte(e, t, pt_index(f, va, l));
		enum pt_kind k = d == 0 ? PT_INVALID : f->ops->classify(f, d, l);
		if (k == PT_INVALID)
			return -ENOENT;
		if (k == PT_RESERVED || (k == PT_TABLE && l == 0))
			return -EFAULT;
		if (k == PT_TABLE) {
			t = f->ops->output_addr(f, d, l);
			if (t < RAM_BASE || t - RAM_BASE > RAM_SIZE - pt_table_bytes(f, l - 1))
				return -EFAULT;
			continue;
		}
		struct pt_leaf_attr a = {0};
		f->ops->decode_leaf(f, d, l, &a);
		uint64_t size = a.grouped ? pt_group_size(f, l) : pt_level_page_size(f, l);
		*m = (struct physim_pt_mapping){
		    .va = va & ~(size - 1),
		    .pa = f->ops->output_addr(f, d, l) & ~(a.grouped ? size - 1 : 0),
		    .size = size,
		    .flags = a.flags,
		    .arch = a.arch,
		    .level = l,
		    .accessed = a.accessed,
		    .dirty = a.dirty,
		};
		m->addr_pa = m->pa + (va - m->va);
		return 0;
	}
}

/* Query va with the memo on and off: the same answer, and the one the
 * format's own calls give (ref_query). */
static void same_answer(struct env *e, uint64_t va)
{
	struct physim_pt_mapping a, b;
	memset(&a, 0x11, sizeof(a));
	memset(&b, 0x11, sizeof(b));
	int ra = physim_pt_query(e->pt, va, &a);
	physim_pt_use_memo(e->pt, false);
	int rb = physim_pt_query(e->pt, va, &b);
	physim_pt_use_memo(e->pt, true);
	if (ra != rb || (ra == 0 && memcmp(&a, &b, sizeof(a)) != 0))
		print_message("%s va %#llx: memo %d pa %#llx size %#llx flags %#x, calls %d pa "
			      "%#llx size %#llx flags %#x\n",
			      e->f->name, (unsigned long long)va, ra, (unsigned long long)a.pa,
			      (unsigned long long)a.size, a.flags, rb, (unsigned long long)b.pa,
			      (unsigned long long)b.size, b.flags);
	if (ra != rb) {
		uint64_t t = physim_pt_root(e->pt);
		for (unsigned l = e->f->levels - 1u;; l--) {
			uint64_t d = raw_pte(e, t, pt_index(e->f, va, l));
			print_message(" level %u table %#llx d %#llx kind %d\n", l,
				      (unsigned long long)t, (unsigned long long)d,
				      e->f->ops->classify(e->f, d, l));
			if (l == 0 || e->f->ops->classify(e->f, d, l) != PT_TABLE)
				break;
			t = e->f->ops->output_addr(e->f, d, l);
			if (t < RAM_BASE || t >= RAM_BASE + RAM_SIZE)
				break;
		}
	}
	assert_int_equal(ra, rb);
	if (ra == 0)
		assert_memory_equal(&a, &b, sizeof(a));
	struct physim_pt_mapping r = {0};
	int rr = ref_query(e, va, &r);
	if (rr != ra ||
	    (ra == 0 && (r.va != a.va || r.pa != a.pa || r.size != a.size || r.flags != a.flags ||
			 r.arch != a.arch || r.level != a.level || r.accessed != a.accessed ||
			 r.dirty != a.dirty || r.addr_pa != a.addr_pa)))
		print_message("%s va %#llx: query %d pa %#llx size %#llx level %u, format's calls "
			      "%d pa %#llx size %#llx level %u\n",
			      e->f->name, (unsigned long long)va, ra, (unsigned long long)a.pa,
			      (unsigned long long)a.size, a.level, rr, (unsigned long long)r.pa,
			      (unsigned long long)r.size, r.level);
	assert_int_equal(rr, ra);
	if (ra == 0) {
		assert_int_equal(r.va, a.va);
		assert_int_equal(r.pa, a.pa);
		assert_int_equal(r.size, a.size);
		assert_int_equal(r.flags, a.flags);
		assert_int_equal(r.arch, a.arch);
		assert_int_equal(r.level, a.level);
		assert_int_equal(r.accessed, a.accessed);
		assert_int_equal(r.dirty, a.dirty);
		assert_int_equal(r.addr_pa, a.addr_pa);
	}
}

/* The lookup loop follows a table pointer without step() when (d &
 * tw_mask) == tw_val (walk-format.h, struct walk_lookup). Every such
 * descriptor must be a table pointer to the format's codec, at (d & oa) <<
 * tw_shift, and for the families with WALK_GEO_EXACT at (d - tw_val) <<
 * tw_shift. Tried for every format and level: the engine's own table
 * pointer with every single bit and every pair of bits below bit 16 and
 * the top bits flipped, and random descriptors forced into the fast form. */
static void test_lookup_fast_path(void **state)
{
	(void)state;
	rng_state = 777;
	size_t nfast = 0;
	for (size_t k = 0; k < physim_format_count(); k++) {
		const struct physim_pt_format *f = physim_format_at(k);
		struct physim_mmu m;
		physim_mmu_init_lookup(&m, f, NULL, 0);
		unsigned bits = 8 * f->pte_bytes;
		uint64_t all = bits == 64 ? ~UINT64_C(0) : (UINT64_C(1) << bits) - 1;
		/* The families whose lookups use WALK_GEO_EXACT (lib/walk-loop.h). */
		bool exact = strncmp(f->name, "aarch64-", 8) == 0 ||
			     strncmp(f->name, "sv", 2) == 0 ||
			     strncmp(f->name, "loongarch64-", 12) == 0;
		for (unsigned l = 1; l < f->levels; l++) {
			uint64_t base = f->ops->encode_table(f, UINT64_C(0x12345) << 16 & all, l);
			for (unsigned i = 0; i < bits; i++) {
				for (unsigned j = i; j < bits; j++) {
					if (j != i && j >= 16 && j < bits - 8)
						continue;
					uint64_t tries[2] = {base ^ (UINT64_C(1) << i) ^
								 (j != i ? UINT64_C(1) << j : 0),
							     (rnd() & all & ~m.tw_mask[l]) |
								 m.tw_val[l]};
					for (unsigned n = 0; n < 2; n++) {
						uint64_t d = tries[n];
						if ((d & m.tw_mask[l]) != m.tw_val[l])
							continue;
						nfast++;
						if (f->ops->classify(f, d, l) != PT_TABLE ||
						    f->ops->output_addr(f, d, l) !=
							(d & m.oa[l][0]) << m.tw_shift)
							print_message("%s level %u: d %#llx\n",
								      f->name, l,
								      (unsigned long long)d);
						assert_int_equal(f->ops->classify(f, d, l),
								 PT_TABLE);
						assert_int_equal(f->ops->output_addr(f, d, l),
								 (d & m.oa[l][0]) << m.tw_shift);
						/* WALK_GEO_EXACT families: the pointer
						 * is tw_val plus its address field. */
						if (exact)
							assert_int_equal(
							    f->ops->output_addr(f, d, l),
							    (d - m.tw_val[l]) << m.tw_shift);
					}
				}
			}
		}
	}
	/* The fast path exists: most formats' table pointers take it. */
	assert_true(nfast > 1000);
}

/* Zero descriptors on the way, in RAM that starts at physical 0 (where a
 * zero table pointer would name a table in the direct map): every format,
 * one page mapped, an address next to it at each level meets a zero entry
 * there and is not mapped (-ENOENT). LoongArch's table pointer is a bare
 * address, which the lookup's fast path takes for a zero entry too; and a
 * table really at physical 0 is reached where the format can point at it
 * (x86-64: found, by the slow path), not where it cannot (LoongArch: a zero
 * directory entry is no table). */
static void test_lookup_zero_entries(void **state)
{
	(void)state;
	for (size_t k = 0; k < physim_format_count(); k++) {
		const struct physim_pt_format *f = physim_format_at(k);
		struct tc_env e;
		struct physim_pt *pt;
		tc_env_open_config(
		    &e, &(struct physim_ram_config){.base_is_zero = true, .size = RAM_SIZE});
		assert_int_equal(physim_pt_create(f, e.ph, &pt), 0);
		const unsigned pb = f->pte_bytes;
		uint64_t gran = pt_level_page_size(f, 0);
		uint64_t va = UINT64_C(1) << f->level[f->levels - 1].shift; /* root index 1 */
		uint64_t pa = RAM_SIZE / 2;
		/* R+W, or R+W+X where a page cannot be non-executable (i386). */
		int mrc = physim_pt_map(pt, va, pa, gran, PHYSIM_R | PHYSIM_W);
		if (mrc == -EOPNOTSUPP)
			mrc = physim_pt_map(pt, va, pa, gran, PHYSIM_R | PHYSIM_W | PHYSIM_X);
		assert_int_equal(mrc, 0);
		struct physim_pt_mapping m;
		assert_int_equal(physim_pt_query(pt, va, &m), 0);
		assert_int_equal(m.pa, pa);
		for (unsigned l = f->levels; l-- > 0;) {
			/* Root index 0 or, below, the neighbouring entry. */
			uint64_t other = va ^ (UINT64_C(1) << f->level[l].shift);
			if (physim_pt_query(pt, other, &m) != -ENOENT)
				print_message("%s level %u va %#llx\n", f->name, l,
					      (unsigned long long)other);
			assert_int_equal(physim_pt_query(pt, other, &m), -ENOENT);
		}
		if (strcmp(f->name, "x86_64-4l") == 0 ||
		    strcmp(f->name, "loongarch64-4k-48") == 0) {
			/* Level 1's pointer to va's last-level table, moved to a
			 * table at physical 0 (frame 0 is never handed out, so
			 * the test owns it) that maps va to pa2. */
			uint64_t t = physim_pt_root(pt), d = 0, slot = 0;
			for (unsigned l = f->levels - 1u; l >= 1; l--) {
				slot = pt_index(f, va, l);
				d = tc_get_entry(&e, t + slot * pb, pb);
				if (l == 1)
					break;
				t = f->ops->output_addr(f, d, l);
			}
			uint64_t pa2 = RAM_SIZE / 4, leaf;
			struct pt_leaf_attr a = {.flags = PHYSIM_R | PHYSIM_W};
			assert_int_equal(f->ops->encode_leaf(f, pa2, &a, 0, &leaf), 0);
			tc_put_entry(&e, pt_index(f, va, 0) * pb, pb, leaf);
			tc_put_entry(&e, t + slot * pb, pb, f->ops->encode_table(f, 0, 1));
			if (f->ops->encode_table(f, 0, 1) != 0) {
				assert_int_equal(physim_pt_query(pt, va, &m), 0);
				assert_int_equal(m.pa, pa2);
			} else {
				assert_int_equal(physim_pt_query(pt, va, &m), -ENOENT);
			}
			tc_put_entry(&e, t + slot * pb, pb, d);
			tc_put_entry(&e, pt_index(f, va, 0) * pb, pb, 0);
			assert_int_equal(physim_pt_query(pt, va, &m), 0);
			assert_int_equal(m.pa, pa);
		}
		physim_pt_destroy(pt);
		tc_env_close(&e);
	}
}

/* Every format: tables filled by the engine, then descriptors damaged a few
 * bits at a time (the memo keys on descriptor values, so a damaged copy of
 * a remembered leaf is the dangerous case); memoised queries must agree with
 * the format's own calls everywhere. */
static void test_query_memo(void **state)
{
	(void)state;
	size_t nreal = physim_format_count();
	rng_state = 4242;
	for (size_t k = 0; k < nreal + TOY_FORMAT_COUNT; k++) {
		const struct physim_pt_format *f =
		    k < nreal ? physim_format_at(k) : toy_formats[k - nreal];
		struct env e;
		struct snap clean;
		env_open(&e, f, (struct env_opts){0});
		static const uint32_t try_flags[] = {RW, PHYSIM_R, RWX, PHYSIM_R | PHYSIM_X};
		uint32_t flags = 0;
		for (size_t i = 0; i < 4 && !flags; i++)
			if (physim_pt_map(e.pt, 0, 0, pt_level_page_size(f, 0), try_flags[i]) == 0)
				flags = try_flags[i];
		assert_int_not_equal(flags, 0);
		/* A region of every page size with attributes varying. */
		uint64_t big = pt_level_page_size(f, 1), span = 4 * big;
		assert_int_equal(physim_pt_map_region(e.pt, big, big,
						      2 * big + 5 * K4 * (f->level[0].shift == 12),
						      flags, PHYSIM_ALLOW_HUGE | PHYSIM_REPLACE),
				 0);
		struct table_list tl = {0};
		struct physim_pt_walk_ops ops = {.table = note_table};
		assert_int_equal(physim_pt_walk(e.pt, 0, span, &ops, &tl), 0);
		snap_take(&e, &clean);
		uint64_t gran = pt_level_page_size(f, 0);
		for (int round = 0; round < 40; round++) {
			/* Half of them where the damage goes: low indexes. */
			for (int i = 0; i < 200; i++)
				same_answer(&e, i & 1
						    ? (rnd() % (span / gran)) * gran + rnd() % gran
						    : (rnd() % 4) * big + (rnd() % 16) * gran);
			/* Damage a few descriptors: flip 1-3 bits, or copy one. */
			for (int i = 0; i < 6; i++) {
				size_t t = (size_t)(rnd() % tl.n);
				uint64_t n = pt_level_entries(f, tl.level[t]);
				uint64_t idx = rnd() % (n < 16 ? n : 16);
				uint64_t d = raw_pte(&e, tl.pa[t], idx);
				if (rnd() % 4 == 0)
					d = raw_pte(&e, tl.pa[rnd() % tl.n], rnd() % 16 % n);
				for (uint64_t b = 1 + rnd() % 3; b > 0; b--)
					d ^= UINT64_C(1) << (rnd() % (8 * f->pte_bytes));
				raw_set(&e, tl.pa[t], idx, d);
			}
			if (round % 10 == 9)
				snap_restore(&e, &clean);
		}
		snap_restore(&e, &clean);
		snap_free(&clean);
		env_close(&e);
	}
}

/* FEAT_LPA2 (Arm ARM D8.3.1, "OA[51:50]" in bits 9:8 of a 4K or 16K
 * granule descriptor): the leaf address is in two parts, so the memo keeps
 * only the attributes, keyed by the bits outside both parts. Leaves alike
 * but for OA[51:50] share a key: each query must still give its own
 * address (the codec's), first and second time (memo filled), as the
 * format's own calls say. */
static void test_query_memo_lpa2(void **state)
{
	(void)state;
	static const char *const names[] = {"aarch64-4k-52", "aarch64-16k-52", "aarch64-s2-4k-52"};
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		const struct physim_pt_format *f = physim_format(names[k]);
		if (f == NULL)
			continue; /* AArch64 not built (-Darchs) */
		struct env e;
		env_open(&e, f, (struct env_opts){0});
		uint64_t g = pt_level_page_size(f, 0);
		for (uint64_t hi = 0; hi < 4; hi++) {
			uint64_t pa = hi << 50 | (UINT64_C(0x123) + hi) * g;
			assert_int_equal(physim_pt_map(e.pt, (hi + 1) * g, pa, g, RW), 0);
		}
		for (int pass = 0; pass < 2; pass++) {
			for (uint64_t hi = 0; hi < 4; hi++) {
				uint64_t va = (hi + 1) * g + 0x18;
				struct physim_pt_mapping m, r;
				assert_int_equal(physim_pt_query(e.pt, va, &m), 0);
				assert_int_equal(ref_query(&e, va, &r), 0);
				assert_int_equal(m.pa, hi << 50 | (UINT64_C(0x123) + hi) * g);
				assert_int_equal(m.pa, r.pa);
				assert_int_equal(m.addr_pa, m.pa + 0x18);
				assert_int_equal(m.flags, r.flags);
				assert_int_equal(m.arch, r.arch);
				assert_int_equal(m.size, g);
				same_answer(&e, va);
			}
		}
		env_close(&e);
	}
}

/* clear_ad changes each leaf in the traversal that finds it: with no direct
 * map every table entered costs phys_to_virt calls, and one traversal
 * enters each table below the root once (two calls: its first and last
 * byte), however many leaves it holds. Looking each leaf up again from the
 * root (as clear_ad once did) costs calls per leaf per level. */
struct p2v_count {
	const struct physim_paging_handler *inner;
	uint64_t calls;
};

static int p2v_alloc_frame(void *ctx, physim_hpa_t *hpa)
{
	const struct physim_paging_handler *in = ((struct p2v_count *)ctx)->inner;
	return in->alloc_frame(in->ctx, hpa);
}

static int p2v_alloc_frames(void *ctx, size_t n, uint64_t align, physim_hpa_t *hpa)
{
	const struct physim_paging_handler *in = ((struct p2v_count *)ctx)->inner;
	return in->alloc_frames(in->ctx, n, align, hpa);
}

static int p2v_dealloc_frame(void *ctx, physim_hpa_t hpa)
{
	const struct physim_paging_handler *in = ((struct p2v_count *)ctx)->inner;
	return in->dealloc_frame(in->ctx, hpa);
}

static int p2v_dealloc_frames(void *ctx, physim_hpa_t hpa, size_t n)
{
	const struct physim_paging_handler *in = ((struct p2v_count *)ctx)->inner;
	return in->dealloc_frames(in->ctx, hpa, n);
}

static void *p2v_phys_to_virt(void *ctx, physim_hpa_t hpa)
{
	struct p2v_count *c = ctx;
	c->calls++;
	return c->inner->phys_to_virt(c->inner->ctx, hpa);
}

static void test_clear_ad_one_traversal(void **state)
{
	(void)state;
	const struct physim_pt_format *f = physim_format("sv48");
	if (f == NULL)
		skip(); /* RISC-V not built (-Darchs) */
	struct physim_ram *ram;
	struct physim_ram_config rc = {.base = RAM_BASE, .size = RAM_SIZE};
	assert_int_equal(physim_ram_create(&rc, &ram), 0);
	struct p2v_count cnt = {.inner = physim_ram_paging_handler(ram)};
	struct physim_paging_handler ph = {
	    .ctx = &cnt,
	    .alloc_frame = p2v_alloc_frame,
	    .alloc_frames = p2v_alloc_frames,
	    .dealloc_frame = p2v_dealloc_frame,
	    .dealloc_frames = p2v_dealloc_frames,
	    .phys_to_virt = p2v_phys_to_virt,
	}; /* no direct map: every table reached goes through phys_to_virt */
	struct physim_pt *pt;
	assert_int_equal(physim_pt_create(f, &ph, &pt), 0);
	/* Sv48 sets A, and D on writable leaves, when it maps (RISC-V
	 * privileged spec 12.3: hardware need not set them). 64 leaves in one
	 * level-0 table: three tables below the root. */
	const uint64_t npages = 64, va = UINT64_C(0x40000000);
	assert_int_equal(physim_pt_map_region(pt, va, RAM_BASE + M2, npages * K4, RW, 0), 0);
	assert_int_equal(physim_pt_table_frames(pt), 4);
	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(pt, va + 5 * K4, &m), 0);
	assert_true(m.accessed && m.dirty);
	cnt.calls = 0;
	assert_int_equal(physim_pt_clear_ad(pt, va, npages * K4, true, true), (int64_t)npages);
	assert_true(cnt.calls <= 2 * 3);
	for (uint64_t i = 0; i < npages; i++) {
		assert_int_equal(physim_pt_query(pt, va + i * K4, &m), 0);
		assert_false(m.accessed || m.dirty);
		assert_int_equal(m.pa, RAM_BASE + M2 + i * K4);
	}
	physim_pt_destroy(pt);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);
	physim_ram_destroy(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_info),
	    cmocka_unit_test(test_real_format_info),
	    cmocka_unit_test(test_create_destroy),
	    cmocka_unit_test(test_map_query),
	    cmocka_unit_test(test_map_bad_inputs),
	    cmocka_unit_test(test_map_region_sizes),
	    cmocka_unit_test(test_replace),
	    cmocka_unit_test(test_unmap),
	    cmocka_unit_test(test_keep_empty_tables),
	    cmocka_unit_test(test_split_keeps_attributes),
	    cmocka_unit_test(test_protect),
	    cmocka_unit_test(test_remap),
	    cmocka_unit_test(test_flush_batching),
	    cmocka_unit_test(test_map_region_cb),
	    cmocka_unit_test(test_walk),
	    cmocka_unit_test(test_hostile_targeted),
	    cmocka_unit_test(test_hostile_random),
	    cmocka_unit_test(test_fail_injection),
	    cmocka_unit_test(test_nonlinear_encoding),
	    cmocka_unit_test(test_map_runs_share_encoding),
	    cmocka_unit_test(test_emptied_table_freed),
	    cmocka_unit_test(test_table_frames_exact),
	    cmocka_unit_test(test_query_memo),
	    cmocka_unit_test(test_query_memo_lpa2),
	    cmocka_unit_test(test_lookup_fast_path),
	    cmocka_unit_test(test_lookup_zero_entries),
	    cmocka_unit_test(test_clear_ad_one_traversal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
