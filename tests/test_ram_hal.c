/* SPDX-License-Identifier: MIT */
/* tests/test_ram_hal.c - the default HAL vtables over a simulated RAM
 * (mm_hal, paging_handler, memory_if, vm_hal), checked against the RAM's own
 * public calls and statistics. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <physim/ram.h>

#include <string.h>
#include <time.h>

#define FRAME	 UINT64_C(4096)
#define RAM_BASE UINT64_C(0x80000000)
#define RAM_SIZE (UINT64_C(4) << 20) /* 1024 frames */

static struct physim_ram *make_ram(physim_hpa_t base, uint64_t size)
{
	struct physim_ram *ram = NULL;
	assert_int_equal(
	    physim_ram_create(&(struct physim_ram_config){.base = base, .size = size}, &ram), 0);
	return ram;
}

static int ram_setup(void **state)
{
	struct physim_ram *ram = NULL;
	if (physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE},
			      &ram) != 0)
		return -1;
	*state = ram;
	return 0;
}

static int ram_teardown(void **state)
{
	struct physim_ram *ram = *state;
	/* Every test gives back what it took. */
	uint64_t used = physim_ram_stats(ram).used_frames;
	physim_ram_destroy(ram);
	return used == 0 ? 0 : -1;
}

static uint64_t used(struct physim_ram *ram)
{
	return physim_ram_stats(ram).used_frames;
}

static void assert_frames_in_use(struct physim_ram *ram, physim_hpa_t hpa, uint64_t n, int want)
{
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(physim_ram_frame_in_use(ram, hpa + i * FRAME), want);
}

static uint64_t host_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- shared checks for phys_to_virt / virt_to_phys ---- */

static void check_phys_to_virt(struct physim_ram *ram, void *(*p2v)(void *, physim_hpa_t),
			       void *ctx)
{
	/* The expectation comes from the RAM's direct map, written out. */
	struct physim_direct_map dm = physim_ram_direct_map(ram);
	assert_int_equal(dm.base, RAM_BASE);
	assert_int_equal(dm.size, RAM_SIZE);
	const physim_hpa_t inside[] = {RAM_BASE, RAM_BASE + 1, RAM_BASE + 0x12345,
				       RAM_BASE + RAM_SIZE - 1};
	for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++) {
		void *want = NULL;
		assert_int_equal(physim_ram_phys_to_virt(ram, inside[i], &want), 0);
		assert_ptr_equal(want, dm.hva + (inside[i] - RAM_BASE));
		assert_ptr_equal(p2v(ctx, inside[i]), want);
	}
	const physim_hpa_t outside[] = {0, RAM_BASE - 1, RAM_BASE + RAM_SIZE, UINT64_MAX};
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		assert_null(p2v(ctx, outside[i]));
}

static void check_virt_to_phys(struct physim_ram *ram, physim_hpa_t (*v2p)(void *, const void *),
			       void *ctx)
{
	struct physim_direct_map dm = physim_ram_direct_map(ram);
	const uint64_t offs[] = {0, 1, 0x4000, RAM_SIZE - 1};
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		assert_int_equal(v2p(ctx, dm.hva + offs[i]), RAM_BASE + offs[i]);
	int on_stack = 0;
	assert_int_equal(v2p(ctx, &on_stack), 0);
	assert_int_equal(v2p(ctx, NULL), 0);
	assert_int_equal(v2p(ctx, dm.hva - 1), 0);
	assert_int_equal(v2p(ctx, dm.hva + RAM_SIZE), 0);
}

/* ---- mm_hal ---- */

static void test_mm_hal_alloc_free(void **state)
{
	struct physim_ram *ram = *state;
	const struct physim_mm_hal *mm = physim_ram_mm_hal(ram);
	assert_non_null(mm);
	assert_ptr_equal(mm, physim_ram_mm_hal(ram)); /* stable */
	assert_ptr_equal(mm->ctx, ram);

	physim_hpa_t a = 0, b = 0;
	assert_int_equal(mm->alloc_frame(mm->ctx, &a), 0);
	assert_int_equal(mm->alloc_frame(mm->ctx, &b), 0);
	assert_int_not_equal(a, b);
	assert_true(a >= RAM_BASE && a < RAM_BASE + RAM_SIZE && a % FRAME == 0);
	assert_true(b >= RAM_BASE && b < RAM_BASE + RAM_SIZE && b % FRAME == 0);
	assert_int_equal(physim_ram_frame_in_use(ram, a), 1);
	assert_int_equal(physim_ram_frame_in_use(ram, b), 1);
	assert_int_equal(used(ram), 2);

	/* Same allocator both ways: a HAL frame freed by the RAM, a RAM frame
	 * freed by the HAL. */
	assert_int_equal(physim_ram_free_frame(ram, a), 0);
	physim_hpa_t c = 0;
	assert_int_equal(physim_ram_alloc_frame(ram, &c), 0);
	assert_int_equal(mm->dealloc_frame(mm->ctx, c), 0);
	assert_int_equal(physim_ram_frame_in_use(ram, c), 0);
	assert_int_equal(mm->dealloc_frame(mm->ctx, b), 0);
	assert_int_equal(used(ram), 0);

	/* Errors are the RAM's. */
	assert_int_equal(mm->dealloc_frame(mm->ctx, b), -ENOENT);
	assert_int_equal(mm->dealloc_frame(mm->ctx, RAM_BASE + RAM_SIZE), -EINVAL);
	assert_int_equal(mm->dealloc_frame(mm->ctx, RAM_BASE + 1), -EINVAL);
	assert_int_equal(used(ram), 0);
}

static void test_mm_hal_exhaustion(void **state)
{
	(void)state;
	struct physim_ram *ram = make_ram(RAM_BASE, 8 * FRAME);
	const struct physim_mm_hal *mm = physim_ram_mm_hal(ram);
	physim_hpa_t f[8];
	bool seen[8] = {0};
	for (int i = 0; i < 8; i++) {
		assert_int_equal(mm->alloc_frame(mm->ctx, &f[i]), 0);
		uint64_t idx = (f[i] - RAM_BASE) / FRAME;
		assert_true(idx < 8);
		assert_false(seen[idx]);
		seen[idx] = true;
	}
	physim_hpa_t none = 0xdead;
	assert_int_equal(mm->alloc_frame(mm->ctx, &none), -ENOMEM);
	assert_int_equal(physim_ram_stats(ram).used_frames, 8);
	assert_int_equal(physim_ram_stats(ram).free_frames, 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(mm->dealloc_frame(mm->ctx, f[i]), 0);
	assert_int_equal(physim_ram_stats(ram).free_frames, 8);
	physim_ram_destroy(ram);
}

static void test_mm_hal_translation(void **state)
{
	struct physim_ram *ram = *state;
	const struct physim_mm_hal *mm = physim_ram_mm_hal(ram);
	check_phys_to_virt(ram, mm->phys_to_virt, mm->ctx);
	check_virt_to_phys(ram, mm->virt_to_phys, mm->ctx);

	/* Round trip through memory: a byte written at phys_to_virt(hpa) is
	 * the byte the RAM shows at hpa. */
	physim_hpa_t hpa = 0;
	assert_int_equal(mm->alloc_frame(mm->ctx, &hpa), 0);
	uint8_t *p = mm->phys_to_virt(mm->ctx, hpa + 100);
	*p = 0xa5;
	void *q = NULL;
	assert_int_equal(physim_ram_phys_to_virt(ram, hpa + 100, &q), 0);
	assert_int_equal(*(uint8_t *)q, 0xa5);
	assert_int_equal(mm->virt_to_phys(mm->ctx, p), hpa + 100);
	assert_int_equal(mm->dealloc_frame(mm->ctx, hpa), 0);
}

/* Reserved frames are never handed out through any HAL. */
static void test_reserved_not_handed_out(void **state)
{
	(void)state;
	const struct physim_ram_range res = {.base = RAM_BASE + 4 * FRAME, .size = 4 * FRAME};
	struct physim_ram *ram = NULL;
	assert_int_equal(physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE,
								       .size = 16 * FRAME,
								       .reserved = &res,
								       .nreserved = 1},
					   &ram),
			 0);
	const struct physim_mm_hal *mm = physim_ram_mm_hal(ram);
	physim_hpa_t f[16];
	int n = 0;
	while (n < 16 && mm->alloc_frame(mm->ctx, &f[n]) == 0) {
		assert_false(f[n] >= res.base && f[n] < res.base + res.size);
		n++;
	}
	assert_int_equal(n, 12);

	struct physim_vm_hal vm;
	physim_ram_vm_hal(ram, NULL, &vm);
	for (int i = 0; i < n; i++)
		assert_int_equal(mm->dealloc_frame(mm->ctx, f[i]), 0);
	assert_int_equal(vm.alloc_memory_region_at(vm.ctx, res.base - FRAME, 2 * FRAME), -EBUSY);
	assert_int_equal(physim_ram_frame_in_use(ram, res.base - FRAME), 0);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);
	physim_ram_destroy(ram);
}

/* ---- paging handler ---- */

static void test_paging_direct_map(void **state)
{
	struct physim_ram *ram = *state;
	const struct physim_paging_handler *ph = physim_ram_paging_handler(ram);
	assert_non_null(ph);
	assert_ptr_equal(ph, physim_ram_paging_handler(ram));
	assert_ptr_equal(ph->ctx, ram);
	struct physim_direct_map dm = physim_ram_direct_map(ram);
	assert_int_equal(ph->direct.base, dm.base);
	assert_int_equal(ph->direct.size, dm.size);
	assert_ptr_equal(ph->direct.hva, dm.hva);
	assert_int_equal(ph->direct.size, RAM_SIZE);

	check_phys_to_virt(ram, ph->phys_to_virt, ph->ctx);
	/* The direct map and the indirect call agree everywhere. */
	for (physim_hpa_t hpa = RAM_BASE; hpa < RAM_BASE + RAM_SIZE; hpa += 0x1f001)
		assert_ptr_equal(physim_dm_phys_to_virt(&ph->direct, hpa),
				 ph->phys_to_virt(ph->ctx, hpa));
	assert_null(physim_ph_phys_to_virt(ph, RAM_BASE + RAM_SIZE));
	assert_ptr_equal(physim_ph_phys_to_virt(ph, RAM_BASE + 8), dm.hva + 8);
}

static void test_paging_alloc_free(void **state)
{
	struct physim_ram *ram = *state;
	const struct physim_paging_handler *ph = physim_ram_paging_handler(ram);

	physim_hpa_t one = 0;
	assert_int_equal(physim_ph_alloc_frame(ph, &one), 0);
	assert_int_equal(physim_ram_frame_in_use(ram, one), 1);

	const uint64_t aligns[] = {FRAME, 4 * FRAME, 64 * 1024, 2 << 20};
	for (size_t i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		physim_hpa_t hpa = 0;
		assert_int_equal(ph->alloc_frames(ph->ctx, 5, aligns[i], &hpa), 0);
		assert_int_equal(hpa % aligns[i], 0);
		assert_frames_in_use(ram, hpa, 5, 1);
		assert_int_equal(used(ram), 6);
		assert_int_equal(ph->dealloc_frames(ph->ctx, hpa, 5), 0);
		assert_frames_in_use(ram, hpa, 5, 0);
		assert_int_equal(used(ram), 1);
	}
	assert_int_equal(physim_ph_dealloc_frame(ph, one), 0);
	assert_int_equal(physim_ph_dealloc_frame(ph, one), -ENOENT);
	assert_int_equal(used(ram), 0);

	/* Bad arguments are refused with nothing taken. */
	physim_hpa_t hpa = 0;
	assert_int_equal(ph->alloc_frames(ph->ctx, 0, FRAME, &hpa), -EINVAL);
	assert_int_equal(ph->alloc_frames(ph->ctx, 1, 2048, &hpa), -EINVAL);
	assert_int_equal(ph->alloc_frames(ph->ctx, 1, 3 * FRAME, &hpa), -EINVAL);
	assert_int_equal(ph->alloc_frames(ph->ctx, 1, 0, &hpa), -EINVAL);
	assert_int_equal(ph->alloc_frames(ph->ctx, RAM_SIZE / FRAME + 1, FRAME, &hpa), -ENOMEM);
	assert_int_equal(used(ram), 0);

	/* Freeing a run that is only partly allocated changes nothing. */
	assert_int_equal(ph->alloc_frames(ph->ctx, 2, FRAME, &hpa), 0);
	assert_int_equal(ph->dealloc_frames(ph->ctx, hpa, 3), -ENOENT);
	assert_frames_in_use(ram, hpa, 2, 1);
	assert_int_equal(ph->dealloc_frames(ph->ctx, hpa, 2), 0);
	assert_int_equal(used(ram), 0);
}

/* ---- memory_if ---- */

static void test_memory_if(void **state)
{
	(void)state;
	/* Base one frame past a 4 MiB boundary: aligned blocks must skip ahead. */
	const physim_hpa_t base = RAM_BASE + FRAME;
	struct physim_ram *ram = make_ram(base, RAM_SIZE);
	const struct physim_memory_if *mi = physim_ram_memory_if(ram);
	assert_non_null(mi);
	assert_ptr_equal(mi, physim_ram_memory_if(ram));
	assert_ptr_equal(mi->ctx, ram);

	for (unsigned lg = 0; lg <= 9; lg++) {
		physim_hpa_t hpa = 0;
		uint64_t align = FRAME << lg;
		assert_int_equal(mi->alloc_contiguous_frames(mi->ctx, 3, lg, &hpa), 0);
		assert_int_equal(hpa % align, 0);
		assert_true(hpa >= base && hpa + 3 * FRAME <= base + RAM_SIZE);
		assert_frames_in_use(ram, hpa, 3, 1);
		assert_int_equal(physim_ram_stats(ram).used_frames, 3);
		assert_int_equal(mi->dealloc_contiguous_frames(mi->ctx, hpa, 3), 0);
		assert_int_equal(physim_ram_stats(ram).used_frames, 0);
	}

	/* Alignments the RAM cannot meet, or that overflow 64 bits. */
	physim_hpa_t hpa = 0;
	int rc = mi->alloc_contiguous_frames(mi->ctx, 1, 40, &hpa); /* 4 PiB */
	assert_true(rc == -ENOMEM || rc == -EINVAL);
	rc = mi->alloc_contiguous_frames(mi->ctx, 1, 51, &hpa); /* 2^63: still representable */
	assert_true(rc == -ENOMEM || rc == -EINVAL);
	const unsigned overflow[] = {52, 53, 63, 64, 100, ~0u};
	for (size_t i = 0; i < sizeof(overflow) / sizeof(overflow[0]); i++)
		assert_int_equal(mi->alloc_contiguous_frames(mi->ctx, 1, overflow[i], &hpa),
				 -EINVAL);
	assert_int_equal(mi->alloc_contiguous_frames(mi->ctx, 0, 0, &hpa), -EINVAL);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);

	physim_hpa_t f = 0;
	assert_int_equal(mi->alloc_frame(mi->ctx, &f), 0);
	assert_int_equal(physim_ram_frame_in_use(ram, f), 1);
	void *want = NULL;
	assert_int_equal(physim_ram_phys_to_virt(ram, f, &want), 0);
	assert_ptr_equal(mi->phys_to_virt(mi->ctx, f), want);
	assert_int_equal(mi->virt_to_phys(mi->ctx, want), f);
	assert_null(mi->phys_to_virt(mi->ctx, base - 1));
	assert_int_equal(mi->virt_to_phys(mi->ctx, (uint8_t *)want - (f - base) - 1), 0);
	assert_int_equal(mi->dealloc_frame(mi->ctx, f), 0);
	assert_int_equal(mi->dealloc_frame(mi->ctx, f), -ENOENT);
	assert_int_equal(physim_ram_stats(ram).used_frames, 0);
	physim_ram_destroy(ram);
}

static void test_memory_if_translation(void **state)
{
	struct physim_ram *ram = *state;
	const struct physim_memory_if *mi = physim_ram_memory_if(ram);
	check_phys_to_virt(ram, mi->phys_to_virt, mi->ctx);
	check_virt_to_phys(ram, mi->virt_to_phys, mi->ctx);
}

/* ---- vm_hal ---- */

static void test_vm_hal_fields(void **state)
{
	struct physim_ram *ram = *state;
	struct physim_vm_hal vm;
	memset(&vm, 0xff, sizeof(vm));
	physim_ram_vm_hal(ram, NULL, &vm);
	assert_ptr_equal(vm.ctx, ram);
	assert_ptr_equal(vm.paging, physim_ram_paging_handler(ram));
	assert_null(vm.time_ctx);
	assert_non_null(vm.alloc_memory_region_at);
	assert_non_null(vm.dealloc_memory_region_at);
	check_virt_to_phys(ram, vm.virt_to_phys, vm.ctx);

	/* No clock: the host's monotonic time. */
	uint64_t before = host_now_ns();
	uint64_t t = vm.current_time_nanos(vm.time_ctx);
	uint64_t after = host_now_ns();
	assert_true(before <= t && t <= after);
}

static void test_vm_hal_manual_time(void **state)
{
	struct physim_ram *ram = *state;
	struct physim_clock *clock = NULL;
	assert_int_equal(
	    physim_clock_create(
		&(struct physim_clock_config){.kind = PHYSIM_CLOCK_MANUAL, .start_ns = 1234},
		&clock),
	    0);
	struct physim_vm_hal vm;
	physim_ram_vm_hal(ram, clock, &vm);
	assert_ptr_equal(vm.time_ctx, clock);
	assert_int_equal(vm.current_time_nanos(vm.time_ctx), 1234);
	assert_int_equal(physim_clock_advance_ns(clock, 1000), 0);
	assert_int_equal(vm.current_time_nanos(vm.time_ctx), 2234);
	assert_int_equal(physim_clock_set_ns(clock, 99999), 0);
	assert_int_equal(vm.current_time_nanos(vm.time_ctx), 99999);
	physim_clock_destroy(clock);
}

static void test_vm_hal_regions(void **state)
{
	struct physim_ram *ram = *state;
	struct physim_vm_hal vm;
	physim_ram_vm_hal(ram, NULL, &vm);

	const physim_hpa_t at = RAM_BASE + 0x10000;
	assert_int_equal(vm.alloc_memory_region_at(vm.ctx, at, 8 * FRAME), 0);
	assert_frames_in_use(ram, at, 8, 1);
	assert_int_equal(physim_ram_frame_in_use(ram, at - FRAME), 0);
	assert_int_equal(physim_ram_frame_in_use(ram, at + 8 * FRAME), 0);
	assert_int_equal(used(ram), 8);

	/* Overlaps at either end, or inside: busy, nothing more claimed. */
	assert_int_equal(vm.alloc_memory_region_at(vm.ctx, at - FRAME, 2 * FRAME), -EBUSY);
	assert_int_equal(vm.alloc_memory_region_at(vm.ctx, at + 7 * FRAME, 2 * FRAME), -EBUSY);
	assert_int_equal(vm.alloc_memory_region_at(vm.ctx, at + FRAME, FRAME), -EBUSY);
	assert_int_equal(physim_ram_frame_in_use(ram, at - FRAME), 0);
	assert_int_equal(physim_ram_frame_in_use(ram, at + 8 * FRAME), 0);
	assert_int_equal(used(ram), 8);

	/* Outside RAM, misaligned, empty. */
	assert_int_equal(vm.alloc_memory_region_at(vm.ctx, RAM_BASE - FRAME, 2 * FRAME), -EINVAL);
	assert_int_equal(vm.alloc_memory_region_at(vm.ctx, RAM_BASE + RAM_SIZE - FRAME, 2 * FRAME),
			 -EINVAL);
	assert_int_equal(vm.alloc_memory_region_at(vm.ctx, RAM_BASE + 0x800, FRAME), -EINVAL);
	assert_int_equal(vm.alloc_memory_region_at(vm.ctx, RAM_BASE, 0x800), -EINVAL);
	assert_int_equal(vm.alloc_memory_region_at(vm.ctx, RAM_BASE, 0), -EINVAL);
	assert_int_equal(used(ram), 8);

	/* A frame taken through another HAL makes a region busy too. */
	physim_hpa_t f = 0;
	assert_int_equal(physim_ph_alloc_frame(vm.paging, &f), 0);
	assert_int_equal(vm.alloc_memory_region_at(vm.ctx, f, FRAME), -EBUSY);
	assert_int_equal(physim_ph_dealloc_frame(vm.paging, f), 0);

	assert_int_equal(vm.dealloc_memory_region_at(vm.ctx, at, 8 * FRAME), 0);
	assert_frames_in_use(ram, at, 8, 0);
	assert_int_equal(used(ram), 0);
	assert_int_equal(vm.dealloc_memory_region_at(vm.ctx, at, 8 * FRAME), -ENOENT);

	/* The whole RAM as one region. */
	assert_int_equal(vm.alloc_memory_region_at(vm.ctx, RAM_BASE, RAM_SIZE), 0);
	assert_int_equal(used(ram), RAM_SIZE / FRAME);
	assert_int_equal(physim_ram_stats(ram).free_frames, 0);
	assert_int_equal(vm.dealloc_memory_region_at(vm.ctx, RAM_BASE, RAM_SIZE), 0);
	assert_int_equal(used(ram), 0);
}

static void test_null_ram(void **state)
{
	(void)state;
	assert_null(physim_ram_mm_hal(NULL));
	assert_null(physim_ram_paging_handler(NULL));
	assert_null(physim_ram_memory_if(NULL));
	struct physim_vm_hal vm;
	memset(&vm, 0xff, sizeof(vm));
	physim_ram_vm_hal(NULL, NULL, &vm);
	assert_null(vm.ctx);
	assert_null(vm.paging);
	assert_null(vm.alloc_memory_region_at);
	assert_null(vm.current_time_nanos);
	physim_ram_vm_hal(NULL, NULL, NULL); /* harmless */
}

/* Two RAMs: each vtable reaches its own. */
static void test_two_rams(void **state)
{
	struct physim_ram *a = *state;
	struct physim_ram *b = make_ram(RAM_BASE, RAM_SIZE);
	const struct physim_mm_hal *ma = physim_ram_mm_hal(a), *mb = physim_ram_mm_hal(b);
	assert_ptr_not_equal(ma, mb);
	physim_hpa_t h = 0;
	assert_int_equal(mb->alloc_frame(mb->ctx, &h), 0);
	assert_int_equal(physim_ram_stats(b).used_frames, 1);
	assert_int_equal(used(a), 0);
	assert_ptr_not_equal(ma->phys_to_virt(ma->ctx, h), mb->phys_to_virt(mb->ctx, h));
	assert_int_equal(ma->dealloc_frame(ma->ctx, h), -ENOENT);
	assert_int_equal(mb->dealloc_frame(mb->ctx, h), 0);
	physim_ram_destroy(b);
}

/* ---- zero_frames ---- */

#define ZERO_RAM_FRAMES 128
#define DIRT		0xa5

struct zero_case {
	bool zero;
	struct physim_ram *ram;
	physim_hpa_t base;
};

/* A RAM whose every frame was written with DIRT and freed again. */
static void zero_case_init(struct zero_case *z, bool zero)
{
	z->zero = zero;
	z->base = RAM_BASE;
	z->ram = NULL;
	assert_int_equal(
	    physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE,
							  .size = ZERO_RAM_FRAMES * FRAME,
							  .zero_frames = zero},
			      &z->ram),
	    0);
	uint64_t size = ZERO_RAM_FRAMES * FRAME;
	assert_int_equal(physim_ram_alloc_at(z->ram, RAM_BASE, size), 0);
	void *p = NULL;
	assert_int_equal(physim_ram_phys_to_virt(z->ram, RAM_BASE, &p), 0);
	memset(p, DIRT, size);
	assert_int_equal(physim_ram_free_at(z->ram, RAM_BASE, size), 0);
}

/* The frames [hpa, hpa + n * FRAME) read as zero with the option, and
 * still hold DIRT without it. */
static void assert_zeroed(const struct zero_case *z, physim_hpa_t hpa, uint64_t n)
{
	const uint8_t want = z->zero ? 0 : DIRT;
	for (uint64_t i = 0; i < n; i++) {
		void *p = NULL;
		assert_int_equal(physim_ram_phys_to_virt(z->ram, hpa + i * FRAME, &p), 0);
		const uint8_t *b = p;
		for (uint64_t j = 0; j < FRAME; j++)
			if (b[j] != want)
				fail_msg("frame %#llx byte %llu is %#x, want %#x",
					 (unsigned long long)(hpa + i * FRAME),
					 (unsigned long long)j, b[j], want);
	}
}

static void zero_case_done(struct zero_case *z)
{
	assert_int_equal(used(z->ram), 0);
	physim_ram_destroy(z->ram);
}

static void check_zero_paths(bool zero)
{
	struct zero_case z;
	physim_hpa_t h = 0;

	/* The RAM's own calls. */
	zero_case_init(&z, zero);
	assert_int_equal(physim_ram_alloc_frame(z.ram, &h), 0);
	assert_zeroed(&z, h, 1);
	assert_int_equal(physim_ram_free_frame(z.ram, h), 0);
	assert_int_equal(physim_ram_alloc_frames(z.ram, 5, 4 * FRAME, &h), 0);
	assert_zeroed(&z, h, 5);
	assert_int_equal(physim_ram_free_frames(z.ram, h, 5), 0);
	assert_int_equal(physim_ram_alloc_at(z.ram, RAM_BASE + 8 * FRAME, 3 * FRAME), 0);
	assert_zeroed(&z, RAM_BASE + 8 * FRAME, 3);
	assert_int_equal(physim_ram_free_at(z.ram, RAM_BASE + 8 * FRAME, 3 * FRAME), 0);
	zero_case_done(&z);

	/* mm_hal. */
	zero_case_init(&z, zero);
	const struct physim_mm_hal *mm = physim_ram_mm_hal(z.ram);
	assert_int_equal(mm->alloc_frame(mm->ctx, &h), 0);
	assert_zeroed(&z, h, 1);
	assert_int_equal(mm->dealloc_frame(mm->ctx, h), 0);
	zero_case_done(&z);

	/* paging_handler, alloc_frame and alloc_frames. */
	zero_case_init(&z, zero);
	const struct physim_paging_handler *ph = physim_ram_paging_handler(z.ram);
	assert_int_equal(ph->alloc_frame(ph->ctx, &h), 0);
	assert_zeroed(&z, h, 1);
	assert_int_equal(ph->dealloc_frame(ph->ctx, h), 0);
	assert_int_equal(ph->alloc_frames(ph->ctx, 64, 64 * FRAME, &h), 0);
	assert_zeroed(&z, h, 64);
	assert_int_equal(ph->dealloc_frames(ph->ctx, h, 64), 0);
	zero_case_done(&z);

	/* memory_if. */
	zero_case_init(&z, zero);
	const struct physim_memory_if *mi = physim_ram_memory_if(z.ram);
	assert_int_equal(mi->alloc_frame(mi->ctx, &h), 0);
	assert_zeroed(&z, h, 1);
	assert_int_equal(mi->dealloc_frame(mi->ctx, h), 0);
	assert_int_equal(mi->alloc_contiguous_frames(mi->ctx, 4, 2, &h), 0);
	assert_zeroed(&z, h, 4);
	assert_int_equal(mi->dealloc_contiguous_frames(mi->ctx, h, 4), 0);
	zero_case_done(&z);

	/* vm_hal: a small region, then the whole RAM. */
	zero_case_init(&z, zero);
	struct physim_vm_hal vm;
	physim_ram_vm_hal(z.ram, NULL, &vm);
	assert_int_equal(vm.alloc_memory_region_at(vm.ctx, RAM_BASE + FRAME, 2 * FRAME), 0);
	assert_zeroed(&z, RAM_BASE + FRAME, 2);
	assert_int_equal(vm.dealloc_memory_region_at(vm.ctx, RAM_BASE + FRAME, 2 * FRAME), 0);
	assert_int_equal(vm.alloc_memory_region_at(vm.ctx, RAM_BASE, ZERO_RAM_FRAMES * FRAME), 0);
	assert_zeroed(&z, RAM_BASE, ZERO_RAM_FRAMES);
	assert_int_equal(vm.dealloc_memory_region_at(vm.ctx, RAM_BASE, ZERO_RAM_FRAMES * FRAME), 0);
	zero_case_done(&z);
}

/* Frames dirtied, freed and taken again read zero through every path. */
static void test_zero_frames_on(void **state)
{
	(void)state;
	check_zero_paths(true);
}

/* Without the option the old bytes stay: the test above sees the option. */
static void test_zero_frames_off(void **state)
{
	(void)state;
	check_zero_paths(false);
}

/* With the debug modes: poisoned on free, zero on the next allocation. */
static void test_zero_frames_with_debug(void **state)
{
	(void)state;
	for (int debug = PHYSIM_RAM_DEBUG_POISON; debug <= PHYSIM_RAM_DEBUG_PROTECT; debug++) {
		struct physim_ram *ram = NULL;
		assert_int_equal(physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE,
									       .size = 128 * FRAME,
									       .debug = debug,
									       .zero_frames = true},
						   &ram),
				 0);
		physim_hpa_t h = 0;
		void *p = NULL;
		assert_int_equal(physim_ram_alloc_frames(ram, 100, FRAME, &h), 0);
		assert_int_equal(physim_ram_phys_to_virt(ram, h, &p), 0);
		memset(p, DIRT, 100 * FRAME);
		assert_int_equal(physim_ram_free_frames(ram, h, 100), 0);
		physim_hpa_t h2 = 0;
		assert_int_equal(physim_ram_alloc_frames(ram, 100, FRAME, &h2), 0);
		assert_int_equal(h2, h);
		const uint8_t *b = p;
		for (uint64_t i = 0; i < 100 * FRAME; i++)
			if (b[i] != 0)
				fail_msg("debug %d: byte %llu is %#x", debug, (unsigned long long)i,
					 b[i]);
		assert_int_equal(physim_ram_free_frames(ram, h2, 100), 0);
		physim_ram_destroy(ram);
	}
}

#define RAM_TEST(fn) cmocka_unit_test_setup_teardown(fn, ram_setup, ram_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    RAM_TEST(test_mm_hal_alloc_free),
	    cmocka_unit_test(test_mm_hal_exhaustion),
	    RAM_TEST(test_mm_hal_translation),
	    cmocka_unit_test(test_reserved_not_handed_out),
	    RAM_TEST(test_paging_direct_map),
	    RAM_TEST(test_paging_alloc_free),
	    cmocka_unit_test(test_memory_if),
	    RAM_TEST(test_memory_if_translation),
	    RAM_TEST(test_vm_hal_fields),
	    RAM_TEST(test_vm_hal_manual_time),
	    RAM_TEST(test_vm_hal_regions),
	    cmocka_unit_test(test_null_ram),
	    RAM_TEST(test_two_rams),
	    cmocka_unit_test(test_zero_frames_on),
	    cmocka_unit_test(test_zero_frames_off),
	    cmocka_unit_test(test_zero_frames_with_debug),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
