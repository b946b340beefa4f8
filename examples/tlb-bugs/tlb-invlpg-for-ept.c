/* SPDX-License-Identifier: MIT */
/* examples/tlb-bugs/tlb-invlpg-for-ept.c - a VMM moves a guest page in EPT and issues INVLPG
 * of the guest-physical address: INVLPG invalidates linear and combined mappings of the
 * current VPID (VPID 0 in VMX root), never guest-physical mappings, so the guest keeps using
 * the old frame. Fixed: INVEPT single-context with the VM's EPTP (SDM Vol. 3C "Operations that
 * Invalidate Cached Mappings"). */
#include "scene.h"

int main(int argc, char **argv)
{
	static const char *const variants[] = {"bug", "fixed"};
	bool planted = scene_variant(argc, argv, variants, 2) == 0;
	struct scene s;
	scene_open(&s, "tlb-invlpg-for-ept", argv[1],
		   &(struct scene_config){.arch = PHYSIM_ARCH_X86_64,
					  .ncpus = 1,
					  .s1_format = "x86_64-4l",
					  .s2_format = "ept-4l"});
	scene_run_guest(&s, 0);
	scene_read(&s, 0, GVA);

	/* the VMM, after a VM exit, moves the guest's page in EPT */
	scene_vm_exit(&s, 0);
	scene_move_s2(&s, GPA, NEW_PA);
	struct physim_cpu *cpu = scene_cpu(&s, 0);
	if (planted) {
		scene_did(&s, physim_x86_invlpg(cpu, GPA), "cpu 0: INVLPG 0x%llx (the GPA)",
			  (unsigned long long)GPA);
	} else {
		const uint64_t desc[2] = {physim_pt_root(s.s2pt) | 3u << 3 | 6u, 0};
		scene_did(&s, physim_x86_invept(cpu, 1, desc),
			  "cpu 0: INVEPT single-context, EPTP 0x%llx", (unsigned long long)desc[0]);
	}
	scene_run_guest(&s, 0); /* VM entry */
	scene_read(&s, 0, GVA);
	return scene_finish(&s, planted,
			    &(struct scene_expect){.kind = PHYSIM_ENTRY_COMB,
						   .cpu = 0,
						   .remedy = {"INVEPT single-context", "INVLPG"}});
}
