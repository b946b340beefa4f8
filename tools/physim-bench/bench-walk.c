/* SPDX-License-Identifier: MIT */
/* tools/physim-bench/bench-walk.c - the walk area: the walker (translate and
 * probe) and the TLB (hit and miss), against dependent-load chains and a bare
 * direct-mapped lookup. */

#include "bench-pt.h"

#include <errno.h>
#include <stdlib.h>

/*
 * walk_translate, tlb_miss and tlb_hit use the page-table area's query
 * fixture (a region of 4 KiB pages mapped at PT_VA to the RAM's base, and an
 * address sequence), so that the 4-load chain peer reads the same tables in
 * the same order. Every access is a supervisor read. Before anything is
 * timed, setup translates every page of the region once: x86 sets A in every
 * entry a walk uses, so after that pass no translation writes back (the
 * other formats map with A / AF already set). The implementations count
 * write-backs during the runs all the same and report them (expected: 0).
 */

#define TLB_HIT_PAGES 64u /* tlb_hit working set; the TLB holds 1024 */

/* The tlb_hit peer: the least a software TLB hit can do. One call the
 * compiler may not inline (physim_tlb_translate is an ordinary call into the
 * library too), a direct-mapped set index, one tag compare and the page
 * offset added to the cached page address. It holds exactly the working set,
 * so it never misses, and it fills no result struct, checks no access
 * class and keeps no statistics: a floor for a hit, not a rival TLB. */
struct mini_tlb {
	uint64_t vpn[TLB_HIT_PAGES]; /* va >> 12; the slot is its low bits */
	uint64_t pa[TLB_HIT_PAGES];  /* page address */
};

static __attribute__((noinline)) int mini_tlb_lookup(const struct mini_tlb *t, uint64_t va,
						     uint64_t *pa)
{
	uint64_t vpn = va >> 12;
	unsigned slot = (unsigned)vpn & (TLB_HIT_PAGES - 1);
	if (t->vpn[slot] != vpn)
		return -ENOENT;
	*pa = t->pa[slot] + (va & ~PAGE_MASK);
	return 0;
}

struct walk_bench {
	struct pt_fixture *fx;
	struct physim_mmu *mmu;
	struct physim_tlb *tlb;
	struct mini_tlb *mini;
	int (*run)(struct walk_bench *b, uint64_t nops);
	uint64_t pos, sink;
	uint64_t ad_updates;	      /* translations that wrote A/D, since setup */
	struct physim_tlb_stats base; /* TLB statistics at the end of setup */
};

/* What an implementation calls per address, and the setup it needs. */
struct walk_kind {
	int (*run)(struct walk_bench *b, uint64_t nops);
	bool tlb;  /* a TLB of the default size (1024 entries) */
	bool warm; /* fill the TLB (or the mini TLB) with the region's pages */
	bool mini; /* the tlb_hit peer */
};

/* One physim call per address with the translated page summed into sink.
 * Instantiated with a constant xl, so the call is direct. */
typedef int (*walk_xl_fn)(struct walk_bench *b, const struct physim_access *acc,
			  struct physim_xlate *x);

static inline int walk_loop(struct walk_bench *b, uint64_t nops, walk_xl_fn xl)
{
	const struct pt_fixture *fx = b->fx;
	uint64_t pos = b->pos, sink = 0, ad = 0;
	for (uint64_t i = 0; i < nops; i++) {
		struct physim_access acc = {.va = query_next(fx, &pos)};
		struct physim_xlate x;
		int rc = xl(b, &acc, &x);
		if (rc < 0)
			return rc;
		sink += x.pa & PAGE_MASK;
		ad += x.ad_updated;
	}
	b->pos = pos;
	b->sink += sink;
	b->ad_updates += ad;
	return 0;
}

static inline int xl_translate(struct walk_bench *b, const struct physim_access *acc,
			       struct physim_xlate *x)
{
	return physim_mmu_translate(b->mmu, acc, x);
}

static inline int xl_probe(struct walk_bench *b, const struct physim_access *acc,
			   struct physim_xlate *x)
{
	return physim_mmu_probe(b->mmu, acc, x);
}

static inline int xl_tlb(struct walk_bench *b, const struct physim_access *acc,
			 struct physim_xlate *x)
{
	return physim_tlb_translate(b->tlb, b->mmu, acc, x);
}

static int walk_run_translate(struct walk_bench *b, uint64_t nops)
{
	return walk_loop(b, nops, xl_translate);
}

static int walk_run_probe(struct walk_bench *b, uint64_t nops)
{
	return walk_loop(b, nops, xl_probe);
}

static int walk_run_tlb(struct walk_bench *b, uint64_t nops)
{
	return walk_loop(b, nops, xl_tlb);
}

static int walk_run_mini(struct walk_bench *b, uint64_t nops)
{
	const struct pt_fixture *fx = b->fx;
	const struct mini_tlb *t = b->mini;
	uint64_t pos = b->pos, sink = 0;
	for (uint64_t i = 0; i < nops; i++) {
		uint64_t pa;
		int rc = mini_tlb_lookup(t, query_next(fx, &pos), &pa);
		if (rc < 0)
			return rc;
		sink += pa & PAGE_MASK;
	}
	b->pos = pos;
	b->sink += sink;
	return 0;
}

/* The fixture maps PT_VA + off to the RAM's base + off: the expected page of
 * an address, independent of every walker. */
static inline uint64_t walk_expected_page(const struct pt_fixture *fx, uint64_t va)
{
	return (physim_ram_base(fx->env.ram) + (va - fx->va)) & PAGE_MASK;
}

/* Translate every page of the region once (x86 sets its A bits), checking
 * each result against the linear mapping; then one more translation must
 * have walked all levels and written nothing back. -EIO if not. */
static int walk_touch_all(struct walk_bench *b)
{
	const struct pt_fixture *fx = b->fx;
	struct physim_xlate x;
	for (uint64_t off = 0; off < fx->key.region; off += PT_PAGE_SIZE) {
		struct physim_access acc = {.va = fx->va + off};
		int rc = physim_mmu_translate(b->mmu, &acc, &x);
		if (rc < 0)
			return rc;
		if (x.pa != walk_expected_page(fx, acc.va))
			return -EIO;
	}
	struct physim_access acc = {.va = fx->va};
	int rc = physim_mmu_translate(b->mmu, &acc, &x);
	if (rc == 0 && (x.mem_refs != fx->env.info.levels || x.ad_updated))
		rc = -EIO;
	return rc;
}

/* Fill the TLB (or the mini TLB) with the region's pages. */
static int walk_warm(struct walk_bench *b)
{
	const struct pt_fixture *fx = b->fx;
	uint64_t npages = fx->key.region / PT_PAGE_SIZE;
	if (b->mini != NULL && npages != TLB_HIT_PAGES)
		return -EINVAL;
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t va = fx->va + i * PT_PAGE_SIZE;
		if (b->mini != NULL) {
			unsigned slot = (unsigned)(va >> 12) & (TLB_HIT_PAGES - 1);
			b->mini->vpn[slot] = va >> 12;
			b->mini->pa[slot] = walk_expected_page(fx, va);
			continue;
		}
		struct physim_access acc = {.va = va};
		struct physim_xlate x;
		int rc = physim_tlb_translate(b->tlb, b->mmu, &acc, &x);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The run must find the expected pages for the first addresses of the
 * sequence (-EIO if not). */
static int walk_check(struct walk_bench *b)
{
	const struct pt_fixture *fx = b->fx;
	uint64_t n = fx->n < PT_CHECKS ? fx->n : PT_CHECKS, pos = 0, want = 0;
	for (uint64_t i = 0; i < n; i++)
		want += walk_expected_page(fx, query_next(fx, &pos));
	int rc = b->run(b, n);
	if (rc == 0 && b->sink != want)
		rc = -EIO;
	b->pos = 0;
	b->sink = 0;
	return rc;
}

static void walk_teardown(void *state)
{
	struct walk_bench *b = state;
	keep(&b->sink);
	physim_tlb_destroy(b->tlb);
	physim_mmu_destroy(b->mmu);
	free(b->mini);
	if (b->fx != NULL)
		fixture_put(b->fx);
	free(b);
}

static int walk_prepare(struct walk_bench *b, const struct walk_kind *k)
{
	const struct pt_fixture *fx = b->fx;
	struct physim_mmu_config mc = {
	    .format = physim_pt_format(fx->env.pt), .mem = fx->env.ph, .root = fx->root};
	int rc = physim_mmu_create(&mc, &b->mmu);
	if (rc == 0)
		rc = walk_touch_all(b);
	if (rc == 0 && k->tlb)
		rc = physim_tlb_create(NULL, &b->tlb);
	if (rc == 0 && k->mini)
		rc = (b->mini = calloc(1, sizeof(*b->mini))) ? 0 : -ENOMEM;
	if (rc == 0 && k->warm)
		rc = walk_warm(b);
	if (rc == 0)
		rc = walk_check(b);
	return rc;
}

static int walk_setup(const void *data, const struct bench_params *p, void **state)
{
	const struct walk_kind *k = data;
	struct walk_bench *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->run = k->run;
	int rc = fixture_get(p, &b->fx);
	if (rc == 0)
		rc = walk_prepare(b, k);
	if (rc < 0) {
		walk_teardown(b);
		return rc;
	}
	b->ad_updates = 0;
	b->base = physim_tlb_stats(b->tlb);
	*state = b;
	return 0;
}

static int walk_run(void *state, uint64_t nops)
{
	struct walk_bench *b = state;
	return b->run(b, nops);
}

/* A timed run is one pass over the whole sequence. */
static uint64_t walk_ops(const void *state)
{
	return ((const struct walk_bench *)state)->fx->n;
}

static void walk_extras(const void *state, struct bench_extras *ex)
{
	const struct walk_bench *b = state;
	extras_add(ex, "addresses", (double)b->fx->n);
	if (b->mini != NULL)
		return;
	extras_add(ex, "ad_writebacks", (double)b->ad_updates);
	if (b->tlb != NULL) {
		struct physim_tlb_stats st = physim_tlb_stats(b->tlb);
		double hits = (double)(st.hits - b->base.hits);
		double all = hits + (double)(st.misses - b->base.misses);
		extras_add(ex, "tlb_hit_rate", all > 0 ? hits / all : 0);
	}
}

/* ---- implementations and the case table ---- */

static const struct walk_kind walk_translate = {.run = walk_run_translate};
static const struct walk_kind walk_probe = {.run = walk_run_probe};
static const struct walk_kind walk_tlb_cold = {.run = walk_run_tlb, .tlb = true};
static const struct walk_kind walk_tlb_warm = {.run = walk_run_tlb, .tlb = true, .warm = true};
static const struct walk_kind walk_mini = {.run = walk_run_mini, .warm = true, .mini = true};
static const struct bench_impl impl_mmu_translate = {
    .name = "physim_mmu_translate",
    .data = &walk_translate,
    .setup = walk_setup,
    .run = walk_run,
    .teardown = walk_teardown,
    .extras = walk_extras,
    .fixed_ops = walk_ops,
};
static const struct bench_impl peer_mmu_probe = {
    .name = "physim_mmu_probe",
    .data = &walk_probe,
    .setup = walk_setup,
    .run = walk_run,
    .teardown = walk_teardown,
    .fixed_ops = walk_ops,
};
/* tlb_miss: peer 0 the limit of the walk, peer 1 the walk without a TLB. */
static const struct bench_impl impl_tlb_miss = {
    .name = "physim_tlb_translate",
    .data = &walk_tlb_cold,
    .setup = walk_setup,
    .run = walk_run,
    .teardown = walk_teardown,
    .extras = walk_extras,
    .fixed_ops = walk_ops,
};
static const struct bench_impl peer_mmu_translate = {
    .name = "physim_mmu_translate (no TLB)",
    .data = &walk_translate,
    .setup = walk_setup,
    .run = walk_run,
    .teardown = walk_teardown,
    .fixed_ops = walk_ops,
};
/* tlb_hit: a short sequence over 64 pages, repeated; batches calibrated. */
static const struct bench_impl impl_tlb_hit = {
    .name = "physim_tlb_translate",
    .data = &walk_tlb_warm,
    .setup = walk_setup,
    .run = walk_run,
    .teardown = walk_teardown,
    .extras = walk_extras,
};
static const struct bench_impl peer_mini_tlb = {
    .name = "call + direct-mapped lookup",
    .data = &walk_mini,
    .setup = walk_setup,
    .run = walk_run,
    .teardown = walk_teardown,
};

/* Addresses in a sequence, and --quick's smaller number. */
#define WALK_QUERIES	   4000000u
#define WALK_QUICK_QUERIES 250000u
#define TLB_HIT_QUERIES	   4096u

/* The formats the chain peer is written for (4 levels of 512 entries). */
static const struct bench_format walk_formats[] = {
    {.s1 = "x86_64-4l"},
    {.s1 = "aarch64-4k-48"},
    {.s1 = "sv48"},
};

/* Per format, these rows in this order ('*': the format). */
static const struct bench_case walk_rows[] = {
    {.group = "walk",
     .name = "walk_translate/*",
     .params = {.region = 1 * GIB, .nqueries = WALK_QUERIES, .quick_nqueries = WALK_QUICK_QUERIES},
     .impl = &impl_mmu_translate,
     .peers = {&peer_pt_chain, &peer_mmu_probe},
     .unit = "translate"},
    {.group = "walk",
     .name = "tlb_hit/*",
     .params = {.region = TLB_HIT_PAGES * PT_PAGE_SIZE, .nqueries = TLB_HIT_QUERIES},
     .impl = &impl_tlb_hit,
     .peers = {&peer_mini_tlb},
     .unit = "lookup"},
    {.group = "walk",
     .name = "tlb_miss/*",
     .params = {.region = 1 * GIB, .nqueries = WALK_QUERIES, .quick_nqueries = WALK_QUICK_QUERIES},
     .impl = &impl_tlb_miss,
     .peers = {&peer_pt_chain, &peer_mmu_translate},
     .unit = "lookup"},
};

/* 52-bit AArch64 (LPA2, 5 levels): no peer (the goals' peer 0 is the
 * 4-load chain, written for 4 levels); compare with pt_query_rand. */
static const struct bench_format walk_formats_52[] = {
    {.s1 = "aarch64-4k-52"},
};
static const struct bench_case walk_rows_52[] = {
    {.group = "walk",
     .name = "walk_translate/*",
     .params = {.region = 1 * GIB, .nqueries = WALK_QUERIES, .quick_nqueries = WALK_QUICK_QUERIES},
     .impl = &impl_mmu_translate,
     .unit = "translate"},
};

static int walk_add(struct bench_list *l)
{
	int rc = bench_add_per_format(l, walk_rows, sizeof(walk_rows) / sizeof(walk_rows[0]),
				      walk_formats, sizeof(walk_formats) / sizeof(walk_formats[0]));
	if (rc == 0)
		rc = bench_add_per_format(
		    l, walk_rows_52, sizeof(walk_rows_52) / sizeof(walk_rows_52[0]),
		    walk_formats_52, sizeof(walk_formats_52) / sizeof(walk_formats_52[0]));
	return rc;
}

const struct bench_area bench_area_walk = {.name = "walk", .add = walk_add};
