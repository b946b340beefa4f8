/* SPDX-License-Identifier: MIT */
/* tests/common/rng.h - the tests' one random generator: splitmix64 over a
 * caller-held 64-bit state, so a seed reproduces a run exactly. */
#ifndef PHYSIM_TEST_RNG_H
#define PHYSIM_TEST_RNG_H

#include <stdint.h>

/* Advance *state and return the next number. Any seed is valid. */
uint64_t tc_rand(uint64_t *state);

/* A number in [0, n), by modulo (0 when n is 0). */
uint64_t tc_rand_below(uint64_t *state, uint64_t n);

#endif
