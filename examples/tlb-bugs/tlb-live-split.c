/* SPDX-License-Identifier: MIT */
/* examples/tlb-bugs/tlb-live-split.c - an AArch64 kernel unmaps one 4 KiB page out of a live
 * 2 MiB block mapping by writing a table descriptor (the other 511 pages) straight over the
 * valid block, and invalidates afterwards (edk2 #7057, tinykvm #80): a block <-> table change
 * of a valid descriptor needs break-before-make - invalid, TLBI, DSB, then the table (Arm ARM
 * DDI 0487 M.a.a D8.17.1) - or the PEs may hold the block and the new pages at once. Fixed: break
 * the block, invalidate, complete, then make the 4 KiB pages. */
#include "scene.h"

#define BLOCK_VA UINT64_C(0x40000000)
#define BLOCK_PA (RAM_BASE + UINT64_C(0x400000))
#define MIB2	 (UINT64_C(2) << 20)
#define RWXU	 (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U)

static void tlbi_dsb(struct scene *s)
{
	uint64_t xt = (uint64_t)ASID << 48 | BLOCK_VA >> 12;
	struct physim_cpu *pe = scene_cpu(s, 0);
	scene_did(s, physim_arm_tlbi(pe, PHYSIM_TLBI_VAE1IS, xt), "cpu 0: TLBI VAE1IS, 0x%llx",
		  (unsigned long long)xt);
	physim_arm_dsb(pe);
	printf("cpu 0: DSB ISH\n");
}

int main(int argc, char **argv)
{
	static const char *const variants[] = {"bug", "fixed"};
	bool planted = scene_variant(argc, argv, variants, 2) == 0;
	struct scene s;
	scene_open(&s, "tlb-live-split", argv[1],
		   &(struct scene_config){.arch = PHYSIM_ARCH_AARCH64,
					  .ncpus = 2,
					  .s1_format = "aarch64-4k-48",
					  .regime = PHYSIM_REGIME_GUEST /* EL1&0 */});
	scene_did(&s, physim_pt_map(s.s1pt, BLOCK_VA, BLOCK_PA, MIB2, RWXU),
		  "the kernel maps 0x%llx as one 2 MiB block at 0x%llx",
		  (unsigned long long)BLOCK_VA, (unsigned long long)BLOCK_PA);
	for (unsigned i = 0; i < 2; i++) {
		scene_run_guest(&s, i);
		scene_read(&s, i, BLOCK_VA + 0x1000);
	}

	if (planted) {
		/* the engine splits the live block: a table descriptor replaces it at once */
		scene_did(&s, physim_pt_unmap_region(s.s1pt, BLOCK_VA + 0x1000, 4096),
			  "the code under test unmaps 0x%llx: the live block becomes a table",
			  (unsigned long long)(BLOCK_VA + 0x1000));
		tlbi_dsb(&s);
	} else {
		scene_did(&s, physim_pt_unmap_region(s.s1pt, BLOCK_VA, MIB2),
			  "the code under test breaks the block (invalid descriptor)");
		tlbi_dsb(&s);
		int rc = physim_pt_map_region(s.s1pt, BLOCK_VA, BLOCK_PA, 0x1000, RWXU, 0);
		if (rc == 0)
			rc = physim_pt_map_region(s.s1pt, BLOCK_VA + 0x2000, BLOCK_PA + 0x2000,
						  MIB2 - 0x2000, RWXU, 0);
		scene_did(&s, rc, "... and makes the 511 remaining 4 KiB pages");
	}
	for (unsigned i = 0; i < 2; i++)
		scene_read(&s, i, BLOCK_VA + 0x2000);
	return scene_finish(&s, planted,
			    &(struct scene_expect){.report = PHYSIM_REPORT_BBM,
						   .kind = PHYSIM_ENTRY_S1,
						   .cpu = 0,
						   .remedy = {"invalid descriptor", "D8.17.1"}});
}
