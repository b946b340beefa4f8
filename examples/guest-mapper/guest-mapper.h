/* SPDX-License-Identifier: MIT */
/* examples/guest-mapper/guest-mapper.h - what the files of the guest-mapper
 * example share: the VM description read from a config, the guest-physical
 * paging handler and a few output helpers. */
#ifndef GUEST_MAPPER_H
#define GUEST_MAPPER_H

#include <physim/physim.h>

#include <stdio.h>

/* Exit statuses: 0 all good, 1 something failed or a frame leaked, 2 the
 * command line or a config file is wrong. */
enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_BAD_INPUT = 2 };

/* ---- the VM description (config.c) ---- */

#define VM_MAX_REGIONS 16

enum region_kind { REGION_RAM, REGION_MMIO };

struct vm_region {
	enum region_kind kind;
	physim_gpa_t gpa;
	uint64_t size;
	bool populate; /* RAM: back every page now (else on first touch) */
	unsigned line; /* where the config said so, for error messages */
};

struct vm_config {
	char source[256]; /* the config file's name, or "built-in config" */
	struct vm_region region[VM_MAX_REGIONS];
	size_t nregions;
	physim_gpa_t image_gpa; /* the guest's entry point; the image goes here */
	char image_path[4096];	/* "" means the built-in image */
	unsigned image_line;
	bool image_from_option; /* --image replaced the config's file */
};

/* The configuration used when no --config is given, in the config syntax. */
extern const char vm_default_config[];

/* Parse config text; on error write one line "source:line: message" to err
 * and return -EINVAL. `source` names the text in messages; relative image
 * paths are taken relative to `dir` (NULL: the current directory). */
int vm_config_parse(const char *source, const char *dir, const char *text, struct vm_config *cfg,
		    char *err, size_t errlen);
/* Read and parse a config file (the same error convention; -EIO if it
 * cannot be read). */
int vm_config_load(const char *path, struct vm_config *cfg, char *err, size_t errlen);

/* Checks that need the machine, all made before anything is built: regions
 * overlapping or reaching gpa_limit, MMIO outside host RAM (an identity
 * mapping needs GPA == HPA), an image of image_size bytes that does not fit
 * in a RAM region, populated RAM and MMIO (plus the stage-2 root of
 * s2_root_bytes) that need more than the host_size bytes of host RAM. Same
 * error convention. */
int vm_config_check(const struct vm_config *cfg, uint64_t gpa_limit, uint64_t image_size,
		    physim_hpa_t host_base, uint64_t host_size, uint64_t s2_root_bytes, char *err,
		    size_t errlen);

/* "512M", "4K", "0x1000", "1G", "1T": bytes; -EINVAL if malformed or too
 * large. */
int parse_size(const char *s, uint64_t *out);

/* ---- the guest's page-table memory (guest-paging.c) ---- */

#define GUEST_PT_POOL_PAGES 64

/* A PagingHandler whose frames are guest-physical pages of the VM's RAM:
 * the vtable the page-table engine is given to build the guest's own
 * (stage-1) table inside guest memory. */
struct guest_paging {
	struct physim_paging_handler ph;  /* hand &ph to physim_pt_create */
	struct physim_aspace *as;	  /* guest-physical -> host-physical */
	const struct physim_mm_hal *host; /* host-physical -> host pointer */
	physim_gpa_t start, next, end;	  /* the pool and its bump pointer */
	physim_gpa_t avoid, avoid_end;	  /* pages the pool must not use (the image) */
	physim_gpa_t freed[GUEST_PT_POOL_PAGES];
	size_t nfreed;
	uint64_t pages_handed_out; /* ever, for the statistics */
	uint64_t pages_in_use;
};

/* The pool takes pages of [start, start + size) from the bottom up,
 * skipping [avoid, avoid + avoid_size), at most GUEST_PT_POOL_PAGES. */
void guest_paging_init(struct guest_paging *gp, struct physim_aspace *as,
		       const struct physim_mm_hal *host, physim_gpa_t start, uint64_t size,
		       physim_gpa_t avoid, uint64_t avoid_size);

/* ---- output (show.c) ---- */

/* "4 KiB", "2 MiB", "496 MiB", "1.5 GiB". */
const char *show_size(char buf[static 32], uint64_t bytes);
/* Hex digits to print addresses up to v in one width (at least 8). */
int show_hex_digits(uint64_t v);
/* "RWX", "RW- device", "R-X user". */
const char *show_flags(char buf[static 32], uint32_t flags);

struct ptdump_totals {
	uint64_t lines, leaves, bytes;
};
/* Print every mapping of a table (lower half of its input range), runs of
 * contiguous pages with the same flags and size merged into one line
 * "indent in_name A-B -> out_name C  size = n x page  flags". */
int show_ptdump(FILE *out, const struct physim_pt *pt, const char *indent, const char *in_name,
		const char *out_name, struct ptdump_totals *totals);

/* ---- the machine (guest-mapper.c, vm.c, vcpu.c) ---- */

/* What differs between the architectures guest-mapper runs. */
struct arch {
	const char *name;	   /* --arch */
	const char *stage2_format; /* the VM's nested table */
	const char *stage2_name;   /* what the architecture calls it */
	const char *stage2_root;   /* the register that holds its root */
	const char *stage1_format; /* the guest's own table */
	const char *stage1_root;
	struct physim_mmu_ctl s1_ctl, s2_ctl;
	bool hw_dirty;	      /* the walker sets a stage-2 dirty bit the
				 dirty log harvests (EPT A/D) */
	const char *levels;   /* how the architecture numbers table levels */
	const char *s1_fault; /* a stage-1 fault, as the guest sees it */
	const char *s2_fault; /* a stage-2 fault, as the hypervisor sees it */
	uint8_t code[8];      /* the built-in image's halt loop */
	size_t code_len;
	const char *code_text; /* its disassembly */
};

/* The guest's virtual memory layout: where its "kernel" maps things. All in
 * the lower half, so every stage-1 format here (x86-64 4-level, Sv48: 47
 * bits; AArch64 TTBR0: 48 bits) takes them as they are. */
#define GVA_IMAGE    UINT64_C(0x0000000000400000) /* the image */
#define GVA_DEVICES  UINT64_C(0x0000000010000000) /* MMIO regions, one after another */
#define GVA_BOGUS    UINT64_C(0x0000000020000000) /* one page mapped to a GPA the VM lacks */
#define GVA_UNMAPPED UINT64_C(0x0000000030000000) /* nothing: a stage-1 fault */
#define GVA_PHYSMAP  UINT64_C(0x0000100000000000) /* all guest RAM at GVA_PHYSMAP + GPA */
#define GPA_LIMIT    GVA_PHYSMAP		  /* keeps the direct map below 2^45 */

#define VMID 1 /* the VM's tag in the TLB (VPID / VMID) */
#define ASID 1 /* the guest process's tag (PCID / ASID) */

struct machine {
	const struct arch *arch;
	bool quiet;
	uint64_t ram_size;

	/* The host: simulated RAM and its HALs, each behind a counting
	 * wrapper so every frame can be attributed to what took it. */
	struct physim_ram *ram;
	struct physim_clock *clock;
	struct physim_vm_hal vm_hal;
	struct physim_counting_hal *count_ram;	  /* guest RAM (mm HAL) */
	struct physim_counting_hal *count_tables; /* stage-2 tables (paging handler) */
	struct physim_counting_hal *count_claims; /* identity regions (vm HAL) */
	uint64_t t_start;

	/* The VM. */
	struct vm_config cfg;
	uint8_t *image;
	size_t image_size;
	bool image_builtin;
	struct physim_pt_format_info s2_info, s1_info;
	struct physim_aspace *as;
	const struct vm_region *lazy; /* the first lazy RAM region, if any */
	physim_gpa_t hole_gpa;	      /* a page in no region, if have_hole */
	bool have_hole;

	/* The guest's own page table, in guest memory. */
	struct guest_paging gpt_mem;
	struct physim_pt *gpt;

	/* One virtual CPU: the two MMU contexts and its TLB. */
	struct physim_mmu *s1, *s2;
	struct physim_tlb *tlb;
	uint64_t exits_handled, exits_refused; /* nested page faults */
	uint64_t guest_faults;		       /* stage-1 faults, the guest's own */

	/* Step 11 (shootdown.c): two simulated vCPUs, while it runs; the stage-2
	 * table's flush hook shoots changed GPAs down on them (only on vCPU 0
	 * with skip_shootdown). */
	struct physim_machine *vcpus;
	bool skip_shootdown;
	int vcpu_flush_rc; /* the first error of an invalidation the hook issued */
	struct physim_cpu_flusher *vcpu_flusher; /* step 11: routes the hook to the vCPUs */
};

/* Output: say() prints unless --quiet; fail() reports an error on stderr
 * and returns rc (negative) for the caller to pass on. */
void say(const struct machine *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int fail(const char *what, int rc);

/* The steps, in the order main() runs them; each prints its part. */
int step_host(struct machine *m);
int step_vm(struct machine *m);
int step_image(struct machine *m);
int step_guest_table(struct machine *m);
int step_vcpu(struct machine *m);
int step_accessor(struct machine *m);
int step_tlb(struct machine *m);
int step_dirty_log(struct machine *m);
int step_stage2_dump(struct machine *m);
int step_statistics(struct machine *m);
int step_shootdown(struct machine *m);
/* The hypervisor's stage-2 flush, routed to the vCPUs of step 11 (shootdown.c): each GPA (or,
 * with all, the whole VM) invalidated with the architecture's instructions. */
void vcpus_flush_s2(struct machine *m, const uint64_t *gpas, size_t n, bool all, unsigned flags);
/* Always run, even after a failure: 0 only if every frame came back. */
int step_teardown(struct machine *m);

#endif
