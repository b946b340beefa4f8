/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_alloc.c - the frame allocator (ram.h, and the same
 * allocator behind the mm_hal / paging_handler / memory_if vtables and
 * PhysFrame) against a model: one state per frame. Single frames,
 * contiguous aligned runs, claims at an address, frees and double frees,
 * reserved ranges, debug modes; every answer (success or error) is the one
 * the model predicts, and every frame comes back in the end.
 *
 * Input: 4 config bytes (base, size, debug/guards, reserved ranges, whose
 * operands follow), then operations: one byte, then its operands. */
#include "fuzz.h"

#include <physim/frame.h>
#include <physim/ram.h>

#define MAX_OPS	   400
#define MAX_FRAMES 4096

enum { FREE = 0, USED = 1, RESERVED = 2 };

struct run {
	struct fz in;
	struct physim_ram *ram;
	physim_hpa_t base;
	uint64_t nframes;
	uint8_t *st; /* model: state of each frame */
	enum physim_ram_debug debug;
	uint8_t poison;
};

static physim_hpa_t hpa_of(const struct run *r, uint64_t i)
{
	return r->base + (i << PHYSIM_FRAME_SHIFT);
}

static uint8_t *hva_of(const struct run *r, uint64_t i)
{
	struct physim_direct_map dm = physim_ram_direct_map(r->ram);
	return physim_dm_phys_to_virt(&dm, hpa_of(r, i));
}

/* Frames handed out carry a stamp at both ends, checked when they are freed:
 * the allocator must neither hand out nor move memory it does not own. */
static uint64_t stamp(const struct run *r, uint64_t i)
{
	return hpa_of(r, i) ^ UINT64_C(0x5bd1e9955bd1e995);
}

static void take(struct run *r, uint64_t first, uint64_t n)
{
	FZ_CHECK(first < r->nframes && n <= r->nframes - first);
	for (uint64_t i = first; i < first + n; i++) {
		FZ_CHECK(r->st[i] == FREE);
		r->st[i] = USED;
		uint64_t s = stamp(r, i);
		memcpy(hva_of(r, i), &s, 8);
		memcpy(hva_of(r, i) + PHYSIM_FRAME_SIZE - 8, &s, 8);
	}
}

static void check_stamps(const struct run *r, uint64_t first, uint64_t n)
{
	for (uint64_t i = first; i < first + n; i++) {
		uint64_t a, b, s = stamp(r, i);
		memcpy(&a, hva_of(r, i), 8);
		memcpy(&b, hva_of(r, i) + PHYSIM_FRAME_SIZE - 8, 8);
		FZ_CHECK(a == s && b == s);
	}
}

static void give_back(struct run *r, uint64_t first, uint64_t n)
{
	for (uint64_t i = first; i < first + n; i++) {
		r->st[i] = FREE;
		if (r->debug == PHYSIM_RAM_DEBUG_POISON) {
			const uint8_t *p = hva_of(r, i);
			for (size_t k = 0; k < PHYSIM_FRAME_SIZE; k += 509)
				FZ_CHECK(p[k] == r->poison);
		}
	}
}

/* Is every frame of [first, first + n) in state s? */
static bool all_in(const struct run *r, uint64_t first, uint64_t n, uint8_t s)
{
	for (uint64_t i = first; i < first + n; i++)
		if (r->st[i] != s)
			return false;
	return true;
}

/* Does a free run of n frames at an address aligned to align exist? */
static bool run_exists(const struct run *r, uint64_t n, uint64_t align)
{
	uint64_t af = align >> PHYSIM_FRAME_SHIFT, bpfn = r->base >> PHYSIM_FRAME_SHIFT;
	uint64_t i = (af - bpfn % af) % af;
	for (; i < r->nframes && n <= r->nframes - i; i += af)
		if (all_in(r, i, n, FREE))
			return true;
	return false;
}

static void check_stats(const struct run *r)
{
	uint64_t cnt[3] = {0, 0, 0};
	for (uint64_t i = 0; i < r->nframes; i++)
		cnt[r->st[i]]++;
	struct physim_ram_stats s = physim_ram_stats(r->ram);
	FZ_CHECK(s.total_frames == r->nframes);
	FZ_CHECK(s.free_frames == cnt[FREE] && s.used_frames == cnt[USED]);
	FZ_CHECK(s.reserved_frames == cnt[RESERVED]);
}

/* ---- operands ---- */

/* A frame in state s chosen by the input, or any frame if there is none. */
static uint64_t pick_frame(struct run *r, uint8_t s)
{
	uint64_t start = fz_below(&r->in, r->nframes);
	for (uint64_t k = 0; k < r->nframes; k++) {
		uint64_t i = (start + k) % r->nframes;
		if (r->st[i] == s)
			return i;
	}
	return start;
}

/* An address: a used frame, any frame, or something bad (outside RAM,
 * misaligned). *idx is its frame (valid only if *inside). */
static physim_hpa_t pick_hpa(struct run *r, uint64_t *idx, bool *inside, bool *aligned)
{
	uint8_t how = fz_u8(&r->in);
	*inside = true;
	*aligned = true;
	switch (how % 8) {
	case 0:
		*idx = fz_below(&r->in, r->nframes);
		return hpa_of(r, *idx);
	case 1:
		*inside = false;
		return r->base + (r->nframes << PHYSIM_FRAME_SHIFT) +
		       (fz_below(&r->in, 4) << PHYSIM_FRAME_SHIFT);
	case 2:
		*inside = false;
		return r->base - PHYSIM_FRAME_SIZE; /* wraps for a RAM at 0 */
	case 3:
		*idx = pick_frame(r, USED);
		*aligned = false;
		return hpa_of(r, *idx) + 1 + fz_below(&r->in, PHYSIM_FRAME_SIZE - 1);
	default:
		*idx = pick_frame(r, USED);
		return hpa_of(r, *idx);
	}
}

/* ---- operations ---- */

static void op_alloc_frame(struct run *r)
{
	physim_hpa_t hpa = 0;
	int rc;
	uint8_t via = fz_u8(&r->in) % 4;
	if (via == 0) {
		rc = physim_ram_alloc_frame(r->ram, &hpa);
	} else if (via == 1) {
		const struct physim_mm_hal *mm = physim_ram_mm_hal(r->ram);
		rc = mm->alloc_frame(mm->ctx, &hpa);
	} else if (via == 2) {
		const struct physim_paging_handler *ph = physim_ram_paging_handler(r->ram);
		rc = ph->alloc_frame(ph->ctx, &hpa);
	} else {
		const struct physim_memory_if *mi = physim_ram_memory_if(r->ram);
		rc = mi->alloc_frame(mi->ctx, &hpa);
	}
	if (!run_exists(r, 1, PHYSIM_FRAME_SIZE)) {
		FZ_CHECK(rc == -ENOMEM);
		return;
	}
	FZ_CHECK(rc == 0 && hpa != 0 && hpa >= r->base);
	FZ_CHECK(physim_is_aligned(hpa, PHYSIM_FRAME_SIZE));
	take(r, (hpa - r->base) >> PHYSIM_FRAME_SHIFT, 1);
}

static void op_free_frame(struct run *r)
{
	uint64_t i = 0;
	bool inside, aligned;
	physim_hpa_t hpa = pick_hpa(r, &i, &inside, &aligned);
	int want = !inside || !aligned ? -EINVAL : r->st[i] == USED ? 0 : -ENOENT;
	if (want == 0)
		check_stamps(r, i, 1);
	int rc;
	if (fz_u8(&r->in) & 1) {
		rc = physim_ram_free_frame(r->ram, hpa);
	} else {
		const struct physim_mm_hal *mm = physim_ram_mm_hal(r->ram);
		rc = mm->dealloc_frame(mm->ctx, hpa);
	}
	FZ_CHECK(rc == want);
	if (rc == 0)
		give_back(r, i, 1);
}

static void op_alloc_run(struct run *r)
{
	uint8_t b = fz_u8(&r->in);
	size_t n = 1 + fz_below(&r->in, b & 0x80 ? 600 : 40);
	unsigned lg = 12 + (unsigned)fz_below(&r->in, b & 0x40 ? 52 : 10);
	uint64_t align = UINT64_C(1) << lg;
	int want = 0;
	switch (b & 7) {
	case 0:
		n = 0;
		want = -EINVAL;
		break;
	case 1:
		align = fz_u8(&r->in) & 1 ? 2048 : align + align / 2; /* not a power of two */
		want = -EINVAL;
		break;
	default:
		break;
	}
	if (want == 0 && !run_exists(r, n, align))
		want = -ENOMEM;
	physim_hpa_t hpa = 0;
	int rc;
	if (b & 8) {
		rc = physim_ram_alloc_frames(r->ram, n, align, &hpa);
	} else if (b & 16) {
		const struct physim_paging_handler *ph = physim_ram_paging_handler(r->ram);
		rc = ph->alloc_frames(ph->ctx, n, align, &hpa);
	} else {
		/* memory_if takes the alignment as log2 of a frame count. */
		const struct physim_memory_if *mi = physim_ram_memory_if(r->ram);
		if (want == -EINVAL && n != 0)
			return;
		rc = mi->alloc_contiguous_frames(mi->ctx, n, lg - 12, &hpa);
	}
	if (rc != want)
		fprintf(stderr, "fuzz_alloc: %zu frames aligned %#llx (how %#x): %d, expected %d\n",
			n, (unsigned long long)align, b, rc, want);
	FZ_CHECK(rc == want);
	if (rc != 0)
		return;
	FZ_CHECK(hpa >= r->base && physim_is_aligned(hpa, align));
	take(r, (hpa - r->base) >> PHYSIM_FRAME_SHIFT, n);
}

/* free_frames / free_at / the vtables' dealloc_frames over a range that
 * starts at a used frame (or a bad address) and runs for a few frames. */
static void op_free_run(struct run *r)
{
	uint64_t i = 0;
	bool inside, aligned;
	physim_hpa_t hpa = pick_hpa(r, &i, &inside, &aligned);
	uint8_t b = fz_u8(&r->in);
	uint64_t n = fz_u8(&r->in) & 1 ? 1 + fz_below(&r->in, 600) : 0;
	if (n == 0 && inside) /* to the end of the used run */
		while (i + n < r->nframes && r->st[i + n] == USED && n < 64)
			n++;
	if (b & 0x80)
		n = 0;
	int want;
	if (!inside || !aligned || n == 0 || n > r->nframes - i)
		want = -EINVAL;
	else
		want = all_in(r, i, n, USED) ? 0 : -ENOENT;
	if (want == 0)
		check_stamps(r, i, n);
	int rc;
	switch (b % 4) {
	case 0:
		rc = physim_ram_free_frames(r->ram, hpa, n);
		break;
	case 1:
		rc = physim_ram_free_at(r->ram, hpa, n << PHYSIM_FRAME_SHIFT);
		break;
	case 2: {
		const struct physim_paging_handler *ph = physim_ram_paging_handler(r->ram);
		rc = ph->dealloc_frames(ph->ctx, hpa, n);
		break;
	}
	default: {
		const struct physim_memory_if *mi = physim_ram_memory_if(r->ram);
		rc = mi->dealloc_contiguous_frames(mi->ctx, hpa, n);
		break;
	}
	}
	FZ_CHECK(rc == want);
	if (rc == 0)
		give_back(r, i, n);
}

static void op_alloc_at(struct run *r)
{
	uint64_t i = 0;
	bool inside, aligned;
	physim_hpa_t hpa = pick_hpa(r, &i, &inside, &aligned);
	if (fz_u8(&r->in) & 1 && inside) { /* mostly at a free frame */
		i = pick_frame(r, FREE);
		hpa = hpa_of(r, i);
		aligned = true;
	}
	uint64_t n = 1 + fz_below(&r->in, 64);
	int want;
	if (!inside || !aligned || n > r->nframes - i)
		want = -EINVAL;
	else
		want = all_in(r, i, n, FREE) ? 0 : -EBUSY;
	int rc;
	if (fz_u8(&r->in) & 1) {
		rc = physim_ram_alloc_at(r->ram, hpa, n << PHYSIM_FRAME_SHIFT);
	} else {
		struct physim_vm_hal vm;
		physim_ram_vm_hal(r->ram, NULL, &vm);
		rc = vm.alloc_memory_region_at(vm.ctx, hpa, n << PHYSIM_FRAME_SHIFT);
	}
	FZ_CHECK(rc == want);
	if (rc == 0)
		take(r, i, n);
}

static void op_frame(struct run *r)
{
	/* PhysFrame over the mm HAL: alloc_zero gives a zeroed frame. */
	struct physim_frame f = physim_frame_uninit();
	bool zero = fz_u8(&r->in) & 1;
	int rc = zero ? physim_frame_alloc_zero(physim_ram_mm_hal(r->ram), &f)
		      : physim_frame_alloc(physim_ram_mm_hal(r->ram), &f);
	if (!run_exists(r, 1, PHYSIM_FRAME_SIZE)) {
		FZ_CHECK(rc == -ENOMEM && physim_frame_is_uninit(&f));
		return;
	}
	FZ_CHECK(rc == 0);
	physim_hpa_t hpa = physim_frame_start_paddr(&f);
	uint64_t i = (hpa - r->base) >> PHYSIM_FRAME_SHIFT;
	FZ_CHECK(hpa >= r->base && i < r->nframes && r->st[i] == FREE);
	uint8_t *p = physim_frame_as_mut_ptr(&f);
	FZ_CHECK(p == hva_of(r, i));
	if (zero)
		for (size_t k = 0; k < PHYSIM_FRAME_SIZE; k += 97)
			FZ_CHECK(p[k] == 0);
	FZ_CHECK(physim_frame_fill(&f, 0x3c) == 0 && p[PHYSIM_FRAME_SIZE - 1] == 0x3c);
	if (fz_u8(&r->in) & 1) {
		physim_frame_drop(&f);
		FZ_CHECK(physim_frame_is_uninit(&f));
		if (r->debug == PHYSIM_RAM_DEBUG_POISON)
			FZ_CHECK(p[0] == r->poison);
	} else {
		take(r, i, 1); /* kept: freed at the end like the others */
	}
}

/* frame_in_use and the translations, at any address. */
static void op_query(struct run *r)
{
	uint64_t off = fz_u64(&r->in) % ((r->nframes + 8) << PHYSIM_FRAME_SHIFT);
	physim_hpa_t hpa = r->base + off;
	bool inside = off < (r->nframes << PHYSIM_FRAME_SHIFT);
	uint64_t i = off >> PHYSIM_FRAME_SHIFT;
	int rc = physim_ram_frame_in_use(r->ram, hpa);
	FZ_CHECK(rc == (!inside ? -EINVAL : r->st[i] != FREE));
	void *hva = NULL;
	rc = physim_ram_phys_to_virt(r->ram, hpa, &hva);
	FZ_CHECK(rc == (inside ? 0 : -EFAULT));
	if (!inside)
		return;
	FZ_CHECK((uint8_t *)hva == hva_of(r, i) + (off & (PHYSIM_FRAME_SIZE - 1)));
	physim_hpa_t back = 0;
	FZ_CHECK(physim_ram_virt_to_phys(r->ram, hva, &back) == 0 && back == hpa);
	const struct physim_mm_hal *mm = physim_ram_mm_hal(r->ram);
	FZ_CHECK(mm->phys_to_virt(mm->ctx, hpa) == hva);
	FZ_CHECK(mm->virt_to_phys(mm->ctx, hva) == hpa);
}

/* ---- one input ---- */

static bool setup(struct run *r)
{
	static const physim_hpa_t bases[] = {UINT64_C(0x80000000), UINT64_C(0x1000), 0,
					     UINT64_C(0x7ffff000), UINT64_C(0xfffffffff0000000)};
	uint8_t b0 = fz_u8(&r->in), b1 = fz_u8(&r->in), b2 = fz_u8(&r->in), b3 = fz_u8(&r->in);
	struct physim_ram_config c = {.base = bases[b0 % 5]};
	c.base_is_zero = c.base == 0;
	uint64_t nframes = 1 + (b1 & 0x80 ? fz_below(&r->in, MAX_FRAMES) : b1);
	c.size = nframes << PHYSIM_FRAME_SHIFT;
	c.guard_pages = b2 & 1;
	c.debug = (b2 >> 1) % 3;
	if (c.debug == PHYSIM_RAM_DEBUG_PROTECT && nframes > 512)
		c.debug = PHYSIM_RAM_DEBUG_POISON; /* one mprotect per change: keep it small */
	c.poison_byte = b2 & 0x80 ? 0xe7 : 0;
	struct physim_ram_range res[4];
	c.nreserved = b3 % 5;
	c.reserved = res;
	bool bad = false;
	for (size_t k = 0; k < c.nreserved; k++) {
		uint64_t first = fz_below(&r->in, nframes);
		uint64_t n = 1 + fz_below(&r->in, nframes - first);
		res[k].base = c.base + (first << PHYSIM_FRAME_SHIFT);
		res[k].size = n << PHYSIM_FRAME_SHIFT;
	}
	if (c.nreserved && (b3 & 0x80)) { /* one range made bad */
		bad = true;
		uint8_t how = fz_u8(&r->in) % 3;
		if (how == 0)
			res[0].size = 0;
		else if (how == 1)
			res[0].base += 8;
		else
			res[0].size = c.size + PHYSIM_FRAME_SIZE;
	}
	int rc = physim_ram_create(&c, &r->ram);
	if (bad) {
		FZ_CHECK(rc == -EINVAL);
		return false;
	}
	FZ_CHECK(rc == 0);
	r->base = c.base;
	r->nframes = nframes;
	r->debug = c.debug;
	r->poison = c.poison_byte ? c.poison_byte : PHYSIM_RAM_DEFAULT_POISON;
	r->st = calloc(nframes, 1);
	FZ_CHECK(r->st != NULL);
	for (size_t k = 0; k < c.nreserved; k++)
		memset(r->st + ((res[k].base - c.base) >> PHYSIM_FRAME_SHIFT), RESERVED,
		       res[k].size >> PHYSIM_FRAME_SHIFT);
	if (c.base_is_zero)
		r->st[0] = RESERVED; /* frame 0 is never handed out */
	FZ_CHECK(physim_ram_base(r->ram) == c.base && physim_ram_size(r->ram) == c.size);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r = {.in = {data, size}};
	if (!setup(&r))
		return 0;
	check_stats(&r);
	for (int n = 0; n < MAX_OPS && r.in.n > 0; n++) {
		switch (fz_u8(&r.in) % 8) {
		case 0:
			op_alloc_frame(&r);
			break;
		case 1:
			op_free_frame(&r);
			break;
		case 2:
			op_alloc_run(&r);
			break;
		case 3:
			op_free_run(&r);
			break;
		case 4:
			op_alloc_at(&r);
			break;
		case 5:
			op_frame(&r);
			break;
		case 6:
			op_query(&r);
			break;
		default:
			check_stats(&r);
			break;
		}
	}
	check_stats(&r);
	/* Every frame comes back, one by one, with its stamp intact. */
	for (uint64_t i = 0; i < r.nframes; i++) {
		if (r.st[i] != USED)
			continue;
		check_stamps(&r, i, 1);
		FZ_CHECK(physim_ram_free_frame(r.ram, hpa_of(&r, i)) == 0);
		FZ_CHECK(physim_ram_free_frame(r.ram, hpa_of(&r, i)) == -ENOENT);
		r.st[i] = FREE;
	}
	FZ_CHECK(physim_ram_stats(r.ram).used_frames == 0);
	check_stats(&r);
	physim_ram_destroy(r.ram);
	free(r.st);
	return 0;
}
