/* SPDX-License-Identifier: MIT */
/* tests/test_tlb.c - the software TLB (lib/tlb.c): exact hit/miss/flush
 * counts for scripted sequences, ASID/VMID tagging and global entries, huge
 * pages, the access re-check on hits, forgotten flushes caught by the stale
 * checker (and not reported when the table's flush hook is wired to the
 * TLB), and nested GVA->HPA entries - on x86_64-4l, sv48 and aarch64-4k-48
 * tables built with physim_pt_* on simulated RAM. Every expected address,
 * count and level below is worked out by hand from the mappings made here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/env.h"
#include "common/rng.h"

#include <physim/ram.h>
#include <physim/walk.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KiB UINT64_C(0x400)
#define MiB UINT64_C(0x100000)
#define GiB UINT64_C(0x40000000)

#define RAM_BASE UINT64_C(0x80000000)
#define RAM_SIZE (64 * MiB)

#define URW (PHYSIM_R | PHYSIM_W | PHYSIM_U)
#define URO (PHYSIM_R | PHYSIM_U)

/* ---- formats under test ---- */

struct fmt_case {
	const char *name;
	uint64_t global_arch;	 /* arch bits of a global leaf */
	uint64_t nonglobal_arch; /* arch bits of an ASID-tagged leaf */
	/* Architecture level of engine level n (walk.h): base + dir * n. */
	int level_base, level_dir;
	bool dirty_on_map;   /* the engine pre-sets D on writable leaves */
	bool hw_dirty;	     /* the walk sets D on the first write */
	bool sup_reads_user; /* supervisor reads of user pages allowed by default */
};

/* Intel SDM Vol. 3A: G (bit 8) makes a leaf global (4.10.2.4, table 4-19);
 * PT = level 1 .. PML4 = level 4; the processor sets D on the first write
 * (4.8); with SMAP off a supervisor may read user pages (4.6). */
static const struct fmt_case fmt_x86 = {
    .name = "x86_64-4l",
    .global_arch = UINT64_C(1) << 8,
    .level_base = 1,
    .level_dir = 1,
    .hw_dirty = true,
    .sup_reads_user = true,
};

/* RISC-V privileged spec: G is PTE bit 5; level i = 0 at the last level;
 * under Svade software pre-sets A and D (the engine does on map); without
 * SUM, S-mode may not read U pages. */
static const struct fmt_case fmt_sv48 = {
    .name = "sv48",
    .global_arch = UINT64_C(1) << 5,
    .level_base = 0,
    .level_dir = 1,
    .dirty_on_map = true,
};

/* Arm ARM D8.3: nG (bit 11) makes a stage-1 leaf ASID-tagged, global is the
 * default; lookup level 3 is the last; no hardware dirty state without HD
 * (D8.5), and the engine reports none; with PAN off EL1 may read EL0 pages. */
static const struct fmt_case fmt_a64 = {
    .name = "aarch64-4k-48",
    .nonglobal_arch = UINT64_C(1) << 11,
    .level_base = 3,
    .level_dir = -1,
    .sup_reads_user = true,
};

/* ---- fixture ---- */

struct env {
	struct tc_env mem; /* RAM and its paging handler (tests/common/env.h) */
	const struct physim_pt_format *fmt;
	const struct fmt_case *fc;
	struct physim_tlb *tlb;
};

struct stale_log {
	int n;
	uint64_t va;
	struct physim_tlb_entry_info cached;
	struct physim_xlate cur;
	struct physim_tlb *flush_me; /* on_stale flushes this TLB when set */
};

static void log_stale(void *ctx, uint64_t va, const struct physim_tlb_entry_info *cached,
		      const struct physim_xlate *cur)
{
	struct stale_log *l = ctx;
	l->n++;
	l->va = va;
	l->cached = *cached;
	l->cur = *cur;
	if (l->flush_me)
		physim_tlb_flush_all(l->flush_me);
}

static struct env *env_new(const struct fmt_case *fc, const struct physim_tlb_config *tc)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	tc_env_open(&e->mem, RAM_BASE, RAM_SIZE);
	e->fc = fc;
	if (fc) {
		e->fmt = physim_format(fc->name);
		assert_non_null(e->fmt);
	}
	assert_int_equal(physim_tlb_create(tc, &e->tlb), 0);
	return e;
}

static void env_free(struct env *e)
{
	physim_tlb_destroy(e->tlb);
	assert_int_equal(physim_ram_stats(e->mem.ram).used_frames, 0);
	tc_env_close(&e->mem);
	free(e);
}

/* A table of the env's format; hooked: its flush callback feeds the TLB. */
static struct physim_pt *pt_new(struct env *e, const struct physim_pt_format *fmt, bool hooked)
{
	struct physim_pt *pt;
	struct physim_pt_config c = {.format = fmt ? fmt : e->fmt, .paging = e->mem.ph};
	if (hooked) {
		c.flush = physim_tlb_pt_flush;
		c.flush_ctx = e->tlb;
	}
	assert_int_equal(physim_pt_create_ex(&c, &pt), 0);
	return pt;
}

static void map(struct physim_pt *pt, uint64_t va, uint64_t pa, uint64_t size, uint32_t flags,
		uint64_t arch)
{
	struct physim_pt_mapping m = {
	    .va = va, .pa = pa, .size = size, .flags = flags, .arch = arch};
	assert_int_equal(physim_pt_map_ex(pt, &m, 0), 0);
}

/* An ASID-tagged page of the env's format. */
static void map_ng(struct env *e, struct physim_pt *pt, uint64_t va, uint64_t pa, uint64_t size,
		   uint32_t flags)
{
	map(pt, va, pa, size, flags, e->fc->nonglobal_arch);
}

/* An mmu over pt; skips the test if the format's walker is not built yet. */
static struct physim_mmu *mmu_ctl(struct env *e, struct physim_pt *pt, uint16_t asid, uint16_t vmid,
				  const struct physim_mmu_ctl *ctl)
{
	struct physim_mmu *m = NULL;
	struct physim_mmu_config c = {
	    .format = physim_pt_format(pt),
	    .mem = e->mem.ph,
	    .root = physim_pt_root(pt),
	    .asid = asid,
	    .vmid = vmid,
	};
	if (ctl)
		c.ctl = *ctl;
	int rc = physim_mmu_create(&c, &m);
	if (rc == -ENOTSUP) {
		print_message("no walker for %s yet: skipped\n", physim_format_name(c.format));
		skip();
	}
	assert_int_equal(rc, 0);
	return m;
}

static struct physim_mmu *mmu(struct env *e, struct physim_pt *pt, uint16_t asid, uint16_t vmid)
{
	return mmu_ctl(e, pt, asid, vmid, NULL);
}

enum acc_kind { RD, WR, EX, SRD, SWR, SEX };

static struct physim_access access_of(uint64_t va, enum acc_kind k)
{
	return (struct physim_access){
	    .va = va,
	    .write = k == WR || k == SWR,
	    .exec = k == EX || k == SEX,
	    .user = k <= EX,
	};
}

static int tr(struct env *e, struct physim_mmu *m, uint64_t va, enum acc_kind k,
	      struct physim_xlate *x)
{
	struct physim_access a = access_of(va, k);
	return physim_tlb_translate(e->tlb, m, &a, x);
}

/* Translate and expect success at pa. */
static void tr_ok(struct env *e, struct physim_mmu *m, uint64_t va, enum acc_kind k, uint64_t pa)
{
	struct physim_xlate x;
	assert_int_equal(tr(e, m, va, k, &x), 0);
	assert_int_equal(x.fault.kind, PHYSIM_FAULT_NONE);
	assert_int_equal(x.pa, pa);
}

/* Translate and expect a fault of this kind. */
static void tr_fault(struct env *e, struct physim_mmu *m, uint64_t va, enum acc_kind k,
		     enum physim_fault_kind kind)
{
	struct physim_xlate x;
	assert_int_equal(tr(e, m, va, k, &x), -EFAULT);
	assert_int_equal(x.fault.kind, kind);
}

/* Counters against hand-counted totals (reports the caller's line). */
static void expect_stats_at(struct env *e, uint64_t hits, uint64_t misses, uint64_t flushes,
			    uint64_t stale, const char *file, int line)
{
	struct physim_tlb_stats s = physim_tlb_stats(e->tlb);
	_assert_int_equal(s.hits, hits, file, line);
	_assert_int_equal(s.misses, misses, file, line);
	_assert_int_equal(s.flushes, flushes, file, line);
	_assert_int_equal(s.stale, stale, file, line);
}
#define expect_stats(e, h, m, f, s) expect_stats_at(e, h, m, f, s, __FILE__, __LINE__)

static int arch_level(const struct fmt_case *fc, unsigned engine_level)
{
	return fc->level_base + fc->level_dir * (int)engine_level;
}

/* ---- creation and bad inputs ---- */

static void test_create(void **state)
{
	(void)state;
	struct physim_tlb *t = NULL;

	assert_int_equal(physim_tlb_create(NULL, NULL), -EINVAL);
	assert_int_equal(
	    physim_tlb_create(&(struct physim_tlb_config){.entries = (1u << 20) + 1}, &t), -EINVAL);
	assert_null(t);
	assert_int_equal(physim_tlb_create(NULL, &t), 0); /* NULL: every default */
	struct physim_tlb_stats s = physim_tlb_stats(t);
	assert_int_equal(s.hits + s.misses + s.flushes + s.stale, 0);
	physim_tlb_destroy(t);
	assert_int_equal(physim_tlb_create(&(struct physim_tlb_config){.entries = 1u << 20}, &t),
			 0);
	physim_tlb_destroy(t);
	assert_int_equal(physim_tlb_create(&(struct physim_tlb_config){.entries = 1}, &t), 0);
	physim_tlb_destroy(t);

	/* NULL handles are ignored. */
	physim_tlb_destroy(NULL);
	physim_tlb_flush_all(NULL);
	physim_tlb_flush_va(NULL, 0x1000);
	physim_tlb_flush_asid(NULL, 1);
	physim_tlb_flush_vmid(NULL, 1);
	physim_tlb_flush_va_asid(NULL, 0x1000, 1);
	physim_tlb_pt_flush(NULL, NULL, 0, true);
	s = physim_tlb_stats(NULL);
	assert_int_equal(s.hits + s.misses + s.flushes + s.stale, 0);
}

static void test_bad_inputs(void **state)
{
	(void)state;
	struct env *e = env_new(&fmt_x86, NULL);
	struct physim_pt *pt = pt_new(e, NULL, false);
	map(pt, 0x400000, 0x90000000, 4 * KiB, URW, 0);
	struct physim_mmu *m = mmu(e, pt, 1, 0);
	struct physim_pt *ept = pt_new(e, physim_format("ept-4l"), false);
	struct physim_mmu *s2 = mmu(e, ept, 0, 1);
	struct physim_mmu *nomem;
	assert_int_equal(
	    physim_mmu_create(
		&(struct physim_mmu_config){.format = e->fmt, .root = physim_pt_root(pt)}, &nomem),
	    0);
	struct physim_mmu *s2_nomem;
	assert_int_equal(
	    physim_mmu_create(&(struct physim_mmu_config){.format = physim_pt_format(ept),
							  .root = physim_pt_root(ept)},
			      &s2_nomem),
	    0);

	struct physim_access ok = {.va = 0x400000, .user = true};
	struct physim_access wx = {.va = 0x400000, .write = true, .exec = true};
	struct physim_access iu = {.va = 0x400000, .implicit = true, .user = true};
	struct physim_access ix = {.va = 0x400000, .implicit = true, .exec = true};
	struct physim_xlate x, pattern;
	memset(&pattern, 0xa5, sizeof(pattern));

	const struct {
		struct physim_tlb *t;
		struct physim_mmu *m;
		const struct physim_access *a;
		struct physim_xlate *x;
	} bad[] = {
	    {NULL, m, &ok, &x},	    {e->tlb, NULL, &ok, &x},  {e->tlb, m, NULL, &x},
	    {e->tlb, m, &ok, NULL}, {e->tlb, m, &wx, &x},     {e->tlb, m, &iu, &x},
	    {e->tlb, m, &ix, &x},   {e->tlb, nomem, &ok, &x},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		x = pattern;
		assert_int_equal(physim_tlb_translate(bad[i].t, bad[i].m, bad[i].a, bad[i].x),
				 -EINVAL);
		assert_memory_equal(&x, &pattern, sizeof(x));
	}
	/* Nested: s1 must be a stage-1 mmu, s2 a stage-2 one with memory. */
	const struct {
		struct physim_tlb *t;
		struct physim_mmu *s1, *s2;
		const struct physim_access *a;
		struct physim_xlate *x;
	} nbad[] = {
	    {NULL, m, s2, &ok, &x},    {e->tlb, NULL, s2, &ok, &x}, {e->tlb, m, NULL, &ok, &x},
	    {e->tlb, m, s2, NULL, &x}, {e->tlb, m, s2, &ok, NULL},  {e->tlb, m, s2, &wx, &x},
	    {e->tlb, s2, s2, &ok, &x}, {e->tlb, m, m, &ok, &x},	    {e->tlb, m, s2_nomem, &ok, &x},
	};
	for (size_t i = 0; i < sizeof(nbad) / sizeof(nbad[0]); i++) {
		x = pattern;
		assert_int_equal(physim_tlb_nested_translate(nbad[i].t, nbad[i].s1, nbad[i].s2,
							     nbad[i].a, nbad[i].x),
				 -EINVAL);
		assert_memory_equal(&x, &pattern, sizeof(x));
	}
	/* Nothing was looked up. */
	expect_stats(e, 0, 0, 0, 0);
	/* The same access after a good one is cached is still refused. */
	tr_ok(e, m, 0x400000, RD, 0x90000000);
	x = pattern;
	assert_int_equal(physim_tlb_translate(e->tlb, m, &wx, &x), -EINVAL);
	assert_int_equal(physim_tlb_translate(e->tlb, nomem, &ok, &x), -EINVAL);
	assert_memory_equal(&x, &pattern, sizeof(x));
	expect_stats(e, 0, 1, 0, 0);

	physim_mmu_destroy(nomem);
	physim_mmu_destroy(s2_nomem);
	physim_mmu_destroy(s2);
	physim_mmu_destroy(m);
	physim_pt_destroy(ept);
	physim_pt_destroy(pt);
	env_free(e);
}

/* ---- scripted sequences, per format ---- */

/* Eight 4 KiB pages at 0x400000.. mapped to 0x90000000 + i * 0x11000. */
#define P(i)  (UINT64_C(0x400000) + (uint64_t)(i)*4 * KiB)
#define PA(i) (UINT64_C(0x90000000) + (uint64_t)(i)*0x11000)

static void map_pages(struct env *e, struct physim_pt *pt, int n, uint32_t flags)
{
	for (int i = 0; i < n; i++)
		map_ng(e, pt, P(i), PA(i), 4 * KiB, flags);
}

static void test_counts(void **state)
{
	const struct fmt_case *fc = *state;
	struct env *e = env_new(fc, NULL);
	struct physim_pt *pt = pt_new(e, NULL, false);
	map_pages(e, pt, 8, URW);
	struct physim_mmu *m = mmu(e, pt, 1, 0);
	struct physim_xlate x;

	/* A miss walks the four levels; a hit makes no memory reference and
	 * gives the same translation. */
	assert_int_equal(tr(e, m, P(0) + 0x123, RD, &x), 0);
	assert_int_equal(x.pa, PA(0) + 0x123);
	assert_int_equal(x.mem_refs, 4);
	assert_int_equal(x.page_size, 4 * KiB);
	assert_int_equal(x.level, arch_level(fc, 0));
	assert_true(x.perms & PHYSIM_U);
	assert_false(x.global);
	struct physim_xlate walked = x;
	assert_int_equal(tr(e, m, P(0) + 0x123, RD, &x), 0);
	assert_int_equal(x.mem_refs, 0);
	assert_int_equal(x.pa, walked.pa);
	assert_int_equal(x.page_size, walked.page_size);
	assert_int_equal(x.level, walked.level);
	assert_int_equal(x.perms, walked.perms);
	assert_int_equal(x.global, walked.global);
	assert_false(x.ad_updated);
	assert_int_equal(x.fault.kind, PHYSIM_FAULT_NONE);
	expect_stats(e, 1, 1, 0, 0);

	tr_ok(e, m, P(1), RD, PA(1));		      /* miss */
	tr_ok(e, m, P(0), RD, PA(0));		      /* hit */
	tr_ok(e, m, P(0) + 0xfff, RD, PA(0) + 0xfff); /* hit: same page */
	tr_ok(e, m, P(1) + 0x800, RD, PA(1) + 0x800); /* hit */
	expect_stats(e, 4, 2, 0, 0);

	/* flush_va drops only the page it names. */
	physim_tlb_flush_va(e->tlb, P(0) + 0x555);
	expect_stats(e, 4, 2, 1, 0);
	tr_ok(e, m, P(0) + 8, RD, PA(0) + 8); /* miss */
	tr_ok(e, m, P(1) + 8, RD, PA(1) + 8); /* hit */
	expect_stats(e, 5, 3, 1, 0);

	/* flush_all drops everything. */
	physim_tlb_flush_all(e->tlb);
	tr_ok(e, m, P(0), RD, PA(0));
	tr_ok(e, m, P(1), RD, PA(1));
	tr_ok(e, m, P(0), RD, PA(0));
	expect_stats(e, 6, 5, 2, 0);

	/* Eight pages fit the default 1024 entries: a second pass hits. */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < 8; i++)
			tr_ok(e, m, P(i) + 0x10, RD, PA(i) + 0x10);
	expect_stats(e, 6 + 2 + 8, 5 + 6, 2, 0);

	/* A fault is not cached: an unmapped page walks every time. */
	tr_fault(e, m, P(9), RD, PHYSIM_FAULT_NOT_PRESENT);
	tr_fault(e, m, P(9), RD, PHYSIM_FAULT_NOT_PRESENT);
	expect_stats(e, 16, 13, 2, 0);

	physim_mmu_destroy(m);
	physim_pt_destroy(pt);
	env_free(e);
}

/* Round-robin replacement in a set, and the capacity rounding. */
static void test_capacity(void **state)
{
	(void)state;
	/* 4 entries: one set of 4 ways. Pages 0..4 fill ways 0..3, then page
	 * 4 replaces way 0 (page 0); page 0 then replaces way 1 (page 1). */
	struct env *e = env_new(&fmt_x86, &(struct physim_tlb_config){.entries = 4});
	struct physim_pt *pt = pt_new(e, NULL, false);
	map_pages(e, pt, 8, URW);
	struct physim_mmu *m = mmu(e, pt, 1, 0);
	for (int i = 0; i < 5; i++)
		tr_ok(e, m, P(i), RD, PA(i));
	expect_stats(e, 0, 5, 0, 0);
	tr_ok(e, m, P(0), RD, PA(0)); /* miss */
	tr_ok(e, m, P(2), RD, PA(2)); /* hits: 2, 3, 4, 0 */
	tr_ok(e, m, P(3), RD, PA(3));
	tr_ok(e, m, P(4), RD, PA(4));
	tr_ok(e, m, P(0), RD, PA(0));
	tr_ok(e, m, P(1), RD, PA(1)); /* miss */
	expect_stats(e, 4, 7, 0, 0);
	/* Cycling over 8 pages through 4 ways: every access misses. */
	physim_tlb_flush_all(e->tlb);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < 8; i++)
			tr_ok(e, m, P(i), RD, PA(i));
	expect_stats(e, 4, 7 + 16, 1, 0);
	physim_mmu_destroy(m);
	physim_tlb_destroy(e->tlb);

	/* 5 entries round up to 8: two sets of 4; the set of page number v is
	 * bit 0 of v ^ (v >> 9), so pages 0x400..0x407 alternate: 4 + 4, they
	 * fit and a second pass hits. 1 entry rounds up to one set of 4. */
	assert_int_equal(physim_tlb_create(&(struct physim_tlb_config){.entries = 5}, &e->tlb), 0);
	m = mmu(e, pt, 1, 0);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < 8; i++)
			tr_ok(e, m, P(i), RD, PA(i));
	expect_stats(e, 8, 8, 0, 0);
	physim_tlb_destroy(e->tlb);
	assert_int_equal(physim_tlb_create(&(struct physim_tlb_config){.entries = 1}, &e->tlb), 0);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < 4; i++)
			tr_ok(e, m, P(i), RD, PA(i));
	expect_stats(e, 4, 4, 0, 0);

	/* The first pages of five 2 MiB regions do not share one set in the
	 * default TLB (the index folds page-number bits 9 and up in): after one
	 * pass, all five hit. */
	physim_tlb_destroy(e->tlb);
	assert_int_equal(physim_tlb_create(NULL, &e->tlb), 0);
	for (int i = 0; i < 5; i++)
		map(pt, UINT64_C(0x10000000) + i * 2 * MiB, PA(i), 4 * KiB, URW, 0);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < 5; i++)
			tr_ok(e, m, UINT64_C(0x10000000) + i * 2 * MiB, RD, PA(i));
	expect_stats(e, 5, 5, 0, 0);

	physim_mmu_destroy(m);
	physim_pt_destroy(pt);
	env_free(e);
}

/* Same VA in two ASIDs; a global page seen from both; flush_asid keeps
 * globals; flush_va_asid; flush_va drops globals too. */
static void test_asid(void **state)
{
	const struct fmt_case *fc = *state;
	struct env *e = env_new(fc, NULL);
	struct physim_pt *pt1 = pt_new(e, NULL, false);
	struct physim_pt *pt2 = pt_new(e, NULL, false);
	/* Page numbers 0x400, 0x603, 0x702: sets 2, 0, 1 of 256 (v ^ v >> 9). */
	const uint64_t va = 0x400000, gva = 0x603000, va2 = 0x702000;
	map_ng(e, pt1, va, 0x91000000, 4 * KiB, URW);
	map_ng(e, pt2, va, 0x92000000, 4 * KiB, URW);
	map_ng(e, pt1, va2, 0x93000000, 4 * KiB, URW);
	map_ng(e, pt2, va2, 0x94000000, 4 * KiB, URW);
	/* The global page: the same in both address spaces, as a kernel page. */
	map(pt1, gva, 0x95000000, 4 * KiB, URW, fc->global_arch);
	map(pt2, gva, 0x95000000, 4 * KiB, URW, fc->global_arch);
	struct physim_mmu *a1 = mmu(e, pt1, 1, 0);
	struct physim_mmu *a2 = mmu(e, pt2, 2, 0);
	struct physim_xlate x;

	tr_ok(e, a1, va, RD, 0x91000000); /* miss */
	tr_ok(e, a2, va, RD, 0x92000000); /* miss: another ASID */
	tr_ok(e, a1, va, RD, 0x91000000); /* hit */
	tr_ok(e, a2, va, RD, 0x92000000); /* hit */
	expect_stats(e, 2, 2, 0, 0);

	assert_int_equal(tr(e, a1, gva + 4, RD, &x), 0); /* miss, filled by ASID 1 */
	assert_true(x.global);
	assert_int_equal(tr(e, a2, gva + 8, RD, &x), 0); /* hit from ASID 2 */
	assert_true(x.global);
	assert_int_equal(x.pa, 0x95000008);
	assert_int_equal(x.mem_refs, 0);
	expect_stats(e, 3, 3, 0, 0);

	/* flush_asid(1): ASID 1's own entry goes, the global one and ASID 2's stay. */
	physim_tlb_flush_asid(e->tlb, 1);
	tr_ok(e, a1, gva, RD, 0x95000000); /* hit */
	tr_ok(e, a2, va, RD, 0x92000000);  /* hit */
	tr_ok(e, a1, va, RD, 0x91000000);  /* miss */
	expect_stats(e, 5, 4, 1, 0);

	/* flush_va_asid(va, 2): only ASID 2's entry for va. */
	tr_ok(e, a1, va2, RD, 0x93000000); /* miss */
	tr_ok(e, a2, va2, RD, 0x94000000); /* miss */
	physim_tlb_flush_va_asid(e->tlb, va, 2);
	tr_ok(e, a1, va, RD, 0x91000000);  /* hit */
	tr_ok(e, a2, va2, RD, 0x94000000); /* hit */
	tr_ok(e, a2, va, RD, 0x92000000);  /* miss */
	expect_stats(e, 7, 7, 2, 0);
	/* ... and never a global entry. */
	physim_tlb_flush_va_asid(e->tlb, gva, 1);
	physim_tlb_flush_va_asid(e->tlb, gva, 2);
	tr_ok(e, a2, gva, RD, 0x95000000); /* hit */
	expect_stats(e, 8, 7, 4, 0);

	/* flush_va: every ASID, globals included; other pages stay. */
	physim_tlb_flush_va(e->tlb, va);
	physim_tlb_flush_va(e->tlb, gva + 0xabc);
	tr_ok(e, a1, va, RD, 0x91000000);  /* miss */
	tr_ok(e, a2, va, RD, 0x92000000);  /* miss */
	tr_ok(e, a2, gva, RD, 0x95000000); /* miss */
	tr_ok(e, a1, va2, RD, 0x93000000); /* hit */
	tr_ok(e, a2, va2, RD, 0x94000000); /* hit */
	expect_stats(e, 10, 10, 6, 0);

	physim_mmu_destroy(a1);
	physim_mmu_destroy(a2);
	physim_pt_destroy(pt1);
	physim_pt_destroy(pt2);
	env_free(e);
}

/* VMID tagging: the same ASID and VA in two VMs; globals are per VM. */
static void test_vmid(void **state)
{
	const struct fmt_case *fc = *state;
	struct env *e = env_new(fc, NULL);
	struct physim_pt *pt1 = pt_new(e, NULL, false);
	struct physim_pt *pt2 = pt_new(e, NULL, false);
	const uint64_t va = 0x400000, gva = 0x603000; /* sets 2 and 0 */
	map_ng(e, pt1, va, 0x91000000, 4 * KiB, URW);
	map_ng(e, pt2, va, 0x92000000, 4 * KiB, URW);
	map(pt1, gva, 0x95000000, 4 * KiB, URW, fc->global_arch);
	map(pt2, gva, 0x96000000, 4 * KiB, URW, fc->global_arch);
	struct physim_mmu *v1 = mmu(e, pt1, 1, 1);
	struct physim_mmu *v2 = mmu(e, pt2, 1, 2);
	struct physim_mmu *v1b = mmu(e, pt1, 7, 1); /* VM 1, another ASID */

	tr_ok(e, v1, va, RD, 0x91000000);   /* miss */
	tr_ok(e, v2, va, RD, 0x92000000);   /* miss */
	tr_ok(e, v1, gva, RD, 0x95000000);  /* miss */
	tr_ok(e, v2, gva, RD, 0x96000000);  /* miss: a global of VM 1 is not VM 2's */
	tr_ok(e, v1b, gva, RD, 0x95000000); /* hit: global within VM 1 */
	tr_ok(e, v1, va, RD, 0x91000000);   /* hit */
	tr_ok(e, v2, va, RD, 0x92000000);   /* hit */
	expect_stats(e, 3, 4, 0, 0);

	/* flush_vmid(1) drops VM 1's entries, globals included. */
	physim_tlb_flush_vmid(e->tlb, 1);
	tr_ok(e, v2, va, RD, 0x92000000);   /* hit */
	tr_ok(e, v2, gva, RD, 0x96000000);  /* hit */
	tr_ok(e, v1, va, RD, 0x91000000);   /* miss */
	tr_ok(e, v1b, gva, RD, 0x95000000); /* miss */
	expect_stats(e, 5, 6, 1, 0);

	/* flush_asid(1) applies in every VM; VM 1's ASID 7 is not touched. */
	tr_ok(e, v1b, va, RD, 0x91000000); /* miss */
	physim_tlb_flush_asid(e->tlb, 1);
	tr_ok(e, v1, va, RD, 0x91000000);  /* miss */
	tr_ok(e, v2, va, RD, 0x92000000);  /* miss */
	tr_ok(e, v1b, va, RD, 0x91000000); /* hit */
	tr_ok(e, v2, gva, RD, 0x96000000); /* hit: global */
	expect_stats(e, 7, 9, 2, 0);

	physim_mmu_destroy(v1);
	physim_mmu_destroy(v1b);
	physim_mmu_destroy(v2);
	physim_pt_destroy(pt1);
	physim_pt_destroy(pt2);
	env_free(e);
}

/* Every huge page size of the format: one entry serves the whole page, and
 * a flush of any address inside drops it. */
static void test_huge(void **state)
{
	const struct fmt_case *fc = *state;
	struct env *e = env_new(fc, NULL);
	struct physim_pt *pt = pt_new(e, NULL, false);
	struct physim_pt_format_info info;
	physim_format_get_info(e->fmt, &info);

	struct huge {
		uint64_t size, va, pa;
		int level;
	} h[PHYSIM_PT_MAX_LEVELS];
	unsigned nh = 0;
	for (unsigned n = 1; n < info.levels; n++) {
		uint64_t size = UINT64_C(1) << info.level[n].shift;
		if (!info.level[n].leaf_ok || !(info.page_sizes & size))
			continue;
		/* va = 2 * size, pa = 3 * size: no two pages overlap. */
		h[nh] = (struct huge){size, 2 * size, 3 * size, arch_level(fc, n)};
		if (h[nh].va + size > (UINT64_C(1) << (info.va_bits - 1)) ||
		    h[nh].pa >= (UINT64_C(1) << info.pa_bits))
			continue;
		map_ng(e, pt, h[nh].va, h[nh].pa, size, URW);
		nh++;
	}
	assert_true(nh >= 2); /* 2M and 1G at least in all three formats */
	map_ng(e, pt, 0x1000, 0x90000000, 4 * KiB, URW);
	struct physim_mmu *m = mmu(e, pt, 1, 0);
	struct physim_xlate x;

	uint64_t hits = 0, misses = 0;
	for (unsigned i = 0; i < nh; i++) {
		const uint64_t off[] = {0x12345, h[i].size - 8, h[i].size / 2 + 0x100, 0};
		for (unsigned k = 0; k < 4; k++) {
			uint64_t o = off[k] & (h[i].size - 1);
			assert_int_equal(tr(e, m, h[i].va + o, RD, &x), 0);
			assert_int_equal(x.pa, h[i].pa + o);
			assert_int_equal(x.page_size, h[i].size);
			assert_int_equal(x.level, h[i].level);
			if (k == 0)
				misses++;
			else
				hits++, assert_int_equal(x.mem_refs, 0);
		}
	}
	tr_ok(e, m, 0x1234, RD, 0x90000234);
	tr_ok(e, m, 0x1ff8, RD, 0x90000ff8);
	expect_stats(e, hits + 1, misses + 1, 0, 0);

	/* Flush an address in the middle of each huge page: only that page's
	 * entry goes. */
	for (unsigned i = 0; i < nh; i++) {
		physim_tlb_flush_va(e->tlb, h[i].va + h[i].size / 2 + 0x40);
		for (unsigned j = 0; j < nh; j++)
			tr_ok(e, m, h[j].va + 0x40, RD, h[j].pa + 0x40);
		hits += nh - 1, misses++;
	}
	tr_ok(e, m, 0x1000, RD, 0x90000000);
	expect_stats(e, hits + 2, misses + 1, nh, 0);

	physim_mmu_destroy(m);
	physim_pt_destroy(pt);
	env_free(e);
}

/* A hit still checks the access against the cached permissions; anything it
 * cannot serve walks (a miss) and faults are returned, never cached. */
static void test_perm_recheck(void **state)
{
	const struct fmt_case *fc = *state;
	struct env *e = env_new(fc, NULL);
	struct physim_pt *pt = pt_new(e, NULL, false);
	map_ng(e, pt, P(0), PA(0), 4 * KiB, URO);
	map_ng(e, pt, P(1), PA(1), 4 * KiB, URW);
	struct physim_mmu *m = mmu(e, pt, 1, 0);
	struct physim_xlate x;

	/* Read-only page: read cached, then a write faults and is no hit. */
	tr_ok(e, m, P(0), RD, PA(0)); /* miss */
	tr_ok(e, m, P(0), RD, PA(0)); /* hit */
	assert_int_equal(tr(e, m, P(0) + 4, WR, &x), -EFAULT);
	assert_int_equal(x.fault.kind, PHYSIM_FAULT_PERMISSION);
	assert_int_equal(x.fault.addr, P(0) + 4);
	expect_stats(e, 1, 2, 0, 0);
	/* The fault dropped the entry (as x86 does on #PF). */
	tr_ok(e, m, P(0), RD, PA(0)); /* miss */
	tr_ok(e, m, P(0), RD, PA(0)); /* hit */
	expect_stats(e, 2, 3, 0, 0);
	/* No execute permission: a fetch faults. */
	tr_fault(e, m, P(0), EX, PHYSIM_FAULT_PERMISSION);
	expect_stats(e, 2, 4, 0, 0);

	/* Writable page: the first write after a read walks once (dirty not
	 * known yet), later writes and reads hit. */
	tr_ok(e, m, P(1), RD, PA(1)); /* miss */
	struct physim_pt_mapping q;
	assert_int_equal(physim_pt_query(pt, P(1), &q), 0);
	assert_int_equal(q.dirty, fc->dirty_on_map);
	assert_int_equal(tr(e, m, P(1) + 8, WR, &x), 0); /* miss */
	assert_int_equal(x.pa, PA(1) + 8);
	assert_int_equal(x.ad_updated, fc->hw_dirty);
	assert_int_equal(physim_pt_query(pt, P(1), &q), 0);
	assert_int_equal(q.dirty, fc->dirty_on_map || fc->hw_dirty);
	tr_ok(e, m, P(1) + 16, WR, PA(1) + 16); /* hit */
	tr_ok(e, m, P(1) + 24, RD, PA(1) + 24); /* hit */
	expect_stats(e, 4, 6, 0, 0);

	physim_mmu_destroy(m);
	physim_pt_destroy(pt);
	env_free(e);
}

/* ---- THE KEY TEST: a forgotten flush ---- */

static void stale_env(const struct fmt_case *fc, bool hooked, struct stale_log *log)
{
	struct env *e =
	    env_new(fc, &(struct physim_tlb_config){
			    .check_stale = true, .on_stale = log_stale, .stale_ctx = log});
	struct physim_pt *pt = pt_new(e, NULL, hooked);
	map_pages(e, pt, 4, URW);
	map_ng(e, pt, 0x200000, 0x90200000, 2 * MiB, URW);
	struct physim_mmu *m = mmu(e, pt, 1, 0);
	struct physim_xlate x;
	/* A hooked table reports new pages too: count from here. */
	uint64_t flushes = physim_tlb_stats(e->tlb).flushes, stale = 0;
	assert_int_equal(flushes, hooked ? 5 : 0);

	/* 1. remap P(0) to a new frame. */
	tr_ok(e, m, P(0) + 0x10, RD, PA(0) + 0x10); /* miss: cached */
	assert_int_equal(physim_pt_remap(pt, P(0), 0x98000000, URW), 0);
	flushes += hooked;
	assert_int_equal(tr(e, m, P(0) + 0x20, RD, &x), 0);
	if (hooked) {
		/* The hook flushed the entry: the new translation, nothing stale. */
		assert_int_equal(x.pa, 0x98000020);
		assert_int_equal(log->n, 0);
	} else {
		/* Stale hardware keeps using the old frame, and we are told. */
		assert_int_equal(x.pa, PA(0) + 0x20);
		assert_int_equal(log->n, 1);
		assert_int_equal(log->va, P(0) + 0x20);
		assert_int_equal(log->cached.va, P(0));
		assert_int_equal(log->cached.pa, PA(0));
		assert_int_equal(log->cached.page_size, 4 * KiB);
		assert_int_equal(log->cached.asid, 1);
		assert_int_equal(log->cached.vmid, 0);
		assert_false(log->cached.global);
		assert_true(log->cached.perms & PHYSIM_U);
		assert_int_equal(log->cur.fault.kind, PHYSIM_FAULT_NONE);
		assert_int_equal(log->cur.pa, 0x98000020);
		assert_int_equal(log->cur.page_size, 4 * KiB);
		stale++;
	}
	expect_stats(e, !hooked, 1 + hooked, flushes, stale);

	/* 2. unmap P(1). */
	tr_ok(e, m, P(1), RD, PA(1)); /* miss */
	assert_int_equal(physim_pt_unmap(pt, P(1), NULL), 0);
	flushes += hooked;
	int rc = tr(e, m, P(1) + 0x30, RD, &x);
	if (hooked) {
		assert_int_equal(rc, -EFAULT);
		assert_int_equal(x.fault.kind, PHYSIM_FAULT_NOT_PRESENT);
		assert_int_equal(log->n, 0);
	} else {
		assert_int_equal(rc, 0);
		assert_int_equal(x.pa, PA(1) + 0x30);
		assert_int_equal(log->n, 2);
		assert_int_equal(log->cached.pa, PA(1));
		assert_int_equal(log->cur.fault.kind, PHYSIM_FAULT_NOT_PRESENT);
		stale++;
	}
	expect_stats(e, 2 * !hooked, 2 + 2 * hooked, flushes, stale);

	/* 3. write-protect P(2) after a write cached it. */
	tr_ok(e, m, P(2), WR, PA(2)); /* miss */
	assert_int_equal(physim_pt_protect(pt, P(2), URO), 0);
	flushes += hooked;
	rc = tr(e, m, P(2) + 0x40, WR, &x);
	if (hooked) {
		assert_int_equal(rc, -EFAULT);
		assert_int_equal(x.fault.kind, PHYSIM_FAULT_PERMISSION);
	} else {
		assert_int_equal(rc, 0);
		assert_int_equal(x.pa, PA(2) + 0x40);
		assert_int_equal(log->n, 3);
		assert_true(log->cached.perms & PHYSIM_W);
		assert_int_equal(log->cur.fault.kind, PHYSIM_FAULT_PERMISSION);
		stale++;
	}
	expect_stats(e, 3 * !hooked, 3 + 3 * hooked, flushes, stale);

	/* 4. a 2 MiB page replaced by 4 KiB pages elsewhere: the page size
	 * changes under a cached entry. */
	tr_ok(e, m, 0x200000 + 0x5678, RD, 0x90205678); /* miss */
	assert_int_equal(physim_pt_unmap(pt, 0x200000, NULL), 0);
	map_ng(e, pt, 0x205000, 0x9a000000, 4 * KiB, URW);
	flushes += 2 * hooked; /* the unmap and the map */
	assert_int_equal(tr(e, m, 0x205678, RD, &x), 0);
	if (hooked) {
		assert_int_equal(x.pa, 0x9a000678);
		assert_int_equal(x.page_size, 4 * KiB);
	} else {
		assert_int_equal(x.pa, 0x90205678);
		assert_int_equal(x.page_size, 2 * MiB);
		assert_int_equal(log->n, 4);
		assert_int_equal(log->cached.va, 0x200000);
		assert_int_equal(log->cached.page_size, 2 * MiB);
		assert_int_equal(log->cur.pa, 0x9a000678);
		assert_int_equal(log->cur.page_size, 4 * KiB);
		stale++;
	}
	expect_stats(e, 4 * !hooked, 4 + 4 * hooked, flushes, stale);

	/* 5. An untouched page is never reported. */
	tr_ok(e, m, P(3), RD, PA(3)); /* miss */
	tr_ok(e, m, P(3), RD, PA(3)); /* hit */
	expect_stats(e, 4 * !hooked + 1, 5 + 4 * hooked, flushes, stale);
	assert_int_equal(log->n, (int)stale);

	physim_mmu_destroy(m);
	physim_pt_destroy(pt);
	env_free(e);
}

static void test_forgotten_flush(void **state)
{
	struct stale_log log = {0};
	stale_env(*state, false, &log);
}

static void test_flush_hooked(void **state)
{
	struct stale_log log = {0};
	stale_env(*state, true, &log);
}

/* Without check_stale the same mistake goes unnoticed: the cached, wrong
 * translation is returned and nothing is counted. With check_stale and no
 * callback it is counted. A callback may flush the TLB it is called from. */
static void test_stale_variants(void **state)
{
	(void)state;
	for (int variant = 0; variant < 3; variant++) {
		struct stale_log log = {0};
		struct physim_tlb_config tc = {.check_stale = variant > 0};
		if (variant == 2) {
			tc.on_stale = log_stale;
			tc.stale_ctx = &log;
		}
		struct env *e = env_new(&fmt_x86, &tc);
		log.flush_me = variant == 2 ? e->tlb : NULL;
		struct physim_pt *pt = pt_new(e, NULL, false);
		map_pages(e, pt, 1, URW);
		struct physim_mmu *m = mmu(e, pt, 1, 0);
		tr_ok(e, m, P(0), RD, PA(0));
		assert_int_equal(physim_pt_remap(pt, P(0), 0x98000000, URW), 0);
		tr_ok(e, m, P(0), RD, PA(0)); /* stale hit */
		expect_stats(e, 1, 1, variant == 2, variant > 0);
		/* variant 2's callback flushed: the next access walks afresh. */
		tr_ok(e, m, P(0), RD, variant == 2 ? 0x98000000 : PA(0));
		assert_int_equal(log.n, variant == 2 ? 1 : 0);
		physim_mmu_destroy(m);
		physim_pt_destroy(pt);
		env_free(e);
	}
}

/* physim_tlb_pt_flush as a flush callback, called directly. */
static void test_pt_flush_fn(void **state)
{
	(void)state;
	struct env *e = env_new(&fmt_x86, NULL);
	struct physim_pt *pt = pt_new(e, NULL, false);
	map_pages(e, pt, 4, URW);
	struct physim_mmu *m = mmu(e, pt, 1, 0);
	for (int i = 0; i < 4; i++)
		tr_ok(e, m, P(i), RD, PA(i));
	expect_stats(e, 0, 4, 0, 0);

	const uint64_t vas[] = {P(1), P(3) + 0x10};
	physim_tlb_pt_flush(e->tlb, vas, 2, false); /* two flush_va */
	expect_stats(e, 0, 4, 2, 0);
	for (int i = 0; i < 4; i++)
		tr_ok(e, m, P(i), RD, PA(i)); /* 0, 2 hit; 1, 3 miss */
	expect_stats(e, 2, 6, 2, 0);

	physim_tlb_pt_flush(e->tlb, vas, 0, false); /* nothing */
	expect_stats(e, 2, 6, 2, 0);
	physim_tlb_pt_flush(e->tlb, NULL, 0, true); /* flush_all */
	tr_ok(e, m, P(0), RD, PA(0));
	expect_stats(e, 2, 7, 3, 0);
	/* A list it cannot read: everything goes, to be safe. */
	physim_tlb_pt_flush(e->tlb, NULL, 3, false);
	tr_ok(e, m, P(0), RD, PA(0));
	expect_stats(e, 2, 8, 4, 0);

	physim_mmu_destroy(m);
	physim_pt_destroy(pt);
	env_free(e);
}

/* ---- x86 privilege rules on hits ---- */

static void test_x86_privilege(void **state)
{
	(void)state;
	struct env *e = env_new(&fmt_x86, NULL);
	struct physim_pt *pt = pt_new(e, NULL, false);
	map(pt, P(0), PA(0), 4 * KiB, URW, 0);				  /* user page */
	map(pt, P(1), PA(1), 4 * KiB, PHYSIM_R | PHYSIM_W, 0);		  /* supervisor page */
	map(pt, P(2), PA(2), 4 * KiB, PHYSIM_R | PHYSIM_X | PHYSIM_U, 0); /* user code */
	map(pt, P(3), PA(3), 4 * KiB, PHYSIM_R, 0);			  /* supervisor read-only */
	struct physim_mmu *m = mmu(e, pt, 1, 0);

	/* A supervisor access to a user page is cached as a conditional class:
	 * it hits while SMAP/SMEP/AC (which change without a flush) are as they
	 * were at the fill, and it does not evict the user's entry. */
	tr_ok(e, m, P(0), RD, PA(0));  /* miss */
	tr_ok(e, m, P(0), SRD, PA(0)); /* miss */
	tr_ok(e, m, P(0), RD, PA(0));  /* hit */
	tr_ok(e, m, P(0), SRD, PA(0)); /* hit */
	tr_ok(e, m, P(0), RD, PA(0));  /* hit */
	expect_stats(e, 3, 2, 0, 0);
	/* An implicit supervisor access (SMAP ignores AC for it) still walks. */
	struct physim_xlate xi;
	assert_int_equal(physim_tlb_translate(
			     e->tlb, m, &(struct physim_access){.va = P(0), .implicit = true}, &xi),
			 0);
	expect_stats(e, 3, 3, 0, 0);
	/* CR4.SMAP set without a flush (SDM Vol. 3A 4.6.1: a supervisor data
	 * access to a user page then faults unless RFLAGS.AC, checked on every
	 * access): the cached class no longer serves, the walk faults. */
	struct physim_mmu_config mc;
	physim_mmu_get_config(m, &mc);
	mc.ctl.smap = true;
	assert_int_equal(physim_mmu_set_config(m, &mc), 0);
	tr_fault(e, m, P(0), SRD, PHYSIM_FAULT_PERMISSION); /* miss */
	mc.ctl.smap = false;
	assert_int_equal(physim_mmu_set_config(m, &mc), 0);
	expect_stats(e, 3, 4, 0, 0);

	/* A supervisor page: hits for the supervisor; a user access faults
	 * (and drops the entry). */
	tr_ok(e, m, P(1), SRD, PA(1));			   /* miss */
	tr_ok(e, m, P(1), SWR, PA(1));			   /* miss: dirty not known */
	tr_ok(e, m, P(1), SWR, PA(1));			   /* hit */
	tr_fault(e, m, P(1), RD, PHYSIM_FAULT_PERMISSION); /* miss */
	tr_ok(e, m, P(1), SRD, PA(1));			   /* miss */
	expect_stats(e, 4, 8, 0, 0);

	/* User code: fetch and read hit once cached, a write faults. */
	tr_ok(e, m, P(2), EX, PA(2)); /* miss */
	tr_ok(e, m, P(2), EX, PA(2)); /* hit */
	tr_ok(e, m, P(2), RD, PA(2)); /* hit */
	tr_fault(e, m, P(2), WR, PHYSIM_FAULT_PERMISSION);
	expect_stats(e, 6, 10, 0, 0);

	/* CR0.WP = 0: a supervisor write to a read-only page succeeds, but the
	 * entry holds no W, so every such write walks. */
	struct physim_mmu *wp0 = mmu_ctl(e, pt, 2, 0, &(struct physim_mmu_ctl){.wp_off = true});
	tr_ok(e, wp0, P(3), SWR, PA(3)); /* miss */
	tr_ok(e, wp0, P(3), SWR, PA(3)); /* miss */
	tr_ok(e, wp0, P(3), SRD, PA(3)); /* hit */
	expect_stats(e, 7, 12, 0, 0);

	/* Protection keys on: user accesses hit only while PKRU is as at the
	 * fill (it changes without a flush; SDM Vol. 3A 4.6.2 checks it on
	 * every access); supervisor ones to supervisor pages hit. */
	struct physim_mmu *pk = mmu_ctl(e, pt, 3, 0, &(struct physim_mmu_ctl){.pke = true});
	tr_ok(e, pk, P(0), RD, PA(0));	/* miss */
	tr_ok(e, pk, P(0), RD, PA(0));	/* hit */
	tr_ok(e, pk, P(1), SRD, PA(1)); /* miss */
	tr_ok(e, pk, P(1), SRD, PA(1)); /* hit */
	expect_stats(e, 9, 14, 0, 0);
	/* PKRU.AD for key 0 (bit 0) set without a flush: a user data access to
	 * a key-0 user page faults. */
	physim_mmu_get_config(pk, &mc);
	mc.ctl.pkru = 1;
	assert_int_equal(physim_mmu_set_config(pk, &mc), 0);
	tr_fault(e, pk, P(0), RD, PHYSIM_FAULT_PERMISSION); /* miss */
	expect_stats(e, 9, 15, 0, 0);

	physim_mmu_destroy(pk);
	physim_mmu_destroy(wp0);
	physim_mmu_destroy(m);
	physim_pt_destroy(pt);
	env_free(e);
}

/* The blind spot the conditional classes close: a table whose leaves are
 * all user pages, used by the supervisor only (a hypervisor's table read
 * through a user-accessible mapping). A remap without a flush must show as
 * a stale hit on the supervisor's next access, on x86 (SMAP off), AArch64
 * (PAN off, AP[1] = 1 leaves) and RISC-V (SUM on). */
static void test_supervisor_user_stale(void **state)
{
	(void)state;
	static const char *const fmts[] = {"x86_64-4l", "aarch64-4k-48", "sv48"};
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		struct stale_log log = {0};
		struct physim_tlb_config tc = {
		    .check_stale = true, .on_stale = log_stale, .stale_ctx = &log};
		struct env *e = env_new(NULL, &tc);
		struct physim_pt *pt = pt_new(e, physim_format(fmts[i]), false);
		map(pt, P(0), PA(0), 4 * KiB, URW, 0);
		struct physim_mmu *m = mmu_ctl(e, pt, 1, 0, &(struct physim_mmu_ctl){.sum = true});
		tr_ok(e, m, P(0), SRD, PA(0)); /* miss */
		tr_ok(e, m, P(0), SRD, PA(0)); /* hit */
		assert_int_equal(physim_pt_remap(pt, P(0), 0x98000000, URW), 0);
		tr_ok(e, m, P(0), SRD, PA(0)); /* stale hit, reported */
		expect_stats(e, 2, 1, 0, 1);
		assert_int_equal(log.n, 1);
		physim_mmu_destroy(m);
		physim_pt_destroy(pt);
		env_free(e);
	}
}

/* A stage-2 mmu translated on its own (GPA -> HPA). An entry serves only the
 * privilege that filled it: the permissions a hit returns include the
 * execute right, which AArch64 stage-2 XN[1:0] gives per EL (Arm ARM D8.4),
 * so the other privilege's access walks. */
static void test_stage2_direct(void **state)
{
	(void)state;
	struct env *e = env_new(NULL, NULL);
	struct physim_pt *ept = pt_new(e, physim_format("ept-4l"), false);
	map(ept, 0x10000000, 0x1a0000000, 2 * MiB, PHYSIM_R | PHYSIM_W | PHYSIM_X, 0);
	struct physim_mmu *s2 = mmu(e, ept, 0, 3);
	struct physim_xlate x;

	assert_int_equal(tr(e, s2, 0x10012345, SRD, &x), 0); /* miss */
	assert_int_equal(x.pa, 0x1a0012345);
	assert_int_equal(x.gpa, 0x10012345);
	assert_int_equal(x.page_size, 2 * MiB);
	assert_int_equal(tr(e, s2, 0x10054321, RD, &x), 0); /* miss: other privilege */
	assert_int_equal(x.pa, 0x1a0054321);
	assert_int_equal(x.gpa, 0x10054321);
	tr_ok(e, s2, 0x10000000, WR, 0x1a0000000);  /* miss: dirty unknown */
	tr_ok(e, s2, 0x10000008, SWR, 0x1a0000008); /* miss: supervisor write unknown */
	tr_ok(e, s2, 0x10000010, SEX, 0x1a0000010); /* hit: the first fill's */
	tr_ok(e, s2, 0x10000018, EX, 0x1a0000018);  /* hit: the second fill's */
	expect_stats(e, 2, 4, 0, 0);
	/* Fetches too are served only for the privilege that filled the entry. */
	physim_tlb_flush_all(e->tlb);
	tr_ok(e, s2, 0x10000020, SEX, 0x1a0000020); /* miss */
	tr_ok(e, s2, 0x10000028, EX, 0x1a0000028);  /* miss */
	tr_ok(e, s2, 0x10000030, EX, 0x1a0000030);  /* hit */
	tr_ok(e, s2, 0x10000038, RD, 0x1a0000038);  /* hit */
	expect_stats(e, 4, 6, 1, 0);

	physim_mmu_destroy(s2);
	physim_pt_destroy(ept);
	env_free(e);
}

/* ---- nested: GVA -> HPA entries tagged by s1's ASID and s2's VMID ---- */

/* Guest layout (x86_64-4l guest over ept-4l, or sv48 over sv48x4):
 * - guest tables live in host RAM frames; stage 2 maps RAM identically (GPA
 *   = HPA, 2 MiB pages), so the guest's root register holds a host address;
 * - A: GVA 0x400000 + i * 4K -> GPA 0x100000000 + i * 4K (4 KiB, i < 4), and
 *   stage 2 GPA 0x100000000 (2 MiB) -> HPA 0x200000000;
 * - B: GVA 0x40000000 (2 MiB) -> GPA 0x140000000, and stage 2 maps GPA
 *   0x140000000 + j * 4K -> HPA 0x300000000 + j * 4K (4 KiB, j < 8);
 *   also GPA 0x140200000 + j * 4K -> HPA 0x310000000 + j * 4K for a remap;
 * - C: GVA 0x100000000 (the same number as A's GPA) -> GPA 0x100001000. */
#define GVA_A UINT64_C(0x400000)
#define GPA_A UINT64_C(0x100000000)
#define HPA_A UINT64_C(0x200000000)
#define GVA_B UINT64_C(0x40000000)
#define GPA_B UINT64_C(0x140000000)
#define HPA_B UINT64_C(0x300000000)

struct nested_case {
	const struct fmt_case *s1;
	const char *s2;
};

static const struct nested_case nested_x86 = {&fmt_x86, "ept-4l"};
static const struct nested_case nested_rv = {&fmt_sv48, "sv48x4"};

struct nested {
	struct env *e;
	struct physim_pt *s1pt, *s2pt;
	struct physim_mmu *s1, *s2a, *s2b;
};

static struct nested nested_new(const struct nested_case *nc, bool hooked,
				const struct physim_tlb_config *tc)
{
	struct nested n = {.e = env_new(nc->s1, tc)};
	struct env *e = n.e;
	const uint32_t rwx = PHYSIM_R | PHYSIM_W | PHYSIM_X;
	n.s1pt = pt_new(e, NULL, hooked);
	n.s2pt = pt_new(e, physim_format(nc->s2), hooked);
	assert_int_equal(
	    physim_pt_map_region(n.s2pt, RAM_BASE, RAM_BASE, RAM_SIZE, rwx, PHYSIM_ALLOW_HUGE), 0);
	for (int i = 0; i < 4; i++)
		map(n.s1pt, GVA_A + i * 4 * KiB, GPA_A + i * 4 * KiB, 4 * KiB, URW, 0);
	map(n.s2pt, GPA_A, HPA_A, 2 * MiB, rwx, 0);
	map(n.s1pt, GVA_B, GPA_B, 2 * MiB, URW, 0);
	for (int j = 0; j < 8; j++) {
		map(n.s2pt, GPA_B + j * 4 * KiB, HPA_B + j * 4 * KiB, 4 * KiB, rwx, 0);
		map(n.s2pt, GPA_B + 2 * MiB + j * 4 * KiB, UINT64_C(0x310000000) + j * 4 * KiB,
		    4 * KiB, rwx, 0);
	}
	map(n.s1pt, GPA_A, GPA_A + 0x1000, 4 * KiB, URW, 0);
	n.s1 = mmu(e, n.s1pt, 5, 0);
	n.s2a = mmu(e, n.s2pt, 0, 1);
	n.s2b = mmu(e, n.s2pt, 0, 2);
	return n;
}

static void nested_free(struct nested *n)
{
	physim_mmu_destroy(n->s1);
	physim_mmu_destroy(n->s2a);
	physim_mmu_destroy(n->s2b);
	physim_pt_destroy(n->s1pt);
	physim_pt_destroy(n->s2pt);
	env_free(n->e);
}

static int ntr(struct nested *n, struct physim_mmu *s2, uint64_t gva, enum acc_kind k,
	       struct physim_xlate *x)
{
	struct physim_access a = access_of(gva, k);
	return physim_tlb_nested_translate(n->e->tlb, n->s1, s2, &a, x);
}

static void ntr_ok(struct nested *n, struct physim_mmu *s2, uint64_t gva, uint64_t gpa,
		   uint64_t hpa)
{
	struct physim_xlate x;
	assert_int_equal(ntr(n, s2, gva, RD, &x), 0);
	assert_int_equal(x.gpa, gpa);
	assert_int_equal(x.pa, hpa);
}

static void test_nested_tags(void **state)
{
	struct nested n = nested_new(*state, false, NULL);
	struct env *e = n.e;
	struct physim_xlate x;

	/* A: 4 KiB guest page over a 2 MiB EPT page. A miss fetches the four
	 * guest entries, each after a 3-level EPT walk (RAM is mapped with 2 MiB
	 * EPT pages), then walks 3 EPT levels for GPA_A: 4 x (3 + 1) + 3 = 19
	 * references. A hit makes none. */
	assert_int_equal(ntr(&n, n.s2a, GVA_A + 0x1234, RD, &x), 0);
	assert_int_equal(x.gpa, GPA_A + 0x1234);
	assert_int_equal(x.pa, HPA_A + 0x1234);
	assert_int_equal(x.page_size, 4 * KiB);
	assert_int_equal(x.level, arch_level(e->fc, 0));
	assert_int_equal(x.mem_refs, 19);
	struct physim_xlate miss = x;
	assert_true(miss.leaf_desc != 0 && miss.s2_leaf_desc != 0);
	assert_int_equal(ntr(&n, n.s2a, GVA_A + 0x1ff0, RD, &x), 0);
	assert_int_equal(x.gpa, GPA_A + 0x1ff0);
	assert_int_equal(x.pa, HPA_A + 0x1ff0);
	assert_int_equal(x.page_size, 4 * KiB);
	assert_int_equal(x.level, arch_level(e->fc, 0));
	assert_int_equal(x.mem_refs, 0);
	/* The hit returns both leaves the filling walk read (memory types). */
	assert_int_equal(x.leaf_desc, miss.leaf_desc);
	assert_int_equal(x.s2_leaf_desc, miss.s2_leaf_desc);
	expect_stats(e, 1, 1, 0, 0);

	/* B: 2 MiB guest page over 4 KiB EPT pages: a 4 KiB entry, level 2. */
	assert_int_equal(ntr(&n, n.s2a, GVA_B + 0x3456, RD, &x), 0);
	assert_int_equal(x.pa, HPA_B + 0x3456);
	assert_int_equal(x.page_size, 4 * KiB);
	assert_int_equal(x.level, arch_level(e->fc, 1));
	ntr_ok(&n, n.s2a, GVA_B + 0x3000, GPA_B + 0x3000, HPA_B + 0x3000); /* hit */
	ntr_ok(&n, n.s2a, GVA_B + 0x4000, GPA_B + 0x4000, HPA_B + 0x4000); /* miss */
	expect_stats(e, 2, 3, 0, 0);

	/* Tagged by VMID: the same guest under VMID 2 misses, then hits. */
	ntr_ok(&n, n.s2b, GVA_A + 0x1234, GPA_A + 0x1234, HPA_A + 0x1234); /* miss */
	ntr_ok(&n, n.s2b, GVA_A + 0x1234, GPA_A + 0x1234, HPA_A + 0x1234); /* hit */
	physim_tlb_flush_vmid(e->tlb, 1);
	ntr_ok(&n, n.s2b, GVA_A + 0x1000, GPA_A + 0x1000, HPA_A + 0x1000); /* hit */
	ntr_ok(&n, n.s2a, GVA_A + 0x1000, GPA_A + 0x1000, HPA_A + 0x1000); /* miss */
	expect_stats(e, 4, 5, 1, 0);

	/* A nested entry and a single-stage entry for the same number do not
	 * alias: GPA 0x100000000 through EPT alone (VMID 1, ASID 0) is HPA_A;
	 * GVA 0x100000000 through the guest (ASID 5 ... and ASID 0) is not. */
	tr_ok(e, n.s2a, GPA_A, SRD, HPA_A); /* miss */
	struct physim_mmu *s1_asid0 = mmu(e, n.s1pt, 0, 0);
	struct physim_access a = {.va = GPA_A, .user = true};
	assert_int_equal(physim_tlb_nested_translate(e->tlb, s1_asid0, n.s2a, &a, &x), 0);
	assert_int_equal(x.pa, HPA_A + 0x1000); /* miss */
	assert_int_equal(physim_tlb_nested_translate(e->tlb, s1_asid0, n.s2a, &a, &x), 0);
	assert_int_equal(x.pa, HPA_A + 0x1000); /* hit */
	tr_ok(e, n.s2a, GPA_A, SRD, HPA_A);	/* hit */
	expect_stats(e, 6, 7, 1, 0);

	/* flush_asid applies to nested entries by the guest's ASID. */
	physim_tlb_flush_asid(e->tlb, 5);
	ntr_ok(&n, n.s2b, GVA_A + 0x1000, GPA_A + 0x1000, HPA_A + 0x1000); /* miss */
	assert_int_equal(physim_tlb_nested_translate(e->tlb, s1_asid0, n.s2a, &a, &x), 0);
	expect_stats(e, 7, 8, 2, 0); /* ASID 0's entry stayed */

	/* flush_va_asid by a GVA inside guest page B's 2 MiB drops the 4 KiB
	 * nested pieces of that page. */
	ntr_ok(&n, n.s2a, GVA_B, GPA_B, HPA_B);				   /* miss */
	ntr_ok(&n, n.s2a, GVA_B + 0x5000, GPA_B + 0x5000, HPA_B + 0x5000); /* miss */
	physim_tlb_flush_va_asid(e->tlb, GVA_B + 0x100000, 5);
	ntr_ok(&n, n.s2a, GVA_B, GPA_B, HPA_B);				   /* miss */
	ntr_ok(&n, n.s2a, GVA_B + 0x5000, GPA_B + 0x5000, HPA_B + 0x5000); /* miss */
	physim_tlb_flush_va_asid(e->tlb, GVA_B + 0x100000, 6);		   /* other ASID */
	ntr_ok(&n, n.s2a, GVA_B, GPA_B, HPA_B);				   /* hit */
	expect_stats(e, 8, 12, 4, 0);

	physim_mmu_destroy(s1_asid0);
	nested_free(&n);
}

/* Nested forgotten flushes and hooked flushes: a stage-2 change under a
 * 4 KiB guest page (the EPT page is 2 MiB) and a stage-1 change of a 2 MiB
 * guest page (cached as 4 KiB pieces). */
static void nested_stale(const struct nested_case *nc, bool hooked)
{
	struct stale_log log = {0};
	struct nested n = nested_new(nc, hooked,
				     &(struct physim_tlb_config){
					 .check_stale = true,
					 .on_stale = log_stale,
					 .stale_ctx = &log,
				     });
	struct env *e = n.e;
	struct physim_xlate x;
	uint64_t flushes = physim_tlb_stats(e->tlb).flushes; /* the maps of a hooked table */

	/* Stage 2: EPT page GPA_A moves to HPA 0x200200000. */
	ntr_ok(&n, n.s2a, GVA_A + 0x1234, GPA_A + 0x1234, HPA_A + 0x1234); /* miss */
	assert_int_equal(
	    physim_pt_remap(n.s2pt, GPA_A, HPA_A + 2 * MiB, PHYSIM_R | PHYSIM_W | PHYSIM_X), 0);
	assert_int_equal(ntr(&n, n.s2a, GVA_A + 0x1238, RD, &x), 0);
	if (hooked) {
		assert_int_equal(x.pa, HPA_A + 2 * MiB + 0x1238);
		assert_int_equal(log.n, 0);
	} else {
		assert_int_equal(x.pa, HPA_A + 0x1238);
		assert_int_equal(log.n, 1);
		assert_int_equal(log.cached.va, GVA_A + 0x1000);
		assert_int_equal(log.cached.pa, HPA_A + 0x1000);
		assert_int_equal(log.cached.asid, 5);
		assert_int_equal(log.cached.vmid, 1);
		assert_int_equal(log.cur.pa, HPA_A + 2 * MiB + 0x1238);
		assert_int_equal(log.cur.gpa, GPA_A + 0x1238);
	}

	/* Stage 1: guest page B moves to GPA 0x140200000. */
	ntr_ok(&n, n.s2a, GVA_B + 0x3456, GPA_B + 0x3456, HPA_B + 0x3456); /* miss */
	assert_int_equal(physim_pt_remap(n.s1pt, GVA_B, GPA_B + 2 * MiB, URW), 0);
	assert_int_equal(ntr(&n, n.s2a, GVA_B + 0x3450, RD, &x), 0);
	if (hooked) {
		assert_int_equal(x.gpa, GPA_B + 2 * MiB + 0x3450);
		assert_int_equal(x.pa, UINT64_C(0x310003450));
		assert_int_equal(log.n, 0);
		expect_stats(e, 0, 4, flushes + 2, 0);
	} else {
		assert_int_equal(x.pa, HPA_B + 0x3450);
		assert_int_equal(log.n, 2);
		assert_int_equal(log.cur.gpa, GPA_B + 2 * MiB + 0x3450);
		assert_int_equal(log.cur.pa, UINT64_C(0x310003450));
		expect_stats(e, 2, 2, flushes, 2);
	}
	nested_free(&n);
}

static void test_nested_forgotten_flush(void **state)
{
	nested_stale(*state, false);
}

static void test_nested_flush_hooked(void **state)
{
	nested_stale(*state, true);
}

/* Nested faults are not cached, and a nested entry re-checks the access. */
static void test_nested_faults(void **state)
{
	struct nested n = nested_new(*state, false, NULL);
	struct env *e = n.e;
	struct physim_xlate x;

	/* GVA_B + 8 pages: stage 1 maps it, stage 2 does not. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ntr(&n, n.s2a, GVA_B + 0x8000, RD, &x), -EFAULT);
		assert_int_equal(x.fault.stage, 2);
		assert_int_equal(x.fault.gpa, GPA_B + 0x8000);
	}
	expect_stats(e, 0, 2, 0, 0);
	/* Supervisor access to the guest's user page walks (x86 without SMAP
	 * allows it, RISC-V without SUM faults); a fetch of a non-executable
	 * guest page faults at stage 1. */
	ntr_ok(&n, n.s2a, GVA_A, GPA_A, HPA_A); /* miss */
	assert_int_equal(ntr(&n, n.s2a, GVA_A, SRD, &x),
			 e->fc->sup_reads_user ? 0 : -EFAULT);	  /* miss */
	assert_int_equal(ntr(&n, n.s2a, GVA_A, EX, &x), -EFAULT); /* miss */
	assert_int_equal(x.fault.stage, 1);
	assert_int_equal(x.fault.kind, PHYSIM_FAULT_PERMISSION);
	ntr_ok(&n, n.s2a, GVA_A, GPA_A, HPA_A); /* miss: the fault dropped it */
	ntr_ok(&n, n.s2a, GVA_A, GPA_A, HPA_A); /* hit */
	expect_stats(e, 1, 6, 0, 0);
	nested_free(&n);
}

/* ---- a seeded differential: the TLB, the TLB with check_stale, the walker ---- */

/*
 * Three copies of one world - RAM, two stage-1 tables (ASIDs 1 and 2, the
 * second with some global leaves over the first's pages), a stage-2 table
 * (VMIDs 1 and 2) - receive the same random steps: accesses with any flags
 * (the invalid combinations too) through one stage, stage 2 alone or both,
 * remaps and unmaps with or without the flush that covers them, and every
 * flush call. World F translates through a TLB, world R through one with
 * check_stale (every hit also compared with a fresh walk, which must
 * change no result and no count but the stale reports), world W
 * through the walker alone. Frames come from identical allocators in the
 * same order, so F and R must give the same result in every field and the
 * same counts after every step, and each access F serves by a walk (its
 * miss count moves), or serves while no table has changed since a
 * flush_all, must agree with W's walk (but for the A/D traces: W walks
 * every time). The walker is the independent expectation; R shows that the
 * stale check observes without changing what the TLB returns.
 */
enum {
	DIFF_SMALL = 20, /* stage-1 4 KiB units: 16 pages, then 4 at +64 pages */
	DIFF_UNITS = 21, /* ... and one 2 MiB unit */
	DIFF_GPAGES = 32,
	DIFF_STEPS = 6000,
};
#define DIFF_V0 UINT64_C(0x400000)
#define DIFF_VH UINT64_C(0x40000000)
#define DIFF_G0 UINT64_C(0x100000000)
#define DIFF_H0 UINT64_C(0x200000000)

struct diff_world {
	struct env *e; /* e->tlb: F's and R's; W destroys its own */
	bool walker;   /* W: translate with the walker alone */
	struct physim_pt *t[2], *s2pt;
	struct physim_mmu *m[2], *mctl, *nomem, *s2[2];
};

/* Input address of a stage-1 unit: pages 0-15, pages 64-67 (64 pages on:
 * another region of the same low address bits), and the 2 MiB page. */
static uint64_t diff_unit_va(unsigned u)
{
	if (u < 16)
		return DIFF_V0 + u * 4 * KiB;
	if (u < DIFF_SMALL)
		return DIFF_V0 + (64 + u - 16) * 4 * KiB;
	return DIFF_VH;
}

static uint64_t diff_unit_size(unsigned u)
{
	return u < DIFF_SMALL ? 4 * KiB : 2 * MiB;
}

/* Stage-2 units: 32 pages of 4 KiB from DIFF_G0, then two 2 MiB blocks. */
static uint64_t diff_gunit_gpa(unsigned k)
{
	return k < DIFF_GPAGES ? DIFF_G0 + k * 4 * KiB : DIFF_G0 + (k - DIFF_GPAGES + 1) * 2 * MiB;
}

static uint64_t diff_gunit_size(unsigned k)
{
	return k < DIFF_GPAGES ? 4 * KiB : 2 * MiB;
}

/* A random stage-1 leaf for unit u of table i: its output (a GPA: in the
 * stage-2 pages, in a stage-2 block, or partly unmapped by stage 2), flags,
 * and the global bit (table 2, units 8-11: over table 1's pages). */
struct diff_leaf {
	uint64_t pa;
	uint32_t flags;
	uint64_t arch;
};

static struct diff_leaf diff_s1_leaf(const struct fmt_case *fc, uint64_t *rng, int i, unsigned u)
{
	static const uint32_t s1_flags[] = {
	    URW, URO, URW | PHYSIM_X, URO | PHYSIM_X, PHYSIM_R | PHYSIM_W, PHYSIM_R | PHYSIM_X,
	};
	struct diff_leaf l = {.flags = s1_flags[tc_rand_below(rng, 6)]};
	if (u < DIFF_SMALL) {
		uint64_t k = tc_rand_below(rng, 2 * DIFF_GPAGES);
		l.pa = k < DIFF_GPAGES ? DIFF_G0 + k * 4 * KiB
				       : DIFF_G0 + 2 * MiB + (k - DIFF_GPAGES) * 4 * KiB;
	} else {
		l.pa = DIFF_G0 + tc_rand_below(rng, 3) * 2 * MiB;
	}
	l.arch = i == 1 && u >= 8 && u < 12 ? fc->global_arch : fc->nonglobal_arch;
	return l;
}

static uint32_t diff_s2_flags(uint64_t *rng)
{
	static const uint32_t f[] = {
	    PHYSIM_R | PHYSIM_W | PHYSIM_X,
	    PHYSIM_R | PHYSIM_W,
	    PHYSIM_R,
	    PHYSIM_R | PHYSIM_X,
	};
	return f[tc_rand_below(rng, 4)];
}

static void diff_map(struct physim_pt *pt, uint64_t va, uint64_t size, const struct diff_leaf *l)
{
	map(pt, va, l->pa, size, l->flags, l->arch);
}

/* One world: the tables mapped from the same generator state in each. */
static void diff_world_new(struct diff_world *w, const struct nested_case *nc, bool walker,
			   const struct physim_tlb_config *tc, uint64_t seed)
{
	const struct fmt_case *fc = nc->s1;
	uint64_t rng = seed;
	*w = (struct diff_world){.e = env_new(fc, tc), .walker = walker};
	struct env *e = w->e;
	const uint32_t rwx = PHYSIM_R | PHYSIM_W | PHYSIM_X;
	w->s2pt = pt_new(e, physim_format(nc->s2), false);
	/* the guest's tables live in RAM, which stage 2 maps identically */
	assert_int_equal(
	    physim_pt_map_region(w->s2pt, RAM_BASE, RAM_BASE, RAM_SIZE, rwx, PHYSIM_ALLOW_HUGE), 0);
	for (unsigned k = 0; k < DIFF_GPAGES + 2; k++) {
		uint64_t hpa = DIFF_H0 + k * 2 * MiB;
		map(w->s2pt, diff_gunit_gpa(k), hpa, diff_gunit_size(k), diff_s2_flags(&rng), 0);
	}
	for (int i = 0; i < 2; i++) {
		w->t[i] = pt_new(e, NULL, false);
		for (unsigned u = 0; u < DIFF_UNITS; u++) {
			struct diff_leaf l = diff_s1_leaf(fc, &rng, i, u);
			diff_map(w->t[i], diff_unit_va(u), diff_unit_size(u), &l);
		}
		w->m[i] = mmu(e, w->t[i], (uint16_t)(i + 1), 0);
	}
	/* ASID 1 under other control state: supervisor accesses to user pages
	 * decided otherwise (x86 SMAP, RISC-V SUM) */
	struct physim_mmu_ctl ctl = {.smap = true, .sum = true};
	w->mctl = mmu_ctl(e, w->t[0], 1, 0, &ctl);
	/* ASID 1 with no table memory: every translation is -EINVAL */
	struct physim_mmu_config nc1 = {
	    .format = physim_pt_format(w->t[0]), .root = physim_pt_root(w->t[0]), .asid = 1};
	assert_int_equal(physim_mmu_create(&nc1, &w->nomem), 0);
	for (int j = 0; j < 2; j++)
		w->s2[j] = mmu(e, w->s2pt, 0, (uint16_t)(j + 1));
	if (walker) {
		physim_tlb_destroy(e->tlb);
		e->tlb = NULL;
	}
}

static void diff_world_free(struct diff_world *w)
{
	physim_mmu_destroy(w->nomem);
	physim_mmu_destroy(w->mctl);
	for (int i = 0; i < 2; i++) {
		physim_mmu_destroy(w->m[i]);
		physim_mmu_destroy(w->s2[i]);
		physim_pt_destroy(w->t[i]);
	}
	physim_pt_destroy(w->s2pt);
	env_free(w->e);
}

/* An access: which contexts, which address, which flags. */
struct diff_access {
	int how;  /* 0 one stage, 1 stage 2 alone, 2 nested */
	int s1;	  /* 0, 1: table; 2: ASID 1 under ctl; 3: ASID 1 without memory */
	int s2;	  /* VMID - 1 */
	bool any; /* va in a stage-1 unit where table 2 has global leaves */
	struct physim_access acc;
};

static struct diff_access diff_pick_access(uint64_t *rng)
{
	struct diff_access a = {.how = (int)tc_rand_below(rng, 3)};
	uint64_t r = tc_rand_below(rng, 32);
	a.s1 = r < 14 ? 0 : r < 28 ? 1 : r < 31 ? 2 : 3;
	a.s2 = (int)tc_rand_below(rng, 2);
	if (a.how == 1) {
		unsigned k = (unsigned)tc_rand_below(rng, DIFF_GPAGES + 3);
		a.acc.va = k < DIFF_GPAGES + 2 ? diff_gunit_gpa(k) : DIFF_G0 + 64 * 4 * KiB;
		if (k >= DIFF_GPAGES && k < DIFF_GPAGES + 2)
			a.acc.va += tc_rand_below(rng, 8) * 4 * KiB;
	} else {
		unsigned u = (unsigned)tc_rand_below(rng, DIFF_UNITS);
		a.acc.va = diff_unit_va(u);
		if (u == DIFF_SMALL)
			a.acc.va += tc_rand_below(rng, 8) * 4 * KiB;
		a.any = u >= 8 && u < 12;
	}
	a.acc.va += tc_rand_below(rng, 4 * KiB);
	/* mostly valid combinations; one in four anything (write + exec,
	 * implicit user or fetch: -EINVAL) */
	uint64_t f = tc_rand_below(rng, 16);
	if (tc_rand_below(rng, 8) == 0) {
		a.acc.write = f & 1, a.acc.exec = f & 2, a.acc.user = f & 4, a.acc.implicit = f & 8;
	} else {
		a.acc.user = f & 1;
		a.acc.write = (f & 6) == 2;
		a.acc.exec = (f & 6) == 4;
		a.acc.implicit = !a.acc.user && !a.acc.exec && (f & 8);
	}
	return a;
}

static int diff_translate(struct diff_world *w, const struct diff_access *a, struct physim_xlate *x)
{
	struct physim_mmu *s1 = a->s1 == 3 ? w->nomem : a->s1 == 2 ? w->mctl : w->m[a->s1];
	struct physim_tlb *tlb = w->e->tlb;
	switch (a->how) {
	case 0:
		return w->walker ? physim_mmu_translate(s1, &a->acc, x)
				 : physim_tlb_translate(tlb, s1, &a->acc, x);
	case 1:
		return w->walker ? physim_mmu_translate(w->s2[a->s2], &a->acc, x)
				 : physim_tlb_translate(tlb, w->s2[a->s2], &a->acc, x);
	default:
		return w->walker ? physim_nested_translate(s1, w->s2[a->s2], &a->acc, x)
				 : physim_tlb_nested_translate(tlb, s1, w->s2[a->s2], &a->acc, x);
	}
}

/* Field by field (padding is not compared); `all` adds what depends on the
 * A/D state of the tables (equal in F and R, not in W). */
static bool diff_same(const struct physim_xlate *a, const struct physim_xlate *b, bool all)
{
	const struct physim_fault *fa = &a->fault, *fb = &b->fault;
	bool same = a->pa == b->pa && a->gpa == b->gpa && a->page_size == b->page_size &&
		    a->level == b->level && a->perms == b->perms && a->global == b->global &&
		    fa->kind == fb->kind && fa->stage == fb->stage && fa->level == fb->level &&
		    fa->s1ptw == fb->s1ptw && fa->syndrome == fb->syndrome &&
		    fa->addr == fb->addr && fa->gpa == fb->gpa;
	if (all)
		same = same && a->mem_refs == b->mem_refs && a->ad_updated == b->ad_updated &&
		       a->leaf_desc == b->leaf_desc && a->s2_leaf_desc == b->s2_leaf_desc;
	return same;
}

static void diff_fail(uint64_t seed, int step, const char *what, const struct diff_access *a,
		      const struct physim_xlate *x, const struct physim_xlate *y)
{
	print_message("seed %#llx step %d: %s (how %d s1 %d s2 %d va %#llx w%d x%d u%d i%d): "
		      "pa %#llx / %#llx, gpa %#llx / %#llx, perms %#x / %#x, fault %d / %d, "
		      "leaf %#llx / %#llx\n",
		      (unsigned long long)seed, step, what, a->how, a->s1, a->s2,
		      (unsigned long long)a->acc.va, a->acc.write, a->acc.exec, a->acc.user,
		      a->acc.implicit, (unsigned long long)x->pa, (unsigned long long)y->pa,
		      (unsigned long long)x->gpa, (unsigned long long)y->gpa, x->perms, y->perms,
		      x->fault.kind, y->fault.kind, (unsigned long long)x->leaf_desc,
		      (unsigned long long)y->leaf_desc);
	fail();
}

/* The three worlds, the generator, and whether the TLBs hold only what
 * the tables say now. */
enum { DIFF_WORKING_SET = 8 };
struct diff_run {
	struct diff_world w[3]; /* F, R, W */
	uint64_t seed, rng;
	int step;
	bool coherent;
	/* accesses made lately: three in four accesses repeat one of them (at
	 * another offset in the page), so that there are hits to check */
	struct diff_access recent[DIFF_WORKING_SET];
};

static void diff_access(struct diff_run *d)
{
	unsigned slot = (unsigned)tc_rand_below(&d->rng, DIFF_WORKING_SET);
	struct diff_access a = d->recent[slot];
	if (a.acc.va == 0 || tc_rand_below(&d->rng, 4) == 0) {
		a = d->recent[slot] = diff_pick_access(&d->rng);
	} else {
		a.acc.va = (a.acc.va & ~(4 * KiB - 1)) + tc_rand_below(&d->rng, 4 * KiB);
		if (tc_rand_below(&d->rng, 4) == 0) /* a read after a write, a write after a read */
			a.acc.write = !a.acc.write && !a.acc.exec;
	}
	struct physim_xlate x[3];
	int rc[3];
	uint64_t misses = physim_tlb_stats(d->w[0].e->tlb).misses;
	for (int i = 0; i < 3; i++) {
		memset(&x[i], 0, sizeof(x[i]));
		rc[i] = diff_translate(&d->w[i], &a, &x[i]);
	}
	bool walked = physim_tlb_stats(d->w[0].e->tlb).misses != misses;
	/* the walker's verdict binds a walk, and a hit while the TLBs hold
	 * nothing stale (but a hit on another ASID's global entry is the
	 * TLB's right); a refused access is refused by all */
	bool bound = walked || (d->coherent && !a.any) || rc[2] == -EINVAL;
	if (rc[0] != rc[1] || (bound && rc[0] != rc[2])) {
		print_message("seed %#llx step %d: rc %d %d %d\n", (unsigned long long)d->seed,
			      d->step, rc[0], rc[1], rc[2]);
		fail();
	}
	if (rc[0] == -EINVAL)
		return;
	assert_true(rc[0] == 0 || rc[0] == -EFAULT);
	if (!diff_same(&x[0], &x[1], true))
		diff_fail(d->seed, d->step, "TLB != TLB with check_stale", &a, &x[0], &x[1]);
	if (bound && !diff_same(&x[0], &x[2], false))
		diff_fail(d->seed, d->step, "TLB != walker", &a, &x[0], &x[2]);
}

/* Which table a change goes to (-1: stage 2), and its unit. */
static void diff_change(struct diff_run *d, bool unmap_only)
{
	int which = (int)tc_rand_below(&d->rng, 3) - 1;
	bool flush = tc_rand_below(&d->rng, 2);
	unsigned u = (unsigned)tc_rand_below(&d->rng, which < 0 ? DIFF_GPAGES + 2 : DIFF_UNITS);
	uint64_t va = which < 0 ? diff_gunit_gpa(u) : diff_unit_va(u);
	uint64_t size = which < 0 ? diff_gunit_size(u) : diff_unit_size(u);
	uint64_t r = d->rng; /* each world draws the leaf from the same state */
	for (int i = 0; i < 3; i++) {
		struct diff_world *w = &d->w[i];
		struct physim_pt *pt = which < 0 ? w->s2pt : w->t[which];
		d->rng = r;
		struct diff_leaf l = {0};
		if (which < 0)
			l = (struct diff_leaf){.pa = DIFF_H0 + tc_rand_below(&d->rng, 64) * 2 * MiB,
					       .flags = diff_s2_flags(&d->rng)};
		else
			l = diff_s1_leaf(w->e->fc, &d->rng, which, u);
		int rc = physim_pt_unmap(pt, va, NULL);
		assert_true(rc == 0 || rc == -ENOENT);
		if (!unmap_only)
			diff_map(pt, va, size, &l);
		if (flush && w->e->tlb != NULL)
			physim_tlb_flush_va(w->e->tlb, va);
	}
	if (!flush)
		d->coherent = false;
}

/* One flush call of any kind, the same in F and R. */
static void diff_flush(struct diff_run *d)
{
	uint64_t kind = tc_rand_below(&d->rng, 6);
	uint64_t va = tc_rand_below(&d->rng, 2)
			  ? diff_unit_va((unsigned)tc_rand_below(&d->rng, DIFF_UNITS))
			  : diff_gunit_gpa((unsigned)tc_rand_below(&d->rng, DIFF_GPAGES + 2));
	va += tc_rand_below(&d->rng, 4 * KiB);
	uint16_t tag = (uint16_t)tc_rand_below(&d->rng, 3);
	uint64_t vas[3] = {va, diff_unit_va((unsigned)tc_rand_below(&d->rng, DIFF_UNITS)),
			   diff_gunit_gpa((unsigned)tc_rand_below(&d->rng, DIFF_GPAGES))};
	size_t n = (size_t)tc_rand_below(&d->rng, 4);
	for (int i = 0; i < 2; i++) {
		struct physim_tlb *tlb = d->w[i].e->tlb;
		switch (kind) {
		case 0:
			physim_tlb_flush_va(tlb, va);
			break;
		case 1:
			physim_tlb_flush_va_asid(tlb, va, tag);
			break;
		case 2:
			physim_tlb_flush_asid(tlb, tag);
			break;
		case 3:
			physim_tlb_flush_vmid(tlb, tag);
			break;
		case 4:
			physim_tlb_pt_flush(tlb, vas, n, n == 0);
			break;
		default:
			physim_tlb_flush_all(tlb);
			break;
		}
	}
	if (kind == 5 || (kind == 4 && n == 0))
		d->coherent = true;
}

static void diff_check_stats(const struct diff_run *d)
{
	struct physim_tlb_stats f = physim_tlb_stats(d->w[0].e->tlb);
	struct physim_tlb_stats r = physim_tlb_stats(d->w[1].e->tlb);
	if (f.hits != r.hits || f.misses != r.misses || f.flushes != r.flushes) {
		print_message("seed %#llx step %d: hits %llu / %llu, misses %llu / %llu\n",
			      (unsigned long long)d->seed, d->step, (unsigned long long)f.hits,
			      (unsigned long long)r.hits, (unsigned long long)f.misses,
			      (unsigned long long)r.misses);
		fail();
	}
}

static void diff_run(const struct nested_case *nc, unsigned entries, uint64_t seed)
{
	struct diff_run d = {.seed = seed, .rng = seed ^ 0x5eed, .coherent = true};
	for (int i = 0; i < 3; i++)
		diff_world_new(
		    &d.w[i], nc, i == 2,
		    &(struct physim_tlb_config){.entries = entries, .check_stale = i == 1}, seed);
	for (d.step = 0; d.step < DIFF_STEPS; d.step++) {
		uint64_t r = tc_rand_below(&d.rng, 100);
		if (r < 85)
			diff_access(&d);
		else if (r < 90)
			diff_change(&d, false);
		else if (r < 92)
			diff_change(&d, true);
		else
			diff_flush(&d);
		diff_check_stats(&d);
	}
	/* the run did what it is for: hits, misses, stale hits */
	struct physim_tlb_stats f = physim_tlb_stats(d.w[0].e->tlb);
	assert_true(f.hits > DIFF_STEPS / 16);
	assert_true(f.misses > DIFF_STEPS / 16);
	assert_true(physim_tlb_stats(d.w[1].e->tlb).stale > 0);
	for (int i = 0; i < 3; i++)
		diff_world_free(&d.w[i]);
}

static void test_differential(void **state)
{
	const struct nested_case *nc = *state;
	diff_run(nc, 16, 0x7a11);    /* 4 sets of 4: replacements all the time */
	diff_run(nc, 1024, 0xf00d5); /* room for everything: hits serve most */
}

/* The two fills that change what the set lookup returns without removing
 * an entry, each followed by the hit that must see the change (x86; a TLB
 * without and one with check_stale, which reports the second against the
 * tables). */
static void test_fill_changes_lookup(void **state)
{
	(void)state;
	struct env *e[2];
	struct physim_pt *t1[2], *t2[2];
	struct physim_mmu *m1[2], *m2[2];
	const uint64_t p = P(0), q = P(1), pa1 = PA(0), pa2 = PA(1), pq = PA(2);
	for (int i = 0; i < 2; i++) {
		/* 4 entries: one set of four ways, filled in order */
		struct physim_tlb_config tc = {.entries = 4, .check_stale = i == 1};
		e[i] = env_new(&fmt_x86, &tc);
		t1[i] = pt_new(e[i], NULL, false);
		t2[i] = pt_new(e[i], NULL, false);
		map(t1[i], p, pa1, 4 * KiB, URW, 0);
		map(t1[i], q, pq, 4 * KiB, URW, 0);
		map(t2[i], p, pa2, 4 * KiB, URW, fmt_x86.global_arch); /* global */
		m1[i] = mmu(e[i], t1[i], 1, 0);
		m2[i] = mmu(e[i], t2[i], 2, 0);
	}
	for (int i = 0; i < 2; i++) {
		struct physim_xlate x;
		/* A merge: a read fills, the next read hits, a
		 * write walks (dirty unknown) and gives the same translation,
		 * so its classes and the descriptor it read (A set by the first
		 * walk, SDM Vol. 3A 4.8) go into the same entry; the next read
		 * returns that descriptor, not the first walk's. */
		struct physim_xlate first, wr;
		assert_int_equal(tr(e[i], m1[i], p, RD, &first), 0);   /* miss */
		tr_ok(e[i], m1[i], p + 8, RD, pa1 + 8);		       /* hit */
		assert_int_equal(tr(e[i], m1[i], p + 16, WR, &wr), 0); /* miss */
		assert_false(first.leaf_desc & (UINT64_C(1) << 5));    /* A clear then */
		assert_true(wr.leaf_desc & (UINT64_C(1) << 5));	       /* A set */
		assert_int_equal(tr(e[i], m1[i], p + 24, RD, &x), 0);  /* hit */
		assert_int_equal(x.pa, pa1 + 24);
		assert_int_equal(x.leaf_desc, wr.leaf_desc);
		expect_stats(e[i], 2, 2, 0, 0);

		/* An insert into a free way ahead of a live entry: ASID 1's
		 * page p is in way 1 (q's entry took way 0, then went); ASID
		 * 2's global page p fills way 0, and the
		 * lookup for ASID 1 now meets it first (a global entry serves
		 * every ASID: SDM Vol. 3A 4.10.2.4). */
		physim_tlb_flush_all(e[i]->tlb);
		tr_ok(e[i], m1[i], q, RD, pq);		  /* miss: way 0 */
		tr_ok(e[i], m1[i], p, RD, pa1);		  /* miss: way 1 */
		physim_tlb_flush_va(e[i]->tlb, q);	  /* way 0 free */
		tr_ok(e[i], m1[i], p + 8, RD, pa1 + 8);	  /* hit: way 1 */
		tr_ok(e[i], m2[i], p, RD, pa2);		  /* miss: way 0, global */
		tr_ok(e[i], m1[i], p + 16, RD, pa2 + 16); /* hit: the global entry */
		/* (which the checker of the TLB with check_stale reports:
		 * ASID 1's tables say pa1) */
		expect_stats(e[i], 4, 5, 2, (uint64_t)i);

		/* A replacement: p moves to another page without a flush (the
		 * entry stays, as it may on hardware); a write walks (the
		 * read's entry does not serve it: dirty unknown) and finds
		 * the new page, so the read's entry in way 0 goes, and the
		 * next read is served the new page from way 1. */
		physim_tlb_flush_all(e[i]->tlb);
		tr_ok(e[i], m1[i], p, RD, pa1); /* miss: way 0 */
		assert_int_equal(physim_pt_unmap(t1[i], p, NULL), 0);
		map(t1[i], p, PA(3), 4 * KiB, URW, 0);
		tr_ok(e[i], m1[i], p + 8, WR, PA(3) + 8);   /* miss: way 1 */
		tr_ok(e[i], m1[i], p + 16, RD, PA(3) + 16); /* hit */
		expect_stats(e[i], 5, 7, 3, (uint64_t)i);
	}
	for (int i = 0; i < 2; i++) {
		physim_mmu_destroy(m1[i]);
		physim_mmu_destroy(m2[i]);
		physim_pt_destroy(t1[i]);
		physim_pt_destroy(t2[i]);
		env_free(e[i]);
	}
}

#define PER_FORMAT(fn)                                                                             \
	cmocka_unit_test_prestate(fn, (void *)&fmt_x86),                                           \
	    cmocka_unit_test_prestate(fn, (void *)&fmt_sv48),                                      \
	    cmocka_unit_test_prestate(fn, (void *)&fmt_a64)

#define PER_NESTED(fn)                                                                             \
	cmocka_unit_test_prestate(fn, (void *)&nested_x86),                                        \
	    cmocka_unit_test_prestate(fn, (void *)&nested_rv)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create),
	    cmocka_unit_test(test_bad_inputs),
	    PER_FORMAT(test_counts),
	    cmocka_unit_test(test_capacity),
	    PER_FORMAT(test_asid),
	    PER_FORMAT(test_vmid),
	    PER_FORMAT(test_huge),
	    PER_FORMAT(test_perm_recheck),
	    PER_FORMAT(test_forgotten_flush),
	    PER_FORMAT(test_flush_hooked),
	    cmocka_unit_test(test_stale_variants),
	    cmocka_unit_test(test_pt_flush_fn),
	    cmocka_unit_test(test_x86_privilege),
	    cmocka_unit_test(test_supervisor_user_stale),
	    cmocka_unit_test(test_stage2_direct),
	    PER_NESTED(test_nested_tags),
	    PER_NESTED(test_nested_forgotten_flush),
	    PER_NESTED(test_nested_flush_hooked),
	    PER_NESTED(test_nested_faults),
	    PER_NESTED(test_differential),
	    cmocka_unit_test(test_fill_changes_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
