/* SPDX-License-Identifier: MIT */
/* tests/test_threads_shared.c - the sharing between threads that the headers
 * allow, run at once and checked: many threads translating through one table
 * (one shared mmu, or a TLB each; alone and as stage 1 of nested walks)
 * while the walker sets accessed/dirty bits; many threads querying one table
 * nobody changes; threads each changing a table, or an address space, of
 * their own over one RAM and paging handler; mark_dirty from other threads.
 * Run under ThreadSanitizer in CI (.ci/run). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/rng.h"

#include <physim/aspace.h>
#include <physim/ram.h>
#include <physim/walk.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB	 UINT64_C(0x100000)
#define PAGE	 UINT64_C(0x1000)
#define RAM_BASE UINT64_C(0x80000000)
#define RAM_SIZE (64 * MiB)

#define NTHREADS 4
#define NPAGES	 256 /* 4 groups of 64 pages */
#define ROUNDS	 4
#define REPS	 50 /* of the translation test, A/D cleared in between */

/* ---- error reporting: cmocka asserts are not thread-safe, so threads
 * record the first problem and the main thread fails on it ---- */

struct errors {
	_Atomic unsigned n;
	_Atomic bool have_msg;
	char msg[256];
};

static void report(struct errors *e, const char *fmt, ...)
{
	atomic_fetch_add(&e->n, 1);
	bool expected = false;
	if (atomic_compare_exchange_strong(&e->have_msg, &expected, true)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
}

static void assert_no_errors(struct errors *e)
{
	if (atomic_load(&e->n) != 0)
		fail_msg("%u errors; first: %s", atomic_load(&e->n), e->msg);
}

/* The threads of a test and the main thread meet here: all start their
 * work at once, and the main thread looks at (or changes) the table only
 * between two meetings, while no thread runs. */
static pthread_barrier_t meet;

static void meet_all(void)
{
	int rc = pthread_barrier_wait(&meet);
	(void)rc; /* 0 or PTHREAD_BARRIER_SERIAL_THREAD */
}

static void start_threads(pthread_t *t, void *(*fn)(void *), void *args, size_t arg_size)
{
	assert_int_equal(pthread_barrier_init(&meet, NULL, NTHREADS + 1), 0);
	for (unsigned i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, fn, (char *)args + i * arg_size), 0);
}

static void join_threads(pthread_t *t)
{
	for (unsigned i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&meet);
}

/* Start the threads together, wait for them all. */
static void run_threads(void *(*fn)(void *), void *args, size_t arg_size)
{
	pthread_t t[NTHREADS];
	start_threads(t, fn, args, arg_size);
	meet_all();
	join_threads(t);
}

/* ---- the page layout shared by the one-table tests ----
 * Page i is in group i / 64, and the groups lie 20 MiB apart, so they use
 * different last-level tables (and, on 4-level formats, share the upper
 * ones: every walk contends for the same upper entries' A bits). All below
 * 4 GiB so that 32-bit formats take them too. The output frames are a
 * permutation of a contiguous run, so no PA is the VA plus a constant. */

static uint64_t page_va(unsigned i)
{
	return UINT64_C(0x10000000) + (i / 64) * 20 * MiB + (i % 64) * PAGE;
}

static uint64_t page_pa(uint64_t run, unsigned i)
{
	return run + (uint64_t)((i * 37u) % NPAGES) * PAGE;
}

/* The access pattern: page i is touched by every thread unless i % 8 == 7,
 * written by every thread if i % 8 == 0, and by thread (i / 8) % NTHREADS
 * alone if i % 8 == 1. So the expected end state is A exactly on touched
 * pages and D exactly on pages with i % 8 < 2. */
static bool touched(unsigned i)
{
	return i % 8 != 7;
}

static bool written_by(unsigned t, unsigned i)
{
	return i % 8 == 0 || (i % 8 == 1 && (i / 8) % NTHREADS == t);
}

static bool written(unsigned i)
{
	return i % 8 < 2;
}

enum { N_TOUCHED = NPAGES / 8 * 7, N_WRITTEN = NPAGES / 8 * 2 };

/* Pages thread t writes. */
static unsigned n_written_by(unsigned t)
{
	unsigned n = 0;
	for (unsigned i = 0; i < NPAGES; i++)
		n += written_by(t, i);
	return n;
}

/* A format under test and the control state that makes its walker update
 * accessed/dirty bits in table memory. */
struct ad_case {
	const char *name;
	struct physim_mmu_ctl ctl;
	uint32_t flags;
};

/* Intel SDM Vol. 3A 4.8: the processor sets A in every paging-structure
 * entry it uses and D in the leaf on a write. */
static const struct ad_case ad_x86 = {.name = "x86_64-4l", .flags = PHYSIM_R | PHYSIM_W};
/* The same rule with 4-byte descriptors (and no fast walker); without
 * PAE every page is executable (SDM Vol. 3A 4.3). */
static const struct ad_case ad_i386 = {.name = "i386-2l", .flags = PHYSIM_R | PHYSIM_W | PHYSIM_X};
/* SDM Vol. 3C 29.3.5: with EPTP bit 6 the processor sets EPT A/D likewise. */
static const struct ad_case ad_ept = {
    .name = "ept-4l", .ctl = {.ept_ad = true}, .flags = PHYSIM_R | PHYSIM_W};

struct one_table {
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
	struct physim_pt *pt;
	struct physim_pt_format_info info;
	uint64_t run; /* the data frames */
};

static void one_table_init(struct one_table *o, const char *fmt_name, uint32_t flags)
{
	memset(o, 0, sizeof(*o));
	assert_int_equal(
	    physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE},
			      &o->ram),
	    0);
	o->ph = physim_ram_paging_handler(o->ram);
	const struct physim_pt_format *f = physim_format(fmt_name);
	assert_non_null(f);
	physim_format_get_info(f, &o->info);
	assert_int_equal(physim_pt_create(f, o->ph, &o->pt), 0);
	assert_int_equal(physim_ram_alloc_frames(o->ram, NPAGES, PAGE, &o->run), 0);
	for (unsigned i = 0; i < NPAGES; i++)
		assert_int_equal(physim_pt_map(o->pt, page_va(i), page_pa(o->run, i), PAGE, flags),
				 0);
}

static void one_table_fini(struct one_table *o)
{
	physim_pt_destroy(o->pt);
	assert_int_equal(physim_ram_free_frames(o->ram, o->run, NPAGES), 0);
	assert_int_equal(physim_ram_stats(o->ram).used_frames, 0);
	physim_ram_destroy(o->ram);
}

/* ---- many threads translating through one table, A/D updates on ---- */

struct xlate_arg {
	unsigned id;
	struct physim_mmu *mmu; /* shared by all threads */
	struct physim_mmu *s2;	/* nested: stage 2 (shared), mmu is stage 1 */
	struct physim_tlb *tlb; /* this thread's own, or NULL: translate directly */
	uint64_t run;
	struct errors *err;
};

static void check_xlate(struct xlate_arg *a, unsigned i, bool write)
{
	uint64_t off = (i * 0x18u) & (PAGE - 8); /* some offset inside the page */
	struct physim_access acc = {.va = page_va(i) + off, .write = write};
	struct physim_xlate x;
	int rc;
	if (a->s2)
		rc = a->tlb ? physim_tlb_nested_translate(a->tlb, a->mmu, a->s2, &acc, &x)
			    : physim_nested_translate(a->mmu, a->s2, &acc, &x);
	else
		rc = a->tlb ? physim_tlb_translate(a->tlb, a->mmu, &acc, &x)
			    : physim_mmu_translate(a->mmu, &acc, &x);
	if (rc != 0) {
		report(a->err, "thread %u page %u write %d: rc %d (%s)", a->id, i, write, rc,
		       physim_fault_str(&x.fault));
		return;
	}
	if (x.pa != page_pa(a->run, i) + off || x.page_size != PAGE)
		report(a->err, "thread %u page %u: pa %#llx size %#llx, want %#llx", a->id, i,
		       (unsigned long long)x.pa, (unsigned long long)x.page_size,
		       (unsigned long long)(page_pa(a->run, i) + off));
}

static void *xlate_thread(void *p)
{
	struct xlate_arg *a = p;
	/* Threads 0 and 1 start at the same page, 2 and 3 half a table further
	 * on: pairs race for the same leaves' A and D, all for the upper
	 * entries. The main thread checks and clears A/D between repetitions;
	 * then, as a CPU would after software cleared D, this thread flushes
	 * its own TLB. */
	for (unsigned rep = 0; rep < REPS; rep++) {
		if (a->tlb)
			physim_tlb_flush_all(a->tlb);
		meet_all();
		for (unsigned r = 0; r < ROUNDS; r++) {
			for (unsigned k = 0; k < NPAGES; k++) {
				unsigned i = (k + (a->id / 2) * (NPAGES / 2) + r * 17) % NPAGES;
				if (!touched(i))
					continue;
				check_xlate(a, i, false);
				if (written_by(a->id, i))
					check_xlate(a, i, true);
			}
		}
		meet_all();
	}
	return NULL;
}

/* After the threads: A exactly on the touched leaves and D exactly on the
 * written ones (unless the format pre-sets them at map time: then on all). */
static void check_ad(const struct one_table *o)
{
	unsigned n_a = 0, n_d = 0;
	for (unsigned i = 0; i < NPAGES; i++) {
		struct physim_pt_mapping m;
		assert_int_equal(physim_pt_query(o->pt, page_va(i), &m), 0);
		assert_int_equal(m.pa, page_pa(o->run, i));
		bool want_a = o->info.presets_accessed || touched(i);
		bool want_d = o->info.presets_dirty || written(i);
		if (m.accessed != want_a || m.dirty != want_d)
			fail_msg("%s page %u: A %d D %d, want A %d D %d", o->info.name, i,
				 m.accessed, m.dirty, want_a, want_d);
		n_a += m.accessed;
		n_d += m.dirty;
	}
	assert_int_equal(n_a, o->info.presets_accessed ? NPAGES : N_TOUCHED);
	assert_int_equal(n_d, o->info.presets_dirty ? NPAGES : N_WRITTEN);
}

/* Stage 2 of the nested cases: ept-4l with A/D on, mapping the whole RAM
 * guest-physical = host-physical with 2 MiB pages, so the stage-1 table
 * built in RAM is also at its guest-physical address. */
struct stage2 {
	struct physim_pt *pt;
	struct physim_mmu *mmu;
};

static void stage2_init(struct stage2 *s2, const struct one_table *o)
{
	assert_int_equal(physim_pt_create(physim_format("ept-4l"), o->ph, &s2->pt), 0);
	assert_int_equal(physim_pt_map_region(s2->pt, RAM_BASE, RAM_BASE, RAM_SIZE,
					      PHYSIM_R | PHYSIM_W | PHYSIM_X, PHYSIM_ALLOW_HUGE),
			 0);
	assert_int_equal(
	    physim_mmu_create(&(struct physim_mmu_config){.format = physim_pt_format(s2->pt),
							  .mem = o->ph,
							  .root = physim_pt_root(s2->pt),
							  .ctl = {.ept_ad = true}},
			      &s2->mmu),
	    0);
}

/* The stage-2 leaves behind the data pages: accessed where a page was
 * touched, dirty where one was written (SDM Vol. 3C 29.3.5). */
static void stage2_check_fini(struct stage2 *s2, const struct one_table *o)
{
	for (unsigned i = 0; i < NPAGES; i++) {
		struct physim_pt_mapping m;
		assert_int_equal(physim_pt_query(s2->pt, page_pa(o->run, i), &m), 0);
		assert_int_equal(m.size, 2 * MiB);
		if (touched(i))
			assert_true(m.accessed);
		if (written(i))
			assert_true(m.dirty);
	}
	physim_mmu_destroy(s2->mmu);
	physim_pt_destroy(s2->pt);
}

static void translate_shared(const struct ad_case *c, bool own_tlbs, bool nested)
{
	struct one_table o;
	struct stage2 s2 = {0};
	one_table_init(&o, c->name, c->flags);
	assert_false(o.info.presets_accessed); /* else A would prove nothing */
	assert_false(o.info.presets_dirty);
	struct physim_mmu *mmu;
	assert_int_equal(
	    physim_mmu_create(&(struct physim_mmu_config){.format = physim_pt_format(o.pt),
							  .mem = o.ph,
							  .root = physim_pt_root(o.pt),
							  .ctl = c->ctl},
			      &mmu),
	    0);
	if (nested)
		stage2_init(&s2, &o);

	struct errors err = {0};
	struct xlate_arg args[NTHREADS];
	for (unsigned t = 0; t < NTHREADS; t++) {
		args[t] = (struct xlate_arg){
		    .id = t, .mmu = mmu, .s2 = s2.mmu, .run = o.run, .err = &err};
		if (own_tlbs) {
			/* Odd threads check every hit against a fresh walk. */
			struct physim_tlb_config tc = {.entries = 1024, .check_stale = t % 2};
			assert_int_equal(physim_tlb_create(&tc, &args[t].tlb), 0);
		}
	}
	pthread_t th[NTHREADS];
	start_threads(th, xlate_thread, args, sizeof(args[0]));
	for (unsigned rep = 0; rep < REPS; rep++) {
		meet_all(); /* go */
		meet_all(); /* all done: the table is the main thread's again */
		check_ad(&o);
		assert_int_equal(physim_pt_clear_ad(o.pt, page_va(0),
						    page_va(NPAGES - 1) + PAGE - page_va(0), true,
						    true),
				 N_TOUCHED);
	}
	join_threads(th);
	assert_no_errors(&err);

	/* Each TLB, counted (lib/tlb.c): after each repetition's flush, the
	 * first round misses once per touched page for the read and once more
	 * for each write (an entry filled by a read is not dirty-known); the
	 * 64 pages of a group fall in distinct sets and the 4 groups fit the 4
	 * ways, so the later rounds only hit. */
	for (unsigned t = 0; own_tlbs && t < NTHREADS; t++) {
		struct physim_tlb_stats st = physim_tlb_stats(args[t].tlb);
		uint64_t per_round = N_TOUCHED + n_written_by(t);
		assert_int_equal(st.misses, REPS * per_round);
		assert_int_equal(st.hits, REPS * (ROUNDS - 1) * per_round);
		assert_int_equal(st.stale, 0);
		physim_tlb_destroy(args[t].tlb);
	}
	physim_mmu_destroy(mmu);
	if (nested)
		stage2_check_fini(&s2, &o);
	one_table_fini(&o);
}

static void test_translate_one_mmu_x86(void **state)
{
	(void)state;
	translate_shared(&ad_x86, false, false);
}

static void test_translate_one_mmu_i386(void **state)
{
	(void)state;
	translate_shared(&ad_i386, false, false);
}

static void test_translate_one_mmu_ept(void **state)
{
	(void)state;
	translate_shared(&ad_ept, false, false);
}

static void test_translate_own_tlbs_x86(void **state)
{
	(void)state;
	translate_shared(&ad_x86, true, false);
}

static void test_translate_own_tlbs_ept(void **state)
{
	(void)state;
	translate_shared(&ad_ept, true, false);
}

/* x86-64 stage 1 over EPT: both stages' A/D by compare-and-swap. */
static void test_translate_nested(void **state)
{
	(void)state;
	translate_shared(&ad_x86, false, true);
}

static void test_translate_nested_own_tlbs(void **state)
{
	(void)state;
	translate_shared(&ad_x86, true, true);
}

/* ---- many threads querying one table nobody changes ----
 * The leaves carry 16 different attribute sets (flags x global bit), more
 * than fit the query memo's leaf slots, so the threads keep overwriting
 * each other's memo entries while reading them: a torn read of the memo's
 * seqlock would show as wrong flags. Probes (no A/D writes) and iterations
 * (physim_pt_walk) run alongside. */

#define X86_G (UINT64_C(1) << 8) /* SDM Vol. 3A table 4-19: global */

static const uint32_t query_flags[8] = {
    PHYSIM_R,
    PHYSIM_R | PHYSIM_W,
    PHYSIM_R | PHYSIM_X,
    PHYSIM_R | PHYSIM_W | PHYSIM_X,
    PHYSIM_R | PHYSIM_U,
    PHYSIM_R | PHYSIM_W | PHYSIM_U,
    PHYSIM_R | PHYSIM_X | PHYSIM_U,
    PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U,
};

static uint32_t q_flags(unsigned i)
{
	return query_flags[(i * 5) % 8];
}

static uint64_t q_arch(unsigned i)
{
	return (i / 8) % 2 ? X86_G : 0;
}

struct query_arg {
	unsigned id;
	const struct physim_pt *pt;
	const struct physim_mmu *mmu;
	uint64_t run;
	struct errors *err;
};

static void check_query(struct query_arg *a, unsigned i)
{
	struct physim_pt_mapping m;
	uint64_t va = page_va(i) + ((i * 0x40u) & (PAGE - 1));
	int rc = physim_pt_query(a->pt, va, &m);
	if (rc != 0 || m.va != page_va(i) || m.pa != page_pa(a->run, i) || m.size != PAGE ||
	    m.level != 0 || m.flags != q_flags(i) || m.arch != q_arch(i))
		report(a->err,
		       "thread %u page %u: rc %d va %#llx pa %#llx size %#llx flags %#x arch "
		       "%#llx",
		       a->id, i, rc, (unsigned long long)m.va, (unsigned long long)m.pa,
		       (unsigned long long)m.size, m.flags, (unsigned long long)m.arch);
	/* Just past the last page of a group: a hole in a populated table. */
	if (i % 64 == 63 && physim_pt_query(a->pt, page_va(i) + PAGE, &m) != -ENOENT)
		report(a->err, "thread %u: hole after page %u is mapped", a->id, i);
	struct physim_xlate x;
	struct physim_access acc = {.va = va};
	rc = physim_mmu_probe(a->mmu, &acc, &x);
	if (rc != 0 || x.pa != page_pa(a->run, i) + (va & (PAGE - 1)) || x.ad_updated)
		report(a->err, "thread %u page %u: probe rc %d pa %#llx", a->id, i, rc,
		       (unsigned long long)x.pa);
}

/* physim_pt_walk's leaf callback: the leaves come in address order, so
 * the n-th one is page n. */
struct leaf_count {
	struct query_arg *a;
	unsigned n;
};

static int count_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	struct leaf_count *lc = ctx;
	unsigned i = lc->n++;
	if (i >= NPAGES || m->va != page_va(i) || m->pa != page_pa(lc->a->run, i) ||
	    m->flags != q_flags(i))
		return -EINVAL;
	return 0;
}

static void *query_thread(void *p)
{
	struct query_arg *a = p;
	const struct physim_pt_walk_ops ops = {.leaf = count_leaf};
	meet_all();
	for (unsigned r = 0; r < 8 * ROUNDS; r++) {
		for (unsigned k = 0; k < NPAGES; k++)
			check_query(a, (k * 7 + a->id * 61 + r) % NPAGES);
		struct leaf_count lc = {.a = a};
		int rc = physim_pt_walk(a->pt, page_va(0), page_va(NPAGES - 1) + PAGE - page_va(0),
					&ops, &lc);
		if (rc != 0 || lc.n != NPAGES)
			report(a->err, "thread %u: pt_walk %d after %u leaves", a->id, rc, lc.n);
	}
	return NULL;
}

static void test_query_one_table(void **state)
{
	(void)state;
	struct one_table o;
	one_table_init(&o, "x86_64-4l", PHYSIM_R);
	/* Give each leaf its own attributes: unmapped, mapped again with them. */
	for (unsigned i = 0; i < NPAGES; i++) {
		assert_int_equal(physim_pt_unmap(o.pt, page_va(i), NULL), 0);
		struct physim_pt_mapping m = {.va = page_va(i),
					      .pa = page_pa(o.run, i),
					      .size = PAGE,
					      .flags = q_flags(i),
					      .arch = q_arch(i)};
		assert_int_equal(physim_pt_map_ex(o.pt, &m, 0), 0);
	}
	struct physim_mmu *mmu;
	assert_int_equal(
	    physim_mmu_create(&(struct physim_mmu_config){.format = physim_pt_format(o.pt),
							  .mem = o.ph,
							  .root = physim_pt_root(o.pt)},
			      &mmu),
	    0);
	struct errors err = {0};
	struct query_arg args[NTHREADS];
	for (unsigned t = 0; t < NTHREADS; t++)
		args[t] =
		    (struct query_arg){.id = t, .pt = o.pt, .mmu = mmu, .run = o.run, .err = &err};
	run_threads(query_thread, args, sizeof(args[0]));
	assert_no_errors(&err);
	/* Probes set nothing. */
	for (unsigned i = 0; i < NPAGES; i++) {
		struct physim_pt_mapping m;
		assert_int_equal(physim_pt_query(o.pt, page_va(i), &m), 0);
		assert_false(m.accessed);
		assert_false(m.dirty);
	}
	physim_mmu_destroy(mmu);
	one_table_fini(&o);
}

/* ---- threads each changing a table of their own over one RAM ----
 * Each thread runs a seeded sequence of map / unmap / protect on its own
 * table (sharing the RAM's paging handler and allocator with the others),
 * backs each page with a frame it allocates and tags, and checks after each
 * step, against its model, what query and its own TLB (wired to the
 * table's flush hook, as one simulated CPU's would be) say. */

#define SLOTS 96 /* pages across two last-level tables */
#define STEPS 1500

struct own_arg {
	unsigned id;
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
	const char *fmt;
	struct errors *err;
	uint64_t peak_table_frames;
};

struct slot {
	uint64_t pa; /* 0: unmapped */
	uint32_t flags;
};

static uint64_t slot_va(unsigned id, unsigned s)
{
	/* Different VAs per thread too: nothing may depend on them being equal. */
	return UINT64_C(0x40000000) * (id + 1) + 2 * MiB - (SLOTS / 2) * PAGE + s * PAGE;
}

static uint64_t tag_of(unsigned id, unsigned s, uint64_t pa)
{
	return (uint64_t)id << 56 | (uint64_t)s << 40 | pa;
}

/* Query and a TLB translation of slot s agree with the model. */
static void own_check(struct own_arg *a, struct physim_pt *pt, struct physim_mmu *mmu,
		      struct physim_tlb *tlb, const struct slot *sl, unsigned s)
{
	struct physim_pt_mapping m;
	uint64_t va = slot_va(a->id, s);
	int rc = physim_pt_query(pt, va, &m);
	if (sl->pa == 0) {
		if (rc != -ENOENT)
			report(a->err, "thread %u slot %u: query %d, want -ENOENT", a->id, s, rc);
		return;
	}
	if (rc != 0 || m.pa != sl->pa || m.flags != sl->flags) {
		report(a->err, "thread %u slot %u: query %d pa %#llx flags %#x, want %#llx %#x",
		       a->id, s, rc, (unsigned long long)m.pa, m.flags, (unsigned long long)sl->pa,
		       sl->flags);
		return;
	}
	struct physim_access acc = {.va = va + 8, .write = (sl->flags & PHYSIM_W) != 0};
	struct physim_xlate x;
	rc = physim_tlb_translate(tlb, mmu, &acc, &x);
	if (rc != 0 || x.pa != sl->pa + 8) {
		report(a->err, "thread %u slot %u: translate %d pa %#llx", a->id, s, rc,
		       (unsigned long long)x.pa);
		return;
	}
	/* The frame behind the translation is the one this thread tagged. */
	struct physim_direct_map dm = physim_ram_direct_map(a->ram);
	uint64_t tag;
	memcpy(&tag, physim_dm_phys_to_virt(&dm, sl->pa), sizeof(tag));
	if (tag != tag_of(a->id, s, sl->pa))
		report(a->err, "thread %u slot %u: frame %#llx holds tag %#llx", a->id, s,
		       (unsigned long long)sl->pa, (unsigned long long)tag);
	/* A read-only page refuses the write. */
	if (!(sl->flags & PHYSIM_W)) {
		acc.write = true;
		rc = physim_tlb_translate(tlb, mmu, &acc, &x);
		if (rc != -EFAULT || x.fault.kind != PHYSIM_FAULT_PERMISSION)
			report(a->err, "thread %u slot %u: write to read-only page: %d", a->id, s,
			       rc);
	}
}

static void own_step(struct own_arg *a, struct physim_pt *pt, struct slot *slots, uint64_t *seed)
{
	unsigned s = (unsigned)(tc_rand(seed) % SLOTS);
	struct slot *sl = &slots[s];
	uint64_t va = slot_va(a->id, s);
	unsigned op = (unsigned)(tc_rand(seed) % 4);
	uint32_t flags = op == 3 ? PHYSIM_R : PHYSIM_R | PHYSIM_W;
	int rc;

	if (sl->pa == 0) {
		uint64_t pa;
		if ((rc = physim_ram_alloc_frame(a->ram, &pa)) != 0) {
			report(a->err, "thread %u: alloc_frame %d", a->id, rc);
			return;
		}
		struct physim_direct_map dm = physim_ram_direct_map(a->ram);
		uint64_t tag = tag_of(a->id, s, pa);
		memcpy(physim_dm_phys_to_virt(&dm, pa), &tag, sizeof(tag));
		if ((rc = physim_pt_map(pt, va, pa, PAGE, flags)) != 0) {
			report(a->err, "thread %u slot %u: map %d", a->id, s, rc);
			physim_ram_free_frame(a->ram, pa);
			return;
		}
		*sl = (struct slot){.pa = pa, .flags = flags};
	} else if (op < 2) {
		if ((rc = physim_pt_unmap(pt, va, NULL)) != 0 ||
		    (rc = physim_ram_free_frame(a->ram, sl->pa)) != 0)
			report(a->err, "thread %u slot %u: unmap/free %d", a->id, s, rc);
		*sl = (struct slot){0};
	} else {
		if ((rc = physim_pt_protect(pt, va, flags)) != 0)
			report(a->err, "thread %u slot %u: protect %d", a->id, s, rc);
		sl->flags = flags;
	}
}

static void *own_thread(void *p)
{
	struct own_arg *a = p;
	struct physim_tlb *tlb;
	struct physim_pt *pt;
	struct physim_mmu *mmu;
	struct slot slots[SLOTS] = {{0}};
	uint64_t seed = 0x9e3779b97f4a7c15u * (a->id + 1);

	meet_all();

	if (physim_tlb_create(&(struct physim_tlb_config){.check_stale = true}, &tlb) != 0 ||
	    physim_pt_create_ex(&(struct physim_pt_config){.format = physim_format(a->fmt),
							   .paging = a->ph,
							   .flush = physim_tlb_pt_flush,
							   .flush_ctx = tlb},
				&pt) != 0) {
		report(a->err, "thread %u: setup failed", a->id);
		return NULL;
	}
	if (physim_mmu_create(&(struct physim_mmu_config){.format = physim_pt_format(pt),
							  .mem = a->ph,
							  .root = physim_pt_root(pt)},
			      &mmu) != 0) {
		report(a->err, "thread %u: mmu_create failed", a->id);
		return NULL;
	}
	for (unsigned step = 0; step < STEPS; step++) {
		own_step(a, pt, slots, &seed);
		uint64_t tf = physim_pt_table_frames(pt);
		a->peak_table_frames = tf > a->peak_table_frames ? tf : a->peak_table_frames;
		/* Every slot now and then, else a few. */
		unsigned from = step % 100 == 99 ? 0 : (unsigned)(tc_rand(&seed) % SLOTS);
		unsigned to = step % 100 == 99 ? SLOTS : from + 1;
		for (unsigned s = from; s < to; s++)
			own_check(a, pt, mmu, tlb, &slots[s], s);
	}
	for (unsigned s = 0; s < SLOTS; s++) {
		if (slots[s].pa != 0 && physim_ram_free_frame(a->ram, slots[s].pa) != 0)
			report(a->err, "thread %u: free of slot %u", a->id, s);
	}
	if (physim_tlb_stats(tlb).stale != 0)
		report(a->err, "thread %u: %llu stale TLB hits", a->id,
		       (unsigned long long)physim_tlb_stats(tlb).stale);
	physim_mmu_destroy(mmu);
	physim_pt_destroy(pt);
	physim_tlb_destroy(tlb);
	return NULL;
}

static void own_tables(const char *fmt)
{
	struct physim_ram *ram;
	assert_int_equal(physim_ram_create(
			     &(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE}, &ram),
			 0);
	struct errors err = {0};
	struct own_arg args[NTHREADS];
	for (unsigned t = 0; t < NTHREADS; t++)
		args[t] = (struct own_arg){.id = t,
					   .ram = ram,
					   .ph = physim_ram_paging_handler(ram),
					   .fmt = fmt,
					   .err = &err};
	run_threads(own_thread, args, sizeof(args[0]));
	assert_no_errors(&err);
	/* Each table held, at some point, its root, one table per upper level
	 * and both last-level tables (the slots straddle a 2 MiB boundary);
	 * now every frame - tables and data - is back. */
	for (unsigned t = 0; t < NTHREADS; t++)
		assert_true(args[t].peak_table_frames >= 5);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);
	physim_ram_destroy(ram);
}

static void test_own_tables_x86(void **state)
{
	(void)state;
	own_tables("x86_64-4l");
}

static void test_own_tables_sv48(void **state)
{
	(void)state;
	own_tables("sv48");
}

/* ---- threads each with an address space of their own over one RAM ----
 * Lazy areas populated by the guest memory accessor: each thread's frames
 * come from the shared allocator (mm HAL) and its tables from the shared
 * paging handler; what a thread reads back is what it wrote. */

#define AS_PAGES 64
#define AS_REPS	 20
#define AS_GPA	 UINT64_C(0x40000000)

struct as_arg {
	unsigned id;
	struct physim_ram *ram;
	struct errors *err;
};

static uint64_t as_value(unsigned id, unsigned rep, unsigned i)
{
	return (uint64_t)id << 48 | (uint64_t)rep << 32 | i;
}

static void as_round(struct as_arg *a, unsigned rep)
{
	struct physim_aspace *as;
	int rc = physim_aspace_create(
	    &(struct physim_aspace_config){.format = physim_format("ept-4l"),
					   .paging = physim_ram_paging_handler(a->ram),
					   .mm = physim_ram_mm_hal(a->ram),
					   .base = AS_GPA,
					   .size = AS_PAGES * PAGE},
	    &as);
	if (rc == 0)
		rc = physim_aspace_map_alloc(as, AS_GPA, AS_PAGES * PAGE, PHYSIM_R | PHYSIM_W,
					     false);
	if (rc != 0) {
		report(a->err, "thread %u: aspace setup %d", a->id, rc);
		physim_aspace_destroy(as);
		return;
	}
	/* Write every other page, then read all: the others read as zero. */
	for (unsigned i = 0; i < AS_PAGES; i += 2) {
		uint64_t v = as_value(a->id, rep, i);
		if ((rc = physim_guest_write(as, AS_GPA + i * PAGE + 16, &v, sizeof(v))) != 0)
			report(a->err, "thread %u: guest_write page %u: %d", a->id, i, rc);
	}
	for (unsigned i = 0; i < AS_PAGES; i++) {
		uint64_t v = 1, want = i % 2 ? 0 : as_value(a->id, rep, i);
		rc = physim_guest_read(as, AS_GPA + i * PAGE + 16, &v, sizeof(v));
		if (rc != 0 || v != want)
			report(a->err, "thread %u page %u: read %d value %#llx, want %#llx", a->id,
			       i, rc, (unsigned long long)v, (unsigned long long)want);
	}
	struct physim_aspace_stats st = physim_aspace_stats(as);
	if (st.faults_handled != AS_PAGES || st.alloc_frames != AS_PAGES)
		report(a->err, "thread %u: %llu faults handled, %llu frames, want %u", a->id,
		       (unsigned long long)st.faults_handled, (unsigned long long)st.alloc_frames,
		       AS_PAGES);
	physim_aspace_destroy(as);
}

static void *as_thread(void *p)
{
	struct as_arg *a = p;
	meet_all();
	for (unsigned rep = 0; rep < AS_REPS; rep++)
		as_round(a, rep);
	return NULL;
}

static void test_own_aspaces(void **state)
{
	(void)state;
	struct physim_ram *ram;
	assert_int_equal(physim_ram_create(
			     &(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE}, &ram),
			 0);
	struct errors err = {0};
	struct as_arg args[NTHREADS];
	for (unsigned t = 0; t < NTHREADS; t++)
		args[t] = (struct as_arg){.id = t, .ram = ram, .err = &err};
	run_threads(as_thread, args, sizeof(args[0]));
	assert_no_errors(&err);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);
	physim_ram_destroy(ram);
}

/* ---- mark_dirty from other threads while the owner harvests ----
 * The one call aspace.h allows on another thread. Each page is dirtied at
 * most once in the whole run - marked by one marker, or written by the
 * owner through the accessor - while the owner keeps fetching; so a mark
 * that a concurrent fetch dropped would be missing from the union of the
 * fetches. Every page dirtied must come out of exactly the fetches, and no
 * other page. */

#define MARK_PAGES 1024

struct mark_arg {
	unsigned id; /* 0: the owner */
	struct physim_aspace *as;
	uint64_t got[MARK_PAGES / 64]; /* the owner's fetches, ORed */
	unsigned fetched;	       /* pages the fetches reported, summed */
	_Atomic unsigned *at;	       /* the page the owner is at */
	struct errors *err;
};

/* Markers 1..3 mark the pages i % 4 == id; the owner writes the pages
 * i % 8 == 0; the pages i % 8 == 4 stay clean. */
static bool mark_expected(unsigned i)
{
	return i % 8 != 4;
}

static void owner_fetch(struct mark_arg *a)
{
	uint64_t bm[MARK_PAGES / 64] = {0};
	int64_t n = physim_aspace_dirty_log_fetch_clear(a->as, AS_GPA, MARK_PAGES, bm);
	if (n < 0) {
		report(a->err, "owner: fetch %lld", (long long)n);
		return;
	}
	for (unsigned w = 0; w < MARK_PAGES / 64; w++) {
		if (a->got[w] & bm[w])
			report(a->err, "owner: a page of word %u fetched twice", w);
		a->got[w] |= bm[w];
	}
	a->fetched += (unsigned)n;
}

static void *mark_thread(void *p)
{
	struct mark_arg *a = p;
	meet_all();
	for (unsigned i = 0; i < MARK_PAGES; i++) {
		if (a->id != 0) {
			/* Keep pace with the owner, so that marks and fetches
			 * overlap all along. */
			while (atomic_load(a->at) < i)
				sched_yield();
			if (i % 4 == a->id)
				physim_aspace_mark_dirty(a->as, AS_GPA + i * PAGE + 8);
			continue;
		}
		if (i % 8 == 0) {
			uint32_t v = i;
			int rc = physim_guest_write(a->as, AS_GPA + i * PAGE, &v, sizeof(v));
			if (rc != 0)
				report(a->err, "owner: guest_write page %u: %d", i, rc);
		}
		atomic_store(a->at, i + 1);
		owner_fetch(a);
	}
	return NULL;
}

static void test_mark_dirty_while_harvesting(void **state)
{
	(void)state;
	struct physim_ram *ram;
	struct physim_aspace *as;
	assert_int_equal(physim_ram_create(
			     &(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE}, &ram),
			 0);
	assert_int_equal(
	    physim_aspace_create(
		&(struct physim_aspace_config){.format = physim_format("ept-4l"),
					       .paging = physim_ram_paging_handler(ram),
					       .mm = physim_ram_mm_hal(ram),
					       .base = AS_GPA,
					       .size = MARK_PAGES * PAGE},
		&as),
	    0);
	assert_int_equal(
	    physim_aspace_map_alloc(as, AS_GPA, MARK_PAGES * PAGE, PHYSIM_R | PHYSIM_W, true), 0);
	assert_int_equal(physim_aspace_dirty_log_enable(as), 0);
	struct errors err = {0};
	_Atomic unsigned at = 0;
	struct mark_arg args[NTHREADS];
	for (unsigned t = 0; t < NTHREADS; t++)
		args[t] = (struct mark_arg){.id = t, .as = as, .at = &at, .err = &err};
	run_threads(mark_thread, args, sizeof(args[0]));
	assert_no_errors(&err);
	/* What the owner's fetches left: the marks made after the last. */
	owner_fetch(&args[0]);
	assert_no_errors(&err);
	unsigned n = 0;
	for (unsigned i = 0; i < MARK_PAGES; i++) {
		bool got = (args[0].got[i / 64] >> (i % 64)) & 1;
		if (got != mark_expected(i))
			fail_msg("page %u: dirty %d, want %d", i, got, mark_expected(i));
		n += got;
	}
	assert_int_equal(n, MARK_PAGES / 8 * 7);
	assert_int_equal(args[0].fetched, MARK_PAGES / 8 * 7);
	physim_aspace_destroy(as);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);
	physim_ram_destroy(ram);
}

/* ---- accessed-bit sweeps while vCPUs write (pt clear_ad against the
 * walker) ----
 * Writer threads read, then write, every page of their own share through
 * one shared mmu; the walker sets A on the read and D on the write by
 * compare-and-swap. Meanwhile the owner clears A over the whole range again
 * and again (working-set tracking, as a hypervisor does with its vCPUs
 * running). clear_ad rewrites a leaf it saw accessed; a D set by a walker
 * between its read and its write-back must survive. Nobody clears D, so at
 * the end every page must be dirty. */

struct sweep_arg {
	unsigned id;
	struct physim_mmu *mmu;
	uint64_t run;
	_Atomic unsigned *done;
	struct errors *err;
};

static void sweep_access(struct sweep_arg *a, unsigned i, bool write)
{
	struct physim_access acc = {.va = page_va(i) + 8, .write = write};
	struct physim_xlate x;
	int rc = physim_mmu_translate(a->mmu, &acc, &x);
	if (rc != 0 || x.pa != page_pa(a->run, i) + 8)
		report(a->err, "writer %u page %u: rc %d pa %#llx", a->id, i, rc,
		       (unsigned long long)x.pa);
}

static void *sweep_writer(void *p)
{
	struct sweep_arg *a = p;
	meet_all();
	for (unsigned i = a->id; i < NPAGES; i += NTHREADS - 1) {
		sweep_access(a, i, false);
		/* A few more reads: the sweeps clear A meanwhile, so the write
		 * below often finds the leaf accessed and being rewritten. */
		for (unsigned k = 0; k < 4; k++)
			sweep_access(a, i, false);
		sweep_access(a, i, true);
	}
	atomic_fetch_add(a->done, 1);
	return NULL;
}

static void sweep_while_writing(const struct ad_case *c)
{
	struct one_table o;
	one_table_init(&o, c->name, c->flags);
	struct physim_mmu *mmu;
	assert_int_equal(
	    physim_mmu_create(&(struct physim_mmu_config){.format = physim_format(c->name),
							  .mem = o.ph,
							  .root = physim_pt_root(o.pt),
							  .ctl = c->ctl},
			      &mmu),
	    0);
	uint64_t span = page_va(NPAGES - 1) + PAGE - page_va(0);
	for (unsigned rep = 0; rep < 100; rep++) {
		struct errors err = {0};
		_Atomic unsigned done = 0;
		struct sweep_arg args[NTHREADS - 1];
		pthread_t t[NTHREADS - 1];
		/* NTHREADS - 1 writers and this thread meet at the start. */
		assert_int_equal(pthread_barrier_init(&meet, NULL, NTHREADS), 0);
		for (unsigned k = 0; k < NTHREADS - 1; k++) {
			args[k] = (struct sweep_arg){
			    .id = k, .mmu = mmu, .run = o.run, .done = &done, .err = &err};
			assert_int_equal(pthread_create(&t[k], NULL, sweep_writer, &args[k]), 0);
		}
		meet_all();
		for (unsigned i = 0; atomic_load(&done) < NTHREADS - 1; i++) {
			assert_true(physim_pt_clear_ad(o.pt, page_va(0), span, true, false) >= 0);
			/* A query alongside the walkers' A/D updates (pt.h). */
			struct physim_pt_mapping m;
			assert_int_equal(physim_pt_query(o.pt, page_va(i % NPAGES), &m), 0);
			assert_int_equal(m.pa, page_pa(o.run, i % NPAGES));
		}
		for (unsigned k = 0; k < NTHREADS - 1; k++)
			assert_int_equal(pthread_join(t[k], NULL), 0);
		pthread_barrier_destroy(&meet);
		assert_no_errors(&err);
		for (unsigned i = 0; i < NPAGES; i++) {
			struct physim_pt_mapping m;
			assert_int_equal(physim_pt_query(o.pt, page_va(i), &m), 0);
			if (!m.dirty)
				fail_msg("%s rep %u: page %u was written but its D bit is clear",
					 c->name, rep, i);
		}
		/* Clean for the next repetition (nothing runs now). */
		assert_true(physim_pt_clear_ad(o.pt, page_va(0), span, true, true) >= 0);
	}
	physim_mmu_destroy(mmu);
	one_table_fini(&o);
}

static void test_sweep_while_writing_x86(void **state)
{
	(void)state;
	sweep_while_writing(&ad_x86);
}

static void test_sweep_while_writing_ept(void **state)
{
	(void)state;
	sweep_while_writing(&ad_ept);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_translate_one_mmu_x86),
	    cmocka_unit_test(test_translate_one_mmu_i386),
	    cmocka_unit_test(test_translate_one_mmu_ept),
	    cmocka_unit_test(test_translate_own_tlbs_x86),
	    cmocka_unit_test(test_translate_own_tlbs_ept),
	    cmocka_unit_test(test_translate_nested),
	    cmocka_unit_test(test_translate_nested_own_tlbs),
	    cmocka_unit_test(test_query_one_table),
	    cmocka_unit_test(test_own_tables_x86),
	    cmocka_unit_test(test_own_tables_sv48),
	    cmocka_unit_test(test_own_aspaces),
	    cmocka_unit_test(test_mark_dirty_while_harvesting),
	    cmocka_unit_test(test_sweep_while_writing_x86),
	    cmocka_unit_test(test_sweep_while_writing_ept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
