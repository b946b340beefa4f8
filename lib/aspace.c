/* SPDX-License-Identifier: MIT */
/* lib/aspace.c - a guest address space (axaddrspace::AddrSpace): sorted areas
 * over one stage-2 table, lazy population, the guest memory accessor and
 * dirty logging. Uses only hal.h and pt.h (never the simulated RAM).
 *
 * The header states what a caller sees (MMIO LINEAR areas, faults_handled,
 * translated_buffer edge cases, dirty logging). Decided here besides:
 * - Dirty bitmap: mark_dirty may run on other threads while the owner
 *   fetches (atomics); enable/disable may not. The accessor is the owner's. Unmap and clear move
 *   the dirty bits of the leaves they drop into the bitmap.
 * - Host pointers (accessor, translated_buffer) come from mm->phys_to_virt for
 *   every area, LINEAR ones included: that is why MMIO gives -EFAULT there. */
#include "bitops.h"
#include "physim-priv.h"
#include "guest-mem-priv.h"
#include "pt-priv.h"
#include <physim/aspace.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define PAGE	     PHYSIM_FRAME_SIZE
#define KNOWN_FLAGS  (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U | PHYSIM_DEVICE | PHYSIM_UNCACHED)
#define ACCESS_FLAGS (PHYSIM_R | PHYSIM_W | PHYSIM_X)

struct area {
	physim_gpa_t start;
	uint64_t size;
	uint32_t flags;
	enum physim_area_kind kind;
	physim_hpa_t hpa; /* LINEAR: hpa of start */
	bool populate;
	bool identity;
	uint64_t frames; /* ALLOC: frames mapped in the area */
};

struct physim_aspace {
	struct physim_pt *pt;
	const struct physim_mm_hal *mm;
	const struct physim_vm_hal *vm;
	physim_gpa_t base;
	uint64_t size;
	struct area *areas; /* sorted by start, non-overlapping */
	size_t nareas, cap;
	uint64_t alloc_frames;
	uint64_t faults_handled;
	uint64_t faults_refused;
	_Atomic uint64_t *dirty; /* one bit per page of the space; NULL: logging off */
	/* Whether the leaves' dirty bits say anything: false for formats that
	 * pre-set D on every writable leaf (RISC-V G-stage without Svadu). */
	bool hw_dirty_tracked;
};

/* ---- areas ---- */

static inline uint64_t area_last(const struct area *a)
{
	return a->start + (a->size - 1);
}

/* Index of the first area that ends at or after gpa. */
static size_t area_lower_bound(const struct physim_aspace *as, uint64_t gpa)
{
	size_t lo = 0, hi = as->nareas;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (area_last(&as->areas[mid]) < gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct area *area_find(const struct physim_aspace *as, uint64_t gpa)
{
	size_t i = area_lower_bound(as, gpa);
	if (i < as->nareas && as->areas[i].start <= gpa)
		return &as->areas[i];
	return NULL;
}

/* Room for `extra` more areas; growing the array changes nothing visible. */
static int areas_reserve(struct physim_aspace *as, size_t extra)
{
	if (as->nareas + extra <= as->cap)
		return 0;
	size_t cap = as->cap ? as->cap * 2 : 8;
	while (cap < as->nareas + extra)
		cap *= 2;
	struct area *a = realloc(as->areas, cap * sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	as->areas = a;
	as->cap = cap;
	return 0;
}

/* Insert at its sorted place; areas_reserve(as, 1) must have succeeded. */
static void areas_insert(struct physim_aspace *as, const struct area *a)
{
	size_t i = area_lower_bound(as, a->start);
	memmove(&as->areas[i + 1], &as->areas[i], (as->nareas - i) * sizeof(*a));
	as->areas[i] = *a;
	as->nareas++;
}

/* [gpa, gpa + size) is page aligned, non-empty, does not wrap and lies in
 * the space. */
static bool range_in_space(const struct physim_aspace *as, uint64_t gpa, uint64_t size)
{
	if (!physim_is_aligned(gpa | size, PAGE) || !physim_range_ok(gpa, size))
		return false;
	uint64_t last = gpa + (size - 1);
	return gpa >= as->base && last <= as->base + (as->size - 1);
}

static bool overlaps_area(const struct physim_aspace *as, uint64_t gpa, uint64_t size)
{
	size_t i = area_lower_bound(as, gpa);
	return i < as->nareas && as->areas[i].start <= gpa + (size - 1);
}

/* Common checks of the map calls, in the order of the contract. */
static int map_args(const struct physim_aspace *as, uint64_t gpa, uint64_t size, uint32_t flags)
{
	if (flags & ~KNOWN_FLAGS)
		return -EINVAL;
	if (!range_in_space(as, gpa, size))
		return -EINVAL;
	return overlaps_area(as, gpa, size) ? -EEXIST : 0;
}

/* ---- frames and host pointers ---- */

static void *frame_hva(const struct physim_aspace *as, physim_hpa_t hpa)
{
	return as->mm->phys_to_virt(as->mm->ctx, hpa);
}

static void frame_free(struct physim_aspace *as, physim_hpa_t hpa)
{
	int rc = as->mm->dealloc_frame(as->mm->ctx, hpa);
	if (rc != 0)
		physim_log_error("aspace: returning frame %#llx failed: %s",
				 (unsigned long long)hpa, physim_strerror(rc));
}

/* A zeroed frame: guest memory never shows what a frame held before. */
static int frame_alloc_zeroed(struct physim_aspace *as, physim_hpa_t *out)
{
	physim_hpa_t hpa = 0;
	int rc = as->mm->alloc_frame(as->mm->ctx, &hpa);
	if (rc != 0)
		return rc < 0 ? rc : -ENOMEM;
	void *p = frame_hva(as, hpa);
	if (p == NULL) {
		frame_free(as, hpa);
		return -EFAULT;
	}
	memset(p, 0, PAGE);
	*out = hpa;
	return 0;
}

/* Frames given back to the HAL, newest first. */
static void frames_free(struct physim_aspace *as, const physim_hpa_t *hpa, size_t n)
{
	while (n-- > 0)
		frame_free(as, hpa[n]);
}

/* ---- dirty bitmap ---- */

static void dirty_set_page(struct physim_aspace *as, uint64_t gpa)
{
	uint64_t bit = (gpa - as->base) / PAGE;
	atomic_fetch_or_explicit(&as->dirty[bit / 64], UINT64_C(1) << (bit % 64),
				 memory_order_release);
}

/* Mark every page of [gpa, gpa + len) that lies in the space (len > 0). */
static void dirty_set_range(struct physim_aspace *as, uint64_t gpa, uint64_t len)
{
	uint64_t first = gpa < as->base ? as->base : gpa;
	uint64_t last = gpa + (len - 1);
	uint64_t space_last = as->base + (as->size - 1);
	if (last > space_last)
		last = space_last;
	if (as->dirty == NULL || first > last)
		return;
	for (uint64_t p = physim_align_down(first, PAGE);; p += PAGE) {
		dirty_set_page(as, p);
		if (last - p < PAGE)
			break;
	}
}

/* Take (read and clear) nbits (1..64) bits from bit `first` on. */
static uint64_t dirty_take(struct physim_aspace *as, uint64_t first, unsigned nbits)
{
	uint64_t w = first / 64;
	unsigned off = (unsigned)(first % 64);
	unsigned lo_n = nbits < 64 - off ? nbits : 64 - off;
	uint64_t mask = (lo_n == 64 ? UINT64_MAX : (UINT64_C(1) << lo_n) - 1) << off;
	uint64_t got =
	    (atomic_fetch_and_explicit(&as->dirty[w], ~mask, memory_order_acq_rel) & mask) >> off;
	if (nbits > lo_n) {
		unsigned rest = nbits - lo_n;
		uint64_t mask2 = (UINT64_C(1) << rest) - 1;
		uint64_t hi =
		    atomic_fetch_and_explicit(&as->dirty[w + 1], ~mask2, memory_order_acq_rel);
		got |= (hi & mask2) << lo_n;
	}
	return got;
}

struct harvest {
	struct physim_aspace *as;
	bool mark; /* move the dirty pages into the bitmap */
};

/* One traversal: each dirty leaf is marked in the bitmap, then its hardware
 * dirty bit cleared in place (keeping its accessed bit) by compare-and-swap,
 * so a walker on another thread setting A or D meanwhile loses nothing
 * (pt.h). Each cleared leaf goes to the flush callback at once, in a call
 * of its own (as physim_pt_clear_ad per leaf did), as a TLB must forget the
 * old entry. */
static int harvest_leaf(void *ctx, const struct pt_slot *s)
{
	struct harvest *h = ctx;
	if (!s->m.dirty)
		return 0;
	/* The whole leaf: pages of a huge leaf outside the fetched range must
	 * not lose their dirty state when its bit is cleared. */
	if (h->mark)
		dirty_set_range(h->as, s->m.va, s->m.size);
	if (physim_pt_slot_clear_ad(h->as->pt, s, false, true))
		physim_pt_flush_one(h->as->pt, s->m.va);
	return 0;
}

/* Move the hardware dirty bits of leaves in [gpa, gpa + size) into the
 * bitmap (mark) or just clear them. */
static void harvest_hw(struct physim_aspace *as, uint64_t gpa, uint64_t size, bool mark)
{
	if (!as->hw_dirty_tracked)
		return;
	struct harvest h = {.as = as, .mark = mark};
	int rc = physim_pt_iter_leaves(as->pt, gpa, size, harvest_leaf, &h);
	if (rc != 0)
		physim_log_error("aspace: dirty harvest walk failed: %s", physim_strerror(rc));
}

/* ---- creation ---- */

static int check_config(const struct physim_aspace_config *c)
{
	if (c->format == NULL || c->mm == NULL || c->paging == NULL)
		return -EINVAL;
	const struct physim_mm_hal *mm = c->mm;
	if (!mm->alloc_frame || !mm->dealloc_frame || !mm->phys_to_virt)
		return -EINVAL;
	struct physim_pt_format_info info;
	physim_format_get_info(c->format, &info);
	/* Areas and the dirty bitmap work in 4 KiB pages: the format's
	 * smallest page must be 4 KiB (every stage-2 format's is). */
	if (!info.stage2 || info.level[0].shift != PHYSIM_FRAME_SHIFT)
		return -EINVAL;
	if (!physim_is_aligned(c->base | c->size, PAGE) || !physim_range_ok(c->base, c->size))
		return -EINVAL;
	unsigned bits = info.sign_extended ? info.va_bits - 1 : info.va_bits;
	if (bits < 64 && ((c->base + (c->size - 1)) >> bits) != 0)
		return -EINVAL;
	return 0;
}

int physim_aspace_create(const struct physim_aspace_config *config, struct physim_aspace **out)
{
	if (config == NULL || out == NULL)
		return -EINVAL;
	int rc = check_config(config);
	if (rc != 0)
		return rc;
	struct physim_aspace *as = calloc(1, sizeof(*as));
	if (as == NULL)
		return -ENOMEM;
	struct physim_pt_config pc = {
	    .format = config->format,
	    .paging = config->paging,
	    .flush = config->flush,
	    .flush_ctx = config->flush_ctx,
	};
	rc = physim_pt_create_ex(&pc, &as->pt);
	if (rc != 0) {
		free(as);
		return rc;
	}
	struct physim_pt_format_info info;
	physim_format_get_info(config->format, &info);
	as->hw_dirty_tracked = !info.presets_dirty;
	as->mm = config->mm;
	as->vm = config->vm;
	as->base = config->base;
	as->size = config->size;
	*out = as;
	return 0;
}

void physim_aspace_destroy(struct physim_aspace *as)
{
	if (as == NULL)
		return;
	physim_aspace_clear(as);
	physim_pt_destroy(as->pt);
	free((void *)as->dirty);
	free(as->areas);
	free(as);
}

const struct physim_pt *physim_aspace_pt(const struct physim_aspace *as)
{
	return as ? as->pt : NULL;
}

physim_hpa_t physim_aspace_root(const struct physim_aspace *as)
{
	return as ? physim_pt_root(as->pt) : 0;
}

physim_gpa_t physim_aspace_base(const struct physim_aspace *as)
{
	return as ? as->base : 0;
}

uint64_t physim_aspace_size(const struct physim_aspace *as)
{
	return as ? as->size : 0;
}

struct physim_aspace_stats physim_aspace_stats(const struct physim_aspace *as)
{
	struct physim_aspace_stats s = {0};
	if (as == NULL)
		return s;
	s.areas = as->nareas;
	s.alloc_frames = as->alloc_frames;
	s.table_frames = physim_pt_table_frames(as->pt);
	s.faults_handled = as->faults_handled;
	s.faults_refused = as->faults_refused;
	return s;
}

/* ---- mapping ---- */

int physim_aspace_map_linear(struct physim_aspace *as, physim_gpa_t gpa, physim_hpa_t hpa,
			     uint64_t size, uint32_t flags)
{
	if (as == NULL)
		return -EINVAL;
	int rc = map_args(as, gpa, size, flags);
	if (rc != 0)
		return rc;
	if (!physim_is_aligned(hpa, PAGE) || !physim_range_ok(hpa, size))
		return -EINVAL;
	rc = areas_reserve(as, 1);
	if (rc == 0)
		rc = physim_pt_map_region(as->pt, gpa, hpa, size, flags, PHYSIM_ALLOW_HUGE);
	if (rc != 0)
		return rc;
	struct area a = {
	    .start = gpa, .size = size, .flags = flags, .kind = PHYSIM_AREA_LINEAR, .hpa = hpa};
	areas_insert(as, &a);
	return 0;
}

/* -ENOTSUP now for flags the format cannot express, rather than at the
 * first fault of a lazy area or after claiming an identity region. */
static int flags_expressible(const struct physim_aspace *as, uint32_t flags)
{
	return physim_format_flags_ok(physim_pt_format(as->pt), flags, 0);
}

int physim_aspace_map_identity(struct physim_aspace *as, physim_gpa_t gpa, uint64_t size,
			       uint32_t flags)
{
	if (as == NULL || as->vm == NULL || as->vm->alloc_memory_region_at == NULL ||
	    as->vm->dealloc_memory_region_at == NULL)
		return -EINVAL;
	int rc = map_args(as, gpa, size, flags);
	if (rc == 0)
		rc = flags_expressible(as, flags);
	if (rc == 0)
		rc = areas_reserve(as, 1);
	if (rc != 0)
		return rc;
	const struct physim_vm_hal *vm = as->vm;
	rc = vm->alloc_memory_region_at(vm->ctx, gpa, size);
	if (rc != 0) {
		physim_log_debug("aspace: identity region %#llx+%#llx unavailable: %s",
				 (unsigned long long)gpa, (unsigned long long)size,
				 physim_strerror(rc));
		return rc < 0 ? rc : -EBUSY;
	}
	rc = physim_pt_map_region(as->pt, gpa, gpa, size, flags, PHYSIM_ALLOW_HUGE);
	if (rc != 0) {
		int rc2 = vm->dealloc_memory_region_at(vm->ctx, gpa, size);
		if (rc2 != 0)
			physim_log_error("aspace: giving back identity region %#llx failed: %s",
					 (unsigned long long)gpa, physim_strerror(rc2));
		return rc;
	}
	struct area a = {.start = gpa,
			 .size = size,
			 .flags = flags,
			 .kind = PHYSIM_AREA_LINEAR,
			 .hpa = gpa,
			 .identity = true};
	areas_insert(as, &a);
	return 0;
}

struct frame_list {
	const physim_hpa_t *hpa;
	uint64_t gpa; /* gpa of hpa[0] */
};

static int frame_list_pa(void *ctx, uint64_t va, uint64_t *pa)
{
	const struct frame_list *fl = ctx;
	*pa = fl->hpa[(va - fl->gpa) / PAGE];
	return 0;
}

/* Allocate every frame first, then map them all at once. */
static int populate_area(struct physim_aspace *as, uint64_t gpa, uint64_t size, uint32_t flags)
{
	uint64_t n = size / PAGE;
	if (n > SIZE_MAX / sizeof(physim_hpa_t))
		return -ENOMEM;
	physim_hpa_t *hpa = malloc((size_t)n * sizeof(*hpa));
	if (hpa == NULL)
		return -ENOMEM;
	int rc = 0;
	size_t got = 0;
	while (got < n && (rc = frame_alloc_zeroed(as, &hpa[got])) == 0)
		got++;
	if (rc == 0) {
		struct frame_list fl = {.hpa = hpa, .gpa = gpa};
		rc = physim_pt_map_region_cb(as->pt, gpa, size, flags, 0, frame_list_pa, &fl);
	}
	if (rc != 0)
		frames_free(as, hpa, got);
	free(hpa);
	return rc;
}

int physim_aspace_map_alloc(struct physim_aspace *as, physim_gpa_t gpa, uint64_t size,
			    uint32_t flags, bool populate)
{
	if (as == NULL)
		return -EINVAL;
	int rc = map_args(as, gpa, size, flags);
	if (rc == 0)
		rc = flags_expressible(as, flags);
	if (rc == 0)
		rc = areas_reserve(as, 1);
	if (rc == 0 && populate)
		rc = populate_area(as, gpa, size, flags);
	if (rc != 0)
		return rc;
	struct area a = {.start = gpa,
			 .size = size,
			 .flags = flags,
			 .kind = PHYSIM_AREA_ALLOC,
			 .populate = populate,
			 .frames = populate ? size / PAGE : 0};
	areas_insert(as, &a);
	as->alloc_frames += a.frames;
	return 0;
}

/* ---- unmapping ---- */

/* What an unmap must do after the table change: frames to free (ALLOC
 * leaves) and, when logging, dirty leaves to move into the bitmap. The same
 * traversal counts the frames still mapped on either side of [gpa, last]
 * in the lazy ALLOC areas it cuts (the pieces they leave keep a count). */
struct unmap_plan {
	struct physim_aspace *as;
	uint64_t gpa, last;
	uint64_t below, above; /* pages mapped before gpa / after last */
	physim_hpa_t *frames;
	size_t nframes, cap;
	struct {
		uint64_t va, size;
	} * dirty;
	size_t ndirty, dcap;
};

static int grow(void **p, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 64;
	void *q = realloc(*p, c * elem);
	if (q == NULL)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static int plan_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	struct unmap_plan *pl = ctx;
	/* Outside the unmapped range: a lazy ALLOC piece that stays (4 KiB
	 * leaves only). */
	if (m->va + (m->size - 1) < pl->gpa) {
		pl->below += m->size / PAGE;
		return 0;
	}
	if (m->va > pl->last) {
		pl->above += m->size / PAGE;
		return 0;
	}
	const struct area *a = area_find(pl->as, m->va < pl->gpa ? pl->gpa : m->va);
	if (a != NULL && a->kind == PHYSIM_AREA_ALLOC) {
		if (grow((void **)&pl->frames, &pl->cap, pl->nframes, sizeof(*pl->frames)) != 0)
			return -ENOMEM;
		pl->frames[pl->nframes++] = m->pa;
	}
	if (m->dirty && pl->as->dirty != NULL && pl->as->hw_dirty_tracked) {
		/* Only the unmapped part: the rest of a split huge leaf keeps D. */
		uint64_t s = m->va < pl->gpa ? pl->gpa : m->va;
		uint64_t e = m->va + (m->size - 1) > pl->last ? pl->last : m->va + (m->size - 1);
		if (grow((void **)&pl->dirty, &pl->dcap, pl->ndirty, sizeof(*pl->dirty)) != 0)
			return -ENOMEM;
		pl->dirty[pl->ndirty].va = s;
		pl->dirty[pl->ndirty].size = e - s + 1;
		pl->ndirty++;
	}
	return 0;
}

static void plan_free(struct unmap_plan *pl)
{
	free(pl->frames);
	free(pl->dirty);
}

static void identity_give_back(struct physim_aspace *as, uint64_t gpa, uint64_t size)
{
	int rc = as->vm->dealloc_memory_region_at(as->vm->ctx, gpa, size);
	if (rc != 0)
		physim_log_error("aspace: giving back identity region %#llx+%#llx failed: %s",
				 (unsigned long long)gpa, (unsigned long long)size,
				 physim_strerror(rc));
}

/* The part of area *a that [gpa, last] does not cover, on one side. */
static struct area area_piece(const struct area *a, uint64_t start, uint64_t last)
{
	struct area p = *a;
	p.start = start;
	p.size = last - start + 1;
	if (a->kind == PHYSIM_AREA_LINEAR)
		p.hpa = a->hpa + (start - a->start);
	return p;
}

/* A lazy ALLOC area: its frames are mapped page by page on first touch. */
static bool area_lazy(const struct area *a)
{
	return a->kind == PHYSIM_AREA_ALLOC && !a->populate;
}

/* Replace areas [lo, hi) by what is left of them outside [gpa, last];
 * give back identity parts; lazy pieces keep the frames the plan counted
 * in them. The table is already unmapped. */
static void areas_cut(struct physim_aspace *as, size_t lo, size_t hi, const struct unmap_plan *pl)
{
	uint64_t gpa = pl->gpa, last = pl->last;
	struct area keep[2];
	size_t nkeep = 0;
	const struct area *first = &as->areas[lo], *final = &as->areas[hi - 1];
	if (first->start < gpa) {
		keep[nkeep] = area_piece(first, first->start, gpa - 1);
		if (area_lazy(first))
			keep[nkeep].frames = pl->below;
		nkeep++;
	}
	if (area_last(final) > last) {
		keep[nkeep] = area_piece(final, last + 1, area_last(final));
		if (area_lazy(final))
			keep[nkeep].frames = pl->above;
		nkeep++;
	}
	for (size_t i = lo; i < hi; i++) {
		const struct area *a = &as->areas[i];
		uint64_t s = a->start < gpa ? gpa : a->start;
		uint64_t e = area_last(a) > last ? last : area_last(a);
		if (a->identity)
			identity_give_back(as, a->hpa + (s - a->start), e - s + 1);
	}
	for (size_t k = 0; k < nkeep; k++)
		if (keep[k].kind == PHYSIM_AREA_ALLOC && keep[k].populate)
			keep[k].frames = keep[k].size / PAGE;
	size_t tail = as->nareas - hi;
	memmove(&as->areas[lo + nkeep], &as->areas[hi], tail * sizeof(struct area));
	memcpy(&as->areas[lo], keep, nkeep * sizeof(struct area));
	as->nareas = lo + nkeep + tail;
}

int physim_aspace_unmap(struct physim_aspace *as, physim_gpa_t gpa, uint64_t size)
{
	if (as == NULL || !range_in_space(as, gpa, size))
		return -EINVAL;
	uint64_t last = gpa + (size - 1);
	size_t lo = area_lower_bound(as, gpa), hi = lo;
	while (hi < as->nareas && as->areas[hi].start <= last)
		hi++;
	if (lo == hi)
		return 0; /* only holes */
	/* One area cut in the middle becomes two. */
	struct unmap_plan pl = {.as = as, .gpa = gpa, .last = last};
	struct physim_pt_walk_ops ops = {.leaf = plan_leaf};
	/* One traversal also covers the lazy pieces that stay. */
	const struct area *first = &as->areas[lo], *final = &as->areas[hi - 1];
	uint64_t ws = first->start < gpa && area_lazy(first) ? first->start : gpa;
	uint64_t wl = area_last(final) > last && area_lazy(final) ? area_last(final) : last;
	int rc = areas_reserve(as, 1);
	if (rc == 0)
		rc = physim_pt_walk(as->pt, ws, wl - ws + 1, &ops, &pl);
	if (rc == 0)
		rc = physim_pt_unmap_region(as->pt, gpa, size);
	if (rc != 0) {
		plan_free(&pl);
		return rc;
	}
	frames_free(as, pl.frames, pl.nframes);
	as->alloc_frames -= pl.nframes;
	for (size_t i = 0; i < pl.ndirty; i++)
		dirty_set_range(as, pl.dirty[i].va, pl.dirty[i].size);
	plan_free(&pl);
	areas_cut(as, lo, hi, &pl);
	return 0;
}

/* clear() cannot fail, so it cannot collect frames in a list first: it
 * frees each ALLOC leaf's frame from the walk, then drops the leaves. */
static int clear_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	struct physim_aspace *as = ctx;
	const struct area *a = area_find(as, m->va);
	if (m->dirty && as->dirty != NULL && as->hw_dirty_tracked)
		dirty_set_range(as, m->va, m->size);
	if (a != NULL && a->kind == PHYSIM_AREA_ALLOC) {
		frame_free(as, m->pa);
		as->alloc_frames--;
	}
	return 0;
}

void physim_aspace_clear(struct physim_aspace *as)
{
	if (as == NULL)
		return;
	struct physim_pt_walk_ops ops = {.leaf = clear_leaf};
	for (size_t i = 0; i < as->nareas; i++) {
		const struct area *a = &as->areas[i];
		int rc = physim_pt_walk(as->pt, a->start, a->size, &ops, as);
		if (rc == 0)
			rc = physim_pt_unmap_region(as->pt, a->start, a->size);
		if (rc != 0)
			physim_log_error("aspace: clearing area %#llx failed: %s",
					 (unsigned long long)a->start, physim_strerror(rc));
		if (a->identity)
			identity_give_back(as, a->hpa, a->size);
	}
	as->nareas = 0;
	if (as->alloc_frames != 0)
		physim_log_error("aspace: %llu alloc frames unaccounted for after clear",
				 (unsigned long long)as->alloc_frames);
	as->alloc_frames = 0;
}

/* ---- queries ---- */

bool physim_aspace_contains_range(const struct physim_aspace *as, physim_gpa_t gpa, uint64_t size)
{
	if (as == NULL || !physim_range_ok(gpa, size))
		return false;
	return gpa >= as->base && gpa + (size - 1) <= as->base + (as->size - 1);
}

int physim_aspace_for_each_area(const struct physim_aspace *as,
				int (*fn)(void *ctx, const struct physim_area_info *a), void *ctx)
{
	if (as == NULL || fn == NULL)
		return -EINVAL;
	for (size_t i = 0; i < as->nareas; i++) {
		const struct area *a = &as->areas[i];
		struct physim_area_info info = {
		    .start = a->start,
		    .size = a->size,
		    .flags = a->flags,
		    .kind = a->kind,
		    .linear_hpa = a->kind == PHYSIM_AREA_LINEAR ? a->hpa : 0,
		    .populate = a->populate,
		    .identity = a->identity,
		    .frames = a->frames,
		};
		int rc = fn(ctx, &info);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* hpa of gpa if an area holds it and its page is mapped. */
static int lookup(const struct physim_aspace *as, uint64_t gpa, const struct area **area,
		  physim_hpa_t *hpa)
{
	const struct area *a = area_find(as, gpa);
	struct physim_pt_mapping m;
	if (a == NULL)
		return -ENOENT;
	int rc = physim_pt_query(as->pt, gpa, &m);
	if (rc != 0)
		return rc == -EINVAL ? -ENOENT : rc;
	*area = a;
	*hpa = m.pa + (gpa - m.va);
	return 0;
}

int physim_aspace_translate(const struct physim_aspace *as, physim_gpa_t gpa, physim_hpa_t *hpa)
{
	const struct area *a;
	if (as == NULL || hpa == NULL)
		return -EINVAL;
	return lookup(as, gpa, &a, hpa);
}

int physim_aspace_translate_and_get_limit(const struct physim_aspace *as, physim_gpa_t gpa,
					  physim_hpa_t *hpa, uint64_t *limit)
{
	const struct area *a;
	physim_hpa_t h;
	if (as == NULL || hpa == NULL || limit == NULL)
		return -EINVAL;
	int rc = lookup(as, gpa, &a, &h);
	if (rc != 0)
		return rc;
	*hpa = h;
	*limit = area_last(a) - gpa + 1;
	return 0;
}

/* Host pointer of the byte at gpa, valid up to the end of its 4 KiB page:
 * -ENOENT if unbacked, -EFAULT if the HAL cannot reach the frame (a LINEAR
 * area over MMIO or other memory outside the mm HAL). */
static int gpa_hva(const struct physim_aspace *as, uint64_t gpa, uint8_t **p)
{
	const struct area *a;
	physim_hpa_t hpa;
	int rc = lookup(as, gpa, &a, &hpa);
	if (rc != 0)
		return rc;
	uint8_t *frame = frame_hva(as, physim_align_down(hpa, PAGE));
	if (frame == NULL)
		return -EFAULT;
	*p = frame + (hpa % PAGE);
	return 0;
}

/* Spans of [gpa, gpa + len); iov may be NULL (count only). */
static int build_spans(const struct physim_aspace *as, uint64_t gpa, size_t len,
		       struct physim_iovec *iov, size_t *count)
{
	uint8_t *prev_end = NULL;
	size_t n = 0;
	uint64_t cur = gpa, left = len;
	while (left > 0) {
		uint64_t chunk = PAGE - (cur % PAGE);
		if (chunk > left)
			chunk = left;
		uint8_t *p;
		int rc = gpa_hva(as, cur, &p);
		if (rc != 0)
			return rc;
		if (n > 0 && p == prev_end) {
			if (iov != NULL)
				iov[n - 1].len += (size_t)chunk;
		} else {
			if (iov != NULL)
				iov[n] = (struct physim_iovec){.base = p, .len = (size_t)chunk};
			n++;
		}
		prev_end = p + chunk;
		cur += chunk;
		left -= chunk;
	}
	*count = n;
	return 0;
}

int physim_aspace_translated_buffer(const struct physim_aspace *as, physim_gpa_t gpa, size_t len,
				    struct physim_iovec *iov, size_t max, size_t *n)
{
	if (as == NULL || n == NULL || (iov == NULL && max > 0))
		return -EINVAL;
	if (len == 0) {
		*n = 0;
		return 0;
	}
	if (!physim_range_ok(gpa, len))
		return -EINVAL;
	size_t need;
	int rc = build_spans(as, gpa, len, NULL, &need);
	if (rc != 0)
		return rc;
	*n = need;
	if (need > max)
		return -ERANGE;
	return build_spans(as, gpa, len, iov, &need);
}

/* ---- page faults ---- */

/* Back each page in pages[] (all in lazy ALLOC areas, all unmapped) with a
 * zeroed frame: every frame first, then the mappings; all or nothing. */
static int populate_pages(struct physim_aspace *as, const uint64_t *pages, size_t n)
{
	physim_hpa_t one, *hpa = &one;
	if (n > 1 && (hpa = malloc(n * sizeof(*hpa))) == NULL)
		return -ENOMEM;
	size_t got = 0, mapped = 0;
	int rc = 0;
	while (got < n && (rc = frame_alloc_zeroed(as, &hpa[got])) == 0)
		got++;
	while (rc == 0 && mapped < n) {
		const struct area *a = area_find(as, pages[mapped]);
		rc = physim_pt_map(as->pt, pages[mapped], hpa[mapped], PAGE, a->flags);
		if (rc == 0)
			mapped++;
	}
	if (rc != 0) {
		/* Unmapping a 4 KiB leaf splits nothing, so it cannot fail; it
		 * also frees the tables the maps made, which are empty again. */
		while (mapped-- > 0)
			if (physim_pt_unmap(as->pt, pages[mapped], NULL) != 0)
				physim_log_error("aspace: rollback of %#llx failed",
						 (unsigned long long)pages[mapped]);
		frames_free(as, hpa, got);
	} else {
		for (size_t i = 0; i < n; i++)
			area_find(as, pages[i])->frames++;
		as->alloc_frames += n;
		as->faults_handled += n;
	}
	if (hpa != &one)
		free(hpa);
	return rc;
}

int physim_aspace_handle_page_fault(struct physim_aspace *as, physim_gpa_t gpa, uint32_t access)
{
	if (as == NULL || access == 0 || (access & ~ACCESS_FLAGS))
		return -EINVAL;
	const struct area *a = area_find(as, gpa);
	uint64_t page = physim_align_down(gpa, PAGE);
	struct physim_pt_mapping m;
	bool ok = a != NULL && a->kind == PHYSIM_AREA_ALLOC && (a->flags & access) == access &&
		  physim_pt_query(as->pt, page, &m) == -ENOENT;
	if (!ok) {
		as->faults_refused++;
		return -EFAULT;
	}
	return populate_pages(as, &page, 1);
}

/* ---- guest memory accessor ---- */

/* Pages of the access not yet backed. */
struct page_list {
	uint64_t *page;
	size_t n, cap;
	uint64_t local[4];
};

static int page_list_add(struct page_list *l, uint64_t page)
{
	if (l->n == l->cap) {
		size_t cap = l->cap * 2;
		uint64_t *p = l->page == l->local ? malloc(cap * sizeof(*p))
						  : realloc(l->page, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		if (l->page == l->local)
			memcpy(p, l->local, sizeof(l->local));
		l->page = p;
		l->cap = cap;
	}
	l->page[l->n++] = page;
	return 0;
}

/* Check every page of [gpa, gpa + len) before touching any: an area whose
 * flags allow `need`, and either a frame the HAL can reach or a lazy page
 * (collected in *missing) that a fault would populate. */
static int access_check(const struct physim_aspace *as, uint64_t gpa, size_t len, uint32_t need,
			struct page_list *missing)
{
	if (!physim_range_ok(gpa, len))
		return -EFAULT;
	uint64_t last = gpa + (len - 1);
	for (uint64_t page = physim_align_down(gpa, PAGE);; page += PAGE) {
		const struct area *a = area_find(as, page < gpa ? gpa : page);
		if (a == NULL || (a->flags & need) != need)
			return -EFAULT;
		uint8_t *p;
		int rc = gpa_hva(as, page < gpa ? gpa : page, &p);
		if (rc == -ENOENT && a->kind == PHYSIM_AREA_ALLOC)
			rc = page_list_add(missing, page);
		else if (rc != 0)
			return -EFAULT;
		if (rc != 0)
			return rc;
		if (last - page < PAGE)
			return 0;
	}
}

/* Check, then populate what is missing: after 0 every byte is backed. */
static int access_prepare(struct physim_aspace *as, uint64_t gpa, size_t len, uint32_t need)
{
	struct page_list missing = {.cap = 4};
	missing.page = missing.local;
	int rc = access_check(as, gpa, len, need, &missing);
	if (rc == 0 && missing.n > 0)
		rc = populate_pages(as, missing.page, missing.n);
	if (missing.page != missing.local)
		free(missing.page);
	return rc;
}

/* Copy between buf and guest memory; every byte is known to be backed. */
static void access_copy(struct physim_aspace *as, uint64_t gpa, uint8_t *buf, size_t len,
			bool write)
{
	while (len > 0) {
		size_t chunk = (size_t)(PAGE - (gpa % PAGE));
		if (chunk > len)
			chunk = len;
		uint8_t *p = NULL;
		if (gpa_hva(as, gpa, &p) != 0) {
			physim_log_error("aspace: %#llx lost its backing during a copy",
					 (unsigned long long)gpa);
			return;
		}
		if (write)
			memcpy(p, buf, chunk);
		else
			memcpy(buf, p, chunk);
		gpa += chunk;
		buf += chunk;
		len -= chunk;
	}
}

int physim_guest_read(struct physim_aspace *as, physim_gpa_t gpa, void *buf, size_t len)
{
	if (as == NULL || (buf == NULL && len > 0))
		return -EINVAL;
	if (len == 0)
		return 0;
	int rc = access_prepare(as, gpa, len, PHYSIM_R);
	if (rc == 0)
		access_copy(as, gpa, buf, len, false);
	return rc;
}

int physim_guest_write(struct physim_aspace *as, physim_gpa_t gpa, const void *buf, size_t len)
{
	if (as == NULL || (buf == NULL && len > 0))
		return -EINVAL;
	if (len == 0)
		return 0;
	int rc = access_prepare(as, gpa, len, PHYSIM_W);
	if (rc != 0)
		return rc;
	access_copy(as, gpa, (uint8_t *)(uintptr_t)buf, len, true);
	dirty_set_range(as, gpa, len);
	return 0;
}

static bool volatile_args_ok(unsigned width, uint64_t gpa)
{
	return (width == 1 || width == 2 || width == 4 || width == 8) && gpa % width == 0;
}

int physim_guest_read_volatile(struct physim_aspace *as, physim_gpa_t gpa, unsigned width,
			       uint64_t *value)
{
	if (as == NULL || value == NULL || !volatile_args_ok(width, gpa))
		return -EINVAL;
	uint8_t *p;
	int rc = access_prepare(as, gpa, width, PHYSIM_R);
	if (rc == 0)
		rc = gpa_hva(as, gpa, &p);
	if (rc == 0 && (uintptr_t)p % width != 0)
		rc = -EFAULT; /* a HAL whose frames are not aligned in host memory */
	if (rc == 0)
		*value = physim_load_volatile(p, width);
	return rc;
}

int physim_guest_write_volatile(struct physim_aspace *as, physim_gpa_t gpa, unsigned width,
				uint64_t value)
{
	if (as == NULL || !volatile_args_ok(width, gpa))
		return -EINVAL;
	uint8_t *p;
	int rc = access_prepare(as, gpa, width, PHYSIM_W);
	if (rc == 0)
		rc = gpa_hva(as, gpa, &p);
	if (rc == 0 && (uintptr_t)p % width != 0)
		rc = -EFAULT;
	if (rc != 0)
		return rc;
	physim_store_volatile(p, width, value);
	dirty_set_range(as, gpa, width);
	return 0;
}

/* ---- dirty logging ---- */

int physim_aspace_dirty_log_enable(struct physim_aspace *as)
{
	if (as == NULL)
		return -EINVAL;
	if (as->dirty != NULL)
		return 0;
	uint64_t words = (as->size / PAGE + 63) / 64;
	if (words > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	_Atomic uint64_t *bits = calloc((size_t)words, sizeof(*bits));
	if (bits == NULL)
		return -ENOMEM;
	/* Logging starts clean: writes before it are not reported. */
	harvest_hw(as, as->base, as->size, false);
	as->dirty = bits;
	return 0;
}

void physim_aspace_dirty_log_disable(struct physim_aspace *as)
{
	if (as == NULL || as->dirty == NULL)
		return;
	free((void *)as->dirty);
	as->dirty = NULL;
}

int64_t physim_aspace_dirty_log_fetch_clear(struct physim_aspace *as, physim_gpa_t gpa,
					    uint64_t npages, uint64_t *bitmap)
{
	if (as == NULL || bitmap == NULL || as->dirty == NULL || npages == 0 ||
	    npages > UINT64_MAX / PAGE || !range_in_space(as, gpa, npages * PAGE))
		return -EINVAL;
	harvest_hw(as, gpa, npages * PAGE, true);
	uint64_t first = (gpa - as->base) / PAGE;
	int64_t count = 0;
	for (uint64_t w = 0; w * 64 < npages; w++) {
		uint64_t left = npages - w * 64;
		unsigned nbits = left < 64 ? (unsigned)left : 64;
		bitmap[w] = dirty_take(as, first + w * 64, nbits);
		count += (int64_t)bitops_popcount(bitmap[w]);
	}
	return count;
}

void physim_aspace_mark_dirty(struct physim_aspace *as, physim_gpa_t gpa)
{
	if (as == NULL || as->dirty == NULL || gpa < as->base || gpa - as->base >= as->size)
		return;
	dirty_set_page(as, physim_align_down(gpa, PAGE));
}
