/* SPDX-License-Identifier: MIT */
/* lib/cpu-runs.c - grouped leaves in a simulated CPU's store: an AArch64
 * Contiguous-bit run or a RISC-V Svnapot page is cached as one entry of the
 * run's size, but an invalidation by address is only required to remove the
 * named descriptor's own block or page, so the rest of the run stays cached.
 *
 * Arm ARM DDI 0487 M.a.a D8.17.6 (rule RLQLSD): "The Contiguous bit does not
 * affect the minimum size of a TLB entry that is required to be invalidated
 * from the TLB" and "When invalidating a mapping greater than a translation
 * granule size or block size, for example a mapping that is specified using
 * the Contiguous bit, software is required to issue a TLB maintenance
 * instruction for each block or granule within the configured contiguous
 * region size". The RISC-V Svnapot chapter likewise has software fence "all
 * 4 KiB regions within the range (either via a single SFENCE.VMA with rs1 =
 * x0, or with multiple SFENCE.VMA instructions with rs1 != x0)". An ARMv7
 * Large page or Supersection is different: it is one TLB entry (Arm ARM
 * G5.4), found and removed by any of its addresses, so it is not split. */
#include "cpu-priv.h"

#include <stdlib.h>

#include "pt-format.h"

unsigned physim_cpui_run_piece_shift(const struct centry *e)
{
	if ((e->kind != PHYSIM_ENTRY_S1 && e->kind != PHYSIM_ENTRY_S2) || e->ctx == NULL)
		return 0;
	const struct physim_pt_format *f =
	    e->kind == PHYSIM_ENTRY_S2 ? e->ctx->c2.format : e->ctx->c1.format;
	if (f == NULL || (f->arch == PHYSIM_ARCH_AARCH64 && f->pte_bytes == 4))
		return 0; /* none, or ARMv7 short descriptors: one TLB entry */
	for (unsigned n = 0; n < f->levels; n++) {
		if (f->group_log2[n] != 0 && f->level[n].shift + f->group_log2[n] == e->shift)
			return f->level[n].shift;
	}
	return 0;
}

/* Does iv name the piece [va, va + (1 << shift))? */
static bool piece_named(const struct inval *iv, uint64_t va, unsigned shift)
{
	uint64_t mask = iv->addr_mask & ~((UINT64_C(1) << shift) - 1);
	return ((va ^ iv->addr) & mask) == 0;
}

void physim_cpui_run_split(struct physim_cpu *c, const struct inval *iv, const struct centry *e,
			   unsigned piece_shift)
{
	uint64_t n = UINT64_C(1) << (e->shift - piece_shift);
	size_t need = c->nrun_pend + (size_t)n;
	if (need > c->caprun_pend) {
		size_t cap = need < 64 ? 64 : need * 2;
		struct centry *p = realloc(c->run_pend, cap * sizeof(*p));
		if (p == NULL)
			return; /* the whole run goes: more than required, never less */
		c->run_pend = p;
		c->caprun_pend = cap;
	}
	uint64_t size = UINT64_C(1) << piece_shift;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t off = i * size;
		if (piece_named(iv, e->va + off, piece_shift))
			continue;
		struct centry p = *e;
		p.va = e->va + off;
		p.pa = e->pa + off;
		p.gpa = e->gpa + off;
		p.shift = p.s1_shift = p.s2_shift = (uint8_t)piece_shift;
		p.frac = false;
		p.key = mk_key(p.va, piece_shift);
		p.desc_pa = 0; /* the run's descriptor is not the piece's */
		p.desc = 0;
		c->run_pend[c->nrun_pend++] = p;
	}
}

void physim_cpui_run_flush(struct physim_cpu *c)
{
	size_t n = c->nrun_pend;
	c->nrun_pend = 0;
	c->run_inserting = true; /* a piece was cached when its run was */
	for (size_t i = 0; i < n; i++)
		physim_cpui_insert(c, &c->run_pend[i]);
	c->run_inserting = false;
	free(c->run_pend);
	c->run_pend = NULL;
	c->caprun_pend = 0;
}
