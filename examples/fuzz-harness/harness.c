/* SPDX-License-Identifier: MIT */
/* examples/fuzz-harness/harness.c - a libFuzzer harness for "your" page-table
 * code (toy-mapper.c) on physim: its tables live in simulated RAM and come
 * through a counting, fault-injecting HAL; every access goes through a
 * physim TLB that reports any use of a stale entry (a missing flush); a
 * model checks every result; at the end no frame may be left.
 *
 * Input: byte 0 = which allocation fails (0: none), then (op, slot) pairs. */
#include "toy-mapper.h"

#include <physim/physim.h>

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 256 slots spread over two PML4 entries and four PDPT entries. */
static uint64_t va_of(uint8_t slot)
{
	return (uint64_t)(slot & 0x3f) << 12 | (uint64_t)(slot >> 6) << 38;
}

struct model {
	bool mapped[256], writable[256];
	uint64_t pa[256];
};

struct bench {
	struct physim_ram *ram;
	struct physim_counting_hal *hal;
	struct physim_tlb *tlb;
	struct physim_mmu *mmu;
	struct toy_pt *pt;
	struct model m;
};

static void require(bool ok, const char *what, uint64_t va)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz-toy-mapper: %s (va %#llx)\n", what, (unsigned long long)va);
	abort();
}

/* physim calls this when a TLB hit disagrees with the tables. */
static void on_stale(void *ctx, uint64_t va, const struct physim_tlb_entry_info *cached,
		     const struct physim_xlate *now)
{
	(void)ctx;
	(void)cached;
	fprintf(stderr, "stale TLB entry used: the tables now say %s\n",
		now->fault.kind == PHYSIM_FAULT_NONE ? "something else"
						     : physim_fault_str(&now->fault));
	require(false, "missing TLB flush", va);
}

static void flush_tlb(void *tlb, uint64_t va)
{
	physim_tlb_flush_va(tlb, va);
}

static void bench_open(struct bench *b, uint8_t fail_nth)
{
	*b = (struct bench){0};
	struct physim_ram_config rc = {.size = 16 << 20};
	require(physim_ram_create(&rc, &b->ram) == 0, "ram", 0);
	struct physim_counting_hal_config hc = {.paging = physim_ram_paging_handler(b->ram),
						.fail_nth = fail_nth};
	require(physim_counting_hal_create(&hc, &b->hal) == 0, "hal", 0);
	struct physim_tlb_config tc = {.check_stale = true, .on_stale = on_stale};
	require(physim_tlb_create(&tc, &b->tlb) == 0, "tlb", 0);
	/* Your code allocates through the counting HAL. */
	if (toy_create(physim_counting_hal_paging(b->hal), flush_tlb, b->tlb, &b->pt) != 0)
		return; /* root allocation failed: nothing to fuzz */
	struct physim_mmu_config mc = {.format = physim_format("x86_64-4l"),
				       .mem = physim_ram_paging_handler(b->ram),
				       .root = toy_root(b->pt)};
	require(physim_mmu_create(&mc, &b->mmu) == 0, "mmu", 0);
}

static void bench_close(struct bench *b)
{
	if (b->pt != NULL)
		toy_destroy(b->pt);
	require(physim_counting_hal_counts(b->hal).frames_live == 0, "table frames leaked", 0);
	require(physim_ram_stats(b->ram).used_frames == 0, "RAM frames leaked", 0);
	physim_mmu_destroy(b->mmu);
	physim_tlb_destroy(b->tlb);
	physim_counting_hal_destroy(b->hal);
	physim_ram_destroy(b->ram);
}

/* An access through the TLB must do what the model says. */
static void check_access(struct bench *b, uint8_t slot, bool write)
{
	struct physim_access acc = {.va = va_of(slot), .write = write};
	struct physim_xlate x;
	int rc = physim_tlb_translate(b->tlb, b->mmu, &acc, &x);
	bool ok = b->m.mapped[slot] && (b->m.writable[slot] || !write);
	require(rc == (ok ? 0 : -EFAULT), ok ? "access faulted" : "access did not fault", acc.va);
	require(!ok || x.pa == b->m.pa[slot], "wrong physical address", acc.va);
}

/* op bits 0-1: map / unmap / protect / access; bit 2: writable or write;
 * bits 3-7: which physical page. */
static void step(struct bench *b, uint8_t op, uint8_t slot)
{
	struct model *m = &b->m;
	uint64_t va = va_of(slot);
	bool w = op & 4;
	int rc;
	switch (op & 3) {
	case 0:
		rc = toy_map(b->pt, va, 0x40000000 + (uint64_t)(op >> 3) * 4096, w);
		require(m->mapped[slot] ? rc == -EEXIST : rc == 0 || rc == -ENOMEM, "map", va);
		if (rc == 0) {
			m->mapped[slot] = true;
			m->writable[slot] = w;
			m->pa[slot] = 0x40000000 + (uint64_t)(op >> 3) * 4096;
		}
		break;
	case 1:
		rc = toy_unmap(b->pt, va);
		require(rc == (m->mapped[slot] ? 0 : -ENOENT), "unmap", va);
		m->mapped[slot] = false;
		break;
	case 2:
		rc = toy_protect(b->pt, va, w);
		require(rc == (m->mapped[slot] ? 0 : -ENOENT), "protect", va);
		m->writable[slot] = w;
		break;
	default:
		check_access(b, slot, w);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bench b;
	bench_open(&b, size > 0 ? data[0] : 0);
	for (size_t i = 1; b.pt != NULL && i + 1 < size; i += 2)
		step(&b, data[i], data[i + 1]);
	bench_close(&b);
	return 0;
}
