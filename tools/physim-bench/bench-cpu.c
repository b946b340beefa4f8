/* SPDX-License-Identifier: MIT */
/* tools/physim-bench/bench-cpu.c - the cpu area: simulated CPUs (physim/cpu.h)
 * - a hit against a direct-mapped lookup, one invalidation among a million
 * entries against the same among 64, a broadcast to 8 PEs against a local
 * TLBI, the audit per cached entry against one probe, and an INVLPG with
 * audit_on_complete against the same without. */

#include "bench.h"

#include <errno.h>
#include <stdlib.h>

#define CPU_VA	    UINT64_C(0x40000000)
#define HIT_PAGES   64u
#define WIDE_PAGES  4096u /* more than the CPU's 64 front slots */
#define BIG_PCIDS   16u	  /* x 65536 pages = 1,048,576 entries */
#define BIG_PAGES   65536u
#define AUDIT_PAGES 4096u
#define BCAST_CPUS  8u
#define PCIDE	    (UINT64_C(1) << 17)

struct cpu_bench {
	struct physim_ram *ram;
	struct physim_pt *pt;
	struct physim_mmu *mmu;
	struct physim_machine *m;
	struct physim_cpu *c0;
	struct physim_tlb *tlb;
	unsigned npages;
	uint64_t pos, sink;
	/* the mini direct-mapped TLB of the hit peer */
	uint64_t vpn[HIT_PAGES], pa[HIT_PAGES];
};

/* What a case's implementation does. */
enum cpu_what {
	W_HIT,		/* physim_cpu_translate, every access a hit */
	W_MINI,		/* a call + a direct-mapped lookup */
	W_TLB_HIT,	/* physim_tlb_translate, every access a hit */
	W_INVAL_BIG,	/* INVLPG + refill, 1M entries cached */
	W_INVAL_SMALL,	/* the same with 64 entries */
	W_BCAST,	/* TLBI VAE1IS + DSB from CPU 0, 8 CPUs refill */
	W_LOCAL,	/* TLBI VAE1 + DSB, CPU 0 refills */
	W_AUDIT,	/* physim_machine_audit, per entry */
	W_PROBE,	/* physim_mmu_probe, per page */
	W_INVAL_AUDIT,	/* INVLPG + refill, 4096 entries, audit_on_complete */
	W_INVAL_PLAIN,	/* the same without the audit */
	W_HIT_WIDE,	/* physim_cpu_translate, hits over WIDE_PAGES pages */
	W_TLB_HIT_WIDE, /* physim_tlb_translate, the same */
};

struct cpu_data {
	enum cpu_what what;
};

static void cpu_teardown(void *state)
{
	struct cpu_bench *b = state;
	if (b == NULL)
		return;
	physim_machine_destroy(b->m);
	physim_tlb_destroy(b->tlb);
	physim_mmu_destroy(b->mmu);
	physim_pt_destroy(b->pt);
	physim_ram_destroy(b->ram);
	free(b);
}

static int translate_page(struct physim_cpu *c, uint64_t va, uint64_t *sink)
{
	struct physim_xlate x;
	int rc = physim_cpu_translate(c, &(struct physim_access){.va = va}, &x);
	*sink += x.pa;
	return rc;
}

/* Fill CPU c with every page under pcids PCIDs (CR4.PCIDE set). */
static int fill_cpu(struct cpu_bench *b, struct physim_cpu *c, unsigned pcids, bool arm)
{
	for (unsigned p = 0; p < pcids; p++) {
		struct physim_cpu_context ctx = {.s1 = b->mmu,
						 .regime =
						     arm ? PHYSIM_REGIME_GUEST : PHYSIM_REGIME_HOST,
						 .asid = (uint16_t)(arm ? 1 : p)};
		int rc = physim_cpu_set_context(c, &ctx);
		for (unsigned i = 0; rc == 0 && i < b->npages; i++)
			rc = translate_page(c, CPU_VA + i * 4096ull, &b->sink);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int cpu_setup(const void *data, const struct bench_params *p, void **state)
{
	(void)p;
	enum cpu_what w = ((const struct cpu_data *)data)->what;
	bool arm = w == W_BCAST || w == W_LOCAL;
	struct cpu_bench *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	bool wide = w == W_HIT_WIDE || w == W_TLB_HIT_WIDE;
	b->npages = w == W_INVAL_BIG ? BIG_PAGES
		    : wide	     ? WIDE_PAGES
		    : w >= W_AUDIT   ? AUDIT_PAGES
				     : HIT_PAGES;
	const char *fmt = arm ? "aarch64-4k-48" : "x86_64-4l";
	int rc = ram_new(512 * MIB, &b->ram);
	if (rc == 0)
		rc =
		    physim_pt_create(physim_format(fmt), physim_ram_paging_handler(b->ram), &b->pt);
	if (rc == 0)
		rc = physim_pt_map_region(b->pt, CPU_VA, physim_ram_base(b->ram),
					  b->npages * 4096ull, PHYSIM_R | PHYSIM_W, 0);
	if (rc == 0) {
		struct physim_mmu_config mc = {.format = physim_format(fmt),
					       .mem = physim_ram_paging_handler(b->ram),
					       .root = physim_pt_root(b->pt)};
		rc = physim_mmu_create(&mc, &b->mmu);
	}
	if (rc == 0)
		rc = physim_machine_create(
		    &(struct physim_machine_config){.arch = arm ? PHYSIM_ARCH_AARCH64
								: PHYSIM_ARCH_X86_64,
						    .ncpus = arm ? BCAST_CPUS : 1,
						    .audit_on_complete = w == W_INVAL_AUDIT},
		    &b->m);
	if (rc == 0)
		b->c0 = physim_machine_cpu(b->m, 0);
	if (rc == 0 && !arm)
		rc = physim_x86_mov_cr4(physim_machine_cpu(b->m, 0), PCIDE);
	if (rc == 0 && (w == W_TLB_HIT || w == W_TLB_HIT_WIDE))
		rc = physim_tlb_create(&(struct physim_tlb_config){.entries = 4 * WIDE_PAGES},
				       &b->tlb);
	if (rc == 0) {
		unsigned ncpus = physim_machine_ncpus(b->m);
		for (unsigned c = 0; rc == 0 && c < ncpus; c++)
			rc = fill_cpu(b, physim_machine_cpu(b->m, c),
				      w == W_INVAL_BIG ? BIG_PCIDS : 1, arm);
	}
	for (unsigned i = 0; rc == 0 && i < b->npages && (b->tlb || i < HIT_PAGES); i++) {
		uint64_t va = CPU_VA + i * 4096ull;
		if (i < HIT_PAGES) {
			b->vpn[i] = va >> 12;
			b->pa[i] = physim_ram_base(b->ram) + i * 4096ull;
		}
		if (b->tlb) {
			struct physim_xlate x;
			rc = physim_tlb_translate(b->tlb, b->mmu, &(struct physim_access){.va = va},
						  &x);
		}
	}
	if (rc < 0) {
		cpu_teardown(b);
		return rc;
	}
	*state = b;
	return 0;
}

static __attribute__((noinline)) int mini_lookup(const struct cpu_bench *b, uint64_t va,
						 uint64_t *pa)
{
	uint64_t vpn = va >> 12;
	unsigned slot = (unsigned)vpn & (HIT_PAGES - 1);
	if (b->vpn[slot] != vpn)
		return -ENOENT;
	*pa = b->pa[slot] + (va & 0xFFF);
	return 0;
}

static uint64_t next_va(struct cpu_bench *b)
{
	uint64_t va = CPU_VA + (b->pos % b->npages) * 4096ull + 8;
	b->pos++;
	return va;
}

static int run_one(struct cpu_bench *b, enum cpu_what w)
{
	struct physim_cpu *c0 = b->c0;
	uint64_t va = next_va(b);
	struct physim_xlate x;
	int rc = 0;
	switch (w) {
	case W_HIT:
	case W_HIT_WIDE:
		return translate_page(c0, va, &b->sink);
	case W_MINI: {
		uint64_t pa = 0;
		rc = mini_lookup(b, va, &pa);
		b->sink += pa;
		return rc;
	}
	case W_TLB_HIT:
	case W_TLB_HIT_WIDE:
		rc = physim_tlb_translate(b->tlb, b->mmu, &(struct physim_access){.va = va}, &x);
		b->sink += x.pa;
		return rc;
	case W_INVAL_BIG:
	case W_INVAL_SMALL:
	case W_INVAL_AUDIT:
	case W_INVAL_PLAIN:
		rc = physim_x86_invlpg(c0, va);
		return rc ? rc : translate_page(c0, va, &b->sink);
	case W_BCAST:
	case W_LOCAL: {
		uint64_t xt = UINT64_C(1) << 48 | va >> 12;
		rc = physim_arm_tlbi(c0, w == W_BCAST ? PHYSIM_TLBI_VAE1IS : PHYSIM_TLBI_VAE1, xt);
		physim_arm_dsb(c0);
		unsigned n = w == W_BCAST ? BCAST_CPUS : 1;
		for (unsigned c = 0; rc == 0 && c < n; c++)
			rc = translate_page(physim_machine_cpu(b->m, c), va, &b->sink);
		return rc;
	}
	default:
		return -EINVAL;
	}
}

static int cpu_run(void *state, uint64_t nops, enum cpu_what w)
{
	struct cpu_bench *b = state;
	if (w == W_AUDIT) {
		for (uint64_t i = 0; i < nops; i += b->npages) {
			long rc = physim_machine_audit(b->m);
			if (rc != 0)
				return rc < 0 ? (int)rc : -EFAULT;
		}
		return 0;
	}
	if (w == W_PROBE) {
		for (uint64_t i = 0; i < nops; i++) {
			struct physim_xlate x;
			int rc =
			    physim_mmu_probe(b->mmu, &(struct physim_access){.va = next_va(b)}, &x);
			if (rc < 0)
				return rc;
			b->sink += x.pa;
		}
		return 0;
	}
	for (uint64_t i = 0; i < nops; i++) {
		int rc = run_one(b, w);
		if (rc < 0)
			return rc;
	}
	keep(&b->sink);
	return 0;
}

#define RUNNER(name, w)                                                                            \
	static int name(void *state, uint64_t nops)                                                \
	{                                                                                          \
		return cpu_run(state, nops, w);                                                    \
	}
RUNNER(run_hit, W_HIT)
RUNNER(run_mini, W_MINI)
RUNNER(run_tlb_hit, W_TLB_HIT)
RUNNER(run_inval_big, W_INVAL_BIG)
RUNNER(run_inval_small, W_INVAL_SMALL)
RUNNER(run_bcast, W_BCAST)
RUNNER(run_local, W_LOCAL)
RUNNER(run_audit, W_AUDIT)
RUNNER(run_probe, W_PROBE)
RUNNER(run_inval_audit, W_INVAL_AUDIT)
RUNNER(run_inval_plain, W_INVAL_PLAIN)
RUNNER(run_hit_wide, W_HIT_WIDE)
RUNNER(run_tlb_hit_wide, W_TLB_HIT_WIDE)

/* The audit runs whole passes: a fixed batch of one pass per rep. */
static uint64_t audit_ops(const void *state)
{
	return ((const struct cpu_bench *)state)->npages;
}

static void entries_extra(const void *state, struct bench_extras *ex)
{
	const struct cpu_bench *b = state;
	extras_add(ex, "entries", (double)physim_cpu_stats(physim_machine_cpu(b->m, 0)).entries);
}

#define IMPL(var, label, w, runner, extras_fn, fixed_fn)                                           \
	static const struct cpu_data var##_data = {w};                                             \
	static const struct bench_impl var = {.name = label,                                       \
					      .data = &var##_data,                                 \
					      .setup = cpu_setup,                                  \
					      .run = runner,                                       \
					      .teardown = cpu_teardown,                            \
					      .extras = extras_fn,                                 \
					      .fixed_ops = fixed_fn}

IMPL(impl_hit, "physim_cpu_translate (hit)", W_HIT, run_hit, NULL, NULL);
IMPL(peer_mini, "call + direct-mapped lookup", W_MINI, run_mini, NULL, NULL);
IMPL(peer_tlb_hit, "physim_tlb_translate (hit)", W_TLB_HIT, run_tlb_hit, NULL, NULL);
IMPL(impl_inval_big, "INVLPG + refill, 1M entries", W_INVAL_BIG, run_inval_big, entries_extra,
     NULL);
IMPL(peer_inval_small, "INVLPG + refill, 64 entries", W_INVAL_SMALL, run_inval_small, NULL, NULL);
IMPL(impl_bcast, "TLBI VAE1IS + DSB, 8 PEs refill", W_BCAST, run_bcast, NULL, NULL);
IMPL(peer_local, "TLBI VAE1 + DSB, 1 PE refills", W_LOCAL, run_local, NULL, NULL);
IMPL(impl_audit, "physim_machine_audit", W_AUDIT, run_audit, NULL, audit_ops);
IMPL(peer_probe, "physim_mmu_probe", W_PROBE, run_probe, NULL, NULL);
IMPL(impl_inval_audit, "INVLPG + refill, audit_on_complete", W_INVAL_AUDIT, run_inval_audit,
     entries_extra, NULL);
IMPL(peer_inval_plain, "INVLPG + refill, no audit", W_INVAL_PLAIN, run_inval_plain, NULL, NULL);
IMPL(impl_hit_wide, "physim_cpu_translate (hit, 4096 pages)", W_HIT_WIDE, run_hit_wide, NULL, NULL);
IMPL(peer_tlb_hit_wide, "physim_tlb_translate (hit, 4096 pages)", W_TLB_HIT_WIDE, run_tlb_hit_wide,
     NULL, NULL);

static const struct bench_case cpu_rows[] = {
    {.group = "cpu",
     .name = "cpu_hit/x86_64-4l",
     .impl = &impl_hit,
     .peers = {&peer_mini, &peer_tlb_hit},
     .unit = "translate"},
    /* the same over more pages than the front cache holds: the store's
       own lookup (hash, tag chain) on every hit */
    {.group = "cpu",
     .name = "cpu_hit_wide/x86_64-4l",
     .impl = &impl_hit_wide,
     .peers = {&peer_tlb_hit_wide},
     .unit = "translate"},
    {.group = "cpu",
     .name = "cpu_inval_va_1m/x86_64-4l",
     .impl = &impl_inval_big,
     .peers = {&peer_inval_small},
     .full_only = true,
     .unit = "invalidate + refill"},
    {.group = "cpu",
     .name = "cpu_broadcast_8/aarch64-4k-48",
     .impl = &impl_bcast,
     .peers = {&peer_local},
     .unit = "invalidate + refills"},
    {.group = "cpu",
     .name = "cpu_audit/x86_64-4l",
     .impl = &impl_audit,
     .peers = {&peer_probe},
     .unit = "entry"},
    {.group = "cpu",
     .name = "cpu_audit_complete/x86_64-4l",
     .impl = &impl_inval_audit,
     .peers = {&peer_inval_plain},
     .unit = "invalidate + refill"},
};

static int cpu_add(struct bench_list *l)
{
	return bench_add_rows(l, cpu_rows, sizeof(cpu_rows) / sizeof(cpu_rows[0]));
}

const struct bench_area bench_area_cpu = {.name = "cpu", .add = cpu_add};
