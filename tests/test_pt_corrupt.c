/* SPDX-License-Identifier: MIT */
/* tests/test_pt_corrupt.c - the page-table engine on corrupt tables (issue 10):
 * a table pointer at a caller's data frame, at the root, two pointers at one
 * table, a table whose every entry points at itself; on every format, owned
 * and attached. The engine must free only frames it allocated, each once,
 * refuse mutating calls with -EFAULT (nothing changed), and traverse in time
 * linear in the table frames that exist. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/env.h"

#include "pt-format.h"
#include <physim/ram.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE (32u << 20)
#define RX	 (PHYSIM_R | PHYSIM_X)
#define RWX	 (PHYSIM_R | PHYSIM_W | PHYSIM_X)

/* A paging handler over the RAM's that counts what the tables hold, the
 * frees that failed (a double free), and the table reads (phys_to_virt,
 * when there is no direct map): past the budget it answers NULL and notes
 * it, so an exponential traversal ends quickly and fails the test. */
struct env {
	struct tc_env mem; /* RAM, its handler and direct map (tests/common/env.h) */
	const struct physim_paging_handler *inner;
	struct physim_paging_handler ph;
	const struct physim_pt_format *f;
	int64_t live;	    /* frames allocated through ph and not returned */
	uint64_t bad_frees; /* dealloc calls that failed */
	uint64_t reads;	    /* phys_to_virt calls since the last reset */
	uint64_t budget;    /* 0: none */
	bool over_budget;
};

static int w_alloc_frame(void *ctx, physim_hpa_t *pa)
{
	struct env *e = ctx;
	int rc = e->inner->alloc_frame(e->inner->ctx, pa);
	if (rc == 0)
		e->live++;
	return rc;
}

static int w_alloc_frames(void *ctx, size_t n, uint64_t align, physim_hpa_t *pa)
{
	struct env *e = ctx;
	int rc = e->inner->alloc_frames(e->inner->ctx, n, align, pa);
	if (rc == 0)
		e->live += (int64_t)n;
	return rc;
}

static int w_dealloc_frame(void *ctx, physim_hpa_t pa)
{
	struct env *e = ctx;
	int rc = e->inner->dealloc_frame(e->inner->ctx, pa);
	if (rc == 0)
		e->live--;
	else
		e->bad_frees++;
	return rc;
}

static int w_dealloc_frames(void *ctx, physim_hpa_t pa, size_t n)
{
	struct env *e = ctx;
	int rc = e->inner->dealloc_frames(e->inner->ctx, pa, n);
	if (rc == 0)
		e->live -= (int64_t)n;
	else
		e->bad_frees++;
	return rc;
}

static void *w_phys_to_virt(void *ctx, physim_hpa_t pa)
{
	struct env *e = ctx;
	if (e->budget != 0 && ++e->reads > e->budget) {
		e->over_budget = true;
		return NULL;
	}
	return e->inner->phys_to_virt(e->inner->ctx, pa);
}

static void env_open(struct env *e, const struct physim_pt_format *f, bool direct)
{
	memset(e, 0, sizeof(*e));
	tc_env_open(&e->mem, 0, RAM_SIZE);
	e->inner = e->mem.ph;
	e->f = f;
	e->ph = (struct physim_paging_handler){
	    .ctx = e,
	    .alloc_frame = w_alloc_frame,
	    .alloc_frames = w_alloc_frames,
	    .dealloc_frame = w_dealloc_frame,
	    .dealloc_frames = w_dealloc_frames,
	    .phys_to_virt = w_phys_to_virt,
	};
	if (direct)
		e->ph.direct = e->inner->direct;
}

static void env_close(struct env *e)
{
	assert_int_equal(e->live, 0);
	assert_int_equal(e->bad_frees, 0);
	assert_int_equal(physim_ram_stats(e->mem.ram).used_frames, 0);
	tc_env_close(&e->mem);
}

static unsigned top(const struct env *e)
{
	return e->f->levels - 1u;
}

static uint8_t *hva(const struct env *e, physim_hpa_t pa)
{
	return e->inner->phys_to_virt(e->inner->ctx, pa);
}

static uint64_t pte_get(const struct env *e, physim_hpa_t table, uint64_t idx)
{
	return tc_get_entry(&e->mem, table + idx * e->f->pte_bytes, e->f->pte_bytes);
}

static void pte_put(const struct env *e, physim_hpa_t table, uint64_t idx, uint64_t d)
{
	tc_put_entry(&e->mem, table + idx * e->f->pte_bytes, e->f->pte_bytes, d);
}

/* A pointer to a level-(lvl - 1) table at pa, as the format writes it. */
static uint64_t table_ptr(const struct env *e, physim_hpa_t pa, unsigned lvl)
{
	uint64_t d = e->f->ops->encode_table(e->f, pa, lvl);
	assert_int_equal(e->f->ops->classify(e->f, d, lvl), PT_TABLE);
	assert_int_equal(e->f->ops->output_addr(e->f, d, lvl), pa);
	return d;
}

/* First input address of root entry j (canonical for sign-extended
 * formats), and the size an entry covers. */
static uint64_t entry_va(const struct env *e, uint64_t j)
{
	const struct physim_pt_format *f = e->f;
	uint64_t va = j << f->level[top(e)].shift;
	if (f->sign_extended && (va >> (f->va_bits - 1) & 1))
		va |= ~((UINT64_C(1) << f->va_bits) - 1);
	return va;
}

static uint64_t entry_size(const struct env *e)
{
	return pt_level_page_size(e->f, top(e));
}

/* The lower half (or whole) input range. */
static uint64_t low_range(const struct env *e)
{
	const struct physim_pt_format *f = e->f;
	return UINT64_C(1) << (f->sign_extended ? f->va_bits - 1 : f->va_bits);
}

static uint64_t granule(const struct env *e)
{
	return pt_level_page_size(e->f, 0);
}

/* A frame of the caller's, zeroed, aligned and sized like a table one level
 * below the root (straight from the RAM: not counted in e->live). */
static physim_hpa_t data_frame(const struct env *e)
{
	uint64_t n = pt_table_frames(e->f, top(e) - 1u);
	physim_hpa_t pa;
	assert_int_equal(e->inner->alloc_frames(e->inner->ctx, n, n * 4096, &pa), 0);
	memset(hva(e, pa), 0, n * 4096);
	return pa;
}

static void data_frame_free(const struct env *e, physim_hpa_t pa)
{
	/* Fails (-ENOENT) if the engine freed it behind its owner's back. */
	assert_int_equal(
	    e->inner->dealloc_frames(e->inner->ctx, pa, pt_table_frames(e->f, top(e) - 1u)), 0);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* A copy of the root table, to show a refused call changed nothing. */
struct root_copy {
	uint8_t *bytes;
	size_t n;
	uint64_t table_frames;
	int64_t live;
};

static void root_copy_take(const struct env *e, const struct physim_pt *pt, struct root_copy *c)
{
	c->n = pt_table_bytes(e->f, top(e));
	c->bytes = malloc(c->n);
	assert_non_null(c->bytes);
	memcpy(c->bytes, hva(e, physim_pt_root(pt)), c->n);
	c->table_frames = physim_pt_table_frames(pt);
	c->live = e->live;
}

static void root_copy_same(const struct env *e, const struct physim_pt *pt,
			   const struct root_copy *c)
{
	assert_memory_equal(c->bytes, hva(e, physim_pt_root(pt)), c->n);
	assert_int_equal(physim_pt_table_frames(pt), c->table_frames);
	assert_int_equal(e->live, c->live);
	free(c->bytes);
}

static int no_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	(void)m;
	++*(uint64_t *)ctx;
	return 0;
}

/* The mutating calls over root entry j, which holds a corrupt pointer:
 * each refused with -EFAULT, the root and the frame counts as they were. */
static void expect_refused(struct env *e, struct physim_pt *pt, uint64_t j)
{
	struct root_copy c;
	uint64_t va = entry_va(e, j), size = entry_size(e), gran = granule(e);
	uint64_t leaves = 0;
	root_copy_take(e, pt, &c);
	assert_int_equal(physim_pt_unmap_region(pt, va, size), -EFAULT);
	assert_int_equal(physim_pt_unmap_region(pt, va, gran), -EFAULT);
	assert_int_equal(physim_pt_protect_region(pt, va, size, RX), -EFAULT);
	assert_int_equal(physim_pt_map_region(pt, va, 0x80000000, gran, RWX, 0), -EFAULT);
	assert_int_equal(physim_pt_map_region(pt, va, 0x80000000, gran, RWX, PHYSIM_REPLACE),
			 -EFAULT);
	assert_int_equal(
	    physim_pt_walk(pt, va, size, &(struct physim_pt_walk_ops){.leaf = no_leaf}, &leaves),
	    -EFAULT);
	assert_int_equal(physim_pt_clear_ad(pt, va, size, true, true), -EFAULT);
	root_copy_same(e, pt, &c);
}

/* One legitimate page in root entry 1, so there are real tables around. */
static void map_one(struct env *e, struct physim_pt *pt)
{
	assert_int_equal(physim_pt_map(pt, entry_va(e, 1), 0x80000000, granule(e),
				       PHYSIM_R | PHYSIM_W | PHYSIM_X),
			 0);
}

static struct physim_pt_config config(struct env *e)
{
	return (struct physim_pt_config){.format = e->f, .paging = &e->ph};
}

/* ---- finding 1: a pointer at a caller's data frame ---- */

static void test_pointer_at_data_frame(void **state)
{
	(void)state;
	for (size_t k = 0; k < physim_format_count(); k++) {
		struct env e;
		env_open(&e, physim_format_at(k), true);
		physim_hpa_t data = data_frame(&e);
		uint64_t dbytes = pt_table_frames(e.f, top(&e) - 1u) * 4096;

		/* Owned: the data frame is not one of its tables. */
		struct physim_pt *pt;
		assert_int_equal(
		    physim_pt_create_ex(&(struct physim_pt_config){.format = e.f, .paging = &e.ph},
					&pt),
		    0);
		map_one(&e, pt);
		pte_put(&e, physim_pt_root(pt), 0, table_ptr(&e, data, top(&e)));
		expect_refused(&e, pt, 0);
		assert_true(all_zero(hva(&e, data), dbytes));
		physim_pt_destroy(pt);
		assert_int_equal(e.live, 0);

		/* Attached: it cannot tell a data frame from a table, but it
		 * frees no frame it did not allocate. */
		struct physim_pt_config cfg = config(&e);
		assert_int_equal(physim_pt_create_ex(&cfg, &pt), 0);
		map_one(&e, pt);
		struct physim_pt *view;
		assert_int_equal(physim_pt_attach(&cfg, physim_pt_root(pt), &view), 0);
		pte_put(&e, physim_pt_root(pt), 0, table_ptr(&e, data, top(&e)));
		int64_t live = e.live;
		assert_int_equal(physim_pt_unmap_region(view, entry_va(&e, 0), entry_size(&e)), 0);
		/* And the owner's tables under entry 1 are not the view's either. */
		assert_int_equal(physim_pt_unmap_region(view, entry_va(&e, 1), entry_size(&e)), 0);
		assert_int_equal(physim_pt_table_frames(view), 0);
		assert_int_equal(e.live, live);
		assert_int_equal(e.bad_frees, 0);
		physim_pt_destroy(view);
		physim_pt_destroy(pt);
		assert_int_equal(e.bad_frees, 0);
		data_frame_free(&e, data);
		env_close(&e);
	}
}

/* ---- finding 1: a pointer at the root ---- */

static void test_pointer_at_root(void **state)
{
	(void)state;
	for (size_t k = 0; k < physim_format_count(); k++) {
		struct env e;
		env_open(&e, physim_format_at(k), true);
		struct physim_pt_config cfg = config(&e);
		struct physim_pt *pt, *view;
		assert_int_equal(physim_pt_create_ex(&cfg, &pt), 0);
		map_one(&e, pt);
		physim_hpa_t root = physim_pt_root(pt);
		uint64_t good = pte_get(&e, root, 0);
		pte_put(&e, root, 0, table_ptr(&e, root, top(&e)));
		expect_refused(&e, pt, 0);

		/* Attached to the same memory: refused too, and its frame
		 * count stays 0 (it used to wrap to 2^64 - 1). */
		assert_int_equal(physim_pt_attach(&cfg, root, &view), 0);
		expect_refused(&e, view, 0);
		assert_int_equal(physim_pt_table_frames(view), 0);
		physim_pt_destroy(view);

		pte_put(&e, root, 0, good);
		physim_pt_destroy(pt);
		env_close(&e);
	}
}

/* ---- finding 1: two pointers at one table ---- */

static void test_two_pointers_at_one_table(void **state)
{
	(void)state;
	for (size_t k = 0; k < physim_format_count(); k++) {
		struct env e;
		env_open(&e, physim_format_at(k), true);
		struct physim_pt_config cfg = config(&e);
		struct physim_pt *pt, *view;
		assert_int_equal(physim_pt_create_ex(&cfg, &pt), 0);
		map_one(&e, pt);
		physim_hpa_t root = physim_pt_root(pt);
		uint64_t frames = physim_pt_table_frames(pt);
		pte_put(&e, root, 0, pte_get(&e, root, 1));
		expect_refused(&e, pt, 0);
		/* Entry 1 is the real link: its page is still there. */
		struct physim_pt_mapping m;
		assert_int_equal(physim_pt_query(pt, entry_va(&e, 1), &m), 0);

		/* Attached: the second visit of the table is corruption. */
		assert_int_equal(physim_pt_attach(&cfg, root, &view), 0);
		uint64_t va0 = entry_va(&e, 0), va1 = entry_va(&e, 1);
		if (va1 == va0 + entry_size(&e)) { /* both in one half */
			struct root_copy c;
			root_copy_take(&e, view, &c);
			uint64_t n = 0;
			assert_int_equal(physim_pt_unmap_region(view, va0, 2 * entry_size(&e)),
					 -EFAULT);
			assert_int_equal(
			    physim_pt_walk(view, va0, 2 * entry_size(&e),
					   &(struct physim_pt_walk_ops){.leaf = no_leaf}, &n),
			    -EFAULT);
			root_copy_same(&e, view, &c);
		}
		physim_pt_destroy(view);

		/* destroy returns each table frame once. */
		assert_int_equal(physim_pt_table_frames(pt), frames);
		physim_pt_destroy(pt);
		assert_int_equal(e.bad_frees, 0);
		env_close(&e);
	}
}

/* ---- finding 1: destroy straight after the damage ---- */

static void test_destroy_corrupt(void **state)
{
	(void)state;
	for (size_t k = 0; k < physim_format_count(); k++) {
		for (int damage = 0; damage < 3; damage++) {
			struct env e;
			env_open(&e, physim_format_at(k), true);
			struct physim_pt *pt;
			struct physim_pt_config cfg = config(&e);
			assert_int_equal(physim_pt_create_ex(&cfg, &pt), 0);
			map_one(&e, pt);
			physim_hpa_t root = physim_pt_root(pt), data = 0;
			if (damage == 0) { /* a pointer at a caller's frame */
				data = data_frame(&e);
				pte_put(&e, root, 0, table_ptr(&e, data, top(&e)));
			} else if (damage == 1) { /* two pointers at one table */
				pte_put(&e, root, 0, pte_get(&e, root, 1));
			} else { /* a pointer at the root */
				pte_put(&e, root, 0, table_ptr(&e, root, top(&e)));
			}
			physim_pt_destroy(pt);
			/* Every table frame back, each once; nothing else. */
			assert_int_equal(e.live, 0);
			assert_int_equal(e.bad_frees, 0);
			if (damage == 0)
				data_frame_free(&e, data);
			env_close(&e);
		}
	}
}

/* ---- remap writes into the leaf's table: its path is checked too ---- */

static void test_remap_through_corrupt_path(void **state)
{
	(void)state;
	for (size_t k = 0; k < physim_format_count(); k++) {
		struct env e;
		env_open(&e, physim_format_at(k), true);
		struct physim_pt_config cfg = config(&e);
		struct physim_pt *pt;
		assert_int_equal(physim_pt_create_ex(&cfg, &pt), 0);
		map_one(&e, pt);
		physim_hpa_t root = physim_pt_root(pt);
		pte_put(&e, root, 0, pte_get(&e, root, 1));
		/* Through entry 0 the lookup finds entry 1's page; writing it
		 * would change entry 1's mapping. */
		assert_int_equal(
		    physim_pt_remap(pt, entry_va(&e, 0), 0x80000000 + 16 * granule(&e), RWX),
		    -EFAULT);
		struct physim_pt_mapping m;
		assert_int_equal(physim_pt_query(pt, entry_va(&e, 1), &m), 0);
		assert_int_equal(m.pa, 0x80000000);
		/* Through the real link it works. */
		assert_int_equal(
		    physim_pt_remap(pt, entry_va(&e, 1), 0x80000000 + 16 * granule(&e), RWX), 0);
		assert_int_equal(physim_pt_query(pt, entry_va(&e, 1), &m), 0);
		assert_int_equal(m.pa, 0x80000000 + 16 * granule(&e));
		physim_pt_destroy(pt);
		env_close(&e);
	}
}

/* ---- an attached table frees the tables it created, and only those ---- */

static void test_attached_frees_its_own(void **state)
{
	(void)state;
	for (size_t k = 0; k < physim_format_count(); k++) {
		struct env e;
		env_open(&e, physim_format_at(k), true);
		struct physim_pt_config cfg = config(&e);
		uint64_t n = pt_table_frames(e.f, top(&e));
		physim_hpa_t img;
		assert_int_equal(e.inner->alloc_frames(e.inner->ctx, n, n * 4096, &img), 0);
		memset(hva(&e, img), 0, n * 4096);
		/* Root entry 0 holds a table of the caller's. */
		physim_hpa_t data = data_frame(&e);
		pte_put(&e, img, 0, table_ptr(&e, data, top(&e)));
		struct physim_pt *view;
		assert_int_equal(physim_pt_attach(&cfg, img, &view), 0);
		assert_int_equal(physim_pt_table_frames(view), 0);

		/* A page under entry 1 needs levels - 1 new tables, one under
		 * entry 0 levels - 2 (the caller's table is reused). */
		assert_int_equal(physim_pt_map(view, entry_va(&e, 1), 0x80000000, granule(&e), RWX),
				 0);
		assert_int_equal(physim_pt_map(view, entry_va(&e, 0), 0x80000000, granule(&e), RWX),
				 0);
		int64_t made = 0; /* in 4 KiB frames */
		for (unsigned l = 0; l + 1 < top(&e); l++)
			made += 2 * (int64_t)pt_table_frames(e.f, l);
		made += (int64_t)pt_table_frames(e.f, top(&e) - 1u);
		assert_int_equal(e.live, made);
		assert_int_equal(physim_pt_table_frames(view), (uint64_t)made);

		/* Unmapping both returns exactly those. */
		assert_int_equal(physim_pt_unmap_region(view, entry_va(&e, 0), entry_size(&e)), 0);
		assert_int_equal(physim_pt_unmap_region(view, entry_va(&e, 1), entry_size(&e)), 0);
		assert_int_equal(e.live, 0);
		assert_int_equal(physim_pt_table_frames(view), 0);
		assert_true(all_zero(hva(&e, img), n * 4096));
		physim_pt_destroy(view);
		data_frame_free(&e, data);
		assert_int_equal(e.inner->dealloc_frames(e.inner->ctx, img, n), 0);
		env_close(&e);
	}
}

/* ---- finding 2: a table whose every entry points at itself ---- */

static void fill_self(const struct env *e, physim_hpa_t table)
{
	uint64_t d = table_ptr(e, table, top(e));
	for (uint64_t i = 0; i < pt_level_entries(e->f, top(e)); i++)
		pte_put(e, table, i, d);
}

struct table_count {
	uint64_t tables, leaves;
};

static int count_table(void *ctx, uint64_t va, uint64_t span, unsigned level, physim_hpa_t pa)
{
	(void)va;
	(void)span;
	(void)level;
	(void)pa;
	((struct table_count *)ctx)->tables++;
	return 0;
}

static int count_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	(void)m;
	((struct table_count *)ctx)->leaves++;
	return 0;
}

/* Every traversal of the self-referencing table at pt: refused, after at
 * most a few table reads each (the old engine made 512^levels). */
static void expect_bounded(struct env *e, struct physim_pt *pt)
{
	uint64_t all = low_range(e);
	struct table_count tc = {0};
	struct physim_pt_walk_ops ops = {.table = count_table, .leaf = count_leaf};
	e->budget = 64;
	e->reads = 0;
	assert_int_equal(physim_pt_walk(pt, 0, all, &ops, &tc), -EFAULT);
	assert_int_equal(tc.tables, 1); /* the root, once */
	assert_int_equal(tc.leaves, 0);
	e->reads = 0;
	assert_int_equal(physim_pt_unmap_region(pt, 0, all), -EFAULT);
	e->reads = 0;
	assert_int_equal(physim_pt_protect_region(pt, 0, all, RX), -EFAULT);
	e->reads = 0;
	assert_int_equal(physim_pt_clear_ad(pt, 0, all, true, true), -EFAULT);
	e->reads = 0;
	assert_int_equal(physim_pt_map_region(pt, 0, 0x80000000, granule(e), RWX, 0), -EFAULT);
	assert_false(e->over_budget);
	e->budget = 0;
}

static void test_self_reference_linear(void **state)
{
	(void)state;
	for (size_t k = 0; k < physim_format_count(); k++) {
		for (int direct = 0; direct < 2; direct++) {
			struct env e;
			env_open(&e, physim_format_at(k), direct);
			struct physim_pt_config cfg = config(&e);

			/* Owned. */
			struct physim_pt *pt;
			assert_int_equal(physim_pt_create_ex(&cfg, &pt), 0);
			fill_self(&e, physim_pt_root(pt));
			expect_bounded(&e, pt);
			e.budget = 64;
			e.reads = 0;
			physim_pt_destroy(pt);
			assert_false(e.over_budget);
			e.budget = 0;
			assert_int_equal(e.live, 0);

			/* Attached to a frame of the caller's (a loaded image). */
			uint64_t n = pt_table_frames(e.f, top(&e));
			physim_hpa_t img;
			assert_int_equal(e.inner->alloc_frames(e.inner->ctx, n, n * 4096, &img), 0);
			memset(hva(&e, img), 0, n * 4096);
			fill_self(&e, img);
			struct physim_pt *view;
			assert_int_equal(physim_pt_attach(&cfg, img, &view), 0);
			expect_bounded(&e, view);
			physim_pt_destroy(view);
			assert_int_equal(e.inner->dealloc_frames(e.inner->ctx, img, n), 0);
			env_close(&e);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pointer_at_data_frame),
	    cmocka_unit_test(test_pointer_at_root),
	    cmocka_unit_test(test_two_pointers_at_one_table),
	    cmocka_unit_test(test_destroy_corrupt),
	    cmocka_unit_test(test_remap_through_corrupt_path),
	    cmocka_unit_test(test_attached_frees_its_own),
	    cmocka_unit_test(test_self_reference_linear),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
