/* SPDX-License-Identifier: MIT */
/* lib/cpu-loongarch.c - LoongArch INVTLB (LoongArch Reference Manual Vol. 1,
 * "INVTLB") on a simulated core: operations 0x0-0x6, rj = ASID
 * (bits 9:0), rk = virtual address. INVTLB acts on the executing core only;
 * other cores are reached by the code under test's IPIs. */
#include "cpu-priv.h"

#include <stdio.h>
#include <string.h>

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
	return e->global
		   ? "INVTLB 0x6 with rk = the VA (rj: any ASID; 0x6 removes the entries of the "
		     "VA that are global or of ASID rj), or 0x2 / 0x0 for every global entry, on "
		     "every core that may cache it: 0x3, 0x4 and 0x5 keep G = 1 entries "
		     "(LoongArch Reference Manual Vol. 1, INVTLB)"
		   : "INVTLB 0x5 with rj = the entry's ASID (rj[9:0]) and rk = the VA itself (or "
		     "0x6 likewise; 0x4 for every page of the ASID), on every core that may cache "
		     "it: INVTLB acts on the executing core only (LoongArch Reference Manual Vol. "
		     "1, INVTLB)";
}

/* What INVTLB op removes, in the manual's terms. */
static const char *op_removes(unsigned op)
{
	switch (op) {
	case 0x0:
	case 0x1:
		return "every entry";
	case 0x2:
		return "the entries with G = 1";
	case 0x3:
		return "the entries with G = 0";
	case 0x4:
		return "the entries with G = 0 and ASID = rj";
	case 0x5:
		return "the entries with G = 0, ASID = rj and VA = rk";
	default:
		return "the entries with VA = rk that have G = 1 or ASID = rj";
	}
}

/* The op of a recorded INVTLB, from its name ("INVTLB 0x5"); 7 if none. */
static unsigned op_of(const struct inval *iv)
{
	const char *n = iv->name;
	if (n == NULL || strncmp(n, "INVTLB 0x", 9) != 0 || n[9] < '0' || n[9] > '6')
		return 7;
	return (unsigned)(n[9] - '0');
}

const char *physim_cpui_la_why(const struct inval *iv, const struct physim_cpu_entry *e,
			       unsigned miss, char *buf, size_t len)
{
	unsigned op = op_of(iv);
	if (op > 6)
		return NULL;
	const char *rm = op_removes(op);
	const char *cite = "(LoongArch Reference Manual Vol. 1, INVTLB)";
	uint64_t page = e->va & ~UINT64_C(0xFFF);
	bool by_asid = op >= 4, by_va = op >= 5;
	if (miss & MISS_CPU) {
		snprintf(buf, len,
			 "which removes %s on the executing core only: the other cores must run "
			 "it too (an IPI) %s",
			 rm, cite);
	} else if ((miss & (MISS_ASID | MISS_ADDR)) && by_va && iv->addr == e->asid &&
		   (uint32_t)iv->asid != e->asid) {
		snprintf(buf, len,
			 "which removes %s, but rk held 0x%llx - the entry's ASID - and rj[9:0] "
			 "0x%x: rj and rk swapped; rj takes the ASID, rk the virtual address %s",
			 rm, (unsigned long long)iv->addr, (unsigned)iv->asid, cite);
	} else if ((miss & MISS_ASID) && e->global && iv->global == INV_GLB_NONGLOBAL) {
		snprintf(buf, len,
			 "which removes %s, and this entry is global (G = 1): a global page "
			 "needs INVTLB 0x6 (rk = VA), 0x2 or 0x0 %s",
			 rm, cite);
	} else if ((miss & MISS_ASID) && !e->global && iv->global == INV_GLB_ONLY_GLOBAL) {
		snprintf(buf, len,
			 "which removes %s, and this entry has G = 0 (ASID %u): it needs INVTLB "
			 "0x5 with rj = %u and rk = VA (0x4 with rj = %u for the whole ASID) %s",
			 rm, e->asid, e->asid, e->asid, cite);
	} else if ((miss & MISS_ASID) && by_asid) {
		snprintf(buf, len,
			 "which removes %s, and rj[9:0] named ASID %d, not the entry's %u: INVTLB "
			 "0x%x with rj = %u %s",
			 rm, (int)iv->asid, e->asid, op, e->asid, cite);
	} else if ((miss & MISS_ADDR) && by_va && ((iv->addr << 12) & ~UINT64_C(0xFFF)) == page) {
		snprintf(buf, len,
			 "which removes %s, but rk held 0x%llx, the page number (VA >> 12): rk "
			 "takes the virtual address itself, 0x%llx %s",
			 rm, (unsigned long long)iv->addr, (unsigned long long)page, cite);
	} else if ((miss & MISS_ADDR) && by_va) {
		snprintf(buf, len,
			 "which removes %s, and rk named VA 0x%llx, not this entry's page 0x%llx: "
			 "INVTLB 0x%x with rk = 0x%llx %s",
			 rm, (unsigned long long)iv->addr, (unsigned long long)page, op,
			 (unsigned long long)page, cite);
	} else {
		return NULL;
	}
	return buf;
}
