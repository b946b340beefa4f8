/* SPDX-License-Identifier: MIT */
/* tests/common/ptmodel.c - format facts and the reference page model shared
 * by test_pt_model and the page-table and address-space harnesses
 * (ptmodel.h). */
#include "ptmodel.h"
#include "pt-format.h"

#include <physim/ram.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- format facts ---- */

static void arenas_init(struct pm_fmt *fm)
{
	/* Up to 8 of the largest pages at the bottom of the input range, at
	 * the top of its (lower half), and at the very top for sign-extended
	 * formats: the edges are where index arithmetic goes wrong. */
	unsigned vb = fm->info.va_bits - (fm->info.sign_extended ? 1 : 0);
	uint64_t lim = vb >= 64 ? 0 : UINT64_C(1) << vb;
	uint64_t a = fm->biggest * 8;
	if (lim && a > lim)
		a = lim;
	fm->arena[fm->narenas].base = 0;
	fm->arena[fm->narenas++].size = a;
	if (lim && lim - a >= a) {
		fm->arena[fm->narenas].base = lim - a;
		fm->arena[fm->narenas++].size = a;
	}
	if (fm->info.sign_extended) {
		fm->arena[fm->narenas].base = (uint64_t)0 - a;
		fm->arena[fm->narenas++].size = a;
	}
}

static void probe_flags(struct pm_fmt *fm)
{
	struct physim_ram *ram;
	struct physim_pt *pt;
	TC_CHECK(physim_ram_create(&(struct physim_ram_config){.size = 1u << 20}, &ram) == 0);
	TC_CHECK(physim_pt_create(fm->f, physim_ram_paging_handler(ram), &pt) == 0);
	for (uint32_t c = 0; c < 64; c++) {
		int rc = physim_pt_map(pt, 0, 0, fm->gran, c);
		TC_CHECK(rc == 0 || rc == -ENOTSUP);
		if (rc == 0) {
			fm->ok_flags |= UINT64_C(1) << c;
			TC_CHECK(physim_pt_unmap(pt, 0, NULL) == 0);
		}
	}
	physim_pt_destroy(pt);
	TC_CHECK(physim_ram_stats(ram).used_frames == 0);
	physim_ram_destroy(ram);
}

static void fmt_init(struct pm_fmt *fm, const struct physim_pt_format *f)
{
	memset(fm, 0, sizeof(*fm));
	fm->f = f;
	physim_format_get_info(f, &fm->info);
	unsigned nplain = 0;
	while (nplain < fm->info.levels && fm->info.level[nplain].leaf_ok)
		nplain++;
	/* Leaf levels are the lowest ones, without a gap: the model splits a
	 * page into pages of the next level down. */
	TC_CHECK(nplain > 0);
	for (unsigned l = nplain; l < fm->info.levels; l++)
		TC_CHECK(!fm->info.level[l].leaf_ok);
	fm->gran = UINT64_C(1) << fm->info.level[0].shift;
	fm->biggest = UINT64_C(1) << fm->info.level[nplain - 1].shift;
	/* Plain and grouped sizes in ascending order (a grouped leaf at level
	 * l is smaller than a plain one at l + 1). */
	for (unsigned l = 0; l < nplain; l++) {
		uint64_t s = UINT64_C(1) << fm->info.level[l].shift;
		fm->sizes[fm->nsizes] = s;
		fm->level[fm->nsizes] = l;
		fm->split[fm->nsizes++] = l > 0 ? UINT64_C(1) << fm->info.level[l - 1].shift : 0;
		uint64_t g = s << fm->info.level[l].group_log2;
		if (g == s || g > fm->biggest)
			continue;
		fm->sizes[fm->nsizes] = g;
		fm->level[fm->nsizes] = l;
		fm->split[fm->nsizes++] = s;
	}
	for (unsigned i = 1; i < fm->nsizes; i++)
		TC_CHECK(fm->sizes[i - 1] < fm->sizes[i]);
	fm->set_accessed_on_map = f->set_accessed_on_map;
	fm->set_dirty_on_map = f->set_dirty_on_map;
	/* The harnesses pick output addresses below 32 of the largest pages. */
	TC_CHECK(fm->info.pa_bits >= 64 || fm->biggest * 32 <= UINT64_C(1) << fm->info.pa_bits);
	arenas_init(fm);
	probe_flags(fm);
}

const struct pm_fmt *pm_fmt_get(const struct physim_pt_format *f)
{
	static struct pm_fmt cache[64];
	static size_t n;
	for (size_t i = 0; i < n; i++)
		if (cache[i].f == f)
			return &cache[i];
	TC_CHECK(n < sizeof(cache) / sizeof(cache[0]));
	fmt_init(&cache[n], f);
	return &cache[n++];
}

unsigned pm_level_of(const struct pm_fmt *fm, uint64_t size)
{
	for (unsigned i = 0; i < fm->nsizes; i++)
		if (fm->sizes[i] == size)
			return fm->level[i];
	tc_fail(__FILE__, __LINE__, "no level has that page size");
	return 0;
}

/* ---- the page model ---- */

ptrdiff_t pm_model_find(const struct pm_model *m, uint64_t va)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->p[mid].va <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -1;
	const struct pm_page *p = &m->p[lo - 1];
	return va - p->va < p->size ? (ptrdiff_t)lo - 1 : -1;
}

size_t pm_model_lower(const struct pm_model *m, uint64_t va)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->p[mid].va < va)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool pm_model_overlaps(const struct pm_model *m, uint64_t va, uint64_t last)
{
	if (pm_model_find(m, va) >= 0)
		return true;
	size_t i = pm_model_lower(m, va);
	return i < m->n && m->p[i].va <= last;
}

void pm_model_splice(struct pm_model *m, size_t i, size_t del, const struct pm_page *add, size_t n)
{
	size_t want = m->n - del + n;
	if (want > m->cap || m->p == NULL) { /* never index a NULL array */
		m->cap = want * 2 + 64;
		m->p = tc_xrealloc(m->p, m->cap * sizeof(*m->p));
	}
	memmove(&m->p[i + n], &m->p[i + del], (m->n - i - del) * sizeof(*m->p));
	if (n)
		memcpy(&m->p[i], add, n * sizeof(*add));
	m->n = want;
}

/* Make addr a page boundary: split the page around it into pages of the
 * next smaller size until one starts at addr. */
static void split_at(const struct pm_fmt *fm, struct pm_model *m, uint64_t addr)
{
	static struct pm_page kids[1u << 13];
	for (;;) {
		ptrdiff_t i = pm_model_find(m, addr);
		if (i < 0 || m->p[i].va == addr)
			return;
		struct pm_page big = m->p[i];
		uint64_t cs = 0;
		for (unsigned k = 0; k < fm->nsizes; k++)
			if (fm->sizes[k] == big.size)
				cs = fm->split[k];
		TC_CHECK(cs != 0);
		uint64_t n = big.size / cs;
		TC_CHECK(n <= sizeof(kids) / sizeof(kids[0]));
		for (uint64_t k = 0; k < n; k++) {
			kids[k] = big;
			kids[k].va = big.va + k * cs;
			kids[k].pa = big.pa + k * cs;
			kids[k].size = cs;
		}
		pm_model_splice(m, (size_t)i, 1, kids, (size_t)n);
	}
}

void pm_model_isolate(const struct pm_fmt *fm, struct pm_model *m, uint64_t va, uint64_t last,
		      size_t *a, size_t *b)
{
	split_at(fm, m, va);
	if (last != UINT64_MAX)
		split_at(fm, m, last + 1);
	*a = pm_model_lower(m, va);
	*b = *a;
	while (*b < m->n && m->p[*b].va >= va && m->p[*b].va <= last)
		(*b)++;
}

void pm_model_remove(const struct pm_fmt *fm, struct pm_model *m, uint64_t va, uint64_t last)
{
	size_t a, b;
	pm_model_isolate(fm, m, va, last, &a, &b);
	pm_model_splice(m, a, b - a, NULL, 0);
}

void pm_model_add(struct pm_model *m, const struct pm_page *p)
{
	TC_CHECK(!pm_model_overlaps(m, p->va, p->va + (p->size - 1)));
	pm_model_splice(m, pm_model_lower(m, p->va), 0, p, 1);
}

struct pm_page pm_page_new(const struct pm_fmt *fm, uint64_t va, uint64_t pa, uint64_t size,
			   uint32_t flags)
{
	return (struct pm_page){
	    .va = va,
	    .pa = pa,
	    .size = size,
	    .flags = pm_flags_seen(fm, flags),
	    .acc = fm->set_accessed_on_map,
	    .dirty = fm->set_dirty_on_map && (flags & PHYSIM_W),
	};
}

void pm_model_add_run(const struct pm_fmt *fm, struct pm_model *m, uint64_t va, uint64_t pa,
		      uint64_t size, uint32_t flags, bool huge)
{
	struct pm_model add = {0};
	uint64_t last = va + (size - 1);
	for (uint64_t cur = va, p = pa;;) {
		/* The largest page alignment and the rest allow (huge), else
		 * the granule: how map_region lays a range out. */
		uint64_t sz = fm->gran;
		for (unsigned i = fm->nsizes; huge && i-- > 1;) {
			uint64_t s = fm->sizes[i];
			if (!((cur | p) & (s - 1)) && last - cur >= s - 1) {
				sz = s;
				break;
			}
		}
		struct pm_page pg = pm_page_new(fm, cur, p, sz, flags);
		pm_model_splice(&add, add.n, 0, &pg, 1);
		if (last - cur < sz)
			break;
		cur += sz;
		p += sz;
	}
	pm_model_splice(m, pm_model_lower(m, va), 0, add.p, add.n);
	free(add.p);
}

int pm_collect_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	struct pm_leaves *l = ctx;
	if (l->n == l->cap) {
		l->cap = l->cap * 2 + 64;
		l->v = tc_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = *m;
	return 0;
}
