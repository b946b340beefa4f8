/* SPDX-License-Identifier: MIT */
/* lib/pt-iter.c - iteration over a range: physim_pt_walk, the internal
 * iteration that hands its callback the descriptor slot, and clear_ad. */
#include "pt-priv.h"

/* One traversal serves both: the public walk (ops) and the internal
 * iteration that hands over the slot of each leaf (slot_fn; ops NULL). */
struct walker {
	const struct physim_pt *pt;
	const struct physim_pt_walk_ops *ops;
	physim_pt_slot_fn slot_fn;
	void *ctx;
	struct pt_frameset seen; /* attached tables: the tables met */
	bool root_told;		 /* ops->table had the root (whole-range walks) */
	/* The grouped leaf reported last (public walk: one leaf per run). */
	bool in_run;
	uint64_t run_va;
};

static int walk_leaf(struct walker *w, uint8_t *t, uint64_t idx, unsigned lvl, uint64_t d,
		     uint64_t es)
{
	if (w->slot_fn != NULL) {
		struct pt_slot s = {.t = t, .idx = idx, .lvl = lvl, .d = d};
		physim_pt_leaf_mapping(w->pt, es, lvl, d, &s.m);
		return w->slot_fn(w->ctx, &s);
	}
	if (w->ops->leaf == NULL)
		return 0;
	struct physim_pt_mapping m;
	physim_pt_leaf_mapping(w->pt, es, lvl, d, &m);
	if (m.size != pt_level_page_size(w->pt->fmt, lvl)) {
		/* An entry of a grouped leaf: the run is reported once, at the
		 * first of its entries the walk meets. */
		if (w->in_run && w->run_va == m.va)
			return 0;
		w->in_run = true;
		w->run_va = m.va;
	}
	return w->ops->leaf(w->ctx, &m);
}

static int walk_hole(struct walker *w, uint64_t va, uint64_t last, unsigned lvl)
{
	return w->ops != NULL && w->ops->hole ? w->ops->hole(w->ctx, va, last - va + 1, lvl) : 0;
}

/* Visit [s, e] of the table t at lvl (at pa, covering [tva, tva + span)). */
static int walk_table(struct walker *w, unsigned lvl, physim_hpa_t pa, uint8_t *t, uint64_t tva,
		      uint64_t span, uint64_t s, uint64_t e)
{
	const struct physim_pt_format *f = w->pt->fmt;
	uint64_t esize = pt_level_page_size(f, lvl);
	uint64_t cs = s, hole = 0;
	bool in_hole = false;
	int rc = 0;
	if (w->ops != NULL && w->ops->table != NULL && !(w->root_told && pa == w->pt->root)) {
		rc = w->ops->table(w->ctx, tva, span, lvl, pa);
		w->root_told |= pa == w->pt->root;
	}

	for (; rc == 0;) {
		uint64_t es = cs & ~(esize - 1);
		uint64_t ce = e - es < esize ? e : es + (esize - 1);
		uint64_t idx = pt_index(f, cs, lvl);
		uint64_t d = pte_load(t, idx, f->pte_bytes);
		enum pt_kind k = pte_kind(f, d, lvl);
		if (k == PT_INVALID) {
			if (!in_hole)
				hole = cs;
			in_hole = true;
		} else {
			if (in_hole)
				rc = walk_hole(w, hole, cs - 1, lvl);
			in_hole = false;
			if (rc != 0)
				return rc;
			if (k == PT_LEAF) {
				rc = walk_leaf(w, t, idx, lvl, d, es);
			} else if (k == PT_TABLE && lvl > 0) {
				physim_hpa_t cpa = f->ops->output_addr(f, d, lvl);
				rc = physim_pt_child_check(w->pt, &w->seen, pa, idx, cpa, lvl - 1);
				if (rc != 0)
					return rc;
				uint8_t *ct = table_hva(w->pt, cpa, lvl - 1);
				if (ct == NULL)
					return -EFAULT;
				rc = walk_table(w, lvl - 1, cpa, ct, es, esize, cs, ce);
			} else {
				return -EFAULT;
			}
		}
		if (ce >= e)
			break;
		cs = ce + 1;
	}
	if (rc == 0 && in_hole)
		rc = walk_hole(w, hole, e, lvl);
	return rc;
}

/* Visit [va, last] with w (its pt, ops or slot_fn and ctx set), inside one
 * half of the input range. */
static int walk_span(struct walker *w, uint64_t va, uint64_t last)
{
	const struct physim_pt *pt = w->pt;
	const struct physim_pt_format *f = pt->fmt;
	unsigned top = f->levels - 1u;
	unsigned bits = f->level[top].shift + f->level[top].index_bits;
	uint64_t span = bits >= 64 ? 0 : UINT64_C(1) << bits;
	return walk_table(w, top, pt->root, pt->root_hva, 0, span, va, last);
}

/* Visit [va, va + size), or with va = size = 0 the whole input range: both
 * halves of a sign-extended format, lower half first (one visited set, so
 * a table linked from both halves is still met only once). */
static int walk_range(struct walker *w, uint64_t va, uint64_t size)
{
	const struct physim_pt_format *f = w->pt->fmt;
	int rc = physim_pt_seen_start(w->pt, &w->seen);
	if (rc == 0 && size != 0) {
		rc = walk_span(w, va, va + (size - 1));
	} else if (rc == 0 && (f->va_bits >= 64 || !f->sign_extended)) {
		rc = walk_span(w, 0,
			       f->va_bits >= 64 ? UINT64_MAX : (UINT64_C(1) << f->va_bits) - 1);
	} else if (rc == 0) {
		uint64_t half = UINT64_C(1) << (f->va_bits - 1);
		rc = walk_span(w, 0, half - 1);
		if (rc == 0)
			rc = walk_span(w, 0 - half, UINT64_MAX);
	}
	pt_frameset_free(&w->seen);
	return rc;
}

/* A range the iteration takes: one inside the format's input range, or
 * va = size = 0 for all of it. */
static bool iter_range_ok(const struct physim_pt_format *f, uint64_t va, uint64_t size)
{
	return (va == 0 && size == 0) || range_ok(f, va, size);
}

int physim_pt_walk(const struct physim_pt *pt, uint64_t va, uint64_t size,
		   const struct physim_pt_walk_ops *ops, void *ctx)
{
	if (pt == NULL || ops == NULL || !iter_range_ok(pt->fmt, va, size))
		return -EINVAL;
	struct walker w = {.pt = pt, .ops = ops, .ctx = ctx};
	return walk_range(&w, va, size);
}

int physim_pt_iter_leaves(struct physim_pt *pt, uint64_t va, uint64_t size, physim_pt_slot_fn fn,
			  void *ctx)
{
	if (pt == NULL || fn == NULL || !iter_range_ok(pt->fmt, va, size))
		return -EINVAL;
	struct walker w = {.pt = pt, .slot_fn = fn, .ctx = ctx};
	return walk_range(&w, va, size);
}

bool physim_pt_slot_clear_ad(const struct physim_pt *pt, const struct pt_slot *s, bool accessed,
			     bool dirty)
{
	const struct physim_pt_format *f = pt->fmt;
	/* A walker on another thread may set A or D in this leaf meanwhile
	 * (a vCPU running during a dirty harvest): clear by compare-and-swap,
	 * so a bit set after the read is never lost. The leaf keeps its kind
	 * and address (only A/D can change under a walker). */
	uint64_t old = s->d, d;
	for (unsigned attempt = 0;; attempt++) {
		struct pt_leaf_attr a = {0};
		f->ops->decode_leaf(f, old, s->lvl, &a);
		if (accessed)
			a.accessed = false;
		if (dirty)
			a.dirty = false;
		/* The entry's own address (s->m is the whole leaf, a grouped
		 * one included; a grouped encoding takes any address in it). */
		uint64_t pa = f->ops->output_addr(f, old, s->lvl);
		if (f->ops->encode_leaf(f, pa, &a, s->lvl, &d) != 0 || d == old)
			return false;
		if (pte_cas(s->t, s->idx, f->pte_bytes, &old, d))
			return true;
		if (attempt == 64 || pte_kind(f, old, s->lvl) != PT_LEAF ||
		    f->ops->output_addr(f, old, s->lvl) != f->ops->output_addr(f, s->d, s->lvl)) {
			physim_log_warn("pt: %s: leaf at %#llx keeps changing under clear_ad",
					f->name, (unsigned long long)s->m.va);
			return false;
		}
	}
}

/* physim_pt_clear_ad: clear the bits in each leaf, in place, in one
 * traversal. */
struct clear_ad_ctx {
	struct physim_pt *pt;
	bool accessed, dirty;
	struct flush_batch fb;
	uint64_t changed;
	uint64_t last_va; /* the leaf counted last: a grouped one counts once */
};

static int clear_ad_leaf(void *ctx, const struct pt_slot *s)
{
	struct clear_ad_ctx *c = ctx;
	if (!(c->accessed && s->m.accessed) && !(c->dirty && s->m.dirty))
		return 0;
	if (physim_pt_slot_clear_ad(c->pt, s, c->accessed, c->dirty)) {
		if (c->changed == 0 || c->last_va != s->m.va)
			c->changed++;
		c->last_va = s->m.va;
		physim_pt_flush_add(&c->fb, s->m.va);
	}
	return 0;
}

int64_t physim_pt_clear_ad(struct physim_pt *pt, uint64_t va, uint64_t size, bool accessed,
			   bool dirty)
{
	struct clear_ad_ctx c = {.pt = pt, .accessed = accessed, .dirty = dirty};
	int rc = physim_pt_iter_leaves(pt, va, size, clear_ad_leaf, &c);
	if (rc < 0)
		return rc;
	physim_pt_flush_send(pt, &c.fb);
	return (int64_t)c.changed;
}

/* physim_pt_count_tables: every table met once by a whole-range traversal
 * (the walk's own link checks make it bounded and safe on corrupt memory);
 * frames are counted once each, so 1 KiB tables sharing a frame (ARMv7
 * level 2, attached) count it once. */
struct count_ctx {
	const struct physim_pt_format *f;
	struct physim_pt_table_count n;
	struct pt_frameset frames;
};

static int count_table(void *ctx, uint64_t va, uint64_t span, unsigned level, physim_hpa_t pa)
{
	struct count_ctx *c = ctx;
	uint64_t bytes = pt_table_bytes(c->f, level);
	(void)va;
	(void)span;
	c->n.tables++;
	c->n.bytes += bytes;
	physim_hpa_t first = pa & ~(physim_hpa_t)(PHYSIM_FRAME_SIZE - 1);
	physim_hpa_t end = pa + (bytes < PHYSIM_FRAME_SIZE ? 1 : bytes);
	for (physim_hpa_t fr = first; fr < end; fr += PHYSIM_FRAME_SIZE) {
		if (pt_frameset_find(&c->frames, fr) != NULL)
			continue;
		int rc = pt_frameset_add(&c->frames, fr, 1, 0);
		if (rc != 0)
			return rc;
		c->n.frames++;
	}
	return 0;
}

int physim_pt_count_tables(const struct physim_pt *pt, struct physim_pt_table_count *out)
{
	if (pt == NULL || out == NULL)
		return -EINVAL;
	struct count_ctx c = {.f = pt->fmt};
	const struct physim_pt_walk_ops ops = {.table = count_table};
	int rc = physim_pt_walk(pt, 0, 0, &ops, &c);
	pt_frameset_free(&c.frames);
	if (rc == 0)
		*out = c.n;
	return rc;
}
