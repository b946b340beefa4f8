/* SPDX-License-Identifier: MIT */
/* examples/tlb-bugs/tlb-no-dsb.c - an AArch64 kernel changes a page-table entry, issues
 * TLBI VAE1IS and lets the other PE go on without a DSB: a TLBI is only guaranteed complete,
 * on every PE it targets, after a DSB of the issuing PE (Arm ARM DDI 0487 M.a.a D8.17.8), so the
 * other PE may still use the old entry. Fixed: DSB ISH between the TLBI and the use. */
#include "scene.h"

int main(int argc, char **argv)
{
	static const char *const variants[] = {"bug", "fixed"};
	bool planted = scene_variant(argc, argv, variants, 2) == 0;
	struct scene s;
	scene_open(&s, "tlb-no-dsb", argv[1],
		   &(struct scene_config){.arch = PHYSIM_ARCH_AARCH64,
					  .ncpus = 2,
					  .s1_format = "aarch64-4k-48",
					  .regime = PHYSIM_REGIME_GUEST /* EL1&0 */});
	for (unsigned i = 0; i < 2; i++) {
		scene_run_guest(&s, i);
		scene_read(&s, i, GVA);
	}

	scene_unmap_s1(&s, GVA);
	uint64_t xt = (uint64_t)ASID << 48 | GVA >> 12;
	struct physim_cpu *pe = scene_cpu(&s, 0);
	scene_did(&s, physim_arm_tlbi(pe, PHYSIM_TLBI_VAE1IS, xt), "cpu 0: TLBI VAE1IS, 0x%llx",
		  (unsigned long long)xt);
	if (!planted) {
		physim_arm_dsb(pe);
		printf("cpu 0: DSB ISH\n");
	}
	scene_map_s1(&s, GVA, NEW_PA);
	/* cpu 0 tells cpu 1 the page has moved; cpu 1 uses it */
	scene_read(&s, 1, GVA);
	return scene_finish(
	    &s, planted,
	    &(struct scene_expect){
		.kind = PHYSIM_ENTRY_S1, .cpu = 1, .pending = true, .remedy = {"DSB"}});
}
