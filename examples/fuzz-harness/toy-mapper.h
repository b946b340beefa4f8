/* SPDX-License-Identifier: MIT */
/* examples/fuzz-harness/toy-mapper.h - "your" page-table code: a tiny
 * x86-64-style 4-level mapper (4 KiB pages only) standing for the code a
 * physim user wants to fuzz. Its tables come from a physim_paging_handler. */
#ifndef TOY_MAPPER_H
#define TOY_MAPPER_H

#include <physim/hal.h>

/* Called after a leaf changed or went away: the TLB must forget va. */
typedef void (*toy_flush_fn)(void *ctx, uint64_t va);

struct toy_pt;

int toy_create(const struct physim_paging_handler *ph, toy_flush_fn flush, void *flush_ctx,
	       struct toy_pt **out);
/* Frees every table frame. */
void toy_destroy(struct toy_pt *pt);
physim_hpa_t toy_root(const struct toy_pt *pt);

/* -EEXIST if mapped, -ENOMEM if a table frame cannot be had. */
int toy_map(struct toy_pt *pt, uint64_t va, uint64_t pa, bool writable);
/* -ENOENT if not mapped. */
int toy_unmap(struct toy_pt *pt, uint64_t va);
int toy_protect(struct toy_pt *pt, uint64_t va, bool writable);

#endif
