/* SPDX-License-Identifier: MIT */
/* arch/loongarch64/loongarch-priv.h - what the LoongArch64 format
 * (loongarch64.c) shares with its walker access rules (loongarch64_walk.c). */
#ifndef PHYSIM_LOONGARCH_PRIV_H
#define PHYSIM_LOONGARCH_PRIV_H

#include "pt-format.h"

/* The format's descriptor rules (loongarch64.c), called directly by the
 * walker so that a walk step makes no indirect call. */
PHYSIM_HIDDEN enum pt_kind physim_la_classify(const struct physim_pt_format *f, uint64_t d,
					      unsigned level);
PHYSIM_HIDDEN uint64_t physim_la_output_addr(const struct physim_pt_format *f, uint64_t d,
					     unsigned level);

/* Walker access rules (loongarch64_walk.c). */
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_la_walk_ops;

#endif
