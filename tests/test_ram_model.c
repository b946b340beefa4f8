/* SPDX-License-Identifier: MIT */
/* tests/test_ram_model.c - seeded random sequences of allocator calls (good
 * and bad) checked against a byte-per-frame reference model, over several
 * RAM shapes. PHYSIM_SEED=<n> in the environment runs that seed only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/rng.h"

#include <physim/ram.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F PHYSIM_FRAME_SIZE

enum { FREE = 0, USED = 1, RESERVED = 2 };

struct shape {
	const char *name;
	physim_hpa_t base;
	bool base_is_zero;
	uint64_t nframes;
	const struct physim_ram_range *reserved; /* frame offsets, scaled below */
	size_t nreserved;
	unsigned nops;
	unsigned sweep_every; /* full frame_in_use sweep every N ops */
	double prefill;	      /* fraction taken by alloc_at before the run */
};

/* Reserved ranges given as frame offsets from base (size in frames too). */
static const struct physim_ram_range holes_b[] = {{10, 10}, {64, 1}, {500, 100}, {590, 20}};
static const struct physim_ram_range holes_d[] = {{63, 2}, {4000, 200}, {1000, 1}};
static const struct physim_ram_range holes_f[] = {{4096, 4096}, {299990, 10}};

static const struct shape shapes[] = {
    {"odd-257", 0x80001000, false, 257, NULL, 0, 3000, 1, 0},
    {"zero-base-holes", 0, true, 1000, holes_b, 4, 3000, 1, 0},
    {"tiny-130", 0x1000, false, 130, NULL, 0, 3000, 1, 0},
    {"one-word", 0x80000000, false, 64, NULL, 0, 2000, 1, 0},
    {"three-levels", 0x7ff000, false, 4200, holes_d, 3, 4000, 1, 0.5},
    {"four-levels-full", 0x100003000, false, 300000, holes_f, 2, 3000, 250, 0.97},
};
#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))

/* ---- outcomes seen, over all runs: the sequences must reach every path ---- */

enum op_id {
	OP_ALLOC_FRAME,
	OP_ALLOC_FRAMES,
	OP_ALLOC_AT,
	OP_FREE_FRAME,
	OP_FREE_FRAMES,
	OP_FREE_AT,
	NOPS
};
static const char *const op_names[NOPS] = {"alloc_frame", "alloc_frames", "alloc_at",
					   "free_frame",  "free_frames",  "free_at"};
static const int rc_list[] = {0, -EINVAL, -ENOMEM, -EBUSY, -ENOENT};
#define NRC 5
static unsigned long outcomes[NOPS][NRC];

static void record(enum op_id op, int rc)
{
	for (int i = 0; i < NRC; i++)
		if (rc_list[i] == rc)
			outcomes[op][i]++;
}

/* ---- run state ---- */

struct run {
	const struct shape *shape;
	uint64_t seed;
	unsigned op;
	const char *what;
	uint64_t rng;
	struct physim_ram *ram;
	physim_hpa_t base;
	uint64_t base_pfn;
	uint64_t n;
	uint8_t *model;
	/* Ranges handed out, a source of mostly valid frees. */
	struct {
		uint64_t first, count;
	} * held;
	size_t nheld;
};

static void check(const struct run *r, bool ok, const char *msg)
{
	if (!ok)
		fail_msg("%s during %s (seed %" PRIu64 ", shape %s, op %u)", msg, r->what, r->seed,
			 r->shape->name, r->op);
}

static uint64_t rnd(struct run *r)
{
	return tc_rand(&r->rng);
}

static uint64_t rnd_below(struct run *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

static bool chance(struct run *r, unsigned percent)
{
	return rnd_below(r, 100) < percent;
}

/* ---- the model ---- */

static bool model_range_ok(const struct run *r, physim_hpa_t base, uint64_t size)
{
	return size != 0 && base % F == 0 && size % F == 0 && base >= r->base &&
	       base - r->base < r->n * F && size <= r->n * F - (base - r->base);
}

static bool model_all(const struct run *r, uint64_t first, uint64_t count, uint8_t state)
{
	for (uint64_t i = first; i < first + count; i++)
		if (r->model[i] != state)
			return false;
	return true;
}

static void model_set(struct run *r, uint64_t first, uint64_t count, uint8_t state)
{
	memset(r->model + first, state, count);
}

static bool model_run_exists(const struct run *r, uint64_t count, uint64_t align_frames)
{
	for (uint64_t i = 0; i + count <= r->n; i++)
		if ((r->base_pfn + i) % align_frames == 0 && model_all(r, i, count, FREE))
			return true;
	return false;
}

static void hold(struct run *r, uint64_t first, uint64_t count)
{
	r->held[r->nheld].first = first;
	r->held[r->nheld].count = count;
	r->nheld++;
}

/* Take a held range out of the list (and maybe just a piece of it). */
static void pick_held(struct run *r, uint64_t *first, uint64_t *count)
{
	size_t i = (size_t)rnd_below(r, r->nheld);
	*first = r->held[i].first;
	*count = r->held[i].count;
	r->held[i] = r->held[--r->nheld];
	if (*count > 1 && chance(r, 15)) { /* a piece; the rest is forgotten */
		uint64_t skip = rnd_below(r, *count);
		*first += skip;
		*count = 1 + rnd_below(r, *count - skip);
	}
}

/* ---- checks after each op ---- */

static void check_frames(const struct run *r, uint64_t first, uint64_t count)
{
	for (uint64_t i = first; i < first + count && i < r->n; i++) {
		int got = physim_ram_frame_in_use(r->ram, r->base + i * F);
		check(r, got == (r->model[i] != FREE), "frame_in_use disagrees with the model");
	}
}

static void check_stats(const struct run *r)
{
	uint64_t used = 0, reserved = 0;
	for (uint64_t i = 0; i < r->n; i++) {
		used += r->model[i] == USED;
		reserved += r->model[i] == RESERVED;
	}
	struct physim_ram_stats s = physim_ram_stats(r->ram);
	check(r, s.total_frames == r->n, "total_frames");
	check(r, s.reserved_frames == reserved, "reserved_frames");
	check(r, s.used_frames == used, "used_frames");
	check(r, s.free_frames == r->n - used - reserved, "free_frames");
}

/* A successful allocation: inside, aligned, and free in the model. */
static void accept_alloc(struct run *r, physim_hpa_t hpa, uint64_t count, uint64_t align)
{
	check(r, hpa % align == 0, "misaligned result");
	check(r, model_range_ok(r, hpa, count * F), "result outside RAM");
	uint64_t first = (hpa - r->base) / F;
	check(r, model_all(r, first, count, FREE), "result overlaps used or reserved frames");
	check(r, hpa != 0, "handed out address 0");
	model_set(r, first, count, USED);
	hold(r, first, count);
}

/* ---- operations ---- */

static uint64_t rnd_count(struct run *r)
{
	switch (rnd_below(r, 10)) {
	case 0:
		return 1 + rnd_below(r, 200);
	case 1:
		return 1 + rnd_below(r, 70);
	default:
		return 1 + rnd_below(r, 8);
	}
}

static uint64_t rnd_align(struct run *r)
{
	return F << (chance(r, 50) ? 0 : rnd_below(r, 9)); /* up to 1 MiB */
}

/* Usually a valid range inside RAM; sometimes misaligned, empty, outside
 * or wrapping. */
static void rnd_region(struct run *r, physim_hpa_t *base, uint64_t *size)
{
	uint64_t first = rnd_below(r, r->n), count = rnd_count(r);
	if (first + count > r->n)
		count = r->n - first;
	*base = r->base + first * F;
	*size = count * F;
	switch (rnd_below(r, 30)) {
	case 0:
		*base += 1 + rnd_below(r, F - 1);
		break;
	case 1:
		*size += 1 + rnd_below(r, F - 1);
		break;
	case 2:
		*size = 0;
		break;
	case 3:
		*base = r->base + r->n * F - F; /* last frame, */
		*size = 2 * F;			/* one past the end */
		break;
	case 4:
		*base = r->base - F;
		break;
	case 5:
		*base = UINT64_MAX - F + 1;
		*size = 2 * F;
		break;
	}
}

static void op_alloc_frame(struct run *r)
{
	r->what = "alloc_frame";
	physim_hpa_t hpa = 0;
	int rc = physim_ram_alloc_frame(r->ram, &hpa);
	record(OP_ALLOC_FRAME, rc);
	bool any = model_run_exists(r, 1, 1);
	check(r, rc == (any ? 0 : -ENOMEM), "return code");
	if (rc == 0) {
		accept_alloc(r, hpa, 1, F);
		check_frames(r, (hpa - r->base) / F, 1);
	}
}

static void op_alloc_frames(struct run *r)
{
	r->what = "alloc_frames";
	uint64_t count = rnd_count(r), align = rnd_align(r);
	bool bad = chance(r, 8);
	if (bad) {
		const uint64_t bad_align[] = {0, 2048, 3 * F, F + 1, 1};
		align = bad_align[rnd_below(r, 5)];
	}
	if (chance(r, 2))
		count = r->n + 1 + rnd_below(r, 3);
	physim_hpa_t hpa = 0;
	int rc = physim_ram_alloc_frames(r->ram, (size_t)count, align, &hpa);
	record(OP_ALLOC_FRAMES, rc);
	int want = bad ? -EINVAL : model_run_exists(r, count, align / F) ? 0 : -ENOMEM;
	check(r, rc == want, "return code");
	if (rc == 0) {
		accept_alloc(r, hpa, count, align);
		check_frames(r, (hpa - r->base) / F, count);
	}
}

static void op_alloc_at(struct run *r)
{
	r->what = "alloc_at";
	physim_hpa_t base;
	uint64_t size;
	rnd_region(r, &base, &size);
	int want;
	if (!model_range_ok(r, base, size))
		want = -EINVAL;
	else
		want = model_all(r, (base - r->base) / F, size / F, FREE) ? 0 : -EBUSY;
	int rc = physim_ram_alloc_at(r->ram, base, size);
	record(OP_ALLOC_AT, rc);
	check(r, rc == want, "return code");
	if (want == 0) {
		model_set(r, (base - r->base) / F, size / F, USED);
		hold(r, (base - r->base) / F, size / F);
	}
	if (model_range_ok(r, base, size))
		check_frames(r, (base - r->base) / F, size / F);
}

/* The three free calls over one range. */
static int do_free(struct run *r, unsigned how, physim_hpa_t base, uint64_t count)
{
	switch (how) {
	case 0:
		r->what = "free_frame";
		return physim_ram_free_frame(r->ram, base);
	case 1:
		r->what = "free_frames";
		return physim_ram_free_frames(r->ram, base, (size_t)count);
	default:
		r->what = "free_at";
		return physim_ram_free_at(r->ram, base, count * F);
	}
}

static void op_free(struct run *r)
{
	physim_hpa_t base;
	uint64_t count;
	if (r->nheld != 0 && chance(r, 85)) {
		uint64_t first;
		pick_held(r, &first, &count);
		base = r->base + first * F;
		if (chance(r, 5))
			count++; /* one frame too many */
	} else {
		uint64_t size;
		rnd_region(r, &base, &size);
		count = size / F + (size % F != 0);
	}
	unsigned how = count == 1 ? (unsigned)rnd_below(r, 3) : 1 + (unsigned)rnd_below(r, 2);

	int want;
	if (count == 0 || !model_range_ok(r, base, count * F))
		want = -EINVAL;
	else
		want = model_all(r, (base - r->base) / F, count, USED) ? 0 : -ENOENT;
	int rc = do_free(r, how, base, count);
	record((enum op_id)(OP_FREE_FRAME + how), rc);
	check(r, rc == want, "return code");
	if (want == 0)
		model_set(r, (base - r->base) / F, count, FREE);
	if (count != 0 && model_range_ok(r, base, count * F))
		check_frames(r, (base - r->base) / F, count);
}

static void op_probe(struct run *r)
{
	r->what = "frame_in_use (outside)";
	physim_hpa_t outside[] = {r->base - 1, r->base + r->n * F, UINT64_MAX};
	for (int i = 0; i < 3; i++)
		if (outside[i] < r->base || outside[i] >= r->base + r->n * F)
			check(r, physim_ram_frame_in_use(r->ram, outside[i]) == -EINVAL,
			      "frame_in_use outside RAM");
}

/* ---- one run ---- */

static void setup_run(struct run *r, const struct shape *s, uint64_t seed)
{
	memset(r, 0, sizeof(*r));
	r->shape = s;
	r->seed = seed;
	r->rng = seed;
	r->what = "create";
	r->base = s->base;
	r->base_pfn = s->base / F;
	r->n = s->nframes;
	r->model = calloc(r->n, 1);
	r->held = calloc(r->n + (size_t)s->nops + 16, sizeof(*r->held));
	assert_non_null(r->model);
	assert_non_null(r->held);

	struct physim_ram_range res[8];
	for (size_t i = 0; i < s->nreserved; i++) {
		res[i].base = s->base + s->reserved[i].base * F;
		res[i].size = s->reserved[i].size * F;
		model_set(r, s->reserved[i].base, s->reserved[i].size, RESERVED);
	}
	if (s->base_is_zero)
		r->model[0] = RESERVED;
	int rc =
	    physim_ram_create(&(struct physim_ram_config){.base = s->base,
							  .base_is_zero = s->base_is_zero,
							  .size = s->nframes * F,
							  .reserved = s->nreserved ? res : NULL,
							  .nreserved = s->nreserved},
			      &r->ram);
	check(r, rc == 0, "create failed");

	/* Prefill: free runs of the model claimed with alloc_at, in chunks. */
	uint64_t target = (uint64_t)(s->prefill * (double)r->n);
	for (uint64_t i = 0, taken = 0; i < r->n && taken < target;) {
		uint64_t len = 1;
		while (i + len < r->n && len < 4096 && r->model[i + len] == FREE &&
		       r->model[i] == FREE)
			len++;
		if (r->model[i] == FREE && chance(r, 97)) {
			r->what = "prefill alloc_at";
			check(r, physim_ram_alloc_at(r->ram, r->base + i * F, len * F) == 0,
			      "prefill");
			model_set(r, i, len, USED);
			hold(r, i, len);
			taken += len;
		}
		i += len;
	}
}

static void run_shape(const struct shape *s, uint64_t seed)
{
	struct run r;
	setup_run(&r, s, seed);
	check_stats(&r);
	check_frames(&r, 0, r.n);

	bool filling = true;
	for (r.op = 0; r.op < s->nops; r.op++) {
		if (rnd_below(&r, 400) == 0)
			filling = !filling;
		unsigned pick = (unsigned)rnd_below(&r, 100);
		unsigned alloc_share = filling ? 70 : 30;
		if (pick < alloc_share) {
			switch (rnd_below(&r, 3)) {
			case 0:
				op_alloc_frame(&r);
				break;
			case 1:
				op_alloc_frames(&r);
				break;
			default:
				op_alloc_at(&r);
				break;
			}
		} else if (pick < 98) {
			op_free(&r);
		} else {
			op_probe(&r);
		}
		if (r.op % s->sweep_every == 0) {
			r.what = "sweep";
			check_stats(&r);
			check_frames(&r, 0, r.n);
		}
	}
	r.what = "final sweep";
	check_stats(&r);
	check_frames(&r, 0, r.n);

	/* Give everything back through the model: the RAM ends empty. */
	r.what = "drain";
	for (uint64_t i = 0; i < r.n; i++)
		if (r.model[i] == USED) {
			check(&r, physim_ram_free_frame(r.ram, r.base + i * F) == 0, "drain");
			r.model[i] = FREE;
		}
	check_stats(&r);
	check_frames(&r, 0, r.n);
	check(&r, physim_ram_stats(r.ram).used_frames == 0, "frames left after drain");

	physim_ram_destroy(r.ram);
	free(r.model);
	free(r.held);
}

static void run_all_seeds(const struct shape *s)
{
	const char *env = getenv("PHYSIM_SEED");
	if (env) {
		run_shape(s, strtoull(env, NULL, 0));
		return;
	}
	const uint64_t seeds[] = {1, 2, 3, 0x5eed, 0xdeadbeef};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		run_shape(s, seeds[i]);
}

static void test_shape(void **state)
{
	run_all_seeds(*state);
}

/* Runs last: every call met each of its outcomes somewhere. */
static void test_outcomes_covered(void **state)
{
	(void)state;
	static const bool need[NOPS][NRC] = {
	    /*                 0     EINVAL ENOMEM EBUSY  ENOENT */
	    [OP_ALLOC_FRAME] = {true, false, true, false, false},
	    [OP_ALLOC_FRAMES] = {true, true, true, false, false},
	    [OP_ALLOC_AT] = {true, true, false, true, false},
	    [OP_FREE_FRAME] = {true, true, false, false, true},
	    [OP_FREE_FRAMES] = {true, true, false, false, true},
	    [OP_FREE_AT] = {true, true, false, false, true},
	};
	for (int op = 0; op < NOPS; op++) {
		printf("%-12s", op_names[op]);
		for (int i = 0; i < NRC; i++)
			printf(" %8lu", outcomes[op][i]);
		printf("   (0 EINVAL ENOMEM EBUSY ENOENT)\n");
	}
	for (int op = 0; op < NOPS; op++)
		for (int i = 0; i < NRC; i++) {
			if (need[op][i] && outcomes[op][i] == 0)
				fail_msg("%s never returned %d", op_names[op], rc_list[i]);
			if (!need[op][i] && outcomes[op][i] != 0)
				fail_msg("%s returned %d", op_names[op], rc_list[i]);
		}
}

int main(void)
{
	struct CMUnitTest tests[NSHAPES + 1];
	for (size_t i = 0; i < NSHAPES; i++)
		tests[i] = (struct CMUnitTest){.name = shapes[i].name,
					       .test_func = test_shape,
					       .initial_state = (void *)&shapes[i]};
	tests[NSHAPES] =
	    (struct CMUnitTest){.name = "outcomes_covered", .test_func = test_outcomes_covered};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
