/* SPDX-License-Identifier: MIT */
/* lib/cpu-free.c - break-before-free: HAL wrappers whose frees first look
 * through every CPU of a machine for entries that still reference the frame
 * (as the page a translation maps, or as a table a walk-cache entry points
 * at or read a descriptor from), and report each one. */
#include "cpu-priv.h"

#include <stdlib.h>

struct hal_wrap {
	struct hal_wrap *next;
	struct physim_machine *m;
	const struct physim_paging_handler *inner_ph;
	const struct physim_mm_hal *inner_mm;
	struct physim_paging_handler ph;
	struct physim_mm_hal mm;
};

/* ---- paging handler ---- */

static int ph_alloc_frame(void *ctx, physim_hpa_t *hpa)
{
	const struct physim_paging_handler *in = ((struct hal_wrap *)ctx)->inner_ph;
	return in->alloc_frame(in->ctx, hpa);
}

static int ph_alloc_frames(void *ctx, size_t n, uint64_t align, physim_hpa_t *hpa)
{
	const struct physim_paging_handler *in = ((struct hal_wrap *)ctx)->inner_ph;
	return in->alloc_frames(in->ctx, n, align, hpa);
}

static int ph_dealloc_frame(void *ctx, physim_hpa_t hpa)
{
	struct hal_wrap *w = ctx;
	physim_machine_check_free(w->m, hpa, 4096);
	return w->inner_ph->dealloc_frame(w->inner_ph->ctx, hpa);
}

static int ph_dealloc_frames(void *ctx, physim_hpa_t hpa, size_t n)
{
	struct hal_wrap *w = ctx;
	physim_machine_check_free(w->m, hpa, (uint64_t)n * 4096);
	return w->inner_ph->dealloc_frames(w->inner_ph->ctx, hpa, n);
}

static void *ph_phys_to_virt(void *ctx, physim_hpa_t hpa)
{
	const struct physim_paging_handler *in = ((struct hal_wrap *)ctx)->inner_ph;
	return in->phys_to_virt(in->ctx, hpa);
}

/* ---- mm hal ---- */

static int mm_alloc_frame(void *ctx, physim_hpa_t *hpa)
{
	const struct physim_mm_hal *in = ((struct hal_wrap *)ctx)->inner_mm;
	return in->alloc_frame(in->ctx, hpa);
}

static int mm_dealloc_frame(void *ctx, physim_hpa_t hpa)
{
	struct hal_wrap *w = ctx;
	physim_machine_check_free(w->m, hpa, 4096);
	return w->inner_mm->dealloc_frame(w->inner_mm->ctx, hpa);
}

static void *mm_phys_to_virt(void *ctx, physim_hpa_t hpa)
{
	const struct physim_mm_hal *in = ((struct hal_wrap *)ctx)->inner_mm;
	return in->phys_to_virt(in->ctx, hpa);
}

static physim_hpa_t mm_virt_to_phys(void *ctx, const void *hva)
{
	const struct physim_mm_hal *in = ((struct hal_wrap *)ctx)->inner_mm;
	return in->virt_to_phys(in->ctx, hva);
}

static struct hal_wrap *new_wrap(struct physim_machine *m)
{
	struct hal_wrap *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->m = m;
	physim_cpui_add_wrap(m, w, free);
	return w;
}

const struct physim_paging_handler *
physim_machine_paging_handler(struct physim_machine *m, const struct physim_paging_handler *inner)
{
	if (m == NULL || inner == NULL)
		return NULL;
	struct hal_wrap *w = new_wrap(m);
	if (w == NULL)
		return NULL;
	w->inner_ph = inner;
	w->ph = (struct physim_paging_handler){
	    .ctx = w,
	    .alloc_frame = ph_alloc_frame,
	    .alloc_frames = ph_alloc_frames,
	    .dealloc_frame = ph_dealloc_frame,
	    .dealloc_frames = ph_dealloc_frames,
	    .phys_to_virt = ph_phys_to_virt,
	    .direct = inner->direct, /* the same memory, the same direct map */
	};
	return &w->ph;
}

const struct physim_mm_hal *physim_machine_mm_hal(struct physim_machine *m,
						  const struct physim_mm_hal *inner)
{
	if (m == NULL || inner == NULL)
		return NULL;
	struct hal_wrap *w = new_wrap(m);
	if (w == NULL)
		return NULL;
	w->inner_mm = inner;
	w->mm = (struct physim_mm_hal){
	    .ctx = w,
	    .alloc_frame = mm_alloc_frame,
	    .dealloc_frame = mm_dealloc_frame,
	    .phys_to_virt = mm_phys_to_virt,
	    .virt_to_phys = mm_virt_to_phys,
	};
	return &w->mm;
}
