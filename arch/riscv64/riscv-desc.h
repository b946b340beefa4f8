/* SPDX-License-Identifier: MIT */
/* arch/riscv64/riscv-desc.h - the RISC-V codec: PTE bits of Sv32..Sv57 and
 * the x4 G-stage schemes, defined once, and classify / output address as
 * static inline functions, used by the formats (riscv64.c) and the walk
 * rules (riscv64_walk.c) alike. */
#ifndef PHYSIM_RISCV_DESC_H
#define PHYSIM_RISCV_DESC_H

#include "riscv-priv.h"

/* ---- PTE fields [Sv32] 10.3.1, [Sv39] 10.4 ---- */
#define RV_V	     (UINT64_C(1) << 0) /* valid */
#define RV_R	     (UINT64_C(1) << 1)
#define RV_W	     (UINT64_C(1) << 2)
#define RV_X	     (UINT64_C(1) << 3)
#define RV_U	     (UINT64_C(1) << 4) /* accessible to U-mode */
#define RV_G	     (UINT64_C(1) << 5) /* global mapping */
#define RV_A	     (UINT64_C(1) << 6) /* accessed */
#define RV_D	     (UINT64_C(1) << 7) /* dirty */
#define RV_RSW	     (UINT64_C(3) << 8) /* reserved for supervisor software */
#define RV_RWX	     (RV_R | RV_W | RV_X)
#define RV_PPN_SHIFT 10 /* PPN starts at PTE bit 10 in every scheme */

/* Sv32: PPN is PTE bits 31:10 (22 bits), giving a 34-bit physical address. */
#define RV32_PPN_BITS 22
/* Sv39/48/57: PPN is PTE bits 53:10 (44 bits), a 56-bit physical address. */
#define RV64_PPN_BITS 44

/* [Svpbmt]: bits 62:61 of a leaf PTE select the memory type. 0 = PMA (the
 * physical memory attributes apply), 1 = NC (non-cacheable, idempotent,
 * weakly ordered main memory), 2 = IO (non-cacheable, non-idempotent,
 * strongly ordered I/O), 3 = reserved. For non-leaf PTEs the field is
 * reserved. */
#define RV_PBMT_SHIFT 61
#define RV_PBMT	      (UINT64_C(3) << RV_PBMT_SHIFT)
#define RV_PBMT_PMA   0u
#define RV_PBMT_NC    1u
#define RV_PBMT_IO    2u
#define RV_PBMT_RSVD  3u

/* [Sv39] 10.4: bits 63:54 are reserved and must be zero, except where an
 * extension defines them. Bit 63 is N ([Svnapot], implemented by the
 * Sv39/48/57 formats and their x4 G-stage variants; Sv32 PTEs have no bit
 * 63). Bits 62:61 are PBMT (implemented). Bits 60:54 are reserved. */
#define RV_N	   (UINT64_C(1) << 63)
#define RV_RSVD_HI (UINT64_C(0x7f) << 54) /* bits 60:54 */

/* [Svnapot]: a leaf PTE with N = 1 is one of the 16 identical PTEs of a
 * naturally aligned 64 KiB page (napot_bits = 4, the only size defined).
 * Its ppn[0][3:0] hold 0b1000 in place of the address bits, which the
 * translation takes from the VA instead (pa.ppn[0][3:0] = va.vpn[0][3:0]).
 * N = 1 at i > 0, in a non-leaf PTE, or with any other ppn[0][3:0] is a
 * reserved encoding: a page fault. The formats say where NAPOT leaves exist
 * with group_log2 = 4 at level 0. */
#define RV_NAPOT_BITS	 4
#define RV_NAPOT_PPN_LOW UINT64_C(0x8) /* ppn[0][3:0] of a 64 KiB NAPOT PTE */

/* N = 1 in d (Sv39/48/57, bits 60:54 clear) at level: a valid NAPOT leaf? */
static inline bool rv_napot_ok(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	uint64_t ppn = (d >> RV_PPN_SHIFT) & ((UINT64_C(1) << RV_NAPOT_BITS) - 1);
	return !(d & RV_RSVD_HI) && f->group_log2[level] == RV_NAPOT_BITS &&
	       (d & (RV_R | RV_W | RV_X)) != 0 && ppn == RV_NAPOT_PPN_LOW;
}

static inline bool rv_is_sv32(const struct physim_pt_format *f)
{
	return f->pte_bytes == 4;
}

/* The PPN field; sv32 (4-byte PTEs) is rv_is_sv32(f), a separate parameter
 * so that a walker instantiated per PTE size folds it. */
static inline uint64_t rv_ppn_mask_as(bool sv32)
{
	unsigned bits = sv32 ? RV32_PPN_BITS : RV64_PPN_BITS;
	return (UINT64_C(1) << bits) - 1;
}

static inline uint64_t rv_ppn_mask(const struct physim_pt_format *f)
{
	return rv_ppn_mask_as(rv_is_sv32(f));
}

static inline uint64_t rv_ppn_as(uint64_t d, bool sv32)
{
	return (d >> RV_PPN_SHIFT) & rv_ppn_mask_as(sv32);
}

static inline uint64_t rv_ppn(const struct physim_pt_format *f, uint64_t d)
{
	return rv_ppn_as(d, rv_is_sv32(f));
}

static inline uint64_t rv_pte_from_pa(uint64_t pa)
{
	return (pa >> PHYSIM_FRAME_SHIFT) << RV_PPN_SHIFT;
}

/* A leaf whose page offset bits of the PPN are not zero. [Sv32] 10.3.2
 * step 6: "If i > 0 and pte.ppn[i-1:0] != 0, this is a misaligned
 * superpage; stop and raise a page-fault exception". */
static inline bool rv_misaligned_superpage(uint64_t d, unsigned level, bool sv32)
{
	/* [Sv32] 10.3.1, [Sv39] 10.4.1: ppn[0] is 10 bits wide in Sv32, every
	 * ppn[i] below the top one 9 bits in Sv39/48/57 (and their x4 G-stage
	 * forms, H extension "Guest Physical Address Translation"); a
	 * constant where the level is. */
	unsigned low_bits = level * (sv32 ? 10u : 9u);
	return (rv_ppn_as(d, sv32) & ((UINT64_C(1) << low_bits) - 1)) != 0;
}

/*
 * [Sv32] 10.3.2 step 3: "If pte.v = 0, or if pte.r = 0 and pte.w = 1, or if
 * any bits or encodings that are reserved for future standard use are set
 * within pte, stop and raise a page-fault exception." Step 4: a PTE with
 * R = X = 0 points to the next level; at i = 0 that is a fault too.
 * [Sv32] 10.3.1: "For non-leaf PTEs, the D, A, and U bits are reserved for
 * future standard use" (must be cleared by software). The same rules hold
 * for G-stage tables [H]: the x4 schemes use "the same algorithm".
 */
static inline enum pt_kind rv_classify_as(const struct physim_pt_format *f, uint64_t d,
					  unsigned level, bool sv32)
{
	/* One test for the usual case: V set, no reserved high bit (bits 63:32
	 * cannot come from a 4-byte PTE). */
	uint64_t high = sv32 ? ~UINT64_C(0) << 32 : RV_N | RV_RSVD_HI;
	if (PHYSIM_UNLIKELY((d & (RV_V | high)) != RV_V)) {
		if (sv32 && (d >> 32) != 0)
			return PT_RESERVED;
		if (!(d & RV_V))
			return PT_INVALID;
		/* [Svnapot]: N may be set in a NAPOT leaf; the rest of the
		 * checks below still apply to it. */
		if (sv32 || !rv_napot_ok(f, d, level))
			return PT_RESERVED;
	}
	if (!sv32 && ((d & RV_PBMT) >> RV_PBMT_SHIFT) == RV_PBMT_RSVD)
		return PT_RESERVED;
	if ((d & (RV_W | RV_R)) == RV_W)
		return PT_RESERVED;
	if (d & RV_RWX) {
		/* A leaf may sit at any level ([Sv32] 10.3.2 step 5: R or X
		 * set makes the PTE a leaf; every format's leaf_ok says so). */
		if (rv_misaligned_superpage(d, level, sv32))
			return PT_RESERVED;
		return PT_LEAF;
	}
	/* Non-leaf: A/D/U reserved [Sv32] 10.3.1; PBMT reserved [Svpbmt]. */
	if (level == 0 || (d & (RV_A | RV_D | RV_U | RV_PBMT)))
		return PT_RESERVED;
	return PT_TABLE;
}

static inline uint64_t rv_addr_as(uint64_t d, bool sv32)
{
	return rv_ppn_as(d, sv32) << PHYSIM_FRAME_SHIFT;
}

/* The format's classify / output_addr (riscv64.c wraps them). */
static inline enum pt_kind rv_desc_classify(const struct physim_pt_format *f, uint64_t d,
					    unsigned level)
{
	return rv_classify_as(f, d, level, rv_is_sv32(f));
}

/* For a NAPOT leaf: the address with ppn[0][3:0] as the PTE holds them
 * (0b1000), i.e. inside the 64 KiB page; lib/pt-format.h asks no more. */
static inline uint64_t rv_desc_output_addr(const struct physim_pt_format *f, uint64_t d,
					   unsigned level)
{
	(void)level;
	return rv_addr_as(d, rv_is_sv32(f));
}

#endif
