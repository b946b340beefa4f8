/* SPDX-License-Identifier: MIT */
/* tests/test_walk.c - the walk loop itself (lib/walk.c), whatever the format:
 * bus errors for table pointers outside memory, hostile tables of random
 * bytes for every format (a result or a fault, never a crash - run it under
 * ASan), probe writes nothing, the A/D compare-and-swap re-walk, memory
 * reference counts, nested 4-in-4 walks (24 references) and nested fault
 * reporting, fault names and descriptions, and every bad argument. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/env.h"
#include "common/rng.h"

#include "walk-format.h"

#include <physim/ram.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIT(n) (UINT64_C(1) << (n))

/* x86 entry bits (SDM Vol. 3A 4.5) and EPT bits (Vol. 3C 29.3.2), for the
 * hand-built tables. */
enum { P = 1, RW = 2, US = 4, A = 32, D = 64, PS = 128 };
#define TBL	  (P | RW | US)
#define EPT_RWX	  7
#define EPT_WB	  (6 << 3)
#define ADDR_MASK UINT64_C(0x000ffffffffff000)

/* ---- fixture: RAM, table memory and mmus from tests/common/env.h ---- */

static int rd(struct physim_mmu *m, uint64_t va, struct physim_xlate *x)
{
	return physim_mmu_translate(m, &(struct physim_access){.va = va}, x);
}

/* ---- bus errors ---- */

/* A paging handler over the RAM without the direct map, so the walker takes
 * the phys_to_virt path; it can also change a descriptor behind the walker's
 * back on the n-th call (the CAS test). */
struct slow_ph {
	struct physim_paging_handler ph;
	const struct physim_paging_handler *inner;
	struct tc_env *e;
	unsigned calls;
	unsigned tamper_at;  /* call number that tampers; 0 = never */
	bool tamper_always;  /* tamper at every call >= tamper_at */
	uint64_t tamper_pa;  /* descriptor to change */
	uint64_t tamper_val; /* its new value; tamper_always XORs tamper_val instead */
};

static void *slow_p2v(void *ctx, physim_hpa_t hpa)
{
	struct slow_ph *s = ctx;
	s->calls++;
	if (s->tamper_at &&
	    (s->calls == s->tamper_at || (s->tamper_always && s->calls > s->tamper_at))) {
		if (s->tamper_always)
			tc_put64(s->e, s->tamper_pa, tc_get64(s->e, s->tamper_pa) ^ s->tamper_val);
		else
			tc_put64(s->e, s->tamper_pa, s->tamper_val);
	}
	return s->inner->phys_to_virt(s->inner->ctx, hpa);
}

static void slow_init(struct slow_ph *s, struct tc_env *e)
{
	*s = (struct slow_ph){.inner = e->ph, .e = e};
	s->ph = *e->ph;
	s->ph.ctx = s;
	s->ph.phys_to_virt = slow_p2v;
	s->ph.direct = (struct physim_direct_map){0};
}

/* A table pointer (or the root) outside RAM is a BUS_ERROR at the level of
 * the table that cannot be read, through the direct map and through
 * phys_to_virt alike; a leaf whose output is outside RAM translates. */
static void test_bus_errors(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(16u << 20);
	struct slow_ph slow;
	slow_init(&slow, e);
	uint64_t ram_end = physim_ram_base(e->ram) + physim_ram_size(e->ram);
	uint64_t root = tc_frame(e);
	uint64_t va = UINT64_C(0x0000000080201000); /* PML4 0, PDPT 2, PD 1, PT 1 */
	tc_x86_map(e, root, 4, va, 0, UINT64_C(0xfee00000) | P | RW, TBL);
	uint64_t pdpte = tc_x86_slot(e, root, 4, va, 2, 0);
	const struct physim_paging_handler *hs[2] = {e->ph, &slow.ph};

	for (int h = 0; h < 2; h++) {
		struct physim_mmu *m = tc_mmu_new(hs[h], "x86_64-4l", root, 0, NULL);
		struct physim_xlate x;
		/* Output outside RAM (an MMIO page): fine. */
		assert_int_equal(rd(m, va | 0x30, &x), 0);
		assert_int_equal(x.pa, UINT64_C(0xfee00030));

		/* The PDPTE points at a PD just past the end of RAM. */
		uint64_t saved = tc_get64(e, pdpte);
		tc_put64(e, pdpte, ram_end | TBL);
		assert_int_equal(rd(m, va, &x), -EFAULT);
		assert_int_equal(x.fault.kind, PHYSIM_FAULT_BUS_ERROR);
		assert_int_equal(x.fault.level, 2); /* the PD could not be read */
		assert_int_equal(x.fault.stage, 1);
		assert_int_equal(x.fault.syndrome, 0);
		assert_int_equal(x.fault.addr, va);
		assert_int_equal(x.mem_refs, 2);
		/* ... and one far away, and one below RAM. */
		tc_put64(e, pdpte, UINT64_C(0x00003ffffffff000) | TBL); /* below 2^46 */
		assert_int_equal(rd(m, va, &x), -EFAULT);
		assert_int_equal(x.fault.kind, PHYSIM_FAULT_BUS_ERROR);
		tc_put64(e, pdpte, UINT64_C(0x1000) | TBL);
		assert_int_equal(rd(m, va, &x), -EFAULT);
		assert_int_equal(x.fault.kind, PHYSIM_FAULT_BUS_ERROR);
		tc_put64(e, pdpte, saved);
		physim_mmu_destroy(m);

		/* The root itself outside RAM: level 4, no reference made. */
		m = tc_mmu_new(hs[h], "x86_64-4l", ram_end + 0x10000, 0, NULL);
		assert_int_equal(rd(m, va, &x), -EFAULT);
		assert_int_equal(x.fault.kind, PHYSIM_FAULT_BUS_ERROR);
		assert_int_equal(x.fault.level, 4);
		assert_int_equal(x.mem_refs, 0);
		physim_mmu_destroy(m);
	}
	/* The last descriptor of RAM is readable; one more byte is not. */
	struct physim_mmu *m = tc_mmu_new(e->ph, "x86_64-4l", ram_end - 4096, 0, NULL);
	struct physim_xlate x;
	tc_put64(e, ram_end - 8, 0); /* PML4 index 511 */
	assert_int_equal(rd(m, UINT64_C(0xffffffffffffffff), &x), -EFAULT);
	assert_int_equal(x.fault.kind, PHYSIM_FAULT_NOT_PRESENT);
	physim_mmu_destroy(m);
	tc_env_free(e);
}

/* ---- hostile tables ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	return tc_rand(&rng_state);
}

/* Fill every frame of RAM with descriptors: a third random bits, a third
 * table pointers to random frames of RAM (as the format encodes them, at a
 * random level) with random bits flipped, a third such pointers intact. */
static void fill_hostile(struct tc_env *e, const struct physim_pt_format *f)
{
	uint64_t base = physim_ram_base(e->ram), nframes = physim_ram_size(e->ram) / 4096;
	uint8_t *p = e->dm.hva;
	for (uint64_t off = 0; off < nframes * 4096; off += f->pte_bytes) {
		uint64_t r = rnd(), d;
		unsigned lvl = 1 + (unsigned)(r % (f->levels > 1 ? f->levels - 1 : 1));
		uint64_t target = base + (rnd() % nframes) * 4096;
		switch ((r >> 8) % 3) {
		case 0:
			d = rnd();
			break;
		case 1:
			d = f->ops->encode_table(f, target, lvl) ^ (rnd() & rnd() & rnd());
			break;
		default:
			d = f->ops->encode_table(f, target, lvl);
			break;
		}
		memcpy(p + off, &d, f->pte_bytes);
	}
}

static struct physim_mmu_ctl random_ctl(void)
{
	uint64_t r = rnd();
	return (struct physim_mmu_ctl){
	    .wp_off = r & 1,
	    .nxe_off = r & 2,
	    .smep = r & 4,
	    .smap = r & 8,
	    .ac = r & 16,
	    .pke = r & 32,
	    .pkru = (uint32_t)(r >> 32),
	    .maxphyaddr = (r & 64) ? 36 + (unsigned)((r >> 7) % 17) : 0,
	    .ept_ad = r & (1 << 12),
	    .mbec = r & (1 << 13),
	    .wxn = r & (1 << 14),
	    .pan = r & (1 << 15),
	    .ha = r & (1 << 16),
	    .hd = r & (1 << 17),
	    .ips_bits = (r & (1 << 18)) ? 32 + (unsigned)((r >> 19) % 21) : 0,
	    .sum = r & (1 << 24),
	    .mxr = r & (1 << 25),
	    .svadu = r & (1 << 26),
	};
}

static struct physim_access random_access(const struct physim_pt_format *f)
{
	uint64_t r = rnd();
	uint64_t va = rnd();
	/* Mostly addresses inside the format's range, sometimes anything. */
	if (r & 1) {
		unsigned bits = f->va_bits < 64 ? f->va_bits : 63;
		va &= (UINT64_C(1) << bits) - 1;
		if (f->sign_extended && (r & 2))
			va |= ~((UINT64_C(1) << (bits - 1)) - 1);
	}
	unsigned kind = (unsigned)((r >> 2) % 3);
	return (struct physim_access){
	    .va = va,
	    .write = kind == 1,
	    .exec = kind == 2,
	    .user = r & 32,
	    .implicit = kind != 2 && !(r & 32) && (r & 64),
	};
}

/* The result of a walk over garbage must still be well formed. */
static void check_sane(int rc, const struct physim_xlate *x, unsigned max_refs)
{
	assert_true(rc == 0 || rc == -EFAULT || rc == -EBUSY);
	if (rc == 0) {
		assert_int_equal(x->fault.kind, PHYSIM_FAULT_NONE);
		assert_true(x->page_size >= 1024 && (x->page_size & (x->page_size - 1)) == 0);
		assert_true(x->mem_refs >= 1);
	} else if (rc == -EFAULT) {
		assert_int_not_equal(x->fault.kind, PHYSIM_FAULT_NONE);
		assert_true(x->fault.kind <= PHYSIM_FAULT_BUS_ERROR);
		assert_true(x->fault.stage == 1 || x->fault.stage == 2);
	}
	assert_true(x->mem_refs <= max_refs);
}

static void test_hostile_tables(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(2u << 20); /* 512 frames: pointers often hit RAM */
	uint64_t base = physim_ram_base(e->ram);
	unsigned formats = 0, x86_formats = 0;
	unsigned long walks = 0, ok = 0, faults = 0;
	rng_state = UINT64_C(0x9e3779b97f4a7c15);

	for (size_t i = 0; i < physim_format_count(); i++) {
		const struct physim_pt_format *f = physim_format_at(i);
		struct physim_mmu_config c = {.format = f, .mem = e->ph};
		struct physim_mmu *m;
		if (f->walk == NULL) {
			assert_int_equal(physim_mmu_create(&c, &m), -ENOTSUP);
			continue;
		}
		formats++;
		x86_formats += f->arch == PHYSIM_ARCH_X86_64;
		for (int round = 0; round < 8; round++) {
			fill_hostile(e, f);
			uint64_t nframes = physim_ram_size(e->ram) / 4096;
			/* Root anywhere in RAM, aligned for the largest roots (16 KiB). */
			c.root = base + (rnd() % (nframes / 4)) * 16384;
			c.root_hi = base + (rnd() % (nframes / 4)) * 16384;
			c.ctl = random_ctl();
			assert_int_equal(physim_mmu_create(&c, &m), 0);
			for (int k = 0; k < 2000; k++) {
				struct physim_access a = random_access(f);
				struct physim_xlate x;
				int rc = (k & 1) ? physim_mmu_probe(m, &a, &x)
						 : physim_mmu_translate(m, &a, &x);
				check_sane(rc, &x, f->levels);
				walks++;
				ok += rc == 0;
				faults += rc == -EFAULT;
			}
			physim_mmu_destroy(m);
		}
	}
	print_message("hostile: %u formats with walk rules (%u x86), %lu walks: %lu translated, "
		      "%lu faults\n",
		      formats, x86_formats, walks, ok, faults);
	assert_int_equal(x86_formats, 6);
	assert_true(ok > 0 && faults > 0);
	tc_env_free(e);
}

/* Nested walks over garbage: every stage-1 format over every stage-2 format
 * (both with rules). Stage 2 is a real identity map of RAM built by the
 * engine after the garbage was written, so the stage-1 garbage is reached
 * through it; stage-1 A/D writes may land in the stage-2 tables too. */
static void test_hostile_nested(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(4u << 20);
	uint64_t base = physim_ram_base(e->ram), size = physim_ram_size(e->ram);
	uint64_t nframes = size / 4096;
	unsigned long walks = 0, ok = 0, s1_faults = 0, s2_faults = 0, pairs = 0;
	rng_state = UINT64_C(0x1234567887654321);

	for (size_t i = 0; i < physim_format_count(); i++) {
		const struct physim_pt_format *f1 = physim_format_at(i);
		if (f1->walk == NULL || f1->stage2)
			continue;
		for (size_t j = 0; j < physim_format_count(); j++) {
			const struct physim_pt_format *f2 = physim_format_at(j);
			if (f2->walk == NULL || !f2->stage2)
				continue;
			pairs++;
			fill_hostile(e, f1);
			struct physim_pt *pt2;
			assert_int_equal(physim_pt_create(f2, e->ph, &pt2), 0);
			assert_int_equal(
			    physim_pt_map_region(pt2, base, base, size,
						 PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U,
						 PHYSIM_ALLOW_HUGE),
			    0);
			struct physim_mmu *s1, *s2;
			struct physim_mmu_config c1 = {.format = f1,
						       .root =
							   base + (rnd() % (nframes / 4)) * 16384,
						       .ctl = random_ctl()};
			struct physim_mmu_config c2 = {.format = f2,
						       .mem = e->ph,
						       .root = physim_pt_root(pt2),
						       .ctl = random_ctl()};
			assert_int_equal(physim_mmu_create(&c1, &s1), 0);
			assert_int_equal(physim_mmu_create(&c2, &s2), 0);
			for (int k = 0; k < 1000; k++) {
				struct physim_access a = random_access(f1);
				struct physim_xlate x;
				int rc = (k & 1) ? physim_nested_probe(s1, s2, &a, &x)
						 : physim_nested_translate(s1, s2, &a, &x);
				check_sane(rc, &x, f1->levels * (f2->levels + 1u) + f2->levels);
				walks++;
				ok += rc == 0;
				s1_faults += rc == -EFAULT && x.fault.stage == 1;
				s2_faults += rc == -EFAULT && x.fault.stage == 2;
			}
			physim_mmu_destroy(s1);
			physim_mmu_destroy(s2);
			physim_pt_destroy(pt2);
		}
	}
	print_message("hostile nested: %lu format pairs, %lu walks: %lu translated, %lu stage-1 "
		      "faults, %lu stage-2 faults\n",
		      pairs, walks, ok, s1_faults, s2_faults);
	assert_true(pairs >= 2); /* x86-64 4/5-level x EPT at least */
	assert_true(ok > 0 && s1_faults > 0);
	tc_env_free(e);
}

/* ---- probe, A/D, mem_refs ---- */

#define VA4 UINT64_C(0x0000008040201000) /* PML4 1, PDPT 1, PD 1, PT 1 */

static void test_probe_writes_nothing(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(4u << 20);
	uint64_t root = tc_frame(e);
	tc_x86_map(e, root, 4, VA4, 0, UINT64_C(0x123000) | P | RW | US, TBL);
	struct physim_mmu *m = tc_mmu_new(e->ph, "x86_64-4l", root, 0, NULL);
	size_t size = (size_t)physim_ram_size(e->ram);
	uint8_t *before = malloc(size);
	assert_non_null(before);
	memcpy(before, e->dm.hva, size);
	struct physim_xlate x;

	/* Success, fault and bus error: nothing written anywhere in RAM. */
	struct physim_access acc[] = {
	    {.va = VA4, .write = true, .user = true},
	    {.va = VA4, .exec = true},
	    {.va = VA4 + 0x200000}, /* not mapped */
	};
	for (size_t i = 0; i < 3; i++) {
		int rc = physim_mmu_probe(m, &acc[i], &x);
		assert_int_equal(rc, i == 0 ? 0 : (i == 1 ? 0 : -EFAULT));
		assert_false(x.ad_updated);
	}
	assert_memory_equal(before, e->dm.hva, size);
	/* The same write through translate sets A on four entries and D on
	 * one: 5 bits changed. */
	assert_int_equal(physim_mmu_translate(m, &acc[0], &x), 0);
	assert_true(x.ad_updated);
	unsigned changed = 0;
	for (size_t i = 0; i < size; i++)
		changed += (unsigned)__builtin_popcount(before[i] ^ e->dm.hva[i]);
	assert_int_equal(changed, 5);
	free(before);
	physim_mmu_destroy(m);
	tc_env_free(e);
}

/* A descriptor that changes between its fetch and the A/D compare-and-swap
 * makes the walker walk again and use the new tables. */
static void test_ad_cas_rewalk(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(4u << 20);
	struct slow_ph slow;
	slow_init(&slow, e);
	uint64_t root = tc_frame(e);
	uint64_t pte1 = tc_x86_map(e, root, 4, VA4, 0, UINT64_C(0x111000) | P | RW, TBL);
	uint64_t pde = tc_x86_slot(e, root, 4, VA4, 1, 0);
	uint64_t pt2 = tc_frame(e);
	uint64_t pte2 = pt2 + 1 * 8;
	tc_put64(e, pte2, UINT64_C(0x222000) | P | RW);
	struct physim_mmu *m = tc_mmu_new(&slow.ph, "x86_64-4l", root, 0, NULL);
	struct physim_xlate x;

	/* Fetch 4 (the PTE) repoints the PDE at PT2 after it was read. */
	slow.tamper_at = 4;
	slow.tamper_pa = pde;
	slow.tamper_val = pt2 | TBL;
	assert_int_equal(physim_mmu_translate(m, &(struct physim_access){.va = VA4 | 5}, &x), 0);
	assert_int_equal(x.pa, UINT64_C(0x222005));
	assert_int_equal(x.mem_refs, 8); /* two walks of four */
	assert_int_equal(slow.calls, 8);
	assert_int_equal(tc_get64(e, pde), pt2 | TBL | A);
	assert_int_equal(tc_get64(e, pte2), UINT64_C(0x222000) | P | RW | A);
	/* The first walk's CAS stopped at the PDE: PT1's entry untouched. */
	assert_int_equal(tc_get64(e, pte1), UINT64_C(0x111000) | P | RW);

	/* A writer that changes the PML4E at every fetch: the walker gives up
	 * with -EBUSY after a bounded number of attempts. */
	slow.calls = 0;
	slow.tamper_at = 1;
	slow.tamper_always = true;
	slow.tamper_pa = pde;	     /* read at fetch 3, changed again at fetch 4 */
	slow.tamper_val = BIT(9);    /* an ignored bit */
	tc_put64(e, pde, pt2 | TBL); /* needs A again */
	assert_int_equal(physim_mmu_translate(m, &(struct physim_access){.va = VA4}, &x), -EBUSY);
	assert_true(slow.calls >= 8);
	/* Probe never CASes, so it cannot lose. */
	assert_int_equal(physim_mmu_probe(m, &(struct physim_access){.va = VA4}, &x), 0);
	physim_mmu_destroy(m);
	tc_env_free(e);
}

/* mem_refs: one per level actually read. */
static void test_mem_refs(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(4u << 20);
	uint64_t root = tc_frame(e);
	tc_x86_map(e, root, 4, VA4, 0, UINT64_C(0x1000) | P, TBL);
	tc_x86_map(e, root, 4, UINT64_C(0x0000010000200000), 1, UINT64_C(0x200000) | P | PS, TBL);
	tc_x86_map(e, root, 4, UINT64_C(0x0000018000000000), 2, UINT64_C(0x40000000) | P | PS, TBL);
	struct physim_mmu *m = tc_mmu_new(e->ph, "x86_64-4l", root, 0, NULL);
	struct physim_xlate x;
	assert_int_equal(rd(m, VA4, &x), 0);
	assert_int_equal(x.mem_refs, 4);
	assert_int_equal(rd(m, UINT64_C(0x0000010000200000), &x), 0);
	assert_int_equal(x.mem_refs, 3);
	assert_int_equal(x.page_size, UINT64_C(2) << 20);
	assert_int_equal(rd(m, UINT64_C(0x0000018000000000), &x), 0);
	assert_int_equal(x.mem_refs, 2);
	assert_int_equal(rd(m, UINT64_C(0x0000020000000000), &x), -EFAULT); /* PML4 4 empty */
	assert_int_equal(x.mem_refs, 1);
	assert_int_equal(rd(m, VA4 + 0x1000, &x), -EFAULT); /* PT entry 2 empty */
	assert_int_equal(x.mem_refs, 4);
	assert_int_equal(x.fault.level, 1);
	physim_mmu_destroy(m);
	tc_env_free(e);
}

/* ---- nested: x86_64-4l guest over ept-4l ---- */

#define GVA   UINT64_C(0x00007f0000201000) /* PML4 0xfe, PDPT 0, PD 1, PT 1 */
#define GDATA UINT64_C(0x40000000)

struct nested {
	struct tc_env *e;
	uint64_t s1_root, s2_root;
	uint64_t gslot[4]; /* guest entries (GPA = HPA) */
	uint64_t eleaf[5]; /* EPT leaves for the 4 guest tables and the data page */
	struct physim_mmu *s1, *s2;
};

static void nested_new(struct nested *n, bool huge_s2)
{
	n->e = tc_env_new(8u << 20);
	struct tc_env *e = n->e;
	n->s1_root = tc_frame(e);
	n->s2_root = tc_frame(e);
	n->gslot[3] = tc_x86_map(e, n->s1_root, 4, GVA, 0, GDATA | P | RW | US | A | D, TBL | A);
	for (int l = 1; l < 4; l++)
		n->gslot[3 - l] = tc_x86_slot(e, n->s1_root, 4, GVA, l, 0);
	if (huge_s2) {
		/* All of RAM identity-mapped with 2-MByte EPT pages (3 levels). */
		uint64_t b = physim_ram_base(e->ram);
		for (uint64_t o = 0; o < physim_ram_size(e->ram); o += 0x200000)
			tc_x86_map(e, n->s2_root, 4, b + o, 1, (b + o) | EPT_RWX | EPT_WB | PS,
				   EPT_RWX);
	} else {
		for (int i = 0; i < 4; i++) {
			uint64_t t = n->gslot[i] & ADDR_MASK;
			n->eleaf[i] =
			    tc_x86_map(e, n->s2_root, 4, t, 0, t | EPT_RWX | EPT_WB, EPT_RWX);
		}
	}
	n->eleaf[4] =
	    tc_x86_map(e, n->s2_root, 4, GDATA, 0, UINT64_C(0x7000000) | EPT_RWX | EPT_WB, EPT_RWX);
	struct physim_mmu_config c1 = {.format = physim_format("x86_64-4l"), .root = n->s1_root};
	assert_int_equal(physim_mmu_create(&c1, &n->s1), 0);
	n->s2 = tc_mmu_new(e->ph, "ept-4l", n->s2_root, 0, NULL);
}

static void nested_free(struct nested *n)
{
	physim_mmu_destroy(n->s1);
	physim_mmu_destroy(n->s2);
	tc_env_free(n->e);
}

static int nx(struct nested *n, uint64_t va, bool write, struct physim_xlate *x)
{
	return physim_nested_translate(n->s1, n->s2,
				       &(struct physim_access){.va = va, .write = write}, x);
}

static void test_nested_refs(void **state)
{
	(void)state;
	struct nested n;
	struct physim_xlate x;

	nested_new(&n, false);
	assert_int_equal(nx(&n, GVA | 0x123, false, &x), 0);
	assert_int_equal(x.pa, UINT64_C(0x7000123));
	assert_int_equal(x.gpa, GDATA | 0x123);
	assert_int_equal(x.page_size, 4096);
	assert_int_equal(x.level, 1);
	assert_int_equal(x.perms, PHYSIM_R | PHYSIM_W | PHYSIM_U | PHYSIM_X);
	/* 4 guest levels x (4 EPT levels + the entry itself) + 4 for the data. */
	assert_int_equal(x.mem_refs, 24);
	assert_false(x.ad_updated);
	/* Stage 2 narrows the perms: a read-only data page. */
	tc_put64(n.e, n.eleaf[4], UINT64_C(0x7000000) | 1 | EPT_WB);
	assert_int_equal(nx(&n, GVA, false, &x), 0);
	assert_int_equal(x.perms, PHYSIM_R | PHYSIM_U);
	struct physim_xlate xp;
	assert_int_equal(physim_nested_probe(n.s1, n.s2, &(struct physim_access){.va = GVA}, &xp),
			 0);
	assert_int_equal(xp.pa, x.pa);
	assert_int_equal(xp.mem_refs, 24);
	nested_free(&n);

	/* 2-MByte EPT pages for the guest tables: 4 x (3 + 1) + 4 = 20. */
	nested_new(&n, true);
	assert_int_equal(nx(&n, GVA, false, &x), 0);
	assert_int_equal(x.mem_refs, 20);
	nested_free(&n);
}

/* Which stage faulted, s1ptw, the GPA. */
static void test_nested_faults(void **state)
{
	(void)state;
	struct nested n;
	struct physim_xlate x;
	nested_new(&n, false);

	/* Stage 1: the guest PDE not present -> a guest #PF at level 2. */
	uint64_t gpde = tc_get64(n.e, n.gslot[2]);
	tc_put64(n.e, n.gslot[2], 0);
	assert_int_equal(nx(&n, GVA, true, &x), -EFAULT);
	assert_int_equal(x.fault.kind, PHYSIM_FAULT_NOT_PRESENT);
	assert_int_equal(x.fault.stage, 1);
	assert_int_equal(x.fault.level, 2);
	assert_int_equal(x.fault.syndrome, 2); /* W/R */
	assert_int_equal(x.fault.addr, GVA);
	assert_false(x.fault.s1ptw);
	assert_int_equal(x.mem_refs, 3 * 5);
	tc_put64(n.e, n.gslot[2], gpde);

	/* Stage 2 while fetching the guest PDPT: EPT PTE of that page absent. */
	uint64_t el = tc_get64(n.e, n.eleaf[1]);
	tc_put64(n.e, n.eleaf[1], 0);
	assert_int_equal(nx(&n, GVA, false, &x), -EFAULT);
	assert_int_equal(x.fault.kind, PHYSIM_FAULT_NOT_PRESENT);
	assert_int_equal(x.fault.stage, 2);
	assert_int_equal(x.fault.level, 1);
	assert_true(x.fault.s1ptw);
	assert_int_equal(x.fault.gpa, n.gslot[1]);
	assert_int_equal(x.fault.addr, n.gslot[1]);
	assert_int_equal(x.fault.syndrome, 1 | 128); /* read, GLA valid, paging-structure */
	assert_int_equal(x.mem_refs, 5 + 4);
	tc_put64(n.e, n.eleaf[1], el);

	/* Stage 2 on the final GPA. */
	el = tc_get64(n.e, n.eleaf[4]);
	tc_put64(n.e, n.eleaf[4], 0);
	assert_int_equal(nx(&n, GVA | 4, true, &x), -EFAULT);
	assert_int_equal(x.fault.stage, 2);
	assert_false(x.fault.s1ptw);
	assert_int_equal(x.fault.gpa, GDATA | 4);
	assert_int_equal(x.gpa, GDATA | 4);
	assert_int_equal(x.fault.syndrome, 2 | 128 | 256);
	assert_int_equal(x.mem_refs, 24);
	tc_put64(n.e, n.eleaf[4], el);

	/* Stage 2 maps the guest PD page outside host RAM: the guest table
	 * cannot be read - a stage-1 bus error at the PD level. */
	el = tc_get64(n.e, n.eleaf[2]);
	tc_put64(n.e, n.eleaf[2], UINT64_C(0x7f000000000) | EPT_RWX | EPT_WB);
	assert_int_equal(nx(&n, GVA, false, &x), -EFAULT);
	assert_int_equal(x.fault.kind, PHYSIM_FAULT_BUS_ERROR);
	assert_int_equal(x.fault.stage, 1);
	assert_int_equal(x.fault.level, 2);
	assert_false(x.fault.s1ptw);
	assert_int_equal(x.fault.gpa, n.gslot[2]);
	tc_put64(n.e, n.eleaf[2], el);

	/* A non-canonical guest address: stage 1 #GP before any reference. */
	assert_int_equal(nx(&n, UINT64_C(0x0000800000000000), false, &x), -EFAULT);
	assert_int_equal(x.fault.kind, PHYSIM_FAULT_NON_CANONICAL);
	assert_int_equal(x.mem_refs, 0);
	nested_free(&n);
}

static void test_nested_bad_args(void **state)
{
	(void)state;
	struct nested n;
	struct physim_xlate x;
	nested_new(&n, false);
	struct physim_access a = {.va = GVA};
	struct physim_access bad = {.va = GVA, .write = true, .exec = true};
	assert_int_equal(physim_nested_translate(NULL, n.s2, &a, &x), -EINVAL);
	assert_int_equal(physim_nested_translate(n.s1, NULL, &a, &x), -EINVAL);
	assert_int_equal(physim_nested_translate(n.s1, n.s2, NULL, &x), -EINVAL);
	assert_int_equal(physim_nested_translate(n.s1, n.s2, &a, NULL), -EINVAL);
	assert_int_equal(physim_nested_translate(n.s1, n.s2, &bad, &x), -EINVAL);
	/* The stages the wrong way round. */
	assert_int_equal(physim_nested_translate(n.s2, n.s1, &a, &x), -EINVAL);
	assert_int_equal(physim_nested_translate(n.s1, n.s1, &a, &x), -EINVAL);
	/* Stage 2 without memory. */
	struct physim_mmu *s2nomem;
	struct physim_mmu_config c = {.format = physim_format("ept-4l"), .root = n.s2_root};
	assert_int_equal(physim_mmu_create(&c, &s2nomem), 0);
	assert_int_equal(physim_nested_translate(n.s1, s2nomem, &a, &x), -EINVAL);
	/* A stage-1 mmu without memory cannot translate on its own. */
	assert_int_equal(physim_mmu_translate(n.s1, &a, &x), -EINVAL);
	physim_mmu_destroy(s2nomem);
	nested_free(&n);
}

/* ---- mmu objects ---- */

static void test_mmu_config(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(4u << 20);
	struct physim_mmu *m = NULL;
	struct physim_mmu_config c = {.format = physim_format("x86_64-4l"),
				      .mem = e->ph,
				      .root = tc_frame(e),
				      .asid = 7,
				      .vmid = 9};

	assert_int_equal(physim_mmu_create(NULL, &m), -EINVAL);
	assert_int_equal(physim_mmu_create(&c, NULL), -EINVAL);
	struct physim_mmu_config bad = c;
	bad.format = NULL;
	assert_int_equal(physim_mmu_create(&bad, &m), -EINVAL);
	bad = c;
	bad.root |= 4; /* not aligned to an 8-byte descriptor */
	assert_int_equal(physim_mmu_create(&bad, &m), -EINVAL);
	bad = c;
	bad.root_hi = 0x1001;
	assert_int_equal(physim_mmu_create(&bad, &m), -EINVAL);
	bad = c;
	bad.ctl.ips_bits = 53;
	assert_int_equal(physim_mmu_create(&bad, &m), -EINVAL);
	struct physim_paging_handler noptv = *e->ph;
	noptv.phys_to_virt = NULL;
	bad = c;
	bad.mem = &noptv;
	assert_int_equal(physim_mmu_create(&bad, &m), -EINVAL);
	/* A format without walk rules. */
	struct physim_pt_format norules = *physim_format("x86_64-4l");
	norules.walk = NULL;
	bad = c;
	bad.format = &norules;
	assert_int_equal(physim_mmu_create(&bad, &m), -ENOTSUP);
	assert_null(m);

	assert_int_equal(physim_mmu_create(&c, &m), 0);
	struct physim_mmu_config got;
	physim_mmu_get_config(m, &got);
	assert_memory_equal(&got, &c, sizeof(c));
	physim_mmu_get_config(NULL, &got);
	physim_mmu_get_config(m, NULL);

	/* set_config takes roots, tags and control; format and memory stay. */
	struct physim_mmu_config n = c;
	n.format = physim_format("ept-4l");
	n.mem = NULL;
	n.root = tc_frame(e);
	n.asid = 3;
	n.ctl.smep = true;
	assert_int_equal(physim_mmu_set_config(m, &n), 0);
	physim_mmu_get_config(m, &got);
	assert_ptr_equal(got.format, c.format);
	assert_ptr_equal(got.mem, c.mem);
	assert_int_equal(got.root, n.root);
	assert_int_equal(got.asid, 3);
	assert_true(got.ctl.smep);
	/* A bad change leaves everything as it was. */
	n.root |= 1;
	assert_int_equal(physim_mmu_set_config(m, &n), -EINVAL);
	struct physim_mmu_config again;
	physim_mmu_get_config(m, &again);
	assert_memory_equal(&again, &got, sizeof(got));
	assert_int_equal(physim_mmu_set_config(NULL, &n), -EINVAL);
	assert_int_equal(physim_mmu_set_config(m, NULL), -EINVAL);

	struct physim_xlate x;
	assert_int_equal(physim_mmu_translate(NULL, &(struct physim_access){0}, &x), -EINVAL);
	assert_int_equal(physim_mmu_translate(m, NULL, &x), -EINVAL);
	assert_int_equal(physim_mmu_translate(m, &(struct physim_access){0}, NULL), -EINVAL);
	assert_int_equal(physim_mmu_probe(NULL, &(struct physim_access){0}, &x), -EINVAL);
	physim_mmu_destroy(m);
	physim_mmu_destroy(NULL);
	tc_env_free(e);
}

/* physim_translate: a table built by the engine, default controls. */
static void test_translate_pt(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(4u << 20);
	struct physim_pt *pt;
	assert_int_equal(physim_pt_create(physim_format("x86_64-4l"), e->ph, &pt), 0);
	assert_int_equal(physim_pt_map(pt, 0x400000, 0x9000, 4096, PHYSIM_R | PHYSIM_U), 0);
	struct physim_xlate x;
	struct physim_access a = {.va = 0x400123, .user = true};
	assert_int_equal(physim_translate(NULL, &a, &x), -EINVAL);
	assert_int_equal(physim_translate(pt, NULL, &x), -EINVAL);
	assert_int_equal(physim_translate(pt, &a, NULL), -EINVAL);
	if (physim_pt_paging(pt) == NULL) {
		/* lib/pt.c does not give the walker its paging handler yet. */
		assert_int_equal(physim_translate(pt, &a, &x), -ENOTSUP);
		print_message("physim_translate: physim_pt_paging missing in lib/pt.c, skipped\n");
	} else {
		assert_int_equal(physim_translate(pt, &a, &x), 0);
		assert_int_equal(x.pa, 0x9123);
		assert_int_equal(x.perms, PHYSIM_R | PHYSIM_U);
		a.write = true;
		assert_int_equal(physim_translate(pt, &a, &x), -EFAULT);
		assert_int_equal(x.fault.kind, PHYSIM_FAULT_PERMISSION);
		assert_int_equal(x.fault.syndrome, 7); /* P | W/R | U/S */
		/* The read set A in the leaf (the engine's query sees it). */
		struct physim_pt_mapping mp;
		assert_int_equal(physim_pt_query(pt, 0x400000, &mp), 0);
		assert_true(mp.accessed);
		assert_false(mp.dirty);
	}
	physim_pt_destroy(pt);
	tc_env_free(e);
}

/* ---- the input-address check ---- */

/* walk_va_ok (two masks per mmu) against walk_input_ok (the rule as the
 * manuals state it) for every format, at every bit boundary near its input
 * width, and at x86-64's documented canonical edges (SDM Vol. 1 3.3.7.1). */
static void test_va_ok_masks(void **state)
{
	(void)state;
	struct tc_env *e = tc_env_new(1u << 20);
	for (size_t i = 0; i < physim_format_count(); i++) {
		const struct physim_pt_format *f = physim_format_at(i);
		struct physim_mmu m;
		physim_mmu_init_default(&m, f, e->ph, 0);
		for (unsigned b = 0; b < 64; b++) {
			const uint64_t bit = UINT64_C(1) << b;
			const uint64_t vas[] = {bit,  bit - 1, ~(bit - 1),
						~bit, bit | 1, ~UINT64_C(0) - bit};
			for (size_t k = 0; k < sizeof(vas) / sizeof(vas[0]); k++)
				if (walk_va_ok(&m, vas[k]) != walk_input_ok(f, vas[k]))
					fail_msg("%s: va 0x%" PRIx64 " masks %d, rule %d", f->name,
						 vas[k], walk_va_ok(&m, vas[k]),
						 walk_input_ok(f, vas[k]));
		}
	}
	struct physim_mmu m;
	physim_mmu_init_default(&m, physim_format("x86_64-4l"), e->ph, 0);
	assert_true(walk_va_ok(&m, UINT64_C(0x00007fffffffffff)));
	assert_false(walk_va_ok(&m, UINT64_C(0x0000800000000000)));
	assert_true(walk_va_ok(&m, UINT64_C(0xffff800000000000)));
	assert_false(walk_va_ok(&m, UINT64_C(0xffff7fffffffffff)));
	physim_mmu_init_default(&m, physim_format("sv39x4"), e->ph, 0);
	assert_true(walk_va_ok(&m, (UINT64_C(1) << 41) - 1)); /* 41-bit GPA, zero-extended */
	assert_false(walk_va_ok(&m, UINT64_C(1) << 41));
	tc_env_free(e);
}

/* ---- fault descriptions ---- */

static void test_fault_strings(void **state)
{
	(void)state;
	static const struct {
		enum physim_fault_kind kind;
		const char *name;
	} names[] = {
	    {PHYSIM_FAULT_NONE, "none"},
	    {PHYSIM_FAULT_NOT_PRESENT, "not-present"},
	    {PHYSIM_FAULT_PERMISSION, "permission"},
	    {PHYSIM_FAULT_ACCESS_FLAG, "access-flag"},
	    {PHYSIM_FAULT_RESERVED, "reserved"},
	    {PHYSIM_FAULT_ADDRESS_SIZE, "address-size"},
	    {PHYSIM_FAULT_NON_CANONICAL, "non-canonical"},
	    {PHYSIM_FAULT_BUS_ERROR, "bus-error"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_string_equal(physim_fault_kind_name(names[i].kind), names[i].name);
	assert_string_equal(physim_fault_kind_name((enum physim_fault_kind)99), "unknown");

	struct physim_fault f = {.kind = PHYSIM_FAULT_PERMISSION,
				 .stage = 1,
				 .level = 1,
				 .syndrome = 7,
				 .addr = 0x400000};
	const char *want = "stage 1 permission fault at level 1, syndrome 0x7, va 0x400000";
	assert_string_equal(physim_fault_str(&f), want);
	char buf[128];
	assert_int_equal(physim_fault_format(&f, buf, sizeof(buf)), (int)strlen(want));
	assert_string_equal(buf, want);
	/* Truncation: the full length is returned, the buffer terminated. */
	assert_int_equal(physim_fault_format(&f, buf, 10), (int)strlen(want));
	assert_string_equal(buf, "stage 1 p");
	assert_int_equal(physim_fault_format(&f, NULL, 0), (int)strlen(want));

	struct physim_fault g = {.kind = PHYSIM_FAULT_NOT_PRESENT,
				 .stage = 2,
				 .level = 3,
				 .syndrome = 0x81,
				 .addr = 0x5000,
				 .gpa = 0x5000,
				 .s1ptw = true};
	assert_string_equal(physim_fault_str(&g), "stage 2 not-present fault at level 3, syndrome "
						  "0x81, gpa 0x5000 (stage-1 table walk)");
	struct physim_fault h = {
	    .kind = PHYSIM_FAULT_NON_CANONICAL, .stage = 1, .level = -1, .addr = 0x800000000000};
	assert_string_equal(physim_fault_str(&h),
			    "stage 1 non-canonical fault, syndrome 0x0, va 0x800000000000");
	struct physim_fault none = {0};
	assert_string_equal(physim_fault_str(&none), "no fault");
	assert_string_equal(physim_fault_str(NULL), "(no fault information)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bus_errors),	    cmocka_unit_test(test_hostile_tables),
	    cmocka_unit_test(test_hostile_nested),  cmocka_unit_test(test_probe_writes_nothing),
	    cmocka_unit_test(test_ad_cas_rewalk),   cmocka_unit_test(test_mem_refs),
	    cmocka_unit_test(test_nested_refs),	    cmocka_unit_test(test_nested_faults),
	    cmocka_unit_test(test_nested_bad_args), cmocka_unit_test(test_mmu_config),
	    cmocka_unit_test(test_translate_pt),    cmocka_unit_test(test_fault_strings),
	    cmocka_unit_test(test_va_ok_masks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
