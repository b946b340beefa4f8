/* SPDX-License-Identifier: MIT */
/* tests/test_cpu_threads.c - simulated CPUs driven from their own threads
 * while another CPU broadcasts invalidations (AArch64 TLBI ...IS + DSB,
 * RISC-V SBI RFENCE): every broadcast reaches every target, and nothing
 * races, break-before-make checks at the receivers and the front cache of
 * recent pages included (CI runs this under ThreadSanitizer). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <physim/cpu.h>
#include <physim/ram.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define MiB	 UINT64_C(0x100000)
#define RAM_BASE UINT64_C(0x80000000)
#define RAM_SIZE (16 * MiB)
#define VA0	 UINT64_C(0x400000)
#define NPAGES	 64u
#define NCPUS	 4u
#define ROUNDS	 200u

struct shared {
	struct physim_machine *m;
	struct physim_mmu *mmu;
	enum physim_arch arch;
	pthread_barrier_t bar;
	uint64_t pa0;
	int bad[NCPUS];	      /* wrong translations seen by each worker */
	uint64_t left[NCPUS]; /* entries each worker holds at the end */
};

struct worker {
	struct shared *s;
	unsigned idx;
};

static int count_entry(void *ctx, const struct physim_cpu_entry *e)
{
	(void)e;
	(*(uint64_t *)ctx)++;
	return 0;
}

static void translate_all(struct shared *s, struct physim_cpu *c, unsigned idx)
{
	for (unsigned p = 0; p < NPAGES; p++) {
		struct physim_xlate x;
		struct physim_access a = {.va = VA0 + p * 4096ull, .user = true};
		if (physim_cpu_translate(c, &a, &x) != 0 || x.pa != s->pa0 + p * 4096ull)
			s->bad[idx]++;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *s = w->s;
	struct physim_cpu *c = physim_machine_cpu(s->m, w->idx);
	struct physim_cpu_context ctx = {
	    .s1 = s->mmu,
	    .regime = s->arch == PHYSIM_ARCH_AARCH64 ? PHYSIM_REGIME_GUEST : PHYSIM_REGIME_HOST,
	    .asid = 1};
	if (physim_cpu_set_context(c, &ctx) != 0)
		s->bad[w->idx]++;
	translate_all(s, c, w->idx);
	pthread_barrier_wait(&s->bar); /* 1: filled */
	for (unsigned r = 0; r < ROUNDS; r++)
		translate_all(s, c, w->idx); /* while CPU 0 invalidates */
	pthread_barrier_wait(&s->bar);	     /* 2: phase 2 over */
	pthread_barrier_wait(&s->bar);	     /* 3: CPU 0 flushed everything */
	physim_cpu_for_each_entry(c, count_entry, &s->left[w->idx]);
	/* and the next access walks: nothing (the front cache of recent
	 * pages included) still serves a hit */
	uint64_t misses = physim_cpu_stats(c).misses;
	struct physim_xlate x;
	struct physim_access a = {.va = VA0, .user = true};
	if (physim_cpu_translate(c, &a, &x) != 0 || physim_cpu_stats(c).misses != misses + 1)
		s->bad[w->idx]++;
	return NULL;
}

/* CPU 0's part: page-by-page broadcasts during phase 2, a full one after. */
static void issuer(struct shared *s, struct physim_cpu *c0)
{
	for (unsigned r = 0; r < ROUNDS / 10; r++) {
		for (unsigned p = 0; p < NPAGES; p++) {
			uint64_t va = VA0 + p * 4096ull;
			if (s->arch == PHYSIM_ARCH_AARCH64) {
				assert_int_equal(physim_arm_tlbi(c0, PHYSIM_TLBI_VAAE1IS, va >> 12),
						 0);
				if (p % 8 == 7)
					physim_arm_dsb(c0);
			} else {
				assert_int_equal(physim_sbi_rfence(c0, PHYSIM_SBI_REMOTE_SFENCE_VMA,
								   0, ~0UL, va, 4096, 0),
						 0);
			}
		}
	}
}

static void run(enum physim_arch arch, const char *fmt, uint64_t nonglobal, bool check_bbm,
		bool check_stale)
{
	struct physim_ram *ram;
	assert_int_equal(physim_ram_create(
			     &(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE}, &ram),
			 0);
	const struct physim_paging_handler *ph = physim_ram_paging_handler(ram);
	struct physim_pt *pt;
	assert_int_equal(physim_pt_create(physim_format(fmt), ph, &pt), 0);
	struct shared s = {.arch = arch, .pa0 = RAM_BASE + 4 * MiB};
	for (unsigned p = 0; p < NPAGES; p++) {
		struct physim_pt_mapping mp = {.va = VA0 + p * 4096ull,
					       .pa = s.pa0 + p * 4096ull,
					       .size = 4096,
					       .flags = PHYSIM_R | PHYSIM_W | PHYSIM_U,
					       .arch = nonglobal};
		assert_int_equal(physim_pt_map_ex(pt, &mp, 0), 0);
	}
	struct physim_mmu_config mc = {
	    .format = physim_format(fmt), .mem = ph, .root = physim_pt_root(pt)};
	assert_int_equal(physim_mmu_create(&mc, &s.mmu), 0);
	assert_int_equal(
	    physim_machine_create(&(struct physim_machine_config){.arch = arch,
								  .ncpus = NCPUS,
								  .check_stale = check_stale,
								  .check_bbm = check_bbm},
				  &s.m),
	    0);
	assert_int_equal(pthread_barrier_init(&s.bar, NULL, NCPUS), 0);
	struct physim_cpu *c0 = physim_machine_cpu(s.m, 0);
	assert_int_equal(physim_cpu_set_context(
			     c0, &(struct physim_cpu_context){.s1 = s.mmu,
							      .regime = arch == PHYSIM_ARCH_AARCH64
									    ? PHYSIM_REGIME_GUEST
									    : PHYSIM_REGIME_HOST,
							      .asid = 1}),
			 0);
	pthread_t th[NCPUS];
	struct worker w[NCPUS];
	for (unsigned i = 1; i < NCPUS; i++) {
		w[i] = (struct worker){.s = &s, .idx = i};
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	translate_all(&s, c0, 0);
	pthread_barrier_wait(&s.bar); /* 1 */
	issuer(&s, c0);
	if (arch == PHYSIM_ARCH_AARCH64)
		physim_arm_dsb(c0);
	pthread_barrier_wait(&s.bar); /* 2 */
	if (arch == PHYSIM_ARCH_AARCH64) {
		assert_int_equal(physim_arm_tlbi(c0, PHYSIM_TLBI_VMALLE1IS, 0), 0);
		physim_arm_dsb(c0);
	} else {
		assert_int_equal(
		    physim_sbi_rfence(c0, PHYSIM_SBI_REMOTE_SFENCE_VMA, 0, ~0UL, 0, 0, 0), 0);
	}
	pthread_barrier_wait(&s.bar); /* 3 */
	for (unsigned i = 1; i < NCPUS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	physim_cpu_for_each_entry(c0, count_entry, &s.left[0]);
	for (unsigned i = 0; i < NCPUS; i++) {
		assert_int_equal(s.bad[i], 0);
		assert_int_equal(s.left[i], 0);
		assert_int_equal(physim_cpu_stats(physim_machine_cpu(s.m, i)).stale, 0);
	}
	pthread_barrier_destroy(&s.bar);
	physim_machine_destroy(s.m);
	physim_mmu_destroy(s.mmu);
	physim_pt_destroy(pt);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);
	physim_ram_destroy(ram);
}

static void test_arm_broadcast(void **state)
{
	(void)state;
	run(PHYSIM_ARCH_AARCH64, "aarch64-4k-48", UINT64_C(1) << 11, false, true);
}

/* Without check_stale, hits come from each CPU's front cache of recent
 * pages, which the broadcasts applied on the worker's thread must empty. */
static void test_arm_broadcast_front(void **state)
{
	(void)state;
	run(PHYSIM_ARCH_AARCH64, "aarch64-4k-48", UINT64_C(1) << 11, false, false);
}

/* The same with break-before-make checked: each receiver checks the
 * entries a broadcast removes against the snapshot its issuer took at the
 * DSB, on the receiver's own thread (no report: the tables do not change). */
static void test_arm_broadcast_bbm(void **state)
{
	(void)state;
	run(PHYSIM_ARCH_AARCH64, "aarch64-4k-48", UINT64_C(1) << 11, true, true);
}

static void test_rv_sbi_broadcast(void **state)
{
	(void)state;
	run(PHYSIM_ARCH_RISCV64, "sv48", 0, false, true);
}

static void test_rv_sbi_broadcast_front(void **state)
{
	(void)state;
	run(PHYSIM_ARCH_RISCV64, "sv48", 0, false, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arm_broadcast),
	    cmocka_unit_test(test_arm_broadcast_bbm),
	    cmocka_unit_test(test_rv_sbi_broadcast),
	    cmocka_unit_test(test_arm_broadcast_front),
	    cmocka_unit_test(test_rv_sbi_broadcast_front),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
