/* SPDX-License-Identifier: MIT */
/* physim/aspace.h - a guest address space (axaddrspace::AddrSpace): a VM's
 * stage-2 table with linear and allocated (populated or lazy) areas, page-
 * fault handling, the guest memory accessor (GuestMemoryAccessor) and dirty-
 * page logging. Built only on hal.h and pt.h.
 *
 * Threads: an address space is owned by one thread at a time (callers lock),
 * like the table inside it (pt.h). Calls on one space must not overlap,
 * the guest accessor's included: it populates lazy pages and reads the
 * table, in which dirty_log_fetch_clear clears D bits. The one exception
 * is physim_aspace_mark_dirty, an atomic bitmap update that may run on any
 * thread while the owner uses the space (not during dirty_log_enable /
 * disable or destroy): no mark is lost to a concurrent fetch. vCPU threads
 * may translate through the stage-2 table (walk.h) while the owner
 * harvests dirty bits (dirty_log_fetch_clear clears D by compare-and-swap:
 * a D a walker sets meanwhile is kept for the next fetch), but not while
 * the owner maps, unmaps or destroys: stop the vCPUs first, as a
 * hypervisor kicks them out of guest mode. Spaces that are
 * different objects are independent, even over one RAM and one set of
 * HALs (tests/test_threads_shared.c). */
#ifndef PHYSIM_ASPACE_H
#define PHYSIM_ASPACE_H

#include <physim/pt.h>

#ifdef __cplusplus
extern "C" {
#endif

struct physim_aspace_config {
	const struct physim_pt_format *format;	    /* a stage-2 format (ept-4l, sv48x4, ...) */
	const struct physim_paging_handler *paging; /* frames for the stage-2 tables */
	const struct physim_mm_hal *mm;		    /* frames for alloc areas (AxMmHal) */
	const struct physim_vm_hal *vm;		    /* optional: for map_identity */
	physim_gpa_t base;			    /* guest-physical range the space covers */
	uint64_t size;
	physim_pt_flush_fn flush; /* optional, passed to the table */
	void *flush_ctx;
	physim_pt_flush_ex_fn flush_ex; /* optional, passed to the table (pt.h) */
};

enum physim_area_kind {
	PHYSIM_AREA_LINEAR = 1, /* fixed offset: hpa = gpa + offset */
	PHYSIM_AREA_ALLOC = 2,	/* frames from the mm HAL, populated now or on fault */
};

struct physim_area_info {
	physim_gpa_t start;
	uint64_t size;
	uint32_t flags; /* PHYSIM_R/W/X/U/DEVICE/UNCACHED */
	enum physim_area_kind kind;
	physim_hpa_t linear_hpa; /* LINEAR: hpa of start */
	bool populate;		 /* ALLOC: populated at map time */
	bool identity;		 /* claimed from the vm HAL by map_identity */
	uint64_t frames;	 /* ALLOC: frames currently backing the area */
};

struct physim_aspace_stats {
	uint64_t areas;
	uint64_t alloc_frames; /* frames backing ALLOC areas */
	uint64_t table_frames; /* frames in the stage-2 table */
	/* Pages populated on demand: by handle_page_fault, and by the guest
	 * memory accessor when it touches a lazy page (a guest access would
	 * have faulted it in), one per page. */
	uint64_t faults_handled;
	uint64_t faults_refused;
};

struct physim_aspace;

/* -EINVAL: not a stage-2 format, base/size unaligned, zero, wrapping or
 * beyond the format's input range; mm and paging are required. */
PHYSIM_API int physim_aspace_create(const struct physim_aspace_config *config,
				    struct physim_aspace **out);
/* clear() + free the table. NULL is ignored. */
PHYSIM_API void physim_aspace_destroy(struct physim_aspace *as);

PHYSIM_API const struct physim_pt *physim_aspace_pt(const struct physim_aspace *as);
PHYSIM_API physim_hpa_t physim_aspace_root(const struct physim_aspace *as);
PHYSIM_API physim_gpa_t physim_aspace_base(const struct physim_aspace *as);
PHYSIM_API uint64_t physim_aspace_size(const struct physim_aspace *as);
PHYSIM_API struct physim_aspace_stats physim_aspace_stats(const struct physim_aspace *as);

/* Areas are kept sorted and non-overlapping. Every map call: -EINVAL for
 * unaligned (4 KiB) addresses or sizes, zero size, wrap-around or a range
 * outside the space; -EEXIST if it overlaps an existing area; -ENOMEM;
 * -ENOTSUP for flags the format cannot express. On error nothing changes. */
PHYSIM_API int physim_aspace_map_linear(struct physim_aspace *as, physim_gpa_t gpa,
					physim_hpa_t hpa, uint64_t size, uint32_t flags);
PHYSIM_API int physim_aspace_map_alloc(struct physim_aspace *as, physim_gpa_t gpa, uint64_t size,
				       uint32_t flags, bool populate);
/* The axvm identity flow: claim [gpa, gpa + size) of host memory through
 * vm->alloc_memory_region_at, then map it linearly with gpa == hpa. If the
 * region cannot be had: its error (e.g. -EBUSY), nothing mapped. -EINVAL if
 * the space has no vm HAL. */
PHYSIM_API int physim_aspace_map_identity(struct physim_aspace *as, physim_gpa_t gpa, uint64_t size,
					  uint32_t flags);
/* Unmap [gpa, gpa + size): areas partly covered are split (and huge pages
 * with them); frames of ALLOC areas are returned, identity regions given back
 * to the vm HAL. Holes are fine. */
PHYSIM_API int physim_aspace_unmap(struct physim_aspace *as, physim_gpa_t gpa, uint64_t size);
/* Remove every area. */
PHYSIM_API void physim_aspace_clear(struct physim_aspace *as);

PHYSIM_API bool physim_aspace_contains_range(const struct physim_aspace *as, physim_gpa_t gpa,
					     uint64_t size);
/* Calls fn for each area in address order; a non-zero return stops and is returned. */
PHYSIM_API int physim_aspace_for_each_area(const struct physim_aspace *as,
					   int (*fn)(void *ctx, const struct physim_area_info *a),
					   void *ctx);

/* -ENOENT if gpa is not backed (outside areas, or a lazy page not yet populated). */
PHYSIM_API int physim_aspace_translate(const struct physim_aspace *as, physim_gpa_t gpa,
				       physim_hpa_t *hpa);
/* hpa and the bytes from gpa to the end of its area (the seed's limit). */
PHYSIM_API int physim_aspace_translate_and_get_limit(const struct physim_aspace *as,
						     physim_gpa_t gpa, physim_hpa_t *hpa,
						     uint64_t *limit);

struct physim_iovec {
	void *base;
	size_t len;
};
/* Host spans for [gpa, gpa + len), split at page and area boundaries, merged
 * where host-contiguous. *n receives the count. len 0: 0 spans and 0, for any
 * gpa. -ERANGE if more than max spans would be needed: nothing is written to
 * iov and *n holds the number needed (call again with that many). -ENOENT if
 * any byte is unbacked (a lazy page is not populated here); -EFAULT if any
 * byte lies in a LINEAR area over memory the mm HAL cannot reach (MMIO). */
PHYSIM_API int physim_aspace_translated_buffer(const struct physim_aspace *as, physim_gpa_t gpa,
					       size_t len, struct physim_iovec *iov, size_t max,
					       size_t *n);

/* A nested page fault at gpa for `access` (PHYSIM_R, PHYSIM_W or PHYSIM_X).
 * 0: handled (a zeroed frame now backs the page of a lazy ALLOC area whose
 * flags allow the access); -EFAULT: not handled (outside any area, access not
 * permitted, a LINEAR area, or already mapped); -ENOMEM. */
PHYSIM_API int physim_aspace_handle_page_fault(struct physim_aspace *as, physim_gpa_t gpa,
					       uint32_t access);

/* ---- guest memory accessor ----
 * Reads and writes at guest-physical addresses, across page and area
 * boundaries, checking each area's permissions (R for reads, W for writes:
 * -EFAULT otherwise, nothing copied) and populating lazy pages as a guest
 * access would fault them in (counted in faults_handled). Host memory is
 * reached through mm->phys_to_virt for every area: a LINEAR area over memory
 * the mm HAL does not hold (MMIO) translates, but reading or writing it here
 * is -EFAULT, nothing copied; a device is not memory to copy from. */
PHYSIM_API int physim_guest_read(struct physim_aspace *as, physim_gpa_t gpa, void *buf, size_t len);
PHYSIM_API int physim_guest_write(struct physim_aspace *as, physim_gpa_t gpa, const void *buf,
				  size_t len);
/* Device-register style: one volatile access of width 1, 2, 4 or 8 bytes,
 * naturally aligned (-EINVAL otherwise). */
PHYSIM_API int physim_guest_read_volatile(struct physim_aspace *as, physim_gpa_t gpa,
					  unsigned width, uint64_t *value);
PHYSIM_API int physim_guest_write_volatile(struct physim_aspace *as, physim_gpa_t gpa,
					   unsigned width, uint64_t value);

/* ---- guest memory accessor over any translation ----
 * axaddrspace's GuestMemoryAccessor for code that keeps its own tables (a
 * port's stage-2 code, a translation through physim_translate, a test
 * double): the caller supplies translate_and_get_limit, physim does the
 * copying. Unlike physim_guest_read/write above nothing is populated and no
 * permission is checked: the callback decides what is reachable.
 *
 * translate(ctx, gpa, &hpa, &limit): 0 with the host-physical address of the
 * byte at gpa and how many bytes from there on the callback vouches for
 * (at least 1; the seed's "accessible size", which its AddrSpace gives as
 * the end of the area), or a negative errno. Host frames need not be
 * contiguous: the accessor asks again at every 4 KiB boundary of the guest
 * address and of the host address and where the limit ends, and reaches
 * each frame through mm->phys_to_virt (NULL there: -EFAULT, e.g. MMIO).
 *
 * Errors: -EINVAL for a NULL accessor, callback or mm, a NULL buffer with a
 * length, or a volatile width other than 1/2/4/8 or not naturally aligned;
 * the callback's own negative errno, returned unchanged; -EFAULT when
 * [gpa, gpa + len) wraps, the callback breaks its contract (limit 0, a
 * positive return, hpa + limit wraps), a frame is not host memory, or a
 * volatile access would straddle two host frames. Every piece is translated
 * before any byte is copied, so a failing call copies nothing (provided the
 * translation does not change during the call). */
typedef int (*physim_translate_limit_fn)(void *ctx, uint64_t gpa, physim_hpa_t *hpa,
					 uint64_t *limit);

struct physim_guest_accessor {
	physim_translate_limit_fn translate;
	void *ctx;
	const struct physim_mm_hal *mm; /* its phys_to_virt reaches host memory */
};

PHYSIM_API int physim_accessor_read(const struct physim_guest_accessor *acc, uint64_t gpa,
				    void *buf, size_t len);
PHYSIM_API int physim_accessor_write(const struct physim_guest_accessor *acc, uint64_t gpa,
				     const void *buf, size_t len);
PHYSIM_API int physim_accessor_read_volatile(const struct physim_guest_accessor *acc, uint64_t gpa,
					     unsigned width, uint64_t *value);
PHYSIM_API int physim_accessor_write_volatile(const struct physim_guest_accessor *acc, uint64_t gpa,
					      unsigned width, uint64_t value);

/* ---- dirty-page logging ----
 * One bit per 4 KiB guest page of the space. Writes through the accessor
 * mark pages; fetch also harvests hardware dirty bits the walker set in the
 * stage-2 leaves (and clears them, reporting the change to the flush
 * callback), as a hypervisor does for live migration. Harvesting clears only
 * D: the accessed bit is left as it was. Formats that pre-set D on every
 * writable leaf (physim_pt_format_info.presets_dirty: RISC-V G-stage) are
 * never harvested, their D says nothing; only accessor writes and
 * mark_dirty count there. Unmap moves the hardware dirty bits of the leaves
 * it drops into the bitmap (where they are harvested). */
/* Logging starts clean: hardware dirty bits set before enable are cleared,
 * not reported. Enabling while on changes nothing (0). */
PHYSIM_API int physim_aspace_dirty_log_enable(struct physim_aspace *as);
PHYSIM_API void physim_aspace_dirty_log_disable(struct physim_aspace *as);
/* Copy and clear the dirty bits of [gpa, gpa + npages * 4 KiB) into bitmap
 * (bit i = page gpa + i * 4 KiB; (npages + 63) / 64 words). -EINVAL if logging
 * is off or the range is outside the space. Returns the number of dirty pages. */
PHYSIM_API int64_t physim_aspace_dirty_log_fetch_clear(struct physim_aspace *as, physim_gpa_t gpa,
						       uint64_t npages, uint64_t *bitmap);
/* Mark a page dirty (for code that writes guest memory by other means). */
PHYSIM_API void physim_aspace_mark_dirty(struct physim_aspace *as, physim_gpa_t gpa);

#ifdef __cplusplus
}
#endif
#endif
