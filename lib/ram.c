/* SPDX-License-Identifier: MIT */
/* lib/ram.c - simulated host RAM (one anonymous MAP_NORESERVE mapping), its
 * linear phys<->virt translation and the frame allocator's policy over the
 * lock-free bitmap of bitmap.c. */
#include "ram-priv.h"
#include "bitmap-priv.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * The allocator is policy over a lock-free bitmap (bitmap.c, one bit per
 * 4 KiB frame, 1 = allocated or reserved): reserved frames are claimed in
 * it once at creation and never released; the debug modes act on frames
 * the bitmap has just handed out or is about to take back; alignment is of
 * the host-physical address, not of the frame index.
 *
 * Frames are taken and given back with one atomic read-modify-write on a
 * bitmap word each; no lock. There is no shared "next free" hint written on
 * every free (two threads would bounce its cache line): each thread
 * remembers the bitmap word it last freed a frame in or took one from, per
 * RAM, and tries that word first.
 */

enum {
	DEBUG_POISON = PHYSIM_RAM_DEBUG_POISON,
	DEBUG_PROTECT = PHYSIM_RAM_DEBUG_PROTECT,
	DEBUG_ALL = DEBUG_POISON | DEBUG_PROTECT,
	/* Not a debug mode, but it shares their slow path (config.zero_frames). */
	ZERO_FRAMES = 1u << 8,
};

/* A reserved run of frames [first, first + count), as frame indexes. */
struct frame_run {
	uint64_t first;
	uint64_t count;
};

struct physim_ram {
	struct physim_ram_hals hals;
	/* Set once a vtable pointer left the library: from then on a handle
	 * (a PhysFrame, a table) may point into this object. */
	_Atomic bool hals_handed_out;
	struct physim_ram *next_retired; /* see physim_ram_destroy */

	/* Fixed after creation. */
	uint64_t id; /* unique among all RAMs of the process: keys thread hints */
	physim_hpa_t base;
	uint64_t size;
	uint64_t nframes;
	uint64_t base_pfn;
	uint8_t *mem;  /* host-virtual address of `base` */
	void *mapping; /* the whole RAM mapping, guard pages included */
	size_t mapping_len;
	unsigned debug; /* DEBUG_* | ZERO_FRAMES: nonzero takes the slow paths */
	uint8_t poison_byte;

	struct frame_run *reserved; /* sorted, merged, frame 0 included if base is 0 */
	size_t nreserved;
	uint64_t reserved_frames;

	struct bitmap bitmap; /* bit i: frame i; its search hints on their own lines */
};

/* The level-0 word a thread tries first in one RAM: the one it last freed
 * a frame in (the next allocation most likely takes that frame back) or
 * last found room in. Initial-exec TLS: a plain %fs-relative access even in
 * the shared library, instead of a __tls_get_addr call. */
struct thread_hint {
	uint64_t ram_id; /* 0: none */
	uint64_t word;
};

#if defined(__GNUC__)
#define TLS_INITIAL_EXEC __attribute__((tls_model("initial-exec")))
#else
#define TLS_INITIAL_EXEC
#endif

static _Thread_local struct thread_hint thread_hint TLS_INITIAL_EXEC;
static _Atomic uint64_t last_ram_id;

bool physim_ram_zeroes_frames(const struct physim_ram *ram)
{
	return (ram->debug & ZERO_FRAMES) != 0;
}

struct physim_ram_hals *physim_ram_hals(struct physim_ram *ram)
{
	/* Load first: a getter called in a loop on many threads then only
	 * reads the line. */
	if (!atomic_load_explicit(&ram->hals_handed_out, memory_order_relaxed))
		atomic_store_explicit(&ram->hals_handed_out, true, memory_order_relaxed);
	return &ram->hals;
}

/* ---- frame numbers and addresses ---- */

static inline uint64_t frame_hpa(const struct physim_ram *ram, uint64_t frame)
{
	return ram->base + (frame << PHYSIM_FRAME_SHIFT);
}

static inline uint8_t *frame_hva(const struct physim_ram *ram, uint64_t frame)
{
	return ram->mem + (frame << PHYSIM_FRAME_SHIFT);
}

/* True if hpa lies inside RAM; *frame receives the frame containing it. */
static inline bool hpa_to_frame(const struct physim_ram *ram, physim_hpa_t hpa, uint64_t *frame)
{
	if (hpa < ram->base || hpa - ram->base >= ram->size)
		return false;
	*frame = (hpa - ram->base) >> PHYSIM_FRAME_SHIFT;
	return true;
}

/* [base, base + size) as frames: -EINVAL unless it is non-empty, 4 KiB
 * aligned and entirely inside RAM. */
static int range_to_frames(const struct physim_ram *ram, physim_hpa_t base, uint64_t size,
			   uint64_t *first, uint64_t *count)
{
	if (size == 0 || !physim_is_aligned(base, PHYSIM_FRAME_SIZE) ||
	    !physim_is_aligned(size, PHYSIM_FRAME_SIZE))
		return -EINVAL;
	if (base < ram->base || base - ram->base >= ram->size ||
	    size > ram->size - (base - ram->base))
		return -EINVAL;
	*first = (base - ram->base) >> PHYSIM_FRAME_SHIFT;
	*count = size >> PHYSIM_FRAME_SHIFT;
	return 0;
}

/* nframes frames as bytes, or -EINVAL for 0 or a product that overflows. */
static int frames_to_bytes(size_t nframes, uint64_t *bytes)
{
	if (nframes == 0 || (uint64_t)nframes > (UINT64_MAX >> PHYSIM_FRAME_SHIFT))
		return -EINVAL;
	*bytes = (uint64_t)nframes << PHYSIM_FRAME_SHIFT;
	return 0;
}

/* ---- reserved runs ---- */

static bool overlaps_reserved(const struct physim_ram *ram, uint64_t first, uint64_t count)
{
	/* The first run that ends after `first`; runs are sorted and disjoint. */
	size_t lo = 0, hi = ram->nreserved;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct frame_run *r = &ram->reserved[mid];
		if (r->first + r->count <= first)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ram->nreserved && ram->reserved[lo].first < first + count;
}

/* ---- claiming and releasing frames ---- */

static inline void remember_word(const struct physim_ram *ram, uint64_t idx)
{
	thread_hint = (struct thread_hint){ram->id, idx};
}

/* Slow paths kept out of line, so the fast paths that call them need no
 * register saves. */
#if defined(__GNUC__)
#define SLOW_PATH __attribute__((noinline, cold))
#else
#define SLOW_PATH
#endif

/* The thread's hint word was full (or for another RAM): let the bitmap find
 * a frame (the word its last search found room in, else the lowest free
 * frame of the RAM) and remember that word. */
static SLOW_PATH bool claim_one_searching(struct physim_ram *ram, uint64_t *frame)
{
	if (!physim_bitmap_claim_any(&ram->bitmap, frame))
		return false;
	remember_word(ram, *frame / BITOPS_WORD_BITS);
	return true;
}

/* One free frame: the thread's hint word first (usually the frame it freed
 * last), else a search. */
static inline bool claim_one(struct physim_ram *ram, uint64_t *frame)
{
	if (PHYSIM_LIKELY(thread_hint.ram_id == ram->id) &&
	    physim_bitmap_claim_in_word(&ram->bitmap, thread_hint.word, frame))
		return true;
	return claim_one_searching(ram, frame);
}

/* A single frame, no debug mode: one atomic instruction on the word. */
static int release_frame(struct physim_ram *ram, uint64_t frame)
{
	if (overlaps_reserved(ram, frame, 1) || !physim_bitmap_release_bit(&ram->bitmap, frame)) {
		physim_log_debug("ram: free of the frame at %#llx: not allocated",
				 (unsigned long long)frame_hpa(ram, frame));
		return -ENOENT;
	}
	return 0;
}

/* ---- debug modes ---- */

/* PROTECT: frames become accessible when allocated. */
static int debug_on_alloc(struct physim_ram *ram, uint64_t first, uint64_t count)
{
	if (!(ram->debug & DEBUG_PROTECT))
		return 0;
	if (mprotect(frame_hva(ram, first), count << PHYSIM_FRAME_SHIFT, PROT_READ | PROT_WRITE)) {
		physim_log_debug("ram: mprotect of %llu frames at %#llx failed: %s",
				 (unsigned long long)count,
				 (unsigned long long)frame_hpa(ram, first), strerror(errno));
		return -ENOMEM;
	}
	return 0;
}

/* POISON fills frames about to be freed; PROTECT then makes them
 * inaccessible. Both happen while the caller still owns the frames. */
static void debug_on_free(struct physim_ram *ram, uint64_t first, uint64_t count)
{
	size_t len = count << PHYSIM_FRAME_SHIFT;
	if (ram->debug & DEBUG_POISON)
		memset(frame_hva(ram, first), ram->poison_byte, len);
	if ((ram->debug & DEBUG_PROTECT) && mprotect(frame_hva(ram, first), len, PROT_NONE))
		physim_log_warn("ram: cannot protect freed frames at %#llx: %s",
				(unsigned long long)frame_hpa(ram, first), strerror(errno));
}

/* ZERO_FRAMES: the run reads as zero. memset, not MADV_DONTNEED (the
 * mapping is MAP_PRIVATE | MAP_ANONYMOUS, so dropped pages would read as
 * zero): measured on the development host, madvise alone cost 5-40 times a memset of
 * the same run at every size from 16 KiB to 16 MiB, and the refault on the
 * next touch costs far more again. */
static void zero_run(struct physim_ram *ram, uint64_t first, uint64_t count)
{
	memset(frame_hva(ram, first), 0, count << PHYSIM_FRAME_SHIFT);
}

/* ---- allocation API ---- */

/* Hand out frames [first, first + count), already claimed in the bitmap.
 * Only the debug modes and zero_frames need it: out of line, so that the
 * single-frame fast path needs no extra register saves. */
static SLOW_PATH int finish_alloc(struct physim_ram *ram, uint64_t first, uint64_t count)
{
	int rc = debug_on_alloc(ram, first, count);
	if (rc < 0) {
		(void)physim_bitmap_release_run(&ram->bitmap, first, count);
		return rc;
	}
	if (ram->debug & ZERO_FRAMES)
		zero_run(ram, first, count);
	return 0;
}

static int free_run(struct physim_ram *ram, uint64_t first, uint64_t count)
{
	if (overlaps_reserved(ram, first, count) ||
	    !physim_bitmap_all_set(&ram->bitmap, first, count)) {
		physim_log_debug("ram: free of %llu frames at %#llx: not allocated",
				 (unsigned long long)count,
				 (unsigned long long)frame_hpa(ram, first));
		return -ENOENT;
	}
	debug_on_free(ram, first, count);
	if (!physim_bitmap_release_run(&ram->bitmap, first, count)) {
		(void)debug_on_alloc(ram, first, count);
		return -ENOENT;
	}
	return 0;
}

int physim_ram_alloc_frame(struct physim_ram *ram, physim_hpa_t *hpa)
{
	uint64_t frame;
	if (ram == NULL || hpa == NULL)
		return -EINVAL;
	if (!claim_one(ram, &frame))
		return -ENOMEM;
	if (PHYSIM_UNLIKELY(ram->debug != 0)) {
		int rc = finish_alloc(ram, frame, 1);
		if (rc < 0)
			return rc;
	}
	*hpa = frame_hpa(ram, frame);
	return 0;
}

int physim_ram_free_frame(struct physim_ram *ram, physim_hpa_t hpa)
{
	uint64_t frame;
	if (ram == NULL || !physim_is_aligned(hpa, PHYSIM_FRAME_SIZE) ||
	    !hpa_to_frame(ram, hpa, &frame))
		return -EINVAL;
	int rc =
	    PHYSIM_LIKELY(ram->debug == 0) ? release_frame(ram, frame) : free_run(ram, frame, 1);
	/* The next allocation of this thread will most likely take it back. */
	if (rc == 0)
		remember_word(ram, frame / BITOPS_WORD_BITS);
	return rc;
}

int physim_ram_alloc_frames(struct physim_ram *ram, size_t nframes, uint64_t align_bytes,
			    physim_hpa_t *hpa)
{
	uint64_t bytes;
	if (ram == NULL || hpa == NULL || frames_to_bytes(nframes, &bytes) < 0 ||
	    !physim_is_pow2(align_bytes) || align_bytes < PHYSIM_FRAME_SIZE)
		return -EINVAL;
	if (nframes == 1 && align_bytes == PHYSIM_FRAME_SIZE)
		return physim_ram_alloc_frame(ram, hpa);

	/* Align the address: frame f is at pfn base_pfn + f. */
	uint64_t first;
	if (!physim_bitmap_claim_free_run(&ram->bitmap, nframes, align_bytes >> PHYSIM_FRAME_SHIFT,
					  ram->base_pfn, &first)) {
		physim_log_debug("ram: no %zu free frames aligned to %#llx", nframes,
				 (unsigned long long)align_bytes);
		return -ENOMEM;
	}
	int rc = finish_alloc(ram, first, nframes);
	if (rc < 0)
		return rc;
	*hpa = frame_hpa(ram, first);
	return 0;
}

int physim_ram_free_frames(struct physim_ram *ram, physim_hpa_t hpa, size_t nframes)
{
	uint64_t bytes, first, count;
	if (ram == NULL || frames_to_bytes(nframes, &bytes) < 0 ||
	    range_to_frames(ram, hpa, bytes, &first, &count) < 0)
		return -EINVAL;
	return free_run(ram, first, count);
}

int physim_ram_alloc_at(struct physim_ram *ram, physim_hpa_t base, uint64_t size)
{
	uint64_t first, count;
	if (ram == NULL || range_to_frames(ram, base, size, &first, &count) < 0)
		return -EINVAL;
	if (!physim_bitmap_claim_run(&ram->bitmap, first, count))
		return -EBUSY;
	return finish_alloc(ram, first, count);
}

int physim_ram_free_at(struct physim_ram *ram, physim_hpa_t base, uint64_t size)
{
	uint64_t first, count;
	if (ram == NULL || range_to_frames(ram, base, size, &first, &count) < 0)
		return -EINVAL;
	return free_run(ram, first, count);
}

int physim_ram_frame_in_use(const struct physim_ram *ram, physim_hpa_t hpa)
{
	uint64_t frame;
	if (ram == NULL || !hpa_to_frame(ram, hpa, &frame))
		return -EINVAL;
	return physim_bitmap_test(&ram->bitmap, frame) ? 1 : 0;
}

struct physim_ram_stats physim_ram_stats(const struct physim_ram *ram)
{
	struct physim_ram_stats s = {0};
	if (ram == NULL)
		return s;
	s.total_frames = ram->nframes;
	s.reserved_frames = ram->reserved_frames;
	s.used_frames = physim_bitmap_count_set(&ram->bitmap) - ram->reserved_frames;
	s.free_frames = s.total_frames - s.reserved_frames - s.used_frames;
	return s;
}

/* ---- translation ---- */

physim_hpa_t physim_ram_base(const struct physim_ram *ram)
{
	return ram ? ram->base : 0;
}

uint64_t physim_ram_size(const struct physim_ram *ram)
{
	return ram ? ram->size : 0;
}

struct physim_direct_map physim_ram_direct_map(const struct physim_ram *ram)
{
	if (ram == NULL)
		return (struct physim_direct_map){0};
	return (struct physim_direct_map){.base = ram->base, .size = ram->size, .hva = ram->mem};
}

int physim_ram_phys_to_virt(const struct physim_ram *ram, physim_hpa_t hpa, void **hva)
{
	if (ram == NULL || hva == NULL)
		return -EINVAL;
	if (hpa < ram->base || hpa - ram->base >= ram->size)
		return -EFAULT;
	*hva = ram->mem + (hpa - ram->base);
	return 0;
}

int physim_ram_virt_to_phys(const struct physim_ram *ram, const void *hva, physim_hpa_t *hpa)
{
	if (ram == NULL || hpa == NULL)
		return -EINVAL;
	uintptr_t p = (uintptr_t)hva, start = (uintptr_t)ram->mem;
	if (p < start || p - start >= ram->size)
		return -EFAULT;
	*hpa = ram->base + (p - start);
	return 0;
}

/* ---- creation ---- */

/* Fill in defaults and check the config; -EINVAL if it is bad. */
static int resolve_config(struct physim_ram_config *c)
{
	if (c->base_is_zero && c->base != 0)
		return -EINVAL;
	if (!c->base_is_zero && c->base == 0)
		c->base = PHYSIM_RAM_DEFAULT_BASE;
	if (c->size == 0)
		c->size = PHYSIM_RAM_DEFAULT_SIZE;
	if (c->poison_byte == 0)
		c->poison_byte = PHYSIM_RAM_DEFAULT_POISON;
	if (!physim_is_aligned(c->base, PHYSIM_FRAME_SIZE) ||
	    !physim_is_aligned(c->size, PHYSIM_FRAME_SIZE) || !physim_range_ok(c->base, c->size))
		return -EINVAL;
	if (((unsigned)c->debug & ~(unsigned)DEBUG_ALL) != 0)
		return -EINVAL;
	if (c->nreserved != 0 && c->reserved == NULL)
		return -EINVAL;
	for (size_t i = 0; i < c->nreserved; i++) {
		const struct physim_ram_range *r = &c->reserved[i];
		if (r->size == 0 || !physim_is_aligned(r->base, PHYSIM_FRAME_SIZE) ||
		    !physim_is_aligned(r->size, PHYSIM_FRAME_SIZE) || r->base < c->base ||
		    r->base - c->base >= c->size || r->size > c->size - (r->base - c->base))
			return -EINVAL;
	}
	return 0;
}

static int compare_runs(const void *a, const void *b)
{
	const struct frame_run *x = a, *y = b;
	return (x->first > y->first) - (x->first < y->first);
}

/* The reserved ranges (and frame 0 when RAM starts at 0) as sorted,
 * merged frame runs. */
static int build_reserved(struct physim_ram *ram, const struct physim_ram_config *c)
{
	size_t n = c->nreserved + (ram->base == 0);
	if (n == 0)
		return 0;
	struct frame_run *runs = calloc(n, sizeof(*runs));
	if (runs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < c->nreserved; i++)
		runs[i] =
		    (struct frame_run){(c->reserved[i].base - ram->base) >> PHYSIM_FRAME_SHIFT,
				       c->reserved[i].size >> PHYSIM_FRAME_SHIFT};
	if (ram->base == 0)
		runs[c->nreserved] = (struct frame_run){0, 1};
	qsort(runs, n, sizeof(*runs), compare_runs);

	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		struct frame_run *last = out ? &runs[out - 1] : NULL;
		if (last && runs[i].first <= last->first + last->count) {
			uint64_t end = runs[i].first + runs[i].count;
			if (end > last->first + last->count)
				last->count = end - last->first;
		} else {
			runs[out++] = runs[i];
		}
	}
	ram->reserved = runs;
	ram->nreserved = out;
	for (size_t i = 0; i < out; i++)
		ram->reserved_frames += runs[i].count;
	return 0;
}

static int map_ram(struct physim_ram *ram, const struct physim_ram_config *c)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t guard = c->guard_pages ? page : 0;
	if ((ram->debug & DEBUG_PROTECT) && page != PHYSIM_FRAME_SIZE) {
		physim_log_error("ram: DEBUG_PROTECT needs 4 KiB host pages (have %zu)", page);
		return -EINVAL;
	}
	if (c->size > SIZE_MAX - 2 * guard)
		return -ENOMEM;
	ram->mapping_len = c->size + 2 * guard;

	/* PROTECT: every frame starts free, hence inaccessible; so do guards. */
	bool all_none = guard != 0 || (ram->debug & DEBUG_PROTECT);
	void *m = mmap(NULL, ram->mapping_len, all_none ? PROT_NONE : PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		physim_log_debug("ram: mmap of %zu bytes failed: %s", ram->mapping_len,
				 strerror(errno));
		return -ENOMEM;
	}
	ram->mapping = m;
	ram->mem = (uint8_t *)m + guard;
	if (all_none && !(ram->debug & DEBUG_PROTECT) &&
	    mprotect(ram->mem, c->size, PROT_READ | PROT_WRITE) != 0)
		return -ENOMEM;
	if (c->huge_pages && madvise(ram->mem, c->size, MADV_HUGEPAGE) != 0)
		physim_log_debug("ram: madvise(MADV_HUGEPAGE) failed: %s", strerror(errno));
	return 0;
}

/* The frame bitmap, with the reserved frames claimed. */
static int map_bitmap(struct physim_ram *ram)
{
	int rc = physim_bitmap_init(&ram->bitmap, ram->nframes);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < ram->nreserved; i++)
		(void)physim_bitmap_claim_run(&ram->bitmap, ram->reserved[i].first,
					      ram->reserved[i].count);
	return 0;
}

/* ---- destruction ---- */

/*
 * The vtables of a RAM destroyed with frames still allocated. A PhysFrame
 * holds a pointer to its mm_hal, a page table or an address space one to its
 * paging handler, so a drop after the destroy (a scoped frame whose scope
 * ends after the destroy call) reads these. Such a RAM is kept as a husk
 * with these vtables: its memory and bitmap are gone, so freeing is a no-op
 * (the frame went with its RAM), allocating fails and nothing translates.
 */
static int retired_alloc_frame(void *ctx, physim_hpa_t *hpa)
{
	(void)ctx;
	(void)hpa;
	physim_log_error("ram: allocation from a destroyed RAM");
	return -EINVAL;
}

static int retired_alloc_frames(void *ctx, size_t nframes, uint64_t align_bytes, physim_hpa_t *hpa)
{
	(void)nframes;
	(void)align_bytes;
	return retired_alloc_frame(ctx, hpa);
}

static int retired_alloc_contiguous(void *ctx, size_t nframes, unsigned align_log2,
				    physim_hpa_t *hpa)
{
	(void)nframes;
	(void)align_log2;
	return retired_alloc_frame(ctx, hpa);
}

static int retired_dealloc_frame(void *ctx, physim_hpa_t hpa)
{
	(void)ctx;
	(void)hpa;
	return 0;
}

static int retired_dealloc_frames(void *ctx, physim_hpa_t hpa, size_t nframes)
{
	(void)ctx;
	(void)hpa;
	(void)nframes;
	return 0;
}

static void *retired_phys_to_virt(void *ctx, physim_hpa_t hpa)
{
	(void)ctx;
	(void)hpa;
	return NULL;
}

static physim_hpa_t retired_virt_to_phys(void *ctx, const void *hva)
{
	(void)ctx;
	(void)hva;
	return 0;
}

/* Husks are never freed (a handle may be dropped at any time); the list
 * keeps them reachable, so leak checkers do not report them. */
static _Atomic(struct physim_ram *) retired_rams;

static void retire(struct physim_ram *ram)
{
	struct physim_ram_hals *h = &ram->hals;
	h->mm = (struct physim_mm_hal){
	    .ctx = ram,
	    .alloc_frame = retired_alloc_frame,
	    .dealloc_frame = retired_dealloc_frame,
	    .phys_to_virt = retired_phys_to_virt,
	    .virt_to_phys = retired_virt_to_phys,
	};
	h->paging = (struct physim_paging_handler){
	    .ctx = ram,
	    .alloc_frame = retired_alloc_frame,
	    .alloc_frames = retired_alloc_frames,
	    .dealloc_frame = retired_dealloc_frame,
	    .dealloc_frames = retired_dealloc_frames,
	    .phys_to_virt = retired_phys_to_virt,
	    .direct = {0}, /* no direct map: the memory is gone */
	};
	h->memory_if = (struct physim_memory_if){
	    .ctx = ram,
	    .alloc_frame = retired_alloc_frame,
	    .alloc_contiguous_frames = retired_alloc_contiguous,
	    .dealloc_frame = retired_dealloc_frame,
	    .dealloc_contiguous_frames = retired_dealloc_frames,
	    .phys_to_virt = retired_phys_to_virt,
	    .virt_to_phys = retired_virt_to_phys,
	};
	/* A vm_hal copy calls ram.c with ctx = ram: with no addresses left,
	 * every range check fails before the bitmap is read. */
	ram->size = 0;
	ram->nframes = 0;
	ram->mem = NULL;
	/* An empty bitmap (already unmapped): stats read no word and count 0. */
	memset(&ram->bitmap, 0, sizeof(ram->bitmap));
	ram->reserved_frames = 0;
	ram->mapping = NULL;
	ram->reserved = NULL;
	ram->nreserved = 0;
	ram->next_retired = atomic_load(&retired_rams);
	while (!atomic_compare_exchange_weak(&retired_rams, &ram->next_retired, ram))
		;
}

void physim_ram_destroy(struct physim_ram *ram)
{
	if (ram == NULL)
		return;
	/* The bitmap is unmapped only when creation failed before it existed. */
	uint64_t live = ram->bitmap.mem ? physim_ram_stats(ram).used_frames : 0;
	bool handed_out = atomic_load(&ram->hals_handed_out);
	if (live != 0 && handed_out)
		physim_log_error("ram: destroyed with %llu frames still allocated; they are gone "
				 "with it (dropping a PhysFrame that held one does nothing; "
				 "destroy tables and address spaces before their RAM)",
				 (unsigned long long)live);
	else if (live != 0)
		physim_log_debug("ram: destroyed with %llu frames still allocated",
				 (unsigned long long)live);
	physim_bitmap_fini(&ram->bitmap);
	if (ram->mapping)
		munmap(ram->mapping, ram->mapping_len);
	free(ram->reserved);
	if (live != 0 && handed_out)
		retire(ram);
	else
		free(ram);
}

int physim_ram_create(const struct physim_ram_config *config, struct physim_ram **out)
{
	if (out == NULL)
		return -EINVAL;
	struct physim_ram_config c = config ? *config : (struct physim_ram_config){0};
	int rc = resolve_config(&c);
	if (rc < 0)
		return rc;

	struct physim_ram *ram = aligned_alloc(alignof(struct physim_ram), sizeof(*ram));
	if (ram == NULL)
		return -ENOMEM;
	memset(ram, 0, sizeof(*ram));
	ram->id = atomic_fetch_add(&last_ram_id, 1) + 1;
	ram->base = c.base;
	ram->size = c.size;
	ram->nframes = c.size >> PHYSIM_FRAME_SHIFT;
	ram->base_pfn = c.base >> PHYSIM_FRAME_SHIFT;
	ram->debug = (unsigned)c.debug | (c.zero_frames ? ZERO_FRAMES : 0u);
	ram->poison_byte = c.poison_byte;

	rc = build_reserved(ram, &c);
	if (rc == 0)
		rc = map_ram(ram, &c);
	if (rc == 0)
		rc = map_bitmap(ram);
	if (rc < 0) {
		physim_ram_destroy(ram);
		return rc;
	}
	physim_ram_hals_init(&ram->hals, ram);
	physim_log_debug("ram: %llu KiB at %#llx, %zu reserved runs, %u bitmap levels (%zu KiB "
			 "virtual)",
			 (unsigned long long)(c.size >> 10), (unsigned long long)c.base,
			 ram->nreserved, ram->bitmap.nlevels, ram->bitmap.mem_len >> 10);
	*out = ram;
	return 0;
}
