/* SPDX-License-Identifier: MIT */
/* lib/pt-run.c - encoding runs of new leaves for the edit engine
 * (lib/pt-edit.c): a run's leaves differ only in their address field, so
 * most are derived from the first by addition. */
#include "pt-priv.h"

#include <string.h>

/* ---- encoding runs of leaves ----
 * Consecutive leaves differ only in their address field. Encode the first,
 * the second and the last; if the last equals first + (n-1) * (second -
 * first) the address field is linear over the run and the rest are derived by
 * addition (cheap); otherwise (e.g. a split address field such as PSE-36)
 * every leaf is encoded. */
int physim_pt_run_prepare(const struct physim_pt_format *f, uint64_t pa,
			  const struct pt_leaf_attr *a, unsigned lvl, uint64_t n,
			  struct pt_leaf_run *r)
{
	uint64_t ps = pt_level_page_size(f, lvl);
	uint64_t d1, dl;
	int rc = f->ops->encode_leaf(f, pa, a, lvl, &r->d0);
	if (rc != 0)
		return rc;
	r->delta = 0;
	r->linear = true;
	if (n < 2)
		return 0;
	rc = f->ops->encode_leaf(f, pa + ps, a, lvl, &d1);
	if (rc == 0)
		rc = f->ops->encode_leaf(f, pa + (n - 1) * ps, a, lvl, &dl);
	if (rc != 0)
		return rc;
	r->delta = d1 - r->d0;
	r->linear = dl == r->d0 + (n - 1) * r->delta;
	return 0;
}

void physim_pt_run_write(const struct physim_pt_format *f, uint8_t *t, uint64_t idx, uint64_t n,
			 uint64_t pa, const struct pt_leaf_attr *a, unsigned lvl,
			 const struct pt_leaf_run *r)
{
	if (r->linear) {
		uint64_t d = r->d0;
		if (f->pte_bytes == 8) {
			for (uint64_t i = 0; i < n; i++, d += r->delta)
				memcpy(t + (idx + i) * 8, &d, 8);
		} else {
			for (uint64_t i = 0; i < n; i++, d += r->delta) {
				uint32_t d32 = (uint32_t)d;
				memcpy(t + (idx + i) * 4, &d32, 4);
			}
		}
		return;
	}
	uint64_t ps = pt_level_page_size(f, lvl);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t d = 0;
		/* The check pass encoded this run's ends; a format that accepts
		 * the ends but not a page between them is inconsistent. */
		if (f->ops->encode_leaf(f, pa + i * ps, a, lvl, &d) != 0)
			physim_log_error("pt: %s: encode_leaf failed inside a checked run",
					 f->name);
		pte_store(t, idx + i, f->pte_bytes, d);
	}
}

/*
 * physim_pt_run_prepare for the n new leaves of a map from pa at lvl (attributes
 * o->attr, grouped or not), across the runs of the whole operation. Every
 * run of a map has the same attributes, so a later run at the same level
 * can take the step per page (delta) of an earlier linear one: only its
 * first and last leaves are encoded, to check that the address field is
 * linear there with that step (what physim_pt_run_prepare checks with the first,
 * second and last). o->enc[grouped] keeps one range of pa checked linear
 * without a gap, [pa0, pa_hi]; a run inside it encodes nothing, so the
 * apply pass encodes nothing the check pass checked: a map of 8192 4 KiB
 * pages encodes 33 leaves instead of 96.
 */
int physim_pt_map_prepare(struct op *o, unsigned lvl, uint64_t pa, uint64_t n, bool grouped,
			  struct pt_leaf_attr *a, struct pt_leaf_run *r)
{
	const struct physim_pt_format *f = o->f;
	struct map_enc *m = &o->enc[grouped];
	unsigned sh = f->level[lvl].shift; /* pa and pa0 are aligned to the page */
	uint64_t last = pa + ((n - 1) << sh);
	*a = o->attr;
	a->grouped = grouped;
	if (m->valid && m->lvl == lvl && pa >= m->pa0) {
		uint64_t d0 = m->d0 + ((pa - m->pa0) >> sh) * m->delta, dp, dl;
		*r = (struct pt_leaf_run){.d0 = d0, .delta = m->delta, .linear = true};
		if (last <= m->pa_hi)
			return 0;
		int rc = f->ops->encode_leaf(f, pa, a, lvl, &dp);
		if (rc == 0)
			rc = f->ops->encode_leaf(f, last, a, lvl, &dl);
		if (rc != 0)
			return rc;
		if (dp == d0 && dl == d0 + (n - 1) * m->delta) {
			/* The checked range grows only if this run continues
			 * it: a gap may hold a run that was not linear. */
			if (pa > m->pa_hi + (UINT64_C(1) << sh))
				m->pa0 = pa, m->d0 = d0;
			m->pa_hi = last;
			return 0;
		}
	}
	int rc = physim_pt_run_prepare(f, pa, a, lvl, n, r);
	if (rc == 0 && n >= 2 && r->linear)
		*m = (struct map_enc){.lvl = lvl,
				      .valid = true,
				      .pa0 = pa,
				      .d0 = r->d0,
				      .delta = r->delta,
				      .pa_hi = last};
	return rc;
}
