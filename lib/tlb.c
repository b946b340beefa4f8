/* SPDX-License-Identifier: MIT */
/* lib/tlb.c - the software TLB of one simulated CPU: translations cached per
 * input page and tagged by ASID/VMID, an access check on every hit, flushes
 * by address / ASID / VMID, and a stale-entry checker for missing flushes.
 *
 * ---- Organisation ----
 *
 * One 4-way set-associative array of `entries` slots (a power of two, at
 * least 4), shared by every page size. An entry is indexed by its virtual
 * page number at its own page size (low bits folded with the next ones,
 * set_index()), so a lookup probes one set per page size in use: the TLB
 * keeps the list of
 * page shifts it has cached (at most TLB_MAX_SHIFTS, ascending) and tries
 * each, smallest first. With the usual three sizes (4K/2M/1G) a 4 KiB hit
 * costs one set probe, a 1 GiB hit three. We chose this over one array per
 * size class because the capacity stays exactly what the caller asked for,
 * whatever the format's page sizes (4K/16K/64K granules, 4M, 512G...), and
 * the hit path stays a short loop with no per-format code. The set index
 * does not depend on the ASID, so a global entry is found from any ASID and
 * a flush by address touches one set per page size.
 *
 * The tag holds the page number, the page shift, whether the entry is a
 * combined nested (GVA -> HPA) translation or a single-stage one, and a
 * valid bit; the ASID/VMID must match, except the ASID of a global entry.
 * Replacement is round-robin per set (deterministic, so tests can count
 * conflict misses).
 *
 * ---- What a hit may serve ----
 *
 * Each entry records the access classes (read / write / fetch, user /
 * supervisor) a hit may serve; any other access walks the tables (counted
 * as a miss) and, if it succeeds, refills the entry - or, when the walk
 * gives the same translation, adds its classes to it. Faults are never
 * cached: a walk that faults also drops the entries for that address and
 * tag (as x86 does on a #PF, SDM Vol. 3A 4.10.4.1), and the fault is
 * returned. The classes are derived conservatively from the effective
 * permissions of the filling walk:
 * - read / fetch need R / X in the cached permissions;
 * - write needs W and "dirty known": only a successful write walk sets it,
 *   because that walk made the hardware dirty update (x86 D, EPT D, AArch64
 *   DBM, RISC-V Svadu) or checked it (Svade). A write through an entry
 *   filled by a read therefore walks once, as an x86 TLB entry with D = 0
 *   does (SDM 4.8);
 * - an entry serves the privilege that filled it. Supervisor accesses to a
 *   user page depend on control state that changes without a flush
 *   (SMAP/SMEP with RFLAGS.AC, PSTATE.PAN, sstatus.SUM), and so do user
 *   accesses under x86 protection keys (PKRU): the hardware checks those on
 *   every access, hit or not (SDM Vol. 3A 4.6 and 4.10.2.2; Arm ARM D8,
 *   PAN; privileged spec, SUM). Such classes are cached as *conditional*
 *   (tlb_extent.cond_allow, with a fingerprint of that control state at
 *   fill time) and served only while the translating mmu's control state
 *   has the same fingerprint, and never to an implicit supervisor access
 *   (SMAP ignores RFLAGS.AC for those); otherwise the access walks. So a
 *   missing invalidation under a table whose leaves are all user pages is
 *   seen by supervisor accesses too. The check is off the common hit path:
 *   only an entry whose unconditional classes do not serve the access looks
 *   at it. A stage-2 entry (a stage-2 mmu translated on its own)
 *   serves the filling privilege only, since the permissions it returns
 *   include that privilege's execute right (AArch64 stage-2 XN[1:0], Arm ARM
 *   D8.4), and fetches never under EPT mode-based execute control.
 * This relies on the walkers reporting the rights of the accessing privilege
 * (AArch64: of the accessing EL) and not widening them by control state:
 * accesses that only CR0.WP = 0 or MXR allow walk every time, since the
 * entry holds no such right. Control state that narrows rights and that
 * hardware may cache in its TLB entries (WXN, Arm ARM D8; x86 flushes on a
 * CR4.SMEP 0 -> 1 write, SDM Vol. 3A 4.10.4.1) must be followed by a flush,
 * as must the reuse of an ASID/VMID for another address space.
 *
 * ---- Nested entries ----
 *
 * physim_tlb_nested_translate caches GVA -> HPA at the smaller of the two
 * stages' page sizes (as combined TLB entries do), tagged by s1's ASID and
 * s2's VMID. Each such entry also remembers the page sizes of the stage-1
 * and stage-2 leaves, so that physim_tlb_flush_va finds it both by any
 * address in its stage-1 page (a guest invalidation of a fractured huge
 * page) and by any address in its stage-2 page (a change to the stage-2
 * table: hooking the stage-2 table's flush to physim_tlb_pt_flush then keeps
 * the combined entries coherent). Changes to the stage-2 mapping of the
 * guest's page-table pages are not tracked: flush the VMID for those, as
 * INVEPT / TLBI VMALLS12E1 would (the stale checker reports the miss).
 *
 * ---- Stale-use detection ----
 *
 * With check_stale every hit also probes the tables (no A/D writes) with the
 * same access. If the fresh result differs from the cached one (output
 * address, page size, permissions, global bit, intermediate address of a
 * nested entry, or the access now faults), stats.stale counts it and
 * on_stale gets both; the hit still returns the cached translation, as stale
 * hardware would. A dirty state cleaned by software without a flush (x86 D
 * cleared, AArch64 AP[2] set again on a DBM page) under a dirty-known entry
 * is not detected: the probe succeeds, as the hardware would set it again.
 *
 * A TLB belongs to one simulated CPU: no call is thread-safe with another
 * call on the same TLB (callers lock, as for a page table).
 */
#include "access-class.h"
#include "walk-format.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum {
	TLB_WAYS = 4,
	TLB_MAX_SHIFTS = 8,
	TLB_DEFAULT_ENTRIES = 1024,
	TLB_MAX_ENTRIES = 1u << 20,
	TLB_MIN_SHIFT = 12, /* the tag keeps 52 bits of page number */
};

/* Tag layout: bit 0 valid, bit 1 nested, bits 7:2 page shift, 63:8 page number. */
#define TAG_VALID     UINT64_C(1)
#define TAG_NESTED    UINT64_C(2)
#define TAG_SHIFT_POS 2
#define TAG_VPN_POS   8

/* Entry flags. */
#define EF_GLOBAL  1u
#define EF_HAS_GPA 2u /* gpa is meaningful (nested, or a stage-2 mmu) */

/* 32 bytes: a set of 4 ways is two cache lines. */
struct tlb_entry {
	uint64_t tag; /* 0: empty */
	uint64_t pa;  /* page base */
	/* physim_xlate.leaf_desc of the filling walk, returned with every hit
	 * (physim_xlate_memattr: a TLB caches the memory attributes with the
	 * translation at fill time) */
	uint64_t leaf_desc;
	uint32_t id;   /* vmid << 16 | asid */
	uint8_t allow; /* access classes a hit may serve (bit access_class()) */
	uint8_t perms;
	uint8_t flags;
	int8_t level;
};

/* What a hit of a lone stage 1 does not read, kept out of the hot array:
 * the page shifts of the stage-1 and stage-2 leaves of a nested entry (for
 * flushes), the conditional classes, and the intermediate address and
 * stage-2 leaf descriptor of an entry with EF_HAS_GPA. */
struct tlb_extent {
	uint8_t s1_shift;
	uint8_t s2_shift;
	uint8_t cond_allow;    /* classes served while the control state matches ctl_fp */
	uint64_t ctl_fp;       /* access_ctl_fingerprint() of the filling walk's mmu */
	uint64_t gpa;	       /* page base (EF_HAS_GPA) */
	uint64_t s2_leaf_desc; /* physim_xlate.s2_leaf_desc of the filling walk (EF_HAS_GPA) */
};

struct physim_tlb {
	struct tlb_entry *e;
	struct tlb_extent *ext; /* parallel to e */
	uint8_t *victim;	/* per set: the next way to replace */
	uint64_t set_mask;
	uint64_t nentries;
	unsigned nshift;
	/* shift[0] when quick_hit() may probe it (nshift > 0, no stale check),
	 * else 0: one load decides and gives the shift */
	uint8_t quick_shift;
	uint8_t shift[TLB_MAX_SHIFTS]; /* page shifts in use, ascending */
	uint64_t nested_valid;	       /* valid nested entries (flush_va scans for them) */
	bool check_stale;
	physim_tlb_stale_fn on_stale;
	void *stale_ctx;
	struct physim_tlb_stats st;
};

/* ---- small helpers ---- */

static inline uint64_t make_tag(uint64_t va, unsigned shift, bool nested)
{
	return (va >> shift) << TAG_VPN_POS | (uint64_t)shift << TAG_SHIFT_POS |
	       (nested ? TAG_NESTED : 0) | TAG_VALID;
}

static inline unsigned tag_shift(uint64_t tag)
{
	return (unsigned)(tag >> TAG_SHIFT_POS) & 63;
}

/* Page number and shift of a tag, without the valid and nested bits. */
static inline uint64_t tag_page(uint64_t tag)
{
	return tag & ~(TAG_VALID | TAG_NESTED);
}

/* Start of the entry's input page. */
static inline uint64_t entry_va(const struct tlb_entry *e)
{
	return (e->tag >> TAG_VPN_POS) << tag_shift(e->tag);
}

static inline uint32_t make_id(uint16_t vmid, uint16_t asid)
{
	return (uint32_t)vmid << 16 | asid;
}

/* Same ASID and VMID, or a global entry of the same VMID. */
static inline bool id_match(const struct tlb_entry *e, uint32_t id)
{
	uint32_t diff = e->id ^ id; /* the VMIDs agree iff diff < 1 << 16 */
	return diff == 0 || (diff < UINT32_C(1) << 16 && (e->flags & EF_GLOBAL));
}

/* Set index of a page number: its low bits, folded with the bits from 9 up
 * so that the first pages of different 2 MiB regions (stacks, heaps and
 * images are often aligned so) do not all share set 0. A constant fold: a
 * shift by the number of set bits costs a nanosecond per hit. */
static inline uint64_t set_index(const struct physim_tlb *t, uint64_t va, unsigned shift)
{
	uint64_t vpn = va >> shift;
	return (vpn ^ (vpn >> 9)) & t->set_mask;
}

static inline struct tlb_entry *set_of(const struct physim_tlb *t, uint64_t va, unsigned shift)
{
	return &t->e[set_index(t, va, shift) * TLB_WAYS];
}

static inline void kill(struct physim_tlb *t, struct tlb_entry *e)
{
	if (e->tag & TAG_NESTED)
		t->nested_valid--;
	e->tag = 0;
}

static inline unsigned log2_u64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

/* ---- lookup: the hot path ---- */

/* The entry covering va with this tag, or NULL. */
static inline struct tlb_entry *tlb_find(const struct physim_tlb *t, uint64_t va, uint32_t id,
					 bool nested)
{
	for (unsigned i = 0; i < t->nshift; i++) {
		unsigned sh = t->shift[i];
		uint64_t tag = make_tag(va, sh, nested);
		struct tlb_entry *set = set_of(t, va, sh);
		for (unsigned w = 0; w < TLB_WAYS; w++) {
			if (set[w].tag == tag && id_match(&set[w], id))
				return &set[w];
		}
	}
	return NULL;
}

/* The result of a hit on e, whose page shift is sh. Field by field:
 * assigning a whole compound literal compiles to `rep stos` on x86, which
 * alone costs more than the lookup. */
static inline void hit_result_sh(const struct physim_tlb *t, const struct tlb_entry *e, unsigned sh,
				 uint64_t va, struct physim_xlate *x)
{
	uint64_t size = UINT64_C(1) << sh;
	uint64_t off = va & (size - 1);

	x->pa = e->pa + off;
	x->gpa = 0;
	x->s2_leaf_desc = 0; /* a lone stage 1's walk leaves it 0 */
	if (e->flags & EF_HAS_GPA) {
		const struct tlb_extent *ex = &t->ext[e - t->e];
		x->gpa = ex->gpa + off;
		x->s2_leaf_desc = ex->s2_leaf_desc;
	}
	x->page_size = size;
	x->level = e->level;
	x->perms = e->perms;
	x->global = (e->flags & EF_GLOBAL) != 0;
	x->mem_refs = 0;
	x->ad_updated = false;
	x->fault = (struct physim_fault){.kind = PHYSIM_FAULT_NONE};
	x->leaf_desc = e->leaf_desc; /* as read by the filling walk */
}

static inline void hit_result(const struct physim_tlb *t, const struct tlb_entry *e, uint64_t va,
			      struct physim_xlate *x)
{
	hit_result_sh(t, e, tag_shift(e->tag), va, x);
}

/* ---- stale check ---- */

/* e may be a copy (stale_check), so no hit_result(): it indexes t->ext.
 * gpa: the entry's (EF_HAS_GPA). */
static bool same_translation(const struct tlb_entry *e, uint64_t gpa, uint64_t va,
			     const struct physim_xlate *cur)
{
	uint64_t size = UINT64_C(1) << tag_shift(e->tag);
	uint64_t off = va & (size - 1);
	return cur->fault.kind == PHYSIM_FAULT_NONE && cur->pa == e->pa + off &&
	       cur->page_size == size && cur->perms == e->perms &&
	       cur->global == ((e->flags & EF_GLOBAL) != 0) &&
	       (!(e->flags & EF_HAS_GPA) || cur->gpa == gpa + off);
}

static void entry_info(const struct tlb_entry *e, struct physim_tlb_entry_info *info)
{
	*info = (struct physim_tlb_entry_info){
	    .va = entry_va(e),
	    .pa = e->pa,
	    .page_size = UINT64_C(1) << tag_shift(e->tag),
	    .perms = e->perms,
	    .asid = (uint16_t)e->id,
	    .vmid = (uint16_t)(e->id >> 16),
	    .global = (e->flags & EF_GLOBAL) != 0,
	};
}

/* Compare a hit with a fresh side-effect-free walk (s2 != NULL: nested).
 * Works on a copy of the entry: on_stale may flush this TLB. */
static __attribute__((noinline)) void stale_check(struct physim_tlb *t, const struct tlb_entry *hit,
						  const struct physim_mmu *m,
						  const struct physim_mmu *s2,
						  const struct physim_access *acc)
{
	struct tlb_entry e = *hit;
	uint64_t gpa = t->ext[hit - t->e].gpa;
	struct physim_xlate cur;
	int rc = s2 ? physim_nested_probe(m, s2, acc, &cur) : physim_mmu_probe(m, acc, &cur);

	if (rc != 0 && rc != -EFAULT)
		return; /* no verdict (cannot happen for a valid access) */
	if (rc == 0 && same_translation(&e, gpa, acc->va, &cur))
		return;
	t->st.stale++;
	if (t->on_stale) {
		struct physim_tlb_entry_info info;
		entry_info(&e, &info);
		t->on_stale(t->stale_ctx, acc->va, &info, &cur);
	}
}

/* A hit: the cached result in x (stale-checked if asked). *found: the
 * entry tlb_find() gave (served or not), for the fill after a miss. */
static inline bool try_hit(struct physim_tlb *t, uint32_t id, bool nested,
			   const struct physim_mmu *m, const struct physim_mmu *s2,
			   const struct physim_access *acc, struct physim_xlate *x,
			   struct tlb_entry **found)
{
	struct tlb_entry *e = tlb_find(t, acc->va, id, nested);

	*found = e;
	if (e == NULL)
		return false;
	if (!((e->allow >> access_class(acc)) & 1)) {
		/* A conditional class (see the top of the file)? */
		const struct tlb_extent *ex = &t->ext[e - t->e];
		if (acc->implicit || !((ex->cond_allow >> access_class(acc)) & 1) ||
		    ex->ctl_fp != m->ctl_fp)
			return false;
	}
	t->st.hits++;
	hit_result(t, e, acc->va, x);
	if (PHYSIM_UNLIKELY(t->check_stale))
		stale_check(t, e, m, s2, acc);
	return true;
}

/* ---- fill ---- */

/* Index of shift in the list of shifts in use, inserting it (ascending);
 * -1 if the list is full. */
static int shift_slot(struct physim_tlb *t, unsigned shift)
{
	unsigned i = 0;
	while (i < t->nshift && t->shift[i] < shift)
		i++;
	if (i < t->nshift && t->shift[i] == shift)
		return (int)i;
	if (t->nshift == TLB_MAX_SHIFTS)
		return -1;
	memmove(&t->shift[i + 1], &t->shift[i], t->nshift - i);
	t->shift[i] = (uint8_t)shift;
	t->nshift++;
	t->quick_shift = t->check_stale ? 0 : t->shift[0];
	return (int)i;
}

/* Drop every entry this tag would find for va. */
static void drop_matching(struct physim_tlb *t, uint64_t va, uint32_t id, bool nested)
{
	struct tlb_entry *e;
	while ((e = tlb_find(t, va, id, nested)) != NULL)
		kill(t, e);
}

/* A free way in va's set, else the set's round-robin victim. */
static struct tlb_entry *victim(struct physim_tlb *t, uint64_t va, unsigned shift)
{
	uint64_t set = set_index(t, va, shift);
	struct tlb_entry *s = &t->e[set * TLB_WAYS];

	for (unsigned w = 0; w < TLB_WAYS; w++) {
		if (s[w].tag == 0)
			return &s[w];
	}
	struct tlb_entry *e = &s[t->victim[set]];
	t->victim[set] = (uint8_t)((t->victim[set] + 1) % TLB_WAYS);
	kill(t, e);
	return e;
}

/* What the filling walk said, and about whom. */
struct fill {
	uint32_t id;
	bool nested;
	bool stage2;	  /* a stage-2 mmu translated on its own */
	bool pke;	  /* x86 protection keys on */
	bool mbec;	  /* EPT mode-based execute control */
	uint64_t ctl_fp;  /* access_ctl_fingerprint() of the (stage-1) mmu */
	uint8_t s1_shift; /* nested only */
	uint8_t s2_shift;
	/* What tlb_find() gave for the access before the walk. No call on
	 * this TLB overlaps another (walk.h), so the walk changed nothing:
	 * NULL means there is no entry to merge with or drop. */
	struct tlb_entry *old;
};

/* The access classes a hit may serve, and those only while the control
 * state keeps its fingerprint (lib/access-class.h; the top of the file). */
static uint8_t allowed_classes(const struct fill *f, const struct physim_access *acc,
			       uint32_t perms)
{
	return access_allowed_classes(f->stage2, f->mbec, f->pke, acc, perms);
}

static uint8_t cond_classes(const struct fill *f, const struct physim_access *acc, uint32_t perms)
{
	return access_cond_classes(f->stage2, f->pke, acc, perms);
}

/* The live entry a and the new entry b (intermediate address b_gpa) for
 * the same page with the same translation. */
static bool same_entry(const struct physim_tlb *t, const struct tlb_entry *a,
		       const struct tlb_entry *b, uint64_t b_gpa)
{
	return a->tag == b->tag && a->pa == b->pa && a->perms == b->perms && a->flags == b->flags &&
	       a->level == b->level && (!(a->flags & EF_HAS_GPA) || t->ext[a - t->e].gpa == b_gpa);
}

/* Cache a successful walk. If the entry it would replace holds the same
 * translation, the access classes are merged instead (so a supervisor walk
 * of a user page, or a write that makes the entry dirty-known, keeps what
 * the entry already served); otherwise the old entries for va go. */
static void tlb_fill(struct physim_tlb *t, const struct fill *f, const struct physim_access *acc,
		     const struct physim_xlate *x)
{
	uint64_t size = x->page_size;
	unsigned shift = size && !(size & (size - 1)) ? log2_u64(size) : 0;

	if (shift < TLB_MIN_SHIFT) {
		if (f->old != NULL)
			drop_matching(t, acc->va, f->id, f->nested);
		return; /* not cacheable: every access walks */
	}
	uint64_t off = acc->va & (size - 1);
	bool has_gpa = f->nested || f->stage2;
	bool global = x->global && !f->stage2;
	uint64_t gpa = has_gpa ? x->gpa - off : 0;
	struct tlb_entry n = {
	    .tag = make_tag(acc->va, shift, f->nested),
	    .pa = x->pa - off,
	    .leaf_desc = x->leaf_desc,
	    .id = f->id,
	    .allow = allowed_classes(f, acc, x->perms),
	    .perms = (uint8_t)x->perms,
	    .flags = (uint8_t)((global ? EF_GLOBAL : 0) | (has_gpa ? EF_HAS_GPA : 0)),
	    .level = (int8_t)x->level,
	};
	uint8_t cond = cond_classes(f, acc, x->perms);
	struct tlb_entry *old = f->old;
	if (old != NULL && same_entry(t, old, &n, gpa)) {
		old->allow |= n.allow;
		struct tlb_extent *x_old = &t->ext[old - t->e];
		if (x_old->ctl_fp != f->ctl_fp)
			x_old->cond_allow = 0; /* those were for other control state */
		x_old->cond_allow |= cond;
		x_old->ctl_fp = f->ctl_fp;
		old->leaf_desc = x->leaf_desc; /* the latest walk's attributes */
		x_old->s2_leaf_desc = x->s2_leaf_desc;
		return;
	}
	if (old != NULL)
		drop_matching(t, acc->va, f->id, f->nested);
	if (shift_slot(t, shift) < 0)
		return; /* too many page sizes: not cached */
	struct tlb_entry *e = victim(t, acc->va, shift);
	*e = n;
	t->ext[e - t->e] = (struct tlb_extent){
	    .s1_shift = f->nested ? f->s1_shift : (uint8_t)shift,
	    .s2_shift = f->nested ? f->s2_shift : (uint8_t)shift,
	    .cond_allow = cond,
	    .ctl_fp = f->ctl_fp,
	    .gpa = gpa,
	    .s2_leaf_desc = x->s2_leaf_desc,
	};
	if (f->nested)
		t->nested_valid++;
}

/* After a walk: fill on success, drop the address's entries on a fault. */
static int after_walk(struct physim_tlb *t, const struct fill *f, const struct physim_access *acc,
		      const struct physim_xlate *x, int rc)
{
	if (rc == 0)
		tlb_fill(t, f, acc, x);
	else if (rc == -EFAULT && f->old != NULL)
		drop_matching(t, acc->va, f->id, f->nested);
	return rc;
}

/* ---- translate ---- */

static __attribute__((noinline)) int miss_direct(struct physim_tlb *t, struct physim_mmu *mmu,
						 const struct physim_access *acc,
						 struct physim_xlate *x, struct tlb_entry *old)
{
	t->st.misses++;
	int rc = physim_mmu_translate(mmu, acc, x);
	struct fill f = {
	    .id = mmu->tlb_id,
	    .stage2 = mmu->cfg.format->stage2,
	    .pke = mmu->cfg.ctl.pke,
	    .mbec = mmu->cfg.ctl.mbec,
	    .ctl_fp = mmu->ctl_fp,
	    .old = old,
	};
	return after_walk(t, &f, acc, x, rc);
}

/* The common hit, inline in the translate calls: the entry at the smallest
 * page size in use (one set probe), if it serves this access and no stale
 * check is wanted; the result goes to x. It is the entry tlb_find() would
 * return, so false only means "take the full path" (try_hit, then a miss):
 * an access access_ok() refuses is never served here. */
static inline bool quick_hit(struct physim_tlb *t, const struct physim_access *acc, uint32_t id,
			     bool nested, struct physim_xlate *x)
{
	unsigned sh = t->quick_shift;
	if (sh == 0)
		return false;
	uint64_t va = acc->va;
	uint64_t tag = make_tag(va, sh, nested);
	const struct tlb_entry *e = set_of(t, va, sh), *end = e + TLB_WAYS;
	while (e->tag != tag || !id_match(e, id))
		if (++e == end)
			return false;
	if (!(e->allow & access_class_bit(acc)))
		return false;
	t->st.hits++;
	hit_result_sh(t, e, sh, va, x);
	return true;
}

static __attribute__((noinline)) int translate_full(struct physim_tlb *tlb, struct physim_mmu *mmu,
						    const struct physim_access *acc,
						    struct physim_xlate *x)
{
	if (!access_ok(acc))
		return -EINVAL;
	struct tlb_entry *old;
	if (try_hit(tlb, mmu->tlb_id, false, mmu, NULL, acc, x, &old))
		return 0;
	return miss_direct(tlb, mmu, acc, x, old);
}

PHYSIM_HOT_ENTRY int physim_tlb_translate(struct physim_tlb *tlb, struct physim_mmu *mmu,
					  const struct physim_access *acc, struct physim_xlate *x)
{
	/* mem == NULL: as physim_mmu_translate. */
	if (PHYSIM_UNLIKELY(tlb == NULL || mmu == NULL || x == NULL || acc == NULL ||
			    mmu->cfg.mem == NULL))
		return -EINVAL;
	if (PHYSIM_LIKELY(quick_hit(tlb, acc, mmu->tlb_id, false, x)))
		return 0;
	return translate_full(tlb, mmu, acc, x); /* checks the access */
}

/* Page shift of the stage-1 leaf of a nested translation: the size of its
 * level in the stage-1 geometry (a block bigger than its level, e.g. an
 * AArch64 contiguous run, counts as its level's size: a flush by an address
 * in the page the entry was filled for still finds it). */
static uint8_t s1_leaf_shift(const struct physim_pt_format *f1, int arch_level, unsigned shift)
{
	const struct pt_walk_ops *ops = f1->walk;
	int n = ops->level_dir ? (arch_level - ops->level_base) / ops->level_dir : -1;

	if (n < 0 || n >= f1->levels || f1->level[n].shift < shift)
		return (uint8_t)shift;
	return f1->level[n].shift;
}

/* Page shifts of both stages' leaves for a nested entry of x->page_size,
 * whose stage-2 leaf (as the walk found it) is s2_size bytes. */
static void nested_shifts(const struct physim_mmu_config *c1, uint64_t s2_size,
			  const struct physim_xlate *x, struct fill *f)
{
	unsigned shift = x->page_size ? log2_u64(x->page_size) : 0;

	f->s2_shift = (uint8_t)shift;
	if (s2_size > x->page_size)
		f->s2_shift = (uint8_t)log2_u64(s2_size);
	/* The combined size is the smaller of the two: if stage 2's page is
	 * larger, stage 1's is the combined size. */
	f->s1_shift =
	    f->s2_shift > shift ? (uint8_t)shift : s1_leaf_shift(c1->format, x->level, shift);
}

static __attribute__((noinline)) int miss_nested(struct physim_tlb *t, struct physim_mmu *s1,
						 struct physim_mmu *s2, uint32_t id,
						 const struct physim_access *acc,
						 struct physim_xlate *x, struct tlb_entry *old)
{
	t->st.misses++;
	uint64_t s2_size = 0;
	int rc = physim_nested_translate_s2size(s1, s2, acc, x, &s2_size);
	struct fill f = {
	    .id = id, .nested = true, .pke = s1->cfg.ctl.pke, .ctl_fp = s1->ctl_fp, .old = old};
	if (rc == 0)
		nested_shifts(&s1->cfg, s2_size, x, &f);
	return after_walk(t, &f, acc, x, rc);
}

static __attribute__((noinline)) int nested_full(struct physim_tlb *tlb, struct physim_mmu *s1,
						 struct physim_mmu *s2, uint32_t id,
						 const struct physim_access *acc,
						 struct physim_xlate *x)
{
	if (!access_ok(acc))
		return -EINVAL;
	struct tlb_entry *old;
	if (try_hit(tlb, id, true, s1, s2, acc, x, &old))
		return 0;
	return miss_nested(tlb, s1, s2, id, acc, x, old);
}

PHYSIM_HOT_ENTRY int physim_tlb_nested_translate(struct physim_tlb *tlb, struct physim_mmu *s1,
						 struct physim_mmu *s2,
						 const struct physim_access *acc,
						 struct physim_xlate *x)
{
	if (PHYSIM_UNLIKELY(tlb == NULL || s1 == NULL || s2 == NULL || x == NULL || acc == NULL))
		return -EINVAL;
	/* As physim_nested_translate. */
	if (PHYSIM_UNLIKELY(s2->cfg.mem == NULL || s1->cfg.format->stage2 ||
			    !s2->cfg.format->stage2))
		return -EINVAL;
	uint32_t id = make_id(s2->cfg.vmid, s1->cfg.asid);
	if (PHYSIM_LIKELY(quick_hit(tlb, acc, id, true, x)))
		return 0;
	return nested_full(tlb, s1, s2, id, acc, x); /* checks the access */
}

/* ---- flushes ---- */

void physim_tlb_flush_all(struct physim_tlb *tlb)
{
	if (tlb == NULL)
		return;
	memset(tlb->e, 0, tlb->nentries * sizeof(*tlb->e));
	tlb->nested_valid = 0;
	tlb->nshift = 0;
	tlb->quick_shift = 0;
	tlb->st.flushes++;
}

/* Which entries a flush removes; va / asid as the flush call got them. */
typedef bool (*entry_pred)(const struct physim_tlb *t, const struct tlb_entry *e, uint64_t va,
			   uint16_t asid);

/* Kill the entries that cover va at their own page size (one set per page
 * size) and satisfy `want`; then, while nested entries remain, scan them all
 * with `want_nested` (their stage-1 and stage-2 pages can be larger than
 * the entry). */
static void flush_covering(struct physim_tlb *t, uint64_t va, uint16_t asid, entry_pred want,
			   entry_pred want_nested)
{
	for (unsigned i = 0; i < t->nshift; i++) {
		unsigned sh = t->shift[i];
		uint64_t page = tag_page(make_tag(va, sh, false));
		struct tlb_entry *set = set_of(t, va, sh);
		for (unsigned w = 0; w < TLB_WAYS; w++) {
			if ((set[w].tag & TAG_VALID) && tag_page(set[w].tag) == page &&
			    want(t, &set[w], va, asid))
				kill(t, &set[w]);
		}
	}
	for (uint64_t i = 0; i < t->nentries && t->nested_valid != 0; i++) {
		struct tlb_entry *e = &t->e[i];
		if ((e->tag & TAG_NESTED) && want_nested(t, e, va, asid))
			kill(t, e);
	}
}

static bool any_entry(const struct physim_tlb *t, const struct tlb_entry *e, uint64_t va,
		      uint16_t asid)
{
	(void)t, (void)e, (void)va, (void)asid;
	return true;
}

static bool of_asid(const struct physim_tlb *t, const struct tlb_entry *e, uint64_t va,
		    uint16_t asid)
{
	(void)t, (void)va;
	return !(e->flags & EF_GLOBAL) && (uint16_t)e->id == asid;
}

/* A nested entry whose stage-1 page covers va. */
static bool nested_s1_covers(const struct physim_tlb *t, const struct tlb_entry *e, uint64_t va)
{
	unsigned sh = t->ext[e - t->e].s1_shift;
	return (entry_va(e) >> sh) == (va >> sh);
}

/* A nested entry whose stage-1 page or stage-2 page covers va. */
static bool nested_covers(const struct physim_tlb *t, const struct tlb_entry *e, uint64_t va,
			  uint16_t asid)
{
	const struct tlb_extent *ex = &t->ext[e - t->e];
	(void)asid;
	return nested_s1_covers(t, e, va) || (ex->gpa >> ex->s2_shift) == (va >> ex->s2_shift);
}

/* A non-global nested entry of asid whose stage-1 page covers va. */
static bool nested_of_asid(const struct physim_tlb *t, const struct tlb_entry *e, uint64_t va,
			   uint16_t asid)
{
	return of_asid(t, e, va, asid) && nested_s1_covers(t, e, va);
}

void physim_tlb_flush_va(struct physim_tlb *tlb, uint64_t va)
{
	if (tlb == NULL)
		return;
	flush_covering(tlb, va, 0, any_entry, nested_covers);
	tlb->st.flushes++;
}

void physim_tlb_flush_va_asid(struct physim_tlb *tlb, uint64_t va, uint16_t asid)
{
	if (tlb == NULL)
		return;
	flush_covering(tlb, va, asid, of_asid, nested_of_asid);
	tlb->st.flushes++;
}

/* Kill every valid entry with the given ASID (non-global) or VMID. */
static void flush_scan(struct physim_tlb *t, bool by_vmid, uint16_t tag)
{
	for (uint64_t i = 0; i < t->nentries; i++) {
		struct tlb_entry *e = &t->e[i];
		if (!(e->tag & TAG_VALID))
			continue;
		if (by_vmid ? (uint16_t)(e->id >> 16) == tag : of_asid(t, e, 0, tag))
			kill(t, e);
	}
	t->st.flushes++;
}

void physim_tlb_flush_asid(struct physim_tlb *tlb, uint16_t asid)
{
	if (tlb != NULL)
		flush_scan(tlb, false, asid);
}

void physim_tlb_flush_vmid(struct physim_tlb *tlb, uint16_t vmid)
{
	if (tlb != NULL)
		flush_scan(tlb, true, vmid);
}

void physim_tlb_pt_flush(void *ctx, const uint64_t *vas, size_t n, bool all)
{
	struct physim_tlb *tlb = ctx;

	if (tlb == NULL)
		return;
	if (all || (vas == NULL && n != 0)) {
		physim_tlb_flush_all(tlb); /* a list we cannot read: be safe */
		return;
	}
	for (size_t i = 0; i < n; i++)
		physim_tlb_flush_va(tlb, vas[i]);
}

/* ---- create / destroy / stats ---- */

int physim_tlb_create(const struct physim_tlb_config *config, struct physim_tlb **out)
{
	if (out == NULL)
		return -EINVAL;
	struct physim_tlb_config c = config ? *config : (struct physim_tlb_config){0};
	uint64_t entries = c.entries ? c.entries : TLB_DEFAULT_ENTRIES;
	if (entries > TLB_MAX_ENTRIES)
		return -EINVAL;
	if (entries < TLB_WAYS)
		entries = TLB_WAYS; /* one set */
	while (entries & (entries - 1))
		entries += entries & -entries; /* round up to a power of two */

	struct physim_tlb *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->nentries = entries;
	t->set_mask = entries / TLB_WAYS - 1;
	t->e = calloc(entries, sizeof(*t->e));
	t->ext = calloc(entries, sizeof(*t->ext));
	t->victim = calloc(entries / TLB_WAYS, 1);
	if (t->e == NULL || t->ext == NULL || t->victim == NULL) {
		physim_tlb_destroy(t);
		return -ENOMEM;
	}
	t->check_stale = c.check_stale;
	t->on_stale = c.on_stale;
	t->stale_ctx = c.stale_ctx;
	*out = t;
	return 0;
}

void physim_tlb_destroy(struct physim_tlb *tlb)
{
	if (tlb == NULL)
		return;
	free(tlb->e);
	free(tlb->ext);
	free(tlb->victim);
	free(tlb);
}

struct physim_tlb_stats physim_tlb_stats(const struct physim_tlb *tlb)
{
	return tlb ? tlb->st : (struct physim_tlb_stats){0};
}
