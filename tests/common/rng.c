/* SPDX-License-Identifier: MIT */
/* tests/common/rng.c - splitmix64 (Steele, Lea, Flood 2014), see rng.h. */
#include "rng.h"

uint64_t tc_rand(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

uint64_t tc_rand_below(uint64_t *state, uint64_t n)
{
	return n ? tc_rand(state) % n : 0;
}
