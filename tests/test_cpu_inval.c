/* SPDX-License-Identifier: MIT */
/* tests/test_cpu_inval.c - the invalidation instructions of every family
 * (include/physim/cpu.h) against oracle tables written from the manuals:
 * two CPUs cache the same set of entries (kinds, tags, global or not), one
 * instruction with one operand is issued on one CPU, and the entries left on
 * each CPU must be exactly the row's. Each row cites the manual text it
 * encodes; none is derived from the code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <physim/cpu.h>
#include <physim/ram.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/env.h"

#define MiB UINT64_C(0x100000)

#define RAM_BASE UINT64_C(0x80000000)
#define RAM_SIZE (16 * MiB)

/* Virtual pages used everywhere: A and B non-global, G global. Their
 * physical (or guest-physical) pages: A and B in the first 2 MiB of RAM, G
 * in the third, so that a 2 MiB stage-2 page holds A and B but not G. */
#define VA_A UINT64_C(0x400000)
#define VA_B UINT64_C(0x401000)
#define VA_G UINT64_C(0x600000)
#define PA_A (RAM_BASE + 0x100000)
#define PA_B (RAM_BASE + 0x101000)
#define PA_G (RAM_BASE + 0x400000)

#define X86_PGE	  (UINT64_C(1) << 7)  /* CR4.PGE */
#define X86_PCIDE (UINT64_C(1) << 17) /* CR4.PCIDE */

#define URW (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U)

/* ---- fixture: one stage-1 table, two identity stage-2 tables, 2 CPUs ---- */

/* A context the population loads, and the pages it touches. */
struct popctx {
	enum physim_regime regime;
	int s2; /* -1: none, else the stage-2 table index */
	uint16_t asid, vmid;
	uint64_t vas[3];
	unsigned nvas;
};

/* An entry the population must have cached. */
struct sig {
	enum physim_entry_kind kind;
	enum physim_regime regime;
	uint64_t va;
	uint16_t asid, vmid;
	int s2; /* x86: the EP4TA's table; -1: none */
	bool global;
	uint64_t size; /* 0: any (walk-cache entries: the range they cover) */
};

struct archfix {
	enum physim_arch arch;
	const char *s1fmt, *s2fmt;
	uint64_t global_arch, nonglobal_arch;
	const struct popctx *ctx;
	unsigned nctx;
	const struct sig *sig;
	unsigned nsig;
	bool walk_caches; /* machine config walk_caches */
	bool check_stale; /* machine config check_stale */
};

#define FIX_MAX_REPORTS 32

struct fix {
	const struct archfix *af;
	/* what an audit reported (the remedy tests) */
	struct physim_cpu_report rep[FIX_MAX_REPORTS];
	unsigned nrep;
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
	struct physim_pt *s1pt, *s2pt[2];
	struct physim_mmu *s1, *s2[2];
	struct physim_machine *m;
};

static void map(struct physim_pt *pt, uint64_t va, uint64_t pa, uint64_t arch)
{
	struct physim_pt_mapping mp = {
	    .va = va, .pa = pa, .size = 4096, .flags = URW, .arch = arch};
	assert_int_equal(physim_pt_map_ex(pt, &mp, 0), 0);
}

static uint64_t eptp_of(struct fix *f, int s2)
{
	return s2 < 0 ? 0 : physim_pt_root(f->s2pt[s2]);
}

static void load(struct fix *f, struct physim_cpu *cpu, const struct popctx *p)
{
	struct physim_cpu_context c = {
	    .s1 = f->s1,
	    .s2 = p->s2 >= 0 ? f->s2[p->s2] : NULL,
	    .regime = p->regime,
	    .asid = p->asid,
	    .vmid = p->vmid,
	    .eptp = eptp_of(f, p->s2),
	};
	assert_int_equal(physim_cpu_set_context(cpu, &c), 0);
}

static void fix_report(void *ctx, const struct physim_cpu_report *r)
{
	struct fix *f = ctx;
	if (f->nrep < FIX_MAX_REPORTS)
		f->rep[f->nrep++] = *r;
}

static void fix_open(struct fix *f, const struct archfix *af)
{
	memset(f, 0, sizeof(*f));
	f->af = af;
	assert_int_equal(
	    physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE},
			      &f->ram),
	    0);
	f->ph = physim_ram_paging_handler(f->ram);
	assert_int_equal(physim_pt_create(physim_format(af->s1fmt), f->ph, &f->s1pt), 0);
	map(f->s1pt, VA_A, PA_A, af->nonglobal_arch);
	map(f->s1pt, VA_B, PA_B, af->nonglobal_arch);
	map(f->s1pt, VA_G, PA_G, af->global_arch);
	f->s1 = tc_mmu_of(f->ph, f->s1pt);
	for (int i = 0; i < 2 && af->s2fmt; i++) {
		assert_int_equal(physim_pt_create(physim_format(af->s2fmt), f->ph, &f->s2pt[i]), 0);
		assert_int_equal(physim_pt_map_region(f->s2pt[i], RAM_BASE, RAM_BASE, RAM_SIZE, URW,
						      PHYSIM_ALLOW_HUGE),
				 0);
		f->s2[i] = tc_mmu_of(f->ph, f->s2pt[i]);
	}
	assert_int_equal(
	    physim_machine_create(&(struct physim_machine_config){.arch = af->arch,
								  .ncpus = 2,
								  .walk_caches = af->walk_caches,
								  .check_stale = af->check_stale,
								  .on_report = fix_report,
								  .report_ctx = f},
				  &f->m),
	    0);
}

static void fix_close(struct fix *f)
{
	physim_machine_destroy(f->m);
	physim_mmu_destroy(f->s1);
	physim_pt_destroy(f->s1pt);
	for (int i = 0; i < 2; i++) {
		physim_mmu_destroy(f->s2[i]);
		physim_pt_destroy(f->s2pt[i]);
	}
	assert_int_equal(physim_ram_stats(f->ram).used_frames, 0);
	physim_ram_destroy(f->ram);
}

static void populate(struct fix *f, struct physim_cpu *cpu)
{
	for (unsigned i = 0; i < f->af->nctx; i++) {
		const struct popctx *p = &f->af->ctx[i];
		load(f, cpu, p);
		for (unsigned k = 0; k < p->nvas; k++) {
			struct physim_xlate x;
			struct physim_access a = {.va = p->vas[k], .user = true};
			assert_int_equal(physim_cpu_translate(cpu, &a, &x), 0);
		}
	}
}

struct collect {
	struct fix *f;
	uint32_t mask;
	int unknown;
};

static int collect_one(void *ctx, const struct physim_cpu_entry *e)
{
	struct collect *c = ctx;
	const struct archfix *af = c->f->af;
	bool x86 = af->arch == PHYSIM_ARCH_X86_64;
	for (unsigned i = 0; i < af->nsig; i++) {
		const struct sig *s = &af->sig[i];
		uint64_t ep = x86 && s->kind != PHYSIM_ENTRY_S1 ? eptp_of(c->f, s->s2) : 0;
		if (e->kind == s->kind && e->regime == s->regime && e->va == s->va &&
		    e->asid == s->asid && e->vmid == s->vmid && e->ep4ta == ep &&
		    e->global == s->global && (s->size == 0 || s->size == e->page_size)) {
			c->mask |= 1u << i;
			return 0;
		}
	}
	print_message("unexpected entry kind %d regime %d va 0x%llx asid %u vmid %u\n", e->kind,
		      e->regime, (unsigned long long)e->va, e->asid, e->vmid);
	c->unknown++;
	return 0;
}

static uint32_t survivors(struct fix *f, unsigned cpu)
{
	struct collect c = {.f = f};
	assert_int_equal(physim_cpu_for_each_entry(physim_machine_cpu(f->m, cpu), collect_one, &c),
			 0);
	assert_int_equal(c.unknown, 0);
	return c.mask;
}

/* ---- rows ---- */

struct row {
	const char *what; /* instruction and operand */
	const char *cite; /* the manual text the expectation comes from */
	int (*op)(struct fix *f, struct physim_cpu *cpu, const struct row *r);
	uint64_t a, b;
	unsigned issuer; /* CPU that executes it */
	int issue_ctx;	 /* context loaded on the issuer first (index into ctx) */
	int rc;
	uint32_t keep[2]; /* entries left on CPU 0 and CPU 1 */
};

static void run_rows(const struct archfix *af, const struct row *rows, size_t n)
{
	uint32_t all = (1u << af->nsig) - 1;
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		struct fix f;
		fix_open(&f, af);
		for (unsigned c = 0; c < 2; c++) {
			/* x86 rows start with CR4.PGE and CR4.PCIDE on, set
			 * before any PCID is loaded (SDM Vol. 3A 4.10.1). */
			if (af->arch == PHYSIM_ARCH_X86_64)
				assert_int_equal(physim_x86_mov_cr4(physim_machine_cpu(f.m, c),
								    X86_PGE | X86_PCIDE),
						 0);
			populate(&f, physim_machine_cpu(f.m, c));
		}
		for (unsigned c = 0; c < 2; c++)
			assert_int_equal(survivors(&f, c), all);
		struct physim_cpu *cpu = physim_machine_cpu(f.m, r->issuer);
		load(&f, cpu, &af->ctx[r->issue_ctx]);
		int rc = r->op(&f, cpu, r);
		uint32_t k0 = survivors(&f, 0), k1 = survivors(&f, 1);
		if (rc != r->rc || k0 != r->keep[0] || k1 != r->keep[1]) {
			print_message(
			    "row %zu: %s (%s)\n  rc %d want %d; cpu0 keeps 0x%x want 0x%x; "
			    "cpu1 keeps 0x%x want 0x%x\n",
			    i, r->what, r->cite, rc, r->rc, k0, r->keep[0], k1, r->keep[1]);
			fail();
		}
		fix_close(&f);
	}
}

/* ======================= x86 ======================= */

enum { X_H1A, X_H1B, X_H1G, X_H2A, X_V5A, X_PS2, X_V6A, X_QS2, X_N };
#define XB(n) (1u << X_##n)
#define X_ALL ((1u << X_N) - 1)

static const struct popctx x86_ctx[] = {
    /* VMX root, PCID 1: A, B and the global page G */
    {PHYSIM_REGIME_HOST, -1, 1, 0, {VA_A, VA_B, VA_G}, 3},
    /* VMX root, PCID 2: A */
    {PHYSIM_REGIME_HOST, -1, 2, 0, {VA_A}, 1},
    /* guest VPID 5 under EPT table 0, PCID 1: A (combined + guest-physical) */
    {PHYSIM_REGIME_GUEST, 0, 1, 5, {VA_A}, 1},
    /* guest VPID 6 under EPT table 1 */
    {PHYSIM_REGIME_GUEST, 1, 1, 6, {VA_A}, 1},
};

static const struct sig x86_sig[] = {
    [X_H1A] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_A, 1, 0, -1, false, 0},
    [X_H1B] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_B, 1, 0, -1, false, 0},
    [X_H1G] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_G, 1, 0, -1, true, 0},
    [X_H2A] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_A, 2, 0, -1, false, 0},
    [X_V5A] = {PHYSIM_ENTRY_COMB, PHYSIM_REGIME_GUEST, VA_A, 1, 5, 0, false, 0},
    /* guest-physical mappings: tagged by EP4TA only; the 2 MiB EPT page */
    [X_PS2] = {PHYSIM_ENTRY_S2, PHYSIM_REGIME_GUEST, RAM_BASE, 0, 0, 0, false, 0},
    [X_V6A] = {PHYSIM_ENTRY_COMB, PHYSIM_REGIME_GUEST, VA_A, 1, 6, 1, false, 0},
    [X_QS2] = {PHYSIM_ENTRY_S2, PHYSIM_REGIME_GUEST, RAM_BASE, 0, 0, 1, false, 0},
};

static const struct archfix x86_fix = {
    .arch = PHYSIM_ARCH_X86_64,
    .s1fmt = "x86_64-4l",
    .s2fmt = "ept-4l",
    .global_arch = UINT64_C(1) << 8, /* G, SDM Vol. 3A 4.10.2.4 */
    .ctx = x86_ctx,
    .nctx = 4,
    .sig = x86_sig,
    .nsig = X_N,
};

static int op_invlpg(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	return physim_x86_invlpg(c, r->a);
}

static int op_cr3(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	return physim_x86_mov_cr3(c, physim_pt_root(f->s1pt) | r->a);
}

static int op_cr4(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	return physim_x86_mov_cr4(c, r->a);
}

static int op_invpcid(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	uint64_t d[2] = {r->b & 0xFFF, r->b >> 12 << 12};
	return physim_x86_invpcid(c, r->a, d);
}

static int op_invept(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	uint64_t d[2] = {eptp_of(f, (int)r->b) | 0x1E, 0}; /* WB, 4-level: low bits ignored */
	return physim_x86_invept(c, r->a, d);
}

static int op_invvpid(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	uint64_t d[2] = {r->b & 0xFFFF, r->b >> 16 << 12};
	return physim_x86_invvpid(c, r->a, d);
}

/* INVPCID / INVVPID rows pack (address >> 12) << 12 | tag into b. */
#define PCID_AT(pcid, va) ((uint64_t)(va) >> 12 << 12 | (pcid))
#define VPID_AT(vpid, va) ((uint64_t)(va) >> 12 << 16 | (vpid))

static const struct row x86_rows[] = {
    {"INVLPG A (root, PCID 1)",
     "SDM 3A 4.10.4.1: entries for the page of the current PCID, globals of any PCID",
     op_invlpg,
     VA_A,
     0,
     0,
     0,
     0,
     {X_ALL & ~XB(H1A), X_ALL}},
    {"INVLPG G (root, PCID 2)",
     "SDM 3A 4.10.4.1: global entries whatever their PCID",
     op_invlpg,
     VA_G,
     0,
     0,
     1,
     0,
     {X_ALL & ~XB(H1G), X_ALL}},
    {"INVLPG A in guest VPID 5",
     "SDM 3C Operations that Invalidate Cached Mappings: linear and combined mappings of the "
     "current VPID, any EP4TA",
     op_invlpg,
     VA_A,
     0,
     0,
     2,
     0,
     {X_ALL & ~XB(V5A), X_ALL}},
    {"INVLPG A on CPU 1",
     "SDM 3A 4.10.4.1: this logical processor only",
     op_invlpg,
     VA_A,
     0,
     1,
     0,
     0,
     {X_ALL, X_ALL & ~XB(H1A)}},
    {"MOV CR3, PCID 1",
     "SDM 3A 4.10.4.1: non-global entries of the new PCID",
     op_cr3,
     1,
     0,
     0,
     0,
     0,
     {X_ALL & ~(XB(H1A) | XB(H1B)), X_ALL}},
    {"MOV CR3, PCID 2 with bit 63",
     "SDM 3A 4.10.4.1: bit 63 set: nothing invalidated",
     op_cr3,
     UINT64_C(1) << 63 | 2,
     0,
     0,
     0,
     0,
     {X_ALL, X_ALL}},
    {"MOV CR4 clearing PGE",
     "SDM 3A 4.10.4.1: a PGE change invalidates all entries, globals included, every PCID "
     "(current VPID)",
     op_cr4,
     X86_PCIDE,
     0,
     0,
     0,
     0,
     {XB(V5A) | XB(PS2) | XB(V6A) | XB(QS2), X_ALL}},
    {"MOV CR4 clearing PCIDE",
     "SDM 3A 4.10.4.1: PCIDE 1 -> 0 invalidates all entries, globals included",
     op_cr4,
     X86_PGE,
     0,
     0,
     0,
     0,
     {XB(V5A) | XB(PS2) | XB(V6A) | XB(QS2), X_ALL}},
    {"MOV CR4 unchanged",
     "SDM 3A 4.10.4.1: no PGE/PCIDE/SMEP change: nothing",
     op_cr4,
     X86_PGE | X86_PCIDE,
     0,
     0,
     0,
     0,
     {X_ALL, X_ALL}},
    {"INVPCID 0, PCID 2, A",
     "SDM 2A INVPCID: type 0, non-global, that PCID and address",
     op_invpcid,
     0,
     PCID_AT(2, VA_A),
     0,
     0,
     0,
     {X_ALL & ~XB(H2A), X_ALL}},
    {"INVPCID 0, PCID 1, G",
     "SDM 2A INVPCID: type 0 keeps global translations",
     op_invpcid,
     0,
     PCID_AT(1, VA_G),
     0,
     0,
     0,
     {X_ALL, X_ALL}},
    {"INVPCID 1, PCID 1",
     "SDM 2A INVPCID: type 1, non-global entries of the PCID",
     op_invpcid,
     1,
     PCID_AT(1, 0),
     0,
     0,
     0,
     {X_ALL & ~(XB(H1A) | XB(H1B)), X_ALL}},
    {"INVPCID 2",
     "SDM 2A INVPCID: type 2, all PCIDs, globals included (current VPID)",
     op_invpcid,
     2,
     0,
     0,
     0,
     0,
     {XB(V5A) | XB(PS2) | XB(V6A) | XB(QS2), X_ALL}},
    {"INVPCID 3",
     "SDM 2A INVPCID: type 3, all PCIDs except globals",
     op_invpcid,
     3,
     0,
     0,
     0,
     0,
     {XB(H1G) | XB(V5A) | XB(PS2) | XB(V6A) | XB(QS2), X_ALL}},
    {"INVPCID 4",
     "SDM 2A INVPCID: type > 3 is #GP",
     op_invpcid,
     4,
     0,
     0,
     0,
     -EINVAL,
     {X_ALL, X_ALL}},
    {"INVEPT 1, EPTP 0",
     "SDM 3C Operations that Invalidate Cached Mappings: guest-physical and combined mappings of "
     "the EP4TA",
     op_invept,
     1,
     0,
     0,
     0,
     0,
     {X_ALL & ~(XB(V5A) | XB(PS2)), X_ALL}},
    {"INVEPT 2",
     "SDM 3C Operations that Invalidate Cached Mappings: all guest-physical and combined mappings; "
     "linear stay",
     op_invept,
     2,
     0,
     0,
     0,
     0,
     {XB(H1A) | XB(H1B) | XB(H1G) | XB(H2A), X_ALL}},
    {"INVEPT 3",
     "SDM 3C INVEPT: unsupported type: VMfailValid",
     op_invept,
     3,
     0,
     0,
     0,
     -EINVAL,
     {X_ALL, X_ALL}},
    {"INVVPID 0, VPID 5, A",
     "SDM 3C Operations that Invalidate Cached Mappings: linear+combined mappings of the VPID for "
     "LA",
     op_invvpid,
     0,
     VPID_AT(5, VA_A),
     0,
     0,
     0,
     {X_ALL & ~XB(V5A), X_ALL}},
    {"INVVPID 1, VPID 6",
     "SDM 3C Operations that Invalidate Cached Mappings: linear+combined mappings of the VPID",
     op_invvpid,
     1,
     VPID_AT(6, 0),
     0,
     0,
     0,
     {X_ALL & ~XB(V6A), X_ALL}},
    {"INVVPID 2",
     "SDM 3C INVVPID: all-context, every VPID except 0000H",
     op_invvpid,
     2,
     0,
     0,
     0,
     0,
     {X_ALL & ~(XB(V5A) | XB(V6A)), X_ALL}},
    {"INVVPID 3, VPID 5",
     "SDM 3C INVVPID: single-context retaining globals",
     op_invvpid,
     3,
     VPID_AT(5, 0),
     0,
     0,
     0,
     {X_ALL & ~XB(V5A), X_ALL}},
    {"INVVPID 1, VPID 0",
     "SDM 3C INVVPID: VPID 0 with type 1 is VMfailValid",
     op_invvpid,
     1,
     VPID_AT(0, 0),
     0,
     0,
     -EINVAL,
     {X_ALL, X_ALL}},
};

static void test_x86_oracle(void **state)
{
	(void)state;
	run_rows(&x86_fix, x86_rows, sizeof(x86_rows) / sizeof(x86_rows[0]));
}

/* ======================= AArch64 ======================= */

enum { A_G1A, A_G1B, A_G1G, A_G2A, A_C1A, A_S21, A_C3A, A_S23, A_HA, A_HB, A_N };
#define AB(n)	(1u << A_##n)
#define A_ALL	((1u << A_N) - 1)
#define A_GUEST (A_ALL & ~(AB(HA) | AB(HB)))

static const struct popctx arm_ctx[] = {
    /* EL1&0, VMID 1, stage 2 off, ASID 1 */
    {PHYSIM_REGIME_GUEST, -1, 1, 1, {VA_A, VA_B, VA_G}, 3},
    /* EL1&0, VMID 1, ASID 2 */
    {PHYSIM_REGIME_GUEST, -1, 2, 1, {VA_A}, 1},
    /* EL1&0 with stage 2 (table 0), VMID 1, ASID 1: combined + stage 2 */
    {PHYSIM_REGIME_GUEST, 0, 1, 1, {VA_A}, 1},
    /* EL1&0 with stage 2 (table 1), VMID 3, ASID 1 */
    {PHYSIM_REGIME_GUEST, 1, 1, 3, {VA_A}, 1},
    /* EL2 regime (non-VHE: no ASID) */
    {PHYSIM_REGIME_HOST, -1, 0, 0, {VA_A, VA_B}, 2},
};

static const struct sig arm_sig[] = {
    [A_G1A] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_GUEST, VA_A, 1, 1, -1, false, 0},
    [A_G1B] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_GUEST, VA_B, 1, 1, -1, false, 0},
    [A_G1G] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_GUEST, VA_G, 1, 1, -1, true, 0},
    [A_G2A] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_GUEST, VA_A, 2, 1, -1, false, 0},
    [A_C1A] = {PHYSIM_ENTRY_COMB, PHYSIM_REGIME_GUEST, VA_A, 1, 1, -1, false, 0},
    [A_S21] = {PHYSIM_ENTRY_S2, PHYSIM_REGIME_GUEST, RAM_BASE, 0, 1, -1, false, 0},
    [A_C3A] = {PHYSIM_ENTRY_COMB, PHYSIM_REGIME_GUEST, VA_A, 1, 3, -1, false, 0},
    [A_S23] = {PHYSIM_ENTRY_S2, PHYSIM_REGIME_GUEST, RAM_BASE, 0, 3, -1, false, 0},
    /* the EL2 table's leaves are nG here, but no ASID applies: tagged 0 */
    [A_HA] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_A, 0, 0, -1, false, 0},
    [A_HB] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_B, 0, 0, -1, false, 0},
};

static const struct archfix arm_fix = {
    .arch = PHYSIM_ARCH_AARCH64,
    .s1fmt = "aarch64-4k-48",
    .s2fmt = "aarch64-s2-4k-40",
    .nonglobal_arch = UINT64_C(1) << 11, /* nG, Arm ARM D8.3 */
    .ctx = arm_ctx,
    .nctx = 5,
    .sig = arm_sig,
    .nsig = A_N,
};

/* a = op, b = Xt; issue + DSB */
static int op_tlbi_dsb(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	int rc = physim_arm_tlbi(c, (enum physim_tlbi_op)r->a, r->b);
	physim_arm_dsb(c);
	return rc;
}

static int op_tlbi_nodsb(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	return physim_arm_tlbi(c, (enum physim_tlbi_op)r->a, r->b);
}

#define XT(asid, va) ((uint64_t)(asid) << 48 | (uint64_t)(va) >> 12)
#define TTL(g, l)    ((uint64_t)((g) << 2 | (l)) << 44)

static const struct row arm_rows[] = {
    {"TLBI VAE1, ASID 1, A",
     "Arm ARM TLBI VAE1: stage 1, EL1&0, current VMID, VA, ASID or global",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1,
     XT(1, VA_A),
     0,
     2,
     0,
     {A_ALL & ~(AB(G1A) | AB(C1A)), A_ALL}},
    {"TLBI VAE1IS, ASID 1, A",
     "Arm ARM TLBI VAE1IS: the same on every PE of the domain",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1IS,
     XT(1, VA_A),
     0,
     2,
     0,
     {A_ALL & ~(AB(G1A) | AB(C1A)), A_ALL & ~(AB(G1A) | AB(C1A))}},
    {"TLBI VAE1IS without DSB",
     "Arm ARM D8.17.8: a TLBI is finished for other PEs only after the issuer's DSB",
     op_tlbi_nodsb,
     PHYSIM_TLBI_VAE1IS,
     XT(1, VA_A),
     0,
     2,
     0,
     {A_ALL, A_ALL}},
    {"TLBI VAE1IS from CPU 1",
     "Arm ARM: broadcast from any PE",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1IS,
     XT(1, VA_A),
     1,
     2,
     0,
     {A_ALL & ~(AB(G1A) | AB(C1A)), A_ALL & ~(AB(G1A) | AB(C1A))}},
    {"TLBI VAE1, Xt = A >> 14 (16K shift)",
     "Arm ARM: Xt[43:0] is VA[55:12] whatever the granule",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1,
     XT(1, VA_A) >> 2,
     0,
     2,
     0,
     {A_ALL, A_ALL}},
    {"TLBI VAE1, ASID in bits 47:32",
     "Arm ARM: the ASID is Xt[63:48]",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1,
     (uint64_t)1 << 32 | VA_A >> 12,
     0,
     2,
     0,
     {A_ALL, A_ALL}},
    {"TLBI VAE1, ASID 2, G",
     "Arm ARM TLBI VAE1: global entries match any ASID",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1,
     XT(2, VA_G),
     0,
     2,
     0,
     {A_ALL & ~AB(G1G), A_ALL}},
    {"TLBI VALE1, ASID 1, A",
     "Arm ARM TLBI VALE1: last level; leaf entries go like VAE1",
     op_tlbi_dsb,
     PHYSIM_TLBI_VALE1,
     XT(1, VA_A),
     0,
     2,
     0,
     {A_ALL & ~(AB(G1A) | AB(C1A)), A_ALL}},
    {"TLBI VAE1, TTL level 2 hint",
     "Arm ARM FEAT_TTL: an entry of another level need not go",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1,
     XT(1, VA_A) | TTL(1, 2),
     0,
     2,
     0,
     {A_ALL, A_ALL}},
    {"TLBI VAE1, TTL level 3 hint",
     "Arm ARM FEAT_TTL: level-3 entries go",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1,
     XT(1, VA_A) | TTL(1, 3),
     0,
     2,
     0,
     {A_ALL & ~(AB(G1A) | AB(C1A)), A_ALL}},
    {"TLBI VAE1, TTL 16K granule, level 3, on 4K entries",
     "Arm ARM C5.5.59 TTL: 'If an incorrect value of the TTL field is specified for the entry "
     "being invalidated ..., then no entries are required ... to be invalidated'",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1,
     XT(1, VA_A) | TTL(2, 3),
     0,
     2,
     0,
     {A_ALL, A_ALL}},
    {"TLBI VAE1, TTL 64K granule, level 3, on 4K entries",
     "Arm ARM C5.5.59 TTL: a wrong granule is an incorrect TTL: nothing need go",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1,
     XT(1, VA_A) | TTL(3, 3),
     0,
     2,
     0,
     {A_ALL, A_ALL}},
    {"TLBI VAE1, TTL 16K granule, level 0 (reserved)",
     "Arm ARM C5.5.59 TTL 0b1000: 'Reserved. Treat as if TTL<3:2> is 0b00' (no hint)",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1,
     XT(1, VA_A) | TTL(2, 0),
     0,
     2,
     0,
     {A_ALL & ~(AB(G1A) | AB(C1A)), A_ALL}},
    {"TLBI VAE1, TTL 64K granule, level 0 (reserved)",
     "Arm ARM C5.5.59 TTL 0b1100: 'Reserved. Treat as if TTL<3:2> is 0b00' (no hint)",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1,
     XT(1, VA_A) | TTL(3, 0),
     0,
     2,
     0,
     {A_ALL & ~(AB(G1A) | AB(C1A)), A_ALL}},
    {"TLBI VAE1, TTL 4K granule, level 0 (FEAT_LPA2: a level-0 hint)",
     "Arm ARM C5.5.59 TTL 0b0100: 'If FEAT_LPA2 is implemented, level 0': level-3 entries "
     "need not go",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1,
     XT(1, VA_A) | TTL(1, 0),
     0,
     2,
     0,
     {A_ALL, A_ALL}},
    {"TLBI IPAS2E1, TTL 4K level 2 (the 2 MiB stage-2 block)",
     "Arm ARM C5.5.13 TTL: the hint describes the stage-2 leaf: it goes",
     op_tlbi_dsb,
     PHYSIM_TLBI_IPAS2E1,
     PA_A >> 12 | TTL(1, 2),
     0,
     2,
     0,
     {A_ALL & ~AB(S21), A_ALL}},
    {"TLBI IPAS2E1, TTL 16K level 2 on a 4K-granule stage 2",
     "Arm ARM C5.5.13 TTL: another granule is an incorrect TTL: nothing need go",
     op_tlbi_dsb,
     PHYSIM_TLBI_IPAS2E1,
     PA_A >> 12 | TTL(2, 2),
     0,
     2,
     0,
     {A_ALL, A_ALL}},
    {"TLBI VAAE1, A",
     "Arm ARM TLBI VAAE1: any ASID, current VMID",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAAE1,
     XT(0, VA_A),
     0,
     2,
     0,
     {A_ALL & ~(AB(G1A) | AB(G2A) | AB(C1A)), A_ALL}},
    {"TLBI VAALE1IS, A",
     "Arm ARM TLBI VAALE1IS: any ASID, last level, broadcast",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAALE1IS,
     XT(0, VA_A),
     0,
     2,
     0,
     {A_ALL & ~(AB(G1A) | AB(G2A) | AB(C1A)), A_ALL & ~(AB(G1A) | AB(G2A) | AB(C1A))}},
    {"TLBI ASIDE1, ASID 1",
     "Arm ARM TLBI ASIDE1: non-global entries of the ASID",
     op_tlbi_dsb,
     PHYSIM_TLBI_ASIDE1,
     XT(1, 0),
     0,
     2,
     0,
     {A_ALL & ~(AB(G1A) | AB(G1B) | AB(C1A)), A_ALL}},
    {"TLBI VMALLE1",
     "Arm ARM TLBI VMALLE1: all stage 1 of the current VMID; stage 2 stays",
     op_tlbi_dsb,
     PHYSIM_TLBI_VMALLE1,
     0,
     0,
     2,
     0,
     {A_ALL & ~(AB(G1A) | AB(G1B) | AB(G1G) | AB(G2A) | AB(C1A)), A_ALL}},
    {"TLBI IPAS2E1, IPA >> 12",
     "Arm ARM TLBI IPAS2E1: stage 2 only; combined need not go",
     op_tlbi_dsb,
     PHYSIM_TLBI_IPAS2E1,
     PA_A >> 12,
     0,
     2,
     0,
     {A_ALL & ~AB(S21), A_ALL}},
    {"TLBI IPAS2E1IS, IPA >> 12",
     "Arm ARM TLBI IPAS2E1IS: broadcast",
     op_tlbi_dsb,
     PHYSIM_TLBI_IPAS2E1IS,
     PA_A >> 12,
     0,
     2,
     0,
     {A_ALL & ~AB(S21), A_ALL & ~AB(S21)}},
    {"TLBI IPAS2E1, IPA unshifted",
     "Arm ARM: Xt[39:0] is IPA[51:12]",
     op_tlbi_dsb,
     PHYSIM_TLBI_IPAS2E1,
     PA_A,
     0,
     2,
     0,
     {A_ALL, A_ALL}},
    {"TLBI IPAS2LE1, IPA >> 12",
     "Arm ARM TLBI IPAS2LE1: last level stage 2",
     op_tlbi_dsb,
     PHYSIM_TLBI_IPAS2LE1,
     PA_A >> 12,
     0,
     2,
     0,
     {A_ALL & ~AB(S21), A_ALL}},
    {"TLBI VMALLS12E1",
     "Arm ARM TLBI VMALLS12E1: stage 1 and 2 of the current VMID",
     op_tlbi_dsb,
     PHYSIM_TLBI_VMALLS12E1,
     0,
     0,
     2,
     0,
     {AB(C3A) | AB(S23) | AB(HA) | AB(HB), A_ALL}},
    {"TLBI ALLE1IS",
     "Arm ARM TLBI ALLE1IS: all EL1&0 entries, every VMID, every PE",
     op_tlbi_dsb,
     PHYSIM_TLBI_ALLE1IS,
     0,
     0,
     2,
     0,
     {AB(HA) | AB(HB), AB(HA) | AB(HB)}},
    {"TLBI VAE2, A",
     "Arm ARM TLBI VAE2: EL2 regime, the VA",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE2,
     XT(0, VA_A),
     0,
     4,
     0,
     {A_ALL & ~AB(HA), A_ALL}},
    {"TLBI VALE2IS, B",
     "Arm ARM TLBI VALE2IS: EL2, last level, broadcast",
     op_tlbi_dsb,
     PHYSIM_TLBI_VALE2IS,
     XT(0, VA_B),
     0,
     4,
     0,
     {A_ALL & ~AB(HB), A_ALL & ~AB(HB)}},
    {"TLBI ALLE2",
     "Arm ARM TLBI ALLE2: every EL2 regime entry",
     op_tlbi_dsb,
     PHYSIM_TLBI_ALLE2,
     0,
     0,
     4,
     0,
     {A_GUEST, A_ALL}},
};

static void test_arm_oracle(void **state)
{
	(void)state;
	run_rows(&arm_fix, arm_rows, sizeof(arm_rows) / sizeof(arm_rows[0]));
}

/* ---- VHE: the EL2&0 regime (HCR_EL2.E2H = 1) ---- */

enum { V_HA, V_E1A, V_E1B, V_E1G, V_E2A, V_G1A, V_N };
#define VB(n) (1u << V_##n)
#define V_ALL ((1u << V_N) - 1)
#define V_E20 (VB(E1A) | VB(E1B) | VB(E1G) | VB(E2A))

/* The E2H = 0 EL2 context first, then the EL2&0 ones (so HCR_EL2.E2H is 1
 * after the population), then a guest's EL1&0 context. */
static const struct popctx vhe_ctx[] = {
    /* EL2, E2H = 0 (no ASID) */
    {PHYSIM_REGIME_HOST, -1, 0, 0, {VA_A}, 1},
    /* EL2&0, ASID 1: A, B and the global page G */
    {PHYSIM_REGIME_HOST_E20, -1, 1, 0, {VA_A, VA_B, VA_G}, 3},
    /* EL2&0, ASID 2 */
    {PHYSIM_REGIME_HOST_E20, -1, 2, 0, {VA_A}, 1},
    /* EL1&0 of a guest, VMID 1, ASID 1 (HCR_EL2.TGE = 0, E2H stays 1) */
    {PHYSIM_REGIME_GUEST, -1, 1, 1, {VA_A}, 1},
};

static const struct sig vhe_sig[] = {
    [V_HA] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_A, 0, 0, -1, false, 0},
    [V_E1A] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST_E20, VA_A, 1, 0, -1, false, 0},
    [V_E1B] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST_E20, VA_B, 1, 0, -1, false, 0},
    [V_E1G] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST_E20, VA_G, 1, 0, -1, true, 0},
    [V_E2A] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST_E20, VA_A, 2, 0, -1, false, 0},
    [V_G1A] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_GUEST, VA_A, 1, 1, -1, false, 0},
};

static const struct archfix vhe_fix = {
    .arch = PHYSIM_ARCH_AARCH64,
    .s1fmt = "aarch64-4k-48",
    .s2fmt = NULL,
    .nonglobal_arch = UINT64_C(1) << 11, /* nG */
    .ctx = vhe_ctx,
    .nctx = 4,
    .sig = vhe_sig,
    .nsig = V_N,
};

static const struct row vhe_rows[] = {
    {"TLBI VAE2, ASID 1, A (E2H = 1)",
     "Arm ARM C5.5.62 TLBI VAE2: E2H = 1: EL2&0, a global entry or a non-global one of the ASID",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE2,
     XT(1, VA_A),
     0,
     1,
     0,
     {V_ALL & ~VB(E1A), V_ALL}},
    {"TLBI VAE2IS, ASID 2, G (E2H = 1)",
     "Arm ARM C5.5.63 TLBI VAE2IS: global entries match whatever the ASID, every PE",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE2IS,
     XT(2, VA_G),
     0,
     1,
     0,
     {V_ALL & ~VB(E1G), V_ALL & ~VB(E1G)}},
    {"TLBI VALE2IS, ASID 2, A (E2H = 1)",
     "Arm ARM C5.5.72 TLBI VALE2IS: last level, EL2&0, the ASID",
     op_tlbi_dsb,
     PHYSIM_TLBI_VALE2IS,
     XT(2, VA_A),
     0,
     1,
     0,
     {V_ALL & ~VB(E2A), V_ALL & ~VB(E2A)}},
    {"TLBI VAE2, A, from the E2H = 0 EL2 context",
     "Arm ARM C5.5.62: E2H not 1: the EL2 regime, any level; EL2&0 entries stay",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE2,
     XT(1, VA_A),
     0,
     0,
     0,
     {V_ALL & ~VB(HA), V_ALL}},
    {"TLBI VAE1, ASID 1, A, {E2H, TGE} = {1, 1}",
     "Arm ARM C5.5.59 TLBI VAE1: {E2H, TGE} = {1, 1}: the EL2&0 regime; EL1&0 stays",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1,
     XT(1, VA_A),
     0,
     1,
     0,
     {V_ALL & ~VB(E1A), V_ALL}},
    {"TLBI VAAE1IS, A, {E2H, TGE} = {1, 1}",
     "Arm ARM C5.5.54 TLBI VAAE1IS: any ASID, EL2&0, every PE",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAAE1IS,
     XT(0, VA_A),
     0,
     1,
     0,
     {V_ALL & ~(VB(E1A) | VB(E2A)), V_ALL & ~(VB(E1A) | VB(E2A))}},
    {"TLBI ASIDE1, ASID 1, {E2H, TGE} = {1, 1}",
     "Arm ARM C5.5.10 TLBI ASIDE1: non-global EL2&0 entries of the ASID",
     op_tlbi_dsb,
     PHYSIM_TLBI_ASIDE1,
     XT(1, 0),
     0,
     1,
     0,
     {V_ALL & ~(VB(E1A) | VB(E1B)), V_ALL}},
    {"TLBI VMALLE1, {E2H, TGE} = {1, 1}",
     "Arm ARM C5.5.77 TLBI VMALLE1: every EL2&0 stage-1 entry; EL1&0 and EL2 stay",
     op_tlbi_dsb,
     PHYSIM_TLBI_VMALLE1,
     0,
     0,
     1,
     0,
     {V_ALL & ~V_E20, V_ALL}},
    {"TLBI VMALLE1 in the guest's context (TGE = 0)",
     "Arm ARM C5.5.77: {E2H, TGE} not {1, 1}: EL1&0 of the current VMID; EL2&0 stays",
     op_tlbi_dsb,
     PHYSIM_TLBI_VMALLE1,
     0,
     0,
     3,
     0,
     {V_ALL & ~VB(G1A), V_ALL}},
    {"TLBI ALLE2",
     "Arm ARM C5.5.4 TLBI ALLE2: every EL2 and EL2&0 entry; EL1&0 stays",
     op_tlbi_dsb,
     PHYSIM_TLBI_ALLE2,
     0,
     0,
     1,
     0,
     {VB(G1A), V_ALL}},
    {"TLBI ALLE1IS from EL2&0",
     "Arm ARM C5.5.2 TLBI ALLE1IS: EL1&0 only, every VMID; EL2&0 stays",
     op_tlbi_dsb,
     PHYSIM_TLBI_ALLE1IS,
     0,
     0,
     1,
     0,
     {V_ALL & ~VB(G1A), V_ALL & ~VB(G1A)}},
};

static void test_vhe_oracle(void **state)
{
	(void)state;
	run_rows(&vhe_fix, vhe_rows, sizeof(vhe_rows) / sizeof(vhe_rows[0]));
}

/* PHYSIM_REGIME_HOST_E20 is an Arm regime of one stage. */
static void test_vhe_context_checks(void **state)
{
	(void)state;
	struct fix f;
	fix_open(&f, &x86_fix);
	struct physim_cpu_context c = {.s1 = f.s1, .regime = PHYSIM_REGIME_HOST_E20, .asid = 1};
	assert_int_equal(physim_cpu_set_context(physim_machine_cpu(f.m, 0), &c), -EINVAL);
	fix_close(&f);
	fix_open(&f, &arm_fix);
	c = (struct physim_cpu_context){
	    .s1 = f.s1, .s2 = f.s2[0], .regime = PHYSIM_REGIME_HOST_E20, .asid = 1};
	assert_int_equal(physim_cpu_set_context(physim_machine_cpu(f.m, 0), &c), -EINVAL);
	c.s2 = NULL;
	assert_int_equal(physim_cpu_set_context(physim_machine_cpu(f.m, 0), &c), 0);
	c.regime = (enum physim_regime)3;
	assert_int_equal(physim_cpu_set_context(physim_machine_cpu(f.m, 0), &c), -EINVAL);
	fix_close(&f);
}

/* ======================= RISC-V ======================= */

enum { R_H1A, R_H1B, R_H1G, R_H2A, R_V1A, R_S21, R_V3A, R_S23, R_V1G, R_N };
#define RB(n) (1u << R_##n)
#define R_ALL ((1u << R_N) - 1)

static const struct popctx rv_ctx[] = {
    /* V = 0, satp ASID 1 */
    {PHYSIM_REGIME_HOST, -1, 1, 0, {VA_A, VA_B, VA_G}, 3},
    /* V = 0, ASID 2 */
    {PHYSIM_REGIME_HOST, -1, 2, 0, {VA_A}, 1},
    /* V = 1, VMID 1 (hgatp table 0), vsatp ASID 1: A and the global G */
    {PHYSIM_REGIME_GUEST, 0, 1, 1, {VA_A, VA_G}, 2},
    /* V = 1, VMID 3 (table 1) */
    {PHYSIM_REGIME_GUEST, 1, 1, 3, {VA_A}, 1},
    /* V = 0 with hgatp.VMID 1 loaded: the context HFENCE rows issue from */
    {PHYSIM_REGIME_HOST, -1, 1, 1, {0}, 0},
};

/* R_N: the G-stage entry of G's GPA (VMID 1), RAM's third 2 MiB. */
static const struct sig rv_sig_all[] = {
    [R_H1A] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_A, 1, 0, -1, false, 0},
    [R_H1B] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_B, 1, 0, -1, false, 0},
    [R_H1G] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_G, 1, 0, -1, true, 0},
    [R_H2A] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_A, 2, 0, -1, false, 0},
    [R_V1A] = {PHYSIM_ENTRY_COMB, PHYSIM_REGIME_GUEST, VA_A, 1, 1, -1, false, 0},
    [R_S21] = {PHYSIM_ENTRY_S2, PHYSIM_REGIME_GUEST, RAM_BASE, 0, 1, -1, false, 0},
    [R_V3A] = {PHYSIM_ENTRY_COMB, PHYSIM_REGIME_GUEST, VA_A, 1, 3, -1, false, 0},
    [R_S23] = {PHYSIM_ENTRY_S2, PHYSIM_REGIME_GUEST, RAM_BASE, 0, 3, -1, false, 0},
    [R_V1G] = {PHYSIM_ENTRY_COMB, PHYSIM_REGIME_GUEST, VA_G, 1, 1, -1, true, 0},
    [R_N] = {PHYSIM_ENTRY_S2, PHYSIM_REGIME_GUEST, RAM_BASE + 0x400000, 0, 1, -1, false, 0},
};
#define R_S2G	(1u << R_N)
#define R_EVERY (R_ALL | R_S2G)

static const struct archfix rv_fix = {
    .arch = PHYSIM_ARCH_RISCV64,
    .s1fmt = "sv48",
    .s2fmt = "sv48x4",
    .global_arch = UINT64_C(1) << 5, /* G, privileged spec Sv39 PTE */
    .ctx = rv_ctx,
    .nctx = 5,
    .sig = rv_sig_all,
    .nsig = R_N + 1,
};

/* Register operands: a = rs1 (RS_X0: x0), b = rs2 (RS_X0: x0). */
#define RS_X0 UINT64_MAX

static int op_sfence(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	return physim_rv_sfence_vma(c, r->a == RS_X0 ? NULL : &r->a, r->b == RS_X0 ? NULL : &r->b);
}

static int op_hvvma(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	return physim_rv_hfence_vvma(c, r->a == RS_X0 ? NULL : &r->a, r->b == RS_X0 ? NULL : &r->b);
}

static int op_hgvma(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	return physim_rv_hfence_gvma(c, r->a == RS_X0 ? NULL : &r->a, r->b == RS_X0 ? NULL : &r->b);
}

static int op_sinval_ir(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	physim_rv_sfence_w_inval(c);
	int rc =
	    physim_rv_sinval_vma(c, r->a == RS_X0 ? NULL : &r->a, r->b == RS_X0 ? NULL : &r->b);
	physim_rv_sfence_inval_ir(c);
	return rc;
}

static int op_sinval_noir(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	return physim_rv_sinval_vma(c, r->a == RS_X0 ? NULL : &r->a, r->b == RS_X0 ? NULL : &r->b);
}

static int op_hinval_gvma_ir(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	int rc =
	    physim_rv_hinval_gvma(c, r->a == RS_X0 ? NULL : &r->a, r->b == RS_X0 ? NULL : &r->b);
	physim_rv_sfence_inval_ir(c);
	return rc;
}

/* SBI remote_sfence_vma to hart mask 0b10 (CPU 1), [a, a + 4096) */
static int op_sbi_sfence_hart1(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	return physim_sbi_rfence(c, PHYSIM_SBI_REMOTE_SFENCE_VMA, 2, 0, r->a, 4096, 0);
}

/* SBI remote_hfence_gvma_vmid to every hart: VMID b, [a, a + 4096) */
static int op_sbi_gvma_all(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	return physim_sbi_rfence(c, PHYSIM_SBI_REMOTE_HFENCE_GVMA_VMID, 0, ~0UL, r->a, 4096, r->b);
}

/* SBI remote_hfence_vvma_asid to harts 0 and 1 (mask 0b11): ASID b, [a, +4096) */
static int op_sbi_vvma_asid(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	return physim_sbi_rfence(c, PHYSIM_SBI_REMOTE_HFENCE_VVMA_ASID, 3, 0, r->a, 4096, r->b);
}

static int op_sbi_bad_hart(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f, (void)r;
	return physim_sbi_rfence(c, PHYSIM_SBI_REMOTE_SFENCE_VMA, 4, 0, 0, 0, 0);
}

#define R_HOST (RB(H1A) | RB(H1B) | RB(H1G) | RB(H2A))

static const struct row rv_rows[] = {
    {"SFENCE.VMA x0, x0 (V=0)",
     "priv spec SFENCE.VMA: every address space, globals too",
     op_sfence,
     RS_X0,
     RS_X0,
     0,
     0,
     0,
     {R_EVERY & ~R_HOST, R_EVERY}},
    {"SFENCE.VMA A, x0",
     "priv spec: leaf entries of the address, all ASIDs, globals too",
     op_sfence,
     VA_A,
     RS_X0,
     0,
     0,
     0,
     {R_EVERY & ~(RB(H1A) | RB(H2A)), R_EVERY}},
    {"SFENCE.VMA A, ASID 1",
     "priv spec: the address in that ASID, globals excepted",
     op_sfence,
     VA_A,
     1,
     0,
     0,
     0,
     {R_EVERY & ~RB(H1A), R_EVERY}},
    {"SFENCE.VMA G, ASID 1",
     "priv spec: rs2 != x0 never removes global mappings",
     op_sfence,
     VA_G,
     1,
     0,
     0,
     0,
     {R_EVERY, R_EVERY}},
    {"SFENCE.VMA x0, ASID 1",
     "priv spec: every non-global entry of the ASID",
     op_sfence,
     RS_X0,
     1,
     0,
     0,
     0,
     {R_EVERY & ~(RB(H1A) | RB(H1B)), R_EVERY}},
    {"SFENCE.VMA rs1 = 0 (not x0), x0",
     "priv spec: rs1 != x0 names the address 0",
     op_sfence,
     0,
     RS_X0,
     0,
     0,
     0,
     {R_EVERY, R_EVERY}},
    {"SFENCE.VMA A, x0 in V=1 (VMID 1)",
     "H extension: SFENCE.VMA at V=1 is HFENCE.VVMA of the "
     "current VMID",
     op_sfence,
     VA_A,
     RS_X0,
     0,
     2,
     0,
     {R_EVERY & ~RB(V1A), R_EVERY}},
    {"HFENCE.VVMA x0, x0 (VMID 1)",
     "H extension: VS-stage of the current VMID; G-stage stays",
     op_hvvma,
     RS_X0,
     RS_X0,
     0,
     4,
     0,
     {R_EVERY & ~(RB(V1A) | RB(V1G)), R_EVERY}},
    {"HFENCE.VVMA A, ASID 1",
     "H extension: the guest VA in that ASID",
     op_hvvma,
     VA_A,
     1,
     0,
     4,
     0,
     {R_EVERY & ~RB(V1A), R_EVERY}},
    {"HFENCE.GVMA x0, x0",
     "H extension: every G-stage translation, combined ones included",
     op_hgvma,
     RS_X0,
     RS_X0,
     0,
     4,
     0,
     {R_HOST, R_EVERY}},
    {"HFENCE.GVMA GPA(A) >> 2, VMID 1",
     "H extension commentary: G-stage entries of the GPA, and combined ones whose GPA matches",
     op_hgvma,
     PA_A >> 2,
     1,
     0,
     4,
     0,
     {R_EVERY & ~(RB(V1A) | RB(S21)), R_EVERY}},
    {"HFENCE.GVMA GPA in A's 2 MiB G-stage page >> 2, VMID 1",
     "priv spec: the fence covers the leaf PTE that translates the address (a superpage)",
     op_hgvma,
     (RAM_BASE + 0x1FF000) >> 2,
     1,
     0,
     4,
     0,
     {R_EVERY & ~(RB(V1A) | RB(S21)), R_EVERY}},
    {"HFENCE.GVMA GPA(A) unshifted, VMID 1",
     "H extension: rs1 holds the GPA shifted right by 2",
     op_hgvma,
     PA_A,
     1,
     0,
     4,
     0,
     {R_EVERY, R_EVERY}},
    {"HFENCE.GVMA x0, VMID 3",
     "H extension: every G-stage translation of the VMID",
     op_hgvma,
     RS_X0,
     3,
     0,
     4,
     0,
     {R_EVERY & ~(RB(V3A) | RB(S23)), R_EVERY}},
    {"SINVAL.VMA A, x0 + SFENCE.INVAL.IR",
     "Svinval: ordered by SFENCE.INVAL.IR",
     op_sinval_ir,
     VA_A,
     RS_X0,
     0,
     0,
     0,
     {R_EVERY & ~(RB(H1A) | RB(H2A)), R_EVERY}},
    {"SINVAL.VMA A, x0 alone",
     "Svinval: not guaranteed before SFENCE.INVAL.IR",
     op_sinval_noir,
     VA_A,
     RS_X0,
     0,
     0,
     0,
     {R_EVERY, R_EVERY}},
    {"HINVAL.GVMA x0, VMID 1 + SFENCE.INVAL.IR",
     "Svinval: as HFENCE.GVMA",
     op_hinval_gvma_ir,
     RS_X0,
     1,
     0,
     4,
     0,
     {R_EVERY & ~(RB(V1A) | RB(V1G) | RB(S21) | R_S2G), R_EVERY}},
    {"SBI remote_sfence_vma, harts {1}, A",
     "SBI RFENCE: SFENCE.VMA on the harts of the mask",
     op_sbi_sfence_hart1,
     VA_A,
     0,
     0,
     0,
     0,
     {R_EVERY, R_EVERY & ~(RB(H1A) | RB(H2A))}},
    {"SBI remote_hfence_gvma_vmid, all harts, GPA(A), VMID 1",
     "SBI RFENCE: HFENCE.GVMA of the range and VMID on every hart",
     op_sbi_gvma_all,
     PA_A,
     1,
     0,
     4,
     0,
     {R_EVERY & ~(RB(V1A) | RB(S21)), R_EVERY & ~(RB(V1A) | RB(S21))}},
    {"SBI remote_hfence_vvma_asid, harts {0,1}, A, ASID 1 (caller VMID 1)",
     "SBI RFENCE: HFENCE.VVMA for the calling hart's VMID",
     op_sbi_vvma_asid,
     VA_A,
     1,
     1,
     4,
     0,
     {R_EVERY & ~RB(V1A), R_EVERY & ~RB(V1A)}},
    {"SBI remote_sfence_vma, hart 2 (absent)",
     "SBI: SBI_ERR_INVALID_PARAM",
     op_sbi_bad_hart,
     0,
     0,
     0,
     0,
     -EINVAL,
     {R_EVERY, R_EVERY}},
};

static void test_rv_oracle(void **state)
{
	(void)state;
	run_rows(&rv_fix, rv_rows, sizeof(rv_rows) / sizeof(rv_rows[0]));
}

/* ======================= LoongArch ======================= */

enum { L_A1, L_B1, L_G, L_A2, L_N };
#define LB(n) (1u << L_##n)
#define L_ALL ((1u << L_N) - 1)

static const struct popctx la_ctx[] = {
    {PHYSIM_REGIME_HOST, -1, 1, 0, {VA_A, VA_B, VA_G}, 3},
    {PHYSIM_REGIME_HOST, -1, 2, 0, {VA_A}, 1},
};

static const struct sig la_sig[] = {
    [L_A1] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_A, 1, 0, -1, false, 0},
    [L_B1] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_B, 1, 0, -1, false, 0},
    [L_G] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_G, 1, 0, -1, true, 0},
    [L_A2] = {PHYSIM_ENTRY_S1, PHYSIM_REGIME_HOST, VA_A, 2, 0, -1, false, 0},
};

static const struct archfix la_fix = {
    .arch = PHYSIM_ARCH_LOONGARCH64,
    .s1fmt = "loongarch64-4k-48",
    .global_arch = UINT64_C(1) << 6, /* G, LoongArch RM Vol. 1 5.4 */
    .ctx = la_ctx,
    .nctx = 2,
    .sig = la_sig,
    .nsig = L_N,
};

/* a = op, b = rj << 48 | rk (rk < 2^48) */
static int op_invtlb(struct fix *f, struct physim_cpu *c, const struct row *r)
{
	(void)f;
	return physim_la_invtlb(c, (unsigned)r->a, r->b >> 48, r->b & ((UINT64_C(1) << 48) - 1));
}

#define RJK(asid, va) ((uint64_t)(asid) << 48 | (va))

static const struct row la_rows[] = {
    {"INVTLB 0x0",
     "LoongArch RM Vol. 1 INVTLB: op 0x0 clears every entry",
     op_invtlb,
     0,
     0,
     0,
     0,
     0,
     {0, L_ALL}},
    {"INVTLB 0x1", "op 0x1: the same as 0x0", op_invtlb, 1, 0, 0, 0, 0, {0, L_ALL}},
    {"INVTLB 0x2",
     "op 0x2: every entry with G = 1",
     op_invtlb,
     2,
     0,
     0,
     0,
     0,
     {L_ALL & ~LB(G), L_ALL}},
    {"INVTLB 0x3", "op 0x3: every entry with G = 0", op_invtlb, 3, 0, 0, 0, 0, {LB(G), L_ALL}},
    {"INVTLB 0x4, ASID 1",
     "op 0x4: G = 0 and ASID = rj",
     op_invtlb,
     4,
     RJK(1, 0),
     0,
     0,
     0,
     {LB(G) | LB(A2), L_ALL}},
    {"INVTLB 0x5, ASID 1, A",
     "op 0x5: G = 0, ASID = rj, VA = rk",
     op_invtlb,
     5,
     RJK(1, VA_A),
     0,
     0,
     0,
     {L_ALL & ~LB(A1), L_ALL}},
    {"INVTLB 0x5, ASID 1, G",
     "op 0x5 keeps G = 1 entries",
     op_invtlb,
     5,
     RJK(1, VA_G),
     0,
     0,
     0,
     {L_ALL, L_ALL}},
    {"INVTLB 0x6, ASID 2, G",
     "op 0x6: (G = 1 or ASID = rj) and VA = rk",
     op_invtlb,
     6,
     RJK(2, VA_G),
     0,
     0,
     0,
     {L_ALL & ~LB(G), L_ALL}},
    {"INVTLB 0x6, ASID 2, A",
     "op 0x6: ASID = rj and VA = rk",
     op_invtlb,
     6,
     RJK(2, VA_A),
     0,
     0,
     0,
     {L_ALL & ~LB(A2), L_ALL}},
    {"INVTLB 0x6 on CPU 1",
     "INVTLB acts on the executing core only",
     op_invtlb,
     6,
     RJK(2, VA_A),
     1,
     0,
     0,
     {L_ALL, L_ALL & ~LB(A2)}},
    {"INVTLB 0x7",
     "other ops: reserved instruction exception",
     op_invtlb,
     7,
     0,
     0,
     0,
     -EINVAL,
     {L_ALL, L_ALL}},
};

static void test_la_oracle(void **state)
{
	(void)state;
	run_rows(&la_fix, la_rows, sizeof(la_rows) / sizeof(la_rows[0]));
}

/* ======================= walk caches ======================= */

/* One-stage contexts with walk caches: A cached under ASID/PCID 1 and 2,
 * each with the three non-leaf descriptors of a 4-level walk to A (the
 * entries covering 2 MiB, 1 GiB and 512 GiB around A). */
enum { W_L1, W_L2, W_1D, W_1U, W_1T, W_2D, W_2U, W_2T, W_N };
#define WB(n)	(1u << W_##n)
#define W_ALL	((1u << W_N) - 1)
#define W_WALK1 (WB(1D) | WB(1U) | WB(1T))
#define W_WALK2 (WB(2D) | WB(2U) | WB(2T))
#define GiB	(UINT64_C(1) << 30)
#define WSIG(kind, regime, va, asid, vmid, size)                                                   \
	{                                                                                          \
		kind, regime, va, asid, vmid, -1, false, size                                      \
	}

#define WALK_SIGS(regime, vmid)                                                                    \
	{                                                                                          \
		[W_L1] = WSIG(PHYSIM_ENTRY_S1, regime, VA_A, 1, vmid, 0),                          \
		[W_L2] = WSIG(PHYSIM_ENTRY_S1, regime, VA_A, 2, vmid, 0),                          \
		[W_1D] = WSIG(PHYSIM_ENTRY_WALK, regime, VA_A, 1, vmid, 2 * MiB),                  \
		[W_1U] = WSIG(PHYSIM_ENTRY_WALK, regime, 0, 1, vmid, GiB),                         \
		[W_1T] = WSIG(PHYSIM_ENTRY_WALK, regime, 0, 1, vmid, 512 * GiB),                   \
		[W_2D] = WSIG(PHYSIM_ENTRY_WALK, regime, VA_A, 2, vmid, 2 * MiB),                  \
		[W_2U] = WSIG(PHYSIM_ENTRY_WALK, regime, 0, 2, vmid, GiB),                         \
		[W_2T] = WSIG(PHYSIM_ENTRY_WALK, regime, 0, 2, vmid, 512 * GiB),                   \
	}

static const struct popctx wx86_ctx[] = {
    {PHYSIM_REGIME_HOST, -1, 1, 0, {VA_A}, 1},
    {PHYSIM_REGIME_HOST, -1, 2, 0, {VA_A}, 1},
};
static const struct sig wx86_sig[] = WALK_SIGS(PHYSIM_REGIME_HOST, 0);
static const struct archfix wx86_fix = {
    .arch = PHYSIM_ARCH_X86_64,
    .s1fmt = "x86_64-4l",
    .ctx = wx86_ctx,
    .nctx = 2,
    .sig = wx86_sig,
    .nsig = W_N,
    .walk_caches = true,
};

static const struct row wx86_rows[] = {
    {"INVLPG B (PCID 1)",
     "SDM 3A 4.10.4.1: INVLPG invalidates all paging-structure-cache entries of the current "
     "PCID, whatever their address",
     op_invlpg,
     VA_B,
     0,
     0,
     0,
     0,
     {W_ALL & ~W_WALK1, W_ALL}},
    {"INVPCID 0, PCID 2, B",
     "SDM 4.10.4.1: type 0 also drops the PCID's paging-structure caches",
     op_invpcid,
     0,
     PCID_AT(2, VA_B),
     0,
     0,
     0,
     {W_ALL & ~W_WALK2, W_ALL}},
    {"MOV CR3, PCID 2",
     "SDM 4.10.4.1: all entries of the PCID, paging-structure caches too",
     op_cr3,
     2,
     0,
     0,
     0,
     0,
     {W_ALL & ~(WB(L2) | W_WALK2), W_ALL}},
    {"INVPCID 3",
     "SDM 4.10.4.1: every non-global entry, paging-structure caches too",
     op_invpcid,
     3,
     0,
     0,
     0,
     0,
     {0, W_ALL}},
};

static void test_x86_walk_oracle(void **state)
{
	(void)state;
	run_rows(&wx86_fix, wx86_rows, sizeof(wx86_rows) / sizeof(wx86_rows[0]));
}

static const struct popctx warm_ctx[] = {
    {PHYSIM_REGIME_GUEST, -1, 1, 1, {VA_A}, 1},
    {PHYSIM_REGIME_GUEST, -1, 2, 1, {VA_A}, 1},
};
static const struct sig warm_sig[] = WALK_SIGS(PHYSIM_REGIME_GUEST, 1);
static const struct archfix warm_fix = {
    .arch = PHYSIM_ARCH_AARCH64,
    .s1fmt = "aarch64-4k-48",
    .nonglobal_arch = UINT64_C(1) << 11,
    .ctx = warm_ctx,
    .nctx = 2,
    .sig = warm_sig,
    .nsig = W_N,
    .walk_caches = true,
};

static const struct row warm_rows[] = {
    {"TLBI VALE1, ASID 1, A",
     "Arm ARM TLBI VALE1: last level only: walk-cache entries stay",
     op_tlbi_dsb,
     PHYSIM_TLBI_VALE1,
     XT(1, VA_A),
     0,
     0,
     0,
     {W_ALL & ~WB(L1), W_ALL}},
    {"TLBI VAE1, ASID 1, A",
     "Arm ARM TLBI VAE1: entries of every level used for VA and ASID",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1,
     XT(1, VA_A),
     0,
     0,
     0,
     {W_ALL & ~(WB(L1) | W_WALK1), W_ALL}},
    {"TLBI VAE1, ASID 1, B",
     "Arm ARM TLBI VAE1: the walk entries covering B go, A's leaf stays",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAE1,
     XT(1, VA_B),
     0,
     0,
     0,
     {W_ALL & ~W_WALK1, W_ALL}},
    {"TLBI VAAE1IS, B",
     "Arm ARM TLBI VAAE1IS: any ASID, every level, every PE",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAAE1IS,
     XT(0, VA_B),
     0,
     0,
     0,
     {W_ALL & ~(W_WALK1 | W_WALK2), W_ALL & ~(W_WALK1 | W_WALK2)}},
    {"TLBI VAALE1, A",
     "Arm ARM TLBI VAALE1: any ASID, last level only",
     op_tlbi_dsb,
     PHYSIM_TLBI_VAALE1,
     XT(0, VA_A),
     0,
     0,
     0,
     {W_WALK1 | W_WALK2, W_ALL}},
    {"TLBI ASIDE1, ASID 2",
     "Arm ARM TLBI ASIDE1: every entry of the ASID",
     op_tlbi_dsb,
     PHYSIM_TLBI_ASIDE1,
     XT(2, 0),
     0,
     0,
     0,
     {W_ALL & ~(WB(L2) | W_WALK2), W_ALL}},
    {"TLBI VMALLE1",
     "Arm ARM TLBI VMALLE1: every stage-1 entry of the VMID",
     op_tlbi_dsb,
     PHYSIM_TLBI_VMALLE1,
     0,
     0,
     0,
     0,
     {0, W_ALL}},
};

static void test_arm_walk_oracle(void **state)
{
	(void)state;
	run_rows(&warm_fix, warm_rows, sizeof(warm_rows) / sizeof(warm_rows[0]));
}

static const struct popctx wrv_ctx[] = {
    {PHYSIM_REGIME_HOST, -1, 1, 0, {VA_A}, 1},
    {PHYSIM_REGIME_HOST, -1, 2, 0, {VA_A}, 1},
};
static const struct sig wrv_sig[] = WALK_SIGS(PHYSIM_REGIME_HOST, 0);
static const struct archfix wrv_fix = {
    .arch = PHYSIM_ARCH_RISCV64,
    .s1fmt = "sv48",
    .ctx = wrv_ctx,
    .nctx = 2,
    .sig = wrv_sig,
    .nsig = W_N,
    .walk_caches = true,
};

static const struct row wrv_rows[] = {
    {"SFENCE.VMA A, x0",
     "priv spec: rs1 != x0 orders only leaf PTEs for the address",
     op_sfence,
     VA_A,
     RS_X0,
     0,
     0,
     0,
     {W_WALK1 | W_WALK2, W_ALL}},
    {"SFENCE.VMA A, ASID 1",
     "priv spec: leaf PTEs of the address in the ASID",
     op_sfence,
     VA_A,
     1,
     0,
     0,
     0,
     {W_ALL & ~WB(L1), W_ALL}},
    {"SFENCE.VMA x0, ASID 1",
     "priv spec: rs1 = x0: every level of the page tables, for the ASID",
     op_sfence,
     RS_X0,
     1,
     0,
     0,
     0,
     {W_ALL & ~(WB(L1) | W_WALK1), W_ALL}},
    {"SFENCE.VMA x0, x0",
     "priv spec: every level, every address space",
     op_sfence,
     RS_X0,
     RS_X0,
     0,
     0,
     0,
     {0, W_ALL}},
    {"SBI remote_sfence_vma, harts {1}, [A, A + 4K)",
     "SBI RFENCE: SFENCE.VMA for the addresses of the range (rs1 != x0: leaf PTEs only)",
     op_sbi_sfence_hart1,
     VA_A,
     0,
     0,
     0,
     0,
     {W_ALL, W_ALL & ~(WB(L1) | WB(L2))}},
};

static void test_rv_walk_oracle(void **state)
{
	(void)state;
	run_rows(&wrv_fix, wrv_rows, sizeof(wrv_rows) / sizeof(wrv_rows[0]));
}

/* ======================= remedies ======================= */

/* A stale entry's remedy names the invalidation that was issued and came
 * closest, and why it did not remove the entry (include/physim/cpu.h,
 * struct physim_cpu_report). Each case: both CPUs cache the fixture's
 * entries, the table changes, the code under test issues what the case
 * issues, and the audit's report on one entry must contain the words. */

/* The table change: stage 1 moves A, or stage 2 (table 0) moves the page
 * A's GPA is on (splitting its 2 MiB page). */
static void move_s1_a(struct fix *f)
{
	assert_int_equal(physim_pt_unmap(f->s1pt, VA_A, NULL), 0);
	map(f->s1pt, VA_A, PA_A + 0x200000, f->af->nonglobal_arch);
}

static void move_s2(struct fix *f)
{
	assert_int_equal(physim_pt_unmap_region(f->s2pt[0], PA_A, 4096), 0);
	assert_int_equal(physim_pt_map(f->s2pt[0], PA_A, PA_A + 0x200000, 4096, URW), 0);
}

struct remedy_case {
	const char *what;
	const struct archfix *af;
	void (*change)(struct fix *f);
	void (*issue)(struct fix *f);
	unsigned cpu; /* the entry reported: CPU, kind, input address, ASID */
	enum physim_entry_kind kind;
	uint64_t va;
	uint16_t asid;
	const char *words[3];
};

static struct physim_cpu *cpu_in(struct fix *f, unsigned i, int ctx)
{
	struct physim_cpu *c = physim_machine_cpu(f->m, i);
	load(f, c, &f->af->ctx[ctx]);
	return c;
}

static void x86_invlpg_a_cpu0(struct fix *f)
{
	assert_int_equal(physim_x86_invlpg(cpu_in(f, 0, 0), VA_A), 0);
}

static void x86_invlpg_gpa_root(struct fix *f)
{
	assert_int_equal(physim_x86_invlpg(cpu_in(f, 0, 0), PA_A), 0);
}

static void arm_ipas2_only(struct fix *f)
{
	struct physim_cpu *c = cpu_in(f, 0, 2);
	assert_int_equal(physim_arm_tlbi(c, PHYSIM_TLBI_IPAS2E1IS, PA_A >> 12), 0);
	physim_arm_dsb(c);
}

static void arm_vae1_16k_shift(struct fix *f)
{
	struct physim_cpu *c = cpu_in(f, 0, 0);
	assert_int_equal(physim_arm_tlbi(c, PHYSIM_TLBI_VAE1, UINT64_C(1) << 48 | VA_A >> 14), 0);
	physim_arm_dsb(c);
}

static void arm_vae1_ttl_level2(struct fix *f)
{
	struct physim_cpu *c = cpu_in(f, 0, 0);
	assert_int_equal(physim_arm_tlbi(c, PHYSIM_TLBI_VAE1, XT(1, VA_A) | TTL(1, 2)), 0);
	physim_arm_dsb(c);
}

static void arm_vae1_local(struct fix *f)
{
	struct physim_cpu *c = cpu_in(f, 0, 0);
	assert_int_equal(physim_arm_tlbi(c, PHYSIM_TLBI_VAE1, XT(1, VA_A)), 0);
	physim_arm_dsb(c);
}

static void arm_vae1is_no_dsb(struct fix *f)
{
	assert_int_equal(physim_arm_tlbi(cpu_in(f, 0, 0), PHYSIM_TLBI_VAE1IS, XT(1, VA_A)), 0);
}

static void arm_vae1_guest_ctx(struct fix *f)
{
	struct physim_cpu *c = cpu_in(f, 0, 3);
	assert_int_equal(physim_arm_tlbi(c, PHYSIM_TLBI_VAE1, XT(1, VA_A)), 0);
	physim_arm_dsb(c);
}

static void nothing(struct fix *f)
{
	(void)f;
}

static void rv_hfence_vvma_all(struct fix *f)
{
	assert_int_equal(physim_rv_hfence_vvma(cpu_in(f, 0, 4), NULL, NULL), 0);
}

static void rv_hfence_gvma_unshifted(struct fix *f)
{
	uint64_t rs1 = PA_A, rs2 = 1;
	assert_int_equal(physim_rv_hfence_gvma(cpu_in(f, 0, 4), &rs1, &rs2), 0);
}

static void move_s1_g(struct fix *f)
{
	assert_int_equal(physim_pt_unmap(f->s1pt, VA_G, NULL), 0);
	map(f->s1pt, VA_G, PA_G + 0x200000, f->af->global_arch);
}

static void la_invtlb(struct fix *f, unsigned op, uint64_t rj, uint64_t rk)
{
	assert_int_equal(physim_la_invtlb(cpu_in(f, 0, 0), op, rj, rk), 0);
}

static void la_5_a(struct fix *f)
{
	la_invtlb(f, 5, 1, VA_A);
}

static void la_5_g(struct fix *f)
{
	la_invtlb(f, 5, 1, VA_G);
}

static void la_2(struct fix *f)
{
	la_invtlb(f, 2, 0, 0);
}

static void la_5_asid2(struct fix *f)
{
	la_invtlb(f, 5, 2, VA_A);
}

static void la_5_pfn(struct fix *f)
{
	la_invtlb(f, 5, 1, VA_A >> 12);
}

static void la_5_swapped(struct fix *f)
{
	la_invtlb(f, 5, VA_A, 1);
}

static void la_6_other_va(struct fix *f)
{
	la_invtlb(f, 6, 1, VA_B);
}

static const struct remedy_case remedy_cases[] = {
    /* LoongArch (LoongArch Reference Manual Vol. 1, INVTLB): the op, what it
     * removes (G bit, ASID in rj[9:0], VA in rk), and what was needed */
    {"LoongArch: INVTLB 0x5 on core 0 only (no IPI)",
     &la_fix,
     move_s1_a,
     la_5_a,
     1,
     PHYSIM_ENTRY_S1,
     VA_A,
     1,
     {"survives INVTLB 0x5 (issued on cpu 0)",
      "G = 0, ASID = rj and VA = rk on the executing core only",
      "needed: INVTLB 0x5 with rj = the entry's ASID"}},
    {"LoongArch: a global page changed, INVTLB 0x5",
     &la_fix,
     move_s1_g,
     la_5_g,
     0,
     PHYSIM_ENTRY_S1,
     VA_G,
     1,
     {"survives INVTLB 0x5", "this entry is global (G = 1): a global page needs INVTLB 0x6",
      "needed: INVTLB 0x6"}},
    {"LoongArch: INVTLB 0x2 for a G = 0 page",
     &la_fix,
     move_s1_a,
     la_2,
     0,
     PHYSIM_ENTRY_S1,
     VA_A,
     1,
     {"survives INVTLB 0x2", "removes the entries with G = 1, and this entry has G = 0 (ASID 1)",
      "INVTLB 0x5 with rj = 1"}},
    {"LoongArch: INVTLB 0x5 with another ASID in rj",
     &la_fix,
     move_s1_a,
     la_5_asid2,
     0,
     PHYSIM_ENTRY_S1,
     VA_A,
     1,
     {"survives INVTLB 0x5", "rj[9:0] named ASID 2, not the entry's 1", "INVTLB 0x5 with rj = 1"}},
    {"LoongArch: INVTLB 0x5 with VA >> 12 in rk",
     &la_fix,
     move_s1_a,
     la_5_pfn,
     0,
     PHYSIM_ENTRY_S1,
     VA_A,
     1,
     {"survives INVTLB 0x5", "rk held 0x400, the page number (VA >> 12)",
      "rk takes the virtual address itself, 0x400000"}},
    {"LoongArch: INVTLB 0x5 with rj and rk swapped",
     &la_fix,
     move_s1_a,
     la_5_swapped,
     0,
     PHYSIM_ENTRY_S1,
     VA_A,
     1,
     {"survives INVTLB 0x5", "rj and rk swapped"}},
    {"LoongArch: INVTLB 0x6 of another page",
     &la_fix,
     move_s1_a,
     la_6_other_va,
     0,
     PHYSIM_ENTRY_S1,
     VA_A,
     1,
     {"survives INVTLB 0x6", "that have G = 1 or ASID = rj, and rk named VA 0x401000",
      "INVTLB 0x6 with rk = 0x400000"}},
    {"x86: INVLPG on CPU 0 only (no shootdown IPI)",
     &x86_fix,
     move_s1_a,
     x86_invlpg_a_cpu0,
     1,
     PHYSIM_ENTRY_S1,
     VA_A,
     1,
     {"survives INVLPG (issued on cpu 0)", "executing processor only", "needed: INVLPG"}},
    {"x86: INVLPG with PCID 1 current, entry of PCID 2",
     &x86_fix,
     move_s1_a,
     x86_invlpg_a_cpu0,
     0,
     PHYSIM_ENTRY_S1,
     VA_A,
     2,
     {"survives INVLPG (issued on cpu 0)", "another ASID / PCID (1; the entry's is 2)"}},
    {"x86: EPT changed, INVLPG of the GPA in VMX root",
     &x86_fix,
     move_s2,
     x86_invlpg_gpa_root,
     0,
     PHYSIM_ENTRY_S2,
     RAM_BASE,
     0,
     {"survives INVLPG", "does not remove guest-physical mappings", "needed: INVEPT"}},
    {"x86: EPT changed, INVLPG of the GPA: the combined entry",
     &x86_fix,
     move_s2,
     x86_invlpg_gpa_root,
     0,
     PHYSIM_ENTRY_COMB,
     VA_A,
     1,
     {"survives INVLPG", "goes only with INVEPT", "needed: INVEPT single-context"}},
    {"x86: nothing after the change; CPU 1's MOV to CR4 (PGE) ran before the fill",
     &x86_fix,
     move_s1_a,
     nothing,
     1,
     PHYSIM_ENTRY_S1,
     VA_A,
     1,
     {"MOV to CR4 (cpu 1) removes the stage-1 entry but ran before it was cached again",
      "nothing was issued since"}},
    {"Arm: stage 2 changed, TLBI IPAS2E1IS alone",
     &arm_fix,
     move_s2,
     arm_ipas2_only,
     1,
     PHYSIM_ENTRY_COMB,
     VA_A,
     1,
     {"survives TLBI IPAS2E1IS (issued on cpu 0)", "need not remove combined", "D8.17.6.1"}},
    {"Arm: TLBI VAE1 with VA >> 14 (16K shift)",
     &arm_fix,
     move_s1_a,
     arm_vae1_16k_shift,
     0,
     PHYSIM_ENTRY_S1,
     VA_A,
     1,
     {"survives TLBI VAE1 (issued on cpu 0)", "shifted by the 16K / 64K page shift"}},
    {"Arm: TLBI VAE1 with a level-2 TTL hint for a level-3 entry",
     &arm_fix,
     move_s1_a,
     arm_vae1_ttl_level2,
     0,
     PHYSIM_ENTRY_S1,
     VA_A,
     1,
     {"survives TLBI VAE1", "TTL hint does not describe the entry"}},
    {"Arm: TLBI VAE1 (not IS) on PE 0, entry on PE 1",
     &arm_fix,
     move_s1_a,
     arm_vae1_local,
     1,
     PHYSIM_ENTRY_S1,
     VA_A,
     1,
     {"survives TLBI VAE1 (issued on cpu 0)", "non-IS form"}},
    {"Arm: TLBI VAE1IS without DSB",
     &arm_fix,
     move_s1_a,
     arm_vae1is_no_dsb,
     1,
     PHYSIM_ENTRY_S1,
     VA_A,
     1,
     {"survives TLBI VAE1IS (issued on cpu 0)", "has not completed"}},
    {"Arm VHE: TLBI VAE1 in a guest context (TGE = 0), EL2&0 entry",
     &vhe_fix,
     move_s1_a,
     arm_vae1_guest_ctx,
     0,
     PHYSIM_ENTRY_S1,
     VA_A,
     1,
     {"survives TLBI VAE1 (issued on cpu 0)", "did not act on the EL2&0 regime"}},
    {"Arm: no invalidation at all",
     &arm_fix,
     move_s1_a,
     nothing,
     0,
     PHYSIM_ENTRY_S1,
     VA_A,
     1,
     {"no invalidation issued since it was cached", "needed: TLBI VAE1IS"}},
    {"RISC-V: G-stage changed, HFENCE.VVMA x0, x0",
     &rv_fix,
     move_s2,
     rv_hfence_vvma_all,
     0,
     PHYSIM_ENTRY_S2,
     RAM_BASE,
     0,
     {"survives HFENCE.VVMA (issued on cpu 0)", "orders VS-stage translations only"}},
    {"RISC-V: HFENCE.GVMA with the GPA itself in rs1",
     &rv_fix,
     move_s2,
     rv_hfence_gvma_unshifted,
     0,
     PHYSIM_ENTRY_S2,
     RAM_BASE,
     0,
     {"survives HFENCE.GVMA (issued on cpu 0)", "held the guest-physical address itself"}},
};

static const struct physim_cpu_report *find_report(const struct fix *f, unsigned cpu,
						   enum physim_entry_kind kind, uint64_t va,
						   uint16_t asid)
{
	for (unsigned i = 0; i < f->nrep; i++) {
		const struct physim_cpu_report *r = &f->rep[i];
		if (r->cpu == cpu && r->entry.kind == kind && r->entry.va == va &&
		    r->entry.asid == asid)
			return r;
	}
	return NULL;
}

static void test_remedies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(remedy_cases) / sizeof(remedy_cases[0]); i++) {
		const struct remedy_case *rc = &remedy_cases[i];
		struct fix f;
		fix_open(&f, rc->af);
		for (unsigned c = 0; c < 2; c++) {
			if (rc->af->arch == PHYSIM_ARCH_X86_64)
				assert_int_equal(physim_x86_mov_cr4(physim_machine_cpu(f.m, c),
								    X86_PGE | X86_PCIDE),
						 0);
			populate(&f, physim_machine_cpu(f.m, c));
		}
		rc->change(&f);
		rc->issue(&f);
		assert_true(physim_machine_audit(f.m) > 0);
		const struct physim_cpu_report *r =
		    find_report(&f, rc->cpu, rc->kind, rc->va, rc->asid);
		bool ok = r != NULL && r->remedy != NULL;
		for (unsigned w = 0; ok && w < 3 && rc->words[w] != NULL; w++)
			ok = strstr(r->remedy, rc->words[w]) != NULL;
		if (!ok) {
			print_message("case %zu: %s\n  remedy: %s\n", i, rc->what,
				      r && r->remedy ? r->remedy : "(no report)");
			fail();
		}
		if (rc->af->arch == PHYSIM_ARCH_LOONGARCH64)
			print_message("%s:\n  %s\n", rc->what, r->remedy);
		/* the text lives as long as the machine, and one text is kept once */
		const char *first = r->remedy;
		f.nrep = 0;
		assert_true(physim_machine_audit(f.m) > 0);
		r = find_report(&f, rc->cpu, rc->kind, rc->va, rc->asid);
		assert_non_null(r);
		assert_ptr_equal(r->remedy, first);
		fix_close(&f);
	}
}

/* ======================= grouped runs ======================= */

/* A grouped leaf - an AArch64 Contiguous-bit run, a RISC-V Svnapot page, an
 * ARMv7 Large page - is reported by the walker with the run's size and
 * cached as one entry. An invalidation by address is required to remove only
 * the named descriptor's page of a Contiguous or Svnapot run (Arm ARM DDI
 * 0487 M.a.a D8.17.6: "The Contiguous bit does not affect the minimum size of
 * a TLB entry that is required to be invalidated ... software is required to
 * issue a TLB maintenance instruction for each block or granule within the
 * configured contiguous region size"; RISC-V Svnapot: fence "all 4 KiB regions
 * within the range"), so the rest of the run stays cached; an ARMv7 Large
 * page is one TLB entry (Arm ARM G5.4) and goes whole. */

#define RUN_VA UINT64_C(0x410000)
#define RUN_PA (RAM_BASE + 0x110000)
#define RUN_SZ UINT64_C(0x10000)

struct runfix {
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
	struct physim_pt *pt;
	struct physim_mmu *mmu;
	struct physim_machine *m;
	struct physim_cpu *cpu;
	long nrep, nbbm;
	uint64_t rep_size;
	struct physim_cpu_report last;
	char text[1024];
};

static void run_report(void *ctx, const struct physim_cpu_report *r)
{
	struct runfix *x = ctx;
	x->nrep++;
	x->nbbm += r->kind == PHYSIM_REPORT_BBM;
	x->rep_size = r->entry.page_size;
	x->last = *r;
	physim_cpu_report_format(r, x->text, sizeof(x->text));
}

static void runfix_open_ex(struct runfix *x, enum physim_arch arch, const char *fmt,
			   enum physim_regime regime, uint64_t arch_bits, bool check_bbm)
{
	memset(x, 0, sizeof(*x));
	assert_int_equal(
	    physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE},
			      &x->ram),
	    0);
	const struct physim_paging_handler *ph = physim_ram_paging_handler(x->ram);
	x->ph = ph;
	assert_int_equal(physim_pt_create(physim_format(fmt), ph, &x->pt), 0);
	struct physim_pt_mapping mp = {
	    .va = RUN_VA, .pa = RUN_PA, .size = RUN_SZ, .flags = URW, .arch = arch_bits};
	assert_int_equal(physim_pt_map_ex(x->pt, &mp, 0), 0);
	struct physim_mmu_config c = {
	    .format = physim_pt_format(x->pt), .mem = ph, .root = physim_pt_root(x->pt)};
	assert_int_equal(physim_mmu_create(&c, &x->mmu), 0);
	assert_int_equal(
	    physim_machine_create(&(struct physim_machine_config){.arch = arch,
								  .ncpus = 1,
								  .check_bbm = check_bbm,
								  .on_report = run_report,
								  .report_ctx = x},
				  &x->m),
	    0);
	x->cpu = physim_machine_cpu(x->m, 0);
	struct physim_cpu_context cc = {.s1 = x->mmu, .regime = regime, .asid = 1, .vmid = 1};
	assert_int_equal(physim_cpu_set_context(x->cpu, &cc), 0);
	struct physim_xlate xl;
	assert_int_equal(
	    physim_cpu_translate(x->cpu,
				 &(struct physim_access){.va = RUN_VA + 0x5000, .user = true}, &xl),
	    0);
	assert_int_equal(xl.pa, RUN_PA + 0x5000);
}

static void runfix_open(struct runfix *x, enum physim_arch arch, const char *fmt,
			enum physim_regime regime, uint64_t arch_bits)
{
	runfix_open_ex(x, arch, fmt, regime, arch_bits, false);
}

static void runfix_close(struct runfix *x)
{
	physim_machine_destroy(x->m);
	physim_mmu_destroy(x->mmu);
	physim_pt_destroy(x->pt);
	assert_int_equal(physim_ram_stats(x->ram).used_frames, 0);
	physim_ram_destroy(x->ram);
}

/* The run's 16 pages mapped again one by one (plain, not a run), each 1 MiB
 * higher than before: what a rewrite of the run to other frames leaves. */
static void remap_run_pages(struct runfix *x, uint64_t ng)
{
	for (uint64_t a = 0; a < RUN_SZ; a += 4096) {
		struct physim_pt_mapping mp = {.va = RUN_VA + a,
					       .pa = RUN_PA + 0x100000 + a,
					       .size = 4096,
					       .flags = URW,
					       .arch = ng};
		assert_int_equal(physim_pt_map_ex(x->pt, &mp, 0), 0);
	}
}

/* What the CPU holds: a bit per 4 KiB page of the run covered by an entry,
 * and the number of entries and of run-sized ones. */
struct runsurv {
	uint32_t pages;
	unsigned n, whole;
};

static int run_one(void *ctx, const struct physim_cpu_entry *e)
{
	struct runsurv *s = ctx;
	s->n++;
	if (e->page_size == RUN_SZ)
		s->whole++;
	for (uint64_t a = e->va; a < e->va + e->page_size; a += 4096) {
		if (a >= RUN_VA && a < RUN_VA + RUN_SZ) {
			assert_int_equal(e->pa + (a - e->va), RUN_PA + (a - RUN_VA));
			s->pages |= 1u << ((a - RUN_VA) >> 12);
		}
	}
	return 0;
}

static struct runsurv run_survivors(struct runfix *x)
{
	struct runsurv s = {0};
	assert_int_equal(physim_cpu_for_each_entry(x->cpu, run_one, &s), 0);
	return s;
}

static void tlbi_dsb(struct physim_cpu *c, enum physim_tlbi_op op, uint64_t xt)
{
	assert_int_equal(physim_arm_tlbi(c, op, xt), 0);
	physim_arm_dsb(c);
}

static void test_runs_arm_contiguous(void **state)
{
	(void)state;
	const uint64_t ng = UINT64_C(1) << 11;
	struct runfix x;
	struct runsurv s;

	/* one entry for the run */
	runfix_open(&x, PHYSIM_ARCH_AARCH64, "aarch64-4k-48", PHYSIM_REGIME_GUEST, ng);
	s = run_survivors(&x);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.whole, 1);
	assert_int_equal(s.pages, 0xFFFF);
	/* TLBI VAE1 of page 5 removes page 5; the 15 others stay (D8.17.6) */
	tlbi_dsb(x.cpu, PHYSIM_TLBI_VAE1, XT(1, RUN_VA + 0x5000));
	s = run_survivors(&x);
	assert_int_equal(s.pages, 0xFFFF & ~(1u << 5));
	assert_int_equal(s.whole, 0);
	/* and they still serve hits */
	uint64_t hits = physim_cpu_stats(x.cpu).hits;
	struct physim_xlate xl;
	assert_int_equal(
	    physim_cpu_translate(x.cpu,
				 &(struct physim_access){.va = RUN_VA + 0x3000, .user = true}, &xl),
	    0);
	assert_int_equal(xl.pa, RUN_PA + 0x3000);
	assert_int_equal(physim_cpu_stats(x.cpu).hits, hits + 1);
	/* a TLBI per page of the run, as software must issue, removes it all */
	for (uint64_t a = RUN_VA; a < RUN_VA + RUN_SZ; a += 4096)
		tlbi_dsb(x.cpu, PHYSIM_TLBI_VAE1IS, XT(1, a));
	assert_int_equal(run_survivors(&x).n, 0);
	runfix_close(&x);

	/* a TTL hint of the run's level (4K granule, level 3) matches it */
	runfix_open(&x, PHYSIM_ARCH_AARCH64, "aarch64-4k-48", PHYSIM_REGIME_GUEST, ng);
	tlbi_dsb(x.cpu, PHYSIM_TLBI_VALE1, XT(1, RUN_VA) | TTL(1, 3));
	assert_int_equal(run_survivors(&x).pages, 0xFFFF & ~1u);
	runfix_close(&x);
	/* ... one of another level does not */
	runfix_open(&x, PHYSIM_ARCH_AARCH64, "aarch64-4k-48", PHYSIM_REGIME_GUEST, ng);
	tlbi_dsb(x.cpu, PHYSIM_TLBI_VALE1, XT(1, RUN_VA) | TTL(1, 2));
	assert_int_equal(run_survivors(&x).whole, 1);
	/* without an address the run goes whole */
	tlbi_dsb(x.cpu, PHYSIM_TLBI_ASIDE1, XT(1, 0));
	assert_int_equal(run_survivors(&x).n, 0);
	runfix_close(&x);

	/* breaking the run up (pages moved one by one, no TLBI): the audit
	 * reports the run entry */
	runfix_open(&x, PHYSIM_ARCH_AARCH64, "aarch64-4k-48", PHYSIM_REGIME_GUEST, ng);
	assert_int_equal(physim_pt_unmap_region(x.pt, RUN_VA, RUN_SZ), 0);
	remap_run_pages(&x, ng);
	assert_int_equal(physim_machine_audit(x.m), 1);
	assert_int_equal(x.nrep, 1);
	assert_int_equal(x.rep_size, RUN_SZ);
	runfix_close(&x);
}

static void test_runs_rv_napot(void **state)
{
	(void)state;
	struct runfix x;
	runfix_open(&x, PHYSIM_ARCH_RISCV64, "sv48", PHYSIM_REGIME_HOST, 0);
	struct runsurv s = run_survivors(&x);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.whole, 1);
	/* SFENCE.VMA rs1 = page 3 of the 64 KiB NAPOT page: that 4 KiB goes */
	uint64_t rs1 = RUN_VA + 0x3000, rs2 = 1;
	assert_int_equal(physim_rv_sfence_vma(x.cpu, &rs1, &rs2), 0);
	assert_int_equal(run_survivors(&x).pages, 0xFFFF & ~(1u << 3));
	/* an SBI remote fence of the whole range removes the rest */
	assert_int_equal(
	    physim_sbi_rfence(x.cpu, PHYSIM_SBI_REMOTE_SFENCE_VMA, 1, 0, RUN_VA, RUN_SZ, 0), 0);
	assert_int_equal(run_survivors(&x).n, 0);
	runfix_close(&x);
}

static void test_runs_armv7_large_page(void **state)
{
	(void)state;
	struct runfix x;
	runfix_open(&x, PHYSIM_ARCH_AARCH64, "armv7-short", PHYSIM_REGIME_GUEST, 0);
	struct runsurv s = run_survivors(&x);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.whole, 1);
	/* one TLB entry (Arm ARM G5.4): any of its addresses removes it */
	tlbi_dsb(x.cpu, PHYSIM_TLBI_VAAE1, XT(0, RUN_VA + 0x9000));
	assert_int_equal(run_survivors(&x).n, 0);
	runfix_close(&x);
}

/* ---- break-before-make on a Contiguous run ----
 *
 * The oracle: Arm ARM DDI 0487 M.a.a D8.17.1 (break-before-make is needed
 * to change the output address, the memory type or the Contiguous bit of a
 * valid descriptor; only AP, AF, DBM, nG and XN may change live) and D8.7.1
 * "The Contiguous bit" (a run's descriptors map consecutive output
 * addresses with the same attributes): a descriptor of a cached run changed
 * while valid is a violation whichever page the invalidation then names;
 * breaking the whole run, invalidating each of its pages and completing
 * with DSB before the make is clean. */

/* The descriptor of page i of the run, and its address. */
static uint64_t *run_desc(struct runfix *x, unsigned i, uint64_t *pa)
{
	struct physim_walk_trace t;
	struct physim_xlate xl;
	assert_int_equal(
	    physim_mmu_trace(x->mmu, &(struct physim_access){.va = RUN_VA + i * 4096, .user = true},
			     PHYSIM_TRACE_PROBE, &xl, &t),
	    0);
	for (unsigned k = 0; k < t.n; k++) {
		if (t.steps[k].decision == PHYSIM_WALK_LEAF) {
			*pa = t.steps[k].addr;
			return x->ph->phys_to_virt(x->ph->ctx, t.steps[k].addr);
		}
	}
	fail();
	return NULL;
}

#define A64_CONT_BIT (UINT64_C(1) << 52)
#define A64_AP_RO    (UINT64_C(1) << 7) /* AP[2]: read-only */

static void bbm_run_case(unsigned changed, unsigned named, uint64_t flip, bool expect)
{
	const uint64_t ng = UINT64_C(1) << 11;
	struct runfix x;
	runfix_open_ex(&x, PHYSIM_ARCH_AARCH64, "aarch64-4k-48", PHYSIM_REGIME_GUEST, ng, true);
	uint64_t pa;
	uint64_t *d = run_desc(&x, changed, &pa);
	uint64_t old = *d;
	assert_true(old & A64_CONT_BIT);
	*d = old ^ flip; /* a live valid-to-valid change of one descriptor */
	tlbi_dsb(x.cpu, PHYSIM_TLBI_VAE1IS, XT(1, RUN_VA + named * 4096));
	assert_int_equal(x.nbbm, expect ? 1 : 0);
	if (expect) {
		assert_int_equal(x.last.kind, PHYSIM_REPORT_BBM);
		assert_int_equal(x.last.addr, pa);
		assert_int_equal(x.last.desc_old, old);
		assert_int_equal(x.last.desc_new, old ^ flip);
		assert_int_equal(x.last.entry.page_size, RUN_SZ);
		assert_non_null(strstr(x.text, "Contiguous"));
		print_message("%s\n", x.text);
	}
	/* the pieces left remember their own descriptors: invalidating them
	 * all does not report the same change again */
	for (unsigned i = 0; i < 16; i++)
		tlbi_dsb(x.cpu, PHYSIM_TLBI_VAE1IS, XT(1, RUN_VA + i * 4096));
	assert_int_equal(x.nbbm, expect ? 1 : 0);
	*d = old;
	runfix_close(&x);
}

static void test_bbm_contiguous_run(void **state)
{
	(void)state;
	/* page 3's output address moved by 1 MiB while valid, page 3 invalidated */
	bbm_run_case(3, 3, UINT64_C(0x100000), true);
	/* ... page 0 invalidated: the run entry was made from page 3's too */
	bbm_run_case(3, 0, UINT64_C(0x100000), true);
	/* the Contiguous bit cleared on one descriptor while valid */
	bbm_run_case(7, 7, A64_CONT_BIT, true);
	/* a memory-type change (AttrIndx[2:0], bits 4:2) */
	bbm_run_case(9, 2, UINT64_C(1) << 2, true);
	/* a permission change may be made live (D8.17.1) */
	bbm_run_case(5, 5, A64_AP_RO, false);

	/* the engine's partial unmap rewrites the run as separate pages (the
	 * Contiguous bit cleared on all sixteen while valid) before it unmaps
	 * the page: a violation on live tables */
	const uint64_t ng = UINT64_C(1) << 11;
	struct runfix x;
	runfix_open_ex(&x, PHYSIM_ARCH_AARCH64, "aarch64-4k-48", PHYSIM_REGIME_GUEST, ng, true);
	assert_int_equal(physim_pt_unmap_region(x.pt, RUN_VA + 0x3000, 4096), 0);
	tlbi_dsb(x.cpu, PHYSIM_TLBI_VAE1IS, XT(1, RUN_VA + 0x3000));
	assert_int_equal(x.nbbm, 1);
	assert_int_equal(x.last.desc_old & ~A64_CONT_BIT, x.last.desc_new);
	print_message("%s\n", x.text);
	runfix_close(&x);

	/* the correct sequence: the whole run broken, each page invalidated,
	 * DSB, then the new pages: clean */
	runfix_open_ex(&x, PHYSIM_ARCH_AARCH64, "aarch64-4k-48", PHYSIM_REGIME_GUEST, ng, true);
	assert_int_equal(physim_pt_unmap_region(x.pt, RUN_VA, RUN_SZ), 0);
	for (uint64_t a = RUN_VA; a < RUN_VA + RUN_SZ; a += 4096)
		assert_int_equal(physim_arm_tlbi(x.cpu, PHYSIM_TLBI_VAE1IS, XT(1, a)), 0);
	physim_arm_dsb(x.cpu);
	remap_run_pages(&x, ng);
	tlbi_dsb(x.cpu, PHYSIM_TLBI_VMALLE1IS, 0);
	assert_int_equal(x.nbbm, 0);
	assert_int_equal(run_survivors(&x).n, 0);
	runfix_close(&x);

	/* a break of only the first page, the other fifteen invalidated too
	 * late: page 0 broken and invalidated, every descriptor rewritten, and
	 * only then page 5 invalidated - reported on page 5's piece */
	runfix_open_ex(&x, PHYSIM_ARCH_AARCH64, "aarch64-4k-48", PHYSIM_REGIME_GUEST, ng, true);
	assert_int_equal(physim_pt_unmap_region(x.pt, RUN_VA, RUN_SZ), 0);
	tlbi_dsb(x.cpu, PHYSIM_TLBI_VAE1IS, XT(1, RUN_VA));
	assert_int_equal(x.nbbm, 0);
	remap_run_pages(&x, ng);
	tlbi_dsb(x.cpu, PHYSIM_TLBI_VAE1IS, XT(1, RUN_VA + 0x5000));
	assert_int_equal(x.nbbm, 1);
	assert_int_equal(x.last.entry.va, RUN_VA + 0x5000);
	assert_int_equal(x.last.entry.page_size, 4096);
	runfix_close(&x);
}

/* The longest run: 16K granule, level 3, 128 descriptors of 16 KiB (2 MiB;
 * Arm ARM DDI 0487 M.a.a D8.7.1, the Contiguous bit's run lengths): one
 * moved while valid (descriptor 100) is found by a TLBI of page 0, and the
 * 127 pieces left keep their own descriptors. */
static void test_bbm_contiguous_run_16k(void **state)
{
	(void)state;
	const uint64_t va = UINT64_C(0x40000000), pa = RAM_BASE + 0x400000, sz = 2 * MiB;
	struct runfix x = {0};
	assert_int_equal(
	    physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE},
			      &x.ram),
	    0);
	x.ph = physim_ram_paging_handler(x.ram);
	assert_int_equal(physim_pt_create(physim_format("aarch64-16k-47"), x.ph, &x.pt), 0);
	assert_int_equal(physim_pt_map(x.pt, va, pa, sz, URW), 0);
	struct physim_mmu_config c = {
	    .format = physim_pt_format(x.pt), .mem = x.ph, .root = physim_pt_root(x.pt)};
	assert_int_equal(physim_mmu_create(&c, &x.mmu), 0);
	assert_int_equal(
	    physim_machine_create(&(struct physim_machine_config){.arch = PHYSIM_ARCH_AARCH64,
								  .ncpus = 1,
								  .check_bbm = true,
								  .on_report = run_report,
								  .report_ctx = &x},
				  &x.m),
	    0);
	x.cpu = physim_machine_cpu(x.m, 0);
	struct physim_cpu_context cc = {.s1 = x.mmu, .regime = PHYSIM_REGIME_GUEST, .asid = 1};
	assert_int_equal(physim_cpu_set_context(x.cpu, &cc), 0);
	struct physim_xlate xl;
	struct physim_access a = {.va = va + 0x5000, .user = true};
	assert_int_equal(physim_cpu_translate(x.cpu, &a, &xl), 0);
	assert_int_equal(xl.page_size, sz);
	struct physim_walk_trace t;
	a.va = va + 100 * 0x4000;
	assert_int_equal(physim_mmu_trace(x.mmu, &a, PHYSIM_TRACE_PROBE, &xl, &t), 0);
	uint64_t at = t.steps[t.n - 1].addr;
	assert_int_equal(t.steps[t.n - 1].decision, PHYSIM_WALK_LEAF);
	uint64_t *d = x.ph->phys_to_virt(x.ph->ctx, at), old = *d;
	assert_int_equal(old & UINT64_C(0x0000FFFFFFFFC000), pa + 100 * 0x4000);
	*d = old + 0x200000; /* another output address, still valid */
	tlbi_dsb(x.cpu, PHYSIM_TLBI_VAE1, XT(1, va));
	assert_int_equal(x.nbbm, 1);
	assert_int_equal(x.last.addr, at);
	assert_int_equal(x.last.desc_old, old);
	struct physim_cpu_stats st = physim_cpu_stats(x.cpu);
	assert_int_equal(st.entries, 127);
	tlbi_dsb(x.cpu, PHYSIM_TLBI_VAE1, XT(1, va + 100 * 0x4000));
	assert_int_equal(x.nbbm, 1); /* reported once */
	*d = old;
	runfix_close(&x);
}

/* The remedies' record is shared between CPUs' threads: one PE issues
 * TLBI VAE1IS + DSB for A in a loop while another keeps hitting its stale
 * entry for B, each hit reported with a remedy that reads every PE's record
 * (run under ThreadSanitizer in CI). */
struct remedy_thr {
	struct fix *f;
	unsigned n;
};

static void *issue_loop(void *arg)
{
	struct remedy_thr *t = arg;
	struct physim_cpu *c = physim_machine_cpu(t->f->m, 0);
	for (unsigned i = 0; i < t->n; i++) {
		if (physim_arm_tlbi(c, PHYSIM_TLBI_VAE1IS, XT(1, VA_A)) != 0)
			return (void *)1;
		physim_arm_dsb(c);
	}
	return NULL;
}

static void *hit_loop(void *arg)
{
	struct remedy_thr *t = arg;
	struct physim_cpu *c = physim_machine_cpu(t->f->m, 1);
	for (unsigned i = 0; i < t->n; i++) {
		struct physim_xlate x;
		if (physim_cpu_translate(c, &(struct physim_access){.va = VA_B, .user = true},
					 &x) != 0)
			return (void *)1;
	}
	return NULL;
}

static void test_remedy_threads(void **state)
{
	(void)state;
	struct archfix af = arm_fix;
	af.check_stale = true;
	struct fix f;
	fix_open(&f, &af);
	for (unsigned c = 0; c < 2; c++)
		populate(&f, physim_machine_cpu(f.m, c));
	load(&f, physim_machine_cpu(f.m, 0), &af.ctx[0]);
	load(&f, physim_machine_cpu(f.m, 1), &af.ctx[0]);
	assert_int_equal(physim_pt_unmap(f.s1pt, VA_B, NULL), 0);
	map(f.s1pt, VA_B, PA_B + 0x200000, af.nonglobal_arch);
	struct remedy_thr t = {.f = &f, .n = 500};
	pthread_t a, b;
	assert_int_equal(pthread_create(&a, NULL, issue_loop, &t), 0);
	assert_int_equal(pthread_create(&b, NULL, hit_loop, &t), 0);
	void *ra, *rb;
	assert_int_equal(pthread_join(a, &ra), 0);
	assert_int_equal(pthread_join(b, &rb), 0);
	assert_null(ra);
	assert_null(rb);
	assert_true(f.nrep > 0);
	const struct physim_cpu_report *r = &f.rep[f.nrep - 1];
	assert_int_equal(r->cpu, 1);
	assert_int_equal(r->entry.va, VA_B);
	/* whether A's TLBIs came before the report or not, the text names
	 * what B's entry needs */
	assert_non_null(strstr(r->remedy, "needed: TLBI VAE1IS"));
	fix_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_x86_oracle),
	    cmocka_unit_test(test_arm_oracle),
	    cmocka_unit_test(test_rv_oracle),
	    cmocka_unit_test(test_la_oracle),
	    cmocka_unit_test(test_x86_walk_oracle),
	    cmocka_unit_test(test_arm_walk_oracle),
	    cmocka_unit_test(test_rv_walk_oracle),
	    cmocka_unit_test(test_remedies),
	    cmocka_unit_test(test_vhe_oracle),
	    cmocka_unit_test(test_vhe_context_checks),
	    cmocka_unit_test(test_runs_arm_contiguous),
	    cmocka_unit_test(test_runs_rv_napot),
	    cmocka_unit_test(test_runs_armv7_large_page),
	    cmocka_unit_test(test_remedy_threads),
	    cmocka_unit_test(test_bbm_contiguous_run),
	    cmocka_unit_test(test_bbm_contiguous_run_16k),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
