/* SPDX-License-Identifier: MIT */
/* tests/test_cpu_nested.c - simulated CPUs running nested contexts: which
 * cached entries (combined, stage-2, stage-2 translations of stage-1 table
 * addresses, stage-1 and stage-2 walk-cache entries) survive each
 * invalidation, against a table written from the manuals; stale walk-cache
 * use; break-before-free and break-before-make for nested contexts; and
 * break-before-make checked at the CPUs a broadcast reaches. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <physim/cpu.h>
#include <physim/ram.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/env.h"

#define MiB	 UINT64_C(0x100000)
#define RAM_BASE UINT64_C(0x80000000)
#define RAM_SIZE (32 * MiB)

#define URWX (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U)

#define VA_A   UINT64_C(0x400000)
#define PA_A   (RAM_BASE + 0x100000) /* a GPA; stage 2 maps RAM identically */
#define VB     UINT64_C(0x40000000)  /* 2 MiB blocks for the break-before-make cases */
#define RUN_SZ UINT64_C(0x10000)     /* a Contiguous / Svnapot run of 16 4 KiB pages */

#define ASID 1
#define VMID 1

/* ---- fixture ---- */

struct reports {
	int n, n_use, n_audit, n_free, n_bbm;
	struct physim_cpu_report last;
	char text[1024];
};

static void on_report(void *ctx, const struct physim_cpu_report *r)
{
	struct reports *l = ctx;
	l->n++;
	l->n_use += r->kind == PHYSIM_REPORT_STALE_USE;
	l->n_audit += r->kind == PHYSIM_REPORT_STALE_ENTRY;
	l->n_free += r->kind == PHYSIM_REPORT_FREED_IN_USE;
	l->n_bbm += r->kind == PHYSIM_REPORT_BBM;
	l->last = *r;
	physim_cpu_report_format(r, l->text, sizeof(l->text));
}

struct env {
	enum physim_arch arch;
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
	const struct physim_paging_handler *tph; /* the tables' handler */
	struct physim_pt *s1pt, *s2pt;
	struct physim_mmu *s1, *s2;
	struct physim_machine *m;
	struct reports rep;
};

static const char *s1_format(enum physim_arch a)
{
	return a == PHYSIM_ARCH_X86_64	  ? "x86_64-4l"
	       : a == PHYSIM_ARCH_AARCH64 ? "aarch64-4k-48"
					  : "sv48";
}

static const char *s2_format(enum physim_arch a)
{
	return a == PHYSIM_ARCH_X86_64	  ? "ept-4l"
	       : a == PHYSIM_ARCH_AARCH64 ? "aarch64-s2-4k-40"
					  : "sv48x4";
}

/* A guest stage-1 table mapping VA_A -> PA_A and the next page to the next
 * (4 KiB pages; the tests touch the second one to make a walk) and a
 * stage-2 table
 * mapping RAM identically (4 KiB pages, or mostly 2 MiB blocks), so
 * the guest's table frames sit at GPA = HPA. With wrap, both tables take
 * their frames from the machine's break-before-free wrapper. */
static struct env *env_new(enum physim_arch arch, unsigned ncpus, bool walk_caches, bool check_bbm,
			   bool s2_huge, bool wrap)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	e->arch = arch;
	assert_int_equal(
	    physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE},
			      &e->ram),
	    0);
	e->ph = physim_ram_paging_handler(e->ram);
	struct physim_machine_config c = {.arch = arch,
					  .ncpus = ncpus,
					  .check_stale = true,
					  .walk_caches = walk_caches,
					  .check_bbm = check_bbm,
					  .on_report = on_report,
					  .report_ctx = &e->rep};
	assert_int_equal(physim_machine_create(&c, &e->m), 0);
	e->tph = wrap ? physim_machine_paging_handler(e->m, e->ph) : e->ph;
	assert_non_null(e->tph);
	assert_int_equal(physim_pt_create(physim_format(s2_format(arch)), e->tph, &e->s2pt), 0);
	/* with s2_huge, the first 2 MiB (where the tables are) in 4 KiB pages
	 * and 15 blocks after them: no aligned run of 16 to make contiguous */
	uint64_t small = s2_huge ? 2 * MiB : RAM_SIZE;
	assert_int_equal(physim_pt_map_region(e->s2pt, RAM_BASE, RAM_BASE, small, URWX, 0), 0);
	if (s2_huge)
		assert_int_equal(physim_pt_map_region(e->s2pt, RAM_BASE + small, RAM_BASE + small,
						      RAM_SIZE - small, URWX, PHYSIM_ALLOW_HUGE),
				 0);
	e->s2 = tc_mmu_of(e->ph, e->s2pt);
	assert_int_equal(physim_pt_create(physim_format(s1_format(arch)), e->tph, &e->s1pt), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A, 4096, URWX), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A + 0x1000, PA_A + 0x1000, 4096, URWX), 0);
	e->s1 = tc_mmu_of(e->ph, e->s1pt);
	return e;
}

static void env_free(struct env *e)
{
	physim_mmu_destroy(e->s1);
	physim_mmu_destroy(e->s2);
	physim_pt_destroy(e->s1pt);
	physim_pt_destroy(e->s2pt);
	physim_machine_destroy(e->m);
	assert_int_equal(physim_ram_stats(e->ram).used_frames, 0);
	physim_ram_destroy(e->ram);
	free(e);
}

static struct physim_cpu *cpu(struct env *e, unsigned i)
{
	return physim_machine_cpu(e->m, i);
}

static void load(struct env *e, unsigned i)
{
	struct physim_cpu_context c = {
	    .s1 = e->s1,
	    .s2 = e->s2,
	    .regime = PHYSIM_REGIME_GUEST,
	    /* x86: PCID 0 (CR4.PCIDE clear), VPID 1, the EPT's EPTP */
	    .asid = e->arch == PHYSIM_ARCH_X86_64 ? 0 : ASID,
	    .vmid = VMID,
	    .eptp = physim_pt_root(e->s2pt),
	};
	assert_int_equal(physim_cpu_set_context(cpu(e, i), &c), 0);
}

static int access(struct env *e, unsigned i, uint64_t va, bool write, uint64_t *pa)
{
	struct physim_xlate x;
	int rc = physim_cpu_translate(
	    cpu(e, i), &(struct physim_access){.va = va, .user = true, .write = write}, &x);
	*pa = x.pa;
	return rc;
}

static uint64_t rd(struct env *e, unsigned i, uint64_t va)
{
	uint64_t pa = 0;
	assert_int_equal(access(e, i, va, false, &pa), 0);
	return pa;
}

/* ---- the classes of entries a nested walk leaves ---- */

enum cls {
	C_COMB, /* combined GVA -> HPA */
	C_S2F,	/* stage 2 of the final GPA (PA_A) */
	C_S2R,	/* stage 2 of the guest's root table's GPA */
	C_S2T,	/* stage 2 of the guest's other table pages */
	C_W1,	/* walk cache: stage-1 (guest) non-leaf descriptors */
	C_W2,	/* walk cache: stage-2 non-leaf descriptors */
	NCLS,
};

static const char *const cls_name[NCLS] = {"COMB", "S2F", "S2R", "S2T", "W1", "W2"};

struct census {
	uint64_t root;
	int n[NCLS];
	int other;
};

static int count_entry(void *ctx, const struct physim_cpu_entry *e)
{
	struct census *c = ctx;
	switch (e->kind) {
	case PHYSIM_ENTRY_COMB:
		c->n[C_COMB]++;
		break;
	case PHYSIM_ENTRY_S2:
		c->n[e->va == PA_A ? C_S2F : e->va == c->root ? C_S2R : C_S2T]++;
		break;
	case PHYSIM_ENTRY_WALK:
		c->n[e->stage == 1 ? C_W1 : C_W2]++;
		break;
	default:
		c->other++;
		break;
	}
	return 0;
}

static struct census census(struct env *e, unsigned i)
{
	struct census c = {.root = physim_pt_root(e->s1pt)};
	assert_int_equal(physim_cpu_for_each_entry(cpu(e, i), count_entry, &c), 0);
	assert_int_equal(c.other, 0);
	return c;
}

/* ---- the oracle ---- */

enum instr {
	I_TLBI,	       /* op, xt; then DSB on the issuer */
	I_INVLPG,      /* a = linear address */
	I_INVVPID,     /* a = type, b = VPID (desc[1] = VA_A) */
	I_INVEPT,      /* a = type, b = EPTP (0: the env's own) */
	I_HFENCE_VVMA, /* a, b: rs1, rs2 (REG_X0: x0) */
	I_HFENCE_GVMA, /* a, b: rs1 (GPA >> 2), rs2 */
	I_SFENCE_VMA,  /* a, b: rs1, rs2 at V = 1 */
};

#define REG_X0 UINT64_MAX
/* Operands computed at run time. */
#define OP_ROOT_IPA   (UINT64_MAX - 1) /* the guest root table's IPA >> 12 */
#define OP_OTHER_EPTP (UINT64_MAX - 2) /* an EPTP that is not the env's */

struct row {
	enum physim_arch arch;
	enum instr instr;
	enum physim_tlbi_op op;
	uint64_t a, b;
	unsigned issuer; /* CPU that issues it (entries are on CPU 0) */
	bool survives[NCLS];
	const char *cite; /* the manual's rule for this row */
};

#define ARM   PHYSIM_ARCH_AARCH64
#define X86   PHYSIM_ARCH_X86_64
#define RV    PHYSIM_ARCH_RISCV64
#define XT_VA ((uint64_t)ASID << 48 | VA_A >> 12)
/*                                 COMB S2F S2R S2T W1 W2 */
#define KEEP_ALL                                                                                   \
	{                                                                                          \
		1, 1, 1, 1, 1, 1                                                                   \
	}
#define GONE_ALL                                                                                   \
	{                                                                                          \
		0, 0, 0, 0, 0, 0                                                                   \
	}
#define S1_ALL                                                                                     \
	{                                                                                          \
		0, 1, 1, 1, 0, 1                                                                   \
	} /* stage-1 and combined, walk entries too */
#define S1_LEAF                                                                                    \
	{                                                                                          \
		0, 1, 1, 1, 1, 1                                                                   \
	} /* last level only: walk entries stay */

static const struct row rows[] = {
    /* ---- AArch64: Arm ARM DDI 0487 M.a.a, D8.17 and the TLBI descriptions (C5.5) ---- */
    {ARM, I_TLBI, PHYSIM_TLBI_VAE1, XT_VA, 0, 0, S1_ALL,
     "TLBI VAE1: stage 1 entries (all levels) for the VA and ASID in the current VMID; "
     "walk-cache entries of stage 1 included; stage 2 untouched"},
    {ARM, I_TLBI, PHYSIM_TLBI_VALE1, XT_VA, 0, 0, S1_LEAF,
     "TLBI VALE1: last level only - cached non-leaf (walk) entries need not be removed"},
    {ARM, I_TLBI, PHYSIM_TLBI_VAAE1, VA_A >> 12, 0, 0, S1_ALL,
     "TLBI VAAE1: stage 1, all ASIDs, all levels"},
    {ARM, I_TLBI, PHYSIM_TLBI_VAALE1, VA_A >> 12, 0, 0, S1_LEAF,
     "TLBI VAALE1: stage 1, all ASIDs, last level only"},
    {ARM,
     I_TLBI,
     PHYSIM_TLBI_ASIDE1,
     (uint64_t)ASID << 48,
     0,
     0,
     {1, 1, 1, 1, 0, 1},
     "TLBI ASIDE1: stage 1 entries of the ASID in the current VMID, global ones excepted "
     "(VA_A is mapped global, nG = 0); walk entries are used by the ASID and go"},
    {ARM, I_TLBI, PHYSIM_TLBI_ASIDE1, (uint64_t)2 << 48, 0, 0, KEEP_ALL,
     "TLBI ASIDE1 of another ASID: entries of ASID 1 stay"},
    {ARM, I_TLBI, PHYSIM_TLBI_VMALLE1, 0, 0, 0, S1_ALL,
     "TLBI VMALLE1: all stage 1 entries of the current VMID; stage 2 entries stay (the "
     "reason KVM issues it after IPAS2E1)"},
    {ARM,
     I_TLBI,
     PHYSIM_TLBI_IPAS2E1,
     PA_A >> 12,
     0,
     0,
     {1, 0, 1, 1, 1, 0},
     "TLBI IPAS2E1: stage 2 entries for the IPA, all levels (stage-2 walk entries); "
     "combined stage 1+2 entries need not be removed; other IPAs stay"},
    {ARM,
     I_TLBI,
     PHYSIM_TLBI_IPAS2LE1,
     PA_A >> 12,
     0,
     0,
     {1, 0, 1, 1, 1, 1},
     "TLBI IPAS2LE1: stage 2, last level only: non-leaf stage-2 walk entries stay"},
    {ARM,
     I_TLBI,
     PHYSIM_TLBI_IPAS2E1,
     OP_ROOT_IPA,
     0,
     0,
     {1, 1, 0, 1, 1, 0},
     "TLBI IPAS2E1 of a stage-1 table's IPA: walk caches may hold stage 2 translations "
     "of stage 1 table addresses, and IPAS2E1 removes that one"},
    {ARM, I_TLBI, PHYSIM_TLBI_VMALLS12E1, 0, 0, 0, GONE_ALL,
     "TLBI VMALLS12E1: all stage 1 and stage 2 entries of the current VMID"},
    {ARM, I_TLBI, PHYSIM_TLBI_ALLE1, 0, 0, 0, GONE_ALL,
     "TLBI ALLE1: every EL1&0 entry, stage 1 and 2, every VMID"},
    {ARM, I_TLBI, PHYSIM_TLBI_ALLE2, 0, 0, 0, KEEP_ALL,
     "TLBI ALLE2: the EL2 regime only; EL1&0 entries stay"},
    {ARM, I_TLBI, PHYSIM_TLBI_VAE2, VA_A >> 12, 0, 0, KEEP_ALL, "TLBI VAE2: the EL2 regime only"},
    {ARM, I_TLBI, PHYSIM_TLBI_VAE1IS, XT_VA, 0, 1, S1_ALL,
     "TLBI VAE1IS from another PE: Inner Shareable broadcast, completed by its DSB"},
    {ARM,
     I_TLBI,
     PHYSIM_TLBI_IPAS2E1IS,
     PA_A >> 12,
     0,
     1,
     {1, 0, 1, 1, 1, 0},
     "TLBI IPAS2E1IS from another PE: stage 2 entries of the IPA, all levels"},
    {ARM, I_TLBI, PHYSIM_TLBI_VMALLS12E1, 0, 0, 1, KEEP_ALL,
     "TLBI VMALLS12E1 (not IS) on another PE: that PE only"},

    /* ---- x86: Intel SDM Vol. 3C "Information That May Be Cached" (kinds), "Operations that
       Invalidate Cached Mappings" (instructions) ---- */
    {X86, I_INVLPG, 0, VA_A, 0, 0, S1_ALL,
     "INVLPG in VMX non-root: linear and combined mappings of the current VPID for the "
     "address, and all paging-structure caches of the PCID (Vol. 3A 4.10.4.1); "
     "guest-physical mappings untouched"},
    {X86, I_INVVPID, 0, 0, VMID, 0, S1_ALL,
     "INVVPID type 0: linear and combined mappings of the VPID used to translate the "
     "address (paging-structure entries on its path included)"},
    {X86, I_INVVPID, 0, 1, VMID, 0, S1_ALL,
     "INVVPID single-context: linear and combined mappings of the VPID"},
    {X86, I_INVVPID, 0, 1, 2, 0, KEEP_ALL, "INVVPID single-context of another VPID"},
    {X86, I_INVVPID, 0, 2, 0, 0, S1_ALL,
     "INVVPID all-context: linear and combined mappings of every VPID but 0"},
    {X86, I_INVEPT, 0, 1, 0, 0, GONE_ALL,
     "INVEPT single-context: guest-physical and combined mappings (paging-structure "
     "caches included) of the EP4TA"},
    {X86, I_INVEPT, 0, 1, OP_OTHER_EPTP, 0, KEEP_ALL, "INVEPT single-context of another EP4TA"},
    {X86, I_INVEPT, 0, 2, 0, 0, GONE_ALL,
     "INVEPT global: guest-physical and combined mappings of every EP4TA"},

    /* ---- RISC-V: privileged spec, SFENCE.VMA and the H extension's fences ---- */
    {RV, I_HFENCE_VVMA, 0, VA_A, ASID, 0, S1_LEAF,
     "HFENCE.VVMA rs1 != x0: as SFENCE.VMA for VS-stage, only leaf PTEs of the address"},
    {RV, I_HFENCE_VVMA, 0, REG_X0, REG_X0, 0, S1_ALL,
     "HFENCE.VVMA x0, x0: every VS-stage entry of the current VMID, G-stage untouched"},
    {RV, I_HFENCE_VVMA, 0, REG_X0, 2, 0, KEEP_ALL, "HFENCE.VVMA for another ASID"},
    {RV, I_SFENCE_VMA, 0, REG_X0, REG_X0, 0, S1_ALL, "SFENCE.VMA at V = 1 acts as HFENCE.VVMA"},
    {RV,
     I_HFENCE_GVMA,
     0,
     REG_X0,
     REG_X0,
     0,
     {0, 0, 0, 0, 1, 0},
     "HFENCE.GVMA x0, x0: every G-stage entry and what was derived from one (combined "
     "entries); VS-stage non-leaf entries hold GPAs, not derived from G-stage"},
    {RV,
     I_HFENCE_GVMA,
     0,
     PA_A >> 2,
     REG_X0,
     0,
     {0, 0, 1, 1, 1, 1},
     "HFENCE.GVMA rs1 = GPA >> 2: leaf G-stage PTEs of the GPA, and combined entries whose "
     "GPA it is; non-leaf G-stage entries stay"},
    {RV, I_HFENCE_GVMA, 0, REG_X0, 2, 0, KEEP_ALL, "HFENCE.GVMA of another VMID"},
};

static const uint64_t *reg(const uint64_t *v)
{
	return *v == REG_X0 ? NULL : v;
}

static void issue(struct env *e, const struct row *r)
{
	struct physim_cpu *c = cpu(e, r->issuer);
	uint64_t a = r->a, b = r->b;
	switch (r->instr) {
	case I_TLBI:
		if (a == OP_ROOT_IPA)
			a = physim_pt_root(e->s1pt) >> 12;
		assert_int_equal(physim_arm_tlbi(c, r->op, a), 0);
		physim_arm_dsb(c);
		break;
	case I_INVLPG:
		assert_int_equal(physim_x86_invlpg(c, a), 0);
		break;
	case I_INVVPID:
		assert_int_equal(physim_x86_invvpid(c, a, (const uint64_t[2]){b, VA_A}), 0);
		break;
	case I_INVEPT: {
		uint64_t eptp = b == OP_OTHER_EPTP ? RAM_BASE + 31 * MiB : physim_pt_root(e->s2pt);
		assert_int_equal(physim_x86_invept(c, a, (const uint64_t[2]){eptp, 0}), 0);
		break;
	}
	case I_HFENCE_VVMA:
		assert_int_equal(physim_rv_hfence_vvma(c, reg(&a), reg(&b)), 0);
		break;
	case I_HFENCE_GVMA:
		assert_int_equal(physim_rv_hfence_gvma(c, reg(&a), reg(&b)), 0);
		break;
	case I_SFENCE_VMA:
		assert_int_equal(physim_rv_sfence_vma(c, reg(&a), reg(&b)), 0);
		break;
	}
}

static void test_oracle(void **state)
{
	(void)state;
	int failures = 0;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct env *e = env_new(r->arch, 2, true, false, false, false);
		load(e, 0);
		load(e, 1);
		assert_int_equal(rd(e, 0, VA_A), PA_A);
		struct census before = census(e, 0);
		for (int k = 0; k < NCLS; k++)
			assert_true(before.n[k] > 0); /* every class is cached */
		issue(e, r);
		struct census after = census(e, 0);
		for (int k = 0; k < NCLS; k++) {
			bool left = after.n[k] > 0;
			/* an invalidation removes a class whole or not at all here */
			if (left && after.n[k] != before.n[k])
				left = false;
			if (left != r->survives[k]) {
				print_message("row %zu (%s): %s %s, expected %s\n", i, r->cite,
					      cls_name[k], left ? "survived" : "removed",
					      r->survives[k] ? "to survive" : "removal");
				failures++;
			}
		}
		assert_int_equal(e->rep.n, 0);
		env_free(e);
	}
	assert_int_equal(failures, 0);
}

/* ---- stale walk-cache use ---- */

/* The guest's descriptor that points at the last-level table of VA_A: its
 * GPA (= HPA here), from the walk trace. */
static uint64_t last_table_desc(struct env *e, uint64_t *desc)
{
	struct physim_walk_trace t;
	struct physim_xlate x;
	assert_int_equal(physim_nested_trace(e->s1, e->s2,
					     &(struct physim_access){.va = VA_A, .user = true},
					     PHYSIM_TRACE_PROBE, &x, &t),
			 0);
	uint64_t at = 0;
	for (unsigned i = 0; i < t.n; i++) {
		if (t.steps[i].stage == 1 && t.steps[i].decision == PHYSIM_WALK_TABLE) {
			at = t.steps[i].addr;
			*desc = t.steps[i].desc;
		}
	}
	assert_int_not_equal(at, 0);
	return at;
}

static uint64_t *hva(struct env *e, uint64_t pa)
{
	return e->ph->phys_to_virt(e->ph->ctx, pa);
}

enum fix { FIX_NONE, FIX_RIGHT, FIX_WRONG };

struct moved {
	uint64_t at, desc, newt;
};

/* The table a descriptor points at, and the descriptor repointed (Arm and
 * x86: address bits 47:12 here; RISC-V: the PPN in bits 53:10). */
static uint64_t desc_table(const struct env *e, uint64_t d)
{
	if (e->arch == RV)
		return ((d >> 10) & ((UINT64_C(1) << 44) - 1)) << 12;
	return d & UINT64_C(0x0000FFFFFFFFF000);
}

static uint64_t desc_repoint(const struct env *e, uint64_t d, uint64_t table)
{
	if (e->arch == RV)
		return (d & ~(((UINT64_C(1) << 44) - 1) << 10)) | (table >> 12) << 10;
	return (d & ~UINT64_C(0x0000FFFFFFFFF000)) | table;
}

/* Copy the guest's last-level table of VA_A to a new frame and repoint the
 * descriptor (the guest's tables say the same; the table moved). */
static struct moved move_guest_table(struct env *e)
{
	struct moved m;
	m.at = last_table_desc(e, &m.desc);
	uint64_t oldt = desc_table(e, m.desc);
	assert_int_equal(e->ph->alloc_frame(e->ph->ctx, &m.newt), 0);
	memcpy(hva(e, m.newt), hva(e, oldt), 4096);
	*hva(e, m.at) = desc_repoint(e, m.desc, m.newt);
	return m;
}

/* Put the table back where the engine has it, and free the copy. */
static void unmove_guest_table(struct env *e, const struct moved *m)
{
	*hva(e, m->at) = m->desc;
	assert_int_equal(e->ph->dealloc_frame(e->ph->ctx, m->newt), 0);
}

/* The guest's fix for its moved table: the right instruction (TLBI VAE1IS,
 * HFENCE.VVMA x0) or, on RISC-V, a wrong kind (HFENCE.GVMA: G-stage). */
static void s1_fix(struct env *e, enum fix f)
{
	struct physim_cpu *c = cpu(e, 0);
	if (f == FIX_NONE)
		return;
	if (e->arch == ARM) {
		assert_int_equal(physim_arm_tlbi(c, PHYSIM_TLBI_VAE1IS, XT_VA), 0);
		physim_arm_dsb(c);
	} else if (f == FIX_RIGHT) {
		assert_int_equal(physim_rv_hfence_vvma(c, NULL, NULL), 0);
	} else {
		assert_int_equal(physim_rv_hfence_gvma(c, NULL, NULL), 0);
	}
}

/* A guest moves a table: without the right invalidation the next walk (of the
 * next page) may start from the cached stage-1
 * walk entry - a stale use - and the audit finds it first. */
static void stale_guest_walk_entry(enum physim_arch arch, const char *remedy)
{
	for (int f = FIX_NONE; f <= (arch == RV ? FIX_WRONG : FIX_RIGHT); f++) {
		struct env *e = env_new(arch, 1, true, false, false, false);
		load(e, 0);
		assert_int_equal(rd(e, 0, VA_A), PA_A);
		struct moved mv = move_guest_table(e);
		s1_fix(e, (enum fix)f);
		if (f != FIX_RIGHT) {
			assert_int_equal(physim_machine_audit(e->m), 1);
			assert_int_equal(e->rep.last.kind, PHYSIM_REPORT_STALE_ENTRY);
			assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_WALK);
			assert_int_equal(e->rep.last.entry.stage, 1);
			assert_int_equal(e->rep.last.current.pa, mv.newt);
		}
		uint64_t pa;
		assert_int_equal(access(e, 0, VA_A + 0x1000, false, &pa), 0);
		assert_int_equal(pa, PA_A + 0x1000);
		assert_int_equal(e->rep.n_use, f == FIX_RIGHT ? 0 : 1);
		if (f != FIX_RIGHT) {
			assert_int_equal(e->rep.last.kind, PHYSIM_REPORT_STALE_USE);
			assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_WALK);
			assert_int_equal(e->rep.last.entry.stage, 1);
			assert_int_equal(e->rep.last.entry.vmid, VMID);
			assert_int_equal(e->rep.last.entry.asid, ASID);
			assert_non_null(strstr(e->rep.text, remedy));
			print_message("%s\n", e->rep.text);
		}
		assert_int_equal(physim_machine_audit(e->m), 0);
		unmove_guest_table(e, &mv);
		env_free(e);
	}
}

static void test_arm_stale_guest_walk_entry(void **state)
{
	(void)state;
	stale_guest_walk_entry(ARM, "VAE1IS");
}

static void test_rv_stale_guest_walk_entry(void **state)
{
	(void)state;
	stale_guest_walk_entry(RV, "rs1 = x0");
}

/* The GPA of the guest's last-level table for VA_A: the table the stage-1
 * leaf was read from. */
static uint64_t leaf_table_gpa(struct env *e)
{
	struct physim_walk_trace t;
	struct physim_xlate x;
	assert_int_equal(physim_nested_trace(e->s1, e->s2,
					     &(struct physim_access){.va = VA_A, .user = true},
					     PHYSIM_TRACE_PROBE, &x, &t),
			 0);
	for (unsigned i = 0; i < t.n; i++) {
		if (t.steps[i].stage == 1 && t.steps[i].decision == PHYSIM_WALK_LEAF)
			return t.steps[i].table;
	}
	fail();
	return 0;
}

/* The stage-2 fix for a remapped guest table page at GPA tgpa: the right
 * instruction (IPAS2E1IS, INVEPT, HFENCE.GVMA) or a wrong kind (a stage-1
 * one: VMALLE1IS, INVVPID, HFENCE.VVMA). */
static void s2_fix(struct env *e, enum fix f, uint64_t tgpa)
{
	struct physim_cpu *c = cpu(e, 0);
	uint64_t vmid = VMID, rs1 = tgpa >> 2;
	if (f == FIX_NONE)
		return;
	switch (e->arch) {
	case ARM:
		assert_int_equal(
		    physim_arm_tlbi(c,
				    f == FIX_RIGHT ? PHYSIM_TLBI_IPAS2E1IS : PHYSIM_TLBI_VMALLE1IS,
				    f == FIX_RIGHT ? tgpa >> 12 : 0),
		    0);
		physim_arm_dsb(c);
		break;
	case X86:
		if (f == FIX_RIGHT)
			assert_int_equal(physim_x86_invept(
					     c, 1, (const uint64_t[2]){physim_pt_root(e->s2pt), 0}),
					 0);
		else
			assert_int_equal(physim_x86_invvpid(c, 1, (const uint64_t[2]){VMID, 0}), 0);
		break;
	default:
		if (f == FIX_RIGHT)
			assert_int_equal(physim_rv_hfence_gvma(c, &rs1, &vmid), 0);
		else
			assert_int_equal(physim_rv_hfence_vvma(c, NULL, NULL), 0);
		break;
	}
}

/* The hypervisor moves a guest table page in stage 2 (copies the frame,
 * remaps its GPA): without the right invalidation the cached stage-2
 * translation of the table's address is used by the next walk (stale use,
 * kind S2, at the table's GPA); a stage-1 invalidation does not remove it
 * (Arm ARM D8.17: VMALLE1 leaves stage-2 entries; SDM Vol. 3C "Operations that Invalidate Cached
 * Mappings": guest-physical mappings go only with INVEPT; RISC-V: HFENCE.VVMA is VS-stage only). */
static void stale_s2_of_table(enum physim_arch arch, const char *remedy)
{
	for (int f = FIX_NONE; f <= FIX_WRONG; f++) {
		struct env *e = env_new(arch, 1, true, false, false, false);
		load(e, 0);
		assert_int_equal(rd(e, 0, VA_A), PA_A);
		uint64_t tgpa = leaf_table_gpa(e), nhpa;
		assert_int_equal(e->ph->alloc_frame(e->ph->ctx, &nhpa), 0);
		memcpy(hva(e, nhpa), hva(e, tgpa), 4096);
		assert_int_equal(physim_pt_unmap(e->s2pt, tgpa, NULL), 0);
		assert_int_equal(physim_pt_map(e->s2pt, tgpa, nhpa, 4096, URWX), 0);
		s2_fix(e, (enum fix)f, tgpa);
		uint64_t pa;
		assert_int_equal(access(e, 0, VA_A + 0x1000, false, &pa), 0);
		assert_int_equal(pa, PA_A + 0x1000);
		assert_int_equal(e->rep.n_use, f == FIX_RIGHT ? 0 : 1);
		if (f != FIX_RIGHT) {
			assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_S2);
			assert_int_equal(e->rep.last.entry.va, tgpa);
			assert_int_equal(e->rep.last.entry.pa, tgpa);
			assert_int_equal(e->rep.last.current.pa, nhpa);
			assert_non_null(strstr(e->rep.text, remedy));
			print_message("%s\n", e->rep.text);
		}
		assert_int_equal(physim_machine_audit(e->m), 0);
		/* give the engine its frame back at its GPA */
		assert_int_equal(physim_pt_unmap(e->s2pt, tgpa, NULL), 0);
		assert_int_equal(physim_pt_map(e->s2pt, tgpa, tgpa, 4096, URWX), 0);
		assert_int_equal(e->ph->dealloc_frame(e->ph->ctx, nhpa), 0);
		env_free(e);
	}
}

static void test_arm_stale_s2_of_table(void **state)
{
	(void)state;
	stale_s2_of_table(ARM, "IPAS2E1IS");
}

static void test_x86_stale_s2_of_table(void **state)
{
	(void)state;
	stale_s2_of_table(X86, "INVEPT");
}

static void test_rv_stale_s2_of_table(void **state)
{
	(void)state;
	stale_s2_of_table(RV, "HFENCE.GVMA");
}

/* ---- break-before-free ---- */

/* The guest's stage-1 tables freed while the CPU still caches (a) walk
 * entries pointing at them or read from them and (b) stage-2 translations
 * of their addresses. aarch64-4k-48 has 4 table frames (L0..L3) and 3 walk
 * entries (L0, L1, L2 descriptors): L0's frame holds one descriptor read,
 * L1's and L2's one pointed at and one read, L3's one pointed at = 6
 * references, plus one stage-2 entry per frame = 4: 10. After VMALLE1IS
 * the walk entries are gone (4 left: the stage-2 ones); after VMALLS12E1IS
 * nothing is left. Freeing the final page (PA_A) with the combined and the
 * stage-2 entry cached: 2 (after VMALLE1IS the stage-2 one: 1). */
static void test_arm_free_nested(void **state)
{
	(void)state;
	static const struct {
		enum physim_tlbi_op op;
		int expect;
		int expect_page; /* references to PA_A: combined + stage 2 */
	} cases[] = {{0, 10, 2}, {PHYSIM_TLBI_VMALLE1IS, 4, 1}, {PHYSIM_TLBI_VMALLS12E1IS, 0, 0}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct env *e = env_new(ARM, 2, true, false, false, true);
		load(e, 0);
		load(e, 1);
		assert_int_equal(rd(e, 1, VA_A), PA_A);
		if (cases[i].op) {
			assert_int_equal(physim_arm_tlbi(cpu(e, 0), cases[i].op, 0), 0);
			physim_arm_dsb(cpu(e, 0));
		}
		assert_int_equal(physim_machine_check_free(e->m, PA_A, 4096), cases[i].expect_page);
		e->rep = (struct reports){0};
		physim_pt_destroy(e->s1pt);
		e->s1pt = NULL;
		assert_int_equal(e->rep.n_free, cases[i].expect);
		if (cases[i].expect) {
			assert_int_equal(e->rep.last.cpu, 1);
			print_message("%s\n", e->rep.text);
		}
		env_free(e);
	}
}

/* The same with a stage 2 that is not the identity: the guest's tables sit
 * at GPAs GPA_OFF below their frames' HPAs (the guest's table engine sees
 * guest-physical addresses through a paging handler that adds GPA_OFF), so
 * what the walk caches reference must be compared by HPA - the frame the
 * host frees - never by the GPA the guest's descriptors hold. */
#define GPA_OFF UINT64_C(0x40000000)

struct gpa_view {
	struct physim_paging_handler ph;
	const struct physim_paging_handler *host;
};

static int gv_alloc(void *ctx, physim_hpa_t *pa)
{
	struct gpa_view *v = ctx;
	int rc = v->host->alloc_frame(v->host->ctx, pa);
	if (rc == 0)
		*pa -= GPA_OFF;
	return rc;
}

static int gv_alloc_n(void *ctx, size_t n, uint64_t align, physim_hpa_t *pa)
{
	struct gpa_view *v = ctx;
	int rc = v->host->alloc_frames(v->host->ctx, n, align, pa);
	if (rc == 0)
		*pa -= GPA_OFF;
	return rc;
}

static int gv_free(void *ctx, physim_hpa_t pa)
{
	struct gpa_view *v = ctx;
	return v->host->dealloc_frame(v->host->ctx, pa + GPA_OFF);
}

static int gv_free_n(void *ctx, physim_hpa_t pa, size_t n)
{
	struct gpa_view *v = ctx;
	return v->host->dealloc_frames(v->host->ctx, pa + GPA_OFF, n);
}

static void *gv_virt(void *ctx, physim_hpa_t pa)
{
	struct gpa_view *v = ctx;
	return v->host->phys_to_virt(v->host->ctx, pa + GPA_OFF);
}

static void free_nested_offset(enum physim_arch arch, long expect)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	e->arch = arch;
	assert_int_equal(
	    physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE},
			      &e->ram),
	    0);
	e->ph = physim_ram_paging_handler(e->ram);
	struct physim_machine_config c = {.arch = arch,
					  .ncpus = 2,
					  .check_stale = true,
					  .walk_caches = true,
					  .on_report = on_report,
					  .report_ctx = &e->rep};
	assert_int_equal(physim_machine_create(&c, &e->m), 0);
	/* the guest's tables: frames from the break-before-free wrapper (by
	 * HPA), seen by the guest's engine at GPA = HPA - GPA_OFF */
	struct gpa_view gv = {.host = physim_machine_paging_handler(e->m, e->ph)};
	assert_non_null(gv.host);
	gv.ph = (struct physim_paging_handler){.ctx = &gv,
					       .alloc_frame = gv_alloc,
					       .alloc_frames = gv_alloc_n,
					       .dealloc_frame = gv_free,
					       .dealloc_frames = gv_free_n,
					       .phys_to_virt = gv_virt};
	assert_int_equal(physim_pt_create(physim_format(s2_format(arch)), e->ph, &e->s2pt), 0);
	assert_int_equal(
	    physim_pt_map_region(e->s2pt, RAM_BASE - GPA_OFF, RAM_BASE, RAM_SIZE, URWX, 0), 0);
	e->s2 = tc_mmu_of(e->ph, e->s2pt);
	assert_int_equal(physim_pt_create(physim_format(s1_format(arch)), &gv.ph, &e->s1pt), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A - GPA_OFF, 4096, URWX), 0);
	e->s1 = tc_mmu_of(e->ph, e->s1pt); /* root: a GPA */
	load(e, 1);
	assert_int_equal(rd(e, 1, VA_A), PA_A);
	uint64_t root_gpa = physim_pt_root(e->s1pt);
	assert_true(root_gpa < RAM_BASE);
	/* the root table's frame is referenced by its HPA (the descriptor
	 * read from it, the stage-2 translation of its address), by nothing
	 * at the GPA (no RAM there) */
	assert_int_equal(physim_machine_check_free(e->m, root_gpa, 4096), 0);
	assert_true(physim_machine_check_free(e->m, root_gpa + GPA_OFF, 4096) >= 2);
	e->rep = (struct reports){0};
	physim_pt_destroy(e->s1pt);
	e->s1pt = NULL;
	if (expect >= 0)
		assert_int_equal(e->rep.n_free, expect);
	else
		assert_true(e->rep.n_free > 0);
	assert_int_equal(e->rep.last.cpu, 1);
	assert_true(e->rep.last.addr >= RAM_BASE);
	print_message("%s\n", e->rep.text);
	env_free(e);
}

static void test_free_nested_non_identity_s2(void **state)
{
	(void)state;
	/* aarch64-4k-48: the same 10 references as with an identity stage 2
	 * (test_arm_free_nested), all found by HPA */
	free_nested_offset(ARM, 10);
	free_nested_offset(RV, -1);
	free_nested_offset(X86, -1);
}

/* ---- break-before-make ---- */

/* The correct way to split the live 2 MiB stage-2 block at blk2 (which CPU
 * `reader` has cached, mapping VB + 4 KiB): break, TLBI IPAS2E1IS + DSB,
 * make the 4 KiB page, TLBI VMALLE1IS + DSB (KVM's order), all issued by
 * `issuer` - no break-before-make report is added. */
static void s2_split_clean(struct env *e, struct physim_cpu *issuer, unsigned reader, uint64_t blk2)
{
	int before = e->rep.n_bbm;
	assert_int_equal(rd(e, reader, VB + 0x1000), blk2 + 0x1000);
	assert_int_equal(physim_pt_unmap_region(e->s2pt, blk2, 2 * MiB), 0);
	assert_int_equal(physim_arm_tlbi(issuer, PHYSIM_TLBI_IPAS2E1IS, blk2 >> 12), 0);
	physim_arm_dsb(issuer);
	assert_int_equal(physim_pt_map(e->s2pt, blk2 + 0x1000, blk2 + 0x1000, 4096, URWX), 0);
	assert_int_equal(physim_arm_tlbi(issuer, PHYSIM_TLBI_VMALLE1IS, 0), 0);
	physim_arm_dsb(issuer);
	assert_int_equal(rd(e, reader, VB + 0x1000), blk2 + 0x1000);
	assert_int_equal(e->rep.n_bbm, before);
}

/* Stage 2: a live 2 MiB stage-2 block split (the engine writes a table
 * descriptor over the valid block) and then TLBI IPAS2E1IS + DSB: reported
 * on the stage-2 entry (Arm ARM D8.17.1 applies to stage 2). The correct
 * sequence (unmap, IPAS2E1IS, DSB, map) is clean. */
static void test_arm_bbm_stage2(void **state)
{
	(void)state;
	struct env *e = env_new(ARM, 1, false, true, true, false);
	uint64_t blk = RAM_BASE + 4 * MiB, blk2 = RAM_BASE + 6 * MiB;
	assert_int_equal(physim_pt_map(e->s1pt, VB, blk + 0x1000, 4096, URWX), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VB + 0x1000, blk2 + 0x1000, 4096, URWX), 0);
	load(e, 0);
	struct physim_cpu *c = cpu(e, 0);
	assert_int_equal(rd(e, 0, VB), blk + 0x1000);
	assert_int_equal(physim_pt_unmap_region(e->s2pt, blk + 0x5000, 4096), 0);
	assert_int_equal(physim_arm_tlbi(c, PHYSIM_TLBI_IPAS2E1IS, blk >> 12), 0);
	physim_arm_dsb(c);
	assert_int_equal(e->rep.n_bbm, 1);
	assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_S2);
	assert_int_equal(e->rep.last.entry.page_size, 2 * MiB);
	assert_int_equal(e->rep.last.entry.va, blk);
	print_message("%s\n", e->rep.text);

	/* break, invalidate, complete, make */
	s2_split_clean(e, c, 0, blk2);
	env_free(e);
}

/* x86: an EPT 2 MiB page split into 4 KiB pages while live, then INVEPT:
 * the guest-physical entry may coexist with the new small ones (SDM Vol.
 * 3A 4.10.2, for EPT: Vol. 3C "Creating and Using Cached Translation Information"), reported at the
 * INVEPT; unmapping first (not present, INVEPT, then the new entries) is clean. */
static void test_x86_bbm_ept_split(void **state)
{
	(void)state;
	struct env *e = env_new(X86, 1, false, true, true, false);
	uint64_t blk = RAM_BASE + 4 * MiB, blk2 = RAM_BASE + 6 * MiB;
	assert_int_equal(physim_pt_map(e->s1pt, VB, blk + 0x1000, 4096, URWX), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VB + 0x1000, blk2 + 0x1000, 4096, URWX), 0);
	load(e, 0);
	struct physim_cpu *c = cpu(e, 0);
	const uint64_t desc[2] = {physim_pt_root(e->s2pt), 0};
	assert_int_equal(rd(e, 0, VB), blk + 0x1000);
	assert_int_equal(physim_pt_unmap_region(e->s2pt, blk + 0x5000, 4096), 0);
	assert_int_equal(physim_x86_invept(c, 1, desc), 0);
	assert_int_equal(e->rep.n_bbm, 1);
	assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_S2);
	assert_int_equal(e->rep.last.entry.page_size, 2 * MiB);
	assert_non_null(strstr(e->rep.text, "4.10.2"));
	print_message("%s\n", e->rep.text);

	assert_int_equal(rd(e, 0, VB + 0x1000), blk2 + 0x1000);
	assert_int_equal(physim_pt_unmap_region(e->s2pt, blk2, 2 * MiB), 0);
	assert_int_equal(physim_x86_invept(c, 1, desc), 0);
	assert_int_equal(physim_pt_map(e->s2pt, blk2 + 0x1000, blk2 + 0x1000, 4096, URWX), 0);
	assert_int_equal(rd(e, 0, VB + 0x1000), blk2 + 0x1000);
	assert_int_equal(e->rep.n_bbm, 1);
	env_free(e);
}

/* Stage 1 of a nested context: the guest splits its live 2 MiB block (its
 * descriptor is at a GPA, read through stage 2) and then TLBI VAE1IS + DSB:
 * reported on the combined entry. Break first: clean. */
static void test_arm_bbm_nested_stage1(void **state)
{
	(void)state;
	struct env *e = env_new(ARM, 1, false, true, false, false);
	struct physim_cpu *c = cpu(e, 0);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(physim_pt_map(e->s1pt, VB + i * 2 * MiB,
					       RAM_BASE + 0x400000 + i * 2 * MiB, 2 * MiB, URWX),
				 0);
	load(e, 0);
	assert_int_equal(rd(e, 0, VB + 0x1000), RAM_BASE + 0x401000);
	assert_int_equal(physim_pt_unmap_region(e->s1pt, VB + 0x3000, 4096), 0);
	assert_int_equal(
	    physim_arm_tlbi(c, PHYSIM_TLBI_VAE1IS, (uint64_t)ASID << 48 | (VB + 0x1000) >> 12), 0);
	physim_arm_dsb(c);
	assert_int_equal(e->rep.n_bbm, 1);
	assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_COMB);
	assert_int_not_equal(e->rep.last.desc_old, e->rep.last.desc_new);
	print_message("%s\n", e->rep.text);

	uint64_t v2 = VB + 2 * MiB;
	assert_int_equal(rd(e, 0, v2), RAM_BASE + 0x600000);
	assert_int_equal(physim_pt_unmap_region(e->s1pt, v2, 2 * MiB), 0);
	assert_int_equal(physim_arm_tlbi(c, PHYSIM_TLBI_VAE1IS, (uint64_t)ASID << 48 | v2 >> 12),
			 0);
	physim_arm_dsb(c);
	assert_int_equal(physim_pt_map(e->s1pt, v2, PA_A, 4096, URWX), 0);
	assert_int_equal(rd(e, 0, v2), PA_A);
	assert_int_equal(e->rep.n_bbm, 1);
	env_free(e);
}

/* ---- break-before-make where a broadcast lands ---- */

/* CPU 1 caches a block; CPU 0 splits it live and issues TLBI VAE1IS + DSB:
 * the check runs where CPU 1 applies the broadcast, and names CPU 1. Then
 * the correct sequence is clean. A one-stage context (the check at the
 * receiver is not about nesting). */
static void test_arm_bbm_at_receiver(void **state)
{
	(void)state;
	struct env *e = env_new(ARM, 2, false, true, false, false);
	assert_int_equal(physim_pt_map(e->s1pt, VB, RAM_BASE + 0x400000, 2 * MiB, URWX), 0);
	for (unsigned i = 0; i < 2; i++) {
		struct physim_cpu_context ctx = {
		    .s1 = e->s1, .regime = PHYSIM_REGIME_GUEST, .asid = ASID, .vmid = VMID};
		assert_int_equal(physim_cpu_set_context(cpu(e, i), &ctx), 0);
	}
	assert_int_equal(rd(e, 1, VB + 0x1000), RAM_BASE + 0x401000);
	assert_int_equal(physim_pt_unmap_region(e->s1pt, VB + 0x3000, 4096), 0);
	assert_int_equal(
	    physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VAE1IS, (uint64_t)ASID << 48 | VB >> 12), 0);
	physim_arm_dsb(cpu(e, 0));
	assert_int_equal(e->rep.n_bbm, 0); /* CPU 0 held nothing */
	uint64_t pa;
	assert_int_equal(access(e, 1, VB + 0x1000, false, &pa), 0);
	assert_int_equal(pa, RAM_BASE + 0x401000);
	assert_int_equal(e->rep.n_bbm, 1);
	assert_int_equal(e->rep.last.cpu, 1);
	assert_int_equal(e->rep.last.entry.page_size, 2 * MiB);
	assert_non_null(strstr(e->rep.text, "cpu 1:"));
	print_message("%s\n", e->rep.text);

	/* the correct sequence, with the make done before CPU 1 gets to apply
	 * the broadcast: CPU 1 compares with the tables as they were at the
	 * DSB (invalid), not as they are when it applies it */
	uint64_t v2 = VB + 2 * MiB;
	assert_int_equal(physim_pt_map(e->s1pt, v2, RAM_BASE + 0x600000, 2 * MiB, URWX), 0);
	assert_int_equal(rd(e, 1, v2), RAM_BASE + 0x600000);
	assert_int_equal(physim_pt_unmap_region(e->s1pt, v2, 2 * MiB), 0);
	assert_int_equal(
	    physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VAE1IS, (uint64_t)ASID << 48 | v2 >> 12), 0);
	physim_arm_dsb(cpu(e, 0));
	assert_int_equal(physim_pt_map(e->s1pt, v2, PA_A, 4096, URWX), 0);
	assert_int_equal(rd(e, 1, v2), PA_A);
	assert_int_equal(e->rep.n_bbm, 1);
	env_free(e);
}

/* The receivers compare with the tables of the entries they hold, not with
 * the issuer's context: a hypervisor PE in its own EL2 context (its own
 * one-stage tables, VTTBR_EL2.VMID = the guest's) splits a live 2 MiB
 * stage-2 block of the guest's and broadcasts TLBI IPAS2E1IS + DSB ISH,
 * TLBI VMALLE1IS + DSB ISH, as KVM does: the guest's PE, which cached the
 * block, reports it when it applies the broadcast (Arm ARM DDI 0487 M.a.a
 * D8.17.1 applies to stage 2; D8.17.7 broadcast maintenance). The correct
 * order - block invalid, IPAS2E1IS + DSB, new table, VMALLE1IS + DSB, all
 * before the guest's PE runs again - is clean. */
static void test_arm_bbm_receiver_of_host_issuer(void **state)
{
	(void)state;
	struct env *e = env_new(ARM, 2, false, true, true, false);
	uint64_t blk = RAM_BASE + 4 * MiB, blk2 = RAM_BASE + 6 * MiB;
	assert_int_equal(physim_pt_map(e->s1pt, VB, blk + 0x1000, 4096, URWX), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VB + 0x1000, blk2 + 0x1000, 4096, URWX), 0);
	load(e, 1);
	struct physim_pt *hpt;
	assert_int_equal(physim_pt_create(physim_format("aarch64-el2-4k-48"), e->ph, &hpt), 0);
	assert_int_equal(physim_pt_map(hpt, 0x1000, RAM_BASE + 0x1000, 4096, PHYSIM_R), 0);
	struct physim_mmu *hm = tc_mmu_of(e->ph, hpt);
	struct physim_cpu_context host = {.s1 = hm, .regime = PHYSIM_REGIME_HOST, .vmid = VMID};
	struct physim_cpu *hyp = cpu(e, 0);
	assert_int_equal(physim_cpu_set_context(hyp, &host), 0);

	assert_int_equal(rd(e, 1, VB), blk + 0x1000);
	assert_int_equal(physim_pt_unmap_region(e->s2pt, blk + 0x5000, 4096), 0); /* no break */
	assert_int_equal(physim_arm_tlbi(hyp, PHYSIM_TLBI_IPAS2E1IS, blk >> 12), 0);
	physim_arm_dsb(hyp);
	assert_int_equal(physim_arm_tlbi(hyp, PHYSIM_TLBI_VMALLE1IS, 0), 0);
	physim_arm_dsb(hyp);
	assert_int_equal(e->rep.n_bbm, 0); /* the hypervisor's PE held nothing of it */
	assert_int_equal(rd(e, 1, VB), blk + 0x1000);
	assert_int_equal(e->rep.n_bbm, 1);
	assert_int_equal(e->rep.last.cpu, 1);
	assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_S2);
	assert_int_equal(e->rep.last.entry.va, blk);
	assert_int_equal(e->rep.last.entry.page_size, 2 * MiB);
	assert_non_null(strstr(e->rep.text, "TLBI IPAS2E1IS"));
	print_message("%s\n", e->rep.text);

	/* break, invalidate, complete, make - before the guest's PE applies */
	s2_split_clean(e, hyp, 1, blk2);
	physim_mmu_destroy(hm);
	physim_pt_destroy(hpt);
	env_free(e);
}

/* A Contiguous run cached on PE 1; PE 0 moves one descriptor of it (page 3)
 * while valid and broadcasts TLBI VAE1IS of page 0 + DSB: PE 1 compares
 * every descriptor of its run entry with what they were at that DSB (the
 * snapshot holds the whole run) and reports page 3's (Arm ARM DDI 0487
 * M.a.a D8.17.1, D8.7.1). */
static void test_arm_bbm_run_at_receiver(void **state)
{
	(void)state;
	struct env *e = env_new(ARM, 2, false, true, false, false);
	uint64_t out = RAM_BASE + 0x400000;
	assert_int_equal(physim_pt_map(e->s1pt, VB, out, RUN_SZ, URWX), 0);
	for (unsigned i = 0; i < 2; i++) {
		struct physim_cpu_context ctx = {
		    .s1 = e->s1, .regime = PHYSIM_REGIME_GUEST, .asid = ASID, .vmid = VMID};
		assert_int_equal(physim_cpu_set_context(cpu(e, i), &ctx), 0);
	}
	assert_int_equal(rd(e, 1, VB + 0x5000), out + 0x5000);
	struct physim_walk_trace t;
	struct physim_xlate x;
	assert_int_equal(physim_mmu_trace(e->s1,
					  &(struct physim_access){.va = VB + 0x3000, .user = true},
					  PHYSIM_TRACE_PROBE, &x, &t),
			 0);
	uint64_t at = 0;
	for (unsigned i = 0; i < t.n; i++) {
		if (t.steps[i].decision == PHYSIM_WALK_LEAF)
			at = t.steps[i].addr;
	}
	assert_int_not_equal(at, 0);
	uint64_t old = *hva(e, at);
	*hva(e, at) = old + 0x100000;
	assert_int_equal(
	    physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VAE1IS, (uint64_t)ASID << 48 | VB >> 12), 0);
	physim_arm_dsb(cpu(e, 0));
	assert_int_equal(e->rep.n_bbm, 0);
	uint64_t pa;
	assert_int_equal(access(e, 1, VB + 0x1000, false, &pa), 0);
	assert_int_equal(e->rep.n_bbm, 1);
	assert_int_equal(e->rep.last.cpu, 1);
	assert_int_equal(e->rep.last.addr, at);
	assert_int_equal(e->rep.last.desc_old, old);
	assert_int_equal(e->rep.last.desc_new, old + 0x100000);
	print_message("%s\n", e->rep.text);
	env_free(e);
}

/* A broadcast without an address (TLBI VMALLE1IS) may remove any entry the
 * receivers hold, so what they compare with is every descriptor some CPU's
 * entry was made from, read at the issuer's DSB. PE 1 caches a 2 MiB block;
 * PE 0, which holds nothing of it, moves the block while valid and
 * broadcasts VMALLE1IS + DSB: PE 1 reports it when it applies the broadcast
 * (Arm ARM DDI 0487 M.a.a D8.17.1). The correct order - invalid,
 * VMALLE1IS, DSB, then the new block, all before PE 1 runs again - is
 * clean. */
static void test_arm_bbm_receiver_of_vmalle1is(void **state)
{
	(void)state;
	struct env *e = env_new(ARM, 2, false, true, false, false);
	uint64_t out = RAM_BASE + 4 * MiB;
	assert_int_equal(physim_pt_map(e->s1pt, VB, out, 2 * MiB, URWX), 0);
	for (unsigned i = 0; i < 2; i++) {
		struct physim_cpu_context ctx = {
		    .s1 = e->s1, .regime = PHYSIM_REGIME_GUEST, .asid = ASID, .vmid = VMID};
		assert_int_equal(physim_cpu_set_context(cpu(e, i), &ctx), 0);
	}
	assert_int_equal(rd(e, 1, VB + 0x1000), out + 0x1000);
	struct physim_walk_trace t;
	struct physim_xlate x;
	assert_int_equal(physim_mmu_trace(e->s1, &(struct physim_access){.va = VB, .user = true},
					  PHYSIM_TRACE_PROBE, &x, &t),
			 0);
	uint64_t at = 0;
	for (unsigned i = 0; i < t.n; i++) {
		if (t.steps[i].decision == PHYSIM_WALK_LEAF)
			at = t.steps[i].addr;
	}
	assert_int_not_equal(at, 0);
	uint64_t old = *hva(e, at);
	*hva(e, at) = old + 2 * MiB; /* the block moved, no break */
	assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VMALLE1IS, 0), 0);
	physim_arm_dsb(cpu(e, 0));
	assert_int_equal(e->rep.n_bbm, 0); /* PE 0 held nothing of it */
	assert_int_equal(rd(e, 1, VB + 0x1000), out + 2 * MiB + 0x1000);
	assert_int_equal(e->rep.n_bbm, 1);
	assert_int_equal(e->rep.last.cpu, 1);
	assert_int_equal(e->rep.last.addr, at);
	assert_int_equal(e->rep.last.desc_old, old);
	assert_int_equal(e->rep.last.desc_new, old + 2 * MiB);
	assert_non_null(strstr(e->rep.text, "TLBI VMALLE1IS"));
	print_message("%s\n", e->rep.text);

	/* break, invalidate, complete, make - before PE 1 applies it */
	*hva(e, at) = 0;
	assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VMALLE1IS, 0), 0);
	physim_arm_dsb(cpu(e, 0));
	*hva(e, at) = old;
	assert_int_equal(rd(e, 1, VB + 0x1000), out + 0x1000);
	assert_int_equal(e->rep.n_bbm, 1);
	env_free(e);
}

/* A stage-2 last-level table moved by the hypervisor (copied, its stage-2
 * descriptor repointed) and followed by an invalidation that leaves the
 * stage-2 walk-cache entry: the audit reports that entry (stage 2), and its
 * remedy names the stage-2 invalidation that removes non-leaf stage-2
 * entries, not a stage-1 one: Arm TLBI IPAS2E1IS (IPAS2LE1 is last level
 * only: Arm ARM C5.5.13 / the IPAS2LE1 description), x86 INVEPT (only
 * INVEPT removes guest-physical mappings, EPT paging-structure entries
 * included: SDM Vol. 3C "Operations that Invalidate Cached Mappings"),
 * RISC-V HFENCE.GVMA with rs1 = x0 (with rs1 != x0 only leaf G-stage PTEs
 * are ordered: privileged spec, HFENCE.GVMA). */
static void stale_s2_walk_entry(enum physim_arch arch, const char *why, const char *needed)
{
	struct env *e = env_new(arch, 1, true, false, false, false);
	load(e, 0);
	assert_int_equal(rd(e, 0, VA_A), PA_A);
	struct physim_walk_trace t;
	struct physim_xlate x;
	assert_int_equal(physim_mmu_trace(e->s2, &(struct physim_access){.va = PA_A},
					  PHYSIM_TRACE_PROBE, &x, &t),
			 0);
	uint64_t at = 0, desc = 0;
	for (unsigned i = 0; i < t.n; i++)
		if (t.steps[i].decision == PHYSIM_WALK_TABLE) {
			at = t.steps[i].addr;
			desc = t.steps[i].desc;
		}
	assert_int_not_equal(at, 0);
	uint64_t oldt = desc_table(e, desc), newt;
	assert_int_equal(e->ph->alloc_frame(e->ph->ctx, &newt), 0);
	memcpy(hva(e, newt), hva(e, oldt), 4096);
	*hva(e, at) = desc_repoint(e, desc, newt);
	struct physim_cpu *c = cpu(e, 0);
	uint64_t gpa_shr2 = PA_A >> 2, vmid = VMID;
	switch (arch) {
	case PHYSIM_ARCH_AARCH64: /* last level only: the walk entry stays */
		assert_int_equal(physim_arm_tlbi(c, PHYSIM_TLBI_IPAS2LE1IS, PA_A >> 12), 0);
		physim_arm_dsb(c);
		break;
	case PHYSIM_ARCH_X86_64: /* linear and combined mappings only */
		assert_int_equal(physim_x86_invvpid(c, 1, (uint64_t[2]){VMID, 0}), 0);
		break;
	default: /* rs1 != x0: leaf G-stage PTEs only */
		assert_int_equal(physim_rv_hfence_gvma(c, &gpa_shr2, &vmid), 0);
		break;
	}
	e->rep.n = 0;
	assert_true(physim_machine_audit(e->m) >= 1);
	bool seen = false;
	/* the last report is the stage-2 walk entry (others may precede it) */
	if (e->rep.last.entry.kind == PHYSIM_ENTRY_WALK && e->rep.last.entry.stage == 2) {
		seen = true;
		print_message("%s\n", e->rep.text);
		const char *need = strstr(e->rep.text, "needed:");
		assert_non_null(need);
		assert_non_null(strstr(need, needed));
		const char *w = strstr(e->rep.text, why);
		assert_true(w != NULL && w < need);
	}
	assert_true(seen);
	*hva(e, at) = desc;
	assert_int_equal(e->ph->dealloc_frame(e->ph->ctx, newt), 0);
	env_free(e);
}

static void test_stale_s2_walk_entry_remedy(void **state)
{
	(void)state;
	stale_s2_walk_entry(ARM, "need not remove stage-2 walk-cache entries", "IPAS2E1IS");
	stale_s2_walk_entry(X86, "only INVEPT does", "INVEPT");
	stale_s2_walk_entry(RV, "whose rs1 != x0", "HFENCE.GVMA with rs1 = x0");
}

/* ---- combined entries of grouped runs ----
 *
 * A combined entry whose size comes from a run - a stage-1 Contiguous run
 * (Arm) over a larger stage-2 block, or a G-stage Svnapot page (RISC-V)
 * under a larger VS-stage page - is one entry of the run's size, and an
 * invalidation by address need remove only the named descriptor's page of
 * it: Arm ARM DDI 0487 M.a.a D8.17.6 (RLQLSD) "The Contiguous bit does not
 * affect the minimum size of a TLB entry that is required to be
 * invalidated"; Svnapot: software fences "all 4 KiB regions within the
 * range". The oracle: after an invalidation of page k, every other page of
 * the run is still cached (and served by a hit); page k is not. */

#define RUN_G (RAM_BASE + 4 * MiB) /* a GPA: stage 2 maps it with a 2 MiB block */

/* The 4 KiB pages of [va, va + RUN_SZ) combined entries cover, and how
 * many combined entries there are. */
struct comb_pages {
	uint64_t va;
	uint32_t pages;
	unsigned n;
	uint64_t max_size;
};

static int comb_page(void *ctx, const struct physim_cpu_entry *e)
{
	struct comb_pages *c = ctx;
	if (e->kind != PHYSIM_ENTRY_COMB)
		return 0;
	c->n++;
	if (e->page_size > c->max_size)
		c->max_size = e->page_size;
	for (uint64_t a = e->va; a < e->va + e->page_size; a += 4096) {
		if (a >= c->va && a < c->va + RUN_SZ)
			c->pages |= 1u << ((a - c->va) >> 12);
	}
	return 0;
}

static struct comb_pages comb_pages(struct env *e, uint64_t va)
{
	struct comb_pages c = {.va = va};
	assert_int_equal(physim_cpu_for_each_entry(cpu(e, 0), comb_page, &c), 0);
	return c;
}

static void test_arm_comb_of_s1_run(void **state)
{
	(void)state;
	struct env *e = env_new(ARM, 1, false, false, true, false);
	assert_int_equal(physim_pt_map(e->s1pt, VB, RUN_G, RUN_SZ, URWX), 0); /* a run */
	load(e, 0);
	assert_int_equal(rd(e, 0, VB + 0x5000), RUN_G + 0x5000);
	struct comb_pages c = comb_pages(e, VB);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.max_size, RUN_SZ);
	assert_int_equal(c.pages, 0xFFFF);
	struct physim_cpu *pe = cpu(e, 0);
	assert_int_equal(
	    physim_arm_tlbi(pe, PHYSIM_TLBI_VAE1, (uint64_t)ASID << 48 | (VB + 0x5000) >> 12), 0);
	physim_arm_dsb(pe);
	c = comb_pages(e, VB);
	assert_int_equal(c.pages, 0xFFFF & ~(1u << 5));
	assert_int_equal(c.max_size, 4096);
	uint64_t hits = physim_cpu_stats(pe).hits;
	assert_int_equal(rd(e, 0, VB + 0x3000), RUN_G + 0x3000);
	assert_int_equal(physim_cpu_stats(pe).hits, hits + 1);
	/* a TLBI per page, as software must issue, removes the rest */
	for (uint64_t a = VB; a < VB + RUN_SZ; a += 4096)
		assert_int_equal(
		    physim_arm_tlbi(pe, PHYSIM_TLBI_VAE1, (uint64_t)ASID << 48 | a >> 12), 0);
	physim_arm_dsb(pe);
	assert_int_equal(comb_pages(e, VB).n, 0);
	env_free(e);
}

static void test_rv_comb_of_gstage_napot(void **state)
{
	(void)state;
	struct env *e = env_new(RV, 1, false, false, false, false);
	/* the G-stage maps RUN_G with one 64 KiB Svnapot page, the guest maps
	 * VB with a 2 MiB megapage over it */
	assert_int_equal(physim_pt_unmap_region(e->s2pt, RUN_G, RUN_SZ), 0);
	assert_int_equal(physim_pt_map(e->s2pt, RUN_G, RUN_G, RUN_SZ, URWX), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VB, RUN_G, 2 * MiB, URWX), 0);
	load(e, 0);
	assert_int_equal(rd(e, 0, VB + 0x5000), RUN_G + 0x5000);
	struct comb_pages c = comb_pages(e, VB);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.max_size, RUN_SZ);
	struct physim_cpu *h = cpu(e, 0);
	uint64_t rs1 = (RUN_G + 0x3000) >> 2, rs2 = VMID;
	assert_int_equal(physim_rv_hfence_gvma(h, &rs1, &rs2), 0);
	c = comb_pages(e, VB);
	assert_int_equal(c.pages, 0xFFFF & ~(1u << 3));
	uint64_t hits = physim_cpu_stats(h).hits;
	assert_int_equal(rd(e, 0, VB + 0x5000), RUN_G + 0x5000);
	assert_int_equal(physim_cpu_stats(h).hits, hits + 1);
	/* rs1 = x0: every G-stage entry and the combined ones */
	assert_int_equal(physim_rv_hfence_gvma(h, NULL, &rs2), 0);
	assert_int_equal(comb_pages(e, VB).n, 0);
	env_free(e);
}

/* Break-before-make on a combined entry made from a stage-1 Contiguous run:
 * the guest moves one descriptor of its live run (page 3) and invalidates
 * page 0 only - reported on the combined entry, at page 3's descriptor (its
 * HPA); the whole run broken, invalidated page by page, then remade: clean
 * (Arm ARM DDI 0487 M.a.a D8.17.1, D8.7.1). */
static void test_arm_bbm_comb_of_s1_run(void **state)
{
	(void)state;
	struct env *e = env_new(ARM, 1, false, true, true, false);
	assert_int_equal(physim_pt_map(e->s1pt, VB, RUN_G, RUN_SZ, URWX), 0);
	load(e, 0);
	struct physim_cpu *pe = cpu(e, 0);
	assert_int_equal(rd(e, 0, VB + 0x5000), RUN_G + 0x5000);
	struct physim_walk_trace t;
	struct physim_xlate x;
	assert_int_equal(physim_nested_trace(
			     e->s1, e->s2, &(struct physim_access){.va = VB + 0x3000, .user = true},
			     PHYSIM_TRACE_PROBE, &x, &t),
			 0);
	uint64_t at = 0;
	for (unsigned i = 0; i < t.n; i++) {
		if (t.steps[i].stage == 1 && t.steps[i].decision == PHYSIM_WALK_LEAF)
			at = t.steps[i].addr; /* a GPA; stage 2 maps the tables identically */
	}
	assert_int_not_equal(at, 0);
	uint64_t old = *hva(e, at);
	*hva(e, at) = old + 0x100000;
	assert_int_equal(physim_arm_tlbi(pe, PHYSIM_TLBI_VAE1IS, (uint64_t)ASID << 48 | VB >> 12),
			 0);
	physim_arm_dsb(pe);
	assert_int_equal(e->rep.n_bbm, 1);
	assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_COMB);
	assert_int_equal(e->rep.last.entry.page_size, RUN_SZ);
	assert_int_equal(e->rep.last.addr, at);
	assert_int_equal(e->rep.last.desc_old, old);
	print_message("%s\n", e->rep.text);

	/* the correct sequence on a second run (the first one stays as it is
	 * now: writing it back would be another live change) */
	uint64_t v2 = VB + 2 * MiB;
	assert_int_equal(physim_pt_map(e->s1pt, v2, RUN_G + RUN_SZ, RUN_SZ, URWX), 0);
	assert_int_equal(rd(e, 0, v2 + 0x1000), RUN_G + RUN_SZ + 0x1000);
	assert_int_equal(physim_pt_unmap_region(e->s1pt, v2, RUN_SZ), 0);
	for (uint64_t a = v2; a < v2 + RUN_SZ; a += 4096)
		assert_int_equal(
		    physim_arm_tlbi(pe, PHYSIM_TLBI_VAE1IS, (uint64_t)ASID << 48 | a >> 12), 0);
	physim_arm_dsb(pe);
	assert_int_equal(physim_pt_map(e->s1pt, v2, RUN_G + 2 * RUN_SZ, RUN_SZ, URWX), 0);
	assert_int_equal(rd(e, 0, v2 + 0x1000), RUN_G + 2 * RUN_SZ + 0x1000);
	assert_int_equal(physim_arm_tlbi(pe, PHYSIM_TLBI_VMALLE1IS, 0), 0);
	physim_arm_dsb(pe);
	assert_int_equal(e->rep.n_bbm, 1);
	env_free(e);
}

/* A stage-2 Contiguous run (the hypervisor's): the guest's access caches
 * the stage-2 entry of the run; the hypervisor moves descriptor 3 of it
 * while valid and issues TLBI IPAS2E1IS of the run's first page + DSB:
 * reported on the stage-2 entry at descriptor 3 (Arm ARM DDI 0487 M.a.a
 * D8.17.1 applies to stage 2; D8.7.1). */
static void test_arm_bbm_s2_run(void **state)
{
	(void)state;
	struct env *e = env_new(ARM, 1, false, true, false, false);
	assert_int_equal(physim_pt_unmap_region(e->s2pt, RUN_G, RUN_SZ), 0);
	assert_int_equal(physim_pt_map(e->s2pt, RUN_G, RUN_G, RUN_SZ, URWX), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VB, RUN_G + 0x5000, 4096, URWX), 0);
	load(e, 0);
	assert_int_equal(rd(e, 0, VB), RUN_G + 0x5000);
	struct physim_walk_trace t;
	struct physim_xlate x;
	assert_int_equal(physim_mmu_trace(e->s2, &(struct physim_access){.va = RUN_G + 0x3000},
					  PHYSIM_TRACE_PROBE, &x, &t),
			 0);
	assert_int_equal(x.page_size, RUN_SZ);
	uint64_t at = t.steps[t.n - 1].addr, old = *hva(e, at);
	*hva(e, at) = old + 0x100000;
	struct physim_cpu *pe = cpu(e, 0);
	assert_int_equal(physim_arm_tlbi(pe, PHYSIM_TLBI_IPAS2E1IS, RUN_G >> 12), 0);
	physim_arm_dsb(pe);
	assert_int_equal(e->rep.n_bbm, 1);
	assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_S2);
	assert_int_equal(e->rep.last.entry.page_size, RUN_SZ);
	assert_int_equal(e->rep.last.addr, at);
	print_message("%s\n", e->rep.text);
	*hva(e, at) = old;
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_oracle),
	    cmocka_unit_test(test_arm_stale_guest_walk_entry),
	    cmocka_unit_test(test_rv_stale_guest_walk_entry),
	    cmocka_unit_test(test_arm_stale_s2_of_table),
	    cmocka_unit_test(test_x86_stale_s2_of_table),
	    cmocka_unit_test(test_rv_stale_s2_of_table),
	    cmocka_unit_test(test_arm_free_nested),
	    cmocka_unit_test(test_free_nested_non_identity_s2),
	    cmocka_unit_test(test_arm_bbm_stage2),
	    cmocka_unit_test(test_x86_bbm_ept_split),
	    cmocka_unit_test(test_arm_bbm_nested_stage1),
	    cmocka_unit_test(test_arm_bbm_at_receiver),
	    cmocka_unit_test(test_arm_bbm_receiver_of_host_issuer),
	    cmocka_unit_test(test_arm_bbm_receiver_of_vmalle1is),
	    cmocka_unit_test(test_arm_bbm_run_at_receiver),
	    cmocka_unit_test(test_stale_s2_walk_entry_remedy),
	    cmocka_unit_test(test_arm_comb_of_s1_run),
	    cmocka_unit_test(test_rv_comb_of_gstage_napot),
	    cmocka_unit_test(test_arm_bbm_comb_of_s1_run),
	    cmocka_unit_test(test_arm_bbm_s2_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
