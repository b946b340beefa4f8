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

/* ---- memory attributes (D8.5; the MAIR_ELx register description) ----
 * An Attr<n> byte of MAIR_ELx: [7:4] = 0b0000 is Device memory, [3:0] then
 * 0b0000 nGnRnE, 0b0100 nGnRE, 0b1000 nGRE, 0b1100 GRE (other values
 * UNPREDICTABLE, or with FEAT_XS the XS = 0 variants 0bxx01: not modelled).
 * Otherwise Normal memory, [7:4] the outer and [3:0] the inner policy:
 * 0b0100 non-cacheable, 0b00RW (RW != 00) / 0b10RW write-through transient /
 * non-transient, 0b01RW (RW != 00) / 0b11RW write-back; inner 0b0000 is
 * UNPREDICTABLE except in 0xf0 (FEAT_MTE2: Tagged Normal WB). */
static inline enum physim_memtype a64_cacheability(unsigned v)
{
	if (v == 0x4)
		return PHYSIM_MEM_NORMAL_NC;
	if (v == 0)
		return PHYSIM_MEM_UNKNOWN;
	return (v & 0x4) ? PHYSIM_MEM_NORMAL_WB : PHYSIM_MEM_NORMAL_WT;
}

static inline void a64_mair_attr_type(unsigned attr, enum physim_memtype *inner,
				      enum physim_memtype *outer)
{
	static const enum physim_memtype dev[4] = {PHYSIM_MEM_DEVICE_nGnRnE,
						   PHYSIM_MEM_DEVICE_nGnRE, PHYSIM_MEM_DEVICE_nGRE,
						   PHYSIM_MEM_DEVICE_GRE};
	unsigned hi = attr >> 4, lo = attr & 0xf;

	if (hi == 0) {
		*inner = (lo & 3) ? PHYSIM_MEM_UNKNOWN : dev[lo >> 2];
		*outer = *inner;
		return;
	}
	*outer = a64_cacheability(hi);
	*inner = attr == 0xf0 ? PHYSIM_MEM_NORMAL_WB : a64_cacheability(lo);
	if (*inner == PHYSIM_MEM_UNKNOWN || *outer == PHYSIM_MEM_UNKNOWN)
		*inner = *outer = PHYSIM_MEM_UNKNOWN;
}

static inline uint64_t a64_mair(uint64_t cfg)
{
	return cfg ? cfg : PHYSIM_MAIR_DEFAULT;
}

/* The AttrIndx values the flags name under MAIR value mair (pt.h,
 * physim_pt_config.mair): the lowest index holding Normal WB inner and
 * outer (not the tagged 0xf0), Device-nGnRE (else any Device type), Normal
 * NC inner and outer. Index 0 that none of them is reads back as the flag
 * nearest its type. */
static inline struct pt_memtypes a64_s1_memtypes(uint64_t mair)
{
	struct pt_memtypes c = {PT_MT_NONE, PT_MT_NONE, PT_MT_NONE, 0};
	uint64_t any_dev = PT_MT_NONE;

	for (unsigned i = 8; i-- > 0;) {
		unsigned attr = (unsigned)(mair >> (8 * i)) & 0xff;
		enum physim_memtype in, out;
		a64_mair_attr_type(attr, &in, &out);
		if (in == PHYSIM_MEM_NORMAL_WB && out == in && attr != 0xf0)
			c.normal = i;
		else if (in == PHYSIM_MEM_NORMAL_NC && out == in)
			c.uncached = i;
		else if (in == PHYSIM_MEM_DEVICE_nGnRE)
			c.device = i;
		if (in >= PHYSIM_MEM_DEVICE_nGnRnE && in <= PHYSIM_MEM_DEVICE_GRE)
			any_dev = i;
		if (i == 0)
			c.zero_flags = in >= PHYSIM_MEM_DEVICE_nGnRnE && in <= PHYSIM_MEM_DEVICE_GRE
					   ? PHYSIM_DEVICE
				       : in == PHYSIM_MEM_NORMAL_NC ? PHYSIM_UNCACHED
								    : 0;
	}
	if (c.device == PT_MT_NONE)
		c.device = any_dev;
	return c;
}

/* SH[1:0] as a physim_shareability. */
static inline enum physim_shareability a64_sh(uint64_t d)
{
	static const enum physim_shareability sh[4] = {PHYSIM_SH_NONE, PHYSIM_SH_UNKNOWN,
						       PHYSIM_SH_OUTER, PHYSIM_SH_INNER};
	return sh[(d & A64_SH_MASK) >> A64_SH_SHIFT];
}

/* Effective shareability: "all Device memory and Normal Inner
 * Non-cacheable, Outer Non-cacheable memory" is treated as Outer Shareable
 * whatever SH says (D8.5, shareability attributes). */
static inline void a64_fill_sh(uint64_t d, struct physim_memattr *out)
{
	bool dev = out->type >= PHYSIM_MEM_DEVICE_nGnRnE && out->type <= PHYSIM_MEM_DEVICE_GRE;
	bool nc = out->type == PHYSIM_MEM_NORMAL_NC && out->outer == PHYSIM_MEM_NORMAL_NC;

	out->sh_field = a64_sh(d);
	out->sh = (dev || nc) ? PHYSIM_SH_OUTER : out->sh_field;
}

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

/* ---- 52-bit output addresses (D8.3, tables of the block, page and table
 * descriptor formats for a 52-bit OA) ----
 * - FEAT_LPA2 with TCR_ELx.DS / VTCR_EL2.DS = 1, 4K and 16K granules: the
 *   address field grows to bits 49:granule (OA[49:48] in bits 49:48), and
 *   OA[51:50] (NLTA[51:50] in a table descriptor) sits in bits 9:8. SH is then
 *   not in the descriptor: it comes from TCR_ELx.SH0/SH1 or VTCR_EL2.SH0.
 * - FEAT_LPA, 64K granule: the field stays 47:16 and OA[51:48] (NLTA[51:48])
 *   sits in bits 15:12; SH stays in bits 9:8. */
enum a64_oa_layout {
	A64_OA_48 = 0,	   /* bits 47:granule, no more */
	A64_OA_DS = 1,	   /* 4K/16K with DS = 1: 49:granule, OA[51:50] in 9:8 */
	A64_OA_LPA64K = 2, /* 64K with FEAT_LPA: 47:16, OA[51:48] in 15:12 */
};
#define A64_DS_OA_HI	 (UINT64_C(3) << 8)	      /* OA[51:50] */
#define A64_DS_OA_SHIFT	 42			      /* 50 - 8 */
#define A64_LPA_OA_HI	 (UINT64_C(0xf) << 12)	      /* OA[51:48] */
#define A64_LPA_OA_SHIFT 36			      /* 48 - 12 */
#define A64_DS_FIELD	 UINT64_C(0x0003fffffffff000) /* bits 49:12 */

/* param[] slots of the formats defined here: the granule's shift, the
 * RES0 bits of a descriptor, the address layout, and the address field of
 * a table descriptor (D8.3: next-level table address bits [47:granule],
 * [49:granule] with DS = 1), which the engine decodes for every table it
 * frees: a constant there, not one worked out from the granule and the
 * layout each time. Set by A64_PARAM from the first three. */
enum { A64_P_GRANULE_SHIFT = 0, A64_P_RES0 = 1, A64_P_OA_LAYOUT = 2, A64_P_TABLE_FIELD = 3 };

#define A64_PARAM(granule_shift, res0, layout)                                                     \
	{                                                                                          \
		[A64_P_GRANULE_SHIFT] = (granule_shift), [A64_P_RES0] = (res0),                    \
		[A64_P_OA_LAYOUT] = (layout),                                                      \
		[A64_P_TABLE_FIELD] = ((layout) == A64_OA_DS ? A64_DS_FIELD : A64_OA_MASK) &       \
				      ~((UINT64_C(1) << (granule_shift)) - 1)                      \
	}

static inline enum a64_oa_layout a64_layout(const struct physim_pt_format *f)
{
	return (enum a64_oa_layout)f->param[A64_P_OA_LAYOUT];
}

/* The descriptor's contiguous address field from bit `low` up: bits
 * [47, low], or [49, low] with DS = 1. */
static inline uint64_t a64_oa_mask_from(const struct physim_pt_format *f, unsigned low)
{
	uint64_t field = a64_layout(f) == A64_OA_DS ? A64_DS_FIELD : A64_OA_MASK;
	return field & ~((UINT64_C(1) << low) - 1);
}

/* The addresses a descriptor can hold from bit `low` up: [pa_bits - 1, low]. */
static inline uint64_t a64_pa_mask_from(const struct physim_pt_format *f, unsigned low)
{
	return (~UINT64_C(0) >> (64 - f->pa_bits)) & ~((UINT64_C(1) << low) - 1);
}

/* The output address of descriptor d whose contiguous field is `field`
 * (a64_oa_mask_from): the field plus, in the 52-bit layouts, the high bits
 * held elsewhere in the descriptor. The one decode, for the engine and the
 * walker alike. */
static inline uint64_t a64_oa_decode(const struct physim_pt_format *f, uint64_t d, uint64_t field)
{
	/* The 48-bit layout first, on a branch of its own: the engine decodes
	 * every table it frees, and any more work here (a switch, or a table
	 * of the high bits per layout) made a 1 GiB unmap 1.04-1.06x as
	 * long. */
	const enum a64_oa_layout l = a64_layout(f);
	if (PHYSIM_LIKELY(l == A64_OA_48))
		return d & field;
	if (l == A64_OA_DS)
		return (d & field) | ((d & A64_DS_OA_HI) << A64_DS_OA_SHIFT);
	return (d & field) | ((d & A64_LPA_OA_HI) << A64_LPA_OA_SHIFT);
}

/* The descriptor bits holding address pa (aligned, below 2^pa_bits). */
static inline uint64_t a64_oa_encode(const struct physim_pt_format *f, uint64_t pa)
{
	switch (a64_layout(f)) {
	case A64_OA_DS:
		return (pa & A64_DS_FIELD) | ((pa >> A64_DS_OA_SHIFT) & A64_DS_OA_HI);
	case A64_OA_LPA64K:
		return (pa & A64_OA_MASK) | ((pa >> A64_LPA_OA_SHIFT) & A64_LPA_OA_HI);
	default:
		return pa & A64_OA_MASK;
	}
}

/* Does the descriptor hold SH[1:0] in bits 9:8? Not with DS = 1. */
static inline bool a64_has_sh(const struct physim_pt_format *f)
{
	return a64_layout(f) != A64_OA_DS;
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

/* The contiguous address field of a descriptor at `level`: bits 47:granule
 * (49:granule with DS) of a table descriptor, 47:block or page size of a leaf
 * (D8.3). */
static inline uint64_t a64_oa_mask(const struct physim_pt_format *f, unsigned level, bool leaf)
{
	return leaf ? a64_oa_mask_from(f, f->level[level].shift) : f->param[A64_P_TABLE_FIELD];
}

static inline uint64_t a64_desc_output_addr(const struct physim_pt_format *f, uint64_t d,
					    unsigned level)
{
	/* Bits 1:0 = 0b11 above lookup level 3: the next-level table. */
	if (level > 0 && (d & A64_TYPE))
		return a64_oa_decode(f, d, a64_oa_mask(f, level, false));
	return a64_oa_decode(f, d, a64_oa_mask(f, level, true));
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

/* ---- stage 1 of the EL2 translation regime with HCR_EL2.E2H = 0 ----
 * A regime that "supports one Exception level" (Arm ARM K.a D8.4.1.2): AP[2]
 * alone selects read/write or read-only (table D8-62) and AP[1] is RES1
 * (R_MGGZM); bit 54 is XN, removing PrivExecute (R_TRZVM), and PXN (bit 53)
 * has no meaning; in table descriptors APTable[0] is RES0 (I_PCLHM), bit 60
 * is XNTable (R_RLQFP) and PXNTable has no meaning. There are no ASIDs, so nG
 * is not used either. */
#define EL2_XN	 S1_UXN	  /* bit 54: XN */
#define EL2_T_XN S1_T_UXN /* bit 60: XNTable */
/* Raw leaf bits a caller may give in `arch` in the EL2 regime: AttrIndx, SH. */
#define EL2_ARCH_MASK (S1_ATTRINDX_MASK | A64_SH_MASK)

#endif
