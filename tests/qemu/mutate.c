/* SPDX-License-Identifier: MIT */
/* tests/qemu/mutate.c - descriptor mutations for the QEMU differential test:
 * raw bit changes to descriptors physim wrote, so that the walker is
 * compared with QEMU on encodings the engine never produces (invalid,
 * reserved, misaligned, pointers to nowhere, permission and attribute bits).
 *
 * The bit layouts are written here from the manuals, independently of
 * arch/: Intel SDM Vol. 3A 4.3-4.5 (tables 4-4..4-20), RISC-V privileged
 * spec (Sv32/39/48/57 PTE format, "Virtual Address Translation Process",
 * Svpbmt, H extension G-stage), Arm ARM D8.3 (VMSAv8-64 descriptor formats),
 * D8.4 (access permissions, Access flag).
 *
 * Left out, because QEMU 7.2's gva2gpa answers differently from the manual
 * (tests/qemu/README.md): x86 reserved bits, MAXPHYADDR and PS in PML4E /
 * PML5E / PAE PDPTE (the x86 debug walker ignores them); AArch64 blocks at
 * lookup level 0 with the 4K granule (QEMU accepts them) and table-to-block
 * changes at all (the low output-address bits of a block are RES0); RISC-V
 * bits 60:54 (not checked by QEMU once Svpbmt is on) and PBMT = 3 in a leaf
 * (reserved, so a page fault by the translation process, step 3 - physim
 * faults, QEMU 7.2 translates; found by this test).
 */
#include "oracle-gen.h"

struct choices {
	uint64_t d[16];
	const char *name[16];
	unsigned n;
};

static void add(struct choices *c, const char *name, uint64_t d)
{
	c->d[c->n] = d;
	c->name[c->n++] = name;
}

/* ---- x86 (SDM Vol. 3A tables 4-4..4-20) ---- */

#define X86_P	(UINT64_C(1) << 0)
#define X86_RW	(UINT64_C(1) << 1)
#define X86_US	(UINT64_C(1) << 2)
#define X86_PWT (UINT64_C(1) << 3)
#define X86_PCD (UINT64_C(1) << 4)
#define X86_A	(UINT64_C(1) << 5)
#define X86_PS	(UINT64_C(1) << 7)
#define X86_XD	(UINT64_C(1) << 63)

/* Address bits of a 4 KiB-aligned table or page: 51:12 with 8-byte entries
 * (PAE, 4/5-level), 31:12 with 4-byte entries (32-bit paging). */
static uint64_t x86_addr_mask(const struct physim_pt_format_info *i)
{
	return i->pte_bytes == 4 ? UINT64_C(0xfffff000) : UINT64_C(0x000ffffffffff000);
}

static void x86_choices(const struct physim_pt_format_info *i, unsigned level, uint64_t d,
			uint64_t nowhere, struct choices *c)
{
	bool pae_pdpte = i->va_bits == 32 && i->pte_bytes == 8 && level == 2;
	bool leaf = level == 0 || (i->level[level].leaf_ok && (d & X86_PS));
	uint64_t amask = x86_addr_mask(i);

	add(c, "x86: P cleared", d & ~X86_P);
	/* memory type bits: translation unchanged (PDPTE has PWT/PCD too) */
	add(c, "x86: PWT/PCD flipped", d ^ (X86_PWT | X86_PCD));
	if (!pae_pdpte) {
		/* access rights of a supervisor read: unchanged without SMAP
		 * (SDM 4.6.1); A is software-visible only */
		add(c, "x86: U/S flipped", d ^ X86_US);
		add(c, "x86: R/W flipped", d ^ X86_RW);
		add(c, "x86: A flipped", d ^ X86_A);
		if (i->pte_bytes == 8)
			add(c, "x86: XD flipped", d ^ X86_XD);
	}
	if (leaf && level > 0) {
		/* a large page becomes a pointer to a table at its address */
		add(c, "x86: PS cleared", d & ~X86_PS);
	} else if (!leaf) {
		add(c, "x86: table pointer to nowhere", (d & ~amask) | (nowhere & amask));
		if (level > 0 && i->level[level].leaf_ok) {
			/* a pointer becomes a large page at the table's address,
			 * aligned (no reserved address bits) */
			uint64_t size = bit(i->level[level].shift);
			add(c, "x86: PS set", (d & ~amask) | (d & amask & ~(size - 1)) | X86_PS);
		}
	}
}

/* ---- RISC-V (privileged spec, PTE format; H extension G-stage) ---- */

#define RV_V	 (UINT64_C(1) << 0)
#define RV_R	 (UINT64_C(1) << 1)
#define RV_W	 (UINT64_C(1) << 2)
#define RV_X	 (UINT64_C(1) << 3)
#define RV_U	 (UINT64_C(1) << 4)
#define RV_A	 (UINT64_C(1) << 6)
#define RV_D	 (UINT64_C(1) << 7)
#define RV_PPN0	 (UINT64_C(1) << 10) /* lowest PPN bit */
#define RV_PBMT1 (UINT64_C(1) << 61) /* Svpbmt: PBMT = 1 (NC) */
#define RV_N	 (UINT64_C(1) << 63) /* Svnapot: NAPOT PTE */

static uint64_t rv_ppn_field(const struct physim_pt_format_info *i)
{
	unsigned bits = i->pte_bytes == 4 ? 22 : 44;
	return (bit(bits) - 1) << 10;
}

static void rv_choices(const struct physim_pt_format_info *i, unsigned level, uint64_t d,
		       uint64_t nowhere, struct choices *c)
{
	bool leaf = (d & (RV_R | RV_W | RV_X)) != 0;

	add(c, "riscv: V cleared", d & ~RV_V);
	if (leaf) {
		/* W without R is reserved; X-only is not readable (no MXR) */
		add(c, "riscv: W without R", (d | RV_W) & ~RV_R);
		add(c, "riscv: execute-only", (d & ~(RV_R | RV_W)) | RV_X);
		/* A = 0: QEMU 7.2 sets A itself (the walker runs with Svadu) */
		add(c, "riscv: A cleared", d & ~RV_A);
		add(c, "riscv: D cleared", d & ~RV_D);
		/* stage 1: SUM is on, so U does not matter to a supervisor read;
		 * G-stage: accesses count as U-mode, a leaf without U faults */
		add(c, "riscv: U flipped", d ^ RV_U);
		if (level > 0)
			add(c, "riscv: misaligned superpage", d | RV_PPN0);
		else
			add(c, "riscv: pointer at the last level", d & ~(RV_R | RV_W | RV_X));
		/* Svnapot (QEMU runs with svnapot=on): N on a leaf is a 64 KiB
		 * NAPOT page at i = 0 with ppn[3:0] = 0b1000, reserved
		 * otherwise; a lone NAPOT PTE translates its whole 64 KiB. */
		if (i->pte_bytes == 8) {
			add(c, "riscv: N set", d | RV_N);
			add(c, "riscv: NAPOT 64K", (d & ~(RV_PPN0 * 0xf)) | RV_PPN0 * 8 | RV_N);
		}
	} else {
		/* A, D, U (and PBMT) are reserved in a pointer */
		add(c, "riscv: A in a pointer", d | RV_A);
		add(c, "riscv: D in a pointer", d | RV_D);
		add(c, "riscv: U in a pointer", d | RV_U);
		if (i->pte_bytes == 8)
			add(c, "riscv: PBMT in a pointer", d | RV_PBMT1);
		add(c, "riscv: pointer to nowhere",
		    (d & ~rv_ppn_field(i)) | ((nowhere >> 12) << 10));
		if (i->level[level].leaf_ok)
			add(c, "riscv: pointer made a leaf", d | RV_R);
	}
}

/* ---- AArch64 (Arm ARM D8.3, D8.4) ---- */

#define A64_VALID	   (UINT64_C(1) << 0)
#define A64_TYPE	   (UINT64_C(1) << 1) /* table / page */
#define A64_AP		   (UINT64_C(3) << 6) /* stage 1 AP[2:1], stage 2 S2AP */
#define A64_S2AP_R	   (UINT64_C(1) << 6)
#define A64_AF		   (UINT64_C(1) << 10)
#define A64_CONTIG	   (UINT64_C(1) << 52)
#define A64_PXN_UXN	   (UINT64_C(3) << 53)
#define A64_TBL_ATTR_SHIFT 59 /* PXNTable 59, UXNTable 60, APTable 62:61, NSTable 63 */

/* Next-level table address field: bits 47:granule (a 64K granule's bits
 * 15:12 are OA[51:48] with FEAT_LPA; a table address there stays 64K
 * aligned, so they are left clear). */
static uint64_t a64_addr_mask(const struct physim_pt_format_info *i)
{
	return (bit(48) - 1) & ~(bit(i->level[0].shift) - 1);
}

/* The high address bits of a 52-bit format (Arm ARM D8.3): OA[51:50] /
 * NLTA[51:50] in bits 9:8 with FEAT_LPA2 (TCR.DS = 1, 4K and 16K granules),
 * OA[51:48] / NLTA[51:48] in bits 15:12 with FEAT_LPA (64K); none with a
 * 48-bit output. */
static uint64_t a64_high_oa_bits(const struct physim_pt_format_info *i)
{
	if (i->pa_bits < 52)
		return 0;
	return i->level[0].shift == 16 ? UINT64_C(0xf) << 12 : UINT64_C(3) << 8;
}

static void a64_choices(const struct physim_pt_format_info *i, unsigned level, uint64_t d,
			uint64_t nowhere, struct choices *c)
{
	bool leaf = level == 0 ? (d & A64_TYPE) != 0 : (d & A64_TYPE) == 0;
	uint64_t high = a64_high_oa_bits(i);

	add(c, "aarch64: valid cleared", d & ~A64_VALID);
	if (leaf) {
		/* QEMU's gva2gpa does not check AF (the walker runs with HA) */
		add(c, "aarch64: AF cleared", d & ~A64_AF);
		/* the contiguous hint does not change the output address */
		add(c, "aarch64: contiguous hint", d | A64_CONTIG);
		if (i->stage2) {
			/* S2AP bit 6 is read access: without it, unmapped */
			add(c, "aarch64: S2AP none", d & ~A64_AP);
			add(c, "aarch64: S2AP write-only", (d & ~A64_AP) | (A64_AP & ~A64_S2AP_R));
			add(c, "aarch64: S2AP read-only", (d & ~A64_AP) | A64_S2AP_R);
		} else {
			/* EL1 read, PAN clear: every AP value allows it */
			add(c, "aarch64: AP changed", d ^ (UINT64_C(1) << 6));
			add(c, "aarch64: AP read-only", d | (UINT64_C(1) << 7));
			add(c, "aarch64: PXN/UXN flipped", d ^ A64_PXN_UXN);
		}
		/* level 3 with bits 1:0 = 01 is reserved: translation fault */
		if (level == 0)
			add(c, "aarch64: block encoding at level 3", d & ~A64_TYPE);
		/* another output address: OA[50] (DS) or OA[48] (64K) flipped */
		if (high)
			add(c, "aarch64: high OA bit flipped", d ^ (high & (~high + 1)));
	} else {
		add(c, "aarch64: table pointer to nowhere",
		    (d & ~a64_addr_mask(i)) | (nowhere & a64_addr_mask(i)));
		/* stage 1 hierarchical attributes: no effect on an EL1 read
		 * without PAN; NSTable is ignored in Non-secure state */
		if (!i->stage2)
			add(c, "aarch64: table attributes",
			    d | ((1 + (d >> 12) % 31) << A64_TBL_ATTR_SHIFT));
		/* the next table above 2^48: outside memory */
		if (high)
			add(c, "aarch64: high table address bits set", d | high);
	}
}

bool mutate_descriptor(const struct physim_pt_format_info *i, unsigned level, uint64_t d,
		       uint64_t nowhere, struct rng *r, uint64_t *out, const char **name)
{
	struct choices c = {.n = 0};
	switch (i->arch) {
	case PHYSIM_ARCH_X86_64:
		x86_choices(i, level, d, nowhere, &c);
		break;
	case PHYSIM_ARCH_RISCV64:
		rv_choices(i, level, d, nowhere, &c);
		break;
	case PHYSIM_ARCH_AARCH64:
		a64_choices(i, level, d, nowhere, &c);
		break;
	default:
		return false;
	}
	if (c.n == 0)
		return false;
	unsigned k = (unsigned)rng_below(r, c.n);
	*out = c.d[k];
	*name = c.name[k];
	return true;
}
