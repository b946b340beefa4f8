/* SPDX-License-Identifier: MIT */
/* arch/aarch64/armv7_walk.c - VMSAv8-32 Short-descriptor access rules for the
 * walker (lib/walk-format.h): sections, supersections, small and large pages,
 * AP[2:1] permissions with the Access flag, XN/PXN, WXN, PAN, and the
 * Short-descriptor fault status codes.
 *
 * References: Arm ARM (DDI 0487) G5.4 "The VMSAv8-32 Short-descriptor
 * translation table format" (descriptor layouts), G5.6 "Memory access
 * control" (G5.6.1.1 AP[2:1] model, G5.6.2 PAN, G5.6.3 execute-never and
 * G5.6.3.2 WXN, G5.6.4 domains, G5.6.5 Access flag) and G5.12.3.2 "PL1 fault
 * reporting with the Short-descriptor translation table format" (table G5-26
 * FS encodings, G5.12.3.2.1 fault levels). ARMv7 (DDI 0406C) has the same in
 * B3.5-B3.7 and B3.13.
 *
 * What is modelled:
 * - SCTLR.AFE = 1: AP[2:1] are the permissions and AP[0] is the Access flag,
 *   managed by software only (VMSAv8-32 has no hardware Access flag, G5.6.5),
 *   so ctl.ha is ignored and AP[0] = 0 is always an Access flag fault.
 * - TTBCR.N = 0 (TTBR0 translates the whole 32-bit VA; root_hi is unused) and
 *   every domain is a Client (DACR 0b01 for all 16): no Domain faults, and
 *   permissions are always checked.
 * - SCTLR.WXN = ctl.wxn, SCTLR.UWXN = 0 (no control for it), PSTATE.PAN =
 *   ctl.pan; TEX remap and memory types do not affect translation.
 * - Supersections (16 MiB, with PA[39:32] from the extended base address
 *   fields) and large pages (64 KiB) translate as one page of their size
 *   (the engine writes them as grouped leaves); the hardware reads the one
 *   entry the VA indexes. If the 16 entries differ (misprogrammed, UNPREDICTABLE
 *   in G5.4), each VA gets what its own entry says, and a TLB entry filled
 *   from one of them serves the whole page.
 * - No hardware A/D updates: descriptors are never written.
 * - Effective permissions (xlate.perms) as in aarch64_walk.c: R/W/X of the
 *   accessing privilege (PL0 for user accesses, PL1 otherwise) with PAN, U
 *   when PL0 has data access (AP[1] = 1).
 * - A VA above 32 bits (which an AArch32 PE cannot generate) is a Translation
 *   fault at level 1, as for an input address outside the range of the TTBRs
 *   (G5.12.3.2.1).
 * - The syndrome is the 5-bit FS value, FSR[10, 3:0] (table G5-26).
 */
#include "armv7-desc.h"
#include "walk-loop.h"

/* Descriptor bits (G5.4): armv7-desc.h (V7_*). */

/* FS values, table G5-26: [0] first-level (section) / [1] second-level (page). */
static const uint8_t fs_translation[2] = {0x05, 0x07};
static const uint8_t fs_access_flag[2] = {0x03, 0x06};
static const uint8_t fs_permission[2] = {0x0d, 0x0f};
static const uint8_t fs_ext_abort_walk[2] = {0x0c, 0x0e};

/* A leaf in one shape, whatever its kind. */
struct v7_leaf {
	uint64_t base, size;
	bool af, ap1, ap2, xn, pxn, ng;
};

/* walk_state use: acc_or holds V7_L1_TBL_PXN when the first-level page-table
 * descriptor had PXN set (it applies to every page of that table, G5.4). */
WALK_INLINE int v7_begin(struct walk_state *w, uint64_t root, uint64_t root_hi, uint64_t *table,
			 struct physim_fault *f)
{
	(void)root_hi;
	w->acc_and = 0;
	w->acc_or = 0;
	w->detail = 0;
	if (w->va >> 32) {
		walk_fault_set(f, PHYSIM_FAULT_NOT_PRESENT, 1, fs_translation[0]);
		return -EFAULT;
	}
	*table = root;
	return 0;
}

WALK_INLINE void v7_section(uint64_t d, struct v7_leaf *l)
{
	if (d & V7_SECT_SUPER) {
		l->base = v7_super_base(d);
		l->size = V7_SUPER_SIZE;
	} else {
		l->base = v7_desc_output_addr(d, 1);
		l->size = 0; /* the level's size, 1 MiB */
	}
	l->af = d & V7_SECT_AP0;
	l->ap1 = d & V7_SECT_AP1;
	l->ap2 = d & V7_SECT_APX;
	l->xn = d & V7_SECT_XN;
	l->pxn = d & V7_SECT_PXN;
	l->ng = d & V7_SECT_NG;
}

WALK_INLINE void v7_page(const struct walk_state *w, uint64_t d, struct v7_leaf *l)
{
	if ((d & V7_TYPE_MASK) == V7_L2_LARGE) {
		l->base = d & V7_LARGE_BASE;
		l->size = V7_LARGE_SIZE;
		l->xn = d & V7_LARGE_XN;
	} else {
		l->base = v7_desc_output_addr(d, 0);
		l->size = 0; /* the level's size, 4 KiB */
		l->xn = d & V7_PAGE_XN;
	}
	l->af = d & V7_PAGE_AP0;
	l->ap1 = d & V7_PAGE_AP1;
	l->ap2 = d & V7_PAGE_APX;
	l->pxn = w->acc_or & V7_L1_TBL_PXN;
	l->ng = d & V7_PAGE_NG;
}

/*
 * The access check for a leaf, in the MMU fault-checking order: Access flag
 * (AP[0] = 0: Access flag fault), then permissions (G5.6.1.1 table G5-7):
 * PL1 reads always, writes if AP[2] = 0; PL0 reads if AP[1] = 1, writes if
 * also AP[2] = 0. PAN (G5.6.2): a PL1 data access to memory PL0 can access
 * (AP[1] = 1) faults; fetches are not affected. Execution (G5.6.3) needs the
 * execute-never control of the privilege to permit it (XN; at PL1 also PXN)
 * and read access at that privilege; WXN makes every writable region (AP[2] =
 * 0) execute-never (G5.6.3.2). PL1 may execute PL0-writable memory (UWXN = 0).
 */
WALK_INLINE enum physim_fault_kind v7_leaf_access(const struct walk_state *w,
						  const struct v7_leaf *l, struct walk_step *s)
{
	const struct physim_mmu_ctl *c = w->ctl;
	bool wxn = c->wxn && !l->ap2;
	bool r, wr, x;

	if (!l->af)
		return PHYSIM_FAULT_ACCESS_FLAG;
	if (w->user) {
		r = l->ap1;
		wr = l->ap1 && !l->ap2;
		x = r && !l->xn && !wxn;
	} else {
		bool pan = c->pan && l->ap1;
		r = !pan;
		wr = !l->ap2 && !pan;
		x = !l->xn && !l->pxn && !wxn;
	}
	if (!(w->exec ? x : w->write ? wr : r))
		return PHYSIM_FAULT_PERMISSION;
	s->leaf = true;
	s->next = l->base;
	s->page_size = l->size;
	s->perms =
	    (r ? PHYSIM_R : 0) | (wr ? PHYSIM_W : 0) | (x ? PHYSIM_X : 0) | (l->ap1 ? PHYSIM_U : 0);
	s->global = !l->ng;
	return PHYSIM_FAULT_NONE;
}

/* The loop's fast path (walk-format.h) for a first-level page-table
 * descriptor (G5.4): type 0b01 with PXN (bit 2) clear takes nothing away
 * (v7_step keeps only PXN from it, and there is no A/D). Bits 9:3 (NS, SBZ,
 * domain, IMPLEMENTATION DEFINED) are not looked at: the model has no
 * security state and no DACR (all domains Client). A lookup keeps no
 * right, so PXN may be set too. */
static void v7_configure(struct physim_mmu *m)
{
	m->oa[1][0] = V7_L1_TBL_BASE;
	uint64_t ignored = UINT64_C(0x3f8) | (m->lookup ? V7_L1_TBL_PXN : 0);
	walk_table_fast(m, 1, V7_L1_PAGE_TBL, 0, ignored);
}

/* Engine level 1 is the first-level table, level 0 a second-level table. */
WALK_INLINE enum physim_fault_kind v7_step(struct walk_state *w, uint64_t d, unsigned level,
					   struct walk_step *s)
{
	uint64_t type = d & V7_TYPE_MASK;
	struct v7_leaf l;

	s->d_new = d;
	if (type == V7_TYPE_FAULT)
		return PHYSIM_FAULT_NOT_PRESENT;
	if (level == 1) {
		if (type == V7_L1_PAGE_TBL) {
			w->acc_or |= d & V7_L1_TBL_PXN;
			s->next = v7_desc_output_addr(d, level);
			return PHYSIM_FAULT_NONE;
		}
		v7_section(d, &l);
	} else {
		v7_page(w, d, &l);
	}
	return v7_leaf_access(w, &l, s);
}

/* FS codes by lookup level (first = 1, second = 2, G5.12.3.2.1). A RESERVED
 * fault from the loop cannot occur (no second-level descriptor is a table);
 * it would be reported as a Translation fault, as an ADDRESS_SIZE one would
 * (neither exists in this format). */
static void v7_fault(const struct walk_state *w, enum physim_fault_kind kind, int level,
		     struct physim_fault *f)
{
	(void)w;
	int arch = level < 0 ? 1 : 2 - level;
	const uint8_t *fs;

	switch (kind) {
	case PHYSIM_FAULT_ACCESS_FLAG:
		fs = fs_access_flag;
		break;
	case PHYSIM_FAULT_PERMISSION:
		fs = fs_permission;
		break;
	case PHYSIM_FAULT_BUS_ERROR:
		fs = fs_ext_abort_walk;
		break;
	default:
		fs = fs_translation;
		break;
	}
	walk_fault_set(f, kind, arch, fs[arch == 1 ? 0 : 1]);
}

/* The one loop (walk-loop.h): two levels of 4-byte descriptors. */
static int v7_walk(const struct walk_req *r, struct physim_xlate *x)
{
	return walk_stage_loop(r, x, v7_begin, v7_step, 2, 4);
}

/* Lookup mode (walk-loop.h, walk_lookup_loop): the codec alone. */
WALK_INLINE enum physim_fault_kind v7_lookup_step(struct walk_state *w, uint64_t d, unsigned level,
						  struct walk_step *s)
{
	(void)w;
	enum pt_kind k = v7_desc_classify(d, level);
	return walk_lookup_kind(
	    k, k == PT_TABLE || k == PT_LEAF ? v7_desc_output_addr(d, level) : 0, s);
}

WALK_LOOKUP_FN(v7_lookup, v7_lookup_step, 2, 4, WALK_GEO_ANY, 0)

/* Lookup levels: first level = 1 (engine 1), second level = 2 (engine 0). */
const struct pt_walk_ops physim_v7s_walk_ops = {
    .level_base = 2,
    .level_dir = -1,
    .configure = v7_configure,
    .walk = v7_walk,
    .fault = v7_fault,
    .lookup = {[2] = v7_lookup},
};
