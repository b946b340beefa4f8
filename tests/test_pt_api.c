/* SPDX-License-Identifier: MIT */
/* tests/test_pt_api.c - the smaller engine calls: attaching to an existing
 * table, clearing accessed/dirty bits, checking flags up front, the preset
 * A/D facts in the format info, and physim_translate over a table. */
#include <physim/physim.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

struct env {
	struct physim_ram *ram;
	struct physim_counting_hal *ch;
	const struct physim_paging_handler *ph;
};

static int env_setup(void **state)
{
	static struct env e;
	memset(&e, 0, sizeof(e));
	assert_int_equal(physim_ram_create(&(struct physim_ram_config){.size = 64 << 20}, &e.ram),
			 0);
	struct physim_counting_hal_config cc = {.paging = physim_ram_paging_handler(e.ram)};
	assert_int_equal(physim_counting_hal_create(&cc, &e.ch), 0);
	e.ph = physim_counting_hal_paging(e.ch);
	*state = &e;
	return 0;
}

static int env_teardown(void **state)
{
	struct env *e = *state;
	assert_int_equal(physim_counting_hal_counts(e->ch).frames_live, 0);
	physim_counting_hal_destroy(e->ch);
	physim_ram_destroy(e->ram);
	return 0;
}

static void test_attach_shares_tables(void **state)
{
	struct env *e = *state;
	const struct physim_pt_format *f = physim_format("x86_64-4l");
	struct physim_pt *pt, *view;
	assert_int_equal(physim_pt_create(f, e->ph, &pt), 0);
	assert_int_equal(physim_pt_map(pt, 0x400000, 0x1234000, 4096, PHYSIM_R | PHYSIM_W), 0);
	int64_t live = physim_counting_hal_counts(e->ch).frames_live;
	assert_int_equal(live, 4); /* root + PDPT + PD + PT */

	struct physim_pt_config cfg = {.format = f, .paging = e->ph};
	assert_int_equal(physim_pt_attach(&cfg, physim_pt_root(pt), &view), 0);
	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(view, 0x400123, &m), 0);
	assert_int_equal(m.pa, 0x1234000);
	assert_int_equal(m.size, 4096);
	assert_int_equal(m.flags, PHYSIM_R | PHYSIM_W);
	/* A change through the view is seen by the owner: same memory. */
	assert_int_equal(physim_pt_protect(view, 0x400000, PHYSIM_R), 0);
	assert_int_equal(physim_pt_query(pt, 0x400000, &m), 0);
	assert_int_equal(m.flags, PHYSIM_R);
	physim_pt_destroy(view); /* owns nothing: returns nothing */
	assert_int_equal(physim_counting_hal_counts(e->ch).frames_live, live);
	physim_pt_destroy(pt);
}

static void test_attach_bad_root(void **state)
{
	struct env *e = *state;
	struct physim_pt_config cfg = {.format = physim_format("x86_64-4l"), .paging = e->ph};
	struct physim_pt *view = NULL;
	/* 4 KiB alignment is required of an x86-64 root (SDM 4.5: CR3 bits 11:0). */
	assert_int_equal(physim_pt_attach(&cfg, PHYSIM_RAM_DEFAULT_BASE + 8, &view), -EINVAL);
	/* Below the RAM: the handler cannot reach it. */
	assert_int_equal(physim_pt_attach(&cfg, 0x1000, &view), -EFAULT);
	assert_null(view);
	/* The sv39x4 root is 16 KiB aligned (RISC-V H extension, hgatp). */
	cfg.format = physim_format("sv39x4");
	assert_int_equal(physim_pt_attach(&cfg, PHYSIM_RAM_DEFAULT_BASE + 0x1000, &view), -EINVAL);
	assert_int_equal(physim_pt_attach(NULL, PHYSIM_RAM_DEFAULT_BASE, &view), -EINVAL);
}

struct flush_log {
	unsigned calls;
	uint64_t va;
	size_t n;
	bool all;
};

static void log_flush(void *ctx, const uint64_t *vas, size_t n, bool all)
{
	struct flush_log *l = ctx;
	l->calls++;
	l->n = n;
	l->all = all;
	l->va = n ? vas[0] : 0;
}

static void test_clear_ad_after_hardware_write(void **state)
{
	struct env *e = *state;
	struct flush_log log = {0};
	struct physim_pt_config cfg = {.format = physim_format("x86_64-4l"),
				       .paging = e->ph,
				       .flush = log_flush,
				       .flush_ctx = &log};
	struct physim_pt *pt;
	assert_int_equal(physim_pt_create_ex(&cfg, &pt), 0);
	assert_int_equal(physim_pt_map(pt, 0x600000, 0x2000000, 4096, PHYSIM_R | PHYSIM_W), 0);
	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(pt, 0x600000, &m), 0);
	assert_false(m.accessed); /* x86 leaves A/D to the hardware (SDM 4.8) */
	assert_false(m.dirty);

	/* A write through the walker sets A and D, as the processor does. */
	struct physim_xlate x;
	assert_int_equal(
	    physim_translate(pt, &(struct physim_access){.va = 0x600010, .write = true}, &x), 0);
	assert_int_equal(x.pa, 0x2000010);
	assert_int_equal(physim_pt_query(pt, 0x600000, &m), 0);
	assert_true(m.accessed);
	assert_true(m.dirty);

	log.calls = 0;
	assert_int_equal(physim_pt_clear_ad(pt, 0x400000, 0x400000, false, true), 1);
	assert_int_equal(physim_pt_query(pt, 0x600000, &m), 0);
	assert_true(m.accessed);
	assert_false(m.dirty);
	assert_int_equal(log.calls, 1);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.va, 0x600000);
	/* Nothing left to clear: no change, no flush. */
	log.calls = 0;
	assert_int_equal(physim_pt_clear_ad(pt, 0x400000, 0x400000, false, true), 0);
	assert_int_equal(log.calls, 0);
	assert_int_equal(physim_pt_clear_ad(pt, 0x600000, 4096, true, false), 1);
	assert_int_equal(physim_pt_query(pt, 0x600000, &m), 0);
	assert_false(m.accessed);
	assert_int_equal(physim_pt_clear_ad(NULL, 0, 4096, true, true), -EINVAL);
	physim_pt_destroy(pt);
}

static void test_flags_ok(void **state)
{
	(void)state;
	const struct physim_pt_format *x86 = physim_format("x86_64-4l");
	/* x86 cannot express a present page that is not readable (SDM 4.6). */
	assert_int_equal(physim_format_flags_ok(x86, PHYSIM_W, 0), -ENOTSUP);
	assert_int_equal(physim_format_flags_ok(x86, PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U, 0),
			 0);
	assert_int_equal(physim_format_flags_ok(x86, PHYSIM_R | (1u << 20), 0), -EINVAL);
	/* RISC-V reserves W without R (privileged spec, Sv39 PTE encoding). */
	assert_int_equal(physim_format_flags_ok(physim_format("sv39"), PHYSIM_W, 0), -ENOTSUP);
	/* Sv32 has no PBMT field, so no device memory type. */
	assert_int_equal(physim_format_flags_ok(physim_format("sv32"), PHYSIM_R | PHYSIM_DEVICE, 0),
			 -ENOTSUP);
	assert_int_equal(physim_format_flags_ok(physim_format("sv39"), PHYSIM_R | PHYSIM_DEVICE, 0),
			 0);
	assert_int_equal(physim_format_flags_ok(NULL, PHYSIM_R, 0), -EINVAL);
}

static void test_preset_ad_info(void **state)
{
	(void)state;
	struct physim_pt_format_info i;
	/* RISC-V under Svade faults on A = 0 / D = 0, so physim presets them. */
	physim_format_get_info(physim_format("sv48x4"), &i);
	assert_true(i.presets_accessed);
	assert_true(i.presets_dirty);
	/* AArch64 without HA faults on AF = 0: AF preset, no dirty state. */
	physim_format_get_info(physim_format("aarch64-4k-48"), &i);
	assert_true(i.presets_accessed);
	assert_false(i.presets_dirty);
	/* x86 and EPT set A/D in hardware. */
	physim_format_get_info(physim_format("ept-4l"), &i);
	assert_false(i.presets_accessed);
	assert_false(i.presets_dirty);
}

/* ---- host memory whose pointers break descriptor alignment ----
 * The engine reads and writes descriptors with atomics, which need natural
 * alignment: a paging handler whose phys_to_virt returns a misaligned
 * pointer cannot hold tables (-EFAULT, nothing leaked), and a direct map
 * whose host addresses do not keep the physical alignment is not used
 * (the engine goes through phys_to_virt, and answers stay right). */

static const struct physim_paging_handler *inner_ph;

static void *shifted_phys_to_virt(void *ctx, physim_hpa_t hpa)
{
	uint8_t *p = inner_ph->phys_to_virt(ctx, hpa);
	return p ? p + 1 : NULL;
}

static void test_misaligned_host_memory(void **state)
{
	struct env *e = *state;
	struct physim_pt *pt = (struct physim_pt *)1;

	inner_ph = e->ph;
	struct physim_paging_handler shifted = *e->ph;
	shifted.phys_to_virt = shifted_phys_to_virt;
	shifted.direct = (struct physim_direct_map){0};
	assert_int_equal(physim_pt_create(physim_format("x86_64-4l"), &shifted, &pt), -EFAULT);
	assert_int_equal(physim_counting_hal_counts(e->ch).frames_live, 0);

	/* The RAM's own handler, its direct map shifted by 4 bytes in host
	 * memory: if the engine used it, every descriptor would be read 4
	 * bytes off and the query below would see garbage. */
	struct physim_paging_handler odd_dm = *physim_ram_paging_handler(e->ram);
	assert_true(odd_dm.direct.size != 0);
	odd_dm.direct.hva = (uint8_t *)odd_dm.direct.hva + 4;
	uint64_t used = physim_ram_stats(e->ram).used_frames;
	assert_int_equal(physim_pt_create(physim_format("x86_64-4l"), &odd_dm, &pt), 0);
	physim_hpa_t page = physim_ram_base(e->ram) + (32u << 20);
	assert_int_equal(physim_pt_map(pt, 0x7f0000401000, page, 4096, PHYSIM_R | PHYSIM_W), 0);
	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(pt, 0x7f0000401000, &m), 0);
	assert_int_equal(m.pa, page);
	assert_int_equal(m.size, 4096);
	assert_int_equal(physim_pt_query(pt, 0x7f0000402000, &m), -ENOENT);
	physim_pt_destroy(pt);
	assert_int_equal(physim_ram_stats(e->ram).used_frames, used);
}

/* Whole-range iteration (va = size = 0): x86-64 4-level has a 48-bit
 * sign-extended input (SDM Vol. 3A 4.5: bits 63:47 equal), so the range is
 * [0, 2^47) then [2^64 - 2^47, 2^64); leaves at both ends of both halves
 * are met in address order, and leaves plus holes add up to 2^48 bytes. */
struct range_log {
	uint64_t va[8];
	unsigned n;
	uint64_t covered;
};

static int log_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	struct range_log *l = ctx;
	if (l->n < 8)
		l->va[l->n] = m->va;
	l->n++;
	l->covered += m->size;
	return 0;
}

static int log_hole(void *ctx, uint64_t va, uint64_t size, unsigned level)
{
	struct range_log *l = ctx;
	(void)va;
	(void)level;
	l->covered += size;
	return 0;
}

static void test_walk_whole_range(void **state)
{
	struct env *e = *state;
	const uint64_t vas[4] = {0, UINT64_C(0x7ffffffff000), UINT64_C(0xffff800000000000),
				 UINT64_C(0xfffffffffffff000)};
	struct physim_pt *pt;
	assert_int_equal(physim_pt_create(physim_format("x86_64-4l"), e->ph, &pt), 0);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(physim_pt_map(pt, vas[i], 0x100000 + i * 0x1000, 4096, PHYSIM_R),
				 0);
	const struct physim_pt_walk_ops ops = {.leaf = log_leaf, .hole = log_hole};
	struct range_log l = {0};
	assert_int_equal(physim_pt_walk(pt, 0, 0, &ops, &l), 0);
	assert_int_equal(l.n, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(l.va[i], vas[i]);
	assert_int_equal(l.covered, UINT64_C(1) << 48);
	/* size 0 with another va is still no range. */
	assert_int_equal(physim_pt_walk(pt, 0x1000, 0, &ops, &l), -EINVAL);
	/* clear_ad over the whole range reaches all four leaves: a hardware
	 * walk sets A (SDM 4.8) in each. */
	for (unsigned i = 0; i < 4; i++) {
		struct physim_xlate x;
		assert_int_equal(physim_translate(pt, &(struct physim_access){.va = vas[i]}, &x),
				 0);
	}
	assert_int_equal(physim_pt_clear_ad(pt, 0, 0, true, false), 4);
	physim_pt_destroy(pt);

	/* EPT is not sign-extended: one range [0, 2^48) (SDM Vol. 3C 29.3.2). */
	assert_int_equal(physim_pt_create(physim_format("ept-4l"), e->ph, &pt), 0);
	assert_int_equal(physim_pt_map(pt, UINT64_C(0xfffffffff000), 0x100000, 4096, PHYSIM_R), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(physim_pt_walk(pt, 0, 0, &ops, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.va[0], UINT64_C(0xfffffffff000));
	assert_int_equal(l.covered, UINT64_C(1) << 48);
	physim_pt_destroy(pt);
}

/* physim_pt_count_tables against the frames the handler counted, for the
 * owner and for an attached view of the same tables. */
static void test_count_tables(void **state)
{
	struct env *e = *state;
	const struct physim_pt_format *f = physim_format("x86_64-4l");
	int64_t before = physim_counting_hal_counts(e->ch).frames_live;
	struct physim_pt *pt, *view;
	assert_int_equal(physim_pt_create(f, e->ph, &pt), 0);
	/* Two PTs under one PD, one more PD + PT in another PDPT entry, one
	 * more PDPT + PD + PT in the upper half: root + 3 PDPT... counted
	 * below from the handler, not from the engine. */
	assert_int_equal(physim_pt_map(pt, 0x400000, 0x1000000, 4096, PHYSIM_R), 0);
	assert_int_equal(physim_pt_map(pt, 0x600000, 0x1000000, 4096, PHYSIM_R), 0);
	assert_int_equal(physim_pt_map(pt, UINT64_C(0x40000000), 0x1000000, 4096, PHYSIM_R), 0);
	assert_int_equal(physim_pt_map(pt, UINT64_C(0xffff800000000000), 0x1000000, 4096, PHYSIM_R),
			 0);
	int64_t frames = physim_counting_hal_counts(e->ch).frames_live - before;
	/* root, PDPT x2, PD x3, PT x4 */
	assert_int_equal(frames, 10);
	struct physim_pt_table_count c;
	assert_int_equal(physim_pt_count_tables(pt, &c), 0);
	assert_int_equal(c.tables, 10);
	assert_int_equal(c.frames, frames);
	assert_int_equal(c.bytes, frames * 4096);
	assert_int_equal(physim_pt_table_frames(pt), frames);

	struct physim_pt_config cfg = {.format = f, .paging = e->ph};
	assert_int_equal(physim_pt_attach(&cfg, physim_pt_root(pt), &view), 0);
	assert_int_equal(physim_pt_table_frames(view), 0); /* it created none */
	struct physim_pt_table_count cv;
	assert_int_equal(physim_pt_count_tables(view, &cv), 0);
	assert_memory_equal(&cv, &c, sizeof(c));

	/* A PT entry pointing back at the root: a cycle in memory. The
	 * view meets the root twice and refuses (-EFAULT, *out untouched);
	 * nothing is freed or written. */
	uint64_t *root = e->ph->phys_to_virt(e->ph->ctx, physim_pt_root(pt));
	uint64_t saved = root[511];
	root[511] = physim_pt_root(pt) | 0x7; /* P | R/W | U: a PML4E */
	memset(&cv, 0xa5, sizeof(cv));
	struct physim_pt_table_count untouched;
	memset(&untouched, 0xa5, sizeof(untouched));
	assert_int_equal(physim_pt_count_tables(view, &cv), -EFAULT);
	assert_memory_equal(&cv, &untouched, sizeof(cv));
	/* The owner follows only links it wrote: the same -EFAULT. */
	assert_int_equal(physim_pt_count_tables(pt, &cv), -EFAULT);
	root[511] = saved;
	assert_int_equal(physim_counting_hal_counts(e->ch).frames_live - before, frames);
	assert_int_equal(physim_pt_count_tables(NULL, &cv), -EINVAL);
	assert_int_equal(physim_pt_count_tables(pt, NULL), -EINVAL);
	physim_pt_destroy(view);
	physim_pt_destroy(pt);
}

/* ARMv7 short descriptors: a 16 KiB first-level table and 1 KiB
 * second-level tables (Arm ARM B3.5.1). The engine gives each second-level
 * table a frame of its own; an attached view sharing one frame between four
 * second-level tables counts the frame once. */
static void test_count_tables_small(void **state)
{
	struct env *e = *state;
	const struct physim_pt_format *f = physim_format("armv7-short");
	struct physim_pt *pt, *view;
	assert_int_equal(physim_pt_create(f, e->ph, &pt), 0);
	assert_int_equal(physim_pt_map(pt, 0x100000, 0x1000000, 4096, PHYSIM_R), 0);
	assert_int_equal(physim_pt_map(pt, 0x200000, 0x1000000, 4096, PHYSIM_R), 0);
	struct physim_pt_table_count c;
	assert_int_equal(physim_pt_count_tables(pt, &c), 0);
	assert_int_equal(c.tables, 3);
	assert_int_equal(c.frames, 4 + 2);
	assert_int_equal(c.bytes, 16384 + 2 * 1024);
	assert_int_equal(physim_pt_table_frames(pt), c.frames);

	/* Hand-built: one frame holding two 1 KiB second-level tables, linked
	 * from first-level entries 0 and 1 (page-table descriptors: bits 1:0 =
	 * 01, base in 31:10). */
	physim_hpa_t l1, l2;
	assert_int_equal(e->ph->alloc_frames(e->ph->ctx, 4, 16384, &l1), 0);
	assert_int_equal(e->ph->alloc_frame(e->ph->ctx, &l2), 0);
	uint32_t *t1 = e->ph->phys_to_virt(e->ph->ctx, l1);
	memset(t1, 0, 16384);
	memset(e->ph->phys_to_virt(e->ph->ctx, l2), 0, 4096);
	t1[0] = (uint32_t)l2 | 1;
	t1[1] = (uint32_t)(l2 + 1024) | 1;
	struct physim_pt_config cfg = {.format = f, .paging = e->ph};
	assert_int_equal(physim_pt_attach(&cfg, l1, &view), 0);
	assert_int_equal(physim_pt_count_tables(view, &c), 0);
	assert_int_equal(c.tables, 3);
	assert_int_equal(c.frames, 4 + 1);
	assert_int_equal(c.bytes, 16384 + 2 * 1024);
	physim_pt_destroy(view);
	e->ph->dealloc_frame(e->ph->ctx, l2);
	e->ph->dealloc_frames(e->ph->ctx, l1, 4);
	physim_pt_destroy(pt);
}

/* Query gives the queried address's own physical address (the seed's
 * query does): for a 4 KiB page, a 2 MiB page and an upper-half page, each
 * the mapped pa plus the address's offset in its page. */
static void test_query_addr_pa(void **state)
{
	struct env *e = *state;
	struct physim_pt *pt;
	assert_int_equal(physim_pt_create(physim_format("x86_64-4l"), e->ph, &pt), 0);
	assert_int_equal(physim_pt_map(pt, 0x1000, 0x5000, 4096, PHYSIM_R), 0);
	assert_int_equal(physim_pt_map(pt, 0x200000, 0x40000000, 0x200000, PHYSIM_R), 0);
	assert_int_equal(physim_pt_map(pt, UINT64_C(0xffff800000003000), 0x7000, 4096, PHYSIM_R),
			 0);
	const struct {
		uint64_t va, pa, page;
	} cases[] = {
	    {0x1abc, 0x5abc, 0x1000},
	    {0x1000, 0x5000, 0x1000},
	    {0x234567, 0x40034567, 0x200000},
	    {0x3fffff, 0x401fffff, 0x200000},
	    {UINT64_C(0xffff800000003ff8), 0x7ff8, UINT64_C(0xffff800000003000)},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct physim_pt_mapping m;
		memset(&m, 0xa5, sizeof(m));
		assert_int_equal(physim_pt_query(pt, cases[i].va, &m), 0);
		assert_int_equal(m.addr_pa, cases[i].pa);
		assert_int_equal(m.va, cases[i].page);
	}
	physim_pt_destroy(pt);
}

/* Table pointers of the 32-bit formats address only the low 4 GiB (ARMv7
 * short-descriptor: first-level table pointer bits 31:10, TTBR0 bits 31:14,
 * Arm ARM B3.5.1; i386: PDE bits 31:12, CR3 bits 31:12, SDM Vol. 3A 4.3).
 * A table frame the handler gives above that is refused with -ERANGE and
 * returned; the table is unchanged; a frame below works. RAM straddles
 * 4 GiB: 1 MiB below, 1 MiB above. */
static void table_above_4g(const char *name)
{
	const uint64_t base = UINT64_C(0xFFF00000), four_g = UINT64_C(0x100000000);
	struct physim_ram *ram;
	assert_int_equal(
	    physim_ram_create(&(struct physim_ram_config){.base = base, .size = 2 << 20}, &ram), 0);
	const struct physim_paging_handler *ph = physim_ram_paging_handler(ram);
	const struct physim_pt_format *f = physim_format(name);
	assert_non_null(f);

	/* Only high frames free: the root itself is refused. */
	assert_int_equal(physim_ram_alloc_at(ram, base, four_g - base), 0);
	struct physim_ram_stats st0 = physim_ram_stats(ram);
	struct physim_pt *pt = NULL;
	assert_int_equal(physim_pt_create(f, ph, &pt), -ERANGE);
	assert_null(pt);
	assert_int_equal(physim_ram_stats(ram).used_frames, st0.used_frames);

	/* Root below 4 GiB, then only high frames left for the second level. */
	assert_int_equal(physim_ram_free_at(ram, base, four_g - base), 0);
	assert_int_equal(physim_ram_alloc_at(ram, four_g, four_g - base), 0);
	assert_int_equal(physim_pt_create(f, ph, &pt), 0);
	assert_true(physim_pt_root(pt) < four_g);
	assert_int_equal(physim_ram_free_at(ram, four_g, four_g - base), 0);
	uint64_t held = 0;
	for (uint64_t pa = base; pa < four_g; pa += 4096)
		if (physim_ram_frame_in_use(ram, pa) == 0) {
			assert_int_equal(physim_ram_alloc_at(ram, pa, 4096), 0);
			held++;
		}
	assert_true(held > 0);
	st0 = physim_ram_stats(ram);
	uint64_t tables = physim_pt_table_frames(pt);
	assert_int_equal(physim_pt_map(pt, 0x400000, 0x1000, 4096, PHYSIM_R | PHYSIM_W | PHYSIM_X),
			 -ERANGE);
	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(pt, 0x400000, &m), -ENOENT);
	assert_int_equal(physim_pt_table_frames(pt), tables);
	assert_int_equal(physim_ram_stats(ram).used_frames, st0.used_frames);

	/* One low frame free again, the high ones held: the same map works
	 * and reads back. */
	uint64_t low = four_g - 4096;
	assert_int_equal(physim_ram_alloc_at(ram, four_g, four_g - base), 0);
	assert_int_equal(physim_ram_free_at(ram, low, 4096), 0);
	assert_int_equal(physim_pt_map(pt, 0x400000, 0x1000, 4096, PHYSIM_R | PHYSIM_W | PHYSIM_X),
			 0);
	assert_int_equal(physim_pt_query(pt, 0x400123, &m), 0);
	assert_int_equal(m.pa, 0x1000);
	assert_int_equal(physim_ram_frame_in_use(ram, low), 1);
	physim_pt_destroy(pt);
	physim_ram_destroy(ram);
}

static void test_table_above_4g(void **state)
{
	(void)state;
	table_above_4g("armv7-short");
	table_above_4g("i386-2l");
}

/* i386 PAE: CR3 holds a 32-bit PDPT address (SDM Vol. 3A 4.4.1: bits 31:5)
 * but PDPTEs and PDEs hold 51:12 (table 4-8, 4-10): a root above 4 GiB is
 * refused (-ERANGE), tables below the root may lie above it. */
static void test_pae_root_below_4g(void **state)
{
	(void)state;
	const uint64_t base = UINT64_C(0xFFF00000), four_g = UINT64_C(0x100000000);
	struct physim_ram *ram;
	assert_int_equal(
	    physim_ram_create(&(struct physim_ram_config){.base = base, .size = 2 << 20}, &ram), 0);
	const struct physim_paging_handler *ph = physim_ram_paging_handler(ram);
	const struct physim_pt_format *f = physim_format("i386-pae");
	assert_non_null(f);
	assert_int_equal(physim_ram_alloc_at(ram, base, four_g - base), 0);
	uint64_t used = physim_ram_stats(ram).used_frames;
	struct physim_pt *pt = NULL;
	assert_int_equal(physim_pt_create(f, ph, &pt), -ERANGE);
	assert_int_equal(physim_ram_stats(ram).used_frames, used);
	/* root low (the only free frame), every other table high (the only
	 * free ones after) */
	assert_int_equal(physim_ram_alloc_at(ram, four_g, four_g - base), 0);
	assert_int_equal(physim_ram_free_at(ram, four_g - 4096, 4096), 0);
	assert_int_equal(physim_pt_create(f, ph, &pt), 0);
	assert_int_equal(physim_pt_root(pt), four_g - 4096);
	assert_int_equal(physim_ram_free_at(ram, four_g, four_g - base), 0);
	assert_int_equal(physim_pt_map(pt, 0x400000, 0x1000, 4096, PHYSIM_R | PHYSIM_W), 0);
	struct physim_pt_mapping m;
	assert_int_equal(physim_pt_query(pt, 0x400123, &m), 0);
	assert_int_equal(m.pa, 0x1000);
	assert_int_equal(physim_pt_table_frames(pt), 3);
	physim_pt_destroy(pt);
	physim_ram_destroy(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_attach_shares_tables, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_attach_bad_root, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_clear_ad_after_hardware_write, env_setup,
					    env_teardown),
	    cmocka_unit_test_setup_teardown(test_misaligned_host_memory, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_walk_whole_range, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_count_tables, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_count_tables_small, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_query_addr_pa, env_setup, env_teardown),
	    cmocka_unit_test(test_flags_ok),
	    cmocka_unit_test(test_preset_ad_info),
	    cmocka_unit_test(test_table_above_4g),
	    cmocka_unit_test(test_pae_root_below_4g),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
