/* SPDX-License-Identifier: MIT */
/* arch/aarch64/armv7-desc.h - the VMSAv8-32 Short-descriptor codec:
 * descriptor bits, defined once, and classify / output address as static
 * inline functions, used by the format (armv7_short.c) and the walk rules
 * (armv7_walk.c) alike. */
#ifndef PHYSIM_ARMV7_DESC_H
#define PHYSIM_ARMV7_DESC_H

#include "aarch64-priv.h"

/* Descriptor type, bits 1:0 (G5.4 first-level and second-level descriptor
 * formats). First level: 00 fault, 01 page table, 1x section or supersection
 * (bit 0 = PXN). Second level: 00 fault, 01 large page, 1x small page (bit 0 =
 * XN). */
#define V7_TYPE_MASK   UINT32_C(3)
#define V7_TYPE_FAULT  UINT32_C(0)
#define V7_L1_PAGE_TBL UINT32_C(1)
#define V7_L2_LARGE    UINT32_C(1)
#define V7_SECT_BIT    UINT32_C(2) /* bit 1: section (L1) / small page (L2) */

/* First-level page-table descriptor: bits 31:10 second-level table base;
 * bit 2 PXN, bit 3 NS, bits 8:5 domain, all written 0. */
#define V7_L1_TBL_BASE UINT32_C(0xfffffc00)

/* Section: bits 31:20 base, bit 18 = 0 (1 = supersection). */
#define V7_SECT_BASE	  UINT32_C(0xfff00000)
#define V7_SECT_SUPER	  (UINT32_C(1) << 18)
#define V7_SECT_PXN	  (UINT32_C(1) << 0)
#define V7_SECT_XN	  (UINT32_C(1) << 4)
#define V7_SECT_AP_SHIFT  10		      /* AP[1:0], bits 11:10 */
#define V7_SECT_TEX_SHIFT 12		      /* TEX[2:0], bits 14:12 */
#define V7_SECT_APX	  (UINT32_C(1) << 15) /* AP[2] */
#define V7_SECT_S	  (UINT32_C(1) << 16)
#define V7_SECT_NG	  (UINT32_C(1) << 17)

/* Small page: bits 31:12 base. This is also the layout of `arch`. */
#define V7_PAGE_BASE	  UINT32_C(0xfffff000)
#define V7_PAGE_XN	  (UINT32_C(1) << 0)
#define V7_B		  (UINT32_C(1) << 2) /* same position in sections */
#define V7_C		  (UINT32_C(1) << 3) /* same position in sections */
#define V7_PAGE_AP_SHIFT  4		     /* AP[1:0], bits 5:4 */
#define V7_PAGE_TEX_SHIFT 6		     /* TEX[2:0], bits 8:6 */
#define V7_PAGE_APX	  (UINT32_C(1) << 9) /* AP[2] */
#define V7_PAGE_S	  (UINT32_C(1) << 10)
#define V7_PAGE_NG	  (UINT32_C(1) << 11)

/* Section attribute fields sit 6 bits above the small-page ones (TEX 14:12 vs
 * 8:6, AP 11:10 vs 5:4, AP[2] 15 vs 9, S 16 vs 10, nG 17 vs 11). */
#define V7_SECT_FIELD_DELTA 6

/* AP[2:0] bits (AFE = 1): AP[0] Access flag, AP[1] PL0 access, AP[2] read-only. */
#define V7_AP0 1u
#define V7_AP1 2u

/* Also decoded by the walker (armv7_walk.c), which translates what the
 * engine does not produce (G5.4): */
/* bit 2 of a first-level page-table descriptor: PXN for the whole table. */
#define V7_L1_TBL_PXN (UINT32_C(1) << 2)
/* AP[0] (the Access flag with AFE = 1) and AP[1] of a section / page. */
#define V7_SECT_AP0 (V7_AP0 << V7_SECT_AP_SHIFT)
#define V7_SECT_AP1 (V7_AP1 << V7_SECT_AP_SHIFT)
#define V7_PAGE_AP0 (V7_AP0 << V7_PAGE_AP_SHIFT)
#define V7_PAGE_AP1 (V7_AP1 << V7_PAGE_AP_SHIFT)
/* Supersection: bits 31:24 base, extended base PA[35:32] in bits 23:20 and
 * PA[39:36] in bits 8:5; 16 MiB. */
#define V7_SUPER_BASE	    UINT32_C(0xff000000)
#define V7_SUPER_SIZE	    (UINT64_C(1) << 24)
#define V7_SUPER_PA35_SHIFT 20
#define V7_SUPER_PA39_SHIFT 5
/* Large page (second level 0b01): bits 31:16 base, XN bit 15; 64 KiB. */
#define V7_LARGE_BASE UINT32_C(0xffff0000)
#define V7_LARGE_XN   (UINT32_C(1) << 15)
#define V7_LARGE_SIZE (UINT64_C(1) << 16)

/* Large pages and supersections are the format's grouped leaves (lib/
 * pt-format.h group_log2 = 4 at both levels): G5.4 requires each to be
 * repeated in 16 consecutive, aligned entries, all identical. */
#define V7_GROUP_LOG2 4

/* Kind of a descriptor (G5.4): 0b00 fault; first level 0b01 page table, 1x
 * section or supersection; second level 0b01 large page, 1x small page. */
static inline enum pt_kind v7_desc_classify(uint64_t d, unsigned level)
{
	uint32_t type = (uint32_t)d & V7_TYPE_MASK;

	if (type == V7_TYPE_FAULT)
		return PT_INVALID;
	if (level == 1 && type == V7_L1_PAGE_TBL)
		return PT_TABLE;
	return PT_LEAF;
}

/* A supersection's 40-bit base: PA[31:24] from bits 31:24, PA[35:32] from
 * bits 23:20, PA[39:36] from bits 8:5 (G5.4, supersection descriptor). */
static inline uint64_t v7_super_base(uint64_t d)
{
	return (d & V7_SUPER_BASE) | ((d >> V7_SUPER_PA35_SHIFT) & 0xf) << 32 |
	       ((d >> V7_SUPER_PA39_SHIFT) & 0xf) << 36;
}

/* Output address of a page-table descriptor, section, supersection, small
 * or large page (of the latter two: the base of the 16 MiB / 64 KiB page). */
static inline uint64_t v7_desc_output_addr(uint64_t d, unsigned level)
{
	uint32_t v = (uint32_t)d;

	if (level == 0)
		return v & ((v & V7_TYPE_MASK) == V7_L2_LARGE ? V7_LARGE_BASE : V7_PAGE_BASE);
	if (!(v & V7_SECT_BIT))
		return v & V7_L1_TBL_BASE;
	return (v & V7_SECT_SUPER) ? v7_super_base(d) : v & V7_SECT_BASE;
}

#endif
