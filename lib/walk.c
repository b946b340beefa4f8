/* SPDX-License-Identifier: MIT */
/* lib/walk.c - the public translation calls (one stage, probe, nested) over
 * the families' instantiations of the one walk loop (lib/walk-loop.h), the
 * loop's cold paths (faults, fetches outside the direct map, A/D write-back
 * by compare-and-swap, stage-2 failures of a nested stage 1), mmu contexts
 * and fault descriptions. The TLB is in lib/tlb.c. */
#include "access-class.h"
#include "walk-loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the cold paths of the one loop (lib/walk-loop.h) ---- */

#define WALK_COLD __attribute__((cold, noinline))

/* Replace old by new if the descriptor still holds old. */
static inline bool desc_cas(void *p, unsigned bytes, uint64_t old, uint64_t new)
{
	if (bytes == 8)
		return __atomic_compare_exchange_n((uint64_t *)p, &old, new, false,
						   __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
	uint32_t o32 = (uint32_t)old;
	return __atomic_compare_exchange_n((uint32_t *)p, &o32, (uint32_t) new, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

/* Stage of the faults this mmu reports on its own. */
static inline unsigned mmu_stage(const struct physim_mmu *m)
{
	return m->cfg.format->stage2 ? 2 : 1;
}

/* A fault result of this stage: everything clear but the tally. */
static void fault_result(const struct walk_req *r, const struct walk_tally *t,
			 struct physim_xlate *x)
{
	*x = (struct physim_xlate){.mem_refs = t->refs, .ad_updated = t->ad};
	x->fault.stage = mmu_stage(r->m);
	x->fault.addr = r->acc->va;
	if (x->fault.stage == 2)
		x->fault.gpa = r->acc->va;
}

WALK_COLD int physim_walk_begin_fault(const struct walk_req *r, const struct physim_fault *bf,
				      const struct walk_tally *t, struct physim_xlate *x)
{
	fault_result(r, t, x);
	x->fault.kind = bf->kind;
	x->fault.level = bf->level;
	x->fault.syndrome = bf->syndrome;
	return -EFAULT;
}

WALK_COLD int physim_walk_fault(const struct walk_req *r, const struct walk_scratch *s,
				enum physim_fault_kind kind, unsigned level, uint64_t ea,
				const struct walk_tally *t, struct physim_xlate *x)
{
	struct walk_state w = walk_state_start(r);
	w.upper = s->upper;
	w.acc_and = s->acc_and;
	w.acc_or = s->acc_or;
	w.detail = s->detail;
	fault_result(r, t, x);
	r->m->ops->fault(&w, kind, (int)level, &x->fault);
	/* A stage-1 table that stage 2 maps outside memory: the table's GPA. */
	if (kind == PHYSIM_FAULT_BUS_ERROR && r->s2 != NULL)
		x->fault.gpa = x->gpa = ea;
	return -EFAULT;
}

WALK_COLD void *physim_walk_fetch_slow(const struct physim_paging_handler *ph, uint64_t hpa,
				       unsigned bytes)
{
	/* A naturally aligned descriptor never crosses a frame, so one
	 * phys_to_virt call covers it. */
	if (hpa & (bytes - 1))
		return NULL; /* only a hostile root can make one */
	void *p = physim_dm_phys_to_virt_checked(&ph->direct, hpa, bytes);
	return p != NULL ? p : ph->phys_to_virt(ph->ctx, hpa);
}

WALK_COLD int physim_walk_s1_failed(const struct walk_req *r, uint64_t gpa, int rc,
				    const struct physim_xlate *x2, struct walk_tally *t,
				    struct physim_xlate *x)
{
	(void)r;
	if (rc == -EFAULT) {
		*x = (struct physim_xlate){.gpa = gpa, .mem_refs = t->refs, .ad_updated = t->ad};
		x->fault = x2->fault;
		x->fault.s1ptw = true;
	}
	return rc;
}

/* The HPA of the stage-1 entry at GPA gpa for its A/D write-back: a write
 * through stage 2, not counted in mem_refs (walk-format.h). */
static int s1_entry_for_write(const struct walk_req *r, uint64_t gpa, struct walk_tally *t,
			      struct physim_xlate *x)
{
	struct physim_access a2;
	struct walk_req r2;
	struct physim_xlate x2;

	walk_s1_table_req(r, &r2, &a2);
	r2.trace = NULL; /* it reads what the table walk of the entry read */
	a2.va = gpa;
	a2.write = true;
	int rc = r2.m->ops->walk(&r2, &x2);
	t->ad |= x2.ad_updated;
	return rc < 0 ? physim_walk_s1_failed(r, gpa, rc, &x2, t, x) : 0;
}

WALK_COLD int physim_walk_write_back(const struct walk_req *r, const struct walk_used *used,
				     unsigned n, unsigned bytes, struct walk_tally *t,
				     struct physim_xlate *x)
{
	for (unsigned i = 0; i < n; i++) {
		const struct walk_used *u = &used[i];
		if (r->s2 != NULL) {
			/* The stage-1 update is a write through stage 2. */
			int rc = s1_entry_for_write(r, u->gpa, t, x);
			if (rc < 0)
				return rc;
		}
		if (!desc_cas(u->p, bytes, u->d, u->d_new))
			return -EAGAIN;
		t->ad = true;
		if (r->trace != NULL && u->tstep >= 0) {
			struct physim_walk_trace_step *st = &r->trace->steps[u->tstep];
			st->ad_written = true;
			st->desc_new = u->d_new;
		}
	}
	return 0;
}

WALK_COLD int physim_walk_trace_note(const struct walk_req *r, int level, uint64_t table,
				     uint64_t ea, bool fetched, uint64_t d,
				     enum physim_walk_decision decision,
				     enum physim_fault_kind kind)
{
	struct physim_walk_trace *tr = r->trace;

	if (tr->n >= PHYSIM_WALK_TRACE_MAX) {
		tr->truncated = true;
		return -1;
	}
	tr->steps[tr->n] = (struct physim_walk_trace_step){
	    .stage = (uint8_t)mmu_stage(r->m),
	    .level = (int8_t)level,
	    .decision = (uint8_t)decision,
	    .fault = (uint8_t)kind,
	    .fetched = fetched,
	    .s1_table = r->origin == WALK_NESTED_TABLE,
	    .table = table,
	    .addr = ea,
	    .desc = d,
	    .desc_new = d,
	};
	return (int)tr->n++;
}

WALK_COLD int physim_walk_gave_up(const struct walk_req *r, struct physim_xlate *x)
{
	physim_log_warn("walk: descriptors of va %#llx keep changing; giving up",
			(unsigned long long)r->acc->va);
	*x = (struct physim_xlate){0};
	return -EBUSY;
}

/* ---- public calls ---- */

static int config_check(const struct physim_mmu_config *c)
{
	const struct physim_pt_format *f = c->format;

	if (f == NULL)
		return -EINVAL;
	if (f->walk == NULL)
		return -ENOTSUP;
	if (c->mem != NULL && c->mem->phys_to_virt == NULL)
		return -EINVAL;
	/* Table addresses must hold aligned descriptors (walk-format.h). */
	if ((c->root & (f->pte_bytes - 1)) || (c->root_hi & (f->pte_bytes - 1)))
		return -EINVAL;
	if (c->ctl.maxphyaddr > 52 || c->ctl.ips_bits > 52)
		return -EINVAL;
	return 0;
}

/* Take a checked configuration, and what is derived from it. */
static void mmu_configure(struct physim_mmu *m, const struct physim_mmu_config *c, bool lookup)
{
	m->cfg = *c;
	m->lookup = lookup;
	m->ops = c->format->walk;
	m->tlb_id = (uint32_t)c->vmid << 16 | c->asid;
	m->ctl_fp = access_ctl_fingerprint(&c->ctl);
	memset(m->rsv, 0, sizeof(m->rsv));
	memset(m->oa, 0, sizeof(m->oa));
	memset(m->param, 0, sizeof(m->param));
	for (unsigned n = 0; n < PHYSIM_PT_MAX_LEVELS; n++) {
		m->tw_mask[n] = 0; /* never matches: */
		m->tw_val[n] = 1;
	}
	m->tw_shift = 0;
	const struct physim_pt_format *f = c->format;
	unsigned log2_bytes = f->pte_bytes == 8 ? 3 : 2;
	m->in = pt_va_range(f);
	m->geo_4k = true;
	for (unsigned n = 0; n < f->levels; n++) {
		m->idx_shift[n] = (uint8_t)(f->level[n].shift - log2_bytes);
		m->idx_mask[n] = (pt_level_entries(f, n) - 1) << log2_bytes;
		m->leaf_size[n] = pt_level_page_size(f, n);
		m->arch_level[n] = m->ops != NULL ? (int8_t)walk_arch_level(m->ops, n) : 0;
		if (m->idx_shift[n] != walk_geo_4k_shift(n, f->pte_bytes) ||
		    (n + 1u < f->levels && m->idx_mask[n] != walk_geo_4k_mask(f->pte_bytes)))
			m->geo_4k = false;
	}
	if (m->ops != NULL && m->ops->configure != NULL)
		m->ops->configure(m);
}

void physim_mmu_init_lookup(struct physim_mmu *m, const struct physim_pt_format *f,
			    const struct physim_paging_handler *ph, uint64_t root)
{
	mmu_configure(m, &(struct physim_mmu_config){.format = f, .mem = ph, .root = root}, true);
}

void physim_mmu_init_default(struct physim_mmu *m, const struct physim_pt_format *f,
			     const struct physim_paging_handler *ph, uint64_t root)
{
	/* The engine keeps both halves of a sign-extended input range in its
	 * one root, so that root is also the upper-half one (LoongArch PGDH). */
	mmu_configure(
	    m,
	    &(struct physim_mmu_config){
		.format = f, .mem = ph, .root = root, .root_hi = f->sign_extended ? root : 0},
	    false);
}

int physim_mmu_create(const struct physim_mmu_config *config, struct physim_mmu **out)
{
	if (config == NULL || out == NULL)
		return -EINVAL;
	int rc = config_check(config);
	if (rc < 0)
		return rc;
	struct physim_mmu *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	mmu_configure(m, config, false);
	*out = m;
	return 0;
}

void physim_mmu_destroy(struct physim_mmu *mmu)
{
	free(mmu);
}

void physim_mmu_get_config(const struct physim_mmu *mmu, struct physim_mmu_config *out)
{
	if (mmu != NULL && out != NULL)
		*out = mmu->cfg;
}

int physim_mmu_set_config(struct physim_mmu *mmu, const struct physim_mmu_config *config)
{
	if (mmu == NULL || config == NULL)
		return -EINVAL;
	/* Format and memory stay: the rest is taken from config. */
	struct physim_mmu_config c = *config;
	c.format = mmu->cfg.format;
	c.mem = mmu->cfg.mem;
	int rc = config_check(&c);
	if (rc < 0)
		return rc;
	mmu_configure(mmu, &c, false);
	return 0;
}

static int translate_one(const struct physim_mmu *mmu, const struct physim_access *acc,
			 struct physim_xlate *x, bool probe)
{
	if (mmu == NULL || x == NULL || !access_ok(acc) || mmu->cfg.mem == NULL)
		return -EINVAL;
	struct walk_req r = {.m = mmu, .acc = acc, .origin = WALK_DIRECT, .probe = probe};
	return mmu->ops->walk(&r, x);
}

int physim_mmu_trace(struct physim_mmu *mmu, const struct physim_access *acc, unsigned flags,
		     struct physim_xlate *x, struct physim_walk_trace *trace)
{
	if (mmu == NULL || x == NULL || trace == NULL || !access_ok(acc) || mmu->cfg.mem == NULL ||
	    (flags & ~PHYSIM_TRACE_PROBE))
		return -EINVAL;
	trace->n = 0;
	trace->truncated = false;
	struct walk_req r = {.m = mmu,
			     .acc = acc,
			     .origin = WALK_DIRECT,
			     .probe = (flags & PHYSIM_TRACE_PROBE) != 0,
			     .trace = trace};
	return mmu->ops->walk(&r, x);
}

int physim_mmu_translate(struct physim_mmu *mmu, const struct physim_access *acc,
			 struct physim_xlate *x)
{
	return translate_one(mmu, acc, x, false);
}

int physim_mmu_probe(const struct physim_mmu *mmu, const struct physim_access *acc,
		     struct physim_xlate *x)
{
	return translate_one(mmu, acc, x, true);
}

/* The combined result of a nested translation from its two stages. */
static inline uint32_t nested_perms(uint32_t s1_perms, uint32_t s2_perms)
{
	/* Stage 2 has no U: stage 1 alone says who may access. */
	return s1_perms & (s2_perms | PHYSIM_U);
}

/* Stage 1 through stage 2, then the output GPA through stage 2 (whose
 * leaf's size goes to *s2_size unless NULL). */
static int nested(const struct physim_mmu *s1, const struct physim_mmu *s2,
		  const struct physim_access *acc, struct physim_xlate *x, bool probe,
		  struct physim_walk_trace *trace, uint64_t *s2_size)
{
	if (s1 == NULL || s2 == NULL || x == NULL || !access_ok(acc) || s2->cfg.mem == NULL ||
	    s1->cfg.format->stage2 || !s2->cfg.format->stage2)
		return -EINVAL;
	struct physim_xlate x1;
	struct walk_req r1 = {.m = s1,
			      .s2 = s2,
			      .acc = acc,
			      .origin = WALK_NESTED_S1,
			      .probe = probe,
			      .trace = trace};
	int rc = s1->ops->walk(&r1, &x1);
	if (PHYSIM_UNLIKELY(rc < 0)) {
		if (rc == -EFAULT)
			*x = x1;
		return rc;
	}
	struct physim_access a2 = *acc;
	a2.va = x1.pa;
	struct walk_req r2 = {.m = s2,
			      .acc = &a2,
			      .origin = WALK_NESTED_FINAL,
			      .s1_perms = x1.perms,
			      .probe = probe,
			      .trace = trace};
	rc = s2->ops->walk(&r2, x);
	if (PHYSIM_UNLIKELY(rc < 0)) {
		if (rc == -EFAULT) {
			struct physim_fault f2 = x->fault;
			unsigned refs = x->mem_refs;
			bool ad = x->ad_updated;
			*x = (struct physim_xlate){.gpa = x1.pa, .fault = f2};
			x->mem_refs = x1.mem_refs + refs;
			x->ad_updated = x1.ad_updated || ad;
		}
		return rc;
	}
	if (s2_size != NULL)
		*s2_size = x->page_size;
	x->gpa = x1.pa;
	x->s2_leaf_desc = x->leaf_desc;
	x->leaf_desc = x1.leaf_desc;
	x->page_size = x1.page_size < x->page_size ? x1.page_size : x->page_size;
	x->level = x1.level;
	x->perms = nested_perms(x1.perms, x->perms);
	x->global = x1.global;
	x->mem_refs += x1.mem_refs;
	x->ad_updated = x->ad_updated || x1.ad_updated;
	return 0;
}

int physim_nested_translate(struct physim_mmu *s1, struct physim_mmu *s2,
			    const struct physim_access *acc, struct physim_xlate *x)
{
	return nested(s1, s2, acc, x, false, NULL, NULL);
}

int physim_nested_translate_s2size(struct physim_mmu *s1, struct physim_mmu *s2,
				   const struct physim_access *acc, struct physim_xlate *x,
				   uint64_t *s2_size)
{
	return nested(s1, s2, acc, x, false, NULL, s2_size);
}

int physim_nested_trace(struct physim_mmu *s1, struct physim_mmu *s2,
			const struct physim_access *acc, unsigned flags, struct physim_xlate *x,
			struct physim_walk_trace *trace)
{
	if (trace == NULL || (flags & ~PHYSIM_TRACE_PROBE))
		return -EINVAL;
	trace->n = 0;
	trace->truncated = false;
	return nested(s1, s2, acc, x, (flags & PHYSIM_TRACE_PROBE) != 0, trace, NULL);
}

int physim_nested_probe(const struct physim_mmu *s1, const struct physim_mmu *s2,
			const struct physim_access *acc, struct physim_xlate *x)
{
	return nested(s1, s2, acc, x, true, NULL, NULL);
}

int physim_translate(struct physim_pt *pt, const struct physim_access *acc, struct physim_xlate *x)
{
	if (pt == NULL || x == NULL || !access_ok(acc))
		return -EINVAL;
	/* The table's own mmu, configured once when it was made. */
	const struct physim_mmu *m = physim_pt_default_mmu(pt);
	if (m->ops == NULL)
		return -ENOTSUP;
	return translate_one(m, acc, x, false);
}

/* ---- fault descriptions ---- */

const char *physim_fault_kind_name(enum physim_fault_kind kind)
{
	switch (kind) {
	case PHYSIM_FAULT_NONE:
		return "none";
	case PHYSIM_FAULT_NOT_PRESENT:
		return "not-present";
	case PHYSIM_FAULT_PERMISSION:
		return "permission";
	case PHYSIM_FAULT_ACCESS_FLAG:
		return "access-flag";
	case PHYSIM_FAULT_RESERVED:
		return "reserved";
	case PHYSIM_FAULT_ADDRESS_SIZE:
		return "address-size";
	case PHYSIM_FAULT_NON_CANONICAL:
		return "non-canonical";
	case PHYSIM_FAULT_BUS_ERROR:
		return "bus-error";
	}
	return "unknown";
}

int physim_fault_format(const struct physim_fault *f, char *buf, size_t len)
{
	if (f == NULL)
		return snprintf(buf, len, "(no fault information)");
	if (f->kind == PHYSIM_FAULT_NONE)
		return snprintf(buf, len, "no fault");
	char lvl[24] = "";
	/* -1 is "no level" for an input-address fault, but a real one for
	 * AArch64 (FEAT_LPA2 lookup level -1) */
	if (f->level >= 0 || f->kind != PHYSIM_FAULT_NON_CANONICAL)
		snprintf(lvl, sizeof(lvl), " at level %d", f->level);
	if (f->stage == 2)
		return snprintf(buf, len, "stage 2 %s fault%s, syndrome 0x%llx, gpa 0x%llx%s",
				physim_fault_kind_name(f->kind), lvl,
				(unsigned long long)f->syndrome, (unsigned long long)f->gpa,
				f->s1ptw ? " (stage-1 table walk)" : "");
	return snprintf(buf, len, "stage %u %s fault%s, syndrome 0x%llx, va 0x%llx", f->stage,
			physim_fault_kind_name(f->kind), lvl, (unsigned long long)f->syndrome,
			(unsigned long long)f->addr);
}

const char *physim_fault_str(const struct physim_fault *f)
{
	static _Thread_local char buf[160];
	physim_fault_format(f, buf, sizeof(buf));
	return buf;
}
