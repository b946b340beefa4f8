/* SPDX-License-Identifier: MIT */
/* lib/counting_hal.c - a counting, fault-injecting wrapper around any of the
 * HAL vtables of hal.h, for testing how callers cope with allocation failure. */
#include "physim-priv.h"
#include <physim/hal.h>

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

struct counters {
	_Atomic uint64_t alloc_calls;
	_Atomic uint64_t alloc_failed;
	_Atomic uint64_t injected;
	_Atomic uint64_t frames_allocated;
	_Atomic uint64_t frames_freed;
	_Atomic uint64_t free_calls;
	_Atomic uint64_t free_failed;
};

/* The failure plan. Each field is atomic so a plan changed while other
 * threads allocate is never read torn; a call sees the old or new value. */
struct plan {
	_Atomic uint64_t fail_nth;
	_Atomic uint64_t fail_after;
	/* fail_probability scaled to the 53-bit draws: fail if draw < threshold. */
	_Atomic uint64_t threshold;
	_Atomic uint64_t seed;
};

struct physim_counting_hal {
	const struct physim_mm_hal *inner_mm;
	const struct physim_paging_handler *inner_paging;
	const struct physim_vm_hal *inner_vm;
	const struct physim_memory_if *inner_memory_if;

	struct physim_mm_hal mm;
	struct physim_paging_handler paging;
	struct physim_vm_hal vm;
	struct physim_memory_if memory_if;

	struct plan plan;
	_Atomic uint64_t last_call_no; /* number of the last allocation call */
	struct counters c;
};

#define RANDOM_BITS 53

static void bump(_Atomic uint64_t *counter, uint64_t n)
{
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static uint64_t load(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void store(_Atomic uint64_t *v, uint64_t x)
{
	atomic_store_explicit(v, x, memory_order_relaxed);
}

/*
 * The n-th output (n >= 1) of splitmix64 started at `seed`. Drawing by call
 * number rather than from a shared stream makes the decision for call n
 * independent of which thread made it, so a seed reproduces the same
 * failures even under concurrency, and needs no lock.
 */
static uint64_t splitmix64_nth(uint64_t seed, uint64_t n)
{
	uint64_t z = seed + n * UINT64_C(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t probability_threshold(double p)
{
	if (!(p > 0.0)) /* also NaN */
		return 0;
	if (p >= 1.0)
		return UINT64_C(1) << RANDOM_BITS;
	return (uint64_t)(p * (double)(UINT64_C(1) << RANDOM_BITS));
}

static void plan_set(struct physim_counting_hal *ch, const struct physim_counting_hal_config *cfg)
{
	store(&ch->plan.fail_nth, cfg->fail_nth);
	store(&ch->plan.fail_after, cfg->fail_after);
	store(&ch->plan.threshold, probability_threshold(cfg->fail_probability));
	store(&ch->plan.seed, cfg->seed);
	store(&ch->last_call_no, 0);
}

/* Number this allocation call, count it, and decide whether to inject a
 * failure. */
static bool start_alloc(struct physim_counting_hal *ch)
{
	uint64_t n = atomic_fetch_add_explicit(&ch->last_call_no, 1, memory_order_relaxed) + 1;
	bump(&ch->c.alloc_calls, 1);

	uint64_t nth = load(&ch->plan.fail_nth);
	uint64_t after = load(&ch->plan.fail_after);
	uint64_t threshold = load(&ch->plan.threshold);
	bool fail = (nth != 0 && n == nth) || (after != 0 && n > after);
	if (!fail && threshold != 0)
		fail = splitmix64_nth(load(&ch->plan.seed), n) >> (64 - RANDOM_BITS) < threshold;
	if (fail) {
		bump(&ch->c.alloc_failed, 1);
		bump(&ch->c.injected, 1);
	}
	return fail;
}

static int finish_alloc(struct physim_counting_hal *ch, int rc, uint64_t nframes)
{
	if (rc < 0)
		bump(&ch->c.alloc_failed, 1);
	else
		bump(&ch->c.frames_allocated, nframes);
	return rc;
}

static int finish_free(struct physim_counting_hal *ch, int rc, uint64_t nframes)
{
	bump(&ch->c.free_calls, 1);
	if (rc < 0)
		bump(&ch->c.free_failed, 1);
	else
		bump(&ch->c.frames_freed, nframes);
	return rc;
}

/* ---- mm_hal ---- */

static int mm_alloc_frame(void *ctx, physim_hpa_t *hpa)
{
	struct physim_counting_hal *ch = ctx;
	if (start_alloc(ch))
		return -ENOMEM;
	return finish_alloc(ch, ch->inner_mm->alloc_frame(ch->inner_mm->ctx, hpa), 1);
}

static int mm_dealloc_frame(void *ctx, physim_hpa_t hpa)
{
	struct physim_counting_hal *ch = ctx;
	return finish_free(ch, ch->inner_mm->dealloc_frame(ch->inner_mm->ctx, hpa), 1);
}

static void *mm_phys_to_virt(void *ctx, physim_hpa_t hpa)
{
	struct physim_counting_hal *ch = ctx;
	return ch->inner_mm->phys_to_virt(ch->inner_mm->ctx, hpa);
}

static physim_hpa_t mm_virt_to_phys(void *ctx, const void *hva)
{
	struct physim_counting_hal *ch = ctx;
	return ch->inner_mm->virt_to_phys(ch->inner_mm->ctx, hva);
}

/* ---- paging_handler ---- */

static int ph_alloc_frame(void *ctx, physim_hpa_t *hpa)
{
	struct physim_counting_hal *ch = ctx;
	if (start_alloc(ch))
		return -ENOMEM;
	return finish_alloc(ch, ch->inner_paging->alloc_frame(ch->inner_paging->ctx, hpa), 1);
}

static int ph_alloc_frames(void *ctx, size_t nframes, uint64_t align_bytes, physim_hpa_t *hpa)
{
	struct physim_counting_hal *ch = ctx;
	if (start_alloc(ch))
		return -ENOMEM;
	const struct physim_paging_handler *in = ch->inner_paging;
	return finish_alloc(ch, in->alloc_frames(in->ctx, nframes, align_bytes, hpa), nframes);
}

static int ph_dealloc_frame(void *ctx, physim_hpa_t hpa)
{
	struct physim_counting_hal *ch = ctx;
	return finish_free(ch, ch->inner_paging->dealloc_frame(ch->inner_paging->ctx, hpa), 1);
}

static int ph_dealloc_frames(void *ctx, physim_hpa_t hpa, size_t nframes)
{
	struct physim_counting_hal *ch = ctx;
	const struct physim_paging_handler *in = ch->inner_paging;
	return finish_free(ch, in->dealloc_frames(in->ctx, hpa, nframes), nframes);
}

static void *ph_phys_to_virt(void *ctx, physim_hpa_t hpa)
{
	struct physim_counting_hal *ch = ctx;
	return ch->inner_paging->phys_to_virt(ch->inner_paging->ctx, hpa);
}

/* ---- vm_hal ---- */

static int vm_alloc_region_at(void *ctx, physim_hpa_t base, uint64_t size)
{
	struct physim_counting_hal *ch = ctx;
	if (start_alloc(ch))
		return -ENOMEM;
	const struct physim_vm_hal *in = ch->inner_vm;
	return finish_alloc(ch, in->alloc_memory_region_at(in->ctx, base, size),
			    size >> PHYSIM_FRAME_SHIFT);
}

static int vm_dealloc_region_at(void *ctx, physim_hpa_t base, uint64_t size)
{
	struct physim_counting_hal *ch = ctx;
	const struct physim_vm_hal *in = ch->inner_vm;
	return finish_free(ch, in->dealloc_memory_region_at(in->ctx, base, size),
			   size >> PHYSIM_FRAME_SHIFT);
}

static physim_hpa_t vm_virt_to_phys(void *ctx, const void *hva)
{
	struct physim_counting_hal *ch = ctx;
	return ch->inner_vm->virt_to_phys(ch->inner_vm->ctx, hva);
}

/* ---- memory_if ---- */

static int mi_alloc_frame(void *ctx, physim_hpa_t *hpa)
{
	struct physim_counting_hal *ch = ctx;
	if (start_alloc(ch))
		return -ENOMEM;
	const struct physim_memory_if *in = ch->inner_memory_if;
	return finish_alloc(ch, in->alloc_frame(in->ctx, hpa), 1);
}

static int mi_alloc_contiguous(void *ctx, size_t nframes, unsigned align_log2, physim_hpa_t *hpa)
{
	struct physim_counting_hal *ch = ctx;
	if (start_alloc(ch))
		return -ENOMEM;
	const struct physim_memory_if *in = ch->inner_memory_if;
	return finish_alloc(ch, in->alloc_contiguous_frames(in->ctx, nframes, align_log2, hpa),
			    nframes);
}

static int mi_dealloc_frame(void *ctx, physim_hpa_t hpa)
{
	struct physim_counting_hal *ch = ctx;
	const struct physim_memory_if *in = ch->inner_memory_if;
	return finish_free(ch, in->dealloc_frame(in->ctx, hpa), 1);
}

static int mi_dealloc_contiguous(void *ctx, physim_hpa_t hpa, size_t nframes)
{
	struct physim_counting_hal *ch = ctx;
	const struct physim_memory_if *in = ch->inner_memory_if;
	return finish_free(ch, in->dealloc_contiguous_frames(in->ctx, hpa, nframes), nframes);
}

static void *mi_phys_to_virt(void *ctx, physim_hpa_t hpa)
{
	struct physim_counting_hal *ch = ctx;
	return ch->inner_memory_if->phys_to_virt(ch->inner_memory_if->ctx, hpa);
}

static physim_hpa_t mi_virt_to_phys(void *ctx, const void *hva)
{
	struct physim_counting_hal *ch = ctx;
	return ch->inner_memory_if->virt_to_phys(ch->inner_memory_if->ctx, hva);
}

/* ---- building the wrapped vtables ----
 * An entry the inner HAL leaves NULL stays NULL, so optional entries keep
 * meaning "not provided". */

static void wrap_mm(struct physim_counting_hal *ch, const struct physim_mm_hal *in)
{
	ch->inner_mm = in;
	ch->mm = (struct physim_mm_hal){
	    .ctx = ch,
	    .alloc_frame = in->alloc_frame ? mm_alloc_frame : NULL,
	    .dealloc_frame = in->dealloc_frame ? mm_dealloc_frame : NULL,
	    .phys_to_virt = in->phys_to_virt ? mm_phys_to_virt : NULL,
	    .virt_to_phys = in->virt_to_phys ? mm_virt_to_phys : NULL,
	};
}

static void wrap_paging(struct physim_counting_hal *ch, const struct physim_paging_handler *in)
{
	ch->inner_paging = in;
	ch->paging = (struct physim_paging_handler){
	    .ctx = ch,
	    .alloc_frame = in->alloc_frame ? ph_alloc_frame : NULL,
	    .alloc_frames = in->alloc_frames ? ph_alloc_frames : NULL,
	    .dealloc_frame = in->dealloc_frame ? ph_dealloc_frame : NULL,
	    .dealloc_frames = in->dealloc_frames ? ph_dealloc_frames : NULL,
	    .phys_to_virt = in->phys_to_virt ? ph_phys_to_virt : NULL,
	    /* Reads through the direct map bypass the wrapper, as they
	     * would the inner HAL: they allocate nothing. */
	    .direct = in->direct,
	};
}

static void wrap_vm(struct physim_counting_hal *ch, const struct physim_vm_hal *in)
{
	ch->inner_vm = in;
	ch->vm = (struct physim_vm_hal){
	    .ctx = ch,
	    .paging = ch->inner_paging ? &ch->paging : in->paging,
	    .alloc_memory_region_at = in->alloc_memory_region_at ? vm_alloc_region_at : NULL,
	    .dealloc_memory_region_at = in->dealloc_memory_region_at ? vm_dealloc_region_at : NULL,
	    .virt_to_phys = in->virt_to_phys ? vm_virt_to_phys : NULL,
	    /* Time is not an allocation: called with its own context. */
	    .current_time_nanos = in->current_time_nanos,
	    .time_ctx = in->time_ctx,
	};
}

static void wrap_memory_if(struct physim_counting_hal *ch, const struct physim_memory_if *in)
{
	ch->inner_memory_if = in;
	ch->memory_if = (struct physim_memory_if){
	    .ctx = ch,
	    .alloc_frame = in->alloc_frame ? mi_alloc_frame : NULL,
	    .alloc_contiguous_frames = in->alloc_contiguous_frames ? mi_alloc_contiguous : NULL,
	    .dealloc_frame = in->dealloc_frame ? mi_dealloc_frame : NULL,
	    .dealloc_contiguous_frames =
		in->dealloc_contiguous_frames ? mi_dealloc_contiguous : NULL,
	    .phys_to_virt = in->phys_to_virt ? mi_phys_to_virt : NULL,
	    .virt_to_phys = in->virt_to_phys ? mi_virt_to_phys : NULL,
	};
}

int physim_counting_hal_create(const struct physim_counting_hal_config *config,
			       struct physim_counting_hal **out)
{
	if (config == NULL || out == NULL)
		return -EINVAL;
	double p = config->fail_probability;
	if (isnan(p) || p < 0.0 || p > 1.0)
		return -EINVAL;

	struct physim_counting_hal *ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return -ENOMEM;
	if (config->mm)
		wrap_mm(ch, config->mm);
	if (config->paging)
		wrap_paging(ch, config->paging);
	if (config->vm) /* after paging: the vm wrapper may point at it */
		wrap_vm(ch, config->vm);
	if (config->memory_if)
		wrap_memory_if(ch, config->memory_if);
	plan_set(ch, config);
	*out = ch;
	return 0;
}

void physim_counting_hal_destroy(struct physim_counting_hal *ch)
{
	free(ch);
}

const struct physim_mm_hal *physim_counting_hal_mm(struct physim_counting_hal *ch)
{
	return ch && ch->inner_mm ? &ch->mm : NULL;
}

const struct physim_paging_handler *physim_counting_hal_paging(struct physim_counting_hal *ch)
{
	return ch && ch->inner_paging ? &ch->paging : NULL;
}

const struct physim_vm_hal *physim_counting_hal_vm(struct physim_counting_hal *ch)
{
	return ch && ch->inner_vm ? &ch->vm : NULL;
}

const struct physim_memory_if *physim_counting_hal_memory_if(struct physim_counting_hal *ch)
{
	return ch && ch->inner_memory_if ? &ch->memory_if : NULL;
}

struct physim_hal_counts physim_counting_hal_counts(const struct physim_counting_hal *ch)
{
	if (ch == NULL)
		return (struct physim_hal_counts){0};
	struct physim_hal_counts r = {
	    .alloc_calls = load(&ch->c.alloc_calls),
	    .alloc_failed = load(&ch->c.alloc_failed),
	    .injected = load(&ch->c.injected),
	    .frames_allocated = load(&ch->c.frames_allocated),
	    .frames_freed = load(&ch->c.frames_freed),
	    .free_calls = load(&ch->c.free_calls),
	    .free_failed = load(&ch->c.free_failed),
	};
	r.frames_live = (int64_t)(r.frames_allocated - r.frames_freed);
	return r;
}

/* A probability outside [0, 1] is clamped here (NaN means never), since
 * this call cannot report an error. */
void physim_counting_hal_set_plan(struct physim_counting_hal *ch,
				  const struct physim_counting_hal_config *config)
{
	if (ch == NULL || config == NULL)
		return;
	plan_set(ch, config);
}

void physim_counting_hal_reset_counts(struct physim_counting_hal *ch)
{
	if (ch == NULL)
		return;
	_Atomic uint64_t *all[] = {
	    &ch->c.alloc_calls,	 &ch->c.alloc_failed, &ch->c.injected,	  &ch->c.frames_allocated,
	    &ch->c.frames_freed, &ch->c.free_calls,   &ch->c.free_failed, &ch->last_call_no,
	};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		store(all[i], 0);
}
