/* SPDX-License-Identifier: MIT */
/* tools/physim-bench/physim-bench.c - benchmarks of physim's hot paths (frame
 * allocation, RAM setup, page-table map / query / unmap, translation walks and
 * the TLB), each measured side by side with a familiar peer. This file is the
 * command line; the cases are in bench-<area>.c, timing in bench-measure.c,
 * output in bench-report.c. */

#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPS 1000u

/* ---- command line ---- */

struct options {
	bool quick, json, list;
	const char *filter;
	unsigned reps;
	uint64_t target_ns; /* wanted duration of one timed batch */
};

static void usage(void)
{
	printf("usage: physim-bench [--quick] [--json] [--filter SUBSTR] [--reps N] [--list]\n"
	       "       physim-bench -h | --help | --version\n"
	       "\n"
	       "Times physim's hot paths against peers (glibc, mmap, memset, dependent-load\n"
	       "chains standing for the memory a walk must read), interleaved,\n"
	       "and prints the median ns per operation over the reps.\n"
	       "\n"
	       "  --quick          reduced set (no 4G / 50%% cases), 5 reps, short batches\n"
	       "  --json           one JSON object per line and peer: case, ns_per_op, peer,\n"
	       "                   peer_ns_per_op, ratio (= ns_per_op / peer_ns_per_op), ...\n"
	       "  --filter SUBSTR  only cases whose name or group contains SUBSTR\n"
	       "  --reps N         timed batches per case (1..%u; default 11, quick 5)\n"
	       "  --list           print the case names and exit\n"
	       "  -h, --help       this text\n"
	       "  --version        print physim-bench's version and exit\n"
	       "\n"
	       "Exit status: 0 done, 1 a case failed (the others still run) or the host\n"
	       "refused memory, 2 bad option. The manual page physim-bench(1) has more.\n",
	       MAX_REPS);
}

static _Noreturn void bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "physim-bench: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see --help)\n");
	exit(2);
}

static unsigned parse_reps(const char *s)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v < 1 || v > MAX_REPS)
		bad_usage("--reps: '%s' is not a whole number from 1 to 1000", s);
	return (unsigned)v;
}

/* Value of an option given as "--opt VALUE" or "--opt=VALUE"; NULL if argv[*i]
 * is not that option. */
static const char *option_value(int argc, char **argv, int *i, const char *opt)
{
	size_t len = strlen(opt);
	if (strncmp(argv[*i], opt, len) != 0)
		return NULL;
	if (argv[*i][len] == '=')
		return argv[*i] + len + 1;
	if (argv[*i][len] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		bad_usage("%s needs a value", opt);
	return argv[++*i];
}

static void parse_args(int argc, char **argv, struct options *o)
{
	unsigned reps = 0;
	for (int i = 1; i < argc; i++) {
		const char *v;
		if (strcmp(argv[i], "--quick") == 0) {
			o->quick = true;
		} else if (strcmp(argv[i], "--json") == 0) {
			o->json = true;
		} else if (strcmp(argv[i], "--list") == 0) {
			o->list = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage();
			exit(0);
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("physim-bench (physim) %s\n", physim_version());
			exit(0);
		} else if ((v = option_value(argc, argv, &i, "--filter")) != NULL) {
			o->filter = v;
		} else if ((v = option_value(argc, argv, &i, "--reps")) != NULL) {
			reps = parse_reps(v);
		} else {
			bad_usage("unknown argument '%s'", argv[i]);
		}
	}
	o->reps = reps ? reps : o->quick ? 5 : 11;
	o->target_ns = o->quick ? 8000000 : 20000000;
}

static bool selected(const struct bench_case *c, const struct options *o)
{
	if (o->quick && c->full_only)
		return false;
	return o->filter == NULL || strstr(c->name, o->filter) != NULL ||
	       strstr(c->group, o->filter) != NULL;
}

int main(int argc, char **argv)
{
	struct options o = {0};
	parse_args(argc, argv, &o);

	const struct bench_case *cases;
	size_t ncases, nsel = 0;
	if (bench_cases_collect(&cases, &ncases) < 0)
		return 1;
	for (size_t i = 0; i < ncases; i++) {
		if (!selected(&cases[i], &o))
			continue;
		nsel++;
		if (strlen(cases[i].name) > (size_t)case_width)
			case_width = (int)strlen(cases[i].name);
	}
	if (nsel == 0)
		bad_usage("--filter '%s' matches no case", o.filter ? o.filter : "");
	if (o.list) {
		for (size_t i = 0; i < ncases; i++)
			if (selected(&cases[i], &o))
				printf("%s\n", cases[i].name);
		bench_cases_free();
		return 0;
	}

	struct case_result *res = calloc(ncases, sizeof(*res));
	if (res == NULL) {
		fprintf(stderr, "physim-bench: %s\n", physim_strerror(-ENOMEM));
		return 1;
	}
	int status = 0;
	if (!o.json)
		print_text_header(o.quick, o.reps, o.target_ns);
	for (size_t i = 0; i < ncases; i++) {
		if (!selected(&cases[i], &o))
			continue;
		int rc = measure_case(&cases[i], o.quick, o.reps, o.target_ns, &res[i]);
		if (rc < 0) {
			fflush(stdout);
			fprintf(stderr, "physim-bench: %s: %s\n", cases[i].name,
				physim_strerror(rc));
			status = 1;
			continue;
		}
		unsigned threads = cases[i].params.nthreads ? cases[i].params.nthreads : 1;
		if (o.json)
			print_json(&res[i], threads, o.reps);
		else
			print_text(&res[i]);
		fflush(stdout);
	}
	if (!o.json)
		print_goals(res, ncases);
	free(res);
	bench_cases_free();
	return status;
}
