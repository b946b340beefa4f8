/* SPDX-License-Identifier: MIT */
/* lib/cpu-store.c - each simulated CPU's store of cached translations: its
 * hash chains, insertion and removal, the generic invalidation every
 * architecture's instructions reduce to, and the cross-thread queue of
 * broadcast and deferred invalidations.
 *
 * ---- The store ----
 *
 * Per CPU, a chained hash table of entries keyed by (input page, index
 * shift): the page number at the entry's own page size, except for a
 * combined entry smaller than its stage-1 page (a fractured large page),
 * which is keyed by its stage-1 page so that an invalidation by any address
 * of that page finds it. The key carries no tag, so every entry for one page
 * - any kind, ASID, VMID - sits in one chain: a lookup probes one bucket per
 * page size in use on this CPU (smallest first), and an invalidation by
 * address probes the same buckets and never scans the store. Invalidations
 * without an address (by ASID, VMID, all) scan it; so does RISC-V
 * HFENCE.GVMA with an address, which must find combined entries by their
 * GPA (priv spec, HFENCE.GVMA commentary), which the index does not know.
 *
 * Strict mode grows the table (buckets double when entries outnumber them)
 * and never evicts. Bounded mode has entries/4 buckets of at most 4 entries
 * (a 4-way set-associative cache) and evicts a set's oldest entry.
 *
 * ---- Threads ----
 *
 * The store, the context and the statistics belong to the CPU's thread.
 * Another thread reaches a CPU only through physim_cpui_post(): under the CPU's
 * mutex it appends to the CPU's queue and sets `pending` (release). The CPU
 * checks `pending` (acquire) at the start of every translation and
 * instruction and, if set, drains the queue under its mutex - so the hit
 * path costs one atomic load and no lock. Deferred invalidations (Arm TLBI
 * awaiting DSB, RISC-V SINVAL awaiting SFENCE.INVAL.IR) are kept in the
 * issuer's list under its mutex too, because a stale-use report on another
 * CPU reads them to say "issued but not completed".
 */
#include "cpu-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walk-format.h"

void physim_cpui_to_public(const struct centry *e, struct physim_cpu_entry *out)
{
	*out = (struct physim_cpu_entry){
	    .kind = (enum physim_entry_kind)e->kind,
	    .regime = (enum physim_regime)e->regime,
	    .va = e->va,
	    .pa = e->pa,
	    .gpa = e->gpa,
	    .page_size = UINT64_C(1) << e->shift,
	    .perms = e->perms,
	    .global = e->global,
	    .asid = e->asid,
	    .vmid = e->vmid,
	    .ep4ta = e->ep4ta,
	    .level = e->level,
	    .stage = e->kind == PHYSIM_ENTRY_WALK ? e->wstage : 0,
	};
}

/* ---- matching an invalidation ---- */

static bool addr_covered(uint64_t base, unsigned shift, const struct inval *iv)
{
	uint64_t mask = iv->addr_mask & ~((UINT64_C(1) << shift) - 1);
	return ((base ^ iv->addr) & mask) == 0;
}

/* The filters every entry kind shares: regime, VMID / VPID, EP4TA. */
static inline bool tags_match(const struct inval *iv, const struct centry *e)
{
	return (iv->regime < 0 || e->regime == (unsigned)iv->regime) &&
	       (iv->vmid < 0 || e->vmid == (uint32_t)iv->vmid) &&
	       !(iv->vmid_not0 && e->vmid == 0) &&
	       (iv->ep4ta < 0 || e->ep4ta == (uint64_t)iv->ep4ta);
}

/* A walk-cache entry: removed by what removes the final translations of its
 * stage, unless the invalidation is last-level only; an x86 individual-
 * address invalidation removes the PCID's walk-cache entries whatever their
 * address (SDM Vol. 3A 4.10.4.1). */
static bool walk_matches(const struct inval *iv, const struct centry *e)
{
	unsigned stage_kind = e->wkind;
	if (iv->leaf_only || !(iv->kinds & (1u << stage_kind)) || !tags_match(iv, e))
		return false;
	if (stage_kind == PHYSIM_ENTRY_S1) {
		if (iv->global == INV_GLB_ONLY_GLOBAL)
			return false;
		if (iv->asid >= 0 && e->asid != (uint32_t)iv->asid)
			return false;
	}
	if (iv->addr_mode == INV_ADDR_NONE || iv->walk_any_addr)
		return true;
	if (iv->addr_mode == INV_ADDR_GPA && stage_kind != PHYSIM_ENTRY_S2)
		return false;
	return addr_covered(e->va, e->shift, iv);
}

static bool centry_matches(const struct inval *iv, const struct centry *e)
{
	if (e->kind == PHYSIM_ENTRY_WALK)
		return walk_matches(iv, e);
	if (!(iv->kinds & (1u << e->kind)) || !tags_match(iv, e))
		return false;
	if (e->kind != PHYSIM_ENTRY_S2) {
		switch (iv->global) {
		case INV_GLB_ANY:
			if (iv->asid >= 0 && !e->global && e->asid != (uint32_t)iv->asid)
				return false;
			break;
		case INV_GLB_NONGLOBAL:
			if (e->global || (iv->asid >= 0 && e->asid != (uint32_t)iv->asid))
				return false;
			break;
		default:
			if (!e->global)
				return false;
			break;
		}
	}
	/* A TTL hint that does not describe the entry (another level or
	 * granule): nothing need be removed (Arm ARM, TLBI VAE1 "TTL"). */
	if (iv->ttl_level >= 0 &&
	    (e->level != iv->ttl_level || physim_cpui_arm_granule(e) != iv->ttl_granule))
		return false;
	switch (iv->addr_mode) {
	case INV_ADDR_INPUT:
		/* A fractured combined entry goes with its whole stage-1 page
		 * (an invalidation by any address of a large page removes every
		 * entry cached for it) - one descriptor of a run (lib/cpu-runs.c). */
		return addr_covered(e->va,
				    e->kind == PHYSIM_ENTRY_COMB
					? physim_cpui_comb_match_shift(e, INV_ADDR_INPUT)
					: e->shift,
				    iv);
	case INV_ADDR_GPA:
		if (e->kind == PHYSIM_ENTRY_S2)
			return addr_covered(e->va, e->shift, iv);
		if (e->kind == PHYSIM_ENTRY_COMB)
			return addr_covered(e->gpa, physim_cpui_comb_match_shift(e, INV_ADDR_GPA),
					    iv);
		return false;
	default:
		return true;
	}
}

bool physim_cpui_inval_matches(const struct inval *iv, const struct physim_cpu_entry *pe, int level)
{
	unsigned shift = log2_u64(pe->page_size ? pe->page_size : 4096);
	struct centry e = {
	    .kind = (uint8_t)pe->kind,
	    .regime = (uint8_t)pe->regime,
	    .va = pe->va,
	    .gpa = pe->gpa,
	    .shift = (uint8_t)shift,
	    .s1_shift = (uint8_t)shift,
	    .s2_shift = (uint8_t)shift,
	    .global = pe->global,
	    .asid = pe->asid,
	    .vmid = pe->vmid,
	    .ep4ta = pe->ep4ta,
	    .level = (int8_t)level,
	    .wstage = (uint8_t)pe->stage,
	    .wkind = pe->stage == 2 ? PHYSIM_ENTRY_S2 : PHYSIM_ENTRY_S1,
	};
	return centry_matches(iv, &e);
}

/* ---- the store ---- */

static inline uint32_t tbucket_of(const struct physim_cpu *c, const struct centry *e)
{
	return bucket(c, tag_hash(e->key, e->ctag, e->ep4ta, akey_of(e)));
}

static void add_shift(uint8_t *list, unsigned *n, unsigned shift)
{
	unsigned i = 0;
	while (i < *n && list[i] < shift)
		i++;
	if (i < *n && list[i] == shift)
		return;
	memmove(&list[i + 1], &list[i], *n - i);
	list[i] = (uint8_t)shift;
	(*n)++;
}

/* Lookups probe c->shifts; WALK entries' shifts are kept apart (only
 * invalidations by address visit them), so they cost a lookup nothing. */
static void refresh_shifts(struct physim_cpu *c, const struct centry *e, unsigned shift)
{
	if (e->kind == PHYSIM_ENTRY_WALK)
		add_shift(c->wshifts, &c->nwshift, shift);
	else
		add_shift(c->shifts, &c->nshift, shift);
}

static inline unsigned index_shift(const struct centry *e)
{
	return e->frac ? e->s1_shift : e->shift;
}

static bool is_bounded(const struct physim_cpu *c)
{
	return c->m->cfg.mode == PHYSIM_CPU_BOUNDED;
}

/* Link entry idx into its tag chain (at the head) and its page chain. */
static void link_entry(struct physim_cpu *c, uint32_t idx)
{
	struct centry *e = &c->pool[idx];
	uint32_t tb = tbucket_of(c, e), pb = bucket(c, e->key);
	e->next = c->head[tb];
	c->head[tb] = idx;
	e->pprev = NIL;
	e->pnext = c->phead[pb];
	if (e->pnext != NIL)
		c->pool[e->pnext].pprev = idx;
	c->phead[pb] = idx;
}

static void link_walk(struct physim_cpu *c, uint32_t idx)
{
	struct centry *e = &c->pool[idx];
	e->wprev = NIL;
	e->wnext = c->whead;
	if (e->wnext != NIL)
		c->pool[e->wnext].wprev = idx;
	c->whead = idx;
	c->nwalk++;
}

/* Unlink entry idx from both chains and free it. */
void physim_cpui_remove_entry(struct physim_cpu *c, uint32_t idx)
{
	struct centry *e = &c->pool[idx];
	uint32_t *link = &c->head[tbucket_of(c, e)];
	while (*link != idx)
		link = &c->pool[*link].next;
	*link = e->next;
	if (e->pprev != NIL)
		c->pool[e->pprev].pnext = e->pnext;
	else
		c->phead[bucket(c, e->key)] = e->pnext;
	if (e->pnext != NIL)
		c->pool[e->pnext].pprev = e->pprev;
	if (e->global)
		c->nglobal--;
	if (e->kind == PHYSIM_ENTRY_WALK) {
		if (e->wprev != NIL)
			c->pool[e->wprev].wnext = e->wnext;
		else
			c->whead = e->wnext;
		if (e->wnext != NIL)
			c->pool[e->wnext].wprev = e->wprev;
		c->nwalk--;
	}
	e->key = 0;
	physim_cpui_front_forget(c);
	e->next = c->free_list;
	c->free_list = idx;
	c->count--;
}

/* Strict mode: double the buckets and relink every entry. false: no
 * memory (the table keeps working with longer chains). */
static bool grow_buckets(struct physim_cpu *c)
{
	unsigned nbits = c->hbits + 1;
	if (nbits > 31)
		return false;
	uint32_t *nh = calloc((size_t)1 << nbits, sizeof(*nh));
	uint32_t *np = calloc((size_t)1 << nbits, sizeof(*np));
	if (nh == NULL || np == NULL) {
		free(nh);
		free(np);
		return false;
	}
	free(c->head);
	free(c->phead);
	c->head = nh;
	c->phead = np;
	c->hbits = nbits;
	c->hmask = (UINT32_C(1) << nbits) - 1;
	for (uint32_t idx = 1; idx <= c->pool_top; idx++) {
		if (c->pool[idx].key != 0)
			link_entry(c, idx);
	}
	return true;
}

/* A free slot, NIL if none can be had. */
static uint32_t alloc_slot(struct physim_cpu *c)
{
	if (c->free_list != NIL) {
		uint32_t idx = c->free_list;
		c->free_list = c->pool[idx].next;
		return idx;
	}
	if (c->pool_top + 1 >= c->pool_cap) {
		if (is_bounded(c) || c->pool_cap >= UINT32_MAX / 2)
			return NIL;
		size_t ncap = (size_t)c->pool_cap * 2;
		struct centry *np = physim_cpui_pool_alloc(ncap);
		if (np == NULL)
			return NIL;
		memcpy(np, c->pool, (size_t)c->pool_cap * sizeof(*np));
		free(c->pool);
		c->pool = np;
		c->pool_cap = (uint32_t)ncap;
	}
	return ++c->pool_top;
}

/* Bounded mode: the tag bucket is a set of BOUNDED_WAYS; evict its oldest
 * entry (entries are pushed at the head) when it is full. */
static void make_room(struct physim_cpu *c, uint32_t tb)
{
	unsigned n = 0;
	uint32_t last = NIL;
	for (uint32_t idx = c->head[tb]; idx != NIL; idx = c->pool[idx].next) {
		n++;
		last = idx;
	}
	if (n >= BOUNDED_WAYS)
		physim_cpui_remove_entry(c, last);
}

void physim_cpui_insert(struct physim_cpu *c, const struct centry *n)
{
	if (!is_bounded(c) && c->count >= ((uint64_t)1 << c->hbits))
		(void)grow_buckets(c);
	if (is_bounded(c))
		make_room(c, bucket(c, tag_hash(n->key, n->ctag, n->ep4ta, akey_of(n))));
	uint32_t idx = alloc_slot(c);
	if (idx == NIL)
		return; /* not cached: every access walks */
	if (PHYSIM_UNLIKELY(c->m->cfg.check_bbm) && n->ctx != NULL && !n->ctx->bbm_registered)
		/* its tables are what other CPUs' broadcasts snapshot */
		physim_cpui_bbm_register(c, (struct ctxrec *)n->ctx);
	if (PHYSIM_UNLIKELY(c->m->cfg.check_bbm) && n->desc_pa != 0)
		physim_cpui_bbm_watch(c, n);
	c->pool[idx] = *n;
	if (!c->run_inserting)
		c->pool[idx].fill_seq =
		    (uint32_t)atomic_load_explicit(&c->m->issued_seq, memory_order_relaxed);
	link_entry(c, idx);
	physim_cpui_front_forget(c);
	if (n->kind == PHYSIM_ENTRY_WALK)
		link_walk(c, idx);
	c->count++;
	if (n->global)
		c->nglobal++;
	refresh_shifts(c, n, index_shift(n));
}

/* Remove every entry this tag finds for va (before a refill). */
void physim_cpui_drop_for(struct physim_cpu *c, uint64_t va, uint64_t ctag, uint64_t ep4ta,
			  uint16_t asid)
{
	struct centry *e;
	while ((e = find(c, va, ctag, ep4ta, asid)) != NULL)
		physim_cpui_remove_entry(c, (uint32_t)(e - c->pool));
}

/* An entry iv removes: checked for break-before-make first. */
static inline void remove_matched(struct physim_cpu *c, const struct inval *iv, uint32_t idx)
{
	const struct centry e = c->pool[idx]; /* a report's callback may run */
	/* a run's pieces remember what break-before-make compared them with */
	uint64_t carry[RUN_DESC_MAX];
	bool carried = false;
	if (PHYSIM_UNLIKELY(c->m->cfg.check_bbm) && e.desc_pa != 0)
		carried = physim_cpui_bbm_check(c, iv, &e, carry);
	/* by address, a grouped run loses only the named descriptors
	 * (lib/cpu-runs.c) */
	unsigned piece;
	if ((piece = physim_cpui_run_piece_shift(&e, iv->addr_mode)) != 0)
		physim_cpui_run_split(c, iv, &e, piece, carried ? carry : NULL);
	physim_cpui_remove_entry(c, idx);
}

/* Remove the entries of the page chain of (addr, shift) that iv matches. */
static void purge_page(struct physim_cpu *c, const struct inval *iv, unsigned shift)
{
	uint64_t key = mk_key(iv->addr, shift);
	uint32_t idx = c->phead[bucket(c, key)];
	while (idx != NIL) {
		struct centry *e = &c->pool[idx];
		uint32_t nx = e->pnext;
		if (e->key == key && centry_matches(iv, e))
			remove_matched(c, iv, idx);
		idx = nx;
	}
}

static void apply_inval(struct physim_cpu *c, const struct inval *iv);

/* An instruction that takes effect at once has completed when its apply
 * returns (audit_on_complete); the barriers and the drain of remote
 * broadcasts audit once at their end instead. */
void physim_cpui_apply(struct physim_cpu *c, const struct inval *iv)
{
	apply_inval(c, iv);
	if (PHYSIM_UNLIKELY(c->nrun_pend != 0))
		physim_cpui_run_flush(c);
	physim_cpui_completed(c);
}

static void apply_inval(struct physim_cpu *c, const struct inval *iv)
{
	if (iv->addr_mode == INV_ADDR_INPUT) {
		/* the page chains: every entry of the page, whatever its tags */
		for (unsigned i = 0; i < c->nshift; i++)
			purge_page(c, iv, c->shifts[i]);
		if (c->nwalk == 0 || iv->leaf_only)
			return;
		if (!iv->walk_any_addr) {
			for (unsigned i = 0; i < c->nwshift; i++)
				purge_page(c, iv, c->wshifts[i]);
			return;
		}
		/* every walk-cache entry of the tags, whatever its address */
		uint32_t idx = c->whead;
		while (idx != NIL) {
			uint32_t nx = c->pool[idx].wnext;
			if (centry_matches(iv, &c->pool[idx]))
				remove_matched(c, iv, idx);
			idx = nx;
		}
		return;
	}
	for (uint32_t idx = 1; idx <= c->pool_top; idx++) {
		if (c->pool[idx].key != 0 && centry_matches(iv, &c->pool[idx]))
			remove_matched(c, iv, idx);
	}
}

static void flush_everything(struct physim_cpu *c)
{
	for (uint32_t idx = 1; idx <= c->pool_top; idx++) {
		if (c->pool[idx].key != 0)
			physim_cpui_remove_entry(c, idx);
	}
}

/* ---- cross-thread queue ---- */

void physim_cpui_post(struct physim_cpu *c, const struct inval *iv)
{
	pthread_mutex_lock(&c->lock);
	if (c->nq == c->capq) {
		size_t ncap = c->capq ? c->capq * 2 : 16;
		struct inval *nq = realloc(c->queue, ncap * sizeof(*nq));
		if (nq == NULL) {
			/* Cannot record it: the target drops everything instead
			 * (more than the manual asks, never less). */
			c->queue_lost = true;
			physim_log_warn("cpu %u: invalidation queue full, flushing all", c->index);
			physim_cpui_snap_put(iv->snap);
			atomic_store_explicit(&c->pending, true, memory_order_release);
			pthread_mutex_unlock(&c->lock);
			return;
		}
		c->queue = nq;
		c->capq = ncap;
	}
	c->queue[c->nq++] = *iv;
	atomic_store_explicit(&c->pending, true, memory_order_release);
	pthread_mutex_unlock(&c->lock);
}

/* The queue is taken under the lock and applied outside it: applying may
 * run the break-before-make check (against the descriptors as they were at
 * the broadcast's completion, its snapshot), whose report callback runs
 * here, on this CPU's thread, and may issue instructions itself. */
void physim_cpui_drain(struct physim_cpu *c)
{
	if (!atomic_load_explicit(&c->pending, memory_order_acquire))
		return;
	pthread_mutex_lock(&c->lock);
	struct inval *q = c->queue;
	size_t nq = c->nq, capq = c->capq;
	bool lost = c->queue_lost;
	c->queue = NULL;
	c->nq = c->capq = 0;
	c->queue_lost = false;
	atomic_store_explicit(&c->pending, false, memory_order_relaxed);
	pthread_mutex_unlock(&c->lock);
	bool outer = c->audit_batch;
	c->audit_batch = true;
	c->remote_apply = true;
	if (lost)
		flush_everything(c);
	for (size_t i = 0; i < nq; i++) {
		if (!lost)
			physim_cpui_apply(c, &q[i]);
		physim_cpui_snap_put(q[i].snap);
	}
	c->remote_apply = false;
	c->audit_batch = outer;
	/* give the buffer back unless a post has made a new one meanwhile */
	pthread_mutex_lock(&c->lock);
	if (c->queue == NULL) {
		c->queue = q;
		c->capq = capq;
		q = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	free(q);
	physim_cpui_completed(c); /* outside the lock: reports read every queue */
}

int physim_cpui_defer(struct physim_cpu *c, const struct inval *iv, bool broadcast)
{
	int rc = 0;
	pthread_mutex_lock(&c->lock);
	if (c->ndef == c->capdef) {
		size_t ncap = c->capdef ? c->capdef * 2 : 16;
		struct deferred *nd =
		    ncap <= MAX_DEFERRED ? realloc(c->def, ncap * sizeof(*nd)) : NULL;
		if (nd == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		c->def = nd;
		c->capdef = ncap;
	}
	c->def[c->ndef++] = (struct deferred){.iv = *iv, .broadcast = broadcast};
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void physim_cpui_complete(struct physim_cpu *c)
{
	c->audit_batch = true;
	physim_cpui_drain(c);
	pthread_mutex_lock(&c->lock);
	size_t n = c->ndef;
	struct deferred *d = c->def;
	c->def = NULL;
	c->ndef = c->capdef = 0;
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		physim_cpui_apply(c, &d[i].iv);
		if (!d[i].broadcast || c->m->ncpus < 2)
			continue;
		/* what the other CPUs' break-before-make checks compare with:
		 * the tables as they are now, at completion, not when each CPU
		 * gets to apply it */
		struct inval iv = d[i].iv;
		iv.snap = physim_cpui_bbm_snapshot(c, &iv);
		if (iv.snap != NULL)
			atomic_init(&iv.snap->refs, c->m->ncpus - 1);
		for (unsigned k = 0; k < c->m->ncpus; k++) {
			if (k != c->index)
				physim_cpui_post(&c->m->cpu[k], &iv);
		}
	}
	free(d);
	c->audit_batch = false;
	physim_cpui_completed(c);
}

/* Is an invalidation that removes e issued but not completed (by this CPU,
 * or broadcast by another)? */
const char *physim_cpui_pending_for(struct physim_cpu *c, const struct centry *e)
{
	for (unsigned k = 0; k < c->m->ncpus; k++) {
		struct physim_cpu *o = &c->m->cpu[k];
		const char *name = NULL;
		pthread_mutex_lock(&o->lock);
		for (size_t i = 0; i < o->ndef && name == NULL; i++) {
			if ((o == c || o->def[i].broadcast) && centry_matches(&o->def[i].iv, e))
				name = o->def[i].iv.name;
		}
		pthread_mutex_unlock(&o->lock);
		if (name != NULL)
			return name;
	}
	return NULL;
}
