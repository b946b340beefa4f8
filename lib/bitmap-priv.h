/* SPDX-License-Identifier: MIT */
/* lib/bitmap-priv.h - a lock-free bitmap with lazily kept summary levels:
 * search for a clear bit or an aligned run of clear bits, and atomic claim
 * (clear -> set) and release (set -> clear) of a bit or a run. The frame
 * allocator (ram.c) keeps one bit per frame in it; tests/test_bitmap.c. */
#ifndef PHYSIM_BITMAP_PRIV_H
#define PHYSIM_BITMAP_PRIV_H

#include <stdalign.h>
#include <stddef.h>

#include "bitops.h"
#include "physim-priv.h"

#define BITMAP_MAX_LEVELS  10 /* 2^52 bits need 9 levels of 64-way fan-out */
#define BITMAP_MAX_BITS	   (UINT64_C(1) << 56)
#define BITMAP_NONE	   UINT64_MAX
#define BITMAP_TOUCH_GROUP 512 /* level-0 words per "touched" bit: 4 KiB of bitmap */
/* Summary searches before a search falls back to scanning level 0. */
#define BITMAP_SEARCH_PASSES 4

/*
 * Level 0 holds the bits; bit i of level k + 1 set means word i of level k
 * is full (kept lazily, see bitmap.c). Bits past the end of a level are
 * set. All memory is one untouched MAP_NORESERVE mapping: zero = all clear.
 * Fields are read-only after physim_bitmap_init but for the words themselves and
 * the two written by searches, kept on their own cache lines.
 */
struct bitmap {
	uint64_t nbits;
	unsigned nlevels;	/* level nlevels - 1 is a single word */
	unsigned search_passes; /* BITMAP_SEARCH_PASSES; 0 (tests): always scan */
	_Atomic uint64_t *level[BITMAP_MAX_LEVELS];
	uint64_t level_bits[BITMAP_MAX_LEVELS];
	_Atomic uint64_t *touched; /* bit g: level-0 words [g * 512, +512) were written */
	void *mem;
	size_t mem_len;

	alignas(64) _Atomic uint64_t hint_word; /* where the last search found room */
	alignas(64) _Atomic uint64_t summary_writes;
};

/* Map the levels for nbits bits (1..BITMAP_MAX_BITS), all clear: 0, or
 * -EINVAL / -ENOMEM with nothing left mapped. */
PHYSIM_HIDDEN int physim_bitmap_init(struct bitmap *bm, uint64_t nbits);
/* Unmap; safe on a zeroed or already finished bitmap. */
PHYSIM_HIDDEN void physim_bitmap_fini(struct bitmap *bm);

/* Set one clear bit: the word of the last search first, else the lowest
 * clear bit. False only when no bit was clear (but for releases still in
 * progress when the call began). */
PHYSIM_HIDDEN bool physim_bitmap_claim_any(struct bitmap *bm, uint64_t *bit);
/* Set the lowest run of count clear bits [b, b + count) with (b + phase) a
 * multiple of align (a power of two); false if none was found. Under
 * concurrent releases a run search is best effort (see bitmap.c). */
PHYSIM_HIDDEN bool physim_bitmap_claim_free_run(struct bitmap *bm, uint64_t count, uint64_t align,
						uint64_t phase, uint64_t *first);
/* Set [first, first + count) if every bit was clear, else change nothing
 * (a partial claim that loses a race is rolled back) and return false. */
PHYSIM_HIDDEN bool physim_bitmap_claim_run(struct bitmap *bm, uint64_t first, uint64_t count);
/* Clear [first, first + count) if every bit was set, else return false. A
 * race with another release of the same bits is rolled back too. */
PHYSIM_HIDDEN bool physim_bitmap_release_run(struct bitmap *bm, uint64_t first, uint64_t count);
/* True if every bit of [first, first + count) is set (a snapshot). */
PHYSIM_HIDDEN bool physim_bitmap_all_set(const struct bitmap *bm, uint64_t first, uint64_t count);

/* Searches alone, without claiming: the lowest clear bit >= from, and the
 * lowest aligned run of count clear bits starting at or after from, or
 * BITMAP_NONE. Exact when no other thread changes the bitmap meanwhile;
 * otherwise a candidate to claim. They may record full words in the
 * summary. */
PHYSIM_HIDDEN uint64_t physim_bitmap_find_clear(struct bitmap *bm, uint64_t from);
PHYSIM_HIDDEN uint64_t physim_bitmap_find_clear_run(struct bitmap *bm, uint64_t from,
						    uint64_t count, uint64_t align, uint64_t phase);

/* Set bits, tail bits excluded; counts only the 4 KiB pages of level 0
 * that were ever written. Not a snapshot under concurrent changes. */
PHYSIM_HIDDEN uint64_t physim_bitmap_count_set(const struct bitmap *bm);

/* Slow path of physim_bitmap_release_bit: the word's summary bit says "full". */
#if defined(__GNUC__)
__attribute__((cold))
#endif
PHYSIM_HIDDEN void
physim_bitmap_note_room(struct bitmap *bm, uint64_t idx);

/* ---- fast paths, inline: one atomic instruction each ---- */

static inline bool physim_bitmap_test(const struct bitmap *bm, uint64_t bit)
{
	uint64_t word = atomic_load(&bm->level[0][bit / BITOPS_WORD_BITS]);
	return ((word >> (bit % BITOPS_WORD_BITS)) & 1) != 0;
}

/* Level-0 word idx has just had its first bit set (it was 0): its page of
 * the bitmap is no longer all zero. Usually one plain load. */
static inline void physim_bitmap_note_touched(struct bitmap *bm, uint64_t idx)
{
	uint64_t group = idx / BITMAP_TOUCH_GROUP;
	_Atomic uint64_t *w = &bm->touched[group / BITOPS_WORD_BITS];
	uint64_t bit = UINT64_C(1) << (group % BITOPS_WORD_BITS);
	if ((atomic_load_explicit(w, memory_order_relaxed) & bit) == 0)
		bitops_set_bits(w, bit);
}

/* Set the lowest clear bit of level-0 word idx; false if the word is full.
 * Filling the word is not recorded in the summary (lazy marking). */
static inline bool physim_bitmap_claim_in_word(struct bitmap *bm, uint64_t idx, uint64_t *bit)
{
	unsigned b;
	uint64_t after;
	if (!bitops_claim_lowest_zero(&bm->level[0][idx], &b, &after))
		return false;
	if (after == UINT64_C(1) << b)
		physim_bitmap_note_touched(bm, idx);
	*bit = idx * BITOPS_WORD_BITS + b;
	return true;
}

/* Clear one bit; false (nothing changed) if it was clear. Usually the
 * word's summary bit is clear and this is one locked instruction and one
 * load. */
static inline bool physim_bitmap_release_bit(struct bitmap *bm, uint64_t bit)
{
	uint64_t idx = bit / BITOPS_WORD_BITS;
	if (!bitops_test_and_clear(&bm->level[0][idx], (unsigned)(bit % BITOPS_WORD_BITS)))
		return false;
	if (bm->nlevels > 1 && (atomic_load(&bm->level[1][idx / BITOPS_WORD_BITS]) &
				(UINT64_C(1) << (idx % BITOPS_WORD_BITS))) != 0)
		physim_bitmap_note_room(bm, idx);
	return true;
}

#endif
