/* SPDX-License-Identifier: MIT */
/* physim/walk.h - architectural translation: what the MMU would do with one
 * access - the output address, or the exact fault with the syndrome the
 * hardware reports - including hardware accessed/dirty updates, two-stage
 * nested walks and a software TLB per simulated CPU. */
#ifndef PHYSIM_WALK_H
#define PHYSIM_WALK_H

#include <physim/pt.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One access. */
struct physim_access {
	uint64_t va; /* input address: VA for stage 1, GPA for a stage-2 format */
	bool write;
	bool exec;     /* instruction fetch (write must then be false) */
	bool user;     /* CPL 3 / EL0 / U-mode / PLV3; otherwise supervisor.
			  AArch64 EL2 regime (aarch64-el2-*): there is no EL0,
			  so an EL0 access is a Permission fault at the leaf
			  (no Unpriv* permission exists, Arm ARM R_WBLJK). */
	bool implicit; /* x86: implicit supervisor-mode access to a system data
			  structure (SDM Vol. 3A 4.6; user must be false): SMAP
			  applies regardless of RFLAGS.AC. Ignored elsewhere. */
};

/*
 * Paging control state. Zero is the common setting: everything off, except
 * that x86 CR0.WP and EFER.NXE are ON unless wp_off / nxe_off say otherwise.
 */
struct physim_mmu_ctl {
	/* x86-64 and 32-bit x86 (SDM Vol. 3A 2.5, 4.1, 4.6) */
	bool wp_off;  /* CR0.WP = 0 */
	bool nxe_off; /* EFER.NXE = 0 (bit 63 is then reserved) */
	bool smep;    /* CR4.SMEP */
	bool smap;    /* CR4.SMAP */
	bool ac;      /* RFLAGS.AC (SMAP override for explicit accesses) */
	bool pke;     /* CR4.PKE, with pkru */
	uint32_t pkru;
	unsigned maxphyaddr; /* physical-address width; 0 = 46 */
	/* Intel EPT (SDM Vol. 3C 29.3) */
	bool ept_ad; /* EPTP bit 6: accessed/dirty flags enabled */
	bool mbec;   /* mode-based execute control (bit 10 = user execute) */
	/* AArch64 (Arm ARM D8) */
	bool wxn;	   /* SCTLR_ELx.WXN of the regime (EL1 or EL2) */
	bool pan;	   /* PSTATE.PAN (EL1&0, EL2&0; the EL2 regime has no
			      EL0 permissions for it to act on) */
	bool ha;	   /* TCR.HA / VTCR.HA: hardware access flag */
	bool hd;	   /* TCR.HD / VTCR.HD: hardware dirty state (DBM) */
	unsigned ips_bits; /* output size (TCR.IPS / VTCR.PS); 0 = the format's
			      PA size: 48, or 52 for the aarch64-*-52 formats */
	/* RISC-V (privileged spec: sstatus.SUM/MXR, Svade/Svadu) */
	bool sum;
	bool mxr;
	bool svadu; /* hardware A/D updates; else Svade: a fault */
	/* Memory attributes (physim_xlate_memattr only; the walk does not read
	 * them). AArch64 stage 1: MAIR_ELx, 0 = PHYSIM_MAIR_DEFAULT (pt.h);
	 * give a table's physim_pt_config.mair here too. x86: IA32_PAT, 0 =
	 * the power-on value 0x0007040600070406. */
	uint64_t mair;
	uint64_t pat;
};

enum physim_fault_kind {
	PHYSIM_FAULT_NONE = 0,
	PHYSIM_FAULT_NOT_PRESENT, /* translation fault: no valid entry */
	PHYSIM_FAULT_PERMISSION,
	PHYSIM_FAULT_ACCESS_FLAG,   /* AArch64 AF=0 without HA; RISC-V A/D clear under Svade */
	PHYSIM_FAULT_RESERVED,	    /* reserved bit set / EPT misconfiguration */
	PHYSIM_FAULT_ADDRESS_SIZE,  /* output address beyond the configured size */
	PHYSIM_FAULT_NON_CANONICAL, /* input address not canonical (x86: #GP, not #PF) */
	PHYSIM_FAULT_BUS_ERROR, /* a table fetch outside memory (external abort / access fault) */
};

/* A fault as the hardware reports it. */
struct physim_fault {
	enum physim_fault_kind kind;
	unsigned stage;	   /* 1, or 2 for a stage-2 / nested GPA fault */
	int level;	   /* the architecture's own numbering (x86 PML4 = 4 .. PT = 1;
			      AArch64 lookup level -1 (FEAT_LPA2) or 0-3; RISC-V i from
			      LEVELS-1 down to 0); -1 also when no level applies
			      (kind NON_CANONICAL) */
	bool s1ptw;	   /* stage-2 fault while fetching a stage-1 table entry */
	uint64_t syndrome; /* x86 #PF error code; EPT exit-qualification bits;
			      AArch64 FSC (DFSC/IFSC); RISC-V exception code */
	uint64_t addr;	   /* faulting input address of the faulting stage */
	uint64_t gpa;	   /* stage 2: the faulting guest-physical address */
};

/* The result of one translation. */
struct physim_xlate {
	uint64_t pa;  /* output address (HPA; for a lone stage 1, its output) */
	uint64_t gpa; /* nested walks: the intermediate guest-physical address */
	uint64_t page_size;
	int level;		   /* leaf level, architecture numbering */
	uint32_t perms;		   /* effective PHYSIM_R/W/X/U, combined across levels */
	bool global;		   /* the leaf is global (not tagged by ASID) */
	unsigned mem_refs;	   /* memory references the walk made (4-in-4 nested: up to 24) */
	bool ad_updated;	   /* the walk set accessed/dirty bits in table memory */
	struct physim_fault fault; /* kind NONE on success */
	/* On success: the leaf descriptor as read (of stage 1 in a nested
	 * walk) and, nested, stage 2's leaf for the final GPA (else 0), for
	 * physim_xlate_memattr. A TLB hit returns the descriptors the filling
	 * walk read (a TLB caches the attributes with the translation), so a
	 * stale entry reports the attributes of its fill. */
	uint64_t leaf_desc;
	uint64_t s2_leaf_desc;
};

/*
 * The effective memory type and shareability of a successful translation
 * (pt.h, struct physim_memattr), decoded from x->leaf_desc with s1's format
 * and control state (ctl.mair, ctl.pat) - off the walk's hot path. s2 NULL:
 * a lone stage (a stage-2 format walked alone included). s2 given (x from
 * physim_nested_translate through s1 and s2): both stages combined as the
 * manuals say:
 * - AArch64 stage 1 + stage 2 (FEAT_S2FWB off; Arm ARM D8.5, "Combining the
 *   stage 1 and stage 2 attributes"): Device with Device gives the more
 *   restrictive Device type, Device with Normal the Device type, Normal
 *   with Normal the less cacheable of each of inner and outer (NC < WT <
 *   WB); shareability the wider of the two (outer > inner > none);
 * - RISC-V VS-stage + G-stage ([Svpbmt] with [H]): a G-stage PBMT other than
 *   PMA overrides the PMAs, then a VS-stage PBMT other than PMA overrides
 *   that;
 * - x86 + EPT (SDM Vol. 3C "Memory Type Used for Translated Guest-Physical
 *   Addresses"): with IPAT = 1 the EPT type; otherwise the EPT type takes
 *   the MTRR's place in the PAT x MTRR table of SDM Vol. 3A ("Effective
 *   Page-Level Memory Types").
 * 0; -EINVAL for NULL arguments or a mixed pair of families; -ENOENT if
 * x carries no leaf (a fault). Works the same after a TLB hit as after a
 * walk (the attributes of the entry's filling walk).
 */
struct physim_mmu;
PHYSIM_API int physim_xlate_memattr(const struct physim_mmu *s1, const struct physim_mmu *s2,
				    const struct physim_xlate *x, struct physim_memattr *out);

/*
 * ---- threads ----
 * An mmu is only read by translations: one mmu may serve translate, probe,
 * nested walks and TLB misses on many threads at once. set_config and
 * destroy need it to themselves (no translation through it meanwhile).
 * physim_translate reads the physim_pt object, as a query does.
 *
 * Many threads may translate through one table at once, through one mmu or
 * several, while no thread changes the table (pt.h). Accessed/dirty
 * updates are written by compare-and-swap on the descriptor, as the
 * hardware's are locked read-modify-writes (Intel SDM Vol. 3A, "Automatic
 * Locking"; Arm ARM D8, hardware management of the Access flag and dirty
 * state): concurrent walks setting bits in the same entries lose none (a
 * walk that loses a race walks again; it gives up with -EBUSY only if the
 * descriptors keep changing, which setting bits alone cannot cause). A
 * nested walk writes A/D in both stages' tables. The engine's query,
 * iteration and clear_ad may run alongside (pt.h: atomic descriptor
 * accesses, clear_ad by compare-and-swap); its structural changes - map,
 * unmap, protect, remap, destroy - may not, so a caller changing a table
 * that other threads translate through stops them first
 * (tests/test_threads_shared.c runs the allowed cases under
 * ThreadSanitizer).
 *
 * A TLB belongs to one simulated CPU: no two calls on one physim_tlb may
 * overlap, flushes and stats included (a lookup refills and reorders it).
 * A shootdown of another CPU's TLB runs on that CPU's thread or while it
 * is stopped; so a TLB wired to a table's flush callback must not be in
 * use on another thread while that table changes. Each thread with its own
 * TLB may translate through one shared mmu and table.
 */

/* ---- an MMU context: format, roots and control state ---- */

struct physim_mmu_config {
	const struct physim_pt_format *format;
	/* Memory the tables live in (host-physical). For the stage-1 context of a
	 * nested walk it is not used (tables are fetched through stage 2). */
	const struct physim_paging_handler *mem;
	uint64_t root;	  /* CR3 / TTBR0 / satp / hgatp / EPTP / PGDL table address */
	uint64_t root_hi; /* AArch64 TTBR1 / LoongArch PGDH table for the upper
			     half; 0 = none (upper-half accesses fault). Not
			     used by aarch64-el2-* (E2H = 0: TTBR0_EL2 only) */
	struct physim_mmu_ctl ctl;
	uint16_t asid; /* PCID / ASID tag for the TLB */
	uint16_t vmid; /* VMID / VPID tag for the TLB */
};

struct physim_mmu;

PHYSIM_API int physim_mmu_create(const struct physim_mmu_config *config, struct physim_mmu **out);
PHYSIM_API void physim_mmu_destroy(struct physim_mmu *mmu);
PHYSIM_API void physim_mmu_get_config(const struct physim_mmu *mmu, struct physim_mmu_config *out);
/* Change roots, tags and control state (format and memory stay). */
PHYSIM_API int physim_mmu_set_config(struct physim_mmu *mmu,
				     const struct physim_mmu_config *config);

/*
 * Translate one access. 0 on success; -EFAULT when the access faults
 * (x->fault says how); -EINVAL for a bad argument (x untouched). Hardware
 * accessed/dirty updates are written to table memory where the architecture
 * and the control state say the hardware makes them. Any bytes in table
 * memory give a result or a fault: never a crash, never a read outside the
 * memory the paging handler resolves.
 */
PHYSIM_API int physim_mmu_translate(struct physim_mmu *mmu, const struct physim_access *acc,
				    struct physim_xlate *x);

/* Translate without side effects (no A/D writes); what a debugger sees. */
PHYSIM_API int physim_mmu_probe(const struct physim_mmu *mmu, const struct physim_access *acc,
				struct physim_xlate *x);

/* Two-stage translation: acc->va is a guest VA translated by s1, whose
 * table addresses are guest-physical and fetched through s2; the final GPA
 * is then translated by s2. Faults say which stage and, for stage 2,
 * whether it hit a stage-1 table fetch (s1ptw). */
PHYSIM_API int physim_nested_translate(struct physim_mmu *s1, struct physim_mmu *s2,
				       const struct physim_access *acc, struct physim_xlate *x);

/* Convenience: translate through a page table with the default control
 * state (the table's own root and paging handler). */
PHYSIM_API int physim_translate(struct physim_pt *pt, const struct physim_access *acc,
				struct physim_xlate *x);

/* ---- walk trace: every descriptor a translation fetched ---- */

/* Room for the longest walk: 5-level over 5-level nested, 5 x (5 + 1) + 5. */
#define PHYSIM_WALK_TRACE_MAX 40

/* What the walker decided about one fetch. */
enum physim_walk_decision {
	PHYSIM_WALK_TABLE = 0, /* a table pointer: the walk went on at the next level */
	PHYSIM_WALK_LEAF,      /* a leaf: the translation's output */
	PHYSIM_WALK_FAULT,     /* the walk stopped here with step.fault */
};

/* One descriptor fetch (or, last, the fault that ended the walk). */
struct physim_walk_trace_step {
	uint8_t stage;	   /* 1, or 2 (a stage-2 format, or nested stage 2) */
	int8_t level;	   /* architecture numbering, as physim_fault.level */
	uint8_t decision;  /* enum physim_walk_decision */
	uint8_t fault;	   /* enum physim_fault_kind of a PHYSIM_WALK_FAULT */
	bool fetched;	   /* desc was read (false: a fault before any read,
			      e.g. non-canonical input, or a table outside memory) */
	bool s1_table;	   /* stage 2 translating a stage-1 table entry's GPA */
	bool ad_written;   /* desc_new was written to the descriptor (A/D) */
	uint64_t table;	   /* the table's address: an HPA, or for the stage 1
			      of a nested walk a GPA */
	uint64_t addr;	   /* the descriptor's address, in table's space */
	uint64_t desc;	   /* the value read */
	uint64_t desc_new; /* the value written if ad_written, else desc */
};

/* Steps in the order the hardware makes them: a nested walk lists, for each
 * stage-1 level, the stage-2 walk of the table entry's GPA and then the
 * stage-1 fetch, and last the stage-2 walk of the output GPA. A walk that
 * lost an A/D race and walked again keeps only its last attempt. The
 * stage-2 walks that authorise a stage-1 A/D write are not listed (they
 * read what the table walk of that entry read). */
struct physim_walk_trace {
	unsigned n;	/* steps[0..n) */
	bool truncated; /* more steps happened than fit (never, for the built-in formats) */
	struct physim_walk_trace_step steps[PHYSIM_WALK_TRACE_MAX];
};

/* physim_mmu_trace / physim_nested_trace flags. */
#define PHYSIM_TRACE_PROBE 1u /* as physim_mmu_probe: no A/D written */

/* physim_mmu_translate (or, with PHYSIM_TRACE_PROBE, physim_mmu_probe) that
 * also fills *trace; same result and return value. The ordinary translate
 * calls carry no trace code at all (the loop is instantiated twice). */
PHYSIM_API int physim_mmu_trace(struct physim_mmu *mmu, const struct physim_access *acc,
				unsigned flags, struct physim_xlate *x,
				struct physim_walk_trace *trace);
/* physim_nested_translate with a trace of both stages. */
PHYSIM_API int physim_nested_trace(struct physim_mmu *s1, struct physim_mmu *s2,
				   const struct physim_access *acc, unsigned flags,
				   struct physim_xlate *x, struct physim_walk_trace *trace);

/* "not-present", "permission", ... as physim-pt prints them. */
PHYSIM_API const char *physim_fault_kind_name(enum physim_fault_kind kind);
/* One line describing a fault, e.g. "stage 1 permission fault at level 1,
 * syndrome 0x7, va 0x400000". Returns the length snprintf would. */
PHYSIM_API int physim_fault_format(const struct physim_fault *f, char *buf, size_t len);
/* The same in a per-thread buffer, valid until the thread's next call. */
PHYSIM_API const char *physim_fault_str(const struct physim_fault *f);

/* ---- software TLB: one per simulated CPU (not shared by threads) ---- */

struct physim_tlb_entry_info {
	uint64_t va; /* page-aligned */
	uint64_t pa;
	uint64_t page_size;
	uint32_t perms;
	uint16_t asid, vmid;
	bool global;
};

/* Stale use: a TLB hit whose cached translation differs from a fresh walk
 * of the tables - a missing invalidation in the code under test. `current`
 * has kind NONE in its fault when the fresh walk succeeded. */
typedef void (*physim_tlb_stale_fn)(void *ctx, uint64_t va,
				    const struct physim_tlb_entry_info *cached,
				    const struct physim_xlate *current);

struct physim_tlb_config {
	unsigned entries; /* capacity; 0 = 1024 (rounded up to a power of two) */
	/* Verify every hit against a fresh walk. Every class of access can hit
	 * and so be checked: supervisor accesses to user pages and user
	 * accesses under protection keys are cached too and served only while
	 * the control state that decides them (SMAP/SMEP/AC, PAN, SUM/MXR,
	 * PKRU, CR0.WP) is as it was at the fill (lib/tlb.c). */
	bool check_stale;
	physim_tlb_stale_fn on_stale;
	void *stale_ctx;
};

struct physim_tlb_stats {
	uint64_t hits, misses, flushes, stale;
};

struct physim_tlb;

PHYSIM_API int physim_tlb_create(const struct physim_tlb_config *config, struct physim_tlb **out);
PHYSIM_API void physim_tlb_destroy(struct physim_tlb *tlb);

/* Look up (tagged by the mmu's asid/vmid), walk on a miss and fill. Faults
 * are never cached. Same return convention as physim_mmu_translate. */
PHYSIM_API int physim_tlb_translate(struct physim_tlb *tlb, struct physim_mmu *mmu,
				    const struct physim_access *acc, struct physim_xlate *x);
/* The same for a nested walk; entries map guest VA -> HPA, tagged by s1's asid and s2's vmid. */
PHYSIM_API int physim_tlb_nested_translate(struct physim_tlb *tlb, struct physim_mmu *s1,
					   struct physim_mmu *s2, const struct physim_access *acc,
					   struct physim_xlate *x);

PHYSIM_API void physim_tlb_flush_all(struct physim_tlb *tlb);
/* Entries covering va, any asid (global ones included), in every vmid. */
PHYSIM_API void physim_tlb_flush_va(struct physim_tlb *tlb, uint64_t va);
/* Non-global entries of an asid. */
PHYSIM_API void physim_tlb_flush_asid(struct physim_tlb *tlb, uint16_t asid);
/* Entries of a vmid. */
PHYSIM_API void physim_tlb_flush_vmid(struct physim_tlb *tlb, uint16_t vmid);
/* Non-global entries covering va in asid. */
PHYSIM_API void physim_tlb_flush_va_asid(struct physim_tlb *tlb, uint64_t va, uint16_t asid);

PHYSIM_API struct physim_tlb_stats physim_tlb_stats(const struct physim_tlb *tlb);

/* A physim_pt_flush_fn (pt.h) that flushes `tlb` (passed as ctx): plug it
 * into physim_pt_config.flush so a table that reports its changes keeps the
 * TLB coherent. */
PHYSIM_API void physim_tlb_pt_flush(void *tlb, const uint64_t *vas, size_t n, bool all);

#ifdef __cplusplus
}
#endif
#endif
