/* SPDX-License-Identifier: MIT */
/* tests/common/check.c - the test library's failure path (check.h). */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>

void (*tc_fail_hook)(const char *what);

_Noreturn void tc_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	if (tc_fail_hook != NULL)
		tc_fail_hook(what);
	abort();
}

void *tc_xrealloc(void *p, size_t bytes)
{
	void *q = realloc(p, bytes ? bytes : 1);
	if (q == NULL)
		tc_fail(__FILE__, __LINE__, "out of host memory");
	return q;
}
