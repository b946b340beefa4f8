/* SPDX-License-Identifier: MIT */
/* arch/x86_64/x86-priv.h - helpers shared by the IA-32 paging formats
 * (x86_64.c: 4/5-level, 32-bit, PAE) and the EPT formats (ept.c). */
#ifndef PHYSIM_X86_PRIV_H
#define PHYSIM_X86_PRIV_H

#include "pt-format.h"

/*
 * Level numbering. The engine counts from 0 (the last-level table) up to
 * levels-1 (the root). Intel names the tables, and numbers them the other
 * way round when it numbers them at all (SDM Vol. 3A 4.5: "PML5 = level 5 ..
 * PT = level 1"); for every x86 format here
 *
 *     architectural level = engine level + 1
 *
 *     engine level   4-level / 5-level / EPT    PAE            32-bit
 *     0              PT    (1)                  PT    (1)      PT (1)
 *     1              PD    (2)                  PD    (2)      PD (2)
 *     2              PDPT  (3)                  PDPT  (3)
 *     3              PML4  (4)
 *     4              PML5  (5, LA57 / 5-level EPT only)
 *
 * Fault reports (walker) give the architectural level.
 */
/* Walker access rules (lib/walk-format.h): IA-32 paging in x86_walk.c, one
 * ops object per paging mode and level count (each holds its own
 * instantiation of the walk loop), EPT in ept_walk.c. */
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_x86_walk_ops_4l;
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_x86_walk_ops_5l;
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_x86_walk_ops_pae;
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_x86_walk_ops_32bit;
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_ept_walk_ops;

static inline unsigned x86_arch_level(unsigned engine_level)
{
	return engine_level + 1;
}

/* Bit 7 of a PDE/PDPTE: PS in IA-32 paging (SDM Vol. 3A 4.5), "maps a large
 * page" in EPT (SDM Vol. 3C 29.3.2). Both use the same position. */
#define X86_LARGE_BIT (UINT64_C(1) << 7)

/* Mask of bits hi..lo inclusive (hi is clamped to 63); empty when hi < lo
 * (e.g. the reserved address bits 51:M when M = 52). */
static inline uint64_t x86_bits(unsigned hi, unsigned lo)
{
	if (hi > 63)
		hi = 63;
	if (hi < lo)
		return 0;
	return (~UINT64_C(0) >> (63 - hi)) & ~((UINT64_C(1) << lo) - 1);
}

/* Checks common to every x86 encode_leaf: a leaf may sit at `level`, pa is
 * aligned to its page size and fits in pa_bits. */
static inline int x86_check_leaf_pa(const struct physim_pt_format *f, uint64_t pa, unsigned level)
{
	if (level >= f->levels || !f->level[level].leaf_ok)
		return -EINVAL;
	if (!physim_is_aligned(pa, pt_level_page_size(f, level)))
		return -EINVAL;
	if (f->pa_bits < 64 && (pa >> f->pa_bits) != 0)
		return -EINVAL;
	return 0;
}

/* x86 memory-type encodings, shared by PAT entries, MTRRs and the EPT
 * memory type (SDM Vol. 3A "Memory Types That Can Be Encoded With PAT",
 * "Memory Types That Can Be Encoded in MTRRs"): 0 UC, 1 WC, 4 WT, 5 WP,
 * 6 WB, 7 UC- (PAT only); 2 and 3 reserved. */
static inline enum physim_memtype x86_memtype(unsigned enc)
{
	static const enum physim_memtype t[8] = {
	    PHYSIM_MEM_UC, PHYSIM_MEM_WC, PHYSIM_MEM_UNKNOWN, PHYSIM_MEM_UNKNOWN,
	    PHYSIM_MEM_WT, PHYSIM_MEM_WP, PHYSIM_MEM_WB,      PHYSIM_MEM_UC_MINUS};
	return t[enc & 7];
}

/* The power-on IA32_PAT: entries 0..7 = WB, WT, UC-, UC, WB, WT, UC-, UC
 * (SDM Vol. 3A "PAT MSR" / "Page Attribute Table (PAT)"). */
#define X86_PAT_DEFAULT UINT64_C(0x0007040600070406)

#endif
