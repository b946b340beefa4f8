/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_pt.c - page-table operations (map, map_ex, map_region,
 * map_region_cb, unmap, unmap_region, protect, protect_region, remap, query,
 * walk, probe, hardware A/D updates by the walker) on every format and the
 * toy formats, decoded from the input and checked after every step against
 * a reference page model; allocation failures are injected on request;
 * destroy must return every frame.
 *
 * Input: byte 0 format, byte 1 options, then operations: one byte (low 4
 * bits the operation, bit 4 "bad argument", bit 5 replace, bit 6 huge pages,
 * bit 7 fail an allocation) followed by its operands. */
#include "common/ptmodel.h"
#include "fuzz.h"
#include "pt-toy-format.h"

#include <physim/ram.h>
#include <physim/walk.h>

#define MAX_OPS	       300
#define MAX_PAGES      30000
#define MAX_CB_PAGES   64
#define MAX_FLAT_PAGES 256

struct run {
	struct fz in;
	const struct pm_fmt *fm;
	struct physim_ram *ram;
	struct physim_counting_hal *ch;
	struct physim_pt *pt;
	struct pm_model m;
	bool inject;
	bool failed; /* the current operation returned an error */
};

static size_t nformats(void)
{
	return physim_format_count() + TOY_FORMAT_COUNT;
}

static const struct physim_pt_format *format_at(size_t k)
{
	size_t n = physim_format_count();
	return k < n ? physim_format_at(k) : toy_formats[k - n];
}

static int64_t frames_live(const struct run *r)
{
	return physim_counting_hal_counts(r->ch).frames_live;
}

/* ---- comparing the table with the model ---- */

static void check_addr(struct run *r, uint64_t va)
{
	struct physim_pt_mapping q;
	ptrdiff_t i = pm_model_find(&r->m, va);
	int rc = physim_pt_query(r->pt, va, &q);
	if (i < 0) {
		FZ_CHECK(rc == -ENOENT);
		return;
	}
	const struct pm_page *p = &r->m.p[i];
	FZ_CHECK(rc == 0);
	FZ_CHECK(q.va == p->va && q.pa == p->pa && q.size == p->size);
	FZ_CHECK(q.level == pm_level_of(r->fm, p->size));
	FZ_CHECK(q.flags == p->flags);
	FZ_CHECK(q.accessed == p->acc && q.dirty == p->dirty);
}

/* Every leaf of every arena against the model, and the frame count. */
static void check_all(struct run *r)
{
	const struct pm_fmt *fm = r->fm;
	struct pm_leaves c = {0};
	struct physim_pt_walk_ops ops = {.leaf = pm_collect_leaf};
	for (unsigned k = 0; k < fm->narenas; k++)
		FZ_CHECK(physim_pt_walk(r->pt, fm->arena[k].base, fm->arena[k].size, &ops, &c) ==
			 0);
	FZ_CHECK(c.n == r->m.n);
	for (size_t i = 0; i < c.n; i++) {
		const struct pm_page *p = &r->m.p[i];
		const struct physim_pt_mapping *q = &c.v[i];
		FZ_CHECK(q->va == p->va && q->pa == p->pa && q->size == p->size);
		FZ_CHECK(q->flags == p->flags && q->accessed == p->acc && q->dirty == p->dirty);
	}
	free(c.v);
	FZ_CHECK((int64_t)physim_pt_table_frames(r->pt) == frames_live(r));
}

/* The edges of an operation's range and a few pages picked by the input. */
static void check_some(struct run *r, uint64_t va, uint64_t last)
{
	const uint64_t probe[] = {va, va - 1, last, last + 1, va + (last - va) / 2};
	for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++)
		if (pm_in_arena(r->fm, probe[i]))
			check_addr(r, probe[i]);
	for (int i = 0; i < 2 && r->m.n; i++) {
		const struct pm_page *p = &r->m.p[fz_below(&r->in, r->m.n)];
		check_addr(r, p->va);
		check_addr(r, p->va + (p->size - 1));
	}
	FZ_CHECK((int64_t)physim_pt_table_frames(r->pt) == frames_live(r));
}

/* ---- operands ---- */

static uint32_t pick_flags(struct run *r)
{
	uint8_t b = fz_u8(&r->in);
	uint64_t ok = r->fm->ok_flags;
	if ((b & 0xc0) == 0xc0)
		return b & 63; /* any combination, accepted or not */
	/* The (b % popcount)-th accepted combination. */
	unsigned k = b % (unsigned)__builtin_popcountll(ok);
	for (uint32_t c = 0;; c++)
		if ((ok >> c & 1) && k-- == 0)
			return c;
}

static uint64_t pick_size_class(struct run *r)
{
	return r->fm->sizes[fz_below(&r->in, r->fm->nsizes)];
}

/* A va aligned to sz in an arena picked by the input. */
static uint64_t pick_va(struct run *r, uint64_t sz)
{
	const struct pm_fmt *fm = r->fm;
	unsigned k = (unsigned)fz_below(&r->in, fm->narenas);
	return fm->arena[k].base + fz_below(&r->in, fm->arena[k].size / sz) * sz;
}

/* A pa aligned to sz, below 32 of the largest pages. */
static uint64_t pick_pa(struct run *r, uint64_t sz)
{
	const struct pm_fmt *fm = r->fm;
	return fz_below(&r->in, 16) * fm->biggest + fz_below(&r->in, fm->biggest / sz) * sz;
}

/* An address: mostly in or at an existing page, else anywhere in an arena. */
static uint64_t pick_addr(struct run *r)
{
	const struct pm_fmt *fm = r->fm;
	uint8_t how = fz_u8(&r->in) % 4;
	if (r->m.n && how < 3) {
		const struct pm_page *p = &r->m.p[fz_below(&r->in, r->m.n)];
		return how == 0 ? p->va : p->va + fz_below(&r->in, p->size / fm->gran) * fm->gran;
	}
	unsigned k = (unsigned)fz_below(&r->in, fm->narenas);
	return fm->arena[k].base + fz_u64(&r->in) % fm->arena[k].size;
}

struct range {
	uint64_t va, size;
};

/* A range of a few pages of one size class, within one arena. */
static struct range pick_range(struct run *r, uint64_t max_flat)
{
	const struct pm_fmt *fm = r->fm;
	unsigned k = (unsigned)fz_below(&r->in, fm->narenas);
	uint64_t unit = pick_size_class(r);
	struct range g;
	g.va = fm->arena[k].base + fz_below(&r->in, fm->arena[k].size / unit) * unit;
	g.va += fz_below(&r->in, 3) * fm->gran;
	if (unit == fm->gran)
		g.size = (1 + fz_below(&r->in, max_flat)) * fm->gran;
	else
		g.size = (1 + fz_below(&r->in, 4)) * unit + fz_below(&r->in, 3) * fm->gran;
	uint64_t room = fm->arena[k].size - (g.va - fm->arena[k].base);
	if (g.va - fm->arena[k].base >= fm->arena[k].size) {
		g.va = fm->arena[k].base;
		room = fm->arena[k].size;
	}
	if (g.size > room)
		g.size = room;
	return g;
}

/* ---- expectations ---- */

/* The engine's result against the model's: want, or alt when two errors
 * apply and the contract does not order them; an injected allocation
 * failure may turn an expected success into -ENOMEM. True if the model is
 * to be updated. */
static bool settle(struct run *r, int rc, int want, int alt)
{
	if (rc == -ENOMEM && want == 0 && r->inject) {
		r->failed = true;
		return false;
	}
	if (rc != want && rc != alt)
		fprintf(stderr, "fuzz_pt %s: rc %d, expected %d or %d\n", r->fm->info.name, rc,
			want, alt);
	FZ_CHECK(rc == want || rc == alt);
	r->failed = rc != 0;
	return rc == 0;
}

static int expect_map(struct run *r, uint64_t va, uint64_t last, uint32_t flags, bool replace)
{
	if (!pm_flags_ok(r->fm, flags))
		return -ENOTSUP;
	if (!replace && pm_model_overlaps(&r->m, va, last))
		return -EEXIST;
	return 0;
}

/* ---- operations ---- */

enum {
	OPB_BAD = 1u << 4,
	OPB_REPLACE = 1u << 5,
	OPB_HUGE = 1u << 6,
	OPB_INJECT = 1u << 7,
};

static void op_map_one(struct run *r, unsigned ob, struct range *g)
{
	const struct pm_fmt *fm = r->fm;
	uint64_t sz = pick_size_class(r);
	uint64_t va = pick_va(r, sz), pa = pick_pa(r, sz);
	uint32_t flags = pick_flags(r);
	bool replace = ob & OPB_REPLACE, ex = replace || (fz_u8(&r->in) & 1);
	int want = expect_map(r, va, va + (sz - 1), flags, replace);
	int alt = want;
	if (ob & OPB_BAD) {
		/* Misaligned va or pa, or a size that is no page size. */
		switch (fz_u8(&r->in) % 3) {
		case 0:
			va += sz > fm->gran ? fm->gran : fm->gran / 2;
			break;
		case 1:
			pa += sz > fm->gran ? fm->gran : fm->gran / 2;
			break;
		default:
			sz = fm->gran * 3;
			break;
		}
		alt = pm_flags_ok(fm, flags) ? -EINVAL : -ENOTSUP;
		want = -EINVAL;
	}
	g->va = va;
	g->size = sz;
	int rc;
	if (ex) {
		struct physim_pt_mapping m = {.va = va, .pa = pa, .size = sz, .flags = flags};
		rc = physim_pt_map_ex(r->pt, &m, replace ? PHYSIM_REPLACE : 0);
	} else {
		rc = physim_pt_map(r->pt, va, pa, sz, flags);
	}
	if (settle(r, rc, want, alt)) {
		if (replace)
			pm_model_remove(fm, &r->m, va, va + (sz - 1));
		struct pm_page pg = pm_page_new(fm, va, pa, sz, flags);
		pm_model_splice(&r->m, pm_model_lower(&r->m, va), 0, &pg, 1);
	}
}

static void op_map_region(struct run *r, unsigned ob, struct range *g)
{
	const struct pm_fmt *fm = r->fm;
	bool huge = ob & OPB_HUGE, replace = ob & OPB_REPLACE;
	*g = pick_range(r, MAX_FLAT_PAGES);
	if (!huge && g->size > MAX_FLAT_PAGES * fm->gran)
		g->size = MAX_FLAT_PAGES * fm->gran;
	uint64_t pa;
	if (g->size > MAX_FLAT_PAGES * fm->gran || (fz_u8(&r->in) & 3))
		/* Congruent with va modulo the largest page: huge pages fit,
		 * and a big range is made of few pages. */
		pa = fz_below(&r->in, 16) * fm->biggest + (g->va & (fm->biggest - 1));
	else
		pa = pick_pa(r, fm->gran);
	uint32_t flags = pick_flags(r);
	int want = expect_map(r, g->va, g->va + (g->size - 1), flags, replace), alt = want;
	uint64_t size = g->size;
	if (ob & OPB_BAD) {
		uint8_t how = fz_u8(&r->in) % 3;
		if (how == 0)
			size = 0;
		else if (how == 1)
			pa += fm->gran / 2;
		else
			size -= fm->gran / 2;
		alt = pm_flags_ok(fm, flags) ? -EINVAL : -ENOTSUP;
		want = -EINVAL;
	}
	unsigned opts = (huge ? PHYSIM_ALLOW_HUGE : 0) | (replace ? PHYSIM_REPLACE : 0);
	int rc = physim_pt_map_region(r->pt, g->va, pa, size, flags, opts);
	if (settle(r, rc, want, alt)) {
		if (replace)
			pm_model_remove(fm, &r->m, g->va, g->va + (g->size - 1));
		pm_model_add_run(r->fm, &r->m, g->va, pa, g->size, flags, huge);
	}
}

struct cb_plan {
	uint64_t va, gran;
	uint64_t pa[MAX_CB_PAGES];
	uint64_t fail_at; /* page index whose callback fails */
	int fail_rc;
};

static int cb_pa(void *ctx, uint64_t va, uint64_t *pa)
{
	struct cb_plan *c = ctx;
	uint64_t i = (va - c->va) / c->gran;
	FZ_CHECK(va >= c->va && i < MAX_CB_PAGES && (va - c->va) % c->gran == 0);
	if (i == c->fail_at) {
		if (c->fail_rc == 0) {
			*pa = c->pa[i] + c->gran / 2; /* a misaligned page */
			return 0;
		}
		return c->fail_rc;
	}
	*pa = c->pa[i];
	return 0;
}

static void op_map_cb(struct run *r, unsigned ob, struct range *g)
{
	const struct pm_fmt *fm = r->fm;
	*g = pick_range(r, MAX_CB_PAGES);
	if (g->size > MAX_CB_PAGES * fm->gran)
		g->size = MAX_CB_PAGES * fm->gran;
	uint64_t n = g->size / fm->gran;
	struct cb_plan c = {.va = g->va, .gran = fm->gran, .fail_at = UINT64_MAX};
	for (uint64_t i = 0; i < n; i++)
		c.pa[i] = pick_pa(r, fm->gran);
	bool replace = ob & OPB_REPLACE;
	uint32_t flags = pick_flags(r);
	int want = expect_map(r, g->va, g->va + (g->size - 1), flags, replace);
	if (ob & OPB_BAD) {
		/* The callback fails at one page: with an error of its own or
		 * with a misaligned address (-EINVAL); all is rolled back. */
		c.fail_at = fz_below(&r->in, n);
		c.fail_rc = fz_u8(&r->in) & 1 ? -EIO : 0;
		if (want == 0)
			want = c.fail_rc ? c.fail_rc : -EINVAL;
	}
	int rc = physim_pt_map_region_cb(r->pt, g->va, g->size, flags, replace ? PHYSIM_REPLACE : 0,
					 cb_pa, &c);
	if (settle(r, rc, want, want)) {
		if (replace)
			pm_model_remove(fm, &r->m, g->va, g->va + (g->size - 1));
		for (uint64_t i = 0; i < n; i++) {
			struct pm_page pg =
			    pm_page_new(fm, g->va + i * fm->gran, c.pa[i], fm->gran, flags);
			pm_model_splice(&r->m, pm_model_lower(&r->m, pg.va), 0, &pg, 1);
		}
	}
}

static void op_unmap_region(struct run *r, unsigned ob, struct range *g)
{
	*g = pick_range(r, MAX_FLAT_PAGES);
	uint64_t va = g->va, size = g->size;
	int want = 0;
	if (ob & OPB_BAD) {
		if (fz_u8(&r->in) & 1)
			va += r->fm->gran / 2;
		else
			size = 0;
		want = -EINVAL;
	}
	int rc = physim_pt_unmap_region(r->pt, va, size);
	if (settle(r, rc, want, want))
		pm_model_remove(r->fm, &r->m, g->va, g->va + (g->size - 1));
}

static void protect_page(const struct pm_fmt *fm, struct pm_page *p, uint32_t flags)
{
	p->flags = pm_flags_seen(fm, flags);
	p->acc = p->acc || fm->set_accessed_on_map;
	p->dirty = p->dirty || (fm->set_dirty_on_map && (flags & PHYSIM_W));
}

static void op_protect_region(struct run *r, unsigned ob, struct range *g)
{
	const struct pm_fmt *fm = r->fm;
	*g = pick_range(r, MAX_FLAT_PAGES);
	uint32_t flags = pick_flags(r);
	uint64_t va = g->va;
	int want = pm_flags_ok(fm, flags) ? 0 : -ENOTSUP, alt = want;
	if (ob & OPB_BAD) {
		va += fm->gran / 2;
		want = -EINVAL;
	}
	int rc = physim_pt_protect_region(r->pt, va, g->size, flags);
	if (settle(r, rc, want, alt)) {
		size_t a, b;
		pm_model_isolate(fm, &r->m, g->va, g->va + (g->size - 1), &a, &b);
		for (size_t i = a; i < b; i++)
			protect_page(fm, &r->m.p[i], flags);
	}
}

/* unmap, protect or remap of the page containing an address. */
static void op_single(struct run *r, unsigned which, struct range *g)
{
	const struct pm_fmt *fm = r->fm;
	uint64_t va = pick_addr(r);
	uint32_t flags = pick_flags(r);
	ptrdiff_t i = pm_model_find(&r->m, va);
	int want = i < 0 ? -ENOENT : 0, alt = want, rc;
	g->va = va;
	g->size = 1;
	if (which == 0) {
		struct physim_pt_mapping old;
		memset(&old, 0xa5, sizeof(old));
		rc = physim_pt_unmap(r->pt, va, &old);
		if (settle(r, rc, want, alt)) {
			const struct pm_page *p = &r->m.p[i];
			FZ_CHECK(old.va == p->va && old.pa == p->pa && old.size == p->size);
			FZ_CHECK(old.flags == p->flags);
			pm_model_splice(&r->m, (size_t)i, 1, NULL, 0);
		}
	} else if (which == 1) {
		if (!pm_flags_ok(fm, flags)) {
			alt = -ENOTSUP;
			if (want == 0)
				want = -ENOTSUP;
		}
		rc = physim_pt_protect(r->pt, va, flags);
		if (settle(r, rc, want, alt))
			protect_page(fm, &r->m.p[i], flags);
	} else {
		uint64_t sz = i >= 0 ? r->m.p[i].size : fm->gran;
		uint64_t pa = pick_pa(r, sz);
		if (i >= 0 && va != r->m.p[i].va)
			want = -EINVAL;
		if (!pm_flags_ok(fm, flags)) {
			alt = -ENOTSUP;
			if (want == 0)
				want = -ENOTSUP;
		}
		rc = physim_pt_remap(r->pt, va, pa, flags);
		if (settle(r, rc, want, alt))
			r->m.p[i] = pm_page_new(fm, va, pa, sz, flags);
	}
}

/* query outside the format's input range: -EINVAL. */
static void op_query_outside(struct run *r)
{
	const struct pm_fmt *fm = r->fm;
	unsigned vb = fm->info.va_bits - (fm->info.sign_extended ? 1 : 0);
	if (vb >= 63)
		return;
	/* Above the lower half and (sign-extended: below the upper half). */
	uint64_t va = (UINT64_C(1) << vb) + fz_below(&r->in, UINT64_C(1) << vb);
	struct physim_pt_mapping q;
	FZ_CHECK(physim_pt_query(r->pt, va, &q) == -EINVAL);
	FZ_CHECK(physim_pt_query(r->pt, va, NULL) == -EINVAL);
}

/* ---- walks ---- */

struct tiling {
	struct run *r;
	uint64_t va, cursor, last;
	bool done;
	unsigned items, stop_after;
};

/* A leaf or hole must start where the previous item ended. */
static int tile(struct tiling *t, uint64_t va, uint64_t size)
{
	FZ_CHECK(!t->done);
	uint64_t s = va < t->va ? t->va : va;
	uint64_t e = va + (size - 1);
	FZ_CHECK(s == t->cursor && s >= va && e >= s);
	if (e >= t->last)
		t->done = true;
	else
		t->cursor = e + 1;
	return ++t->items == t->stop_after ? 7 : 0;
}

static int tile_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	struct tiling *t = ctx;
	ptrdiff_t i = pm_model_find(&t->r->m, m->va);
	FZ_CHECK(i >= 0);
	const struct pm_page *p = &t->r->m.p[i];
	FZ_CHECK(p->va == m->va && p->pa == m->pa && p->size == m->size && p->flags == m->flags);
	return tile(t, m->va, m->size);
}

static int tile_hole(void *ctx, uint64_t va, uint64_t size, unsigned level)
{
	struct tiling *t = ctx;
	FZ_CHECK(level < t->r->fm->info.levels && size > 0);
	FZ_CHECK(!pm_model_overlaps(&t->r->m, va, va + (size - 1)));
	return tile(t, va, size);
}

static int tile_table(void *ctx, uint64_t va, uint64_t span, unsigned level, physim_hpa_t pa)
{
	struct tiling *t = ctx;
	FZ_CHECK(level < t->r->fm->info.levels && pa != 0);
	/* The root of a sign-extended format holds both halves; it is
	 * reported as [0, 2^va_bits), whichever half is walked. */
	const struct physim_pt_format_info *info = &t->r->fm->info;
	if (info->sign_extended && level == info->levels - 1) {
		FZ_CHECK(va == 0 && span == UINT64_C(1) << info->va_bits);
		return 0;
	}
	if (!(va <= t->last && va + (span - 1) >= t->cursor))
		fprintf(
		    stderr,
		    "fuzz_pt %s: table at level %u [%#llx, +%#llx) outside walk [%#llx, %#llx], "
		    "cursor %#llx\n",
		    t->r->fm->info.name, level, (unsigned long long)va, (unsigned long long)span,
		    (unsigned long long)t->va, (unsigned long long)t->last,
		    (unsigned long long)t->cursor);
	FZ_CHECK(va <= t->last && va + (span - 1) >= t->cursor);
	return 0;
}

/* Leaves and holes tile the walked range exactly, in order. */
static void op_walk(struct run *r, struct range *g)
{
	*g = pick_range(r, MAX_FLAT_PAGES);
	struct tiling t = {.r = r, .va = g->va, .cursor = g->va, .last = g->va + (g->size - 1)};
	t.stop_after = fz_u8(&r->in) % 32;
	struct physim_pt_walk_ops ops = {.leaf = tile_leaf, .hole = tile_hole, .table = tile_table};
	int rc = physim_pt_walk(r->pt, g->va, g->size, &ops, &t);
	if (t.stop_after != 0 && t.items == t.stop_after) {
		FZ_CHECK(rc == 7);
	} else {
		FZ_CHECK(rc == 0 && t.done);
	}
}

/* The walker on the engine's table: a hole faults as not present, a page
 * translates to its pa (or faults on permissions, never as not present). */
static void op_probe(struct run *r, struct range *g)
{
	if (r->fm->f->walk == NULL)
		return;
	uint64_t va = pick_addr(r);
	uint8_t b = fz_u8(&r->in);
	struct physim_access acc = {
	    .va = va, .write = b & 1, .exec = !(b & 1) && (b & 2), .user = b & 4};
	g->va = va;
	g->size = 1;
	struct physim_mmu *mmu;
	/* One table serves both halves of a sign-extended input range, so it
	 * is also the upper-half root (LoongArch PGDH), which the walker
	 * otherwise takes as absent (physim_translate does the same). */
	struct physim_mmu_config c = {.format = r->fm->f,
				      .mem = physim_counting_hal_paging(r->ch),
				      .root = physim_pt_root(r->pt),
				      .root_hi =
					  r->fm->info.sign_extended ? physim_pt_root(r->pt) : 0};
	FZ_CHECK(physim_mmu_create(&c, &mmu) == 0);
	struct physim_xlate x;
	int rc = physim_mmu_probe(mmu, &acc, &x);
	physim_mmu_destroy(mmu);
	ptrdiff_t i = pm_model_find(&r->m, va);
	if (i < 0) {
		FZ_CHECK(rc == -EFAULT && x.fault.kind == PHYSIM_FAULT_NOT_PRESENT);
		return;
	}
	const struct pm_page *p = &r->m.p[i];
	if (rc != 0 && x.fault.kind == PHYSIM_FAULT_NOT_PRESENT)
		fprintf(stderr, "fuzz_pt %s: page %#llx size %#llx flags %#x: %s\n",
			r->fm->info.name, (unsigned long long)p->va, (unsigned long long)p->size,
			p->flags, physim_fault_str(&x.fault));
	if (rc == 0) {
		FZ_CHECK(x.pa == p->pa + (va - p->va) && x.page_size == p->size);
	} else {
		FZ_CHECK(rc == -EFAULT && x.fault.kind != PHYSIM_FAULT_NONE &&
			 x.fault.kind != PHYSIM_FAULT_NOT_PRESENT);
	}
}

/* What the MMU does on an access: a translation with hardware A/D
 * management on sets accessed (and dirty, for a write) in the leaf. The
 * table must then report the bits set and nothing else changed; the model
 * takes them over, and the engine must keep them through splits and
 * protect (test_pt_model's hw_touch, here through the walker). */
static void op_touch(struct run *r, struct range *g)
{
	if (r->fm->f->walk == NULL || r->m.n == 0)
		return;
	struct pm_page *p = &r->m.p[fz_below(&r->in, r->m.n)];
	uint64_t va = p->va + fz_below(&r->in, p->size / r->fm->gran) * r->fm->gran;
	struct physim_access acc = {.va = va,
				    .write = (fz_u8(&r->in) & 1) && (p->flags & PHYSIM_W),
				    .user = p->flags & PHYSIM_U};
	struct physim_mmu *mmu;
	struct physim_mmu_config c = {
	    .format = r->fm->f,
	    .mem = physim_counting_hal_paging(r->ch),
	    .root = physim_pt_root(r->pt),
	    .root_hi = r->fm->info.sign_extended ? physim_pt_root(r->pt) : 0,
	    .ctl = {.ept_ad = true, .ha = true, .hd = true, .svadu = true}};
	FZ_CHECK(physim_mmu_create(&c, &mmu) == 0);
	struct physim_xlate x;
	int rc = physim_mmu_translate(mmu, &acc, &x);
	physim_mmu_destroy(mmu);
	g->va = va;
	g->size = 1;
	if (rc != 0)
		return; /* a permission the flags do not give (e.g. no R) */
	FZ_CHECK(x.pa == p->pa + (va - p->va) && x.page_size == p->size);
	struct physim_pt_mapping q;
	FZ_CHECK(physim_pt_query(r->pt, va, &q) == 0);
	FZ_CHECK(q.va == p->va && q.pa == p->pa && q.size == p->size && q.flags == p->flags);
	/* Hardware only sets the bits. */
	FZ_CHECK((q.accessed || !p->acc) && (q.dirty || !p->dirty));
	p->acc = q.accessed;
	p->dirty = q.dirty;
}

/* ---- one input ---- */

static void step(struct run *r)
{
	uint8_t ob = fz_u8(&r->in);
	unsigned op = ob & 15;
	r->inject = ob & OPB_INJECT;
	if (r->inject) {
		struct physim_counting_hal_config plan = {.fail_nth = 1 + fz_below(&r->in, 4)};
		physim_counting_hal_set_plan(r->ch, &plan);
	}
	int64_t frames_before = frames_live(r);
	r->failed = false;
	struct range g = {0, 0};
	switch (op) {
	case 0:
	case 1:
		op_map_one(r, ob, &g);
		break;
	case 2:
	case 3:
		op_map_region(r, ob, &g);
		break;
	case 4:
		op_map_cb(r, ob, &g);
		break;
	case 5:
	case 6:
		op_unmap_region(r, ob, &g);
		break;
	case 7:
		op_protect_region(r, ob, &g);
		break;
	case 8:
	case 9:
	case 10:
		op_single(r, op - 8, &g);
		break;
	case 11:
		op_walk(r, &g);
		break;
	case 12:
		op_probe(r, &g);
		break;
	case 13:
		op_query_outside(r);
		break;
	case 14:
		op_touch(r, &g);
		break;
	default:
		check_all(r);
		break;
	}
	if (r->inject) {
		struct physim_counting_hal_config none = {0};
		physim_counting_hal_set_plan(r->ch, &none);
	}
	if (g.size)
		check_some(r, g.va, g.va + (g.size - 1));
	/* A refused or failed call changes nothing: the same frames, and the
	 * unchanged model still matches in full. */
	if (r->failed) {
		FZ_CHECK(frames_live(r) == frames_before);
		check_all(r);
	}
}

static struct physim_ram *shared_ram(void)
{
	/* Lazily backed: only the table frames in use cost memory. */
	static struct physim_ram *ram;
	if (ram == NULL)
		FZ_CHECK(physim_ram_create(&(struct physim_ram_config){.size = UINT64_C(256) << 20},
					   &ram) == 0);
	return ram;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r = {.in = {data, size}};
	const struct physim_pt_format *f = format_at(fz_u8(&r.in) % nformats());
	bool keep_empty = fz_u8(&r.in) & 1;
	r.fm = pm_fmt_get(f);
	r.ram = shared_ram();
	FZ_CHECK(
	    physim_counting_hal_create(
		&(struct physim_counting_hal_config){.paging = physim_ram_paging_handler(r.ram)},
		&r.ch) == 0);
	struct physim_pt_config c = {.format = f,
				     .paging = physim_counting_hal_paging(r.ch),
				     .keep_empty_tables = keep_empty};
	FZ_CHECK(physim_pt_create_ex(&c, &r.pt) == 0);
	uint64_t root_frames = physim_pt_table_frames(r.pt);
	FZ_CHECK((int64_t)root_frames == frames_live(&r));

	for (int n = 0; n < MAX_OPS && r.in.n > 0 && r.m.n < MAX_PAGES; n++) {
		step(&r);
		if (n % 16 == 15)
			check_all(&r);
	}
	check_all(&r);

	/* Unmap everything: only the root is left unless empty tables stay. */
	for (unsigned k = 0; k < r.fm->narenas; k++)
		FZ_CHECK(physim_pt_unmap_region(r.pt, r.fm->arena[k].base, r.fm->arena[k].size) ==
			 0);
	r.m.n = 0;
	check_all(&r);
	if (!keep_empty)
		FZ_CHECK(physim_pt_table_frames(r.pt) == root_frames);
	physim_pt_destroy(r.pt);
	struct physim_hal_counts hc = physim_counting_hal_counts(r.ch);
	FZ_CHECK(hc.frames_live == 0 && hc.free_failed == 0);
	FZ_CHECK(physim_ram_stats(r.ram).used_frames == 0);
	physim_counting_hal_destroy(r.ch);
	free(r.m.p);
	return 0;
}
