/* SPDX-License-Identifier: MIT */
/* examples/tlb-bugs/tlb-arm-s2-tlbi.c - a hypervisor at EL2 moves a guest page in stage 2 and
 * invalidates the wrong way:
 *   bug-vaae1is     TLBI VAAE1IS with the unshifted IPA: a stage-1 instruction, whose operand
 *                   is a VA >> 12 - it removes neither the stage-2 nor the combined entry;
 *   bug-ipas2-only  TLBI IPAS2E1IS (IPA >> 12) alone: the stage-2 entry goes, but combined
 *                   stage 1+2 entries need not (Arm ARM DDI 0487 M.a.a C5.5.13 TLBI IPAS2E1);
 *   fixed           KVM's order: the stage-2 descriptor broken (made invalid), then
 *                   __kvm_tlb_flush_vmid_ipa: TLBI IPAS2E1IS, IPA >> 12; DSB ISH;
 *                   TLBI VMALLE1IS; DSB ISH; only then the new descriptor made
 *                   (break-before-make applies to stage 2 too, Arm ARM DDI 0487 M.a.a D8.17.1).
 * Two PEs run the guest; the IS forms reach both. */
#include "scene.h"

enum { BUG_VAAE1IS, BUG_IPAS2_ONLY, FIXED };

int main(int argc, char **argv)
{
	static const char *const variants[] = {"bug-vaae1is", "bug-ipas2-only", "fixed"};
	int v = scene_variant(argc, argv, variants, 3);
	struct scene s;
	scene_open(&s, "tlb-arm-s2-tlbi", argv[1],
		   &(struct scene_config){.arch = PHYSIM_ARCH_AARCH64,
					  .ncpus = 2,
					  .s1_format = "aarch64-4k-48",
					  .s2_format = "aarch64-s2-4k-40"});
	for (unsigned i = 0; i < 2; i++) {
		scene_run_guest(&s, i);
		scene_read(&s, i, GVA);
	}

	scene_vm_exit(&s, 0);
	if (v == FIXED)
		scene_unmap_s2(&s, GPA);
	else
		scene_move_s2(&s, GPA, NEW_PA);
	struct physim_cpu *pe = scene_cpu(&s, 0);
	if (v == BUG_VAAE1IS) {
		scene_did(&s, physim_arm_tlbi(pe, PHYSIM_TLBI_VAAE1IS, GPA),
			  "cpu 0: TLBI VAAE1IS, 0x%llx (the IPA, unshifted)",
			  (unsigned long long)GPA);
	} else {
		scene_did(&s, physim_arm_tlbi(pe, PHYSIM_TLBI_IPAS2E1IS, GPA >> 12),
			  "cpu 0: TLBI IPAS2E1IS, 0x%llx (IPA >> 12)",
			  (unsigned long long)(GPA >> 12));
	}
	physim_arm_dsb(pe);
	printf("cpu 0: DSB ISH\n");
	if (v == FIXED) {
		scene_did(&s, physim_arm_tlbi(pe, PHYSIM_TLBI_VMALLE1IS, 0),
			  "cpu 0: TLBI VMALLE1IS");
		physim_arm_dsb(pe);
		printf("cpu 0: DSB ISH\n");
		scene_map_s2(&s, GPA, NEW_PA);
	}
	scene_run_guest(&s, 0); /* ERET to the guest */
	for (unsigned i = 0; i < 2; i++)
		scene_read(&s, i, GVA);
	return scene_finish(&s, v != FIXED,
			    &(struct scene_expect){.kind = PHYSIM_ENTRY_COMB,
						   .cpu = -1,
						   .remedy = {"IPAS2E1IS", "VMALLE1IS"}});
}
