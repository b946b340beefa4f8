/* SPDX-License-Identifier: MIT */
/* arch/aarch64/aarch64.c - VMSAv8-64 translation table formats: stage 1 with
 * 4K, 16K and 64K granules for the EL1&0 (and EL2&0) regime and for the EL2
 * regime with HCR_EL2.E2H = 0 (end of the file), and stage 2 with a 4K
 * granule (Arm ARM D8).
 *
 * Section references are to the Arm Architecture Reference Manual for A-profile
 * (DDI 0487, chapter D8 "The AArch64 Virtual Memory System Architecture"):
 * D8.2 translation process (lookup levels, concatenated tables), D8.3
 * descriptor formats, D8.4 access permissions, D8.5 memory attributes.
 * Older editions number the same material D4.x / D5.x.
 *
 * Engine level n is Arm lookup level (3 - n): engine level 0 is lookup level 3
 * (and engine level 4 of the 5-level LPA2 formats is lookup level -1).
 *
 * What physim models (the choices every encoding below follows):
 * - The 48-bit formats: FEAT_LPA / FEAT_LPA2 not in use, 48-bit output
 *   addresses, SH in bits 9:8. The -52 formats at the end of the file:
 *   52-bit output addresses in the layouts of aarch64-desc.h (enum
 *   a64_oa_layout); with DS = 1 there is no SH in the descriptor.
 * - TCR_ELx.HA/HD = 0 and VTCR_EL2.HA/HD = 0: no hardware Access flag or dirty
 *   state management. Every new leaf gets AF = 1 (set_accessed_on_map), so no
 *   Access flag fault is taken; DBM (bit 51) is never written and is ignored
 *   when decoding; `dirty` is always reported false.
 * - The Contiguous bit (bit 52) marks a grouped leaf (lib/pt-format.h
 *   group_log2, run lengths in aarch64-desc.h A64_CONT): encode_leaf sets it
 *   for a->grouped and decode_leaf reports it, and the engine writes and
 *   splits whole runs. Each entry of a run keeps its own output address.
 * - Stage 1 MAIR: the table's (physim_pt_config.mair, default
 *   PHYSIM_MAIR_DEFAULT: AttrIndx 0 = Normal WB, 1 = Device-nGnRE, 2 = Normal
 *   non-cacheable); the flags pick the lowest index holding their type
 *   (a64_s1_memtypes), the other indexes come raw in `arch`.
 * - Stage 2 without FEAT_S2FWB: MemAttr 5:2 is the memory type itself.
 * - The memory type follows the one rule of pt.h ("Memory type",
 *   pt_memtype_pick): a type the flags name reads back as that flag with
 *   the AttrIndx / MemAttr part of `arch` 0; any other as raw bits in arch.
 *   SH = inner shareable, the default, is reported as 0 in arch, so a query
 *   returns arch = 0 for an ordinary mapping and encode_leaf(decode_leaf(d))
 *   == d holds for every descriptor physim writes. (Descriptors physim never
 *   writes - non-shareable, stage 2 Device-nGnRnE - read back as the
 *   default and as DEVICE; physim_pt_memattr shows what they really hold.)
 * - Stage 1 tables serve TTBR0 only, so the input address range is
 *   [0, 2^va_bits) and sign_extended is false: TTBR1 addresses (upper bits
 *   all ones) belong to another table in another TTBR.
 */
#include "aarch64-desc.h"

/* Descriptor bits, classify and output address: aarch64-desc.h. */

/* The format ops: the codec. */
static enum pt_kind a64_classify(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	return a64_desc_classify(f, d, level);
}

static uint64_t a64_output_addr(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	return a64_desc_output_addr(f, d, level);
}

/* Table descriptor (D8.3): bits 1:0 = 0b11 and the next-level table address.
 * The stage 1 hierarchical attributes NSTable, APTable, UXNTable and PXNTable
 * (bits 63:59) stay 0, which restricts nothing; stage 2 has no hierarchical
 * attributes, and 0 is what those bits must hold there too. */
static uint64_t a64_encode_table(const struct physim_pt_format *f, uint64_t table_pa,
				 unsigned level)
{
	return a64_oa_encode(f, table_pa & a64_pa_mask_from(f, a64_granule_shift(f))) | A64_TYPE |
	       A64_VALID;
}

/* Checks shared by both stages. -EINVAL: not a leaf level, pa beyond the
 * format's output address size (48 or 52 bits) or not aligned to the
 * page/block, unknown flag bits. */
static inline int a64_check_leaf(const struct physim_pt_format *f, uint64_t pa,
				 const struct pt_leaf_attr *a, unsigned level)
{
	if (level >= f->levels || !f->level[level].leaf_ok)
		return -EINVAL;
	if (pa & ~a64_pa_mask_from(f, f->level[level].shift))
		return -EINVAL;
	if (a->flags & ~(uint32_t)A64_ALL_FLAGS)
		return -EINVAL;
	if ((a->flags & A64_TYPE_FLAGS) == A64_TYPE_FLAGS)
		return -ENOTSUP;
	if (a->arch & ~f->arch_attr_mask)
		return -ENOTSUP;
	if (a->grouped && f->group_log2[level] == 0)
		return -EINVAL;
	return 0;
}

/* Bits 1:0 of a leaf: page (0b11) at lookup level 3, block (0b01) above. */
static inline uint64_t a64_leaf_type(unsigned level)
{
	return level == 0 ? (A64_TYPE | A64_VALID) : A64_VALID;
}

/* SH from `arch`: 0 means the default, inner shareable (what Linux and the
 * ArceOS crates use); 0b01 is reserved (D8.5). Non-shareable cannot be asked
 * for, since 0 already means "default". With DS = 1 the descriptor has no SH
 * (bits 9:8 are OA[51:50]; arch_attr_mask leaves SH out): nothing written. */
static int a64_shareability(const struct physim_pt_format *f, uint64_t arch, uint64_t *sh)
{
	uint64_t v = arch & A64_SH_MASK;

	if (!a64_has_sh(f)) {
		*sh = 0;
		return 0;
	}
	if (v == A64_SH_RESERVED)
		return -ENOTSUP;
	*sh = v ? v : A64_SH_INNER;
	return 0;
}

/* SH as decode reports it in `arch`: the default (inner) is 0; none with
 * DS = 1. */
static inline uint64_t a64_arch_sh(const struct physim_pt_format *f, uint64_t d)
{
	uint64_t v = d & A64_SH_MASK;

	if (!a64_has_sh(f))
		return 0;
	return v == A64_SH_INNER ? 0 : v;
}

/* The descriptor as a64_fill_sh reads it: with TCR.DS = 1 (LPA2) bits 9:8
 * hold OA[51:50] and shareability comes from TCR_ELx.SH0/SH1 (VTCR_EL2.SH0),
 * which physim takes as Inner Shareable (Arm ARM D8.3, FEAT_LPA2). */
static inline uint64_t a64_sh_source(const struct physim_pt_format *f, uint64_t d)
{
	return a64_has_sh(f) ? d : (d & ~A64_SH_MASK) | A64_SH_INNER;
}

/* ---- stage 1 ---- */

/* AttrIndx by the one memory-type rule (pt-format.h) under the format's
 * MAIR (physim_pt_config.mair). */
/* a64_s1_memtypes of the format's MAIR. physim's default (PHYSIM_MAIR_DEFAULT:
 * Attr0 0xff Normal WB, Attr1 0x04 Device-nGnRE, Attr2 0x44 Normal NC, the
 * rest Device-nGnRnE; every format object here, and a table made without a
 * MAIR) is decoded once, here, so that encoding a leaf does not scan MAIR's
 * eight bytes each time (that scan was three quarters of s1_encode_leaf);
 * test_memtype checks the default's indexes against the descriptors. */
static const struct pt_memtypes *s1_memtypes(const struct physim_pt_format *f,
					     struct pt_memtypes *other)
{
	static const struct pt_memtypes dflt = {
	    .normal = 0, .device = 1, .uncached = 2, .zero_flags = 0};
	uint64_t mair = a64_mair(f->mair);
	if (PHYSIM_LIKELY(mair == PHYSIM_MAIR_DEFAULT))
		return &dflt;
	*other = a64_s1_memtypes(mair);
	return other;
}

static int s1_attrindx(const struct physim_pt_format *f, uint32_t flags, uint64_t arch,
		       uint64_t *idx)
{
	struct pt_memtypes other;
	return pt_memtype_pick(flags, (arch & S1_ATTRINDX_MASK) >> S1_ATTRINDX_SHIFT,
			       s1_memtypes(f, &other), idx);
}

/*
 * Stage 1 permissions (D8.4, EL1&0 regime):
 * - AP[2:1]: AP[2] = 1 read-only, AP[1] = 1 EL0 has the same data access as
 *   EL1. There is no "no access" encoding, so PHYSIM_R is required.
 * - Execute: X means executable at the mapping's own privilege level and
 *   nowhere else. U|X -> UXN = 0, PXN = 1 (the kernel never runs user code,
 *   as Linux does). X without U -> PXN = 0, UXN = 1 (UXN must be set even
 *   though AP[1] = 0, because EL0 instruction fetch is governed by UXN alone).
 *   Without X both are set. Decoding reads UXN for U mappings and PXN for the
 *   others, so the round trip is exact.
 */
static int s1_encode_leaf(const struct physim_pt_format *f, uint64_t pa,
			  const struct pt_leaf_attr *a, unsigned level, uint64_t *d)
{
	uint64_t idx, sh, v;
	uint32_t fl = a->flags;
	int rc = a64_check_leaf(f, pa, a, level);

	if (rc)
		return rc;
	if (!(fl & PHYSIM_R))
		return -ENOTSUP;
	rc = s1_attrindx(f, fl, a->arch, &idx);
	if (rc)
		return rc;
	rc = a64_shareability(f, a->arch, &sh);
	if (rc)
		return rc;

	v = a64_oa_encode(f, pa) | a64_leaf_type(level) | (idx << S1_ATTRINDX_SHIFT) | sh |
	    (a->arch & S1_NG);
	if (a->grouped)
		v |= A64_CONT;
	if (!(fl & PHYSIM_W))
		v |= S1_AP2;
	if (fl & PHYSIM_U)
		v |= S1_AP1;
	if (a->accessed)
		v |= A64_AF;
	if (!((fl & PHYSIM_X) && !(fl & PHYSIM_U)))
		v |= S1_PXN;
	if (!((fl & PHYSIM_X) && (fl & PHYSIM_U)))
		v |= S1_UXN;
	*d = v;
	return 0;
}

static void s1_decode_leaf(const struct physim_pt_format *f, uint64_t d, unsigned level,
			   struct pt_leaf_attr *a)
{
	uint64_t idx = (d & S1_ATTRINDX_MASK) >> S1_ATTRINDX_SHIFT, arch_idx;
	struct pt_memtypes other;
	uint32_t fl = PHYSIM_R | pt_memtype_flags(idx, s1_memtypes(f, &other), &arch_idx);

	if (!(d & S1_AP2))
		fl |= PHYSIM_W;
	if (d & S1_AP1)
		fl |= PHYSIM_U | (d & S1_UXN ? 0 : PHYSIM_X);
	else
		fl |= d & S1_PXN ? 0 : PHYSIM_X;
	a->flags = fl;
	a->arch = (arch_idx << S1_ATTRINDX_SHIFT) | (d & S1_NG) | a64_arch_sh(f, d);
	a->accessed = (d & A64_AF) != 0;
	a->dirty = false;
	a->grouped = (d & A64_CONT) != 0;
}

/* Memory type: MAIR_ELx.Attr<AttrIndx> (D8.5, "Stage 1 memory type and
 * Cacheability attributes"); shareability SH. */
static void s1_memattr(const struct physim_pt_format *f, uint64_t d, unsigned level,
		       const struct pt_mem_ctl *c, struct physim_memattr *out)
{
	unsigned idx = (unsigned)((d & S1_ATTRINDX_MASK) >> S1_ATTRINDX_SHIFT);
	uint64_t mair = a64_mair(c->mair ? c->mair : f->mair);

	(void)level;
	a64_mair_attr_type((unsigned)(mair >> (8 * idx)) & 0xff, &out->type, &out->outer);
	a64_fill_sh(a64_sh_source(f, d), out);
}

static const struct pt_format_ops a64_s1_ops = {
    .classify = a64_classify,
    .output_addr = a64_output_addr,
    .encode_table = a64_encode_table,
    .encode_leaf = s1_encode_leaf,
    .decode_leaf = s1_decode_leaf,
    .memattr = s1_memattr,
};

/* ---- stage 2 ---- */

/* D8.5 stage 2 MemAttr: [3:2] = 00 is Device memory ([1:0] nGnRnE, nGnRE,
 * nGRE, GRE); otherwise [3:2] is the outer and [1:0] the inner cacheability,
 * where inner 0b00 is reserved. */
static inline bool s2_memattr_is_device(uint64_t m)
{
	return (m & 0xc) == 0;
}

static inline bool s2_memattr_reserved(uint64_t m)
{
	return (m & 0xc) != 0 && (m & 0x3) == 0;
}

/* MemAttr by the one memory-type rule (pt-format.h): Normal WB, Device-nGnRE
 * and Normal NC are the flags'; the other Device types and Normal types
 * with other cacheabilities come raw in arch; Device-nGnRnE (0) cannot be
 * written and reads back as DEVICE. */
static const struct pt_memtypes s2_memtypes = {
    .normal = S2_MEMATTR_NORMAL_WB,
    .device = S2_MEMATTR_DEVICE_NGNRE,
    .uncached = S2_MEMATTR_NORMAL_NC,
    .zero_flags = PHYSIM_DEVICE,
};

static int s2_memattr(uint32_t flags, uint64_t arch, uint64_t *memattr)
{
	int rc = pt_memtype_pick(flags, (arch & S2_MEMATTR_MASK) >> S2_MEMATTR_SHIFT, &s2_memtypes,
				 memattr);
	if (rc == 0 && s2_memattr_reserved(*memattr))
		rc = -ENOTSUP;
	return rc;
}

/* Stage 2 leaf: S2AP expresses every read/write combination, including
 * write-only and no access; X -> XN = 0b00, else XN[1] (bit 54) = 1. There is
 * no EL0/EL1 distinction, so PHYSIM_U is accepted and ignored. */
static int s2_encode_leaf(const struct physim_pt_format *f, uint64_t pa,
			  const struct pt_leaf_attr *a, unsigned level, uint64_t *d)
{
	uint64_t memattr, sh, v;
	uint32_t fl = a->flags;
	int rc = a64_check_leaf(f, pa, a, level);

	if (rc)
		return rc;
	rc = s2_memattr(fl, a->arch, &memattr);
	if (rc)
		return rc;
	rc = a64_shareability(f, a->arch, &sh);
	if (rc)
		return rc;

	v = a64_oa_encode(f, pa) | a64_leaf_type(level) | (memattr << S2_MEMATTR_SHIFT) | sh;
	if (a->grouped)
		v |= A64_CONT;
	if (fl & PHYSIM_R)
		v |= S2_S2AP_R;
	if (fl & PHYSIM_W)
		v |= S2_S2AP_W;
	if (!(fl & PHYSIM_X))
		v |= S2_XN;
	if (a->accessed)
		v |= A64_AF;
	*d = v;
	return 0;
}

/* X only when XN[1:0] = 0b00, executable at EL1 and EL0 (with FEAT_XNX the
 * other values forbid execution at one EL or both). */
static void s2_decode_leaf(const struct physim_pt_format *f, uint64_t d, unsigned level,
			   struct pt_leaf_attr *a)
{
	uint64_t memattr = (d & S2_MEMATTR_MASK) >> S2_MEMATTR_SHIFT, arch_memattr;
	uint32_t fl = pt_memtype_flags(memattr, &s2_memtypes, &arch_memattr);

	if (d & S2_S2AP_R)
		fl |= PHYSIM_R;
	if (d & S2_S2AP_W)
		fl |= PHYSIM_W;
	if (!(d & (S2_XN | S2_XN0)))
		fl |= PHYSIM_X;
	a->flags = fl;
	a->arch = (arch_memattr << S2_MEMATTR_SHIFT) | a64_arch_sh(f, d);
	a->accessed = (d & A64_AF) != 0;
	a->dirty = false;
	a->grouped = (d & A64_CONT) != 0;
}

/* MemAttr[3:0] without FEAT_S2FWB (D8.5, "Stage 2 memory type and
 * Cacheability attributes when FEAT_S2FWB is disabled"): [3:2] = 00 Device,
 * [1:0] nGnRnE, nGnRE, nGRE, GRE; otherwise outer [3:2] and inner [1:0],
 * each 01 Non-cacheable, 10 Write-Through, 11 Write-Back (inner 00
 * reserved). Alone, without the stage 1 attributes it combines with. */
static void s2_memattr_decode(const struct physim_pt_format *f, uint64_t d, unsigned level,
			      const struct pt_mem_ctl *c, struct physim_memattr *out)
{
	static const enum physim_memtype dev[4] = {PHYSIM_MEM_DEVICE_nGnRnE,
						   PHYSIM_MEM_DEVICE_nGnRE, PHYSIM_MEM_DEVICE_nGRE,
						   PHYSIM_MEM_DEVICE_GRE};
	static const enum physim_memtype cache[4] = {PHYSIM_MEM_UNKNOWN, PHYSIM_MEM_NORMAL_NC,
						     PHYSIM_MEM_NORMAL_WT, PHYSIM_MEM_NORMAL_WB};
	unsigned m = (unsigned)((d & S2_MEMATTR_MASK) >> S2_MEMATTR_SHIFT);

	(void)f;
	(void)level;
	(void)c;
	if (s2_memattr_is_device(m)) {
		out->type = out->outer = dev[m & 3];
	} else if (s2_memattr_reserved(m)) {
		out->type = out->outer = PHYSIM_MEM_UNKNOWN;
	} else {
		out->type = cache[m & 3];
		out->outer = cache[m >> 2];
	}
	a64_fill_sh(a64_sh_source(f, d), out);
}

static const struct pt_format_ops a64_s2_ops = {
    .classify = a64_classify,
    .output_addr = a64_output_addr,
    .encode_table = a64_encode_table,
    .encode_leaf = s2_encode_leaf,
    .decode_leaf = s2_decode_leaf,
    .memattr = s2_memattr_decode,
};

/* ---- the formats ----
 * Geometry (D8.2, "translation granule" and "initial lookup level" tables):
 * a 4K granule resolves 9 bits per level (shifts 12, 21, 30, 39), 16K 11 bits
 * (14, 25, 36, 47), 64K 13 bits (16, 29, 42). Blocks: 4K at lookup levels 1
 * (1G) and 2 (2M); 16K at level 2 (32M; level 1 only with FEAT_LPA2); 64K at
 * level 2 (512M; level 1 only with FEAT_LPA). */

#define A64_S1_COMMON                                                                              \
	.arch = PHYSIM_ARCH_AARCH64, .stage2 = false, .pte_bytes = 8, .pa_bits = 48,               \
	.sign_extended = false, .flags_supported = A64_ALL_FLAGS, .arch_attr_mask = S1_ARCH_MASK,  \
	.arch_memtype_mask = S1_ATTRINDX_MASK, .set_accessed_on_map = true,                        \
	.set_dirty_on_map = false, .ops = &a64_s1_ops, .walk = &physim_a64_s1_walk_ops

#define A64_S2_COMMON                                                                              \
	.arch = PHYSIM_ARCH_AARCH64, .stage2 = true, .pte_bytes = 8, .pa_bits = 48,                \
	.sign_extended = false,                                                                    \
	.flags_supported = PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_DEVICE | PHYSIM_UNCACHED,       \
	.arch_attr_mask = S2_ARCH_MASK, .arch_memtype_mask = S2_MEMATTR_MASK,                      \
	.set_accessed_on_map = true, .set_dirty_on_map = false, .ops = &a64_s2_ops,                \
	.walk = &physim_a64_s2_walk_ops

/* Geometry shared by the EL1&0 formats and the EL2 formats of the same
 * names (the regime changes the descriptors' permission bits, not the
 * walk). */
/* 4K granule, 39-bit VA: L3 4K pages, L2 2M and L1 1G blocks. */
#define A64_GEOM_4K_39                                                                             \
	.levels = 3, .va_bits = 39,                                                                \
	.level = {{.shift = 12, .index_bits = 9, .leaf_ok = true},                                 \
		  {.shift = 21, .index_bits = 9, .leaf_ok = true},                                 \
		  {.shift = 30, .index_bits = 9, .leaf_ok = true}},                                \
	.group_log2 = {4, 4, 4}, .param = A64_PARAM(12, A64_RES0_4K_16K, A64_OA_48)

/* 4K granule, 48-bit VA: as above, and L0 holds tables only. */
#define A64_GEOM_4K_48                                                                             \
	.levels = 4, .va_bits = 48,                                                                \
	.level = {{.shift = 12, .index_bits = 9, .leaf_ok = true},                                 \
		  {.shift = 21, .index_bits = 9, .leaf_ok = true},                                 \
		  {.shift = 30, .index_bits = 9, .leaf_ok = true},                                 \
		  {.shift = 39, .index_bits = 9, .leaf_ok = false}},                               \
	.group_log2 = {4, 4, 4}, .param = A64_PARAM(12, A64_RES0_4K_16K, A64_OA_48)

/* 16K granule, 47-bit VA: L3 16K pages, L2 32M blocks, L1 tables only
 * (64G blocks need LPA2). */
#define A64_GEOM_16K_47                                                                            \
	.levels = 3, .va_bits = 47,                                                                \
	.level = {{.shift = 14, .index_bits = 11, .leaf_ok = true},                                \
		  {.shift = 25, .index_bits = 11, .leaf_ok = true},                                \
		  {.shift = 36, .index_bits = 11, .leaf_ok = false}},                              \
	.group_log2 = {7, 5}, .param = A64_PARAM(14, A64_RES0_4K_16K, A64_OA_48)

/* 64K granule, 48-bit VA: L3 64K pages, L2 512M blocks, L1 tables only
 * (4T blocks need LPA). */
#define A64_GEOM_64K_48                                                                            \
	.levels = 3, .va_bits = 48,                                                                \
	.level = {{.shift = 16, .index_bits = 13, .leaf_ok = true},                                \
		  {.shift = 29, .index_bits = 13, .leaf_ok = true},                                \
		  {.shift = 42, .index_bits = 6, .leaf_ok = false}},                               \
	.group_log2 = {5, 5}, .param = A64_PARAM(16, A64_RES0_64K, A64_OA_48)

/* TCR_EL1.T0SZ = 25, TG0 = 4K: the walk starts at lookup level 1. */
const struct physim_pt_format physim_fmt_aarch64_4k_39 = {
    .name = "aarch64-4k-39",
    .description = "AArch64 stage 1, 4K granule, 39-bit VA (lookup levels 1-3)",
    A64_S1_COMMON,
    A64_GEOM_4K_39,
};

/* T0SZ = 16, TG0 = 4K: lookup levels 0-3; no level 0 blocks without LPA2. */
const struct physim_pt_format physim_fmt_aarch64_4k_48 = {
    .name = "aarch64-4k-48",
    .description = "AArch64 stage 1, 4K granule, 48-bit VA (lookup levels 0-3)",
    A64_S1_COMMON,
    A64_GEOM_4K_48,
};

/* T0SZ = 17, TG0 = 16K: 14 + 3 * 11 = 47 bits, so the walk starts at lookup
 * level 1 with a full 2048-entry table (level 0 would resolve only VA bit 47,
 * which a 47-bit VA does not have; Linux's 16K/47-bit configuration is the
 * same 3-level layout). Blocks only at level 2 (32M). */
const struct physim_pt_format physim_fmt_aarch64_16k_47 = {
    .name = "aarch64-16k-47",
    .description = "AArch64 stage 1, 16K granule, 47-bit VA (lookup levels 1-3)",
    A64_S1_COMMON,
    A64_GEOM_16K_47,
};

/* T0SZ = 16, TG0 = 64K: 16 + 13 + 13 = 42, so lookup level 1 resolves the
 * remaining 6 bits (47:42) with a 64-entry (512-byte) table. */
const struct physim_pt_format physim_fmt_aarch64_64k_48 = {
    .name = "aarch64-64k-48",
    .description = "AArch64 stage 1, 64K granule, 48-bit VA (lookup levels 1-3)",
    A64_S1_COMMON,
    A64_GEOM_64K_48,
};

/* VTCR_EL2.T0SZ = 24, SL0 = 1 (start at lookup level 1), 4K granule: level 1
 * would need 10 index bits (39:30), so two level-1 tables are concatenated
 * into one 8 KiB, 8 KiB-aligned root of 1024 entries (D8.2 "Concatenated
 * translation tables for the initial stage 2 lookup"). */
const struct physim_pt_format physim_fmt_aarch64_s2_4k_40 = {
    .name = "aarch64-s2-4k-40",
    .description = "AArch64 stage 2, 4K granule, 40-bit IPA (level 1 start, 2 concatenated roots)",
    A64_S2_COMMON,
    .levels = 3,
    .va_bits = 40,
    .level =
	{
	    {.shift = 12, .index_bits = 9, .leaf_ok = true},  /* L3: 4K pages */
	    {.shift = 21, .index_bits = 9, .leaf_ok = true},  /* L2: 2M blocks */
	    {.shift = 30, .index_bits = 10, .leaf_ok = true}, /* L1 x2: 1G blocks */
	},
    .group_log2 = {4, 4, 4}, /* Contiguous bit runs (A64_CONT) */
    .param = A64_PARAM(12, A64_RES0_4K_16K, A64_OA_48),
};

/* VTCR_EL2.T0SZ = 16, SL0 = 2 (start at lookup level 0), 4K granule. */
const struct physim_pt_format physim_fmt_aarch64_s2_4k_48 = {
    .name = "aarch64-s2-4k-48",
    .description = "AArch64 stage 2, 4K granule, 48-bit IPA (lookup levels 0-3)",
    A64_S2_COMMON,
    .levels = 4,
    .va_bits = 48,
    .level =
	{
	    {.shift = 12, .index_bits = 9, .leaf_ok = true},  /* L3: 4K pages */
	    {.shift = 21, .index_bits = 9, .leaf_ok = true},  /* L2: 2M blocks */
	    {.shift = 30, .index_bits = 9, .leaf_ok = true},  /* L1: 1G blocks */
	    {.shift = 39, .index_bits = 9, .leaf_ok = false}, /* L0: tables only */
	},
    .group_log2 = {4, 4, 4}, /* Contiguous bit runs (A64_CONT) */
    .param = A64_PARAM(12, A64_RES0_4K_16K, A64_OA_48),
};

/* ---- 52-bit formats (FEAT_LPA2, FEAT_LPA + FEAT_LVA) ----
 * The PE implements a 52-bit PA (pa_bits 52, ID_AA64MMFR0_EL1.PARange =
 * 0b0110); TCR_EL1.IPS / VTCR_EL2.PS = 0b110 by default (ctl.ips_bits 0).
 * Block sizes (pseudocode AArch64.BlockDescSupported): with DS = 1 the 4K
 * granule has blocks at lookup level 0 (512G) and the 16K granule at level 1
 * (64G); the 64K granule has level 1 blocks (4T) when the PA size is 52. */

#define A64_S1_52(attr_mask)                                                                       \
	.arch = PHYSIM_ARCH_AARCH64, .stage2 = false, .pte_bytes = 8, .pa_bits = 52,               \
	.sign_extended = false, .flags_supported = A64_ALL_FLAGS, .arch_attr_mask = (attr_mask),   \
	.arch_memtype_mask = S1_ATTRINDX_MASK, .set_accessed_on_map = true,                        \
	.set_dirty_on_map = false, .ops = &a64_s1_ops, .walk = &physim_a64_s1_walk_ops

/* TCR_EL1.DS = 1, T0SZ = 12, TG0 = 4K (FEAT_LPA2): 12 + 4 * 9 = 48, so the
 * walk starts at lookup level -1, which resolves VA bits 51:48 with a
 * 16-entry table (D8.2, "initial lookup level" with a 52-bit VA). SH comes
 * from TCR_EL1.SH0, not the descriptor, so arch has no SH. */
const struct physim_pt_format physim_fmt_aarch64_4k_52 = {
    .name = "aarch64-4k-52",
    .description = "AArch64 stage 1, 4K granule, LPA2 52-bit VA and PA (lookup levels -1 to 3)",
    A64_S1_52(S1_ATTRINDX_MASK | S1_NG),
    .levels = 5,
    .va_bits = 52,
    .level =
	{
	    {.shift = 12, .index_bits = 9, .leaf_ok = true},  /* L3: 4K pages */
	    {.shift = 21, .index_bits = 9, .leaf_ok = true},  /* L2: 2M blocks */
	    {.shift = 30, .index_bits = 9, .leaf_ok = true},  /* L1: 1G blocks */
	    {.shift = 39, .index_bits = 9, .leaf_ok = true},  /* L0: 512G blocks (DS = 1) */
	    {.shift = 48, .index_bits = 4, .leaf_ok = false}, /* L-1: tables only */
	},
    .param = A64_PARAM(12, 0, A64_OA_DS),
};

/* TCR_EL1.DS = 1, T0SZ = 12, TG0 = 16K (FEAT_LPA2): 14 + 3 * 11 = 47, so
 * lookup level 0 resolves VA bits 51:47 with a 32-entry table (D8.2). */
const struct physim_pt_format physim_fmt_aarch64_16k_52 = {
    .name = "aarch64-16k-52",
    .description = "AArch64 stage 1, 16K granule, LPA2 52-bit VA and PA (lookup levels 0-3)",
    A64_S1_52(S1_ATTRINDX_MASK | S1_NG),
    .levels = 4,
    .va_bits = 52,
    .level =
	{
	    {.shift = 14, .index_bits = 11, .leaf_ok = true}, /* L3: 16K pages */
	    {.shift = 25, .index_bits = 11, .leaf_ok = true}, /* L2: 32M blocks */
	    {.shift = 36, .index_bits = 11, .leaf_ok = true}, /* L1: 64G blocks (DS = 1) */
	    {.shift = 47, .index_bits = 5, .leaf_ok = false}, /* L0: tables only */
	},
    .param = A64_PARAM(14, 0, A64_OA_DS),
};

/* TCR_EL1.T0SZ = 12, TG0 = 64K, IPS = 52 bits (FEAT_LPA, FEAT_LVA):
 * 16 + 2 * 13 = 42, so lookup level 1 resolves VA bits 51:42 with a
 * 1024-entry (8 KiB) table. OA[51:48] sits in bits 15:12; SH stays in 9:8;
 * bits 49:48 stay RES0 (D8.3). */
const struct physim_pt_format physim_fmt_aarch64_64k_52 = {
    .name = "aarch64-64k-52",
    .description = "AArch64 stage 1, 64K granule, LPA/LVA 52-bit VA and PA (lookup levels 1-3)",
    A64_S1_52(S1_ARCH_MASK),
    .levels = 3,
    .va_bits = 52,
    .level =
	{
	    {.shift = 16, .index_bits = 13, .leaf_ok = true}, /* L3: 64K pages */
	    {.shift = 29, .index_bits = 13, .leaf_ok = true}, /* L2: 512M blocks */
	    {.shift = 42, .index_bits = 10, .leaf_ok = true}, /* L1: 4T blocks (PA 52) */
	},
    .param = A64_PARAM(16, A64_RES0_4K_16K, A64_OA_LPA64K),
};

/* VTCR_EL2.DS = 1, T0SZ = 12, SL2 = 1 with SL0 = 0b00 (start at lookup level
 * -1), PS = 52 bits, 4K granule (FEAT_LPA2; D8.2, "initial lookup level" for
 * stage 2 with DS = 1). SH comes from VTCR_EL2.SH0, so arch holds MemAttr
 * only. */
const struct physim_pt_format physim_fmt_aarch64_s2_4k_52 = {
    .name = "aarch64-s2-4k-52",
    .description = "AArch64 stage 2, 4K granule, LPA2 52-bit IPA and PA (lookup levels -1 to 3)",
    .arch = PHYSIM_ARCH_AARCH64,
    .stage2 = true,
    .pte_bytes = 8,
    .pa_bits = 52,
    .sign_extended = false,
    .flags_supported = PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_DEVICE | PHYSIM_UNCACHED,
    .arch_attr_mask = S2_MEMATTR_MASK,
    .arch_memtype_mask = S2_MEMATTR_MASK,
    .set_accessed_on_map = true,
    .set_dirty_on_map = false,
    .ops = &a64_s2_ops,
    .walk = &physim_a64_s2_walk_ops,
    .levels = 5,
    .va_bits = 52,
    .level =
	{
	    {.shift = 12, .index_bits = 9, .leaf_ok = true},  /* L3: 4K pages */
	    {.shift = 21, .index_bits = 9, .leaf_ok = true},  /* L2: 2M blocks */
	    {.shift = 30, .index_bits = 9, .leaf_ok = true},  /* L1: 1G blocks */
	    {.shift = 39, .index_bits = 9, .leaf_ok = true},  /* L0: 512G blocks (DS = 1) */
	    {.shift = 48, .index_bits = 4, .leaf_ok = false}, /* L-1: tables only */
	},
    .param = A64_PARAM(12, 0, A64_OA_DS),
};

/* ---- stage 1 of the EL2 translation regime, HCR_EL2.E2H = 0 ----
 * A regime of one Exception level (Arm ARM K.a D8.4.1.2, bits in
 * aarch64-desc.h): AP[2] = 1 read-only, else read/write (table D8-62); AP[1]
 * is RES1 and is written as 1; bit 54 is XN and bit 53 (PXN) is written as
 * 0; nG is never written (no ASIDs). There is no EL0, so PHYSIM_U cannot be
 * expressed (-ENOTSUP) and is never reported. Memory type, shareability and
 * the Access flag are encoded as in the EL1&0 regime, by the same code.
 * The EL2&0 regime (E2H = 1, VHE) has the descriptors and permission rules
 * of EL1&0 (D8.4.1.2 treats both as regimes of two Exception levels): its
 * tables use the EL1&0 formats above. */
static int el2_encode_leaf(const struct physim_pt_format *f, uint64_t pa,
			   const struct pt_leaf_attr *a, unsigned level, uint64_t *d)
{
	struct pt_leaf_attr a1 = *a;
	uint64_t v;

	a1.flags &= ~(uint32_t)PHYSIM_X;
	int rc = s1_encode_leaf(f, pa, &a1, level, &v);
	if (rc)
		return rc;
	if (a->flags & PHYSIM_U)
		return -ENOTSUP;
	v = (v & ~(S1_PXN | S1_UXN)) | S1_AP1;
	if (!(a->flags & PHYSIM_X))
		v |= EL2_XN;
	*d = v;
	return 0;
}

/* AP[1] (RES1), PXN and nG have no meaning here: decoded without them. */
static void el2_decode_leaf(const struct physim_pt_format *f, uint64_t d, unsigned level,
			    struct pt_leaf_attr *a)
{
	s1_decode_leaf(f, d & ~(S1_AP1 | S1_PXN | S1_NG), level, a);
	a->flags &= ~(uint32_t)(PHYSIM_U | PHYSIM_X);
	if (!(d & EL2_XN))
		a->flags |= PHYSIM_X;
}

static const struct pt_format_ops a64_el2_ops = {
    .classify = a64_classify,
    .output_addr = a64_output_addr,
    .encode_table = a64_encode_table,
    .encode_leaf = el2_encode_leaf,
    .decode_leaf = el2_decode_leaf,
    .memattr = s1_memattr,
};

/* The geometry of the EL1&0 formats of the same names, with TCR_EL2.T0SZ and
 * TG0 in place of TCR_EL1's; TTBR0_EL2 is the only root. */
#define A64_EL2_COMMON                                                                             \
	.arch = PHYSIM_ARCH_AARCH64, .stage2 = false, .pte_bytes = 8, .pa_bits = 48,               \
	.sign_extended = false, .flags_supported = A64_ALL_FLAGS & ~(uint32_t)PHYSIM_U,            \
	.arch_attr_mask = EL2_ARCH_MASK, .arch_memtype_mask = S1_ATTRINDX_MASK,                    \
	.set_accessed_on_map = true, .set_dirty_on_map = false, .ops = &a64_el2_ops,               \
	.walk = &physim_a64_el2_walk_ops

const struct physim_pt_format physim_fmt_aarch64_el2_4k_39 = {
    .name = "aarch64-el2-4k-39",
    .description = "AArch64 EL2 stage 1 (E2H=0), 4K granule, 39-bit VA (lookup levels 1-3)",
    A64_EL2_COMMON,
    A64_GEOM_4K_39,
};

const struct physim_pt_format physim_fmt_aarch64_el2_4k_48 = {
    .name = "aarch64-el2-4k-48",
    .description = "AArch64 EL2 stage 1 (E2H=0), 4K granule, 48-bit VA (lookup levels 0-3)",
    A64_EL2_COMMON,
    A64_GEOM_4K_48,
};

const struct physim_pt_format physim_fmt_aarch64_el2_16k_47 = {
    .name = "aarch64-el2-16k-47",
    .description = "AArch64 EL2 stage 1 (E2H=0), 16K granule, 47-bit VA (lookup levels 1-3)",
    A64_EL2_COMMON,
    A64_GEOM_16K_47,
};

const struct physim_pt_format physim_fmt_aarch64_el2_64k_48 = {
    .name = "aarch64-el2-64k-48",
    .description = "AArch64 EL2 stage 1 (E2H=0), 64K granule, 48-bit VA (lookup levels 1-3)",
    A64_EL2_COMMON,
    A64_GEOM_64K_48,
};
