/* SPDX-License-Identifier: MIT */
/* lib/walk-format.h - the access rules of a table-format family, as the one
 * walk loop (lib/walk-loop.h) uses them: input check and root selection, one
 * step per descriptor (classification under the control state, permissions
 * accumulated across levels, the leaf's access check and A/D update value),
 * fault syndromes and the architecture's level numbering.
 *
 * ---- How a family plugs in ----
 *
 * 1. Put the descriptor bits and classify / output address in the family's
 *    codec header (arch/<family>/<x>-desc.h) as static inline functions; the
 *    format's pt_format_ops wrap them.
 * 2. Write the rules in arch/<family>/<name>_walk.c: begin() and step() as
 *    WALK_INLINE functions (step() calls the codec, never f->ops->...),
 *    fault() and, if the control state changes masks or the family wants
 *    the loop's fast path for plain table pointers (walk_table_fast),
 *    configure(); and a
 *    walk function that instantiates the loop with constants,
 *
 *        static int rv_walk(const struct walk_req *r, struct physim_xlate *x)
 *        {
 *                switch (r->m->cfg.format->levels) {
 *                case 3: return walk_stage_loop(r, x, rv_begin, rv_step, 3, 8);
 *                ...
 *        }
 *        const struct pt_walk_ops physim_rv_walk_ops = { .walk = rv_walk, ... };
 *
 *    declared PHYSIM_HIDDEN extern in the family's private header (e.g.
 *    arch/riscv64/riscv-priv.h), and add the file to arch/<family>/meson.build.
 *    A family may walk lone untraced requests (walk_req_lone) in its walk
 *    function with walk_stage_lone and send the rest to an out-of-line
 *    function with walk_stage_rest, which may walk the family's own stage
 *    2 inline (WALK_S2_INLINE, struct walk_s2_inline); a stage-2 family
 *    uses walk_stage2_loop (walk-loop.h) and, per level count, a
 *    WALK_GPA_FN as pt_walk_ops.walk_gpa[levels] for the nested stage 1s
 *    that do not walk it inline.
 *    For the page-table engine's lookups, a lookup step (the codec's
 *    classify and output address: WALK_LOOKUP_CODEC_STEP) and, per level
 *    count, a lookup function instantiating walk_lookup_loop with
 *    constants (WALK_LOOKUP_FN) (WALK_GEO_4K where the family has 4 KiB formats, |
 *    WALK_GEO_EXACT where its fast path ignores no bit), as
 *    pt_walk_ops.lookup[levels].
 * 3. Point every format object of the family at it:
 *
 *        const struct physim_pt_format physim_fmt_sv39 = { ..., .walk = &physim_rv_walk_ops };
 *
 *    A format whose `walk` is NULL cannot be translated: physim_mmu_create
 *    says -ENOTSUP. Formats that differ in rules (level numbering, stage)
 *    get their own ops objects; formats that differ only in geometry share
 *    one and read the format (w->fmt) where they must.
 *
 * ---- What the walk loop does (walk_stage_loop, lib/walk-loop.h), in order ----
 *
 *   a. physim_mmu_translate rejects a bad access (write together with exec:
 *      -EINVAL) and calls ops->walk.
 *   b. The loop fills a struct walk_state (the access, the control state, the
 *      origin) and calls begin(), which checks the input address (the
 *      usual rule: walk_va_ok, two masks of the mmu), picks the
 *      root (config.root or, e.g. for an AArch64 TTBR1 address,
 *      config.root_hi), and initialises the family's accumulators. A failing
 *      begin() fills the whole fault (kind, level, syndrome) itself.
 *      Neither begin() nor step() may hand w's address, or a copy of w,
 *      to a function that is not inlined: the loop's fault path rebuilds
 *      the state from the request and the family's scratch
 *      (walk_fault_copy), and a begin() that builds a fault calls an
 *      inline builder. Once the address leaves, the compiler keeps the
 *      whole state in memory on every path, and walks take a quarter
 *      longer (sv48); a copy made the loop store the state at the start
 *      of every walk (0.93-0.95x without, x86-64 and Sv48).
 *   c. For level = levels-1 down to 0: computes the descriptor's address
 *      table + pt_index(fmt, va, level) * pte_bytes (the mmu's idx_shift /
 *      idx_mask), fetches it (in a nested walk the table address is a GPA
 *      and is first translated by stage 2, see below) through the direct map
 *      or, on a cold path, the paging handler's phys_to_virt. A descriptor
 *      in the one form of a table pointer that changes nothing but the
 *      table address (physim_mmu.tw_mask / tw_val, set by configure with
 *      walk_table_fast) is followed at once; any other goes to step(),
 *      called once with the raw descriptor. A fetch that does not resolve in
 *      table memory (config.mem) is a BUS_ERROR at that level. step()
 *      returns NONE and fills a walk_step: a table (go on with step.next) or
 *      a leaf (stop); or it returns a fault kind. Running out of levels
 *      without a leaf cannot happen if step() classifies level 0 correctly;
 *      the loop treats a "table" at level 0 as a RESERVED fault at level 0
 *      anyway.
 *   d. On a fault, a cold path calls ops->fault(w, kind, level, &fault) to
 *      build kind, level (architecture numbering) and syndrome, then fills
 *      stage, addr, gpa and s1ptw.
 *   e. On success: pa = step.next + (va & (page_size - 1)); perms, global,
 *      level (architecture numbering) from the leaf step. Before that,
 *      unless this is a probe, every descriptor of the walk whose step asked
 *      for a new value (d_new != d) is written back with a compare-and-swap,
 *      root first (a cold path). If a CAS finds the descriptor changed since
 *      it was read, the whole translation is walked again (the new value may
 *      mean another result); an A bit already set by an earlier CAS of the
 *      same attempt stays set, as it may on hardware.
 *
 * A/D updates are thus made only by translations that succeed (KVM's
 * paging_tmpl.h does the same; the manuals allow it: x86 SDM Vol. 3A 4.8
 * sets A/D "as part of" a translation, Arm ARM D8.4 and the RISC-V
 * privileged spec forbid updates for accesses that fault). A family that
 * must fault instead of updating (RISC-V Svade, AArch64 without HA/HD)
 * returns the fault from step() and never asks for d_new.
 *
 * mem_refs counts descriptor fetches: one per level of every walk, stage-2
 * walks of a nested translation included (x86-64 4-level over 4-level EPT:
 * 4 x (4 + 1) + 4 = 24). A/D write-backs, and the stage-2 write checks that
 * authorise them, are not counted (x->ad_updated says they happened). A
 * re-walk after a failed CAS counts again.
 *
 * ---- Nested (two-stage) walks ----
 *
 * physim_nested_translate walks stage 1 with origin WALK_NESTED_S1; each
 * stage-1 table address is a GPA, translated by stage 2 as an implicit
 * access with origin WALK_NESTED_TABLE, write = false, exec = false and
 * user = the original access's user bit (the stage-2 family decides what an
 * implicit access means: x86 EPT a data read, SDM Vol. 3C 29.3.3.2; AArch64
 * an S1PTW read; RISC-V a load, checked as U-mode). If the stage-1 walk
 * succeeds and must update A/D in a stage-1 entry, that entry's GPA is
 * translated by stage 2 again with write = true (EPT: a data write; RISC-V:
 * a store; AArch64: S1PTW write) before the write-back; a fault there is a
 * stage-2 fault with s1ptw set. Finally the output GPA is translated by
 * stage 2 with origin WALK_NESTED_FINAL and the original access type.
 * The table entries' stage-2 walks are made inline where the family gives
 * walk_stage_rest a struct walk_s2_inline for the stage-2 mmu's ops and
 * level count (walk-loop.h), else by a call to the stage-2 ops' walk_gpa
 * (or, traced or without the 4 KiB geometry, ops->walk); the result is the
 * same every way (tests/test_walk_nested.c).
 * Stage-2 faults report stage = 2, addr = gpa = the faulting GPA, and s1ptw
 * for WALK_NESTED_TABLE. A stage-1 table whose GPA stage 2 maps outside
 * host memory is a stage-1 BUS_ERROR at the stage-1 level (gpa = the
 * table's GPA, s1ptw clear).
 */
#ifndef PHYSIM_WALK_FORMAT_H
#define PHYSIM_WALK_FORMAT_H

#include <physim/walk.h>
#include "pt-format.h"

/* Why a walk runs: lets stage-2 rules tell a guest's table fetch from its
 * data access (EPT exit qualification bits 7/8, AArch64 S1PTW, RISC-V
 * implicit G-stage accesses). */
enum walk_origin {
	WALK_DIRECT = 0,   /* physim_mmu_translate / probe: one stage on its own */
	WALK_NESTED_S1,	   /* stage 1 of a nested walk (its tables are GPAs) */
	WALK_NESTED_TABLE, /* stage 2 translating the GPA of a stage-1 table entry */
	WALK_NESTED_FINAL, /* stage 2 translating the output GPA of stage 1 */
};

/* One walk in progress. The loop fills the first block before begin(); the
 * family owns the rest. */
struct walk_state {
	const struct physim_mmu *mmu; /* this stage's mmu (rsv_table, param) */
	const struct physim_pt_format *fmt;
	const struct physim_mmu_ctl *ctl; /* control state of this stage's mmu */
	uint64_t va;			  /* input address (VA, or GPA at stage 2) */
	bool write;
	bool exec;
	bool user;
	/* physim_access.implicit: an implicit supervisor-mode access (x86 SDM
	 * Vol. 3A 4.6: accesses to system data structures; SMAP applies
	 * regardless of RFLAGS.AC). Families without the notion ignore it. */
	bool implicit;
	bool probe; /* no write-back will happen (step() still reports d_new) */
	enum walk_origin origin;
	/* WALK_NESTED_FINAL: effective perms of the stage-1 translation (e.g. its
	 * PHYSIM_U says whether the guest linear address is a user-mode address,
	 * which selects the EPT execute bit under mode-based execute control).
	 * Other origins: 0. */
	uint32_t s1_perms;
	/* WALK_NESTED_TABLE: the stage-1 access this table fetch serves, when
	 * both stages are of one architecture (RISC-V reports a G-stage fault
	 * on a VS table access with the original access type, [H-GPA]);
	 * otherwise NULL. */
	const struct physim_access *orig;

	/* Set by begin(): the upper-half root (config.root_hi) was taken. */
	bool upper;
	/* Family scratch, initialised by begin(), updated by step(), read by
	 * fault(): e.g. x86 ANDs R/W and U/S into acc_and and ORs XD into
	 * acc_or (Xen's ar_and / ar_or); EPT ANDs R/W/X for the exit
	 * qualification; `detail` carries syndrome extras (x86 PK bit). */
	uint64_t acc_and;
	uint64_t acc_or;
	uint64_t detail;
};

/* What step() says about one descriptor that does not fault. */
struct walk_step {
	/* Table: address of the next-level table. Leaf: base address of the
	 * page (aligned to page_size). */
	uint64_t next;
	/* The descriptor as the hardware leaves it if the translation succeeds
	 * (x86 A on every entry used, D on a written leaf; EPT A/D with ept_ad;
	 * AArch64 AF/DBM with HA/HD; RISC-V Svadu). Equal to d: no update.
	 * Must differ from d only in A/D-type bits. */
	uint64_t d_new;
	bool leaf;
	/* Leaf only: */
	uint64_t page_size; /* 0 = the level's size (pt_level_page_size) */
	uint32_t perms;	    /* effective PHYSIM_R/W/X/U across all levels */
	bool global;	    /* not tagged by ASID/PCID */
};

struct physim_mmu;
struct walk_req; /* lib/walk-loop.h */
struct walk_gpa_out;
struct walk_lookup;
struct walk_slot;

struct pt_walk_ops {
	/*
	 * Architecture level number of engine level n:
	 *     arch level = level_base + level_dir * n
	 * x86: 1 + n (PT = 1 .. PML5 = 5); AArch64: 3 - n (lookup level);
	 * ARMv7 short-descriptor: 2 - n; RISC-V: 0 + n (i); LoongArch: document.
	 */
	int8_t level_base;
	int8_t level_dir;

	/*
	 * Optional: derive what the walk needs from the control state once per
	 * mmu (physim_mmu_create / set_config), not once per step: the
	 * reserved-bit and output-address masks per level (m->rsv, m->oa,
	 * from the family's codec), family constants in m->param. Left 0 when
	 * NULL.
	 */
	void (*configure)(struct physim_mmu *m);

	/*
	 * Walk one stage: the family's instantiation of walk_stage_loop()
	 * (lib/walk-loop.h) with its begin / step inlined. 0 or -EFAULT with *x
	 * complete (mem_refs and ad_updated included), or another error
	 * (-EBUSY after too many lost A/D races, or one from a nested stage-2
	 * walk).
	 */
	int (*walk)(const struct walk_req *r, struct physim_xlate *x);

	/*
	 * Optional, stage-2 families: the walk of one stage-1 table entry's
	 * GPA in a nested walk whose stage 1 does not walk this stage 2 inline
	 * (WALK_GPA_FN, lib/walk-loop.h): the GPA in and the HPA out in
	 * registers. One per level count, as lookup[].
	 */
	uint64_t (*walk_gpa[PHYSIM_PT_MAX_LEVELS + 1])(const struct walk_req *r2, uint64_t gpa,
						       struct walk_gpa_out *o);

	/*
	 * Build the fault the hardware reports: f->kind = kind, f->level (the
	 * architecture's numbering of engine level `level`; level is -1 when
	 * none applies) and f->syndrome (x86 #PF error code, EPT exit
	 * qualification, AArch64 FSC, RISC-V scause, LoongArch ecode - see
	 * walk.h). Called for faults from step(), for BUS_ERROR from the loop
	 * (a table fetch that does not resolve: level = the level of the table
	 * being read) and for RESERVED from the loop (see c. above). Cold path.
	 */
	void (*fault)(const struct walk_state *w, enum physim_fault_kind kind, int level,
		      struct physim_fault *f);

	/*
	 * Optional: the engine's lookup of one address (physim_pt_query and
	 * the single-page calls): the family's instantiation of the same loop
	 * in lookup mode (walk_lookup_loop, lib/walk-loop.h), whose step()
	 * classifies by the format's codec alone: no control state, no
	 * permission check, no A/D. 0 with the leaf's slot in *slot and its
	 * mapping in *m (each unless NULL); -ENOENT (an invalid descriptor on
	 * the way), -EFAULT (a reserved one, a table pointer at the last level
	 * or a table outside memory). One per level count (indexed by the
	 * format's `levels`), so that the count is a constant in each and no
	 * call dispatches on it; NULL: the engine instantiates the loop with
	 * the format's ops (pt-lookup.c).
	 */
	int (*lookup[PHYSIM_PT_MAX_LEVELS + 1])(const struct walk_lookup *lk, uint64_t va,
						struct walk_slot *slot,
						struct physim_pt_mapping *m);
};

/* Architecture level of engine level n (see pt_walk_ops.level_base). */
static inline int walk_arch_level(const struct pt_walk_ops *ops, unsigned n)
{
	return ops->level_base + ops->level_dir * (int)n;
}

/* The 4 KiB geometry (physim_mmu.geo_4k): below the root, engine level n
 * indexes bits 12 + b*n and up of the input address, b = 9 for 8-byte and
 * 10 for 4-byte descriptors; as a byte offset, (va >> shift) & mask. */
static inline unsigned walk_geo_4k_shift(unsigned n, unsigned bytes)
{
	const unsigned log2_bytes = bytes == 8 ? 3 : 2;
	return PHYSIM_FRAME_SHIFT + (PHYSIM_FRAME_SHIFT - log2_bytes) * n - log2_bytes;
}

static inline uint64_t walk_geo_4k_mask(unsigned bytes)
{
	return PHYSIM_FRAME_SIZE - bytes;
}

/* The usual input-address rule: bits at and above va_bits must copy bit
 * va_bits-1 (sign_extended formats: canonical addresses) or be zero. */
static inline bool walk_input_ok(const struct physim_pt_format *f, uint64_t va)
{
	if (f->va_bits >= 64)
		return true;
	uint64_t upper = va >> (f->va_bits - 1); /* bit va_bits-1 and above */
	if (!f->sign_extended)
		return (upper >> 1) == 0;
	return upper == 0 || upper == (~UINT64_C(0) >> (f->va_bits - 1));
}

/* Fill kind, level and syndrome of a fault (the loop sets the rest). */
static inline void walk_fault_set(struct physim_fault *f, enum physim_fault_kind kind, int level,
				  uint64_t syndrome)
{
	f->kind = kind;
	f->level = level;
	f->syndrome = syndrome;
}

/* An MMU context (walk.h): shared by the walk (lib/walk.c, lib/walk-loop.h)
 * and the TLB (lib/tlb.c), whose hit path reads the tag and the memory
 * without a call. Everything below cfg is derived from it by
 * mmu_configure (walk.c). */
struct physim_mmu {
	struct physim_mmu_config cfg;
	const struct pt_walk_ops *ops;
	uint32_t tlb_id; /* cfg.vmid << 16 | cfg.asid: the TLB's tag */
	uint64_t ctl_fp; /* access_ctl_fingerprint(&cfg.ctl) (lib/access-class.h) */
	/* Byte offset of va's descriptor in its table at engine level n:
	 * (va >> idx_shift[n]) & idx_mask[n]. */
	uint8_t idx_shift[PHYSIM_PT_MAX_LEVELS];
	uint64_t idx_mask[PHYSIM_PT_MAX_LEVELS];
	/* Set by ops->configure from the family's codec, for a descriptor at
	 * engine level n that points to a table ([n][0]) or maps a page
	 * ([n][1]): the bits that make it reserved, those of the format and
	 * those the control state adds (x86 51:MAXPHYADDR, XD with NXE = 0;
	 * EPT 51:N), and its output-address field. */
	uint64_t rsv[PHYSIM_PT_MAX_LEVELS][2];
	uint64_t oa[PHYSIM_PT_MAX_LEVELS][2];
	/* Family constants derived from the control state by ops->configure
	 * (e.g. AArch64's output-address mask for the configured IPS / DS). */
	uint64_t param[2];
	/* The loop's fast path for a table pointer that changes nothing but
	 * the table address (no permission it takes away, no A/D to set, no
	 * reserved or ignored bit set): at engine level n, a descriptor d with
	 * (d & tw_mask[n]) == tw_val[n] is one, and the next table is
	 * (d & oa[n][0]) << tw_shift. Set by ops->configure (walk_table_fast);
	 * mmu_configure leaves every level never matching (mask 0, value 1),
	 * and level 0 must stay so (a table pointer there is reserved). */
	uint64_t tw_mask[PHYSIM_PT_MAX_LEVELS];
	uint64_t tw_val[PHYSIM_PT_MAX_LEVELS];
	unsigned tw_shift;
	/* For the result of a leaf at engine level n: its page size
	 * (pt_level_page_size) and architecture level (walk_arch_level). */
	uint64_t leaf_size[PHYSIM_PT_MAX_LEVELS];
	int8_t arch_level[PHYSIM_PT_MAX_LEVELS];
	/* The mmu of the engine's lookups (struct walk_lookup): configure may
	 * let more table pointers take the fast path, those whose other bits
	 * only matter to an access (rights, A), which a lookup never checks. */
	bool lookup;
	/* The format's input range (pt_va_range; walk_va_ok). Set by
	 * mmu_configure. */
	struct pt_va_range in;
	/* Every level below the root indexes one 4 KiB table (9 bits of
	 * 8-byte or 10 bits of 4-byte descriptors), and so the root's index
	 * starts at a constant bit too: an instantiation with WALK_GEO_4K may
	 * then use constant index shifts, and masks below the root
	 * (walk_desc_off). Set by mmu_configure from the format. */
	bool geo_4k;
};

/* walk_input_ok for the format of mmu m, from its two constants: a test
 * and no branch on the format. */
static inline bool walk_va_ok(const struct physim_mmu *m, uint64_t va)
{
	return pt_va_in(&m->in, va);
}

/* What a lookup-mode walk needs besides the mmu, set up once per page table
 * (lib/pt-lookup.c, physim_pt_lookup_init): the engine's own rule for table
 * memory is "the whole table resolves", not "the descriptor does". */
struct walk_lookup {
	/* The format's geometry and the fast path for plain table pointers
	 * (tw_mask / tw_val), configured with a zero control state: a
	 * descriptor that takes it is a table pointer to the format's codec
	 * too, at the same address (tests/test_pt.c checks it). */
	struct physim_mmu m;
	uint8_t *root_hva;
	uint64_t dm_base;
	uintptr_t dm_host; /* direct map's host address of physical 0 */
	/* A table at engine level n at pa lies wholly in the direct map iff
	 * pa - dm_base < tlim[n] (0: never). */
	uint64_t tlim[PHYSIM_PT_MAX_LEVELS];
	/* dm_host - (m.tw_val[n] << m.tw_shift): with WALK_GEO_EXACT, the
	 * host address of the table a fast-path pointer d at engine level n
	 * names is tw_host[n] + (d << tw_shift). (Kept apart from tw_val so
	 * that the compiler does not rebuild it from d.) */
	uintptr_t tw_host[PHYSIM_PT_MAX_LEVELS];
	const struct physim_pt *pt; /* for tables outside the direct map */
	/* The engine's memo of decoded leaves (lib/pt-memo.h), or NULL: a
	 * descriptor it remembers is a leaf without step() or decode. */
	struct query_memo *memo;
};

/* Where the leaf a lookup found lives (for the single-page calls). */
struct walk_slot {
	uint8_t *t;	/* host address of the table holding it */
	uint64_t off;	/* its byte offset in t */
	unsigned level; /* engine level */
	uint64_t d;	/* the descriptor as read */
};

/* For ops->configure: at engine level n >= 1, the descriptors equal to
 * `canonical` in every bit outside the table address field oa[n][0] and
 * `ignored` (bits step() does not look at in a table pointer), and with no
 * bit of `extra` set (bits of the address field that fault, e.g. above the
 * configured output size), take the fast path. The family guarantees that
 * step() would find such a descriptor a table pointer that leaves the walk
 * state as it was and asks for no update. */
static inline void walk_table_fast(struct physim_mmu *m, unsigned n, uint64_t canonical,
				   uint64_t extra, uint64_t ignored)
{
	if (n == 0)
		return;
	m->tw_mask[n] = (~m->oa[n][0] & ~ignored) | extra;
	m->tw_val[n] = canonical & m->tw_mask[n];
}

/* The output-address mask of a table pointer (leaf = false) or a leaf at
 * engine level n (physim_mmu.oa). Both masks are loaded and one selected,
 * so that the load does not wait for the descriptor: the next table's
 * address is on the walk's chain of dependent loads. */
static inline uint64_t walk_oa_mask(const struct physim_mmu *m, unsigned level, bool leaf)
{
	uint64_t table = m->oa[level][0], page = m->oa[level][1];
	return leaf ? page : table;
}

/* The mmu of a lookup-mode walk (struct walk_lookup): format f over ph from
 * root, zero control state (lib/walk.c). */
PHYSIM_HIDDEN void physim_mmu_init_lookup(struct physim_mmu *m, const struct physim_pt_format *f,
					  const struct physim_paging_handler *ph, uint64_t root);
/* The mmu of physim_translate for a table of format f over ph at root: the
 * default (zero) control state, root also the upper-half root where the
 * input range is sign-extended (lib/walk.c). */
PHYSIM_HIDDEN void physim_mmu_init_default(struct physim_mmu *m, const struct physim_pt_format *f,
					   const struct physim_paging_handler *ph, uint64_t root);
/* That mmu, kept in the table (lib/pt-lookup.c). */
PHYSIM_HIDDEN const struct physim_mmu *physim_pt_default_mmu(const struct physim_pt *pt);

/* A side-effect-free nested translation (no A/D write-backs at either
 * stage), for the TLB's stale-entry check (lib/tlb.c). Same conventions as
 * physim_nested_translate. */
PHYSIM_HIDDEN int physim_nested_probe(const struct physim_mmu *s1, const struct physim_mmu *s2,
				      const struct physim_access *acc, struct physim_xlate *x);
/* physim_nested_translate that also gives, on success, the size of the
 * stage-2 leaf that maps the final GPA (x->page_size is the smaller of the
 * two stages'), for the TLB's fill (lib/tlb.c): no second stage-2 walk. */
PHYSIM_HIDDEN int physim_nested_translate_s2size(struct physim_mmu *s1, struct physim_mmu *s2,
						 const struct physim_access *acc,
						 struct physim_xlate *x, uint64_t *s2_size);

#endif
