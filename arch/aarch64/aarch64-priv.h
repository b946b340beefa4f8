/* SPDX-License-Identifier: MIT */
/* arch/aarch64/aarch64-priv.h - what the Arm formats (aarch64.c,
 * armv7_short.c) and their walker rules (aarch64_walk.c, armv7_walk.c)
 * share: the walker ops objects the format objects point at. */
#ifndef PHYSIM_AARCH64_PRIV_H
#define PHYSIM_AARCH64_PRIV_H

#include "pt-format.h"

/*
 * Walker access rules (lib/walk-format.h):
 * - physim_a64_s1_walk_ops: VMSAv8-64 stage 1, EL1&0 regime (aarch64-4k-39, -4k-48,
 *   -16k-47, -64k-48, -4k-52, -16k-52, -64k-52);
 * - physim_a64_s2_walk_ops: VMSAv8-64 stage 2 (aarch64-s2-4k-40, -s2-4k-48,
 *   -s2-4k-52);
 * - physim_a64_el2_walk_ops: VMSAv8-64 stage 1, EL2 regime with HCR_EL2.E2H = 0
 *   (aarch64-el2-4k-39, -el2-4k-48, -el2-16k-47, -el2-64k-48);
 * - physim_v7s_walk_ops: the VMSAv8-32 Short-descriptor format (armv7-short).
 */
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_a64_s1_walk_ops;
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_a64_s2_walk_ops;
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_a64_el2_walk_ops;
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_v7s_walk_ops;

#endif
