/* SPDX-License-Identifier: MIT */
/* tools/physim-bench/bench-nested.c - the nested-walk area: a guest's stage 1
 * whose tables are fetched through stage 2, against the 24-load chain. */

#include "bench-pt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * Guest-physical memory is [GUEST_GPA, GUEST_GPA + region + GUEST_TABLES):
 * the guest's data pages, then the frames its stage-1 tables are allocated
 * from (a bump allocator behind the guest's paging handler, whose addresses
 * are GPAs). It is backed by one contiguous block of host frames claimed
 * from the RAM, and stage 2 maps all of it with 4 KiB pages, so that every
 * stage-1 table fetch and the final GPA take a full stage-2 walk: with a
 * 4-level stage 2, 4 x (4 + 1) + 4 = 24 descriptor loads per translation;
 * with a 3-level one (AArch64's 40-bit IPA, two concatenated roots: the
 * layout KVM sets up by default), 4 x (3 + 1) + 3 = 19. Stage 1 (4 levels)
 * maps GVA PT_VA + off to GPA GUEST_GPA + off with 4 KiB pages.
 */

#define GUEST_GPA     GIB	/* where guest RAM starts, as on many VMs */
#define GUEST_TABLES  (4 * MIB) /* room for the stage-1 tables */
#define NESTED_REFS   24u	/* the most: a 4-level stage 2 */
#define NESTED_TRACES 64u	/* addresses whose fetches the chain check compares */

struct nested_fixture {
	unsigned users;
	struct bench_params key;
	struct pt_env host; /* the RAM and the stage-2 table */
	struct physim_pt *guest;
	struct physim_paging_handler guest_ph;
	physim_hpa_t guest_hpa; /* host-physical base of guest RAM */
	uint64_t guest_size;
	uint64_t table_next; /* next free GPA for a stage-1 table */
	struct physim_mmu *s1, *s2;
	struct physim_direct_map dm;
	uint64_t s1_root; /* a GPA */
	physim_hpa_t s2_root;
	uint64_t s2_root_mask; /* index mask of the stage-2 root (sv48x4: 11 bits) */
	unsigned s2_levels;    /* 3 or 4 */
	unsigned refs;	       /* descriptor loads per translation: 24 or 19 */
	uint64_t va;	       /* PT_VA, read at run time (see pt_fixture) */
	uint32_t *offs;
	uint64_t n;
};

static struct nested_fixture nested_shared;

static void *guest_phys_to_virt(void *ctx, physim_hpa_t gpa)
{
	const struct nested_fixture *fx = ctx;
	uint64_t off = gpa - GUEST_GPA;
	if (gpa < GUEST_GPA || off >= fx->guest_size)
		return NULL;
	return physim_dm_phys_to_virt(&fx->dm, fx->guest_hpa + off);
}

static int guest_alloc_frames(void *ctx, size_t nframes, uint64_t align, physim_hpa_t *gpa)
{
	struct nested_fixture *fx = ctx;
	uint64_t at = (fx->table_next + align - 1) & ~(align - 1);
	if (at + nframes * PT_PAGE_SIZE > GUEST_GPA + fx->guest_size)
		return -ENOMEM;
	fx->table_next = at + nframes * PT_PAGE_SIZE;
	*gpa = at;
	return 0;
}

static int guest_alloc_frame(void *ctx, physim_hpa_t *gpa)
{
	return guest_alloc_frames(ctx, 1, PT_PAGE_SIZE, gpa);
}

/* The tables go when the guest's memory goes. */
static int guest_dealloc_frames(void *ctx, physim_hpa_t gpa, size_t nframes)
{
	(void)ctx, (void)gpa, (void)nframes;
	return 0;
}

static int guest_dealloc_frame(void *ctx, physim_hpa_t gpa)
{
	return guest_dealloc_frames(ctx, gpa, 1);
}

static bool nested_fixture_matches(const struct nested_fixture *fx, const struct bench_params *p)
{
	return strcmp(fx->key.format, p->format) == 0 &&
	       strcmp(fx->key.s2_format, p->s2_format) == 0 && fx->key.region == p->region &&
	       fx->key.nqueries == p->nqueries;
}

static void nested_fixture_free(struct nested_fixture *fx)
{
	physim_mmu_destroy(fx->s1);
	physim_mmu_destroy(fx->s2);
	physim_pt_destroy(fx->guest);
	free(fx->offs);
	pt_env_close(&fx->host);
	*fx = (struct nested_fixture){0};
}

static void nested_fixture_put(struct nested_fixture *fx)
{
	if (--fx->users == 0)
		nested_fixture_free(fx);
}

/* The chain peer is written for a stage 1 of 4 levels of 512 entries over
 * 4 KiB pages, and a stage 2 of 3 or 4 such levels whose root may be
 * concatenated (up to 2048 entries). */
static bool nested_geometry_ok(const struct physim_pt_format *s1, const struct physim_pt_format *s2,
			       struct nested_fixture *fx)
{
	struct physim_pt_format_info i1, i2;
	physim_format_get_info(s1, &i1);
	physim_format_get_info(s2, &i2);
	unsigned n = i2.levels;
	if (!fixture_geometry_ok(&i1) || i1.stage2 || !i2.stage2 || i1.arch != i2.arch ||
	    (n != 3 && n != 4) || i2.pte_bytes != 8)
		return false;
	for (unsigned l = 0; l < n; l++)
		if (i2.level[l].shift != 12 + 9 * l || (l < n - 1 && i2.level[l].index_bits != 9) ||
		    i2.level[l].index_bits > 11)
			return false;
	fx->s2_root_mask = (UINT64_C(1) << i2.level[n - 1].index_bits) - 1;
	fx->s2_levels = n;
	fx->refs = 4 * (n + 1) + n;
	return true;
}

/* Guest memory, stage 2 over all of it, the guest's stage 1. */
static int nested_build_tables(struct nested_fixture *fx, const struct bench_params *p)
{
	struct physim_ram *ram = fx->host.ram;
	uint64_t frames = fx->guest_size / PT_PAGE_SIZE;
	int rc = physim_ram_alloc_frames(ram, frames, 2 * MIB, &fx->guest_hpa);
	if (rc == 0)
		rc = physim_pt_map_region(fx->host.pt, GUEST_GPA, fx->guest_hpa, fx->guest_size,
					  PT_FLAGS, 0);
	if (rc < 0)
		return rc;
	fx->dm = physim_ram_direct_map(ram);
	fx->table_next = GUEST_GPA + p->region;
	fx->guest_ph = (struct physim_paging_handler){
	    .ctx = fx,
	    .alloc_frame = guest_alloc_frame,
	    .alloc_frames = guest_alloc_frames,
	    .dealloc_frame = guest_dealloc_frame,
	    .dealloc_frames = guest_dealloc_frames,
	    .phys_to_virt = guest_phys_to_virt,
	};
	rc = physim_pt_create(physim_format(p->format), &fx->guest_ph, &fx->guest);
	if (rc == 0)
		rc = physim_pt_map_region(fx->guest, PT_VA, GUEST_GPA, p->region, PT_FLAGS, 0);
	return rc;
}

static int nested_build_mmus(struct nested_fixture *fx)
{
	fx->s1_root = physim_pt_root(fx->guest);
	fx->s2_root = physim_pt_root(fx->host.pt);
	struct physim_mmu_config c1 = {
	    .format = physim_pt_format(fx->guest), .mem = &fx->guest_ph, .root = fx->s1_root};
	struct physim_mmu_config c2 = {
	    .format = physim_pt_format(fx->host.pt), .mem = fx->host.ph, .root = fx->s2_root};
	int rc = physim_mmu_create(&c1, &fx->s1);
	if (rc == 0)
		rc = physim_mmu_create(&c2, &fx->s2);
	return rc;
}

/* GVA PT_VA + off is host-physical guest_hpa + off. */
static inline uint64_t nested_expected_page(const struct nested_fixture *fx, uint64_t va)
{
	return (fx->guest_hpa + (va - fx->va)) & PAGE_MASK;
}

/* Translate every guest page once (x86 sets stage-1 A bits through stage
 * 2), checking each against the layout; one more translation must then
 * make exactly fx->refs references and write nothing back. -EIO if not. */
static int nested_touch_all(struct nested_fixture *fx)
{
	struct physim_xlate x;
	for (uint64_t off = 0; off < fx->key.region; off += PT_PAGE_SIZE) {
		struct physim_access acc = {.va = fx->va + off};
		int rc = physim_nested_translate(fx->s1, fx->s2, &acc, &x);
		if (rc < 0)
			return rc;
		if (x.pa != nested_expected_page(fx, acc.va) || x.gpa != GUEST_GPA + off)
			return -EIO;
	}
	struct physim_access acc = {.va = fx->va + fx->key.region / 2};
	int rc = physim_nested_translate(fx->s1, fx->s2, &acc, &x);
	if (rc == 0 && (x.mem_refs != fx->refs || x.ad_updated))
		rc = -EIO;
	return rc;
}

static int nested_fixture_build(struct nested_fixture *fx, const struct bench_params *p)
{
	const struct physim_pt_format *f1 = physim_format(p->format);
	const struct physim_pt_format *f2 = p->s2_format ? physim_format(p->s2_format) : NULL;
	if (p->region == 0 || p->region > GIB || (p->region & (p->region - 1)) != 0 ||
	    p->nqueries == 0 || p->sequential)
		return -EINVAL;
	if (f1 == NULL || f2 == NULL)
		return -ENOTSUP; /* family not compiled in (-Darchs) */
	if (!nested_geometry_ok(f1, f2, fx))
		return -ENOTSUP;
	struct bench_params host = *p;
	host.format = p->s2_format;
	int rc = pt_env_open(&host, &fx->host);
	if (rc < 0)
		return rc;
	fx->key = *p;
	fx->guest_size = p->region + GUEST_TABLES;
	fx->va = PT_VA;
	fx->n = p->nqueries;
	fx->offs = malloc(fx->n * sizeof(*fx->offs));
	rc = fx->offs ? nested_build_tables(fx, p) : -ENOMEM;
	if (rc == 0)
		rc = nested_build_mmus(fx);
	if (rc == 0)
		rc = nested_touch_all(fx);
	if (rc < 0) {
		nested_fixture_free(fx);
		return rc;
	}
	make_offsets(fx->offs, fx->n, p);
	fx->users = 1;
	return 0;
}

static int nested_fixture_get(const struct bench_params *p, struct nested_fixture **out)
{
	struct nested_fixture *fx = &nested_shared;
	if (fx->users > 0 && !nested_fixture_matches(fx, p))
		return -EBUSY;
	int rc = 0;
	if (fx->users > 0)
		fx->users++;
	else
		rc = nested_fixture_build(fx, p);
	if (rc == 0)
		*out = fx;
	return rc;
}

static inline uint64_t nested_next(const struct nested_fixture *fx, uint64_t *pos)
{
	uint64_t va = fx->va + fx->offs[*pos];
	*pos = *pos + 1 == fx->n ? 0 : *pos + 1;
	return va;
}

struct nested_bench {
	struct nested_fixture *fx;
	int (*run)(struct nested_bench *b, uint64_t nops);
	uint64_t pos, sink;
	uint64_t ad_updates; /* since setup */
};

static int nested_run_physim(struct nested_bench *b, uint64_t nops)
{
	const struct nested_fixture *fx = b->fx;
	uint64_t pos = b->pos, sink = 0, ad = 0;
	for (uint64_t i = 0; i < nops; i++) {
		struct physim_access acc = {.va = nested_next(fx, &pos)};
		struct physim_xlate x;
		int rc = physim_nested_translate(fx->s1, fx->s2, &acc, &x);
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

/*
 * The limit of a nested walk: the 24 descriptor loads the walk makes (4-in-4;
 * 19 over a 3-level stage 2), in its order, as one chain of dependent loads with the cheapest
 * arithmetic between them and no checks (as chain_loop in bench-pt.c,
 * whose conventions it shares: the address field of a descriptor is
 * (d << pa_lshift) & pa_mask, host = the direct map's offset). For each of the 4 stage-1
 * levels: the GPA of the stage-1 entry (table GPA + index) is walked through
 * stage 2 (4 loads, the first indexed from that GPA), the entry is loaded
 * from the host address found (1 load) and its address field is the next
 * table's GPA; the output GPA is then walked through stage 2 (4 loads). So
 * each load's address is computed from the value the previous load
 * returned - the first stage-2 load of a stage-1 level from the stage-1
 * entry loaded before it - and nothing of one chain can start before the
 * load ahead of it has completed. The stage-2 leaf's page address of the
 * final walk goes into the sink. The fixture checks, for the first
 * addresses of the sequence, that the chain loads exactly the addresses
 * physim's walk fetches, in the same order (nested_trace_check).
 */
/* A family's descriptor address field: (d << pa_lshift) & pa_mask, as in
 * chain_loop (bench-pt.c); both stages of a family share it (EPT bits 51:12, VMSAv8-64
 * stage 2 bits 47:12, G-stage PPN). */
struct chain_field {
	unsigned pa_lshift;
	uint64_t pa_mask;
};

static const struct chain_field chain_fields[PHYSIM_ARCH_LOONGARCH64 + 1] = {
    [PHYSIM_ARCH_X86_64] = {0, UINT64_C(0x000ffffffffff000)},
    [PHYSIM_ARCH_AARCH64] = {0, UINT64_C(0x0000fffffffff000)},
    [PHYSIM_ARCH_RISCV64] = {2, UINT64_C(0x00fffffffffff000)},
};

/* What the chain needs: host = the direct map's offset (host-virtual = host +
 * host-physical), the roots, and the family's address field. */
struct nested_geo {
	uintptr_t host;
	uint64_t s1_root; /* a GPA */
	uint64_t s2_root; /* an HPA */
	uint64_t root_mask;
	unsigned s2_levels; /* a constant in the timed loop */
	unsigned pa_lshift;
	uint64_t pa_mask;
};

/* One descriptor load at host-physical hpa. trace (a constant NULL in the
 * timed loop, where the test vanishes) records the address for the check. */
static inline uint64_t chain_load(const struct nested_geo *g, uint64_t hpa, uint64_t **trace)
{
	if (trace != NULL)
		*(*trace)++ = hpa;
	return *(const uint64_t *)(g->host + hpa);
}

static inline uint64_t chain_addr(const struct nested_geo *g, uint64_t d)
{
	return (d << g->pa_lshift) & g->pa_mask;
}

/* Stage 2 for gpa: s2_levels loads; returns the page address gpa maps to. */
static inline uint64_t chain_s2(const struct nested_geo *g, uint64_t gpa, uint64_t **trace)
{
	unsigned shift = 12 + 9 * (g->s2_levels - 1);
	uint64_t d = chain_load(g, g->s2_root + ((gpa >> shift) & g->root_mask) * 8, trace);
	for (shift -= 9; shift >= 12; shift -= 9)
		d = chain_load(g, chain_addr(g, d) + ((gpa >> shift) & 511) * 8, trace);
	return chain_addr(g, d);
}

/* The walk's loads for va; returns the host page address va maps to. */
static inline uint64_t chain_nested(const struct nested_geo *g, uint64_t va, uint64_t **trace)
{
	uint64_t table = g->s1_root;
	for (unsigned shift = 39; shift >= 12; shift -= 9) {
		uint64_t ea = table + ((va >> shift) & 511) * 8; /* GPA of the stage-1 entry */
		uint64_t d = chain_load(g, chain_s2(g, ea, trace) + (ea & ~PAGE_MASK), trace);
		table = chain_addr(g, d);
	}
	return chain_s2(g, table + (va & ~PAGE_MASK), trace);
}

static inline struct nested_geo nested_geo(const struct nested_fixture *fx, unsigned s2_levels,
					   unsigned pa_lshift, uint64_t pa_mask)
{
	return (struct nested_geo){
	    .host = (uintptr_t)fx->dm.hva - (uintptr_t)fx->dm.base,
	    .s1_root = fx->s1_root,
	    .s2_root = fx->s2_root,
	    .root_mask = fx->s2_root_mask,
	    .s2_levels = s2_levels,
	    .pa_lshift = pa_lshift,
	    .pa_mask = pa_mask,
	};
}

/* Inlined into each caller, so that s2_levels, pa_lshift and pa_mask are
 * constants in the timed loop (a call with them as arguments kept the
 * stage-2 levels a loop with a variable count: a slower chain). */
static inline __attribute__((always_inline)) int
nested_chain_loop(struct nested_bench *b, uint64_t nops, unsigned s2_levels, unsigned pa_lshift,
		  uint64_t pa_mask)
{
	const struct nested_fixture *fx = b->fx;
	const struct nested_geo g = nested_geo(fx, s2_levels, pa_lshift, pa_mask);
	uint64_t pos = b->pos, sink = 0;
	for (uint64_t i = 0; i < nops; i++)
		sink += chain_nested(&g, nested_next(fx, &pos), NULL);
	b->pos = pos;
	b->sink += sink;
	return 0;
}

/* One chain per family and stage-2 level count (the _3 ones: the rows of
 * nested_formats_4_3). */
#define NESTED_CHAIN_RUNNER(name, arch, s2_levels)                                                 \
	static int name(struct nested_bench *b, uint64_t nops)                                     \
	{                                                                                          \
		const struct chain_field *c = &chain_fields[arch];                                 \
		return nested_chain_loop(b, nops, s2_levels, c->pa_lshift, c->pa_mask);            \
	}
NESTED_CHAIN_RUNNER(nested_run_chain_x86_64, PHYSIM_ARCH_X86_64, 4)
NESTED_CHAIN_RUNNER(nested_run_chain_aarch64, PHYSIM_ARCH_AARCH64, 4)
NESTED_CHAIN_RUNNER(nested_run_chain_riscv, PHYSIM_ARCH_RISCV64, 4)
NESTED_CHAIN_RUNNER(nested_run_chain_aarch64_3, PHYSIM_ARCH_AARCH64, 3)
NESTED_CHAIN_RUNNER(nested_run_chain_riscv_3, PHYSIM_ARCH_RISCV64, 3)

/* A paging handler that records the host-physical address of every
 * descriptor fetch: it has no direct map, so the walk calls phys_to_virt
 * once per descriptor (lib/walk.c desc_ptr). */
struct fetch_log {
	struct physim_paging_handler ph;
	const struct physim_paging_handler *inner;
	uint64_t hpa[2 * NESTED_REFS];
	unsigned n;
};

static void *log_phys_to_virt(void *ctx, physim_hpa_t hpa)
{
	struct fetch_log *l = ctx;
	if (l->n < 2 * NESTED_REFS)
		l->hpa[l->n] = hpa;
	l->n++;
	return l->inner->phys_to_virt(l->inner->ctx, hpa);
}

/* The chain's loads are the walk's fetches, address for address, for the
 * first NESTED_TRACES addresses of the sequence (-EIO if not). Stage 2 is
 * walked again through a copy of its mmu whose memory is the log; stage 1
 * fetches its tables through stage 2's memory, so they are logged too. */
static int nested_trace_check(const struct nested_fixture *fx, const struct chain_field *c)
{
	struct fetch_log log = {.inner = fx->host.ph};
	log.ph = *fx->host.ph;
	log.ph.ctx = &log;
	log.ph.phys_to_virt = log_phys_to_virt;
	log.ph.direct = (struct physim_direct_map){0};
	struct physim_mmu_config c2;
	physim_mmu_get_config(fx->s2, &c2);
	c2.mem = &log.ph;
	struct physim_mmu *s2 = NULL;
	int rc = physim_mmu_create(&c2, &s2);
	const struct nested_geo g = nested_geo(fx, fx->s2_levels, c->pa_lshift, c->pa_mask);
	uint64_t pos = 0;
	for (unsigned i = 0; i < NESTED_TRACES && i < fx->n && rc == 0; i++) {
		uint64_t want[NESTED_REFS + 1], *t = want;
		struct physim_access acc = {.va = nested_next(fx, &pos)};
		struct physim_xlate x;
		chain_nested(&g, acc.va, &t);
		log.n = 0;
		rc = physim_nested_translate(fx->s1, s2, &acc, &x);
		if (rc == 0 && (t - want != fx->refs || log.n != fx->refs ||
				memcmp(want, log.hpa, sizeof(uint64_t) * fx->refs) != 0))
			rc = -EIO;
	}
	physim_mmu_destroy(s2);
	return rc;
}

/* How an implementation walks, per family (indexed by enum physim_arch);
 * a chain is written for one stage-2 level count (0: any). */
struct nested_reader {
	int (*run[PHYSIM_ARCH_LOONGARCH64 + 1])(struct nested_bench *b, uint64_t nops);
	unsigned s2_levels;
};

static const struct nested_reader nested_physim = {
    .run = {[PHYSIM_ARCH_X86_64] = nested_run_physim,
	    [PHYSIM_ARCH_AARCH64] = nested_run_physim,
	    [PHYSIM_ARCH_RISCV64] = nested_run_physim,
	    [PHYSIM_ARCH_LOONGARCH64] = nested_run_physim},
};
static const struct nested_reader nested_chain = {
    .run = {[PHYSIM_ARCH_X86_64] = nested_run_chain_x86_64,
	    [PHYSIM_ARCH_AARCH64] = nested_run_chain_aarch64,
	    [PHYSIM_ARCH_RISCV64] = nested_run_chain_riscv},
    .s2_levels = 4,
};
static const struct nested_reader nested_chain_19 = {
    .run = {[PHYSIM_ARCH_AARCH64] = nested_run_chain_aarch64_3,
	    [PHYSIM_ARCH_RISCV64] = nested_run_chain_riscv_3},
    .s2_levels = 3,
};

/* The first addresses of the sequence must give the expected pages. */
static int nested_check(struct nested_bench *b)
{
	const struct nested_fixture *fx = b->fx;
	uint64_t n = fx->n < PT_CHECKS ? fx->n : PT_CHECKS, pos = 0, want = 0;
	for (uint64_t i = 0; i < n; i++)
		want += nested_expected_page(fx, nested_next(fx, &pos));
	int rc = b->run(b, n);
	if (rc == 0 && b->sink != want)
		rc = -EIO;
	b->pos = 0;
	b->sink = 0;
	b->ad_updates = 0;
	return rc;
}

static void nested_teardown(void *state)
{
	struct nested_bench *b = state;
	keep(&b->sink);
	if (b->fx != NULL)
		nested_fixture_put(b->fx);
	free(b);
}

static int nested_setup(const void *data, const struct bench_params *p, void **state)
{
	const struct nested_reader *r = data;
	struct nested_bench *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	int rc = nested_fixture_get(p, &b->fx);
	if (rc < 0) {
		free(b);
		return rc;
	}
	struct physim_pt_format_info info;
	physim_format_get_info(physim_pt_format(b->fx->guest), &info);
	b->run = r->run[info.arch];
	if (r->s2_levels != 0 && r->s2_levels != b->fx->s2_levels)
		b->run = NULL; /* the chain would read the tables wrongly */
	rc = b->run ? nested_check(b) : -ENOTSUP;
	if (rc == 0 && b->run != nested_run_physim)
		rc = nested_trace_check(b->fx, &chain_fields[info.arch]);
	if (rc < 0) {
		nested_teardown(b);
		return rc;
	}
	*state = b;
	return 0;
}

static int nested_run(void *state, uint64_t nops)
{
	struct nested_bench *b = state;
	return b->run(b, nops);
}

static uint64_t nested_ops(const void *state)
{
	return ((const struct nested_bench *)state)->fx->n;
}

static void nested_extras(const void *state, struct bench_extras *ex)
{
	const struct nested_bench *b = state;
	extras_add(ex, "addresses", (double)b->fx->n);
	if (b->run == nested_run_physim)
		extras_add(ex, "ad_writebacks", (double)b->ad_updates);
}

/* ---- implementations and the case table ---- */

static const struct bench_impl impl_nested = {
    .name = "physim_nested_translate",
    .data = &nested_physim,
    .setup = nested_setup,
    .run = nested_run,
    .teardown = nested_teardown,
    .extras = nested_extras,
    .fixed_ops = nested_ops,
};
static const struct bench_impl peer_nested_chain = {
    .name = "24 dependent loads (limit)",
    .data = &nested_chain,
    .setup = nested_setup,
    .run = nested_run,
    .teardown = nested_teardown,
    .fixed_ops = nested_ops,
};
static const struct bench_impl peer_nested_chain_19 = {
    .name = "19 dependent loads (limit)",
    .data = &nested_chain_19,
    .setup = nested_setup,
    .run = nested_run,
    .teardown = nested_teardown,
    .fixed_ops = nested_ops,
};

/* Addresses in a sequence, and --quick's smaller number. */
#define NESTED_QUERIES	     2000000u
#define NESTED_QUICK_QUERIES 100000u

/* A guest format over the stage 2 of its family; the chain peer is written
 * for these (4 levels of 512 entries, a stage-2 root of up to 2048). */
static const struct bench_format nested_formats[] = {
    {.s1 = "x86_64-4l", .s2 = "ept-4l"},
    {.s1 = "aarch64-4k-48", .s2 = "aarch64-s2-4k-48"},
    {.s1 = "sv48", .s2 = "sv48x4"},
};

/* A 4-level guest over a 3-level stage 2 of its family, whose stage 2 the
 * stage-1 loop calls (walk_gpa) rather than walking it inline as for an
 * equal level count: AArch64's 40-bit IPA (KVM's default) and Sv39x4. */
static const struct bench_format nested_formats_4_3[] = {
    {.s1 = "aarch64-4k-48", .s2 = "aarch64-s2-4k-40"},
    {.s1 = "sv48", .s2 = "sv39x4"},
};

/* Per pair of formats ('*': "s1-over-s2"). */
#define NESTED_ROW(chain)                                                                          \
	{                                                                                          \
		.group = "walk", .name = "walk_nested/*",                                          \
		.params = {.region = 256 * MIB,                                                    \
			   .nqueries = NESTED_QUERIES,                                             \
			   .quick_nqueries = NESTED_QUICK_QUERIES},                                \
		.impl = &impl_nested, .peers = {&(chain)}, .unit = "translate"                     \
	}
static const struct bench_case nested_rows[] = {NESTED_ROW(peer_nested_chain)};
static const struct bench_case nested_rows_4_3[] = {NESTED_ROW(peer_nested_chain_19)};

static int nested_add(struct bench_list *l)
{
	int rc = bench_add_per_format(l, nested_rows, 1, nested_formats,
				      sizeof(nested_formats) / sizeof(nested_formats[0]));
	if (rc == 0)
		rc = bench_add_per_format(l, nested_rows_4_3, 1, nested_formats_4_3,
					  sizeof(nested_formats_4_3) /
					      sizeof(nested_formats_4_3[0]));
	return rc;
}

const struct bench_area bench_area_nested = {.name = "nested", .add = nested_add};
