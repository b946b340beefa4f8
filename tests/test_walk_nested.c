/* SPDX-License-Identifier: MIT */
/* tests/test_walk_nested.c - a nested walk's ways of walking stage 2 agree.
 * A RISC-V or AArch64 stage 1 nested over a stage 2 of its own family and
 * level count walks the stage-2 translations of its table entries inline
 * (lib/walk-loop.h, struct walk_s2_inline); any other untraced pair calls
 * the stage 2's walk_gpa (WALK_GPA_FN), a traced walk its ops->walk. The
 * traced walk is the
 * reference: test_walk_trace checks its fetches against the manuals' index
 * layout. Two identical worlds (same RAM layout, same tables) take the same
 * accesses, one through physim_nested_translate / _probe, the other through
 * physim_nested_trace: every result field and every byte of RAM (the A/D
 * write-backs of both stages) must be the same, over table-fetch faults
 * (s1ptw), final-GPA faults, permission faults, and A/D updates with and
 * without hardware A/D management. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <physim/physim.h>

#include "common/env.h"
#include "common/xlate.h"

#include "walk-format.h" /* physim_nested_probe */

#include <string.h>

#define RAM_SIZE (UINT64_C(4) << 20)

/* Descriptor bits cleared to make a walk update A/D: RISC-V A (bit 6) and
 * D (bit 7) (privileged spec, "Sv32: Page-Based 32-bit Virtual-Memory
 * Systems", PTE format); AArch64 AF (bit 10) (Arm ARM D8.3, block and page
 * descriptor attributes). */
#define RV_AD  UINT64_C(0xc0)
#define A64_AF (UINT64_C(1) << 10)
/* x86 A (bit 5) and D (bit 6) (Intel SDM Vol. 3A, tables 4-19 and 4-20);
 * EPT accessed (bit 8) and dirty (bit 9) (SDM Vol. 3C 29.3.5, "Accessed
 * and Dirty Flags for EPT"). */
#define X86_AD UINT64_C(0x60)
#define EPT_AD UINT64_C(0x300)

struct pair {
	const char *s1, *s2;
	bool same_levels; /* the inline pairing applies; else walk_gpa */
};

static const struct pair pairs[] = {
    {"sv39", "sv39x4", true},
    {"sv48", "sv48x4", true},
    {"sv57", "sv57x4", true},
    {"aarch64-4k-39", "aarch64-s2-4k-40", true},
    {"aarch64-4k-48", "aarch64-s2-4k-48", true},
    {"aarch64-4k-52", "aarch64-s2-4k-52", true},
    /* Level counts or families differ: the untraced world calls the
     * stage 2's walk_gpa for each level count it has. */
    {"sv39", "sv48x4", false},
    {"sv48", "sv57x4", false},
    {"sv48", "sv39x4", false},
    {"aarch64-4k-48", "aarch64-s2-4k-40", false},
    {"aarch64-4k-39", "aarch64-s2-4k-48", false},
    {"aarch64-4k-48", "aarch64-s2-4k-52", false},
    {"x86_64-4l", "ept-4l", false},
    {"x86_64-4l", "ept-5l", false},
};

/* Stage-1 pages, each in its own 1 GiB region (its own tables) where a
 * case changes its tables. */
enum {
	P_RW_USER,    /* R|W|U */
	P_RO,	      /* R, supervisor */
	P_RX_USER,    /* R|X|U */
	P_OUT_GONE,   /* R|W, its output GPA unmapped in stage 2 */
	P_TABLE_GONE, /* R|W|U, its stage-1 leaf table unmapped in stage 2 */
	P_NO_AD,      /* R|W|U, A/D clear in the leaf; stage 2's leaf for the
			 leaf table with A clear too */
	P_TABLE_RO,   /* R|W|U, A/D clear in the leaf, the leaf table
			 read-only in stage 2 */
	P_COUNT
};

static uint64_t page_va(unsigned i)
{
	return (UINT64_C(1) << 30) * (i + 1) + UINT64_C(0x5000);
}

struct world {
	struct tc_env e;
	struct physim_pt *s1pt, *s2pt;
	struct physim_mmu *s1, *s2;
	bool rv;
	uint64_t ad1, ad2; /* the A/D bits of a stage-1 and a stage-2 leaf */
};

/* The stage-1 leaf slot of va (its GPA) and the table holding it, from a
 * probe trace (stage-1 steps are listed in walk order) by a user access
 * (RISC-V: a supervisor read of a U page faults without SUM). */
static void s1_leaf(struct world *w, uint64_t va, uint64_t *table, uint64_t *slot)
{
	struct physim_xlate x;
	struct physim_walk_trace tr;
	const struct physim_access acc = {.va = va, .user = true};
	int rc = physim_nested_trace(w->s1, w->s2, &acc, PHYSIM_TRACE_PROBE, &x, &tr);
	if (rc != 0)
		print_message("%#llx: %s\n", (unsigned long long)va, physim_fault_str(&x.fault));
	assert_int_equal(rc, 0);
	const struct physim_walk_trace_step *last = NULL;
	for (unsigned i = 0; i < tr.n; i++)
		if (tr.steps[i].stage == 1)
			last = &tr.steps[i];
	assert_non_null(last);
	assert_int_equal(last->decision, PHYSIM_WALK_LEAF);
	*table = last->table;
	*slot = last->addr;
}

/* The HPA of stage 2's leaf slot for gpa. */
static uint64_t s2_leaf_slot(struct world *w, uint64_t gpa)
{
	struct physim_xlate x;
	struct physim_walk_trace tr;
	const struct physim_access acc = {.va = gpa};
	assert_int_equal(physim_mmu_trace(w->s2, &acc, PHYSIM_TRACE_PROBE, &x, &tr), 0);
	assert_int_equal(tr.steps[tr.n - 1].decision, PHYSIM_WALK_LEAF);
	return tr.steps[tr.n - 1].addr;
}

static void world_open(struct world *w, const struct pair *p, bool hw_ad)
{
	const struct physim_pt_format *f1 = physim_format(p->s1), *f2 = physim_format(p->s2);
	assert_non_null(f1);
	assert_non_null(f2);
	w->rv = strncmp(p->s1, "sv", 2) == 0;
	const bool x86 = strncmp(p->s1, "x86", 3) == 0;
	w->ad1 = w->rv ? RV_AD : x86 ? X86_AD : A64_AF;
	w->ad2 = w->rv ? RV_AD : x86 ? EPT_AD : A64_AF;
	tc_env_open(&w->e, 0, RAM_SIZE);
	assert_int_equal(physim_pt_create(f2, w->e.ph, &w->s2pt), 0);
	const uint64_t base = physim_ram_base(w->e.ram);
	assert_int_equal(
	    physim_pt_map_region(w->s2pt, base, base, RAM_SIZE, PHYSIM_R | PHYSIM_W | PHYSIM_X, 0),
	    0);
	assert_int_equal(physim_pt_create(f1, w->e.ph, &w->s1pt), 0);
	static const uint32_t perms[P_COUNT] = {
	    [P_RW_USER] = PHYSIM_R | PHYSIM_W | PHYSIM_U,
	    [P_RO] = PHYSIM_R,
	    [P_RX_USER] = PHYSIM_R | PHYSIM_X | PHYSIM_U,
	    [P_OUT_GONE] = PHYSIM_R | PHYSIM_W,
	    [P_TABLE_GONE] = PHYSIM_R | PHYSIM_W | PHYSIM_U,
	    [P_NO_AD] = PHYSIM_R | PHYSIM_W | PHYSIM_U,
	    [P_TABLE_RO] = PHYSIM_R | PHYSIM_W | PHYSIM_U,
	};
	uint64_t data[P_COUNT];
	for (unsigned i = 0; i < P_COUNT; i++) {
		data[i] = tc_frame(&w->e);
		assert_int_equal(physim_pt_map(w->s1pt, page_va(i), data[i], 4096, perms[i]), 0);
	}
	struct physim_mmu_ctl ctl = {.svadu = hw_ad, .ha = hw_ad, .hd = hw_ad, .ept_ad = hw_ad};
	struct physim_mmu_config c1 = {
	    .format = f1, .mem = w->e.ph, .root = physim_pt_root(w->s1pt), .ctl = ctl};
	struct physim_mmu_config c2 = {
	    .format = f2, .mem = w->e.ph, .root = physim_pt_root(w->s2pt), .ctl = ctl};
	assert_int_equal(physim_mmu_create(&c1, &w->s1), 0);
	assert_int_equal(physim_mmu_create(&c2, &w->s2), 0);

	uint64_t table, slot;
	assert_int_equal(physim_pt_unmap(w->s2pt, data[P_OUT_GONE], NULL), 0);
	s1_leaf(w, page_va(P_NO_AD), &table, &slot);
	tc_put64(&w->e, slot, tc_get64(&w->e, slot) & ~w->ad1);
	uint64_t s2slot = s2_leaf_slot(w, table);
	tc_put64(&w->e, s2slot, tc_get64(&w->e, s2slot) & ~w->ad2);
	s1_leaf(w, page_va(P_TABLE_RO), &table, &slot);
	tc_put64(&w->e, slot, tc_get64(&w->e, slot) & ~w->ad1);
	assert_int_equal(physim_pt_protect(w->s2pt, table, PHYSIM_R), 0);
	s1_leaf(w, page_va(P_TABLE_GONE), &table, &slot);
	assert_int_equal(physim_pt_unmap(w->s2pt, table, NULL), 0);
}

static void world_close(struct world *w)
{
	physim_mmu_destroy(w->s1);
	physim_mmu_destroy(w->s2);
	physim_pt_destroy(w->s1pt);
	physim_pt_destroy(w->s2pt);
	tc_env_close(&w->e);
}

/* Every field equal (a difference names its field). */
static void same_xlate(const struct physim_xlate *a, const struct physim_xlate *b)
{
	const char *d = tc_xlate_diff(a, b);
	if (d != NULL)
		print_message("results differ in %s\n", d);
	assert_null(d);
}

/* What the accesses came to, for the check that the cases were reached. */
struct tally {
	unsigned ok, s1ptw, s2_final, ad;
};

static void one_access(struct world *a, struct world *b, const struct physim_access *acc,
		       struct tally *t)
{
	struct physim_xlate xa, xb;
	struct physim_walk_trace tr;
	int ra = physim_nested_probe(a->s1, a->s2, acc, &xa);
	int rb = physim_nested_trace(b->s1, b->s2, acc, PHYSIM_TRACE_PROBE, &xb, &tr);
	assert_int_equal(ra, rb);
	same_xlate(&xa, &xb);
	ra = physim_nested_translate(a->s1, a->s2, acc, &xa);
	rb = physim_nested_trace(b->s1, b->s2, acc, 0, &xb, &tr);
	assert_int_equal(ra, rb);
	same_xlate(&xa, &xb);
	assert_memory_equal(a->e.dm.hva, b->e.dm.hva, RAM_SIZE);
	t->ok += ra == 0;
	t->s1ptw += ra != 0 && xa.fault.s1ptw;
	t->s2_final += ra != 0 && xa.fault.stage == 2 && !xa.fault.s1ptw;
	t->ad += xa.ad_updated;
}

static void check_pair(const struct pair *p, bool hw_ad)
{
	struct world a, b;
	world_open(&a, p, hw_ad);
	world_open(&b, p, hw_ad);
	assert_memory_equal(a.e.dm.hva, b.e.dm.hva, RAM_SIZE);
	struct tally t = {0};
	/* Each page with each access type: a read, a write and a fetch, by
	 * the supervisor and by the user; then every page written again (its
	 * A/D now set, if the first write set them). */
	for (unsigned round = 0; round < 2; round++) {
		for (unsigned i = 0; i < P_COUNT; i++) {
			for (unsigned k = 0; k < 6; k++) {
				const struct physim_access acc = {.va = page_va(i) + 0x10 * k,
								  .write = k % 3 == 1,
								  .exec = k % 3 == 2,
								  .user = k >= 3};
				one_access(&a, &b, &acc, &t);
			}
		}
	}
	/* The cases were reached: translations, stage-2 faults on a stage-1
	 * table (the unmapped and the read-only one) and on the output, and
	 * A/D updates where the hardware manages them. */
	assert_true(t.ok > 0);
	assert_true(t.s1ptw > 0);
	assert_true(t.s2_final > 0);
	/* x86 sets A/D in its own tables whatever the control state. */
	const bool x86 = a.ad1 == X86_AD;
	assert_true(hw_ad || x86 ? t.ad > 0 : t.ad == 0);
	world_close(&a);
	world_close(&b);
}

static void test_inline_stage2_agrees(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		if (physim_format(pairs[i].s1) == NULL || physim_format(pairs[i].s2) == NULL)
			continue; /* family not built */
		print_message("%s over %s%s\n", pairs[i].s1, pairs[i].s2,
			      pairs[i].same_levels ? "" : " (walk_gpa against ops->walk)");
		check_pair(&pairs[i], false);
		check_pair(&pairs[i], true);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_inline_stage2_agrees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
