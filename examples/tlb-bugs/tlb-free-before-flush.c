/* SPDX-License-Identifier: MIT */
/* examples/tlb-bugs/tlb-free-before-flush.c - an AArch64 kernel tears down an address space
 * that two PEs have used and frees its page tables (asterinas #1387 review, tgoskits #2009):
 *   bug-no-tlbi     the tables are freed with no invalidation at all;
 *   bug-before-dsb  TLBI VMALLE1IS is issued, but the tables are freed before the DSB that
 *                   completes it, while the other PE's walk caches may still point into them;
 *   fixed           TLBI VMALLE1IS; DSB ISH; then free (Arm ARM DDI 0487 M.a.a D8.17.8: a TLBI is
 * complete only after the DSB). The tables' frames come through physim's checking paging handler,
 * which reports a frame freed while some PE still caches it (break-before-free). */
#include "scene.h"

enum { BUG_NO_TLBI, BUG_BEFORE_DSB, FIXED };

int main(int argc, char **argv)
{
	static const char *const variants[] = {"bug-no-tlbi", "bug-before-dsb", "fixed"};
	int v = scene_variant(argc, argv, variants, 3);
	struct scene s;
	scene_open(&s, "tlb-free-before-flush", argv[1],
		   &(struct scene_config){.arch = PHYSIM_ARCH_AARCH64,
					  .ncpus = 2,
					  .s1_format = "aarch64-4k-48",
					  .regime = PHYSIM_REGIME_GUEST, /* EL1&0 */
					  .check_frees = true});
	for (unsigned i = 0; i < 2; i++) {
		scene_run_guest(&s, i);
		scene_read(&s, i, GVA);
	}

	struct physim_cpu *pe = scene_cpu(&s, 0);
	if (v != BUG_NO_TLBI)
		scene_did(&s, physim_arm_tlbi(pe, PHYSIM_TLBI_VMALLE1IS, 0),
			  "cpu 0: TLBI VMALLE1IS");
	if (v == FIXED) {
		physim_arm_dsb(pe);
		printf("cpu 0: DSB ISH\n");
	}
	printf("the code under test frees the address space's page tables\n");
	physim_pt_destroy(s.s1pt);
	s.s1pt = NULL;
	if (v == BUG_BEFORE_DSB) {
		physim_arm_dsb(pe);
		printf("cpu 0: DSB ISH\n");
	}
	return scene_finish(&s, v != FIXED,
			    &(struct scene_expect){.report = PHYSIM_REPORT_FREED_IN_USE,
						   .kind = PHYSIM_ENTRY_WALK,
						   .cpu = 1,
						   .pending = v == BUG_BEFORE_DSB,
						   .remedy = {"DSB ISH"}});
}
