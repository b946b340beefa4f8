/* SPDX-License-Identifier: MIT */
/* tests/test_fmt_aarch64.c - the AArch64 (VMSAv8-64 stage 1 and 2) and ARMv7
 * short-descriptor formats: bit-exact descriptors computed by hand from the
 * Arm ARM field layouts, every flag subset at every leaf level against a
 * permission oracle written from the manual's tables, classify, and the raw
 * descriptors the engine writes into simulated RAM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/env.h"

#include "pt-format.h"
#include <physim/ram.h>

#include <stdio.h>
#include <string.h>

#define R  PHYSIM_R
#define W  PHYSIM_W
#define X  PHYSIM_X
#define U  PHYSIM_U
#define DV PHYSIM_DEVICE
#define NC PHYSIM_UNCACHED

static const struct physim_pt_format *const a64_formats[] = {
    &physim_fmt_aarch64_4k_39,	&physim_fmt_aarch64_4k_48,    &physim_fmt_aarch64_16k_47,
    &physim_fmt_aarch64_64k_48, &physim_fmt_aarch64_s2_4k_40, &physim_fmt_aarch64_s2_4k_48,
};
#define N_A64 (sizeof(a64_formats) / sizeof(a64_formats[0]))

static int encode(const struct physim_pt_format *f, uint64_t pa, uint32_t flags, uint64_t arch,
		  bool accessed, unsigned level, uint64_t *d)
{
	struct pt_leaf_attr a = {.flags = flags, .arch = arch, .accessed = accessed};
	*d = 0xdeadbeefdeadbeef;
	return f->ops->encode_leaf(f, pa, &a, level, d);
}

static struct pt_leaf_attr decode(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	struct pt_leaf_attr a;
	memset(&a, 0x5a, sizeof(a));
	f->ops->decode_leaf(f, d, level, &a);
	return a;
}

/* ---- golden encodings ---- */

struct golden {
	const struct physim_pt_format *f;
	unsigned level; /* engine level: 0 = Arm lookup level 3 */
	uint64_t pa;
	uint32_t flags;
	uint64_t arch;
	bool accessed;
	uint64_t expect;
	uint64_t arch_out; /* arch as decode reports it: only what flags don't say */
};

/*
 * Stage 1 block/page descriptor (Arm ARM D8.3): bits 1:0 = 0b11 page (lookup
 * level 3), 0b01 block; AttrIndx 4:2 (D8.5; physim MAIR: 0 Normal WB, 1
 * Device-nGnRE, 2 Normal NC); AP[1] bit 6 = EL0 access, AP[2] bit 7 = read-only
 * (D8.4); SH 9:8 (0b11 inner, 0b10 outer); AF bit 10; nG bit 11; PXN bit 53;
 * UXN bit 54. Hand-computed pieces: 0x703 = page|SH inner|AF; 0x701 = block|
 * SH inner|AF; 0x0060... = PXN|UXN, 0x0040... = UXN only, 0x0020... = PXN only.
 */
static const struct golden s1_golden[] = {
    /* 4K granule, 48-bit: 4K page, every permission class */
    {&physim_fmt_aarch64_4k_48, 0, 0x80001000, R | W, 0, true, UINT64_C(0x0060000080001703), 0},
    {&physim_fmt_aarch64_4k_48, 0, 0x80001000, R, 0, true, UINT64_C(0x0060000080001783), 0},
    {&physim_fmt_aarch64_4k_48, 0, 0x80001000, R | X, 0, true, UINT64_C(0x0040000080001783), 0},
    {&physim_fmt_aarch64_4k_48, 0, 0x80001000, R | W | X, 0, true, UINT64_C(0x0040000080001703), 0},
    {&physim_fmt_aarch64_4k_48, 0, 0x80001000, R | U, 0, true, UINT64_C(0x00600000800017c3), 0},
    {&physim_fmt_aarch64_4k_48, 0, 0x80001000, R | W | U, 0, true, UINT64_C(0x0060000080001743), 0},
    {&physim_fmt_aarch64_4k_48, 0, 0x80001000, R | U | X, 0, true, UINT64_C(0x00200000800017c3), 0},
    {&physim_fmt_aarch64_4k_48, 0, 0x80001000, R | W | U | X, 0, true, UINT64_C(0x0020000080001743),
     0},
    /* memory types: AttrIndx 1 (0x4) and 2 (0x8) */
    {&physim_fmt_aarch64_4k_48, 0, 0x80001000, R | W | DV, 0, true, UINT64_C(0x0060000080001707),
     0},
    {&physim_fmt_aarch64_4k_48, 0, 0x80001000, R | W | NC, 0, true, UINT64_C(0x006000008000170b),
     0},
    /* arch: AttrIndx 5 (0x14), SH outer (0x200), nG (0x800) */
    {&physim_fmt_aarch64_4k_48, 0, 0x80001000, R | W, 0xa14, true, UINT64_C(0x0060000080001e17),
     0xa14},
    /* AF clear when the caller says so (a split keeps the old AF) */
    {&physim_fmt_aarch64_4k_48, 0, 0x80001000, R | W, 0, false, UINT64_C(0x0060000080001303), 0},
    /* 2M block (lookup level 2) and 1G block (lookup level 1) */
    {&physim_fmt_aarch64_4k_48, 1, 0x40200000, R | W, 0, true, UINT64_C(0x0060000040200701), 0},
    {&physim_fmt_aarch64_4k_48, 2, 0x140000000, R | W | X, 0, true, UINT64_C(0x0040000140000701),
     0},
    {&physim_fmt_aarch64_4k_48, 1, 0x40200000, R | U | X | DV, 0, true,
     UINT64_C(0x00200000402007c5), 0},
    /* highest 48-bit output addresses */
    {&physim_fmt_aarch64_4k_48, 0, 0xfffffffff000, R | W, 0, true, UINT64_C(0x0060fffffffff703), 0},
    {&physim_fmt_aarch64_4k_48, 2, 0xffffc0000000, R | W, 0, true, UINT64_C(0x0060ffffc0000701), 0},
    /* 4K granule, 39-bit: the root is lookup level 1, 1G blocks there */
    {&physim_fmt_aarch64_4k_39, 2, 0x40000000, R, 0, true, UINT64_C(0x0060000040000781), 0},
    {&physim_fmt_aarch64_4k_39, 1, 0x80200000, R | W | NC, 0, true, UINT64_C(0x0060000080200709),
     0},
    {&physim_fmt_aarch64_4k_39, 0, 0x80002000, R | W | U, 0x800, true, UINT64_C(0x0060000080002f43),
     0x800},
    /* 16K granule: OA from bit 14, 32M blocks at lookup level 2 */
    {&physim_fmt_aarch64_16k_47, 0, 0x80004000, R | W, 0, true, UINT64_C(0x0060000080004703), 0},
    {&physim_fmt_aarch64_16k_47, 1, 0x82000000, R | W, 0, true, UINT64_C(0x0060000082000701), 0},
    {&physim_fmt_aarch64_16k_47, 0, 0xffffffffc000, R | U | X, 0, true,
     UINT64_C(0x0020ffffffffc7c3), 0},
    /* 64K granule: OA from bit 16, 512M blocks at lookup level 2 */
    {&physim_fmt_aarch64_64k_48, 0, 0x80010000, R | W | U, 0, true, UINT64_C(0x0060000080010743),
     0},
    {&physim_fmt_aarch64_64k_48, 1, 0x20000000, R | X, 0, true, UINT64_C(0x0040000020000781), 0},
    {&physim_fmt_aarch64_64k_48, 0, 0xffffffff0000, R | W | DV, 0, true,
     UINT64_C(0x0060ffffffff0707), 0},
};

/*
 * Stage 2 block/page descriptor (D8.3, D8.4, D8.5): MemAttr 5:2 (0b1111 Normal
 * WB -> 0x3c, 0b0001 Device-nGnRE -> 0x04, 0b0101 Normal NC -> 0x14); S2AP[0]
 * bit 6 = read (0x40), S2AP[1] bit 7 = write (0x80); SH 9:8; AF bit 10; XN
 * bit 54 (0x0040...). No U: PHYSIM_U is ignored.
 */
static const struct golden s2_golden[] = {
    /* all four S2AP combinations, executable and not */
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, 0, 0, true, UINT64_C(0x004000008000073f), 0},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R, 0, true, UINT64_C(0x004000008000077f), 0},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, W, 0, true, UINT64_C(0x00400000800007bf), 0},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | W, 0, true, UINT64_C(0x00400000800007ff), 0},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, X, 0, true, UINT64_C(0x000000008000073f), 0},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | X, 0, true, UINT64_C(0x000000008000077f), 0},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, W | X, 0, true, UINT64_C(0x00000000800007bf), 0},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | W | X, 0, true, UINT64_C(0x00000000800007ff),
     0},
    /* U is accepted and changes nothing */
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | W | X | U, 0, true,
     UINT64_C(0x00000000800007ff), 0},
    /* memory types */
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | W | DV, 0, true, UINT64_C(0x00400000800007c7),
     0},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | W | NC, 0, true, UINT64_C(0x00400000800007d7),
     0},
    /* arch: MemAttr 0b1010 (Normal WT, 0x28) and SH outer (0x200) */
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | W, 0x228, true, UINT64_C(0x00400000800006eb),
     0x228},
    /* arch MemAttr 0b0011 (Device-GRE, 0x0c), a type no flag names: raw,
     * without DEVICE (the one memory-type rule, pt.h) */
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | W, 0x0c, true, UINT64_C(0x00400000800007cf),
     0x0c},
    /* AF clear */
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | W, 0, false, UINT64_C(0x00400000800003ff), 0},
    /* 2M and 1G blocks */
    {&physim_fmt_aarch64_s2_4k_48, 1, 0x40200000, R | W | X, 0, true, UINT64_C(0x00000000402007fd),
     0},
    {&physim_fmt_aarch64_s2_4k_48, 2, 0x100000000, R, 0, true, UINT64_C(0x004000010000077d), 0},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0xfffffffff000, R | W | X, 0, true,
     UINT64_C(0x0000fffffffff7ff), 0},
    /* 40-bit IPA, concatenated level-1 root: 1G blocks in the root */
    {&physim_fmt_aarch64_s2_4k_40, 2, 0x8000000000, R | W, 0, true, UINT64_C(0x00400080000007fd),
     0},
    {&physim_fmt_aarch64_s2_4k_40, 1, 0x80200000, W, 0, true, UINT64_C(0x00400000802007bd), 0},
    {&physim_fmt_aarch64_s2_4k_40, 0, 0x80003000, R | NC, 0, true, UINT64_C(0x0040000080003757), 0},
};

/*
 * ARMv7 short-descriptor (Arm ARM G5.4, G5.6, G5.7), SCTLR.AFE = 1, TRE = 0.
 * Small page: bits 1:0 = 0b1x with bit 0 = XN; B 2, C 3, AP[1:0] 5:4 (AP[0] =
 * AF, AP[1] = PL0), TEX 8:6, AP[2] 9, S 10, nG 11. Normal WB-WA = TEX 001 C B
 * (0x4c); Device = TEX 000 C 0 B 1 (0x4); Normal NC = TEX 001 (0x40).
 * Section: bit 0 PXN, bits 1:0 = 0b10, B 2, C 3, XN 4, AP[1:0] 11:10, TEX
 * 14:12, AP[2] 15, S 16, nG 17, bit 18 = 0.
 */
static const struct golden v7_golden[] = {
    {&physim_fmt_armv7_short, 0, 0x80001000, R | W, 0, true, 0x8000145f, 0},
    {&physim_fmt_armv7_short, 0, 0x80001000, R, 0, true, 0x8000165f, 0},
    {&physim_fmt_armv7_short, 0, 0x80001000, R | X, 0, true, 0x8000165e, 0},
    {&physim_fmt_armv7_short, 0, 0x80001000, R | U, 0, true, 0x8000167f, 0},
    {&physim_fmt_armv7_short, 0, 0x80001000, R | W | U, 0, true, 0x8000147f, 0},
    {&physim_fmt_armv7_short, 0, 0x80001000, R | W | U | X, 0, true, 0x8000147e, 0},
    {&physim_fmt_armv7_short, 0, 0x80001000, R | W | DV, 0, true, 0x80001417, 0},
    {&physim_fmt_armv7_short, 0, 0x80001000, R | W | NC, 0, true, 0x80001453, 0},
    /* arch: nG (0x800), TEX 101 C 0 B 1 (0x144: outer and inner WB-WA) */
    {&physim_fmt_armv7_short, 0, 0x80001000, R | W, 0x944, true, 0x80001d57, 0x944},
    {&physim_fmt_armv7_short, 0, 0x80001000, R | W, 0, false, 0x8000144f, 0},
    /* arch TEX 010 C 0 B 0 (non-shareable Device, 0x80): raw, no DEVICE */
    {&physim_fmt_armv7_short, 0, 0x80001000, R | W, 0x80, true, 0x80001493, 0x80},
    {&physim_fmt_armv7_short, 0, 0xfffff000, R | W, 0, true, 0xfffff45f, 0},
};

/* Sections: the same fields 6 bits higher (AP 11:10, TEX 14:12, AP[2] 15, S 16,
 * nG 17), XN at bit 4. Decoded arch is reported in the small-page layout. */
static const struct golden v7_section_golden[] = {
    {&physim_fmt_armv7_short, 1, 0x80100000, R | W, 0, true, 0x8011141e, 0},
    {&physim_fmt_armv7_short, 1, 0x80100000, R | U | X, 0, true, 0x80119c0e, 0},
    {&physim_fmt_armv7_short, 1, 0x80100000, R | W | DV, 0, true, 0x80110416, 0},
    {&physim_fmt_armv7_short, 1, 0x80100000, R | W | NC, 0, true, 0x80111412, 0},
    {&physim_fmt_armv7_short, 1, 0x80100000, R | W, 0x800, true, 0x8013141e, 0x800},
    {&physim_fmt_armv7_short, 1, 0x80100000, R | W, 0x944, true, 0x80135416, 0x944},
    {&physim_fmt_armv7_short, 1, 0xfff00000, R | W, 0, true, 0xfff1141e, 0},
};

static uint32_t strip_u_on_stage2(const struct physim_pt_format *f, uint32_t flags)
{
	return f->stage2 ? flags & ~(uint32_t)U : flags;
}

static void check_golden(const struct golden *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t d;
		int rc =
		    encode(g[i].f, g[i].pa, g[i].flags, g[i].arch, g[i].accessed, g[i].level, &d);
		if (rc != 0 || d != g[i].expect)
			print_error("%s #%zu: rc %d d %#llx expect %#llx\n", g[i].f->name, i, rc,
				    (unsigned long long)d, (unsigned long long)g[i].expect);
		assert_int_equal(rc, 0);
		assert_int_equal(d, g[i].expect);

		struct pt_leaf_attr a = decode(g[i].f, g[i].expect, g[i].level);
		assert_int_equal(a.flags, strip_u_on_stage2(g[i].f, g[i].flags));
		assert_int_equal(a.accessed, g[i].accessed);
		assert_false(a.dirty);
		assert_int_equal(a.arch, g[i].arch_out);
		assert_int_equal(g[i].f->ops->classify(g[i].f, g[i].expect, g[i].level), PT_LEAF);
		assert_int_equal(g[i].f->ops->output_addr(g[i].f, g[i].expect, g[i].level),
				 g[i].pa);
		/* the decoded attributes encode back to the same descriptor */
		uint64_t again;
		assert_int_equal(g[i].f->ops->encode_leaf(g[i].f, g[i].pa, &a, g[i].level, &again),
				 0);
		assert_int_equal(again, g[i].expect);
	}
}

static void test_golden_stage1(void **state)
{
	check_golden(s1_golden, sizeof(s1_golden) / sizeof(s1_golden[0]));
}

static void test_golden_stage2(void **state)
{
	check_golden(s2_golden, sizeof(s2_golden) / sizeof(s2_golden[0]));
}

static void test_golden_armv7(void **state)
{
	check_golden(v7_golden, sizeof(v7_golden) / sizeof(v7_golden[0]));
	check_golden(v7_section_golden, sizeof(v7_section_golden) / sizeof(v7_section_golden[0]));
}

/* Table descriptors: address | 0b11 (D8.3), no hierarchical attributes; short
 * descriptor: 1 KiB-aligned base | 0b01 (G5.4). */
static void test_table_descriptors(void **state)
{
	const struct physim_pt_format *f;

	f = &physim_fmt_aarch64_4k_48;
	assert_int_equal(f->ops->encode_table(f, 0x80003000, 3), 0x80003003);
	assert_int_equal(f->ops->encode_table(f, 0xfffffffff000, 1), UINT64_C(0xfffffffff003));
	f = &physim_fmt_aarch64_4k_39;
	assert_int_equal(f->ops->encode_table(f, 0x80005000, 2), 0x80005003);
	f = &physim_fmt_aarch64_16k_47;
	assert_int_equal(f->ops->encode_table(f, 0x80004000, 2), 0x80004003);
	assert_int_equal(f->ops->encode_table(f, 0xffffffffc000, 1), UINT64_C(0xffffffffc003));
	f = &physim_fmt_aarch64_64k_48;
	assert_int_equal(f->ops->encode_table(f, 0x80010000, 2), 0x80010003);
	f = &physim_fmt_aarch64_s2_4k_40;
	assert_int_equal(f->ops->encode_table(f, 0x80006000, 2), 0x80006003);
	f = &physim_fmt_aarch64_s2_4k_48;
	assert_int_equal(f->ops->encode_table(f, 0x80007000, 3), 0x80007003);
	f = &physim_fmt_armv7_short;
	assert_int_equal(f->ops->encode_table(f, 0x80002000, 1), 0x80002001);
	assert_int_equal(f->ops->encode_table(f, 0x80002400, 1), 0x80002401);

	/* and their output addresses, granule-masked */
	f = &physim_fmt_aarch64_4k_48;
	assert_int_equal(f->ops->output_addr(f, UINT64_C(0xf8000000fffff003), 2),
			 UINT64_C(0xfffff000));
	f = &physim_fmt_aarch64_16k_47;
	assert_int_equal(f->ops->output_addr(f, 0x80007003, 1), 0x80004000);
	f = &physim_fmt_aarch64_64k_48;
	assert_int_equal(f->ops->output_addr(f, 0x80010003, 1), 0x80010000);
	f = &physim_fmt_armv7_short;
	assert_int_equal(f->ops->output_addr(f, 0x80002401, 1), 0x80002400);
	assert_int_equal(f->ops->output_addr(f, 0x8011141e, 1), 0x80100000);
	assert_int_equal(f->ops->output_addr(f, 0x8000145f, 0), 0x80001000);
	/* a 2M block's OA is bits 47:21; bits 20:12 (RES0 / nT) are not address */
	f = &physim_fmt_aarch64_4k_48;
	assert_int_equal(f->ops->output_addr(f, UINT64_C(0x0060000040210701), 1), 0x40200000);
}

/* The next-level table address of a table descriptor with every bit set,
 * for every VMSAv8-64 format: D8.3 (table descriptor: next-level table
 * address bits [47:granule]); with FEAT_LPA2 and DS = 1 bits [49:granule]
 * and NLTA[51:50] in bits 9:8; with FEAT_LPA, 64K granule, NLTA[51:48] in
 * bits 15:12. Nothing below the granule, nothing above the output size. */
static void test_table_address_field(void **state)
{
	(void)state;
	static const struct {
		const struct physim_pt_format *f;
		uint64_t field;
	} c[] = {
	    {&physim_fmt_aarch64_4k_39, UINT64_C(0x0000fffffffff000)},
	    {&physim_fmt_aarch64_4k_48, UINT64_C(0x0000fffffffff000)},
	    {&physim_fmt_aarch64_16k_47, UINT64_C(0x0000ffffffffc000)},
	    {&physim_fmt_aarch64_64k_48, UINT64_C(0x0000ffffffff0000)},
	    {&physim_fmt_aarch64_s2_4k_40, UINT64_C(0x0000fffffffff000)},
	    {&physim_fmt_aarch64_s2_4k_48, UINT64_C(0x0000fffffffff000)},
	    {&physim_fmt_aarch64_el2_4k_39, UINT64_C(0x0000fffffffff000)},
	    {&physim_fmt_aarch64_el2_4k_48, UINT64_C(0x0000fffffffff000)},
	    {&physim_fmt_aarch64_el2_16k_47, UINT64_C(0x0000ffffffffc000)},
	    {&physim_fmt_aarch64_el2_64k_48, UINT64_C(0x0000ffffffff0000)},
	    {&physim_fmt_aarch64_4k_52, UINT64_C(0x000ffffffffff000)},
	    {&physim_fmt_aarch64_16k_52, UINT64_C(0x000fffffffffc000)},
	    {&physim_fmt_aarch64_64k_52, UINT64_C(0x000fffffffff0000)},
	    {&physim_fmt_aarch64_s2_4k_52, UINT64_C(0x000ffffffffff000)},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const struct physim_pt_format *f = c[i].f;
		for (unsigned lvl = 1; lvl < f->levels; lvl++)
			if (f->ops->output_addr(f, ~UINT64_C(0), lvl) != c[i].field)
				fail_msg(
				    "%s level %u: 0x%llx, not 0x%llx", f->name, lvl,
				    (unsigned long long)f->ops->output_addr(f, ~UINT64_C(0), lvl),
				    (unsigned long long)c[i].field);
	}
}

/* ---- geometry ---- */

static void check_geom(const struct physim_pt_format *f, unsigned levels, unsigned va_bits,
		       const unsigned *shift, const unsigned *bits, const bool *leaf_ok)
{
	assert_int_equal(f->levels, levels);
	assert_int_equal(f->va_bits, va_bits);
	/* armv7-short: 40 bits through supersections (G5.4 extended base
	 * address); sections and small pages hold 32. */
	assert_int_equal(f->pa_bits, f == &physim_fmt_armv7_short ? 40 : 48);
	assert_int_equal(f->pte_bytes, f == &physim_fmt_armv7_short ? 4 : 8);
	assert_false(f->sign_extended);
	assert_int_equal(f->arch, PHYSIM_ARCH_AARCH64);
	assert_true(f->set_accessed_on_map);
	assert_false(f->set_dirty_on_map);
	for (unsigned i = 0; i < levels; i++) {
		assert_int_equal(f->level[i].shift, shift[i]);
		assert_int_equal(f->level[i].index_bits, bits[i]);
		assert_int_equal(f->level[i].leaf_ok, leaf_ok[i]);
	}
	/* the levels cover exactly the input address */
	assert_int_equal(f->level[levels - 1].shift + f->level[levels - 1].index_bits, va_bits);
}

static void test_geometry(void **state)
{
	/* D8.2: 4K granule 9 bits per level, 16K 11, 64K 13 */
	check_geom(&physim_fmt_aarch64_4k_39, 3, 39, (unsigned[]){12, 21, 30},
		   (unsigned[]){9, 9, 9}, (bool[]){true, true, true});
	check_geom(&physim_fmt_aarch64_4k_48, 4, 48, (unsigned[]){12, 21, 30, 39},
		   (unsigned[]){9, 9, 9, 9}, (bool[]){true, true, true, false});
	check_geom(&physim_fmt_aarch64_16k_47, 3, 47, (unsigned[]){14, 25, 36},
		   (unsigned[]){11, 11, 11}, (bool[]){true, true, false});
	check_geom(&physim_fmt_aarch64_64k_48, 3, 48, (unsigned[]){16, 29, 42},
		   (unsigned[]){13, 13, 6}, (bool[]){true, true, false});
	check_geom(&physim_fmt_aarch64_s2_4k_40, 3, 40, (unsigned[]){12, 21, 30},
		   (unsigned[]){9, 9, 10}, (bool[]){true, true, true});
	check_geom(&physim_fmt_aarch64_s2_4k_48, 4, 48, (unsigned[]){12, 21, 30, 39},
		   (unsigned[]){9, 9, 9, 9}, (bool[]){true, true, true, false});
	check_geom(&physim_fmt_armv7_short, 2, 32, (unsigned[]){12, 20}, (unsigned[]){8, 12},
		   (bool[]){true, true});

	/* table sizes: 16K and 64K granule tables are 4 and 16 frames */
	assert_int_equal(pt_table_bytes(&physim_fmt_aarch64_16k_47, 0), 16384);
	assert_int_equal(pt_table_frames(&physim_fmt_aarch64_16k_47, 2), 4);
	assert_int_equal(pt_table_bytes(&physim_fmt_aarch64_64k_48, 1), 65536);
	assert_int_equal(pt_table_frames(&physim_fmt_aarch64_64k_48, 0), 16);
	assert_int_equal(pt_table_bytes(&physim_fmt_aarch64_64k_48, 2), 512);
	/* concatenated stage 2 root: 1024 entries, 8 KiB */
	assert_int_equal(pt_table_bytes(&physim_fmt_aarch64_s2_4k_40, 2), 8192);
	assert_int_equal(pt_table_frames(&physim_fmt_aarch64_s2_4k_40, 2), 2);
	/* short descriptor: 16 KiB first level, 1 KiB second level in one frame */
	assert_int_equal(pt_table_bytes(&physim_fmt_armv7_short, 1), 16384);
	assert_int_equal(pt_table_bytes(&physim_fmt_armv7_short, 0), 1024);
	assert_int_equal(pt_table_frames(&physim_fmt_armv7_short, 0), 1);

	assert_true(physim_fmt_aarch64_s2_4k_40.stage2);
	assert_true(physim_fmt_aarch64_s2_4k_48.stage2);
	assert_false(physim_fmt_aarch64_4k_48.stage2);
	assert_int_equal(physim_fmt_aarch64_s2_4k_48.flags_supported, R | W | X | DV | NC);
	assert_int_equal(physim_fmt_aarch64_4k_48.flags_supported, R | W | X | U | DV | NC);
	assert_int_equal(physim_fmt_aarch64_4k_48.arch_attr_mask, 0xb1c);
	assert_int_equal(physim_fmt_aarch64_s2_4k_40.arch_attr_mask, 0x33c);
	assert_int_equal(physim_fmt_armv7_short.arch_attr_mask, 0x9cc);
}

/* The concatenated root of aarch64-s2-4k-40 (D8.2): IPA bits 39:30 index 1024
 * entries; IPAs below 2^39 use the first 4 KiB table, from 2^39 the second. */
static void test_s2_concatenated_root_index(void **state)
{
	const struct physim_pt_format *f = &physim_fmt_aarch64_s2_4k_40;

	assert_int_equal(pt_index(f, 0, 2), 0);
	assert_int_equal(pt_index(f, UINT64_C(0x7fffffffff), 2), 511); /* last of table 0 */
	assert_int_equal(pt_index(f, UINT64_C(0x8000000000), 2), 512); /* first of table 1 */
	assert_int_equal(pt_index(f, UINT64_C(0x8000000000) + 0x40000000, 2), 513);
	assert_int_equal(pt_index(f, UINT64_C(0xffffffffff), 2), 1023); /* last IPA */
	/* byte offset in the 8 KiB root: entry 512 opens the second 4 KiB frame */
	assert_int_equal(pt_index(f, UINT64_C(0x8000000000), 2) * f->pte_bytes, 4096);
	/* the s2-4k-48 root is a plain 512-entry level-0 table */
	assert_int_equal(pt_index(&physim_fmt_aarch64_s2_4k_48, UINT64_C(0xffffffffffff), 3), 511);
	/* 16K/47: bits 46:36 at the root; 64K/48: bits 47:42 */
	assert_int_equal(pt_index(&physim_fmt_aarch64_16k_47, UINT64_C(0x7fffffffffff), 2), 2047);
	assert_int_equal(pt_index(&physim_fmt_aarch64_64k_48, UINT64_C(0xffffffffffff), 2), 63);
	assert_int_equal(pt_index(&physim_fmt_aarch64_64k_48, UINT64_C(0xffffffffffff), 1), 8191);
}

/* ---- every flag subset at every leaf level, against the manual's tables ---- */

/* What the format must accept: stage 1 (both families) cannot express "no
 * read" (AP has no such encoding with AFE = 1 / in VMSAv8-64); nobody can
 * express DEVICE and UNCACHED together. */
static bool expect_supported(const struct physim_pt_format *f, uint32_t flags)
{
	if ((flags & (DV | NC)) == (DV | NC))
		return false;
	return f->stage2 || (flags & R);
}

/* Independent reading of a stage 1 AArch64 leaf (D8.4 tables): what EL0 and
 * EL1 may do. */
struct perms {
	bool el0_r, el0_w, el0_x, el1_r, el1_w, el1_x;
};

static struct perms s1_oracle(uint64_t d)
{
	unsigned ap = (unsigned)((d >> 6) & 3); /* AP[2:1] */
	bool pxn = (d >> 53) & 1, uxn = (d >> 54) & 1;
	struct perms p = {0};

	/* AP[2:1]: 00 EL1 RW; 01 EL1 RW, EL0 RW; 10 EL1 RO; 11 EL1 RO, EL0 RO */
	p.el1_r = true;
	p.el1_w = ap == 0 || ap == 1;
	p.el0_r = ap == 1 || ap == 3;
	p.el0_w = ap == 1;
	p.el0_x = !uxn;
	p.el1_x = !pxn;
	return p;
}

static void check_s1_meaning(uint64_t d, uint32_t flags)
{
	struct perms p = s1_oracle(d);
	bool u = flags & U;

	if (u) {
		assert_true(p.el0_r);
		assert_int_equal(p.el0_w, !!(flags & W));
		assert_int_equal(p.el0_x, !!(flags & X));
		assert_false(p.el1_x); /* the kernel never executes user pages */
	} else {
		assert_false(p.el0_r);
		assert_false(p.el0_w);
		assert_false(p.el0_x); /* UXN set even though EL0 has no data access */
		assert_int_equal(p.el1_x, !!(flags & X));
	}
	assert_int_equal(p.el1_w, !!(flags & W));
	/* AttrIndx under the MAIR convention 0 WB, 1 Device, 2 NC */
	unsigned idx = (unsigned)((d >> 2) & 7);
	assert_int_equal(idx, (flags & DV) ? 1 : (flags & NC) ? 2 : 0);
	assert_int_equal((d >> 8) & 3, 3);  /* inner shareable */
	assert_int_equal((d >> 10) & 1, 1); /* AF */
}

static void check_s2_meaning(uint64_t d, uint32_t flags)
{
	/* S2AP[0] (bit 6) read, S2AP[1] (bit 7) write (D8.4 stage 2 table) */
	assert_int_equal((d >> 6) & 1, !!(flags & R));
	assert_int_equal((d >> 7) & 1, !!(flags & W));
	assert_int_equal((d >> 54) & 1, !(flags & X));
	assert_int_equal((d >> 53) & 1, 0);
	unsigned memattr = (unsigned)((d >> 2) & 0xf);
	assert_int_equal(memattr, (flags & DV) ? 0x1 : (flags & NC) ? 0x5 : 0xf);
	assert_int_equal((d >> 10) & 1, 1);
}

/* Short descriptor, AFE = 1 (G5.6): AP[2] read-only, AP[1] PL0 access. */
static void check_v7_meaning(uint64_t d, unsigned level, uint32_t flags)
{
	unsigned ap, apx, xn, tex, c, b;

	if (level == 0) {
		ap = (d >> 4) & 3;
		apx = (d >> 9) & 1;
		xn = d & 1;
		tex = (d >> 6) & 7;
	} else {
		ap = (d >> 10) & 3;
		apx = (d >> 15) & 1;
		xn = (d >> 4) & 1;
		tex = (d >> 12) & 7;
		assert_int_equal(d & 1, 0);	     /* PXN never written */
		assert_int_equal((d >> 5) & 0xf, 0); /* domain 0 */
		assert_int_equal((d >> 18) & 1, 0);  /* a section, not a supersection */
	}
	c = (d >> 3) & 1;
	b = (d >> 2) & 1;
	assert_int_equal(ap & 1, 1); /* AF */
	assert_int_equal((ap >> 1) & 1, !!(flags & U));
	assert_int_equal(apx, !(flags & W));
	assert_int_equal(xn, !(flags & X));
	if (flags & DV)
		assert_true(tex == 0 && c == 0 && b == 1); /* Shareable Device */
	else if (flags & NC)
		assert_true(tex == 1 && c == 0 && b == 0); /* Normal non-cacheable */
	else
		assert_true(tex == 1 && c == 1 && b == 1); /* Normal WB-WA */
}

static void round_trip_format(const struct physim_pt_format *f)
{
	for (unsigned level = 0; level < f->levels; level++) {
		if (!f->level[level].leaf_ok)
			continue;
		uint64_t size = UINT64_C(1) << f->level[level].shift;
		/* the highest page the output address width allows (a plain
		 * short-descriptor leaf: 32 bits; supersections reach 40,
		 * tests/test_pt_grouped.c) */
		unsigned pa_bits = f == &physim_fmt_armv7_short ? 32 : f->pa_bits;
		uint64_t pa = ((UINT64_C(1) << pa_bits) - 1) & ~(size - 1);

		for (uint32_t flags = 0; flags < 64; flags++) {
			uint64_t d;
			int rc = encode(f, pa, flags, 0, true, level, &d);

			if (!expect_supported(f, flags)) {
				assert_int_equal(rc, -ENOTSUP);
				assert_int_equal(d, 0xdeadbeefdeadbeef);
				continue;
			}
			assert_int_equal(rc, 0);
			assert_int_equal(f->ops->classify(f, d, level), PT_LEAF);
			assert_int_equal(f->ops->output_addr(f, d, level), pa);
			struct pt_leaf_attr a = decode(f, d, level);
			assert_int_equal(a.flags, strip_u_on_stage2(f, flags));
			assert_true(a.accessed);
			uint64_t again;
			assert_int_equal(f->ops->encode_leaf(f, pa, &a, level, &again), 0);
			assert_int_equal(again, d);

			if (f == &physim_fmt_armv7_short)
				check_v7_meaning(d, level, flags);
			else if (f->stage2)
				check_s2_meaning(d, flags);
			else
				check_s1_meaning(d, flags);
			/* bits 1:0: page at the last level, block above (D8.3) */
			if (f != &physim_fmt_armv7_short)
				assert_int_equal(d & 3, level == 0 ? 3 : 1);
		}
	}
}

static void test_flag_round_trip(void **state)
{
	for (size_t i = 0; i < N_A64; i++)
		round_trip_format(a64_formats[i]);
	round_trip_format(&physim_fmt_armv7_short);
}

/* Stage 2: U never changes the descriptor (D8.4: no EL0/EL1 split). */
static void test_stage2_ignores_u(void **state)
{
	const struct physim_pt_format *f = &physim_fmt_aarch64_s2_4k_40;
	for (uint32_t flags = 0; flags < 64; flags++) {
		uint64_t d1, d2;
		if (!expect_supported(f, flags))
			continue;
		assert_int_equal(encode(f, 0x80000000, flags & ~(uint32_t)U, 0, true, 0, &d1), 0);
		assert_int_equal(encode(f, 0x80000000, flags | U, 0, true, 0, &d2), 0);
		assert_int_equal(d1, d2);
	}
}

/* ---- rejections ---- */

struct reject {
	const struct physim_pt_format *f;
	unsigned level;
	uint64_t pa;
	uint32_t flags;
	uint64_t arch;
	int rc;
};

static const struct reject rejects[] = {
    /* output address beyond 48 bits / 32 bits */
    {&physim_fmt_aarch64_4k_48, 0, UINT64_C(1) << 48, R | W, 0, -EINVAL},
    {&physim_fmt_aarch64_4k_48, 2, UINT64_C(0x1000000000000), R, 0, -EINVAL},
    {&physim_fmt_aarch64_16k_47, 0, UINT64_C(0x1000000004000), R, 0, -EINVAL},
    {&physim_fmt_aarch64_64k_48, 1, UINT64_C(0xffff0000000000) << 8, R, 0, -EINVAL},
    {&physim_fmt_aarch64_s2_4k_40, 2, UINT64_C(1) << 48, R, 0, -EINVAL},
    {&physim_fmt_aarch64_s2_4k_48, 0, UINT64_C(1) << 63, R, 0, -EINVAL},
    {&physim_fmt_armv7_short, 0, UINT64_C(0x100000000), R, 0, -EINVAL},
    {&physim_fmt_armv7_short, 1, UINT64_C(0x100000000), R, 0, -EINVAL},
    /* misaligned for the page / block size */
    {&physim_fmt_aarch64_4k_48, 1, 0x40201000, R, 0, -EINVAL},
    {&physim_fmt_aarch64_16k_47, 0, 0x80001000, R, 0, -EINVAL},
    {&physim_fmt_aarch64_64k_48, 0, 0x80004000, R, 0, -EINVAL},
    {&physim_fmt_aarch64_64k_48, 1, 0x30000000, R, 0, -EINVAL},
    {&physim_fmt_armv7_short, 1, 0x80010000, R, 0, -EINVAL},
    /* no leaf at this level: 4K level 0, 16K level 1, 64K level 1 blocks;
     * levels past the root */
    {&physim_fmt_aarch64_4k_48, 3, 0, R, 0, -EINVAL},
    {&physim_fmt_aarch64_s2_4k_48, 3, 0, R, 0, -EINVAL},
    {&physim_fmt_aarch64_16k_47, 2, 0, R, 0, -EINVAL},
    {&physim_fmt_aarch64_64k_48, 2, 0, R, 0, -EINVAL},
    {&physim_fmt_aarch64_4k_39, 3, 0, R, 0, -EINVAL},
    {&physim_fmt_armv7_short, 2, 0, R, 0, -EINVAL},
    /* unknown flag bits */
    {&physim_fmt_aarch64_4k_48, 0, 0x80000000, R | (1u << 6), 0, -EINVAL},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | (1u << 31), 0, -EINVAL},
    {&physim_fmt_armv7_short, 0, 0x80000000, R | (1u << 7), 0, -EINVAL},
    /* inexpressible flags: no read at stage 1, DEVICE|UNCACHED */
    {&physim_fmt_aarch64_4k_48, 0, 0x80000000, W, 0, -ENOTSUP},
    {&physim_fmt_aarch64_4k_48, 0, 0x80000000, X | U, 0, -ENOTSUP},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | DV | NC, 0, -ENOTSUP},
    {&physim_fmt_armv7_short, 0, 0x80000000, W | X, 0, -ENOTSUP},
    /* arch bits outside the mask: DBM (51), contiguous (52), PXN (53), NS (5) */
    {&physim_fmt_aarch64_4k_48, 0, 0x80000000, R, UINT64_C(1) << 51, -ENOTSUP},
    {&physim_fmt_aarch64_4k_48, 0, 0x80000000, R, UINT64_C(1) << 52, -ENOTSUP},
    {&physim_fmt_aarch64_4k_48, 0, 0x80000000, R, UINT64_C(1) << 53, -ENOTSUP},
    {&physim_fmt_aarch64_4k_48, 0, 0x80000000, R, 0x20, -ENOTSUP},
    /* stage 2 has no nG */
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R, 0x800, -ENOTSUP},
    /* short descriptor: S (10) and AP bits are not arch bits */
    {&physim_fmt_armv7_short, 0, 0x80000000, R, 0x400, -ENOTSUP},
    {&physim_fmt_armv7_short, 0, 0x80000000, R, 0x10, -ENOTSUP},
    /* SH = 0b01 is reserved (D8.5) */
    {&physim_fmt_aarch64_4k_48, 0, 0x80000000, R, 0x100, -ENOTSUP},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R, 0x100, -ENOTSUP},
    /* memory type from flags and arch disagree */
    {&physim_fmt_aarch64_4k_48, 0, 0x80000000, R | DV, 0x4, -ENOTSUP},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | DV, 0x0c, -ENOTSUP},
    {&physim_fmt_armv7_short, 0, 0x80000000, R | DV, 0x80, -ENOTSUP},
    /* a raw value the flags name (the one memory-type rule, pt.h) */
    {&physim_fmt_aarch64_4k_48, 0, 0x80000000, R, 0x4, -ENOTSUP},
    {&physim_fmt_aarch64_4k_48, 0, 0x80000000, R, 0x8, -ENOTSUP},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R, 0x04, -ENOTSUP},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R, 0x14, -ENOTSUP},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R, 0x3c, -ENOTSUP},
    {&physim_fmt_armv7_short, 0, 0x80000000, R, 0x04, -ENOTSUP},
    {&physim_fmt_armv7_short, 0, 0x80000000, R, 0x40, -ENOTSUP},
    {&physim_fmt_armv7_short, 0, 0x80000000, R, 0x4c, -ENOTSUP},
    {&physim_fmt_aarch64_4k_48, 0, 0x80000000, R | DV, 0x8, -ENOTSUP},
    {&physim_fmt_aarch64_4k_48, 0, 0x80000000, R | NC, 0x4, -ENOTSUP},
    {&physim_fmt_aarch64_4k_48, 0, 0x80000000, R | NC, 0x1c, -ENOTSUP},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | DV, 0x3c, -ENOTSUP},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | NC, 0x3c, -ENOTSUP},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R | NC, 0x04, -ENOTSUP},
    {&physim_fmt_armv7_short, 0, 0x80000000, R | DV, 0x4c, -ENOTSUP},
    {&physim_fmt_armv7_short, 0, 0x80000000, R | NC, 0x04, -ENOTSUP},
    /* reserved memory types: stage 2 MemAttr 0b0100/0b1000/0b1100 (inner
     * 0b00 with a normal outer); short TEX:C:B 001:0:1, 001:1:0, 010:x:1, 011 */
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R, 0x10, -ENOTSUP},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R, 0x20, -ENOTSUP},
    {&physim_fmt_aarch64_s2_4k_48, 0, 0x80000000, R, 0x30, -ENOTSUP},
    {&physim_fmt_armv7_short, 0, 0x80000000, R, 0x44, -ENOTSUP},
    {&physim_fmt_armv7_short, 0, 0x80000000, R, 0x48, -ENOTSUP},
    {&physim_fmt_armv7_short, 0, 0x80000000, R, 0x84, -ENOTSUP},
    {&physim_fmt_armv7_short, 0, 0x80000000, R, 0xc0, -ENOTSUP},
};

static void test_rejections(void **state)
{
	for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
		const struct reject *r = &rejects[i];
		uint64_t d;
		int rc = encode(r->f, r->pa, r->flags, r->arch, true, r->level, &d);
		if (rc != r->rc)
			print_error("%s reject #%zu: rc %d, expected %d\n", r->f->name, i, rc,
				    r->rc);
		assert_int_equal(rc, r->rc);
		assert_int_equal(d, 0xdeadbeefdeadbeef); /* nothing written */
	}
}

/* ---- arch bits: accepted values and what decode reports ---- */

static void test_arch_bits(void **state)
{
	const struct physim_pt_format *f = &physim_fmt_aarch64_4k_48;
	struct pt_leaf_attr a;
	uint64_t d;

	/* every AttrIndx with no memory-type flag: raw in bits 4:2, except 1
	 * and 2, Device and Normal NC in the default MAIR: those are the
	 * flags' (-ENOTSUP raw); index 0 is the default (arch 0) */
	for (unsigned idx = 0; idx < 8; idx++) {
		int rc = encode(f, 0x80000000, R | W, (uint64_t)idx << 2, true, 0, &d);
		if (idx == 1 || idx == 2) {
			assert_int_equal(rc, -ENOTSUP);
			d = UINT64_C(0x0060000080000703) | ((uint64_t)idx << 2);
		} else {
			assert_int_equal(rc, 0);
		}
		assert_int_equal(d, UINT64_C(0x0060000080000703) | ((uint64_t)idx << 2));
		a = decode(f, d, 0);
		assert_int_equal(a.arch, idx <= 2 ? 0 : (uint64_t)idx << 2);
		assert_int_equal(a.flags, R | W | (idx == 1 ? DV : idx == 2 ? NC : 0));
	}
	/* SH: 0 -> inner (0b11), 0b10 outer, 0b11 inner; decode reports SH only
	 * when it is not the default */
	assert_int_equal(encode(f, 0x80000000, R, 0x200, true, 1, &d), 0);
	assert_int_equal(d, UINT64_C(0x0060000080000681));
	assert_int_equal(decode(f, d, 1).arch, 0x200);
	assert_int_equal(encode(f, 0x80000000, R, 0x300, true, 1, &d), 0);
	assert_int_equal(d, UINT64_C(0x0060000080000781));
	assert_int_equal(decode(f, d, 1).arch, 0);
	/* nG on a 1G block */
	assert_int_equal(encode(f, 0x80000000, R | W, 0x800, true, 2, &d), 0);
	assert_int_equal(d, UINT64_C(0x0060000080000f01));
	assert_int_equal(decode(f, d, 2).arch, 0x800);

	/* stage 2: every MemAttr. 0001 (Device-nGnRE) is DEVICE's, 0101
	 * (Normal NC) UNCACHED's, 1111 (Normal WB) the default's: refused raw,
	 * and decoded as the flag with arch 0; the other legal values are
	 * given and read back raw, with no flag; MemAttr 0 in arch means "not
	 * given". */
	f = &physim_fmt_aarch64_s2_4k_48;
	for (unsigned m = 1; m < 16; m++) {
		int rc = encode(f, 0x80000000, R, (uint64_t)m << 2, true, 0, &d);
		bool named = m == 1 || m == 5 || m == 15;
		if (((m & 0xc) != 0 && (m & 3) == 0) || named) {
			assert_int_equal(rc, -ENOTSUP);
			if (!named)
				continue;
			d = UINT64_C(0x0040000080000743) | ((uint64_t)m << 2);
		} else {
			assert_int_equal(rc, 0);
		}
		assert_int_equal(d, UINT64_C(0x0040000080000743) | ((uint64_t)m << 2));
		a = decode(f, d, 0);
		assert_int_equal(a.flags, R | (m == 1 ? DV : m == 5 ? NC : 0));
		assert_int_equal(a.arch, named ? 0 : (uint64_t)m << 2);
	}
	assert_int_equal(encode(f, 0x80000000, R, 0, true, 0, &d), 0);
	assert_int_equal((d >> 2) & 0xf, 0xf);

	/* short descriptor: TEX 1BB (cacheable, outer BB, inner CB) on a section
	 * moves TEX to bits 14:12; nG to bit 17 */
	f = &physim_fmt_armv7_short;
	assert_int_equal(encode(f, 0x80100000, R | W, 0x1c8 | 0x800, true, 1, &d), 0);
	/* TEX 111 -> 0x7000, C -> 0x8, B 0 */
	assert_int_equal(d, 0x8011741a | 0x20000);
	a = decode(f, d, 1);
	assert_int_equal(a.arch, 0x1c8 | 0x800);
	/* the implied types read back as 0: Normal WB-WA, Shareable Device */
	assert_int_equal(decode(f, 0x8000145f, 0).arch, 0);
	assert_int_equal(decode(f, 0x80001417, 0).arch, 0);
	assert_int_equal(decode(f, 0x8011141e, 1).arch, 0);
	assert_int_equal(a.flags, R | W);
	/* strongly-ordered (TEX 000 C 0 B 0) decodes as DEVICE */
	a = decode(f, 0x80001412, 0);
	assert_int_equal(a.flags, R | W | X | DV);
	assert_int_equal(a.arch, 0);
}

/* ---- classify ---- */

static void test_classify(void **state)
{
	const struct physim_pt_format *f = &physim_fmt_aarch64_4k_48;

	/* bit 0 clear: invalid whatever else is set */
	for (unsigned level = 0; level < 4; level++) {
		assert_int_equal(f->ops->classify(f, 0, level), PT_INVALID);
		assert_int_equal(f->ops->classify(f, UINT64_C(0x0060000080000702), level),
				 PT_INVALID);
		assert_int_equal(f->ops->classify(f, UINT64_C(0xfffffffffffffffe), level),
				 PT_INVALID);
	}
	/* lookup level 0 (root): table only; a block is a Translation fault */
	assert_int_equal(f->ops->classify(f, 0x80003003, 3), PT_TABLE);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060008000000701), 3), PT_RESERVED);
	/* lookup levels 1 and 2: table or block */
	assert_int_equal(f->ops->classify(f, 0x80003003, 2), PT_TABLE);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060000040000701), 2), PT_LEAF);
	assert_int_equal(f->ops->classify(f, 0x80003003, 1), PT_TABLE);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060000040200701), 1), PT_LEAF);
	/* lookup level 3: 0b11 page; 0b01 is "reserved, invalid" and behaves as
	 * invalid (D8.3 level 3 descriptor encodings) */
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060000080001703), 0), PT_LEAF);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060000080001701), 0), PT_INVALID);
	/* RES0 bits 49:48 (OA[49:48] only under LPA2 with DS = 1) */
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0061000080001703), 0), PT_RESERVED);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0062000080001703), 0), PT_RESERVED);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0001000080003003), 2), PT_RESERVED);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0062000040000701), 2), PT_RESERVED);
	/* software bits 58:55, DBM, contiguous and the table attribute bits do
	 * not change the kind */
	assert_int_equal(f->ops->classify(f, UINT64_C(0x07e8000080001703), 0), PT_LEAF);
	assert_int_equal(f->ops->classify(f, UINT64_C(0xf800000080003003), 3), PT_TABLE);
	/* bit 12 is an address bit with a 4K granule */
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060000080001703), 0), PT_LEAF);

	/* 4K/39: the root is lookup level 1, blocks allowed there */
	f = &physim_fmt_aarch64_4k_39;
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060000040000701), 2), PT_LEAF);

	/* 16K: blocks only at lookup level 2; a level 1 block needs LPA2 */
	f = &physim_fmt_aarch64_16k_47;
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060001000000701), 2), PT_RESERVED);
	assert_int_equal(f->ops->classify(f, 0x80004003, 2), PT_TABLE);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060000082000701), 1), PT_LEAF);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060000080004703), 0), PT_LEAF);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060000080004701), 0), PT_INVALID);

	/* 64K: a level 1 block needs LPA; bits 15:12 are OA[51:48] with FEAT_LPA,
	 * beyond the 48-bit PA: Address size fault */
	f = &physim_fmt_aarch64_64k_48;
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060040000000701), 2), PT_RESERVED);
	assert_int_equal(f->ops->classify(f, 0x80010003, 2), PT_TABLE);
	assert_int_equal(f->ops->classify(f, 0x80011003, 2), PT_RESERVED);
	assert_int_equal(f->ops->classify(f, 0x80018003, 1), PT_RESERVED);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060000020000701), 1), PT_LEAF);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060000020001701), 1), PT_RESERVED);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x0060000080010703), 0), PT_LEAF);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x006000008001f703), 0), PT_RESERVED);

	/* stage 2 */
	f = &physim_fmt_aarch64_s2_4k_40;
	assert_int_equal(f->ops->classify(f, UINT64_C(0x00400080000007fd), 2), PT_LEAF);
	assert_int_equal(f->ops->classify(f, 0x80006003, 2), PT_TABLE);
	assert_int_equal(f->ops->classify(f, UINT64_C(0x00000000800007fd), 0), PT_INVALID);
	f = &physim_fmt_aarch64_s2_4k_48;
	assert_int_equal(f->ops->classify(f, UINT64_C(0x00000080000007fd), 3), PT_RESERVED);
	assert_int_equal(f->ops->classify(f, 0x80007003, 3), PT_TABLE);

	/* short descriptor, first level (G5.4): 00 fault, 01 page table, 1x
	 * section (bit 0 = PXN), bit 18 set: supersection (a grouped leaf) */
	f = &physim_fmt_armv7_short;
	assert_int_equal(f->ops->classify(f, 0, 1), PT_INVALID);
	assert_int_equal(f->ops->classify(f, 0xfffffffc, 1), PT_INVALID);
	assert_int_equal(f->ops->classify(f, 0x80002001, 1), PT_TABLE);
	assert_int_equal(f->ops->classify(f, 0x8011141e, 1), PT_LEAF);
	assert_int_equal(f->ops->classify(f, 0x8011141f, 1), PT_LEAF);
	assert_int_equal(f->ops->classify(f, 0x80050402, 1), PT_LEAF);
	assert_int_equal(f->ops->classify(f, 0x80050403, 1), PT_LEAF);
	/* second level: 00 fault, 01 large page (a grouped leaf), 1x small page */
	assert_int_equal(f->ops->classify(f, 0x80001000, 0), PT_INVALID);
	assert_int_equal(f->ops->classify(f, 0x80000001, 0), PT_LEAF);
	assert_int_equal(f->ops->classify(f, 0x8000145f, 0), PT_LEAF);
	assert_int_equal(f->ops->classify(f, 0x8000145e, 0), PT_LEAF);
}

/* Descriptors physim does not write still decode by the manual's rules. */
static void test_decode_foreign(void **state)
{
	const struct physim_pt_format *f = &physim_fmt_aarch64_4k_48;
	struct pt_leaf_attr a;

	/* EL1 page with PXN = UXN = 0: executable at EL1 (UXN only matters to EL0) */
	a = decode(f, 0x80001703, 0);
	assert_int_equal(a.flags, R | W | X);
	/* EL0 page with PXN = 0, UXN = 0: executable at EL0 */
	a = decode(f, 0x80001743, 0);
	assert_int_equal(a.flags, R | W | U | X);
	/* EL0 page with PXN = 0, UXN = 1: not executable at EL0 */
	a = decode(f, UINT64_C(0x0040000080001743), 0);
	assert_int_equal(a.flags, R | W | U);
	/* DBM and contiguous are ignored (HD = 0); dirty is never reported */
	a = decode(f, UINT64_C(0x0078000080001783), 0);
	assert_int_equal(a.flags, R);
	assert_false(a.dirty);
	assert_int_equal(a.arch, 0);
	/* non-shareable (SH 00), which physim never writes, reads back as SH 0 */
	a = decode(f, UINT64_C(0x0060000080001483), 0);
	assert_int_equal(a.arch, 0);
	/* AF clear */
	a = decode(f, UINT64_C(0x0060000080001383), 0);
	assert_false(a.accessed);

	/* stage 2 with FEAT_XNX XN[1:0] = 0b01 or 0b11: not executable everywhere */
	f = &physim_fmt_aarch64_s2_4k_48;
	a = decode(f, UINT64_C(0x00200000800007ff), 0);
	assert_int_equal(a.flags, R | W);
	a = decode(f, UINT64_C(0x00600000800007ff), 0);
	assert_int_equal(a.flags, R | W);
	/* Device-nGnRnE (MemAttr 0000) */
	a = decode(f, UINT64_C(0x00400000800007c3), 0);
	assert_int_equal(a.flags, R | W | DV);
	assert_int_equal(a.arch, 0);

	/* short section with PXN = 1, XN = 0: not executable at PL1; a PL0
	 * mapping still is */
	f = &physim_fmt_armv7_short;
	a = decode(f, 0x8011140f, 1);
	assert_int_equal(a.flags, R | W);
	a = decode(f, 0x80119c0f, 1);
	assert_int_equal(a.flags, R | U | X);
}

/* ---- through the engine: the bytes physim_pt_map leaves in RAM ---- */

struct rig {
	struct tc_env env; /* RAM, handler, direct map (tests/common/env.h) */
	struct physim_pt *pt;
};

static void rig_open(struct rig *r, const struct physim_pt_format *f)
{
	tc_env_open(&r->env, 0x80000000, UINT64_C(256) << 20);
	assert_int_equal(physim_pt_create(f, r->env.ph, &r->pt), 0);
}

/* Destroying the table returns every table frame. */
static void rig_close(struct rig *r)
{
	physim_pt_destroy(r->pt);
	assert_int_equal(physim_ram_stats(r->env.ram).used_frames, 0);
	tc_env_close(&r->env);
}

static uint64_t ram_pte(const struct rig *r, uint64_t table_pa, uint64_t byte_off,
			unsigned pte_bytes)
{
	return tc_get_entry(&r->env, table_pa + byte_off, pte_bytes);
}

/* A table descriptor written by the engine: address | 0b11 and nothing else
 * (D8.3); the address is a table_bytes-aligned table inside RAM. Returns it. */
static uint64_t a64_next_table(const struct rig *r, uint64_t d, uint64_t table_bytes)
{
	uint64_t pa = d & UINT64_C(0x0000fffffffff000);
	assert_int_equal(d & ~UINT64_C(0x0000fffffffff000), 3);
	assert_int_equal(pa % table_bytes, 0);
	assert_true(pa >= 0x80000000 && pa + table_bytes <= 0x80000000 + (UINT64_C(256) << 20));
	return pa;
}

static void expect_query(const struct rig *r, uint64_t va, uint64_t pa, uint64_t size,
			 uint32_t flags)
{
	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(r->pt, va, &m), 0);
	assert_int_equal(m.va, va & ~(size - 1));
	assert_int_equal(m.pa, pa);
	assert_int_equal(m.size, size);
	assert_int_equal(m.flags, flags);
	assert_int_equal(m.arch, 0);
	assert_true(m.accessed);
}

static void test_engine_4k_48(void **state)
{
	struct rig r;
	rig_open(&r, &physim_fmt_aarch64_4k_48);
	uint64_t root = physim_pt_root(r.pt);
	assert_int_equal(physim_pt_table_frames(r.pt), 1);

	/* the top page of the TTBR0 range: indexes 255, 511, 511, 511 */
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(0x7ffffffff000), 0x90000000, 4096, R | W | U),
			 0);
	uint64_t l1 = a64_next_table(&r, ram_pte(&r, root, 255 * 8, 8), 4096);
	uint64_t l2 = a64_next_table(&r, ram_pte(&r, l1, 511 * 8, 8), 4096);
	uint64_t l3 = a64_next_table(&r, ram_pte(&r, l2, 511 * 8, 8), 4096);
	assert_int_equal(ram_pte(&r, l3, 511 * 8, 8), UINT64_C(0x0060000090000743));
	assert_int_equal(ram_pte(&r, l3, 510 * 8, 8), 0);
	assert_int_equal(ram_pte(&r, root, 254 * 8, 8), 0);
	expect_query(&r, UINT64_C(0x7ffffffff123), 0x90000000, 4096, R | W | U);

	/* a 2M block (L0 0, L1 1, L2 1) and a 1G block (L1 2) */
	assert_int_equal(physim_pt_map(r.pt, 0x40200000, 0x40200000, 2u << 20, R | X), 0);
	assert_int_equal(physim_pt_map(r.pt, 0x80000000, 0x140000000, 1u << 30, R | W), 0);
	uint64_t l1b = a64_next_table(&r, ram_pte(&r, root, 0, 8), 4096);
	uint64_t l2b = a64_next_table(&r, ram_pte(&r, l1b, 1 * 8, 8), 4096);
	assert_int_equal(ram_pte(&r, l2b, 1 * 8, 8), UINT64_C(0x0040000040200781));
	assert_int_equal(ram_pte(&r, l1b, 2 * 8, 8), UINT64_C(0x0060000140000701));
	expect_query(&r, 0x40300000, 0x40200000, 2u << 20, R | X);
	expect_query(&r, 0xbfffffff, 0x140000000, 1u << 30, R | W);
	assert_int_equal(physim_pt_table_frames(r.pt), 6);

	/* no level-0 blocks, nothing above the 48-bit TTBR0 range */
	assert_int_equal(physim_pt_map(r.pt, 0, 0, UINT64_C(1) << 39, R), -EINVAL);
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(1) << 48, 0x90000000, 4096, R), -EINVAL);
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(0xffff800000000000), 0x90000000, 4096, R),
			 -EINVAL);
	assert_int_equal(physim_pt_map(r.pt, 0x1000, UINT64_C(1) << 48, 4096, R), -EINVAL);
	assert_int_equal(physim_pt_map(r.pt, 0x1000, 0x90000000, 4096, W), -ENOTSUP);

	/* protect through the flags changes the memory type: Device -> NC */
	assert_int_equal(physim_pt_map(r.pt, 0x3000, 0x90003000, 4096, R | W | DV), 0);
	uint64_t l3c = a64_next_table(
	    &r, ram_pte(&r, a64_next_table(&r, ram_pte(&r, l1b, 0, 8), 4096), 0, 8), 4096);
	assert_int_equal(ram_pte(&r, l3c, 3 * 8, 8), UINT64_C(0x0060000090003707));
	assert_int_equal(physim_pt_protect(r.pt, 0x3000, R | W | NC), 0);
	assert_int_equal(ram_pte(&r, l3c, 3 * 8, 8), UINT64_C(0x006000009000370b));
	assert_int_equal(physim_pt_protect(r.pt, 0x3000, R | U | X), 0);
	assert_int_equal(ram_pte(&r, l3c, 3 * 8, 8), UINT64_C(0x00200000900037c3));
	expect_query(&r, 0x3000, 0x90003000, 4096, R | U | X);

	/* arch bits through map_ex: AttrIndx 4, SH outer, nG */
	struct physim_pt_mapping m = {
	    .va = 0x5000, .pa = 0x90005000, .size = 4096, .flags = R | W, .arch = 0xa10};
	assert_int_equal(physim_pt_map_ex(r.pt, &m, 0), 0);
	assert_int_equal(ram_pte(&r, l3c, 5 * 8, 8), UINT64_C(0x0060000090005e13));
	struct physim_pt_mapping q;
	assert_int_equal(physim_pt_query(r.pt, 0x5000, &q), 0);
	assert_int_equal(q.arch, 0xa10);
	assert_int_equal(q.flags, R | W);

	/* splitting the 2M block keeps its attributes in 512 pages */
	assert_int_equal(physim_pt_unmap_region(r.pt, 0x40200000, 4096), 0);
	uint64_t l3s = a64_next_table(&r, ram_pte(&r, l2b, 1 * 8, 8), 4096);
	assert_int_equal(ram_pte(&r, l3s, 0, 8), 0);
	assert_int_equal(ram_pte(&r, l3s, 1 * 8, 8), UINT64_C(0x0040000040201783));
	assert_int_equal(ram_pte(&r, l3s, 511 * 8, 8), UINT64_C(0x00400000403ff783));
	rig_close(&r);
}

static void test_engine_4k_39(void **state)
{
	struct rig r;
	rig_open(&r, &physim_fmt_aarch64_4k_39);
	uint64_t root = physim_pt_root(r.pt);

	/* the root is lookup level 1: a 1G block sits in it */
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(0x7fc0000000), 0x40000000, 1u << 30, R), 0);
	assert_int_equal(ram_pte(&r, root, 511 * 8, 8), UINT64_C(0x0060000040000781));
	assert_int_equal(physim_pt_map(r.pt, 0x1000, 0x90001000, 4096, R | W | U | X), 0);
	uint64_t l2 = a64_next_table(&r, ram_pte(&r, root, 0, 8), 4096);
	uint64_t l3 = a64_next_table(&r, ram_pte(&r, l2, 0, 8), 4096);
	assert_int_equal(ram_pte(&r, l3, 1 * 8, 8), UINT64_C(0x0020000090001743));
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(1) << 39, 0x90000000, 4096, R), -EINVAL);
	rig_close(&r);
}

static void test_engine_16k_47(void **state)
{
	struct rig r;
	rig_open(&r, &physim_fmt_aarch64_16k_47);
	uint64_t root = physim_pt_root(r.pt);
	/* a 2048-entry, 16 KiB root, 16 KiB aligned */
	assert_int_equal(root % 16384, 0);
	assert_int_equal(physim_pt_table_frames(r.pt), 4);

	/* the last 16K page of the 47-bit range: indexes 2047, 2047, 2047 */
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(0x7fffffffc000), 0x90004000, 16384, R | W),
			 0);
	uint64_t l2 = a64_next_table(&r, ram_pte(&r, root, 2047 * 8, 8), 16384);
	uint64_t l3 = a64_next_table(&r, ram_pte(&r, l2, 2047 * 8, 8), 16384);
	assert_int_equal(ram_pte(&r, l3, 2047 * 8, 8), UINT64_C(0x0060000090004703));
	assert_int_equal(ram_pte(&r, l3, 2046 * 8, 8), 0);
	assert_int_equal(physim_pt_table_frames(r.pt), 12);
	expect_query(&r, UINT64_C(0x7fffffffdfff), 0x90004000, 16384, R | W);

	/* 32M blocks from map_region with ALLOW_HUGE: L2 entries 2 and 3 */
	assert_int_equal(
	    physim_pt_map_region(r.pt, 0x4000000, 0x84000000, 64u << 20, R | U, PHYSIM_ALLOW_HUGE),
	    0);
	uint64_t l2b = a64_next_table(&r, ram_pte(&r, root, 0, 8), 16384);
	assert_int_equal(ram_pte(&r, l2b, 2 * 8, 8), UINT64_C(0x00600000840007c1));
	assert_int_equal(ram_pte(&r, l2b, 3 * 8, 8), UINT64_C(0x00600000860007c1));
	expect_query(&r, 0x6000000, 0x86000000, 32u << 20, R | U);

	/* 4K is not a page size with a 16K granule; 64G blocks need LPA2 */
	assert_int_equal(physim_pt_map(r.pt, 0x10000000, 0x90000000, 4096, R), -EINVAL);
	assert_int_equal(physim_pt_map(r.pt, 0, 0, UINT64_C(1) << 36, R), -EINVAL);
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(1) << 47, 0x90000000, 16384, R), -EINVAL);
	rig_close(&r);
}

static void test_engine_64k_48(void **state)
{
	struct rig r;
	rig_open(&r, &physim_fmt_aarch64_64k_48);
	uint64_t root = physim_pt_root(r.pt);
	/* a 64-entry (512-byte) root in one frame */
	assert_int_equal(physim_pt_table_frames(r.pt), 1);
	assert_int_equal(root % 4096, 0);

	/* the last 64K page: indexes 63, 8191, 8191 in 64 KiB tables */
	assert_int_equal(
	    physim_pt_map(r.pt, UINT64_C(0xffffffff0000), 0x90010000, 65536, R | W | U | X), 0);
	uint64_t l2 = a64_next_table(&r, ram_pte(&r, root, 63 * 8, 8), 65536);
	uint64_t l3 = a64_next_table(&r, ram_pte(&r, l2, 8191 * 8, 8), 65536);
	assert_int_equal(ram_pte(&r, l3, 8191 * 8, 8), UINT64_C(0x0020000090010743));
	assert_int_equal(physim_pt_table_frames(r.pt), 33);
	expect_query(&r, UINT64_C(0xffffffffffff), 0x90010000, 65536, R | W | U | X);

	/* a 512M block at L2 index 1 */
	assert_int_equal(physim_pt_map(r.pt, 0x20000000, 0x20000000, 512u << 20, R), 0);
	uint64_t l2b = a64_next_table(&r, ram_pte(&r, root, 0, 8), 65536);
	assert_int_equal(ram_pte(&r, l2b, 1 * 8, 8), UINT64_C(0x0060000020000781));
	assert_int_equal(physim_pt_table_frames(r.pt), 49);
	expect_query(&r, 0x3fffffff, 0x20000000, 512u << 20, R);

	/* no 4T level-1 blocks without LPA; 4K is not a page here */
	assert_int_equal(physim_pt_map(r.pt, 0, 0, UINT64_C(1) << 42, R), -EINVAL);
	assert_int_equal(physim_pt_map(r.pt, 0x40000000, 0x90000000, 4096, R), -EINVAL);
	rig_close(&r);
}

/* Stage 2, 40-bit IPA: the 8 KiB concatenated root; IPAs from 2^39 index the
 * second 4 KiB half (entries 512-1023). */
static void test_engine_s2_4k_40(void **state)
{
	struct rig r;
	rig_open(&r, &physim_fmt_aarch64_s2_4k_40);
	uint64_t root = physim_pt_root(r.pt);
	assert_int_equal(root % 8192, 0);
	assert_int_equal(physim_pt_table_frames(r.pt), 2);

	/* 1G block at IPA 2^39: entry 512, byte 4096 */
	assert_int_equal(
	    physim_pt_map(r.pt, UINT64_C(0x8000000000), 0x100000000, 1u << 30, R | W | X), 0);
	assert_int_equal(ram_pte(&r, root, 4096, 8), UINT64_C(0x00000001000007fd));
	/* the last page of the IPA space: entry 1023 (byte 8184), 511, 511 */
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(0xfffffff000), 0x90000000, 4096, W), 0);
	uint64_t l2 = a64_next_table(&r, ram_pte(&r, root, 8184, 8), 4096);
	uint64_t l3 = a64_next_table(&r, ram_pte(&r, l2, 511 * 8, 8), 4096);
	assert_int_equal(ram_pte(&r, l3, 511 * 8, 8), UINT64_C(0x00400000900007bf));
	/* the last page below 2^39: entry 511 (byte 4088), the first table */
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(0x7ffffff000), 0x90001000, 4096, R | U), 0);
	l2 = a64_next_table(&r, ram_pte(&r, root, 4088, 8), 4096);
	l3 = a64_next_table(&r, ram_pte(&r, l2, 511 * 8, 8), 4096);
	assert_int_equal(ram_pte(&r, l3, 511 * 8, 8), UINT64_C(0x004000009000177f));
	assert_int_equal(ram_pte(&r, root, 4080, 8), 0);
	assert_int_equal(ram_pte(&r, root, 4104, 8), 0);

	/* U is not reported at stage 2 */
	expect_query(&r, UINT64_C(0x7ffffff000), 0x90001000, 4096, R);
	expect_query(&r, UINT64_C(0xfffffff000), 0x90000000, 4096, W);
	expect_query(&r, UINT64_C(0x8012345678), 0x100000000, 1u << 30, R | W | X);

	/* all four S2AP values through the engine: bits 7:6 = W:R */
	static const uint32_t perms[4] = {0, R, W, R | W};
	for (unsigned i = 0; i < 4; i++) {
		uint64_t ipa = 0x10000 + i * 4096;
		assert_int_equal(physim_pt_map(r.pt, ipa, 0x90010000 + i * 4096, 4096, perms[i]),
				 0);
		expect_query(&r, ipa, 0x90010000 + i * 4096, 4096, perms[i]);
	}
	l2 = a64_next_table(&r, ram_pte(&r, root, 0, 8), 4096);
	l3 = a64_next_table(&r, ram_pte(&r, l2, 0, 8), 4096);
	assert_int_equal(ram_pte(&r, l3, 16 * 8, 8), UINT64_C(0x004000009001073f));
	assert_int_equal(ram_pte(&r, l3, 17 * 8, 8), UINT64_C(0x004000009001177f));
	assert_int_equal(ram_pte(&r, l3, 18 * 8, 8), UINT64_C(0x00400000900127bf));
	assert_int_equal(ram_pte(&r, l3, 19 * 8, 8), UINT64_C(0x00400000900137ff));

	assert_int_equal(physim_pt_map(r.pt, UINT64_C(1) << 40, 0x90000000, 4096, R), -EINVAL);
	rig_close(&r);
}

static void test_engine_s2_4k_48(void **state)
{
	struct rig r;
	rig_open(&r, &physim_fmt_aarch64_s2_4k_48);
	uint64_t root = physim_pt_root(r.pt);

	assert_int_equal(
	    physim_pt_map(r.pt, UINT64_C(0xffffffe00000), 0x80200000, 2u << 20, R | W | DV), 0);
	uint64_t l1 = a64_next_table(&r, ram_pte(&r, root, 511 * 8, 8), 4096);
	uint64_t l2 = a64_next_table(&r, ram_pte(&r, l1, 511 * 8, 8), 4096);
	assert_int_equal(ram_pte(&r, l2, 511 * 8, 8), UINT64_C(0x00400000802007c5));
	expect_query(&r, UINT64_C(0xffffffffffff), 0x80200000, 2u << 20, R | W | DV);
	assert_int_equal(physim_pt_map(r.pt, 0, 0, UINT64_C(1) << 39, R), -EINVAL);
	rig_close(&r);
}

/* Short descriptor: 4-byte entries, a 16 KiB first-level table, 1 KiB
 * second-level tables in 4 KiB frames. */
static void test_engine_armv7(void **state)
{
	struct rig r;
	rig_open(&r, &physim_fmt_armv7_short);
	uint64_t root = physim_pt_root(r.pt);
	assert_int_equal(root % 16384, 0);
	assert_int_equal(physim_pt_table_frames(r.pt), 4);

	/* section at VA 0x10000000: entry 0x100, byte 0x400 */
	assert_int_equal(physim_pt_map(r.pt, 0x10000000, 0x80100000, 1u << 20, R | W), 0);
	assert_int_equal(ram_pte(&r, root, 0x400, 4), 0x8011141e);
	assert_int_equal(ram_pte(&r, root, 0x3fc, 4), 0);
	assert_int_equal(ram_pte(&r, root, 0x404, 4), 0);

	/* small page at VA 0x20001000: L1 entry 0x200 (byte 0x800), L2 entry 1 */
	assert_int_equal(physim_pt_map(r.pt, 0x20001000, 0x80001000, 4096, R | W | U | X), 0);
	uint32_t tbl = (uint32_t)ram_pte(&r, root, 0x800, 4);
	assert_int_equal(tbl & 0x3ff, 1); /* page table, domain 0, NS 0, PXN 0 */
	uint64_t l2 = tbl & 0xfffffc00u;
	assert_int_equal(l2 % 4096, 0);
	assert_int_equal(ram_pte(&r, l2, 4, 4), 0x8000147e);
	assert_int_equal(ram_pte(&r, l2, 0, 4), 0);
	assert_int_equal(ram_pte(&r, l2, 8, 4), 0);
	assert_int_equal(physim_pt_table_frames(r.pt), 5);
	expect_query(&r, 0x20001fff, 0x80001000, 4096, R | W | U | X);
	expect_query(&r, 0x100fffff, 0x80100000, 1u << 20, R | W);

	/* the last small page of the 32-bit space: L1 entry 4095, L2 entry 255 */
	assert_int_equal(physim_pt_map(r.pt, 0xfffff000, 0xfffff000, 4096, R | DV), 0);
	tbl = (uint32_t)ram_pte(&r, root, 4095 * 4, 4);
	assert_int_equal(ram_pte(&r, tbl & 0xfffffc00u, 255 * 4, 4), 0xfffff617);

	/* splitting a section gives small pages with the same meaning */
	assert_int_equal(physim_pt_unmap_region(r.pt, 0x10000000, 4096), 0);
	tbl = (uint32_t)ram_pte(&r, root, 0x400, 4);
	assert_int_equal(tbl & 0x3ff, 1);
	assert_int_equal(ram_pte(&r, tbl & 0xfffffc00u, 0, 4), 0);
	assert_int_equal(ram_pte(&r, tbl & 0xfffffc00u, 4, 4), 0x8010145f);
	assert_int_equal(ram_pte(&r, tbl & 0xfffffc00u, 255 * 4, 4), 0x801ff45f);

	assert_int_equal(physim_pt_map(r.pt, UINT64_C(0x100000000), 0x80000000, 4096, R), -EINVAL);
	assert_int_equal(physim_pt_map(r.pt, 0x30000000, UINT64_C(0x100000000), 4096, R), -EINVAL);
	rig_close(&r);
}

/* Every flag subset through map + query at every page size of every format:
 * what the format can express comes back exactly, the rest is -ENOTSUP. */
static void test_engine_flag_subsets(void **state)
{
	const struct physim_pt_format *all[N_A64 + 1];
	memcpy(all, a64_formats, sizeof(a64_formats));
	all[N_A64] = &physim_fmt_armv7_short;

	for (size_t i = 0; i < N_A64 + 1; i++) {
		const struct physim_pt_format *f = all[i];
		struct rig r;
		rig_open(&r, f);
		for (unsigned level = 0; level < f->levels; level++) {
			if (!f->level[level].leaf_ok)
				continue;
			uint64_t size = UINT64_C(1) << f->level[level].shift;
			for (uint32_t flags = 0; flags < 64; flags++) {
				uint64_t va = size * (64 * level + flags + 1);
				int rc = physim_pt_map(r.pt, va, 0, size, flags);
				if (!expect_supported(f, flags)) {
					assert_int_equal(rc, -ENOTSUP);
					assert_int_equal(physim_pt_query(r.pt, va, NULL), -ENOENT);
					continue;
				}
				assert_int_equal(rc, 0);
				expect_query(&r, va, 0, size, strip_u_on_stage2(f, flags));
			}
		}
		rig_close(&r);
	}
}

/* ---- 52-bit formats (FEAT_LPA2 with DS = 1, FEAT_LPA 64K) ----
 * The address bits of a descriptor, from the Arm ARM D8.3 tables for a 52-bit
 * OA: with DS = 1 (4K/16K) bits 49:granule hold OA[49:granule] and bits 9:8
 * OA[51:50], and there is no SH field; with the 64K granule and FEAT_LPA bits
 * 47:16 hold OA[47:16] and bits 15:12 OA[51:48]. Everything else in a
 * descriptor means what it means in the 48-bit sibling format. */

struct f52 {
	const struct physim_pt_format *f, *sibling; /* the 48-bit format alike */
	unsigned granule_shift, levels;
	bool ds;
};

static const struct f52 f52s[] = {
    {&physim_fmt_aarch64_4k_52, &physim_fmt_aarch64_4k_48, 12, 5, true},
    {&physim_fmt_aarch64_16k_52, &physim_fmt_aarch64_16k_47, 14, 4, true},
    {&physim_fmt_aarch64_64k_52, &physim_fmt_aarch64_64k_48, 16, 3, false},
    {&physim_fmt_aarch64_s2_4k_52, &physim_fmt_aarch64_s2_4k_48, 12, 5, true},
};
#define N_F52 (sizeof(f52s) / sizeof(f52s[0]))

static uint64_t bits(unsigned hi, unsigned lo)
{
	return (~UINT64_C(0) >> (63 - hi)) & ~((UINT64_C(1) << lo) - 1);
}

static uint64_t oa_bits_52(const struct f52 *t, uint64_t pa, unsigned low)
{
	if (t->ds)
		return (pa & bits(49, low)) | (((pa >> 50) & 3) << 8);
	return (pa & bits(47, low)) | (((pa >> 48) & 0xf) << 12);
}

/* Lowest VA bit of engine level n: granule + n * (granule - 3) (D8.2). */
static unsigned shift_52(const struct f52 *t, unsigned n)
{
	return t->granule_shift + n * (t->granule_shift - 3);
}

static void check_geometry_52(const struct f52 *t)
{
	const struct physim_pt_format *f = t->f;

	assert_int_equal(f->levels, t->levels);
	assert_int_equal(f->va_bits, 52);
	assert_int_equal(f->pa_bits, 52);
	for (unsigned n = 0; n < t->levels; n++) {
		assert_int_equal(f->level[n].shift, shift_52(t, n));
		unsigned top = n + 1 < t->levels ? shift_52(t, n + 1) : 52;
		assert_int_equal(f->level[n].index_bits, top - shift_52(t, n));
	}
}

/* Every flag subset at every leaf level, at the highest 52-bit address: the
 * address bits where the manual puts them, the rest as in the sibling. */
static void round_trip_52(const struct f52 *t)
{
	const struct physim_pt_format *f = t->f, *s = t->sibling;

	for (unsigned level = 0; level < f->levels; level++) {
		if (!f->level[level].leaf_ok)
			continue;
		unsigned low = f->level[level].shift;
		uint64_t pa = bits(51, low);
		for (uint32_t flags = 0; flags < 64; flags++) {
			uint64_t d, d48;
			int rc = encode(f, pa, flags, 0, true, level, &d);
			if (!expect_supported(f, flags)) {
				assert_int_equal(rc, -ENOTSUP);
				continue;
			}
			assert_int_equal(rc, 0);
			assert_int_equal(encode(s, 0, flags, 0, true, level == 0 ? 0 : 1, &d48), 0);
			if (t->ds)
				d48 &= ~UINT64_C(0x300); /* no SH in the descriptor */
			assert_int_equal(d, oa_bits_52(t, pa, low) | d48);
			assert_int_equal(f->ops->classify(f, d, level), PT_LEAF);
			assert_int_equal(f->ops->output_addr(f, d, level), pa);
			struct pt_leaf_attr a = decode(f, d, level);
			assert_int_equal(a.flags, strip_u_on_stage2(f, flags));
			assert_int_equal(a.arch, 0);
			uint64_t again;
			assert_int_equal(f->ops->encode_leaf(f, pa, &a, level, &again), 0);
			assert_int_equal(again, d);
		}
		/* beyond 52 bits, or misaligned: -EINVAL */
		uint64_t d;
		assert_int_equal(encode(f, UINT64_C(1) << 52, R, 0, true, level, &d), -EINVAL);
		assert_int_equal(encode(f, pa | (UINT64_C(1) << (low - 1)), R, 0, true, level, &d),
				 -EINVAL);
		/* DS = 1: SH is TCR's, the descriptor cannot say it */
		if (t->ds)
			assert_int_equal(encode(f, pa, R, 0x200, true, level, &d), -ENOTSUP);
	}
	/* table descriptors at every level that holds one: the address bits and
	 * 0b11, from the highest table address down */
	for (unsigned level = 1; level < f->levels; level++) {
		uint64_t tpa = bits(51, t->granule_shift);
		uint64_t d = f->ops->encode_table(f, tpa, level);
		assert_int_equal(d, oa_bits_52(t, tpa, t->granule_shift) | 3);
		assert_int_equal(f->ops->classify(f, d, level), PT_TABLE);
		assert_int_equal(f->ops->output_addr(f, d, level), tpa);
	}
}

static void test_52_geometry_round_trip(void **state)
{
	for (size_t i = 0; i < N_F52; i++) {
		check_geometry_52(&f52s[i]);
		round_trip_52(&f52s[i]);
	}
}

/* Through the engine: the top page of the 52-bit input range mapped to the
 * top page of the 52-bit output range, read back from RAM table by table
 * (indexes from the VA bits, D8.2), then the biggest block. */
static void engine_52(const struct f52 *t)
{
	const struct physim_pt_format *f = t->f;
	struct rig r;
	uint64_t g = UINT64_C(1) << t->granule_shift;
	uint64_t va = bits(51, t->granule_shift), pa = bits(51, t->granule_shift);

	rig_open(&r, f);
	assert_int_equal(physim_pt_map(r.pt, va, pa, g, R | W), 0);
	uint64_t table = physim_pt_root(r.pt), d = 0;
	for (unsigned n = t->levels - 1; n > 0; n--) {
		unsigned top = n + 1 < t->levels ? shift_52(t, n + 1) : 52;
		uint64_t idx = (va & bits(top - 1, shift_52(t, n))) >> shift_52(t, n);
		d = ram_pte(&r, table, idx * 8, 8);
		/* RAM is low: the high address bits (9:8 or 15:12) are zero */
		assert_int_equal(d & ~bits(47, t->granule_shift), 3);
		table = d & bits(47, t->granule_shift);
		assert_true(table >= 0x80000000 && table < 0x80000000 + (UINT64_C(256) << 20));
	}
	uint64_t idx = (va & bits(shift_52(t, 1) - 1, t->granule_shift)) >> t->granule_shift;
	uint64_t d48;
	assert_int_equal(encode(t->sibling, 0, R | W, 0, true, 0, &d48), 0);
	if (t->ds)
		d48 &= ~UINT64_C(0x300);
	assert_int_equal(ram_pte(&r, table, idx * 8, 8), oa_bits_52(t, pa, t->granule_shift) | d48);
	expect_query(&r, va | 0x123, pa, g, R | W);
	/* 4 KiB frames: the root's 2^(52 - top shift) entries, and a granule
	 * for each table below */
	uint64_t root_bytes = (UINT64_C(1) << (52 - shift_52(t, t->levels - 1))) * 8;
	uint64_t root_frames = root_bytes < 4096 ? 1 : root_bytes / 4096;
	assert_int_equal(physim_pt_table_frames(r.pt), root_frames + (t->levels - 1) * (g / 4096));

	/* the biggest block the format has, high in both ranges */
	unsigned big = 0;
	for (unsigned n = 0; n < t->levels; n++)
		if (f->level[n].leaf_ok)
			big = n;
	uint64_t bsz = UINT64_C(1) << f->level[big].shift;
	uint64_t bpa = bits(51, f->level[big].shift) - bsz; /* second-highest */
	assert_int_equal(physim_pt_map(r.pt, bsz, bpa, bsz, R | X), 0);
	expect_query(&r, bsz + bsz / 2, bpa, bsz, R | X);

	/* nothing beyond 52 bits either way */
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(1) << 52, pa, g, R), -EINVAL);
	assert_int_equal(physim_pt_map(r.pt, 0, UINT64_C(1) << 52, g, R), -EINVAL);
	assert_int_equal(physim_pt_unmap_region(r.pt, va, g), 0);
	assert_int_equal(physim_pt_unmap_region(r.pt, bsz, bsz), 0);
	rig_close(&r);
}

static void test_52_engine(void **state)
{
	for (size_t i = 0; i < N_F52; i++)
		engine_52(&f52s[i]);
}

/* Hand-computed descriptors (D8.3, 52-bit OA layouts). */
static void test_52_golden(void **state)
{
	const struct physim_pt_format *f = &physim_fmt_aarch64_4k_52;
	uint64_t d;

	/* 4K page at 0xB_1234_5678_9000, R|W: OA[51:50] = 0b10 -> bits 9:8 =
	 * 0x200, OA[49:12] in place (0x3123456789000), page|AF 0x403, PXN|UXN. */
	assert_int_equal(encode(f, UINT64_C(0xB123456789000), R | W, 0, true, 0, &d), 0);
	assert_int_equal(d, UINT64_C(0x0063123456789603));
	/* 512G block at lookup level 0 (engine 3), R: OA 0xA_0080_0000_0000 ->
	 * bits 49:39 0x2008000000000, bits 9:8 0b10, block|AF|AP[2] 0x481. */
	assert_int_equal(encode(f, UINT64_C(0xA008000000000), R, 0, true, 3, &d), 0);
	assert_int_equal(d, UINT64_C(0x0062008000000681));
	assert_int_equal(f->ops->output_addr(f, d, 3), UINT64_C(0xA008000000000));
	/* table at lookup level -1 (engine 4) pointing at 0xC_0000_1234_5000:
	 * NLTA[51:50] = 0b11 in bits 9:8. */
	assert_int_equal(f->ops->encode_table(f, UINT64_C(0xC000012345000), 4), 0x12345303);
	assert_int_equal(f->ops->output_addr(f, 0x12345303, 4), UINT64_C(0xC000012345000));
	/* bits 49:48 are address now, not RES0; a block at level -1 is invalid */
	assert_int_equal(f->ops->classify(f, UINT64_C(0x3000000000703), 0), PT_LEAF);
	assert_int_equal(f->ops->classify(f, 0x401, 4), PT_RESERVED);
	assert_int_equal(f->ops->classify(f, 0x401, 3), PT_LEAF);

	/* 16K granule: a 64G block at lookup level 1 (engine 2), R|W|X at EL1:
	 * OA 0x7_FFF0_0000_0000 -> OA[51:50] 0b01 in bits 9:8, bits 49:36
	 * 0x3FFF000000000, block|AF 0x501, UXN only. */
	f = &physim_fmt_aarch64_16k_52;
	assert_int_equal(encode(f, UINT64_C(0x7FFF000000000), R | W | X, 0, true, 2, &d), 0);
	assert_int_equal(d, UINT64_C(0x0043FFF000000501));
	/* 16K page at 0x4_0000_8000_4000, R|U: bits 9:8 0b01, page|AF|AP[1]|AP[2]
	 * 0x5c3, PXN|UXN. */
	assert_int_equal(encode(f, UINT64_C(0x4000080004000), R | U, 0, true, 0, &d), 0);
	assert_int_equal(d, UINT64_C(0x00600000800045c3));
	/* a level 0 block is invalid even with DS = 1 */
	assert_int_equal(f->ops->classify(f, 0x401, 3), PT_RESERVED);

	/* 64K granule, FEAT_LPA: page at 0xA_BCDE_F012_0000, R|W: OA[51:48]
	 * 0xA in bits 15:12, OA[47:16] in place, SH inner|AF|page 0x703. */
	f = &physim_fmt_aarch64_64k_52;
	assert_int_equal(encode(f, UINT64_C(0xABCDEF0120000), R | W, 0, true, 0, &d), 0);
	assert_int_equal(d, UINT64_C(0x0060BCDEF012A703));
	assert_int_equal(f->ops->output_addr(f, d, 0), UINT64_C(0xABCDEF0120000));
	/* a 4T block at lookup level 1 (engine 2), R: OA 0xF_C000_0000_0000 ->
	 * 0xF in bits 15:12, OA[47:42] in place, block|SH|AF|AP[2] 0x781 */
	assert_int_equal(encode(f, UINT64_C(0xFC00000000000), R, 0, true, 2, &d), 0);
	assert_int_equal(d, UINT64_C(0x0060C0000000F781));
	/* table pointer to 0x5_0000_8001_0000: NLTA[51:48] 0x5 in bits 15:12 */
	assert_int_equal(f->ops->encode_table(f, UINT64_C(0x5000080010000), 2),
			 UINT64_C(0x80015003));
	/* bits 49:48 are still RES0 with the 64K granule */
	assert_int_equal(f->ops->classify(f, UINT64_C(0x1000080010003), 2), PT_RESERVED);

	/* stage 2, DS = 1: 4K page at 0xD_0000_8000_0000, R|W|X: OA[51:50] 0b11
	 * in 9:8, OA[49:48] 0b01 in 49:48, MemAttr WB 0x3c, S2AP 0xc0, AF,
	 * page: 0x7ff, XN 0b00. */
	f = &physim_fmt_aarch64_s2_4k_52;
	assert_int_equal(encode(f, UINT64_C(0xD000080000000), R | W | X, 0, true, 0, &d), 0);
	assert_int_equal(d, UINT64_C(0x10000800007ff));
	/* a 512G block at lookup level 0, R, Device: OA 0x8_0080_0000_0000 ->
	 * 0b10 in 9:8, MemAttr 0b0001 (0x04), S2AP R 0x40, AF, block, XN[1] */
	assert_int_equal(encode(f, UINT64_C(0x8008000000000), R | DV, 0, true, 3, &d), 0);
	assert_int_equal(d, UINT64_C(0x0040008000000645));
	/* MemAttr through arch is fine, SH is not (VTCR_EL2.SH0 has it) */
	assert_int_equal(encode(f, 0x80000000, R | W, 0x300, true, 0, &d), -ENOTSUP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden_stage1),
	    cmocka_unit_test(test_golden_stage2),
	    cmocka_unit_test(test_golden_armv7),
	    cmocka_unit_test(test_table_descriptors),
	    cmocka_unit_test(test_table_address_field),
	    cmocka_unit_test(test_geometry),
	    cmocka_unit_test(test_s2_concatenated_root_index),
	    cmocka_unit_test(test_flag_round_trip),
	    cmocka_unit_test(test_stage2_ignores_u),
	    cmocka_unit_test(test_rejections),
	    cmocka_unit_test(test_arch_bits),
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_decode_foreign),
	    cmocka_unit_test(test_engine_4k_48),
	    cmocka_unit_test(test_engine_4k_39),
	    cmocka_unit_test(test_engine_16k_47),
	    cmocka_unit_test(test_engine_64k_48),
	    cmocka_unit_test(test_engine_s2_4k_40),
	    cmocka_unit_test(test_engine_s2_4k_48),
	    cmocka_unit_test(test_engine_armv7),
	    cmocka_unit_test(test_engine_flag_subsets),
	    cmocka_unit_test(test_52_geometry_round_trip),
	    cmocka_unit_test(test_52_engine),
	    cmocka_unit_test(test_52_golden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
