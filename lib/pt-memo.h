/* SPDX-License-Identifier: MIT */
/* lib/pt-memo.h - the page-table engine's memo of decoded leaves, probed by
 * the one walk loop in lookup mode (lib/walk-loop.h) and filled by
 * lib/pt-lookup.c. */
#ifndef PHYSIM_PT_MEMO_H
#define PHYSIM_PT_MEMO_H

#include "pt-format.h"

#include <stdatomic.h>

/* decode_leaf is an indirect call made once per query. Its result is a pure
 * function of (format, level, descriptor), so it can be remembered by
 * descriptor value; such a memo never goes stale, whatever happens to the
 * table or its memory: per level, the decoded attributes by the
 * descriptor's bits outside its address field. This relies on what
 * lib/pt-format.h asks of a format: a leaf's kind and attributes do not
 * depend on its address bits. Where each address bit is one descriptor bit
 * and they form one shifted field, the loop's probe finds a remembered leaf
 * without classify; where the field is in parts (FEAT_LPA2), the leaf is
 * classified and its address decoded by the codec, and only its attributes
 * come from the memo; levels where an address bit is not one descriptor bit
 * (e.g. the PSE-36 4 MiB leaf) are not memoised. (Table pointers need no
 * memo: the walk loop's fast path follows a plain one with one AND and
 * compare.)
 *
 * Entries are written once and never change after (a table has few
 * distinct leaf attribute sets), so a reader needs one acquire load and
 * compare, no sequence count, and concurrent queries of one table stay
 * correct: a writer claims an empty entry by compare-and-swap, fills it and
 * publishes its key with a release store. A key never has a bit of the
 * address field set, so the field's mask marks an empty entry and all
 * ones one being written (keys 0 are not kept). Up to MEMO_WAYS entries
 * from the key's hash are tried. */

#define MEMO_LEAF_LOG2 4
#define MEMO_WAYS      4
#define MEMO_HASH_MUL  UINT64_C(0x9e3779b97f4a7c15)
#define MEMO_BUSY      UINT64_MAX

/* Where the output address sits in a leaf descriptor at one level: the
 * bits that carry it (key_mask; keyed: each address bit is one descriptor
 * bit), and if they are one shifted field (ok), address = ((d & mask) >>
 * rs) << ls. A level without one field has mask ~0, so that every probe
 * in the loop misses there (pt_memo_probe); a keyed one still keeps its
 * attributes by d & ~key_mask for the cold path. */
struct addr_field {
	uint64_t mask;
	uint8_t rs, ls;
	bool ok;
	bool keyed;
	uint64_t key_mask;
	uint64_t empty; /* an empty entry's key: key_mask, or ~0 if not keyed */
};

struct leaf_memo {
	/* The descriptor bits outside the address field; the field's mask:
	 * empty; MEMO_BUSY: being written. */
	_Atomic uint64_t key;
	_Atomic uint64_t arch;
	atomic_uint info; /* flags | accessed << 8 | dirty << 9 */
};

struct query_memo {
	struct addr_field leaf_field[PHYSIM_PT_MAX_LEVELS];
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

/* The entry for `key` (descriptor bits outside the address field) at
 * engine level lvl: true with its decoded attributes. */
static inline bool pt_memo_find(struct query_memo *q, unsigned lvl, uint64_t key, uint32_t *info,
				uint64_t *arch)
{
	const uint64_t empty = q->leaf_field[lvl].empty;
	const size_t h = memo_hash(key, MEMO_LEAF_LOG2);
	for (unsigned i = 0; i < MEMO_WAYS; i++) {
		struct leaf_memo *e = &q->leaf[lvl][(h + i) & ((1u << MEMO_LEAF_LOG2) - 1)];
		uint64_t k = atomic_load_explicit(&e->key, memory_order_acquire);
		if (PHYSIM_LIKELY(k == key)) {
			*arch = atomic_load_explicit(&e->arch, memory_order_relaxed);
			*info = atomic_load_explicit(&e->info, memory_order_relaxed);
			return true;
		}
		if (k == empty)
			return false; /* entries are never removed: not further on */
	}
	return false;
}

/* d at engine level lvl is a leaf the memo remembers: true with its output
 * address *pa and its decoded attributes (info as in struct leaf_memo). A
 * hit needs no classify: the kind, like the attributes, depends only on the
 * bits outside the address field. */
static inline bool pt_memo_probe(struct query_memo *q, unsigned lvl, uint64_t d, uint64_t *pa,
				 uint32_t *info, uint64_t *arch)
{
	const struct addr_field *lf = &q->leaf_field[lvl];
	if (!pt_memo_find(q, lvl, d & ~lf->mask, info, arch))
		return false;
	*pa = field_out(lf, d);
	return true;
}

/* *m for a leaf the memo remembers (pt_memo_probe's pa, info and arch): at
 * engine level lvl, size bytes, holding va. */
static inline void pt_memo_mapping(struct physim_pt_mapping *m, uint64_t va, unsigned lvl,
				   uint64_t size, uint64_t pa, uint32_t info, uint64_t arch)
{
	m->va = va & ~(size - 1);
	m->pa = pa;
	m->size = size;
	m->flags = info & 0xff;
	m->arch = arch;
	m->level = lvl;
	m->accessed = info >> 8 & 1;
	m->dirty = info >> 9 & 1;
	m->addr_pa = pa + (va & (size - 1));
}

#endif
