/* SPDX-License-Identifier: MIT */
/* tests/test_walk_loongarch64.c - the LoongArch64 walker against an oracle
 * written here from the LoongArch Reference Manual Vol. 1 (5.4 TLB entry and
 * TLB-based translation, 7.4 ESTAT exception codes), sharing no code with the
 * walker: every combination of V, D, PLV, RPLV, NR, NX, G, MAT and the
 * software bits P/W in 4 KiB, 2 MiB and 1 GiB leaves, crossed with PLV0/PLV3
 * and load/store/fetch; directory entries, non-canonical addresses, the
 * upper-half root and bus errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/env.h"

#include <physim/ram.h>
#include <physim/pt.h>
#include <physim/walk.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIT(n) (UINT64_C(1) << (n))

/* Entry bits (manual 5.4 TLB entry / 7.5 TLBELO, LDDIR for huge entries;
 * P and W are Linux's software bits the hardware ignores), written out
 * again here. */
#define E_V	  BIT(0)
#define E_D	  BIT(1)
#define E_PLV(p)  ((uint64_t)(p) << 2)
#define E_MAT(m)  ((uint64_t)(m) << 4)
#define E_G	  BIT(6) /* last-level PTE */
#define E_HUGE	  BIT(6) /* directory entry */
#define E_P	  BIT(7)
#define E_W	  BIT(8)
#define E_HG	  BIT(12) /* global bit of a huge entry */
#define E_NR	  BIT(61)
#define E_NX	  BIT(62)
#define E_RPLV	  BIT(63)
#define PA_MASK48 (((UINT64_C(1) << 48) - 1) & ~UINT64_C(0xfff))

/* ESTAT Ecode values (manual 7.4), EsubCode in bits 14:6. */
enum {
	EC_PIL = 0x1,
	EC_PIS = 0x2,
	EC_PIF = 0x3,
	EC_PME = 0x4,
	EC_PNR = 0x5,
	EC_PNX = 0x6,
	EC_PPI = 0x7,
	EC_ADEF = 0x8,
	EC_ADEM = 0x8 | 1 << 6,
};

/* Geometry: PTbase 12, Dir1 21, Dir2 30, Dir3 39, 9 bits each, VALEN 48. */
#define LEVELS 4
static unsigned lvl_shift(unsigned i)
{
	return 12 + 9 * i;
}

static uint64_t lvl_index(uint64_t va, unsigned i)
{
	return (va >> lvl_shift(i)) & 511;
}

/* ---- fixture: RAM, table memory and mmus from tests/common/env.h ---- */

#define RAM_SIZE (UINT64_C(16) << 20)

/* The slot of va at level lvl, creating directories above it: LDDIR
 * follows plain table addresses, so they are linked with no extra bits. */
static uint64_t slot(struct tc_env *e, uint64_t root, uint64_t va, unsigned lvl)
{
	return tc_x86_slot(e, root, LEVELS, va, (int)lvl, 0);
}

static struct physim_mmu *mmu_new(struct tc_env *e, uint64_t root, uint64_t root_hi)
{
	return tc_mmu_new(e->ph, "loongarch64-4k-48", root, root_hi, NULL);
}

struct acc_case {
	bool write, exec, user;
};

static const struct acc_case accesses[6] = {
    {false, false, false}, {true, false, false}, {false, true, false},
    {false, false, true},  {true, false, true},	 {false, true, true},
};

static int xlate(struct physim_mmu *m, uint64_t va, const struct acc_case *a,
		 struct physim_xlate *x, bool probe)
{
	struct physim_access acc = {.va = va, .write = a->write, .exec = a->exec, .user = a->user};
	return probe ? physim_mmu_probe(m, &acc, x) : physim_mmu_translate(m, &acc, x);
}

static void expect_fault(int rc, const struct physim_xlate *x, enum physim_fault_kind kind,
			 int level, uint64_t code)
{
	if (rc != -EFAULT || x->fault.kind != kind || x->fault.level != level ||
	    x->fault.syndrome != code)
		fail_msg("expected %s at level %d code %#" PRIx64 ", got rc %d: %s",
			 physim_fault_kind_name(kind), level, code, rc,
			 physim_fault_str(&x->fault));
	assert_int_equal(x->fault.stage, 1);
}

/* ---- the oracle (manual 5.4, "TLB-based translation") ---- */

struct expect {
	enum physim_fault_kind kind;
	int level;
	uint64_t code;
	uint64_t pa, size;
	uint32_t perms;
	bool global;
};

static uint64_t page_invalid_code(const struct acc_case *a)
{
	return a->exec ? EC_PIF : a->write ? EC_PIS : EC_PIL;
}

/* A leaf entry e at level L (huge for L > 0) met by access a. */
static struct expect oracle(uint64_t e, unsigned L, uint64_t va, const struct acc_case *a)
{
	struct expect x = {.level = (int)L};
	unsigned plv = (unsigned)(e >> 2) & 3, mat = (unsigned)(e >> 4) & 3;
	unsigned cur = a->user ? 3 : 0; /* CRMD.PLV */

	/* V = 0: the page invalid exception of the access type. */
	if (!(e & E_V)) {
		x.kind = PHYSIM_FAULT_NOT_PRESENT;
		x.code = page_invalid_code(a);
		return x;
	}
	/* MAT 3 is reserved (5.1); physim reports it as reserved. */
	if (mat == 3) {
		x.kind = PHYSIM_FAULT_RESERVED;
		x.code = page_invalid_code(a);
		return x;
	}
	/* Privilege: RPLV = 0 - any PLV not lower than the page's (numerically
	 * <=); RPLV = 1 - exactly the page's. */
	bool plv_ok = (e & E_RPLV) ? cur == plv : cur <= plv;
	if (!plv_ok) {
		x.kind = PHYSIM_FAULT_PERMISSION;
		x.code = EC_PPI;
		return x;
	}
	/* Then by access type: load NR, store D, fetch NX. */
	uint64_t code = 0;
	if (a->exec && (e & E_NX))
		code = EC_PNX;
	else if (a->write && !(e & E_D))
		code = EC_PME;
	else if (!a->write && !a->exec && (e & E_NR))
		code = EC_PNR;
	if (code != 0) {
		x.kind = PHYSIM_FAULT_PERMISSION;
		x.code = code;
		return x;
	}
	x.kind = PHYSIM_FAULT_NONE;
	x.size = UINT64_C(1) << lvl_shift(L);
	x.pa = (e & PA_MASK48 & ~(x.size - 1)) | (va & (x.size - 1));
	x.perms = ((e & E_NR) ? 0 : PHYSIM_R) | ((e & E_D) ? PHYSIM_W : 0) |
		  ((e & E_NX) ? 0 : PHYSIM_X) | (plv == 3 ? PHYSIM_U : 0);
	x.global = (e & (L > 0 ? E_HG : E_G)) != 0;
	return x;
}

static void check(const struct expect *x, int rc, const struct physim_xlate *r, unsigned L,
		  uint64_t e, const struct acc_case *a)
{
	if (x->kind == PHYSIM_FAULT_NONE) {
		if (rc != 0)
			fail_msg("entry %#" PRIx64
				 " level %u (w%d x%d u%d): expected success, got %s",
				 e, L, a->write, a->exec, a->user, physim_fault_str(&r->fault));
		assert_int_equal(r->pa, x->pa);
		assert_int_equal(r->page_size, x->size);
		assert_int_equal(r->level, (int)L);
		assert_int_equal(r->perms, x->perms);
		assert_int_equal(r->global, x->global);
	} else {
		if (rc != -EFAULT || r->fault.kind != x->kind || r->fault.level != x->level ||
		    r->fault.syndrome != x->code)
			fail_msg("entry %#" PRIx64
				 " level %u (w%d x%d u%d): expected %s code %#" PRIx64
				 ", got rc %d: %s",
				 e, L, a->write, a->exec, a->user, physim_fault_kind_name(x->kind),
				 x->code, rc, physim_fault_str(&r->fault));
		assert_int_equal(r->fault.stage, 1);
		assert_false(r->fault.s1ptw);
	}
	assert_int_equal(r->mem_refs, LEVELS - L);
	assert_false(r->ad_updated);
}

/* ---- enumeration ---- */

/* Pattern bit k of the enumeration -> entry bit (G moves to HG in a huge
 * entry). */
static uint64_t entry_of(unsigned pat, unsigned L, uint64_t pa)
{
	static const uint64_t bits[] = {E_V,  E_D, E_PLV(1), E_PLV(2), E_RPLV,	 E_NR,
					E_NX, E_G, E_P,	     E_W,      E_MAT(1), E_MAT(2)};
	uint64_t e = pa;
	for (unsigned k = 0; k < sizeof(bits) / sizeof(bits[0]); k++)
		if (pat & (1u << k))
			e |= (bits[k] == E_G && L > 0) ? E_HG : bits[k];
	return L > 0 ? e | E_HUGE : e;
}

#define NPATTERNS (1u << 12)

static void test_enum_leaves(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	unsigned long walks = 0, ok = 0, faults[8] = {0}, codes[16] = {0};
	uint64_t vas[2] = {UINT64_C(0x00005a5a5a5a5123), UINT64_C(0xffff9a5a5a5a5123)};

	for (unsigned L = 0; L < 3; L++) {
		for (int hi = 0; hi < 2; hi++) {
			uint64_t root = tc_frame(e), root_hi = tc_frame(e);
			uint64_t va = vas[hi];
			uint64_t s = slot(e, hi ? root_hi : root, va, L);
			struct physim_mmu *m = mmu_new(e, root, root_hi);
			/* A PA with bits in every PPN position the level keeps. */
			uint64_t pa = UINT64_C(0x0000876543210000) & PA_MASK48 &
				      ~((UINT64_C(1) << lvl_shift(L)) - 1);
			for (unsigned pat = 0; pat < NPATTERNS; pat++) {
				uint64_t d = entry_of(pat, L, pa);
				tc_put64(e, s, d);
				for (int ac = 0; ac < 6; ac++) {
					struct expect x = oracle(d, L, va, &accesses[ac]);
					struct physim_xlate r;
					for (int probe = 0; probe < 2; probe++) {
						int rc = xlate(m, va, &accesses[ac], &r, probe);
						check(&x, rc, &r, L, d, &accesses[ac]);
						assert_int_equal(tc_get64(e, s), d); /* no A/D */
						walks++;
					}
					if (x.kind == PHYSIM_FAULT_NONE)
						ok++;
					faults[x.kind]++;
					codes[x.code & 15]++;
				}
			}
			physim_mmu_destroy(m);
		}
	}
	print_message("loongarch64 leaves: %lu combinations, each probed and translated: %lu "
		      "successes; faults by code (reserved included): PIL %lu PIS %lu PIF %lu "
		      "PME %lu PNR %lu PNX %lu PPI %lu; reserved %lu\n",
		      walks / 2, ok, codes[EC_PIL], codes[EC_PIS], codes[EC_PIF], codes[EC_PME],
		      codes[EC_PNR], codes[EC_PNX], codes[EC_PPI], faults[PHYSIM_FAULT_RESERVED]);
	for (unsigned c = EC_PIL; c <= EC_PPI; c++)
		assert_true(codes[c] > 0);
	assert_true(ok > 0 && faults[PHYSIM_FAULT_RESERVED] > 0);
	tc_env_free(e);
}

/* ---- directory entries and hand-built cases ---- */

#define LEAF_OK (E_V | E_D | E_PLV(3) | E_MAT(1)) /* any PLV, RWX */

/*
 * Directory entries (5.4 multi-level page table, LDDIR): 0 means no table -
 * the refill loads an invalid entry, a page invalid exception at that level;
 * a pointer with bits outside PA 47:12, or a huge entry at the root, is what
 * physim's format calls reserved (RESERVED, with the page invalid code).
 */
static void test_directories(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	const uint64_t va = UINT64_C(0x00001234567890ab);
	unsigned cases = 0;

	for (unsigned lvl = 1; lvl < LEVELS; lvl++) {
		uint64_t root = tc_frame(e);
		uint64_t s = slot(e, root, va, lvl);
		uint64_t next = tc_frame(e);
		struct physim_mmu *m = mmu_new(e, root, 0);
		/* Below `next`, a normal path to a 4 KiB leaf. */
		tc_put64(e, s, next);
		tc_put64(e, slot(e, root, va, 0), UINT64_C(0x42000) | LEAF_OK);
		for (int ac = 0; ac < 6; ac++) {
			const struct acc_case *a = &accesses[ac];
			struct physim_xlate x;
			assert_int_equal(xlate(m, va, a, &x, false), 0);
			assert_int_equal(x.pa, 0x42000 | (va & 0xfff));
			assert_int_equal(x.mem_refs, 4);
			tc_put64(e, s, 0);
			expect_fault(xlate(m, va, a, &x, false), &x, PHYSIM_FAULT_NOT_PRESENT,
				     (int)lvl, page_invalid_code(a));
			assert_int_equal(x.mem_refs, LEVELS - lvl);
			/* Every bit outside the table address, one at a time
			 * (bit 6 is the huge bit: a valid leaf below the root). */
			for (unsigned bit = 0; bit < 64; bit++) {
				if (bit >= 12 && bit < 48)
					continue;
				tc_put64(e, s, next | BIT(bit));
				int rc = xlate(m, va, a, &x, false);
				if (bit == 6 && lvl < 3) {
					assert_int_equal(rc, -EFAULT); /* huge, V = 0 */
					expect_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, (int)lvl,
						     page_invalid_code(a));
				} else {
					expect_fault(rc, &x, PHYSIM_FAULT_RESERVED, (int)lvl,
						     page_invalid_code(a));
				}
				cases++;
			}
			tc_put64(e, s, next);
		}
		physim_mmu_destroy(m);
	}
	/* A huge entry at the root (Dir3 has no pages in this geometry). */
	uint64_t root = tc_frame(e);
	tc_put64(e, root + lvl_index(va, 3) * 8, LEAF_OK | E_HUGE);
	struct physim_mmu *m = mmu_new(e, root, 0);
	struct physim_xlate x;
	expect_fault(xlate(m, va, &accesses[1], &x, false), &x, PHYSIM_FAULT_RESERVED, 3, EC_PIS);
	physim_mmu_destroy(m);
	print_message("directory cases: %u\n", cases + 1);
	tc_env_free(e);
}

/* A huge entry's PPN bits below its size are not part of the page (the TLB
 * ignores PPN[PS-1:12]; bit 12 is HG): the page is the aligned one. */
static void test_huge_low_bits(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	const uint64_t va = UINT64_C(0x00007fedcba98765);
	for (unsigned lvl = 1; lvl < 3; lvl++) {
		uint64_t size = UINT64_C(1) << lvl_shift(lvl);
		uint64_t base = UINT64_C(0x0000123400000000) & ~(size - 1);
		uint64_t junk = (size - 1) & ~UINT64_C(0xfff) & ~E_HG; /* all low PPN bits */
		uint64_t root = tc_frame(e);
		tc_put64(e, slot(e, root, va, lvl), base | junk | LEAF_OK | E_HUGE);
		struct physim_mmu *m = mmu_new(e, root, 0);
		struct physim_xlate x;
		assert_int_equal(xlate(m, va, &accesses[0], &x, false), 0);
		assert_int_equal(x.pa, base | (va & (size - 1)));
		assert_int_equal(x.page_size, size);
		assert_false(x.global);
		/* HG set: global; G (bit 6) is the huge bit there, not global. */
		tc_put64(e, slot(e, root, va, lvl), base | E_HG | LEAF_OK | E_HUGE);
		assert_int_equal(xlate(m, va, &accesses[0], &x, false), 0);
		assert_true(x.global);
		assert_int_equal(x.pa, base | (va & (size - 1)));
		physim_mmu_destroy(m);
	}
	tc_env_free(e);
}

/* 5.2: in mapped mode VA bits 63:48 must copy bit 47, else an address error
 * exception: ADEF (EsubCode 0) for a fetch, ADEM (EsubCode 1) for a load or
 * store - not a TLB exception, so kind NON_CANONICAL at no level. */
static void test_non_canonical(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	uint64_t root = tc_frame(e), root_hi = tc_frame(e);
	struct physim_mmu *m = mmu_new(e, root, root_hi);
	static const uint64_t bad[] = {
	    UINT64_C(0x0000800000000000), UINT64_C(0x0001000000001000),
	    UINT64_C(0x8000000000000000), UINT64_C(0xffff7fffffffffff),
	    UINT64_C(0x7fff800000000000),
	};
	for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
		for (int ac = 0; ac < 6; ac++) {
			struct physim_xlate x;
			int rc = xlate(m, bad[b], &accesses[ac], &x, ac & 1);
			expect_fault(rc, &x, PHYSIM_FAULT_NON_CANONICAL, -1,
				     accesses[ac].exec ? EC_ADEF : EC_ADEM);
			assert_int_equal(x.mem_refs, 0);
			assert_int_equal(x.fault.addr, bad[b]);
		}
	}
	physim_mmu_destroy(m);
	tc_env_free(e);
}

/* PGDL for addresses with the top bit clear, PGDH for the others; no
 * upper-half root: a page invalid exception at the root level. */
static void test_upper_half(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	const uint64_t lo = UINT64_C(0x0000000012345678), hi = UINT64_C(0xffff800012345678);
	uint64_t root = tc_frame(e), root_hi = tc_frame(e);
	tc_put64(e, slot(e, root, lo, 0), UINT64_C(0x1000000) | LEAF_OK);
	tc_put64(e, slot(e, root_hi, hi, 0), UINT64_C(0x2000000) | LEAF_OK);
	struct physim_mmu *m = mmu_new(e, root, root_hi);
	struct physim_xlate x;
	assert_int_equal(xlate(m, lo, &accesses[0], &x, false), 0);
	assert_int_equal(x.pa, 0x1000678);
	assert_int_equal(xlate(m, hi, &accesses[0], &x, false), 0);
	assert_int_equal(x.pa, 0x2000678);
	physim_mmu_destroy(m);
	m = mmu_new(e, root, 0);
	assert_int_equal(xlate(m, lo, &accesses[0], &x, false), 0);
	for (int ac = 0; ac < 6; ac++) {
		expect_fault(xlate(m, hi, &accesses[ac], &x, false), &x, PHYSIM_FAULT_NOT_PRESENT,
			     3, page_invalid_code(&accesses[ac]));
		assert_int_equal(x.mem_refs, 0);
	}
	physim_mmu_destroy(m);
	tc_env_free(e);
}

/* A directory pointing outside RAM: the refill's load fails (a machine
 * error, no Ecode): BUS_ERROR at the level of the table read, syndrome 0. */
static void test_bus_errors(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	const uint64_t va = UINT64_C(0x00001234567890ab);
	for (unsigned lvl = 1; lvl < LEVELS; lvl++) {
		uint64_t root = tc_frame(e);
		tc_put64(e, slot(e, root, va, lvl), UINT64_C(0x10000000000)); /* 1 TiB */
		struct physim_mmu *m = mmu_new(e, root, 0);
		for (int ac = 0; ac < 6; ac++) {
			struct physim_xlate x;
			expect_fault(xlate(m, va, &accesses[ac], &x, ac & 1), &x,
				     PHYSIM_FAULT_BUS_ERROR, (int)lvl - 1, 0);
			assert_int_equal(x.mem_refs, LEVELS - lvl);
		}
		physim_mmu_destroy(m);
	}
	struct physim_mmu *m = mmu_new(e, UINT64_C(0x10000000000), 0);
	struct physim_xlate x;
	expect_fault(xlate(m, va, &accesses[0], &x, false), &x, PHYSIM_FAULT_BUS_ERROR, 3, 0);
	physim_mmu_destroy(m);
	tc_env_free(e);
}

/* Tables the engine builds translate as the flags say: U = PLV3 (kernel may
 * use it too, RPLV = 0), no W = D clear (PME), no X = NX (PNX), no R = NR
 * (PNR). */
static void test_engine_tables(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	struct physim_pt *pt;
	assert_int_equal(physim_pt_create(physim_format("loongarch64-4k-48"), e->ph, &pt), 0);
	struct physim_mmu *m = mmu_new(e, physim_pt_root(pt), 0);
	unsigned cases = 0;
	for (uint32_t fl = 0; fl < 16; fl++) {
		uint32_t flags = ((fl & 1) ? PHYSIM_R : 0) | ((fl & 2) ? PHYSIM_W : 0) |
				 ((fl & 4) ? PHYSIM_X : 0) | ((fl & 8) ? PHYSIM_U : 0);
		for (unsigned lvl = 0; lvl < 3; lvl++) {
			uint64_t size = UINT64_C(1) << lvl_shift(lvl);
			uint64_t va = size * (16 * lvl + fl + 1), pa = size * (fl + 7);
			assert_int_equal(physim_pt_map(pt, va, pa, size, flags), 0);
			for (int ac = 0; ac < 6; ac++) {
				const struct acc_case *a = &accesses[ac];
				struct physim_xlate x;
				int rc = xlate(m, va + 0x321, a, &x, false);
				uint64_t code = 0;
				if (a->user && !(flags & PHYSIM_U))
					code = EC_PPI;
				else if (a->exec && !(flags & PHYSIM_X))
					code = EC_PNX;
				else if (a->write && !(flags & PHYSIM_W))
					code = EC_PME;
				else if (!a->write && !a->exec && !(flags & PHYSIM_R))
					code = EC_PNR;
				if (code) {
					expect_fault(rc, &x, PHYSIM_FAULT_PERMISSION, (int)lvl,
						     code);
				} else {
					assert_int_equal(rc, 0);
					assert_int_equal(x.pa, pa + 0x321);
					assert_int_equal(x.perms, flags);
					assert_int_equal(x.level, (int)lvl);
				}
				cases++;
			}
		}
	}
	print_message("engine-built cases: %u\n", cases);
	physim_mmu_destroy(m);
	physim_pt_destroy(pt);
	tc_env_free(e);
}

/* physim_translate on an engine table finds what the engine maps in the
 * upper half (one root holds both halves; found by tests/fuzz/fuzz_pt). */
static void test_translate_upper_half(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	struct physim_pt *pt;
	const uint64_t hi = UINT64_C(0xffffffffc0000000), lo = UINT64_C(0x40000000);
	assert_int_equal(physim_pt_create(physim_format("loongarch64-4k-48"), e->ph, &pt), 0);
	assert_int_equal(physim_pt_map(pt, hi, 0x200000, 4096, PHYSIM_R | PHYSIM_W), 0);
	struct physim_xlate x;
	assert_int_equal(physim_translate(pt, &(struct physim_access){.va = hi + 0x12}, &x), 0);
	assert_int_equal(x.pa, 0x200012);
	/* The lower-half address with the same index bits stays unmapped. */
	assert_int_equal(physim_translate(pt, &(struct physim_access){.va = lo}, &x), -EFAULT);
	assert_int_equal(x.fault.kind, PHYSIM_FAULT_NOT_PRESENT);
	physim_pt_destroy(pt);
	tc_env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enum_leaves),	  cmocka_unit_test(test_directories),
	    cmocka_unit_test(test_huge_low_bits), cmocka_unit_test(test_non_canonical),
	    cmocka_unit_test(test_upper_half),	  cmocka_unit_test(test_bus_errors),
	    cmocka_unit_test(test_engine_tables), cmocka_unit_test(test_translate_upper_half),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
