/* SPDX-License-Identifier: MIT */
/* lib/aspace-dirty.c - dirty logging of an address space (aspace.h): the
 * bitmap's fetch-and-clear and the harvest of the leaves' hardware dirty
 * bits into it.
 *
 * mark_dirty may run on other threads while the owner fetches (atomics);
 * enable/disable may not. The accessor (aspace-mem.c) is the owner's; unmap
 * and clear (aspace.c) move the dirty bits of the leaves they drop into the
 * bitmap. */
#include "aspace-priv.h"
#include "bitops.h"
#include "pt-priv.h"

#include <stdlib.h>

/* ---- the bitmap and the hardware dirty bits ---- */

/* Take (read and clear) nbits (1..64) bits from bit `first` on. */
static uint64_t dirty_take(struct physim_aspace *as, uint64_t first, unsigned nbits)
{
	uint64_t w = first / 64;
	unsigned off = (unsigned)(first % 64);
	unsigned lo_n = nbits < 64 - off ? nbits : 64 - off;
	uint64_t mask = (lo_n == 64 ? UINT64_MAX : (UINT64_C(1) << lo_n) - 1) << off;
	uint64_t got =
	    (atomic_fetch_and_explicit(&as->dirty[w], ~mask, memory_order_acq_rel) & mask) >> off;
	if (nbits > lo_n) {
		unsigned rest = nbits - lo_n;
		uint64_t mask2 = (UINT64_C(1) << rest) - 1;
		uint64_t hi =
		    atomic_fetch_and_explicit(&as->dirty[w + 1], ~mask2, memory_order_acq_rel);
		got |= (hi & mask2) << lo_n;
	}
	return got;
}

struct harvest {
	struct physim_aspace *as;
	bool mark; /* move the dirty pages into the bitmap */
};

/* One traversal: each dirty leaf is marked in the bitmap, then its hardware
 * dirty bit cleared in place (keeping its accessed bit) by compare-and-swap,
 * so a walker on another thread setting A or D meanwhile loses nothing
 * (pt.h). Each cleared leaf goes to the flush callback at once, in a call
 * of its own (as physim_pt_clear_ad per leaf did), as a TLB must forget the
 * old entry. */
static int harvest_leaf(void *ctx, const struct pt_slot *s)
{
	struct harvest *h = ctx;
	if (!s->m.dirty)
		return 0;
	/* The whole leaf: pages of a huge leaf outside the fetched range must
	 * not lose their dirty state when its bit is cleared. */
	if (h->mark)
		dirty_set_range(h->as, s->m.va, s->m.size);
	if (physim_pt_slot_clear_ad(h->as->pt, s, false, true))
		physim_pt_flush_one(h->as->pt, s->m.va);
	return 0;
}

/* Move the hardware dirty bits of leaves in [gpa, gpa + size) into the
 * bitmap (mark) or just clear them. */
static void harvest_hw(struct physim_aspace *as, uint64_t gpa, uint64_t size, bool mark)
{
	if (!as->hw_dirty_tracked)
		return;
	struct harvest h = {.as = as, .mark = mark};
	int rc = physim_pt_iter_leaves(as->pt, gpa, size, harvest_leaf, &h);
	if (rc != 0)
		physim_log_error("aspace: dirty harvest walk failed: %s", physim_strerror(rc));
}

/* ---- dirty logging ---- */

int physim_aspace_dirty_log_enable(struct physim_aspace *as)
{
	if (as == NULL)
		return -EINVAL;
	if (as->dirty != NULL)
		return 0;
	uint64_t words = (as->size / PAGE + 63) / 64;
	if (words > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	_Atomic uint64_t *bits = calloc((size_t)words, sizeof(*bits));
	if (bits == NULL)
		return -ENOMEM;
	/* Logging starts clean: writes before it are not reported. */
	harvest_hw(as, as->base, as->size, false);
	as->dirty = bits;
	return 0;
}

void physim_aspace_dirty_log_disable(struct physim_aspace *as)
{
	if (as == NULL || as->dirty == NULL)
		return;
	free((void *)as->dirty);
	as->dirty = NULL;
}

int64_t physim_aspace_dirty_log_fetch_clear(struct physim_aspace *as, physim_gpa_t gpa,
					    uint64_t npages, uint64_t *bitmap)
{
	if (as == NULL || bitmap == NULL || as->dirty == NULL || npages == 0 ||
	    npages > UINT64_MAX / PAGE || !range_in_space(as, gpa, npages * PAGE))
		return -EINVAL;
	harvest_hw(as, gpa, npages * PAGE, true);
	uint64_t first = (gpa - as->base) / PAGE;
	int64_t count = 0;
	for (uint64_t w = 0; w * 64 < npages; w++) {
		uint64_t left = npages - w * 64;
		unsigned nbits = left < 64 ? (unsigned)left : 64;
		bitmap[w] = dirty_take(as, first + w * 64, nbits);
		count += (int64_t)bitops_popcount(bitmap[w]);
	}
	return count;
}

void physim_aspace_mark_dirty(struct physim_aspace *as, physim_gpa_t gpa)
{
	if (as == NULL || as->dirty == NULL || gpa < as->base || gpa - as->base >= as->size)
		return;
	dirty_set_page(as, physim_align_down(gpa, PAGE));
}
