/* SPDX-License-Identifier: MIT */
/* lib/bitmap.c - the lock-free bitmap behind the frame allocator: summary
 * levels, searches, and atomic claim/release of bits and runs. */
#include "bitmap-priv.h"

#include <physim/addr.h>

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Level 0 holds the bits (1 = set, "in use" for the allocator). Bit i of
 * level k + 1 is a summary bit: when set, word i of level k is full, so a
 * search skips 64 full words with one load per level and never looks at
 * more than a few words however big the bitmap is. Zero means clear at
 * every level: the bitmap lives in untouched MAP_NORESERVE memory and only
 * the words that hold a set bit get pages. Bits past the end of a level
 * (the last word's tail) are set, so "full" is simply "all 64 bits set".
 *
 * Bits are set and cleared with one atomic read-modify-write on a level-0
 * word each; no lock. A locked instruction is most of the cost of a call,
 * so the summary bits are kept LAZILY: a set bit means "full" (but for the
 * moments described below), a clear bit only "maybe has room".
 *  - Filling a word by setting a single bit leaves its summary bit alone.
 *    A search that meets a full word whose bit is clear sets the bit, then
 *    reads the word again and clears the bit if it has room (mark_full).
 *  - Clearing a bit clears it in the word, then loads the summary bit and
 *    clears that only if it is set (physim_bitmap_release_bit, physim_bitmap_note_room).
 * All of these are sequentially consistent, so of "set summary, read word"
 * and "clear word bit, read summary" at least one side sees the other: a
 * clear bit never stays hidden behind a summary bit once every call has
 * returned. While a release or a marking runs, a summary bit may cover a
 * word with room. A search can also miss a bit cleared behind it. So a
 * search that finds nothing checks whether any summary bit was written
 * while it ran (the summary_writes count, bumped around every summary
 * write); if none was, the summary it trusted held still and no bit was
 * clear but for releases still in progress. Otherwise it retries a few
 * times and then scans level 0 without trusting the summary
 * (search_until_sure).
 *
 * There is no shared counter to update on each call (it would cost another
 * locked instruction): physim_bitmap_count_set counts the set bits of the bitmap
 * pages that were ever written, which the "touched" bitmap records.
 */

/* summary_writes: the low half counts writers at work, the high half those
 * that have finished. */
#define WRITERS_BUSY UINT64_C(0xffffffff)
#define WRITER_DONE  (UINT64_C(1) << 32)

#if defined(__GNUC__)
#define SLOW_PATH __attribute__((noinline, cold))
#else
#define SLOW_PATH
#endif

/* tests/test_bitmap.c builds this file with PHYSIM_BITMAP_RACE_HOOK to run
 * a release at the moment a concurrent one could slip in (before a search
 * marks a word full); the library build has no hook. */
#ifdef PHYSIM_BITMAP_RACE_HOOK
void (*physim_bitmap_race_hook)(struct bitmap *bm, unsigned k, uint64_t idx);
#define RACE_POINT(bm, k, idx)                                                                     \
	do {                                                                                       \
		if (physim_bitmap_race_hook != NULL)                                               \
			physim_bitmap_race_hook(bm, k, idx);                                       \
	} while (0)
#else
#define RACE_POINT(bm, k, idx) ((void)0)
#endif

/* Words needed for nbits bits. */
static inline uint64_t words_for(uint64_t nbits)
{
	return (nbits + BITOPS_WORD_BITS - 1) / BITOPS_WORD_BITS;
}

/* ---- summary levels ---- */

/* Where the summary bit of word idx of level k lives (k + 1 < nlevels). */
static inline _Atomic uint64_t *summary_word(const struct bitmap *bm, unsigned k, uint64_t idx)
{
	return &bm->level[k + 1][idx / BITOPS_WORD_BITS];
}

static inline uint64_t summary_bit(uint64_t idx)
{
	return UINT64_C(1) << (idx % BITOPS_WORD_BITS);
}

static inline bool summary_says_full(const struct bitmap *bm, unsigned k, uint64_t idx)
{
	return (atomic_load(summary_word(bm, k, idx)) & summary_bit(idx)) != 0;
}

/*
 * One call's summary writes. Before its first write a call registers as a
 * writer; when done it moves itself to the finished count. A search that
 * reads the same summary_writes before and after, with no writer at work,
 * knows no summary bit changed in between.
 */
struct summary_writer {
	struct bitmap *bm;
	bool registered;
};

static void writer_begin(struct summary_writer *w)
{
	if (!w->registered) {
		atomic_fetch_add(&w->bm->summary_writes, 1);
		w->registered = true;
	}
}

static void writer_end(struct summary_writer *w)
{
	if (w->registered)
		atomic_fetch_add(&w->bm->summary_writes, WRITER_DONE - 1);
	w->registered = false;
}

/* Word idx of level k has room: clear its summary bit if set, and upwards
 * while that takes a full summary word out of "full". Whoever takes a word
 * out of "full" (the read-modify-write returns FULL) carries on; the load
 * before each clear avoids a locked write when the bit is already clear. */
static void clear_summary(struct summary_writer *w, unsigned k, uint64_t idx)
{
	for (; k + 1 < w->bm->nlevels; k++, idx /= BITOPS_WORD_BITS) {
		_Atomic uint64_t *s = summary_word(w->bm, k, idx);
		if ((atomic_load(s) & summary_bit(idx)) == 0)
			return;
		writer_begin(w);
		if (bitops_clear_bits(s, summary_bit(idx)) != BITOPS_FULL)
			return;
	}
}

/*
 * Word idx of level k was seen full: set its summary bit, then read the word
 * again and, if a release slipped in, clear the bit again. Against a
 * release's "clear the word's bit, then read the summary bit" one of the
 * two sees the other (see the top of the file). Completing a summary word
 * repeats the step one level up.
 */
static void mark_full(struct summary_writer *w, unsigned k, uint64_t idx)
{
	struct bitmap *bm = w->bm;
	RACE_POINT(bm, k, idx);
	writer_begin(w);
	for (; k + 1 < bm->nlevels; k++, idx /= BITOPS_WORD_BITS) {
		uint64_t bit = summary_bit(idx);
		uint64_t before = bitops_set_bits(summary_word(bm, k, idx), bit);
		if (atomic_load(&bm->level[k][idx]) != BITOPS_FULL) {
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
	if (k + 1 >= w->bm->nlevels || summary_says_full(w->bm, k, idx))
		return BITOPS_FULL;
	mark_full(w, k, idx);
	return atomic_load(&w->bm->level[k][idx]);
}

void physim_bitmap_note_room(struct bitmap *bm, uint64_t idx)
{
	struct summary_writer w = {bm, false};
	clear_summary(&w, 0, idx);
	writer_end(&w);
}

/* ---- searching ---- */

/*
 * The lowest bit index >= pos of level k that is clear, or BITMAP_NONE.
 * When the rest of a word is full, the level above names the next word
 * that may have room; full words met on the way are recorded there (w). A
 * result is only a candidate, which the caller claims with an atomic
 * operation. Loads are sequentially consistent (plain loads on x86): the
 * checks around summary writes depend on their order.
 */
static uint64_t find_clear_from(struct summary_writer *w, unsigned k, uint64_t pos)
{
	const struct bitmap *bm = w->bm;
	while (pos < bm->level_bits[k]) {
		uint64_t idx = pos / BITOPS_WORD_BITS;
		unsigned lo = (unsigned)(pos % BITOPS_WORD_BITS);
		uint64_t word = atomic_load(&bm->level[k][idx]);
		if (word == BITOPS_FULL)
			word = note_seen_full(w, k, idx);
		unsigned bit = bitops_find_zero_from(word, lo);
		if (bit < BITOPS_WORD_BITS)
			return idx * BITOPS_WORD_BITS + bit; /* tail bits are set: real */
		if (k + 1 == bm->nlevels)
			return BITMAP_NONE;
		uint64_t next = find_clear_from(w, k + 1, idx + 1);
		if (next == BITMAP_NONE)
			return BITMAP_NONE;
		pos = next * BITOPS_WORD_BITS;
	}
	return BITMAP_NONE;
}

/* The same over level 0 alone, word by word, trusting no summary bit: slow,
 * for when the summary keeps changing under a search. */
static uint64_t scan_clear_from(const struct bitmap *bm, uint64_t pos)
{
	for (; pos < bm->nbits; pos = (pos / BITOPS_WORD_BITS + 1) * BITOPS_WORD_BITS) {
		uint64_t idx = pos / BITOPS_WORD_BITS;
		uint64_t word = atomic_load(&bm->level[0][idx]);
		unsigned bit = bitops_find_zero_from(word, (unsigned)(pos % BITOPS_WORD_BITS));
		if (bit < BITOPS_WORD_BITS)
			return idx * BITOPS_WORD_BITS + bit;
	}
	return BITMAP_NONE;
}

/* A candidate clear bit at or after pos, through the summary or not. */
static uint64_t next_clear(struct summary_writer *w, bool trust_summary, uint64_t pos)
{
	return trust_summary ? find_clear_from(w, 0, pos) : scan_clear_from(w->bm, pos);
}

/* The first set bit in [first, end), or end if all are clear. */
static uint64_t find_set_in(const struct bitmap *bm, uint64_t first, uint64_t end)
{
	for (uint64_t p = first; p < end;) {
		uint64_t idx;
		uint64_t mask = bitops_range_step(&p, end, &idx);
		uint64_t word = atomic_load_explicit(&bm->level[0][idx], memory_order_relaxed);
		if ((word & mask) != 0)
			return idx * BITOPS_WORD_BITS + bitops_ctz(word & mask);
	}
	return end;
}

bool physim_bitmap_all_set(const struct bitmap *bm, uint64_t first, uint64_t count)
{
	for (uint64_t p = first, end = first + count; p < end;) {
		uint64_t idx;
		uint64_t mask = bitops_range_step(&p, end, &idx);
		if ((atomic_load(&bm->level[0][idx]) & mask) != mask)
			return false;
	}
	return true;
}

/* What a run search looks for: count clear bits from a start b with
 * (b + phase) % align == 0; phase is kept below align. */
struct run_request {
	uint64_t count, align, phase, start;
};

/* The lowest such run starting at or after pos, or BITMAP_NONE. */
static uint64_t find_run_from(struct summary_writer *w, bool trust_summary,
			      const struct run_request *r, uint64_t pos)
{
	const struct bitmap *bm = w->bm;
	for (;;) {
		uint64_t candidate = next_clear(w, trust_summary, pos);
		if (candidate == BITMAP_NONE)
			return BITMAP_NONE;
		uint64_t start = physim_align_up(candidate + r->phase, r->align) - r->phase;
		if (start >= bm->nbits || bm->nbits - start < r->count)
			return BITMAP_NONE;
		uint64_t set = find_set_in(bm, start, start + r->count);
		if (set == start + r->count)
			return start;
		pos = set + 1;
	}
}

uint64_t physim_bitmap_find_clear(struct bitmap *bm, uint64_t from)
{
	struct summary_writer w = {bm, false};
	uint64_t bit = from < bm->nbits ? find_clear_from(&w, 0, from) : BITMAP_NONE;
	writer_end(&w);
	return bit;
}

uint64_t physim_bitmap_find_clear_run(struct bitmap *bm, uint64_t from, uint64_t count,
				      uint64_t align, uint64_t phase)
{
	if (count == 0 || count > bm->nbits || align == 0 || (align & (align - 1)) != 0 ||
	    from >= bm->nbits)
		return BITMAP_NONE;
	struct run_request r = {count, align, phase & (align - 1), BITMAP_NONE};
	struct summary_writer w = {bm, false};
	uint64_t start = find_run_from(&w, true, &r, from);
	writer_end(&w);
	return start;
}

/*
 * Run a search (claim_search or run_search) until it succeeds or its
 * failure can be believed. A failed search over a summary that no writer
 * touched while it ran saw every word full or covered by a set summary bit,
 * and such a bit covers only full words then (but for releases in
 * progress): no bit was clear. Otherwise the summary may have hidden a
 * clear bit for a moment: search again, and in the end scan level 0 itself.
 * (A run search also reads level-0 words that no summary bit covers, so for
 * runs this rules out only a hiding summary bit, not a run released behind
 * the search: without a snapshot of the bitmap, a run search is best
 * effort under concurrent releases.)
 */
typedef bool (*search_fn)(struct summary_writer *w, bool trust_summary, void *arg);

static SLOW_PATH bool search_until_sure(struct bitmap *bm, search_fn search, void *arg)
{
	for (unsigned pass = 0; pass < bm->search_passes; pass++) {
		struct summary_writer w = {bm, false};
		uint64_t before = atomic_load(&bm->summary_writes);
		bool found = search(&w, true, arg);
		writer_end(&w);
		if (found)
			return true;
		atomic_thread_fence(memory_order_seq_cst);
		if ((before & WRITERS_BUSY) == 0 && atomic_load(&bm->summary_writes) == before)
			return false;
	}
	if (bm->search_passes != 0)
		physim_log_debug("bitmap: summary busy during %u searches, scanning level 0",
				 bm->search_passes);
	struct summary_writer w = {bm, false};
	bool found = search(&w, false, arg);
	writer_end(&w);
	return found;
}

/* ---- claiming and releasing ---- */

/* One search for a clear bit, setting the first one it can. */
static bool claim_search(struct summary_writer *w, bool trust_summary, void *arg)
{
	struct bitmap *bm = w->bm;
	uint64_t *bit = arg;
	for (uint64_t f = next_clear(w, trust_summary, 0); f != BITMAP_NONE;) {
		uint64_t idx = f / BITOPS_WORD_BITS;
		if (physim_bitmap_claim_in_word(bm, idx, bit)) {
			if (atomic_load_explicit(&bm->hint_word, memory_order_relaxed) != idx)
				atomic_store_explicit(&bm->hint_word, idx, memory_order_relaxed);
			return true;
		}
		/* Taken under us: the word is full now. */
		if (trust_summary)
			(void)note_seen_full(w, 0, idx);
		f = next_clear(w, trust_summary, (idx + 1) * BITOPS_WORD_BITS);
	}
	return false;
}

bool physim_bitmap_claim_any(struct bitmap *bm, uint64_t *bit)
{
	uint64_t shared = atomic_load_explicit(&bm->hint_word, memory_order_relaxed);
	if (physim_bitmap_claim_in_word(bm, shared, bit))
		return true;
	return search_until_sure(bm, claim_search, bit);
}

/* Clear the bits of [first, end), which this caller owns. */
static void unclaim(struct summary_writer *w, uint64_t first, uint64_t end)
{
	for (uint64_t p = first; p < end;) {
		uint64_t idx;
		uint64_t mask = bitops_range_step(&p, end, &idx);
		if (bitops_clear_bits(&w->bm->level[0][idx], mask) == BITOPS_FULL)
			clear_summary(w, 0, idx);
	}
}

/* Set the bits of [first, first + count) if all are clear, word by word;
 * on a conflict give back what was taken and return false. Words this fills
 * are recorded in the summary at once: a run usually covers whole words,
 * and a later search would otherwise walk through them one by one. */
static bool claim_run_as(struct summary_writer *w, uint64_t first, uint64_t count)
{
	struct bitmap *bm = w->bm;
	for (uint64_t p = first, end = first + count; p < end;) {
		uint64_t idx, after, start = p;
		uint64_t mask = bitops_range_step(&p, end, &idx);
		if (!bitops_try_set_mask(&bm->level[0][idx], mask, &after)) {
			unclaim(w, first, start);
			return false;
		}
		if (after == mask)
			physim_bitmap_note_touched(bm, idx);
		if (after == BITOPS_FULL)
			(void)note_seen_full(w, 0, idx);
	}
	return true;
}

bool physim_bitmap_claim_run(struct bitmap *bm, uint64_t first, uint64_t count)
{
	struct summary_writer w = {bm, false};
	bool ok = claim_run_as(&w, first, count);
	writer_end(&w);
	return ok;
}

/* Clear the bits of [first, first + count) if all are set. A conflict means
 * another thread released some of these bits at the same moment (for the
 * allocator, a double free); the words already cleared are then taken
 * back, which fails only if a third thread claimed them meanwhile. */
bool physim_bitmap_release_run(struct bitmap *bm, uint64_t first, uint64_t count)
{
	struct summary_writer w = {bm, false};
	bool ok = true;
	for (uint64_t p = first, end = first + count; p < end;) {
		uint64_t idx, before, start = p;
		uint64_t mask = bitops_range_step(&p, end, &idx);
		if (!bitops_try_clear_mask(&bm->level[0][idx], mask, &before)) {
			if (start > first && !claim_run_as(&w, first, start - first))
				physim_log_error("bitmap: racing double release of bits from %llu",
						 (unsigned long long)first);
			ok = false;
			break;
		}
		if (before == BITOPS_FULL)
			clear_summary(&w, 0, idx);
	}
	writer_end(&w);
	return ok;
}

/* One search for a run, claiming it if it can. */
static bool run_search(struct summary_writer *w, bool trust_summary, void *arg)
{
	struct run_request *r = arg;
	for (;;) {
		r->start = find_run_from(w, trust_summary, r, 0);
		if (r->start == BITMAP_NONE)
			return false;
		/* A conflict means another thread took part of the run first. */
		if (claim_run_as(w, r->start, r->count))
			return true;
	}
}

bool physim_bitmap_claim_free_run(struct bitmap *bm, uint64_t count, uint64_t align, uint64_t phase,
				  uint64_t *first)
{
	if (count == 0 || count > bm->nbits || align == 0 || (align & (align - 1)) != 0)
		return false;
	struct run_request r = {count, align, phase & (align - 1), BITMAP_NONE};
	if (!search_until_sure(bm, run_search, &r))
		return false;
	*first = r.start;
	return true;
}

/* ---- statistics ---- */

uint64_t physim_bitmap_count_set(const struct bitmap *bm)
{
	uint64_t nwords = words_for(bm->nbits);
	uint64_t ngroups = (nwords + BITMAP_TOUCH_GROUP - 1) / BITMAP_TOUCH_GROUP;
	uint64_t total = 0;
	for (uint64_t t = 0; t * BITOPS_WORD_BITS < ngroups; t++) {
		uint64_t groups = atomic_load(&bm->touched[t]);
		for (; groups != 0; groups &= groups - 1) {
			uint64_t first =
			    (t * BITOPS_WORD_BITS + bitops_ctz(groups)) * BITMAP_TOUCH_GROUP;
			uint64_t end = first + BITMAP_TOUCH_GROUP < nwords
					   ? first + BITMAP_TOUCH_GROUP
					   : nwords;
			for (uint64_t i = first; i < end; i++)
				total += bitops_popcount(
				    atomic_load_explicit(&bm->level[0][i], memory_order_relaxed));
		}
	}
	return total - (nwords * BITOPS_WORD_BITS - bm->nbits); /* tail bits */
}

/* ---- creation ---- */

/* Reserve (untouched) memory for every level and the touched bitmap, and
 * set the tail bits past the end of each level. */
int physim_bitmap_init(struct bitmap *bm, uint64_t nbits)
{
	memset(bm, 0, sizeof(*bm));
	if (nbits == 0 || nbits > BITMAP_MAX_BITS)
		return -EINVAL;
	bm->nbits = nbits;
	bm->search_passes = BITMAP_SEARCH_PASSES;

	uint64_t bits = nbits, words_total = 0;
	unsigned k = 0;
	for (;; k++) {
		bm->level_bits[k] = bits;
		words_total += words_for(bits);
		if (words_for(bits) == 1)
			break;
		bits = words_for(bits);
	}
	bm->nlevels = k + 1;
	uint64_t touched_words =
	    words_for((words_for(nbits) + BITMAP_TOUCH_GROUP - 1) / BITMAP_TOUCH_GROUP);
	words_total += touched_words;

	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	bm->mem_len = physim_align_up(words_total * sizeof(uint64_t), page);
	void *m = mmap(NULL, bm->mem_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		bm->mem_len = 0;
		return -ENOMEM;
	}
	bm->mem = m;
	/* A huge page would make the first bit set cost 2 MiB of RSS. */
	(void)madvise(m, bm->mem_len, MADV_NOHUGEPAGE);

	_Atomic uint64_t *w = m;
	bm->touched = w;
	w += touched_words;
	for (k = 0; k < bm->nlevels; k++) {
		bm->level[k] = w;
		w += words_for(bm->level_bits[k]);
	}
	for (k = 0; k < bm->nlevels; k++) {
		uint64_t lbits = bm->level_bits[k];
		if (lbits % BITOPS_WORD_BITS == 0)
			continue;
		if (k == 0)
			physim_bitmap_note_touched(bm, lbits / BITOPS_WORD_BITS);
		bitops_set_bits(&bm->level[k][lbits / BITOPS_WORD_BITS],
				bitops_mask_from((unsigned)(lbits % BITOPS_WORD_BITS)));
	}
	return 0;
}

void physim_bitmap_fini(struct bitmap *bm)
{
	if (bm->mem != NULL)
		munmap(bm->mem, bm->mem_len);
	bm->mem = NULL;
	bm->mem_len = 0;
}
