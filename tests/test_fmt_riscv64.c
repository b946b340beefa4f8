/* SPDX-License-Identifier: MIT */
/* tests/test_fmt_riscv64.c - the RISC-V formats (Sv32/39/48/57 and the x4
 * G-stage variants): geometry, golden PTEs computed by hand from the
 * privileged spec's field layouts, exhaustive flag round trips, classify of
 * every reserved encoding, and PTEs written by the engine read back from RAM. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/env.h"

#include "pt-format.h"
#include <physim/ram.h>

#include <stdio.h>
#include <string.h>

#define R   PHYSIM_R
#define W   PHYSIM_W
#define X   PHYSIM_X
#define U   PHYSIM_U
#define DEV PHYSIM_DEVICE
#define UNC PHYSIM_UNCACHED

/* Raw PTE bits, written out again here from the spec (10.3.1 / 10.4) so the
 * test does not share the implementation's constants. */
#define B_V	UINT64_C(0x001)
#define B_R	UINT64_C(0x002)
#define B_W	UINT64_C(0x004)
#define B_X	UINT64_C(0x008)
#define B_U	UINT64_C(0x010)
#define B_G	UINT64_C(0x020)
#define B_A	UINT64_C(0x040)
#define B_D	UINT64_C(0x080)
#define B_RSW0	UINT64_C(0x100)
#define B_RSW1	UINT64_C(0x200)
#define B_NC	UINT64_C(0x2000000000000000) /* PBMT = 1 (Svpbmt) */
#define B_IO	UINT64_C(0x4000000000000000) /* PBMT = 2 */
#define B_PBMT3 UINT64_C(0x6000000000000000)
#define B_N	UINT64_C(0x8000000000000000) /* Svnapot N (NAPOT only with ppn[3:0] = 1000) */

static const struct physim_pt_format *const all_rv[] = {
    &physim_fmt_sv39,	&physim_fmt_sv48,   &physim_fmt_sv57, &physim_fmt_sv39x4,
    &physim_fmt_sv48x4, &physim_fmt_sv57x4, &physim_fmt_sv32, &physim_fmt_sv32x4,
};
#define N_RV (sizeof(all_rv) / sizeof(all_rv[0]))

static int enc(const struct physim_pt_format *f, unsigned level, uint64_t pa, uint32_t flags,
	       uint64_t arch, bool accessed, bool dirty, uint64_t *d)
{
	struct pt_leaf_attr a = {
	    .flags = flags, .arch = arch, .accessed = accessed, .dirty = dirty};
	return f->ops->encode_leaf(f, pa, &a, level, d);
}

/* ---- geometry ---- */

struct geom {
	const struct physim_pt_format *f;
	const char *name;
	unsigned levels, pte_bytes, va_bits, pa_bits;
	bool sign_extended, stage2;
	unsigned shift[5], index_bits[5];
	uint64_t root_bytes;
	uint32_t flags_supported;
	uint64_t arch_mask;
	uint64_t page_sizes; /* bit n: 2^n-byte pages */
};

static const struct geom geoms[] = {
    /* Sv39/48/57 (10.4-10.6): 9 bits per level, 4K/2M/1G/512G/256T leaves. */
    {.f = &physim_fmt_sv39,
     .name = "sv39",
     .levels = 3,
     .pte_bytes = 8,
     .va_bits = 39,
     .pa_bits = 56,
     .sign_extended = true,
     .shift = {12, 21, 30},
     .index_bits = {9, 9, 9},
     .root_bytes = 4096,
     .flags_supported = 0x3f,
     .arch_mask = UINT64_C(0x6000000000000320),
     .page_sizes = UINT64_C(0x40201000)},
    {.f = &physim_fmt_sv48,
     .name = "sv48",
     .levels = 4,
     .pte_bytes = 8,
     .va_bits = 48,
     .pa_bits = 56,
     .sign_extended = true,
     .shift = {12, 21, 30, 39},
     .index_bits = {9, 9, 9, 9},
     .root_bytes = 4096,
     .flags_supported = 0x3f,
     .arch_mask = UINT64_C(0x6000000000000320),
     .page_sizes = UINT64_C(0x8040201000)},
    {.f = &physim_fmt_sv57,
     .name = "sv57",
     .levels = 5,
     .pte_bytes = 8,
     .va_bits = 57,
     .pa_bits = 56,
     .sign_extended = true,
     .shift = {12, 21, 30, 39, 48},
     .index_bits = {9, 9, 9, 9, 9},
     .root_bytes = 4096,
     .flags_supported = 0x3f,
     .arch_mask = UINT64_C(0x6000000000000320),
     .page_sizes = UINT64_C(0x1008040201000)},
    /* x4 (H extension): GPA 2 bits wider, zero-extended, root 2048 entries
     * = 16 KiB; U not a generic flag; G not an arch bit. */
    {.f = &physim_fmt_sv39x4,
     .name = "sv39x4",
     .levels = 3,
     .pte_bytes = 8,
     .va_bits = 41,
     .pa_bits = 56,
     .stage2 = true,
     .shift = {12, 21, 30},
     .index_bits = {9, 9, 11},
     .root_bytes = 16384,
     .flags_supported = 0x37,
     .arch_mask = UINT64_C(0x6000000000000300),
     .page_sizes = UINT64_C(0x40201000)},
    {.f = &physim_fmt_sv48x4,
     .name = "sv48x4",
     .levels = 4,
     .pte_bytes = 8,
     .va_bits = 50,
     .pa_bits = 56,
     .stage2 = true,
     .shift = {12, 21, 30, 39},
     .index_bits = {9, 9, 9, 11},
     .root_bytes = 16384,
     .flags_supported = 0x37,
     .arch_mask = UINT64_C(0x6000000000000300),
     .page_sizes = UINT64_C(0x8040201000)},
    {.f = &physim_fmt_sv57x4,
     .name = "sv57x4",
     .levels = 5,
     .pte_bytes = 8,
     .va_bits = 59,
     .pa_bits = 56,
     .stage2 = true,
     .shift = {12, 21, 30, 39, 48},
     .index_bits = {9, 9, 9, 9, 11},
     .root_bytes = 16384,
     .flags_supported = 0x37,
     .arch_mask = UINT64_C(0x6000000000000300),
     .page_sizes = UINT64_C(0x1008040201000)},
    /* Sv32 (10.3): 10 bits per level, 4-byte PTEs, 4K/4M, 34-bit PA. */
    {.f = &physim_fmt_sv32,
     .name = "sv32",
     .levels = 2,
     .pte_bytes = 4,
     .va_bits = 32,
     .pa_bits = 34,
     .shift = {12, 22},
     .index_bits = {10, 10},
     .root_bytes = 4096,
     .flags_supported = 0x0f,
     .arch_mask = 0x320,
     .page_sizes = UINT64_C(0x401000)},
    {.f = &physim_fmt_sv32x4,
     .name = "sv32x4",
     .levels = 2,
     .pte_bytes = 4,
     .va_bits = 34,
     .pa_bits = 34,
     .stage2 = true,
     .shift = {12, 22},
     .index_bits = {10, 12},
     .root_bytes = 16384,
     .flags_supported = 0x07,
     .arch_mask = 0x300,
     .page_sizes = UINT64_C(0x401000)},
};

static void test_geometry(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(geoms) / sizeof(geoms[0]); i++) {
		const struct geom *g = &geoms[i];
		const struct physim_pt_format *f = g->f;

		assert_string_equal(f->name, g->name);
		assert_ptr_equal(physim_format(g->name), f);
		assert_int_equal(f->arch, PHYSIM_ARCH_RISCV64);
		assert_int_equal(f->levels, g->levels);
		assert_int_equal(f->pte_bytes, g->pte_bytes);
		assert_int_equal(f->va_bits, g->va_bits);
		assert_int_equal(f->pa_bits, g->pa_bits);
		assert_int_equal(f->sign_extended, g->sign_extended);
		assert_int_equal(f->stage2, g->stage2);
		for (unsigned l = 0; l < g->levels; l++) {
			assert_int_equal(f->level[l].shift, g->shift[l]);
			assert_int_equal(f->level[l].index_bits, g->index_bits[l]);
			assert_true(f->level[l].leaf_ok);
		}
		/* The top level's indexes end exactly at the input width. */
		assert_int_equal(g->shift[g->levels - 1] + g->index_bits[g->levels - 1],
				 g->va_bits);
		assert_int_equal(pt_table_bytes(f, g->levels - 1), g->root_bytes);
		assert_int_equal(pt_table_frames(f, g->levels - 1), g->root_bytes / 4096);
		for (unsigned l = 0; l + 1 < g->levels; l++)
			assert_int_equal(pt_table_bytes(f, l), 4096);
		assert_int_equal(f->flags_supported, g->flags_supported);
		assert_int_equal(f->arch_attr_mask, g->arch_mask);
		assert_true(f->set_accessed_on_map);
		assert_true(f->set_dirty_on_map);
		assert_non_null(f->description);
	}
}

/* What physim_format_get_info reports: the root's size and alignment (16 KiB
 * for G-stage roots, H extension) and the page sizes. */
static void test_format_info(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(geoms) / sizeof(geoms[0]); i++) {
		const struct geom *g = &geoms[i];
		struct physim_pt_format_info info;

		physim_format_get_info(g->f, &info);
		assert_string_equal(info.name, g->name);
		assert_int_equal(info.levels, g->levels);
		assert_int_equal(info.va_bits, g->va_bits);
		assert_int_equal(info.pa_bits, g->pa_bits);
		assert_int_equal(info.stage2, g->stage2);
		assert_int_equal(info.root_bytes, g->root_bytes);
		assert_int_equal(info.root_align, g->root_bytes);
		assert_int_equal(info.page_sizes, g->page_sizes);
		assert_int_equal(info.flags_supported, g->flags_supported);
		assert_int_equal(info.arch_attr_mask, g->arch_mask);
	}
}

/* GPA bit 40 selects the upper half of the Sv39x4 root: entries 1024..2047,
 * byte offsets 8192..16383 of the 16 KiB root (H extension, "the root page
 * table is 16 KiB"). Likewise bits 49 / 58 / 33 for the other x4 formats. */
static void test_x4_root_index(void **state)
{
	(void)state;
	const struct physim_pt_format *f = &physim_fmt_sv39x4;

	assert_int_equal(pt_index(f, UINT64_C(1) << 40, 2), 1024);
	assert_int_equal(pt_index(f, (UINT64_C(1) << 41) - 1, 2), 2047);
	assert_int_equal(pt_index(f, UINT64_C(0x40000000), 2), 1);
	assert_int_equal(pt_index(f, (UINT64_C(1) << 40) | (UINT64_C(5) << 21), 1), 5);
	/* Sv39 with the same address: only 9 bits, so bit 39/40 do not index. */
	assert_int_equal(pt_index(&physim_fmt_sv39, UINT64_C(0x3fffffffff), 2), 255);
	assert_int_equal(pt_index(&physim_fmt_sv48x4, UINT64_C(1) << 49, 3), 1024);
	assert_int_equal(pt_index(&physim_fmt_sv57x4, UINT64_C(1) << 58, 4), 1024);
	assert_int_equal(pt_index(&physim_fmt_sv32x4, UINT64_C(1) << 33, 1), 2048);
	assert_int_equal(pt_index(&physim_fmt_sv32x4, UINT64_C(0x3ffc00000), 1), 4095);
	assert_int_equal(pt_index(&physim_fmt_sv32, UINT64_C(0xffc00000), 1), 1023);
}

/* ---- golden encodings ---- */

struct golden {
	const struct physim_pt_format *f;
	unsigned level;
	uint64_t pa;
	uint32_t flags;
	uint64_t arch;
	bool accessed, dirty;
	uint64_t expect; /* by hand: (pa >> 12) << 10 | bits */
	uint32_t dec_flags;
	uint64_t dec_arch;
};

static const struct golden goldens[] = {
    /* Sv39 (10.4): PPN 53:10, V R W X U G A D = bits 0..7. */
    /* 0x80001 << 10 = 0x20000400, V|R|W|A|D = 0xc7 */
    {&physim_fmt_sv39, 0, 0x80001000, R | W, 0, true, true, 0x200004c7, R | W, 0},
    /* V|R|X|U|A = 0x5b */
    {&physim_fmt_sv39, 0, 0x80002000, R | X | U, 0, true, false, 0x2000085b, R | X | U, 0},
    /* 2 MiB: 0x40200 << 10 = 0x10080000, V|R|W|X|A|D = 0xcf */
    {&physim_fmt_sv39, 1, 0x40200000, R | W | X, 0, true, true, 0x100800cf, R | W | X, 0},
    /* 1 GiB: 0xc0000 << 10 = 0x30000000, V|R|A = 0x43 */
    {&physim_fmt_sv39, 2, 0xc0000000, R, 0, true, false, 0x30000043, R, 0},
    /* highest 56-bit PA: PPN 0xfffffffffff << 10 = 0x3ffffffffffc00 */
    {&physim_fmt_sv39, 0, UINT64_C(0x00fffffffffff000), R, 0, true, false,
     UINT64_C(0x003ffffffffffc43), R, 0},
    /* Svpbmt: DEVICE -> PBMT IO (bit 62) */
    {&physim_fmt_sv39, 0, 0x10000000, R | W | DEV, 0, true, true, UINT64_C(0x40000000040000c7),
     R | W | DEV, 0},
    /* UNCACHED -> PBMT NC (bit 61); 0x10001 << 10 = 0x4000400 */
    {&physim_fmt_sv39, 0, 0x10001000, R | UNC, 0, true, false, UINT64_C(0x2000000004000443),
     R | UNC, 0},
    /* G and RSW through arch; no A/D requested: 0x20000c00|0x300|0x20|0xb */
    {&physim_fmt_sv39, 0, 0x80003000, R | X, B_G | B_RSW0 | B_RSW1, false, false, 0x20000f2b, R | X,
     B_G | B_RSW0 | B_RSW1},
    /* D kept on a read-only 2 MiB page (a split must keep it) */
    {&physim_fmt_sv39, 1, 0x80200000, R, 0, true, true, 0x200800c3, R, 0},

    /* Sv48 (10.5): 512 GiB leaf at level 3: 2^27 << 10 = 0x2000000000 */
    {&physim_fmt_sv48, 3, UINT64_C(0x8000000000), R | W, 0, true, true, UINT64_C(0x20000000c7),
     R | W, 0},
    {&physim_fmt_sv48, 2, 0x40000000, R | X | U, 0, true, false, 0x1000005b, R | X | U, 0},
    /* 0xfedcb << 10 = 0x3fb72c00, V|R|W|X|U|A|D = 0xdf, IO */
    {&physim_fmt_sv48, 0, 0xfedcb000, R | W | X | U | DEV, 0, true, true,
     UINT64_C(0x400000003fb72cdf), R | W | X | U | DEV, 0},
    /* 0x7fe00 << 10 = 0x1ff80000, V|R|G = 0x23 */
    {&physim_fmt_sv48, 1, 0x7fe00000, R, B_G, false, false, 0x1ff80023, R, B_G},

    /* Sv57 (10.6): 256 TiB leaf at level 4: 2^36 << 10 = 2^46 */
    {&physim_fmt_sv57, 4, UINT64_C(0x1000000000000), R | W | X, 0, true, true,
     UINT64_C(0x4000000000cf), R | W | X, 0},
    /* highest 512 GiB page: PA 2^56 - 2^39 -> (2^44 - 2^27) << 10 */
    {&physim_fmt_sv57, 3, UINT64_C(0xffff8000000000), R, 0, true, false,
     UINT64_C(0x003fffe000000043), R, 0},
    {&physim_fmt_sv57, 0, 0x80000000, R | W, 0, true, true, 0x200000c7, R | W, 0},

    /* Sv39x4 (H): U always set (0x10), PHYSIM_U accepted and not reported */
    {&physim_fmt_sv39x4, 0, 0x80000000, R | W | U, 0, true, true, 0x200000d7, R | W, 0},
    {&physim_fmt_sv39x4, 0, 0x80001000, R | X, 0, true, false, 0x2000045b, R | X, 0},
    {&physim_fmt_sv39x4, 2, 0x40000000, R | W | X | DEV, 0, true, true,
     UINT64_C(0x40000000100000df), R | W | X | DEV, 0},
    {&physim_fmt_sv39x4, 1, 0x80200000, R | UNC, 0, true, false, UINT64_C(0x2000000020080053),
     R | UNC, 0},
    {&physim_fmt_sv39x4, 0, 0x80000000, R, B_RSW1, false, false, 0x20000213, R, B_RSW1},
    {&physim_fmt_sv48x4, 3, UINT64_C(0x8000000000), R | W, 0, true, true, UINT64_C(0x20000000d7),
     R | W, 0},
    {&physim_fmt_sv57x4, 4, UINT64_C(0x1000000000000), R, 0, true, false, UINT64_C(0x400000000053),
     R, 0},

    /* Sv32 (10.3): PPN 31:10 = PA 33:12; highest page 0x3fffff000 */
    {&physim_fmt_sv32, 0, UINT64_C(0x3fffff000), R | W | X | U, 0, true, true, 0xfffffcdf,
     R | W | X | U, 0},
    /* 4 MiB megapage: 0x80400 << 10 = 0x20100000 */
    {&physim_fmt_sv32, 1, 0x80400000, R, 0, true, false, 0x20100043, R, 0},
    /* 0x12345 << 10 = 0x48d1400, |0xc7|G|RSW0 */
    {&physim_fmt_sv32, 0, 0x12345000, R | W, B_G | B_RSW0, true, true, 0x048d15e7, R | W,
     B_G | B_RSW0},
    /* megapage above 4 GiB: 0x200000 << 10 = 0x80000000 */
    {&physim_fmt_sv32, 1, UINT64_C(0x200000000), R | X | U, 0, true, false, 0x8000005b, R | X | U,
     0},
    {&physim_fmt_sv32x4, 0, 0x80000000, R | W | U, 0, true, true, 0x200000d7, R | W, 0},
    {&physim_fmt_sv32x4, 1, UINT64_C(0x300000000), R | X, 0, true, false, 0xc000005b, R | X, 0},
};

static void test_golden_leaves(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];
		const struct physim_pt_format *f = g->f;
		struct pt_leaf_attr a;
		uint64_t d = 0;

		if (enc(f, g->level, g->pa, g->flags, g->arch, g->accessed, g->dirty, &d) != 0 ||
		    d != g->expect) {
			print_error("golden %zu (%s level %u): got 0x%016llx want 0x%016llx\n", i,
				    f->name, g->level, (unsigned long long)d,
				    (unsigned long long)g->expect);
			fail();
		}
		assert_int_equal(f->ops->classify(f, d, g->level), PT_LEAF);
		assert_int_equal(f->ops->output_addr(f, d, g->level), g->pa);
		f->ops->decode_leaf(f, d, g->level, &a);
		assert_int_equal(a.flags, g->dec_flags);
		assert_int_equal(a.arch, g->dec_arch);
		assert_int_equal(a.accessed, g->accessed);
		assert_int_equal(a.dirty, g->dirty);
		/* Re-encoding what decode reports gives the same PTE. */
		uint64_t d2 = 0;
		assert_int_equal(enc(f, g->level, g->pa, a.flags, a.arch, a.accessed, a.dirty, &d2),
				 0);
		assert_int_equal(d2, d);
	}
}

struct golden_table {
	const struct physim_pt_format *f;
	unsigned level;
	uint64_t table_pa;
	uint64_t expect; /* (pa >> 12) << 10 | V: no permission, A, D, U or G */
};

static const struct golden_table golden_tables[] = {
    {&physim_fmt_sv39, 2, 0x80002000, 0x20000801},
    {&physim_fmt_sv39, 1, 0x80002000, 0x20000801},
    {&physim_fmt_sv48, 1, UINT64_C(0x00fffffffffff000), UINT64_C(0x003ffffffffffc01)},
    {&physim_fmt_sv57, 4, 0x1000, 0x401},
    {&physim_fmt_sv39x4, 2, 0x80004000, 0x20001001},
    {&physim_fmt_sv57x4, 4, 0x80004000, 0x20001001},
    {&physim_fmt_sv32, 1, 0x80003000, 0x20000c01},
    {&physim_fmt_sv32, 1, UINT64_C(0x3fffff000), 0xfffffc01},
    {&physim_fmt_sv32x4, 1, UINT64_C(0x200000000), 0x80000001},
};

static void test_golden_tables(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(golden_tables) / sizeof(golden_tables[0]); i++) {
		const struct golden_table *g = &golden_tables[i];
		const struct physim_pt_format *f = g->f;
		uint64_t d = f->ops->encode_table(f, g->table_pa, g->level);

		assert_int_equal(d, g->expect);
		assert_int_equal(f->ops->classify(f, d, g->level), PT_TABLE);
		assert_int_equal(f->ops->output_addr(f, d, g->level), g->table_pa);
	}
}

/* ---- exhaustive flag round trip ---- */

static bool is_sv32(const struct physim_pt_format *f)
{
	return f == &physim_fmt_sv32 || f == &physim_fmt_sv32x4;
}

static bool is_x4(const struct physim_pt_format *f)
{
	return f == &physim_fmt_sv39x4 || f == &physim_fmt_sv48x4 || f == &physim_fmt_sv57x4 ||
	       f == &physim_fmt_sv32x4;
}

/* Oracle from the spec: a leaf needs R or X or W (10.3.1), W needs R
 * (reserved otherwise), memory types need Svpbmt (not on Sv32), and only
 * one memory type at a time. */
static bool rv_accepts(const struct physim_pt_format *f, uint32_t flags)
{
	if (!(flags & (R | W | X)))
		return false;
	if ((flags & W) && !(flags & R))
		return false;
	if ((flags & DEV) && (flags & UNC))
		return false;
	if (is_sv32(f) && (flags & (DEV | UNC)))
		return false;
	return true;
}

static void check_round_trip(const struct physim_pt_format *f, unsigned level, uint32_t flags,
			     bool acc, bool dirty)
{
	uint64_t pa = UINT64_C(3) << f->level[level].shift;
	uint64_t d = 0;
	int rc = enc(f, level, pa, flags, 0, acc, dirty, &d);

	if (!rv_accepts(f, flags)) {
		assert_int_equal(rc, -ENOTSUP);
		return;
	}
	assert_int_equal(rc, 0);
	/* Every field where the spec puts it. */
	assert_int_equal(((d >> 10) & ((UINT64_C(1) << 44) - 1)) << 12, pa);
	assert_int_equal(!!(d & B_V), 1);
	assert_int_equal(!!(d & B_R), !!(flags & R));
	assert_int_equal(!!(d & B_W), !!(flags & W));
	assert_int_equal(!!(d & B_X), !!(flags & X));
	assert_int_equal(!!(d & B_U), is_x4(f) ? 1 : !!(flags & U));
	assert_int_equal(!!(d & B_G), 0);
	assert_int_equal(!!(d & B_A), acc);
	assert_int_equal(!!(d & B_D), dirty);
	assert_int_equal(d & (B_RSW0 | B_RSW1), 0);
	uint64_t pbmt = (flags & DEV) ? B_IO : (flags & UNC) ? B_NC : 0;
	assert_int_equal(d & B_PBMT3, pbmt);
	assert_int_equal(f->ops->classify(f, d, level), PT_LEAF);
	assert_int_equal(f->ops->output_addr(f, d, level), pa);

	struct pt_leaf_attr a;
	f->ops->decode_leaf(f, d, level, &a);
	assert_int_equal(a.flags, is_x4(f) ? (flags & ~(uint32_t)U) : flags);
	assert_int_equal(a.arch, 0); /* the PBMT is the flags' (pt.h) */
	assert_int_equal(a.accessed, acc);
	assert_int_equal(a.dirty, dirty);
}

static void test_flag_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_RV; i++) {
		const struct physim_pt_format *f = all_rv[i];
		for (unsigned level = 0; level < f->levels; level++)
			for (uint32_t flags = 0; flags < 64; flags++)
				for (unsigned ad = 0; ad < 4; ad++)
					check_round_trip(f, level, flags, ad & 1, ad & 2);
	}
}

/* Every subset of the arch bits (G, RSW, PBMT 0..2) with every memory-type
 * flag: accepted unless G on G-stage, a memory-type flag on Sv32, or a raw
 * PBMT at all (each PBMT value is the default's, DEVICE's or UNCACHED's,
 * or reserved: the one memory-type rule of pt.h); the PTE carries the
 * union. */
static void test_arch_bits(void **state)
{
	(void)state;
	static const uint64_t pbmts[] = {0, B_NC, B_IO};
	static const uint32_t mems[] = {0, DEV, UNC};

	for (size_t i = 0; i < N_RV; i++) {
		const struct physim_pt_format *f = all_rv[i];
		for (unsigned sub = 0; sub < 8; sub++)
			for (unsigned p = 0; p < 3; p++)
				for (unsigned m = 0; m < 3; m++) {
					uint64_t arch = pbmts[p] | ((sub & 1) ? B_G : 0) |
							((sub & 2) ? B_RSW0 : 0) |
							((sub & 4) ? B_RSW1 : 0);
					uint64_t want_pbmt = mems[m] == DEV   ? B_IO
							     : mems[m] == UNC ? B_NC
									      : 0;
					bool ok = !(is_x4(f) && (arch & B_G)) &&
						  !(is_sv32(f) && mems[m]) && pbmts[p] == 0;
					uint64_t d = 0;
					int rc =
					    enc(f, 0, 0x5000, R | mems[m], arch, false, false, &d);
					if (!ok) {
						assert_int_equal(rc, -ENOTSUP);
						continue;
					}
					assert_int_equal(rc, 0);
					uint64_t want = (UINT64_C(5) << 10) | B_V | B_R |
							(is_x4(f) ? B_U : 0) | (arch & ~B_PBMT3) |
							want_pbmt;
					assert_int_equal(d, want);
					struct pt_leaf_attr a;
					f->ops->decode_leaf(f, d, 0, &a);
					assert_int_equal(a.arch, arch & ~B_PBMT3);
					uint32_t want_mem = want_pbmt == B_IO	? DEV
							    : want_pbmt == B_NC ? UNC
										: 0;
					assert_int_equal(a.flags, R | want_mem);
				}
	}
}

static void test_bad_arch_and_flags(void **state)
{
	(void)state;
	uint64_t d = 0xdead;
	const struct physim_pt_format *f = &physim_fmt_sv39;

	/* PBMT = 3 is reserved (Svpbmt). */
	assert_int_equal(enc(f, 0, 0x1000, R, B_PBMT3, false, false, &d), -ENOTSUP);
	/* PBMT NC / IO are UNCACHED's / DEVICE's: never raw (pt.h, issue 12). */
	assert_int_equal(enc(f, 0, 0x1000, R, B_NC, false, false, &d), -ENOTSUP);
	assert_int_equal(enc(f, 0, 0x1000, R, B_IO, false, false, &d), -ENOTSUP);
	assert_int_equal(enc(f, 0, 0x1000, R | UNC, B_NC, false, false, &d), -ENOTSUP);
	assert_int_equal(enc(f, 0, 0x1000, R | DEV, B_IO, false, false, &d), -ENOTSUP);
	/* Raw bits outside G/RSW/PBMT: V, R, A, D, PPN, N, reserved 60:54. */
	static const uint64_t outside[] = {
	    B_V, B_R, B_A, B_D, UINT64_C(1) << 10, B_N, UINT64_C(1) << 54, UINT64_C(1) << 60};
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		assert_int_equal(enc(f, 0, 0x1000, R, outside[i], false, false, &d), -ENOTSUP);
	/* G is not an arch bit on G-stage; PBMT not on Sv32. */
	assert_int_equal(enc(&physim_fmt_sv48x4, 0, 0x1000, R, B_G, false, false, &d), -ENOTSUP);
	assert_int_equal(enc(&physim_fmt_sv32, 0, 0x1000, R, B_NC, false, false, &d), -ENOTSUP);
	assert_int_equal(enc(&physim_fmt_sv32x4, 0, 0x1000, R, B_G, false, false, &d), -ENOTSUP);
	/* Unknown generic flag bits. */
	assert_int_equal(enc(f, 0, 0x1000, R | (1u << 6), 0, false, false, &d), -ENOTSUP);
	assert_int_equal(enc(f, 0, 0x1000, R | (1u << 31), 0, false, false, &d), -ENOTSUP);
	/* d untouched by failures. */
	assert_int_equal(d, 0xdead);
}

/* ---- output address range and alignment ---- */

static void test_pa_limits(void **state)
{
	(void)state;
	uint64_t d = 0xbeef;

	for (size_t i = 0; i < N_RV; i++) {
		const struct physim_pt_format *f = all_rv[i];
		uint64_t limit = UINT64_C(1) << (is_sv32(f) ? 34 : 56);
		for (unsigned level = 0; level < f->levels; level++) {
			uint64_t size = UINT64_C(1) << f->level[level].shift;
			/* The highest page below the limit is fine ... */
			assert_int_equal(enc(f, level, limit - size, R, 0, true, false, &d), 0);
			assert_int_equal(f->ops->output_addr(f, d, level), limit - size);
			/* ... the first one at the limit, and far above, are not. */
			assert_int_equal(enc(f, level, limit, R, 0, true, false, &d), -EINVAL);
			assert_int_equal(enc(f, level, UINT64_C(1) << 63, R, 0, true, false, &d),
					 -EINVAL);
			/* Misaligned for the level. */
			if (level > 0)
				assert_int_equal(
				    enc(f, level, size + 0x1000, R, 0, true, false, &d), -EINVAL);
			assert_int_equal(enc(f, level, 0x800, R, 0, true, false, &d), -EINVAL);
		}
		/* No such level. */
		assert_int_equal(enc(f, f->levels, 0, R, 0, true, false, &d), -EINVAL);
		assert_int_equal(enc(f, PHYSIM_PT_MAX_LEVELS, 0, R, 0, true, false, &d), -EINVAL);
	}
}

/* ---- classify ---- */

struct cls {
	const struct physim_pt_format *f;
	uint64_t d;
	unsigned level;
	enum pt_kind want;
	const char *why;
};

static const struct cls classes[] = {
    {&physim_fmt_sv39, 0, 0, PT_INVALID, "zero"},
    {&physim_fmt_sv39, 0, 2, PT_INVALID, "zero at root"},
    {&physim_fmt_sv39, 0x200004c6, 0, PT_INVALID, "V clear, other bits set"},
    {&physim_fmt_sv39, UINT64_C(0xfffffffffffffffe), 1, PT_INVALID, "only V clear"},
    {&physim_fmt_sv39, 0x200004c7, 0, PT_LEAF, "4K leaf"},
    {&physim_fmt_sv39, 0x20000009, 0, PT_LEAF, "execute-only leaf"},
    {&physim_fmt_sv39, 0x20000801, 2, PT_TABLE, "pointer"},
    {&physim_fmt_sv39, 0x20000801, 1, PT_TABLE, "pointer"},
    {&physim_fmt_sv39, 0x20000821, 1, PT_TABLE, "pointer with G"},
    {&physim_fmt_sv39, 0x20000b01, 1, PT_TABLE, "pointer with RSW"},
    /* 10.3.2 step 4: a pointer at i = 0 faults. */
    {&physim_fmt_sv39, 0x20000801, 0, PT_RESERVED, "pointer at last level"},
    /* 10.3.1: non-leaf A, D, U reserved. */
    {&physim_fmt_sv39, 0x20000841, 1, PT_RESERVED, "pointer with A"},
    {&physim_fmt_sv39, 0x20000881, 1, PT_RESERVED, "pointer with D"},
    {&physim_fmt_sv39, 0x20000811, 1, PT_RESERVED, "pointer with U"},
    /* Svpbmt: PBMT reserved on non-leaf PTEs. */
    {&physim_fmt_sv39, UINT64_C(0x2000000020000801), 1, PT_RESERVED, "pointer with PBMT NC"},
    {&physim_fmt_sv39, UINT64_C(0x4000000020000801), 2, PT_RESERVED, "pointer with PBMT IO"},
    /* 10.3.2 step 3: W without R reserved. */
    {&physim_fmt_sv39, 0x20000405, 0, PT_RESERVED, "W only"},
    {&physim_fmt_sv39, 0x2000040d, 1, PT_RESERVED, "W+X without R"},
    {&physim_fmt_sv39, 0x200004d5, 0, PT_RESERVED, "W|U|A|D without R"},
    /* Svpbmt PBMT = 3 reserved; Svnapot N reserved unless ppn[3:0] = 1000 at i = 0. */
    {&physim_fmt_sv39, UINT64_C(0x6000000020000403), 0, PT_RESERVED, "PBMT 3"},
    {&physim_fmt_sv39, UINT64_C(0x8000000020000403), 0, PT_RESERVED, "N on leaf"},
    {&physim_fmt_sv39, UINT64_C(0x8000000020000801), 1, PT_RESERVED, "N on pointer"},
    {&physim_fmt_sv39, UINT64_C(0x2000000020000403), 0, PT_LEAF, "PBMT NC leaf"},
    {&physim_fmt_sv39, UINT64_C(0x4000000020000403), 0, PT_LEAF, "PBMT IO leaf"},
    /* 10.3.2 step 6: misaligned superpages. PPN 0x80201 as a 2M leaf. */
    {&physim_fmt_sv39, 0x20080403, 1, PT_RESERVED, "2M leaf, PPN bit 0"},
    {&physim_fmt_sv39, 0x20080403, 0, PT_LEAF, "same PTE as 4K leaf"},
    {&physim_fmt_sv39, 0x20040003, 1, PT_RESERVED, "2M leaf, PPN bit 8 (PA 0x80100000)"},
    {&physim_fmt_sv39, 0x20080003, 1, PT_LEAF, "2M leaf at 0x80200000"},
    {&physim_fmt_sv39, 0x20080003, 2, PT_RESERVED, "1G leaf, PPN bit 9"},
    {&physim_fmt_sv39, 0x30000003, 2, PT_LEAF, "1G leaf at 0xc0000000"},
    {&physim_fmt_sv48, UINT64_C(0x2000000003), 3, PT_LEAF, "512G leaf"},
    {&physim_fmt_sv48, UINT64_C(0x1000000003), 3, PT_RESERVED, "512G leaf, PPN bit 26"},
    {&physim_fmt_sv57, UINT64_C(0x400000000003), 4, PT_LEAF, "256T leaf"},
    {&physim_fmt_sv57, UINT64_C(0x200000000003), 4, PT_RESERVED, "256T leaf, PPN bit 35"},
    /* Sv32. */
    {&physim_fmt_sv32, 0xfffffc01, 1, PT_TABLE, "pointer to highest frame"},
    {&physim_fmt_sv32, 0x20100003, 1, PT_LEAF, "4M leaf"},
    {&physim_fmt_sv32, 0x20100403, 1, PT_RESERVED, "4M leaf, PPN[0] != 0"},
    {&physim_fmt_sv32, 0x20100403, 0, PT_LEAF, "same PTE as 4K leaf"},
    {&physim_fmt_sv32, 0x20000841, 1, PT_RESERVED, "pointer with A"},
    {&physim_fmt_sv32, 0x20000801, 0, PT_RESERVED, "pointer at last level"},
    {&physim_fmt_sv32, 0x20000405, 0, PT_RESERVED, "W only"},
    {&physim_fmt_sv32, UINT64_C(0x100000001), 1, PT_RESERVED, "wider than 32 bits"},
    {&physim_fmt_sv32, 0xe0000403, 0, PT_LEAF, "PTE bits 31:29 are PPN, not PBMT"},
    /* G-stage: same rules. */
    {&physim_fmt_sv39x4, 0x20000801, 2, PT_TABLE, "root pointer"},
    {&physim_fmt_sv39x4, 0x20000811, 2, PT_RESERVED, "pointer with U"},
    {&physim_fmt_sv39x4, 0x200004d7, 0, PT_LEAF, "leaf"},
    {&physim_fmt_sv39x4, 0x20000415, 0, PT_RESERVED, "W only"},
    {&physim_fmt_sv39x4, 0x20080413, 1, PT_RESERVED, "misaligned 2M"},
    {&physim_fmt_sv57x4, UINT64_C(0x8000000020000413), 0, PT_RESERVED, "N"},
    {&physim_fmt_sv32x4, 0x20000801, 1, PT_TABLE, "root pointer"},
    {&physim_fmt_sv32x4, 0x20100413, 1, PT_RESERVED, "misaligned 4M"},
};

static void test_classify(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		const struct cls *c = &classes[i];
		enum pt_kind k = c->f->ops->classify(c->f, c->d, c->level);
		if (k != c->want) {
			print_error("%s 0x%llx level %u (%s): kind %d want %d\n", c->f->name,
				    (unsigned long long)c->d, c->level, c->why, k, c->want);
			fail();
		}
	}
	/* Each reserved bit 60:54 alone, on a leaf and on a pointer, in every
	 * 64-bit format (10.4: "bits 63-54 are reserved"). */
	for (size_t i = 0; i < N_RV; i++) {
		const struct physim_pt_format *f = all_rv[i];
		if (is_sv32(f))
			continue;
		for (unsigned b = 54; b <= 60; b++) {
			uint64_t bit = UINT64_C(1) << b;
			assert_int_equal(f->ops->classify(f, 0x20000403 | bit, 0), PT_RESERVED);
			assert_int_equal(f->ops->classify(f, 0x20000801 | bit, 1), PT_RESERVED);
		}
		assert_int_equal(f->ops->classify(f, 0x20000403, 0), PT_LEAF);
	}
}

/* A G-stage leaf with U = 0 is never accessible (guest accesses are U-mode
 * accesses, H extension): decode reports no permission. */
static void test_x4_decode_without_u(void **state)
{
	(void)state;
	struct pt_leaf_attr a;
	physim_fmt_sv39x4.ops->decode_leaf(&physim_fmt_sv39x4, 0x200004cf, 0, &a);
	assert_int_equal(a.flags, 0);
	physim_fmt_sv39x4.ops->decode_leaf(&physim_fmt_sv39x4, 0x200004df, 0, &a);
	assert_int_equal(a.flags, R | W | X);
	/* Stage 1: U = 0 is simply a supervisor page. */
	physim_fmt_sv39.ops->decode_leaf(&physim_fmt_sv39, 0x200004cf, 0, &a);
	assert_int_equal(a.flags, R | W | X);
}

/* ---- through the engine: PTEs as they lie in simulated RAM ---- */

struct rig {
	struct tc_env env; /* RAM, handler, direct map (tests/common/env.h) */
	struct physim_pt *pt;
};

static void rig_up(struct rig *r, const struct physim_pt_format *f)
{
	tc_env_open(&r->env, 0, 64u << 20);
	assert_int_equal(physim_pt_create(f, r->env.ph, &r->pt), 0);
}

static void rig_down(struct rig *r)
{
	physim_pt_destroy(r->pt);
	assert_int_equal(physim_ram_stats(r->env.ram).used_frames, 0);
	tc_env_close(&r->env);
}

static uint64_t read_pte(const struct rig *r, unsigned pte_bytes, uint64_t table, uint64_t index)
{
	return tc_get_entry(&r->env, table + index * pte_bytes, pte_bytes);
}

/* Follows pointers the way 10.3.2 does, with the index arithmetic written
 * out per scheme: returns the PTE at `stop_level` for va. Pointers must be
 * exactly (next >> 12) << 10 | V. */
static uint64_t walk_to(const struct rig *r, unsigned pte_bytes, const unsigned *shifts,
			const unsigned *bits, unsigned levels, uint64_t va, unsigned stop_level)
{
	uint64_t table = physim_pt_root(r->pt);
	for (unsigned l = levels - 1;; l--) {
		uint64_t idx = (va >> shifts[l]) & ((UINT64_C(1) << bits[l]) - 1);
		uint64_t e = read_pte(r, pte_bytes, table, idx);
		if (l == stop_level)
			return e;
		assert_int_equal(e & 0x3ff, B_V); /* a pointer: V only */
		uint64_t next = (e >> 10) << 12;
		assert_in_range(next, r->env.dm.base, r->env.dm.base + r->env.dm.size - 4096);
		table = next;
	}
}

static void test_engine_sv39(void **state)
{
	(void)state;
	static const unsigned sh[] = {12, 21, 30}, bits[] = {9, 9, 9};
	struct rig r;
	rig_up(&r, &physim_fmt_sv39);

	/* 4K R|W: A and D pre-set (Svade): 0x80005 << 10 | 0xc7 */
	assert_int_equal(physim_pt_map(r.pt, 0x40201000, 0x80005000, 4096, R | W), 0);
	assert_int_equal(walk_to(&r, 8, sh, bits, 3, 0x40201000, 0), 0x200014c7);
	/* read-only: A only */
	assert_int_equal(physim_pt_map(r.pt, 0x40202000, 0x80006000, 4096, R | U), 0);
	assert_int_equal(walk_to(&r, 8, sh, bits, 3, 0x40202000, 0), 0x20001853);
	/* 2M device: 0x80200 << 10 | V|R|W|A|D, PBMT IO */
	assert_int_equal(physim_pt_map(r.pt, 0x40400000, 0x80200000, 2u << 20, R | W | DEV), 0);
	assert_int_equal(walk_to(&r, 8, sh, bits, 3, 0x40400000, 1), UINT64_C(0x40000000200800c7));
	/* 1G at a negative (sign-extended) VA: index 511 at the root. */
	assert_int_equal(
	    physim_pt_map(r.pt, UINT64_C(0xffffffffc0000000), 0xc0000000, 1u << 30, R | X), 0);
	assert_int_equal(walk_to(&r, 8, sh, bits, 3, UINT64_C(0xffffffffc0000000), 2), 0x3000004b);
	/* A non-canonical VA is refused. */
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(0x0000004000000000), 0x80000000, 4096, R),
			 -EINVAL);
	/* W without R is refused. */
	assert_int_equal(physim_pt_map(r.pt, 0x40203000, 0x80007000, 4096, W), -ENOTSUP);

	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(r.pt, 0x40400123, &m), 0);
	assert_int_equal(m.flags, R | W | DEV);
	assert_int_equal(m.size, 2u << 20);
	assert_true(m.accessed);
	assert_true(m.dirty);

	/* protect keeps A and D (a page that was written stays dirty). */
	assert_int_equal(physim_pt_protect(r.pt, 0x40201000, R), 0);
	assert_int_equal(walk_to(&r, 8, sh, bits, 3, 0x40201000, 0), 0x200014c3);
	assert_int_equal(physim_pt_protect(r.pt, 0x40201000, R | W | X), 0);
	assert_int_equal(walk_to(&r, 8, sh, bits, 3, 0x40201000, 0), 0x200014cf);

	assert_int_equal(physim_pt_unmap(r.pt, 0x40201000, NULL), 0);
	assert_int_equal(walk_to(&r, 8, sh, bits, 3, 0x40201000, 0), 0);
	rig_down(&r);
}

static void test_engine_sv39x4_root(void **state)
{
	(void)state;
	static const unsigned sh[] = {12, 21, 30}, bits[] = {9, 9, 11};
	struct rig r;
	rig_up(&r, &physim_fmt_sv39x4);

	uint64_t root = physim_pt_root(r.pt);
	assert_int_equal(root % 16384, 0);
	assert_int_equal(physim_pt_table_frames(r.pt), 4);

	/* GPA bit 40: root entry 1024, byte 8192 of the root. */
	uint64_t gpa = (UINT64_C(1) << 40) | 0x3000;
	assert_int_equal(physim_pt_map(r.pt, gpa, 0x80009000, 4096, R | W | U), 0);
	uint64_t e = read_pte(&r, 8, root, 1024);
	assert_int_equal(e & 0x3ff, B_V);
	for (uint64_t i = 0; i < 2048; i++)
		if (i != 1024)
			assert_int_equal(read_pte(&r, 8, root, i), 0);
	/* 0x80009 << 10 | V|R|W|U|A|D */
	assert_int_equal(walk_to(&r, 8, sh, bits, 3, gpa, 0), 0x200024d7);
	/* GPA bit 41 is beyond the 41-bit input: refused. */
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(1) << 41, 0x80009000, 4096, R), -EINVAL);
	/* Not sign-extended: a "negative" GPA is out of range too. */
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(0xffffffffc0000000), 0x80009000, 4096, R),
			 -EINVAL);

	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(r.pt, gpa, &m), 0);
	assert_int_equal(m.flags, R | W);
	assert_int_equal(m.pa, 0x80009000);

	/* 2M + 4K region with huge pages allowed: one 2M leaf (0x90000 << 10 |
	 * V|R|W|X|U|A|D) and one 4K leaf (0x90200 << 10 | same). */
	assert_int_equal(physim_pt_map_region(r.pt, 0x40000000, 0x90000000, 0x201000, R | W | X,
					      PHYSIM_ALLOW_HUGE),
			 0);
	assert_int_equal(walk_to(&r, 8, sh, bits, 3, 0x40000000, 1), 0x240000df);
	assert_int_equal(walk_to(&r, 8, sh, bits, 3, 0x40200000, 0), 0x240800df);
	rig_down(&r);
}

static void test_engine_sv32(void **state)
{
	(void)state;
	static const unsigned sh[] = {12, 22}, bits[] = {10, 10};
	struct rig r;
	rig_up(&r, &physim_fmt_sv32);

	assert_int_equal(physim_pt_map(r.pt, 0xfffff000, 0x80001000, 4096, R | W | X | U), 0);
	assert_int_equal(walk_to(&r, 4, sh, bits, 2, 0xfffff000, 0), 0x200004df);
	assert_int_equal(physim_pt_map(r.pt, 0x00400000, 0x80400000, 4u << 20, R), 0);
	assert_int_equal(walk_to(&r, 4, sh, bits, 2, 0x00400000, 1), 0x20100043);
	/* Bits above the 4-byte PTE stay clean: the neighbour of the 4M leaf. */
	assert_int_equal(read_pte(&r, 4, physim_pt_root(r.pt), 2), 0);
	assert_int_equal(physim_pt_map(r.pt, 0x1000, 0x80001000, 4096, R | DEV), -ENOTSUP);
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(0x100000000), 0x80001000, 4096, R), -EINVAL);
	rig_down(&r);
}

static void test_engine_sv32x4_root(void **state)
{
	(void)state;
	static const unsigned sh[] = {12, 22}, bits[] = {10, 12};
	struct rig r;
	rig_up(&r, &physim_fmt_sv32x4);

	uint64_t root = physim_pt_root(r.pt);
	assert_int_equal(root % 16384, 0);
	assert_int_equal(physim_pt_table_frames(r.pt), 4);
	/* GPA 0x3_0040_0000 (above 4 GiB) as a 4M page: root index 3073. */
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(0x300400000), 0x80400000, 4u << 20, R | X),
			 0);
	assert_int_equal(read_pte(&r, 4, root, 3073), 0x2010005b);
	assert_int_equal(walk_to(&r, 4, sh, bits, 2, UINT64_C(0x300400000), 1), 0x2010005b);
	rig_down(&r);
}

static void test_engine_huge_sizes(void **state)
{
	(void)state;
	static const unsigned sh[] = {12, 21, 30, 39, 48}, bits[] = {9, 9, 9, 9, 9};
	struct rig r;
	rig_up(&r, &physim_fmt_sv57);
	/* The largest pages map output addresses outside the 64 MiB RAM: only
	 * table frames come from RAM. 256T leaf: 2^36 << 10 | V|R|A */
	assert_int_equal(
	    physim_pt_map(r.pt, UINT64_C(1) << 48, UINT64_C(1) << 48, UINT64_C(1) << 48, R), 0);
	assert_int_equal(walk_to(&r, 8, sh, bits, 5, UINT64_C(1) << 48, 4),
			 UINT64_C(0x400000000043));
	/* 512G leaf: 2^27 << 10 | V|R|W|A|D */
	assert_int_equal(
	    physim_pt_map(r.pt, UINT64_C(1) << 39, UINT64_C(1) << 39, UINT64_C(1) << 39, R | W), 0);
	assert_int_equal(walk_to(&r, 8, sh, bits, 5, UINT64_C(1) << 39, 3), UINT64_C(0x20000000c7));
	rig_down(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_geometry),
	    cmocka_unit_test(test_format_info),
	    cmocka_unit_test(test_x4_root_index),
	    cmocka_unit_test(test_golden_leaves),
	    cmocka_unit_test(test_golden_tables),
	    cmocka_unit_test(test_flag_round_trip),
	    cmocka_unit_test(test_arch_bits),
	    cmocka_unit_test(test_bad_arch_and_flags),
	    cmocka_unit_test(test_pa_limits),
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_x4_decode_without_u),
	    cmocka_unit_test(test_engine_sv39),
	    cmocka_unit_test(test_engine_sv39x4_root),
	    cmocka_unit_test(test_engine_sv32),
	    cmocka_unit_test(test_engine_sv32x4_root),
	    cmocka_unit_test(test_engine_huge_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
