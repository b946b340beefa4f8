/* SPDX-License-Identifier: MIT */
/* lib/pt-lookup.c - lookups of one address: physim_pt_query, its memo of
 * decoded descriptors, and the leaf finder of the single-page calls. */
#include "pt-priv.h"

#include <stdlib.h>

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

struct query_memo *physim_pt_memo_create(const struct physim_pt_format *f)
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
void physim_pt_leaf_mapping(const struct physim_pt *pt, uint64_t va, unsigned lvl, uint64_t d,
			    struct physim_pt_mapping *m)
{
	const struct physim_pt_format *f = pt->fmt;
	struct pt_leaf_attr a = {0};
	f->ops->decode_leaf(f, d, lvl, &a);
	uint64_t pa = f->ops->output_addr(f, d, lvl);
	if (PHYSIM_UNLIKELY(a.grouped)) {
		/* One leaf: the whole run (never memoised, so the memo's
		 * answers stay those of plain leaves). */
		uint64_t run = pt_group_size(f, lvl);
		mapping_fill(m, va, lvl, run, pa & ~(run - 1), a.flags, a.arch, a.accessed,
			     a.dirty);
		return;
	}
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
			physim_pt_leaf_mapping(pt, va, lvl, d, m);
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

/* The leaf containing va, for the single-page calls. */
int physim_pt_find_page(const struct physim_pt *pt, uint64_t va, struct hit *h,
			struct physim_pt_mapping *m)
{
	if (!va_ok(pt->fmt, va))
		return -EINVAL;
	return lookup(pt, va, h, m);
}

static int pt_query(const struct physim_pt *pt, uint64_t va, struct physim_pt_mapping *out)
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

int physim_pt_query(const struct physim_pt *pt, uint64_t va, struct physim_pt_mapping *out)
{
	int rc = pt_query(pt, va, out);
	if (rc == 0 && out != NULL)
		out->addr_pa = out->pa + (va - out->va);
	return rc;
}
