/* SPDX-License-Identifier: MIT */
/* tools/physim-bench/bench-pt.c - the page-table area: map / unmap of a
 * region, random and sequential queries, against a plain C walker and the
 * 4-dependent-load limit. */

#include "bench-pt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- a table in a RAM ---- */

void pt_env_close(struct pt_env *e)
{
	physim_pt_destroy(e->pt);
	physim_ram_destroy(e->ram);
	*e = (struct pt_env){0};
}

int pt_env_open(const struct bench_params *p, struct pt_env *e)
{
	const struct physim_pt_format *fmt = physim_format(p->format);
	*e = (struct pt_env){0};
	if (fmt == NULL)
		return -ENOTSUP; /* family not compiled in (-Darchs) */
	physim_format_get_info(fmt, &e->info);
	int rc = ram_new(PT_RAM_SIZE, &e->ram);
	if (rc < 0)
		return rc;
	e->ph = physim_ram_paging_handler(e->ram);
	rc = physim_pt_create(fmt, e->ph, &e->pt);
	if (rc < 0)
		pt_env_close(e);
	return rc;
}

static int pt_env_map(struct pt_env *e, uint64_t size, unsigned opts)
{
	return physim_pt_map_region(e->pt, PT_VA, physim_ram_base(e->ram), size, PT_FLAGS, opts);
}

/* ---- map_region and unmap_region: one is timed, the other resets ---- */

struct region_kind {
	bool timed_map; /* else the unmap is timed */
};

struct region_bench {
	const struct region_kind *kind;
	struct pt_env env;
	uint64_t size;
	unsigned opts;
	bool mapped;
	uint64_t ops;	       /* pages (4 KiB) or GiB (huge) per region */
	uint64_t empty_frames; /* table frames with nothing mapped (the root) */
	uint64_t table_frames; /* while mapped, root included */
};

static void region_teardown(void *state)
{
	struct region_bench *b = state;
	pt_env_close(&b->env);
	free(b);
}

/* Maps once (which also checks that the region can be mapped) and leaves
 * it mapped; the first reset of a timed map unmaps it again. */
static int region_setup(const void *data, const struct bench_params *p, void **state)
{
	struct region_bench *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->kind = data;
	b->size = p->region;
	b->opts = p->huge ? PHYSIM_ALLOW_HUGE : 0;
	b->ops = p->region / (p->huge ? GIB : PT_PAGE_SIZE);
	int rc = b->ops ? pt_env_open(p, &b->env) : -EINVAL;
	if (rc == 0) {
		b->empty_frames = physim_pt_table_frames(b->env.pt);
		rc = pt_env_map(&b->env, b->size, b->opts);
	}
	if (rc < 0) {
		region_teardown(b);
		return rc;
	}
	b->mapped = true;
	b->table_frames = physim_pt_table_frames(b->env.pt);
	*state = b;
	return 0;
}

static int region_map(struct region_bench *b)
{
	int rc = pt_env_map(&b->env, b->size, b->opts);
	b->mapped = rc == 0;
	return rc;
}

static int region_unmap(struct region_bench *b)
{
	int rc = physim_pt_unmap_region(b->env.pt, PT_VA, b->size);
	b->mapped = rc != 0;
	return rc;
}

/* The table holds what the last operation should have left (-EIO if not):
 * the frame count, and the first and last page mapped or not. */
static int region_verify(const struct region_bench *b)
{
	const struct physim_pt *pt = b->env.pt;
	uint64_t last = PT_VA + b->size - 1;
	int want = b->mapped ? 0 : -ENOENT;
	bool ok = physim_pt_table_frames(pt) == (b->mapped ? b->table_frames : b->empty_frames) &&
		  physim_pt_query(pt, PT_VA, NULL) == want &&
		  physim_pt_query(pt, last, NULL) == want;
	return ok ? 0 : -EIO;
}

/* Untimed: check what the last timed run did, then bring the table to the
 * state the timed operation starts from. */
static int region_reset(void *state)
{
	struct region_bench *b = state;
	int rc = region_verify(b);
	if (rc < 0)
		return rc;
	if (b->kind->timed_map)
		return b->mapped ? region_unmap(b) : 0;
	return b->mapped ? 0 : region_map(b);
}

/* One whole region per run: nops is always region_ops (fixed_ops). */
static int region_run(void *state, uint64_t nops)
{
	struct region_bench *b = state;
	(void)nops;
	return b->kind->timed_map ? region_map(b) : region_unmap(b);
}

static uint64_t region_ops(const void *state)
{
	return ((const struct region_bench *)state)->ops;
}

static void region_extras(const void *state, struct bench_extras *ex)
{
	extras_add(ex, "table_frames", (double)((const struct region_bench *)state)->table_frames);
}

/* ---- queries: one table and one address sequence, shared ---- */

static struct pt_fixture pt_shared;

static bool fixture_matches(const struct pt_fixture *fx, const struct bench_params *p)
{
	return strcmp(fx->key.format, p->format) == 0 && fx->key.region == p->region &&
	       fx->key.nqueries == p->nqueries && fx->key.sequential == p->sequential;
}

void fixture_put(struct pt_fixture *fx)
{
	if (--fx->users > 0)
		return;
	free(fx->offs);
	pt_env_close(&fx->env);
	*fx = (struct pt_fixture){0};
}

void make_offsets(uint32_t *offs, uint64_t n, const struct bench_params *p)
{
	uint64_t seed = UINT64_C(0x9a6e7ab1e), npages = p->region / PT_PAGE_SIZE;
	for (uint64_t i = 0; i < n; i++)
		offs[i] = (uint32_t)(p->sequential ? (i % npages) * PT_PAGE_SIZE
						   : rng_next(&seed) & (p->region - 1));
}

static void fixture_addresses(struct pt_fixture *fx, const struct bench_params *p)
{
	make_offsets(fx->offs, fx->n, p);
}

bool fixture_geometry_ok(const struct physim_pt_format_info *info)
{
	if (info->levels != 4 || info->pte_bytes != 8)
		return false;
	for (unsigned l = 0; l < 4; l++)
		if (info->level[l].shift != 12 + 9 * l || info->level[l].index_bits != 9)
			return false;
	return true;
}

/* The 4-level geometry below a fifth level of any width (AArch64 LPA2,
 * 4K granule: lookup level -1): physim's own readers only, no peer. */
static bool fixture_geometry_5_ok(const struct physim_pt_format_info *info)
{
	if (info->levels != 5 || info->pte_bytes != 8)
		return false;
	for (unsigned l = 0; l < 4; l++)
		if (info->level[l].shift != 12 + 9 * l || info->level[l].index_bits != 9)
			return false;
	return true;
}

static int fixture_build(struct pt_fixture *fx, const struct bench_params *p)
{
	/* Offsets are 32-bit; a power-of-two region keeps random ones uniform. */
	if (p->region == 0 || p->region > 4 * GIB || (p->region & (p->region - 1)) != 0 ||
	    p->nqueries == 0)
		return -EINVAL;
	int rc = pt_env_open(p, &fx->env);
	if (rc < 0)
		return rc;
	fx->key = *p;
	fx->n = p->nqueries;
	fx->offs = malloc(fx->n * sizeof(*fx->offs));
	rc = fx->offs ? 0 : -ENOMEM;
	if (rc == 0 && !fixture_geometry_ok(&fx->env.info) && !fixture_geometry_5_ok(&fx->env.info))
		rc = -ENOTSUP;
	if (rc == 0)
		rc = pt_env_map(&fx->env, p->region, 0);
	if (rc < 0) {
		free(fx->offs);
		pt_env_close(&fx->env);
		*fx = (struct pt_fixture){0};
		return rc;
	}
	fx->root = physim_pt_root(fx->env.pt);
	fx->va = PT_VA;
	fx->dm = physim_ram_direct_map(fx->env.ram);
	fixture_addresses(fx, p);
	fx->users = 1;
	return 0;
}

int fixture_get(const struct bench_params *p, struct pt_fixture **out)
{
	struct pt_fixture *fx = &pt_shared;
	if (fx->users > 0 && !fixture_matches(fx, p))
		return -EBUSY;
	int rc = 0;
	if (fx->users > 0)
		fx->users++;
	else
		rc = fixture_build(fx, p);
	if (rc == 0)
		*out = fx;
	return rc;
}

/* One implementation's pass over the sequence: the page pas it finds are
 * summed into sink, so that nothing can be left out and so that the peers
 * can be checked against physim. */
struct query_bench {
	struct pt_fixture *fx;
	int (*run)(struct query_bench *q, uint64_t nops);
	uint64_t pos;
	uint64_t sink;
};

static int query_run_physim(struct query_bench *q, uint64_t nops)
{
	const struct pt_fixture *fx = q->fx;
	const struct physim_pt *pt = fx->env.pt;
	uint64_t pos = q->pos, sink = 0;
	for (uint64_t i = 0; i < nops; i++) {
		struct physim_pt_mapping m;
		int rc = physim_pt_query(pt, query_next(fx, &pos), &m);
		if (rc < 0)
			return rc;
		sink += m.pa;
	}
	q->pos = pos;
	q->sink += sink;
	return 0;
}

/*
 * The straightforward walkers a user would write for one architecture: per
 * level the index, the table through the paging handler's phys_to_virt (an
 * indirect call), the valid bit, the leaf test, the next address. 4 levels,
 * 512 entries each, 4 KiB pages (level 3 is the root, as in the engine).
 * They return the pa of the page holding va.
 */
static inline unsigned plain_shift(int lvl)
{
	return 12 + 9 * (unsigned)lvl;
}

static inline const uint64_t *plain_table(const struct physim_paging_handler *ph, uint64_t pa)
{
	return ph->phys_to_virt(ph->ctx, pa);
}

/* Intel SDM Vol. 3A 4.5 (4-level paging): P is bit 0, PS (bit 7) makes a
 * PDPTE or PDE a 1 GiB / 2 MiB leaf, the address is bits 51:12 (the PAT bit
 * 12 of a huge leaf is masked off with the page offset). */
static int plain_walk_x86_64(const struct physim_paging_handler *ph, uint64_t root, uint64_t va,
			     uint64_t *pa)
{
	uint64_t table = root;
	for (int lvl = 3; lvl >= 0; lvl--) {
		const uint64_t *t = plain_table(ph, table);
		if (t == NULL)
			return -EFAULT;
		uint64_t d = t[(va >> plain_shift(lvl)) & 511];
		if (!(d & 1))
			return -ENOENT;
		uint64_t addr = d & UINT64_C(0x000ffffffffff000);
		if (lvl == 0 || (d & 0x80)) {
			*pa = addr & ~((UINT64_C(1) << plain_shift(lvl)) - 1);
			return 0;
		}
		table = addr;
	}
	return -ENOENT;
}

/* Arm ARM D8.3 (VMSAv8-64 descriptors, 4 KiB granule): bit 0 valid; bit 1
 * set is a table above the last level and a page at it, clear is a block;
 * the output address is bits 47:12. */
static int plain_walk_aarch64(const struct physim_paging_handler *ph, uint64_t root, uint64_t va,
			      uint64_t *pa)
{
	uint64_t table = root;
	for (int lvl = 3; lvl >= 0; lvl--) {
		const uint64_t *t = plain_table(ph, table);
		if (t == NULL)
			return -EFAULT;
		uint64_t d = t[(va >> plain_shift(lvl)) & 511];
		if (!(d & 1))
			return -ENOENT;
		uint64_t addr = d & UINT64_C(0x0000fffffffff000);
		if (lvl == 0 || !(d & 2)) {
			*pa = addr & ~((UINT64_C(1) << plain_shift(lvl)) - 1);
			return 0;
		}
		table = addr;
	}
	return -ENOENT;
}

/* RISC-V privileged spec, Sv48 (PTE format of 10.3.1 / 10.5): V is bit 0,
 * a PTE with any of R, W, X (bits 3:1) is a leaf, the PPN is bits 53:10 and
 * stands for bits 55:12 of the address. */
static int plain_walk_riscv(const struct physim_paging_handler *ph, uint64_t root, uint64_t va,
			    uint64_t *pa)
{
	uint64_t table = root;
	for (int lvl = 3; lvl >= 0; lvl--) {
		const uint64_t *t = plain_table(ph, table);
		if (t == NULL)
			return -EFAULT;
		uint64_t d = t[(va >> plain_shift(lvl)) & 511];
		if (!(d & 1))
			return -ENOENT;
		uint64_t addr = ((d >> 10) & ((UINT64_C(1) << 44) - 1)) << 12;
		if (d & 0xe) {
			*pa = addr & ~((UINT64_C(1) << plain_shift(lvl)) - 1);
			return 0;
		}
		table = addr;
	}
	return -ENOENT;
}

typedef int (*plain_walk_fn)(const struct physim_paging_handler *ph, uint64_t root, uint64_t va,
			     uint64_t *pa);

/* Instantiated once per walker with a constant walk, so the loop calls it
 * directly (the only indirect calls are the walker's own phys_to_virt). */
static inline int plain_loop(struct query_bench *q, uint64_t nops, plain_walk_fn walk)
{
	const struct pt_fixture *fx = q->fx;
	const struct physim_paging_handler *ph = fx->env.ph;
	uint64_t pos = q->pos, sink = 0;
	for (uint64_t i = 0; i < nops; i++) {
		uint64_t pa;
		int rc = walk(ph, fx->root, query_next(fx, &pos), &pa);
		if (rc < 0)
			return rc;
		sink += pa;
	}
	q->pos = pos;
	q->sink += sink;
	return 0;
}

static int query_run_plain_x86_64(struct query_bench *q, uint64_t nops)
{
	return plain_loop(q, nops, plain_walk_x86_64);
}

static int query_run_plain_aarch64(struct query_bench *q, uint64_t nops)
{
	return plain_loop(q, nops, plain_walk_aarch64);
}

static int query_run_plain_riscv(struct query_bench *q, uint64_t nops)
{
	return plain_loop(q, nops, plain_walk_riscv);
}

/*
 * The physical limit of a 4-level query: four dependent descriptor loads
 * from the same table frames, with the cheapest arithmetic between them
 * (index from va; next table = the descriptor's address field, shifted left
 * by pa_lshift and masked, plus the direct map's host offset) and no checks.
 * Every address starts again at the root, so consecutive chains are as
 * independent of each other as consecutive queries are. The leaf's page pa
 * goes into the sink.
 */
static inline int chain_loop(struct query_bench *q, uint64_t nops, unsigned pa_lshift,
			     uint64_t pa_mask)
{
	const struct pt_fixture *fx = q->fx;
	uintptr_t host = (uintptr_t)fx->dm.hva - (uintptr_t)fx->dm.base;
	uintptr_t root = host + (uintptr_t)fx->root;
	uint64_t pos = q->pos, sink = 0;
	for (uint64_t i = 0; i < nops; i++) {
		uint64_t va = query_next(fx, &pos);
		uint64_t d = *(const uint64_t *)(root + ((va >> 39) & 511) * 8);
		d = *(const uint64_t *)(host + ((d << pa_lshift) & pa_mask) +
					((va >> 30) & 511) * 8);
		d = *(const uint64_t *)(host + ((d << pa_lshift) & pa_mask) +
					((va >> 21) & 511) * 8);
		d = *(const uint64_t *)(host + ((d << pa_lshift) & pa_mask) +
					((va >> 12) & 511) * 8);
		sink += (d << pa_lshift) & pa_mask;
	}
	q->pos = pos;
	q->sink += sink;
	return 0;
}

/* Address fields as in the plain walkers; RISC-V's PPN (bits 53:10) lands on
 * bits 55:12 when shifted left by 2. */
static int query_run_chain_x86_64(struct query_bench *q, uint64_t nops)
{
	return chain_loop(q, nops, 0, UINT64_C(0x000ffffffffff000));
}

static int query_run_chain_aarch64(struct query_bench *q, uint64_t nops)
{
	return chain_loop(q, nops, 0, UINT64_C(0x0000fffffffff000));
}

static int query_run_chain_riscv(struct query_bench *q, uint64_t nops)
{
	return chain_loop(q, nops, 2, UINT64_C(0x00fffffffffff000));
}

/* How one implementation answers queries, per format family (indexed by
 * enum physim_arch; NULL: not written for that family). */
struct query_reader {
	int (*run[PHYSIM_ARCH_LOONGARCH64 + 1])(struct query_bench *q, uint64_t nops);
};

static const struct query_reader reader_physim = {
    .run = {[PHYSIM_ARCH_X86_64] = query_run_physim,
	    [PHYSIM_ARCH_AARCH64] = query_run_physim,
	    [PHYSIM_ARCH_RISCV64] = query_run_physim,
	    [PHYSIM_ARCH_LOONGARCH64] = query_run_physim},
};
static const struct query_reader reader_plain = {
    .run = {[PHYSIM_ARCH_X86_64] = query_run_plain_x86_64,
	    [PHYSIM_ARCH_AARCH64] = query_run_plain_aarch64,
	    [PHYSIM_ARCH_RISCV64] = query_run_plain_riscv},
};
static const struct query_reader reader_chain = {
    .run = {[PHYSIM_ARCH_X86_64] = query_run_chain_x86_64,
	    [PHYSIM_ARCH_AARCH64] = query_run_chain_aarch64,
	    [PHYSIM_ARCH_RISCV64] = query_run_chain_riscv},
};

/* The reader must find the pages physim_pt_query finds for the first
 * addresses of the sequence (-EIO if not): a peer that walked something
 * else would measure nothing. */
static int query_check(struct query_bench *q)
{
	const struct pt_fixture *fx = q->fx;
	uint64_t n = fx->n < PT_CHECKS ? fx->n : PT_CHECKS, pos = 0, want = 0;
	for (uint64_t i = 0; i < n; i++) {
		struct physim_pt_mapping m;
		int rc = physim_pt_query(fx->env.pt, query_next(fx, &pos), &m);
		if (rc < 0)
			return rc;
		want += m.pa;
	}
	int rc = q->run(q, n);
	if (rc == 0 && q->sink != want)
		rc = -EIO;
	q->pos = 0;
	q->sink = 0;
	return rc;
}

static void query_teardown(void *state)
{
	struct query_bench *q = state;
	keep(&q->sink);
	fixture_put(q->fx);
	free(q);
}

static int query_setup(const void *data, const struct bench_params *p, void **state)
{
	const struct query_reader *r = data;
	struct query_bench *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	int rc = fixture_get(p, &q->fx);
	if (rc < 0) {
		free(q);
		return rc;
	}
	unsigned arch = (unsigned)q->fx->env.info.arch;
	q->run = arch <= PHYSIM_ARCH_LOONGARCH64 ? r->run[arch] : NULL;
	if (r != &reader_physim && !fixture_geometry_ok(&q->fx->env.info))
		q->run = NULL; /* the peers walk 4 levels */
	rc = q->run ? query_check(q) : -ENOTSUP;
	if (rc < 0) {
		query_teardown(q);
		return rc;
	}
	*state = q;
	return 0;
}

static int query_run(void *state, uint64_t nops)
{
	struct query_bench *q = state;
	return q->run(q, nops);
}

/* A timed run is one pass over the whole sequence. */
static uint64_t query_ops(const void *state)
{
	return ((const struct query_bench *)state)->fx->n;
}

static void query_extras(const void *state, struct bench_extras *ex)
{
	extras_add(ex, "queries", (double)((const struct query_bench *)state)->fx->n);
}

/* ---- implementations and the case table ---- */

static const struct region_kind region_timed_map = {.timed_map = true};
static const struct region_kind region_timed_unmap = {.timed_map = false};
static const struct bench_impl impl_pt_map = {
    .name = "physim_pt_map_region",
    .data = &region_timed_map,
    .setup = region_setup,
    .run = region_run,
    .teardown = region_teardown,
    .extras = region_extras,
    .reset = region_reset,
    .fixed_ops = region_ops,
};
static const struct bench_impl impl_pt_unmap = {
    .name = "physim_pt_unmap_region",
    .data = &region_timed_unmap,
    .setup = region_setup,
    .run = region_run,
    .teardown = region_teardown,
    .extras = region_extras,
    .reset = region_reset,
    .fixed_ops = region_ops,
};
static const struct bench_impl impl_pt_query = {
    .name = "physim_pt_query",
    .data = &reader_physim,
    .setup = query_setup,
    .run = query_run,
    .teardown = query_teardown,
    .extras = query_extras,
    .fixed_ops = query_ops,
};
/* The query goals' yardsticks: peer 0 is the limit, peer 1 the plain walker. */
const struct bench_impl peer_pt_chain = {
    .name = "4 dependent loads (limit)",
    .data = &reader_chain,
    .setup = query_setup,
    .run = query_run,
    .teardown = query_teardown,
    .fixed_ops = query_ops,
};
static const struct bench_impl peer_pt_plain = {
    .name = "plain C walker (phys_to_virt)",
    .data = &reader_plain,
    .setup = query_setup,
    .run = query_run,
    .teardown = query_teardown,
    .fixed_ops = query_ops,
};

/* The formats the peers are written for (4 levels of 512 entries). */
static const struct bench_format pt_formats[] = {
    {.s1 = "x86_64-4l"},
    {.s1 = "aarch64-4k-48"},
    {.s1 = "sv48"},
};

/* Per format, these rows in this order ('*': the format). */
static const struct bench_case pt_rows[] = {
    {.group = "pt_map",
     .name = "pt_map/*/1G",
     .params = {.region = 1 * GIB},
     .impl = &impl_pt_map,
     .unit = "4 KiB page"},
    {.group = "pt_query",
     .name = "pt_query_rand/*",
     .params = {.region = 1 * GIB, .nqueries = 10000000},
     .impl = &impl_pt_query,
     .peers = {&peer_pt_chain, &peer_pt_plain},
     .unit = "query"},
    {.group = "pt_query",
     .name = "pt_query_seq/*",
     .params = {.region = 1 * GIB, .nqueries = 10000000, .sequential = true},
     .impl = &impl_pt_query,
     .peers = {&peer_pt_chain, &peer_pt_plain},
     .unit = "query"},
    {.group = "pt_unmap",
     .name = "pt_unmap/*/1G",
     .params = {.region = 1 * GIB},
     .impl = &impl_pt_unmap,
     .unit = "4 KiB page"},
    {.group = "pt_map_huge",
     .name = "pt_map_huge/*/64G",
     .params = {.region = 64 * GIB, .huge = true},
     .impl = &impl_pt_map,
     .unit = "GiB"},
};

/* 52-bit AArch64 (LPA2, 5 levels): no peer is written for it; compare
 * with walk_translate of the same format. */
static const struct bench_format pt_formats_52[] = {
    {.s1 = "aarch64-4k-52"},
};
static const struct bench_case pt_rows_52[] = {
    {.group = "pt_query",
     .name = "pt_query_rand/*",
     .params = {.region = 1 * GIB, .nqueries = 10000000},
     .impl = &impl_pt_query,
     .unit = "query"},
};

static int pt_add(struct bench_list *l)
{
	int rc = bench_add_per_format(l, pt_rows, sizeof(pt_rows) / sizeof(pt_rows[0]), pt_formats,
				      sizeof(pt_formats) / sizeof(pt_formats[0]));
	if (rc == 0)
		rc = bench_add_per_format(l, pt_rows_52, sizeof(pt_rows_52) / sizeof(pt_rows_52[0]),
					  pt_formats_52,
					  sizeof(pt_formats_52) / sizeof(pt_formats_52[0]));
	return rc;
}

const struct bench_area bench_area_pt = {.name = "pt", .add = pt_add};
