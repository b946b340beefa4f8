/* SPDX-License-Identifier: MIT */
/* tests/common/env.h - a test environment: simulated RAM, its paging handler
 * and direct map, and reads and writes of table entries in it. */
#ifndef PHYSIM_TEST_ENV_H
#define PHYSIM_TEST_ENV_H

#include <physim/ram.h>

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
/* The same on the heap, RAM at physical address 0. */
struct tc_env *tc_env_new(uint64_t size);
void tc_env_free(struct tc_env *e);

/* The `bytes` (4 or 8) bytes at physical address pa, in host order (a table
 * entry); every byte must lie in the RAM. */
uint64_t tc_get_entry(const struct tc_env *e, uint64_t pa, unsigned bytes);
void tc_put_entry(const struct tc_env *e, uint64_t pa, unsigned bytes, uint64_t v);
uint64_t tc_get64(const struct tc_env *e, uint64_t pa);
void tc_put64(const struct tc_env *e, uint64_t pa, uint64_t v);

#endif
