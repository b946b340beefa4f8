/* SPDX-License-Identifier: MIT */
/* tests/common/xlate.h - comparing two translation results field by field,
 * for tests that require two ways of translating to agree exactly. */
#ifndef PHYSIM_TEST_XLATE_H
#define PHYSIM_TEST_XLATE_H

#include <physim/walk.h>

/* The name of the first field (in struct order, the fault's fields
 * included) where a and b differ, or NULL if every field is equal. */
const char *tc_xlate_diff(const struct physim_xlate *a, const struct physim_xlate *b);

#endif
