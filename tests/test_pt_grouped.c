/* SPDX-License-Identifier: MIT */
/* tests/test_pt_grouped.c - grouped leaves (runs of entries forming one page):
 * AArch64 Contiguous bit, RISC-V Svnapot, ARMv7 large pages and supersections;
 * engine round trips with frame counts, splitting, and the walker and TLB
 * against descriptors and addresses worked out from the manuals. */
#include "common/env.h"

#include <physim/physim.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define K4   UINT64_C(0x1000)
#define K64  UINT64_C(0x10000)
#define M1   UINT64_C(0x100000)
#define M2   UINT64_C(0x200000)
#define M16  UINT64_C(0x1000000)
#define M32  UINT64_C(0x2000000)
#define G1   UINT64_C(0x40000000)
#define G16  UINT64_C(0x400000000)
#define RW   (PHYSIM_R | PHYSIM_W)
#define RWX  (PHYSIM_R | PHYSIM_W | PHYSIM_X)
#define HUGE PHYSIM_ALLOW_HUGE

/* Arm ARM D8.3: bit 52 is the Contiguous bit of a block or page descriptor;
 * bits 47:12 the output / next-table address; bits 1:0 = 0b11 a table above
 * lookup level 3. */
#define A64_CONT (UINT64_C(1) << 52)
#define A64_ADDR UINT64_C(0x0000fffffffff000)
#define A64_AP2	 (UINT64_C(1) << 7)
/* RISC-V Svnapot: N is bit 63, ppn[3:0] = 0b1000 marks a 64 KiB page. */
#define RV_N (UINT64_C(1) << 63)

struct fix {
	struct tc_env *e;
	struct physim_pt *pt;
	uint64_t frames0; /* RAM frames in use before the table */
};

static void fix_open(struct fix *x, const char *format)
{
	x->e = tc_env_new(16u << 20);
	x->frames0 = physim_ram_stats(x->e->ram).used_frames;
	assert_int_equal(physim_pt_create(physim_format(format), x->e->ph, &x->pt), 0);
}

/* Destroy the table: every table frame goes back. */
static void fix_close(struct fix *x)
{
	physim_pt_destroy(x->pt);
	assert_int_equal(physim_ram_stats(x->e->ram).used_frames, x->frames0);
	tc_env_free(x->e);
}

/* Table frames in RAM agree with what the table says it holds. */
static uint64_t frames(const struct fix *x)
{
	uint64_t used = physim_ram_stats(x->e->ram).used_frames - x->frames0;
	assert_int_equal(used, physim_pt_table_frames(x->pt));
	return used;
}

static struct physim_pt_mapping query(const struct fix *x, uint64_t va)
{
	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(x->pt, va, &m), 0);
	return m;
}

/* ---- reading descriptors by the manuals, not through physim ---- */

/* The descriptor at lookup level `stop` (3 = last) for va in a 4K-granule
 * VMSAv8-64 table with `levels` levels (Arm ARM D8.2, D8.3). */
static uint64_t a64_entry(const struct fix *x, unsigned levels, uint64_t va, unsigned stop)
{
	uint64_t t = physim_pt_root(x->pt);
	for (unsigned lk = 4 - levels;; lk++) {
		unsigned shift = 12 + 9 * (3 - lk);
		uint64_t d = tc_get64(x->e, t + ((va >> shift) & 511) * 8);
		if (lk == stop)
			return d;
		assert_int_equal(d & 3, 3); /* a table descriptor */
		t = d & A64_ADDR;
	}
}

/* The Sv39 PTE at level i (0 = last) for va (privileged spec, Sv39). */
static uint64_t sv39_entry(const struct fix *x, uint64_t va, unsigned stop)
{
	uint64_t t = physim_pt_root(x->pt);
	for (unsigned i = 2;; i--) {
		uint64_t d = tc_get64(x->e, t + ((va >> (12 + 9 * i)) & 511) * 8);
		if (i == stop)
			return d;
		assert_int_equal(d & 0xf, 1); /* V, R = W = X = 0: a pointer */
		t = ((d >> 10) & ((UINT64_C(1) << 44) - 1)) << 12;
	}
}

/* The short descriptor at level 1 (first) or 2 (second) for va (Arm ARM G5.4). */
static uint32_t v7_entry(const struct fix *x, uint64_t va, unsigned lookup)
{
	uint64_t root = physim_pt_root(x->pt);
	uint32_t d1 = (uint32_t)tc_get_entry(x->e, root + (va >> 20) * 4, 4);
	if (lookup == 1)
		return d1;
	assert_int_equal(d1 & 3, 1); /* page table */
	return (uint32_t)tc_get_entry(x->e, (d1 & 0xfffffc00) + ((va >> 12) & 0xff) * 4, 4);
}

/* ---- the walker and the TLB ---- */

static struct physim_mmu *mmu_of(const struct fix *x)
{
	struct physim_mmu *m;
	struct physim_mmu_config c = {
	    .format = physim_pt_format(x->pt), .mem = x->e->ph, .root = physim_pt_root(x->pt)};
	assert_int_equal(physim_mmu_create(&c, &m), 0);
	return m;
}

/* A supervisor read of va: 0 and *xl, or -EFAULT. */
static int probe(struct physim_mmu *m, uint64_t va, struct physim_xlate *xl)
{
	return physim_mmu_probe(m, &(struct physim_access){.va = va}, xl);
}

/* ---- AArch64 Contiguous bit ---- */

struct leaf_count {
	unsigned n;
	uint64_t sizes; /* OR of the sizes seen */
};

static int count_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	struct leaf_count *c = ctx;
	c->n++;
	c->sizes |= m->size;
	return 0;
}

/* map_region lays a range out with 4K pages up to the first 64K boundary the
 * VA and PA share, then 64K runs: 16 entries, each with bit 52 and its own
 * consecutive output address (D8.3, "The Contiguous bit": 16 entries at
 * lookup level 3 with the 4K granule). */
static void test_a64_map_region_runs(void **state)
{
	(void)state;
	struct fix x;
	fix_open(&x, "aarch64-4k-48");
	uint64_t va = 0x7000, pa = 0x80007000, size = 0x29000; /* to 0x30000 */
	assert_int_equal(physim_pt_map_region(x.pt, va, pa, size, RW, HUGE), 0);
	assert_int_equal(frames(&x), 4); /* root, L1, L2, L3 tables */
	for (uint64_t a = va; a < va + size; a += K4) {
		uint64_t d = a64_entry(&x, 4, a, 3);
		assert_int_equal(d & A64_ADDR, pa + (a - va));
		assert_int_equal(!!(d & A64_CONT), a >= 0x10000);
	}
	struct physim_pt_mapping m = query(&x, 0x1abcd);
	assert_int_equal(m.va, 0x10000);
	assert_int_equal(m.pa, 0x80010000);
	assert_int_equal(m.size, K64);
	assert_int_equal(m.level, 0);
	assert_int_equal(query(&x, 0xf123).size, K4);
	/* one leaf per run: 9 pages and two runs */
	struct leaf_count c = {0};
	assert_int_equal(
	    physim_pt_walk(x.pt, 0, 0x100000, &(struct physim_pt_walk_ops){.leaf = count_leaf}, &c),
	    0);
	assert_int_equal(c.n, 11);
	assert_int_equal(c.sizes, K4 | K64);
	/* the same from a start inside a run: it is still reported once */
	c = (struct leaf_count){0};
	assert_int_equal(physim_pt_walk(x.pt, 0x12000, 0x4000,
					&(struct physim_pt_walk_ops){.leaf = count_leaf}, &c),
			 0);
	assert_int_equal(c.n, 1);
	/* a PA not 64K-aligned with the VA: no run at all */
	assert_int_equal(physim_pt_map_region(x.pt, 0x100000, 0x80001000, 0x20000, RW, HUGE), 0);
	for (uint64_t a = 0x100000; a < 0x120000; a += K4)
		assert_int_equal(a64_entry(&x, 4, a, 3) & A64_CONT, 0);
	/* without PHYSIM_ALLOW_HUGE: none either */
	assert_int_equal(physim_pt_map_region(x.pt, 0x200000, 0x90200000, K64, RW, 0), 0);
	assert_int_equal(a64_entry(&x, 4, 0x200000, 3) & A64_CONT, 0);
	fix_close(&x);
}

/* physim_pt_map with a grouped size maps one grouped leaf: 64K (16 pages),
 * 32M (16 2M blocks at lookup level 2), 16G (16 1G blocks at level 1). */
static void test_a64_map_sizes(void **state)
{
	(void)state;
	struct fix x;
	fix_open(&x, "aarch64-4k-48");
	struct physim_pt_format_info info;
	physim_format_get_info(physim_pt_format(x.pt), &info);
	assert_int_equal(info.grouped_sizes, K64 | M32 | G16);
	assert_int_equal(info.level[0].group_log2, 4);

	assert_int_equal(physim_pt_map(x.pt, 0x10000, 0x40010000, K64, RWX), 0);
	assert_int_equal(physim_pt_map(x.pt, M32, 0x42000000, M32, RW), 0);
	assert_int_equal(physim_pt_map(x.pt, G16, 2 * G16, G16, RW), 0);
	/* all three in the first tables: runs need no table of their own */
	assert_int_equal(frames(&x), 4);
	for (unsigned i = 0; i < 16; i++) {
		uint64_t d = a64_entry(&x, 4, 0x10000 + i * K4, 3);
		assert_true(d & A64_CONT);
		assert_int_equal(d & A64_ADDR, 0x40010000 + i * K4);
		d = a64_entry(&x, 4, M32 + i * M2, 2);
		assert_int_equal(d & 3, 1); /* a block */
		assert_true(d & A64_CONT);
		assert_int_equal(d & A64_ADDR, 0x42000000 + i * M2);
		d = a64_entry(&x, 4, G16 + i * G1, 1);
		assert_int_equal(d & 3, 1);
		assert_true(d & A64_CONT);
		assert_int_equal(d & A64_ADDR, 2 * G16 + i * G1);
	}
	assert_int_equal(query(&x, M32 + 0x1234567).size, M32);
	assert_int_equal(query(&x, M32 + 0x1234567).pa, 0x42000000);
	assert_int_equal(query(&x, G16 + 5 * G1 + 7).size, G16);
	/* alignment is the grouped size's; a size no level groups is refused */
	assert_int_equal(physim_pt_map(x.pt, 0x31000, 0x40031000, K64, RW), -EINVAL);
	assert_int_equal(physim_pt_map(x.pt, 0x40000, 0x40040000, 2 * K64, RW), -EINVAL);
	/* something in the way: -EEXIST, nothing changed */
	assert_int_equal(physim_pt_map(x.pt, 0x20000, 0x40020000, K4, RW), 0);
	assert_int_equal(physim_pt_map(x.pt, 0x20000, 0x40020000, K64, RW), -EEXIST);
	assert_int_equal(a64_entry(&x, 4, 0x21000, 3), 0);
	/* unmap of one address removes the whole run */
	struct physim_pt_mapping old;
	assert_int_equal(physim_pt_unmap(x.pt, 0x1f000, &old), 0);
	assert_int_equal(old.va, 0x10000);
	assert_int_equal(old.size, K64);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(a64_entry(&x, 4, 0x10000 + i * K4, 3), 0);
	fix_close(&x);
}

/* Unmapping or protecting part of a run rewrites the run plain (bit 52
 * clear in all 16 entries, addresses and attributes kept) and then changes
 * only the covered part; covering a whole run keeps it grouped. */
static void test_a64_split(void **state)
{
	(void)state;
	struct fix x;
	fix_open(&x, "aarch64-4k-48");
	assert_int_equal(physim_pt_map_region(x.pt, 0, 0x80000000, 0x40000, RW, HUGE), 0);
	uint64_t f0 = frames(&x);
	/* unmap one page of the second run */
	assert_int_equal(physim_pt_unmap_region(x.pt, 0x13000, K4), 0);
	assert_int_equal(frames(&x), f0);
	for (uint64_t a = 0x10000; a < 0x20000; a += K4) {
		uint64_t d = a64_entry(&x, 4, a, 3);
		if (a == 0x13000) {
			assert_int_equal(d, 0);
			continue;
		}
		assert_int_equal(d & A64_CONT, 0);
		assert_int_equal(d & A64_ADDR, 0x80000000 + a);
		assert_int_equal(query(&x, a).size, K4);
	}
	/* the other runs are untouched */
	assert_true(a64_entry(&x, 4, 0x0f000, 3) & A64_CONT);
	assert_true(a64_entry(&x, 4, 0x20000, 3) & A64_CONT);
	/* protect one page of the third run read-only */
	assert_int_equal(physim_pt_protect_region(x.pt, 0x21000, K4, PHYSIM_R), 0);
	for (uint64_t a = 0x20000; a < 0x30000; a += K4) {
		uint64_t d = a64_entry(&x, 4, a, 3);
		assert_int_equal(d & A64_CONT, 0);
		assert_int_equal(!!(d & A64_AP2), a == 0x21000);
	}
	/* protect the whole fourth run: it stays one */
	assert_int_equal(physim_pt_protect(x.pt, 0x3a000, PHYSIM_R), 0);
	for (uint64_t a = 0x30000; a < 0x40000; a += K4) {
		uint64_t d = a64_entry(&x, 4, a, 3);
		assert_true(d & A64_CONT);
		assert_true(d & A64_AP2);
		assert_int_equal(d & A64_ADDR, 0x80000000 + a);
	}
	struct physim_pt_mapping m = query(&x, 0x3a000);
	assert_int_equal(m.size, K64);
	assert_int_equal(m.flags & PHYSIM_W, 0);
	/* remap the first run: all 16 entries move, still a run */
	assert_int_equal(physim_pt_remap(x.pt, 0, 0x90000000, RW), 0);
	for (unsigned i = 0; i < 16; i++) {
		uint64_t d = a64_entry(&x, 4, i * K4, 3);
		assert_true(d & A64_CONT);
		assert_int_equal(d & A64_ADDR, 0x90000000 + i * K4);
	}
	/* a 32M run of blocks, unmapped in one page: the 16 blocks go plain and
	 * the one holding the page is split into a new last-level table */
	assert_int_equal(physim_pt_map(x.pt, 0x40000000, 0xa0000000, M32, RW), 0);
	uint64_t f1 = frames(&x);
	assert_int_equal(physim_pt_unmap_region(x.pt, 0x40000000 + 3 * M2 + 0x5000, K4), 0);
	assert_int_equal(frames(&x), f1 + 1);
	for (unsigned i = 0; i < 16; i++) {
		if (i == 3)
			continue;
		uint64_t d = a64_entry(&x, 4, 0x40000000 + i * M2, 2);
		assert_int_equal(d & 3, 1);
		assert_int_equal(d & A64_CONT, 0);
		assert_int_equal(d & A64_ADDR, 0xa0000000 + i * M2);
	}
	assert_int_equal(query(&x, 0x40000000 + 3 * M2 + 0x6000).size, K4);
	assert_int_equal(query(&x, 0x40000000 + 3 * M2 + 0x6000).pa, 0xa0000000 + 3 * M2 + 0x6000);
	assert_int_equal(query(&x, 0x40000000 + 4 * M2).size, M2);
	fix_close(&x);
}

/* A split that needs a table frame and gets none changes nothing. */
static void test_a64_split_enomem(void **state)
{
	(void)state;
	struct fix x;
	fix_open(&x, "aarch64-4k-39");
	assert_int_equal(physim_pt_map(x.pt, 0, 0x80000000, M32, RW), 0);
	uint64_t before[16];
	for (unsigned i = 0; i < 16; i++)
		before[i] = a64_entry(&x, 3, i * M2, 2);
	/* take every free frame */
	static physim_hpa_t taken[4096];
	size_t n = 0;
	while (n < 4096 && x.e->ph->alloc_frame(x.e->ph->ctx, &taken[n]) == 0)
		n++;
	assert_true(n < 4096);
	assert_int_equal(physim_pt_unmap_region(x.pt, M2 + K4, K4), -ENOMEM);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(a64_entry(&x, 3, i * M2, 2), before[i]);
	assert_int_equal(query(&x, M2 + K4).size, M32);
	while (n > 0)
		assert_int_equal(x.e->ph->dealloc_frame(x.e->ph->ctx, taken[--n]), 0);
	/* with a frame to spare it works */
	assert_int_equal(physim_pt_unmap_region(x.pt, M2 + K4, K4), 0);
	assert_int_equal(query(&x, M2).size, K4);
	fix_close(&x);
}

/* The walker reports the run's size; the TLB caches the run as one entry
 * (a second address in it hits) and a by-VA flush of any page drops it. */
static void test_a64_walk_tlb(void **state)
{
	(void)state;
	struct fix x;
	fix_open(&x, "aarch64-4k-48");
	assert_int_equal(physim_pt_map(x.pt, 0x50000, 0x80050000, K64, RW), 0);
	struct physim_mmu *m = mmu_of(&x);
	struct physim_xlate xl;
	assert_int_equal(probe(m, 0x5a123, &xl), 0);
	assert_int_equal(xl.pa, 0x8005a123);
	assert_int_equal(xl.page_size, K64);
	assert_int_equal(xl.level, 3);

	struct physim_tlb *tlb;
	assert_int_equal(physim_tlb_create(&(struct physim_tlb_config){0}, &tlb), 0);
	struct physim_access a = {.va = 0x50010};
	assert_int_equal(physim_tlb_translate(tlb, m, &a, &xl), 0);
	a.va = 0x5f008;
	assert_int_equal(physim_tlb_translate(tlb, m, &a, &xl), 0);
	assert_int_equal(xl.pa, 0x8005f008);
	struct physim_tlb_stats st = physim_tlb_stats(tlb);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.hits, 1);
	physim_tlb_flush_va(tlb, 0x57000);
	assert_int_equal(physim_tlb_translate(tlb, m, &a, &xl), 0);
	assert_int_equal(physim_tlb_stats(tlb).misses, 2);
	physim_tlb_destroy(tlb);
	physim_mmu_destroy(m);
	fix_close(&x);
}

/* A misprogrammed run (CONSTRAINED UNPREDICTABLE): physim's documented
 * choice is that the entry read translates its own page exactly, as if the
 * bit were clear, with the run's size reported. */
static void test_a64_misprogrammed(void **state)
{
	(void)state;
	struct fix x;
	fix_open(&x, "aarch64-4k-48");
	assert_int_equal(physim_pt_map(x.pt, 0x50000, 0x80050000, K64, RW), 0);
	/* entry 5 points elsewhere */
	uint64_t d5 = a64_entry(&x, 4, 0x55000, 3);
	uint64_t l3 = a64_entry(&x, 4, 0x50000, 2) & A64_ADDR;
	tc_put64(x.e, l3 + (0x55 & 511) * 8, (d5 & ~A64_ADDR) | 0x12345000);
	struct physim_mmu *m = mmu_of(&x);
	struct physim_xlate xl;
	assert_int_equal(probe(m, 0x55678, &xl), 0);
	assert_int_equal(xl.pa, 0x12345678);
	assert_int_equal(xl.page_size, K64);
	assert_int_equal(probe(m, 0x56678, &xl), 0);
	assert_int_equal(xl.pa, 0x80056678);
	physim_mmu_destroy(m);
	fix_close(&x);
}

/* 16K granule: 128 pages (2M) and 32 blocks of 32M (1G); 64K granule: 32
 * pages (2M) and 32 blocks of 512M (16G); stage 2 as stage 1 (D8.3). */
static void test_a64_other_granules(void **state)
{
	(void)state;
	static const struct {
		const char *format;
		uint64_t grouped, page;
	} t[] = {
	    {"aarch64-16k-47", M2, UINT64_C(1) << 14},
	    {"aarch64-16k-47", G1, M32},
	    {"aarch64-64k-48", M2, K64},
	    {"aarch64-64k-48", G16, UINT64_C(1) << 29},
	    {"aarch64-s2-4k-40", K64, K4},
	    {"aarch64-s2-4k-40", G16, G1},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct fix x;
		fix_open(&x, t[i].format);
		uint64_t va = t[i].grouped, pa = 4 * t[i].grouped;
		assert_int_equal(physim_pt_map_region(x.pt, va, pa, t[i].grouped, RW, HUGE), 0);
		struct physim_pt_mapping m = query(&x, va + t[i].grouped - 1);
		assert_int_equal(m.size, t[i].grouped);
		assert_int_equal(m.va, va);
		assert_int_equal(m.pa, pa);
		struct physim_mmu *mmu = mmu_of(&x);
		struct physim_xlate xl;
		assert_int_equal(probe(mmu, va + t[i].grouped - t[i].page + 0x10, &xl), 0);
		assert_int_equal(xl.page_size, t[i].grouped);
		assert_int_equal(xl.pa, pa + t[i].grouped - t[i].page + 0x10);
		physim_mmu_destroy(mmu);
		/* split it in the middle: pages of the level's size remain */
		assert_int_equal(
		    physim_pt_protect_region(x.pt, va + t[i].page, t[i].page, PHYSIM_R), 0);
		assert_int_equal(query(&x, va).size, t[i].page);
		assert_int_equal(query(&x, va + t[i].grouped - 1).size, t[i].page);
		fix_close(&x);
	}
}

/* ---- RISC-V Svnapot ---- */

/* Svnapot: the 16 PTEs of a 64 KiB page are identical, with N = 1 and
 * ppn[0][3:0] = 0b1000; here V R W A D (map presets A/D on RISC-V). */
static void test_napot_encoding(void **state)
{
	(void)state;
	struct fix x;
	fix_open(&x, "sv39");
	uint64_t pa = 0x8a350000;
	assert_int_equal(physim_pt_map_region(x.pt, 0x40000, pa, K64, RW, HUGE), 0);
	uint64_t want = RV_N | ((((pa >> 12) & ~UINT64_C(0xf)) | 0x8) << 10) | 0xc7;
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(sv39_entry(&x, 0x40000 + i * K4, 0), want);
	struct physim_pt_mapping m = query(&x, 0x4c321);
	assert_int_equal(m.size, K64);
	assert_int_equal(m.pa, pa);
	assert_int_equal(m.va, 0x40000);
	/* the walker: pa.ppn[0][3:0] from the VA, one 64K page */
	struct physim_mmu *mmu = mmu_of(&x);
	struct physim_xlate xl;
	assert_int_equal(probe(mmu, 0x4c321, &xl), 0);
	assert_int_equal(xl.pa, pa + 0xc321);
	assert_int_equal(xl.page_size, K64);
	/* split: 16 plain PTEs with their own PPNs */
	assert_int_equal(physim_pt_unmap_region(x.pt, 0x41000, K4), 0);
	for (unsigned i = 0; i < 16; i++) {
		uint64_t d = sv39_entry(&x, 0x40000 + i * K4, 0);
		if (i == 1) {
			assert_int_equal(d, 0);
			continue;
		}
		assert_int_equal(d, (((pa >> 12) + i) << 10) | 0xc7);
	}
	assert_int_equal(probe(mmu, 0x4c321, &xl), 0);
	assert_int_equal(xl.page_size, K4);
	assert_int_equal(xl.pa, pa + 0xc321);
	physim_mmu_destroy(mmu);
	fix_close(&x);
}

/* Reserved NAPOT encodings fault (Svnapot: any ppn[0][3:0] other than 1000
 * with N = 1, or N = 1 at i > 0, is reserved: a page fault). */
static void test_napot_reserved(void **state)
{
	(void)state;
	struct fix x;
	fix_open(&x, "sv39");
	assert_int_equal(physim_pt_map(x.pt, 0x40000, 0x80040000, K64, RW), 0);
	assert_int_equal(physim_pt_map(x.pt, 0x40000000, 0x80200000, M2, RW), 0);
	uint64_t l0 = ((sv39_entry(&x, 0x40000, 1) >> 10) & ((UINT64_C(1) << 44) - 1)) << 12;
	uint64_t l1 = ((sv39_entry(&x, 0x40000000, 2) >> 10) & ((UINT64_C(1) << 44) - 1)) << 12;
	uint64_t d = sv39_entry(&x, 0x40000, 0);
	struct physim_mmu *mmu = mmu_of(&x);
	struct physim_xlate xl;
	/* ppn[3:0] = 0b0100 (a 32K napot_bits = 3: reserved) */
	tc_put64(x.e, l0 + (0x43 * 8), (d & ~(UINT64_C(0xf) << 10)) | (UINT64_C(0x4) << 10));
	assert_int_equal(probe(mmu, 0x43000, &xl), -EFAULT);
	assert_int_equal(xl.fault.kind, PHYSIM_FAULT_RESERVED);
	assert_int_equal(probe(mmu, 0x44000, &xl), 0);
	/* N on a 2M leaf */
	uint64_t d1 = sv39_entry(&x, 0x40000000, 1);
	tc_put64(x.e, l1 + ((0x40000000 >> 21) & 511) * 8, d1 | RV_N);
	assert_int_equal(probe(mmu, 0x40000000, &xl), -EFAULT);
	assert_int_equal(xl.fault.kind, PHYSIM_FAULT_RESERVED);
	physim_mmu_destroy(mmu);
	/* Sv32 has no N bit: no grouped sizes */
	struct fix y;
	fix_open(&y, "sv32");
	assert_int_equal(physim_pt_map(y.pt, 0x40000, 0x80040000, K64, RW), -EINVAL);
	fix_close(&y);
	fix_close(&x);
}

/* ---- ARMv7 short descriptors ---- */

/* G5.4: a large page is 16 identical second-level entries: base[31:16], XN
 * 15, TEX 14:12, nG 11, S 10, AP[2] 9, AP[1:0] 5:4, C 3, B 2, 0b01. Normal
 * WB-WA is TEX 001 C 1 B 1; physim writes S = 1 and AP[0] = 1 (AFE). */
static void test_v7_large_page(void **state)
{
	(void)state;
	struct fix x;
	fix_open(&x, "armv7-short");
	assert_int_equal(physim_pt_map_region(x.pt, 0x120000, 0x87650000, K64, RWX, HUGE), 0);
	uint32_t want = 0x87650000 | (1u << 12) | (1u << 10) | (1u << 4) | 0xc | 1;
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(v7_entry(&x, 0x120000 + i * K4, 2), want);
	struct physim_pt_mapping m = query(&x, 0x12abcd);
	assert_int_equal(m.size, K64);
	assert_int_equal(m.pa, 0x87650000);
	assert_int_equal(m.flags, RWX);
	struct physim_mmu *mmu = mmu_of(&x);
	struct physim_xlate xl;
	assert_int_equal(probe(mmu, 0x12abcd, &xl), 0);
	assert_int_equal(xl.pa, 0x8765abcd);
	assert_int_equal(xl.page_size, K64);
	/* read-only, not executable: AP[2] = 1, XN (bit 15) = 1, still a run */
	assert_int_equal(physim_pt_protect(x.pt, 0x120000, PHYSIM_R), 0);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(v7_entry(&x, 0x120000 + i * K4, 2), want | (1u << 9) | (1u << 15));
	/* split: small pages (bits 1:0 = 1x, XN bit 0, TEX 8:6) */
	assert_int_equal(physim_pt_unmap_region(x.pt, 0x12f000, K4), 0);
	uint32_t small = (1u << 6) | (1u << 10) | (1u << 4) | (1u << 9) | 0xc | 2 | 1;
	for (unsigned i = 0; i < 15; i++)
		assert_int_equal(v7_entry(&x, 0x120000 + i * K4, 2), (0x87650000 + i * K4) | small);
	assert_int_equal(v7_entry(&x, 0x12f000, 2), 0);
	physim_mmu_destroy(mmu);
	fix_close(&x);
}

/* G5.4: a supersection is 16 identical first-level entries with bit 18 set:
 * PA[31:24] in 31:24, PA[35:32] in 23:20, PA[39:36] in 8:5; TEX 14:12, AP
 * 11:10, AP[2] 15, S 16, nG 17, XN 4, C 3, B 2, 0b10. */
static void test_v7_supersection(void **state)
{
	(void)state;
	struct fix x;
	fix_open(&x, "armv7-short");
	uint64_t pa = UINT64_C(0xabc0000000);
	assert_int_equal(physim_pt_map(x.pt, 0x3000000, pa, M16, RW), 0);
	assert_int_equal(frames(&x), 4); /* the 16K root only */
	uint32_t want = 0xc0000000 | (0xbu << 20) | (0xau << 5) | (1u << 18) | (1u << 16) |
			(1u << 12) | (1u << 10) | (1u << 4) | 0xc | 2;
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(v7_entry(&x, 0x3000000 + i * M1, 1), want);
	struct physim_pt_mapping m = query(&x, 0x3fedcba);
	assert_int_equal(m.size, M16);
	assert_int_equal(m.pa, pa);
	struct physim_mmu *mmu = mmu_of(&x);
	struct physim_xlate xl;
	assert_int_equal(probe(mmu, 0x3fedcba, &xl), 0);
	assert_int_equal(xl.pa, pa + 0xfedcba);
	assert_int_equal(xl.page_size, M16);
	/* sections cannot hold an address above 4 GiB: a split fails, with
	 * nothing changed */
	assert_int_equal(physim_pt_unmap_region(x.pt, 0x3100000, M1), -EINVAL);
	assert_int_equal(v7_entry(&x, 0x3100000, 1), want);
	/* plain sections and pages above 4 GiB are refused */
	assert_int_equal(physim_pt_map(x.pt, 0x5000000, UINT64_C(0x100000000), M1, RW), -EINVAL);
	/* below 4 GiB a supersection splits into sections, and those into
	 * small pages where needed (one new second-level table) */
	assert_int_equal(physim_pt_map_region(x.pt, 0x8000000, 0x9000000, M16, RW, HUGE), 0);
	assert_int_equal(v7_entry(&x, 0x8000000, 1) & (1u << 18), 1u << 18);
	uint64_t f0 = frames(&x);
	assert_int_equal(physim_pt_unmap_region(x.pt, 0x8234000, K4), 0);
	assert_int_equal(frames(&x), f0 + 1);
	for (unsigned i = 0; i < 16; i++) {
		if (i == 2)
			continue;
		uint32_t d = v7_entry(&x, 0x8000000 + i * M1, 1);
		assert_int_equal(d & 3, 2);
		assert_int_equal(d & (1u << 18), 0);
		assert_int_equal(d & 0xfff00000, 0x9000000 + i * M1);
	}
	assert_int_equal(query(&x, 0x8235000).size, K4);
	assert_int_equal(query(&x, 0x8235000).pa, 0x9235000);
	assert_int_equal(query(&x, 0x8300000).size, M1);
	physim_mmu_destroy(mmu);
	fix_close(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a64_map_region_runs), cmocka_unit_test(test_a64_map_sizes),
	    cmocka_unit_test(test_a64_split),		cmocka_unit_test(test_a64_split_enomem),
	    cmocka_unit_test(test_a64_walk_tlb),	cmocka_unit_test(test_a64_misprogrammed),
	    cmocka_unit_test(test_a64_other_granules),	cmocka_unit_test(test_napot_encoding),
	    cmocka_unit_test(test_napot_reserved),	cmocka_unit_test(test_v7_large_page),
	    cmocka_unit_test(test_v7_supersection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
