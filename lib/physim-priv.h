/* SPDX-License-Identifier: MIT */
/* lib/physim-priv.h - helpers shared by the library's own sources; never
 * installed. */
#ifndef PHYSIM_PRIV_H
#define PHYSIM_PRIV_H

#include <physim/common.h>

#if defined(__GNUC__)
#define PHYSIM_HIDDEN	    __attribute__((visibility("hidden")))
#define PHYSIM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define PHYSIM_LIKELY(x)    __builtin_expect(!!(x), 1)
#define PHYSIM_UNLIKELY(x)  __builtin_expect(!!(x), 0)
/* An entry point whose whole common path takes a few nanoseconds (a TLB
 * hit) starts on a cache line, so that its speed does not move with where
 * the linker puts it: physim_tlb_translate 32 bytes into a line ran
 * physim-bench tlb_hit 3-4 % slower than at a line start, the code being
 * the same, after an unrelated change to the benchmark's own code. */
#define PHYSIM_HOT_ENTRY __attribute__((aligned(64)))
#else
#define PHYSIM_HIDDEN
#define PHYSIM_PRINTF(a, b)
#define PHYSIM_LIKELY(x)   (x)
#define PHYSIM_UNLIKELY(x) (x)
#define PHYSIM_HOT_ENTRY
#endif

/* True if a message at `level` would be delivered (cheap; check before
 * formatting expensive arguments). */
PHYSIM_HIDDEN bool physim_log_enabled(enum physim_log_level level);

/* printf-style message to the installed log callback (common.c). */
PHYSIM_HIDDEN void physim_log(enum physim_log_level level, const char *fmt, ...)
    PHYSIM_PRINTF(2, 3);

#define physim_log_debug(...) physim_log(PHYSIM_LOG_DEBUG, __VA_ARGS__)
#define physim_log_warn(...)  physim_log(PHYSIM_LOG_WARN, __VA_ARGS__)
#define physim_log_error(...) physim_log(PHYSIM_LOG_ERROR, __VA_ARGS__)

#endif
