/* SPDX-License-Identifier: MIT */
/* physim/cpu.h - simulated CPUs (x86 logical processors, Arm PEs, RISC-V
 * harts, LoongArch cores) with their TLBs, grouped in a machine, and the
 * invalidation instructions of each architecture as the manuals define them. */
#ifndef PHYSIM_CPU_H
#define PHYSIM_CPU_H

#include <physim/walk.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * ---- Model ----
 *
 * A machine is a broadcast domain: a set of CPUs of one architecture family
 * (Arm: the Inner Shareable domain of TLBI ...IS; RISC-V: the harts an SBI
 * RFENCE hart mask names; x86 and LoongArch have no hardware broadcast: the
 * code under test runs the instruction on each CPU, as its IPI handler
 * would). Every access goes through a CPU (physim_cpu_translate), which
 * caches what the architecture allows it to cache, as separate kinds of
 * entries:
 *
 *   PHYSIM_ENTRY_S1:   stage-1 translation (VA -> PA, or VA -> IPA/GPA when
 *                      the context has no stage 2)
 *   PHYSIM_ENTRY_S2:   stage-2-only translation (GPA/IPA -> HPA): the final
 *                      GPA of every nested walk, and every access of a
 *                      context that has only a stage 2
 *   PHYSIM_ENTRY_COMB: combined stage-1+2 translation (GVA -> HPA)
 *
 * each tagged as the hardware tags it (x86: PCID, VPID, EP4TA; Arm: ASID,
 * VMID, translation regime; RISC-V: ASID, VMID, V; LoongArch: ASID), with
 * global entries matching every ASID. An entry leaves a CPU only through an
 * invalidation instruction that the manual says removes it (or, in bounded
 * mode, by capacity). In strict mode (the default) nothing is ever evicted,
 * so a missing or insufficient invalidation is never hidden by chance.
 *
 * Each instruction takes its operands as the hardware does - raw register
 * values and descriptors - so that an operand-encoding bug in the code under
 * test (an unshifted address, the ASID in the wrong bits) invalidates the
 * wrong thing here too. docs/tlb.md lists what each one removes, with the
 * manual's section.
 *
 * With walk_caches, a CPU also caches the non-leaf descriptors of every walk
 * (PHYSIM_ENTRY_WALK): the last-level-only forms (TLBI VALE1, SFENCE.VMA
 * with rs1 != x0, ...) leave them, the others remove them, and an x86
 * INVLPG removes every one of the current PCID. A nested walk caches (a)
 * the stage-1 non-leaf descriptors of the guest's tables (stage 1, tagged
 * like combined entries, removed by what removes combined entries: TLBI
 * VAE1 / VMALLE1 / VMALLS12E1, not IPAS2E1; INVLPG, INVVPID, INVEPT of the
 * EP4TA; HFENCE.VVMA, HFENCE.GVMA with rs1 = x0), (b) the stage-2
 * translations of the stage-1 tables' addresses, as stage-2 entries, and (c)
 * the stage-2 non-leaf descriptors of every stage-2 walk it made (stage 2:
 * TLBI IPAS2E1 but not IPAS2LE1, VMALLS12E1, INVEPT, HFENCE.GVMA with rs1 =
 * x0). docs/tlb.md has the table with the manuals' sections.
 *
 * ---- Threads ----
 *
 * A CPU is driven by one thread at a time (its own instructions,
 * translations, context switches). Broadcast invalidations (TLBI ...IS
 * completed by a DSB, SBI RFENCE) may be issued from any CPU's thread: they
 * are queued on each target CPU under a per-CPU mutex and applied by the
 * target itself at its next access or instruction (a point at which the
 * hardware's invalidation would have completed, since the issuer only goes
 * on after completion). A lone CPU's hit path reads one atomic flag and no
 * lock. physim_machine_audit and physim_machine_destroy need every CPU
 * stopped (no call on any CPU meanwhile).
 */

enum physim_cpu_mode {
	PHYSIM_CPU_STRICT = 0, /* nothing is evicted by capacity */
	PHYSIM_CPU_BOUNDED,    /* set-associative capacity, like today's physim_tlb */
};

enum physim_entry_kind {
	PHYSIM_ENTRY_S1 = 0,
	PHYSIM_ENTRY_S2 = 1,
	PHYSIM_ENTRY_COMB = 2,
	/* a walk-cache entry: one non-leaf descriptor (x86 PML4E/PDPTE/PDE
	 * caches, Arm walk caches, RISC-V non-leaf PTEs) of a stage-1 or a
	 * stage-2 table; va..va+page_size is the input range it covers, pa
	 * the next table's address, level its level (machine config
	 * walk_caches) */
	PHYSIM_ENTRY_WALK = 3,
};

/* Translation regime of the current context, and of an entry. */
enum physim_regime {
	/* x86: VMX root operation (or no VMX); Arm: the EL2 regime (non-VHE, no
	 * ASID); RISC-V: V = 0 (HS/U, satp); LoongArch: always. */
	PHYSIM_REGIME_HOST = 0,
	/* x86: VMX non-root (VPID, EPTP); Arm: the EL1&0 regime (VMID; with
	 * no EL2 in use, VMID 0); RISC-V: V = 1 (vsatp, hgatp). */
	PHYSIM_REGIME_GUEST = 1,
	/* Arm only: the EL2&0 regime of a VHE host (HCR_EL2.{E2H, TGE} =
	 * {1, 1}): one stage, tagged by ASID (nG entries) and no VMID, with
	 * the EL1&0 descriptor formats (aarch64-4k-48 ...; the aarch64-el2-*
	 * formats are the E2H = 0 EL2 regime's). Loading such a context sets
	 * the CPU's HCR_EL2.E2H, loading a PHYSIM_REGIME_HOST one clears it
	 * (a GUEST context leaves it): TLBI VAE2 / VALE2 then act on EL2&0
	 * entries of the ASID in Xt[63:48] (and global ones), and the EL1
	 * forms (VAE1, VAAE1, ASIDE1, VMALLE1 ...) issued in an EL2&0 context
	 * act on EL2&0, as with {E2H, TGE} = {1, 1}; ALLE2 removes EL2 and
	 * EL2&0 entries. EL3 is not modelled. */
	PHYSIM_REGIME_HOST_E20 = 2,
};

/* A CPU's current translation context. s1 and s2 are borrowed: they must
 * outlive their use by this CPU (entries remember them for audits). */
struct physim_cpu_context {
	struct physim_mmu *s1; /* stage 1; NULL: no stage 1 (paging off under EPT,
				  Arm stage 1 disabled, vsatp Bare) */
	struct physim_mmu *s2; /* stage 2; NULL: one stage (s1 translates to PA) */
	enum physim_regime regime;
	uint16_t asid; /* x86 PCID (CR3[11:0] with CR4.PCIDE); Arm ASID;
			  RISC-V satp/vsatp ASID; LoongArch ASID */
	uint16_t vmid; /* x86 VPID (0 in VMX root); Arm VMID; RISC-V hgatp VMID */
	uint64_t eptp; /* x86: EPTP of a context with stage 2 (entries are tagged
			  with its EP4TA, bits 51:12); other families: unused */
};

/* One cached entry, as reports and audits describe it. */
struct physim_cpu_entry {
	enum physim_entry_kind kind;
	enum physim_regime regime;
	uint64_t va;  /* input page base (GPA for an S2 entry) */
	uint64_t pa;  /* output page base */
	uint64_t gpa; /* COMB: intermediate page base; S1 of a context whose
			 output is guest-physical: equal to pa */
	uint64_t page_size;
	uint32_t perms;
	bool global;
	uint16_t asid, vmid;
	uint64_t ep4ta; /* x86 EP4TA tag of S2/COMB entries */
	int level;	/* leaf (or WALK: descriptor) level, architecture numbering */
	int stage;	/* WALK: 1, a stage-1 table's descriptor (of a nested context:
			   va is the GVA range, gpa the next table's GPA, pa its HPA);
			   2, a stage-2 table's (va a GPA range); other kinds: 0 */
};

enum physim_cpu_report_kind {
	PHYSIM_REPORT_STALE_USE = 1, /* a hit that differs from a fresh walk */
	PHYSIM_REPORT_STALE_ENTRY,   /* audit: a cached entry the tables no longer say */
	PHYSIM_REPORT_FREED_IN_USE,  /* a frame freed while an entry references it
					(addr: the frame; break-before-free) */
	PHYSIM_REPORT_BBM,	     /* check_bbm: a cached descriptor changed from
					valid to another valid value the
					architecture forbids to make live (addr:
					the descriptor; desc_old, desc_new) */
};

/* A finding. `current` is what a fresh walk of the entry's tables says now
 * (current.fault.kind != NONE: the address no longer translates). `remedy`
 * says what was done and what was needed, quoting the manual: the
 * invalidation issued since the entry was cached that came closest to
 * removing it (each CPU remembers its last 16; the one failing the fewest
 * of the instruction's filters, the newest on a tie) and why it did not -
 * the wrong kind of entry ("survives INVLPG ..., which does not remove
 * guest-physical mappings"), another CPU, ASID, VMID or address, an operand
 * encoded the wrong way, a last-level form, a TTL hint - or that none was
 * issued; then "needed:" and the instruction that removes it. The text is
 * owned by the machine and stays valid until physim_machine_destroy (the
 * same text is one pointer). `pending` is set when an invalidation that
 * removes it was issued but not completed (TLBI without DSB, SINVAL without
 * SFENCE.INVAL.IR). */
struct physim_cpu_report {
	enum physim_cpu_report_kind kind;
	unsigned cpu; /* index in the machine */
	uint64_t addr;
	struct physim_cpu_entry entry;
	struct physim_xlate current;
	const char *remedy;
	bool pending;
	uint64_t desc_old, desc_new; /* PHYSIM_REPORT_BBM */
	const char *inval;	     /* PHYSIM_REPORT_BBM: the invalidation that came too late */
};

typedef void (*physim_cpu_report_fn)(void *ctx, const struct physim_cpu_report *r);

struct physim_machine_config {
	enum physim_arch arch; /* family of the CPUs' instructions (required) */
	unsigned ncpus;	       /* 1 .. 1024 (required) */
	enum physim_cpu_mode mode;
	unsigned bounded_entries; /* bounded mode: per-CPU capacity; 0 = 1024 */
	bool check_stale;	  /* compare every hit with a fresh walk (hits then
				     bypass the per-CPU front cache of recent pages) */
	/* Cache non-leaf descriptors too (PHYSIM_ENTRY_WALK; for a nested
	 * context also the stage-2 translations of its stage-1 tables'
	 * addresses, see the model above): each walk then compares the cached
	 * ones on its path with the tables (a stale one is a stale use: the
	 * hardware may have walked from it), and audits check them. */
	bool walk_caches;
	/* Break-before-make (AArch64: Arm ARM DDI 0487 M.a.a D8.17.1, stage 1 and stage 2
	 * alike; x86: page-size changes, SDM Vol. 3A 4.10.2 "Translation Lookaside Buffers"):
	 * entries remember the descriptor they were made from (a stage-1 or stage-2 leaf; a
	 * combined entry its stage-1 leaf, read at its HPA through stage 2; walk entries their
	 * table descriptor; an entry of a Contiguous run every descriptor of the run, each
	 * compared with the value the run's first one implies), and each invalidation that
	 * removes one compares it with table memory where it completes. A descriptor found valid
	 * again but changed in output address, block size / table <-> block, memory attributes or
	 * contiguity (Arm; x86: page size) was rewritten while still cachable: PHYSIM_REPORT_BBM.
	 * A broadcast is checked at each CPU it reaches too, when that CPU
	 * applies it (its next access or instruction), against the
	 * descriptors on the invalidated address's path, as they were at the
	 * issuer's DSB, in the tables of every context any CPU cached entries
	 * from - not only the issuer's; for a broadcast without an address
	 * (VMALLE1IS, ASIDE1IS, VMALLS12E1IS, ...), every descriptor some
	 * CPU's entry was made from since the machine was created. The check
	 * only reads, and on_report then runs
	 * on that CPU's thread: it must be thread-safe when CPUs run on
	 * several threads. */
	bool check_bbm;
	physim_cpu_report_fn on_report;
	void *report_ctx;
	/* Audit at every invalidation's completion: each CPU compares its own
	 * entries with the tables (as physim_machine_audit does for all) right
	 * after an invalidation completes on it - an instruction that takes
	 * effect at once (INVLPG, INVPCID, INVEPT, INVVPID, MOV to CR3/CR4,
	 * SFENCE.VMA, HFENCE.*, INVTLB, an SBI RFENCE's local part), the
	 * issuer's barrier (Arm DSB, RISC-V SFENCE.INVAL.IR) and, on the
	 * other CPUs, a broadcast when the target applies it (at its next
	 * access or instruction, on its own thread: no CPU reads another's
	 * entries, so this is as thread-safe as the instructions). A stale
	 * entry is then reported (STALE_ENTRY, naming the CPU) right after
	 * the invalidation that should have removed it, even if never used
	 * again. The cost is an audit of the CPU's entries per completion
	 * (physim-bench: cpu_audit_complete). */
	bool audit_on_complete;
};

struct physim_cpu_stats {
	uint64_t hits, misses, entries, invalidations, stale;
};

struct physim_machine;
struct physim_cpu;

PHYSIM_API int physim_machine_create(const struct physim_machine_config *config,
				     struct physim_machine **out);
PHYSIM_API void physim_machine_destroy(struct physim_machine *m);
PHYSIM_API unsigned physim_machine_ncpus(const struct physim_machine *m);
/* The CPU with index i, NULL if out of range. */
PHYSIM_API struct physim_cpu *physim_machine_cpu(struct physim_machine *m, unsigned i);
PHYSIM_API unsigned physim_cpu_index(const struct physim_cpu *cpu);

/* Load a new context (CR3/VMCS, TTBRx/VTTBR, satp/hgatp ...). Switching
 * context invalidates nothing: entries of other tags stay cached, as on
 * hardware. -EINVAL if it has neither stage, or if s1 is a stage-2 format
 * or s2 is not. */
PHYSIM_API int physim_cpu_set_context(struct physim_cpu *cpu, const struct physim_cpu_context *ctx);
PHYSIM_API void physim_cpu_get_context(const struct physim_cpu *cpu,
				       struct physim_cpu_context *out);

/* Translate one access in the current context: a hit in this CPU's cache,
 * else a walk (whose result is cached; faults are not). Same return
 * convention as physim_mmu_translate; -ENXIO when no context is loaded. */
PHYSIM_API int physim_cpu_translate(struct physim_cpu *cpu, const struct physim_access *acc,
				    struct physim_xlate *x);

PHYSIM_API struct physim_cpu_stats physim_cpu_stats(const struct physim_cpu *cpu);

/* Visit every entry a CPU holds (its pending remote invalidations applied
 * first); stop early when fn returns nonzero, which is returned. The CPU
 * must not be in use on another thread. */
PHYSIM_API int physim_cpu_for_each_entry(struct physim_cpu *cpu,
					 int (*fn)(void *ctx, const struct physim_cpu_entry *e),
					 void *ctx);

/* Compare every entry of every CPU with the tables it was filled from, as
 * they are now; each difference goes to on_report (kind STALE_ENTRY).
 * Returns the number of stale entries. Every CPU must be stopped. */
PHYSIM_API long physim_machine_audit(struct physim_machine *m);

/*
 * ---- break-before-free ----
 * A frame may go back to the allocator only once no CPU can use it through
 * a cached entry: as the page a translation maps, or as a table (a
 * walk-cache entry points at it or holds a descriptor read from it). These
 * wrappers forward to `inner` and, before each frame is freed, check every
 * CPU's entries (pending broadcasts applied first), reporting each
 * reference as PHYSIM_REPORT_FREED_IN_USE (`pending` set when an
 * invalidation that removes it was issued but not completed: freed before
 * the DSB). The wrappers live until the machine is destroyed; give them to
 * the tables (physim_pt_create) or the code under test instead of `inner`.
 * Frees must not run while any CPU is in use on another thread (as for
 * every table change, walk.h). NULL on a bad argument or no memory.
 */
PHYSIM_API const struct physim_paging_handler *
physim_machine_paging_handler(struct physim_machine *m, const struct physim_paging_handler *inner);
PHYSIM_API const struct physim_mm_hal *physim_machine_mm_hal(struct physim_machine *m,
							     const struct physim_mm_hal *inner);
/* The same check on demand for [hpa, hpa + size): the number of references
 * reported. */
PHYSIM_API long physim_machine_check_free(struct physim_machine *m, uint64_t hpa, uint64_t size);

/* One line describing a report. Returns the length snprintf would. */
PHYSIM_API int physim_cpu_report_format(const struct physim_cpu_report *r, char *buf, size_t len);

/* ---- x86 (Intel SDM Vol. 3A 4.10.4; Vol. 3C "Operations that Invalidate Cached Mappings") ----
 * Every call acts on this logical processor only. Errors mirror the
 * instruction's #GP / VMfail as -EINVAL, and then nothing is invalidated. */

/* INVLPG m: the linear address. */
PHYSIM_API int physim_x86_invlpg(struct physim_cpu *cpu, uint64_t la);
/* MOV to CR3: the raw value. With CR4.PCIDE, bits 11:0 are the new PCID and
 * bit 63 set means "no flush". The CPU's stage-1 mmu gets the new root
 * (bits 51:12; 31:5 for i386-pae) and the context the new PCID. */
PHYSIM_API int physim_x86_mov_cr3(struct physim_cpu *cpu, uint64_t value);
/* MOV to CR4: the raw value; the CPU remembers CR4 (initially 0), so that
 * toggling PGE, clearing PCIDE or setting SMEP flushes as the SDM says. */
PHYSIM_API int physim_x86_mov_cr4(struct physim_cpu *cpu, uint64_t value);
/* INVPCID type, descriptor (desc[0] bits 11:0 PCID, desc[1] linear address). */
PHYSIM_API int physim_x86_invpcid(struct physim_cpu *cpu, uint64_t type, const uint64_t desc[2]);
/* INVEPT type (1 single-context, 2 global), descriptor desc[0] = EPTP. */
PHYSIM_API int physim_x86_invept(struct physim_cpu *cpu, uint64_t type, const uint64_t desc[2]);
/* INVVPID type 0-3, descriptor (desc[0] bits 15:0 VPID, desc[1] linear address). */
PHYSIM_API int physim_x86_invvpid(struct physim_cpu *cpu, uint64_t type, const uint64_t desc[2]);

/* ---- AArch64 (Arm ARM DDI 0487 M.a.a D8.17 "TLB maintenance", C5.5 "A64 System
 * instructions for TLB maintenance") ---- */

enum physim_tlbi_op {
	PHYSIM_TLBI_VAE1 = 1,
	PHYSIM_TLBI_VALE1,
	PHYSIM_TLBI_VAAE1,
	PHYSIM_TLBI_VAALE1,
	PHYSIM_TLBI_ASIDE1,
	PHYSIM_TLBI_VMALLE1,
	PHYSIM_TLBI_IPAS2E1,
	PHYSIM_TLBI_IPAS2LE1,
	PHYSIM_TLBI_VMALLS12E1,
	PHYSIM_TLBI_ALLE1,
	PHYSIM_TLBI_VAE2,
	PHYSIM_TLBI_VALE2,
	PHYSIM_TLBI_ALLE2,
	/* ...IS (Inner Shareable, broadcast to every CPU of the machine): */
	PHYSIM_TLBI_VAE1IS,
	PHYSIM_TLBI_VALE1IS,
	PHYSIM_TLBI_VAAE1IS,
	PHYSIM_TLBI_VAALE1IS,
	PHYSIM_TLBI_ASIDE1IS,
	PHYSIM_TLBI_VMALLE1IS,
	PHYSIM_TLBI_IPAS2E1IS,
	PHYSIM_TLBI_IPAS2LE1IS,
	PHYSIM_TLBI_VMALLS12E1IS,
	PHYSIM_TLBI_ALLE1IS,
	PHYSIM_TLBI_VAE2IS,
	PHYSIM_TLBI_VALE2IS,
	PHYSIM_TLBI_ALLE2IS,
};

/* TLBI <op>, Xt. Xt as the instruction takes it: VA forms VA[55:12] in bits
 * 43:0, TTL in 47:44, ASID in 63:48; IPAS2 forms IPA[51:12] in bits 39:0,
 * TTL in 47:44; the other forms ignore it. The TTL hint (FEAT_TTL) is
 * honoured as C5.5.59 states it: TTL[3:2] names the granule (0b01 4K, 0b10
 * 16K, 0b11 64K), TTL[1:0] the leaf's level; a reserved encoding (level 0
 * with 16K or 64K) acts as no hint; a hint that does not describe an entry
 * (another level, or a granule other than its table format's) removes
 * nothing of it ("no entries are required ... to be invalidated"). The
 * simulated PEs implement FEAT_LPA2, so 4K level 0 and 16K level 1 are
 * hints. A Contiguous-bit run is cached as one entry of the run's size, but
 * a TLBI by address removes only the named block or page of it (D8.17.6:
 * "The Contiguous bit does not affect the minimum size of a TLB entry that
 * is required to be invalidated"), the rest stays cached; the same holds
 * for RISC-V Svnapot pages under a fence with rs1 != x0, and for combined
 * entries made from a stage-1 run (by VA) or a stage-2 run (HFENCE.GVMA by
 * GPA). An ARMv7 Large
 * page or Supersection is one TLB entry and goes whole. The VMID is the
 * issuing CPU's current one. A TLBI is only guaranteed complete after the
 * issuing CPU's next DSB (physim_arm_dsb): until then every CPU keeps the entries. */
PHYSIM_API int physim_arm_tlbi(struct physim_cpu *cpu, enum physim_tlbi_op op, uint64_t xt);
/* DSB (ISH / NSH alike here): completes this CPU's outstanding TLBIs on
 * every CPU they target. */
PHYSIM_API void physim_arm_dsb(struct physim_cpu *cpu);

/* ---- RISC-V (privileged spec: SFENCE.VMA, H extension fences, Svinval) ----
 * A NULL register pointer is x0; otherwise it points at the register's
 * value (rs1 != x0 holding 0 is not rs1 = x0). */

PHYSIM_API int physim_rv_sfence_vma(struct physim_cpu *cpu, const uint64_t *rs1_vaddr,
				    const uint64_t *rs2_asid);
PHYSIM_API int physim_rv_hfence_vvma(struct physim_cpu *cpu, const uint64_t *rs1_vaddr,
				     const uint64_t *rs2_asid);
/* rs1 holds the guest-physical address shifted right by 2. */
PHYSIM_API int physim_rv_hfence_gvma(struct physim_cpu *cpu, const uint64_t *rs1_gaddr_shr2,
				     const uint64_t *rs2_vmid);
/* Svinval: the same operands; each takes effect only at this hart's next
 * SFENCE.INVAL.IR. */
PHYSIM_API int physim_rv_sinval_vma(struct physim_cpu *cpu, const uint64_t *rs1_vaddr,
				    const uint64_t *rs2_asid);
PHYSIM_API int physim_rv_hinval_vvma(struct physim_cpu *cpu, const uint64_t *rs1_vaddr,
				     const uint64_t *rs2_asid);
PHYSIM_API int physim_rv_hinval_gvma(struct physim_cpu *cpu, const uint64_t *rs1_gaddr_shr2,
				     const uint64_t *rs2_vmid);
PHYSIM_API void physim_rv_sfence_w_inval(struct physim_cpu *cpu);
PHYSIM_API void physim_rv_sfence_inval_ir(struct physim_cpu *cpu);

/* SBI RFENCE extension (EID 0x52464E43) function IDs. */
enum physim_sbi_rfence_fid {
	PHYSIM_SBI_REMOTE_FENCE_I = 0, /* no TLB effect */
	PHYSIM_SBI_REMOTE_SFENCE_VMA = 1,
	PHYSIM_SBI_REMOTE_SFENCE_VMA_ASID = 2,
	PHYSIM_SBI_REMOTE_HFENCE_GVMA_VMID = 3,
	PHYSIM_SBI_REMOTE_HFENCE_GVMA = 4,
	PHYSIM_SBI_REMOTE_HFENCE_VVMA_ASID = 5,
	PHYSIM_SBI_REMOTE_HFENCE_VVMA = 6,
};

/* An SBI RFENCE call made by `caller`: hart_mask with hart_mask_base
 * (all ones: every hart), the range [start, start + size) (start = size = 0,
 * or size = all ones: everything), and `tag` the ASID or VMID of the _ASID /
 * _VMID forms. HFENCE.VVMA forms use the caller's current VMID. Each hart in
 * the mask performs the fence before the call returns. -EINVAL (SBI
 * ERR_INVALID_PARAM) for a hart outside the machine or a bad fid. */
PHYSIM_API int physim_sbi_rfence(struct physim_cpu *caller, enum physim_sbi_rfence_fid fid,
				 unsigned long hart_mask, unsigned long hart_mask_base,
				 uint64_t start, uint64_t size, uint64_t tag);

/* ---- LoongArch (LoongArch Reference Manual Vol. 1, "INVTLB") ---- */

/* INVTLB op, rj (ASID in bits 9:0), rk (virtual address). */
PHYSIM_API int physim_la_invtlb(struct physim_cpu *cpu, unsigned op, uint64_t rj, uint64_t rk);

/*
 * ---- Routing a table's flush callback to CPU instructions ----
 *
 * A flusher is "the hypervisor's flush function" done the way the manuals
 * say is sufficient: give physim_cpu_flusher_fn_ex and the flusher to a
 * table (physim_pt_config.flush_ex / flush_ctx, physim_aspace_config.flush_ex;
 * or physim_cpu_flusher_fn as its flush callback) and each
 * change the table reports is invalidated on the target CPUs with the
 * architecture's instructions, with their operands encoded as the hardware
 * takes them, then completed (lib/cpu-route.c cites the manual for each):
 *
 *   x86 stage 1:  INVLPG on each target whose current PCID is the table's,
 *                 else INVPCID type 0 (plus INVLPG for global pages); all:
 *                 INVPCID type 1 (type 2 with global pages)
 *   x86 EPT:      INVEPT single-context (EPTP) on each target
 *   Arm stage 1:  TLBI VAE1IS (ASID | VA >> 12), DSB ISH; all: VMALLE1IS,
 *                 or ASIDE1IS when the table is known to hold no global
 *                 page (no_global); EL2 regime: VAE2IS / ALLE2IS; EL2&0
 *                 (VHE): VAE1IS / VMALLE1IS (ASIDE1IS) from an issuer in
 *                 its EL2&0 context, else VAE2IS (ASID | VA >> 12) / ALLE2IS
 *                 with HCR_EL2.E2H = 1
 *   Arm stage 2:  TLBI IPAS2E1IS (IPA >> 12), DSB ISH, then TLBI VMALLE1IS,
 *                 DSB ISH (KVM's sequence); all: VMALLS12E1IS, DSB ISH
 *   RISC-V s1:    SFENCE.VMA va, asid here and SBI remote_sfence_vma_asid on
 *                 the other targets (guest regime: HFENCE.VVMA /
 *                 remote_hfence_vvma_asid); with svinval: SFENCE.W.INVAL,
 *                 SINVAL.VMA (HINVAL.VVMA) per page, SFENCE.INVAL.IR
 *   RISC-V s2:    HFENCE.GVMA gpa >> 2, vmid here and SBI
 *                 remote_hfence_gvma_vmid on the other targets (svinval:
 *                 HINVAL.GVMA bracketed the same way)
 *   LoongArch:    INVTLB 0x5 (0x6 with global pages) per target; all: 0x4
 *
 * Global pages on Arm: physim_pt_map's VMSAv8-64 stage-1 leaves are global
 * (nG clear), and ASIDE1IS does not remove global entries, so unless the
 * config says the table holds none (no_global: every leaf has nG set), an
 * `all` flush uses VMALLE1IS - more than needed for a table of non-global
 * pages (every ASID of the VMID goes), never less. VAE1IS removes the
 * address's global entries anyway.
 *
 * Arm's E1 forms and RISC-V's VVMA forms act on the issuing CPU's current
 * VMID: when it is not the table's, the flusher loads the table's VMID
 * around the sequence and restores the context after (as KVM switches
 * VTTBR_EL2). An issuing CPU with no context loaded has no cached entry,
 * but it still has the VMID register the instructions read (VTTBR_EL2.VMID,
 * hgatp.VMID), which needs no table: the flusher writes only that for the
 * sequence and puts it back, so a flush before any context is loaded (the
 * engine reports new leaves on map) reaches the other CPUs' entries of the
 * VMID like any other.
 *
 * Freed tables: the engine clears the pointer to a table it empties or
 * removes, calls the flush callback, and only then frees the table's frames
 * (break-before-free, lib/pt-edit.c), reporting the leaf addresses under
 * it. The per-address forms of x86 (INVLPG, INVPCID type 0: every
 * paging-structure-cache entry of the PCID), Arm (VAE1IS, IPAS2E1IS: not
 * last-level forms), INVEPT and LoongArch remove the freed table's
 * walk-cache entries. RISC-V's leaf-only forms (SFENCE.VMA / HFENCE.GVMA
 * with rs1 != x0) would leave them, so the flusher must know a table went:
 * give the table physim_cpu_flusher_fn_ex as its flush_ex callback (the
 * engine's PHYSIM_PT_FLUSH_TABLES_FREED: the same call fences rs1 = x0 for
 * the ASID / VMID). With physim_cpu_flusher_fn, which cannot be told, give
 * a RISC-V table physim_cpu_flusher_paging_handler instead: it sees each
 * free that comes after the flush call and fences rs1 = x0 then (once per
 * burst).
 *
 * The paging handler also holds the freed frames back until the next flush
 * call has completed, returning them to `inner` at the end of that call, at
 * physim_cpu_flusher_release or at destroy. physim's engine does not need
 * that any more (it frees after the flush); it is for code of one's own
 * that frees a table before it unlinks it and flushes (the freeing-too-early
 * bug: tgoskits #2009), which would otherwise return a frame a walk cache
 * still references.
 *
 * x86 and LoongArch have no broadcast: the flusher runs the instruction on
 * each target CPU from the calling thread (the IPI handler done inline), so
 * those targets must not be in use on another thread meanwhile. An x86 CPU
 * with CR4.PCIDE = 0 holds nothing of a PCID other than 0 but global
 * entries: it gets no INVPCID naming such a PCID (which would #GP), only
 * INVLPG for global pages. Arm and
 * RISC-V broadcasts are thread-safe as the instructions are. A flusher is
 * used by one thread at a time (the table's owner).
 */

enum physim_flush_table {
	PHYSIM_FLUSH_STAGE1 = 0, /* a stage-1 table (of `asid`, in `regime`) */
	PHYSIM_FLUSH_STAGE2,	 /* a stage-2 table (of `vmid`; x86: the EPT of `eptp`) */
};

struct physim_cpu_flusher_config {
	struct physim_cpu *cpu; /* the issuing CPU (required) */
	enum physim_flush_table table;
	enum physim_regime regime; /* stage 1: the regime its translations are in
				      (PHYSIM_REGIME_HOST_E20: Arm only) */
	uint16_t asid;		   /* stage 1: PCID / ASID */
	uint16_t vmid;		   /* Arm VMID, RISC-V VMID, x86 VPID (stage 1, guest) */
	uint64_t eptp;		   /* x86 stage 2: the EPTP (INVEPT operand); may be set
				      later (physim_cpu_flusher_set_eptp), a flush
				      without one is an error (-ENXIO) */
	bool global;		   /* stage 1: the table may hold global pages */
	/* Only the issuing CPU (Arm: non-IS forms; RISC-V: no SBI; x86 and
	 * LoongArch: no IPI) - the local-only flush bug, for tests. */
	bool local;
	/* x86, LoongArch, RISC-V: bit i set = CPU i is a target (0: every CPU
	 * of the machine; CPUs from index 64 up are always targets). Arm IS
	 * forms reach every CPU whatever the mask. */
	uint64_t cpu_mask;
	/* Optional: told of each instruction before it is issued - the CPU
	 * that runs it (an SBI call: the caller) and the instruction with its
	 * operands as an assembler-like line ("TLBI IPAS2E1IS, 0x80100",
	 * "INVEPT single-context, EPTP 0x8001e01e"). */
	void (*trace)(void *ctx, unsigned cpu, const char *insn);
	void *trace_ctx;
	/* Targets among any number of CPUs: a bitmap of cpu_set_bits bits,
	 * bit i (word i / 64, bit i % 64) = CPU i; CPUs from cpu_set_bits up
	 * are not targets. Copied at create; when set it replaces cpu_mask
	 * (physim_cpu_flusher_set_targets changes it later). */
	const uint64_t *cpu_set;
	unsigned cpu_set_bits;
	/* Arm stage 1: the table holds no global page (every leaf has nG
	 * set), so an `all` flush may use ASIDE1IS; see above. Other
	 * families: unused (their leaves are global only with G set: say so
	 * with `global`). */
	bool no_global;
	/* RISC-V: issue the Svinval forms (SINVAL.VMA, HINVAL.VVMA,
	 * HINVAL.GVMA) between SFENCE.W.INVAL and SFENCE.INVAL.IR instead of
	 * the fences (other families: -EINVAL). The SBI remote calls are the
	 * same. */
	bool svinval;
};

struct physim_cpu_flusher_stats {
	uint64_t calls;	       /* flush callbacks handled */
	uint64_t instructions; /* invalidation instructions, barriers and SBI calls issued */
	uint64_t tables_freed; /* frames held back by the paging handler */
	int first_error;       /* the first instruction's error (0: none) */
};

struct physim_cpu_flusher;

/* -EINVAL for a bad config (no CPU, stage 2 on LoongArch, EL2&0 other than
 * Arm stage 1, svinval other than RISC-V), -ENOMEM. */
PHYSIM_API int physim_cpu_flusher_create(const struct physim_cpu_flusher_config *config,
					 struct physim_cpu_flusher **out);
/* Replace the targets by the bitmap set of nbits bits (as cpu_set; copied).
 * set NULL, nbits 0: back to the config's cpu_mask. -EINVAL, -ENOMEM (the
 * targets unchanged). */
PHYSIM_API int physim_cpu_flusher_set_targets(struct physim_cpu_flusher *f, const uint64_t *set,
					      unsigned nbits);
/* x86 stage 2: the EPTP INVEPT names (the table's root is known only once
 * the table exists, and the table needs the flusher first). */
PHYSIM_API int physim_cpu_flusher_set_eptp(struct physim_cpu_flusher *f, uint64_t eptp);
/* Returns held frames to the inner handler first. */
PHYSIM_API void physim_cpu_flusher_destroy(struct physim_cpu_flusher *f);
/* The physim_pt_flush_fn: ctx is the flusher. It cannot return an error:
 * the first instruction's error goes to stats.first_error (e.g. -ENXIO:
 * an x86 stage-2 flush before physim_cpu_flusher_set_eptp). */
PHYSIM_API void physim_cpu_flusher_fn(void *ctx, const uint64_t *vas, size_t n, bool all);
/* The physim_pt_flush_ex_fn (physim_pt_config.flush_ex,
 * physim_aspace_config.flush_ex): the same, told by the engine when the
 * change unlinked tables (PHYSIM_PT_FLUSH_TABLES_FREED), so that RISC-V
 * fences rs1 = x0 in the same call, whatever the table's paging handler. */
PHYSIM_API void physim_cpu_flusher_fn_ex(void *ctx, const uint64_t *vas, size_t n, bool all,
					 unsigned flags);
/* A paging handler forwarding to `inner` whose frees are held back until
 * the flusher's next invalidation has completed, and which makes a RISC-V
 * flusher fence non-leaf entries after a table is freed (see above): the
 * machine must outlive the tables using it. It lives as
 * long as the flusher: destroy the tables using it first (the frames
 * physim_pt_destroy frees are held too, and go back at
 * physim_cpu_flusher_destroy or _release). One inner handler per flusher:
 * NULL for another one, a bad argument or no memory. */
PHYSIM_API const struct physim_paging_handler *
physim_cpu_flusher_paging_handler(struct physim_cpu_flusher *f,
				  const struct physim_paging_handler *inner);
/* Return the held frames now (0, or the first error of `inner`). */
PHYSIM_API int physim_cpu_flusher_release(struct physim_cpu_flusher *f);
PHYSIM_API struct physim_cpu_flusher_stats
physim_cpu_flusher_stats(const struct physim_cpu_flusher *f);

#ifdef __cplusplus
}
#endif
#endif
