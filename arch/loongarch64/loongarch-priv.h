/* SPDX-License-Identifier: MIT */
/* arch/loongarch64/loongarch-priv.h - what the LoongArch64 format
 * (loongarch64.c) shares with its walker access rules (loongarch64_walk.c). */
#ifndef PHYSIM_LOONGARCH_PRIV_H
#define PHYSIM_LOONGARCH_PRIV_H

#include "pt-format.h"

/* Walker access rules (loongarch64_walk.c). */
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_la_walk_ops;

#endif
