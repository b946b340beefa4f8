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

/*
 * Memory-type bits (x86: PAT:PCD:PWT, EPT: bits 5:3) chosen from the generic
 * flags and from the memory-type bits the caller put in `arch`.
 * canon_normal / canon_device / canon_uncached are the values the format
 * writes for no flag / PHYSIM_DEVICE / PHYSIM_UNCACHED; arch_mt is the
 * memory-type field taken from arch (0 = not given). Arch bits override only
 * when neither flag is set; with a flag set they must agree (else -ENOTSUP,
 * as does DEVICE together with UNCACHED).
 */
struct x86_memtypes {
	uint64_t normal, device, uncached;
};

static inline int x86_pick_memtype(uint32_t flags, uint64_t arch_mt, const struct x86_memtypes *c,
				   uint64_t *mt)
{
	bool dev = flags & PHYSIM_DEVICE, unc = flags & PHYSIM_UNCACHED;
	uint64_t from_flags = dev ? c->device : unc ? c->uncached : c->normal;

	if (dev && unc)
		return -ENOTSUP;
	if (arch_mt != 0 && (dev || unc) && arch_mt != from_flags)
		return -ENOTSUP;
	*mt = arch_mt != 0 ? arch_mt : from_flags;
	return 0;
}

/* Reverse of x86_pick_memtype for decode_leaf: the memory types that a
 * generic flag (or the default) names are reported as that flag with no arch
 * bits, so a mapping made with arch = 0 reads back with arch = 0; any other
 * type is reported as raw bits in arch. */
static inline uint32_t x86_memtype_flags(uint64_t mt, const struct x86_memtypes *c,
					 uint64_t *arch_mt)
{
	*arch_mt = 0;
	if (mt == c->device)
		return PHYSIM_DEVICE;
	if (mt == c->uncached)
		return PHYSIM_UNCACHED;
	if (mt != c->normal)
		*arch_mt = mt;
	return 0;
}

#endif
