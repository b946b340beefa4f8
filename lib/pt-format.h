/* SPDX-License-Identifier: MIT */
/* lib/pt-format.h - what a page-table format is, inside physim: geometry as
 * data plus a few small functions (classify, address, encode/decode of one
 * descriptor). Formats are defined in arch/<family>/ and listed in
 * lib/formats.c; the engine (lib/pt.c) and the walker use only this. */
#ifndef PHYSIM_PT_FORMAT_H
#define PHYSIM_PT_FORMAT_H

#include <physim/pt.h>
#include "physim-priv.h"

/* What one descriptor is, at a given level. */
enum pt_kind {
	PT_INVALID = 0, /* not valid / not present: a hole */
	PT_TABLE,	/* points to a next-level table */
	PT_LEAF,	/* maps a page or block */
	PT_RESERVED,	/* valid bit set but an encoding the architecture reserves */
};

/* Leaf attributes in generic form; encode_leaf(decode_leaf(d)) == d for every
 * descriptor the engine writes. */
struct pt_leaf_attr {
	uint32_t flags; /* PHYSIM_R ... */
	uint64_t arch;	/* raw bits within the format's arch_attr_mask (last-level layout) */
	bool accessed;
	bool dirty;
	/* One entry of a grouped leaf (a run of 1 << group_log2 entries at this
	 * level that together map one larger page: the AArch64 Contiguous bit,
	 * a RISC-V Svnapot PTE, an ARMv7 large page or supersection). Only set
	 * where the level's group_log2 is non-zero (physim_pt_format). */
	bool grouped;
};

struct physim_pt_format;
struct pt_walk_ops; /* lib/walk-format.h */

/* The registers the memory type of a leaf is looked up in (0 = the
 * default: PHYSIM_MAIR_DEFAULT, the power-on IA32_PAT). */
struct pt_mem_ctl {
	uint64_t mair; /* AArch64 MAIR_ELx */
	uint64_t pat;  /* x86 IA32_PAT */
};

/*
 * The memory-type rule (pt.h, "memory type"), one implementation for every
 * codec. A format's memory-type field (x86 PAT:PCD:PWT, EPT bits 5:3,
 * AArch64 AttrIndx or stage-2 MemAttr, RISC-V PBMT, LoongArch MAT, ARMv7
 * TEX:C:B) is named once: by the generic flags for the values they name
 * (`normal` for neither flag, `device`, `uncached`), or by the raw field in
 * `arch` for any other value, with no memory-type flag. A raw value that a
 * flag names (or the default's) is refused, so query reports every
 * accepted (flags, arch) pair as it was given. Values are the field as the
 * codec extracts it (shifted or masked in place; 0 is 0); PT_MT_NONE: the format cannot express
 * that flag (e.g. a MAIR without a Device attribute).
 */
#define PT_MT_NONE UINT64_MAX

struct pt_memtypes {
	uint64_t normal, device, uncached;
	/* Flags reported for field value 0 when no flag names it (0 in arch
	 * means "not given", so such a value cannot be asked for; it only
	 * appears in descriptors physim did not write): the nearest flag. */
	uint32_t zero_flags;
};

/* The field value for flags + the raw field from arch (0: not given), or
 * -ENOTSUP. The caller still refuses values its architecture reserves. */
static inline int pt_memtype_pick(uint32_t flags, uint64_t arch_field, const struct pt_memtypes *c,
				  uint64_t *field)
{
	bool dev = flags & PHYSIM_DEVICE, unc = flags & PHYSIM_UNCACHED;
	if (dev && unc)
		return -ENOTSUP;
	if (arch_field != 0) {
		if (dev || unc || arch_field == c->normal || arch_field == c->device ||
		    arch_field == c->uncached)
			return -ENOTSUP;
		*field = arch_field;
		return 0;
	}
	uint64_t v = dev ? c->device : unc ? c->uncached : c->normal;
	if (v == PT_MT_NONE)
		return -ENOTSUP;
	*field = v;
	return 0;
}

/* decode_leaf's side: the flag that names the field value (arch field 0),
 * or no flag and the value itself in *arch_field. */
static inline uint32_t pt_memtype_flags(uint64_t field, const struct pt_memtypes *c,
					uint64_t *arch_field)
{
	*arch_field = 0;
	if (field == c->device)
		return PHYSIM_DEVICE;
	if (field == c->uncached)
		return PHYSIM_UNCACHED;
	if (field == c->normal)
		return 0;
	if (field == 0)
		return c->zero_flags;
	*arch_field = field;
	return 0;
}

/* The engine (lib/pt.c) relies on these functions being pure functions of
 * (format, descriptor, level), and remembers their results by descriptor
 * value (its query memo). Where encode_leaf / encode_table place the output
 * address as one shifted bit field, it also assumes that a descriptor's kind
 * and decoded attributes do not depend on the bits of that field and that
 * output_addr reads the field back (true of every format here). A field in
 * parts (PSE-36, FEAT_LPA2) is detected: there only the attributes are
 * remembered, by the bits outside every part, and the address comes from
 * output_addr (lib/pt-memo.h). test_pt's test_query_memo checks this for
 * every format on damaged tables. Grouped
 * leaves are never memoised: their marking (AArch64 bit 52, Svnapot N, the
 * ARMv7 large-page type and supersection bit) lies outside the address
 * field, so no plain leaf's memo entry can answer for them, and the Svnapot
 * rule that N = 1 needs ppn[3:0] = 0b1000 stays with classify. */
struct pt_format_ops {
	/* Kind of descriptor d found at `level` (0 = last level). */
	enum pt_kind (*classify)(const struct physim_pt_format *f, uint64_t d, unsigned level);
	/* Output address of a PT_TABLE (the next table) or PT_LEAF (the page). */
	uint64_t (*output_addr)(const struct physim_pt_format *f, uint64_t d, unsigned level);
	/* Descriptor pointing at a next-level table at table_pa (table at `level`
	 * holds the pointer). Non-leaf permissions are the most permissive, so the
	 * leaf alone decides access. */
	uint64_t (*encode_table)(const struct physim_pt_format *f, uint64_t table_pa,
				 unsigned level);
	/* Leaf descriptor at `level` for page pa. -ENOTSUP if the format cannot
	 * express a->flags / a->arch exactly. pa is aligned to the level's size.
	 * With a->grouped, pa is the entry's own part of the grouped page (the
	 * engine writes entry i of a run with run_pa + i * level size); a format
	 * whose run entries are identical ignores the low bits.
	 * output_addr of a grouped leaf returns an address whose bits above the
	 * run size are the run's (the engine masks the rest). */
	int (*encode_leaf)(const struct physim_pt_format *f, uint64_t pa,
			   const struct pt_leaf_attr *a, unsigned level, uint64_t *d);
	void (*decode_leaf)(const struct physim_pt_format *f, uint64_t d, unsigned level,
			    struct pt_leaf_attr *a);
	/* Optional (NULL: PHYSIM_MEM_UNKNOWN): the memory attributes of leaf d
	 * at `level` under the configuration c (pt.h, physim_memattr). Cold:
	 * only physim_pt_memattr and physim_xlate_memattr call it. */
	void (*memattr)(const struct physim_pt_format *f, uint64_t d, unsigned level,
			const struct pt_mem_ctl *c, struct physim_memattr *out);
};

struct pt_level_geom {
	uint8_t shift;	    /* lowest VA bit indexed by this level */
	uint8_t index_bits; /* entries = 1 << index_bits */
	bool leaf_ok;	    /* a leaf may sit here */
};

struct physim_pt_format {
	const char *name;
	const char *description;
	enum physim_arch arch;
	bool stage2;
	uint8_t levels;
	uint8_t pte_bytes; /* 4 or 8 */
	uint8_t va_bits;   /* input width; indexes use bits va_bits-1 .. shift[0] */
	uint8_t pa_bits;   /* output width */
	/* Width of the root's register when narrower than a table pointer
	 * (i386 PAE: CR3 holds bits 31:5, SDM Vol. 3A 4.4.1, while PDPTEs
	 * hold 51:12); 0: the top level's table-pointer field says it. */
	uint8_t root_pa_bits;
	bool sign_extended; /* upper input bits must copy bit va_bits-1 (else must be 0) */
	struct pt_level_geom level[PHYSIM_PT_MAX_LEVELS]; /* [0] = last level */
	/* Grouped leaves per level: 1 << group_log2[l] aligned consecutive
	 * entries make one page (encode_leaf with a->grouped); 0: none there. */
	uint8_t group_log2[PHYSIM_PT_MAX_LEVELS];
	uint32_t flags_supported;
	uint64_t arch_attr_mask;
	uint64_t arch_memtype_mask; /* the memory-type field within arch_attr_mask */
	/* AArch64 stage 1: the MAIR the codec encodes AttrIndx for (0 =
	 * PHYSIM_MAIR_DEFAULT). The static formats leave it 0; a table created
	 * with physim_pt_config.mair uses its own copy of the format. */
	uint64_t mair;
	/* Flags a new leaf gets by default beyond the caller's (e.g. RISC-V A/D,
	 * AArch64 AF): accessed/dirty are set on new leaves when true. */
	bool set_accessed_on_map;
	bool set_dirty_on_map; /* only for writable leaves */
	const struct pt_format_ops *ops;
	/* Access rules for the walker (lib/walk-format.h); NULL: the format
	 * cannot be translated by physim_mmu_* (-ENOTSUP). */
	const struct pt_walk_ops *walk;
	/* Free slot for format-specific constants the family's functions read. */
	uint64_t param[4];
};

/* Derived geometry helpers (static inline: the engine's hot paths use them). */
static inline uint64_t pt_level_page_size(const struct physim_pt_format *f, unsigned level)
{
	return UINT64_C(1) << f->level[level].shift;
}

static inline uint64_t pt_level_entries(const struct physim_pt_format *f, unsigned level)
{
	return UINT64_C(1) << f->level[level].index_bits;
}

static inline uint64_t pt_table_bytes(const struct physim_pt_format *f, unsigned level)
{
	return pt_level_entries(f, level) * f->pte_bytes;
}

/* Frames (4 KiB) allocated for one table at `level`: at least one. */
static inline uint64_t pt_table_frames(const struct physim_pt_format *f, unsigned level)
{
	uint64_t b = pt_table_bytes(f, level);
	return b <= PHYSIM_FRAME_SIZE ? 1 : b / PHYSIM_FRAME_SIZE;
}

/* Entries in one grouped leaf at `level` (1: the level has none). */
static inline uint64_t pt_group_entries(const struct physim_pt_format *f, unsigned level)
{
	return UINT64_C(1) << f->group_log2[level];
}

/* Bytes of one grouped leaf at `level`. */
static inline uint64_t pt_group_size(const struct physim_pt_format *f, unsigned level)
{
	return pt_level_page_size(f, level) << f->group_log2[level];
}

/* Address mapped by the entry covering va of the leaf d at `level`: a plain
 * leaf's output address, or the run's base plus va's entry offset in it. */
static inline uint64_t pt_leaf_entry_pa(const struct physim_pt_format *f, uint64_t d,
					unsigned level, bool grouped, uint64_t va)
{
	uint64_t out = f->ops->output_addr(f, d, level);
	if (!grouped)
		return out;
	uint64_t run = pt_group_size(f, level) - 1;
	return (out & ~run) | (va & run & ~(pt_level_page_size(f, level) - 1));
}

/* Index of va at `level`. */
static inline uint64_t pt_index(const struct physim_pt_format *f, uint64_t va, unsigned level)
{
	return (va >> f->level[level].shift) & (pt_level_entries(f, level) - 1);
}

/* The input-address rule (walk_input_ok, lib/walk-format.h) as two
 * constants of the format, for the hot paths (the engine's lookups, each
 * walk's begin()): va is in the input range iff ((va + bias) & mask) is 0.
 * A sign-extended range adds 2^(va_bits-1), which carries every canonical
 * address into [0, 2^va_bits) and no other one. */
struct pt_va_range {
	uint64_t bias, mask;
};

static inline struct pt_va_range pt_va_range(const struct physim_pt_format *f)
{
	if (f->va_bits >= 64)
		return (struct pt_va_range){0, 0};
	return (struct pt_va_range){
	    .bias = f->sign_extended ? UINT64_C(1) << (f->va_bits - 1) : 0,
	    .mask = ~UINT64_C(0) << f->va_bits,
	};
}

static inline bool pt_va_in(const struct pt_va_range *r, uint64_t va)
{
	return ((va + r->bias) & r->mask) == 0;
}

/* The paging handler a table was created with (lib/pt.c), for
 * physim_translate. */
PHYSIM_HIDDEN const struct physim_paging_handler *physim_pt_paging(const struct physim_pt *pt);

/* Every format physim knows, in `physim-pt formats` order (lib/formats.c). */
PHYSIM_HIDDEN extern const struct physim_pt_format *const physim_all_formats[];
PHYSIM_HIDDEN extern const size_t physim_all_formats_count;

/* The formats (arch/<family>/), one object each. */
#ifdef PHYSIM_HAVE_X86_64
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_x86_64_4l;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_x86_64_5l;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_ept_4l;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_ept_5l;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_i386_2l;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_i386_pae;
#endif
#ifdef PHYSIM_HAVE_AARCH64
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_aarch64_4k_39;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_aarch64_4k_48;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_aarch64_16k_47;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_aarch64_64k_48;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_aarch64_s2_4k_40;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_aarch64_s2_4k_48;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_aarch64_4k_52;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_aarch64_16k_52;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_aarch64_64k_52;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_aarch64_s2_4k_52;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_aarch64_el2_4k_39;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_aarch64_el2_4k_48;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_aarch64_el2_16k_47;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_aarch64_el2_64k_48;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_armv7_short;
#endif
#ifdef PHYSIM_HAVE_RISCV64
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_sv39;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_sv48;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_sv57;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_sv39x4;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_sv48x4;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_sv57x4;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_sv32;
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_sv32x4;
#endif
#ifdef PHYSIM_HAVE_LOONGARCH64
PHYSIM_HIDDEN extern const struct physim_pt_format physim_fmt_loongarch64_4k_48;
#endif

#endif
