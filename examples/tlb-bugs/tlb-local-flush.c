/* SPDX-License-Identifier: MIT */
/* examples/tlb-bugs/tlb-local-flush.c - a multiprocessor x86 kernel changes a page-table entry
 * and flushes only the processor it runs on (page_table_multiarch PR #32): INVLPG acts on one
 * logical processor, and x86 has no broadcast invalidation - the other processor, which cached
 * the page, keeps the old translation. Fixed: a shootdown, the other processor's IPI handler
 * runs INVLPG too (Linux native_flush_tlb_multi; SDM Vol. 3A 4.10.5). */
#include "scene.h"

int main(int argc, char **argv)
{
	static const char *const variants[] = {"bug", "fixed"};
	bool planted = scene_variant(argc, argv, variants, 2) == 0;
	struct scene s;
	scene_open(&s, "tlb-local-flush", argv[1],
		   &(struct scene_config){.arch = PHYSIM_ARCH_X86_64,
					  .ncpus = 2,
					  .s1_format = "x86_64-4l",
					  .regime = PHYSIM_REGIME_HOST});
	for (unsigned i = 0; i < 2; i++) {
		scene_run_guest(&s, i);
		scene_read(&s, i, GVA);
	}

	scene_move_s1(&s, GVA, NEW_PA);
	scene_did(&s, physim_x86_invlpg(scene_cpu(&s, 0), GVA), "cpu 0: INVLPG 0x%llx",
		  (unsigned long long)GVA);
	if (!planted)
		scene_did(&s, physim_x86_invlpg(scene_cpu(&s, 1), GVA),
			  "cpu 1: INVLPG 0x%llx (the shootdown IPI's handler)",
			  (unsigned long long)GVA);
	for (unsigned i = 0; i < 2; i++)
		scene_read(&s, i, GVA);
	return scene_finish(&s, planted,
			    &(struct scene_expect){.kind = PHYSIM_ENTRY_S1,
						   .cpu = 1,
						   .remedy = {"INVLPG", "every processor"}});
}
