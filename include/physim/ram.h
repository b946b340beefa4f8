/* SPDX-License-Identifier: MIT */
/* physim/ram.h - simulated host physical RAM (one anonymous MAP_NORESERVE
 * mapping) with a bitmap frame allocator and a fixed linear-offset
 * phys<->virt translation: the default implementation of every HAL in
 * hal.h. The page-table engine, walker and address space never use this
 * header; they reach memory only through a HAL. */
#ifndef PHYSIM_RAM_H
#define PHYSIM_RAM_H

#include <physim/hal.h>
#include <physim/clock.h>

#ifdef __cplusplus
extern "C" {
#endif

struct physim_ram_range {
	physim_hpa_t base;
	uint64_t size;
};

enum physim_ram_debug {
	PHYSIM_RAM_DEBUG_OFF = 0,
	/* Freed frames are filled with poison_byte. */
	PHYSIM_RAM_DEBUG_POISON = 1,
	/* Free frames (never allocated or freed) are PROT_NONE, so any access to
	 * a frame that is not allocated traps at once; reserved ranges too.
	 * Each protection change is an mprotect call and may split the mapping
	 * (vm.max_map_count): meant for RAMs of a few thousand frames in tests.
	 * If mprotect fails an allocation fails with -ENOMEM. */
	PHYSIM_RAM_DEBUG_PROTECT = 2,
};

#define PHYSIM_RAM_DEFAULT_BASE	  UINT64_C(0x80000000)
#define PHYSIM_RAM_DEFAULT_SIZE	  (UINT64_C(1) << 30)
#define PHYSIM_RAM_DEFAULT_POISON 0x6b

/* A zero-initialised config is valid and means: 1 GiB at host-physical
 * 0x80000000, nothing reserved, no guard pages, no huge-page advice, no debug,
 * frames not zeroed. */
struct physim_ram_config {
	physim_hpa_t base; /* 4 KiB aligned; 0 means PHYSIM_RAM_DEFAULT_BASE
			      unless base_is_zero is set */
	bool base_is_zero; /* really start at host-physical 0 (frame 0 is then
			      reserved: it is never handed out) */
	uint64_t size;	   /* multiple of 4 KiB; 0 means PHYSIM_RAM_DEFAULT_SIZE */
	/* Ranges never handed out by the allocator (MMIO holes, firmware).
	 * Must lie inside RAM and be 4 KiB aligned; may overlap each other. */
	const struct physim_ram_range *reserved;
	size_t nreserved;
	bool guard_pages; /* one PROT_NONE page below and above the RAM */
	bool huge_pages;  /* madvise(MADV_HUGEPAGE) on the RAM */
	enum physim_ram_debug debug;
	uint8_t poison_byte; /* 0 means PHYSIM_RAM_DEFAULT_POISON */
	/* Every frame handed out reads as zero, through every allocation call
	 * and so every HAL vtable below (alloc_frame(s), alloc_contiguous,
	 * alloc_at / alloc_region_at), as a kernel allocator does with
	 * __GFP_ZERO and many hypervisors' page pools do. Off by default: then
	 * a frame keeps what its last owner wrote (or the poison byte). The
	 * cost is a memset of the frames at allocation. */
	bool zero_frames;
};

struct physim_ram;

/* ---- threads ----
 * A RAM is meant to be shared: the allocator calls, frame_in_use, stats,
 * the phys<->virt translations and the HAL vtables below may be called
 * from any number of threads at once (tests/test_ram_threads.c,
 * tests/test_threads_shared.c run them under ThreadSanitizer). The bytes
 * of the frames are the callers': two threads writing one frame race as
 * they would on real memory. create and load hand out a RAM nobody else
 * has yet; destroy needs every other user gone; save reads the allocator
 * state and every frame, so nothing should allocate, free or write frames
 * meanwhile (it would record a mix). */

/* -EINVAL for a bad config (misaligned base or size, base + size wraps,
 * reserved range outside RAM or misaligned), -ENOMEM if the host refuses the
 * mapping. Creation touches no RAM and no bitmap page except those covering
 * reserved ranges, so 64 GiB costs almost nothing. */
PHYSIM_API int physim_ram_create(const struct physim_ram_config *config, struct physim_ram **out);
/* Unmaps everything. NULL is ignored. Destroy a RAM last: after the frames,
 * tables and address spaces that hold its frames. Frames still allocated are
 * gone with it. If any of its HAL vtables was handed out (physim_ram_mm_hal
 * and the others below), handles may still point at them, so the destroy
 * logs an error naming the count of frames still allocated and keeps the
 * vtables (a few hundred bytes, for the life of the process): through them,
 * freeing does nothing (a PhysFrame dropped after its RAM, as a
 * PHYSIM_FRAME_SCOPED frame in the same scope is, is harmless), allocating
 * fails with -EINVAL and nothing translates. Page tables and address spaces
 * copy the direct map, so they must still be destroyed before their RAM. */
PHYSIM_API void physim_ram_destroy(struct physim_ram *ram);

PHYSIM_API physim_hpa_t physim_ram_base(const struct physim_ram *ram);
PHYSIM_API uint64_t physim_ram_size(const struct physim_ram *ram);

/* ---- linear translation ---- */

/* The RAM's direct map; use physim_dm_phys_to_virt() (addr.h) for the fast
 * unchecked inline form. */
PHYSIM_API struct physim_direct_map physim_ram_direct_map(const struct physim_ram *ram);

/* Checked forms: -EFAULT if the address is outside RAM. */
PHYSIM_API int physim_ram_phys_to_virt(const struct physim_ram *ram, physim_hpa_t hpa, void **hva);
PHYSIM_API int physim_ram_virt_to_phys(const struct physim_ram *ram, const void *hva,
				       physim_hpa_t *hpa);

/* ---- frame allocator (thread-safe) ----
 * Errors: -EINVAL for a bad argument (misaligned or outside RAM, zero count,
 * alignment not a power of two or below 4 KiB, size overflow); -ENOMEM when
 * no suitable free frames exist; -ENOENT when freeing frames that are not
 * allocated (double free, never allocated, reserved); -EBUSY when a region
 * at a fixed address overlaps allocated or reserved frames. On error nothing
 * changes. Frame contents are not cleared on allocation. */

PHYSIM_API int physim_ram_alloc_frame(struct physim_ram *ram, physim_hpa_t *hpa);
PHYSIM_API int physim_ram_free_frame(struct physim_ram *ram, physim_hpa_t hpa);

/* nframes contiguous frames, the first at a host-physical address that is a
 * multiple of align_bytes (a power of two >= 4096). */
PHYSIM_API int physim_ram_alloc_frames(struct physim_ram *ram, size_t nframes, uint64_t align_bytes,
				       physim_hpa_t *hpa);
PHYSIM_API int physim_ram_free_frames(struct physim_ram *ram, physim_hpa_t hpa, size_t nframes);

/* Claim / release exactly [base, base + size) (both 4 KiB aligned). */
PHYSIM_API int physim_ram_alloc_at(struct physim_ram *ram, physim_hpa_t base, uint64_t size);
PHYSIM_API int physim_ram_free_at(struct physim_ram *ram, physim_hpa_t base, uint64_t size);

/* 1 if the frame containing hpa is allocated, 0 if free, -EINVAL if outside
 * RAM. Reserved frames count as allocated. */
PHYSIM_API int physim_ram_frame_in_use(const struct physim_ram *ram, physim_hpa_t hpa);

struct physim_ram_stats {
	uint64_t total_frames;	  /* size / 4096 */
	uint64_t reserved_frames; /* never handed out (reserved ranges, frame 0) */
	uint64_t used_frames;	  /* allocated by callers */
	uint64_t free_frames;	  /* total - reserved - used */
};

/* A consistent snapshot when no allocation runs concurrently. */
PHYSIM_API struct physim_ram_stats physim_ram_stats(const struct physim_ram *ram);

/* ---- RAM images ----
 * An image is the RAM's raw bytes (offset 0 = host-physical `base`, so a
 * machine emulator can load it as is, e.g. QEMU's `-device loader,...,
 * force-raw=on`), written sparse (all-zero 4 KiB frames are holes), followed
 * by a trailer that records the format version, base, size, the allocated
 * frame ranges and two checksums: one over the trailer, one over the bytes
 * of every non-zero frame (format version 2; lib/ram-image-priv.h has the layout).
 * Errors are negative errno values; host failures keep their cause. */

/* Write the RAM to `path` atomically: a temporary file in the same directory
 * is written, fsync'd and renamed over `path`, so `path` is at every moment
 * either its old contents or the complete new image (concurrent saves to one
 * path leave one whole image). A symbolic link is followed (the link stays).
 * On failure `path` is untouched and the temporary file is removed (a process
 * killed mid-save may leave a ".NAME.tmp-*" file behind, never a damaged
 * `path`). The frame data checksum is computed while writing; the image
 * also records zero_frames (the allocation policy, which a load restores).
 * Errors: -EINVAL for bad arguments or a `path` that exists and is not a
 * regular file, -EISDIR for a directory; the host's errno for what fails
 * (-ENOENT missing directory, -ENOTDIR, -EACCES, -EROFS, -EFBIG file size
 * limit, -ENOSPC, -EDQUOT, -EIO, ...); -ENOMEM. */
PHYSIM_API int physim_ram_save(const struct physim_ram *ram, const char *path);

/* Create a RAM from an image: base, size and allocated frames come from the
 * image; guard_pages / huge_pages / debug are taken from `config` (may be
 * NULL), its base/size/reserved must be zero. zero_frames is on if the
 * saved RAM had it or `config` asks for it. Anything but a regular file is
 * refused without blocking (a FIFO too). The footer and header are checked
 * against the file size before anything is allocated, and memory use does
 * not grow with what a file claims, only with the RAM of a valid image.
 * Frame data is verified against its checksum while it is read. Version 1
 * images (no data checksum) still load, with a warning log line that their
 * data is unchecked.
 * Errors: -EINVAL for a file that is not a physim image (bad magic, unknown
 * version, bad trailer checksum, impossible sizes or ranges, truncated or
 * extended, not a regular file) or a bad config; -EBADMSG when the frame
 * data does not match its checksum (damaged image); -EISDIR for a directory;
 * the host's errno when opening or reading fails (-ENOENT, -EACCES,
 * -ENOTDIR, -EIO, ...); -ENOMEM as for create. The reason for a refusal is
 * logged at debug level as "ram_load: PATH: <reason>". */
PHYSIM_API int physim_ram_load(const char *path, const struct physim_ram_config *config,
			       struct physim_ram **out);

/* ---- the default HAL implementations over this RAM ----
 * The vtables live inside the RAM object and stay valid until it is
 * destroyed (longer when it is destroyed with frames still allocated: see
 * physim_ram_destroy). Their phys_to_virt returns NULL outside RAM, virt_to_phys
 * returns 0 outside RAM; the paging handler advertises the direct map. */
PHYSIM_API const struct physim_mm_hal *physim_ram_mm_hal(struct physim_ram *ram);
PHYSIM_API const struct physim_paging_handler *physim_ram_paging_handler(struct physim_ram *ram);
PHYSIM_API const struct physim_memory_if *physim_ram_memory_if(struct physim_ram *ram);

/* Fill *out with an AxVMHal over this RAM whose current_time_nanos reads
 * `clock` (NULL: the host's CLOCK_MONOTONIC). The clock must outlive users
 * of *out. */
PHYSIM_API void physim_ram_vm_hal(struct physim_ram *ram, struct physim_clock *clock,
				  struct physim_vm_hal *out);

#ifdef __cplusplus
}
#endif
#endif
