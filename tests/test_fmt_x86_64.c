/* SPDX-License-Identifier: MIT */
/* tests/test_fmt_x86_64.c - the x86 page-table formats (x86_64-4l/5l,
 * ept-4l/5l, i386-2l, i386-pae): golden descriptors computed by hand from the
 * Intel SDM field layouts, exhaustive flag round trips against an oracle,
 * classify of every reserved-bit rule, rejection of bad inputs, and tables
 * built by the engine on simulated RAM read back byte by byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/env.h"

#include "pt-format.h"
#include "x86_64/x86-priv.h"

#include <physim/ram.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum {
	R = PHYSIM_R,
	W = PHYSIM_W,
	X = PHYSIM_X,
	U = PHYSIM_U,
	DEV = PHYSIM_DEVICE,
	UNC = PHYSIM_UNCACHED,
	ALL_FLAGS = R | W | X | U | DEV | UNC,
};

#define BIT(n) (UINT64_C(1) << (n))

static const struct physim_pt_format *const fmt_4l = &physim_fmt_x86_64_4l;
static const struct physim_pt_format *const fmt_5l = &physim_fmt_x86_64_5l;
static const struct physim_pt_format *const fmt_ept4 = &physim_fmt_ept_4l;
static const struct physim_pt_format *const fmt_ept5 = &physim_fmt_ept_5l;
static const struct physim_pt_format *const fmt_i386 = &physim_fmt_i386_2l;
static const struct physim_pt_format *const fmt_pae = &physim_fmt_i386_pae;

/* ---- small wrappers over the format ops ---- */

static int enc_ad(const struct physim_pt_format *f, uint64_t pa, uint32_t flags, uint64_t arch,
		  unsigned level, bool accessed, bool dirty, uint64_t *d)
{
	struct pt_leaf_attr a = {
	    .flags = flags, .arch = arch, .accessed = accessed, .dirty = dirty};
	return f->ops->encode_leaf(f, pa, &a, level, d);
}

static int enc(const struct physim_pt_format *f, uint64_t pa, uint32_t flags, uint64_t arch,
	       unsigned level, uint64_t *d)
{
	return enc_ad(f, pa, flags, arch, level, false, false, d);
}

static enum pt_kind kind(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	return f->ops->classify(f, d, level);
}

static uint64_t out_addr(const struct physim_pt_format *f, uint64_t d, unsigned level)
{
	return f->ops->output_addr(f, d, level);
}

/* A copy of a format with another physical-address width (MAXPHYADDR),
 * so the "bits 51:M reserved" rules can be seen with M < 52. */
static struct physim_pt_format with_pa_bits(const struct physim_pt_format *f, unsigned pa_bits)
{
	struct physim_pt_format c = *f;
	c.pa_bits = (uint8_t)pa_bits;
	return c;
}

/* ---- golden descriptors ---- */

struct golden {
	uint64_t pa;
	uint32_t flags;
	uint64_t arch;
	unsigned level;
	bool accessed, dirty;
	uint64_t want;	     /* the descriptor, computed by hand */
	uint32_t want_flags; /* what decode_leaf reports */
	uint64_t want_arch;
	const char *why;
};

static void check_goldens(const struct physim_pt_format *f, const struct golden *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t d = 0x5a5a5a5a5a5a5a5a;
		struct pt_leaf_attr a;
		int rc = enc_ad(f, g[i].pa, g[i].flags, g[i].arch, g[i].level, g[i].accessed,
				g[i].dirty, &d);

		if (rc != 0 || d != g[i].want)
			print_error("%s golden %zu (%s): rc %d, got %#" PRIx64 " want %#" PRIx64
				    "\n",
				    f->name, i, g[i].why, rc, d, g[i].want);
		assert_int_equal(rc, 0);
		assert_int_equal(d, g[i].want);
		assert_int_equal(kind(f, d, g[i].level), PT_LEAF);
		assert_int_equal(out_addr(f, d, g[i].level), g[i].pa);

		memset(&a, 0xa5, sizeof(a));
		f->ops->decode_leaf(f, d, g[i].level, &a);
		if (a.flags != g[i].want_flags || a.arch != g[i].want_arch)
			print_error("%s golden %zu (%s): decoded flags %#x arch %#" PRIx64 "\n",
				    f->name, i, g[i].why, a.flags, a.arch);
		assert_int_equal(a.flags, g[i].want_flags);
		assert_int_equal(a.arch, g[i].want_arch);
		assert_int_equal(a.accessed, g[i].accessed);
		assert_int_equal(a.dirty, g[i].dirty);
	}
}

struct refusal {
	uint64_t pa;
	uint32_t flags;
	uint64_t arch;
	unsigned level;
	int rc;
	const char *why;
};

static void check_refusals(const struct physim_pt_format *f, const struct refusal *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t d = 0x1234;
		int rc = enc(f, r[i].pa, r[i].flags, r[i].arch, r[i].level, &d);

		if (rc != r[i].rc)
			print_error("%s refusal %zu (%s): rc %d\n", f->name, i, r[i].why, rc);
		assert_int_equal(rc, r[i].rc);
		assert_int_equal(d, 0x1234); /* untouched on failure */
	}
}

/*
 * x86_64-4l leaves. Bit positions from SDM Vol. 3A 4.5, table 4-20 (PTE),
 * 4-18 (PDE, 2 MiB), 4-16 (PDPTE, 1 GiB): P 0, R/W 1, U/S 2, PWT 3, PCD 4,
 * A 5, D 6, PAT 7 (PTE) / PS 7 (PDE, PDPTE), G 8, PAT 12 (large leaves),
 * address 51:12 (51:21, 51:30), PK 62:59, XD 63. Engine level 0 = PT,
 * 1 = PD, 2 = PDPT.
 */
static const struct golden goldens_long[] = {
    {0x12345000, R, 0, 0, 0, 0, 0x8000000012345001, R, 0, "read-only: P, XD"},
    {0x12345000, R | W | X | U, 0, 0, 0, 0, 0x0000000012345007, R | W | X | U, 0, "P|RW|US"},
    {0xfee00000, R | X | DEV, 0, 0, 0, 0, 0x00000000fee00019, R | X | DEV, 0,
     "device: PCD|PWT (PAT index 3, UC)"},
    {0x1000, R | W | UNC, 0, 0, 0, 0, 0x8000000000001013, R | W | UNC, 0,
     "uncached: PCD (PAT index 2, UC-)"},
    {0x40200000, R | W | X, 0, 1, 0, 0, 0x0000000040200083, R | W | X, 0, "2M: PS"},
    {0x40200000, R | X, BIT(7), 1, 0, 0, 0x0000000040201081, R | X, BIT(7),
     "2M: PAT moves to bit 12"},
    {0x1000, R | X, BIT(7), 0, 0, 0, 0x0000000000001081, R | X, BIT(7), "4K: PAT at bit 7"},
    {0xc0000000, R | W | U, 0, 2, 0, 0, 0x80000000c0000087, R | W | U, 0, "1G: PS, XD"},
    {0x40000000, R | X, BIT(7) | BIT(8) | (UINT64_C(5) << 59), 2, 0, 0, 0x2800000040001181, R | X,
     0x2800000000000180, "1G: PAT at 12, G, PK 5"},
    {0x000ffffffffff000, R | W | X, 0, 0, 0, 0, 0x000ffffffffff003, R | W | X, 0,
     "highest 4K frame of 52 bits"},
    {0x000fffffffe00000, R | X, 0, 1, 0, 0, 0x000fffffffe00081, R | X, 0, "highest 2M page"},
    {0x000fffffc0000000, R | W | X, 0, 2, 0, 0, 0x000fffffc0000083, R | W | X, 0,
     "highest 1G page"},
    {0x5000, R | W | X, 0, 0, 1, 1, 0x0000000000005063, R | W | X, 0, "4K: A and D"},
    {0x200000, R | W | X, 0, 1, 1, 1, 0x00000000002000e3, R | W | X, 0, "2M: A and D"},
    {0x2000, R, BIT(3), 0, 0, 0, 0x8000000000002009, R, BIT(3), "arch PWT: WT, no flag"},
    {0x600000, R | X, BIT(7) | BIT(4), 1, 0, 0, 0x0000000000601091, R | X, BIT(7) | BIT(4),
     "2M: PAT index 6 (PAT|PCD)"},
    {0x7000, R | X | U, BIT(8), 0, 0, 0, 0x0000000000007105, R | X | U, BIT(8), "global"},
    {0x9000, R | W | X, UINT64_C(0xf) << 59, 0, 0, 1, 0x7800000000009043, R | W | X,
     UINT64_C(0xf) << 59, "PK 15, dirty without accessed"},
};

static const struct refusal refusals_long[] = {
    {0x1000, W | X | U, 0, 0, -ENOTSUP, "not readable"},
    {0x1000, 0, 0, 0, -ENOTSUP, "no flags at all"},
    {0x1000, R | DEV | UNC, 0, 0, -ENOTSUP, "DEVICE and UNCACHED"},
    {0x1000, R | BIT(6), 0, 0, -ENOTSUP, "unknown flag bit"},
    {0x1000, R, BIT(9), 0, -ENOTSUP, "arch bit 9 outside the mask"},
    {0x1000, R, BIT(12), 0, -ENOTSUP, "arch PAT given in the large-page position"},
    {0x1000, R, BIT(63), 0, -ENOTSUP, "arch XD"},
    {0x1000, R, BIT(1), 0, -ENOTSUP, "arch R/W"},
    {0x1000, R | DEV, BIT(3), 0, -ENOTSUP, "DEVICE but arch says WT"},
    {0x1000, R | UNC, BIT(3) | BIT(4), 0, -ENOTSUP, "UNCACHED but arch says UC"},
    {0x1000, R | DEV, BIT(7) | BIT(4) | BIT(3), 0, -ENOTSUP, "DEVICE but arch PAT index 7"},
    /* The one memory-type rule (pt.h): a type the flags name is never
     * given raw, and a raw type never comes with a memory-type flag. */
    {0x3000, R | X | DEV, BIT(3) | BIT(4), 0, -ENOTSUP, "DEVICE with arch PCD|PWT (its own)"},
    {0x3000, R | X, BIT(3) | BIT(4), 0, -ENOTSUP, "arch PCD|PWT: say DEVICE"},
    {0x8000, R | W | UNC, BIT(4), 0, -ENOTSUP, "UNCACHED with arch PCD (its own)"},
    {0x8000, R | W, BIT(4), 0, -ENOTSUP, "arch PCD: say UNCACHED (issue 12)"},
    {0x200000, R, 0, 3, -EINVAL, "leaf in a PML4E"},
    {0x1000, R, 0, 1, -EINVAL, "2M leaf not 2M aligned"},
    {0x200000, R, 0, 2, -EINVAL, "1G leaf not 1G aligned"},
    {0x1800, R, 0, 0, -EINVAL, "4K leaf not 4K aligned"},
    {BIT(52), R, 0, 0, -EINVAL, "PA above 52 bits"},
    {BIT(63), R, 0, 2, -EINVAL, "PA bit 63"},
};

static void test_golden_x86_64(void **state)
{
	(void)state;
	/* 4-level and 5-level paging use the same leaf formats (4.5). */
	check_goldens(fmt_4l, goldens_long, sizeof(goldens_long) / sizeof(goldens_long[0]));
	check_goldens(fmt_5l, goldens_long, sizeof(goldens_long) / sizeof(goldens_long[0]));
	check_refusals(fmt_4l, refusals_long, sizeof(refusals_long) / sizeof(refusals_long[0]));
	check_refusals(fmt_5l, refusals_long, sizeof(refusals_long) / sizeof(refusals_long[0]));

	uint64_t d = 0;
	assert_int_equal(enc(fmt_5l, 0, R, 0, 4, &d), -EINVAL); /* PML5E */
	assert_int_equal(enc(fmt_5l, 0, R, 0, 5, &d), -EINVAL); /* no such level */
	assert_int_equal(enc(fmt_4l, 0, R, 0, 4, &d), -EINVAL);
}

/* Table descriptors: P|R/W|U/S, XD clear, A clear (tables 4-14, 4-15, 4-17,
 * 4-19). */
static void test_table_x86_64(void **state)
{
	(void)state;
	for (unsigned l = 1; l <= 3; l++) {
		assert_int_equal(fmt_4l->ops->encode_table(fmt_4l, 0xabc000, l), 0xabc007);
		assert_int_equal(fmt_4l->ops->encode_table(fmt_4l, 0x000ffffffffff000, l),
				 0x000ffffffffff007);
		assert_int_equal(kind(fmt_4l, 0xabc007, l), PT_TABLE);
		assert_int_equal(out_addr(fmt_4l, 0xabc007, l), 0xabc000);
	}
	for (unsigned l = 1; l <= 4; l++)
		assert_int_equal(fmt_5l->ops->encode_table(fmt_5l, 0x12345000, l), 0x12345007);
	assert_int_equal(kind(fmt_5l, 0x12345007, 4), PT_TABLE);
}

/*
 * i386-2l: SDM Vol. 3A 4.3, table 4-6 (PTE: PAT bit 7, address 31:12),
 * table 4-4 (4 MiB PDE: PS 7, PAT 12, PA 39:32 in bits 20:13 (PSE-36,
 * M = 40), bit 21 reserved, PA 31:22 in place), table 4-5 (PDE -> PT).
 * No XD: every page is executable.
 */
static const struct golden goldens_i386[] = {
    {0x12345000, R | X, 0, 0, 0, 0, 0x12345001, R | X, 0, "P"},
    {0x12345000, R | W | X | U, 0, 0, 0, 0, 0x12345007, R | W | X | U, 0, "P|RW|US"},
    {0x1000, R | X, BIT(7), 0, 0, 0, 0x00001081, R | X, BIT(7), "4K: PAT at bit 7"},
    {0x00c00000, R | W | X, 0, 1, 0, 0, 0x00c00083, R | W | X, 0, "4M: PS"},
    {0x00c00000, R | X, BIT(7), 1, 0, 0, 0x00c01081, R | X, BIT(7), "4M: PAT at bit 12"},
    {UINT64_C(0xabffc00000), R | W | X, 0, 1, 0, 0, 0xffd56083, R | W | X, 0,
     "4M at PA 0xab_ffc00000: 0xab in bits 20:13"},
    {0x00400000, R | X | DEV, 0, 1, 0, 0, 0x00400099, R | X | DEV, 0, "4M device: PCD|PWT"},
    {0xfffff000, R | X | U | UNC, BIT(8), 0, 0, 0, 0xfffff115, R | X | U | UNC, BIT(8),
     "highest 4K frame, uncached, global"},
    {UINT64_C(0xffffc00000), R | W | X, 0, 1, 1, 1, 0xffdfe0e3, R | W | X, 0,
     "highest 4M page of 40 bits, A and D"},
};

static const struct refusal refusals_i386[] = {
    {0x1000, R, 0, 0, -ENOTSUP, "not executable: 32-bit paging has no XD"},
    {0x400000, R | W | U, 0, 1, -ENOTSUP, "not executable (4M)"},
    {0x1000, X, 0, 0, -ENOTSUP, "not readable"},
    {0x1000, R | X, UINT64_C(1) << 59, 0, -ENOTSUP, "protection keys: 4/5-level only"},
    {0x1000, R | X, BIT(63), 0, -ENOTSUP, "arch bit 63"},
    {0x1000, R | X | DEV | UNC, 0, 0, -ENOTSUP, "DEVICE and UNCACHED"},
    {BIT(32), R | X, 0, 0, -EINVAL, "4K PTE above 4 GiB"},
    {BIT(40), R | X, 0, 1, -EINVAL, "4M page above 40 bits"},
    {0x200000, R | X, 0, 1, -EINVAL, "4M leaf 2M aligned only"},
    {0, R | X, 0, 2, -EINVAL, "no level 2"},
};

static void test_golden_i386(void **state)
{
	(void)state;
	check_goldens(fmt_i386, goldens_i386, sizeof(goldens_i386) / sizeof(goldens_i386[0]));
	check_refusals(fmt_i386, refusals_i386, sizeof(refusals_i386) / sizeof(refusals_i386[0]));
	assert_int_equal(fmt_i386->ops->encode_table(fmt_i386, 0x123000, 1), 0x123007);
	assert_int_equal(fmt_i386->ops->encode_table(fmt_i386, 0xfffff000, 1), 0xfffff007);
}

/*
 * i386-pae: SDM Vol. 3A 4.4, table 4-8 (PDPTE: P 0, PWT 3, PCD 4, address
 * (M-1):12, nothing else), 4-9 (2 MiB PDE), 4-10 (PDE -> PT), 4-11 (PTE):
 * as 4-level but with no protection keys.
 */
static const struct golden goldens_pae[] = {
    {0x0000fffffffff000, R | W, 0, 0, 0, 0, 0x8000fffffffff003, R | W, 0, "4K at a 48-bit PA, XD"},
    {0x7fe00000, R | X | U, BIT(8) | BIT(7), 1, 0, 0, 0x7fe01185, R | X | U, BIT(8) | BIT(7),
     "2M: G, PAT at 12"},
    {0x000fffffffe00000, R | W | X, 0, 1, 0, 0, 0x000fffffffe00083, R | W | X, 0,
     "highest 2M page of 52 bits"},
    {0xfec00000, R | DEV, 0, 0, 0, 0, 0x80000000fec00019, R | DEV, 0, "device"},
    {0x1000, R | X, BIT(7), 0, 1, 0, 0x00001081 | 0x20, R | X, BIT(7), "4K PAT, accessed"},
};

static const struct refusal refusals_pae[] = {
    {0x1000, R, UINT64_C(1) << 59, 0, -ENOTSUP, "protection keys: 4/5-level only"},
    {0x1000, W, 0, 0, -ENOTSUP, "not readable"},
    {0x40000000, R, 0, 2, -EINVAL, "no leaf in a PDPTE"},
    {BIT(52), R, 0, 0, -EINVAL, "PA above 52 bits"},
    {0x1000, R, 0, 1, -EINVAL, "2M misaligned"},
};

static void test_golden_pae(void **state)
{
	(void)state;
	check_goldens(fmt_pae, goldens_pae, sizeof(goldens_pae) / sizeof(goldens_pae[0]));
	check_refusals(fmt_pae, refusals_pae, sizeof(refusals_pae) / sizeof(refusals_pae[0]));
	/* PDPTE: P and the address only (R/W, U/S reserved there). */
	assert_int_equal(fmt_pae->ops->encode_table(fmt_pae, 0x3000, 2), 0x3001);
	assert_int_equal(fmt_pae->ops->encode_table(fmt_pae, 0x000ffffffffff000, 2),
			 0x000ffffffffff001);
	assert_int_equal(kind(fmt_pae, 0x3001, 2), PT_TABLE);
	/* PDE -> PT: P|RW|US. */
	assert_int_equal(fmt_pae->ops->encode_table(fmt_pae, 0x4000, 1), 0x4007);
}

/*
 * EPT: SDM Vol. 3C 29.3.2. Read 0, write 1, execute 2, memory type 5:3
 * (UC 0, WC 1, WT 4, WP 5, WB 6), ignore-PAT 6, large page 7, accessed 8,
 * dirty 9, user-execute 10, address 51:12, suppress #VE 63. physim: default
 * WB, DEVICE = UC, UNCACHED = WC; U ignored (stage 2).
 */
static const struct golden goldens_ept[] = {
    {0x12345000, R | W | X, 0, 0, 0, 0, 0x12345037, R | W | X, 0, "RWX, WB"},
    {0x12345000, R, 0, 0, 0, 0, 0x12345031, R, 0, "read-only"},
    {0x12345000, X, 0, 0, 0, 0, 0x12345034, X, 0, "execute-only"},
    {0x12345000, R | X, 0, 0, 0, 0, 0x12345035, R | X, 0, "read/execute"},
    {0xfee00000, R | X | DEV, 0, 0, 0, 0, 0xfee00005, R | X | DEV, 0, "device: UC (0)"},
    {0x1000, R | W | UNC, 0, 0, 0, 0, 0x100b, R | W | UNC, 0, "uncached: WC (1)"},
    {0x12345000, R | W | X | U, 0, 0, 0, 0, 0x12345037, R | W | X, 0, "U ignored"},
    {0x40200000, R | W | X, 0, 1, 0, 0, 0x402000b7, R | W | X, 0, "2M: bit 7"},
    {0x80000000, R | W, 0, 2, 0, 0, 0x800000b3, R | W, 0, "1G: bit 7"},
    {0x1000, R, 4 << 3, 0, 0, 0, 0x1021, R, 4 << 3, "arch WT"},
    {0x200000, R | W | X, (5 << 3) | BIT(6) | BIT(10) | BIT(63), 1, 0, 0, 0x80000000002004ef,
     R | W | X, (5 << 3) | BIT(6) | BIT(10) | BIT(63), "2M: WP, IPAT, user-exec, SVE"},
    {0x5000, R | W, 0, 0, 1, 1, 0x5333, R | W, 0, "A (8) and D (9)"},
    {0x000ffffffffff000, R, 0, 0, 0, 0, 0x000ffffffffff031, R, 0, "highest 4K frame"},
    {0x000fffffc0000000, X | U, 0, 2, 0, 0, 0x000fffffc00000b4, X, 0, "highest 1G, exec-only"},
    {0x8000, R | X, BIT(6), 0, 0, 0, 0x8075, R | X, BIT(6), "IPAT with WB"},
};

static const struct refusal refusals_ept[] = {
    {0x1000, W, 0, 0, -ENOTSUP, "write-only: misconfiguration"},
    {0x1000, W | X, 0, 0, -ENOTSUP, "write/execute: misconfiguration"},
    {0x1000, W | X | U, 0, 0, -ENOTSUP, "write/execute, U"},
    {0x1000, 0, 0, 0, -ENOTSUP, "no access: not present"},
    {0x1000, U, 0, 0, -ENOTSUP, "U only: no access"},
    {0x1000, DEV, 0, 0, -ENOTSUP, "device, no access"},
    {0x1000, R | DEV | UNC, 0, 0, -ENOTSUP, "DEVICE and UNCACHED"},
    {0x1000, R | BIT(6), 0, 0, -ENOTSUP, "unknown flag bit"},
    {0x1000, R, 2 << 3, 0, -ENOTSUP, "memory type 2 reserved"},
    {0x1000, R, 3 << 3, 0, -ENOTSUP, "memory type 3 reserved"},
    {0x1000, R, 7 << 3, 0, -ENOTSUP, "memory type 7 reserved"},
    {0x1000, R | DEV, 6 << 3, 0, -ENOTSUP, "DEVICE but arch WB"},
    {0x6000, R | X, 6 << 3, 0, -ENOTSUP, "arch WB: the default, give no type"},
    {0x7000, R | W | X | UNC, 1 << 3, 0, -ENOTSUP, "UNCACHED with arch WC (its own)"},
    {0x9000, R, 1 << 3, 0, -ENOTSUP, "arch WC: say UNCACHED"},
    {0x9000, R | DEV, 4 << 3, 0, -ENOTSUP, "DEVICE with arch WT"},
    {0x1000, R | UNC, 4 << 3, 0, -ENOTSUP, "UNCACHED but arch WT"},
    {0x1000, R, BIT(7), 0, -ENOTSUP, "arch bit 7"},
    {0x1000, R, BIT(8), 0, -ENOTSUP, "arch accessed bit"},
    {0x1000, R, BIT(0), 0, -ENOTSUP, "arch read bit"},
    {0x1000, R, BIT(62), 0, -ENOTSUP, "arch bit 62"},
    {0x8000000000, R, 0, 3, -EINVAL, "leaf in a PML4E"},
    {0x1000, R, 0, 1, -EINVAL, "2M misaligned"},
    {BIT(52), R, 0, 0, -EINVAL, "PA above 52 bits"},
};

static void test_golden_ept(void **state)
{
	(void)state;
	check_goldens(fmt_ept4, goldens_ept, sizeof(goldens_ept) / sizeof(goldens_ept[0]));
	check_goldens(fmt_ept5, goldens_ept, sizeof(goldens_ept) / sizeof(goldens_ept[0]));
	check_refusals(fmt_ept4, refusals_ept, sizeof(refusals_ept) / sizeof(refusals_ept[0]));
	check_refusals(fmt_ept5, refusals_ept, sizeof(refusals_ept) / sizeof(refusals_ept[0]));

	/* Non-leaf: R|W|X and user-execute (bit 10), the most permissive. */
	for (unsigned l = 1; l <= 3; l++)
		assert_int_equal(fmt_ept4->ops->encode_table(fmt_ept4, 0x5000, l), 0x5407);
	for (unsigned l = 1; l <= 4; l++)
		assert_int_equal(fmt_ept5->ops->encode_table(fmt_ept5, 0x000ffffffffff000, l),
				 0x000ffffffffff407);
	uint64_t d = 0;
	assert_int_equal(enc(fmt_ept5, 0, R, 0, 4, &d), -EINVAL);
}

/* ---- classify: table, leaf, invalid and every reserved rule ---- */

struct kcase {
	uint64_t d;
	unsigned level;
	enum pt_kind want;
	const char *why;
};

static void check_kinds(const struct physim_pt_format *f, const struct kcase *k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum pt_kind got = kind(f, k[i].d, k[i].level);
		if (got != k[i].want)
			print_error("%s (pa_bits %u) classify %#" PRIx64 " at level %u (%s): %d\n",
				    f->name, f->pa_bits, k[i].d, k[i].level, k[i].why, (int)got);
		assert_int_equal(got, k[i].want);
	}
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void test_classify_x86_64(void **state)
{
	(void)state;
	/* SDM Vol. 3A 4.5 tables 4-14..4-20; reserved bits cause #PF with
	 * RSVD (4.7). M = 52: no address bit is reserved. */
	static const struct kcase k4[] = {
	    {0, 0, PT_INVALID, "zero"},
	    {~BIT(0), 0, PT_INVALID, "everything but P"},
	    {~BIT(0), 3, PT_INVALID, "everything but P, PML4E"},
	    {0x1007, 3, PT_TABLE, "PML4E"},
	    {0x1087, 3, PT_RESERVED, "PS in a PML4E (table 4-15)"},
	    {0x1007 | BIT(6) | 0xf00 | UINT64_C(0x7ff0000000000000) | BIT(63), 3, PT_TABLE,
	     "PML4E ignored bits and XD"},
	    {0x1007, 2, PT_TABLE, "PDPTE -> PD"},
	    {0x1007 | BIT(13) | BIT(29), 2, PT_TABLE, "PDPTE -> PD: 29:13 are address"},
	    {0x40000087, 2, PT_LEAF, "1G leaf"},
	    {0x40000087 | BIT(12), 2, PT_LEAF, "1G leaf: PAT"},
	    {0x40000087 | BIT(13), 2, PT_RESERVED, "1G leaf: bit 13 (table 4-16)"},
	    {0x40000087 | BIT(29), 2, PT_RESERVED, "1G leaf: bit 29 (table 4-16)"},
	    {0x40000087 | BIT(21), 2, PT_RESERVED, "1G leaf: bit 21"},
	    {0x40000087 | BIT(30) | BIT(51), 2, PT_LEAF, "1G leaf: address bits"},
	    {0x40000087 | UINT64_C(0xfff0000000000000), 2, PT_LEAF, "1G leaf: ignored, PK, XD"},
	    {0x200087, 1, PT_LEAF, "2M leaf"},
	    {0x200087 | BIT(12), 1, PT_LEAF, "2M leaf: PAT"},
	    {0x200087 | BIT(13), 1, PT_RESERVED, "2M leaf: bit 13 (table 4-18)"},
	    {0x200087 | BIT(20), 1, PT_RESERVED, "2M leaf: bit 20 (table 4-18)"},
	    {0x200087 | BIT(21), 1, PT_LEAF, "2M leaf: bit 21 is address"},
	    {0x1007 | BIT(13), 1, PT_TABLE, "PDE -> PT: bit 13 is address"},
	    {0x1087, 0, PT_LEAF, "PTE: bit 7 is PAT"},
	    {~UINT64_C(0), 0, PT_LEAF, "PTE all ones: nothing reserved at M = 52"},
	};
	check_kinds(fmt_4l, k4, NELEM(k4));
	check_kinds(fmt_5l, k4, NELEM(k4));

	static const struct kcase k5[] = {
	    {0x1007, 4, PT_TABLE, "PML5E"},
	    {0x1087, 4, PT_RESERVED, "PS in a PML5E (table 4-14)"},
	    {0, 4, PT_INVALID, "PML5E zero"},
	};
	check_kinds(fmt_5l, k5, NELEM(k5));

	/* MAXPHYADDR 46: bits 51:46 reserved everywhere (tables 4-14..4-20). */
	struct physim_pt_format m46 = with_pa_bits(fmt_5l, 46);
	static const struct kcase k46[] = {
	    {0x1003 | BIT(46), 0, PT_RESERVED, "PTE bit 46"},
	    {0x1003 | BIT(51), 0, PT_RESERVED, "PTE bit 51"},
	    {0x1003 | BIT(45), 0, PT_LEAF, "PTE bit 45 is address"},
	    {0x1003 | BIT(52), 0, PT_LEAF, "PTE bit 52 is ignored"},
	    {0x1007 | BIT(46), 1, PT_RESERVED, "PDE -> PT bit 46"},
	    {0x200083 | BIT(47), 1, PT_RESERVED, "2M leaf bit 47"},
	    {0x40000083 | BIT(50), 2, PT_RESERVED, "1G leaf bit 50"},
	    {0x1007 | BIT(46), 3, PT_RESERVED, "PML4E bit 46"},
	    {0x1007 | BIT(49), 4, PT_RESERVED, "PML5E bit 49"},
	    {0x1007 | BIT(45), 4, PT_TABLE, "PML5E bit 45 is address"},
	};
	check_kinds(&m46, k46, NELEM(k46));
	uint64_t d = 0;
	assert_int_equal(enc(&m46, BIT(46), R, 0, 0, &d), -EINVAL);
	assert_int_equal(enc(&m46, BIT(45), R | X, 0, 0, &d), 0);
	assert_int_equal(d, BIT(45) | 1);

	/* Output addresses: PAT (bit 12) and PK/XD are not address bits. */
	assert_int_equal(out_addr(fmt_4l, ~UINT64_C(0), 0), 0x000ffffffffff000);
	assert_int_equal(out_addr(fmt_4l, 0x40201081, 1), 0x40200000);
	assert_int_equal(out_addr(fmt_4l, 0x2800000040001181, 2), 0x40000000);
	assert_int_equal(out_addr(fmt_4l, 0x8000000012345067, 3), 0x12345000);
	assert_int_equal(out_addr(fmt_4l, 0x8000000012345067, 1), 0x12345000);
	assert_int_equal(out_addr(&m46, 0x000ffffffffff001, 0), 0x00003ffffffff000);
}

static void test_classify_pae(void **state)
{
	(void)state;
	/* SDM Vol. 3A 4.4, tables 4-8..4-11; M = 52. */
	static const struct kcase k[] = {
	    {0x3000, 2, PT_INVALID, "PDPTE not present"},
	    {0x3001, 2, PT_TABLE, "PDPTE"},
	    {0x3001 | BIT(3) | BIT(4) | 0xe00, 2, PT_TABLE, "PDPTE: PWT, PCD, ignored 11:9"},
	    {0x3001 | BIT(1), 2, PT_RESERVED, "PDPTE bit 1 (R/W) reserved (table 4-8)"},
	    {0x3001 | BIT(2), 2, PT_RESERVED, "PDPTE bit 2 (U/S) reserved"},
	    {0x3001 | BIT(5), 2, PT_RESERVED, "PDPTE bit 5 reserved"},
	    {0x3001 | BIT(6), 2, PT_RESERVED, "PDPTE bit 6 reserved"},
	    {0x3001 | BIT(7), 2, PT_RESERVED, "PDPTE bit 7 reserved: no 1G pages"},
	    {0x3001 | BIT(8), 2, PT_RESERVED, "PDPTE bit 8 reserved"},
	    {0x3001 | BIT(51), 2, PT_TABLE, "PDPTE bit 51 is address"},
	    {0x3001 | BIT(52), 2, PT_RESERVED, "PDPTE bit 52 (63:M reserved)"},
	    {0x3001 | BIT(63), 2, PT_RESERVED, "PDPTE bit 63: no XD in a PDPTE"},
	    {0x200083, 1, PT_LEAF, "2M leaf"},
	    {0x200083 | BIT(12) | BIT(63), 1, PT_LEAF, "2M leaf: PAT, XD"},
	    {0x200083 | BIT(13), 1, PT_RESERVED, "2M leaf bit 13 (table 4-9)"},
	    {0x200083 | BIT(20), 1, PT_RESERVED, "2M leaf bit 20 (table 4-9)"},
	    {0x200083 | BIT(52), 1, PT_RESERVED, "2M leaf bit 52 (62:M reserved)"},
	    {0x200083 | BIT(62), 1, PT_RESERVED, "2M leaf bit 62"},
	    {0x4007 | BIT(13) | BIT(63), 1, PT_TABLE, "PDE -> PT: bit 13 address, XD"},
	    {0x4007 | BIT(59), 1, PT_RESERVED, "PDE -> PT bit 59 (table 4-10)"},
	    {0x1083 | BIT(63), 0, PT_LEAF, "PTE: PAT, XD"},
	    {0x1083 | BIT(55), 0, PT_RESERVED, "PTE bit 55 (table 4-11)"},
	    {0x1083 | BIT(59), 0, PT_RESERVED, "PTE bit 59: no protection keys in PAE"},
	};
	check_kinds(fmt_pae, k, NELEM(k));

	struct physim_pt_format m36 = with_pa_bits(fmt_pae, 36);
	static const struct kcase k36[] = {
	    {0x1003 | BIT(36), 0, PT_RESERVED, "PTE bit 36"},
	    {0x1003 | BIT(35), 0, PT_LEAF, "PTE bit 35 is address"},
	    {0x3001 | BIT(40), 2, PT_RESERVED, "PDPTE bit 40"},
	    {0x200083 | BIT(36), 1, PT_RESERVED, "2M leaf bit 36"},
	};
	check_kinds(&m36, k36, NELEM(k36));

	assert_int_equal(out_addr(fmt_pae, 0x000ffffffffff019, 2), 0x000ffffffffff000);
	assert_int_equal(out_addr(fmt_pae, 0x7fe01185, 1), 0x7fe00000);
	assert_int_equal(out_addr(fmt_pae, 0x8000fffffffff003, 0), 0x0000fffffffff000);
}

static void test_classify_i386(void **state)
{
	(void)state;
	/* SDM Vol. 3A 4.3, tables 4-4..4-6; M = 40 (PSE-36). */
	static const struct kcase k[] = {
	    {0, 1, PT_INVALID, "zero"},
	    {0xfffffffe, 1, PT_INVALID, "everything but P"},
	    {0x123007, 1, PT_TABLE, "PDE -> PT"},
	    {0xffffff7f, 1, PT_TABLE, "PDE -> PT: every bit but PS"},
	    {0x00c00083, 1, PT_LEAF, "4M leaf"},
	    {0x00c00083 | BIT(21), 1, PT_RESERVED, "4M leaf bit 21 (table 4-4, M = 40)"},
	    {0x00c00083 | 0x1ff000, 1, PT_LEAF, "4M leaf: PAT and PA 39:32"},
	    {0xffffffff, 0, PT_LEAF, "PTE: nothing reserved"},
	};
	check_kinds(fmt_i386, k, NELEM(k));

	/* M = 36: bits 21:17 reserved; M = 32 (no PSE-36): 21:13. */
	struct physim_pt_format m36 = with_pa_bits(fmt_i386, 36);
	struct physim_pt_format m32 = with_pa_bits(fmt_i386, 32);
	static const struct kcase k36[] = {
	    {0x00c00083 | BIT(17), 1, PT_RESERVED, "M=36: bit 17"},
	    {0x00c00083 | BIT(16), 1, PT_LEAF, "M=36: bit 16 is PA bit 35"},
	};
	static const struct kcase k32[] = {
	    {0x00c00083 | BIT(13), 1, PT_RESERVED, "M=32: bit 13"},
	    {0x00c00083 | BIT(12), 1, PT_LEAF, "M=32: bit 12 is PAT"},
	};
	check_kinds(&m36, k36, NELEM(k36));
	check_kinds(&m32, k32, NELEM(k32));

	assert_int_equal(out_addr(fmt_i386, 0xffd56083, 1), UINT64_C(0xabffc00000));
	assert_int_equal(out_addr(fmt_i386, 0xffdfe0e3, 1), UINT64_C(0xffffc00000));
	assert_int_equal(out_addr(fmt_i386, 0x00c01081, 1), 0x00c00000);
	assert_int_equal(out_addr(fmt_i386, 0xffffffff, 0), 0xfffff000);
	assert_int_equal(out_addr(fmt_i386, 0x123007, 1), 0x123000);
	assert_int_equal(out_addr(&m36, 0xffd56083, 1), UINT64_C(0xbffc00000));
	assert_int_equal(out_addr(&m32, 0xffd56083, 1), UINT64_C(0xffc00000));
}

static void test_classify_ept(void **state)
{
	(void)state;
	/* SDM Vol. 3C 29.3.2 (formats) and 29.3.3.1 (misconfigurations). */
	static const struct kcase k[] = {
	    {0, 0, PT_INVALID, "zero"},
	    {~UINT64_C(7), 0, PT_INVALID, "bits 2:0 clear"},
	    {~UINT64_C(7), 3, PT_INVALID, "bits 2:0 clear, PML4E"},
	    {0x1032, 0, PT_RESERVED, "write-only PTE"},
	    {0x1036, 0, PT_RESERVED, "write/execute PTE"},
	    {0x1002, 3, PT_RESERVED, "write-only PML4E"},
	    {0x1006, 1, PT_RESERVED, "write/execute PDE"},
	    {0x10b2, 1, PT_RESERVED, "write-only 2M leaf"},
	    {0x1034, 0, PT_LEAF, "execute-only PTE"},
	    {0x1004, 1, PT_TABLE, "execute-only PDE -> PT"},
	    {0x1007, 3, PT_TABLE, "PML4E"},
	    {0x1407 | BIT(8) | BIT(9) | BIT(11) | UINT64_C(0xfff0000000000000), 3, PT_TABLE,
	     "PML4E: user-exec, A, ignored 9, 11, 63:52"},
	    {0x1007 | BIT(3), 3, PT_RESERVED, "PML4E bit 3 (7:3 reserved)"},
	    {0x1007 | BIT(6), 3, PT_RESERVED, "PML4E bit 6"},
	    {0x1007 | BIT(7), 3, PT_RESERVED, "PML4E bit 7"},
	    {0x1007 | BIT(4), 2, PT_RESERVED, "PDPTE -> PD bit 4 (6:3 reserved)"},
	    {0x1007 | BIT(5), 1, PT_RESERVED, "PDE -> PT bit 5"},
	    {0x1007 | BIT(6), 1, PT_RESERVED, "PDE -> PT bit 6"},
	    {0x1007 | BIT(13), 1, PT_TABLE, "PDE -> PT bit 13 is address"},
	    {0x1007 | (0 << 3), 0, PT_LEAF, "memory type 0 (UC)"},
	    {0x1007 | (1 << 3), 0, PT_LEAF, "memory type 1 (WC)"},
	    {0x1007 | (2 << 3), 0, PT_RESERVED, "memory type 2"},
	    {0x1007 | (3 << 3), 0, PT_RESERVED, "memory type 3"},
	    {0x1007 | (4 << 3), 0, PT_LEAF, "memory type 4 (WT)"},
	    {0x1007 | (5 << 3), 0, PT_LEAF, "memory type 5 (WP)"},
	    {0x1007 | (6 << 3), 0, PT_LEAF, "memory type 6 (WB)"},
	    {0x1007 | (7 << 3), 0, PT_RESERVED, "memory type 7"},
	    {0x200087 | (2 << 3), 1, PT_RESERVED, "2M leaf memory type 2"},
	    {0x40000087 | (7 << 3), 2, PT_RESERVED, "1G leaf memory type 7"},
	    {0x10b7, 0, PT_LEAF, "PTE bit 7 ignored"},
	    {0x2000b7, 1, PT_LEAF, "2M leaf"},
	    {0x2000b7 | BIT(12), 1, PT_RESERVED, "2M leaf bit 12 (20:12 reserved)"},
	    {0x2000b7 | BIT(20), 1, PT_RESERVED, "2M leaf bit 20"},
	    {0x2000b7 | BIT(21), 1, PT_LEAF, "2M leaf bit 21 is address"},
	    {0x400000b7, 2, PT_LEAF, "1G leaf"},
	    {0x400000b7 | BIT(12), 2, PT_RESERVED, "1G leaf bit 12 (29:12 reserved)"},
	    {0x400000b7 | BIT(29), 2, PT_RESERVED, "1G leaf bit 29"},
	    {0x1037 | UINT64_C(0xfff0000000000000) | BIT(6) | BIT(8) | BIT(9) | BIT(10) | BIT(11),
	     0, PT_LEAF, "PTE: IPAT, A, D, user-exec, ignored, SVE"},
	};
	check_kinds(fmt_ept4, k, NELEM(k));
	check_kinds(fmt_ept5, k, NELEM(k));

	static const struct kcase k5[] = {
	    {0x1007, 4, PT_TABLE, "PML5E"},
	    {0x1087, 4, PT_RESERVED, "PML5E bit 7"},
	    {0x1002, 4, PT_RESERVED, "write-only PML5E"},
	};
	check_kinds(fmt_ept5, k5, NELEM(k5));

	/* N = 40: bits 51:40 reserved in every entry. */
	struct physim_pt_format n40 = with_pa_bits(fmt_ept4, 40);
	static const struct kcase k40[] = {
	    {0x1037 | BIT(40), 0, PT_RESERVED, "PTE bit 40"},
	    {0x1037 | BIT(39), 0, PT_LEAF, "PTE bit 39 is address"},
	    {0x1037 | BIT(52), 0, PT_LEAF, "PTE bit 52 ignored"},
	    {0x1007 | BIT(51), 3, PT_RESERVED, "PML4E bit 51"},
	    {0x2000b7 | BIT(45), 1, PT_RESERVED, "2M leaf bit 45"},
	};
	check_kinds(&n40, k40, NELEM(k40));

	assert_int_equal(out_addr(fmt_ept4, 0x80000000002004ef, 1), 0x200000);
	assert_int_equal(out_addr(fmt_ept4, ~UINT64_C(0) & ~UINT64_C(0x80), 0), 0x000ffffffffff000);
	assert_int_equal(out_addr(fmt_ept4, 0x5407, 3), 0x5000);
	assert_int_equal(out_addr(fmt_ept4, 0x000fffffc00000b4, 2), 0x000fffffc0000000);
	assert_int_equal(out_addr(&n40, 0x000ffffffffff037, 0), 0x000000fffffff000);
}

/* ---- exhaustive round trips against an oracle written from the SDM ---- */

/* What an x86 (IA-32 paging) leaf must be: mode 0 = 4/5-level, 1 = PAE,
 * 2 = 32-bit. Returns false if the combination cannot be expressed. */
struct expect {
	uint64_t d;
	uint32_t flags;
	uint64_t arch;
};

static bool oracle_ia32(int mode, uint32_t flags, uint64_t arch, unsigned level, uint64_t pa,
			bool acc, bool dirty, struct expect *e)
{
	const uint64_t pwt = BIT(3), pcd = BIT(4), pat = BIT(7), g = BIT(8);
	const uint64_t pk = mode == 0 ? UINT64_C(0xf) << 59 : 0;
	uint64_t mt = arch & (pwt | pcd | pat), want_mt;
	bool dev = flags & DEV, unc = flags & UNC;

	if ((flags & ~(uint32_t)ALL_FLAGS) || !(flags & R) || (dev && unc))
		return false;
	if (mode == 2 && !(flags & X)) /* no XD in 32-bit paging */
		return false;
	if (arch & ~(pwt | pcd | pat | g | pk))
		return false;
	/* The one memory-type rule (pt.h): PAT indexes 0, 2 and 3 (WB, UC-,
	 * UC with the power-on PAT) only through the flags, the others only
	 * raw in arch and without a memory-type flag. */
	want_mt = dev ? (pcd | pwt) : unc ? pcd : 0;
	if (mt != 0 && (dev || unc || mt == pcd || mt == (pcd | pwt)))
		return false;
	if (mt == 0)
		mt = want_mt;

	e->d = BIT(0) | (arch & (g | pk));
	e->d |= (flags & W) ? BIT(1) : 0;
	e->d |= (flags & U) ? BIT(2) : 0;
	e->d |= mt & (pwt | pcd);
	e->d |= acc ? BIT(5) : 0;
	e->d |= dirty ? BIT(6) : 0;
	e->d |= (mode != 2 && !(flags & X)) ? BIT(63) : 0;
	if (level == 0) {
		e->d |= (mt & pat) | pa;
	} else {
		e->d |= BIT(7) | ((mt & pat) ? BIT(12) : 0);
		e->d |= mode == 2 ? (pa & 0xffc00000) | ((pa >> 32) << 13) : pa;
	}

	e->flags = flags & (R | W | X | U);
	if (mode == 2)
		e->flags |= X;
	e->arch = arch & (g | pk);
	if (mt == (pcd | pwt))
		e->flags |= DEV;
	else if (mt == pcd)
		e->flags |= UNC;
	else
		e->arch |= mt;
	return true;
}

/* What an EPT leaf must be (29.3.2, 29.3.3.1; physim WB/UC/WC convention). */
static bool oracle_ept(uint32_t flags, uint64_t arch, unsigned level, uint64_t pa, bool acc,
		       bool dirty, struct expect *e)
{
	uint64_t mt = (arch >> 3) & 7, want_mt;
	bool r = flags & R, w = flags & W, x = flags & X, dev = flags & DEV, unc = flags & UNC;

	if ((flags & ~(uint32_t)ALL_FLAGS) || (!r && !w && !x) || (w && !r) || (dev && unc))
		return false;
	if (arch & ~((UINT64_C(7) << 3) | BIT(6) | BIT(10) | BIT(63)))
		return false;
	/* The one memory-type rule: UC (DEVICE), WC (UNCACHED) and WB (the
	 * default) through the flags only; WT and WP raw, without a flag. */
	want_mt = dev ? 0 : unc ? 1 : 6;
	if (mt != 0 && (dev || unc || mt == 1 || mt == 6))
		return false;
	if (mt == 2 || mt == 3 || mt == 7)
		return false;
	if (mt == 0)
		mt = want_mt;

	e->d = pa | (r ? 1 : 0) | (w ? 2 : 0) | (x ? 4 : 0) | (mt << 3);
	e->d |= arch & (BIT(6) | BIT(10) | BIT(63));
	e->d |= level > 0 ? BIT(7) : 0;
	e->d |= acc ? BIT(8) : 0;
	e->d |= dirty ? BIT(9) : 0;

	e->flags = flags & (R | W | X);
	e->arch = arch & (BIT(6) | BIT(10) | BIT(63));
	if (mt == 0)
		e->flags |= DEV;
	else if (mt == 1)
		e->flags |= UNC;
	else if (mt != 6)
		e->arch |= mt << 3;
	return true;
}

/* A PA for a leaf at `level`, high enough to exercise the top address bits
 * the format has there. */
static uint64_t test_pa(const struct physim_pt_format *f, unsigned level)
{
	if (f == fmt_i386)
		return level == 0 ? 0xabcde000 : UINT64_C(0xa5ffc00000);
	return UINT64_C(0x000a5a5a5a5a5000) & ~(pt_level_page_size(f, level) - 1);
}

/* Every subset of the generic flags (and of a few extra bits) x every subset
 * of the arch mask x accessed/dirty, at every leaf level; returns how many
 * (flags, arch=0, a/d=0) combinations were accepted per level. */
static unsigned round_trip(const struct physim_pt_format *f, int mode)
{
	unsigned accepted_plain = 0;
	uint64_t mask = f->arch_attr_mask;
	unsigned nbits = 0;
	uint64_t bitpos[16];

	for (unsigned b = 0; b < 64; b++)
		if (mask & BIT(b))
			bitpos[nbits++] = b;

	for (unsigned level = 0; level < f->levels; level++) {
		if (!f->level[level].leaf_ok)
			continue;
		uint64_t pa = test_pa(f, level);
		for (uint32_t flags = 0; flags < 0x80; flags++)
			for (uint64_t s = 0; s < (UINT64_C(1) << nbits); s++)
				for (unsigned ad = 0; ad < 4; ad++) {
					uint64_t arch = 0, d = 0x77;
					for (unsigned i = 0; i < nbits; i++)
						if (s & BIT(i))
							arch |= BIT(bitpos[i]);
					bool acc = ad & 1, dirty = ad & 2;
					struct expect e;
					bool ok = mode < 0 ? oracle_ept(flags, arch, level, pa, acc,
									dirty, &e)
							   : oracle_ia32(mode, flags, arch, level,
									 pa, acc, dirty, &e);
					int rc = enc_ad(f, pa, flags, arch, level, acc, dirty, &d);
					if (ok != (rc == 0) || (ok && d != e.d))
						print_error("%s L%u flags %#x arch %#" PRIx64
							    " a/d %u: rc %d d %#" PRIx64
							    " want %#" PRIx64 "\n",
							    f->name, level, flags, arch, ad, rc, d,
							    ok ? e.d : 0);
					if (!ok) {
						assert_int_equal(rc, -ENOTSUP);
						continue;
					}
					assert_int_equal(rc, 0);
					assert_int_equal(d, e.d);
					if (arch == 0 && ad == 0 && level == 0)
						accepted_plain++;

					struct pt_leaf_attr a;
					uint64_t d2 = 0;
					f->ops->decode_leaf(f, d, level, &a);
					assert_int_equal(a.flags, e.flags);
					assert_int_equal(a.arch, e.arch);
					assert_int_equal(a.accessed, acc);
					assert_int_equal(a.dirty, dirty);
					/* encode(decode(d)) == d */
					assert_int_equal(f->ops->encode_leaf(f, pa, &a, level, &d2),
							 0);
					assert_int_equal(d2, d);
					assert_int_equal(kind(f, d, level), PT_LEAF);
					assert_int_equal(out_addr(f, d, level), pa);
				}
	}
	return accepted_plain;
}

static void test_round_trip(void **state)
{
	(void)state;
	/* Counted by hand over the 64 subsets of R W X U DEVICE UNCACHED:
	 * x86: R required, DEVICE+UNCACHED excluded: 32 - 8 = 24.
	 * 32-bit paging: R and X required: 16 - 4 = 12.
	 * EPT: permissions R, RW, X, RX, RWX (5) x U on/off (2) x memory
	 * type default/DEVICE/UNCACHED (3) = 30. */
	assert_int_equal(round_trip(fmt_4l, 0), 24);
	assert_int_equal(round_trip(fmt_5l, 0), 24);
	assert_int_equal(round_trip(fmt_pae, 1), 24);
	assert_int_equal(round_trip(fmt_i386, 2), 12);
	assert_int_equal(round_trip(fmt_ept4, -1), 30);
	assert_int_equal(round_trip(fmt_ept5, -1), 30);
}

/* ---- format objects: geometry and the format list ---- */

static void test_geometry(void **state)
{
	(void)state;
	struct {
		const struct physim_pt_format *f;
		const char *name;
		unsigned levels, pte_bytes, va_bits, pa_bits;
		bool sext, stage2;
		uint64_t page_sizes; /* bit n: 2^n-byte leaves */
	} t[] = {
	    {fmt_4l, "x86_64-4l", 4, 8, 48, 52, true, false, BIT(12) | BIT(21) | BIT(30)},
	    {fmt_5l, "x86_64-5l", 5, 8, 57, 52, true, false, BIT(12) | BIT(21) | BIT(30)},
	    {fmt_ept4, "ept-4l", 4, 8, 48, 52, false, true, BIT(12) | BIT(21) | BIT(30)},
	    {fmt_ept5, "ept-5l", 5, 8, 57, 52, false, true, BIT(12) | BIT(21) | BIT(30)},
	    {fmt_i386, "i386-2l", 2, 4, 32, 40, false, false, BIT(12) | BIT(22)},
	    {fmt_pae, "i386-pae", 3, 8, 32, 52, false, false, BIT(12) | BIT(21)},
	};
	for (size_t i = 0; i < NELEM(t); i++) {
		const struct physim_pt_format *f = t[i].f;
		uint64_t sizes = 0;
		unsigned shift = 12;

		assert_string_equal(f->name, t[i].name);
		assert_ptr_equal(physim_format(t[i].name), f);
		assert_int_equal(f->arch, PHYSIM_ARCH_X86_64);
		assert_int_equal(f->levels, t[i].levels);
		assert_int_equal(f->pte_bytes, t[i].pte_bytes);
		assert_int_equal(f->va_bits, t[i].va_bits);
		assert_int_equal(f->pa_bits, t[i].pa_bits);
		assert_int_equal(f->sign_extended, t[i].sext);
		assert_int_equal(f->stage2, t[i].stage2);
		assert_false(f->set_accessed_on_map); /* hardware sets A/D (4.8, 29.3.4) */
		assert_false(f->set_dirty_on_map);
		assert_non_null(f->description);
		/* Levels tile the input address: each starts where the one
		 * below ends, the root ends at va_bits. */
		for (unsigned l = 0; l < f->levels; l++) {
			assert_int_equal(f->level[l].shift, shift);
			shift += f->level[l].index_bits;
			if (f->level[l].leaf_ok)
				sizes |= BIT(f->level[l].shift);
		}
		assert_int_equal(shift, f->va_bits);
		assert_int_equal(sizes, t[i].page_sizes);
		for (unsigned l = f->levels; l < PHYSIM_PT_MAX_LEVELS; l++)
			assert_int_equal(f->level[l].index_bits, 0);
		/* Every table fits in one 4 KiB frame (the PAE PDPT is 32 bytes). */
		assert_int_equal(pt_table_frames(f, f->levels - 1), 1);
		assert_int_equal(f->flags_supported, t[i].stage2 ? (R | W | X | DEV | UNC)
								 : (R | W | X | U | DEV | UNC));
	}
	/* Intel's numbering for fault reports: PT = 1 .. PML5 = 5 (SDM 4.5). */
	assert_int_equal(x86_arch_level(0), 1);
	assert_int_equal(x86_arch_level(4), 5);

	/* What physim_format_get_info reports (pt.h). */
	struct physim_pt_format_info info;
	physim_format_get_info(fmt_pae, &info);
	assert_int_equal(info.root_bytes, 32); /* 4 PDPTEs, 32-byte aligned (SDM 4.4.1) */
	assert_int_equal(info.root_align, 32);
	assert_int_equal(info.page_sizes, BIT(12) | BIT(21));
	physim_format_get_info(fmt_i386, &info);
	assert_int_equal(info.root_bytes, 4096);
	assert_int_equal(info.level[1].table_bytes, 4096);
	assert_int_equal(info.page_sizes, BIT(12) | BIT(22));
	physim_format_get_info(fmt_ept5, &info);
	assert_int_equal(info.levels, 5);
	assert_true(info.stage2);
	assert_int_equal(info.page_sizes, BIT(12) | BIT(21) | BIT(30));
	assert_int_equal(info.arch_attr_mask, 0x8000000000000478);
	assert_int_equal(pt_table_bytes(fmt_pae, 2), 32);
	assert_int_equal(pt_table_bytes(fmt_i386, 1), 4096);
	assert_int_equal(fmt_4l->arch_attr_mask, 0x7800000000000198);
	assert_int_equal(fmt_pae->arch_attr_mask, 0x198);
	assert_int_equal(fmt_i386->arch_attr_mask, 0x198);
	assert_int_equal(fmt_ept4->arch_attr_mask, 0x8000000000000478);
}

/* ---- through the engine: descriptors as they lie in simulated RAM ---- */

#define RAM_BASE UINT64_C(0x80000000)
#define RAM_SIZE (UINT64_C(16) << 20)

struct ram_pt {
	struct tc_env env; /* RAM, handler, direct map (tests/common/env.h) */
	struct physim_pt *pt;
};

static void ram_pt_open(struct ram_pt *r, const struct physim_pt_format *f)
{
	tc_env_open(&r->env, RAM_BASE, RAM_SIZE);
	assert_int_equal(physim_pt_create(f, r->env.ph, &r->pt), 0);
	assert_int_equal(physim_ram_stats(r->env.ram).used_frames, 1); /* the root */
}

/* Destroy the table and check every table frame came back. */
static void ram_pt_close(struct ram_pt *r)
{
	physim_pt_destroy(r->pt);
	assert_int_equal(physim_ram_stats(r->env.ram).used_frames, 0);
	tc_env_close(&r->env);
}

/* The raw descriptor at index idx of the table at table_pa (4 or 8 bytes,
 * little-endian as x86 stores it), read straight from RAM. */
static uint64_t ram_desc(const struct ram_pt *r, uint64_t table_pa, uint64_t idx, unsigned bytes)
{
	const uint8_t *p =
	    physim_dm_phys_to_virt_checked(&r->env.dm, table_pa + idx * bytes, bytes);
	uint64_t d = 0;
	assert_non_null(p);
	for (unsigned i = 0; i < bytes; i++)
		d |= (uint64_t)p[i] << (8 * i);
	return d;
}

/* A table pointer written by the engine: `low` in bits 11:0, nothing above
 * bit 51, and a 4 KiB-aligned table frame inside the RAM that is allocated.
 * Returns the table's address. */
static uint64_t expect_table_ptr(const struct ram_pt *r, uint64_t d, uint64_t low)
{
	uint64_t next = d & UINT64_C(0x000ffffffffff000);
	assert_int_equal(d & 0xfff, low);
	assert_int_equal(d & ~UINT64_C(0x000fffffffffffff), 0);
	assert_true(next >= RAM_BASE && next < RAM_BASE + RAM_SIZE);
	assert_int_equal(physim_ram_frame_in_use(r->env.ram, next), 1);
	return next;
}

/* 4-level paging walked by hand (SDM Vol. 3A 4.5.4): PML4 index = VA 47:39,
 * PDPT 38:30, PD 29:21, PT 20:12; every table pointer is P|RW|US. */
static void test_ram_x86_64_4l(void **state)
{
	(void)state;
	struct ram_pt r;
	ram_pt_open(&r, fmt_4l);
	const uint64_t va4k = UINT64_C(0x00007f1234567000);
	const uint64_t va2m = UINT64_C(0x0000000040200000);
	const uint64_t va1g = UINT64_C(0xffff800000000000); /* upper half */

	assert_int_equal(physim_pt_map(r.pt, va4k, 0x12345000, PHYSIM_SIZE_4K, R | W | U), 0);
	struct physim_pt_mapping m2 = {.va = va2m,
				       .pa = 0x40200000,
				       .size = PHYSIM_SIZE_2M,
				       .flags = R | X,
				       .arch = BIT(7) | BIT(8)};
	assert_int_equal(physim_pt_map_ex(r.pt, &m2, 0), 0);
	assert_int_equal(physim_pt_map(r.pt, va1g, 0xc0000000, PHYSIM_SIZE_1G, R | W | X | DEV), 0);

	uint64_t pml4 = physim_pt_root(r.pt);
	assert_true(pml4 >= RAM_BASE && pml4 < RAM_BASE + RAM_SIZE);

	/* 4K: 0x7f1234567000 -> PML4 254, PDPT 0x48, PD 0x1a2, PT 0x167. */
	uint64_t pdpt = expect_table_ptr(&r, ram_desc(&r, pml4, 254, 8), 0x007);
	uint64_t pd = expect_table_ptr(&r, ram_desc(&r, pdpt, 0x48, 8), 0x007);
	uint64_t pt = expect_table_ptr(&r, ram_desc(&r, pd, 0x1a2, 8), 0x007);
	assert_int_equal(ram_desc(&r, pt, 0x167, 8), 0x8000000012345007); /* P|RW|US|XD */
	assert_int_equal(ram_desc(&r, pt, 0x166, 8), 0);
	assert_int_equal(ram_desc(&r, pt, 0x168, 8), 0);

	/* 2M: 0x40200000 -> PML4 0, PDPT 1, PD 1; PAT at bit 12, G, PS. */
	pdpt = expect_table_ptr(&r, ram_desc(&r, pml4, 0, 8), 0x007);
	pd = expect_table_ptr(&r, ram_desc(&r, pdpt, 1, 8), 0x007);
	assert_int_equal(ram_desc(&r, pd, 1, 8), 0x0000000040201181);

	/* 1G: 0xffff800000000000 -> PML4 256, PDPT 0; device = PCD|PWT, PS. */
	pdpt = expect_table_ptr(&r, ram_desc(&r, pml4, 256, 8), 0x007);
	assert_int_equal(ram_desc(&r, pdpt, 0, 8), 0x00000000c000009b);

	/* Tables: PML4 + 3 PDPTs + 2 PDs + 1 PT. */
	assert_int_equal(physim_pt_table_frames(r.pt), 7);
	assert_int_equal(physim_ram_stats(r.env.ram).used_frames, 7);

	/* Query reports what the descriptors say. */
	struct physim_pt_mapping q;
	assert_int_equal(physim_pt_query(r.pt, va2m + 0x1234, &q), 0);
	assert_int_equal(q.pa, 0x40200000);
	assert_int_equal(q.size, PHYSIM_SIZE_2M);
	assert_int_equal(q.flags, R | X);
	assert_int_equal(q.arch, BIT(7) | BIT(8));
	assert_int_equal(q.level, 1);
	assert_int_equal(physim_pt_query(r.pt, va1g + 0x12345678, &q), 0);
	assert_int_equal(q.flags, R | W | X | DEV);
	assert_int_equal(q.arch, 0);

	/* Things x86 cannot express are refused and change nothing. */
	assert_int_equal(physim_pt_map(r.pt, 0x1000, 0x1000, PHYSIM_SIZE_4K, W), -ENOTSUP);
	assert_int_equal(physim_pt_map(r.pt, 0x1000, BIT(52), PHYSIM_SIZE_4K, R), -EINVAL);
	assert_int_equal(physim_pt_table_frames(r.pt), 7);

	/* A huge-page region: 2M-aligned 4 MiB + 4 KiB = two PDEs and a PTE. */
	assert_int_equal(
	    physim_pt_map_region(r.pt, 0x600000, 0x1600000, 0x401000, R | W, PHYSIM_ALLOW_HUGE), 0);
	/* 0x600000: PML4 0, PDPT 0, PD 3 and 4, then PD 5 -> PT 0. */
	pdpt = expect_table_ptr(&r, ram_desc(&r, pml4, 0, 8), 0x007);
	pd = expect_table_ptr(&r, ram_desc(&r, pdpt, 0, 8), 0x007);
	assert_int_equal(ram_desc(&r, pd, 3, 8), 0x8000000001600083);
	assert_int_equal(ram_desc(&r, pd, 4, 8), 0x8000000001800083);
	pt = expect_table_ptr(&r, ram_desc(&r, pd, 5, 8), 0x007);
	assert_int_equal(ram_desc(&r, pt, 0, 8), 0x8000000001a00003);
	assert_int_equal(ram_desc(&r, pt, 1, 8), 0);

	/* Protect the first 4 KiB of the first 2M page: the engine splits it
	 * into a PT; the other 511 entries keep R/W and XD. */
	assert_int_equal(physim_pt_protect_region(r.pt, 0x600000, PHYSIM_SIZE_4K, R | X), 0);
	pt = expect_table_ptr(&r, ram_desc(&r, pd, 3, 8), 0x007);
	assert_int_equal(ram_desc(&r, pt, 0, 8), 0x0000000001600001);
	assert_int_equal(ram_desc(&r, pt, 1, 8), 0x8000000001601003);
	assert_int_equal(ram_desc(&r, pt, 511, 8), 0x80000000017ff003);

	ram_pt_close(&r);
}

/* Splitting a 2M page with PAT set: PAT moves from bit 12 to bit 7. */
static void test_ram_split_pat(void **state)
{
	(void)state;
	struct ram_pt r;
	ram_pt_open(&r, fmt_4l);
	struct physim_pt_mapping m = {
	    .va = 0x200000, .pa = 0x200000, .size = PHYSIM_SIZE_2M, .flags = R | W, .arch = BIT(7)};
	assert_int_equal(physim_pt_map_ex(r.pt, &m, 0), 0);
	uint64_t pml4 = physim_pt_root(r.pt);
	uint64_t pdpt = expect_table_ptr(&r, ram_desc(&r, pml4, 0, 8), 0x007);
	uint64_t pd = expect_table_ptr(&r, ram_desc(&r, pdpt, 0, 8), 0x007);
	assert_int_equal(ram_desc(&r, pd, 1, 8), 0x8000000000201083);

	assert_int_equal(physim_pt_unmap_region(r.pt, 0x3ff000, PHYSIM_SIZE_4K), 0);
	uint64_t pt = expect_table_ptr(&r, ram_desc(&r, pd, 1, 8), 0x007);
	assert_int_equal(ram_desc(&r, pt, 0, 8), 0x8000000000200083);
	assert_int_equal(ram_desc(&r, pt, 510, 8), 0x80000000003fe083);
	assert_int_equal(ram_desc(&r, pt, 511, 8), 0);
	ram_pt_close(&r);
}

/* 5-level paging: PML5 index = VA 56:48 (SDM 4.5.4). */
static void test_ram_x86_64_5l(void **state)
{
	(void)state;
	struct ram_pt r;
	ram_pt_open(&r, fmt_5l);
	const uint64_t va = UINT64_C(0x00abcdef12345000); /* PML5 0xab, PML4 0x19b */

	assert_int_equal(physim_pt_map(r.pt, va, 0x000ffffffffff000, PHYSIM_SIZE_4K, R | W | X), 0);
	uint64_t t = physim_pt_root(r.pt);
	t = expect_table_ptr(&r, ram_desc(&r, t, 0xab, 8), 0x007);
	t = expect_table_ptr(&r, ram_desc(&r, t, 0x19b, 8), 0x007);
	t = expect_table_ptr(&r, ram_desc(&r, t, 0x1bc, 8), 0x007);
	t = expect_table_ptr(&r, ram_desc(&r, t, 0x091, 8), 0x007);
	assert_int_equal(ram_desc(&r, t, 0x145, 8), 0x000ffffffffff003);
	/* Bit 56 without sign extension is not a canonical 57-bit address. */
	assert_int_equal(physim_pt_map(r.pt, BIT(56), 0, PHYSIM_SIZE_4K, R), -EINVAL);
	ram_pt_close(&r);
}

/* EPT: GPA 47:39 / 38:30 / 29:21 / 20:12 index the tables (29.3.2);
 * pointers are R|W|X|user-exec (0x407). */
static void test_ram_ept(void **state)
{
	(void)state;
	struct ram_pt r;
	ram_pt_open(&r, fmt_ept4);
	assert_int_equal(physim_pt_map(r.pt, 0x80001000, 0x12345000, PHYSIM_SIZE_4K, R | W | U), 0);
	assert_int_equal(physim_pt_map(r.pt, 0xfee00000, 0xfee00000, PHYSIM_SIZE_2M, R | W | DEV),
			 0);
	struct physim_pt_mapping m = {.va = UINT64_C(0x0000ffffc0000000),
				      .pa = 0x40000000,
				      .size = PHYSIM_SIZE_1G,
				      .flags = X,
				      .arch = (4 << 3) | BIT(6)};
	assert_int_equal(physim_pt_map_ex(r.pt, &m, 0), 0);

	uint64_t pml4 = physim_pt_root(r.pt);
	/* 0x80001000: PML4 0, PDPT 2, PD 0, PT 1. */
	uint64_t pdpt = expect_table_ptr(&r, ram_desc(&r, pml4, 0, 8), 0x407);
	uint64_t pd = expect_table_ptr(&r, ram_desc(&r, pdpt, 2, 8), 0x407);
	uint64_t pt = expect_table_ptr(&r, ram_desc(&r, pd, 0, 8), 0x407);
	assert_int_equal(ram_desc(&r, pt, 1, 8), 0x12345033); /* R|W, WB */
	/* 0xfee00000: PML4 0, PDPT 3, PD 0x1f7: UC, large. */
	pd = expect_table_ptr(&r, ram_desc(&r, pdpt, 3, 8), 0x407);
	assert_int_equal(ram_desc(&r, pd, 0x1f7, 8), 0xfee00083);
	/* 0xffffc0000000: PML4 511, PDPT 511: execute-only, WT, IPAT. */
	pdpt = expect_table_ptr(&r, ram_desc(&r, pml4, 511, 8), 0x407);
	assert_int_equal(ram_desc(&r, pdpt, 511, 8), 0x400000e4);

	/* Misconfigurations are refused; GPAs are not sign-extended. */
	assert_int_equal(physim_pt_map(r.pt, 0x1000, 0x1000, PHYSIM_SIZE_4K, W | X), -ENOTSUP);
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(0xffff800000000000), 0, PHYSIM_SIZE_4K, R),
			 -EINVAL);
	struct physim_pt_mapping q;
	assert_int_equal(physim_pt_query(r.pt, 0x80001000, &q), 0);
	assert_int_equal(q.flags, R | W); /* U is not reported at stage 2 */
	ram_pt_close(&r);

	ram_pt_open(&r, fmt_ept5);
	assert_int_equal(
	    physim_pt_map(r.pt, UINT64_C(0x01ff000000000000), 0x5000, PHYSIM_SIZE_4K, R | X), 0);
	uint64_t t = physim_pt_root(r.pt);
	t = expect_table_ptr(&r, ram_desc(&r, t, 0x1ff, 8), 0x407);
	for (int i = 0; i < 3; i++)
		t = expect_table_ptr(&r, ram_desc(&r, t, 0, 8), 0x407);
	assert_int_equal(ram_desc(&r, t, 0, 8), 0x5035);
	ram_pt_close(&r);
}

/* 32-bit paging: 4-byte entries; PD index = VA 31:22, PT 21:12 (SDM 4.3). */
static void test_ram_i386(void **state)
{
	(void)state;
	struct ram_pt r;
	ram_pt_open(&r, fmt_i386);
	assert_int_equal(physim_pt_map(r.pt, 0xc0001000, 0x00abc000, PHYSIM_SIZE_4K, R | X | U), 0);
	assert_int_equal(
	    physim_pt_map(r.pt, 0xffc00000, UINT64_C(0xabffc00000), 4u << 20, R | W | X), 0);
	uint64_t pd = physim_pt_root(r.pt);
	/* 0xc0001000: PD 0x300, PT 1. */
	uint64_t pde = ram_desc(&r, pd, 0x300, 4);
	uint64_t pt = expect_table_ptr(&r, pde, 0x007);
	assert_true(pde < BIT(32));
	assert_int_equal(ram_desc(&r, pt, 1, 4), 0x00abc005);
	assert_int_equal(ram_desc(&r, pt, 0, 4), 0);
	assert_int_equal(ram_desc(&r, pt, 2, 4), 0);
	/* 0xffc00000: PD 0x3ff, 4M page at 0xab_ffc00000 (PSE-36). */
	assert_int_equal(ram_desc(&r, pd, 0x3ff, 4), 0xffd56083);
	assert_int_equal(ram_desc(&r, pd, 0x2ff, 4), 0);

	/* No XD: non-executable pages are refused. */
	assert_int_equal(physim_pt_map(r.pt, 0x1000, 0x1000, PHYSIM_SIZE_4K, R | W), -ENOTSUP);
	struct physim_pt_mapping q;
	assert_int_equal(physim_pt_query(r.pt, 0xffc12345, &q), 0);
	assert_int_equal(q.pa, UINT64_C(0xabffc00000));
	assert_int_equal(q.flags, R | W | X);
	ram_pt_close(&r);
}

/* PAE: the root is a 4-entry PDPT whose entries are P and the address only
 * (table 4-8); PDPT index = VA 31:30, PD 29:21, PT 20:12. */
static void test_ram_pae(void **state)
{
	(void)state;
	struct ram_pt r;
	ram_pt_open(&r, fmt_pae);
	assert_int_equal(
	    physim_pt_map(r.pt, 0xc0201000, UINT64_C(0x123456789000), PHYSIM_SIZE_4K, R | W), 0);
	assert_int_equal(physim_pt_map(r.pt, 0x00400000, 0x7fe00000, PHYSIM_SIZE_2M, R | X | U), 0);
	uint64_t pdpt = physim_pt_root(r.pt);
	/* 0xc0201000: PDPT 3, PD 1, PT 1. */
	uint64_t pd = expect_table_ptr(&r, ram_desc(&r, pdpt, 3, 8), 0x001);
	uint64_t pt = expect_table_ptr(&r, ram_desc(&r, pd, 1, 8), 0x007);
	assert_int_equal(ram_desc(&r, pt, 1, 8), 0x8000123456789003);
	/* 0x00400000: PDPT 0, PD 2: 2M page. */
	pd = expect_table_ptr(&r, ram_desc(&r, pdpt, 0, 8), 0x001);
	assert_int_equal(ram_desc(&r, pd, 2, 8), 0x7fe00085);
	assert_int_equal(ram_desc(&r, pdpt, 1, 8), 0);
	assert_int_equal(ram_desc(&r, pdpt, 2, 8), 0);
	ram_pt_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_geometry),	    cmocka_unit_test(test_golden_x86_64),
	    cmocka_unit_test(test_table_x86_64),    cmocka_unit_test(test_golden_i386),
	    cmocka_unit_test(test_golden_pae),	    cmocka_unit_test(test_golden_ept),
	    cmocka_unit_test(test_classify_x86_64), cmocka_unit_test(test_classify_pae),
	    cmocka_unit_test(test_classify_i386),   cmocka_unit_test(test_classify_ept),
	    cmocka_unit_test(test_round_trip),	    cmocka_unit_test(test_ram_x86_64_4l),
	    cmocka_unit_test(test_ram_split_pat),   cmocka_unit_test(test_ram_x86_64_5l),
	    cmocka_unit_test(test_ram_ept),	    cmocka_unit_test(test_ram_i386),
	    cmocka_unit_test(test_ram_pae),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
