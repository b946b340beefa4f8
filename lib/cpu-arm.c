/* SPDX-License-Identifier: MIT */
/* lib/cpu-arm.c - the AArch64 TLBI instructions and DSB on simulated PEs:
 * the operand decoded as the hardware decodes it, the entries each form must
 * remove (Arm ARM DDI 0487 M.a.a, D8.17 "TLB maintenance" and the TLBI
 * instruction descriptions in C5.5), completion at the issuing PE's next DSB
 * (D8.17.8 "Ordering and completion of TLB maintenance instructions").
 *
 * Regimes: PHYSIM_REGIME_GUEST is the EL1&0 regime (tagged by VMID and, for
 * non-global entries, ASID), PHYSIM_REGIME_HOST the non-VHE EL2 regime (no
 * ASID), PHYSIM_REGIME_HOST_E20 the VHE EL2&0 regime (ASID, no VMID; the
 * CPU's HCR_EL2.E2H follows the last host context loaded, TGE is taken as
 * set while an EL2&0 context is loaded). "Current VMID" is the issuing PE's (VTTBR_EL2.VMID), also
 * for the broadcast forms at the other PEs. Leaf entries are all "last level" entries, so the ...L
 * forms remove the same final translations as the full forms; only the full forms remove walk-cache
 * entries. The TTL hint (Xt[47:44], FEAT_TTL) is honoured with its granule check (decode_ttl). */
#include "cpu-priv.h"

#include "pt-format.h"

#define XT_VA_MASK   ((UINT64_C(1) << 44) - 1) /* VA[55:12] */
#define XT_IPA_MASK  ((UINT64_C(1) << 40) - 1) /* IPA[51:12] */
#define VA_CMP_MASK  UINT64_C(0x00FFFFFFFFFFF000)
#define IPA_CMP_MASK UINT64_C(0x000FFFFFFFFFF000)

/* Xt[47:44], the TTL hint (Arm ARM DDI 0487 M.a.a C5.5.59 TLBI VAE1, "TTL"):
 * TTL[3:2] the granule (0b00: no hint; 0b01 4K, 0b10 16K, 0b11 64K), TTL[1:0]
 * the level of the leaf. Reserved encodings make the instruction act as if
 * TTL were 0 (no hint): level 0 with 16K and 64K, and level 0 with 4K / level
 * 1 with 16K unless FEAT_LPA2 is implemented - the simulated PEs implement it
 * (physim has the LPA2 formats), so those two are hints. A valid hint that
 * does not describe the entry - another level or another granule - means
 * "no entries are required ... to be invalidated": the entry stays. Sets
 * iv->ttl_level (-1: no hint) and iv->ttl_granule. */
static void decode_ttl(struct inval *iv, uint64_t xt)
{
	unsigned ttl = (unsigned)(xt >> 44) & 0xF;
	unsigned granule = ttl >> 2, level = ttl & 3;
	iv->ttl_level = -1;
	iv->ttl_granule = 0;
	if (granule == 0 || (level == 0 && granule != 1))
		return;
	iv->ttl_level = (int8_t)level;
	iv->ttl_granule = (uint8_t)granule;
}

unsigned physim_cpui_arm_granule(const struct centry *e)
{
	if (e->ctx == NULL)
		return 0;
	bool s2 = e->kind == PHYSIM_ENTRY_S2 || (e->kind == PHYSIM_ENTRY_WALK && e->wstage == 2);
	const struct physim_pt_format *f = s2 ? e->ctx->c2.format : e->ctx->c1.format;
	if (f == NULL)
		return 0;
	switch (f->level[0].shift) {
	case 12:
		return 1;
	case 14:
		return 2;
	case 16:
		return 3;
	default:
		return 0;
	}
}

static bool is_broadcast(enum physim_tlbi_op op)
{
	return op >= PHYSIM_TLBI_VAE1IS && op <= PHYSIM_TLBI_ALLE2IS;
}

static enum physim_tlbi_op local_form(enum physim_tlbi_op op)
{
	return is_broadcast(op) ? (enum physim_tlbi_op)(op - PHYSIM_TLBI_VAE1IS + 1) : op;
}

static const char *const tlbi_names[] = {
    [PHYSIM_TLBI_VAE1] = "TLBI VAE1",
    [PHYSIM_TLBI_VALE1] = "TLBI VALE1",
    [PHYSIM_TLBI_VAAE1] = "TLBI VAAE1",
    [PHYSIM_TLBI_VAALE1] = "TLBI VAALE1",
    [PHYSIM_TLBI_ASIDE1] = "TLBI ASIDE1",
    [PHYSIM_TLBI_VMALLE1] = "TLBI VMALLE1",
    [PHYSIM_TLBI_IPAS2E1] = "TLBI IPAS2E1",
    [PHYSIM_TLBI_IPAS2LE1] = "TLBI IPAS2LE1",
    [PHYSIM_TLBI_VMALLS12E1] = "TLBI VMALLS12E1",
    [PHYSIM_TLBI_ALLE1] = "TLBI ALLE1",
    [PHYSIM_TLBI_VAE2] = "TLBI VAE2",
    [PHYSIM_TLBI_VALE2] = "TLBI VALE2",
    [PHYSIM_TLBI_ALLE2] = "TLBI ALLE2",
    [PHYSIM_TLBI_VAE1IS] = "TLBI VAE1IS",
    [PHYSIM_TLBI_VALE1IS] = "TLBI VALE1IS",
    [PHYSIM_TLBI_VAAE1IS] = "TLBI VAAE1IS",
    [PHYSIM_TLBI_VAALE1IS] = "TLBI VAALE1IS",
    [PHYSIM_TLBI_ASIDE1IS] = "TLBI ASIDE1IS",
    [PHYSIM_TLBI_VMALLE1IS] = "TLBI VMALLE1IS",
    [PHYSIM_TLBI_IPAS2E1IS] = "TLBI IPAS2E1IS",
    [PHYSIM_TLBI_IPAS2LE1IS] = "TLBI IPAS2LE1IS",
    [PHYSIM_TLBI_VMALLS12E1IS] = "TLBI VMALLS12E1IS",
    [PHYSIM_TLBI_ALLE1IS] = "TLBI ALLE1IS",
    [PHYSIM_TLBI_VAE2IS] = "TLBI VAE2IS",
    [PHYSIM_TLBI_VALE2IS] = "TLBI VALE2IS",
    [PHYSIM_TLBI_ALLE2IS] = "TLBI ALLE2IS",
};

/* The issuing PE's state that decides what a TLBI targets. */
struct issuer {
	uint16_t vmid; /* VTTBR_EL2.VMID */
	bool e20;      /* HCR_EL2.{E2H, TGE} = {1, 1}: an EL2&0 context loaded */
	bool e2h;      /* HCR_EL2.E2H */
};

/* The EL1 forms issued with {E2H, TGE} = {1, 1} act on the EL2&0 regime,
 * which has no VMID (C5.5.59 TLBI VAE1, C5.5.10 ASIDE1, C5.5.77 VMALLE1:
 * "If the Effective value of HCR_EL2.{E2H, TGE} is {1, 1}, the entry would
 * be required to translate ... using the EL2&0 translation regime"). */
static void el1_target(struct inval *iv, const struct issuer *is)
{
	if (is->e20) {
		iv->kinds = KIND_S1;
		iv->regime = PHYSIM_REGIME_HOST_E20;
		iv->vmid = -1;
		return;
	}
	iv->kinds = KIND_S1 | KIND_COMB;
	iv->regime = PHYSIM_REGIME_GUEST;
	iv->vmid = is->vmid;
}

/* The entries `op` with operand xt must remove, issued by a PE in state is:
 * one invalidation in iv[0], a second in iv[1] for ALLE2 (EL2 and EL2&0).
 * Returns how many. */
static unsigned decode(enum physim_tlbi_op op, uint64_t xt, const struct issuer *is,
		       struct inval iv[2])
{
	iv[0] = inval_all(tlbi_names[op]);
	uint16_t asid = (uint16_t)(xt >> 48);
	uint64_t va = (xt & XT_VA_MASK) << 12;

	enum physim_tlbi_op lf = local_form(op);
	iv[0].leaf_only = lf == PHYSIM_TLBI_VALE1 || lf == PHYSIM_TLBI_VAALE1 ||
			  lf == PHYSIM_TLBI_VALE2 || lf == PHYSIM_TLBI_IPAS2LE1;
	switch (lf) {
	case PHYSIM_TLBI_VAE1:
	case PHYSIM_TLBI_VALE1:
		/* stage 1 of EL1&0 (current VMID) or EL2&0, the VA, the ASID
		 * or global */
		el1_target(&iv[0], is);
		iv[0].asid = asid;
		iv[0].addr_mode = INV_ADDR_INPUT;
		iv[0].addr = va;
		iv[0].addr_mask = VA_CMP_MASK;
		decode_ttl(&iv[0], xt);
		break;
	case PHYSIM_TLBI_VAAE1:
	case PHYSIM_TLBI_VAALE1:
		/* ... any ASID */
		el1_target(&iv[0], is);
		iv[0].addr_mode = INV_ADDR_INPUT;
		iv[0].addr = va;
		iv[0].addr_mask = VA_CMP_MASK;
		decode_ttl(&iv[0], xt);
		break;
	case PHYSIM_TLBI_ASIDE1:
		/* non-global stage-1 entries of the ASID */
		el1_target(&iv[0], is);
		iv[0].asid = asid;
		iv[0].global = INV_GLB_NONGLOBAL;
		break;
	case PHYSIM_TLBI_VMALLE1:
		/* every stage-1 entry (combined ones too) of the current VMID;
		 * stage-2-only entries stay */
		el1_target(&iv[0], is);
		break;
	case PHYSIM_TLBI_IPAS2E1:
	case PHYSIM_TLBI_IPAS2LE1:
		/* stage-2-only entries of the IPA, current VMID: combined
		 * entries need not be removed (the manual's note: follow with
		 * TLBI VMALLE1 for those) */
		iv[0].kinds = KIND_S2;
		iv[0].regime = PHYSIM_REGIME_GUEST;
		iv[0].vmid = is->vmid;
		iv[0].addr_mode = INV_ADDR_INPUT;
		iv[0].addr = (xt & XT_IPA_MASK) << 12;
		iv[0].addr_mask = IPA_CMP_MASK;
		decode_ttl(&iv[0], xt);
		break;
	case PHYSIM_TLBI_VMALLS12E1:
		iv[0].regime = PHYSIM_REGIME_GUEST;
		iv[0].vmid = is->vmid;
		break;
	case PHYSIM_TLBI_ALLE1:
		iv[0].regime = PHYSIM_REGIME_GUEST;
		break;
	case PHYSIM_TLBI_VAE2:
	case PHYSIM_TLBI_VALE2:
		/* E2H = 0: the EL2 regime (no ASID), the VA; E2H = 1: the
		 * EL2&0 regime, the VA, the ASID or global (C5.5.62) */
		iv[0].kinds = KIND_S1;
		iv[0].regime = is->e2h ? PHYSIM_REGIME_HOST_E20 : PHYSIM_REGIME_HOST;
		if (is->e2h)
			iv[0].asid = asid;
		iv[0].addr_mode = INV_ADDR_INPUT;
		iv[0].addr = va;
		iv[0].addr_mask = VA_CMP_MASK;
		decode_ttl(&iv[0], xt);
		break;
	default: /* ALLE2: the EL2 and the EL2&0 regime (C5.5.4) */
		iv[0].kinds = KIND_S1;
		iv[0].regime = PHYSIM_REGIME_HOST;
		iv[1] = iv[0];
		iv[1].regime = PHYSIM_REGIME_HOST_E20;
		return 2;
	}
	return 1;
}

bool physim_cpui_arm_e20_ok(const struct physim_cpu *cpu, const struct physim_cpu_context *ctx)
{
	return ctx->regime == PHYSIM_REGIME_HOST_E20 &&
	       physim_cpui_arch(cpu) == PHYSIM_ARCH_AARCH64 && ctx->s2 == NULL;
}

int physim_arm_tlbi(struct physim_cpu *cpu, enum physim_tlbi_op op, uint64_t xt)
{
	if (cpu == NULL || physim_cpui_arch(cpu) != PHYSIM_ARCH_AARCH64 || op < PHYSIM_TLBI_VAE1 ||
	    op > PHYSIM_TLBI_ALLE2IS)
		return -EINVAL;
	physim_cpui_drain(cpu);
	const struct physim_cpu_context *ctx = physim_cpui_ctx(cpu);
	struct issuer is = {.vmid = ctx->vmid,
			    .e20 =
				physim_cpui_has_ctx(cpu) && ctx->regime == PHYSIM_REGIME_HOST_E20,
			    .e2h = cpu->arm_e2h};
	struct inval iv[2];
	unsigned n = decode(op, xt, &is, iv);
	int rc = 0;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		rc = physim_cpui_defer(cpu, &iv[i], is_broadcast(op));
		if (rc == 0)
			physim_cpui_note_issued(cpu, &iv[i],
						is_broadcast(op) ? -1 : (int)physim_cpu_index(cpu),
						0, true);
	}
	if (rc == 0)
		physim_cpui_count_inval(cpu);
	return rc;
}

void physim_arm_dsb(struct physim_cpu *cpu)
{
	if (cpu != NULL)
		physim_cpui_complete(cpu);
}

const char *physim_cpui_arm_remedy(const struct physim_cpu_entry *e, bool stage2_changed)
{
	if (e->regime == PHYSIM_REGIME_HOST_E20)
		return e->kind == PHYSIM_ENTRY_WALK
			   ? "TLBI VAE2IS with Xt = ASID << 48 | VA >> 12 (not VALE2IS: last-level "
			     "forms leave walk-cache entries), then DSB ISH; with HCR_EL2.E2H = 1 "
			     "it "
			     "acts on the EL2&0 regime (Arm ARM DDI 0487 M.a.a C5.5.63 TLBI VAE2IS)"
			   : "TLBI VAE2IS with Xt = ASID << 48 | VA >> 12 (with HCR_EL2.E2H = 1 "
			     "the "
			     "EL2&0 entries of the ASID and global ones), or TLBI VAE1IS with "
			     "HCR_EL2.{E2H, TGE} = {1, 1}, then DSB ISH (Arm ARM DDI 0487 M.a.a "
			     "C5.5.63 TLBI VAE2IS)";
	if (e->regime == PHYSIM_REGIME_HOST && e->kind == PHYSIM_ENTRY_WALK)
		return "TLBI VAE2IS (not VALE2IS: last-level forms leave walk-cache entries), then "
		       "DSB ISH (Arm ARM DDI 0487 M.a.a C5.5.63 TLBI VAE2IS)";
	if (e->regime == PHYSIM_REGIME_HOST)
		return "TLBI VAE2IS with Xt = VA >> 12 (VA[55:12] in bits 43:0 whatever the "
		       "granule), then DSB ISH (Arm ARM DDI 0487 M.a.a C5.5.62 TLBI VAE2)";
	switch (e->kind) {
	case PHYSIM_ENTRY_WALK:
		if (e->stage == 2)
			return "TLBI IPAS2E1IS with Xt = IPA >> 12 (not IPAS2LE1IS: the last-level "
			       "form need not remove stage-2 walk-cache entries), or VMALLS12E1IS, "
			       "then DSB ISH (Arm ARM DDI 0487 M.a.a C5.5.13 TLBI IPAS2E1)";
		return "TLBI VAE1IS (or VAAE1IS / ASIDE1IS) with Xt = ASID << 48 | VA >> 12, then "
		       "DSB ISH: the last-level forms (VALE1IS, VAALE1IS) need not remove "
		       "walk-cache entries, so a changed or freed table needs a non-L form (Arm "
		       "ARM "
		       "DDI 0487 M.a.a C5.5.68 TLBI VALE1: 'from the final level of lookup')";
	case PHYSIM_ENTRY_S1:
		return "TLBI VAE1IS with Xt = ASID << 48 | VA >> 12 (VA[55:12] in bits 43:0 "
		       "whatever the granule; VAAE1IS for a global page), then DSB ISH "
		       "(Arm ARM DDI 0487 M.a.a C5.5.59 TLBI VAE1; D8.17.8)";
	case PHYSIM_ENTRY_S2:
		return "TLBI IPAS2E1IS with Xt = IPA >> 12 (IPA[51:12] in bits 39:0), then DSB "
		       "ISH (Arm ARM DDI 0487 M.a.a C5.5.13 TLBI IPAS2E1)";
	default:
		return stage2_changed
			   ? "TLBI IPAS2E1IS (IPA >> 12) need not remove combined stage 1+2 "
			     "entries: follow it with DSB ISH; TLBI VMALLE1IS; DSB ISH (Arm ARM "
			     "DDI 0487 M.a.a C5.5.13 TLBI IPAS2E1 and D8.17.6.1; KVM's "
			     "__kvm_tlb_flush_vmid_ipa)"
			   : "TLBI VAE1IS with Xt = ASID << 48 | VA >> 12 in the guest's VMID, "
			     "then DSB ISH (Arm ARM DDI 0487 M.a.a C5.5.59 TLBI VAE1)";
	}
}

/* Is a in the page [base, base + size)? */
static bool in_page(uint64_t a, uint64_t base, uint64_t size)
{
	return ((a ^ base) & ~(size - 1) & VA_CMP_MASK) == 0;
}

/* The operand of a by-address TLBI whose address, shifted back, lies in the
 * entry's page [base, base + size): the shift it was given wrongly. */
static const char *operand_hint(const struct inval *iv, uint64_t base, uint64_t size, bool ipa)
{
	uint64_t got = iv->addr & iv->addr_mask;
	if (in_page(got, base, size))
		return NULL;
	if (in_page(got >> 12, base, size))
		return ipa ? "whose operand was the IPA itself: Xt takes IPA >> 12 (IPA[51:12] in "
			     "bits 39:0; Arm ARM DDI 0487 M.a.a C5.5.13 TLBI IPAS2E1)"
			   : "whose operand was the VA itself: Xt takes VA >> 12 (VA[55:12] in "
			     "bits "
			     "43:0; Arm ARM DDI 0487 M.a.a C5.5.59 TLBI VAE1)";
	if (!ipa && (in_page(got << 2, base, size) || in_page(got << 4, base, size)))
		return "whose operand was shifted by the 16K / 64K page shift: Xt[43:0] is "
		       "VA[55:12] "
		       "whatever the granule, i.e. VA >> 12 (Arm ARM DDI 0487 M.a.a C5.5.59 TLBI "
		       "VAE1)";
	return NULL;
}

const char *physim_cpui_arm_why(const struct inval *iv, const struct physim_cpu_entry *e,
				unsigned miss, bool stage2_changed)
{
	if ((miss & MISS_KIND) && e->kind == PHYSIM_ENTRY_COMB && iv->kinds == KIND_S2)
		return "which need not remove combined stage 1+2 entries (Arm ARM DDI 0487 M.a.a "
		       "C5.5.13 TLBI IPAS2E1: 'not required to apply to caching structures that "
		       "combine stage 1 and stage 2'; D8.17.6.1: TLBI IPAS2E1, DSB, TLBI VMALLE1)";
	if ((miss & MISS_KIND) &&
	    (e->kind == PHYSIM_ENTRY_S2 || (e->kind == PHYSIM_ENTRY_WALK && e->stage == 2)))
		return "which removes stage-1 entries only: a stage-2 change needs TLBI IPAS2E1IS "
		       "with Xt = IPA >> 12 (Arm ARM DDI 0487 M.a.a D8.17.6.1)";
	if (miss & MISS_STAGE)
		return "a stage-1 invalidation after a stage-2 change: the stage-2 entries need "
		       "TLBI IPAS2E1IS (IPA >> 12), the combined ones TLBI VMALLE1IS (Arm ARM DDI "
		       "0487 M.a.a D8.17.6.1)";
	if ((miss & MISS_REGIME) && e->regime == PHYSIM_REGIME_HOST_E20)
		return "which did not act on the EL2&0 regime: the EL1 forms reach it only with "
		       "HCR_EL2.{E2H, TGE} = {1, 1}, TLBI VAE2 only with E2H = 1 (Arm ARM DDI 0487 "
		       "M.a.a C5.5.59 TLBI VAE1, C5.5.62 TLBI VAE2)";
	if ((miss & MISS_REGIME) && e->regime == PHYSIM_REGIME_GUEST &&
	    iv->regime == PHYSIM_REGIME_HOST_E20)
		return "which acted on the EL2&0 regime, as the EL1 forms do with HCR_EL2.{E2H, "
		       "TGE} "
		       "= {1, 1}: a guest's EL1&0 entries need them with TGE = 0 and its VMID "
		       "loaded (Arm ARM DDI 0487 M.a.a C5.5.59 TLBI VAE1)";
	if (miss & MISS_CPU)
		return "a non-IS form, which acts on the issuing PE only: the IS form reaches "
		       "every "
		       "PE of the Inner Shareable domain (Arm ARM DDI 0487 M.a.a D8.17.7 "
		       "'Broadcast "
		       "TLB maintenance')";
	if (miss & MISS_ADDR) {
		bool ipa = iv->kinds == KIND_S2;
		const char *h = operand_hint(iv, e->va, e->page_size, ipa);
		if (h == NULL && stage2_changed && e->kind == PHYSIM_ENTRY_COMB)
			h = operand_hint(iv, e->gpa, e->page_size, false);
		if (h != NULL)
			return h;
	}
	if ((miss & MISS_LEAF) && e->kind == PHYSIM_ENTRY_WALK && e->stage == 2)
		return "a last-level form, which need not remove stage-2 walk-cache entries (Arm "
		       "ARM DDI 0487 M.a.a C5.5.13 TLBI IPAS2E1 and its last-level form IPAS2LE1)";
	if (miss & MISS_LEAF)
		return "a last-level form, which need not remove walk-cache entries (Arm ARM DDI "
		       "0487 M.a.a C5.5.68 TLBI VALE1: 'from the final level of lookup')";
	if (miss & MISS_TTL)
		return "whose TTL hint does not describe the entry (another level or granule): 'If "
		       "an incorrect value of the TTL field is specified for the entry being "
		       "invalidated by the instruction, then no entries are required by the "
		       "architecture to be invalidated' (Arm ARM DDI 0487 M.a.a C5.5.59 TLBI VAE1)";
	return NULL;
}
