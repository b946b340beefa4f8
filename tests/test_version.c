/* SPDX-License-Identifier: MIT */
/* tests/test_version.c - physim_version() and <physim/version.h> against the
 * version in meson's project(), which the build passes in as
 * PHYSIM_TEST_PROJECT_VERSION (an expectation the library never sees). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <physim/physim.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#ifndef PHYSIM_TEST_PROJECT_VERSION
#error "tests/meson.build passes -DPHYSIM_TEST_PROJECT_VERSION=\"<project version>\""
#endif

/* MAJOR.MINOR.PATCH of the project version, parsed here by hand. */
static void project_version(unsigned *major, unsigned *minor, unsigned *patch)
{
	char tail;
	int n = sscanf(PHYSIM_TEST_PROJECT_VERSION, "%u.%u.%u%c", major, minor, patch, &tail);
	assert_int_equal(n, 3);
}

static void test_runtime_string(void **state)
{
	(void)state;
	const char *v = physim_version();
	assert_non_null(v);
	assert_string_equal(v, PHYSIM_TEST_PROJECT_VERSION);
}

static void test_header_macros(void **state)
{
	(void)state;
	unsigned major, minor, patch;
	project_version(&major, &minor, &patch);
	assert_int_equal(PHYSIM_VERSION_MAJOR, major);
	assert_int_equal(PHYSIM_VERSION_MINOR, minor);
	assert_int_equal(PHYSIM_VERSION_PATCH, patch);
	assert_string_equal(PHYSIM_VERSION_STRING, PHYSIM_TEST_PROJECT_VERSION);
	assert_int_equal(PHYSIM_VERSION_NUMBER, major << 16 | minor << 8 | patch);
	/* the library this test was linked with is the one its header describes */
	assert_string_equal(physim_version(), PHYSIM_VERSION_STRING);
}

/* The macros are plain integers usable in #if, as a version check in user
 * code needs (the placeholders left unreplaced would not compile here); the
 * value #if sees is the one the C code sees. */
static void test_preprocessor_comparison(void **state)
{
	(void)state;
#if PHYSIM_VERSION_NUMBER ==                                                                       \
    (PHYSIM_VERSION_MAJOR << 16 | PHYSIM_VERSION_MINOR << 8 | PHYSIM_VERSION_PATCH)
	bool same = true;
#else
	bool same = false;
#endif
	assert_true(same);
	unsigned major, minor, patch;
	project_version(&major, &minor, &patch);
#if PHYSIM_VERSION_MAJOR > 0 || PHYSIM_VERSION_MINOR >= 1
	assert_true(major > 0 || minor >= 1);
#else
	assert_true(major == 0 && minor == 0);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runtime_string),
	    cmocka_unit_test(test_header_macros),
	    cmocka_unit_test(test_preprocessor_comparison),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
