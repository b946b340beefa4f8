/* SPDX-License-Identifier: MIT */
/* tools/physim-bench/bench-report.c - what a run prints: the text table or
 * JSON lines per case, and the goals with the figures measured for them. */

#include "bench.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

static void json_extras(const char *prefix, const struct bench_extras *ex)
{
	for (unsigned i = 0; i < ex->n; i++)
		printf(", \"%s%s\": %.6g", prefix, ex->kv[i].key, ex->kv[i].value);
}

static void json_peer(const struct impl_result *s, const struct impl_result *q)
{
	printf(", \"peer\": ");
	json_string(q->impl->name);
	printf(", \"peer_ns_per_op\": %.6g, \"ratio\": %.5f", q->median, s->median / q->median);
	printf(", \"peer_ops\": %" PRIu64, q->ops);
	printf(", \"peer_min_ns_per_op\": %.6g, \"peer_max_ns_per_op\": %.6g", q->min, q->max);
	json_extras("peer_", &q->ex);
}

/* One line per peer; a case without peers still gets its one line. */
void print_json(const struct case_result *r, unsigned threads, unsigned reps)
{
	const struct impl_result *s = &r->self;
	unsigned lines = r->npeers ? r->npeers : 1;
	for (unsigned p = 0; p < lines; p++) {
		printf("{\"case\": ");
		json_string(r->c->name);
		printf(", \"group\": ");
		json_string(r->c->group);
		printf(", \"ns_per_op\": %.6g", s->median);
		if (r->c->unit != NULL) {
			printf(", \"unit\": ");
			json_string(r->c->unit);
		}
		printf(", \"reps\": %u, \"ops\": %" PRIu64, reps, s->ops);
		printf(", \"min_ns_per_op\": %.6g, \"max_ns_per_op\": %.6g", s->min, s->max);
		printf(", \"threads\": %u, \"impl\": ", threads);
		json_string(s->impl->name);
		json_extras("", &s->ex);
		if (r->npeers > 0)
			json_peer(s, &r->peer[p]);
		printf("}\n");
	}
}

/* Appends to what buf already holds. */
static void text_notes(char *buf, size_t len, const struct bench_extras *ex, const char *prefix)
{
	size_t used = strlen(buf);
	for (unsigned i = 0; i < ex->n && used < len; i++) {
		const char *key = ex->kv[i].key;
		double v = ex->kv[i].value;
		int n;
		if (strcmp(key, "occupancy") == 0)
			n = snprintf(buf + used, len - used, "%s%soccupancy %.2f%%",
				     used ? ", " : "", prefix, v * 100);
		else if (strcmp(key, "rss_kib") == 0)
			n = snprintf(buf + used, len - used, "%s%srss +%.0f KiB", used ? ", " : "",
				     prefix, v);
		else if (strcmp(key, "queries") == 0 || strcmp(key, "table_frames") == 0 ||
			 strcmp(key, "addresses") == 0)
			n = snprintf(buf + used, len - used, "%s%s%.0f %s", used ? ", " : "",
				     prefix, v,
				     key[0] == 'q'   ? "queries"
				     : key[0] == 'a' ? "addresses"
						     : "table frames");
		else if (strcmp(key, "tlb_hit_rate") == 0)
			n = snprintf(buf + used, len - used, "%s%sTLB hits %.2f%%",
				     used ? ", " : "", prefix, v * 100);
		else if (strcmp(key, "ad_writebacks") == 0)
			n = snprintf(buf + used, len - used, "%s%s%.0f A/D write-backs",
				     used ? ", " : "", prefix, v);
		else
			n = snprintf(buf + used, len - used, "%s%s%s %g", used ? ", " : "", prefix,
				     key, v);
		used += n > 0 ? (size_t)n : 0;
	}
}

/* Width of the case column: the longest selected name, at least 30. */
int case_width = 30;

void print_text_header(bool quick, unsigned reps, uint64_t target_ns)
{
	printf("physim-bench: %s run, %u reps per case, ~%.0f ms per timed batch; "
	       "median ns/op, physim and peers timed interleaved\n"
	       "(pt_*, walk_* and tlb_miss cases: a batch is one whole region or address "
	       "sequence)\n\n",
	       quick ? "quick" : "full", reps, (double)target_ns / 1e6);
	printf("%-*s %9s  %-30s %11s %8s  %s\n", case_width, "case", "ns/op", "peer", "peer ns/op",
	       "ratio", "notes");
}

/* One line per peer; a case without peers gets dashes in the peer columns. */
void print_text(const struct case_result *r)
{
	unsigned lines = r->npeers ? r->npeers : 1;
	for (unsigned p = 0; p < lines; p++) {
		const struct impl_result *q = r->npeers ? &r->peer[p] : NULL;
		char notes[160] = "", peer_notes[96] = "";
		if (p == 0) {
			if (r->c->unit != NULL)
				snprintf(notes, sizeof(notes), "per %s", r->c->unit);
			text_notes(notes, sizeof(notes), &r->self.ex, "");
		}
		if (q != NULL)
			text_notes(peer_notes, sizeof(peer_notes), &q->ex, "peer ");
		if (notes[0] && peer_notes[0])
			strncat(notes, ", ", sizeof(notes) - strlen(notes) - 1);
		strncat(notes, peer_notes, sizeof(notes) - strlen(notes) - 1);
		if (p == 0)
			printf("%-*s %9.2f  ", case_width, r->c->name, r->self.median);
		else
			printf("%-*s %9s  ", case_width, "", "");
		if (q != NULL)
			printf("%-30s %11.2f %8.3f", q->impl->name, q->median,
			       r->self.median / q->median);
		else
			printf("%-30s %11s %8s", "-", "-", "-");
		printf("%s%s\n", notes[0] ? "  " : "", notes);
	}
}

/* ---- derived numbers and the goals ---- */

static const struct case_result *find_result(const struct case_result *res, size_t n,
					     const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (res[i].measured && strcmp(res[i].c->name, name) == 0)
			return &res[i];
	return NULL;
}

#define GOAL_GLIBC_RATIO   0.1
#define GOAL_FULL_RATIO	   1.3
#define GOAL_CREATE_NS	   5e6
#define GOAL_CREATE_RSS_KB 8192.0

static const char *verdict(bool ok)
{
	return ok ? "met" : "MISSED";
}

static void goal_alloc_vs_glibc(const struct case_result *res, size_t n)
{
	const struct case_result *worst = NULL;
	double worst_ratio = 0;
	for (size_t i = 0; i < n; i++) {
		if (!res[i].measured || strcmp(res[i].c->group, "alloc_free") != 0)
			continue;
		double ratio = res[i].self.median / res[i].peer[0].median;
		if (worst == NULL || ratio > worst_ratio) {
			worst = &res[i];
			worst_ratio = ratio;
		}
	}
	if (worst == NULL)
		return;
	printf("  single-frame alloc+free <= %.1fx glibc aligned_alloc+free: worst %.3fx (%s, "
	       "%.1f vs %.1f ns) - %s\n",
	       GOAL_GLIBC_RATIO, worst_ratio, worst->c->name, worst->self.median,
	       worst->peer[0].median, verdict(worst_ratio <= GOAL_GLIBC_RATIO));
}

static void goal_full_vs_empty(const struct case_result *res, size_t n)
{
	const struct case_result *r = find_result(res, n, "alloc_free/64G/95% vs 64M/0%");
	if (r == NULL)
		return;
	double ratio = r->self.median / r->peer[0].median;
	printf("  alloc in 95%%-full 64 GiB <= %.1fx alloc in empty 64 MiB: %.3fx (%.1f vs %.1f "
	       "ns, timed interleaved) - %s\n",
	       GOAL_FULL_RATIO, ratio, r->self.median, r->peer[0].median,
	       verdict(ratio <= GOAL_FULL_RATIO));
}

static void goal_create(const struct case_result *res, size_t n)
{
	const struct case_result *cr = find_result(res, n, "ram_create_destroy/64G");
	if (cr == NULL)
		return;
	double rss = cr->self.ex.n ? cr->self.ex.kv[0].value : -1;
	printf("  create+destroy 64 GiB RAM < %.0f ms: %.3f ms - %s\n", GOAL_CREATE_NS / 1e6,
	       cr->self.median / 1e6, verdict(cr->self.median < GOAL_CREATE_NS));
	printf("  anonymous resident growth of a 64 GiB RAM < %.0f MiB: %.0f KiB - %s\n",
	       GOAL_CREATE_RSS_KB / 1024, rss, verdict(rss >= 0 && rss < GOAL_CREATE_RSS_KB));
}

#define GOAL_PT_CHAIN_RATIO 1.5 /* random query / 4 dependent loads */
#define GOAL_PT_PLAIN_RATIO 0.5 /* random query / plain C walker */
#define GOAL_PT_SEQ_NS	    4.0
#define GOAL_PT_MAP_NS	    8.0
#define GOAL_PT_UNMAP_NS    3.5
/* The query cases' peers, in their rows' order. */
#define PEER_PT_CHAIN 0
#define PEER_PT_PLAIN 1

/* One goal over every measured case whose name starts with prefix: its
 * median (peer < 0) or its ratio to that peer, listed per format; met if
 * all are within limit. */
static void goal_pt(const struct case_result *res, size_t n, const char *what, const char *prefix,
		    int peer, double limit, const char *unit)
{
	char line[256] = "";
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		const struct case_result *r = &res[i];
		if (!r->measured || strncmp(r->c->name, prefix, strlen(prefix)) != 0 ||
		    (peer >= 0 && (unsigned)peer >= r->npeers))
			continue;
		double v = peer < 0 ? r->self.median : r->self.median / r->peer[peer].median;
		size_t used = strlen(line);
		snprintf(line + used, sizeof(line) - used, "%s%s%s%s %.2f%s", used ? ", " : "",
			 r->c->params.format, r->c->params.s2_format ? "/" : "",
			 r->c->params.s2_format ? r->c->params.s2_format : "", v, unit);
		ok = ok && v <= limit;
	}
	if (line[0])
		printf("  %s <= %g%s: %s - %s\n", what, limit, unit, line, verdict(ok));
}

/* Huge-page map of a large region: no goal, the total time for scale. */
static void info_pt_map_huge(const struct case_result *res, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct case_result *r = &res[i];
		if (!r->measured || strcmp(r->c->group, "pt_map_huge") != 0)
			continue;
		printf("  %s: map_region with huge pages: %.2f us total, %.2f ns per GiB\n",
		       r->c->name, r->self.median * (double)r->self.ops / 1e3, r->self.median);
	}
}

static void goals_pt(const struct case_result *res, size_t n)
{
	goal_pt(res, n, "random query vs 4 dependent loads", "pt_query_rand/", PEER_PT_CHAIN,
		GOAL_PT_CHAIN_RATIO, "x");
	goal_pt(res, n, "random query vs plain C walker", "pt_query_rand/", PEER_PT_PLAIN,
		GOAL_PT_PLAIN_RATIO, "x");
	goal_pt(res, n, "sequential query", "pt_query_seq/", -1, GOAL_PT_SEQ_NS, " ns");
	goal_pt(res, n, "map_region 4 KiB pages", "pt_map/", -1, GOAL_PT_MAP_NS, " ns/page");
	goal_pt(res, n, "unmap_region 4 KiB pages", "pt_unmap/", -1, GOAL_PT_UNMAP_NS, " ns/page");
	info_pt_map_huge(res, n);
	if (find_result(res, n, "pt_query_rand/x86_64-4l") ||
	    find_result(res, n, "pt_map/x86_64-4l/1G"))
		printf(
		    "  for scale, page_table_multiarch 0.6.1 (fat LTO) measured on this machine: "
		    "map 13.1 ns/page,\n"
		    "  random query 12.2 ns, sequential query 6.4 ns, unmap 5.1 ns/page\n");
}

#define GOAL_WALK_CHAIN_RATIO	1.5 /* translate / 4 dependent loads */
#define GOAL_NESTED_CHAIN_RATIO 1.5 /* nested translate / its chain (24 or 19 loads) */
#define GOAL_TLB_HIT_NS		3.0 /* strictly under */
/* The walk cases' peers, in their rows' order. */
#define PEER_WALK_CHAIN 0
#define PEER_WALK_OTHER 1 /* walk_translate: probe; tlb_miss: translate without TLB */

/* Figures without a goal, per format: peer a's median over peer b's (a < 0:
 * physim's own). */
static void info_walk(const struct case_result *res, size_t n, const char *what, const char *prefix,
		      int a, int b)
{
	char line[256] = "";
	for (size_t i = 0; i < n; i++) {
		const struct case_result *r = &res[i];
		if (!r->measured || strncmp(r->c->name, prefix, strlen(prefix)) != 0 ||
		    (unsigned)(a > b ? a : b) >= r->npeers)
			continue;
		double num = a < 0 ? r->self.median : r->peer[a].median;
		size_t used = strlen(line);
		snprintf(line + used, sizeof(line) - used, "%s%s %.2fx", used ? ", " : "",
			 r->c->params.format, num / r->peer[b].median);
	}
	if (line[0])
		printf("  %s (no goal): %s\n", what, line);
}

static void goal_tlb_hit(const struct case_result *res, size_t n)
{
	char line[256] = "";
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		const struct case_result *r = &res[i];
		if (!r->measured || strncmp(r->c->name, "tlb_hit/", 8) != 0)
			continue;
		size_t used = strlen(line);
		snprintf(line + used, sizeof(line) - used, "%s%s %.2f ns", used ? ", " : "",
			 r->c->params.format, r->self.median);
		ok = ok && r->self.median < GOAL_TLB_HIT_NS;
	}
	if (line[0])
		printf("  TLB hit < %g ns: %s - %s\n", GOAL_TLB_HIT_NS, line, verdict(ok));
}

static void goals_walk(const struct case_result *res, size_t n)
{
	goal_pt(res, n, "translate vs 4 dependent loads", "walk_translate/", PEER_WALK_CHAIN,
		GOAL_WALK_CHAIN_RATIO, "x");
	info_walk(res, n, "probe vs 4 dependent loads", "walk_translate/", PEER_WALK_OTHER,
		  PEER_WALK_CHAIN);
	goal_pt(res, n, "nested translate vs its dependent loads (24; 19 over 3 levels)",
		"walk_nested/", PEER_WALK_CHAIN, GOAL_NESTED_CHAIN_RATIO, "x");
	goal_tlb_hit(res, n);
	info_walk(res, n, "TLB miss + walk vs 4 dependent loads", "tlb_miss/", -1, PEER_WALK_CHAIN);
	info_walk(res, n, "TLB miss + walk vs translate without TLB", "tlb_miss/", -1,
		  PEER_WALK_OTHER);
}

void print_goals(const struct case_result *res, size_t n)
{
	printf("\nGoals (report against these):\n");
	goal_alloc_vs_glibc(res, n);
	goal_full_vs_empty(res, n);
	goal_create(res, n);
	goals_pt(res, n);
	goals_walk(res, n);
	printf("  (a goal whose cases were filtered out is not shown)\n");
}
