/* SPDX-License-Identifier: MIT */
/* arch/riscv64/riscv-priv.h - what the RISC-V formats (riscv64.c) share with
 * their walker access rules (riscv64_walk.c). */
#ifndef PHYSIM_RISCV_PRIV_H
#define PHYSIM_RISCV_PRIV_H

#include "pt-format.h"

/* The formats' descriptor rules (riscv64.c), called directly by the walker
 * so that a walk step makes no indirect call. */
PHYSIM_HIDDEN enum pt_kind physim_rv_classify(const struct physim_pt_format *f, uint64_t d,
					      unsigned level);
PHYSIM_HIDDEN uint64_t physim_rv_output_addr(const struct physim_pt_format *f, uint64_t d,
					     unsigned level);

/* Walker access rules (riscv64_walk.c): satp-based single-stage / VS-stage
 * translation (Sv32/39/48/57), and G-stage translation (the x4 schemes). */
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_rv_walk_ops;
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_rv_gstage_walk_ops;

#endif
