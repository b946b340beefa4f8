/* SPDX-License-Identifier: MIT */
/* tests/test_pt_model.c - every page-table format (the compiled-in ones and
 * the toy formats) against a reference model: seeded random sequences of
 * map / map_region / map_region_cb / unmap / unmap_region / protect /
 * protect_region / remap, with injected allocation failures, checked after
 * every step by queries and periodically by a full walk. The model is a
 * sorted list of pages (va -> pa, size, flags, accessed, dirty) built from
 * the rules alone: greedy largest pages, splits into the next smaller size;
 * it is tests/common/ptmodel.h, the one the fuzz harnesses use.
 * Set PHYSIM_SEED to reproduce a run; the seed is printed on failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/ptmodel.h"
#include "common/rng.h"
#include "pt-toy-format.h"
#include <physim/ram.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE  (UINT64_C(256) << 20)
#define NOPS	  6000
#define NOPS_KEEP 1500
#define MODEL_MAX 4000 /* pages */

/* ---- random numbers (tests/common/rng.h) ---- */

static uint64_t rng;

static uint64_t rnd(void)
{
	return tc_rand(&rng);
}

static uint64_t below(uint64_t n)
{
	return tc_rand_below(&rng, n);
}

/* ---- failure context ---- */

static uint64_t base_seed;
static const char *cur_format = "";
static int cur_op;
static char cur_desc[160];

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			print_message("FAILED: %s\n  seed=%" PRIu64 " format=%s op#%d: %s\n",      \
				      #cond, base_seed, cur_format, cur_op, cur_desc);             \
			fail();                                                                    \
		}                                                                                  \
	} while (0)

/* A check inside the shared model fails the test with the context above. */
static void model_failed(const char *what)
{
	print_message("FAILED in the model: %s\n  seed=%" PRIu64 " format=%s op#%d: %s\n", what,
		      base_seed, cur_format, cur_op, cur_desc);
	fail();
}

/* ---- the reference model (tests/common/ptmodel.h) ---- */

/* The shared format facts, and what this test probes on top: the flag
 * combinations it checks query against, and how far output addresses go. */
struct fmodel {
	const struct pm_fmt *pm;
	uint32_t good[64]; /* supported flag combinations */
	unsigned ngood;
	uint32_t bad[64]; /* refused ones */
	unsigned nbad;
	uint64_t pa_lim;
};

/* ---- the engine side ---- */

struct run {
	struct fmodel *fm;
	struct physim_ram *ram;
	struct physim_counting_hal *ch;
	struct physim_pt *pt;
	struct pm_model m;
	bool keep_empty;
};

static bool combo_ok(const struct fmodel *fm, uint32_t flags)
{
	for (unsigned i = 0; i < fm->ngood; i++)
		if (fm->good[i] == flags)
			return true;
	return false;
}

/* Compare one address with the model. */
static void check_addr(struct run *r, uint64_t va)
{
	struct physim_pt_mapping q;
	ptrdiff_t i = pm_model_find(&r->m, va);
	int rc = physim_pt_query(r->pt, va, &q);
	if (i < 0) {
		if (rc != -ENOENT)
			print_message("va %#" PRIx64 ": rc %d, pa %#" PRIx64 " size %#" PRIx64 "\n",
				      va, rc, q.pa, q.size);
		CHECK(rc == -ENOENT);
		return;
	}
	const struct pm_page *p = &r->m.p[i];
	if (rc != 0 || q.va != p->va || q.pa != p->pa || q.size != p->size || q.flags != p->flags ||
	    q.accessed != p->acc || q.dirty != p->dirty)
		print_message("va %#" PRIx64 ": rc %d got va %#" PRIx64 " pa %#" PRIx64
			      " size %#" PRIx64 " flags %#x a%d d%d, model va %#" PRIx64
			      " pa %#" PRIx64 " size %#" PRIx64 " flags %#x a%d d%d\n",
			      va, rc, q.va, q.pa, q.size, q.flags, q.accessed, q.dirty, p->va,
			      p->pa, p->size, p->flags, p->acc, p->dirty);
	CHECK(rc == 0);
	CHECK(q.va == p->va && q.pa == p->pa && q.size == p->size);
	CHECK(q.level == pm_level_of(r->fm->pm, p->size));
	CHECK(q.flags == p->flags);
	CHECK(q.accessed == p->acc && q.dirty == p->dirty);
}

/* The whole table against the whole model, and the frame count. */
static void check_all(struct run *r)
{
	struct fmodel *fm = r->fm;
	struct pm_leaves l = {0};
	struct physim_pt_walk_ops ops = {.leaf = pm_collect_leaf};
	for (unsigned k = 0; k < fm->pm->narenas; k++)
		CHECK(physim_pt_walk(r->pt, fm->pm->arena[k].base, fm->pm->arena[k].size, &ops,
				     &l) == 0);
	if (l.n != r->m.n)
		print_message("walk found %zu leaves, model has %zu\n", l.n, r->m.n);
	/* Arenas are visited in base order; the model is sorted the same way. */
	CHECK(l.n == r->m.n);
	for (size_t i = 0; i < l.n; i++) {
		const struct pm_page *p = &r->m.p[i];
		const struct physim_pt_mapping *q = &l.v[i];
		if (q->va != p->va || q->pa != p->pa || q->size != p->size || q->flags != p->flags)
			print_message("leaf %zu: va %#" PRIx64 " pa %#" PRIx64 " size %#" PRIx64
				      " flags %#x; model va %#" PRIx64 " pa %#" PRIx64
				      " size %#" PRIx64 " flags %#x\n",
				      i, q->va, q->pa, q->size, q->flags, p->va, p->pa, p->size,
				      p->flags);
		CHECK(q->va == p->va && q->pa == p->pa && q->size == p->size);
		CHECK(q->flags == p->flags && q->accessed == p->acc && q->dirty == p->dirty);
	}
	free(l.v);
	CHECK((int64_t)physim_pt_table_frames(r->pt) ==
	      physim_counting_hal_counts(r->ch).frames_live);
}

/* Addresses around an operation's range and around some pages. */
static void check_some(struct run *r, uint64_t s, uint64_t last)
{
	struct fmodel *fm = r->fm;
	uint64_t probe[] = {s, s - 1, last, last + 1, s + (last - s) / 2};
	for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++)
		if (pm_in_arena(fm->pm, probe[i]))
			check_addr(r, probe[i]);
	for (int i = 0; i < 4 && r->m.n; i++) {
		const struct pm_page *p = &r->m.p[below(r->m.n)];
		uint64_t around[] = {p->va, p->va + p->size - 1, p->va - 1, p->va + p->size,
				     p->va + below(p->size)};
		for (size_t j = 0; j < 5; j++)
			if (pm_in_arena(fm->pm, around[j]))
				check_addr(r, around[j]);
	}
	for (int i = 0; i < 4; i++) {
		unsigned k = (unsigned)below(fm->pm->narenas);
		check_addr(r, fm->pm->arena[k].base + below(fm->pm->arena[k].size));
	}
	CHECK((int64_t)physim_pt_table_frames(r->pt) ==
	      physim_counting_hal_counts(r->ch).frames_live);
}

/* ---- setting a format up ---- */

static void probe_flags(struct run *r)
{
	struct fmodel *fm = r->fm;
	uint64_t va = fm->pm->arena[0].base;
	fm->ngood = fm->nbad = 0;
	uint32_t allowed = fm->pm->info.flags_supported | (fm->pm->info.stage2 ? PHYSIM_U : 0);
	for (uint32_t c = 0; c < 64; c++) {
		snprintf(cur_desc, sizeof(cur_desc), "probe flags %#x", c);
		int rc = physim_pt_map(r->pt, va, 0, fm->pm->gran, c);
		CHECK(rc == 0 || rc == -ENOTSUP);
		/* DEVICE and UNCACHED exclude each other; flags outside
		 * flags_supported are refused (stage 2: U is ignored). */
		if ((c & PHYSIM_DEVICE) && (c & PHYSIM_UNCACHED))
			CHECK(rc == -ENOTSUP);
		if (c & ~allowed)
			CHECK(rc == -ENOTSUP);
		if (rc != 0) {
			CHECK(!pm_flags_ok(fm->pm, c));
			fm->bad[fm->nbad++] = c;
			CHECK(physim_pt_query(r->pt, va, NULL) == -ENOENT);
			continue;
		}
		fm->good[fm->ngood++] = c;
		/* The shared model probed the same on a scratch table. */
		CHECK(pm_flags_ok(fm->pm, c));
		struct physim_pt_mapping q;
		CHECK(physim_pt_query(r->pt, va, &q) == 0);
		CHECK(q.flags == pm_flags_seen(fm->pm, c));
		CHECK(physim_pt_unmap(r->pt, va, NULL) == 0);
	}
	CHECK(fm->ngood > 0);
	CHECK((int64_t)physim_pt_table_frames(r->pt) ==
	      physim_counting_hal_counts(r->ch).frames_live);
}

/* The highest output address each leaf level reaches. pa_bits is the
 * format's widest; a level may reach less (i386 2-level: PSE-36 widens only
 * 4M pages), so the sequence keeps pa below the narrowest level's limit.
 * At pa_bits every level must refuse. */
static void probe_pa_limits(struct run *r)
{
	struct fmodel *fm = r->fm;
	uint32_t flags = fm->good[0];
	uint64_t va = fm->pm->arena[0].base;
	for (unsigned l = 0; l < fm->pm->nsizes; l++) {
		uint64_t sz = fm->pm->sizes[l];
		snprintf(cur_desc, sizeof(cur_desc), "probe pa width, level %u", l);
		if (fm->pm->info.pa_bits < 64)
			CHECK(physim_pt_map(r->pt, va, UINT64_C(1) << fm->pm->info.pa_bits, sz,
					    flags) == -EINVAL);
		for (unsigned b = fm->pm->info.pa_bits; b > 12; b--) {
			uint64_t lim = b >= 64 ? UINT64_MAX : UINT64_C(1) << b;
			if (lim < sz)
				break;
			int rc = physim_pt_map(r->pt, va, lim - sz + (b >= 64), sz, flags);
			CHECK(rc == 0 || rc == -EINVAL);
			if (rc != 0)
				continue;
			CHECK(physim_pt_unmap(r->pt, va, NULL) == 0);
			if (lim < fm->pa_lim)
				fm->pa_lim = lim;
			break;
		}
	}
	CHECK(fm->pa_lim >= fm->pm->biggest * 32);
}

static void fmodel_init(struct fmodel *fm, const struct physim_pt_format *f)
{
	memset(fm, 0, sizeof(*fm));
	/* Sizes (leaf levels contiguous from 0), arenas: the shared model's. */
	fm->pm = pm_fmt_get(f);
	fm->pa_lim = fm->pm->info.pa_bits >= 64 ? UINT64_MAX : UINT64_C(1) << fm->pm->info.pa_bits;
}

static void run_open(struct run *r, struct fmodel *fm, bool keep_empty)
{
	memset(r, 0, sizeof(*r));
	r->fm = fm;
	r->keep_empty = keep_empty;
	struct physim_ram_config rc = {.size = RAM_SIZE};
	assert_int_equal(physim_ram_create(&rc, &r->ram), 0);
	struct physim_counting_hal_config cc = {.paging = physim_ram_paging_handler(r->ram)};
	assert_int_equal(physim_counting_hal_create(&cc, &r->ch), 0);
	struct physim_pt_config c = {
	    .format = fm->pm->f,
	    .paging = physim_counting_hal_paging(r->ch),
	    .keep_empty_tables = keep_empty,
	};
	assert_int_equal(physim_pt_create_ex(&c, &r->pt), 0);
}

static void run_close(struct run *r)
{
	physim_pt_destroy(r->pt);
	CHECK(physim_counting_hal_counts(r->ch).frames_live == 0);
	CHECK(physim_ram_stats(r->ram).used_frames == 0);
	physim_counting_hal_destroy(r->ch);
	physim_ram_destroy(r->ram);
	free(r->m.p);
}

/* ---- operations ---- */

struct range {
	unsigned arena;
	uint64_t va, size;
};

/* A va aligned to sz in an arena: half the time near an existing page. */
static uint64_t pick_va(struct run *r, unsigned k, uint64_t sz)
{
	struct fmodel *fm = r->fm;
	uint64_t base = fm->pm->arena[k].base, size = fm->pm->arena[k].size;
	if (r->m.n && (rnd() & 1)) {
		const struct pm_page *p = &r->m.p[below(r->m.n)];
		if (p->va - base < size) {
			uint64_t off = p->va - base + below(4 * sz) - 2 * sz;
			if (off < size)
				return base + (off & ~(sz - 1));
		}
	}
	return base + below(size / sz) * sz;
}

/* Clip [va, va + size) to the arena. */
static uint64_t clip(const struct fmodel *fm, unsigned k, uint64_t va, uint64_t size)
{
	uint64_t end_off = va - fm->pm->arena[k].base;
	return size > fm->pm->arena[k].size - end_off ? fm->pm->arena[k].size - end_off : size;
}

static unsigned pick_level(const struct fmodel *fm)
{
	return rnd() % 3 == 0 ? (unsigned)below(fm->pm->nsizes) : 0;
}

/* A pa base leaving room for 8 of the largest pages below pa_lim. */
static uint64_t pick_pa_base(const struct fmodel *fm)
{
	uint64_t slots = fm->pa_lim / fm->pm->biggest;
	return below(slots > 16 ? slots - 16 : 1) * fm->pm->biggest;
}

/* A random range of up to a few pages of a random size class. */
static struct range pick_range(struct run *r)
{
	struct fmodel *fm = r->fm;
	struct range g;
	g.arena = (unsigned)below(fm->pm->narenas);
	uint64_t sz = fm->pm->sizes[pick_level(fm)];
	g.va = pick_va(r, g.arena, sz) + below(3) * fm->pm->gran;
	g.size = (1 + below(3)) * sz + below(3) * fm->pm->gran;
	if (sz == fm->pm->gran)
		g.size = (1 + below(40)) * fm->pm->gran;
	if (g.va - fm->pm->arena[g.arena].base >= fm->pm->arena[g.arena].size)
		g.va = fm->pm->arena[g.arena].base;
	g.size = clip(fm, g.arena, g.va, g.size);
	return g;
}

static uint32_t pick_flags(const struct fmodel *fm, bool bad)
{
	if (bad && fm->nbad)
		return fm->bad[below(fm->nbad)];
	return fm->good[below(fm->ngood)];
}

/* The engine's result against the model's: an injected allocation failure
 * (-ENOMEM where the model expects success) is the only allowed difference. */
static int settle(int rc, int want)
{
	if (rc == -ENOMEM && want == 0)
		return -ENOMEM;
	CHECK(rc == want);
	return 0;
}

static int expect_map(struct run *r, uint64_t va, uint64_t size, uint32_t flags, bool replace)
{
	if (!combo_ok(r->fm, flags))
		return -ENOTSUP;
	if (!replace && pm_model_overlaps(&r->m, va, va + (size - 1)))
		return -EEXIST;
	return 0;
}

static int op_map_region(struct run *r, struct range *g, bool bad)
{
	struct fmodel *fm = r->fm;
	bool huge = rnd() & 1, replace = rnd() % 3 == 0;
	uint32_t flags = pick_flags(fm, bad);
	uint64_t pa;
	if (g->size > 64 * fm->pm->gran || (huge && rnd() % 4))
		/* Congruent with va modulo the largest page: huge pages fit. */
		pa = pick_pa_base(fm) + (g->va & (fm->pm->biggest - 1));
	else
		pa = pick_pa_base(fm) + below(fm->pm->biggest / fm->pm->gran) * fm->pm->gran;
	if (!huge && g->size > 64 * fm->pm->gran)
		g->size = 64 * fm->pm->gran;
	unsigned opts = (huge ? PHYSIM_ALLOW_HUGE : 0) | (replace ? PHYSIM_REPLACE : 0);
	snprintf(cur_desc, sizeof(cur_desc),
		 "map_region va %#" PRIx64 " pa %#" PRIx64 " size %#" PRIx64 " flags %#x opts %u",
		 g->va, pa, g->size, flags, opts);
	int want = expect_map(r, g->va, g->size, flags, replace);
	int rc = physim_pt_map_region(r->pt, g->va, pa, g->size, flags, opts);
	if (rc == 0 && want == 0) {
		uint64_t last = g->va + (g->size - 1);
		if (replace)
			pm_model_remove(fm->pm, &r->m, g->va, last);
		pm_model_add_run(fm->pm, &r->m, g->va, pa, g->size, flags, huge);
	}
	return settle(rc, want);
}

static int op_map_one(struct run *r, bool bad)
{
	struct fmodel *fm = r->fm;
	unsigned k = (unsigned)below(fm->pm->narenas);
	uint64_t sz = fm->pm->sizes[pick_level(fm)];
	uint64_t va = pick_va(r, k, sz);
	uint64_t pa = pick_pa_base(fm) + below(fm->pm->biggest / sz) * sz;
	uint32_t flags = pick_flags(fm, bad);
	bool replace = rnd() % 3 == 0;
	snprintf(cur_desc, sizeof(cur_desc),
		 "map_ex va %#" PRIx64 " pa %#" PRIx64 " size %#" PRIx64 " flags %#x replace %d",
		 va, pa, sz, flags, replace);
	struct physim_pt_mapping mx = {.va = va, .pa = pa, .size = sz, .flags = flags};
	int want = expect_map(r, va, sz, flags, replace);
	int rc = physim_pt_map_ex(r->pt, &mx, replace ? PHYSIM_REPLACE : 0);
	if (rc == 0 && want == 0) {
		if (replace)
			pm_model_remove(fm->pm, &r->m, va, va + (sz - 1));
		struct pm_page pg = pm_page_new(fm->pm, va, pa, sz, flags);
		pm_model_add(&r->m, &pg);
	}
	check_some(r, va, va + (sz - 1));
	return settle(rc, want);
}

struct cb_pages {
	uint64_t va, gran;
	uint64_t pa[64];
};

static int cb_pa(void *ctx, uint64_t va, uint64_t *pa)
{
	struct cb_pages *c = ctx;
	*pa = c->pa[(va - c->va) / c->gran];
	return 0;
}

static int op_map_cb(struct run *r, struct range *g, bool bad)
{
	struct fmodel *fm = r->fm;
	struct cb_pages c = {.va = g->va, .gran = fm->pm->gran};
	if (g->size > 64 * fm->pm->gran)
		g->size = 64 * fm->pm->gran;
	uint64_t n = g->size / fm->pm->gran;
	for (uint64_t i = 0; i < n; i++)
		c.pa[i] = below(fm->pa_lim / fm->pm->gran) * fm->pm->gran;
	uint32_t flags = pick_flags(fm, bad);
	bool replace = rnd() % 3 == 0;
	snprintf(cur_desc, sizeof(cur_desc),
		 "map_region_cb va %#" PRIx64 " size %#" PRIx64 " flags %#x replace %d", g->va,
		 g->size, flags, replace);
	int want = expect_map(r, g->va, g->size, flags, replace);
	int rc = physim_pt_map_region_cb(r->pt, g->va, g->size, flags, replace ? PHYSIM_REPLACE : 0,
					 cb_pa, &c);
	if (rc == 0 && want == 0) {
		if (replace)
			pm_model_remove(fm->pm, &r->m, g->va, g->va + (g->size - 1));
		for (uint64_t i = 0; i < n; i++) {
			struct pm_page pg = pm_page_new(fm->pm, g->va + i * fm->pm->gran, c.pa[i],
							fm->pm->gran, flags);
			pm_model_add(&r->m, &pg);
		}
	}
	return settle(rc, want);
}

static int op_unmap_region(struct run *r, struct range *g)
{
	snprintf(cur_desc, sizeof(cur_desc), "unmap_region va %#" PRIx64 " size %#" PRIx64, g->va,
		 g->size);
	int rc = physim_pt_unmap_region(r->pt, g->va, g->size);
	if (rc == 0)
		pm_model_remove(r->fm->pm, &r->m, g->va, g->va + (g->size - 1));
	return settle(rc, 0);
}

static void protect_page(const struct fmodel *fm, struct pm_page *p, uint32_t flags)
{
	p->flags = pm_flags_seen(fm->pm, flags);
	p->acc = p->acc || fm->pm->set_accessed_on_map;
	p->dirty = p->dirty || (fm->pm->set_dirty_on_map && (flags & PHYSIM_W));
}

static int op_protect_region(struct run *r, struct range *g, bool bad)
{
	struct fmodel *fm = r->fm;
	uint32_t flags = pick_flags(fm, bad);
	snprintf(cur_desc, sizeof(cur_desc),
		 "protect_region va %#" PRIx64 " size %#" PRIx64 " flags %#x", g->va, g->size,
		 flags);
	int want = combo_ok(fm, flags) ? 0 : -ENOTSUP;
	int rc = physim_pt_protect_region(r->pt, g->va, g->size, flags);
	if (rc == 0 && want == 0) {
		size_t a, b;
		pm_model_isolate(fm->pm, &r->m, g->va, g->va + (g->size - 1), &a, &b);
		for (size_t i = a; i < b; i++)
			protect_page(fm, &r->m.p[i], flags);
	}
	return settle(rc, want);
}

/* An address inside an existing page most of the time. */
static uint64_t pick_addr(struct run *r)
{
	struct fmodel *fm = r->fm;
	if (r->m.n && rnd() % 4) {
		const struct pm_page *p = &r->m.p[below(r->m.n)];
		return rnd() & 1 ? p->va : p->va + below(p->size);
	}
	unsigned k = (unsigned)below(fm->pm->narenas);
	return fm->pm->arena[k].base + below(fm->pm->arena[k].size);
}

static int op_single(struct run *r, int which, bool bad)
{
	struct fmodel *fm = r->fm;
	uint64_t va = pick_addr(r);
	ptrdiff_t i = pm_model_find(&r->m, va);
	uint32_t flags = pick_flags(fm, bad);
	int want = i < 0 ? -ENOENT : 0, rc;
	struct physim_pt_mapping old;

	switch (which) {
	case 0:
		snprintf(cur_desc, sizeof(cur_desc), "unmap %#" PRIx64, va);
		memset(&old, 0, sizeof(old));
		rc = physim_pt_unmap(r->pt, va, &old);
		if (rc == 0 && want == 0) {
			CHECK(old.va == r->m.p[i].va && old.pa == r->m.p[i].pa);
			CHECK(old.size == r->m.p[i].size && old.flags == r->m.p[i].flags);
			pm_model_splice(&r->m, (size_t)i, 1, NULL, 0);
		}
		break;
	case 1:
		snprintf(cur_desc, sizeof(cur_desc), "protect %#" PRIx64 " flags %#x", va, flags);
		if (want == 0 && !combo_ok(fm, flags))
			want = -ENOTSUP;
		rc = physim_pt_protect(r->pt, va, flags);
		if (rc == 0 && want == 0)
			protect_page(fm, &r->m.p[i], flags);
		break;
	default: {
		/* remap: the page's start (or, sometimes, not: -EINVAL). */
		uint64_t sz = i >= 0 ? r->m.p[i].size : fm->pm->gran;
		if (i >= 0 && rnd() % 8)
			va = r->m.p[i].va;
		uint64_t pa = pick_pa_base(fm) + below(fm->pm->biggest / sz) * sz;
		snprintf(cur_desc, sizeof(cur_desc), "remap %#" PRIx64 " pa %#" PRIx64 " flags %#x",
			 va, pa, flags);
		if (want == 0 && va != r->m.p[i].va)
			want = -EINVAL;
		else if (want == 0 && !combo_ok(fm, flags))
			want = -ENOTSUP;
		rc = physim_pt_remap(r->pt, va, pa, flags);
		if (rc == 0 && want == 0)
			r->m.p[i] = pm_page_new(fm->pm, va, pa, sz, flags);
		break;
	}
	}
	check_some(r, va, va);
	return settle(rc, want);
}

/* What the MMU does on an access: set accessed (and dirty on a writable
 * page) in the leaf, here through the format's own encode/decode. The
 * engine must keep these bits through splits and protect. */
static void hw_touch(struct run *r)
{
	const struct physim_pt_format *f = r->fm->pm->f;
	if (r->m.n == 0)
		return;
	struct pm_page *p = &r->m.p[below(r->m.n)];
	snprintf(cur_desc, sizeof(cur_desc), "hardware touches %#" PRIx64, p->va);
	struct physim_direct_map dm = physim_ram_direct_map(r->ram);
	uint64_t t = physim_pt_root(r->pt);
	for (unsigned l = f->levels - 1u;; l--) {
		uint8_t *e = (uint8_t *)physim_dm_phys_to_virt(&dm, t) +
			     pt_index(f, p->va, l) * f->pte_bytes;
		uint64_t d = 0;
		memcpy(&d, e, f->pte_bytes);
		enum pt_kind k = f->ops->classify(f, d, l);
		CHECK(k == PT_LEAF || (k == PT_TABLE && l > 0));
		if (k == PT_TABLE) {
			t = f->ops->output_addr(f, d, l);
			continue;
		}
		struct pt_leaf_attr a = {0};
		f->ops->decode_leaf(f, d, l, &a);
		a.accessed = true;
		a.dirty = a.dirty || (a.flags & PHYSIM_W);
		if (f->ops->encode_leaf(f, f->ops->output_addr(f, d, l), &a, l, &d) != 0)
			return;
		memcpy(e, &d, f->pte_bytes);
		/* What the descriptor can hold (a format may have no dirty
		 * state, or tie it to writability). */
		struct pt_leaf_attr now = {0};
		f->ops->decode_leaf(f, d, l, &now);
		CHECK(now.flags == a.flags && now.arch == a.arch);
		p->acc = now.accessed;
		p->dirty = now.dirty;
		return;
	}
}

/* One random operation; with probability 1/25 an allocation failure is
 * injected at one of its first allocations. */
static void step(struct run *r)
{
	bool inject = rnd() % 25 == 0;
	bool bad = rnd() % 20 == 0;
	if (rnd() % 12 == 0)
		hw_touch(r);
	if (inject) {
		struct physim_counting_hal_config plan = {.fail_nth = 1 + below(3)};
		physim_counting_hal_set_plan(r->ch, &plan);
	}
	struct range g = pick_range(r);
	uint64_t roll = below(100);
	int rc;
	if (roll < 28)
		rc = op_map_region(r, &g, bad);
	else if (roll < 38)
		rc = op_map_one(r, bad);
	else if (roll < 44)
		rc = op_map_cb(r, &g, bad);
	else if (roll < 60)
		rc = op_unmap_region(r, &g);
	else if (roll < 72)
		rc = op_protect_region(r, &g, bad);
	else
		rc = op_single(r, (int)below(3), bad);
	if (inject) {
		struct physim_counting_hal_config none = {0};
		physim_counting_hal_set_plan(r->ch, &none);
	}
	if (roll < 72)
		check_some(r, g.va, g.va + (g.size - 1));
	if (rc == -ENOMEM || cur_op % 64 == 0)
		check_all(r);
}

/* Keep the model (and the run time) small: when splits have made many
 * pages, unmap the largest-page window around random pages - an ordinary,
 * checked operation - until few are left. */
static void shrink(struct run *r)
{
	struct fmodel *fm = r->fm;
	while (r->m.n > MODEL_MAX) {
		uint64_t va = r->m.p[below(r->m.n)].va & ~(fm->pm->biggest - 1);
		struct range g = {.va = va, .size = fm->pm->biggest};
		CHECK(op_unmap_region(r, &g) == 0);
		check_some(r, g.va, g.va + (g.size - 1));
	}
}

static void run_format(const struct physim_pt_format *f, uint64_t seed, bool keep_empty, int nops)
{
	struct fmodel fm;
	struct run r;
	cur_format = f->name;
	cur_op = -1;
	rng = seed;
	fmodel_init(&fm, f);
	run_open(&r, &fm, keep_empty);
	uint64_t root_frames = physim_pt_table_frames(r.pt);
	probe_flags(&r);
	probe_pa_limits(&r);
	for (cur_op = 0; cur_op < nops; cur_op++) {
		step(&r);
		shrink(&r);
	}
	check_all(&r);
	/* Unmap everything: without keep_empty_tables only the root is left. */
	snprintf(cur_desc, sizeof(cur_desc), "final unmap");
	for (unsigned k = 0; k < fm.pm->narenas; k++)
		CHECK(physim_pt_unmap_region(r.pt, fm.pm->arena[k].base, fm.pm->arena[k].size) ==
		      0);
	r.m.n = 0;
	check_all(&r);
	if (!keep_empty)
		CHECK(physim_pt_table_frames(r.pt) == root_frames);
	run_close(&r);
}

static uint64_t format_seed(size_t k)
{
	return base_seed * UINT64_C(0x100000001b3) + k + 1;
}

static void test_model_all_formats(void **state)
{
	(void)state;
	size_t n = physim_format_count();
	for (size_t k = 0; k < n + TOY_FORMAT_COUNT; k++) {
		const struct physim_pt_format *f = k < n ? physim_format_at(k) : toy_formats[k - n];
		run_format(f, format_seed(k), false, NOPS);
	}
}

/* The same with keep_empty_tables: empty tables stay and are reused, huge
 * pages take their place when asked. */
static void test_model_keep_empty(void **state)
{
	(void)state;
	size_t n = physim_format_count();
	for (size_t k = 0; k < n + TOY_FORMAT_COUNT; k++) {
		const struct physim_pt_format *f = k < n ? physim_format_at(k) : toy_formats[k - n];
		run_format(f, format_seed(k) ^ 0x5555, true, NOPS_KEEP);
	}
}

int main(void)
{
	const char *s = getenv("PHYSIM_SEED");
	base_seed = s ? strtoull(s, NULL, 0) : 20240601;
	tc_fail_hook = model_failed;
	print_message("test_pt_model: seed %" PRIu64 " (PHYSIM_SEED), %zu formats + %zu toys\n",
		      base_seed, physim_format_count(), (size_t)TOY_FORMAT_COUNT);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_model_all_formats),
	    cmocka_unit_test(test_model_keep_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
