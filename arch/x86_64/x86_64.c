/* SPDX-License-Identifier: MIT */
/* arch/x86_64/x86_64.c - IA-32 paging formats as the Intel SDM Vol. 3A ch. 4
 * defines them: 4-level and 5-level paging (x86_64-4l/5l), 32-bit paging with
 * PSE and PSE-36 (i386-2l) and PAE paging (i386-pae). */
#include "x86-desc.h"

/* Memory type is selected by the PAT entry indexed by PAT:PCD:PWT (SDM
 * Vol. 3A 4.9.2 and "Page Attribute Table (PAT)", 12.12 in recent editions,
 * 11.12 before). With the power-on PAT (entries 0..3 = WB, WT, UC-, UC)
 * index 0 is WB, index 2 (PCD) UC- and index 3 (PCD|PWT) UC: the default,
 * PHYSIM_UNCACHED and PHYSIM_DEVICE. Values in the 4 KiB PTE layout (PAT at
 * bit 7); the other indexes (PWT, PAT, PAT|PWT, PAT|PCD, PAT|PCD|PWT) are
 * given and reported as raw arch bits (the one rule: pt-format.h
 * pt_memtype_pick). */
#define IA32_MEMTYPE_BITS (IA32_PWT | IA32_PCD | IA32_PAT4K)
static const struct pt_memtypes ia32_memtypes = {
    .normal = 0,
    .device = IA32_PCD | IA32_PWT,
    .uncached = IA32_PCD,
};

/* The format ops: the codec (x86-desc.h) in the paging mode of the format. */
static enum pt_kind ia32_classify(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	return ia32_desc_classify(f, d, level, ia32_mode(f));
}

static uint64_t ia32_output_addr(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	return ia32_desc_output_addr(f, d, level, ia32_mode(f));
}

/* Non-leaf entries: P|R/W|U/S with XD clear, the most permissive (SDM 4.6:
 * access rights are the AND of R/W and U/S and the OR of XD over the walk).
 * A PAE PDPTE has only P and the address (table 4-8). For 32-bit paging the
 * table must lie below 4 GiB (PDE bits 31:12, table 4-5). */
static uint64_t ia32_encode_table(const struct physim_pt_format *f, uint64_t table_pa,
				  unsigned level)
{
	if (ia32_mode(f) == IA32_MODE_PAE && level == 2)
		return table_pa | IA32_P;
	return table_pa | IA32_P | IA32_RW | IA32_US;
}

/* Address field of a leaf at `level`. */
static uint64_t ia32_leaf_addr_field(const struct physim_pt_format *f, uint64_t pa, unsigned level)
{
	if (ia32_mode(f) == IA32_MODE_32BIT && level > 0)
		return (pa & x86_bits(31, 22)) | ((pa >> 32) << 13);
	return pa;
}

/* Flags and arch bits of a leaf, in the 4 KiB PTE layout (PAT at bit 7). */
static int ia32_attr_bits(const struct physim_pt_format *f, const struct pt_leaf_attr *a,
			  uint64_t *bits)
{
	uint32_t fl = a->flags;
	uint64_t mt = 0, b = IA32_P;
	int rc;

	/* Every present x86 page is readable (SDM 4.6); 32-bit paging has no
	 * XD, so every page is also executable (table 4-6). */
	if ((fl & ~f->flags_supported) || !(fl & PHYSIM_R))
		return -ENOTSUP;
	if (ia32_mode(f) == IA32_MODE_32BIT && !(fl & PHYSIM_X))
		return -ENOTSUP;
	if (a->arch & ~f->arch_attr_mask)
		return -ENOTSUP;
	rc = pt_memtype_pick(fl, a->arch & IA32_MEMTYPE_BITS, &ia32_memtypes, &mt);
	if (rc < 0)
		return rc;
	b |= mt | (a->arch & (IA32_G | IA32_PK));
	if (fl & PHYSIM_W)
		b |= IA32_RW;
	if (fl & PHYSIM_U)
		b |= IA32_US;
	if (!(fl & PHYSIM_X) && ia32_mode(f) != IA32_MODE_32BIT)
		b |= IA32_XD;
	if (a->accessed)
		b |= IA32_A;
	if (a->dirty)
		b |= IA32_D;
	*bits = b;
	return 0;
}

static int ia32_encode_leaf(const struct physim_pt_format *f, uint64_t pa,
			    const struct pt_leaf_attr *a, unsigned level, uint64_t *d)
{
	uint64_t bits;
	int rc = x86_check_leaf_pa(f, pa, level);

	/* A 32-bit PTE holds PA bits 31:12 only; PSE-36 reaches 40 bits in
	 * 4 MiB PDEs alone (tables 4-4, 4-6). */
	if (rc == 0 && ia32_mode(f) == IA32_MODE_32BIT && level == 0 && (pa >> 32) != 0)
		rc = -EINVAL;
	if (rc == 0)
		rc = ia32_attr_bits(f, a, &bits);
	if (rc < 0)
		return rc;
	if (level > 0) {
		/* Large page: PS set, PAT moves from bit 7 to bit 12. */
		if (bits & IA32_PAT4K)
			bits = (bits & ~IA32_PAT4K) | IA32_PATLG;
		bits |= IA32_PS;
	}
	*d = bits | ia32_leaf_addr_field(f, pa, level);
	return 0;
}

static void ia32_decode_leaf(const struct physim_pt_format *f, uint64_t d, unsigned level,
			     struct pt_leaf_attr *a)
{
	uint64_t mt, arch_mt;

	if (level > 0) {
		/* Back to the 4 KiB layout: bit 7 is PS here, PAT is bit 12. */
		d &= ~(IA32_PS | IA32_PAT4K);
		if (d & IA32_PATLG)
			d |= IA32_PAT4K;
	}
	mt = d & IA32_MEMTYPE_BITS;
	a->flags = PHYSIM_R | pt_memtype_flags(mt, &ia32_memtypes, &arch_mt);
	if (d & IA32_RW)
		a->flags |= PHYSIM_W;
	if (d & IA32_US)
		a->flags |= PHYSIM_U;
	if (ia32_mode(f) == IA32_MODE_32BIT || !(d & IA32_XD))
		a->flags |= PHYSIM_X;
	a->arch = (arch_mt | (d & (IA32_G | IA32_PK))) & f->arch_attr_mask;
	a->accessed = d & IA32_A;
	a->dirty = d & IA32_D;
}

/* The memory type is the IA32_PAT entry that PAT:PCD:PWT index (SDM Vol. 3A
 * 4.9.2, "Selecting a Memory Type from the PAT"); with no MTRRs modelled it
 * is reported as PAT gives it (with MTRRs WB, UC- behaves as UC: "Effective
 * Page-Level Memory Types"). x86 caches are coherent: no shareability. */
static void ia32_memattr(const struct physim_pt_format *f, uint64_t d, unsigned level,
			 const struct pt_mem_ctl *c, struct physim_memattr *out)
{
	uint64_t pat = c->pat ? c->pat : X86_PAT_DEFAULT;
	bool patbit = level > 0 ? (d & IA32_PATLG) != 0 : (d & IA32_PAT4K) != 0;
	unsigned idx = (patbit ? 4u : 0u) | ((d & IA32_PCD) ? 2u : 0u) | ((d & IA32_PWT) ? 1u : 0u);

	(void)f;
	out->type = out->outer = x86_memtype((unsigned)(pat >> (8 * idx)));
	out->sh = out->sh_field = PHYSIM_SH_SYSTEM;
}

static const struct pt_format_ops ia32_ops = {
    .classify = ia32_classify,
    .output_addr = ia32_output_addr,
    .encode_table = ia32_encode_table,
    .encode_leaf = ia32_encode_leaf,
    .decode_leaf = ia32_decode_leaf,
    .memattr = ia32_memattr,
};

#define IA32_FLAGS (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U | PHYSIM_DEVICE | PHYSIM_UNCACHED)

/* Level geometry of 4/5-level paging: 512 entries of 8 bytes per table, 9 VA
 * bits per level from bit 12 (SDM 4.5.4 figures 4-8..4-10); leaves at PT
 * (4 KiB), PD (2 MiB, PS=1) and PDPT (1 GiB, PS=1). */

/* 4-level paging, CR4.LA57 = 0: 48-bit linear addresses, canonical (bits
 * 63:47 equal, SDM 4.5.1 / Vol. 1 3.3.7.1). pa_bits 52 is the architectural
 * maximum MAXPHYADDR (4.1.4). Levels: PT(0) PD(1) PDPT(2) PML4(3). */
const struct physim_pt_format physim_fmt_x86_64_4l = {
    .name = "x86_64-4l",
    .description = "x86-64 4-level paging (48-bit VA; 4K/2M/1G pages)",
    .arch = PHYSIM_ARCH_X86_64,
    .stage2 = false,
    .levels = 4,
    .pte_bytes = 8,
    .va_bits = 48,
    .pa_bits = 52,
    .sign_extended = true,
    .level = {{12, 9, true}, {21, 9, true}, {30, 9, true}, {39, 9, false}},
    .flags_supported = IA32_FLAGS,
    .arch_attr_mask = IA32_PWT | IA32_PCD | IA32_PAT4K | IA32_G | IA32_PK,
    .arch_memtype_mask = IA32_MEMTYPE_BITS,
    .ops = &ia32_ops,
    .walk = &physim_x86_walk_ops_4l,
    .param = {IA32_MODE_LONG},
};

/* 5-level paging, CR4.LA57 = 1: 57-bit linear addresses (SDM 4.5.1).
 * Levels: PT(0) PD(1) PDPT(2) PML4(3) PML5(4). */
const struct physim_pt_format physim_fmt_x86_64_5l = {
    .name = "x86_64-5l",
    .description = "x86-64 5-level paging, LA57 (57-bit VA; 4K/2M/1G pages)",
    .arch = PHYSIM_ARCH_X86_64,
    .stage2 = false,
    .levels = 5,
    .pte_bytes = 8,
    .va_bits = 57,
    .pa_bits = 52,
    .sign_extended = true,
    .level = {{12, 9, true}, {21, 9, true}, {30, 9, true}, {39, 9, false}, {48, 9, false}},
    .flags_supported = IA32_FLAGS,
    .arch_attr_mask = IA32_PWT | IA32_PCD | IA32_PAT4K | IA32_G | IA32_PK,
    .arch_memtype_mask = IA32_MEMTYPE_BITS,
    .ops = &ia32_ops,
    .walk = &physim_x86_walk_ops_5l,
    .param = {IA32_MODE_LONG},
};

/* 32-bit paging with CR4.PSE = 1 (SDM 4.3): 1024 4-byte entries per table,
 * PD indexed by VA 31:22, PT by 21:12; 4 MiB pages in the PD. PSE-36 gives
 * 4 MiB pages up to 40 physical-address bits (table 4-4; 4.1.4 limits M to
 * 40 here). No XD, no protection keys. Levels: PT(0) PD(1). */
const struct physim_pt_format physim_fmt_i386_2l = {
    .name = "i386-2l",
    .description = "IA-32 32-bit paging with PSE/PSE-36 (4K/4M pages, 40-bit PA)",
    .arch = PHYSIM_ARCH_X86_64,
    .stage2 = false,
    .levels = 2,
    .pte_bytes = 4,
    .va_bits = 32,
    .pa_bits = 40,
    .sign_extended = false,
    .level = {{12, 10, true}, {22, 10, true}},
    .flags_supported = IA32_FLAGS,
    .arch_attr_mask = IA32_PWT | IA32_PCD | IA32_PAT4K | IA32_G,
    .arch_memtype_mask = IA32_MEMTYPE_BITS,
    .ops = &ia32_ops,
    .walk = &physim_x86_walk_ops_32bit,
    .param = {IA32_MODE_32BIT},
};

/* PAE paging (SDM 4.4): a 4-entry PDPT (32 bytes, 32-byte aligned; the engine
 * gives it a whole frame) indexed by VA 31:30, then PD (29:21) and PT (20:12)
 * of 512 8-byte entries; 2 MiB pages in the PD. No protection keys.
 * Levels: PT(0) PD(1) PDPT(2). */
const struct physim_pt_format physim_fmt_i386_pae = {
    .name = "i386-pae",
    .description = "IA-32 PAE paging (32-bit VA; 4K/2M pages, 52-bit PA)",
    .arch = PHYSIM_ARCH_X86_64,
    .stage2 = false,
    .levels = 3,
    .pte_bytes = 8,
    .va_bits = 32,
    .pa_bits = 52,
    .root_pa_bits = 32, /* CR3 bits 31:5 (SDM 4.4.1) */
    .sign_extended = false,
    .level = {{12, 9, true}, {21, 9, true}, {30, 2, false}},
    .flags_supported = IA32_FLAGS,
    .arch_attr_mask = IA32_PWT | IA32_PCD | IA32_PAT4K | IA32_G,
    .arch_memtype_mask = IA32_MEMTYPE_BITS,
    .ops = &ia32_ops,
    .walk = &physim_x86_walk_ops_pae,
    .param = {IA32_MODE_PAE},
};
