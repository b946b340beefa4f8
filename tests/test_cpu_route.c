/* SPDX-License-Identifier: MIT */
/* tests/test_cpu_route.c - physim_cpu_flusher (a table's flush callback
 * routed to each architecture's invalidation instructions) and the machine's
 * audit_on_complete: map / remap / protect / free-table sequences on several
 * CPUs stay clean with the router, and the same with a local-only router or
 * a leaf-only fence after a freed table are reported. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <physim/aspace.h>
#include <physim/cpu.h>
#include <physim/ram.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/env.h"

#define MiB	 UINT64_C(0x100000)
#define RAM_BASE UINT64_C(0x80000000)
#define RAM_SIZE (32 * MiB)
#define URWX	 (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U)
#define URW	 (PHYSIM_R | PHYSIM_W | PHYSIM_U)
#define NCPUS	 3u

#define VA_A  UINT64_C(0x400000)
#define VA_B  UINT64_C(0x40000000) /* another 1 GiB: its tables go when B does */
#define PA_A  (RAM_BASE + 0x100000)
#define PA_A2 (RAM_BASE + 0x200000)
#define PA_B  (RAM_BASE + 0x300000)
/* stage-2 tests: a GPA 2 MiB block at the top of RAM that no table uses */
#define GPA_TOP (RAM_BASE + RAM_SIZE - 2 * MiB)
#define VA_C	UINT64_C(0x800000)

struct reports {
	int n, n_use, n_audit, n_freed;
	unsigned cpus; /* bit i: a report named CPU i (i < 32) */
	struct physim_cpu_report last;
	char text[1024];
};

static void on_report(void *ctx, const struct physim_cpu_report *r)
{
	struct reports *l = ctx;
	l->n++;
	l->n_use += r->kind == PHYSIM_REPORT_STALE_USE;
	l->n_audit += r->kind == PHYSIM_REPORT_STALE_ENTRY;
	l->n_freed += r->kind == PHYSIM_REPORT_FREED_IN_USE;
	if (r->cpu < 32)
		l->cpus |= 1u << r->cpu;
	l->last = *r;
	physim_cpu_report_format(r, l->text, sizeof(l->text));
}

struct env {
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
	struct physim_pt *s1pt, *s2pt;
	struct physim_mmu *s1, *s2;
	struct physim_machine *m;
	struct physim_cpu_flusher *fl;
	struct reports rep;
	bool ex; /* routed_pt: physim_cpu_flusher_fn_ex as flush_ex (else _fn as flush) */
};

static struct env *env_new(enum physim_arch arch, bool audit_on_complete)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	assert_int_equal(
	    physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE},
			      &e->ram),
	    0);
	e->ph = physim_ram_paging_handler(e->ram);
	struct physim_machine_config c = {.arch = arch,
					  .ncpus = NCPUS,
					  .check_stale = true,
					  .walk_caches = true,
					  .on_report = on_report,
					  .report_ctx = &e->rep,
					  .audit_on_complete = audit_on_complete};
	assert_int_equal(physim_machine_create(&c, &e->m), 0);
	return e;
}

/* The tables first, then the flusher (its paging handler may fence on the
 * machine's CPUs when a table frame comes back), then the machine. */
static void env_free(struct env *e)
{
	physim_pt_destroy(e->s1pt);
	physim_pt_destroy(e->s2pt);
	physim_cpu_flusher_destroy(e->fl);
	physim_machine_destroy(e->m);
	physim_mmu_destroy(e->s1);
	physim_mmu_destroy(e->s2);
	assert_int_equal(physim_ram_stats(e->ram).used_frames, 0);
	physim_ram_destroy(e->ram);
	free(e);
}

static struct physim_cpu *cpu(struct env *e, unsigned i)
{
	return physim_machine_cpu(e->m, i);
}

/* A table routed to the flusher (through its paging handler when hold). */
static struct physim_pt *routed_pt(struct env *e, const char *fmt, bool hold)
{
	struct physim_pt *pt;
	const struct physim_paging_handler *ph =
	    hold ? physim_cpu_flusher_paging_handler(e->fl, e->ph) : e->ph;
	assert_non_null(ph);
	struct physim_pt_config c = {.format = physim_format(fmt),
				     .paging = ph,
				     .flush = e->ex ? NULL : physim_cpu_flusher_fn,
				     .flush_ex = e->ex ? physim_cpu_flusher_fn_ex : NULL,
				     .flush_ctx = e->fl};
	assert_non_null(c.format);
	assert_int_equal(physim_pt_create_ex(&c, &pt), 0);
	return pt;
}

/* The flusher of fc, and a table of fmt routed to it with its mmu. */
static void route(struct env *e, const struct physim_cpu_flusher_config *fc, const char *fmt,
		  bool hold, struct physim_pt **pt, struct physim_mmu **mmu)
{
	assert_int_equal(physim_cpu_flusher_create(fc, &e->fl), 0);
	*pt = routed_pt(e, fmt, hold);
	*mmu = tc_mmu_of(e->ph, *pt);
}

static int acc(struct env *e, unsigned i, uint64_t va, bool write, uint64_t *pa)
{
	struct physim_xlate x;
	int rc = physim_cpu_translate(
	    cpu(e, i), &(struct physim_access){.va = va, .write = write, .user = true}, &x);
	if (rc == 0 && pa != NULL)
		*pa = x.pa;
	return rc;
}

static void expect_pa(struct env *e, uint64_t va, bool write, uint64_t want)
{
	for (unsigned i = 0; i < NCPUS; i++) {
		uint64_t pa = 0;
		assert_int_equal(acc(e, i, va, write, &pa), 0);
		assert_int_equal(pa, want);
	}
}

/* Faults on every CPU; returns how many of them did. */
static unsigned count_faults(struct env *e, uint64_t va, bool write)
{
	unsigned n = 0;
	for (unsigned i = 0; i < NCPUS; i++)
		n += acc(e, i, va, write, NULL) == -EFAULT;
	return n;
}

/* ---- stage 1 ---- */

struct s1_case {
	enum physim_arch arch;
	const char *fmt;
	enum physim_regime regime;
	uint16_t asid;
	bool global;	/* the flusher's `global` */
	bool no_global; /* the flusher's `no_global` */
	bool svinval;
};

/* physim_pt_map's Arm leaves are global (nG clear): the second Arm case
 * leaves `global` unsaid, which must be safe (VMALLE1IS for `all`). The
 * EL2&0 case is a VHE host's own table. */
static const struct s1_case s1_cases[] = {
    {PHYSIM_ARCH_X86_64, "x86_64-4l", PHYSIM_REGIME_HOST, 0, false, false, false},
    {PHYSIM_ARCH_AARCH64, "aarch64-4k-48", PHYSIM_REGIME_GUEST, 5, true, false, false},
    {PHYSIM_ARCH_AARCH64, "aarch64-4k-48", PHYSIM_REGIME_GUEST, 5, false, false, false},
    {PHYSIM_ARCH_AARCH64, "aarch64-4k-48", PHYSIM_REGIME_HOST_E20, 5, false, false, false},
    {PHYSIM_ARCH_RISCV64, "sv48", PHYSIM_REGIME_HOST, 5, false, false, false},
    {PHYSIM_ARCH_RISCV64, "sv48", PHYSIM_REGIME_HOST, 5, false, false, true},
    {PHYSIM_ARCH_LOONGARCH64, "loongarch64-4k-48", PHYSIM_REGIME_HOST, 5, false, false, false},
};

/* 64 pages: a change to all of them is reported as `all` (more than 32) */
#define VA_R   UINT64_C(0x800000)
#define PA_R   (RAM_BASE + 0x400000)
#define R_SIZE (64 * UINT64_C(4096))

struct outcome {
	int reports;
	long audit;
	unsigned faults_b; /* CPUs faulting on B after its unmap */
	unsigned faults_w; /* CPUs faulting on a write to A after protect */
	unsigned faults_r; /* ... to R's last page after protecting R (`all`) */
	struct physim_cpu_flusher_stats st;
};

/* Every CPU runs the table's space; CPU 0 changes the table (its flushes
 * issued there): remap A, write-protect A, write-protect the 64 pages of R
 * (one `all` flush), unmap B (freeing the tables under B's 1 GiB). */
static struct outcome run_s1x(const struct s1_case *k, bool local, bool hold, bool ex)
{
	struct env *e = env_new(k->arch, false);
	e->ex = ex;
	struct physim_cpu_flusher_config fc = {.cpu = cpu(e, 0),
					       .table = PHYSIM_FLUSH_STAGE1,
					       .regime = k->regime,
					       .asid = k->asid,
					       .global = k->global,
					       .no_global = k->no_global,
					       .svinval = k->svinval,
					       .local = local};
	route(e, &fc, k->fmt, hold, &e->s1pt, &e->s1);
	struct physim_cpu_context ctx = {.s1 = e->s1, .regime = k->regime, .asid = k->asid};
	for (unsigned i = 0; i < NCPUS; i++)
		assert_int_equal(physim_cpu_set_context(cpu(e, i), &ctx), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A, 4096, URWX), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_B, PA_B, 4096, URWX), 0);
	assert_int_equal(physim_pt_map_region(e->s1pt, VA_R, PA_R, R_SIZE, URWX, 0), 0);
	expect_pa(e, VA_A, true, PA_A);
	expect_pa(e, VA_B, false, PA_B);
	expect_pa(e, VA_R + R_SIZE - 4096, true, PA_R + R_SIZE - 4096);

	assert_int_equal(physim_pt_unmap(e->s1pt, VA_A, NULL), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A2, 4096, URWX), 0);
	for (unsigned i = 0; i < NCPUS; i++)
		(void)acc(e, i, VA_A, true, NULL);
	assert_int_equal(physim_pt_protect(e->s1pt, VA_A, PHYSIM_R | PHYSIM_U), 0);
	assert_int_equal(physim_pt_protect_region(e->s1pt, VA_R, R_SIZE, PHYSIM_R | PHYSIM_U), 0);
	expect_pa(e, VA_B, false, PA_B); /* B's walk-cache entries again (`all` took them) */
	assert_int_equal(physim_pt_unmap(e->s1pt, VA_B, NULL), 0);

	struct outcome o = {0};
	o.faults_w = count_faults(e, VA_A, true);
	o.faults_r = count_faults(e, VA_R + R_SIZE - 4096, true);
	o.faults_b = count_faults(e, VA_B, false);
	o.audit = physim_machine_audit(e->m);
	o.reports = e->rep.n;
	o.st = physim_cpu_flusher_stats(e->fl);
	if (o.reports)
		fprintf(stderr, "# %s%s%s%s: %d reports, last: %s\n", k->fmt, local ? " local" : "",
			hold ? "" : " (frees not held)", ex ? " (flush_ex)" : "", o.reports,
			e->rep.text);
	env_free(e);
	return o;
}

static struct outcome run_s1(const struct s1_case *k, bool local, bool hold)
{
	return run_s1x(k, local, hold, false);
}

static void test_s1_routed_clean(void **state)
{
	(void)state;
	for (size_t i = 0; i < 2 * sizeof(s1_cases) / sizeof(s1_cases[0]); i++) {
		/* the old flush callback, then flush_ex */
		size_t ncase = sizeof(s1_cases) / sizeof(s1_cases[0]);
		struct outcome o = run_s1x(&s1_cases[i % ncase], false, true, i >= ncase);
		assert_int_equal(o.reports, 0);
		assert_int_equal(o.audit, 0);
		assert_int_equal(o.faults_w, NCPUS);
		assert_int_equal(o.faults_r, NCPUS);
		assert_int_equal(o.faults_b, NCPUS);
		assert_int_equal(o.st.first_error, 0);
		assert_true(o.st.calls >= 5);
		/* B's last-level and middle tables went, after the flush */
		assert_true(o.st.tables_freed >= 2);
	}
}

/* The local-only flush: the other CPUs keep A's old translation and B's. */
static void test_s1_local_reported(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(s1_cases) / sizeof(s1_cases[0]); i++) {
		struct outcome o = run_s1(&s1_cases[i], true, true);
		assert_true(o.reports > 0);
		/* CPU 0 faults; the others hit their stale entries */
		assert_int_equal(o.faults_w, 1);
		assert_int_equal(o.faults_r, 1);
		assert_int_equal(o.faults_b, 1);
	}
}

/* Without the flusher's paging handler, through the old flush callback,
 * the flusher cannot tell that B's tables were freed: RISC-V then fences B
 * with rs1 = B, which orders only leaf PTEs, and the walk-cache entries
 * pointing at the freed tables stay (reported). The other families'
 * per-address forms are not last-level only (INVLPG / INVPCID: the PCID's
 * paging-structure caches; TLBI VAE1IS; INVTLB 0x5), so they stay clean.
 * Through flush_ex the engine says tables went
 * (PHYSIM_PT_FLUSH_TABLES_FREED) and RISC-V fences rs1 = x0: clean too. */
static void test_s1_freed_table_nonleaf(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(s1_cases) / sizeof(s1_cases[0]); i++) {
		struct outcome o = run_s1(&s1_cases[i], false, false);
		assert_int_equal(o.st.tables_freed, 0);
		if (s1_cases[i].arch == PHYSIM_ARCH_RISCV64) {
			assert_true(o.reports > 0);
		} else {
			assert_int_equal(o.reports, 0);
			assert_int_equal(o.faults_b, NCPUS);
		}
		o = run_s1x(&s1_cases[i], false, false, true);
		assert_int_equal(o.st.tables_freed, 0);
		assert_int_equal(o.reports, 0);
		assert_int_equal(o.audit, 0);
		assert_int_equal(o.faults_b, NCPUS);
	}
}

/* ---- stage 2 ---- */

struct s2_case {
	enum physim_arch arch;
	const char *s1fmt, *s2fmt;
	bool svinval;
};

static const struct s2_case s2_cases[] = {
    {PHYSIM_ARCH_X86_64, "x86_64-4l", "ept-4l", false},
    {PHYSIM_ARCH_AARCH64, "aarch64-4k-48", "aarch64-s2-4k-48", false},
    {PHYSIM_ARCH_RISCV64, "sv48", "sv48x4", false},
    {PHYSIM_ARCH_RISCV64, "sv48", "sv48x4", true},
};

#define VMID 3
#define ASID 5

/* A guest (its stage-1 table in RAM, identity-mapped by stage 2) on every
 * CPU; CPU 0 changes stage 2: moves A's GPA, write-protects it, unmaps the
 * top 2 MiB of guest memory (freeing that stage-2 table). */
static struct outcome run_s2(const struct s2_case *k, bool local)
{
	struct env *e = env_new(k->arch, false);
	assert_int_equal(physim_pt_create(physim_format(k->s1fmt), e->ph, &e->s1pt), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A, 4096, URWX), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_C, GPA_TOP + 0x1000, 4096, URWX), 0);
	e->s1 = tc_mmu_of(e->ph, e->s1pt);
	struct physim_cpu_flusher_config fc = {.cpu = cpu(e, 0),
					       .table = PHYSIM_FLUSH_STAGE2,
					       .vmid = VMID,
					       .local = local,
					       .svinval = k->svinval};
	route(e, &fc, k->s2fmt, true, &e->s2pt, &e->s2);
	/* EPTP as the VMCS holds it: WB (2:0 = 6), a 4-level walk (5:3 = 3) */
	if (k->arch == PHYSIM_ARCH_X86_64)
		assert_int_equal(
		    physim_cpu_flusher_set_eptp(e->fl, physim_pt_root(e->s2pt) | 6u | 3u << 3), 0);
	struct physim_cpu_context ctx = {.s1 = e->s1,
					 .s2 = e->s2,
					 .regime = PHYSIM_REGIME_GUEST,
					 .asid = ASID,
					 .vmid = VMID,
					 .eptp = physim_pt_root(e->s2pt)};
	for (unsigned i = 0; i < NCPUS; i++)
		assert_int_equal(physim_cpu_set_context(cpu(e, i), &ctx), 0);
	assert_int_equal(physim_pt_map_region(e->s2pt, RAM_BASE, RAM_BASE, RAM_SIZE, URWX, 0), 0);
	expect_pa(e, VA_A, true, PA_A);
	expect_pa(e, VA_C, false, GPA_TOP + 0x1000);

	assert_int_equal(physim_pt_unmap(e->s2pt, PA_A, NULL), 0);
	assert_int_equal(physim_pt_map(e->s2pt, PA_A, PA_A2, 4096, URWX), 0);
	for (unsigned i = 0; i < NCPUS; i++)
		(void)acc(e, i, VA_A, true, NULL);
	assert_int_equal(physim_pt_protect(e->s2pt, PA_A, PHYSIM_R | PHYSIM_U), 0);
	assert_int_equal(physim_pt_unmap_region(e->s2pt, GPA_TOP, 2 * MiB), 0);

	struct outcome o = {0};
	o.faults_w = count_faults(e, VA_A, true);
	o.faults_b = count_faults(e, VA_C, false);
	o.audit = physim_machine_audit(e->m);
	o.reports = e->rep.n;
	o.st = physim_cpu_flusher_stats(e->fl);
	if (o.reports)
		fprintf(stderr, "# %s%s: %d reports, last: %s\n", k->s2fmt, local ? " local" : "",
			o.reports, e->rep.text);
	env_free(e);
	return o;
}

static void test_s2_routed_clean(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(s2_cases) / sizeof(s2_cases[0]); i++) {
		struct outcome o = run_s2(&s2_cases[i], false);
		assert_int_equal(o.reports, 0);
		assert_int_equal(o.audit, 0);
		assert_int_equal(o.faults_w, NCPUS);
		assert_int_equal(o.faults_b, NCPUS);
		assert_int_equal(o.st.first_error, 0);
		assert_true(o.st.tables_freed >= 1);
	}
}

static void test_s2_local_reported(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(s2_cases) / sizeof(s2_cases[0]); i++) {
		struct outcome o = run_s2(&s2_cases[i], true);
		assert_true(o.reports > 0);
		assert_int_equal(o.faults_w, 1);
		assert_int_equal(o.faults_b, 1);
	}
}

/* ---- audit at completion ---- */

/* Arm, three PEs: A is remapped with no invalidation at all (the planted
 * bug); PE 0 then invalidates B, unrelated. With audit_on_complete the
 * stale entry for A is reported at PE 0's DSB (not at the TLBI: it is not
 * complete before), naming PE 0, and on PE 1 when it applies the broadcast
 * at its next access. Without the flag nothing is reported until an
 * explicit audit. */
static void audit_scene(bool flag, bool fix, struct reports *out)
{
	struct env *e = env_new(PHYSIM_ARCH_AARCH64, flag);
	assert_int_equal(physim_pt_create(physim_format("aarch64-4k-48"), e->ph, &e->s1pt), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A, 4096, URWX), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_B, PA_B, 4096, URWX), 0);
	e->s1 = tc_mmu_of(e->ph, e->s1pt);
	struct physim_cpu_context ctx = {.s1 = e->s1, .regime = PHYSIM_REGIME_GUEST, .asid = ASID};
	for (unsigned i = 0; i < NCPUS; i++)
		assert_int_equal(physim_cpu_set_context(cpu(e, i), &ctx), 0);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(acc(e, i, VA_A, false, NULL), 0);
		assert_int_equal(acc(e, i, VA_B, false, NULL), 0);
	}
	assert_int_equal(physim_pt_unmap(e->s1pt, VA_A, NULL), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A2, 4096, URWX), 0);
	const uint64_t asid = (uint64_t)ASID << 48;
	if (fix)
		assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VAE1IS, asid | VA_A >> 12),
				 0);
	assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VAE1IS, asid | VA_B >> 12), 0);
	assert_int_equal(e->rep.n, 0); /* not complete before the DSB */
	physim_arm_dsb(cpu(e, 0));
	out[0] = e->rep;
	assert_int_equal(acc(e, 1, VA_B, false, NULL), 0); /* PE 1 applies the broadcast */
	out[1] = e->rep;
	physim_machine_audit(e->m); /* the explicit audit finds what is left */
	out[2] = e->rep;
	env_free(e);
}

static void test_audit_on_complete(void **state)
{
	(void)state;
	struct reports r[3];
	audit_scene(true, false, r);
	/* at PE 0's DSB: PE 0's entry for A, the remedy naming the TLBI */
	assert_int_equal(r[0].n_audit, 1);
	assert_int_equal(r[0].cpus, 1u << 0);
	assert_int_equal(r[0].last.entry.va, VA_A);
	assert_int_equal(r[0].last.entry.pa, PA_A);
	assert_int_equal(r[0].last.current.pa, PA_A2);
	assert_non_null(strstr(r[0].text, "TLBI"));
	/* at PE 1's next access: its own entry for A */
	assert_int_equal(r[1].n_audit, 2);
	assert_int_equal(r[1].cpus, 1u << 0 | 1u << 1);
	assert_int_equal(r[1].last.cpu, 1);
	assert_int_equal(r[1].last.entry.va, VA_A);

	/* the correct sequence: nothing at either completion nor after */
	audit_scene(true, true, r);
	assert_int_equal(r[2].n, 0);

	/* without the flag: silent until the explicit audit (both PEs) */
	audit_scene(false, false, r);
	assert_int_equal(r[1].n, 0);
	assert_int_equal(r[2].n_audit, 2);
}

/* An explicit audit applies the broadcasts still queued at each PE first;
 * with audit_on_complete that application is a completion too, but the
 * audit covers every entry anyway: each stale entry is reported once. PE 0
 * and PE 1 cache A; A is remapped with no invalidation; PE 0's unrelated
 * TLBI VAE1IS (B) + DSB reports PE 0's entry; PE 1 has not applied the
 * broadcast when the audit runs: it finds both entries, one report each. */
static void test_audit_once_with_pending(void **state)
{
	(void)state;
	struct env *e = env_new(PHYSIM_ARCH_AARCH64, true);
	assert_int_equal(physim_pt_create(physim_format("aarch64-4k-48"), e->ph, &e->s1pt), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A, 4096, URWX), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_B, PA_B, 4096, URWX), 0);
	e->s1 = tc_mmu_of(e->ph, e->s1pt);
	struct physim_cpu_context ctx = {.s1 = e->s1, .regime = PHYSIM_REGIME_GUEST, .asid = ASID};
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(physim_cpu_set_context(cpu(e, i), &ctx), 0);
		assert_int_equal(acc(e, i, VA_A, false, NULL), 0);
	}
	assert_int_equal(physim_pt_unmap(e->s1pt, VA_A, NULL), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A2, 4096, URWX), 0);
	const uint64_t asid = (uint64_t)ASID << 48;
	assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VAE1IS, asid | VA_B >> 12), 0);
	physim_arm_dsb(cpu(e, 0));
	assert_int_equal(e->rep.n_audit, 1);
	assert_int_equal(physim_machine_audit(e->m), 2);
	assert_int_equal(e->rep.n_audit, 3);
	env_free(e);
}

/* The address space passes its flush hook to its stage-2 table, so the
 * flusher routes an aspace's changes too: the PEs run a stage-2-only
 * context of VMID 3 over an aspace; the hypervisor unmaps a linear area and
 * maps it again elsewhere. Routed (TLBI IPAS2E1IS + DSB + VMALLE1IS + DSB,
 * Arm ARM D8.17.6.1): the audit is clean and every PE sees the new frames.
 * Without a flush hook: every PE's stage-2 entries are stale. */
static void test_aspace_routed(void **state)
{
	(void)state;
	const uint64_t gpa = UINT64_C(0x40000000), size = 0x10000;
	for (int routed = 0; routed <= 1; routed++) {
		struct env *e = env_new(PHYSIM_ARCH_AARCH64, false);
		if (routed)
			assert_int_equal(
			    physim_cpu_flusher_create(
				&(struct physim_cpu_flusher_config){
				    .cpu = cpu(e, 0), .table = PHYSIM_FLUSH_STAGE2, .vmid = VMID},
				&e->fl),
			    0);
		struct physim_aspace *as;
		struct physim_aspace_config ac = {
		    .format = physim_format("aarch64-s2-4k-40"),
		    .paging = routed ? physim_cpu_flusher_paging_handler(e->fl, e->ph) : e->ph,
		    .mm = physim_ram_mm_hal(e->ram),
		    .base = 0,
		    .size = UINT64_C(1) << 32,
		    .flush = routed ? physim_cpu_flusher_fn : NULL,
		    .flush_ctx = e->fl};
		assert_non_null(ac.paging);
		assert_int_equal(physim_aspace_create(&ac, &as), 0);
		struct physim_mmu_config mc = {
		    .format = ac.format, .mem = e->ph, .root = physim_aspace_root(as)};
		assert_int_equal(physim_mmu_create(&mc, &e->s2), 0);
		/* The PEs run VMID 3 before the first change (with no context
		 * loaded the flusher would write PE 0's VMID register for its
		 * TLBIs: test_no_context_vmid). */
		struct physim_cpu_context ctx = {
		    .s2 = e->s2, .regime = PHYSIM_REGIME_GUEST, .vmid = VMID};
		for (unsigned i = 0; i < NCPUS; i++)
			assert_int_equal(physim_cpu_set_context(cpu(e, i), &ctx), 0);
		assert_int_equal(physim_aspace_map_linear(as, gpa, PA_A, size, URW), 0);
		for (uint64_t off = 0; off < size; off += 4096)
			expect_pa(e, gpa + off, false, PA_A + off);
		assert_int_equal(physim_aspace_unmap(as, gpa, size), 0);
		assert_int_equal(physim_aspace_map_linear(as, gpa, PA_A2, size, URW), 0);
		long stale = physim_machine_audit(e->m);
		if (routed) {
			assert_int_equal(stale, 0);
			assert_int_equal(e->rep.n, 0);
			for (uint64_t off = 0; off < size; off += 4096)
				expect_pa(e, gpa + off, false, PA_A2 + off);
			assert_int_equal(e->rep.n, 0);
			assert_int_equal(physim_cpu_flusher_stats(e->fl).first_error, 0);
		} else {
			/* every PE holds the old frames (one entry per page, or
			 * per contiguous run where the area got one) */
			assert_true(stale >= NCPUS);
			assert_int_equal(e->rep.cpus, (1u << NCPUS) - 1);
		}
		physim_aspace_destroy(as);
		env_free(e);
	}
}

/* x86: an INVLPG completes at once, so the audit runs right after it; the
 * stale entry is reported by the INVLPG of an unrelated page. */
static void test_audit_on_complete_x86(void **state)
{
	(void)state;
	struct env *e = env_new(PHYSIM_ARCH_X86_64, true);
	assert_int_equal(physim_pt_create(physim_format("x86_64-4l"), e->ph, &e->s1pt), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A, 4096, URWX), 0);
	e->s1 = tc_mmu_of(e->ph, e->s1pt);
	struct physim_cpu_context ctx = {.s1 = e->s1};
	assert_int_equal(physim_cpu_set_context(cpu(e, 2), &ctx), 0);
	assert_int_equal(acc(e, 2, VA_A, false, NULL), 0);
	assert_int_equal(physim_pt_protect(e->s1pt, VA_A, PHYSIM_R | PHYSIM_U), 0);
	assert_int_equal(physim_x86_invlpg(cpu(e, 2), VA_B), 0);
	assert_int_equal(e->rep.n_audit, 1);
	assert_int_equal(e->rep.last.cpu, 2);
	assert_non_null(strstr(e->rep.text, "INVLPG"));
	/* the right INVLPG removes it; its own audit is clean */
	assert_int_equal(physim_x86_invlpg(cpu(e, 2), VA_A), 0);
	assert_int_equal(e->rep.n, 1);
	env_free(e);
}

/* Threads: PE 0 invalidates (TLBI VAE1IS + DSB) and PE 1 translates, each on
 * its own thread, with audit_on_complete: each PE audits only its own
 * entries (PE 1 when it applies PE 0's broadcasts), so nothing races (run
 * under ThreadSanitizer in CI) and, the tables unchanged, nothing is
 * reported. */
#define THREAD_PAGES 32u
#define THREAD_ITERS 400u

struct thread_arg {
	struct env *e;
	unsigned cpu;
	int rc;
};

static void *thread_body(void *p)
{
	struct thread_arg *a = p;
	for (unsigned i = 0; i < THREAD_ITERS && a->rc == 0; i++) {
		uint64_t va = VA_R + (i % THREAD_PAGES) * 4096;
		a->rc = acc(a->e, a->cpu, va, false, NULL);
		if (a->rc == 0 && a->cpu == 0) {
			a->rc = physim_arm_tlbi(cpu(a->e, 0), PHYSIM_TLBI_VAE1IS,
						(uint64_t)ASID << 48 | va >> 12);
			physim_arm_dsb(cpu(a->e, 0));
		}
	}
	return NULL;
}

static void test_audit_on_complete_threads(void **state)
{
	(void)state;
	struct env *e = env_new(PHYSIM_ARCH_AARCH64, true);
	assert_int_equal(physim_pt_create(physim_format("aarch64-4k-48"), e->ph, &e->s1pt), 0);
	assert_int_equal(
	    physim_pt_map_region(e->s1pt, VA_R, PA_R, THREAD_PAGES * UINT64_C(4096), URWX, 0), 0);
	e->s1 = tc_mmu_of(e->ph, e->s1pt);
	struct physim_cpu_context ctx = {.s1 = e->s1, .regime = PHYSIM_REGIME_GUEST, .asid = ASID};
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(physim_cpu_set_context(cpu(e, i), &ctx), 0);
	struct thread_arg args[2] = {{e, 0, 0}, {e, 1, 0}};
	pthread_t th[2];
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, thread_body, &args[i]), 0);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(args[0].rc, 0);
	assert_int_equal(args[1].rc, 0);
	assert_int_equal(e->rep.n, 0);
	assert_true(physim_cpu_stats(cpu(e, 0)).invalidations >= THREAD_ITERS);
	env_free(e);
}

/* ---- break-before-free ---- */

/* The engine unlinks an emptied table, reports the flush and only then
 * frees the frames (lib/pt-edit.c). Behind the machine's break-before-free
 * check (walk caches on, three CPUs in the table's space), unmapping B
 * empties B's last-level and middle tables: with a correct flush callback
 * no frame is freed while a walk cache still references it. x86 (INVLPG /
 * INVPCID), Arm (TLBI VAE1IS + DSB) and LoongArch (INVTLB) invalidate
 * non-leaf entries with their per-address forms, so the plain flusher
 * suffices; RISC-V fences B with rs1 != x0, which orders only leaf PTEs,
 * so it needs to know a table went: the flusher's paging handler (hold)
 * tells it. `range` unmaps B's whole 1 GiB (the free_subtree path) instead
 * of B's page (the emptied-table path). Returns the FREED_IN_USE reports. */
static int run_free(const struct s1_case *k, bool hold, bool ex, bool range, long *held)
{
	struct env *e = env_new(k->arch, false);
	struct physim_cpu_flusher_config fc = {.cpu = cpu(e, 0),
					       .table = PHYSIM_FLUSH_STAGE1,
					       .regime = k->regime,
					       .asid = k->asid,
					       .global = k->global};
	assert_int_equal(physim_cpu_flusher_create(&fc, &e->fl), 0);
	const struct physim_paging_handler *checked = physim_machine_paging_handler(e->m, e->ph);
	assert_non_null(checked);
	struct physim_pt_config c = {
	    .format = physim_format(k->fmt),
	    .paging = hold ? physim_cpu_flusher_paging_handler(e->fl, checked) : checked,
	    .flush = ex ? NULL : physim_cpu_flusher_fn,
	    .flush_ex = ex ? physim_cpu_flusher_fn_ex : NULL,
	    .flush_ctx = e->fl};
	assert_int_equal(physim_pt_create_ex(&c, &e->s1pt), 0);
	e->s1 = tc_mmu_of(e->ph, e->s1pt);
	struct physim_cpu_context ctx = {.s1 = e->s1, .regime = k->regime, .asid = k->asid};
	for (unsigned i = 0; i < NCPUS; i++)
		assert_int_equal(physim_cpu_set_context(cpu(e, i), &ctx), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A, 4096, URWX), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_B, PA_B, 4096, URWX), 0);
	expect_pa(e, VA_B, false, PA_B);
	uint64_t frames = physim_pt_table_frames(e->s1pt);
	if (range)
		assert_int_equal(physim_pt_unmap_region(e->s1pt, VA_B, UINT64_C(1) << 30), 0);
	else
		assert_int_equal(physim_pt_unmap(e->s1pt, VA_B, NULL), 0);
	/* B's last-level and middle tables went (sv48, x86_64-4l, aarch64 4K
	 * and loongarch64 4K-48 have four levels: B's 1 GiB has two tables) */
	assert_int_equal(physim_pt_table_frames(e->s1pt), frames - 2);
	assert_int_equal(count_faults(e, VA_B, false), NCPUS);
	assert_int_equal(physim_cpu_flusher_stats(e->fl).first_error, 0);
	*held = (long)physim_cpu_flusher_stats(e->fl).tables_freed;
	/* return what the flusher's handler held: checked too */
	assert_int_equal(physim_cpu_flusher_release(e->fl), 0);
	int n = e->rep.n_freed;
	if (e->rep.n)
		fprintf(stderr, "# %s%s%s%s: %d reports, %d freed-in-use, last: %s\n", k->fmt,
			hold ? " (held)" : "", ex ? " (flush_ex)" : "", range ? " (range)" : "",
			e->rep.n, n, e->rep.text);
	/* nothing else either: no stale use of a walk-cache entry */
	assert_int_equal(e->rep.n, n);
	physim_pt_destroy(e->s1pt); /* before the machine: its frees go through the check */
	e->s1pt = NULL;
	physim_cpu_flusher_destroy(e->fl);
	e->fl = NULL;
	env_free(e);
	return n;
}

static void test_free_after_flush(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(s1_cases) / sizeof(s1_cases[0]); i++) {
		const struct s1_case *k = &s1_cases[i];
		bool rv = k->arch == PHYSIM_ARCH_RISCV64;
		for (int range = 0; range <= 1; range++) {
			long held = 0;
			/* the engine's order alone: nothing held, nothing
			 * reported (RISC-V: told through flush_ex) */
			if (!rv) {
				assert_int_equal(run_free(k, false, false, range, &held), 0);
				assert_int_equal(held, 0);
			}
			assert_int_equal(run_free(k, false, true, range, &held), 0);
			assert_int_equal(held, 0);
			/* behind the flusher's paging handler: held, then freed */
			assert_int_equal(run_free(k, true, false, range, &held), 0);
			assert_int_equal(held, 2);
			assert_int_equal(run_free(k, true, true, range, &held), 0);
			assert_int_equal(held, 2);
		}
	}
}

/* The order of events the paging handler and the flush callback see: an
 * unmap that empties B's tables calls the flush callback (by then B's
 * pointer is cleared: B no longer translates) before any table frame is
 * freed, for the emptied-table path (unmap of B's page), a whole subtree
 * (unmap of B's 1 GiB) and a subtree replaced by a block (map with
 * PHYSIM_REPLACE over B's 1 GiB). */
struct order_log {
	const struct physim_paging_handler *inner;
	struct physim_paging_handler ph;
	struct physim_pt *pt;
	char ev[64];
	unsigned n;
	bool b_cleared_at_flush;
	unsigned flags; /* flush_ex: the last call's */
};

static int ol_alloc(void *ctx, physim_hpa_t *hpa)
{
	const struct physim_paging_handler *in = ((struct order_log *)ctx)->inner;
	return in->alloc_frame(in->ctx, hpa);
}

static int ol_dealloc(void *ctx, physim_hpa_t hpa)
{
	struct order_log *l = ctx;
	if (l->n < sizeof(l->ev) - 1)
		l->ev[l->n++] = 'd';
	return l->inner->dealloc_frame(l->inner->ctx, hpa);
}

static void *ol_p2v(void *ctx, physim_hpa_t hpa)
{
	const struct physim_paging_handler *in = ((struct order_log *)ctx)->inner;
	return in->phys_to_virt(in->ctx, hpa);
}

static void ol_flush(void *ctx, const uint64_t *vas, size_t n, bool all)
{
	struct order_log *l = ctx;
	(void)vas, (void)n, (void)all;
	if (l->n < sizeof(l->ev) - 1)
		l->ev[l->n++] = 'F';
	struct physim_pt_mapping m;
	l->b_cleared_at_flush = physim_pt_query(l->pt, VA_B, &m) == -ENOENT;
}

static void ol_flush_ex(void *ctx, const uint64_t *vas, size_t n, bool all, unsigned flags)
{
	((struct order_log *)ctx)->flags = flags;
	ol_flush(ctx, vas, n, all);
}

static void test_flush_before_free_order(void **state)
{
	(void)state;
	static const char *const fmts[] = {"aarch64-4k-48", "x86_64-4l", "sv48"};
	for (size_t fi = 0; fi < 2 * sizeof(fmts) / sizeof(fmts[0]); fi++) {
		bool ex = fi >= sizeof(fmts) / sizeof(fmts[0]);
		for (int how = 0; how < 3; how++) {
			struct physim_ram *ram;
			assert_int_equal(
			    physim_ram_create(
				&(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE},
				&ram),
			    0);
			struct order_log l = {.inner = physim_ram_paging_handler(ram)};
			l.ph = (struct physim_paging_handler){.ctx = &l,
							      .alloc_frame = ol_alloc,
							      .dealloc_frame = ol_dealloc,
							      .phys_to_virt = ol_p2v};
			struct physim_pt_config c = {
			    .format = physim_format(fmts[fi % (sizeof(fmts) / sizeof(fmts[0]))]),
			    .paging = &l.ph,
			    .flush = ex ? NULL : ol_flush,
			    .flush_ex = ex ? ol_flush_ex : NULL,
			    .flush_ctx = &l};
			assert_int_equal(physim_pt_create_ex(&c, &l.pt), 0);
			assert_int_equal(physim_pt_map(l.pt, VA_A, PA_A, 4096, URWX), 0);
			assert_int_equal(physim_pt_map(l.pt, VA_B, PA_B, 4096, URWX), 0);
			/* a leaf change unlinks no table */
			l.flags = ~0u;
			assert_int_equal(physim_pt_protect(l.pt, VA_B, PHYSIM_R | PHYSIM_U), 0);
			if (ex)
				assert_int_equal(l.flags, 0);
			l.n = 0;
			if (how == 0)
				assert_int_equal(physim_pt_unmap(l.pt, VA_B, NULL), 0);
			else if (how == 1)
				assert_int_equal(
				    physim_pt_unmap_region(l.pt, VA_B, UINT64_C(1) << 30), 0);
			l.ev[l.n] = '\0';
			if (how == 2) {
				/* a 1 GiB block over B's tables (B's page is
				 * then mapped by the block, not cleared) */
				assert_int_equal(
				    physim_pt_map_region(l.pt, VA_B, RAM_BASE, UINT64_C(1) << 30,
							 URWX, PHYSIM_ALLOW_HUGE | PHYSIM_REPLACE),
				    0);
				l.ev[l.n] = '\0';
				assert_string_equal(l.ev, "Fdd");
			} else {
				/* one flush, then B's last-level and middle table */
				assert_string_equal(l.ev, "Fdd");
				assert_true(l.b_cleared_at_flush);
			}
			if (ex)
				assert_int_equal(l.flags, PHYSIM_PT_FLUSH_TABLES_FREED);
			physim_pt_destroy(l.pt);
			assert_int_equal(physim_ram_stats(ram).used_frames, 0);
			physim_ram_destroy(ram);
		}
	}
}

/* ---- the sequences, as a trace ---- */

struct trace {
	char lines[32][160];
	unsigned cpu[32];
	unsigned n;
};

static void on_trace(void *ctx, unsigned cpu_index, const char *insn)
{
	struct trace *t = ctx;
	if (t->n < 32) {
		snprintf(t->lines[t->n], sizeof(t->lines[0]), "%s", insn);
		t->cpu[t->n++] = cpu_index;
	}
}

/* One changed page (0x80100000 of a stage-2 table, 0x400000 of a stage-1
 * table, or `all`) on a two-CPU machine, routed from CPU 0: the instructions
 * and operands written out by hand from the manuals and from what KVM and
 * Linux issue (__kvm_tlb_flush_vmid_ipa; kvm_riscv_hfence_gvma_vmid_gpa;
 * ept_sync_context / vpid_sync_vcpu_addr on each CPU; __TLBI_VADDR;
 * local_flush_tlb_page_asid + sbi_remote_sfence_vma_asid). */
struct trace_case {
	enum physim_arch arch;
	enum physim_flush_table table;
	enum physim_regime regime;
	uint16_t asid;
	bool global, all;
	unsigned n;
	const char *want[8];
	unsigned cpu[8];
	bool no_global, svinval;
	bool two; /* two pages, 0x400000 and 0x401000 (stage 1) */
};

static const struct trace_case trace_cases[] = {
    {PHYSIM_ARCH_AARCH64,
     PHYSIM_FLUSH_STAGE2,
     0,
     0,
     false,
     false,
     4,
     {"TLBI IPAS2E1IS, 0x80100", "DSB ISH", "TLBI VMALLE1IS, 0", "DSB ISH"},
     {0, 0, 0, 0},
     false,
     false,
     false},
    {PHYSIM_ARCH_AARCH64,
     PHYSIM_FLUSH_STAGE2,
     0,
     0,
     false,
     true,
     2,
     {"TLBI VMALLS12E1IS, 0", "DSB ISH"},
     {0, 0},
     false,
     false,
     false},
    {PHYSIM_ARCH_AARCH64,
     PHYSIM_FLUSH_STAGE1,
     PHYSIM_REGIME_GUEST,
     5,
     false,
     false,
     2,
     {"TLBI VAE1IS, 0x5000000000400", "DSB ISH"},
     {0, 0},
     false,
     false,
     false},
    {PHYSIM_ARCH_AARCH64,
     PHYSIM_FLUSH_STAGE1,
     PHYSIM_REGIME_GUEST,
     5,
     true,
     true,
     2,
     {"TLBI VMALLE1IS, 0x5000000000000", "DSB ISH"},
     {0, 0},
     false,
     false,
     false},
    {PHYSIM_ARCH_AARCH64,
     PHYSIM_FLUSH_STAGE1,
     PHYSIM_REGIME_HOST,
     0,
     false,
     false,
     2,
     {"TLBI VAE2IS, 0x400", "DSB ISH"},
     {0, 0},
     false,
     false,
     false},
    {PHYSIM_ARCH_RISCV64,
     PHYSIM_FLUSH_STAGE2,
     0,
     0,
     false,
     false,
     2,
     {"HFENCE.GVMA 0x20040000 (GPA >> 2), 2",
      "SBI remote_hfence_gvma_vmid(hart mask 0x2, base 0, 0x80100000, 0x1000, 2)"},
     {0, 0},
     false,
     false,
     false},
    {PHYSIM_ARCH_RISCV64,
     PHYSIM_FLUSH_STAGE1,
     PHYSIM_REGIME_HOST,
     5,
     false,
     false,
     2,
     {"SFENCE.VMA 0x400000, 5",
      "SBI remote_sfence_vma_asid(hart mask 0x2, base 0, 0x400000, 0x1000, 5)"},
     {0, 0},
     false,
     false,
     false},
    {PHYSIM_ARCH_RISCV64,
     PHYSIM_FLUSH_STAGE1,
     PHYSIM_REGIME_GUEST,
     5,
     true,
     false,
     2,
     {"HFENCE.VVMA 0x400000, x0",
      "SBI remote_hfence_vvma(hart mask 0x2, base 0, 0x400000, 0x1000, 0)"},
     {0, 0},
     false,
     false,
     false},
    {PHYSIM_ARCH_X86_64,
     PHYSIM_FLUSH_STAGE2,
     0,
     0,
     false,
     false,
     2,
     {"INVEPT single-context, EPTP 0x8000501e", "INVEPT single-context, EPTP 0x8000501e"},
     {0, 1},
     false,
     false,
     false},
    {PHYSIM_ARCH_X86_64,
     PHYSIM_FLUSH_STAGE1,
     PHYSIM_REGIME_GUEST,
     0,
     false,
     false,
     2,
     {"INVVPID individual-address, VPID 2, 0x400000",
      "INVVPID individual-address, VPID 2, 0x400000"},
     {0, 1},
     false,
     false,
     false},
    {PHYSIM_ARCH_X86_64,
     PHYSIM_FLUSH_STAGE1,
     PHYSIM_REGIME_HOST,
     0,
     true,
     true,
     2,
     {"INVPCID type 2, PCID 0", "INVPCID type 2, PCID 0"},
     {0, 1},
     false,
     false,
     false},
    {PHYSIM_ARCH_LOONGARCH64,
     PHYSIM_FLUSH_STAGE1,
     PHYSIM_REGIME_HOST,
     5,
     true,
     false,
     2,
     {"INVTLB 0x6, ASID 5, 0x400000", "INVTLB 0x6, ASID 5, 0x400000"},
     {0, 1},
     false,
     false,
     false},
    /* Arm stage 1, `global` not said: physim_pt_map's leaves are global,
     * which ASIDE1IS keeps (C5.5.10): VMALLE1IS; ASIDE1IS only with
     * no_global */
    {PHYSIM_ARCH_AARCH64,
     PHYSIM_FLUSH_STAGE1,
     PHYSIM_REGIME_GUEST,
     5,
     false,
     true,
     2,
     {"TLBI VMALLE1IS, 0x5000000000000", "DSB ISH"},
     {0, 0},
     false,
     false,
     false},
    {PHYSIM_ARCH_AARCH64,
     PHYSIM_FLUSH_STAGE1,
     PHYSIM_REGIME_GUEST,
     5,
     false,
     true,
     2,
     {"TLBI ASIDE1IS, 0x5000000000000", "DSB ISH"},
     {0, 0},
     true,
     false,
     false},
    /* VHE, the issuing PE not in its EL2&0 context (here: none loaded):
     * the EL2 forms with E2H = 1, ASID in Xt[63:48] (C5.5.62) */
    {PHYSIM_ARCH_AARCH64,
     PHYSIM_FLUSH_STAGE1,
     PHYSIM_REGIME_HOST_E20,
     5,
     false,
     false,
     2,
     {"TLBI VAE2IS, 0x5000000000400", "DSB ISH"},
     {0, 0},
     false,
     false,
     false},
    {PHYSIM_ARCH_AARCH64,
     PHYSIM_FLUSH_STAGE1,
     PHYSIM_REGIME_HOST_E20,
     5,
     false,
     true,
     2,
     {"TLBI ALLE2IS, 0", "DSB ISH"},
     {0, 0},
     false,
     false,
     false},
    /* Svinval: the batch between SFENCE.W.INVAL and SFENCE.INVAL.IR, the
     * SBI calls after it */
    {PHYSIM_ARCH_RISCV64,
     PHYSIM_FLUSH_STAGE1,
     PHYSIM_REGIME_HOST,
     5,
     false,
     false,
     6,
     {"SFENCE.W.INVAL", "SINVAL.VMA 0x400000, 5", "SINVAL.VMA 0x401000, 5", "SFENCE.INVAL.IR",
      "SBI remote_sfence_vma_asid(hart mask 0x2, base 0, 0x400000, 0x1000, 5)",
      "SBI remote_sfence_vma_asid(hart mask 0x2, base 0, 0x401000, 0x1000, 5)"},
     {0, 0, 0, 0, 0, 0},
     false,
     true,
     true},
    {PHYSIM_ARCH_RISCV64,
     PHYSIM_FLUSH_STAGE1,
     PHYSIM_REGIME_GUEST,
     5,
     false,
     true,
     4,
     {"SFENCE.W.INVAL", "HINVAL.VVMA x0, 5", "SFENCE.INVAL.IR",
      "SBI remote_hfence_vvma_asid(hart mask 0x2, base 0, 0, 0, 5)"},
     {0, 0, 0, 0},
     false,
     true,
     false},
    {PHYSIM_ARCH_RISCV64,
     PHYSIM_FLUSH_STAGE2,
     0,
     0,
     false,
     false,
     4,
     {"SFENCE.W.INVAL", "HINVAL.GVMA 0x20040000 (GPA >> 2), 2", "SFENCE.INVAL.IR",
      "SBI remote_hfence_gvma_vmid(hart mask 0x2, base 0, 0x80100000, 0x1000, 2)"},
     {0, 0, 0, 0},
     false,
     true,
     false},
};

static void test_trace_sequences(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(trace_cases) / sizeof(trace_cases[0]); i++) {
		const struct trace_case *k = &trace_cases[i];
		struct physim_machine *m;
		assert_int_equal(
		    physim_machine_create(
			&(struct physim_machine_config){.arch = k->arch, .ncpus = 2}, &m),
		    0);
		struct trace t = {0};
		struct physim_cpu_flusher *f;
		struct physim_cpu_flusher_config fc = {.cpu = physim_machine_cpu(m, 0),
						       .table = k->table,
						       .regime = k->regime,
						       .asid = k->asid,
						       .vmid = 2,
						       .global = k->global,
						       .no_global = k->no_global,
						       .svinval = k->svinval,
						       .eptp = UINT64_C(0x8000501e),
						       .trace = on_trace,
						       .trace_ctx = &t};
		/* The CPUs have no context loaded: the VMID 2 the E1 / VVMA
		 * forms need is written to the issuer's VMID register for the
		 * sequence (no -ENXIO). */
		if (k->table == PHYSIM_FLUSH_STAGE1)
			fc.eptp = 0;
		assert_int_equal(physim_cpu_flusher_create(&fc, &f), 0);
		const uint64_t pages[2] = {k->table == PHYSIM_FLUSH_STAGE2 ? UINT64_C(0x80100000)
									   : UINT64_C(0x400000),
					   UINT64_C(0x401000)};
		physim_cpu_flusher_fn(f, k->all ? NULL : pages,
				      k->all   ? 0
				      : k->two ? 2
					       : 1,
				      k->all);
		assert_int_equal(t.n, k->n);
		for (unsigned j = 0; j < t.n; j++) {
			assert_string_equal(t.lines[j], k->want[j]);
			assert_int_equal(t.cpu[j], k->cpu[j]);
		}
		struct physim_cpu_flusher_stats st = physim_cpu_flusher_stats(f);
		assert_int_equal(st.instructions, k->n);
		assert_int_equal(st.first_error, 0);
		/* the VMID register is back, and still no context */
		struct physim_cpu_context now;
		physim_cpu_get_context(physim_machine_cpu(m, 0), &now);
		assert_int_equal(now.vmid, 0);
		assert_null(now.s1);
		assert_null(now.s2);
		physim_cpu_flusher_destroy(f);
		physim_machine_destroy(m);
	}
}

/* ---- tags the issuing CPU does not have ---- */

/* x86 with CR4.PCIDE: CPU 2 has switched to PCID 9 (keeping PCID 5's
 * entries, as MOV to CR3 with bit 63 set does). An INVLPG there would act
 * on PCID 9; the flusher gives it INVPCID type 0 for PCID 5, so when CPU 2
 * comes back to PCID 5 it walks the new table. */
static void test_x86_other_pcid(void **state)
{
	(void)state;
	struct env *e = env_new(PHYSIM_ARCH_X86_64, false);
	struct trace t = {0};
	struct physim_cpu_flusher_config fc = {.cpu = cpu(e, 0),
					       .table = PHYSIM_FLUSH_STAGE1,
					       .asid = 5,
					       .trace = on_trace,
					       .trace_ctx = &t};
	route(e, &fc, "x86_64-4l", true, &e->s1pt, &e->s1);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A, 4096, URWX), 0);
	struct physim_cpu_context ctx = {.s1 = e->s1};
	for (unsigned i = 0; i < NCPUS; i++) {
		assert_int_equal(physim_cpu_set_context(cpu(e, i), &ctx), 0);
		assert_int_equal(physim_x86_mov_cr4(cpu(e, i), UINT64_C(1) << 17), 0); /* PCIDE */
	}
	ctx.asid = 5;
	for (unsigned i = 0; i < NCPUS; i++)
		assert_int_equal(physim_cpu_set_context(cpu(e, i), &ctx), 0);
	expect_pa(e, VA_A, false, PA_A);
	ctx.asid = 9;
	assert_int_equal(physim_cpu_set_context(cpu(e, 2), &ctx), 0);
	t.n = 0;
	assert_int_equal(physim_pt_unmap(e->s1pt, VA_A, NULL), 0);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.lines[0], "INVLPG 0x400000");
	assert_string_equal(t.lines[1], "INVLPG 0x400000");
	assert_string_equal(t.lines[2], "INVPCID type 0, PCID 5, 0x400000");
	assert_int_equal(t.cpu[2], 2);
	ctx.asid = 5;
	assert_int_equal(physim_cpu_set_context(cpu(e, 2), &ctx), 0);
	assert_int_equal(count_faults(e, VA_A, false), NCPUS);
	assert_int_equal(physim_machine_audit(e->m), 0);
	assert_int_equal(e->rep.n, 0);
	assert_int_equal(physim_cpu_flusher_stats(e->fl).first_error, 0);
	env_free(e);
}

/* Arm: the issuing PE runs another VM (VMID 4) when the hypervisor changes
 * VMID 3's stage 2. TLBI ...E1IS acts on the issuer's current VMID, so the
 * flusher loads VMID 3 for its sequence (as KVM loads VTTBR_EL2) and puts
 * VMID 4 back; the PEs running VMID 3 lose their entries. */
static void test_arm_other_vmid(void **state)
{
	(void)state;
	struct env *e = env_new(PHYSIM_ARCH_AARCH64, false);
	assert_int_equal(physim_pt_create(physim_format("aarch64-4k-48"), e->ph, &e->s1pt), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A, 4096, URWX), 0);
	e->s1 = tc_mmu_of(e->ph, e->s1pt);
	struct physim_cpu_flusher_config fc = {
	    .cpu = cpu(e, 0), .table = PHYSIM_FLUSH_STAGE2, .vmid = VMID};
	route(e, &fc, "aarch64-s2-4k-48", true, &e->s2pt, &e->s2);
	struct physim_cpu_context ctx = {
	    .s1 = e->s1, .s2 = e->s2, .regime = PHYSIM_REGIME_GUEST, .asid = ASID, .vmid = VMID};
	for (unsigned i = 1; i < NCPUS; i++)
		assert_int_equal(physim_cpu_set_context(cpu(e, i), &ctx), 0);
	ctx.vmid = VMID + 1;
	assert_int_equal(physim_cpu_set_context(cpu(e, 0), &ctx), 0);
	assert_int_equal(physim_pt_map_region(e->s2pt, RAM_BASE, RAM_BASE, RAM_SIZE, URWX, 0), 0);
	for (unsigned i = 1; i < NCPUS; i++)
		assert_int_equal(acc(e, i, VA_A, false, NULL), 0);
	assert_int_equal(physim_pt_unmap(e->s2pt, PA_A, NULL), 0);
	assert_int_equal(physim_pt_map(e->s2pt, PA_A, PA_A2, 4096, URWX), 0);
	for (unsigned i = 1; i < NCPUS; i++) {
		uint64_t pa = 0;
		assert_int_equal(acc(e, i, VA_A, false, &pa), 0);
		assert_int_equal(pa, PA_A2);
	}
	struct physim_cpu_context now;
	physim_cpu_get_context(cpu(e, 0), &now);
	assert_int_equal(now.vmid, VMID + 1);
	assert_int_equal(physim_machine_audit(e->m), 0);
	assert_int_equal(e->rep.n, 0);
	assert_int_equal(physim_cpu_flusher_stats(e->fl).first_error, 0);
	env_free(e);
}

/* ---- an issuing CPU with no context loaded ---- */

/* The hypervisor's CPU 0 has loaded no context yet (it has cached nothing)
 * while CPUs 1 and 2 run VMID 3. The E1 / VVMA forms act on the issuer's
 * VMID register (VTTBR_EL2.VMID, hgatp.VMID), which the flusher writes for
 * the sequence: the first flush (the map's) and every later one reach the
 * other CPUs' entries of VMID 3, nothing fails with -ENXIO, and CPU 0 is
 * left as it was (no context, VMID register 0). Cases: Arm stage 2, Arm
 * guest stage 1 (TLBI VAE1IS of VMID 3), RISC-V guest VS-stage
 * (HFENCE.VVMA + SBI remote_hfence_vvma_asid, which use the caller's
 * VMID). */
struct noctx_case {
	enum physim_arch arch;
	enum physim_flush_table table;
	const char *s1fmt, *s2fmt;
};

static void test_no_context_vmid(void **state)
{
	(void)state;
	static const struct noctx_case cases[] = {
	    {PHYSIM_ARCH_AARCH64, PHYSIM_FLUSH_STAGE2, "aarch64-4k-48", "aarch64-s2-4k-48"},
	    {PHYSIM_ARCH_AARCH64, PHYSIM_FLUSH_STAGE1, "aarch64-4k-48", "aarch64-s2-4k-48"},
	    {PHYSIM_ARCH_RISCV64, PHYSIM_FLUSH_STAGE1, "sv48", "sv48x4"},
	};
	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		const struct noctx_case *k = &cases[ci];
		bool s2 = k->table == PHYSIM_FLUSH_STAGE2;
		struct env *e = env_new(k->arch, false);
		struct physim_cpu_flusher_config fc = {.cpu = cpu(e, 0),
						       .table = k->table,
						       .regime = PHYSIM_REGIME_GUEST,
						       .asid = ASID,
						       .vmid = VMID};
		assert_int_equal(physim_cpu_flusher_create(&fc, &e->fl), 0);
		/* the routed table (stage 2, or the guest's stage 1), the
		 * other one plain */
		if (s2) {
			assert_int_equal(physim_pt_create(physim_format(k->s1fmt), e->ph, &e->s1pt),
					 0);
			e->s2pt = routed_pt(e, k->s2fmt, true);
		} else {
			e->s1pt = routed_pt(e, k->s1fmt, true);
			assert_int_equal(physim_pt_create(physim_format(k->s2fmt), e->ph, &e->s2pt),
					 0);
		}
		e->s1 = tc_mmu_of(e->ph, e->s1pt);
		e->s2 = tc_mmu_of(e->ph, e->s2pt);
		struct physim_cpu_context ctx = {.s1 = e->s1,
						 .s2 = e->s2,
						 .regime = PHYSIM_REGIME_GUEST,
						 .asid = ASID,
						 .vmid = VMID};
		for (unsigned i = 1; i < NCPUS; i++)
			assert_int_equal(physim_cpu_set_context(cpu(e, i), &ctx), 0);
		assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A, 4096, URWX), 0);
		assert_int_equal(
		    physim_pt_map_region(e->s2pt, RAM_BASE, RAM_BASE, RAM_SIZE, URWX, 0), 0);
		for (unsigned i = 1; i < NCPUS; i++)
			assert_int_equal(acc(e, i, VA_A, false, NULL), 0);
		/* move A: in stage 2 its GPA's frame, in stage 1 its GPA */
		struct physim_pt *pt = s2 ? e->s2pt : e->s1pt;
		uint64_t in = s2 ? PA_A : VA_A;
		assert_int_equal(physim_pt_unmap(pt, in, NULL), 0);
		assert_int_equal(physim_pt_map(pt, in, PA_A2, 4096, URWX), 0);
		for (unsigned i = 1; i < NCPUS; i++) {
			uint64_t pa = 0;
			assert_int_equal(acc(e, i, VA_A, false, &pa), 0);
			assert_int_equal(pa, PA_A2);
		}
		assert_int_equal(physim_machine_audit(e->m), 0);
		if (e->rep.n)
			fprintf(stderr, "# no context, case %zu: %s\n", ci, e->rep.text);
		assert_int_equal(e->rep.n, 0);
		assert_int_equal(physim_cpu_flusher_stats(e->fl).first_error, 0);
		struct physim_cpu_context now;
		physim_cpu_get_context(cpu(e, 0), &now);
		assert_int_equal(now.vmid, 0);
		assert_null(now.s1);
		assert_int_equal(acc(e, 0, VA_A, false, NULL), -ENXIO);
		env_free(e);
	}
}

/* ---- VHE: the issuing PE runs a guest ---- */

/* A VHE host's own table (EL2&0, ASID 5) cached by PEs 1 and 2 in their
 * EL2&0 context, changed by PE 0 while PE 0 runs a guest (EL1&0, VMID 3,
 * TGE = 0): the EL1 forms would act on the guest's EL1&0 there, so the
 * flusher uses TLBI VAE2IS (ASID << 48 | VA >> 12) with E2H = 1, and
 * ALLE2IS for `all` (C5.5.62, C5.5.4). Audit clean; PE 0's guest context
 * is as it was. */
static void test_vhe_issuer_in_guest(void **state)
{
	(void)state;
	struct env *e = env_new(PHYSIM_ARCH_AARCH64, false);
	struct trace t = {0};
	struct physim_cpu_flusher_config fc = {.cpu = cpu(e, 0),
					       .table = PHYSIM_FLUSH_STAGE1,
					       .regime = PHYSIM_REGIME_HOST_E20,
					       .asid = ASID,
					       .trace = on_trace,
					       .trace_ctx = &t};
	route(e, &fc, "aarch64-4k-48", true, &e->s1pt, &e->s1);
	/* the guest PE 0 runs: a table of its own, one stage */
	assert_int_equal(physim_pt_create(physim_format("aarch64-4k-48"), e->ph, &e->s2pt), 0);
	assert_int_equal(physim_pt_map(e->s2pt, VA_A, PA_B, 4096, URWX), 0);
	e->s2 = tc_mmu_of(e->ph, e->s2pt);
	struct physim_cpu_context host = {
	    .s1 = e->s1, .regime = PHYSIM_REGIME_HOST_E20, .asid = ASID};
	struct physim_cpu_context guest = {
	    .s1 = e->s2, .regime = PHYSIM_REGIME_GUEST, .asid = ASID, .vmid = VMID};
	for (unsigned i = 0; i < NCPUS; i++)
		assert_int_equal(physim_cpu_set_context(cpu(e, i), &host), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A, 4096, URWX), 0);
	assert_int_equal(physim_pt_map_region(e->s1pt, VA_R, PA_R, R_SIZE, URWX, 0), 0);
	for (unsigned i = 1; i < NCPUS; i++) {
		assert_int_equal(acc(e, i, VA_A, false, NULL), 0);
		assert_int_equal(acc(e, i, VA_R + R_SIZE - 4096, true, NULL), 0);
	}
	assert_int_equal(physim_cpu_set_context(cpu(e, 0), &guest), 0);
	assert_int_equal(acc(e, 0, VA_A, false, NULL), 0); /* the guest's A */
	t.n = 0;
	assert_int_equal(physim_pt_unmap(e->s1pt, VA_A, NULL), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A2, 4096, URWX), 0);
	assert_true(t.n >= 2);
	assert_string_equal(t.lines[0], "TLBI VAE2IS, 0x5000000000400");
	t.n = 0;
	assert_int_equal(physim_pt_protect_region(e->s1pt, VA_R, R_SIZE, PHYSIM_R | PHYSIM_U), 0);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.lines[0], "TLBI ALLE2IS, 0");
	for (unsigned i = 1; i < NCPUS; i++) {
		uint64_t pa = 0;
		assert_int_equal(acc(e, i, VA_A, false, &pa), 0);
		assert_int_equal(pa, PA_A2);
		assert_int_equal(acc(e, i, VA_R + R_SIZE - 4096, true, NULL), -EFAULT);
	}
	/* PE 0 still runs its guest, whose entry for A stays (EL1&0) */
	uint64_t pa = 0;
	assert_int_equal(acc(e, 0, VA_A, false, &pa), 0);
	assert_int_equal(pa, PA_B);
	assert_int_equal(physim_machine_audit(e->m), 0);
	assert_int_equal(e->rep.n, 0);
	assert_int_equal(physim_cpu_flusher_stats(e->fl).first_error, 0);
	env_free(e);
}

/* ---- Arm: global leaves and `all` ---- */

/* physim_pt_map's Arm leaves are global (nG clear). A flusher that leaves
 * `global` unsaid is clean (test_s1_routed_clean, second Arm case: `all`
 * is VMALLE1IS); one whose config promises no global page (no_global) when
 * the table has them issues ASIDE1IS for `all`, which keeps global
 * entries (Arm ARM DDI 0487 M.a.a C5.5.10): the PEs keep R's old,
 * writable translation. */
static void test_arm_global_default(void **state)
{
	(void)state;
	const struct s1_case said = {
	    PHYSIM_ARCH_AARCH64, "aarch64-4k-48", PHYSIM_REGIME_GUEST, 5, false, false, false};
	struct outcome o = run_s1(&said, false, true);
	assert_int_equal(o.reports, 0);
	assert_int_equal(o.faults_r, NCPUS);
	const struct s1_case broken = {
	    PHYSIM_ARCH_AARCH64, "aarch64-4k-48", PHYSIM_REGIME_GUEST, 5, false, true, false};
	o = run_s1(&broken, false, true);
	assert_true(o.reports > 0);
	assert_int_equal(o.faults_r, 0); /* every PE writes through its stale entry */
}

/* ---- targets beyond CPU 63 ---- */

/* 70 x86 CPUs, all in the table's space; CPUs 0, 65 and 66 cache A. With
 * cpu_set = {0, 65} the flusher runs INVLPG on CPUs 0 and 65 only: CPU 66
 * keeps its stale entry (the set says it does not run the table). With
 * cpu_mask = 1 (the old field) CPUs 64 and up are still always targets.
 * physim_cpu_flusher_set_targets replaces the set. RISC-V: the SBI hart
 * mask of CPU 65 is bit 1 with hart_mask_base 64. */
static void test_cpu_set_targets(void **state)
{
	(void)state;
	enum { N = 70 };
	for (int arch = 0; arch < 2; arch++) {
		struct physim_ram *ram;
		assert_int_equal(
		    physim_ram_create(
			&(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE}, &ram),
		    0);
		const struct physim_paging_handler *ph = physim_ram_paging_handler(ram);
		struct reports rep = {0};
		struct physim_machine *m;
		assert_int_equal(physim_machine_create(
				     &(struct physim_machine_config){
					 .arch = arch ? PHYSIM_ARCH_RISCV64 : PHYSIM_ARCH_X86_64,
					 .ncpus = N,
					 .on_report = on_report,
					 .report_ctx = &rep},
				     &m),
				 0);
		const uint64_t set[2] = {UINT64_C(1) << 0, UINT64_C(1) << (65 - 64)};
		struct trace t = {0};
		struct physim_cpu_flusher *f;
		struct physim_cpu_flusher_config fc = {.cpu = physim_machine_cpu(m, 0),
						       .table = PHYSIM_FLUSH_STAGE1,
						       .asid = arch ? 5 : 0,
						       .cpu_set = set,
						       .cpu_set_bits = N,
						       .trace = on_trace,
						       .trace_ctx = &t};
		assert_int_equal(physim_cpu_flusher_create(&fc, &f), 0);
		struct physim_pt *pt;
		assert_int_equal(
		    physim_pt_create_ex(&(struct physim_pt_config){.format = physim_format(
								       arch ? "sv48" : "x86_64-4l"),
								   .paging = ph,
								   .flush = physim_cpu_flusher_fn,
								   .flush_ctx = f},
					&pt),
		    0);
		assert_int_equal(physim_pt_map(pt, VA_A, PA_A, 4096, URWX), 0);
		struct physim_mmu *mmu;
		assert_int_equal(
		    physim_mmu_create(&(struct physim_mmu_config){.format = physim_pt_format(pt),
								  .mem = ph,
								  .root = physim_pt_root(pt)},
				      &mmu),
		    0);
		struct physim_cpu_context ctx = {.s1 = mmu, .asid = arch ? 5 : 0};
		static const unsigned users[] = {0, 65, 66};
		struct physim_xlate x;
		const struct physim_access a = {.va = VA_A, .user = true};
		for (unsigned i = 0; i < N; i++)
			assert_int_equal(physim_cpu_set_context(physim_machine_cpu(m, i), &ctx), 0);
		for (unsigned i = 0; i < 3; i++)
			assert_int_equal(
			    physim_cpu_translate(physim_machine_cpu(m, users[i]), &a, &x), 0);
		t.n = 0;
		assert_int_equal(physim_pt_unmap(pt, VA_A, NULL), 0);
		if (arch == 0) {
			assert_int_equal(t.n, 2);
			assert_string_equal(t.lines[0], "INVLPG 0x400000");
			assert_int_equal(t.cpu[0], 0);
			assert_string_equal(t.lines[1], "INVLPG 0x400000");
			assert_int_equal(t.cpu[1], 65);
		} else {
			assert_int_equal(t.n, 2);
			assert_string_equal(t.lines[0], "SFENCE.VMA 0x400000, 5");
			assert_string_equal(t.lines[1], "SBI remote_sfence_vma_asid(hart mask 0x2, "
							"base 64, 0x400000, 0x1000, 5)");
		}
		assert_int_equal(physim_cpu_translate(physim_machine_cpu(m, 0), &a, &x), -EFAULT);
		assert_int_equal(physim_cpu_translate(physim_machine_cpu(m, 65), &a, &x), -EFAULT);
		/* CPU 66 was not a target: still cached (stale) */
		assert_int_equal(physim_cpu_translate(physim_machine_cpu(m, 66), &a, &x), 0);
		assert_int_equal(physim_machine_audit(m), 1);
		assert_int_equal(rep.last.cpu, 66);
		/* a new set: CPU 66 only */
		const uint64_t set66[2] = {0, UINT64_C(1) << (66 - 64)};
		assert_int_equal(physim_cpu_flusher_set_targets(f, set66, N), 0);
		t.n = 0;
		physim_cpu_flusher_fn(f, (const uint64_t[]){VA_A}, 1, false);
		assert_int_equal(physim_cpu_translate(physim_machine_cpu(m, 66), &a, &x), -EFAULT);
		assert_int_equal(physim_machine_audit(m), 0);
		/* back to cpu_mask = 0 (every CPU) */
		assert_int_equal(physim_cpu_flusher_set_targets(f, NULL, 0), 0);
		assert_int_equal(physim_cpu_flusher_set_targets(f, NULL, 3), -EINVAL);
		assert_int_equal(physim_cpu_flusher_stats(f).first_error, 0);
		physim_pt_destroy(pt);
		physim_mmu_destroy(mmu);
		physim_cpu_flusher_destroy(f);
		physim_machine_destroy(m);
		assert_int_equal(physim_ram_stats(ram).used_frames, 0);
		physim_ram_destroy(ram);
	}
	/* the old field: bit 0 set, CPUs 64 and up always targets */
	struct physim_machine *m;
	assert_int_equal(
	    physim_machine_create(
		&(struct physim_machine_config){.arch = PHYSIM_ARCH_X86_64, .ncpus = N}, &m),
	    0);
	struct trace t = {0};
	struct physim_cpu_flusher *f;
	struct physim_cpu_flusher_config fc = {.cpu = physim_machine_cpu(m, 0),
					       .table = PHYSIM_FLUSH_STAGE1,
					       .cpu_mask = 1,
					       .global = true,
					       .trace = on_trace,
					       .trace_ctx = &t};
	assert_int_equal(physim_cpu_flusher_create(&fc, &f), 0);
	physim_cpu_flusher_fn(f, (const uint64_t[]){VA_A}, 1, false);
	/* INVLPG (global pages) and INVPCID type 0 on CPU 0 and CPUs 64-69 */
	assert_int_equal(t.n, 2 * (1 + (N - 64)));
	assert_int_equal(t.cpu[0], 0);
	assert_int_equal(t.cpu[2], 64);
	assert_int_equal(t.cpu[13], 69);
	physim_cpu_flusher_destroy(f);
	physim_machine_destroy(m);
}

/* ---- arguments ---- */

static void test_args(void **state)
{
	(void)state;
	struct env *e = env_new(PHYSIM_ARCH_LOONGARCH64, false);
	struct physim_cpu_flusher *f = NULL;
	struct physim_cpu_flusher_config fc = {.cpu = cpu(e, 0), .table = PHYSIM_FLUSH_STAGE2};
	assert_int_equal(physim_cpu_flusher_create(&fc, &f), -EINVAL); /* no stage 2 */
	assert_int_equal(physim_cpu_flusher_create(NULL, &f), -EINVAL);
	fc.table = PHYSIM_FLUSH_STAGE1;
	fc.cpu = NULL;
	assert_int_equal(physim_cpu_flusher_create(&fc, &f), -EINVAL);
	assert_null(physim_cpu_flusher_paging_handler(NULL, e->ph));
	assert_int_equal(physim_cpu_flusher_release(NULL), -EINVAL);
	env_free(e);
	e = env_new(PHYSIM_ARCH_X86_64, false);
	fc = (struct physim_cpu_flusher_config){.cpu = cpu(e, 0), .table = PHYSIM_FLUSH_STAGE1};
	assert_int_equal(physim_cpu_flusher_create(&fc, &f), 0);
	assert_int_equal(physim_cpu_flusher_set_eptp(f, 0x1000), -EINVAL); /* stage 1 */
	physim_cpu_flusher_destroy(f);
	fc.table = PHYSIM_FLUSH_STAGE2;
	assert_int_equal(physim_cpu_flusher_create(&fc, &f), 0);
	/* no EPTP yet: the flush is an error, no INVEPT of EP4TA 0 */
	physim_cpu_flusher_fn(f, NULL, 0, true);
	assert_int_equal(physim_cpu_flusher_stats(f).first_error, -ENXIO);
	assert_int_equal(physim_cpu_flusher_set_eptp(f, 0x1000), 0);
	physim_cpu_flusher_destroy(f);
	/* options the CPU's family has not: each refused, *out untouched */
	f = NULL;
	fc = (struct physim_cpu_flusher_config){
	    .cpu = cpu(e, 0), .table = PHYSIM_FLUSH_STAGE1, .svinval = true}; /* RISC-V only */
	assert_int_equal(physim_cpu_flusher_create(&fc, &f), -EINVAL);
	fc.svinval = false;
	fc.regime = PHYSIM_REGIME_HOST_E20; /* Arm only */
	assert_int_equal(physim_cpu_flusher_create(&fc, &f), -EINVAL);
	fc.regime = (enum physim_regime)99;
	assert_int_equal(physim_cpu_flusher_create(&fc, &f), -EINVAL);
	fc.regime = PHYSIM_REGIME_HOST;
	fc.table = (enum physim_flush_table)7;
	assert_int_equal(physim_cpu_flusher_create(&fc, &f), -EINVAL);
	assert_null(f);
	env_free(e);
	e = env_new(PHYSIM_ARCH_AARCH64, false);
	fc = (struct physim_cpu_flusher_config){
	    .cpu = cpu(e, 0), .table = PHYSIM_FLUSH_STAGE2, .regime = PHYSIM_REGIME_HOST_E20};
	assert_int_equal(physim_cpu_flusher_create(&fc, &f), -EINVAL); /* VHE: stage 1 only */
	assert_null(f);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_s1_routed_clean),
	    cmocka_unit_test(test_s1_local_reported),
	    cmocka_unit_test(test_s1_freed_table_nonleaf),
	    cmocka_unit_test(test_s2_routed_clean),
	    cmocka_unit_test(test_s2_local_reported),
	    cmocka_unit_test(test_audit_on_complete),
	    cmocka_unit_test(test_audit_on_complete_x86),
	    cmocka_unit_test(test_audit_once_with_pending),
	    cmocka_unit_test(test_aspace_routed),
	    cmocka_unit_test(test_audit_on_complete_threads),
	    cmocka_unit_test(test_free_after_flush),
	    cmocka_unit_test(test_flush_before_free_order),
	    cmocka_unit_test(test_trace_sequences),
	    cmocka_unit_test(test_x86_other_pcid),
	    cmocka_unit_test(test_arm_other_vmid),
	    cmocka_unit_test(test_no_context_vmid),
	    cmocka_unit_test(test_vhe_issuer_in_guest),
	    cmocka_unit_test(test_arm_global_default),
	    cmocka_unit_test(test_cpu_set_targets),
	    cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
