/* SPDX-License-Identifier: MIT */
/* arch/riscv64/riscv-priv.h - what the RISC-V formats (riscv64.c) share with
 * their walker access rules (riscv64_walk.c); the codec is riscv-desc.h. */
#ifndef PHYSIM_RISCV_PRIV_H
#define PHYSIM_RISCV_PRIV_H

#include "pt-format.h"

/* Walker access rules (riscv64_walk.c): satp-based single-stage / VS-stage
 * translation (Sv32/39/48/57), and G-stage translation (the x4 schemes). */
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_rv_walk_ops;
PHYSIM_HIDDEN extern const struct pt_walk_ops physim_rv_gstage_walk_ops;

#endif
