/* SPDX-License-Identifier: MIT */
/* tests/test_fault_sweep.c - fault-injection sweeps: every public operation
 * that allocates runs with its 1st, 2nd, ... allocation failing until it
 * succeeds; each failure must return -ENOMEM and leave every object exactly
 * as it was (leaves, tables, areas, stats, guest memory) without losing a frame.
 *
 * Each operation is swept twice: failing only the Nth allocation (the
 * rollback runs with the allocator still working) and failing every
 * allocation from the Nth on (the rollback may not allocate). The number of
 * allocations a success takes is checked against a count worked out by hand
 * from the format's geometry, and after the success destroy (or clear) must
 * give every frame back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/env.h"

#include <physim/aspace.h>
#include <physim/ram.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG	  UINT64_C(4096)
#define RAM_BASE  UINT64_C(0x80000000)
#define RAM_SIZE  (UINT64_C(64) << 20)
#define MMIO_BASE UINT64_C(0x100000000) /* outside RAM, below every stage-2 output limit */
#define RW	  (PHYSIM_R | PHYSIM_W)
#define MAX_TRIES 4096 /* far more allocations than any case makes */

/* Page tables: cases live at V0 and up; pa_of() keeps the alignment of va up
 * to 1 GiB and stays below 4 GiB for the 32-bit formats. */
#define V0 UINT64_C(0x40000000)
#define P0 UINT64_C(0x80000000)
/* Address spaces cover [G0, G0 + GSIZE), which holds RAM (identity maps). */
#define G0    UINT64_C(0x40000000)
#define GSIZE UINT64_C(0x80000000)

/* ---- fixture: RAM, a counting HAL over it, and one table or space ---- */

struct fx {
	const struct physim_pt_format *fmt;
	struct physim_pt_format_info info;
	struct physim_ram *ram;
	struct physim_vm_hal vm_inner;
	struct physim_counting_hal *ch;
	struct physim_pt *pt;
	struct physim_aspace *as;
	uint64_t g, h1, h2; /* granule, level-1 and level-2 page sizes (0: no leaf there) */
	uint64_t v_far;	    /* start of a root slot no other case touches */
	uint32_t rw, ro;    /* read-write and read-only flags the format can express */
};

static uint64_t level_page(const struct physim_pt_format_info *in, unsigned lvl)
{
	if (lvl >= in->levels || !in->level[lvl].leaf_ok)
		return 0;
	return UINT64_C(1) << in->level[lvl].shift;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static void fx_open(struct fx *f, const struct physim_pt_format *fmt)
{
	memset(f, 0, sizeof(*f));
	f->fmt = fmt;
	physim_format_get_info(fmt, &f->info);
	f->g = level_page(&f->info, 0);
	f->h1 = level_page(&f->info, 1);
	f->h2 = level_page(&f->info, 2);
	unsigned top = f->info.levels - 1;
	uint64_t root_slot = UINT64_C(1) << (f->info.level[top].shift);
	f->v_far = align_up(V0 + 4 * f->h2 + 16 * f->h1, root_slot);
	/* Formats without a no-execute bit (i386 2-level) need X. */
	uint32_t x = physim_format_flags_ok(fmt, RW, 0) == 0 ? 0 : PHYSIM_X;
	f->rw = RW | x;
	f->ro = PHYSIM_R | x;
	assert_int_equal(physim_format_flags_ok(fmt, f->rw, 0), 0);
	assert_int_equal(physim_format_flags_ok(fmt, f->ro, 0), 0);
	tc_counted_ram_open(RAM_BASE, RAM_SIZE, &f->ram, &f->vm_inner, &f->ch);
}

static uint64_t root_frames(const struct fx *f)
{
	return (f->info.root_bytes + PG - 1) / PG;
}

static void assert_frames(const struct fx *f, int64_t want)
{
	struct physim_hal_counts c = physim_counting_hal_counts(f->ch);
	assert_int_equal(c.frames_live, want);
	assert_int_equal(c.free_failed, 0);
	assert_int_equal(physim_ram_stats(f->ram).used_frames, (uint64_t)want);
}

/* After the sweep: clear gives back everything but the root, destroy the rest. */
static void fx_close(struct fx *f)
{
	if (f->as != NULL) {
		physim_aspace_clear(f->as);
		struct physim_aspace_stats st = physim_aspace_stats(f->as);
		assert_int_equal(st.areas, 0);
		assert_int_equal(st.alloc_frames, 0);
		assert_int_equal(st.table_frames, root_frames(f));
		assert_frames(f, (int64_t)root_frames(f));
		physim_aspace_destroy(f->as);
	}
	physim_pt_destroy(f->pt);
	assert_frames(f, 0);
	physim_counting_hal_destroy(f->ch);
	physim_ram_destroy(f->ram);
}

static const struct physim_pt *fx_table(const struct fx *f)
{
	return f->as != NULL ? physim_aspace_pt(f->as) : f->pt;
}

/* ---- snapshots: everything a failed call must leave as it was ---- */

struct table_rec {
	uint64_t va, span, pa, hash;
	unsigned level;
};

struct snap {
	struct physim_pt_mapping *leaf;
	size_t nleaf, leafcap;
	struct table_rec *tbl;
	size_t ntbl, tblcap;
	struct physim_area_info *area;
	size_t narea, areacap;
	uint64_t table_frames;
	struct physim_aspace_stats st;
	uint64_t mem_hash; /* contents of every backed guest page */
	int64_t dirty_new; /* pages the dirty log gained since the last snapshot */
	int64_t frames_live;
	struct physim_ram_stats ram;
};

static void *grow(void *p, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 64;
	p = realloc(p, *cap * elem);
	assert_non_null(p);
	return p;
}

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * UINT64_C(0x100000001b3);
	return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t x)
{
	return fnv(h, &x, sizeof(x));
}

struct snap_ctx {
	const struct fx *f;
	struct snap *s;
};

static int snap_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	struct snap *s = ((struct snap_ctx *)ctx)->s;
	s->leaf = grow(s->leaf, &s->leafcap, s->nleaf, sizeof(*s->leaf));
	s->leaf[s->nleaf++] = *m;
	return 0;
}

static int snap_table(void *ctx, uint64_t va, uint64_t span, unsigned level, physim_hpa_t pa)
{
	struct snap_ctx *c = ctx;
	struct snap *s = c->s;
	const struct physim_pt_format_info *in = &c->f->info;
	uint64_t bytes = level == in->levels - 1 ? in->root_bytes : in->level[level].table_bytes;
	void *p = NULL;
	assert_int_equal(physim_ram_phys_to_virt(c->f->ram, pa, &p), 0);
	s->tbl = grow(s->tbl, &s->tblcap, s->ntbl, sizeof(*s->tbl));
	s->tbl[s->ntbl++] = (struct table_rec){
	    .va = va, .span = span, .pa = pa, .hash = fnv(0, p, bytes), .level = level};
	return 0;
}

/* Every leaf and table of the whole input range (both halves if sign-extended). */
static void snap_table_tree(const struct fx *f, struct snap *s)
{
	const struct physim_pt *pt = fx_table(f);
	if (pt == NULL)
		return;
	struct snap_ctx c = {f, s};
	struct physim_pt_walk_ops ops = {.leaf = snap_leaf, .table = snap_table};
	unsigned bits = f->info.va_bits - (f->info.sign_extended ? 1 : 0);
	uint64_t half = UINT64_C(1) << bits;
	assert_int_equal(physim_pt_walk(pt, 0, half, &ops, &c), 0);
	if (f->info.sign_extended)
		assert_int_equal(physim_pt_walk(pt, 0 - half, half, &ops, &c), 0);
	s->table_frames = physim_pt_table_frames(pt);
}

static int snap_area(void *ctx, const struct physim_area_info *a)
{
	struct snap *s = ctx;
	s->area = grow(s->area, &s->areacap, s->narea, sizeof(*s->area));
	s->area[s->narea++] = *a;
	return 0;
}

/* Hash of what backs every page of every area: gpa, hpa and, for memory the
 * RAM holds, the bytes. */
static uint64_t guest_memory_hash(const struct fx *f, const struct snap *s)
{
	uint64_t h = 0;
	for (size_t i = 0; i < s->narea; i++) {
		for (uint64_t off = 0; off < s->area[i].size; off += PG) {
			uint64_t gpa = s->area[i].start + off;
			physim_hpa_t hpa = 0;
			void *p = NULL;
			if (physim_aspace_translate(f->as, gpa, &hpa) != 0)
				continue;
			h = fnv_u64(fnv_u64(h, gpa), hpa);
			if (physim_ram_phys_to_virt(f->ram, hpa, &p) == 0)
				h = fnv(h, p, PG);
		}
	}
	return h;
}

static void snap_space(const struct fx *f, struct snap *s)
{
	static uint64_t bitmap[GSIZE / PG / 64];
	if (f->as == NULL)
		return;
	/* First, so hardware dirty bits it harvests show in the table hashes. */
	s->dirty_new = physim_aspace_dirty_log_fetch_clear(f->as, G0, GSIZE / PG, bitmap);
	assert_true(s->dirty_new >= 0);
	assert_int_equal(physim_aspace_for_each_area(f->as, snap_area, s), 0);
	s->st = physim_aspace_stats(f->as);
	s->mem_hash = guest_memory_hash(f, s);
}

static void snap_free(struct snap *s)
{
	free(s->leaf);
	free(s->tbl);
	free(s->area);
	memset(s, 0, sizeof(*s));
}

static void snap_take(const struct fx *f, struct snap *s)
{
	snap_free(s);
	snap_space(f, s);
	snap_table_tree(f, s);
	s->frames_live = physim_counting_hal_counts(f->ch).frames_live;
	s->ram = physim_ram_stats(f->ram);
}

static bool same_leaf(const struct physim_pt_mapping *a, const struct physim_pt_mapping *b)
{
	return a->va == b->va && a->pa == b->pa && a->size == b->size && a->flags == b->flags &&
	       a->arch == b->arch && a->level == b->level && a->accessed == b->accessed &&
	       a->dirty == b->dirty;
}

static bool same_table(const struct table_rec *a, const struct table_rec *b)
{
	return a->va == b->va && a->span == b->span && a->pa == b->pa && a->hash == b->hash &&
	       a->level == b->level;
}

static bool same_area(const struct physim_area_info *a, const struct physim_area_info *b)
{
	return a->start == b->start && a->size == b->size && a->flags == b->flags &&
	       a->kind == b->kind && a->linear_hpa == b->linear_hpa && a->populate == b->populate &&
	       a->identity == b->identity && a->frames == b->frames;
}

static bool same_stats(const struct physim_aspace_stats *a, const struct physim_aspace_stats *b)
{
	return a->areas == b->areas && a->alloc_frames == b->alloc_frames &&
	       a->table_frames == b->table_frames && a->faults_handled == b->faults_handled &&
	       a->faults_refused == b->faults_refused;
}

/* The first difference between two snapshots, or NULL. */
static const char *snap_diff(const struct snap *a, const struct snap *b)
{
	if (a->nleaf != b->nleaf)
		return "number of leaves";
	for (size_t i = 0; i < a->nleaf; i++)
		if (!same_leaf(&a->leaf[i], &b->leaf[i]))
			return "a leaf";
	if (a->ntbl != b->ntbl)
		return "number of tables";
	for (size_t i = 0; i < a->ntbl; i++)
		if (!same_table(&a->tbl[i], &b->tbl[i]))
			return "a table (address or contents)";
	if (a->table_frames != b->table_frames)
		return "table frame count";
	if (a->narea != b->narea)
		return "number of areas";
	for (size_t i = 0; i < a->narea; i++)
		if (!same_area(&a->area[i], &b->area[i]))
			return "an area";
	if (!same_stats(&a->st, &b->st))
		return "address-space stats";
	if (a->mem_hash != b->mem_hash)
		return "guest memory";
	if (b->dirty_new != 0)
		return "dirty log";
	if (a->frames_live != b->frames_live)
		return "frames live (counting HAL)";
	if (memcmp(&a->ram, &b->ram, sizeof(a->ram)) != 0)
		return "RAM stats";
	return NULL;
}

/* ---- the sweep ---- */

enum fail_mode {
	FAIL_NTH,  /* only allocation n fails */
	FAIL_FROM, /* allocation n and every later one fail */
};

struct op_case {
	const char *name;
	bool (*applies)(const struct fx *f); /* NULL: every format */
	void (*setup)(struct fx *f);	     /* the state the operation starts from */
	int (*op)(struct fx *f);
	uint64_t (*allocs)(const struct fx *f); /* allocation calls a success makes */
	void (*check)(struct fx *f);		/* after the success (optional) */
};

static void plan(struct fx *f, enum fail_mode mode, uint64_t n)
{
	struct physim_counting_hal_config p = {0};
	if (mode == FAIL_NTH)
		p.fail_nth = n;
	else if (n == 1)
		p.fail_probability = 1.0; /* fail_after = 0 means "never" */
	else
		p.fail_after = n - 1;
	physim_counting_hal_set_plan(f->ch, &p);
}

static void plan_none(struct fx *f)
{
	struct physim_counting_hal_config p = {0};
	physim_counting_hal_set_plan(f->ch, &p);
}

/* Totals printed per test: sweeps, and failed runs checked in them. */
static uint64_t failed_runs, sweeps_total;

static char problem[256];

/* Fail allocation n = 1, 2, ... until the operation succeeds; *allocs gets
 * the number of allocation calls the success made. Returns NULL, or what
 * went wrong. */
static const char *sweep(struct fx *f, const struct op_case *c, enum fail_mode mode,
			 uint64_t *allocs)
{
	struct snap before = {0}, after = {0};
	const char *diff = NULL;
	uint64_t n;
	snap_take(f, &before);
	for (n = 1; n <= MAX_TRIES; n++) {
		plan(f, mode, n);
		struct physim_hal_counts c0 = physim_counting_hal_counts(f->ch);
		int rc = c->op(f);
		struct physim_hal_counts c1 = physim_counting_hal_counts(f->ch);
		plan_none(f);
		uint64_t calls = c1.alloc_calls - c0.alloc_calls;
		if (rc == 0) {
			*allocs = calls;
			/* Allocation n was never asked for. */
			if (calls != n - 1)
				diff = "the number of allocations (success after fewer failures)";
			break;
		}
		failed_runs++;
		/* Allocation n was made, and with FAIL_NTH the call gave up at
		 * its first failure. */
		if (rc != -ENOMEM)
			diff = "the return value (not -ENOMEM)";
		else if (calls < n || (mode == FAIL_NTH && calls != n))
			diff = "the number of allocations";
		if (diff == NULL) {
			snap_take(f, &after);
			diff = snap_diff(&before, &after);
		}
		if (diff != NULL)
			break;
	}
	snap_free(&before);
	snap_free(&after);
	sweeps_total++;
	if (diff == NULL && n <= MAX_TRIES)
		return NULL;
	if (diff == NULL)
		diff = "nothing: it never succeeded";
	snprintf(problem, sizeof(problem), "%s/%s: allocation %llu failed (%s): %s is wrong",
		 f->info.name, c->name, (unsigned long long)n,
		 mode == FAIL_NTH ? "only it" : "and all later ones", diff);
	return problem;
}

static void run_case(const struct physim_pt_format *fmt, const struct op_case *c)
{
	for (int mode = FAIL_NTH; mode <= FAIL_FROM; mode++) {
		struct fx f;
		fx_open(&f, fmt);
		if (c->applies != NULL && !c->applies(&f)) {
			fx_close(&f);
			return;
		}
		c->setup(&f);
		uint64_t got = 0;
		const char *err = sweep(&f, c, (enum fail_mode)mode, &got);
		if (err != NULL)
			fail_msg("%s", err);
		uint64_t want = c->allocs(&f);
		if (got != want)
			fail_msg("%s/%s: success took %llu allocations, expected %llu", f.info.name,
				 c->name, (unsigned long long)got, (unsigned long long)want);
		if (c->check != NULL)
			c->check(&f);
		fx_close(&f);
	}
}

static void run_cases(void **state, const struct op_case *cases, size_t n)
{
	const struct physim_pt_format *fmt = *(const struct physim_pt_format **)*state;
	failed_runs = sweeps_total = 0;
	for (size_t i = 0; i < n; i++)
		run_case(fmt, &cases[i]);
	print_message("%s: %llu sweeps, %llu failed runs, each left everything as it was\n",
		      physim_format_name(fmt), (unsigned long long)sweeps_total,
		      (unsigned long long)failed_runs);
}

/* ---- page-table cases ---- */

static uint64_t pa_of(uint64_t va)
{
	return P0 + (va & UINT64_C(0xffffffff));
}

static void pt_map_ok(struct fx *f, uint64_t va, uint64_t size)
{
	assert_int_equal(physim_pt_map(f->pt, va, pa_of(va), size, f->rw), 0);
}

static void assert_leaf(const struct fx *f, uint64_t va, uint64_t size, uint32_t flags)
{
	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(fx_table(f), va, &m), 0);
	assert_int_equal(m.size, size);
	assert_int_equal(m.pa, pa_of(m.va));
	assert_int_equal(m.flags, flags);
}

static void assert_hole(const struct fx *f, uint64_t va)
{
	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(fx_table(f), va, &m), -ENOENT);
}

static void pt_none(struct fx *f)
{
	(void)f;
}

/* A table with a 4K page (its leaf table exists) and a level-1 huge page. */
static void pt_prefill(struct fx *f)
{
	assert_int_equal(physim_pt_create(f->fmt, physim_counting_hal_paging(f->ch), &f->pt), 0);
	pt_map_ok(f, V0 + f->h1 + 5 * f->g, f->g);
	pt_map_ok(f, V0 + 4 * f->h1, f->h1);
}

static bool has_h1(const struct fx *f)
{
	return f->h1 != 0;
}

static bool has_h2(const struct fx *f)
{
	return f->h2 != 0;
}

static uint64_t zero(const struct fx *f)
{
	(void)f;
	return 0;
}

static uint64_t one(const struct fx *f)
{
	(void)f;
	return 1;
}

static uint64_t two(const struct fx *f)
{
	(void)f;
	return 2;
}

static uint64_t three(const struct fx *f)
{
	(void)f;
	return 3;
}

/* create: one call for the root, however many frames it spans. */
static int op_pt_create(struct fx *f)
{
	return physim_pt_create(f->fmt, physim_counting_hal_paging(f->ch), &f->pt);
}

static void check_pt_create(struct fx *f)
{
	assert_int_equal(physim_pt_table_frames(f->pt), root_frames(f));
	assert_frames(f, (int64_t)root_frames(f));
}

/* map in an empty root slot: one table per level below the leaf's. */
static int op_map_far_4k(struct fx *f)
{
	return physim_pt_map(f->pt, f->v_far + 3 * f->g, pa_of(f->v_far + 3 * f->g), f->g, f->rw);
}

static uint64_t levels_below_root(const struct fx *f)
{
	return f->info.levels - 1;
}

static void check_map_far_4k(struct fx *f)
{
	assert_leaf(f, f->v_far + 3 * f->g, f->g, f->rw);
}

static int op_map_far_h1(struct fx *f)
{
	uint64_t va = f->v_far + 2 * f->h1;
	return physim_pt_map(f->pt, va, pa_of(va), f->h1, f->rw);
}

static uint64_t levels_below_root_minus_1(const struct fx *f)
{
	return f->info.levels - 2;
}

static void check_map_far_h1(struct fx *f)
{
	assert_leaf(f, f->v_far + 2 * f->h1, f->h1, f->rw);
}

/* map_region, granule pages only: [H1 + 16g, 3 H1 + 3g) needs the leaf
 * tables of the H1 slots 2 and 3 (slot 1 exists). */
static int op_region_4k(struct fx *f)
{
	uint64_t va = V0 + f->h1 + 16 * f->g;
	return physim_pt_map_region(f->pt, va, pa_of(va), 2 * f->h1 - 13 * f->g, f->rw, 0);
}

static void check_region_4k(struct fx *f)
{
	assert_leaf(f, V0 + f->h1 + 16 * f->g, f->g, f->rw);
	assert_leaf(f, V0 + 3 * f->h1 + 2 * f->g, f->g, f->rw);
	assert_hole(f, V0 + 3 * f->h1 + 3 * f->g);
}

/* Many tables (more than the engine keeps on its stack): [16 H1 - g,
 * 36 H1 + g) in granule pages is 22 leaf tables. */
static int op_region_many(struct fx *f)
{
	uint64_t va = V0 + 16 * f->h1 - f->g;
	return physim_pt_map_region(f->pt, va, pa_of(va), 20 * f->h1 + 2 * f->g, f->rw, 0);
}

static uint64_t twenty_two(const struct fx *f)
{
	(void)f;
	return 22;
}

static void check_region_many(struct fx *f)
{
	assert_leaf(f, V0 + 16 * f->h1 - f->g, f->g, f->rw);
	assert_leaf(f, V0 + 26 * f->h1 + 7 * f->g, f->g, f->rw);
	assert_leaf(f, V0 + 36 * f->h1, f->g, f->rw);
	assert_hole(f, V0 + 36 * f->h1 + f->g);
}

/* map_region with huge pages: [6 H1 - 2g, 8 H1 + 3g) is two granule pages,
 * two H1 pages and three granule pages: two new leaf tables. */
static int op_region_huge(struct fx *f)
{
	uint64_t va = V0 + 6 * f->h1 - 2 * f->g;
	return physim_pt_map_region(f->pt, va, pa_of(va), 2 * f->h1 + 5 * f->g, f->rw,
				    PHYSIM_ALLOW_HUGE);
}

static void check_region_huge(struct fx *f)
{
	assert_leaf(f, V0 + 6 * f->h1 - 2 * f->g, f->g, f->rw);
	assert_leaf(f, V0 + 6 * f->h1, f->h1, f->rw);
	assert_leaf(f, V0 + 7 * f->h1, f->h1, f->rw);
	assert_leaf(f, V0 + 8 * f->h1 + 2 * f->g, f->g, f->rw);
}

/* With H2 pages: [H2 - g, 2 H2 + H1 + g): the last leaf table of the first
 * H2 slot, an H2 page, then an H1 and a granule page in a fresh H2 slot
 * (a level-1 and a leaf table). */
static int op_region_h2(struct fx *f)
{
	uint64_t va = V0 + f->h2 - f->g;
	return physim_pt_map_region(f->pt, va, pa_of(va), f->h2 + f->h1 + 2 * f->g, f->rw,
				    PHYSIM_ALLOW_HUGE);
}

static void check_region_h2(struct fx *f)
{
	assert_leaf(f, V0 + f->h2, f->h2, f->rw);
	assert_leaf(f, V0 + 2 * f->h2, f->h1, f->rw);
	assert_leaf(f, V0 + 2 * f->h2 + f->h1, f->g, f->rw);
}

static int far_pa(void *ctx, uint64_t va, uint64_t *pa)
{
	(void)ctx;
	*pa = pa_of(va);
	return 0;
}

/* map_region_cb across an H1 boundary in an empty root slot. */
static int op_region_cb(struct fx *f)
{
	return physim_pt_map_region_cb(f->pt, f->v_far + f->h1 - 4 * f->g, 8 * f->g, f->rw, 0,
				       far_pa, NULL);
}

static uint64_t levels(const struct fx *f)
{
	return f->info.levels;
}

static void check_region_cb(struct fx *f)
{
	assert_leaf(f, f->v_far + f->h1 - 4 * f->g, f->g, f->rw);
	assert_leaf(f, f->v_far + f->h1 + 3 * f->g, f->g, f->rw);
}

/* Splits: two granule pages out of the prefilled H1 page. */
static int op_split_unmap(struct fx *f)
{
	return physim_pt_unmap_region(f->pt, V0 + 4 * f->h1 + 8 * f->g, 2 * f->g);
}

static void check_split_unmap(struct fx *f)
{
	assert_leaf(f, V0 + 4 * f->h1 + 7 * f->g, f->g, f->rw);
	assert_hole(f, V0 + 4 * f->h1 + 8 * f->g);
	assert_leaf(f, V0 + 4 * f->h1 + 10 * f->g, f->g, f->rw);
}

static int op_split_protect(struct fx *f)
{
	return physim_pt_protect_region(f->pt, V0 + 4 * f->h1 + 8 * f->g, 2 * f->g, f->ro);
}

static void check_split_protect(struct fx *f)
{
	assert_leaf(f, V0 + 4 * f->h1 + 7 * f->g, f->g, f->rw);
	assert_leaf(f, V0 + 4 * f->h1 + 9 * f->g, f->g, f->ro);
	assert_leaf(f, V0 + 4 * f->h1 + 10 * f->g, f->g, f->rw);
}

/* Replacing part of a huge page with granule pages splits it too. */
static int op_split_replace(struct fx *f)
{
	uint64_t va = V0 + 4 * f->h1 + 8 * f->g;
	return physim_pt_map_region(f->pt, va, pa_of(va) + f->g, 2 * f->g, f->ro, PHYSIM_REPLACE);
}

static void check_split_replace(struct fx *f)
{
	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(f->pt, V0 + 4 * f->h1 + 8 * f->g, &m), 0);
	assert_int_equal(m.size, f->g);
	assert_int_equal(m.pa, pa_of(m.va) + f->g);
	assert_leaf(f, V0 + 4 * f->h1 + 10 * f->g, f->g, f->rw);
}

/* The same on a range that ends inside one H1 page and starts inside the
 * next: both are split. */
static void pt_prefill_pair(struct fx *f)
{
	pt_prefill(f);
	uint64_t va = V0 + 10 * f->h1;
	assert_int_equal(
	    physim_pt_map_region(f->pt, va, pa_of(va), 2 * f->h1, f->rw, PHYSIM_ALLOW_HUGE), 0);
}

static int op_split2_unmap(struct fx *f)
{
	return physim_pt_unmap_region(f->pt, V0 + 11 * f->h1 - f->g, 2 * f->g);
}

static int op_split2_protect(struct fx *f)
{
	return physim_pt_protect_region(f->pt, V0 + 11 * f->h1 - f->g, 2 * f->g, f->ro);
}

static void check_split2(struct fx *f)
{
	assert_leaf(f, V0 + 11 * f->h1 - 2 * f->g, f->g, f->rw);
	assert_leaf(f, V0 + 11 * f->h1 + f->g, f->g, f->rw);
}

/* An H2 page with a granule hole punched in it: H2 -> H1 pages, one of
 * them -> granule pages; two tables. */
static void pt_prefill_h2(struct fx *f)
{
	pt_prefill(f);
	pt_map_ok(f, V0 + 3 * f->h2, f->h2);
}

static int op_split_h2_unmap(struct fx *f)
{
	return physim_pt_unmap_region(f->pt, V0 + 3 * f->h2 + 5 * f->h1 + 3 * f->g, f->g);
}

static int op_split_h2_protect(struct fx *f)
{
	return physim_pt_protect_region(f->pt, V0 + 3 * f->h2 + 5 * f->h1 + 3 * f->g, f->g, f->ro);
}

static void check_split_h2(struct fx *f)
{
	assert_leaf(f, V0 + 3 * f->h2, f->h1, f->rw);
	assert_leaf(f, V0 + 3 * f->h2 + 5 * f->h1 + 2 * f->g, f->g, f->rw);
	assert_leaf(f, V0 + 3 * f->h2 + 6 * f->h1, f->h1, f->rw);
}

/* Whole-page unmap / protect of a huge page allocate nothing. */
static int op_unmap_whole(struct fx *f)
{
	return physim_pt_unmap(f->pt, V0 + 4 * f->h1 + 8 * f->g, NULL);
}

static int op_protect_whole(struct fx *f)
{
	return physim_pt_protect(f->pt, V0 + 4 * f->h1 + 8 * f->g, f->ro);
}

static const struct op_case pt_cases[] = {
    {"create", NULL, pt_none, op_pt_create, one, check_pt_create},
    {"map 4K, empty root slot", NULL, pt_prefill, op_map_far_4k, levels_below_root,
     check_map_far_4k},
    {"map H1, empty root slot", has_h1, pt_prefill, op_map_far_h1, levels_below_root_minus_1,
     check_map_far_h1},
    {"map_region 4K", has_h1, pt_prefill, op_region_4k, two, check_region_4k},
    {"map_region 4K, 22 tables", has_h1, pt_prefill, op_region_many, twenty_two, check_region_many},
    {"map_region huge", has_h1, pt_prefill, op_region_huge, two, check_region_huge},
    {"map_region H2", has_h2, pt_prefill, op_region_h2, three, check_region_h2},
    {"map_region_cb", has_h1, pt_prefill, op_region_cb, levels, check_region_cb},
    {"split by unmap_region", has_h1, pt_prefill, op_split_unmap, one, check_split_unmap},
    {"split by protect_region", has_h1, pt_prefill, op_split_protect, one, check_split_protect},
    {"split by map_region REPLACE", has_h1, pt_prefill, op_split_replace, one, check_split_replace},
    {"split two by unmap_region", has_h1, pt_prefill_pair, op_split2_unmap, two, check_split2},
    {"split two by protect_region", has_h1, pt_prefill_pair, op_split2_protect, two, check_split2},
    {"split H2 by unmap_region", has_h2, pt_prefill_h2, op_split_h2_unmap, two, check_split_h2},
    {"split H2 by protect_region", has_h2, pt_prefill_h2, op_split_h2_protect, two, check_split_h2},
    {"unmap whole huge page", has_h1, pt_prefill, op_unmap_whole, zero, NULL},
    {"protect whole huge page", has_h1, pt_prefill, op_protect_whole, zero, NULL},
};

/* One per architecture family at least, plus the odd roots (8 KiB
 * concatenated, 16 KiB, 32 bytes) and granules (16K). */
static const char *const pt_formats[] = {
    "x86_64-4l",	"x86_64-5l", "ept-4l",	    "aarch64-4k-48",	 "aarch64-16k-47",
    "aarch64-s2-4k-40", "sv39x4",    "sv48",	    "loongarch64-4k-48", "i386-2l",
    "i386-pae",		"sv32",	     "armv7-short",
};

static void t_pt_sweeps(void **state)
{
	run_cases(state, pt_cases, sizeof(pt_cases) / sizeof(pt_cases[0]));
}

/* ---- address-space cases (every stage-2 format) ---- */

static struct physim_aspace_config space_config(struct fx *f)
{
	return (struct physim_aspace_config){
	    .format = f->fmt,
	    .paging = physim_counting_hal_paging(f->ch),
	    .mm = physim_counting_hal_mm(f->ch),
	    .vm = physim_counting_hal_vm(f->ch),
	    .base = G0,
	    .size = GSIZE,
	};
}

static int op_as_create(struct fx *f)
{
	struct physim_aspace_config c = space_config(f);
	return physim_aspace_create(&c, &f->as);
}

static void check_as_create(struct fx *f)
{
	assert_int_equal(physim_aspace_stats(f->as).table_frames, root_frames(f));
	assert_frames(f, (int64_t)root_frames(f));
}

#define LAZY	(G0 + 16 * PG) /* 64 lazy pages */
#define POP_PGS 4	       /* populated pages at G0 */

/* A space logging dirty pages, with a populated and a lazy area in the
 * first leaf table. */
static void as_prefill(struct fx *f)
{
	assert_int_equal(op_as_create(f), 0);
	assert_int_equal(physim_aspace_dirty_log_enable(f->as), 0);
	assert_int_equal(physim_aspace_map_alloc(f->as, G0, POP_PGS * PG, RW, true), 0);
	assert_int_equal(physim_aspace_map_alloc(f->as, LAZY, 64 * PG, RW, false), 0);
}

static uint64_t backing(const struct fx *f, uint64_t gpa)
{
	physim_hpa_t hpa = 0;
	assert_int_equal(physim_aspace_translate(f->as, gpa, &hpa), 0);
	return hpa;
}

/* populate [H1 - 4 pages, H1 + 8 pages): 12 frames and one leaf table. */
static int op_alloc_populate(struct fx *f)
{
	return physim_aspace_map_alloc(f->as, G0 + f->h1 - 4 * PG, 12 * PG, RW, true);
}

static uint64_t thirteen(const struct fx *f)
{
	(void)f;
	return 13;
}

static void check_alloc_populate(struct fx *f)
{
	assert_int_equal(physim_aspace_stats(f->as).alloc_frames, POP_PGS + 12);
	assert_int_equal(physim_ram_frame_in_use(f->ram, backing(f, G0 + f->h1 + 7 * PG)), 1);
}

static int op_alloc_lazy(struct fx *f)
{
	return physim_aspace_map_alloc(f->as, G0 + 4 * f->h1, 8 * PG, RW, false);
}

/* MMIO linear area: two H1 pages and two granule pages in a new leaf table. */
static int op_linear(struct fx *f)
{
	uint64_t gpa = G0 + 16 * f->h1;
	return physim_aspace_map_linear(f->as, gpa, MMIO_BASE + (gpa - G0), 2 * f->h1 + 2 * PG, RW);
}

static void check_linear(struct fx *f)
{
	assert_int_equal(backing(f, G0 + 17 * f->h1 + 5), MMIO_BASE + 17 * f->h1 + 5);
	assert_int_equal(backing(f, G0 + 18 * f->h1 + PG), MMIO_BASE + 18 * f->h1 + PG);
}

/* Identity region in RAM (another 1 GiB slot than G0): the claim, then an
 * H1 page and a leaf table, plus a level-1 table where there is one. */
#define IDENT (RAM_BASE + (UINT64_C(32) << 20))

static int op_identity(struct fx *f)
{
	return physim_aspace_map_identity(f->as, IDENT, f->h1 + 2 * PG, RW);
}

static uint64_t identity_allocs(const struct fx *f)
{
	return 1 + (f->info.levels >= 3 ? 2 : 1);
}

static void check_identity(struct fx *f)
{
	assert_int_equal(backing(f, IDENT + f->h1 + PG), IDENT + f->h1 + PG);
	assert_int_equal(physim_ram_frame_in_use(f->ram, IDENT + f->h1 + PG), 1);
}

/* Page faults: a lazy page whose leaf table exists (one frame), and one
 * whose leaf table does not (frame + table). */
static int op_fault(struct fx *f)
{
	return physim_aspace_handle_page_fault(f->as, LAZY + 5 * PG + 123, PHYSIM_W);
}

static void check_fault(struct fx *f)
{
	static const unsigned char zeros[PG];
	void *p = NULL;
	assert_int_equal(physim_ram_phys_to_virt(f->ram, backing(f, LAZY + 5 * PG), &p), 0);
	assert_memory_equal(p, zeros, PG);
	assert_int_equal(physim_aspace_stats(f->as).faults_handled, 1);
}

static void as_prefill_far_lazy(struct fx *f)
{
	as_prefill(f);
	assert_int_equal(physim_aspace_map_alloc(f->as, G0 + 6 * f->h1, 4 * PG, RW, false), 0);
}

static int op_fault_new_table(struct fx *f)
{
	return physim_aspace_handle_page_fault(f->as, G0 + 6 * f->h1 + PG, PHYSIM_R);
}

static void check_fault_new_table(struct fx *f)
{
	assert_int_equal(physim_aspace_stats(f->as).alloc_frames, POP_PGS + 1);
	backing(f, G0 + 6 * f->h1 + PG);
}

/* A guest write from a populated page into four lazy pages that straddle a
 * leaf-table boundary: four frames and one leaf table; before that, not a
 * byte written and no page logged dirty. */
#define WR_LEN (16 + 3 * PG + 8)

static uint64_t wr_start(const struct fx *f)
{
	return G0 + 3 * f->h1 - 2 * PG - 16;
}

static void as_prefill_write(struct fx *f)
{
	as_prefill(f);
	assert_int_equal(physim_aspace_map_alloc(f->as, G0 + 3 * f->h1 - 3 * PG, PG, RW, true), 0);
	assert_int_equal(physim_aspace_map_alloc(f->as, G0 + 3 * f->h1 - 2 * PG, 4 * PG, RW, false),
			 0);
}

static const unsigned char *wr_pattern(void)
{
	static unsigned char buf[WR_LEN];
	for (size_t i = 0; i < WR_LEN; i++)
		buf[i] = (unsigned char)(i * 7 + 1);
	return buf;
}

static int op_write(struct fx *f)
{
	return physim_guest_write(f->as, wr_start(f), wr_pattern(), WR_LEN);
}

static uint64_t five(const struct fx *f)
{
	(void)f;
	return 5;
}

static void check_write(struct fx *f)
{
	static unsigned char back[WR_LEN];
	assert_int_equal(physim_guest_read(f->as, wr_start(f), back, WR_LEN), 0);
	assert_memory_equal(back, wr_pattern(), WR_LEN);
	assert_int_equal(physim_aspace_stats(f->as).faults_handled, 4);
}

/* Reads populate lazy pages too (a guest read would fault them in). */
static int op_read(struct fx *f)
{
	unsigned char buf[16];
	return physim_guest_read(f->as, LAZY + 30 * PG - 8, buf, sizeof(buf));
}

static int op_write_volatile(struct fx *f)
{
	return physim_guest_write_volatile(f->as, LAZY + 9 * PG + 8, 8,
					   UINT64_C(0x1122334455667788));
}

static void check_write_volatile(struct fx *f)
{
	uint64_t v = 0;
	assert_int_equal(physim_guest_read_volatile(f->as, LAZY + 9 * PG + 8, 8, &v), 0);
	assert_int_equal(v, UINT64_C(0x1122334455667788));
}

/* Unmap that splits an area and the huge pages under it. */
static uint64_t lin2(const struct fx *f)
{
	return G0 + 32 * f->h1;
}

static void as_prefill_linear(struct fx *f)
{
	as_prefill(f);
	assert_int_equal(
	    physim_aspace_map_linear(f->as, lin2(f), MMIO_BASE + (lin2(f) - G0), 2 * f->h1, RW), 0);
}

static int op_unmap_split2(struct fx *f)
{
	return physim_aspace_unmap(f->as, lin2(f) + f->h1 - PG, 2 * PG);
}

static void check_unmap_split2(struct fx *f)
{
	assert_int_equal(physim_aspace_stats(f->as).areas, 4);
	assert_int_equal(backing(f, lin2(f) + f->h1 - 2 * PG),
			 MMIO_BASE + (lin2(f) - G0) + f->h1 - 2 * PG);
	physim_hpa_t hpa;
	assert_int_equal(physim_aspace_translate(f->as, lin2(f) + f->h1, &hpa), -ENOENT);
}

#define IDENT2 (RAM_BASE + (UINT64_C(40) << 20))

static void as_prefill_identity(struct fx *f)
{
	as_prefill(f);
	assert_int_equal(physim_aspace_map_identity(f->as, IDENT2, f->h1, RW), 0);
}

static int op_unmap_identity(struct fx *f)
{
	return physim_aspace_unmap(f->as, IDENT2 + 4 * PG, PG);
}

static void check_unmap_identity(struct fx *f)
{
	/* The hole went back to the vm HAL, the rest is still claimed. */
	assert_int_equal(physim_ram_frame_in_use(f->ram, IDENT2 + 4 * PG), 0);
	assert_int_equal(physim_ram_frame_in_use(f->ram, IDENT2 + 3 * PG), 1);
	assert_int_equal(physim_ram_frame_in_use(f->ram, IDENT2 + 5 * PG), 1);
}

/* Unmapping populated 4K pages splits an area but no page: no allocation. */
static int op_unmap_populated(struct fx *f)
{
	return physim_aspace_unmap(f->as, G0 + PG, PG);
}

static void check_unmap_populated(struct fx *f)
{
	assert_int_equal(physim_aspace_stats(f->as).alloc_frames, POP_PGS - 1);
	assert_int_equal(physim_aspace_stats(f->as).areas, 3);
}

static const struct op_case as_cases[] = {
    {"create", NULL, pt_none, op_as_create, one, check_as_create},
    {"map_alloc populate", NULL, as_prefill, op_alloc_populate, thirteen, check_alloc_populate},
    {"map_alloc lazy", NULL, as_prefill, op_alloc_lazy, zero, NULL},
    {"map_linear", NULL, as_prefill, op_linear, one, check_linear},
    {"map_identity", NULL, as_prefill, op_identity, identity_allocs, check_identity},
    {"page fault", NULL, as_prefill, op_fault, one, check_fault},
    {"page fault, new table", NULL, as_prefill_far_lazy, op_fault_new_table, two,
     check_fault_new_table},
    {"guest write", NULL, as_prefill_write, op_write, five, check_write},
    {"guest read", NULL, as_prefill, op_read, two, NULL},
    {"guest write volatile", NULL, as_prefill, op_write_volatile, one, check_write_volatile},
    {"unmap splitting two huge pages", NULL, as_prefill_linear, op_unmap_split2, two,
     check_unmap_split2},
    {"unmap splitting an identity page", NULL, as_prefill_identity, op_unmap_identity, one,
     check_unmap_identity},
    {"unmap populated pages", NULL, as_prefill, op_unmap_populated, zero, check_unmap_populated},
};

static void t_aspace_sweeps(void **state)
{
	run_cases(state, as_cases, sizeof(as_cases) / sizeof(as_cases[0]));
}

/* ---- the sweep must catch broken operations ---- */

/* A second table frame, the first kept if the second cannot be had (a leak). */
static int op_leaky(struct fx *f)
{
	const struct physim_paging_handler *ph = physim_counting_hal_paging(f->ch);
	physim_hpa_t a, b;
	int rc = physim_ph_alloc_frame(ph, &a);
	if (rc == 0)
		rc = physim_ph_alloc_frame(ph, &b);
	return rc;
}

/* A page mapped, then a frame that cannot be had: the page stays (half done). */
static int op_half_done(struct fx *f)
{
	physim_hpa_t a;
	int rc = physim_pt_map(f->pt, f->v_far, pa_of(f->v_far), f->g, f->rw);
	if (rc == 0)
		rc = physim_ph_alloc_frame(physim_counting_hal_paging(f->ch), &a);
	return rc;
}

/* Cleans up, but reports the wrong error. */
static int op_wrong_errno(struct fx *f)
{
	physim_hpa_t a;
	int rc = physim_ph_alloc_frame(physim_counting_hal_paging(f->ch), &a);
	return rc == 0 ? 0 : -EFAULT;
}

/* Changes one byte of the root (a high bit of its last entry, which stays
 * invalid) and gives up: no leaf, area or count changes. */
static int op_scribble(struct fx *f)
{
	void *root = NULL;
	physim_hpa_t a;
	assert_int_equal(physim_ram_phys_to_virt(f->ram, physim_pt_root(f->pt), &root), 0);
	int rc = physim_ph_alloc_frame(physim_counting_hal_paging(f->ch), &a);
	if (rc != 0)
		((unsigned char *)root)[f->info.root_bytes - 1] ^= 0x01;
	return rc;
}

static void t_sweep_catches_broken_ops(void **state)
{
	(void)state;
	/* at: the allocation whose failure shows the defect (0: the one after
	 * the levels - 1 tables the map in an empty root slot takes). */
	static const struct {
		struct op_case c;
		const char *want; /* in the problem reported */
		unsigned at;
	} broken[] = {
	    {{"leaky", NULL, pt_prefill, op_leaky, two, NULL}, "frames live", 2},
	    {{"half done", NULL, pt_prefill, op_half_done, two, NULL}, "number of leaves", 0},
	    {{"wrong errno", NULL, pt_prefill, op_wrong_errno, one, NULL}, "not -ENOMEM", 1},
	    {{"scribble", NULL, pt_prefill, op_scribble, one, NULL}, "a table", 1},
	};
	const struct physim_pt_format *fmt = NULL;
	for (size_t i = 0; fmt == NULL && i < sizeof(pt_formats) / sizeof(pt_formats[0]); i++)
		fmt = physim_format(pt_formats[i]);
	assert_non_null(fmt);
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		struct fx f;
		fx_open(&f, fmt);
		broken[i].c.setup(&f);
		uint64_t allocs = 0;
		const char *err = sweep(&f, &broken[i].c, FAIL_NTH, &allocs);
		char at[48];
		snprintf(at, sizeof(at), "allocation %u failed",
			 broken[i].at ? broken[i].at : f.info.levels);
		assert_non_null(err);
		if (strstr(err, broken[i].want) == NULL || strstr(err, at) == NULL)
			fail_msg("%s: expected \"%s\" and \"%s\", got \"%s\"", broken[i].c.name, at,
				 broken[i].want, err);
		physim_pt_destroy(f.pt);
		physim_counting_hal_destroy(f.ch);
		physim_ram_destroy(f.ram); /* the leaked frames go with it */
	}
}

int main(void)
{
	static const struct physim_pt_format *fmts[64];
	static char names[64][80];
	static struct CMUnitTest tests[64];
	size_t n = 0;
	tests[n++] = (struct CMUnitTest){.name = "sweep_catches_broken_ops",
					 .test_func = t_sweep_catches_broken_ops};
	for (size_t i = 0; i < sizeof(pt_formats) / sizeof(pt_formats[0]); i++) {
		fmts[n] = physim_format(pt_formats[i]);
		if (fmts[n] == NULL) /* family not built in (meson option archs) */
			continue;
		snprintf(names[n], sizeof(names[n]), "pt/%s", pt_formats[i]);
		tests[n] = (struct CMUnitTest){
		    .name = names[n], .test_func = t_pt_sweeps, .initial_state = &fmts[n]};
		n++;
	}
	for (size_t i = 0; i < physim_format_count() && n < 64; i++) {
		struct physim_pt_format_info info;
		physim_format_get_info(physim_format_at(i), &info);
		if (!info.stage2)
			continue;
		fmts[n] = physim_format_at(i);
		snprintf(names[n], sizeof(names[n]), "aspace/%s", info.name);
		tests[n] = (struct CMUnitTest){
		    .name = names[n], .test_func = t_aspace_sweeps, .initial_state = &fmts[n]};
		n++;
	}
	return _cmocka_run_group_tests("fault_sweep", tests, n, NULL, NULL);
}
