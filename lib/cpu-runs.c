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

unsigned physim_cpui_group_piece(const struct physim_pt_format *f, unsigned run_shift)
{
	if (f == NULL || (f->arch == PHYSIM_ARCH_AARCH64 && f->pte_bytes == 4))
		return 0; /* none, or ARMv7 short descriptors: one TLB entry */
	for (unsigned n = 0; n < f->levels; n++) {
		if (f->group_log2[n] != 0 && f->level[n].shift + f->group_log2[n] == run_shift)
			return f->level[n].shift;
	}
	return 0;
}

static const struct physim_pt_format *s1_format(const struct centry *e)
{
	return e->ctx != NULL ? e->ctx->c1.format : NULL;
}

static const struct physim_pt_format *s2_format(const struct centry *e)
{
	return e->ctx != NULL ? e->ctx->c2.format : NULL;
}

/* A combined entry has two runs to think of: its stage-1 leaf (s1_shift)
 * names what an invalidation by VA must remove, its stage-2 leaf (s2_shift)
 * what one by GPA must (RISC-V HFENCE.GVMA with rs1 != x0). Either may be a
 * run whose pieces are the minimum invalidation size (D8.17.6 RLQLSD). */
static unsigned comb_piece(const struct centry *e, unsigned addr_mode)
{
	return addr_mode == INV_ADDR_GPA ? physim_cpui_group_piece(s2_format(e), e->s2_shift)
					 : physim_cpui_group_piece(s1_format(e), e->s1_shift);
}

unsigned physim_cpui_run_piece_shift(const struct centry *e, unsigned addr_mode)
{
	if (e->ctx == NULL || addr_mode == INV_ADDR_NONE)
		return 0;
	switch (e->kind) {
	case PHYSIM_ENTRY_S1:
		return physim_cpui_group_piece(s1_format(e), e->shift);
	case PHYSIM_ENTRY_S2:
		return physim_cpui_group_piece(s2_format(e), e->shift);
	case PHYSIM_ENTRY_COMB: {
		unsigned p = comb_piece(e, addr_mode);
		return p != 0 && e->shift > p ? p : 0;
	}
	default:
		return 0;
	}
}

unsigned physim_cpui_comb_match_shift(const struct centry *e, unsigned addr_mode)
{
	unsigned p = e->ctx != NULL ? comb_piece(e, addr_mode) : 0;
	unsigned leaf = addr_mode == INV_ADDR_GPA ? e->s2_shift : e->s1_shift;
	if (p == 0)
		return leaf; /* a fractured entry goes with its whole leaf */
	return e->shift > p ? e->shift : p;
}

unsigned physim_cpui_desc_shift(const struct centry *e)
{
	unsigned p;
	switch (e->kind) {
	case PHYSIM_ENTRY_S1:
		p = physim_cpui_group_piece(s1_format(e), e->shift);
		return p != 0 ? p : e->shift;
	case PHYSIM_ENTRY_S2:
		p = physim_cpui_group_piece(s2_format(e), e->shift);
		return p != 0 ? p : e->shift;
	case PHYSIM_ENTRY_COMB:
		p = physim_cpui_group_piece(s1_format(e), e->s1_shift);
		return p != 0 ? p : e->s1_shift;
	default:
		return e->shift;
	}
}

unsigned physim_cpui_desc_count(const struct centry *e)
{
	unsigned d = physim_cpui_desc_shift(e);
	return e->kind != PHYSIM_ENTRY_WALK && e->shift > d ? 1u << (e->shift - d) : 1;
}

const struct physim_pt_format *physim_cpui_desc_format(const struct centry *e)
{
	bool s2 = e->kind == PHYSIM_ENTRY_S2 || (e->kind == PHYSIM_ENTRY_WALK && e->wstage == 2);
	return s2 ? s2_format(e) : s1_format(e);
}

uint64_t physim_cpui_run_member(const struct physim_pt_format *f, uint64_t desc0, unsigned k,
				unsigned desc_shift)
{
	/* AArch64: each descriptor of a Contiguous run holds its own output
	 * address, consecutive from the run's aligned base (Arm ARM DDI 0487
	 * M.a.a D8.7.1 "The Contiguous bit"); the run is aligned, so adding
	 * to the address field carries nowhere. Svnapot: all the PTEs of a
	 * NAPOT range are the same (Svnapot chapter). */
	if (f != NULL && f->arch == PHYSIM_ARCH_AARCH64 && f->pte_bytes == 8)
		return desc0 + ((uint64_t)k << desc_shift);
	return desc0;
}

/* Does iv name the piece [a, a + (1 << shift))? a: a VA, or a GPA for a
 * combined entry split by GPA. */
static bool piece_named(const struct inval *iv, uint64_t a, unsigned shift)
{
	uint64_t mask = iv->addr_mask & ~((UINT64_C(1) << shift) - 1);
	return ((a ^ iv->addr) & mask) == 0;
}

void physim_cpui_run_split(struct physim_cpu *c, const struct inval *iv, const struct centry *e,
			   unsigned piece_shift, const uint64_t *carry)
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
	bool by_gpa = e->kind == PHYSIM_ENTRY_COMB && iv->addr_mode == INV_ADDR_GPA;
	unsigned dshift = physim_cpui_desc_shift(e);
	const struct physim_pt_format *df = physim_cpui_desc_format(e);
	uint64_t size = UINT64_C(1) << piece_shift;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t off = i * size;
		if (piece_named(iv, (by_gpa ? e->gpa : e->va) + off, piece_shift))
			continue;
		struct centry p = *e;
		p.va = e->va + off;
		p.pa = e->pa + off;
		p.gpa = e->gpa + off;
		p.shift = (uint8_t)piece_shift;
		if (e->kind != PHYSIM_ENTRY_COMB) {
			p.s1_shift = p.s2_shift = (uint8_t)piece_shift;
		} else if (by_gpa) {
			p.s2_shift = (uint8_t)piece_shift; /* one stage-2 descriptor's */
		} else {
			p.s1_shift = (uint8_t)piece_shift; /* one stage-1 descriptor's */
		}
		p.frac = p.s1_shift > p.shift;
		p.key = mk_key(p.va, p.frac ? p.s1_shift : piece_shift);
		if (e->desc_pa != 0 && df != NULL) {
			/* the descriptor this piece was made from: the run member
			 * at its offset, with the value break-before-make last saw
			 * there (carry) or the one the run implies */
			unsigned k = (unsigned)(off >> dshift);
			p.desc_pa = e->desc_pa + (uint64_t)k * df->pte_bytes;
			p.desc = carry != NULL ? carry[k]
					       : physim_cpui_run_member(df, e->desc, k, dshift);
		}
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
