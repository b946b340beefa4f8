/* SPDX-License-Identifier: MIT */
/* lib/walk.c - the one translation walk for every format: input check, root
 * selection, descriptor fetch through the paging handler, the family's rules
 * (lib/walk-format.h) per level, A/D write-back by compare-and-swap, and
 * two-stage nested walks. The TLB is in lib/tlb.c. */
#include "walk-format.h"

#include <stdio.h>
#include <stdlib.h>

/* A walk whose A/D compare-and-swap keeps losing to concurrent writers gives
 * up after this many attempts with -EBUSY (hardware would retry forever; a
 * test should not hang). */
#define WALK_MAX_ATTEMPTS 64

/* ---- table memory ---- */

/* Host pointer to the descriptor of `bytes` bytes at hpa, or NULL if it does
 * not resolve. A naturally aligned descriptor never crosses a frame, so one
 * phys_to_virt call covers it; a misaligned one (only a hostile root can
 * produce it) is refused so that loads and CAS stay atomic. */
static inline void *desc_ptr(const struct physim_paging_handler *ph, uint64_t hpa, unsigned bytes)
{
	if (PHYSIM_UNLIKELY(hpa & (bytes - 1)))
		return NULL;
	if (PHYSIM_LIKELY(ph->direct.size != 0)) {
		void *p = physim_dm_phys_to_virt_checked(&ph->direct, hpa, bytes);
		if (PHYSIM_LIKELY(p != NULL))
			return p;
	}
	return ph->phys_to_virt(ph->ctx, hpa);
}

/* Relaxed atomic load: another thread may be changing the table. */
static inline uint64_t desc_load(const void *p, unsigned bytes)
{
	if (bytes == 8)
		return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
	return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
}

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

/* ---- one stage ---- */

/* One request to walk one stage. */
struct walk_req {
	const struct physim_mmu *m;
	const struct physim_mmu *s2; /* stage 1 of a nested walk: tables are GPAs */
	struct physim_access acc;
	enum walk_origin origin;
	uint32_t s1_perms;		  /* WALK_NESTED_FINAL: stage 1's effective perms */
	const struct physim_access *orig; /* as walk_state.orig */
	bool probe;
	unsigned *mem_refs;
	bool *ad_updated;
};

/* A descriptor the walk used, for the write-back. */
struct walk_used {
	void *p;
	uint64_t d, d_new;
	uint64_t gpa; /* nested stage 1: the entry's guest-physical address */
};

static int walk_stage(const struct walk_req *r, struct physim_xlate *x);

/* Stage of the faults this mmu reports on its own. */
static inline unsigned mmu_stage(const struct physim_mmu *m)
{
	return m->cfg.format->stage2 ? 2 : 1;
}

static int stage_fault(const struct walk_req *r, const struct walk_state *w,
		       enum physim_fault_kind kind, int level, struct physim_xlate *x)
{
	r->m->ops->fault(w, kind, level, &x->fault);
	x->fault.stage = mmu_stage(r->m);
	x->fault.addr = r->acc.va;
	if (x->fault.stage == 2)
		x->fault.gpa = r->acc.va;
	return -EFAULT;
}

/* Translate the GPA of a stage-1 entry through stage 2 (an implicit access,
 * a read for the fetch and a write for an A/D update); a stage-2 fault
 * becomes the result with s1ptw set. refs == NULL: not counted. */
static int s1_entry_hpa(const struct walk_req *r, uint64_t gpa, bool write, unsigned *refs,
			uint64_t *hpa, struct physim_xlate *x)
{
	unsigned dummy = 0;
	struct physim_xlate x2;
	struct walk_req r2 = {
	    .m = r->s2,
	    .acc = {.va = gpa, .write = write, .user = r->acc.user},
	    .origin = WALK_NESTED_TABLE,
	    .orig = r->m->cfg.format->arch == r->s2->cfg.format->arch ? &r->acc : NULL,
	    .probe = r->probe,
	    .mem_refs = refs ? refs : &dummy,
	    .ad_updated = r->ad_updated,
	};
	int rc = walk_stage(&r2, &x2);

	if (rc == -EFAULT) {
		x->fault = x2.fault;
		x->fault.s1ptw = true;
		x->gpa = gpa;
	}
	*hpa = x2.pa;
	return rc;
}

/* Write back the A/D updates of a successful walk, root first. -EAGAIN if a
 * descriptor changed since it was read (the caller walks again). */
static int write_back(const struct walk_req *r, const struct walk_used *used, unsigned n,
		      struct physim_xlate *x)
{
	unsigned bytes = r->m->cfg.format->pte_bytes;

	for (unsigned i = 0; i < n; i++) {
		const struct walk_used *u = &used[i];
		if (u->d_new == u->d)
			continue;
		if (r->s2) {
			/* The stage-1 update is a write through stage 2. */
			uint64_t hpa;
			int rc = s1_entry_hpa(r, u->gpa, true, NULL, &hpa, x);
			if (rc < 0)
				return rc;
		}
		if (!desc_cas(u->p, bytes, u->d, u->d_new))
			return -EAGAIN;
		*r->ad_updated = true;
	}
	return 0;
}

/* Host pointer to the descriptor at table address ea (a GPA in a nested
 * stage 1). Returns 0, -EFAULT with x->fault set, or another error. */
static int fetch_ptr(const struct walk_req *r, const struct walk_state *w, uint64_t ea,
		     unsigned level, void **p, struct physim_xlate *x)
{
	const struct physim_pt_format *f = r->m->cfg.format;
	const struct physim_paging_handler *ph = r->m->cfg.mem;
	uint64_t hpa = ea;

	if (r->s2) {
		int rc = s1_entry_hpa(r, ea, false, r->mem_refs, &hpa, x);
		if (rc < 0)
			return rc;
		ph = r->s2->cfg.mem;
	}
	*p = desc_ptr(ph, hpa, f->pte_bytes);
	if (PHYSIM_UNLIKELY(*p == NULL)) {
		stage_fault(r, w, PHYSIM_FAULT_BUS_ERROR, (int)level, x);
		if (r->s2)
			x->fault.gpa = x->gpa = ea;
		return -EFAULT;
	}
	return 0;
}

/* One attempt at walking one stage: 0, -EFAULT, -EAGAIN (walk again) or
 * another error from a nested stage-2 walk. */
static int walk_attempt(const struct walk_req *r, struct physim_xlate *x)
{
	const struct physim_mmu *m = r->m;
	const struct physim_pt_format *f = m->cfg.format;
	const struct pt_walk_ops *ops = m->ops;
	struct walk_state w = {
	    .fmt = f,
	    .ctl = &m->cfg.ctl,
	    .va = r->acc.va,
	    .write = r->acc.write,
	    .exec = r->acc.exec,
	    .user = r->acc.user,
	    .implicit = r->acc.implicit,
	    .probe = r->probe,
	    .origin = r->origin,
	    .s1_perms = r->s1_perms,
	    .orig = r->orig,
	};
	struct walk_used used[PHYSIM_PT_MAX_LEVELS];
	struct walk_step s = {0};
	unsigned n = 0, leaf_level = 0;
	uint64_t table;
	int rc;

	if (ops->begin(&w, m->cfg.root, m->cfg.root_hi, &table, &x->fault) != 0) {
		x->fault.stage = mmu_stage(m);
		x->fault.addr = r->acc.va;
		x->fault.gpa = x->fault.stage == 2 ? r->acc.va : 0;
		return -EFAULT;
	}
	for (unsigned level = f->levels; level-- > 0;) {
		uint64_t ea = table + pt_index(f, r->acc.va, level) * f->pte_bytes;
		void *p;
		rc = fetch_ptr(r, &w, ea, level, &p, x);
		if (rc < 0)
			return rc;
		uint64_t d = desc_load(p, f->pte_bytes);
		++*r->mem_refs;
		s = (struct walk_step){0};
		enum physim_fault_kind k = ops->step(&w, d, level, &s);
		if (k == PHYSIM_FAULT_NONE && !s.leaf && level == 0)
			k = PHYSIM_FAULT_RESERVED; /* a table pointer in a last-level table */
		if (k != PHYSIM_FAULT_NONE)
			return stage_fault(r, &w, k, (int)level, x);
		used[n++] = (struct walk_used){.p = p, .d = d, .d_new = s.d_new, .gpa = ea};
		if (s.leaf) {
			leaf_level = level;
			break;
		}
		table = s.next;
	}
	/* The result only once the write-back succeeded: a stage-2 fault on
	 * a stage-1 A/D update leaves nothing but the fault in x. */
	rc = r->probe ? 0 : write_back(r, used, n, x);
	if (rc == 0) {
		uint64_t size = s.page_size ? s.page_size : pt_level_page_size(f, leaf_level);
		x->pa = s.next + (r->acc.va & (size - 1));
		x->page_size = size;
		x->level = walk_arch_level(ops, leaf_level);
		x->perms = s.perms;
		x->global = s.global;
	}
	return rc;
}

/* Walk one stage, again after a lost A/D race. x is cleared first; on a
 * fault it holds the fault (and gpa for nested faults). */
static int walk_stage(const struct walk_req *r, struct physim_xlate *x)
{
	for (unsigned attempt = 0; attempt < WALK_MAX_ATTEMPTS; attempt++) {
		*x = (struct physim_xlate){0};
		int rc = walk_attempt(r, x);
		if (rc != -EAGAIN)
			return rc;
	}
	physim_log_warn("walk: descriptors of va %#llx keep changing; giving up",
			(unsigned long long)r->acc.va);
	*x = (struct physim_xlate){0};
	return -EBUSY;
}

/* ---- public calls ---- */

/* A fetch is never a write; an implicit access is a supervisor data access. */
static bool access_ok(const struct physim_access *acc)
{
	return acc != NULL && !(acc->write && acc->exec) &&
	       !(acc->implicit && (acc->user || acc->exec));
}

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
static void mmu_configure(struct physim_mmu *m, const struct physim_mmu_config *c)
{
	m->cfg = *c;
	m->ops = c->format->walk;
	m->tlb_id = (uint32_t)c->vmid << 16 | c->asid;
	const struct physim_pt_format *f = c->format;
	unsigned log2_bytes = f->pte_bytes == 8 ? 3 : 2;
	for (unsigned n = 0; n < f->levels; n++) {
		m->idx_shift[n] = (uint8_t)(f->level[n].shift - log2_bytes);
		m->idx_mask[n] = (pt_level_entries(f, n) - 1) << log2_bytes;
	}
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
	mmu_configure(m, config);
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
	mmu_configure(mmu, &c);
	return 0;
}

void physim_mmu_use_fast(struct physim_mmu *mmu, bool on)
{
	if (mmu != NULL)
		mmu->no_fast = !on;
}

/* The rest of a successful translation after a fast walk (which set pa,
 * page_size, level, perms, global and mem_refs), as the loop leaves it. */
static inline void fast_result(struct physim_xlate *x, uint64_t gpa)
{
	x->gpa = gpa;
	x->ad_updated = false;
	x->fault = (struct physim_fault){.kind = PHYSIM_FAULT_NONE};
}

static int translate_one(const struct physim_mmu *mmu, const struct physim_access *acc,
			 struct physim_xlate *x, bool probe)
{
	if (mmu == NULL || x == NULL || !access_ok(acc) || mmu->cfg.mem == NULL)
		return -EINVAL;
	if (mmu->ops->fast != NULL && !mmu->no_fast) {
		struct walk_fast_req fr = {.m = mmu, .acc = acc, .probe = probe};
		if (PHYSIM_LIKELY(mmu->ops->fast(&fr, x))) {
			fast_result(x, mmu->cfg.format->stage2 ? acc->va : 0);
			return 0;
		}
	}
	unsigned refs = 0;
	bool ad = false;
	struct walk_req r = {
	    .m = mmu,
	    .acc = *acc,
	    .origin = WALK_DIRECT,
	    .probe = probe,
	    .mem_refs = &refs,
	    .ad_updated = &ad,
	};
	int rc = walk_stage(&r, x);
	if (rc == 0 || rc == -EFAULT) {
		x->mem_refs = refs;
		x->ad_updated = ad;
		if (rc == 0 && mmu->cfg.format->stage2)
			x->gpa = acc->va;
	}
	return rc;
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

/* Both stages by their fast walkers; false: take the loop. */
static bool nested_fast(const struct physim_mmu *s1, const struct physim_mmu *s2,
			const struct physim_access *acc, struct physim_xlate *x, bool probe)
{
	if (s1->ops->fast == NULL || s2->ops->fast == NULL || s1->no_fast || s2->no_fast)
		return false;
	struct walk_fast_req r1 = {
	    .m = s1, .s2 = s2, .acc = acc, .probe = probe, .origin = WALK_NESTED_S1};
	struct physim_xlate x1;
	if (!s1->ops->fast(&r1, &x1))
		return false;
	struct physim_access a2 = *acc;
	a2.va = x1.pa;
	struct walk_fast_req r2 = {
	    .m = s2, .acc = &a2, .probe = probe, .origin = WALK_NESTED_FINAL, .s1_perms = x1.perms};
	if (!s2->ops->fast(&r2, x))
		return false;
	x->page_size = x1.page_size < x->page_size ? x1.page_size : x->page_size;
	x->level = x1.level;
	x->perms = nested_perms(x1.perms, x->perms);
	x->global = x1.global;
	x->mem_refs += x1.mem_refs;
	fast_result(x, x1.pa);
	return true;
}

/* Stage 1 through stage 2, then the output GPA through stage 2. */
static int nested(const struct physim_mmu *s1, const struct physim_mmu *s2,
		  const struct physim_access *acc, struct physim_xlate *x, bool probe)
{
	if (s1 == NULL || s2 == NULL || x == NULL || !access_ok(acc) || s2->cfg.mem == NULL ||
	    s1->cfg.format->stage2 || !s2->cfg.format->stage2)
		return -EINVAL;
	if (PHYSIM_LIKELY(nested_fast(s1, s2, acc, x, probe)))
		return 0;
	unsigned refs = 0;
	bool ad = false;
	struct physim_xlate x1, x2;
	struct walk_req r1 = {
	    .m = s1,
	    .s2 = s2,
	    .acc = *acc,
	    .origin = WALK_NESTED_S1,
	    .probe = probe,
	    .mem_refs = &refs,
	    .ad_updated = &ad,
	};
	int rc = walk_stage(&r1, &x1);
	if (rc < 0) {
		if (rc == -EFAULT) {
			*x = x1;
			x->mem_refs = refs;
			x->ad_updated = ad;
		}
		return rc;
	}
	struct walk_req r2 = r1;
	r2.m = s2;
	r2.s2 = NULL;
	r2.acc.va = x1.pa;
	r2.origin = WALK_NESTED_FINAL;
	r2.s1_perms = x1.perms;
	rc = walk_stage(&r2, &x2);
	if (rc == -EFAULT) {
		*x = (struct physim_xlate){.gpa = x1.pa, .fault = x2.fault};
	} else if (rc == 0) {
		*x = (struct physim_xlate){
		    .pa = x2.pa,
		    .gpa = x1.pa,
		    .page_size = x1.page_size < x2.page_size ? x1.page_size : x2.page_size,
		    .level = x1.level,
		    .perms = nested_perms(x1.perms, x2.perms),
		    .global = x1.global,
		};
	} else {
		return rc;
	}
	x->mem_refs = refs;
	x->ad_updated = ad;
	return rc;
}

int physim_nested_translate(struct physim_mmu *s1, struct physim_mmu *s2,
			    const struct physim_access *acc, struct physim_xlate *x)
{
	return nested(s1, s2, acc, x, false);
}

int physim_nested_probe(const struct physim_mmu *s1, const struct physim_mmu *s2,
			const struct physim_access *acc, struct physim_xlate *x)
{
	return nested(s1, s2, acc, x, true);
}

int physim_translate(struct physim_pt *pt, const struct physim_access *acc, struct physim_xlate *x)
{
	if (pt == NULL || x == NULL || !access_ok(acc))
		return -EINVAL;
	const struct physim_paging_handler *ph = physim_pt_paging(pt);
	if (ph == NULL)
		return -ENOTSUP;
	struct physim_mmu m;
	m.no_fast = false; /* mmu_configure leaves it to set_config's caller */
	/* The engine keeps both halves of a sign-extended input range in its
	 * one root, so that root is also the upper-half one (LoongArch PGDH). */
	const struct physim_pt_format *f = physim_pt_format(pt);
	mmu_configure(
	    &m, &(struct physim_mmu_config){.format = f,
					    .mem = ph,
					    .root = physim_pt_root(pt),
					    .root_hi = f->sign_extended ? physim_pt_root(pt) : 0});
	if (m.ops == NULL)
		return -ENOTSUP;
	return physim_mmu_translate(&m, acc, x);
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
	if (f->level >= 0)
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
