/* SPDX-License-Identifier: MIT */
/* tests/test_cpu_front.c - a simulated CPU's hit path (lib/cpu.c, the front
 * cache of recent pages): a hit returns what the filling walk returned, every
 * field (the walker is the expectation), and a CPU whose front cache is in
 * use answers a random run of accesses, remaps, invalidations, broadcasts and
 * context switches exactly as a CPU without it (check_stale, which bypasses
 * it) does, result by result and count by count; supervisor accesses to
 * user pages are cached, and checked against SMAP / PAN at each use. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <physim/cpu.h>
#include <physim/ram.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/env.h"
#include "common/rng.h"

#define MiB	 UINT64_C(0x100000)
#define RAM_BASE UINT64_C(0x80000000)
#define RAM_SIZE (64 * MiB)
#define URWX	 (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U)
#define VA0	 UINT64_C(0x40000000)
#define NPAGES	 96u /* more pages than front slots: slots are shared */

struct env {
	struct tc_env ram; /* RAM and its paging handler */
	struct physim_pt *pt[2], *s2pt;
	struct physim_mmu *mmu[2], *s2;
};

/* Two stage-1 tables of fmt over the same VAs (page i at frame i, resp. i +
 * NPAGES), one 2 MiB page at VA0 + 64 MiB; with s2fmt a stage 2 mapping RAM
 * identically in 2 MiB blocks. */
static struct env *env_new(const char *fmt, const char *s2fmt)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	tc_env_open(&e->ram, RAM_BASE, RAM_SIZE);
	for (unsigned t = 0; t < 2; t++) {
		assert_int_equal(physim_pt_create(physim_format(fmt), e->ram.ph, &e->pt[t]), 0);
		for (unsigned i = 0; i < NPAGES; i++)
			assert_int_equal(
			    physim_pt_map(e->pt[t], VA0 + i * 4096ull,
					  RAM_BASE + 16 * MiB + (i + t * NPAGES) * 4096ull, 4096,
					  URWX),
			    0);
		assert_int_equal(
		    physim_pt_map(e->pt[t], VA0 + 64 * MiB, RAM_BASE + 32 * MiB, 2 * MiB, URWX), 0);
		e->mmu[t] = tc_mmu_of(e->ram.ph, e->pt[t]);
	}
	if (s2fmt) {
		assert_int_equal(physim_pt_create(physim_format(s2fmt), e->ram.ph, &e->s2pt), 0);
		assert_int_equal(physim_pt_map_region(e->s2pt, RAM_BASE, RAM_BASE, RAM_SIZE, URWX,
						      PHYSIM_ALLOW_HUGE),
				 0);
		e->s2 = tc_mmu_of(e->ram.ph, e->s2pt);
	}
	return e;
}

static void env_free(struct env *e)
{
	for (unsigned t = 0; t < 2; t++) {
		physim_mmu_destroy(e->mmu[t]);
		physim_pt_destroy(e->pt[t]);
	}
	physim_mmu_destroy(e->s2);
	physim_pt_destroy(e->s2pt);
	tc_env_close(&e->ram);
	free(e);
}

/* Bounded mode with this capacity instead of strict when non-zero. */
static unsigned bounded_entries;

static struct physim_machine *machine(enum physim_arch arch, unsigned ncpus, bool check_stale)
{
	struct physim_machine *m;
	struct physim_machine_config c = {.arch = arch,
					  .ncpus = ncpus,
					  .check_stale = check_stale,
					  .mode = bounded_entries ? PHYSIM_CPU_BOUNDED
								  : PHYSIM_CPU_STRICT,
					  .bounded_entries = bounded_entries};
	assert_int_equal(physim_machine_create(&c, &m), 0);
	return m;
}

static void load(struct physim_machine *m, unsigned cpu, struct env *e, unsigned t, uint16_t asid)
{
	struct physim_cpu_context c = {
	    .s1 = e->mmu[t],
	    .s2 = e->s2,
	    .regime = e->s2 ? PHYSIM_REGIME_GUEST : PHYSIM_REGIME_HOST,
	    .asid = asid,
	    .vmid = e->s2 ? 1 : 0,
	    .eptp = e->s2pt ? physim_pt_root(e->s2pt) : 0,
	};
	assert_int_equal(physim_cpu_set_context(physim_machine_cpu(m, cpu), &c), 0);
}

/* Every field a translation returns, the walk's and the hit's alike. */
static void assert_same_xlate(const struct physim_xlate *a, const struct physim_xlate *b)
{
	assert_int_equal(a->pa, b->pa);
	assert_int_equal(a->gpa, b->gpa);
	assert_int_equal(a->page_size, b->page_size);
	assert_int_equal(a->level, b->level);
	assert_int_equal(a->perms, b->perms);
	assert_int_equal(a->global, b->global);
	assert_int_equal(a->fault.kind, b->fault.kind);
	assert_int_equal(a->leaf_desc, b->leaf_desc);
	assert_int_equal(a->s2_leaf_desc, b->s2_leaf_desc);
}

/* ---- a hit returns what the walk returned ---- */

static void hit_equals_walk(const char *fmt, const char *s2fmt, enum physim_arch arch,
			    bool check_stale)
{
	struct env *e = env_new(fmt, s2fmt);
	struct physim_machine *m = machine(arch, 1, check_stale);
	struct physim_cpu *c = physim_machine_cpu(m, 0);
	load(m, 0, e, 0, 1);
	const uint64_t vas[] = {VA0 + 0x10, VA0 + 5 * 4096 + 0x7F8, VA0 + 64 * MiB + 0x1234,
				VA0 + 64 * MiB + MiB + 0x10};
	for (size_t i = 0; i < sizeof(vas) / sizeof(vas[0]); i++) {
		/* A and D set first, by the walker, so that the fill's walk
		 * and a fresh one read the same descriptors */
		struct physim_xlate walk, hit, pre;
		struct physim_access w = {.va = vas[i], .write = true, .user = true};
		assert_int_equal(s2fmt ? physim_nested_translate(e->mmu[0], e->s2, &w, &pre)
				       : physim_mmu_translate(e->mmu[0], &w, &pre),
				 0);
		/* the fill: a walk */
		memset(&walk, 0xA5, sizeof(walk));
		assert_int_equal(physim_cpu_translate(c, &w, &walk), 0);
		uint64_t misses = physim_cpu_stats(c).misses;
		/* the hit, into a buffer of garbage: every field is written */
		for (uint64_t off = 0; off < 3 * 8; off += 8) {
			struct physim_access a = {.va = vas[i] + off, .write = true, .user = true};
			memset(&hit, 0x5A, sizeof(hit));
			assert_int_equal(physim_cpu_translate(c, &a, &hit), 0);
			struct physim_xlate want = walk;
			want.pa += off;
			if (s2fmt)
				want.gpa += off;
			assert_same_xlate(&hit, &want);
			assert_int_equal(hit.mem_refs, 0);
			assert_false(hit.ad_updated);
			assert_int_equal(hit.fault.stage, 0);
			assert_int_equal(hit.fault.syndrome, 0);
		}
		assert_int_equal(physim_cpu_stats(c).misses, misses);
		/* and the walker, asked afresh, says the same */
		struct physim_xlate fresh;
		int rc = s2fmt ? physim_nested_translate(e->mmu[0], e->s2, &w, &fresh)
			       : physim_mmu_translate(e->mmu[0], &w, &fresh);
		assert_int_equal(rc, 0);
		assert_same_xlate(&walk, &fresh);
	}
	physim_machine_destroy(m);
	env_free(e);
}

static void test_hit_equals_walk(void **state)
{
	(void)state;
	for (int cs = 0; cs < 2; cs++) {
		hit_equals_walk("x86_64-4l", NULL, PHYSIM_ARCH_X86_64, cs);
		hit_equals_walk("x86_64-4l", "ept-4l", PHYSIM_ARCH_X86_64, cs);
		hit_equals_walk("aarch64-4k-48", NULL, PHYSIM_ARCH_AARCH64, cs);
		hit_equals_walk("aarch64-4k-48", "aarch64-s2-4k-48", PHYSIM_ARCH_AARCH64, cs);
		hit_equals_walk("sv48", NULL, PHYSIM_ARCH_RISCV64, cs);
		hit_equals_walk("sv48", "sv48x4", PHYSIM_ARCH_RISCV64, cs);
	}
}

/* ---- supervisor accesses to user pages ---- */

struct counts {
	int stale_use;
};

static void count_report(void *ctx, const struct physim_cpu_report *r)
{
	struct counts *n = ctx;
	n->stale_use += r->kind == PHYSIM_REPORT_STALE_USE;
}

static void set_ctl(struct physim_mmu *m, bool smap, bool ac, bool pan)
{
	struct physim_mmu_config c;
	physim_mmu_get_config(m, &c);
	c.ctl.smap = smap;
	c.ctl.ac = ac;
	c.ctl.pan = pan;
	assert_int_equal(physim_mmu_set_config(m, &c), 0);
}

/* A supervisor access to a user page is cached like any other: the TLB
 * holds the translation and the access rights are checked at each use
 * against the control state of then (x86 SMAP/AC, SDM Vol. 3A 4.6; Arm
 * PAN, Arm ARM D8.4). So a stale entry shows through such an access too,
 * and turning SMAP / PAN on makes the cached entry fault. */
static void supervisor_user(enum physim_arch arch, const char *fmt)
{
	bool x86 = arch == PHYSIM_ARCH_X86_64;
	struct env *e = env_new(fmt, NULL);
	struct counts n = {0};
	struct physim_machine *m;
	struct physim_machine_config mc = {.arch = arch,
					   .ncpus = 1,
					   .check_stale = true,
					   .on_report = count_report,
					   .report_ctx = &n};
	assert_int_equal(physim_machine_create(&mc, &m), 0);
	struct physim_cpu *c = physim_machine_cpu(m, 0);
	load(m, 0, e, 0, 1);
	struct physim_access a = {.va = VA0 + 0x10};
	struct physim_xlate x;
	assert_int_equal(physim_cpu_translate(c, &a, &x), 0);
	uint64_t pa = x.pa;
	assert_int_equal(physim_cpu_translate(c, &a, &x), 0);
	assert_int_equal(physim_cpu_stats(c).misses, 1);
	assert_int_equal(physim_cpu_stats(c).hits, 1);
	/* remapped with no invalidation: the supervisor access uses the
	 * stale entry, and the stale-use check says so */
	assert_int_equal(physim_pt_unmap(e->pt[0], VA0, NULL), 0);
	assert_int_equal(physim_pt_map(e->pt[0], VA0, RAM_BASE + 48 * MiB, 4096, URWX), 0);
	assert_int_equal(physim_cpu_translate(c, &a, &x), 0);
	assert_int_equal(x.pa, pa);
	assert_int_equal(n.stale_use, 1);
	/* SMAP (AC = 0) / PAN on: the cached entry does not serve it */
	set_ctl(e->mmu[0], x86, false, !x86);
	assert_int_equal(physim_cpu_translate(c, &a, &x), -EFAULT);
	assert_int_equal(x.fault.kind, PHYSIM_FAULT_PERMISSION);
	/* and with the override (x86 RFLAGS.AC; Arm PAN off) it is allowed */
	set_ctl(e->mmu[0], x86, x86, false);
	assert_int_equal(physim_cpu_translate(c, &a, &x), 0);
	if (x86) {
		/* cached again under SMAP + AC, but an implicit supervisor
		 * access is not served by it: SMAP applies to implicit
		 * accesses whatever AC (SDM Vol. 3A 4.6), as a walk says */
		uint64_t hits = physim_cpu_stats(c).hits;
		assert_int_equal(physim_cpu_translate(c, &a, &x), 0);
		assert_int_equal(physim_cpu_stats(c).hits, hits + 1);
		struct physim_access imp = {.va = VA0 + 0x10, .implicit = true};
		struct physim_xlate w;
		assert_int_equal(physim_mmu_translate(e->mmu[0], &imp, &w), -EFAULT);
		assert_int_equal(physim_cpu_translate(c, &imp, &x), -EFAULT);
		assert_int_equal(x.fault.kind, w.fault.kind);
	}
	physim_machine_destroy(m);
	env_free(e);
}

static void test_supervisor_user_page(void **state)
{
	(void)state;
	supervisor_user(PHYSIM_ARCH_X86_64, "x86_64-4l");
	supervisor_user(PHYSIM_ARCH_AARCH64, "aarch64-4k-48");
}

/* ---- the front cache changes nothing but speed ---- */

/* The same operation on both machines: F (front cache in use) and R
 * (check_stale: every hit through the store's own lookup), each over its
 * own copy of the tables (walks set A/D bits, which fills then read). */
struct pair {
	struct physim_machine *f, *r;
	struct env *ef, *er;
	unsigned ncpus;
};

static void both_translate(struct pair *p, unsigned cpu, const struct physim_access *a)
{
	struct physim_xlate xf, xr;
	memset(&xf, 0, sizeof(xf));
	memset(&xr, 0, sizeof(xr));
	int rf = physim_cpu_translate(physim_machine_cpu(p->f, cpu), a, &xf);
	int rr = physim_cpu_translate(physim_machine_cpu(p->r, cpu), a, &xr);
	assert_int_equal(rf, rr);
	if (rf == 0)
		assert_same_xlate(&xf, &xr);
}

static void assert_same_stats(struct pair *p)
{
	for (unsigned i = 0; i < p->ncpus; i++) {
		struct physim_cpu_stats sf = physim_cpu_stats(physim_machine_cpu(p->f, i));
		struct physim_cpu_stats sr = physim_cpu_stats(physim_machine_cpu(p->r, i));
		assert_int_equal(sf.hits, sr.hits);
		assert_int_equal(sf.misses, sr.misses);
		assert_int_equal(sf.entries, sr.entries);
	}
}

static uint64_t random_va(uint64_t *rng)
{
	if (tc_rand_below(rng, 8) == 0)
		return VA0 + 64 * MiB + tc_rand_below(rng, 2 * MiB);
	return VA0 + tc_rand_below(rng, NPAGES) * 4096ull + tc_rand_below(rng, 4096);
}

/* Remap a page of table t to another frame, with no invalidation: the
 * cached entries for it go stale, on both machines alike. */
static void remap(struct pair *p, uint64_t *rng)
{
	unsigned t = (unsigned)tc_rand_below(rng, 2);
	uint64_t va = VA0 + tc_rand_below(rng, NPAGES) * 4096ull;
	uint64_t pa = RAM_BASE + 40 * MiB + tc_rand_below(rng, 1024) * 4096ull;
	struct env *es[2] = {p->ef, p->er};
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(physim_pt_unmap(es[i]->pt[t], va, NULL), 0);
		assert_int_equal(physim_pt_map(es[i]->pt[t], va, pa, 4096, URWX), 0);
	}
}

static void differential(const char *fmt, const char *s2fmt, enum physim_arch arch, uint64_t seed)
{
	struct pair p = {.ncpus = arch == PHYSIM_ARCH_X86_64 ? 1 : 2,
			 .ef = env_new(fmt, s2fmt),
			 .er = env_new(fmt, s2fmt)};
	p.f = machine(arch, p.ncpus, false);
	p.r = machine(arch, p.ncpus, true);
	uint64_t rng = seed;
	if (arch == PHYSIM_ARCH_X86_64) {
		assert_int_equal(physim_x86_mov_cr4(physim_machine_cpu(p.f, 0), 1u << 17), 0);
		assert_int_equal(physim_x86_mov_cr4(physim_machine_cpu(p.r, 0), 1u << 17), 0);
	}
	for (unsigned i = 0; i < p.ncpus; i++) {
		load(p.f, i, p.ef, 0, 1);
		load(p.r, i, p.er, 0, 1);
	}
	for (unsigned step = 0; step < 8000; step++) {
		unsigned cpu = (unsigned)tc_rand_below(&rng, p.ncpus);
		struct physim_cpu *cf = physim_machine_cpu(p.f, cpu);
		struct physim_cpu *cr = physim_machine_cpu(p.r, cpu);
		uint64_t op = tc_rand_below(&rng, 100);
		uint64_t va = random_va(&rng);
		if (op < 85) {
			/* mostly user reads and writes (cached); sometimes any
			 * flags, the invalid combinations too */
			uint64_t fl = tc_rand_below(&rng, 4) ? 4 + tc_rand_below(&rng, 2)
							     : tc_rand_below(&rng, 16);
			struct physim_access a = {.va = va,
						  .write = fl & 1,
						  .exec = (fl >> 1) & 1,
						  .user = (fl >> 2) & 1,
						  .implicit =
						      arch == PHYSIM_ARCH_X86_64 && (fl >> 3)};
			both_translate(&p, cpu, &a);
		} else if (op < 88) {
			remap(&p, &rng);
		} else if (op < 92) {
			unsigned t = (unsigned)tc_rand_below(&rng, 2);
			uint16_t asid = (uint16_t)(1 + tc_rand_below(&rng, 2));
			load(p.f, cpu, p.ef, t, asid);
			load(p.r, cpu, p.er, t, asid);
		} else if (arch == PHYSIM_ARCH_X86_64) {
			if (op < 99) {
				assert_int_equal(physim_x86_invlpg(cf, va), 0);
				assert_int_equal(physim_x86_invlpg(cr, va), 0);
			} else {
				const uint64_t desc[2] = {0, 0};
				assert_int_equal(physim_x86_invpcid(cf, 2, desc), 0);
				assert_int_equal(physim_x86_invpcid(cr, 2, desc), 0);
			}
		} else if (arch == PHYSIM_ARCH_AARCH64) {
			/* a broadcast reaches the other PE as a pending
			 * invalidation, applied at its next access */
			enum physim_tlbi_op tl =
			    op < 99 ? PHYSIM_TLBI_VAE1IS : PHYSIM_TLBI_VMALLE1IS;
			uint64_t xt = (uint64_t)1 << 48 | (va >> 12 & ((UINT64_C(1) << 44) - 1));
			assert_int_equal(physim_arm_tlbi(cf, tl, xt), 0);
			assert_int_equal(physim_arm_tlbi(cr, tl, xt), 0);
			physim_arm_dsb(cf);
			physim_arm_dsb(cr);
		} else {
			/* SBI remote fence of one page to both harts */
			const uint64_t mask = 3;
			assert_int_equal(physim_sbi_rfence(cf, PHYSIM_SBI_REMOTE_SFENCE_VMA, mask,
							   0, va & ~UINT64_C(0xFFF), 4096, 0),
					 0);
			assert_int_equal(physim_sbi_rfence(cr, PHYSIM_SBI_REMOTE_SFENCE_VMA, mask,
							   0, va & ~UINT64_C(0xFFF), 4096, 0),
					 0);
		}
		if (step % 500 == 0)
			assert_same_stats(&p);
	}
	assert_same_stats(&p);
	/* the run did hit, and through the front cache: not a vacuous run */
	uint64_t hits = 0;
	for (unsigned i = 0; i < p.ncpus; i++)
		hits += physim_cpu_stats(physim_machine_cpu(p.f, i)).hits;
	assert_true(hits > 1000);
	physim_machine_destroy(p.f);
	physim_machine_destroy(p.r);
	env_free(p.ef);
	env_free(p.er);
}

static void test_differential_x86(void **state)
{
	(void)state;
	differential("x86_64-4l", NULL, PHYSIM_ARCH_X86_64, 1);
	differential("x86_64-4l", "ept-4l", PHYSIM_ARCH_X86_64, 2);
}

static void test_differential_arm(void **state)
{
	(void)state;
	differential("aarch64-4k-48", NULL, PHYSIM_ARCH_AARCH64, 3);
	differential("aarch64-4k-48", "aarch64-s2-4k-48", PHYSIM_ARCH_AARCH64, 4);
}

/* Bounded mode: capacity evictions remove entries the front cache may
 * hold, on both CPUs alike (64 entries, 16 sets of 4 ways). */
static void test_differential_bounded(void **state)
{
	(void)state;
	bounded_entries = 64;
	differential("x86_64-4l", NULL, PHYSIM_ARCH_X86_64, 7);
	differential("aarch64-4k-48", "aarch64-s2-4k-48", PHYSIM_ARCH_AARCH64, 8);
	bounded_entries = 0;
}

static void test_differential_riscv(void **state)
{
	(void)state;
	differential("sv48", NULL, PHYSIM_ARCH_RISCV64, 5);
	differential("sv39", "sv39x4", PHYSIM_ARCH_RISCV64, 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hit_equals_walk),    cmocka_unit_test(test_supervisor_user_page),
	    cmocka_unit_test(test_differential_x86),   cmocka_unit_test(test_differential_arm),
	    cmocka_unit_test(test_differential_riscv), cmocka_unit_test(test_differential_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
