/* SPDX-License-Identifier: MIT */
/* examples/tlb-bugs/tlb-rv-gvma-shift.c - a RISC-V hypervisor moves a guest page in the
 * G-stage table and issues HFENCE.GVMA with the guest-physical address itself in rs1: the
 * instruction takes GPA >> 2 (guest-physical addresses are up to XLEN + 2 bits wide), so it
 * fences an address four times too high and the combined entry survives. Fixed: rs1 = GPA >> 2
 * (privileged spec, H extension, HFENCE.GVMA). */
#include "scene.h"

int main(int argc, char **argv)
{
	static const char *const variants[] = {"bug", "fixed"};
	bool planted = scene_variant(argc, argv, variants, 2) == 0;
	struct scene s;
	scene_open(&s, "tlb-rv-gvma-shift", argv[1],
		   &(struct scene_config){.arch = PHYSIM_ARCH_RISCV64,
					  .ncpus = 1,
					  .s1_format = "sv48",
					  .s2_format = "sv48x4"});
	scene_run_guest(&s, 0);
	scene_read(&s, 0, GVA);

	scene_vm_exit(&s, 0);
	scene_move_s2(&s, GPA, NEW_PA);
	const uint64_t gaddr = planted ? GPA : GPA >> 2, vmid = VMID;
	scene_did(&s, physim_rv_hfence_gvma(scene_cpu(&s, 0), &gaddr, &vmid),
		  "hart 0: HFENCE.GVMA 0x%llx (%s), %u", (unsigned long long)gaddr,
		  planted ? "the GPA, unshifted" : "GPA >> 2", VMID);
	scene_run_guest(&s, 0);
	scene_read(&s, 0, GVA);
	return scene_finish(&s, planted,
			    &(struct scene_expect){.kind = PHYSIM_ENTRY_COMB,
						   .cpu = 0,
						   .remedy = {"HFENCE.GVMA", "GPA >> 2"}});
}
