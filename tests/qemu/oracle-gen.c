/* SPDX-License-Identifier: MIT */
/* tests/qemu/oracle-gen.c - the physim side of the QEMU differential test:
 * builds random page tables of one format (or a stage-1 table nested over a
 * stage-2 table) in simulated RAM, saves the RAM image for QEMU to load, and
 * prints test addresses with physim's answers for run-oracle.py to compare
 * against QEMU's `gva2gpa`.
 *
 * usage: oracle-gen --format F [--s2 F2] --seed N --queries N --image OUT
 *                   [--mutations N] [--ram-base B] [--ram-size S] [--fetch 1]
 *
 * Output, one item per line:
 *   format F / s2format F2|- / ram_base B / ram_size S / root R / root_hi R /
 *   s2root R / mappings N / s2mappings N / walker yes|no
 *   q VA QUERY WALK GPA [NOTE]
 *       QUERY: physim_pt_query's answer (stage 1 composed with stage 2 when
 *       nested); WALK: the walker's (physim_mmu_probe /
 *       physim_nested_translate) for a supervisor read; each a hex output
 *       address, `-` for unmapped or `n/a` (no walker rules for the format;
 *       no query answer once descriptors are mutated). GPA: nested, stage
 *       1's output by query, else `-`. NOTE: the mutation the address tests.
 *   x VA ok|KIND@LEVEL (--fetch 1, after each q line): the walker's answer
 *       for a privileged instruction fetch at VA (the q address aligned
 *       down to 4), TCR_ELx.HA = 0; run-oracle.py executes there in QEMU.
 *
 * --mutations N: after building, N descriptors on the paths of mapped
 * addresses get a raw bit change (mutate.c) and those addresses are asked
 * first; only the walker can be compared there.
 *
 * Everything is derived from the seed (splitmix64), so a run is reproducible.
 * Only translation is compared, so every leaf is readable by the supervisor
 * (QEMU's gva2gpa is a read); permissions are covered by the walker's own
 * manual-derived tests. */
#include "oracle-gen.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("oracle-gen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *xrealloc(void *p, size_t n, size_t size)
{
	p = realloc(p, n * size);
	if (p == NULL)
		die("out of memory");
	return p;
}

/* ---- what was generated ---- */

/* One input range served by one table: architectural addresses
 * [base, base + size) are the table's own addresses [tbl_base, ...). A
 * sign-extended format takes the architectural address as is; an AArch64
 * TTBR1 table is indexed by the low va_bits only. */
struct half {
	struct physim_pt *pt;
	uint64_t base, size, tbl_base;
};

/* A mapping made; aim is an offset inside it worth testing (nested: the
 * byte whose GPA stage 2 was meant to map). */
struct range {
	uint64_t va, size, aim;
};

struct ranges {
	struct range *v;
	size_t n, cap;
};

static void ranges_add(struct ranges *rs, uint64_t va, uint64_t size, uint64_t aim)
{
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 256;
		rs->v = xrealloc(rs->v, rs->cap, sizeof(*rs->v));
	}
	rs->v[rs->n++] = (struct range){va, size, aim};
}

/* ---- nested: stage-1 tables live in guest-physical memory ----
 * The stage-1 table takes its frames from this paging handler: each frame
 * is a host frame of the RAM, given a guest-physical address in a reserved
 * window and mapped there by the stage-2 table (single frames at random
 * places in the window, so neighbouring stage-1 tables are scattered in host
 * memory). Addresses the stage-1 engine sees are GPAs. A frame can be
 * hidden afterwards: its stage-2 mapping is removed, so walks through it
 * fault at stage 2 (s1ptw), and phys_to_virt refuses it, which makes
 * physim_pt_query report -EFAULT for the same walks. */

struct pool_frame {
	uint64_t gpa, hpa, nframes;
	bool hidden;
};

struct gpa_pool {
	struct physim_ram *ram;
	struct physim_pt *s2;
	struct rng *rng;
	uint64_t win_base, win_size; /* reserved GPA window */
	uint64_t run_next;	     /* bump pointer for multi-frame tables (upper half) */
	struct pool_frame *v;
	size_t n, cap;
	struct physim_paging_handler ph;
};

#define POOL_WINDOW (UINT64_C(256) << 20)

static struct pool_frame *pool_find(struct gpa_pool *p, uint64_t gpa)
{
	for (size_t i = 0; i < p->n; i++)
		if (gpa >= p->v[i].gpa && gpa - p->v[i].gpa < p->v[i].nframes * PHYSIM_FRAME_SIZE)
			return &p->v[i];
	return NULL;
}

/* Map nframes frames at gpa -> hpa in stage 2 and record them. */
static int pool_add(struct gpa_pool *p, uint64_t gpa, uint64_t hpa, uint64_t nframes)
{
	for (uint64_t i = 0; i < nframes; i++) {
		uint64_t off = i * PHYSIM_FRAME_SIZE;
		int rc = physim_pt_map(p->s2, gpa + off, hpa + off, PHYSIM_FRAME_SIZE,
				       PHYSIM_R | PHYSIM_W | PHYSIM_X);
		if (rc < 0) {
			if (i > 0)
				physim_pt_unmap_region(p->s2, gpa, off);
			return rc;
		}
	}
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->v = xrealloc(p->v, p->cap, sizeof(*p->v));
	}
	p->v[p->n++] = (struct pool_frame){gpa, hpa, nframes, false};
	return 0;
}

static int pool_alloc_frame(void *ctx, physim_hpa_t *out)
{
	struct gpa_pool *p = ctx;
	uint64_t slots = p->win_size / 2 / PHYSIM_FRAME_SIZE;
	uint64_t gpa;
	do
		gpa = p->win_base + rng_below(p->rng, slots) * PHYSIM_FRAME_SIZE;
	while (pool_find(p, gpa) != NULL);
	physim_hpa_t hpa;
	int rc = physim_ram_alloc_frame(p->ram, &hpa);
	if (rc < 0)
		return rc;
	rc = pool_add(p, gpa, hpa, 1);
	if (rc < 0) {
		physim_ram_free_frame(p->ram, hpa);
		return rc;
	}
	*out = gpa;
	return 0;
}

static int pool_alloc_frames(void *ctx, size_t nframes, uint64_t align, physim_hpa_t *out)
{
	struct gpa_pool *p = ctx;
	uint64_t gpa = physim_align_up(p->run_next, align);
	uint64_t bytes = nframes * PHYSIM_FRAME_SIZE;
	if (gpa + bytes > p->win_base + p->win_size)
		return -ENOMEM;
	physim_hpa_t hpa;
	int rc = physim_ram_alloc_frames(p->ram, nframes, align, &hpa);
	if (rc < 0)
		return rc;
	rc = pool_add(p, gpa, hpa, nframes);
	if (rc < 0) {
		physim_ram_free_frames(p->ram, hpa, nframes);
		return rc;
	}
	p->run_next = gpa + bytes;
	*out = gpa;
	return 0;
}

static int pool_free(struct gpa_pool *p, uint64_t gpa, uint64_t nframes)
{
	struct pool_frame *e = pool_find(p, gpa);
	if (e == NULL || e->gpa != gpa || e->nframes != nframes)
		return -ENOENT;
	if (!e->hidden)
		physim_pt_unmap_region(p->s2, gpa, nframes * PHYSIM_FRAME_SIZE);
	physim_ram_free_frames(p->ram, e->hpa, nframes);
	*e = p->v[--p->n];
	return 0;
}

static int pool_dealloc_frame(void *ctx, physim_hpa_t gpa)
{
	return pool_free(ctx, gpa, 1);
}

static int pool_dealloc_frames(void *ctx, physim_hpa_t gpa, size_t nframes)
{
	return pool_free(ctx, gpa, nframes);
}

static void *pool_phys_to_virt(void *ctx, physim_hpa_t gpa)
{
	struct gpa_pool *p = ctx;
	struct pool_frame *e = pool_find(p, gpa);
	void *hva;
	if (e == NULL || e->hidden ||
	    physim_ram_phys_to_virt(p->ram, e->hpa + (gpa - e->gpa), &hva))
		return NULL;
	return hva;
}

static void pool_init(struct gpa_pool *p, struct physim_ram *ram, struct physim_pt *s2,
		      struct rng *rng, uint64_t win_base)
{
	*p = (struct gpa_pool){
	    .ram = ram,
	    .s2 = s2,
	    .rng = rng,
	    .win_base = win_base,
	    .win_size = POOL_WINDOW,
	    .run_next = win_base + POOL_WINDOW / 2,
	};
	p->ph = (struct physim_paging_handler){
	    .ctx = p,
	    .alloc_frame = pool_alloc_frame,
	    .alloc_frames = pool_alloc_frames,
	    .dealloc_frame = pool_dealloc_frame,
	    .dealloc_frames = pool_dealloc_frames,
	    .phys_to_virt = pool_phys_to_virt,
	};
}

/* ---- the generator ---- */

struct opts {
	const char *format, *s2format, *image;
	uint64_t seed, ram_base, ram_size;
	unsigned queries, mutations;
	bool fetch; /* --fetch 1: an `x` line after every `q` line */
};

/* An address that goes through a mutated descriptor. */
struct target {
	uint64_t va;
	const char *where, *what;
};

struct gen {
	struct rng rng;
	struct opts o;
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
	const struct physim_pt_format *f1, *f2; /* f2: stage 2 of a nested pair, else NULL */
	struct physim_pt_format_info i1, i2;
	struct physim_pt *t1, *t1_hi, *t2;
	struct physim_mmu *mmu_fetch; /* --fetch: stage 1 alone, HA off */
	struct half h1[2], h2[1];     /* input ranges of stage 1 (or the only table) and stage 2 */
	unsigned nh1;
	struct ranges m1, m2; /* mappings made, in architectural input addresses */
	struct gpa_pool pool;
	unsigned addr_bits; /* width of the CPU's address register: 32 or 64 */
	struct physim_mmu *mmu1, *mmu2;
	struct target *targets;
	size_t ntargets;
	bool mutated; /* descriptors changed behind the engine's back */
};

static bool is_riscv_gstage(const struct physim_pt_format_info *i)
{
	return i->arch == PHYSIM_ARCH_RISCV64 && i->stage2;
}

/* AArch64 stage 1 has a TTBR1 table too, except in the EL2 regime with
 * HCR_EL2.E2H = 0 (aarch64-el2-*: TTBR0_EL2 only). */
static bool has_upper_table(const struct physim_pt_format_info *i)
{
	return i->arch == PHYSIM_ARCH_AARCH64 && !i->stage2 &&
	       strncmp(i->name, "aarch64-el2-", 12) != 0;
}

/* The input ranges a table of this format serves in the test. RISC-V
 * G-stage: only the lower half of the GPA space, because QEMU 7.2 applies the
 * stage-1 sign-extension rule to GPAs and reports every GPA with the top bit
 * set as unmapped (a documented QEMU deviation, not compared). */
static unsigned input_halves(const struct physim_pt_format_info *i, struct physim_pt *lo,
			     struct physim_pt *hi, struct half *h)
{
	uint64_t span = bit(i->va_bits);
	if (i->sign_extended) {
		uint64_t half = span / 2;
		h[0] = (struct half){lo, 0, half, 0};
		h[1] = (struct half){lo, -half, half, -half};
		return 2;
	}
	if (is_riscv_gstage(i)) {
		h[0] = (struct half){lo, 0, span / 2, 0};
		return 1;
	}
	h[0] = (struct half){lo, 0, span, 0};
	if (hi != NULL) {
		/* AArch64 TTBR1: the top 2^va_bits bytes (TCR.T1SZ = T0SZ). */
		h[1] = (struct half){hi, -span, span, 0};
		return 2;
	}
	return 1;
}

static const struct half *find_half(const struct half *h, unsigned n, uint64_t va)
{
	for (unsigned i = 0; i < n; i++)
		if (va - h[i].base < h[i].size)
			return &h[i];
	return NULL;
}

/* Random leaf flags the format can express, always readable by the
 * supervisor (see the top of the file). */
static uint32_t random_flags(struct rng *r, const struct physim_pt_format_info *i)
{
	uint32_t fl = PHYSIM_R;
	if (rng_pct(r, 60))
		fl |= PHYSIM_W;
	if (rng_pct(r, 40))
		fl |= PHYSIM_X;
	if (rng_pct(r, 30))
		fl |= PHYSIM_U;
	if (rng_pct(r, 10))
		fl |= PHYSIM_DEVICE;
	else if (rng_pct(r, 10))
		fl |= PHYSIM_UNCACHED;
	return fl & i->flags_supported;
}

/* Map one page; a combination the format refuses is retried with plain
 * flags, an output address it cannot hold with one below 4 GiB. Returns
 * 0, -EEXIST (something already there) or dies. */
static int map_page(struct gen *g, const struct physim_pt_format_info *i, struct physim_pt *pt,
		    uint64_t va, uint64_t pa, uint64_t size)
{
	struct physim_pt_mapping m = {.va = va, .pa = pa, .size = size};
	m.flags = random_flags(&g->rng, i);
	if (rng_pct(&g->rng, 30))
		m.arch = rng_next(&g->rng) & i->arch_attr_mask;
	/* 32-bit x86 paging cannot express "not executable": R|W|X last. */
	static const uint32_t plain[] = {PHYSIM_R | PHYSIM_W, PHYSIM_R | PHYSIM_W | PHYSIM_X};
	unsigned nplain = 0;
	int rc;
	for (;;) {
		rc = physim_pt_map_ex(pt, &m, 0);
		if (rc == -EINVAL && m.pa >= bit(32)) {
			m.pa &= bit(32) - 1;
		} else if (rc == -ENOTSUP && nplain < 2) {
			m.arch = 0;
			m.flags = plain[nplain++];
		} else {
			break;
		}
	}
	if (rc < 0 && rc != -EEXIST)
		die("%s: map %#" PRIx64 " -> %#" PRIx64 " size %#" PRIx64 ": %s", i->name, va, pa,
		    size, physim_strerror(rc));
	return rc;
}

/* A page size for the next mapping: mostly the smallest, the rest spread
 * over every other size a leaf may have. */
static unsigned random_leaf_level(struct rng *r, const struct physim_pt_format_info *i)
{
	unsigned lv[PHYSIM_PT_MAX_LEVELS], n = 0;
	for (unsigned l = 1; l < i->levels; l++)
		if (i->level[l].leaf_ok)
			lv[n++] = l;
	if (n == 0 || rng_pct(r, 65))
		return 0;
	return lv[rng_below(r, n)];
}

/* The size of a leaf at level l: now and then a grouped leaf (a run of
 * entries making one page: AArch64 Contiguous bit, RISC-V Svnapot) where the
 * level has them, so QEMU checks the addresses their entries give. Formats
 * without grouped leaves draw nothing more from the generator. */
static uint64_t random_leaf_size(struct rng *r, const struct physim_pt_format_info *i, unsigned l)
{
	uint64_t size = bit(i->level[l].shift);
	if (i->level[l].group_log2 != 0 && rng_pct(r, 25))
		size <<= i->level[l].group_log2;
	return size;
}

/* Clusters span four pages of a random huge size (or four last-level
 * tables' worth when the format has no huge pages), so dense clusters share
 * their tables and sparse ones need tables of their own. */
static uint64_t random_window_page(struct rng *r, const struct physim_pt_format_info *i)
{
	unsigned l = random_leaf_level(r, i);
	if (l == 0)
		l = 1;
	return bit(i->level[l].shift);
}

/* Where a leaf of `size` points: a callback, because nested stage-1 leaves
 * aim at guest-physical memory that stage 2 maps. Returns an address inside
 * the page-to-be; the caller aligns it down. */
typedef uint64_t (*pick_pa_fn)(struct gen *g);

static uint64_t pick_pa_random(struct gen *g, const struct physim_pt_format_info *i)
{
	unsigned bits = rng_pct(&g->rng, 50) ? 32 : i->pa_bits;
	if (rng_pct(&g->rng, 1))
		return 0;
	return rng_below(&g->rng, bit(bits));
}

static uint64_t pick_pa_single(struct gen *g)
{
	return pick_pa_random(g, &g->i1);
}

static uint64_t pick_hpa_s2(struct gen *g)
{
	return pick_pa_random(g, &g->i2);
}

/* Exclusive upper end of the stage-2 input range the test uses. */
static uint64_t s2_input_end(const struct gen *g)
{
	return g->h2[0].base + g->h2[0].size;
}

/* RV32 with the H extension: QEMU 7.2 passes guest-physical addresses to its
 * G-stage walk as a 32-bit target_ulong, so a GPA at or above 4 GiB - a
 * VS-stage table address or a VS-stage output - is cut to 32 bits and comes
 * back wrong (observed: unmapped), although Sv32 leaves and Sv32x4 take
 * 34-bit GPAs. A documented QEMU deviation: nested Sv32 keeps every GPA
 * below 4 GiB. */
static bool rv32_gpa_cut(const struct gen *g)
{
	return g->f2 != NULL && g->i2.arch == PHYSIM_ARCH_RISCV64 && g->i2.pte_bytes == 4;
}

/* Exclusive upper end of the GPAs stage-1 leaves may point at. */
static uint64_t gpa_limit(const struct gen *g)
{
	return rv32_gpa_cut(g) ? bit(32) : bit(g->i1.pa_bits);
}

/* A nested stage-1 leaf: mostly somewhere stage 2 maps, sometimes anywhere
 * in the stage-2 input range, into the stage-1 tables themselves, or beyond
 * the stage-2 input range (where the format can express it). */
static uint64_t pick_gpa_s1(struct gen *g)
{
	unsigned dice = (unsigned)rng_below(&g->rng, 100);
	uint64_t end = s2_input_end(g), limit = gpa_limit(g);
	uint64_t gpa;
	if (dice < 75 && g->m2.n > 0) {
		const struct range *m = &g->m2.v[rng_below(&g->rng, g->m2.n)];
		gpa = m->va + rng_below(&g->rng, m->size);
	} else if (dice < 90) {
		gpa = rng_below(&g->rng, end < limit ? end : limit);
	} else if (dice < 97 || limit <= 2 * end) {
		gpa = g->pool.win_base + rng_below(&g->rng, g->pool.win_size);
	} else {
		/* Beyond the stage-2 input range; above 2 * end so that RISC-V
		 * G-stage GPAs never fall in the excluded upper half. */
		gpa = 2 * end + rng_below(&g->rng, limit - 2 * end);
	}
	return gpa;
}

/*
 * Random mappings in a few clusters: windows of four huge pages (of a random
 * size) placed at the start, the end or anywhere in an input range, so that
 * tables are shared, the edges of every range are used, and page sizes mix.
 * A skipped range (nested: the window stage-1 tables live in) is left alone.
 */
static void populate(struct gen *g, const struct physim_pt_format_info *i, const struct half *h,
		     unsigned nh, unsigned nmaps, pick_pa_fn pick_pa, struct ranges *out,
		     const struct range *skip)
{
	unsigned nclusters = 4 + (unsigned)rng_below(&g->rng, 5);
	for (unsigned c = 0; c < nclusters; c++) {
		const struct half *hh = &h[rng_below(&g->rng, nh)];
		uint64_t win = 4 * random_window_page(&g->rng, i);
		if (win == 0 || win > hh->size)
			win = hh->size;
		uint64_t nwin = hh->size / win, w;
		unsigned where = (unsigned)rng_below(&g->rng, 4);
		w = where == 0 ? 0 : where == 1 ? nwin - 1 : rng_below(&g->rng, nwin);
		uint64_t wbase = hh->base + w * win;
		uint64_t prev = wbase;
		for (unsigned k = 0; k < nmaps / nclusters; k++) {
			uint64_t size = random_leaf_size(&g->rng, i, random_leaf_level(&g->rng, i));
			uint64_t va;
			if (rng_pct(&g->rng, 50) && prev - wbase + 2 * size <= win)
				va = physim_align_up(prev, size); /* next to the last one */
			else
				va = wbase + physim_align_down(rng_below(&g->rng, win), size);
			if (va - wbase + size > win)
				continue;
			if (skip && physim_ranges_overlap(va, size, skip->va, skip->size))
				continue;
			uint64_t tva = hh->tbl_base + (va - hh->base);
			uint64_t target = pick_pa(g);
			uint64_t pa = physim_align_down(target, size);
			if (map_page(g, i, hh->pt, tva, pa, size) == 0) {
				ranges_add(out, va, size, target - pa);
				prev = va + size;
			}
		}
	}
}

/* ---- physim's answers ---- */

/* physim_pt_query through the tables: 1 and *pa, or 0 (unmapped). Nested:
 * the stage-1 answer (its table fetches resolved by the pool, which refuses
 * hidden frames: -EFAULT, a stage-2 fault on a table fetch) composed with the
 * stage-2 table's answer for the GPA. */
static int query_one(const struct half *h, unsigned nh, uint64_t va, uint64_t *pa)
{
	const struct half *hh = find_half(h, nh, va);
	struct physim_pt_mapping m;
	if (hh == NULL)
		return 0;
	uint64_t tva = hh->tbl_base + (va - hh->base);
	int rc = physim_pt_query(hh->pt, tva, &m);
	if (rc == -ENOENT || rc == -EINVAL || rc == -EFAULT)
		return 0;
	if (rc < 0)
		die("physim_pt_query %#" PRIx64 ": %s", va, physim_strerror(rc));
	*pa = m.pa + (tva - m.va);
	return 1;
}

static int expect_query(struct gen *g, uint64_t va, uint64_t *pa, uint64_t *gpa_out)
{
	uint64_t gpa;
	if (g->f2 == NULL)
		return query_one(g->h1, g->nh1, va, pa);
	if (!query_one(g->h1, g->nh1, va, &gpa))
		return 0;
	*gpa_out = gpa;
	/* Stage 2 accepts whatever its format accepts (physim checks the
	 * range itself), not only the half the test maps. */
	struct half whole = {g->t2, 0, bit(g->i2.va_bits), 0};
	return query_one(&whole, 1, gpa, pa);
}

/* The walker's answer for a supervisor read: 1 and *pa, 0 (a fault), or -1
 * when the format has no walker rules yet. */
static int expect_walk(struct gen *g, uint64_t va, uint64_t *pa)
{
	if (g->mmu1 == NULL)
		return -1;
	struct physim_access acc = {.va = va};
	struct physim_xlate x;
	int rc = g->f2 ? physim_nested_translate(g->mmu1, g->mmu2, &acc, &x)
		       : physim_mmu_probe(g->mmu1, &acc, &x);
	if (rc == -EFAULT)
		return 0;
	if (rc < 0)
		die("walk %#" PRIx64 ": %s", va, physim_strerror(rc));
	*pa = x.pa;
	return 1;
}

/* Control state matching the QEMU setup run-oracle.py makes: x86 with
 * MAXPHYADDR 52 (QEMU's debug walker does not check MAXPHYADDR, and leaves
 * use all 52 bits), RISC-V with SUM (QEMU's gva2gpa forces it) and hardware
 * A/D updates (QEMU 7.2 sets A and D itself, as Svadu), AArch64 EL1 with PAN
 * clear, the format's output size as IPS (TCR.IPS / VTCR.PS = 0b101 for 48
 * bits, 0b110 for the -52 formats, as run-oracle.py sets them) and HA (QEMU's
 * gva2gpa does not check the Access flag). A and AF matter only with
 * --mutations: every leaf physim writes has them set. */
static struct physim_mmu_ctl walk_ctl(const struct physim_pt_format_info *i)
{
	return (struct physim_mmu_ctl){.maxphyaddr = 52,
				       .sum = true,
				       .svadu = true,
				       .ips_bits = i->pa_bits >= 52 ? 52 : 48,
				       .ha = true};
}

static void setup_walker(struct gen *g)
{
	struct physim_mmu_config c1 = {
	    .format = g->f1,
	    .mem = g->f2 ? NULL : g->ph,
	    .root = physim_pt_root(g->t1),
	    .root_hi = g->t1_hi ? physim_pt_root(g->t1_hi) : 0,
	    .ctl = walk_ctl(&g->i1),
	};
	int rc = physim_mmu_create(&c1, &g->mmu1);
	if (rc == -ENOTSUP) {
		g->mmu1 = NULL;
		return;
	}
	if (rc < 0)
		die("physim_mmu_create %s: %s", g->i1.name, physim_strerror(rc));
	if (g->f2 == NULL)
		return;
	struct physim_mmu_config c2 = {
	    .format = g->f2, .mem = g->ph, .root = physim_pt_root(g->t2), .ctl = walk_ctl(&g->i2)};
	rc = physim_mmu_create(&c2, &g->mmu2);
	if (rc < 0) {
		physim_mmu_destroy(g->mmu1);
		g->mmu1 = NULL;
		if (rc != -ENOTSUP)
			die("physim_mmu_create %s: %s", g->i2.name, physim_strerror(rc));
	}
}

/* ---- test addresses ---- */

static bool dont_care(const struct gen *g, uint64_t va)
{
	/* RISC-V G-stage alone: the upper half of the GPA space (see
	 * input_halves). */
	if (g->f2 == NULL && is_riscv_gstage(&g->i1))
		return va >= bit(g->i1.va_bits - 1) && va < bit(g->i1.va_bits);
	return false;
}

/* An input address outside every range a table serves: non-canonical,
 * between TTBR0 and TTBR1, beyond the input size. Rejection sampling over
 * addresses near the edges of the input width and fully random ones. */
static bool gap_address(struct gen *g, uint64_t *out)
{
	for (int tries = 0; tries < 64; tries++) {
		uint64_t va;
		unsigned e = g->i1.va_bits - 1 + (unsigned)rng_below(&g->rng, 3);
		if (rng_pct(&g->rng, 50))
			va = bit(e) + rng_below(&g->rng, bit(e > 40 ? 40 : e));
		else if (rng_pct(&g->rng, 50))
			va = -bit(e) - 1 - rng_below(&g->rng, bit(e > 40 ? 40 : e));
		else
			va = rng_next(&g->rng);
		if (g->addr_bits == 32)
			va &= bit(32) - 1;
		if (find_half(g->h1, g->nh1, va) == NULL && !dont_care(g, va)) {
			*out = va;
			return true;
		}
	}
	return false;
}

static void print_answer(int found, uint64_t pa)
{
	if (found < 0)
		printf(" n/a");
	else if (found)
		printf(" %#" PRIx64, pa);
	else
		printf(" -");
}

/* --fetch: the walker's answer for a privileged instruction fetch at va
 * aligned down to 4, with TCR_ELx.HA = 0 (a real fetch in QEMU takes Access
 * flag faults, unlike gva2gpa): `x VA ok` or `x VA KIND@LEVEL`, KIND one of
 * trans, af, perm, asize, bus. */
static void emit_fetch(struct gen *g, uint64_t va)
{
	static const char *const kinds[] = {
	    [PHYSIM_FAULT_NOT_PRESENT] = "trans",  [PHYSIM_FAULT_PERMISSION] = "perm",
	    [PHYSIM_FAULT_ACCESS_FLAG] = "af",	   [PHYSIM_FAULT_RESERVED] = "trans",
	    [PHYSIM_FAULT_ADDRESS_SIZE] = "asize", [PHYSIM_FAULT_NON_CANONICAL] = "trans",
	    [PHYSIM_FAULT_BUS_ERROR] = "bus"};
	struct physim_access a = {.va = va & ~UINT64_C(3), .exec = true};
	struct physim_xlate x;
	int rc = physim_mmu_probe(g->mmu_fetch, &a, &x);
	if (rc == 0)
		printf("x %#" PRIx64 " ok\n", a.va);
	else if (rc == -EFAULT)
		printf("x %#" PRIx64 " %s@%d\n", a.va, kinds[x.fault.kind], x.fault.level);
	else
		die("fetch probe %#" PRIx64 ": %s", a.va, physim_strerror(rc));
}

static void emit_note(struct gen *g, uint64_t va, const char *where, const char *note)
{
	uint64_t pq = 0, pw = 0, gpa = UINT64_MAX;
	int q = g->mutated ? -1 : expect_query(g, va, &pq, &gpa);
	int w = expect_walk(g, va, &pw);
	printf("q %#" PRIx64, va);
	print_answer(q, pq);
	print_answer(w, pw);
	/* nested: stage 1's output, for the report (- when stage 1 faults) */
	print_answer(gpa != UINT64_MAX, gpa);
	if (note)
		printf(" %s%s%s", where, *where ? " " : "", note);
	printf("\n");
	if (g->mmu_fetch != NULL)
		emit_fetch(g, va);
}

static void emit(struct gen *g, uint64_t va)
{
	emit_note(g, va, "", NULL);
}

/* Mutation targets first; then per mapping: the aimed byte (nested: and
 * another in its 4 KiB page), the first and last byte, the bytes just
 * outside; then random addresses near mappings, anywhere in the input
 * ranges, and outside them. */
static void emit_queries(struct gen *g)
{
	unsigned budget = g->o.queries, done = 0;
	unsigned per_map = g->f2 ? 6 : 5;
	unsigned nrandom = budget / 5, ngap = budget / 40;
	unsigned nmap_q = budget - nrandom - ngap;
	const struct half *h = g->h1;
	for (size_t k = 0; k < g->ntargets; k++)
		emit_note(g, g->targets[k].va, g->targets[k].where, g->targets[k].what);
	for (size_t k = 0; k < g->m1.n && done + per_map <= nmap_q; k++) {
		const struct range *m = &g->m1.v[rng_below(&g->rng, g->m1.n)];
		const struct half *hh = find_half(h, g->nh1, m->va);
		emit(g, m->va + m->aim);
		/* nested: another byte of the 4 KiB page stage 2 was aimed at */
		if (g->f2 && m->size > PHYSIM_FRAME_SIZE)
			emit(g, m->va + ((m->aim & ~(PHYSIM_FRAME_SIZE - 1)) |
					 rng_below(&g->rng, PHYSIM_FRAME_SIZE)));
		emit(g, m->va);
		emit(g, m->va + m->size - 1);
		if (m->va != hh->base)
			emit(g, m->va - 1);
		if (m->va + m->size - hh->base < hh->size)
			emit(g, m->va + m->size);
		done += per_map;
	}
	for (unsigned k = 0; k < nrandom + (nmap_q - done); k++) {
		const struct half *hh = &h[rng_below(&g->rng, g->nh1)];
		if (rng_pct(&g->rng, 50) && g->m1.n > 0) {
			/* near a mapping: the tables along the way exist */
			const struct range *m = &g->m1.v[rng_below(&g->rng, g->m1.n)];
			uint64_t span = 64 * m->size,
				 va = m->va - span / 2 + rng_below(&g->rng, span);
			const struct half *mh = find_half(h, g->nh1, m->va);
			if (va - mh->base < mh->size) {
				emit(g, va);
				continue;
			}
		}
		emit(g, hh->base + rng_below(&g->rng, hh->size));
	}
	for (unsigned k = 0; k < ngap; k++) {
		uint64_t va;
		if (gap_address(g, &va))
			emit(g, va);
	}
}

/* ---- building ---- */

static const struct physim_pt_format *format_or_die(const char *name,
						    struct physim_pt_format_info *info)
{
	const struct physim_pt_format *f = physim_format(name);
	if (f == NULL)
		die("unknown format %s", name);
	physim_format_get_info(f, info);
	return f;
}

static struct physim_pt *new_table(const struct physim_pt_format *f,
				   const struct physim_paging_handler *ph)
{
	struct physim_pt *pt;
	int rc = physim_pt_create(f, ph, &pt);
	if (rc < 0)
		die("physim_pt_create %s: %s", physim_format_name(f), physim_strerror(rc));
	return pt;
}

/* Stage-1 tables at the two lowest levels, candidates for hiding. */
struct low_tables {
	uint64_t gpa[64];
	unsigned n;
};

static int note_low_table(void *ctx, uint64_t va, uint64_t span, unsigned level, physim_hpa_t pa)
{
	struct low_tables *t = ctx;
	if (level <= 1 && t->n < 64)
		t->gpa[t->n++] = pa;
	return 0;
}

/* Hide up to two low-level stage-1 tables (see the pool): the walks through
 * them must fault at stage 2 while fetching a stage-1 descriptor, and every
 * other walk must be unaffected. Low levels, so that most of stage 1 stays
 * reachable. */
static void hide_tables(struct gen *g)
{
	struct low_tables t = {.n = 0};
	const struct physim_pt_walk_ops ops = {.table = note_low_table};
	for (unsigned k = 0; k < g->nh1; k++)
		physim_pt_walk(g->h1[k].pt, g->h1[k].tbl_base, g->h1[k].size, &ops, &t);
	for (unsigned hidden = 0; hidden < 2 && t.n > 0; hidden++) {
		unsigned k = (unsigned)rng_below(&g->rng, t.n);
		uint64_t gpa = t.gpa[k];
		struct pool_frame *e = pool_find(&g->pool, gpa);
		t.gpa[k] = t.gpa[--t.n];
		if (e == NULL || e->gpa != gpa || e->hidden)
			continue;
		int rc = physim_pt_unmap_region(g->t2, e->gpa, e->nframes * PHYSIM_FRAME_SIZE);
		if (rc < 0)
			die("hiding a stage-1 table: %s", physim_strerror(rc));
		e->hidden = true;
	}
}

/* ---- mutations ---- */

/* The tables a walk of one address passes through, root first. */
struct path {
	struct {
		uint64_t pa;
		unsigned level;
	} t[PHYSIM_PT_MAX_LEVELS];
	unsigned n;
};

static int note_path_table(void *ctx, uint64_t va, uint64_t span, unsigned level, physim_hpa_t pa)
{
	struct path *p = ctx;
	if (p->n < PHYSIM_PT_MAX_LEVELS) {
		p->t[p->n].pa = pa;
		p->t[p->n].level = level;
		p->n++;
	}
	return 0;
}

/* Host pointer to the descriptor table at pa (GPA for nested stage 1). */
static uint8_t *table_mem(struct gen *g, bool pooled, uint64_t pa)
{
	void *hva = NULL;
	if (pooled)
		return pool_phys_to_virt(&g->pool, pa);
	return physim_ram_phys_to_virt(g->ram, pa, &hva) == 0 ? hva : NULL;
}

static uint64_t load_desc(const uint8_t *p, unsigned bytes)
{
	uint64_t d = 0;
	memcpy(&d, p, bytes); /* little-endian host, as the formats assume */
	return d;
}

/* Mutate one descriptor on the walk of `addr` (a table-own address) through
 * pt, at most max_up tables above the last; true if one was changed.
 * `nowhere`: a table address without memory. */
static bool mutate_on_path(struct gen *g, struct physim_pt *pt,
			   const struct physim_pt_format_info *i, bool pooled, uint64_t addr,
			   uint64_t nowhere, unsigned max_up, const char **what)
{
	struct path p = {.n = 0};
	const struct physim_pt_walk_ops ops = {.table = note_path_table};
	physim_pt_walk(pt, addr, 1, &ops, &p); /* stops early at a broken table */
	if (p.n == 0)
		return false;
	/* Mostly the last table on the path, sometimes the one above, never the
	 * root unless it is the last: a broken descriptor near the root would
	 * hide much of the table from every later test address. */
	unsigned k = p.n - 1;
	if (k > 1 && max_up > 0 && rng_pct(&g->rng, 15))
		k -= rng_pct(&g->rng, 80) || k == 2 || max_up == 1 ? 1 : 2;
	unsigned lv = p.t[k].level;
	uint8_t *t = table_mem(g, pooled, p.t[k].pa);
	if (t == NULL)
		return false;
	uint64_t idx = (addr >> i->level[lv].shift) & (bit(i->level[lv].index_bits) - 1);
	uint8_t *slot = t + idx * i->pte_bytes;
	uint64_t d = load_desc(slot, i->pte_bytes), nd;
	/* bit 0 is the valid / present bit in every family compared here */
	if (!(d & 1) || !mutate_descriptor(i, lv, d, nowhere, &g->rng, &nd, what))
		return false;
	memcpy(slot, &nd, i->pte_bytes);
	return true;
}

static void add_target(struct gen *g, uint64_t va, const char *where, const char *what)
{
	g->targets = xrealloc(g->targets, g->ntargets + 1, sizeof(*g->targets));
	g->targets[g->ntargets++] = (struct target){va, where, what};
}

/* The GPA stage 2 translates when stage 1 fetches its descriptor for va at
 * a random level of the stage-1 walk. */
static bool s1_descriptor_gpa(struct gen *g, const struct half *hh, uint64_t va, uint64_t *gpa)
{
	struct path p = {.n = 0};
	const struct physim_pt_walk_ops ops = {.table = note_path_table};
	uint64_t tva = hh->tbl_base + (va - hh->base);
	physim_pt_walk(hh->pt, tva, 1, &ops, &p);
	if (p.n < 2)
		return false;
	/* not the root table: every walk fetches from it */
	unsigned k = p.n - 1, lv;
	if (k > 1 && rng_pct(&g->rng, 30))
		k--;
	lv = p.t[k].level;
	uint64_t idx = (tva >> g->i1.level[lv].shift) & (bit(g->i1.level[lv].index_bits) - 1);
	*gpa = p.t[k].pa + idx * g->i1.pte_bytes;
	return true;
}

/*
 * Apply the mutations, each on a walk that translating a mapped byte makes:
 * stage 1's, or when nested, stage 2's for the GPA the byte reaches or for
 * one of the stage-1 descriptors on its way (a stage-1 table fetch). That
 * byte and another in its 4 KiB page become test addresses. Later mutations
 * walk tables earlier ones may have cut; those walks stop short and mutate
 * higher up.
 */
static void apply_mutations(struct gen *g)
{
	uint64_t ram_nowhere = physim_align_up(g->o.ram_base + g->o.ram_size, 1 << 16) + (64 << 20);
	uint64_t gpa_nowhere = g->f2 ? g->pool.win_base + g->pool.win_size - (1 << 16) : 0;
	for (unsigned n = 0, tries = 0; n < g->o.mutations && tries < 20 * g->o.mutations;
	     tries++) {
		if (g->m1.n == 0)
			break;
		const struct range *m = &g->m1.v[rng_below(&g->rng, g->m1.n)];
		uint64_t va = m->va + m->aim, gpa;
		const struct half *hh = find_half(g->h1, g->nh1, va);
		const char *what, *where;
		unsigned dice = g->f2 ? (unsigned)rng_below(&g->rng, 100) : 0;
		bool done;
		if (dice >= 70) {
			/* every stage-1 table lies in one small window of stage
			 * 2 (the 16K/64K ones side by side): only its last
			 * level, or most of them would go at once */
			where = "stage 2 of a stage-1 table:";
			done = s1_descriptor_gpa(g, hh, va, &gpa) &&
			       mutate_on_path(g, g->t2, &g->i2, false, gpa, ram_nowhere, 0, &what);
		} else if (dice >= 40) {
			where = "stage 2:";
			done = query_one(g->h1, g->nh1, va, &gpa) && gpa < bit(g->i2.va_bits) &&
			       mutate_on_path(g, g->t2, &g->i2, false, gpa, ram_nowhere, 2, &what);
		} else {
			where = g->f2 ? "stage 1:" : "";
			done = mutate_on_path(g, hh->pt, &g->i1, g->f2 != NULL,
					      hh->tbl_base + (va - hh->base),
					      g->f2 ? gpa_nowhere : ram_nowhere, 2, &what);
		}
		if (!done)
			continue;
		g->mutated = true;
		add_target(g, va, where, what);
		add_target(g,
			   physim_align_down(va, PHYSIM_FRAME_SIZE) +
			       rng_below(&g->rng, PHYSIM_FRAME_SIZE),
			   where, what);
		n++;
	}
}

static void build_single(struct gen *g, unsigned nmaps)
{
	g->t1 = new_table(g->f1, g->ph);
	if (has_upper_table(&g->i1))
		g->t1_hi = new_table(g->f1, g->ph);
	g->nh1 = input_halves(&g->i1, g->t1, g->t1_hi, g->h1);
	/* Only what the CPU's address register can hold is reachable (Sv32x4
	 * GPAs above 4 GiB need a stage 1, see the nested tests). */
	for (unsigned k = 0; k < g->nh1 && g->addr_bits == 32; k++)
		if (g->h1[k].size > bit(32) - g->h1[k].base)
			g->h1[k].size = bit(32) - g->h1[k].base;
	populate(g, &g->i1, g->h1, g->nh1, nmaps, pick_pa_single, &g->m1, NULL);
}

static void build_nested(struct gen *g, unsigned nmaps)
{
	g->t2 = new_table(g->f2, g->ph);
	input_halves(&g->i2, g->t2, NULL, g->h2);
	/* Stage 2 maps only GPAs stage 1 can produce (Sv57's 56-bit output
	 * does not reach the whole Sv57x4 range). */
	if (g->h2[0].size > gpa_limit(g))
		g->h2[0].size = gpa_limit(g);
	/* The window for stage-1 tables: 256 MiB-aligned, above 256 MiB,
	 * inside the stage-2 input range the test uses and below 2^40. */
	uint64_t end = s2_input_end(g);
	if (end > bit(40))
		end = bit(40);
	uint64_t nslots = end / POOL_WINDOW - 2;
	pool_init(&g->pool, g->ram, g->t2, &g->rng, (1 + rng_below(&g->rng, nslots)) * POOL_WINDOW);
	struct range skip = {.va = g->pool.win_base, .size = g->pool.win_size};
	/* Stage 2 first, so stage-1 leaves can aim at what it maps. */
	populate(g, &g->i2, g->h2, 1, nmaps, pick_hpa_s2, &g->m2, &skip);
	g->t1 = new_table(g->f1, &g->pool.ph);
	if (has_upper_table(&g->i1))
		g->t1_hi = new_table(g->f1, &g->pool.ph);
	g->nh1 = input_halves(&g->i1, g->t1, g->t1_hi, g->h1);
	populate(g, &g->i1, g->h1, g->nh1, nmaps, pick_gpa_s1, &g->m1, NULL);
	hide_tables(g);
}

/* Default RAM per format family: above 4 GiB where the root register can
 * hold it (so table addresses use their high bits), below 4 GiB for 32-bit
 * x86 whose CR3 has 32 bits. Sv32's satp holds a 22-bit PPN: 34-bit PA. */
static void default_ram(struct gen *g)
{
	const struct physim_pt_format_info *i = &g->i1;
	if (g->o.ram_base == 0) {
		if (i->arch == PHYSIM_ARCH_X86_64)
			g->o.ram_base =
			    i->va_bits == 32 ? UINT64_C(0x10000000) : UINT64_C(0x140000000);
		else if (i->arch == PHYSIM_ARCH_RISCV64)
			g->o.ram_base =
			    i->pte_bytes == 4 ? UINT64_C(0x240000000) : UINT64_C(0x180000000);
		else
			g->o.ram_base = UINT64_C(0x100000000);
	}
	if (g->o.ram_size == 0)
		g->o.ram_size = UINT64_C(128) << 20;
}

static uint64_t parse_num(const char *s, const char *what)
{
	char *end;
	errno = 0;
	uint64_t v = strtoull(s, &end, 0);
	if (errno || *s == '\0' || *end != '\0')
		die("bad %s: %s", what, s);
	return v;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	for (int k = 1; k < argc; k += 2) {
		const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
		if (v == NULL)
			die("%s needs a value", a);
		if (strcmp(a, "--format") == 0)
			o->format = v;
		else if (strcmp(a, "--s2") == 0)
			o->s2format = v;
		else if (strcmp(a, "--image") == 0)
			o->image = v;
		else if (strcmp(a, "--seed") == 0)
			o->seed = parse_num(v, "seed");
		else if (strcmp(a, "--queries") == 0)
			o->queries = (unsigned)parse_num(v, "query count");
		else if (strcmp(a, "--mutations") == 0)
			o->mutations = (unsigned)parse_num(v, "mutation count");
		else if (strcmp(a, "--ram-base") == 0)
			o->ram_base = parse_num(v, "RAM base");
		else if (strcmp(a, "--ram-size") == 0)
			o->ram_size = parse_num(v, "RAM size");
		else if (strcmp(a, "--fetch") == 0)
			o->fetch = parse_num(v, "--fetch") != 0;
		else
			die("unknown option %s", a);
	}
	if (o->format == NULL || o->image == NULL || o->queries == 0)
		die("usage: oracle-gen --format F [--s2 F2] --seed N --queries N --image OUT "
		    "[--mutations N] [--ram-base B] [--ram-size S] [--fetch 1]");
}

/* Give everything back, so leak checkers see a clean exit. */
static void gen_release(struct gen *g)
{
	physim_mmu_destroy(g->mmu1);
	physim_mmu_destroy(g->mmu2);
	physim_mmu_destroy(g->mmu_fetch);
	physim_pt_destroy(g->t1);
	physim_pt_destroy(g->t1_hi);
	physim_pt_destroy(g->t2);
	free(g->m1.v);
	free(g->m2.v);
	free(g->targets);
	free(g->pool.v);
	physim_ram_destroy(g->ram);
}

int main(int argc, char **argv)
{
	struct gen g = {0};
	parse_args(argc, argv, &g.o);
	g.rng.s = g.o.seed;
	g.f1 = format_or_die(g.o.format, &g.i1);
	if (g.o.s2format != NULL) {
		g.f2 = format_or_die(g.o.s2format, &g.i2);
		if (g.i1.stage2 || !g.i2.stage2)
			die("--format must be a stage-1 format and --s2 a stage-2 format");
	}
	g.addr_bits = g.i1.va_bits <= 32 || (g.i1.stage2 && g.i1.pte_bytes == 4) ? 32 : 64;
	default_ram(&g);

	int rc = physim_ram_create(
	    &(struct physim_ram_config){.base = g.o.ram_base, .size = g.o.ram_size}, &g.ram);
	if (rc < 0)
		die("physim_ram_create: %s", physim_strerror(rc));
	g.ph = physim_ram_paging_handler(g.ram);

	unsigned nmaps = g.o.queries / 8 + 16;
	if (g.f2)
		build_nested(&g, nmaps);
	else
		build_single(&g, nmaps);
	setup_walker(&g);
	if (g.o.fetch) {
		struct physim_mmu_config c = {.format = g.f1,
					      .mem = g.ph,
					      .root = physim_pt_root(g.t1),
					      .root_hi = g.t1_hi ? physim_pt_root(g.t1_hi) : 0,
					      .ctl = {.ips_bits = 48}};
		if (g.f2 != NULL || physim_mmu_create(&c, &g.mmu_fetch) < 0)
			die("--fetch needs a single stage-1 format with walker rules");
	}
	/* mutated tables can only be compared through the walker */
	if (g.mmu1 != NULL)
		apply_mutations(&g);
	rc = physim_ram_save(g.ram, g.o.image);
	if (rc < 0)
		die("physim_ram_save %s: %s", g.o.image, physim_strerror(rc));

	printf("format %s\ns2format %s\n", g.i1.name, g.f2 ? g.i2.name : "-");
	printf("ram_base %#" PRIx64 "\nram_size %#" PRIx64 "\n", g.o.ram_base, g.o.ram_size);
	printf("root %#" PRIx64 "\nroot_hi %#" PRIx64 "\ns2root %#" PRIx64 "\n",
	       physim_pt_root(g.t1), g.t1_hi ? physim_pt_root(g.t1_hi) : 0,
	       g.t2 ? physim_pt_root(g.t2) : 0);
	printf("mappings %zu\ns2mappings %zu\nwalker %s\n", g.m1.n, g.m2.n, g.mmu1 ? "yes" : "no");
	emit_queries(&g);
	int status = fflush(stdout) == 0 ? 0 : 1;
	gen_release(&g);
	return status;
}
