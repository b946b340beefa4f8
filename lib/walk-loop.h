/* SPDX-License-Identifier: MIT */
/* lib/walk-loop.h - the one walk loop, as an always-inline template that each
 * family instantiates with its begin() and step() (arch/<family>/<name>_walk.c),
 * the way KVM compiles paging_tmpl.h once per paging mode. */
#ifndef PHYSIM_WALK_LOOP_H
#define PHYSIM_WALK_LOOP_H

#include "pt-memo.h"
#include "walk-format.h"

/* For the family functions the loop is made of: inlined into it whatever
 * the compiler's size heuristics say. */
#define WALK_INLINE static inline __attribute__((always_inline))

/* One request to walk one stage. */
struct walk_req {
	const struct physim_mmu *m;
	const struct physim_mmu *s2; /* stage 1 of a nested walk: tables are GPAs */
	const struct physim_access *acc;
	enum walk_origin origin;
	uint32_t s1_perms;		  /* WALK_NESTED_FINAL: stage 1's effective perms */
	const struct physim_access *orig; /* as walk_state.orig */
	bool probe;
	/* physim_mmu_trace / physim_nested_trace: record every fetch here. The
	 * loop is instantiated a second time for it, so that the ordinary
	 * instantiation has no trace code. */
	struct physim_walk_trace *trace;
	/* Lookup mode (walk_lookup_loop): the table, and where the leaf's
	 * slot and mapping go (each may be NULL). */
	const struct walk_lookup *lk;
	struct walk_slot *slot;
	struct physim_pt_mapping *map;
};

/* What a walk has done so far, across its attempts. */
struct walk_tally {
	unsigned refs; /* descriptor fetches (walk-format.h: mem_refs) */
	bool ad;       /* an A/D bit was written */
};

/* A descriptor that needs an A/D update, for the write-back. */
struct walk_used {
	void *p;
	uint64_t d, d_new;
	uint64_t gpa; /* nested stage 1: the entry's guest-physical address (else 0) */
	int tstep;    /* traced walks: its step in the trace (-1: none) */
};

/* The family's begin() and step() (walk-format.h, "What the walk loop does",
 * b. and c.). */
typedef int (*walk_begin_fn)(struct walk_state *w, uint64_t root, uint64_t root_hi, uint64_t *table,
			     struct physim_fault *f);
typedef enum physim_fault_kind (*walk_step_fn)(struct walk_state *w, uint64_t d, unsigned level,
					       struct walk_step *s);

/*
 * The stage 2 that a family's nested stage 1 walks inline (walk-format.h,
 * "Nested walks"): if the stage-2 mmu has these ops and this level count,
 * the walks of the stage-1 table entries' GPAs are `walk`, a WALK_INLINE
 * instantiation of the same loop (WALK_S2_INLINE), so that they make no
 * call and their request and result stay in registers; any other stage 2
 * is called through its walk_gpa (struct walk_gpa_out). Measured in-process against the call
 * per entry it replaces: 0.86-0.96x the time of a nested walk (Sv39 .. Sv57
 * and AArch64 3 .. 4 levels over their own level count). A direct call to
 * the same instantiation out of line cost as much as the indirect one; an
 * inline copy for every stage-2 level count (the stage-1 loop 2.8 times
 * its size), or one whose level count is not a constant, made nested walks
 * slower again: hence one level count per stage-1 instantiation. `walk`
 * is reached through a constant pointer because the loop cannot inline
 * itself directly (gcc refuses an always_inline recursion even where it is
 * dead); a compiler that does not inline it (clang) still calls the right
 * function.
 */
struct walk_s2_inline {
	const struct pt_walk_ops *ops;
	unsigned levels;
	int (*walk)(const struct walk_req *r, struct physim_xlate *x);
};

/*
 * A stage 2 that a nested stage 1 does not walk inline is called once per
 * stage-1 table entry. Through ops->walk the GPA goes in through memory
 * (the request's access) and the HPA comes back through memory (the
 * result), two store-to-load forwardings on the walk's chain of dependent
 * loads for each of the five calls of a 4-level walk. ops->walk_gpa
 * (WALK_GPA_FN) takes the GPA and returns the HPA in registers; what is
 * not on the chain comes back here: the fetches and A/D writes the walk
 * made, and on failure (the return value WALK_GPA_FAILED, never an HPA: a
 * descriptor's is 4-byte aligned) rc and the whole result.
 */
struct walk_gpa_out {
	unsigned refs;
	bool ad;
	int rc;
	struct physim_xlate x;
};

#define WALK_GPA_FAILED UINT64_MAX

/* ---- the cold paths, out of line in lib/walk.c ---- */

/* begin() refused the input: complete *x from its fault *bf. -EFAULT. */
PHYSIM_HIDDEN int physim_walk_begin_fault(const struct walk_req *r, const struct physim_fault *bf,
					  const struct walk_tally *t, struct physim_xlate *x);
/* What begin() and step() add to a walk state (the rest is the request's,
 * walk_state_start): for a fault builder. */
struct walk_scratch {
	bool upper;
	uint64_t acc_and, acc_or, detail;
};

/* The walk state of r before begin(). */
WALK_INLINE struct walk_state walk_state_start(const struct walk_req *r)
{
	const struct physim_mmu *m = r->m;
	return (struct walk_state){
	    .mmu = m,
	    .fmt = m->cfg.format,
	    .ctl = &m->cfg.ctl,
	    .va = r->acc->va,
	    .write = r->acc->write,
	    .exec = r->acc->exec,
	    .user = r->acc->user,
	    .implicit = r->acc->implicit,
	    .probe = r->probe,
	    .origin = r->origin,
	    .s1_perms = r->s1_perms,
	    .orig = r->orig,
	};
}

/* A fault at engine level `level` (ops->fault builds it from the state of
 * r with s added). -EFAULT. ea: the descriptor's table address (a GPA in a
 * nested stage 1), for a BUS_ERROR. */
PHYSIM_HIDDEN int physim_walk_fault(const struct walk_req *r, const struct walk_scratch *s,
				    enum physim_fault_kind kind, unsigned level, uint64_t ea,
				    const struct walk_tally *t, struct physim_xlate *x);
/* The descriptor of `bytes` bytes at hpa outside the direct map: through
 * the paging handler's phys_to_virt; NULL if it does not resolve. */
PHYSIM_HIDDEN void *physim_walk_fetch_slow(const struct physim_paging_handler *ph, uint64_t hpa,
					   unsigned bytes);
/* Nested stage 1: the stage-2 walk of a table entry's GPA failed with rc
 * (x2 its result): complete *x (a stage-2 fault gets s1ptw set) and return
 * rc. */
PHYSIM_HIDDEN int physim_walk_s1_failed(const struct walk_req *r, uint64_t gpa, int rc,
					const struct physim_xlate *x2, struct walk_tally *t,
					struct physim_xlate *x);
/* The stage-2 request that translates the GPAs of stage-1 table entries: an
 * implicit read by the original access's privilege (walk-format.h, "Nested
 * walks"); va set per entry. Inline: the loop keeps both in registers. */
WALK_INLINE void walk_s1_table_req(const struct walk_req *r, struct walk_req *r2,
				   struct physim_access *a2)
{
	const struct physim_mmu *s2 = r->s2;

	*a2 = (struct physim_access){.user = r->acc->user};
	*r2 = (struct walk_req){
	    .m = s2,
	    .acc = a2,
	    .origin = WALK_NESTED_TABLE,
	    .orig = r->m->cfg.format->arch == s2->cfg.format->arch ? r->acc : NULL,
	    .probe = r->probe,
	    .trace = r->trace,
	};
}

/* Write back used[0..n) (root first) by compare-and-swap. 0, -EAGAIN (a
 * descriptor changed: walk again), or a stage-2 fault / error (nested). */
PHYSIM_HIDDEN int physim_walk_write_back(const struct walk_req *r, const struct walk_used *used,
					 unsigned n, unsigned bytes, struct walk_tally *t,
					 struct physim_xlate *x);
/* Traced walks: append a step (level in the architecture's numbering) and
 * return its index, or -1 if the trace is full (then marked truncated). */
PHYSIM_HIDDEN int physim_walk_trace_note(const struct walk_req *r, int level, uint64_t table,
					 uint64_t ea, bool fetched, uint64_t d,
					 enum physim_walk_decision decision,
					 enum physim_fault_kind kind);
/* Too many lost races: clear *x, warn, -EBUSY. */
PHYSIM_HIDDEN int physim_walk_gave_up(const struct walk_req *r, struct physim_xlate *x);
/* Lookup mode: the host address of the table at engine level `level` at pa
 * outside the direct map (through the paging handler, the whole table
 * resolving linearly), or NULL (lib/pt-lookup.c). */
PHYSIM_HIDDEN uint8_t *physim_pt_lookup_table_slow(const struct walk_lookup *lk, uint64_t pa,
						   unsigned level);
/* Lookup mode: the whole lookup again, on the copy of the loop that reaches
 * tables outside the direct map (lib/pt-lookup.c). */
PHYSIM_HIDDEN int physim_pt_lookup_any(const struct walk_lookup *lk, uint64_t va,
				       struct walk_slot *slot, struct physim_pt_mapping *m);
/* Lookup mode: *m for the leaf d at engine level `level` whose output
 * address is pa, by the format's decode_leaf (remembered in the memo); 0
 * (lib/pt-lookup.c). */
PHYSIM_HIDDEN int physim_pt_lookup_decode(const struct walk_lookup *lk, uint64_t va, unsigned level,
					  uint64_t d, uint64_t pa, struct physim_pt_mapping *m);

/* A walk whose A/D compare-and-swap keeps losing to concurrent writers gives
 * up after this many attempts with -EBUSY (hardware would retry forever; a
 * test should not hang). */
#define WALK_MAX_ATTEMPTS 64

/* Relaxed atomic load: another thread may be changing the table. */
WALK_INLINE uint64_t walk_desc_load(const void *p, const unsigned bytes)
{
	if (bytes == 8)
		return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
	return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
}

/* The modes of an instantiation: a walk, or a lookup (walk_lookup_loop)
 * whose tables lie in the direct map (one outside it sends the whole lookup
 * to the WALK_LOOKUP_ANY copy, so that the common copy makes no call and
 * keeps its registers), or one that reaches any table. */
#define WALK_LOOKUP_NO	0u
#define WALK_LOOKUP_DM	1u
#define WALK_LOOKUP_ANY 2u

/* The geometry of an instantiation: WALK_GEO_ANY reads every level's index
 * shift and mask from the mmu; WALK_GEO_4K has them as constants below the
 * root (formats with physim_mmu.geo_4k only). */
#define WALK_GEO_ANY 0u
#define WALK_GEO_4K  1u
/* A flag to add in lookup mode where the family's fast path for table
 * pointers ignores no bit (walk_table_fast with ignored = 0): such a
 * pointer is then exactly tw_val plus its address field, so the next
 * table's host address is a constant plus d << tw_shift, one operation
 * after the load instead of two or three (no mask). */
#define WALK_GEO_EXACT 2u

/* The byte offset of va's descriptor in its table at engine level `level`. */
WALK_INLINE uint64_t walk_desc_off(const struct physim_mmu *m, uint64_t va, unsigned level,
				   const unsigned levels, const unsigned bytes, const unsigned geo)
{
	/* Below the root both are constants; the root's shift is too (the
	 * levels below fix it), its index width varies (e.g. concatenated
	 * stage-2 roots). */
	if (geo & WALK_GEO_4K)
		return (va >> walk_geo_4k_shift(level, bytes)) &
		       (level + 1 < levels ? walk_geo_4k_mask(bytes) : m->idx_mask[level]);
	return (va >> m->idx_shift[level]) & m->idx_mask[level];
}

/* physim_walk_fault with a copy of what begin() and step() added to the
 * walk state: the state's own address never leaves the loop, so its
 * accumulators stay in registers, and the fault path rebuilds the rest
 * from the request, so that the loop need not keep it (stored at the start
 * of every walk, it cost a dozen stores). */
WALK_INLINE int walk_fault_copy(const struct walk_req *r, const struct walk_state *w,
				enum physim_fault_kind kind, unsigned level, uint64_t ea,
				const struct walk_tally *t, struct physim_xlate *x)
{
	const struct walk_scratch s = {
	    .upper = w->upper, .acc_and = w->acc_and, .acc_or = w->acc_or, .detail = w->detail};
	return physim_walk_fault(r, &s, kind, level, ea, t, x);
}

/*
 * One attempt at walking one stage (walk-format.h, "What the walk loop
 * does"): 0 with *x complete, -EFAULT with *x complete, -EAGAIN (walk
 * again) or another error. `levels`, `bytes` and `nested` are constants in
 * every instantiation but the generic one, so the loop unrolls and each
 * level's tests fold. `geo` (WALK_GEO_*) and `tw_shift` (the family's
 * physim_mmu.tw_shift, used with WALK_GEO_4K) are constants too.
 *
 * In lookup mode (`lookup`, a constant WALK_LOOKUP_*; walk_lookup_loop) the same loop
 * serves the page-table engine: begin() is not called (the table's root is
 * r->lk->root_hva), step() classifies by the format's codec only, a table
 * is reached if it lies wholly in memory (the engine's rule), nothing is
 * written back and no fault is built: 0 with *r->slot the leaf and *r->map
 * its mapping (from the memo, or decoded on a cold path), -ENOENT
 * (NOT_PRESENT) or -EFAULT (anything else).
 *
 * `pa_only` (a constant; WALK_GPA_FN): a success fills only x->pa,
 * mem_refs and ad_updated, all a stage-1 table fetch wants of its stage-2
 * walk; the full result's dozen other stores, three or four times per
 * nested walk, made x86-64 over EPT 1.1x as long. A fault fills *x whole.
 */
WALK_INLINE int walk_attempt(const struct walk_req *r, struct physim_xlate *x, walk_begin_fn begin,
			     walk_step_fn step, const unsigned levels, const unsigned bytes,
			     const bool nested, const bool traced, const unsigned lookup,
			     const unsigned geo, const unsigned tw_shift, struct walk_tally *t,
			     const struct walk_s2_inline *s2i, const bool pa_only)
{
	const struct physim_mmu *m = r->m;
	const struct physim_pt_format *f = m->cfg.format;
	const struct physim_paging_handler *ph = nested ? r->s2->cfg.mem : m->cfg.mem;
	/* Table memory: [base, base + size) at hva; a descriptor at hpa is in
	 * it if hpa - base <= last (unsigned: below base wraps round). No
	 * direct map (size < bytes): base = ~0 and last = 0 leave only the
	 * address ~0, which no aligned descriptor has. */
	const bool have_dm = ph->direct.size >= bytes;
	const uint64_t base = lookup ? r->lk->dm_base : have_dm ? ph->direct.base : ~UINT64_C(0);
	const uint64_t last = have_dm ? ph->direct.size - bytes : 0;
	const uintptr_t host =
	    lookup ? r->lk->dm_host : (uintptr_t)ph->direct.hva - (uintptr_t)base;
	const uint64_t va = r->acc->va;
	struct walk_state w = walk_state_start(r);
	struct walk_used used[PHYSIM_PT_MAX_LEVELS];
	unsigned nused = 0;
	struct physim_fault bf;
	uint64_t table;
	/* Lookup mode: the host address of the table at `table` if it lies in
	 * the direct map (checked before use), computed on the dependent
	 * chain (WALK_GEO_EXACT). */
	uintptr_t thost = 0;
	/* Descriptor fetches so far: t->refs at the start, the stage-2 walks'
	 * (nested), and one per level read - counted from the level, so that
	 * a lone stage keeps no counter. t->refs is brought up to date before
	 * a call. */
	const unsigned refs0 = t->refs;
	unsigned s2refs = 0;

	if (lookup)
		table = m->cfg.root;
	else if (PHYSIM_UNLIKELY(begin(&w, m->cfg.root, m->cfg.root_hi, &table, &bf) != 0)) {
		if (traced)
			physim_walk_trace_note(r, bf.level, 0, 0, false, 0, PHYSIM_WALK_FAULT,
					       bf.kind);
		return physim_walk_begin_fault(r, &bf, t, x);
	}
	struct physim_access a2;
	struct walk_req r2;
	bool s2_inline = false;
	uint64_t (*s2_gpa)(const struct walk_req *, uint64_t, struct walk_gpa_out *) = NULL;
	if (nested) {
		walk_s1_table_req(r, &r2, &a2);
		s2_inline = !traced && s2i != NULL && r2.m->ops == s2i->ops &&
			    r2.m->cfg.format->levels == s2i->levels && r2.m->geo_4k;
		if (!traced && r2.m->geo_4k)
			s2_gpa = r2.m->ops->walk_gpa[r2.m->cfg.format->levels];
	}
#pragma GCC unroll 8
	for (unsigned level = levels; level-- > 0;) {
		const uint64_t off = walk_desc_off(m, va, level, levels, bytes, geo);
		uint64_t ea = table + off;
		uint64_t hpa = ea;
		void *p;
		uint8_t *tv = NULL; /* lookup mode: the table's host address */
		if (lookup) {
			/* The engine's rule (lib/pt-priv.h, table_hva): the
			 * whole table in memory, checked when it is reached. */
			if (level == levels - 1)
				tv = r->lk->root_hva;
			else if (PHYSIM_LIKELY(table - base < r->lk->tlim[level]))
				tv = (uint8_t *)thost;
			else if (lookup == WALK_LOOKUP_DM)
				return physim_pt_lookup_any(r->lk, va, r->slot, r->map);
			else if ((tv = physim_pt_lookup_table_slow(r->lk, table, level)) == NULL)
				return -EFAULT;
			p = tv + off;
		} else {
			if (nested && (traced || s2_gpa == NULL || (s2i != NULL && s2_inline))) {
				/* Inline (walk_s2_inline), or one indirect call;
				 * s2i != NULL folds the test away where it is NULL. */
				struct physim_xlate x2;
				a2.va = ea;
				int rc = s2i != NULL && s2_inline ? s2i->walk(&r2, &x2)
								  : r2.m->ops->walk(&r2, &x2);
				s2refs += x2.mem_refs;
				t->ad |= x2.ad_updated;
				if (PHYSIM_UNLIKELY(rc < 0)) {
					t->refs = refs0 + s2refs + (levels - 1 - level);
					return physim_walk_s1_failed(r, ea, rc, &x2, t, x);
				}
				hpa = x2.pa;
			} else if (nested) {
				/* A called stage 2, the GPA and HPA in registers. */
				struct walk_gpa_out o;
				hpa = s2_gpa(&r2, ea, &o);
				s2refs += o.refs;
				t->ad |= o.ad;
				if (PHYSIM_UNLIKELY(hpa == WALK_GPA_FAILED)) {
					t->refs = refs0 + s2refs + (levels - 1 - level);
					return physim_walk_s1_failed(r, ea, o.rc, &o.x, t, x);
				}
			}
			/* In the direct map; else the paging handler, on a cold path.
			 * Descriptor addresses are aligned: roots are checked by
			 * physim_mmu_create, table addresses come from address fields
			 * aligned to at least 1 KiB, and a stage-2 output keeps the
			 * GPA's offset (desc_ptr refuses a misaligned one anyway, so
			 * that loads and CAS stay atomic). */
			if (PHYSIM_LIKELY(hpa - base <= last)) {
				p = (void *)(host + (uintptr_t)hpa);
			} else {
				p = physim_walk_fetch_slow(ph, hpa, bytes);
				if (PHYSIM_UNLIKELY(p == NULL)) {
					t->refs = refs0 + s2refs + (levels - 1 - level);
					if (traced)
						physim_walk_trace_note(
						    r, walk_arch_level(m->ops, level), table, ea,
						    false, 0, PHYSIM_WALK_FAULT,
						    PHYSIM_FAULT_BUS_ERROR);
					return walk_fault_copy(r, &w, PHYSIM_FAULT_BUS_ERROR, level,
							       ea, t, x);
				}
			}
		}
		uint64_t d = walk_desc_load(p, bytes);
		/* An all-zero descriptor is invalid in every format. The
		 * fast path below may take one for a table pointer where a
		 * family's pointer is a bare address (LoongArch's); the
		 * table at 0 it leads to is outside the common copy's window
		 * (physim_pt_lookup_init), so only this copy meets it. */
		if (lookup == WALK_LOOKUP_ANY && d == 0)
			return -ENOENT;
		const unsigned refs = refs0 + s2refs + (levels - level);
		/* A table pointer that changes nothing but the table address
		 * (physim_mmu.tw_mask): no step(). */
		if (level != 0 && PHYSIM_LIKELY((d & m->tw_mask[level]) == m->tw_val[level])) {
			if (traced)
				physim_walk_trace_note(r, walk_arch_level(m->ops, level), table, ea,
						       true, d, PHYSIM_WALK_TABLE,
						       PHYSIM_FAULT_NONE);
			const unsigned sh = (geo & WALK_GEO_4K) ? tw_shift : m->tw_shift;
			table = (d & m->oa[level][0]) << sh;
			if (lookup && (geo & WALK_GEO_EXACT))
				thost = r->lk->tw_host[level] + (uintptr_t)(d << sh);
			else if (lookup)
				thost = host + (uintptr_t)table;
			continue;
		}
		if (lookup && r->lk->memo != NULL) {
			/* A leaf the engine's memo remembers (lib/pt-memo.h). */
			uint64_t pa, arch;
			uint32_t info;
			if (pt_memo_probe(r->lk->memo, level, d, &pa, &info, &arch)) {
				if (r->slot != NULL)
					*r->slot = (struct walk_slot){
					    .t = tv, .off = off, .level = level, .d = d};
				if (r->map != NULL)
					pt_memo_mapping(r->map, va, level, m->leaf_size[level], pa,
							info, arch);
				return 0;
			}
		}
		struct walk_step s = {0};
		enum physim_fault_kind k = step(&w, d, level, &s);
		if (k == PHYSIM_FAULT_NONE && !s.leaf && level == 0)
			k = PHYSIM_FAULT_RESERVED; /* a table pointer in a last-level table */
		int tstep = -1;
		if (traced)
			tstep = physim_walk_trace_note(r, walk_arch_level(m->ops, level), table, ea,
						       true, d,
						       k != PHYSIM_FAULT_NONE ? PHYSIM_WALK_FAULT
						       : s.leaf		      ? PHYSIM_WALK_LEAF
									      : PHYSIM_WALK_TABLE,
						       k);
		if (PHYSIM_UNLIKELY(k != PHYSIM_FAULT_NONE)) {
			if (lookup)
				return k == PHYSIM_FAULT_NOT_PRESENT ? -ENOENT : -EFAULT;
			t->refs = refs;
			/* ea only matters to a BUS_ERROR, which step() never
			 * returns: 0 lets the table address die at the load. */
			return walk_fault_copy(r, &w, k, level, 0, t, x);
		}
		if (lookup && s.leaf) {
			if (r->slot != NULL)
				*r->slot =
				    (struct walk_slot){.t = tv, .off = off, .level = level, .d = d};
			if (r->map == NULL)
				return 0;
			return physim_pt_lookup_decode(r->lk, va, level, d, s.next, r->map);
		}
		/* A probe writes nothing back, so it keeps no list of what a
		 * translation would write. */
		if (!lookup && PHYSIM_UNLIKELY(s.d_new != d) && !r->probe)
			used[nused++] = (struct walk_used){.p = p,
							   .d = d,
							   .d_new = s.d_new,
							   .gpa = nested ? ea : 0,
							   .tstep = tstep};
		if (!s.leaf) {
			table = s.next;
			if (lookup)
				thost = host + (uintptr_t)table;
			continue;
		}
		/* The page address, which lives across the write-back's call,
		 * in a variable gcc may not merge with `table` (the step's
		 * `next`, copied to it on a table pointer): merged, the one
		 * variable lives across the call, and gcc keeps it in a stack
		 * slot on the walk's chain of dependent loads. */
		uint64_t page = s.next;
#if defined(__GNUC__)
		__asm__("" : "+r"(page));
#endif
		/* The result only once the write-back succeeded: a stage-2
		 * fault on a stage-1 A/D update leaves nothing but the fault. */
		if (PHYSIM_UNLIKELY(nused != 0)) {
			/* The write-back's faults report it, and a re-walk
			 * after a lost race counts on from it. */
			t->refs = refs;
			int rc = physim_walk_write_back(r, used, nused, bytes, t, x);
			if (rc < 0)
				return rc;
		}
		uint64_t size = s.page_size ? s.page_size : m->leaf_size[level];
		x->pa = page + (va & (size - 1));
		x->mem_refs = refs;
		x->ad_updated = t->ad;
		if (pa_only)
			return 0;
		x->gpa = f->stage2 ? va : 0;
		x->page_size = size;
		x->level = m->arch_level[level];
		x->perms = s.perms;
		x->global = s.global;
		x->leaf_desc = d, x->s2_leaf_desc = 0; /* physim_xlate_memattr decodes it */
		x->fault = (struct physim_fault){.kind = PHYSIM_FAULT_NONE};
		return 0;
	}
	/* Not reached: level 0 never continues. */
	if (lookup)
		return -EFAULT;
	t->refs = refs0 + s2refs + levels;
	return walk_fault_copy(r, &w, PHYSIM_FAULT_RESERVED, 0, 0, t, x);
}

/* One stage, walked again after a lost A/D race (bounded); `geo` and
 * `tw_shift` as walk_attempt's. */
WALK_INLINE int walk_stage_ng(const struct walk_req *r, struct physim_xlate *x, walk_begin_fn begin,
			      walk_step_fn step, const unsigned levels, const unsigned bytes,
			      const bool nested, const bool traced,
			      const struct walk_s2_inline *s2i, const unsigned geo,
			      const unsigned tw_shift, const bool pa_only)
{
	struct walk_tally t = {0};
	const unsigned trace_n0 = traced ? r->trace->n : 0;

	for (unsigned attempt = 0; attempt < WALK_MAX_ATTEMPTS; attempt++) {
		int rc = walk_attempt(r, x, begin, step, levels, bytes, nested, traced,
				      WALK_LOOKUP_NO, geo, tw_shift, &t, s2i, pa_only);
		if (PHYSIM_LIKELY(rc != -EAGAIN))
			return rc;
		if (traced)
			r->trace->n = trace_n0; /* the trace keeps the last attempt */
	}
	return physim_walk_gave_up(r, x);
}

/* The same with the geometry read from the mmu. */
WALK_INLINE int walk_stage_n(const struct walk_req *r, struct physim_xlate *x, walk_begin_fn begin,
			     walk_step_fn step, const unsigned levels, const unsigned bytes,
			     const bool nested, const bool traced, const struct walk_s2_inline *s2i)
{
	return walk_stage_ng(r, x, begin, step, levels, bytes, nested, traced, s2i, WALK_GEO_ANY, 0,
			     false);
}

/* A lone, untraced stage: the common request. A family may walk it in a
 * function of its own (walk_stage_lone) and send every other request to
 * another (walk_stage_rest), so that the traced and nested instantiations
 * do not share the lone one's code: in one function they made Sv48 walks
 * 1.02x as long. */
WALK_INLINE bool walk_req_lone(const struct walk_req *r)
{
	return r->s2 == NULL && r->trace == NULL;
}

WALK_INLINE int walk_stage_lone(const struct walk_req *r, struct physim_xlate *x,
				walk_begin_fn begin, walk_step_fn step, const unsigned levels,
				const unsigned bytes)
{
	return walk_stage_n(r, x, begin, step, levels, bytes, false, false, NULL);
}

/* walk_stage_lone for a family whose formats mostly have the 4 KiB
 * geometry (physim_mmu.geo_4k): their index shifts and masks below the root
 * and the table-pointer shift are constants (WALK_GEO_4K, tw_shift as
 * physim_mmu.tw_shift), which frees the registers and loads they took; a
 * format without it takes a second copy that reads them from the mmu. */
WALK_INLINE int walk_stage_lone_4k(const struct walk_req *r, struct physim_xlate *x,
				   walk_begin_fn begin, walk_step_fn step, const unsigned levels,
				   const unsigned bytes, const unsigned tw_shift)
{
	if (PHYSIM_LIKELY(r->m->geo_4k))
		return walk_stage_ng(r, x, begin, step, levels, bytes, false, false, NULL,
				     WALK_GEO_4K, tw_shift, false);
	return walk_stage_n(r, x, begin, step, levels, bytes, false, false, NULL);
}

/* Every request but a lone untraced one (r is traced or nested); the
 * nested instantiation walks the stage 2 that s2i names inline (struct
 * walk_s2_inline; NULL: none). */
WALK_INLINE int walk_stage_rest(const struct walk_req *r, struct physim_xlate *x,
				walk_begin_fn begin, walk_step_fn step, const unsigned levels,
				const unsigned bytes, const struct walk_s2_inline *s2i)
{
	if (r->trace != NULL) {
		if (r->s2 != NULL)
			return walk_stage_n(r, x, begin, step, levels, bytes, true, true, NULL);
		return walk_stage_n(r, x, begin, step, levels, bytes, false, true, NULL);
	}
	return walk_stage_n(r, x, begin, step, levels, bytes, true, false, s2i);
}

/*
 * The one loop, for a lone stage (or a stage 2) and for a nested stage 1,
 * with `levels` and `bytes` (descriptor size) constants chosen by the
 * family's walk function, e.g.
 *
 *     static int x86_walk(const struct walk_req *r, struct physim_xlate *x)
 *     {
 *             switch (r->m->cfg.format->levels) {
 *             case 4: return walk_stage_loop(r, x, x86_begin, x86_step, 4, 8);
 *             ...
 *             }
 *     }
 */
WALK_INLINE int walk_stage_loop(const struct walk_req *r, struct physim_xlate *x,
				walk_begin_fn begin, walk_step_fn step, const unsigned levels,
				const unsigned bytes)
{
	if (PHYSIM_LIKELY(walk_req_lone(r)))
		return walk_stage_lone(r, x, begin, step, levels, bytes);
	return walk_stage_rest(r, x, begin, step, levels, bytes, NULL);
}

/* The walk of a stage-2 family, lone or traced: a stage-2 format is never
 * the stage 1 of a nested walk (physim_nested_translate refuses it), so no
 * nested instantiation. */
WALK_INLINE int walk_stage2_loop(const struct walk_req *r, struct physim_xlate *x,
				 walk_begin_fn begin, walk_step_fn step, const unsigned levels,
				 const unsigned bytes)
{
	if (PHYSIM_UNLIKELY(r->trace != NULL))
		return walk_stage_n(r, x, begin, step, levels, bytes, false, true, NULL);
	return walk_stage_n(r, x, begin, step, levels, bytes, false, false, NULL);
}

/* A const struct walk_s2_inline `name` for the stage-2 ops `s2ops` at
 * `nlev` levels of 8-byte descriptors, walked by begin / step with the
 * constant 4 KiB geometry below the root (WALK_GEO_4K, tw_shift as the
 * family's physim_mmu.tw_shift; a stage 2 without physim_mmu.geo_4k is
 * called instead) and, as walk_gpa, filling only what a table fetch needs
 * on success (pa_only): for a family's nested stage 1 (walk_stage_rest),
 * e.g.
 *
 *     WALK_S2_INLINE(rv_gstage_4, physim_rv_gstage_walk_ops, rv_gstage_begin,
 *                    rv_gstage_step, 4, RV_TW_SHIFT)
 *     ...
 *     case 4: return walk_stage_rest(r, x, rv_begin, rv_step, 4, 8, &rv_gstage_4);
 */
#define WALK_S2_INLINE(name, s2ops, begin, step, nlev, tw_shift)                                   \
	WALK_INLINE int name##_loop(const struct walk_req *r, struct physim_xlate *x)              \
	{                                                                                          \
		return walk_stage_ng(r, x, begin, step, nlev, 8, false, false, NULL, WALK_GEO_4K,  \
				     tw_shift, true);                                              \
	}                                                                                          \
	static const struct walk_s2_inline name = {&(s2ops), nlev, name##_loop};

/* The walk_gpa entry `name` of a stage-2 family (pt_walk_ops.walk_gpa) at
 * `nlev` levels of `bytes`-byte descriptors, walked by begin / step: the
 * lone untraced loop with the 4 KiB geometry (WALK_GEO_4K, tw_shift as the
 * family's physim_mmu.tw_shift; a stage 2 without physim_mmu.geo_4k is
 * called through ops->walk instead), with the request's access at `gpa`. r2->acc is the
 * caller's own access (walk_s1_table_req's a2), not a const object: the GPA
 * is stored there, and the loop, which reads it once right after, gets it
 * in the register (a copy of the request and access cost more than the
 * register passing gained). */
#define WALK_GPA_FN(name, begin, step, nlev, bytes, tw_shift)                                      \
	static uint64_t name(const struct walk_req *r2, uint64_t gpa, struct walk_gpa_out *o)      \
	{                                                                                          \
		((struct physim_access *)r2->acc)->va = gpa;                                       \
		int rc = walk_stage_ng(r2, &o->x, begin, step, nlev, bytes, false, false, NULL,    \
				       WALK_GEO_4K, tw_shift, true);                               \
		o->refs = o->x.mem_refs;                                                           \
		o->ad = o->x.ad_updated;                                                           \
		if (PHYSIM_UNLIKELY(rc < 0)) {                                                     \
			o->rc = rc;                                                                \
			return WALK_GPA_FAILED;                                                    \
		}                                                                                  \
		return o->x.pa;                                                                    \
	}

/* Lookup mode's begin(): never called (walk_attempt takes the root). */
WALK_INLINE int walk_lookup_begin(struct walk_state *w, uint64_t root, uint64_t root_hi,
				  uint64_t *table, struct physim_fault *f)
{
	(void)w, (void)root_hi, (void)f;
	*table = root;
	return 0;
}

/* For a family's lookup step(): the codec's kind k of a descriptor (and
 * `out`, its output address, which the step computes for a table or leaf
 * only) as the loop wants it. */
WALK_INLINE enum physim_fault_kind walk_lookup_kind(enum pt_kind k, uint64_t out,
						    struct walk_step *s)
{
	s->next = out;
	s->leaf = k == PT_LEAF;
	if (PHYSIM_LIKELY(k == PT_TABLE || k == PT_LEAF))
		return PHYSIM_FAULT_NONE;
	return k == PT_INVALID ? PHYSIM_FAULT_NOT_PRESENT : PHYSIM_FAULT_RESERVED;
}

/*
 * The one loop in lookup mode, for the page-table engine's lookups of one
 * address (pt_walk_ops.lookup): `step` classifies by the format's codec,
 * instantiated with constant `levels`, `bytes`, `geo` and `tw_shift`
 * (walk_attempt). A family writes, e.g.
 *
 *     WALK_LOOKUP_CODEC_STEP(rv_lookup_step, rv_desc_classify, rv_desc_output_addr)
 *     WALK_LOOKUP_FN(rv_lookup_4, rv_lookup_step, 4, 8, WALK_GEO_4K | WALK_GEO_EXACT,
 *                    RV_TW_SHIFT)
 *
 * (x86 passes its paging mode to the codec in its own steps). With WALK_GEO_4K a format without
 * physim_mmu.geo_4k takes a second, WALK_GEO_ANY copy. va must be in the format's input range (the
 * engine checks it).
 */
WALK_INLINE int walk_lookup_loop(const struct walk_lookup *lk, uint64_t va, struct walk_slot *slot,
				 struct physim_pt_mapping *map, walk_step_fn step,
				 const unsigned levels, const unsigned bytes, const unsigned geo,
				 const unsigned tw_shift)
{
	struct physim_access acc = {.va = va};
	struct walk_req r = {
	    .m = &lk->m, .acc = &acc, .probe = true, .lk = lk, .slot = slot, .map = map};
	struct walk_tally t = {0};
	if ((geo & WALK_GEO_4K) && PHYSIM_UNLIKELY(!lk->m.geo_4k))
		return walk_attempt(&r, NULL, walk_lookup_begin, step, levels, bytes, false, false,
				    WALK_LOOKUP_DM, geo & ~WALK_GEO_4K, 0, &t, NULL, false);
	return walk_attempt(&r, NULL, walk_lookup_begin, step, levels, bytes, false, false,
			    WALK_LOOKUP_DM, geo, tw_shift, &t, NULL, false);
}

/* A family's lookup step from its codec (classify and output address, each
 * taking the format, the descriptor and the engine level). */
#define WALK_LOOKUP_CODEC_STEP(name, classify, output_addr)                                        \
	WALK_INLINE enum physim_fault_kind name(struct walk_state *w, uint64_t d, unsigned level,  \
						struct walk_step *s)                               \
	{                                                                                          \
		enum pt_kind k = classify(w->fmt, d, level);                                       \
		return walk_lookup_kind(                                                           \
		    k, k == PT_TABLE || k == PT_LEAF ? output_addr(w->fmt, d, level) : 0, s);      \
	}

/* A lookup function for pt_walk_ops.lookup[levels]: walk_lookup_loop with
 * these constants. */
#define WALK_LOOKUP_FN(name, step, levels, bytes, geo, tw_shift)                                   \
	static int name(const struct walk_lookup *lk, uint64_t va, struct walk_slot *slot,         \
			struct physim_pt_mapping *m)                                               \
	{                                                                                          \
		return walk_lookup_loop(lk, va, slot, m, step, levels, bytes, geo, tw_shift);      \
	}

/* The copy that reaches tables outside the direct map (through the paging
 * handler), for physim_pt_lookup_any: geometry from the mmu. */
WALK_INLINE int walk_lookup_loop_any(const struct walk_lookup *lk, uint64_t va,
				     struct walk_slot *slot, struct physim_pt_mapping *map,
				     walk_step_fn step, const unsigned levels, const unsigned bytes)
{
	struct physim_access acc = {.va = va};
	struct walk_req r = {
	    .m = &lk->m, .acc = &acc, .probe = true, .lk = lk, .slot = slot, .map = map};
	struct walk_tally t = {0};
	return walk_attempt(&r, NULL, walk_lookup_begin, step, levels, bytes, false, false,
			    WALK_LOOKUP_ANY, WALK_GEO_ANY, 0, &t, NULL, false);
}

#endif
