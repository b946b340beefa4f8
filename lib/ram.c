/* lib/ram.c - simulated host RAM (one anonymous MAP_NORESERVE mapping), its
 * linear phys<->virt translation and a lock-free bitmap frame allocator. */
#include "ram-priv.h"
#include "bitops.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * The allocator keeps one bit per 4 KiB frame (1 = allocated or reserved) in
 * level 0 of a small tree of bitmaps. Bit i of level k + 1 is 1 when word i
 * of level k is full, so a search skips 64 full words with one load per
 * level and never looks at more than a few words however big the RAM is.
 * Zero means free at every level: the bitmap lives in untouched
 * MAP_NORESERVE memory and only the words that hold a set bit get pages.
 * Bits past the end of a level (the last word's tail) are set, so "full"
 * is simply "all 64 bits set".
 *
 * Frames are taken and given back with CAS on level-0 words; no lock. The
 * summary bits follow with the protocol in note_full() / note_not_full().
 * Between those steps a summary bit may briefly claim a word is full while
 * it is not (a concurrent search may then miss that word and report
 * -ENOMEM), or claim a full word has room (a search looks and moves on); once
 * every call has returned the summaries are exact.
 *
 * There is no shared counter to update on each call (it would double the
 * cost of a single-frame allocation): statistics count the set bits of the
 * bitmap pages that were ever written, which a "touched" bitmap records.
 */

#define RAM_MAX_LEVELS 10 /* 2^52 frames need 9 levels of 64-way fan-out */
#define NO_INDEX       UINT64_MAX
#define TOUCH_GROUP    512 /* level-0 words per "touched" bit: 4 KiB of bitmap */

enum {
	DEBUG_POISON = PHYSIM_RAM_DEBUG_POISON,
	DEBUG_PROTECT = PHYSIM_RAM_DEBUG_PROTECT,
	DEBUG_ALL = DEBUG_POISON | DEBUG_PROTECT,
};

/* A reserved run of frames [first, first + count), as frame indexes. */
struct frame_run {
	uint64_t first;
	uint64_t count;
};

struct physim_ram {
	struct physim_ram_hals hals;

	/* Fixed after creation. */
	physim_hpa_t base;
	uint64_t size;
	uint64_t nframes;
	uint64_t base_pfn;
	uint8_t *mem;  /* host-virtual address of `base` */
	void *mapping; /* the whole RAM mapping, guard pages included */
	size_t mapping_len;
	unsigned debug;
	uint8_t poison_byte;

	struct frame_run *reserved; /* sorted, merged, frame 0 included if base is 0 */
	size_t nreserved;
	uint64_t reserved_frames;

	unsigned nlevels; /* level nlevels - 1 is a single word */
	_Atomic uint64_t *level[RAM_MAX_LEVELS];
	uint64_t level_bits[RAM_MAX_LEVELS];
	_Atomic uint64_t *touched; /* bit g: level-0 words [g * 512, +512) were written */
	void *bitmap;
	size_t bitmap_len;

	/* Written on allocations and frees: kept off the read-mostly lines. */
	alignas(64) _Atomic uint64_t hint_word; /* level-0 word tried first */
};

struct physim_ram_hals *physim_ram_hals(struct physim_ram *ram)
{
	return &ram->hals;
}

/* ---- frame numbers and addresses ---- */

/* Words needed for nbits bits. */
static inline uint64_t words_for(uint64_t nbits)
{
	return (nbits + BITOPS_WORD_BITS - 1) / BITOPS_WORD_BITS;
}

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

/* Smallest frame index >= frame whose host-physical address is a multiple
 * of align_frames frames (a power of two). Alignment is of the address, not
 * of the index: the RAM may start at any 4 KiB boundary. */
static inline uint64_t align_frame_up(const struct physim_ram *ram, uint64_t frame,
				      uint64_t align_frames)
{
	return physim_align_up(ram->base_pfn + frame, align_frames) - ram->base_pfn;
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

/* ---- summary levels ---- */

static void note_not_full(struct physim_ram *ram, unsigned k, uint64_t idx);

/*
 * Word idx of level k has just been seen full: say so one level up. A free
 * may have slipped in since; its own clearing of the summary bit may even
 * have come before our setting it. So, after setting the bit, look at the
 * word again (all sequentially consistent): if it has room now, clear the
 * bit ourselves. Either that look sees the free, or the free's clearing
 * comes after our setting in the bit's order; a free frame never stays
 * hidden. Filling the summary word carries the same step one level up.
 */
static void note_full(struct physim_ram *ram, unsigned k, uint64_t idx)
{
	for (; k + 1 < ram->nlevels; k++, idx /= BITOPS_WORD_BITS) {
		uint64_t bit = UINT64_C(1) << (idx % BITOPS_WORD_BITS);
		uint64_t before = bitops_set_bits(&ram->level[k + 1][idx / BITOPS_WORD_BITS], bit);
		if (atomic_load(&ram->level[k][idx]) != BITOPS_FULL) {
			note_not_full(ram, k, idx);
			return;
		}
		/* Only the caller that filled the summary word carries on. */
		if ((before & bit) != 0 || (before | bit) != BITOPS_FULL)
			return;
	}
}

/* Word idx of level k has just gone from full to having room: clear its
 * summary bit, and upwards while that un-fills a full summary word. */
static void note_not_full(struct physim_ram *ram, unsigned k, uint64_t idx)
{
	for (; k + 1 < ram->nlevels; k++, idx /= BITOPS_WORD_BITS) {
		uint64_t bit = UINT64_C(1) << (idx % BITOPS_WORD_BITS);
		uint64_t before =
		    bitops_clear_bits(&ram->level[k + 1][idx / BITOPS_WORD_BITS], bit);
		if (before != BITOPS_FULL)
			return;
	}
}

/* Level-0 word idx has just had its first bit set (it was 0): remember that
 * its page of the bitmap is no longer all zero. Usually the touched bit is
 * set already and this is one plain load. */
static inline void note_touched(struct physim_ram *ram, uint64_t idx)
{
	uint64_t group = idx / TOUCH_GROUP;
	_Atomic uint64_t *w = &ram->touched[group / BITOPS_WORD_BITS];
	uint64_t bit = UINT64_C(1) << (group % BITOPS_WORD_BITS);
	if ((atomic_load_explicit(w, memory_order_relaxed) & bit) == 0)
		bitops_set_bits(w, bit);
}

/* Set bits of level 0 (allocated, reserved and tail bits alike), counted
 * over the bitmap pages ever written. */
static uint64_t count_level0_bits(const struct physim_ram *ram)
{
	uint64_t nwords = words_for(ram->nframes);
	uint64_t ngroups = (nwords + TOUCH_GROUP - 1) / TOUCH_GROUP;
	uint64_t total = 0;
	for (uint64_t t = 0; t * BITOPS_WORD_BITS < ngroups; t++) {
		uint64_t groups = atomic_load(&ram->touched[t]);
		for (; groups != 0; groups &= groups - 1) {
			uint64_t first = (t * BITOPS_WORD_BITS + bitops_ctz(groups)) * TOUCH_GROUP;
			uint64_t end = first + TOUCH_GROUP < nwords ? first + TOUCH_GROUP : nwords;
			for (uint64_t i = first; i < end; i++)
				total += bitops_popcount(
				    atomic_load_explicit(&ram->level[0][i], memory_order_relaxed));
		}
	}
	return total;
}

/* ---- searching ---- */

/*
 * The lowest bit index >= pos of level k that is clear, or NO_INDEX. When
 * the rest of a word is full, the level above names the next word with
 * room. Loads are relaxed: a result is only a candidate, which the caller
 * claims with a CAS.
 */
static uint64_t find_clear_from(const struct physim_ram *ram, unsigned k, uint64_t pos)
{
	while (pos < ram->level_bits[k]) {
		uint64_t idx = pos / BITOPS_WORD_BITS;
		uint64_t word = atomic_load_explicit(&ram->level[k][idx], memory_order_relaxed);
		unsigned bit = bitops_find_zero_from(word, (unsigned)(pos % BITOPS_WORD_BITS));
		if (bit < BITOPS_WORD_BITS)
			return idx * BITOPS_WORD_BITS + bit; /* tail bits are set: real */
		if (k + 1 == ram->nlevels)
			return NO_INDEX;
		uint64_t next = find_clear_from(ram, k + 1, idx + 1);
		if (next == NO_INDEX)
			return NO_INDEX;
		pos = next * BITOPS_WORD_BITS;
	}
	return NO_INDEX;
}

/* The first allocated frame in [first, end), or end if all are free. */
static uint64_t find_used_in(const struct physim_ram *ram, uint64_t first, uint64_t end)
{
	for (uint64_t p = first; p < end;) {
		uint64_t idx;
		uint64_t mask = bitops_range_step(&p, end, &idx);
		uint64_t word = atomic_load_explicit(&ram->level[0][idx], memory_order_relaxed);
		if ((word & mask) != 0)
			return idx * BITOPS_WORD_BITS + bitops_ctz(word & mask);
	}
	return end;
}

static bool range_all_used(const struct physim_ram *ram, uint64_t first, uint64_t count)
{
	for (uint64_t p = first, end = first + count; p < end;) {
		uint64_t idx;
		uint64_t mask = bitops_range_step(&p, end, &idx);
		if ((atomic_load(&ram->level[0][idx]) & mask) != mask)
			return false;
	}
	return true;
}

/* The lowest run of count free frames whose first address is a multiple of
 * align_frames frames, or NO_INDEX. */
static uint64_t find_free_run(const struct physim_ram *ram, uint64_t count, uint64_t align_frames)
{
	uint64_t pos = 0;
	for (;;) {
		uint64_t candidate = find_clear_from(ram, 0, pos);
		if (candidate == NO_INDEX)
			return NO_INDEX;
		uint64_t start = align_frame_up(ram, candidate, align_frames);
		if (start >= ram->nframes || ram->nframes - start < count)
			return NO_INDEX;
		uint64_t used = find_used_in(ram, start, start + count);
		if (used == start + count)
			return start;
		pos = used + 1;
	}
}

/* ---- claiming and releasing bits ---- */

/* Take the lowest free frame of level-0 word idx; false if it is full. */
static bool claim_in_word(struct physim_ram *ram, uint64_t idx, uint64_t *frame)
{
	unsigned bit;
	uint64_t after;
	if (!bitops_claim_lowest_zero(&ram->level[0][idx], &bit, &after))
		return false;
	if (after == UINT64_C(1) << bit)
		note_touched(ram, idx);
	if (after == BITOPS_FULL)
		note_full(ram, 0, idx);
	*frame = idx * BITOPS_WORD_BITS + bit;
	return true;
}

/* One free frame: the hint word first (a just-freed frame, usually), else
 * the lowest free frame of the RAM. */
static bool claim_one(struct physim_ram *ram, uint64_t *frame)
{
	uint64_t hint = atomic_load_explicit(&ram->hint_word, memory_order_relaxed);
	if (claim_in_word(ram, hint, frame))
		return true;
	for (uint64_t f = find_clear_from(ram, 0, 0); f != NO_INDEX;
	     f = find_clear_from(ram, 0, f)) {
		uint64_t idx = f / BITOPS_WORD_BITS;
		if (claim_in_word(ram, idx, frame)) {
			atomic_store_explicit(&ram->hint_word, idx, memory_order_relaxed);
			return true;
		}
	}
	return false;
}

/* Clear the bits of [first, end), which this caller owns. */
static void unclaim(struct physim_ram *ram, uint64_t first, uint64_t end)
{
	for (uint64_t p = first; p < end;) {
		uint64_t idx;
		uint64_t mask = bitops_range_step(&p, end, &idx);
		if (bitops_clear_bits(&ram->level[0][idx], mask) == BITOPS_FULL)
			note_not_full(ram, 0, idx);
	}
}

/* Set the bits of [first, first + count) if all are clear, word by word;
 * on a conflict give back what was taken and return false. */
static bool claim_range(struct physim_ram *ram, uint64_t first, uint64_t count)
{
	for (uint64_t p = first, end = first + count; p < end;) {
		uint64_t idx, after, start = p;
		uint64_t mask = bitops_range_step(&p, end, &idx);
		if (!bitops_try_set_mask(&ram->level[0][idx], mask, &after)) {
			unclaim(ram, first, start);
			return false;
		}
		if (after == mask)
			note_touched(ram, idx);
		if (after == BITOPS_FULL)
			note_full(ram, 0, idx);
	}
	return true;
}

/* Clear the bits of [first, first + count) if all are set. Callers check
 * first, so a conflict means another thread freed some of these frames at
 * the same moment (a double free); the words already cleared are then
 * taken back, which fails only if a third thread allocated them meanwhile. */
static bool release_range(struct physim_ram *ram, uint64_t first, uint64_t count)
{
	for (uint64_t p = first, end = first + count; p < end;) {
		uint64_t idx, before, start = p;
		uint64_t mask = bitops_range_step(&p, end, &idx);
		if (!bitops_try_clear_mask(&ram->level[0][idx], mask, &before)) {
			if (start > first && !claim_range(ram, first, start - first))
				physim_log_error("ram: racing double free of frames at %#llx",
						 (unsigned long long)frame_hpa(ram, first));
			return false;
		}
		if (before == BITOPS_FULL)
			note_not_full(ram, 0, idx);
	}
	return true;
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

/* ---- allocation API ---- */

/* Hand out frames [first, first + count), already claimed in the bitmap. */
static int finish_alloc(struct physim_ram *ram, uint64_t first, uint64_t count)
{
	int rc = debug_on_alloc(ram, first, count);
	if (rc < 0)
		unclaim(ram, first, first + count);
	return rc;
}

static int free_run(struct physim_ram *ram, uint64_t first, uint64_t count)
{
	if (overlaps_reserved(ram, first, count) || !range_all_used(ram, first, count)) {
		physim_log_debug("ram: free of %llu frames at %#llx: not allocated",
				 (unsigned long long)count,
				 (unsigned long long)frame_hpa(ram, first));
		return -ENOENT;
	}
	debug_on_free(ram, first, count);
	if (!release_range(ram, first, count)) {
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
	int rc = finish_alloc(ram, frame, 1);
	if (rc < 0)
		return rc;
	*hpa = frame_hpa(ram, frame);
	return 0;
}

int physim_ram_free_frame(struct physim_ram *ram, physim_hpa_t hpa)
{
	uint64_t frame;
	if (ram == NULL || !physim_is_aligned(hpa, PHYSIM_FRAME_SIZE) ||
	    !hpa_to_frame(ram, hpa, &frame))
		return -EINVAL;
	int rc = free_run(ram, frame, 1);
	if (rc == 0) {
		/* The next allocation will most likely find this frame. */
		uint64_t idx = frame / BITOPS_WORD_BITS;
		if (atomic_load_explicit(&ram->hint_word, memory_order_relaxed) != idx)
			atomic_store_explicit(&ram->hint_word, idx, memory_order_relaxed);
	}
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

	uint64_t start;
	do {
		start = find_free_run(ram, nframes, align_bytes >> PHYSIM_FRAME_SHIFT);
		if (start == NO_INDEX) {
			physim_log_debug("ram: no %zu free frames aligned to %#llx", nframes,
					 (unsigned long long)align_bytes);
			return -ENOMEM;
		}
		/* A conflict means another thread took part of the run first. */
	} while (!claim_range(ram, start, nframes));

	int rc = finish_alloc(ram, start, nframes);
	if (rc < 0)
		return rc;
	*hpa = frame_hpa(ram, start);
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
	if (!claim_range(ram, first, count))
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
	uint64_t word = atomic_load(&ram->level[0][frame / BITOPS_WORD_BITS]);
	return (int)((word >> (frame % BITOPS_WORD_BITS)) & 1);
}

struct physim_ram_stats physim_ram_stats(const struct physim_ram *ram)
{
	struct physim_ram_stats s = {0};
	if (ram == NULL)
		return s;
	uint64_t tail_bits = words_for(ram->nframes) * BITOPS_WORD_BITS - ram->nframes;
	s.total_frames = ram->nframes;
	s.reserved_frames = ram->reserved_frames;
	s.used_frames = count_level0_bits(ram) - tail_bits - ram->reserved_frames;
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

/* Reserve (untouched) memory for every level and the touched bitmap; set
 * the tail bits past the end of each level and the reserved frames' bits. */
static int map_bitmap(struct physim_ram *ram)
{
	uint64_t bits = ram->nframes, words_total = 0;
	unsigned k = 0;
	for (;; k++) {
		ram->level_bits[k] = bits;
		words_total += words_for(bits);
		if (words_for(bits) == 1)
			break;
		bits = words_for(bits);
	}
	ram->nlevels = k + 1;
	uint64_t touched_words =
	    words_for((words_for(ram->nframes) + TOUCH_GROUP - 1) / TOUCH_GROUP);
	words_total += touched_words;

	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	ram->bitmap_len = physim_align_up(words_total * sizeof(uint64_t), page);
	void *m = mmap(NULL, ram->bitmap_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	ram->bitmap = m;
	/* A huge page would make the first bit set cost 2 MiB of RSS. */
	(void)madvise(m, ram->bitmap_len, MADV_NOHUGEPAGE);

	_Atomic uint64_t *w = m;
	ram->touched = w;
	w += touched_words;
	for (k = 0; k < ram->nlevels; k++) {
		ram->level[k] = w;
		w += words_for(ram->level_bits[k]);
	}
	for (k = 0; k < ram->nlevels; k++) {
		uint64_t nbits = ram->level_bits[k];
		if (nbits % BITOPS_WORD_BITS == 0)
			continue;
		if (k == 0)
			note_touched(ram, nbits / BITOPS_WORD_BITS);
		bitops_set_bits(&ram->level[k][nbits / BITOPS_WORD_BITS],
				bitops_mask_from((unsigned)(nbits % BITOPS_WORD_BITS)));
	}
	for (size_t i = 0; i < ram->nreserved; i++)
		claim_range(ram, ram->reserved[i].first, ram->reserved[i].count);
	return 0;
}

void physim_ram_destroy(struct physim_ram *ram)
{
	if (ram == NULL)
		return;
	if (ram->bitmap)
		munmap(ram->bitmap, ram->bitmap_len);
	if (ram->mapping)
		munmap(ram->mapping, ram->mapping_len);
	free(ram->reserved);
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
	ram->base = c.base;
	ram->size = c.size;
	ram->nframes = c.size >> PHYSIM_FRAME_SHIFT;
	ram->base_pfn = c.base >> PHYSIM_FRAME_SHIFT;
	ram->debug = (unsigned)c.debug;
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
			 ram->nreserved, ram->nlevels, ram->bitmap_len >> 10);
	*out = ram;
	return 0;
}
