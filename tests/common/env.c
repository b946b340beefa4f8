/* SPDX-License-Identifier: MIT */
/* tests/common/env.c - RAM + paging handler setup and table memory access
 * for tests and harnesses (env.h). */
#include "env.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

struct tc_env *tc_env_new(uint64_t size)
{
	struct tc_env *e = calloc(1, sizeof(*e));
	TC_CHECK(e != NULL);
	TC_CHECK(physim_ram_create(&(struct physim_ram_config){.size = size}, &e->ram) == 0);
	e->ph = physim_ram_paging_handler(e->ram);
	e->dm = physim_ram_direct_map(e->ram);
	return e;
}

void tc_env_free(struct tc_env *e)
{
	if (e == NULL)
		return;
	physim_ram_destroy(e->ram);
	free(e);
}

void tc_put64(const struct tc_env *e, uint64_t pa, uint64_t v)
{
	memcpy(physim_dm_phys_to_virt(&e->dm, pa), &v, 8);
}

uint64_t tc_get64(const struct tc_env *e, uint64_t pa)
{
	uint64_t v;
	memcpy(&v, physim_dm_phys_to_virt(&e->dm, pa), 8);
	return v;
}
