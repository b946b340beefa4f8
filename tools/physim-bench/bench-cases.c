/* SPDX-License-Identifier: MIT */
/* tools/physim-bench/bench-cases.c - the one place the areas are registered,
 * and how their tables become the list of cases (rows repeated per format). */

#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In the order --list prints their cases. A new area is a bench-<area>.c
 * with its own table and struct bench_area, listed here, declared in bench.h
 * and added to meson.build. */
static const struct bench_area *const areas[] = {
    &bench_area_alloc, &bench_area_ram,	   &bench_area_pt,
    &bench_area_walk,  &bench_area_nested, &bench_area_cpu,
};

static struct bench_list all;

int bench_list_add(struct bench_list *l, const struct bench_case *row, const char *name)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct bench_case *grown = realloc(l->cases, cap * sizeof(*grown));
		if (grown == NULL)
			return -ENOMEM;
		l->cases = grown;
		l->cap = cap;
	}
	char *copy = strdup(name);
	if (copy == NULL)
		return -ENOMEM;
	l->cases[l->n] = *row;
	l->cases[l->n].name = copy;
	l->n++;
	return 0;
}

int bench_add_rows(struct bench_list *l, const struct bench_case *rows, size_t nrows)
{
	int rc = 0;
	for (size_t i = 0; i < nrows && rc == 0; i++)
		rc = bench_list_add(l, &rows[i], rows[i].name);
	return rc;
}

/* The row's name with its one '*' replaced by the format (s1, or
 * "s1-over-s2"); -EINVAL for a name without exactly one '*'. */
static int format_name(char *buf, size_t len, const char *tmpl, const struct bench_format *f)
{
	const char *star = strchr(tmpl, '*');
	if (star == NULL || strchr(star + 1, '*') != NULL)
		return -EINVAL;
	int n = snprintf(buf, len, "%.*s%s%s%s%s", (int)(star - tmpl), tmpl, f->s1,
			 f->s2 ? "-over-" : "", f->s2 ? f->s2 : "", star + 1);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int bench_add_per_format(struct bench_list *l, const struct bench_case *rows, size_t nrows,
			 const struct bench_format *formats, size_t nformats)
{
	int rc = 0;
	for (size_t f = 0; f < nformats && rc == 0; f++) {
		for (size_t r = 0; r < nrows && rc == 0; r++) {
			struct bench_case c = rows[r];
			char name[128];
			c.params.format = formats[f].s1;
			c.params.s2_format = formats[f].s2;
			rc = format_name(name, sizeof(name), rows[r].name, &formats[f]);
			if (rc == 0)
				rc = bench_list_add(l, &c, name);
		}
	}
	return rc;
}

int bench_cases_collect(const struct bench_case **cases, size_t *ncases)
{
	bench_cases_free();
	for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
		int rc = areas[i]->add(&all);
		if (rc < 0) {
			fprintf(stderr, "physim-bench: the %s area's cases: %s\n", areas[i]->name,
				physim_strerror(rc));
			bench_cases_free();
			return rc;
		}
	}
	*cases = all.cases;
	*ncases = all.n;
	return 0;
}

void bench_cases_free(void)
{
	for (size_t i = 0; i < all.n; i++)
		free((char *)all.cases[i].name);
	free(all.cases);
	all = (struct bench_list){0};
}
