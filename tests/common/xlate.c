/* SPDX-License-Identifier: MIT */
/* tests/common/xlate.c - see xlate.h. */
#include "common/xlate.h"

const char *tc_xlate_diff(const struct physim_xlate *a, const struct physim_xlate *b)
{
#define TC_FIELD(f)                                                                                \
	if (a->f != b->f)                                                                          \
		return #f;
	TC_FIELD(pa)
	TC_FIELD(gpa)
	TC_FIELD(page_size)
	TC_FIELD(level)
	TC_FIELD(perms)
	TC_FIELD(global)
	TC_FIELD(mem_refs)
	TC_FIELD(ad_updated)
	TC_FIELD(fault.kind)
	TC_FIELD(fault.stage)
	TC_FIELD(fault.level)
	TC_FIELD(fault.s1ptw)
	TC_FIELD(fault.syndrome)
	TC_FIELD(fault.addr)
	TC_FIELD(fault.gpa)
	TC_FIELD(leaf_desc)
	TC_FIELD(s2_leaf_desc)
#undef TC_FIELD
	return NULL;
}
