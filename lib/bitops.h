/* SPDX-License-Identifier: MIT */
/* lib/bitops.h - bit tricks on 64-bit words for the bitmaps (bitmap.c,
 * aspace.c's dirty log): masks for bit runs, find-first-zero/one from a
 * position, and atomic claims of a bit run inside one word. Bit i of a word
 * is (w >> i) & 1. */
#ifndef PHYSIM_BITOPS_H
#define PHYSIM_BITOPS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define BITOPS_WORD_BITS 64u
#define BITOPS_FULL	 UINT64_MAX

/* Index of the lowest set bit; w must not be 0. */
static inline unsigned bitops_ctz(uint64_t w)
{
	return (unsigned)__builtin_ctzll(w);
}

static inline unsigned bitops_popcount(uint64_t w)
{
	return (unsigned)__builtin_popcountll(w);
}

/* Bits [lo, 64); lo in [0, 64] (64 gives 0). */
static inline uint64_t bitops_mask_from(unsigned lo)
{
	return lo >= BITOPS_WORD_BITS ? 0 : BITOPS_FULL << lo;
}

/* n bits starting at bit lo; lo + n <= 64 (n may be 0 or 64). */
static inline uint64_t bitops_mask(unsigned lo, unsigned n)
{
	if (n == 0)
		return 0;
	return (BITOPS_FULL >> (BITOPS_WORD_BITS - n)) << lo;
}

/* Lowest set bit at index >= pos, or 64 if there is none; pos in [0, 64]. */
static inline unsigned bitops_find_one_from(uint64_t w, unsigned pos)
{
	uint64_t m = w & bitops_mask_from(pos);
	return m == 0 ? BITOPS_WORD_BITS : bitops_ctz(m);
}

/* Lowest clear bit at index >= pos, or 64 if there is none; pos in [0, 64]. */
static inline unsigned bitops_find_zero_from(uint64_t w, unsigned pos)
{
	return bitops_find_one_from(~w, pos);
}

/* Length of the run of clear bits that starts at pos (0 if bit pos is set,
 * 64 - pos if all bits from pos up are clear); pos in [0, 64]. */
static inline unsigned bitops_zero_run_from(uint64_t w, unsigned pos)
{
	return bitops_find_one_from(w, pos) - pos;
}

/*
 * Walking a bit range [pos, end) of a bitmap one word at a time:
 *
 *	for (uint64_t p = first; p < end;) {
 *		uint64_t word;
 *		uint64_t mask = bitops_range_step(&p, end, &word);
 *		...
 *	}
 *
 * Each step yields the index of the word holding bit *pos and the mask of
 * the range's bits inside it, then moves *pos to the first bit after them.
 */
static inline uint64_t bitops_range_step(uint64_t *pos, uint64_t end, uint64_t *word)
{
	unsigned lo = (unsigned)(*pos % BITOPS_WORD_BITS);
	uint64_t room = BITOPS_WORD_BITS - lo;
	unsigned n = (unsigned)(end - *pos < room ? end - *pos : room);
	*word = *pos / BITOPS_WORD_BITS;
	*pos += n;
	return bitops_mask(lo, n);
}

/*
 * Atomic claims. All are sequentially consistent: the allocator relies on a
 * single total order between word updates and its summary bits (bitmap.c).
 */

/* Set every bit of mask if all of them were clear; otherwise change nothing
 * and return false. *after receives the word as this call left it. */
static inline bool bitops_try_set_mask(_Atomic uint64_t *w, uint64_t mask, uint64_t *after)
{
	uint64_t old = atomic_load(w);
	do {
		if ((old & mask) != 0)
			return false;
	} while (!atomic_compare_exchange_weak(w, &old, old | mask));
	*after = old | mask;
	return true;
}

/* Clear every bit of mask if all of them were set; otherwise change nothing
 * and return false. *before receives the word as this call found it. */
static inline bool bitops_try_clear_mask(_Atomic uint64_t *w, uint64_t mask, uint64_t *before)
{
	uint64_t old = atomic_load(w);
	do {
		if ((old & mask) != mask)
			return false;
	} while (!atomic_compare_exchange_weak(w, &old, old & ~mask));
	*before = old;
	return true;
}

/* Set the lowest clear bit; false if the word is full. *bit receives its
 * index and *after the word as this call left it. */
static inline bool bitops_claim_lowest_zero(_Atomic uint64_t *w, unsigned *bit, uint64_t *after)
{
	uint64_t old = atomic_load(w);
	uint64_t mask;
	do {
		if (old == BITOPS_FULL)
			return false;
		mask = ~old & (old + 1); /* the lowest clear bit alone */
	} while (!atomic_compare_exchange_weak(w, &old, old | mask));
	*bit = bitops_ctz(mask);
	*after = old | mask;
	return true;
}

/* Clear bit `bit` (< 64); true if it was set. If it was clear nothing
 * changed, so a single bit needs no compare-and-swap loop (x86: lock btr). */
static inline bool bitops_test_and_clear(_Atomic uint64_t *w, unsigned bit)
{
	uint64_t mask = UINT64_C(1) << bit;
	return (atomic_fetch_and(w, ~mask) & mask) != 0;
}

/* Unconditional forms; return the word as it was before. */
static inline uint64_t bitops_set_bits(_Atomic uint64_t *w, uint64_t mask)
{
	return atomic_fetch_or(w, mask);
}

static inline uint64_t bitops_clear_bits(_Atomic uint64_t *w, uint64_t mask)
{
	return atomic_fetch_and(w, ~mask);
}

#endif
