/* SPDX-License-Identifier: MIT */
/* tools/physim-bench/bench-pt.h - the page-table fixtures that the pt, walk
 * and nested areas share: a table in a RAM, a mapped region and its
 * address sequence, and the 4-load chain peer. */

#ifndef PHYSIM_BENCH_PT_H
#define PHYSIM_BENCH_PT_H

#include "bench.h"

/*
 * Tables live in a 64 GiB RAM (MAP_NORESERVE: only the table frames are ever
 * touched). The mapped physical range starts at the RAM's base and is never
 * allocated: a page table does not care whether its pages are in use.
 */
#define PT_VA	     (UINT64_C(1) << 42) /* region start: 4 TiB, lower half everywhere */
#define PT_FLAGS     (PHYSIM_R | PHYSIM_W)
#define PT_RAM_SIZE  (64 * GIB)
#define PT_CHECKS    4096u /* queries a peer must answer as physim does */
#define PT_PAGE_SIZE UINT64_C(4096)
#define PAGE_MASK    (~(PT_PAGE_SIZE - 1))

/* A RAM, its paging handler and one empty table of the case's format. */
struct pt_env {
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
	struct physim_pt *pt;
	struct physim_pt_format_info info;
};

/* -ENOTSUP when the format's family is not compiled in (-Darchs). */
int pt_env_open(const struct bench_params *p, struct pt_env *e);
void pt_env_close(struct pt_env *e);

/*
 * A region mapped with 4 KiB pages and the addresses to query in it, shared
 * by physim's query and its peers within a case, so that all of them read
 * the same table memory in the same order. Made by the first setup of a
 * case, freed by its last teardown (cases run one at a time).
 */
struct pt_fixture {
	unsigned users;
	struct bench_params key;
	struct pt_env env;
	physim_hpa_t root;
	struct physim_direct_map dm;
	/* PT_VA, read at run time: were the base a constant, the compiler
	 * could see that the root index of every query is the same and hoist
	 * the root descriptor load out of the chain loop. */
	uint64_t va;
	uint32_t *offs; /* byte offsets from va, one per query */
	uint64_t n;
};

/* The case's fixture: made on first use, shared while users remain; -EBUSY
 * if another case's fixture is still in use. */
int fixture_get(const struct bench_params *p, struct pt_fixture **out);
void fixture_put(struct pt_fixture *fx);

/* Peers are written for 4 levels of 512 entries over 4 KiB pages. */
bool fixture_geometry_ok(const struct physim_pt_format_info *info);

/* Sequential: one query per page in address order, wrapping around the
 * region. Random: uniform byte addresses (the region is a power of two). */
void make_offsets(uint32_t *offs, uint64_t n, const struct bench_params *p);

static inline uint64_t query_next(const struct pt_fixture *fx, uint64_t *pos)
{
	uint64_t va = fx->va + fx->offs[*pos];
	*pos = *pos + 1 == fx->n ? 0 : *pos + 1;
	return va;
}

/* The limit of a 4-level walk over the fixture: 4 dependent loads. Peer 0
 * of the query and walk cases. */
extern const struct bench_impl peer_pt_chain;

#endif
