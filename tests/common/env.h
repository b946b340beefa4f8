/* SPDX-License-Identifier: MIT */
/* tests/common/env.h - a test environment: simulated RAM, its paging handler
 * and direct map, and 64-bit reads and writes of table memory in it. */
#ifndef PHYSIM_TEST_ENV_H
#define PHYSIM_TEST_ENV_H

#include <physim/ram.h>

#include <stdint.h>

struct tc_env {
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
	struct physim_direct_map dm;
};

/* RAM of `size` bytes and its handler; a failure fails the check. */
struct tc_env *tc_env_new(uint64_t size);
void tc_env_free(struct tc_env *e);

/* The 8 bytes at physical address pa, in host order (table entries). */
void tc_put64(const struct tc_env *e, uint64_t pa, uint64_t v);
uint64_t tc_get64(const struct tc_env *e, uint64_t pa);

#endif
