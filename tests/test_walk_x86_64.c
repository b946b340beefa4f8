/* SPDX-License-Identifier: MIT */
/* tests/test_walk_x86_64.c - the x86 walker against an oracle written here
 * from the Intel SDM Vol. 3A 4.6-4.8 (sharing no code with the walker):
 * every combination of the permission bits at each level, crossed with the
 * control state and every access type, for 4-level, PAE and 32-bit paging;
 * plus hand-derived cases for 5-level, 1-GByte pages, MAXPHYADDR and
 * non-canonical addresses, and EPT (Vol. 3C 29.3) cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/env.h"

#include <physim/ram.h>
#include <physim/walk.h>

#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define BIT(n) (UINT64_C(1) << (n))

/* Entry bits, from the SDM tables (4-14..4-20, 4-4..4-11), written out here
 * again on purpose. */
enum {
	E_P = 1 << 0,
	E_RW = 1 << 1,
	E_US = 1 << 2,
	E_A = 1 << 5,
	E_D = 1 << 6,
	E_PS = 1 << 7,
	E_G = 1 << 8,
};
#define E_XD BIT(63)

/* #PF error code bits (SDM 4.7). */
enum { EC_P = 1, EC_WR = 2, EC_US = 4, EC_RSVD = 8, EC_ID = 16, EC_PK = 32 };

/* ---- fixture: RAM, table memory and mmus from tests/common/env.h ---- */

#define RAM_SIZE  (UINT64_C(64) << 20)
#define ADDR_MASK UINT64_C(0x000ffffffffff000) /* a table entry's address bits */

/* ---- the oracle (SDM Vol. 3A 4.6, 4.6.2, 4.7) ---- */

enum mode { M_LONG, M_PAE, M_32 };

struct ctl_case {
	bool wp, smep, smap, ac, nxe, pke;
	uint32_t pkru;
};

struct acc_case {
	bool write, fetch, user, implicit;
};

struct expect {
	enum physim_fault_kind kind;
	int level;   /* fault level, or the leaf's level */
	uint64_t ec; /* error code */
	uint32_t perms;
	int leaf; /* arch level of the leaf (success) */
};

/* 4.6.1 "Determination of Access Rights", transcribed bullet by bullet. */
static bool sdm_access_allowed(const struct ctl_case *c, const struct acc_case *a, bool user_page,
			       bool writable, bool xd)
{
	if (a->fetch) {
		/* Instruction fetches. */
		if (a->user)
			return user_page && !xd; /* only user-mode addresses, XD clear */
		if (user_page)
			return !c->smep && !xd; /* SMEP forbids supervisor fetches there */
		return !xd;
	}
	if (a->user) {
		/* User-mode data accesses: user-mode addresses only; writes need
		 * R/W = 1 throughout. */
		if (!user_page)
			return false;
		return !a->write || writable;
	}
	/* Supervisor-mode data accesses (CPL < 3 or implicit). */
	if (user_page && c->smap) {
		/* With SMAP, implicit accesses never; explicit ones only with
		 * RFLAGS.AC = 1. */
		if (a->implicit || !c->ac)
			return false;
	}
	if (!a->write)
		return true;
	/* CR0.WP = 0: supervisor writes ignore R/W. */
	return !c->wp || writable;
}

/* 4.6.2: protection keys, data accesses to user-mode addresses, 4-level only. */
static bool sdm_pkey_violation(enum mode m, const struct ctl_case *c, const struct acc_case *a,
			       bool user_page, unsigned key)
{
	if (m != M_LONG || !c->pke || a->fetch || !user_page)
		return false;
	bool adi = c->pkru & (1u << (2 * key));
	bool wdi = c->pkru & (1u << (2 * key + 1));
	return adi || (wdi && a->write && (a->user || c->wp));
}

/* 4.7: W/R, U/S and I/D bits common to every #PF of this access. */
static uint64_t sdm_ec_base(enum mode m, const struct ctl_case *c, const struct acc_case *a)
{
	uint64_t ec = 0;
	if (a->write)
		ec |= EC_WR;
	if (a->user)
		ec |= EC_US;
	if (a->fetch && (c->smep || (m != M_32 && c->nxe)))
		ec |= EC_ID;
	return ec;
}

/*
 * The walk, from the entries the test wrote: ent[i] is the entry at
 * architecture level top-i (ent[0] the root entry). rsv[i] says whether the
 * entry has a bit the test knows to be reserved. no_rights[i]: the entry
 * has no R/W, U/S, XD (PAE PDPTE). ps_level: the level where PS makes a leaf.
 */
static struct expect oracle(enum mode m, int top, const uint64_t *ent, const bool *rsv,
			    const bool *no_rights, int ps_level, const struct ctl_case *c,
			    const struct acc_case *a, unsigned key)
{
	struct expect x = {0};
	uint64_t ec = sdm_ec_base(m, c, a);
	bool user_page = true, writable = true, xd = false;

	for (int i = 0, lvl = top; lvl >= 1; i++, lvl--) {
		uint64_t d = ent[i];
		if (!(d & E_P)) {
			x.kind = PHYSIM_FAULT_NOT_PRESENT;
			x.level = lvl;
			x.ec = ec;
			return x;
		}
		/* XD is reserved when NXE = 0 (PAE, 4-level: 4.4.2, 4.5.4). */
		if (rsv[i] || (m != M_32 && !c->nxe && (d & E_XD))) {
			x.kind = PHYSIM_FAULT_RESERVED;
			x.level = lvl;
			x.ec = ec | EC_P | EC_RSVD;
			return x;
		}
		if (!no_rights[i]) {
			user_page = user_page && (d & E_US);
			writable = writable && (d & E_RW);
			xd = xd || (m != M_32 && c->nxe && (d & E_XD));
		}
		if (lvl == 1 || (lvl == ps_level && (d & E_PS))) {
			x.leaf = lvl;
			break;
		}
	}
	bool pk = sdm_pkey_violation(m, c, a, user_page, key);
	x.level = x.leaf;
	if (pk || !sdm_access_allowed(c, a, user_page, writable, xd)) {
		x.kind = PHYSIM_FAULT_PERMISSION;
		x.ec = ec | EC_P | (pk ? EC_PK : 0);
		return x;
	}
	x.kind = PHYSIM_FAULT_NONE;
	x.perms =
	    PHYSIM_R | (writable ? PHYSIM_W : 0) | (user_page ? PHYSIM_U : 0) | (xd ? 0 : PHYSIM_X);
	return x;
}

/* ---- enumeration helpers ---- */

/* The 8 access types: read/write/fetch x user/supervisor, and implicit
 * supervisor reads and writes. */
static const struct acc_case accesses[] = {
    {.write = false},
    {.write = true},
    {.fetch = true},
    {.user = true},
    {.user = true, .write = true},
    {.user = true, .fetch = true},
    {.implicit = true},
    {.implicit = true, .write = true},
};
#define NACC (sizeof(accesses) / sizeof(accesses[0]))

static struct ctl_case ctl_from_bits(unsigned bits, bool pke, uint32_t pkru)
{
	return (struct ctl_case){
	    .wp = bits & 1,
	    .smep = bits & 2,
	    .smap = bits & 4,
	    .ac = bits & 8,
	    .nxe = bits & 16,
	    .pke = pke,
	    .pkru = pkru,
	};
}

static struct physim_mmu_ctl mmu_ctl(const struct ctl_case *c)
{
	return (struct physim_mmu_ctl){
	    .wp_off = !c->wp,
	    .nxe_off = !c->nxe,
	    .smep = c->smep,
	    .smap = c->smap,
	    .ac = c->ac,
	    .pke = c->pke,
	    .pkru = c->pkru,
	};
}

static struct physim_access mk_access(uint64_t va, const struct acc_case *a)
{
	return (struct physim_access){.va = va,
				      .write = a->write,
				      .exec = a->fetch,
				      .user = a->user,
				      .implicit = a->implicit};
}

struct stats {
	unsigned long walks, ok, np, perm, rsv, pk, mismatches;
};

static void count(struct stats *s, const struct expect *x)
{
	s->walks++;
	switch (x->kind) {
	case PHYSIM_FAULT_NONE:
		s->ok++;
		break;
	case PHYSIM_FAULT_NOT_PRESENT:
		s->np++;
		break;
	case PHYSIM_FAULT_PERMISSION:
		s->perm++;
		if (x->ec & EC_PK)
			s->pk++;
		break;
	default:
		s->rsv++;
	}
}

/* Compare one walk with the oracle; descriptors after the walk in `after`,
 * as the oracle says they must be in `want_after`. */
static bool check_one(struct stats *s, const char *what, int rc, const struct physim_xlate *x,
		      const struct expect *e, uint64_t want_pa, uint64_t want_size,
		      bool want_global, unsigned want_refs, const uint64_t *after,
		      const uint64_t *want_after, int n)
{
	bool ok = true;
	if (e->kind == PHYSIM_FAULT_NONE) {
		ok = rc == 0 && x->fault.kind == PHYSIM_FAULT_NONE && x->pa == want_pa &&
		     x->page_size == want_size && x->level == e->leaf && x->perms == e->perms &&
		     x->global == want_global;
	} else {
		ok = rc == -EFAULT && x->fault.kind == e->kind && x->fault.level == e->level &&
		     x->fault.syndrome == e->ec && x->fault.stage == 1;
	}
	ok = ok && x->mem_refs == want_refs;
	for (int i = 0; i < n; i++)
		ok = ok && after[i] == want_after[i];
	if (!ok && s->mismatches++ < 10) {
		print_error("MISMATCH %s\n  want kind %d level %d ec %#" PRIx64
			    " perms %#x leaf %d "
			    "pa %#" PRIx64 " refs %u\n  got rc %d kind %d level %d ec %#" PRIx64
			    " perms %#x level %d pa %#" PRIx64 " size %#" PRIx64 " refs %u\n",
			    what, e->kind, e->level, e->ec, e->perms, e->leaf, want_pa, want_refs,
			    rc, x->fault.kind, x->fault.level, x->fault.syndrome, x->perms,
			    x->level, x->pa, x->page_size, x->mem_refs);
		for (int i = 0; i < n; i++)
			print_error("  entry %d after %#" PRIx64 " want %#" PRIx64 "\n", i,
				    after[i], want_after[i]);
	}
	count(s, e);
	return ok;
}

/* ---- 4-level paging: the full enumeration ---- */

/*
 * VA indexes: PML4 0x0a5, PDPT 0x013, PD 0x1f0, PT 0x077, offset 0xabc. The
 * 4-KByte page is at 0x123456000 and the 2-MByte page at 0x246800000 (not in
 * RAM: an output address outside RAM translates normally). Both leaves carry
 * protection key 5; the PTE has G set, the 2-MByte PDE has not.
 */
#define VA4                                                                                        \
	((UINT64_C(0x0a5) << 39) | (UINT64_C(0x013) << 30) | (UINT64_C(0x1f0) << 21) |             \
	 (UINT64_C(0x077) << 12) | 0xabc)
#define PAGE4K	UINT64_C(0x123456000)
#define ADDR4K	PAGE4K
#define PAGE2M	UINT64_C(0x246800000)
#define PKEY	5u
#define PK_BITS ((uint64_t)PKEY << 59)
#define RSV_BIT BIT(51) /* reserved: bits 51:M with M = 46 (the default) */

/* PTE variants: bits P, R/W, U/S, XD, reserved (32). */
static uint64_t pte_variant(unsigned v)
{
	uint64_t d = PAGE4K | E_G | PK_BITS;
	d |= (v & 1) ? E_P : 0;
	d |= (v & 2) ? E_RW : 0;
	d |= (v & 4) ? E_US : 0;
	d |= (v & 8) ? E_XD : 0;
	d |= (v & 16) ? RSV_BIT : 0;
	return d;
}

/* PDE variants: P, R/W, U/S, XD, reserved, PS (64). */
static uint64_t pde_variant(unsigned v, uint64_t pt_pa)
{
	uint64_t d = (v & 32) ? (PAGE2M | E_PS | PK_BITS) : pt_pa;
	d |= (v & 1) ? E_P : 0;
	d |= (v & 2) ? E_RW : 0;
	d |= (v & 4) ? E_US : 0;
	d |= (v & 8) ? E_XD : 0;
	d |= (v & 16) ? RSV_BIT : 0;
	return d;
}

struct long_tables {
	uint64_t pml4, pdpt, pd, pt;
	uint64_t slot[4]; /* addresses of the four entries, root first */
};

static struct long_tables long_tables(struct tc_env *e)
{
	struct long_tables t = {
	    .pml4 = tc_frame(e), .pdpt = tc_frame(e), .pd = tc_frame(e), .pt = tc_frame(e)};
	t.slot[0] = t.pml4 + 0x0a5 * 8;
	t.slot[1] = t.pdpt + 0x013 * 8;
	t.slot[2] = t.pd + 0x1f0 * 8;
	t.slot[3] = t.pt + 0x077 * 8;
	return t;
}

/* One 4-level case: write the entries, walk, compare. */
static void long_case(struct tc_env *e, struct physim_mmu *m, const struct long_tables *t,
		      const uint64_t *ent, const struct ctl_case *c, const struct acc_case *a,
		      struct stats *s)
{
	static const bool no_rights[4];
	bool rsv[4];
	for (int i = 0; i < 4; i++)
		rsv[i] = (ent[i] & RSV_BIT) != 0;
	for (int i = 0; i < 4; i++)
		tc_put64(e, t->slot[i], ent[i]);

	struct physim_access acc = mk_access(VA4, a);
	struct physim_xlate x;
	int rc = physim_mmu_translate(m, &acc, &x);
	struct expect ex = oracle(M_LONG, 4, ent, rsv, no_rights, 2, c, a, PKEY);

	/* What memory must hold afterwards: A on every entry used and D on the
	 * leaf for a write, only when the translation succeeds (4.8; physim
	 * updates only successful walks). */
	uint64_t after[4], want[4];
	int used = ex.kind == PHYSIM_FAULT_NONE ? 4 - ex.leaf + 1 : 0;
	for (int i = 0; i < 4; i++) {
		after[i] = tc_get64(e, t->slot[i]);
		want[i] = ent[i];
		if (i < used)
			want[i] |= E_A;
		if (i == used - 1 && a->write)
			want[i] |= E_D;
	}
	unsigned refs =
	    ex.kind == PHYSIM_FAULT_NONE ? (unsigned)used : (unsigned)(4 - ex.level + 1);
	uint64_t pa = ex.leaf == 2 ? PAGE2M + (VA4 & 0x1fffff) : PAGE4K + 0xabc;
	uint64_t size = ex.leaf == 2 ? 0x200000 : 0x1000;
	bool global = ex.leaf == 1;
	char what[200];
	snprintf(what, sizeof(what),
		 "4l ent %#" PRIx64 " %#" PRIx64 " %#" PRIx64 " %#" PRIx64
		 " wp%d smep%d smap%d ac%d nxe%d pke%d pkru %#x acc w%d x%d u%d i%d",
		 ent[0], ent[1], ent[2], ent[3], c->wp, c->smep, c->smap, c->ac, c->nxe, c->pke,
		 c->pkru, a->write, a->fetch, a->user, a->implicit);
	check_one(s, what, rc, &x, &ex, pa, size, global, refs, after, want, 4);
}

/* PKRU cases: PKE off; AD for key 5; WD for key 5; every key but 5 denied. */
static const struct {
	bool pke;
	uint32_t pkru;
} pk_cases[] = {
    {false, 0},
    {true, 1u << (2 * PKEY)},
    {true, 1u << (2 * PKEY + 1)},
    {true, ~(3u << (2 * PKEY))},
};

static void test_long_exhaustive(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	struct long_tables t = long_tables(e);
	struct stats s = {0};

	for (size_t pk = 0; pk < sizeof(pk_cases) / sizeof(pk_cases[0]); pk++) {
		for (unsigned cb = 0; cb < 32; cb++) {
			struct ctl_case c = ctl_from_bits(cb, pk_cases[pk].pke, pk_cases[pk].pkru);
			struct physim_mmu_ctl mc = mmu_ctl(&c);
			struct physim_mmu *m = tc_mmu_new(e->ph, "x86_64-4l", t.pml4, 0, &mc);
			for (unsigned up = 0; up < 16; up++) {
				uint64_t ent[4];
				ent[0] =
				    t.pdpt | E_P | ((up & 1) ? E_RW : 0) | ((up & 2) ? E_US : 0);
				ent[1] = t.pd | E_P | ((up & 4) ? E_RW : 0) | ((up & 8) ? E_US : 0);
				for (unsigned pd = 0; pd < 64; pd++) {
					ent[2] = pde_variant(pd, t.pt);
					for (unsigned pt = 0; pt < 32; pt++) {
						ent[3] = pte_variant(pt);
						for (size_t ai = 0; ai < NACC; ai++)
							long_case(e, m, &t, ent, &c, &accesses[ai],
								  &s);
					}
				}
			}
			physim_mmu_destroy(m);
		}
	}
	print_message("4-level: %lu walks (%lu ok, %lu not-present, %lu permission (%lu with PK), "
		      "%lu reserved), %lu mismatches\n",
		      s.walks, s.ok, s.np, s.perm, s.pk, s.rsv, s.mismatches);
	/* 4 PK cases x 32 controls x 16 x 64 x 32 tables x 8 accesses. */
	assert_int_equal(s.walks, 4ul * 32 * 16 * 64 * 32 * 8);
	assert_true(s.ok > 0 && s.np > 0 && s.perm > 0 && s.rsv > 0 && s.pk > 0);
	assert_int_equal(s.mismatches, 0);
	tc_env_free(e);
}

/* Upper levels: P, R/W, U/S, XD and the reserved bit of the PML4E and the
 * PDPTE (1024 combinations), over a present PDE and PTE with R/W, U/S and XD
 * varied (64), for every control combination (PKE off) and access type. */
static void test_long_upper_levels(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	struct long_tables t = long_tables(e);
	struct stats s = {0};

	for (unsigned cb = 0; cb < 32; cb++) {
		struct ctl_case c = ctl_from_bits(cb, false, 0);
		struct physim_mmu_ctl mc = mmu_ctl(&c);
		struct physim_mmu *m = tc_mmu_new(e->ph, "x86_64-4l", t.pml4, 0, &mc);
		for (unsigned up = 0; up < 1024; up++) {
			uint64_t ent[4];
			/* pte_variant's five bits, on table pointers. */
			ent[0] = t.pdpt | (pte_variant(up & 31) & ~(ADDR4K | E_G | PK_BITS));
			ent[1] = t.pd | (pte_variant(up >> 5) & ~(ADDR4K | E_G | PK_BITS));
			for (unsigned low = 0; low < 64; low++) {
				ent[2] = pde_variant(1 | ((low & 7) << 1), t.pt);
				ent[3] = pte_variant(1 | ((low >> 3) << 1));
				for (size_t ai = 0; ai < NACC; ai++)
					long_case(e, m, &t, ent, &c, &accesses[ai], &s);
			}
		}
		physim_mmu_destroy(m);
	}
	print_message("4-level upper levels: %lu walks (%lu ok, %lu not-present, %lu permission, "
		      "%lu reserved), %lu mismatches\n",
		      s.walks, s.ok, s.np, s.perm, s.rsv, s.mismatches);
	assert_int_equal(s.walks, 32ul * 1024 * 64 * 8);
	assert_true(s.ok > 0 && s.np > 0 && s.perm > 0 && s.rsv > 0);
	assert_int_equal(s.mismatches, 0);
	tc_env_free(e);
}

/* ---- PAE paging ---- */

/* VA: PDPT index 2, PD 0x1f0, PT 0x077. PDPTE bit 1 (R/W in other entries) is
 * reserved in a PAE PDPTE (table 4-8), and a PDPTE has no rights. */
#define VAPAE ((UINT64_C(2) << 30) | (UINT64_C(0x1f0) << 21) | (UINT64_C(0x077) << 12) | 0x123)

static void test_pae_exhaustive(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	uint64_t pdpt = tc_frame(e), pd = tc_frame(e), pt = tc_frame(e);
	uint64_t slot[3] = {pdpt + 2 * 8, pd + 0x1f0 * 8, pt + 0x077 * 8};
	static const bool no_rights[3] = {true, false, false};
	struct stats s = {0};

	for (unsigned pk = 0; pk < 2; pk++) {
		for (unsigned cb = 0; cb < 32; cb++) {
			/* PKE has no effect outside 4/5-level paging (4.6.2). */
			struct ctl_case c = ctl_from_bits(cb, pk, pk ? ~0u : 0);
			struct physim_mmu_ctl mc = mmu_ctl(&c);
			struct physim_mmu *m = tc_mmu_new(e->ph, "i386-pae", pdpt, 0, &mc);
			for (unsigned up = 0; up < 4; up++) {
				uint64_t ent[3];
				ent[0] = pd | ((up & 1) ? E_P : 0) | ((up & 2) ? E_RW : 0);
				for (unsigned v = 0; v < 64; v++) {
					ent[1] = pde_variant(v, pt) & ~PK_BITS;
					for (unsigned w = 0; w < 32; w++) {
						ent[2] = pte_variant(w) & ~PK_BITS;
						bool rsv[3] = {(ent[0] & E_RW) != 0,
							       (ent[1] & RSV_BIT) != 0,
							       (ent[2] & RSV_BIT) != 0};
						for (size_t ai = 0; ai < NACC; ai++) {
							const struct acc_case *a = &accesses[ai];
							for (int i = 0; i < 3; i++)
								tc_put64(e, slot[i], ent[i]);
							struct physim_access acc =
							    mk_access(VAPAE, a);
							struct physim_xlate x;
							int rc = physim_mmu_translate(m, &acc, &x);
							struct expect ex =
							    oracle(M_PAE, 3, ent, rsv, no_rights, 2,
								   &c, a, PKEY);
							uint64_t after[3], want[3];
							int used = ex.kind == PHYSIM_FAULT_NONE
								       ? 3 - ex.leaf + 1
								       : 0;
							for (int i = 0; i < 3; i++) {
								after[i] = tc_get64(e, slot[i]);
								want[i] = ent[i];
								/* No A/D in a PDPTE (4.8). */
								if (i > 0 && i < used)
									want[i] |= E_A;
								if (i == used - 1 && a->write)
									want[i] |= E_D;
							}
							unsigned refs =
							    ex.kind == PHYSIM_FAULT_NONE
								? (unsigned)used
								: (unsigned)(3 - ex.level + 1);
							uint64_t pa =
							    ex.leaf == 2
								? PAGE2M + (VAPAE & 0x1fffff)
								: PAGE4K + 0x123;
							check_one(&s, "pae", rc, &x, &ex, pa,
								  ex.leaf == 2 ? 0x200000 : 0x1000,
								  ex.leaf == 1, refs, after, want,
								  3);
						}
					}
				}
			}
			physim_mmu_destroy(m);
		}
	}
	print_message("PAE: %lu walks (%lu ok, %lu not-present, %lu permission, %lu reserved), "
		      "%lu mismatches\n",
		      s.walks, s.ok, s.np, s.perm, s.rsv, s.mismatches);
	assert_int_equal(s.walks, 2ul * 32 * 4 * 64 * 32 * 8);
	assert_true(s.ok > 0 && s.np > 0 && s.perm > 0 && s.rsv > 0);
	assert_int_equal(s.pk, 0);
	assert_int_equal(s.mismatches, 0);
	tc_env_free(e);
}

/* ---- 32-bit paging ---- */

/* VA: PD index 0x123, PT index 0x2a5. The 4-MByte page is at 0x12_4840_0000
 * (PSE-36: PA bits 39:32 = 0x12 in PDE bits 20:13, table 4-4); a 4-MByte
 * PDE's bit 21 is reserved (bits 21:(M-19) with M = 40). 32-bit paging has no
 * XD and no reserved bits in PTEs or in PDEs that reference a table. */
#define VA32	 ((UINT64_C(0x123) << 22) | (UINT64_C(0x2a5) << 12) | 0x777)
#define PAGE4M32 UINT64_C(0x1248400000)
#define PDE4M	 (UINT64_C(0x48400000) | (UINT64_C(0x12) << 13) | E_PS)

static void test_32bit_exhaustive(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	uint64_t pd = tc_frame(e), pt = tc_frame(e);
	uint64_t slot[2] = {pd + 0x123 * 4, pt + 0x2a5 * 4};
	static const bool no_rights[2];
	struct stats s = {0};

	for (unsigned cb = 0; cb < 32; cb++) {
		struct ctl_case c = ctl_from_bits(cb, false, 0);
		struct physim_mmu_ctl mc = mmu_ctl(&c);
		struct physim_mmu *m = tc_mmu_new(e->ph, "i386-2l", pd, 0, &mc);
		/* PDE: P, R/W, U/S, PS, and bit 21 only with PS (else it is
		 * an address bit of the page table). */
		for (unsigned v = 0; v < 32; v++) {
			if ((v & 16) && !(v & 8))
				continue;
			uint64_t ent[2];
			ent[0] = ((v & 8) ? PDE4M : pt) | ((v & 1) ? E_P : 0) |
				 ((v & 2) ? E_RW : 0) | ((v & 4) ? E_US : 0) |
				 ((v & 16) ? BIT(21) : 0);
			for (unsigned w = 0; w < 8; w++) {
				ent[1] = UINT64_C(0x89abc000) | E_G | ((w & 1) ? E_P : 0) |
					 ((w & 2) ? E_RW : 0) | ((w & 4) ? E_US : 0);
				bool rsv[2] = {(v & 16) != 0, false};
				for (size_t ai = 0; ai < NACC; ai++) {
					const struct acc_case *a = &accesses[ai];
					tc_put32(e, slot[0], (uint32_t)ent[0]);
					tc_put32(e, slot[1], (uint32_t)ent[1]);
					struct physim_access acc = mk_access(VA32, a);
					struct physim_xlate x;
					int rc = physim_mmu_translate(m, &acc, &x);
					struct expect ex =
					    oracle(M_32, 2, ent, rsv, no_rights, 2, &c, a, 0);
					uint64_t after[2] = {tc_get32(e, slot[0]),
							     tc_get32(e, slot[1])};
					uint64_t want[2] = {ent[0], ent[1]};
					int used =
					    ex.kind == PHYSIM_FAULT_NONE ? 2 - ex.leaf + 1 : 0;
					for (int i = 0; i < used; i++)
						want[i] |= E_A;
					if (used && a->write)
						want[used - 1] |= E_D;
					unsigned refs = ex.kind == PHYSIM_FAULT_NONE
							    ? (unsigned)used
							    : (unsigned)(2 - ex.level + 1);
					uint64_t pa = ex.leaf == 2 ? PAGE4M32 + (VA32 & 0x3fffff)
								   : UINT64_C(0x89abc777);
					check_one(&s, "32-bit", rc, &x, &ex, pa,
						  ex.leaf == 2 ? 0x400000 : 0x1000, ex.leaf == 1,
						  refs, after, want, 2);
				}
			}
		}
		physim_mmu_destroy(m);
	}
	print_message("32-bit: %lu walks (%lu ok, %lu not-present, %lu permission, %lu reserved), "
		      "%lu mismatches\n",
		      s.walks, s.ok, s.np, s.perm, s.rsv, s.mismatches);
	assert_int_equal(s.walks, 32ul * 24 * 8 * 8);
	assert_true(s.ok > 0 && s.np > 0 && s.perm > 0 && s.rsv > 0);
	assert_int_equal(s.mismatches, 0);
	tc_env_free(e);
}

/* ---- hand-built tables for the cases below ---- */

static int xlate(struct physim_mmu *m, uint64_t va, bool write, bool exec, bool user,
		 struct physim_xlate *x)
{
	struct physim_access a = {.va = va, .write = write, .exec = exec, .user = user};
	return physim_mmu_translate(m, &a, x);
}

static void expect_fault(int rc, const struct physim_xlate *x, enum physim_fault_kind kind,
			 unsigned stage, int level, uint64_t syndrome)
{
	assert_int_equal(rc, -EFAULT);
	assert_int_equal(x->fault.kind, kind);
	assert_int_equal(x->fault.stage, stage);
	assert_int_equal(x->fault.level, level);
	assert_int_equal(x->fault.syndrome, syndrome);
}

#define X86_TBL (E_P | E_RW | E_US)

/* 5-level paging (SDM 4.5): PML5 index from bits 56:48; an upper-half
 * address; A set in all five entries; PML5E not present is a level-5 fault. */
static void test_5level(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	uint64_t root = tc_frame(e);
	uint64_t va = UINT64_C(0xff7f123456789abc); /* bits 63:56 all ones: canonical */
	uint64_t leaf = tc_x86_map(e, root, 5, va, 0, UINT64_C(0x777000) | E_P | E_RW, X86_TBL);
	struct physim_mmu *m = tc_mmu_new(e->ph, "x86_64-5l", root, 0, NULL);
	struct physim_xlate x;

	assert_int_equal(xlate(m, va, true, false, false, &x), 0);
	assert_int_equal(x.pa, UINT64_C(0x777abc));
	assert_int_equal(x.level, 1);
	assert_int_equal(x.mem_refs, 5);
	assert_true(x.ad_updated);
	assert_int_equal(tc_get64(e, leaf), UINT64_C(0x777000) | E_P | E_RW | E_A | E_D);
	for (int l = 1; l < 5; l++)
		assert_true(tc_get64(e, tc_x86_slot(e, root, 5, va, l, 0)) & E_A);
	/* PML5 index 0x17f (bits 56:48 of va). */
	assert_int_equal(tc_x86_slot(e, root, 5, va, 4, 0), root + 0x17f * 8);

	/* Clear the PML5E: not present at level 5, supervisor read: ec 0. */
	tc_put64(e, root + 0x17f * 8, 0);
	expect_fault(xlate(m, va, false, false, false, &x), &x, PHYSIM_FAULT_NOT_PRESENT, 1, 5, 0);
	assert_int_equal(x.mem_refs, 1);
	assert_false(x.ad_updated);
	/* Bit 56 clear with bits 63:57 set: not canonical for LA57 (#GP). */
	expect_fault(xlate(m, UINT64_C(0xfe00000000000000), false, false, false, &x), &x,
		     PHYSIM_FAULT_NON_CANONICAL, 1, -1, 0);
	assert_int_equal(x.mem_refs, 0);
	physim_mmu_destroy(m);
	tc_env_free(e);
}

/* 1-GByte pages, PS in a PML4E, 2-MByte reserved bits, MAXPHYADDR and
 * canonical checks (SDM 4.5.4 tables 4-15..4-18, 4.1.4, 4.7). */
static void test_4level_hand_cases(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	uint64_t root = tc_frame(e);
	uint64_t va1g = UINT64_C(0x0000004012345678); /* PML4 0, PDPT 0x101 */
	uint64_t s1g =
	    tc_x86_map(e, root, 4, va1g, 2, UINT64_C(0x40000000) | E_P | E_RW | E_PS, X86_TBL);
	struct physim_mmu *m = tc_mmu_new(e->ph, "x86_64-4l", root, 0, NULL);
	struct physim_xlate x;

	/* 1 GiB: pa = 0x40000000 + va[29:0], level 3. */
	assert_int_equal(xlate(m, va1g, true, false, false, &x), 0);
	assert_int_equal(x.pa, UINT64_C(0x52345678));
	assert_int_equal(x.page_size, UINT64_C(1) << 30);
	assert_int_equal(x.level, 3);
	assert_int_equal(x.mem_refs, 2);
	assert_int_equal(tc_get64(e, s1g), UINT64_C(0x40000000) | E_P | E_RW | E_PS | E_A | E_D);
	/* Bit 13 of a 1-GByte PDPTE is reserved (29:13, table 4-16): user read
	 * gives P | U/S | RSVD at level 3. */
	tc_put64(e, s1g, UINT64_C(0x40000000) | E_P | E_RW | E_US | E_PS | BIT(13));
	expect_fault(xlate(m, va1g, false, false, true, &x), &x, PHYSIM_FAULT_RESERVED, 1, 3,
		     EC_P | EC_US | EC_RSVD);
	/* PS in a PML4E is reserved (table 4-15). */
	tc_put64(e, s1g, UINT64_C(0x40000000) | E_P | E_RW | E_PS);
	uint64_t pml4e = tc_get64(e, root);
	tc_put64(e, root, pml4e | E_PS);
	expect_fault(xlate(m, va1g, true, false, false, &x), &x, PHYSIM_FAULT_RESERVED, 1, 4,
		     EC_P | EC_WR | EC_RSVD);
	tc_put64(e, root, pml4e);

	/* A 2-MByte PDE with bit 13 set (20:13 reserved, table 4-18). */
	uint64_t va2m = UINT64_C(0x0000008000200000); /* PML4 1, PDPT 0, PD 1 */
	tc_x86_map(e, root, 4, va2m, 1, UINT64_C(0x600000) | E_P | E_PS | BIT(13), X86_TBL);
	expect_fault(xlate(m, va2m, false, true, false, &x), &x, PHYSIM_FAULT_RESERVED, 1, 2,
		     EC_P | EC_RSVD | EC_ID);

	/* MAXPHYADDR (4.1.4): a PTE address bit 46 is reserved with M = 46 (the
	 * default), part of the address with M = 52, and bit 40 is reserved
	 * with M = 40. */
	uint64_t va4k = UINT64_C(0x0000010000003000); /* PML4 2 */
	uint64_t spte = tc_x86_map(e, root, 4, va4k, 0, BIT(46) | UINT64_C(0x5000) | E_P, X86_TBL);
	expect_fault(xlate(m, va4k, false, false, false, &x), &x, PHYSIM_FAULT_RESERVED, 1, 1,
		     EC_P | EC_RSVD);
	struct physim_mmu_config c;
	physim_mmu_get_config(m, &c);
	c.ctl.maxphyaddr = 52;
	assert_int_equal(physim_mmu_set_config(m, &c), 0);
	assert_int_equal(xlate(m, va4k | 0x10, false, false, false, &x), 0);
	assert_int_equal(x.pa, BIT(46) | UINT64_C(0x5010));
	tc_put64(e, spte, BIT(40) | UINT64_C(0x5000) | E_P);
	c.ctl.maxphyaddr = 40;
	assert_int_equal(physim_mmu_set_config(m, &c), 0);
	expect_fault(xlate(m, va4k, false, false, false, &x), &x, PHYSIM_FAULT_RESERVED, 1, 1,
		     EC_P | EC_RSVD);
	c.ctl.maxphyaddr = 41;
	assert_int_equal(physim_mmu_set_config(m, &c), 0);
	assert_int_equal(xlate(m, va4k, false, false, false, &x), 0);
	assert_int_equal(x.pa, BIT(40) | UINT64_C(0x5000));
	c.ctl.maxphyaddr = 53; /* beyond the architectural 52 */
	assert_int_equal(physim_mmu_set_config(m, &c), -EINVAL);

	/* Non-canonical (bits 63:47 not all equal): #GP, no walk. */
	expect_fault(xlate(m, UINT64_C(0x0000800000000000), false, false, false, &x), &x,
		     PHYSIM_FAULT_NON_CANONICAL, 1, -1, 0);
	expect_fault(xlate(m, UINT64_C(0xffff7fffffffffff), false, false, true, &x), &x,
		     PHYSIM_FAULT_NON_CANONICAL, 1, -1, 0);
	assert_int_equal(x.mem_refs, 0);
	/* The upper half is canonical: its PML4E (index 511) is not present. */
	expect_fault(xlate(m, UINT64_C(0xffffff8000000000), false, false, true, &x), &x,
		     PHYSIM_FAULT_NOT_PRESENT, 1, 4, EC_US);
	physim_mmu_destroy(m);

	/* 32-bit paging: a linear address above 4 GiB does not exist. */
	m = tc_mmu_new(e->ph, "i386-2l", root, 0, NULL);
	expect_fault(xlate(m, UINT64_C(0x100000000), false, false, false, &x), &x,
		     PHYSIM_FAULT_NON_CANONICAL, 1, -1, 0);
	physim_mmu_destroy(m);
	tc_env_free(e);
}

/* A bad access is -EINVAL and leaves x untouched. */
static void test_bad_access(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	struct physim_mmu *m = tc_mmu_new(e->ph, "x86_64-4l", tc_frame(e), 0, NULL);
	struct physim_xlate x;
	memset(&x, 0x5a, sizeof(x));
	struct physim_access a = {.va = 0x1000, .write = true, .exec = true};
	assert_int_equal(physim_mmu_translate(m, &a, &x), -EINVAL);
	a = (struct physim_access){.va = 0x1000, .implicit = true, .user = true};
	assert_int_equal(physim_mmu_translate(m, &a, &x), -EINVAL);
	a = (struct physim_access){.va = 0x1000, .implicit = true, .exec = true};
	assert_int_equal(physim_mmu_probe(m, &a, &x), -EINVAL);
	unsigned char pattern[sizeof(x)];
	memset(pattern, 0x5a, sizeof(pattern));
	assert_memory_equal(&x, pattern, sizeof(x));
	physim_mmu_destroy(m);
	tc_env_free(e);
}

/* ---- EPT (SDM Vol. 3C 29.3) ---- */

enum {
	EPT_R = 1,
	EPT_W = 2,
	EPT_X = 4,
	EPT_RWX = 7,
	EPT_LARGE = 1 << 7,
	EPT_A = 1 << 8,
	EPT_D = 1 << 9,
	EPT_UX = 1 << 10,
	EPT_WB = 6 << 3, /* memory type WB, bits 5:3 */
};
/* Exit qualification (Vol. 3C table 28-7). */
enum {
	Q_R = 1,
	Q_W = 2,
	Q_X = 4,
	Q_ER = 8,
	Q_EW = 16,
	Q_EX = 32,
	Q_EUX = 64,
	Q_GLA = 128,
	Q_XLAT = 256
};

#define GPA1 UINT64_C(0x0000001234567000) /* PML4 0, PDPT 0x48, PD 0x1a2, PT 0x167 */

struct ept_env {
	struct tc_env *e;
	uint64_t root;
	uint64_t slot[4]; /* PML4E, PDPTE, PDE, PTE of GPA1 */
};

static struct ept_env ept_env(void)
{
	struct ept_env t = {.e = tc_env_new(RAM_SIZE)};
	t.root = tc_frame(t.e);
	t.slot[3] =
	    tc_x86_map(t.e, t.root, 4, GPA1, 0, UINT64_C(0xabcd000) | EPT_RWX | EPT_WB, EPT_RWX);
	for (int l = 1; l < 4; l++)
		t.slot[3 - l] = tc_x86_slot(t.e, t.root, 4, GPA1, l, 0);
	return t;
}

/* Permissions are ANDed across levels (29.3.3.2); the qualification carries
 * the access type and the AND of bits 2:0 in bits 5:3 (table 28-7). A lone
 * EPT translation has no guest linear address: bits 7 and 8 clear. */
static void test_ept_permissions(void **state)
{
	(void)state;
	struct ept_env t = ept_env();
	struct physim_mmu *m = tc_mmu_new(t.e->ph, "ept-4l", t.root, 0, NULL);
	struct physim_xlate x;

	assert_int_equal(xlate(m, GPA1 | 0x42, true, false, false, &x), 0);
	assert_int_equal(x.pa, UINT64_C(0xabcd042));
	assert_int_equal(x.perms, PHYSIM_R | PHYSIM_W | PHYSIM_X);
	assert_int_equal(x.gpa, GPA1 | 0x42);
	assert_int_equal(x.level, 1);
	/* Without EPTP bit 6, A/D are never written (29.3.5). */
	assert_false(x.ad_updated);
	assert_int_equal(tc_get64(t.e, t.slot[3]), UINT64_C(0xabcd000) | EPT_RWX | EPT_WB);

	/* PML4E read-only: reads pass, writes violate at the leaf level with
	 * bits 5:3 = 001. */
	tc_put64(t.e, t.slot[0], (tc_get64(t.e, t.slot[0]) & ~UINT64_C(7)) | EPT_R);
	assert_int_equal(xlate(m, GPA1, false, false, false, &x), 0);
	assert_int_equal(x.perms, PHYSIM_R);
	expect_fault(xlate(m, GPA1, true, false, false, &x), &x, PHYSIM_FAULT_PERMISSION, 2, 1,
		     Q_W | Q_ER);
	assert_int_equal(x.fault.gpa, GPA1);
	assert_int_equal(x.fault.addr, GPA1);
	assert_false(x.fault.s1ptw);
	/* Fetch from a PDPTE with R|X and a PML4E with R: bits 5:3 = 001. */
	expect_fault(xlate(m, GPA1, false, true, false, &x), &x, PHYSIM_FAULT_PERMISSION, 2, 1,
		     Q_X | Q_ER);
	tc_put64(t.e, t.slot[0], tc_get64(t.e, t.slot[0]) | EPT_RWX);

	/* Execute-only leaf: a read violates with bits 5:3 = 100, a fetch passes. */
	tc_put64(t.e, t.slot[3], UINT64_C(0xabcd000) | EPT_X | EPT_WB);
	expect_fault(xlate(m, GPA1, false, false, false, &x), &x, PHYSIM_FAULT_PERMISSION, 2, 1,
		     Q_R | Q_EX);
	assert_int_equal(xlate(m, GPA1, false, true, false, &x), 0);
	assert_int_equal(x.perms, PHYSIM_X);

	/* Not present (bits 2:0 = 0) at the PDE: a violation at level 2 with
	 * bits 5:3 = 0 (the AND includes the non-present entry). */
	uint64_t pde = tc_get64(t.e, t.slot[2]);
	tc_put64(t.e, t.slot[2], pde & ~UINT64_C(7));
	expect_fault(xlate(m, GPA1, true, false, false, &x), &x, PHYSIM_FAULT_NOT_PRESENT, 2, 2,
		     Q_W);
	assert_int_equal(x.mem_refs, 3);
	tc_put64(t.e, t.slot[2], pde);

	/* A GPA beyond the 48-bit EPT input: no translation (nothing readable). */
	expect_fault(xlate(m, UINT64_C(1) << 48, false, false, false, &x), &x,
		     PHYSIM_FAULT_NOT_PRESENT, 2, 4, Q_R);
	physim_mmu_destroy(m);
	tc_env_free(t.e);
}

/* EPT misconfigurations (29.3.3.1): kind RESERVED, no qualification. */
static void test_ept_misconfig(void **state)
{
	(void)state;
	struct ept_env t = ept_env();
	struct physim_mmu *m = tc_mmu_new(t.e->ph, "ept-4l", t.root, 0, NULL);
	struct physim_xlate x;
	uint64_t leaf = tc_get64(t.e, t.slot[3]);
	uint64_t base = UINT64_C(0xabcd000) | EPT_WB;

	/* Write-only (010b) and write/execute (110b). */
	tc_put64(t.e, t.slot[3], base | EPT_W);
	expect_fault(xlate(m, GPA1, false, false, false, &x), &x, PHYSIM_FAULT_RESERVED, 2, 1, 0);
	assert_int_equal(x.fault.gpa, GPA1);
	tc_put64(t.e, t.slot[3], base | EPT_W | EPT_X);
	expect_fault(xlate(m, GPA1, false, true, false, &x), &x, PHYSIM_FAULT_RESERVED, 2, 1, 0);
	/* Reserved memory types 2, 3, 7 in the leaf. */
	for (unsigned mt = 2; mt <= 7; mt = mt == 3 ? 7 : mt + 1) {
		tc_put64(t.e, t.slot[3], UINT64_C(0xabcd000) | EPT_R | ((uint64_t)mt << 3));
		expect_fault(xlate(m, GPA1, false, false, false, &x), &x, PHYSIM_FAULT_RESERVED, 2,
			     1, 0);
	}
	/* Bits 7:3 of a PML4E are reserved. */
	tc_put64(t.e, t.slot[3], leaf);
	uint64_t pml4e = tc_get64(t.e, t.slot[0]);
	tc_put64(t.e, t.slot[0], pml4e | BIT(3));
	expect_fault(xlate(m, GPA1, false, false, false, &x), &x, PHYSIM_FAULT_RESERVED, 2, 4, 0);
	tc_put64(t.e, t.slot[0], pml4e);
	/* Address bit 46 with N = 46 (default) is reserved; with N = 52 it is
	 * part of the address. */
	tc_put64(t.e, t.slot[3], leaf | BIT(46));
	expect_fault(xlate(m, GPA1, false, false, false, &x), &x, PHYSIM_FAULT_RESERVED, 2, 1, 0);
	struct physim_mmu_config c;
	physim_mmu_get_config(m, &c);
	c.ctl.maxphyaddr = 52;
	assert_int_equal(physim_mmu_set_config(m, &c), 0);
	assert_int_equal(xlate(m, GPA1, false, false, false, &x), 0);
	assert_int_equal(x.pa, BIT(46) | UINT64_C(0xabcd000));
	/* A misconfiguration outranks a permission problem: a write-only PDE
	 * under a read-only PML4E is still RESERVED. */
	tc_put64(t.e, t.slot[3], leaf);
	tc_put64(t.e, t.slot[0], (pml4e & ~UINT64_C(7)) | EPT_R);
	uint64_t pde = tc_get64(t.e, t.slot[2]);
	tc_put64(t.e, t.slot[2], (pde & ~UINT64_C(7)) | EPT_W);
	expect_fault(xlate(m, GPA1, true, false, false, &x), &x, PHYSIM_FAULT_RESERVED, 2, 2, 0);
	physim_mmu_destroy(m);
	tc_env_free(t.e);
}

/* Mode-based execute control (29.3.2, 29.3.3.2): bit 2 for supervisor-mode
 * linear addresses, bit 10 for user-mode ones; an entry with only bit 10 is
 * present; qualification bit 6 = AND of bit 10. */
static void test_ept_mbec(void **state)
{
	(void)state;
	struct ept_env t = ept_env();
	struct physim_mmu_ctl ctl = {.mbec = true};
	struct physim_mmu *on = tc_mmu_new(t.e->ph, "ept-4l", t.root, 0, &ctl);
	struct physim_mmu *off = tc_mmu_new(t.e->ph, "ept-4l", t.root, 0, NULL);
	struct physim_xlate x;
	uint64_t base = UINT64_C(0xabcd000) | EPT_WB;
	/* The table entries the builder wrote have R/W/X but not bit 10. */
	for (int i = 0; i < 3; i++)
		tc_put64(t.e, t.slot[i], tc_get64(t.e, t.slot[i]) | EPT_UX);

	/* Leaf R + UX: user fetch passes with MBEC, supervisor fetch does not. */
	tc_put64(t.e, t.slot[3], base | EPT_R | EPT_UX);
	assert_int_equal(xlate(on, GPA1, false, true, true, &x), 0);
	assert_int_equal(x.perms, PHYSIM_R | PHYSIM_X);
	expect_fault(xlate(on, GPA1, false, true, false, &x), &x, PHYSIM_FAULT_PERMISSION, 2, 1,
		     Q_X | Q_ER | Q_EUX);
	/* Without MBEC bit 10 means nothing: both fetches violate, bit 6 clear. */
	expect_fault(xlate(off, GPA1, false, true, true, &x), &x, PHYSIM_FAULT_PERMISSION, 2, 1,
		     Q_X | Q_ER);
	/* Leaf with only bit 10: present under MBEC, not present without. */
	tc_put64(t.e, t.slot[3], base | EPT_UX);
	assert_int_equal(xlate(on, GPA1, false, true, true, &x), 0);
	expect_fault(xlate(on, GPA1, false, false, true, &x), &x, PHYSIM_FAULT_PERMISSION, 2, 1,
		     Q_R | Q_EUX);
	expect_fault(xlate(off, GPA1, false, true, true, &x), &x, PHYSIM_FAULT_NOT_PRESENT, 2, 1,
		     Q_X);
	/* A PDE without bit 10 takes user execute away (AND across levels). */
	tc_put64(t.e, t.slot[3], base | EPT_R | EPT_UX);
	tc_put64(t.e, t.slot[2], tc_get64(t.e, t.slot[2]) & ~(uint64_t)EPT_UX);
	expect_fault(xlate(on, GPA1, false, true, true, &x), &x, PHYSIM_FAULT_PERMISSION, 2, 1,
		     Q_X | Q_ER);
	physim_mmu_destroy(on);
	physim_mmu_destroy(off);
	tc_env_free(t.e);
}

/* EPT A/D (29.3.5): with EPTP bit 6, A in every entry used and D in the leaf
 * on a write; not on a faulting access; probe writes nothing. */
static void test_ept_accessed_dirty(void **state)
{
	(void)state;
	struct ept_env t = ept_env();
	struct physim_mmu_ctl ctl = {.ept_ad = true};
	struct physim_mmu *m = tc_mmu_new(t.e->ph, "ept-4l", t.root, 0, &ctl);
	struct physim_xlate x;
	uint64_t before[4];
	for (int i = 0; i < 4; i++)
		before[i] = tc_get64(t.e, t.slot[i]);

	struct physim_access rd = {.va = GPA1};
	assert_int_equal(physim_mmu_probe(m, &rd, &x), 0);
	assert_false(x.ad_updated);
	for (int i = 0; i < 4; i++)
		assert_int_equal(tc_get64(t.e, t.slot[i]), before[i]);

	assert_int_equal(xlate(m, GPA1, false, false, false, &x), 0);
	assert_true(x.ad_updated);
	for (int i = 0; i < 4; i++)
		assert_int_equal(tc_get64(t.e, t.slot[i]), before[i] | EPT_A);
	assert_int_equal(xlate(m, GPA1, false, false, false, &x), 0);
	assert_false(x.ad_updated); /* nothing left to set */
	assert_int_equal(xlate(m, GPA1, true, false, false, &x), 0);
	assert_true(x.ad_updated);
	assert_int_equal(tc_get64(t.e, t.slot[3]), before[3] | EPT_A | EPT_D);
	assert_int_equal(tc_get64(t.e, t.slot[2]), before[2] | EPT_A); /* no D above the leaf */

	/* A violating write sets nothing. */
	for (int i = 0; i < 4; i++)
		tc_put64(t.e, t.slot[i], before[i]);
	tc_put64(t.e, t.slot[3], (before[3] & ~UINT64_C(7)) | EPT_R);
	expect_fault(xlate(m, GPA1, true, false, false, &x), &x, PHYSIM_FAULT_PERMISSION, 2, 1,
		     Q_W | Q_ER);
	assert_false(x.ad_updated);
	assert_int_equal(tc_get64(t.e, t.slot[0]), before[0]);
	physim_mmu_destroy(m);
	tc_env_free(t.e);
}

/* ---- x86-64 guest over EPT: exit qualification bits 7/8, implicit
 * accesses (29.3.3.2) and EPT A/D for guest paging structures (29.3.5) ---- */

#define GVA   UINT64_C(0x00007f0000201000) /* PML4 0xfe, PDPT 0, PD 1, PT 1 */
#define GDATA UINT64_C(0x40000000)	   /* guest-physical data page */

struct nested_env {
	struct tc_env *e;
	uint64_t s1_root, s2_root;
	uint64_t s1_slot[4]; /* host addresses of the guest's entries (GPA = HPA) */
	uint64_t s2_leaf[5]; /* EPT leaves of the four guest tables and the data page */
};

/* Guest tables in host frames, identity-mapped by EPT (GPA = HPA) with 4K
 * leaves; the guest's data page GDATA maps to HPA 0x7000000 + ... */
static struct nested_env nested_env(uint64_t guest_ad)
{
	struct nested_env n = {.e = tc_env_new(RAM_SIZE)};
	struct tc_env *e = n.e;
	n.s1_root = tc_frame(e);
	n.s2_root = tc_frame(e);
	n.s1_slot[3] = tc_x86_map(e, n.s1_root, 4, GVA, 0, GDATA | E_P | E_RW | E_US | guest_ad,
				  X86_TBL | guest_ad);
	for (int l = 1; l < 4; l++)
		n.s1_slot[3 - l] = tc_x86_slot(e, n.s1_root, 4, GVA, l, 0);
	for (int i = 0; i < 4; i++) {
		uint64_t tpa = n.s1_slot[i] & ADDR_MASK;
		n.s2_leaf[i] = tc_x86_map(e, n.s2_root, 4, tpa, 0, tpa | EPT_RWX | EPT_WB, EPT_RWX);
	}
	n.s2_leaf[4] =
	    tc_x86_map(e, n.s2_root, 4, GDATA, 0, UINT64_C(0x7000000) | EPT_RWX | EPT_WB, EPT_RWX);
	return n;
}

static int nxlate(struct physim_mmu *s1, struct physim_mmu *s2, uint64_t va, bool write,
		  struct physim_xlate *x)
{
	struct physim_access a = {.va = va, .write = write};
	return physim_nested_translate(s1, s2, &a, x);
}

static void test_ept_nested_qualification(void **state)
{
	(void)state;
	/* Guest entries with A (and D on the leaf) already set: the guest walk
	 * needs no A/D write. */
	struct nested_env n = nested_env(E_A | E_D);
	struct physim_mmu_config c1 = {.format = physim_format("x86_64-4l"), .root = n.s1_root};
	struct physim_mmu *s1, *s2;
	assert_int_equal(physim_mmu_create(&c1, &s1), 0);
	s2 = tc_mmu_new(n.e->ph, "ept-4l", n.s2_root, 0, NULL);
	struct physim_xlate x;

	assert_int_equal(nxlate(s1, s2, GVA | 0x10, false, &x), 0);
	assert_int_equal(x.gpa, GDATA | 0x10);
	assert_int_equal(x.pa, UINT64_C(0x7000010));
	assert_int_equal(x.mem_refs, 24);

	/* The guest PD page read-only in EPT: reading it is fine (a data read). */
	uint64_t pd_leaf = tc_get64(n.e, n.s2_leaf[2]);
	tc_put64(n.e, n.s2_leaf[2], (pd_leaf & ~UINT64_C(7)) | EPT_R);
	assert_int_equal(nxlate(s1, s2, GVA, false, &x), 0);
	/* Not readable: a violation on the paging-structure access, bit 7 set
	 * and bit 8 clear, s1ptw, at the guest PDE's GPA. */
	tc_put64(n.e, n.s2_leaf[2], (pd_leaf & ~UINT64_C(7)) | EPT_X);
	expect_fault(nxlate(s1, s2, GVA, true, &x), &x, PHYSIM_FAULT_PERMISSION, 2, 1,
		     Q_R | Q_EX | Q_GLA);
	assert_true(x.fault.s1ptw);
	assert_int_equal(x.fault.gpa, n.s1_slot[2]);
	tc_put64(n.e, n.s2_leaf[2], pd_leaf);
	/* The data page read-only: the write to it violates with bits 7 and 8. */
	uint64_t d_leaf = tc_get64(n.e, n.s2_leaf[4]);
	tc_put64(n.e, n.s2_leaf[4], (d_leaf & ~UINT64_C(7)) | EPT_R | EPT_X);
	expect_fault(nxlate(s1, s2, GVA | 8, true, &x), &x, PHYSIM_FAULT_PERMISSION, 2, 1,
		     Q_W | Q_ER | Q_EX | Q_GLA | Q_XLAT);
	assert_false(x.fault.s1ptw);
	assert_int_equal(x.fault.gpa, GDATA | 8);
	assert_int_equal(x.gpa, GDATA | 8);
	tc_put64(n.e, n.s2_leaf[4], d_leaf);

	/* EPTP bit 6: guest paging-structure accesses count as writes, so the
	 * read-only guest PD page now violates as a write (29.3.3.2), and the
	 * EPT leaves of the guest tables get D (29.3.5). */
	struct physim_mmu_config c2;
	physim_mmu_get_config(s2, &c2);
	c2.ctl.ept_ad = true;
	assert_int_equal(physim_mmu_set_config(s2, &c2), 0);
	tc_put64(n.e, n.s2_leaf[2], (pd_leaf & ~UINT64_C(7)) | EPT_R);
	expect_fault(nxlate(s1, s2, GVA, false, &x), &x, PHYSIM_FAULT_PERMISSION, 2, 1,
		     Q_W | Q_ER | Q_GLA);
	assert_true(x.fault.s1ptw);
	tc_put64(n.e, n.s2_leaf[2], pd_leaf);
	assert_int_equal(nxlate(s1, s2, GVA, false, &x), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(tc_get64(n.e, n.s2_leaf[i]) & (EPT_A | EPT_D), EPT_A | EPT_D);
	/* The data page was only read: A without D. */
	assert_int_equal(tc_get64(n.e, n.s2_leaf[4]) & (EPT_A | EPT_D), EPT_A);
	physim_mmu_destroy(s1);
	physim_mmu_destroy(s2);
	tc_env_free(n.e);
}

/* The guest walk sets A/D in its own entries; those writes are data writes
 * for EPT (29.3.3.2): with a read-only guest page-table page the update is
 * a stage-2 violation (write, s1ptw) and nothing is written there. */
static void test_ept_nested_guest_ad(void **state)
{
	(void)state;
	struct nested_env n = nested_env(0);
	struct physim_mmu_config c1 = {.format = physim_format("x86_64-4l"), .root = n.s1_root};
	struct physim_mmu *s1, *s2;
	assert_int_equal(physim_mmu_create(&c1, &s1), 0);
	s2 = tc_mmu_new(n.e->ph, "ept-4l", n.s2_root, 0, NULL);
	struct physim_xlate x;

	uint64_t pt_leaf = tc_get64(n.e, n.s2_leaf[3]);
	tc_put64(n.e, n.s2_leaf[3], (pt_leaf & ~UINT64_C(7)) | EPT_R);
	uint64_t pte = tc_get64(n.e, n.s1_slot[3]);
	expect_fault(nxlate(s1, s2, GVA, true, &x), &x, PHYSIM_FAULT_PERMISSION, 2, 1,
		     Q_W | Q_ER | Q_GLA);
	assert_true(x.fault.s1ptw);
	assert_int_equal(x.fault.gpa, n.s1_slot[3]);
	assert_int_equal(tc_get64(n.e, n.s1_slot[3]), pte);
	/* Only the fault: no half result of the stage-1 walk. */
	assert_int_equal(x.pa, 0);
	assert_int_equal(x.page_size, 0);
	assert_int_equal(x.perms, 0);
	/* Writable again: the guest PTE gets A and D, the others A. */
	tc_put64(n.e, n.s2_leaf[3], pt_leaf);
	assert_int_equal(nxlate(s1, s2, GVA, true, &x), 0);
	assert_true(x.ad_updated);
	assert_int_equal(tc_get64(n.e, n.s1_slot[3]), pte | E_A | E_D);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tc_get64(n.e, n.s1_slot[i]) & (E_A | E_D), E_A);
	physim_mmu_destroy(s1);
	physim_mmu_destroy(s2);
	tc_env_free(n.e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_long_exhaustive),
	    cmocka_unit_test(test_long_upper_levels),
	    cmocka_unit_test(test_pae_exhaustive),
	    cmocka_unit_test(test_32bit_exhaustive),
	    cmocka_unit_test(test_5level),
	    cmocka_unit_test(test_4level_hand_cases),
	    cmocka_unit_test(test_bad_access),
	    cmocka_unit_test(test_ept_permissions),
	    cmocka_unit_test(test_ept_misconfig),
	    cmocka_unit_test(test_ept_mbec),
	    cmocka_unit_test(test_ept_accessed_dirty),
	    cmocka_unit_test(test_ept_nested_qualification),
	    cmocka_unit_test(test_ept_nested_guest_ad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
