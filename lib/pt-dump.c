/* SPDX-License-Identifier: MIT */
/* lib/pt-dump.c - physim_pt_dump: a table's mappings as merged ranges (after
 * Linux's ptdump), as JSON lines, or its table tree as a Graphviz graph.
 * Uses only the public pt.h API (physim_pt_walk). */
#include "physim-priv.h"

#include <physim/pt.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct dump {
	const struct physim_pt *pt;
	FILE *out;
	struct physim_pt_format_info info;
	uint64_t va, size; /* size 0: the whole input range */
};

/* The requested range, or (size 0) the whole input range, both halves. */
static int walk_range(const struct dump *d, const struct physim_pt_walk_ops *ops, void *ctx)
{
	return physim_pt_walk(d->pt, d->size != 0 ? d->va : 0, d->size, ops, ctx);
}

static int hex_digits(unsigned bits)
{
	return bits > 32 ? 16 : 8;
}

/* The present flag letters in the order rwxudc, or "-" if none (buf >= 8). */
static const char *flag_letters(uint32_t flags, char *buf)
{
	static const char letters[] = "rwxudc";
	char *p = buf;
	for (int i = 0; i < 6; i++)
		if (flags & (1u << i))
			*p++ = letters[i];
	if (p == buf)
		*p++ = '-';
	*p = '\0';
	return buf;
}

/* The largest exact binary unit ("4K", "2M", "2052K"), else plain bytes. */
static const char *size_text(uint64_t size, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	int u = -1;
	while (u < 5 && size != 0 && (size & 1023) == 0) {
		size >>= 10;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRIu64, size);
	else
		snprintf(buf, len, "%" PRIu64 "%c", size, units[u]);
	return buf;
}

/* ---- JSON pieces: RFC 8259 strings; the first key is the caller's ---- */

static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p == '\t')
			fputs("\\t", out);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(out, "\\u%04x", *p); /* control or non-ASCII byte, as Latin-1 */
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void json_key_str(FILE *out, const char *key, const char *value)
{
	fprintf(out, ",\"%s\":", key);
	json_str(out, value);
}

static void json_key_hex(FILE *out, const char *key, uint64_t value)
{
	fprintf(out, ",\"%s\":\"0x%" PRIx64 "\"", key, value);
}

static void json_key_u64(FILE *out, const char *key, uint64_t value)
{
	fprintf(out, ",\"%s\":%" PRIu64, key, value);
}

static void json_key_bool(FILE *out, const char *key, bool value)
{
	fprintf(out, ",\"%s\":%s", key, value ? "true" : "false");
}

/* ---- ranges (text and JSON) ---- */

struct merger {
	FILE *out;
	bool json;
	bool each_leaf;
	int vaw, paw; /* hex digits for VAs and PAs */
	bool have;
	struct physim_pt_mapping first; /* first page of the current range */
	uint64_t npages;
	uint64_t nranges, total_pages, total_bytes;
};

static bool extends(const struct merger *g, const struct physim_pt_mapping *m)
{
	const struct physim_pt_mapping *f = &g->first;
	uint64_t off = g->npages * f->size;
	return g->have && !g->each_leaf && m->size == f->size && m->va == f->va + off &&
	       m->pa == f->pa + off && m->flags == f->flags && m->arch == f->arch &&
	       m->accessed == f->accessed && m->dirty == f->dirty;
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
	json_key_str(g->out, "flags", flag_letters(f->flags, fl));
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
		g->vaw, f->va, g->vaw, f->va + len, size_text(len, sz, sizeof(sz)), fl, g->paw,
		f->pa, g->npages, size_text(f->size, pg, sizeof(pg)));
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
	if (g->json)
		print_range_json(g);
	else
		print_range_text(g);
	g->nranges++;
	g->total_pages += g->npages;
	g->total_bytes += g->npages * g->first.size;
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

/* Every leaf through the merger (what came before a corrupt entry is
 * printed), then the number of tables. */
static int merge_all(const struct dump *d, struct merger *g, uint64_t *ntables)
{
	int rc = walk_range(d, &(struct physim_pt_walk_ops){.leaf = merge_leaf}, g);
	flush_range(g);
	if (rc != 0)
		return rc;
	struct table_count tc = {.root_level = d->info.levels - 1};
	rc = walk_range(d, &(struct physim_pt_walk_ops){.table = count_table}, &tc);
	*ntables = tc.n;
	return rc;
}

static int dump_text(const struct dump *d, bool each_leaf)
{
	struct merger g = {.out = d->out,
			   .each_leaf = each_leaf,
			   .vaw = hex_digits(d->info.va_bits),
			   .paw = hex_digits(d->info.pa_bits)};
	fprintf(d->out, "# %s table at 0x%" PRIx64 " (%s)\n", d->info.name, physim_pt_root(d->pt),
		d->info.description);
	fprintf(d->out, "# VA range  size  flags(rwxudc)  -> PA  pages\n");
	uint64_t ntables = 0;
	int rc = merge_all(d, &g, &ntables);
	if (rc != 0)
		return rc;
	char sz[32];
	fprintf(d->out, "# %" PRIu64 " ranges, %" PRIu64 " pages, %s mapped, %" PRIu64 " tables\n",
		g.nranges, g.total_pages, size_text(g.total_bytes, sz, sizeof(sz)), ntables);
	return 0;
}

/* One object per range, then {"total":true,"format":...,"root":...,...}. */
static int dump_json(const struct dump *d, bool each_leaf)
{
	struct merger g = {.out = d->out, .json = true, .each_leaf = each_leaf};
	uint64_t ntables = 0;
	int rc = merge_all(d, &g, &ntables);
	if (rc != 0)
		return rc;
	fputs("{\"total\":true", d->out);
	json_key_str(d->out, "format", d->info.name);
	json_key_hex(d->out, "root", physim_pt_root(d->pt));
	json_key_u64(d->out, "ranges", g.nranges);
	json_key_u64(d->out, "pages", g.total_pages);
	json_key_u64(d->out, "bytes", g.total_bytes);
	json_key_u64(d->out, "tables", ntables);
	fputs("}\n", d->out);
	return 0;
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
	const struct physim_pt_format_info *info;
	struct dot_table *t;
	size_t n, cap;
	long open[PHYSIM_PT_MAX_LEVELS]; /* the table last entered at each level */
};

static int dot_table_cb(void *ctx, uint64_t va, uint64_t span, unsigned level, physim_hpa_t pa)
{
	struct dot_ctx *d = ctx;
	if (level >= PHYSIM_PT_MAX_LEVELS)
		return -EFAULT;
	if (level + 1 == d->info->levels && d->open[level] >= 0)
		return 0; /* the root again, for the upper half of a sign-extended range */
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct dot_table *t = realloc(d->t, cap * sizeof(*t));
		if (t == NULL)
			return -ENOMEM;
		d->t = t;
		d->cap = cap;
	}
	struct dot_table *t = &d->t[d->n];
	memset(t, 0, sizeof(*t));
	t->pa = pa;
	t->va = va;
	t->span = span;
	t->level = level;
	t->parent = level + 1 < d->info->levels ? d->open[level + 1] : -1;
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
	int w = hex_digits(d->info->va_bits);
	if (t->parent < 0) /* the root spans the whole input range, both halves */
		fprintf(out, "  t%zu [label=\"L%u root\\nPA 0x%" PRIx64 "\", style=bold];\n", i,
			t->level, t->pa);
	else
		fprintf(out,
			"  t%zu [label=\"L%u table\\nPA 0x%" PRIx64 "\\nVA 0x%0*" PRIx64
			"-0x%0*" PRIx64 "\"];\n",
			i, t->level, t->pa, w, t->va, w, t->va + t->span - 1);
	if (t->parent >= 0) {
		unsigned pl = d->t[t->parent].level;
		uint64_t idx = (t->va >> d->info->level[pl].shift) &
			       ((UINT64_C(1) << d->info->level[pl].index_bits) - 1);
		fprintf(out, "  t%ld -> t%zu [label=\"[%" PRIu64 "]\"];\n", t->parent, i, idx);
	}
	if (t->nkinds == 0)
		return;
	fprintf(out, "  l%zu [shape=note, label=\"", i);
	for (unsigned k = 0; k < t->nkinds; k++) {
		char sz[32], fl[8];
		fprintf(out, "%" PRIu64 " x %s %s\\l", t->kinds[k].count,
			size_text(t->kinds[k].size, sz, sizeof(sz)),
			flag_letters(t->kinds[k].flags, fl));
	}
	if (t->other != 0)
		fprintf(out, "%" PRIu64 " other\\l", t->other);
	fprintf(out, "\"];\n  t%zu -> l%zu [style=dashed, arrowhead=none];\n", i, i);
}

/* The whole tree is collected first: a corrupt table prints nothing. */
static int dump_dot(const struct dump *d)
{
	struct dot_ctx c = {.info = &d->info};
	for (int l = 0; l < PHYSIM_PT_MAX_LEVELS; l++)
		c.open[l] = -1;
	int rc = walk_range(
	    d, &(struct physim_pt_walk_ops){.table = dot_table_cb, .leaf = dot_leaf_cb}, &c);
	if (rc == 0) {
		fprintf(d->out, "digraph physim_pt {\n");
		fprintf(d->out, "  label=\"%s table at 0x%" PRIx64 "\";\n", d->info.name,
			physim_pt_root(d->pt));
		fprintf(d->out, "  rankdir=LR;\n  node [shape=box, fontname=\"monospace\", "
				"fontsize=10];\n");
		for (size_t i = 0; i < c.n; i++)
			dot_node(d->out, &c, i);
		fprintf(d->out, "}\n");
	}
	free(c.t);
	return rc;
}

int physim_pt_dump(const struct physim_pt *pt, FILE *out, const struct physim_pt_dump_options *opt)
{
	static const struct physim_pt_dump_options defaults = {0};
	if (pt == NULL || out == NULL)
		return -EINVAL;
	if (opt == NULL)
		opt = &defaults;
	struct dump d = {.pt = pt, .out = out, .va = opt->va, .size = opt->size};
	physim_format_get_info(physim_pt_format(pt), &d.info);
	int rc;
	switch (opt->style) {
	case PHYSIM_PT_DUMP_TEXT:
		rc = dump_text(&d, opt->each_leaf);
		break;
	case PHYSIM_PT_DUMP_JSON:
		rc = dump_json(&d, opt->each_leaf);
		break;
	case PHYSIM_PT_DUMP_DOT:
		rc = dump_dot(&d);
		break;
	default:
		return -EINVAL;
	}
	/* A walk error wins; a failed write shows as the stream's error flag
	 * (fflush pushes out what a buffer still holds). */
	if (fflush(out) != 0 || ferror(out))
		return rc != 0 ? rc : -EIO;
	return rc;
}
