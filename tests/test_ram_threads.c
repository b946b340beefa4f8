/* SPDX-License-Identifier: MIT */
/* tests/test_ram_threads.c - the allocator under concurrent use: threads
 * allocate and free at once (singles, runs, fixed addresses); a shared
 * ownership array, claimed by atomic exchange, catches any frame handed out
 * twice; at the end nothing has leaked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/rng.h"

#include <physim/ram.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F	 PHYSIM_FRAME_SIZE
#define NTHREADS 4
#define MAX_HELD 48

/* ---- shared state and error reporting (cmocka asserts are not
 * thread-safe: threads record the first problem, main asserts) ---- */

struct shared {
	struct physim_ram *ram;
	physim_hpa_t base;
	uint64_t nframes;
	_Atomic int *owner; /* per frame: 0 or the owning thread's id */
	_Atomic unsigned errors;
	_Atomic bool have_msg;
	char msg[256];
	/* Fight mode: the frames left free, for alloc_at attempts. */
	const uint64_t *targets;
	size_t ntargets;
	pthread_barrier_t start; /* all threads begin together */
};

static void report(struct shared *sh, const char *fmt, ...)
{
	atomic_fetch_add(&sh->errors, 1);
	bool expected = false;
	if (atomic_compare_exchange_strong(&sh->have_msg, &expected, true)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(sh->msg, sizeof(sh->msg), fmt, ap);
		va_end(ap);
	}
}

static void assert_no_errors(struct shared *sh)
{
	if (atomic_load(&sh->errors) != 0)
		fail_msg("%u errors; first: %s", atomic_load(&sh->errors), sh->msg);
}

struct worker {
	struct shared *sh;
	int id; /* 1-based */
	uint64_t rng;
	unsigned iterations;
	struct {
		uint64_t first, count;
	} held[MAX_HELD];
	size_t nheld;
	unsigned long allocs, frees, failures;
};

static uint64_t rnd(struct worker *w)
{
	return tc_rand(&w->rng);
}

/* Frames [first, first + count) were just handed to w: nobody may own any. */
static void take(struct worker *w, physim_hpa_t hpa, uint64_t count, const char *call)
{
	struct shared *sh = w->sh;
	if (hpa < sh->base || (hpa - sh->base) % F != 0 ||
	    (hpa - sh->base) / F + count > sh->nframes) {
		report(sh, "%s returned %#llx outside RAM", call, (unsigned long long)hpa);
		return;
	}
	uint64_t first = (hpa - sh->base) / F;
	for (uint64_t i = first; i < first + count; i++) {
		int prev = atomic_exchange(&sh->owner[i], w->id);
		if (prev != 0)
			report(sh, "%s: frame %llu handed to thread %d while thread %d holds it",
			       call, (unsigned long long)i, w->id, prev);
	}
	w->held[w->nheld].first = first;
	w->held[w->nheld].count = count;
	w->nheld++;
	w->allocs++;
}

/* Give back held range i: disown first (so the next owner finds 0), then
 * free through one of the three calls. */
static void give_back(struct worker *w, size_t i)
{
	struct shared *sh = w->sh;
	uint64_t first = w->held[i].first, count = w->held[i].count;
	w->held[i] = w->held[--w->nheld];
	for (uint64_t f = first; f < first + count; f++) {
		if (physim_ram_frame_in_use(sh->ram, sh->base + f * F) != 1)
			report(sh, "held frame %llu reads as free", (unsigned long long)f);
		int prev = atomic_exchange(&sh->owner[f], 0);
		if (prev != w->id)
			report(sh, "thread %d frees frame %llu owned by %d", w->id,
			       (unsigned long long)f, prev);
	}
	physim_hpa_t hpa = sh->base + first * F;
	int rc;
	switch (rnd(w) % 3) {
	case 0:
		rc = 0;
		for (uint64_t f = 0; f < count && rc == 0; f++)
			rc = physim_ram_free_frame(sh->ram, hpa + f * F);
		break;
	case 1:
		rc = physim_ram_free_frames(sh->ram, hpa, (size_t)count);
		break;
	default:
		rc = physim_ram_free_at(sh->ram, hpa, count * F);
		break;
	}
	if (rc != 0)
		report(sh, "free of %llu frames at %#llx failed: %d", (unsigned long long)count,
		       (unsigned long long)hpa, rc);
	w->frees++;
}

static void try_alloc(struct worker *w)
{
	struct shared *sh = w->sh;
	physim_hpa_t hpa = 0;
	unsigned kind = (unsigned)(rnd(w) % 10);
	if (kind < 5) {
		int rc = physim_ram_alloc_frame(sh->ram, &hpa);
		if (rc == 0)
			take(w, hpa, 1, "alloc_frame");
		else if (rc != -ENOMEM)
			report(sh, "alloc_frame: %d", rc);
		else
			w->failures++;
	} else if (kind < 8) {
		uint64_t count = 1 + rnd(w) % 12, align = F << (rnd(w) % 5);
		int rc = physim_ram_alloc_frames(sh->ram, (size_t)count, align, &hpa);
		if (rc == 0 && hpa % align != 0)
			report(sh, "alloc_frames: %#llx not aligned to %#llx",
			       (unsigned long long)hpa, (unsigned long long)align);
		if (rc == 0)
			take(w, hpa, count, "alloc_frames");
		else if (rc != -ENOMEM)
			report(sh, "alloc_frames: %d", rc);
		else
			w->failures++;
	} else {
		uint64_t first, count = 1 + rnd(w) % 6;
		if (sh->ntargets) {
			first = sh->targets[rnd(w) % sh->ntargets];
			count = 1;
		} else {
			first = rnd(w) % (sh->nframes - count);
		}
		int rc = physim_ram_alloc_at(sh->ram, sh->base + first * F, count * F);
		if (rc == 0)
			take(w, sh->base + first * F, count, "alloc_at");
		else if (rc != -EBUSY)
			report(sh, "alloc_at: %d", rc);
		else
			w->failures++;
	}
}

static void *worker_main(void *p)
{
	struct worker *w = p;
	pthread_barrier_wait(&w->sh->start);
	for (unsigned it = 0; it < w->iterations; it++) {
		bool alloc = w->nheld == 0 || (w->nheld < MAX_HELD && rnd(w) % 100 < 55);
		if (alloc)
			try_alloc(w);
		else
			give_back(w, (size_t)(rnd(w) % w->nheld));
		if (it % 1024 == 0)
			(void)physim_ram_stats(w->sh->ram); /* reads race harmlessly */
	}
	while (w->nheld)
		give_back(w, w->nheld - 1);
	return NULL;
}

static void run_workers(struct shared *sh, unsigned iterations, uint64_t seed)
{
	static struct worker workers[NTHREADS];
	pthread_t t[NTHREADS];
	assert_int_equal(pthread_barrier_init(&sh->start, NULL, NTHREADS), 0);
	for (int i = 0; i < NTHREADS; i++) {
		workers[i] = (struct worker){.sh = sh,
					     .id = i + 1,
					     .rng = seed * 0x9e3779b97f4a7c15u + (uint64_t)i + 1,
					     .iterations = iterations};
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &workers[i]), 0);
	}
	unsigned long allocs = 0, failures = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		allocs += workers[i].allocs;
		failures += workers[i].failures;
		assert_int_equal(workers[i].allocs, workers[i].frees);
	}
	pthread_barrier_destroy(&sh->start);
	printf("seed %llu: %lu allocations, %lu refused\n", (unsigned long long)seed, allocs,
	       failures);
	assert_true(allocs > iterations / 4); /* the run did real work */
	assert_no_errors(sh);
}

/* After the threads: nobody owns anything and exactly the expected frames
 * read as in use. */
static void check_quiescent(struct shared *sh, const bool *expect_in_use, uint64_t used,
			    uint64_t reserved)
{
	struct physim_ram_stats s = physim_ram_stats(sh->ram);
	assert_int_equal(s.used_frames, used);
	assert_int_equal(s.reserved_frames, reserved);
	assert_int_equal(s.free_frames, sh->nframes - used - reserved);
	for (uint64_t i = 0; i < sh->nframes; i++) {
		assert_int_equal(atomic_load(&sh->owner[i]), 0);
		assert_int_equal(physim_ram_frame_in_use(sh->ram, sh->base + i * F),
				 expect_in_use[i]);
	}
}

static void test_mixed_churn(void **state)
{
	(void)state;
	const physim_hpa_t base = 0x80003000;
	const uint64_t n = 4096;
	const struct physim_ram_range res[] = {{base + 1000 * F, 24 * F}};
	bool reserved[4096] = {false};
	for (int i = 1000; i < 1024; i++)
		reserved[i] = true;

	for (uint64_t seed = 1; seed <= 3; seed++) {
		struct shared sh = {.base = base, .nframes = n};
		sh.owner = calloc(n, sizeof(*sh.owner));
		assert_non_null(sh.owner);
		assert_int_equal(physim_ram_create(&(struct physim_ram_config){.base = base,
									       .size = n * F,
									       .reserved = res,
									       .nreserved = 1},
						   &sh.ram),
				 0);
		run_workers(&sh, 200000, seed);
		check_quiescent(&sh, reserved, 0, 24);
		physim_ram_destroy(sh.ram);
		free(sh.owner);
	}
}

/*
 * The RAM is full but for a few frames, placed so that taking and giving
 * them back flips bitmap words (and their summary words) between full and
 * not full all the time: the race between "word became full, set summary
 * bit" and "a frame was freed, clear it". Afterwards every one of those
 * frames must still be found by a plain alloc_frame.
 */
static void test_fight_for_last_frames(void **state)
{
	(void)state;
	const physim_hpa_t base = 0x80001000;
	const uint64_t n = 64 * 64 * 5; /* 3 levels: 320 words, 5 summary words, top */
	/* Two or three free frames in a few words, some adjacent (for runs),
	 * spread over different summary words. */
	const uint64_t free_set[] = {5,
				     6,
				     63,
				     64 * 7 + 63,
				     64 * 7 + 10,
				     64 * 70,
				     64 * 70 + 1,
				     64 * 70 + 2,
				     64 * 130 + 31,
				     64 * 130 + 32,
				     64 * 300 + 63,
				     64 * 319 + 63,
				     n - 2};
	const size_t nfree = sizeof(free_set) / sizeof(free_set[0]);
	bool *in_use = malloc(n * sizeof(bool));
	assert_non_null(in_use);

	for (uint64_t seed = 1; seed <= 4; seed++) {
		struct shared sh = {
		    .base = base, .nframes = n, .targets = free_set, .ntargets = nfree};
		sh.owner = calloc(n, sizeof(*sh.owner));
		assert_non_null(sh.owner);
		assert_int_equal(
		    physim_ram_create(&(struct physim_ram_config){.base = base, .size = n * F},
				      &sh.ram),
		    0);
		/* Fill everything, then give back the chosen frames. */
		assert_int_equal(physim_ram_alloc_at(sh.ram, base, n * F), 0);
		for (uint64_t i = 0; i < n; i++)
			in_use[i] = true;
		for (size_t i = 0; i < nfree; i++) {
			assert_int_equal(physim_ram_free_frame(sh.ram, base + free_set[i] * F), 0);
			in_use[free_set[i]] = false;
		}

		run_workers(&sh, 200000, seed);
		check_quiescent(&sh, in_use, n - nfree, 0);

		/* Every left-over frame is findable, and only those. */
		for (size_t i = 0; i < nfree; i++) {
			physim_hpa_t hpa;
			assert_int_equal(physim_ram_alloc_frame(sh.ram, &hpa), 0);
			uint64_t f = (hpa - base) / F;
			assert_false(in_use[f]);
			in_use[f] = true;
		}
		physim_hpa_t hpa;
		assert_int_equal(physim_ram_alloc_frame(sh.ram, &hpa), -ENOMEM);
		assert_int_equal(physim_ram_stats(sh.ram).free_frames, 0);
		physim_ram_destroy(sh.ram);
		free(sh.owner);
	}
	free(in_use);
}

/*
 * The narrowest form of that race, run long: two free frames in one word and
 * every thread taking and returning one as fast as it can, so the word turns
 * full and back millions of times. A summary bit left set on a word with
 * room would hide its frames for good: afterwards, with the hint moved
 * elsewhere, a plain search must find both again.
 */
struct churn_arg {
	struct physim_ram *ram;
	pthread_barrier_t *start;
	unsigned iterations;
	_Atomic unsigned errors;
};

static void *churn_main(void *p)
{
	struct churn_arg *a = p;
	pthread_barrier_wait(a->start);
	for (unsigned i = 0; i < a->iterations; i++) {
		physim_hpa_t hpa;
		int rc = physim_ram_alloc_frame(a->ram, &hpa);
		if (rc == 0)
			rc = physim_ram_free_frame(a->ram, hpa);
		if (rc != 0 && rc != -ENOMEM)
			atomic_fetch_add(&a->errors, 1);
	}
	return NULL;
}

static void test_summary_race(void **state)
{
	(void)state;
	const physim_hpa_t base = 0x80000000;
	const uint64_t n = 64 * 64 * 3, w = 64 * 64 + 64; /* a word of summary word 1 */
	for (unsigned round = 0; round < 24; round++) {
		struct physim_ram *ram;
		assert_int_equal(
		    physim_ram_create(&(struct physim_ram_config){.base = base, .size = n * F},
				      &ram),
		    0);
		assert_int_equal(physim_ram_alloc_at(ram, base, n * F), 0);
		assert_int_equal(physim_ram_free_frame(ram, base + (w + 5) * F), 0);
		assert_int_equal(physim_ram_free_frame(ram, base + (w + 40) * F), 0);

		pthread_barrier_t start;
		assert_int_equal(pthread_barrier_init(&start, NULL, NTHREADS), 0);
		struct churn_arg arg = {.ram = ram, .start = &start, .iterations = 100000};
		pthread_t t[NTHREADS];
		for (int i = 0; i < NTHREADS; i++)
			assert_int_equal(pthread_create(&t[i], NULL, churn_main, &arg), 0);
		for (int i = 0; i < NTHREADS; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&start);
		assert_int_equal(atomic_load(&arg.errors), 0);
		assert_int_equal(physim_ram_stats(ram).free_frames, 2);

		/* Frame 0's word becomes the hint; the other two need the search. */
		assert_int_equal(physim_ram_free_frame(ram, base), 0);
		physim_hpa_t got[3];
		for (int i = 0; i < 3; i++) {
			int rc = physim_ram_alloc_frame(ram, &got[i]);
			if (rc != 0)
				fail_msg("round %u: only %d of 3 free frames found", round, i);
		}
		const physim_hpa_t want[3] = {base, base + (w + 5) * F, base + (w + 40) * F};
		for (int i = 0; i < 3; i++)
			assert_true(got[i] == want[0] || got[i] == want[1] || got[i] == want[2]);
		assert_true(got[0] != got[1] && got[1] != got[2] && got[0] != got[2]);
		physim_ram_destroy(ram);
	}
}

/*
 * No false -ENOMEM: k = 2 * NTHREADS frames are free and every thread holds
 * at most two at a time, so whenever a thread asks for a frame at least one
 * of the k is neither held nor being taken or given back by anybody else
 * (others hold at most 2 * (NTHREADS - 1), the asker at most 1). Every
 * allocation must therefore succeed. The frames sit two to a word, one to a
 * word, and spread over different summary words, so words and summary bits
 * flip between full and not full all the time, and a thread's second frame
 * usually needs a search (its hint word is the one it freed last). Half the
 * allocations are alloc_frames(1 frame, 8 KiB aligned), which searches from
 * the start every time; the k frames are all even, so for that call too at
 * least one fits.
 */
#define FIGHT_FRAMES (2 * NTHREADS)

struct fight {
	struct physim_ram *ram;
	physim_hpa_t base;
	const uint64_t *frames; /* the FIGHT_FRAMES frames left free */
	_Atomic int *owner;	/* per frame of RAM */
	pthread_barrier_t start;
	unsigned iterations;
	_Atomic unsigned long enomem, wrong, allocs;
	_Atomic bool have_msg;
	char msg[200];
};

struct fighter {
	struct fight *f;
	int id;
	uint64_t rng;
};

static void fight_report(struct fight *f, const char *fmt, ...)
{
	bool expected = false;
	if (atomic_compare_exchange_strong(&f->have_msg, &expected, true)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
		va_end(ap);
	}
}

/* Take one frame for thread t, through either call (alloc_frames always
 * searches; alloc_frame tries its hint first); false after recording a
 * failure. */
static bool fight_take(struct fighter *t, physim_hpa_t *hpa, bool search)
{
	struct fight *f = t->f;
	int rc = search ? physim_ram_alloc_frames(f->ram, 1, 2 * F, hpa)
			: physim_ram_alloc_frame(f->ram, hpa);
	if (rc != 0) {
		atomic_fetch_add(rc == -ENOMEM ? &f->enomem : &f->wrong, 1);
		fight_report(f, "%s failed with %d (thread %d) while a frame was free",
			     search ? "alloc_frames" : "alloc_frame", rc, t->id);
		return false;
	}
	uint64_t frame = (*hpa - f->base) / F;
	bool listed = false;
	for (int i = 0; i < FIGHT_FRAMES; i++)
		listed |= f->frames[i] == frame;
	int prev = atomic_exchange(&f->owner[frame], t->id);
	if (!listed || prev != 0) {
		atomic_fetch_add(&f->wrong, 1);
		fight_report(f, "frame %llu handed out (listed %d, owner was %d)",
			     (unsigned long long)frame, listed, prev);
	}
	atomic_fetch_add(&f->allocs, 1);
	return true;
}

static void fight_give(struct fighter *t, physim_hpa_t hpa)
{
	struct fight *f = t->f;
	atomic_store(&f->owner[(hpa - f->base) / F], 0);
	if (physim_ram_free_frame(f->ram, hpa) != 0) {
		atomic_fetch_add(&f->wrong, 1);
		fight_report(f, "free of frame %llu failed (thread %d)",
			     (unsigned long long)((hpa - f->base) / F), t->id);
	}
}

static void *fighter_main(void *p)
{
	struct fighter *t = p;
	pthread_barrier_wait(&t->f->start);
	for (unsigned i = 0; i < t->f->iterations; i++) {
		uint64_t r = tc_rand(&t->rng);
		physim_hpa_t a, b;
		if (!fight_take(t, &a, r & 2))
			continue;
		if (!fight_take(t, &b, r & 4)) {
			fight_give(t, a);
			continue;
		}
		fight_give(t, r & 1 ? a : b);
		fight_give(t, r & 1 ? b : a);
	}
	return NULL;
}

static void run_fight(const uint64_t *frames, uint64_t n, unsigned iterations)
{
	static struct fight f;
	f = (struct fight){.base = 0x80000000, .frames = frames, .iterations = iterations};
	f.owner = calloc(n, sizeof(*f.owner));
	assert_non_null(f.owner);
	assert_int_equal(
	    physim_ram_create(&(struct physim_ram_config){.base = f.base, .size = n * F}, &f.ram),
	    0);
	assert_int_equal(physim_ram_alloc_at(f.ram, f.base, n * F), 0);
	for (int i = 0; i < FIGHT_FRAMES; i++)
		assert_int_equal(physim_ram_free_frame(f.ram, f.base + frames[i] * F), 0);
	assert_int_equal(physim_ram_stats(f.ram).free_frames, FIGHT_FRAMES);

	struct fighter t[NTHREADS];
	pthread_t th[NTHREADS];
	assert_int_equal(pthread_barrier_init(&f.start, NULL, NTHREADS), 0);
	for (int i = 0; i < NTHREADS; i++) {
		t[i] = (struct fighter){.f = &f, .id = i + 1, .rng = 0x2545f4914f6cdd1du * (i + 1)};
		assert_int_equal(pthread_create(&th[i], NULL, fighter_main, &t[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&f.start);
	printf("fight over %llu frames: %lu allocations, %lu -ENOMEM\n", (unsigned long long)n,
	       atomic_load(&f.allocs), atomic_load(&f.enomem));
	if (atomic_load(&f.enomem) != 0 || atomic_load(&f.wrong) != 0)
		fail_msg("%lu false -ENOMEM, %lu other errors; first: %s", atomic_load(&f.enomem),
			 atomic_load(&f.wrong), f.msg);
	assert_int_equal(atomic_load(&f.allocs), 2ul * NTHREADS * iterations);

	/* Afterwards exactly the k frames are free, and a search finds each. */
	assert_int_equal(physim_ram_stats(f.ram).free_frames, FIGHT_FRAMES);
	for (int i = 0; i < FIGHT_FRAMES; i++) {
		physim_hpa_t hpa;
		assert_int_equal(physim_ram_alloc_frame(f.ram, &hpa), 0);
		assert_int_equal(atomic_exchange(&f.owner[(hpa - f.base) / F], 1), 0);
	}
	physim_hpa_t hpa;
	assert_int_equal(physim_ram_alloc_frame(f.ram, &hpa), -ENOMEM);
	physim_ram_destroy(f.ram);
	free(f.owner);
}

static void test_no_false_enomem(void **state)
{
	(void)state;
	const uint64_t n = 64 * 64 * 3; /* 3 levels: 192 words, 3 summary words */
	/* All even (8 KiB aligned). Two to a word, in words of different
	 * summary words. */
	const uint64_t pairs[FIGHT_FRAMES] = {
	    2, 60, 64 * 9 + 2, 64 * 9 + 4, 64 * 70 + 0, 64 * 70 + 62, 64 * 191 + 6, 64 * 191 + 8};
	/* One to a word. */
	const uint64_t singles[FIGHT_FRAMES] = {
	    0, 64 + 6, 64 * 2 + 62, 64 * 63 + 10, 64 * 64 + 2, 64 * 100 + 32, 64 * 130, n - 2};
	/* Mixed, all under one summary word. */
	const uint64_t mixed[FIGHT_FRAMES] = {64 * 5 + 2,  64 * 5 + 4,	 64 * 6 + 40, 64 * 7,
					      64 * 20 + 8, 64 * 20 + 10, 64 * 21 + 2, 64 * 63 + 62};
	for (int round = 0; round < 3; round++) {
		run_fight(pairs, n, 300000);
		run_fight(singles, n, 300000);
		run_fight(mixed, n, 300000);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mixed_churn),
	    cmocka_unit_test(test_fight_for_last_frames),
	    cmocka_unit_test(test_summary_race),
	    cmocka_unit_test(test_no_false_enomem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
