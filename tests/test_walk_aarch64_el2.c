/* SPDX-License-Identifier: MIT */
/* tests/test_walk_aarch64_el2.c - the AArch64 EL2 translation regimes against
 * the Arm ARM (DDI 0487 K.a, D8.4.1.2 "Stage 1 Direct permissions"): the EL2
 * regime (HCR_EL2.E2H = 0, formats aarch64-el2-*) against table D8-66, the
 * EL2&0 regime (E2H = 1, which uses the EL1&0 formats) against table D8-65,
 * both written out here as rows of the manual's tables; the regression of a
 * hypervisor's own EL2 table; the engine's EL2 leaves, bit by bit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <physim/pt.h>
#include <physim/ram.h>
#include <physim/walk.h>

#include "common/env.h"

#include <stdio.h>
#include <string.h>

#define BIT(n) (UINT64_C(1) << (n))

/* VMSAv8-64 stage 1 descriptor bits (D8.3, figures D8-14..16), written out
 * again here. In the EL2 regime bit 54 is XN and bit 60 XNTable. */
#define AP1	    BIT(6)
#define AP2	    BIT(7)
#define AF	    BIT(10)
#define NG	    BIT(11)
#define PXN	    BIT(53)
#define UXN	    BIT(54) /* EL2 regime: XN */
#define PXNT	    BIT(59)
#define UXNT	    BIT(60) /* EL2 regime: XNTable */
#define APT0	    BIT(61)
#define APT1	    BIT(62)
#define ATTRINDX_SH (UINT64_C(7) << 2 | UINT64_C(3) << 8)
#define FSC_AFLAG   0x08u
#define FSC_PERM    0x0cu
#define FSC_TRANS   0x04u

enum { R = PHYSIM_R, W = PHYSIM_W, X = PHYSIM_X, U = PHYSIM_U };

static const char *const el2_formats[] = {"aarch64-el2-4k-39", "aarch64-el2-4k-48",
					  "aarch64-el2-16k-47", "aarch64-el2-64k-48"};
/* The EL1&0 format with the same geometry, used for the EL2&0 regime. */
static const char *const el20_formats[] = {"aarch64-4k-39", "aarch64-4k-48", "aarch64-16k-47",
					   "aarch64-64k-48"};

/* ---- the manual's tables ---- */

/* Table D8-66 (one Exception level): XN, AP[2] (effective values after
 * XNTable / APTable) and SCTLR_EL2.WXN (-1: either) -> permissions. */
static const struct {
	int xn, ap2, wxn;
	unsigned priv;
} d8_66[] = {
    {0, 0, 0, R | W | X}, {0, 0, 1, R | W}, {0, 1, -1, R | X}, {1, 0, -1, R | W}, {1, 1, -1, R},
};

/* Table D8-65 (two Exception levels): UXN, PXN, AP[2:1] (effective, after
 * UXNTable / PXNTable / APTable) and WXN -> privileged and unprivileged
 * permissions (PrivWXN / UnprivWXN: execute removed). */
static const struct {
	int uxn, pxn, ap, wxn;
	unsigned priv, unpriv;
} d8_65[] = {
    {0, 0, 0, 0, R | W | X, X},
    {0, 0, 0, 1, R | W, X},
    {0, 0, 1, 0, R | W, R | W | X},
    {0, 0, 1, 1, R | W, R | W},
    {0, 0, 2, -1, R | X, X},
    {0, 0, 3, -1, R | X, R | X},
    {0, 1, 0, -1, R | W, X},
    {0, 1, 1, 0, R | W, R | W | X},
    {0, 1, 1, 1, R | W, R | W},
    {0, 1, 2, -1, R, X},
    {0, 1, 3, -1, R, R | X},
    {1, 0, 0, 0, R | W | X, 0},
    {1, 0, 0, 1, R | W, 0},
    {1, 0, 1, -1, R | W, R | W},
    {1, 0, 2, -1, R | X, 0},
    {1, 0, 3, -1, R | X, R},
    {1, 1, 0, -1, R | W, 0},
    {1, 1, 1, -1, R | W, R | W},
    {1, 1, 2, -1, R, 0},
    {1, 1, 3, -1, R, R},
};

static unsigned el2_row(int xn, int ap2, int wxn)
{
	for (size_t i = 0; i < sizeof(d8_66) / sizeof(d8_66[0]); i++)
		if (d8_66[i].xn == xn && d8_66[i].ap2 == ap2 &&
		    (d8_66[i].wxn < 0 || d8_66[i].wxn == wxn))
			return d8_66[i].priv;
	fail_msg("no row of table D8-66 for XN %d AP[2] %d WXN %d", xn, ap2, wxn);
	return 0;
}

static void el20_row(int uxn, int pxn, int ap, int wxn, unsigned *priv, unsigned *unpriv)
{
	for (size_t i = 0; i < sizeof(d8_65) / sizeof(d8_65[0]); i++)
		if (d8_65[i].uxn == uxn && d8_65[i].pxn == pxn && d8_65[i].ap == ap &&
		    (d8_65[i].wxn < 0 || d8_65[i].wxn == wxn)) {
			*priv = d8_65[i].priv;
			*unpriv = d8_65[i].unpriv;
			return;
		}
	fail_msg("no row of table D8-65");
}

/* ---- tables built by hand ---- */

struct path {
	struct physim_pt_format_info info;
	uint64_t va;
	unsigned leaf_level; /* engine level of the leaf */
	uint64_t root;	     /* table at engine level levels-1 */
	uint64_t leaf_slot;  /* address of the leaf descriptor */
	uint64_t table_slot; /* address of the root's table descriptor, 0 if none */
	uint64_t table_desc; /* its value without attributes */
	uint64_t leaf_pa;    /* the page or block the leaf maps */
};

static uint64_t table_new(struct tc_env *e, uint64_t bytes)
{
	uint64_t pa, frames = (bytes + 4095) / 4096;
	assert_int_equal(physim_ram_alloc_frames(e->ram, frames, frames * 4096, &pa), 0);
	memset(physim_dm_phys_to_virt(&e->dm, pa), 0, frames * 4096);
	return pa;
}

static uint64_t slot_of(const struct path *p, uint64_t table, unsigned n)
{
	uint64_t entries = UINT64_C(1) << p->info.level[n].index_bits;
	return table + ((p->va >> p->info.level[n].shift) & (entries - 1)) * 8;
}

/* A path for p->va down to engine level `leaf`, every table descriptor
 * 0b11 with no attributes; the leaf slot is left empty. */
static void path_build(struct tc_env *e, const char *fmt, uint64_t va, unsigned leaf,
		       struct path *p)
{
	memset(p, 0, sizeof(*p));
	physim_format_get_info(physim_format(fmt), &p->info);
	p->va = va;
	p->leaf_level = leaf;
	unsigned top = p->info.levels - 1;
	uint64_t table = p->root = table_new(e, p->info.level[top].table_bytes);
	for (unsigned n = top; n > leaf; n--) {
		uint64_t next = table_new(e, p->info.level[n - 1].table_bytes);
		uint64_t slot = slot_of(p, table, n);
		tc_put64(e, slot, next | 3);
		if (n == top) {
			p->table_slot = slot;
			p->table_desc = next | 3;
		}
		table = next;
	}
	p->leaf_slot = slot_of(p, table, leaf);
	/* An output address with high bits, aligned to the leaf's size. */
	p->leaf_pa =
	    UINT64_C(0x0000876543210000) & ~((UINT64_C(1) << p->info.level[leaf].shift) - 1);
}

/* The leaf with attribute bits `attrs`, and the root's table descriptor with
 * table attributes `tattrs`. */
static void path_set(struct tc_env *e, const struct path *p, uint64_t attrs, uint64_t tattrs)
{
	uint64_t type = p->leaf_level == 0 ? 3 : 1;
	tc_put64(e, p->leaf_slot, p->leaf_pa | type | attrs);
	if (p->table_slot)
		tc_put64(e, p->table_slot, p->table_desc | tattrs);
}

static struct physim_mmu *mmu_new(struct tc_env *e, const char *fmt, uint64_t root,
				  uint64_t root_hi, struct physim_mmu_ctl ctl)
{
	struct physim_mmu *m;
	struct physim_mmu_config c = {.format = physim_format(fmt),
				      .mem = e->ph,
				      .root = root,
				      .root_hi = root_hi,
				      .ctl = ctl};
	assert_non_null(c.format);
	assert_int_equal(physim_mmu_create(&c, &m), 0);
	return m;
}

/* Lookup level of engine level n (3-level formats start at lookup level 1). */
static int lookup_level(unsigned n)
{
	return 3 - (int)n;
}

enum acc { ACC_R, ACC_W, ACC_X, ACC_N };

static struct physim_access access_of(uint64_t va, enum acc a, bool user)
{
	return (struct physim_access){
	    .va = va, .write = a == ACC_W, .exec = a == ACC_X, .user = user};
}

static unsigned acc_perm(enum acc a)
{
	return a == ACC_R ? R : a == ACC_W ? W : X;
}

/* One translation against what the oracle says: allowed (with these perms)
 * or a Permission / Access flag fault at the leaf's lookup level. */
static void expect(struct physim_mmu *m, const struct path *p, const struct physim_access *a,
		   bool af, bool allowed, unsigned perms, bool global, const char *what)
{
	struct physim_xlate x;
	int rc = physim_mmu_probe(m, a, &x);
	int lvl = lookup_level(p->leaf_level);
	uint64_t off = p->va & ((UINT64_C(1) << p->info.level[p->leaf_level].shift) - 1);

	if (!af) {
		if (rc != -EFAULT || x.fault.kind != PHYSIM_FAULT_ACCESS_FLAG)
			fail_msg("%s: want an Access flag fault, got rc %d %s", what, rc,
				 physim_fault_str(&x.fault));
		assert_int_equal(x.fault.syndrome, FSC_AFLAG + (unsigned)lvl);
		return;
	}
	if (!allowed) {
		if (rc != -EFAULT || x.fault.kind != PHYSIM_FAULT_PERMISSION)
			fail_msg("%s: want a Permission fault, got rc %d %s", what, rc,
				 physim_fault_str(&x.fault));
		assert_int_equal(x.fault.level, lvl);
		assert_int_equal(x.fault.syndrome, FSC_PERM + (unsigned)lvl);
		return;
	}
	if (rc != 0)
		fail_msg("%s: want success (perms %#x), got %s", what, perms,
			 physim_fault_str(&x.fault));
	assert_int_equal(x.pa, p->leaf_pa + off);
	assert_int_equal(x.level, lvl);
	if (x.perms != perms)
		fail_msg("%s: perms %#x, want %#x", what, x.perms, perms);
	assert_int_equal(x.global, global);
}

/* ---- EL2 regime (E2H = 0): table D8-66 ---- */

/* Every combination of the leaf's AP[1], AP[2], XN, PXN, nG and AF, of the
 * root table descriptor's APTable[1:0], XNTable and PXNTable, of
 * SCTLR_EL2.WXN and PSTATE.PAN, and every access type, privileged and EL0,
 * at every leaf level of every EL2 format. AP[1], PXN, nG, APTable[0],
 * PXNTable and PAN must change nothing (RES1 / RES0 / no EL0 permissions);
 * EL0 accesses are never permitted (R_WBLJK: no Unpriv* permission exists in
 * this regime). */
static void test_el2_permissions(void **state)
{
	(void)state;
	static const uint64_t leaf_bits[] = {AP1, AP2, UXN, PXN, NG, AF};
	static const uint64_t table_bits[] = {APT0, APT1, UXNT, PXNT};
	unsigned cases = 0;

	for (size_t fi = 0; fi < 4; fi++) {
		struct tc_env e;
		tc_env_open(&e, 0, 64u << 20);
		struct physim_pt_format_info info;
		physim_format_get_info(physim_format(el2_formats[fi]), &info);
		for (unsigned leaf = 0; leaf < info.levels; leaf++) {
			if (!info.level[leaf].leaf_ok)
				continue;
			struct path p;
			uint64_t va =
			    UINT64_C(0x0000456789abcdef) & ((UINT64_C(1) << info.va_bits) - 1);
			path_build(&e, el2_formats[fi], va, leaf, &p);
			unsigned ntable = p.table_slot ? 16 : 1;
			for (unsigned ctlv = 0; ctlv < 4; ctlv++) {
				struct physim_mmu_ctl ctl = {.wxn = ctlv & 1, .pan = ctlv & 2};
				/* root_hi set: the regime has no TTBR1, it must be ignored */
				struct physim_mmu *m =
				    mmu_new(&e, el2_formats[fi], p.root, p.root, ctl);
				for (unsigned lb = 0; lb < 64; lb++) {
					uint64_t attrs = 0;
					for (unsigned k = 0; k < 6; k++)
						attrs |= (lb >> k & 1) ? leaf_bits[k] : 0;
					for (unsigned tb = 0; tb < ntable; tb++) {
						uint64_t tattrs = 0;
						for (unsigned k = 0; k < 4; k++)
							tattrs |= (tb >> k & 1) ? table_bits[k] : 0;
						path_set(&e, &p, attrs, tattrs);
						int xn = (attrs & UXN) || (tattrs & UXNT);
						int ap2 = (attrs & AP2) || (tattrs & APT1);
						unsigned priv = el2_row(xn, ap2, ctl.wxn);
						for (unsigned a = 0; a < ACC_N; a++) {
							char what[160];
							snprintf(what, sizeof(what),
								 "%s level %u leaf %#x table %#x "
								 "ctl %u acc %u",
								 el2_formats[fi], leaf, lb, tb,
								 ctlv, a);
							struct physim_access acc =
							    access_of(va, a, false);
							expect(m, &p, &acc, attrs & AF,
							       priv & acc_perm(a), priv, true,
							       what);
							acc.user = true;
							expect(m, &p, &acc, attrs & AF, false, 0,
							       true, what);
							cases += 2;
						}
					}
				}
				physim_mmu_destroy(m);
			}
		}
		tc_env_close(&e);
	}
	/* 4 formats, 3 + 3 + 2 + 2 leaf levels, one (4k-39's level 1 block, in
	 * the root) without a table descriptor above it */
	assert_int_equal(cases, 4 * 64 * 3 * 2 * (9 * 16 + 1));
}

/* One VA range (TTBR0_EL2): bits 63:va_bits set are a Translation fault at
 * level 0 even with root_hi given (there is no TTBR1_EL2 when E2H = 0). */
static void test_el2_one_range(void **state)
{
	(void)state;
	struct tc_env e;
	tc_env_open(&e, 0, 64u << 20);
	for (size_t fi = 0; fi < 4; fi++) {
		struct physim_pt_format_info info;
		physim_format_get_info(physim_format(el2_formats[fi]), &info);
		struct path p;
		path_build(&e, el2_formats[fi], 0x200000, 1, &p);
		path_set(&e, &p, AF | AP1, 0);
		struct physim_mmu *m =
		    mmu_new(&e, el2_formats[fi], p.root, p.root, (struct physim_mmu_ctl){0});
		struct physim_xlate x;
		struct physim_access a = {.va = 0x200000};
		assert_int_equal(physim_mmu_probe(m, &a, &x), 0);
		uint64_t upper[] = {~UINT64_C(0) << info.va_bits | 0x200000,
				    UINT64_C(1) << info.va_bits | 0x200000, UINT64_C(1) << 63};
		for (size_t k = 0; k < 3; k++) {
			a.va = upper[k];
			assert_int_equal(physim_mmu_probe(m, &a, &x), -EFAULT);
			assert_int_equal(x.fault.kind, PHYSIM_FAULT_NOT_PRESENT);
			assert_int_equal(x.fault.level, 0);
			assert_int_equal(x.fault.syndrome, FSC_TRANS);
		}
		physim_mmu_destroy(m);
	}
	tc_env_close(&e);
}

/* ---- EL2&0 regime (E2H = 1): table D8-65, on the EL1&0 formats ---- */

/* Every combination of the leaf's UXN, PXN, AP[2:1], of the root table
 * descriptor's APTable, UXNTable, PXNTable, of WXN and PAN, every access
 * type at EL2 and EL0, in TTBR0_EL2 and TTBR1_EL2. Expectation: table D8-65
 * with the effective values after the table attributes (tables D8-64 and
 * R_NJJNG) and PSTATE.PAN: a privileged data access to memory with
 * UnprivRead or UnprivWrite is not permitted; fetches are not affected. */
static void test_el20_permissions(void **state)
{
	(void)state;
	static const uint64_t leaf_bits[] = {AP1, AP2, UXN, PXN};
	static const uint64_t table_bits[] = {APT0, APT1, UXNT, PXNT};
	unsigned cases = 0;

	for (size_t fi = 0; fi < 4; fi++) {
		struct tc_env e;
		tc_env_open(&e, 0, 64u << 20);
		struct physim_pt_format_info info;
		physim_format_get_info(physim_format(el20_formats[fi]), &info);
		for (unsigned half = 0; half < 2; half++) {
			uint64_t va =
			    UINT64_C(0x0000456789abcdef) & ((UINT64_C(1) << info.va_bits) - 1);
			if (half)
				va |= ~UINT64_C(0) << info.va_bits;
			unsigned leaf = 1; /* a block: every granule has one at engine level 1 */
			struct path p;
			path_build(&e, el20_formats[fi], va, leaf, &p);
			for (unsigned ctlv = 0; ctlv < 4; ctlv++) {
				struct physim_mmu_ctl ctl = {.wxn = ctlv & 1, .pan = ctlv & 2};
				/* the other TTBR has no table: 0 disables its walks */
				struct physim_mmu *m =
				    mmu_new(&e, el20_formats[fi], half ? 0 : p.root,
					    half ? p.root : 0, ctl);
				for (unsigned lb = 0; lb < 16; lb++) {
					uint64_t attrs = AF | NG;
					for (unsigned k = 0; k < 4; k++)
						attrs |= (lb >> k & 1) ? leaf_bits[k] : 0;
					for (unsigned tb = 0; tb < 16; tb++) {
						uint64_t tattrs = 0;
						for (unsigned k = 0; k < 4; k++)
							tattrs |= (tb >> k & 1) ? table_bits[k] : 0;
						path_set(&e, &p, attrs, tattrs);
						int uxn = (attrs & UXN) || (tattrs & UXNT);
						int pxn = (attrs & PXN) || (tattrs & PXNT);
						int ap =
						    ((attrs & AP2) || (tattrs & APT1) ? 2 : 0) |
						    ((attrs & AP1) && !(tattrs & APT0) ? 1 : 0);
						unsigned priv = 0, unpriv = 0;
						el20_row(uxn, pxn, ap, ctl.wxn, &priv, &unpriv);
						unsigned u = unpriv & (R | W) ? U : 0;
						if (ctl.pan && u)
							priv &= ~(unsigned)(R | W);
						for (unsigned a = 0; a < ACC_N; a++) {
							char what[160];
							snprintf(what, sizeof(what),
								 "%s half %u leaf %#x table %#x "
								 "ctl %u acc %u",
								 el20_formats[fi], half, lb, tb,
								 ctlv, a);
							struct physim_access acc =
							    access_of(va, a, false);
							expect(m, &p, &acc, true,
							       priv & acc_perm(a), priv | u, false,
							       what);
							acc.user = true;
							expect(m, &p, &acc, true,
							       unpriv & acc_perm(a), unpriv | u,
							       false, what);
							cases += 2;
						}
					}
				}
				physim_mmu_destroy(m);
			}
		}
		tc_env_close(&e);
	}
	assert_int_equal(cases, 4 * 2 * 4 * 16 * 16 * 3 * 2);
}

/* ---- the regression: a hypervisor's own EL2 table ---- */

/*
 * A hypervisor at EL2 (E2H = 0) builds its table the way nVHE code does:
 * read/write data and code pages with AP[2:1] = 0b01 (AP[1] RES1, R_MGGZM),
 * XN = 0, AttrIndx 0, AF = 1, and read-only pages with AP[2:1] = 0b11.
 * Before the EL2 formats, physim read such a table with the EL1&0 rules:
 * AP[1] = 1 made every page EL0-accessible, and EL0-writable pages lost
 * PrivExecute (R_VWLLR), so 165 supervisor fetches faulted on a real
 * hypervisor's table. Here 165 writable code pages (4K pages in three
 * last-level tables and 2M blocks) must all be executable at EL2; the
 * same bytes read as EL1&0 show the old false faults.
 */
static void test_el2_hypervisor_table(void **state)
{
	(void)state;
	struct tc_env e;
	tc_env_open(&e, 0, 64u << 20);
	const char *fmt = "aarch64-el2-4k-48";
	/* 150 4K pages from 0x40000000 (in three last-level tables) and 15 2M
	 * blocks from 0x80000000 */
	uint64_t vas[165];
	unsigned n = 0;
	uint64_t root = table_new(&e, 4096);
	for (unsigned k = 0; k < 150; k++)
		vas[n++] = 0x40000000 + (uint64_t)k * 0x9000;
	for (unsigned k = 0; k < 15; k++)
		vas[n++] = 0x80000000 + (uint64_t)k * 0x200000;
	/* Fill the table in by hand, as the hypervisor's own code would. */
	struct physim_pt_format_info info;
	physim_format_get_info(physim_format(fmt), &info);
	for (unsigned k = 0; k < n; k++) {
		uint64_t table = root;
		unsigned leaf = vas[k] >= 0x80000000 ? 1 : 0;
		for (unsigned lvl = info.levels - 1; lvl > leaf; lvl--) {
			uint64_t slot = table + ((vas[k] >> info.level[lvl].shift) & 511) * 8;
			uint64_t d = tc_get64(&e, slot);
			if (!(d & 1)) {
				d = table_new(&e, 4096) | 3;
				tc_put64(&e, slot, d);
			}
			table = d & UINT64_C(0x0000fffffffff000);
		}
		uint64_t slot = table + ((vas[k] >> info.level[leaf].shift) & 511) * 8;
		uint64_t pa = 0x1000000 + (uint64_t)k * 0x200000;
		tc_put64(&e, slot, pa | (leaf ? 1 : 3) | AF | UINT64_C(3) << 8 | AP1);
	}

	struct physim_mmu *el2 = mmu_new(&e, fmt, root, 0, (struct physim_mmu_ctl){0});
	struct physim_mmu *el1 = mmu_new(&e, "aarch64-4k-48", root, 0, (struct physim_mmu_ctl){0});
	unsigned el2_faults = 0, el1_faults = 0;
	for (unsigned k = 0; k < n; k++) {
		struct physim_xlate x;
		struct physim_access fetch = {.va = vas[k] + 0x10, .exec = true};
		if (physim_mmu_probe(el2, &fetch, &x) != 0)
			el2_faults++;
		else
			assert_int_equal(x.perms, R | W | X); /* not U: there is no EL0 */
		if (physim_mmu_probe(el1, &fetch, &x) == -EFAULT &&
		    x.fault.kind == PHYSIM_FAULT_PERMISSION)
			el1_faults++;
		struct physim_access wr = {.va = vas[k], .write = true};
		assert_int_equal(physim_mmu_probe(el2, &wr, &x), 0);
		assert_true(x.global);
	}
	assert_int_equal(el2_faults, 0);
	assert_int_equal(el1_faults, 165); /* what the EL1&0 reading made of it */

	/* The engine reads the same leaves back as R|W|X, never U. */
	struct physim_pt *pt;
	assert_int_equal(physim_pt_attach(&(struct physim_pt_config){.format = physim_format(fmt),
								     .paging = e.ph},
					  root, &pt),
			 0);
	for (unsigned k = 0; k < n; k++) {
		struct physim_pt_mapping q;
		assert_int_equal(physim_pt_query(pt, vas[k], &q), 0);
		assert_int_equal(q.flags, R | W | X);
	}
	physim_pt_destroy(pt);
	physim_mmu_destroy(el1);
	physim_mmu_destroy(el2);
	tc_env_close(&e);
}

/* ---- the engine's EL2 leaves ---- */

/* The leaf descriptor mapping va, found by following table descriptors. */
static uint64_t leaf_of(struct tc_env *e, const struct physim_pt *pt, uint64_t va)
{
	struct physim_pt_format_info info;
	physim_format_get_info(physim_pt_format(pt), &info);
	uint64_t table = physim_pt_root(pt);
	uint64_t granule_mask = ~((UINT64_C(1) << info.level[0].shift) - 1);
	for (unsigned n = info.levels; n-- > 0;) {
		uint64_t entries = UINT64_C(1) << info.level[n].index_bits;
		uint64_t d = tc_get64(e, table + ((va >> info.level[n].shift) & (entries - 1)) * 8);
		assert_true(d & 1);
		if (n == 0 || !(d & 2))
			return d;
		table = d & UINT64_C(0x0000ffffffffffff) & granule_mask;
	}
	fail();
	return 0;
}

/*
 * Every combination of R, W, X, U, DEVICE and UNCACHED at every leaf level of
 * every EL2 format: refused exactly when the regime cannot express it (no R:
 * AP has no "no access"; U: no EL0; DEVICE with UNCACHED), with
 * physim_format_flags_ok agreeing; otherwise the descriptor holds, from
 * D8.3 and D8.4.1.2: AP[1] = 1 (RES1), AP[2] = !W, XN (bit 54) = !X, bit 53
 * = 0, nG = 0, AF = 1, and the memory-type bits (AttrIndx, SH) of the EL1&0
 * format for the same request; query returns the flags; the walker allows
 * what they say; protect keeps AP[1].
 */
static void test_el2_engine_leaves(void **state)
{
	(void)state;
	unsigned mapped = 0;
	for (size_t fi = 0; fi < 4; fi++) {
		struct tc_env e;
		tc_env_open(&e, 0, 256u << 20);
		const struct physim_pt_format *f = physim_format(el2_formats[fi]);
		const struct physim_pt_format *f1 = physim_format(el20_formats[fi]);
		struct physim_pt_format_info info;
		physim_format_get_info(f, &info);
		assert_int_equal(info.flags_supported & U, 0);
		for (unsigned leaf = 0; leaf < info.levels; leaf++) {
			if (!info.level[leaf].leaf_ok)
				continue;
			uint64_t size = UINT64_C(1) << info.level[leaf].shift;
			for (uint32_t fl = 0; fl < 64; fl++) {
				struct physim_pt *pt, *pt1;
				assert_int_equal(physim_pt_create(f, e.ph, &pt), 0);
				assert_int_equal(physim_pt_create(f1, e.ph, &pt1), 0);
				struct physim_pt_mapping m = {
				    .va = 3 * size, .pa = 5 * size, .size = size, .flags = fl};
				bool ok = (fl & R) && !(fl & U) &&
					  (fl & (PHYSIM_DEVICE | PHYSIM_UNCACHED)) !=
					      (PHYSIM_DEVICE | PHYSIM_UNCACHED);
				int rc = physim_pt_map_ex(pt, &m, 0);
				assert_int_equal(rc, ok ? 0 : -ENOTSUP);
				assert_int_equal(physim_format_flags_ok(f, fl, 0),
						 ok ? 0 : -ENOTSUP);
				if (ok) {
					mapped++;
					uint64_t d = leaf_of(&e, pt, m.va);
					assert_int_equal(d & 3, leaf == 0 ? 3 : 1);
					assert_int_equal(d & UINT64_C(0x0000fffffffff000), m.pa);
					assert_true(d & AP1);
					assert_int_equal(!!(d & AP2), !(fl & W));
					assert_int_equal(!!(d & UXN), !(fl & X));
					assert_int_equal(d & (PXN | NG), 0);
					assert_true(d & AF);
					struct physim_pt_mapping m1 = m;
					m1.flags = fl & ~(uint32_t)X; /* the memory type alone */
					assert_int_equal(physim_pt_map_ex(pt1, &m1, 0), 0);
					assert_int_equal(d & ATTRINDX_SH,
							 leaf_of(&e, pt1, m.va) & ATTRINDX_SH);
					struct physim_pt_mapping q, q1;
					assert_int_equal(physim_pt_query(pt, m.va + 8, &q), 0);
					assert_int_equal(physim_pt_query(pt1, m.va + 8, &q1), 0);
					assert_int_equal(q.flags, fl);
					assert_int_equal(q.arch, q1.arch);
					for (unsigned a = 0; a < ACC_N; a++) {
						struct physim_access acc =
						    access_of(m.va + 8, a, false);
						struct physim_xlate x;
						rc = physim_translate(pt, &acc, &x);
						assert_int_equal(rc,
								 (fl & acc_perm(a)) ? 0 : -EFAULT);
					}
					/* protect to read-only: AP[2] set, AP[1] stays 1 */
					assert_int_equal(
					    physim_pt_protect(pt, m.va, fl & ~(uint32_t)W), 0);
					uint64_t d2 = leaf_of(&e, pt, m.va);
					assert_int_equal(d2, d | AP2);
				}
				physim_pt_destroy(pt);
				physim_pt_destroy(pt1);
			}
		}
		/* arch: nG cannot be asked for (no ASIDs); SH and AttrIndx can, and
		 * read back as the EL1&0 format reads them. */
		assert_int_equal(physim_format_flags_ok(f, R, NG), -ENOTSUP);
		assert_int_equal(physim_format_flags_ok(f1, R, NG), 0);
		uint64_t archs[] = {UINT64_C(2) << 8, UINT64_C(3) << 2,
				    UINT64_C(7) << 2 | UINT64_C(2) << 8};
		for (size_t k = 0; k < 3; k++) {
			struct physim_pt *pt, *pt1;
			assert_int_equal(physim_pt_create(f, e.ph, &pt), 0);
			assert_int_equal(physim_pt_create(f1, e.ph, &pt1), 0);
			uint64_t size = UINT64_C(1) << info.level[0].shift;
			struct physim_pt_mapping m = {.va = size,
						      .pa = 2 * size,
						      .size = size,
						      .flags = R | W,
						      .arch = archs[k]};
			int rc = physim_pt_map_ex(pt, &m, 0);
			assert_int_equal(rc, physim_pt_map_ex(pt1, &m, 0));
			if (rc == 0) {
				struct physim_pt_mapping q, q1;
				assert_int_equal(physim_pt_query(pt, m.va, &q), 0);
				assert_int_equal(physim_pt_query(pt1, m.va, &q1), 0);
				assert_int_equal(q.arch, q1.arch);
				assert_int_equal(q.flags, q1.flags);
				assert_int_equal(leaf_of(&e, pt, m.va) & ATTRINDX_SH,
						 leaf_of(&e, pt1, m.va) & ATTRINDX_SH);
			}
			physim_pt_destroy(pt);
			physim_pt_destroy(pt1);
		}
		assert_int_equal(physim_ram_stats(e.ram).used_frames, 0);
		tc_env_close(&e);
	}
	/* R with every subset of W, X and at most one memory type, per leaf
	 * level: 4 x 3 = 12 per level, 10 leaf levels in all */
	assert_int_equal(mapped, 12 * 10);
}

/* A table written by physim_pt_map for the EL2 regime translates as the
 * manual says at EL2, and the TLB-relevant global flag is set. */
static void test_el2_map_translate(void **state)
{
	(void)state;
	struct tc_env e;
	tc_env_open(&e, 0, 64u << 20);
	struct physim_pt *pt;
	assert_int_equal(physim_pt_create(physim_format("aarch64-el2-4k-48"), e.ph, &pt), 0);
	assert_int_equal(
	    physim_pt_map_region(pt, 0x40000000, 0x1000000, 0x400000, R | W | X, PHYSIM_ALLOW_HUGE),
	    0);
	assert_int_equal(physim_pt_map(pt, 0x50000000, 0x2000000, 0x1000, R), 0);
	struct physim_xlate x;
	/* writable and executable at once: fine at EL2 without WXN */
	struct physim_access fetch = {.va = 0x40234567, .exec = true};
	assert_int_equal(physim_translate(pt, &fetch, &x), 0);
	assert_int_equal(x.pa, 0x1234567);
	assert_int_equal(x.perms, R | W | X);
	assert_int_equal(x.page_size, 0x200000);
	assert_true(x.global);
	/* with SCTLR_EL2.WXN the same fetch faults (R_SYMMB) */
	struct physim_mmu *m = mmu_new(&e, "aarch64-el2-4k-48", physim_pt_root(pt), 0,
				       (struct physim_mmu_ctl){.wxn = true});
	assert_int_equal(physim_mmu_probe(m, &fetch, &x), -EFAULT);
	assert_int_equal(x.fault.kind, PHYSIM_FAULT_PERMISSION);
	assert_int_equal(x.fault.syndrome, FSC_PERM + 2);
	physim_mmu_destroy(m);
	/* read-only, not executable */
	struct physim_access wr = {.va = 0x50000010, .write = true};
	assert_int_equal(physim_translate(pt, &wr, &x), -EFAULT);
	assert_int_equal(x.fault.syndrome, FSC_PERM + 3);
	struct physim_access rd = {.va = 0x50000010};
	assert_int_equal(physim_translate(pt, &rd, &x), 0);
	assert_int_equal(x.perms, R);
	physim_pt_destroy(pt);
	tc_env_close(&e);
}

static void count_stale(void *ctx, uint64_t va, const struct physim_tlb_entry_info *cached,
			const struct physim_xlate *current)
{
	(void)va;
	(void)cached;
	(void)current;
	++*(unsigned *)ctx;
}

/* The TLB on a hypervisor's EL2 table: leaves with AP[1] = 1 are not EL0
 * pages at EL2, so supervisor accesses are cached and hit (global entries,
 * no ASID), and a leaf changed without an invalidation is reported stale. */
static void test_el2_tlb(void **state)
{
	(void)state;
	struct tc_env e;
	tc_env_open(&e, 0, 64u << 20);
	struct path p;
	path_build(&e, "aarch64-el2-4k-48", 0x40001000, 0, &p);
	path_set(&e, &p, AF | AP1, 0);
	struct physim_mmu *m =
	    mmu_new(&e, "aarch64-el2-4k-48", p.root, 0, (struct physim_mmu_ctl){0});
	unsigned stale = 0;
	struct physim_tlb *tlb;
	assert_int_equal(physim_tlb_create(&(struct physim_tlb_config){.check_stale = true,
								       .on_stale = count_stale,
								       .stale_ctx = &stale},
					   &tlb),
			 0);
	struct physim_xlate x;
	struct physim_access fetch = {.va = 0x40001010, .exec = true};
	struct physim_access rd = {.va = 0x40001020};
	assert_int_equal(physim_tlb_translate(tlb, m, &fetch, &x), 0);
	assert_int_equal(physim_tlb_translate(tlb, m, &rd, &x), 0);
	assert_int_equal(x.pa, p.leaf_pa + 0x20);
	assert_int_equal(physim_tlb_stats(tlb).hits, 1);
	/* the hypervisor moves the page and forgets the TLBI */
	tc_put64(&e, p.leaf_slot, (p.leaf_pa + 0x1000) | 3 | AF | AP1);
	assert_int_equal(physim_tlb_translate(tlb, m, &fetch, &x), 0);
	assert_int_equal(stale, 1);
	physim_tlb_destroy(tlb);
	physim_mmu_destroy(m);
	tc_env_close(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_el2_permissions),   cmocka_unit_test(test_el2_one_range),
	    cmocka_unit_test(test_el20_permissions),  cmocka_unit_test(test_el2_hypervisor_table),
	    cmocka_unit_test(test_el2_engine_leaves), cmocka_unit_test(test_el2_map_translate),
	    cmocka_unit_test(test_el2_tlb),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
