/* SPDX-License-Identifier: MIT */
/* arch/x86_64/ept.c - Intel EPT (extended page tables, the VMX stage-2
 * translation of guest-physical addresses) with 4-level and 5-level tables,
 * as the Intel SDM Vol. 3C 29.3 defines them (ept-4l, ept-5l). */
#include "x86-desc.h"

static const struct pt_memtypes ept_memtypes = {
    .normal = (uint64_t)EPT_MT_WB << EPT_MT_SHIFT,
    .device = (uint64_t)EPT_MT_UC << EPT_MT_SHIFT,
    .uncached = (uint64_t)EPT_MT_WC << EPT_MT_SHIFT,
};

/* The format ops: the codec (x86-desc.h). */
static enum pt_kind ept_classify(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	return ept_desc_classify(f, d, level);
}

static uint64_t ept_output_addr(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	return ept_desc_output_addr(f, d, level);
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
	/* The one memory-type rule (pt-format.h): WB, UC and WC are the
	 * default, PHYSIM_DEVICE and PHYSIM_UNCACHED; WT and WP come raw in
	 * arch (UC, 0, cannot: it is DEVICE). */
	if (rc == 0)
		rc = pt_memtype_pick(a->flags, a->arch & EPT_MT, &ept_memtypes, &mt);
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
	a->flags = pt_memtype_flags(d & EPT_MT, &ept_memtypes, &arch_mt);
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

/* The EPT memory type, bits 5:3 (SDM Vol. 3C "EPT and Memory Typing"): on
 * its own, the type of the guest-physical page; IPAT only decides whether
 * a guest's PAT type combines with it (physim_xlate_memattr). */
static void ept_memattr(const struct physim_pt_format *f, uint64_t d, unsigned level,
			const struct pt_mem_ctl *c, struct physim_memattr *out)
{
	(void)f;
	(void)level;
	(void)c;
	out->type = out->outer = x86_memtype((unsigned)((d & EPT_MT) >> EPT_MT_SHIFT));
	if (out->type == PHYSIM_MEM_UC_MINUS) /* 7 is reserved in EPT */
		out->type = out->outer = PHYSIM_MEM_UNKNOWN;
	out->sh = out->sh_field = PHYSIM_SH_SYSTEM;
	out->ignore_pat = (d & EPT_IPAT) != 0;
}

static const struct pt_format_ops ept_ops = {
    .classify = ept_classify,
    .output_addr = ept_output_addr,
    .encode_table = ept_encode_table,
    .encode_leaf = ept_encode_leaf,
    .decode_leaf = ept_decode_leaf,
    .memattr = ept_memattr,
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
    .arch_memtype_mask = EPT_MT,
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
    .arch_memtype_mask = EPT_MT,
    .ops = &ept_ops,
    .walk = &physim_ept_walk_ops,
};
