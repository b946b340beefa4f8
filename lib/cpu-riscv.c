/* SPDX-License-Identifier: MIT */
/* lib/cpu-riscv.c - the RISC-V address-translation fences on simulated harts:
 * SFENCE.VMA, HFENCE.VVMA, HFENCE.GVMA (RISC-V privileged spec, "Supervisor
 * Memory-Management Fence Instruction" and the H extension's "Hypervisor
 * Memory-Management Fence Instructions"), Svinval's SINVAL.VMA / HINVAL.VVMA
 * / HINVAL.GVMA with SFENCE.W.INVAL and SFENCE.INVAL.IR, and SBI RFENCE (SBI
 * spec, "RFENCE Extension") as the remote fence.
 *
 * Regimes: PHYSIM_REGIME_HOST is V = 0 (satp), PHYSIM_REGIME_GUEST V = 1
 * (vsatp, hgatp). A fence with rs1 != x0 orders only leaf PTEs of the
 * address: it removes the final translations of the address and leaves
 * the walk-cache (non-leaf) entries (inval.leaf_only). */
#include "cpu-priv.h"

/* Operand forms shared by SFENCE.VMA and HFENCE.VVMA: rs1 = x0 or a virtual
 * address, rs2 = x0 or an ASID (global entries are kept when rs2 != x0). */
static void vma_operands(struct inval *iv, const uint64_t *rs1, const uint64_t *rs2)
{
	if (rs1 != NULL) {
		iv->addr_mode = INV_ADDR_INPUT;
		iv->addr = *rs1;
		iv->addr_mask = ~UINT64_C(0xFFF);
		iv->leaf_only = true; /* only leaf PTEs for the address */
	}
	if (rs2 != NULL) {
		iv->asid = (uint16_t)*rs2; /* ASIDLEN <= 16 */
		iv->global = INV_GLB_NONGLOBAL;
	}
}

/* SFENCE.VMA at V = 0: the HS-level (satp) translations. At V = 1 it acts
 * as HFENCE.VVMA for the current VMID (H extension). */
static struct inval sfence_vma(struct physim_cpu *cpu, const uint64_t *rs1, const uint64_t *rs2,
			       const char *name)
{
	struct inval iv = inval_all(name);
	const struct physim_cpu_context *ctx = physim_cpui_ctx(cpu);
	iv.kinds = KIND_S1;
	iv.regime = PHYSIM_REGIME_HOST;
	if (physim_cpui_has_ctx(cpu) && ctx->regime == PHYSIM_REGIME_GUEST) {
		iv.kinds = KIND_S1 | KIND_COMB;
		iv.regime = PHYSIM_REGIME_GUEST;
		iv.vmid = ctx->vmid;
	}
	vma_operands(&iv, rs1, rs2);
	return iv;
}

/* HFENCE.VVMA: VS-stage translations (V = 1) of the current hgatp.VMID,
 * combined ones included; G-stage-only entries stay. */
static struct inval hfence_vvma(uint16_t vmid, const uint64_t *rs1, const uint64_t *rs2,
				const char *name)
{
	struct inval iv = inval_all(name);
	iv.kinds = KIND_S1 | KIND_COMB;
	iv.regime = PHYSIM_REGIME_GUEST;
	iv.vmid = vmid;
	vma_operands(&iv, rs1, rs2);
	return iv;
}

/* HFENCE.GVMA: G-stage translations, rs1 = GPA >> 2, rs2 = VMID. Combined
 * entries whose GPA is the address's go too (the spec's commentary: "any
 * entry whose guest virtual address maps to a guest physical address that
 * matches the HFENCE.GVMA's address and VMID arguments must be flushed"). */
static struct inval hfence_gvma(const uint64_t *rs1, const uint64_t *rs2, const char *name)
{
	struct inval iv = inval_all(name);
	iv.kinds = KIND_S2 | KIND_COMB;
	iv.regime = PHYSIM_REGIME_GUEST;
	if (rs1 != NULL) {
		iv.addr_mode = INV_ADDR_GPA;
		iv.addr = *rs1 << 2;
		iv.addr_mask = ~UINT64_C(0xFFF);
		iv.leaf_only = true; /* only leaf G-stage PTEs for the address */
	}
	if (rs2 != NULL)
		iv.vmid = (uint16_t)*rs2; /* VMIDLEN <= 14 */
	return iv;
}

static bool usable(struct physim_cpu *cpu)
{
	if (cpu == NULL || physim_cpui_arch(cpu) != PHYSIM_ARCH_RISCV64)
		return false;
	physim_cpui_drain(cpu);
	physim_cpui_count_inval(cpu);
	return true;
}

/* Run iv on this hart now, or at its next SFENCE.INVAL.IR (deferred), and
 * record it for the remedies. */
static int issue(struct physim_cpu *cpu, const struct inval *iv, bool deferred)
{
	physim_cpui_note_issued(cpu, iv, (int)physim_cpu_index(cpu), 0, deferred);
	if (deferred)
		return physim_cpui_defer(cpu, iv, false);
	physim_cpui_apply(cpu, iv);
	return 0;
}

int physim_rv_sfence_vma(struct physim_cpu *cpu, const uint64_t *rs1, const uint64_t *rs2)
{
	if (!usable(cpu))
		return -EINVAL;
	struct inval iv = sfence_vma(cpu, rs1, rs2, "SFENCE.VMA");
	issue(cpu, &iv, false);
	return 0;
}

int physim_rv_hfence_vvma(struct physim_cpu *cpu, const uint64_t *rs1, const uint64_t *rs2)
{
	if (!usable(cpu))
		return -EINVAL;
	struct inval iv = hfence_vvma(physim_cpui_ctx(cpu)->vmid, rs1, rs2, "HFENCE.VVMA");
	issue(cpu, &iv, false);
	return 0;
}

int physim_rv_hfence_gvma(struct physim_cpu *cpu, const uint64_t *rs1, const uint64_t *rs2)
{
	if (!usable(cpu))
		return -EINVAL;
	struct inval iv = hfence_gvma(rs1, rs2, "HFENCE.GVMA");
	issue(cpu, &iv, false);
	return 0;
}

/* Svinval: the invalidation is guaranteed only once a later SFENCE.INVAL.IR
 * of this hart has executed (Svinval chapter). */
int physim_rv_sinval_vma(struct physim_cpu *cpu, const uint64_t *rs1, const uint64_t *rs2)
{
	if (!usable(cpu))
		return -EINVAL;
	struct inval iv = sfence_vma(cpu, rs1, rs2, "SINVAL.VMA");
	return issue(cpu, &iv, true);
}

int physim_rv_hinval_vvma(struct physim_cpu *cpu, const uint64_t *rs1, const uint64_t *rs2)
{
	if (!usable(cpu))
		return -EINVAL;
	struct inval iv = hfence_vvma(physim_cpui_ctx(cpu)->vmid, rs1, rs2, "HINVAL.VVMA");
	return issue(cpu, &iv, true);
}

int physim_rv_hinval_gvma(struct physim_cpu *cpu, const uint64_t *rs1, const uint64_t *rs2)
{
	if (!usable(cpu))
		return -EINVAL;
	struct inval iv = hfence_gvma(rs1, rs2, "HINVAL.GVMA");
	return issue(cpu, &iv, true);
}

/* Orders earlier stores before later SINVALs: no effect on cached entries
 * (the model does not reorder stores). */
void physim_rv_sfence_w_inval(struct physim_cpu *cpu)
{
	if (cpu != NULL)
		physim_cpui_drain(cpu);
}

void physim_rv_sfence_inval_ir(struct physim_cpu *cpu)
{
	if (cpu != NULL)
		physim_cpui_complete(cpu);
}

/* ---- SBI RFENCE ---- */

/* Range [start, start + size) per page; everything when start = size = 0
 * or size = all ones (SBI spec, RFENCE). */
static bool full_range(uint64_t start, uint64_t size)
{
	return (start == 0 && size == 0) || size == UINT64_MAX;
}

enum { SBI_MAX_PAGES = 1u << 16 };

/* Apply the fence fid for [start, start+size) at target, as the caller
 * issued it (VVMA forms use the caller's VMID). */
static void rfence_one(struct physim_cpu *caller, struct physim_cpu *target,
		       enum physim_sbi_rfence_fid fid, uint64_t start, uint64_t size, uint64_t tag)
{
	bool full = full_range(start, size) || size / 4096 > SBI_MAX_PAGES;
	uint64_t first = start & ~UINT64_C(0xFFF);
	uint64_t end = full ? first + 1 : start + size;
	uint16_t vmid = physim_cpui_ctx(caller)->vmid;

	for (uint64_t a = first; a < end; a += 4096) {
		const uint64_t *rs1 = full ? NULL : &a;
		uint64_t gpa_shr2 = a >> 2;
		struct inval iv;
		switch (fid) {
		case PHYSIM_SBI_REMOTE_SFENCE_VMA:
			iv = inval_all("SBI remote_sfence_vma");
			iv.kinds = KIND_S1;
			iv.regime = PHYSIM_REGIME_HOST;
			vma_operands(&iv, rs1, NULL);
			break;
		case PHYSIM_SBI_REMOTE_SFENCE_VMA_ASID:
			iv = inval_all("SBI remote_sfence_vma_asid");
			iv.kinds = KIND_S1;
			iv.regime = PHYSIM_REGIME_HOST;
			vma_operands(&iv, rs1, &tag);
			break;
		case PHYSIM_SBI_REMOTE_HFENCE_GVMA_VMID:
			iv = hfence_gvma(full ? NULL : &gpa_shr2, &tag,
					 "SBI remote_hfence_gvma_vmid");
			break;
		case PHYSIM_SBI_REMOTE_HFENCE_GVMA:
			iv = hfence_gvma(full ? NULL : &gpa_shr2, NULL, "SBI remote_hfence_gvma");
			break;
		case PHYSIM_SBI_REMOTE_HFENCE_VVMA_ASID:
			iv = hfence_vvma(vmid, rs1, &tag, "SBI remote_hfence_vvma_asid");
			break;
		default:
			iv = hfence_vvma(vmid, rs1, NULL, "SBI remote_hfence_vvma");
			break;
		}
		if (a == first) {
			uint64_t n = full ? 0 : (end - first + 4095) / 4096;
			physim_cpui_note_issued(caller, &iv, (int)physim_cpu_index(target),
						(uint32_t)n, false);
		}
		if (target == caller)
			physim_cpui_apply(target, &iv);
		else
			physim_cpui_post(target, &iv);
		if (full)
			break;
	}
}

int physim_sbi_rfence(struct physim_cpu *caller, enum physim_sbi_rfence_fid fid,
		      unsigned long hart_mask, unsigned long hart_mask_base, uint64_t start,
		      uint64_t size, uint64_t tag)
{
	if (caller == NULL || physim_cpui_arch(caller) != PHYSIM_ARCH_RISCV64 ||
	    fid > PHYSIM_SBI_REMOTE_HFENCE_VVMA)
		return -EINVAL;
	struct physim_machine *m = physim_cpui_machine(caller);
	unsigned n = physim_machine_ncpus(m);
	bool all = hart_mask_base == ~0UL;
	unsigned long bits = sizeof(unsigned long) * 8;
	if (!all) {
		for (unsigned long b = 0; b < bits; b++) {
			if (((hart_mask >> b) & 1) && hart_mask_base + b >= n)
				return -EINVAL;
		}
	}
	physim_cpui_drain(caller);
	physim_cpui_count_inval(caller);
	if (fid == PHYSIM_SBI_REMOTE_FENCE_I)
		return 0;
	for (unsigned h = 0; h < n; h++) {
		bool in = all || (h >= hart_mask_base && h - hart_mask_base < bits &&
				  ((hart_mask >> (h - hart_mask_base)) & 1));
		if (in)
			rfence_one(caller, physim_machine_cpu(m, h), fid, start, size, tag);
	}
	return 0;
}

const char *physim_cpui_rv_remedy(const struct physim_cpu_entry *e, bool stage2_changed)
{
	if (e->kind == PHYSIM_ENTRY_WALK && e->stage == 2)
		return "HFENCE.GVMA with rs1 = x0 (rs2 = VMID, or x0), on this hart and on the "
		       "others through SBI remote_hfence_gvma(_vmid): with rs1 != x0 only leaf "
		       "G-stage PTEs are ordered, so a changed or freed G-stage table needs rs1 = "
		       "x0 (privileged spec, HFENCE.GVMA)";
	if (e->kind == PHYSIM_ENTRY_WALK)
		return e->regime == PHYSIM_REGIME_HOST
			   ? "SFENCE.VMA with rs1 = x0 (and the ASID in rs2, or x0): with rs1 != "
			     "x0 "
			     "the fence orders only leaf PTEs for the address, so a changed or "
			     "freed "
			     "intermediate table needs rs1 = x0 (privileged spec, SFENCE.VMA)"
			   : "HFENCE.VVMA (or HFENCE.GVMA for a G-stage table) with rs1 = x0: with "
			     "rs1 "
			     "!= x0 only leaf PTEs are ordered (privileged spec, H extension "
			     "fences)";
	if (e->regime == PHYSIM_REGIME_HOST)
		return "SFENCE.VMA vaddr, asid on this hart, and on the others through SBI "
		       "remote_sfence_vma(_asid) (privileged spec, SFENCE.VMA; x0 for rs2 when "
		       "the page is global)";
	if (e->kind == PHYSIM_ENTRY_S2 || (e->kind == PHYSIM_ENTRY_COMB && stage2_changed))
		return "HFENCE.GVMA with rs1 = GPA >> 2 and rs2 = VMID: HFENCE.VVMA orders only "
		       "VS-stage translations, a G-stage change needs HFENCE.GVMA (privileged "
		       "spec, H extension fences)";
	return "HFENCE.VVMA vaddr, asid with the guest's VMID in hgatp (or SFENCE.VMA in the "
	       "guest) (privileged spec, H extension fences)";
}

const char *physim_cpui_rv_why(const struct inval *iv, const struct physim_cpu_entry *e,
			       unsigned miss, bool stage2_changed)
{
	(void)stage2_changed;
	bool gvma = iv->kinds == (KIND_S2 | KIND_COMB);
	if (((miss & MISS_KIND) &&
	     (e->kind == PHYSIM_ENTRY_S2 || (e->kind == PHYSIM_ENTRY_WALK && e->stage == 2))) ||
	    (miss & MISS_STAGE))
		return "which orders VS-stage translations only: a G-stage change needs "
		       "HFENCE.GVMA "
		       "with rs1 = GPA >> 2 (privileged spec, \"Hypervisor Memory-Management Fence "
		       "Instructions\")";
	if ((miss & MISS_KIND) && gvma)
		return "which orders G-stage translations (and what they combine into) only: a "
		       "VS-stage change needs HFENCE.VVMA (privileged spec, \"Hypervisor "
		       "Memory-Management Fence Instructions\")";
	if (miss & MISS_REGIME)
		return iv->regime == PHYSIM_REGIME_HOST
			   ? "which at V = 0 orders HS-level (satp) translations only: a guest's "
			     "need HFENCE.VVMA (privileged spec, \"Hypervisor Memory-Management "
			     "Fence "
			     "Instructions\")"
			   : "which orders a guest's (V = 1) translations only: HS-level ones need "
			     "SFENCE.VMA at V = 0";
	if (miss & MISS_CPU)
		return "which acts on the executing hart only: the others need an SBI remote fence "
		       "(SBI spec, \"RFENCE Extension\")";
	if ((miss & MISS_ADDR) && gvma) {
		uint64_t gpa = e->kind == PHYSIM_ENTRY_S2 ? e->va : e->gpa;
		if ((((iv->addr >> 2) ^ gpa) & ~(e->page_size - 1)) == 0)
			return "whose rs1 held the guest-physical address itself: HFENCE.GVMA "
			       "takes "
			       "GPA >> 2 (privileged spec, \"Hypervisor Memory-Management Fence "
			       "Instructions\")";
	}
	if (miss & MISS_LEAF)
		return "whose rs1 != x0, which orders only leaf PTEs for the address: a changed or "
		       "freed intermediate table needs rs1 = x0 (privileged spec, \"Supervisor "
		       "Memory-Management Fence Instruction\")";
	return NULL;
}
