/* SPDX-License-Identifier: MIT */
/* tools/physim-bench/bench.h - physim-bench's private vocabulary: what a case
 * and a measured implementation are, the per-area case tables, and results. */

#ifndef PHYSIM_BENCH_H
#define PHYSIM_BENCH_H

#include <physim/physim.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_PEERS  2
#define MAX_EXTRAS 4

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

/* --quick cuts query sequences to this many addresses (bench_params). */
#define QUICK_QUERIES 1000000u

/* ---- small utilities ---- */

/* Tell the compiler that p's memory is read here, so work that produced it
 * (a memset, an allocation) cannot be deleted. */
static inline void keep(const void *p)
{
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* splitmix64: a tiny seeded generator, so every run churns the same way. */
static inline uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static inline int ram_new(uint64_t size, struct physim_ram **out)
{
	struct physim_ram_config cfg = {.size = size};
	return physim_ram_create(&cfg, out);
}

/* ---- the case tables' vocabulary ---- */

struct bench_params {
	uint64_t ram_size;
	unsigned occupancy_pct; /* of the RAM in use while churning, pool included */
	unsigned nthreads;	/* 0 means 1 */
	/* page-table cases */
	const char *format;	 /* physim_format() name */
	uint64_t region;	 /* bytes mapped at PT_VA */
	bool huge;		 /* map with PHYSIM_ALLOW_HUGE */
	uint64_t nqueries;	 /* query cases: addresses in the sequence (--quick: fewer) */
	uint64_t quick_nqueries; /* --quick cap on nqueries; 0 = QUICK_QUERIES */
	bool sequential;	 /* query pages in address order, else uniformly random */
	/* nested walk cases: the stage-2 format; format is then the guest's stage 1 */
	const char *s2_format;
};

/* Extra numbers an implementation reports (JSON fields, text notes). */
struct bench_extras {
	unsigned n;
	struct {
		const char *key;
		double value;
	} kv[MAX_EXTRAS];
};

void extras_add(struct bench_extras *ex, const char *key, double value);

/*
 * One measured thing: setup makes a state (not timed), run performs nops
 * operations on it (timed by the harness, called many times), teardown
 * releases it. `data` is the implementation's constant parameter. A peer
 * normally runs with its case's params; `params` overrides them (a peer that
 * is physim itself in another configuration). An operation whose run cannot
 * simply be repeated (map a whole region) gives reset, untimed work before
 * every timed run, and fixed_ops, the one batch size it runs with instead of
 * a calibrated one.
 */
struct bench_impl {
	const char *name;
	const void *data;
	const struct bench_params *params; /* optional */
	int (*setup)(const void *data, const struct bench_params *p, void **state);
	int (*run)(void *state, uint64_t nops);
	void (*teardown)(void *state);
	void (*extras)(const void *state, struct bench_extras *ex); /* optional */
	int (*reset)(void *state);				    /* optional */
	uint64_t (*fixed_ops)(const void *state);		    /* optional */
};

/* A case: physim's implementation and up to MAX_PEERS peers, all set up
 * together and timed interleaved in the same run. */
struct bench_case {
	const char *group;
	const char *name;
	struct bench_params params;
	const struct bench_impl *impl;
	const struct bench_impl *peers[MAX_PEERS]; /* unused slots NULL */
	bool full_only;				   /* left out by --quick */
	const char *unit;			   /* what one op is, if not obvious */
};

/* ---- areas and their case tables (bench-cases.c) ---- */

/* The cases being collected; bench_list_add copies the row and its name. */
struct bench_list {
	struct bench_case *cases;
	size_t n, cap;
};

int bench_list_add(struct bench_list *l, const struct bench_case *row, const char *name);

/* Every row as it is, in table order. */
int bench_add_rows(struct bench_list *l, const struct bench_case *rows, size_t nrows);

/* A table format a case runs on and, for nested cases, the stage-2 format
 * under it (else NULL). */
struct bench_format {
	const char *s1, *s2;
};

/* Rows that repeat per format: for each format in turn, every row, with
 * params.format = s1, params.s2_format = s2 and the '*' in the row's name
 * replaced by s1 (or "s1-over-s2"). */
int bench_add_per_format(struct bench_list *l, const struct bench_case *rows, size_t nrows,
			 const struct bench_format *formats, size_t nformats);

/* One area of physim (allocation, page tables, walks, ...): add appends its
 * cases, in the order --list prints them. Registered in bench-cases.c. */
struct bench_area {
	const char *name;
	int (*add)(struct bench_list *l);
};

extern const struct bench_area bench_area_alloc;  /* bench-alloc.c */
extern const struct bench_area bench_area_ram;	  /* bench-ram.c */
extern const struct bench_area bench_area_pt;	  /* bench-pt.c */
extern const struct bench_area bench_area_walk;	  /* bench-walk.c: walker and TLB */
extern const struct bench_area bench_area_nested; /* bench-nested.c */
extern const struct bench_area bench_area_cpu;	  /* bench-cpu.c: simulated CPUs */

/* Every area's cases, in the registered order (a failing area is named on
 * stderr); bench_cases_free releases them. */
int bench_cases_collect(const struct bench_case **cases, size_t *ncases);
void bench_cases_free(void);

/* ---- measurement (bench-measure.c) ---- */

struct impl_result {
	const struct bench_impl *impl;
	uint64_t ops; /* per rep */
	double median, min, max;
	struct bench_extras ex;
};

struct case_result {
	const struct bench_case *c;
	bool measured;
	unsigned npeers;
	struct impl_result self, peer[MAX_PEERS];
};

/* Sets up the case's implementation and peers, times reps interleaved
 * batches of each (of about target_ns; --quick caps query sequences) and
 * tears them down. */
int measure_case(const struct bench_case *c, bool quick, unsigned reps, uint64_t target_ns,
		 struct case_result *out);

/* ---- output (bench-report.c) ---- */

/* Width of the text report's case column. */
extern int case_width;

void print_text_header(bool quick, unsigned reps, uint64_t target_ns);
void print_text(const struct case_result *r);
void print_json(const struct case_result *r, unsigned threads, unsigned reps);
/* res: one result per case, unmeasured ones included. */
void print_goals(const struct case_result *res, size_t n);

#endif
