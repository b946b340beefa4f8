/* SPDX-License-Identifier: MIT */
/* arch/loongarch64/loongarch-desc.h - the LoongArch64 codec: entry bits,
 * defined once, and classify / output address as static inline functions,
 * used by the format (loongarch64.c) and the walk rules
 * (loongarch64_walk.c) alike. */
#ifndef PHYSIM_LOONGARCH_DESC_H
#define PHYSIM_LOONGARCH_DESC_H

#include "loongarch-priv.h"

/* ---- leaf fields, [5.4] 5.4.2 and [CSR] ---- */
#define LA_V	     (UINT64_C(1) << 0) /* valid */
#define LA_D	     (UINT64_C(1) << 1) /* "dirty": the write enable hardware checks */
#define LA_PLV_SHIFT 2			/* bits 3:2 privilege level */
#define LA_PLV	     (UINT64_C(3) << LA_PLV_SHIFT)
#define LA_MAT_SHIFT 4 /* bits 5:4 memory access type [5.1] */
#define LA_MAT	     (UINT64_C(3) << LA_MAT_SHIFT)
#define LA_G	     (UINT64_C(1) << 6)	 /* global, in a last-level PTE */
#define LA_H	     (UINT64_C(1) << 6)	 /* huge, in a directory entry [LDDIR] */
#define LA_P	     (UINT64_C(1) << 7)	 /* software "present" (Linux _PAGE_PRESENT) */
#define LA_W	     (UINT64_C(1) << 8)	 /* software "writable" (Linux _PAGE_WRITE) */
#define LA_HG	     (UINT64_C(1) << 12) /* global, in a huge entry [LDDIR] */
#define LA_NR	     (UINT64_C(1) << 61) /* not readable */
#define LA_NX	     (UINT64_C(1) << 62) /* not executable */
#define LA_RPLV	     (UINT64_C(1) << 63) /* restrict access to exactly PLV */

#define LA_PLV_KERNEL 0u /* PLV0 */
#define LA_PLV_USER   3u /* PLV3 */

#define LA_MAT_SUC  0u
#define LA_MAT_CC   1u
#define LA_MAT_WUC  2u
#define LA_MAT_RSVD 3u

/* PALEN = 48: the PPN field covers PA bits 47:12 [5.4] 5.4.2. */
#define LA_PALEN   48
#define LA_PA_MASK (((UINT64_C(1) << LA_PALEN) - 1) & ~(PHYSIM_FRAME_SIZE - 1))

/* The root holds only pointers; Dir1 and Dir2 may hold huge entries. */
static inline bool la_is_dir(unsigned level)
{
	return level > 0;
}

static inline unsigned la_mat(uint64_t d)
{
	return (unsigned)((d & LA_MAT) >> LA_MAT_SHIFT);
}

/* A valid leaf (4 KiB PTE or huge directory entry). MAT 3 is a reserved
 * memory access type [5.1]. PA bits above PALEN (63..48 minus NR/NX/RPLV)
 * are not part of the TLB entry and are ignored [CSR], as are the software
 * bits 11:7; neither makes an entry reserved. */
static inline enum pt_kind la_classify_leaf(uint64_t d)
{
	if (!(d & LA_V))
		return PT_INVALID;
	if (la_mat(d) == LA_MAT_RSVD)
		return PT_RESERVED;
	return PT_LEAF;
}

/*
 * Directory entries have no valid bit: LDDIR follows whatever address it
 * loads. physim writes 0 for "no table" (Linux instead points empty entries
 * at a shared table of invalid entries). A pointer is the 4 KiB-aligned
 * physical address of the next table and nothing else (all other bits 0);
 * anything else that is not a huge entry is PT_RESERVED (physim's rule: the
 * low bits would be ORed into the index by LDDIR).
 */
static inline enum pt_kind la_desc_classify(const struct physim_pt_format *f, uint64_t d,
					    unsigned level)
{
	if (!la_is_dir(level))
		return la_classify_leaf(d);
	if (d & LA_H) {
		if (!f->level[level].leaf_ok)
			return PT_RESERVED; /* no huge page at the root */
		return la_classify_leaf(d);
	}
	if (d == 0)
		return PT_INVALID;
	if (d & ~LA_PA_MASK)
		return PT_RESERVED;
	return PT_TABLE;
}

/* A huge page's PPN bits below its size are ignored by the TLB (the entry
 * is split into an even/odd pair of half-size pages [5.4] 5.4.1), and bit 12
 * holds HG; mask them off. */
static inline uint64_t la_desc_output_addr(const struct physim_pt_format *f, uint64_t d,
					   unsigned level)
{
	if (la_is_dir(level) && (d & LA_H))
		return d & LA_PA_MASK & ~(pt_level_page_size(f, level) - 1);
	return d & LA_PA_MASK;
}

#endif
