/* SPDX-License-Identifier: MIT */
/* examples/fuzz-harness/toy-mapper.c - "your" page-table code (see
 * toy-mapper.h): x86-64 4-level tables, present/writable bits only (Intel SDM
 * Vol. 3A 4.5). Build with -DTOY_FORGET_FLUSH to plant the classic bug the
 * harness is there to catch: unmap without a TLB invalidation. */
#include "toy-mapper.h"

#include <stdlib.h>
#include <string.h>

#define PTE_P	 UINT64_C(0x1)
#define PTE_W	 UINT64_C(0x2)
#define PTE_ADDR UINT64_C(0x000ffffffffff000) /* bits 51:12 */

struct toy_pt {
	const struct physim_paging_handler *ph;
	toy_flush_fn flush;
	void *flush_ctx;
	physim_hpa_t root;
};

static uint64_t *table(const struct toy_pt *pt, physim_hpa_t pa)
{
	return physim_ph_phys_to_virt(pt->ph, pa);
}

static int table_new(const struct toy_pt *pt, physim_hpa_t *pa)
{
	int rc = physim_ph_alloc_frame(pt->ph, pa);
	if (rc == 0)
		memset(table(pt, *pa), 0, 4096);
	return rc;
}

static unsigned index_at(uint64_t va, unsigned level) /* level 3 = PML4 .. 0 = PT */
{
	return (unsigned)(va >> (12 + 9 * level)) & 511;
}

int toy_create(const struct physim_paging_handler *ph, toy_flush_fn flush, void *flush_ctx,
	       struct toy_pt **out)
{
	struct toy_pt *pt = calloc(1, sizeof(*pt));
	if (pt == NULL)
		return -ENOMEM;
	*pt = (struct toy_pt){.ph = ph, .flush = flush, .flush_ctx = flush_ctx};
	int rc = table_new(pt, &pt->root);
	if (rc != 0) {
		free(pt);
		return rc;
	}
	*out = pt;
	return 0;
}

static void free_tree(struct toy_pt *pt, physim_hpa_t pa, unsigned level)
{
	uint64_t *t = table(pt, pa);
	for (unsigned i = 0; level > 0 && i < 512; i++)
		if (t[i] & PTE_P)
			free_tree(pt, t[i] & PTE_ADDR, level - 1);
	physim_ph_dealloc_frame(pt->ph, pa);
}

void toy_destroy(struct toy_pt *pt)
{
	free_tree(pt, pt->root, 3);
	free(pt);
}

physim_hpa_t toy_root(const struct toy_pt *pt)
{
	return pt->root;
}

/* The leaf entry for va; with `create`, missing tables are made on the way. */
static int leaf_entry(struct toy_pt *pt, uint64_t va, bool create, uint64_t **pte)
{
	uint64_t *t = table(pt, pt->root);
	for (unsigned level = 3; level > 0; level--) {
		uint64_t *e = &t[index_at(va, level)];
		if (!(*e & PTE_P)) {
			physim_hpa_t pa;
			int rc = create ? table_new(pt, &pa) : -ENOENT;
			if (rc != 0)
				return rc;
			*e = pa | PTE_P | PTE_W;
		}
		t = table(pt, *e & PTE_ADDR);
	}
	*pte = &t[index_at(va, 0)];
	return 0;
}

int toy_map(struct toy_pt *pt, uint64_t va, uint64_t pa, bool writable)
{
	uint64_t *pte;
	int rc = leaf_entry(pt, va, true, &pte);
	if (rc != 0)
		return rc;
	if (*pte & PTE_P)
		return -EEXIST;
	*pte = pa | PTE_P | (writable ? PTE_W : 0);
	return 0;
}

int toy_unmap(struct toy_pt *pt, uint64_t va)
{
	uint64_t *pte;
	if (leaf_entry(pt, va, false, &pte) != 0 || !(*pte & PTE_P))
		return -ENOENT;
	*pte = 0;
#ifndef TOY_FORGET_FLUSH
	pt->flush(pt->flush_ctx, va);
#endif
	return 0;
}

int toy_protect(struct toy_pt *pt, uint64_t va, bool writable)
{
	uint64_t *pte;
	if (leaf_entry(pt, va, false, &pte) != 0 || !(*pte & PTE_P))
		return -ENOENT;
	*pte = (*pte & ~PTE_W) | (writable ? PTE_W : 0);
	pt->flush(pt->flush_ctx, va);
	return 0;
}
