/* SPDX-License-Identifier: MIT */
/* lib/cpu-route.c - physim_cpu_flusher: a table's flush callback routed to
 * the invalidation instructions each architecture's manual says suffice,
 * with their operands encoded as the hardware takes them, and a paging
 * handler that holds freed tables back until the invalidation completed. */
#include "cpu-priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Operand fields (Arm ARM C5.5, the TLBI instruction descriptions; Linux
 * arm64 __TLBI_VADDR): VA[55:12] in Xt[43:0] whatever the granule, the ASID
 * in Xt[63:48]; IPAS2E1 takes IPA[51:12] in Xt[39:0]. */
#define ARM_XT_VA_MASK	((UINT64_C(1) << 44) - 1)
#define ARM_XT_IPA_MASK ((UINT64_C(1) << 40) - 1)
#define PAGE_4K		UINT64_C(4096)

struct held {
	physim_hpa_t hpa;
	size_t nframes;
};

struct physim_cpu_flusher {
	struct physim_cpu_flusher_config cfg;
	struct physim_machine *m;
	enum physim_arch arch;
	struct physim_cpu_flusher_stats st;
	/* the targets (cfg.cpu_set copied, or cfg.cpu_mask): bit i = CPU i;
	 * NULL: cfg.cpu_mask decides */
	uint64_t *targets;
	unsigned ntarget_bits;
	/* the paging handler (physim_cpu_flusher_paging_handler) */
	const struct physim_paging_handler *inner;
	struct physim_paging_handler ph;
	bool table_freed; /* a frame was freed since the last flush call */
	bool in_call;	  /* inside physim_cpu_flusher_fn */
	/* RISC-V: non-leaf entries were fenced (rs1 = x0) since the last
	 * change: by the last flush call, or after a free that followed it */
	bool fenced_late;
	struct held *held;
	size_t nheld, capheld;
};

static void note(struct physim_cpu_flusher *f, int rc)
{
	f->st.instructions++;
	if (rc < 0 && f->st.first_error == 0)
		f->st.first_error = rc;
}

/* The trace callback, if any: the instruction about to be issued on c. */
static void __attribute__((format(printf, 3, 4)))
tr(const struct physim_cpu_flusher *f, const struct physim_cpu *c, const char *fmt, ...)
{
	if (f->cfg.trace == NULL)
		return;
	char line[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	f->cfg.trace(f->cfg.trace_ctx, physim_cpu_index(c), line);
}

static bool is_target(const struct physim_cpu_flusher *f, unsigned i)
{
	if (f->cfg.local)
		return i == physim_cpu_index(f->cfg.cpu);
	if (f->targets != NULL)
		return i < f->ntarget_bits && ((f->targets[i / 64] >> (i % 64)) & 1);
	return f->cfg.cpu_mask == 0 || i >= 64 || ((f->cfg.cpu_mask >> i) & 1);
}

/* ---- the issuing CPU's tags ----
 * Arm's TLBI ...E1 forms invalidate for the issuing PE's current VMID
 * (VTTBR_EL2.VMID; Arm ARM D8.13, "TLB maintenance instructions"), and
 * RISC-V HFENCE.VVMA for the hart's current hgatp.VMID (priv spec, H
 * extension, "Hypervisor Memory-Management Fence Instructions"); SFENCE.VMA
 * at V = 1 acts as HFENCE.VVMA. So, as KVM's __tlb_switch_to_guest loads
 * VTTBR_EL2 before its TLBIs, the flusher loads the table's tags on the
 * issuing CPU for the sequence and puts its context back after. */

struct saved_ctx {
	bool switched; /* a context was loaded for the sequence */
	bool vmid_reg; /* only the VMID register was written (no context loaded) */
	uint16_t vmid; /* vmid_reg: its value before */
	struct physim_cpu_context ctx;
};

/* regime < 0: keep the current one.
 *
 * A CPU with no context loaded has cached nothing (physim_cpu_translate
 * needs a context, and none can be unloaded), but its VMID register -
 * VTTBR_EL2.VMID, hgatp.VMID - is still what the E1 / VVMA forms read, and
 * writing it needs no translation tables: KVM's __load_stage2 writes
 * VTTBR_EL2 before __kvm_tlb_flush_vmid_ipa, and the entries other CPUs
 * hold of that VMID are what the broadcast must reach. So the flusher
 * writes just that register for the sequence and puts the old value back,
 * instead of failing; physim_cpu_get_context shows it meanwhile only. The
 * CPU is the flusher's issuing CPU, driven by the calling thread. */
static int enter_tags(struct physim_cpu_flusher *f, bool set_vmid, int regime, struct saved_ctx *s)
{
	struct physim_cpu *c = f->cfg.cpu;
	physim_cpu_get_context(c, &s->ctx);
	s->switched = false;
	s->vmid_reg = false;
	bool loaded = physim_cpui_has_ctx(c);
	bool vmid_ok = !set_vmid || s->ctx.vmid == f->cfg.vmid;
	bool regime_ok = regime < 0 || s->ctx.regime == (enum physim_regime)regime;
	if (vmid_ok && (regime_ok || !loaded))
		return 0;
	if (!loaded) {
		s->vmid = c->ctx.vmid;
		c->ctx.vmid = f->cfg.vmid;
		s->vmid_reg = true;
		return 0;
	}
	struct physim_cpu_context n = s->ctx;
	if (set_vmid)
		n.vmid = f->cfg.vmid;
	if (regime >= 0)
		n.regime = (enum physim_regime)regime;
	int rc = physim_cpu_set_context(f->cfg.cpu, &n);
	if (rc == 0)
		s->switched = true;
	return rc;
}

static void leave_tags(struct physim_cpu_flusher *f, const struct saved_ctx *s)
{
	if (s->switched)
		(void)physim_cpu_set_context(f->cfg.cpu, &s->ctx);
	if (s->vmid_reg)
		f->cfg.cpu->ctx.vmid = s->vmid;
}

/* ---- x86 (no broadcast: each target runs the instruction itself) ---- */

/* Is the CPU's current stage-1 context the table's: VMX root and PCID
 * `asid` (CR3[11:0] with CR4.PCIDE)? */
static bool x86_current(const struct physim_cpu_flusher *f, struct physim_cpu *t)
{
	struct physim_cpu_context c;
	physim_cpu_get_context(t, &c);
	return c.s1 != NULL && c.regime == PHYSIM_REGIME_HOST && c.asid == f->cfg.asid;
}

static void x86_stage1_one(struct physim_cpu_flusher *f, struct physim_cpu *t, const uint64_t *vas,
			   size_t n, bool all)
{
	if (f->cfg.regime == PHYSIM_REGIME_GUEST) {
		/* A guest's linear mappings from VMX root: INVVPID type 0
		 * (individual address: linear and combined mappings of the VPID
		 * for the address, any PCID, global ones included) or type 1
		 * (single context) (SDM Vol. 3C 28.3.3.1 and "INVVPID"). */
		uint64_t desc[2] = {f->cfg.vmid, 0};
		if (all) {
			tr(f, t, "INVVPID single-context, VPID %u", f->cfg.vmid);
			note(f, physim_x86_invvpid(t, 1, desc));
			return;
		}
		for (size_t i = 0; i < n; i++) {
			desc[1] = vas[i];
			tr(f, t, "INVVPID individual-address, VPID %u, %#llx", f->cfg.vmid,
			   (unsigned long long)vas[i]);
			note(f, physim_x86_invvpid(t, 0, desc));
		}
		return;
	}
	/* With CR4.PCIDE = 0 a CPU tags everything PCID 000H, and clearing
	 * PCIDE flushed every PCID (SDM Vol. 3A 4.10.4.1): it holds nothing of
	 * another PCID's (but global entries), and INVPCID naming one would be
	 * #GP (4.10.1). */
	bool pcid_ok = f->cfg.asid == 0 || (*physim_cpui_x86_cr4(t) & (UINT64_C(1) << 17));
	if (all) {
		/* INVPCID type 1 invalidates the PCID's non-global mappings and
		 * paging-structure caches; type 2 every mapping, global ones
		 * included (SDM Vol. 3A 4.10.4.1, Vol. 2A "INVPCID"). */
		uint64_t desc[2] = {f->cfg.global ? 0 : f->cfg.asid, 0};
		if (!f->cfg.global && !pcid_ok)
			return;
		tr(f, t, "INVPCID type %d, PCID %u", f->cfg.global ? 2 : 1, (unsigned)desc[0]);
		note(f, physim_x86_invpcid(t, f->cfg.global ? 2 : 1, desc));
		return;
	}
	bool cur = x86_current(f, t);
	for (size_t i = 0; i < n; i++) {
		/* INVLPG: the page's mappings of the current PCID, global ones
		 * whatever their PCID, and every paging-structure-cache entry
		 * of the current PCID (SDM Vol. 3A 4.10.4.1) - so it also
		 * removes what a freed table left in those caches. On a CPU
		 * running another PCID: INVPCID type 0 (the PCID's non-global
		 * mappings of the address and its paging-structure caches),
		 * plus INVLPG for the global ones, which type 0 keeps. */
		if (cur || f->cfg.global) {
			tr(f, t, "INVLPG %#llx", (unsigned long long)vas[i]);
			note(f, physim_x86_invlpg(t, vas[i]));
		}
		if (!cur && pcid_ok) {
			uint64_t desc[2] = {f->cfg.asid, vas[i]};
			tr(f, t, "INVPCID type 0, PCID %u, %#llx", f->cfg.asid,
			   (unsigned long long)vas[i]);
			note(f, physim_x86_invpcid(t, 0, desc));
		}
	}
}

static void x86_flush(struct physim_cpu_flusher *f, const uint64_t *vas, size_t n, bool all)
{
	for (unsigned i = 0, nc = physim_machine_ncpus(f->m); i < nc; i++) {
		if (!is_target(f, i))
			continue;
		struct physim_cpu *t = physim_machine_cpu(f->m, i);
		if (f->cfg.table == PHYSIM_FLUSH_STAGE2) {
			/* Guest-physical and combined mappings are invalidated
			 * only by INVEPT; single-context takes the EPTP and
			 * removes every mapping of its EP4TA, paging-structure
			 * caches included (SDM Vol. 3C 28.3.3.1, "INVEPT"). It has
			 * no address form: one per call. */
			const uint64_t desc[2] = {f->cfg.eptp, 0};
			tr(f, t, "INVEPT single-context, EPTP %#llx",
			   (unsigned long long)f->cfg.eptp);
			note(f, f->cfg.eptp != 0 ? physim_x86_invept(t, 1, desc) : -ENXIO);
		} else {
			x86_stage1_one(f, t, vas, n, all);
		}
	}
}

/* ---- AArch64 ---- */

static enum physim_tlbi_op arm_op(const struct physim_cpu_flusher *f, enum physim_tlbi_op is_op)
{
	return f->cfg.local ? (enum physim_tlbi_op)(is_op - PHYSIM_TLBI_VAE1IS + PHYSIM_TLBI_VAE1)
			    : is_op;
}

/* name: the local form's ("VAE1"); the IS form appends "IS". */
static void arm_tlbi(struct physim_cpu_flusher *f, enum physim_tlbi_op is_op, const char *name,
		     uint64_t xt)
{
	tr(f, f->cfg.cpu, "TLBI %s%s, %#llx", name, f->cfg.local ? "" : "IS",
	   (unsigned long long)xt);
	note(f, physim_arm_tlbi(f->cfg.cpu, arm_op(f, is_op), xt));
}

/* DSB ISH: a TLBI is complete, at every PE it targets, only after the
 * issuing PE's DSB (Arm ARM D8.13.x "Ordering and completion of TLB
 * maintenance instructions"). */
static void arm_dsb(struct physim_cpu_flusher *f)
{
	tr(f, f->cfg.cpu, "DSB %s", f->cfg.local ? "NSH" : "ISH");
	physim_arm_dsb(f->cfg.cpu);
	f->st.instructions++;
}

/* May the table hold global pages? Arm: unless the caller says it holds
 * none (no_global), since physim_pt_map's VMSAv8-64 leaves are global (nG
 * clear) by default; the other families' leaves are global only with G
 * set, which `global` says. */
static bool maybe_global(const struct physim_cpu_flusher *f)
{
	if (f->arch == PHYSIM_ARCH_AARCH64)
		return f->cfg.global || !f->cfg.no_global;
	return f->cfg.global;
}

/* The VHE host's EL2&0 regime (HCR_EL2.{E2H, TGE} = {1, 1}). A VHE kernel
 * issues the EL1 forms, which then act on EL2&0 (Arm ARM DDI 0487 M.a.a
 * C5.5.59 TLBI VAE1, C5.5.10 ASIDE1, C5.5.77 VMALLE1): so when the issuing
 * PE runs its EL2&0 context, VAE1IS (ASID << 48 | VA >> 12), all: ASIDE1IS
 * or VMALLE1IS (global pages possible). While it runs a guest (TGE = 0) the
 * EL1 forms would hit the guest's EL1&0 instead; the EL2 forms with E2H = 1
 * act on EL2&0 whatever TGE is (C5.5.62 TLBI VAE2: the ASID in Xt[63:48],
 * global entries too): VAE2IS, all: ALLE2IS (every EL2 and EL2&0 entry: no
 * ASID form exists at EL2). A VHE host runs with E2H = 1 throughout; a PE
 * that has not loaded a host context yet has it clear in physim, so the
 * flusher sets it for the sequence. */
static void arm_e20(struct physim_cpu_flusher *f, const uint64_t *vas, size_t n, bool all)
{
	struct physim_cpu *c = f->cfg.cpu;
	const struct physim_cpu_context *ctx = physim_cpui_ctx(c);
	uint64_t asid = (uint64_t)f->cfg.asid << 48;
	if (physim_cpui_has_ctx(c) && ctx->regime == PHYSIM_REGIME_HOST_E20) {
		bool g = maybe_global(f);
		if (all)
			arm_tlbi(f, g ? PHYSIM_TLBI_VMALLE1IS : PHYSIM_TLBI_ASIDE1IS,
				 g ? "VMALLE1" : "ASIDE1", asid);
		for (size_t i = 0; !all && i < n; i++)
			arm_tlbi(f, PHYSIM_TLBI_VAE1IS, "VAE1",
				 asid | ((vas[i] >> 12) & ARM_XT_VA_MASK));
		arm_dsb(f);
		return;
	}
	bool set_e2h = !c->arm_e2h;
	c->arm_e2h = true;
	if (all)
		arm_tlbi(f, PHYSIM_TLBI_ALLE2IS, "ALLE2", 0);
	for (size_t i = 0; !all && i < n; i++)
		arm_tlbi(f, PHYSIM_TLBI_VAE2IS, "VAE2", asid | ((vas[i] >> 12) & ARM_XT_VA_MASK));
	arm_dsb(f);
	if (set_e2h)
		c->arm_e2h = false;
}

static void arm_stage1(struct physim_cpu_flusher *f, const uint64_t *vas, size_t n, bool all)
{
	if (f->cfg.regime == PHYSIM_REGIME_HOST_E20) {
		arm_e20(f, vas, n, all);
		return;
	}
	if (f->cfg.regime == PHYSIM_REGIME_HOST) {
		/* The (non-VHE) EL2 regime has no ASID: TLBI VAE2IS takes
		 * VA[55:12]; ALLE2IS removes the whole regime. VAE2 is not a
		 * last-level form, so walk-cache entries of the address go too
		 * (a freed table's). */
		if (all)
			arm_tlbi(f, PHYSIM_TLBI_ALLE2IS, "ALLE2", 0);
		for (size_t i = 0; !all && i < n; i++)
			arm_tlbi(f, PHYSIM_TLBI_VAE2IS, "VAE2", (vas[i] >> 12) & ARM_XT_VA_MASK);
		arm_dsb(f);
		return;
	}
	/* EL1&0: TLBI VAE1IS, Xt = ASID << 48 | VA[55:12]: the ASID's and the
	 * global entries of the address, walk-cache entries included (VALE1
	 * would keep those); all: ASIDE1IS (non-global entries of the ASID)
	 * when the table is known to hold no global page (no_global), else
	 * VMALLE1IS (the VMID's stage 1, global entries included): ASIDE1IS
	 * "does not invalidate global entries" (C5.5.10). */
	uint64_t asid = (uint64_t)f->cfg.asid << 48;
	bool g = maybe_global(f);
	if (all)
		arm_tlbi(f, g ? PHYSIM_TLBI_VMALLE1IS : PHYSIM_TLBI_ASIDE1IS,
			 g ? "VMALLE1" : "ASIDE1", asid);
	for (size_t i = 0; !all && i < n; i++)
		arm_tlbi(f, PHYSIM_TLBI_VAE1IS, "VAE1", asid | ((vas[i] >> 12) & ARM_XT_VA_MASK));
	arm_dsb(f);
}

/* Stage 2, KVM's __kvm_tlb_flush_vmid_ipa: TLBI IPAS2E1IS with IPA[51:12]
 * removes the stage-2 entries of the address (walk caches included: not the
 * IPAS2LE1 form), but "need not" remove combined stage 1+2 entries, so a
 * TLBI VMALLE1IS follows the DSB (Arm ARM D8.13, the IPAS2E1 description);
 * all: VMALLS12E1IS (stage 1 and 2 of the VMID). */
static void arm_stage2(struct physim_cpu_flusher *f, const uint64_t *vas, size_t n, bool all)
{
	if (all) {
		arm_tlbi(f, PHYSIM_TLBI_VMALLS12E1IS, "VMALLS12E1", 0);
		arm_dsb(f);
		return;
	}
	for (size_t i = 0; i < n; i++)
		arm_tlbi(f, PHYSIM_TLBI_IPAS2E1IS, "IPAS2E1", (vas[i] >> 12) & ARM_XT_IPA_MASK);
	arm_dsb(f);
	arm_tlbi(f, PHYSIM_TLBI_VMALLE1IS, "VMALLE1", 0);
	arm_dsb(f);
}

static void arm_flush(struct physim_cpu_flusher *f, const uint64_t *vas, size_t n, bool all)
{
	bool e1 = f->cfg.table == PHYSIM_FLUSH_STAGE2 || f->cfg.regime == PHYSIM_REGIME_GUEST;
	struct saved_ctx s = {0};
	int rc = e1 ? enter_tags(f, true, -1, &s) : 0;
	if (rc < 0) {
		note(f, rc);
		return;
	}
	if (f->cfg.table == PHYSIM_FLUSH_STAGE2)
		arm_stage2(f, vas, n, all);
	else
		arm_stage1(f, vas, n, all);
	leave_tags(f, &s);
}

/* ---- RISC-V ---- */

/* The SBI RFENCE call to every target hart but the caller, one call per 64
 * harts of the mask (hart_mask_base). */
static void rv_remote(struct physim_cpu_flusher *f, enum physim_sbi_rfence_fid fid, uint64_t start,
		      uint64_t size, uint64_t tag)
{
	unsigned me = physim_cpu_index(f->cfg.cpu), nc = physim_machine_ncpus(f->m);
	const unsigned bits = sizeof(unsigned long) * 8;
	for (unsigned base = 0; base < nc; base += bits) {
		unsigned long mask = 0;
		for (unsigned b = 0; b < bits && base + b < nc; b++)
			if (base + b != me && is_target(f, base + b))
				mask |= 1ul << b;
		if (mask == 0)
			continue;
		static const char *const names[] = {
		    [PHYSIM_SBI_REMOTE_SFENCE_VMA] = "remote_sfence_vma",
		    [PHYSIM_SBI_REMOTE_SFENCE_VMA_ASID] = "remote_sfence_vma_asid",
		    [PHYSIM_SBI_REMOTE_HFENCE_GVMA_VMID] = "remote_hfence_gvma_vmid",
		    [PHYSIM_SBI_REMOTE_HFENCE_VVMA_ASID] = "remote_hfence_vvma_asid",
		    [PHYSIM_SBI_REMOTE_HFENCE_VVMA] = "remote_hfence_vvma",
		};
		tr(f, f->cfg.cpu, "SBI %s(hart mask %#lx, base %u, %#llx, %#llx, %llu)", names[fid],
		   mask, base, (unsigned long long)start, (unsigned long long)size,
		   (unsigned long long)tag);
		note(f, physim_sbi_rfence(f->cfg.cpu, fid, mask, base, start, size, tag));
	}
}

/* Svinval (privileged spec, "Svinval" extension): SINVAL.VMA / HINVAL.VVMA /
 * HINVAL.GVMA take the operands of their fences but are ordered only
 * against the stores before an SFENCE.W.INVAL and complete at the next
 * SFENCE.INVAL.IR: the flusher brackets its batch with those two. */
static void rv_w_inval(struct physim_cpu_flusher *f)
{
	if (!f->cfg.svinval)
		return;
	tr(f, f->cfg.cpu, "SFENCE.W.INVAL");
	physim_rv_sfence_w_inval(f->cfg.cpu);
	f->st.instructions++;
}

static void rv_inval_ir(struct physim_cpu_flusher *f)
{
	if (!f->cfg.svinval)
		return;
	tr(f, f->cfg.cpu, "SFENCE.INVAL.IR");
	physim_rv_sfence_inval_ir(f->cfg.cpu);
	f->st.instructions++;
}

/* One local VS/HS-stage fence (or its Svinval form): rs1 NULL is x0. */
static void rv_vma_one(struct physim_cpu_flusher *f, bool guest, const uint64_t *rs1,
		       const uint64_t *rs2)
{
	const char *insn = f->cfg.svinval ? (guest ? "HINVAL.VVMA" : "SINVAL.VMA")
					  : (guest ? "HFENCE.VVMA" : "SFENCE.VMA");
	char a[24], b[24];
	if (rs1 != NULL)
		snprintf(a, sizeof(a), "%#llx", (unsigned long long)*rs1);
	else
		snprintf(a, sizeof(a), "x0");
	if (rs2 != NULL)
		snprintf(b, sizeof(b), "%llu", (unsigned long long)*rs2);
	else
		snprintf(b, sizeof(b), "x0");
	tr(f, f->cfg.cpu, "%s %s, %s", insn, a, b);
	struct physim_cpu *c = f->cfg.cpu;
	int rc;
	if (f->cfg.svinval)
		rc = guest ? physim_rv_hinval_vvma(c, rs1, rs2) : physim_rv_sinval_vma(c, rs1, rs2);
	else
		rc = guest ? physim_rv_hfence_vvma(c, rs1, rs2) : physim_rv_sfence_vma(c, rs1, rs2);
	note(f, rc);
}

/* Stage 1. SFENCE.VMA with rs1 != x0 orders only the leaf PTEs of that
 * address; a freed (non-leaf) table needs rs1 = x0 (priv spec, "Supervisor
 * Memory-Management Fence Instruction"). rs2 = ASID keeps global mappings,
 * so with global pages rs2 = x0. At V = 1 (a guest's VS-stage table) the
 * same operands go to HFENCE.VVMA for the current VMID (H extension). The
 * other harts get the SBI RFENCE call of the same scope (SBI spec,
 * "RFENCE Extension": remote_sfence_vma(_asid), remote_hfence_vvma(_asid)),
 * after the local batch. */
static void rv_stage1(struct physim_cpu_flusher *f, const uint64_t *vas, size_t n, bool full)
{
	bool guest = f->cfg.regime == PHYSIM_REGIME_GUEST;
	const uint64_t asid = f->cfg.asid;
	const uint64_t *rs2 = f->cfg.global ? NULL : &asid;
	const uint64_t tag = f->cfg.global ? 0 : asid; /* the non-_ASID forms take none */
	enum physim_sbi_rfence_fid fid = guest
					     ? (f->cfg.global ? PHYSIM_SBI_REMOTE_HFENCE_VVMA
							      : PHYSIM_SBI_REMOTE_HFENCE_VVMA_ASID)
					     : (f->cfg.global ? PHYSIM_SBI_REMOTE_SFENCE_VMA
							      : PHYSIM_SBI_REMOTE_SFENCE_VMA_ASID);
	rv_w_inval(f);
	if (full)
		rv_vma_one(f, guest, NULL, rs2);
	for (size_t i = 0; !full && i < n; i++)
		rv_vma_one(f, guest, &vas[i], rs2);
	rv_inval_ir(f);
	if (f->cfg.local)
		return;
	if (full)
		rv_remote(f, fid, 0, 0, tag);
	for (size_t i = 0; !full && i < n; i++)
		rv_remote(f, fid, vas[i], PAGE_4K, tag);
}

/* Stage 2: HFENCE.GVMA rs1 = GPA >> 2, rs2 = VMID: the G-stage leaf PTEs of
 * the address and every combined entry whose GPA it is (priv spec, H
 * extension, HFENCE.GVMA); rs1 = x0 for everything of the VMID, which a
 * freed G-stage table needs. SBI remote_hfence_gvma_vmid for the others. */
static void rv_stage2(struct physim_cpu_flusher *f, const uint64_t *vas, size_t n, bool full)
{
	const uint64_t vmid = f->cfg.vmid;
	const char *insn = f->cfg.svinval ? "HINVAL.GVMA" : "HFENCE.GVMA";
	struct physim_cpu *c = f->cfg.cpu;
	rv_w_inval(f);
	if (full) {
		tr(f, c, "%s x0, %u", insn, f->cfg.vmid);
		note(f, f->cfg.svinval ? physim_rv_hinval_gvma(c, NULL, &vmid)
				       : physim_rv_hfence_gvma(c, NULL, &vmid));
	}
	for (size_t i = 0; !full && i < n; i++) {
		const uint64_t rs1 = vas[i] >> 2;
		tr(f, c, "%s %#llx (GPA >> 2), %u", insn, (unsigned long long)rs1, f->cfg.vmid);
		note(f, f->cfg.svinval ? physim_rv_hinval_gvma(c, &rs1, &vmid)
				       : physim_rv_hfence_gvma(c, &rs1, &vmid));
	}
	rv_inval_ir(f);
	if (f->cfg.local)
		return;
	if (full)
		rv_remote(f, PHYSIM_SBI_REMOTE_HFENCE_GVMA_VMID, 0, 0, vmid);
	for (size_t i = 0; !full && i < n; i++)
		rv_remote(f, PHYSIM_SBI_REMOTE_HFENCE_GVMA_VMID, vas[i], PAGE_4K, vmid);
}

static void rv_flush(struct physim_cpu_flusher *f, const uint64_t *vas, size_t n, bool all)
{
	bool full = all || f->table_freed;
	if (full)
		f->fenced_late = true; /* a free after this call needs no fence */
	if (f->cfg.table == PHYSIM_FLUSH_STAGE2) {
		rv_stage2(f, vas, n, full);
		return;
	}
	bool guest = f->cfg.regime == PHYSIM_REGIME_GUEST;
	struct saved_ctx s = {0};
	int rc = enter_tags(f, guest, (int)f->cfg.regime, &s);
	if (rc < 0) {
		note(f, rc);
		return;
	}
	rv_stage1(f, vas, n, full);
	leave_tags(f, &s);
}

/* Everything of the table's ASID / VMID, rs1 = x0, on every target. */
static void rv_full(struct physim_cpu_flusher *f)
{
	rv_flush(f, NULL, 0, true);
}

/* ---- LoongArch (RM Vol. 1, 4.2.4.7 INVTLB; no broadcast) ----
 * op 0x5: G = 0, ASID = rj, VA = rk; 0x6: (G = 1 or ASID = rj) and VA = rk;
 * 0x4: G = 0 and ASID = rj; 0x2: every G = 1 entry. */
static void la_flush(struct physim_cpu_flusher *f, const uint64_t *vas, size_t n, bool all)
{
	for (unsigned i = 0, nc = physim_machine_ncpus(f->m); i < nc; i++) {
		if (!is_target(f, i))
			continue;
		struct physim_cpu *t = physim_machine_cpu(f->m, i);
		if (all) {
			tr(f, t, "INVTLB 0x4, ASID %u", f->cfg.asid);
			note(f, physim_la_invtlb(t, 0x4, f->cfg.asid, 0));
			if (f->cfg.global) {
				tr(f, t, "INVTLB 0x2");
				note(f, physim_la_invtlb(t, 0x2, 0, 0));
			}
			continue;
		}
		unsigned op = f->cfg.global ? 0x6 : 0x5;
		for (size_t k = 0; k < n; k++) {
			tr(f, t, "INVTLB %#x, ASID %u, %#llx", op, f->cfg.asid,
			   (unsigned long long)vas[k]);
			note(f, physim_la_invtlb(t, op, f->cfg.asid, vas[k]));
		}
	}
}

/* ---- the flush callback ---- */

void physim_cpu_flusher_fn(void *ctx, const uint64_t *vas, size_t n, bool all)
{
	struct physim_cpu_flusher *f = ctx;
	if (f == NULL || (!all && n > 0 && vas == NULL))
		return;
	f->st.calls++;
	f->in_call = true;
	f->fenced_late = false;
	switch (f->arch) {
	case PHYSIM_ARCH_X86_64:
		x86_flush(f, vas, n, all);
		break;
	case PHYSIM_ARCH_AARCH64:
		arm_flush(f, vas, n, all);
		break;
	case PHYSIM_ARCH_RISCV64:
		rv_flush(f, vas, n, all);
		break;
	default:
		la_flush(f, vas, n, all);
		break;
	}
	/* every instruction above has completed: the tables may go */
	(void)physim_cpu_flusher_release(f);
	f->in_call = false;
}

/* The engine says whether the change unlinked tables
 * (PHYSIM_PT_FLUSH_TABLES_FREED): RISC-V then fences with rs1 = x0 in this
 * call, as it does after a free through the flusher's paging handler; the
 * other families' sequences already remove non-leaf entries. */
void physim_cpu_flusher_fn_ex(void *ctx, const uint64_t *vas, size_t n, bool all, unsigned flags)
{
	struct physim_cpu_flusher *f = ctx;
	if (f != NULL && (flags & PHYSIM_PT_FLUSH_TABLES_FREED))
		f->table_freed = true;
	physim_cpu_flusher_fn(ctx, vas, n, all);
}

/* ---- lifecycle ---- */

int physim_cpu_flusher_create(const struct physim_cpu_flusher_config *config,
			      struct physim_cpu_flusher **out)
{
	if (config == NULL || out == NULL || config->cpu == NULL)
		return -EINVAL;
	enum physim_arch arch = physim_cpui_arch(config->cpu);
	bool s2 = config->table == PHYSIM_FLUSH_STAGE2;
	if (config->table != PHYSIM_FLUSH_STAGE1 && !s2)
		return -EINVAL;
	bool e20 = config->regime == PHYSIM_REGIME_HOST_E20;
	if (config->regime != PHYSIM_REGIME_HOST && config->regime != PHYSIM_REGIME_GUEST && !e20)
		return -EINVAL;
	if (e20 && (arch != PHYSIM_ARCH_AARCH64 || s2))
		return -EINVAL; /* VHE: Arm stage 1 only */
	if (s2 && arch == PHYSIM_ARCH_LOONGARCH64)
		return -EINVAL; /* no stage 2 modelled (LVZ) */
	if (config->svinval && arch != PHYSIM_ARCH_RISCV64)
		return -EINVAL;
	struct physim_cpu_flusher *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->cfg = *config;
	f->m = physim_cpui_machine(config->cpu);
	f->arch = arch;
	if (config->cpu_set != NULL) {
		int rc = physim_cpu_flusher_set_targets(f, config->cpu_set, config->cpu_set_bits);
		if (rc < 0) {
			free(f);
			return rc;
		}
	}
	f->cfg.cpu_set = NULL; /* the copy in f->targets is used */
	*out = f;
	return 0;
}

int physim_cpu_flusher_set_targets(struct physim_cpu_flusher *f, const uint64_t *set,
				   unsigned nbits)
{
	if (f == NULL || (set == NULL && nbits != 0))
		return -EINVAL;
	uint64_t *t = NULL;
	if (set != NULL) {
		size_t words = (nbits + 63u) / 64u;
		t = calloc(words ? words : 1, sizeof(*t));
		if (t == NULL)
			return -ENOMEM;
		memcpy(t, set, words * sizeof(*t));
		if (nbits % 64)
			t[words - 1] &= (UINT64_C(1) << (nbits % 64)) - 1;
	}
	free(f->targets);
	f->targets = t;
	f->ntarget_bits = set != NULL ? nbits : 0;
	return 0;
}

int physim_cpu_flusher_set_eptp(struct physim_cpu_flusher *f, uint64_t eptp)
{
	if (f == NULL || f->arch != PHYSIM_ARCH_X86_64 || f->cfg.table != PHYSIM_FLUSH_STAGE2)
		return -EINVAL;
	f->cfg.eptp = eptp;
	return 0;
}

void physim_cpu_flusher_destroy(struct physim_cpu_flusher *f)
{
	if (f == NULL)
		return;
	(void)physim_cpu_flusher_release(f);
	free(f->held);
	free(f->targets);
	free(f);
}

struct physim_cpu_flusher_stats physim_cpu_flusher_stats(const struct physim_cpu_flusher *f)
{
	return f != NULL ? f->st : (struct physim_cpu_flusher_stats){0};
}

/* ---- the paging handler: frees held until the invalidation completed ---- */

int physim_cpu_flusher_release(struct physim_cpu_flusher *f)
{
	if (f == NULL)
		return -EINVAL;
	int first = 0;
	for (size_t i = 0; i < f->nheld; i++) {
		const struct held *h = &f->held[i];
		int rc = h->nframes == 1
			     ? f->inner->dealloc_frame(f->inner->ctx, h->hpa)
			     : f->inner->dealloc_frames(f->inner->ctx, h->hpa, h->nframes);
		if (rc < 0 && first == 0)
			first = rc;
	}
	f->nheld = 0;
	f->table_freed = false;
	return first;
}

/* A free arriving outside a flush call. physim's engine frees a table only
 * after the flush call for the change that unlinked it (lib/pt-edit.c),
 * and that call could not know a table went: on RISC-V it fenced with
 * rs1 != x0, which orders only leaf PTEs, so the walk-cache entries of the
 * table are still there. Fence the table's ASID / VMID with rs1 = x0 now,
 * once per burst of frees. The other families' per-address forms removed
 * those entries already (INVLPG and INVPCID: every paging-structure-cache
 * entry of the PCID; TLBI VAE1IS / IPAS2E1IS: not last-level forms; INVEPT;
 * LoongArch caches no non-leaf entry). The frames are still held until the
 * next flush call: code that frees a table before unlinking it looks the
 * same here, and its flush comes later. */
static void late_free_fence(struct physim_cpu_flusher *f)
{
	if (f->in_call || f->fenced_late || f->arch != PHYSIM_ARCH_RISCV64)
		return;
	f->fenced_late = true;
	rv_full(f);
}

static int hold(struct physim_cpu_flusher *f, physim_hpa_t hpa, size_t nframes)
{
	late_free_fence(f);
	f->table_freed = true;
	if (f->nheld == f->capheld) {
		size_t ncap = f->capheld ? f->capheld * 2 : 16;
		struct held *nh = realloc(f->held, ncap * sizeof(*nh));
		if (nh == NULL) {
			/* cannot hold it back: free now (the caller's free
			 * order, as without this handler) */
			physim_log_warn("cpu flusher: no memory to hold a freed table back");
			return nframes == 1 ? f->inner->dealloc_frame(f->inner->ctx, hpa)
					    : f->inner->dealloc_frames(f->inner->ctx, hpa, nframes);
		}
		f->held = nh;
		f->capheld = ncap;
	}
	f->held[f->nheld++] = (struct held){.hpa = hpa, .nframes = nframes};
	f->st.tables_freed += nframes;
	return 0;
}

static int fph_alloc_frame(void *ctx, physim_hpa_t *hpa)
{
	const struct physim_paging_handler *in = ((struct physim_cpu_flusher *)ctx)->inner;
	return in->alloc_frame(in->ctx, hpa);
}

static int fph_alloc_frames(void *ctx, size_t n, uint64_t align, physim_hpa_t *hpa)
{
	const struct physim_paging_handler *in = ((struct physim_cpu_flusher *)ctx)->inner;
	return in->alloc_frames(in->ctx, n, align, hpa);
}

static int fph_dealloc_frame(void *ctx, physim_hpa_t hpa)
{
	return hold(ctx, hpa, 1);
}

static int fph_dealloc_frames(void *ctx, physim_hpa_t hpa, size_t n)
{
	return n == 0 ? -EINVAL : hold(ctx, hpa, n);
}

static void *fph_phys_to_virt(void *ctx, physim_hpa_t hpa)
{
	const struct physim_paging_handler *in = ((struct physim_cpu_flusher *)ctx)->inner;
	return in->phys_to_virt(in->ctx, hpa);
}

const struct physim_paging_handler *
physim_cpu_flusher_paging_handler(struct physim_cpu_flusher *f,
				  const struct physim_paging_handler *inner)
{
	if (f == NULL || inner == NULL || (f->inner != NULL && f->inner != inner))
		return NULL;
	f->inner = inner;
	f->ph = (struct physim_paging_handler){
	    .ctx = f,
	    .alloc_frame = fph_alloc_frame,
	    .alloc_frames = inner->alloc_frames != NULL ? fph_alloc_frames : NULL,
	    .dealloc_frame = fph_dealloc_frame,
	    .dealloc_frames = inner->dealloc_frames != NULL ? fph_dealloc_frames : NULL,
	    .phys_to_virt = fph_phys_to_virt,
	    .direct = inner->direct,
	};
	return &f->ph;
}
