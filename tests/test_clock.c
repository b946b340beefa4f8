/* SPDX-License-Identifier: MIT */
/* tests/test_clock.c - monotonic and manual clocks, the current_time_nanos
 * adapter, bad arguments, and concurrent updates of a manual clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <physim/clock.h>

#include <pthread.h>
#include <time.h>

/* The test's own reading of the host clock, independent of the library. */
static uint64_t host_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct physim_clock *manual_clock(uint64_t start)
{
	struct physim_clock *c = NULL;
	assert_int_equal(
	    physim_clock_create(
		&(struct physim_clock_config){.kind = PHYSIM_CLOCK_MANUAL, .start_ns = start}, &c),
	    0);
	assert_non_null(c);
	return c;
}

static void test_default_is_monotonic(void **state)
{
	(void)state;
	struct physim_clock *c = NULL;
	assert_int_equal(physim_clock_create(NULL, &c), 0);
	assert_int_equal(physim_clock_kind(c), PHYSIM_CLOCK_MONOTONIC);
	physim_clock_destroy(c);

	/* A zeroed config is a monotonic clock too; start_ns means nothing. */
	assert_int_equal(physim_clock_create(&(struct physim_clock_config){.start_ns = 5}, &c), 0);
	assert_int_equal(physim_clock_kind(c), PHYSIM_CLOCK_MONOTONIC);
	uint64_t before = host_now_ns();
	uint64_t now = physim_clock_now_ns(c);
	uint64_t after = host_now_ns();
	assert_true(before <= now && now <= after);
	physim_clock_destroy(c);
}

static void test_monotonic_tracks_host_clock(void **state)
{
	(void)state;
	struct physim_clock *c = NULL;
	assert_int_equal(physim_clock_create(NULL, &c), 0);

	uint64_t prev = physim_clock_now_ns(c);
	for (int i = 0; i < 10000; i++) {
		uint64_t t = physim_clock_now_ns(c);
		assert_true(t >= prev);
		prev = t;
	}

	/* Sleeping 2 ms must move the clock by at least 2 ms. */
	uint64_t t0 = physim_clock_now_ns(c);
	nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
	uint64_t t1 = physim_clock_now_ns(c);
	assert_true(t1 - t0 >= 2000000u);
	physim_clock_destroy(c);
}

static void test_bad_create(void **state)
{
	(void)state;
	struct physim_clock *c = (struct physim_clock *)&c; /* sentinel */
	struct physim_clock *const sentinel = c;
	assert_int_equal(physim_clock_create(
			     &(struct physim_clock_config){.kind = (enum physim_clock_kind)2}, &c),
			 -EINVAL);
	assert_ptr_equal(c, sentinel);
	assert_int_equal(
	    physim_clock_create(&(struct physim_clock_config){.kind = (enum physim_clock_kind) - 1},
				&c),
	    -EINVAL);
	assert_ptr_equal(c, sentinel);
	assert_int_equal(physim_clock_create(NULL, NULL), -EINVAL);
	physim_clock_destroy(NULL); /* harmless */
}

static void test_manual_reads_and_sets(void **state)
{
	(void)state;
	struct physim_clock *c = manual_clock(1000);
	assert_int_equal(physim_clock_kind(c), PHYSIM_CLOCK_MANUAL);
	assert_int_equal(physim_clock_now_ns(c), 1000);
	/* It does not move by itself. */
	nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	assert_int_equal(physim_clock_now_ns(c), 1000);

	assert_int_equal(physim_clock_set_ns(c, 5000), 0);
	assert_int_equal(physim_clock_now_ns(c), 5000);
	assert_int_equal(physim_clock_set_ns(c, 5000), 0); /* standing still is fine */
	assert_int_equal(physim_clock_set_ns(c, 4999), -EINVAL);
	assert_int_equal(physim_clock_set_ns(c, 0), -EINVAL);
	assert_int_equal(physim_clock_now_ns(c), 5000);

	assert_int_equal(physim_clock_advance_ns(c, 10), 0);
	assert_int_equal(physim_clock_now_ns(c), 5010);
	assert_int_equal(physim_clock_advance_ns(c, 0), 0);
	assert_int_equal(physim_clock_now_ns(c), 5010);
	physim_clock_destroy(c);
}

static void test_manual_edges(void **state)
{
	(void)state;
	struct physim_clock *c = manual_clock(0);
	assert_int_equal(physim_clock_now_ns(c), 0);
	assert_int_equal(physim_clock_set_ns(c, UINT64_MAX - 7), 0);
	assert_int_equal(physim_clock_advance_ns(c, 8), -EINVAL); /* would wrap to 0 */
	assert_true(physim_clock_now_ns(c) == UINT64_MAX - 7);
	assert_int_equal(physim_clock_advance_ns(c, UINT64_MAX), -EINVAL);
	assert_int_equal(physim_clock_advance_ns(c, 7), 0);
	assert_true(physim_clock_now_ns(c) == UINT64_MAX);
	assert_int_equal(physim_clock_advance_ns(c, 1), -EINVAL);
	assert_int_equal(physim_clock_advance_ns(c, 0), 0);
	assert_int_equal(physim_clock_set_ns(c, UINT64_MAX), 0);
	assert_true(physim_clock_now_ns(c) == UINT64_MAX);
	physim_clock_destroy(c);

	/* A manual clock may start anywhere, including at the top. */
	c = manual_clock(UINT64_MAX);
	assert_true(physim_clock_now_ns(c) == UINT64_MAX);
	assert_int_equal(physim_clock_advance_ns(c, 1), -EINVAL);
	physim_clock_destroy(c);
}

static void test_manual_only_calls(void **state)
{
	(void)state;
	struct physim_clock *c = NULL;
	assert_int_equal(physim_clock_create(NULL, &c), 0);
	assert_int_equal(physim_clock_set_ns(c, UINT64_MAX), -EINVAL);
	assert_int_equal(physim_clock_advance_ns(c, 1), -EINVAL);
	physim_clock_destroy(c);

	assert_int_equal(physim_clock_set_ns(NULL, 1), -EINVAL);
	assert_int_equal(physim_clock_advance_ns(NULL, 1), -EINVAL);
}

static void test_null_clock_reads_host(void **state)
{
	(void)state;
	assert_int_equal(physim_clock_kind(NULL), PHYSIM_CLOCK_MONOTONIC);
	uint64_t before = host_now_ns();
	uint64_t a = physim_clock_now_ns(NULL);
	uint64_t b = physim_clock_time_nanos(NULL);
	uint64_t after = host_now_ns();
	assert_true(before <= a && a <= b && b <= after);
}

static void test_time_nanos_adapter(void **state)
{
	(void)state;
	/* The adapter has the shape of physim_vm_hal.current_time_nanos. */
	uint64_t (*current_time_nanos)(void *) = physim_clock_time_nanos;

	struct physim_clock *m = manual_clock(42);
	assert_int_equal(current_time_nanos(m), 42);
	assert_int_equal(physim_clock_advance_ns(m, 1000000000u), 0);
	assert_int_equal(current_time_nanos(m), 1000000042u);
	physim_clock_destroy(m);

	struct physim_clock *mono = NULL;
	assert_int_equal(physim_clock_create(NULL, &mono), 0);
	uint64_t before = host_now_ns();
	uint64_t t = current_time_nanos(mono);
	uint64_t after = host_now_ns();
	assert_true(before <= t && t <= after);
	physim_clock_destroy(mono);
}

#define NTHREADS 4
#define NSTEPS	 20000

struct race {
	struct physim_clock *clock;
	unsigned id;
	int errors;
};

static void *advance_worker(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < NSTEPS; i++)
		if (physim_clock_advance_ns(r->clock, 3) != 0)
			r->errors++;
	return NULL;
}

/* Each thread sets its own rising sequence; readers in the same threads
 * check that time never goes backwards. */
static void *set_worker(void *arg)
{
	struct race *r = arg;
	uint64_t seen = 0;
	for (uint64_t i = 0; i < NSTEPS; i++) {
		int rc = physim_clock_set_ns(r->clock, i * NTHREADS + r->id);
		if (rc != 0 && rc != -EINVAL)
			r->errors++;
		uint64_t now = physim_clock_now_ns(r->clock);
		if (now < seen)
			r->errors++;
		seen = now;
	}
	return NULL;
}

static void run_threads(struct physim_clock *c, void *(*fn)(void *))
{
	pthread_t t[NTHREADS];
	struct race r[NTHREADS];
	for (unsigned i = 0; i < NTHREADS; i++) {
		r[i] = (struct race){.clock = c, .id = i};
		assert_int_equal(pthread_create(&t[i], NULL, fn, &r[i]), 0);
	}
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].errors, 0);
	}
}

static void test_manual_concurrent(void **state)
{
	(void)state;
	struct physim_clock *c = manual_clock(100);
	run_threads(c, advance_worker);
	/* No advance was lost. */
	assert_int_equal(physim_clock_now_ns(c), 100 + (uint64_t)NTHREADS * NSTEPS * 3);
	physim_clock_destroy(c);

	c = manual_clock(0);
	run_threads(c, set_worker);
	/* The largest value anyone set can never have been refused. */
	assert_int_equal(physim_clock_now_ns(c), (uint64_t)(NSTEPS - 1) * NTHREADS + NTHREADS - 1);
	physim_clock_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_is_monotonic),
	    cmocka_unit_test(test_monotonic_tracks_host_clock),
	    cmocka_unit_test(test_bad_create),
	    cmocka_unit_test(test_manual_reads_and_sets),
	    cmocka_unit_test(test_manual_edges),
	    cmocka_unit_test(test_manual_only_calls),
	    cmocka_unit_test(test_null_clock_reads_host),
	    cmocka_unit_test(test_time_nanos_adapter),
	    cmocka_unit_test(test_manual_concurrent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
