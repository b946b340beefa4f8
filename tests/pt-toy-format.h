/* SPDX-License-Identifier: MIT */
/* tests/pt-toy-format.h - small made-up page-table formats with a simple
 * encoding, so the engine (lib/pt.c) can be tested on its own, including
 * geometries the real formats have (4-byte descriptors, sub-frame tables,
 * multi-frame tables and roots, sign-extended input). Test-only. */
#ifndef PT_TOY_FORMAT_H
#define PT_TOY_FORMAT_H

#include "pt-format.h"

/*
 * Descriptor layout (both widths):
 *   bit 0      V: valid
 *   bit 1      T: above level 0, 1 = table pointer, 0 = leaf;
 *                 at level 0, 1 = page (0 with V set is reserved)
 *   bits 2-7   R W X U DEVICE UNCACHED (generic flag bit i at bit 2 + i)
 *   bit 8      accessed, bit 9 dirty
 *   bits 10-11 arch bits (arch_attr_mask 0xc00)
 *   bits 12..  output address (identity), up to pa_bits
 *   bit 62     (8-byte form) reserved: set means PT_RESERVED
 * Also reserved: a leaf whose address is not aligned to its page size, a leaf
 * at a level without leaf_ok, and W without R.
 * param[0] bit 0: stage-2 style (PHYSIM_U accepted and ignored).
 * param[0] bit 1: scrambled address field: descriptor bit 12 holds pa bit 12
 *                 XOR pa bit 21, so the field is not linear across 2 MiB
 *                 boundaries (as PSE-36 is not): the engine must notice.
 */
#define TOY_V	     UINT64_C(0x1)
#define TOY_T	     UINT64_C(0x2)
#define TOY_FLAGS_SH 2
#define TOY_A	     UINT64_C(0x100)
#define TOY_D	     UINT64_C(0x200)
#define TOY_ARCH     UINT64_C(0xc00)
#define TOY_RSVD     (UINT64_C(1) << 62)

static inline uint64_t toy_addr_mask(const struct physim_pt_format *f)
{
	return ((UINT64_C(1) << f->pa_bits) - 1) & ~UINT64_C(0xfff);
}

/* The scramble is its own inverse (bit 21 is not changed by it). */
static inline uint64_t toy_scramble(const struct physim_pt_format *f, uint64_t a)
{
	return (f->param[0] & 2) ? a ^ (((a >> 21) & 1) << 12) : a;
}

static uint64_t toy_output_addr(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	(void)level;
	return toy_scramble(f, d & toy_addr_mask(f));
}

static enum pt_kind toy_classify(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	if (!(d & TOY_V))
		return PT_INVALID;
	if (f->pte_bytes == 8 && (d & TOY_RSVD))
		return PT_RESERVED;
	if (level > 0 && (d & TOY_T))
		return PT_TABLE;
	if (level == 0 && !(d & TOY_T))
		return PT_RESERVED;
	uint32_t flags = (uint32_t)(d >> TOY_FLAGS_SH) & 0x3f;
	if (!f->level[level].leaf_ok || (flags & PHYSIM_W && !(flags & PHYSIM_R)))
		return PT_RESERVED;
	if (toy_output_addr(f, d, level) & (pt_level_page_size(f, level) - 1))
		return PT_RESERVED;
	return PT_LEAF;
}

static uint64_t toy_encode_table(const struct physim_pt_format *f, uint64_t table_pa,
				 unsigned level)
{
	(void)level;
	return toy_scramble(f, table_pa) | TOY_V | TOY_T;
}

static int toy_encode_leaf(const struct physim_pt_format *f, uint64_t pa,
			   const struct pt_leaf_attr *a, unsigned level, uint64_t *d)
{
	uint32_t flags = a->flags;
	if (f->param[0] & 1)
		flags &= ~(uint32_t)PHYSIM_U;
	if (flags & ~f->flags_supported)
		return -ENOTSUP;
	if ((flags & PHYSIM_DEVICE) && (flags & PHYSIM_UNCACHED))
		return -ENOTSUP;
	if ((flags & PHYSIM_W) && !(flags & PHYSIM_R))
		return -ENOTSUP;
	if (a->arch & ~f->arch_attr_mask)
		return -ENOTSUP;
	if ((pa & ~toy_addr_mask(f)) != 0)
		return -EINVAL;
	*d = toy_scramble(f, pa) | TOY_V | (level == 0 ? TOY_T : 0) |
	     (uint64_t)flags << TOY_FLAGS_SH | a->arch | (a->accessed ? TOY_A : 0) |
	     (a->dirty ? TOY_D : 0);
	return 0;
}

static void toy_decode_leaf(const struct physim_pt_format *f, uint64_t d, unsigned level,
			    struct pt_leaf_attr *a)
{
	(void)level;
	a->flags = (uint32_t)(d >> TOY_FLAGS_SH) & 0x3f;
	if (f->param[0] & 1)
		a->flags &= ~(uint32_t)PHYSIM_U;
	a->arch = d & f->arch_attr_mask;
	a->accessed = d & TOY_A;
	a->dirty = d & TOY_D;
}

static const struct pt_format_ops toy_ops = {
    .classify = toy_classify,
    .output_addr = toy_output_addr,
    .encode_table = toy_encode_table,
    .encode_leaf = toy_encode_leaf,
    .decode_leaf = toy_decode_leaf,
};

#define TOY_ALL_FLAGS (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U | PHYSIM_DEVICE | PHYSIM_UNCACHED)

/* 3 levels of 9 bits, 8-byte descriptors, 4K/2M/1G pages, 39-bit
 * sign-extended input (Sv39-like), accessed/dirty pre-set on map. */
static const struct physim_pt_format toy_fmt_39 = {
    .name = "toy-39",
    .description = "test: 3 x 9 bits, 8-byte, sign-extended",
    .arch = PHYSIM_ARCH_RISCV64,
    .levels = 3,
    .pte_bytes = 8,
    .va_bits = 39,
    .pa_bits = 40,
    .sign_extended = true,
    .level = {{12, 9, true}, {21, 9, true}, {30, 9, true}},
    .flags_supported = TOY_ALL_FLAGS,
    .arch_attr_mask = TOY_ARCH,
    .set_accessed_on_map = true,
    .set_dirty_on_map = true,
    .ops = &toy_ops,
};

/* ARMv7-short-like: 4-byte descriptors, a 16 KiB root of 4096 entries (two
 * frames' worth: multi-frame alloc) and 1 KiB level-0 tables (a whole frame
 * each); 4K and 1M pages; stage-2 style (U ignored). */
static const struct physim_pt_format toy_fmt_32 = {
    .name = "toy-32",
    .description = "test: 12+8 bits, 4-byte, 1 KiB leaf tables",
    .arch = PHYSIM_ARCH_AARCH64,
    .stage2 = true,
    .levels = 2,
    .pte_bytes = 4,
    .va_bits = 32,
    .pa_bits = 32,
    .level = {{12, 8, true}, {20, 12, true}},
    .flags_supported = TOY_ALL_FLAGS & ~(uint32_t)PHYSIM_U,
    .arch_attr_mask = TOY_ARCH,
    .ops = &toy_ops,
    .param = {1},
};

/* 16K granule: 16 KiB tables below a 16-byte root of two entries; 16K and
 * 32M pages; 37-bit input, not sign-extended. */
static const struct physim_pt_format toy_fmt_16k = {
    .name = "toy-16k",
    .description = "test: 16K granule, 16 KiB tables, 2-entry root",
    .arch = PHYSIM_ARCH_AARCH64,
    .levels = 3,
    .pte_bytes = 8,
    .va_bits = 37,
    .pa_bits = 44,
    .level = {{14, 11, true}, {25, 11, true}, {36, 1, false}},
    .flags_supported = TOY_ALL_FLAGS,
    .arch_attr_mask = TOY_ARCH,
    .ops = &toy_ops,
};

/* As toy-39 without sign extension or pre-set A/D, but with the scrambled
 * address field. */
static const struct physim_pt_format toy_fmt_scrambled = {
    .name = "toy-scrambled",
    .description = "test: toy-39 geometry, non-linear address field",
    .arch = PHYSIM_ARCH_X86_64,
    .levels = 3,
    .pte_bytes = 8,
    .va_bits = 39,
    .pa_bits = 40,
    .level = {{12, 9, true}, {21, 9, true}, {30, 9, true}},
    .flags_supported = TOY_ALL_FLAGS,
    .arch_attr_mask = TOY_ARCH,
    .ops = &toy_ops,
    .param = {2},
};

static const struct physim_pt_format *const toy_formats[] = {&toy_fmt_39, &toy_fmt_32, &toy_fmt_16k,
							     &toy_fmt_scrambled};
#define TOY_FORMAT_COUNT (sizeof(toy_formats) / sizeof(toy_formats[0]))

#endif
