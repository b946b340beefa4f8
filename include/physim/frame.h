/* SPDX-License-Identifier: MIT */
/* physim/frame.h - PhysFrame (axaddrspace): one owned 4 KiB host frame,
 * allocated from and returned to ANY mm_hal. */
#ifndef PHYSIM_FRAME_H
#define PHYSIM_FRAME_H

#include <physim/hal.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A frame handle is a small value. It owns its frame until dropped.
 * "Uninit" (start_paddr == 0, hal == NULL) is a placeholder that owns
 * nothing and must never be accessed; dropping it is harmless, and so is
 * dropping a frame twice (drop resets the handle to uninit).
 *
 * Threads: a handle is a plain value owned by whoever holds it; two threads
 * must not drop (or fill while another drops) the same handle. Different
 * handles may be used from different threads at once when their HAL is
 * thread-safe (hal.h), as the RAM's is.
 */
struct physim_frame {
	physim_hpa_t start_paddr;
	const struct physim_mm_hal *hal;
};

/* PhysFrame::alloc. -ENOMEM if the HAL has no frame; -EFAULT if the HAL
 * returns address 0 (a broken HAL: nothing is freed, *out stays uninit). */
PHYSIM_API int physim_frame_alloc(const struct physim_mm_hal *hal, struct physim_frame *out);

/* PhysFrame::alloc_zero: as alloc, then the 4 KiB are zeroed. -EFAULT if the
 * HAL cannot map the frame (the frame is returned to the HAL first). */
PHYSIM_API int physim_frame_alloc_zero(const struct physim_mm_hal *hal, struct physim_frame *out);

/* PhysFrame::uninit */
PHYSIM_API struct physim_frame physim_frame_uninit(void);

PHYSIM_API bool physim_frame_is_uninit(const struct physim_frame *f);

/* PhysFrame::start_paddr: 0 for an uninit frame. */
PHYSIM_API physim_hpa_t physim_frame_start_paddr(const struct physim_frame *f);

/* PhysFrame::as_mut_ptr, through the HAL's phys_to_virt. NULL for an uninit
 * frame (the seed panics there). */
PHYSIM_API void *physim_frame_as_mut_ptr(const struct physim_frame *f);

/* PhysFrame::fill: set all 4096 bytes. -EINVAL for an uninit frame,
 * -EFAULT if the HAL cannot map it. */
PHYSIM_API int physim_frame_fill(struct physim_frame *f, uint8_t byte);

/* Drop: return the frame to its HAL and reset the handle to uninit. Drop a
 * frame before destroying the HAL it came from. The one exception is the
 * RAM's own mm_hal (physim_ram_mm_hal): a frame dropped after its RAM was
 * destroyed is only forgotten (physim_ram_destroy logged it). */
PHYSIM_API void physim_frame_drop(struct physim_frame *f);

/* Scoped frames (GCC/Clang): the frame is dropped when the variable goes
 * out of scope, the C counterpart of Rust's Drop. That is after every
 * statement of the scope, so give the frame an inner scope when the RAM is
 * destroyed in the same one:
 *     {
 *             PHYSIM_FRAME_SCOPED struct physim_frame f = physim_frame_uninit();
 *             if (physim_frame_alloc_zero(hal, &f) < 0) return;
 *             ...
 *     }                               (f is dropped here)
 *     physim_ram_destroy(ram);
 */
#if defined(__GNUC__) || defined(__clang__)
#define PHYSIM_FRAME_SCOPED __attribute__((cleanup(physim_frame_drop)))
#endif

#ifdef __cplusplus
}
#endif
#endif
