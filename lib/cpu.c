/* SPDX-License-Identifier: MIT */
/* lib/cpu.c - simulated CPUs and their machine: each CPU's store of cached
 * translations (indexed by page), translation through it, the generic
 * invalidation every architecture's instructions reduce to, the cross-thread
 * queue of broadcast invalidations, and the stale-use and audit checks.
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walk-format.h"

enum {
	CPU_MAX = 1024,
	BOUNDED_WAYS = 4,
	BOUNDED_DEFAULT = 1024,
	BOUNDED_MAX = 1u << 20,
	STRICT_INIT_BITS = 10,
	MAX_DEFERRED = 1u << 16,
};

#define NIL 0u

/* Bits 55:0 of an input address feed the hash: Arm TLBI operands carry only
 * VA[55:12], and both halves of a sign-extended space must land in the
 * bucket the operand names. Entries still compare every bit. */
#define HASH_VA_MASK UINT64_C(0x00FFFFFFFFFFFFFF)

/* A translation context an entry was filled in: the mmus and the
 * configurations they had, so that an audit walks the very tables. */
struct ctxrec {
	struct ctxrec *next;
	struct physim_mmu *s1, *s2;
	struct physim_mmu_config c1, c2;
};

struct centry {
	uint64_t key;  /* 0: free; else page number << 6 | index shift */
	uint64_t ctag; /* kind | regime << 2 | vmid << 16 */
	uint64_t ep4ta;
	uint64_t va, pa, gpa;
	const struct ctxrec *ctx;
	uint32_t next;	       /* tag chain */
	uint32_t pnext, pprev; /* page chain */
	uint32_t wnext, wprev; /* WALK entries: the list of them all */
	uint64_t desc_pa;      /* WALK (and leaves with check_bbm): where the
				  descriptor was read; 0: unknown */
	uint64_t desc;	       /* ... and its value then */
	uint16_t asid;
	uint8_t kind, regime;
	uint8_t shift;	  /* page size of the entry */
	uint8_t s1_shift; /* COMB: stage-1 leaf size (index shift) */
	uint8_t s2_shift; /* COMB and S2: stage-2 leaf size */
	uint8_t allow;
	uint8_t perms;
	bool global;
	bool frac; /* COMB keyed by its larger stage-1 page */
	int8_t level;
	uint8_t wstage; /* WALK: 1 (a stage-1 table) or 2 (a stage-2 table) */
	uint16_t vmid;
};

struct deferred {
	struct inval iv;
	bool broadcast;
};

struct physim_cpu {
	struct physim_machine *m;
	unsigned index;
	bool loaded;
	struct physim_cpu_context ctx;
	struct ctxrec *rec;  /* current */
	struct ctxrec *recs; /* every context this CPU has had */
	uint8_t look_kind;   /* what the current context caches and finds */
	uint64_t look_ctag;
	uint64_t look_ep4ta;
	uint16_t look_asid;
	uint64_t look_mix; /* tag_mix() of the lookup tags, non-global */
	/* the store */
	uint32_t *head;	  /* tag chains: by page and tags (lookups) */
	uint32_t *phead;  /* page chains: by page only (invalidation by address) */
	unsigned hbits;	  /* 1 << hbits buckets in each (at most 2^31) */
	uint32_t hmask;	  /* (1 << hbits) - 1 */
	uint64_t nglobal; /* global entries (a lookup probes for them too) */
	struct centry *pool;
	uint32_t pool_cap, pool_top, free_list;
	uint64_t count;
	uint8_t shifts[64]; /* index shifts in use, ascending */
	unsigned nshift;
	uint8_t wshifts[64]; /* the same for WALK entries */
	unsigned nwshift;
	uint32_t whead; /* the list of WALK entries */
	uint64_t nwalk;
	struct physim_cpu_stats st;
	uint64_t x86_cr4;
	bool remote_apply; /* draining other CPUs' broadcasts (no BBM check) */
	/* shared with other threads (under lock) */
	pthread_mutex_t lock;
	atomic_bool pending;
	struct inval *queue;
	size_t nq, capq;
	bool queue_lost; /* a queue append failed: flush everything at drain */
	struct deferred *def;
	size_t ndef, capdef;
};

struct keep {
	struct keep *next;
	void *obj;
	void (*fin)(void *);
};

struct physim_machine {
	struct physim_machine_config cfg;
	unsigned ncpus;
	struct physim_cpu *cpu;
	struct keep *kept; /* HAL wrappers (lib/cpu-free.c) */
	pthread_mutex_t kept_lock;
};

/* ---- small helpers ---- */

static inline uint64_t mk_key(uint64_t va, unsigned shift)
{
	return ((va & HASH_VA_MASK) >> shift) << 6 | shift;
}

static inline uint64_t mk_ctag(unsigned kind, unsigned regime, uint16_t vmid)
{
	return kind | (uint64_t)regime << 2 | (uint64_t)vmid << 16;
}

static inline uint32_t bucket(const struct physim_cpu *c, uint64_t key)
{
	return (uint32_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & c->hmask;
}

static inline unsigned log2_u64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

static inline bool access_ok(const struct physim_access *a)
{
	return a != NULL && !(a->write && a->exec) && !(a->implicit && (a->user || a->exec));
}

enum { CLS_READ = 0, CLS_WRITE = 1, CLS_EXEC = 2, CLS_USER = 3 };

static inline unsigned access_class(const struct physim_access *a)
{
	return (a->user ? CLS_USER : 0) + (a->write ? CLS_WRITE : a->exec ? CLS_EXEC : CLS_READ);
}

/* The access classes an entry filled by this walk may serve. */
static uint8_t allowed_classes(bool stage2_only, const struct physim_mmu_ctl *ctl,
			       const struct physim_access *acc, uint32_t perms)
{
	unsigned priv = acc->user ? CLS_USER : 0;
	unsigned rights = 0;

	if (perms & PHYSIM_R)
		rights |= 1u << CLS_READ;
	if ((perms & PHYSIM_W) && acc->write)
		rights |= 1u << CLS_WRITE;
	if (perms & PHYSIM_X)
		rights |= 1u << CLS_EXEC;
	if (stage2_only) {
		unsigned data = rights & ~(1u << CLS_EXEC);
		unsigned exec = ctl->mbec ? 0 : rights & (1u << CLS_EXEC);
		return (uint8_t)((data | exec) << priv);
	}
	if (acc->user)
		return (perms & PHYSIM_U) && !ctl->pke ? (uint8_t)(rights << CLS_USER) : 0;
	return (perms & PHYSIM_U) ? 0 : (uint8_t)rights;
}

static void to_public(const struct centry *e, struct physim_cpu_entry *out)
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
	};
}

/* ---- matching an invalidation ---- */

static bool addr_covered(uint64_t base, unsigned shift, const struct inval *iv)
{
	uint64_t mask = iv->addr_mask & ~((UINT64_C(1) << shift) - 1);
	return ((base ^ iv->addr) & mask) == 0;
}

/* A walk-cache entry: removed by what removes the final translations of its
 * stage, unless the invalidation is last-level only; an x86 individual-
 * address invalidation removes the PCID's walk-cache entries whatever their
 * address (SDM Vol. 3A 4.10.4.1). */
static bool walk_matches(const struct inval *iv, const struct centry *e)
{
	unsigned stage_kind = e->wstage == 2 ? PHYSIM_ENTRY_S2 : PHYSIM_ENTRY_S1;
	if (iv->leaf_only || !(iv->kinds & (1u << stage_kind)))
		return false;
	if (iv->regime >= 0 && e->regime != (unsigned)iv->regime)
		return false;
	if (iv->vmid >= 0 && e->vmid != (uint32_t)iv->vmid)
		return false;
	if (iv->vmid_not0 && e->vmid == 0)
		return false;
	if (iv->ep4ta >= 0 && e->ep4ta != (uint64_t)iv->ep4ta)
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
	if (!(iv->kinds & (1u << e->kind)))
		return false;
	if (iv->regime >= 0 && e->regime != (unsigned)iv->regime)
		return false;
	if (iv->vmid >= 0 && e->vmid != (uint32_t)iv->vmid)
		return false;
	if (iv->vmid_not0 && e->vmid == 0)
		return false;
	if (iv->ep4ta >= 0 && e->ep4ta != (uint64_t)iv->ep4ta)
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
	if (iv->ttl_level >= 0 && e->level != iv->ttl_level)
		return false;
	switch (iv->addr_mode) {
	case INV_ADDR_INPUT:
		/* A fractured combined entry goes with its whole stage-1 page
		 * (an invalidation by any address of a large page removes every
		 * entry cached for it). */
		return addr_covered(e->va, e->kind == PHYSIM_ENTRY_COMB ? e->s1_shift : e->shift,
				    iv);
	case INV_ADDR_GPA:
		if (e->kind == PHYSIM_ENTRY_S2)
			return addr_covered(e->va, e->shift, iv);
		if (e->kind == PHYSIM_ENTRY_COMB)
			return addr_covered(e->gpa, e->s2_shift, iv);
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
	};
	return centry_matches(iv, &e);
}

/* ---- the store ---- */

/* Tag hash of an entry: its page key mixed with its tags (the ASID key of a
 * global entry is ASID_GLOBAL, so a lookup finds it from any ASID with a
 * second probe). */
#define ASID_GLOBAL 0x10000u

static inline uint32_t akey_of(const struct centry *e)
{
	return e->global ? ASID_GLOBAL : e->asid;
}

/* The tags' part of the hash: constant per context, so a lookup computes it
 * once (physim_cpu.look_mix) and hashes a page with one xor and one multiply. */
static inline uint64_t tag_mix(uint64_t ctag, uint64_t ep4ta, uint32_t akey)
{
	return (ctag + akey) * UINT64_C(0xFF51AFD7ED558CCD) ^
	       (ep4ta >> 12) * UINT64_C(0xC4CEB9FE1A85EC53);
}

static inline uint64_t tag_hash(uint64_t key, uint64_t ctag, uint64_t ep4ta, uint32_t akey)
{
	return key ^ tag_mix(ctag, ep4ta, akey);
}

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
static void remove_entry(struct physim_cpu *c, uint32_t idx)
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
		struct centry *np = realloc(c->pool, ncap * sizeof(*np));
		if (np == NULL)
			return NIL;
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
		remove_entry(c, last);
}

static void insert(struct physim_cpu *c, const struct centry *n)
{
	if (!is_bounded(c) && c->count >= ((uint64_t)1 << c->hbits))
		(void)grow_buckets(c);
	if (is_bounded(c))
		make_room(c, bucket(c, tag_hash(n->key, n->ctag, n->ep4ta, akey_of(n))));
	uint32_t idx = alloc_slot(c);
	if (idx == NIL)
		return; /* not cached: every access walks */
	c->pool[idx] = *n;
	link_entry(c, idx);
	if (n->kind == PHYSIM_ENTRY_WALK)
		link_walk(c, idx);
	c->count++;
	if (n->global)
		c->nglobal++;
	refresh_shifts(c, n, index_shift(n));
}

static inline bool tag_match(const struct centry *e, uint64_t key, uint64_t ctag, uint64_t ep4ta,
			     uint32_t akey, uint64_t va)
{
	return e->key == key && e->ctag == ctag && e->ep4ta == ep4ta && akey_of(e) == akey &&
	       (!e->frac || ((e->va ^ va) >> e->shift) == 0);
}

static inline uint32_t find_one(const struct physim_cpu *c, uint64_t key, uint64_t ctag,
				uint64_t ep4ta, uint32_t akey, uint64_t va)
{
	uint32_t idx = c->head[bucket(c, tag_hash(key, ctag, ep4ta, akey))];
	while (idx != NIL) {
		const struct centry *e = &c->pool[idx];
		if (tag_match(e, key, ctag, ep4ta, akey, va))
			return idx;
		idx = e->next;
	}
	return NIL;
}

/* The entry of this tag (or a global one) covering va: one bucket per page
 * size in use, two when global entries exist. */
static inline struct centry *find(const struct physim_cpu *c, uint64_t va, uint64_t ctag,
				  uint64_t ep4ta, uint16_t asid)
{
	for (unsigned i = 0; i < c->nshift; i++) {
		uint64_t key = mk_key(va, c->shifts[i]);
		uint32_t idx = find_one(c, key, ctag, ep4ta, asid, va);
		if (idx == NIL && c->nglobal)
			idx = find_one(c, key, ctag, ep4ta, ASID_GLOBAL, va);
		if (idx != NIL)
			return &c->pool[idx];
	}
	return NULL;
}

/* Remove every entry this tag finds for va (before a refill). */
static void drop_for(struct physim_cpu *c, uint64_t va, uint64_t ctag, uint64_t ep4ta,
		     uint16_t asid)
{
	struct centry *e;
	while ((e = find(c, va, ctag, ep4ta, asid)) != NULL)
		remove_entry(c, (uint32_t)(e - c->pool));
}

static void bbm_check(struct physim_cpu *c, const struct inval *iv, const struct centry *e);

/* An entry iv removes: checked for break-before-make first. */
static inline void remove_matched(struct physim_cpu *c, const struct inval *iv, uint32_t idx)
{
	const struct centry *e = &c->pool[idx];
	if (PHYSIM_UNLIKELY(c->m->cfg.check_bbm) && !c->remote_apply && e->desc_pa != 0)
		bbm_check(c, iv, e);
	remove_entry(c, idx);
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

void physim_cpui_apply(struct physim_cpu *c, const struct inval *iv)
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
			remove_entry(c, idx);
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

void physim_cpui_drain(struct physim_cpu *c)
{
	if (!atomic_load_explicit(&c->pending, memory_order_acquire))
		return;
	pthread_mutex_lock(&c->lock);
	c->remote_apply = true;
	if (c->queue_lost)
		flush_everything(c);
	else
		for (size_t i = 0; i < c->nq; i++)
			physim_cpui_apply(c, &c->queue[i]);
	c->remote_apply = false;
	c->nq = 0;
	c->queue_lost = false;
	atomic_store_explicit(&c->pending, false, memory_order_relaxed);
	pthread_mutex_unlock(&c->lock);
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
	physim_cpui_drain(c);
	pthread_mutex_lock(&c->lock);
	size_t n = c->ndef;
	struct deferred *d = c->def;
	c->def = NULL;
	c->ndef = c->capdef = 0;
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		physim_cpui_apply(c, &d[i].iv);
		if (!d[i].broadcast)
			continue;
		for (unsigned k = 0; k < c->m->ncpus; k++) {
			if (k != c->index)
				physim_cpui_post(&c->m->cpu[k], &d[i].iv);
		}
	}
	free(d);
}

/* Is an invalidation that removes e issued but not completed (by this CPU,
 * or broadcast by another)? */
static const char *pending_for(struct physim_cpu *c, const struct centry *e)
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
	c->pool = malloc(cap * sizeof(*c->pool));
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

static bool same_cfg(const struct physim_mmu_config *a, const struct physim_mmu_config *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

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
	 * 28.3.1); linear ones carry no EP4TA. */
	uint16_t vmid = kind == PHYSIM_ENTRY_S2 && x86 ? 0 : x->vmid;
	/* Host-regime translations carry no VMID (x86 VMX root is VPID 0; Arm
	 * EL2 and RISC-V V = 0 are untagged by VMID). */
	if (x->regime == PHYSIM_REGIME_HOST && kind == PHYSIM_ENTRY_S1)
		vmid = 0;
	c->look_kind = (uint8_t)kind;
	c->look_ctag = mk_ctag(kind, x->regime, vmid);
	c->look_ep4ta =
	    x86 && kind != PHYSIM_ENTRY_S1 ? (x->eptp & UINT64_C(0x000FFFFFFFFFF000)) : 0;
	c->look_asid = kind == PHYSIM_ENTRY_S2 ? 0 : x->asid;
	c->look_mix = tag_mix(c->look_ctag, c->look_ep4ta, c->look_asid);
}

int physim_cpu_set_context(struct physim_cpu *cpu, const struct physim_cpu_context *ctx)
{
	if (cpu == NULL || ctx == NULL || (ctx->s1 == NULL && ctx->s2 == NULL))
		return -EINVAL;
	if (ctx->regime != PHYSIM_REGIME_HOST && ctx->regime != PHYSIM_REGIME_GUEST)
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
	set_lookup(cpu);
	return 0;
}

void physim_cpu_get_context(const struct physim_cpu *cpu, struct physim_cpu_context *out)
{
	if (cpu != NULL && out != NULL)
		*out = cpu->ctx;
}

/* ---- reports ---- */

static const char *remedy(const struct physim_cpu *c, const struct physim_cpu_entry *e,
			  bool stage2_changed)
{
	switch (c->m->cfg.arch) {
	case PHYSIM_ARCH_X86_64:
		return physim_cpui_x86_remedy(e, stage2_changed);
	case PHYSIM_ARCH_AARCH64:
		return physim_cpui_arm_remedy(e, stage2_changed);
	case PHYSIM_ARCH_RISCV64:
		return physim_cpui_rv_remedy(e, stage2_changed);
	default:
		return physim_cpui_la_remedy(e, stage2_changed);
	}
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
	to_public(e, &r.entry);
	bool s2_changed = e->kind == PHYSIM_ENTRY_COMB && cur->fault.kind == PHYSIM_FAULT_NONE &&
			  (cur->gpa & ~((UINT64_C(1) << e->shift) - 1)) == e->gpa;
	if (e->kind == PHYSIM_ENTRY_COMB && cur->fault.kind != PHYSIM_FAULT_NONE)
		s2_changed = cur->fault.stage == 2;
	r.remedy = remedy(c, &r.entry, s2_changed);
	const char *p = pending_for(c, e);
	r.pending = p != NULL;
	if (c->m->cfg.on_report)
		c->m->cfg.on_report(c->m->cfg.report_ctx, &r);
}

/* A probe of e's tables with mmus configured as when e was filled (a fresh
 * mmu when the context's mmu has been reconfigured since). */
static int probe_entry(const struct centry *e, const struct physim_access *acc,
		       struct physim_xlate *x)
{
	const struct ctxrec *r = e->ctx;
	struct physim_mmu *s1 = r->s1, *s2 = r->s2, *t1 = NULL, *t2 = NULL;
	struct physim_mmu_config now;
	int rc;

	if (e->kind == PHYSIM_ENTRY_S2)
		s1 = NULL;
	if (s1 != NULL) {
		physim_mmu_get_config(s1, &now);
		if (!same_cfg(&now, &r->c1)) {
			if ((rc = physim_mmu_create(&r->c1, &t1)) < 0)
				return rc;
			s1 = t1;
		}
	}
	if (s2 != NULL && e->kind != PHYSIM_ENTRY_S1) {
		physim_mmu_get_config(s2, &now);
		if (!same_cfg(&now, &r->c2)) {
			if ((rc = physim_mmu_create(&r->c2, &t2)) < 0) {
				physim_mmu_destroy(t1);
				return rc;
			}
			s2 = t2;
		}
	}
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

static __attribute__((noinline)) void stale_check(struct physim_cpu *c, const struct centry *hit,
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
 * first: engine level, where the descriptor is, the next table. Stops at the
 * first descriptor that is not a table pointer. */
struct wpath {
	unsigned n;
	struct {
		unsigned elevel;
		uint64_t desc_pa, desc, next;
	} step[PHYSIM_PT_MAX_LEVELS];
	uint64_t last_table; /* the table the walk stopped in */
};

static void fresh_path(const struct physim_mmu *m, uint64_t va, struct wpath *p)
{
	const struct physim_pt_format *f = m->cfg.format;
	const struct physim_paging_handler *mem = m->cfg.mem;
	p->n = 0;
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

/* After a walk of m (stage wstage of the current context) for va: each
 * cached walk entry on va's path that disagrees with the fresh path is a
 * walk-cache entry the hardware may have used instead - a stale use - and
 * is replaced by (or, where the path ends, dropped for) what the tables say;
 * the fresh path is cached (unless x86 just faulted, SDM Vol. 3A 4.10.4.1:
 * a #PF invalidates the paging-structure entries for the address). */
static __attribute__((noinline)) void walk_cache_update(struct physim_cpu *c,
							const struct physim_mmu *m, unsigned wstage,
							uint64_t va, bool faulted)
{
	const struct physim_pt_format *f = m->cfg.format;
	struct wpath p;
	if (c->m->cfg.arch == PHYSIM_ARCH_LOONGARCH64)
		return; /* software-refilled: no hardware walk caches */
	fresh_path(m, va, &p);
	bool x86 = c->m->cfg.arch == PHYSIM_ARCH_X86_64;
	uint16_t vmid = wstage == 2 && x86 ? 0 : (uint16_t)(c->look_ctag >> 16);
	uint64_t ctag = mk_ctag(PHYSIM_ENTRY_WALK, c->ctx.regime, vmid);
	uint16_t asid = wstage == 2 ? 0 : c->look_asid;
	for (int n = f->levels - 1; n >= 1; n--) {
		unsigned shift = f->level[n].shift;
		uint64_t base = va & ~((UINT64_C(1) << shift) - 1);
		uint64_t key = mk_key(base, shift);
		int level = walk_arch_level(m->ops, (unsigned)n);
		struct physim_xlate cur;
		walk_current(&p, (unsigned)n, level, base, UINT64_C(1) << shift, &cur);
		bool fresh = cur.fault.kind == PHYSIM_FAULT_NONE;
		uint32_t idx = find_one(c, key, ctag, c->look_ep4ta, asid, base);
		if (idx != NIL) {
			struct centry *e = &c->pool[idx];
			if (fresh && e->pa == cur.pa)
				continue;
			if (c->m->cfg.check_stale) {
				c->st.stale++;
				struct centry old = *e;
				report(c, PHYSIM_REPORT_STALE_USE, va, &old, &cur);
				idx = find_one(c, key, ctag, c->look_ep4ta, asid, base);
			}
			if (idx != NIL)
				remove_entry(c, idx);
		}
		if (!fresh || (faulted && x86))
			continue;
		uint64_t dpa = 0, dval = 0;
		for (unsigned i = 0; i < p.n; i++) {
			if (p.step[i].elevel == (unsigned)n) {
				dpa = p.step[i].desc_pa;
				dval = p.step[i].desc;
			}
		}
		struct centry w = {
		    .key = key,
		    .ctag = ctag,
		    .ep4ta = c->look_ep4ta,
		    .va = base,
		    .pa = cur.pa,
		    .gpa = cur.pa,
		    .ctx = c->rec,
		    .desc_pa = dpa,
		    .desc = dval,
		    .asid = asid,
		    .kind = PHYSIM_ENTRY_WALK,
		    .regime = (uint8_t)c->ctx.regime,
		    .shift = (uint8_t)shift,
		    .s1_shift = (uint8_t)shift,
		    .s2_shift = (uint8_t)shift,
		    .level = (int8_t)level,
		    .wstage = (uint8_t)wstage,
		    .vmid = vmid,
		};
		insert(c, &w);
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

/* Audit of one walk entry: true if stale (reported). */
static bool audit_walk(struct physim_cpu *c, const struct centry *e)
{
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

/* ---- break-before-make ---- */

/* Engine level of a descriptor whose entries cover 1 << shift bytes. */
static int engine_level(const struct physim_pt_format *f, unsigned shift)
{
	for (unsigned n = 0; n < f->levels; n++) {
		if (f->level[n].shift == shift)
			return (int)n;
	}
	return -1;
}

static uint64_t read_desc(const struct physim_mmu_config *cfg, uint64_t pa, bool *ok)
{
	const void *ptr = cfg->mem ? cfg->mem->phys_to_virt(cfg->mem->ctx, pa) : NULL;
	*ok = ptr != NULL;
	if (ptr == NULL)
		return 0;
	return cfg->format->pte_bytes == 8
		   ? __atomic_load_n((const uint64_t *)ptr, __ATOMIC_RELAXED)
		   : __atomic_load_n((const uint32_t *)ptr, __ATOMIC_RELAXED);
}

/* AArch64 descriptor bits that may change while the descriptor stays
 * valid (Arm ARM D8.16.1 "Using break-before-make when updating translation
 * table entries"; Linux pgattr_change_is_safe): AP / S2AP [7:6], AF [10],
 * nG [11], DBM [51], PXN [53], UXN / XN [54], software bits [58:55]. Any
 * other change - output address, table <-> block, memory attributes,
 * contiguous - needs invalid + invalidation + completion in between. */
#define ARM_LIVE_OK                                                                                \
	(UINT64_C(3) << 6 | UINT64_C(1) << 10 | UINT64_C(1) << 11 | UINT64_C(1) << 51 |            \
	 UINT64_C(3) << 53 | UINT64_C(0xF) << 55)

/* At the completion of an invalidation that removes e (on the CPU that
 * completes it): if the descriptor e was made from is valid again but
 * differs in what the architecture does not allow to change live, the new
 * descriptor was written while the old one could still be in use. */
static void bbm_check(struct physim_cpu *c, const struct inval *iv, const struct centry *e)
{
	enum physim_arch arch = c->m->cfg.arch;
	if (arch != PHYSIM_ARCH_AARCH64 && arch != PHYSIM_ARCH_X86_64)
		return;
	bool s2 = e->kind == PHYSIM_ENTRY_S2 || (e->kind == PHYSIM_ENTRY_WALK && e->wstage == 2);
	const struct physim_mmu_config *cfg = s2 ? &e->ctx->c2 : &e->ctx->c1;
	if (cfg->format == NULL)
		return;
	bool ok;
	uint64_t now = read_desc(cfg, e->desc_pa, &ok);
	int n = engine_level(cfg->format, e->shift);
	if (!ok || now == e->desc || n < 0)
		return;
	const struct physim_pt_format *f = cfg->format;
	enum pt_kind k_old = f->ops->classify(f, e->desc, (unsigned)n);
	enum pt_kind k_new = f->ops->classify(f, now, (unsigned)n);
	if (k_new == PT_INVALID)
		return; /* the break was made */
	bool bad = arch == PHYSIM_ARCH_AARCH64 ? ((e->desc ^ now) & ~ARM_LIVE_OK) != 0
					       : k_old != k_new; /* x86: a page-size change */
	if (!bad)
		return;
	struct physim_cpu_report r = {
	    .kind = PHYSIM_REPORT_BBM, .cpu = c->index, .addr = e->desc_pa};
	to_public(e, &r.entry);
	r.desc_old = e->desc;
	r.desc_new = now;
	r.inval = iv->name;
	r.remedy =
	    arch == PHYSIM_ARCH_AARCH64
		? "break-before-make: write an invalid descriptor, invalidate it (TLBI + DSB "
		  "ISH) and only then write the new one; only permission, AF, DBM and nG "
		  "may change while valid (Arm ARM D8.16.1)"
		: "a page-size change (a large page split, or tables merged into one) needs "
		  "the old translation invalidated before the new entry is used, or the TLB "
		  "may hold both (SDM Vol. 3A 4.10.2.3): make the entry not present, "
		  "invalidate on every processor, then write the new one";
	c->st.stale++;
	if (c->m->cfg.on_report)
		c->m->cfg.on_report(c->m->cfg.report_ctx, &r);
}

/* With check_bbm, the descriptor a one-stage leaf was made from. */
static void leaf_desc(const struct physim_mmu *m, struct centry *n)
{
	struct wpath p;
	fresh_path(m, n->va, &p);
	const struct physim_pt_format *f = m->cfg.format;
	int lvl = engine_level(f, n->shift);
	if (lvl < 0 || (unsigned)lvl != f->levels - 1 - p.n)
		return;
	uint64_t dpa = p.last_table + ((n->va >> m->idx_shift[lvl]) & m->idx_mask[lvl]);
	bool ok;
	uint64_t d = read_desc(&m->cfg, dpa, &ok);
	if (ok) {
		n->desc_pa = dpa;
		n->desc = d;
	}
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
	struct centry n = {
	    .ctag = c->look_ctag,
	    .ep4ta = c->look_ep4ta,
	    .va = acc->va - off,
	    .pa = x->pa - off,
	    .gpa = kind == PHYSIM_ENTRY_S1 ? x->pa - off : x->gpa - off,
	    .ctx = c->rec,
	    .asid = c->look_asid,
	    .kind = (uint8_t)kind,
	    .regime = (uint8_t)ctx->regime,
	    .shift = (uint8_t)shift,
	    .s1_shift = (uint8_t)shift,
	    .s2_shift = (uint8_t)shift,
	    .allow = allowed_classes(kind == PHYSIM_ENTRY_S2, &ctlm->cfg.ctl, acc, x->perms),
	    .perms = (uint8_t)x->perms,
	    .global = kind != PHYSIM_ENTRY_S2 && x->global,
	    .level = (int8_t)x->level,
	    .vmid = (uint16_t)(c->look_ctag >> 16),
	};
	if (kind == PHYSIM_ENTRY_S2)
		n.gpa = n.va;
	struct centry s2e;
	bool have_s2 = false;
	if (kind == PHYSIM_ENTRY_COMB) {
		unsigned s1sh = s1_leaf_shift(ctx->s1, x->level, shift);
		n.s1_shift = (uint8_t)(s1sh > shift ? s1sh : shift);
		n.frac = n.s1_shift > shift;
		/* The stage-2 leaf of the final GPA: the guest-physical entry the
		 * hardware may cache beside the combined one. */
		struct physim_access a2 = *acc;
		struct physim_xlate x2;
		a2.va = x->gpa;
		a2.implicit = false;
		if (physim_mmu_probe(ctx->s2, &a2, &x2) == 0 && x2.page_size >= 4096 &&
		    !(x2.page_size & (x2.page_size - 1))) {
			unsigned sh2 = log2_u64(x2.page_size);
			uint64_t o2 = x->gpa & (x2.page_size - 1);
			bool x86 = c->m->cfg.arch == PHYSIM_ARCH_X86_64;
			n.s2_shift = (uint8_t)(sh2 > shift ? sh2 : shift);
			uint16_t vm2 = x86 ? 0 : ctx->vmid;
			s2e = (struct centry){
			    .ctag = mk_ctag(PHYSIM_ENTRY_S2, ctx->regime, vm2),
			    .ep4ta = c->look_ep4ta,
			    .va = x->gpa - o2,
			    .pa = x2.pa - o2,
			    .gpa = x->gpa - o2,
			    .ctx = c->rec,
			    .kind = PHYSIM_ENTRY_S2,
			    .regime = (uint8_t)ctx->regime,
			    .shift = (uint8_t)sh2,
			    .s1_shift = (uint8_t)sh2,
			    .s2_shift = (uint8_t)sh2,
			    .allow = allowed_classes(true, &ctx->s2->cfg.ctl, acc, x2.perms),
			    .perms = (uint8_t)x2.perms,
			    .level = (int8_t)x2.level,
			    .vmid = vm2,
			};
			s2e.key = mk_key(s2e.va, sh2);
			have_s2 = true;
		}
	}
	n.key = mk_key(n.va, n.frac ? n.s1_shift : shift);
	if (PHYSIM_UNLIKELY(c->m->cfg.check_bbm) && kind != PHYSIM_ENTRY_COMB)
		leaf_desc(ctlm, &n);
	struct centry *old = find(c, acc->va, n.ctag, n.ep4ta, n.asid);
	if (old != NULL && old->pa == n.pa && old->gpa == n.gpa && old->perms == n.perms &&
	    old->shift == n.shift && old->global == n.global && old->ctx == n.ctx) {
		old->allow |= n.allow;
	} else {
		drop_for(c, acc->va, n.ctag, n.ep4ta, n.asid);
		insert(c, &n);
	}
	if (have_s2) {
		struct centry *o2 = find(c, s2e.va, s2e.ctag, s2e.ep4ta, 0);
		if (o2 != NULL && o2->pa == s2e.pa && o2->perms == s2e.perms &&
		    o2->shift == s2e.shift && o2->ctx == s2e.ctx) {
			o2->allow |= s2e.allow;
		} else {
			drop_for(c, s2e.va, s2e.ctag, s2e.ep4ta, 0);
			insert(c, &s2e);
		}
	}
}

/* A nested walk may take the final GPA's stage-2 translation from a cached
 * stage-2 entry instead of walking stage 2 (SDM Vol. 3C 28.3.2: "the
 * processor may use guest-physical mappings"; Arm and RISC-V caches likewise
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
		stale_check(c, e, &a2);
	x->pa = pa;
}

static __attribute__((noinline)) int miss(struct physim_cpu *c, const struct physim_access *acc,
					  struct physim_xlate *x)
{
	const struct physim_cpu_context *ctx = &c->ctx;
	int rc;
	c->st.misses++;
	if (ctx->s1 != NULL && ctx->s2 != NULL) {
		rc = physim_nested_translate(ctx->s1, ctx->s2, acc, x);
		if (rc == 0)
			use_cached_s2(c, acc, x);
	} else {
		struct physim_mmu *m = ctx->s1 ? ctx->s1 : ctx->s2;
		rc = physim_mmu_translate(m, acc, x);
		if (c->m->cfg.walk_caches && (rc == 0 || rc == -EFAULT))
			walk_cache_update(c, m, ctx->s1 ? 1 : 2, acc->va, rc != 0);
	}
	if (rc == 0)
		fill(c, acc, x);
	else if (rc == -EFAULT && c->m->cfg.arch == PHYSIM_ARCH_X86_64)
		/* A #PF invalidates the entries for the faulting address
		 * (SDM Vol. 3A 4.10.4.1). */
		drop_for(c, acc->va, c->look_ctag, c->look_ep4ta, c->look_asid);
	return rc;
}

int physim_cpu_translate(struct physim_cpu *cpu, const struct physim_access *acc,
			 struct physim_xlate *x)
{
	if (PHYSIM_UNLIKELY(cpu == NULL || x == NULL || !access_ok(acc)))
		return -EINVAL;
	if (PHYSIM_UNLIKELY(atomic_load_explicit(&cpu->pending, memory_order_acquire)))
		physim_cpui_drain(cpu);
	if (PHYSIM_UNLIKELY(!cpu->loaded))
		return -ENXIO;
	/* The common hit first: the smallest page size in use, this
	 * context's own (non-global) tags; then every size and globals. */
	struct centry *e = NULL;
	if (PHYSIM_LIKELY(cpu->nshift != 0)) {
		uint64_t key = mk_key(acc->va, cpu->shifts[0]);
		uint32_t idx = cpu->head[bucket(cpu, key ^ cpu->look_mix)];
		while (idx != NIL) {
			struct centry *c = &cpu->pool[idx];
			if (tag_match(c, key, cpu->look_ctag, cpu->look_ep4ta, cpu->look_asid,
				      acc->va)) {
				e = c;
				break;
			}
			idx = c->next;
		}
	}
	if (e == NULL)
		e = find(cpu, acc->va, cpu->look_ctag, cpu->look_ep4ta, cpu->look_asid);
	if (e == NULL || !((e->allow >> access_class(acc)) & 1))
		return miss(cpu, acc, x);
	cpu->st.hits++;
	hit_result(e, acc->va, x);
	if (PHYSIM_UNLIKELY(cpu->m->cfg.check_stale))
		stale_check(cpu, e, acc);
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
		to_public(&cpu->pool[idx], &pe);
		int rc = fn(ctx, &pe);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The access an audit probes an entry with: the most it may serve. */
static struct physim_access audit_access(const struct centry *e)
{
	struct physim_access a = {.va = e->va};
	unsigned allow = e->allow;
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
		physim_cpui_drain(c);
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
	}
	return stale;
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
				/* the next table, or the table holding the descriptor
				 * (a stage-2 walk entry's tables are host-physical;
				 * a stage-1 one's too: walk caches are kept for
				 * one-stage contexts only) */
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
