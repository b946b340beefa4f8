/* SPDX-License-Identifier: MIT */
/* tests/common/per-format.h - run a table of cmocka tests once per stage-2
 * format, each named "test/format" and handed its format as its state.
 * Header only and included after <cmocka.h>: the test library itself does
 * not link cmocka (the fuzz harnesses use it too). */
#ifndef PHYSIM_TEST_PER_FORMAT_H
#define PHYSIM_TEST_PER_FORMAT_H

#include <physim/pt.h>

#include <stdio.h>
#include <stdlib.h>

struct tc_format_test {
	const char *name;
	CMUnitTestFunction fn;
};

/* Every test of t[0..nt) over every registered stage-2 format, as cmocka
 * group `group`: cmocka's exit status, or 1 if fewer than three stage-2
 * formats are registered (EPT, AArch64 stage 2 and RISC-V G-stage at
 * least) or host memory runs out. */
static inline int tc_run_per_stage2_format(const char *group, const struct tc_format_test *t,
					   size_t nt)
{
	static const struct physim_pt_format *fmts[64];
	size_t nf = 0;
	for (size_t i = 0; i < physim_format_count() && nf < 64; i++) {
		struct physim_pt_format_info info;
		physim_format_get_info(physim_format_at(i), &info);
		if (info.stage2)
			fmts[nf++] = physim_format_at(i);
	}
	if (nf < 3) {
		fprintf(stderr, "only %zu stage-2 formats registered\n", nf);
		return 1;
	}
	struct CMUnitTest *tests = calloc(nt * nf, sizeof(*tests));
	char(*names)[96] = calloc(nt * nf, sizeof(*names));
	if (tests == NULL || names == NULL) {
		free(tests);
		free(names);
		return 1;
	}
	for (size_t k = 0; k < nt * nf; k++) {
		size_t ti = k / nf, fi = k % nf;
		snprintf(names[k], sizeof(names[k]), "%s/%s", t[ti].name,
			 physim_format_name(fmts[fi]));
		tests[k].name = names[k];
		tests[k].test_func = t[ti].fn;
		tests[k].initial_state = &fmts[fi];
	}
	int rc = _cmocka_run_group_tests(group, tests, nt * nf, NULL, NULL);
	free(tests);
	free(names);
	return rc;
}

#endif
