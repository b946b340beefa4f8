/* SPDX-License-Identifier: MIT */
/* arch/loongarch64/loongarch64_walk.c - LoongArch64 access rules for the
 * walker (lib/walk-format.h): the translation the TLB-refill walk (LDDIR /
 * LDPTE) followed by the TLB's checks makes of an address.
 *
 * References: LoongArch Reference Manual Vol. 1 (v1.10):
 *   [5.2]   virtual address space: in mapped address translation mode, VA
 *           bits 63:VALEN must all equal bit VALEN-1, or an address error
 *           exception (ADE) is raised
 *   [XLAT]  5.4 "TLB-based translation of virtual addresses to physical
 *           addresses": V = 0 -> page invalid exception by access type (PIL
 *           load, PIS store, PIF fetch); V = 1 but the privilege level check
 *           fails -> page privilege level illegal (PPI), where the check
 *           fails if RPLV = 0 and CRMD.PLV > PLV, or RPLV = 1 and CRMD.PLV !=
 *           PLV; otherwise by access type: a load with NR = 1 -> page
 *           non-readable (PNR), a store with D = 0 -> page modification
 *           (PME), a fetch with NX = 1 -> page non-executable (PNX)
 *   [ENTRY] 5.4 TLB entry fields (V, D, PLV, MAT, G, PPN, NR, NX, RPLV); V
 *           means "valid and accessed": there is no separate A bit, and no
 *           hardware sets D (a store to a D = 0 page raises PME)
 *   [LDDIR] 4.2.5.1 LDDIR / LDPTE: huge entries (bit 6) and their global bit
 *           HG (bit 12)
 *   [ECODE] 7.4 ESTAT: Ecode (bits 21:16) and EsubCode (bits 30:22), and the
 *           exception code table: PIL 0x1, PIS 0x2, PIF 0x3, PME 0x4, PNR 0x5,
 *           PNX 0x6, PPI 0x7, ADE 0x8 (EsubCode 0 ADEF for a fetch, 1 ADEM
 *           for a load/store)
 *   [PGD]   7.5 PGDL / PGDH / PGD: the lower-half root is used when the
 *           address's highest bit is 0, the higher-half root when it is 1
 *
 * Modelling decisions:
 * - Levels: the architecture level is the engine level, named as PWCL/PWCH
 *   and LDDIR's level operand name them: 0 = the last-level page table
 *   (LDPTE, PTbase), 1 = Dir1 (2 MiB huge), 2 = Dir2 (1 GiB huge), 3 = Dir3
 *   (the root).
 * - Syndrome: ESTAT bits 30:16 shifted down, i.e. Ecode | EsubCode << 6
 *   (ADEF 0x8, ADEM 0x48; the page exceptions have EsubCode 0).
 * - The software walk is the architectural one: what the refill handler
 *   loads from the tables is what the TLB then checks. An empty directory
 *   entry (0) or an invalid PTE is a page invalid exception at that level
 *   (kind NOT_PRESENT), as the refill of Linux's invalid tables makes it.
 *   Encodings physim's format calls reserved (a huge entry at the root, a
 *   pointer with low bits set, MAT = 3; loongarch64.c) have no exception of
 *   their own: kind RESERVED with the page invalid code of the access.
 * - PPI, PNR and PNX are kind PERMISSION; PME too, since D is the only write
 *   permission the hardware checks (the format reports W from D).
 * - A non-canonical address is an address error, not a TLB exception: kind
 *   NON_CANONICAL, level -1, syndrome ADEF / ADEM. An upper-half address
 *   with no root_hi is a page invalid exception at the root level.
 * - A table fetch outside memory would be a machine error, which has no
 *   Ecode (it is reported through MERRCTL): kind BUS_ERROR, syndrome 0.
 * - The privilege level of the access is PLV3 for a user access and PLV0
 *   otherwise. No A/D bits are ever written.
 * - QEMU (target/loongarch, loongarch_check_pte) tests NX and NR before the
 *   privilege level; the manual's order is followed here, which matters only
 *   for which code a page failing both checks reports (PPI).
 */
#include "walk-loop.h"
#include "loongarch-desc.h"

/* Entry bits [ENTRY], [LDDIR]: loongarch-desc.h (LA_*). */

/* Exception codes [ECODE], with EsubCode in bits 14:6 of the syndrome. */
enum la_ecode {
	LA_ECODE_PIL = 0x1,
	LA_ECODE_PIS = 0x2,
	LA_ECODE_PIF = 0x3,
	LA_ECODE_PME = 0x4,
	LA_ECODE_PNR = 0x5,
	LA_ECODE_PNX = 0x6,
	LA_ECODE_PPI = 0x7,
	LA_ECODE_ADEF = 0x8,	       /* EsubCode 0 */
	LA_ECODE_ADEM = 0x8 | 1u << 6, /* EsubCode 1 */
};

/* The page invalid exception of this access type [XLAT]. */
static uint64_t la_page_invalid(const struct walk_state *w)
{
	return w->exec ? LA_ECODE_PIF : w->write ? LA_ECODE_PIS : LA_ECODE_PIL;
}

WALK_INLINE int la_begin(struct walk_state *w, uint64_t root, uint64_t root_hi, uint64_t *table,
			 struct physim_fault *f)
{
	w->acc_and = 0;
	w->acc_or = 0;
	w->detail = 0;
	w->upper = false;
	if (!walk_va_ok(w->mmu, w->va)) {
		/* [5.2]: ADEF for a fetch, ADEM for a load or store. */
		walk_fault_set(f, PHYSIM_FAULT_NON_CANONICAL, -1,
			       w->exec ? LA_ECODE_ADEF : LA_ECODE_ADEM);
		return -EFAULT;
	}
	/* [PGD]: the highest address bit picks the root (for a canonical
	 * address it equals bit VALEN-1). */
	if (w->va >> 63) {
		w->upper = true;
		if (root_hi == 0) {
			walk_fault_set(f, PHYSIM_FAULT_NOT_PRESENT, w->fmt->levels - 1,
				       la_page_invalid(w));
			return -EFAULT;
		}
		*table = root_hi;
		return 0;
	}
	*table = root;
	return 0;
}

/* [XLAT]: the TLB's checks of a valid leaf, in the manual's order. Returns
 * the exception code, or 0 if the access is allowed. */
static uint64_t la_leaf_check(const struct walk_state *w, uint64_t d)
{
	unsigned cur = w->user ? LA_PLV_USER : LA_PLV_KERNEL;
	unsigned plv = (unsigned)(d >> LA_PLV_SHIFT) & 3;

	if ((d & LA_RPLV) ? cur != plv : cur > plv)
		return LA_ECODE_PPI;
	if (w->exec)
		return (d & LA_NX) ? LA_ECODE_PNX : 0;
	if (w->write)
		return (d & LA_D) ? 0 : LA_ECODE_PME;
	return (d & LA_NR) ? LA_ECODE_PNR : 0;
}

WALK_INLINE enum physim_fault_kind la_step(struct walk_state *w, uint64_t d, unsigned level,
					   struct walk_step *s)
{
	const struct physim_pt_format *f = w->fmt;
	enum pt_kind k = la_desc_classify(f, d, level);

	if (k == PT_INVALID)
		return PHYSIM_FAULT_NOT_PRESENT;
	if (k == PT_RESERVED)
		return PHYSIM_FAULT_RESERVED;
	s->d_new = d; /* no hardware A/D [ENTRY] */
	s->next = la_desc_output_addr(f, d, level);
	if (k == PT_TABLE)
		return PHYSIM_FAULT_NONE;

	uint64_t ecode = la_leaf_check(w, d);
	if (ecode != 0) {
		w->detail = ecode;
		return PHYSIM_FAULT_PERMISSION;
	}
	s->leaf = true;
	s->perms = ((d & LA_NR) ? 0 : PHYSIM_R) | ((d & LA_D) ? PHYSIM_W : 0) |
		   ((d & LA_NX) ? 0 : PHYSIM_X) |
		   (((d >> LA_PLV_SHIFT) & 3) == LA_PLV_USER ? PHYSIM_U : 0);
	/* A huge entry keeps G in bit 12 (HG); LDPTE moves it to G [LDDIR]. */
	s->global = (d & (level > 0 ? LA_HG : LA_G)) != 0;
	return PHYSIM_FAULT_NONE;
}

static void la_fault(const struct walk_state *w, enum physim_fault_kind kind, int level,
		     struct physim_fault *f)
{
	uint64_t syndrome = 0;

	switch (kind) {
	case PHYSIM_FAULT_PERMISSION:
		syndrome = w->detail;
		break;
	case PHYSIM_FAULT_BUS_ERROR:
		break; /* a machine error: no Ecode */
	default:
		syndrome = la_page_invalid(w);
		break;
	}
	/* Architecture level = engine level (PT 0 .. Dir3 3). */
	walk_fault_set(f, kind, level, syndrome);
}

/* The one loop (walk-loop.h), 8-byte descriptors; the level count from the
 * format (LoongArch64 4K/48: 4). */
static int la_walk(const struct walk_req *r, struct physim_xlate *x)
{
	if (r->m->cfg.format->levels == 4)
		return walk_stage_loop(r, x, la_begin, la_step, 4, 8);
	return walk_stage_loop(r, x, la_begin, la_step, r->m->cfg.format->levels, 8);
}

/* Lookup mode (walk-loop.h, walk_lookup_loop): the codec alone. */
WALK_LOOKUP_CODEC_STEP(la_lookup_step, la_desc_classify, la_desc_output_addr)

WALK_LOOKUP_FN(la_lookup_4, la_lookup_step, 4, 8, WALK_GEO_4K | WALK_GEO_EXACT, 0)

/* A directory entry that is a table pointer is the next directory's bare
 * address ([LDDIR]: bits outside PALEN and the page offset, H included,
 * are zero), told from "no table" only by being non-zero: that suits the
 * loop's fast path in lookup mode, which stops at a zero descriptor first.
 * A walk keeps step() for every level (la_step sees the zero). */
static void la_configure(struct physim_mmu *m)
{
	if (!m->lookup)
		return;
	for (unsigned level = 1; level < m->cfg.format->levels; level++) {
		m->oa[level][0] = LA_PA_MASK;
		walk_table_fast(m, level, 0, 0, 0);
	}
}

const struct pt_walk_ops physim_la_walk_ops = {
    .level_base = 0,
    .level_dir = 1,
    .configure = la_configure,
    .walk = la_walk,
    .fault = la_fault,
    .lookup = {[4] = la_lookup_4}, /* other level counts: the generic copy */
};
