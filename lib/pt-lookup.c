/* SPDX-License-Identifier: MIT */
/* lib/pt-lookup.c - lookups of one address on the one walk loop in lookup
 * mode (lib/walk-loop.h): physim_pt_query, its memo of decoded leaves, and
 * the leaf finder of the single-page calls. */
#include "pt-priv.h"
#include "walk-loop.h"
#include "pt-memo.h"

#include <stdlib.h>

/* Learning a field: address bit b shows up as one descriptor bit (else the
 * level is not memoised), b + shift, the same shift for every bit (else
 * the field is in parts, as with FEAT_LPA2's OA[51:50] in bits 9:8: the
 * memo keeps the leaf's attributes, the codec gives its address). */
struct field_learner {
	uint64_t mask;
	int shift;
	bool started, bad, parts;
};

static void learner_add(struct field_learner *fl, unsigned b, uint64_t e, bool round_trip)
{
	if (!round_trip || !physim_is_pow2(e)) {
		fl->bad = true;
		return;
	}
	int shift = __builtin_ctzll(e) - (int)b;
	if (fl->started && shift != fl->shift)
		fl->parts = true;
	fl->started = true;
	fl->shift = shift;
	fl->mask |= e;
}

static void learner_done(const struct field_learner *fl, struct addr_field *af)
{
	af->keyed = !fl->bad && fl->mask != 0;
	af->ok = af->keyed && !fl->parts;
	af->key_mask = fl->mask;
	af->mask = fl->mask;
	af->rs = (uint8_t)(fl->shift > 0 ? fl->shift : 0);
	af->ls = (uint8_t)(fl->shift < 0 ? -fl->shift : 0);
}

static void learn_leaf_field(const struct physim_pt_format *f, unsigned lvl, struct addr_field *af)
{
	static const uint32_t try_flags[] = {
	    PHYSIM_R, PHYSIM_R | PHYSIM_W, PHYSIM_R | PHYSIM_X, PHYSIM_R | PHYSIM_W | PHYSIM_X, 0,
	};
	struct field_learner fl = {0};
	struct pt_leaf_attr a = {0};
	uint64_t x0 = 0, d;
	af->ok = false;
	for (size_t i = 0;; i++) {
		if (i == sizeof(try_flags) / sizeof(try_flags[0]))
			return;
		a.flags = try_flags[i];
		if (f->ops->encode_leaf(f, 0, &a, lvl, &x0) == 0)
			break;
	}
	for (unsigned b = f->level[lvl].shift; b < f->pa_bits && b < 64; b++) {
		uint64_t pa = UINT64_C(1) << b;
		if (f->ops->encode_leaf(f, pa, &a, lvl, &d) != 0 || (d ^ x0) == 0)
			break;
		learner_add(&fl, b, d ^ x0, f->ops->output_addr(f, d, lvl) == pa);
	}
	learner_done(&fl, af);
}

struct query_memo *physim_pt_memo_create(const struct physim_pt_format *f)
{
	struct query_memo *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return NULL;
	for (unsigned l = 0; l < PHYSIM_PT_MAX_LEVELS; l++) {
		struct addr_field *lf = &q->leaf_field[l];
		if (l < f->levels && f->level[l].leaf_ok)
			learn_leaf_field(f, l, lf);
		if (!lf->ok)
			lf->mask = UINT64_MAX; /* every probe's key 0: never found */
		lf->empty = lf->keyed ? lf->key_mask : UINT64_MAX;
		for (unsigned i = 0; i < (1u << MEMO_LEAF_LOG2); i++)
			atomic_init(&q->leaf[l][i].key, lf->empty);
	}
	return q;
}

static void memo_leaf_put(struct query_memo *q, unsigned lvl, uint64_t key, uint32_t info,
			  uint64_t arch)
{
	const uint64_t empty = q->leaf_field[lvl].empty;
	const size_t h = memo_hash(key, MEMO_LEAF_LOG2);
	for (unsigned i = 0; i < MEMO_WAYS; i++) {
		struct leaf_memo *e = &q->leaf[lvl][(h + i) & ((1u << MEMO_LEAF_LOG2) - 1)];
		uint64_t k = atomic_load_explicit(&e->key, memory_order_relaxed);
		if (k == empty && atomic_compare_exchange_strong_explicit(&e->key, &k, MEMO_BUSY,
									  memory_order_relaxed,
									  memory_order_relaxed)) {
			atomic_store_explicit(&e->arch, arch, memory_order_relaxed);
			atomic_store_explicit(&e->info, info, memory_order_relaxed);
			atomic_store_explicit(&e->key, key, memory_order_release);
			return;
		}
		if (k == key)
			return; /* another query put it */
	}
	/* Every way taken by other keys: decoded each time. */
}

void physim_pt_use_memo(struct physim_pt *pt, bool on)
{
	if (on && pt->memo == NULL) {
		pt->memo = pt->memo_off;
		pt->memo_off = NULL;
	} else if (!on && pt->memo != NULL) {
		pt->memo_off = pt->memo;
		pt->memo = NULL;
	}
	pt->lk.memo = pt->memo;
}

static inline void mapping_fill(struct physim_pt_mapping *m, uint64_t va, unsigned lvl,
				uint64_t size, uint64_t pa, uint32_t flags, uint64_t arch,
				bool accessed, bool dirty)
{
	m->va = va & ~(size - 1);
	m->pa = pa;
	m->size = size;
	m->flags = flags;
	m->arch = arch;
	m->level = lvl;
	m->accessed = accessed;
	m->dirty = dirty;
}

/* The mapping of leaf d at lvl whose output address is pa (the format's
 * output_addr), by the format's decode_leaf; remembered under key (0:
 * not). */
static void leaf_decode(const struct physim_pt *pt, uint64_t va, unsigned lvl, uint64_t d,
			uint64_t pa, uint64_t key, struct physim_pt_mapping *m)
{
	const struct physim_pt_format *f = pt->fmt;
	struct pt_leaf_attr a = {0};
	f->ops->decode_leaf(f, d, lvl, &a);
	if (PHYSIM_UNLIKELY(a.grouped)) {
		/* One leaf: the whole run (never memoised, so the memo's
		 * answers stay those of plain leaves). */
		uint64_t run = pt_group_size(f, lvl);
		mapping_fill(m, va, lvl, run, pa & ~(run - 1), a.flags, a.arch, a.accessed,
			     a.dirty);
		return;
	}
	mapping_fill(m, va, lvl, pt_level_page_size(f, lvl), pa, a.flags, a.arch, a.accessed,
		     a.dirty);
	if (key != 0)
		memo_leaf_put(pt->memo, lvl, key,
			      a.flags | (a.accessed ? 1u << 8 : 0) | (a.dirty ? 1u << 9 : 0),
			      a.arch);
}

/* The mapping of leaf d at lvl whose output address is pa, from the memo
 * or by decode_leaf. */
static void leaf_mapping_at(const struct physim_pt *pt, uint64_t va, unsigned lvl, uint64_t d,
			    uint64_t pa, struct physim_pt_mapping *m)
{
	struct query_memo *q = pt->memo;
	uint64_t key = 0;
	if (q != NULL) {
		const struct addr_field *lf = &q->leaf_field[lvl];
		if (lf->keyed && (!lf->ok || field_out(lf, d) == pa)) {
			key = d & ~lf->key_mask;
			uint32_t info;
			uint64_t arch;
			if (pt_memo_find(q, lvl, key, &info, &arch)) {
				mapping_fill(m, va, lvl, pt_level_page_size(pt->fmt, lvl), pa,
					     info & 0xff, arch, info >> 8 & 1, info >> 9 & 1);
				return;
			}
		}
	}
	leaf_decode(pt, va, lvl, d, pa, key, m);
}

int physim_pt_lookup_decode(const struct walk_lookup *lk, uint64_t va, unsigned level, uint64_t d,
			    uint64_t pa, struct physim_pt_mapping *m)
{
	leaf_mapping_at(lk->pt, va, level, d, pa, m);
	m->addr_pa = m->pa + (va - m->va);
	return 0;
}

void physim_pt_leaf_mapping(const struct physim_pt *pt, uint64_t va, unsigned lvl, uint64_t d,
			    struct physim_pt_mapping *m)
{
	leaf_mapping_at(pt, va, lvl, d, pt->fmt->ops->output_addr(pt->fmt, d, lvl), m);
}

/* ---- lookups on the one walk loop (lib/walk-loop.h, lookup mode) ----
 * Measured against the engine's own loop it replaced (742e7b4: an unrolled
 * copy for the common geometry plus a memo of table pointers), on a shared
 * 2-core machine: instructions per random query (callgrind, 1 GiB of 4 KiB
 * pages) 157 -> 146 (x86-64), 154 -> 145 (AArch64 4K), 157 -> 149 (Sv48),
 * 1024 -> 251 (AArch64 4K LPA2, now memoised). A first version with the
 * geometry read from the mmu, a slot handed back to be converted and a
 * seqlocked memo took 192 - 197 and was 30% slower; what made up for it:
 * constant 4 KiB geometry (WALK_GEO_4K), one instantiation per level count,
 * the mapping filled in the loop and a tail call from physim_pt_query, no
 * call inside the common copy (WALK_LOOKUP_DM), and the write-once memo.
 * Without the leaf memo a query costs 226 (x86-64) and 261 (Sv48)
 * instructions (decode_leaf through the format's ops): the memo stays.
 * Time, as first merged: fewer instructions but up to 8% slower. What
 * made it faster than the old loop: the root's index shift a constant too,
 * and where the fast path ignores no bit (WALK_GEO_EXACT) the next table's
 * host address as a constant plus d << tw_shift (one lea after the load,
 * no mask). Measured in one process, the same 2^20 queries over 1 GiB of
 * 4 KiB pages through the old library (9304926) and this one, batches of
 * 8192 alternated, 300 pairs, median of the paired ratios new / old:
 * sequential 0.93 (x86-64), 0.94 (AArch64 4K), 0.94 (Sv48), 0.92
 * (LoongArch, whose directory pointers now take the fast path), 0.96
 * (EPT), 0.96 (Sv39); random 0.95, 0.92, 0.97, 0.97, 0.90, 0.99; the
 * formats the old unrolled copy did not cover: AArch64 16K 0.37 / 0.44,
 * LPA2 0.28 / 0.41, ARMv7 0.50 / 0.41. A cache of the tables on the way
 * to each 2 MiB, read all at once and checked from the root down, was
 * tried and was 6-10% slower: its own loads cost what they saved. */

uint8_t *physim_pt_lookup_table_slow(const struct walk_lookup *lk, uint64_t pa, unsigned level)
{
	return physim_pt_hva_slow(lk->pt, pa, lk->pt->tbytes[level]);
}

/* For formats without walk rules (or without a lookup in them): the loop
 * with the format's own calls as its step, levels not a constant. */
static inline __attribute__((always_inline)) enum physim_fault_kind
ops_lookup_step(struct walk_state *w, uint64_t d, unsigned level, struct walk_step *s)
{
	const struct physim_pt_format *f = w->fmt;
	enum pt_kind k = pte_kind(f, d, level);
	return walk_lookup_kind(
	    k, k == PT_TABLE || k == PT_LEAF ? f->ops->output_addr(f, d, level) : 0, s);
}

static int ops_lookup_8(const struct walk_lookup *lk, uint64_t va, struct walk_slot *slot,
			struct physim_pt_mapping *m)
{
	return walk_lookup_loop_any(lk, va, slot, m, ops_lookup_step, lk->m.cfg.format->levels, 8);
}

static int ops_lookup_4(const struct walk_lookup *lk, uint64_t va, struct walk_slot *slot,
			struct physim_pt_mapping *m)
{
	return walk_lookup_loop_any(lk, va, slot, m, ops_lookup_step, lk->m.cfg.format->levels, 4);
}

/* A table outside the direct map (a paging handler without one, or with
 * part of table memory outside it): rare, so the format's calls serve. */
int physim_pt_lookup_any(const struct walk_lookup *lk, uint64_t va, struct walk_slot *slot,
			 struct physim_pt_mapping *m)
{
	if (lk->m.cfg.format->pte_bytes == 8)
		return ops_lookup_8(lk, va, slot, m);
	return ops_lookup_4(lk, va, slot, m);
}

void physim_pt_lookup_init(struct physim_pt *pt)
{
	const struct physim_pt_format *f = pt->fmt;
	struct walk_lookup *lk = &pt->lk;
	physim_mmu_init_lookup(&lk->m, f, pt->ph, pt->root);
	physim_mmu_init_default(&pt->xm, pt->pub_fmt, pt->ph, pt->root);
	lk->root_hva = pt->root_hva;
	lk->dm_host = (uintptr_t)pt->dm.hva - (uintptr_t)pt->dm.base;
	/* The common copy's window on the direct map leaves out the frame at
	 * physical 0: a zero descriptor may take the loop's fast path for a
	 * table pointer (LoongArch's is a bare address) and so name a
	 * "table" at 0; a table really there is reached by the copy that
	 * goes through the paging handler (walk-loop.h, WALK_LOOKUP_ANY). */
	uint64_t skip = pt->dm.base < PHYSIM_FRAME_SIZE && pt->dm.size != 0
			    ? PHYSIM_FRAME_SIZE - pt->dm.base
			    : 0;
	uint64_t size = pt->dm.size > skip ? pt->dm.size - skip : 0;
	lk->dm_base = pt->dm.base + skip;
	for (unsigned l = 0; l < f->levels; l++)
		lk->tlim[l] = size >= pt->tbytes[l] ? size - pt->tbytes[l] + 1 : 0;
	for (unsigned l = 0; l < PHYSIM_PT_MAX_LEVELS; l++)
		lk->tw_host[l] = lk->dm_host - (uintptr_t)(lk->m.tw_val[l] << lk->m.tw_shift);
	lk->pt = pt;
	lk->memo = pt->memo;
	if (f->walk != NULL && f->walk->lookup[f->levels] != NULL)
		pt->lookup = f->walk->lookup[f->levels];
	else
		pt->lookup = f->pte_bytes == 8 ? ops_lookup_8 : ops_lookup_4;
}

const struct physim_mmu *physim_pt_default_mmu(const struct physim_pt *pt)
{
	return &pt->xm;
}

/* The leaf containing va, for the single-page calls. */
int physim_pt_find_page(const struct physim_pt *pt, uint64_t va, struct hit *h,
			struct physim_pt_mapping *m)
{
	if (!va_ok(pt->fmt, va))
		return -EINVAL;
	struct walk_slot s;
	int rc = pt->lookup(&pt->lk, va, &s, m);
	if (rc < 0)
		return rc;
	*h = (struct hit){.t = s.t, .idx = s.off / pt->fmt->pte_bytes, .lvl = s.level, .d = s.d};
	return 0;
}

int physim_pt_query(const struct physim_pt *pt, uint64_t va, struct physim_pt_mapping *out)
{
	if (PHYSIM_UNLIKELY(pt == NULL))
		return -EINVAL;
	if (!pt_va_in(&pt->va_range, va))
		return -EINVAL; /* outside the input range */
	/* The family's instantiation fills *out itself: a tail call. */
	return pt->lookup(&pt->lk, va, NULL, out);
}
