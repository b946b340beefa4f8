/* SPDX-License-Identifier: MIT */
/* examples/hal-consumer - the smallest complete program written against
 * physim's HAL interfaces: it takes the vtables from a simulated RAM once,
 * then only uses hal.h, frame.h and clock.h, as code written for a real
 * hypervisor's HAL would. Exits 1 if anything fails or a frame leaks, 2 on
 * an argument other than -h, --help or --version (it takes no options). */
#include <physim/ram.h> /* only to create the RAM and take its HALs */
#include <physim/hal.h>
#include <physim/frame.h>
#include <physim/clock.h>

#include <stdio.h>
#include <string.h>

#define RAM_BASE  UINT64_C(0x80000000)
#define RAM_SIZE  (UINT64_C(64) << 20)
#define REGION_AT (RAM_BASE + (UINT64_C(32) << 20)) /* a fixed host-physical range */
#define REGION_SZ (UINT64_C(2) << 20)

static int fail(const char *what, int rc)
{
	fprintf(stderr, "hal-consumer: %s: %s\n", what, physim_strerror(rc));
	return rc < 0 ? rc : -EINVAL;
}

/* PhysFrame: two frames, dropped automatically when this function returns. */
static int use_frames(const struct physim_mm_hal *mm)
{
	PHYSIM_FRAME_SCOPED struct physim_frame zeroed = physim_frame_uninit();
	PHYSIM_FRAME_SCOPED struct physim_frame filled = physim_frame_uninit();
	int rc = physim_frame_alloc_zero(mm, &zeroed);
	if (rc < 0)
		return fail("alloc_zero", rc);
	rc = physim_frame_alloc(mm, &filled);
	if (rc < 0)
		return fail("alloc", rc);
	rc = physim_frame_fill(&filled, 0xab);
	if (rc < 0)
		return fail("fill", rc);

	const uint8_t *z = physim_frame_as_mut_ptr(&zeroed);
	const uint8_t *f = physim_frame_as_mut_ptr(&filled);
	if (z[0] != 0 || z[4095] != 0 || f[0] != 0xab || f[4095] != 0xab)
		return fail("frame contents", -EFAULT);
	printf("  PhysFrame  zeroed frame at %#llx, frame filled with 0xab at %#llx\n",
	       (unsigned long long)physim_frame_start_paddr(&zeroed),
	       (unsigned long long)physim_frame_start_paddr(&filled));
	return 0;
}

/* PagingHandler: 16 contiguous frames aligned to 64 KiB, e.g. for a table
 * format whose root spans several frames. */
static int use_paging(const struct physim_paging_handler *ph)
{
	const size_t nframes = 16;
	const uint64_t align = 64 << 10;
	physim_hpa_t hpa;
	int rc = ph->alloc_frames(ph->ctx, nframes, align, &hpa);
	if (rc < 0)
		return fail("alloc_frames", rc);
	uint8_t *last = physim_ph_phys_to_virt(ph, hpa + (nframes - 1) * PHYSIM_FRAME_SIZE);
	if (hpa % align != 0 || last == NULL)
		rc = fail("alloc_frames result", -EFAULT);
	else
		last[0] = 1; /* the whole run is usable memory */
	printf("  paging     %zu contiguous frames at %#llx (64 KiB aligned)\n", nframes,
	       (unsigned long long)hpa);
	int rc2 = ph->dealloc_frames(ph->ctx, hpa, nframes);
	return rc < 0 ? rc : rc2 < 0 ? fail("dealloc_frames", rc2) : 0;
}

/* AxVMHal: claim a guest RAM region at a fixed host-physical address. */
static int use_vm(const struct physim_vm_hal *vm)
{
	int rc = vm->alloc_memory_region_at(vm->ctx, REGION_AT, REGION_SZ);
	if (rc < 0)
		return fail("alloc_memory_region_at", rc);
	/* A second claim of the same range must be refused. */
	int again = vm->alloc_memory_region_at(vm->ctx, REGION_AT, PHYSIM_FRAME_SIZE);
	printf("  vm         %llu frames claimed at %#llx (a second claim: %s)\n",
	       (unsigned long long)(REGION_SZ / PHYSIM_FRAME_SIZE), (unsigned long long)REGION_AT,
	       physim_strerror(again));
	rc = vm->dealloc_memory_region_at(vm->ctx, REGION_AT, REGION_SZ);
	if (rc < 0)
		return fail("dealloc_memory_region_at", rc);
	return again == -EBUSY ? 0 : fail("second claim", again);
}

/* Fault injection: make the next allocation fail and see it handled. */
static int use_injection(struct physim_counting_hal *ch, const struct physim_mm_hal *mm)
{
	physim_counting_hal_set_plan(ch, &(struct physim_counting_hal_config){.fail_nth = 1});
	struct physim_frame f;
	int rc = physim_frame_alloc(mm, &f);
	physim_counting_hal_set_plan(ch, &(struct physim_counting_hal_config){0});
	printf("  injection  planned failure of the next allocation: %s\n", physim_strerror(rc));
	if (rc == 0)
		physim_frame_drop(&f);
	return rc == -ENOMEM ? 0 : fail("injected failure", rc);
}

static int run(const struct physim_mm_hal *ram_mm, const struct physim_paging_handler *ram_ph,
	       const struct physim_vm_hal *ram_vm)
{
	/* Everything below goes through a counting wrapper; the code using
	 * it cannot tell the difference. */
	struct physim_counting_hal *ch;
	int rc = physim_counting_hal_create(
	    &(struct physim_counting_hal_config){.mm = ram_mm, .paging = ram_ph, .vm = ram_vm},
	    &ch);
	if (rc < 0)
		return fail("counting_hal_create", rc);
	const struct physim_mm_hal *mm = physim_counting_hal_mm(ch);
	const struct physim_vm_hal *vm = physim_counting_hal_vm(ch);

	uint64_t t0 = vm->current_time_nanos(vm->time_ctx);
	rc = use_frames(mm);
	if (rc == 0)
		rc = use_paging(vm->paging);
	if (rc == 0)
		rc = use_vm(vm);
	if (rc == 0)
		rc = use_injection(ch, mm);
	uint64_t t1 = vm->current_time_nanos(vm->time_ctx);
	printf("  time       %.3f ms by the VM HAL's clock\n", (double)(t1 - t0) / 1e6);

	struct physim_hal_counts c = physim_counting_hal_counts(ch);
	printf("counting HAL: %llu allocation calls (%llu failed), %llu frames allocated, "
	       "%llu freed, %lld live\n",
	       (unsigned long long)c.alloc_calls, (unsigned long long)c.alloc_failed,
	       (unsigned long long)c.frames_allocated, (unsigned long long)c.frames_freed,
	       (long long)c.frames_live);
	if (rc == 0 && c.frames_live != 0)
		rc = fail("frames still live", -EBUSY);
	physim_counting_hal_destroy(ch);
	return rc;
}

/* -h / --help / --version answer and exit 0; nothing else is an option.
 * Returns -1 to go on with the demonstration. */
static int handle_args(int argc, char **argv)
{
	if (argc < 2)
		return -1;
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: hal-consumer [-h | --help | --version]\n\n"
		       "Takes the HAL vtables of 64 MiB of simulated RAM and uses only them:\n"
		       "frames, a fixed region, a clock. Exit status: 0 done and every frame\n"
		       "came back, 1 something failed or leaked, 2 a bad argument.\n");
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("hal-consumer (physim) %s\n", physim_version());
		return 0;
	}
	fprintf(stderr, "hal-consumer: unknown argument '%s' (try --help)\n", argv[1]);
	return 2;
}

int main(int argc, char **argv)
{
	int status = handle_args(argc, argv);
	if (status >= 0)
		return status;

	/* The only RAM-specific part: make the memory and take its HALs. */
	struct physim_ram *ram;
	int rc = physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE},
				   &ram);
	if (rc < 0) {
		fail("ram_create", rc);
		return 1;
	}
	struct physim_clock *clock;
	rc = physim_clock_create(NULL, &clock);
	if (rc < 0) {
		fail("clock_create", rc);
		physim_ram_destroy(ram);
		return 1;
	}
	struct physim_vm_hal ram_vm;
	physim_ram_vm_hal(ram, clock, &ram_vm);
	printf("physim hal-consumer: %llu MiB of simulated RAM at %#llx\n",
	       (unsigned long long)(RAM_SIZE >> 20), (unsigned long long)RAM_BASE);

	rc = run(physim_ram_mm_hal(ram), physim_ram_paging_handler(ram), &ram_vm);

	uint64_t used = physim_ram_stats(ram).used_frames;
	printf("RAM: %llu frames in use at the end%s\n", (unsigned long long)used,
	       used == 0 ? " - every frame came back" : " - LEAK");
	physim_clock_destroy(clock);
	physim_ram_destroy(ram);
	return rc == 0 && used == 0 ? 0 : 1;
}
