/* SPDX-License-Identifier: MIT */
/* arch/x86_64/x86_walk.c - IA-32 paging access rules for the walker
 * (lib/walk-format.h): Intel SDM Vol. 3A 4.6 access rights, 4.6.2 protection
 * keys, 4.7 page-fault error codes and 4.8 accessed/dirty flags, for 4/5-level,
 * PAE and 32-bit paging.
 *
 * Modelling choices (each one documented where it matters):
 * - CR4.PGE = 1 (G marks a global leaf), CR4.PSE = 1 for 32-bit paging, 1-GByte
 *   pages supported, no CET shadow stacks (error-code bit 6 never set), no
 *   HLAT/SGX (bits 7, 15 never set), CR4.PKS = 0 (keys only on user-mode
 *   addresses).
 * - PAE PDPTEs are fetched from the PDPT at every walk instead of being
 *   loaded into the PDPTE registers by MOV to CR3 (SDM 4.4.1). A PDPTE with a
 *   reserved bit set therefore gives a #PF with RSVD at level 3 here rather
 *   than a #GP at the CR3 load, and a change to a PDPTE takes effect at once.
 * - A/D flags are set only when the whole translation succeeds (walk-format.h),
 *   as Intel processors do: the walk first, then the atomic updates.
 * - A linear address outside a 32-bit format's range (bits 63:32 not zero) is
 *   reported like a non-canonical address (#GP: kind NON_CANONICAL, level -1).
 */
#include "walk-format.h"
#include "x86-priv.h"

/* Entry bits used by the access rules (SDM Vol. 3A 4.5, tables 4-14..4-20;
 * 4.3 tables 4-4..4-6; 4.4 tables 4-8..4-11). */
#define PTE_P  (UINT64_C(1) << 0)
#define PTE_RW (UINT64_C(1) << 1)
#define PTE_US (UINT64_C(1) << 2)
#define PTE_A  (UINT64_C(1) << 5)
#define PTE_D  (UINT64_C(1) << 6)
#define PTE_G  (UINT64_C(1) << 8)
#define PTE_XD (UINT64_C(1) << 63)
/* Protection key, bits 62:59 of a 4/5-level leaf (4.6.2). */
#define PTE_PK_SHIFT 59

/* Page-fault error code (SDM Vol. 3A 4.7, figure 4-12). */
#define PF_P	(UINT64_C(1) << 0) /* 0: not present; 1: protection / reserved bit */
#define PF_WR	(UINT64_C(1) << 1) /* the access was a write */
#define PF_US	(UINT64_C(1) << 2) /* the access was a user-mode access */
#define PF_RSVD (UINT64_C(1) << 3) /* a reserved bit was set */
#define PF_ID	(UINT64_C(1) << 4) /* instruction fetch (see pf_id_bit) */
#define PF_PK	(UINT64_C(1) << 5) /* protection-key violation */

/* MAXPHYADDR when ctl.maxphyaddr is 0 (walk.h). */
#define X86_DEFAULT_MAXPHYADDR 46

enum x86_paging {
	PAGING_LONG,  /* 4-level / 5-level, SDM 4.5 */
	PAGING_PAE,   /* SDM 4.4 */
	PAGING_32BIT, /* SDM 4.3 */
};

/* The paging mode from the geometry: 4-byte entries are 32-bit paging, a
 * 3-level table is PAE; everything else 4/5-level paging. */
static inline enum x86_paging x86_paging(const struct physim_pt_format *f)
{
	if (f->pte_bytes == 4)
		return PAGING_32BIT;
	return f->levels == 3 ? PAGING_PAE : PAGING_LONG;
}

static inline unsigned x86_maxphyaddr(const struct physim_mmu_ctl *ctl)
{
	unsigned m = ctl->maxphyaddr ? ctl->maxphyaddr : X86_DEFAULT_MAXPHYADDR;
	return m < 32 ? 32 : m;
}

/*
 * Reserved bits that depend on the control state, beyond the fixed ones the
 * format's classify checks (it assumes MAXPHYADDR = pa_bits and NXE = 1):
 * - bits 51:M of every present entry, 4/5-level paging (4.5.4: "reserved
 *   bits ... 51:M"); PAE: 62:M in PDEs/PTEs (table 4-9..4-11), 63:M in PDPTEs
 *   (table 4-8); 32-bit paging: bits 21:(M'-19) of a 4-MByte PDE where M' =
 *   min(MAXPHYADDR, 40) (table 4-4, PSE-36);
 * - bit 63 (XD) when IA32_EFER.NXE = 0, PAE and 4/5-level paging (4.4.2,
 *   4.5.4: "If IA32_EFER.NXE = 0 and the P flag of a paging-structure entry is
 *   1, the XD flag (bit 63) is reserved").
 */
static uint64_t x86_ctl_reserved(const struct walk_state *w, uint64_t d, unsigned level)
{
	unsigned m = x86_maxphyaddr(w->ctl);
	uint64_t xd = w->ctl->nxe_off ? PTE_XD : 0;

	switch (x86_paging(w->fmt)) {
	case PAGING_LONG:
		return x86_bits(51, m) | xd;
	case PAGING_PAE:
		return level == 2 ? x86_bits(63, m) : (x86_bits(62, m) | xd);
	case PAGING_32BIT:
		if (level == 1 && (d & X86_LARGE_BIT))
			return x86_bits(21, (m > 40 ? 40 : m) - 19);
		return 0;
	}
	return 0;
}

WALK_INLINE int x86_begin(struct walk_state *w, uint64_t root, uint64_t root_hi, uint64_t *table,
			  struct physim_fault *f)
{
	(void)root_hi;
	/* A non-canonical address (4.5.1, Vol. 1 3.3.7.1) raises #GP, not #PF. */
	if (!walk_input_ok(w->fmt, w->va)) {
		walk_fault_set(f, PHYSIM_FAULT_NON_CANONICAL, -1, 0);
		return -EFAULT;
	}
	/* acc_and collects R/W and U/S (AND over the walk), acc_or XD (OR). */
	w->acc_and = PTE_RW | PTE_US;
	w->acc_or = 0;
	w->detail = 0;
	/* What x86_ctl_reserved() says for a 4/5-level entry (x86_plain_step). */
	w->rsv = x86_bits(51, x86_maxphyaddr(w->ctl)) | (w->ctl->nxe_off ? PTE_XD : 0);
	*table = root;
	return 0;
}

/* PKRU check for a data access to a user-mode address (4.6.2): AD (bit 2i)
 * forbids every data access, WD (bit 2i+1) user writes and - with CR0.WP =
 * 1 - supervisor writes. Instruction fetches are not checked. */
WALK_INLINE bool x86_pkey_denies(const struct walk_state *w, uint64_t leaf, enum x86_paging mode)
{
	const struct physim_mmu_ctl *ctl = w->ctl;

	if (!ctl->pke || w->exec || mode != PAGING_LONG)
		return false;
	unsigned key = (unsigned)(leaf >> PTE_PK_SHIFT) & 0xf;
	bool ad = (ctl->pkru >> (2 * key)) & 1, wd = (ctl->pkru >> (2 * key + 1)) & 1;
	if (ad)
		return true;
	return w->write && wd && (w->user || !ctl->wp_off);
}

/*
 * SDM 4.6.1 for the accumulated rights: `user_addr` (U/S = 1 at every
 * level), `writable` (R/W = 1 at every level), `nx` (XD = 1 at some level
 * with NXE = 1). True if the access is allowed.
 */
WALK_INLINE bool x86_rights_allow(const struct walk_state *w, bool user_addr, bool writable,
				  bool nx)
{
	const struct physim_mmu_ctl *ctl = w->ctl;
	bool supervisor = !w->user; /* CPL < 3, or an implicit access */

	if (w->user && !user_addr)
		return false; /* user accesses reach only user-mode addresses */
	if (w->exec) {
		/* SMEP: no supervisor fetch from a user-mode address. */
		if (supervisor && user_addr && ctl->smep)
			return false;
		return !nx;
	}
	/* SMAP: supervisor data access to a user-mode address is allowed only
	 * for an explicit access with RFLAGS.AC = 1. */
	if (supervisor && user_addr && ctl->smap && (w->implicit || !ctl->ac))
		return false;
	if (!w->write)
		return true;
	/* Writes: user needs R/W everywhere; supervisor too when CR0.WP = 1. */
	return writable || (supervisor && ctl->wp_off);
}

/* The leaf at `level`, mapping the page at `page`: rights, protection keys,
 * effective perms, D on a write. */
WALK_INLINE enum physim_fault_kind x86_leaf(struct walk_state *w, uint64_t d, uint64_t page,
					    struct walk_step *s, enum x86_paging mode)
{
	bool user_addr = (w->acc_and & PTE_US) != 0;
	bool writable = (w->acc_and & PTE_RW) != 0;
	/* 32-bit paging has no XD; with NXE = 0 bit 63 is reserved (and so
	 * never reaches here set). */
	bool nx = (w->acc_or & PTE_XD) != 0;

	/* The PK error-code bit is defined by the key check alone (4.7: set when
	 * the PKRU conditions hold for a data access to a user-mode address),
	 * so it is reported even when the page rights deny the access too. */
	bool pk = user_addr && x86_pkey_denies(w, d, mode);

	if (pk || !x86_rights_allow(w, user_addr, writable, nx)) {
		w->detail = pk ? PF_PK : 0;
		return PHYSIM_FAULT_PERMISSION;
	}
	s->leaf = true;
	s->next = page;
	/* Architectural rights of the page (not of this access): R always,
	 * W/U accumulated, X unless XD. */
	s->perms =
	    PHYSIM_R | (writable ? PHYSIM_W : 0) | (user_addr ? PHYSIM_U : 0) | (nx ? 0 : PHYSIM_X);
	s->global = (d & PTE_G) != 0;
	/* 4.8: D is set in the entry that maps the page on a write. */
	if (w->write)
		s->d_new |= PTE_D;
	return PHYSIM_FAULT_NONE;
}

/* A present entry classified as table or leaf k, with output address next:
 * the rights it adds (4.6.1), A (4.8), and for a leaf the access check. */
WALK_INLINE enum physim_fault_kind x86_use(struct walk_state *w, uint64_t d, unsigned level,
					   enum pt_kind k, uint64_t next, struct walk_step *s,
					   enum x86_paging mode)
{
	s->d_new = d;
	/* A PAE PDPTE has no R/W, U/S, XD, A or D (table 4-8: bits 2:1 and 8:5
	 * are reserved, bit 63 too): it takes no part in access rights (4.6)
	 * and the processor sets no flag in it (4.8). */
	if (!(mode == PAGING_PAE && level == 2)) {
		/* 4.6.1: rights are the AND of R/W and U/S and the OR of XD. */
		w->acc_and &= d;
		if (mode != PAGING_32BIT)
			w->acc_or |= d & PTE_XD;
		/* 4.8: A is set in every paging-structure entry used. */
		s->d_new |= PTE_A;
	}
	if (k == PT_TABLE) {
		s->next = next;
		return PHYSIM_FAULT_NONE;
	}
	return x86_leaf(w, d, next, s, mode);
}

static enum physim_fault_kind x86_step(struct walk_state *w, uint64_t d, unsigned level,
				       struct walk_step *s)
{
	const struct physim_pt_format *f = w->fmt;

	/* 4.7: P = 0 is a not-present fault whatever the other bits say. */
	if (!(d & PTE_P))
		return PHYSIM_FAULT_NOT_PRESENT;
	enum pt_kind k = f->ops->classify(f, d, level);
	if (k == PT_RESERVED || (d & x86_ctl_reserved(w, d, level)))
		return PHYSIM_FAULT_RESERVED;
	if (k != PT_TABLE && k != PT_LEAF)
		return PHYSIM_FAULT_NOT_PRESENT;
	return x86_use(w, d, level, k, f->ops->output_addr(f, d, level), s, x86_paging(f));
}

/*
 * The fast walker's step (walk-format.h), 4/5-level paging only: the
 * format's classify and output_addr for the encodings that pass the
 * reserved-bit checks of 4.5.4 (tables 4-14..4-19), as ia32_classify
 * (x86_64.c) and x86_ctl_reserved decide them for PAGING_LONG -
 *   P = 1; no bit of 51:MAXPHYADDR, nor XD with NXE = 0;
 *   PML4E/PML5E (level >= 3): PS = 0, a table;
 *   PDPTE/PDE (levels 2, 1): PS = 0 a table, PS = 1 a 1G/2M page with bits
 *   (page shift - 1):13 clear; PTE (level 0): a 4K page;
 *   the address: bits 51:12 of a table pointer, 51:page shift of a page.
 * Anything else (and every fault) returns a kind other than NONE: the loop
 * in walk.c takes over.
 */
WALK_INLINE enum physim_fault_kind x86_plain_step(struct walk_state *w, uint64_t d, unsigned level,
						  struct walk_step *s)
{
	const struct physim_pt_format *f = w->fmt;

	if ((d & (PTE_P | w->rsv)) != PTE_P)
		return PHYSIM_FAULT_RESERVED; /* not plain */
	if (level == 0)
		return x86_use(w, d, level, PT_LEAF, d & x86_bits(51, 12), s, PAGING_LONG);
	if (!(d & X86_LARGE_BIT))
		return x86_use(w, d, level, PT_TABLE, d & x86_bits(51, 12), s, PAGING_LONG);
	unsigned shift = f->level[level].shift;
	if (level >= 3 || !f->level[level].leaf_ok || (d & x86_bits(shift - 1, 13)))
		return PHYSIM_FAULT_RESERVED; /* not plain */
	return x86_use(w, d, level, PT_LEAF, d & x86_bits(51, shift), s, PAGING_LONG);
}

static bool x86_fast(const struct walk_fast_req *r, struct physim_xlate *x)
{
	if (x86_paging(r->m->cfg.format) != PAGING_LONG)
		return false;
	return walk_fast_loop(r, x, x86_begin, x86_plain_step);
}

/*
 * I/D of the error code (4.7): 1 for an instruction fetch if CR4.SMEP = 1,
 * or if CR4.PAE = 1 (PAE or 4/5-level paging) and IA32_EFER.NXE = 1;
 * otherwise 0 even for a fetch.
 */
static bool pf_id_bit(const struct walk_state *w)
{
	if (!w->exec)
		return false;
	if (w->ctl->smep)
		return true;
	return x86_paging(w->fmt) != PAGING_32BIT && !w->ctl->nxe_off;
}

static void x86_fault(const struct walk_state *w, enum physim_fault_kind kind, int level,
		      struct physim_fault *f)
{
	uint64_t ec = 0;

	switch (kind) {
	case PHYSIM_FAULT_NOT_PRESENT:
		break;
	case PHYSIM_FAULT_PERMISSION:
		ec = PF_P | (w->detail & PF_PK);
		break;
	case PHYSIM_FAULT_RESERVED:
		/* 4.7: a reserved-bit violation sets both RSVD and P. */
		ec = PF_P | PF_RSVD;
		break;
	default:
		/* A table fetch outside memory is no #PF on hardware (it would be
		 * a machine check): no error code. */
		walk_fault_set(f, kind, level < 0 ? -1 : (int)x86_arch_level((unsigned)level), 0);
		return;
	}
	if (w->write)
		ec |= PF_WR;
	if (w->user)
		ec |= PF_US;
	if (pf_id_bit(w))
		ec |= PF_ID;
	walk_fault_set(f, kind, level < 0 ? -1 : (int)x86_arch_level((unsigned)level), ec);
}

/* Architecture levels: PT = 1 .. PML5 = 5 (x86-priv.h). */
const struct pt_walk_ops physim_x86_walk_ops = {
    .level_base = 1,
    .level_dir = 1,
    .begin = x86_begin,
    .step = x86_step,
    .fault = x86_fault,
    .fast = x86_fast,
};
