/* SPDX-License-Identifier: MIT */
/* tests/common/check.h - the failure path of the test library: a failed
 * check prints where and what, runs the caller's hook (a unit test prints
 * its seed there) and aborts (a crash to libFuzzer, a failed test to meson). */
#ifndef PHYSIM_TEST_CHECK_H
#define PHYSIM_TEST_CHECK_H

#include <stddef.h>

/* Called with the failed condition before the abort; NULL: none. */
extern void (*tc_fail_hook)(const char *what);

_Noreturn void tc_fail(const char *file, int line, const char *what);

#define TC_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			tc_fail(__FILE__, __LINE__, #cond);                                        \
	} while (0)

/* realloc that cannot fail in a test (host memory is not under test). */
void *tc_xrealloc(void *p, size_t bytes);

#endif
