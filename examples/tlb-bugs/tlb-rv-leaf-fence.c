/* SPDX-License-Identifier: MIT */
/* examples/tlb-bugs/tlb-rv-leaf-fence.c - a RISC-V kernel collapses 4 KiB pages into one 2 MiB
 * megapage (the page table that held them is freed) and fences with SFENCE.VMA vaddr, asid:
 * with rs1 != x0 the fence orders only the leaf PTEs for that address, so the hart may keep
 * walking through its cached non-leaf entry into the freed table. Fixed: SFENCE.VMA x0, asid,
 * which covers every level (privileged spec, SFENCE.VMA). */
#include "scene.h"

#define BLOCK_PA (RAM_BASE + UINT64_C(0x400000)) /* the 2 MiB megapage's frames */

int main(int argc, char **argv)
{
	static const char *const variants[] = {"bug", "fixed"};
	bool planted = scene_variant(argc, argv, variants, 2) == 0;
	struct scene s;
	scene_open(&s, "tlb-rv-leaf-fence", argv[1],
		   &(struct scene_config){.arch = PHYSIM_ARCH_RISCV64,
					  .ncpus = 1,
					  .s1_format = "sv48",
					  .regime = PHYSIM_REGIME_HOST});
	scene_run_guest(&s, 0);
	scene_read(&s, 0, GVA); /* the leaf and the three non-leaf PTEs above it are cached */

	/* the collapse: one 2 MiB leaf replaces the table of 4 KiB leaves */
	scene_did(&s,
		  physim_pt_map_region(s.s1pt, GVA, BLOCK_PA, UINT64_C(2) << 20,
				       PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U,
				       PHYSIM_ALLOW_HUGE | PHYSIM_REPLACE),
		  "the code under test maps 0x%llx as one 2 MiB page at 0x%llx (its page table "
		  "is freed)",
		  (unsigned long long)GVA, (unsigned long long)BLOCK_PA);
	const uint64_t vaddr = GVA, asid = ASID;
	if (planted)
		scene_did(&s, physim_rv_sfence_vma(scene_cpu(&s, 0), &vaddr, &asid),
			  "hart 0: SFENCE.VMA 0x%llx, %u", (unsigned long long)vaddr, ASID);
	else
		scene_did(&s, physim_rv_sfence_vma(scene_cpu(&s, 0), NULL, &asid),
			  "hart 0: SFENCE.VMA x0, %u", ASID);

	scene_read(&s, 0, GVA);
	return scene_finish(&s, planted,
			    &(struct scene_expect){.kind = PHYSIM_ENTRY_WALK,
						   .cpu = 0,
						   .remedy = {"rs1 = x0", "leaf"}});
}
