/* SPDX-License-Identifier: MIT */
/* lib/cpu-check.c - the checks on simulated CPUs' cached translations:
 * stale use at a hit, walk-cache currency, break-before-make at an
 * invalidation, the machine audit and freed-in-use check, and the reports
 * they make (physim_cpu_report_format). */
#include "cpu-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walk-format.h"

/* ---- reports ---- */

/* The remedy: what was issued that came closest, and what is needed
 * (lib/cpu-remedy.c, the per-arch texts in lib/cpu-<arch>.c). */
static const char *remedy(struct physim_cpu *c, const struct centry *ce,
			  const struct physim_cpu_entry *e, bool stage2_changed, bool pending)
{
	return physim_cpui_remedy(c, e, ce, stage2_changed, pending);
}

/* Does a fresh walk say what e says? */
static bool entry_current(const struct centry *e, const struct physim_xlate *cur, int rc)
{
	if (rc != 0 || cur->fault.kind != PHYSIM_FAULT_NONE)
		return false;
	uint64_t size = UINT64_C(1) << e->shift;
	uint64_t base = cur->pa & ~(size - 1);
	if (base != e->pa || cur->perms != e->perms)
		return false;
	if (e->kind == PHYSIM_ENTRY_COMB && (cur->gpa & ~(size - 1)) != e->gpa)
		return false;
	if (e->kind != PHYSIM_ENTRY_S2 && cur->global != e->global)
		return false;
	/* A page size that grew is only stale if the entry cannot be part of
	 * it; a page size that shrank (a split) is a different translation. */
	return cur->page_size >= size;
}

static void report(struct physim_cpu *c, enum physim_cpu_report_kind kind, uint64_t addr,
		   const struct centry *e, const struct physim_xlate *cur)
{
	struct physim_cpu_report r = {.kind = kind, .cpu = c->index, .addr = addr, .current = *cur};
	physim_cpui_to_public(e, &r.entry);
	bool s2_changed = e->kind == PHYSIM_ENTRY_COMB && cur->fault.kind == PHYSIM_FAULT_NONE &&
			  (cur->gpa & ~((UINT64_C(1) << e->shift) - 1)) == e->gpa;
	if (e->kind == PHYSIM_ENTRY_COMB && cur->fault.kind != PHYSIM_FAULT_NONE)
		s2_changed = cur->fault.stage == 2;
	const char *p = physim_cpui_pending_for(c, e);
	r.pending = p != NULL;
	r.remedy = remedy(c, e, &r.entry, s2_changed, r.pending);
	if (c->m->cfg.on_report)
		c->m->cfg.on_report(c->m->cfg.report_ctx, &r);
}

/* The mmus of context record r configured as when its entries were filled
 * (*t1, *t2: fresh copies to destroy, made when the context's mmu has been
 * reconfigured since); want1 / want2 say which stages are needed. */
static int ctx_mmus(const struct ctxrec *r, bool want1, bool want2, struct physim_mmu **s1,
		    struct physim_mmu **s2, struct physim_mmu **t1, struct physim_mmu **t2)
{
	struct physim_mmu_config now;
	int rc;
	*s1 = want1 ? r->s1 : NULL;
	*s2 = want2 ? r->s2 : NULL;
	*t1 = *t2 = NULL;
	if (*s1 != NULL) {
		physim_mmu_get_config(*s1, &now);
		if (!same_cfg(&now, &r->c1)) {
			if ((rc = physim_mmu_create(&r->c1, t1)) < 0)
				return rc;
			*s1 = *t1;
		}
	}
	if (*s2 != NULL) {
		physim_mmu_get_config(*s2, &now);
		if (!same_cfg(&now, &r->c2)) {
			if ((rc = physim_mmu_create(&r->c2, t2)) < 0) {
				physim_mmu_destroy(*t1);
				*t1 = NULL;
				return rc;
			}
			*s2 = *t2;
		}
	}
	return 0;
}

/* A probe of e's tables with mmus configured as when e was filled. */
static int probe_entry(const struct centry *e, const struct physim_access *acc,
		       struct physim_xlate *x)
{
	struct physim_mmu *s1, *s2, *t1, *t2;
	int rc = ctx_mmus(e->ctx, e->kind != PHYSIM_ENTRY_S2, e->kind != PHYSIM_ENTRY_S1, &s1, &s2,
			  &t1, &t2);
	if (rc < 0)
		return rc;
	if (e->kind == PHYSIM_ENTRY_COMB)
		rc = physim_nested_probe(s1, s2, acc, x);
	else if (e->kind == PHYSIM_ENTRY_S1)
		rc = physim_mmu_probe(s1, acc, x);
	else
		rc = physim_mmu_probe(s2, acc, x);
	physim_mmu_destroy(t1);
	physim_mmu_destroy(t2);
	return rc;
}

__attribute__((noinline)) void physim_cpui_stale_check(struct physim_cpu *c,
						       const struct centry *hit,
						       const struct physim_access *acc)
{
	struct centry e = *hit; /* on_report may invalidate */
	struct physim_xlate cur = {0};
	int rc = probe_entry(&e, acc, &cur);
	if (rc != 0 && rc != -EFAULT)
		return;
	if (entry_current(&e, &cur, rc))
		return;
	c->st.stale++;
	report(c, PHYSIM_REPORT_STALE_USE, acc->va, &e, &cur);
}

/* ---- walk caches ---- */

/* The table descriptors a fresh walk of m meets on the way to va, root
 * first: engine level, where the descriptor is (an HPA), the next table (for
 * the stage 1 of a nested walk: its GPA, and next_hpa its HPA, 0 when it
 * does not translate). Stops at the first descriptor that is not a table
 * pointer. */
struct wstep {
	unsigned elevel;
	uint64_t desc_pa, desc, next, next_hpa;
};

struct wpath {
	unsigned n;
	struct wstep step[PHYSIM_PT_MAX_LEVELS];
	uint64_t last_table; /* the table the walk stopped in */
	/* nested_path: the stage-1 leaf descriptor, if the walk met one */
	bool have_leaf;
	unsigned leaf_elevel;
	uint64_t leaf_pa, leaf_desc;
};

static void fresh_path(const struct physim_mmu *m, uint64_t va, struct wpath *p)
{
	const struct physim_pt_format *f = m->cfg.format;
	const struct physim_paging_handler *mem = m->cfg.mem;
	p->n = 0;
	p->have_leaf = false;
	if (mem == NULL || f->ops == NULL || !walk_input_ok(f, va))
		return;
	uint64_t table =
	    f->sign_extended && (va >> 63) && m->cfg.root_hi ? m->cfg.root_hi : m->cfg.root;
	p->last_table = table;
	for (int n = f->levels - 1; n >= 1; n--) {
		uint64_t dpa = table + ((va >> m->idx_shift[n]) & m->idx_mask[n]);
		const void *ptr = mem->phys_to_virt(mem->ctx, dpa);
		if (ptr == NULL)
			return;
		uint64_t d = f->pte_bytes == 8
				 ? __atomic_load_n((const uint64_t *)ptr, __ATOMIC_RELAXED)
				 : __atomic_load_n((const uint32_t *)ptr, __ATOMIC_RELAXED);
		if (f->ops->classify(f, d, (unsigned)n) != PT_TABLE)
			return;
		table = f->ops->output_addr(f, d, (unsigned)n);
		p->step[p->n].elevel = (unsigned)n;
		p->step[p->n].desc_pa = dpa;
		p->step[p->n].desc = d;
		p->step[p->n].next = table;
		p->step[p->n].next_hpa = table;
		p->n++;
		p->last_table = table;
	}
}

/* What a walk entry's table says now, as an xlate: the next table in pa, or
 * a not-present fault when the walk no longer meets a table there. */
static void walk_current(const struct wpath *p, unsigned elevel, int level, uint64_t va,
			 uint64_t size, struct physim_xlate *cur)
{
	*cur = (struct physim_xlate){.page_size = size, .level = level};
	for (unsigned i = 0; i < p->n; i++) {
		if (p->step[i].elevel == elevel) {
			cur->pa = p->step[i].next;
			return;
		}
	}
	cur->fault = (struct physim_fault){
	    .kind = PHYSIM_FAULT_NOT_PRESENT, .stage = 1, .level = level, .addr = va};
}

/* The tags of the walk entries one walk makes. */
struct wtags {
	uint64_t ctag, ep4ta;
	uint16_t asid, vmid;
	uint8_t wstage;
	bool nested;
	uint8_t wkind; /* centry.wkind */
};

/* The step of p at engine level elevel, NULL if the walk met no table
 * pointer there. */
static const struct wstep *path_step(const struct wpath *p, unsigned elevel)
{
	for (unsigned i = 0; i < p->n; i++) {
		if (p->step[i].elevel == elevel)
			return &p->step[i];
	}
	return NULL;
}

/* After a walk of m for va whose fresh path is p: each cached walk entry
 * (of tags t) on va's path that disagrees with p is a walk-cache entry the
 * hardware may have used instead - a stale use - and is replaced by (or,
 * where the path ends, dropped for) what the tables say; the fresh path is
 * cached (unless x86 just faulted, SDM Vol. 3A 4.10.4.1: a #PF invalidates
 * the paging-structure entries for the address). A walk entry compares the
 * next table's address as the descriptor gives it (a GPA for the stage 1
 * of a nested context: its HPA is the business of the stage-2 entries). */
static void update_path(struct physim_cpu *c, const struct physim_mmu *m, const struct wpath *p,
			const struct wtags *t, uint64_t va, bool faulted)
{
	const struct physim_pt_format *f = m->cfg.format;
	bool x86 = c->m->cfg.arch == PHYSIM_ARCH_X86_64;
	for (int n = f->levels - 1; n >= 1; n--) {
		unsigned shift = f->level[n].shift;
		uint64_t base = va & ~((UINT64_C(1) << shift) - 1);
		uint64_t key = mk_key(base, shift);
		int level = walk_arch_level(m->ops, (unsigned)n);
		struct physim_xlate cur;
		walk_current(p, (unsigned)n, level, base, UINT64_C(1) << shift, &cur);
		const struct wstep *st = path_step(p, (unsigned)n);
		uint32_t idx = find_one(c, key, t->ctag, t->ep4ta, t->asid, base);
		if (idx != NIL) {
			struct centry *e = &c->pool[idx];
			if (st != NULL && e->gpa == st->next) {
				e->pa = st->next_hpa;
				continue;
			}
			if (c->m->cfg.check_stale) {
				c->st.stale++;
				struct centry old = *e;
				report(c, PHYSIM_REPORT_STALE_USE, va, &old, &cur);
				idx = find_one(c, key, t->ctag, t->ep4ta, t->asid, base);
			}
			if (idx != NIL)
				physim_cpui_remove_entry(c, idx);
		}
		if (st == NULL || (faulted && x86))
			continue;
		struct centry w = {
		    .key = key,
		    .ctag = t->ctag,
		    .ep4ta = t->ep4ta,
		    .va = base,
		    .pa = st->next_hpa,
		    .gpa = st->next,
		    .ctx = c->rec,
		    .desc_pa = st->desc_pa,
		    .desc = st->desc,
		    .asid = t->asid,
		    .kind = PHYSIM_ENTRY_WALK,
		    .regime = (uint8_t)c->ctx.regime,
		    .shift = (uint8_t)shift,
		    .s1_shift = (uint8_t)shift,
		    .s2_shift = (uint8_t)shift,
		    .level = (int8_t)level,
		    .wstage = t->wstage,
		    .nested = t->nested,
		    .wkind = t->wkind,
		    .vmid = t->vmid,
		};
		physim_cpui_insert(c, &w);
	}
}

/* After a walk of m (stage wstage of the current context; stage 2 of a
 * nested one too: its tables are host-physical) for va. */
__attribute__((noinline)) void physim_cpui_walk_cache_update(struct physim_cpu *c,
							     const struct physim_mmu *m,
							     unsigned wstage, uint64_t va,
							     bool faulted)
{
	struct wpath p;
	if (c->m->cfg.arch == PHYSIM_ARCH_LOONGARCH64)
		return; /* software-refilled: no hardware walk caches */
	fresh_path(m, va, &p);
	bool x86 = c->m->cfg.arch == PHYSIM_ARCH_X86_64;
	uint16_t vmid = wstage == 2 && x86 ? 0 : (uint16_t)(c->look_ctag >> 16);
	struct wtags t = {
	    .ctag = mk_ctag(PHYSIM_ENTRY_WALK, c->ctx.regime, vmid),
	    .ep4ta = c->look_ep4ta,
	    .asid = wstage == 2 ? 0 : c->look_asid,
	    .vmid = vmid,
	    .wstage = (uint8_t)wstage,
	    .wkind = wstage == 2 ? PHYSIM_ENTRY_S2 : PHYSIM_ENTRY_S1,
	};
	update_path(c, m, &p, &t, va, faulted);
}

/* ---- walk caches of nested contexts ----
 *
 * What the hardware may cache from a nested walk besides the final
 * translations: (a) the stage-1 non-leaf descriptors of the guest's tables,
 * tagged like the combined entries (regime, VMID / VPID, ASID / PCID, and on
 * x86 the EP4TA: SDM Vol. 3C "Information That May Be Cached" "combined paging-structure-cache
 * entries"), pointing at a table by its GPA; (b) the stage-2 translations of
 * the stage-1 tables' addresses (Arm ARM D8.17: walk caches "may hold stage
 * 2 translations of stage 1 table addresses"; SDM Vol. 3C "Creating and Using Cached Translation
 * Information": the guest-physical mappings used for the guest paging structures; RISC-V priv.
 * spec: the VS-stage table accesses are G-stage translations like any other) - kept as ordinary
 * stage-2 entries; (c) the stage-2 non-leaf descriptors of all those stage-2 walks. */

/* A nested stage-1 walk entry's ctag: apart from one-stage ones in lookups. */
#define CTAG_NESTED_S1 (UINT64_C(1) << 3)

uint64_t physim_cpui_s2_hpa(const struct physim_mmu *s2, uint64_t gpa)
{
	struct physim_xlate x;
	struct physim_access a = {.va = gpa, .implicit = true};
	return physim_mmu_probe(s2, &a, &x) == 0 ? x.pa : 0;
}

/* The stage-1 path of a nested walk, from its trace (descriptor HPAs found
 * through stage 2). */
static void nested_path(const struct physim_mmu *s1, const struct physim_mmu *s2,
			const struct physim_walk_trace *t, struct wpath *p)
{
	const struct physim_pt_format *f = s1->cfg.format;
	const struct pt_walk_ops *w = s1->ops;
	p->n = 0;
	p->have_leaf = false;
	p->last_table = 0;
	if (w == NULL || w->level_dir == 0)
		return;
	for (unsigned i = 0; i < t->n; i++) {
		const struct physim_walk_trace_step *st = &t->steps[i];
		if (st->stage != 1 || !st->fetched)
			continue;
		int n = (st->level - w->level_base) / w->level_dir;
		if (n < 0 || n >= f->levels)
			continue;
		if (st->decision == PHYSIM_WALK_LEAF) {
			p->have_leaf = true;
			p->leaf_elevel = (unsigned)n;
			p->leaf_pa = physim_cpui_s2_hpa(s2, st->addr);
			p->leaf_desc = st->desc_new;
			continue;
		}
		if (st->decision != PHYSIM_WALK_TABLE || n < 1 || p->n >= PHYSIM_PT_MAX_LEVELS)
			continue;
		uint64_t next = f->ops->output_addr(f, st->desc_new, (unsigned)n);
		p->step[p->n].elevel = (unsigned)n;
		p->step[p->n].desc_pa = physim_cpui_s2_hpa(s2, st->addr);
		p->step[p->n].desc = st->desc_new;
		p->step[p->n].next = next;
		p->step[p->n].next_hpa = physim_cpui_s2_hpa(s2, next);
		p->n++;
		p->last_table = next;
	}
}

/* (b) and (c) for a stage-1 table page the walk read at gpa: a cached
 * stage-2 translation of it that the tables no longer say is a stale use
 * (the hardware may have fetched the descriptor through it); then both are
 * cached afresh. */
static void s2_table_use(struct physim_cpu *c, uint64_t gpa)
{
	const struct physim_cpu_context *ctx = &c->ctx;
	struct physim_access a = {.va = gpa, .implicit = true};
	uint16_t vm2 = c->m->cfg.arch == PHYSIM_ARCH_X86_64 ? 0 : ctx->vmid;
	uint64_t ctag = mk_ctag(PHYSIM_ENTRY_S2, ctx->regime, vm2);
	struct centry *e = find(c, gpa, ctag, c->look_ep4ta, 0);
	if (e != NULL && c->m->cfg.check_stale && ((e->allow >> CLS_READ) & 1))
		physim_cpui_stale_check(c, e, &a);
	physim_cpui_walk_cache_update(c, ctx->s2, 2, gpa, false);
	physim_cpui_cache_s2(c, &a, gpa);
}

__attribute__((noinline)) int physim_cpui_nested_walk(struct physim_cpu *c,
						      const struct physim_access *acc,
						      struct physim_xlate *x)
{
	const struct physim_cpu_context *ctx = &c->ctx;
	struct physim_walk_trace t;
	int rc = physim_nested_trace(ctx->s1, ctx->s2, acc, 0, x, &t);
	if ((rc != 0 && rc != -EFAULT) || c->m->cfg.arch == PHYSIM_ARCH_LOONGARCH64)
		return rc;
	struct wpath p;
	nested_path(ctx->s1, ctx->s2, &t, &p);
	struct wtags tg = {
	    .ctag = mk_ctag(PHYSIM_ENTRY_WALK, ctx->regime, (uint16_t)(c->look_ctag >> 16)) |
		    CTAG_NESTED_S1,
	    .ep4ta = c->look_ep4ta,
	    .asid = c->look_asid,
	    .vmid = (uint16_t)(c->look_ctag >> 16),
	    .wstage = 1,
	    .nested = true,
	    /* x86's combined paging-structure entries hold the next guest
	     * table's HPA (SDM Vol. 3C "Information That May Be Cached"): INVEPT of the EP4TA
	     * removes them too. Arm and RISC-V walk caches hold the stage-1 descriptor (a GPA) and
	     * keep the stage-2 translation of the table apart (Arm ARM D8.17): the stage-1
	     * invalidations remove them; a stage-2 change leaves them true. */
	    .wkind = c->m->cfg.arch == PHYSIM_ARCH_X86_64 ? PHYSIM_ENTRY_COMB : PHYSIM_ENTRY_S1,
	};
	update_path(c, ctx->s1, &p, &tg, acc->va, rc != 0);
	/* the stage-1 table pages the walk read, each once */
	uint64_t seen[PHYSIM_WALK_TRACE_MAX];
	unsigned nseen = 0;
	for (unsigned i = 0; i < t.n; i++) {
		const struct physim_walk_trace_step *st = &t.steps[i];
		if (st->stage != 1 || !st->fetched)
			continue;
		uint64_t page = st->addr & ~UINT64_C(0xFFF);
		bool dup = false;
		for (unsigned k = 0; k < nseen && !dup; k++)
			dup = seen[k] == page;
		if (dup)
			continue;
		seen[nseen++] = page;
		s2_table_use(c, page);
	}
	if (rc == 0)
		physim_cpui_walk_cache_update(c, ctx->s2, 2, x->gpa, false);
	return rc;
}

/* With check_bbm, the stage-1 descriptor (at its HPA) a COMB entry was made
 * from: the leaf of a probe walk of the filling access in the current
 * context. */
void physim_cpui_nested_leaf_desc(struct physim_cpu *c, const struct physim_access *acc,
				  struct centry *n)
{
	const struct physim_cpu_context *ctx = &c->ctx;
	struct physim_walk_trace t;
	struct physim_xlate x;
	if (physim_nested_trace(ctx->s1, ctx->s2, acc, PHYSIM_TRACE_PROBE, &x, &t) < 0 && t.n == 0)
		return;
	struct wpath p;
	nested_path(ctx->s1, ctx->s2, &t, &p);
	const struct physim_pt_format *f = ctx->s1->cfg.format;
	if (!p.have_leaf || p.leaf_pa == 0)
		return;
	unsigned dshift = f->level[p.leaf_elevel].shift;
	if (dshift == n->s1_shift) {
		n->desc_pa = p.leaf_pa;
		n->desc = p.leaf_desc;
		return;
	}
	if (physim_cpui_group_piece(f, n->s1_shift) != dshift)
		return;
	/* a stage-1 run: the descriptors of it the entry covers, from the one
	 * for its first address (the walk read the one for acc->va; both lie
	 * in one table page) */
	unsigned count = n->shift > dshift ? 1u << (n->shift - dshift) : 1;
	uint64_t gmask = (UINT64_C(1) << f->group_log2[p.leaf_elevel]) - 1;
	int64_t delta =
	    (int64_t)((n->va >> dshift) & gmask) - (int64_t)((acc->va >> dshift) & gmask);
	uint64_t dpa = p.leaf_pa + (uint64_t)(delta * (int64_t)f->pte_bytes);
	const struct physim_paging_handler *mem = ctx->s2->cfg.mem;
	bool ok;
	uint64_t d = physim_cpui_read_desc(mem, f->pte_bytes, dpa, &ok);
	if (count <= RUN_DESC_MAX && ok &&
	    physim_cpui_run_consistent(f, mem, dpa, d, count, dshift)) {
		n->desc_pa = dpa;
		n->desc = d;
	}
}

/* The mmu a walk entry was made with, as configured then (*tmp: a fresh
 * copy to destroy when the context's mmu has changed since). */
static const struct physim_mmu *walk_entry_mmu(const struct centry *e, struct physim_mmu **tmp)
{
	const struct ctxrec *r = e->ctx;
	struct physim_mmu *m = e->wstage == 2 ? r->s2 : r->s1;
	const struct physim_mmu_config *then = e->wstage == 2 ? &r->c2 : &r->c1;
	struct physim_mmu_config now;
	*tmp = NULL;
	if (m == NULL)
		return NULL;
	physim_mmu_get_config(m, &now);
	if (same_cfg(&now, then))
		return m;
	if (physim_mmu_create(then, tmp) < 0)
		return NULL;
	return *tmp;
}

/* The fresh stage-1 path of a nested walk entry's tables for its va. */
static bool nested_entry_path(const struct centry *e, struct wpath *p, unsigned *elevel)
{
	struct physim_mmu *s1, *s2, *t1, *t2;
	if (ctx_mmus(e->ctx, true, true, &s1, &s2, &t1, &t2) < 0 || s1 == NULL || s2 == NULL) {
		physim_mmu_destroy(t1);
		physim_mmu_destroy(t2);
		return false;
	}
	struct physim_walk_trace t;
	struct physim_xlate x;
	struct physim_access a = {.va = e->va};
	if (physim_nested_trace(s1, s2, &a, PHYSIM_TRACE_PROBE, &x, &t) >= 0 || t.n > 0)
		nested_path(s1, s2, &t, p);
	else
		p->n = 0;
	const struct physim_pt_format *f = s1->cfg.format;
	*elevel = 0;
	for (unsigned n = 1; n < f->levels; n++) {
		if (f->level[n].shift == e->shift)
			*elevel = n;
	}
	physim_mmu_destroy(t1);
	physim_mmu_destroy(t2);
	return true;
}

/* Audit of one walk entry: true if stale (reported). */
static bool audit_walk(struct physim_cpu *c, const struct centry *e)
{
	if (e->nested) {
		struct wpath p;
		unsigned elevel;
		struct physim_xlate cur;
		if (!nested_entry_path(e, &p, &elevel))
			return false;
		walk_current(&p, elevel, e->level, e->va, UINT64_C(1) << e->shift, &cur);
		if (cur.fault.kind == PHYSIM_FAULT_NONE && cur.pa == e->gpa)
			return false;
		report(c, PHYSIM_REPORT_STALE_ENTRY, e->va, e, &cur);
		return true;
	}
	struct physim_mmu *tmp;
	const struct physim_mmu *m = walk_entry_mmu(e, &tmp);
	if (m == NULL)
		return false;
	const struct physim_pt_format *f = m->cfg.format;
	unsigned elevel = 0;
	for (unsigned n = 1; n < f->levels; n++) {
		if (f->level[n].shift == e->shift)
			elevel = n;
	}
	struct wpath p;
	struct physim_xlate cur;
	fresh_path(m, e->va, &p);
	walk_current(&p, elevel, e->level, e->va, UINT64_C(1) << e->shift, &cur);
	physim_mmu_destroy(tmp);
	if (cur.fault.kind == PHYSIM_FAULT_NONE && cur.pa == e->pa)
		return false;
	report(c, PHYSIM_REPORT_STALE_ENTRY, e->va, e, &cur);
	return true;
}

/* With check_bbm, the descriptor a leaf of a one-stage walk (a stage 1
 * alone, or a stage 2) was made from: for a run, its first descriptor
 * (the others are compared with it at each check). */
void physim_cpui_leaf_desc(const struct physim_mmu *m, struct centry *n)
{
	struct wpath p;
	fresh_path(m, n->va, &p);
	const struct physim_pt_format *f = m->cfg.format;
	unsigned dshift = n->shift, count = 1;
	int lvl = physim_cpui_engine_level(f, dshift);
	if (lvl < 0 && (dshift = physim_cpui_group_piece(f, n->shift)) != 0) {
		lvl = physim_cpui_engine_level(f, dshift); /* a run: its first descriptor */
		count = 1u << (n->shift - dshift);
	}
	if (lvl < 0 || (unsigned)lvl != f->levels - 1 - p.n || count > RUN_DESC_MAX)
		return;
	uint64_t dpa = p.last_table + ((n->va >> m->idx_shift[lvl]) & m->idx_mask[lvl]);
	bool ok;
	uint64_t d = physim_cpui_read_desc(m->cfg.mem, f->pte_bytes, dpa, &ok);
	if (ok && physim_cpui_run_consistent(f, m->cfg.mem, dpa, d, count, dshift)) {
		n->desc_pa = dpa;
		n->desc = d;
	}
}

/* The access an audit probes an entry with: the most it may serve. */
static struct physim_access audit_access(const struct centry *e)
{
	struct physim_access a = {.va = e->va};
	unsigned allow = e->allow | e->cond_allow;
	if (allow >> CLS_USER) {
		a.user = true;
		allow >>= CLS_USER;
	}
	if (allow & (1u << CLS_READ))
		return a;
	if (allow & (1u << CLS_WRITE))
		a.write = true;
	else if (allow & (1u << CLS_EXEC))
		a.exec = true;
	return a;
}

long physim_machine_audit(struct physim_machine *m)
{
	if (m == NULL)
		return -EINVAL;
	long stale = 0;
	for (unsigned k = 0; k < m->ncpus; k++) {
		struct physim_cpu *c = &m->cpu[k];
		/* The broadcasts applied here complete now, but the audit
		 * below covers every entry: no audit_on_complete pass too,
		 * which would report each stale entry twice. */
		bool outer = c->audit_batch;
		c->audit_batch = true;
		physim_cpui_drain(c);
		c->audit_batch = outer;
		stale += physim_cpui_audit_cpu(c);
	}
	return stale;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

long physim_machine_check_free(struct physim_machine *m, uint64_t hpa, uint64_t size)
{
	if (m == NULL || size == 0)
		return m == NULL ? -EINVAL : 0;
	long found = 0;
	for (unsigned k = 0; k < m->ncpus; k++) {
		struct physim_cpu *c = &m->cpu[k];
		physim_cpui_drain(c);
		for (uint32_t idx = 1; idx <= c->pool_top; idx++) {
			const struct centry *e = &c->pool[idx];
			if (e->key == 0)
				continue;
			bool hit;
			if (e->kind == PHYSIM_ENTRY_WALK)
				/* the next table, or the table holding the descriptor,
				 * by their HPAs (a nested context's stage-1 walk entry
				 * keeps both: pa and desc_pa) */
				hit = overlaps(e->pa, 4096, hpa, size) ||
				      overlaps(e->desc_pa & ~UINT64_C(0xFFF), 4096, hpa, size);
			else
				hit = overlaps(e->pa, UINT64_C(1) << e->shift, hpa, size);
			if (!hit)
				continue;
			found++;
			struct physim_xlate none = {0};
			report(c, PHYSIM_REPORT_FREED_IN_USE, hpa, e, &none);
		}
	}
	return found;
}

static const char *kind_name(enum physim_entry_kind k)
{
	switch (k) {
	case PHYSIM_ENTRY_S1:
		return "stage-1";
	case PHYSIM_ENTRY_S2:
		return "stage-2";
	case PHYSIM_ENTRY_WALK:
		return "walk-cache (non-leaf)";
	default:
		return "combined";
	}
}

int physim_cpu_report_format(const struct physim_cpu_report *r, char *buf, size_t len)
{
	if (r == NULL)
		return -EINVAL;
	const struct physim_cpu_entry *e = &r->entry;
	char now[160];
	if (r->kind == PHYSIM_REPORT_BBM)
		snprintf(
		    now, sizeof(now),
		    "descriptor at 0x%llx changed from 0x%llx to 0x%llx while valid, before %s "
		    "completed",
		    (unsigned long long)r->addr, (unsigned long long)r->desc_old,
		    (unsigned long long)r->desc_new, r->inval ? r->inval : "the invalidation");
	else if (r->kind == PHYSIM_REPORT_FREED_IN_USE)
		snprintf(now, sizeof(now),
			 "frame 0x%llx was freed while this entry references it%s",
			 (unsigned long long)r->addr,
			 e->kind == PHYSIM_ENTRY_WALK ? " as a table" : " as a page");
	else if (e->kind == PHYSIM_ENTRY_WALK && r->current.fault.kind != PHYSIM_FAULT_NONE)
		snprintf(now, sizeof(now), "a walk meets no table pointer there now");
	else if (e->kind == PHYSIM_ENTRY_WALK)
		snprintf(now, sizeof(now), "the descriptor now points to table 0x%llx",
			 (unsigned long long)r->current.pa);
	else if (r->current.fault.kind != PHYSIM_FAULT_NONE)
		snprintf(now, sizeof(now), "the tables now fault (%s)",
			 physim_fault_str(&r->current.fault));
	else
		snprintf(now, sizeof(now),
			 "the tables now map it to 0x%llx (size 0x%llx, perms 0x%x)",
			 (unsigned long long)r->current.pa,
			 (unsigned long long)r->current.page_size, (unsigned)r->current.perms);
	return snprintf(
	    buf, len,
	    "cpu %u: %s %s entry va 0x%llx -> pa 0x%llx (gpa 0x%llx, size 0x%llx, asid %u, "
	    "vmid %u%s) at 0x%llx; %s; %s%s",
	    r->cpu,
	    r->kind == PHYSIM_REPORT_STALE_USE	   ? "stale use of"
	    : r->kind == PHYSIM_REPORT_STALE_ENTRY ? "audit: stale"
	    : r->kind == PHYSIM_REPORT_BBM	   ? "break-before-make violation on"
						   : "freed in use:",
	    kind_name(e->kind), (unsigned long long)e->va, (unsigned long long)e->pa,
	    (unsigned long long)e->gpa, (unsigned long long)e->page_size, e->asid, e->vmid,
	    e->global ? ", global" : "", (unsigned long long)r->addr, now,
	    r->pending ? "an invalidation that removes it was issued but not completed; " : "",
	    r->remedy ? r->remedy : "");
}

/* One CPU's part of physim_machine_audit; with audit_on_complete also run
 * by the CPU itself right after an invalidation completed on it
 * (lib/cpu-store.c). */
long physim_cpui_audit_cpu(struct physim_cpu *c)
{
	long stale = 0;
	for (uint32_t idx = 1; idx <= c->pool_top; idx++) {
		const struct centry *e = &c->pool[idx];
		if (e->key == 0)
			continue;
		if (e->kind == PHYSIM_ENTRY_WALK) {
			stale += audit_walk(c, e);
			continue;
		}
		struct physim_access a = audit_access(e);
		struct physim_xlate cur = {0};
		int rc = probe_entry(e, &a, &cur);
		if (rc != 0 && rc != -EFAULT)
			continue;
		if (entry_current(e, &cur, rc))
			continue;
		stale++;
		report(c, PHYSIM_REPORT_STALE_ENTRY, e->va, e, &cur);
	}
	return stale;
}
