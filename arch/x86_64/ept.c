/* SPDX-License-Identifier: MIT */
/* arch/x86_64/ept.c - Intel EPT (extended page tables, the VMX stage-2
 * translation of guest-physical addresses) with 4-level and 5-level tables,
 * as the Intel SDM Vol. 3C 29.3 defines them (ept-4l, ept-5l). */
#include "x86-priv.h"

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
static const struct x86_memtypes ept_memtypes = {
    .normal = (uint64_t)EPT_MT_WB << EPT_MT_SHIFT,
    .device = (uint64_t)EPT_MT_UC << EPT_MT_SHIFT,
    .uncached = (uint64_t)EPT_MT_WC << EPT_MT_SHIFT,
};

static bool ept_memtype_reserved(uint64_t d)
{
	unsigned mt = (unsigned)((d & EPT_MT) >> EPT_MT_SHIFT);
	return mt == 2 || mt == 3 || mt == 7;
}

/*
 * EPT misconfiguration (SDM Vol. 3C 29.3.3.1), for a present entry:
 *  - bits 2:0 = 010b (write-only) or 110b (write/execute);
 *  - a reserved bit set: 51:N (N = physical-address width, pa_bits here);
 *    7:3 in an entry that references a table (PML5E/PML4E: 7:3; PDPTE/PDE
 *    with bit 7 clear: 6:3); 29:12 of a 1-GByte PDPTE, 20:12 of a 2-MByte PDE;
 *  - a leaf whose memory type (5:3) is 2, 3 or 7.
 * Execute-only (100b) is assumed supported (IA32_VMX_EPT_VPID_CAP bit 0), as
 * are 1-GByte pages; bit 7 of a PTE is ignored.
 */
static enum pt_kind ept_classify(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	uint64_t rsv = x86_bits(51, f->pa_bits);
	bool leaf = x86_is_leaf(f, d, level);

	if (!(d & EPT_RWX))
		return PT_INVALID;
	if ((d & EPT_W) && !(d & EPT_R))
		return PT_RESERVED;
	if (!leaf)
		rsv |= x86_bits(7, 3);
	else if (level > 0)
		rsv |= x86_bits(f->level[level].shift - 1, 12);
	if ((d & rsv) || (leaf && ept_memtype_reserved(d)))
		return PT_RESERVED;
	return leaf ? PT_LEAF : PT_TABLE;
}

static uint64_t ept_output_addr(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	unsigned low = x86_is_leaf(f, d, level) ? f->level[level].shift : 12;
	return d & x86_bits(f->pa_bits - 1, low);
}

/* Non-leaf: read, write, execute and user-mode execute, the most permissive
 * (29.3.3.2: an access is allowed only if every entry on the walk allows it;
 * bit 10 counts only with mode-based execute control and is ignored
 * otherwise). */
static uint64_t ept_encode_table(const struct physim_pt_format *f, uint64_t table_pa,
				 unsigned level)
{
	(void)f;
	(void)level;
	return table_pa | EPT_RWX | EPT_UX;
}

/* Permission bits for the generic flags: stage 2, so PHYSIM_U is ignored.
 * No access at all would be a not-present entry, and W without R is a
 * misconfiguration: both -ENOTSUP. */
static int ept_perm_bits(const struct physim_pt_format *f, uint32_t fl, uint64_t *perm)
{
	uint64_t p = 0;

	if (fl & ~(f->flags_supported | PHYSIM_U))
		return -ENOTSUP;
	if (fl & PHYSIM_R)
		p |= EPT_R;
	if (fl & PHYSIM_W)
		p |= EPT_W;
	if (fl & PHYSIM_X)
		p |= EPT_X;
	if (p == 0 || ((p & EPT_W) && !(p & EPT_R)))
		return -ENOTSUP;
	*perm = p;
	return 0;
}

static int ept_encode_leaf(const struct physim_pt_format *f, uint64_t pa,
			   const struct pt_leaf_attr *a, unsigned level, uint64_t *d)
{
	uint64_t perm = 0, mt = 0, b;
	int rc = x86_check_leaf_pa(f, pa, level);

	if (rc == 0)
		rc = ept_perm_bits(f, a->flags, &perm);
	if (rc == 0 && (a->arch & ~f->arch_attr_mask))
		rc = -ENOTSUP;
	/* A memory type of 0 in arch means "not given" (UC is PHYSIM_DEVICE). */
	if (rc == 0)
		rc = x86_pick_memtype(a->flags, a->arch & EPT_MT, &ept_memtypes, &mt);
	if (rc == 0 && ept_memtype_reserved(mt))
		rc = -ENOTSUP;
	if (rc < 0)
		return rc;
	b = pa | perm | mt | (a->arch & (EPT_IPAT | EPT_UX | EPT_SVE));
	if (level > 0)
		b |= EPT_LARGE;
	if (a->accessed)
		b |= EPT_A;
	if (a->dirty)
		b |= EPT_D;
	*d = b;
	return 0;
}

static void ept_decode_leaf(const struct physim_pt_format *f, uint64_t d, unsigned level,
			    struct pt_leaf_attr *a)
{
	uint64_t arch_mt;

	(void)level;
	a->flags = x86_memtype_flags(d & EPT_MT, &ept_memtypes, &arch_mt);
	if (d & EPT_R)
		a->flags |= PHYSIM_R;
	if (d & EPT_W)
		a->flags |= PHYSIM_W;
	if (d & EPT_X)
		a->flags |= PHYSIM_X;
	a->arch = (arch_mt | (d & (EPT_IPAT | EPT_UX | EPT_SVE))) & f->arch_attr_mask;
	a->accessed = d & EPT_A;
	a->dirty = d & EPT_D;
}

static const struct pt_format_ops ept_ops = {
    .classify = ept_classify,
    .output_addr = ept_output_addr,
    .encode_table = ept_encode_table,
    .encode_leaf = ept_encode_leaf,
    .decode_leaf = ept_decode_leaf,
};

/* Same geometry as 4/5-level paging (29.3.2: 512 8-byte entries per table,
 * GPA bits 47:39 / 56:48 index the PML4 / PML5); leaves at PT (4 KiB), PD
 * (2 MiB) and PDPT (1 GiB). Guest-physical addresses are zero-extended. */
#define EPT_FLAGS (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_DEVICE | PHYSIM_UNCACHED)
#define EPT_ARCH  (EPT_MT | EPT_IPAT | EPT_UX | EPT_SVE)

/* 4-level EPT (EPTP bits 5:3 = 3): 48-bit guest-physical addresses.
 * Levels: PT(0) PD(1) PDPT(2) PML4(3). */
const struct physim_pt_format physim_fmt_ept_4l = {
    .name = "ept-4l",
    .description = "Intel EPT 4-level, stage 2 (48-bit GPA; 4K/2M/1G pages)",
    .arch = PHYSIM_ARCH_X86_64,
    .stage2 = true,
    .levels = 4,
    .pte_bytes = 8,
    .va_bits = 48,
    .pa_bits = 52,
    .sign_extended = false,
    .level = {{12, 9, true}, {21, 9, true}, {30, 9, true}, {39, 9, false}},
    .flags_supported = EPT_FLAGS,
    .arch_attr_mask = EPT_ARCH,
    .ops = &ept_ops,
    .walk = &physim_ept_walk_ops,
};

/* 5-level EPT (EPTP bits 5:3 = 4): 57-bit guest-physical addresses.
 * Levels: PT(0) PD(1) PDPT(2) PML4(3) PML5(4). */
const struct physim_pt_format physim_fmt_ept_5l = {
    .name = "ept-5l",
    .description = "Intel EPT 5-level, stage 2 (57-bit GPA; 4K/2M/1G pages)",
    .arch = PHYSIM_ARCH_X86_64,
    .stage2 = true,
    .levels = 5,
    .pte_bytes = 8,
    .va_bits = 57,
    .pa_bits = 52,
    .sign_extended = false,
    .level = {{12, 9, true}, {21, 9, true}, {30, 9, true}, {39, 9, false}, {48, 9, false}},
    .flags_supported = EPT_FLAGS,
    .arch_attr_mask = EPT_ARCH,
    .ops = &ept_ops,
    .walk = &physim_ept_walk_ops,
};
