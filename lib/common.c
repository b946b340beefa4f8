/* SPDX-License-Identifier: MIT */
/* lib/common.c - error strings and the log callback (silent by default,
 * PHYSIM_LOG=<level> sends messages to stderr). */
#include "physim-priv.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *physim_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EINVAL:
		return "invalid argument";
	case -ENOMEM:
		return "out of memory";
	case -EEXIST:
		return "already exists";
	case -ENOENT:
		return "not found";
	case -EFAULT:
		return "bad address";
	case -EBUSY:
		return "resource busy";
	case -ERANGE:
		return "out of range";
	case -ENOTSUP:
		return "not supported";
	case -EIO:
		return "I/O error";
	/* What physim_ram_save / physim_ram_load pass on from the file system
	 * (ram.h), so that tools name the real cause. */
	case -EBADMSG:
		return "bad message (checksum mismatch)";
	case -EACCES:
		return "permission denied";
	case -EPERM:
		return "operation not permitted";
	case -EFBIG:
		return "file too large";
	case -ENOSPC:
		return "no space left on device";
	case -EDQUOT:
		return "disk quota exceeded";
	case -EROFS:
		return "read-only file system";
	case -EISDIR:
		return "is a directory";
	case -ENOTDIR:
		return "not a directory";
	case -ENAMETOOLONG:
		return "file name too long";
	case -ELOOP:
		return "too many levels of symbolic links";
	case -EMFILE:
		return "too many open files";
	case -ENFILE:
		return "too many open files in system";
	case -EINTR:
		return "interrupted";
	default:
		return err < 0 ? "unknown error" : "not an error code";
	}
}

const char *physim_log_level_name(enum physim_log_level level)
{
	switch (level) {
	case PHYSIM_LOG_NONE:
		return "none";
	case PHYSIM_LOG_ERROR:
		return "error";
	case PHYSIM_LOG_WARN:
		return "warn";
	case PHYSIM_LOG_INFO:
		return "info";
	case PHYSIM_LOG_DEBUG:
		return "debug";
	}
	return "unknown";
}

/* The installed sink. Written rarely (set_log), read on every message; the
 * three fields are published under a mutex and read under it, since logging
 * is never on a hot path (callers check physim_log_enabled first). */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static physim_log_fn log_fn;
static void *log_ctx;
static _Atomic int log_max = -1; /* -1: not yet resolved from the environment */

static enum physim_log_level level_from_env(void)
{
	const char *s = getenv("PHYSIM_LOG");
	if (s == NULL)
		return PHYSIM_LOG_NONE;
	for (int l = PHYSIM_LOG_ERROR; l <= PHYSIM_LOG_DEBUG; l++)
		if (strcmp(s, physim_log_level_name((enum physim_log_level)l)) == 0)
			return (enum physim_log_level)l;
	return PHYSIM_LOG_NONE;
}

static void stderr_sink(void *ctx, enum physim_log_level level, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "physim: %s: %s\n", physim_log_level_name(level), msg);
}

void physim_set_log(physim_log_fn fn, void *ctx, enum physim_log_level max_level)
{
	pthread_mutex_lock(&log_lock);
	log_fn = fn;
	log_ctx = ctx;
	atomic_store(&log_max, fn ? (int)max_level : -1);
	pthread_mutex_unlock(&log_lock);
}

static int current_max(void)
{
	int m = atomic_load_explicit(&log_max, memory_order_relaxed);
	if (m >= 0)
		return m;
	pthread_mutex_lock(&log_lock);
	if (log_fn == NULL)
		atomic_store(&log_max, (int)level_from_env());
	m = atomic_load(&log_max);
	pthread_mutex_unlock(&log_lock);
	return m;
}

bool physim_log_enabled(enum physim_log_level level)
{
	return level != PHYSIM_LOG_NONE && (int)level <= current_max();
}

void physim_log(enum physim_log_level level, const char *fmt, ...)
{
	if (!physim_log_enabled(level))
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&log_lock);
	physim_log_fn fn = log_fn ? log_fn : stderr_sink;
	void *ctx = log_fn ? log_ctx : NULL;
	pthread_mutex_unlock(&log_lock);
	fn(ctx, level, msg);
}
