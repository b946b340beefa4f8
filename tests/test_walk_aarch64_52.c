/* SPDX-License-Identifier: MIT */
/* tests/test_walk_aarch64_52.c - the walker on the 52-bit AArch64 formats
 * (FEAT_LPA2 with DS = 1, FEAT_LPA + FEAT_LVA with the 64K granule), on tables
 * written here descriptor by descriptor from the Arm ARM (DDI 0487) D8.3
 * layouts, sharing no code with arch/: lookup level -1, the split address
 * fields, blocks that exist only with these features, Address size faults
 * against the configured {I}PS, level -1 syndromes, TTBR1, stage 2 from
 * level -1 and a nested walk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/env.h"

#include <physim/pt.h>
#include <physim/walk.h>

#include <string.h>

#define BIT(n) (UINT64_C(1) << (n))
#define RAM    UINT64_C(0x80000000) /* simulated RAM: 32 MiB from here */

/* Descriptor bits 1:0 (D8.3): table / page 0b11, block 0b01. */
#define TYPE_TABLE 3u
#define TYPE_PAGE  3u
#define TYPE_BLOCK 1u
#define AF	   BIT(10)
#define AP2	   BIT(7) /* stage 1: read-only */
#define S2AP_R	   BIT(6)
#define S2AP_W	   BIT(7)
#define MEMATTR_WB (UINT64_C(0xf) << 2) /* stage 2 Normal write-back */

/* ESR_ELx DFSC (D24.2): fault type and level. Level -1 has its own codes. */
#define FSC_ADDR_SIZE(l) (0x00u + (l))
#define FSC_TRANS(l)	 (0x04u + (l))
#define FSC_AF(l)	 (0x08u + (l))
#define FSC_PERM(l)	 (0x0cu + (l))
#define FSC_EXT_WALK(l)	 (0x14u + (l))
#define FSC_ADDR_SIZE_M1 0x29u /* 0b101001 */
#define FSC_TRANS_M1	 0x2bu /* 0b101011 */
#define FSC_EXT_WALK_M1	 0x13u /* 0b010011 */

static uint64_t bits(unsigned hi, unsigned lo)
{
	return (~UINT64_C(0) >> (63 - hi)) & ~(BIT(lo) - 1);
}

/* DS = 1 (4K/16K granule): address bits 49:low in place, 51:50 in 9:8. */
static uint64_t ds_addr(uint64_t pa, unsigned low)
{
	return (pa & bits(49, low)) | (((pa >> 50) & 3) << 8);
}

/* 64K granule, FEAT_LPA: bits 47:16 in place, 51:48 in 15:12. */
static uint64_t lpa_addr(uint64_t pa)
{
	return (pa & bits(47, 16)) | (((pa >> 48) & 0xf) << 12);
}

static struct tc_env env;

static int setup(void **state)
{
	(void)state;
	tc_env_open(&env, RAM, UINT64_C(32) << 20);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tc_env_close(&env);
	return 0;
}

/* Table n of the test, 64 KiB apart (aligned for every granule). */
static uint64_t tbl(unsigned n)
{
	return RAM + (uint64_t)n * 0x10000;
}

static void put(uint64_t table, uint64_t index, uint64_t d)
{
	tc_put64(&env, table + index * 8, d);
}

struct walk_case {
	const char *format;
	uint64_t root, root_hi;
	unsigned ips_bits; /* 0: the format's (52) */
	bool ha;
};

static int walk(const struct walk_case *c, uint64_t va, bool write, struct physim_xlate *x)
{
	struct physim_mmu *m;
	struct physim_mmu_config cfg = {
	    .format = physim_format(c->format),
	    .mem = env.ph,
	    .root = c->root,
	    .root_hi = c->root_hi,
	    .ctl = {.ips_bits = c->ips_bits, .ha = c->ha},
	};
	assert_non_null(cfg.format);
	assert_int_equal(physim_mmu_create(&cfg, &m), 0);
	int rc = physim_mmu_probe(m, &(struct physim_access){.va = va, .write = write}, x);
	physim_mmu_destroy(m);
	return rc;
}

static void expect_ok(const struct walk_case *c, uint64_t va, uint64_t pa, uint64_t size, int level)
{
	struct physim_xlate x;
	assert_int_equal(walk(c, va, false, &x), 0);
	assert_int_equal(x.pa, pa);
	assert_int_equal(x.page_size, size);
	assert_int_equal(x.level, level);
}

static void expect_fault(const struct walk_case *c, uint64_t va, bool write,
			 enum physim_fault_kind kind, int level, unsigned fsc)
{
	struct physim_xlate x;
	assert_int_equal(walk(c, va, write, &x), -EFAULT);
	assert_int_equal(x.fault.kind, kind);
	assert_int_equal(x.fault.level, level);
	assert_int_equal(x.fault.syndrome, fsc);
}

/* 4K granule, 52-bit VA (T0SZ = 12): lookup level -1 indexes VA[51:48],
 * level 0 VA[47:39], 1 VA[38:30], 2 VA[29:21], 3 VA[20:12] (D8.2). */
static uint64_t va4k(unsigned lm1, unsigned l0, unsigned l1, unsigned l2, unsigned l3)
{
	return (uint64_t)lm1 << 48 | (uint64_t)l0 << 39 | (uint64_t)l1 << 30 | (uint64_t)l2 << 21 |
	       (uint64_t)l3 << 12;
}

static void test_4k_52_levels(void **state)
{
	(void)state;
	const uint64_t page = UINT64_C(0xE123456789000);  /* OA[51:50] 0b11, [49:48] 0b10 */
	const uint64_t block = UINT64_C(0x5008000000000); /* 512G-aligned, OA[51:50] 0b01 */
	struct walk_case c = {.format = "aarch64-4k-52", .root = tbl(0)};

	/* level -1 -> 0 -> 1 -> 2 -> 3: a 4K page above 2^48 */
	put(tbl(0), 0xA, ds_addr(tbl(1), 12) | TYPE_TABLE);
	put(tbl(1), 3, ds_addr(tbl(2), 12) | TYPE_TABLE);
	put(tbl(2), 5, ds_addr(tbl(3), 12) | TYPE_TABLE);
	put(tbl(3), 7, ds_addr(tbl(4), 12) | TYPE_TABLE);
	put(tbl(4), 9, ds_addr(page, 12) | AF | TYPE_PAGE);
	expect_ok(&c, va4k(0xA, 3, 5, 7, 9) | 0x123, page | 0x123, 4096, 3);

	/* a 512G block at level 0: only with DS = 1 */
	put(tbl(1), 4, ds_addr(block, 39) | AF | TYPE_BLOCK);
	expect_ok(&c, va4k(0xA, 4, 0, 0, 0) + 0x12345678, block + 0x12345678, BIT(39), 0);
	/* its Access flag and Permission faults are level 0 ones */
	put(tbl(1), 6, ds_addr(block, 39) | TYPE_BLOCK);
	expect_fault(&c, va4k(0xA, 6, 0, 0, 0), false, PHYSIM_FAULT_ACCESS_FLAG, 0, FSC_AF(0));
	put(tbl(1), 7, ds_addr(block, 39) | AF | AP2 | TYPE_BLOCK);
	expect_fault(&c, va4k(0xA, 7, 0, 0, 0), true, PHYSIM_FAULT_PERMISSION, 0, FSC_PERM(0));
	expect_ok(&c, va4k(0xA, 7, 0, 0, 0), block, BIT(39), 0);

	/* level -1: an invalid entry, and a block (none exist there) */
	expect_fault(&c, va4k(0xC, 0, 0, 0, 0), false, PHYSIM_FAULT_NOT_PRESENT, -1, FSC_TRANS_M1);
	struct physim_xlate x;
	assert_int_equal(walk(&c, va4k(0xC, 0, 0, 0, 0), false, &x), -EFAULT);
	assert_non_null(strstr(physim_fault_str(&x.fault), " at level -1,"));
	put(tbl(0), 0xD, ds_addr(block, 39) | AF | TYPE_BLOCK);
	expect_fault(&c, va4k(0xD, 0, 0, 0, 0), false, PHYSIM_FAULT_NOT_PRESENT, -1, FSC_TRANS_M1);

	/* TTBR1 (T1SZ = 12): VA[63:52] all ones, the same level -1 index */
	c.root_hi = tbl(5);
	put(tbl(5), 0xA, ds_addr(tbl(1), 12) | TYPE_TABLE);
	expect_ok(&c, bits(63, 52) | va4k(0xA, 4, 0, 0, 0) | 0x42, block | 0x42, BIT(39), 0);
	/* and a VA that is in neither range: Translation fault, level 0 */
	expect_fault(&c, BIT(52), false, PHYSIM_FAULT_NOT_PRESENT, 0, FSC_TRANS(0));

	/* the root outside memory: External abort on the level -1 fetch */
	c.root = 0x10000;
	expect_fault(&c, 0x1000, false, PHYSIM_FAULT_BUS_ERROR, -1, FSC_EXT_WALK_M1);
}

/* Address size faults (D8.1.7 I_HGDWP, AArch64.OAOutOfRange): the same
 * descriptors with TCR.IPS below 52 bits. */
static void test_4k_52_address_size(void **state)
{
	(void)state;
	const uint64_t page = UINT64_C(0x4000012345000); /* OA[50] set, 51 clear */
	struct walk_case c = {.format = "aarch64-4k-52", .root = tbl(0)};

	put(tbl(0), 1, ds_addr(tbl(1), 12) | TYPE_TABLE);
	put(tbl(1), 0, ds_addr(tbl(2), 12) | TYPE_TABLE);
	put(tbl(2), 0, ds_addr(tbl(3), 12) | TYPE_TABLE);
	put(tbl(3), 0, ds_addr(tbl(4), 12) | TYPE_TABLE);
	put(tbl(4), 2, ds_addr(page, 12) | AF | TYPE_PAGE);
	/* a table at level -1 pointing above 2^48 (NLTA[51:50] = 0b10) */
	put(tbl(0), 2, ds_addr(UINT64_C(0x8000080000000), 12) | TYPE_TABLE);
	const uint64_t va = va4k(1, 0, 0, 0, 2);

	expect_ok(&c, va, page, 4096, 3); /* IPS 52 (the default) */
	c.ips_bits = 52;
	expect_ok(&c, va, page, 4096, 3);
	c.ips_bits = 51;
	expect_ok(&c, va, page, 4096, 3);
	c.ips_bits = 50; /* OA bit 50 is now beyond the OA size */
	expect_fault(&c, va, false, PHYSIM_FAULT_ADDRESS_SIZE, 3, FSC_ADDR_SIZE(3));
	c.ips_bits = 48;
	expect_fault(&c, va, false, PHYSIM_FAULT_ADDRESS_SIZE, 3, FSC_ADDR_SIZE(3));
	/* the next-table address at level -1: Address size fault at level -1 */
	expect_fault(&c, va4k(2, 0, 0, 0, 0), false, PHYSIM_FAULT_ADDRESS_SIZE, -1,
		     FSC_ADDR_SIZE_M1);
	/* with IPS 52 that table is fetched - outside memory: External abort on
	 * the level 0 fetch */
	c.ips_bits = 0;
	expect_fault(&c, va4k(2, 0, 0, 0, 0), false, PHYSIM_FAULT_BUS_ERROR, 0, FSC_EXT_WALK(0));
}

/* 16K granule, 52-bit VA: level 0 VA[51:47] (32 entries), 1 VA[46:36],
 * 2 VA[35:25], 3 VA[24:14]. */
static uint64_t va16k(unsigned l0, unsigned l1, unsigned l2, unsigned l3)
{
	return (uint64_t)l0 << 47 | (uint64_t)l1 << 36 | (uint64_t)l2 << 25 | (uint64_t)l3 << 14;
}

static void test_16k_52(void **state)
{
	(void)state;
	const uint64_t block = UINT64_C(0x9001000000000); /* 64G-aligned, OA[51:50] 0b10 */
	const uint64_t page = bits(51, 14);		  /* the highest 16K page */
	struct walk_case c = {.format = "aarch64-16k-52", .root = tbl(0)};

	put(tbl(0), 0x13, ds_addr(tbl(1), 14) | TYPE_TABLE);
	/* a 64G block at level 1: only with DS = 1 */
	put(tbl(1), 0x2AB, ds_addr(block, 36) | AF | TYPE_BLOCK);
	expect_ok(&c, va16k(0x13, 0x2AB, 0, 0) + 0xABCDEF1, block + 0xABCDEF1, BIT(36), 1);
	/* down to a 16K page at the top of the 52-bit PA */
	put(tbl(1), 0x2AC, ds_addr(tbl(2), 14) | TYPE_TABLE);
	put(tbl(2), 5, ds_addr(tbl(3), 14) | TYPE_TABLE);
	put(tbl(3), 0x7FF, ds_addr(page, 14) | AF | TYPE_PAGE);
	expect_ok(&c, va16k(0x13, 0x2AC, 5, 0x7FF) | 0x3FFF, bits(51, 0), BIT(14), 3);
	/* no level 0 blocks even with DS = 1: Translation fault, level 0 */
	put(tbl(0), 0x14, ds_addr(BIT(47), 47) | AF | TYPE_BLOCK);
	expect_fault(&c, va16k(0x14, 0, 0, 0), false, PHYSIM_FAULT_NOT_PRESENT, 0, FSC_TRANS(0));
	c.ips_bits = 48;
	expect_fault(&c, va16k(0x13, 0x2AB, 0, 0), false, PHYSIM_FAULT_ADDRESS_SIZE, 1,
		     FSC_ADDR_SIZE(1));
}

/* 64K granule, FEAT_LPA + FEAT_LVA: level 1 VA[51:42] (1024 entries, an
 * 8 KiB table), 2 VA[41:29], 3 VA[28:16]. */
static uint64_t va64k(unsigned l1, unsigned l2, unsigned l3)
{
	return (uint64_t)l1 << 42 | (uint64_t)l2 << 29 | (uint64_t)l3 << 16;
}

static void test_64k_52(void **state)
{
	(void)state;
	const uint64_t block = UINT64_C(0xBFC0000000000); /* 4T-aligned: OA[51:48] 0xB */
	const uint64_t page = UINT64_C(0xA123456780000);
	struct walk_case c = {.format = "aarch64-64k-52", .root = tbl(0)};

	/* a 4T block at level 1 (the PA size is 52) */
	put(tbl(0), 0x3FF, lpa_addr(block) | AF | TYPE_BLOCK);
	expect_ok(&c, va64k(0x3FF, 0, 0) + 0x123456789, block + 0x123456789, BIT(42), 1);
	/* a page through two tables */
	put(tbl(0), 1, lpa_addr(tbl(2)) | TYPE_TABLE);
	put(tbl(2), 2, lpa_addr(tbl(3)) | TYPE_TABLE);
	put(tbl(3), 3, lpa_addr(page) | AF | TYPE_PAGE);
	expect_ok(&c, va64k(1, 2, 3) | 0xFFFF, page | 0xFFFF, BIT(16), 3);
	/* a table above 2^48 (NLTA[51:48] = 0x1 in bits 15:12) */
	put(tbl(0), 2, lpa_addr(UINT64_C(0x1000080000000)) | TYPE_TABLE);
	expect_fault(&c, va64k(2, 0, 0), false, PHYSIM_FAULT_BUS_ERROR, 2, FSC_EXT_WALK(2));
	c.ips_bits = 48;
	expect_fault(&c, va64k(1, 2, 3), false, PHYSIM_FAULT_ADDRESS_SIZE, 3, FSC_ADDR_SIZE(3));
	expect_fault(&c, va64k(0x3FF, 0, 0), false, PHYSIM_FAULT_ADDRESS_SIZE, 1, FSC_ADDR_SIZE(1));
	expect_fault(&c, va64k(2, 0, 0), false, PHYSIM_FAULT_ADDRESS_SIZE, 1, FSC_ADDR_SIZE(1));
}

/* Stage 2, VTCR_EL2.DS = 1, SL2 = 1, SL0 = 0: the walk starts at level -1. */
static void test_s2_4k_52(void **state)
{
	(void)state;
	const uint64_t page = UINT64_C(0xD000080000000);
	const uint64_t s2leaf = AF | S2AP_R | S2AP_W | MEMATTR_WB;
	struct walk_case c = {.format = "aarch64-s2-4k-52", .root = tbl(0)};

	put(tbl(0), 7, ds_addr(tbl(1), 12) | TYPE_TABLE);
	put(tbl(1), 1, ds_addr(tbl(2), 12) | TYPE_TABLE);
	put(tbl(2), 2, ds_addr(tbl(3), 12) | TYPE_TABLE);
	put(tbl(3), 3, ds_addr(tbl(4), 12) | TYPE_TABLE);
	put(tbl(4), 4, ds_addr(page, 12) | s2leaf | TYPE_PAGE);
	expect_ok(&c, va4k(7, 1, 2, 3, 4) | 0x10, page | 0x10, 4096, 3);
	/* a 512G block at level 0 */
	put(tbl(1), 9, ds_addr(UINT64_C(0xF008000000000), 39) | s2leaf | TYPE_BLOCK);
	expect_ok(&c, va4k(7, 9, 0, 0, 0) + 0x777, UINT64_C(0xF008000000777), BIT(39), 0);
	/* an empty level -1 entry; an IPA beyond 52 bits */
	expect_fault(&c, va4k(8, 0, 0, 0, 0), false, PHYSIM_FAULT_NOT_PRESENT, -1, FSC_TRANS_M1);
	expect_fault(&c, BIT(52), false, PHYSIM_FAULT_NOT_PRESENT, 0, FSC_TRANS(0));
	/* PS = 48 bits */
	c.ips_bits = 48;
	expect_fault(&c, va4k(7, 1, 2, 3, 4), false, PHYSIM_FAULT_ADDRESS_SIZE, 3,
		     FSC_ADDR_SIZE(3));
}

/* aarch64-4k-52 over aarch64-s2-4k-52: stage 2 maps IPA [0, 512G) to the same
 * PA with one level 0 block; the stage 1 tables live there. A stage 1 table
 * at an IPA stage 2 does not map faults at stage 2 level -1, on the stage 1
 * walk (S1PTW). */
static void test_nested_52(void **state)
{
	(void)state;
	const uint64_t s2leaf = AF | S2AP_R | S2AP_W | MEMATTR_WB;
	const uint64_t out = UINT64_C(0x2345000); /* the stage 1 output IPA */

	put(tbl(10), 0, ds_addr(tbl(11), 12) | TYPE_TABLE);
	put(tbl(11), 0, ds_addr(0, 39) | s2leaf | TYPE_BLOCK);

	put(tbl(0), 1, ds_addr(tbl(1), 12) | TYPE_TABLE);
	put(tbl(1), 0, ds_addr(tbl(2), 12) | TYPE_TABLE);
	put(tbl(2), 0, ds_addr(tbl(3), 12) | TYPE_TABLE);
	put(tbl(3), 0, ds_addr(tbl(4), 12) | TYPE_TABLE);
	put(tbl(4), 5, ds_addr(out, 12) | AF | TYPE_PAGE);
	put(tbl(0), 3, ds_addr(UINT64_C(0x8000000000000), 12) | TYPE_TABLE);

	struct physim_mmu *s1, *s2;
	struct physim_mmu_config c1 = {.format = physim_format("aarch64-4k-52"), .root = tbl(0)};
	struct physim_mmu_config c2 = {
	    .format = physim_format("aarch64-s2-4k-52"), .mem = env.ph, .root = tbl(10)};
	assert_int_equal(physim_mmu_create(&c1, &s1), 0);
	assert_int_equal(physim_mmu_create(&c2, &s2), 0);
	struct physim_xlate x;
	assert_int_equal(physim_nested_translate(
			     s1, s2, &(struct physim_access){.va = va4k(1, 0, 0, 0, 5) | 9}, &x),
			 0);
	assert_int_equal(x.gpa, out | 9);
	assert_int_equal(x.pa, out | 9);
	assert_int_equal(
	    physim_nested_translate(s1, s2, &(struct physim_access){.va = va4k(3, 0, 0, 0, 0)}, &x),
	    -EFAULT);
	assert_int_equal(x.fault.stage, 2);
	assert_true(x.fault.s1ptw);
	assert_int_equal(x.fault.kind, PHYSIM_FAULT_NOT_PRESENT);
	assert_int_equal(x.fault.level, -1);
	assert_int_equal(x.fault.syndrome, FSC_TRANS_M1);
	assert_int_equal(x.fault.gpa, UINT64_C(0x8000000000000));
	physim_mmu_destroy(s1);
	physim_mmu_destroy(s2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_4k_52_levels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_4k_52_address_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_16k_52, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_64k_52, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_s2_4k_52, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nested_52, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
