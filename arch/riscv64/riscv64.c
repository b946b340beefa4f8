/* SPDX-License-Identifier: MIT */
/* arch/riscv64/riscv64.c - RISC-V page-table formats: Sv32, Sv39, Sv48, Sv57
 * (satp) and their G-stage "x4" variants (hgatp, hypervisor extension).
 *
 * References (RISC-V Instruction Set Manual, Vol. II, Privileged
 * Architecture, 2024 edition; section numbers differ in older editions):
 *   [Sv32]   10.3 "Sv32: Page-Based 32-bit Virtual-Memory Systems"
 *            (10.3.1 PTE format, 10.3.2 "Virtual Address Translation Process")
 *   [Sv39]   10.4, [Sv48] 10.5, [Sv57] 10.6 (PTE layouts)
 *   [Svpbmt] chapter "Svpbmt" Extension for Page-Based Memory Types
 *   [Svnapot] chapter "Svnapot" Extension for NAPOT Translation Contiguity
 *   [H]      Hypervisor extension, "Two-Stage Address Translation",
 *            "Guest Physical Address Translation" (Sv32x4 ... Sv57x4)
 *
 * Engine levels count from 0 (4 KiB leaves) up to the root; they equal the
 * spec's i in the translation process (i = LEVELS-1 at the root). */
#include "pt-format.h"
#include "riscv-desc.h"

/* PTE bits, classify and output address: riscv-desc.h. */

/* The format ops: the codec. */
static enum pt_kind rv_classify(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	return rv_desc_classify(f, d, level);
}

static uint64_t rv_output_addr(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	return rv_desc_output_addr(f, d, level);
}

/* A non-leaf PTE carries no permissions at all (R = W = X = 0 means
 * "pointer"), so the leaf alone decides access. G stays clear: a global
 * pointer would make every mapping below it global. */
static uint64_t rv_encode_table(const struct physim_pt_format *f, uint64_t table_pa, unsigned level)
{
	return rv_pte_from_pa(table_pa) | RV_V;
}

/* PBMT by the one memory-type rule (pt-format.h): PMA, IO and NC are the
 * default, PHYSIM_DEVICE and PHYSIM_UNCACHED, and 3 is reserved [Svpbmt],
 * so a PBMT in arch is always refused: the flags carry it. */
static const struct pt_memtypes rv_memtypes = {
    .normal = RV_PBMT_PMA,
    .device = RV_PBMT_IO,
    .uncached = RV_PBMT_NC,
};

static int rv_leaf_pbmt(const struct physim_pt_format *f, uint32_t flags, uint64_t arch,
			unsigned *pbmt)
{
	uint64_t v = 0; /* pt_memtype_pick leaves it alone on failure */
	int rc = pt_memtype_pick(flags, (arch & RV_PBMT) >> RV_PBMT_SHIFT, &rv_memtypes, &v);

	(void)f;
	if (rc == 0 && v == RV_PBMT_RSVD)
		rc = -ENOTSUP;
	*pbmt = (unsigned)v;
	return rc;
}

/* The permission part of a leaf, or -ENOTSUP. [Sv32] 10.3.1: R = W = X = 0
 * is a pointer, not a leaf, so a leaf without any permission cannot exist;
 * W without R is reserved. */
static int rv_leaf_perms(const struct physim_pt_format *f, uint32_t flags, uint64_t *bits)
{
	if (flags & ~f->flags_supported)
		return -ENOTSUP;
	if (!(flags & (PHYSIM_R | PHYSIM_W | PHYSIM_X)))
		return -ENOTSUP;
	if ((flags & PHYSIM_W) && !(flags & PHYSIM_R))
		return -ENOTSUP;
	*bits = (flags & PHYSIM_R ? RV_R : 0) | (flags & PHYSIM_W ? RV_W : 0) |
		(flags & PHYSIM_X ? RV_X : 0) | (flags & PHYSIM_U ? RV_U : 0);
	/* [H] G-stage: "the current privilege mode is always taken to be U-mode
	 * when checking the U bit", so every G-stage leaf needs U = 1. */
	if (f->stage2)
		*bits |= RV_U;
	return 0;
}

static int rv_encode_leaf(const struct physim_pt_format *f, uint64_t pa,
			  const struct pt_leaf_attr *a, unsigned level, uint64_t *d)
{
	uint32_t flags = a->flags;
	uint64_t perms;
	unsigned pbmt = RV_PBMT_PMA;
	int rc;

	if (level >= f->levels || !f->level[level].leaf_ok)
		return -EINVAL;
	if ((pa >> f->pa_bits) != 0 || !physim_is_aligned(pa, pt_level_page_size(f, level)))
		return -EINVAL;
	if (a->grouped && f->group_log2[level] != RV_NAPOT_BITS)
		return -EINVAL;
	if (f->stage2)
		flags &= ~(uint32_t)PHYSIM_U; /* accepted and ignored on G-stage */
	rc = rv_leaf_perms(f, flags, &perms);
	if (rc)
		return rc;
	if (a->arch & ~f->arch_attr_mask)
		return -ENOTSUP;
	if (!rv_is_sv32(f)) {
		rc = rv_leaf_pbmt(f, flags, a->arch, &pbmt);
		if (rc)
			return rc;
	}
	*d = rv_pte_from_pa(pa) | RV_V | perms | (a->arch & ~RV_PBMT) |
	     ((uint64_t)pbmt << RV_PBMT_SHIFT) | (a->accessed ? RV_A : 0) | (a->dirty ? RV_D : 0);
	if (a->grouped) {
		/* [Svnapot]: all 16 PTEs of the 64 KiB page are the same: N,
		 * and ppn[0][3:0] = 0b1000 whatever pa's place in the page. */
		uint64_t low = ((UINT64_C(1) << RV_NAPOT_BITS) - 1) << RV_PPN_SHIFT;
		*d = (*d & ~low) | (RV_NAPOT_PPN_LOW << RV_PPN_SHIFT) | RV_N;
	}
	return 0;
}

static void rv_decode_leaf(const struct physim_pt_format *f, uint64_t d, unsigned level,
			   struct pt_leaf_attr *a)
{
	uint32_t flags = 0;
	unsigned pbmt = (unsigned)((d & RV_PBMT) >> RV_PBMT_SHIFT);

	if (rv_is_sv32(f))
		pbmt = RV_PBMT_PMA; /* Sv32 PTEs have no bits 62:61 */
	/* A G-stage leaf with U = 0 can never be accessed [H]: report no
	 * permission rather than permissions the hardware never grants. */
	if (!f->stage2 || (d & RV_U)) {
		flags |= (d & RV_R) ? PHYSIM_R : 0;
		flags |= (d & RV_W) ? PHYSIM_W : 0;
		flags |= (d & RV_X) ? PHYSIM_X : 0;
	}
	if (!f->stage2 && (d & RV_U))
		flags |= PHYSIM_U;
	uint64_t arch_pbmt;
	flags |= pt_memtype_flags(pbmt, &rv_memtypes, &arch_pbmt);
	a->flags = flags;
	a->arch = ((d & f->arch_attr_mask) & ~RV_PBMT) | (arch_pbmt << RV_PBMT_SHIFT);
	a->accessed = (d & RV_A) != 0;
	a->dirty = (d & RV_D) != 0;
	a->grouped = !rv_is_sv32(f) && (d & RV_N) != 0;
}

/* [Svpbmt] "Page-Based Memory Types" table: PBMT 0 = PMA (the physical
 * memory attributes; physim's RAM is main memory), 1 = NC (non-cacheable,
 * idempotent, weakly-ordered main memory), 2 = IO (non-cacheable,
 * non-idempotent, strongly-ordered I/O), 3 reserved. Sv32 has no PBMT.
 * RISC-V has no shareability attribute. */
static void rv_memattr(const struct physim_pt_format *f, uint64_t d, unsigned level,
		       const struct pt_mem_ctl *c, struct physim_memattr *out)
{
	static const enum physim_memtype type[4] = {PHYSIM_MEM_PMA, PHYSIM_MEM_NORMAL_NC,
						    PHYSIM_MEM_IO, PHYSIM_MEM_UNKNOWN};
	unsigned pbmt = rv_is_sv32(f) ? RV_PBMT_PMA : (unsigned)((d & RV_PBMT) >> RV_PBMT_SHIFT);

	(void)level;
	(void)c;
	out->type = out->outer = type[pbmt];
	out->sh = out->sh_field = PHYSIM_SH_SYSTEM;
}

static const struct pt_format_ops rv_ops = {
    .classify = rv_classify,
    .output_addr = rv_output_addr,
    .encode_table = rv_encode_table,
    .encode_leaf = rv_encode_leaf,
    .decode_leaf = rv_decode_leaf,
    .memattr = rv_memattr,
};

/* Generic flags: Sv39/48/57 express all six (DEVICE/UNCACHED via [Svpbmt]);
 * Sv32 has no PBMT field; G-stage has no U distinction [H]. */
#define RV_FLAGS_ALL   (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U | PHYSIM_DEVICE | PHYSIM_UNCACHED)
#define RV_FLAGS_G     (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_DEVICE | PHYSIM_UNCACHED)
#define RV32_FLAGS_ALL (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U)
#define RV32_FLAGS_G   (PHYSIM_R | PHYSIM_W | PHYSIM_X)

/* Raw leaf bits callers may set: G, RSW and PBMT (the memory-type field:
 * every PBMT value is a flag's or reserved, so a raw one is always refused,
 * rv_leaf_pbmt). [H]: "The G bit in all
 * G-stage PTEs is currently not used ... it should be cleared by software",
 * so the x4 formats leave G out. */
#define RV_ARCH_S1   (RV_G | RV_RSW | RV_PBMT)
#define RV_ARCH_G    (RV_RSW | RV_PBMT)
#define RV32_ARCH_S1 (RV_G | RV_RSW)
#define RV32_ARCH_G  (RV_RSW)

/* Sv39/48/57 [Sv39] 10.4 ff.: 9 index bits per level (512 8-byte PTEs =
 * one 4 KiB table), leaves allowed at every level (4K, 2M, 1G, 512G, 256T),
 * VA sign-extended from bit 38/47/56, 56-bit PA. */
const struct physim_pt_format physim_fmt_sv39 = {
    .name = "sv39",
    .description = "RISC-V Sv39 (satp, 3 levels, 39-bit VA)",
    .arch = PHYSIM_ARCH_RISCV64,
    .levels = 3,
    .pte_bytes = 8,
    .va_bits = 39,
    .pa_bits = 56,
    .sign_extended = true,
    .level =
	{
	    {.shift = 12, .index_bits = 9, .leaf_ok = true},
	    {.shift = 21, .index_bits = 9, .leaf_ok = true},
	    {.shift = 30, .index_bits = 9, .leaf_ok = true},
	},
    .group_log2 = {RV_NAPOT_BITS}, /* Svnapot 64 KiB at level 0 */
    .flags_supported = RV_FLAGS_ALL,
    .arch_attr_mask = RV_ARCH_S1,
    .arch_memtype_mask = RV_PBMT,
    .set_accessed_on_map = true,
    .set_dirty_on_map = true,
    .ops = &rv_ops,
    .walk = &physim_rv_walk_ops,
};

const struct physim_pt_format physim_fmt_sv48 = {
    .name = "sv48",
    .description = "RISC-V Sv48 (satp, 4 levels, 48-bit VA)",
    .arch = PHYSIM_ARCH_RISCV64,
    .levels = 4,
    .pte_bytes = 8,
    .va_bits = 48,
    .pa_bits = 56,
    .sign_extended = true,
    .level =
	{
	    {.shift = 12, .index_bits = 9, .leaf_ok = true},
	    {.shift = 21, .index_bits = 9, .leaf_ok = true},
	    {.shift = 30, .index_bits = 9, .leaf_ok = true},
	    {.shift = 39, .index_bits = 9, .leaf_ok = true},
	},
    .group_log2 = {RV_NAPOT_BITS}, /* Svnapot 64 KiB at level 0 */
    .flags_supported = RV_FLAGS_ALL,
    .arch_attr_mask = RV_ARCH_S1,
    .arch_memtype_mask = RV_PBMT,
    .set_accessed_on_map = true,
    .set_dirty_on_map = true,
    .ops = &rv_ops,
    .walk = &physim_rv_walk_ops,
};

const struct physim_pt_format physim_fmt_sv57 = {
    .name = "sv57",
    .description = "RISC-V Sv57 (satp, 5 levels, 57-bit VA)",
    .arch = PHYSIM_ARCH_RISCV64,
    .levels = 5,
    .pte_bytes = 8,
    .va_bits = 57,
    .pa_bits = 56,
    .sign_extended = true,
    .level =
	{
	    {.shift = 12, .index_bits = 9, .leaf_ok = true},
	    {.shift = 21, .index_bits = 9, .leaf_ok = true},
	    {.shift = 30, .index_bits = 9, .leaf_ok = true},
	    {.shift = 39, .index_bits = 9, .leaf_ok = true},
	    {.shift = 48, .index_bits = 9, .leaf_ok = true},
	},
    .group_log2 = {RV_NAPOT_BITS}, /* Svnapot 64 KiB at level 0 */
    .flags_supported = RV_FLAGS_ALL,
    .arch_attr_mask = RV_ARCH_S1,
    .arch_memtype_mask = RV_PBMT,
    .set_accessed_on_map = true,
    .set_dirty_on_map = true,
    .ops = &rv_ops,
    .walk = &physim_rv_walk_ops,
};

/* G-stage [H] "Guest Physical Address Translation": the guest physical
 * address is 2 bits wider than the VA of the matching scheme and must be
 * zero-extended ("bits 63:41 must all be zeros" for Sv39x4); the root table
 * is indexed by those 2 extra bits too, so it holds 2048 entries: "the root
 * page table is 16 KiB and must be aligned to a 16-KiB boundary". */
const struct physim_pt_format physim_fmt_sv39x4 = {
    .name = "sv39x4",
    .description = "RISC-V Sv39x4 G-stage (hgatp, 41-bit GPA)",
    .arch = PHYSIM_ARCH_RISCV64,
    .stage2 = true,
    .levels = 3,
    .pte_bytes = 8,
    .va_bits = 41,
    .pa_bits = 56,
    .sign_extended = false,
    .level =
	{
	    {.shift = 12, .index_bits = 9, .leaf_ok = true},
	    {.shift = 21, .index_bits = 9, .leaf_ok = true},
	    {.shift = 30, .index_bits = 11, .leaf_ok = true},
	},
    .group_log2 = {RV_NAPOT_BITS}, /* Svnapot 64 KiB at level 0 */
    .flags_supported = RV_FLAGS_G,
    .arch_attr_mask = RV_ARCH_G,
    .arch_memtype_mask = RV_PBMT,
    .set_accessed_on_map = true,
    .set_dirty_on_map = true,
    .ops = &rv_ops,
    .walk = &physim_rv_gstage_walk_ops,
};

const struct physim_pt_format physim_fmt_sv48x4 = {
    .name = "sv48x4",
    .description = "RISC-V Sv48x4 G-stage (hgatp, 50-bit GPA)",
    .arch = PHYSIM_ARCH_RISCV64,
    .stage2 = true,
    .levels = 4,
    .pte_bytes = 8,
    .va_bits = 50,
    .pa_bits = 56,
    .sign_extended = false,
    .level =
	{
	    {.shift = 12, .index_bits = 9, .leaf_ok = true},
	    {.shift = 21, .index_bits = 9, .leaf_ok = true},
	    {.shift = 30, .index_bits = 9, .leaf_ok = true},
	    {.shift = 39, .index_bits = 11, .leaf_ok = true},
	},
    .group_log2 = {RV_NAPOT_BITS}, /* Svnapot 64 KiB at level 0 */
    .flags_supported = RV_FLAGS_G,
    .arch_attr_mask = RV_ARCH_G,
    .arch_memtype_mask = RV_PBMT,
    .set_accessed_on_map = true,
    .set_dirty_on_map = true,
    .ops = &rv_ops,
    .walk = &physim_rv_gstage_walk_ops,
};

const struct physim_pt_format physim_fmt_sv57x4 = {
    .name = "sv57x4",
    .description = "RISC-V Sv57x4 G-stage (hgatp, 59-bit GPA)",
    .arch = PHYSIM_ARCH_RISCV64,
    .stage2 = true,
    .levels = 5,
    .pte_bytes = 8,
    .va_bits = 59,
    .pa_bits = 56,
    .sign_extended = false,
    .level =
	{
	    {.shift = 12, .index_bits = 9, .leaf_ok = true},
	    {.shift = 21, .index_bits = 9, .leaf_ok = true},
	    {.shift = 30, .index_bits = 9, .leaf_ok = true},
	    {.shift = 39, .index_bits = 9, .leaf_ok = true},
	    {.shift = 48, .index_bits = 11, .leaf_ok = true},
	},
    .group_log2 = {RV_NAPOT_BITS}, /* Svnapot 64 KiB at level 0 */
    .flags_supported = RV_FLAGS_G,
    .arch_attr_mask = RV_ARCH_G,
    .arch_memtype_mask = RV_PBMT,
    .set_accessed_on_map = true,
    .set_dirty_on_map = true,
    .ops = &rv_ops,
    .walk = &physim_rv_gstage_walk_ops,
};

/* Sv32 [Sv32] 10.3: 2 levels of 10 index bits (1024 4-byte PTEs = 4 KiB),
 * 4 KiB pages and 4 MiB megapages, PPN in PTE bits 31:10 = PA bits 33:12.
 * A 32-bit VA has nothing above it to extend. */
const struct physim_pt_format physim_fmt_sv32 = {
    .name = "sv32",
    .description = "RISC-V Sv32 (satp, 2 levels, 32-bit VA, 34-bit PA)",
    .arch = PHYSIM_ARCH_RISCV64,
    .levels = 2,
    .pte_bytes = 4,
    .va_bits = 32,
    .pa_bits = 34,
    .sign_extended = false,
    .level =
	{
	    {.shift = 12, .index_bits = 10, .leaf_ok = true},
	    {.shift = 22, .index_bits = 10, .leaf_ok = true},
	},
    .flags_supported = RV32_FLAGS_ALL,
    .arch_attr_mask = RV32_ARCH_S1,
    .set_accessed_on_map = true,
    .set_dirty_on_map = true,
    .ops = &rv_ops,
    .walk = &physim_rv_walk_ops,
};

/* Sv32x4 [H]: 34-bit GPA, root indexed by GPA bits 33:22 (4096 entries =
 * 16 KiB, 16 KiB aligned). */
const struct physim_pt_format physim_fmt_sv32x4 = {
    .name = "sv32x4",
    .description = "RISC-V Sv32x4 G-stage (hgatp, 34-bit GPA)",
    .arch = PHYSIM_ARCH_RISCV64,
    .stage2 = true,
    .levels = 2,
    .pte_bytes = 4,
    .va_bits = 34,
    .pa_bits = 34,
    .sign_extended = false,
    .level =
	{
	    {.shift = 12, .index_bits = 10, .leaf_ok = true},
	    {.shift = 22, .index_bits = 12, .leaf_ok = true},
	},
    .flags_supported = RV32_FLAGS_G,
    .arch_attr_mask = RV32_ARCH_G,
    .set_accessed_on_map = true,
    .set_dirty_on_map = true,
    .ops = &rv_ops,
    .walk = &physim_rv_gstage_walk_ops,
};
