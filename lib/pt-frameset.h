/* SPDX-License-Identifier: MIT */
/* lib/pt-frameset.h - a small open-addressing hash set of table addresses
 * with one value each: the page-table engine's record of the table frames it
 * allocated (and where each is linked from), and its visited set for
 * tables it did not allocate. Private to the engine (lib/pt*.c). */
#ifndef PHYSIM_PT_FRAMESET_H
#define PHYSIM_PT_FRAMESET_H

#include "physim-priv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* key: a table address (tables are at least 32-byte aligned) with a tag
 * (1..31) in its low 5 bits, so that a used slot is never 0; val: the
 * caller's. Linear probing, at most half
 * full; deletion shifts the following run back (no tombstones). */
struct pt_frameset_slot {
	uint64_t key;
	uint64_t val;
};

struct pt_frameset {
	struct pt_frameset_slot *slot;
	size_t mask; /* capacity - 1; capacity 0 when slot is NULL */
	size_t n;
};

#define PT_FRAMESET_TAG_MASK UINT64_C(0x1f)

static inline size_t pt_frameset_home(const struct pt_frameset *s, uint64_t pa)
{
	return (size_t)(((pa >> 5) * UINT64_C(0x9e3779b97f4a7c15)) >> 24) & s->mask;
}

/* The slot of pa (32-byte aligned), or NULL. */
static inline struct pt_frameset_slot *pt_frameset_find(const struct pt_frameset *s, uint64_t pa)
{
	if (s->n == 0 || (pa & PT_FRAMESET_TAG_MASK) != 0)
		return NULL;
	for (size_t i = pt_frameset_home(s, pa);; i = (i + 1) & s->mask) {
		struct pt_frameset_slot *e = &s->slot[i];
		if (e->key == 0)
			return NULL;
		if ((e->key & ~PT_FRAMESET_TAG_MASK) == pa)
			return e;
	}
}

static inline int pt_frameset_grow(struct pt_frameset *s)
{
	size_t cap = s->slot == NULL ? 16 : (s->mask + 1) * 2;
	struct pt_frameset_slot *ns = calloc(cap, sizeof(*ns));
	if (ns == NULL)
		return -ENOMEM;
	struct pt_frameset old = *s;
	s->slot = ns;
	s->mask = cap - 1;
	for (size_t i = 0; old.slot != NULL && i <= old.mask; i++) {
		if (old.slot[i].key == 0)
			continue;
		size_t j = pt_frameset_home(s, old.slot[i].key & ~PT_FRAMESET_TAG_MASK);
		while (ns[j].key != 0)
			j = (j + 1) & s->mask;
		ns[j] = old.slot[i];
	}
	free(old.slot);
	return 0;
}

/* Add pa (32-byte aligned, not present) with tag (1..31) and val. 0 or
 * -ENOMEM (set unchanged). */
static inline int pt_frameset_add(struct pt_frameset *s, uint64_t pa, unsigned tag, uint64_t val)
{
	if (s->slot == NULL || 2 * (s->n + 1) > s->mask + 1) {
		int rc = pt_frameset_grow(s);
		if (rc != 0)
			return rc;
	}
	size_t i = pt_frameset_home(s, pa);
	while (s->slot[i].key != 0)
		i = (i + 1) & s->mask;
	s->slot[i] =
	    (struct pt_frameset_slot){.key = pa | (tag & PT_FRAMESET_TAG_MASK), .val = val};
	s->n++;
	return 0;
}

/* Remove the slot e (from pt_frameset_find). */
static inline void pt_frameset_remove(struct pt_frameset *s, struct pt_frameset_slot *e)
{
	size_t i = (size_t)(e - s->slot);
	s->slot[i].key = 0;
	s->n--;
	/* Move back every entry of the run after i that its home allows. */
	for (size_t j = (i + 1) & s->mask; s->slot[j].key != 0; j = (j + 1) & s->mask) {
		size_t h = pt_frameset_home(s, s->slot[j].key & ~PT_FRAMESET_TAG_MASK);
		/* j may move to i if its home is not in the cyclic range (i, j]. */
		bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
		if (stays)
			continue;
		s->slot[i] = s->slot[j];
		s->slot[j].key = 0;
		i = j;
	}
}

static inline void pt_frameset_free(struct pt_frameset *s)
{
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

#endif
