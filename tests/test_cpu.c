/* SPDX-License-Identifier: MIT */
/* tests/test_cpu.c - simulated CPUs (include/physim/cpu.h): hits and misses
 * counted by hand, large pages and fractured combined entries found by any
 * address of their page, the stale-use and audit reports for the bug classes
 * the instructions exist for (INVLPG after an EPT change, TLBI IPAS2E1IS
 * alone, a TLBI without DSB, HFENCE.VVMA after a G-stage change), bounded
 * and strict capacity, and argument errors. */
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

#define VA_A  UINT64_C(0x400000)
#define PA_A  (RAM_BASE + 0x100000)
#define PA_A2 (RAM_BASE + 0x200000) /* where A moves */

/* ---- fixture ---- */

struct reports {
	int n, n_use, n_audit, n_pending;
	struct physim_cpu_report last;
	char text[1024];
};

static void on_report(void *ctx, const struct physim_cpu_report *r)
{
	struct reports *l = ctx;
	l->n++;
	l->n_use += r->kind == PHYSIM_REPORT_STALE_USE;
	l->n_audit += r->kind == PHYSIM_REPORT_STALE_ENTRY;
	l->n_pending += r->pending;
	l->last = *r;
	physim_cpu_report_format(r, l->text, sizeof(l->text));
}

struct env {
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
	struct physim_pt *s1pt, *s2pt;
	struct physim_mmu *s1, *s2;
	struct physim_machine *m;
	struct reports rep;
};

/* A stage-1 table of s1fmt with A -> PA_A (4 KiB); with s2fmt, a stage-2
 * table mapping RAM identically with 4 KiB pages (huge when s2_huge). */
static struct env *env_new(enum physim_arch arch, const char *s1fmt, const char *s2fmt,
			   bool s2_huge, unsigned ncpus, struct physim_machine_config *mc)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	assert_int_equal(
	    physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE},
			      &e->ram),
	    0);
	e->ph = physim_ram_paging_handler(e->ram);
	assert_int_equal(physim_pt_create(physim_format(s1fmt), e->ph, &e->s1pt), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A, 4096, URWX), 0);
	e->s1 = tc_mmu_of(e->ph, e->s1pt);
	if (s2fmt) {
		assert_int_equal(physim_pt_create(physim_format(s2fmt), e->ph, &e->s2pt), 0);
		assert_int_equal(physim_pt_map_region(e->s2pt, RAM_BASE, RAM_BASE, RAM_SIZE, URWX,
						      s2_huge ? PHYSIM_ALLOW_HUGE : 0),
				 0);
		e->s2 = tc_mmu_of(e->ph, e->s2pt);
	}
	struct physim_machine_config c = {.arch = arch, .ncpus = ncpus, .check_stale = true};
	if (mc)
		c = *mc;
	c.on_report = on_report;
	c.report_ctx = &e->rep;
	assert_int_equal(physim_machine_create(&c, &e->m), 0);
	return e;
}

static void env_free(struct env *e)
{
	physim_machine_destroy(e->m);
	physim_mmu_destroy(e->s1);
	physim_mmu_destroy(e->s2);
	physim_pt_destroy(e->s1pt);
	physim_pt_destroy(e->s2pt);
	assert_int_equal(physim_ram_stats(e->ram).used_frames, 0);
	physim_ram_destroy(e->ram);
	free(e);
}

static struct physim_cpu *cpu(struct env *e, unsigned i)
{
	return physim_machine_cpu(e->m, i);
}

static void load(struct env *e, unsigned i, bool nested, enum physim_regime regime, uint16_t asid,
		 uint16_t vmid)
{
	struct physim_cpu_context c = {
	    .s1 = e->s1,
	    .s2 = nested ? e->s2 : NULL,
	    .regime = regime,
	    .asid = asid,
	    .vmid = vmid,
	    .eptp = nested ? physim_pt_root(e->s2pt) : 0,
	};
	assert_int_equal(physim_cpu_set_context(cpu(e, i), &c), 0);
}

static uint64_t rd(struct env *e, unsigned i, uint64_t va)
{
	struct physim_xlate x;
	assert_int_equal(
	    physim_cpu_translate(cpu(e, i), &(struct physim_access){.va = va, .user = true}, &x),
	    0);
	return x.pa;
}

/* Move stage 2's page of GPA PA_A to PA_A2 (a hypervisor remapping guest
 * memory): the combined entry for A becomes stale. */
static void move_s2_page(struct env *e)
{
	assert_int_equal(physim_pt_unmap(e->s2pt, PA_A, NULL), 0);
	assert_int_equal(physim_pt_map(e->s2pt, PA_A, PA_A2, 4096, URWX), 0);
}

static void move_s1_page(struct env *e)
{
	assert_int_equal(physim_pt_unmap(e->s1pt, VA_A, NULL), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A2, 4096, URWX), 0);
}

/* ---- hits, misses, page sizes ---- */

static void test_hit_miss(void **state)
{
	(void)state;
	struct env *e = env_new(PHYSIM_ARCH_X86_64, "x86_64-4l", NULL, false, 1, NULL);
	load(e, 0, false, PHYSIM_REGIME_HOST, 0, 0);
	assert_int_equal(rd(e, 0, VA_A), PA_A);
	assert_int_equal(rd(e, 0, VA_A + 0x123), PA_A + 0x123);
	struct physim_cpu_stats s = physim_cpu_stats(cpu(e, 0));
	assert_int_equal(s.misses, 1);
	assert_int_equal(s.hits, 1);
	assert_int_equal(s.entries, 1);
	/* a write was never served by the read-filled entry: it walks (D) */
	struct physim_xlate x;
	assert_int_equal(
	    physim_cpu_translate(
		cpu(e, 0), &(struct physim_access){.va = VA_A, .write = true, .user = true}, &x),
	    0);
	assert_int_equal(physim_cpu_stats(cpu(e, 0)).misses, 2);
	assert_int_equal(physim_cpu_stats(cpu(e, 0)).entries, 1);
	assert_int_equal(e->rep.n, 0);
	env_free(e);
}

/* A 2 MiB page is one entry found from any of its addresses, and INVLPG of
 * any address in it removes it (SDM Vol. 3A 4.10.4.1: INVLPG invalidates
 * the entries for the page containing the address, whatever its size). */
static void test_large_page(void **state)
{
	(void)state;
	struct env *e = env_new(PHYSIM_ARCH_X86_64, "x86_64-4l", NULL, false, 1, NULL);
	assert_int_equal(physim_pt_map(e->s1pt, 0x200000, RAM_BASE + 0x600000, 2 * MiB, URWX), 0);
	load(e, 0, false, PHYSIM_REGIME_HOST, 0, 0);
	assert_int_equal(rd(e, 0, 0x200000), RAM_BASE + 0x600000);
	assert_int_equal(rd(e, 0, 0x3FF008), RAM_BASE + 0x7FF008);
	struct physim_cpu_stats s = physim_cpu_stats(cpu(e, 0));
	assert_int_equal(s.misses, 1);
	assert_int_equal(s.hits, 1);
	assert_int_equal(physim_x86_invlpg(cpu(e, 0), 0x234000), 0);
	assert_int_equal(physim_cpu_stats(cpu(e, 0)).entries, 0);
	env_free(e);
}

/* A 2 MiB guest page over 4 KiB EPT pages: combined entries are 4 KiB, and
 * an INVLPG of any address of the guest's 2 MiB page removes them all; the
 * guest-physical entries stay (SDM Vol. 3C "Operations that Invalidate Cached Mappings"). */
static void test_fractured_combined(void **state)
{
	(void)state;
	struct env *e = env_new(PHYSIM_ARCH_X86_64, "x86_64-4l", "ept-4l", false, 1, NULL);
	assert_int_equal(physim_pt_map(e->s1pt, 0x200000, RAM_BASE + 0x600000, 2 * MiB, URWX), 0);
	load(e, 0, true, PHYSIM_REGIME_GUEST, 1, 5);
	assert_int_equal(rd(e, 0, 0x200010), RAM_BASE + 0x600010);
	assert_int_equal(rd(e, 0, 0x201010), RAM_BASE + 0x601010);
	/* two combined 4 KiB entries and two 4 KiB guest-physical ones */
	assert_int_equal(physim_cpu_stats(cpu(e, 0)).entries, 4);
	assert_int_equal(physim_x86_invlpg(cpu(e, 0), 0x3FF000), 0);
	assert_int_equal(physim_cpu_stats(cpu(e, 0)).entries, 2);
	assert_int_equal(e->rep.n, 0);
	env_free(e);
}

/* ---- stale use: the wrong kind of invalidation ---- */

/* EPT changed, INVLPG issued: the guest-physical mapping survives (only
 * INVEPT removes those) and the next walk uses it; the report says so.
 * INVEPT then fixes it. */
static void test_x86_invlpg_after_ept_change(void **state)
{
	(void)state;
	struct env *e = env_new(PHYSIM_ARCH_X86_64, "x86_64-4l", "ept-4l", false, 1, NULL);
	load(e, 0, true, PHYSIM_REGIME_GUEST, 1, 5);
	assert_int_equal(rd(e, 0, VA_A), PA_A);
	move_s2_page(e);
	assert_int_equal(physim_x86_invlpg(cpu(e, 0), VA_A), 0);
	/* INVLPG removed the combined entry (SDM Vol. 3C "Operations that Invalidate Cached
	 * Mappings"), but the guest-physical mapping it was made from serves the new walk */
	assert_int_equal(rd(e, 0, VA_A), PA_A);
	assert_int_equal(e->rep.n_use, 1);
	assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_S2);
	assert_int_equal(e->rep.last.current.pa, PA_A2);
	assert_non_null(strstr(e->rep.last.remedy, "INVEPT"));
	print_message("%s\n", e->rep.text);
	uint64_t d[2] = {physim_pt_root(e->s2pt), 0};
	assert_int_equal(physim_x86_invept(cpu(e, 0), 1, d), 0);
	assert_int_equal(rd(e, 0, VA_A), PA_A2);
	assert_int_equal(e->rep.n, 1);
	env_free(e);
}

/* Stage 2 changed, TLBI IPAS2E1IS + DSB alone: the combined entry need not
 * go, so it is reported; TLBI VMALLE1IS + DSB (KVM's sequence) removes it. */
static void test_arm_ipas2_alone(void **state)
{
	(void)state;
	struct env *e =
	    env_new(PHYSIM_ARCH_AARCH64, "aarch64-4k-48", "aarch64-s2-4k-40", false, 2, NULL);
	load(e, 0, true, PHYSIM_REGIME_GUEST, 1, 3);
	load(e, 1, true, PHYSIM_REGIME_GUEST, 1, 3);
	assert_int_equal(rd(e, 1, VA_A), PA_A);
	move_s2_page(e);
	assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_IPAS2E1IS, PA_A >> 12), 0);
	physim_arm_dsb(cpu(e, 0));
	assert_int_equal(rd(e, 1, VA_A), PA_A);
	assert_int_equal(e->rep.n_use, 1);
	assert_int_equal(e->rep.last.cpu, 1);
	assert_non_null(strstr(e->rep.last.remedy, "VMALLE1IS"));
	print_message("%s\n", e->rep.text);
	assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VMALLE1IS, 0), 0);
	physim_arm_dsb(cpu(e, 0));
	assert_int_equal(rd(e, 1, VA_A), PA_A2);
	assert_int_equal(e->rep.n, 1);
	env_free(e);
}

/* A broadcast TLBI not yet followed by a DSB: the other PE still uses the
 * entry and the report says an invalidation is pending. */
static void test_arm_tlbi_without_dsb(void **state)
{
	(void)state;
	struct env *e = env_new(PHYSIM_ARCH_AARCH64, "aarch64-4k-48", NULL, false, 2, NULL);
	load(e, 0, false, PHYSIM_REGIME_GUEST, 1, 0);
	load(e, 1, false, PHYSIM_REGIME_GUEST, 1, 0);
	assert_int_equal(rd(e, 1, VA_A), PA_A);
	move_s1_page(e);
	assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VAE1IS, 1ull << 48 | VA_A >> 12),
			 0);
	assert_int_equal(rd(e, 1, VA_A), PA_A);
	assert_int_equal(e->rep.n_use, 1);
	assert_int_equal(e->rep.n_pending, 1);
	print_message("%s\n", e->rep.text);
	physim_arm_dsb(cpu(e, 0));
	assert_int_equal(rd(e, 1, VA_A), PA_A2);
	assert_int_equal(e->rep.n, 1);
	env_free(e);
}

/* The 16K-granule shift bug (Zephyr #115708 class): the entry survives. */
static void test_arm_wrong_shift(void **state)
{
	(void)state;
	struct env *e = env_new(PHYSIM_ARCH_AARCH64, "aarch64-4k-48", NULL, false, 1, NULL);
	load(e, 0, false, PHYSIM_REGIME_GUEST, 1, 0);
	assert_int_equal(rd(e, 0, VA_A), PA_A);
	move_s1_page(e);
	assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VAAE1IS, VA_A >> 14), 0);
	physim_arm_dsb(cpu(e, 0));
	assert_int_equal(rd(e, 0, VA_A), PA_A);
	assert_int_equal(e->rep.n_use, 1);
	assert_int_equal(e->rep.n_pending, 0);
	assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VAAE1IS, VA_A >> 12), 0);
	physim_arm_dsb(cpu(e, 0));
	assert_int_equal(rd(e, 0, VA_A), PA_A2);
	env_free(e);
}

/* G-stage changed, HFENCE.VVMA issued: VS-stage only, the G-stage entry
 * stays and serves the next walk. */
static void test_rv_vvma_for_gstage(void **state)
{
	(void)state;
	struct env *e = env_new(PHYSIM_ARCH_RISCV64, "sv48", "sv48x4", false, 1, NULL);
	load(e, 0, true, PHYSIM_REGIME_GUEST, 1, 2);
	assert_int_equal(rd(e, 0, VA_A), PA_A);
	move_s2_page(e);
	assert_int_equal(physim_rv_hfence_vvma(cpu(e, 0), NULL, NULL), 0);
	assert_int_equal(rd(e, 0, VA_A), PA_A); /* through the G-stage entry */
	assert_int_equal(e->rep.n_use, 1);
	assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_S2);
	assert_non_null(strstr(e->rep.last.remedy, "HFENCE.GVMA"));
	print_message("%s\n", e->rep.text);
	uint64_t rs1 = PA_A >> 2, rs2 = 2;
	assert_int_equal(physim_rv_hfence_gvma(cpu(e, 0), &rs1, &rs2), 0);
	assert_int_equal(rd(e, 0, VA_A), PA_A2);
	assert_int_equal(e->rep.n, 1);
	env_free(e);
}

/* ---- audit ---- */

/* Entries on two CPUs, the table changed with no invalidation: the audit
 * finds both without any access; INVLPG on each CPU clears them. An entry
 * filled under an older CR3 is checked against that CR3's tables. */
static void test_audit(void **state)
{
	(void)state;
	struct physim_machine_config mc = {.arch = PHYSIM_ARCH_X86_64, .ncpus = 2};
	struct env *e = env_new(PHYSIM_ARCH_X86_64, "x86_64-4l", NULL, false, 2, &mc);
	for (unsigned i = 0; i < 2; i++) {
		load(e, i, false, PHYSIM_REGIME_HOST, 0, 0);
		assert_int_equal(rd(e, i, VA_A), PA_A);
	}
	assert_int_equal(physim_machine_audit(e->m), 0);
	move_s1_page(e);
	assert_int_equal(physim_machine_audit(e->m), 2);
	assert_int_equal(e->rep.n_audit, 2);
	assert_int_equal(e->rep.last.entry.pa, PA_A);
	assert_int_equal(e->rep.last.current.pa, PA_A2);
	print_message("%s\n", e->rep.text);
	assert_int_equal(physim_x86_invlpg(cpu(e, 0), VA_A), 0);
	assert_int_equal(physim_machine_audit(e->m), 1);
	assert_int_equal(physim_x86_invlpg(cpu(e, 1), VA_A), 0);
	assert_int_equal(physim_machine_audit(e->m), 0);

	/* CPU 0 caches A under table 1, switches CR3 to table 2 (PCID 2, no
	 * flush): the entry is audited against table 1. */
	assert_int_equal(physim_x86_mov_cr4(cpu(e, 0), UINT64_C(1) << 17), 0);
	load(e, 0, false, PHYSIM_REGIME_HOST, 1, 0);
	assert_int_equal(rd(e, 0, VA_A), PA_A2);
	struct physim_pt *t2;
	assert_int_equal(physim_pt_create(physim_format("x86_64-4l"), e->ph, &t2), 0);
	assert_int_equal(physim_pt_map(t2, VA_A, PA_A, 4096, URWX), 0);
	assert_int_equal(physim_x86_mov_cr3(cpu(e, 0), physim_pt_root(t2) | UINT64_C(1) << 63 | 2),
			 0);
	assert_int_equal(rd(e, 0, VA_A), PA_A);
	assert_int_equal(physim_cpu_stats(cpu(e, 0)).entries, 2);
	assert_int_equal(physim_machine_audit(e->m), 0);
	assert_int_equal(physim_pt_unmap(e->s1pt, VA_A, NULL), 0);
	assert_int_equal(physim_machine_audit(e->m), 1);
	assert_int_equal(e->rep.last.current.fault.kind, PHYSIM_FAULT_NOT_PRESENT);
	assert_int_equal(e->rep.last.entry.asid, 1);
	physim_machine_destroy(e->m);
	e->m = NULL;
	physim_pt_destroy(t2);
	env_free(e);
}

/* ---- capacity ---- */

static void test_bounded_vs_strict(void **state)
{
	(void)state;
	for (int strict = 0; strict < 2; strict++) {
		struct physim_machine_config mc = {
		    .arch = PHYSIM_ARCH_X86_64,
		    .ncpus = 1,
		    .mode = strict ? PHYSIM_CPU_STRICT : PHYSIM_CPU_BOUNDED,
		    .bounded_entries = 4, /* one set of 4 ways */
		};
		struct env *e = env_new(PHYSIM_ARCH_X86_64, "x86_64-4l", NULL, false, 1, &mc);
		for (unsigned i = 1; i < 6; i++)
			assert_int_equal(physim_pt_map(e->s1pt, VA_A + i * 4096, PA_A, 4096, URWX),
					 0);
		load(e, 0, false, PHYSIM_REGIME_HOST, 0, 0);
		for (unsigned i = 0; i < 6; i++)
			rd(e, 0, VA_A + i * 4096);
		assert_int_equal(physim_cpu_stats(cpu(e, 0)).entries, strict ? 6 : 4);
		/* the oldest went first: page 0 misses again in bounded mode */
		rd(e, 0, VA_A);
		assert_int_equal(physim_cpu_stats(cpu(e, 0)).misses, strict ? 6 : 7);
		env_free(e);
	}
}

/* 4096 PCIDs x 64 pages in strict mode: every entry kept; INVPCID type 0
 * removes exactly one, INVLPG exactly one more (the current PCID's). */
static void test_strict_many(void **state)
{
	(void)state;
	struct physim_machine_config mc = {.arch = PHYSIM_ARCH_X86_64, .ncpus = 1};
	struct env *e = env_new(PHYSIM_ARCH_X86_64, "x86_64-4l", NULL, false, 1, &mc);
	for (unsigned i = 1; i < 64; i++)
		assert_int_equal(physim_pt_map(e->s1pt, VA_A + i * 4096, PA_A, 4096, URWX), 0);
	assert_int_equal(physim_x86_mov_cr4(cpu(e, 0), UINT64_C(1) << 17), 0);
	for (unsigned pcid = 0; pcid < 4096; pcid++) {
		load(e, 0, false, PHYSIM_REGIME_HOST, (uint16_t)pcid, 0);
		for (unsigned i = 0; i < 64; i++)
			rd(e, 0, VA_A + i * 4096);
	}
	assert_int_equal(physim_cpu_stats(cpu(e, 0)).entries, 4096 * 64);
	uint64_t d[2] = {7, VA_A + 3 * 4096};
	assert_int_equal(physim_x86_invpcid(cpu(e, 0), 0, d), 0);
	assert_int_equal(physim_cpu_stats(cpu(e, 0)).entries, 4096 * 64 - 1);
	assert_int_equal(physim_x86_invlpg(cpu(e, 0), VA_A + 5 * 4096), 0);
	assert_int_equal(physim_cpu_stats(cpu(e, 0)).entries, 4096 * 64 - 2);
	/* every other entry still hits */
	uint64_t misses = physim_cpu_stats(cpu(e, 0)).misses;
	for (unsigned i = 0; i < 64; i++)
		rd(e, 0, VA_A + i * 4096);
	assert_int_equal(physim_cpu_stats(cpu(e, 0)).misses, misses + 1); /* page 5 */
	env_free(e);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
	(void)state;
	struct physim_machine *m;
	assert_int_equal(physim_machine_create(NULL, &m), -EINVAL);
	assert_int_equal(
	    physim_machine_create(&(struct physim_machine_config){.arch = PHYSIM_ARCH_X86_64}, &m),
	    -EINVAL);
	assert_int_equal(physim_machine_create(&(struct physim_machine_config){.ncpus = 1}, &m),
			 -EINVAL);
	struct env *e = env_new(PHYSIM_ARCH_X86_64, "x86_64-4l", "ept-4l", false, 1, NULL);
	struct physim_xlate x;
	assert_int_equal(physim_cpu_translate(cpu(e, 0), &(struct physim_access){.va = VA_A}, &x),
			 -ENXIO);
	/* stage 2 given as stage 1 */
	assert_int_equal(
	    physim_cpu_set_context(cpu(e, 0), &(struct physim_cpu_context){.s1 = e->s2}), -EINVAL);
	assert_int_equal(physim_cpu_set_context(cpu(e, 0), &(struct physim_cpu_context){0}),
			 -EINVAL);
	assert_null(physim_machine_cpu(e->m, 1));
	/* another family's instruction */
	assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VMALLE1, 0), -EINVAL);
	assert_int_equal(physim_la_invtlb(cpu(e, 0), 0, 0, 0), -EINVAL);
	uint64_t rs = 0;
	assert_int_equal(physim_rv_sfence_vma(cpu(e, 0), &rs, NULL), -EINVAL);
	/* write together with exec */
	load(e, 0, false, PHYSIM_REGIME_HOST, 0, 0);
	assert_int_equal(
	    physim_cpu_translate(
		cpu(e, 0), &(struct physim_access){.va = VA_A, .write = true, .exec = true}, &x),
	    -EINVAL);
	env_free(e);
}

/* ---- walk caches ---- */

/* An intermediate table replaced by a 2 MiB block (its frame freed), then
 * SFENCE.VMA with rs1 = A: only the leaf goes, the walk-cache entry for the
 * old table stays, and the next walk reports it with the rs1 = x0 remedy;
 * the audit finds it without any access. SFENCE.VMA x0, ASID clears it. */
static void test_rv_walk_cache_leaf_fence(void **state)
{
	(void)state;
	struct physim_machine_config mc = {
	    .arch = PHYSIM_ARCH_RISCV64, .ncpus = 1, .check_stale = true, .walk_caches = true};
	struct env *e = env_new(PHYSIM_ARCH_RISCV64, "sv48", NULL, false, 1, &mc);
	load(e, 0, false, PHYSIM_REGIME_HOST, 1, 0);
	assert_int_equal(rd(e, 0, VA_A), PA_A);
	/* one leaf + three non-leaf entries (512 GiB, 1 GiB, 2 MiB ranges) */
	assert_int_equal(physim_cpu_stats(cpu(e, 0)).entries, 4);
	assert_int_equal(physim_machine_audit(e->m), 0);
	assert_int_equal(physim_pt_map_region(e->s1pt, VA_A, RAM_BASE + 0x400000, 2 * MiB, URWX,
					      PHYSIM_ALLOW_HUGE | PHYSIM_REPLACE),
			 0);
	/* the audit sees the leaf and the 2 MiB walk entry differ */
	assert_int_equal(physim_machine_audit(e->m), 2);
	uint64_t rs1 = VA_A, rs2 = 1;
	assert_int_equal(physim_rv_sfence_vma(cpu(e, 0), &rs1, &rs2), 0);
	assert_int_equal(physim_machine_audit(e->m), 1);
	assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_WALK);
	int before = e->rep.n_use;
	assert_int_equal(rd(e, 0, VA_A), RAM_BASE + 0x400000);
	assert_int_equal(e->rep.n_use, before + 1);
	assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_WALK);
	assert_int_equal(e->rep.last.entry.page_size, 2 * MiB);
	assert_non_null(strstr(e->rep.last.remedy, "rs1 = x0"));
	print_message("%s\n", e->rep.text);

	/* the correct fence: rs1 = x0 */
	assert_int_equal(physim_pt_map(e->s1pt, VA_A + 2 * MiB, PA_A, 4096, URWX), 0);
	assert_int_equal(rd(e, 0, VA_A + 2 * MiB), PA_A);
	assert_int_equal(physim_pt_unmap(e->s1pt, VA_A + 2 * MiB, NULL), 0);
	assert_int_equal(physim_pt_map_region(e->s1pt, VA_A + 2 * MiB, RAM_BASE + 0x600000, 2 * MiB,
					      URWX, PHYSIM_ALLOW_HUGE | PHYSIM_REPLACE),
			 0);
	assert_int_equal(physim_rv_sfence_vma(cpu(e, 0), NULL, &rs2), 0);
	before = e->rep.n;
	assert_int_equal(rd(e, 0, VA_A + 2 * MiB), RAM_BASE + 0x600000);
	assert_int_equal(physim_machine_audit(e->m), 0);
	assert_int_equal(e->rep.n, before);
	env_free(e);
}

/* The same on AArch64: TLBI VALE1IS leaves the walk entry, VAE1IS does not. */
static void test_arm_walk_cache_vale1(void **state)
{
	(void)state;
	struct physim_machine_config mc = {
	    .arch = PHYSIM_ARCH_AARCH64, .ncpus = 2, .check_stale = true, .walk_caches = true};
	struct env *e = env_new(PHYSIM_ARCH_AARCH64, "aarch64-4k-48", NULL, false, 2, &mc);
	load(e, 0, false, PHYSIM_REGIME_GUEST, 1, 0);
	load(e, 1, false, PHYSIM_REGIME_GUEST, 1, 0);
	assert_int_equal(rd(e, 1, VA_A), PA_A);
	assert_int_equal(physim_pt_map_region(e->s1pt, VA_A, RAM_BASE + 0x400000, 2 * MiB, URWX,
					      PHYSIM_ALLOW_HUGE | PHYSIM_REPLACE),
			 0);
	assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VALE1IS, 1ull << 48 | VA_A >> 12),
			 0);
	physim_arm_dsb(cpu(e, 0));
	assert_int_equal(rd(e, 1, VA_A), RAM_BASE + 0x400000);
	assert_int_equal(e->rep.n_use, 1);
	assert_int_equal(e->rep.last.cpu, 1);
	assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_WALK);
	assert_non_null(strstr(e->rep.last.remedy, "VALE1IS"));
	print_message("%s\n", e->rep.text);
	/* VAE1IS after the next replacement: nothing to report */
	assert_int_equal(physim_pt_unmap_region(e->s1pt, VA_A, 2 * MiB), 0);
	assert_int_equal(physim_pt_map(e->s1pt, VA_A, PA_A, 4096, URWX), 0);
	assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VAE1IS, 1ull << 48 | VA_A >> 12),
			 0);
	physim_arm_dsb(cpu(e, 0));
	assert_int_equal(rd(e, 1, VA_A), PA_A);
	assert_int_equal(e->rep.n, 1);
	assert_int_equal(physim_machine_audit(e->m), 0);
	env_free(e);
}

/* ---- break-before-free ---- */

struct own_table {
	struct physim_pt *pt;
	struct physim_mmu *mmu;
};

/* A table of fmt whose frames come from the machine's checking wrapper,
 * mapping A -> PA_A, loaded on CPUs [0, ncpus). */
static struct own_table own_table(struct env *e, const char *fmt, unsigned ncpus,
				  enum physim_regime regime)
{
	struct own_table t;
	const struct physim_paging_handler *wph = physim_machine_paging_handler(e->m, e->ph);
	assert_non_null(wph);
	assert_int_equal(physim_pt_create(physim_format(fmt), wph, &t.pt), 0);
	assert_int_equal(physim_pt_map(t.pt, VA_A, PA_A, 4096, URWX), 0);
	t.mmu = tc_mmu_of(e->ph, t.pt);
	for (unsigned i = 0; i < ncpus; i++) {
		struct physim_cpu_context c = {.s1 = t.mmu, .regime = regime, .asid = 1};
		assert_int_equal(physim_cpu_set_context(cpu(e, i), &c), 0);
	}
	return t;
}

/* Tables freed while walk-cache entries still point into them: each
 * reference is reported (root: the PML4E read from it; PDPT and PD: the
 * entry pointing at them and the one read from them; PT: the PDE pointing
 * at it = 6). After INVLPG, which drops the PCID's walk-cache entries and
 * A's leaf, the same teardown is clean. */
static void test_x86_free_before_invlpg(void **state)
{
	(void)state;
	struct physim_machine_config mc = {
	    .arch = PHYSIM_ARCH_X86_64, .ncpus = 1, .walk_caches = true};
	struct env *e = env_new(PHYSIM_ARCH_X86_64, "x86_64-4l", NULL, false, 1, &mc);
	struct own_table t = own_table(e, "x86_64-4l", 1, PHYSIM_REGIME_HOST);
	assert_int_equal(rd(e, 0, VA_A), PA_A);
	physim_pt_destroy(t.pt);
	assert_int_equal(e->rep.n, 6);
	assert_int_equal(e->rep.last.kind, PHYSIM_REPORT_FREED_IN_USE);
	assert_int_equal(e->rep.last.entry.kind, PHYSIM_ENTRY_WALK);
	print_message("%s\n", e->rep.text);
	physim_mmu_destroy(t.mmu);

	struct own_table u = own_table(e, "x86_64-4l", 1, PHYSIM_REGIME_HOST);
	assert_int_equal(rd(e, 0, VA_A), PA_A);
	assert_int_equal(physim_x86_invlpg(cpu(e, 0), VA_A), 0);
	physim_pt_destroy(u.pt);
	assert_int_equal(e->rep.n, 6);
	physim_mmu_destroy(u.mmu);
	env_free(e);
}

/* A broadcast TLBI whose DSB comes after the free: the other PE still holds
 * the walk entries when the frames go, and the reports say the
 * invalidation was pending. With the DSB first, nothing is reported. */
static void test_arm_free_before_dsb(void **state)
{
	(void)state;
	struct physim_machine_config mc = {
	    .arch = PHYSIM_ARCH_AARCH64, .ncpus = 2, .walk_caches = true};
	struct env *e = env_new(PHYSIM_ARCH_AARCH64, "aarch64-4k-48", NULL, false, 2, &mc);
	struct own_table t = own_table(e, "aarch64-4k-48", 2, PHYSIM_REGIME_GUEST);
	assert_int_equal(rd(e, 1, VA_A), PA_A);
	assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VMALLE1IS, 0), 0);
	physim_pt_destroy(t.pt);
	assert_int_equal(e->rep.n, 6);
	assert_int_equal(e->rep.n_pending, 6);
	assert_int_equal(e->rep.last.cpu, 1);
	print_message("%s\n", e->rep.text);
	physim_arm_dsb(cpu(e, 0));
	physim_mmu_destroy(t.mmu);

	struct own_table u = own_table(e, "aarch64-4k-48", 2, PHYSIM_REGIME_GUEST);
	assert_int_equal(rd(e, 1, VA_A), PA_A);
	assert_int_equal(physim_arm_tlbi(cpu(e, 0), PHYSIM_TLBI_VMALLE1IS, 0), 0);
	physim_arm_dsb(cpu(e, 0));
	physim_pt_destroy(u.pt);
	assert_int_equal(e->rep.n, 6);
	assert_int_equal(physim_machine_check_free(e->m, RAM_BASE, RAM_SIZE), 0);
	physim_mmu_destroy(u.mmu);
	env_free(e);
}

/* ---- break-before-make ---- */

#define VB UINT64_C(0x40000000)

/* A live 2 MiB block split into a table (the engine writes the table
 * descriptor over the valid block) and only then invalidated: reported at
 * the invalidation's completion. Unmapping the block first (invalid, TLBI,
 * DSB, then new pages) is clean, and so is a permission-only change. */
static void bbm_case(enum physim_arch arch, const char *fmt, enum physim_regime regime)
{
	struct physim_machine_config mc = {.arch = arch, .ncpus = 1, .check_bbm = true};
	struct env *e = env_new(arch, fmt, NULL, false, 1, &mc);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(physim_pt_map(e->s1pt, VB + i * 2 * MiB,
					       RAM_BASE + 0x400000 + i * 2 * MiB, 2 * MiB, URWX),
				 0);
	load(e, 0, false, regime, 1, 0);
	struct physim_cpu *c = cpu(e, 0);
	bool arm = arch == PHYSIM_ARCH_AARCH64;

	/* 1: live split, then the invalidation */
	assert_int_equal(rd(e, 0, VB + 0x1000), RAM_BASE + 0x401000);
	assert_int_equal(physim_pt_unmap_region(e->s1pt, VB + 0x1000, 4096), 0);
	if (arm) {
		assert_int_equal(physim_arm_tlbi(c, PHYSIM_TLBI_VAE1IS, 1ull << 48 | VB >> 12), 0);
		physim_arm_dsb(c);
	} else {
		assert_int_equal(physim_x86_invlpg(c, VB), 0);
	}
	assert_int_equal(e->rep.n, 1);
	assert_int_equal(e->rep.last.kind, PHYSIM_REPORT_BBM);
	assert_int_equal(e->rep.last.entry.page_size, 2 * MiB);
	assert_int_not_equal(e->rep.last.desc_old, e->rep.last.desc_new);
	print_message("%s\n", e->rep.text);

	/* 2: break (unmap), invalidate, complete, then make */
	uint64_t v2 = VB + 2 * MiB;
	assert_int_equal(rd(e, 0, v2), RAM_BASE + 0x600000);
	assert_int_equal(physim_pt_unmap_region(e->s1pt, v2, 2 * MiB), 0);
	if (arm) {
		assert_int_equal(physim_arm_tlbi(c, PHYSIM_TLBI_VAE1IS, 1ull << 48 | v2 >> 12), 0);
		physim_arm_dsb(c);
	} else {
		assert_int_equal(physim_x86_invlpg(c, v2), 0);
	}
	assert_int_equal(physim_pt_map(e->s1pt, v2, PA_A, 4096, URWX), 0);
	assert_int_equal(rd(e, 0, v2), PA_A);

	/* 3: a permission-only change made live */
	uint64_t v3 = VB + 4 * MiB;
	assert_int_equal(rd(e, 0, v3), RAM_BASE + 0x800000);
	assert_int_equal(physim_pt_protect(e->s1pt, v3, PHYSIM_R | PHYSIM_U), 0);
	if (arm) {
		assert_int_equal(physim_arm_tlbi(c, PHYSIM_TLBI_VAE1IS, 1ull << 48 | v3 >> 12), 0);
		physim_arm_dsb(c);
	} else {
		assert_int_equal(physim_x86_invlpg(c, v3), 0);
	}
	assert_int_equal(e->rep.n, 1);
	env_free(e);
}

static void test_arm_bbm(void **state)
{
	(void)state;
	bbm_case(PHYSIM_ARCH_AARCH64, "aarch64-4k-48", PHYSIM_REGIME_GUEST);
}

static void test_x86_page_size_change(void **state)
{
	(void)state;
	bbm_case(PHYSIM_ARCH_X86_64, "x86_64-4l", PHYSIM_REGIME_HOST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hit_miss),
	    cmocka_unit_test(test_large_page),
	    cmocka_unit_test(test_fractured_combined),
	    cmocka_unit_test(test_x86_invlpg_after_ept_change),
	    cmocka_unit_test(test_arm_ipas2_alone),
	    cmocka_unit_test(test_arm_tlbi_without_dsb),
	    cmocka_unit_test(test_arm_wrong_shift),
	    cmocka_unit_test(test_rv_vvma_for_gstage),
	    cmocka_unit_test(test_audit),
	    cmocka_unit_test(test_bounded_vs_strict),
	    cmocka_unit_test(test_strict_many),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_rv_walk_cache_leaf_fence),
	    cmocka_unit_test(test_arm_walk_cache_vale1),
	    cmocka_unit_test(test_x86_free_before_invlpg),
	    cmocka_unit_test(test_arm_free_before_dsb),
	    cmocka_unit_test(test_arm_bbm),
	    cmocka_unit_test(test_x86_page_size_change),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
