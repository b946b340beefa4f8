/* SPDX-License-Identifier: MIT */
/* lib/clock.c - time sources for AxVMHal::current_time_nanos: the host's
 * CLOCK_MONOTONIC, or a manual clock that moves only when told to. */
#include "physim-priv.h"
#include <physim/clock.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct physim_clock {
	enum physim_clock_kind kind;
	/* Manual clock reading; updated with compare-and-swap so that
	 * concurrent set/advance calls never move time backwards. */
	_Atomic uint64_t manual_ns;
};

static uint64_t monotonic_now_ns(void)
{
	struct timespec ts;
	/* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

int physim_clock_create(const struct physim_clock_config *config, struct physim_clock **out)
{
	static const struct physim_clock_config defaults = {.kind = PHYSIM_CLOCK_MONOTONIC};
	if (out == NULL)
		return -EINVAL;
	if (config == NULL)
		config = &defaults;
	if (config->kind != PHYSIM_CLOCK_MONOTONIC && config->kind != PHYSIM_CLOCK_MANUAL)
		return -EINVAL;

	struct physim_clock *clock = malloc(sizeof(*clock));
	if (clock == NULL)
		return -ENOMEM;
	clock->kind = config->kind;
	atomic_init(&clock->manual_ns, config->kind == PHYSIM_CLOCK_MANUAL ? config->start_ns : 0);
	*out = clock;
	return 0;
}

void physim_clock_destroy(struct physim_clock *clock)
{
	free(clock);
}

enum physim_clock_kind physim_clock_kind(const struct physim_clock *clock)
{
	return clock ? clock->kind : PHYSIM_CLOCK_MONOTONIC;
}

/* A NULL clock reads the host clock, like physim_clock_time_nanos(NULL). */
uint64_t physim_clock_now_ns(const struct physim_clock *clock)
{
	if (clock == NULL || clock->kind == PHYSIM_CLOCK_MONOTONIC)
		return monotonic_now_ns();
	return atomic_load(&clock->manual_ns);
}

int physim_clock_set_ns(struct physim_clock *clock, uint64_t ns)
{
	if (clock == NULL || clock->kind != PHYSIM_CLOCK_MANUAL)
		return -EINVAL;
	uint64_t cur = atomic_load(&clock->manual_ns);
	do {
		if (ns < cur)
			return -EINVAL;
	} while (!atomic_compare_exchange_weak(&clock->manual_ns, &cur, ns));
	return 0;
}

int physim_clock_advance_ns(struct physim_clock *clock, uint64_t delta_ns)
{
	if (clock == NULL || clock->kind != PHYSIM_CLOCK_MANUAL)
		return -EINVAL;
	uint64_t cur = atomic_load(&clock->manual_ns);
	do {
		if (delta_ns > UINT64_MAX - cur)
			return -EINVAL;
	} while (!atomic_compare_exchange_weak(&clock->manual_ns, &cur, cur + delta_ns));
	return 0;
}

uint64_t physim_clock_time_nanos(void *clock)
{
	return physim_clock_now_ns(clock);
}
