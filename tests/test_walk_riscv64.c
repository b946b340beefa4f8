/* SPDX-License-Identifier: MIT */
/* tests/test_walk_riscv64.c - the RISC-V walker (Sv32/39/48/57 and the x4
 * G-stage schemes) against an oracle written here from the privileged spec,
 * sharing no code with the walker: every low PTE bit pattern (V, R, W, X, U,
 * G, A, D) at every level, as a leaf or as a pointer, crossed with SUM, MXR,
 * Svade/Svadu, U/S mode and load/store/fetch; reserved bits, non-canonical
 * inputs, bus errors, and nested Sv48 over Sv48x4 walks. */
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

/* PTE bits, written out again from the spec (10.3.1, figure "Sv32 page table
 * entry"; the same bits 9:0 in Sv39/48/57 and in G-stage PTEs). */
enum {
	P_V = 1 << 0,
	P_R = 1 << 1,
	P_W = 1 << 2,
	P_X = 1 << 3,
	P_U = 1 << 4,
	P_G = 1 << 5,
	P_A = 1 << 6,
	P_D = 1 << 7,
};
#define P_PBMT_SHIFT 61 /* Svpbmt: bits 62:61 */
#define P_N	     BIT(63)

/* Exception codes (scause / mcause tables of the privileged spec). */
enum {
	C_INSN_ACCESS = 1,
	C_LOAD_ACCESS = 5,
	C_STORE_ACCESS = 7,
	C_INSN_PAGE = 12,
	C_LOAD_PAGE = 13,
	C_STORE_PAGE = 15,
	C_INSN_GUEST = 20,
	C_LOAD_GUEST = 21,
	C_STORE_GUEST = 23,
};

/* Geometry, from the spec's Sv32/39/48/57 sections and the H extension's
 * "Guest Physical Address Translation" (the root of an x4 scheme takes 2 more
 * index bits). */
struct geom {
	const char *name;
	unsigned levels;
	unsigned pte_bytes;
	unsigned vpn_bits;  /* index bits of a non-root level */
	unsigned root_bits; /* index bits of the root */
	unsigned va_bits;
	bool sext; /* the address must be sign-extended (else zero-extended) */
	bool gstage;
};

static const struct geom geoms[] = {
    {"sv32", 2, 4, 10, 10, 32, false, false},  {"sv39", 3, 8, 9, 9, 39, true, false},
    {"sv48", 4, 8, 9, 9, 48, true, false},     {"sv57", 5, 8, 9, 9, 57, true, false},
    {"sv32x4", 2, 4, 10, 12, 34, false, true}, {"sv39x4", 3, 8, 9, 11, 41, false, true},
    {"sv48x4", 4, 8, 9, 11, 50, false, true},  {"sv57x4", 5, 8, 9, 11, 59, false, true},
};

static const struct geom *geom(const char *name)
{
	for (size_t i = 0; i < sizeof(geoms) / sizeof(geoms[0]); i++)
		if (strcmp(geoms[i].name, name) == 0)
			return &geoms[i];
	fail_msg("no geometry %s", name);
	return NULL;
}

static unsigned lvl_shift(const struct geom *g, unsigned i)
{
	return 12 + g->vpn_bits * i;
}

static uint64_t lvl_index(const struct geom *g, uint64_t va, unsigned i)
{
	unsigned bits = i == g->levels - 1 ? g->root_bits : g->vpn_bits;
	return (va >> lvl_shift(g, i)) & ((UINT64_C(1) << bits) - 1);
}

static uint64_t pte_of(uint64_t pa, uint64_t flags)
{
	return ((pa >> 12) << 10) | flags;
}

/* ---- fixture: RAM at host-physical 0 ---- */

/* Frames that stay zero: superpage-aligned addresses that the enumeration
 * also uses as table addresses when a PTE under test is a pointer. */
#define ZERO_LO	 UINT64_C(0)	    /* 1 GiB (and 4 MiB, 512 GiB ...) aligned */
#define ZERO_2M	 UINT64_C(0x200000) /* 2 MiB aligned */
#define RAM_SIZE (UINT64_C(64) << 20)

/* RAM at host-physical 0 with the two zero frames reserved (tests/common/env.h). */
static struct tc_env *env_new(void)
{
	static const struct physim_ram_range reserved[] = {
	    {ZERO_LO, 0x2000},
	    {ZERO_2M, 0x2000},
	};
	return tc_env_new_config(&(struct physim_ram_config){
	    .base_is_zero = true, .size = RAM_SIZE, .reserved = reserved, .nreserved = 2});
}

/* A zeroed table for level i (16 KiB, 16 KiB aligned for an x4 root). */
static uint64_t table(struct tc_env *e, const struct geom *g, unsigned i)
{
	bool big = g->gstage && i == g->levels - 1;
	return tc_alloc_zeroed(e, big ? 16384 : 4096, big ? 16384 : 4096);
}

/* The slot of va at level `lvl`, creating pointer tables (V only) above it. */
static uint64_t slot(struct tc_env *e, const struct geom *g, uint64_t root, uint64_t va,
		     unsigned lvl)
{
	uint64_t t = root;
	for (unsigned i = g->levels - 1; i > lvl; i--) {
		uint64_t s = t + lvl_index(g, va, i) * g->pte_bytes;
		uint64_t d = tc_get_entry(e, s, g->pte_bytes);
		if (d == 0) {
			uint64_t n = table(e, g, i - 1);
			tc_put_entry(e, s, g->pte_bytes, pte_of(n, P_V));
			t = n;
		} else {
			t = ((d >> 10) & ((UINT64_C(1) << 44) - 1)) << 12;
		}
	}
	return t + lvl_index(g, va, lvl) * g->pte_bytes;
}

/* ---- the oracle ---- */

struct ctl_case {
	bool sum, mxr, svadu;
};

struct acc_case {
	bool write, exec, user;
};

struct expect {
	enum physim_fault_kind kind; /* NONE: success */
	int level;		     /* fault level, or the leaf's level */
	uint64_t cause;
	uint64_t pa, size;
	uint32_t perms;
	bool global;
	unsigned refs;
	int wrote_level; /* level of the PTE the hardware updates, -1: none */
	uint64_t new_pte;
};

enum { RIGHT_READ = 1, RIGHT_WRITE = 2, RIGHT_EXEC = 4 };

/*
 * What a leaf grants at a privilege (10.3.1 "Addressing and Memory
 * Protection" and sstatus "Memory Privilege"): R/W/X grant load/store/fetch;
 * MXR makes X pages loadable; U-mode gets only U = 1 pages; S-mode gets U = 0
 * pages, and U = 1 pages for loads and stores when SUM = 1 - never fetches.
 * The G stage always checks as U-mode (H: "Guest Physical Address
 * Translation").
 */
static unsigned spec_rights(uint64_t pte, bool umode, const struct ctl_case *c)
{
	unsigned r = 0;
	if (pte & P_R)
		r |= RIGHT_READ;
	if (pte & P_W)
		r |= RIGHT_WRITE;
	if (pte & P_X)
		r |= RIGHT_EXEC | (c->mxr ? RIGHT_READ : 0);
	if (umode)
		return (pte & P_U) ? r : 0;
	if (!(pte & P_U))
		return r;
	return c->sum ? r & ~(unsigned)RIGHT_EXEC : 0;
}

static unsigned access_right(const struct acc_case *a)
{
	return a->exec ? RIGHT_EXEC : a->write ? RIGHT_WRITE : RIGHT_READ;
}

/* Page faults and guest-page faults of this access type. */
static uint64_t spec_page_cause(bool gstage, const struct acc_case *a)
{
	if (gstage)
		return a->exec ? C_INSN_GUEST : a->write ? C_STORE_GUEST : C_LOAD_GUEST;
	return a->exec ? C_INSN_PAGE : a->write ? C_STORE_PAGE : C_LOAD_PAGE;
}

static uint64_t spec_access_cause(const struct acc_case *a)
{
	return a->exec ? C_INSN_ACCESS : a->write ? C_STORE_ACCESS : C_LOAD_ACCESS;
}

static struct expect spec_fault(const struct geom *g, const struct acc_case *a,
				enum physim_fault_kind kind, int level, unsigned refs)
{
	return (struct expect){.kind = kind,
			       .level = level,
			       .cause = spec_page_cause(g->gstage, a),
			       .refs = refs,
			       .wrote_level = -1};
}

/*
 * The translation process (10.3.2), for a walk whose PTEs above level L are
 * plain pointers, `d` the PTE at level L and `d_next` the PTE a pointer at L
 * leads to (at level L-1). The PTEs carry no bits above bit 9 except the PPN.
 */
static struct expect oracle(const struct geom *g, unsigned L, uint64_t d, uint64_t d_next,
			    uint64_t va, const struct ctl_case *c, const struct acc_case *a)
{
	bool global = false;
	uint64_t pte = d;
	int i = (int)L;
	unsigned refs = g->levels - L;

	for (;;) {
		/* Step 3: V = 0, or W without R. */
		if (!(pte & P_V))
			return spec_fault(g, a, PHYSIM_FAULT_NOT_PRESENT, i, refs);
		if ((pte & P_W) && !(pte & P_R))
			return spec_fault(g, a, PHYSIM_FAULT_RESERVED, i, refs);
		/* Step 4: R or X makes a leaf. */
		if (pte & (P_R | P_X))
			break;
		/* A pointer: D, A and U are reserved in non-leaf PTEs. */
		if (pte & (P_D | P_A | P_U))
			return spec_fault(g, a, PHYSIM_FAULT_RESERVED, i, refs);
		global = global || (pte & P_G);
		if (i == 0) /* i - 1 < 0 */
			return spec_fault(g, a, PHYSIM_FAULT_RESERVED, 0, refs);
		i--;
		pte = d_next;
		refs++;
	}
	global = global || (pte & P_G);
	uint64_t ppn = pte >> 10;
	/* Misaligned superpage: pte.ppn[i-1:0] != 0. */
	if (i > 0 && (ppn & ((UINT64_C(1) << (g->vpn_bits * (unsigned)i)) - 1)) != 0)
		return spec_fault(g, a, PHYSIM_FAULT_RESERVED, i, refs);
	if (!(spec_rights(pte, g->gstage || a->user, c) & access_right(a)))
		return spec_fault(g, a, PHYSIM_FAULT_PERMISSION, i, refs);
	struct expect x = {.kind = PHYSIM_FAULT_NONE, .level = i, .refs = refs, .wrote_level = -1};
	/* A = 0, or a store to D = 0: Svade faults, Svadu sets them. */
	if (!(pte & P_A) || (a->write && !(pte & P_D))) {
		if (!c->svadu)
			return spec_fault(g, a, PHYSIM_FAULT_ACCESS_FLAG, i, refs);
		x.wrote_level = i;
		x.new_pte = pte | P_A | (a->write ? P_D : 0);
	}
	x.size = UINT64_C(1) << lvl_shift(g, (unsigned)i);
	x.pa = ((ppn << 12) & ~(x.size - 1)) | (va & (x.size - 1));
	x.perms = ((pte & P_R) ? PHYSIM_R : 0) | ((pte & P_W) ? PHYSIM_W : 0) |
		  ((pte & P_X) ? PHYSIM_X : 0) | ((!g->gstage && (pte & P_U)) ? PHYSIM_U : 0);
	x.global = global && !g->gstage; /* G-stage G is ignored */
	return x;
}

/* Compare one result with the expectation. */
static void check(const struct geom *g, const struct expect *x, int rc,
		  const struct physim_xlate *r, uint64_t va, const char *what)
{
	if (x->kind == PHYSIM_FAULT_NONE) {
		if (rc != 0)
			fail_msg("%s %s va %#" PRIx64 ": expected success, got %d (%s)", g->name,
				 what, va, rc, physim_fault_str(&r->fault));
		assert_int_equal(r->fault.kind, PHYSIM_FAULT_NONE);
		assert_int_equal(r->pa, x->pa);
		assert_int_equal(r->page_size, x->size);
		assert_int_equal(r->level, x->level);
		assert_int_equal(r->perms, x->perms);
		assert_int_equal(r->global, x->global);
		assert_int_equal(r->gpa, g->gstage ? va : 0);
	} else {
		if (rc != -EFAULT || r->fault.kind != x->kind || r->fault.level != x->level ||
		    r->fault.syndrome != x->cause)
			fail_msg("%s %s va %#" PRIx64 ": expected %s at %d cause %" PRIu64
				 ", got rc %d %s",
				 g->name, what, va, physim_fault_kind_name(x->kind), x->level,
				 x->cause, rc, physim_fault_str(&r->fault));
		assert_int_equal(r->fault.stage, g->gstage ? 2 : 1);
		assert_int_equal(r->fault.addr, va);
		assert_int_equal(r->fault.gpa, g->gstage ? va : 0);
		assert_false(r->fault.s1ptw);
	}
	assert_int_equal(r->mem_refs, x->refs);
}

/* ---- enumeration ---- */

/* An address whose index differs at every level, with an offset, in the low
 * or (sign-extended formats) high half, using the x4 root's extra bits. */
static uint64_t test_va(const struct geom *g, bool high)
{
	uint64_t va = 0xabc;
	for (unsigned i = 0; i < g->levels; i++) {
		unsigned bits = i == g->levels - 1 ? g->root_bits : g->vpn_bits;
		uint64_t idx = (UINT64_C(0x15a) + 77 * i) & ((UINT64_C(1) << bits) - 1);
		if (i == g->levels - 1)
			idx |= UINT64_C(1) << (bits - 1); /* x4: GPA bits above the VA width */
		va |= idx << lvl_shift(g, i);
	}
	if (!high || !g->sext) {
		if (!g->sext)
			return va;
		return va & ~(UINT64_C(1) << (g->va_bits - 1)); /* low half */
	}
	return va | (~UINT64_C(0) << (g->va_bits - 1)); /* sign-extended */
}

/* A superpage-aligned address for a leaf at level i: the zero frames, so
 * that the same PPN read as a pointer leads to a table the test controls. */
static uint64_t aligned_pa(const struct geom *g, unsigned i)
{
	if (i == 0)
		return UINT64_C(0x7654000);
	return lvl_shift(g, i) <= 21 ? ZERO_2M : ZERO_LO;
}

struct counts {
	unsigned long walks, ok, faults[8];
};

static const struct ctl_case ctl_cases[8] = {
    {false, false, false}, {true, false, false}, {false, true, false}, {true, true, false},
    {false, false, true},  {true, false, true},	 {false, true, true},  {true, true, true},
};

/* The pointer target's leaf (at level L-1): readable, writable, user, A set,
 * D clear - loads succeed for U-mode (and S-mode with SUM), stores need D. */
#define NEXT_FLAGS (P_V | P_R | P_W | P_U | P_A)

/* Every pattern of PTE bits 7:0 at level L, with an aligned and (L > 0) a
 * misaligned PPN, under every control state and access. */
static void enumerate_level(struct tc_env *e, const struct geom *g, unsigned L, bool high,
			    struct counts *n)
{
	uint64_t root = table(e, g, g->levels - 1);
	uint64_t va = test_va(g, high);
	uint64_t s = slot(e, g, root, va, L);
	uint64_t base_pa = aligned_pa(g, L);
	uint64_t d_next = L > 0 ? pte_of(aligned_pa(g, L - 1), NEXT_FLAGS) : 0;
	/* Where a pointer at L leads (the aligned and the misaligned PPN). */
	uint64_t nslot[2] = {0, 0};
	struct physim_mmu *mmus[8];

	for (unsigned k = 0; k < 8; k++)
		mmus[k] = tc_mmu_new(e->ph, g->name, root, 0,
				     &(struct physim_mmu_ctl){.sum = ctl_cases[k].sum,
							      .mxr = ctl_cases[k].mxr,
							      .svadu = ctl_cases[k].svadu});
	if (L > 0)
		for (int mis = 0; mis < 2; mis++)
			nslot[mis] =
			    base_pa + 4096 * (uint64_t)mis + lvl_index(g, va, L - 1) * g->pte_bytes;

	for (int mis = 0; mis < (L > 0 ? 2 : 1); mis++) {
		for (unsigned pat = 0; pat < 256; pat++) {
			uint64_t d = pte_of(base_pa + 4096 * (uint64_t)mis, pat);
			for (unsigned k = 0; k < 8; k++) {
				for (unsigned ac = 0; ac < 6; ac++) {
					struct acc_case a = {.write = ac % 3 == 1,
							     .exec = ac % 3 == 2,
							     .user = ac >= 3};
					struct expect x =
					    oracle(g, L, d, d_next, va, &ctl_cases[k], &a);
					struct physim_access acc = {.va = va,
								    .write = a.write,
								    .exec = a.exec,
								    .user = a.user};
					struct physim_xlate r;
					tc_put_entry(e, s, g->pte_bytes, d);
					if (L > 0) {
						tc_zero(e, nslot[mis] & ~UINT64_C(0xfff), 4096);
						tc_put_entry(e, nslot[mis], g->pte_bytes, d_next);
					}
					/* A probe: the same answer, and no write. */
					int rc = physim_mmu_probe(mmus[k], &acc, &r);
					check(g, &x, rc, &r, va, "probe");
					assert_false(r.ad_updated);
					assert_int_equal(tc_get_entry(e, s, g->pte_bytes), d);
					if (L > 0)
						assert_int_equal(
						    tc_get_entry(e, nslot[mis], g->pte_bytes),
						    d_next);
					/* The translation, and the A/D bits it leaves. */
					rc = physim_mmu_translate(mmus[k], &acc, &r);
					check(g, &x, rc, &r, va, "translate");
					assert_int_equal(r.ad_updated, x.wrote_level >= 0);
					assert_int_equal(tc_get_entry(e, s, g->pte_bytes),
							 x.wrote_level == (int)L ? x.new_pte : d);
					if (L > 0)
						assert_int_equal(
						    tc_get_entry(e, nslot[mis], g->pte_bytes),
						    x.wrote_level == (int)L - 1 ? x.new_pte
										: d_next);
					n->walks += 2;
					if (x.kind == PHYSIM_FAULT_NONE)
						n->ok++;
					else
						n->faults[x.kind]++;
				}
			}
		}
	}
	for (unsigned k = 0; k < 8; k++)
		physim_mmu_destroy(mmus[k]);
}

static void enumerate_format(const char *name)
{
	const struct geom *g = geom(name);
	struct counts n = {0};
	struct tc_env *e = env_new();

	for (unsigned L = 0; L < g->levels; L++) {
		enumerate_level(e, g, L, false, &n);
		if (g->sext)
			enumerate_level(e, g, L, true, &n);
	}
	print_message("%s: %lu walks (probe + translate): %lu successes; faults: %lu not-present, "
		      "%lu permission, %lu access-flag, %lu reserved\n",
		      name, n.walks, n.ok * 2, n.faults[PHYSIM_FAULT_NOT_PRESENT] * 2,
		      n.faults[PHYSIM_FAULT_PERMISSION] * 2, n.faults[PHYSIM_FAULT_ACCESS_FLAG] * 2,
		      n.faults[PHYSIM_FAULT_RESERVED] * 2);
	/* Every outcome the enumeration is meant to reach, reached. */
	assert_true(n.ok > 0);
	assert_true(n.faults[PHYSIM_FAULT_NOT_PRESENT] > 0);
	assert_true(n.faults[PHYSIM_FAULT_PERMISSION] > 0);
	assert_true(n.faults[PHYSIM_FAULT_ACCESS_FLAG] > 0);
	assert_true(n.faults[PHYSIM_FAULT_RESERVED] > 0);
	tc_env_free(e);
}

static void test_enum_sv32(void **state)
{
	(void)state;
	enumerate_format("sv32");
}

static void test_enum_sv39(void **state)
{
	(void)state;
	enumerate_format("sv39");
}

static void test_enum_sv48(void **state)
{
	(void)state;
	enumerate_format("sv48");
}

static void test_enum_sv57(void **state)
{
	(void)state;
	enumerate_format("sv57");
}

static void test_enum_gstage(void **state)
{
	(void)state;
	enumerate_format("sv32x4");
	enumerate_format("sv39x4");
	enumerate_format("sv48x4");
	enumerate_format("sv57x4");
}

/* ---- hand-built cases ---- */

/* One leaf at `lvl` for va in a fresh table; returns the root. */
static uint64_t one_leaf(struct tc_env *e, const struct geom *g, uint64_t va, unsigned lvl,
			 uint64_t leaf, uint64_t *leaf_slot)
{
	uint64_t root = table(e, g, g->levels - 1);
	uint64_t s = slot(e, g, root, va, lvl);
	tc_put_entry(e, s, g->pte_bytes, leaf);
	if (leaf_slot != NULL)
		*leaf_slot = s;
	return root;
}

static int xlate(struct physim_mmu *m, uint64_t va, bool write, bool exec, bool user,
		 struct physim_xlate *x)
{
	struct physim_access a = {.va = va, .write = write, .exec = exec, .user = user};
	return physim_mmu_translate(m, &a, x);
}

static void expect_fault(int rc, const struct physim_xlate *x, enum physim_fault_kind kind,
			 int level, uint64_t cause)
{
	if (rc != -EFAULT || x->fault.kind != kind || x->fault.level != level ||
	    x->fault.syndrome != cause)
		fail_msg("expected %s at level %d cause %" PRIu64 ", got rc %d: %s",
			 physim_fault_kind_name(kind), level, cause, rc,
			 physim_fault_str(&x->fault));
}

/*
 * Bits 63:54 of an Sv39/48/57 PTE (10.4.1): 60:54 reserved, 63 N reserved
 * unless the PTE is a Svnapot NAPOT leaf (not with this PPN), 62:61 PBMT (Svpbmt) with 3 reserved,
 * and PBMT reserved in a pointer. Every such reserved encoding is a page fault (RESERVED) at the
 * level of the PTE, for each access type; G-stage PTEs likewise.
 */
static void test_reserved_bits(void **state)
{
	(void)state;
	static const char *const names[] = {"sv39", "sv48", "sv57", "sv39x4", "sv48x4", "sv57x4"};
	struct tc_env *e = env_new();
	unsigned cases = 0;

	for (size_t fi = 0; fi < sizeof(names) / sizeof(names[0]); fi++) {
		const struct geom *g = geom(names[fi]);
		uint64_t va = test_va(g, false);
		for (unsigned bit = 54; bit < 64; bit++) {
			for (int as_pointer = 0; as_pointer < 2; as_pointer++) {
				unsigned lvl = as_pointer ? 1 : 0;
				uint64_t flags =
				    as_pointer ? P_V : (P_V | P_R | P_W | P_X | P_U | P_A | P_D);
				uint64_t d = pte_of(0x5000, flags) | BIT(bit);
				uint64_t root = one_leaf(e, g, va, lvl, d, NULL);
				struct physim_mmu *m = tc_mmu_new(e->ph, g->name, root, 0, NULL);
				/* Reserved unless it is a PBMT bit of a leaf (PBMT 1 or 2). */
				bool reserved = !(bit == 61 || bit == 62) || as_pointer;
				for (int ac = 0; ac < 3; ac++) {
					struct acc_case a = {
					    .write = ac == 1, .exec = ac == 2, .user = true};
					struct physim_xlate x;
					int rc = xlate(m, va, a.write, a.exec, true, &x);
					if (reserved) {
						expect_fault(rc, &x, PHYSIM_FAULT_RESERVED,
							     (int)lvl,
							     spec_page_cause(g->gstage, &a));
						assert_int_equal(x.mem_refs, g->levels - lvl);
					} else {
						assert_int_equal(rc, 0);
						assert_int_equal(x.pa, 0x5000 | (va & 0xfff));
					}
					cases++;
				}
				physim_mmu_destroy(m);
			}
		}
		/* PBMT = 3 in a leaf is reserved (Svpbmt). */
		uint64_t root = one_leaf(
		    e, g, va, 0,
		    pte_of(0x5000, P_V | P_R | P_U | P_A) | (UINT64_C(3) << P_PBMT_SHIFT), NULL);
		struct physim_mmu *m = tc_mmu_new(e->ph, g->name, root, 0, NULL);
		struct physim_xlate x;
		expect_fault(xlate(m, va, false, false, true, &x), &x, PHYSIM_FAULT_RESERVED, 0,
			     g->gstage ? C_LOAD_GUEST : C_LOAD_PAGE);
		physim_mmu_destroy(m);
		cases++;
	}
	/* Sv32 PTEs have no reserved bits above the PPN: PPN bit 21 (PA bit
	 * 33) is an address like any other. */
	const struct geom *g32 = geom("sv32");
	uint64_t root =
	    one_leaf(e, g32, 0x12345678, 0, pte_of(UINT64_C(0x200000000), P_V | P_R | P_A), NULL);
	struct physim_mmu *m = tc_mmu_new(e->ph, "sv32", root, 0, NULL);
	struct physim_xlate x;
	assert_int_equal(xlate(m, 0x12345678, false, false, false, &x), 0);
	assert_int_equal(x.pa, UINT64_C(0x200000678));
	physim_mmu_destroy(m);
	print_message("reserved-bit cases: %u\n", cases);
	tc_env_free(e);
}

/*
 * Inputs outside the scheme: a VA not sign-extended from its top bit (10.4.1
 * "must have bits 63-39 all equal to bit 38, or else a page-fault exception
 * will occur"; Sv48/57 alike), a GPA with bits above the x4 width ("must
 * all be zeros, or else a guest-page-fault exception occurs"), an Sv32 VA
 * above 4 GiB. The fault is the access's page fault (never NON_CANONICAL,
 * which is x86's #GP), at level LEVELS-1, with no table read.
 */
static void test_non_canonical(void **state)
{
	(void)state;
	struct tc_env *e = env_new();
	unsigned cases = 0;

	for (size_t fi = 0; fi < sizeof(geoms) / sizeof(geoms[0]); fi++) {
		const struct geom *g = &geoms[fi];
		uint64_t ok_va = test_va(g, g->sext);
		uint64_t root = one_leaf(
		    e, g, ok_va, 0, pte_of(0x9000, P_V | P_R | P_W | P_X | P_U | P_A | P_D), NULL);
		struct physim_mmu *m = tc_mmu_new(e->ph, g->name, root, 0, NULL);
		struct physim_xlate x;
		/* The good address translates. */
		assert_int_equal(xlate(m, ok_va, false, false, true, &x), 0);
		assert_int_equal(x.pa, 0x9000 | (ok_va & 0xfff));
		uint64_t bad[3];
		unsigned nbad = 0;
		if (g->sext) {
			bad[nbad++] =
			    ok_va ^ BIT(g->va_bits); /* bit va_bits differs from the sign */
			bad[nbad++] = (ok_va & ((UINT64_C(1) << g->va_bits) - 1)) |
				      BIT(63);			    /* low half with bit 63 set */
			bad[nbad++] = ok_va & ~BIT(g->va_bits - 1); /* high bits set, sign clear */
		} else {
			bad[nbad++] = ok_va | BIT(g->va_bits);
			bad[nbad++] = ok_va | BIT(63);
		}
		for (unsigned b = 0; b < nbad; b++) {
			for (int ac = 0; ac < 6; ac++) {
				struct acc_case a = {
				    .write = ac % 3 == 1, .exec = ac % 3 == 2, .user = ac >= 3};
				int rc = xlate(m, bad[b], a.write, a.exec, a.user, &x);
				expect_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, (int)g->levels - 1,
					     spec_page_cause(g->gstage, &a));
				assert_int_equal(x.mem_refs, 0);
				assert_int_equal(x.fault.addr, bad[b]);
				assert_int_equal(x.fault.stage, g->gstage ? 2 : 1);
				assert_int_equal(x.fault.gpa, g->gstage ? bad[b] : 0);
				cases++;
			}
		}
		physim_mmu_destroy(m);
	}
	print_message("non-canonical cases: %u\n", cases);
	tc_env_free(e);
}

/*
 * A PTE access that violates a PMA (here: outside RAM) raises an access
 * fault of the original access type (10.3.2 step 2): 1/5/7, kind BUS_ERROR,
 * at the level of the table being read - at stage 1 and at the G stage.
 */
static void test_bus_errors(void **state)
{
	(void)state;
	struct tc_env *e = env_new();
	const uint64_t outside = UINT64_C(0x40000000); /* 1 GiB: beyond the 64 MiB RAM */
	unsigned cases = 0;

	for (size_t fi = 0; fi < sizeof(geoms) / sizeof(geoms[0]); fi++) {
		const struct geom *g = &geoms[fi];
		uint64_t va = test_va(g, false);
		for (unsigned lvl = 0; lvl + 1 < g->levels; lvl++) {
			/* The pointer at lvl+1 leads outside RAM. */
			uint64_t root = one_leaf(e, g, va, lvl + 1, pte_of(outside, P_V), NULL);
			struct physim_mmu *m = tc_mmu_new(e->ph, g->name, root, 0, NULL);
			for (int ac = 0; ac < 6; ac++) {
				struct acc_case a = {
				    .write = ac % 3 == 1, .exec = ac % 3 == 2, .user = ac >= 3};
				struct physim_xlate x;
				int rc = xlate(m, va, a.write, a.exec, a.user, &x);
				expect_fault(rc, &x, PHYSIM_FAULT_BUS_ERROR, (int)lvl,
					     spec_access_cause(&a));
				assert_int_equal(x.fault.stage, g->gstage ? 2 : 1);
				assert_int_equal(x.mem_refs, g->levels - lvl - 1);
				cases++;
			}
			physim_mmu_destroy(m);
		}
		/* The root itself outside RAM: nothing read. */
		struct physim_mmu *m = tc_mmu_new(e->ph, g->name, outside, 0, NULL);
		struct physim_xlate x;
		expect_fault(xlate(m, va, true, false, false, &x), &x, PHYSIM_FAULT_BUS_ERROR,
			     (int)g->levels - 1, C_STORE_ACCESS);
		assert_int_equal(x.mem_refs, 0);
		physim_mmu_destroy(m);
		cases++;
	}
	print_message("bus-error cases: %u\n", cases);
	tc_env_free(e);
}

/* satp / hgatp hold the root's PPN, and hgatp.PPN[1:0] read as zero (the x4
 * root is 16 KiB aligned, H extension): a root address with those bits set
 * walks the aligned table. */
static void test_root_alignment(void **state)
{
	(void)state;
	struct tc_env *e = env_new();
	for (size_t fi = 0; fi < sizeof(geoms) / sizeof(geoms[0]); fi++) {
		const struct geom *g = &geoms[fi];
		uint64_t va = test_va(g, false);
		uint64_t root = one_leaf(e, g, va, 0, pte_of(0xa000, P_V | P_R | P_U | P_A), NULL);
		/* Also put a different mapping where an unmasked root would look. */
		uint64_t off = g->gstage ? 0x3000 : 0x800;
		struct physim_mmu *m = tc_mmu_new(e->ph, g->name, root + off, 0, NULL);
		struct physim_xlate x;
		assert_int_equal(xlate(m, va, false, false, true, &x), 0);
		assert_int_equal(x.pa, 0xa000 | (va & 0xfff));
		physim_mmu_destroy(m);
	}
	tc_env_free(e);
}

/* Tables built by the engine (A and D preset on new leaves, pt.md) translate
 * under the default control state (Svade): the formats and the walker agree
 * on every page size. (physim_translate itself needs lib/pt.c's
 * physim_pt_paging; an mmu over the table's root is the same walk.) */
static void test_engine_tables(void **state)
{
	(void)state;
	struct tc_env *e = env_new();
	for (size_t fi = 0; fi < sizeof(geoms) / sizeof(geoms[0]); fi++) {
		const struct geom *g = &geoms[fi];
		struct physim_pt *pt;
		assert_int_equal(physim_pt_create(physim_format(g->name), e->ph, &pt), 0);
		struct physim_mmu *m = tc_mmu_new(e->ph, g->name, physim_pt_root(pt), 0, NULL);
		for (unsigned lvl = 0; lvl < g->levels && lvl < 3; lvl++) {
			uint64_t size = UINT64_C(1) << lvl_shift(g, lvl);
			uint64_t va = size * 3;
			uint64_t pa = size * 5;
			uint32_t fl = PHYSIM_R | PHYSIM_W | (g->gstage ? 0 : PHYSIM_U);
			assert_int_equal(physim_pt_map(pt, va, pa, size, fl), 0);
			for (int ac = 0; ac < 2; ac++) {
				struct physim_xlate x;
				assert_int_equal(xlate(m, va + 0x123, ac == 1, false, true, &x), 0);
				assert_int_equal(x.pa, pa + 0x123);
				assert_int_equal(x.page_size, size);
				assert_int_equal(x.level, (int)lvl);
				assert_int_equal(x.perms, fl);
				assert_false(x.ad_updated);
				assert_int_equal(x.mem_refs, g->levels - lvl);
			}
			/* No execute permission: an instruction (guest-)page fault. */
			struct physim_xlate x;
			expect_fault(xlate(m, va + 0x123, false, true, true, &x), &x,
				     PHYSIM_FAULT_PERMISSION, (int)lvl,
				     g->gstage ? C_INSN_GUEST : C_INSN_PAGE);
		}
		physim_mmu_destroy(m);
		physim_pt_destroy(pt);
	}
	tc_env_free(e);
}

/* ---- nested: a VS stage over a G stage ---- */

#define GBASE UINT64_C(0x80000000) /* guest-physical base of guest RAM */
#define HBASE UINT64_C(0x2000000)  /* host-physical home of guest RAM */
#define GSIZE UINT64_C(0x1000000)
#define GFULL (P_V | P_R | P_W | P_X | P_U | P_A | P_D) /* G-stage leaves need U */
#define VFULL (P_V | P_R | P_W | P_X | P_A | P_D)	/* an S-mode page */

struct nest {
	struct tc_env *e;
	const struct geom *g1, *g2;
	uint64_t gva;
	uint64_t s2_root;
	uint64_t vs_table[5]; /* GPA of the VS table at level i */
	uint64_t vs_slot[5];  /* GPA of the VS entry for gva at level i */
	uint64_t data_gpa;
	struct physim_mmu *s1, *s2;
};

static uint64_t host_of(uint64_t gpa)
{
	return HBASE + (gpa - GBASE);
}

/* The G-stage leaf for the 4 KiB guest page at gpa (its HPA slot). */
static uint64_t gslot(struct nest *n, uint64_t gpa)
{
	return slot(n->e, n->g2, n->s2_root, gpa, 0);
}

static void gmap(struct nest *n, uint64_t gpa, uint64_t hpa, uint64_t flags)
{
	tc_put_entry(n->e, gslot(n, gpa), n->g2->pte_bytes, pte_of(hpa, flags));
}

/* A guest write of a VS-level PTE. */
static void vs_put(struct nest *n, uint64_t gpa, uint64_t v)
{
	tc_put_entry(n->e, host_of(gpa), n->g1->pte_bytes, v);
}

static uint64_t vs_get(struct nest *n, uint64_t gpa)
{
	return tc_get_entry(n->e, host_of(gpa), n->g1->pte_bytes);
}

static void nest_ctl(struct nest *n, const struct physim_mmu_ctl *c1,
		     const struct physim_mmu_ctl *c2)
{
	struct physim_mmu_config c;
	physim_mmu_get_config(n->s1, &c);
	c.ctl = c1 ? *c1 : (struct physim_mmu_ctl){0};
	assert_int_equal(physim_mmu_set_config(n->s1, &c), 0);
	physim_mmu_get_config(n->s2, &c);
	c.ctl = c2 ? *c2 : (struct physim_mmu_ctl){0};
	assert_int_equal(physim_mmu_set_config(n->s2, &c), 0);
}

/* VS tables, a data page and their G-stage mappings (4 KiB, all
 * permissions), guest RAM GPA GBASE.. living at HPA HBASE.. */
static void nest_new(struct nest *n, const char *f1, const char *f2, uint64_t gva)
{
	*n = (struct nest){.e = env_new(), .g1 = geom(f1), .g2 = geom(f2), .gva = gva};
	assert_int_equal(physim_ram_alloc_at(n->e->ram, HBASE, GSIZE), 0);
	tc_zero(n->e, HBASE, 0x200000);
	n->s2_root = table(n->e, n->g2, n->g2->levels - 1);
	n->data_gpa = GBASE + 0x100000;
	unsigned top = n->g1->levels - 1;
	for (unsigned i = 0; i <= top; i++) {
		n->vs_table[i] = GBASE + 0x10000 + 0x1000 * (uint64_t)i;
		n->vs_slot[i] = n->vs_table[i] + lvl_index(n->g1, gva, i) * n->g1->pte_bytes;
		gmap(n, n->vs_table[i], host_of(n->vs_table[i]), GFULL);
	}
	for (unsigned i = top; i > 0; i--)
		vs_put(n, n->vs_slot[i], pte_of(n->vs_table[i - 1], P_V));
	vs_put(n, n->vs_slot[0], pte_of(n->data_gpa, VFULL));
	gmap(n, n->data_gpa, host_of(n->data_gpa), GFULL);

	struct physim_mmu_config c1 = {.format = physim_format(f1), .root = n->vs_table[top]};
	struct physim_mmu_config c2 = {
	    .format = physim_format(f2), .mem = n->e->ph, .root = n->s2_root};
	assert_int_equal(physim_mmu_create(&c1, &n->s1), 0);
	assert_int_equal(physim_mmu_create(&c2, &n->s2), 0);
}

static void nest_free(struct nest *n)
{
	physim_mmu_destroy(n->s1);
	physim_mmu_destroy(n->s2);
	tc_env_free(n->e);
}

static int nested(struct nest *n, const struct acc_case *a, struct physim_xlate *x)
{
	struct physim_access acc = {
	    .va = n->gva, .write = a->write, .exec = a->exec, .user = a->user};
	return physim_nested_translate(n->s1, n->s2, &acc, x);
}

static void expect_nested_fault(int rc, const struct physim_xlate *x, unsigned stage,
				enum physim_fault_kind kind, int level, uint64_t cause, bool s1ptw,
				uint64_t gpa)
{
	if (rc != -EFAULT || x->fault.stage != stage || x->fault.kind != kind ||
	    x->fault.level != level || x->fault.syndrome != cause || x->fault.s1ptw != s1ptw)
		fail_msg("expected stage %u %s at level %d cause %" PRIu64 "%s, got rc %d: %s",
			 stage, physim_fault_kind_name(kind), level, cause, s1ptw ? " (s1ptw)" : "",
			 rc, physim_fault_str(&x->fault));
	if (stage == 2) {
		assert_int_equal(x->fault.gpa, gpa);
		assert_int_equal(x->fault.addr, gpa);
	}
}

static const struct acc_case nest_accesses[6] = {
    {false, false, false}, {true, false, false}, {false, true, false},
    {false, false, true},  {true, false, true},	 {false, true, true},
};

/* Success equals the composition worked out by hand: GVA -> data GPA (VS
 * leaf) -> HPA (G-stage leaf), every table GPA translated by the G stage
 * first: LEVELS1 x (LEVELS2 + 1) + LEVELS2 references. */
static void test_nested_success(void **state)
{
	(void)state;
	static const char *const pairs[][3] = {
	    {"sv48", "sv48x4", NULL}, {"sv39", "sv39x4", NULL}, {"sv57", "sv57x4", NULL},
	    {"sv32", "sv32x4", NULL}, {"sv39", "sv48x4", NULL},
	};
	for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
		const struct geom *g1 = geom(pairs[p][0]);
		uint64_t gva = g1->pte_bytes == 4 ? UINT64_C(0x12345abc) : UINT64_C(0x3f12345abc);
		struct nest n;
		nest_new(&n, pairs[p][0], pairs[p][1], gva);
		for (int ac = 0; ac < 3; ac++) { /* S-mode page: supervisor accesses */
			struct physim_xlate x;
			assert_int_equal(nested(&n, &nest_accesses[ac], &x), 0);
			assert_int_equal(x.gpa, n.data_gpa + (gva & 0xfff));
			assert_int_equal(x.pa, host_of(n.data_gpa) + (gva & 0xfff));
			assert_int_equal(x.page_size, 4096);
			assert_int_equal(x.level, 0);
			assert_int_equal(x.perms, PHYSIM_R | PHYSIM_W | PHYSIM_X);
			assert_int_equal(x.mem_refs,
					 g1->levels * (n.g2->levels + 1) + n.g2->levels);
			assert_false(x.ad_updated);
		}
		/* A U-mode access to the S-mode page: a VS-stage page fault. */
		struct physim_xlate x;
		expect_nested_fault(nested(&n, &nest_accesses[4], &x), &x, 1,
				    PHYSIM_FAULT_PERMISSION, 0, C_STORE_PAGE, false, 0);
		nest_free(&n);
	}
}

/* H "Two-Stage Address Translation": G-stage checks for a VS-level table
 * read are those of an implicit load in U-mode, but the guest-page fault is
 * reported for the original access type (20/21/23), with the GPA of the VS
 * entry (htval would hold it >> 2) and s1ptw. */
static void test_nested_table_faults(void **state)
{
	(void)state;
	const uint64_t gva = UINT64_C(0x3f12345abc);
	struct nest n;
	nest_new(&n, "sv48", "sv48x4", gva);
	unsigned top = n.g1->levels - 1, l2 = n.g2->levels;

	for (unsigned i = 0; i <= top; i++) {
		uint64_t gs = gslot(&n, n.vs_table[i]);
		uint64_t hpa = host_of(n.vs_table[i]);
		unsigned refs_before = (top - i) * (l2 + 1);
		for (int ac = 0; ac < 6; ac++) {
			const struct acc_case *a = &nest_accesses[ac];
			uint64_t cause = spec_page_cause(true, a);
			struct physim_xlate x;
			/* Not mapped at the G stage. */
			tc_put_entry(n.e, gs, 8, 0);
			expect_nested_fault(nested(&n, a, &x), &x, 2, PHYSIM_FAULT_NOT_PRESENT, 0,
					    cause, true, n.vs_slot[i]);
			assert_int_equal(x.mem_refs, refs_before + l2);
			/* U = 0: every G-stage access is a U-mode access. */
			tc_put_entry(n.e, gs, 8, pte_of(hpa, GFULL & ~(uint64_t)P_U));
			expect_nested_fault(nested(&n, a, &x), &x, 2, PHYSIM_FAULT_PERMISSION, 0,
					    cause, true, n.vs_slot[i]);
			/* Execute-only: the implicit load needs R, or X with
			 * HS-level MXR on the G stage. */
			tc_put_entry(n.e, gs, 8, pte_of(hpa, P_V | P_X | P_U | P_A | P_D));
			expect_nested_fault(nested(&n, a, &x), &x, 2, PHYSIM_FAULT_PERMISSION, 0,
					    cause, true, n.vs_slot[i]);
			nest_ctl(&n, NULL, &(struct physim_mmu_ctl){.mxr = true});
			int rc = nested(&n, a, &x);
			if (a->user) /* the VS leaf is an S-mode page */
				expect_nested_fault(rc, &x, 1, PHYSIM_FAULT_PERMISSION, 0,
						    spec_page_cause(false, a), false, 0);
			else
				assert_int_equal(rc, 0);
			nest_ctl(&n, NULL, NULL);
			/* A = 0 on the G-stage leaf: Svade faults, Svadu sets A only
			 * (a load). */
			tc_put_entry(n.e, gs, 8,
				     pte_of(hpa, GFULL & ~(uint64_t)P_A & ~(uint64_t)P_D));
			expect_nested_fault(nested(&n, a, &x), &x, 2, PHYSIM_FAULT_ACCESS_FLAG, 0,
					    cause, true, n.vs_slot[i]);
			nest_ctl(&n, NULL, &(struct physim_mmu_ctl){.svadu = true});
			rc = nested(&n, a, &x);
			assert_int_equal(tc_get_entry(n.e, gs, 8),
					 pte_of(hpa, GFULL & ~(uint64_t)P_D));
			assert_int_equal(rc, a->user ? -EFAULT : 0);
			nest_ctl(&n, NULL, NULL);
			tc_put_entry(n.e, gs, 8, pte_of(hpa, GFULL));
		}
	}
	nest_free(&n);
}

/* Svadu at the VS stage: the A/D update of the VS leaf is an implicit store
 * through the G stage (needs W there, and D under G-stage Svade); a fault
 * there is reported for the original access type and leaves the VS leaf as
 * it was. */
static void test_nested_ad_writeback(void **state)
{
	(void)state;
	const uint64_t gva = UINT64_C(0x3f12345abc);
	struct nest n;
	nest_new(&n, "sv48", "sv48x4", gva);
	uint64_t leaf_gpa = n.vs_slot[0];
	uint64_t vs_leaf = pte_of(n.data_gpa, VFULL & ~(uint64_t)(P_A | P_D));
	uint64_t gs = gslot(&n, n.vs_table[0]);
	uint64_t hpa = host_of(n.vs_table[0]);
	const struct physim_mmu_ctl vs_svadu = {.svadu = true};

	for (int ac = 0; ac < 3; ac++) {
		const struct acc_case *a = &nest_accesses[ac];
		uint64_t gcause = spec_page_cause(true, a);
		uint64_t want = vs_leaf | P_A | (a->write ? P_D : 0);
		struct physim_xlate x;

		/* VS Svade: a VS-stage page fault, nothing written. */
		vs_put(&n, leaf_gpa, vs_leaf);
		nest_ctl(&n, NULL, NULL);
		expect_nested_fault(nested(&n, a, &x), &x, 1, PHYSIM_FAULT_ACCESS_FLAG, 0,
				    spec_page_cause(false, a), false, 0);
		assert_int_equal(vs_get(&n, leaf_gpa), vs_leaf);

		/* VS Svadu, table page writable at the G stage: A (and D). */
		nest_ctl(&n, &vs_svadu, NULL);
		assert_int_equal(nested(&n, a, &x), 0);
		assert_true(x.ad_updated);
		assert_int_equal(vs_get(&n, leaf_gpa), want);

		/* Read-only at the G stage: the implicit store faults. */
		vs_put(&n, leaf_gpa, vs_leaf);
		tc_put_entry(n.e, gs, 8, pte_of(hpa, GFULL & ~(uint64_t)P_W));
		expect_nested_fault(nested(&n, a, &x), &x, 2, PHYSIM_FAULT_PERMISSION, 0, gcause,
				    true, leaf_gpa);
		assert_int_equal(vs_get(&n, leaf_gpa), vs_leaf);

		/* Writable with D = 0: G-stage Svade faults... */
		tc_put_entry(n.e, gs, 8, pte_of(hpa, GFULL & ~(uint64_t)P_D));
		expect_nested_fault(nested(&n, a, &x), &x, 2, PHYSIM_FAULT_ACCESS_FLAG, 0, gcause,
				    true, leaf_gpa);
		assert_int_equal(vs_get(&n, leaf_gpa), vs_leaf);
		assert_int_equal(tc_get_entry(n.e, gs, 8), pte_of(hpa, GFULL & ~(uint64_t)P_D));
		/* ...and G-stage Svadu dirties the table page. */
		nest_ctl(&n, &vs_svadu, &(struct physim_mmu_ctl){.svadu = true});
		assert_int_equal(nested(&n, a, &x), 0);
		assert_int_equal(vs_get(&n, leaf_gpa), want);
		assert_int_equal(tc_get_entry(n.e, gs, 8), pte_of(hpa, GFULL));
		tc_put_entry(n.e, gs, 8, pte_of(hpa, GFULL));
	}
	nest_free(&n);
}

/* Faults of the final GPA: a guest-page fault with the full GPA, s1ptw
 * clear; a GPA wider than Sv48x4's 50 bits is a guest-page fault at the
 * G-stage root; a VS table that the G stage maps outside host memory is a
 * VS-stage access fault (stage 1, BUS_ERROR) with the table entry's GPA. */
static void test_nested_final_and_bus(void **state)
{
	(void)state;
	const uint64_t gva = UINT64_C(0x3f12345abc);
	struct nest n;
	nest_new(&n, "sv48", "sv48x4", gva);
	uint64_t off = gva & 0xfff;
	uint64_t gs = gslot(&n, n.data_gpa);

	for (int ac = 0; ac < 3; ac++) {
		const struct acc_case *a = &nest_accesses[ac];
		struct physim_xlate x;
		tc_put_entry(n.e, gs, 8, 0);
		expect_nested_fault(nested(&n, a, &x), &x, 2, PHYSIM_FAULT_NOT_PRESENT, 0,
				    spec_page_cause(true, a), false, n.data_gpa + off);
		assert_int_equal(x.gpa, n.data_gpa + off);
		assert_int_equal(x.mem_refs, 4 * 5 + 4);
		tc_put_entry(n.e, gs, 8,
			     pte_of(host_of(n.data_gpa), GFULL & ~(uint64_t)(P_W | P_X)));
		int rc = nested(&n, a, &x);
		if (a->write || a->exec)
			expect_nested_fault(rc, &x, 2, PHYSIM_FAULT_PERMISSION, 0,
					    spec_page_cause(true, a), false, n.data_gpa + off);
		else
			assert_int_equal(rc, 0);
		tc_put_entry(n.e, gs, 8, pte_of(host_of(n.data_gpa), GFULL));

		/* GPA bit 52 set: above Sv48x4's 50 bits. */
		uint64_t wide = UINT64_C(1) << 52;
		vs_put(&n, n.vs_slot[0], pte_of(wide, VFULL));
		expect_nested_fault(nested(&n, a, &x), &x, 2, PHYSIM_FAULT_NOT_PRESENT, 3,
				    spec_page_cause(true, a), false, wide + off);
		assert_int_equal(x.mem_refs, 4 * 5);
		vs_put(&n, n.vs_slot[0], pte_of(n.data_gpa, VFULL));

		/* The Sv48 level-2 table maps to host memory that does not exist. */
		uint64_t t2 = gslot(&n, n.vs_table[2]);
		tc_put_entry(n.e, t2, 8, pte_of(UINT64_C(0x100000000), GFULL));
		rc = nested(&n, a, &x);
		if (rc != -EFAULT || x.fault.stage != 1 || x.fault.kind != PHYSIM_FAULT_BUS_ERROR ||
		    x.fault.level != 2 || x.fault.syndrome != spec_access_cause(a) || x.fault.s1ptw)
			fail_msg("expected a stage-1 access fault at level 2, got %s",
				 physim_fault_str(&x.fault));
		assert_int_equal(x.fault.gpa, n.vs_slot[2]);
		assert_int_equal(x.mem_refs, 5 + 4);
		tc_put_entry(n.e, t2, 8, pte_of(host_of(n.vs_table[2]), GFULL));
	}
	/* A non-canonical GVA: a VS-stage page fault before any reference. */
	struct physim_access bad = {.va = UINT64_C(1) << 47, .write = true};
	struct physim_xlate x;
	expect_nested_fault(physim_nested_translate(n.s1, n.s2, &bad, &x), &x, 1,
			    PHYSIM_FAULT_NOT_PRESENT, 3, C_STORE_PAGE, false, 0);
	assert_int_equal(x.mem_refs, 0);
	nest_free(&n);
}

/*
 * A first stage of another family over a RISC-V G stage (no architecture
 * does this, but the API accepts any pair): its table accesses reach the G
 * stage as implicit loads, and a fault there is reported as a load (21) - in
 * particular not as the type of an earlier RISC-V walk. x86-64 4-level
 * tables (P | R/W | U/S = 7 in every entry, SDM Vol. 3A 4.5) at GPAs
 * GBASE + 0x20000.., the level-1 table left unmapped at the G stage.
 */
static void other_family_load(struct nest *n)
{
	uint64_t xt[4], xslot[4];
	for (unsigned i = 0; i < 4; i++) {
		xt[i] = GBASE + 0x20000 + 0x1000 * (uint64_t)i;
		xslot[i] = xt[i] + ((n->gva >> (12 + 9 * i)) & 511) * 8;
		gmap(n, xt[i], host_of(xt[i]), GFULL);
	}
	for (unsigned i = 3; i > 0; i--)
		vs_put(n, xslot[i], xt[i - 1] | 7);
	vs_put(n, xslot[0], n->data_gpa | 7);
	tc_put_entry(n->e, gslot(n, xt[1]), 8, 0);
	struct physim_mmu *x86;
	struct physim_mmu_config c = {.format = physim_format("x86_64-4l"), .root = xt[3]};
	assert_int_equal(physim_mmu_create(&c, &x86), 0);
	struct physim_access a = {.va = n->gva};
	struct physim_xlate x;
	expect_nested_fault(physim_nested_translate(x86, n->s2, &a, &x), &x, 2,
			    PHYSIM_FAULT_NOT_PRESENT, 0, C_LOAD_GUEST, true, xslot[1]);
	physim_mmu_destroy(x86);
}

/* The original access type reported for a G-stage fault on a VS table comes
 * from the walk in progress, never from an earlier one: walks that ended in
 * every possible way, then a table fault of each access type. */
static void test_nested_cause_not_stale(void **state)
{
	(void)state;
	const uint64_t gva = UINT64_C(0x3f12345abc);
	struct nest n;
	nest_new(&n, "sv48", "sv48x4", gva);
	uint64_t gs = gslot(&n, n.vs_table[1]);
	uint64_t keep = tc_get_entry(n.e, gs, 8);
	struct physim_access bad = {.va = UINT64_C(1) << 47, .exec = true};
	struct physim_xlate x;
	int rc;

	for (int before = 0; before < 6; before++) {
		for (int ac = 0; ac < 3; ac++) {
			/* Something that ended with a fetch or a store. */
			const struct acc_case *prev = &nest_accesses[ac == 2 ? 1 : 2];
			switch (before) {
			case 0: /* a VS-stage fault */
				vs_put(&n, n.vs_slot[0], 0);
				assert_int_equal(nested(&n, prev, &x), -EFAULT);
				vs_put(&n, n.vs_slot[0], pte_of(n.data_gpa, VFULL));
				break;
			case 1: /* a success */
				assert_int_equal(nested(&n, prev, &x), 0);
				break;
			case 2: /* a non-canonical GVA */
				bad.write = prev->write;
				bad.exec = prev->exec;
				assert_int_equal(physim_nested_translate(n.s1, n.s2, &bad, &x),
						 -EFAULT);
				break;
			case 3: /* a lone G-stage walk */
			{
				struct physim_access d = {
				    .va = n.data_gpa, .write = prev->write, .exec = prev->exec};
				assert_int_equal(physim_mmu_translate(n.s2, &d, &x), 0);
				break;
			}
			case 4: /* a VS root GPA beyond the G stage's 50-bit input
				 * (found by tests/fuzz/fuzz_walk) */
			{
				struct physim_mmu_config c;
				physim_mmu_get_config(n.s1, &c);
				uint64_t root = c.root;
				c.root = UINT64_C(1) << 55;
				assert_int_equal(physim_mmu_set_config(n.s1, &c), 0);
				rc = nested(&n, prev, &x);
				assert_int_equal(rc, -EFAULT);
				assert_int_equal(x.fault.stage, 2);
				c.root = root;
				assert_int_equal(physim_mmu_set_config(n.s1, &c), 0);
				break;
			}
			case 5: /* the VS stage over a second stage of another
				 * family (any result; found by tests/fuzz/fuzz_walk) */
			{
				struct physim_mmu_config c;
				struct physim_mmu *ept;
				physim_mmu_get_config(n.s2, &c);
				c.format = physim_format("ept-4l");
				assert_int_equal(physim_mmu_create(&c, &ept), 0);
				struct physim_access a = {
				    .va = n.gva, .write = prev->write, .exec = prev->exec};
				(void)physim_nested_translate(n.s1, ept, &a, &x);
				physim_mmu_destroy(ept);
				break;
			}
			}
			other_family_load(&n);
			tc_put_entry(n.e, gs, 8, 0);
			expect_nested_fault(
			    nested(&n, &nest_accesses[ac], &x), &x, 2, PHYSIM_FAULT_NOT_PRESENT, 0,
			    spec_page_cause(true, &nest_accesses[ac]), true, n.vs_slot[1]);
			tc_put_entry(n.e, gs, 8, keep);
			/* A lone G-stage walk reports its own access type (GPA
			 * 0x7000000 shares the root entry of guest RAM, not its
			 * level-2 entry). */
			struct physim_access d = {.va = UINT64_C(0x7000000), .exec = true};
			expect_fault(physim_mmu_translate(n.s2, &d, &x), &x,
				     PHYSIM_FAULT_NOT_PRESENT, 2, C_INSN_GUEST);
		}
	}
	nest_free(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enum_sv32),
	    cmocka_unit_test(test_enum_sv39),
	    cmocka_unit_test(test_enum_sv48),
	    cmocka_unit_test(test_enum_sv57),
	    cmocka_unit_test(test_enum_gstage),
	    cmocka_unit_test(test_reserved_bits),
	    cmocka_unit_test(test_non_canonical),
	    cmocka_unit_test(test_bus_errors),
	    cmocka_unit_test(test_root_alignment),
	    cmocka_unit_test(test_engine_tables),
	    cmocka_unit_test(test_nested_success),
	    cmocka_unit_test(test_nested_table_faults),
	    cmocka_unit_test(test_nested_ad_writeback),
	    cmocka_unit_test(test_nested_final_and_bus),
	    cmocka_unit_test(test_nested_cause_not_stale),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
