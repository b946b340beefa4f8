/* SPDX-License-Identifier: MIT */
/* examples/tlb-bugs/tlb-rv-hfence-vvma.c - a RISC-V hypervisor moves a guest page in the
 * G-stage table and fences with HFENCE.VVMA, which orders only VS-stage translations: the
 * G-stage (guest-physical) entry survives and the guest's next walk goes through it. Fixed:
 * HFENCE.GVMA with rs1 = GPA >> 2 and rs2 = VMID (privileged spec, H extension,
 * "Hypervisor Memory-Management Fence Instructions"). */
#include "scene.h"

int main(int argc, char **argv)
{
	static const char *const variants[] = {"bug", "fixed"};
	bool planted = scene_variant(argc, argv, variants, 2) == 0;
	struct scene s;
	scene_open(&s, "tlb-rv-hfence-vvma", argv[1],
		   &(struct scene_config){.arch = PHYSIM_ARCH_RISCV64,
					  .ncpus = 1,
					  .s1_format = "sv48",
					  .s2_format = "sv48x4"});
	scene_run_guest(&s, 0);
	scene_read(&s, 0, GVA);

	scene_vm_exit(&s, 0);
	scene_move_s2(&s, GPA, NEW_PA);
	struct physim_cpu *hart = scene_cpu(&s, 0);
	if (planted) {
		scene_did(&s, physim_rv_hfence_vvma(hart, NULL, NULL),
			  "hart 0: HFENCE.VVMA x0, x0 (hgatp.VMID %u)", VMID);
	} else {
		const uint64_t gaddr = GPA >> 2, vmid = VMID;
		scene_did(&s, physim_rv_hfence_gvma(hart, &gaddr, &vmid),
			  "hart 0: HFENCE.GVMA 0x%llx (GPA >> 2), %u", (unsigned long long)gaddr,
			  VMID);
	}
	scene_run_guest(&s, 0); /* SRET with V = 1 */
	scene_read(&s, 0, GVA);
	return scene_finish(&s, planted,
			    &(struct scene_expect){.kind = PHYSIM_ENTRY_S2,
						   .cpu = 0,
						   .remedy = {"HFENCE.GVMA", "VS-stage"}});
}
