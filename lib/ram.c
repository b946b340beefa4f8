/* SPDX-License-Identifier: MIT */
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
 * level 0 of a small tree of bitmaps. Bit i of level k + 1 is a summary bit:
 * when set, word i of level k is full, so a search skips 64 full words with
 * one load per level and never looks at more than a few words however big
 * the RAM is. Zero means free at every level: the bitmap lives in untouched
 * MAP_NORESERVE memory and only the words that hold a set bit get pages.
 * Bits past the end of a level (the last word's tail) are set, so "full"
 * is simply "all 64 bits set".
 *
 * Frames are taken and given back with one atomic read-modify-write on a
 * level-0 word each; no lock. A locked instruction is most of the cost of a
 * call, so the summary bits are kept LAZILY: a set bit means "full" (but for
 * the moments described below), a clear bit only "maybe has room".
 *  - Filling a word by taking a single frame leaves its summary bit alone.
 *    A search that meets a full word whose bit is clear sets the bit, then
 *    reads the word again and clears the bit if it has room (mark_full).
 *  - Freeing a frame clears its bit in the word, then loads the summary bit
 *    and clears it only if it is set (note_room).
 * All of these are sequentially consistent, so of "set summary, read word"
 * and "clear word bit, read summary" at least one side sees the other: a
 * freed frame never stays hidden behind a summary bit once every call has
 * returned. While a free or a marking runs, a summary bit may cover a word
 * with room. A search can also miss a frame freed behind it. So a search
 * that finds nothing checks whether any summary bit was written while it
 * ran (the summary_writes count, bumped around every summary write); if
 * none was, the summary it trusted held still and the RAM had no free frame
 * but for frees still in progress. Otherwise it retries a few times and then
 * scans level 0 without trusting the summary (search_until_sure).
 *
 * There is no shared counter to update on each call (it would cost another
 * locked instruction): statistics count the set bits of the bitmap pages
 * that were ever written, which a "touched" bitmap records. Nor is there a
 * shared "next free" hint written on every free (two threads would bounce
 * its cache line): each thread remembers the word it last freed a frame in
 * or took one from, per RAM.
 */

#define RAM_MAX_LEVELS 10 /* 2^52 frames need 9 levels of 64-way fan-out */
#define NO_INDEX       UINT64_MAX
#define TOUCH_GROUP    512 /* level-0 words per "touched" bit: 4 KiB of bitmap */
/* Summary searches before the scan of level 0. Building with
 * -DRAM_SEARCH_PASSES=0 sends every search to the scan: a test of that path. */
#ifndef RAM_SEARCH_PASSES
#define RAM_SEARCH_PASSES 4
#endif

/* summary_writes: the low half counts writers at work, the high half those
 * that have finished. */
#define WRITERS_BUSY UINT64_C(0xffffffff)
#define WRITER_DONE  (UINT64_C(1) << 32)

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

	/* Written only by searches (rare): kept off the read-mostly lines. */
	alignas(64) _Atomic uint64_t hint_word; /* where a thread without a hint starts */
	alignas(64) _Atomic uint64_t summary_writes;
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

/* Slow paths kept out of line, so the fast paths that call them need no
 * register saves. */
#if defined(__GNUC__)
#define SLOW_PATH __attribute__((noinline, cold))
#else
#define SLOW_PATH
#endif

static _Thread_local struct thread_hint thread_hint TLS_INITIAL_EXEC;
static _Atomic uint64_t last_ram_id;

struct physim_ram_hals *physim_ram_hals(struct physim_ram *ram)
{
	/* Load first: a getter called in a loop on many threads then only
	 * reads the line. */
	if (!atomic_load_explicit(&ram->hals_handed_out, memory_order_relaxed))
		atomic_store_explicit(&ram->hals_handed_out, true, memory_order_relaxed);
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

/* Where the summary bit of word idx of level k lives (k + 1 < nlevels). */
static inline _Atomic uint64_t *summary_word(const struct physim_ram *ram, unsigned k, uint64_t idx)
{
	return &ram->level[k + 1][idx / BITOPS_WORD_BITS];
}

static inline uint64_t summary_bit(uint64_t idx)
{
	return UINT64_C(1) << (idx % BITOPS_WORD_BITS);
}

static inline bool summary_says_full(const struct physim_ram *ram, unsigned k, uint64_t idx)
{
	return (atomic_load(summary_word(ram, k, idx)) & summary_bit(idx)) != 0;
}

/*
 * One call's summary writes. Before its first write a call registers as a
 * writer; when done it moves itself to the finished count. A search that
 * reads the same summary_writes before and after, with no writer at work,
 * knows no summary bit changed in between.
 */
struct summary_writer {
	struct physim_ram *ram;
	bool registered;
};

static void writer_begin(struct summary_writer *w)
{
	if (!w->registered) {
		atomic_fetch_add(&w->ram->summary_writes, 1);
		w->registered = true;
	}
}

static void writer_end(struct summary_writer *w)
{
	if (w->registered)
		atomic_fetch_add(&w->ram->summary_writes, WRITER_DONE - 1);
	w->registered = false;
}

/* Word idx of level k has room: clear its summary bit if set, and upwards
 * while that takes a full summary word out of "full". Whoever takes a word
 * out of "full" (the read-modify-write returns FULL) carries on; the load
 * before each clear avoids a locked write when the bit is already clear. */
static void clear_summary(struct summary_writer *w, unsigned k, uint64_t idx)
{
	for (; k + 1 < w->ram->nlevels; k++, idx /= BITOPS_WORD_BITS) {
		_Atomic uint64_t *s = summary_word(w->ram, k, idx);
		if ((atomic_load(s) & summary_bit(idx)) == 0)
			return;
		writer_begin(w);
		if (bitops_clear_bits(s, summary_bit(idx)) != BITOPS_FULL)
			return;
	}
}

/*
 * Word idx of level k was seen full: set its summary bit, then read the word
 * again and, if a free slipped in, clear the bit again. Against a free's
 * "clear the word's bit, then read the summary bit" one of the two sees the
 * other (see the top of the file). Completing a summary word repeats the
 * step one level up.
 */
static void mark_full(struct summary_writer *w, unsigned k, uint64_t idx)
{
	struct physim_ram *ram = w->ram;
	writer_begin(w);
	for (; k + 1 < ram->nlevels; k++, idx /= BITOPS_WORD_BITS) {
		uint64_t bit = summary_bit(idx);
		uint64_t before = bitops_set_bits(summary_word(ram, k, idx), bit);
		if (atomic_load(&ram->level[k][idx]) != BITOPS_FULL) {
			clear_summary(w, k, idx);
			return;
		}
		/* Only the caller that completed the summary word carries on. */
		if ((before & bit) != 0 || (before | bit) != BITOPS_FULL)
			return;
	}
}

/* A search found word idx of level k full: record it if the summary does
 * not say so yet. Returns the word as it is now (it may have room again). */
static uint64_t note_seen_full(struct summary_writer *w, unsigned k, uint64_t idx)
{
	if (k + 1 >= w->ram->nlevels || summary_says_full(w->ram, k, idx))
		return BITOPS_FULL;
	mark_full(w, k, idx);
	return atomic_load(&w->ram->level[k][idx]);
}

static SLOW_PATH void clear_summary_alone(struct physim_ram *ram, uint64_t idx)
{
	struct summary_writer w = {ram, false};
	clear_summary(&w, 0, idx);
	writer_end(&w);
}

/* A frame of level-0 word idx was just freed. Usually the summary bit is
 * clear (lazy marking) and this is one load. */
static inline void note_room(struct physim_ram *ram, uint64_t idx)
{
	if (ram->nlevels > 1 && summary_says_full(ram, 0, idx))
		clear_summary_alone(ram, idx);
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
 * the rest of a word is full, the level above names the next word that may
 * have room; full words met on the way are recorded there (w). A result is
 * only a candidate, which the caller claims with an atomic operation. Loads
 * are sequentially consistent (plain loads on x86): the checks around
 * summary writes depend on their order.
 */
static uint64_t find_clear_from(struct summary_writer *w, unsigned k, uint64_t pos)
{
	const struct physim_ram *ram = w->ram;
	while (pos < ram->level_bits[k]) {
		uint64_t idx = pos / BITOPS_WORD_BITS;
		unsigned lo = (unsigned)(pos % BITOPS_WORD_BITS);
		uint64_t word = atomic_load(&ram->level[k][idx]);
		if (word == BITOPS_FULL)
			word = note_seen_full(w, k, idx);
		unsigned bit = bitops_find_zero_from(word, lo);
		if (bit < BITOPS_WORD_BITS)
			return idx * BITOPS_WORD_BITS + bit; /* tail bits are set: real */
		if (k + 1 == ram->nlevels)
			return NO_INDEX;
		uint64_t next = find_clear_from(w, k + 1, idx + 1);
		if (next == NO_INDEX)
			return NO_INDEX;
		pos = next * BITOPS_WORD_BITS;
	}
	return NO_INDEX;
}

/* The same over level 0 alone, word by word, trusting no summary bit: slow,
 * for when the summary keeps changing under a search. */
static uint64_t scan_clear_from(const struct physim_ram *ram, uint64_t pos)
{
	for (; pos < ram->nframes; pos = (pos / BITOPS_WORD_BITS + 1) * BITOPS_WORD_BITS) {
		uint64_t idx = pos / BITOPS_WORD_BITS;
		uint64_t word = atomic_load(&ram->level[0][idx]);
		unsigned bit = bitops_find_zero_from(word, (unsigned)(pos % BITOPS_WORD_BITS));
		if (bit < BITOPS_WORD_BITS)
			return idx * BITOPS_WORD_BITS + bit;
	}
	return NO_INDEX;
}

/* A candidate free frame at or after pos, through the summary or not. */
static uint64_t next_clear(struct summary_writer *w, bool trust_summary, uint64_t pos)
{
	return trust_summary ? find_clear_from(w, 0, pos) : scan_clear_from(w->ram, pos);
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
static uint64_t find_free_run(struct summary_writer *w, bool trust_summary, uint64_t count,
			      uint64_t align_frames)
{
	const struct physim_ram *ram = w->ram;
	uint64_t pos = 0;
	for (;;) {
		uint64_t candidate = next_clear(w, trust_summary, pos);
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

static inline void remember_word(const struct physim_ram *ram, uint64_t idx)
{
	thread_hint = (struct thread_hint){ram->id, idx};
}

/* Take the lowest free frame of level-0 word idx; false if it is full.
 * Filling the word is not recorded in the summary (lazy marking). */
static inline bool claim_in_word(struct physim_ram *ram, uint64_t idx, uint64_t *frame)
{
	unsigned bit;
	uint64_t after;
	if (!bitops_claim_lowest_zero(&ram->level[0][idx], &bit, &after))
		return false;
	if (after == UINT64_C(1) << bit)
		note_touched(ram, idx);
	*frame = idx * BITOPS_WORD_BITS + bit;
	return true;
}

/* One search for a free frame, claiming the first one it can. */
static bool search_and_claim(struct summary_writer *w, bool trust_summary, uint64_t *frame)
{
	struct physim_ram *ram = w->ram;
	for (uint64_t f = next_clear(w, trust_summary, 0); f != NO_INDEX;) {
		uint64_t idx = f / BITOPS_WORD_BITS;
		if (claim_in_word(ram, idx, frame)) {
			remember_word(ram, idx);
			if (atomic_load_explicit(&ram->hint_word, memory_order_relaxed) != idx)
				atomic_store_explicit(&ram->hint_word, idx, memory_order_relaxed);
			return true;
		}
		/* Taken under us: the word is full now. */
		if (trust_summary)
			(void)note_seen_full(w, 0, idx);
		f = next_clear(w, trust_summary, (idx + 1) * BITOPS_WORD_BITS);
	}
	return false;
}

/*
 * Run a search (search_and_claim or a run search) until it succeeds or its
 * failure can be believed. A failed search over a summary that no writer
 * touched while it ran saw every word full or covered by a set summary bit,
 * and such a bit covers only full words then (but for frees in progress):
 * no frame was free. Otherwise the summary may have hidden a free frame for
 * a moment: search again, and in the end scan level 0 itself. (A run search
 * also reads level-0 words that no summary bit covers, so for runs this
 * rules out only a hiding summary bit, not a run freed behind the search:
 * without a snapshot of the bitmap, a run search is best effort under
 * concurrent frees.)
 */
typedef bool (*search_fn)(struct summary_writer *w, bool trust_summary, void *arg);

static SLOW_PATH bool search_until_sure(struct physim_ram *ram, search_fn search, void *arg)
{
	for (unsigned pass = 0; pass < RAM_SEARCH_PASSES; pass++) {
		struct summary_writer w = {ram, false};
		uint64_t before = atomic_load(&ram->summary_writes);
		bool found = search(&w, true, arg);
		writer_end(&w);
		if (found)
			return true;
		atomic_thread_fence(memory_order_seq_cst);
		if ((before & WRITERS_BUSY) == 0 && atomic_load(&ram->summary_writes) == before)
			return false;
	}
	physim_log_debug("ram: summary busy during %u searches, scanning the bitmap",
			 RAM_SEARCH_PASSES);
	struct summary_writer w = {ram, false};
	return search(&w, false, arg);
}

static bool search_one(struct summary_writer *w, bool trust_summary, void *frame)
{
	return search_and_claim(w, trust_summary, frame);
}

/* One free frame: the thread's hint word first (usually the frame it freed
 * last), then the word the last search found room in, else the lowest free
 * frame of the RAM. */
static bool claim_one(struct physim_ram *ram, uint64_t *frame)
{
	if (PHYSIM_LIKELY(thread_hint.ram_id == ram->id) &&
	    claim_in_word(ram, thread_hint.word, frame))
		return true;
	uint64_t shared = atomic_load_explicit(&ram->hint_word, memory_order_relaxed);
	if (claim_in_word(ram, shared, frame)) {
		remember_word(ram, shared);
		return true;
	}
	return search_until_sure(ram, search_one, frame);
}

/* Clear the bits of [first, end), which this caller owns. */
static void unclaim(struct summary_writer *w, uint64_t first, uint64_t end)
{
	for (uint64_t p = first; p < end;) {
		uint64_t idx;
		uint64_t mask = bitops_range_step(&p, end, &idx);
		if (bitops_clear_bits(&w->ram->level[0][idx], mask) == BITOPS_FULL)
			clear_summary(w, 0, idx);
	}
}

/* Set the bits of [first, first + count) if all are clear, word by word;
 * on a conflict give back what was taken and return false. Words this fills
 * are recorded in the summary at once: a range usually covers whole words,
 * and a later search would otherwise walk through them one by one. */
static bool claim_range_as(struct summary_writer *w, uint64_t first, uint64_t count)
{
	struct physim_ram *ram = w->ram;
	for (uint64_t p = first, end = first + count; p < end;) {
		uint64_t idx, after, start = p;
		uint64_t mask = bitops_range_step(&p, end, &idx);
		if (!bitops_try_set_mask(&ram->level[0][idx], mask, &after)) {
			unclaim(w, first, start);
			return false;
		}
		if (after == mask)
			note_touched(ram, idx);
		if (after == BITOPS_FULL)
			(void)note_seen_full(w, 0, idx);
	}
	return true;
}

static bool claim_range(struct physim_ram *ram, uint64_t first, uint64_t count)
{
	struct summary_writer w = {ram, false};
	bool ok = claim_range_as(&w, first, count);
	writer_end(&w);
	return ok;
}

/* Clear the bits of [first, first + count) if all are set. Callers check
 * first, so a conflict means another thread freed some of these frames at
 * the same moment (a double free); the words already cleared are then
 * taken back, which fails only if a third thread allocated them meanwhile. */
static bool release_range(struct physim_ram *ram, uint64_t first, uint64_t count)
{
	struct summary_writer w = {ram, false};
	bool ok = true;
	for (uint64_t p = first, end = first + count; p < end;) {
		uint64_t idx, before, start = p;
		uint64_t mask = bitops_range_step(&p, end, &idx);
		if (!bitops_try_clear_mask(&ram->level[0][idx], mask, &before)) {
			if (start > first && !claim_range_as(&w, first, start - first))
				physim_log_error("ram: racing double free of frames at %#llx",
						 (unsigned long long)frame_hpa(ram, first));
			ok = false;
			break;
		}
		if (before == BITOPS_FULL)
			clear_summary(&w, 0, idx);
	}
	writer_end(&w);
	return ok;
}

/* A single frame, no debug mode: one atomic instruction on the word. */
static int release_frame(struct physim_ram *ram, uint64_t frame)
{
	uint64_t idx = frame / BITOPS_WORD_BITS;
	if (overlaps_reserved(ram, frame, 1) ||
	    !bitops_test_and_clear(&ram->level[0][idx], (unsigned)(frame % BITOPS_WORD_BITS))) {
		physim_log_debug("ram: free of the frame at %#llx: not allocated",
				 (unsigned long long)frame_hpa(ram, frame));
		return -ENOENT;
	}
	note_room(ram, idx);
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

/* ---- allocation API ---- */

/* Hand out frames [first, first + count), already claimed in the bitmap. */
static int finish_alloc(struct physim_ram *ram, uint64_t first, uint64_t count)
{
	int rc = debug_on_alloc(ram, first, count);
	if (rc < 0) {
		struct summary_writer w = {ram, false};
		unclaim(&w, first, first + count);
		writer_end(&w);
	}
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

struct run_request {
	uint64_t count, align_frames, start;
};

/* One search for a run, claiming it if it can. */
static bool search_run(struct summary_writer *w, bool trust_summary, void *arg)
{
	struct run_request *r = arg;
	for (;;) {
		r->start = find_free_run(w, trust_summary, r->count, r->align_frames);
		if (r->start == NO_INDEX)
			return false;
		/* A conflict means another thread took part of the run first. */
		if (claim_range_as(w, r->start, r->count))
			return true;
	}
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

	struct run_request r = {nframes, align_bytes >> PHYSIM_FRAME_SHIFT, NO_INDEX};
	if (!search_until_sure(ram, search_run, &r)) {
		physim_log_debug("ram: no %zu free frames aligned to %#llx", nframes,
				 (unsigned long long)align_bytes);
		return -ENOMEM;
	}
	int rc = finish_alloc(ram, r.start, nframes);
	if (rc < 0)
		return rc;
	*hpa = frame_hpa(ram, r.start);
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
	ram->bitmap = NULL;
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
	/* bitmap is NULL only when creation failed before it existed. */
	uint64_t live = ram->bitmap ? physim_ram_stats(ram).used_frames : 0;
	bool handed_out = atomic_load(&ram->hals_handed_out);
	if (live != 0 && handed_out)
		physim_log_error("ram: destroyed with %llu frames still allocated; they are gone "
				 "with it (dropping a PhysFrame that held one does nothing; "
				 "destroy tables and address spaces before their RAM)",
				 (unsigned long long)live);
	else if (live != 0)
		physim_log_debug("ram: destroyed with %llu frames still allocated",
				 (unsigned long long)live);
	if (ram->bitmap)
		munmap(ram->bitmap, ram->bitmap_len);
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
