/* SPDX-License-Identifier: MIT */
/* tests/test_frame.c - PhysFrame over a hand-written mock mm_hal (counts
 * calls, can run dry, return address 0 or refuse to map) and over the RAM's
 * own mm_hal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <physim/frame.h>
#include <physim/ram.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the mock: MOCK_FRAMES frames at host-physical MOCK_BASE, backed by an
 * array with one guard frame on each side to catch overruns ---- */

#define MOCK_FRAMES 8
#define MOCK_BASE   UINT64_C(0x40000000)
#define FRAME	    4096
#define GUARD_BYTE  0x5a

struct mock_hal {
	struct physim_mm_hal hal;
	uint8_t *mem; /* (MOCK_FRAMES + 2) frames; frame i is at mem + (i + 1) * FRAME */
	bool used[MOCK_FRAMES];
	int alloc_calls, dealloc_calls, dealloc_failed;
	physim_hpa_t last_freed;
	int force_error;  /* alloc returns this if non-zero */
	bool return_zero; /* alloc "succeeds" with address 0 */
	bool no_map;	  /* phys_to_virt returns NULL */
};

static uint8_t *mock_frame_mem(struct mock_hal *m, int i)
{
	return m->mem + (size_t)(i + 1) * FRAME;
}

static int mock_index(physim_hpa_t hpa)
{
	if (hpa < MOCK_BASE || hpa >= MOCK_BASE + MOCK_FRAMES * FRAME || hpa % FRAME != 0)
		return -1;
	return (int)((hpa - MOCK_BASE) / FRAME);
}

static int mock_alloc(void *ctx, physim_hpa_t *hpa)
{
	struct mock_hal *m = ctx;
	m->alloc_calls++;
	if (m->force_error)
		return m->force_error;
	if (m->return_zero) {
		*hpa = 0;
		return 0;
	}
	for (int i = 0; i < MOCK_FRAMES; i++) {
		if (!m->used[i]) {
			m->used[i] = true;
			*hpa = MOCK_BASE + (physim_hpa_t)i * FRAME;
			return 0;
		}
	}
	return -ENOMEM;
}

static int mock_dealloc(void *ctx, physim_hpa_t hpa)
{
	struct mock_hal *m = ctx;
	m->dealloc_calls++;
	m->last_freed = hpa;
	int i = mock_index(hpa);
	if (i < 0 || !m->used[i]) {
		m->dealloc_failed++;
		return -ENOENT;
	}
	m->used[i] = false;
	return 0;
}

static void *mock_p2v(void *ctx, physim_hpa_t hpa)
{
	struct mock_hal *m = ctx;
	if (m->no_map || hpa < MOCK_BASE || hpa >= MOCK_BASE + MOCK_FRAMES * FRAME)
		return NULL;
	return m->mem + FRAME + (hpa - MOCK_BASE);
}

static physim_hpa_t mock_v2p(void *ctx, const void *hva)
{
	struct mock_hal *m = ctx;
	const uint8_t *p = hva, *lo = m->mem + FRAME;
	if (p < lo || p >= lo + MOCK_FRAMES * FRAME)
		return 0;
	return MOCK_BASE + (physim_hpa_t)(p - lo);
}

static int mock_used_count(const struct mock_hal *m)
{
	int n = 0;
	for (int i = 0; i < MOCK_FRAMES; i++)
		n += m->used[i];
	return n;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t b)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != b)
			return false;
	return true;
}

static int mock_setup(void **state)
{
	struct mock_hal *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -1;
	m->mem = aligned_alloc(FRAME, (MOCK_FRAMES + 2) * FRAME);
	if (m->mem == NULL)
		return -1;
	memset(m->mem, GUARD_BYTE, (MOCK_FRAMES + 2) * FRAME);
	m->hal = (struct physim_mm_hal){
	    .ctx = m,
	    .alloc_frame = mock_alloc,
	    .dealloc_frame = mock_dealloc,
	    .phys_to_virt = mock_p2v,
	    .virt_to_phys = mock_v2p,
	};
	*state = m;
	return 0;
}

static int mock_teardown(void **state)
{
	struct mock_hal *m = *state;
	/* Guard frames must never be written. */
	bool guards_ok = all_bytes(m->mem, FRAME, GUARD_BYTE) &&
			 all_bytes(mock_frame_mem(m, MOCK_FRAMES), FRAME, GUARD_BYTE);
	free(m->mem);
	free(m);
	return guards_ok ? 0 : -1;
}

static void assert_uninit(const struct physim_frame *f)
{
	assert_true(physim_frame_is_uninit(f));
	assert_int_equal(f->start_paddr, 0);
	assert_null(f->hal);
	assert_int_equal(physim_frame_start_paddr(f), 0);
	assert_null(physim_frame_as_mut_ptr(f));
}

/* ---- mock tests ---- */

static void test_uninit(void **state)
{
	struct mock_hal *m = *state;
	struct physim_frame f = physim_frame_uninit();
	assert_uninit(&f);
	assert_int_equal(physim_frame_fill(&f, 1), -EINVAL);
	physim_frame_drop(&f);
	physim_frame_drop(&f);
	assert_uninit(&f);
	assert_int_equal(m->dealloc_calls, 0);
}

static void test_alloc_and_drop(void **state)
{
	struct mock_hal *m = *state;
	struct physim_frame f = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc(&m->hal, &f), 0);
	assert_int_equal(m->alloc_calls, 1);
	assert_false(physim_frame_is_uninit(&f));
	assert_int_equal(physim_frame_start_paddr(&f), MOCK_BASE); /* the mock's first frame */
	assert_ptr_equal(f.hal, &m->hal);
	assert_ptr_equal(physim_frame_as_mut_ptr(&f), mock_frame_mem(m, 0));
	assert_true(m->used[0]);

	struct physim_frame g = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc(&m->hal, &g), 0);
	assert_int_equal(physim_frame_start_paddr(&g), MOCK_BASE + FRAME);
	assert_ptr_equal(physim_frame_as_mut_ptr(&g), mock_frame_mem(m, 1));

	physim_frame_drop(&f);
	assert_int_equal(m->dealloc_calls, 1);
	assert_int_equal(m->last_freed, MOCK_BASE);
	assert_false(m->used[0]);
	assert_uninit(&f);
	physim_frame_drop(&f); /* twice: nothing reaches the HAL */
	assert_int_equal(m->dealloc_calls, 1);

	physim_frame_drop(&g);
	assert_int_equal(m->dealloc_calls, 2);
	assert_int_equal(m->dealloc_failed, 0);
	assert_int_equal(mock_used_count(m), 0);
}

static void test_alloc_until_empty(void **state)
{
	struct mock_hal *m = *state;
	struct physim_frame f[MOCK_FRAMES + 1];
	for (int i = 0; i < MOCK_FRAMES; i++) {
		assert_int_equal(physim_frame_alloc(&m->hal, &f[i]), 0);
		assert_int_equal(physim_frame_start_paddr(&f[i]), MOCK_BASE + (uint64_t)i * FRAME);
	}
	assert_int_equal(mock_used_count(m), MOCK_FRAMES);

	/* The HAL has none: a clean -ENOMEM, nothing freed or changed. */
	f[MOCK_FRAMES] = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc(&m->hal, &f[MOCK_FRAMES]), -ENOMEM);
	assert_uninit(&f[MOCK_FRAMES]);
	assert_int_equal(physim_frame_alloc_zero(&m->hal, &f[MOCK_FRAMES]), -ENOMEM);
	assert_uninit(&f[MOCK_FRAMES]);
	assert_int_equal(m->dealloc_calls, 0);
	assert_int_equal(mock_used_count(m), MOCK_FRAMES);

	for (int i = 0; i < MOCK_FRAMES; i++)
		physim_frame_drop(&f[i]);
	assert_int_equal(m->dealloc_calls, MOCK_FRAMES);
	assert_int_equal(mock_used_count(m), 0);
}

static void test_hal_error_passes_through(void **state)
{
	struct mock_hal *m = *state;
	struct physim_frame f = physim_frame_uninit();
	m->force_error = -EIO;
	assert_int_equal(physim_frame_alloc(&m->hal, &f), -EIO);
	assert_uninit(&f);
	assert_int_equal(physim_frame_alloc_zero(&m->hal, &f), -EIO);
	assert_uninit(&f);
	assert_int_equal(m->alloc_calls, 2);
	assert_int_equal(m->dealloc_calls, 0);
}

static void test_address_zero_rejected(void **state)
{
	struct mock_hal *m = *state;
	struct physim_frame f = physim_frame_uninit();
	m->return_zero = true;
	assert_int_equal(physim_frame_alloc(&m->hal, &f), -EFAULT);
	assert_uninit(&f);
	assert_int_equal(physim_frame_alloc_zero(&m->hal, &f), -EFAULT);
	assert_uninit(&f);
	/* Nothing is handed back: there is no frame to free. */
	assert_int_equal(m->dealloc_calls, 0);
	assert_int_equal(m->alloc_calls, 2);
}

static void test_failure_leaves_out_uninit(void **state)
{
	struct mock_hal *m = *state;
	/* A never-initialised handle becomes uninit on failure, so a scoped
	 * handle is safe to drop. */
	struct physim_frame f;
	memset(&f, 0xff, sizeof(f));
	m->force_error = -ENOMEM;
	assert_int_equal(physim_frame_alloc(&m->hal, &f), -ENOMEM);
	assert_uninit(&f);
}

static void test_alloc_zero(void **state)
{
	struct mock_hal *m = *state;
	/* Dirty every mock frame first. */
	memset(mock_frame_mem(m, 0), 0xaa, MOCK_FRAMES * FRAME);

	struct physim_frame f = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc_zero(&m->hal, &f), 0);
	assert_int_equal(physim_frame_start_paddr(&f), MOCK_BASE);
	assert_true(all_bytes(mock_frame_mem(m, 0), FRAME, 0));
	/* Only that frame. */
	assert_true(all_bytes(mock_frame_mem(m, 1), FRAME, 0xaa));
	physim_frame_drop(&f);
	assert_int_equal(mock_used_count(m), 0);
}

static void test_alloc_zero_unmappable(void **state)
{
	struct mock_hal *m = *state;
	m->no_map = true;
	struct physim_frame f = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc_zero(&m->hal, &f), -EFAULT);
	assert_uninit(&f);
	/* The frame went back to the HAL first. */
	assert_int_equal(m->alloc_calls, 1);
	assert_int_equal(m->dealloc_calls, 1);
	assert_int_equal(m->last_freed, MOCK_BASE);
	assert_int_equal(m->dealloc_failed, 0);
	assert_int_equal(mock_used_count(m), 0);
}

static void test_fill(void **state)
{
	struct mock_hal *m = *state;
	memset(mock_frame_mem(m, 0), 0, MOCK_FRAMES * FRAME);
	struct physim_frame a = physim_frame_uninit(), b = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc(&m->hal, &a), 0);
	assert_int_equal(physim_frame_alloc(&m->hal, &b), 0);
	assert_int_equal(physim_frame_fill(&b, 0x3c), 0);
	assert_true(all_bytes(mock_frame_mem(m, 1), FRAME, 0x3c));
	assert_true(all_bytes(mock_frame_mem(m, 0), FRAME, 0));
	assert_true(all_bytes(mock_frame_mem(m, 2), FRAME, 0));
	assert_int_equal(physim_frame_fill(&a, 0xff), 0);
	assert_true(all_bytes(mock_frame_mem(m, 0), FRAME, 0xff));
	assert_true(all_bytes(mock_frame_mem(m, 1), FRAME, 0x3c));

	/* What as_mut_ptr returns is the frame's memory. */
	uint8_t *p = physim_frame_as_mut_ptr(&a);
	p[FRAME - 1] = 7;
	assert_int_equal(mock_frame_mem(m, 0)[FRAME - 1], 7);

	/* A HAL that cannot map the frame: -EFAULT, nothing written. */
	m->no_map = true;
	assert_int_equal(physim_frame_fill(&a, 0x11), -EFAULT);
	assert_null(physim_frame_as_mut_ptr(&a));
	m->no_map = false;
	assert_int_equal(mock_frame_mem(m, 0)[0], 0xff);

	physim_frame_drop(&a);
	physim_frame_drop(&b);
	assert_int_equal(mock_used_count(m), 0);
}

static void test_bad_arguments(void **state)
{
	struct mock_hal *m = *state;
	struct physim_frame f = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc(NULL, &f), -EINVAL);
	assert_uninit(&f);
	assert_int_equal(physim_frame_alloc_zero(NULL, &f), -EINVAL);
	assert_int_equal(physim_frame_alloc(&m->hal, NULL), -EINVAL);
	assert_int_equal(physim_frame_alloc_zero(&m->hal, NULL), -EINVAL);
	assert_int_equal(m->alloc_calls, 0);

	/* A vtable without an allocator cannot be used. */
	struct physim_mm_hal broken = m->hal;
	broken.alloc_frame = NULL;
	assert_int_equal(physim_frame_alloc(&broken, &f), -EINVAL);
	broken = m->hal;
	broken.dealloc_frame = NULL;
	assert_int_equal(physim_frame_alloc(&broken, &f), -EINVAL);
	assert_uninit(&f);
	assert_int_equal(m->alloc_calls, 0);

	/* NULL handles are treated as uninit. */
	assert_true(physim_frame_is_uninit(NULL));
	assert_int_equal(physim_frame_start_paddr(NULL), 0);
	assert_null(physim_frame_as_mut_ptr(NULL));
	assert_int_equal(physim_frame_fill(NULL, 0), -EINVAL);
	physim_frame_drop(NULL);
	assert_int_equal(m->dealloc_calls, 0);
}

static int log_warnings;
static void count_warnings(void *ctx, enum physim_log_level level, const char *msg)
{
	(void)ctx;
	(void)msg;
	if (level == PHYSIM_LOG_WARN)
		log_warnings++;
}

static void test_drop_refused_by_hal(void **state)
{
	struct mock_hal *m = *state;
	struct physim_frame f = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc(&m->hal, &f), 0);
	/* Someone frees the frame behind the handle's back. */
	assert_int_equal(mock_dealloc(m, physim_frame_start_paddr(&f)), 0);

	log_warnings = 0;
	physim_set_log(count_warnings, NULL, PHYSIM_LOG_WARN);
	physim_frame_drop(&f);
	physim_set_log(NULL, NULL, PHYSIM_LOG_NONE);
	/* The HAL said no; the handle is still reset, and the drop was
	 * reported. */
	assert_int_equal(m->dealloc_failed, 1);
	assert_int_equal(log_warnings, 1);
	assert_uninit(&f);
}

static void scoped_alloc(struct mock_hal *m, uint8_t byte, physim_hpa_t *seen)
{
	PHYSIM_FRAME_SCOPED struct physim_frame f = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc(&m->hal, &f), 0);
	assert_int_equal(physim_frame_fill(&f, byte), 0);
	*seen = physim_frame_start_paddr(&f);
	assert_int_equal(mock_used_count(m), 1);
}

static void test_scoped(void **state)
{
	struct mock_hal *m = *state;
	physim_hpa_t seen = 0;
	scoped_alloc(m, 0x42, &seen);
	assert_int_equal(seen, MOCK_BASE);
	assert_int_equal(m->dealloc_calls, 1);
	assert_int_equal(m->last_freed, seen);
	assert_int_equal(mock_used_count(m), 0);
	assert_true(all_bytes(mock_frame_mem(m, 0), FRAME, 0x42));

	/* A scoped handle whose allocation failed drops harmlessly. */
	m->force_error = -ENOMEM;
	{
		PHYSIM_FRAME_SCOPED struct physim_frame f;
		assert_int_equal(physim_frame_alloc(&m->hal, &f), -ENOMEM);
	}
	assert_int_equal(m->dealloc_calls, 1);

	/* Several in one scope, all returned. */
	m->force_error = 0;
	{
		PHYSIM_FRAME_SCOPED struct physim_frame a = physim_frame_uninit();
		PHYSIM_FRAME_SCOPED struct physim_frame b = physim_frame_uninit();
		assert_int_equal(physim_frame_alloc_zero(&m->hal, &a), 0);
		assert_int_equal(physim_frame_alloc_zero(&m->hal, &b), 0);
		assert_int_equal(mock_used_count(m), 2);
	}
	assert_int_equal(m->dealloc_calls, 3);
	assert_int_equal(m->dealloc_failed, 0);
	assert_int_equal(mock_used_count(m), 0);
}

/* Frames remember their own HAL. */
static void test_two_hals(void **state)
{
	struct mock_hal *m1 = *state, *m2 = NULL;
	void *st = NULL;
	assert_int_equal(mock_setup(&st), 0);
	m2 = st;

	struct physim_frame a = physim_frame_uninit(), b = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc(&m1->hal, &a), 0);
	assert_int_equal(physim_frame_alloc(&m2->hal, &b), 0);
	assert_int_equal(physim_frame_start_paddr(&a), physim_frame_start_paddr(&b));
	assert_ptr_equal(physim_frame_as_mut_ptr(&a), mock_frame_mem(m1, 0));
	assert_ptr_equal(physim_frame_as_mut_ptr(&b), mock_frame_mem(m2, 0));
	physim_frame_drop(&b);
	assert_int_equal(m2->dealloc_calls, 1);
	assert_int_equal(m1->dealloc_calls, 0);
	physim_frame_drop(&a);
	assert_int_equal(m1->dealloc_calls, 1);
	assert_int_equal(mock_teardown(&st), 0);
}

/* ---- over the RAM's own mm_hal ---- */

#define RAM_FRAMES 16

static struct physim_ram *small_ram(const struct physim_ram_config *cfg)
{
	struct physim_ram *ram = NULL;
	assert_int_equal(physim_ram_create(cfg, &ram), 0);
	assert_non_null(ram);
	return ram;
}

static void test_ram_alloc_fill_drop(void **state)
{
	(void)state;
	struct physim_ram *ram =
	    small_ram(&(struct physim_ram_config){.base = 0x100000, .size = RAM_FRAMES * FRAME});
	const struct physim_mm_hal *hal = physim_ram_mm_hal(ram);
	struct physim_direct_map dm = physim_ram_direct_map(ram);

	struct physim_frame f = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc(hal, &f), 0);
	physim_hpa_t hpa = physim_frame_start_paddr(&f);
	assert_true(hpa >= 0x100000 && hpa < 0x100000 + RAM_FRAMES * FRAME);
	assert_int_equal(hpa % FRAME, 0);
	assert_int_equal(physim_ram_frame_in_use(ram, hpa), 1);
	assert_int_equal(physim_ram_stats(ram).used_frames, 1);
	/* The pointer is where the RAM's direct map says the frame lives. */
	assert_ptr_equal(physim_frame_as_mut_ptr(&f), dm.hva + (hpa - dm.base));

	assert_int_equal(physim_frame_fill(&f, 0x99), 0);
	void *hva = NULL;
	assert_int_equal(physim_ram_phys_to_virt(ram, hpa, &hva), 0);
	assert_true(all_bytes(hva, FRAME, 0x99));

	physim_frame_drop(&f);
	assert_uninit(&f);
	assert_int_equal(physim_ram_frame_in_use(ram, hpa), 0);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);
	physim_frame_drop(&f);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);
	physim_ram_destroy(ram);
}

static void test_ram_exhaust_and_zero(void **state)
{
	(void)state;
	struct physim_ram *ram =
	    small_ram(&(struct physim_ram_config){.base = 0x100000, .size = RAM_FRAMES * FRAME});
	const struct physim_mm_hal *hal = physim_ram_mm_hal(ram);
	struct physim_frame f[RAM_FRAMES];

	/* Dirty every frame of the RAM, then give them all back. */
	for (int i = 0; i < RAM_FRAMES; i++) {
		assert_int_equal(physim_frame_alloc(hal, &f[i]), 0);
		assert_int_equal(physim_frame_fill(&f[i], 0xee), 0);
	}
	struct physim_frame extra = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc(hal, &extra), -ENOMEM);
	assert_uninit(&extra);
	assert_int_equal(physim_ram_stats(ram).used_frames, RAM_FRAMES);
	for (int i = 0; i < RAM_FRAMES; i++)
		physim_frame_drop(&f[i]);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);

	/* Every frame alloc_zero hands out is zero, whichever it is. */
	bool seen[RAM_FRAMES] = {0};
	for (int i = 0; i < RAM_FRAMES; i++) {
		assert_int_equal(physim_frame_alloc_zero(hal, &f[i]), 0);
		physim_hpa_t hpa = physim_frame_start_paddr(&f[i]);
		int idx = (int)((hpa - 0x100000) / FRAME);
		assert_false(seen[idx]);
		seen[idx] = true;
		assert_true(all_bytes(physim_frame_as_mut_ptr(&f[i]), FRAME, 0));
	}
	assert_int_equal(physim_frame_alloc_zero(hal, &extra), -ENOMEM);
	assert_uninit(&extra);
	for (int i = 0; i < RAM_FRAMES; i++)
		physim_frame_drop(&f[i]);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);
	physim_ram_destroy(ram);
}

/* A RAM starting at host-physical 0 never hands out frame 0, so PhysFrame
 * never sees the address it treats as failure. */
static void test_ram_at_zero(void **state)
{
	(void)state;
	struct physim_ram *ram = small_ram(
	    &(struct physim_ram_config){.base_is_zero = true, .size = RAM_FRAMES * FRAME});
	const struct physim_mm_hal *hal = physim_ram_mm_hal(ram);
	struct physim_frame f[RAM_FRAMES];
	int n = 0;
	while (n < RAM_FRAMES && physim_frame_alloc(hal, &f[n]) == 0) {
		assert_int_not_equal(physim_frame_start_paddr(&f[n]), 0);
		n++;
	}
	assert_int_equal(n, RAM_FRAMES - 1);
	assert_uninit(&f[n]);
	for (int i = 0; i < n; i++)
		physim_frame_drop(&f[i]);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);
	physim_ram_destroy(ram);
}

static void scoped_ram_frame(const struct physim_mm_hal *hal, struct physim_ram *ram)
{
	PHYSIM_FRAME_SCOPED struct physim_frame f = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc_zero(hal, &f), 0);
	assert_int_equal(physim_ram_stats(ram).used_frames, 1);
}

static void test_ram_scoped(void **state)
{
	(void)state;
	struct physim_ram *ram =
	    small_ram(&(struct physim_ram_config){.base = 0x100000, .size = RAM_FRAMES * FRAME});
	scoped_ram_frame(physim_ram_mm_hal(ram), ram);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);
	physim_ram_destroy(ram);
}

/* ---- a RAM destroyed while frames are live ---- */

static int log_errors;
static char last_error[512];
static void capture_errors(void *ctx, enum physim_log_level level, const char *msg)
{
	(void)ctx;
	if (level != PHYSIM_LOG_ERROR)
		return;
	log_errors++;
	snprintf(last_error, sizeof(last_error), "%s", msg);
}

static void capture_errors_start(void)
{
	log_errors = 0;
	last_error[0] = '\0';
	physim_set_log(capture_errors, NULL, PHYSIM_LOG_ERROR);
}

/* The README's first snippet with the destroy written at the end of the
 * same scope: the scoped frame is dropped after its RAM is gone. Its drop
 * goes through the RAM's mm_hal, which must still be there and do nothing
 * (a heap-use-after-free under ASan, a crash in hpa_to_frame without). */
static void readme_shape(physim_hpa_t *seen)
{
	struct physim_ram *ram =
	    small_ram(&(struct physim_ram_config){.base = 0x100000, .size = RAM_FRAMES * FRAME});
	const struct physim_mm_hal *mm = physim_ram_mm_hal(ram);
	PHYSIM_FRAME_SCOPED struct physim_frame f = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc_zero(mm, &f), 0);
	memset(physim_frame_as_mut_ptr(&f), 0xaa, 64);
	*seen = physim_frame_start_paddr(&f);
	physim_ram_destroy(ram);
}

static void test_ram_destroyed_before_scoped_drop(void **state)
{
	(void)state;
	physim_hpa_t hpa = 0;
	capture_errors_start();
	readme_shape(&hpa);
	physim_set_log(NULL, NULL, PHYSIM_LOG_NONE);
	assert_int_not_equal(hpa, 0);
	/* Loud: one error at the destroy, naming the count; the drop itself
	 * is quiet. */
	assert_int_equal(log_errors, 1);
	assert_non_null(strstr(last_error, "destroyed with 1 frames still allocated"));
}

/* What is left of such a RAM answers every vtable call without touching
 * the freed memory: frees do nothing, allocations fail, nothing
 * translates, and the paging handler no longer advertises a direct map. */
static void test_ram_destroyed_vtables(void **state)
{
	(void)state;
	struct physim_ram *ram =
	    small_ram(&(struct physim_ram_config){.base = 0x100000, .size = RAM_FRAMES * FRAME});
	const struct physim_mm_hal *mm = physim_ram_mm_hal(ram);
	const struct physim_paging_handler *ph = physim_ram_paging_handler(ram);
	const struct physim_memory_if *mi = physim_ram_memory_if(ram);
	assert_int_not_equal(ph->direct.size, 0);
	struct physim_frame f = physim_frame_uninit(), g = physim_frame_uninit();
	assert_int_equal(physim_frame_alloc(mm, &f), 0);
	physim_hpa_t run;
	assert_int_equal(ph->alloc_frames(ph->ctx, 4, 4 * FRAME, &run), 0);

	capture_errors_start();
	physim_ram_destroy(ram);
	assert_int_equal(log_errors, 1);
	assert_non_null(strstr(last_error, "destroyed with 5 frames still allocated"));

	assert_null(physim_frame_as_mut_ptr(&f));
	assert_int_equal(physim_frame_fill(&f, 1), -EFAULT);
	physim_frame_drop(&f);
	assert_uninit(&f);
	assert_int_equal(ph->dealloc_frames(ph->ctx, run, 4), 0);
	assert_int_equal(physim_frame_alloc(mm, &g), -EINVAL);
	assert_uninit(&g);
	physim_hpa_t hpa = 0;
	assert_int_equal(ph->alloc_frame(ph->ctx, &hpa), -EINVAL);
	assert_int_equal(mi->alloc_contiguous_frames(mi->ctx, 2, 1, &hpa), -EINVAL);
	assert_int_equal(hpa, 0);
	assert_int_equal(log_errors, 4); /* each allocation said why it failed */
	assert_null(ph->phys_to_virt(ph->ctx, run));
	assert_int_equal(mi->virt_to_phys(mi->ctx, &hpa), 0);
	assert_int_equal(ph->direct.size, 0);
	physim_set_log(NULL, NULL, PHYSIM_LOG_NONE);
}

/* Frames all back, or allocated only through ram.h's own calls (no vtable
 * handed out): no error, and the RAM is freed whole (valgrind's leak check
 * and LeakSanitizer would see it otherwise: it is not on the retired list). */
static void test_ram_destroy_quiet_when_clean(void **state)
{
	(void)state;
	capture_errors_start();
	struct physim_ram *ram =
	    small_ram(&(struct physim_ram_config){.base = 0x100000, .size = RAM_FRAMES * FRAME});
	scoped_ram_frame(physim_ram_mm_hal(ram), ram);
	physim_ram_destroy(ram);
	/* Direct allocations with no vtable handed out are simply gone, as
	 * ram.h has always said. */
	ram = small_ram(&(struct physim_ram_config){.base = 0x100000, .size = RAM_FRAMES * FRAME});
	physim_hpa_t hpa;
	assert_int_equal(physim_ram_alloc_frame(ram, &hpa), 0);
	physim_ram_destroy(ram);
	physim_set_log(NULL, NULL, PHYSIM_LOG_NONE);
	assert_int_equal(log_errors, 0);
}

#define MOCK_TEST(fn) cmocka_unit_test_setup_teardown(fn, mock_setup, mock_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    MOCK_TEST(test_uninit),
	    MOCK_TEST(test_alloc_and_drop),
	    MOCK_TEST(test_alloc_until_empty),
	    MOCK_TEST(test_hal_error_passes_through),
	    MOCK_TEST(test_address_zero_rejected),
	    MOCK_TEST(test_failure_leaves_out_uninit),
	    MOCK_TEST(test_alloc_zero),
	    MOCK_TEST(test_alloc_zero_unmappable),
	    MOCK_TEST(test_fill),
	    MOCK_TEST(test_bad_arguments),
	    MOCK_TEST(test_drop_refused_by_hal),
	    MOCK_TEST(test_scoped),
	    MOCK_TEST(test_two_hals),
	    cmocka_unit_test(test_ram_alloc_fill_drop),
	    cmocka_unit_test(test_ram_exhaust_and_zero),
	    cmocka_unit_test(test_ram_at_zero),
	    cmocka_unit_test(test_ram_scoped),
	    cmocka_unit_test(test_ram_destroyed_before_scoped_drop),
	    cmocka_unit_test(test_ram_destroyed_vtables),
	    cmocka_unit_test(test_ram_destroy_quiet_when_clean),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
