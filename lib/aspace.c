/* SPDX-License-Identifier: MIT */
/* lib/aspace.c - a guest address space (axaddrspace::AddrSpace): sorted areas
 * over one stage-2 table, their frames, creation, mapping, unmapping and
 * clearing. Guest memory (translation, faults, the accessor) is in
 * aspace-mem.c, dirty logging in aspace-dirty.c, what they share in
 * aspace-priv.h. Uses only hal.h and pt.h (never the simulated RAM).
 *
 * The header states what a caller sees (MMIO LINEAR areas, faults_handled,
 * translated_buffer edge cases, dirty logging). Decided here besides:
 * - Unmap and clear move the dirty bits of the leaves they drop into the
 *   dirty bitmap (aspace-dirty.c says who may touch it when). */
#include "aspace-priv.h"

#include <stdlib.h>
#include <string.h>

#define KNOWN_FLAGS (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U | PHYSIM_DEVICE | PHYSIM_UNCACHED)

/* ---- areas ---- */

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

/* ---- frames ---- */

static void frame_free(struct physim_aspace *as, physim_hpa_t hpa)
{
	int rc = as->mm->dealloc_frame(as->mm->ctx, hpa);
	if (rc != 0)
		physim_log_error("aspace: returning frame %#llx failed: %s",
				 (unsigned long long)hpa, physim_strerror(rc));
}

/* A zeroed frame: guest memory never shows what a frame held before. */
int physim_aspace_frame_alloc_zeroed(struct physim_aspace *as, physim_hpa_t *out)
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
void physim_aspace_frames_free(struct physim_aspace *as, const physim_hpa_t *hpa, size_t n)
{
	while (n-- > 0)
		frame_free(as, hpa[n]);
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
	    .flush_ex = config->flush_ex,
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
	while (got < n && (rc = physim_aspace_frame_alloc_zeroed(as, &hpa[got])) == 0)
		got++;
	if (rc == 0) {
		struct frame_list fl = {.hpa = hpa, .gpa = gpa};
		rc = physim_pt_map_region_cb(as->pt, gpa, size, flags, 0, frame_list_pa, &fl);
	}
	if (rc != 0)
		physim_aspace_frames_free(as, hpa, got);
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
	physim_aspace_frames_free(as, pl.frames, pl.nframes);
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
