/* SPDX-License-Identifier: MIT */
/* lib/cpu-priv.h - what lib/cpu.c, cpu-store.c and cpu-check.c (machines,
 * CPUs, their entry store, its checks) share with each other and with the
 * per-architecture instruction files (lib/cpu-x86.c, cpu-arm.c, cpu-riscv.c,
 * cpu-loongarch.c): the generic invalidation they all reduce to. */
#ifndef PHYSIM_CPU_PRIV_H
#define PHYSIM_CPU_PRIV_H

#include <physim/cpu.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "access-class.h"
#include "physim-priv.h"

/* Entry kind bits of inval.kinds. */
#define KIND_S1	  (1u << PHYSIM_ENTRY_S1)
#define KIND_S2	  (1u << PHYSIM_ENTRY_S2)
#define KIND_COMB (1u << PHYSIM_ENTRY_COMB)
#define KIND_ALL  (KIND_S1 | KIND_S2 | KIND_COMB)

/* Which entries an address compares with. */
enum inval_addr {
	INV_ADDR_NONE = 0, /* every address */
	INV_ADDR_INPUT,	   /* the entry's input page (VA; GPA for S2 entries) */
	INV_ADDR_GPA,	   /* S2 entries by input GPA, COMB entries by their GPA
			      (RISC-V HFENCE.GVMA with rs1 != x0) */
};

/* Which entries the ASID filter keeps (S1 and COMB entries; S2 entries have
 * no ASID and ignore it). */
enum inval_global {
	INV_GLB_ANY = 0,     /* asid < 0: every entry; else asid's entries and global ones */
	INV_GLB_NONGLOBAL,   /* only non-global entries (of asid, if asid >= 0) */
	INV_GLB_ONLY_GLOBAL, /* only global entries */
};

/* One invalidation, in the terms every architecture's instructions reduce
 * to: an entry is removed when every filter matches it. */
struct inval {
	uint8_t kinds;	    /* KIND_* */
	int8_t regime;	    /* -1: any */
	uint8_t addr_mode;  /* enum inval_addr */
	uint8_t global;	    /* enum inval_global */
	int8_t ttl_level;   /* Arm TTL hint: only entries of this level; -1: any */
	bool vmid_not0;	    /* x86 INVVPID all-context: every VPID but 0 */
	bool leaf_only;	    /* last level only: walk-cache entries stay */
	bool walk_any_addr; /* walk-cache entries of the tags go, any address */
	int32_t asid;	    /* -1: any */
	int32_t vmid;	    /* -1: any */
	int64_t ep4ta;	    /* x86 EP4TA of S2/COMB entries; -1: any */
	uint64_t addr;
	uint64_t addr_mask; /* the address bits compared (page offset excluded per entry) */
	const char *name;   /* the instruction, for reports */
	/* check_bbm, a broadcast's copy posted to another CPU: the descriptors
	 * on the invalidated address's path as they were at its completion
	 * (one reference per copy); NULL otherwise */
	struct bbm_snap *snap;
	/* Arm TTL hint (with ttl_level >= 0): the granule it names, TTL[3:2]
	 * (1: 4K, 2: 16K, 3: 64K); an entry of another granule is not
	 * removed (physim_cpui_arm_granule) */
	uint8_t ttl_granule;
};

/* Descriptor values read at a broadcast's completion (lib/cpu-check.c):
 * those on the invalidated address's path in the tables of every context
 * any CPU cached entries from, and every descriptor of a run on it. */
struct bbm_snap {
	atomic_uint refs;
	unsigned n;
	struct {
		uint64_t pa, val;
	} d[];
};

static inline struct inval inval_all(const char *name)
{
	return (struct inval){.kinds = KIND_ALL,
			      .regime = -1,
			      .ttl_level = -1,
			      .asid = -1,
			      .vmid = -1,
			      .ep4ta = -1,
			      .name = name};
}

/* Apply at this CPU now (the caller is the CPU's thread). */
PHYSIM_HIDDEN void physim_cpui_apply(struct physim_cpu *cpu, const struct inval *iv);
/* Queue for `cpu`, to be applied by its own thread at its next access or
 * instruction (any thread may call). */
PHYSIM_HIDDEN void physim_cpui_post(struct physim_cpu *cpu, const struct inval *iv);
/* Record an invalidation that completes only at a later barrier of the
 * issuing CPU (Arm DSB, RISC-V SFENCE.INVAL.IR); broadcast: at every CPU. */
PHYSIM_HIDDEN int physim_cpui_defer(struct physim_cpu *cpu, const struct inval *iv, bool broadcast);
/* The barrier: complete this CPU's deferred invalidations. */
PHYSIM_HIDDEN void physim_cpui_complete(struct physim_cpu *cpu);
/* Apply the CPU's queued remote invalidations (its own thread). */
PHYSIM_HIDDEN void physim_cpui_drain(struct physim_cpu *cpu);

PHYSIM_HIDDEN struct physim_machine *physim_cpui_machine(const struct physim_cpu *cpu);
PHYSIM_HIDDEN enum physim_arch physim_cpui_arch(const struct physim_cpu *cpu);
/* The current context (never NULL; zeroed when none is loaded). */
PHYSIM_HIDDEN const struct physim_cpu_context *physim_cpui_ctx(const struct physim_cpu *cpu);
PHYSIM_HIDDEN bool physim_cpui_has_ctx(const struct physim_cpu *cpu);
PHYSIM_HIDDEN void physim_cpui_count_inval(struct physim_cpu *cpu);
/* x86 CR4 as last written by physim_x86_mov_cr4. */
PHYSIM_HIDDEN uint64_t *physim_cpui_x86_cr4(struct physim_cpu *cpu);

/* Keep `obj` until the machine is destroyed, then call fin(obj). */
PHYSIM_HIDDEN void physim_cpui_add_wrap(struct physim_machine *m, void *obj, void (*fin)(void *));
/* The machine's object in *slot (a field of struct physim_machine, read and
 * set under kept_lock): made by make() the first time (make NULL: only
 * looked at) and finished by fin at physim_machine_destroy. NULL when there
 * is none and none could be made. Two threads may both make one: the one
 * not kept is finished at once. */
PHYSIM_HIDDEN void *physim_cpui_machine_once(struct physim_machine *m, void **slot,
					     void *(*make)(void), void (*fin)(void *));

/* Does iv remove e? (lib/cpu-store.c; exposed for the per-arch files' remedies). */
PHYSIM_HIDDEN bool physim_cpui_inval_matches(const struct inval *iv,
					     const struct physim_cpu_entry *e, int level);

/* The per-architecture remedy text for a stale entry (lib/cpu-<arch>.c):
 * which invalidation would have removed it, quoting the manual. stage2_changed
 * tells, for a COMB entry, that its GPA is unchanged (stage 2 changed). */
PHYSIM_HIDDEN const char *physim_cpui_x86_remedy(const struct physim_cpu_entry *e,
						 bool stage2_changed);
PHYSIM_HIDDEN const char *physim_cpui_arm_remedy(const struct physim_cpu_entry *e,
						 bool stage2_changed);
PHYSIM_HIDDEN const char *physim_cpui_rv_remedy(const struct physim_cpu_entry *e,
						bool stage2_changed);
PHYSIM_HIDDEN const char *physim_cpui_la_remedy(const struct physim_cpu_entry *e,
						bool stage2_changed);

/* ---- machines, CPUs and their entry stores ----
 * Shared by lib/cpu.c (lifecycle, contexts, translation), lib/cpu-store.c
 * (the entry store, invalidation, remote queues) and lib/cpu-check.c
 * (stale-use, audit, walk-cache and break-before-make checks, reports). */

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
	/* check_bbm: in the machine's list of contexts entries were filled
	 * in (lib/cpu-check.c; set by the owning CPU's thread only) */
	bool bbm_registered;
};

/* One cached entry: 128 bytes, in the pool at 64-byte alignment. The first
 * cache line holds what a lookup compares first and what a hit returns,
 * the second the rest of the tags, the links and what checks use. */
struct centry {
	uint64_t key;  /* 0: free; else page number << 6 | index shift */
	uint64_t ctag; /* kind | regime << 2 | vmid << 16 */
	uint64_t ep4ta;
	uint64_t va, pa, gpa;
	/* final translations: physim_xlate.leaf_desc and s2_leaf_desc of the
	 * filling walk, which a hit returns (a TLB caches the attributes with
	 * the translation) */
	uint64_t leaf_desc;
	union {
		uint64_t s2_leaf_desc; /* final translations */
		struct {	       /* WALK entries: the list of them all */
			uint32_t wnext, wprev;
		};
	};
	/* second cache line */
	uint32_t next; /* tag chain */
	uint16_t asid;
	uint16_t vmid;
	uint8_t kind, regime;
	uint8_t shift; /* page size of the entry */
	uint8_t allow;
	uint8_t perms;
	bool global;
	bool frac; /* COMB keyed by its larger stage-1 page */
	int8_t level;
	uint8_t s1_shift; /* COMB: stage-1 leaf size (index shift) */
	uint8_t s2_shift; /* COMB and S2: stage-2 leaf size */
	uint8_t wstage;	  /* WALK: 1 (a stage-1 table) or 2 (a stage-2 table) */
	/* WALK stage 1 and COMB: the stage-1 tables are at GPAs (a nested
	 * context); desc_pa is then the descriptor's HPA, and a walk entry's
	 * gpa the next table's GPA, its pa that table's HPA when cached */
	bool nested;
	/* WALK: the final-translation kind whose invalidations remove it
	 * (PHYSIM_ENTRY_S1, S2, or COMB for x86's combined paging-structure
	 * entries of a nested context, which hold the HPA of the next table) */
	uint8_t wkind;
	/* access classes served only while the stage-1 control state is as at
	 * the fill (access_cond_classes): a supervisor access to a user page, a
	 * user access under protection keys; the fill's
	 * access_ctl_fingerprint() is ctl_flags (bits 7:0) and ctl_pkru (63:32) */
	uint8_t cond_allow;
	uint8_t ctl_flags;
	/* the machine's issued_seq when cached, low 32 bits (lib/cpu-remedy.c) */
	uint32_t fill_seq;
	uint32_t pnext, pprev; /* page chain */
	uint32_t ctl_pkru;
	const struct ctxrec *ctx;
	uint64_t desc_pa; /* WALK (and leaves with check_bbm): where the
			     descriptor was read; 0: unknown */
	uint64_t desc;	  /* ... and its value then */
};
_Static_assert(sizeof(struct centry) == 128, "an entry is two cache lines");

/* The front cache (not used with check_stale, whose every hit compares
 * with a walk): copies of the entries of the last pages translated,
 * direct-mapped by 4 KiB page number, so a repeated hit costs one compare
 * and no pointer chase instead of a hash and a chain walk. A slot's tag is
 * the page number with the front cache's generation in bits 63:52 (a VA's
 * page number has 52 bits), and every insertion, removal, change of an
 * entry and context switch starts a new generation
 * (physim_cpui_front_forget): a slot never outlives the entry it copies
 * (nor the pool, which only moves on an insertion), and a hit through it
 * returns exactly what the store's own lookup would. */
enum { FRONT_SLOTS = 64, FRONT_GEN_SHIFT = 52 };
/* The part a lookup compares, apart (1 KiB for all slots, so a sweep over
 * many pages that misses the front cache touches only these lines). */
struct front_key {
	uint64_t tag;	  /* va >> 12 | generation << 52; 0: empty */
	uint16_t allow16; /* bit k: serves an access of access_key() k */
	bool has_gpa;	  /* not S1: the offset goes into x.gpa too */
};
struct front_slot {
	uint64_t offmask; /* the entry's page size - 1 */
	/* the result for the first byte of the entry's page */
	struct physim_xlate x;
};

struct deferred {
	struct inval iv;
	bool broadcast;
};

/* One invalidation this CPU issued, as its remedy search sees it
 * (lib/cpu-remedy.c): the last ISSUED_RING of them, per CPU. */
enum { ISSUED_RING = 16 };
struct issued {
	struct inval iv;
	uint64_t seq;	 /* machine-wide issue order; 0: empty slot */
	uint32_t npages; /* SBI RFENCE: pages of 4 KiB from iv.addr (0: just iv) */
	int16_t target;	 /* the CPU it applies to; -1: every CPU (broadcast) */
	bool deferred;	 /* completes at a later barrier (TLBI, SINVAL) */
};

struct physim_cpu {
	struct physim_machine *m;
	unsigned index;
	bool loaded;
	uint64_t front_gen; /* the front cache's generation << 52 (never 0) */
	uint32_t front_rng; /* xorshift state: which hits replace a live slot */
	/* set by other threads posting a broadcast (cleared at the drain);
	 * with the fields above and the counters, in the hit path's first
	 * cache line */
	atomic_bool pending;
	struct physim_cpu_stats st;
	struct front_key front_key[FRONT_SLOTS];
	struct front_slot front[FRONT_SLOTS];
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
	uint64_t x86_cr4;
	bool remote_apply; /* applying other CPUs' broadcasts (BBM: by their snapshot) */
	/* shared with other threads (under lock) */
	pthread_mutex_t lock;
	struct inval *queue;
	size_t nq, capq;
	bool queue_lost; /* a queue append failed: flush everything at drain */
	struct deferred *def;
	size_t ndef, capdef;
	/* the invalidations this CPU issued last (under lock; lib/cpu-remedy.c) */
	struct issued issued[ISSUED_RING];
	unsigned issued_next;
	/* Arm: HCR_EL2.E2H as the last host context loaded set it (a
	 * PHYSIM_REGIME_HOST_E20 context: 1; PHYSIM_REGIME_HOST: 0) */
	bool arm_e2h;
	/* the rest of runs split by the invalidation being applied, inserted
	 * once it is done (lib/cpu-runs.c) */
	struct centry *run_pend;
	size_t nrun_pend, caprun_pend;
	bool run_inserting; /* inserting them: they keep their run's fill_seq */
	/* audit_on_complete: inside a completion that audits once at its end
	 * (physim_cpui_complete, physim_cpui_drain) */
	bool audit_batch;
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
	/* remedy texts made for reports, kept until the machine goes
	 * (lib/cpu-remedy.c's struct remedy_pool; physim_cpui_machine_once) */
	void *remedies;
	atomic_uint_fast64_t issued_seq;
	/* check_bbm: the contexts any CPU filled entries in and the descriptors
	 * entries were made from, which a broadcast's snapshot reads
	 * (lib/cpu-bbm.c's struct bbm_reg; physim_cpui_machine_once) */
	void *bbm_reg;
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

/* Has an mmu's configuration stayed as it was? */
static inline bool same_cfg(const struct physim_mmu_config *a, const struct physim_mmu_config *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* ---- the store's lookup (inline: the hit path) ---- */

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

/* A pool of n entries, each on its own two cache lines; NULL: no memory. */
static inline struct centry *physim_cpui_pool_alloc(size_t n)
{
	if (n > SIZE_MAX / sizeof(struct centry))
		return NULL;
	return aligned_alloc(64, n * sizeof(struct centry));
}

/* Invalidate the front cache: every slot filled before is ignored. */
static inline void physim_cpui_front_forget(struct physim_cpu *c)
{
	c->front_gen += UINT64_C(1) << FRONT_GEN_SHIFT;
	if (PHYSIM_UNLIKELY(c->front_gen == 0)) {
		/* 4096 generations on: old slots could match again */
		memset(c->front_key, 0, sizeof(c->front_key));
		c->front_gen = UINT64_C(1) << FRONT_GEN_SHIFT;
	}
}

/* lib/cpu-store.c */
PHYSIM_HIDDEN void physim_cpui_to_public(const struct centry *e, struct physim_cpu_entry *out);
PHYSIM_HIDDEN void physim_cpui_remove_entry(struct physim_cpu *c, uint32_t idx);
PHYSIM_HIDDEN void physim_cpui_insert(struct physim_cpu *c, const struct centry *n);
/* Remove every entry this tag finds for va (before a refill). */
PHYSIM_HIDDEN void physim_cpui_drop_for(struct physim_cpu *c, uint64_t va, uint64_t ctag,
					uint64_t ep4ta, uint16_t asid);
/* Is an invalidation that removes e issued but not completed (by this CPU,
 * or broadcast by another)? Its name, or NULL. */
PHYSIM_HIDDEN const char *physim_cpui_pending_for(struct physim_cpu *c, const struct centry *e);

/* lib/cpu-check.c */
/* The HPA of a GPA through stage 2 (0: none). */
PHYSIM_HIDDEN uint64_t physim_cpui_s2_hpa(const struct physim_mmu *s2, uint64_t gpa);

/* lib/cpu-bbm.c */
/* Engine level of a descriptor whose entries cover 1 << shift bytes; -1
 * when no level has that size. */
PHYSIM_HIDDEN int physim_cpui_engine_level(const struct physim_pt_format *f, unsigned shift);
/* A descriptor of pte_bytes at pa, read atomically (*ok false: no memory). */
PHYSIM_HIDDEN uint64_t physim_cpui_read_desc(const struct physim_paging_handler *mem,
					     unsigned pte_bytes, uint64_t pa, bool *ok);
/* Are the n descriptors of a run at dpa (the first d0) well formed? */
PHYSIM_HIDDEN bool physim_cpui_run_consistent(const struct physim_pt_format *f,
					      const struct physim_paging_handler *mem, uint64_t dpa,
					      uint64_t d0, unsigned n, unsigned dshift);

PHYSIM_HIDDEN void physim_cpui_stale_check(struct physim_cpu *c, const struct centry *hit,
					   const struct physim_access *acc);
PHYSIM_HIDDEN void physim_cpui_walk_cache_update(struct physim_cpu *c, const struct physim_mmu *m,
						 unsigned wstage, uint64_t va, bool faulted);
/* carry (NULL: none): per descriptor of e (physim_cpui_desc_count), the
 * value a piece of a split run should remember; true when it was filled. */
PHYSIM_HIDDEN bool physim_cpui_bbm_check(struct physim_cpu *c, const struct inval *iv,
					 const struct centry *e, uint64_t *carry);
/* With check_bbm, the descriptors on the path of a broadcast's address in
 * the issuing CPU's tables, read at its completion (NULL: none to take). */
PHYSIM_HIDDEN struct bbm_snap *physim_cpui_bbm_snapshot(struct physim_cpu *c,
							const struct inval *iv);
/* With check_bbm: an entry of context r is being cached on c; make r known
 * to the snapshots of every CPU's broadcasts (once per context). */
PHYSIM_HIDDEN void physim_cpui_bbm_register(struct physim_cpu *c, struct ctxrec *r);
/* check_bbm: remember the descriptors e was made from (every member of a
 * run) for the snapshots of broadcasts without an address. */
PHYSIM_HIDDEN void physim_cpui_bbm_watch(struct physim_cpu *c, const struct centry *e);
/* Drop one reference to a snapshot (NULL: nothing). */
PHYSIM_HIDDEN void physim_cpui_snap_put(struct bbm_snap *s);
/* With check_bbm, the descriptor a leaf of a one-stage walk (a stage 1
 * alone, or a stage 2) was made from. */
PHYSIM_HIDDEN void physim_cpui_leaf_desc(const struct physim_mmu *m, struct centry *n);
/* With check_bbm, the stage-1 descriptor (at its HPA) a COMB entry was made
 * from. */
PHYSIM_HIDDEN void physim_cpui_nested_leaf_desc(struct physim_cpu *c,
						const struct physim_access *acc, struct centry *n);
/* A nested walk with walk caches: translate (through the trace API), check
 * the cached stage-1 walk entries, stage-2 translations of the stage-1
 * table addresses and stage-2 walk entries on its path, and cache them. */
PHYSIM_HIDDEN int physim_cpui_nested_walk(struct physim_cpu *c, const struct physim_access *acc,
					  struct physim_xlate *x);

/* lib/cpu.c: cache the stage-2 translation of gpa beside a nested walk (the
 * final GPA's, or a stage-1 table's); its page shift, 0 when not cached. */
PHYSIM_HIDDEN unsigned physim_cpui_cache_s2(struct physim_cpu *c, const struct physim_access *acc,
					    uint64_t gpa);

/* ---- remedies that name what was issued (lib/cpu-remedy.c) ---- */

/* Record an invalidation `cpu` issued (the per-arch files call it once per
 * instruction): target -1 for a broadcast, else the CPU it applies to;
 * npages > 0 for an SBI range starting at iv->addr. */
PHYSIM_HIDDEN void physim_cpui_note_issued(struct physim_cpu *cpu, const struct inval *iv,
					   int target, uint32_t npages, bool deferred);
/* The remedy of a report on entry e (ce, as stored) of CPU c (cached when
 * the machine's issued_seq was ce->fill_seq): what was issued since that came closest to
 * removing it and why it did not, then what is needed (the per-arch text).
 * A string kept until the machine is destroyed. */
PHYSIM_HIDDEN const char *physim_cpui_remedy(struct physim_cpu *c, const struct physim_cpu_entry *e,
					     const struct centry *ce, bool stage2_changed,
					     bool pending);
/* May ctx be loaded as an EL2&0 (VHE) context: an AArch64 CPU, one stage
 * (lib/cpu-arm.c)? */
PHYSIM_HIDDEN bool physim_cpui_arm_e20_ok(const struct physim_cpu *cpu,
					  const struct physim_cpu_context *ctx);
/* The translation granule of an entry as an Arm TTL[3:2] code (1: 4K, 2:
 * 16K, 3: 64K; 0: unknown), from the format of the stage it came from
 * (lib/cpu-arm.c). */
PHYSIM_HIDDEN unsigned physim_cpui_arm_granule(const struct centry *e);
/* Why a recorded invalidation of this family did not remove e although its
 * filters are close: an architecture-specific phrase (the kind of entry it
 * cannot remove, an operand encoded the wrong way), NULL if none applies. */
PHYSIM_HIDDEN const char *physim_cpui_x86_why(const struct inval *iv,
					      const struct physim_cpu_entry *e, unsigned miss,
					      bool stage2_changed);
PHYSIM_HIDDEN const char *physim_cpui_arm_why(const struct inval *iv,
					      const struct physim_cpu_entry *e, unsigned miss,
					      bool stage2_changed);
PHYSIM_HIDDEN const char *physim_cpui_rv_why(const struct inval *iv,
					     const struct physim_cpu_entry *e, unsigned miss,
					     bool stage2_changed);
/* The same for LoongArch INVTLB, whose phrases name the op and its operands
 * (written into buf; NULL if none applies). */
PHYSIM_HIDDEN const char *physim_cpui_la_why(const struct inval *iv,
					     const struct physim_cpu_entry *e, unsigned miss,
					     char *buf, size_t len);
/* Filters of an invalidation an entry failed (physim_cpui_<arch>_why's miss). */
enum {
	MISS_KIND = 1u << 0,   /* a kind of entry it does not remove */
	MISS_STAGE = 1u << 1,  /* a stage-1 invalidation for a stage-2 change */
	MISS_CPU = 1u << 2,    /* ran on another CPU only */
	MISS_REGIME = 1u << 3, /* another translation regime */
	MISS_VMID = 1u << 4,   /* another VMID / VPID / EPTP */
	MISS_ASID = 1u << 5,   /* another ASID / PCID, or globals kept */
	MISS_ADDR = 1u << 6,   /* another address */
	MISS_LEAF = 1u << 7,   /* last level only, a walk-cache entry */
	MISS_TTL = 1u << 8,    /* the TTL hint names another level or granule */
};

/* ---- grouped leaves (lib/cpu-runs.c) ---- */

/* The most descriptors one run has (AArch64 16K granule, level 3: 128). */
enum { RUN_DESC_MAX = 128 };

/* The size (index shift) of one descriptor of a run entry e - an AArch64
 * Contiguous-bit run or a RISC-V Svnapot page: an S1 or S2 entry of the
 * run's size, or a combined entry larger than one descriptor of its stage-1
 * run (by VA, addr_mode INV_ADDR_INPUT) or of its stage-2 run (by GPA,
 * INV_ADDR_GPA) - which is all an invalidation by that address must remove
 * of it; 0 when e is no such run. */
PHYSIM_HIDDEN unsigned physim_cpui_run_piece_shift(const struct centry *e, unsigned addr_mode);
/* The address bits (as a page shift) an invalidation by VA (INV_ADDR_INPUT)
 * or by GPA (INV_ADDR_GPA) compares with a COMB entry: its stage-1 (stage-2)
 * leaf's size, but one descriptor's size when that leaf is a run. */
PHYSIM_HIDDEN unsigned physim_cpui_comb_match_shift(const struct centry *e, unsigned addr_mode);
/* The leaf of format f whose runs are 1 << run_shift bytes: its page shift
 * (0: no run of that size; ARMv7 short descriptors: 0, one TLB entry). */
PHYSIM_HIDDEN unsigned physim_cpui_group_piece(const struct physim_pt_format *f,
					       unsigned run_shift);
/* The descriptors e was made from (break-before-make): desc_count of them,
 * consecutive from desc_pa, each mapping 1 << desc_shift bytes, in a table
 * of format desc_format; member k's value implied by the first's. */
PHYSIM_HIDDEN unsigned physim_cpui_desc_shift(const struct centry *e);
PHYSIM_HIDDEN unsigned physim_cpui_desc_count(const struct centry *e);
PHYSIM_HIDDEN const struct physim_pt_format *physim_cpui_desc_format(const struct centry *e);
PHYSIM_HIDDEN uint64_t physim_cpui_run_member(const struct physim_pt_format *f, uint64_t desc0,
					      unsigned k, unsigned desc_shift);
/* e, a run being removed by iv, keeps its pieces iv does not name: they are
 * queued on c and inserted by physim_cpui_run_flush once iv is applied.
 * carry (NULL: the values the run implies): per descriptor of e, the value
 * its piece remembers (what break-before-make last compared). */
PHYSIM_HIDDEN void physim_cpui_run_split(struct physim_cpu *c, const struct inval *iv,
					 const struct centry *e, unsigned piece_shift,
					 const uint64_t *carry);
PHYSIM_HIDDEN void physim_cpui_run_flush(struct physim_cpu *c);

/* ---- audit at completion (machine config audit_on_complete) ---- */

/* Audit this CPU's entries (its own thread, its queue not locked):
 * STALE_ENTRY reports, returns their number (lib/cpu-check.c). */
PHYSIM_HIDDEN long physim_cpui_audit_cpu(struct physim_cpu *c);
/* An invalidation completed on c: audit it if the machine asks (and no
 * enclosing completion will). */
static inline void physim_cpui_completed(struct physim_cpu *c)
{
	if (PHYSIM_UNLIKELY(c->m->cfg.audit_on_complete) && !c->audit_batch)
		(void)physim_cpui_audit_cpu(c);
}

#endif
