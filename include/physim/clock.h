/* SPDX-License-Identifier: MIT */
/* physim/clock.h - time sources: the host's monotonic clock
 * (clock_gettime(CLOCK_MONOTONIC)) or a manual clock that only moves when
 * told to, for deterministic tests and fuzzing. Either one serves as
 * AxVMHal::current_time_nanos. */
#ifndef PHYSIM_CLOCK_H
#define PHYSIM_CLOCK_H

#include <physim/common.h>

#ifdef __cplusplus
extern "C" {
#endif

enum physim_clock_kind {
	PHYSIM_CLOCK_MONOTONIC = 0, /* default */
	PHYSIM_CLOCK_MANUAL = 1,
};

struct physim_clock_config {
	enum physim_clock_kind kind;
	uint64_t start_ns; /* manual clock: initial reading */
};

struct physim_clock;

/* config == NULL gives a monotonic clock. -EINVAL for an unknown kind. */
PHYSIM_API int physim_clock_create(const struct physim_clock_config *config,
				   struct physim_clock **out);
PHYSIM_API void physim_clock_destroy(struct physim_clock *clock);

PHYSIM_API enum physim_clock_kind physim_clock_kind(const struct physim_clock *clock);

/* Nanoseconds. Monotonic: since an arbitrary fixed point, never decreasing.
 * Manual: the value last set. Thread-safe. */
PHYSIM_API uint64_t physim_clock_now_ns(const struct physim_clock *clock);

/* Manual clock only (-EINVAL on a monotonic clock). set_ns refuses to move
 * time backwards (-EINVAL); advance_ns refuses to wrap past UINT64_MAX. */
PHYSIM_API int physim_clock_set_ns(struct physim_clock *clock, uint64_t ns);
PHYSIM_API int physim_clock_advance_ns(struct physim_clock *clock, uint64_t delta_ns);

/* Adapter with the shape of physim_vm_hal.current_time_nanos: pass the clock
 * as time_ctx. A NULL clock reads CLOCK_MONOTONIC directly. */
PHYSIM_API uint64_t physim_clock_time_nanos(void *clock);

#ifdef __cplusplus
}
#endif
#endif
