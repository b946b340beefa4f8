/* SPDX-License-Identifier: MIT */
/* lib/cpu.c - simulated CPUs and their machine: lifecycle, contexts, and
 * translation through each CPU's store of cached translations (the store
 * itself and invalidation: lib/cpu-store.c; the checks and reports:
 * lib/cpu-check.c; shared declarations: lib/cpu-priv.h).
 *
 * ---- What a hit may serve ----
 *
 * As in lib/tlb.c: an entry serves the privilege that filled it; reads and
 * fetches when its permissions allow them; writes only once a write walk
 * filled it (dirty known). Supervisor accesses to user pages and x86 user
 * accesses under protection keys always walk (SMAP/SMEP/PAN/SUM/PKRU change
 * without invalidation). Every other access walks and refills.
 */
#include "cpu-priv.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walk-format.h"

/* The classes an entry serves (lib/access-class.h), with the controls of
 * the mmu that filled it. */
static uint8_t allowed_classes(bool stage2_only, const struct physim_mmu_ctl *ctl,
			       const struct physim_access *acc, uint32_t perms)
{
	return access_allowed_classes(stage2_only, ctl->mbec, ctl->pke, acc, perms);
}

static uint8_t cond_classes(bool stage2_only, const struct physim_mmu_ctl *ctl,
			    const struct physim_access *acc, uint32_t perms)
{
	return access_cond_classes(stage2_only, ctl->pke, acc, perms);
}

/* May e serve acc conditionally, now: a class it served under the control
 * state of its fill, that state unchanged, and not an implicit access
 * (SMAP applies to those whatever RFLAGS.AC)? */
static bool cond_ok(const struct physim_cpu *c, const struct centry *e,
		    const struct physim_access *acc)
{
	if (acc->implicit || !((e->cond_allow >> access_class(acc)) & 1) || c->ctx.s1 == NULL)
		return false;
	uint64_t fp = c->ctx.s1->ctl_fp;
	return e->ctl_flags == (uint8_t)fp && e->ctl_pkru == (uint32_t)(fp >> 32);
}

/* ---- accessors for the per-arch files ---- */

struct physim_machine *physim_cpui_machine(const struct physim_cpu *cpu)
{
	return cpu->m;
}

enum physim_arch physim_cpui_arch(const struct physim_cpu *cpu)
{
	return cpu->m->cfg.arch;
}

const struct physim_cpu_context *physim_cpui_ctx(const struct physim_cpu *cpu)
{
	return &cpu->ctx;
}

bool physim_cpui_has_ctx(const struct physim_cpu *cpu)
{
	return cpu->loaded;
}

void physim_cpui_count_inval(struct physim_cpu *cpu)
{
	cpu->st.invalidations++;
}

uint64_t *physim_cpui_x86_cr4(struct physim_cpu *cpu)
{
	return &cpu->x86_cr4;
}

/* ---- machine ---- */

static int cpu_init(struct physim_machine *m, struct physim_cpu *c, unsigned i)
{
	c->m = m;
	c->index = i;
	c->front_rng = 0x9E3779B9u; /* any non-zero seed */
	/* the zeroed slots are of generation 0: empty */
	c->front_gen = UINT64_C(1) << FRONT_GEN_SHIFT;
	atomic_init(&c->pending, false);
	if (pthread_mutex_init(&c->lock, NULL) != 0)
		return -ENOMEM;
	uint64_t cap;
	if (m->cfg.mode == PHYSIM_CPU_BOUNDED) {
		cap = m->cfg.bounded_entries ? m->cfg.bounded_entries : BOUNDED_DEFAULT;
		c->hbits =
		    cap <= BOUNDED_WAYS ? 0 : log2_u64((cap + BOUNDED_WAYS - 1) / BOUNDED_WAYS);
		cap = ((uint64_t)BOUNDED_WAYS << c->hbits) + 1;
	} else {
		c->hbits = STRICT_INIT_BITS;
		cap = 64;
	}
	c->hmask = (UINT32_C(1) << c->hbits) - 1;
	c->head = calloc((size_t)1 << c->hbits, sizeof(*c->head));
	c->phead = calloc((size_t)1 << c->hbits, sizeof(*c->phead));
	c->pool = physim_cpui_pool_alloc(cap);
	c->pool_cap = (uint32_t)cap;
	if (c->head == NULL || c->phead == NULL || c->pool == NULL)
		return -ENOMEM;
	return 0;
}

static void cpu_fini(struct physim_cpu *c)
{
	if (c->m == NULL)
		return;
	free(c->head);
	free(c->phead);
	free(c->pool);
	for (size_t i = 0; i < c->nq; i++)
		physim_cpui_snap_put(c->queue[i].snap);
	free(c->queue);
	free(c->def);
	while (c->recs != NULL) {
		struct ctxrec *n = c->recs->next;
		free(c->recs);
		c->recs = n;
	}
	pthread_mutex_destroy(&c->lock);
}

int physim_machine_create(const struct physim_machine_config *config, struct physim_machine **out)
{
	if (config == NULL || out == NULL || config->ncpus == 0 || config->ncpus > CPU_MAX)
		return -EINVAL;
	if (config->arch < PHYSIM_ARCH_X86_64 || config->arch > PHYSIM_ARCH_LOONGARCH64)
		return -EINVAL;
	if (config->mode != PHYSIM_CPU_STRICT && config->mode != PHYSIM_CPU_BOUNDED)
		return -EINVAL;
	if (config->bounded_entries > BOUNDED_MAX)
		return -EINVAL;
	struct physim_machine *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->cfg = *config;
	m->cpu = calloc(config->ncpus, sizeof(*m->cpu));
	if (m->cpu == NULL || pthread_mutex_init(&m->kept_lock, NULL) != 0) {
		free(m->cpu);
		free(m);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < config->ncpus; i++) {
		int rc = cpu_init(m, &m->cpu[i], i);
		if (rc < 0) {
			m->ncpus = i + 1;
			physim_machine_destroy(m);
			return rc;
		}
	}
	m->ncpus = config->ncpus;
	*out = m;
	return 0;
}

void physim_machine_destroy(struct physim_machine *m)
{
	if (m == NULL)
		return;
	for (unsigned i = 0; i < m->ncpus; i++)
		cpu_fini(&m->cpu[i]);
	while (m->kept != NULL) {
		struct keep *k = m->kept;
		m->kept = k->next;
		k->fin(k->obj);
		free(k);
	}
	pthread_mutex_destroy(&m->kept_lock);
	free(m->cpu);
	free(m);
}

unsigned physim_machine_ncpus(const struct physim_machine *m)
{
	return m ? m->ncpus : 0;
}

struct physim_cpu *physim_machine_cpu(struct physim_machine *m, unsigned i)
{
	return m && i < m->ncpus ? &m->cpu[i] : NULL;
}

unsigned physim_cpu_index(const struct physim_cpu *cpu)
{
	return cpu ? cpu->index : 0;
}

struct physim_cpu_stats physim_cpu_stats(const struct physim_cpu *cpu)
{
	if (cpu == NULL)
		return (struct physim_cpu_stats){0};
	struct physim_cpu_stats s = cpu->st;
	s.entries = cpu->count;
	return s;
}

/* ---- context ---- */

/* The record of the context (s1, s2 as configured now), made once. */
static struct ctxrec *intern(struct physim_cpu *c, struct physim_mmu *s1, struct physim_mmu *s2)
{
	struct physim_mmu_config c1 = {0}, c2 = {0};
	if (s1 != NULL)
		physim_mmu_get_config(s1, &c1);
	if (s2 != NULL)
		physim_mmu_get_config(s2, &c2);
	for (struct ctxrec *r = c->recs; r != NULL; r = r->next) {
		if (r->s1 == s1 && r->s2 == s2 && same_cfg(&r->c1, &c1) && same_cfg(&r->c2, &c2))
			return r;
	}
	struct ctxrec *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	*r = (struct ctxrec){.next = c->recs, .s1 = s1, .s2 = s2, .c1 = c1, .c2 = c2};
	c->recs = r;
	return r;
}

/* The kind the context caches, and the tags a lookup compares. */
static void set_lookup(struct physim_cpu *c)
{
	const struct physim_cpu_context *x = &c->ctx;
	bool x86 = c->m->cfg.arch == PHYSIM_ARCH_X86_64;
	unsigned kind = x->s1 && x->s2 ? PHYSIM_ENTRY_COMB
			: x->s1	       ? PHYSIM_ENTRY_S1
				       : PHYSIM_ENTRY_S2;
	/* x86 guest-physical mappings are tagged by EP4TA only (SDM Vol. 3C
	 * "Information That May Be Cached"); linear ones carry no EP4TA. */
	uint16_t vmid = kind == PHYSIM_ENTRY_S2 && x86 ? 0 : x->vmid;
	/* Host-regime translations carry no VMID (x86 VMX root is VPID 0; Arm
	 * EL2 and RISC-V V = 0 are untagged by VMID). */
	if ((x->regime == PHYSIM_REGIME_HOST || x->regime == PHYSIM_REGIME_HOST_E20) &&
	    kind == PHYSIM_ENTRY_S1)
		vmid = 0;
	c->look_kind = (uint8_t)kind;
	c->look_ctag = mk_ctag(kind, x->regime, vmid);
	c->look_ep4ta =
	    x86 && kind != PHYSIM_ENTRY_S1 ? (x->eptp & UINT64_C(0x000FFFFFFFFFF000)) : 0;
	c->look_asid = kind == PHYSIM_ENTRY_S2 ? 0 : x->asid;
	c->look_mix = tag_mix(c->look_ctag, c->look_ep4ta, c->look_asid);
	physim_cpui_front_forget(c);
}

int physim_cpu_set_context(struct physim_cpu *cpu, const struct physim_cpu_context *ctx)
{
	if (cpu == NULL || ctx == NULL || (ctx->s1 == NULL && ctx->s2 == NULL))
		return -EINVAL;
	if (ctx->regime != PHYSIM_REGIME_HOST && ctx->regime != PHYSIM_REGIME_GUEST &&
	    !physim_cpui_arm_e20_ok(cpu, ctx))
		return -EINVAL;
	struct physim_mmu_config c;
	if (ctx->s1 != NULL) {
		physim_mmu_get_config(ctx->s1, &c);
		if (c.format->stage2)
			return -EINVAL;
	}
	if (ctx->s2 != NULL) {
		physim_mmu_get_config(ctx->s2, &c);
		if (!c.format->stage2)
			return -EINVAL;
	}
	physim_cpui_drain(cpu);
	struct ctxrec *r = intern(cpu, ctx->s1, ctx->s2);
	if (r == NULL)
		return -ENOMEM;
	cpu->ctx = *ctx;
	cpu->rec = r;
	cpu->loaded = true;
	if (ctx->regime != PHYSIM_REGIME_GUEST)
		cpu->arm_e2h = ctx->regime == PHYSIM_REGIME_HOST_E20;
	set_lookup(cpu);
	return 0;
}

void physim_cpu_get_context(const struct physim_cpu *cpu, struct physim_cpu_context *out)
{
	if (cpu != NULL && out != NULL)
		*out = cpu->ctx;
}

/* ---- translate ---- */

static inline void hit_result(const struct centry *e, uint64_t va, struct physim_xlate *x)
{
	uint64_t size = UINT64_C(1) << e->shift;
	uint64_t off = va & (size - 1);
	x->pa = e->pa + off;
	x->gpa = e->kind == PHYSIM_ENTRY_S1 ? 0 : e->gpa + off;
	x->page_size = size;
	x->level = e->level;
	x->perms = e->perms;
	x->global = e->global;
	x->mem_refs = 0;
	x->ad_updated = false;
	x->fault = (struct physim_fault){.kind = PHYSIM_FAULT_NONE};
	x->leaf_desc = e->leaf_desc;
	x->s2_leaf_desc = e->s2_leaf_desc;
}

/* Stage-1 leaf page shift of a nested walk (its architecture level). */
static unsigned s1_leaf_shift(const struct physim_mmu *s1, int arch_level, unsigned fallback)
{
	const struct pt_walk_ops *w = s1->ops;
	if (w == NULL || w->level_dir == 0)
		return fallback;
	int n = (arch_level - w->level_base) / w->level_dir;
	const struct physim_pt_format *f = s1->cfg.format;
	if (n < 0 || n >= f->levels)
		return fallback;
	return f->level[n].shift;
}

static const struct centry blank_entry; /* all zero */

static void fill(struct physim_cpu *c, const struct physim_access *acc,
		 const struct physim_xlate *x)
{
	const struct physim_cpu_context *ctx = &c->ctx;
	uint64_t size = x->page_size;
	if (size < 4096 || (size & (size - 1)))
		return;
	unsigned shift = log2_u64(size);
	uint64_t off = acc->va & (size - 1);
	unsigned kind = c->look_kind;
	const struct physim_mmu *ctlm = kind == PHYSIM_ENTRY_S2 ? ctx->s2 : ctx->s1;
	/* A zero template, then field by field: gcc zero-fills a 128-byte
	 * initializer with rep stos, which cost 15 ns a refill (INVLPG +
	 * refill: 70 -> 86 ns) when the entry grew to 128 bytes. */
	struct centry n = blank_entry;
	n.ctag = c->look_ctag;
	n.ep4ta = c->look_ep4ta;
	n.va = acc->va - off;
	n.pa = x->pa - off;
	n.gpa = kind == PHYSIM_ENTRY_S1 ? x->pa - off : x->gpa - off;
	n.ctx = c->rec;
	n.asid = c->look_asid;
	n.kind = (uint8_t)kind;
	n.regime = (uint8_t)ctx->regime;
	n.shift = n.s1_shift = n.s2_shift = (uint8_t)shift;
	n.allow = allowed_classes(kind == PHYSIM_ENTRY_S2, &ctlm->cfg.ctl, acc, x->perms);
	n.cond_allow = cond_classes(kind == PHYSIM_ENTRY_S2, &ctlm->cfg.ctl, acc, x->perms);
	uint64_t fp = ctlm->ctl_fp;
	n.ctl_flags = (uint8_t)fp;
	n.ctl_pkru = (uint32_t)(fp >> 32);
	n.perms = (uint8_t)x->perms;
	n.global = kind != PHYSIM_ENTRY_S2 && x->global;
	n.level = (int8_t)x->level;
	n.vmid = (uint16_t)(c->look_ctag >> 16);
	n.leaf_desc = x->leaf_desc;
	n.s2_leaf_desc = x->s2_leaf_desc;
	if (kind == PHYSIM_ENTRY_S2)
		n.gpa = n.va;
	if (kind == PHYSIM_ENTRY_COMB) {
		unsigned s1sh = s1_leaf_shift(ctx->s1, x->level, shift);
		n.s1_shift = (uint8_t)(s1sh > shift ? s1sh : shift);
		n.frac = n.s1_shift > shift;
		n.nested = true;
	}
	n.key = mk_key(n.va, n.frac ? n.s1_shift : shift);
	if (PHYSIM_UNLIKELY(c->m->cfg.check_bbm)) {
		if (kind != PHYSIM_ENTRY_COMB)
			physim_cpui_leaf_desc(ctlm, &n);
		else
			physim_cpui_nested_leaf_desc(c, acc, &n);
	}
	struct centry *old = find(c, acc->va, n.ctag, n.ep4ta, n.asid);
	if (old != NULL && old->pa == n.pa && old->gpa == n.gpa && old->perms == n.perms &&
	    old->shift == n.shift && old->global == n.global && old->ctx == n.ctx) {
		old->allow |= n.allow;
		if (old->ctl_flags == n.ctl_flags && old->ctl_pkru == n.ctl_pkru) {
			old->cond_allow |= n.cond_allow;
		} else { /* what the new control state allows, only */
			old->cond_allow = n.cond_allow;
			old->ctl_flags = n.ctl_flags;
			old->ctl_pkru = n.ctl_pkru;
		}
		old->leaf_desc = n.leaf_desc; /* the latest walk's attributes */
		old->s2_leaf_desc = n.s2_leaf_desc;
		physim_cpui_front_forget(c); /* its copies are out of date */
	} else {
		physim_cpui_drop_for(c, acc->va, n.ctag, n.ep4ta, n.asid);
		physim_cpui_insert(c, &n);
	}
	if (kind == PHYSIM_ENTRY_COMB) {
		/* The stage-2 leaf of the final GPA: the guest-physical entry the
		 * hardware may cache beside the combined one. */
		unsigned sh2 = physim_cpui_cache_s2(c, acc, x->gpa);
		struct centry *ce = sh2 ? find(c, acc->va, n.ctag, n.ep4ta, n.asid) : NULL;
		if (ce != NULL)
			ce->s2_shift = (uint8_t)(sh2 > shift ? sh2 : shift);
	}
}

unsigned physim_cpui_cache_s2(struct physim_cpu *c, const struct physim_access *acc, uint64_t gpa)
{
	const struct physim_cpu_context *ctx = &c->ctx;
	struct physim_access a2 = *acc;
	struct physim_xlate x2;
	a2.va = gpa;
	a2.implicit = false;
	if (physim_mmu_probe(ctx->s2, &a2, &x2) != 0 || x2.page_size < 4096 ||
	    (x2.page_size & (x2.page_size - 1)))
		return 0;
	unsigned sh2 = log2_u64(x2.page_size);
	uint64_t o2 = gpa & (x2.page_size - 1);
	bool x86 = c->m->cfg.arch == PHYSIM_ARCH_X86_64;
	uint16_t vm2 = x86 ? 0 : ctx->vmid;
	struct centry s2e = blank_entry; /* not an initializer: see fill() */
	s2e.ctag = mk_ctag(PHYSIM_ENTRY_S2, ctx->regime, vm2);
	s2e.ep4ta = c->look_ep4ta;
	s2e.va = s2e.gpa = gpa - o2;
	s2e.pa = x2.pa - o2;
	s2e.ctx = c->rec;
	s2e.kind = PHYSIM_ENTRY_S2;
	s2e.regime = (uint8_t)ctx->regime;
	s2e.shift = s2e.s1_shift = s2e.s2_shift = (uint8_t)sh2;
	s2e.allow = allowed_classes(true, &ctx->s2->cfg.ctl, acc, x2.perms);
	s2e.perms = (uint8_t)x2.perms;
	s2e.level = (int8_t)x2.level;
	s2e.vmid = vm2;
	s2e.leaf_desc = x2.leaf_desc;
	s2e.key = mk_key(s2e.va, sh2);
	if (PHYSIM_UNLIKELY(c->m->cfg.check_bbm))
		physim_cpui_leaf_desc(ctx->s2, &s2e);
	struct centry *old = find(c, s2e.va, s2e.ctag, s2e.ep4ta, 0);
	if (old != NULL && old->pa == s2e.pa && old->perms == s2e.perms &&
	    old->shift == s2e.shift && old->ctx == s2e.ctx) {
		old->allow |= s2e.allow;
		physim_cpui_front_forget(c);
	} else {
		physim_cpui_drop_for(c, s2e.va, s2e.ctag, s2e.ep4ta, 0);
		physim_cpui_insert(c, &s2e);
	}
	return sh2;
}

/* A nested walk may take the final GPA's stage-2 translation from a cached
 * stage-2 entry instead of walking stage 2 (SDM Vol. 3C "Creating and Using Cached Translation
 * Information": "the processor may use guest-physical mappings"; Arm and RISC-V caches likewise
 * hold stage-2 entries apart): so a stale stage-2 entry shows through a
 * fresh combined walk, as it does on hardware. */
static void use_cached_s2(struct physim_cpu *c, const struct physim_access *acc,
			  struct physim_xlate *x)
{
	bool x86 = c->m->cfg.arch == PHYSIM_ARCH_X86_64;
	uint16_t vm2 = x86 ? 0 : c->ctx.vmid;
	uint64_t ctag = mk_ctag(PHYSIM_ENTRY_S2, c->ctx.regime, vm2);
	struct centry *e = find(c, x->gpa, ctag, c->look_ep4ta, 0);
	struct physim_access a2 = *acc;
	a2.va = x->gpa;
	a2.implicit = false;
	if (e == NULL || !((e->allow >> access_class(&a2)) & 1))
		return;
	uint64_t size = UINT64_C(1) << e->shift;
	uint64_t pa = e->pa + (x->gpa & (size - 1));
	if (PHYSIM_UNLIKELY(c->m->cfg.check_stale))
		physim_cpui_stale_check(c, e, &a2);
	x->pa = pa;
}

static __attribute__((noinline)) int miss(struct physim_cpu *c, const struct physim_access *acc,
					  struct physim_xlate *x)
{
	const struct physim_cpu_context *ctx = &c->ctx;
	int rc;
	c->st.misses++;
	if (ctx->s1 != NULL && ctx->s2 != NULL) {
		if (c->m->cfg.walk_caches)
			rc = physim_cpui_nested_walk(c, acc, x);
		else
			rc = physim_nested_translate(ctx->s1, ctx->s2, acc, x);
		if (rc == 0)
			use_cached_s2(c, acc, x);
	} else {
		struct physim_mmu *m = ctx->s1 ? ctx->s1 : ctx->s2;
		rc = physim_mmu_translate(m, acc, x);
		if (c->m->cfg.walk_caches && (rc == 0 || rc == -EFAULT))
			physim_cpui_walk_cache_update(c, m, ctx->s1 ? 1 : 2, acc->va, rc != 0);
	}
	if (rc == 0)
		fill(c, acc, x);
	else if (rc == -EFAULT && c->m->cfg.arch == PHYSIM_ARCH_X86_64)
		/* A #PF invalidates the entries for the faulting address
		 * (SDM Vol. 3A 4.10.4.1). */
		physim_cpui_drop_for(c, acc->va, c->look_ctag, c->look_ep4ta, c->look_asid);
	return rc;
}

/* The store's lookup in the current context: the smallest page size in
 * use with this context's own (non-global) tags first, the common case;
 * then every size and globals. */
static struct centry *lookup(struct physim_cpu *cpu, uint64_t va)
{
	if (PHYSIM_LIKELY(cpu->nshift != 0)) {
		uint64_t key = mk_key(va, cpu->shifts[0]);
		uint32_t idx = cpu->head[bucket(cpu, key ^ cpu->look_mix)];
		while (idx != NIL) {
			struct centry *c = &cpu->pool[idx];
			if (tag_match(c, key, cpu->look_ctag, cpu->look_ep4ta, cpu->look_asid, va))
				return c;
			idx = c->next;
		}
	}
	return find(cpu, va, cpu->look_ctag, cpu->look_ep4ta, cpu->look_asid);
}

static inline int hit(struct physim_cpu *cpu, const struct centry *e,
		      const struct physim_access *acc, struct physim_xlate *x)
{
	cpu->st.hits++;
	hit_result(e, acc->va, x);
	if (PHYSIM_UNLIKELY(cpu->m->cfg.check_stale))
		physim_cpui_stale_check(cpu, e, acc);
	return 0;
}

/* Which of the 16 access_key() values an entry that serves the classes in
 * `allow` serves: those access_ok() accepts whose class it allows. */
static uint16_t allow16_of(unsigned allow)
{
	uint16_t m = 0;
	for (unsigned k = 0; k < 16; k++)
		m |= (uint16_t)((access_class_bits[k] & allow) != 0) << k;
	return m;
}

/* Should a hit outside the front cache take its slot? Always when the
 * slot is empty or of an older generation; when it holds a live page, one
 * time in 64 (a per-CPU xorshift): a sweep over more pages than the front
 * cache holds then rewrites few slots (rewriting one on every such hit
 * made a sweep of 2048 pages 1.7x slower, one in 8 still 1.6x), while a
 * new hot set still settles in, in a few hundred passes. */
static inline bool front_take(struct physim_cpu *cpu, const struct front_key *fk)
{
	if ((fk->tag >> FRONT_GEN_SHIFT) != (cpu->front_gen >> FRONT_GEN_SHIFT))
		return true;
	uint32_t r = cpu->front_rng;
	r ^= r << 13;
	r ^= r >> 17;
	r ^= r << 5;
	cpu->front_rng = r;
	return (r & 63) == 0;
}

/* Not in the front cache (or a remote invalidation is pending, or the
 * access is unusual): checks, the store's lookup, then the walk. */
static __attribute__((noinline)) int
translate_slow(struct physim_cpu *cpu, const struct physim_access *acc, struct physim_xlate *x)
{
	if (!access_ok(acc))
		return -EINVAL;
	if (atomic_load_explicit(&cpu->pending, memory_order_acquire))
		physim_cpui_drain(cpu);
	if (!cpu->loaded)
		return -ENXIO;
	struct centry *e = lookup(cpu, acc->va);
	if (e == NULL)
		return miss(cpu, acc, x);
	if (!((e->allow >> access_class(acc)) & 1))
		return cond_ok(cpu, e, acc) ? hit(cpu, e, acc, x) : miss(cpu, acc, x);
	uint64_t vpn = acc->va >> 12;
	struct front_key *fk = &cpu->front_key[vpn & (FRONT_SLOTS - 1)];
	if (!cpu->m->cfg.check_stale && front_take(cpu, fk)) {
		struct front_slot *fs = &cpu->front[vpn & (FRONT_SLOTS - 1)];
		uint64_t mask = (UINT64_C(1) << e->shift) - 1;
		*fk = (struct front_key){.tag = vpn | cpu->front_gen,
					 .allow16 = allow16_of(e->allow),
					 .has_gpa = e->kind != PHYSIM_ENTRY_S1};
		fs->offmask = mask;
		hit_result(e, acc->va & ~mask, &fs->x);
	}
	return hit(cpu, e, acc, x);
}

/* The hit path: a page translated lately is in its front slot (never with
 * check_stale). Its one call out is a tail call, so it saves no registers. */
PHYSIM_HOT_ENTRY int physim_cpu_translate(struct physim_cpu *cpu, const struct physim_access *acc,
					  struct physim_xlate *x)
{
	if (PHYSIM_UNLIKELY(cpu == NULL || x == NULL || acc == NULL))
		return -EINVAL;
	uint64_t va = acc->va, vpn = va >> 12;
	const struct front_key *fk = &cpu->front_key[vpn & (FRONT_SLOTS - 1)];
	bool pending = atomic_load_explicit(&cpu->pending, memory_order_acquire);
	/* one branch for all: a queued remote invalidation, another page, or
	 * a class the entry does not serve (a bool holds 0 or 1: C11 6.2.6.1
	 * makes any other value a trap representation) */
	if (PHYSIM_UNLIKELY(pending | (fk->tag != (vpn | cpu->front_gen)) |
			    !((fk->allow16 >> access_key(acc)) & 1)))
		return translate_slow(cpu, acc, x);
	const struct front_slot *fs = &cpu->front[vpn & (FRONT_SLOTS - 1)];
	uint64_t off = va & fs->offmask;
	cpu->st.hits++;
	/* the addresses first, then the rest of the result as it is */
	x->pa = fs->x.pa + off;
	x->gpa = fs->x.gpa + (off & -(uint64_t)fk->has_gpa);
	_Static_assert(offsetof(struct physim_xlate, gpa) == 8 &&
			   offsetof(struct physim_xlate, page_size) == 16,
		       "pa and gpa lead the result");
	memcpy((char *)x + 16, (const char *)&fs->x + 16, sizeof(*x) - 16);
	return 0;
}

/* ---- enumeration and audit ---- */

int physim_cpu_for_each_entry(struct physim_cpu *cpu,
			      int (*fn)(void *ctx, const struct physim_cpu_entry *e), void *ctx)
{
	if (cpu == NULL || fn == NULL)
		return -EINVAL;
	physim_cpui_drain(cpu);
	for (uint32_t idx = 1; idx <= cpu->pool_top; idx++) {
		if (cpu->pool[idx].key == 0)
			continue;
		struct physim_cpu_entry pe;
		physim_cpui_to_public(&cpu->pool[idx], &pe);
		int rc = fn(ctx, &pe);
		if (rc != 0)
			return rc;
	}
	return 0;
}

void *physim_cpui_machine_once(struct physim_machine *m, void **slot, void *(*make)(void),
			       void (*fin)(void *))
{
	pthread_mutex_lock(&m->kept_lock);
	void *have = *slot;
	pthread_mutex_unlock(&m->kept_lock);
	if (have != NULL || make == NULL)
		return have;
	void *obj = make();
	struct keep *k = malloc(sizeof(*k));
	if (obj == NULL || k == NULL) {
		if (obj != NULL)
			fin(obj);
		free(k);
		return NULL;
	}
	pthread_mutex_lock(&m->kept_lock);
	if (*slot == NULL) {
		*slot = obj;
		*k = (struct keep){.next = m->kept, .obj = obj, .fin = fin};
		m->kept = k;
		obj = NULL;
		k = NULL;
	}
	have = *slot;
	pthread_mutex_unlock(&m->kept_lock);
	if (obj != NULL)
		fin(obj);
	free(k);
	return have;
}

void physim_cpui_add_wrap(struct physim_machine *m, void *obj, void (*fin)(void *))
{
	struct keep *k = malloc(sizeof(*k));
	if (k == NULL) {
		/* leak-free fallback: the wrapper is released now, unusable */
		fin(obj);
		return;
	}
	*k = (struct keep){.obj = obj, .fin = fin};
	pthread_mutex_lock(&m->kept_lock);
	k->next = m->kept;
	m->kept = k;
	pthread_mutex_unlock(&m->kept_lock);
}
