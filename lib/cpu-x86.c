/* SPDX-License-Identifier: MIT */
/* lib/cpu-x86.c - the x86 TLB invalidation instructions (INVLPG, MOV to
 * CR3/CR4, INVPCID, INVEPT, INVVPID) on one simulated logical processor,
 * removing exactly the mappings the Intel SDM says each one invalidates.
 *
 * Terms of the SDM (Vol. 3C "Information That May Be Cached"): linear mappings (our S1 entries,
 * tagged by VPID and PCID), guest-physical mappings (S2, tagged by EP4TA only) and combined
 * mappings (COMB, tagged by VPID, PCID and EP4TA). In VMX root operation the VPID is 0. None of
 * these instructions is broadcast: another processor's TLB is invalidated only by running the
 * instruction there (the code under test's IPI handler). */
#include "cpu-priv.h"

#include "walk-format.h"

#define CR3_PCID_MASK  UINT64_C(0xFFF)
#define CR3_NOFLUSH    (UINT64_C(1) << 63)
#define CR4_PGE	       (UINT64_C(1) << 7)
#define CR4_PCIDE      (UINT64_C(1) << 17)
#define CR4_SMEP       (UINT64_C(1) << 20)
#define EP4TA_MASK     UINT64_C(0x000FFFFFFFFFF000)
#define ADDR_PAGE_MASK (~UINT64_C(0xFFF))

static bool usable(struct physim_cpu *cpu)
{
	if (cpu == NULL || physim_cpui_arch(cpu) != PHYSIM_ARCH_X86_64)
		return false;
	physim_cpui_drain(cpu);
	physim_cpui_count_inval(cpu);
	return true;
}

/* Linear and combined mappings of the current VPID (SDM Vol. 3C "Operations that
 * Invalidate Cached Mappings":
 * INVLPG, INVPCID and MOV to CR3/CR4 invalidate "linear mappings and combined
 * mappings associated with the current VPID"). */
static struct inval cur_vpid(struct physim_cpu *cpu, const char *name)
{
	struct inval iv = inval_all(name);
	iv.kinds = KIND_S1 | KIND_COMB;
	iv.vmid =
	    physim_cpui_ctx(cpu)->regime == PHYSIM_REGIME_HOST ? 0 : physim_cpui_ctx(cpu)->vmid;
	return iv;
}

/* Run iv on this processor, and record it for the remedies. */
static void issue(struct physim_cpu *cpu, const struct inval *iv)
{
	physim_cpui_note_issued(cpu, iv, (int)physim_cpu_index(cpu), 0, false);
	physim_cpui_apply(cpu, iv);
}

static bool canonical(uint64_t la)
{
	/* 57-bit linear addresses at most (5-level paging): bits 63:56 copy 56
	 * when 5-level, 63:47 copy 47 otherwise; accept either width. */
	int64_t s57 = (int64_t)(la << 7) >> 7;
	return (uint64_t)s57 == la;
}

/* INVLPG (SDM Vol. 3A 4.10.4.1): entries for the page of `la` of the
 * current PCID, and global entries for it whatever their PCID. */
int physim_x86_invlpg(struct physim_cpu *cpu, uint64_t la)
{
	if (!usable(cpu))
		return -EINVAL;
	struct inval iv = cur_vpid(cpu, "INVLPG");
	iv.asid = physim_cpui_ctx(cpu)->asid;
	iv.global = INV_GLB_ANY;
	iv.addr_mode = INV_ADDR_INPUT;
	iv.addr = la;
	iv.addr_mask = ADDR_PAGE_MASK;
	iv.walk_any_addr = true; /* "all entries in all paging-structure caches
				    associated with the current PCID" */
	issue(cpu, &iv);
	return 0;
}

/* MOV to CR3 (SDM Vol. 3A 4.10.4.1): with CR4.PCIDE = 0, every non-global
 * entry of PCID 000H; with CR4.PCIDE = 1, every non-global entry of the new
 * PCID unless bit 63 is set (which is then not part of the value loaded). */
int physim_x86_mov_cr3(struct physim_cpu *cpu, uint64_t value)
{
	if (!usable(cpu))
		return -EINVAL;
	const struct physim_cpu_context *ctx = physim_cpui_ctx(cpu);
	bool pcide = (*physim_cpui_x86_cr4(cpu) & CR4_PCIDE) != 0;
	uint16_t pcid = pcide ? (uint16_t)(value & CR3_PCID_MASK) : 0;
	bool flush = !(pcide && (value & CR3_NOFLUSH));

	if (!physim_cpui_has_ctx(cpu) || ctx->s1 == NULL)
		return -EINVAL;
	struct physim_mmu_config mc;
	physim_mmu_get_config(ctx->s1, &mc);
	uint64_t v = pcide ? value & ~CR3_NOFLUSH : value;
	bool pae = mc.format->levels == 3 && mc.format->pte_bytes == 8 && mc.format->va_bits == 32;
	mc.root = pae ? v & UINT64_C(0xFFFFFFE0) : v & EP4TA_MASK;
	mc.asid = pcid;
	int rc = physim_mmu_set_config(ctx->s1, &mc);
	if (rc < 0)
		return rc;
	struct physim_cpu_context n = *ctx;
	n.asid = pcid;
	rc = physim_cpu_set_context(cpu, &n);
	if (rc < 0)
		return rc;
	if (flush) {
		struct inval iv = cur_vpid(cpu, "MOV to CR3");
		iv.asid = pcid;
		iv.global = INV_GLB_NONGLOBAL;
		issue(cpu, &iv);
	}
	return 0;
}

/* MOV to CR4 (SDM Vol. 3A 4.10.4.1): a change of CR4.PGE, CR4.PCIDE going
 * from 1 to 0, or CR4.SMEP going from 0 to 1 invalidates every entry of
 * every PCID, global ones included (of the current VPID). */
int physim_x86_mov_cr4(struct physim_cpu *cpu, uint64_t value)
{
	if (!usable(cpu))
		return -EINVAL;
	uint64_t *cr4 = physim_cpui_x86_cr4(cpu);
	uint64_t old = *cr4;
	/* #GP: setting PCIDE while CR3[11:0] != 0 (SDM Vol. 3A 4.10.1). */
	if (!(old & CR4_PCIDE) && (value & CR4_PCIDE) && physim_cpui_ctx(cpu)->asid != 0)
		return -EINVAL;
	bool flush = ((old ^ value) & CR4_PGE) || ((old & CR4_PCIDE) && !(value & CR4_PCIDE)) ||
		     (!(old & CR4_SMEP) && (value & CR4_SMEP));
	*cr4 = value;
	if (flush) {
		struct inval iv = cur_vpid(cpu, "MOV to CR4");
		issue(cpu, &iv);
	}
	return 0;
}

/* INVPCID (SDM Vol. 2A "INVPCID"; Vol. 3A 4.10.4.1). Type 0: non-global
 * mappings of the PCID for the address; 1: non-global mappings of the PCID;
 * 2: every mapping, global ones included; 3: every non-global mapping. A
 * type above 3, a PCID above 0 with CR4.PCIDE = 0 for types 0/1, or a
 * non-canonical address for type 0 is #GP. */
int physim_x86_invpcid(struct physim_cpu *cpu, uint64_t type, const uint64_t desc[2])
{
	if (cpu == NULL || desc == NULL || type > 3)
		return -EINVAL;
	if ((desc[0] >> 12) != 0)
		return -EINVAL; /* descriptor bits 63:12 are reserved */
	uint16_t pcid = (uint16_t)(desc[0] & CR3_PCID_MASK);
	if (type <= 1 && pcid != 0 && !(*physim_cpui_x86_cr4(cpu) & CR4_PCIDE))
		return -EINVAL;
	if (type == 0 && !canonical(desc[1]))
		return -EINVAL;
	if (!usable(cpu))
		return -EINVAL;
	struct inval iv = cur_vpid(cpu, "INVPCID");
	switch (type) {
	case 0:
		iv.name = "INVPCID type 0 (individual address)";
		iv.asid = pcid;
		iv.global = INV_GLB_NONGLOBAL;
		iv.addr_mode = INV_ADDR_INPUT;
		iv.addr = desc[1];
		iv.addr_mask = ADDR_PAGE_MASK;
		iv.walk_any_addr = true; /* the PCID's paging-structure caches */
		break;
	case 1:
		iv.name = "INVPCID type 1 (single context)";
		iv.asid = pcid;
		iv.global = INV_GLB_NONGLOBAL;
		break;
	case 2:
		iv.name = "INVPCID type 2 (all contexts, globals included)";
		break;
	default:
		iv.name = "INVPCID type 3 (all contexts but globals)";
		iv.global = INV_GLB_NONGLOBAL;
		break;
	}
	issue(cpu, &iv);
	return 0;
}

/* INVEPT (SDM Vol. 3C "Operations that Invalidate Cached Mappings" and
 * "INVEPT"): type 1 invalidates the
 * guest-physical and combined mappings of EP4TA = EPTP[51:12]; type 2 those
 * of every EP4TA. Linear mappings are untouched; any other type is VMfail. */
int physim_x86_invept(struct physim_cpu *cpu, uint64_t type, const uint64_t desc[2])
{
	if (cpu == NULL || desc == NULL || (type != 1 && type != 2))
		return -EINVAL;
	if (!usable(cpu))
		return -EINVAL;
	struct inval iv = inval_all(type == 1 ? "INVEPT single-context" : "INVEPT global");
	iv.kinds = KIND_S2 | KIND_COMB;
	if (type == 1)
		iv.ep4ta = (int64_t)(desc[0] & EP4TA_MASK);
	issue(cpu, &iv);
	return 0;
}

/* INVVPID (SDM Vol. 3C "Operations that Invalidate Cached Mappings" and
 * "INVVPID"): linear and combined mappings,
 * any PCID and any EP4TA. Type 0: of the VPID, for the address (global ones
 * included); 1: of the VPID; 2: of every VPID but 0000H; 3: non-global ones
 * of the VPID. VPID 0 for types 0, 1, 3, a non-canonical address for type 0
 * or a type above 3 is VMfail. */
int physim_x86_invvpid(struct physim_cpu *cpu, uint64_t type, const uint64_t desc[2])
{
	if (cpu == NULL || desc == NULL || type > 3)
		return -EINVAL;
	if ((desc[0] >> 16) != 0)
		return -EINVAL; /* descriptor bits 63:16 are reserved */
	uint16_t vpid = (uint16_t)desc[0];
	if (type != 2 && vpid == 0)
		return -EINVAL;
	if (type == 0 && !canonical(desc[1]))
		return -EINVAL;
	if (!usable(cpu))
		return -EINVAL;
	struct inval iv = inval_all("INVVPID");
	iv.kinds = KIND_S1 | KIND_COMB;
	switch (type) {
	case 0:
		iv.name = "INVVPID type 0 (individual address)";
		iv.vmid = vpid;
		iv.addr_mode = INV_ADDR_INPUT;
		iv.addr = desc[1];
		iv.addr_mask = ADDR_PAGE_MASK;
		break;
	case 1:
		iv.name = "INVVPID type 1 (single context)";
		iv.vmid = vpid;
		break;
	case 2:
		iv.name = "INVVPID type 2 (all contexts)";
		iv.vmid_not0 = true;
		break;
	default:
		iv.name = "INVVPID type 3 (single context, globals kept)";
		iv.vmid = vpid;
		iv.global = INV_GLB_NONGLOBAL;
		break;
	}
	issue(cpu, &iv);
	return 0;
}

const char *physim_cpui_x86_remedy(const struct physim_cpu_entry *e, bool stage2_changed)
{
	switch (e->kind) {
	case PHYSIM_ENTRY_S1:
		return "INVLPG of the address on every processor that may cache it (an IPI "
		       "runs it on the others), or INVPCID type 0 for its PCID; a global "
		       "page survives MOV to CR3 and INVPCID types 0, 1 and 3 (SDM Vol. 3A "
		       "4.10.4.1)";
	case PHYSIM_ENTRY_WALK:
		if (e->stage == 2)
			return "INVEPT single-context with this EPTP (or global) on every "
			       "processor "
			       "that may cache it: EPT paging-structure entries are guest-physical "
			       "mappings, which INVLPG, INVPCID and INVVPID leave (SDM Vol. 3C "
			       "\"Operations that Invalidate Cached Mappings\")";
		return "INVLPG, MOV to CR3 or INVPCID on every processor that may cache it: each "
		       "invalidates the PCID's paging-structure-cache entries; a changed or freed "
		       "paging-structure (non-leaf) entry needs it as a leaf change does (SDM Vol. "
		       "3A 4.10.3, 4.10.4)";
	case PHYSIM_ENTRY_S2:
		return "INVEPT single-context with this EPTP: guest-physical mappings are "
		       "invalidated only by INVEPT, not by INVLPG or INVVPID (SDM Vol. 3C, "
		       "\"Operations that Invalidate Cached Mappings\")";
	default:
		return stage2_changed
			   ? "INVEPT single-context with this EPTP: an EPT change leaves combined "
			     "mappings until INVEPT; INVLPG and INVVPID do not remove what EPT "
			     "derived (SDM Vol. 3C, \"Operations that Invalidate Cached Mappings\")"
			   : "INVLPG in the guest, or INVVPID type 0 with this VPID and address "
			     "(linear and combined mappings, SDM Vol. 3C, \"Operations that "
			     "Invalidate Cached Mappings\")";
	}
}

const char *physim_cpui_x86_why(const struct inval *iv, const struct physim_cpu_entry *e,
				unsigned miss, bool stage2_changed)
{
	(void)stage2_changed;
	bool ept = iv->kinds == (KIND_S2 | KIND_COMB);
	if ((miss & MISS_KIND) &&
	    (e->kind == PHYSIM_ENTRY_S2 || (e->kind == PHYSIM_ENTRY_WALK && e->stage == 2)))
		return "which does not remove guest-physical mappings: only INVEPT does (SDM Vol. "
		       "3C, \"Operations that Invalidate Cached Mappings\")";
	if ((miss & MISS_KIND) && ept)
		return "which removes guest-physical and combined mappings only: linear mappings "
		       "stay (SDM Vol. 3C, \"Operations that Invalidate Cached Mappings\", INVEPT)";
	if (miss & MISS_STAGE)
		return "which removes linear and combined mappings by linear address and VPID: "
		       "what an EPT change made stale goes only with INVEPT (SDM Vol. 3C, "
		       "\"Operations that Invalidate Cached Mappings\")";
	if (miss & MISS_CPU)
		return "which acts on the executing processor only: an IPI must run it on this one "
		       "too (SDM Vol. 3A 4.10.5)";
	if ((miss & MISS_ASID) && iv->global == INV_GLB_NONGLOBAL && e->global)
		return "which keeps global translations (SDM Vol. 3A 4.10.4.1): use INVLPG, "
		       "INVPCID type 2 or a CR4.PGE toggle";
	return NULL;
}
