/* SPDX-License-Identifier: MIT */
/* physim/addr.h - address types, page sizes and alignment helpers used by
 * every layer. Header-only. */
#ifndef PHYSIM_ADDR_H
#define PHYSIM_ADDR_H

#include <physim/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t physim_hpa_t; /* host physical address */
typedef uint64_t physim_gpa_t; /* guest physical address (stage-2 input) */
typedef uint64_t physim_gva_t; /* guest virtual address (stage-1 input) */

#define PHYSIM_FRAME_SHIFT 12
#define PHYSIM_FRAME_SIZE  (UINT64_C(1) << PHYSIM_FRAME_SHIFT) /* one 4 KiB frame */

#define PHYSIM_SIZE_4K	 (UINT64_C(1) << 12)
#define PHYSIM_SIZE_16K	 (UINT64_C(1) << 14)
#define PHYSIM_SIZE_64K	 (UINT64_C(1) << 16)
#define PHYSIM_SIZE_2M	 (UINT64_C(1) << 21)
#define PHYSIM_SIZE_32M	 (UINT64_C(1) << 25)
#define PHYSIM_SIZE_512M (UINT64_C(1) << 29)
#define PHYSIM_SIZE_1G	 (UINT64_C(1) << 30)
#define PHYSIM_SIZE_512G (UINT64_C(1) << 39)

static inline bool physim_is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* align must be a power of two. */
static inline bool physim_is_aligned(uint64_t x, uint64_t align)
{
	return (x & (align - 1)) == 0;
}

static inline uint64_t physim_align_down(uint64_t x, uint64_t align)
{
	return x & ~(align - 1);
}

/* Wraps to 0 when x is within align of UINT64_MAX; callers that care check
 * with physim_range_ok() first. */
static inline uint64_t physim_align_up(uint64_t x, uint64_t align)
{
	return (x + align - 1) & ~(align - 1);
}

/* True if [start, start + size) neither wraps nor is empty. */
static inline bool physim_range_ok(uint64_t start, uint64_t size)
{
	return size != 0 && start + size - 1 >= start;
}

/* True if [a, a + asize) and [b, b + bsize) overlap; both must be valid ranges. */
static inline bool physim_ranges_overlap(uint64_t a, uint64_t asize, uint64_t b, uint64_t bsize)
{
	return a <= b + (bsize - 1) && b <= a + (asize - 1);
}

/*
 * A fixed linear-offset window of host-physical memory (a "direct map"):
 * host-physical [base, base + size) is at host-virtual hva + (hpa - base).
 * A HAL that has one advertises it so hot paths (walks, table access) can
 * translate without an indirect call. size == 0 means "no direct map".
 */
struct physim_direct_map {
	physim_hpa_t base;
	uint64_t size;
	uint8_t *hva;
};

/* Fast unchecked phys->virt: hpa must lie inside the window. */
static inline void *physim_dm_phys_to_virt(const struct physim_direct_map *dm, physim_hpa_t hpa)
{
	return dm->hva + (hpa - dm->base);
}

/* Checked phys->virt for an access of len bytes: NULL if any byte of it is
 * outside the window. */
static inline void *physim_dm_phys_to_virt_checked(const struct physim_direct_map *dm,
						   physim_hpa_t hpa, uint64_t len)
{
	uint64_t off = hpa - dm->base;
	if (hpa < dm->base || off >= dm->size || len > dm->size - off)
		return NULL;
	return dm->hva + off;
}

#ifdef __cplusplus
}
#endif
#endif
