/* SPDX-License-Identifier: MIT */
/* tests/common/ptmodel.h - the one reference page-table model, used by
 * test_pt_model and the fuzz harnesses: facts about a format (page sizes,
 * accepted flag combinations, address arenas) and a table's leaves as a
 * sorted list of pages, built from the rules alone (greedy largest pages,
 * splits into the next level's pages, a grouped leaf into its entries). */
#ifndef PHYSIM_TEST_PTMODEL_H
#define PHYSIM_TEST_PTMODEL_H

#include "check.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <physim/pt.h>

/* What a test knows about a format. */
struct pm_fmt {
	const struct physim_pt_format *f;
	struct physim_pt_format_info info;
	/* Leaf page sizes, smallest first: each level's plain leaves and its
	 * grouped leaves (runs of entries, pt.h) up to the largest plain one. */
	uint64_t sizes[2 * PHYSIM_PT_MAX_LEVELS];
	unsigned level[2 * PHYSIM_PT_MAX_LEVELS]; /* the table level of each */
	uint64_t split[2 * PHYSIM_PT_MAX_LEVELS]; /* what a split makes (0: none) */
	unsigned nsizes;
	uint64_t gran, biggest; /* biggest: the largest plain leaf */
	uint64_t ok_flags;	/* bit c: flag combination c (0..63) is accepted */
	struct {
		uint64_t base, size;
	} arena[3]; /* input ranges the harnesses map in */
	unsigned narenas;
	bool set_accessed_on_map, set_dirty_on_map;
};

/* Facts of f, worked out once per format (the accepted flag combinations
 * are probed on a scratch table: which combinations a format can express is
 * the format tests' business; here they only need to stay the same). */
const struct pm_fmt *pm_fmt_get(const struct physim_pt_format *f);

static inline bool pm_flags_ok(const struct pm_fmt *fm, uint32_t flags)
{
	return flags < 64 && (fm->ok_flags >> flags & 1);
}

/* The flags query reports for flags given to map (stage 2: no U). */
static inline uint32_t pm_flags_seen(const struct pm_fmt *fm, uint32_t flags)
{
	return fm->info.stage2 ? flags & ~(uint32_t)PHYSIM_U : flags;
}

static inline bool pm_in_arena(const struct pm_fmt *fm, uint64_t va)
{
	for (unsigned k = 0; k < fm->narenas; k++)
		if (va - fm->arena[k].base < fm->arena[k].size)
			return true;
	return false;
}

/* ---- the page model ---- */

struct pm_page {
	uint64_t va, pa, size;
	uint32_t flags; /* as query reports them */
	bool acc, dirty;
};

struct pm_model {
	struct pm_page *p; /* sorted by va, disjoint */
	size_t n, cap;
};

/* Index of the page containing va, or -1. */
ptrdiff_t pm_model_find(const struct pm_model *m, uint64_t va);
/* First index whose page starts at or after va. */
size_t pm_model_lower(const struct pm_model *m, uint64_t va);
bool pm_model_overlaps(const struct pm_model *m, uint64_t va, uint64_t last);
/* Replace the `del` pages from index i by the n pages of add. */
void pm_model_splice(struct pm_model *m, size_t i, size_t del, const struct pm_page *add, size_t n);
/* Split pages (into pages of the next smaller size, as the engine does) so
 * that [va, last] is covered by whole pages only; *a..*b is the index range
 * of the pages inside it. */
void pm_model_isolate(const struct pm_fmt *fm, struct pm_model *m, uint64_t va, uint64_t last,
		      size_t *a, size_t *b);
void pm_model_remove(const struct pm_fmt *fm, struct pm_model *m, uint64_t va, uint64_t last);
/* Insert one page; nothing may be there. */
void pm_model_add(struct pm_model *m, const struct pm_page *p);
/* A new leaf as the engine makes it (format-preset accessed/dirty). */
struct pm_page pm_page_new(const struct pm_fmt *fm, uint64_t va, uint64_t pa, uint64_t size,
			   uint32_t flags);
/* Add the pages map_region makes for [va, va + size) -> pa: the largest
 * pages alignment allows when huge, else granules. Nothing may be there. */
void pm_model_add_run(const struct pm_fmt *fm, struct pm_model *m, uint64_t va, uint64_t pa,
		      uint64_t size, uint32_t flags, bool huge);
/* The table level whose leaves (plain or grouped) have this size. */
unsigned pm_level_of(const struct pm_fmt *fm, uint64_t size);

/* ---- the table's side, to compare with the model ---- */

/* A table's leaves in walk order: pm_collect_leaf is a physim_pt_walk leaf
 * callback whose ctx is a zeroed struct pm_leaves; free v afterwards. */
struct pm_leaves {
	struct physim_pt_mapping *v;
	size_t n, cap;
};

int pm_collect_leaf(void *ctx, const struct physim_pt_mapping *m);

#endif
