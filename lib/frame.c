/* SPDX-License-Identifier: MIT */
/* lib/frame.c - PhysFrame (axaddrspace): an owned 4 KiB host frame over any
 * mm_hal, reached only through the HAL's vtable. */
#include "physim-priv.h"
#include <physim/frame.h>

#include <string.h>

static bool hal_usable(const struct physim_mm_hal *hal)
{
	return hal != NULL && hal->alloc_frame != NULL && hal->dealloc_frame != NULL;
}

/* *out is an out-parameter only (success overwrites it), so on failure it is
 * set to uninit: a scoped handle that was never filled then drops harmlessly. */
int physim_frame_alloc(const struct physim_mm_hal *hal, struct physim_frame *out)
{
	if (out == NULL)
		return -EINVAL;
	*out = physim_frame_uninit();
	if (!hal_usable(hal))
		return -EINVAL;

	physim_hpa_t hpa = 0;
	int rc = hal->alloc_frame(hal->ctx, &hpa);
	if (rc < 0)
		return rc;
	if (hpa == 0) {
		/* The seed treats address 0 as "no frame"; a HAL that reports
		 * success with it is broken, and there is nothing safe to free. */
		physim_log_warn("frame: mm_hal returned host-physical address 0");
		return -EFAULT;
	}
	out->start_paddr = hpa;
	out->hal = hal;
	return 0;
}

int physim_frame_alloc_zero(const struct physim_mm_hal *hal, struct physim_frame *out)
{
	int rc = physim_frame_alloc(hal, out);
	if (rc < 0)
		return rc;
	void *p = physim_frame_as_mut_ptr(out);
	if (p == NULL) {
		physim_frame_drop(out);
		return -EFAULT;
	}
	memset(p, 0, PHYSIM_FRAME_SIZE);
	return 0;
}

struct physim_frame physim_frame_uninit(void)
{
	return (struct physim_frame){.start_paddr = 0, .hal = NULL};
}

bool physim_frame_is_uninit(const struct physim_frame *f)
{
	return f == NULL || f->start_paddr == 0 || f->hal == NULL;
}

physim_hpa_t physim_frame_start_paddr(const struct physim_frame *f)
{
	return physim_frame_is_uninit(f) ? 0 : f->start_paddr;
}

void *physim_frame_as_mut_ptr(const struct physim_frame *f)
{
	if (physim_frame_is_uninit(f) || f->hal->phys_to_virt == NULL)
		return NULL;
	return f->hal->phys_to_virt(f->hal->ctx, f->start_paddr);
}

int physim_frame_fill(struct physim_frame *f, uint8_t byte)
{
	if (physim_frame_is_uninit(f))
		return -EINVAL;
	void *p = physim_frame_as_mut_ptr(f);
	if (p == NULL)
		return -EFAULT;
	memset(p, byte, PHYSIM_FRAME_SIZE);
	return 0;
}

void physim_frame_drop(struct physim_frame *f)
{
	if (physim_frame_is_uninit(f))
		return;
	int rc = f->hal->dealloc_frame(f->hal->ctx, f->start_paddr);
	if (rc < 0)
		/* Drop cannot fail (Rust's Drop); a HAL refusing its own frame
		 * is a bug worth seeing. */
		physim_log_warn("frame: mm_hal refused to free 0x%llx: %s",
				(unsigned long long)f->start_paddr, physim_strerror(rc));
	*f = physim_frame_uninit();
}
