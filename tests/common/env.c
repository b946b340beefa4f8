/* SPDX-License-Identifier: MIT */
/* tests/common/env.c - RAM + paging handler setup and table memory access
 * for tests and harnesses (env.h). */
#include "env.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

void tc_env_open(struct tc_env *e, uint64_t base, uint64_t size)
{
	memset(e, 0, sizeof(*e));
	TC_CHECK(physim_ram_create(&(struct physim_ram_config){.base = base, .size = size},
				   &e->ram) == 0);
	e->ph = physim_ram_paging_handler(e->ram);
	e->dm = physim_ram_direct_map(e->ram);
}

void tc_env_close(struct tc_env *e)
{
	physim_ram_destroy(e->ram);
	memset(e, 0, sizeof(*e));
}

struct tc_env *tc_env_new(uint64_t size)
{
	struct tc_env *e = calloc(1, sizeof(*e));
	TC_CHECK(e != NULL);
	tc_env_open(e, 0, size);
	return e;
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
