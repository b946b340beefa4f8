/* SPDX-License-Identifier: MIT */
/* arch/x86_64/x86-desc.h - the x86 codec: IA-32 paging and EPT descriptor
 * bits, defined once, and classify / output address as static inline
 * functions, used by the formats (x86_64.c, ept.c) and the walk rules
 * (x86_walk.c, ept_walk.c) alike. */
#ifndef PHYSIM_X86_DESC_H
#define PHYSIM_X86_DESC_H

#include "x86-priv.h"

/* ---- IA-32 paging (SDM Vol. 3A ch. 4) ---- */

/*
 * Descriptor bits (SDM Vol. 3A 4.5, tables 4-14..4-20 for 4/5-level paging;
 * 4.3 tables 4-4..4-6 for 32-bit paging; 4.4 tables 4-8..4-11 for PAE).
 * The same positions are used by every paging-structure level; which of them
 * exist at which level is noted per bit.
 */
#define IA32_P	   (UINT64_C(1) << 0) /* present */
#define IA32_RW	   (UINT64_C(1) << 1) /* read/write */
#define IA32_US	   (UINT64_C(1) << 2) /* user/supervisor */
#define IA32_PWT   (UINT64_C(1) << 3) /* page-level write-through */
#define IA32_PCD   (UINT64_C(1) << 4) /* page-level cache disable */
#define IA32_A	   (UINT64_C(1) << 5) /* accessed */
#define IA32_D	   (UINT64_C(1) << 6) /* dirty (leaves only) */
#define IA32_PS	   X86_LARGE_BIT      /* page size (PDE, PDPTE); reserved in PML4E/PML5E */
#define IA32_PAT4K (UINT64_C(1) << 7) /* PAT bit of a 4 KiB PTE */
#define IA32_G	   (UINT64_C(1) << 8) /* global (leaves only) */
/* PAT bit of a 2M/4M/1G leaf (tables 4-4, 4-9, 4-16, 4-18). */
#define IA32_PATLG (UINT64_C(1) << 12)
/* Protection key, bits 62:59 of 4/5-level leaves only (table 4-20; 4.6.2). */
#define IA32_PK_SHIFT 59
#define IA32_PK	      (UINT64_C(0xf) << IA32_PK_SHIFT)
/* Execute-disable (IA32_EFER.NXE = 1; PAE and 4/5-level only). */
#define IA32_XD (UINT64_C(1) << 63)

/* Paging mode, in physim_pt_format.param[0]: what differs between the
 * formats of this file. */
enum ia32_mode {
	IA32_MODE_LONG = 0,  /* 4-level / 5-level paging, SDM 4.5 */
	IA32_MODE_PAE = 1,   /* PAE paging, SDM 4.4 */
	IA32_MODE_32BIT = 2, /* 32-bit paging, CR4.PSE = 1, SDM 4.3 */
};

static inline enum ia32_mode ia32_mode(const struct physim_pt_format *f)
{
	return (enum ia32_mode)f->param[0];
}

/*
 * Reserved-bit rules (a present entry with any of these set causes a #PF with
 * the RSVD error-code bit, SDM Vol. 3A 4.7; PAE PDPTEs a #GP when loaded,
 * 4.4.1), for an entry at `level` that maps a page (leaf) or points to a
 * table, with MAXPHYADDR = m and IA32_EFER.NXE = nxe. CR4.PSE = 1, 1-GByte
 * pages and PAT are supported, so PS and PAT are never reserved.
 * - 4/5-level paging: bits 51:M of every entry (4.5.4), XD when NXE = 0
 *   (4.5.4: "If IA32_EFER.NXE = 0 and the P flag of a paging-structure
 *   entry is 1, the XD flag (bit 63) is reserved"), PS in a PML4E / PML5E
 *   (tables 4-14, 4-15);
 * - PAE: 63:M and bits 2:1, 8:5 in a PDPTE (table 4-8), 62:M and XD with
 *   NXE = 0 in PDEs / PTEs (tables 4-9..4-11, 4.4.2);
 * - 32-bit paging: bits 21:(M'-19) of a 4-MByte PDE, M' = min(M, 40)
 *   (table 4-4, PSE-36); with M' = 40 that is bit 21, with 32 bits 21:13;
 * - a 2 MiB / 1 GiB leaf: bits 20:13 / 29:13 (bit 12 is PAT; tables 4-9,
 *   4-16, 4-18).
 * The format (the engine's view) has m = pa_bits and NXE = 1; the walker
 * takes m = min(pa_bits, ctl MAXPHYADDR) and the control state's NXE, once
 * per mmu (x86_walk.c, x86_configure).
 */
static inline uint64_t ia32_rsv_mask(const struct physim_pt_format *f, unsigned level, bool leaf,
				     enum ia32_mode mode, unsigned m, bool nxe)
{
	uint64_t xd = nxe ? 0 : IA32_XD;
	uint64_t rsv = 0;

	switch (mode) {
	case IA32_MODE_LONG:
		rsv = x86_bits(51, m) | xd;
		if (level >= 3)
			rsv |= IA32_PS;
		break;
	case IA32_MODE_PAE:
		if (level == 2)
			rsv = x86_bits(63, m) | x86_bits(2, 1) | x86_bits(8, 5);
		else
			rsv = x86_bits(62, m) | xd;
		break;
	case IA32_MODE_32BIT:
		if (level == 1 && leaf)
			rsv = x86_bits(21, (m > 40 ? 40 : m) - 19);
		return rsv;
	}
	if (level > 0 && leaf)
		rsv |= x86_bits(f->level[level].shift - 1, 13);
	return rsv;
}

/* The output-address field of an entry at `level` (a page or a table): bits
 * (pa_bits-1):12 of a pointer, (pa_bits-1):page shift of a page; 31:12 in
 * 32-bit paging. A 4 MiB PDE has a split field (i386_4m_addr): 0 here. */
static inline uint64_t ia32_oa_mask(const struct physim_pt_format *f, unsigned level, bool leaf,
				    enum ia32_mode mode)
{
	unsigned low = level > 0 && leaf ? f->level[level].shift : 12;

	if (mode == IA32_MODE_32BIT)
		return level > 0 && leaf ? 0 : x86_bits(31, low);
	return x86_bits(f->pa_bits - 1, low);
}

/* 4 MiB PDE of 32-bit paging: PA bits 31:22 in place, PA bits (M-1):32 in
 * descriptor bits (M-20):13 (table 4-4, PSE-36). */
static inline uint64_t i386_4m_addr(const struct physim_pt_format *f, uint64_t d)
{
	unsigned nhigh = f->pa_bits > 32 ? f->pa_bits - 32u : 0;
	uint64_t high = (d >> 13) & ((UINT64_C(1) << nhigh) - 1);

	return (d & x86_bits(31, 22)) | (high << 32);
}

/* Whether d at `level` maps a page, for the geometry of each paging mode
 * (x86_64.c): leaves in the PT, PD and PDPT of 4/5-level paging, the PT and
 * PD of PAE and of 32-bit paging (PS, bit 7, in a PDE / PDPTE). With `mode` and `level` constants
 * (the walker's instantiations) it folds to a test of PS or to a constant. */
static inline bool ia32_is_leaf(uint64_t d, unsigned level, enum ia32_mode mode)
{
	unsigned top_leaf = mode == IA32_MODE_LONG ? 2 : 1;
	return level == 0 || (level <= top_leaf && (d & IA32_PS));
}

/* Classify a descriptor whose leaf-ness (ia32_is_leaf) is known, against the
 * reserved bits rsv (ia32_rsv_mask). */
static inline enum pt_kind ia32_classify_masked(uint64_t d, bool leaf, uint64_t rsv)
{
	/* One test for the usual case: present and no reserved bit. */
	if (PHYSIM_UNLIKELY((d & (rsv | IA32_P)) != IA32_P))
		return (d & IA32_P) ? PT_RESERVED : PT_INVALID;
	/* PAE PDPTEs have no PS bit (bit 7 is reserved there). */
	return leaf ? PT_LEAF : PT_TABLE;
}

/* Output address of a present entry, given its address field oa
 * (ia32_oa_mask). */
static inline uint64_t ia32_addr_masked(const struct physim_pt_format *f, uint64_t d,
					unsigned level, bool leaf, uint64_t oa, enum ia32_mode mode)
{
	if (mode == IA32_MODE_32BIT && level > 0 && leaf)
		return i386_4m_addr(f, d);
	return d & oa;
}

/* The format's classify / output_addr (x86_64.c wraps them). */
static inline enum pt_kind ia32_desc_classify(const struct physim_pt_format *f, uint64_t d,
					      unsigned level, enum ia32_mode mode)
{
	bool leaf = ia32_is_leaf(d, level, mode);
	return ia32_classify_masked(d, leaf, ia32_rsv_mask(f, level, leaf, mode, f->pa_bits, true));
}

static inline uint64_t ia32_desc_output_addr(const struct physim_pt_format *f, uint64_t d,
					     unsigned level, enum ia32_mode mode)
{
	bool leaf = ia32_is_leaf(d, level, mode);
	return ia32_addr_masked(f, d, level, leaf, ia32_oa_mask(f, level, leaf, mode), mode);
}

/* ---- EPT (SDM Vol. 3C 29.3) ---- */

/*
 * EPT paging-structure entry bits (SDM Vol. 3C 29.3.2, the tables "Format of
 * an EPT PML5 / PML4 Entry", "... PDPTE that Maps a 1-GByte Page", "... PDE
 * that Maps a 2-MByte Page", "... Page-Table Entry that Maps a 4-KByte Page"
 * and the ones that reference a next table). An entry is present if any of
 * bits 2:0 is set (29.3.2; with mode-based execute control also bit 10 -
 * physim assumes that control is off for presence, see EPT_UX).
 */
#define EPT_R	     (UINT64_C(1) << 0) /* read access */
#define EPT_W	     (UINT64_C(1) << 1) /* write access */
#define EPT_X	     (UINT64_C(1) << 2) /* execute (supervisor-mode execute with MBEC) */
#define EPT_RWX	     (EPT_R | EPT_W | EPT_X)
#define EPT_MT_SHIFT 3 /* EPT memory type, bits 5:3 (leaves) */
#define EPT_MT	     (UINT64_C(7) << EPT_MT_SHIFT)
#define EPT_IPAT     (UINT64_C(1) << 6)	 /* ignore guest PAT (leaves) */
#define EPT_LARGE    X86_LARGE_BIT	 /* bit 7: PDE/PDPTE maps a page; ignored in a PTE */
#define EPT_A	     (UINT64_C(1) << 8)	 /* accessed (EPTP bit 6 enables A/D) */
#define EPT_D	     (UINT64_C(1) << 9)	 /* dirty (leaves) */
#define EPT_UX	     (UINT64_C(1) << 10) /* user-mode execute (mode-based execute control) */
#define EPT_SVE	     (UINT64_C(1) << 63) /* suppress EPT-violation #VE (leaves) */

/* EPT memory types (SDM Vol. 3C "EPT and Memory Typing", 29.3.6/29.3.7
 * depending on the edition; the MTRR encodings of Vol. 3A "Memory Types That
 * Can Be Encoded in MTRRs"):
 * 0 UC, 1 WC, 4 WT, 5 WP, 6 WB; 2, 3 and 7 are reserved and make the leaf an
 * EPT misconfiguration (29.3.3.1).
 * physim's convention: the default is WB; PHYSIM_DEVICE is UC (strongly
 * ordered, like device memory elsewhere); PHYSIM_UNCACHED is WC: uncacheable
 * but weakly ordered with write combining, which is what "normal
 * non-cacheable" means on the other architectures, and distinct from
 * DEVICE so the flags round-trip. IPAT is left clear (the guest's PAT
 * combines with the EPT type unless IPAT is set); set it through arch if wanted. */
#define EPT_MT_UC 0
#define EPT_MT_WC 1
#define EPT_MT_WB 6
static inline bool ept_memtype_reserved(uint64_t d)
{
	unsigned mt = (unsigned)((d & EPT_MT) >> EPT_MT_SHIFT);
	return mt == 2 || mt == 3 || mt == 7;
}

/*
 * EPT misconfiguration (SDM Vol. 3C 29.3.3.1), for a present entry:
 *  - bits 2:0 = 010b (write-only) or 110b (write/execute);
 *  - a reserved bit set (ept_rsv_mask): 51:N (N = physical-address width:
 *    pa_bits for the format, the configured width for the walker); 7:3 in
 *    an entry that references a table (PML5E/PML4E: 7:3; PDPTE/PDE with
 *    bit 7 clear: 6:3); 29:12 of a 1-GByte PDPTE, 20:12 of a 2-MByte PDE;
 *  - a leaf whose memory type (5:3) is 2, 3 or 7.
 * Execute-only (100b) is assumed supported (IA32_VMX_EPT_VPID_CAP bit 0), as
 * are 1-GByte pages; bit 7 of a PTE is ignored.
 */
static inline uint64_t ept_rsv_mask(const struct physim_pt_format *f, unsigned level, bool leaf,
				    unsigned n)
{
	uint64_t rsv = x86_bits(51, n);

	if (!leaf)
		rsv |= x86_bits(7, 3);
	else if (level > 0)
		rsv |= x86_bits(f->level[level].shift - 1, 12);
	return rsv;
}

/* Address field: bits (pa_bits-1):12 of a pointer, (pa_bits-1):page shift
 * of a page. */
static inline uint64_t ept_oa_mask(const struct physim_pt_format *f, unsigned level, bool leaf)
{
	return x86_bits(f->pa_bits - 1, leaf ? f->level[level].shift : 12);
}

/* Leaves in the PT, PD and PDPT (29.3.2; the geometry of ept.c): bit 7
 * marks a page in a PDE or PDPTE and is ignored in a PTE. */
static inline bool ept_is_leaf(uint64_t d, unsigned level)
{
	return level == 0 || (level <= 2 && (d & EPT_LARGE));
}

/* Classify a descriptor whose leaf-ness is known against rsv. */
static inline enum pt_kind ept_classify_masked(uint64_t d, bool leaf, uint64_t rsv)
{
	if (!(d & EPT_RWX))
		return PT_INVALID;
	if ((d & EPT_W) && !(d & EPT_R))
		return PT_RESERVED;
	if ((d & rsv) || (leaf && ept_memtype_reserved(d)))
		return PT_RESERVED;
	return leaf ? PT_LEAF : PT_TABLE;
}

/* The format's classify / output_addr (ept.c wraps them). */
static inline enum pt_kind ept_desc_classify(const struct physim_pt_format *f, uint64_t d,
					     unsigned level)
{
	bool leaf = ept_is_leaf(d, level);
	return ept_classify_masked(d, leaf, ept_rsv_mask(f, level, leaf, f->pa_bits));
}

static inline uint64_t ept_desc_output_addr(const struct physim_pt_format *f, uint64_t d,
					    unsigned level)
{
	return d & ept_oa_mask(f, level, ept_is_leaf(d, level));
}

#endif
