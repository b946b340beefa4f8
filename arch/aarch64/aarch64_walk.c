/* SPDX-License-Identifier: MIT */
/* arch/aarch64/aarch64_walk.c - VMSAv8-64 access rules for the walker
 * (lib/walk-format.h): stage 1 of the EL1&0 translation regime (which the
 * EL2&0 regime shares), stage 1 of the EL2 regime (end of the file) and stage 2,
 * with hierarchical permissions, PAN, WXN, the Access flag and hardware dirty
 * state, address size faults and the FSC syndrome.
 *
 * References are to the Arm ARM (DDI 0487; section and table numbers of a
 * recent edition, K.a or later): D8.1 address size configuration, D8.2
 * translation process, D8.3 descriptor formats, D8.4 memory access control
 * (permissions), D8.5 hardware updates (Access flag, dirty state), and the
 * ESR_ELx ISS DFSC/IFSC encodings (D24.2; "D17" in some editions). Older
 * editions number D8 as D5/D4.
 *
 * What is modelled (each choice documented where it matters):
 * - Non-secure EL1&0 regime, Direct permissions (no FEAT_S1PIE/S1POE/S2PIE),
 *   hierarchical permissions enabled (TCR_EL1.HPD0/HPD1 = 0), no top-byte
 *   ignore (TBI0/TBI1 = 0), FEAT_PAN without EPAN, FEAT_HAFDBS without HAFT,
 *   FEAT_XNX at stage 2, HCR_EL2.PTW = 0.
 * - TTBR1: T1SZ = T0SZ = 64 - va_bits and TG1 = TG0, so an upper-range address
 *   has bits 63:va_bits all ones; root_hi = 0 means TCR_EL1.EPD1 = 1.
 * - The PE implements the format's PA size: 48 bits without FEAT_LPA/LPA2,
 *   52 bits for the -52 formats (FEAT_LPA2 with TCR.DS / VTCR.DS = 1 for the
 *   4K and 16K granules, FEAT_LPA for 64K). The OA size is ctl.ips_bits
 *   (0 = the PA size), capped at the PA size because an {I}PS above the
 *   implemented PA size behaves as the PA size (D8.1.7, R_CLPQT).
 * - Lookup level -1 (FEAT_LPA2, 4K granule, 52-bit input) is engine level 4:
 *   its faults carry level -1 and the FSC codes of level -1 (0b101001
 *   Address size, 0b101011 Translation, 0b010011 External abort on walk).
 * - A/D updates are made only by translations that succeed (walk-format.h);
 *   the Arm ARM requires none for a faulting access and permits but does not
 *   require one for a Permission fault (D8.5.1.2 R_HDTRB/R_QSPMS, D8.5.2.1).
 * - Effective permissions (xlate.perms): R/W/X are what the accessing
 *   Exception level may do (EL0 for user accesses, EL1 otherwise) after all the
 *   rules here, PAN included; U says EL0 has data access (UnprivRead or
 *   UnprivWrite, the accesses PAN looks at). Stage 2: R/W from S2AP and X for
 *   the accessing EL; no U.
 */
#include "aarch64-desc.h"
#include "walk-loop.h"

/* Descriptor bits: aarch64-desc.h (A64_*, S1_*, S2_*). */

/* ESR_ELx DFSC/IFSC: fault type in bits 5:2, lookup level in bits 1:0. */
#define FSC_ADDRESS_SIZE 0x00u /* 0b0000LL */
#define FSC_TRANSLATION	 0x04u /* 0b0001LL */
#define FSC_ACCESS_FLAG	 0x08u /* 0b0010LL */
#define FSC_PERMISSION	 0x0cu /* 0b0011LL */
#define FSC_EXT_ABT_WALK 0x14u /* 0b0101LL: synchronous External abort on walk */

/* Level -1 syndromes (FEAT_LPA2): not "type + level" like levels 0-3. */
#define FSC_ADDRESS_SIZE_LM1 0x29u /* 0b101001 */
#define FSC_TRANSLATION_LM1  0x2bu /* 0b101011 */
#define FSC_EXT_ABT_WALK_LM1 0x13u /* 0b010011 */

/*
 * walk_state use:
 *   acc_and - the OA bits that must be zero: bits 63:OA size (D8.1.7);
 *   acc_or  - stage 1: the table attributes seen so far (S1_T_ATTRS).
 */

/* Bits at and above the OA size (ctl.ips_bits, 0 = the PA size of the
 * format's PE, at most that: ID_AA64MMFR0_EL1.PARange 48 or 52 bits). */
static inline uint64_t a64_oa_excess_mask(const struct physim_pt_format *f,
					  const struct physim_mmu_ctl *ctl)
{
	unsigned ps = ctl->ips_bits ? ctl->ips_bits : f->pa_bits;
	if (ps > f->pa_bits)
		ps = f->pa_bits;
	return ~UINT64_C(0) << ps;
}

/* The OA-size mask, once per mmu (m->param[0]). */
static void a64_configure(struct physim_mmu *m)
{
	const struct physim_pt_format *f = m->cfg.format;

	m->param[0] = a64_oa_excess_mask(f, &m->cfg.ctl);
	for (unsigned level = 0; level < f->levels; level++) {
		m->oa[level][0] = a64_oa_mask(f, level, false);
		m->oa[level][1] = a64_oa_mask(f, level, true);
		/* The loop's fast path (walk-format.h): a table descriptor
		 * (0b11) with no attribute bit (APTable, UXNTable, PXNTable,
		 * NSTable 0: it removes nothing, D8.4.1.2) and no next-level
		 * address bit above the OA size (D8.1.7). */
		walk_table_fast(m, level, A64_VALID | A64_TYPE, m->param[0], 0);
	}
}

/* TCR_ELx.HD / VTCR_EL2.HD "behaves as 0 ... when the Effective value of
 * HA is 0" (D24.2 TCR_EL1.HD, VTCR_EL2.HD). */
static inline bool a64_hd(const struct physim_mmu_ctl *ctl)
{
	return ctl->ha && ctl->hd;
}

/* kind, lookup level and FSC = fault type + level (0b....LL). */
static inline void a64_fault_set(struct physim_fault *f, enum physim_fault_kind kind, int level,
				 unsigned fsc)
{
	walk_fault_set(f, kind, level, fsc + (level > 0 ? (unsigned)level : 0));
}

/* The TTBR / VTTBR holds a table address above the OA size: an Address size
 * fault reported at level 0 whatever the start level (D8.2, R_VPBBF). */
WALK_INLINE int a64_check_root(struct walk_state *w, uint64_t root, struct physim_fault *f)
{
	w->acc_and = w->mmu->param[0];
	w->acc_or = 0;
	w->detail = 0;
	if (root & w->acc_and) {
		a64_fault_set(f, PHYSIM_FAULT_ADDRESS_SIZE, 0, FSC_ADDRESS_SIZE);
		return -EFAULT;
	}
	return 0;
}

/*
 * Stage 1 input: bits 63:va_bits all zero select TTBR0_EL1 (root), all ones
 * TTBR1_EL1 (root_hi). Anything else is outside both VA ranges, and an upper
 * address with TTBR1 walks disabled (EPD1) gets no walk either: both are a
 * Translation fault at level 0, whatever the start level (pseudocode
 * AArch64.S1Translate: VAIsOutOfRange and EPD give fault.level = 0).
 */
WALK_INLINE int a64_s1_begin(struct walk_state *w, uint64_t root, uint64_t root_hi, uint64_t *table,
			     struct physim_fault *f)
{
	uint64_t top = w->va >> w->fmt->va_bits; /* va_bits < 64 for every format */

	if (top == 0) {
		*table = root;
	} else if (top == ~UINT64_C(0) >> w->fmt->va_bits && root_hi != 0) {
		*table = root_hi;
		w->upper = true;
	} else {
		a64_fault_set(f, PHYSIM_FAULT_NOT_PRESENT, 0, FSC_TRANSLATION);
		return -EFAULT;
	}
	return a64_check_root(w, *table, f);
}

/* Stage 2 input: an IPA beyond VTCR_EL2.T0SZ is a stage 2 Translation fault at
 * level 0 (pseudocode AArch64.S2Translate: IPAIsOutOfRange). */
WALK_INLINE int a64_s2_begin(struct walk_state *w, uint64_t root, uint64_t root_hi, uint64_t *table,
			     struct physim_fault *f)
{
	(void)root_hi;
	if (w->va >> w->fmt->va_bits) {
		a64_fault_set(f, PHYSIM_FAULT_NOT_PRESENT, 0, FSC_TRANSLATION);
		return -EFAULT;
	}
	*table = root;
	return a64_check_root(w, root, f);
}

/*
 * The format's classify says PT_RESERVED for two things (arch/aarch64/aarch64.c):
 * - a Block descriptor at a level without blocks (4K level 0, 16K/64K level 1
 *   without FEAT_LPA2/LPA): such a descriptor is invalid (D8.3, the block
 *   sizes of table D8-52 exist only with those features), a Translation fault;
 * - descriptor bits 49:48 (and 15:12 with the 64K granule) set: these hold
 *   OA[51:48] on a PE with FEAT_LPA/LPA2 (tables D8-50, D8-52), so with a
 *   48-bit OA size they are address bits above the OA size: an Address size
 *   fault at this level, as AArch64.OAOutOfRange reports. (Without those
 *   features the bits are RES0 and software must not set them.)
 * The translation fault is the higher-priority one when both apply. In the
 * 52-bit formats bits 49:48 are address bits (DS = 1) or stay RES0 (64K, where
 * bits 15:12 carry OA[51:48] and are decoded by a64_oa_decode).
 */
static inline enum physim_fault_kind a64_reserved_kind(const struct physim_pt_format *f, uint64_t d,
						       unsigned level)
{
	if (level > 0 && !(d & A64_TYPE) && !f->level[level].leaf_ok)
		return PHYSIM_FAULT_NOT_PRESENT;
	return PHYSIM_FAULT_ADDRESS_SIZE;
}

/* The rest of a64_decode for a descriptor classified k (PT_TABLE or
 * PT_LEAF) with output address next: the Address size fault (OA bits above
 * the OA size, D8.1.7 I_HGDWP; for a table descriptor the next-level table
 * address). */
WALK_INLINE enum physim_fault_kind a64_decoded(struct walk_state *w, uint64_t d, enum pt_kind k,
					       uint64_t next, struct walk_step *s,
					       enum pt_kind *kind_out)
{
	s->next = next;
	if (PHYSIM_UNLIKELY(next & w->acc_and))
		return PHYSIM_FAULT_ADDRESS_SIZE;
	s->d_new = d;
	*kind_out = k;
	return PHYSIM_FAULT_NONE;
}

/* Classify d and find its output address (next table or page), with the
 * faults every descriptor can give: Translation (invalid), Address size (OA
 * bits above the OA size, D8.1.7 I_HGDWP; for a table descriptor the
 * next-level table address). Returns NONE with *kind_out = PT_TABLE/PT_LEAF. */
WALK_INLINE enum physim_fault_kind a64_decode(struct walk_state *w, uint64_t d, unsigned level,
					      struct walk_step *s, enum pt_kind *kind_out)
{
	const struct physim_pt_format *f = w->fmt;
	enum pt_kind k = a64_desc_classify(f, d, level);

	if (PHYSIM_UNLIKELY(k != PT_TABLE && k != PT_LEAF))
		return k == PT_RESERVED ? a64_reserved_kind(f, d, level) : PHYSIM_FAULT_NOT_PRESENT;
	/* The address field from the codec's masks (a64_configure). */
	return a64_decoded(w, d, k, a64_oa_decode(f, d, walk_oa_mask(w->mmu, level, k == PT_LEAF)),
			   s, kind_out);
}

/* The Access flag of a leaf (D8.5.1): AF = 0 is an Access flag fault unless
 * hardware management is on (TCR.HA / VTCR.HA), which sets it instead. Access
 * flag faults outrank Permission faults (D8.5.2.1, I_DSHLJ). */
WALK_INLINE bool a64_access_flag_ok(const struct walk_state *w, uint64_t d, struct walk_step *s)
{
	if (d & A64_AF)
		return true;
	if (!w->ctl->ha)
		return false;
	s->d_new |= A64_AF;
	return true;
}

/* Is the access allowed by the permissions of the accessing EL? */
WALK_INLINE bool a64_allows(const struct walk_state *w, bool r, bool wr, bool x)
{
	return w->exec ? x : w->write ? wr : r;
}

/*
 * Stage 1 leaf permissions, D8.4.1.2 (Direct permissions, two privilege
 * levels), in the order of pseudocode AArch64.S1DirectBasePermissions:
 * - writable-clean (D8.5.2.1 R_XZFQH: HD on, DBM = 1, AP[2] = 1) counts as
 *   writable for every permission purpose, WXN and the PXN rule included
 *   (D8.5.2.2 R_TTLCV, R_NKLQN);
 * - AP[2:1] (table D8-63): PrivRead always; PrivWrite if AP[2] = 0;
 *   UnprivRead if AP[1] = 1; UnprivWrite if both;
 * - APTable (table D8-64): [0] removes UnprivRead/UnprivWrite, [1] removes
 *   PrivWrite/UnprivWrite;
 * - PXN / PXNTable remove PrivExecute, UXN / UXNTable UnprivExecute, and
 *   UnprivWrite removes PrivExecute (R_VWLLR);
 * - SCTLR_EL1.WXN: PrivWrite removes PrivExecute, UnprivWrite removes
 *   UnprivExecute (R_SYMMB, R_FYMXJ, R_QXXPC, R_NPBXC);
 * - PSTATE.PAN: a privileged data access to memory with UnprivRead or
 *   UnprivWrite is not permitted (PrivRead/PrivWrite removed); instruction
 *   fetches are not affected (FEAT_PAN without EPAN).
 * EL0 instruction fetch needs only UnprivExecute (execute-only memory exists).
 */
WALK_INLINE enum physim_fault_kind a64_s1_leaf(struct walk_state *w, uint64_t d,
					       struct walk_step *s)
{
	const struct physim_mmu_ctl *c = w->ctl;
	uint64_t t = w->acc_or;

	if (!a64_access_flag_ok(w, d, s))
		return PHYSIM_FAULT_ACCESS_FLAG;
	bool ap2 = (d & S1_AP2) && !(a64_hd(c) && (d & A64_DBM));
	bool pw = !ap2 && !(t & S1_T_AP1);
	bool ur = (d & S1_AP1) && !(t & S1_T_AP0);
	bool uw = ur && pw;
	bool px = !((d & S1_PXN) || (t & S1_T_PXN) || uw);
	bool ux = !((d & S1_UXN) || (t & S1_T_UXN));
	if (c->wxn) {
		px = px && !pw;
		ux = ux && !uw;
	}
	bool r, wr, x;
	if (w->user) {
		r = ur;
		wr = uw;
		x = ux;
	} else {
		bool pan = c->pan && (ur || uw);
		r = !pan;
		wr = pw && !pan;
		x = px;
	}
	if (!a64_allows(w, r, wr, x))
		return PHYSIM_FAULT_PERMISSION;
	/* A permitted write with AP[2] = 1 is a write to a writable-clean
	 * descriptor: hardware clears AP[2] (D8.5.2.1 R_NSXRD). */
	if (w->write && (d & S1_AP2))
		s->d_new &= ~S1_AP2;
	s->leaf = true;
	s->perms = (r ? PHYSIM_R : 0) | (wr ? PHYSIM_W : 0) | (x ? PHYSIM_X : 0) |
		   ((ur || uw) ? PHYSIM_U : 0);
	s->global = !(d & S1_NG);
	return PHYSIM_FAULT_NONE;
}

/* A leaf with the Contiguous bit (aarch64-desc.h A64_CONT) is one page of
 * the run's size: the walk reports page_size = the run, and the TLB caches
 * the run as one entry. The output address is the entry's own (its page of
 * the run), so a well-formed run translates every address as its entries
 * say. A misprogrammed run (entries that differ, or an output address that
 * does not match the entry's place in the run) is CONSTRAINED UNPREDICTABLE
 * (Arm ARM D8, "The Contiguous bit", and "Misprogramming the Contiguous
 * bit"): physim takes the outcome in which the descriptor read translates its
 * own page exactly, as if the bit were clear (what QEMU 7.2 does too), and a
 * TLB entry filled from it serves the rest of the run from that descriptor;
 * a descriptor whose output address does not sit at its place in an
 * aligned run is a page of its own level's size (the bit ignored), so the
 * reported page never misplaces the offset.
 * s->next is the run's base as this descriptor implies it, so that the walk
 * loop's next + (va & (run - 1)) is the entry's own output address. */
WALK_INLINE void a64_contiguous(const struct walk_state *w, uint64_t d, unsigned level,
				struct walk_step *s)
{
	if (PHYSIM_LIKELY(!(d & A64_CONT)))
		return;
	uint64_t run = pt_group_size(w->fmt, level);
	uint64_t base = s->next - (w->va & (run - 1) & ~(pt_level_page_size(w->fmt, level) - 1));
	if (base & (run - 1))
		return; /* its output is not its place in a run: as if the bit were clear */
	s->page_size = run;
	s->next = base;
}

/* Stage 1: one descriptor. */
WALK_INLINE enum physim_fault_kind a64_s1_step(struct walk_state *w, uint64_t d, unsigned level,
					       struct walk_step *s)
{
	enum pt_kind k = PT_INVALID;
	enum physim_fault_kind fk = a64_decode(w, d, level, s, &k);

	if (fk != PHYSIM_FAULT_NONE)
		return fk;
	if (k == PT_TABLE) {
		w->acc_or |= d & S1_T_ATTRS;
		return PHYSIM_FAULT_NONE;
	}
	a64_contiguous(w, d, level, s);
	return a64_s1_leaf(w, d, s);
}

/*
 * Stage 2 leaf (D8.4.2.1): S2AP[0] grants reads, S2AP[1] writes (table D8-76),
 * the same for EL1 and EL0; a writable-clean descriptor (HD on, DBM = 1,
 * S2AP[1] = 0) is writable and a write sets S2AP[1] (D8.5.2.1). Execution,
 * FEAT_XNX (table D8-78): XN[1:0] = 00 EL1 and EL0, 01 EL0 only, 10 neither,
 * 11 EL1 only; "EL0" is the privilege of the access being translated (a
 * stage 1 table walk is never a fetch). Stage 2 has no hierarchical
 * attributes: table descriptor bits 63:59 are RES0 there (table D8-51) and
 * are ignored.
 */
WALK_INLINE enum physim_fault_kind a64_s2_leaf(struct walk_state *w, uint64_t d,
					       struct walk_step *s)
{
	if (!a64_access_flag_ok(w, d, s))
		return PHYSIM_FAULT_ACCESS_FLAG;
	unsigned xn = (unsigned)(d >> S2_XN_SHIFT) & 3;
	bool r = (d & S2_S2AP_R) != 0;
	bool wr = (d & S2_S2AP_W) || (a64_hd(w->ctl) && (d & A64_DBM));
	bool x = xn == 0 || (xn == 1 && w->user) || (xn == 3 && !w->user);

	if (!a64_allows(w, r, wr, x))
		return PHYSIM_FAULT_PERMISSION;
	if (w->write && !(d & S2_S2AP_W))
		s->d_new |= S2_S2AP_W;
	s->leaf = true;
	s->perms = (r ? PHYSIM_R : 0) | (wr ? PHYSIM_W : 0) | (x ? PHYSIM_X : 0);
	s->global = false;
	return PHYSIM_FAULT_NONE;
}

/* Stage 2: one descriptor. */
WALK_INLINE enum physim_fault_kind a64_s2_step(struct walk_state *w, uint64_t d, unsigned level,
					       struct walk_step *s)
{
	enum pt_kind k = PT_INVALID;
	enum physim_fault_kind fk = a64_decode(w, d, level, s, &k);

	if (fk != PHYSIM_FAULT_NONE)
		return fk;
	if (k == PT_TABLE)
		return PHYSIM_FAULT_NONE;
	a64_contiguous(w, d, level, s);
	return a64_s2_leaf(w, d, s);
}

/*
 * DFSC/IFSC (the same for data accesses and instruction fetches):
 * translation 0b0001LL, address size 0b0000LL, access flag 0b0010LL,
 * permission 0b0011LL, synchronous External abort on a translation table
 * walk 0b0101LL, LL = the lookup level. A RESERVED fault from the loop (a
 * table where none can be) is reported as a Translation fault. Stage 2 faults
 * use the same codes (with ESR_EL2.ISS.S1PTW set by the loop for a stage 1
 * walk).
 */
static void a64_fault(const struct walk_state *w, enum physim_fault_kind kind, int level,
		      struct physim_fault *f)
{
	(void)w;
	int arch = level < 0 ? -1 : 3 - level;
	unsigned fsc;

	switch (kind) {
	case PHYSIM_FAULT_ADDRESS_SIZE:
		fsc = FSC_ADDRESS_SIZE;
		break;
	case PHYSIM_FAULT_ACCESS_FLAG:
		fsc = FSC_ACCESS_FLAG;
		break;
	case PHYSIM_FAULT_PERMISSION:
		fsc = FSC_PERMISSION;
		break;
	case PHYSIM_FAULT_BUS_ERROR:
		fsc = FSC_EXT_ABT_WALK;
		break;
	default:
		fsc = FSC_TRANSLATION;
		break;
	}
	if (arch == -1 && level >= 0) { /* lookup level -1: no leaf, so no AF/permission */
		fsc = fsc == FSC_ADDRESS_SIZE	? FSC_ADDRESS_SIZE_LM1
		      : fsc == FSC_EXT_ABT_WALK ? FSC_EXT_ABT_WALK_LM1
						: FSC_TRANSLATION_LM1;
		walk_fault_set(f, kind, -1, fsc);
		return;
	}
	a64_fault_set(f, kind, arch, fsc);
}

/* A stage 1 nested over a stage 2 of the same level count walks stage 2
 * inline (walk-loop.h, struct walk_s2_inline). */
WALK_S2_INLINE(a64_s2_3, physim_a64_s2_walk_ops, a64_s2_begin, a64_s2_step, 3, 0)
WALK_S2_INLINE(a64_s2_4, physim_a64_s2_walk_ops, a64_s2_begin, a64_s2_step, 4, 0)
WALK_S2_INLINE(a64_s2_5, physim_a64_s2_walk_ops, a64_s2_begin, a64_s2_step, 5, 0)

/* Traced and nested walks (walk-loop.h, walk_stage_rest): out of line. */
static __attribute__((noinline)) int a64_s1_walk_rest(const struct walk_req *r,
						      struct physim_xlate *x)
{
	if (r->m->cfg.format->levels == 5)
		return walk_stage_rest(r, x, a64_s1_begin, a64_s1_step, 5, 8, &a64_s2_5);
	if (r->m->cfg.format->levels == 4)
		return walk_stage_rest(r, x, a64_s1_begin, a64_s1_step, 4, 8, &a64_s2_4);
	return walk_stage_rest(r, x, a64_s1_begin, a64_s1_step, 3, 8, &a64_s2_3);
}

/* The one loop (walk-loop.h) for 3, 4 and 5 (LPA2: from level -1) lookup
 * levels. */
static int a64_s1_walk(const struct walk_req *r, struct physim_xlate *x)
{
	if (PHYSIM_UNLIKELY(!walk_req_lone(r)))
		return a64_s1_walk_rest(r, x);
	if (r->m->cfg.format->levels == 5)
		return walk_stage_lone_4k(r, x, a64_s1_begin, a64_s1_step, 5, 8, 0);
	if (r->m->cfg.format->levels == 4)
		return walk_stage_lone_4k(r, x, a64_s1_begin, a64_s1_step, 4, 8, 0);
	return walk_stage_lone_4k(r, x, a64_s1_begin, a64_s1_step, 3, 8, 0);
}

/* Stage 2: never a nested stage 1. */
static int a64_s2_walk(const struct walk_req *r, struct physim_xlate *x)
{
	if (r->m->cfg.format->levels == 5)
		return walk_stage2_loop(r, x, a64_s2_begin, a64_s2_step, 5, 8);
	if (r->m->cfg.format->levels == 4)
		return walk_stage2_loop(r, x, a64_s2_begin, a64_s2_step, 4, 8);
	return walk_stage2_loop(r, x, a64_s2_begin, a64_s2_step, 3, 8);
}

/* A stage-2 walk called from a nested stage 1 that does not walk it inline
 * (walk-loop.h, WALK_GPA_FN). */
WALK_GPA_FN(a64_s2_gpa_3, a64_s2_begin, a64_s2_step, 3, 8, 0)
WALK_GPA_FN(a64_s2_gpa_4, a64_s2_begin, a64_s2_step, 4, 8, 0)
WALK_GPA_FN(a64_s2_gpa_5, a64_s2_begin, a64_s2_step, 5, 8, 0)

/* Lookup mode (walk-loop.h, walk_lookup_loop): the codec alone, for every
 * VMSAv8-64 format (stage 1 of both regimes and stage 2 share it). */
WALK_LOOKUP_CODEC_STEP(a64_lookup_step, a64_desc_classify, a64_desc_output_addr)

WALK_LOOKUP_FN(a64_lookup_3, a64_lookup_step, 3, 8, WALK_GEO_4K | WALK_GEO_EXACT, 0)
WALK_LOOKUP_FN(a64_lookup_4, a64_lookup_step, 4, 8, WALK_GEO_4K | WALK_GEO_EXACT, 0)
WALK_LOOKUP_FN(a64_lookup_5, a64_lookup_step, 5, 8, WALK_GEO_4K | WALK_GEO_EXACT, 0)

/* Lookup level = 3 - engine level for every VMSAv8-64 format here (the last
 * level is always lookup level 3; 3-level formats start at lookup level 1,
 * 5-level ones at level -1). */
const struct pt_walk_ops physim_a64_s1_walk_ops = {
    .level_base = 3,
    .level_dir = -1,
    .configure = a64_configure,
    .walk = a64_s1_walk,
    .fault = a64_fault,
    .lookup = {[3] = a64_lookup_3, [4] = a64_lookup_4, [5] = a64_lookup_5},
};

const struct pt_walk_ops physim_a64_s2_walk_ops = {
    .level_base = 3,
    .level_dir = -1,
    .configure = a64_configure,
    .walk = a64_s2_walk,
    .walk_gpa = {[3] = a64_s2_gpa_3, [4] = a64_s2_gpa_4, [5] = a64_s2_gpa_5},
    .fault = a64_fault,
    .lookup = {[3] = a64_lookup_3, [4] = a64_lookup_4, [5] = a64_lookup_5},
};

/* ---- stage 1 of the EL2 regime, HCR_EL2.E2H = 0 (aarch64-el2-*) ----
 * A regime of one Exception level. The EL2&0 regime (E2H = 1) walks with the
 * EL1&0 rules above: D8.4.1.2 gives EL1&0 and EL2&0 the same permissions. */

/* One VA range, TTBR0_EL2 (root; root_hi is not used): an address with any
 * of bits 63:va_bits set is a Translation fault at level 0 (pseudocode
 * AArch64.S1Translate: VAIsOutOfRange). */
WALK_INLINE int a64_el2_begin(struct walk_state *w, uint64_t root, uint64_t root_hi,
			      uint64_t *table, struct physim_fault *f)
{
	(void)root_hi;
	if (w->va >> w->fmt->va_bits) {
		a64_fault_set(f, PHYSIM_FAULT_NOT_PRESENT, 0, FSC_TRANSLATION);
		return -EFAULT;
	}
	*table = root;
	return a64_check_root(w, root, f);
}

/*
 * EL2 leaf permissions (D8.4.1.2, a stage 1 translation supporting one
 * Exception level; summary table D8-66):
 * - PrivRead always; PrivWrite unless AP[2] = 1 (table D8-62) or APTable[1]
 *   = 1 above (table D8-64); writable-clean (HD on, DBM = 1) is writable and
 *   a write clears AP[2], as at EL1&0. AP[1] is RES1 (R_MGGZM) and decides
 *   nothing: there is no EL0, and UnprivRead/UnprivWrite do not apply to the
 *   EL2 regime (I_KWYWX), so no "UnprivWrite removes PrivExecute" rule
 *   (R_VWLLR is for two Exception levels) and nothing for PAN to act on.
 * - XN (bit 54) or XNTable (bit 60) above removes PrivExecute (R_TRZVM,
 *   R_RLQFP); PXN, PXNTable and APTable[0] (RES0, I_PCLHM) are ignored.
 * - SCTLR_EL2.WXN (ctl.wxn): PrivWrite removes PrivExecute (R_SYMMB).
 * - An EL0 access (access.user) has no permission to use: "if the stage 1
 *   permission is not present, that access type is not permitted" (R_WBLJK),
 *   and no Unpriv* permission is ever present here. physim reports it as a
 *   Permission fault at the leaf (hardware never translates EL0 accesses
 *   with this regime: EL0 belongs to EL1&0).
 * No ASIDs: every translation is global.
 */
WALK_INLINE enum physim_fault_kind a64_el2_leaf(struct walk_state *w, uint64_t d,
						struct walk_step *s)
{
	const struct physim_mmu_ctl *c = w->ctl;
	uint64_t t = w->acc_or;

	if (!a64_access_flag_ok(w, d, s))
		return PHYSIM_FAULT_ACCESS_FLAG;
	if (w->user)
		return PHYSIM_FAULT_PERMISSION;
	bool ap2 = (d & S1_AP2) && !(a64_hd(c) && (d & A64_DBM));
	bool wr = !ap2 && !(t & S1_T_AP1);
	bool x = !((d & EL2_XN) || (t & EL2_T_XN));
	if (c->wxn)
		x = x && !wr;
	if (!a64_allows(w, true, wr, x))
		return PHYSIM_FAULT_PERMISSION;
	if (w->write && (d & S1_AP2))
		s->d_new &= ~S1_AP2;
	s->leaf = true;
	s->perms = PHYSIM_R | (wr ? PHYSIM_W : 0) | (x ? PHYSIM_X : 0);
	s->global = true;
	return PHYSIM_FAULT_NONE;
}

/* EL2: one descriptor; table descriptors accumulate APTable[1] and XNTable. */
WALK_INLINE enum physim_fault_kind a64_el2_step(struct walk_state *w, uint64_t d, unsigned level,
						struct walk_step *s)
{
	enum pt_kind k = PT_INVALID;
	enum physim_fault_kind fk = a64_decode(w, d, level, s, &k);

	if (fk != PHYSIM_FAULT_NONE)
		return fk;
	if (k == PT_TABLE) {
		w->acc_or |= d & (S1_T_AP1 | EL2_T_XN);
		return PHYSIM_FAULT_NONE;
	}
	a64_contiguous(w, d, level, s);
	return a64_el2_leaf(w, d, s);
}

/* A nested walk (physim_nested_translate) is allowed although hardware
 * never puts a stage 2 under the EL2 regime (HCR_EL2.VM applies to EL1&0):
 * it is how a host's software walks a guest hypervisor's own EL2 table that
 * lives in guest memory (nested virtualization). */
static int a64_el2_walk(const struct walk_req *r, struct physim_xlate *x)
{
	if (r->m->cfg.format->levels == 4)
		return walk_stage_loop(r, x, a64_el2_begin, a64_el2_step, 4, 8);
	return walk_stage_loop(r, x, a64_el2_begin, a64_el2_step, 3, 8);
}

const struct pt_walk_ops physim_a64_el2_walk_ops = {
    .level_base = 3,
    .level_dir = -1,
    .configure = a64_configure,
    .walk = a64_el2_walk,
    .fault = a64_fault,
    .lookup = {[3] = a64_lookup_3, [4] = a64_lookup_4, [5] = a64_lookup_5},
};
