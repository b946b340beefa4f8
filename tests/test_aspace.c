/* SPDX-License-Identifier: MIT */
/* tests/test_aspace.c - the guest address space over every stage-2 format:
 * the seed crate's (axaddrspace) address-space scenarios, bad inputs, area
 * and huge-page splits, the identity flow, allocation-failure injection and
 * a seeded random operation sequence checked against a page-level model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/env.h"
#include "common/per-format.h"
#include "common/rng.h"

#include <physim/aspace.h>
#include <physim/ram.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG	 UINT64_C(4096)
#define RAM_BASE UINT64_C(0x80000000)
#define RAM_SIZE (UINT64_C(64) << 20)
/* A host-physical window outside RAM (MMIO-like), below every stage-2
 * format's output limit (sv32x4: 34 bits). */
#define MMIO_BASE UINT64_C(0x100000000)
#define RW	  (PHYSIM_R | PHYSIM_W)
#define MAX_AREAS 256
#define MAX_PAGES 1024

/* ---- fixture: simulated RAM, a counting HAL over it, one address space ---- */

struct fx {
	const struct physim_pt_format *fmt;
	struct physim_pt_format_info info;
	struct physim_ram *ram;
	struct physim_vm_hal vm_inner;
	struct physim_counting_hal *ch;
	struct physim_aspace *as;
	uint64_t flush_calls;
	uint64_t flush_pages; /* VAs reported (all = true counts as 0) */
	bool flush_all;
	uint64_t flush_lo, flush_hi; /* range of the VAs reported */
};

static void on_flush(void *ctx, const uint64_t *vas, size_t n, bool all)
{
	struct fx *f = ctx;
	f->flush_calls++;
	f->flush_all |= all;
	for (size_t i = 0; i < n; i++) {
		f->flush_pages++;
		if (vas[i] < f->flush_lo)
			f->flush_lo = vas[i];
		if (vas[i] > f->flush_hi)
			f->flush_hi = vas[i];
	}
}

static void flush_reset(struct fx *f)
{
	f->flush_calls = f->flush_pages = 0;
	f->flush_all = false;
	f->flush_lo = UINT64_MAX;
	f->flush_hi = 0;
}

static struct physim_aspace_config fx_config(struct fx *f, uint64_t base, uint64_t size)
{
	return (struct physim_aspace_config){
	    .format = f->fmt,
	    .paging = physim_counting_hal_paging(f->ch),
	    .mm = physim_counting_hal_mm(f->ch),
	    .vm = physim_counting_hal_vm(f->ch),
	    .base = base,
	    .size = size,
	    .flush = on_flush,
	    .flush_ctx = f,
	};
}

/* RAM and HALs only (no address space yet). */
static void fx_open_hal(struct fx *f, const struct physim_pt_format *fmt)
{
	memset(f, 0, sizeof(*f));
	f->fmt = fmt;
	physim_format_get_info(fmt, &f->info);
	tc_counted_ram_open(RAM_BASE, RAM_SIZE, &f->ram, &f->vm_inner, &f->ch);
	flush_reset(f);
}

static void fx_open(struct fx *f, const struct physim_pt_format *fmt, uint64_t base, uint64_t size)
{
	fx_open_hal(f, fmt);
	struct physim_aspace_config c = fx_config(f, base, size);
	assert_int_equal(physim_aspace_create(&c, &f->as), 0);
}

static int64_t live(const struct fx *f)
{
	return physim_counting_hal_counts(f->ch).frames_live;
}

/* Destroy and check that every frame came back, counted two ways. */
static void fx_close(struct fx *f)
{
	physim_aspace_destroy(f->as);
	f->as = NULL;
	assert_int_equal(live(f), 0);
	assert_int_equal(physim_counting_hal_counts(f->ch).free_failed, 0);
	assert_int_equal(physim_ram_stats(f->ram).used_frames, 0);
	physim_counting_hal_destroy(f->ch);
	physim_ram_destroy(f->ram);
}

static void fail_nth(struct fx *f, uint64_t n)
{
	struct physim_counting_hal_config plan = {.fail_nth = n};
	physim_counting_hal_set_plan(f->ch, &plan);
}

/* Frames of the root table, from the format's geometry. */
static uint64_t root_frames(const struct fx *f)
{
	return (f->info.root_bytes + PG - 1) / PG;
}

static uint64_t tx(const struct fx *f, uint64_t gpa)
{
	physim_hpa_t hpa = 0;
	assert_int_equal(physim_aspace_translate(f->as, gpa, &hpa), 0);
	return hpa;
}

static void assert_unbacked(const struct fx *f, uint64_t gpa)
{
	physim_hpa_t hpa = 0x1234;
	assert_int_equal(physim_aspace_translate(f->as, gpa, &hpa), -ENOENT);
	assert_int_equal(hpa, 0x1234);
}

static struct physim_pt_mapping leaf(const struct fx *f, uint64_t gpa)
{
	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(physim_aspace_pt(f->as), gpa, &m), 0);
	return m;
}

/* ---- areas as the space reports them ---- */

struct area_list {
	struct physim_area_info a[MAX_AREAS];
	size_t n;
};

static int collect_area(void *ctx, const struct physim_area_info *a)
{
	struct area_list *l = ctx;
	assert_true(l->n < MAX_AREAS);
	l->a[l->n++] = *a;
	return 0;
}

static struct area_list areas_of(const struct fx *f)
{
	static struct area_list l;
	l.n = 0;
	assert_int_equal(physim_aspace_for_each_area(f->as, collect_area, &l), 0);
	return l;
}

static bool area_equal(const struct physim_area_info *x, const struct physim_area_info *y)
{
	return x->start == y->start && x->size == y->size && x->flags == y->flags &&
	       x->kind == y->kind && x->linear_hpa == y->linear_hpa && x->populate == y->populate &&
	       x->identity == y->identity && x->frames == y->frames;
}

/* ---- snapshots: "nothing changed" ---- */

struct snap {
	struct area_list areas;
	struct physim_aspace_stats st;
	int64_t live;
	uint64_t ram_used;
	uint64_t root;
	size_t npages;
	int rc[MAX_PAGES];
	physim_hpa_t hpa[MAX_PAGES];
};

static void snap_take(const struct fx *f, struct snap *s)
{
	s->areas = areas_of(f);
	s->st = physim_aspace_stats(f->as);
	s->live = live(f);
	s->ram_used = physim_ram_stats(f->ram).used_frames;
	s->root = physim_aspace_root(f->as);
	uint64_t base = physim_aspace_base(f->as);
	uint64_t pages = physim_aspace_size(f->as) / PG;
	/* Every page of small spaces; the first MAX_PAGES of larger ones. */
	s->npages = pages < MAX_PAGES ? (size_t)pages : MAX_PAGES;
	for (size_t i = 0; i < s->npages; i++) {
		s->hpa[i] = 0;
		s->rc[i] = physim_aspace_translate(f->as, base + i * PG, &s->hpa[i]);
	}
}

static void assert_unchanged(const struct fx *f, const struct snap *before)
{
	static struct snap now;
	snap_take(f, &now);
	assert_int_equal(now.areas.n, before->areas.n);
	for (size_t i = 0; i < now.areas.n; i++)
		assert_true(area_equal(&now.areas.a[i], &before->areas.a[i]));
	assert_int_equal(now.st.areas, before->st.areas);
	assert_int_equal(now.st.alloc_frames, before->st.alloc_frames);
	assert_int_equal(now.st.table_frames, before->st.table_frames);
	assert_int_equal(now.live, before->live);
	assert_int_equal(now.ram_used, before->ram_used);
	assert_int_equal(now.root, before->root);
	for (size_t i = 0; i < now.npages; i++) {
		assert_int_equal(now.rc[i], before->rc[i]);
		assert_int_equal(now.hpa[i], before->hpa[i]);
	}
}

static const struct physim_pt_format *state_format(void **state)
{
	return *(const struct physim_pt_format **)*state;
}

/* Smallest page size above 4 KiB the format can map (its first huge size). */
static uint64_t first_huge(const struct fx *f)
{
	for (unsigned b = 13; b < 64; b++)
		if (f->info.page_sizes >> b & 1)
			return UINT64_C(1) << b;
	return 0;
}

/* ---- the seed crate's scenarios (space 0x10000 + 0x10000) ---- */

#define SEED_BASE UINT64_C(0x10000)
#define SEED_SIZE UINT64_C(0x10000)

static void t_creation(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	assert_int_equal(physim_aspace_base(f.as), SEED_BASE);
	assert_int_equal(physim_aspace_size(f.as), SEED_SIZE);
	assert_non_null(physim_aspace_pt(f.as));
	assert_ptr_equal(physim_pt_format(physim_aspace_pt(f.as)), f.fmt);
	physim_hpa_t root = physim_aspace_root(f.as);
	assert_int_equal(root, physim_pt_root(physim_aspace_pt(f.as)));
	/* The root lives in RAM, aligned to its own size. */
	assert_true(root >= RAM_BASE && root < RAM_BASE + RAM_SIZE);
	assert_int_equal(root % f.info.root_bytes, 0);
	assert_int_equal(physim_ram_frame_in_use(f.ram, root), 1);
	/* Only the root was allocated. */
	assert_int_equal(live(&f), (int64_t)root_frames(&f));
	struct physim_aspace_stats st = physim_aspace_stats(f.as);
	assert_int_equal(st.areas, 0);
	assert_int_equal(st.alloc_frames, 0);
	assert_int_equal(st.table_frames, root_frames(&f));
	assert_int_equal(st.faults_handled, 0);
	assert_int_equal(st.faults_refused, 0);
	assert_int_equal(areas_of(&f).n, 0);
	fx_close(&f);
}

static void t_contains_range(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	const uint64_t b = SEED_BASE, s = SEED_SIZE;
	assert_true(physim_aspace_contains_range(f.as, b, 0x1000));
	assert_true(physim_aspace_contains_range(f.as, b + 0x1000, 0x2000));
	assert_true(physim_aspace_contains_range(f.as, b, s));
	assert_true(physim_aspace_contains_range(f.as, b + s - 1, 1));
	assert_false(physim_aspace_contains_range(f.as, b - 0x1000, 0x1000));
	assert_false(physim_aspace_contains_range(f.as, b + s, 0x1000));
	assert_false(physim_aspace_contains_range(f.as, b, s + 0x1000));
	assert_false(physim_aspace_contains_range(f.as, b + 0x3000, 0xf000));
	assert_false(physim_aspace_contains_range(f.as, b - 1, 2));
	assert_false(physim_aspace_contains_range(f.as, b, 0));
	assert_false(physim_aspace_contains_range(f.as, UINT64_MAX - 0xfff, 0x2000));
	assert_false(physim_aspace_contains_range(NULL, b, 0x1000));
	fx_close(&f);
}

static void t_map_linear(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	/* hpa below gpa */
	assert_int_equal(physim_aspace_map_linear(f.as, 0x18000, 0x10000, 0x8000, RW), 0);
	for (uint64_t off = 0; off < 0x8000; off += PG)
		assert_int_equal(tx(&f, 0x18000 + off), 0x10000 + off);
	assert_int_equal(tx(&f, 0x18000 + 0x1234), 0x11234);
	/* hpa above gpa */
	assert_int_equal(physim_aspace_map_linear(f.as, 0x12000, 0x1c000, 0x4000, RW), 0);
	assert_int_equal(tx(&f, 0x12000), 0x1c000);
	assert_int_equal(tx(&f, 0x15000), 0x1f000);
	assert_unbacked(&f, 0x11000);
	assert_unbacked(&f, 0x16000);
	/* hpa + size wraps */
	assert_int_equal(physim_aspace_map_linear(f.as, 0x10000, UINT64_MAX - 0xfff, 0x2000, RW),
			 -EINVAL);
	/* hpa beyond the format's output width */
	assert_int_equal(
	    physim_aspace_map_linear(f.as, 0x10000, UINT64_C(1) << f.info.pa_bits, 0x1000, RW),
	    -EINVAL);
	struct area_list l = areas_of(&f);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.a[0].start, 0x12000);
	assert_int_equal(l.a[0].size, 0x4000);
	assert_int_equal(l.a[0].kind, PHYSIM_AREA_LINEAR);
	assert_int_equal(l.a[0].linear_hpa, 0x1c000);
	assert_int_equal(l.a[0].flags, RW);
	assert_false(l.a[0].identity);
	assert_int_equal(l.a[0].frames, 0);
	assert_int_equal(l.a[1].start, 0x18000);
	assert_int_equal(l.a[1].linear_hpa, 0x10000);
	/* The leaves carry the area's flags. */
	assert_int_equal(leaf(&f, 0x18000).flags, RW);
	/* Linear areas take no frames from the mm HAL. */
	assert_int_equal(physim_aspace_stats(f.as).alloc_frames, 0);
	fx_close(&f);
}

static void t_map_alloc_populate(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	/* Dirty some frames first: the debug RAM poisons freed frames, so a
	 * frame handed to the guest must have been zeroed by the space. */
	physim_hpa_t junk[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(physim_ram_alloc_frame(f.ram, &junk[i]), 0);
	for (int i = 7; i >= 0; i--)
		assert_int_equal(physim_ram_free_frame(f.ram, junk[i]), 0);

	int64_t before = live(&f);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x10000, 0x2000, RW, true), 0);
	/* 2 data frames + one table per non-root level. */
	assert_int_equal(live(&f) - before, 2 + (int64_t)(f.info.levels - 1));
	physim_hpa_t p1 = tx(&f, 0x10000), p2 = tx(&f, 0x11000);
	assert_true(p1 >= RAM_BASE && p1 < RAM_BASE + RAM_SIZE);
	assert_true(p2 >= RAM_BASE && p2 < RAM_BASE + RAM_SIZE);
	assert_int_not_equal(p1, p2);
	assert_int_equal(p1 % PG, 0);
	assert_int_equal(physim_ram_frame_in_use(f.ram, p1), 1);
	assert_int_equal(physim_ram_frame_in_use(f.ram, p2), 1);
	for (int k = 0; k < 2; k++) {
		void *hva;
		assert_int_equal(physim_ram_phys_to_virt(f.ram, k ? p2 : p1, &hva), 0);
		static const uint8_t zero[4096];
		assert_memory_equal(hva, zero, PG);
	}
	struct area_list l = areas_of(&f);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.a[0].kind, PHYSIM_AREA_ALLOC);
	assert_true(l.a[0].populate);
	assert_int_equal(l.a[0].frames, 2);
	struct physim_aspace_stats st = physim_aspace_stats(f.as);
	assert_int_equal(st.alloc_frames, 2);
	assert_int_equal(st.table_frames, root_frames(&f) + f.info.levels - 1);
	assert_int_equal(live(&f), (int64_t)(st.alloc_frames + st.table_frames));
	/* The seed's matchable errors: out of range, unaligned, conflict. */
	assert_int_equal(physim_aspace_map_alloc(f.as, SEED_BASE + SEED_SIZE, 0x1000, RW, false),
			 -EINVAL);
	assert_int_equal(physim_aspace_map_alloc(f.as, SEED_BASE + 1, 0x1000, RW, false), -EINVAL);
	assert_int_equal(physim_aspace_map_alloc(f.as, SEED_BASE, 0x1000, RW, false), -EEXIST);
	fx_close(&f);
}

static void t_map_alloc_lazy(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	int64_t before = live(&f);
	uint64_t calls = physim_counting_hal_counts(f.ch).alloc_calls;
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x13000, 0x3000, RW, false), 0);
	/* Nothing allocated, not even a table. */
	assert_int_equal(live(&f), before);
	assert_int_equal(physim_counting_hal_counts(f.ch).alloc_calls, calls);
	assert_unbacked(&f, 0x13000);
	assert_unbacked(&f, 0x15000);
	struct area_list l = areas_of(&f);
	assert_int_equal(l.n, 1);
	assert_false(l.a[0].populate);
	assert_int_equal(l.a[0].frames, 0);
	assert_int_equal(physim_aspace_stats(f.as).alloc_frames, 0);
	/* A lazy area still occupies its range. */
	assert_int_equal(physim_aspace_map_linear(f.as, 0x15000, 0x1000, 0x1000, RW), -EEXIST);
	fx_close(&f);
}

static void t_page_fault(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x14000, 0x2000, RW, false), 0);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x16000, 0x1000, PHYSIM_R, false), 0);
	assert_int_equal(physim_aspace_map_linear(f.as, 0x18000, 0x18000, 0x1000, RW), 0);
	/* Poison the next free frames (the debug RAM fills freed frames). */
	physim_hpa_t junk[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(physim_ram_alloc_frame(f.ram, &junk[i]), 0);
	for (int i = 3; i >= 0; i--)
		assert_int_equal(physim_ram_free_frame(f.ram, junk[i]), 0);
	int64_t before = live(&f);

	/* Handled: one zeroed frame (the linear page made the tables). */
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x14123, PHYSIM_R), 0);
	assert_int_equal(live(&f) - before, 1);
	physim_hpa_t p = tx(&f, 0x14000);
	assert_int_equal(physim_ram_frame_in_use(f.ram, p), 1);
	void *hva;
	static const uint8_t zero[4096];
	assert_int_equal(physim_ram_phys_to_virt(f.ram, p, &hva), 0);
	assert_memory_equal(hva, zero, PG);
	assert_int_equal(leaf(&f, 0x14000).flags, RW);
	assert_unbacked(&f, 0x15000);
	/* Write to the other page of the RW area. */
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x15ff8, PHYSIM_W), 0);
	assert_int_not_equal(tx(&f, 0x15000), p);
	/* Refused: already mapped, outside any area, outside the space,
	 * access not allowed, linear area. */
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x14000, PHYSIM_R), -EFAULT);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x17000, PHYSIM_R), -EFAULT);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x30000, PHYSIM_R), -EFAULT);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x16000, PHYSIM_W), -EFAULT);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x16000, PHYSIM_X), -EFAULT);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x16000, RW), -EFAULT);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x18000, PHYSIM_R), -EFAULT);
	/* Bad access kinds are not faults at all. */
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x16000, 0), -EINVAL);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x16000, PHYSIM_U), -EINVAL);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x16000, 1u << 9), -EINVAL);
	assert_int_equal(physim_aspace_handle_page_fault(NULL, 0x16000, PHYSIM_R), -EINVAL);
	assert_unbacked(&f, 0x16000);
	/* Then the read fault it does allow. */
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x16000, PHYSIM_R), 0);
	assert_int_equal(leaf(&f, 0x16000).flags, PHYSIM_R);
	struct physim_aspace_stats st = physim_aspace_stats(f.as);
	assert_int_equal(st.faults_handled, 3);
	assert_int_equal(st.faults_refused, 7);
	assert_int_equal(st.alloc_frames, 3);
	struct area_list l = areas_of(&f);
	assert_int_equal(l.a[0].frames, 2);
	assert_int_equal(l.a[1].frames, 1);
	fx_close(&f);
}

/* Unmapping the middle of a lazy area leaves two pieces, each counting the
 * frames faulted in on its side; the frames of the cut part are freed.
 * (The unmap counts the pieces in the traversal that plans it.) */
static void t_unmap_lazy_pieces(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x14000, 0x8000, RW, false), 0);
	static const unsigned touched[] = {0, 1, 3, 5, 7};
	for (size_t i = 0; i < sizeof(touched) / sizeof(touched[0]); i++)
		assert_int_equal(
		    physim_aspace_handle_page_fault(f.as, 0x14000 + touched[i] * PG, PHYSIM_W), 0);
	assert_int_equal(physim_aspace_stats(f.as).alloc_frames, 5);
	/* Pages 3 and 4: one of them faulted in. */
	assert_int_equal(physim_aspace_unmap(f.as, 0x17000, 0x2000), 0);
	struct area_list l = areas_of(&f);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.a[0].start, 0x14000);
	assert_int_equal(l.a[0].size, 0x3000);
	assert_int_equal(l.a[0].frames, 2); /* pages 0, 1 */
	assert_int_equal(l.a[1].start, 0x19000);
	assert_int_equal(l.a[1].size, 0x3000);
	assert_int_equal(l.a[1].frames, 2); /* pages 5, 7 */
	assert_int_equal(physim_aspace_stats(f.as).alloc_frames, 4);
	/* Cut the first page of the right piece: page 5 goes, page 7 stays. */
	assert_int_equal(physim_aspace_unmap(f.as, 0x19000, PG), 0);
	l = areas_of(&f);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.a[1].start, 0x1a000);
	assert_int_equal(l.a[1].frames, 1);
	assert_int_equal(physim_aspace_stats(f.as).alloc_frames, 3);
	assert_unbacked(&f, 0x19000);
	assert_unbacked(&f, 0x1a000);
	fx_close(&f);
}

static void t_unmap(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	int64_t empty = live(&f);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x15000, 0x2000, RW, true), 0);
	physim_hpa_t p0 = tx(&f, 0x15000), p1 = tx(&f, 0x16000);
	uint64_t freed = physim_counting_hal_counts(f.ch).frames_freed;
	flush_reset(&f);
	assert_int_equal(physim_aspace_unmap(f.as, 0x15000, 0x2000), 0);
	assert_unbacked(&f, 0x15000);
	assert_unbacked(&f, 0x16000);
	assert_int_equal(physim_ram_frame_in_use(f.ram, p0), 0);
	assert_int_equal(physim_ram_frame_in_use(f.ram, p1), 0);
	/* 2 data frames and the now empty tables came back. */
	assert_int_equal(physim_counting_hal_counts(f.ch).frames_freed - freed,
			 2 + f.info.levels - 1);
	assert_int_equal(live(&f), empty);
	assert_int_equal(areas_of(&f).n, 0);
	/* The TLB was told about both pages and nothing else. */
	assert_true(f.flush_calls >= 1);
	assert_false(f.flush_all);
	assert_int_equal(f.flush_lo, 0x15000);
	assert_int_equal(f.flush_hi, 0x16000);
	/* Holes are fine. */
	assert_int_equal(physim_aspace_unmap(f.as, SEED_BASE, SEED_SIZE), 0);
	fx_close(&f);
}

static void t_clear(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	int64_t empty = live(&f);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x16000, 0x1000, RW, true), 0);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x17000, 0x1000, RW, true), 0);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x10000, 0x4000, RW, false), 0);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x12000, PHYSIM_W), 0);
	assert_int_equal(physim_aspace_map_linear(f.as, 0x1a000, 0x5000, 0x2000, RW), 0);
	assert_int_equal(physim_aspace_stats(f.as).alloc_frames, 3);
	physim_aspace_clear(f.as);
	for (uint64_t g = SEED_BASE; g < SEED_BASE + SEED_SIZE; g += PG)
		assert_unbacked(&f, g);
	assert_int_equal(areas_of(&f).n, 0);
	assert_int_equal(physim_aspace_stats(f.as).alloc_frames, 0);
	assert_int_equal(physim_aspace_stats(f.as).table_frames, root_frames(&f));
	assert_int_equal(live(&f), empty);
	/* The space is usable again. */
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x16000, 0x1000, RW, true), 0);
	physim_aspace_clear(NULL);
	fx_close(&f);
}

/* The seed's "clear restores an empty space after a huge linear mapping". */
static void t_clear_huge(void **state)
{
	struct fx f;
	fx_open_hal(&f, state_format(state));
	uint64_t h = first_huge(&f);
	struct physim_aspace_config c = fx_config(&f, 0, 2 * h);
	assert_int_equal(physim_aspace_create(&c, &f.as), 0);
	assert_int_equal(physim_aspace_map_linear(f.as, 0, h, h, RW), 0);
	assert_int_equal(leaf(&f, 0).size, h);
	assert_int_equal(tx(&f, h - PG), 2 * h - PG);
	physim_aspace_clear(f.as);
	assert_unbacked(&f, 0);
	assert_int_equal(physim_aspace_stats(f.as).table_frames, root_frames(&f));
	fx_close(&f);
}

static void t_translate(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x18000, 0x1000, RW, true), 0);
	physim_hpa_t p = tx(&f, 0x18000);
	assert_true(p >= RAM_BASE && p < RAM_BASE + RAM_SIZE);
	assert_int_equal(tx(&f, 0x18fff), p + 0xfff);
	assert_unbacked(&f, 0x19000);
	assert_unbacked(&f, 0x30000);
	/* Beyond the format's input range: still just "not backed". */
	assert_unbacked(&f, UINT64_MAX & ~0xfffull);
	physim_hpa_t h;
	assert_int_equal(physim_aspace_translate(NULL, 0x18000, &h), -EINVAL);
	assert_int_equal(physim_aspace_translate(f.as, 0x18000, NULL), -EINVAL);
	fx_close(&f);
}

static void t_translated_buffer(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x19000, 0x2000, RW, true), 0);
	struct physim_iovec iov[8];
	size_t n = 99;
	assert_int_equal(physim_aspace_translated_buffer(f.as, 0x19000, 0x1100, iov, 8, &n), 0);
	/* One span per page unless the two frames are host-contiguous. */
	physim_hpa_t p0 = tx(&f, 0x19000), p1 = tx(&f, 0x1a000);
	void *h0, *h1;
	assert_int_equal(physim_ram_phys_to_virt(f.ram, p0, &h0), 0);
	assert_int_equal(physim_ram_phys_to_virt(f.ram, p1, &h1), 0);
	if ((uint8_t *)h1 == (uint8_t *)h0 + PG) {
		assert_int_equal(n, 1);
		assert_ptr_equal(iov[0].base, h0);
		assert_int_equal(iov[0].len, 0x1100);
	} else {
		assert_int_equal(n, 2);
		assert_ptr_equal(iov[0].base, h0);
		assert_int_equal(iov[0].len, 0x1000);
		assert_ptr_equal(iov[1].base, h1);
		assert_int_equal(iov[1].len, 0x100);
	}
	/* Write through the spans, read back by guest-physical address. */
	size_t k = 0;
	for (size_t s = 0; s < n; s++)
		for (size_t i = 0; i < iov[s].len; i++, k++)
			((uint8_t *)iov[s].base)[i] = (uint8_t)(k % 0x100);
	uint8_t back[0x1100];
	assert_int_equal(physim_guest_read(f.as, 0x19000, back, sizeof(back)), 0);
	for (size_t i = 0; i < sizeof(back); i++)
		assert_int_equal(back[i], i % 0x100);
	/* Past the end of the area (nothing follows), unmapped, lazy. */
	assert_int_equal(physim_aspace_translated_buffer(f.as, 0x19000, 0x3000, iov, 8, &n),
			 -ENOENT);
	assert_int_equal(physim_aspace_translated_buffer(f.as, 0x1d000, 0x100, iov, 8, &n),
			 -ENOENT);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x10000, 0x1000, RW, false), 0);
	assert_int_equal(physim_aspace_translated_buffer(f.as, 0x10000, 0x100, iov, 8, &n),
			 -ENOENT);
	/* Unaligned start and a length of one byte. */
	assert_int_equal(physim_aspace_translated_buffer(f.as, 0x19fff, 1, iov, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_ptr_equal(iov[0].base, (uint8_t *)h0 + 0xfff);
	assert_int_equal(iov[0].len, 1);
	/* Zero length: no spans. */
	assert_int_equal(physim_aspace_translated_buffer(f.as, 0x19000, 0, iov, 8, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(physim_aspace_translated_buffer(NULL, 0x19000, 1, iov, 8, &n), -EINVAL);
	assert_int_equal(physim_aspace_translated_buffer(f.as, 0x19000, 1, iov, 8, NULL), -EINVAL);
	assert_int_equal(physim_aspace_translated_buffer(f.as, 0x19000, 1, NULL, 8, &n), -EINVAL);
	fx_close(&f);
}

/* Spans across areas: merged when the host memory is contiguous, split
 * when it is not; -ERANGE writes nothing; MMIO has no host pointer. */
static void t_translated_buffer_areas(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	physim_hpa_t run;
	assert_int_equal(physim_ram_alloc_frames(f.ram, 6, PG, &run), 0);
	void *hrun;
	assert_int_equal(physim_ram_phys_to_virt(f.ram, run, &hrun), 0);
	/* Two linear areas back to back in both spaces, then one whose host
	 * memory jumps. */
	assert_int_equal(physim_aspace_map_linear(f.as, 0x10000, run, 0x2000, RW), 0);
	assert_int_equal(physim_aspace_map_linear(f.as, 0x12000, run + 0x2000, 0x1000, PHYSIM_R),
			 0);
	assert_int_equal(physim_aspace_map_linear(f.as, 0x13000, run + 0x5000, 0x1000, RW), 0);
	struct physim_iovec iov[4];
	size_t n = 0;
	assert_int_equal(physim_aspace_translated_buffer(f.as, 0x10800, 0x3000, iov, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_ptr_equal(iov[0].base, (uint8_t *)hrun + 0x800);
	assert_int_equal(iov[0].len, 0x2800);
	assert_ptr_equal(iov[1].base, (uint8_t *)hrun + 0x5000);
	assert_int_equal(iov[1].len, 0x800);
	/* Too few spans: -ERANGE, the count needed, the array untouched. */
	struct physim_iovec one = {.base = &n, .len = 77};
	assert_int_equal(physim_aspace_translated_buffer(f.as, 0x10800, 0x3000, &one, 1, &n),
			 -ERANGE);
	assert_int_equal(n, 2);
	assert_ptr_equal(one.base, &n);
	assert_int_equal(one.len, 77);
	assert_int_equal(physim_aspace_translated_buffer(f.as, 0x10800, 0x3000, NULL, 0, &n),
			 -ERANGE);
	assert_int_equal(n, 2);
	/* A linear area over memory the mm HAL does not hold. */
	assert_int_equal(physim_aspace_map_linear(f.as, 0x18000, MMIO_BASE, 0x1000, RW), 0);
	assert_int_equal(tx(&f, 0x18010), MMIO_BASE + 0x10);
	assert_int_equal(physim_aspace_translated_buffer(f.as, 0x18000, 0x10, iov, 4, &n), -EFAULT);
	physim_aspace_clear(f.as);
	assert_int_equal(physim_ram_free_frames(f.ram, run, 6), 0);
	fx_close(&f);
}

static void t_translate_and_get_limit(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x1a000, 0x3000, RW, true), 0);
	physim_hpa_t hpa = 0;
	uint64_t limit = 0;
	assert_int_equal(physim_aspace_translate_and_get_limit(f.as, 0x1a000, &hpa, &limit), 0);
	assert_int_equal(hpa, tx(&f, 0x1a000));
	assert_int_equal(limit, 0x3000);
	assert_int_equal(physim_aspace_translate_and_get_limit(f.as, 0x1b010, &hpa, &limit), 0);
	assert_int_equal(hpa, tx(&f, 0x1b000) + 0x10);
	assert_int_equal(limit, 0x1ff0);
	assert_int_equal(physim_aspace_translate_and_get_limit(f.as, 0x1e000, &hpa, &limit),
			 -ENOENT);
	assert_int_equal(physim_aspace_translate_and_get_limit(f.as, 0x30000, &hpa, &limit),
			 -ENOENT);
	/* A lazy page is not backed yet. */
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x10000, 0x2000, RW, false), 0);
	assert_int_equal(physim_aspace_translate_and_get_limit(f.as, 0x10000, &hpa, &limit),
			 -ENOENT);
	assert_int_equal(physim_aspace_translate_and_get_limit(f.as, 0x1a000, NULL, &limit),
			 -EINVAL);
	assert_int_equal(physim_aspace_translate_and_get_limit(f.as, 0x1a000, &hpa, NULL), -EINVAL);
	fx_close(&f);
}

/* ---- bad input: every map call, nothing changed ---- */

static void t_bad_create(void **state)
{
	struct fx f;
	fx_open_hal(&f, state_format(state));
	struct physim_aspace *as = (struct physim_aspace *)&f; /* must stay untouched */
	struct physim_aspace *const sentinel = as;
	struct physim_aspace_config good = fx_config(&f, SEED_BASE, SEED_SIZE);
	struct physim_aspace_config c;

	assert_int_equal(physim_aspace_create(NULL, &as), -EINVAL);
	assert_int_equal(physim_aspace_create(&good, NULL), -EINVAL);
	c = good, c.format = NULL;
	assert_int_equal(physim_aspace_create(&c, &as), -EINVAL);
	c = good, c.mm = NULL;
	assert_int_equal(physim_aspace_create(&c, &as), -EINVAL);
	c = good, c.paging = NULL;
	assert_int_equal(physim_aspace_create(&c, &as), -EINVAL);
	c = good, c.base = SEED_BASE + 0x800;
	assert_int_equal(physim_aspace_create(&c, &as), -EINVAL);
	c = good, c.size = SEED_SIZE + 0x10;
	assert_int_equal(physim_aspace_create(&c, &as), -EINVAL);
	c = good, c.size = 0;
	assert_int_equal(physim_aspace_create(&c, &as), -EINVAL);
	c = good, c.base = UINT64_MAX - 0xfff, c.size = 0x2000;
	assert_int_equal(physim_aspace_create(&c, &as), -EINVAL);
	/* The input range ends at 2^va_bits: up to it is fine, past it not. */
	uint64_t top = UINT64_C(1) << f.info.va_bits;
	c = good, c.base = top - 0x2000, c.size = 0x2000;
	struct physim_aspace *ok = NULL;
	assert_int_equal(physim_aspace_create(&c, &ok), 0);
	physim_aspace_destroy(ok);
	c = good, c.base = top - 0x2000, c.size = 0x3000;
	assert_int_equal(physim_aspace_create(&c, &as), -EINVAL);
	c = good, c.base = top;
	assert_int_equal(physim_aspace_create(&c, &as), -EINVAL);
	/* Every format that is not stage 2. */
	for (size_t i = 0; i < physim_format_count(); i++) {
		struct physim_pt_format_info info;
		physim_format_get_info(physim_format_at(i), &info);
		if (info.stage2)
			continue;
		c = good, c.format = physim_format_at(i);
		assert_int_equal(physim_aspace_create(&c, &as), -EINVAL);
	}
	/* Paging handler that cannot allocate: its error, nothing leaked. */
	fail_nth(&f, 1);
	assert_int_equal(physim_aspace_create(&good, &as), -ENOMEM);
	fail_nth(&f, 0);
	assert_ptr_equal(as, sentinel);
	assert_int_equal(live(&f), 0);
	physim_aspace_destroy(NULL);
	fx_close(&f);
}

static void t_bad_map(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	const uint64_t B = SEED_BASE, S = SEED_SIZE;
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x14000, 0x2000, RW, true), 0);
	assert_int_equal(physim_aspace_map_linear(f.as, 0x18000, 0x40000, 0x2000, RW), 0);
	static struct snap s;
	snap_take(&f, &s);
	struct {
		uint64_t gpa, size;
		int want;
	} cases[] = {
	    {B + 0x800, 0x1000, -EINVAL},	       /* unaligned gpa */
	    {B, 0x1800, -EINVAL},		       /* unaligned size */
	    {B, 0, -EINVAL},			       /* zero size */
	    {B - 0x1000, 0x1000, -EINVAL},	       /* below the space */
	    {B - 0x1000, 0x2000, -EINVAL},	       /* straddles the base */
	    {B + S, 0x1000, -EINVAL},		       /* above the space */
	    {B + S - 0x1000, 0x2000, -EINVAL},	       /* straddles the end */
	    {B, S + 0x1000, -EINVAL},		       /* larger than the space */
	    {UINT64_MAX - 0xfff, 0x2000, -EINVAL},     /* wraps */
	    {B + 0x1000, UINT64_MAX - 0xfff, -EINVAL}, /* wraps */
	    {0x14000, 0x2000, -EEXIST},		       /* same range */
	    {0x13000, 0x2000, -EEXIST},		       /* overlaps the start */
	    {0x15000, 0x2000, -EEXIST},		       /* overlaps the end */
	    {0x12000, 0x8000, -EEXIST},		       /* contains an area */
	    {0x15000, 0x1000, -EEXIST},		       /* inside an area */
	    {0x19000, 0x1000, -EEXIST},		       /* last page of the linear one */
	    {0x13000, 0x6000, -EEXIST},		       /* spans both */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t g = cases[i].gpa, sz = cases[i].size;
		assert_int_equal(physim_aspace_map_alloc(f.as, g, sz, RW, true), cases[i].want);
		assert_int_equal(physim_aspace_map_alloc(f.as, g, sz, RW, false), cases[i].want);
		assert_int_equal(physim_aspace_map_linear(f.as, g, 0x80000, sz, RW), cases[i].want);
		assert_int_equal(physim_aspace_map_identity(f.as, g, sz, RW), cases[i].want);
		assert_int_equal(physim_aspace_unmap(f.as, g, sz),
				 cases[i].want == -EEXIST ? 0 : cases[i].want);
		if (cases[i].want == -EEXIST) {
			/* that unmap removed things: put them back */
			physim_aspace_clear(f.as);
			assert_int_equal(physim_aspace_map_alloc(f.as, 0x14000, 0x2000, RW, true),
					 0);
			assert_int_equal(
			    physim_aspace_map_linear(f.as, 0x18000, 0x40000, 0x2000, RW), 0);
			snap_take(&f, &s);
		}
		assert_unchanged(&f, &s);
	}
	/* hpa: unaligned, wrapping */
	assert_int_equal(physim_aspace_map_linear(f.as, B, 0x40800, 0x1000, RW), -EINVAL);
	assert_int_equal(physim_aspace_map_linear(f.as, B, UINT64_MAX & ~0xfffull, 0x2000, RW),
			 -EINVAL);
	/* flags: unknown bits; a combination no format expresses */
	const uint32_t bad_bits = 1u << 6, both = PHYSIM_R | PHYSIM_DEVICE | PHYSIM_UNCACHED;
	assert_int_equal(physim_aspace_map_alloc(f.as, B, 0x1000, bad_bits | RW, false), -EINVAL);
	assert_int_equal(physim_aspace_map_alloc(f.as, B, 0x1000, bad_bits | RW, true), -EINVAL);
	assert_int_equal(physim_aspace_map_linear(f.as, B, 0x1000, 0x1000, bad_bits | RW), -EINVAL);
	assert_int_equal(physim_aspace_map_identity(f.as, B, 0x1000, bad_bits | RW), -EINVAL);
	assert_int_equal(physim_aspace_map_alloc(f.as, B, 0x1000, both, false), -ENOTSUP);
	assert_int_equal(physim_aspace_map_alloc(f.as, B, 0x1000, both, true), -ENOTSUP);
	assert_int_equal(physim_aspace_map_linear(f.as, B, 0x1000, 0x1000, both), -ENOTSUP);
	assert_unchanged(&f, &s);
	/* NULL space */
	assert_int_equal(physim_aspace_map_alloc(NULL, B, 0x1000, RW, false), -EINVAL);
	assert_int_equal(physim_aspace_map_linear(NULL, B, 0x1000, 0x1000, RW), -EINVAL);
	assert_int_equal(physim_aspace_map_identity(NULL, B, 0x1000, RW), -EINVAL);
	assert_int_equal(physim_aspace_unmap(NULL, B, 0x1000), -EINVAL);
	assert_int_equal(physim_aspace_for_each_area(NULL, collect_area, NULL), -EINVAL);
	assert_int_equal(physim_aspace_for_each_area(f.as, NULL, NULL), -EINVAL);
	fx_close(&f);
}

/* Flags the format cannot express are refused by every map call before
 * anything happens: no frame taken, no identity region claimed, no area. */
static void t_flags_refused(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), RAM_BASE, RAM_SIZE);
	const uint64_t g = RAM_BASE + (1 << 20);
	/* Write without read: reserved on RISC-V (privileged spec, "Sv39"
	 * PTE encodings, and G-stage the same), an EPT misconfiguration (SDM
	 * Vol. 3C 29.3.3.1); AArch64 stage 2 S2AP = 0b10 is write-only (Arm ARM
	 * D8.4, stage 2 data access permissions). DEVICE with UNCACHED: no
	 * format. */
	const int want_w = f.info.arch == PHYSIM_ARCH_AARCH64 ? 0 : -ENOTSUP;
	const uint32_t bad[] = {PHYSIM_R | PHYSIM_DEVICE | PHYSIM_UNCACHED, PHYSIM_W};
	const int want[] = {-ENOTSUP, want_w};
	for (size_t i = 0; i < 2; i++) {
		if (want[i] == 0)
			continue;
		static struct snap s;
		snap_take(&f, &s);
		struct physim_hal_counts c0 = physim_counting_hal_counts(f.ch);
		assert_int_equal(physim_aspace_map_alloc(f.as, g, 4 * PG, bad[i], false), want[i]);
		assert_int_equal(physim_aspace_map_alloc(f.as, g, 4 * PG, bad[i], true), want[i]);
		assert_int_equal(physim_aspace_map_linear(f.as, g, g, 4 * PG, bad[i]), want[i]);
		assert_int_equal(physim_aspace_map_identity(f.as, g, 4 * PG, bad[i]), want[i]);
		struct physim_hal_counts c1 = physim_counting_hal_counts(f.ch);
		assert_int_equal(c1.alloc_calls, c0.alloc_calls);
		assert_int_equal(c1.frames_live, c0.frames_live);
		for (uint64_t off = 0; off < 4 * PG; off += PG)
			assert_int_equal(physim_ram_frame_in_use(f.ram, g + off), 0);
		assert_unchanged(&f, &s);
	}
	/* The write-only area AArch64 stage 2 can express, lazily: its first
	 * fault maps a write-only page. */
	if (want_w == 0) {
		assert_int_equal(physim_aspace_map_alloc(f.as, g, PG, PHYSIM_W, false), 0);
		assert_int_equal(physim_aspace_handle_page_fault(f.as, g, PHYSIM_W), 0);
		assert_int_equal(leaf(&f, g).flags, PHYSIM_W);
	}
	fx_close(&f);
}

/* U is accepted and ignored on stage 2 (no user/supervisor split). */
static void t_user_flag_ignored(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x10000, 0x1000, RW | PHYSIM_U, true), 0);
	assert_int_equal(physim_aspace_map_linear(f.as, 0x11000, 0x1000, 0x1000, RW | PHYSIM_U), 0);
	assert_int_equal(leaf(&f, 0x10000).flags, RW);
	assert_int_equal(leaf(&f, 0x11000).flags, RW);
	assert_int_equal(areas_of(&f).a[0].flags, RW | PHYSIM_U);
	fx_close(&f);
}

static int stop_at_second(void *ctx, const struct physim_area_info *a)
{
	int *seen = ctx;
	(void)a;
	return ++*seen == 2 ? 42 : 0;
}

static void t_for_each_area(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	/* Inserted out of order, reported sorted. */
	assert_int_equal(physim_aspace_map_linear(f.as, 0x1c000, 0x9000, 0x2000, PHYSIM_R), 0);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x10000, 0x1000, RW, true), 0);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x14000, 0x3000, RW | PHYSIM_X, false), 0);
	struct area_list l = areas_of(&f);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.a[0].start, 0x10000);
	assert_int_equal(l.a[1].start, 0x14000);
	assert_int_equal(l.a[1].size, 0x3000);
	assert_int_equal(l.a[1].flags, RW | PHYSIM_X);
	assert_int_equal(l.a[1].kind, PHYSIM_AREA_ALLOC);
	assert_int_equal(l.a[2].start, 0x1c000);
	assert_int_equal(l.a[2].linear_hpa, 0x9000);
	assert_int_equal(l.a[2].flags, PHYSIM_R);
	assert_int_equal(physim_aspace_stats(f.as).areas, 3);
	int seen = 0;
	assert_int_equal(physim_aspace_for_each_area(f.as, stop_at_second, &seen), 42);
	assert_int_equal(seen, 2);
	fx_close(&f);
}

/* ---- partial unmaps ---- */

static void t_split_alloc(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	/* Populated area cut in the middle. */
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x10000, 0x6000, RW, true), 0);
	physim_hpa_t p[6];
	for (int i = 0; i < 6; i++)
		p[i] = tx(&f, 0x10000 + i * PG);
	assert_int_equal(physim_aspace_unmap(f.as, 0x12000, 0x2000), 0);
	struct area_list l = areas_of(&f);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.a[0].start, 0x10000);
	assert_int_equal(l.a[0].size, 0x2000);
	assert_int_equal(l.a[0].frames, 2);
	assert_true(l.a[0].populate);
	assert_int_equal(l.a[1].start, 0x14000);
	assert_int_equal(l.a[1].size, 0x2000);
	assert_int_equal(l.a[1].frames, 2);
	for (int i = 0; i < 6; i++) {
		if (i == 2 || i == 3) {
			assert_unbacked(&f, 0x10000 + i * PG);
			assert_int_equal(physim_ram_frame_in_use(f.ram, p[i]), 0);
		} else {
			assert_int_equal(tx(&f, 0x10000 + i * PG), p[i]);
		}
	}
	assert_int_equal(physim_aspace_stats(f.as).alloc_frames, 4);
	/* The hole is free for a new area. */
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x12000, 0x2000, PHYSIM_R, false), 0);

	/* Lazy area with populated pages on both sides of the cut. */
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x16000, 0xa000, RW, false), 0);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x17000, PHYSIM_W), 0);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x1e000, PHYSIM_W), 0);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x1a000, PHYSIM_W), 0);
	assert_int_equal(physim_aspace_unmap(f.as, 0x19000, 0x3000), 0);
	l = areas_of(&f);
	assert_int_equal(l.n, 5);
	assert_int_equal(l.a[3].start, 0x16000);
	assert_int_equal(l.a[3].size, 0x3000);
	assert_int_equal(l.a[3].frames, 1);
	assert_false(l.a[3].populate);
	assert_int_equal(l.a[4].start, 0x1c000);
	assert_int_equal(l.a[4].size, 0x4000);
	assert_int_equal(l.a[4].frames, 1);
	assert_int_equal(physim_aspace_stats(f.as).alloc_frames, 6);
	/* The remaining lazy parts still fault in. */
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x1f000, PHYSIM_R), 0);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x1a000, PHYSIM_R), -EFAULT);
	assert_int_equal(areas_of(&f).a[4].frames, 2);
	fx_close(&f);
}

/* One unmap over several areas: the first and last cut, the middle ones
 * removed, every frame in the range returned. */
static void t_split_many(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x10000, 0x4000, RW, true), 0);
	assert_int_equal(physim_aspace_map_linear(f.as, 0x14000, 0x70000, 0x4000, RW), 0);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x1a000, 0x4000, RW, false), 0);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x1b000, PHYSIM_R), 0);
	assert_int_equal(physim_aspace_handle_page_fault(f.as, 0x1d000, PHYSIM_R), 0);
	assert_int_equal(physim_aspace_stats(f.as).alloc_frames, 6);
	physim_hpa_t keep0 = tx(&f, 0x10000), keep3 = tx(&f, 0x1d000);
	assert_int_equal(physim_aspace_unmap(f.as, 0x12000, 0xa000), 0);
	struct area_list l = areas_of(&f);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.a[0].start, 0x10000);
	assert_int_equal(l.a[0].size, 0x2000);
	assert_int_equal(l.a[0].frames, 2);
	assert_int_equal(l.a[1].start, 0x1c000);
	assert_int_equal(l.a[1].size, 0x2000);
	assert_int_equal(l.a[1].frames, 1);
	assert_int_equal(physim_aspace_stats(f.as).alloc_frames, 3);
	assert_int_equal(tx(&f, 0x10000), keep0);
	assert_int_equal(tx(&f, 0x1d000), keep3);
	for (uint64_t g = 0x12000; g < 0x1c000; g += PG)
		assert_unbacked(&f, g);
	assert_unbacked(&f, 0x1c000);
	/* Linear area cut on both ends keeps its offset. */
	assert_int_equal(physim_aspace_map_linear(f.as, 0x14000, 0x70000, 0x6000, RW), 0);
	assert_int_equal(physim_aspace_unmap(f.as, 0x14000, 0x1000), 0);
	assert_int_equal(physim_aspace_unmap(f.as, 0x19000, 0x1000), 0);
	assert_int_equal(physim_aspace_unmap(f.as, 0x16000, 0x1000), 0);
	l = areas_of(&f);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.a[1].start, 0x15000);
	assert_int_equal(l.a[1].size, 0x1000);
	assert_int_equal(l.a[1].linear_hpa, 0x71000);
	assert_int_equal(l.a[2].start, 0x17000);
	assert_int_equal(l.a[2].size, 0x2000);
	assert_int_equal(l.a[2].linear_hpa, 0x73000);
	assert_int_equal(tx(&f, 0x18000), 0x74000);
	fx_close(&f);
}

/* Unmapping part of a huge linear page splits the page (the engine) and
 * the area (the space); the other huge page stays whole. */
static void t_split_huge(void **state)
{
	struct fx f;
	fx_open_hal(&f, state_format(state));
	uint64_t h = first_huge(&f);
	struct physim_aspace_config c = fx_config(&f, 0, 4 * h);
	assert_int_equal(physim_aspace_create(&c, &f.as), 0);
	const uint64_t hpa = MMIO_BASE;
	assert_int_equal(physim_aspace_map_linear(f.as, h, hpa, 2 * h, RW), 0);
	assert_int_equal(leaf(&f, h).size, h);
	assert_int_equal(leaf(&f, 2 * h).size, h);
	uint64_t tables = physim_aspace_stats(f.as).table_frames;
	assert_int_equal(physim_aspace_unmap(f.as, h + 5 * PG, 3 * PG), 0);
	/* One new last-level table holds the split page. */
	assert_int_equal(physim_aspace_stats(f.as).table_frames, tables + 1);
	assert_int_equal(leaf(&f, h).size, PG);
	assert_int_equal(leaf(&f, 2 * h).size, h);
	for (uint64_t off = 0; off < 2 * h; off += (off < 16 * PG ? PG : 64 * PG)) {
		if (off >= 5 * PG && off < 8 * PG)
			assert_unbacked(&f, h + off);
		else
			assert_int_equal(tx(&f, h + off), hpa + off);
	}
	struct area_list l = areas_of(&f);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.a[0].start, h);
	assert_int_equal(l.a[0].size, 5 * PG);
	assert_int_equal(l.a[0].linear_hpa, hpa);
	assert_int_equal(l.a[1].start, h + 8 * PG);
	assert_int_equal(l.a[1].size, 2 * h - 8 * PG);
	assert_int_equal(l.a[1].linear_hpa, hpa + 8 * PG);
	/* Not congruent modulo the huge size: no huge pages. */
	assert_int_equal(physim_aspace_map_linear(f.as, 0, hpa + PG, h, RW), 0);
	assert_int_equal(leaf(&f, 0).size, PG);
	assert_int_equal(tx(&f, h - PG), hpa + h);
	fx_close(&f);
}

/* ---- the identity flow (axvm: alloc_memory_region_at, then gpa == hpa) ---- */

static void t_identity(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), RAM_BASE, RAM_SIZE);
	const uint64_t g = RAM_BASE + (1 << 20), sz = 0x10000;
	assert_int_equal(physim_aspace_map_identity(f.as, g, sz, RW), 0);
	for (uint64_t off = 0; off < sz; off += PG) {
		assert_int_equal(tx(&f, g + off), g + off);
		assert_int_equal(physim_ram_frame_in_use(f.ram, g + off), 1);
	}
	struct area_list l = areas_of(&f);
	assert_int_equal(l.n, 1);
	assert_true(l.a[0].identity);
	assert_int_equal(l.a[0].kind, PHYSIM_AREA_LINEAR);
	assert_int_equal(l.a[0].linear_hpa, g);
	/* Overlap is refused before anything is claimed. */
	uint64_t calls = physim_counting_hal_counts(f.ch).alloc_calls;
	assert_int_equal(physim_aspace_map_identity(f.as, g + sz - PG, 2 * PG, RW), -EEXIST);
	assert_int_equal(physim_counting_hal_counts(f.ch).alloc_calls, calls);
	/* Region busy: one frame of it is taken. The seed mapped it anyway. */
	const uint64_t g2 = RAM_BASE + (2 << 20);
	assert_int_equal(physim_ram_alloc_at(f.ram, g2 + 2 * PG, PG), 0);
	static struct snap s;
	snap_take(&f, &s);
	assert_int_equal(physim_aspace_map_identity(f.as, g2, sz, RW), -EBUSY);
	assert_unchanged(&f, &s);
	assert_unbacked(&f, g2);
	assert_int_equal(physim_ram_frame_in_use(f.ram, g2), 0);
	assert_int_equal(physim_ram_frame_in_use(f.ram, g2 + 3 * PG), 0);
	assert_int_equal(physim_ram_free_at(f.ram, g2 + 2 * PG, PG), 0);
	/* A region outside RAM: the vm HAL's error. */
	struct fx f2;
	fx_open(&f2, f.fmt, 0x40000000, 0x100000);
	assert_int_equal(physim_aspace_map_identity(f2.as, 0x40000000, sz, RW), -EINVAL);
	assert_int_equal(areas_of(&f2).n, 0);
	fx_close(&f2);
	/* Partial unmap gives back exactly the unmapped part. */
	assert_int_equal(physim_aspace_unmap(f.as, g + 4 * PG, 4 * PG), 0);
	for (uint64_t off = 0; off < sz; off += PG) {
		bool gone = off >= 4 * PG && off < 8 * PG;
		assert_int_equal(physim_ram_frame_in_use(f.ram, g + off), gone ? 0 : 1);
	}
	l = areas_of(&f);
	assert_int_equal(l.n, 2);
	assert_true(l.a[0].identity && l.a[1].identity);
	assert_int_equal(l.a[1].linear_hpa, g + 8 * PG);
	/* The given-back part can be claimed again. */
	assert_int_equal(physim_aspace_map_identity(f.as, g + 4 * PG, 4 * PG, PHYSIM_R), 0);
	assert_int_equal(physim_aspace_stats(f.as).alloc_frames, 0);
	/* clear gives the rest back; fx_close checks RAM is empty. */
	physim_aspace_clear(f.as);
	for (uint64_t off = 0; off < sz; off += PG)
		assert_int_equal(physim_ram_frame_in_use(f.ram, g + off), 0);
	fx_close(&f);
}

static void t_identity_no_vm(void **state)
{
	struct fx f;
	fx_open_hal(&f, state_format(state));
	struct physim_aspace_config c = fx_config(&f, RAM_BASE, RAM_SIZE);
	c.vm = NULL;
	assert_int_equal(physim_aspace_create(&c, &f.as), 0);
	assert_int_equal(physim_aspace_map_identity(f.as, RAM_BASE, 0x1000, RW), -EINVAL);
	assert_int_equal(physim_ram_stats(f.ram).used_frames, root_frames(&f));
	assert_int_equal(areas_of(&f).n, 0);
	fx_close(&f);
}

/* ---- allocation failure at every step ---- */

/* Run op with allocation n failing for n = 1, 2, ... until it succeeds;
 * every failure must be -ENOMEM and change nothing. Returns the number of
 * allocations the successful call made. */
static uint64_t fail_each(struct fx *f, int (*op)(struct fx *f))
{
	static struct snap s;
	snap_take(f, &s);
	for (uint64_t n = 1;; n++) {
		fail_nth(f, n);
		int rc = op(f);
		fail_nth(f, 0);
		if (rc == 0)
			return n - 1;
		assert_int_equal(rc, -ENOMEM);
		assert_unchanged(f, &s);
		assert_true(n < 1000);
	}
}

static int op_populate(struct fx *f)
{
	return physim_aspace_map_alloc(f->as, 0x14000, 0x8000, RW, true);
}

static int op_fault(struct fx *f)
{
	return physim_aspace_handle_page_fault(f->as, 0x1f000, PHYSIM_W);
}

static int op_identity(struct fx *f)
{
	return physim_aspace_map_identity(f->as, RAM_BASE + 0x40000, 0x8000, RW);
}

static int op_unmap_split(struct fx *f)
{
	return physim_aspace_unmap(f->as, 7 * PG, PG);
}

static int op_linear_huge(struct fx *f)
{
	uint64_t h = first_huge(f);
	return physim_aspace_map_linear(f->as, 0, MMIO_BASE, h + PG, RW);
}

static void t_fail_injection(void **state)
{
	struct fx f;
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	unsigned nt = f.info.levels - 1; /* tables below the root for one page */
	/* 8 frames, then the tables: every one of those can fail. */
	assert_int_equal(fail_each(&f, op_populate), 8 + nt);
	assert_int_equal(physim_aspace_stats(f.as).alloc_frames, 8);
	/* A fault in the same last-level table: one frame, no table. */
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x1f000, 0x1000, RW, false), 0);
	assert_int_equal(fail_each(&f, op_fault), 1);
	assert_int_equal(physim_aspace_stats(f.as).faults_handled, 1);
	fx_close(&f);

	/* A fault that needs every table. */
	fx_open(&f, state_format(state), SEED_BASE, SEED_SIZE);
	assert_int_equal(physim_aspace_map_alloc(f.as, 0x1f000, 0x1000, RW, false), 0);
	assert_int_equal(fail_each(&f, op_fault), 1 + nt);
	fx_close(&f);

	/* Identity: the region claim, then the tables. */
	fx_open(&f, state_format(state), RAM_BASE, RAM_SIZE);
	assert_int_equal(fail_each(&f, op_identity), 1 + nt);
	assert_int_equal(physim_ram_frame_in_use(f.ram, RAM_BASE + 0x40000), 1);
	fx_close(&f);

	/* Huge linear map, then a split on unmap. */
	fx_open_hal(&f, state_format(state));
	uint64_t h = first_huge(&f);
	struct physim_aspace_config c = fx_config(&f, 0, 4 * h);
	assert_int_equal(physim_aspace_create(&c, &f.as), 0);
	/* h + 4K: one huge leaf (tables down to its level) plus a 4K leaf
	 * (one more last-level table). */
	uint64_t huge_level = 0;
	while ((UINT64_C(1) << f.info.level[huge_level].shift) != h)
		huge_level++;
	uint64_t need = (f.info.levels - 1 - huge_level) + huge_level;
	assert_int_equal(fail_each(&f, op_linear_huge), need);
	assert_int_equal(leaf(&f, 0).size, h);
	assert_int_equal(fail_each(&f, op_unmap_split), 1);
	assert_int_equal(leaf(&f, 0).size, PG);
	assert_unbacked(&f, 7 * PG);
	assert_int_equal(tx(&f, 8 * PG), MMIO_BASE + 8 * PG);
	assert_int_equal(areas_of(&f).n, 2);
	fx_close(&f);
}

/* ---- a seeded random sequence against a page-level model ---- */

enum mkind { M_NONE, M_LINEAR, M_ALLOC };

struct mpage {
	unsigned id; /* area id; 0: no area */
	enum mkind kind;
	uint32_t flags;
	uint64_t hpa;  /* LINEAR: expected; ALLOC: seen when populated (0: not yet) */
	bool populate; /* the area was populated at map time */
	bool backed;   /* ALLOC: a frame backs it */
};

#define MODEL_PAGES 1024u

struct model {
	struct mpage p[MODEL_PAGES];
	unsigned next_id;
	uint64_t base;
};

static bool model_free(const struct model *m, unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++)
		if (m->p[i].id != 0)
			return false;
	return true;
}

/* Check the space against the model: every page, every area, the counts. */
static void model_check(struct fx *f, struct model *m)
{
	uint64_t backed = 0;
	for (unsigned i = 0; i < MODEL_PAGES; i++) {
		struct mpage *p = &m->p[i];
		uint64_t g = m->base + i * PG;
		physim_hpa_t hpa = 0;
		int rc = physim_aspace_translate(f->as, g, &hpa);
		if (p->kind == M_LINEAR) {
			assert_int_equal(rc, 0);
			assert_int_equal(hpa, p->hpa);
		} else if (p->kind == M_ALLOC && p->backed) {
			assert_int_equal(rc, 0);
			if (p->hpa == 0)
				p->hpa = hpa; /* first sight after population */
			assert_int_equal(hpa, p->hpa);
			assert_int_equal(physim_ram_frame_in_use(f->ram, hpa), 1);
			backed++;
		} else {
			assert_int_equal(rc, -ENOENT);
		}
	}
	/* Areas are the maximal runs of pages with one id. */
	struct area_list l = areas_of(f);
	size_t k = 0;
	for (unsigned i = 0; i < MODEL_PAGES;) {
		if (m->p[i].id == 0) {
			i++;
			continue;
		}
		unsigned j = i;
		uint64_t frames = 0;
		while (j < MODEL_PAGES && m->p[j].id == m->p[i].id)
			frames += m->p[j++].backed;
		assert_true(k < l.n);
		const struct physim_area_info *a = &l.a[k++];
		assert_int_equal(a->start, m->base + i * PG);
		assert_int_equal(a->size, (uint64_t)(j - i) * PG);
		assert_int_equal(a->flags, m->p[i].flags);
		assert_int_equal(a->kind,
				 m->p[i].kind == M_LINEAR ? PHYSIM_AREA_LINEAR : PHYSIM_AREA_ALLOC);
		if (m->p[i].kind == M_LINEAR)
			assert_int_equal(a->linear_hpa, m->p[i].hpa);
		else
			assert_int_equal(a->frames, frames);
		assert_int_equal(a->populate, m->p[i].populate);
		i = j;
	}
	assert_int_equal(k, l.n);
	struct physim_aspace_stats st = physim_aspace_stats(f->as);
	assert_int_equal(st.alloc_frames, backed);
	assert_int_equal(live(f), (int64_t)(st.alloc_frames + st.table_frames));
}

static void model_step(struct fx *f, struct model *m, uint64_t *seed)
{
	static const uint32_t flag_set[] = {PHYSIM_R, RW, RW | PHYSIM_X};
	unsigned op = (unsigned)(tc_rand(seed) % 10);
	unsigned first = (unsigned)(tc_rand(seed) % MODEL_PAGES);
	/* Long linear runs reach 2 MiB pages; unmaps cut through several areas. */
	unsigned n = 1 + (unsigned)(tc_rand(seed) % (op == 0 ? 700 : op == 5 ? 200 : 48));
	if (first + n > MODEL_PAGES)
		n = MODEL_PAGES - first;
	uint64_t g = m->base + first * PG, sz = (uint64_t)n * PG;
	uint32_t flags = flag_set[tc_rand(seed) % 3];
	int rc;
	if (op <= 2) { /* linear, sometimes aligned for huge pages */
		uint64_t hpa = MMIO_BASE + (tc_rand(seed) % 4096) * PG;
		if (op == 0)
			hpa = MMIO_BASE + (g - m->base);
		rc = physim_aspace_map_linear(f->as, g, hpa, sz, flags);
		assert_int_equal(rc, model_free(m, first, n) ? 0 : -EEXIST);
		for (unsigned i = first; rc == 0 && i < first + n; i++)
			m->p[i] = (struct mpage){.id = m->next_id,
						 .kind = M_LINEAR,
						 .flags = flags,
						 .hpa = hpa + (i - first) * PG};
	} else if (op <= 4) {
		bool populate = op == 3;
		rc = physim_aspace_map_alloc(f->as, g, sz, flags, populate);
		assert_int_equal(rc, model_free(m, first, n) ? 0 : -EEXIST);
		for (unsigned i = first; rc == 0 && i < first + n; i++)
			m->p[i] = (struct mpage){.id = m->next_id,
						 .kind = M_ALLOC,
						 .flags = flags,
						 .populate = populate,
						 .backed = populate};
	} else if (op <= 6) {
		assert_int_equal(physim_aspace_unmap(f->as, g, sz), 0);
		/* The two pieces of an area cut in the middle are two runs. */
		for (unsigned i = first; i < first + n; i++)
			m->p[i] = (struct mpage){0};
	} else if (op == 9) { /* a bad call changes nothing */
		assert_int_equal(physim_aspace_map_alloc(f->as, g + 0x10, sz, flags, true),
				 -EINVAL);
	} else {
		uint32_t acc = (uint32_t[]){PHYSIM_R, PHYSIM_W, PHYSIM_X}[tc_rand(seed) % 3];
		struct mpage *p = &m->p[first];
		bool ok = p->kind == M_ALLOC && !p->backed && (p->flags & acc) == acc;
		rc = physim_aspace_handle_page_fault(f->as, g + (tc_rand(seed) % PG), acc);
		assert_int_equal(rc, ok ? 0 : -EFAULT);
		if (ok)
			p->backed = true;
	}
	m->next_id++;
}

static void t_model(void **state)
{
	struct fx f;
	fx_open_hal(&f, state_format(state));
	/* 4 MiB at a 4 MiB boundary: room for huge pages in every format. */
	static struct model m;
	memset(&m, 0, sizeof(m));
	m.base = UINT64_C(0x40000000);
	m.next_id = 1;
	struct physim_aspace_config c = fx_config(&f, m.base, MODEL_PAGES * PG);
	assert_int_equal(physim_aspace_create(&c, &f.as), 0);
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)f.info.levels ^ f.info.va_bits;
	for (int step = 0; step < 400; step++) {
		model_step(&f, &m, &seed);
		model_check(&f, &m);
	}
	physim_aspace_clear(f.as);
	memset(m.p, 0, sizeof(m.p));
	model_check(&f, &m);
	assert_int_equal(physim_aspace_stats(f.as).table_frames, root_frames(&f));
	fx_close(&f);
}

/* ---- registration: every test over every stage-2 format ---- */

static const struct tc_format_test per_format_tests[] = {
    {"creation", t_creation},
    {"bad_create", t_bad_create},
    {"contains_range", t_contains_range},
    {"map_linear", t_map_linear},
    {"map_alloc_populate", t_map_alloc_populate},
    {"map_alloc_lazy", t_map_alloc_lazy},
    {"page_fault", t_page_fault},
    {"unmap", t_unmap},
    {"unmap_lazy_pieces", t_unmap_lazy_pieces},
    {"clear", t_clear},
    {"clear_huge", t_clear_huge},
    {"translate", t_translate},
    {"translated_buffer", t_translated_buffer},
    {"translated_buffer_areas", t_translated_buffer_areas},
    {"translate_and_get_limit", t_translate_and_get_limit},
    {"bad_map", t_bad_map},
    {"flags_refused", t_flags_refused},
    {"user_flag_ignored", t_user_flag_ignored},
    {"for_each_area", t_for_each_area},
    {"split_alloc", t_split_alloc},
    {"split_many", t_split_many},
    {"split_huge", t_split_huge},
    {"identity", t_identity},
    {"identity_no_vm", t_identity_no_vm},
    {"fail_injection", t_fail_injection},
    {"model", t_model},
};

int main(void)
{
	return tc_run_per_stage2_format("aspace", per_format_tests,
					sizeof(per_format_tests) / sizeof(per_format_tests[0]));
}
