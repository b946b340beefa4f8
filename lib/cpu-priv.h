/* SPDX-License-Identifier: MIT */
/* lib/cpu-priv.h - what lib/cpu.c (machines, CPUs, their entry store) shares
 * with the per-architecture instruction files (lib/cpu-x86.c, cpu-arm.c,
 * cpu-riscv.c, cpu-loongarch.c): the generic invalidation they all reduce to. */
#ifndef PHYSIM_CPU_PRIV_H
#define PHYSIM_CPU_PRIV_H

#include <physim/cpu.h>

#include <pthread.h>
#include <stdatomic.h>

#include "physim-priv.h"

/* Entry kind bits of inval.kinds. */
#define KIND_S1	  (1u << PHYSIM_ENTRY_S1)
#define KIND_S2	  (1u << PHYSIM_ENTRY_S2)
#define KIND_COMB (1u << PHYSIM_ENTRY_COMB)
#define KIND_ALL  (KIND_S1 | KIND_S2 | KIND_COMB)

/* Which entries an address compares with. */
enum inval_addr {
	INV_ADDR_NONE = 0, /* every address */
	INV_ADDR_INPUT,	   /* the entry's input page (VA; GPA for S2 entries) */
	INV_ADDR_GPA,	   /* S2 entries by input GPA, COMB entries by their GPA
			      (RISC-V HFENCE.GVMA with rs1 != x0) */
};

/* Which entries the ASID filter keeps (S1 and COMB entries; S2 entries have
 * no ASID and ignore it). */
enum inval_global {
	INV_GLB_ANY = 0,     /* asid < 0: every entry; else asid's entries and global ones */
	INV_GLB_NONGLOBAL,   /* only non-global entries (of asid, if asid >= 0) */
	INV_GLB_ONLY_GLOBAL, /* only global entries */
};

/* One invalidation, in the terms every architecture's instructions reduce
 * to: an entry is removed when every filter matches it. */
struct inval {
	uint8_t kinds;	    /* KIND_* */
	int8_t regime;	    /* -1: any */
	uint8_t addr_mode;  /* enum inval_addr */
	uint8_t global;	    /* enum inval_global */
	int8_t ttl_level;   /* Arm TTL hint: only entries of this level; -1: any */
	bool vmid_not0;	    /* x86 INVVPID all-context: every VPID but 0 */
	bool leaf_only;	    /* last level only: walk-cache entries stay */
	bool walk_any_addr; /* walk-cache entries of the tags go, any address */
	int32_t asid;	    /* -1: any */
	int32_t vmid;	    /* -1: any */
	int64_t ep4ta;	    /* x86 EP4TA of S2/COMB entries; -1: any */
	uint64_t addr;
	uint64_t addr_mask; /* the address bits compared (page offset excluded per entry) */
	const char *name;   /* the instruction, for reports */
};

static inline struct inval inval_all(const char *name)
{
	return (struct inval){.kinds = KIND_ALL,
			      .regime = -1,
			      .ttl_level = -1,
			      .asid = -1,
			      .vmid = -1,
			      .ep4ta = -1,
			      .name = name};
}

/* Apply at this CPU now (the caller is the CPU's thread). */
PHYSIM_HIDDEN void physim_cpui_apply(struct physim_cpu *cpu, const struct inval *iv);
/* Queue for `cpu`, to be applied by its own thread at its next access or
 * instruction (any thread may call). */
PHYSIM_HIDDEN void physim_cpui_post(struct physim_cpu *cpu, const struct inval *iv);
/* Record an invalidation that completes only at a later barrier of the
 * issuing CPU (Arm DSB, RISC-V SFENCE.INVAL.IR); broadcast: at every CPU. */
PHYSIM_HIDDEN int physim_cpui_defer(struct physim_cpu *cpu, const struct inval *iv, bool broadcast);
/* The barrier: complete this CPU's deferred invalidations. */
PHYSIM_HIDDEN void physim_cpui_complete(struct physim_cpu *cpu);
/* Apply the CPU's queued remote invalidations (its own thread). */
PHYSIM_HIDDEN void physim_cpui_drain(struct physim_cpu *cpu);

PHYSIM_HIDDEN struct physim_machine *physim_cpui_machine(const struct physim_cpu *cpu);
PHYSIM_HIDDEN enum physim_arch physim_cpui_arch(const struct physim_cpu *cpu);
/* The current context (never NULL; zeroed when none is loaded). */
PHYSIM_HIDDEN const struct physim_cpu_context *physim_cpui_ctx(const struct physim_cpu *cpu);
PHYSIM_HIDDEN bool physim_cpui_has_ctx(const struct physim_cpu *cpu);
PHYSIM_HIDDEN void physim_cpui_count_inval(struct physim_cpu *cpu);
/* x86 CR4 as last written by physim_x86_mov_cr4. */
PHYSIM_HIDDEN uint64_t *physim_cpui_x86_cr4(struct physim_cpu *cpu);

/* Keep `obj` until the machine is destroyed, then call fin(obj). */
PHYSIM_HIDDEN void physim_cpui_add_wrap(struct physim_machine *m, void *obj, void (*fin)(void *));

/* Does iv remove e? (lib/cpu.c; exposed for the per-arch files' remedies). */
PHYSIM_HIDDEN bool physim_cpui_inval_matches(const struct inval *iv,
					     const struct physim_cpu_entry *e, int level);

/* The per-architecture remedy text for a stale entry (lib/cpu-<arch>.c):
 * which invalidation would have removed it, quoting the manual. stage2_changed
 * tells, for a COMB entry, that its GPA is unchanged (stage 2 changed). */
PHYSIM_HIDDEN const char *physim_cpui_x86_remedy(const struct physim_cpu_entry *e,
						 bool stage2_changed);
PHYSIM_HIDDEN const char *physim_cpui_arm_remedy(const struct physim_cpu_entry *e,
						 bool stage2_changed);
PHYSIM_HIDDEN const char *physim_cpui_rv_remedy(const struct physim_cpu_entry *e,
						bool stage2_changed);
PHYSIM_HIDDEN const char *physim_cpui_la_remedy(const struct physim_cpu_entry *e,
						bool stage2_changed);

#endif
