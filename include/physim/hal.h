/* SPDX-License-Identifier: MIT */
/* physim/hal.h - the hardware-abstraction interfaces of the ArceOS hypervisor
 * crates as C vtables: mm_hal (axaddrspace AxMmHal), paging_handler
 * (page_table_multiarch PagingHandler), vm_hal (axvm AxVMHal) and memory_if
 * (axvisor_api MemoryIf), plus a counting / fault-injecting wrapper.
 *
 * Each interface is a struct of function pointers and one context pointer
 * that is passed back as the first argument. physim's own implementation over
 * simulated RAM lives in ram.h; nothing above ram.h depends on it, so any
 * other implementation (a real hypervisor's, a test double) plugs in the same
 * way. Allocation functions return 0 and write the address, or a negative
 * errno; a HAL never hands out host-physical address 0 (PhysFrame treats 0 as
 * failure, as the seed does).
 *
 * Threads: physim calls a HAL from whichever thread calls physim, and calls
 * nothing else to serialise those calls. Objects that are used by one
 * thread each (two tables, two address spaces) may share one HAL only if
 * every function of it is thread-safe. The vtables of a RAM (ram.h) are;
 * the counting wrapper below is when its inner HAL is; a HAL of your own
 * must say. */
#ifndef PHYSIM_HAL_H
#define PHYSIM_HAL_H

#include <physim/addr.h>

#ifdef __cplusplus
extern "C" {
#endif

/* axaddrspace::AxMmHal */
struct physim_mm_hal {
	void *ctx;
	/* One 4 KiB frame (contents undefined). */
	int (*alloc_frame)(void *ctx, physim_hpa_t *hpa);
	/* Free a frame from alloc_frame. -ENOENT if it is not allocated. */
	int (*dealloc_frame)(void *ctx, physim_hpa_t hpa);
	/* NULL if hpa is not backed by memory the HAL can reach. */
	void *(*phys_to_virt)(void *ctx, physim_hpa_t hpa);
	/* Returns 0 if hva does not belong to the HAL's memory (0 is never a
	 * valid frame, so it cannot be confused with a result). */
	physim_hpa_t (*virt_to_phys)(void *ctx, const void *hva);
};

/* page_table_multiarch::PagingHandler: where page-table frames come from. */
struct physim_paging_handler {
	void *ctx;
	int (*alloc_frame)(void *ctx, physim_hpa_t *hpa);
	/* nframes contiguous frames whose first host-physical address is a
	 * multiple of align_bytes (a power of two >= 4096). */
	int (*alloc_frames)(void *ctx, size_t nframes, uint64_t align_bytes, physim_hpa_t *hpa);
	int (*dealloc_frame)(void *ctx, physim_hpa_t hpa);
	int (*dealloc_frames)(void *ctx, physim_hpa_t hpa, size_t nframes);
	void *(*phys_to_virt)(void *ctx, physim_hpa_t hpa);
	/* Optional fast path: if direct.size != 0, phys_to_virt(hpa) equals
	 * physim_dm_phys_to_virt(&direct, hpa) for every hpa in the window, and
	 * hot paths use it instead of the indirect call. */
	struct physim_direct_map direct;
};

/* axvm::AxVMHal (its memory and time methods). */
struct physim_vm_hal {
	void *ctx;
	/* The PagingHandler the VM's stage-2 tables use. */
	const struct physim_paging_handler *paging;
	/* Claim the exact host-physical range [base, base + size) (page
	 * aligned). -EBUSY if any frame of it is in use, -EINVAL if outside
	 * memory. Nothing is claimed on failure. */
	int (*alloc_memory_region_at)(void *ctx, physim_hpa_t base, uint64_t size);
	int (*dealloc_memory_region_at)(void *ctx, physim_hpa_t base, uint64_t size);
	physim_hpa_t (*virt_to_phys)(void *ctx, const void *hva);
	/* Time source: called as current_time_nanos(time_ctx); see clock.h. */
	uint64_t (*current_time_nanos)(void *time_ctx);
	void *time_ctx;
};

/* axvisor_api::memory::MemoryIf: contiguous frames with the alignment given
 * as log2 of a frame count (align_log2 = 4 means 16 frames = 64 KiB). */
struct physim_memory_if {
	void *ctx;
	int (*alloc_frame)(void *ctx, physim_hpa_t *hpa);
	int (*alloc_contiguous_frames)(void *ctx, size_t nframes, unsigned align_log2,
				       physim_hpa_t *hpa);
	int (*dealloc_frame)(void *ctx, physim_hpa_t hpa);
	int (*dealloc_contiguous_frames)(void *ctx, physim_hpa_t hpa, size_t nframes);
	void *(*phys_to_virt)(void *ctx, physim_hpa_t hpa);
	physim_hpa_t (*virt_to_phys)(void *ctx, const void *hva);
};

/* Convenience calls through a vtable. */
static inline int physim_ph_alloc_frame(const struct physim_paging_handler *ph, physim_hpa_t *hpa)
{
	return ph->alloc_frame(ph->ctx, hpa);
}

static inline int physim_ph_dealloc_frame(const struct physim_paging_handler *ph, physim_hpa_t hpa)
{
	return ph->dealloc_frame(ph->ctx, hpa);
}

static inline void *physim_ph_phys_to_virt(const struct physim_paging_handler *ph, physim_hpa_t hpa)
{
	if (ph->direct.size != 0)
		return physim_dm_phys_to_virt_checked(&ph->direct, hpa, 1);
	return ph->phys_to_virt(ph->ctx, hpa);
}

/*
 * Counting / fault-injecting wrapper around any of the HALs above.
 *
 * Every frame-allocating call that goes through a wrapped vtable
 * (alloc_frame, alloc_frames, alloc_contiguous_frames,
 * alloc_memory_region_at) is numbered 1, 2, 3, ... and fails with -ENOMEM,
 * without reaching the inner HAL, when
 *   - its number equals fail_nth (fail_nth == 0: never), or
 *   - its number is greater than fail_after (fail_after == 0: never), or
 *   - a pseudo-random draw seeded by `seed` is below fail_probability
 *     (0.0: never; the sequence is reproducible for a given seed).
 * All calls are counted, failed or not. Frees are passed through and counted.
 * The wrapper is thread-safe if the inner HAL is.
 */
struct physim_counting_hal_config {
	/* Inner HALs to wrap; any may be NULL (its wrapper is then unavailable). */
	const struct physim_mm_hal *mm;
	const struct physim_paging_handler *paging;
	const struct physim_vm_hal *vm;
	const struct physim_memory_if *memory_if;
	uint64_t fail_nth;
	uint64_t fail_after;
	double fail_probability;
	uint64_t seed;
};

struct physim_hal_counts {
	uint64_t alloc_calls;	   /* allocation calls seen (including failed ones) */
	uint64_t alloc_failed;	   /* of those, failed (injected or by the inner HAL) */
	uint64_t injected;	   /* of those, failed by injection */
	uint64_t frames_allocated; /* frames handed out */
	uint64_t frames_freed;	   /* frames returned successfully */
	uint64_t free_calls;	   /* free calls seen (including rejected ones) */
	uint64_t free_failed;	   /* free calls the inner HAL rejected */
	int64_t frames_live;	   /* frames_allocated - frames_freed */
};

struct physim_counting_hal;

PHYSIM_API int physim_counting_hal_create(const struct physim_counting_hal_config *config,
					  struct physim_counting_hal **out);
PHYSIM_API void physim_counting_hal_destroy(struct physim_counting_hal *ch);

/* The wrapped vtables (NULL when the matching inner HAL was not given).
 * The vm wrapper's `paging` points at the wrapped paging handler when one
 * was given, else at the inner vm HAL's own. */
PHYSIM_API const struct physim_mm_hal *physim_counting_hal_mm(struct physim_counting_hal *ch);
PHYSIM_API const struct physim_paging_handler *
physim_counting_hal_paging(struct physim_counting_hal *ch);
PHYSIM_API const struct physim_vm_hal *physim_counting_hal_vm(struct physim_counting_hal *ch);
PHYSIM_API const struct physim_memory_if *
physim_counting_hal_memory_if(struct physim_counting_hal *ch);

PHYSIM_API struct physim_hal_counts
physim_counting_hal_counts(const struct physim_counting_hal *ch);

/* Change the failure plan (fail_nth, fail_after, fail_probability, seed;
 * the inner HAL pointers in *config are ignored) and restart numbering
 * from 1. Counters are kept. */
PHYSIM_API void physim_counting_hal_set_plan(struct physim_counting_hal *ch,
					     const struct physim_counting_hal_config *config);

/* Zero every counter and restart numbering from 1. */
PHYSIM_API void physim_counting_hal_reset_counts(struct physim_counting_hal *ch);

#ifdef __cplusplus
}
#endif
#endif
