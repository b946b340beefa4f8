/* SPDX-License-Identifier: MIT */
/* tests/test_walk_trace.c - the walk trace (walk.h, physim_mmu_trace and
 * physim_nested_trace): every fetch listed, at the address the manual's
 * index layout gives, with the bytes in RAM, the decision, the A/D write,
 * faults at the end, and the 24 fetches of a 4-in-4 nested walk in order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <physim/physim.h>

#include "common/env.h"

#include <string.h>

#define RAM_SIZE (UINT64_C(64) << 20)
#define VA	 UINT64_C(0x00007f1234567000) /* every index non-zero */

/*
 * What the manuals say about a 4-level, 4 KiB, 8-byte-entry walk of the
 * formats below: the index of level i (i = 0 for the root) is
 * va[47 - 9i : 39 - 9i]; the next table's address is in the entry
 * (x86 SDM Vol. 3A 4.5 and Vol. 3C 29.3.2: bits 51:12; Arm ARM D8.3:
 * bits 47:12; RISC-V privileged spec 4.3/4.5: PPN in bits 53:10, times
 * 4096); the architecture numbers the levels x86 4..1, AArch64 0..3,
 * RISC-V 3..0.
 */
struct layout {
	const char *fmt;
	int root_level, level_step;
	unsigned s; /* 0: next = d & mask; 1: RISC-V PPN */
	uint64_t mask;
	uint64_t leaf_bits; /* set in a valid leaf, never in a table */
};

static const struct layout layouts[] = {
    {"x86_64-4l", 4, -1, 0, UINT64_C(0x000ffffffffff000), 0},
    {"aarch64-4k-48", 0, 1, 0, UINT64_C(0x0000fffffffff000), 0},
    {"sv48", 3, -1, 1, UINT64_C(0x003ffffffffffc00), 0},
};

static uint64_t next_table(const struct layout *l, uint64_t d)
{
	return l->s ? ((d & l->mask) >> 10) << 12 : d & l->mask;
}

static uint64_t index_addr(uint64_t table, uint64_t va, unsigned i)
{
	return table + ((va >> (39 - 9 * i)) & 511) * 8;
}

/* One format, an engine-built table: a probe trace equals the fetches the
 * manual's layout gives, read independently from RAM. */
static void check_layout(const struct layout *l)
{
	struct tc_env e;
	tc_env_open(&e, 0, RAM_SIZE);
	const struct physim_pt_format *f = physim_format(l->fmt);
	assert_non_null(f);
	struct physim_pt *pt;
	assert_int_equal(physim_pt_create(f, e.ph, &pt), 0);
	const uint64_t pa = UINT64_C(0x123000);
	assert_int_equal(physim_pt_map(pt, VA, pa, 4096, PHYSIM_R | PHYSIM_W), 0);
	struct physim_mmu *m;
	struct physim_mmu_config c = {.format = f, .mem = e.ph, .root = physim_pt_root(pt)};
	assert_int_equal(physim_mmu_create(&c, &m), 0);

	struct physim_xlate x;
	struct physim_walk_trace tr;
	memset(&tr, 0xa5, sizeof(tr));
	const struct physim_access acc = {.va = VA + 0x88};
	assert_int_equal(physim_mmu_trace(m, &acc, PHYSIM_TRACE_PROBE, &x, &tr), 0);
	assert_int_equal(x.pa, pa + 0x88);
	assert_int_equal(tr.n, 4);
	assert_false(tr.truncated);
	uint64_t table = physim_pt_root(pt);
	for (unsigned i = 0; i < 4; i++) {
		const struct physim_walk_trace_step *s = &tr.steps[i];
		uint64_t ea = index_addr(table, VA, i);
		uint64_t d = tc_get64(&e, ea);
		assert_int_equal(s->stage, 1);
		assert_int_equal(s->level, l->root_level + l->level_step * (int)i);
		assert_true(s->fetched);
		assert_false(s->s1_table);
		assert_false(s->ad_written);
		assert_int_equal(s->table, table);
		assert_int_equal(s->addr, ea);
		assert_int_equal(s->desc, d);
		assert_int_equal(s->desc_new, d);
		assert_int_equal(s->decision, i < 3 ? PHYSIM_WALK_TABLE : PHYSIM_WALK_LEAF);
		table = next_table(l, d);
	}
	assert_int_equal(table, pa); /* the leaf's address is the page */
	/* The trace agrees with the ordinary probe. */
	struct physim_xlate xp;
	assert_int_equal(physim_mmu_probe(m, &acc, &xp), 0);
	assert_int_equal(x.pa, xp.pa);
	assert_int_equal(x.page_size, xp.page_size);
	assert_int_equal(x.level, xp.level);
	assert_int_equal(x.perms, xp.perms);
	assert_int_equal(x.mem_refs, tr.n);

	/* A write that sets A/D (x86: A in every entry, D in the leaf) lists
	 * the values written, which are then in RAM. */
	uint64_t before[4];
	for (unsigned i = 0; i < 4; i++)
		before[i] = tr.steps[i].desc;
	const struct physim_access wr = {.va = VA, .write = true};
	int rc = physim_mmu_trace(m, &wr, 0, &x, &tr);
	assert_int_equal(tr.n, 4);
	bool any = false;
	for (unsigned i = 0; i < 4; i++) {
		const struct physim_walk_trace_step *s = &tr.steps[i];
		assert_int_equal(s->desc, before[i]);
		assert_int_equal(tc_get64(&e, s->addr), s->ad_written ? s->desc_new : s->desc);
		if (s->ad_written)
			assert_true(s->desc_new != s->desc);
		any |= s->ad_written;
	}
	assert_int_equal(any, rc == 0 && x.ad_updated);
	if (strcmp(l->fmt, "x86_64-4l") == 0) {
		assert_int_equal(rc, 0);
		assert_true(any); /* SDM 4.8: at least D of the leaf was clear */
		assert_true(tr.steps[3].desc_new & 0x40);
	}
	physim_mmu_destroy(m);
	physim_pt_destroy(pt);
	tc_env_close(&e);
}

static void test_trace_layout(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		check_layout(&layouts[i]);
}

/* Faults: the trace ends with the fault the result reports. */
static void test_trace_faults(void **state)
{
	(void)state;
	struct tc_env e;
	tc_env_open(&e, 0, RAM_SIZE);
	const struct physim_pt_format *f = physim_format("x86_64-4l");
	struct physim_pt *pt;
	assert_int_equal(physim_pt_create(f, e.ph, &pt), 0);
	assert_int_equal(physim_pt_map(pt, VA, 0x5000, 4096, PHYSIM_R), 0);
	struct physim_mmu *m;
	struct physim_mmu_config c = {.format = f, .mem = e.ph, .root = physim_pt_root(pt)};
	assert_int_equal(physim_mmu_create(&c, &m), 0);
	struct physim_xlate x;
	struct physim_walk_trace tr;

	/* Not present in the last-level table: 3 tables, then the fault on
	 * the empty PTE (level 1). */
	uint64_t hole = VA + 0x1000;
	assert_int_equal(physim_mmu_trace(m, &(struct physim_access){.va = hole}, 0, &x, &tr),
			 -EFAULT);
	assert_int_equal(tr.n, 4);
	assert_int_equal(tr.steps[2].decision, PHYSIM_WALK_TABLE);
	const struct physim_walk_trace_step *last = &tr.steps[3];
	assert_int_equal(last->decision, PHYSIM_WALK_FAULT);
	assert_int_equal(last->fault, PHYSIM_FAULT_NOT_PRESENT);
	assert_int_equal(last->fault, x.fault.kind);
	assert_int_equal(last->level, x.fault.level);
	assert_int_equal(last->desc, 0);
	assert_int_equal(last->addr, index_addr(last->table, hole, 3));

	/* A write to a read-only page: a permission fault on the leaf. */
	assert_int_equal(
	    physim_mmu_trace(m, &(struct physim_access){.va = VA, .write = true}, 0, &x, &tr),
	    -EFAULT);
	assert_int_equal(tr.n, 4);
	assert_int_equal(tr.steps[3].decision, PHYSIM_WALK_FAULT);
	assert_int_equal(tr.steps[3].fault, PHYSIM_FAULT_PERMISSION);
	assert_int_equal(tr.steps[3].desc, tc_get64(&e, tr.steps[3].addr));
	for (unsigned i = 0; i < 4; i++)
		assert_false(tr.steps[i].ad_written); /* a fault writes no A/D */

	/* Not present at the root: one step. */
	assert_int_equal(
	    physim_mmu_trace(m, &(struct physim_access){.va = UINT64_C(0x1000)}, 0, &x, &tr),
	    -EFAULT);
	assert_int_equal(tr.n, 1);
	assert_int_equal(tr.steps[0].level, 4);
	assert_int_equal(tr.steps[0].fault, PHYSIM_FAULT_NOT_PRESENT);

	/* Non-canonical: no fetch, one fault step with level -1. */
	assert_int_equal(
	    physim_mmu_trace(m, &(struct physim_access){.va = UINT64_C(1) << 60}, 0, &x, &tr),
	    -EFAULT);
	assert_int_equal(tr.n, 1);
	assert_false(tr.steps[0].fetched);
	assert_int_equal(tr.steps[0].level, -1);
	assert_int_equal(tr.steps[0].fault, PHYSIM_FAULT_NON_CANONICAL);

	/* A table pointer outside memory: a bus error step, nothing fetched. */
	uint64_t pml4e = index_addr(physim_pt_root(pt), VA, 0);
	uint64_t saved = tc_get64(&e, pml4e);
	tc_put64(&e, pml4e, (saved & ~UINT64_C(0x000ffffffffff000)) | (RAM_SIZE << 4));
	assert_int_equal(physim_mmu_trace(m, &(struct physim_access){.va = VA}, 0, &x, &tr),
			 -EFAULT);
	assert_int_equal(tr.n, 2);
	assert_int_equal(tr.steps[0].decision, PHYSIM_WALK_TABLE);
	assert_int_equal(tr.steps[1].decision, PHYSIM_WALK_FAULT);
	assert_int_equal(tr.steps[1].fault, PHYSIM_FAULT_BUS_ERROR);
	assert_false(tr.steps[1].fetched);
	assert_int_equal(tr.steps[1].table, RAM_SIZE << 4);
	tc_put64(&e, pml4e, saved);

	/* Bad arguments. */
	const struct physim_access a = {.va = VA};
	assert_int_equal(physim_mmu_trace(m, &a, 0, &x, NULL), -EINVAL);
	assert_int_equal(physim_mmu_trace(m, &a, 2, &x, &tr), -EINVAL);
	assert_int_equal(physim_mmu_trace(NULL, &a, 0, &x, &tr), -EINVAL);
	physim_mmu_destroy(m);
	physim_pt_destroy(pt);
	tc_env_close(&e);
}

/* ---- nested: x86_64-4l over ept-4l, stage 2 the identity on the RAM in
 * 4 KiB pages (so every stage-2 walk has 4 fetches) ---- */

struct nested {
	struct tc_env e;
	struct physim_pt *s1pt, *s2pt;
	struct physim_mmu *s1, *s2;
};

static void nested_open(struct nested *n)
{
	tc_env_open(&n->e, 0, RAM_SIZE);
	assert_int_equal(physim_pt_create(physim_format("ept-4l"), n->e.ph, &n->s2pt), 0);
	uint64_t base = physim_ram_base(n->e.ram);
	assert_int_equal(
	    physim_pt_map_region(n->s2pt, base, base, RAM_SIZE, PHYSIM_R | PHYSIM_W | PHYSIM_X, 0),
	    0);
	assert_int_equal(physim_pt_create(physim_format("x86_64-4l"), n->e.ph, &n->s1pt), 0);
	assert_int_equal(physim_pt_map(n->s1pt, VA, base + 0x7000, 4096, PHYSIM_R | PHYSIM_W), 0);
	struct physim_mmu_config c1 = {
	    .format = physim_format("x86_64-4l"), .mem = n->e.ph, .root = physim_pt_root(n->s1pt)};
	struct physim_mmu_config c2 = {
	    .format = physim_format("ept-4l"), .mem = n->e.ph, .root = physim_pt_root(n->s2pt)};
	assert_int_equal(physim_mmu_create(&c1, &n->s1), 0);
	assert_int_equal(physim_mmu_create(&c2, &n->s2), 0);
}

static void nested_close(struct nested *n)
{
	physim_mmu_destroy(n->s1);
	physim_mmu_destroy(n->s2);
	physim_pt_destroy(n->s1pt);
	physim_pt_destroy(n->s2pt);
	tc_env_close(&n->e);
}

/* Steps [k, k+4) are the EPT walk (SDM Vol. 3C 29.3.2, levels 4..1) of
 * gpa; returns the HPA it gives. */
static uint64_t check_s2_walk(struct nested *n, const struct physim_walk_trace *tr, unsigned k,
			      uint64_t gpa, bool s1_table)
{
	uint64_t table = physim_pt_root(n->s2pt);
	for (unsigned i = 0; i < 4; i++) {
		const struct physim_walk_trace_step *s = &tr->steps[k + i];
		uint64_t ea = index_addr(table, gpa, i);
		assert_int_equal(s->stage, 2);
		assert_int_equal(s->level, 4 - (int)i);
		assert_int_equal(s->s1_table, s1_table);
		assert_int_equal(s->addr, ea);
		assert_int_equal(s->desc, tc_get64(&n->e, ea));
		assert_int_equal(s->decision, i < 3 ? PHYSIM_WALK_TABLE : PHYSIM_WALK_LEAF);
		table = s->desc & UINT64_C(0x000ffffffffff000);
	}
	return table + (gpa & 0xfff);
}

static void test_trace_nested(void **state)
{
	(void)state;
	struct nested n;
	nested_open(&n);
	struct physim_xlate x;
	struct physim_walk_trace tr;
	const struct physim_access acc = {.va = VA + 0x10};
	int rc = physim_nested_trace(n.s1, n.s2, &acc, PHYSIM_TRACE_PROBE, &x, &tr);
	if (rc != 0)
		print_message("nested: %s\n", physim_fault_str(&x.fault));
	assert_int_equal(rc, 0);
	uint64_t out = physim_ram_base(n.e.ram) + 0x7010;
	assert_int_equal(x.pa, out);
	/* SDM Vol. 3C 29.3 / Arm ARM D8.2: per stage-1 level the stage-2 walk
	 * of the entry's GPA, then the entry; then the output GPA's walk. */
	assert_int_equal(tr.n, 24);
	assert_int_equal(x.mem_refs, 24);
	uint64_t table = physim_pt_root(n.s1pt); /* a GPA */
	for (unsigned i = 0; i < 4; i++) {
		uint64_t ea = index_addr(table, VA, i);
		uint64_t hpa = check_s2_walk(&n, &tr, 5 * i, ea, true);
		assert_int_equal(hpa, ea); /* the identity */
		const struct physim_walk_trace_step *s = &tr.steps[5 * i + 4];
		assert_int_equal(s->stage, 1);
		assert_int_equal(s->level, 4 - (int)i);
		assert_false(s->s1_table);
		assert_int_equal(s->table, table);
		assert_int_equal(s->addr, ea);
		assert_int_equal(s->desc, tc_get64(&n.e, hpa));
		assert_int_equal(s->decision, i < 3 ? PHYSIM_WALK_TABLE : PHYSIM_WALK_LEAF);
		table = s->desc & UINT64_C(0x000ffffffffff000);
	}
	assert_int_equal(check_s2_walk(&n, &tr, 20, out, false), out);

	/* A stage-2 fault on the stage-1 root's GPA: the trace ends with the
	 * stage-2 fault (s1_table), after 3 stage-2 tables. */
	uint64_t root = physim_pt_root(n.s1pt);
	assert_int_equal(physim_pt_unmap_region(n.s2pt, root, 4096), 0);
	assert_int_equal(physim_nested_trace(n.s1, n.s2, &acc, 0, &x, &tr), -EFAULT);
	assert_true(x.fault.s1ptw);
	assert_int_equal(tr.n, 4);
	const struct physim_walk_trace_step *last = &tr.steps[3];
	assert_int_equal(last->stage, 2);
	assert_true(last->s1_table);
	assert_int_equal(last->decision, PHYSIM_WALK_FAULT);
	assert_int_equal(last->fault, x.fault.kind);
	assert_int_equal(last->level, x.fault.level);
	assert_int_equal(last->addr, index_addr(last->table, root, 3));
	assert_int_equal(physim_nested_trace(n.s1, n.s2, &acc, 0, &x, NULL), -EINVAL);
	nested_close(&n);
}

/* The loop follows a table pointer in its plain form (x86: P, R/W, U/S and
 * A set, nothing else) without the family's step(); every other bit of a
 * table pointer must still count as the SDM says (Vol. 3A 4.5 table 4-15,
 * 4.6.1, 4.8). Each case changes one bit of one engine-built entry. */
static void test_plain_table_bits(void **state)
{
	(void)state;
	struct tc_env e;
	tc_env_open(&e, 0, RAM_SIZE);
	const struct physim_pt_format *f = physim_format("x86_64-4l");
	struct physim_pt *pt;
	assert_int_equal(physim_pt_create(f, e.ph, &pt), 0);
	assert_int_equal(
	    physim_pt_map(pt, VA, 0x9000, 4096, PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U), 0);
	struct physim_mmu *m;
	struct physim_mmu_config c = {.format = f, .mem = e.ph, .root = physim_pt_root(pt)};
	assert_int_equal(physim_mmu_create(&c, &m), 0);
	struct physim_xlate x;
	struct physim_walk_trace tr;
	/* One write sets A everywhere: the tables are then in plain form. */
	assert_int_equal(
	    physim_mmu_trace(m, &(struct physim_access){.va = VA, .write = true}, 0, &x, &tr), 0);
	assert_int_equal(tr.n, 4);
	uint64_t ent[3];
	for (unsigned i = 0; i < 3; i++) {
		ent[i] = tr.steps[i].addr;
		assert_int_equal(tc_get64(&e, ent[i]) & 0xfff, 0x27); /* P|RW|US|A */
	}
	const struct {
		unsigned i; /* 0 PML4E, 1 PDPTE, 2 PDE */
		uint64_t clear, set;
		struct physim_access acc;
		int rc;
		enum physim_fault_kind kind;
	} cases[] = {
	    /* R/W = 0 above the leaf: no write (CR0.WP = 1). */
	    {1, 2, 0, {.va = VA, .write = true}, -EFAULT, PHYSIM_FAULT_PERMISSION},
	    /* U/S = 0: no user access. */
	    {2, 4, 0, {.va = VA, .user = true}, -EFAULT, PHYSIM_FAULT_PERMISSION},
	    /* XD = 1 (NXE = 1): no fetch. */
	    {0, 0, UINT64_C(1) << 63, {.va = VA, .exec = true}, -EFAULT, PHYSIM_FAULT_PERMISSION},
	    /* Bit 51 is reserved with MAXPHYADDR 46. */
	    {0, 0, UINT64_C(1) << 51, {.va = VA}, -EFAULT, PHYSIM_FAULT_RESERVED},
	    /* PS = 1 in a PDE is a 2 MiB leaf (here with reserved bits 20:13
	     * clear, a present page): not a table any more. */
	    {2, 0, 0x80, {.va = VA}, 0, PHYSIM_FAULT_NONE},
	    /* Ignored bits (11:8 of a table pointer): the same translation. */
	    {1, 0, 0x200, {.va = VA, .write = true, .user = true}, 0, PHYSIM_FAULT_NONE},
	    /* P = 0. */
	    {0, 1, 0, {.va = VA}, -EFAULT, PHYSIM_FAULT_NOT_PRESENT},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		uint64_t saved = tc_get64(&e, ent[cases[k].i]);
		tc_put64(&e, ent[cases[k].i], (saved & ~cases[k].clear) | cases[k].set);
		int rc = physim_mmu_probe(m, &cases[k].acc, &x);
		print_message("case %zu: rc %d %s\n", k, rc, physim_fault_str(&x.fault));
		assert_int_equal(rc, cases[k].rc);
		assert_int_equal(x.fault.kind, cases[k].kind);
		if (rc == 0 && cases[k].set != 0x80)
			assert_int_equal(x.pa, 0x9000);
		if (cases[k].set == 0x80)
			assert_int_equal(x.page_size, UINT64_C(2) << 20);
		tc_put64(&e, ent[cases[k].i], saved);
	}
	/* A = 0 in a table pointer: the translation sets it again (4.8). */
	tc_put64(&e, ent[1], tc_get64(&e, ent[1]) & ~UINT64_C(0x20));
	assert_int_equal(physim_mmu_translate(m, &(struct physim_access){.va = VA}, &x), 0);
	assert_true(x.ad_updated);
	assert_int_equal(tc_get64(&e, ent[1]) & 0xfff, 0x27);
	physim_mmu_destroy(m);
	physim_pt_destroy(pt);
	tc_env_close(&e);
}

/* ARMv7 short descriptors (Arm ARM G5.4): the loop follows a first-level
 * page-table descriptor (0b01, PXN clear) without v7_step; every other bit
 * below the table address (bits 9:0) must still count as the manual says,
 * for the walker and for the engine's lookups (physim_pt_query runs the
 * same loop in lookup mode). Each case flips one bit of the engine-built
 * descriptor. */
static void test_plain_table_bits_armv7(void **state)
{
	(void)state;
	struct tc_env e;
	tc_env_open(&e, 0, RAM_SIZE);
	const struct physim_pt_format *f = physim_format("armv7-short");
	struct physim_pt *pt;
	const uint64_t va = UINT64_C(0x12345000);
	assert_int_equal(physim_pt_create(f, e.ph, &pt), 0);
	assert_int_equal(
	    physim_pt_map(pt, va, 0x9000, 4096, PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U), 0);
	struct physim_mmu *m;
	struct physim_mmu_config c = {.format = f, .mem = e.ph, .root = physim_pt_root(pt)};
	assert_int_equal(physim_mmu_create(&c, &m), 0);
	struct physim_xlate x;
	struct physim_walk_trace tr;
	assert_int_equal(physim_mmu_trace(m, &(struct physim_access){.va = va}, 0, &x, &tr), 0);
	assert_int_equal(tr.n, 2);
	const uint64_t ent = tr.steps[0].addr;
	const uint32_t plain = tc_get32(&e, ent);
	assert_int_equal(plain & 0x3ff, 1); /* 0b01, PXN, NS, domain 0 */
	for (unsigned b = 0; b < 10; b++) {
		uint32_t d = plain ^ (UINT32_C(1) << b);
		tc_put32(&e, ent, d);
		struct physim_pt_mapping q;
		int rq = physim_pt_query(pt, va, &q);
		int rr = physim_mmu_probe(m, &(struct physim_access){.va = va}, &x);
		int rx = physim_mmu_probe(m, &(struct physim_access){.va = va, .exec = true}, &x);
		print_message("bit %u: d %#x query %d read %d fetch %d\n", b, d, rq, rr, rx);
		if (b == 0) {
			/* 0b00: Translation fault, level 1; nothing mapped. */
			assert_int_equal(rq, -ENOENT);
			assert_int_equal(rr, -EFAULT);
			assert_int_equal(x.fault.kind, PHYSIM_FAULT_NOT_PRESENT);
			assert_int_equal(x.fault.level, 1);
		} else if (b == 1) {
			/* 0b11: a section (PXN = bit 0 = 1) - a 1 MiB or, with
			 * bit 18, 16 MiB leaf at level 1, not the page. */
			uint64_t size =
			    (d & (UINT32_C(1) << 18)) ? UINT64_C(16) << 20 : UINT64_C(1) << 20;
			assert_int_equal(rq, 0);
			assert_int_equal(q.size, size);
			assert_int_equal(q.level, 1);
			/* AP[0] (bit 10) is the Access flag. */
			if (!(d & (UINT32_C(1) << 10))) {
				assert_int_equal(rr, -EFAULT);
				assert_int_equal(x.fault.kind, PHYSIM_FAULT_ACCESS_FLAG);
			}
		} else {
			/* Bits 9:2: the same page. PXN (bit 2) forbids PL1
			 * fetches from it, bits 9:3 change nothing here. */
			assert_int_equal(rq, 0);
			assert_int_equal(q.pa, 0x9000);
			assert_int_equal(q.size, 4096);
			assert_int_equal(rr, 0);
			if (b == 2) {
				assert_int_equal(rx, -EFAULT);
				assert_int_equal(x.fault.kind, PHYSIM_FAULT_PERMISSION);
			} else {
				assert_int_equal(rx, 0);
				assert_int_equal(x.pa, 0x9000);
			}
		}
	}
	tc_put32(&e, ent, plain);
	physim_mmu_destroy(m);
	physim_pt_destroy(pt);
	tc_env_close(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_trace_layout),	   cmocka_unit_test(test_trace_faults),
	    cmocka_unit_test(test_trace_nested),	   cmocka_unit_test(test_plain_table_bits),
	    cmocka_unit_test(test_plain_table_bits_armv7),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
