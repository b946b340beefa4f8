/* SPDX-License-Identifier: MIT */
/* examples/tlb-bugs/tlb-missing-flush.c - a kernel rewrites one of its page-table entries and
 * never invalidates the TLB (ArceOS PR #296, nanvix PR #2244): the next access still goes to
 * the old frame. Fixed: INVLPG of the address after the change (SDM Vol. 3A 4.10.4.1). */
#include "scene.h"

int main(int argc, char **argv)
{
	static const char *const variants[] = {"bug", "fixed"};
	bool planted = scene_variant(argc, argv, variants, 2) == 0;
	struct scene s;
	scene_open(&s, "tlb-missing-flush", argv[1],
		   &(struct scene_config){.arch = PHYSIM_ARCH_X86_64,
					  .ncpus = 1,
					  .s1_format = "x86_64-4l",
					  .regime = PHYSIM_REGIME_HOST});
	scene_run_guest(&s, 0);
	scene_read(&s, 0, GVA); /* the translation is now cached */

	/* the code under test: remap the page ... */
	scene_move_s1(&s, GVA, NEW_PA);
	/* ... and (fixed only) flush it */
	if (!planted)
		scene_did(&s, physim_x86_invlpg(scene_cpu(&s, 0), GVA), "cpu 0: INVLPG 0x%llx",
			  (unsigned long long)GVA);

	scene_read(&s, 0, GVA);
	return scene_finish(
	    &s, planted,
	    &(struct scene_expect){.kind = PHYSIM_ENTRY_S1, .cpu = 0, .remedy = {"INVLPG"}});
}
