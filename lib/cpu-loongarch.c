/* SPDX-License-Identifier: MIT */
/* lib/cpu-loongarch.c - LoongArch INVTLB (LoongArch Reference Manual Vol. 1,
 * "INVTLB") on a simulated core: operations 0x0-0x6, rj = ASID
 * (bits 9:0), rk = virtual address. INVTLB acts on the executing core only;
 * other cores are reached by the code under test's IPIs. */
#include "cpu-priv.h"

#define LA_ASID_MASK 0x3FFu

int physim_la_invtlb(struct physim_cpu *cpu, unsigned op, uint64_t rj, uint64_t rk)
{
	if (cpu == NULL || physim_cpui_arch(cpu) != PHYSIM_ARCH_LOONGARCH64 || op > 6)
		return -EINVAL; /* other ops: reserved instruction exception */
	physim_cpui_drain(cpu);
	physim_cpui_count_inval(cpu);
	struct inval iv = inval_all("INVTLB");
	iv.kinds = KIND_S1;
	uint16_t asid = (uint16_t)(rj & LA_ASID_MASK);
	switch (op) {
	case 0x0: /* every entry */
	case 0x1: /* the same */
		iv.name = op == 0 ? "INVTLB 0x0" : "INVTLB 0x1";
		break;
	case 0x2: /* every entry with G = 1 */
		iv.name = "INVTLB 0x2";
		iv.global = INV_GLB_ONLY_GLOBAL;
		break;
	case 0x3: /* every entry with G = 0 */
		iv.name = "INVTLB 0x3";
		iv.global = INV_GLB_NONGLOBAL;
		break;
	case 0x4: /* G = 0 and ASID = rj */
		iv.name = "INVTLB 0x4";
		iv.global = INV_GLB_NONGLOBAL;
		iv.asid = asid;
		break;
	case 0x5: /* G = 0, ASID = rj and VA = rk */
		iv.name = "INVTLB 0x5";
		iv.global = INV_GLB_NONGLOBAL;
		iv.asid = asid;
		iv.addr_mode = INV_ADDR_INPUT;
		iv.addr = rk;
		iv.addr_mask = ~UINT64_C(0xFFF);
		break;
	default: /* 0x6: (G = 1 or ASID = rj) and VA = rk */
		iv.name = "INVTLB 0x6";
		iv.asid = asid;
		iv.addr_mode = INV_ADDR_INPUT;
		iv.addr = rk;
		iv.addr_mask = ~UINT64_C(0xFFF);
		break;
	}
	physim_cpui_note_issued(cpu, &iv, (int)physim_cpu_index(cpu), 0, false);
	physim_cpui_apply(cpu, &iv);
	return 0;
}

const char *physim_cpui_la_remedy(const struct physim_cpu_entry *e, bool stage2_changed)
{
	(void)stage2_changed;
	return e->global ? "INVTLB 0x6 (rj = ASID, rk = VA) on every core that may cache it "
			   "(LoongArch Reference Manual Vol. 1, INVTLB)"
			 : "INVTLB 0x5 (rj = ASID, rk = VA) on every core that may cache it "
			   "(LoongArch Reference Manual Vol. 1, INVTLB)";
}
