/* SPDX-License-Identifier: MIT */
/* lib/pt.c - the page-table engine: map / unmap / protect / remap / query /
 * walk for every table format, written once. Formats supply geometry and the
 * encode/decode of one descriptor (lib/pt-format.h); table memory comes only
 * from the paging handler (hal.h).
 *
 * Every mutating operation runs twice over the same range: a check pass that
 * changes nothing (it finds conflicts, corrupt tables and encodings the format
 * refuses, and counts the table frames the change will need), then - once all
 * of those frames are allocated - an apply pass that cannot fail. A failed
 * call therefore leaves the table and the frame count exactly as they were.
 *
 * Table memory may be corrupt (a table is ordinary RAM, and an attached one
 * was built elsewhere). The engine remembers every table frame it allocated
 * and the descriptor that links it (owned, below). A traversal follows a
 * table pointer only if it is that link, or - in an attached table, for a
 * table the engine did not allocate - if the table was not met before in
 * the same traversal; anything else is corruption (-EFAULT). So every
 * traversal reaches each table at most once (its cost is linear in the
 * table frames), and only frames the table allocated are ever freed, each
 * once. Lookups of one address are bounded by the level count and are not
 * checked (query stays fast); the calls that write through them are. */
#include "pt-format.h"

#include "pt-frameset.h"
#include "pt-priv.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* A flush call carries up to this many page VAs; more changes mean "all". */
#define FLUSH_BATCH 32
/* Table frames an operation may need before the pool goes to the heap. */
#define POOL_LOCAL 16

#define KNOWN_FLAGS (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U | PHYSIM_DEVICE | PHYSIM_UNCACHED)

struct physim_pt {
	const struct physim_pt_format *fmt;
	const struct physim_paging_handler *ph;
	struct physim_direct_map dm; /* copy of ph->direct; size 0: none */
	physim_pt_flush_fn flush;
	void *flush_ctx;
	bool keep_empty;
	physim_hpa_t root;
	uint8_t *root_hva;
	uint64_t table_frames;
	uint64_t tbytes[PHYSIM_PT_MAX_LEVELS]; /* bytes of one table at each level */
	struct query_memo *memo;	       /* NULL: queries make every call */
	struct query_memo *memo_off;	       /* kept while physim_pt_use_memo() is off */
	/* 3, 4 or 5 if the geometry is the common one (4 KiB granule, 9 index
	 * bits per level below the root, 8-byte descriptors): queries then use
	 * an unrolled copy of the lookup loop. 0 otherwise. */
	uint8_t std_levels;
	uint8_t va_unused; /* 64 - va_bits */
	uint64_t root_index_mask;
	/* physim_pt_attach: the table was found in memory, not built here; it
	 * owns no frame and destroy returns none. */
	bool attached;
	/* Every table frame this table allocated and still holds (tag: its
	 * level + 1; val: the host-physical address of the descriptor that
	 * links it, or NO_LINK for the root and tables not linked yet). */
	struct pt_frameset owned;
};

#define NO_LINK UINT64_MAX

/* ---- descriptors and table memory ---- */

/* Descriptors are read and written with relaxed atomics: a walker on
 * another thread may set A/D bits in them by compare-and-swap at any time
 * (walk.h: translating while the table is only queried is allowed). On
 * x86-64 and arm64 these are plain loads and stores. Every table pointer
 * the engine follows is naturally aligned for its descriptors: table
 * addresses decode to multiples of at least 4 (8-byte formats: of at least
 * 32) in every format, roots are checked at create/attach, and table_hva
 * hands out only aligned host pointers (pt_direct_map, hva_slow). */
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
 * phys_to_virt, which hva_slow checks. */
static struct physim_direct_map pt_direct_map(const struct physim_paging_handler *ph)
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
static uint8_t *hva_slow(const struct physim_pt *pt, uint64_t pa, uint64_t len)
{
	const struct physim_paging_handler *ph = pt->ph;
	if (pa + (len - 1) < pa)
		return NULL;
	uint8_t *p = ph->phys_to_virt(ph->ctx, pa);
	if (p == NULL || ((uintptr_t)p & 7) != (pa & 7))
		return NULL; /* descriptors would not be naturally aligned */
	if (len > 1 && (uint8_t *)ph->phys_to_virt(ph->ctx, pa + (len - 1)) != p + (len - 1))
		return NULL;
	return p;
}

/* Host pointer to the table at level lvl at pa, or NULL if any byte of it is
 * outside the handler's memory (a corrupt table pointer). */
static inline uint8_t *table_hva(const struct physim_pt *pt, uint64_t pa, unsigned lvl)
{
	if (PHYSIM_LIKELY(pt->dm.size != 0)) {
		uint8_t *p = physim_dm_phys_to_virt_checked(&pt->dm, pa, pt->tbytes[lvl]);
		if (PHYSIM_LIKELY(p != NULL))
			return p;
	}
	return hva_slow(pt, pa, pt->tbytes[lvl]);
}

/* Return the frames of a table this table allocated at pa (the level it
 * was allocated for decides how many). A pa it does not hold is never
 * freed: that would hand out frames someone else still uses. */
static void table_free(struct physim_pt *pt, physim_hpa_t pa)
{
	const struct physim_paging_handler *ph = pt->ph;
	struct pt_frameset_slot *s = pt_frameset_find(&pt->owned, pa);
	if (s == NULL) {
		physim_log_error("pt: %s: not freeing %#llx: not a table frame it allocated",
				 pt->fmt->name, (unsigned long long)pa);
		return;
	}
	uint64_t nframes = pt_table_frames(pt->fmt, (unsigned)(s->key & PT_FRAMESET_TAG_MASK) - 1);
	int rc = nframes == 1 ? ph->dealloc_frame(ph->ctx, pa)
			      : ph->dealloc_frames(ph->ctx, pa, (size_t)nframes);
	if (rc != 0) {
		physim_log_error("pt: returning table frame %#llx failed: %s",
				 (unsigned long long)pa, physim_strerror(rc));
		return;
	}
	pt_frameset_remove(&pt->owned, s);
	pt->table_frames -= nframes;
}

/* The descriptor at entry idx of the table at table_pa now links child (a
 * table this table allocated). */
static void link_set(struct physim_pt *pt, physim_hpa_t child, physim_hpa_t table_pa, uint64_t idx)
{
	struct pt_frameset_slot *s = pt_frameset_find(&pt->owned, child);
	if (s != NULL)
		s->val = table_pa + idx * pt->fmt->pte_bytes;
}

/* Note pa as met in one traversal: -EFAULT if it was met before (a table
 * reached twice: a cycle or a shared table), -ENOMEM. Addresses are taken
 * 32-byte aligned (no table is less aligned). */
static int seen_add(struct pt_frameset *seen, physim_hpa_t pa)
{
	uint64_t key = pa & ~PT_FRAMESET_TAG_MASK;
	if (pt_frameset_find(seen, key) != NULL)
		return -EFAULT;
	return pt_frameset_add(seen, key, 1, 0);
}

/* May a traversal follow the table pointer in entry idx of the table at
 * table_pa to a table at child, at level lvl? Yes (0) if it is the link
 * the engine wrote for a table it allocated for that level; in an attached
 * table also if child is a table the engine did not allocate and the
 * traversal has not met it before (*seen). Otherwise the pointer is
 * corrupt: -EFAULT (or -ENOMEM from *seen). */
static int child_check(const struct physim_pt *pt, struct pt_frameset *seen, physim_hpa_t table_pa,
		       uint64_t idx, physim_hpa_t child, unsigned lvl)
{
	const struct pt_frameset_slot *s = pt_frameset_find(&pt->owned, child);
	if (s != NULL)
		return s->val == table_pa + idx * pt->fmt->pte_bytes &&
			       (s->key & PT_FRAMESET_TAG_MASK) == lvl + 1u
			   ? 0
			   : -EFAULT;
	if (!pt->attached)
		return -EFAULT;
	return seen_add(seen, child);
}

/* A traversal's visited set starts with the root of an attached table (an
 * owned root has no link, so nothing can lead to it). */
static int seen_start(const struct physim_pt *pt, struct pt_frameset *seen)
{
	memset(seen, 0, sizeof(*seen));
	return pt->attached ? seen_add(seen, pt->root) : 0;
}

/* A zeroed table for level lvl: one frame, or table-size aligned frames for
 * tables larger than 4 KiB (16K/64K granules, concatenated roots). Tables
 * smaller than a frame get a whole frame. */
static int table_alloc(struct physim_pt *pt, unsigned lvl, physim_hpa_t *out)
{
	const struct physim_paging_handler *ph = pt->ph;
	uint64_t nframes = pt_table_frames(pt->fmt, lvl);
	physim_hpa_t pa = 0;
	int rc = nframes == 1
		     ? ph->alloc_frame(ph->ctx, &pa)
		     : ph->alloc_frames(ph->ctx, (size_t)nframes, nframes * PHYSIM_FRAME_SIZE, &pa);
	if (rc != 0)
		return rc < 0 ? rc : -ENOMEM;
	rc = pt_frameset_add(&pt->owned, pa, lvl + 1u, NO_LINK);
	if (rc != 0) {
		if (nframes == 1)
			ph->dealloc_frame(ph->ctx, pa);
		else
			ph->dealloc_frames(ph->ctx, pa, (size_t)nframes);
		return rc;
	}
	uint8_t *p = pt->dm.size
			 ? physim_dm_phys_to_virt_checked(&pt->dm, pa, nframes * PHYSIM_FRAME_SIZE)
			 : NULL;
	if (p == NULL)
		p = hva_slow(pt, pa, nframes * PHYSIM_FRAME_SIZE);
	if (p == NULL) {
		pt->table_frames += nframes; /* table_free takes them off again */
		table_free(pt, pa);
		return -EFAULT;
	}
	memset(p, 0, nframes * PHYSIM_FRAME_SIZE);
	pt->table_frames += nframes;
	*out = pa;
	return 0;
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
static bool range_ok(const struct physim_pt_format *f, uint64_t va, uint64_t size)
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
static int leaf_level_of(const struct physim_pt_format *f, uint64_t page_size)
{
	for (unsigned l = 0; l < f->levels; l++)
		if (f->level[l].leaf_ok && pt_level_page_size(f, l) == page_size)
			return (int)l;
	return -1;
}

/* ---- encoding runs of leaves ----
 * Consecutive leaves differ only in their address field. Encode the first,
 * the second and the last; if the last equals first + (n-1) * (second -
 * first) the address field is linear over the run and the rest are derived by
 * addition (cheap); otherwise (e.g. a split address field such as PSE-36)
 * every leaf is encoded. */
struct leaf_run {
	uint64_t d0;
	uint64_t delta;
	bool linear;
};

static int leaf_run_prepare(const struct physim_pt_format *f, uint64_t pa,
			    const struct pt_leaf_attr *a, unsigned lvl, uint64_t n,
			    struct leaf_run *r)
{
	uint64_t ps = pt_level_page_size(f, lvl);
	uint64_t d1, dl;
	int rc = f->ops->encode_leaf(f, pa, a, lvl, &r->d0);
	if (rc != 0)
		return rc;
	r->delta = 0;
	r->linear = true;
	if (n < 2)
		return 0;
	rc = f->ops->encode_leaf(f, pa + ps, a, lvl, &d1);
	if (rc == 0)
		rc = f->ops->encode_leaf(f, pa + (n - 1) * ps, a, lvl, &dl);
	if (rc != 0)
		return rc;
	r->delta = d1 - r->d0;
	r->linear = dl == r->d0 + (n - 1) * r->delta;
	return 0;
}

static void leaf_run_write(const struct physim_pt_format *f, uint8_t *t, uint64_t idx, uint64_t n,
			   uint64_t pa, const struct pt_leaf_attr *a, unsigned lvl,
			   const struct leaf_run *r)
{
	if (r->linear) {
		uint64_t d = r->d0;
		if (f->pte_bytes == 8) {
			for (uint64_t i = 0; i < n; i++, d += r->delta)
				memcpy(t + (idx + i) * 8, &d, 8);
		} else {
			for (uint64_t i = 0; i < n; i++, d += r->delta) {
				uint32_t d32 = (uint32_t)d;
				memcpy(t + (idx + i) * 4, &d32, 4);
			}
		}
		return;
	}
	uint64_t ps = pt_level_page_size(f, lvl);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t d = 0;
		/* The check pass encoded this run's ends; a format that accepts
		 * the ends but not a page between them is inconsistent. */
		if (f->ops->encode_leaf(f, pa + i * ps, a, lvl, &d) != 0)
			physim_log_error("pt: %s: encode_leaf failed inside a checked run",
					 f->name);
		pte_store(t, idx + i, f->pte_bytes, d);
	}
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
	unsigned n;
	bool all;
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
	uint64_t pa;	    /* pa of va (linear mapping) */
	uint64_t *descs;    /* map_region_cb: the level-0 descriptor of each page */
	unsigned leaf_mask; /* levels new leaves may use */
	struct pt_leaf_attr attr;
	/* protect */
	uint32_t flags;
	uint64_t need[PHYSIM_PT_MAX_LEVELS]; /* tables to allocate, per level */
	struct table_pool pool;
	struct flush_batch fb;
	struct pt_frameset seen; /* check pass, attached tables: tables met */
};

/* Flush reports: the start VA of every leaf an operation created, changed
 * or removed, once each (a new leaf too: without Svvptc, RISC-V needs an
 * SFENCE.VMA after making an entry valid); a split reports the huge page's
 * VA (one by-VA invalidation drops the whole huge entry). More than
 * FLUSH_BATCH distinct VAs become `all`. */
static void report(struct op *o, uint64_t va)
{
	struct flush_batch *fb = &o->fb;
	if (fb->all)
		return;
	for (unsigned i = 0; i < fb->n; i++)
		if (fb->va[i] == va)
			return;
	if (fb->n == FLUSH_BATCH) {
		fb->all = true;
		return;
	}
	fb->va[fb->n++] = va;
}

static void report_run(struct op *o, uint64_t va, uint64_t n, uint64_t size)
{
	for (uint64_t i = 0; i < n && !o->fb.all; i++)
		report(o, va + i * size);
}

static void flush_send(struct op *o)
{
	struct physim_pt *pt = o->pt;
	if (pt->flush == NULL || (!o->fb.all && o->fb.n == 0))
		return;
	if (o->fb.all)
		pt->flush(pt->flush_ctx, NULL, 0, true);
	else
		pt->flush(pt->flush_ctx, o->fb.va, o->fb.n, false);
}

static physim_hpa_t pool_take(struct op *o, unsigned lvl)
{
	struct table_pool *p = &o->pool;
	if (PHYSIM_LIKELY(p->used[lvl] < o->need[lvl]))
		return p->pa[p->start[lvl] + p->used[lvl]++];
	/* The check pass counted wrong: an engine bug. Try the handler. */
	physim_hpa_t pa = 0;
	physim_log_error("pt: %s: table pool for level %u exhausted", o->f->name, lvl);
	if (table_alloc(o->pt, lvl, &pa) != 0)
		physim_log_error("pt: %s: emergency table allocation failed", o->f->name);
	return pa;
}

/* Allocate every table the check pass counted; on failure return them all. */
static int pool_fill(struct op *o)
{
	struct table_pool *p = &o->pool;
	size_t total = 0;
	for (unsigned l = 0; l < o->f->levels; l++) {
		p->start[l] = total;
		p->used[l] = 0;
		total += o->need[l];
	}
	p->total = total;
	p->pa = p->local;
	if (total > POOL_LOCAL) {
		p->pa = malloc(total * sizeof(*p->pa));
		if (p->pa == NULL)
			return -ENOMEM;
	}
	for (unsigned l = 0; l < o->f->levels; l++) {
		for (size_t i = 0; i < o->need[l]; i++) {
			int rc = table_alloc(o->pt, l, &p->pa[p->start[l] + i]);
			if (rc == 0)
				continue;
			/* Return what was taken, newest first. */
			while (i-- > 0)
				table_free(o->pt, p->pa[p->start[l] + i]);
			while (l-- > 0)
				for (size_t j = 0; j < o->need[l]; j++)
					table_free(o->pt, p->pa[p->start[l] + j]);
			if (p->pa != p->local)
				free(p->pa);
			return rc;
		}
	}
	return 0;
}

static void pool_release(struct op *o)
{
	struct table_pool *p = &o->pool;
	for (unsigned l = 0; l < o->f->levels; l++) {
		if (p->used[l] != o->need[l])
			physim_log_error("pt: %s: level %u: %zu of %llu counted tables unused",
					 o->f->name, l, (size_t)(o->need[l] - p->used[l]),
					 (unsigned long long)o->need[l]);
		for (size_t i = p->used[l]; i < o->need[l]; i++)
			table_free(o->pt, p->pa[p->start[l] + i]);
	}
	if (p->pa != p->local)
		free(p->pa);
}

/* ---- whole subtrees ---- */

enum subtree_check {
	SUB_RESOLVE,   /* every table in it must be reachable (it will be freed) */
	SUB_NO_LEAVES, /* and it must map nothing (map without PHYSIM_REPLACE) */
};

static int check_subtree(struct op *o, unsigned lvl, physim_hpa_t pa, enum subtree_check m);

/* Check the table pointer d in entry idx of the table at table_pa (level
 * lvl) and the subtree it leads to. */
static int check_table(struct op *o, physim_hpa_t table_pa, uint64_t idx, uint64_t d, unsigned lvl,
		       enum subtree_check m)
{
	physim_hpa_t child = o->f->ops->output_addr(o->f, d, lvl);
	int rc = child_check(o->pt, &o->seen, table_pa, idx, child, lvl - 1);
	if (rc != 0)
		return rc;
	/* A last-level table this table allocated is reachable (table_alloc
	 * checked) and will simply be freed: nothing to read. */
	if (lvl == 1 && m == SUB_RESOLVE && !o->pt->attached)
		return 0;
	return check_subtree(o, lvl - 1, child, m);
}

/* Check the subtree at pa (level lvl), whose own pointer the caller has
 * checked with child_check. */
static int check_subtree(struct op *o, unsigned lvl, physim_hpa_t pa, enum subtree_check m)
{
	const struct physim_pt_format *f = o->f;
	uint8_t *t = table_hva(o->pt, pa, lvl);
	if (t == NULL)
		return -EFAULT;
	if (lvl == 0 && m == SUB_RESOLVE)
		return 0;
	for (uint64_t i = 0, n = pt_level_entries(f, lvl); i < n; i++) {
		uint64_t d = pte_load(t, i, f->pte_bytes);
		enum pt_kind k = pte_kind(f, d, lvl);
		int rc = 0;
		if (k == PT_LEAF && m == SUB_NO_LEAVES)
			rc = -EEXIST;
		else if (k == PT_TABLE && lvl > 0)
			rc = check_table(o, pa, i, d, lvl, m);
		else if (k == PT_RESERVED || k == PT_TABLE)
			rc = lvl > 0 || m == SUB_NO_LEAVES ? -EFAULT : 0;
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Apply pass: free the table at pa and everything below it that this
 * table allocated, reporting the leaves. The check pass has checked every
 * pointer in it (check_subtree). In an attached table a subtree may hold
 * tables the engine did not allocate: those are left alone (unlinked from
 * the tree by the caller), and their pointers to freed tables cleared. */
static void free_subtree(struct op *o, unsigned lvl, physim_hpa_t pa, uint64_t base)
{
	struct physim_pt *pt = o->pt;
	const struct physim_pt_format *f = pt->fmt;
	bool own = !pt->attached || pt_frameset_find(&pt->owned, pa) != NULL;
	uint64_t esize = pt_level_page_size(f, lvl);
	if (lvl > 0 || !o->fb.all) {
		uint8_t *t = table_hva(pt, pa, lvl);
		if (t == NULL)
			return;
		for (uint64_t i = 0, n = pt_level_entries(f, lvl); i < n; i++) {
			uint64_t d = pte_load(t, i, f->pte_bytes);
			enum pt_kind k = pte_kind(f, d, lvl);
			if (k == PT_TABLE && lvl > 0) {
				free_subtree(o, lvl - 1, f->ops->output_addr(f, d, lvl),
					     base + i * esize);
				if (!own)
					pte_store(t, i, f->pte_bytes, 0);
			} else if (k == PT_LEAF) {
				report(o, base + i * esize);
			}
			if (lvl == 0 && o->fb.all)
				break;
		}
	}
	if (own)
		table_free(pt, pa);
}

static bool table_empty(const struct physim_pt_format *f, const uint8_t *t, unsigned lvl)
{
	for (uint64_t i = 0, n = pt_level_entries(f, lvl); i < n; i++)
		if (pte_kind(f, pte_load(t, i, f->pte_bytes), lvl) != PT_INVALID)
			return false;
	return true;
}

/* ---- entries as the check pass sees them ---- */

static inline enum pt_kind vt_entry(const struct op *o, const struct vt *v, unsigned lvl,
				    uint64_t idx, uint64_t *d)
{
	switch (v->kind) {
	case VT_REAL:
		*d = pte_load(v->t, idx, o->f->pte_bytes);
		return pte_kind(o->f, *d, lvl);
	case VT_EMPTY:
		*d = 0;
		return PT_INVALID;
	default:
		*d = 0;
		return PT_LEAF;
	}
}

/* pa and attributes of the leaf d (or the virtual leaf at es) at lvl. */
static void vt_leaf(const struct op *o, const struct vt *v, unsigned lvl, uint64_t d, uint64_t es,
		    uint64_t *pa, struct pt_leaf_attr *a)
{
	if (v->kind == VT_FULL) {
		*pa = v->pa + (es - v->base);
		*a = v->a;
		return;
	}
	*pa = o->f->ops->output_addr(o->f, d, lvl);
	memset(a, 0, sizeof(*a));
	o->f->ops->decode_leaf(o->f, d, lvl, a);
}

static int op_table(struct op *o, unsigned lvl, const struct vt *v, uint64_t s, uint64_t e);

/* Descend from entry idx (covering from es) of the table at lvl into the
 * table below - the existing one, a new empty one, or a new one holding the
 * huge leaf there split into the next level's pages - and run the operation
 * on [cs, ce]. In the check pass new tables are only counted (virtual). */
enum descend_how { DESCEND_EXISTING, DESCEND_NEW, DESCEND_SPLIT };

static int descend(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx, uint64_t d,
		   enum descend_how how, uint64_t es, uint64_t cs, uint64_t ce)
{
	const struct physim_pt_format *f = o->f;
	struct vt child = {.kind = VT_REAL};
	int rc;

	if (how == DESCEND_EXISTING) {
		child.tpa = f->ops->output_addr(f, d, lvl);
		/* The pointer is checked once, by the check pass; the apply
		 * pass follows the same pointers. */
		if (!o->apply) {
			rc = child_check(o->pt, &o->seen, v->tpa, idx, child.tpa, lvl - 1);
			if (rc != 0)
				return rc;
		}
		child.t = table_hva(o->pt, child.tpa, lvl - 1);
		if (child.t == NULL)
			return -EFAULT; /* only the check pass can get here first */
		return op_table(o, lvl - 1, &child, cs, ce);
	}
	if (how == DESCEND_SPLIT) {
		uint64_t pa;
		struct pt_leaf_attr a;
		struct leaf_run r;
		vt_leaf(o, v, lvl, d, es, &pa, &a);
		uint64_t n = pt_level_entries(f, lvl - 1);
		rc = leaf_run_prepare(f, pa, &a, lvl - 1, n, &r);
		if (rc != 0)
			return rc;
		if (!o->apply) {
			o->need[lvl - 1]++;
			child = (struct vt){.kind = VT_FULL, .base = es, .pa = pa, .a = a};
			return op_table(o, lvl - 1, &child, cs, ce);
		}
		physim_hpa_t tpa = pool_take(o, lvl - 1);
		child.t = table_hva(o->pt, tpa, lvl - 1);
		child.tpa = tpa;
		leaf_run_write(f, child.t, 0, n, pa, &a, lvl - 1, &r);
		pte_store(v->t, idx, f->pte_bytes, f->ops->encode_table(f, tpa, lvl));
		link_set(o->pt, tpa, v->tpa, idx);
		report(o, es); /* the huge leaf is gone */
		return op_table(o, lvl - 1, &child, cs, ce);
	}
	if (!o->apply) {
		o->need[lvl - 1]++;
		child.kind = VT_EMPTY;
		return op_table(o, lvl - 1, &child, cs, ce);
	}
	physim_hpa_t tpa = pool_take(o, lvl - 1);
	child.t = table_hva(o->pt, tpa, lvl - 1);
	child.tpa = tpa;
	pte_store(v->t, idx, f->pte_bytes, f->ops->encode_table(f, tpa, lvl));
	link_set(o->pt, tpa, v->tpa, idx);
	return op_table(o, lvl - 1, &child, cs, ce);
}

/* ---- map ---- */

/* Check / replace what is in the n entries a run of new leaves will cover. */
static int map_run_check(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx, uint64_t n)
{
	const struct physim_pt_format *f = o->f;
	if (v->kind == VT_EMPTY)
		return 0;
	if (v->kind == VT_FULL)
		return o->replace ? 0 : -EEXIST;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t d = pte_load(v->t, idx + i, f->pte_bytes);
		enum pt_kind k = pte_kind(f, d, lvl);
		int rc = 0;
		if (k == PT_RESERVED || (k == PT_TABLE && lvl == 0))
			rc = -EFAULT;
		else if (k == PT_TABLE)
			rc = check_table(o, v->tpa, idx + i, d, lvl,
					 o->replace ? SUB_RESOLVE : SUB_NO_LEAVES);
		else if (k == PT_LEAF && !o->replace)
			rc = -EEXIST;
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void map_run_clear_old(struct op *o, unsigned lvl, uint8_t *t, uint64_t idx, uint64_t n,
			      uint64_t es)
{
	const struct physim_pt_format *f = o->f;
	uint64_t esize = pt_level_page_size(f, lvl);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t d = pte_load(t, idx + i, f->pte_bytes);
		enum pt_kind k = pte_kind(f, d, lvl);
		if (k == PT_TABLE && lvl > 0)
			free_subtree(o, lvl - 1, f->ops->output_addr(f, d, lvl), es + i * esize);
		else if (k == PT_LEAF)
			report(o, es + i * esize);
	}
}

/* n new leaves at lvl from entry idx (covering from es). */
static int map_run(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx, uint64_t n,
		   uint64_t es)
{
	const struct physim_pt_format *f = o->f;
	uint64_t esize = pt_level_page_size(f, lvl);
	uint64_t pa = o->pa + (es - o->va);
	struct leaf_run r;
	int rc = 0;

	if (!o->apply) {
		if (o->descs == NULL)
			rc = leaf_run_prepare(f, pa, &o->attr, lvl, n, &r);
		return rc != 0 ? rc : map_run_check(o, lvl, v, idx, n);
	}
	/* Without PHYSIM_REPLACE the check pass saw only holes and, above
	 * level 0, empty tables: those still have to be freed. */
	if (o->replace || lvl > 0)
		map_run_clear_old(o, lvl, v->t, idx, n, es);
	if (o->descs != NULL) {
		const uint64_t *src = o->descs + ((es - o->va) >> f->level[0].shift);
		for (uint64_t i = 0; i < n; i++)
			pte_store(v->t, idx + i, f->pte_bytes, src[i]);
	} else {
		if (leaf_run_prepare(f, pa, &o->attr, lvl, n, &r) != 0)
			physim_log_error("pt: %s: encode_leaf failed after check", f->name);
		leaf_run_write(f, v->t, idx, n, pa, &o->attr, lvl, &r);
	}
	report_run(o, es, n, esize);
	return 0;
}

/* Map [cs, e] from entry idx of the table at lvl; *done = last address handled. */
static int map_entry(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx, uint64_t cs,
		     uint64_t e, uint64_t *done)
{
	const struct physim_pt_format *f = o->f;
	unsigned shift = f->level[lvl].shift;
	uint64_t esize = UINT64_C(1) << shift;
	uint64_t es = cs & ~(esize - 1);
	uint64_t ce = e - es < esize ? e : es + (esize - 1);
	bool full = cs == es && ce == es + (esize - 1);
	uint64_t pa = o->pa + (cs - o->va);

	if (full && (o->leaf_mask >> lvl & 1) && (o->descs != NULL || (pa & (esize - 1)) == 0)) {
		uint64_t n = (e - cs + 1) >> shift;
		uint64_t left = pt_level_entries(f, lvl) - idx;
		if (n > left)
			n = left;
		*done = es + (n * esize - 1);
		return map_run(o, lvl, v, idx, n, es);
	}
	*done = ce;
	if (lvl == 0)
		return -EINVAL; /* unreachable: level 0 always takes granule leaves */
	uint64_t d;
	switch (vt_entry(o, v, lvl, idx, &d)) {
	case PT_INVALID:
		return descend(o, lvl, v, idx, d, DESCEND_NEW, es, cs, ce);
	case PT_TABLE:
		return descend(o, lvl, v, idx, d, DESCEND_EXISTING, es, cs, ce);
	case PT_LEAF:
		if (!o->replace)
			return -EEXIST;
		if (!full)
			return descend(o, lvl, v, idx, d, DESCEND_SPLIT, es, cs, ce);
		if (o->apply)
			report(o, es);
		return descend(o, lvl, v, idx, d, DESCEND_NEW, es, cs, ce);
	default:
		return -EFAULT;
	}
}

/* ---- unmap ---- */

/* Apply pass at level 0: report the leaves, then clear the entries. */
static void unmap_l0_run(struct op *o, uint8_t *t, uint64_t idx, uint64_t n, uint64_t es)
{
	const struct physim_pt_format *f = o->f;
	uint64_t esize = pt_level_page_size(f, 0);
	for (uint64_t i = 0; i < n && !o->fb.all; i++)
		if (pte_kind(f, pte_load(t, idx + i, f->pte_bytes), 0) == PT_LEAF)
			report(o, es + i * esize);
	memset(t + idx * f->pte_bytes, 0, n * f->pte_bytes);
}

static int unmap_table_entry(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx,
			     uint64_t d, bool full, uint64_t es, uint64_t cs, uint64_t ce)
{
	const struct physim_pt_format *f = o->f;
	physim_hpa_t child = f->ops->output_addr(f, d, lvl);
	/* A wholly covered subtree goes at once, unless tables are kept. */
	if (full && !o->pt->keep_empty) {
		if (!o->apply)
			return check_table(o, v->tpa, idx, d, lvl, SUB_RESOLVE);
		free_subtree(o, lvl - 1, child, es);
		pte_store(v->t, idx, f->pte_bytes, 0);
		return 0;
	}
	int rc = descend(o, lvl, v, idx, d, DESCEND_EXISTING, es, cs, ce);
	if (rc != 0 || !o->apply || o->pt->keep_empty)
		return rc;
	/* An emptied table goes, if it is one this table allocated. */
	if (pt_frameset_find(&o->pt->owned, child) != NULL &&
	    table_empty(f, table_hva(o->pt, child, lvl - 1), lvl - 1)) {
		table_free(o->pt, child);
		pte_store(v->t, idx, f->pte_bytes, 0);
	}
	return 0;
}

static int unmap_entry(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx, uint64_t cs,
		       uint64_t e, uint64_t *done)
{
	const struct physim_pt_format *f = o->f;
	unsigned shift = f->level[lvl].shift;
	uint64_t esize = UINT64_C(1) << shift;
	uint64_t es = cs & ~(esize - 1);
	uint64_t ce = e - es < esize ? e : es + (esize - 1);
	bool full = cs == es && ce == es + (esize - 1);

	if (lvl == 0) {
		/* Granule aligned: level-0 entries are always wholly covered. */
		uint64_t n = ((e - cs) >> shift) + 1;
		uint64_t left = pt_level_entries(f, 0) - idx;
		if (n > left)
			n = left;
		*done = es + (n * esize - 1);
		if (o->apply)
			unmap_l0_run(o, v->t, idx, n, es);
		else if (v->kind == VT_REAL)
			for (uint64_t i = 0; i < n; i++)
				if (pte_kind(f, pte_load(v->t, idx + i, f->pte_bytes), 0) ==
				    PT_TABLE)
					return -EFAULT;
		return 0;
	}
	*done = ce;
	uint64_t d;
	switch (vt_entry(o, v, lvl, idx, &d)) {
	case PT_INVALID:
		return 0;
	case PT_LEAF:
		if (!full)
			return descend(o, lvl, v, idx, d, DESCEND_SPLIT, es, cs, ce);
		if (o->apply) {
			pte_store(v->t, idx, f->pte_bytes, 0);
			report(o, es);
		}
		return 0;
	case PT_TABLE:
		return unmap_table_entry(o, lvl, v, idx, d, full, es, cs, ce);
	default:
		return -EFAULT;
	}
}

/* ---- protect ---- */

/* The arch bits of a leaf that its generic flags do not already imply: a
 * format may report the memory type both as PHYSIM_DEVICE and as raw bits
 * (x86 PCD/PWT, AArch64 AttrIndx); protect and remap take the memory type
 * from the new flags and keep only the bits set for their own sake (global,
 * protection key, shareability chosen by the caller...). */
static uint64_t explicit_arch(const struct physim_pt_format *f, uint64_t pa, unsigned lvl,
			      const struct pt_leaf_attr *old)
{
	if (old->arch == 0)
		return 0;
	struct pt_leaf_attr plain = {.flags = old->flags}, implied = {0};
	uint64_t d;
	if (f->ops->encode_leaf(f, pa, &plain, lvl, &d) != 0)
		return old->arch;
	f->ops->decode_leaf(f, d, lvl, &implied);
	return old->arch & ~implied.arch;
}

static void protect_attr(const struct op *o, uint64_t pa, unsigned lvl,
			 const struct pt_leaf_attr *old, struct pt_leaf_attr *a)
{
	a->flags = o->flags;
	a->arch = explicit_arch(o->f, pa, lvl, old);
	a->accessed = old->accessed || o->f->set_accessed_on_map;
	a->dirty = old->dirty || (o->f->set_dirty_on_map && (o->flags & PHYSIM_W));
}

static int protect_leaf(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx, uint64_t d,
			uint64_t es)
{
	const struct physim_pt_format *f = o->f;
	uint64_t pa, nd;
	struct pt_leaf_attr old, a;
	vt_leaf(o, v, lvl, d, es, &pa, &old);
	protect_attr(o, pa, lvl, &old, &a);
	int rc = f->ops->encode_leaf(f, pa, &a, lvl, &nd);
	if (rc != 0 || !o->apply)
		return rc;
	if (nd != d) {
		pte_store(v->t, idx, f->pte_bytes, nd);
		report(o, es);
	}
	return 0;
}

static int protect_entry(struct op *o, unsigned lvl, const struct vt *v, uint64_t idx, uint64_t cs,
			 uint64_t e, uint64_t *done)
{
	uint64_t esize = pt_level_page_size(o->f, lvl);
	uint64_t es = cs & ~(esize - 1);
	uint64_t ce = e - es < esize ? e : es + (esize - 1);
	bool full = cs == es && ce == es + (esize - 1);
	uint64_t d;

	*done = ce;
	switch (vt_entry(o, v, lvl, idx, &d)) {
	case PT_INVALID:
		return 0;
	case PT_LEAF:
		if (full)
			return protect_leaf(o, lvl, v, idx, d, es);
		return descend(o, lvl, v, idx, d, DESCEND_SPLIT, es, cs, ce);
	case PT_TABLE:
		if (lvl == 0)
			return -EFAULT;
		return descend(o, lvl, v, idx, d, DESCEND_EXISTING, es, cs, ce);
	default:
		return -EFAULT;
	}
}

/* Run the operation over [s, e] (inclusive, within the table's span). */
static int op_table(struct op *o, unsigned lvl, const struct vt *v, uint64_t s, uint64_t e)
{
	uint64_t cs = s;
	for (;;) {
		uint64_t idx = pt_index(o->f, cs, lvl);
		uint64_t done = e;
		int rc;
		switch (o->kind) {
		case OP_MAP:
			rc = map_entry(o, lvl, v, idx, cs, e, &done);
			break;
		case OP_UNMAP:
			rc = unmap_entry(o, lvl, v, idx, cs, e, &done);
			break;
		default:
			rc = protect_entry(o, lvl, v, idx, cs, e, &done);
			break;
		}
		if (rc != 0 || done >= e)
			return rc;
		cs = done + 1;
	}
}

/* Check pass; then allocate, apply, flush. */
static int op_check(struct op *o)
{
	struct vt root = {.kind = VT_REAL, .t = o->pt->root_hva, .tpa = o->pt->root};
	o->apply = false;
	int rc = seen_start(o->pt, &o->seen);
	if (rc == 0)
		rc = op_table(o, o->f->levels - 1u, &root, o->va, o->last);
	pt_frameset_free(&o->seen);
	return rc;
}

static int op_commit(struct op *o)
{
	struct vt root = {.kind = VT_REAL, .t = o->pt->root_hva, .tpa = o->pt->root};
	int rc = pool_fill(o);
	if (rc != 0)
		return rc;
	o->apply = true;
	rc = op_table(o, o->f->levels - 1u, &root, o->va, o->last);
	if (rc != 0)
		physim_log_error("pt: %s: apply pass failed after check: %s", o->f->name,
				 physim_strerror(rc));
	pool_release(o);
	flush_send(o);
	return 0;
}

static void op_init(struct op *o, struct physim_pt *pt, enum op_kind kind, uint64_t va,
		    uint64_t size)
{
	memset(o, 0, sizeof(*o));
	o->pt = pt;
	o->f = pt->fmt;
	o->kind = kind;
	o->va = va;
	o->last = va + (size - 1);
}

/* ---- the query memo ----
 * classify, output_addr and decode_leaf are indirect calls, two per level of
 * a query. They are pure functions of (format, level, descriptor), so their
 * results can be remembered by descriptor value; such a memo never goes
 * stale, whatever happens to the table or its memory:
 * - table pointers: per level, a direct-mapped set of descriptor values (by
 *   the entry's index in its table) that classified as PT_TABLE, whose output address is the
 * descriptor's address field shifted (as learned below) and whose next table lies wholly in the
 *   direct map. A hit costs one compare; the next table is the shift.
 * - leaves: per level, the decoded attributes by the descriptor's bits
 *   outside its address field. This relies on what lib/pt-format.h asks of
 *   a format: a leaf's kind and attributes do not depend on its address
 *   bits, and the address is a shifted copy of them. Levels where the
 *   address is not one shifted field (e.g. the PSE-36 4 MiB leaf) are not
 *   memoised.
 * Table entries are single atomic words and leaf entries are seqlocked, so
 * concurrent queries of one table stay correct. */

#define MEMO_TABLE_LOG2 9
#define MEMO_LEAF_LOG2	4
#define MEMO_HASH_MUL	UINT64_C(0x9e3779b97f4a7c15)

/* Where the output address sits in a descriptor: address = ((d & mask) >>
 * rs) << ls. */
struct addr_field {
	uint64_t mask;
	uint8_t rs, ls;
	bool ok;
};

struct leaf_memo {
	atomic_uint seq;      /* odd while being written */
	_Atomic uint64_t key; /* descriptor bits outside the address field; 0: empty */
	_Atomic uint64_t arch;
	atomic_uint info; /* flags | accessed << 8 | dirty << 9 */
};

struct query_memo {
	struct addr_field table_field[PHYSIM_PT_MAX_LEVELS]; /* pointers held at a level */
	struct addr_field leaf_field[PHYSIM_PT_MAX_LEVELS];
	_Atomic uint64_t table[PHYSIM_PT_MAX_LEVELS][1u << MEMO_TABLE_LOG2];
	struct leaf_memo leaf[PHYSIM_PT_MAX_LEVELS][1u << MEMO_LEAF_LOG2];
};

static inline uint64_t field_out(const struct addr_field *af, uint64_t d)
{
	return ((d & af->mask) >> af->rs) << af->ls;
}

static inline size_t memo_hash(uint64_t x, unsigned log2)
{
	return (size_t)((x * MEMO_HASH_MUL) >> (64 - log2));
}

/* Learning a field: address bit b shows up as descriptor bit b + shift, the
 * same shift for every bit. */
struct field_learner {
	uint64_t mask;
	int shift;
	bool started, bad;
};

static void learner_add(struct field_learner *fl, unsigned b, uint64_t e, bool round_trip)
{
	if (!round_trip || !physim_is_pow2(e)) {
		fl->bad = true;
		return;
	}
	int shift = __builtin_ctzll(e) - (int)b;
	if (fl->started && shift != fl->shift)
		fl->bad = true;
	fl->started = true;
	fl->shift = shift;
	fl->mask |= e;
}

static void learner_done(const struct field_learner *fl, struct addr_field *af)
{
	af->ok = !fl->bad && fl->mask != 0;
	af->mask = fl->mask;
	af->rs = (uint8_t)(fl->shift > 0 ? fl->shift : 0);
	af->ls = (uint8_t)(fl->shift < 0 ? -fl->shift : 0);
}

static void learn_table_field(const struct physim_pt_format *f, unsigned lvl, struct addr_field *af)
{
	struct field_learner fl = {0};
	uint64_t x0 = f->ops->encode_table(f, 0, lvl);
	for (unsigned b = PHYSIM_FRAME_SHIFT; b < f->pa_bits && b < 64; b++) {
		uint64_t pa = UINT64_C(1) << b, d = f->ops->encode_table(f, pa, lvl);
		if ((d ^ x0) == 0)
			break; /* the field ends below pa_bits */
		learner_add(&fl, b, d ^ x0, f->ops->output_addr(f, d, lvl) == pa);
	}
	learner_done(&fl, af);
}

static void learn_leaf_field(const struct physim_pt_format *f, unsigned lvl, struct addr_field *af)
{
	static const uint32_t try_flags[] = {
	    PHYSIM_R, PHYSIM_R | PHYSIM_W, PHYSIM_R | PHYSIM_X, PHYSIM_R | PHYSIM_W | PHYSIM_X, 0,
	};
	struct field_learner fl = {0};
	struct pt_leaf_attr a = {0};
	uint64_t x0 = 0, d;
	af->ok = false;
	for (size_t i = 0;; i++) {
		if (i == sizeof(try_flags) / sizeof(try_flags[0]))
			return;
		a.flags = try_flags[i];
		if (f->ops->encode_leaf(f, 0, &a, lvl, &x0) == 0)
			break;
	}
	for (unsigned b = f->level[lvl].shift; b < f->pa_bits && b < 64; b++) {
		uint64_t pa = UINT64_C(1) << b;
		if (f->ops->encode_leaf(f, pa, &a, lvl, &d) != 0 || (d ^ x0) == 0)
			break;
		learner_add(&fl, b, d ^ x0, f->ops->output_addr(f, d, lvl) == pa);
	}
	learner_done(&fl, af);
}

static struct query_memo *memo_create(const struct physim_pt_format *f)
{
	struct query_memo *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return NULL;
	for (unsigned l = 0; l < f->levels; l++) {
		if (l > 0)
			learn_table_field(f, l, &q->table_field[l]);
		if (f->level[l].leaf_ok)
			learn_leaf_field(f, l, &q->leaf_field[l]);
	}
	return q;
}

static inline bool memo_table_hit(struct query_memo *q, unsigned lvl, uint64_t idx, uint64_t d)
{
	return atomic_load_explicit(&q->table[lvl][idx & ((1u << MEMO_TABLE_LOG2) - 1)],
				    memory_order_relaxed) == d;
}

/* d (entry idx at lvl) classified PT_TABLE with next table `next`. */
static void memo_table_put(const struct physim_pt *pt, unsigned lvl, uint64_t idx, uint64_t d,
			   uint64_t next)
{
	struct query_memo *q = pt->memo;
	if (!q->table_field[lvl].ok || field_out(&q->table_field[lvl], d) != next ||
	    physim_dm_phys_to_virt_checked(&pt->dm, next, pt->tbytes[lvl - 1]) == NULL)
		return;
	atomic_store_explicit(&q->table[lvl][idx & ((1u << MEMO_TABLE_LOG2) - 1)], d,
			      memory_order_relaxed);
}

static inline bool memo_leaf_get(struct query_memo *q, unsigned lvl, uint64_t key, uint32_t *info,
				 uint64_t *arch)
{
	struct leaf_memo *e = &q->leaf[lvl][memo_hash(key, MEMO_LEAF_LOG2)];
	unsigned s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
	uint64_t k = atomic_load_explicit(&e->key, memory_order_relaxed);
	*arch = atomic_load_explicit(&e->arch, memory_order_relaxed);
	*info = atomic_load_explicit(&e->info, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	/* Key 0 is an empty entry, never a remembered leaf. */
	return !(s1 & 1) && k == key && key != 0 &&
	       atomic_load_explicit(&e->seq, memory_order_relaxed) == s1;
}

static void memo_leaf_put(struct query_memo *q, unsigned lvl, uint64_t key, uint32_t info,
			  uint64_t arch)
{
	struct leaf_memo *e = &q->leaf[lvl][memo_hash(key, MEMO_LEAF_LOG2)];
	unsigned s = atomic_load_explicit(&e->seq, memory_order_relaxed);
	if ((s & 1) || !atomic_compare_exchange_strong_explicit(
			   &e->seq, &s, s + 1, memory_order_relaxed, memory_order_relaxed))
		return; /* another writer has it: skip */
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&e->key, key, memory_order_relaxed);
	atomic_store_explicit(&e->arch, arch, memory_order_relaxed);
	atomic_store_explicit(&e->info, info, memory_order_relaxed);
	atomic_store_explicit(&e->seq, s + 2, memory_order_release);
}

void physim_pt_use_memo(struct physim_pt *pt, bool on)
{
	if (on && pt->memo == NULL) {
		pt->memo = pt->memo_off;
		pt->memo_off = NULL;
	} else if (!on && pt->memo != NULL) {
		pt->memo_off = pt->memo;
		pt->memo = NULL;
	}
}

/* ---- lookup of one address (query and the single-page operations) ---- */

struct hit {
	uint8_t *t; /* table holding the leaf */
	uint64_t idx;
	unsigned lvl;
	uint64_t d;
};

static inline void mapping_fill(struct physim_pt_mapping *m, uint64_t va, unsigned lvl,
				uint64_t size, uint64_t pa, uint32_t flags, uint64_t arch,
				bool accessed, bool dirty)
{
	m->va = va & ~(size - 1);
	m->pa = pa;
	m->size = size;
	m->flags = flags;
	m->arch = arch;
	m->level = lvl;
	m->accessed = accessed;
	m->dirty = dirty;
}

/* The mapping of leaf d at lvl, by the format's calls (remembered when the
 * memo is on). */
static void leaf_mapping(const struct physim_pt *pt, uint64_t va, unsigned lvl, uint64_t d,
			 struct physim_pt_mapping *m)
{
	const struct physim_pt_format *f = pt->fmt;
	struct pt_leaf_attr a = {0};
	f->ops->decode_leaf(f, d, lvl, &a);
	uint64_t pa = f->ops->output_addr(f, d, lvl);
	mapping_fill(m, va, lvl, pt_level_page_size(f, lvl), pa, a.flags, a.arch, a.accessed,
		     a.dirty);
	struct query_memo *q = pt->memo;
	if (q == NULL || !q->leaf_field[lvl].ok || field_out(&q->leaf_field[lvl], d) != pa)
		return;
	uint64_t key = d & ~q->leaf_field[lvl].mask;
	if (key != 0)
		memo_leaf_put(q, lvl, key,
			      a.flags | (a.accessed ? 1u << 8 : 0) | (a.dirty ? 1u << 9 : 0),
			      a.arch);
}

/* One lookup loop, compiled once per descriptor size (pte_bytes is a
 * constant in each copy). */
static inline __attribute__((always_inline)) int lookup_loop(const struct physim_pt *pt,
							     uint64_t va, struct hit *h,
							     struct physim_pt_mapping *m,
							     const unsigned pte_bytes)
{
	const struct physim_pt_format *f = pt->fmt;
	struct query_memo *q = pt->memo;
	uint8_t *t = pt->root_hva;
	unsigned lvl = f->levels - 1u;
	for (;;) {
		uint64_t idx = pt_index(f, va, lvl);
		uint64_t d = pte_load(t, idx, pte_bytes);
		if (d == 0)
			return -ENOENT;
		if (PHYSIM_LIKELY(q != NULL)) {
			if (lvl > 0 && memo_table_hit(q, lvl, idx, d)) {
				t = pt->dm.hva + (field_out(&q->table_field[lvl], d) - pt->dm.base);
				lvl--;
				continue;
			}
			uint32_t info;
			uint64_t arch;
			const struct addr_field *lf = &q->leaf_field[lvl];
			if (lf->ok && memo_leaf_get(q, lvl, d & ~lf->mask, &info, &arch)) {
				mapping_fill(m, va, lvl, pt_level_page_size(f, lvl),
					     field_out(lf, d), info & 0xff, arch, info >> 8 & 1,
					     info >> 9 & 1);
				*h = (struct hit){.t = t, .idx = idx, .lvl = lvl, .d = d};
				return 0;
			}
		}
		enum pt_kind k = f->ops->classify(f, d, lvl);
		if (k == PT_LEAF) {
			leaf_mapping(pt, va, lvl, d, m);
			*h = (struct hit){.t = t, .idx = idx, .lvl = lvl, .d = d};
			return 0;
		}
		if (k != PT_TABLE || lvl == 0)
			return k == PT_INVALID ? -ENOENT : -EFAULT;
		uint64_t next = f->ops->output_addr(f, d, lvl);
		t = table_hva(pt, next, lvl - 1);
		if (t == NULL)
			return -EFAULT;
		if (q != NULL)
			memo_table_put(pt, lvl, idx, d, next);
		lvl--;
	}
}

/* 0 and the leaf mapping va (*h, and *m filled); -ENOENT, -EFAULT (corrupt
 * table). va must be in range. Depth is bounded by the level count. */
static int lookup(const struct physim_pt *pt, uint64_t va, struct hit *h,
		  struct physim_pt_mapping *m)
{
	if (pt->fmt->pte_bytes == 8)
		return lookup_loop(pt, va, h, m, 8);
	return lookup_loop(pt, va, h, m, 4);
}

/* The query fast path for the common geometry with the memo on, unrolled
 * (levels is a constant in each copy): memo hits at every table level and a
 * remembered 4 KiB leaf. 0 and *m filled, or 1: take the generic loop
 * (which fills the memo). */
static inline __attribute__((always_inline)) int query_std(const struct physim_pt *pt, uint64_t va,
							   struct physim_pt_mapping *m,
							   const unsigned levels)
{
	struct query_memo *q = pt->memo;
	const uint8_t *t = pt->root_hva;
	const uintptr_t host = (uintptr_t)pt->dm.hva - (uintptr_t)pt->dm.base;
#pragma GCC unroll 5
	for (unsigned i = 0; i + 1 < levels; i++) {
		unsigned lvl = levels - 1u - i;
		uint64_t idx =
		    (va >> (PHYSIM_FRAME_SHIFT + 9 * lvl)) & (i == 0 ? pt->root_index_mask : 511);
		uint64_t d = pte_load(t, idx, 8);
		if (d == 0 || !memo_table_hit(q, lvl, idx, d))
			return 1;
		t = (const uint8_t *)(host + field_out(&q->table_field[lvl], d));
	}
	const struct addr_field *lf = &q->leaf_field[0];
	uint64_t d = pte_load(t, (va >> PHYSIM_FRAME_SHIFT) & 511, 8);
	uint32_t info;
	uint64_t arch;
	if (d == 0 || !lf->ok || !memo_leaf_get(q, 0, d & ~lf->mask, &info, &arch))
		return 1;
	mapping_fill(m, va, 0, PHYSIM_FRAME_SIZE, field_out(lf, d), info & 0xff, arch,
		     info >> 8 & 1, info >> 9 & 1);
	return 0;
}

/* ---- public: formats ---- */

void physim_format_get_info(const struct physim_pt_format *fmt, struct physim_pt_format_info *info)
{
	if (info == NULL)
		return;
	memset(info, 0, sizeof(*info));
	if (fmt == NULL)
		return;
	unsigned top = fmt->levels - 1u;
	info->name = fmt->name;
	info->description = fmt->description;
	info->arch = fmt->arch;
	info->stage2 = fmt->stage2;
	info->levels = fmt->levels;
	info->pte_bytes = fmt->pte_bytes;
	info->va_bits = fmt->va_bits;
	info->pa_bits = fmt->pa_bits;
	info->sign_extended = fmt->sign_extended;
	info->root_bytes = pt_table_bytes(fmt, top);
	/* A table is aligned to its own size (a 32-byte PAE PDPT to 32 bytes,
	 * a concatenated stage-2 root to its whole size). */
	info->root_align = info->root_bytes;
	for (unsigned l = 0; l < fmt->levels && l < PHYSIM_PT_MAX_LEVELS; l++) {
		info->level[l].shift = fmt->level[l].shift;
		info->level[l].index_bits = fmt->level[l].index_bits;
		info->level[l].table_bytes = pt_table_bytes(fmt, l);
		info->level[l].leaf_ok = fmt->level[l].leaf_ok;
		if (fmt->level[l].leaf_ok)
			info->page_sizes |= pt_level_page_size(fmt, l);
	}
	info->flags_supported = fmt->flags_supported;
	info->arch_attr_mask = fmt->arch_attr_mask;
	info->presets_accessed = fmt->set_accessed_on_map;
	info->presets_dirty = fmt->set_dirty_on_map;
}

/* ---- public: tables ---- */

/* The engine's assumptions about a format's geometry. */
static bool format_ok(const struct physim_pt_format *f)
{
	const struct pt_format_ops *ops = f->ops;
	if (ops == NULL || !ops->classify || !ops->output_addr || !ops->encode_table ||
	    !ops->encode_leaf || !ops->decode_leaf)
		return false;
	if (f->levels < 1 || f->levels > PHYSIM_PT_MAX_LEVELS ||
	    (f->pte_bytes != 4 && f->pte_bytes != 8) || f->va_bits > 64 ||
	    (f->sign_extended && (f->va_bits < 2 || f->va_bits >= 64)))
		return false;
	/* Level 0 takes granule pages; huge leaves split into the next level
	 * down, so leaf levels must run contiguously from 0. */
	if (!f->level[0].leaf_ok || f->level[0].shift < PHYSIM_FRAME_SHIFT)
		return false;
	for (unsigned l = 0; l < f->levels; l++) {
		unsigned top = f->level[l].shift + f->level[l].index_bits;
		if (f->level[l].index_bits == 0 || top > 64)
			return false;
		if (l + 1 < f->levels && top != f->level[l + 1].shift)
			return false;
		if (l + 1 == f->levels && top < f->va_bits)
			return false;
		if (l > 0 && f->level[l].leaf_ok && !f->level[l - 1].leaf_ok)
			return false;
		if (f->level[l].shift >= 63)
			return false;
	}
	return true;
}

/* 4 KiB granule, 9 index bits per level below the root, 8-byte
 * descriptors, 3 to 5 levels (x86-64, EPT, AArch64 4K, Sv39/48/57 and their
 * x4 variants, LoongArch64). */
static bool std_geometry(const struct physim_pt_format *f)
{
	if (f->pte_bytes != 8 || f->levels < 3 || f->levels > 5)
		return false;
	for (unsigned l = 0; l < f->levels; l++)
		if (f->level[l].shift != PHYSIM_FRAME_SHIFT + 9 * l ||
		    (l + 1u < f->levels && f->level[l].index_bits != 9))
			return false;
	return true;
}

static bool handler_ok(const struct physim_pt_format *f, const struct physim_paging_handler *ph)
{
	if (!ph->alloc_frame || !ph->dealloc_frame || !ph->phys_to_virt)
		return false;
	for (unsigned l = 0; l < f->levels; l++)
		if (pt_table_frames(f, l) > 1 && (!ph->alloc_frames || !ph->dealloc_frames))
			return false;
	return true;
}

int physim_pt_create_ex(const struct physim_pt_config *config, struct physim_pt **out)
{
	if (config == NULL || out == NULL || config->format == NULL || config->paging == NULL)
		return -EINVAL;
	const struct physim_pt_format *f = config->format;
	if (!format_ok(f)) {
		physim_log_warn("pt: format %s has a geometry the engine cannot use",
				f->name ? f->name : "?");
		return -EINVAL;
	}
	if (!handler_ok(f, config->paging))
		return -EINVAL;
	struct physim_pt *pt = calloc(1, sizeof(*pt));
	if (pt == NULL)
		return -ENOMEM;
	pt->fmt = f;
	pt->ph = config->paging;
	pt->dm = pt_direct_map(config->paging);
	pt->flush = config->flush;
	pt->flush_ctx = config->flush_ctx;
	pt->keep_empty = config->keep_empty_tables;
	for (unsigned l = 0; l < f->levels; l++)
		pt->tbytes[l] = pt_table_bytes(f, l);
	int rc = table_alloc(pt, f->levels - 1u, &pt->root);
	if (rc != 0) {
		free(pt);
		return rc;
	}
	pt->root_hva = table_hva(pt, pt->root, f->levels - 1u);
	/* Without a direct map (or memory for it) queries just make the calls. */
	if (pt->dm.size != 0)
		pt->memo = memo_create(f);
	pt->std_levels = std_geometry(f) ? f->levels : 0;
	pt->root_index_mask = pt_level_entries(f, f->levels - 1u) - 1;
	pt->va_unused = (uint8_t)(64 - f->va_bits);
	*out = pt;
	return 0;
}

int physim_pt_create(const struct physim_pt_format *fmt, const struct physim_paging_handler *paging,
		     struct physim_pt **out)
{
	struct physim_pt_config c = {.format = fmt, .paging = paging};
	return physim_pt_create_ex(&c, out);
}

/* Everything create_ex sets up except the root table itself. */
static int pt_setup(const struct physim_pt_config *config, struct physim_pt **out)
{
	if (config == NULL || out == NULL || config->format == NULL || config->paging == NULL)
		return -EINVAL;
	const struct physim_pt_format *f = config->format;
	if (!format_ok(f) || !handler_ok(f, config->paging))
		return -EINVAL;
	struct physim_pt *pt = calloc(1, sizeof(*pt));
	if (pt == NULL)
		return -ENOMEM;
	pt->fmt = f;
	pt->ph = config->paging;
	pt->dm = pt_direct_map(config->paging);
	pt->flush = config->flush;
	pt->flush_ctx = config->flush_ctx;
	pt->keep_empty = config->keep_empty_tables;
	for (unsigned l = 0; l < f->levels; l++)
		pt->tbytes[l] = pt_table_bytes(f, l);
	pt->std_levels = std_geometry(f) ? f->levels : 0;
	pt->root_index_mask = pt_level_entries(f, f->levels - 1u) - 1;
	pt->va_unused = (uint8_t)(64 - f->va_bits);
	*out = pt;
	return 0;
}

int physim_pt_attach(const struct physim_pt_config *config, physim_hpa_t root,
		     struct physim_pt **out)
{
	struct physim_pt *pt;
	int rc = pt_setup(config, &pt);
	if (rc != 0)
		return rc;
	const struct physim_pt_format *f = pt->fmt;
	struct physim_pt_format_info info;
	physim_format_get_info(f, &info);
	if (!physim_is_aligned(root, info.root_align)) {
		free(pt);
		return -EINVAL;
	}
	pt->root = root;
	pt->root_hva = table_hva(pt, root, f->levels - 1u);
	if (pt->root_hva == NULL) {
		free(pt);
		return -EFAULT;
	}
	pt->attached = true;
	if (pt->dm.size != 0)
		pt->memo = memo_create(f);
	*out = pt;
	return 0;
}

const struct physim_paging_handler *physim_pt_paging(const struct physim_pt *pt)
{
	return pt ? pt->ph : NULL;
}

/* Table pointers in the table at pa (level lvl) and below that are not the
 * links the engine wrote: corruption that destroy reports. */
static uint64_t count_bad_links(const struct physim_pt *pt, unsigned lvl, physim_hpa_t pa)
{
	const struct physim_pt_format *f = pt->fmt;
	const uint8_t *t = table_hva(pt, pa, lvl);
	uint64_t bad = 0;
	for (uint64_t i = 0, n = pt_level_entries(f, lvl); t != NULL && lvl > 0 && i < n; i++) {
		uint64_t d = pte_load(t, i, f->pte_bytes);
		if (pte_kind(f, d, lvl) != PT_TABLE)
			continue;
		physim_hpa_t child = f->ops->output_addr(f, d, lvl);
		if (child_check(pt, NULL, pa, i, child, lvl - 1) != 0)
			bad++;
		else
			bad += count_bad_links(pt, lvl - 1, child);
	}
	return bad;
}

/* destroy of an owned table: every frame it allocated goes back, each
 * once, whatever the table memory now says; nothing else is freed. */
static void free_owned(struct physim_pt *pt)
{
	uint64_t bad = count_bad_links(pt, pt->fmt->levels - 1u, pt->root);
	if (bad != 0)
		physim_log_warn("pt: %s: destroy: %llu corrupt table pointers (not followed, "
				"nothing they point at freed)",
				pt->fmt->name, (unsigned long long)bad);
	struct pt_frameset *s = &pt->owned;
	for (size_t i = 0; s->slot != NULL && i <= s->mask; i++) {
		uint64_t key = s->slot[i].key;
		if (key == 0)
			continue;
		const struct physim_paging_handler *ph = pt->ph;
		physim_hpa_t pa = key & ~PT_FRAMESET_TAG_MASK;
		uint64_t nframes =
		    pt_table_frames(pt->fmt, (unsigned)(key & PT_FRAMESET_TAG_MASK) - 1);
		int rc = nframes == 1 ? ph->dealloc_frame(ph->ctx, pa)
				      : ph->dealloc_frames(ph->ctx, pa, (size_t)nframes);
		if (rc != 0)
			physim_log_error("pt: returning table frame %#llx failed: %s",
					 (unsigned long long)pa, physim_strerror(rc));
		else
			pt->table_frames -= nframes;
	}
}

void physim_pt_destroy(struct physim_pt *pt)
{
	if (pt == NULL)
		return;
	if (!pt->attached)
		free_owned(pt);
	if (pt->table_frames != 0)
		physim_log_warn("pt: %s: %llu table frames not returned", pt->fmt->name,
				(unsigned long long)pt->table_frames);
	pt_frameset_free(&pt->owned);
	free(pt->memo);
	free(pt->memo_off);
	free(pt);
}

physim_hpa_t physim_pt_root(const struct physim_pt *pt)
{
	return pt ? pt->root : 0;
}

const struct physim_pt_format *physim_pt_format(const struct physim_pt *pt)
{
	return pt ? pt->fmt : NULL;
}

uint64_t physim_pt_table_frames(const struct physim_pt *pt)
{
	return pt ? pt->table_frames : 0;
}

/* ---- public: map ---- */

/* Attributes of a new leaf: the caller's, plus the accessed/dirty bits the
 * format must pre-set (RISC-V A/D, AArch64 AF). */
static struct pt_leaf_attr new_leaf_attr(const struct physim_pt_format *f, uint32_t flags,
					 uint64_t arch)
{
	return (struct pt_leaf_attr){
	    .flags = flags,
	    .arch = arch,
	    .accessed = f->set_accessed_on_map,
	    .dirty = f->set_dirty_on_map && (flags & PHYSIM_W),
	};
}

/* -ENOTSUP (or the format's error) if no leaf level in mask can encode a. */
static int attr_check(const struct physim_pt_format *f, const struct pt_leaf_attr *a, unsigned mask)
{
	for (unsigned l = 0; l < f->levels; l++) {
		uint64_t d;
		if (!(mask >> l & 1))
			continue;
		int rc = f->ops->encode_leaf(f, 0, a, l, &d);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Shared argument checks of the map calls: range, alignment, output width. */
static int map_args(const struct physim_pt *pt, uint64_t va, uint64_t pa, uint64_t size,
		    uint64_t align, uint32_t flags, unsigned opts)
{
	const struct physim_pt_format *f = pt->fmt;
	if ((flags & ~KNOWN_FLAGS) || (opts & ~(unsigned)(PHYSIM_ALLOW_HUGE | PHYSIM_REPLACE)))
		return -EINVAL;
	if (!range_ok(f, va, size) || !physim_is_aligned(va | pa | size, align))
		return -EINVAL;
	uint64_t pa_last = pa + (size - 1);
	if (pa_last < pa || (f->pa_bits < 64 && (pa_last >> f->pa_bits) != 0))
		return -EINVAL;
	return 0;
}

static int map_common(struct physim_pt *pt, uint64_t va, uint64_t pa, uint64_t size,
		      const struct pt_leaf_attr *a, unsigned leaf_mask, unsigned opts)
{
	struct op o;
	int rc = attr_check(pt->fmt, a, leaf_mask);
	if (rc != 0)
		return rc;
	op_init(&o, pt, OP_MAP, va, size);
	o.pa = pa;
	o.attr = *a;
	o.leaf_mask = leaf_mask;
	o.replace = opts & PHYSIM_REPLACE;
	rc = op_check(&o);
	return rc != 0 ? rc : op_commit(&o);
}

int physim_pt_map_ex(struct physim_pt *pt, const struct physim_pt_mapping *m, unsigned opts)
{
	if (pt == NULL || m == NULL)
		return -EINVAL;
	const struct physim_pt_format *f = pt->fmt;
	int lvl = leaf_level_of(f, m->size);
	if (lvl < 0)
		return -EINVAL;
	int rc = map_args(pt, m->va, m->pa, m->size, m->size, m->flags, opts);
	if (rc != 0)
		return rc;
	if (m->arch & ~f->arch_attr_mask)
		return -ENOTSUP;
	struct pt_leaf_attr a = new_leaf_attr(f, m->flags, m->arch);
	return map_common(pt, m->va, m->pa, m->size, &a, 1u << lvl, opts);
}

int physim_pt_map(struct physim_pt *pt, uint64_t va, uint64_t pa, uint64_t page_size,
		  uint32_t flags)
{
	struct physim_pt_mapping m = {.va = va, .pa = pa, .size = page_size, .flags = flags};
	return physim_pt_map_ex(pt, &m, 0);
}

int physim_pt_map_region(struct physim_pt *pt, uint64_t va, uint64_t pa, uint64_t size,
			 uint32_t flags, unsigned opts)
{
	if (pt == NULL)
		return -EINVAL;
	const struct physim_pt_format *f = pt->fmt;
	int rc = map_args(pt, va, pa, size, granule(f), flags, opts);
	if (rc != 0)
		return rc;
	unsigned mask = 1;
	if (opts & PHYSIM_ALLOW_HUGE)
		for (unsigned l = 1; l < f->levels; l++)
			if (f->level[l].leaf_ok)
				mask |= 1u << l;
	struct pt_leaf_attr a = new_leaf_attr(f, flags, 0);
	return map_common(pt, va, pa, size, &a, mask, opts);
}

/* Ask the callback for every page, encoding each at once, so that nothing
 * changes if it (or a page it names) fails. */
static int collect_descs(struct op *o, uint64_t npages, physim_pt_pa_fn pa_of, void *ctx)
{
	const struct physim_pt_format *f = o->f;
	uint64_t gran = granule(f);
	if (npages > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	o->descs = malloc((size_t)npages * sizeof(uint64_t));
	if (o->descs == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t pa = 0;
		int rc = pa_of(ctx, o->va + i * gran, &pa);
		if (rc == 0 && !physim_is_aligned(pa, gran))
			rc = -EINVAL;
		if (rc == 0)
			rc = f->ops->encode_leaf(f, pa, &o->attr, 0, &o->descs[i]);
		if (rc != 0) {
			free(o->descs);
			o->descs = NULL;
			return rc < 0 ? rc : -EINVAL;
		}
	}
	return 0;
}

int physim_pt_map_region_cb(struct physim_pt *pt, uint64_t va, uint64_t size, uint32_t flags,
			    unsigned opts, physim_pt_pa_fn pa_of, void *ctx)
{
	if (pt == NULL || pa_of == NULL)
		return -EINVAL;
	const struct physim_pt_format *f = pt->fmt;
	int rc = map_args(pt, va, 0, size, granule(f), flags, opts);
	if (rc != 0)
		return rc;
	struct pt_leaf_attr a = new_leaf_attr(f, flags, 0);
	rc = attr_check(f, &a, 1);
	if (rc != 0)
		return rc;
	struct op o;
	op_init(&o, pt, OP_MAP, va, size);
	o.pa = va; /* unused: pages come from descs; keeps alignment checks trivial */
	o.attr = a;
	o.leaf_mask = 1;
	o.replace = opts & PHYSIM_REPLACE;
	/* A non-NULL descs marks callback mode for the check pass too. */
	uint64_t marker = 0;
	o.descs = &marker;
	rc = op_check(&o);
	o.descs = NULL;
	if (rc == 0)
		rc = collect_descs(&o, size >> f->level[0].shift, pa_of, ctx);
	if (rc == 0)
		rc = op_commit(&o);
	free(o.descs);
	return rc;
}

/* ---- public: unmap, protect, remap ---- */

int physim_pt_unmap_region(struct physim_pt *pt, uint64_t va, uint64_t size)
{
	if (pt == NULL)
		return -EINVAL;
	const struct physim_pt_format *f = pt->fmt;
	if (!range_ok(f, va, size) || !physim_is_aligned(va | size, granule(f)))
		return -EINVAL;
	struct op o;
	op_init(&o, pt, OP_UNMAP, va, size);
	int rc = op_check(&o);
	return rc != 0 ? rc : op_commit(&o);
}

/* The leaf containing va, for the single-page calls. */
static int find_page(const struct physim_pt *pt, uint64_t va, struct hit *h,
		     struct physim_pt_mapping *m)
{
	if (!va_ok(pt->fmt, va))
		return -EINVAL;
	return lookup(pt, va, h, m);
}

int physim_pt_unmap(struct physim_pt *pt, uint64_t va, struct physim_pt_mapping *old)
{
	if (pt == NULL)
		return -EINVAL;
	struct hit h;
	struct physim_pt_mapping m;
	int rc = find_page(pt, va, &h, &m);
	if (rc != 0)
		return rc;
	struct op o;
	op_init(&o, pt, OP_UNMAP, m.va, m.size);
	rc = op_check(&o);
	if (rc == 0)
		rc = op_commit(&o);
	if (rc == 0 && old != NULL)
		*old = m;
	return rc;
}

static int protect_common(struct physim_pt *pt, uint64_t va, uint64_t size, uint32_t flags)
{
	struct op o;
	/* Flags the format cannot express at all fail even over a hole. */
	struct pt_leaf_attr probe = new_leaf_attr(pt->fmt, flags, 0);
	int rc = attr_check(pt->fmt, &probe, 1);
	if (rc != 0)
		return rc;
	op_init(&o, pt, OP_PROTECT, va, size);
	o.flags = flags;
	rc = op_check(&o);
	return rc != 0 ? rc : op_commit(&o);
}

int physim_pt_protect_region(struct physim_pt *pt, uint64_t va, uint64_t size, uint32_t flags)
{
	if (pt == NULL || (flags & ~KNOWN_FLAGS))
		return -EINVAL;
	const struct physim_pt_format *f = pt->fmt;
	if (!range_ok(f, va, size) || !physim_is_aligned(va | size, granule(f)))
		return -EINVAL;
	return protect_common(pt, va, size, flags);
}

int physim_pt_protect(struct physim_pt *pt, uint64_t va, uint32_t flags)
{
	if (pt == NULL || (flags & ~KNOWN_FLAGS))
		return -EINVAL;
	struct hit h;
	struct physim_pt_mapping m;
	int rc = find_page(pt, va, &h, &m);
	return rc != 0 ? rc : protect_common(pt, m.va, m.size, flags);
}

/* The tables a lookup of va passed through to its leaf at leaf_lvl are
 * linked as child_check requires (before remap writes into the last one). */
static int path_check(const struct physim_pt *pt, uint64_t va, unsigned leaf_lvl)
{
	const struct physim_pt_format *f = pt->fmt;
	struct pt_frameset seen;
	physim_hpa_t tpa = pt->root;
	const uint8_t *t = pt->root_hva;
	int rc = seen_start(pt, &seen);
	for (unsigned lvl = f->levels - 1u; rc == 0 && lvl > leaf_lvl; lvl--) {
		uint64_t idx = pt_index(f, va, lvl);
		physim_hpa_t child = f->ops->output_addr(f, pte_load(t, idx, f->pte_bytes), lvl);
		rc = child_check(pt, &seen, tpa, idx, child, lvl - 1);
		t = table_hva(pt, child, lvl - 1);
		if (rc == 0 && t == NULL)
			rc = -EFAULT;
		tpa = child;
	}
	pt_frameset_free(&seen);
	return rc;
}

int physim_pt_remap(struct physim_pt *pt, uint64_t va, uint64_t pa, uint32_t flags)
{
	if (pt == NULL || (flags & ~KNOWN_FLAGS))
		return -EINVAL;
	const struct physim_pt_format *f = pt->fmt;
	struct hit h;
	struct physim_pt_mapping m;
	int rc = find_page(pt, va, &h, &m);
	if (rc != 0)
		return rc;
	if (m.va != va || !physim_is_aligned(pa, m.size))
		return -EINVAL;
	rc = path_check(pt, va, h.lvl);
	if (rc != 0)
		return rc;
	/* A new page: explicit arch attributes stay, accessed/dirty start
	 * afresh. */
	struct pt_leaf_attr old = {.flags = m.flags, .arch = m.arch};
	struct pt_leaf_attr a = new_leaf_attr(f, flags, explicit_arch(f, m.pa, h.lvl, &old));
	uint64_t d;
	rc = f->ops->encode_leaf(f, pa, &a, h.lvl, &d);
	if (rc != 0)
		return rc;
	pte_store(h.t, h.idx, f->pte_bytes, d);
	if (pt->flush != NULL)
		pt->flush(pt->flush_ctx, &m.va, 1, false);
	return 0;
}

/* ---- public: query and walk ---- */

int physim_pt_query(const struct physim_pt *pt, uint64_t va, struct physim_pt_mapping *out)
{
	if (PHYSIM_UNLIKELY(pt == NULL))
		return -EINVAL;
	/* va is in range if sign- (or zero-) extending its low va_bits gives it
	 * back. */
	uint64_t low = va << pt->va_unused;
	if ((pt->fmt->sign_extended ? (uint64_t)((int64_t)low >> pt->va_unused)
				    : low >> pt->va_unused) != va)
		return -EINVAL;
	struct physim_pt_mapping tmp;
	struct physim_pt_mapping *m = out != NULL ? out : &tmp;
	if (pt->memo != NULL) {
		int rc = 1;
		switch (pt->std_levels) {
		case 3:
			rc = query_std(pt, va, m, 3);
			break;
		case 4:
			rc = query_std(pt, va, m, 4);
			break;
		case 5:
			rc = query_std(pt, va, m, 5);
			break;
		default:
			break;
		}
		if (rc == 0)
			return 0;
	}
	struct hit h;
	return lookup(pt, va, &h, m);
}

struct walker {
	const struct physim_pt *pt;
	const struct physim_pt_walk_ops *ops;
	void *ctx;
	struct pt_frameset seen; /* attached tables: the tables met */
};

static int walk_leaf(struct walker *w, unsigned lvl, uint64_t d, uint64_t es)
{
	if (w->ops->leaf == NULL)
		return 0;
	struct physim_pt_mapping m;
	leaf_mapping(w->pt, es, lvl, d, &m);
	return w->ops->leaf(w->ctx, &m);
}

static int walk_hole(struct walker *w, uint64_t va, uint64_t last, unsigned lvl)
{
	return w->ops->hole ? w->ops->hole(w->ctx, va, last - va + 1, lvl) : 0;
}

/* Visit [s, e] of the table t at lvl (at pa, covering [tva, tva + span)). */
static int walk_table(struct walker *w, unsigned lvl, physim_hpa_t pa, const uint8_t *t,
		      uint64_t tva, uint64_t span, uint64_t s, uint64_t e)
{
	const struct physim_pt_format *f = w->pt->fmt;
	uint64_t esize = pt_level_page_size(f, lvl);
	uint64_t cs = s, hole = 0;
	bool in_hole = false;
	int rc = w->ops->table ? w->ops->table(w->ctx, tva, span, lvl, pa) : 0;

	for (; rc == 0;) {
		uint64_t es = cs & ~(esize - 1);
		uint64_t ce = e - es < esize ? e : es + (esize - 1);
		uint64_t d = pte_load(t, pt_index(f, cs, lvl), f->pte_bytes);
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
				rc = walk_leaf(w, lvl, d, es);
			} else if (k == PT_TABLE && lvl > 0) {
				physim_hpa_t cpa = f->ops->output_addr(f, d, lvl);
				rc = child_check(w->pt, &w->seen, pa, pt_index(f, cs, lvl), cpa,
						 lvl - 1);
				if (rc != 0)
					return rc;
				const uint8_t *ct = table_hva(w->pt, cpa, lvl - 1);
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

int physim_pt_walk(const struct physim_pt *pt, uint64_t va, uint64_t size,
		   const struct physim_pt_walk_ops *ops, void *ctx)
{
	if (pt == NULL || ops == NULL || !range_ok(pt->fmt, va, size))
		return -EINVAL;
	const struct physim_pt_format *f = pt->fmt;
	unsigned top = f->levels - 1u;
	unsigned bits = f->level[top].shift + f->level[top].index_bits;
	uint64_t span = bits >= 64 ? 0 : UINT64_C(1) << bits;
	struct walker w = {.pt = pt, .ops = ops, .ctx = ctx};
	int rc = seen_start(pt, &w.seen);
	if (rc == 0)
		rc = walk_table(&w, top, pt->root, pt->root_hva, 0, span, va, va + (size - 1));
	pt_frameset_free(&w.seen);
	return rc;
}

/* ---- public: flag checks and accessed/dirty harvesting ---- */

int physim_format_flags_ok(const struct physim_pt_format *fmt, uint32_t flags, uint64_t arch)
{
	if (fmt == NULL || (flags & ~KNOWN_FLAGS))
		return -EINVAL;
	struct pt_leaf_attr a = new_leaf_attr(fmt, flags, arch);
	unsigned mask = 0;
	for (unsigned l = 0; l < fmt->levels; l++)
		if (fmt->level[l].leaf_ok)
			mask |= 1u << l;
	return attr_check(fmt, &a, mask);
}

/* physim_pt_clear_ad: clear the bits in each leaf the walk reports. */
struct clear_ad_ctx {
	struct physim_pt *pt;
	bool accessed, dirty;
	uint64_t vas[FLUSH_BATCH];
	size_t n;
	bool all;
	uint64_t changed;
};

static int clear_ad_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	struct clear_ad_ctx *c = ctx;
	if (!(c->accessed && m->accessed) && !(c->dirty && m->dirty))
		return 0;
	const struct physim_pt_format *f = c->pt->fmt;
	struct hit h;
	struct physim_pt_mapping cur;
	if (find_page(c->pt, m->va, &h, &cur) != 0)
		return 0;
	/* A walker on another thread may set A or D in this leaf meanwhile
	 * (a vCPU running during a dirty harvest): clear by compare-and-swap,
	 * so a bit set after the read is never lost. The leaf keeps its kind
	 * and address (only A/D can change under a walker). */
	uint64_t old = h.d, d;
	for (unsigned attempt = 0;; attempt++) {
		struct pt_leaf_attr a;
		f->ops->decode_leaf(f, old, h.lvl, &a);
		if (c->accessed)
			a.accessed = false;
		if (c->dirty)
			a.dirty = false;
		if (f->ops->encode_leaf(f, cur.pa, &a, h.lvl, &d) != 0 || d == old)
			return 0;
		if (pte_cas(h.t, h.idx, f->pte_bytes, &old, d))
			break;
		if (attempt == 64 || pte_kind(f, old, h.lvl) != PT_LEAF ||
		    f->ops->output_addr(f, old, h.lvl) != f->ops->output_addr(f, h.d, h.lvl)) {
			physim_log_warn("pt: %s: leaf at %#llx keeps changing under clear_ad",
					f->name, (unsigned long long)m->va);
			return 0;
		}
	}
	c->changed++;
	if (c->n < FLUSH_BATCH)
		c->vas[c->n++] = m->va;
	else
		c->all = true;
	return 0;
}

int64_t physim_pt_clear_ad(struct physim_pt *pt, uint64_t va, uint64_t size, bool accessed,
			   bool dirty)
{
	if (pt == NULL)
		return -EINVAL;
	struct clear_ad_ctx c = {.pt = pt, .accessed = accessed, .dirty = dirty};
	struct physim_pt_walk_ops ops = {.leaf = clear_ad_leaf};
	int rc = physim_pt_walk(pt, va, size, &ops, &c);
	if (rc < 0)
		return rc;
	if (pt->flush != NULL && c.changed != 0)
		pt->flush(pt->flush_ctx, c.all ? NULL : c.vas, c.all ? 0 : c.n, c.all);
	return (int64_t)c.changed;
}
