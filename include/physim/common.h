/* SPDX-License-Identifier: MIT */
/* physim/common.h - export macro, error strings and the log callback shared by
 * every layer of physim. */
#ifndef PHYSIM_COMMON_H
#define PHYSIM_COMMON_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every public declaration carries PHYSIM_API; the library is built with
 * -fvisibility=hidden and a version script (lib/physim.map). */
#if defined(PHYSIM_BUILDING_LIBRARY) && defined(__GNUC__)
#define PHYSIM_API __attribute__((visibility("default")))
#else
#define PHYSIM_API
#endif

/*
 * Errors: every fallible function returns 0 (or a non-negative count) on
 * success and a negative errno value on failure:
 *   -EINVAL  bad argument (misaligned, zero size, out of range, overflow)
 *   -ENOMEM  no memory / no free frame
 *   -EEXIST  something is already there (mapping, area)
 *   -ENOENT  nothing is there (frame not allocated, address not mapped)
 *   -EFAULT  address outside RAM / translation fault
 *   -EBUSY   resource in use (region overlaps allocated frames)
 * A call that fails leaves every object as it was.
 */

/* A short, static, human-readable description of a physim return value
 * (0 or a negative errno). Never returns NULL. */
PHYSIM_API const char *physim_strerror(int err);

enum physim_log_level {
	PHYSIM_LOG_NONE = 0,
	PHYSIM_LOG_ERROR = 1,
	PHYSIM_LOG_WARN = 2,
	PHYSIM_LOG_INFO = 3,
	PHYSIM_LOG_DEBUG = 4,
};

/* Receives one message (no trailing newline). Called from whichever thread
 * logs; the callback must be thread-safe. */
typedef void (*physim_log_fn)(void *ctx, enum physim_log_level level, const char *msg);

/*
 * Install a log callback and the most verbose level it receives. physim is
 * silent by default; if no callback was installed, the environment variable
 * PHYSIM_LOG=error|warn|info|debug sends messages up to that level to stderr.
 * Passing fn == NULL restores that default behaviour.
 */
PHYSIM_API void physim_set_log(physim_log_fn fn, void *ctx, enum physim_log_level max_level);

/* Name of a level ("error", "warn", ...). */
PHYSIM_API const char *physim_log_level_name(enum physim_log_level level);

/* The version of the library actually loaded, "MAJOR.MINOR.PATCH" (static,
 * never NULL). It equals PHYSIM_VERSION_STRING of <physim/version.h> when
 * the program runs with the library it was compiled against; a program can
 * compare the two to notice that it was not. */
PHYSIM_API const char *physim_version(void);

#ifdef __cplusplus
}
#endif
#endif
