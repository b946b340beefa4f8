/* SPDX-License-Identifier: MIT */
/* tests/test_counting_hal.c - the counting / fault-injecting HAL wrapper over
 * a mock inner HAL that records every call: numbering, fail_nth, fail_after,
 * seeded failure probability, counters, set_plan / reset, all four wrappers,
 * and exact counters under 4 threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <physim/hal.h>
#include <physim/ram.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define FRAME UINT64_C(4096)

/* ---- the mock inner HAL: hands out ever-increasing addresses, records
 * calls and arguments, fails on request; thread-safe ---- */

enum mock_fn {
	ALLOC_FRAME,  /* any interface's alloc_frame */
	ALLOC_FRAMES, /* paging alloc_frames */
	ALLOC_CONTIG, /* memory_if alloc_contiguous_frames */
	ALLOC_REGION, /* vm alloc_memory_region_at */
	FREE_FRAME,
	FREE_FRAMES,
	FREE_CONTIG,
	FREE_REGION,
	P2V,
	V2P,
	NFN
};

struct mock {
	struct physim_mm_hal mm;
	struct physim_paging_handler ph;
	struct physim_vm_hal vm;
	struct physim_memory_if mi;
	_Atomic int calls[NFN];
	_Atomic uint64_t next_hpa;
	int alloc_error; /* returned by every allocation when non-zero */
	int free_error;	 /* returned by every free when non-zero */
	/* Arguments of the last call (atomic: threads overwrite them). */
	_Atomic size_t last_nframes;
	_Atomic uint64_t last_align;
	_Atomic unsigned last_align_log2;
	_Atomic physim_hpa_t last_hpa;
	_Atomic uint64_t last_size;
	char mem[64];
};

static int mock_give(struct mock *m, enum mock_fn fn, uint64_t nframes, physim_hpa_t *hpa)
{
	atomic_fetch_add(&m->calls[fn], 1);
	if (m->alloc_error)
		return m->alloc_error;
	*hpa = atomic_fetch_add(&m->next_hpa, nframes * FRAME);
	return 0;
}

static int mock_take(struct mock *m, enum mock_fn fn, physim_hpa_t hpa)
{
	atomic_fetch_add(&m->calls[fn], 1);
	m->last_hpa = hpa;
	return m->free_error;
}

static int m_alloc_frame(void *ctx, physim_hpa_t *hpa)
{
	return mock_give(ctx, ALLOC_FRAME, 1, hpa);
}

static int m_alloc_frames(void *ctx, size_t n, uint64_t align, physim_hpa_t *hpa)
{
	struct mock *m = ctx;
	m->last_nframes = n;
	m->last_align = align;
	return mock_give(m, ALLOC_FRAMES, n, hpa);
}

static int m_alloc_contig(void *ctx, size_t n, unsigned lg, physim_hpa_t *hpa)
{
	struct mock *m = ctx;
	m->last_nframes = n;
	m->last_align_log2 = lg;
	return mock_give(m, ALLOC_CONTIG, n, hpa);
}

static int m_alloc_region(void *ctx, physim_hpa_t base, uint64_t size)
{
	struct mock *m = ctx;
	m->last_hpa = base;
	m->last_size = size;
	atomic_fetch_add(&m->calls[ALLOC_REGION], 1);
	return m->alloc_error;
}

static int m_free_frame(void *ctx, physim_hpa_t hpa)
{
	return mock_take(ctx, FREE_FRAME, hpa);
}

static int m_free_frames(void *ctx, physim_hpa_t hpa, size_t n)
{
	struct mock *m = ctx;
	m->last_nframes = n;
	return mock_take(m, FREE_FRAMES, hpa);
}

static int m_free_contig(void *ctx, physim_hpa_t hpa, size_t n)
{
	struct mock *m = ctx;
	m->last_nframes = n;
	return mock_take(m, FREE_CONTIG, hpa);
}

static int m_free_region(void *ctx, physim_hpa_t base, uint64_t size)
{
	struct mock *m = ctx;
	m->last_size = size;
	return mock_take(m, FREE_REGION, base);
}

static void *m_p2v(void *ctx, physim_hpa_t hpa)
{
	struct mock *m = ctx;
	atomic_fetch_add(&m->calls[P2V], 1);
	return hpa == 0x1000 ? m->mem : NULL;
}

static physim_hpa_t m_v2p(void *ctx, const void *hva)
{
	struct mock *m = ctx;
	atomic_fetch_add(&m->calls[V2P], 1);
	return hva == m->mem ? 0x1000 : 0;
}

static uint64_t m_time(void *time_ctx)
{
	return *(uint64_t *)time_ctx;
}

static uint64_t mock_time_value = 777;

static int mock_setup(void **state)
{
	struct mock *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -1;
	atomic_init(&m->next_hpa, UINT64_C(0x100000));
	m->mm = (struct physim_mm_hal){m, m_alloc_frame, m_free_frame, m_p2v, m_v2p};
	m->ph = (struct physim_paging_handler){
	    .ctx = m,
	    .alloc_frame = m_alloc_frame,
	    .alloc_frames = m_alloc_frames,
	    .dealloc_frame = m_free_frame,
	    .dealloc_frames = m_free_frames,
	    .phys_to_virt = m_p2v,
	    .direct = {.base = 0x1000, .size = 64, .hva = (uint8_t *)m->mem},
	};
	m->vm = (struct physim_vm_hal){
	    .ctx = m,
	    .paging = &m->ph,
	    .alloc_memory_region_at = m_alloc_region,
	    .dealloc_memory_region_at = m_free_region,
	    .virt_to_phys = m_v2p,
	    .current_time_nanos = m_time,
	    .time_ctx = &mock_time_value,
	};
	m->mi = (struct physim_memory_if){
	    m, m_alloc_frame, m_alloc_contig, m_free_frame, m_free_contig, m_p2v, m_v2p};
	*state = m;
	return 0;
}

static int mock_teardown(void **state)
{
	free(*state);
	return 0;
}

static int calls(struct mock *m, enum mock_fn fn)
{
	return atomic_load(&m->calls[fn]);
}

static int inner_allocs(struct mock *m)
{
	return calls(m, ALLOC_FRAME) + calls(m, ALLOC_FRAMES) + calls(m, ALLOC_CONTIG) +
	       calls(m, ALLOC_REGION);
}

static struct physim_counting_hal *wrap_all(struct mock *m, struct physim_counting_hal_config cfg)
{
	cfg.mm = &m->mm;
	cfg.paging = &m->ph;
	cfg.vm = &m->vm;
	cfg.memory_if = &m->mi;
	struct physim_counting_hal *ch = NULL;
	assert_int_equal(physim_counting_hal_create(&cfg, &ch), 0);
	assert_non_null(ch);
	return ch;
}

/* One allocation through the wrapper chosen by i % 4, so numbering is
 * exercised across all four interfaces. Returns the wrapper's result. */
static int alloc_via(struct physim_counting_hal *ch, unsigned i, uint64_t *nframes)
{
	physim_hpa_t hpa = 0;
	switch (i % 4) {
	case 0: {
		const struct physim_mm_hal *mm = physim_counting_hal_mm(ch);
		*nframes = 1;
		return mm->alloc_frame(mm->ctx, &hpa);
	}
	case 1: {
		const struct physim_paging_handler *ph = physim_counting_hal_paging(ch);
		*nframes = 2;
		return ph->alloc_frames(ph->ctx, 2, FRAME, &hpa);
	}
	case 2: {
		const struct physim_memory_if *mi = physim_counting_hal_memory_if(ch);
		*nframes = 3;
		return mi->alloc_contiguous_frames(mi->ctx, 3, 0, &hpa);
	}
	default: {
		const struct physim_vm_hal *vm = physim_counting_hal_vm(ch);
		*nframes = 4;
		return vm->alloc_memory_region_at(vm->ctx, 0x200000, 4 * FRAME);
	}
	}
}

static void assert_counts(struct physim_counting_hal *ch, struct physim_hal_counts want)
{
	struct physim_hal_counts c = physim_counting_hal_counts(ch);
	assert_int_equal(c.alloc_calls, want.alloc_calls);
	assert_int_equal(c.alloc_failed, want.alloc_failed);
	assert_int_equal(c.injected, want.injected);
	assert_int_equal(c.frames_allocated, want.frames_allocated);
	assert_int_equal(c.frames_freed, want.frames_freed);
	assert_int_equal(c.free_calls, want.free_calls);
	assert_int_equal(c.free_failed, want.free_failed);
	assert_int_equal(c.frames_live, want.frames_live);
}

/* ---- plain counting and pass-through ---- */

static void test_pass_through_and_counts(void **state)
{
	struct mock *m = *state;
	struct physim_counting_hal *ch = wrap_all(m, (struct physim_counting_hal_config){0});
	const struct physim_mm_hal *mm = physim_counting_hal_mm(ch);
	const struct physim_paging_handler *ph = physim_counting_hal_paging(ch);
	const struct physim_vm_hal *vm = physim_counting_hal_vm(ch);
	const struct physim_memory_if *mi = physim_counting_hal_memory_if(ch);
	assert_counts(ch, (struct physim_hal_counts){0});

	/* Every wrapped vtable's ctx is the wrapper, not the inner HAL. */
	assert_ptr_equal(mm->ctx, ch);
	assert_ptr_equal(ph->ctx, ch);
	assert_ptr_equal(vm->ctx, ch);
	assert_ptr_equal(mi->ctx, ch);

	physim_hpa_t a = 0, b = 0, c = 0, d = 0;
	assert_int_equal(mm->alloc_frame(mm->ctx, &a), 0);
	assert_int_equal(a, 0x100000); /* the mock's first address came through */
	assert_int_equal(ph->alloc_frames(ph->ctx, 5, 0x10000, &b), 0);
	assert_int_equal(b, 0x101000);
	assert_int_equal(m->last_nframes, 5);
	assert_int_equal(m->last_align, 0x10000);
	assert_int_equal(mi->alloc_contiguous_frames(mi->ctx, 3, 7, &c), 0);
	assert_int_equal(c, 0x106000);
	assert_int_equal(m->last_nframes, 3);
	assert_int_equal(m->last_align_log2, 7);
	assert_int_equal(vm->alloc_memory_region_at(vm->ctx, 0x400000, 16 * FRAME), 0);
	assert_int_equal(m->last_hpa, 0x400000);
	assert_int_equal(m->last_size, 16 * FRAME);
	assert_int_equal(ph->alloc_frame(ph->ctx, &d), 0);
	assert_int_equal(mi->alloc_frame(mi->ctx, &d), 0);
	assert_int_equal(inner_allocs(m), 6);
	assert_counts(ch, (struct physim_hal_counts){.alloc_calls = 6,
						     .frames_allocated = 1 + 5 + 3 + 16 + 1 + 1,
						     .frames_live = 27});

	assert_int_equal(mm->dealloc_frame(mm->ctx, a), 0);
	assert_int_equal(m->last_hpa, a);
	assert_int_equal(ph->dealloc_frames(ph->ctx, b, 5), 0);
	assert_int_equal(m->last_hpa, b);
	assert_int_equal(m->last_nframes, 5);
	assert_int_equal(mi->dealloc_contiguous_frames(mi->ctx, c, 3), 0);
	assert_int_equal(m->last_nframes, 3);
	assert_int_equal(vm->dealloc_memory_region_at(vm->ctx, 0x400000, 16 * FRAME), 0);
	assert_int_equal(m->last_size, 16 * FRAME);
	assert_int_equal(ph->dealloc_frame(ph->ctx, d), 0);
	assert_int_equal(mi->dealloc_frame(mi->ctx, d), 0);
	assert_int_equal(calls(m, FREE_FRAME), 3);
	assert_counts(ch, (struct physim_hal_counts){.alloc_calls = 6,
						     .frames_allocated = 27,
						     .frames_freed = 27,
						     .free_calls = 6,
						     .frames_live = 0});
	physim_counting_hal_destroy(ch);
}

static void test_translation_and_time_pass_through(void **state)
{
	struct mock *m = *state;
	struct physim_counting_hal *ch = wrap_all(m, (struct physim_counting_hal_config){0});
	const struct physim_mm_hal *mm = physim_counting_hal_mm(ch);
	const struct physim_paging_handler *ph = physim_counting_hal_paging(ch);
	const struct physim_vm_hal *vm = physim_counting_hal_vm(ch);
	const struct physim_memory_if *mi = physim_counting_hal_memory_if(ch);

	assert_ptr_equal(mm->phys_to_virt(mm->ctx, 0x1000), m->mem);
	assert_null(mm->phys_to_virt(mm->ctx, 0x2000));
	assert_int_equal(mm->virt_to_phys(mm->ctx, m->mem), 0x1000);
	assert_ptr_equal(ph->phys_to_virt(ph->ctx, 0x1000), m->mem);
	assert_int_equal(vm->virt_to_phys(vm->ctx, m->mem), 0x1000);
	assert_ptr_equal(mi->phys_to_virt(mi->ctx, 0x1000), m->mem);
	assert_int_equal(mi->virt_to_phys(mi->ctx, m->mem + 1), 0);
	assert_int_equal(calls(m, P2V), 4);
	assert_int_equal(calls(m, V2P), 3);

	/* The inner direct map is advertised unchanged. */
	assert_int_equal(ph->direct.base, m->ph.direct.base);
	assert_int_equal(ph->direct.size, m->ph.direct.size);
	assert_ptr_equal(ph->direct.hva, m->ph.direct.hva);

	/* Time comes from the inner vm HAL's source. */
	assert_ptr_equal(vm->time_ctx, &mock_time_value);
	assert_int_equal(vm->current_time_nanos(vm->time_ctx), 777);

	/* None of this is an allocation. */
	assert_counts(ch, (struct physim_hal_counts){0});
	assert_int_equal(inner_allocs(m), 0);
	physim_counting_hal_destroy(ch);
}

static void test_inner_failures_counted(void **state)
{
	struct mock *m = *state;
	struct physim_counting_hal *ch = wrap_all(m, (struct physim_counting_hal_config){0});
	m->alloc_error = -ENOSPC;
	uint64_t n;
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(alloc_via(ch, i, &n), -ENOSPC);
	assert_int_equal(inner_allocs(m), 4);
	m->alloc_error = 0;
	assert_int_equal(alloc_via(ch, 1, &n), 0);

	m->free_error = -ENOENT;
	const struct physim_paging_handler *ph = physim_counting_hal_paging(ch);
	assert_int_equal(ph->dealloc_frames(ph->ctx, 0x101000, 2), -ENOENT);
	m->free_error = 0;
	assert_int_equal(ph->dealloc_frames(ph->ctx, 0x101000, 2), 0);
	assert_counts(ch, (struct physim_hal_counts){.alloc_calls = 5,
						     .alloc_failed = 4,
						     .frames_allocated = 2,
						     .frames_freed = 2,
						     .free_calls = 2,
						     .free_failed = 1});
	physim_counting_hal_destroy(ch);
}

/* ---- failure plans ---- */

/* Runs n allocations (rotating over the four wrappers); sets fails[i] for
 * call number i + 1 that failed. Returns how many failed. */
static unsigned run_plan(struct physim_counting_hal *ch, unsigned n, bool *fails)
{
	unsigned failed = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t nf;
		int rc = alloc_via(ch, i, &nf);
		assert_true(rc == 0 || rc == -ENOMEM);
		if (fails)
			fails[i] = rc != 0;
		failed += rc != 0;
	}
	return failed;
}

static void test_fail_nth(void **state)
{
	struct mock *m = *state;
	struct physim_counting_hal *ch =
	    wrap_all(m, (struct physim_counting_hal_config){.fail_nth = 3});
	bool fails[8];
	assert_int_equal(run_plan(ch, 8, fails), 1);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(fails[i], i == 2);
	/* Call 3 went to the memory_if wrapper and never reached the mock. */
	assert_int_equal(calls(m, ALLOC_CONTIG), 1);
	assert_int_equal(inner_allocs(m), 7);
	/* Frames: calls 1..8 rotate 1,2,3,4 frames; call 3 (3 frames) failed. */
	assert_counts(ch, (struct physim_hal_counts){.alloc_calls = 8,
						     .alloc_failed = 1,
						     .injected = 1,
						     .frames_allocated = 2 * (1 + 2 + 3 + 4) - 3,
						     .frames_live = 17});
	physim_counting_hal_destroy(ch);
}

static void test_fail_after(void **state)
{
	struct mock *m = *state;
	struct physim_counting_hal *ch =
	    wrap_all(m, (struct physim_counting_hal_config){.fail_after = 2});
	bool fails[10];
	assert_int_equal(run_plan(ch, 10, fails), 8);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(fails[i], i >= 2);
	assert_int_equal(inner_allocs(m), 2);
	assert_counts(ch, (struct physim_hal_counts){.alloc_calls = 10,
						     .alloc_failed = 8,
						     .injected = 8,
						     .frames_allocated = 3,
						     .frames_live = 3});
	physim_counting_hal_destroy(ch);
}

static void test_fail_nth_and_after(void **state)
{
	struct mock *m = *state;
	struct physim_counting_hal *ch =
	    wrap_all(m, (struct physim_counting_hal_config){.fail_nth = 2, .fail_after = 4});
	bool fails[7];
	assert_int_equal(run_plan(ch, 7, fails), 4);
	const bool want[7] = {false, true, false, false, true, true, true};
	for (unsigned i = 0; i < 7; i++)
		assert_int_equal(fails[i], want[i]);
	physim_counting_hal_destroy(ch);
}

/* An injected failure on top of an inner one is counted once. */
static void test_injected_not_double_counted(void **state)
{
	struct mock *m = *state;
	struct physim_counting_hal *ch =
	    wrap_all(m, (struct physim_counting_hal_config){.fail_nth = 1});
	m->alloc_error = -ENOSPC;
	uint64_t n;
	assert_int_equal(alloc_via(ch, 0, &n), -ENOMEM);
	assert_int_equal(alloc_via(ch, 0, &n), -ENOSPC);
	assert_counts(
	    ch, (struct physim_hal_counts){.alloc_calls = 2, .alloc_failed = 2, .injected = 1});
	physim_counting_hal_destroy(ch);
}

#define NDRAWS 2000

static unsigned probability_pattern(struct mock *m, double p, uint64_t seed, bool *fails)
{
	struct physim_counting_hal *ch =
	    wrap_all(m, (struct physim_counting_hal_config){.fail_probability = p, .seed = seed});
	unsigned failed = run_plan(ch, NDRAWS, fails);
	struct physim_hal_counts c = physim_counting_hal_counts(ch);
	assert_int_equal(c.injected, failed);
	assert_int_equal(c.alloc_calls, NDRAWS);
	physim_counting_hal_destroy(ch);
	return failed;
}

static void test_probability(void **state)
{
	struct mock *m = *state;
	static bool a[NDRAWS], b[NDRAWS], c[NDRAWS];

	unsigned fa = probability_pattern(m, 0.25, 42, a);
	unsigned fb = probability_pattern(m, 0.25, 42, b);
	unsigned fc = probability_pattern(m, 0.25, 43, c);
	/* Same seed, same failures, call for call. */
	assert_int_equal(fa, fb);
	assert_memory_equal(a, b, sizeof(a));
	/* Another seed, another sequence. */
	assert_memory_not_equal(a, c, sizeof(a));
	/* About a quarter: binomial sd is sqrt(2000 * .25 * .75) ~ 19.4, so
	 * 5 sd is about 97. */
	assert_in_range(fa, 500 - 97, 500 + 97);
	assert_in_range(fc, 500 - 97, 500 + 97);

	assert_int_equal(probability_pattern(m, 0.0, 42, NULL), 0);
	assert_int_equal(probability_pattern(m, 1.0, 42, NULL), NDRAWS);
	unsigned tiny = probability_pattern(m, 0.01, 7, NULL);
	assert_in_range(tiny, 1, 60);
}

static void test_bad_probability(void **state)
{
	struct mock *m = *state;
	const double bad[] = {-0.01, 1.01, NAN, INFINITY, -INFINITY};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct physim_counting_hal *ch = (struct physim_counting_hal *)m; /* sentinel */
		assert_int_equal(physim_counting_hal_create(
				     &(struct physim_counting_hal_config){
					 .mm = &m->mm, .fail_probability = bad[i]},
				     &ch),
				 -EINVAL);
		assert_ptr_equal(ch, m);
	}
}

static void test_set_plan(void **state)
{
	struct mock *m = *state;
	struct physim_counting_hal *ch = wrap_all(m, (struct physim_counting_hal_config){0});
	assert_int_equal(run_plan(ch, 5, NULL), 0);

	/* The new plan counts from 1 again: the very next call is number 1. */
	physim_counting_hal_set_plan(ch, &(struct physim_counting_hal_config){.fail_nth = 1});
	bool fails[4];
	assert_int_equal(run_plan(ch, 3, fails), 1);
	assert_true(fails[0]);
	/* Counters were kept across set_plan. */
	struct physim_hal_counts c = physim_counting_hal_counts(ch);
	assert_int_equal(c.alloc_calls, 8);
	assert_int_equal(c.injected, 1);

	/* The inner HAL pointers of a plan are ignored. */
	struct mock other = {0};
	physim_counting_hal_set_plan(
	    ch, &(struct physim_counting_hal_config){.mm = &other.mm, .fail_after = 1});
	assert_ptr_equal(physim_counting_hal_mm(ch)->ctx, ch);
	assert_int_equal(run_plan(ch, 4, fails), 3);
	assert_false(fails[0]);
	assert_int_equal(calls(&other, ALLOC_FRAME), 0);

	/* Back to no plan. */
	physim_counting_hal_set_plan(ch, &(struct physim_counting_hal_config){0});
	assert_int_equal(run_plan(ch, 10, NULL), 0);

	/* Re-seeding replays the same random sequence. */
	bool x[64], y[64];
	const struct physim_counting_hal_config pp = {.fail_probability = 0.5, .seed = 99};
	physim_counting_hal_set_plan(ch, &pp);
	unsigned fx = run_plan(ch, 64, x);
	physim_counting_hal_set_plan(ch, &pp);
	assert_int_equal(run_plan(ch, 64, y), fx);
	assert_memory_equal(x, y, sizeof(x));
	assert_in_range(fx, 1, 63);

	/* Out-of-range probabilities are clamped, NaN means never. */
	physim_counting_hal_set_plan(ch,
				     &(struct physim_counting_hal_config){.fail_probability = 5});
	assert_int_equal(run_plan(ch, 8, NULL), 8);
	physim_counting_hal_set_plan(ch,
				     &(struct physim_counting_hal_config){.fail_probability = NAN});
	assert_int_equal(run_plan(ch, 8, NULL), 0);
	physim_counting_hal_set_plan(ch,
				     &(struct physim_counting_hal_config){.fail_probability = -1});
	assert_int_equal(run_plan(ch, 8, NULL), 0);
	physim_counting_hal_destroy(ch);
}

static void test_reset_counts(void **state)
{
	struct mock *m = *state;
	struct physim_counting_hal *ch =
	    wrap_all(m, (struct physim_counting_hal_config){.fail_nth = 2});
	assert_int_equal(run_plan(ch, 3, NULL), 1);
	const struct physim_mm_hal *mm = physim_counting_hal_mm(ch);
	assert_int_equal(mm->dealloc_frame(mm->ctx, 0x100000), 0);
	assert_int_not_equal(physim_counting_hal_counts(ch).alloc_calls, 0);

	physim_counting_hal_reset_counts(ch);
	assert_counts(ch, (struct physim_hal_counts){0});
	/* Numbering restarted and the plan stayed: call 2 fails again. */
	bool fails[3];
	assert_int_equal(run_plan(ch, 3, fails), 1);
	assert_true(fails[1]);
	assert_counts(ch, (struct physim_hal_counts){.alloc_calls = 3,
						     .alloc_failed = 1,
						     .injected = 1,
						     .frames_allocated = 1 + 3,
						     .frames_live = 4});
	physim_counting_hal_destroy(ch);
}

/* ---- which wrappers exist, and the vm wrapper's paging ---- */

static void test_partial_wrappers(void **state)
{
	struct mock *m = *state;
	struct physim_counting_hal *ch = NULL;

	assert_int_equal(
	    physim_counting_hal_create(&(struct physim_counting_hal_config){.mm = &m->mm}, &ch), 0);
	assert_non_null(physim_counting_hal_mm(ch));
	assert_null(physim_counting_hal_paging(ch));
	assert_null(physim_counting_hal_vm(ch));
	assert_null(physim_counting_hal_memory_if(ch));
	physim_counting_hal_destroy(ch);

	/* vm without paging: the vm wrapper's paging is the inner vm's own,
	 * and allocations through it are not counted. */
	assert_int_equal(
	    physim_counting_hal_create(&(struct physim_counting_hal_config){.vm = &m->vm}, &ch), 0);
	const struct physim_vm_hal *vm = physim_counting_hal_vm(ch);
	assert_ptr_equal(vm->paging, &m->ph);
	physim_hpa_t h;
	assert_int_equal(physim_ph_alloc_frame(vm->paging, &h), 0);
	assert_int_equal(physim_counting_hal_counts(ch).alloc_calls, 0);
	assert_null(physim_counting_hal_paging(ch));
	physim_counting_hal_destroy(ch);

	/* vm with paging: it points at the wrapped paging handler. */
	ch = wrap_all(m, (struct physim_counting_hal_config){0});
	vm = physim_counting_hal_vm(ch);
	assert_ptr_equal(vm->paging, physim_counting_hal_paging(ch));
	assert_int_equal(physim_ph_alloc_frame(vm->paging, &h), 0);
	assert_int_equal(physim_counting_hal_counts(ch).alloc_calls, 1);
	physim_counting_hal_destroy(ch);

	/* Nothing to wrap is allowed; every getter says so. */
	assert_int_equal(physim_counting_hal_create(&(struct physim_counting_hal_config){0}, &ch),
			 0);
	assert_null(physim_counting_hal_mm(ch));
	assert_null(physim_counting_hal_paging(ch));
	assert_null(physim_counting_hal_vm(ch));
	assert_null(physim_counting_hal_memory_if(ch));
	physim_counting_hal_destroy(ch);
}

/* An entry the inner HAL leaves NULL stays NULL in the wrapper. */
static void test_optional_entries_mirrored(void **state)
{
	struct mock *m = *state;
	struct physim_mm_hal mm = m->mm;
	mm.virt_to_phys = NULL;
	struct physim_paging_handler ph = m->ph;
	ph.direct = (struct physim_direct_map){0};
	struct physim_counting_hal *ch = NULL;
	assert_int_equal(physim_counting_hal_create(
			     &(struct physim_counting_hal_config){.mm = &mm, .paging = &ph}, &ch),
			 0);
	assert_null(physim_counting_hal_mm(ch)->virt_to_phys);
	assert_non_null(physim_counting_hal_mm(ch)->phys_to_virt);
	assert_int_equal(physim_counting_hal_paging(ch)->direct.size, 0);
	/* With no direct map, the inline helper goes through the wrapper. */
	assert_ptr_equal(physim_ph_phys_to_virt(physim_counting_hal_paging(ch), 0x1000), m->mem);
	assert_int_equal(calls(m, P2V), 1);
	physim_counting_hal_destroy(ch);
}

static void test_bad_arguments(void **state)
{
	struct mock *m = *state;
	struct physim_counting_hal *ch = NULL;
	assert_int_equal(physim_counting_hal_create(NULL, &ch), -EINVAL);
	assert_null(ch);
	assert_int_equal(
	    physim_counting_hal_create(&(struct physim_counting_hal_config){.mm = &m->mm}, NULL),
	    -EINVAL);
	assert_null(physim_counting_hal_mm(NULL));
	assert_null(physim_counting_hal_paging(NULL));
	assert_null(physim_counting_hal_vm(NULL));
	assert_null(physim_counting_hal_memory_if(NULL));
	struct physim_hal_counts c = physim_counting_hal_counts(NULL);
	assert_int_equal(c.alloc_calls + c.frames_allocated + c.free_calls, 0);
	physim_counting_hal_set_plan(NULL, &(struct physim_counting_hal_config){0});
	physim_counting_hal_reset_counts(NULL);
	physim_counting_hal_destroy(NULL);

	ch = wrap_all(m, (struct physim_counting_hal_config){.fail_nth = 1});
	physim_counting_hal_set_plan(ch, NULL); /* ignored: the plan stays */
	assert_int_equal(run_plan(ch, 2, NULL), 1);
	physim_counting_hal_destroy(ch);
}

/* ---- threads ---- */

#define NTHREADS   4
#define PER_THREAD 20000
#define FAIL_AFTER 50000

struct worker {
	struct physim_counting_hal *ch;
	unsigned id;
	uint64_t ok_calls, ok_frames, failed;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (unsigned i = 0; i < PER_THREAD; i++) {
		uint64_t n;
		/* Each thread rotates through the wrappers from its own start. */
		if (alloc_via(w->ch, i + w->id, &n) == 0) {
			w->ok_calls++;
			w->ok_frames += n;
			if (i % 2 == 0) {
				const struct physim_mm_hal *mm = physim_counting_hal_mm(w->ch);
				mm->dealloc_frame(mm->ctx, 0x100000);
			}
		} else {
			w->failed++;
		}
	}
	return NULL;
}

static struct physim_hal_counts run_threads(struct mock *m, struct physim_counting_hal_config cfg,
					    struct worker *w)
{
	struct physim_counting_hal *ch = wrap_all(m, cfg);
	pthread_t t[NTHREADS];
	for (unsigned i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){.ch = ch, .id = i};
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	struct physim_hal_counts c = physim_counting_hal_counts(ch);
	physim_counting_hal_destroy(ch);
	return c;
}

static void test_threads_exact_counts(void **state)
{
	struct mock *m = *state;
	struct worker w[NTHREADS];
	struct physim_hal_counts c =
	    run_threads(m, (struct physim_counting_hal_config){.fail_after = FAIL_AFTER}, w);

	uint64_t ok_calls = 0, ok_frames = 0, failed = 0, frees = 0;
	for (unsigned i = 0; i < NTHREADS; i++) {
		ok_calls += w[i].ok_calls;
		ok_frames += w[i].ok_frames;
		failed += w[i].failed;
	}
	/* Whatever the interleaving, exactly calls FAIL_AFTER+1.. fail. */
	assert_int_equal(c.alloc_calls, NTHREADS * PER_THREAD);
	assert_int_equal(failed, NTHREADS * PER_THREAD - FAIL_AFTER);
	assert_int_equal(c.injected, failed);
	assert_int_equal(c.alloc_failed, failed);
	assert_int_equal(ok_calls, FAIL_AFTER);
	assert_int_equal(inner_allocs(m), FAIL_AFTER);
	assert_int_equal(c.frames_allocated, ok_frames);
	frees = (uint64_t)calls(m, FREE_FRAME);
	assert_int_equal(c.free_calls, frees);
	assert_int_equal(c.frames_freed, frees);
	assert_int_equal(c.frames_live, (int64_t)(ok_frames - frees));
}

/* Draws are tied to call numbers, so a seed gives the same number of
 * failures whether one thread or four make the calls. */
static void test_threads_probability_reproducible(void **state)
{
	struct mock *m = *state;
	const struct physim_counting_hal_config cfg = {.fail_probability = 0.1, .seed = 2024};
	struct physim_counting_hal *ch = wrap_all(m, cfg);
	unsigned single = run_plan(ch, NTHREADS * PER_THREAD, NULL);
	physim_counting_hal_destroy(ch);

	struct worker w[NTHREADS];
	struct physim_hal_counts c = run_threads(m, cfg, w);
	assert_int_equal(c.injected, single);
	assert_in_range(single, 8000 - 500, 8000 + 500);
}

/* ---- over the RAM: the wrapper's live count is the RAM's used count ---- */

static void test_over_ram(void **state)
{
	(void)state;
	struct physim_ram *ram = NULL;
	assert_int_equal(physim_ram_create(&(struct physim_ram_config){.size = 64 * FRAME}, &ram),
			 0);
	struct physim_vm_hal rvm;
	physim_ram_vm_hal(ram, NULL, &rvm);
	struct physim_counting_hal *ch = NULL;
	assert_int_equal(physim_counting_hal_create(
			     &(struct physim_counting_hal_config){
				 .mm = physim_ram_mm_hal(ram),
				 .paging = physim_ram_paging_handler(ram),
				 .vm = &rvm,
				 .memory_if = physim_ram_memory_if(ram),
			     },
			     &ch),
			 0);
	const struct physim_vm_hal *vm = physim_counting_hal_vm(ch);
	physim_hpa_t a, b;
	physim_hpa_t base = physim_ram_base(ram);
	assert_int_equal(vm->alloc_memory_region_at(vm->ctx, base + 32 * FRAME, 4 * FRAME), 0);
	assert_int_equal(physim_ph_alloc_frame(vm->paging, &a), 0);
	assert_int_equal(vm->paging->alloc_frames(vm->paging->ctx, 8, 8 * FRAME, &b), 0);
	assert_int_equal(physim_counting_hal_counts(ch).frames_live,
			 (int64_t)physim_ram_stats(ram).used_frames);
	assert_int_equal(physim_ram_stats(ram).used_frames, 13);
	/* A RAM error (busy) is counted as a failure, not as frames. */
	assert_int_equal(vm->alloc_memory_region_at(vm->ctx, base + 32 * FRAME, FRAME), -EBUSY);
	assert_int_equal(physim_counting_hal_counts(ch).alloc_failed, 1);

	assert_int_equal(physim_ph_dealloc_frame(vm->paging, a), 0);
	assert_int_equal(vm->paging->dealloc_frames(vm->paging->ctx, b, 8), 0);
	assert_int_equal(vm->dealloc_memory_region_at(vm->ctx, base + 32 * FRAME, 4 * FRAME), 0);
	assert_int_equal(physim_counting_hal_counts(ch).frames_live, 0);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);
	physim_counting_hal_destroy(ch);
	physim_ram_destroy(ram);
}

#define MOCK_TEST(fn) cmocka_unit_test_setup_teardown(fn, mock_setup, mock_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    MOCK_TEST(test_pass_through_and_counts),
	    MOCK_TEST(test_translation_and_time_pass_through),
	    MOCK_TEST(test_inner_failures_counted),
	    MOCK_TEST(test_fail_nth),
	    MOCK_TEST(test_fail_after),
	    MOCK_TEST(test_fail_nth_and_after),
	    MOCK_TEST(test_injected_not_double_counted),
	    MOCK_TEST(test_probability),
	    MOCK_TEST(test_bad_probability),
	    MOCK_TEST(test_set_plan),
	    MOCK_TEST(test_reset_counts),
	    MOCK_TEST(test_partial_wrappers),
	    MOCK_TEST(test_optional_entries_mirrored),
	    MOCK_TEST(test_bad_arguments),
	    MOCK_TEST(test_threads_exact_counts),
	    MOCK_TEST(test_threads_probability_reproducible),
	    cmocka_unit_test(test_over_ram),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
