/* SPDX-License-Identifier: MIT */
/* examples/tlb-bugs/tlb-arm-granule-shift.c - an AArch64 kernel with a 64K (or 16K) granule
 * builds the TLBI VAE1IS operand as VA >> PAGE_SHIFT (Zephyr #115708): the operand's field is
 * VA[55:12] in bits 43:0 whatever the granule, so it names another address and the entry
 * survives. Fixed: Xt = ASID << 48 | VA >> 12, as Linux's __TLBI_VADDR builds it. */
#include "scene.h"

int main(int argc, char **argv)
{
	static const char *const variants[] = {"bug", "fixed", "bug-16k", "fixed-16k"};
	int v = scene_variant(argc, argv, variants, 4);
	bool planted = v == 0 || v == 2;
	bool k16 = v >= 2;
	unsigned page_shift = k16 ? 14 : 16;
	struct scene s;
	scene_open(&s, "tlb-arm-granule-shift", argv[1],
		   &(struct scene_config){.arch = PHYSIM_ARCH_AARCH64,
					  .ncpus = 2,
					  .s1_format = k16 ? "aarch64-16k-47" : "aarch64-64k-48",
					  .regime = PHYSIM_REGIME_GUEST, /* EL1&0 */
					  .page_size = UINT64_C(1) << page_shift});
	for (unsigned i = 0; i < 2; i++) {
		scene_run_guest(&s, i);
		scene_read(&s, i, GVA);
	}

	/* break: the old descriptor goes, then the invalidation */
	scene_unmap_s1(&s, GVA);
	unsigned shift = planted ? page_shift : 12;
	uint64_t xt = (uint64_t)ASID << 48 | GVA >> shift;
	struct physim_cpu *pe = scene_cpu(&s, 0);
	scene_did(&s, physim_arm_tlbi(pe, PHYSIM_TLBI_VAE1IS, xt),
		  "cpu 0: TLBI VAE1IS, 0x%llx (ASID << 48 | VA >> %u)", (unsigned long long)xt,
		  shift);
	physim_arm_dsb(pe);
	printf("cpu 0: DSB ISH\n");
	scene_map_s1(&s, GVA, NEW_PA); /* make */
	for (unsigned i = 0; i < 2; i++)
		scene_read(&s, i, GVA);
	return scene_finish(
	    &s, planted,
	    &(struct scene_expect){.kind = PHYSIM_ENTRY_S1,
				   .cpu = -1,
				   .remedy = {"VA[55:12]", "whatever the granule"}});
}
