/* SPDX-License-Identifier: MIT */
/* tests/test_common.c - error strings, level names, the log callback and its
 * level filter, and PHYSIM_LOG=<level> sending messages to stderr (checked
 * in child processes started with that environment). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <physim/frame.h>
#include <physim/ram.h>

#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- real code paths that log ----
 * frame.c warns when a HAL refuses to take back a dropped frame; ram.c logs
 * at debug level when a RAM is created and when a free is refused. */

static int refuse_free(void *ctx, physim_hpa_t hpa)
{
	(void)ctx;
	(void)hpa;
	return -ENOENT;
}

static int give_one(void *ctx, physim_hpa_t *hpa)
{
	(void)ctx;
	*hpa = 0x1000;
	return 0;
}

/* Exactly one warn-level message. */
static void log_one_warning(void)
{
	const struct physim_mm_hal hal = {.alloc_frame = give_one, .dealloc_frame = refuse_free};
	struct physim_frame f;
	assert_int_equal(physim_frame_alloc(&hal, &f), 0);
	physim_frame_drop(&f);
}

/* Debug-level messages only (at least one). */
static void log_debug_messages(void)
{
	struct physim_ram *ram = NULL;
	assert_int_equal(physim_ram_create(&(struct physim_ram_config){.size = 16 * 4096}, &ram),
			 0);
	assert_int_equal(physim_ram_free_frame(ram, physim_ram_base(ram)), -ENOENT);
	physim_ram_destroy(ram);
}

/* ---- strerror and level names ---- */

static void test_strerror(void **state)
{
	(void)state;
	const int known[] = {0,	       -EINVAL,	      -ENOMEM,	-EEXIST, -ENOENT,  -EFAULT,
			     -EBUSY,   -ERANGE,	      -ENOTSUP, -EIO,	 -EBADMSG, -EACCES,
			     -EPERM,   -EFBIG,	      -ENOSPC,	-EDQUOT, -EROFS,   -EISDIR,
			     -ENOTDIR, -ENAMETOOLONG, -ELOOP,	-EMFILE, -ENFILE,  -EINTR};
	const size_t nknown = sizeof(known) / sizeof(known[0]);
	const char *unknown = physim_strerror(-9999);
	assert_non_null(unknown);
	for (size_t i = 0; i < nknown; i++) {
		const char *s = physim_strerror(known[i]);
		assert_non_null(s);
		assert_true(strlen(s) > 0);
		assert_string_not_equal(s, unknown);
		/* Each code has its own description. */
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(s, physim_strerror(known[j]));
		/* Static: the same text every time. */
		assert_ptr_equal(s, physim_strerror(known[i]));
	}
	/* Descriptions say what the code means. */
	assert_non_null(strstr(physim_strerror(-ENOMEM), "memory"));
	assert_non_null(strstr(physim_strerror(-EINVAL), "invalid"));
	/* The file-system causes an image save/load passes on (ram.h). */
	assert_non_null(strstr(physim_strerror(-EACCES), "permission"));
	assert_non_null(strstr(physim_strerror(-EFBIG), "too large"));
	assert_non_null(strstr(physim_strerror(-EBADMSG), "checksum"));

	/* Every other negative value is one "unknown" description. */
	const int other[] = {-E2BIG, -ECHILD, -4095, INT_MIN, -9999};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		assert_string_equal(physim_strerror(other[i]), unknown);

	/* Positive values are not error codes (fallible calls return counts
	 * there), so they are described neither as an error nor as success. */
	const int positive[] = {1, EINVAL, INT_MAX};
	for (size_t i = 0; i < sizeof(positive) / sizeof(positive[0]); i++) {
		const char *s = physim_strerror(positive[i]);
		assert_non_null(s);
		assert_string_not_equal(s, physim_strerror(0));
		assert_string_not_equal(s, unknown);
		for (size_t j = 1; j < nknown; j++)
			assert_string_not_equal(s, physim_strerror(known[j]));
	}
}

static void test_level_names(void **state)
{
	(void)state;
	/* The names PHYSIM_LOG accepts, as common.h lists them. */
	assert_string_equal(physim_log_level_name(PHYSIM_LOG_ERROR), "error");
	assert_string_equal(physim_log_level_name(PHYSIM_LOG_WARN), "warn");
	assert_string_equal(physim_log_level_name(PHYSIM_LOG_INFO), "info");
	assert_string_equal(physim_log_level_name(PHYSIM_LOG_DEBUG), "debug");
	const char *none = physim_log_level_name(PHYSIM_LOG_NONE);
	assert_non_null(none);
	const char *bad = physim_log_level_name((enum physim_log_level)99);
	assert_non_null(bad);
	for (int l = PHYSIM_LOG_NONE; l <= PHYSIM_LOG_DEBUG; l++)
		assert_string_not_equal(bad, physim_log_level_name((enum physim_log_level)l));
	assert_string_not_equal(none, "error");
	assert_string_not_equal(none, "debug");
}

/* ---- the callback ---- */

struct capture {
	_Atomic int count[PHYSIM_LOG_DEBUG + 1];
	_Atomic int bad; /* messages that broke the rules (newline, bad level) */
	char last[512];
};

static void capture_fn(void *ctx, enum physim_log_level level, const char *msg)
{
	struct capture *c = ctx;
	if (level < PHYSIM_LOG_ERROR || level > PHYSIM_LOG_DEBUG || msg == NULL ||
	    strchr(msg, '\n') != NULL) {
		atomic_fetch_add(&c->bad, 1);
		return;
	}
	atomic_fetch_add(&c->count[level], 1);
	/* Callbacks run on whichever thread logs (common.h). */
	static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&last_lock);
	snprintf(c->last, sizeof(c->last), "%s", msg);
	pthread_mutex_unlock(&last_lock);
}

static int count(struct capture *c, enum physim_log_level level)
{
	return atomic_load(&c->count[level]);
}

static int teardown_log(void **state)
{
	(void)state;
	physim_set_log(NULL, NULL, PHYSIM_LOG_NONE);
	return 0;
}

static void test_callback_receives_messages(void **state)
{
	(void)state;
	static struct capture c;
	memset(&c, 0, sizeof(c));
	physim_set_log(capture_fn, &c, PHYSIM_LOG_DEBUG);

	log_one_warning();
	assert_int_equal(count(&c, PHYSIM_LOG_WARN), 1);
	/* The message says what happened, including the address. */
	assert_non_null(strstr(c.last, "0x1000"));

	log_debug_messages();
	assert_true(count(&c, PHYSIM_LOG_DEBUG) >= 1);
	assert_int_equal(count(&c, PHYSIM_LOG_WARN), 1);
	assert_int_equal(count(&c, PHYSIM_LOG_ERROR), 0);
	assert_int_equal(atomic_load(&c.bad), 0);
}

static void test_level_filter(void **state)
{
	(void)state;
	static struct capture c;
	memset(&c, 0, sizeof(c));

	/* warn: warnings arrive, debug messages do not. */
	physim_set_log(capture_fn, &c, PHYSIM_LOG_WARN);
	log_debug_messages();
	log_one_warning();
	assert_int_equal(count(&c, PHYSIM_LOG_DEBUG), 0);
	assert_int_equal(count(&c, PHYSIM_LOG_WARN), 1);

	/* error: not even warnings. */
	physim_set_log(capture_fn, &c, PHYSIM_LOG_ERROR);
	log_one_warning();
	log_debug_messages();
	assert_int_equal(count(&c, PHYSIM_LOG_WARN), 1);
	assert_int_equal(count(&c, PHYSIM_LOG_DEBUG), 0);

	/* none with a callback installed: nothing at all. */
	physim_set_log(capture_fn, &c, PHYSIM_LOG_NONE);
	log_one_warning();
	log_debug_messages();
	assert_int_equal(count(&c, PHYSIM_LOG_WARN), 1);
	assert_int_equal(count(&c, PHYSIM_LOG_DEBUG), 0);

	/* debug: everything. */
	physim_set_log(capture_fn, &c, PHYSIM_LOG_DEBUG);
	log_one_warning();
	log_debug_messages();
	assert_int_equal(count(&c, PHYSIM_LOG_WARN), 2);
	assert_true(count(&c, PHYSIM_LOG_DEBUG) >= 1);
	assert_int_equal(atomic_load(&c.bad), 0);
}

static void test_replace_and_restore(void **state)
{
	(void)state;
	static struct capture a, b;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	physim_set_log(capture_fn, &a, PHYSIM_LOG_WARN);
	log_one_warning();
	physim_set_log(capture_fn, &b, PHYSIM_LOG_WARN); /* same fn, new ctx */
	log_one_warning();
	assert_int_equal(count(&a, PHYSIM_LOG_WARN), 1);
	assert_int_equal(count(&b, PHYSIM_LOG_WARN), 1);

	/* fn == NULL restores the default: the callback hears nothing more.
	 * (What the default prints is checked in a child process below.) */
	physim_set_log(NULL, &b, PHYSIM_LOG_DEBUG);
	log_one_warning();
	log_debug_messages();
	assert_int_equal(count(&a, PHYSIM_LOG_WARN), 1);
	assert_int_equal(count(&b, PHYSIM_LOG_WARN), 1);
	assert_int_equal(count(&b, PHYSIM_LOG_DEBUG), 0);
}

#define NTHREADS   4
#define PER_THREAD 500

static void *log_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < PER_THREAD; i++)
		log_one_warning();
	return NULL;
}

/* Messages from several threads all arrive, none lost or mangled. */
static void test_concurrent_logging(void **state)
{
	(void)state;
	static struct capture c;
	memset(&c, 0, sizeof(c));
	physim_set_log(capture_fn, &c, PHYSIM_LOG_WARN);
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, log_worker, NULL), 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(count(&c, PHYSIM_LOG_WARN), NTHREADS * PER_THREAD);
	assert_int_equal(atomic_load(&c.bad), 0);
}

/* ---- PHYSIM_LOG, in a child process started with it ---- */

static const char *self_path;

/* Run this test program as `self --child` with PHYSIM_LOG set to `value`
 * (NULL: unset); return what it wrote to stderr. */
static char *run_child(const char *mode, const char *value, int *exit_status)
{
	size_t n = 0;
	while (environ[n] != NULL)
		n++;
	char **envp = calloc(n + 2, sizeof(*envp));
	assert_non_null(envp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "PHYSIM_LOG=", 11) != 0)
			envp[k++] = environ[i];
	char setting[64];
	if (value != NULL) {
		snprintf(setting, sizeof(setting), "PHYSIM_LOG=%s", value);
		envp[k++] = setting;
	}
	envp[k] = NULL;

	int fds[2];
	assert_int_equal(pipe(fds), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	char *const argv[] = {(char *)self_path, (char *)mode, NULL};
	pid_t pid;
	assert_int_equal(posix_spawn(&pid, self_path, &fa, NULL, argv, envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	free(envp);

	size_t cap = 4096, len = 0;
	char *out = malloc(cap);
	assert_non_null(out);
	ssize_t r;
	while ((r = read(fds[0], out + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (cap - len < 2) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
	}
	out[len] = '\0';
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	*exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return out;
}

/* What the child does: one warning, then debug messages. No callback. */
static int child_main(void)
{
	const struct physim_mm_hal hal = {.alloc_frame = give_one, .dealloc_frame = refuse_free};
	struct physim_frame f;
	if (physim_frame_alloc(&hal, &f) != 0)
		return 2;
	physim_frame_drop(&f);
	struct physim_ram *ram = NULL;
	if (physim_ram_create(&(struct physim_ram_config){.size = 16 * 4096}, &ram) != 0)
		return 3;
	if (physim_ram_free_frame(ram, physim_ram_base(ram)) != -ENOENT)
		return 4;
	physim_ram_destroy(ram);
	return 0;
}

/* A callback installed, then removed: from then on the default applies
 * again, i.e. PHYSIM_LOG decides, and the old callback hears nothing. */
static int child_restore_main(void)
{
	static struct capture c;
	physim_set_log(capture_fn, &c, PHYSIM_LOG_DEBUG);
	log_one_warning();
	physim_set_log(NULL, NULL, PHYSIM_LOG_NONE);
	log_one_warning();
	return count(&c, PHYSIM_LOG_WARN) == 1 ? 0 : 5;
}

static bool has_line(const char *out, const char *prefix)
{
	for (const char *p = out; p != NULL && *p != '\0';) {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			return true;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return false;
}

static void test_env_debug(void **state)
{
	(void)state;
	int status;
	char *out = run_child("--child", "debug", &status);
	assert_int_equal(status, 0);
	assert_true(has_line(out, "physim: debug: "));
	assert_true(has_line(out, "physim: warn: "));
	/* Every message is one whole line. */
	assert_int_equal(out[strlen(out) - 1], '\n');
	free(out);
}

static void test_env_warn(void **state)
{
	(void)state;
	int status;
	char *out = run_child("--child", "warn", &status);
	assert_int_equal(status, 0);
	assert_true(has_line(out, "physim: warn: "));
	assert_false(has_line(out, "physim: debug: "));
	free(out);
}

static void test_env_quiet(void **state)
{
	(void)state;
	/* error (nothing at that level happens), unset, and nonsense: silent. */
	const char *values[] = {"error", NULL, "verbose", ""};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		int status;
		char *out = run_child("--child", values[i], &status);
		assert_int_equal(status, 0);
		assert_string_equal(out, "");
		free(out);
	}
}

static void test_env_after_restore(void **state)
{
	(void)state;
	int status;
	char *out = run_child("--child-restore", "warn", &status);
	assert_int_equal(status, 0);
	/* Exactly the second warning reached stderr. */
	assert_true(has_line(out, "physim: warn: "));
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
	free(out);

	out = run_child("--child-restore", NULL, &status);
	assert_int_equal(status, 0);
	assert_string_equal(out, "");
	free(out);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child_main();
	if (argc > 1 && strcmp(argv[1], "--child-restore") == 0)
		return child_restore_main();
	/* /proc/self/exe, not argv[0]: meson may run us through a wrapper. */
	self_path = "/proc/self/exe";
	static char resolved[4096];
	ssize_t n = readlink("/proc/self/exe", resolved, sizeof(resolved) - 1);
	if (n > 0) {
		resolved[n] = '\0';
		self_path = resolved;
	}

	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strerror),
	    cmocka_unit_test(test_level_names),
	    cmocka_unit_test_teardown(test_callback_receives_messages, teardown_log),
	    cmocka_unit_test_teardown(test_level_filter, teardown_log),
	    cmocka_unit_test_teardown(test_replace_and_restore, teardown_log),
	    cmocka_unit_test_teardown(test_concurrent_logging, teardown_log),
	    cmocka_unit_test(test_env_debug),
	    cmocka_unit_test(test_env_warn),
	    cmocka_unit_test(test_env_quiet),
	    cmocka_unit_test(test_env_after_restore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
