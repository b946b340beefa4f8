/* SPDX-License-Identifier: MIT */
/* tests/common/env.h - a test environment: simulated RAM, its paging handler
 * and direct map; zeroed table memory, reads and writes of table entries in
 * it, hand-built x86-geometry table trees, an mmu over it; and RAM behind a
 * counting HAL. */
#ifndef PHYSIM_TEST_ENV_H
#define PHYSIM_TEST_ENV_H

#include <physim/pt.h>
#include <physim/ram.h>
#include <physim/walk.h>

#include <stdint.h>

struct tc_env {
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
	struct physim_direct_map dm;
};

/* RAM of `size` bytes at physical `base` and its handler, in *e; a failure
 * fails the check. tc_env_close destroys the RAM. */
void tc_env_open(struct tc_env *e, uint64_t base, uint64_t size);
void tc_env_close(struct tc_env *e);
/* The same on the heap, RAM at the default base (PHYSIM_RAM_DEFAULT_BASE). */
struct tc_env *tc_env_new(uint64_t size);
void tc_env_free(struct tc_env *e);
/* RAM made from a whole config (reserved ranges, base_is_zero, ...). */
void tc_env_open_config(struct tc_env *e, const struct physim_ram_config *c);
struct tc_env *tc_env_new_config(const struct physim_ram_config *c);

/* The `bytes` (4 or 8) bytes at physical address pa, in host order (a table
 * entry); every byte must lie in the RAM. */
uint64_t tc_get_entry(const struct tc_env *e, uint64_t pa, unsigned bytes);
void tc_put_entry(const struct tc_env *e, uint64_t pa, unsigned bytes, uint64_t v);
uint64_t tc_get64(const struct tc_env *e, uint64_t pa);
void tc_put64(const struct tc_env *e, uint64_t pa, uint64_t v);
uint32_t tc_get32(const struct tc_env *e, uint64_t pa);
void tc_put32(const struct tc_env *e, uint64_t pa, uint32_t v);

/* Zero `bytes` of RAM from physical address pa (all inside the RAM). */
void tc_zero(const struct tc_env *e, uint64_t pa, uint64_t bytes);
/* Frames from the RAM's allocator covering `bytes`, aligned to `align`
 * (at least a frame), zeroed: their physical address. */
uint64_t tc_alloc_zeroed(const struct tc_env *e, uint64_t bytes, uint64_t align);
/* One zeroed frame. */
uint64_t tc_frame(const struct tc_env *e);

/* The 8-byte slot of va at engine level lvl (0 = last level) in a tree of
 * 512-entry tables indexed by va bits 12 + 9 * l (x86, EPT and LoongArch
 * geometry) rooted at root, `levels` levels deep. Missing tables above lvl
 * are made of zeroed frames and linked with entries `frame | tbits`; a
 * present entry's table address is its bits 51:12. */
uint64_t tc_x86_slot(const struct tc_env *e, uint64_t root, int levels, uint64_t va, int lvl,
		     uint64_t tbits);
/* Write `leaf` into that slot; returns the slot's address. */
uint64_t tc_x86_map(const struct tc_env *e, uint64_t root, int levels, uint64_t va, int lvl,
		    uint64_t leaf, uint64_t tbits);

/* RAM at `base` of `size` bytes, poisoning freed frames, with its mm,
 * paging and VM HALs (the VM HAL's vtable in *vm_inner, which must outlive
 * the counting HAL) wrapped in one counting HAL (hal.h), in *ch: what the
 * address-space tests count frames with. A failure fails the check. */
void tc_counted_ram_open(uint64_t base, uint64_t size, struct physim_ram **ram,
			 struct physim_vm_hal *vm_inner, struct physim_counting_hal **ch);

/* An mmu of the named format whose tables live in `mem` (an env's ph, or a
 * handler wrapping it); root_hi 0 and ctl NULL for none. A failure fails
 * the check. */
struct physim_mmu *tc_mmu_new(const struct physim_paging_handler *mem, const char *format,
			      uint64_t root, uint64_t root_hi, const struct physim_mmu_ctl *ctl);

/* An mmu walking table pt (its format and root) in `mem`. A failure fails
 * the check. */
struct physim_mmu *tc_mmu_of(const struct physim_paging_handler *mem, struct physim_pt *pt);

#endif
