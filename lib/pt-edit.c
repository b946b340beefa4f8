/* SPDX-License-Identifier: MIT */
/* lib/pt-edit.c - the check/apply engine behind map, unmap and protect: one
 * recursive pass over a range that first checks and counts, then applies.
 *
 * Every mutating operation runs twice over the same range: a check pass that
 * changes nothing (it finds conflicts, corrupt tables and encodings the format
 * refuses, and counts the table frames the change will need), then - once all
 * of those frames are allocated - an apply pass that cannot fail. A failed
 * call therefore leaves the table and the frame count exactly as they were.
 * Tables the apply pass unlinks go back to the paging handler only after the
 * flush callback has run (break-before-free). */
#include "pt-priv.h"

#include <stdlib.h>

/* ---- operations ---- */

/* Flush reports: the start VA of every leaf an operation created, changed
 * or removed, once each (a new leaf too: without Svvptc, RISC-V needs an
 * SFENCE.VMA after making an entry valid); a split reports the huge page's
 * VA (one by-VA invalidation drops the whole huge entry). More than
 * FLUSH_BATCH distinct VAs become `all`. */
static void report(struct op *o, uint64_t va)
{
	physim_pt_flush_add(&o->fb, va);
}

static void report_run(struct op *o, uint64_t va, uint64_t n, uint64_t size)
{
	for (uint64_t i = 0; i < n && !o->fb.all; i++)
		report(o, va + i * size);
}

static void flush_send(struct op *o)
{
	physim_pt_flush_send(o->pt, &o->fb);
}

static physim_hpa_t pool_take(struct op *o, unsigned lvl)
{
	struct table_pool *p = &o->pool;
	if (PHYSIM_LIKELY(p->used[lvl] < o->need[lvl]))
		return p->pa[p->start[lvl] + p->used[lvl]++];
	/* The check pass counted wrong: an engine bug. Try the handler. */
	physim_hpa_t pa = 0;
	physim_log_error("pt: %s: table pool for level %u exhausted", o->f->name, lvl);
	if (physim_pt_table_alloc(o->pt, lvl, &pa) != 0)
		physim_log_error("pt: %s: emergency table allocation failed", o->f->name);
	return pa;
}

/* Room for every table the apply pass may unlink (the check pass counted
 * them): after the table has changed nothing may fail. */
static int unlink_room(struct op *o)
{
	struct unlink_list *u = &o->unlinked;
	u->pa = u->local;
	u->cap = UNLINK_LOCAL;
	if (o->unlink_need > UNLINK_LOCAL) {
		if (o->unlink_need > SIZE_MAX / sizeof(*u->pa))
			return -ENOMEM;
		u->pa = malloc((size_t)o->unlink_need * sizeof(*u->pa));
		if (u->pa == NULL)
			return -ENOMEM;
		u->cap = (size_t)o->unlink_need;
	}
	return 0;
}

static void unlink_room_free(struct op *o)
{
	if (o->unlinked.pa != o->unlinked.local)
		free(o->unlinked.pa);
	o->unlinked.pa = NULL;
}

/* Allocate every table the check pass counted, and room to defer the
 * frees; on failure return them all. */
static int pool_fill(struct op *o)
{
	struct table_pool *p = &o->pool;
	size_t total = 0;
	int urc = unlink_room(o);
	if (urc != 0)
		return urc;
	for (unsigned l = 0; l < o->f->levels; l++) {
		p->start[l] = total;
		p->used[l] = 0;
		total += o->need[l];
	}
	p->total = total;
	p->pa = p->local;
	if (total > POOL_LOCAL) {
		p->pa = malloc(total * sizeof(*p->pa));
		if (p->pa == NULL) {
			unlink_room_free(o);
			return -ENOMEM;
		}
	}
	for (unsigned l = 0; l < o->f->levels; l++) {
		for (size_t i = 0; i < o->need[l]; i++) {
			int rc = physim_pt_table_alloc(o->pt, l, &p->pa[p->start[l] + i]);
			if (rc == 0)
				continue;
			/* Return what was taken, newest first. */
			while (i-- > 0)
				physim_pt_table_free(o->pt, p->pa[p->start[l] + i]);
			while (l-- > 0)
				for (size_t j = 0; j < o->need[l]; j++)
					physim_pt_table_free(o->pt, p->pa[p->start[l] + j]);
			if (p->pa != p->local)
				free(p->pa);
			unlink_room_free(o);
			return rc;
		}
	}
	return 0;
}

static void pool_release(struct op *o)
{
	struct table_pool *p = &o->pool;
	for (unsigned l = 0; l < o->f->levels; l++) {
		if (p->used[l] != o->need[l])
			physim_log_error("pt: %s: level %u: %zu of %llu counted tables unused",
					 o->f->name, l, (size_t)(o->need[l] - p->used[l]),
					 (unsigned long long)o->need[l]);
		for (size_t i = p->used[l]; i < o->need[l]; i++)
			physim_pt_table_free(o->pt, p->pa[p->start[l] + i]);
	}
	if (p->pa != p->local)
		free(p->pa);
}

/* ---- break-before-free ----
 * A table the apply pass unlinks is not freed at once: a CPU's walk cache
 * may still hold a pointer to it (or descriptors read from it) until the
 * flush callback has invalidated, and a frame freed before that can be
 * reused as something else while a walker still follows it (Arm ARM DDI
 * 0487 D8.17.1, break-before-make for table entries; the RISC-V and x86
 * manuals' rules for freeing page-table pages). So the engine does what a
 * hypervisor does: clear the pointer, report the flush, then free. The
 * pending tables wait in o->unlinked, which pool_fill sized from the check
 * pass's count (each table the check pass resolves with check_table, and
 * each existing table an unmap descends into, which it may empty). */
static void unlink_defer(struct op *o, physim_hpa_t pa)
{
	struct unlink_list *u = &o->unlinked;
	o->fb.tables_freed = true;
	if (PHYSIM_UNLIKELY(u->n == u->cap)) {
		/* The check pass counted wrong: an engine bug. The table stays
		 * this table's (counted in table_frames, freed at destroy). */
		physim_log_error("pt: %s: not freeing %#llx: more tables unlinked than counted",
				 o->f->name, (unsigned long long)pa);
		return;
	}
	u->pa[u->n++] = pa;
}

/* After the flush callback: return the unlinked tables. One this table did
 * not allocate, or whose free the handler refuses, is logged by
 * physim_pt_table_free, and the frame is not lost: it is not freed, or
 * stays the table's (counted in table_frames, returned at destroy). */
static void unlinked_free(struct op *o)
{
	struct unlink_list *u = &o->unlinked;
	for (size_t i = 0; i < u->n; i++)
		physim_pt_table_free(o->pt, u->pa[i]);
	u->n = 0;
	unlink_room_free(o);
}

/* ---- whole subtrees ---- */

enum subtree_check {
	SUB_RESOLVE,   /* every table in it must be reachable (it will be freed) */
	SUB_NO_LEAVES, /* and it must map nothing (map without PHYSIM_REPLACE) */
};

static int check_subtree(struct op *o, unsigned lvl, physim_hpa_t pa, enum subtree_check m);

/* Check the table pointer d in entry idx of the table at table_pa (level
 * lvl) and the subtree it leads to. */
static int check_table(struct op *o, physim_hpa_t table_pa, uint64_t idx, uint64_t d, unsigned lvl,
		       enum subtree_check m)
{
	physim_hpa_t child = o->f->ops->output_addr(o->f, d, lvl);
	o->unlink_need++; /* the apply pass frees it (free_subtree) */
	int rc = physim_pt_child_check(o->pt, &o->seen, table_pa, idx, child, lvl - 1);
	if (rc != 0)
		return rc;
	/* A last-level table this table allocated is reachable (physim_pt_table_alloc
	 * checked) and will simply be freed: nothing to read. */
	if (lvl == 1 && m == SUB_RESOLVE && !o->pt->attached)
		return 0;
	return check_subtree(o, lvl - 1, child, m);
}

/* Check the subtree at pa (level lvl), whose own pointer the caller has
 * checked with physim_pt_child_check. */
static int check_subtree(struct op *o, unsigned lvl, physim_hpa_t pa, enum subtree_check m)
{
	const struct physim_pt_format *f = o->f;
	uint8_t *t = table_hva(o->pt, pa, lvl);
	if (t == NULL)
		return -EFAULT;
	if (lvl == 0 && m == SUB_RESOLVE)
		return 0;
	for (uint64_t i = 0, n = pt_level_entries(f, lvl); i < n; i++) {
		uint64_t d = pte_load(t, i, f->pte_bytes);
		enum pt_kind k = pte_kind(f, d, lvl);
		int rc = 0;
		if (k == PT_LEAF && m == SUB_NO_LEAVES)
			rc = -EEXIST;
		else if (k == PT_TABLE && lvl > 0)
			rc = check_table(o, pa, i, d, lvl, m);
		else if (k == PT_RESERVED || k == PT_TABLE)
			rc = lvl > 0 || m == SUB_NO_LEAVES ? -EFAULT : 0;
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Apply pass: free the table at pa and everything below it that this
 * table allocated, reporting the leaves; the caller has cleared (or is
 * about to clear) the pointer to it, and the frames go back only after the
 * flush (unlink_defer). The check pass has checked every pointer in it
 * (check_subtree). In an attached table a subtree may hold tables the
 * engine did not allocate: those are left alone (unlinked from the tree by
 * the caller), and their pointers to freed tables cleared. */
static void free_subtree(struct op *o, unsigned lvl, physim_hpa_t pa, uint64_t base)
{
	struct physim_pt *pt = o->pt;
	const struct physim_pt_format *f = pt->fmt;
	bool own = !pt->attached || pt_frameset_find(&pt->owned, pa) != NULL;
	uint64_t esize = pt_level_page_size(f, lvl);
	if (lvl > 0 || !o->fb.all) {
		uint8_t *t = table_hva(pt, pa, lvl);
		if (t == NULL)
			return;
		for (uint64_t i = 0, n = pt_level_entries(f, lvl); i < n; i++) {
			uint64_t d = pte_load(t, i, f->pte_bytes);
			enum pt_kind k = pte_kind(f, d, lvl);
			if (k == PT_TABLE && lvl > 0) {
				physim_hpa_t child = f->ops->output_addr(f, d, lvl);
				/* A last-level table of a table's own under a full
				 * flush has nothing to read: free_subtree would only
				 * defer it. Done here, without the call, for each
				 * of the hundreds of such tables a large unmap frees. */
				if (lvl == 1 && o->fb.all && !pt->attached)
					unlink_defer(o, child);
				else
					free_subtree(o, lvl - 1, child, base + i * esize);
				if (!own)
					pte_store(t, i, f->pte_bytes, 0);
			} else if (k == PT_LEAF) {
				report(o, base + i * esize);
			}
			if (lvl == 0 && o->fb.all)
				break;
		}
	}
	if (own)
		unlink_defer(o, pa);
}

/* No entry of the table at lvl is valid. Most of a table that an unmap just
 * emptied is zero: 64 bytes are checked at a time (relaxed loads, as
 * pte_load's), and only a block with a non-zero byte is classified entry by
 * entry. Tables are aligned to at least 64 bytes and sized in whole blocks,
 * but for LPA2 roots, which are never a child. */
static bool table_empty(const struct physim_pt_format *f, const uint8_t *t, unsigned lvl)
{
	const uint64_t n = pt_level_entries(f, lvl), per = 64 / f->pte_bytes;
	const uint64_t *w = (const uint64_t *)(const void *)t;
	for (uint64_t i = 0; i < n; i += per, w += 8) {
		uint64_t any = 0;
		if (PHYSIM_LIKELY(n - i >= per)) {
#pragma GCC unroll 8
			for (unsigned j = 0; j < 8; j++)
				any |= __atomic_load_n(w + j, __ATOMIC_RELAXED);
			if (PHYSIM_LIKELY(any == 0))
				continue;
		}
		for (uint64_t k = i; k < n && k < i + per; k++)
			if (pte_kind(f, pte_load(t, k, f->pte_bytes), lvl) != PT_INVALID)
				return false;
	}
	return true;
}

/* ---- entries as the check pass sees them ---- */

static inline enum pt_kind vt_entry(const struct op *o, const struct vt *v, unsigned lvl,
				    uint64_t idx, uint64_t *d)
{
	switch (v->kind) {
	case VT_REAL:
		*d = pte_load(v->t, idx, o->f->pte_bytes);
		return pte_kind(o->f, *d, lvl);
	case VT_EMPTY:
		*d = 0;
		return PT_INVALID;
	default:
		*d = 0;
		return PT_LEAF;
	}
}

/* pa and attributes of the leaf d (or the virtual leaf at es) at lvl. */
static void vt_leaf(const struct op *o, const struct vt *v, unsigned lvl, uint64_t d, uint64_t es,
		    uint64_t *pa, struct pt_leaf_attr *a)
{
	if (v->kind == VT_FULL) {
		*pa = v->pa + (es - v->base);
		*a = v->a;
		return;
	}
	memset(a, 0, sizeof(*a));
	o->f->ops->decode_leaf(o->f, d, lvl, a);
	*pa = pt_leaf_entry_pa(o->f, d, lvl, a->grouped, es);
}

static int op_table(struct op *o, unsigned lvl, const struct vt *v, uint64_t s, uint64_t e);

/* The entry at lvl where an operation on [cs, e] goes on: it covers [es,
 * es + esize), the operation's part of it ends at ce, and full says whether
 * that part is the whole entry. The prologue of map_entry, unmap_entry and
 * protect_entry. */
struct entry_span {
	uint64_t esize, es, ce;
	bool full;
};

static inline struct entry_span entry_span(const struct physim_pt_format *f, unsigned lvl,
					   uint64_t cs, uint64_t e)
{
	struct entry_span sp;
	sp.esize = pt_level_page_size(f, lvl);
	sp.es = cs & ~(sp.esize - 1);
	sp.ce = e - sp.es < sp.esize ? e : sp.es + (sp.esize - 1);
	sp.full = cs == sp.es && sp.ce == sp.es + (sp.esize - 1);
	return sp;
}

/* ---- grouped leaves ----
 * A run that the operation covers only in part stops being one: before the
 * apply pass touches any entry of it, every entry of the run is rewritten
 * plain (same address and attributes, without the group marking), and the
 * operation then treats them as the separate leaves they now are. The check
 * pass checks that those encodings exist. */
static int ungroup_run(struct op *o, unsigned lvl, const struct vt *v, uint64_t rs)
{
	const struct physim_pt_format *f = o->f;
	uint64_t esize = pt_level_page_size(f, lvl);
	uint64_t idx0 = pt_index(f, rs, lvl);
	bool changed = false;
	for (uint64_t i = 0, n = pt_group_entries(f, lvl); i < n; i++) {
		uint64_t d = pte_load(v->t, idx0 + i, f->pte_bytes), nd, pa;
		struct pt_leaf_attr a;
		if (pte_kind(f, d, lvl) != PT_LEAF)
			continue;
		vt_leaf(o, v, lvl, d, rs + i * esize, &pa, &a);
		if (!a.grouped)
			continue;
		a.grouped = false;
		int rc = f->ops->encode_leaf(f, pa, &a, lvl, &nd);
		if (rc != 0)
			return rc;
		if (o->apply)
			pte_store(v->t, idx0 + i, f->pte_bytes, nd);
		changed = true;
	}
	if (changed && o->apply)
		report(o, rs); /* the grouped leaf is gone */
	return 0;
}

/* Ungroup the runs at lvl that [s, e] covers in part: at most the first
 * and the last. */
static int ungroup_edges(struct op *o, unsigned lvl, const struct vt *v, uint64_t s, uint64_t e)
{
	const struct physim_pt_format *f = o->f;
	if (PHYSIM_LIKELY(f->group_log2[lvl] == 0) || v->kind != VT_REAL)
		return 0;
	uint64_t run = pt_group_size(f, lvl);
	uint64_t first = s & ~(run - 1), last = e & ~(run - 1);
	int rc = 0;
	if (s != first || e - first < run - 1)
		rc = ungroup_run(o, lvl, v, first);
	if (rc == 0 && last != first && e - last < run - 1)
		rc = ungroup_run(o, lvl, v, last);
	return rc;
}

/* Descend from entry idx (covering from es) of the table at lvl into the
 * table below - the existing one, a new empty one, or a new one holding the
 * huge leaf there split into the next level's pages - and run the operation
 * on [cs, ce]. In the check pass new tables are only counted (virtual). */
enum descend_how { DESCEND_EXISTING, DESCEND_NEW, DESCEND_SPLIT };

static int descend(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx, uint64_t d,
		   enum descend_how how, uint64_t es, uint64_t cs, uint64_t ce)
{
	const struct physim_pt_format *f = o->f;
	struct vt child = {.kind = VT_REAL};
	int rc;

	if (how == DESCEND_EXISTING) {
		child.tpa = f->ops->output_addr(f, d, lvl);
		/* The pointer is checked once, by the check pass; the apply
		 * pass follows the same pointers. */
		if (!o->apply) {
			rc =
			    physim_pt_child_check(o->pt, &o->seen, v->tpa, idx, child.tpa, lvl - 1);
			if (rc != 0)
				return rc;
		}
		child.t = table_hva(o->pt, child.tpa, lvl - 1);
		if (child.t == NULL)
			return -EFAULT; /* only the check pass can get here first */
		return op_table(o, lvl - 1, &child, cs, ce);
	}
	if (how == DESCEND_SPLIT) {
		uint64_t pa;
		struct pt_leaf_attr a;
		struct pt_leaf_run r;
		vt_leaf(o, v, lvl, d, es, &pa, &a);
		a.grouped = false; /* the pages of a split leaf are plain */
		uint64_t n = pt_level_entries(f, lvl - 1);
		rc = physim_pt_run_prepare(f, pa, &a, lvl - 1, n, &r);
		if (rc != 0)
			return rc;
		if (!o->apply) {
			o->need[lvl - 1]++;
			child = (struct vt){.kind = VT_FULL, .base = es, .pa = pa, .a = a};
			return op_table(o, lvl - 1, &child, cs, ce);
		}
		physim_hpa_t tpa = pool_take(o, lvl - 1);
		child.t = table_hva(o->pt, tpa, lvl - 1);
		child.tpa = tpa;
		physim_pt_run_write(f, child.t, 0, n, pa, &a, lvl - 1, &r);
		pte_store(v->t, idx, f->pte_bytes, f->ops->encode_table(f, tpa, lvl));
		physim_pt_link_set(o->pt, tpa, v->tpa, idx);
		report(o, es); /* the huge leaf is gone */
		return op_table(o, lvl - 1, &child, cs, ce);
	}
	if (!o->apply) {
		o->need[lvl - 1]++;
		child.kind = VT_EMPTY;
		return op_table(o, lvl - 1, &child, cs, ce);
	}
	physim_hpa_t tpa = pool_take(o, lvl - 1);
	child.t = table_hva(o->pt, tpa, lvl - 1);
	child.tpa = tpa;
	pte_store(v->t, idx, f->pte_bytes, f->ops->encode_table(f, tpa, lvl));
	physim_pt_link_set(o->pt, tpa, v->tpa, idx);
	return op_table(o, lvl - 1, &child, cs, ce);
}

/* ---- map ---- */

/* Check / replace what is in the n entries a run of new leaves will cover. */
static int map_run_check(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx, uint64_t n)
{
	const struct physim_pt_format *f = o->f;
	if (v->kind == VT_EMPTY)
		return 0;
	if (v->kind == VT_FULL)
		return o->replace ? 0 : -EEXIST;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t d = pte_load(v->t, idx + i, f->pte_bytes);
		enum pt_kind k = pte_kind(f, d, lvl);
		int rc = 0;
		if (k == PT_RESERVED || (k == PT_TABLE && lvl == 0))
			rc = -EFAULT;
		else if (k == PT_TABLE)
			rc = check_table(o, v->tpa, idx + i, d, lvl,
					 o->replace ? SUB_RESOLVE : SUB_NO_LEAVES);
		else if (k == PT_LEAF && !o->replace)
			rc = -EEXIST;
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void map_run_clear_old(struct op *o, unsigned lvl, uint8_t *t, uint64_t idx, uint64_t n,
			      uint64_t es)
{
	const struct physim_pt_format *f = o->f;
	uint64_t esize = pt_level_page_size(f, lvl);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t d = pte_load(t, idx + i, f->pte_bytes);
		enum pt_kind k = pte_kind(f, d, lvl);
		if (k == PT_TABLE && lvl > 0)
			free_subtree(o, lvl - 1, f->ops->output_addr(f, d, lvl), es + i * esize);
		else if (k == PT_LEAF)
			report(o, es + i * esize);
	}
}

/* Write n new leaves at lvl from entry idx (covering from es), grouped or
 * not (apply pass). */
static void map_write(struct op *o, unsigned lvl, uint8_t *t, uint64_t idx, uint64_t n, uint64_t es,
		      bool grouped)
{
	uint64_t pa = o->pa + (es - o->va);
	struct pt_leaf_attr a;
	struct pt_leaf_run r;
	if (physim_pt_map_prepare(o, lvl, pa, n, grouped, &a, &r) != 0)
		physim_log_error("pt: %s: encode_leaf failed after check", o->f->name);
	physim_pt_run_write(o->f, t, idx, n, pa, &a, lvl, &r);
}

/* Check pass: the n leaves map_write will write encode. */
static int map_check_write(struct op *o, unsigned lvl, uint64_t n, uint64_t es, bool grouped)
{
	struct pt_leaf_attr a;
	struct pt_leaf_run r;
	return physim_pt_map_prepare(o, lvl, o->pa + (es - o->va), n, grouped, &a, &r);
}

/* The grouped part [*g0, *g1) of the entries [idx, idx + n) at lvl: whole
 * aligned runs whose output is aligned to the run size too. false: none. */
static bool map_groups(const struct op *o, unsigned lvl, uint64_t idx, uint64_t n, uint64_t *g0,
		       uint64_t *g1)
{
	const struct physim_pt_format *f = o->f;
	if (!(o->group_mask >> lvl & 1) || o->descs != NULL || f->group_log2[lvl] == 0)
		return false;
	uint64_t g = pt_group_entries(f, lvl);
	if ((o->pa - o->va) & (pt_group_size(f, lvl) - 1))
		return false;
	*g0 = (idx + g - 1) & ~(g - 1);
	*g1 = (idx + n) & ~(g - 1);
	return *g0 < *g1;
}

/* n new leaves at lvl from entry idx (covering from es); where whole runs
 * fit and the caller allows it, grouped leaves. */
static int map_run(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx, uint64_t n,
		   uint64_t es)
{
	const struct physim_pt_format *f = o->f;
	uint64_t esize = pt_level_page_size(f, lvl);
	uint64_t g0, g1;
	bool grouped = map_groups(o, lvl, idx, n, &g0, &g1);
	if (!grouped)
		g0 = g1 = idx + n;

	if (!o->apply) {
		/* Each part encodes (check_write), then what is there may go. */
		int rc = 0;
		if (o->descs == NULL && g0 > idx)
			rc = map_check_write(o, lvl, g0 - idx, es, false);
		if (rc == 0 && g1 > g0)
			rc = map_check_write(o, lvl, g1 - g0, es + (g0 - idx) * esize, true);
		if (rc == 0 && o->descs == NULL && idx + n > g1)
			rc = map_check_write(o, lvl, idx + n - g1, es + (g1 - idx) * esize, false);
		return rc != 0 ? rc : map_run_check(o, lvl, v, idx, n);
	}
	/* Without PHYSIM_REPLACE the check pass saw only holes and, above
	 * level 0, empty tables: those still have to be freed. */
	if (o->replace || lvl > 0)
		map_run_clear_old(o, lvl, v->t, idx, n, es);
	if (o->descs != NULL) {
		const uint64_t *src = o->descs + ((es - o->va) >> f->level[0].shift);
		for (uint64_t i = 0; i < n; i++)
			pte_store(v->t, idx + i, f->pte_bytes, src[i]);
	} else {
		/* Plain head, grouped middle, plain tail. */
		if (g0 > idx)
			map_write(o, lvl, v->t, idx, g0 - idx, es, false);
		if (g1 > g0)
			map_write(o, lvl, v->t, g0, g1 - g0, es + (g0 - idx) * esize, true);
		if (idx + n > g1)
			map_write(o, lvl, v->t, g1, idx + n - g1, es + (g1 - idx) * esize, false);
	}
	report_run(o, es, n, esize);
	return 0;
}

/* Map [cs, e] from entry idx of the table at lvl; *done = last address handled. */
static int map_entry(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx, uint64_t cs,
		     uint64_t e, uint64_t *done)
{
	const struct physim_pt_format *f = o->f;
	unsigned shift = f->level[lvl].shift;
	struct entry_span sp = entry_span(f, lvl, cs, e);
	uint64_t esize = sp.esize, es = sp.es, ce = sp.ce;
	bool full = sp.full;
	uint64_t pa = o->pa + (cs - o->va);

	if (full && (o->leaf_mask >> lvl & 1) && (o->descs != NULL || (pa & (esize - 1)) == 0)) {
		uint64_t n = (e - cs + 1) >> shift;
		uint64_t left = pt_level_entries(f, lvl) - idx;
		if (n > left)
			n = left;
		*done = es + (n * esize - 1);
		return map_run(o, lvl, v, idx, n, es);
	}
	*done = ce;
	if (lvl == 0)
		return -EINVAL; /* unreachable: level 0 always takes granule leaves */
	uint64_t d;
	switch (vt_entry(o, v, lvl, idx, &d)) {
	case PT_INVALID:
		return descend(o, lvl, v, idx, d, DESCEND_NEW, es, cs, ce);
	case PT_TABLE:
		return descend(o, lvl, v, idx, d, DESCEND_EXISTING, es, cs, ce);
	case PT_LEAF:
		if (!o->replace)
			return -EEXIST;
		if (!full)
			return descend(o, lvl, v, idx, d, DESCEND_SPLIT, es, cs, ce);
		if (o->apply)
			report(o, es);
		return descend(o, lvl, v, idx, d, DESCEND_NEW, es, cs, ce);
	default:
		return -EFAULT;
	}
}

/* ---- unmap ---- */

/* Apply pass at level 0: report the leaves, then clear the entries. */
static void unmap_l0_run(struct op *o, uint8_t *t, uint64_t idx, uint64_t n, uint64_t es)
{
	const struct physim_pt_format *f = o->f;
	uint64_t esize = pt_level_page_size(f, 0);
	for (uint64_t i = 0; i < n && !o->fb.all; i++)
		if (pte_kind(f, pte_load(t, idx + i, f->pte_bytes), 0) == PT_LEAF)
			report(o, es + i * esize);
	memset(t + idx * f->pte_bytes, 0, n * f->pte_bytes);
}

static int unmap_table_entry(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx,
			     uint64_t d, bool full, uint64_t es, uint64_t cs, uint64_t ce)
{
	const struct physim_pt_format *f = o->f;
	physim_hpa_t child = f->ops->output_addr(f, d, lvl);
	/* A wholly covered subtree goes at once, unless tables are kept. */
	if (full && !o->pt->keep_empty) {
		if (!o->apply)
			return check_table(o, v->tpa, idx, d, lvl, SUB_RESOLVE);
		pte_store(v->t, idx, f->pte_bytes, 0);
		free_subtree(o, lvl - 1, child, es);
		return 0;
	}
	if (!o->apply && !o->pt->keep_empty)
		o->unlink_need++; /* the unmap may empty it */
	int rc = descend(o, lvl, v, idx, d, DESCEND_EXISTING, es, cs, ce);
	if (rc != 0 || !o->apply || o->pt->keep_empty)
		return rc;
	/* An emptied table goes, if it is one this table allocated (in a table
	 * not attached, every table the check pass let through is): unlinked
	 * now, freed after the flush. */
	if ((!o->pt->attached || pt_frameset_find(&o->pt->owned, child) != NULL) &&
	    table_empty(f, table_hva(o->pt, child, lvl - 1), lvl - 1)) {
		pte_store(v->t, idx, f->pte_bytes, 0);
		unlink_defer(o, child);
	}
	return 0;
}

static int unmap_entry(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx, uint64_t cs,
		       uint64_t e, uint64_t *done)
{
	const struct physim_pt_format *f = o->f;
	unsigned shift = f->level[lvl].shift;
	struct entry_span sp = entry_span(f, lvl, cs, e);
	uint64_t esize = sp.esize, es = sp.es, ce = sp.ce;
	bool full = sp.full;

	if (lvl == 0) {
		/* Granule aligned: level-0 entries are always wholly covered. */
		uint64_t n = ((e - cs) >> shift) + 1;
		uint64_t left = pt_level_entries(f, 0) - idx;
		if (n > left)
			n = left;
		*done = es + (n * esize - 1);
		if (o->apply)
			unmap_l0_run(o, v->t, idx, n, es);
		else if (v->kind == VT_REAL)
			for (uint64_t i = 0; i < n; i++)
				if (pte_kind(f, pte_load(v->t, idx + i, f->pte_bytes), 0) ==
				    PT_TABLE)
					return -EFAULT;
		return 0;
	}
	*done = ce;
	uint64_t d;
	switch (vt_entry(o, v, lvl, idx, &d)) {
	case PT_INVALID:
		return 0;
	case PT_LEAF:
		if (!full)
			return descend(o, lvl, v, idx, d, DESCEND_SPLIT, es, cs, ce);
		if (o->apply) {
			pte_store(v->t, idx, f->pte_bytes, 0);
			report(o, es);
		}
		return 0;
	case PT_TABLE:
		return unmap_table_entry(o, lvl, v, idx, d, full, es, cs, ce);
	default:
		return -EFAULT;
	}
}

/* ---- protect ---- */

/* The arch bits of a leaf that its generic flags do not already imply: a
 * format may report the memory type both as PHYSIM_DEVICE and as raw bits
 * (x86 PCD/PWT, AArch64 AttrIndx); protect and remap take the memory type
 * from the new flags and keep only the bits set for their own sake (global,
 * protection key, shareability chosen by the caller...). */
uint64_t physim_pt_explicit_arch(const struct physim_pt_format *f, uint64_t pa, unsigned lvl,
				 const struct pt_leaf_attr *old)
{
	if (old->arch == 0)
		return 0;
	struct pt_leaf_attr plain = {.flags = old->flags}, implied = {0};
	uint64_t d;
	if (f->ops->encode_leaf(f, pa, &plain, lvl, &d) != 0)
		return old->arch;
	f->ops->decode_leaf(f, d, lvl, &implied);
	return old->arch & ~implied.arch;
}

static void protect_attr(const struct op *o, uint64_t pa, unsigned lvl,
			 const struct pt_leaf_attr *old, struct pt_leaf_attr *a)
{
	a->flags = o->flags;
	a->arch = physim_pt_explicit_arch(o->f, pa, lvl, old);
	/* New flags that name a memory type replace a raw one (pt.h). */
	if (o->flags & (PHYSIM_DEVICE | PHYSIM_UNCACHED))
		a->arch &= ~o->f->arch_memtype_mask;
	a->accessed = old->accessed || o->f->set_accessed_on_map;
	a->dirty = old->dirty || (o->f->set_dirty_on_map && (o->flags & PHYSIM_W));
	/* A run covered in part was ungrouped first (apply pass); a whole run
	 * keeps its marking in every entry. */
	a->grouped = old->grouped;
}

static int protect_leaf(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx, uint64_t d,
			uint64_t es)
{
	const struct physim_pt_format *f = o->f;
	uint64_t pa, nd;
	struct pt_leaf_attr old, a;
	vt_leaf(o, v, lvl, d, es, &pa, &old);
	protect_attr(o, pa, lvl, &old, &a);
	int rc = f->ops->encode_leaf(f, pa, &a, lvl, &nd);
	if (rc != 0 || !o->apply)
		return rc;
	if (nd != d) {
		pte_store(v->t, idx, f->pte_bytes, nd);
		report(o, es);
	}
	return 0;
}

static int protect_entry(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx, uint64_t cs,
			 uint64_t e, uint64_t *done)
{
	struct entry_span sp = entry_span(o->f, lvl, cs, e);
	uint64_t es = sp.es, ce = sp.ce;
	bool full = sp.full;
	uint64_t d;

	*done = ce;
	switch (vt_entry(o, v, lvl, idx, &d)) {
	case PT_INVALID:
		return 0;
	case PT_LEAF:
		if (full)
			return protect_leaf(o, lvl, v, idx, d, es);
		return descend(o, lvl, v, idx, d, DESCEND_SPLIT, es, cs, ce);
	case PT_TABLE:
		if (lvl == 0)
			return -EFAULT;
		return descend(o, lvl, v, idx, d, DESCEND_EXISTING, es, cs, ce);
	default:
		return -EFAULT;
	}
}

/* Run the operation over [s, e] (inclusive, within the table's span). */
static int op_table(struct op *o, unsigned lvl, const struct vt *v, uint64_t s, uint64_t e)
{
	uint64_t cs = s;
	int grc = ungroup_edges(o, lvl, v, s, e);
	if (grc != 0)
		return grc;
	for (;;) {
		uint64_t idx = pt_index(o->f, cs, lvl);
		uint64_t done = e;
		int rc;
		switch (o->kind) {
		case OP_MAP:
			rc = map_entry(o, lvl, v, idx, cs, e, &done);
			break;
		case OP_UNMAP:
			rc = unmap_entry(o, lvl, v, idx, cs, e, &done);
			break;
		default:
			rc = protect_entry(o, lvl, v, idx, cs, e, &done);
			break;
		}
		if (rc != 0 || done >= e)
			return rc;
		cs = done + 1;
	}
}

/* Check pass; then allocate, apply, flush, free what was unlinked. */
int physim_pt_op_check(struct op *o)
{
	struct vt root = {.kind = VT_REAL, .t = o->pt->root_hva, .tpa = o->pt->root};
	o->apply = false;
	int rc = physim_pt_seen_start(o->pt, &o->seen);
	if (rc == 0)
		rc = op_table(o, o->f->levels - 1u, &root, o->va, o->last);
	pt_frameset_free(&o->seen);
	return rc;
}

int physim_pt_op_commit(struct op *o)
{
	struct vt root = {.kind = VT_REAL, .t = o->pt->root_hva, .tpa = o->pt->root};
	int rc = pool_fill(o);
	if (rc != 0)
		return rc;
	o->apply = true;
	rc = op_table(o, o->f->levels - 1u, &root, o->va, o->last);
	if (rc != 0)
		physim_log_error("pt: %s: apply pass failed after check: %s", o->f->name,
				 physim_strerror(rc));
	pool_release(o);
	/* Tables unlinked with no leaf under them (empty ones, possible in an
	 * attached table) still need their cached pointers invalidated. */
	if (o->unlinked.n > 0 && o->fb.n == 0)
		o->fb.all = true;
	flush_send(o);
	unlinked_free(o); /* break-before-free: only after the flush */
	return 0;
}

void physim_pt_op_init(struct op *o, struct physim_pt *pt, enum op_kind kind, uint64_t va,
		       uint64_t size)
{
	memset(o, 0, sizeof(*o));
	o->pt = pt;
	o->f = pt->fmt;
	o->kind = kind;
	o->va = va;
	o->last = va + (size - 1);
}
