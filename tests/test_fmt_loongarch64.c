/* SPDX-License-Identifier: MIT */
/* tests/test_fmt_loongarch64.c - the LoongArch64 4 KiB / 48-bit format:
 * geometry, golden entries computed by hand from the LoongArch Reference
 * Manual Vol. 1 (5.4.2 entry fields, LDDIR huge entries with H / HG),
 * exhaustive flag and arch round trips, classify, and entries written by the
 * engine read back from RAM. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/env.h"

#include "pt-format.h"
#include <physim/ram.h>

#include <string.h>

#define R   PHYSIM_R
#define W   PHYSIM_W
#define X   PHYSIM_X
#define U   PHYSIM_U
#define DEV PHYSIM_DEVICE
#define UNC PHYSIM_UNCACHED

/* Entry bits, written out again here from the manual (5.4.2) and Linux
 * pgtable-bits.h so the test does not share the implementation's constants. */
#define B_V    UINT64_C(0x001)
#define B_D    UINT64_C(0x002)
#define B_PLV3 UINT64_C(0x00c)
#define B_CC   UINT64_C(0x010) /* MAT 1 */
#define B_WUC  UINT64_C(0x020) /* MAT 2 */
#define B_MAT3 UINT64_C(0x030)
#define B_G    UINT64_C(0x040) /* G in a PTE, H in a directory entry */
#define B_H    UINT64_C(0x040)
#define B_P    UINT64_C(0x080)
#define B_W    UINT64_C(0x100)
#define B_HG   UINT64_C(0x1000)
#define B_NR   UINT64_C(0x2000000000000000)
#define B_NX   UINT64_C(0x4000000000000000)
#define B_RPLV UINT64_C(0x8000000000000000)

static const struct physim_pt_format *const F = &physim_fmt_loongarch64_4k_48;

static int enc(unsigned level, uint64_t pa, uint32_t flags, uint64_t arch, uint64_t *d)
{
	struct pt_leaf_attr a = {.flags = flags, .arch = arch};
	return F->ops->encode_leaf(F, pa, &a, level, d);
}

static void test_geometry(void **state)
{
	(void)state;
	static const unsigned shift[] = {12, 21, 30, 39};

	assert_ptr_equal(physim_format("loongarch64-4k-48"), F);
	assert_string_equal(F->name, "loongarch64-4k-48");
	assert_int_equal(F->arch, PHYSIM_ARCH_LOONGARCH64);
	assert_false(F->stage2);
	assert_int_equal(F->levels, 4);
	assert_int_equal(F->pte_bytes, 8);
	assert_int_equal(F->va_bits, 48);
	assert_int_equal(F->pa_bits, 48);
	assert_true(F->sign_extended);
	for (unsigned l = 0; l < 4; l++) {
		assert_int_equal(F->level[l].shift, shift[l]);
		assert_int_equal(F->level[l].index_bits, 9);
		assert_int_equal(pt_table_bytes(F, l), 4096);
		/* 4K pages, 2M and 1G huge pages; none at the root. */
		assert_int_equal(F->level[l].leaf_ok, l < 3);
	}
	assert_int_equal(F->flags_supported, 0x3f);
	assert_int_equal(F->arch_attr_mask, B_G | B_CC | B_WUC | B_RPLV);
	assert_false(F->set_accessed_on_map);
	assert_false(F->set_dirty_on_map);
	/* The VA bit 47 selects the upper half of the root. */
	assert_int_equal(pt_index(F, UINT64_C(0xffff800000000000), 3), 256);
	assert_int_equal(pt_index(F, UINT64_C(0x00007fffffffffff), 3), 255);
}

struct golden {
	unsigned level;
	uint64_t pa;
	uint32_t flags;
	uint64_t arch;
	uint64_t expect;
	uint32_t dec_flags;
	uint64_t dec_arch;
};

static const struct golden goldens[] = {
    /* 4K PTEs: V|D|MAT=CC|P|W = 0x193 */
    {0, 0x90001000, R | W | X, 0, 0x90001193, R | W | X, 0},
    /* read-only, not executable: V|CC|P = 0x91, NX */
    {0, 0x90002000, R, 0, UINT64_C(0x4000000090002091), R, 0},
    /* U: PLV3 = 0xc */
    {0, 0x90003000, R | W | U, 0, UINT64_C(0x400000009000319f), R | W | U, 0},
    /* DEVICE: MAT 0 (SUC) */
    {0, 0x90004000, R | W | DEV, 0, UINT64_C(0x4000000090004183), R | W | DEV, 0},
    /* UNCACHED: MAT 2 (WUC) */
    {0, 0x90005000, R | UNC, 0, UINT64_C(0x40000000900050a1), R | UNC, 0},
    /* write-only: NR and NX, D|W */
    {0, 0x90006000, W, 0, UINT64_C(0x6000000090006193), W, 0},
    /* execute-only: NR */
    {0, 0x90007000, X, 0, UINT64_C(0x2000000090007091), X, 0},
    /* no access at all is expressible: NR|NX, D clear */
    {0, 0x90008000, 0, 0, UINT64_C(0x6000000090008091), 0, 0},
    /* G in bit 6: V|PLV3|CC|G|P = 0xdd */
    {0, 0x90009000, R | X | U, B_G, 0x900090dd, R | X | U, B_G},
    /* RPLV in bit 63 */
    {0, 0x9000a000, R | W | X | U, B_RPLV, UINT64_C(0x800000009000a19f), R | W | X | U, B_RPLV},
    /* highest PA with PALEN 48 */
    {0, UINT64_C(0xfffffffff000), R | W | X, 0, UINT64_C(0xfffffffff193), R | W | X, 0},

    /* 2M huge entries (Dir1): H = bit 6, global in HG = bit 12.
     * V|D|CC|H|P|W|HG = 0x11d3 */
    {1, 0x40200000, R | W | X, B_G, 0x402011d3, R | W | X, B_G},
    {1, 0x40400000, R | W, 0, UINT64_C(0x40000000404001d3), R | W, 0},
    /* highest 2M page, SUC: V|H|P = 0xc1 */
    {1, UINT64_C(0xffffffe00000), R | DEV, 0, UINT64_C(0x4000ffffffe000c1), R | DEV, 0},
    /* 1G huge entries (Dir2): V|PLV3|CC|H|P = 0xdd */
    {2, 0x80000000, R | U, 0, UINT64_C(0x40000000800000dd), R | U, 0},
    /* V|D|PLV3|CC|H|P|W|HG = 0x11df, RPLV */
    {2, 0xc0000000, R | W | X | U, B_G | B_RPLV, UINT64_C(0x80000000c00011df), R | W | X | U,
     B_G | B_RPLV},
};

static void test_golden(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		const struct golden *g = &goldens[i];
		struct pt_leaf_attr a;
		uint64_t d = 0;

		if (enc(g->level, g->pa, g->flags, g->arch, &d) != 0 || d != g->expect) {
			print_error("golden %zu: got 0x%016llx want 0x%016llx\n", i,
				    (unsigned long long)d, (unsigned long long)g->expect);
			fail();
		}
		assert_int_equal(F->ops->classify(F, d, g->level), PT_LEAF);
		assert_int_equal(F->ops->output_addr(F, d, g->level), g->pa);
		F->ops->decode_leaf(F, d, g->level, &a);
		assert_int_equal(a.flags, g->dec_flags);
		assert_int_equal(a.arch, g->dec_arch);
		assert_false(a.accessed);
		assert_false(a.dirty);
		uint64_t d2 = 0;
		assert_int_equal(enc(g->level, g->pa, a.flags, a.arch, &d2), 0);
		assert_int_equal(d2, d);
	}
	/* Directory entries are the plain physical address of the next table. */
	assert_int_equal(F->ops->encode_table(F, 0x90004000, 1), 0x90004000);
	assert_int_equal(F->ops->encode_table(F, 0x90004000, 3), 0x90004000);
	assert_int_equal(F->ops->encode_table(F, UINT64_C(0xfffffffff000), 2),
			 UINT64_C(0xfffffffff000));
}

/* Every subset of the six flags at every leaf level: everything but
 * DEVICE|UNCACHED is expressible; each field lands where 5.4.2 puts it. */
static void test_flag_round_trip(void **state)
{
	(void)state;
	for (unsigned level = 0; level < 3; level++) {
		uint64_t pa = UINT64_C(5) << F->level[level].shift;
		for (uint32_t flags = 0; flags < 64; flags++) {
			for (unsigned ad = 0; ad < 4; ad++) {
				struct pt_leaf_attr in = {
				    .flags = flags, .accessed = ad & 1, .dirty = ad & 2};
				uint64_t d = 0;
				int rc = F->ops->encode_leaf(F, pa, &in, level, &d);
				if ((flags & DEV) && (flags & UNC)) {
					assert_int_equal(rc, -ENOTSUP);
					continue;
				}
				assert_int_equal(rc, 0);
				uint64_t mat = (flags & DEV) ? 0 : (flags & UNC) ? B_WUC : B_CC;
				uint64_t want =
				    pa | B_V | B_P | mat | (level ? B_H : 0) |
				    ((flags & R) ? 0 : B_NR) | ((flags & W) ? (B_D | B_W) : 0) |
				    ((flags & X) ? 0 : B_NX) | ((flags & U) ? B_PLV3 : 0);
				assert_int_equal(d, want);
				assert_int_equal(F->ops->classify(F, d, level), PT_LEAF);
				assert_int_equal(F->ops->output_addr(F, d, level), pa);
				struct pt_leaf_attr a;
				F->ops->decode_leaf(F, d, level, &a);
				assert_int_equal(a.flags, flags);
				assert_int_equal(a.arch, 0); /* the MAT is the flags' (pt.h) */
				assert_false(a.accessed);
				assert_false(a.dirty);
			}
		}
	}
}

/* G/RPLV x arch MAT (none, CC, WUC) x memory flag at every leaf level. */
static void test_arch_bits(void **state)
{
	(void)state;
	static const uint64_t mats[] = {0, B_CC, B_WUC};
	static const uint32_t mems[] = {0, DEV, UNC};

	for (unsigned level = 0; level < 3; level++)
		for (unsigned sub = 0; sub < 4; sub++)
			for (unsigned m = 0; m < 3; m++)
				for (unsigned k = 0; k < 3; k++) {
					uint64_t arch = mats[m] | ((sub & 1) ? B_G : 0) |
							((sub & 2) ? B_RPLV : 0);
					uint64_t mat = mems[k] == DEV	? 0
						       : mems[k] == UNC ? B_WUC
									: B_CC;
					/* arch MAT 0 means "not given"; every other MAT
					 * is a flag's (CC the default's) or reserved, so
					 * never raw (the one memory-type rule, pt.h) */
					bool ok = mats[m] == 0;
					uint64_t pa = UINT64_C(7) << F->level[level].shift;
					uint64_t d = 0;
					int rc = enc(level, pa, R | mems[k], arch, &d);
					if (!ok) {
						assert_int_equal(rc, -ENOTSUP);
						continue;
					}
					assert_int_equal(rc, 0);
					uint64_t g = (arch & B_G) ? (level ? B_HG : B_G) : 0;
					uint64_t want = pa | B_V | B_P | B_NX | mat | g |
							(arch & B_RPLV) | (level ? B_H : 0);
					assert_int_equal(d, want);
					struct pt_leaf_attr a;
					F->ops->decode_leaf(F, d, level, &a);
					assert_int_equal(a.arch, arch & (B_G | B_RPLV));
					/* the effective MAT decides the reported type */
					uint32_t want_mem = mat == 0 ? DEV : mat == B_WUC ? UNC : 0;
					assert_int_equal(a.flags, R | want_mem);
				}
}

static void test_bad_input(void **state)
{
	(void)state;
	uint64_t d = 0x1234;

	/* MAT 3 is reserved (5.1). */
	assert_int_equal(enc(0, 0x1000, R, B_MAT3, &d), -ENOTSUP);
	/* Raw bits outside G/MAT/RPLV. */
	static const uint64_t outside[] = {
	    B_V, B_D, B_PLV3, B_P, B_W, B_HG, B_NR, B_NX, UINT64_C(1) << 12, UINT64_C(1) << 60};
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		assert_int_equal(enc(0, 0x1000, R, outside[i], &d), -ENOTSUP);
	assert_int_equal(enc(0, 0x1000, R | DEV | UNC, 0, &d), -ENOTSUP);
	assert_int_equal(enc(0, 0x1000, R | (1u << 6), 0, &d), -ENOTSUP);
	/* PA at or above 2^48, misaligned PAs, the root and beyond. */
	assert_int_equal(enc(0, UINT64_C(1) << 48, R, 0, &d), -EINVAL);
	assert_int_equal(enc(1, UINT64_C(1) << 48, R, 0, &d), -EINVAL);
	assert_int_equal(enc(2, UINT64_C(0xffffc0000000) + (UINT64_C(1) << 30), R, 0, &d), -EINVAL);
	assert_int_equal(enc(0, 0x1800, R, 0, &d), -EINVAL);
	assert_int_equal(enc(1, 0x40201000, R, 0, &d), -EINVAL);
	assert_int_equal(enc(2, 0x40200000, R, 0, &d), -EINVAL);
	assert_int_equal(enc(3, 0, R, 0, &d), -EINVAL);
	assert_int_equal(enc(4, 0, R, 0, &d), -EINVAL);
	assert_int_equal(d, 0x1234);
	/* The highest 1G page is fine. */
	assert_int_equal(enc(2, UINT64_C(0xffffc0000000), R, 0, &d), 0);
	assert_int_equal(d, UINT64_C(0x4000ffffc00000d1));
}

struct cls {
	uint64_t d;
	unsigned level;
	enum pt_kind want;
	uint64_t out; /* output_addr for TABLE / LEAF */
	const char *why;
};

static const struct cls classes[] = {
    {0, 0, PT_INVALID, 0, "zero PTE"},
    {0x90001192, 0, PT_INVALID, 0, "V clear"},
    {0x90001193, 0, PT_LEAF, 0x90001000, "4K page"},
    {0x90001001, 0, PT_LEAF, 0x90001000, "V only (SUC, PLV0, writes fault)"},
    {0x900011b3, 0, PT_RESERVED, 0, "MAT 3"},
    /* bits 60:48 are not part of the TLB entry (TLBELO): ignored */
    {UINT64_C(0x1000000090001193), 0, PT_LEAF, 0x90001000, "bit 60 (software)"},
    {UINT64_C(0x6000000090006193), 0, PT_LEAF, 0x90006000, "NR|NX"},
    /* a PTE at level 0 has G in bit 6, not H */
    {0x900011d3, 0, PT_LEAF, 0x90001000, "PTE with G"},
    /* directory entries */
    {0, 1, PT_INVALID, 0, "empty Dir1 entry"},
    {0, 3, PT_INVALID, 0, "empty root entry"},
    {0x90004000, 1, PT_TABLE, 0x90004000, "Dir1 pointer"},
    {0x90004000, 2, PT_TABLE, 0x90004000, "Dir2 pointer"},
    {0x90004000, 3, PT_TABLE, 0x90004000, "root pointer"},
    {0x90004001, 1, PT_RESERVED, 0, "pointer with low bit"},
    {0x90004080, 2, PT_RESERVED, 0, "pointer with bit 7"},
    {UINT64_C(0x9000000090004000), 1, PT_RESERVED, 0, "pointer above PALEN (DMW VA)"},
    /* huge entries */
    {0x402011d3, 1, PT_LEAF, 0x40200000, "2M huge, HG"},
    {0x402011d2, 1, PT_INVALID, 0, "2M huge, V clear"},
    {0x402011f3, 1, PT_RESERVED, 0, "2M huge, MAT 3"},
    /* PPN bits below the huge page size are ignored by the TLB */
    {0x4020f1d3, 1, PT_LEAF, 0x40200000, "2M huge, low PPN bits"},
    {UINT64_C(0x40000000800000dd), 2, PT_LEAF, 0x80000000, "1G huge"},
    {UINT64_C(0x40000000801000dd), 2, PT_LEAF, 0x80000000, "1G huge, low PPN bits"},
    {0x402011d3, 3, PT_RESERVED, 0, "huge at the root"},
};

static void test_classify(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		const struct cls *c = &classes[i];
		enum pt_kind k = F->ops->classify(F, c->d, c->level);
		if (k != c->want) {
			print_error("0x%llx level %u (%s): kind %d want %d\n",
				    (unsigned long long)c->d, c->level, c->why, k, c->want);
			fail();
		}
		if (k == PT_TABLE || k == PT_LEAF)
			assert_int_equal(F->ops->output_addr(F, c->d, c->level), c->out);
	}
}

/* Huge-entry decode takes G from HG (bit 12), not from bit 6 (= H). */
static void test_decode_huge_global(void **state)
{
	(void)state;
	struct pt_leaf_attr a;
	F->ops->decode_leaf(F, 0x402001d3, 1, &a); /* H set, HG clear */
	assert_int_equal(a.arch & B_G, 0);
	F->ops->decode_leaf(F, 0x402011d3, 1, &a);
	assert_int_equal(a.arch & B_G, B_G);
	/* PLV 1 and 2 have no generic flag: not U. */
	F->ops->decode_leaf(F, 0x90001197, 0, &a);
	assert_int_equal(a.flags, R | W | X);
	/* W follows D (what hardware checks), not the software W bit. */
	F->ops->decode_leaf(F, 0x90001191, 0, &a);
	assert_int_equal(a.flags, R | X);
	F->ops->decode_leaf(F, 0x90001093, 0, &a);
	assert_int_equal(a.flags, R | W | X);
}

/* ---- through the engine: entries as they lie in simulated RAM ---- */

struct rig {
	struct tc_env env; /* RAM, handler, direct map (tests/common/env.h) */
	struct physim_pt *pt;
};

static void rig_up(struct rig *r)
{
	tc_env_open(&r->env, 0, 64u << 20);
	assert_int_equal(physim_pt_create(F, r->env.ph, &r->pt), 0);
}

static void rig_down(struct rig *r)
{
	physim_pt_destroy(r->pt);
	assert_int_equal(physim_ram_stats(r->env.ram).used_frames, 0);
	tc_env_close(&r->env);
}

static uint64_t read_entry(const struct rig *r, uint64_t table, uint64_t index)
{
	return tc_get64(&r->env, table + index * 8);
}

/* The LDDIR walk: Dir3 (VA 47:39), Dir2 (38:30), Dir1 (29:21), PT (20:12);
 * a directory entry is the next table's physical address, nothing else. */
static uint64_t walk_to(const struct rig *r, uint64_t va, unsigned stop_level)
{
	static const unsigned shift[] = {12, 21, 30, 39};
	uint64_t table = physim_pt_root(r->pt);
	for (unsigned l = 3;; l--) {
		uint64_t e = read_entry(r, table, (va >> shift[l]) & 511);
		if (l == stop_level)
			return e;
		assert_int_equal(e & 0xfff, 0);
		assert_in_range(e, r->env.dm.base, r->env.dm.base + r->env.dm.size - 4096);
		table = e;
	}
}

static void test_engine(void **state)
{
	(void)state;
	struct rig r;
	rig_up(&r);

	/* 4K R|W: V|D|CC|P|W and NX, no A/D bookkeeping */
	assert_int_equal(physim_pt_map(r.pt, 0x12345000, 0x80005000, 4096, R | W), 0);
	assert_int_equal(walk_to(&r, 0x12345000, 0), UINT64_C(0x4000000080005193));
	/* 2M at a negative (sign-extended) VA, root index 256:
	 * V|PLV3|CC|H|P = 0xdd */
	uint64_t hi = UINT64_C(0xffff800000200000);
	assert_int_equal(physim_pt_map(r.pt, hi, 0x80200000, 2u << 20, R | X | U), 0);
	assert_int_equal(pt_index(F, hi, 3), 256);
	assert_int_equal(walk_to(&r, hi, 1), 0x802000dd);
	/* 1G device, read/write: V|D|H|P|W = 0x1c3, NX */
	assert_int_equal(physim_pt_map(r.pt, 0x40000000, 0xc0000000, 1u << 30, R | W | DEV), 0);
	assert_int_equal(walk_to(&r, 0x40000000, 2), UINT64_C(0x40000000c00001c3));
	/* 2M global through arch: G goes to HG (bit 12) */
	struct physim_pt_mapping m = {
	    .va = 0x20000000, .pa = 0x80400000, .size = 2u << 20, .flags = R | W | X, .arch = B_G};
	assert_int_equal(physim_pt_map_ex(r.pt, &m, 0), 0);
	assert_int_equal(walk_to(&r, 0x20000000, 1), 0x804011d3);
	/* 4K global: G stays in bit 6 */
	m = (struct physim_pt_mapping){
	    .va = 0x12346000, .pa = 0x80006000, .size = 4096, .flags = R, .arch = B_G};
	assert_int_equal(physim_pt_map_ex(r.pt, &m, 0), 0);
	assert_int_equal(walk_to(&r, 0x12346000, 0), UINT64_C(0x40000000800060d1));

	struct physim_pt_mapping q;
	assert_int_equal(physim_pt_query(r.pt, 0x20012345, &q), 0);
	assert_int_equal(q.flags, R | W | X);
	assert_int_equal(q.arch, B_G); /* as map_ex was given it (issue 12) */
	assert_int_equal(q.size, 2u << 20);
	assert_int_equal(q.pa, 0x80400000);
	/* Non-canonical VA; a huge page at the root does not exist. */
	assert_int_equal(physim_pt_map(r.pt, UINT64_C(0x0000800000000000), 0x80000000, 4096, R),
			 -EINVAL);
	assert_int_equal(physim_pt_map(r.pt, 0, 0, UINT64_C(1) << 39, R), -EINVAL);
	/* Write-only pages exist on LoongArch: NR|NX, D|W */
	assert_int_equal(physim_pt_map(r.pt, 0x12347000, 0x80007000, 4096, W), 0);
	assert_int_equal(walk_to(&r, 0x12347000, 0), UINT64_C(0x6000000080007193));

	/* Splitting the 2M global page keeps every attribute in each 4K
	 * piece, G moving from HG back to bit 6. */
	assert_int_equal(physim_pt_unmap_region(r.pt, 0x20000000, 4096), 0);
	/* piece at 0x20002000: pa 0x80402000 | V|D|CC|G|P|W = 0x1d3 */
	assert_int_equal(walk_to(&r, 0x20002000, 0), 0x804021d3);
	assert_int_equal(walk_to(&r, 0x20000000, 0), 0);
	assert_int_equal(physim_pt_query(r.pt, 0x20002000, &q), 0);
	assert_int_equal(q.arch, B_G);
	assert_int_equal(q.size, 4096);
	rig_down(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_geometry),	       cmocka_unit_test(test_golden),
	    cmocka_unit_test(test_flag_round_trip),    cmocka_unit_test(test_arch_bits),
	    cmocka_unit_test(test_bad_input),	       cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_decode_huge_global), cmocka_unit_test(test_engine),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
