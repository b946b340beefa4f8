/* SPDX-License-Identifier: MIT */
/* lib/ram_hal.c - the default HAL vtables (mm_hal, paging_handler,
 * memory_if, vm_hal) over a simulated RAM, using only ram.h's public calls. */
#include "ram-priv.h"

/* Each vtable entry is a small adapter with the exact vtable signature:
 * calling ram.c's functions through a cast pointer of another type would be
 * undefined behaviour (and trips -fsanitize=function). */

static int hal_alloc_frame(void *ctx, physim_hpa_t *hpa)
{
	return physim_ram_alloc_frame(ctx, hpa);
}

static int hal_dealloc_frame(void *ctx, physim_hpa_t hpa)
{
	return physim_ram_free_frame(ctx, hpa);
}

static int hal_alloc_frames(void *ctx, size_t nframes, uint64_t align_bytes, physim_hpa_t *hpa)
{
	return physim_ram_alloc_frames(ctx, nframes, align_bytes, hpa);
}

static int hal_dealloc_frames(void *ctx, physim_hpa_t hpa, size_t nframes)
{
	return physim_ram_free_frames(ctx, hpa, nframes);
}

/* MemoryIf expresses alignment as log2 of a frame count. */
static int hal_alloc_contiguous_frames(void *ctx, size_t nframes, unsigned align_log2,
				       physim_hpa_t *hpa)
{
	if (align_log2 >= 64 - PHYSIM_FRAME_SHIFT)
		return -EINVAL; /* 4096 << align_log2 would not fit in 64 bits */
	return physim_ram_alloc_frames(ctx, nframes, PHYSIM_FRAME_SIZE << align_log2, hpa);
}

static void *hal_phys_to_virt(void *ctx, physim_hpa_t hpa)
{
	void *hva = NULL;
	if (physim_ram_phys_to_virt(ctx, hpa, &hva) < 0)
		return NULL;
	return hva;
}

static physim_hpa_t hal_virt_to_phys(void *ctx, const void *hva)
{
	physim_hpa_t hpa = 0;
	if (physim_ram_virt_to_phys(ctx, hva, &hpa) < 0)
		return 0;
	return hpa;
}

static int hal_alloc_region_at(void *ctx, physim_hpa_t base, uint64_t size)
{
	return physim_ram_alloc_at(ctx, base, size);
}

static int hal_dealloc_region_at(void *ctx, physim_hpa_t base, uint64_t size)
{
	return physim_ram_free_at(ctx, base, size);
}

void physim_ram_hals_init(struct physim_ram_hals *hals, struct physim_ram *ram)
{
	hals->mm = (struct physim_mm_hal){
	    .ctx = ram,
	    .alloc_frame = hal_alloc_frame,
	    .dealloc_frame = hal_dealloc_frame,
	    .phys_to_virt = hal_phys_to_virt,
	    .virt_to_phys = hal_virt_to_phys,
	};
	hals->paging = (struct physim_paging_handler){
	    .ctx = ram,
	    .alloc_frame = hal_alloc_frame,
	    .alloc_frames = hal_alloc_frames,
	    .dealloc_frame = hal_dealloc_frame,
	    .dealloc_frames = hal_dealloc_frames,
	    .phys_to_virt = hal_phys_to_virt,
	    .direct = physim_ram_direct_map(ram),
	};
	hals->memory_if = (struct physim_memory_if){
	    .ctx = ram,
	    .alloc_frame = hal_alloc_frame,
	    .alloc_contiguous_frames = hal_alloc_contiguous_frames,
	    .dealloc_frame = hal_dealloc_frame,
	    .dealloc_contiguous_frames = hal_dealloc_frames,
	    .phys_to_virt = hal_phys_to_virt,
	    .virt_to_phys = hal_virt_to_phys,
	};
}

const struct physim_mm_hal *physim_ram_mm_hal(struct physim_ram *ram)
{
	return ram ? &physim_ram_hals(ram)->mm : NULL;
}

const struct physim_paging_handler *physim_ram_paging_handler(struct physim_ram *ram)
{
	return ram ? &physim_ram_hals(ram)->paging : NULL;
}

const struct physim_memory_if *physim_ram_memory_if(struct physim_ram *ram)
{
	return ram ? &physim_ram_hals(ram)->memory_if : NULL;
}

void physim_ram_vm_hal(struct physim_ram *ram, struct physim_clock *clock,
		       struct physim_vm_hal *out)
{
	if (out == NULL)
		return;
	if (ram == NULL) {
		*out = (struct physim_vm_hal){0};
		return;
	}
	*out = (struct physim_vm_hal){
	    .ctx = ram,
	    .paging = &physim_ram_hals(ram)->paging,
	    .alloc_memory_region_at = hal_alloc_region_at,
	    .dealloc_memory_region_at = hal_dealloc_region_at,
	    .virt_to_phys = hal_virt_to_phys,
	    .current_time_nanos = physim_clock_time_nanos,
	    .time_ctx = clock,
	};
}
