/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_aspace.c - the guest address space (aspace.h) on every
 * stage-2 format: map_linear / map_alloc / map_identity / unmap / clear,
 * guest reads and writes (plain and volatile), translate and
 * translated_buffer, nested page faults (the walker on the space's table,
 * then physim_aspace_handle_page_fault) and dirty logging, decoded from the
 * input and checked after every step against a model of the areas, the
 * stage-2 leaves, guest memory contents, who holds every frame and the dirty
 * bits. Allocation failures are injected on request (counting HAL) and must
 * change nothing; destroy must return every frame.
 *
 * Input: byte 0 format, byte 1 options (walker control bits, a bad config
 * to try first), then operations: one byte (low 4 bits the operation, bit 4
 * "bad argument", bit 7 fail an allocation) and its operands. */
#include "common/ptmodel.h"
#include "fuzz.h"

#include <physim/aspace.h>
#include <physim/ram.h>
#include <physim/walk.h>

#include <stdarg.h>

#define PG	   PHYSIM_FRAME_SIZE
#define RAM_BASE   UINT64_C(0x80000000)
#define RAM_FRAMES 16384 /* 64 MiB */
#define RAM_END	   (RAM_BASE + RAM_FRAMES * PG)
/* Frames the harness claims once and lets LINEAR areas map (2 MiB aligned,
 * so 2 MiB leaves happen). Nothing else in RAM is ever mapped linearly:
 * guest writes there would land on the allocator's frames. */
#define POOL_HPA    (RAM_BASE + (UINT64_C(32) << 20))
#define POOL_FRAMES 512
/* Host-physical addresses outside RAM (MMIO), below every stage-2 format's
 * output limit (sv32x4: 34 bits). */
#define MMIO_HPA    UINT64_C(0x100000000)
#define MMIO_SIZE   (UINT64_C(4) << 30)
#define SPACE_SIZE  (UINT64_C(4) << 30) /* the space is [0, 4 GiB) */
#define SPACE_PAGES (SPACE_SIZE / PG)

#define MAX_OPS		200
#define MAX_AREAS	48 /* no map call beyond this many; unmap splits add more */
#define AREA_CAP	(2 * MAX_AREAS)
#define MAX_AREA_PAGES	512 /* ALLOC and identity areas */
#define MAX_POPULATED	4096
#define MAX_IDENT_PAGES 4096
#define MAX_SHADOW	1024 /* frames whose contents the model holds */
#define MAX_IO		(3 * PG)
#define MAX_IOV		8

/* With FZ_VERBOSE set, each operation is told on stderr (to read a crash). */
static void trace(const char *fmt, ...)
{
	static int verbose = -1;
	if (verbose < 0)
		verbose = getenv("FZ_VERBOSE") != NULL;
	if (!verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* ---- who holds each RAM frame, as the HAL calls say ---- */

enum owner {
	OWN_FREE = 0,
	OWN_POOL,  /* the harness's LINEAR pool */
	OWN_MM,	   /* handed to the space through the mm HAL (ALLOC pages) */
	OWN_TABLE, /* handed out through the paging handler (stage-2 tables) */
	OWN_IDENT, /* claimed through the vm HAL (identity areas) */
	OWN_KINDS,
	OWN_KNOWN = 0x80, /* an OWN_MM frame the model has placed at a page */
};

static uint8_t owner[RAM_FRAMES];
static uint64_t owned[OWN_KINDS];

static bool ram_frame(uint64_t hpa, uint64_t *i)
{
	if (hpa < RAM_BASE || hpa >= RAM_END)
		return false;
	*i = (hpa - RAM_BASE) / PG;
	return true;
}

/* ---- guest memory contents: a copy of each frame the model touched ---- */

static uint32_t shadow_idx[RAM_FRAMES]; /* 0: none, else record + 1 */
static uint8_t shadow[MAX_SHADOW][PG];
static size_t nshadow;
static struct physim_direct_map ram_dm;

/* The frame's contents changed hands (allocated, freed, claimed). */
static void shadow_drop(uint64_t i)
{
	shadow_idx[i] = 0;
}

/* The model's copy of RAM frame i, made on first use: an ALLOC frame was
 * zeroed when it was handed to the space (and its copy dropped on every
 * change of hands); pool and identity frames hold whatever they held, so
 * the harness writes a pattern into them first. */
static uint8_t *shadow_of(uint64_t i)
{
	if (shadow_idx[i] != 0)
		return shadow[shadow_idx[i] - 1];
	FZ_CHECK(nshadow < MAX_SHADOW);
	uint8_t *s = shadow[nshadow++];
	shadow_idx[i] = (uint32_t)nshadow;
	uint8_t owner_kind = owner[i] & ~OWN_KNOWN;
	FZ_CHECK(owner_kind == OWN_MM || owner_kind == OWN_POOL || owner_kind == OWN_IDENT);
	if (owner_kind == OWN_MM) {
		memset(s, 0, PG);
	} else {
		for (size_t k = 0; k < PG; k++)
			s[k] = (uint8_t)(i * 7 + k * 13);
		memcpy(physim_dm_phys_to_virt(&ram_dm, RAM_BASE + i * PG), s, PG);
	}
	return s;
}

/* ---- a HAL layer that records every frame taken and given back ---- */

struct rec {
	const struct physim_mm_hal *mm;
	const struct physim_paging_handler *ph;
	const struct physim_vm_hal *vm;
};
static struct rec rec;

static void take(physim_hpa_t hpa, uint64_t n, enum owner kind)
{
	for (uint64_t k = 0; k < n; k++) {
		uint64_t i;
		FZ_CHECK(ram_frame(hpa + k * PG, &i) && owner[i] == OWN_FREE);
		owner[i] = (uint8_t)kind;
		owned[kind]++;
		shadow_drop(i);
	}
}

/* Check before the call: a frame is given back only by who holds it. */
static void check_held(physim_hpa_t hpa, uint64_t n, enum owner kind)
{
	for (uint64_t k = 0; k < n; k++) {
		uint64_t i;
		FZ_CHECK(ram_frame(hpa + k * PG, &i) && (owner[i] & ~OWN_KNOWN) == kind);
	}
}

static void give(physim_hpa_t hpa, uint64_t n, enum owner kind)
{
	for (uint64_t k = 0; k < n; k++) {
		uint64_t i;
		FZ_CHECK(ram_frame(hpa + k * PG, &i));
		owner[i] = OWN_FREE;
		owned[kind]--;
		shadow_drop(i);
	}
}

static int rec_mm_alloc(void *ctx, physim_hpa_t *hpa)
{
	int rc = rec.mm->alloc_frame(rec.mm->ctx, hpa);
	if (rc == 0)
		take(*hpa, 1, OWN_MM);
	return rc;
}

static int rec_mm_free(void *ctx, physim_hpa_t hpa)
{
	check_held(hpa, 1, OWN_MM);
	FZ_CHECK(rec.mm->dealloc_frame(rec.mm->ctx, hpa) == 0);
	give(hpa, 1, OWN_MM);
	return 0;
}

static void *rec_mm_p2v(void *ctx, physim_hpa_t hpa)
{
	return rec.mm->phys_to_virt(rec.mm->ctx, hpa);
}

static physim_hpa_t rec_mm_v2p(void *ctx, const void *hva)
{
	return rec.mm->virt_to_phys(rec.mm->ctx, hva);
}

static int rec_ph_alloc(void *ctx, physim_hpa_t *hpa)
{
	int rc = rec.ph->alloc_frame(rec.ph->ctx, hpa);
	if (rc == 0)
		take(*hpa, 1, OWN_TABLE);
	return rc;
}

static int rec_ph_alloc_n(void *ctx, size_t n, uint64_t align, physim_hpa_t *hpa)
{
	int rc = rec.ph->alloc_frames(rec.ph->ctx, n, align, hpa);
	if (rc == 0)
		take(*hpa, n, OWN_TABLE);
	return rc;
}

static int rec_ph_free(void *ctx, physim_hpa_t hpa)
{
	check_held(hpa, 1, OWN_TABLE);
	FZ_CHECK(rec.ph->dealloc_frame(rec.ph->ctx, hpa) == 0);
	give(hpa, 1, OWN_TABLE);
	return 0;
}

static int rec_ph_free_n(void *ctx, physim_hpa_t hpa, size_t n)
{
	check_held(hpa, n, OWN_TABLE);
	FZ_CHECK(rec.ph->dealloc_frames(rec.ph->ctx, hpa, n) == 0);
	give(hpa, n, OWN_TABLE);
	return 0;
}

static void *rec_ph_p2v(void *ctx, physim_hpa_t hpa)
{
	return rec.ph->phys_to_virt(rec.ph->ctx, hpa);
}

static int rec_vm_claim(void *ctx, physim_hpa_t base, uint64_t size)
{
	int rc = rec.vm->alloc_memory_region_at(rec.vm->ctx, base, size);
	if (rc == 0)
		take(base, size / PG, OWN_IDENT);
	return rc;
}

static int rec_vm_release(void *ctx, physim_hpa_t base, uint64_t size)
{
	check_held(base, size / PG, OWN_IDENT);
	FZ_CHECK(rec.vm->dealloc_memory_region_at(rec.vm->ctx, base, size) == 0);
	give(base, size / PG, OWN_IDENT);
	return 0;
}

static physim_hpa_t rec_vm_v2p(void *ctx, const void *hva)
{
	return rec.vm->virt_to_phys(rec.vm->ctx, hva);
}

static uint64_t rec_vm_time(void *ctx)
{
	return rec.vm->current_time_nanos(rec.vm->time_ctx);
}

static struct physim_mm_hal rec_mm = {
    .alloc_frame = rec_mm_alloc,
    .dealloc_frame = rec_mm_free,
    .phys_to_virt = rec_mm_p2v,
    .virt_to_phys = rec_mm_v2p,
};
static struct physim_paging_handler rec_ph = {
    .alloc_frame = rec_ph_alloc,
    .alloc_frames = rec_ph_alloc_n,
    .dealloc_frame = rec_ph_free,
    .dealloc_frames = rec_ph_free_n,
    .phys_to_virt = rec_ph_p2v,
};
static struct physim_vm_hal rec_vm = {
    .paging = &rec_ph,
    .alloc_memory_region_at = rec_vm_claim,
    .dealloc_memory_region_at = rec_vm_release,
    .virt_to_phys = rec_vm_v2p,
    .current_time_nanos = rec_vm_time,
};

/* The RAM lives as long as the process; the pool is claimed once. */
static struct physim_ram *the_ram(void)
{
	static struct physim_ram *ram;
	if (ram != NULL)
		return ram;
	struct physim_ram_config c = {.base = RAM_BASE, .size = RAM_FRAMES * PG};
	FZ_CHECK(physim_ram_create(&c, &ram) == 0);
	FZ_CHECK(physim_ram_alloc_at(ram, POOL_HPA, POOL_FRAMES * PG) == 0);
	ram_dm = physim_ram_direct_map(ram);
	return ram;
}

/* ---- the model ---- */

struct marea {
	uint64_t start, size;
	uint32_t flags;
	enum physim_area_kind kind;
	uint64_t hpa; /* LINEAR: hpa of start */
	bool populate, identity;
	uint64_t *page; /* ALLOC: hpa of each page, 0 while not populated */
};

struct run {
	struct fz in;
	const struct pm_fmt *fm;
	bool hw_dirty; /* leaves' dirty bits are harvested (not preset) */
	struct physim_counting_hal *ch;
	struct physim_aspace *as;
	struct physim_tlb *tlb;
	struct physim_mmu *mmu;
	struct marea area[AREA_CAP];
	size_t nareas;
	struct pm_model leaves; /* the stage-2 table's leaves */
	uint64_t populated, ident_pages;
	uint64_t faults_handled, faults_refused;
	bool logging;
	bool inject;
	bool failed; /* the current operation's injected failure happened */
	uint64_t rng;
};

static uint64_t dirty_bits[SPACE_PAGES / 64]; /* the model's dirty log */

static uint64_t frames_live(const struct run *r)
{
	return (uint64_t)physim_counting_hal_counts(r->ch).frames_live;
}

static const struct physim_pt *pt_of(const struct run *r)
{
	return physim_aspace_pt(r->as);
}

/* Data bytes for writes: cheap, varied, reproducible. */
static uint8_t next_byte(struct run *r)
{
	r->rng = r->rng * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
	return (uint8_t)(r->rng >> 56);
}

static ptrdiff_t area_index(const struct run *r, uint64_t gpa)
{
	for (size_t k = 0; k < r->nareas; k++)
		if (gpa - r->area[k].start < r->area[k].size)
			return (ptrdiff_t)k;
	return -1;
}

static bool overlaps_area(const struct run *r, uint64_t gpa, uint64_t size)
{
	for (size_t k = 0; k < r->nareas; k++)
		if (physim_ranges_overlap(gpa, size, r->area[k].start, r->area[k].size))
			return true;
	return false;
}

static bool range_in_space(uint64_t gpa, uint64_t size)
{
	return physim_is_aligned(gpa | size, PG) && physim_range_ok(gpa, size) &&
	       gpa + (size - 1) < SPACE_SIZE;
}

enum backing { NONE, LAZY, MMIO, BACKED };

/* What backs the byte at gpa: *hpa for BACKED and MMIO. */
static enum backing backing_of(const struct run *r, uint64_t gpa, uint64_t *hpa,
			       const struct marea **area)
{
	ptrdiff_t k = area_index(r, gpa);
	if (k < 0)
		return NONE;
	const struct marea *a = &r->area[k];
	*area = a;
	if (a->kind == PHYSIM_AREA_LINEAR) {
		*hpa = a->hpa + (gpa - a->start);
		uint64_t i;
		return ram_frame(*hpa, &i) ? BACKED : MMIO;
	}
	uint64_t p = a->page[(gpa - a->start) / PG];
	if (p == 0)
		return LAZY;
	*hpa = p + gpa % PG;
	return BACKED;
}

static void insert_area(struct run *r, const struct marea *a)
{
	size_t k = 0;
	while (k < r->nareas && r->area[k].start < a->start)
		k++;
	memmove(&r->area[k + 1], &r->area[k], (r->nareas - k) * sizeof(*a));
	r->area[k] = *a;
	r->nareas++;
}

static void dirty_mark(struct run *r, uint64_t gpa, uint64_t len)
{
	if (!r->logging || len == 0)
		return;
	uint64_t last = gpa + (len - 1);
	if (last >= SPACE_SIZE)
		last = SPACE_SIZE - 1;
	for (uint64_t p = gpa / PG; p <= last / PG; p++)
		dirty_bits[p / 64] |= UINT64_C(1) << (p % 64);
}

/* The library has just populated the page at gpa (an ALLOC page): find its
 * frame, which must be a fresh one handed to the space, and add its leaf. */
static void learn_page(struct run *r, struct marea *a, uint64_t gpa)
{
	physim_hpa_t hpa = 0;
	uint64_t i;
	FZ_CHECK(physim_aspace_translate(r->as, gpa, &hpa) == 0);
	FZ_CHECK(hpa % PG == 0 && ram_frame(hpa, &i) && owner[i] == OWN_MM);
	owner[i] |= OWN_KNOWN;
	a->page[(gpa - a->start) / PG] = hpa;
	r->populated++;
	struct pm_page pg = pm_page_new(r->fm, gpa, hpa, PG, a->flags);
	pm_model_splice(&r->leaves, pm_model_lower(&r->leaves, gpa), 0, &pg, 1);
}

static void forget_frame(uint64_t hpa)
{
	uint64_t i;
	if (ram_frame(hpa, &i))
		owner[i] &= (uint8_t)~OWN_KNOWN;
}

/* ---- checks ---- */

struct area_cursor {
	const struct run *r;
	size_t k;
};

static int check_area_cb(void *ctx, const struct physim_area_info *info)
{
	struct area_cursor *c = ctx;
	FZ_CHECK(c->k < c->r->nareas);
	const struct marea *a = &c->r->area[c->k++];
	FZ_CHECK(info->start == a->start && info->size == a->size && info->flags == a->flags);
	FZ_CHECK(info->kind == a->kind && info->identity == a->identity);
	if (a->kind == PHYSIM_AREA_LINEAR) {
		FZ_CHECK(info->linear_hpa == a->hpa && info->frames == 0);
		return 0;
	}
	uint64_t n = 0;
	for (uint64_t p = 0; p < a->size / PG; p++)
		n += a->page[p] != 0;
	FZ_CHECK(info->populate == a->populate && info->frames == n);
	return 0;
}

/* Areas, statistics and frames: cheap, after every operation. */
static void check_state(struct run *r)
{
	struct area_cursor c = {r, 0};
	FZ_CHECK(physim_aspace_for_each_area(r->as, check_area_cb, &c) == 0);
	FZ_CHECK(c.k == r->nareas);
	struct physim_aspace_stats s = physim_aspace_stats(r->as);
	FZ_CHECK(s.areas == r->nareas && s.alloc_frames == r->populated);
	FZ_CHECK(s.table_frames == owned[OWN_TABLE]);
	FZ_CHECK(s.table_frames == physim_pt_table_frames(pt_of(r)));
	FZ_CHECK(s.faults_handled == r->faults_handled && s.faults_refused == r->faults_refused);
	FZ_CHECK(owned[OWN_MM] == r->populated && owned[OWN_IDENT] == r->ident_pages);
	FZ_CHECK(frames_live(r) == owned[OWN_MM] + owned[OWN_TABLE] + owned[OWN_IDENT]);
}

/* Every leaf of the table against the model, and every populated page's
 * frame still held by the space. */
static void check_all(struct run *r)
{
	check_state(r);
	struct pm_leaves c = {0};
	struct physim_pt_walk_ops ops = {.leaf = pm_collect_leaf};
	FZ_CHECK(physim_pt_walk(pt_of(r), 0, SPACE_SIZE, &ops, &c) == 0);
	FZ_CHECK(c.n == r->leaves.n);
	for (size_t i = 0; i < c.n; i++) {
		const struct pm_page *p = &r->leaves.p[i];
		const struct physim_pt_mapping *q = &c.v[i];
		FZ_CHECK(q->va == p->va && q->pa == p->pa && q->size == p->size);
		FZ_CHECK(q->flags == p->flags && q->accessed == p->acc && q->dirty == p->dirty);
	}
	free(c.v);
	for (size_t k = 0; k < r->nareas; k++) {
		const struct marea *a = &r->area[k];
		for (uint64_t p = 0; a->kind == PHYSIM_AREA_ALLOC && p < a->size / PG; p++) {
			uint64_t i;
			if (a->page[p] != 0)
				FZ_CHECK(ram_frame(a->page[p], &i) &&
					 owner[i] == (OWN_MM | OWN_KNOWN));
		}
	}
}

/* ---- expected results ---- */

/* The errors that apply (as a set: the contract does not order them). */
struct want {
	int err[4]; /* errors that apply */
	unsigned errs;
	bool from_hal; /* they come from a HAL call (an injected failure
			  comes first) */
};

static void want_add(struct want *w, int err)
{
	for (unsigned k = 0; k < w->errs; k++)
		if (w->err[k] == err)
			return;
	FZ_CHECK(w->errs < 4);
	w->err[w->errs++] = err;
}

static bool wanted(const struct want *w, int rc)
{
	for (unsigned k = 0; k < w->errs; k++)
		if (w->err[k] == rc)
			return true;
	return false;
}

/* rc against the expectation; an injected failure may turn an expected
 * success into -ENOMEM. True if the operation took effect. */
static bool settle(struct run *r, int rc, const struct want *w)
{
	if (rc == -ENOMEM && r->inject && (w->errs == 0 || w->from_hal)) {
		r->failed = true;
		return false;
	}
	if (w->errs == 0) {
		if (rc != 0)
			fprintf(stderr, "fuzz_aspace %s: rc %d, expected 0\n", r->fm->info.name,
				rc);
		FZ_CHECK(rc == 0);
		return true;
	}
	if (!wanted(w, rc))
		fprintf(stderr, "fuzz_aspace %s: rc %d, expected %d (or one of %u)\n",
			r->fm->info.name, rc, w->err[0], w->errs);
	FZ_CHECK(wanted(w, rc));
	return false;
}

/* Errors of every map call (aspace.h). */
static void want_map(const struct run *r, struct want *w, uint64_t gpa, uint64_t size,
		     uint32_t flags)
{
	if (flags & ~(uint32_t)63)
		want_add(w, -EINVAL);
	if (!range_in_space(gpa, size))
		want_add(w, -EINVAL);
	else if (overlaps_area(r, gpa, size))
		want_add(w, -EEXIST);
	if (!pm_flags_ok(r->fm, flags))
		want_add(w, -ENOTSUP);
}

/* ---- operands ---- */

static const struct {
	uint64_t base, size;
} windows[3] = {
    {0, UINT64_C(1) << 30},
    {RAM_BASE, RAM_FRAMES *PG},
    {SPACE_SIZE - (UINT64_C(64) << 20), UINT64_C(64) << 20},
};

static uint32_t pick_flags(struct run *r)
{
	uint8_t b = fz_u8(&r->in);
	uint64_t ok = r->fm->ok_flags;
	if ((b & 0xe0) == 0xe0)
		return b & 0x7f; /* any combination, accepted or not, known or not */
	unsigned k = b % (unsigned)__builtin_popcountll(ok);
	for (uint32_t c = 0;; c++)
		if ((ok >> c & 1) && k-- == 0)
			return c;
}

/* A unit-aligned gpa: near an existing area, or in a window (its first
 * 16 MiB, so that areas meet). */
static uint64_t pick_gpa(struct run *r, uint64_t unit, int window)
{
	uint8_t how = fz_u8(&r->in);
	if (r->nareas && (how & 1) && window < 0) {
		const struct marea *a = &r->area[fz_below(&r->in, r->nareas)];
		uint64_t at = how & 2 ? a->start : a->start + a->size;
		return physim_align_down(at, unit) + (fz_below(&r->in, 5) - 2) * unit;
	}
	unsigned k = window >= 0 ? (unsigned)window : (unsigned)fz_below(&r->in, 3);
	/* All of RAM (identity regions), the start of the others. */
	uint64_t span = k == 1 ? windows[k].size : UINT64_C(16) << 20;
	if (unit > span)
		return windows[k].base;
	return windows[k].base + fz_below(&r->in, span / unit) * unit;
}

struct range {
	uint64_t gpa, size;
};

/* A range: up to 16 pages, or one or two 2 MiB blocks. */
static struct range pick_range(struct run *r, int window, uint64_t max_pages)
{
	struct range g;
	uint8_t cls = fz_u8(&r->in);
	if (cls & 1) {
		g.gpa = pick_gpa(r, PHYSIM_SIZE_2M, window);
		g.size = (1 + (cls >> 1 & 1)) * PHYSIM_SIZE_2M;
		if (g.size / PG > max_pages)
			g.size = max_pages * PG;
	} else {
		g.gpa = pick_gpa(r, PG, window);
		g.size = (1 + fz_below(&r->in, 16)) * PG;
	}
	return g;
}

/* Damage a range the way callers do: misaligned, empty, wrapping, beyond
 * the space. */
static void damage_range(struct run *r, struct range *g)
{
	switch (fz_u8(&r->in) % 5) {
	case 0:
		g->gpa += PG / 2;
		break;
	case 1:
		g->size = 0;
		break;
	case 2:
		g->size += 1;
		break;
	case 3:
		g->gpa = UINT64_MAX - PG + 1;
		g->size = 2 * PG;
		break;
	default:
		g->gpa = SPACE_SIZE - PG;
		g->size = 2 * PG;
		break;
	}
}

static void begin_inject(struct run *r, uint8_t ob)
{
	r->inject = ob & 0x80;
	r->failed = false;
	if (r->inject) {
		struct physim_counting_hal_config plan = {.fail_nth = 1 + fz_below(&r->in, 4)};
		physim_counting_hal_set_plan(r->ch, &plan);
	}
}

static void end_inject(struct run *r)
{
	if (r->inject) {
		struct physim_counting_hal_config none = {0};
		physim_counting_hal_set_plan(r->ch, &none);
	}
	r->inject = false;
}

/* ---- mapping ---- */

static void op_map_linear(struct run *r, bool bad)
{
	struct range g;
	uint64_t hpa;
	uint8_t where = fz_u8(&r->in) % 4;
	if (where == 0) {
		/* MMIO: a big range, huge pages where alignment allows. */
		uint8_t cls = fz_u8(&r->in) % 3;
		uint64_t unit = cls == 0 ? PG : cls == 1 ? PHYSIM_SIZE_2M : PHYSIM_SIZE_1G;
		g.gpa = pick_gpa(r, unit, cls == 2 ? 0 : -1);
		g.size = unit * (1 + fz_below(&r->in, cls == 2 ? 1 : 4));
		hpa = MMIO_HPA + (g.gpa & (PHYSIM_SIZE_1G - 1));
	} else {
		/* The pool: at a random frame, or 2 MiB-congruent with gpa. */
		g = pick_range(r, -1, POOL_FRAMES);
		if (g.size >= PHYSIM_SIZE_2M) {
			hpa = POOL_HPA;
			g.size = PHYSIM_SIZE_2M;
		} else {
			hpa = POOL_HPA + fz_below(&r->in, POOL_FRAMES) * PG;
			uint64_t room = POOL_HPA + POOL_FRAMES * PG - hpa;
			g.size = g.size < room ? g.size : room;
		}
	}
	uint32_t flags = pick_flags(r);
	struct want w = {0};
	if (bad) {
		if (fz_u8(&r->in) & 1)
			damage_range(r, &g);
		else
			hpa = fz_u8(&r->in) & 1 ? hpa + PG / 2 : UINT64_MAX - PG + 1;
	}
	want_map(r, &w, g.gpa, g.size, flags);
	/* The output range must also fit the format's output width (pt.h). */
	unsigned pa_bits = r->fm->info.pa_bits;
	if (!physim_is_aligned(hpa, PG) || !physim_range_ok(hpa, g.size) ||
	    (pa_bits < 64 && (hpa + (g.size - 1)) >> pa_bits != 0))
		want_add(&w, -EINVAL);
	if (w.errs == 0 && r->nareas >= MAX_AREAS)
		return;
	int rc = physim_aspace_map_linear(r->as, g.gpa, hpa, g.size, flags);
	trace("map_linear %#llx+%#llx -> %#llx flags %#x: %d\n", (unsigned long long)g.gpa,
	      (unsigned long long)g.size, (unsigned long long)hpa, flags, rc);
	if (!settle(r, rc, &w))
		return;
	struct marea a = {
	    .start = g.gpa, .size = g.size, .flags = flags, .kind = PHYSIM_AREA_LINEAR, .hpa = hpa};
	insert_area(r, &a);
	pm_model_add_run(r->fm, &r->leaves, g.gpa, hpa, g.size, flags, true);
}

static void op_map_alloc(struct run *r, bool bad)
{
	struct range g = pick_range(r, -1, MAX_AREA_PAGES);
	bool populate = fz_u8(&r->in) & 1;
	uint32_t flags = pick_flags(r);
	if (bad)
		damage_range(r, &g);
	struct want w = {0};
	want_map(r, &w, g.gpa, g.size, flags);
	if (w.errs == 0 &&
	    (r->nareas >= MAX_AREAS || (populate && r->populated + g.size / PG > MAX_POPULATED)))
		return; /* keep RAM from running out for real */
	int rc = physim_aspace_map_alloc(r->as, g.gpa, g.size, flags, populate);
	trace("map_alloc %#llx+%#llx flags %#x populate %d: %d\n", (unsigned long long)g.gpa,
	      (unsigned long long)g.size, flags, populate, rc);
	if (!settle(r, rc, &w))
		return;
	struct marea a = {.start = g.gpa,
			  .size = g.size,
			  .flags = flags,
			  .kind = PHYSIM_AREA_ALLOC,
			  .populate = populate};
	a.page = fz_xrealloc(NULL, g.size / PG * sizeof(*a.page));
	memset(a.page, 0, g.size / PG * sizeof(*a.page));
	insert_area(r, &a);
	struct marea *in = &r->area[area_index(r, g.gpa)];
	for (uint64_t p = 0; populate && p < g.size / PG; p++)
		learn_page(r, in, g.gpa + p * PG);
}

static void op_map_identity(struct run *r, bool bad)
{
	/* Mostly in RAM, where a region can be claimed. */
	struct range g = pick_range(r, fz_u8(&r->in) % 8 ? 1 : -1, MAX_AREA_PAGES);
	uint32_t flags = pick_flags(r);
	if (bad)
		damage_range(r, &g);
	struct want w = {0};
	want_map(r, &w, g.gpa, g.size, flags);
	if (w.errs == 0) {
		uint64_t i;
		w.from_hal = true;
		if (g.gpa < RAM_BASE || g.gpa + g.size > RAM_END)
			want_add(&w, -EINVAL); /* outside memory (hal.h) */
		for (uint64_t p = 0; w.errs == 0 && p < g.size / PG; p++)
			if (ram_frame(g.gpa + p * PG, &i) && owner[i] != OWN_FREE)
				want_add(&w, -EBUSY);
	}
	if (w.errs == 0 &&
	    (r->nareas >= MAX_AREAS || r->ident_pages + g.size / PG > MAX_IDENT_PAGES))
		return;
	int rc = physim_aspace_map_identity(r->as, g.gpa, g.size, flags);
	trace("map_identity %#llx+%#llx flags %#x: %d\n", (unsigned long long)g.gpa,
	      (unsigned long long)g.size, flags, rc);
	if (!settle(r, rc, &w))
		return;
	struct marea a = {.start = g.gpa,
			  .size = g.size,
			  .flags = flags,
			  .kind = PHYSIM_AREA_LINEAR,
			  .hpa = g.gpa,
			  .identity = true};
	insert_area(r, &a);
	r->ident_pages += g.size / PG;
	pm_model_add_run(r->fm, &r->leaves, g.gpa, g.gpa, g.size, flags, true);
}

/* ---- unmapping ---- */

/* The part of area a outside [gpa, last] on one side, as a new area. */
static struct marea area_piece(const struct marea *a, uint64_t start, uint64_t last)
{
	struct marea p = *a;
	p.start = start;
	p.size = last - start + 1;
	if (a->kind == PHYSIM_AREA_LINEAR)
		p.hpa = a->hpa + (start - a->start);
	if (a->kind == PHYSIM_AREA_ALLOC) {
		p.page = fz_xrealloc(NULL, p.size / PG * sizeof(*p.page));
		memcpy(p.page, a->page + (start - a->start) / PG, p.size / PG * sizeof(*p.page));
	}
	return p;
}

/* Drop [gpa, last] from the areas: frames of ALLOC pages go, identity
 * pages are given back, areas partly covered are split. */
static void model_cut_areas(struct run *r, uint64_t gpa, uint64_t last)
{
	struct marea keep[AREA_CAP];
	size_t n = 0;
	for (size_t k = 0; k < r->nareas; k++) {
		struct marea *a = &r->area[k];
		uint64_t alast = a->start + (a->size - 1);
		if (alast < gpa || a->start > last) {
			keep[n++] = *a;
			continue;
		}
		uint64_t s = a->start < gpa ? gpa : a->start, e = alast > last ? last : alast;
		if (a->identity)
			r->ident_pages -= (e - s + 1) / PG;
		for (uint64_t p = s; a->kind == PHYSIM_AREA_ALLOC && p <= e; p += PG) {
			uint64_t *hpa = &a->page[(p - a->start) / PG];
			if (*hpa != 0) {
				forget_frame(*hpa);
				r->populated--;
			}
		}
		if (a->start < gpa)
			keep[n++] = area_piece(a, a->start, gpa - 1);
		if (alast > last)
			keep[n++] = area_piece(a, last + 1, alast);
		free(a->page);
	}
	FZ_CHECK(n <= AREA_CAP);
	memcpy(r->area, keep, n * sizeof(keep[0]));
	r->nareas = n;
}

/* Unmap in the leaf model, moving the dropped leaves' dirty bits into the
 * log (only the unmapped part of a split huge leaf: the split leaves keep
 * their bit). */
static void model_unmap_leaves(struct run *r, uint64_t gpa, uint64_t last)
{
	size_t a, b;
	pm_model_isolate(r->fm, &r->leaves, gpa, last, &a, &b);
	for (size_t i = a; i < b; i++)
		if (r->leaves.p[i].dirty && r->hw_dirty)
			dirty_mark(r, r->leaves.p[i].va, r->leaves.p[i].size);
	pm_model_splice(&r->leaves, a, b - a, NULL, 0);
}

static void op_unmap(struct run *r, bool bad)
{
	struct range g = pick_range(r, -1, MAX_AREA_PAGES);
	if (fz_u8(&r->in) % 4 == 0 && r->nareas) { /* exactly an area */
		const struct marea *a = &r->area[fz_below(&r->in, r->nareas)];
		g = (struct range){a->start, a->size};
	}
	if (bad)
		damage_range(r, &g);
	if (r->nareas >= AREA_CAP - 1)
		return; /* a split would not fit the model */
	struct want w = {0};
	if (!range_in_space(g.gpa, g.size))
		want_add(&w, -EINVAL);
	int rc = physim_aspace_unmap(r->as, g.gpa, g.size);
	trace("unmap %#llx+%#llx: %d\n", (unsigned long long)g.gpa, (unsigned long long)g.size, rc);
	if (!settle(r, rc, &w))
		return;
	uint64_t last = g.gpa + (g.size - 1);
	model_unmap_leaves(r, g.gpa, last);
	model_cut_areas(r, g.gpa, last);
}

static void model_clear(struct run *r)
{
	for (size_t i = 0; i < r->leaves.n; i++)
		if (r->leaves.p[i].dirty && r->hw_dirty)
			dirty_mark(r, r->leaves.p[i].va, r->leaves.p[i].size);
	r->leaves.n = 0;
	model_cut_areas(r, 0, SPACE_SIZE - 1);
}

static void op_clear(struct run *r)
{
	/* Whole areas never split a leaf: clear allocates nothing and
	 * cannot fail, injection or not. */
	physim_aspace_clear(r->as);
	trace("clear\n");
	model_clear(r);
}

/* ---- guest memory access ---- */

/* The accessor's verdict on [gpa, gpa + len) for `need` (aspace.h), and the
 * lazy pages it would populate. */
static int plan_access(const struct run *r, uint64_t gpa, size_t len, uint32_t need,
		       uint64_t *missing, size_t *nmissing)
{
	*nmissing = 0;
	if (!physim_range_ok(gpa, len))
		return -EFAULT;
	uint64_t last = gpa + (len - 1);
	for (uint64_t p = physim_align_down(gpa, PG);; p += PG) {
		uint64_t at = p < gpa ? gpa : p, hpa;
		const struct marea *a = NULL;
		enum backing b = backing_of(r, at, &hpa, &a);
		if (b == NONE || (a->flags & need) != need || b == MMIO)
			return -EFAULT;
		if (b == LAZY)
			missing[(*nmissing)++] = p;
		if (last - p < PG)
			return 0;
	}
}

/* Call fn(ctx, guest offset, model copy of the bytes, n) for each piece of
 * [gpa, gpa + len) within one frame; every byte must be BACKED. */
static void for_each_piece(const struct run *r, uint64_t gpa, size_t len,
			   void (*fn)(void *ctx, size_t off, uint8_t *copy, size_t n), void *ctx)
{
	size_t off = 0;
	while (off < len) {
		uint64_t at = gpa + off, hpa, i;
		const struct marea *a;
		FZ_CHECK(backing_of(r, at, &hpa, &a) == BACKED && ram_frame(hpa, &i));
		size_t n = PG - hpa % PG;
		if (n > len - off)
			n = len - off;
		fn(ctx, off, shadow_of(i) + hpa % PG, n);
		off += n;
	}
}

static void piece_compare(void *ctx, size_t off, uint8_t *copy, size_t n)
{
	FZ_CHECK(memcmp((const uint8_t *)ctx + off, copy, n) == 0);
}

static void piece_store(void *ctx, size_t off, uint8_t *copy, size_t n)
{
	memcpy(copy, (const uint8_t *)ctx + off, n);
}

static void piece_define(void *ctx, size_t off, uint8_t *copy, size_t n)
{
}

/* Make the model hold every backed byte's contents before an access reads
 * host memory (pool and identity frames get a pattern written first). */
static void define_backed(const struct run *r, uint64_t gpa, size_t len)
{
	for (size_t off = 0; off < len;) {
		uint64_t at = gpa + off, hpa;
		const struct marea *a;
		size_t n = PG - at % PG;
		if (backing_of(r, at, &hpa, &a) == BACKED)
			for_each_piece(r, at, n < len - off ? n : len - off, piece_define, NULL);
		off += n < len - off ? n : len - off;
	}
}

/* After a successful access: the pages it populated. */
static void learn_missing(struct run *r, const uint64_t *missing, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		struct marea *a = &r->area[area_index(r, missing[k])];
		learn_page(r, a, missing[k]);
	}
	r->faults_handled += n;
}

/* After a failed access: nothing was populated. */
static void check_nothing_populated(const struct run *r, const uint64_t *missing, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		physim_hpa_t hpa;
		FZ_CHECK(physim_aspace_translate(r->as, missing[k], &hpa) == -ENOENT);
	}
}

static size_t pick_len(struct run *r)
{
	uint8_t b = fz_u8(&r->in);
	switch (b % 4) {
	case 0:
		return 1 + b / 4 % 16;
	case 1:
		return 1 + fz_below(&r->in, MAX_IO);
	case 2:
		return PG;
	default:
		return b / 4 % 8;
	}
}

/* A gpa for an access: in or near an area most of the time. */
static uint64_t pick_access_gpa(struct run *r)
{
	uint8_t how = fz_u8(&r->in) % 8;
	if (r->nareas && how < 6) {
		const struct marea *a = &r->area[fz_below(&r->in, r->nareas)];
		uint64_t off = fz_below(&r->in, a->size + 2 * PG);
		return a->start + off - PG;
	}
	if (how == 6)
		return UINT64_MAX - fz_below(&r->in, 2 * PG);
	return pick_gpa(r, 1, -1) + fz_below(&r->in, PG);
}

static void op_read(struct run *r)
{
	uint64_t gpa = pick_access_gpa(r);
	size_t len = pick_len(r), nmissing;
	static uint8_t buf[MAX_IO + 8];
	uint64_t missing[MAX_IO / PG + 2];
	int want = len ? plan_access(r, gpa, len, PHYSIM_R, missing, &nmissing) : 0;
	if (len == 0)
		nmissing = 0;
	if (want == 0)
		define_backed(r, gpa, len);
	memset(buf, 0xa5, sizeof(buf));
	int rc = physim_guest_read(r->as, gpa, buf, len);
	trace("read %#llx+%zu: %d\n", (unsigned long long)gpa, len, rc);
	struct want w = {0};
	if (want)
		want_add(&w, want);
	if (!settle(r, rc, &w)) {
		for (size_t k = 0; k < sizeof(buf); k++)
			FZ_CHECK(buf[k] == 0xa5);
		check_nothing_populated(r, missing, nmissing);
		return;
	}
	learn_missing(r, missing, nmissing);
	for_each_piece(r, gpa, len, piece_compare, buf);
	FZ_CHECK(buf[len] == 0xa5);
}

static void op_write(struct run *r)
{
	uint64_t gpa = pick_access_gpa(r);
	size_t len = pick_len(r), nmissing;
	static uint8_t buf[MAX_IO];
	uint64_t missing[MAX_IO / PG + 2];
	for (size_t k = 0; k < len; k++)
		buf[k] = next_byte(r);
	int want = len ? plan_access(r, gpa, len, PHYSIM_W, missing, &nmissing) : 0;
	if (len == 0)
		nmissing = 0;
	if (want == 0)
		define_backed(r, gpa, len);
	int rc = physim_guest_write(r->as, gpa, buf, len);
	trace("write %#llx+%zu: %d\n", (unsigned long long)gpa, len, rc);
	struct want w = {0};
	if (want)
		want_add(&w, want);
	if (!settle(r, rc, &w)) {
		check_nothing_populated(r, missing, nmissing);
		return;
	}
	learn_missing(r, missing, nmissing);
	for_each_piece(r, gpa, len, piece_store, buf);
	dirty_mark(r, gpa, len);
}

static void op_volatile(struct run *r, bool bad)
{
	static const unsigned widths[] = {1, 2, 4, 8};
	uint8_t b = fz_u8(&r->in);
	unsigned width = widths[b % 4];
	bool write = b & 4;
	uint64_t gpa = physim_align_down(pick_access_gpa(r), width);
	if (bad) {
		if (b & 8)
			width = 3 + (b >> 4) % 2 * 13; /* 3 or 16 */
		else
			gpa |= 1;
	}
	bool args_ok = (width == 1 || width == 2 || width == 4 || width == 8) && gpa % width == 0;
	uint64_t missing[2];
	size_t nmissing = 0;
	int want = -EINVAL;
	if (args_ok)
		want = plan_access(r, gpa, width, write ? PHYSIM_W : PHYSIM_R, missing, &nmissing);
	if (want == 0)
		define_backed(r, gpa, width);
	uint64_t value = 0x5a5a5a5a5a5a5a5a, wrote = 0;
	int rc;
	if (write) {
		for (unsigned k = 0; k < 8; k++)
			wrote = wrote << 8 | next_byte(r);
		rc = physim_guest_write_volatile(r->as, gpa, width, wrote);
	} else {
		rc = physim_guest_read_volatile(r->as, gpa, width, &value);
	}
	trace("volatile %s %#llx width %u: %d\n", write ? "write" : "read", (unsigned long long)gpa,
	      width, rc);
	struct want w = {0};
	if (want)
		want_add(&w, want);
	if (!settle(r, rc, &w)) {
		FZ_CHECK(value == 0x5a5a5a5a5a5a5a5a);
		check_nothing_populated(r, missing, nmissing);
		return;
	}
	learn_missing(r, missing, nmissing);
	/* The value in host byte order, as one access of that width. */
	uint8_t bytes[8];
	if (write) {
		uint8_t v8 = (uint8_t)wrote;
		uint16_t v16 = (uint16_t)wrote;
		uint32_t v32 = (uint32_t)wrote;
		memcpy(bytes,
		       width == 1   ? (void *)&v8
		       : width == 2 ? (void *)&v16
		       : width == 4 ? (void *)&v32
				    : (void *)&wrote,
		       width);
		for_each_piece(r, gpa, width, piece_store, bytes);
		dirty_mark(r, gpa, width);
	} else {
		uint8_t v8 = (uint8_t)value;
		uint16_t v16 = (uint16_t)value;
		uint32_t v32 = (uint32_t)value;
		FZ_CHECK(width == 8 || value >> (8 * width) == 0);
		memcpy(bytes,
		       width == 1   ? (void *)&v8
		       : width == 2 ? (void *)&v16
		       : width == 4 ? (void *)&v32
				    : (void *)&value,
		       width);
		for_each_piece(r, gpa, width, piece_compare, bytes);
	}
}

/* ---- translation ---- */

static void op_translate(struct run *r)
{
	uint64_t gpa = pick_access_gpa(r), want_hpa = 0;
	const struct marea *a = NULL;
	enum backing b = backing_of(r, gpa, &want_hpa, &a);
	bool mapped = b == BACKED || b == MMIO;
	physim_hpa_t got = 1;
	uint64_t limit = 1;
	if (fz_u8(&r->in) & 1) {
		int rc = physim_aspace_translate(r->as, gpa, &got);
		FZ_CHECK(rc == (mapped ? 0 : -ENOENT));
		FZ_CHECK(!mapped || got == want_hpa);
		FZ_CHECK(physim_aspace_translate(r->as, gpa, NULL) == -EINVAL);
		return;
	}
	int rc = physim_aspace_translate_and_get_limit(r->as, gpa, &got, &limit);
	FZ_CHECK(rc == (mapped ? 0 : -ENOENT));
	if (mapped)
		FZ_CHECK(got == want_hpa && limit == a->start + a->size - gpa);
	FZ_CHECK(physim_aspace_translate_and_get_limit(r->as, gpa, &got, NULL) == -EINVAL);
}

static void op_translated_buffer(struct run *r)
{
	uint64_t gpa = pick_access_gpa(r);
	size_t len = pick_len(r), max = fz_below(&r->in, MAX_IOV + 1), n = 99;
	struct physim_iovec iov[MAX_IOV];
	/* Expected: the first unbacked or unreachable byte's error, else the
	 * spans (a new one wherever host memory is not contiguous). */
	int want = 0;
	size_t need = 0;
	uint64_t prev_end = 0;
	if (len && !physim_range_ok(gpa, len))
		want = -EINVAL;
	for (size_t off = 0; want == 0 && off < len;) {
		uint64_t at = gpa + off, hpa = 0;
		const struct marea *a;
		enum backing b = backing_of(r, at, &hpa, &a);
		if (b == NONE || b == LAZY)
			want = -ENOENT;
		else if (b == MMIO)
			want = -EFAULT;
		size_t chunk = PG - at % PG < len - off ? PG - at % PG : len - off;
		if (want == 0 && (need == 0 || hpa != prev_end))
			need++;
		prev_end = hpa + chunk;
		off += chunk;
	}
	if (want == 0 && need > max)
		want = -ERANGE;
	if (want == 0)
		define_backed(r, gpa, len);
	int rc = physim_aspace_translated_buffer(r->as, gpa, len, iov, max, &n);
	FZ_CHECK(rc == want);
	if (rc == -ERANGE || rc == 0)
		FZ_CHECK(n == need);
	if (rc != 0)
		return;
	/* The spans, read in order, are the guest's bytes. */
	static uint8_t flat[MAX_IO];
	size_t at = 0;
	for (size_t k = 0; k < n; k++) {
		FZ_CHECK(iov[k].len > 0 && at + iov[k].len <= len);
		memcpy(flat + at, iov[k].base, iov[k].len);
		at += iov[k].len;
	}
	FZ_CHECK(at == len);
	for_each_piece(r, gpa, len, piece_compare, flat);
}

/* ---- page faults ---- */

/* handle_page_fault as the model says; true if it populated the page. */
static bool fault_in(struct run *r, uint64_t gpa, uint32_t access)
{
	int want;
	uint64_t hpa;
	const struct marea *a = NULL;
	enum backing b = backing_of(r, gpa, &hpa, &a);
	if (access == 0 || (access & ~(uint32_t)(PHYSIM_R | PHYSIM_W | PHYSIM_X)))
		want = -EINVAL;
	else if (b == LAZY && (a->flags & access) == access)
		want = 0;
	else
		want = -EFAULT;
	int rc = physim_aspace_handle_page_fault(r->as, gpa, access);
	trace("page fault %#llx access %#x: %d\n", (unsigned long long)gpa, access, rc);
	struct want w = {0};
	if (want)
		want_add(&w, want);
	bool done = settle(r, rc, &w);
	if (rc == -EFAULT)
		r->faults_refused++;
	if (!done)
		return false;
	uint64_t page = physim_align_down(gpa, PG);
	learn_missing(r, &page, 1);
	return true;
}

static void op_fault(struct run *r)
{
	uint64_t gpa = pick_access_gpa(r);
	uint8_t b = fz_u8(&r->in);
	uint32_t access = b % 8 == 0 ? (b & 8 ? 8 : 0) : (uint32_t)(1u << (b % 3));
	if (b % 8 == 7)
		access = PHYSIM_R | PHYSIM_W;
	fault_in(r, gpa, access);
}

/* The walker's A/D updates, as the table now holds them. */
static void mirror_ad(struct run *r, uint64_t gpa)
{
	ptrdiff_t i = pm_model_find(&r->leaves, gpa);
	struct physim_pt_mapping q;
	FZ_CHECK(i >= 0 && physim_pt_query(pt_of(r), gpa, &q) == 0);
	struct pm_page *p = &r->leaves.p[i];
	/* Hardware only sets them. */
	FZ_CHECK((q.accessed || !p->acc) && (q.dirty || !p->dirty));
	p->acc = q.accessed;
	p->dirty = q.dirty;
}

/* A guest access through the MMU on the space's table, as a hypervisor sees
 * it: a hole faults as not present; a lazy page is then faulted in with
 * handle_page_fault and the access retried. */
static void op_walk(struct run *r)
{
	uint64_t gpa = pick_access_gpa(r);
	uint8_t b = fz_u8(&r->in);
	struct physim_access acc = {.va = gpa, .write = b % 3 == 1, .exec = b % 3 == 2};
	uint32_t need = acc.write ? PHYSIM_W : acc.exec ? PHYSIM_X : PHYSIM_R;
	bool probe = b & 4, via_tlb = !probe && (b & 8);
	for (int attempt = 0; attempt < 2; attempt++) {
		struct physim_xlate x;
		int rc = probe	   ? physim_mmu_probe(r->mmu, &acc, &x)
			 : via_tlb ? physim_tlb_translate(r->tlb, r->mmu, &acc, &x)
				   : physim_mmu_translate(r->mmu, &acc, &x);
		trace("walk %#llx w%d x%d probe %d tlb %d: %d %s\n", (unsigned long long)gpa,
		      acc.write, acc.exec, probe, via_tlb, rc, physim_fault_str(&x.fault));
		FZ_CHECK(rc == 0 || rc == -EFAULT);
		ptrdiff_t i = gpa < SPACE_SIZE ? pm_model_find(&r->leaves, gpa) : -1;
		if (i < 0) {
			/* Beyond the format's input range the walker may call it
			 * an input fault; inside, it is a hole. */
			FZ_CHECK(rc == -EFAULT && x.fault.stage == 2);
			if (gpa >= SPACE_SIZE)
				return;
			FZ_CHECK(x.fault.kind == PHYSIM_FAULT_NOT_PRESENT && x.fault.gpa == gpa);
			if (attempt == 0 && fault_in(r, gpa, need))
				continue;
			return;
		}
		const struct pm_page *p = &r->leaves.p[i];
		if (rc == 0) {
			FZ_CHECK(x.pa == p->pa + (gpa - p->va) && x.page_size == p->size);
			FZ_CHECK((x.perms & need) == need);
			if (!probe)
				mirror_ad(r, gpa);
			return;
		}
		/* A leaf that allows the access gives the page, unless the
		 * format's A/D rules fault first. */
		FZ_CHECK(x.fault.kind == PHYSIM_FAULT_PERMISSION ||
			 x.fault.kind == PHYSIM_FAULT_ACCESS_FLAG);
		if ((p->flags & need) == need)
			FZ_CHECK(x.fault.kind == PHYSIM_FAULT_ACCESS_FLAG);
		return;
	}
	FZ_CHECK(false); /* a fault handled is a page mapped */
}

/* ---- dirty logging ---- */

/* The harvest of [gpa, last]: every dirty leaf touching it goes into the
 * log whole, and its bit is cleared. */
static void model_harvest(struct run *r, uint64_t gpa, uint64_t last, bool mark)
{
	if (!r->hw_dirty)
		return;
	for (size_t i = 0; i < r->leaves.n; i++) {
		struct pm_page *p = &r->leaves.p[i];
		if (!p->dirty || p->va > last || p->va + (p->size - 1) < gpa)
			continue;
		if (mark)
			dirty_mark(r, p->va, p->size);
		p->dirty = false;
	}
}

static void op_dirty(struct run *r, bool bad)
{
	uint8_t b = fz_u8(&r->in);
	trace("dirty op %u\n", b % 5);
	switch (b % 5) {
	case 0:
		FZ_CHECK(physim_aspace_dirty_log_enable(r->as) == 0);
		if (!r->logging) {
			model_harvest(r, 0, SPACE_SIZE - 1, false);
			memset(dirty_bits, 0, sizeof(dirty_bits));
			r->logging = true;
		}
		return;
	case 1:
		if (b & 8) { /* rarely: off */
			physim_aspace_dirty_log_disable(r->as);
			r->logging = false;
		}
		return;
	case 2: {
		uint64_t gpa = pick_access_gpa(r);
		physim_aspace_mark_dirty(r->as, gpa);
		if (gpa < SPACE_SIZE)
			dirty_mark(r, gpa, 1);
		return;
	}
	default:
		break;
	}
	/* fetch_clear: npages from the first page of an area or a window. */
	uint64_t gpa = physim_align_down(pick_access_gpa(r), PG);
	uint64_t npages = 1 + fz_below(&r->in, 300);
	if (bad)
		npages = fz_u8(&r->in) & 1 ? 0 : SPACE_PAGES + 1;
	uint64_t got[6];
	memset(got, 0xee, sizeof(got));
	bool ok = r->logging && npages != 0 && range_in_space(gpa, npages * PG);
	if (!ok) {
		FZ_CHECK(physim_aspace_dirty_log_fetch_clear(r->as, gpa, npages, got) == -EINVAL);
		FZ_CHECK(got[0] == UINT64_C(0xeeeeeeeeeeeeeeee));
		return;
	}
	model_harvest(r, gpa, gpa + (npages * PG - 1), true);
	int64_t rc = physim_aspace_dirty_log_fetch_clear(r->as, gpa, npages, got);
	trace("fetch_clear %#llx %llu pages: %lld [%#llx]\n", (unsigned long long)gpa,
	      (unsigned long long)npages, (long long)rc, (unsigned long long)got[0]);
	uint64_t nwords = (npages + 63) / 64, count = 0;
	for (uint64_t k = 0; k < npages; k++) {
		uint64_t p = gpa / PG + k;
		bool d = dirty_bits[p / 64] >> (p % 64) & 1;
		dirty_bits[p / 64] &= ~(UINT64_C(1) << (p % 64));
		count += d;
		FZ_CHECK((got[k / 64] >> (k % 64) & 1) == d);
	}
	if (npages % 64)
		FZ_CHECK(got[npages / 64] >> (npages % 64) == 0);
	FZ_CHECK(got[nwords] == UINT64_C(0xeeeeeeeeeeeeeeee));
	FZ_CHECK(rc == (int64_t)count);
}

/* ---- calls with missing or bad handles ---- */

static void op_misc(struct run *r)
{
	uint64_t gpa = pick_access_gpa(r), size = 1 + fz_below(&r->in, 4 * PG);
	bool inside = physim_range_ok(gpa, size) && gpa + (size - 1) < SPACE_SIZE;
	FZ_CHECK(physim_aspace_contains_range(r->as, gpa, size) == inside);
	FZ_CHECK(!physim_aspace_contains_range(r->as, gpa, 0));
	FZ_CHECK(physim_aspace_base(r->as) == 0 && physim_aspace_size(r->as) == SPACE_SIZE);
	FZ_CHECK(physim_aspace_root(r->as) == physim_pt_root(pt_of(r)));
	uint8_t byte;
	FZ_CHECK(physim_guest_read(r->as, gpa, NULL, 1) == -EINVAL);
	FZ_CHECK(physim_guest_read(r->as, gpa, &byte, 0) == 0);
	FZ_CHECK(physim_guest_write(r->as, gpa, NULL, 0) == 0);
	FZ_CHECK(physim_aspace_map_alloc(NULL, 0, PG, PHYSIM_R, false) == -EINVAL);
	FZ_CHECK(physim_aspace_unmap(NULL, 0, PG) == -EINVAL);
	FZ_CHECK(physim_aspace_handle_page_fault(NULL, 0, PHYSIM_R) == -EINVAL);
}

/* ---- one input ---- */

static bool is_stage2(const struct physim_pt_format *f)
{
	struct physim_pt_format_info info;
	physim_format_get_info(f, &info);
	return info.stage2;
}

static size_t nstage2(void)
{
	size_t n = 0;
	for (size_t k = 0; k < physim_format_count(); k++)
		n += is_stage2(physim_format_at(k));
	return n;
}

static const struct physim_pt_format *stage2_at(size_t want)
{
	for (size_t k = 0; k < physim_format_count(); k++)
		if (is_stage2(physim_format_at(k)) && want-- == 0)
			return physim_format_at(k);
	return NULL;
}

/* A config that must be refused, then nothing taken. */
static void try_bad_config(const struct physim_aspace_config *good, uint8_t how)
{
	struct physim_aspace_config c = *good;
	switch (how % 6) {
	case 0:
		c.format = physim_format("x86_64-4l"); /* not stage 2 */
		if (c.format == NULL)
			return;
		break;
	case 1:
		c.base = PG / 2;
		break;
	case 2:
		c.size = 0;
		break;
	case 3:
		c.base = UINT64_C(1) << 62; /* beyond every input range */
		break;
	case 4:
		c.mm = NULL;
		break;
	default:
		c.paging = NULL;
		break;
	}
	struct physim_aspace *as = (void *)&c;
	FZ_CHECK(physim_aspace_create(&c, &as) == -EINVAL);
	FZ_CHECK(as == (void *)&c);
}

static void step(struct run *r)
{
	uint8_t ob = fz_u8(&r->in);
	bool bad = ob & 0x10;
	begin_inject(r, ob);
	uint64_t live = frames_live(r);
	switch (ob & 15) {
	case 0:
		op_map_linear(r, bad);
		break;
	case 1:
	case 2:
		op_map_alloc(r, bad);
		break;
	case 3:
		op_map_identity(r, bad);
		break;
	case 4:
		op_unmap(r, bad);
		break;
	case 5:
		op_read(r);
		break;
	case 6:
		op_write(r);
		break;
	case 7:
		op_volatile(r, bad);
		break;
	case 8:
		op_fault(r);
		break;
	case 9:
		op_translate(r);
		break;
	case 10:
		op_translated_buffer(r);
		break;
	case 11:
		op_walk(r);
		break;
	case 12:
		op_dirty(r, bad);
		break;
	case 13:
		if (bad)
			op_clear(r);
		else
			op_misc(r);
		break;
	default:
		check_all(r);
		break;
	}
	end_inject(r);
	/* An injected failure changes nothing at all. */
	if (r->failed) {
		FZ_CHECK(frames_live(r) == live);
		check_all(r);
	} else {
		check_state(r);
	}
}

static void on_stale(void *ctx, uint64_t va, const struct physim_tlb_entry_info *cached,
		     const struct physim_xlate *current)
{
	fprintf(stderr,
		"fuzz_aspace: stale TLB entry for gpa %#llx: the space did not report "
		"a change\n",
		(unsigned long long)va);
	fz_fail(__FILE__, __LINE__, "stale TLB hit");
}

static void run_open(struct run *r, const struct physim_pt_format *f, uint8_t opt)
{
	struct physim_ram *ram = the_ram();
	memset(owner, 0, sizeof(owner));
	memset(owned, 0, sizeof(owned));
	memset(shadow_idx, 0, sizeof(shadow_idx));
	nshadow = 0;
	for (uint64_t k = 0; k < POOL_FRAMES; k++)
		owner[(POOL_HPA - RAM_BASE) / PG + k] = OWN_POOL;
	owned[OWN_POOL] = POOL_FRAMES;
	static struct physim_vm_hal vm; /* the counting HAL keeps a pointer */
	physim_ram_vm_hal(ram, NULL, &vm);
	struct physim_counting_hal_config cc = {
	    .mm = physim_ram_mm_hal(ram), .paging = physim_ram_paging_handler(ram), .vm = &vm};
	FZ_CHECK(physim_counting_hal_create(&cc, &r->ch) == 0);
	rec.mm = physim_counting_hal_mm(r->ch);
	rec.ph = physim_counting_hal_paging(r->ch);
	rec.vm = physim_counting_hal_vm(r->ch);
	rec_ph.direct = rec.ph->direct;
	rec_vm.time_ctx = NULL;

	r->fm = pm_fmt_get(f);
	r->hw_dirty = !r->fm->info.presets_dirty;
	struct physim_tlb_config tc = {.entries = 64, .check_stale = true, .on_stale = on_stale};
	FZ_CHECK(physim_tlb_create(&tc, &r->tlb) == 0);
	struct physim_aspace_config c = {.format = f,
					 .paging = &rec_ph,
					 .mm = &rec_mm,
					 .vm = &rec_vm,
					 .base = 0,
					 .size = SPACE_SIZE,
					 .flush = physim_tlb_pt_flush,
					 .flush_ctx = r->tlb};
	if (opt & 0x80)
		try_bad_config(&c, opt);
	FZ_CHECK(physim_aspace_create(&c, &r->as) == 0);
	/* The walker's hardware A/D management, as the options say. */
	struct physim_mmu_config mc = {
	    .format = f,
	    .mem = &rec_ph,
	    .root = physim_aspace_root(r->as),
	    .ctl = {.ept_ad = opt & 1, .ha = opt & 2, .hd = opt & 4, .svadu = opt & 8}};
	FZ_CHECK(physim_mmu_create(&mc, &r->mmu) == 0);
	FZ_CHECK(frames_live(r) == owned[OWN_TABLE] && owned[OWN_TABLE] > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r = {.in = {data, size}};
	const struct physim_pt_format *f = stage2_at(fz_u8(&r.in) % nstage2());
	uint8_t opt = fz_u8(&r.in);
	r.rng = opt;
	run_open(&r, f, opt);
	for (int n = 0; n < MAX_OPS && r.in.n > 0; n++) {
		step(&r);
		if (n % 8 == 7)
			check_all(&r);
	}
	check_all(&r);
	/* Destroy gives back every frame: tables, ALLOC frames, identity
	 * regions; the pool is all that is left in use. */
	physim_aspace_destroy(r.as);
	model_clear(&r);
	FZ_CHECK(owned[OWN_MM] == 0 && owned[OWN_TABLE] == 0 && owned[OWN_IDENT] == 0);
	struct physim_hal_counts hc = physim_counting_hal_counts(r.ch);
	FZ_CHECK(hc.frames_live == 0 && hc.free_failed == 0);
	FZ_CHECK(physim_ram_stats(the_ram()).used_frames == POOL_FRAMES);
	physim_mmu_destroy(r.mmu);
	physim_tlb_destroy(r.tlb);
	physim_counting_hal_destroy(r.ch);
	free(r.leaves.p);
	return 0;
}
