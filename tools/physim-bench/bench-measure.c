/* SPDX-License-Identifier: MIT */
/* tools/physim-bench/bench-measure.c - timing: calibrated batches, physim and
 * its peers run interleaved, medians over the reps. */

#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_OPS (UINT64_C(1) << 26)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void extras_add(struct bench_extras *ex, const char *key, double value)
{
	if (ex->n < MAX_EXTRAS) {
		ex->kv[ex->n].key = key;
		ex->kv[ex->n].value = value;
		ex->n++;
	}
}

static int timed_run(const struct bench_impl *im, void *st, uint64_t nops, uint64_t *ns)
{
	int rc = im->reset ? im->reset(st) : 0;
	if (rc < 0)
		return rc;
	uint64_t t0 = now_ns();
	rc = im->run(st, nops);
	*ns = now_ns() - t0;
	return rc;
}

/* Grow the batch by 4x until it takes an eighth of the target, then scale it
 * to the target. Doubles as warm-up. */
static int calibrate(const struct bench_impl *im, void *st, uint64_t target_ns, uint64_t *ops)
{
	uint64_t n = 1, ns = 0;
	for (;;) {
		int rc = timed_run(im, st, n, &ns);
		if (rc < 0)
			return rc;
		if (ns >= target_ns / 8 || n >= MAX_OPS)
			break;
		n *= 4;
	}
	double want = (double)n * (double)target_ns / (double)(ns ? ns : 1);
	*ops = want < 1 ? 1 : want > (double)MAX_OPS ? MAX_OPS : (uint64_t)want;
	return 0;
}

static int batch_size(const struct bench_impl *im, void *st, uint64_t target_ns, uint64_t *ops)
{
	if (im->fixed_ops == NULL)
		return calibrate(im, st, target_ns, ops);
	*ops = im->fixed_ops(st);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void summarise(double *samples, unsigned n, struct impl_result *r)
{
	qsort(samples, n, sizeof(*samples), cmp_double);
	r->min = samples[0];
	r->max = samples[n - 1];
	r->median = n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
}

/* Reps interleave: physim, peer 1, peer 2, physim, ... so that noise from
 * the machine lands on all of them alike. */
static int measure_interleaved(const struct bench_impl **im, void **st, unsigned nimpl,
			       unsigned reps, uint64_t target_ns, struct impl_result *res)
{
	double *samples = calloc((size_t)nimpl * reps, sizeof(*samples));
	if (samples == NULL)
		return -ENOMEM;
	int rc = 0;
	uint64_t ns;
	/* Calibrate, then one untimed batch: heaps, caches and page tables
	 * reach their steady state before the first timed rep. */
	for (unsigned i = 0; i < nimpl && rc == 0; i++)
		rc = batch_size(im[i], st[i], target_ns, &res[i].ops);
	for (unsigned i = 0; i < nimpl && rc == 0; i++)
		rc = timed_run(im[i], st[i], res[i].ops, &ns);
	for (unsigned r = 0; r < reps && rc == 0; r++) {
		for (unsigned i = 0; i < nimpl && rc == 0; i++) {
			rc = timed_run(im[i], st[i], res[i].ops, &ns);
			samples[i * reps + r] = (double)ns / (double)res[i].ops;
		}
	}
	for (unsigned i = 0; i < nimpl && rc == 0; i++) {
		res[i].impl = im[i];
		summarise(&samples[i * reps], reps, &res[i]);
		if (im[i]->extras)
			im[i]->extras(st[i], &res[i].ex);
	}
	free(samples);
	return rc;
}

int measure_case(const struct bench_case *c, bool quick, unsigned reps, uint64_t target_ns,
		 struct case_result *out)
{
	struct bench_params params = c->params;
	uint64_t quick_cap = params.quick_nqueries ? params.quick_nqueries : QUICK_QUERIES;
	if (quick && params.nqueries > quick_cap)
		params.nqueries = quick_cap;
	const struct bench_impl *im[1 + MAX_PEERS] = {c->impl};
	void *st[1 + MAX_PEERS] = {NULL};
	struct impl_result res[1 + MAX_PEERS];
	unsigned nimpl = 1, ready = 0;
	for (unsigned i = 0; i < MAX_PEERS && c->peers[i]; i++)
		im[nimpl++] = c->peers[i];

	memset(res, 0, sizeof(res));
	int rc = 0;
	for (; ready < nimpl && rc == 0; ready++)
		rc = im[ready]->setup(im[ready]->data,
				      im[ready]->params ? im[ready]->params : &params, &st[ready]);
	if (rc == 0)
		rc = measure_interleaved(im, st, nimpl, reps, target_ns, res);
	else
		ready--; /* the failed setup left nothing to tear down */
	for (unsigned i = 0; i < ready; i++)
		im[i]->teardown(st[i]);
	if (rc < 0)
		return rc;

	out->c = c;
	out->measured = true;
	out->self = res[0];
	out->npeers = nimpl - 1;
	for (unsigned i = 1; i < nimpl; i++)
		out->peer[i - 1] = res[i];
	return 0;
}
