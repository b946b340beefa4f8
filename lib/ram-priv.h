/* SPDX-License-Identifier: MIT */
/* lib/ram-priv.h - the seam between the RAM/allocator (ram.c) and the
 * default HAL vtables over it (ram_hal.c). */
#ifndef PHYSIM_RAM_PRIV_H
#define PHYSIM_RAM_PRIV_H

#include <physim/ram.h>
#include "physim-priv.h"

/* The vtables a RAM hands out; embedded in struct physim_ram. */
struct physim_ram_hals {
	struct physim_mm_hal mm;
	struct physim_paging_handler paging;
	struct physim_memory_if memory_if;
};

/* ram_hal.c: fill the vtables for `ram` (ctx = ram, direct map set). Called
 * once by physim_ram_create after the mapping exists. */
PHYSIM_HIDDEN void physim_ram_hals_init(struct physim_ram_hals *hals, struct physim_ram *ram);

/* ram.c: whether the RAM hands out zeroed frames (config.zero_frames), for
 * the image's header flags. */
PHYSIM_HIDDEN bool physim_ram_zeroes_frames(const struct physim_ram *ram);

/* ram.c: the embedded vtables of a RAM. */
PHYSIM_HIDDEN struct physim_ram_hals *physim_ram_hals(struct physim_ram *ram);

#endif
