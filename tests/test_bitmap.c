/* SPDX-License-Identifier: MIT */
/* tests/test_bitmap.c - lib/bitmap.c against a plain bool-array model:
 * seeded random claim/release/search sequences over sizes that cross word
 * and summary boundaries (with a partial last word), through the summary
 * and through the level-0 scan; concurrent claims never hand out one bit
 * twice. PHYSIM_SEED=<n> in the environment runs that seed only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/rng.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap-priv.h"

#define NONE BITMAP_NONE

/* ---- random numbers (tests/common/rng.h) ---- */

static uint64_t next_rand(uint64_t *s)
{
	return tc_rand(s);
}

static uint64_t rand_below(uint64_t *s, uint64_t n)
{
	return tc_rand_below(s, n);
}

/* ---- the reference model: one bool per bit ---- */

struct model {
	bool *bit;
	uint64_t n;
	uint64_t nset;
};

static uint64_t model_lowest_clear(const struct model *m, uint64_t from)
{
	for (uint64_t i = from; i < m->n; i++)
		if (!m->bit[i])
			return i;
	return NONE;
}

/* The lowest start >= from of count clear bits with (start + phase) %
 * align == 0: bit by bit, tracking the clear run that ends at i. */
static uint64_t model_lowest_run(const struct model *m, uint64_t from, uint64_t count,
				 uint64_t align, uint64_t phase)
{
	uint64_t run = 0;
	for (uint64_t i = from; i < m->n; i++) {
		run = m->bit[i] ? 0 : run + 1;
		if (run >= count) {
			uint64_t start = i + 1 - count;
			if ((start + phase) % align == 0)
				return start;
		}
	}
	return NONE;
}

static bool model_all(const struct model *m, uint64_t first, uint64_t count, bool value)
{
	for (uint64_t i = first; i < first + count; i++)
		if (m->bit[i] != value)
			return false;
	return true;
}

static void model_fill(struct model *m, uint64_t first, uint64_t count, bool value)
{
	for (uint64_t i = first; i < first + count; i++) {
		if (m->bit[i] != value)
			m->nset += value ? 1 : UINT64_MAX; /* +1 or -1 */
		m->bit[i] = value;
	}
}

/* ---- one random run ---- */

struct run {
	struct bitmap bm;
	struct model m;
	uint64_t rng, seed;
	const char *what;
	unsigned op;
};

#define CHECK(r, cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			char msg_[200];                                                            \
			snprintf(msg_, sizeof(msg_), __VA_ARGS__);                                 \
			fail_msg("%s: %s (seed %" PRIu64 ", nbits %" PRIu64 ", op %u)", (r)->what, \
				 msg_, (r)->seed, (r)->m.n, (r)->op);                              \
		}                                                                                  \
	} while (0)

/* Every bit and the set count agree with the model. */
static void check_all(struct run *r)
{
	for (uint64_t i = 0; i < r->m.n; i++)
		CHECK(r, physim_bitmap_test(&r->bm, i) == r->m.bit[i], "bit %" PRIu64 " is %d", i,
		      (int)physim_bitmap_test(&r->bm, i));
	CHECK(r, physim_bitmap_count_set(&r->bm) == r->m.nset,
	      "count_set %" PRIu64 ", model %" PRIu64, physim_bitmap_count_set(&r->bm), r->m.nset);
}

/* A run length: mostly short, sometimes crossing several words, sometimes
 * long enough to cross a summary word (4096 bits). */
static uint64_t rand_count(struct run *r)
{
	uint64_t c;
	switch (rand_below(&r->rng, 8)) {
	case 0:
		c = 1 + rand_below(&r->rng, 5000);
		break;
	case 1:
	case 2:
		c = 60 + rand_below(&r->rng, 200);
		break;
	default:
		c = 1 + rand_below(&r->rng, 70);
		break;
	}
	return c > r->m.n ? r->m.n : c;
}

/* A start near a word or summary boundary half of the time. */
static uint64_t rand_pos(struct run *r)
{
	uint64_t p;
	if (rand_below(&r->rng, 2) == 0) {
		uint64_t unit = rand_below(&r->rng, 2) ? 64 : 4096;
		p = rand_below(&r->rng, r->m.n / unit + 1) * unit;
		p = p + rand_below(&r->rng, 5) - 2;
	} else {
		p = rand_below(&r->rng, r->m.n);
	}
	return p < r->m.n ? p : r->m.n - 1;
}

static void op_claim_any(struct run *r)
{
	uint64_t bit = NONE;
	uint64_t expect_any = model_lowest_clear(&r->m, 0);
	bool ok = physim_bitmap_claim_any(&r->bm, &bit);
	CHECK(r, ok == (expect_any != NONE), "claim_any returned %d", (int)ok);
	if (!ok)
		return;
	CHECK(r, bit < r->m.n && !r->m.bit[bit], "claim_any gave bit %" PRIu64 ", not free", bit);
	model_fill(&r->m, bit, 1, true);
}

static void op_release_bit(struct run *r)
{
	uint64_t bit = rand_pos(r);
	bool expect = r->m.bit[bit];
	CHECK(r, physim_bitmap_release_bit(&r->bm, bit) == expect, "release_bit %" PRIu64, bit);
	model_fill(&r->m, bit, 1, false);
}

static void op_claim_run(struct run *r)
{
	uint64_t first = rand_pos(r), count = rand_count(r);
	if (count > r->m.n - first)
		count = r->m.n - first;
	bool expect = model_all(&r->m, first, count, false);
	CHECK(r, physim_bitmap_claim_run(&r->bm, first, count) == expect,
	      "claim_run %" PRIu64 "+%" PRIu64, first, count);
	if (expect)
		model_fill(&r->m, first, count, true);
}

static void op_release_run(struct run *r)
{
	uint64_t first = rand_pos(r), count = rand_count(r);
	if (count > r->m.n - first)
		count = r->m.n - first;
	bool expect = model_all(&r->m, first, count, true);
	CHECK(r, physim_bitmap_all_set(&r->bm, first, count) == expect,
	      "all_set %" PRIu64 "+%" PRIu64, first, count);
	CHECK(r, physim_bitmap_release_run(&r->bm, first, count) == expect,
	      "release_run %" PRIu64 "+%" PRIu64, first, count);
	if (expect)
		model_fill(&r->m, first, count, false);
}

static void rand_align(struct run *r, uint64_t *align, uint64_t *phase)
{
	*align = UINT64_C(1) << rand_below(&r->rng, 10);
	*phase = rand_below(&r->rng, 2) ? 0 : next_rand(&r->rng);
}

static void op_claim_free_run(struct run *r)
{
	uint64_t count = rand_count(r), align, phase, first = NONE;
	rand_align(r, &align, &phase);
	uint64_t expect = model_lowest_run(&r->m, 0, count, align, phase % align);
	bool ok = physim_bitmap_claim_free_run(&r->bm, count, align, phase, &first);
	CHECK(r, ok == (expect != NONE),
	      "claim_free_run %" PRIu64 " align %" PRIu64 ": %d, model %" PRIu64, count, align,
	      (int)ok, expect);
	if (!ok)
		return;
	CHECK(r, first == expect, "claim_free_run at %" PRIu64 ", model %" PRIu64, first, expect);
	model_fill(&r->m, first, count, true);
}

static void op_find(struct run *r)
{
	uint64_t from = rand_pos(r);
	uint64_t got = physim_bitmap_find_clear(&r->bm, from);
	uint64_t expect = model_lowest_clear(&r->m, from);
	CHECK(r, got == expect, "find_clear from %" PRIu64 ": %" PRIu64 ", model %" PRIu64, from,
	      got, expect);

	uint64_t count = rand_count(r), align, phase;
	rand_align(r, &align, &phase);
	got = physim_bitmap_find_clear_run(&r->bm, from, count, align, phase);
	expect = model_lowest_run(&r->m, from, count, align, phase % align);
	CHECK(r, got == expect,
	      "find_clear_run from %" PRIu64 " count %" PRIu64 " align %" PRIu64 ": %" PRIu64
	      ", model %" PRIu64,
	      from, count, align, got, expect);
}

/* Phases: filling (claims dominate) and draining (releases dominate), so
 * whole words and whole summary words fill up and empty again. */
static void random_run(uint64_t nbits, uint64_t seed, unsigned nops, bool scan_only)
{
	struct run *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->what = scan_only ? "scan" : "summary";
	r->seed = seed;
	r->rng = seed;
	assert_int_equal(physim_bitmap_init(&r->bm, nbits), 0);
	if (scan_only)
		r->bm.search_passes = 0;
	r->m.n = nbits;
	r->m.bit = calloc(nbits, sizeof(bool));
	assert_non_null(r->m.bit);
	check_all(r);

	for (r->op = 0; r->op < nops; r->op++) {
		bool filling = (r->op / 400) % 2 == 0;
		unsigned pick = (unsigned)rand_below(&r->rng, 100);
		if (filling) {
			if (pick < 40)
				op_claim_any(r);
			else if (pick < 60)
				op_claim_run(r);
			else if (pick < 75)
				op_claim_free_run(r);
			else if (pick < 85)
				op_find(r);
			else if (pick < 95)
				op_release_bit(r);
			else
				op_release_run(r);
		} else {
			if (pick < 35)
				op_release_bit(r);
			else if (pick < 60)
				op_release_run(r);
			else if (pick < 70)
				op_claim_any(r);
			else if (pick < 80)
				op_claim_run(r);
			else if (pick < 85)
				op_claim_free_run(r);
			else
				op_find(r);
		}
		if (r->op % 97 == 0)
			check_all(r);
	}
	check_all(r);
	physim_bitmap_fini(&r->bm);
	free(r->m.bit);
	free(r);
}

/* Sizes: below, at and past one word; at and past one summary word (4096);
 * three levels (past 64^2 words); four levels (past 64^3 bits). */
static const uint64_t model_sizes[] = {1, 63, 64, 65, 200, 4095, 4096, 4097, 20011, 262144 + 77};

static void run_seeds(bool scan_only)
{
	uint64_t seeds[] = {1, 2, 0x5eed};
	size_t nseeds = sizeof(seeds) / sizeof(seeds[0]);
	const char *env = getenv("PHYSIM_SEED");
	if (env != NULL) {
		seeds[0] = strtoull(env, NULL, 0);
		nseeds = 1;
	}
	for (size_t s = 0; s < sizeof(model_sizes) / sizeof(model_sizes[0]); s++) {
		uint64_t n = model_sizes[s];
		unsigned nops = n > 100000 ? 1200 : 4000;
		for (size_t i = 0; i < nseeds; i++)
			random_run(n, seeds[i] * 1000003 + n, nops, scan_only);
	}
}

static void test_model_summary(void **state)
{
	(void)state;
	run_seeds(false);
}

static void test_model_scan(void **state)
{
	(void)state;
	run_seeds(true);
}

/* ---- directed cases ---- */

static void test_init(void **state)
{
	(void)state;
	struct bitmap bm;
	assert_int_equal(physim_bitmap_init(&bm, 0), -EINVAL);
	assert_null(bm.mem);
	assert_int_equal(physim_bitmap_init(&bm, BITMAP_MAX_BITS + 1), -EINVAL);
	physim_bitmap_fini(&bm); /* harmless after a failed init */

	/* Levels: 64-way fan-out up to a single word. */
	const struct {
		uint64_t nbits;
		unsigned nlevels;
	} shapes[] = {{1, 1}, {64, 1}, {65, 2}, {4096, 2}, {4097, 3}, {262144, 3}, {262145, 4}};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		assert_int_equal(physim_bitmap_init(&bm, shapes[i].nbits), 0);
		assert_int_equal(bm.nlevels, shapes[i].nlevels);
		/* The tail bits of the last word are set but not counted. */
		assert_int_equal(physim_bitmap_count_set(&bm), 0);
		assert_int_equal(physim_bitmap_find_clear(&bm, 0), 0);
		assert_int_equal(physim_bitmap_find_clear(&bm, shapes[i].nbits - 1),
				 shapes[i].nbits - 1);
		assert_int_equal(physim_bitmap_find_clear(&bm, shapes[i].nbits), NONE);
		physim_bitmap_fini(&bm);
		physim_bitmap_fini(&bm);
	}
}

/* Fill a 3-level bitmap with single claims (the summary learns nothing),
 * then release one bit deep inside: every search must find it, and once it
 * is taken again none may find anything. */
static void test_fill_then_release_one(void **state)
{
	(void)state;
	const uint64_t n = 3 * 4096 + 100;
	struct bitmap bm;
	assert_int_equal(physim_bitmap_init(&bm, n), 0);
	uint64_t bit, claimed = 0;
	while (physim_bitmap_claim_any(&bm, &bit)) {
		assert_true(bit < n);
		claimed++;
	}
	assert_int_equal(claimed, n);
	assert_int_equal(physim_bitmap_count_set(&bm), n);
	assert_int_equal(physim_bitmap_find_clear(&bm, 0), NONE);
	/* That search recorded every full word up the tree: the top says full. */
	assert_int_equal(bm.nlevels, 3);
	assert_true(atomic_load(&bm.level[2][0]) == BITOPS_FULL);

	const uint64_t holes[] = {0, 63, 64, 4095, 4096, 8191, n - 1, 5000};
	for (size_t i = 0; i < sizeof(holes) / sizeof(holes[0]); i++) {
		assert_true(physim_bitmap_release_bit(&bm, holes[i]));
		assert_false(physim_bitmap_release_bit(&bm, holes[i]));
		/* No summary bit above the hole still says "full". */
		for (unsigned k = 1; k < bm.nlevels; k++) {
			uint64_t idx = holes[i] >> (6 * k); /* word of level k - 1 */
			uint64_t sum = atomic_load(&bm.level[k][idx / 64]);
			assert_int_equal((sum >> (idx % 64)) & 1, 0);
		}
		assert_int_equal(physim_bitmap_find_clear(&bm, 0), holes[i]);
		assert_true(physim_bitmap_claim_any(&bm, &bit));
		assert_int_equal(bit, holes[i]);
		assert_false(physim_bitmap_claim_any(&bm, &bit));
	}
	/* A released run crossing a summary word comes back as one run. */
	assert_true(physim_bitmap_release_run(&bm, 4000, 200));
	assert_int_equal(physim_bitmap_count_set(&bm), n - 200);
	uint64_t first;
	assert_false(physim_bitmap_claim_free_run(&bm, 201, 1, 0, &first));
	assert_true(physim_bitmap_claim_free_run(&bm, 200, 1, 0, &first));
	assert_int_equal(first, 4000);
	assert_int_equal(physim_bitmap_count_set(&bm), n);
	physim_bitmap_fini(&bm);
}

/* A claim or release that meets a conflict in its last word changes
 * nothing, including the words it had already taken. */
static void test_run_rollback(void **state)
{
	(void)state;
	struct bitmap bm;
	assert_int_equal(physim_bitmap_init(&bm, 1000), 0);
	assert_true(physim_bitmap_claim_run(&bm, 300, 1));
	assert_false(
	    physim_bitmap_claim_run(&bm, 10, 291)); /* words 0..4 fine, word 4 has bit 300 */
	assert_int_equal(physim_bitmap_count_set(&bm), 1);
	assert_int_equal(physim_bitmap_find_clear(&bm, 0), 0);
	assert_true(physim_bitmap_claim_run(&bm, 10, 290));
	assert_int_equal(physim_bitmap_count_set(&bm), 291);

	assert_true(physim_bitmap_release_bit(&bm, 299));
	assert_false(physim_bitmap_release_run(&bm, 10, 291)); /* bit 299 is clear */
	assert_int_equal(physim_bitmap_count_set(&bm), 290);
	assert_true(physim_bitmap_all_set(&bm, 10, 289));
	assert_true(physim_bitmap_test(&bm, 300));
	/* Alignment is of (bit + phase): phase 3, align 8 starts at 5, 13, ... */
	uint64_t first;
	assert_true(physim_bitmap_claim_free_run(&bm, 8, 8, 3, &first));
	assert_int_equal(first, 5 + 296); /* 299 is free but 301.. is the first full run */
	assert_false(physim_bitmap_claim_free_run(&bm, 8, 0, 0, &first));
	assert_false(physim_bitmap_claim_free_run(&bm, 8, 12, 0, &first));
	assert_false(physim_bitmap_claim_free_run(&bm, 1001, 1, 0, &first));
	physim_bitmap_fini(&bm);
}

/* ---- the race a search's "mark full" must survive ---- */

/* Built with PHYSIM_BITMAP_RACE_HOOK (tests/meson.build): bitmap.c calls
 * this just before it marks word idx of level k full. */
extern void (*physim_bitmap_race_hook)(struct bitmap *bm, unsigned k, uint64_t idx);

static uint64_t race_bit = NONE;

static void release_in_the_gap(struct bitmap *bm, unsigned k, uint64_t idx)
{
	if (race_bit == NONE || k != 0 || idx != race_bit / 64)
		return;
	/* The search has read the word full but not yet set its summary bit:
	 * this release sees no summary bit to clear. */
	uint64_t bit = race_bit;
	race_bit = NONE;
	assert_true(physim_bitmap_release_bit(bm, bit));
}

/* A bit released between a search's "word is full" and its summary write
 * must not stay hidden behind that summary bit (mark_full reads the word
 * again after the write). */
static void test_release_during_mark_full(void **state)
{
	(void)state;
	struct bitmap bm;
	assert_int_equal(physim_bitmap_init(&bm, 4096 + 100), 0);
	uint64_t bit;
	for (uint64_t i = 0; i < 128; i++) /* words 0 and 1 full, summary not told */
		assert_true(physim_bitmap_claim_in_word(&bm, i / 64, &bit));
	physim_bitmap_race_hook = release_in_the_gap;
	race_bit = 64 + 5;
	assert_int_equal(physim_bitmap_find_clear(&bm, 0), 64 + 5);
	physim_bitmap_race_hook = NULL;
	assert_int_equal(race_bit, NONE); /* the hook ran */
	/* Word 1 has room: its summary bit is clear and searches find the bit. */
	assert_int_equal(atomic_load(&bm.level[1][0]) & 2, 0);
	assert_int_equal(physim_bitmap_find_clear(&bm, 0), 64 + 5);
	assert_true(physim_bitmap_claim_any(&bm, &bit));
	assert_int_equal(bit, 64 + 5);
	physim_bitmap_fini(&bm);
}

/* ---- threads ---- */

#define NTHREADS 4

struct shared {
	struct bitmap bm;
	uint64_t nbits;
	_Atomic int *owner; /* per bit: 0 or the owning thread's id */
	_Atomic unsigned errors;
	_Atomic uint64_t claims;
	pthread_barrier_t start;
	bool churn; /* release and claim again, else claim until full */
};

struct worker {
	struct shared *sh;
	int id;
	uint64_t rng;
	uint64_t held[64][2]; /* runs held: first, count */
	unsigned nheld;
};

/* Take ownership of [first, first + count): every bit must have had none. */
static void own(struct worker *w, uint64_t first, uint64_t count)
{
	atomic_fetch_add(&w->sh->claims, count);
	for (uint64_t i = first; i < first + count; i++) {
		int expected = 0;
		if (!atomic_compare_exchange_strong(&w->sh->owner[i], &expected, w->id))
			atomic_fetch_add(&w->sh->errors, 1);
	}
}

static void disown(struct worker *w, uint64_t first, uint64_t count)
{
	for (uint64_t i = first; i < first + count; i++)
		atomic_store(&w->sh->owner[i], 0);
}

static void give_back(struct worker *w, unsigned k)
{
	uint64_t first = w->held[k][0], count = w->held[k][1];
	disown(w, first, count);
	bool ok = count == 1 ? physim_bitmap_release_bit(&w->sh->bm, first)
			     : physim_bitmap_release_run(&w->sh->bm, first, count);
	if (!ok)
		atomic_fetch_add(&w->sh->errors, 1);
	w->held[k][0] = w->held[--w->nheld][0];
	w->held[k][1] = w->held[w->nheld][1];
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint64_t bit;
	pthread_barrier_wait(&sh->start);
	if (!sh->churn) {
		while (physim_bitmap_claim_any(&sh->bm, &bit))
			own(w, bit, 1);
		return NULL;
	}
	for (unsigned i = 0; i < 20000; i++) {
		if (w->nheld == 64 || (w->nheld > 0 && rand_below(&w->rng, 2) == 0)) {
			give_back(w, (unsigned)rand_below(&w->rng, w->nheld));
			continue;
		}
		uint64_t first = NONE, count = 1;
		switch (rand_below(&w->rng, 4)) {
		case 0:
		case 1:
			if (!physim_bitmap_claim_any(&sh->bm, &first))
				first = NONE;
			break;
		case 2:
			count = 1 + rand_below(&w->rng, 130);
			if (!physim_bitmap_claim_free_run(&sh->bm, count, 1, 0, &first))
				first = NONE;
			break;
		default:
			/* Fight over fixed ranges near word boundaries. */
			count = 1 + rand_below(&w->rng, 100);
			first = rand_below(&w->rng, sh->nbits / 64) * 64 + 60;
			if (first + count > sh->nbits ||
			    !physim_bitmap_claim_run(&sh->bm, first, count))
				first = NONE;
			break;
		}
		if (first == NONE)
			continue;
		own(w, first, count);
		w->held[w->nheld][0] = first;
		w->held[w->nheld++][1] = count;
	}
	while (w->nheld > 0)
		give_back(w, 0);
	return NULL;
}

static void run_threads(uint64_t nbits, bool churn, uint64_t preset_seed)
{
	struct shared *sh = calloc(1, sizeof(*sh));
	assert_non_null(sh);
	sh->nbits = nbits;
	sh->churn = churn;
	assert_int_equal(physim_bitmap_init(&sh->bm, nbits), 0);
	sh->owner = calloc(nbits, sizeof(*sh->owner));
	assert_non_null(sh->owner);

	/* Some bits set beforehand (like reserved frames): never handed out. */
	uint64_t rng = preset_seed, preset = 0;
	for (uint64_t i = 0; i < nbits; i += 1 + rand_below(&rng, 300)) {
		uint64_t count = 1 + rand_below(&rng, 70);
		if (count > nbits - i)
			count = nbits - i;
		assert_true(physim_bitmap_claim_run(&sh->bm, i, count));
		for (uint64_t j = i; j < i + count; j++)
			atomic_store(&sh->owner[j], -1);
		preset += count;
		i += count;
	}

	pthread_barrier_init(&sh->start, NULL, NTHREADS);
	pthread_t tid[NTHREADS];
	struct worker w[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		w[i] =
		    (struct worker){.sh = sh, .id = i + 1, .rng = preset_seed * 31 + (uint64_t)i};
		assert_int_equal(pthread_create(&tid[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&sh->start);

	assert_int_equal(atomic_load(&sh->errors), 0);
	if (!churn) {
		/* Every free bit was handed out exactly once (own() counted any
		 * second hand-out as an error), and nothing more. */
		assert_int_equal(atomic_load(&sh->claims), nbits - preset);
		assert_int_equal(physim_bitmap_count_set(&sh->bm), nbits);
		for (uint64_t i = 0; i < nbits; i++)
			assert_int_not_equal(atomic_load(&sh->owner[i]), 0);
	} else {
		/* Everything given back: only the preset bits remain. */
		assert_int_equal(physim_bitmap_count_set(&sh->bm), preset);
		for (uint64_t i = 0; i < nbits; i++)
			assert_int_equal(physim_bitmap_test(&sh->bm, i),
					 atomic_load(&sh->owner[i]) == -1);
		uint64_t first_free = 0;
		while (first_free < nbits && atomic_load(&sh->owner[first_free]) == -1)
			first_free++;
		assert_int_equal(physim_bitmap_find_clear(&sh->bm, 0),
				 first_free < nbits ? first_free : NONE);
	}
	physim_bitmap_fini(&sh->bm);
	free(sh->owner);
	free(sh);
}

/* Claim until full from all threads at once: each free bit exactly once. */
static void test_threads_fill(void **state)
{
	(void)state;
	run_threads(3 * 4096 + 4000 + 37, false, 11);
	run_threads(64 * 4096 + 5, false, 12);
}

/* Claims, runs, fixed-range fights and releases at once. */
static void test_threads_churn(void **state)
{
	(void)state;
	run_threads(4096 + 1000 + 3, true, 21);
	run_threads(600, true, 22); /* crowded: runs and fights collide often */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init),	  cmocka_unit_test(test_fill_then_release_one),
	    cmocka_unit_test(test_run_rollback),  cmocka_unit_test(test_release_during_mark_full),
	    cmocka_unit_test(test_model_summary), cmocka_unit_test(test_model_scan),
	    cmocka_unit_test(test_threads_fill),  cmocka_unit_test(test_threads_churn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
