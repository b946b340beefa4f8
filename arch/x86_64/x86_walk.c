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
#include "walk-loop.h"
#include "x86-desc.h"

/* Entry bits: x86-desc.h (IA32_*). */

/* Page-fault error code (SDM Vol. 3A 4.7, figure 4-12). */
#define PF_P	(UINT64_C(1) << 0) /* 0: not present; 1: protection / reserved bit */
#define PF_WR	(UINT64_C(1) << 1) /* the access was a write */
#define PF_US	(UINT64_C(1) << 2) /* the access was a user-mode access */
#define PF_RSVD (UINT64_C(1) << 3) /* a reserved bit was set */
#define PF_ID	(UINT64_C(1) << 4) /* instruction fetch (see pf_id_bit) */
#define PF_PK	(UINT64_C(1) << 5) /* protection-key violation */

/* MAXPHYADDR when ctl.maxphyaddr is 0 (walk.h). */
#define X86_DEFAULT_MAXPHYADDR 46

static inline unsigned x86_maxphyaddr(const struct physim_mmu_ctl *ctl)
{
	unsigned m = ctl->maxphyaddr ? ctl->maxphyaddr : X86_DEFAULT_MAXPHYADDR;
	return m < 32 ? 32 : m;
}

/* The codec's masks (x86-desc.h) under the control state, once per mmu:
 * MAXPHYADDR (ctl.maxphyaddr, at most the format's pa_bits) and NXE. */
static void x86_configure(struct physim_mmu *m)
{
	const struct physim_pt_format *f = m->cfg.format;
	enum ia32_mode mode = ia32_mode(f);
	unsigned mpa = x86_maxphyaddr(&m->cfg.ctl);

	if (mpa > f->pa_bits)
		mpa = f->pa_bits;
	for (unsigned level = 0; level < f->levels; level++) {
		for (unsigned leaf = 0; leaf < 2; leaf++) {
			m->rsv[level][leaf] =
			    ia32_rsv_mask(f, level, leaf, mode, mpa, !m->cfg.ctl.nxe_off);
			m->oa[level][leaf] = ia32_oa_mask(f, level, leaf, mode);
		}
		/* The loop's fast path (walk-format.h): a table pointer with
		 * P, R/W, U/S and A set and nothing else (4.6.1: it removes no
		 * right; 4.8: A is already set). A PAE PDPTE has only P. */
		uint64_t table = (mode == IA32_MODE_PAE && level == 2)
				     ? IA32_P
				     : IA32_P | IA32_RW | IA32_US | IA32_A;
		/* A lookup checks no right and sets no A: any table pointer
		 * with no reserved bit (those stay in the mask) will do. */
		uint64_t rights = IA32_RW | IA32_US | IA32_PWT | IA32_PCD | IA32_A | IA32_XD;
		walk_table_fast(m, level, table, m->rsv[level][0], m->lookup ? rights : 0);
	}
}

WALK_INLINE int x86_begin(struct walk_state *w, uint64_t root, uint64_t root_hi, uint64_t *table,
			  struct physim_fault *f)
{
	(void)root_hi;
	/* A non-canonical address (4.5.1, Vol. 1 3.3.7.1) raises #GP, not #PF. */
	if (!walk_va_ok(w->mmu, w->va)) {
		walk_fault_set(f, PHYSIM_FAULT_NON_CANONICAL, -1, 0);
		return -EFAULT;
	}
	/* acc_and collects R/W and U/S (AND over the walk), acc_or XD (OR). */
	w->acc_and = IA32_RW | IA32_US;
	w->acc_or = 0;
	w->detail = 0;
	*table = root;
	return 0;
}

/* PKRU check for a data access to a user-mode address (4.6.2): AD (bit 2i)
 * forbids every data access, WD (bit 2i+1) user writes and - with CR0.WP =
 * 1 - supervisor writes. Instruction fetches are not checked. */
WALK_INLINE bool x86_pkey_denies(const struct walk_state *w, uint64_t leaf, enum ia32_mode mode)
{
	const struct physim_mmu_ctl *ctl = w->ctl;

	if (!ctl->pke || w->exec || mode != IA32_MODE_LONG)
		return false;
	unsigned key = (unsigned)(leaf >> IA32_PK_SHIFT) & 0xf;
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
					    struct walk_step *s, enum ia32_mode mode)
{
	bool user_addr = (w->acc_and & IA32_US) != 0;
	bool writable = (w->acc_and & IA32_RW) != 0;
	/* 32-bit paging has no XD; with NXE = 0 bit 63 is reserved (and so
	 * never reaches here set). */
	bool nx = (w->acc_or & IA32_XD) != 0;

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
	s->global = (d & IA32_G) != 0;
	/* 4.8: D is set in the entry that maps the page on a write. */
	if (w->write)
		s->d_new |= IA32_D;
	return PHYSIM_FAULT_NONE;
}

/* A present entry classified as table or leaf k, with output address next:
 * the rights it adds (4.6.1), A (4.8), and for a leaf the access check. */
WALK_INLINE enum physim_fault_kind x86_use(struct walk_state *w, uint64_t d, unsigned level,
					   enum pt_kind k, uint64_t next, struct walk_step *s,
					   enum ia32_mode mode)
{
	s->d_new = d;
	/* A PAE PDPTE has no R/W, U/S, XD, A or D (table 4-8: bits 2:1 and 8:5
	 * are reserved, bit 63 too): it takes no part in access rights (4.6)
	 * and the processor sets no flag in it (4.8). */
	if (!(mode == IA32_MODE_PAE && level == 2)) {
		/* 4.6.1: rights are the AND of R/W and U/S and the OR of XD. */
		w->acc_and &= d;
		if (mode != IA32_MODE_32BIT)
			w->acc_or |= d & IA32_XD;
		/* 4.8: A is set in every paging-structure entry used. */
		s->d_new |= IA32_A;
	}
	if (k == PT_TABLE) {
		s->next = next;
		return PHYSIM_FAULT_NONE;
	}
	return x86_leaf(w, d, next, s, mode);
}

/* One descriptor in paging mode `mode` (a constant in each instantiation):
 * the codec (x86-desc.h) with the masks x86_configure made, then the rights
 * and A/D rules. */
WALK_INLINE enum physim_fault_kind x86_step_mode(struct walk_state *w, uint64_t d, unsigned level,
						 struct walk_step *s, const enum ia32_mode mode)
{
	const struct physim_pt_format *f = w->fmt;
	const struct physim_mmu *m = w->mmu;
	bool leaf = ia32_is_leaf(d, level, mode);

	/* 4.7: P = 0 is a not-present fault whatever the other bits say. */
	enum pt_kind k = ia32_classify_masked(d, leaf, m->rsv[level][leaf]);
	if (PHYSIM_UNLIKELY(k == PT_INVALID))
		return PHYSIM_FAULT_NOT_PRESENT;
	if (PHYSIM_UNLIKELY(k == PT_RESERVED))
		return PHYSIM_FAULT_RESERVED;
	return x86_use(w, d, level, k,
		       ia32_addr_masked(f, d, level, leaf, walk_oa_mask(m, level, leaf), mode), s,
		       mode);
}

WALK_INLINE enum physim_fault_kind x86_step_long(struct walk_state *w, uint64_t d, unsigned level,
						 struct walk_step *s)
{
	return x86_step_mode(w, d, level, s, IA32_MODE_LONG);
}

WALK_INLINE enum physim_fault_kind x86_step_pae(struct walk_state *w, uint64_t d, unsigned level,
						struct walk_step *s)
{
	return x86_step_mode(w, d, level, s, IA32_MODE_PAE);
}

WALK_INLINE enum physim_fault_kind x86_step_32bit(struct walk_state *w, uint64_t d, unsigned level,
						  struct walk_step *s)
{
	return x86_step_mode(w, d, level, s, IA32_MODE_32BIT);
}

/* The one loop (walk-loop.h) per paging mode: 4/5-level, PAE, 32-bit. Each
 * instantiation is a function of its own (the formats' walk ops point at
 * them), so that each gets the whole register file. */
static int x86_walk_4l(const struct walk_req *r, struct physim_xlate *x)
{
	if (PHYSIM_LIKELY(walk_req_lone(r)))
		return walk_stage_lone_4k(r, x, x86_begin, x86_step_long, 4, 8, 0);
	return walk_stage_rest(r, x, x86_begin, x86_step_long, 4, 8, NULL);
}

static int x86_walk_5l(const struct walk_req *r, struct physim_xlate *x)
{
	if (PHYSIM_LIKELY(walk_req_lone(r)))
		return walk_stage_lone_4k(r, x, x86_begin, x86_step_long, 5, 8, 0);
	return walk_stage_rest(r, x, x86_begin, x86_step_long, 5, 8, NULL);
}

static int x86_walk_pae(const struct walk_req *r, struct physim_xlate *x)
{
	return walk_stage_loop(r, x, x86_begin, x86_step_pae, 3, 8);
}

static int x86_walk_32bit(const struct walk_req *r, struct physim_xlate *x)
{
	return walk_stage_loop(r, x, x86_begin, x86_step_32bit, 2, 4);
}

/* Lookup mode (walk-loop.h, walk_lookup_loop): the codec's classify and
 * output address in paging mode `mode`, nothing else. */
WALK_INLINE enum physim_fault_kind x86_lookup_mode(struct walk_state *w, uint64_t d, unsigned level,
						   struct walk_step *s, const enum ia32_mode mode)
{
	enum pt_kind k = ia32_desc_classify(w->fmt, d, level, mode);
	return walk_lookup_kind(
	    k, k == PT_TABLE || k == PT_LEAF ? ia32_desc_output_addr(w->fmt, d, level, mode) : 0,
	    s);
}

WALK_INLINE enum physim_fault_kind x86_lookup_step_long(struct walk_state *w, uint64_t d,
							unsigned level, struct walk_step *s)
{
	return x86_lookup_mode(w, d, level, s, IA32_MODE_LONG);
}

WALK_INLINE enum physim_fault_kind x86_lookup_step_pae(struct walk_state *w, uint64_t d,
						       unsigned level, struct walk_step *s)
{
	return x86_lookup_mode(w, d, level, s, IA32_MODE_PAE);
}

WALK_INLINE enum physim_fault_kind x86_lookup_step_32bit(struct walk_state *w, uint64_t d,
							 unsigned level, struct walk_step *s)
{
	return x86_lookup_mode(w, d, level, s, IA32_MODE_32BIT);
}

WALK_LOOKUP_FN(x86_lookup_4l, x86_lookup_step_long, 4, 8, WALK_GEO_4K, 0)
WALK_LOOKUP_FN(x86_lookup_5l, x86_lookup_step_long, 5, 8, WALK_GEO_4K, 0)
WALK_LOOKUP_FN(x86_lookup_pae, x86_lookup_step_pae, 3, 8, WALK_GEO_4K, 0)
WALK_LOOKUP_FN(x86_lookup_32bit, x86_lookup_step_32bit, 2, 4, WALK_GEO_4K, 0)

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
	return ia32_mode(w->fmt) != IA32_MODE_32BIT && !w->ctl->nxe_off;
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

/* Architecture levels: PT = 1 .. PML5 = 5 (x86-priv.h). One ops object per
 * paging mode and level count (x86_64.c points each format at its own). */
const struct pt_walk_ops physim_x86_walk_ops_4l = {
    .level_base = 1,
    .level_dir = 1,
    .configure = x86_configure,
    .walk = x86_walk_4l,
    .fault = x86_fault,
    .lookup = {[4] = x86_lookup_4l},
};

const struct pt_walk_ops physim_x86_walk_ops_5l = {
    .level_base = 1,
    .level_dir = 1,
    .configure = x86_configure,
    .walk = x86_walk_5l,
    .fault = x86_fault,
    .lookup = {[5] = x86_lookup_5l},
};

const struct pt_walk_ops physim_x86_walk_ops_pae = {
    .level_base = 1,
    .level_dir = 1,
    .configure = x86_configure,
    .walk = x86_walk_pae,
    .fault = x86_fault,
    .lookup = {[3] = x86_lookup_pae},
};

const struct pt_walk_ops physim_x86_walk_ops_32bit = {
    .level_base = 1,
    .level_dir = 1,
    .configure = x86_configure,
    .walk = x86_walk_32bit,
    .fault = x86_fault,
    .lookup = {[2] = x86_lookup_32bit},
};
