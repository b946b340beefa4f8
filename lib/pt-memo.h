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
 * depend on its address bits, and the address is a shifted copy of them.
 * Levels where the address is not one shifted field (e.g. the PSE-36 4 MiB
 * leaf) are not memoised. Entries are seqlocked, so concurrent queries of
 * one table stay correct. (Table pointers need no memo: the walk loop's
 * fast path follows a plain one with one AND and compare.) */

#define MEMO_LEAF_LOG2 4
#define MEMO_HASH_MUL  UINT64_C(0x9e3779b97f4a7c15)

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

static inline bool pt_memo_leaf_get(struct query_memo *q, unsigned lvl, uint64_t key,
				    uint32_t *info, uint64_t *arch)
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

/* d at engine level lvl is a leaf the memo remembers: true with its output
 * address *pa and its decoded attributes (info as in struct leaf_memo). A
 * hit needs no classify: the kind, like the attributes, depends only on the
 * bits outside the address field. */
static inline bool pt_memo_probe(struct query_memo *q, unsigned lvl, uint64_t d, uint64_t *pa,
				 uint32_t *info, uint64_t *arch)
{
	const struct addr_field *lf = &q->leaf_field[lvl];
	if (!lf->ok || !pt_memo_leaf_get(q, lvl, d & ~lf->mask, info, arch))
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
