/* SPDX-License-Identifier: MIT */
/* arch/aarch64/armv7_short.c - the VMSAv7 / VMSAv8-32 Short-descriptor
 * translation table format: 32-bit VA, 4-byte descriptors, 1 MiB sections and
 * 4 KiB small pages.
 *
 * References: Arm ARM (DDI 0487) G5.4 "The VMSAv8-32 Short-descriptor
 * translation table format" (first- and second-level descriptor formats) and
 * G5.6/G5.7 (access permissions, memory region attributes); the same material
 * is B3.5-B3.8 of the ARMv7-A/R manual (DDI 0406C).
 *
 * Engine level 1 is the first-level table (4096 entries, 16 KiB, 16 KiB
 * aligned, indexed by VA[31:20]); engine level 0 a second-level table (256
 * entries, 1 KiB, indexed by VA[19:12]; the engine gives each one 4 KiB frame).
 *
 * What physim models:
 * - SCTLR.AFE = 1, the simplified access permissions model: AP[2:1] are the
 *   permissions (AP[2] read-only, AP[1] PL0 access) and AP[0] is the Access
 *   flag (G5.6 "The Access flag"). With AF = 1, as every new leaf gets
 *   (set_accessed_on_map), the same AP[2:0] values mean the same permissions
 *   under AFE = 0 too (001 PL1 RW, 011 full, 101 PL1 RO, 111 RO).
 * - SCTLR.TRE = 0: TEX[2:0], C, B give the memory type directly (G5.7, "Short-
 *   descriptor format memory region attributes, without TEX remap").
 * - Domain 0 for every descriptor (DACR must make domain 0 a client), NS = 0,
 *   S = 1 (shareable) on every leaf.
 * - PXN is supported (as in every VMSAv8-32 implementation): first-level bit 0
 *   of a section and bit 2 of a page-table descriptor. physim writes both 0.
 * - The memory type follows the one rule of pt.h (v7_memtype): Shareable
 *   Device, Normal NC and Normal WB-WA are DEVICE's, UNCACHED's and the
 *   default's and read back as the flag with TEX/C/B 0 in `arch`; the other
 *   TEX/C/B values come and read back raw, with no flag (strongly-ordered,
 *   which cannot be written, reads back as DEVICE with arch 0).
 * - Supersections (16 MiB, 16 identical first-level entries, 40-bit output
 *   address through the extended base address fields) and large pages
 *   (64 KiB, 16 identical second-level entries) are the format's grouped
 *   leaves (lib/pt-format.h): encode_leaf writes one for a->grouped and
 *   decode_leaf reports it. Sections and small pages hold 32-bit addresses
 *   only (pa_bits is 40 for the supersections: a section or page above
 *   4 GiB is -EINVAL). Supersections have no domain field (bits 8:5 are
 *   PA[39:36]); domain 0 applies, as for every other descriptor here.
 */
#include "armv7-desc.h"

/* Descriptor bits, classify and output address: armv7-desc.h. */

/* TEX[2:0] (arch bits 8:6) and C, B (3, 2): the memory type. */
#define V7_TEXCB_MASK ((UINT32_C(7) << V7_PAGE_TEX_SHIFT) | V7_C | V7_B)
/* `arch`: memory type and nG, in the small-page layout. */
#define V7_ARCH_MASK (V7_TEXCB_MASK | V7_PAGE_NG)

#define V7_ALL_FLAGS  (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U | PHYSIM_DEVICE | PHYSIM_UNCACHED)
#define V7_TYPE_FLAGS (PHYSIM_DEVICE | PHYSIM_UNCACHED)

/* TEX:C:B as one 5-bit number, TEX in bits 4:2 (G5.7, TEX remap disabled). */
static inline unsigned v7_texcb(uint32_t page_layout_bits)
{
	unsigned tex = (page_layout_bits >> V7_PAGE_TEX_SHIFT) & 7;
	return (tex << 2) | ((page_layout_bits & V7_C) ? 2 : 0) |
	       ((page_layout_bits & V7_B) ? 1 : 0);
}

static inline uint32_t v7_texcb_bits(unsigned texcb)
{
	return ((uint32_t)(texcb >> 2) << V7_PAGE_TEX_SHIFT) | ((texcb & 2) ? V7_C : 0) |
	       ((texcb & 1) ? V7_B : 0);
}

/* The TEX:C:B values physim uses (TEX, C, B). */
#define V7_TEXCB_STRONGLY_ORDERED 0x00u /* 000 0 0 */
#define V7_TEXCB_SHARED_DEVICE	  0x01u /* 000 0 1 */
#define V7_TEXCB_NONSHARED_DEVICE 0x08u /* 010 0 0 */
#define V7_TEXCB_NORMAL_NC	  0x04u /* 001 0 0: outer and inner non-cacheable */
#define V7_TEXCB_NORMAL_WB_WA	  0x07u /* 001 1 1: outer and inner write-back, write-allocate */

static inline bool v7_texcb_is_device(unsigned t)
{
	return t == V7_TEXCB_STRONGLY_ORDERED || t == V7_TEXCB_SHARED_DEVICE ||
	       t == V7_TEXCB_NONSHARED_DEVICE;
}

/* Reserved or IMPLEMENTATION DEFINED encodings (G5.7 table of TEX, C, B):
 * TEX 001 with CB 01 (reserved) or 10 (IMP DEF), TEX 010 with CB != 00, TEX 011. */
static inline bool v7_texcb_reserved(unsigned t)
{
	unsigned tex = t >> 2, cb = t & 3;
	return (tex == 1 && (cb == 1 || cb == 2)) || (tex == 2 && cb != 0) || tex == 3;
}

/* Memory type by the one rule (pt-format.h): Normal WB-WA, Shareable Device
 * and Normal NC are the flags'; Non-shareable Device, write-through,
 * write-back without write-allocate and TEX = 1xx come raw in arch;
 * strongly-ordered (0) cannot be written and reads back as DEVICE. */
static const struct pt_memtypes v7_memtypes = {
    .normal = V7_TEXCB_NORMAL_WB_WA,
    .device = V7_TEXCB_SHARED_DEVICE,
    .uncached = V7_TEXCB_NORMAL_NC,
    .zero_flags = PHYSIM_DEVICE,
};

static int v7_memtype(uint32_t flags, uint64_t arch, unsigned *texcb)
{
	uint64_t v = 0; /* pt_memtype_pick leaves it alone on failure */
	int rc = pt_memtype_pick(flags, v7_texcb((uint32_t)arch), &v7_memtypes, &v);

	if (rc == 0 && v7_texcb_reserved((unsigned)v))
		rc = -ENOTSUP;
	*texcb = (unsigned)v;
	return rc;
}

/* The format ops: the codec (armv7-desc.h). */
static enum pt_kind v7_classify(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	(void)f;
	return v7_desc_classify(d, level);
}

static uint64_t v7_output_addr(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	(void)f;
	return v7_desc_output_addr(d, level);
}

/* First-level page-table descriptor: base | 0b01, PXN = NS = domain = 0, the
 * most permissive (G5.4). */
static uint64_t v7_encode_table(const struct physim_pt_format *f, uint64_t table_pa, unsigned level)
{
	return ((uint32_t)table_pa & V7_L1_TBL_BASE) | V7_L1_PAGE_TBL;
}

/* Small-page layout of every attribute (what a small page holds as is and
 * what a section holds 6 bits higher), without the type bits and XN/PXN. */
static int v7_attr_bits(const struct pt_leaf_attr *a, uint32_t *bits)
{
	uint32_t fl = a->flags, ap = 0;
	unsigned texcb;
	int rc;

	if (fl & ~(uint32_t)V7_ALL_FLAGS)
		return -EINVAL;
	if (a->arch & ~(uint64_t)V7_ARCH_MASK)
		return -ENOTSUP;
	/* AFE = 1 has no "no access" encoding: reads are always allowed. */
	if (!(fl & PHYSIM_R) || (fl & V7_TYPE_FLAGS) == V7_TYPE_FLAGS)
		return -ENOTSUP;
	rc = v7_memtype(fl, a->arch, &texcb);
	if (rc)
		return rc;
	if (a->accessed)
		ap |= V7_AP0;
	if (fl & PHYSIM_U)
		ap |= V7_AP1;
	*bits = v7_texcb_bits(texcb) | (ap << V7_PAGE_AP_SHIFT) | V7_PAGE_S |
		((uint32_t)a->arch & V7_PAGE_NG) | ((fl & PHYSIM_W) ? 0 : V7_PAGE_APX);
	return 0;
}

/* Execute: XN = !X. PXN stays 0 on sections so that a section means what the
 * small pages it splits into mean (a small page has no PXN). */
static int v7_encode_leaf(const struct physim_pt_format *f, uint64_t pa,
			  const struct pt_leaf_attr *a, unsigned level, uint64_t *d)
{
	uint64_t size = pt_level_page_size(f, level);
	uint32_t bits, cb;
	bool xn = !(a->flags & PHYSIM_X);
	int rc;

	if (level > 1 || pa >= (UINT64_C(1) << f->pa_bits) || (pa & (size - 1)))
		return -EINVAL;
	if (!a->grouped && (pa >> 32) != 0)
		return -EINVAL; /* only a supersection reaches above 4 GiB */
	if (a->grouped && level == 0 && (pa >> 32) != 0)
		return -EINVAL;
	rc = v7_attr_bits(a, &bits);
	if (rc)
		return rc;
	if (level == 0 && a->grouped) {
		/* Large page: TEX moves to bits 14:12 and XN to bit 15. */
		uint32_t tex = bits & (UINT32_C(7) << V7_PAGE_TEX_SHIFT);
		*d = ((uint32_t)pa & V7_LARGE_BASE) | (bits & ~tex) |
		     (tex >> V7_PAGE_TEX_SHIFT << V7_SECT_TEX_SHIFT) | V7_L2_LARGE |
		     (xn ? V7_LARGE_XN : 0);
		return 0;
	}
	if (level == 0) {
		*d = (uint32_t)pa | bits | V7_SECT_BIT | (xn ? V7_PAGE_XN : 0);
		return 0;
	}
	cb = bits & (V7_C | V7_B);
	*d = ((bits & ~cb) << V7_SECT_FIELD_DELTA) | cb | V7_SECT_BIT | (xn ? V7_SECT_XN : 0);
	if (a->grouped)
		*d |= V7_SECT_SUPER | (pa & V7_SUPER_BASE) |
		      ((pa >> 32) & 0xf) << V7_SUPER_PA35_SHIFT |
		      ((pa >> 36) & 0xf) << V7_SUPER_PA39_SHIFT;
	else
		*d |= (uint32_t)pa;
	return 0;
}

/* A section's attributes moved into the small-page layout. C and B share their
 * positions; everything else (AP, TEX, AP[2], S, nG) moves down 6 bits. */
static uint32_t v7_section_to_page_layout(uint32_t s)
{
	uint32_t moved = (s >> V7_SECT_FIELD_DELTA) &
			 ((UINT32_C(3) << V7_PAGE_AP_SHIFT) | (UINT32_C(7) << V7_PAGE_TEX_SHIFT) |
			  V7_PAGE_APX | V7_PAGE_S | V7_PAGE_NG);
	return moved | (s & (V7_C | V7_B));
}

/* X: for a PL0 mapping, XN alone (PXN only restricts PL1); for a PL1 mapping,
 * XN and (sections) PXN both clear. */
static void v7_decode_leaf(const struct physim_pt_format *f, uint64_t d, unsigned level,
			   struct pt_leaf_attr *a)
{
	uint32_t v = (uint32_t)d, p, ap;
	unsigned texcb;
	bool xn, pxn = false;
	uint32_t fl = PHYSIM_R;

	a->grouped = level == 0 ? (v & V7_TYPE_MASK) == V7_L2_LARGE : (v & V7_SECT_SUPER) != 0;
	if (level == 0 && a->grouped) {
		/* Large page: the small-page layout, TEX from bits 14:12. */
		p = (v & ~(UINT32_C(0xffff) << 12 | UINT32_C(7) << V7_PAGE_TEX_SHIFT)) |
		    ((v >> V7_SECT_TEX_SHIFT) & 7) << V7_PAGE_TEX_SHIFT;
		xn = v & V7_LARGE_XN;
	} else if (level == 0) {
		p = v;
		xn = v & V7_PAGE_XN;
	} else {
		p = v7_section_to_page_layout(v);
		xn = v & V7_SECT_XN;
		pxn = v & V7_SECT_PXN;
	}
	ap = (p >> V7_PAGE_AP_SHIFT) & 3;
	if (!(p & V7_PAGE_APX))
		fl |= PHYSIM_W;
	if (ap & V7_AP1)
		fl |= PHYSIM_U | (xn ? 0 : PHYSIM_X);
	else
		fl |= (xn || pxn) ? 0 : PHYSIM_X;
	texcb = v7_texcb(p);
	uint64_t arch_texcb;
	fl |= pt_memtype_flags(texcb, &v7_memtypes, &arch_texcb);

	a->flags = fl;
	a->arch = (p & V7_PAGE_NG) | v7_texcb_bits((unsigned)arch_texcb);
	a->accessed = (ap & V7_AP0) != 0;
	a->dirty = false;
}

/* G5.7 "Short-descriptor format memory region attributes, without TEX
 * remap": TEX:C:B 000:0:0 strongly-ordered (nGnRnE), 000:0:1 Shareable
 * Device, 010:0:0 Non-shareable Device (both nGnRE), 000:1:0 / 000:1:1 /
 * 001:0:0 / 001:1:1 Normal WT / WB / NC / WB-WA inner and outer, 1BB:A:A
 * Normal with outer BB and inner AA (00 NC, 01 WB-WA, 10 WT, 11 WB); the
 * rest reserved or IMPLEMENTATION DEFINED. Normal memory is shareable when
 * S = 1 (NOS is not modelled: reported as outer); strongly-ordered and
 * device memory, and Normal NC, are outer shareable whatever S says
 * (VMSAv8-32, as a64_fill_sh). */
static enum physim_memtype v7_cache_policy(unsigned v)
{
	static const enum physim_memtype t[4] = {PHYSIM_MEM_NORMAL_NC, PHYSIM_MEM_NORMAL_WB,
						 PHYSIM_MEM_NORMAL_WT, PHYSIM_MEM_NORMAL_WB};
	return t[v & 3];
}

static void v7_memattr(const struct physim_pt_format *f, uint64_t d, unsigned level,
		       const struct pt_mem_ctl *c, struct physim_memattr *out)
{
	uint32_t p = level == 0 ? (uint32_t)d : v7_section_to_page_layout((uint32_t)d);
	unsigned t = v7_texcb(p);
	bool s = p & V7_PAGE_S;

	(void)f;
	(void)c;
	out->sh_field = s ? PHYSIM_SH_OUTER : PHYSIM_SH_NONE;
	out->sh = PHYSIM_SH_OUTER;
	if (v7_texcb_is_device(t)) {
		out->type = t == V7_TEXCB_STRONGLY_ORDERED ? PHYSIM_MEM_DEVICE_nGnRnE
							   : PHYSIM_MEM_DEVICE_nGnRE;
		if (t == V7_TEXCB_NONSHARED_DEVICE)
			out->sh_field = out->sh = PHYSIM_SH_NONE;
	} else if (v7_texcb_reserved(t)) {
		out->type = PHYSIM_MEM_UNKNOWN;
	} else if (t & 0x10) {
		out->type = v7_cache_policy(t);
		out->outer = v7_cache_policy(t >> 2);
	} else {
		out->type = t == 0x02		      ? PHYSIM_MEM_NORMAL_WT
			    : t == V7_TEXCB_NORMAL_NC ? PHYSIM_MEM_NORMAL_NC
						      : PHYSIM_MEM_NORMAL_WB;
	}
	if (!(t & 0x10))
		out->outer = out->type;
	if (out->type == PHYSIM_MEM_UNKNOWN ||
	    (out->type >= PHYSIM_MEM_NORMAL_WB && out->type <= PHYSIM_MEM_NORMAL_NC &&
	     !(out->type == PHYSIM_MEM_NORMAL_NC && out->outer == PHYSIM_MEM_NORMAL_NC)))
		out->sh = out->sh_field;
}

static const struct pt_format_ops v7_ops = {
    .classify = v7_classify,
    .output_addr = v7_output_addr,
    .encode_table = v7_encode_table,
    .encode_leaf = v7_encode_leaf,
    .decode_leaf = v7_decode_leaf,
    .memattr = v7_memattr,
};

/* TTBCR.N = 0: TTBR0 translates the whole 32-bit VA (G5.4 "Selecting between
 * TTBR0 and TTBR1"). Output addresses of sections and small pages are 32 bits,
 * of supersections 40. */
const struct physim_pt_format physim_fmt_armv7_short = {
    .name = "armv7-short",
    .description = "ARMv7 short-descriptor, 32-bit VA (16M/1M sections, 64K/4K pages)",
    .arch = PHYSIM_ARCH_AARCH64,
    .stage2 = false,
    .levels = 2,
    .pte_bytes = 4,
    .va_bits = 32,
    .pa_bits = 40,
    .sign_extended = false,
    .level =
	{
	    {.shift = 12, .index_bits = 8, .leaf_ok = true},  /* second level: small pages */
	    {.shift = 20, .index_bits = 12, .leaf_ok = true}, /* first level: sections */
	},
    /* 16 small pages: a large page; 16 sections: a supersection */
    .group_log2 = {V7_GROUP_LOG2, V7_GROUP_LOG2},
    .flags_supported = V7_ALL_FLAGS,
    .arch_attr_mask = V7_ARCH_MASK,
    .arch_memtype_mask = V7_TEXCB_MASK,
    .set_accessed_on_map = true,
    .set_dirty_on_map = false,
    .ops = &v7_ops,
    .walk = &physim_v7s_walk_ops,
};
