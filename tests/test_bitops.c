/* SPDX-License-Identifier: MIT */
/* tests/test_bitops.c - every helper of lib/bitops.h against a naive
 * bit-by-bit reference, over edge words and seeded random words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/rng.h"

#include <pthread.h>

#include "bitops.h"

#define NRANDOM 4000

/* ---- reference: one bit at a time ---- */

static int ref_bit(uint64_t w, unsigned i)
{
	return (int)((w >> i) & 1);
}

static uint64_t ref_mask(unsigned lo, unsigned n)
{
	uint64_t m = 0;
	for (unsigned i = lo; i < lo + n; i++)
		m |= UINT64_C(1) << i;
	return m;
}

static unsigned ref_find(uint64_t w, unsigned pos, int value)
{
	for (unsigned i = pos; i < 64; i++)
		if (ref_bit(w, i) == value)
			return i;
	return 64;
}

static unsigned ref_popcount(uint64_t w)
{
	unsigned n = 0;
	for (unsigned i = 0; i < 64; i++)
		n += (unsigned)ref_bit(w, i);
	return n;
}

static unsigned ref_zero_run(uint64_t w, unsigned pos)
{
	unsigned n = 0;
	while (pos + n < 64 && ref_bit(w, pos + n) == 0)
		n++;
	return n;
}

/* ---- inputs ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	/* Fixed seed, so a failure reproduces. */
	return tc_rand(&rng_state);
}

/* Random words of varied density: sparse, dense, half. */
static uint64_t rnd_word(void)
{
	switch (rnd() % 4) {
	case 0:
		return rnd() & rnd() & rnd();
	case 1:
		return rnd() | rnd() | rnd();
	default:
		return rnd();
	}
}

static const uint64_t edge_words[] = {
    0,
    UINT64_MAX,
    1,
    UINT64_C(1) << 63,
    UINT64_MAX - 1,
    UINT64_MAX >> 1,
    UINT64_C(0x5555555555555555),
    UINT64_C(0xaaaaaaaaaaaaaaaa),
    UINT64_C(0x00000000ffffffff),
    UINT64_C(0xffffffff00000000),
    UINT64_C(0x8000000000000001),
    UINT64_C(0x7ffffffffffffffe),
    UINT64_C(0x0f0f0f0f0f0f0f0f),
};
#define NEDGE (sizeof(edge_words) / sizeof(edge_words[0]))

static uint64_t input_word(unsigned i)
{
	return i < NEDGE ? edge_words[i] : rnd_word();
}

/* ---- tests ---- */

static void test_ctz_popcount(void **state)
{
	(void)state;
	for (unsigned i = 0; i < NEDGE + NRANDOM; i++) {
		uint64_t w = input_word(i);
		assert_int_equal(bitops_popcount(w), ref_popcount(w));
		if (w != 0)
			assert_int_equal(bitops_ctz(w), ref_find(w, 0, 1));
	}
	for (unsigned b = 0; b < 64; b++) {
		assert_int_equal(bitops_ctz(UINT64_C(1) << b), b);
		assert_int_equal(bitops_popcount(UINT64_MAX << b), 64 - b);
	}
}

static void test_masks(void **state)
{
	(void)state;
	for (unsigned lo = 0; lo <= 64; lo++) {
		assert_true(bitops_mask_from(lo) == ref_mask(lo, 64 - lo));
		for (unsigned n = 0; lo + n <= 64; n++)
			assert_true(bitops_mask(lo, n) == ref_mask(lo, n));
	}
	/* Hand-computed spot checks, independent of ref_mask. */
	assert_true(bitops_mask(0, 64) == UINT64_MAX);
	assert_true(bitops_mask(4, 4) == 0xf0);
	assert_true(bitops_mask(63, 1) == UINT64_C(0x8000000000000000));
	assert_true(bitops_mask_from(64) == 0);
	assert_true(bitops_mask_from(60) == UINT64_C(0xf000000000000000));
}

static void test_find_from(void **state)
{
	(void)state;
	for (unsigned i = 0; i < NEDGE + NRANDOM; i++) {
		uint64_t w = input_word(i);
		for (unsigned pos = 0; pos <= 64; pos++) {
			assert_int_equal(bitops_find_one_from(w, pos), ref_find(w, pos, 1));
			assert_int_equal(bitops_find_zero_from(w, pos), ref_find(w, pos, 0));
			assert_int_equal(bitops_zero_run_from(w, pos), ref_zero_run(w, pos));
		}
	}
	assert_int_equal(bitops_find_zero_from(UINT64_MAX, 0), 64);
	assert_int_equal(bitops_find_one_from(0, 0), 64);
	assert_int_equal(bitops_find_zero_from(0xff, 3), 8);
	assert_int_equal(bitops_zero_run_from(0x100, 2), 6);
	assert_int_equal(bitops_zero_run_from(0, 10), 54);
}

/* Walks [pos, end) over a 6-word bitmap and rebuilds the bits it names. */
static void check_range_walk(uint64_t pos, uint64_t end)
{
	uint64_t got[6] = {0};
	uint64_t p = pos, last_word = UINT64_MAX;
	unsigned steps = 0;
	while (p < end) {
		uint64_t word, before = p;
		uint64_t mask = bitops_range_step(&p, end, &word);
		assert_true(mask != 0);
		assert_true(p > before && p <= end);
		assert_true(word == before / 64);
		if (last_word != UINT64_MAX)
			assert_true(word == last_word + 1);
		last_word = word;
		assert_true((got[word] & mask) == 0);
		got[word] |= mask;
		steps++;
		assert_true(steps <= 6);
	}
	for (unsigned b = 0; b < 6 * 64; b++)
		assert_int_equal(ref_bit(got[b / 64], b % 64), b >= pos && b < end);
}

static void test_range_step(void **state)
{
	(void)state;
	for (uint64_t pos = 0; pos < 6 * 64; pos += 7)
		for (uint64_t end = pos; end <= 6 * 64; end += 5)
			check_range_walk(pos, end);
	check_range_walk(0, 64);
	check_range_walk(63, 65);
	check_range_walk(64, 128);
	check_range_walk(0, 6 * 64);
	for (unsigned i = 0; i < NRANDOM; i++) {
		uint64_t a = rnd() % (6 * 64 + 1), b = rnd() % (6 * 64 + 1);
		check_range_walk(a < b ? a : b, a < b ? b : a);
	}
}

static uint64_t rnd_mask(void)
{
	unsigned lo = (unsigned)(rnd() % 64);
	unsigned n = 1 + (unsigned)(rnd() % (64 - lo));
	return rnd() % 3 == 0 ? rnd_word() : ref_mask(lo, n);
}

static void test_try_set_clear(void **state)
{
	(void)state;
	for (unsigned i = 0; i < NEDGE + NRANDOM; i++) {
		uint64_t w = input_word(i), m = rnd_mask();
		bool all_clear = true, all_set = true;
		uint64_t ored = w, anded = w;
		for (unsigned b = 0; b < 64; b++) {
			if (!ref_bit(m, b))
				continue;
			all_clear &= !ref_bit(w, b);
			all_set &= ref_bit(w, b) != 0;
			ored |= UINT64_C(1) << b;
			anded &= ~(UINT64_C(1) << b);
		}

		_Atomic uint64_t a = w;
		uint64_t out = 12345;
		assert_int_equal(bitops_try_set_mask(&a, m, &out), all_clear);
		assert_true(atomic_load(&a) == (all_clear ? ored : w));
		if (all_clear)
			assert_true(out == ored);

		atomic_store(&a, w);
		out = 12345;
		assert_int_equal(bitops_try_clear_mask(&a, m, &out), all_set);
		assert_true(atomic_load(&a) == (all_set ? anded : w));
		if (all_set)
			assert_true(out == w);

		atomic_store(&a, w);
		assert_true(bitops_set_bits(&a, m) == w);
		assert_true(atomic_load(&a) == ored);
		atomic_store(&a, w);
		assert_true(bitops_clear_bits(&a, m) == w);
		assert_true(atomic_load(&a) == anded);
	}
}

static void test_test_and_clear(void **state)
{
	(void)state;
	for (unsigned i = 0; i < NEDGE + NRANDOM; i++) {
		uint64_t w = input_word(i);
		for (unsigned b = 0; b < 64; b++) {
			_Atomic uint64_t a = w;
			uint64_t without = w & ~ref_mask(b, 1);
			assert_int_equal(bitops_test_and_clear(&a, b), ref_bit(w, b));
			assert_true(atomic_load(&a) == without);
			/* Again: the bit is clear now, and nothing changes. */
			assert_false(bitops_test_and_clear(&a, b));
			assert_true(atomic_load(&a) == without);
		}
	}
	_Atomic uint64_t a = UINT64_C(0x8000000000000001);
	assert_true(bitops_test_and_clear(&a, 63));
	assert_true(atomic_load(&a) == 1);
	assert_false(bitops_test_and_clear(&a, 62));
	assert_true(bitops_test_and_clear(&a, 0));
	assert_true(atomic_load(&a) == 0);
}

static void test_claim_lowest_zero(void **state)
{
	(void)state;
	for (unsigned i = 0; i < NEDGE + NRANDOM; i++) {
		uint64_t w = input_word(i);
		_Atomic uint64_t a = w;
		unsigned bit = 99;
		uint64_t after = 0;
		unsigned want = ref_find(w, 0, 0);
		bool ok = bitops_claim_lowest_zero(&a, &bit, &after);
		assert_int_equal(ok, want < 64);
		if (ok) {
			assert_int_equal(bit, want);
			assert_true(after == (w | (UINT64_C(1) << want)));
			assert_true(atomic_load(&a) == after);
		} else {
			assert_true(atomic_load(&a) == w);
		}
	}
	/* Claiming repeatedly from empty hands out 0, 1, ..., 63, then fails. */
	_Atomic uint64_t a = 0;
	for (unsigned want = 0; want < 64; want++) {
		unsigned bit;
		uint64_t after;
		assert_true(bitops_claim_lowest_zero(&a, &bit, &after));
		assert_int_equal(bit, want);
	}
	unsigned bit;
	uint64_t after;
	assert_false(bitops_claim_lowest_zero(&a, &bit, &after));
}

/* Several threads claim bits of the same words: each bit exactly once. */
#define NTHREADS 4
#define NWORDS	 64

struct claim_arg {
	_Atomic uint64_t *words;
	_Atomic int *owner; /* per bit: how many claims it got */
};

static void *claim_thread(void *p)
{
	struct claim_arg *arg = p;
	for (unsigned round = 0; round < 200; round++) {
		for (unsigned i = 0; i < NWORDS; i++) {
			unsigned bit;
			uint64_t after;
			while (bitops_claim_lowest_zero(&arg->words[i], &bit, &after))
				atomic_fetch_add(&arg->owner[i * 64 + bit], 1);
			/* Give back bits 5 and 40 if they are set, and run again.
			 * Both ways of clearing: only a caller that really cleared
			 * a bit may give up its claim. */
			uint64_t before;
			if (bitops_try_clear_mask(&arg->words[i], UINT64_C(1) << 5, &before))
				atomic_fetch_sub(&arg->owner[i * 64 + 5], 1);
			if (bitops_test_and_clear(&arg->words[i], 40))
				atomic_fetch_sub(&arg->owner[i * 64 + 40], 1);
		}
	}
	return NULL;
}

static void test_claim_threads(void **state)
{
	(void)state;
	static _Atomic uint64_t words[NWORDS];
	static _Atomic int owner[NWORDS * 64];
	struct claim_arg arg = {words, owner};
	pthread_t t[NTHREADS];
	for (unsigned i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, claim_thread, &arg), 0);
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	for (unsigned i = 0; i < NWORDS; i++) {
		uint64_t w = atomic_load(&words[i]);
		for (unsigned b = 0; b < 64; b++)
			assert_int_equal(atomic_load(&owner[i * 64 + b]), ref_bit(w, b));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ctz_popcount),      cmocka_unit_test(test_masks),
	    cmocka_unit_test(test_find_from),	      cmocka_unit_test(test_range_step),
	    cmocka_unit_test(test_try_set_clear),     cmocka_unit_test(test_test_and_clear),
	    cmocka_unit_test(test_claim_lowest_zero), cmocka_unit_test(test_claim_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
