/* SPDX-License-Identifier: MIT */
/* lib/pt-priv.h - what the page-table engine's files (lib/pt*.c) share, and
 * the internals tests reach through the internal library; never installed. */
#ifndef PHYSIM_PT_PRIV_H
#define PHYSIM_PT_PRIV_H

#include <physim/pt.h>
#include "physim-priv.h"
#include "pt-format.h"
#include "pt-frameset.h"
#include "walk-format.h"

#include <stdatomic.h>
#include <string.h>

/* A flush call carries up to this many page VAs; more changes mean "all". */
#define FLUSH_BATCH 32
/* Table frames an operation may need before the pool goes to the heap. */
#define POOL_LOCAL 16
/* Tables an operation may unlink before their list goes to the heap. */
#define UNLINK_LOCAL 8

#define KNOWN_FLAGS (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U | PHYSIM_DEVICE | PHYSIM_UNCACHED)

struct physim_pt {
	const struct physim_pt_format *fmt;
	/* The format the table was created with (physim_pt_format); fmt is
	 * &fmt_own instead when the configuration changes what its codec
	 * encodes (physim_pt_config.mair). */
	const struct physim_pt_format *pub_fmt;
	struct physim_pt_format fmt_own;
	const struct physim_paging_handler *ph;
	struct physim_direct_map dm; /* copy of ph->direct; size 0: none */
	physim_pt_flush_fn flush;
	physim_pt_flush_ex_fn flush_ex; /* used instead of flush when set */
	void *flush_ctx;
	bool keep_empty;
	physim_hpa_t root;
	uint8_t *root_hva;
	uint64_t table_frames;
	uint64_t tbytes[PHYSIM_PT_MAX_LEVELS]; /* bytes of one table at each level */
	struct query_memo *memo;	       /* NULL: queries make every call */
	struct query_memo *memo_off;	       /* kept while physim_pt_use_memo() is off */
	struct pt_va_range va_range;	       /* the format's input range (pt_va_in) */
	/* Lookups of one address: the one walk loop in lookup mode, as the
	 * format's walk rules instantiate it (pt_walk_ops.lookup) or, without
	 * one, with the format's calls (lib/pt-lookup.c). */
	int (*lookup)(const struct walk_lookup *lk, uint64_t va, struct walk_slot *slot,
		      struct physim_pt_mapping *m);
	/* physim_pt_attach: the table was found in memory, not built here; it
	 * owns no frame and destroy returns none. */
	bool attached;
	/* Every table frame this table allocated and still holds (tag: its
	 * level + 1; val: the host-physical address of the descriptor that
	 * links it, or NO_LINK for the root and tables not linked yet). */
	struct pt_frameset owned;
	/* The lookups' copy of the geometry and fast path (last: it is large,
	 * and the edit engine's fields above stay together). */
	struct walk_lookup lk;
	/* physim_translate's mmu (default control state), made once. */
	struct physim_mmu xm;
};

#define NO_LINK UINT64_MAX

/* ---- descriptors and table memory ---- */

/* Descriptors are read and written with relaxed atomics: a walker on
 * another thread may set A/D bits in them by compare-and-swap at any time
 * (walk.h: translating while the table is only queried is allowed). On
 * x86-64 and arm64 these are plain loads and stores. Every table pointer
 * the engine follows is naturally aligned for its descriptors: table
 * addresses decode to multiples of at least 4 (8-byte formats: of at least
 * 32) in every format, roots are checked at create/attach, and the engine
 * takes only aligned host pointers (pt_direct_map, physim_pt_hva_slow). */
static inline uint64_t pte_load(const uint8_t *t, uint64_t idx, unsigned pte_bytes)
{
	if (pte_bytes == 8)
		return __atomic_load_n((const uint64_t *)(const void *)t + idx, __ATOMIC_RELAXED);
	return __atomic_load_n((const uint32_t *)(const void *)t + idx, __ATOMIC_RELAXED);
}

static inline void pte_store(uint8_t *t, uint64_t idx, unsigned pte_bytes, uint64_t d)
{
	if (pte_bytes == 8)
		__atomic_store_n((uint64_t *)(void *)t + idx, d, __ATOMIC_RELAXED);
	else
		__atomic_store_n((uint32_t *)(void *)t + idx, (uint32_t)d, __ATOMIC_RELAXED);
}

/* Replace *old by new if the descriptor still holds *old; otherwise *old
 * receives what it holds now. */
static inline bool pte_cas(uint8_t *t, uint64_t idx, unsigned pte_bytes, uint64_t *old,
			   uint64_t new)
{
	if (pte_bytes == 8)
		return __atomic_compare_exchange_n((uint64_t *)(void *)t + idx, old, new, false,
						   __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
	uint32_t o32 = (uint32_t)*old;
	bool ok = __atomic_compare_exchange_n((uint32_t *)(void *)t + idx, &o32, (uint32_t) new,
					      false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
	*old = o32;
	return ok;
}

/* The paging handler's direct map, if its host addresses keep the
 * alignment of the physical ones (descriptors must be naturally aligned
 * for atomic access); otherwise none, and tables are reached through
 * phys_to_virt, which physim_pt_hva_slow checks. */
static inline struct physim_direct_map pt_direct_map(const struct physim_paging_handler *ph)
{
	struct physim_direct_map dm = ph->direct;
	if (((uintptr_t)dm.hva - (uintptr_t)dm.base) & 7)
		dm = (struct physim_direct_map){0};
	return dm;
}

static inline enum pt_kind pte_kind(const struct physim_pt_format *f, uint64_t d, unsigned lvl)
{
	/* 0 is invalid in every format: skip the call for the common hole. */
	return d == 0 ? PT_INVALID : f->ops->classify(f, d, lvl);
}

/* Host pointer to len bytes at pa through the handler's phys_to_virt; NULL
 * unless the whole range resolves linearly. */
PHYSIM_HIDDEN uint8_t *physim_pt_hva_slow(const struct physim_pt *pt, uint64_t pa, uint64_t len);

/* Host pointer to the table at level lvl at pa, or NULL if any byte of it is
 * outside the handler's memory (a corrupt table pointer). */
static inline uint8_t *table_hva(const struct physim_pt *pt, uint64_t pa, unsigned lvl)
{
	if (PHYSIM_LIKELY(pt->dm.size != 0)) {
		uint8_t *p = physim_dm_phys_to_virt_checked(&pt->dm, pa, pt->tbytes[lvl]);
		if (PHYSIM_LIKELY(p != NULL))
			return p;
	}
	return physim_pt_hva_slow(pt, pa, pt->tbytes[lvl]);
}

/* ---- addresses ---- */

static inline bool va_ok(const struct physim_pt_format *f, uint64_t va)
{
	unsigned b = f->va_bits;
	if (b >= 64)
		return true;
	if (!f->sign_extended)
		return (va >> b) == 0;
	uint64_t top = va >> (b - 1); /* bit b-1 and everything above it */
	return top == 0 || top == UINT64_MAX >> (b - 1);
}

/* [va, va + size) is non-empty, does not wrap and lies in the input range
 * (for sign-extended formats: in one half). */
static inline bool range_ok(const struct physim_pt_format *f, uint64_t va, uint64_t size)
{
	if (!physim_range_ok(va, size))
		return false;
	uint64_t last = va + (size - 1);
	if (!va_ok(f, va) || !va_ok(f, last))
		return false;
	return !f->sign_extended || f->va_bits >= 64 ||
	       (va >> (f->va_bits - 1)) == (last >> (f->va_bits - 1));
}

static inline uint64_t granule(const struct physim_pt_format *f)
{
	return pt_level_page_size(f, 0);
}

/* Level whose leaves are page_size bytes, or -1. */
static inline int leaf_level_of(const struct physim_pt_format *f, uint64_t page_size)
{
	for (unsigned l = 0; l < f->levels; l++)
		if (f->level[l].leaf_ok && pt_level_page_size(f, l) == page_size)
			return (int)l;
	return -1;
}

/* ---- operations ---- */

enum op_kind { OP_MAP, OP_UNMAP, OP_PROTECT };

/* What the check pass sees in a table that does not exist yet: a new empty
 * table, or the table a huge leaf will be split into (every entry a leaf of
 * the next level with the huge leaf's attributes). The apply pass only sees
 * real tables. */
enum vt_kind { VT_REAL, VT_EMPTY, VT_FULL };

struct vt {
	enum vt_kind kind;
	uint8_t *t;	       /* VT_REAL */
	physim_hpa_t tpa;      /* VT_REAL: where t is */
	uint64_t base;	       /* VT_FULL: va of entry 0 */
	uint64_t pa;	       /* VT_FULL: pa of entry 0 */
	struct pt_leaf_attr a; /* VT_FULL */
};

struct flush_batch {
	uint64_t va[FLUSH_BATCH];
	uint64_t seen; /* bit flush_hash(v) of every v in va[] */
	unsigned n;
	bool all;
	bool tables_freed; /* PHYSIM_PT_FLUSH_TABLES_FREED */
};

struct table_pool {
	physim_hpa_t *pa; /* every table the apply pass needs, grouped by level */
	size_t start[PHYSIM_PT_MAX_LEVELS];
	size_t used[PHYSIM_PT_MAX_LEVELS];
	size_t total;
	physim_hpa_t local[POOL_LOCAL];
};

struct op {
	struct physim_pt *pt;
	const struct physim_pt_format *f;
	enum op_kind kind;
	bool apply;
	bool replace;
	uint64_t va, last; /* the range, inclusive */
	/* map */
	uint64_t pa;	     /* pa of va (linear mapping) */
	uint64_t *descs;     /* map_region_cb: the level-0 descriptor of each page */
	unsigned leaf_mask;  /* levels new leaves may use */
	unsigned group_mask; /* levels whose new leaves may be grouped (o->descs NULL) */
	struct pt_leaf_attr attr;
	/* map: the new leaves' encodings so far, plain [0] and grouped [1]
	 * (lib/pt-run.c, physim_pt_map_prepare) */
	struct map_enc {
		unsigned lvl;
		bool valid;
		uint64_t pa0, d0, delta; /* the leaf at pa0, and the step per page */
		uint64_t pa_hi;		 /* checked linear from pa0 up to here */
	} enc[2];
	/* protect */
	uint32_t flags;
	uint64_t need[PHYSIM_PT_MAX_LEVELS]; /* tables to allocate, per level */
	struct table_pool pool;
	struct flush_batch fb;
	struct pt_frameset seen; /* check pass, attached tables: tables met */
	/* apply pass: tables unlinked, freed only after the flush callback
	 * (lib/pt-edit.c, break-before-free). The check pass counts the tables
	 * the apply pass may unlink (unlink_need) and pool_fill makes room for
	 * them before anything changes. */
	uint64_t unlink_need;
	struct unlink_list {
		physim_hpa_t *pa; /* local, or malloc'ed when more are needed */
		size_t n, cap;
		physim_hpa_t local[UNLINK_LOCAL];
	} unlinked;
};

/* ---- lookup of one address (query and the single-page operations) ---- */

struct hit {
	uint8_t *t; /* table holding the leaf */
	uint64_t idx;
	unsigned lvl;
	uint64_t d;
};

/* ---- lib/pt-run.c: encoding runs of new leaves ---- */

/* n leaves from pa at lvl with attributes a: the first leaf's descriptor,
 * and, if the address field is linear over the run, the step from one to
 * the next (else each leaf is encoded when written). */
struct pt_leaf_run {
	uint64_t d0;
	uint64_t delta;
	bool linear;
};

/* Encode the run's first, second and last leaf: 0 with *r, or the format's
 * error (nothing written anywhere). */
PHYSIM_HIDDEN int physim_pt_run_prepare(const struct physim_pt_format *f, uint64_t pa,
					const struct pt_leaf_attr *a, unsigned lvl, uint64_t n,
					struct pt_leaf_run *r);
/* Write the run prepared in *r to entries [idx, idx + n) of table t. */
PHYSIM_HIDDEN void physim_pt_run_write(const struct physim_pt_format *f, uint8_t *t, uint64_t idx,
				       uint64_t n, uint64_t pa, const struct pt_leaf_attr *a,
				       unsigned lvl, const struct pt_leaf_run *r);
/* physim_pt_run_prepare for a map's own new leaves (o->attr, grouped or
 * not), reusing the step of an earlier run of the same operation; *a gets
 * the attributes to write them with. */
PHYSIM_HIDDEN int physim_pt_map_prepare(struct op *o, unsigned lvl, uint64_t pa, uint64_t n,
					bool grouped, struct pt_leaf_attr *a,
					struct pt_leaf_run *r);

/* ---- lib/pt-table.c: table memory and the traversal rule ---- */

PHYSIM_HIDDEN int physim_pt_table_alloc(struct physim_pt *pt, unsigned lvl, physim_hpa_t *out);
PHYSIM_HIDDEN void physim_pt_table_free(struct physim_pt *pt, physim_hpa_t pa);
PHYSIM_HIDDEN void physim_pt_link_set(struct physim_pt *pt, physim_hpa_t child,
				      physim_hpa_t table_pa, uint64_t idx);
PHYSIM_HIDDEN int physim_pt_child_check(const struct physim_pt *pt, struct pt_frameset *seen,
					physim_hpa_t table_pa, uint64_t idx, physim_hpa_t child,
					unsigned lvl);
PHYSIM_HIDDEN int physim_pt_seen_start(const struct physim_pt *pt, struct pt_frameset *seen);

/* ---- lib/pt-edit.c: the check/apply engine ---- */

PHYSIM_HIDDEN void physim_pt_op_init(struct op *o, struct physim_pt *pt, enum op_kind kind,
				     uint64_t va, uint64_t size);
PHYSIM_HIDDEN int physim_pt_op_check(struct op *o);
PHYSIM_HIDDEN int physim_pt_op_commit(struct op *o);
PHYSIM_HIDDEN uint64_t physim_pt_explicit_arch(const struct physim_pt_format *f, uint64_t pa,
					       unsigned lvl, const struct pt_leaf_attr *a);

/* ---- lib/pt-lookup.c: the query memo and lookups of one address ---- */

PHYSIM_HIDDEN struct query_memo *physim_pt_memo_create(const struct physim_pt_format *f);
/* Set up pt->lookup, pt->lk and pt->xm once root and root_hva are known. */
PHYSIM_HIDDEN void physim_pt_lookup_init(struct physim_pt *pt);
PHYSIM_HIDDEN void physim_pt_leaf_mapping(const struct physim_pt *pt, uint64_t va, unsigned lvl,
					  uint64_t d, struct physim_pt_mapping *m);
PHYSIM_HIDDEN int physim_pt_find_page(const struct physim_pt *pt, uint64_t va, struct hit *h,
				      struct physim_pt_mapping *m);

/* One of 64 bits for a page-aligned VA (Fibonacci hashing of its page
 * number, so that huge-page VAs spread too). */
static inline uint64_t flush_hash_bit(uint64_t va)
{
	return UINT64_C(1) << ((va >> 12) * UINT64_C(0x9e3779b97f4a7c15) >> 58);
}

/* Note a leaf whose cached translations must go: its start VA, once; more
 * than FLUSH_BATCH distinct VAs become `all`. The batch is searched for va
 * only if va's bit is set in fb->seen: an operation over many leaves
 * reports each once, and would otherwise scan the batch for every one. */
static inline void physim_pt_flush_add(struct flush_batch *fb, uint64_t va)
{
	if (fb->all)
		return;
	uint64_t bit = flush_hash_bit(va);
	if (fb->seen & bit) {
		for (unsigned i = 0; i < fb->n; i++)
			if (fb->va[i] == va)
				return;
	}
	if (fb->n == FLUSH_BATCH) {
		fb->all = true;
		return;
	}
	fb->va[fb->n++] = va;
	fb->seen |= bit;
}

/* Hand what fb collected to the table's flush callback (if any, and if
 * anything was collected). */
static inline void physim_pt_flush_send(const struct physim_pt *pt, const struct flush_batch *fb)
{
	if ((pt->flush == NULL && pt->flush_ex == NULL) || (!fb->all && fb->n == 0))
		return;
	const uint64_t *vas = fb->all ? NULL : fb->va;
	size_t n = fb->all ? 0 : fb->n;
	if (pt->flush_ex != NULL)
		pt->flush_ex(pt->flush_ctx, vas, n, fb->all,
			     fb->tables_freed ? PHYSIM_PT_FLUSH_TABLES_FREED : 0);
	else
		pt->flush(pt->flush_ctx, vas, n, fb->all);
}

/* Report one changed leaf to the table's flush callback on its own. */
static inline void physim_pt_flush_one(const struct physim_pt *pt, uint64_t va)
{
	if (pt->flush_ex != NULL)
		pt->flush_ex(pt->flush_ctx, &va, 1, false, 0);
	else if (pt->flush != NULL)
		pt->flush(pt->flush_ctx, &va, 1, false);
}

/* ---- lib/pt-iter.c: iteration that edits leaves in place ---- */

/* One leaf as physim_pt_iter_leaves hands it over: where its descriptor
 * lives, what it held when read, and that decoded. Valid only during the
 * callback; the caller may change the descriptor through it (Linux's
 * mm_walk_ops pte_entry gets the entry pointer the same way). */
struct pt_slot {
	uint8_t *t;   /* the table holding the leaf */
	uint64_t idx; /* its entry in t */
	unsigned lvl;
	uint64_t d;		    /* the descriptor as read */
	struct physim_pt_mapping m; /* d decoded: the whole leaf */
};

/* Called for each leaf; nonzero stops the iteration and is returned. */
typedef int (*physim_pt_slot_fn)(void *ctx, const struct pt_slot *s);

/* Visit every leaf overlapping [va, va + size) in one traversal, with the
 * same corrupt-table rule as physim_pt_walk (each table frame reached at
 * most once, only the links the engine wrote followed). 0, the callback's
 * nonzero return, -EINVAL (range), -EFAULT (corrupt table), -ENOMEM. */
PHYSIM_HIDDEN int physim_pt_iter_leaves(struct physim_pt *pt, uint64_t va, uint64_t size,
					physim_pt_slot_fn fn, void *ctx);

/* Clear A and/or D in the leaf at s by compare-and-swap, retrying so that
 * a bit a walker sets meanwhile is never lost (the leaf keeps its address
 * and kind; A/D are the only bits a walker writes). true if the descriptor
 * changed; the caller reports the leaf to the flush callback
 * (physim_pt_flush_add). */
PHYSIM_HIDDEN bool physim_pt_slot_clear_ad(const struct physim_pt *pt, const struct pt_slot *s,
					   bool accessed, bool dirty);

/* Switch the query memo (lib/pt-lookup.c) off and on again, so a test can compare
 * memoised queries with the format's calls. On by default when the paging
 * handler has a direct map. */
PHYSIM_HIDDEN void physim_pt_use_memo(struct physim_pt *pt, bool on);

#endif
