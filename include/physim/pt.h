/* SPDX-License-Identifier: MIT */
/* physim/pt.h - multi-architecture page tables: table formats, and
 * map / unmap / protect / remap / query / iterate over a table whose memory
 * comes from a paging_handler (hal.h). One engine serves every format; the
 * formats are data plus a few small encode/decode functions (arch/). */
#ifndef PHYSIM_PT_H
#define PHYSIM_PT_H

#include <physim/hal.h>

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- formats ---- */

struct physim_pt_format; /* opaque, static: never freed */

enum physim_arch {
	PHYSIM_ARCH_X86_64 = 1,
	PHYSIM_ARCH_AARCH64 = 2,
	PHYSIM_ARCH_RISCV64 = 3,
	PHYSIM_ARCH_LOONGARCH64 = 4,
};

#define PHYSIM_PT_MAX_LEVELS 6

/* Geometry of a format, for display and for callers that size things. */
struct physim_pt_format_info {
	const char *name;	 /* e.g. "sv48x4" */
	const char *description; /* one line, e.g. "RISC-V Sv48x4 G-stage (hgatp)" */
	enum physim_arch arch;	 /* the family the format belongs to */
	bool stage2;		 /* translates guest-physical addresses */
	unsigned levels;	 /* number of table levels */
	unsigned pte_bytes;	 /* 4 or 8 */
	unsigned va_bits;	 /* input address width */
	unsigned pa_bits;	 /* output address width */
	bool sign_extended;	 /* input must be sign-extended from bit va_bits-1 */
	uint64_t root_bytes;	 /* size of the root table (concatenated roots included) */
	uint64_t root_align;	 /* required alignment of the root table */
	/* level[i] for i = 0 (last-level table) .. levels-1 (root): */
	struct {
		unsigned shift;	     /* lowest VA bit this level indexes */
		unsigned index_bits; /* entries = 1 << index_bits */
		uint64_t table_bytes;
		bool leaf_ok; /* a leaf (page/block) may sit at this level */
		/* Grouped leaves (see physim_pt_map): 1 << group_log2 aligned
		 * entries at this level form one page; 0: none here. */
		unsigned group_log2;
	} level[PHYSIM_PT_MAX_LEVELS];
	uint64_t page_sizes;	  /* bit n set: 2^n-byte pages can be mapped */
	uint32_t flags_supported; /* generic flags (PHYSIM_R...) the format expresses */
	uint64_t arch_attr_mask;  /* raw leaf bits accepted in physim_pt_mapping.arch */
	/* New leaves are written with the accessed bit / with the dirty bit (if
	 * writable) already set, because the hardware would fault instead of
	 * setting them (RISC-V Svade, AArch64 AF): their A/D then say nothing
	 * about use. */
	bool presets_accessed;
	bool presets_dirty;
	/* The part of arch_attr_mask that selects the memory type (see
	 * "Memory type" below). */
	uint64_t arch_memtype_mask;
	/* bit n set: 2^n-byte grouped leaves can be mapped (physim_pt_map takes
	 * these sizes too); not in page_sizes, which lists the levels' own. */
	uint64_t grouped_sizes;
};

/*
 * AArch64 translation regimes. A format fixes the descriptor encoding, so
 * each regime whose descriptors differ has formats of its own:
 * - EL1&0 stage 1: aarch64-4k-39, -4k-48, -16k-47, -64k-48 (TTBR0_EL1; the
 *   TTBR1 half is a second table, physim_mmu_config.root_hi).
 * - EL2 with HCR_EL2.E2H = 0: aarch64-el2-4k-39, -el2-4k-48, -el2-16k-47,
 *   -el2-64k-48, the same geometry under TCR_EL2. A regime of one Exception
 *   level (Arm ARM D8.4.1.2): leaves are written with AP[1] = 1 (RES1),
 *   AP[2] = read-only, XN in bit 54, PXN (bit 53) and nG clear; PHYSIM_U
 *   cannot be expressed (-ENOTSUP; there is no EL0) and nG is not accepted
 *   in `arch` (no ASIDs). Reading a leaf, AP[1], PXN and nG are ignored.
 * - EL2&0 with E2H = 1 (VHE): the EL1&0 formats. Its descriptors and
 *   permission rules are those of EL1&0 (D8.4.1.2 treats both as regimes of
 *   two Exception levels); only the registers differ (TTBR0_EL2/TTBR1_EL2,
 *   TCR_EL2 in the TCR_EL1 layout), which physim does not need to know.
 * Formats rather than a regime setting of the mmu, because the engine
 * (map/protect/query) encodes and decodes leaves without an mmu; walk.h says
 * how the walker applies each regime's rules.
 */

/* NULL if no format has that name (see physim_format_count/at for the list). */
PHYSIM_API const struct physim_pt_format *physim_format(const char *name);
PHYSIM_API size_t physim_format_count(void);
PHYSIM_API const struct physim_pt_format *physim_format_at(size_t index);
PHYSIM_API void physim_format_get_info(const struct physim_pt_format *fmt,
				       struct physim_pt_format_info *info);
PHYSIM_API const char *physim_format_name(const struct physim_pt_format *fmt);

/* 0 if some leaf level of the format can express flags + arch exactly,
 * -ENOTSUP if none can, -EINVAL for unknown flag bits. Lets a caller refuse
 * a mapping before anything is mapped (e.g. a lazily populated area). */
PHYSIM_API int physim_format_flags_ok(const struct physim_pt_format *fmt, uint32_t flags,
				      uint64_t arch);
/* The same for one table: under its configuration (physim_pt_config.mair),
 * which the format alone does not know. -EINVAL for a NULL pt. */
struct physim_pt;
PHYSIM_API int physim_pt_flags_ok(const struct physim_pt *pt, uint32_t flags, uint64_t arch);

/* ---- corrupt tables ----
 * Table memory may be damaged. A table remembers each table frame it
 * allocated and the descriptor that links it; the calls below that traverse
 * tables (every mutating call, physim_pt_walk, physim_pt_clear_ad, destroy)
 * follow a table pointer only if it is such a link or, in an attached
 * table, leads to a table it did not allocate and has not reached before in
 * the same call. Any other table pointer (at a caller's data frame, at the
 * root or another ancestor, a second pointer at one table, outside the
 * handler's memory) and any reserved descriptor on the way make the call
 * fail with -EFAULT, having changed nothing. Each table frame is visited at
 * most once per call, so the cost is linear in the table frames. query
 * follows one path (bounded by the level count) and is not checked. */

/* ---- mapping flags (page_table_multiarch MappingFlags) ----
 * Round trip is exact: query returns the flags map was given, for every
 * combination the format can express; a combination it cannot express is
 * refused with -ENOTSUP at map time (x86 cannot express "not readable",
 * RISC-V reserves W without R, DEVICE and UNCACHED exclude each other).
 * Stage-2 formats have no user/supervisor distinction: PHYSIM_U is accepted
 * and ignored there and never reported (RISC-V G-stage leaves always carry
 * U=1, as the privileged spec requires). The AArch64 EL2 formats
 * (aarch64-el2-*) have no EL0: PHYSIM_U is refused with -ENOTSUP there.
 *
 * Memory type: one channel per value. Each format's memory-type field
 * (physim_pt_format_info.arch_memtype_mask: x86 PAT/PCD/PWT, EPT bits 5:3,
 * AArch64 AttrIndx, stage-2 MemAttr, RISC-V PBMT, LoongArch MAT, ARMv7
 * TEX/C/B) is given either by the flags or by `arch`, never both:
 * - the values the flags name are given by the flags alone - no flag: the
 *   format's normal cacheable type (x86 PAT index 0 = WB with the power-on
 *   PAT, EPT WB, AArch64 the MAIR index of Normal WB, stage-2 MemAttr
 *   0b1111, RISC-V PBMT=PMA, LoongArch CC, ARMv7 Normal WB-WA);
 *   PHYSIM_DEVICE (x86 PCD|PWT = UC, EPT UC, AArch64 the MAIR index of
 *   Device-nGnRE, stage-2 Device-nGnRE, RISC-V IO, LoongArch SUC, ARMv7
 *   Shareable Device); PHYSIM_UNCACHED (x86 PCD = UC-, EPT WC, AArch64 the
 *   MAIR index of Normal NC, stage-2 Normal NC, RISC-V NC, LoongArch WUC,
 *   ARMv7 Normal NC);
 * - any other value the architecture defines is given raw in `arch`, with
 *   neither DEVICE nor UNCACHED (e.g. x86 PWT = WT, EPT WT/WP, another MAIR
 *   index, stage-2 Device-GRE, ARMv7 TEX=1xx);
 * - everything else is refused with -ENOTSUP, changing nothing: a raw
 *   value the flags name (x86 R|W with arch = PCD: say PHYSIM_UNCACHED), a
 *   raw value together with DEVICE or UNCACHED, a reserved value, DEVICE
 *   with UNCACHED. A field value of 0 in arch means "not given", so a
 *   value 0 that no flag names (stage-2 Device-nGnRnE, ARMv7
 *   strongly-ordered) cannot be written; a descriptor holding one (written
 *   by other code) reads back as PHYSIM_DEVICE.
 * map_ex, map*, flags_ok, protect, remap and query follow this one rule,
 * so every accepted (flags, arch) reads back exactly as given. protect and
 * remap take the memory type from their new flags if those name one, and
 * otherwise keep a raw memory type the page has. physim_pt_memattr (below)
 * and physim_xlate_memattr (walk.h) decode the effective memory type and
 * shareability, whatever channel gave it. */
enum physim_map_flags {
	PHYSIM_R = 1u << 0,
	PHYSIM_W = 1u << 1,
	PHYSIM_X = 1u << 2,
	PHYSIM_U = 1u << 3,	   /* user / EL0 / PLV3 accessible */
	PHYSIM_DEVICE = 1u << 4,   /* device memory (strongly ordered / UC) */
	PHYSIM_UNCACHED = 1u << 5, /* normal memory, uncached (UC- / NC) */
};

/* One leaf mapping: what map takes and what query returns. */
struct physim_pt_mapping {
	uint64_t va; /* query: start of the page containing the address */
	uint64_t pa;
	uint64_t size;	  /* page size in bytes */
	uint32_t flags;	  /* PHYSIM_R | ... */
	uint64_t arch;	  /* raw leaf bits within the format's arch_attr_mask
			     (x86 PAT/PCD/PWT/G/PK, EPT memtype/IPAT, AArch64
			     AttrIndx/SH/nG, stage-2 MemAttr, RISC-V PBMT/G,
			     LoongArch MAT/G), in the last-level leaf layout */
	unsigned level;	  /* query: 0 = last-level table, counting up to the root */
	bool accessed;	  /* query: accessed bit/flag set (where the format has one) */
	bool dirty;	  /* query: dirty (where the format has one) */
	uint64_t addr_pa; /* query: the physical address of the queried address
			     itself, pa + (address - va); ignored by map */
};

/* ---- tables ---- */

/*
 * Threads. A table is owned by one thread at a time, as a kernel's page
 * table is by whoever holds its lock (callers lock): a call that changes it
 * (map*, unmap*, protect*, remap, clear_ad, destroy) must not overlap any
 * other change or read of it by the engine. A structural change (map*,
 * unmap*, protect*, remap, destroy) must not overlap a translation through
 * it on another thread either (walk.h): stop those threads first. (The
 * simulated CPUs of cpu.h check the invalidation rules that make live
 * changes safe on hardware, but a walk here reads table memory directly,
 * so the engine itself cannot let a change overlap it.)
 *
 * While nobody changes it, a table may be read by many threads at once:
 * query, walk (iteration), root, format and table_frames, alongside one
 * another and alongside translations (walk.h), including those that set
 * accessed/dirty bits. The query memo these share is atomics (entries
 * written once, claimed by compare-and-swap), safe for concurrent readers. Descriptors are read and
 * written with (relaxed) atomic loads and stores, and clear_ad clears A/D by compare-and-swap, so
 * the owner may query, iterate and clear A/D - a dirty-log harvest, a working-set sweep - while
 * vCPU threads translate and set bits: a bit a walker sets meanwhile is never lost.
 *
 * Different tables are independent, even over one paging handler, if the
 * handler is thread-safe (the RAM's is: ram.h). The flush callback runs on
 * the thread that changes the table.
 */

struct physim_pt;

/* Change notification: called after every operation that changed or removed
 * a leaf, with the page-aligned VAs of the changed pages (up to 32), or with
 * all = true (n = 0) when more than 32 changed. Tables the operation
 * unlinked go back to the paging handler only after it returns (the
 * engine clears the pointer, calls it, then frees: break-before-free). */
typedef void (*physim_pt_flush_fn)(void *ctx, const uint64_t *vas, size_t n, bool all);

/* What a flush_ex callback is told besides the changed leaves. */
enum physim_pt_flush_flags {
	/* The operation unlinked one or more tables (emptied by an unmap,
	 * removed with a range, replaced by a leaf): cached non-leaf entries
	 * of the reported addresses must go too, which a last-level-only
	 * invalidation does not do (RISC-V SFENCE.VMA / HFENCE.GVMA with
	 * rs1 != x0, Arm TLBI VALE1 / IPAS2LE1); Linux's
	 * mmu_gather.freed_tables. */
	PHYSIM_PT_FLUSH_TABLES_FREED = 1u << 0,
};

/* physim_pt_flush_fn with flags (enum physim_pt_flush_flags). */
typedef void (*physim_pt_flush_ex_fn)(void *ctx, const uint64_t *vas, size_t n, bool all,
				      unsigned flags);

struct physim_pt_config {
	const struct physim_pt_format *format;
	const struct physim_paging_handler *paging;
	physim_pt_flush_fn flush; /* optional */
	void *flush_ctx;
	bool keep_empty_tables; /* default false: free tables that become empty */
	/* AArch64 stage 1 (VMSAv8-64 formats): the MAIR_ELx value the table's
	 * AttrIndx values index (Arm ARM D8.5, MAIR_ELx). 0 = physim's default,
	 * PHYSIM_MAIR_DEFAULT. The flags then pick the lowest index holding
	 * Normal WB inner and outer (no flag), Device-nGnRE (else any Device
	 * type: PHYSIM_DEVICE) and Normal NC inner and outer
	 * (PHYSIM_UNCACHED); a flag whose attribute the MAIR lacks is
	 * -ENOTSUP. Other formats: must be 0 (-EINVAL). */
	uint64_t mair;
	/* Optional: called instead of `flush` (with flush_ctx) when set, with
	 * the same leaves and the flags above. */
	physim_pt_flush_ex_fn flush_ex;
};

/* physim's default MAIR: Attr0 = 0xff Normal WB (read/write-allocate),
 * Attr1 = 0x04 Device-nGnRE, Attr2 = 0x44 Normal NC, Attr3..7 = 0x00
 * Device-nGnRnE. */
#define PHYSIM_MAIR_DEFAULT UINT64_C(0x4404ff)

PHYSIM_API int physim_pt_create(const struct physim_pt_format *fmt,
				const struct physim_paging_handler *paging, struct physim_pt **out);
PHYSIM_API int physim_pt_create_ex(const struct physim_pt_config *config, struct physim_pt **out);
/* A table that already exists in memory at `root` (e.g. loaded from a RAM
 * image, or built by other code): query, walk and change it like any other.
 * It owns no frame: destroy returns none (not even tables later created in
 * it; unmap_region first if they must go), and unmap_region frees only the
 * tables created through this handle, never one it found in memory (it
 * unlinks those). A table reached twice in one call (a cycle, a table
 * linked from two entries) is corruption: -EFAULT. -EINVAL if root is not
 * aligned as the format requires, -EFAULT if the handler cannot reach it. */
PHYSIM_API int physim_pt_attach(const struct physim_pt_config *config, physim_hpa_t root,
				struct physim_pt **out);
/* Returns every table frame to the paging handler (mapped leaf frames are the
 * caller's): exactly the frames the table allocated, each once, whatever
 * the table memory now says; corrupt table pointers are logged, and what
 * they point at is not freed. NULL is ignored. */
PHYSIM_API void physim_pt_destroy(struct physim_pt *pt);

PHYSIM_API physim_hpa_t physim_pt_root(const struct physim_pt *pt);
PHYSIM_API const struct physim_pt_format *physim_pt_format(const struct physim_pt *pt);
/* Number of table frames (4 KiB units) the table currently holds, root included
 * (for an attached table: those created through it; physim_pt_count_tables
 * counts what is reachable). */
PHYSIM_API uint64_t physim_pt_table_frames(const struct physim_pt *pt);

/* The tables reachable from the root, found by reading table memory. */
struct physim_pt_table_count {
	uint64_t tables; /* root included (a concatenated root counts once) */
	uint64_t frames; /* distinct 4 KiB frames they occupy */
	uint64_t bytes;	 /* the tables' own sizes, summed */
};
/* Count the tables reachable from the root over the whole input range (both
 * halves), for an attached table as for an owned one; for an owned table
 * `frames` equals physim_pt_table_frames. Bounded and safe on corrupt
 * memory: each table is met at most once and table pointers are checked as
 * in iteration (see "corrupt tables" above). 0 and *out filled; -EINVAL for
 * a NULL argument; -EFAULT for a corrupt table (*out untouched); -ENOMEM. */
PHYSIM_API int physim_pt_count_tables(const struct physim_pt *pt,
				      struct physim_pt_table_count *out);

/* Options for region operations. */
enum physim_map_opts {
	PHYSIM_ALLOW_HUGE = 1u << 0, /* use the largest page sizes alignment allows */
	PHYSIM_REPLACE = 1u << 1,    /* replace existing mappings in the range */
};

/* Map one page. -EINVAL: misaligned va/pa, page size not supported, address
 * outside the format's range; -ENOTSUP: flags or arch bits the format cannot
 * express; -EEXIST: something is mapped there; -ENOMEM: no table frame;
 * -ERANGE: the paging handler gave a table frame the format's table
 * pointers cannot address (ARMv7 short-descriptor and i386 tables must lie
 * below 4 GiB, and an i386 PAE root, CR3 being 32 bits; the frame is
 * returned and nothing changes; physim_pt_create fails the same way for the
 * root). Every call that may create tables
 * (map, map_region, protect or unmap splitting a large page) can return it.
 *
 * Grouped leaves: page_size may also be one of the format's grouped sizes
 * (physim_pt_format_info.grouped_sizes): a run of 1 << group_log2 aligned
 * entries of one level that together map one page, as the architectures
 * define them - the AArch64 Contiguous bit (4K granule: 64K, 32M, 16G; 16K:
 * 2M, 1G; 64K: 2M, 16G; both stages), RISC-V Svnapot (64K, Sv39/48/57 and
 * x4), ARMv7 large pages (64K) and supersections (16M, the only leaves whose
 * output may lie above 4 GiB, up to 40 bits). The whole run is written, va
 * and pa aligned to its size. map_region with PHYSIM_ALLOW_HUGE uses them
 * too wherever whole aligned runs fit. A grouped leaf is one leaf to
 * everything else: query reports its size and start, iteration and dump
 * report it once, unmap / protect of an address in it take the whole run,
 * remap rewrites the run, the walker reports its size as page_size and a TLB
 * caches it as one entry. Region calls that cover a run only in part first
 * rewrite the whole run as separate leaves (same addresses and attributes;
 * reported to the flush callback at the run's start), then change the part
 * they cover; where a separate leaf cannot hold the address (an ARMv7
 * supersection above 4 GiB) that is -EINVAL and nothing changes. */
PHYSIM_API int physim_pt_map(struct physim_pt *pt, uint64_t va, uint64_t pa, uint64_t page_size,
			     uint32_t flags);
/* Map one page with raw arch attributes (m->va, pa, size, flags, arch). */
PHYSIM_API int physim_pt_map_ex(struct physim_pt *pt, const struct physim_pt_mapping *m,
				unsigned opts);

/* Map [va, va + size) to [pa, pa + size), with the largest page sizes that
 * alignment and size allow when PHYSIM_ALLOW_HUGE is given (else 4 KiB / the
 * granule). All or nothing. */
PHYSIM_API int physim_pt_map_region(struct physim_pt *pt, uint64_t va, uint64_t pa, uint64_t size,
				    uint32_t flags, unsigned opts);

/* As map_region with pages taken one by one from a callback: it returns 0 and
 * the pa of the granule-sized page at va, or a negative errno that aborts the
 * call (everything is rolled back). Only granule-sized pages are used. */
typedef int (*physim_pt_pa_fn)(void *ctx, uint64_t va, uint64_t *pa);
PHYSIM_API int physim_pt_map_region_cb(struct physim_pt *pt, uint64_t va, uint64_t size,
				       uint32_t flags, unsigned opts, physim_pt_pa_fn pa_of,
				       void *ctx);

/* Unmap the whole page containing va; *old (may be NULL) receives it.
 * -ENOENT if nothing is mapped there. */
PHYSIM_API int physim_pt_unmap(struct physim_pt *pt, uint64_t va, struct physim_pt_mapping *old);
/* Unmap everything in [va, va + size) (holes are fine); huge pages that are
 * only partly covered are split first. -ENOMEM (nothing changed) if a split
 * needs a table frame and none is available. */
PHYSIM_API int physim_pt_unmap_region(struct physim_pt *pt, uint64_t va, uint64_t size);

/* Change the flags of the page containing va / of every page in the range
 * (holes are skipped; partly covered huge pages are split). */
PHYSIM_API int physim_pt_protect(struct physim_pt *pt, uint64_t va, uint32_t flags);
PHYSIM_API int physim_pt_protect_region(struct physim_pt *pt, uint64_t va, uint64_t size,
					uint32_t flags);

/* Point the existing page containing va (which must be its start) at a new
 * pa with new flags; the page size stays. -ENOENT if unmapped. */
PHYSIM_API int physim_pt_remap(struct physim_pt *pt, uint64_t va, uint64_t pa, uint32_t flags);

/* Clear the accessed and/or dirty bits of every leaf in [va, va + size)
 * (dirty-page harvesting; accessed-bit aging); va = size = 0 means the whole
 * input range, as for physim_pt_walk. The changed pages go to the flush
 * callback. Returns the number of leaves changed. */
PHYSIM_API int64_t physim_pt_clear_ad(struct physim_pt *pt, uint64_t va, uint64_t size,
				      bool accessed, bool dirty);

/* -ENOENT if va is not mapped; -EINVAL if outside the format's range;
 * -EFAULT if a table pointer leads outside the handler's memory or a
 * descriptor on the path is reserved. (Follows pointers without the link
 * checks above: fast, and bounded by the level count.) */
PHYSIM_API int physim_pt_query(const struct physim_pt *pt, uint64_t va,
			       struct physim_pt_mapping *out);

/* ---- memory attributes ----
 * The effective memory type and shareability of a mapping, decoded from
 * the leaf (and the configuration its field indexes) as the manuals define
 * them; the same decoding serves the walker (walk.h, physim_xlate_memattr).
 */
enum physim_memtype {
	PHYSIM_MEM_UNKNOWN = 0, /* reserved / UNPREDICTABLE encoding, or not known */
	/* Arm Normal memory (VMSAv8-64 MAIR / stage-2 MemAttr, ARMv7 TEX/C/B),
	 * one cacheability each for inner and outer (physim_memattr): */
	PHYSIM_MEM_NORMAL_WB,
	PHYSIM_MEM_NORMAL_WT,
	PHYSIM_MEM_NORMAL_NC, /* also RISC-V Svpbmt NC */
	/* Arm Device memory (ARMv7 strongly-ordered is nGnRnE, Device nGnRE) */
	PHYSIM_MEM_DEVICE_nGnRnE,
	PHYSIM_MEM_DEVICE_nGnRE,
	PHYSIM_MEM_DEVICE_nGRE,
	PHYSIM_MEM_DEVICE_GRE,
	/* x86 memory types (PAT entry, EPT memory type; SDM Vol. 3A "Memory
	 * Types That Can Be Encoded With PAT") */
	PHYSIM_MEM_UC,
	PHYSIM_MEM_UC_MINUS,
	PHYSIM_MEM_WC,
	PHYSIM_MEM_WT,
	PHYSIM_MEM_WP,
	PHYSIM_MEM_WB,
	/* RISC-V Svpbmt: PBMT = PMA (the physical memory attributes decide;
	 * physim's RAM is main memory) and IO */
	PHYSIM_MEM_PMA,
	PHYSIM_MEM_IO,
	/* LoongArch MAT: strongly-ordered uncached, coherent cached,
	 * weakly-ordered uncached */
	PHYSIM_MEM_SUC,
	PHYSIM_MEM_CC,
	PHYSIM_MEM_WUC,
};

enum physim_shareability {
	PHYSIM_SH_UNKNOWN = 0, /* reserved encoding (AArch64 SH = 0b01), or not known */
	PHYSIM_SH_NONE,	       /* non-shareable */
	PHYSIM_SH_INNER,
	PHYSIM_SH_OUTER,
	/* The architecture has no shareability attribute: memory is coherent
	 * for every agent (x86, RISC-V, LoongArch). */
	PHYSIM_SH_SYSTEM,
};

struct physim_memattr {
	/* The type; for Arm Normal memory the inner cacheability. */
	enum physim_memtype type;
	/* Arm Normal memory: the outer cacheability; otherwise equal to type. */
	enum physim_memtype outer;
	/* As it takes effect: Arm Device and Normal inner and outer NC memory
	 * are outer shareable whatever SH says (Arm ARM D8.5 / B2.7). */
	enum physim_shareability sh;
	/* The shareability field as written: AArch64 SH, ARMv7 S (a Normal
	 * page's S = 1 is reported as OUTER); SYSTEM where there is none. */
	enum physim_shareability sh_field;
	/* EPT leaf: IPAT, ignore the guest's PAT (SDM Vol. 3C 29.3.7). */
	bool ignore_pat;
};

/* The memory attributes of the page containing va, decoded from its leaf:
 * x86 through the power-on IA32_PAT (no MTRRs are modelled: the page-level
 * type), EPT its memory type (IPAT does not matter for one stage), AArch64
 * stage 1 through the table's MAIR (physim_pt_config.mair) and SH, stage 2
 * MemAttr and SH, RISC-V PBMT, LoongArch MAT, ARMv7 TEX/C/B and S. Same
 * errors as physim_pt_query. */
PHYSIM_API int physim_pt_memattr(const struct physim_pt *pt, uint64_t va,
				 struct physim_memattr *out);
/* "normal-wb", "device-ngnre", "uc-", ... ; "none", "inner", ... */
PHYSIM_API const char *physim_memtype_name(enum physim_memtype t);
PHYSIM_API const char *physim_shareability_name(enum physim_shareability s);

/* ---- iteration (after Linux mm/pagewalk.c) ----
 * Visits [va, va + size) in address order; va = size = 0 means the whole
 * input range (both halves of a sign-extended format, lower half first; the
 * non-canonical gap between them is no hole). Each callback returns 0 to go on,
 * or any other value, which stops the walk and is returned. A corrupt table
 * pointer (see above) stops it with -EFAULT, after the callbacks for what
 * came before it; each table is visited at most once. -ENOMEM if an
 * attached table's visited set cannot grow. */
struct physim_pt_walk_ops {
	/* A leaf; m->va/size are the whole page, even if it starts before va. */
	int (*leaf)(void *ctx, const struct physim_pt_mapping *m);
	/* An unmapped gap [va, va + size) at table level `level`. */
	int (*hole)(void *ctx, uint64_t va, uint64_t size, unsigned level);
	/* A table frame at `level` covering [va, va + span), before its entries. */
	int (*table)(void *ctx, uint64_t va, uint64_t span, unsigned level, physim_hpa_t table_pa);
};
PHYSIM_API int physim_pt_walk(const struct physim_pt *pt, uint64_t va, uint64_t size,
			      const struct physim_pt_walk_ops *ops, void *ctx);

/* ---- dump ----
 * What `physim-pt dump` prints, from a live table into any stdio stream, so
 * a test can print the table it just built. Zero-initialised options (or
 * NULL) mean: the whole input range (both halves of a sign-extended
 * format), ptdump text, contiguous leaves merged into ranges. */
enum physim_pt_dump_style {
	/* "# <format> table at 0x<root> (<description>)", a column line, one
	 * line per range "0x<va>-0x<end> <size>  <rwxudc>  -> 0x<pa>  <n> x
	 * <page size>" (then "  A", "  D", "  AD" and "  arch=0x<bits>" where
	 * set; addresses 16 hex digits, 8 for formats of 32 bits or less), and
	 * "# <n> ranges, <n> pages, <size> mapped, <n> tables". */
	PHYSIM_PT_DUMP_TEXT = 0,
	/* One JSON object per range ({"va","end","size","flags","pa","pages",
	 * "page_size","accessed","dirty","arch"}), then {"total":true,"format",
	 * "root","ranges","pages","bytes","tables"}. */
	PHYSIM_PT_DUMP_JSON = 1,
	/* A Graphviz digraph: one node per table frame, edges labelled with the
	 * parent's index, and a note per table summing its leaves by size and
	 * flags. */
	PHYSIM_PT_DUMP_DOT = 2,
};

struct physim_pt_dump_options {
	uint64_t va, size; /* the range to dump; size 0: the whole input range */
	enum physim_pt_dump_style style;
	/* Text and JSON: one line per leaf instead of merging runs of leaves
	 * that continue one another (same page size, flags, arch bits, A/D,
	 * consecutive VAs and PAs). */
	bool each_leaf;
};

/* Print the table to `out` (not closed; flushed). 0 on success; -EINVAL for
 * a NULL pt or out, an unknown style, or a range outside the format's;
 * -EFAULT if the table is corrupt (see "corrupt tables" above: the walk
 * stops at the bad entry, each table frame being visited at most once, so
 * a cycle ends it at once); -ENOMEM if memory for the dot tree runs out;
 * -EIO if writing to `out` failed (ferror). On -EFAULT the text and JSON
 * output holds the ranges before the bad entry and no totals line; the dot
 * output is written only after a whole walk, so it is then empty. */
PHYSIM_API int physim_pt_dump(const struct physim_pt *pt, FILE *out,
			      const struct physim_pt_dump_options *opt);

#ifdef __cplusplus
}
#endif
#endif
