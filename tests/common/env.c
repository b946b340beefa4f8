/* SPDX-License-Identifier: MIT */
/* tests/common/env.c - RAM + paging handler setup, table memory access and
 * hand-built tables for tests and harnesses (env.h). */
#include "env.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

void tc_env_open_config(struct tc_env *e, const struct physim_ram_config *c)
{
	memset(e, 0, sizeof(*e));
	TC_CHECK(physim_ram_create(c, &e->ram) == 0);
	e->ph = physim_ram_paging_handler(e->ram);
	e->dm = physim_ram_direct_map(e->ram);
}

void tc_env_open(struct tc_env *e, uint64_t base, uint64_t size)
{
	tc_env_open_config(e, &(struct physim_ram_config){.base = base, .size = size});
}

void tc_env_close(struct tc_env *e)
{
	physim_ram_destroy(e->ram);
	memset(e, 0, sizeof(*e));
}

struct tc_env *tc_env_new_config(const struct physim_ram_config *c)
{
	struct tc_env *e = calloc(1, sizeof(*e));
	TC_CHECK(e != NULL);
	tc_env_open_config(e, c);
	return e;
}

struct tc_env *tc_env_new(uint64_t size)
{
	return tc_env_new_config(&(struct physim_ram_config){.size = size});
}

void tc_env_free(struct tc_env *e)
{
	if (e == NULL)
		return;
	tc_env_close(e);
	free(e);
}

static void *entry_at(const struct tc_env *e, uint64_t pa, unsigned bytes)
{
	TC_CHECK(bytes == 4 || bytes == 8);
	void *p = physim_dm_phys_to_virt_checked(&e->dm, pa, bytes);
	TC_CHECK(p != NULL);
	return p;
}

uint64_t tc_get_entry(const struct tc_env *e, uint64_t pa, unsigned bytes)
{
	const void *p = entry_at(e, pa, bytes);
	if (bytes == 4) {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

void tc_put_entry(const struct tc_env *e, uint64_t pa, unsigned bytes, uint64_t v)
{
	void *p = entry_at(e, pa, bytes);
	if (bytes == 4) {
		uint32_t w = (uint32_t)v;
		TC_CHECK(w == v);
		memcpy(p, &w, 4);
	} else {
		memcpy(p, &v, 8);
	}
}

uint64_t tc_get64(const struct tc_env *e, uint64_t pa)
{
	return tc_get_entry(e, pa, 8);
}

void tc_put64(const struct tc_env *e, uint64_t pa, uint64_t v)
{
	tc_put_entry(e, pa, 8, v);
}

uint32_t tc_get32(const struct tc_env *e, uint64_t pa)
{
	return (uint32_t)tc_get_entry(e, pa, 4);
}

void tc_put32(const struct tc_env *e, uint64_t pa, uint32_t v)
{
	tc_put_entry(e, pa, 4, v);
}

void tc_zero(const struct tc_env *e, uint64_t pa, uint64_t bytes)
{
	void *p = physim_dm_phys_to_virt_checked(&e->dm, pa, bytes);
	TC_CHECK(p != NULL);
	memset(p, 0, bytes);
}

uint64_t tc_alloc_zeroed(const struct tc_env *e, uint64_t bytes, uint64_t align)
{
	uint64_t pa, nframes = (bytes + PHYSIM_FRAME_SIZE - 1) / PHYSIM_FRAME_SIZE;
	TC_CHECK(nframes > 0);
	if (align < PHYSIM_FRAME_SIZE)
		align = PHYSIM_FRAME_SIZE;
	TC_CHECK(physim_ram_alloc_frames(e->ram, nframes, align, &pa) == 0);
	tc_zero(e, pa, nframes * PHYSIM_FRAME_SIZE);
	return pa;
}

uint64_t tc_frame(const struct tc_env *e)
{
	uint64_t pa;
	TC_CHECK(physim_ram_alloc_frame(e->ram, &pa) == 0);
	tc_zero(e, pa, PHYSIM_FRAME_SIZE);
	return pa;
}

uint64_t tc_x86_slot(const struct tc_env *e, uint64_t root, int levels, uint64_t va, int lvl,
		     uint64_t tbits)
{
	const uint64_t addr_mask = UINT64_C(0x000ffffffffff000);
	uint64_t table = root;
	for (int l = levels - 1; l > lvl; l--) {
		uint64_t slot = table + ((va >> (12 + 9 * l)) & 511) * 8;
		uint64_t d = tc_get64(e, slot);
		if (d == 0) {
			d = tc_frame(e) | tbits;
			tc_put64(e, slot, d);
		}
		table = d & addr_mask;
	}
	return table + ((va >> (12 + 9 * lvl)) & 511) * 8;
}

uint64_t tc_x86_map(const struct tc_env *e, uint64_t root, int levels, uint64_t va, int lvl,
		    uint64_t leaf, uint64_t tbits)
{
	uint64_t slot = tc_x86_slot(e, root, levels, va, lvl, tbits);
	tc_put64(e, slot, leaf);
	return slot;
}

void tc_counted_ram_open(uint64_t base, uint64_t size, struct physim_ram **ram,
			 struct physim_vm_hal *vm_inner, struct physim_counting_hal **ch)
{
	struct physim_ram_config rc = {
	    .base = base, .size = size, .debug = PHYSIM_RAM_DEBUG_POISON};
	TC_CHECK(physim_ram_create(&rc, ram) == 0);
	physim_ram_vm_hal(*ram, NULL, vm_inner);
	struct physim_counting_hal_config cc = {
	    .mm = physim_ram_mm_hal(*ram),
	    .paging = physim_ram_paging_handler(*ram),
	    .vm = vm_inner,
	};
	TC_CHECK(physim_counting_hal_create(&cc, ch) == 0);
}

struct physim_mmu *tc_mmu_new(const struct physim_paging_handler *mem, const char *format,
			      uint64_t root, uint64_t root_hi, const struct physim_mmu_ctl *ctl)
{
	struct physim_mmu_config c = {
	    .format = physim_format(format), .mem = mem, .root = root, .root_hi = root_hi};
	TC_CHECK(c.format != NULL);
	if (ctl != NULL)
		c.ctl = *ctl;
	struct physim_mmu *m;
	TC_CHECK(physim_mmu_create(&c, &m) == 0);
	return m;
}

struct physim_mmu *tc_mmu_of(const struct physim_paging_handler *mem, struct physim_pt *pt)
{
	struct physim_mmu_config c = {
	    .format = physim_pt_format(pt), .mem = mem, .root = physim_pt_root(pt)};
	struct physim_mmu *m;
	TC_CHECK(c.format != NULL && physim_mmu_create(&c, &m) == 0);
	return m;
}
