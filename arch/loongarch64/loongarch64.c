/* SPDX-License-Identifier: MIT */
/* arch/loongarch64/loongarch64.c - LoongArch64 page tables as the TLB refill
 * walk (LDDIR/LDPTE) reads them: 4 KiB pages, 4 levels, 48-bit VA, with
 * 2 MiB and 1 GiB huge pages in directory entries.
 *
 * References: LoongArch Reference Manual Vol. 1 (v1.10):
 *   [5.2]   5.2 virtual address space: in mapped mode VA bits 63:VALEN must
 *           equal bit VALEN-1, else an address error (ADE) exception
 *   [5.4]   5.4 page table mapping: 5.4.1 TLB structure (entries map an
 *           even/odd page pair), 5.4.2 TLB entry fields (V, D, PLV, MAT, G,
 *           PPN, NR, NX, RPLV), 5.4.6 multi-level page table structure
 *           supported by page walking (directory entries, huge pages)
 *   [LDDIR] 4.2.5.1 LDDIR / LDPTE: a directory entry with bit 6 set is a
 *           huge-page entry; LDPTE moves its global bit from bit 12 to bit 6
 *   [CSR]   7.5.3 TLBELO0/TLBELO1 (the same bit layout as a PTE)
 *   [5.1]   5.1 memory access types: MAT 0 = SUC (strongly-ordered
 *           uncached), 1 = CC (coherent cached), 2 = WUC (weakly-ordered
 *           uncached), 3 = reserved
 * Software bits (P, W) follow Linux arch/loongarch/include/asm/pgtable-bits.h.
 *
 * Engine level 0 is the last-level page table (LDPTE, 4 KiB pages), level 1
 * the Dir1 table (2 MiB huge pages), level 2 Dir2 (1 GiB), level 3 Dir3, the
 * root (no huge pages there in physim's geometry). */
#include "pt-format.h"
#include "loongarch-desc.h"

/* Entry bits, classify and output address: loongarch-desc.h. */

/* The format ops: the codec. */
static enum pt_kind la_classify(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	return la_desc_classify(f, d, level);
}

static uint64_t la_output_addr(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	return la_desc_output_addr(f, d, level);
}

/* A directory entry is the plain physical address of the next table. */
static uint64_t la_encode_table(const struct physim_pt_format *f, uint64_t table_pa, unsigned level)
{
	return table_pa & LA_PA_MASK;
}

/* MAT by the one memory-type rule (pt-format.h): CC, SUC and WUC are the
 * default, PHYSIM_DEVICE and PHYSIM_UNCACHED, and 3 is reserved [5.1], so a
 * MAT in arch is always refused: the flags carry it. */
static const struct pt_memtypes la_memtypes = {
    .normal = LA_MAT_CC,
    .device = LA_MAT_SUC,
    .uncached = LA_MAT_WUC,
};

static int la_leaf_mat(uint32_t flags, uint64_t arch, unsigned *mat)
{
	uint64_t v = 0; /* pt_memtype_pick leaves it alone on failure */
	int rc = pt_memtype_pick(flags, la_mat(arch), &la_memtypes, &v);

	if (rc == 0 && v == LA_MAT_RSVD)
		rc = -ENOTSUP;
	*mat = (unsigned)v;
	return rc;
}

/*
 * Permissions [5.4] 5.4.2: a page is readable unless NR, executable unless
 * NX, and writable only if D = 1 (a store to a page with D = 0 raises the
 * page modification exception), so W sets D together with the software W
 * bit. U = PLV3 (any privilege may access it, RPLV = 0), otherwise PLV0.
 * LoongArch can express every subset of R/W/X, including none.
 * Accessed/dirty are not kept: the hardware has no A bit and D is the write
 * enable, so a->accessed / a->dirty are ignored and decode reports false.
 */
static int la_encode_leaf(const struct physim_pt_format *f, uint64_t pa,
			  const struct pt_leaf_attr *a, unsigned level, uint64_t *d)
{
	uint32_t flags = a->flags;
	unsigned mat;
	uint64_t v;
	int rc;

	if (level >= f->levels || !f->level[level].leaf_ok)
		return -EINVAL;
	if ((pa >> f->pa_bits) != 0 || !physim_is_aligned(pa, pt_level_page_size(f, level)))
		return -EINVAL;
	if ((flags & ~f->flags_supported) || (a->arch & ~f->arch_attr_mask))
		return -ENOTSUP;
	rc = la_leaf_mat(flags, a->arch, &mat);
	if (rc)
		return rc;

	v = pa | LA_V | LA_P | ((uint64_t)mat << LA_MAT_SHIFT) | (a->arch & LA_RPLV);
	v |= (uint64_t)(flags & PHYSIM_U ? LA_PLV_USER : LA_PLV_KERNEL) << LA_PLV_SHIFT;
	v |= (flags & PHYSIM_R) ? 0 : LA_NR;
	v |= (flags & PHYSIM_W) ? (LA_W | LA_D) : 0;
	v |= (flags & PHYSIM_X) ? 0 : LA_NX;
	/* A huge entry carries H in bit 6, so its global bit moves to bit 12
	 * (HG), which LDPTE moves back to G [LDDIR]. */
	if (la_is_dir(level))
		v |= LA_H | ((a->arch & LA_G) ? LA_HG : 0);
	else
		v |= a->arch & LA_G;
	*d = v;
	return 0;
}

/* Reports what the hardware enforces: W from D (not the software W bit);
 * U only for PLV3 (PLV1/PLV2 have no generic flag). */
static void la_decode_leaf(const struct physim_pt_format *f, uint64_t d, unsigned level,
			   struct pt_leaf_attr *a)
{
	uint32_t flags = 0;
	bool global = la_is_dir(level) ? (d & LA_HG) != 0 : (d & LA_G) != 0;
	unsigned mat = la_mat(d);

	flags |= (d & LA_NR) ? 0 : PHYSIM_R;
	flags |= (d & LA_D) ? PHYSIM_W : 0;
	flags |= (d & LA_NX) ? 0 : PHYSIM_X;
	flags |= ((d & LA_PLV) >> LA_PLV_SHIFT) == LA_PLV_USER ? PHYSIM_U : 0;
	uint64_t arch_mat;
	flags |= pt_memtype_flags(mat, &la_memtypes, &arch_mat);
	a->flags = flags;
	a->arch = (global ? LA_G : 0) | (d & LA_RPLV) | (arch_mat << LA_MAT_SHIFT);
	a->accessed = false;
	a->dirty = false;
}

/* [5.1] MAT: 0 strongly-ordered uncached, 1 coherent cached, 2
 * weakly-ordered uncached, 3 reserved. No shareability attribute. */
static void la_memattr(const struct physim_pt_format *f, uint64_t d, unsigned level,
		       const struct pt_mem_ctl *c, struct physim_memattr *out)
{
	static const enum physim_memtype type[4] = {PHYSIM_MEM_SUC, PHYSIM_MEM_CC, PHYSIM_MEM_WUC,
						    PHYSIM_MEM_UNKNOWN};
	(void)f;
	(void)level;
	(void)c;
	out->type = out->outer = type[la_mat(d)];
	out->sh = out->sh_field = PHYSIM_SH_SYSTEM;
}

static const struct pt_format_ops la_ops = {
    .classify = la_classify,
    .output_addr = la_output_addr,
    .encode_table = la_encode_table,
    .encode_leaf = la_encode_leaf,
    .decode_leaf = la_decode_leaf,
    .memattr = la_memattr,
};

/* 4 KiB pages: PWCL/PWCH configured as PTbase 12, Dir1 21, Dir2 30, Dir3 39,
 * 9 bits each [5.4] 5.4.6 (512 8-byte entries = one 4 KiB table). */
const struct physim_pt_format physim_fmt_loongarch64_4k_48 = {
    .name = "loongarch64-4k-48",
    .description = "LoongArch64 4 KiB pages (4 levels, 48-bit VA, 2M/1G huge)",
    .arch = PHYSIM_ARCH_LOONGARCH64,
    .levels = 4,
    .pte_bytes = 8,
    .va_bits = 48,
    .pa_bits = LA_PALEN,
    .sign_extended = true, /* [5.2] */
    .level =
	{
	    {.shift = 12, .index_bits = 9, .leaf_ok = true},
	    {.shift = 21, .index_bits = 9, .leaf_ok = true},
	    {.shift = 30, .index_bits = 9, .leaf_ok = true},
	    {.shift = 39, .index_bits = 9, .leaf_ok = false},
	},
    .flags_supported = PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U | PHYSIM_DEVICE | PHYSIM_UNCACHED,
    /* G (bit 6 in the last-level layout; HG bit 12 in huge entries), MAT,
     * RPLV. */
    .arch_attr_mask = LA_G | LA_MAT | LA_RPLV,
    .arch_memtype_mask = LA_MAT,
    .set_accessed_on_map = false,
    .set_dirty_on_map = false,
    .ops = &la_ops,
    .walk = &physim_la_walk_ops,
};
