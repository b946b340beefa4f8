/* SPDX-License-Identifier: MIT */
/* lib/cpu-remedy.c - the remedy of a report on a simulated CPU: the
 * invalidation the code under test issued that came closest to removing the
 * entry and why it did not (wrong kind, other CPU, operand), then what the
 * architecture needs, kept as text until the machine is destroyed.
 *
 * Each CPU keeps its last ISSUED_RING invalidations (struct issued, filled
 * by the per-architecture files through physim_cpui_note_issued) under its
 * mutex, numbered in one machine-wide order; an entry remembers the number
 * current when it was cached (centry.fill_seq). A report looks at every
 * CPU's ring: of the invalidations issued since the entry was cached, the
 * one failing the fewest filters (the newest on a tie) is named, with the
 * first filter it failed; when none was issued since, the newest one that
 * removes the entry is named as having run before it was cached again. */
#include "cpu-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the record ---- */

void physim_cpui_note_issued(struct physim_cpu *cpu, const struct inval *iv, int target,
			     uint32_t npages, bool deferred)
{
	struct physim_machine *m = cpu->m;
	uint64_t seq = atomic_fetch_add_explicit(&m->issued_seq, 1, memory_order_relaxed) + 1;
	pthread_mutex_lock(&cpu->lock);
	cpu->issued[cpu->issued_next] = (struct issued){.iv = *iv,
							.seq = seq,
							.npages = npages,
							.target = (int16_t)target,
							.deferred = deferred};
	cpu->issued_next = (cpu->issued_next + 1) % ISSUED_RING;
	pthread_mutex_unlock(&cpu->lock);
}

/* ---- the texts, kept per machine ---- */

enum { POOL_MAX = 4096, REMEDY_LEN = 768 };

struct rstr {
	struct rstr *next;
	char s[];
};

struct remedy_pool {
	pthread_mutex_t lock;
	struct rstr *head;
	unsigned n;
};

static void pool_free(void *obj)
{
	struct remedy_pool *p = obj;
	while (p->head != NULL) {
		struct rstr *n = p->head->next;
		free(p->head);
		p->head = n;
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static void *pool_make(void)
{
	struct remedy_pool *p = calloc(1, sizeof(*p));
	if (p != NULL && pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p);
		p = NULL;
	}
	return p;
}

/* The machine's pool, made at its first report; NULL without memory. */
static struct remedy_pool *pool_of(struct physim_machine *m)
{
	return physim_cpui_machine_once(m, &m->remedies, pool_make, pool_free);
}

/* s kept until the machine goes (the same text is kept once); `fallback`
 * (a static string) when it cannot be. */
static const char *intern(struct physim_machine *m, const char *s, const char *fallback)
{
	struct remedy_pool *p = pool_of(m);
	if (p == NULL)
		return fallback;
	const char *out = fallback;
	pthread_mutex_lock(&p->lock);
	for (struct rstr *r = p->head; r != NULL; r = r->next) {
		if (strcmp(r->s, s) == 0) {
			out = r->s;
			goto done;
		}
	}
	if (p->n < POOL_MAX) {
		size_t len = strlen(s) + 1;
		struct rstr *r = malloc(sizeof(*r) + len);
		if (r != NULL) {
			memcpy(r->s, s, len);
			r->next = p->head;
			p->head = r;
			p->n++;
			out = r->s;
		}
	}
done:
	pthread_mutex_unlock(&p->lock);
	return out;
}

/* ---- what an issued invalidation missed ---- */

static bool page_named(const struct issued *is, uint64_t base, unsigned shift)
{
	const struct inval *iv = &is->iv;
	uint64_t mask = iv->addr_mask & ~((UINT64_C(1) << shift) - 1);
	uint32_t n = is->npages ? is->npages : 1;
	for (uint32_t i = 0; i < n && i < 65536; i++) {
		if ((((iv->addr + (uint64_t)i * 4096) ^ base) & mask) == 0)
			return true;
	}
	return false;
}

/* The filters of is that e fails, as seen from CPU `cpu` (MISS_*). The
 * generic part of the store's matching, filter by filter. */
static unsigned misses(const struct issued *is, const struct physim_cpu_entry *e,
		       const struct centry *ce, unsigned cpu, bool s2_changed)
{
	const struct inval *iv = &is->iv;
	unsigned miss = 0;
	bool walk = e->kind == PHYSIM_ENTRY_WALK;
	/* a walk-cache entry matches as the kind its stage's invalidations
	 * remove (centry.wkind: stage 1, stage 2, or x86 nested stage 1 as
	 * combined) */
	unsigned kind = !walk		? (unsigned)e->kind
			: ce != NULL	? ce->wkind
			: e->stage == 2 ? PHYSIM_ENTRY_S2
					: PHYSIM_ENTRY_S1;
	if (!(iv->kinds & (1u << kind)))
		miss |= MISS_KIND;
	else if (e->kind == PHYSIM_ENTRY_COMB && s2_changed && !(iv->kinds & KIND_S2))
		miss |= MISS_STAGE;
	if (is->target >= 0 && (unsigned)is->target != cpu)
		miss |= MISS_CPU;
	if (iv->regime >= 0 && e->regime != (unsigned)iv->regime)
		miss |= MISS_REGIME;
	if ((iv->vmid >= 0 && e->vmid != (uint32_t)iv->vmid) || (iv->vmid_not0 && e->vmid == 0) ||
	    (iv->ep4ta >= 0 && e->kind != PHYSIM_ENTRY_S1 && e->ep4ta != (uint64_t)iv->ep4ta))
		miss |= MISS_VMID;
	if (kind != PHYSIM_ENTRY_S2) {
		bool g = e->global && !walk;
		switch (iv->global) {
		case INV_GLB_ANY:
			if (iv->asid >= 0 && !g && e->asid != (uint32_t)iv->asid)
				miss |= MISS_ASID;
			break;
		case INV_GLB_NONGLOBAL:
			if (g || (iv->asid >= 0 && e->asid != (uint32_t)iv->asid))
				miss |= MISS_ASID;
			break;
		default:
			if (!g)
				miss |= MISS_ASID;
			break;
		}
	}
	if (walk && iv->leaf_only)
		miss |= MISS_LEAF;
	if (!walk && iv->ttl_level >= 0 &&
	    (e->level != iv->ttl_level || physim_cpui_arm_granule(ce) != iv->ttl_granule))
		miss |= MISS_TTL;
	unsigned shift = log2_u64(e->page_size ? e->page_size : 4096);
	if (iv->addr_mode == INV_ADDR_INPUT && !(walk && iv->walk_any_addr) &&
	    !page_named(is, e->va, shift))
		miss |= MISS_ADDR;
	if (iv->addr_mode == INV_ADDR_GPA) {
		uint64_t a = kind == PHYSIM_ENTRY_S2 ? e->va : e->gpa;
		if (kind == PHYSIM_ENTRY_S1 || !page_named(is, a, shift))
			miss |= MISS_ADDR;
	}
	return miss;
}

static unsigned popcount(unsigned v)
{
	return (unsigned)__builtin_popcount(v);
}

/* The generic phrase for the first filter missed. */
static void generic_why(char *buf, size_t len, const struct issued *is,
			const struct physim_cpu_entry *e, unsigned miss)
{
	const struct inval *iv = &is->iv;
	if (miss & (MISS_KIND | MISS_STAGE))
		snprintf(buf, len, "which does not remove this kind of entry");
	else if (miss & MISS_CPU)
		snprintf(buf, len, "which acted on cpu %d only", is->target);
	else if (miss & MISS_REGIME)
		snprintf(buf, len, "which acts on another translation regime");
	else if ((miss & MISS_VMID) && iv->ep4ta >= 0)
		snprintf(buf, len, "which named another EPTP (EP4TA 0x%llx; the entry's is 0x%llx)",
			 (unsigned long long)iv->ep4ta, (unsigned long long)e->ep4ta);
	else if ((miss & MISS_VMID) && iv->vmid_not0)
		snprintf(buf, len, "which leaves VPID 0");
	else if (miss & MISS_VMID)
		snprintf(buf, len, "which named another VMID / VPID (%d; the entry's is %u)",
			 (int)iv->vmid, e->vmid);
	else if (miss & MISS_ASID)
		snprintf(buf, len,
			 iv->global == INV_GLB_NONGLOBAL && e->global
			     ? "which keeps global entries"
			     : "which named another ASID / PCID (%d; the entry's is %u)",
			 (int)iv->asid, e->asid);
	else if (miss & MISS_ADDR)
		snprintf(buf, len, "which named address 0x%llx, not this entry's page 0x%llx",
			 (unsigned long long)iv->addr,
			 (unsigned long long)(e->kind == PHYSIM_ENTRY_COMB &&
						      iv->addr_mode == INV_ADDR_GPA
						  ? e->gpa
						  : e->va));
	else if (miss & MISS_LEAF)
		snprintf(buf, len,
			 "which is a last-level (leaf-only) form: walk-cache entries stay");
	else if (miss & MISS_TTL)
		snprintf(buf, len,
			 "whose TTL hint names level %d, not the entry's level %d: with a wrong "
			 "hint nothing need be removed",
			 (int)iv->ttl_level, e->level);
	else
		snprintf(buf, len, "which removes it");
}

static const char *arch_why(enum physim_arch arch, const struct inval *iv,
			    const struct physim_cpu_entry *e, unsigned miss, bool s2_changed,
			    char *buf, size_t len)
{
	switch (arch) {
	case PHYSIM_ARCH_LOONGARCH64:
		return physim_cpui_la_why(iv, e, miss, buf, len);
	case PHYSIM_ARCH_X86_64:
		return physim_cpui_x86_why(iv, e, miss, s2_changed);
	case PHYSIM_ARCH_AARCH64:
		return physim_cpui_arm_why(iv, e, miss, s2_changed);
	case PHYSIM_ARCH_RISCV64:
		return physim_cpui_rv_why(iv, e, miss, s2_changed);
	default:
		return NULL;
	}
}

static const char *needed(enum physim_arch arch, const struct physim_cpu_entry *e, bool s2_changed)
{
	switch (arch) {
	case PHYSIM_ARCH_X86_64:
		return physim_cpui_x86_remedy(e, s2_changed);
	case PHYSIM_ARCH_AARCH64:
		return physim_cpui_arm_remedy(e, s2_changed);
	case PHYSIM_ARCH_RISCV64:
		return physim_cpui_rv_remedy(e, s2_changed);
	default:
		return physim_cpui_la_remedy(e, s2_changed);
	}
}

/* Every CPU's record, newest first. */
static size_t gather(struct physim_machine *m, struct issued *out, unsigned *issuer)
{
	size_t n = 0;
	for (unsigned k = 0; k < m->ncpus; k++) {
		struct physim_cpu *o = &m->cpu[k];
		pthread_mutex_lock(&o->lock);
		for (unsigned i = 0; i < ISSUED_RING; i++) {
			if (o->issued[i].seq == 0)
				continue;
			out[n] = o->issued[i];
			issuer[n] = k;
			n++;
		}
		pthread_mutex_unlock(&o->lock);
	}
	for (size_t i = 1; i < n; i++) { /* insertion sort by seq, descending */
		struct issued t = out[i];
		unsigned ti = issuer[i];
		size_t j = i;
		for (; j > 0 && out[j - 1].seq < t.seq; j--) {
			out[j] = out[j - 1];
			issuer[j] = issuer[j - 1];
		}
		out[j] = t;
		issuer[j] = ti;
	}
	return n;
}

const char *physim_cpui_remedy(struct physim_cpu *c, const struct physim_cpu_entry *e,
			       const struct centry *ce, bool stage2_changed, bool pending)
{
	uint32_t fill_seq = ce->fill_seq;
	struct physim_machine *m = c->m;
	enum physim_arch arch = m->cfg.arch;
	const char *need = needed(arch, e, stage2_changed);
	size_t cap = (size_t)m->ncpus * ISSUED_RING;
	struct issued *all = malloc(cap * sizeof(*all));
	unsigned *issuer = malloc(cap * sizeof(*issuer));
	if (all == NULL || issuer == NULL) {
		free(all);
		free(issuer);
		return need;
	}
	size_t n = gather(m, all, issuer);
	/* Issued since the entry was cached: the one failing fewest filters,
	 * the newest on a tie (a full match there is one still pending).
	 * Before: the newest that removes it, which ran before the refill. */
	long best = -1, before = -1;
	unsigned best_miss = 0, best_score = ~0u;
	for (size_t i = 0; i < n; i++) {
		unsigned miss = misses(&all[i], e, ce, c->index, stage2_changed);
		/* issued before the entry was cached (32-bit sequence numbers,
		 * compared across a wrap) */
		if ((int32_t)((uint32_t)all[i].seq - fill_seq) <= 0) {
			if (miss == 0 && before < 0)
				before = (long)i;
			continue;
		}
		unsigned score = popcount(miss);
		if (score < best_score) {
			best = (long)i;
			best_miss = miss;
			best_score = score;
		}
	}
	char buf[REMEDY_LEN], why[384];
	const char *kind = e->kind == PHYSIM_ENTRY_S1	  ? "stage-1"
			   : e->kind == PHYSIM_ENTRY_S2	  ? "stage-2"
			   : e->kind == PHYSIM_ENTRY_COMB ? "combined"
							  : "walk-cache";
	if (best >= 0) {
		const struct issued *is = &all[best];
		char awbuf[sizeof(why)];
		const char *aw =
		    arch_why(arch, &is->iv, e, best_miss, stage2_changed, awbuf, sizeof(awbuf));
		if (best_miss == 0)
			snprintf(why, sizeof(why), "which removes it but has not completed%s",
				 pending ? "" : " on this CPU");
		else if (aw != NULL)
			snprintf(why, sizeof(why), "%s", aw);
		else
			generic_why(why, sizeof(why), is, e, best_miss);
		snprintf(buf, sizeof(buf),
			 "the %s entry survives %s (issued on cpu %u), %s; needed: %s", kind,
			 is->iv.name, issuer[best], why, need);
	} else if (before >= 0) {
		snprintf(buf, sizeof(buf),
			 "%s (cpu %u) removes the %s entry but ran before it was cached again, and "
			 "nothing was issued since; needed: %s",
			 all[before].iv.name, issuer[before], kind, need);
	} else {
		snprintf(buf, sizeof(buf),
			 "no invalidation issued since it was cached could remove the %s entry; "
			 "needed: %s",
			 kind, need);
	}
	free(all);
	free(issuer);
	return intern(m, buf, need);
}
