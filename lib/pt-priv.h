/* SPDX-License-Identifier: MIT */
/* lib/pt-priv.h - page-table engine internals that tests reach through the
 * internal library; never installed. */
#ifndef PHYSIM_PT_PRIV_H
#define PHYSIM_PT_PRIV_H

#include <physim/pt.h>
#include "physim-priv.h"

/* Switch the query memo (lib/pt.c) off and on again, so a test can compare
 * memoised queries with the format's calls. On by default when the paging
 * handler has a direct map. */
PHYSIM_HIDDEN void physim_pt_use_memo(struct physim_pt *pt, bool on);

#endif
