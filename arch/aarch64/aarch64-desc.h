/* SPDX-License-Identifier: MIT */
/* arch/aarch64/aarch64-desc.h - the VMSAv8-64 codec: descriptor bits of both
 * stages, defined once, and classify / output address as static inline
 * functions, used by the formats (aarch64.c) and the walk rules
 * (aarch64_walk.c) alike. */
#ifndef PHYSIM_AARCH64_DESC_H
#define PHYSIM_AARCH64_DESC_H

#include "aarch64-priv.h"

/* ---- D8.3 descriptor fields common to both stages ---- */

#define A64_VALID (UINT64_C(1) << 0) /* bit 0: valid */
/* bit 1: at lookup levels 0-2, 1 = table, 0 = block; at level 3, 1 = page. */
#define A64_TYPE (UINT64_C(1) << 1)
#define A64_AF	 (UINT64_C(1) << 10) /* Access flag (D8.4 "The Access flag") */
/* Output address (and next-level table address) field, bits 47:12 with a 48-bit
 * OA; the granule or block size clears the low end of it (D8.3). */
#define A64_OA_MASK UINT64_C(0x0000fffffffff000)
/* Shareability SH[1:0], bits 9:8 in both stages (D8.5): 00 non-shareable,
 * 01 reserved, 10 outer shareable, 11 inner shareable. */
#define A64_SH_SHIFT	8
#define A64_SH_MASK	(UINT64_C(3) << A64_SH_SHIFT)
#define A64_SH_RESERVED (UINT64_C(1) << A64_SH_SHIFT)
#define A64_SH_INNER	(UINT64_C(3) << A64_SH_SHIFT)

/* Contiguous bit, bit 52 of a block or page descriptor in both stages (D8.3;
 * Arm ARM D8, "The Contiguous bit"): the entry is one of an aligned run of
 * adjacent entries with consecutive output addresses and identical
 * attributes that the TLB may cache as one entry. Run lengths (table
 * "Contiguous bit entries" in D8.7.1): 4K granule 16 entries at lookup levels
 * 3, 2 and 1 (64K, 32M, 16G); 16K granule 128 at level 3 (2M) and 32 at level
 * 2 (1G); 64K granule 32 at level 3 (2M) and 32 at level 2 (16G). */
#define A64_CONT (UINT64_C(1) << 52)

/* Bits that must be zero with a 48-bit output address (classify: PT_RESERVED).
 * 4K/16K granules: bits 49:48 are RES0 (they carry OA[49:48] only with
 * FEAT_LPA2 and TCR.DS = 1). 64K granule: bits 15:12 carry OA[51:48] when
 * FEAT_LPA is implemented, so with a 48-bit PA size a non-zero value is an
 * Address size fault (D8.3, D8.2 "Address size configuration"); bits 49:48 are
 * RES0 there too. */
#define A64_RES0_4K_16K (UINT64_C(3) << 48)
#define A64_RES0_64K	(A64_RES0_4K_16K | (UINT64_C(0xf) << 12))

/* ---- stage 1 leaf attributes (D8.3 block and page descriptors) ---- */

#define S1_ATTRINDX_SHIFT 2 /* AttrIndx[2:0], bits 4:2: MAIR_ELx index (D8.5) */
#define S1_ATTRINDX_MASK  (UINT64_C(7) << S1_ATTRINDX_SHIFT)
#define S1_AP1		  (UINT64_C(1) << 6)  /* AP[1]: EL0 has data access (D8.4) */
#define S1_AP2		  (UINT64_C(1) << 7)  /* AP[2]: read-only at every EL (D8.4) */
#define S1_NG		  (UINT64_C(1) << 11) /* not global: ASID-tagged */
#define S1_PXN		  (UINT64_C(1) << 53) /* privileged execute-never */
#define S1_UXN		  (UINT64_C(1) << 54) /* unprivileged (EL0) execute-never */

/* The fixed MAIR convention (see the top of the file). */
#define MAIR_IDX_NORMAL_WB 0
#define MAIR_IDX_DEVICE	   1
#define MAIR_IDX_NORMAL_NC 2

/* Raw leaf bits a caller may give in `arch` at stage 1: AttrIndx, SH, nG. */
#define S1_ARCH_MASK (S1_ATTRINDX_MASK | A64_SH_MASK | S1_NG)

/* ---- stage 2 leaf attributes (D8.3 stage 2 block and page descriptors) ---- */

#define S2_MEMATTR_SHIFT	2 /* MemAttr[3:0], bits 5:2 (D8.5, FEAT_S2FWB off) */
#define S2_MEMATTR_MASK		(UINT64_C(0xf) << S2_MEMATTR_SHIFT)
#define S2_MEMATTR_DEVICE_NGNRE 0x1u /* 0b0001: Device-nGnRE */
#define S2_MEMATTR_NORMAL_NC	0x5u /* 0b0101: Normal, outer and inner non-cacheable */
#define S2_MEMATTR_NORMAL_WB	0xfu /* 0b1111: Normal, outer and inner write-back */
/* S2AP[1:0], bits 7:6 (D8.4 "Stage 2 data access permissions"): S2AP[0]
 * (bit 6) grants reads, S2AP[1] (bit 7) grants writes. */
#define S2_S2AP_R (UINT64_C(1) << 6)
#define S2_S2AP_W (UINT64_C(1) << 7)
/* XN[1:0], bits 54:53 (D8.4 "Stage 2 instruction execution permissions"):
 * bit 54 alone without FEAT_XNX. physim writes 0b00 (executable) or 0b10. */
#define S2_XN  (UINT64_C(1) << 54)
#define S2_XN0 (UINT64_C(1) << 53)

/* Raw leaf bits a caller may give in `arch` at stage 2: MemAttr, SH. */
#define S2_ARCH_MASK (S2_MEMATTR_MASK | A64_SH_MASK)

#define A64_ALL_FLAGS  (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U | PHYSIM_DEVICE | PHYSIM_UNCACHED)
#define A64_TYPE_FLAGS (PHYSIM_DEVICE | PHYSIM_UNCACHED)

/* param[] slots of the formats defined here. */
enum { A64_P_GRANULE_SHIFT = 0, A64_P_RES0 = 1 };

/* Bits [47, low] of an address. */
static inline uint64_t a64_oa_mask_from(unsigned low)
{
	return A64_OA_MASK & ~((UINT64_C(1) << low) - 1);
}

static inline unsigned a64_granule_shift(const struct physim_pt_format *f)
{
	return (unsigned)f->param[A64_P_GRANULE_SHIFT];
}

/* D8.3: bits 1:0 name the descriptor kind; the lookup level and the granule
 * decide which kinds exist. */
static inline enum pt_kind a64_desc_classify(const struct physim_pt_format *f, uint64_t d,
					     unsigned level)
{
	if (!(d & A64_VALID))
		return PT_INVALID;
	if (level == 0) {
		/* Lookup level 3: bits 1:0 = 0b01 is "Reserved, invalid", which
		 * "behaves identically to encodings with bit[0] set to 0" (D8.3,
		 * level 3 descriptor encodings): a hole, not a reserved entry. */
		if (!(d & A64_TYPE))
			return PT_INVALID;
		return (d & f->param[A64_P_RES0]) ? PT_RESERVED : PT_LEAF;
	}
	if (d & f->param[A64_P_RES0])
		return PT_RESERVED;
	if (d & A64_TYPE)
		return PT_TABLE;
	/* A block where the granule allows none (4K level 0, 16K level 1, 64K
	 * level 1 without FEAT_LPA2/LPA) is a Translation fault (D8.3). */
	return f->level[level].leaf_ok ? PT_LEAF : PT_RESERVED;
}

/* The address field of a descriptor at `level`: bits 47:granule of a table
 * descriptor, 47:block or page size of a leaf (D8.3). */
static inline uint64_t a64_oa_mask(const struct physim_pt_format *f, unsigned level, bool leaf)
{
	return a64_oa_mask_from(leaf ? f->level[level].shift : a64_granule_shift(f));
}

static inline uint64_t a64_desc_output_addr(const struct physim_pt_format *f, uint64_t d,
					    unsigned level)
{
	/* Bits 1:0 = 0b11 above lookup level 3: the next-level table. */
	return d & a64_oa_mask(f, level, !(level > 0 && (d & A64_TYPE)));
}

/* ---- used by the walk rules only (aarch64_walk.c) ---- */

/* Dirty bit modifier, bit 51 of a leaf (D8.5.2); physim never writes it. */
#define A64_DBM (UINT64_C(1) << 51)
/* Stage 2 XN[1:0], bits 54:53 with FEAT_XNX (table D8-78). */
#define S2_XN_SHIFT 53

/* Stage 1 table descriptor next-level attributes (table D8-50): PXNTable 59,
 * UXNTable 60, APTable[1:0] 62:61. They accumulate (OR) over the walk: each
 * only removes permissions at the subsequent levels (D8.4.1.2, table D8-64). */
#define S1_T_PXN   (UINT64_C(1) << 59)
#define S1_T_UXN   (UINT64_C(1) << 60)
#define S1_T_AP0   (UINT64_C(1) << 61) /* APTable[0]: no EL0 access */
#define S1_T_AP1   (UINT64_C(1) << 62) /* APTable[1]: no write access */
#define S1_T_ATTRS (S1_T_PXN | S1_T_UXN | S1_T_AP0 | S1_T_AP1)

#endif
