/* SPDX-License-Identifier: MIT */
/* examples/tlb-bugs/scene.h - the stage every planted-bug program shares: simulated RAM, a
 * guest's tables built with the engine, a machine of simulated CPUs, and the check that the
 * planted variant was reported with the right explanation and the correct one ran clean. */
#ifndef TLB_BUGS_SCENE_H
#define TLB_BUGS_SCENE_H

#include <physim/physim.h>

#include <stdbool.h>
#include <stdint.h>

/* Where things are. Host RAM starts at RAM_BASE; stage 2 (when there is one) maps guest RAM at
 * the same addresses (GPA == HPA), so the guest's own tables, built by the engine in host RAM,
 * are where the guest's stage-1 walk looks for them. */
#define RAM_BASE UINT64_C(0x80000000)
#define RAM_SIZE (UINT64_C(16) << 20)
#define GVA	 UINT64_C(0x400000)		 /* the guest page every program uses */
#define GPA	 (RAM_BASE + UINT64_C(0x100000)) /* what GVA maps to */
#define NEW_PA	 (RAM_BASE + UINT64_C(0x200000)) /* where the code under test moves it */
#define ASID	 1
#define VMID	 3

struct scene_config {
	enum physim_arch arch;
	unsigned ncpus;
	const char *s1_format; /* the guest's (or the kernel's) own table */
	const char *s2_format; /* NULL: no stage 2 */
	/* The regime a single-stage context runs in (x86, RISC-V: HOST; Arm EL1&0: GUEST). A
	 * context with stage 2 always runs as GUEST. */
	enum physim_regime regime;
	uint64_t page_size; /* of the stage-1 page at GVA; 0 = 4 KiB */
	/* The stage-1 table takes its frames through the machine's checking paging handler
	 * (physim_machine_paging_handler): freeing a table frame some CPU still caches is
	 * reported (break-before-free). */
	bool check_frees;
};

/* The report the planted variant must produce (among others). */
struct scene_expect {
	enum physim_cpu_report_kind report; /* 0: PHYSIM_REPORT_STALE_USE */
	enum physim_entry_kind kind;	    /* of the entry reported */
	int cpu;			    /* the CPU that used it; -1: any */
	bool pending;			    /* "issued but not completed" */
	const char *remedy[3];		    /* words the remedy must contain (NULL-terminated) */
};

#define SCENE_MAX_REPORTS 16

struct scene {
	const char *prog, *variant;
	struct scene_config cfg;
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
	struct physim_pt *s1pt, *s2pt, *hyppt;
	struct physim_mmu *s1, *s2, *hyp;
	struct physim_machine *m;
	unsigned nreports, nuse;
	bool closing; /* the verdict is in: teardown reports are not the program's */
	struct physim_cpu_report report[SCENE_MAX_REPORTS];
};

/* argv[1] must be one of names[0..n-1] ("bug", "fixed", ...): its index, or exit 2 with a
 * usage line. */
int scene_variant(int argc, char **argv, const char *const *names, unsigned n);

/* Build the scene: the machine in strict mode with every hit checked, walk caches and the
 * break-before-make check, RAM,
 * GVA -> GPA in stage 1 (cfg.page_size), stage 2 mapping guest RAM identically with 4 KiB
 * pages, a hypervisor table for the host context. Exits 1 on any error. */
void scene_open(struct scene *s, const char *prog, const char *variant,
		const struct scene_config *cfg);

/* The guest (or kernel) runs on cpu: its context is loaded. */
void scene_run_guest(struct scene *s, unsigned cpu);
/* A VM exit: the hypervisor's own context (the VMID register keeps the VM's VMID). */
void scene_vm_exit(struct scene *s, unsigned cpu);

/* A read of va on cpu, printed; the output address. Exits 1 if it faults. */
uint64_t scene_read(struct scene *s, unsigned cpu, uint64_t va);

/* The code under test changes a mapping: stage 1's page at va, or stage 2's page at gpa,
 * moves to new_pa (unmap, then map: the table memory changes, nothing is invalidated). */
void scene_move_s1(struct scene *s, uint64_t va, uint64_t new_pa);
void scene_move_s2(struct scene *s, uint64_t gpa, uint64_t new_pa);
/* The two halves of a stage-2 move done with break-before-make: the
 * descriptor made invalid, and (after the invalidation) the new one. */
void scene_unmap_s2(struct scene *s, uint64_t gpa);
void scene_map_s2(struct scene *s, uint64_t gpa, uint64_t pa);
/* The two halves of a stage-1 move, for code that breaks before it makes (AArch64: invalid,
 * TLBI, DSB, then the new descriptor - Arm ARM DDI 0487 M.a.a D8.17.1). */
void scene_unmap_s1(struct scene *s, uint64_t va);
void scene_map_s1(struct scene *s, uint64_t va, uint64_t pa);

static inline struct physim_cpu *scene_cpu(struct scene *s, unsigned i)
{
	return physim_machine_cpu(s->m, i);
}

/* Check a call of the code under test succeeded (exit 1 otherwise), and say what it did. */
void scene_did(struct scene *s, int rc, const char *what, ...)
    __attribute__((format(printf, 3, 4)));

/* Audit every CPU, print every report, compare with the expectation (bug: ex's report was
 * made - for a stale use of a leaf, the audit must find stale entries too; fixed: nothing at
 * all reported), tear down, check every frame came back. The exit status: 0 when the variant
 * behaved as expected. */
int scene_finish(struct scene *s, bool planted, const struct scene_expect *ex);

#endif
