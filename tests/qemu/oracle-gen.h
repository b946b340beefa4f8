/* SPDX-License-Identifier: MIT */
/* tests/qemu/oracle-gen.h - what oracle-gen.c and mutate.c share: the seeded
 * random numbers (over tests/common/rng.h) and the descriptor mutations. */
#ifndef ORACLE_GEN_H
#define ORACLE_GEN_H

#include "common/rng.h"

#include <physim/physim.h>

/* Everything a run does follows from its seed: the numbers come from the
 * tests' one generator (tests/common/rng.h, splitmix64), so a seed gives the
 * same tables and addresses as before the generator moved there. */
struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	return tc_rand(&r->s);
}

/* Uniform in [0, n); n == 0 means the whole 64-bit range (tc_rand_below
 * answers 0 there, so that case is kept here). */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n == 0 ? tc_rand(&r->s) : tc_rand_below(&r->s, n);
}

/* True with probability pct / 100. */
static inline bool rng_pct(struct rng *r, unsigned pct)
{
	return rng_below(r, 100) < pct;
}

static inline uint64_t bit(unsigned n)
{
	return n >= 64 ? 0 : UINT64_C(1) << n;
}

/*
 * Change one valid descriptor `d` found at engine level `level` of a table of
 * format `i` into a random neighbouring encoding whose meaning both physim and
 * QEMU define the same way (see mutate.c for what is left out and why).
 * `nowhere` is a table address with no memory behind it. Returns false if no
 * mutation applies to d; *name says which one was made.
 */
bool mutate_descriptor(const struct physim_pt_format_info *i, unsigned level, uint64_t d,
		       uint64_t nowhere, struct rng *r, uint64_t *out, const char **name);

#endif
