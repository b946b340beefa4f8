/* SPDX-License-Identifier: MIT */
/* tools/physim-pt/dump.c - `physim-pt dump`: the mappings of a table as merged
 * ranges (after Linux's ptdump), or the table tree as a Graphviz graph. Both
 * use physim_pt_walk, which visits each table frame at most once. */
#include "physim-pt.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Walk the format's whole input range; a sign-extended format has two
 * halves with a gap between them. */
static int walk_all(struct table_view *v, const struct physim_pt_walk_ops *ops, void *ctx)
{
	unsigned bits = v->info.va_bits;
	if (bits >= 64)
		return physim_pt_walk(v->pt, 0, UINT64_MAX, ops, ctx); /* last byte left out */
	if (!v->info.sign_extended)
		return physim_pt_walk(v->pt, 0, UINT64_C(1) << bits, ops, ctx);
	uint64_t half = UINT64_C(1) << (bits - 1);
	int rc = physim_pt_walk(v->pt, 0, half, ops, ctx);
	if (rc == 0)
		rc = physim_pt_walk(v->pt, 0 - half, half, ops, ctx);
	return rc;
}

static int hex_digits(unsigned bits)
{
	return bits > 32 ? 16 : 8;
}

_Noreturn static void walk_failed(int rc)
{
	fflush(stdout); /* what was printed before the bad entry stays */
	/* The engine reaches each table at most once, so a cycle or a table
	 * linked twice ends the walk here instead of repeating it. */
	if (rc == -EFAULT)
		die("corrupt table: a reserved descriptor, a table pointer outside RAM, or a "
		    "table reached a second time (a cycle or a shared table; dump stopped there)");
	die("walking the table failed: %s", physim_strerror(rc));
}

/* ---- merged ranges ---- */

struct merger {
	FILE *out;
	bool json;
	int vaw, paw; /* hex digits for VAs and PAs */
	bool have;
	struct physim_pt_mapping first; /* first page of the current range */
	uint64_t npages;
	uint64_t nranges, total_pages, total_bytes;
	uint64_t sizes_seen; /* bit n: 2^n-byte pages present */
};

static bool extends(const struct merger *g, const struct physim_pt_mapping *m)
{
	const struct physim_pt_mapping *f = &g->first;
	uint64_t off = g->npages * f->size;
	return g->have && m->size == f->size && m->va == f->va + off && m->pa == f->pa + off &&
	       m->flags == f->flags && m->arch == f->arch && m->accessed == f->accessed &&
	       m->dirty == f->dirty;
}

/* {"va":"0x400000","end":"0x600000","size":2097152,"flags":"rwxu","pa":"0x200000",
 *  "pages":512,"page_size":4096,"accessed":false,"dirty":false,"arch":"0x0"} */
static void print_range_json(const struct merger *g)
{
	const struct physim_pt_mapping *f = &g->first;
	uint64_t len = g->npages * f->size;
	char fl[8];
	fprintf(g->out, "{\"va\":\"0x%" PRIx64 "\"", f->va);
	json_key_hex(g->out, "end", f->va + len);
	json_key_u64(g->out, "size", len);
	json_key_str(g->out, "flags", flags_str(f->flags, fl));
	json_key_hex(g->out, "pa", f->pa);
	json_key_u64(g->out, "pages", g->npages);
	json_key_u64(g->out, "page_size", f->size);
	json_key_bool(g->out, "accessed", f->accessed);
	json_key_bool(g->out, "dirty", f->dirty);
	json_key_hex(g->out, "arch", f->arch);
	fputs("}\n", g->out);
}

/* 0x0000000000400000-0x0000000000600000      2M  rwxu--  -> 0x0000000000200000  512 x 4K */
static void print_range_text(const struct merger *g)
{
	const struct physim_pt_mapping *f = &g->first;
	uint64_t len = g->npages * f->size;
	char sz[32], pg[32], fl[8] = "------";
	static const char letters[] = "rwxudc";
	for (int i = 0; i < 6; i++)
		if (f->flags & (1u << i))
			fl[i] = letters[i];
	fprintf(g->out,
		"0x%0*" PRIx64 "-0x%0*" PRIx64 " %7s  %s  -> 0x%0*" PRIx64 "  %" PRIu64 " x %s",
		g->vaw, f->va, g->vaw, f->va + len, size_str(len, sz, sizeof(sz)), fl, g->paw,
		f->pa, g->npages, size_str(f->size, pg, sizeof(pg)));
	if (f->accessed || f->dirty)
		fprintf(g->out, "  %s%s", f->accessed ? "A" : "", f->dirty ? "D" : "");
	if (f->arch != 0)
		fprintf(g->out, "  arch=0x%" PRIx64, f->arch);
	fputc('\n', g->out);
}

static void flush_range(struct merger *g)
{
	if (!g->have)
		return;
	uint64_t len = g->npages * g->first.size;
	if (g->json)
		print_range_json(g);
	else
		print_range_text(g);
	g->nranges++;
	g->total_pages += g->npages;
	g->total_bytes += len;
	g->have = false;
}

static int merge_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	struct merger *g = ctx;
	if (extends(g, m)) {
		g->npages++;
		return 0;
	}
	flush_range(g);
	g->first = *m;
	g->npages = 1;
	g->have = true;
	g->sizes_seen |= m->size;
	return 0;
}

struct table_count {
	unsigned root_level;
	uint64_t n;
	bool root_seen; /* the two halves of a sign-extended range share the root */
};

static int count_table(void *ctx, uint64_t va, uint64_t span, unsigned level, physim_hpa_t pa)
{
	struct table_count *c = ctx;
	(void)va;
	(void)span;
	(void)pa;
	if (level == c->root_level) {
		if (c->root_seen)
			return 0;
		c->root_seen = true;
	}
	c->n++;
	return 0;
}

/* Every leaf through the merger, then the number of tables. */
static uint64_t merge_all(struct table_view *v, struct merger *g)
{
	int rc = walk_all(v, &(struct physim_pt_walk_ops){.leaf = merge_leaf}, g);
	flush_range(g);
	if (rc != 0)
		walk_failed(rc);
	struct table_count tc = {.root_level = v->info.levels - 1};
	rc = walk_all(v, &(struct physim_pt_walk_ops){.table = count_table}, &tc);
	if (rc != 0)
		walk_failed(rc);
	return tc.n;
}

void dump_ranges(struct table_view *v, FILE *out)
{
	struct merger g = {
	    .out = out, .vaw = hex_digits(v->info.va_bits), .paw = hex_digits(v->info.pa_bits)};
	fprintf(out, "# %s table at 0x%" PRIx64 " (%s)\n", v->info.name, v->root,
		v->info.description);
	fprintf(out, "# VA range  size  flags(rwxudc)  -> PA  pages\n");
	uint64_t ntables = merge_all(v, &g);
	char sz[32];
	fprintf(out, "# %" PRIu64 " ranges, %" PRIu64 " pages, %s mapped, %" PRIu64 " tables\n",
		g.nranges, g.total_pages, size_str(g.total_bytes, sz, sizeof(sz)), ntables);
}

/* The totals line: {"total":true,"format":...,"root":...,"ranges":N,...}. */
void dump_json(struct table_view *v, FILE *out)
{
	struct merger g = {.out = out, .json = true};
	uint64_t ntables = merge_all(v, &g);
	fputs("{\"total\":true", out);
	json_key_str(out, "format", v->info.name);
	json_key_hex(out, "root", v->root);
	json_key_u64(out, "ranges", g.nranges);
	json_key_u64(out, "pages", g.total_pages);
	json_key_u64(out, "bytes", g.total_bytes);
	json_key_u64(out, "tables", ntables);
	fputs("}\n", out);
}

/* ---- Graphviz ---- */

struct leaf_kind {
	uint64_t size;
	uint32_t flags;
	uint64_t count;
};

#define MAX_KINDS 6 /* leaf summary lines per table; more are counted as "other" */

struct dot_table {
	physim_hpa_t pa;
	uint64_t va, span;
	unsigned level;
	long parent; /* index into the table list, -1 for the root */
	struct leaf_kind kinds[MAX_KINDS];
	unsigned nkinds;
	uint64_t other;
};

struct dot_ctx {
	struct table_view *v;
	struct dot_table *t;
	size_t n, cap;
	long open[PHYSIM_PT_MAX_LEVELS]; /* the table last entered at each level */
};

static int dot_table_cb(void *ctx, uint64_t va, uint64_t span, unsigned level, physim_hpa_t pa)
{
	struct dot_ctx *d = ctx;
	if (level + 1 == d->v->info.levels && d->open[level] >= 0)
		return 0; /* the root again, for the upper half of a sign-extended range */
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->t = xrealloc(d->t, d->cap, sizeof(*d->t));
	}
	struct dot_table *t = &d->t[d->n];
	memset(t, 0, sizeof(*t));
	t->pa = pa;
	t->va = va;
	t->span = span;
	t->level = level;
	t->parent = level + 1 < d->v->info.levels ? d->open[level + 1] : -1;
	d->open[level] = (long)d->n++;
	return 0;
}

static int dot_leaf_cb(void *ctx, const struct physim_pt_mapping *m)
{
	struct dot_ctx *d = ctx;
	if (m->level >= PHYSIM_PT_MAX_LEVELS || d->open[m->level] < 0)
		return 0;
	struct dot_table *t = &d->t[d->open[m->level]];
	for (unsigned i = 0; i < t->nkinds; i++) {
		if (t->kinds[i].size == m->size && t->kinds[i].flags == m->flags) {
			t->kinds[i].count++;
			return 0;
		}
	}
	if (t->nkinds == MAX_KINDS) {
		t->other++;
		return 0;
	}
	t->kinds[t->nkinds++] = (struct leaf_kind){.size = m->size, .flags = m->flags, .count = 1};
	return 0;
}

static void dot_node(FILE *out, const struct dot_ctx *d, size_t i)
{
	const struct dot_table *t = &d->t[i];
	int w = hex_digits(d->v->info.va_bits);
	if (t->parent < 0) /* the root spans the whole input range, both halves */
		fprintf(out, "  t%zu [label=\"L%u root\\nPA 0x%" PRIx64 "\", style=bold];\n", i,
			t->level, t->pa);
	else
		fprintf(out,
			"  t%zu [label=\"L%u table\\nPA 0x%" PRIx64 "\\nVA 0x%0*" PRIx64
			"-0x%0*" PRIx64 "\"];\n",
			i, t->level, t->pa, w, t->va, w, t->va + t->span - 1);
	if (t->parent >= 0) {
		const struct physim_pt_format_info *in = &d->v->info;
		unsigned pl = d->t[t->parent].level;
		uint64_t idx = (t->va >> in->level[pl].shift) &
			       ((UINT64_C(1) << in->level[pl].index_bits) - 1);
		fprintf(out, "  t%ld -> t%zu [label=\"[%" PRIu64 "]\"];\n", t->parent, i, idx);
	}
	if (t->nkinds == 0)
		return;
	fprintf(out, "  l%zu [shape=note, label=\"", i);
	for (unsigned k = 0; k < t->nkinds; k++) {
		char sz[32], fl[8];
		fprintf(out, "%" PRIu64 " x %s %s\\l", t->kinds[k].count,
			size_str(t->kinds[k].size, sz, sizeof(sz)),
			flags_str(t->kinds[k].flags, fl));
	}
	if (t->other != 0)
		fprintf(out, "%" PRIu64 " other\\l", t->other);
	fprintf(out, "\"];\n  t%zu -> l%zu [style=dashed, arrowhead=none];\n", i, i);
}

void dump_dot(struct table_view *v, FILE *out)
{
	struct dot_ctx d = {.v = v};
	for (int l = 0; l < PHYSIM_PT_MAX_LEVELS; l++)
		d.open[l] = -1;
	int rc = walk_all(
	    v, &(struct physim_pt_walk_ops){.table = dot_table_cb, .leaf = dot_leaf_cb}, &d);
	if (rc != 0)
		walk_failed(rc);
	fprintf(out, "digraph physim_pt {\n");
	fprintf(out, "  label=\"%s table at 0x%" PRIx64 "\";\n", v->info.name, v->root);
	fprintf(out, "  rankdir=LR;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n");
	for (size_t i = 0; i < d.n; i++)
		dot_node(out, &d, i);
	fprintf(out, "}\n");
	free(d.t);
}
