/* SPDX-License-Identifier: MIT */
/* lib/aspace-priv.h - what the guest address space's files share: the
 * space's struct, its areas and the small helpers all three use (aspace.c:
 * lifecycle, areas, mapping; aspace-mem.c: translation, faults, the guest
 * memory accessor; aspace-dirty.c: dirty logging). Never installed. */
#ifndef PHYSIM_ASPACE_PRIV_H
#define PHYSIM_ASPACE_PRIV_H

#include "physim-priv.h"
#include <physim/aspace.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE PHYSIM_FRAME_SIZE

struct area {
	physim_gpa_t start;
	uint64_t size;
	uint32_t flags;
	enum physim_area_kind kind;
	physim_hpa_t hpa; /* LINEAR: hpa of start */
	bool populate;
	bool identity;
	uint64_t frames; /* ALLOC: frames mapped in the area */
};

struct physim_aspace {
	struct physim_pt *pt;
	const struct physim_mm_hal *mm;
	const struct physim_vm_hal *vm;
	physim_gpa_t base;
	uint64_t size;
	struct area *areas; /* sorted by start, non-overlapping */
	size_t nareas, cap;
	uint64_t alloc_frames;
	uint64_t faults_handled;
	uint64_t faults_refused;
	_Atomic uint64_t *dirty; /* one bit per page of the space; NULL: logging off */
	/* Whether the leaves' dirty bits say anything: false for formats that
	 * pre-set D on every writable leaf (RISC-V G-stage without Svadu). */
	bool hw_dirty_tracked;
};

/* ---- areas ---- */

static inline uint64_t area_last(const struct area *a)
{
	return a->start + (a->size - 1);
}

/* Index of the first area that ends at or after gpa. */
static inline size_t area_lower_bound(const struct physim_aspace *as, uint64_t gpa)
{
	size_t lo = 0, hi = as->nareas;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (area_last(&as->areas[mid]) < gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static inline struct area *area_find(const struct physim_aspace *as, uint64_t gpa)
{
	size_t i = area_lower_bound(as, gpa);
	if (i < as->nareas && as->areas[i].start <= gpa)
		return &as->areas[i];
	return NULL;
}

/* [gpa, gpa + size) is page aligned, non-empty, does not wrap and lies in
 * the space. */
static inline bool range_in_space(const struct physim_aspace *as, uint64_t gpa, uint64_t size)
{
	if (!physim_is_aligned(gpa | size, PAGE) || !physim_range_ok(gpa, size))
		return false;
	uint64_t last = gpa + (size - 1);
	return gpa >= as->base && last <= as->base + (as->size - 1);
}

/* ---- frames (aspace.c) ---- */

static inline void *frame_hva(const struct physim_aspace *as, physim_hpa_t hpa)
{
	return as->mm->phys_to_virt(as->mm->ctx, hpa);
}

/* A zeroed frame: guest memory never shows what a frame held before. */
PHYSIM_HIDDEN int physim_aspace_frame_alloc_zeroed(struct physim_aspace *as, physim_hpa_t *out);
/* Frames given back to the HAL, newest first. */
PHYSIM_HIDDEN void physim_aspace_frames_free(struct physim_aspace *as, const physim_hpa_t *hpa,
					     size_t n);

/* ---- the dirty bitmap (filled by aspace.c and aspace-mem.c, read by
 * aspace-dirty.c) ---- */

static inline void dirty_set_page(struct physim_aspace *as, uint64_t gpa)
{
	uint64_t bit = (gpa - as->base) / PAGE;
	atomic_fetch_or_explicit(&as->dirty[bit / 64], UINT64_C(1) << (bit % 64),
				 memory_order_release);
}

/* Mark every page of [gpa, gpa + len) that lies in the space (len > 0). */
static inline void dirty_set_range(struct physim_aspace *as, uint64_t gpa, uint64_t len)
{
	uint64_t first = gpa < as->base ? as->base : gpa;
	uint64_t last = gpa + (len - 1);
	uint64_t space_last = as->base + (as->size - 1);
	if (last > space_last)
		last = space_last;
	if (as->dirty == NULL || first > last)
		return;
	for (uint64_t p = physim_align_down(first, PAGE);; p += PAGE) {
		dirty_set_page(as, p);
		if (last - p < PAGE)
			break;
	}
}

#endif
