/* SPDX-License-Identifier: MIT */
/* tests/test_walk_aarch64.c - the Arm walkers (VMSAv8-64 stage 1 and 2,
 * VMSAv8-32 Short-descriptor) against oracles written here from the Arm ARM
 * (DDI 0487) tables, sharing no code with the walker: every combination of
 * the permission bits at the leaf and at one table level, crossed with the
 * control state and every access type, for every granule and leaf level;
 * plus hand-derived cases for address size faults, TTBR1, input ranges,
 * reserved encodings, external aborts, nested stage 1 over stage 2 and the
 * mappings the page-table engine writes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/env.h"

#include <physim/pt.h>
#include <physim/ram.h>
#include <physim/walk.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIT(n) (UINT64_C(1) << (n))

/* VMSAv8-64 descriptor bits, written out again from D8.3 tables D8-50..53. */
#define AP1  BIT(6)  /* stage 1 AP[1] / stage 2 S2AP[0] (read) */
#define AP2  BIT(7)  /* stage 1 AP[2] / stage 2 S2AP[1] (write) */
#define AF   BIT(10) /* Access flag */
#define NG   BIT(11)
#define DBM  BIT(51)
#define PXN  BIT(53) /* stage 1; stage 2 XN[0] */
#define UXN  BIT(54) /* stage 1; stage 2 XN[1] */
#define PXNT BIT(59) /* table descriptor PXNTable */
#define UXNT BIT(60) /* UXNTable */
#define APT0 BIT(61) /* APTable[0] */
#define APT1 BIT(62) /* APTable[1] */
/* Bits a table descriptor ignores (table D8-50: 58:51 and 11:2 IGNORED;
 * 10 is AF only with FEAT_HAFT): set in some cases, they must change nothing. */
#define TABLE_IGNORED (UINT64_C(0x7f8) << 48 | UINT64_C(0xffc))

/* ESR_ELx DFSC/IFSC fault types (bits 5:2), plus the lookup level. */
enum { FSC_ASIZE = 0x00, FSC_TRANS = 0x04, FSC_AFLAG = 0x08, FSC_PERM = 0x0c, FSC_EXTWALK = 0x14 };

/* ---- fixture: RAM, table memory and mmus from tests/common/env.h ---- */

#define RAM_SIZE (UINT64_C(64) << 20)

/* ---- geometry, from D8.2 (granule sizes, initial lookup level) ---- */

/* Indexed by engine level n (0 = lookup level 3): lookup level = 3 - n. */
struct geo {
	const char *name;
	unsigned levels;
	unsigned shift[4];
	unsigned idx_bits[4];
	bool block_ok[4];
	uint64_t granule;
	bool stage2;
};

static const struct geo g_4k_39 = {"aarch64-4k-39",    3,    {12, 21, 30}, {9, 9, 9},
				   {true, true, true}, 4096, false};
static const struct geo g_4k_48 = {
    "aarch64-4k-48", 4, {12, 21, 30, 39}, {9, 9, 9, 9}, {true, true, true, false}, 4096, false};
static const struct geo g_16k_47 = {"aarch64-16k-47",	 3,	{14, 25, 36}, {11, 11, 11},
				    {true, true, false}, 16384, false};
static const struct geo g_64k_48 = {"aarch64-64k-48",	 3,	{16, 29, 42}, {13, 13, 6},
				    {true, true, false}, 65536, false};
/* Stage 2, 40-bit IPA starting at level 1: two concatenated level 1 tables. */
static const struct geo g_s2_40 = {"aarch64-s2-4k-40", 3,    {12, 21, 30}, {9, 9, 10},
				   {true, true, true}, 4096, true};
static const struct geo g_s2_48 = {
    "aarch64-s2-4k-48", 4, {12, 21, 30, 39}, {9, 9, 9, 9}, {true, true, true, false}, 4096, true};

static inline int lookup_level(unsigned n)
{
	return 3 - (int)n;
}

static inline uint64_t geo_index(const struct geo *g, uint64_t va, unsigned n)
{
	return (va >> g->shift[n]) & ((UINT64_C(1) << g->idx_bits[n]) - 1);
}

/* An input address with a different index at every level and an offset. */
static uint64_t geo_va(const struct geo *g)
{
	static const uint64_t idx[4] = {0x077, 0x1f0, 0x013, 0x0a5};
	uint64_t va = 0xabc;
	for (unsigned n = 0; n < g->levels; n++)
		va |= (idx[n] & ((UINT64_C(1) << g->idx_bits[n]) - 1)) << g->shift[n];
	return va;
}

/* The tables of one walk and the address of the entry used in each. */
struct chain {
	const struct geo *g;
	uint64_t va;
	uint64_t table[4];
	uint64_t slot[4];
};

static void chain_build(struct tc_env *e, const struct geo *g, uint64_t va, struct chain *c)
{
	c->g = g;
	c->va = va;
	for (unsigned n = 0; n < g->levels; n++) {
		uint64_t bytes = (UINT64_C(8) << g->idx_bits[n]);
		uint64_t align = bytes > g->granule ? bytes : g->granule;
		c->table[n] = tc_alloc_zeroed(e, bytes, align);
		c->slot[n] = c->table[n] + geo_index(g, va, n) * 8;
	}
}

static uint64_t chain_root(const struct chain *c)
{
	return c->table[c->g->levels - 1];
}

/* Page or block size at engine level n, and an output address for it. */
static uint64_t geo_size(const struct geo *g, unsigned n)
{
	return UINT64_C(1) << g->shift[n];
}

static uint64_t geo_oa(const struct geo *g, unsigned n)
{
	return UINT64_C(0x00009abcdef12000) & ~(geo_size(g, n) - 1);
}

/* Table descriptor at engine level n > leaf pointing at the next table. */
static uint64_t table_desc(const struct chain *c, unsigned n, uint64_t extra)
{
	return c->table[n - 1] | 3 | extra;
}

/* ---- the accesses ---- */

struct acc_case {
	bool write, fetch, user;
};

static const struct acc_case accesses[] = {
    {false, false, false}, {true, false, false}, {false, true, false},
    {false, false, true},  {true, false, true},	 {false, true, true},
};
#define NACC (sizeof(accesses) / sizeof(accesses[0]))

static struct physim_access mk_access(uint64_t va, const struct acc_case *a)
{
	return (struct physim_access){
	    .va = va, .write = a->write, .exec = a->fetch, .user = a->user};
}

static const char *acc_name(const struct acc_case *a)
{
	static const char *names[] = {"EL1 read", "EL1 write", "EL1 fetch",
				      "EL0 read", "EL0 write", "EL0 fetch"};
	return names[(a->user ? 3 : 0) + (a->write ? 1 : a->fetch ? 2 : 0)];
}

/* ---- expectations and comparison ---- */

struct expect {
	enum physim_fault_kind kind;
	int level;	     /* lookup level of the fault, or of the leaf */
	uint64_t syndrome;   /* FSC / FS */
	uint32_t perms;	     /* success */
	uint64_t leaf_after; /* the leaf descriptor in memory after a translate */
};

struct stats {
	unsigned long walks, ok, trans, asize, aflag, perm, other, mismatches;
};

static void count(struct stats *s, const struct expect *x)
{
	s->walks++;
	switch (x->kind) {
	case PHYSIM_FAULT_NONE:
		s->ok++;
		break;
	case PHYSIM_FAULT_NOT_PRESENT:
		s->trans++;
		break;
	case PHYSIM_FAULT_ADDRESS_SIZE:
		s->asize++;
		break;
	case PHYSIM_FAULT_ACCESS_FLAG:
		s->aflag++;
		break;
	case PHYSIM_FAULT_PERMISSION:
		s->perm++;
		break;
	default:
		s->other++;
	}
}

/* What else a result must say (beyond the oracle's expect). */
struct want {
	uint64_t pa, size;
	bool global;
	unsigned refs;
	unsigned stage;
	uint64_t fault_addr;
};

static bool result_ok(int rc, const struct physim_xlate *x, const struct expect *e,
		      const struct want *w)
{
	/* A stage 2 translation on its own reports the input as the GPA. */
	uint64_t gpa = w->stage == 2 ? w->fault_addr : 0;

	if (x->mem_refs != w->refs)
		return false;
	if (e->kind == PHYSIM_FAULT_NONE)
		return rc == 0 && x->fault.kind == PHYSIM_FAULT_NONE && x->pa == w->pa &&
		       x->page_size == w->size && x->level == e->level && x->perms == e->perms &&
		       x->global == w->global && x->gpa == gpa;
	return rc == -EFAULT && x->fault.kind == e->kind && x->fault.level == e->level &&
	       x->fault.syndrome == e->syndrome && x->fault.stage == w->stage &&
	       x->fault.addr == w->fault_addr && x->fault.gpa == gpa && !x->fault.s1ptw;
}

static void report(struct stats *s, const char *what, int rc, const struct physim_xlate *x,
		   const struct expect *e, const struct want *w, uint64_t leaf_now)
{
	if (s->mismatches++ >= 10)
		return;
	print_error("MISMATCH %s\n  want kind %d level %d fsc %#" PRIx64 " perms %#x pa %#" PRIx64
		    " refs %u leaf after %#" PRIx64 "\n  got  rc %d kind %d level %d fsc %#" PRIx64
		    " perms %#x pa %#" PRIx64 " size %#" PRIx64 " level %d refs %u leaf %#" PRIx64
		    "\n",
		    what, e->kind, e->level, e->syndrome, e->perms, w->pa, w->refs, e->leaf_after,
		    rc, x->fault.kind, x->fault.level, x->fault.syndrome, x->perms, x->pa,
		    x->page_size, x->level, x->mem_refs, leaf_now);
}

/* Probe (no writes, memory unchanged) and translate (the oracle's leaf after,
 * ad_updated iff it changed), both against the expectation. The leaf is 64-
 * or 32-bit (pte_bytes). Returns false on a mismatch (already reported). */
static bool run_case(struct tc_env *e, struct physim_mmu *m, uint64_t va, const struct acc_case *a,
		     uint64_t leaf_slot, unsigned pte_bytes, uint64_t leaf_before,
		     const struct expect *ex, const struct want *w, struct stats *s,
		     const char *what)
{
	struct physim_access acc = mk_access(va, a);
	struct physim_xlate x;
	int rc = physim_mmu_probe(m, &acc, &x);
	uint64_t now = pte_bytes == 8 ? tc_get64(e, leaf_slot) : tc_get32(e, leaf_slot);
	bool ok = result_ok(rc, &x, ex, w) && !x.ad_updated && now == leaf_before;
	if (!ok) {
		report(s, what, rc, &x, ex, w, now);
		count(s, ex);
		return false;
	}
	rc = physim_mmu_translate(m, &acc, &x);
	now = pte_bytes == 8 ? tc_get64(e, leaf_slot) : tc_get32(e, leaf_slot);
	ok = result_ok(rc, &x, ex, w) && now == ex->leaf_after &&
	     x.ad_updated == (ex->leaf_after != leaf_before);
	if (!ok)
		report(s, what, rc, &x, ex, w, now);
	count(s, ex);
	return ok;
}

static void print_stats(const char *what, const struct stats *s)
{
	print_message("%s: %lu walks x2 (probe + translate): %lu ok, %lu translation, %lu address "
		      "size, %lu access flag, %lu permission, %lu other; %lu mismatches\n",
		      what, s->walks, s->ok, s->trans, s->asize, s->aflag, s->perm, s->other,
		      s->mismatches);
}

/* The table descriptors of a walk are never written (no FEAT_HAFT: tables
 * have no Access flag, D8.5.1.3): compare them with what was put there. */
static void check_tables(struct tc_env *e, const struct chain *ch, unsigned leaf_n,
			 const uint64_t *tdesc, struct stats *s)
{
	for (unsigned n = ch->g->levels - 1; n > leaf_n; n--) {
		if (tc_get64(e, ch->slot[n]) != tdesc[n] && s->mismatches++ < 10)
			print_error("table descriptor at lookup level %d changed: %#" PRIx64
				    " -> %#" PRIx64 "\n",
				    lookup_level(n), tdesc[n], tc_get64(e, ch->slot[n]));
	}
}

/* ---- stage 1 oracle (D8.4.1.2, D8.5) ---- */

/* Stage 1 permissions (table D8-61). */
enum { P_R = 1, P_W = 2, P_X = 4, U_R = 8, U_W = 16, U_X = 32 };

/* Table D8-65, "Summary of possible memory access permissions using Direct
 * permissions for a stage 1 translation supporting two Exception levels",
 * row by row: UXN, PXN (after UXNTable/PXNTable), AP[2:1] (after APTable),
 * WXN (-1: either), and the permissions present. */
static const struct {
	int uxn, pxn, ap, wxn;
	unsigned perms;
} table_d8_65[] = {
    {0, 0, 0, 0, P_R | P_W | P_X | U_X},
    {0, 0, 0, 1, P_R | P_W | U_X}, /* PrivWXN */
    {0, 0, 1, 0, P_R | P_W | U_R | U_W | U_X},
    {0, 0, 1, 1, P_R | P_W | U_R | U_W}, /* UnprivWXN */
    {0, 0, 2, -1, P_R | P_X | U_X},
    {0, 0, 3, -1, P_R | P_X | U_R | U_X},
    {0, 1, 0, -1, P_R | P_W | U_X},
    {0, 1, 1, 0, P_R | P_W | U_R | U_W | U_X},
    {0, 1, 1, 1, P_R | P_W | U_R | U_W},
    {0, 1, 2, -1, P_R | U_X},
    {0, 1, 3, -1, P_R | U_R | U_X},
    {1, 0, 0, 0, P_R | P_W | P_X},
    {1, 0, 0, 1, P_R | P_W},
    {1, 0, 1, -1, P_R | P_W | U_R | U_W},
    {1, 0, 2, -1, P_R | P_X},
    {1, 0, 3, -1, P_R | P_X | U_R},
    {1, 1, 0, -1, P_R | P_W},
    {1, 1, 1, -1, P_R | P_W | U_R | U_W},
    {1, 1, 2, -1, P_R},
    {1, 1, 3, -1, P_R | U_R},
};

static unsigned d8_65(int uxn, int pxn, int ap, int wxn)
{
	for (size_t i = 0; i < sizeof(table_d8_65) / sizeof(table_d8_65[0]); i++) {
		if (table_d8_65[i].uxn == uxn && table_d8_65[i].pxn == pxn &&
		    table_d8_65[i].ap == ap &&
		    (table_d8_65[i].wxn < 0 || table_d8_65[i].wxn == wxn))
			return table_d8_65[i].perms;
	}
	fail_msg("table D8-65 has no row for %d %d %d %d", uxn, pxn, ap, wxn);
	return 0;
}

struct s1_ctl {
	bool wxn, pan, ha, hd;
};

/*
 * One stage 1 leaf at lookup level `lvl`, reached through table descriptors
 * whose next-level attributes ORed together are `tattr` (APTable, UXNTable,
 * PXNTable bits in their descriptor positions).
 */
static struct expect s1_oracle(uint64_t leaf, uint64_t tattr, int lvl, const struct s1_ctl *c,
			       const struct acc_case *a)
{
	struct expect x = {.level = lvl, .leaf_after = leaf};
	/* TCR_EL1.HD behaves as 0 when HA is 0 (TCR_EL1 field description). */
	bool hd = c->ha && c->hd;

	/* D8.5.1: AF = 0 without hardware management: Access flag fault, which
	 * has priority over Permission faults (D8.5.2.1 I_DSHLJ). */
	if (!(leaf & AF) && !c->ha) {
		x.kind = PHYSIM_FAULT_ACCESS_FLAG;
		x.syndrome = FSC_AFLAG + (unsigned)lvl;
		return x;
	}
	/* Effective AP[2:1]: a writable-clean descriptor (HD, DBM = 1) has
	 * AP[2] treated as 0 (D8.5.2); APTable[1] forbids writes below it, as
	 * AP[2] = 1 would, and APTable[0] EL0 access, as AP[1] = 0 would
	 * (table D8-64). */
	int ap2 = ((leaf & AP2) && !(hd && (leaf & DBM))) || (tattr & APT1);
	int ap1 = (leaf & AP1) && !(tattr & APT0);
	int uxn = (leaf & UXN) || (tattr & UXNT);
	int pxn = (leaf & PXN) || (tattr & PXNT);
	unsigned p = d8_65(uxn, pxn, ap2 * 2 + ap1, c->wxn);

	/* PSTATE.PAN: privileged data accesses to EL0-accessible memory are not
	 * permitted. */
	if (!a->user && c->pan && (p & (U_R | U_W)))
		p &= ~(unsigned)(P_R | P_W);
	unsigned r = a->user ? U_R : P_R, w = a->user ? U_W : P_W, xx = a->user ? U_X : P_X;
	unsigned need = a->fetch ? xx : a->write ? w : r;
	if (!(p & need)) {
		x.kind = PHYSIM_FAULT_PERMISSION;
		x.syndrome = FSC_PERM + (unsigned)lvl;
		return x;
	}
	x.kind = PHYSIM_FAULT_NONE;
	x.perms = ((p & r) ? PHYSIM_R : 0) | ((p & w) ? PHYSIM_W : 0) | ((p & xx) ? PHYSIM_X : 0) |
		  ((p & (U_R | U_W)) ? PHYSIM_U : 0);
	/* Hardware updates (D8.5.1.2, D8.5.2.1): AF set, and a write through a
	 * writable-clean descriptor clears AP[2]. */
	if (!(leaf & AF))
		x.leaf_after |= AF;
	if (a->write && (leaf & AP2))
		x.leaf_after &= ~AP2;
	return x;
}

/* Leaf variants: AP[2:1], UXN, PXN, AF, DBM (64). Pages carry nG, blocks not. */
static uint64_t s1_leaf_variant(const struct geo *g, unsigned n, unsigned v)
{
	uint64_t d = geo_oa(g, n) | (n == 0 ? 3 : 1) | (n == 0 ? NG : 0);
	d |= (v & 1) ? AP1 : 0;
	d |= (v & 2) ? AP2 : 0;
	d |= (v & 4) ? UXN : 0;
	d |= (v & 8) ? PXN : 0;
	d |= (v & 16) ? AF : 0;
	d |= (v & 32) ? DBM : 0;
	/* AttrIndx 1, SH inner: memory attributes play no part. */
	return d | (1 << 2) | (3 << 8);
}

/* Table attribute variants: APTable[1:0], UXNTable, PXNTable (16). */
static uint64_t tattr_variant(unsigned v)
{
	return ((v & 1) ? APT0 : 0) | ((v & 2) ? APT1 : 0) | ((v & 4) ? UXNT : 0) |
	       ((v & 8) ? PXNT : 0);
}

static struct s1_ctl s1_ctl_bits(unsigned b)
{
	return (struct s1_ctl){.wxn = b & 1, .pan = b & 2, .ha = b & 4, .hd = b & 8};
}

static struct physim_mmu_ctl mmu_ctl_s1(const struct s1_ctl *c)
{
	return (struct physim_mmu_ctl){.wxn = c->wxn, .pan = c->pan, .ha = c->ha, .hd = c->hd};
}

/*
 * Every leaf variant at engine level `leaf_n`, with every table attribute
 * variant on the table descriptor at engine level `attr_n` (none if attr_n
 * is 0), every control state and every access.
 */
static void s1_enumerate_one(struct tc_env *e, const struct chain *ch, unsigned leaf_n,
			     unsigned attr_n, struct stats *s)
{
	const struct geo *g = ch->g;
	unsigned nt = attr_n > leaf_n ? 16 : 1;
	int lvl = lookup_level(leaf_n);
	uint64_t size = geo_size(g, leaf_n);
	struct want w = {
	    .pa = geo_oa(g, leaf_n) + (ch->va & (size - 1)),
	    .size = size,
	    .global = leaf_n == 0 ? false : true,
	    .refs = g->levels - leaf_n,
	    .stage = 1,
	    .fault_addr = ch->va,
	};

	for (unsigned cb = 0; cb < 16; cb++) {
		struct s1_ctl c = s1_ctl_bits(cb);
		struct physim_mmu_ctl mc = mmu_ctl_s1(&c);
		struct physim_mmu *m = tc_mmu_new(e->ph, g->name, chain_root(ch), 0, &mc);
		for (unsigned tv = 0; tv < nt; tv++) {
			uint64_t tattr = nt > 1 ? tattr_variant(tv) : 0;
			for (unsigned lv = 0; lv < 64; lv++) {
				uint64_t junk = ((lv ^ tv ^ cb) & 1) ? TABLE_IGNORED : 0;
				uint64_t tdesc[4] = {0};
				for (unsigned n = g->levels - 1; n > leaf_n; n--) {
					tdesc[n] =
					    table_desc(ch, n, junk | (n == attr_n ? tattr : 0));
					tc_put64(e, ch->slot[n], tdesc[n]);
				}
				uint64_t leaf = s1_leaf_variant(g, leaf_n, lv);
				for (size_t ai = 0; ai < NACC; ai++) {
					tc_put64(e, ch->slot[leaf_n], leaf);
					struct expect ex =
					    s1_oracle(leaf, tattr, lvl, &c, &accesses[ai]);
					char what[200];
					if (!run_case(e, m, ch->va, &accesses[ai], ch->slot[leaf_n],
						      8, leaf, &ex, &w, s, "")) {
						snprintf(what, sizeof(what),
							 "%s leaf L%d %#" PRIx64
							 " tattr@L%d %#" PRIx64
							 " wxn%d pan%d ha%d hd%d %s",
							 g->name, lvl, leaf, lookup_level(attr_n),
							 tattr, c.wxn, c.pan, c.ha, c.hd,
							 acc_name(&accesses[ai]));
						if (s->mismatches <= 10)
							print_error("  (case: %s)\n", what);
					}
				}
				check_tables(e, ch, leaf_n, tdesc, s);
			}
		}
		physim_mmu_destroy(m);
	}
}

/* All leaf levels of a stage 1 format, the table attributes on each table
 * level above the leaf in turn. */
static void s1_enumerate(const struct geo *g, struct stats *s)
{
	struct tc_env *e = tc_env_new(RAM_SIZE);
	struct chain ch;
	chain_build(e, g, geo_va(g), &ch);
	for (unsigned leaf_n = 0; leaf_n < g->levels; leaf_n++) {
		if (!g->block_ok[leaf_n])
			continue;
		if (leaf_n == g->levels - 1) {
			s1_enumerate_one(e, &ch, leaf_n, 0, s);
			continue;
		}
		for (unsigned attr_n = leaf_n + 1; attr_n < g->levels; attr_n++)
			s1_enumerate_one(e, &ch, leaf_n, attr_n, s);
	}
	tc_env_free(e);
}

static void test_s1_exhaustive(void **state)
{
	(void)state;
	static const struct geo *const gs[] = {&g_4k_48, &g_4k_39, &g_16k_47, &g_64k_48};
	for (size_t i = 0; i < sizeof(gs) / sizeof(gs[0]); i++) {
		struct stats s = {0};
		s1_enumerate(gs[i], &s);
		print_stats(gs[i]->name, &s);
		assert_true(s.ok > 0 && s.aflag > 0 && s.perm > 0);
		assert_int_equal(s.mismatches, 0);
	}
}

/* Two table levels with attributes: they accumulate (each restricts the
 * levels below it, table D8-64 and the UXNTable/PXNTable rules). */
static void test_s1_table_attrs_two_levels(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	struct chain ch;
	const struct geo *g = &g_4k_48;
	struct stats s = {0};
	chain_build(e, g, geo_va(g), &ch);
	struct want w = {.pa = geo_oa(g, 0) + (ch.va & 0xfff),
			 .size = 4096,
			 .refs = 4,
			 .stage = 1,
			 .fault_addr = ch.va};

	for (unsigned cb = 0; cb < 4; cb++) { /* WXN, PAN */
		struct s1_ctl c = s1_ctl_bits(cb);
		struct physim_mmu_ctl mc = mmu_ctl_s1(&c);
		struct physim_mmu *m = tc_mmu_new(e->ph, g->name, chain_root(&ch), 0, &mc);
		for (unsigned t3 = 0; t3 < 16; t3++) {
			for (unsigned t1 = 0; t1 < 16; t1++) {
				tc_put64(e, ch.slot[3], table_desc(&ch, 3, tattr_variant(t3)));
				tc_put64(e, ch.slot[2], table_desc(&ch, 2, 0));
				tc_put64(e, ch.slot[1], table_desc(&ch, 1, tattr_variant(t1)));
				uint64_t tattr = tattr_variant(t3) | tattr_variant(t1);
				for (unsigned lv = 16; lv < 32; lv++) { /* AF = 1, no DBM */
					uint64_t leaf = s1_leaf_variant(g, 0, lv);
					for (size_t ai = 0; ai < NACC; ai++) {
						tc_put64(e, ch.slot[0], leaf);
						struct expect ex =
						    s1_oracle(leaf, tattr, 3, &c, &accesses[ai]);
						if (!run_case(e, m, ch.va, &accesses[ai],
							      ch.slot[0], 8, leaf, &ex, &w, &s,
							      "two-level attrs") &&
						    s.mismatches <= 10)
							print_error("  (L0 attrs %#x L2 attrs %#x "
								    "leaf %#" PRIx64
								    " ctl %u %s)\n",
								    t3, t1, leaf, cb,
								    acc_name(&accesses[ai]));
					}
				}
			}
		}
		physim_mmu_destroy(m);
	}
	print_stats("4k-48 APTable/UXNTable/PXNTable at lookup levels 0 and 2", &s);
	assert_true(s.ok > 0 && s.perm > 0);
	assert_int_equal(s.mismatches, 0);
	tc_env_free(e);
}

/* ---- stage 2 oracle (D8.4.2.1, D8.5) ---- */

/* Table D8-76: S2AP[1:0] -> data access from EL1&0. */
static const struct {
	bool r, w;
} table_d8_76[4] = {{false, false}, {true, false}, {false, true}, {true, true}};

/* Table D8-78 (FEAT_XNX): XN[1:0] -> execution permitted at EL1, EL0. */
static const struct {
	bool el1, el0;
} table_d8_78[4] = {{true, true}, {false, true}, {false, false}, {true, false}};

struct s2_ctl {
	bool ha, hd;
};

static struct expect s2_oracle(uint64_t leaf, int lvl, const struct s2_ctl *c,
			       const struct acc_case *a)
{
	struct expect x = {.level = lvl, .leaf_after = leaf};
	bool hd = c->ha && c->hd; /* VTCR_EL2.HD behaves as 0 when HA is 0 */
	unsigned s2ap = (unsigned)(leaf >> 6) & 3, xn = (unsigned)(leaf >> 53) & 3;

	if (!(leaf & AF) && !c->ha) {
		x.kind = PHYSIM_FAULT_ACCESS_FLAG;
		x.syndrome = FSC_AFLAG + (unsigned)lvl;
		return x;
	}
	bool r = table_d8_76[s2ap].r;
	/* Writable-clean (D8.5.2.1 R_XZFQH): HD on and DBM = 1 allow writes. */
	bool w = table_d8_76[s2ap].w || (hd && (leaf & DBM));
	bool xx = a->user ? table_d8_78[xn].el0 : table_d8_78[xn].el1;
	if (!(a->fetch ? xx : a->write ? w : r)) {
		x.kind = PHYSIM_FAULT_PERMISSION;
		x.syndrome = FSC_PERM + (unsigned)lvl;
		return x;
	}
	x.kind = PHYSIM_FAULT_NONE;
	x.perms = (r ? PHYSIM_R : 0) | (w ? PHYSIM_W : 0) | (xx ? PHYSIM_X : 0);
	if (!(leaf & AF))
		x.leaf_after |= AF;
	if (a->write && !(leaf & AP2)) /* the write sets S2AP[1] */
		x.leaf_after |= AP2;
	return x;
}

/* Stage 2 leaf variants: S2AP (4), XN[1:0] (4), AF, DBM (64). */
static uint64_t s2_leaf_variant(const struct geo *g, unsigned n, unsigned v)
{
	uint64_t d = geo_oa(g, n) | (n == 0 ? 3 : 1);
	d |= (uint64_t)(v & 3) << 6;
	d |= (uint64_t)((v >> 2) & 3) << 53;
	d |= (v & 16) ? AF : 0;
	d |= (v & 32) ? DBM : 0;
	return d | (0xf << 2) | (3 << 8); /* MemAttr Normal WB, inner shareable */
}

static void s2_enumerate(const struct geo *g, struct stats *s)
{
	struct tc_env *e = tc_env_new(RAM_SIZE);
	struct chain ch;
	chain_build(e, g, geo_va(g), &ch);
	for (unsigned leaf_n = 0; leaf_n < g->levels; leaf_n++) {
		if (!g->block_ok[leaf_n])
			continue;
		int lvl = lookup_level(leaf_n);
		uint64_t size = geo_size(g, leaf_n);
		struct want w = {
		    .pa = geo_oa(g, leaf_n) + (ch.va & (size - 1)),
		    .size = size,
		    .refs = g->levels - leaf_n,
		    .stage = 2,
		    .fault_addr = ch.va,
		};
		for (unsigned cb = 0; cb < 4; cb++) {
			struct s2_ctl c = {.ha = cb & 1, .hd = cb & 2};
			struct physim_mmu_ctl mc = {.ha = c.ha, .hd = c.hd};
			struct physim_mmu *m = tc_mmu_new(e->ph, g->name, chain_root(&ch), 0, &mc);
			for (unsigned lv = 0; lv < 64; lv++) {
				uint64_t tdesc[4] = {0};
				for (unsigned n = g->levels - 1; n > leaf_n; n--) {
					tdesc[n] = table_desc(&ch, n, (lv & 1) ? TABLE_IGNORED : 0);
					tc_put64(e, ch.slot[n], tdesc[n]);
				}
				uint64_t leaf = s2_leaf_variant(g, leaf_n, lv);
				for (size_t ai = 0; ai < NACC; ai++) {
					tc_put64(e, ch.slot[leaf_n], leaf);
					struct expect ex = s2_oracle(leaf, lvl, &c, &accesses[ai]);
					if (!run_case(e, m, ch.va, &accesses[ai], ch.slot[leaf_n],
						      8, leaf, &ex, &w, s, g->name) &&
					    s->mismatches <= 10)
						print_error(
						    "  (leaf L%d %#" PRIx64 " ha%d hd%d %s)\n", lvl,
						    leaf, c.ha, c.hd, acc_name(&accesses[ai]));
				}
				check_tables(e, &ch, leaf_n, tdesc, s);
			}
			physim_mmu_destroy(m);
		}
	}
	tc_env_free(e);
}

static void test_s2_exhaustive(void **state)
{
	(void)state;
	static const struct geo *const gs[] = {&g_s2_40, &g_s2_48};
	for (size_t i = 0; i < sizeof(gs) / sizeof(gs[0]); i++) {
		struct stats s = {0};
		s2_enumerate(gs[i], &s);
		print_stats(gs[i]->name, &s);
		assert_true(s.ok > 0 && s.aflag > 0 && s.perm > 0);
		assert_int_equal(s.mismatches, 0);
	}
}

/* ---- VMSAv8-32 Short-descriptor (G5.4, G5.6, G5.12) ---- */

/* The leaf permission fields of one descriptor, wherever its kind puts them. */
struct v7_bits {
	bool ap0, ap1, ap2, xn, pxn;
};

struct v7_ctl {
	bool wxn, pan, ha;
};

/* Table G5-7 (AP[2:1] model, SCTLR.AFE = 1) and G5.6.3 execution rules;
 * first-level leaves at lookup level 1, second-level at 2 (FS table G5-26). */
static struct expect v7_oracle(const struct v7_bits *b, int lvl, const struct v7_ctl *c,
			       const struct acc_case *a)
{
	struct expect x = {.level = lvl};
	/* Software-managed Access flag only (G5.6.5): HA plays no part. */
	if (!b->ap0) {
		x.kind = PHYSIM_FAULT_ACCESS_FLAG;
		x.syndrome = lvl == 1 ? 0x03 : 0x06;
		return x;
	}
	/* Table G5-7: 00 RW at PL1, 01 RW at any, 10 RO at PL1, 11 RO at any. */
	static const struct {
		bool pl1_r, pl1_w, pl0_r, pl0_w;
	} g5_7[4] = {{1, 1, 0, 0}, {1, 1, 1, 1}, {1, 0, 0, 0}, {1, 0, 1, 0}};
	unsigned ap = (b->ap2 ? 2u : 0u) + (b->ap1 ? 1u : 0u);
	bool r = a->user ? g5_7[ap].pl0_r : g5_7[ap].pl1_r;
	bool w = a->user ? g5_7[ap].pl0_w : g5_7[ap].pl1_w;
	/* PAN (G5.6.2): PL1 data accesses to memory accessible at EL0. */
	if (!a->user && c->pan && (g5_7[ap].pl0_r || g5_7[ap].pl0_w))
		r = w = false;
	/* G5.6.3: execution needs the XN control (and PXN at PL1) to permit it
	 * and read access at the current mode; WXN (G5.6.3.2) makes writable
	 * regions XN. The PAN bit does not affect instruction accesses. */
	bool readable = a->user ? g5_7[ap].pl0_r : g5_7[ap].pl1_r;
	bool writable = g5_7[ap].pl1_w || g5_7[ap].pl0_w;
	bool xx = readable && !b->xn && !(b->pxn && !a->user) && !(c->wxn && writable);
	if (!(a->fetch ? xx : a->write ? w : r)) {
		x.kind = PHYSIM_FAULT_PERMISSION;
		x.syndrome = lvl == 1 ? 0x0d : 0x0f;
		return x;
	}
	x.kind = PHYSIM_FAULT_NONE;
	x.perms = (r ? PHYSIM_R : 0) | (w ? PHYSIM_W : 0) | (xx ? PHYSIM_X : 0) |
		  (g5_7[ap].pl0_r ? PHYSIM_U : 0);
	return x;
}

#define V7_VA	    UINT64_C(0x5a3c7abc) /* first-level index 0x5a3, second 0xc7 */
#define V7_SECT_PA  UINT64_C(0x12300000)
#define V7_SUPER_PA (UINT64_C(0x9) << 36 | UINT64_C(0x6) << 32 | UINT64_C(0x45000000))
#define V7_SMALL_PA UINT64_C(0x0abcd000)
#define V7_LARGE_PA UINT64_C(0x0abc0000)

/* Section (1 MiB) or supersection (16 MiB) descriptor (G5.4): type 0b1x
 * with PXN in bit 0, XN 4, AP[1:0] 11:10, AP[2] 15, nG 17, supersection 18,
 * PA[35:32] in 23:20 and PA[39:36] in 8:5 for a supersection. */
static uint32_t v7_section_desc(bool super, const struct v7_bits *b)
{
	uint32_t d = 2u | (b->pxn ? 1u : 0) | (b->xn ? 1u << 4 : 0) | (b->ap0 ? 1u << 10 : 0) |
		     (b->ap1 ? 1u << 11 : 0) | (b->ap2 ? 1u << 15 : 0);
	if (super)
		return d | 0x45000000u | 0x6u << 20 | 0x9u << 5 | 1u << 18 | 1u << 17;
	/* A section has a domain field (8:5): domain 3 here, a Client like all. */
	return d | (uint32_t)V7_SECT_PA | 3u << 5 | 3u << 2 | 1u << 12; /* TEX 001, C, B */
}

/* Small page (type 0b1x, XN bit 0) or large page (0b01, XN bit 15): AP[1:0]
 * 5:4, AP[2] 9, nG 11. */
static uint32_t v7_page_desc(bool large, const struct v7_bits *b)
{
	uint32_t d = (b->ap0 ? 1u << 4 : 0) | (b->ap1 ? 1u << 5 : 0) | (b->ap2 ? 1u << 9 : 0);
	if (large)
		return d | (uint32_t)V7_LARGE_PA | 1u | (b->xn ? 1u << 15 : 0);
	return d | (uint32_t)V7_SMALL_PA | 2u | (b->xn ? 1u : 0) | 1u << 11;
}

static struct v7_bits v7_bits_variant(unsigned v)
{
	return (struct v7_bits){
	    .ap0 = v & 1, .ap1 = v & 2, .ap2 = v & 4, .xn = v & 8, .pxn = v & 16};
}

static void test_v7_exhaustive(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	uint64_t l1 = tc_alloc_zeroed(e, 16384, 16384), l2 = tc_alloc_zeroed(e, 4096, 4096);
	uint64_t l1_slot = l1 + (V7_VA >> 20) * 4, l2_slot = l2 + ((V7_VA >> 12) & 0xff) * 4;
	struct stats s = {0};

	for (unsigned cb = 0; cb < 8; cb++) {
		struct v7_ctl c = {.wxn = cb & 1, .pan = cb & 2, .ha = cb & 4};
		struct physim_mmu_ctl mc = {.wxn = c.wxn, .pan = c.pan, .ha = c.ha, .hd = c.ha};
		struct physim_mmu *m = tc_mmu_new(e->ph, "armv7-short", l1, 0, &mc);
		for (unsigned kind = 0; kind < 4; kind++) { /* section, super, small, large */
			for (unsigned v = 0; v < 32; v++) {
				struct v7_bits b = v7_bits_variant(v);
				uint32_t leaf;
				uint64_t slot;
				struct want w = {.stage = 1, .fault_addr = V7_VA};
				int lvl;
				if (kind < 2) {
					leaf = v7_section_desc(kind == 1, &b);
					slot = l1_slot;
					lvl = 1;
					w.refs = 1;
					w.size = kind == 1 ? 16u << 20 : 1u << 20;
					w.pa = (kind == 1 ? V7_SUPER_PA : V7_SECT_PA) +
					       (V7_VA & (w.size - 1));
					w.global = kind == 0;
				} else {
					/* Page-table descriptor: PXN (bit 2) applies to every
					 * page of the table; domain 9 (a Client). */
					tc_put32(e, l1_slot,
						 (uint32_t)l2 | 1u | (b.pxn ? 1u << 2 : 0) |
						     9u << 5);
					leaf = v7_page_desc(kind == 3, &b);
					slot = l2_slot;
					lvl = 2;
					w.refs = 2;
					w.size = kind == 3 ? 1u << 16 : 1u << 12;
					w.pa = (kind == 3 ? V7_LARGE_PA : V7_SMALL_PA) +
					       (V7_VA & (w.size - 1));
					w.global = kind == 3;
				}
				for (size_t ai = 0; ai < NACC; ai++) {
					tc_put32(e, slot, leaf);
					struct expect ex = v7_oracle(&b, lvl, &c, &accesses[ai]);
					ex.leaf_after = leaf; /* never written */
					if (!run_case(e, m, V7_VA, &accesses[ai], slot, 4, leaf,
						      &ex, &w, &s, "armv7-short") &&
					    s.mismatches <= 10)
						print_error(
						    "  (kind %u desc %#x wxn%d pan%d ha%d %s)\n",
						    kind, leaf, c.wxn, c.pan, c.ha,
						    acc_name(&accesses[ai]));
				}
			}
		}
		physim_mmu_destroy(m);
	}
	print_stats("armv7-short", &s);
	assert_true(s.ok > 0 && s.aflag > 0 && s.perm > 0);
	assert_int_equal(s.mismatches, 0);
	tc_env_free(e);
}

/* ---- hand-derived cases ---- */

static const struct acc_case el1_read = {false, false, false};
static const struct acc_case el1_fetch = {false, true, false};
static const struct acc_case el0_read = {false, false, true};
static const struct acc_case el0_fetch = {false, true, true};

static int walk1(struct tc_env *e, const char *fmt, uint64_t root, uint64_t root_hi,
		 const struct physim_mmu_ctl *ctl, uint64_t va, const struct acc_case *a,
		 struct physim_xlate *x)
{
	struct physim_mmu *m = tc_mmu_new(e->ph, fmt, root, root_hi, ctl);
	struct physim_access acc = mk_access(va, a);
	int rc = physim_mmu_translate(m, &acc, x);
	physim_mmu_destroy(m);
	return rc;
}

static void assert_fault(int rc, const struct physim_xlate *x, enum physim_fault_kind kind,
			 int level, uint64_t syndrome, unsigned stage, unsigned refs)
{
	if (rc != -EFAULT || x->fault.kind != kind || x->fault.level != level ||
	    x->fault.syndrome != syndrome || x->fault.stage != stage || x->mem_refs != refs)
		fail_msg("want fault kind %d level %d syndrome %#" PRIx64
			 " stage %u refs %u; got rc %d "
			 "kind %d level %d syndrome %#" PRIx64 " stage %u refs %u",
			 kind, level, syndrome, stage, refs, rc, x->fault.kind, x->fault.level,
			 x->fault.syndrome, x->fault.stage, x->mem_refs);
}

static void assert_ok(int rc, const struct physim_xlate *x, uint64_t pa, uint64_t size, int level,
		      uint32_t perms, unsigned refs)
{
	if (rc != 0 || x->pa != pa || x->page_size != size || x->level != level ||
	    x->perms != perms || x->mem_refs != refs)
		fail_msg("want pa %#" PRIx64 " size %#" PRIx64
			 " level %d perms %#x refs %u; got rc %d "
			 "(fault kind %d level %d fsc %#" PRIx64 ") pa %#" PRIx64 " size %#" PRIx64
			 " level %d perms %#x refs %u",
			 pa, size, level, perms, refs, rc, x->fault.kind, x->fault.level,
			 x->fault.syndrome, x->pa, x->page_size, x->level, x->perms, x->mem_refs);
}

/* A plain EL1 read/write leaf with AF (AP[2:1] = 00, nothing else). */
static uint64_t rw_leaf(uint64_t oa, bool page)
{
	return oa | (page ? 3 : 1) | AF;
}

/* Invalid and reserved encodings: Translation faults at the lookup level
 * of the descriptor (D8.3 table D8-48 and the block sizes of table D8-52). */
static void test_translation_faults(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	struct physim_xlate x;
	static const struct geo *const gs[] = {&g_4k_48,  &g_4k_39, &g_16k_47,
					       &g_64k_48, &g_s2_40, &g_s2_48};

	for (size_t i = 0; i < sizeof(gs) / sizeof(gs[0]); i++) {
		const struct geo *g = gs[i];
		unsigned stage = g->stage2 ? 2 : 1;
		struct chain ch;
		chain_build(e, g, geo_va(g), &ch);
		/* An invalid descriptor (bit 0 = 0, whatever else) at each level. */
		for (unsigned n = g->levels; n-- > 0;) {
			for (unsigned k = g->levels - 1; k > n; k--)
				tc_put64(e, ch.slot[k], table_desc(&ch, k, 0));
			tc_put64(e, ch.slot[n], ~UINT64_C(1));
			int rc = walk1(e, g->name, chain_root(&ch), 0, NULL, ch.va, &el1_read, &x);
			assert_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, lookup_level(n),
				     FSC_TRANS + (unsigned)lookup_level(n), stage, g->levels - n);
			assert_int_equal(x.fault.addr, ch.va);
		}
		/* Level 3 with bits 1:0 = 0b01: reserved, treated as invalid. */
		for (unsigned k = g->levels - 1; k > 0; k--)
			tc_put64(e, ch.slot[k], table_desc(&ch, k, 0));
		tc_put64(e, ch.slot[0], rw_leaf(geo_oa(g, 0), false) | AP1 | AP2);
		int rc = walk1(e, g->name, chain_root(&ch), 0, NULL, ch.va, &el1_read, &x);
		assert_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, 3, FSC_TRANS + 3, stage, g->levels);
		/* A block where the granule has none: 4K level 0, 16K and 64K
		 * level 1 (without FEAT_LPA2 / FEAT_LPA). */
		for (unsigned n = 1; n < g->levels; n++) {
			if (g->block_ok[n])
				continue;
			for (unsigned k = g->levels - 1; k > n; k--)
				tc_put64(e, ch.slot[k], table_desc(&ch, k, 0));
			tc_put64(e, ch.slot[n], rw_leaf(geo_oa(g, n), false));
			rc = walk1(e, g->name, chain_root(&ch), 0, NULL, ch.va, &el1_read, &x);
			assert_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, lookup_level(n),
				     FSC_TRANS + (unsigned)lookup_level(n), stage, g->levels - n);
			/* ... even with an out-of-range address bit (translation
			 * faults come first). */
			tc_put64(e, ch.slot[n], rw_leaf(geo_oa(g, n), false) | BIT(48));
			rc = walk1(e, g->name, chain_root(&ch), 0, NULL, ch.va, &el1_read, &x);
			assert_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, lookup_level(n),
				     FSC_TRANS + (unsigned)lookup_level(n), stage, g->levels - n);
		}
	}
	tc_env_free(e);
}

/*
 * Address size faults (D8.1.7, D8.2): the OA, a next-level table address or
 * the TTBR address with bits at or above the OA size (TCR_EL1.IPS /
 * VTCR_EL2.PS); the TTBR case is reported at level 0 whatever the start
 * level. Descriptor bits 49:48 (and 15:12 for 64K) hold OA[51:48] on an
 * LPA/LPA2 PE: above the 48-bit OA size they are Address size faults too.
 */
static void test_address_size(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	struct physim_xlate x;
	const struct geo *g = &g_4k_48;
	struct chain ch;
	chain_build(e, g, geo_va(g), &ch);
	uint64_t off = ch.va & 0xfff;
	struct physim_mmu_ctl ips32 = {.ips_bits = 32}, ips40 = {.ips_bits = 40},
			      ips52 = {.ips_bits = 52};

	/* The tables are in RAM below 4 GiB (base 0x80000000). */
	assert_true(chain_root(&ch) < (UINT64_C(1) << 32));
	for (unsigned k = 3; k > 0; k--)
		tc_put64(e, ch.slot[k], table_desc(&ch, k, 0));

	/* Page at 4 GiB - 4 KiB: fine with a 32-bit OA size. */
	tc_put64(e, ch.slot[0], rw_leaf(UINT64_C(0xfffff000), true));
	int rc = walk1(e, g->name, chain_root(&ch), 0, &ips32, ch.va, &el1_read, &x);
	assert_ok(rc, &x, 0xfffff000 + off, 4096, 3, PHYSIM_R | PHYSIM_W | PHYSIM_X, 4);
	/* Page at 4 GiB: Address size fault at level 3 (FSC 0b000011), before
	 * the Access flag (AF = 0) and before permissions (an EL0 read). */
	tc_put64(e, ch.slot[0], UINT64_C(0x100000000) | 3);
	rc = walk1(e, g->name, chain_root(&ch), 0, &ips32, ch.va, &el0_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_ADDRESS_SIZE, 3, 0x03, 1, 4);
	/* The same page with a 40-bit and the default 48-bit OA size. */
	tc_put64(e, ch.slot[0], rw_leaf(UINT64_C(0x100000000), true));
	rc = walk1(e, g->name, chain_root(&ch), 0, &ips40, ch.va, &el1_read, &x);
	assert_ok(rc, &x, 0x100000000 + off, 4096, 3, PHYSIM_R | PHYSIM_W | PHYSIM_X, 4);
	/* OA bit 40 with a 40-bit OA size; bit 47 with 48 (0) and 52 (capped at
	 * the PE's 48-bit PA size) is fine. */
	tc_put64(e, ch.slot[0], rw_leaf(BIT(40), true));
	rc = walk1(e, g->name, chain_root(&ch), 0, &ips40, ch.va, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_ADDRESS_SIZE, 3, 0x03, 1, 4);
	tc_put64(e, ch.slot[0], rw_leaf(BIT(47), true));
	rc = walk1(e, g->name, chain_root(&ch), 0, NULL, ch.va, &el1_read, &x);
	assert_ok(rc, &x, BIT(47) + off, 4096, 3, PHYSIM_R | PHYSIM_W | PHYSIM_X, 4);
	rc = walk1(e, g->name, chain_root(&ch), 0, &ips52, ch.va, &el1_read, &x);
	assert_ok(rc, &x, BIT(47) + off, 4096, 3, PHYSIM_R | PHYSIM_W | PHYSIM_X, 4);
	/* Descriptor bits 49:48 (OA[49:48] with LPA2): above the 48-bit OA size
	 * at every OA size setting, 52 included. */
	tc_put64(e, ch.slot[0], rw_leaf(0x5000, true) | BIT(48));
	rc = walk1(e, g->name, chain_root(&ch), 0, &ips52, ch.va, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_ADDRESS_SIZE, 3, 0x03, 1, 4);
	tc_put64(e, ch.slot[0], rw_leaf(0x5000, true) | BIT(49));
	rc = walk1(e, g->name, chain_root(&ch), 0, NULL, ch.va, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_ADDRESS_SIZE, 3, 0x03, 1, 4);
	tc_put64(e, ch.slot[0], rw_leaf(0x5000, true));

	/* A 2 MiB block at 4 GiB: level 2 (FSC 0b000010). */
	tc_put64(e, ch.slot[1], rw_leaf(UINT64_C(0x100000000), false));
	rc = walk1(e, g->name, chain_root(&ch), 0, &ips32, ch.va, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_ADDRESS_SIZE, 2, 0x02, 1, 3);
	/* A table address above the OA size, at lookup level 1 (FSC 0b000001):
	 * the fault is at the level of the table descriptor. */
	tc_put64(e, ch.slot[2], UINT64_C(0x100000000) | 3);
	rc = walk1(e, g->name, chain_root(&ch), 0, &ips32, ch.va, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_ADDRESS_SIZE, 1, 0x01, 1, 2);
	/* Table descriptor bit 48 (NLTA[48] with LPA2) at level 0. */
	tc_put64(e, ch.slot[3], table_desc(&ch, 3, BIT(48)));
	rc = walk1(e, g->name, chain_root(&ch), 0, NULL, ch.va, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_ADDRESS_SIZE, 0, 0x00, 1, 1);
	tc_put64(e, ch.slot[3], table_desc(&ch, 3, 0));
	/* The TTBR above the OA size: level 0, no descriptor read. */
	rc = walk1(e, g->name, UINT64_C(0x100000000), 0, &ips32, ch.va, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_ADDRESS_SIZE, 0, 0x00, 1, 0);
	/* ... level 0 also for a format that starts at lookup level 1. */
	rc = walk1(e, "aarch64-4k-39", UINT64_C(0x100000000), 0, &ips32, 0x1000, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_ADDRESS_SIZE, 0, 0x00, 1, 0);
	/* ... and for TTBR1 (the upper range). */
	rc = walk1(e, g->name, chain_root(&ch), UINT64_C(0x100000000), &ips32,
		   UINT64_C(0xffff000000001000), &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_ADDRESS_SIZE, 0, 0x00, 1, 0);

	/* 64K granule: descriptor bits 15:12 are OA[51:48] with FEAT_LPA. */
	{
		const struct geo *g64 = &g_64k_48;
		struct chain c64;
		chain_build(e, g64, geo_va(g64), &c64);
		tc_put64(e, c64.slot[2], table_desc(&c64, 2, 0));
		tc_put64(e, c64.slot[1], table_desc(&c64, 1, 0));
		tc_put64(e, c64.slot[0], rw_leaf(UINT64_C(0x120000), true));
		rc = walk1(e, g64->name, chain_root(&c64), 0, NULL, c64.va, &el1_read, &x);
		assert_ok(rc, &x, 0x120000 + (c64.va & 0xffff), 0x10000, 3,
			  PHYSIM_R | PHYSIM_W | PHYSIM_X, 3);
		tc_put64(e, c64.slot[0], rw_leaf(UINT64_C(0x120000), true) | 0x1000);
		rc = walk1(e, g64->name, chain_root(&c64), 0, NULL, c64.va, &el1_read, &x);
		assert_fault(rc, &x, PHYSIM_FAULT_ADDRESS_SIZE, 3, 0x03, 1, 3);
		/* ... in a table descriptor too (level 2 here). */
		tc_put64(e, c64.slot[1], table_desc(&c64, 1, 0x8000));
		rc = walk1(e, g64->name, chain_root(&c64), 0, NULL, c64.va, &el1_read, &x);
		assert_fault(rc, &x, PHYSIM_FAULT_ADDRESS_SIZE, 2, 0x02, 1, 2);
	}

	/* Stage 2: VTCR_EL2.PS = 32 bits. */
	{
		const struct geo *g2 = &g_s2_40;
		struct chain c2;
		chain_build(e, g2, geo_va(g2), &c2);
		tc_put64(e, c2.slot[2], table_desc(&c2, 2, 0));
		tc_put64(e, c2.slot[1], table_desc(&c2, 1, 0));
		tc_put64(e, c2.slot[0], UINT64_C(0x100000000) | 3 | AF | AP1 | AP2);
		rc = walk1(e, g2->name, chain_root(&c2), 0, &ips32, c2.va, &el1_read, &x);
		assert_fault(rc, &x, PHYSIM_FAULT_ADDRESS_SIZE, 3, 0x03, 2, 3);
		assert_int_equal(x.fault.gpa, c2.va);
		rc = walk1(e, g2->name, chain_root(&c2), 0, &ips40, c2.va, &el1_read, &x);
		assert_ok(rc, &x, 0x100000000 + (c2.va & 0xfff), 4096, 3,
			  PHYSIM_R | PHYSIM_W | PHYSIM_X, 3);
		rc = walk1(e, g2->name, UINT64_C(0x100000000), 0, &ips32, c2.va, &el1_read, &x);
		assert_fault(rc, &x, PHYSIM_FAULT_ADDRESS_SIZE, 0, 0x00, 2, 0);
	}
	tc_env_free(e);
}

/*
 * Input ranges (pseudocode AArch64.S1Translate / S2Translate; D8.2): stage 1
 * addresses with bits 63:va_bits all 0 use TTBR0 (root), all 1 TTBR1
 * (root_hi, T1SZ = T0SZ here); other addresses, and upper ones with no TTBR1
 * walk (EPD1, root_hi = 0), are Translation faults at level 0 with no
 * descriptor read, whatever the start level. Stage 2: an IPA beyond the
 * input size is a Translation fault at level 0.
 */
static void test_input_ranges(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	struct physim_xlate x;
	static const struct geo *const gs[] = {&g_4k_48, &g_4k_39, &g_16k_47, &g_64k_48};
	const uint32_t rwx = PHYSIM_R | PHYSIM_W | PHYSIM_X;

	for (size_t i = 0; i < sizeof(gs) / sizeof(gs[0]); i++) {
		const struct geo *g = gs[i];
		uint64_t va_lo = geo_va(g);
		uint64_t upper = ~UINT64_C(0)
				 << (g->shift[g->levels - 1] + g->idx_bits[g->levels - 1]);
		uint64_t va_hi = va_lo | upper;
		struct chain lo, hi;
		chain_build(e, g, va_lo, &lo);
		chain_build(e, g, va_lo, &hi); /* same indexes: the low bits */
		for (unsigned k = g->levels - 1; k > 0; k--) {
			tc_put64(e, lo.slot[k], table_desc(&lo, k, 0));
			tc_put64(e, hi.slot[k], table_desc(&hi, k, 0));
		}
		tc_put64(e, lo.slot[0], rw_leaf(0x11110000, true));
		tc_put64(e, hi.slot[0], rw_leaf(0x22220000, true) | NG);
		uint64_t off = va_lo & (geo_size(g, 0) - 1);
		uint64_t lo_root = chain_root(&lo), hi_root = chain_root(&hi);

		int rc = walk1(e, g->name, lo_root, hi_root, NULL, va_lo, &el1_read, &x);
		assert_ok(rc, &x, 0x11110000 + off, geo_size(g, 0), 3, rwx, g->levels);
		assert_true(x.global);
		rc = walk1(e, g->name, lo_root, hi_root, NULL, va_hi, &el1_read, &x);
		assert_ok(rc, &x, 0x22220000 + off, geo_size(g, 0), 3, rwx, g->levels);
		assert_false(x.global);
		/* EPD1: no TTBR1 table. */
		rc = walk1(e, g->name, lo_root, 0, NULL, va_hi, &el1_read, &x);
		assert_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, 0, FSC_TRANS, 1, 0);
		assert_int_equal(x.fault.addr, va_hi);
		/* Between the two ranges: the lowest bit above the VA size, the
		 * highest bit, and upper bits with one zero. */
		uint64_t bad[] = {va_lo | (upper & -upper), va_lo | BIT(63),
				  va_hi & ~(upper & -upper), va_hi & ~BIT(63)};
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			rc = walk1(e, g->name, lo_root, hi_root, NULL, bad[b], &el0_read, &x);
			assert_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, 0, FSC_TRANS, 1, 0);
			assert_int_equal(x.fault.addr, bad[b]);
		}
	}

	/* Stage 2, 40-bit IPA at level 1 with two concatenated level 1 tables:
	 * IPA bit 39 selects the second 4 KiB of the 8 KiB root (D8.2
	 * concatenated tables); bit 40 is out of range. root_hi is ignored. */
	{
		const struct geo *g = &g_s2_40;
		uint64_t ipa =
		    (UINT64_C(0x3ff) << 30) | (UINT64_C(0x5) << 21) | (UINT64_C(0x9) << 12) | 0x321;
		struct chain ch;
		chain_build(e, g, ipa, &ch);
		assert_int_equal(ch.slot[2], ch.table[2] + 0x3ff * 8); /* entry 1023 */
		tc_put64(e, ch.slot[2], table_desc(&ch, 2, 0));
		tc_put64(e, ch.slot[1], table_desc(&ch, 1, 0));
		tc_put64(e, ch.slot[0], 0x7654000 | 3 | AF | AP1 | AP2 | UXN);
		int rc =
		    walk1(e, g->name, chain_root(&ch), chain_root(&ch), NULL, ipa, &el1_read, &x);
		assert_ok(rc, &x, 0x7654321, 4096, 3, PHYSIM_R | PHYSIM_W, 3);
		assert_int_equal(x.gpa, ipa);
		rc = walk1(e, g->name, chain_root(&ch), 0, NULL, ipa | BIT(40), &el1_read, &x);
		assert_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, 0, FSC_TRANS, 2, 0);
		assert_int_equal(x.fault.gpa, ipa | BIT(40));
		rc = walk1(e, "aarch64-s2-4k-48", chain_root(&ch), 0, NULL, BIT(48), &el1_read, &x);
		assert_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, 0, FSC_TRANS, 2, 0);
	}

	/* Short-descriptor: a VA above 32 bits is a level 1 Translation fault
	 * (FS 0b00101, as for an address outside the TTBRs, G5.12.3.2.1). */
	{
		uint64_t l1 = tc_alloc_zeroed(e, 16384, 16384);
		tc_put32(e, l1, 0x00100000 | 2 | 1u << 10); /* section at VA 0 */
		int rc = walk1(e, "armv7-short", l1, 0, NULL, 0x1234, &el1_read, &x);
		assert_ok(rc, &x, 0x00101234, 1u << 20, 1, PHYSIM_R | PHYSIM_W | PHYSIM_X, 1);
		rc = walk1(e, "armv7-short", l1, 0, NULL, BIT(32) | 0x1234, &el1_read, &x);
		assert_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, 1, 0x05, 1, 0);
	}
	tc_env_free(e);
}

/* A descriptor fetch outside memory: synchronous External abort on a
 * translation table walk at the level being read (FSC 0b0101LL; Short-
 * descriptor FS 0b01100 first level, 0b01110 second level). */
static void test_external_abort(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	struct physim_xlate x;
	const uint64_t nowhere = 0x10000; /* below the RAM (base 0x80000000) */

	/* Root outside memory: level 0 (4K, 48-bit) or 1 (3-level formats). */
	int rc = walk1(e, "aarch64-4k-48", nowhere, 0, NULL, 0x1000, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_BUS_ERROR, 0, FSC_EXTWALK, 1, 0);
	rc = walk1(e, "aarch64-64k-48", nowhere, 0, NULL, 0x1000, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_BUS_ERROR, 1, FSC_EXTWALK + 1, 1, 0);
	rc = walk1(e, "aarch64-s2-4k-40", nowhere, 0, NULL, 0x1000, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_BUS_ERROR, 1, FSC_EXTWALK + 1, 2, 0);

	/* A level 2 table outside memory, reached through valid tables. */
	struct chain ch;
	chain_build(e, &g_4k_48, geo_va(&g_4k_48), &ch);
	tc_put64(e, ch.slot[3], table_desc(&ch, 3, 0));
	tc_put64(e, ch.slot[2], nowhere | 3);
	rc = walk1(e, "aarch64-4k-48", chain_root(&ch), 0, NULL, ch.va, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_BUS_ERROR, 2, FSC_EXTWALK + 2, 1, 2);

	/* Short-descriptor: first-level table, then a second-level table. */
	rc = walk1(e, "armv7-short", nowhere, 0, NULL, 0x1000, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_BUS_ERROR, 1, 0x0c, 1, 0);
	uint64_t l1 = tc_alloc_zeroed(e, 16384, 16384);
	tc_put32(e, l1, (uint32_t)nowhere | 1);
	rc = walk1(e, "armv7-short", l1, 0, NULL, 0x1000, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_BUS_ERROR, 2, 0x0e, 1, 1);
	/* ... and a missing second-level entry is a level 2 Translation fault. */
	uint64_t l2 = tc_alloc_zeroed(e, 4096, 4096);
	tc_put32(e, l1, (uint32_t)l2 | 1);
	rc = walk1(e, "armv7-short", l1, 0, NULL, 0x1000, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, 2, 0x07, 1, 2);
	tc_env_free(e);
}

/*
 * 16K and 64K granule walks with the indexes worked out by hand (D8.2):
 * 16K, 47-bit VA: level 1 VA[46:36], level 2 VA[35:25], level 3 VA[24:14];
 * 64K, 48-bit VA: level 1 VA[47:42], level 2 VA[41:29], level 3 VA[28:16].
 */
static void test_granules(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	struct physim_xlate x;
	const uint32_t rwx = PHYSIM_R | PHYSIM_W | PHYSIM_X;

	/* 16K: VA 0x555555555555 -> indexes 0x555, 0x2aa, 0x555, offset 0x1555. */
	uint64_t t1 = tc_alloc_zeroed(e, 16384, 16384), t2 = tc_alloc_zeroed(e, 16384, 16384),
		 t3 = tc_alloc_zeroed(e, 16384, 16384);
	uint64_t va = UINT64_C(0x555555555555);
	tc_put64(e, t1 + 0x555 * 8, t2 | 3);
	tc_put64(e, t2 + 0x2aa * 8, t3 | 3);
	tc_put64(e, t3 + 0x555 * 8, UINT64_C(0xabcd0000) | 3 | AF | AP1 | UXN | PXN);
	int rc = walk1(e, "aarch64-16k-47", t1, 0, NULL, va, &el0_read, &x);
	/* AP[2:1] = 01: EL0 RW, so no PrivExecute; UXN: no UnprivExecute. */
	assert_ok(rc, &x, 0xabcd1555, 16384, 3, PHYSIM_R | PHYSIM_W | PHYSIM_U, 3);
	/* 32 MiB block at level 2 (VA[24:0] is the offset: 0x1555555). */
	tc_put64(e, t2 + 0x2aa * 8, UINT64_C(0x7e000000) | 1 | AF);
	rc = walk1(e, "aarch64-16k-47", t1, 0, NULL, va, &el1_read, &x);
	assert_ok(rc, &x, 0x7e000000 + 0x1555555, 32u << 20, 2, rwx, 2);
	/* A level 2 fault is reported as lookup level 2 (FSC 0b000110). */
	tc_put64(e, t2 + 0x2aa * 8, 0);
	rc = walk1(e, "aarch64-16k-47", t1, 0, NULL, va, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, 2, 0x06, 1, 2);

	/* 64K: VA 0xa5a5a5a5a5a5 -> indexes 0x29, 0xd2d, 0x5a5, offset 0xa5a5. */
	uint64_t u1 = tc_alloc_zeroed(e, 65536, 65536), u2 = tc_alloc_zeroed(e, 65536, 65536),
		 u3 = tc_alloc_zeroed(e, 65536, 65536);
	va = UINT64_C(0xa5a5a5a5a5a5);
	tc_put64(e, u1 + 0x29 * 8, u2 | 3);
	tc_put64(e, u2 + 0xd2d * 8, u3 | 3);
	tc_put64(e, u3 + 0x5a5 * 8, UINT64_C(0x123450000) | 3 | AF | AP2);
	rc = walk1(e, "aarch64-64k-48", u1, 0, NULL, va, &el1_fetch, &x);
	assert_ok(rc, &x, 0x12345a5a5, 65536, 3, PHYSIM_R | PHYSIM_X, 3);
	/* 512 MiB block at level 2 (offset VA[28:0] = 0x5a5a5a5). */
	tc_put64(e, u2 + 0xd2d * 8, UINT64_C(0x20000000) | 1 | AF);
	rc = walk1(e, "aarch64-64k-48", u1, 0, NULL, va, &el1_read, &x);
	assert_ok(rc, &x, 0x20000000 + 0x5a5a5a5, 512u << 20, 2, rwx, 2);
	/* The level 1 table has 64 entries: VA[47:42] only. */
	tc_put64(e, u1 + 0x29 * 8, 0);
	rc = walk1(e, "aarch64-64k-48", u1, 0, NULL, va, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, 1, 0x05, 1, 1);

	/* 4K, 39-bit VA, 1 GiB block at the level 1 root: VA 0x7fc0001234 ->
	 * index 0x1ff, offset 0x1234. */
	uint64_t r = tc_alloc_zeroed(e, 4096, 4096);
	tc_put64(e, r + 0x1ff * 8, UINT64_C(0x40000000) | 1 | AF | AP1 | AP2 | PXN);
	rc = walk1(e, "aarch64-4k-39", r, 0, NULL, UINT64_C(0x7fc0001234), &el0_fetch, &x);
	assert_ok(rc, &x, 0x40001234, 1u << 30, 1, PHYSIM_R | PHYSIM_X | PHYSIM_U, 1);
	tc_env_free(e);
}

/* ---- nested: aarch64-4k-48 over aarch64-s2-4k-40 ---- */

/* Map one page or block gpa -> hpa at engine level n of a 4K stage 2 table
 * (tables allocated as needed); returns the leaf descriptor's address. */
static uint64_t s2_map(struct tc_env *e, const struct geo *g, uint64_t root, uint64_t gpa,
		       uint64_t hpa, unsigned n, uint64_t attrs)
{
	uint64_t table = root;
	for (unsigned k = g->levels - 1; k > n; k--) {
		uint64_t slot = table + geo_index(g, gpa, k) * 8;
		uint64_t d = tc_get64(e, slot);
		if (!(d & 1)) {
			d = tc_alloc_zeroed(e, 4096, 4096) | 3;
			tc_put64(e, slot, d);
		}
		table = d & UINT64_C(0x0000fffffffff000);
	}
	uint64_t slot = table + geo_index(g, gpa, n) * 8;
	tc_put64(e, slot, hpa | (n == 0 ? 3 : 1) | attrs);
	return slot;
}

#define S2_RW (AP1 | AP2) /* S2AP = 11 */
#define S2_RO AP1	  /* S2AP = 01 */

struct nest {
	struct tc_env *e;
	uint64_t va;
	uint64_t h[4], g[4]; /* stage 1 tables by engine level: HPA, GPA */
	uint64_t s1slot[4];  /* HPA of the entry used in each */
	uint64_t s2leaf[4];  /* HPA of the stage 2 leaf mapping g[n] */
	uint64_t s2root;
	uint64_t data_leaf; /* stage 2 leaf of the data GPA block */
	struct physim_mmu *s1, *s2;
};

#define NEST_DATA_GPA UINT64_C(0x40005000) /* in the 2 MiB block at 0x40000000 */
#define NEST_DATA_HPA UINT64_C(0x123400000)

/* Stage 1 tables at GPAs 0x10000000 + n * 0x1000, each mapped by a 4 KiB
 * stage 2 page onto its frame; the stage 1 leaf maps the VA to
 * NEST_DATA_GPA with `leaf_bits`; stage 2 maps 0x40000000 by a 2 MiB block
 * onto NEST_DATA_HPA with `data_bits`. */
static void nest_setup(struct nest *t, uint64_t leaf_bits, uint64_t data_bits,
		       const struct physim_mmu_ctl *c1, const struct physim_mmu_ctl *c2)
{
	const struct geo *g1 = &g_4k_48, *g2 = &g_s2_40;
	t->e = tc_env_new(RAM_SIZE);
	t->va = geo_va(g1);
	t->s2root = tc_alloc_zeroed(t->e, 8192, 8192);
	for (unsigned n = 0; n < 4; n++) {
		t->h[n] = tc_alloc_zeroed(t->e, 4096, 4096);
		t->g[n] = UINT64_C(0x10000000) + n * 0x1000;
		t->s1slot[n] = t->h[n] + geo_index(g1, t->va, n) * 8;
		t->s2leaf[n] = s2_map(t->e, g2, t->s2root, t->g[n], t->h[n], 0, S2_RW | AF);
	}
	for (unsigned n = 3; n > 0; n--)
		tc_put64(t->e, t->s1slot[n], t->g[n - 1] | 3);
	tc_put64(t->e, t->s1slot[0], NEST_DATA_GPA | 3 | leaf_bits);
	t->data_leaf =
	    s2_map(t->e, g2, t->s2root, UINT64_C(0x40000000), NEST_DATA_HPA, 1, data_bits);
	t->s1 = tc_mmu_new(t->e->ph, g1->name, t->g[3], 0, c1);
	t->s2 = tc_mmu_new(t->e->ph, g2->name, t->s2root, 0, c2);
}

static void nest_free(struct nest *t)
{
	physim_mmu_destroy(t->s1);
	physim_mmu_destroy(t->s2);
	tc_env_free(t->e);
}

static int nest_run(struct nest *t, const struct acc_case *a, struct physim_xlate *x)
{
	struct physim_access acc = mk_access(t->va, a);
	return physim_nested_translate(t->s1, t->s2, &acc, x);
}

/* A stage 2 fault: stage 2, the GPA in addr and gpa, s1ptw as given. */
static void assert_s2_fault(int rc, const struct physim_xlate *x, enum physim_fault_kind kind,
			    int level, uint64_t fsc, uint64_t gpa, bool s1ptw, unsigned refs)
{
	assert_fault(rc, x, kind, level, fsc, 2, refs);
	assert_int_equal(x->fault.gpa, gpa);
	assert_int_equal(x->fault.addr, gpa);
	assert_int_equal(x->fault.s1ptw, s1ptw);
}

static void test_nested(void **state)
{
	(void)state;
	struct nest t;
	struct physim_xlate x;
	const uint64_t off = 0xabc; /* geo_va's page offset */
	/* Every stage 1 table fetch walks stage 2 (3 levels, 4 KiB pages): 4 x
	 * (3 + 1); the data GPA is a 2 MiB block (2 levels). */
	const unsigned all_refs = 4 * (3 + 1) + 2;
	const unsigned idx[4] = {0x077, 0x1f0, 0x013, 0x0a5};

	/* Success: the composition by hand. Stage 1 EL1 RWX page (AP = 00) ->
	 * GPA 0x40005abc; stage 2 RW, executable block -> HPA 0x123405abc. */
	nest_setup(&t, AF, S2_RW | AF, NULL, NULL);
	int rc = nest_run(&t, &el1_read, &x);
	assert_ok(rc, &x, NEST_DATA_HPA + 0x5000 + off, 4096, 3, PHYSIM_R | PHYSIM_W | PHYSIM_X,
		  all_refs);
	assert_int_equal(x.gpa, NEST_DATA_GPA + off);
	assert_false(x.ad_updated);
	/* Stage 2 execute-never (XN[1:0] = 10) removes X from the result, and
	 * an EL1 fetch is then a stage 2 Permission fault at level 2 on the
	 * final GPA (not a stage 1 walk: s1ptw clear). */
	tc_put64(t.e, t.data_leaf, tc_get64(t.e, t.data_leaf) | UXN);
	rc = nest_run(&t, &el1_read, &x);
	assert_ok(rc, &x, NEST_DATA_HPA + 0x5000 + off, 4096, 3, PHYSIM_R | PHYSIM_W, all_refs);
	rc = nest_run(&t, &el1_fetch, &x);
	assert_s2_fault(rc, &x, PHYSIM_FAULT_PERMISSION, 2, FSC_PERM + 2, NEST_DATA_GPA + off,
			false, all_refs);
	nest_free(&t);

	/* FEAT_XNX at stage 2 with the privilege of the original access. Stage
	 * 1: AP = 11 (read-only everywhere), executable at EL1 and EL0. */
	nest_setup(&t, AF | AP1 | AP2, S2_RW | AF | PXN /* XN = 01 */, NULL, NULL);
	rc = nest_run(&t, &el0_fetch, &x);
	assert_ok(rc, &x, NEST_DATA_HPA + 0x5000 + off, 4096, 3, PHYSIM_R | PHYSIM_X | PHYSIM_U,
		  all_refs);
	rc = nest_run(&t, &el1_fetch, &x);
	assert_s2_fault(rc, &x, PHYSIM_FAULT_PERMISSION, 2, FSC_PERM + 2, NEST_DATA_GPA + off,
			false, all_refs);
	tc_put64(t.e, t.data_leaf, tc_get64(t.e, t.data_leaf) | UXN); /* XN = 11 */
	rc = nest_run(&t, &el1_fetch, &x); /* EL1 view of an EL0-readable page: U */
	assert_ok(rc, &x, NEST_DATA_HPA + 0x5000 + off, 4096, 3, PHYSIM_R | PHYSIM_X | PHYSIM_U,
		  all_refs);
	rc = nest_run(&t, &el0_fetch, &x);
	assert_s2_fault(rc, &x, PHYSIM_FAULT_PERMISSION, 2, FSC_PERM + 2, NEST_DATA_GPA + off,
			false, all_refs);
	nest_free(&t);

	/* Stage 2 faults on stage 1 table fetches (S1PTW): the GPA is that of
	 * the stage 1 descriptor, the FSC the stage 2 one. */
	nest_setup(&t, AF, S2_RW | AF, NULL, NULL);
	tc_put64(t.e, t.s2leaf[1], 0); /* the lookup level 2 table's page */
	rc = nest_run(&t, &el1_read, &x);
	assert_s2_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, 3, FSC_TRANS + 3, t.g[1] + idx[1] * 8,
			true, 2 * (3 + 1) + 3);
	tc_put64(t.e, t.s2leaf[1], t.h[1] | 3 | S2_RW | AF);
	tc_put64(t.e, t.s2leaf[2], t.h[2] | 3 | AF); /* S2AP = 00: no read */
	rc = nest_run(&t, &el1_read, &x);
	assert_s2_fault(rc, &x, PHYSIM_FAULT_PERMISSION, 3, FSC_PERM + 3, t.g[2] + idx[2] * 8, true,
			1 * (3 + 1) + 3);
	tc_put64(t.e, t.s2leaf[2], t.h[2] | 3 | S2_RO); /* readable, AF = 0 */
	rc = nest_run(&t, &el1_read, &x);
	assert_s2_fault(rc, &x, PHYSIM_FAULT_ACCESS_FLAG, 3, FSC_AFLAG + 3, t.g[2] + idx[2] * 8,
			true, 1 * (3 + 1) + 3);
	nest_free(&t);

	/* ... with VTCR_EL2.HA the stage 2 AF of the table's page is set by
	 * the stage 1 walk's read (a read-only page is enough for it). */
	struct physim_mmu_ctl ha = {.ha = true};
	nest_setup(&t, AF, S2_RW | AF, NULL, &ha);
	tc_put64(t.e, t.s2leaf[2], t.h[2] | 3 | S2_RO);
	rc = nest_run(&t, &el1_read, &x);
	assert_ok(rc, &x, NEST_DATA_HPA + 0x5000 + off, 4096, 3, PHYSIM_R | PHYSIM_W | PHYSIM_X,
		  all_refs);
	assert_true(x.ad_updated);
	assert_int_equal(tc_get64(t.e, t.s2leaf[2]), t.h[2] | 3 | S2_RO | AF);
	nest_free(&t);

	/* Stage 1 HA: the AF write-back to the stage 1 leaf is a write through
	 * stage 2 (D8.5.2.1 R_BDJJL). Read-only stage 2 page: a stage 2
	 * Permission fault on the stage 1 walk, nothing written. */
	nest_setup(&t, 0 /* AF = 0 */, S2_RW | AF, &ha, NULL);
	tc_put64(t.e, t.s2leaf[0], t.h[0] | 3 | S2_RO | AF);
	rc = nest_run(&t, &el1_read, &x);
	assert_s2_fault(rc, &x, PHYSIM_FAULT_PERMISSION, 3, FSC_PERM + 3, t.g[0] + idx[0] * 8, true,
			4 * (3 + 1));
	assert_int_equal(tc_get64(t.e, t.s1slot[0]), NEST_DATA_GPA | 3);
	/* Writable stage 2 page: AF set in the stage 1 leaf. */
	tc_put64(t.e, t.s2leaf[0], t.h[0] | 3 | S2_RW | AF);
	rc = nest_run(&t, &el1_read, &x);
	assert_ok(rc, &x, NEST_DATA_HPA + 0x5000 + off, 4096, 3, PHYSIM_R | PHYSIM_W | PHYSIM_X,
		  all_refs);
	assert_true(x.ad_updated);
	assert_int_equal(tc_get64(t.e, t.s1slot[0]), NEST_DATA_GPA | 3 | AF);
	nest_free(&t);

	/* Writable-clean stage 2 page (S2AP = 01, DBM, VTCR.HA/HD): the stage 1
	 * AF update makes it writable-dirty (S2AP[1] set). */
	struct physim_mmu_ctl hahd = {.ha = true, .hd = true};
	nest_setup(&t, 0, S2_RW | AF, &ha, &hahd);
	tc_put64(t.e, t.s2leaf[0], t.h[0] | 3 | S2_RO | AF | DBM);
	rc = nest_run(&t, &el1_read, &x);
	assert_ok(rc, &x, NEST_DATA_HPA + 0x5000 + off, 4096, 3, PHYSIM_R | PHYSIM_W | PHYSIM_X,
		  all_refs);
	assert_int_equal(tc_get64(t.e, t.s1slot[0]), NEST_DATA_GPA | 3 | AF);
	assert_int_equal(tc_get64(t.e, t.s2leaf[0]), t.h[0] | 3 | S2_RW | AF | DBM);
	nest_free(&t);

	/* The final GPA unmapped at stage 2: a level 2 Translation fault with
	 * the output GPA, not a stage 1 walk. */
	nest_setup(&t, AF, S2_RW | AF, NULL, NULL);
	tc_put64(t.e, t.s1slot[0], UINT64_C(0x50005000) | 3 | AF);
	rc = nest_run(&t, &el1_read, &x);
	assert_s2_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, 2, FSC_TRANS + 2,
			UINT64_C(0x50005000) + off, false, 4 * (3 + 1) + 2);
	/* A stage 1 fault: stage 1, the VA, no GPA. */
	tc_put64(t.e, t.s1slot[0], NEST_DATA_GPA | 3); /* AF = 0, no HA */
	rc = nest_run(&t, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_ACCESS_FLAG, 3, FSC_AFLAG + 3, 1, 4 * (3 + 1));
	assert_int_equal(x.fault.addr, t.va);
	assert_false(x.fault.s1ptw);
	tc_put64(t.e, t.s1slot[0], NEST_DATA_GPA | 3 | AF);
	rc = nest_run(&t, &el0_read, &x); /* AP = 00: no EL0 access */
	assert_fault(rc, &x, PHYSIM_FAULT_PERMISSION, 3, FSC_PERM + 3, 1, 4 * (3 + 1));
	/* A stage 1 table GPA that stage 2 maps outside host memory: a stage 1
	 * External abort on the walk at lookup level 1. */
	tc_put64(t.e, t.s2leaf[2], UINT64_C(0x20000) | 3 | S2_RW | AF);
	rc = nest_run(&t, &el1_read, &x);
	assert_fault(rc, &x, PHYSIM_FAULT_BUS_ERROR, 1, FSC_EXTWALK + 1, 1, 1 * (3 + 1) + 3);
	assert_int_equal(x.fault.gpa, t.g[2] + idx[2] * 8);
	assert_false(x.fault.s1ptw);
	nest_free(&t);

	/* A stage 1 root beyond the 40-bit IPA: stage 2 level 0 Translation
	 * fault on the walk. */
	nest_setup(&t, AF, S2_RW | AF, NULL, NULL);
	struct physim_mmu_config c;
	physim_mmu_get_config(t.s1, &c);
	c.root = BIT(40);
	assert_int_equal(physim_mmu_set_config(t.s1, &c), 0);
	rc = nest_run(&t, &el1_read, &x);
	assert_s2_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, 0, FSC_TRANS, BIT(40) + idx[3] * 8, true,
			0);
	nest_free(&t);
}

/* ---- mappings made by the page-table engine ---- */

/*
 * What a mapping with generic flags F lets each access do, from the
 * encodings arch/aarch64 documents: stage 1 AP[2] = !W, AP[1] = U, X
 * executable only at the mapping's own privilege (U|X: UXN = 0, PXN = 1; X:
 * PXN = 0, UXN = 1); Short-descriptor AP[2] = !W, AP[1] = U, XN = !X, PXN =
 * 0 (PL1 may execute PL0 memory, UWXN = 0); stage 2 S2AP = W:R, XN = !X for
 * both privileges. Returns the expected perms, 0 for a Permission fault.
 */
enum fam { FAM_S1, FAM_S2, FAM_V7 };

static uint32_t engine_expect(enum fam fam, uint32_t f, const struct acc_case *a)
{
	bool r = f & PHYSIM_R, w = f & PHYSIM_W, x = f & PHYSIM_X, u = f & PHYSIM_U;
	uint32_t perms;

	if (fam == FAM_S2) {
		perms = f & (PHYSIM_R | PHYSIM_W | PHYSIM_X);
		return (a->fetch ? x : a->write ? w : r) ? perms : 0;
	}
	if (a->user) {
		if (!u)
			return 0;
		perms = PHYSIM_R | PHYSIM_U | (w ? PHYSIM_W : 0) | (x ? PHYSIM_X : 0);
	} else {
		bool px = fam == FAM_V7 ? x : x && !u;
		perms = PHYSIM_R | (w ? PHYSIM_W : 0) | (px ? PHYSIM_X : 0) | (u ? PHYSIM_U : 0);
	}
	return (a->fetch ? (perms & PHYSIM_X) : a->write ? (perms & PHYSIM_W) : 1) ? perms : 0;
}

static void test_engine_mappings(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		enum fam fam;
		uint64_t page, block;
	} fmts[] = {
	    {"aarch64-4k-39", FAM_S1, 4096, 2u << 20},
	    {"aarch64-4k-48", FAM_S1, 4096, 2u << 20},
	    {"aarch64-16k-47", FAM_S1, 16384, 32u << 20},
	    {"aarch64-64k-48", FAM_S1, 65536, 512u << 20},
	    {"aarch64-s2-4k-40", FAM_S2, 4096, 2u << 20},
	    {"aarch64-s2-4k-48", FAM_S2, 4096, 2u << 20},
	    {"armv7-short", FAM_V7, 4096, 1u << 20},
	};
	const uint64_t va[2] = {0x40200000, 0x60000000}, pa[2] = {0x5550000, 0x20000000};
	unsigned long checked = 0;

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		struct tc_env *e = tc_env_new(RAM_SIZE);
		for (uint32_t f = 0; f < 16; f++) { /* every subset of R, W, X, U */
			struct physim_pt *pt;
			assert_int_equal(physim_pt_create(physim_format(fmts[i].name), e->ph, &pt),
					 0);
			uint64_t size[2] = {fmts[i].page, fmts[i].block};
			int rc0 = physim_pt_map(pt, va[0], pa[0], size[0], f);
			if (rc0 == -ENOTSUP) { /* stage 1 cannot express "not readable" */
				assert_true(fmts[i].fam != FAM_S2 && !(f & PHYSIM_R));
				physim_pt_destroy(pt);
				continue;
			}
			assert_int_equal(rc0, 0);
			assert_int_equal(physim_pt_map(pt, va[1], pa[1], size[1], f), 0);
			struct physim_mmu *m =
			    tc_mmu_new(e->ph, fmts[i].name, physim_pt_root(pt), 0, NULL);
			for (unsigned k = 0; k < 2; k++) {
				for (size_t ai = 0; ai < NACC; ai++) {
					struct physim_access acc =
					    mk_access(va[k] + 0x123, &accesses[ai]);
					struct physim_xlate x;
					int rc = physim_mmu_translate(m, &acc, &x);
					uint32_t want =
					    engine_expect(fmts[i].fam, f, &accesses[ai]);
					if (want == 0) {
						if (rc != -EFAULT ||
						    x.fault.kind != PHYSIM_FAULT_PERMISSION)
							fail_msg(
							    "%s flags %#x %s: want a permission "
							    "fault, got rc %d kind %d",
							    fmts[i].name, f,
							    acc_name(&accesses[ai]), rc,
							    x.fault.kind);
					} else if (rc != 0 || x.perms != want ||
						   x.pa != pa[k] + 0x123 ||
						   x.page_size != size[k]) {
						fail_msg(
						    "%s flags %#x %s: want perms %#x pa %#" PRIx64
						    ", got rc %d perms %#x pa %#" PRIx64,
						    fmts[i].name, f, acc_name(&accesses[ai]), want,
						    pa[k] + 0x123, rc, x.perms, x.pa);
					}
					checked++;
				}
			}
			physim_mmu_destroy(m);
			physim_pt_destroy(pt);
		}
		tc_env_free(e);
	}
	print_message("engine mappings: %lu translations of pages and blocks mapped through "
		      "physim_pt_map\n",
		      checked);
	assert_true(checked > 0);
}

/* Bad calls specific to these formats: a misaligned root, and the nested
 * walk refuses a stage 2 format as stage 1 and the other way round. */
static void test_bad_inputs(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(RAM_SIZE);
	struct physim_mmu *m;
	struct physim_mmu_config c = {
	    .format = physim_format("aarch64-4k-48"), .mem = e->ph, .root = 0x80000004};
	assert_int_equal(physim_mmu_create(&c, &m), -EINVAL);
	c.format = physim_format("armv7-short");
	c.root = 0x80000002;
	assert_int_equal(physim_mmu_create(&c, &m), -EINVAL);
	struct physim_mmu *s1 = tc_mmu_new(e->ph, "aarch64-4k-48", 0x80000000, 0, NULL);
	struct physim_mmu *s2 = tc_mmu_new(e->ph, "aarch64-s2-4k-40", 0x80000000, 0, NULL);
	struct physim_access acc = {.va = 0x1000};
	struct physim_xlate x;
	assert_int_equal(physim_nested_translate(s2, s1, &acc, &x), -EINVAL);
	assert_int_equal(physim_nested_translate(s1, s1, &acc, &x), -EINVAL);
	acc.write = acc.exec = true;
	assert_int_equal(physim_mmu_translate(s1, &acc, &x), -EINVAL);
	physim_mmu_destroy(s1);
	physim_mmu_destroy(s2);
	tc_env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_s1_exhaustive),
	    cmocka_unit_test(test_s1_table_attrs_two_levels),
	    cmocka_unit_test(test_s2_exhaustive),
	    cmocka_unit_test(test_v7_exhaustive),
	    cmocka_unit_test(test_translation_faults),
	    cmocka_unit_test(test_address_size),
	    cmocka_unit_test(test_input_ranges),
	    cmocka_unit_test(test_external_abort),
	    cmocka_unit_test(test_granules),
	    cmocka_unit_test(test_nested),
	    cmocka_unit_test(test_engine_mappings),
	    cmocka_unit_test(test_bad_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
