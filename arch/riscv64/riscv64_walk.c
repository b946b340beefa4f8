/* SPDX-License-Identifier: MIT */
/* arch/riscv64/riscv64_walk.c - RISC-V access rules for the walker
 * (lib/walk-format.h): the privileged spec's "Virtual Address Translation
 * Process" for Sv32/39/48/57 (satp, or vsatp as the VS stage of a nested
 * walk) and for the G-stage x4 schemes of the hypervisor extension (hgatp).
 *
 * References (RISC-V Instruction Set Manual Vol. II, Privileged Architecture;
 * section numbers of the 2024 edition, older ones differ):
 *   [VATP]  10.3.2 "Virtual Address Translation Process" (steps 1-8; the 2025
 *           edition with Zicfiss renumbers them 1-10)
 *   [PTE]   10.3.1 Sv32 "Addressing and Memory Protection": R/W/X/U, G, the
 *           A/D schemes (Svade: a page fault; Svadu: hardware sets them)
 *   [SUM]   10.1.1 sstatus, "Memory Privilege in sstatus Register" (SUM, MXR)
 *   [Sv39]  10.4.1 "Addressing and Memory Protection": VA bits 63:39 must
 *           equal bit 38 "or else a page-fault exception will occur"
 *           (Sv48 10.5.1, Sv57 10.6.1 alike)
 *   [CAUSE] "Supervisor cause (scause) register values after trap" and the
 *           hypervisor's mcause table: 1/5/7 instruction/load/store-AMO access
 *           fault, 12/13/15 page faults, 20/21/23 guest-page faults
 *   [H-2S]  H extension "Two-Stage Address Translation" (hgatp, vsatp, MXR)
 *   [H-GPA] H extension "Guest Physical Address Translation" (the x4 schemes)
 *   [HTVAL] H extension "Hypervisor Trap Value Register (htval)"
 *
 * Modelling decisions:
 * - Levels: the architecture level is the spec's i, which is the engine level
 *   (i = LEVELS-1 at the root, 0 for 4 KiB leaves).
 * - Syndrome: the exception code written to scause (mcause). Every page
 *   fault of one access has the same code, so `kind` is physim's account of
 *   why it happened: V = 0 -> NOT_PRESENT; a reserved bit or encoding (W
 *   without R, bits 60:54, PBMT = 3, N without Svnapot, D/A/U/PBMT in a
 *   pointer, a pointer at i = 0) or a misaligned superpage -> RESERVED;
 *   R/W/X/U against the access -> PERMISSION; A = 0, or D = 0 on a store,
 *   under Svade -> ACCESS_FLAG. Checks run in the order of the 2025 edition
 *   (reserved bits, misaligned superpage, U, R/W/X, A/D); the 2024 edition
 *   checks permissions before misalignment, which changes only the kind of a
 *   fault that is both.
 * - A virtual address that is not sign-extended ([Sv39]), or a guest-physical
 *   address with bits set above the x4 width ([H-GPA]: "must all be zeros,
 *   or else a guest-page-fault exception occurs"), is an ordinary page fault
 *   (guest-page fault) of the access's type: kind NOT_PRESENT at level
 *   LEVELS-1 (no table is read). NON_CANONICAL is x86's #GP, not a page
 *   fault, and is never reported here. An Sv32 address with bits above 31
 *   set cannot exist on RV32 and is treated the same way.
 * - A table fetch that does not resolve in memory is step 2's PMA violation:
 *   an access fault of the original access type (1/5/7), kind BUS_ERROR,
 *   also during a G-stage walk.
 * - MXR, SUM and Svadu come from each mmu's own ctl: for the G stage,
 *   ctl.mxr is sstatus.MXR of HS mode and ctl.svadu menvcfg.ADUE; for a VS
 *   stage the caller sets ctl.mxr to vsstatus.MXR | sstatus.MXR ([H-2S]:
 *   "setting MXR at HS-level ... overrides both VS-stage and G-stage
 *   execute-only permissions") and ctl.svadu to henvcfg.ADUE.
 * - Result perms are the leaf's R/W/X (and U for a first stage), not widened
 *   by MXR or SUM (the TLB relies on that, lib/tlb.c). A mapping is global
 *   if G is set in any PTE of the walk ([PTE]: a global pointer makes every
 *   mapping below it global); G-stage G is ignored ([H-GPA]).
 * - Svpbmt is implemented, Svnapot is not (riscv64.c).
 */
#include "walk-loop.h"
#include "riscv-desc.h"

/* PTE bits [PTE]: riscv-desc.h (RV_*). */

/* Exception codes [CAUSE]. */
enum rv_cause {
	RV_INSN_ACCESS_FAULT = 1,
	RV_LOAD_ACCESS_FAULT = 5,
	RV_STORE_ACCESS_FAULT = 7,
	RV_INSN_PAGE_FAULT = 12,
	RV_LOAD_PAGE_FAULT = 13,
	RV_STORE_PAGE_FAULT = 15,
	RV_INSN_GUEST_PAGE_FAULT = 20,
	RV_LOAD_GUEST_PAGE_FAULT = 21,
	RV_STORE_GUEST_PAGE_FAULT = 23,
};

/* satp.PPN and hgatp.PPN hold the root's page number; hgatp.PPN[1:0] always
 * read as zero because the x4 root is 16 KiB and 16 KiB aligned ([H-2S]). */
#define RV_ROOT_ALIGN	     UINT64_C(4096)
#define RV_GSTAGE_ROOT_ALIGN UINT64_C(16384)
/* A table pointer's PPN field (bits from RV_PPN_SHIFT) shifted left by this
 * is the table address (physim_mmu.tw_shift). */
#define RV_TW_SHIFT (PHYSIM_FRAME_SHIFT - RV_PPN_SHIFT)

/* The exception code of a fault of `kind` for an access of this type. */
static uint64_t rv_cause(enum physim_fault_kind kind, bool gstage, bool write, bool exec)
{
	if (kind == PHYSIM_FAULT_BUS_ERROR)
		return exec    ? RV_INSN_ACCESS_FAULT
		       : write ? RV_STORE_ACCESS_FAULT
			       : RV_LOAD_ACCESS_FAULT;
	if (gstage)
		return exec    ? RV_INSN_GUEST_PAGE_FAULT
		       : write ? RV_STORE_GUEST_PAGE_FAULT
			       : RV_LOAD_GUEST_PAGE_FAULT;
	return exec ? RV_INSN_PAGE_FAULT : write ? RV_STORE_PAGE_FAULT : RV_LOAD_PAGE_FAULT;
}

/* The access a fault is reported for: the original one for a G-stage walk on
 * behalf of a VS-level table access, else the access itself. */
/* [H-2S]: the G-stage accesses that read (or update) VS-level page tables
 * are checked "as though for an implicit load or store, not for the
 * original access type. However, any exception is always reported for the
 * original access type." The walk loop hands the G stage the implicit access
 * and, when the first stage is RISC-V too, the original one in w->orig
 * (walk-format.h); under a first stage of another family the implicit
 * access's own type is reported. */
WALK_INLINE void rv_reported_access(const struct walk_state *w, bool gstage, bool *write,
				    bool *exec)
{
	*write = w->write;
	*exec = w->exec;
	if (gstage && w->origin == WALK_NESTED_TABLE && w->orig != NULL) {
		*write = w->orig->write;
		*exec = w->orig->exec;
	}
}

WALK_INLINE void rv_fault_common(const struct walk_state *w, bool gstage,
				 enum physim_fault_kind kind, int level, struct physim_fault *f)
{
	bool write, exec;

	rv_reported_access(w, gstage, &write, &exec);
	/* Architecture level i = engine level. */
	walk_fault_set(f, kind, level, rv_cause(kind, gstage, write, exec));
}

static void rv_fault(const struct walk_state *w, enum physim_fault_kind kind, int level,
		     struct physim_fault *f)
{
	rv_fault_common(w, false, kind, level, f);
}

/*
 * G-stage faults are guest-page faults (20/21/23) or access faults. htval
 * would hold the guest-physical address shifted right by 2 ([HTVAL]); the
 * walk loop puts the full GPA in fault.gpa, which physim reports instead.
 */
static void rv_gstage_fault(const struct walk_state *w, enum physim_fault_kind kind, int level,
			    struct physim_fault *f)
{
	rv_fault_common(w, true, kind, level, f);
}

/* The loop's fast path (walk-format.h): a pointer to the next level is
 * V = 1 with R, W, X, U, G, A, D, N, PBMT and the reserved bits 0 ([PTE]:
 * "for non-leaf PTEs, the D, A, and U bits are reserved"); its PPN (bits
 * 53:10, Sv32 31:10) shifted left by 2 is the table address. */
static void rv_configure(struct physim_mmu *m)
{
	const struct physim_pt_format *f = m->cfg.format;

	m->tw_shift = RV_TW_SHIFT;
	for (unsigned level = 0; level < f->levels; level++) {
		m->oa[level][0] = rv_ppn_mask(f) << RV_PPN_SHIFT;
		walk_table_fast(m, level, RV_V, 0, 0);
	}
}

/* Input check and root, shared by both stages. */
WALK_INLINE int rv_begin_common(struct walk_state *w, bool gstage, uint64_t root, uint64_t *table,
				struct physim_fault *f)
{
	w->upper = false;
	w->acc_and = 0;
	w->acc_or = 0; /* G seen in some PTE of the walk */
	w->detail = 0;
	if (!walk_va_ok(w->mmu, w->va)) {
		/* Inline: w's address must not leave the loop (walk-format.h,
		 * b.). */
		rv_fault_common(w, gstage, PHYSIM_FAULT_NOT_PRESENT, w->fmt->levels - 1, f);
		return -EFAULT;
	}
	*table = root & ~((gstage ? RV_GSTAGE_ROOT_ALIGN : RV_ROOT_ALIGN) - 1);
	return 0;
}

WALK_INLINE int rv_begin(struct walk_state *w, uint64_t root, uint64_t root_hi, uint64_t *table,
			 struct physim_fault *f)
{
	(void)root_hi; /* one root: satp */
	return rv_begin_common(w, false, root, table, f);
}

WALK_INLINE int rv_gstage_begin(struct walk_state *w, uint64_t root, uint64_t root_hi,
				uint64_t *table, struct physim_fault *f)
{
	(void)root_hi; /* one root: hgatp */
	return rv_begin_common(w, true, root, table, f);
}

/*
 * [VATP] step 5 (2024 edition) and [SUM]: may this access use a leaf with
 * these R/W/X/U bits? `umode`: U-mode, or any G-stage access ([H-GPA]: "the
 * current privilege mode is always taken to be U-mode when checking the U
 * bit").
 */
WALK_INLINE bool rv_leaf_allows(const struct walk_state *w, uint64_t d, bool umode)
{
	const struct physim_mmu_ctl *ctl = w->ctl;
	bool upage = (d & RV_U) != 0;

	if (umode) {
		if (!upage)
			return false; /* U-mode may access only U = 1 pages */
	} else if (upage) {
		/* S-mode: U = 1 pages only for loads and stores with SUM = 1,
		 * never for fetches, "regardless of the state of SUM". */
		if (w->exec || !ctl->sum)
			return false;
	}
	if (w->exec)
		return (d & RV_X) != 0;
	if (w->write)
		return (d & RV_W) != 0;
	/* Loads: R, or X with MXR ("make executable readable"). */
	return (d & RV_R) || ((d & RV_X) && ctl->mxr);
}

/* One PTE (gstage: of a G-stage table; sv32: 4-byte PTEs). */
WALK_INLINE enum physim_fault_kind rv_step_by(struct walk_state *w, uint64_t d, unsigned level,
					      struct walk_step *s, const bool gstage,
					      const bool sv32)
{
	const struct physim_pt_format *f = w->fmt;
	/* [VATP] steps 3-4 and the misaligned-superpage check (step 6 of the
	 * 2024 edition), as the format classifies them. */
	enum pt_kind k = rv_classify_as(f, d, level, sv32);

	if (k == PT_INVALID)
		return PHYSIM_FAULT_NOT_PRESENT;
	if (k == PT_RESERVED)
		return PHYSIM_FAULT_RESERVED;
	s->d_new = d;
	s->next = rv_addr_as(d, sv32);
	w->acc_or |= d & RV_G;
	if (k == PT_TABLE)
		return PHYSIM_FAULT_NONE;
	if (!sv32 && PHYSIM_UNLIKELY(d & RV_N)) {
		/* [Svnapot] a 64 KiB NAPOT leaf (classify checked the
		 * encoding): pa.ppn[0][3:0] = va.vpn[0][3:0], one TLB entry. */
		uint64_t napot = pt_level_page_size(f, level) << RV_NAPOT_BITS;
		s->page_size = napot;
		s->next &= ~(napot - 1);
	}

	if (!rv_leaf_allows(w, d, gstage || w->user))
		return PHYSIM_FAULT_PERMISSION;
	/* [VATP] step 7: A = 0, or a store with D = 0: Svade raises a page
	 * fault; Svadu sets A (and D on a store) atomically - the walk loop's
	 * compare-and-swap, made only if the translation succeeds. */
	if (!(d & RV_A) || (w->write && !(d & RV_D))) {
		if (!w->ctl->svadu)
			return PHYSIM_FAULT_ACCESS_FLAG;
		s->d_new |= RV_A | (w->write ? RV_D : 0);
	}
	s->leaf = true;
	s->perms = ((d & RV_R) ? PHYSIM_R : 0) | ((d & RV_W) ? PHYSIM_W : 0) |
		   ((d & RV_X) ? PHYSIM_X : 0) | ((!gstage && (d & RV_U)) ? PHYSIM_U : 0);
	s->global = !gstage && (w->acc_or & RV_G);
	return PHYSIM_FAULT_NONE;
}

WALK_INLINE enum physim_fault_kind rv_step(struct walk_state *w, uint64_t d, unsigned level,
					   struct walk_step *s)
{
	return rv_step_by(w, d, level, s, false, false);
}

WALK_INLINE enum physim_fault_kind rv_step32(struct walk_state *w, uint64_t d, unsigned level,
					     struct walk_step *s)
{
	return rv_step_by(w, d, level, s, false, true);
}

/* G stage: every access is a U-mode access, SUM plays no part; an implicit
 * access for a VS-level table is a load (reading it) or a store (setting its
 * A/D bits), as the walk loop presents it. */
WALK_INLINE enum physim_fault_kind rv_gstage_step(struct walk_state *w, uint64_t d, unsigned level,
						  struct walk_step *s)
{
	return rv_step_by(w, d, level, s, true, false);
}

WALK_INLINE enum physim_fault_kind rv_gstage_step32(struct walk_state *w, uint64_t d,
						    unsigned level, struct walk_step *s)
{
	return rv_step_by(w, d, level, s, true, true);
}

/* A VS stage nested over a G stage of the same level count (Sv39 over
 * Sv39x4, Sv48 over Sv48x4, Sv57 over Sv57x4) walks the G stage inline
 * (walk-loop.h, struct walk_s2_inline); other pairs call it. */
WALK_S2_INLINE(rv_gstage_3, physim_rv_gstage_walk_ops, rv_gstage_begin, rv_gstage_step, 3,
	       RV_TW_SHIFT)
WALK_S2_INLINE(rv_gstage_4, physim_rv_gstage_walk_ops, rv_gstage_begin, rv_gstage_step, 4,
	       RV_TW_SHIFT)
WALK_S2_INLINE(rv_gstage_5, physim_rv_gstage_walk_ops, rv_gstage_begin, rv_gstage_step, 5,
	       RV_TW_SHIFT)

/* Traced and nested walks (walk-loop.h, walk_stage_rest): out of line. */
static __attribute__((noinline)) int rv_walk_rest(const struct walk_req *r, struct physim_xlate *x)
{
	switch (r->m->cfg.format->levels) {
	case 2:
		return walk_stage_rest(r, x, rv_begin, rv_step32, 2, 4, NULL);
	case 3:
		return walk_stage_rest(r, x, rv_begin, rv_step, 3, 8, &rv_gstage_3);
	case 4:
		return walk_stage_rest(r, x, rv_begin, rv_step, 4, 8, &rv_gstage_4);
	}
	return walk_stage_rest(r, x, rv_begin, rv_step, 5, 8, &rv_gstage_5);
}

/* The one loop (walk-loop.h): Sv32 (4-byte PTEs), Sv39, Sv48, Sv57; lone
 * walks with the constant 4 KiB geometry (walk_stage_lone_4k: translate
 * 0.94x on Sv39, 0.98x on Sv48, for 14 KB of text). */
static int rv_walk(const struct walk_req *r, struct physim_xlate *x)
{
	if (PHYSIM_UNLIKELY(!walk_req_lone(r)))
		return rv_walk_rest(r, x);
	switch (r->m->cfg.format->levels) {
	case 2:
		return walk_stage_lone_4k(r, x, rv_begin, rv_step32, 2, 4, RV_TW_SHIFT);
	case 3:
		return walk_stage_lone_4k(r, x, rv_begin, rv_step, 3, 8, RV_TW_SHIFT);
	case 4:
		return walk_stage_lone_4k(r, x, rv_begin, rv_step, 4, 8, RV_TW_SHIFT);
	}
	return walk_stage_lone_4k(r, x, rv_begin, rv_step, 5, 8, RV_TW_SHIFT);
}

/* The same for the G-stage formats (Sv32x4 .. Sv57x4), never a nested
 * stage 1. */
static int rv_gstage_walk(const struct walk_req *r, struct physim_xlate *x)
{
	switch (r->m->cfg.format->levels) {
	case 2:
		return walk_stage2_loop(r, x, rv_gstage_begin, rv_gstage_step32, 2, 4);
	case 3:
		return walk_stage2_loop(r, x, rv_gstage_begin, rv_gstage_step, 3, 8);
	case 4:
		return walk_stage2_loop(r, x, rv_gstage_begin, rv_gstage_step, 4, 8);
	}
	return walk_stage2_loop(r, x, rv_gstage_begin, rv_gstage_step, 5, 8);
}

/* A G-stage walk called from a nested stage 1 that does not walk it inline
 * (walk-loop.h, WALK_GPA_FN). */
WALK_GPA_FN(rv_gstage_gpa_2, rv_gstage_begin, rv_gstage_step32, 2, 4, RV_TW_SHIFT)
WALK_GPA_FN(rv_gstage_gpa_3, rv_gstage_begin, rv_gstage_step, 3, 8, RV_TW_SHIFT)
WALK_GPA_FN(rv_gstage_gpa_4, rv_gstage_begin, rv_gstage_step, 4, 8, RV_TW_SHIFT)
WALK_GPA_FN(rv_gstage_gpa_5, rv_gstage_begin, rv_gstage_step, 5, 8, RV_TW_SHIFT)

/* Lookup mode (walk-loop.h, walk_lookup_loop): the codec alone, for VS/S
 * and G-stage formats alike. */
WALK_LOOKUP_CODEC_STEP(rv_lookup_step, rv_desc_classify, rv_desc_output_addr)

WALK_LOOKUP_FN(rv_lookup_2, rv_lookup_step, 2, 4, WALK_GEO_4K | WALK_GEO_EXACT, RV_TW_SHIFT)
WALK_LOOKUP_FN(rv_lookup_3, rv_lookup_step, 3, 8, WALK_GEO_4K | WALK_GEO_EXACT, RV_TW_SHIFT)
WALK_LOOKUP_FN(rv_lookup_4, rv_lookup_step, 4, 8, WALK_GEO_4K | WALK_GEO_EXACT, RV_TW_SHIFT)
WALK_LOOKUP_FN(rv_lookup_5, rv_lookup_step, 5, 8, WALK_GEO_4K | WALK_GEO_EXACT, RV_TW_SHIFT)

/* Architecture level i = engine level (0 + n). */
const struct pt_walk_ops physim_rv_walk_ops = {
    .level_base = 0,
    .level_dir = 1,
    .configure = rv_configure,
    .walk = rv_walk,
    .fault = rv_fault,
    .lookup = {[2] = rv_lookup_2, [3] = rv_lookup_3, [4] = rv_lookup_4, [5] = rv_lookup_5},
};

const struct pt_walk_ops physim_rv_gstage_walk_ops = {
    .level_base = 0,
    .level_dir = 1,
    .configure = rv_configure,
    .walk = rv_gstage_walk,
    .walk_gpa = {[2] = rv_gstage_gpa_2,
		 [3] = rv_gstage_gpa_3,
		 [4] = rv_gstage_gpa_4,
		 [5] = rv_gstage_gpa_5},
    .fault = rv_gstage_fault,
    .lookup = {[2] = rv_lookup_2, [3] = rv_lookup_3, [4] = rv_lookup_4, [5] = rv_lookup_5},
};
