/* SPDX-License-Identifier: MIT */
/* tools/physim-bench/bench-alloc.c - the allocation area: frame alloc + free
 * churn (physim against glibc and mmap, 1 and 2 threads, at several RAM sizes
 * and occupancies), 16-frame blocks, and alloc_zero against memset. */

#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define POOL_SIZE    1024u  /* live blocks per churning thread */
#define SEQ_LEN	     65536u /* pre-generated pool indexes, a power of two */
#define CHUNK_FRAMES 512u   /* occupancy layout granule: 2 MiB */
#define MAX_THREADS  2

/* Uniform in [0, 1). */
static double rng_unit(uint64_t *state)
{
	return (double)(rng_next(state) >> 11) * 0x1p-53;
}

static _Noreturn void die(const char *what, int err)
{
	fprintf(stderr, "physim-bench: %s: %s\n", what, strerror(err));
	exit(1);
}

/* ---- RAM occupancy ---- */

/* Two alloc_at calls: [start, start + off) and [start + off + hole, end). */
static int claim_around_hole(struct physim_ram *ram, physim_hpa_t start, uint64_t off_frames,
			     uint64_t hole_frames)
{
	int rc = 0;
	if (off_frames > 0)
		rc = physim_ram_alloc_at(ram, start, off_frames * PHYSIM_FRAME_SIZE);
	uint64_t rest = CHUNK_FRAMES - off_frames - hole_frames;
	physim_hpa_t after = start + (off_frames + hole_frames) * PHYSIM_FRAME_SIZE;
	if (rc == 0 && rest > 0)
		rc = physim_ram_alloc_at(ram, after, rest * PHYSIM_FRAME_SIZE);
	return rc;
}

/*
 * Claim about claim_frames frames of an empty RAM with physim_ram_alloc_at,
 * scattered so that the allocator's search structure (the summary over the
 * bitmap) matters. The RAM is cut into 2 MiB chunks (512 frames). With f the
 * fraction to leave free, a seeded PRNG gives a fraction q = min(1, 4f) of
 * the chunks one free hole each, of random length (uniform, then scaled so
 * the holes add up to the free target) at a random offset; everything else is
 * claimed. At 95 % only about one chunk in five has a hole, of 0..256 frames,
 * so free frames lie in holes of many sizes spread over the whole RAM with
 * runs of completely full chunks (full bitmap words) in between: a search
 * that starts anywhere must skip full words. Frames past the last whole chunk
 * stay free. Returns 0 or the first alloc_at error.
 */
static int ram_occupy(struct physim_ram *ram, uint64_t claim_frames, uint64_t seed)
{
	uint64_t nchunks = physim_ram_size(ram) / PHYSIM_FRAME_SIZE / CHUNK_FRAMES;
	uint64_t span = nchunks * CHUNK_FRAMES;
	if (claim_frames == 0 || nchunks == 0)
		return 0;
	if (claim_frames > span)
		claim_frames = span;

	double f = (double)(span - claim_frames) / (double)span;
	double q = 4 * f < 1 ? 4 * f : 1;
	double *weight = calloc(nchunks, sizeof(*weight));
	if (weight == NULL)
		return -ENOMEM;
	double sum = 0;
	for (uint64_t i = 0; i < nchunks; i++) {
		if (rng_unit(&seed) < q)
			weight[i] = rng_unit(&seed);
		sum += weight[i];
	}
	if (sum == 0)
		sum = weight[0] = 1;

	double scale = (double)(span - claim_frames) / sum;
	physim_hpa_t base = physim_ram_base(ram);
	int rc = 0;
	for (uint64_t i = 0; i < nchunks && rc == 0; i++) {
		double h = weight[i] * scale + 0.5;
		uint64_t hole = h >= CHUNK_FRAMES ? CHUNK_FRAMES : (uint64_t)h;
		uint64_t off = rng_next(&seed) % (CHUNK_FRAMES - hole + 1);
		rc = claim_around_hole(ram, base + i * CHUNK_FRAMES * PHYSIM_FRAME_SIZE, off, hole);
	}
	free(weight);
	return rc;
}

static double ram_occupancy(const struct physim_ram *ram)
{
	struct physim_ram_stats st = physim_ram_stats(ram);
	return st.total_frames
		   ? (double)(st.used_frames + st.reserved_frames) / (double)st.total_frames
		   : 0;
}

/* ---- churn: a pool of live blocks, free a random one, allocate a new one ---- */

union slot {
	physim_hpa_t hpa; /* physim kinds; 0 = empty */
	void *ptr;	  /* glibc / mmap kinds; NULL = empty */
};

struct churn;

/* What is churned. alloc/release fill and drain the pool (not timed); run is
 * the timed loop, written out per kind so no indirect call sits in it. */
struct churn_kind {
	bool uses_ram;
	size_t nframes;	   /* RAM kinds: frames per block */
	size_t block_size; /* bytes per block */
	size_t align;	   /* bytes */
	int (*alloc)(struct churn *c, union slot *s);
	void (*release)(struct churn *c, union slot *s);
	int (*run)(struct churn *c, uint64_t nops);
};

/* One churning thread's state. */
struct churn {
	const struct churn_kind *kind;
	struct physim_ram *ram;
	uint16_t *seq; /* SEQ_LEN pool indexes */
	size_t pos;
	union slot pool[POOL_SIZE];
};

static int ram_block_alloc(struct churn *c, union slot *s)
{
	if (c->kind->nframes == 1)
		return physim_ram_alloc_frame(c->ram, &s->hpa);
	return physim_ram_alloc_frames(c->ram, c->kind->nframes, c->kind->align, &s->hpa);
}

static void ram_block_release(struct churn *c, union slot *s)
{
	if (s->hpa != 0)
		physim_ram_free_frames(c->ram, s->hpa, c->kind->nframes);
	s->hpa = 0;
}

static int glibc_block_alloc(struct churn *c, union slot *s)
{
	s->ptr = aligned_alloc(c->kind->align, c->kind->block_size);
	return s->ptr ? 0 : -ENOMEM;
}

static void glibc_block_release(struct churn *c, union slot *s)
{
	free(s->ptr);
	s->ptr = NULL;
}

static int mmap_block_alloc(struct churn *c, union slot *s)
{
	void *p = mmap(NULL, c->kind->block_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	s->ptr = p;
	return 0;
}

static void mmap_block_release(struct churn *c, union slot *s)
{
	if (s->ptr != NULL)
		munmap(s->ptr, c->kind->block_size);
	s->ptr = NULL;
}

static int run_ram_frame(struct churn *c, uint64_t nops)
{
	struct physim_ram *ram = c->ram;
	const uint16_t *seq = c->seq;
	size_t pos = c->pos;
	int rc = 0;
	for (uint64_t i = 0; i < nops && rc == 0; i++) {
		physim_hpa_t *h = &c->pool[seq[pos++ & (SEQ_LEN - 1)]].hpa;
		rc = physim_ram_free_frame(ram, *h);
		if (rc == 0 && (rc = physim_ram_alloc_frame(ram, h)) < 0)
			*h = 0;
	}
	c->pos = pos;
	return rc;
}

static int run_ram_frames(struct churn *c, uint64_t nops)
{
	struct physim_ram *ram = c->ram;
	const uint16_t *seq = c->seq;
	size_t nframes = c->kind->nframes;
	uint64_t align = c->kind->align;
	size_t pos = c->pos;
	int rc = 0;
	for (uint64_t i = 0; i < nops && rc == 0; i++) {
		physim_hpa_t *h = &c->pool[seq[pos++ & (SEQ_LEN - 1)]].hpa;
		rc = physim_ram_free_frames(ram, *h, nframes);
		if (rc == 0 && (rc = physim_ram_alloc_frames(ram, nframes, align, h)) < 0)
			*h = 0;
	}
	c->pos = pos;
	return rc;
}

static int run_glibc(struct churn *c, uint64_t nops)
{
	const uint16_t *seq = c->seq;
	size_t size = c->kind->block_size, align = c->kind->align;
	size_t pos = c->pos;
	for (uint64_t i = 0; i < nops; i++) {
		void **p = &c->pool[seq[pos++ & (SEQ_LEN - 1)]].ptr;
		free(*p);
		*p = aligned_alloc(align, size);
		if (*p == NULL) {
			c->pos = pos;
			return -ENOMEM;
		}
	}
	c->pos = pos;
	return 0;
}

static int run_mmap(struct churn *c, uint64_t nops)
{
	const uint16_t *seq = c->seq;
	size_t size = c->kind->block_size;
	size_t pos = c->pos;
	int rc = 0;
	for (uint64_t i = 0; i < nops && rc == 0; i++) {
		void **p = &c->pool[seq[pos++ & (SEQ_LEN - 1)]].ptr;
		if (munmap(*p, size) != 0) {
			rc = -errno;
			break;
		}
		*p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (*p == MAP_FAILED) {
			rc = -errno;
			*p = NULL;
		}
	}
	c->pos = pos;
	return rc;
}

static const struct churn_kind kind_ram_frame = {
    .uses_ram = true,
    .nframes = 1,
    .block_size = 4096,
    .align = 4096,
    .alloc = ram_block_alloc,
    .release = ram_block_release,
    .run = run_ram_frame,
};
static const struct churn_kind kind_ram_frames16 = {
    .uses_ram = true,
    .nframes = 16,
    .block_size = 65536,
    .align = 65536,
    .alloc = ram_block_alloc,
    .release = ram_block_release,
    .run = run_ram_frames,
};
static const struct churn_kind kind_glibc_4k = {
    .block_size = 4096,
    .align = 4096,
    .alloc = glibc_block_alloc,
    .release = glibc_block_release,
    .run = run_glibc,
};
static const struct churn_kind kind_glibc_64k = {
    .block_size = 65536,
    .align = 65536,
    .alloc = glibc_block_alloc,
    .release = glibc_block_release,
    .run = run_glibc,
};
static const struct churn_kind kind_mmap_4k = {
    .block_size = 4096,
    .align = 4096,
    .alloc = mmap_block_alloc,
    .release = mmap_block_release,
    .run = run_mmap,
};

static void churn_drain(struct churn *c)
{
	for (size_t i = 0; i < POOL_SIZE; i++)
		c->kind->release(c, &c->pool[i]);
}

static int churn_fill(struct churn *c)
{
	for (size_t i = 0; i < POOL_SIZE; i++) {
		int rc = c->kind->alloc(c, &c->pool[i]);
		if (rc < 0) {
			churn_drain(c);
			return rc;
		}
	}
	return 0;
}

/* The index sequence depends only on the seed, so physim and its peers
 * free blocks in the same order. */
static struct churn *churn_new(const struct churn_kind *kind, struct physim_ram *ram, uint64_t seed)
{
	struct churn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->seq = malloc(SEQ_LEN * sizeof(*c->seq));
	if (c->seq == NULL) {
		free(c);
		return NULL;
	}
	c->kind = kind;
	c->ram = ram;
	for (size_t i = 0; i < SEQ_LEN; i++)
		c->seq[i] = (uint16_t)(rng_next(&seed) % POOL_SIZE);
	return c;
}

static void churn_free(struct churn *c)
{
	if (c != NULL)
		free(c->seq);
	free(c);
}

/* ---- a team of churning threads, started once, released per timed run ---- */

struct team;

struct team_seat {
	struct team *team;
	struct churn *churn;
	pthread_t thread;
	int rc;
};

struct team {
	unsigned n;
	struct team_seat seat[MAX_THREADS];
	pthread_barrier_t start, done; /* n workers + the timing thread */
	uint64_t nops;
	bool quit;
};

/* Each worker fills its own pool (so glibc gives it its own arena), then
 * runs nops operations whenever the timing thread opens the start barrier. */
static void *team_worker(void *arg)
{
	struct team_seat *seat = arg;
	struct team *t = seat->team;
	seat->rc = churn_fill(seat->churn);
	pthread_barrier_wait(&t->done);
	for (;;) {
		pthread_barrier_wait(&t->start);
		if (t->quit)
			break;
		if (seat->rc == 0)
			seat->rc = seat->churn->kind->run(seat->churn, t->nops);
		pthread_barrier_wait(&t->done);
	}
	churn_drain(seat->churn); /* empty slots are skipped */
	return NULL;
}

static int team_status(const struct team *t)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->seat[i].rc < 0)
			return t->seat[i].rc;
	return 0;
}

/* Thread creation failing halfway would leave the barriers short of a party;
 * a benchmark simply stops there. */
static int team_start(struct team *t, unsigned n, struct churn **churns)
{
	t->n = n;
	t->quit = false;
	pthread_barrier_init(&t->start, NULL, n + 1);
	pthread_barrier_init(&t->done, NULL, n + 1);
	for (unsigned i = 0; i < n; i++) {
		t->seat[i] = (struct team_seat){.team = t, .churn = churns[i]};
		int err = pthread_create(&t->seat[i].thread, NULL, team_worker, &t->seat[i]);
		if (err != 0)
			die("pthread_create", err);
	}
	pthread_barrier_wait(&t->done);
	return team_status(t);
}

static int team_run(struct team *t, uint64_t nops)
{
	t->nops = nops;
	pthread_barrier_wait(&t->start);
	pthread_barrier_wait(&t->done);
	return team_status(t);
}

static void team_stop(struct team *t)
{
	t->quit = true;
	pthread_barrier_wait(&t->start);
	for (unsigned i = 0; i < t->n; i++)
		pthread_join(t->seat[i].thread, NULL);
	pthread_barrier_destroy(&t->start);
	pthread_barrier_destroy(&t->done);
}

/* ---- churn implementation: 1 thread inline, more through a team ---- */

struct churn_bench {
	const struct churn_kind *kind;
	struct physim_ram *ram; /* RAM kinds only, shared by all threads */
	unsigned nthreads;
	struct churn *per[MAX_THREADS];
	struct team team;
	bool team_running;
	double occupancy;
};

static void churn_teardown(void *state)
{
	struct churn_bench *b = state;
	if (b->team_running)
		team_stop(&b->team);
	for (unsigned i = 0; i < b->nthreads; i++) {
		if (!b->team_running && b->per[i] != NULL)
			churn_drain(b->per[i]);
		churn_free(b->per[i]);
	}
	physim_ram_destroy(b->ram);
	free(b);
}

/* Occupancy counts the live pools, so claim the rest with alloc_at first. */
static int churn_prepare_ram(struct churn_bench *b, const struct bench_params *p)
{
	int rc = ram_new(p->ram_size, &b->ram);
	if (rc < 0)
		return rc;
	uint64_t total = p->ram_size / PHYSIM_FRAME_SIZE;
	uint64_t want = total * p->occupancy_pct / 100;
	uint64_t pools = (uint64_t)b->nthreads * POOL_SIZE * b->kind->nframes;
	return want > pools ? ram_occupy(b->ram, want - pools, UINT64_C(0x5eed0f0cc)) : 0;
}

static int churn_setup(const void *data, const struct bench_params *p, void **state)
{
	if (p->nthreads > MAX_THREADS)
		return -EINVAL;
	struct churn_bench *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->kind = data;
	b->nthreads = p->nthreads ? p->nthreads : 1;
	int rc = 0;
	if (b->kind->uses_ram)
		rc = churn_prepare_ram(b, p);
	for (unsigned i = 0; rc == 0 && i < b->nthreads; i++) {
		b->per[i] = churn_new(b->kind, b->ram, UINT64_C(0xc4a7) + i);
		rc = b->per[i] ? 0 : -ENOMEM;
	}
	if (rc == 0 && b->nthreads == 1) {
		rc = churn_fill(b->per[0]);
	} else if (rc == 0) {
		b->team_running = true;
		rc = team_start(&b->team, b->nthreads, b->per);
	}
	if (rc == 0 && b->ram != NULL)
		b->occupancy = ram_occupancy(b->ram);
	if (rc < 0) {
		churn_teardown(b);
		return rc;
	}
	*state = b;
	return 0;
}

static int churn_run(void *state, uint64_t nops)
{
	struct churn_bench *b = state;
	if (b->nthreads == 1)
		return b->kind->run(b->per[0], nops);
	return team_run(&b->team, nops);
}

static void churn_extras(const void *state, struct bench_extras *ex)
{
	const struct churn_bench *b = state;
	if (b->ram != NULL)
		extras_add(ex, "occupancy", b->occupancy);
}

/* ---- alloc_zero: PhysFrame::alloc_zero + drop through the RAM's mm_hal ---- */

struct zero_bench {
	struct physim_ram *ram;
	const struct physim_mm_hal *hal;
	uint8_t *buf; /* memset peer */
};

static int zero_setup(const void *data, const struct bench_params *p, void **state)
{
	struct zero_bench *z = calloc(1, sizeof(*z));
	if (z == NULL)
		return -ENOMEM;
	int rc = ram_new(p->ram_size, &z->ram);
	if (rc < 0) {
		free(z);
		return rc;
	}
	z->hal = physim_ram_mm_hal(z->ram);
	*state = z;
	return 0;
}

static int zero_run(void *state, uint64_t nops)
{
	const struct physim_mm_hal *hal = ((struct zero_bench *)state)->hal;
	for (uint64_t i = 0; i < nops; i++) {
		struct physim_frame f;
		int rc = physim_frame_alloc_zero(hal, &f);
		if (rc < 0)
			return rc;
		keep(physim_frame_as_mut_ptr(&f));
		physim_frame_drop(&f);
	}
	return 0;
}

static void zero_teardown(void *state)
{
	struct zero_bench *z = state;
	physim_ram_destroy(z->ram);
	free(z);
}

static int memset_setup(const void *data, const struct bench_params *p, void **state)
{
	struct zero_bench *z = calloc(1, sizeof(*z));
	if (z == NULL)
		return -ENOMEM;
	z->buf = aligned_alloc(4096, 4096);
	if (z->buf == NULL) {
		free(z);
		return -ENOMEM;
	}
	*state = z;
	return 0;
}

static int memset_run(void *state, uint64_t nops)
{
	uint8_t *buf = ((struct zero_bench *)state)->buf;
	for (uint64_t i = 0; i < nops; i++) {
		memset(buf, 0, 4096);
		keep(buf);
	}
	return 0;
}

static void memset_teardown(void *state)
{
	struct zero_bench *z = state;
	free(z->buf);
	free(z);
}

/* ---- implementations and the case table ---- */

static const struct bench_impl impl_ram_frame = {
    .name = "physim_ram_alloc_frame+free_frame",
    .data = &kind_ram_frame,
    .setup = churn_setup,
    .run = churn_run,
    .teardown = churn_teardown,
    .extras = churn_extras,
};
/* The goal's baseline, timed interleaved with the 95 %-full 64 GiB case so
 * that the comparison does not depend on when each was run. */
static const struct bench_params params_64m_empty = {.ram_size = 64 * MIB};
static const struct bench_impl peer_ram_frame_64m = {
    .name = "physim alloc_free/64M/0%",
    .data = &kind_ram_frame,
    .params = &params_64m_empty,
    .setup = churn_setup,
    .run = churn_run,
    .teardown = churn_teardown,
    .extras = churn_extras,
};
static const struct bench_impl impl_ram_frames16 = {
    .name = "physim_ram_alloc_frames(16, 64K)+free_frames",
    .data = &kind_ram_frames16,
    .setup = churn_setup,
    .run = churn_run,
    .teardown = churn_teardown,
    .extras = churn_extras,
};
static const struct bench_impl peer_glibc_4k = {
    .name = "glibc aligned_alloc+free 4K",
    .data = &kind_glibc_4k,
    .setup = churn_setup,
    .run = churn_run,
    .teardown = churn_teardown,
};
static const struct bench_impl peer_glibc_64k = {
    .name = "glibc aligned_alloc+free 64K",
    .data = &kind_glibc_64k,
    .setup = churn_setup,
    .run = churn_run,
    .teardown = churn_teardown,
};
static const struct bench_impl peer_mmap_4k = {
    .name = "mmap+munmap 4K",
    .data = &kind_mmap_4k,
    .setup = churn_setup,
    .run = churn_run,
    .teardown = churn_teardown,
};
static const struct bench_impl impl_alloc_zero = {
    .name = "physim_frame_alloc_zero+drop (ram mm_hal)",
    .setup = zero_setup,
    .run = zero_run,
    .teardown = zero_teardown,
};
static const struct bench_impl peer_memset_4k = {
    .name = "memset 4K",
    .setup = memset_setup,
    .run = memset_run,
    .teardown = memset_teardown,
};
/* alloc_free: every RAM size at every occupancy; --quick keeps the rows
 * whose size and occupancy are both marked quick. */
static const struct {
	uint64_t ram_size;
	const char *label;
	bool quick;
} alloc_sizes[] = {
    {64 * MIB, "64M", true},
    {4 * GIB, "4G", false},
    {64 * GIB, "64G", true},
};
static const struct {
	unsigned pct;
	bool quick;
} alloc_occupancies[] = {{0, true}, {50, false}, {95, true}};

static int alloc_add_churn(struct bench_list *l)
{
	int rc = 0;
	for (size_t s = 0; s < sizeof(alloc_sizes) / sizeof(alloc_sizes[0]); s++) {
		for (size_t o = 0; o < sizeof(alloc_occupancies) / sizeof(alloc_occupancies[0]);
		     o++) {
			struct bench_case row = {
			    .group = "alloc_free",
			    .params = {.ram_size = alloc_sizes[s].ram_size,
				       .occupancy_pct = alloc_occupancies[o].pct},
			    .impl = &impl_ram_frame,
			    .peers = {&peer_glibc_4k, &peer_mmap_4k},
			    .full_only = !alloc_sizes[s].quick || !alloc_occupancies[o].quick,
			};
			char name[64];
			snprintf(name, sizeof(name), "alloc_free/%s/%u%%", alloc_sizes[s].label,
				 alloc_occupancies[o].pct);
			if ((rc = bench_list_add(l, &row, name)) < 0)
				return rc;
		}
	}
	return rc;
}

/* After alloc_free, one row each. */
static const struct bench_case alloc_cases[] = {
    {.group = "alloc_scaling",
     .name = "alloc_free/64G/95% vs 64M/0%",
     .params = {.ram_size = 64 * GIB, .occupancy_pct = 95},
     .impl = &impl_ram_frame,
     .peers = {&peer_ram_frame_64m}},
    {.group = "alloc_frames16",
     .name = "alloc_frames16/1G/0%",
     .params = {.ram_size = 1 * GIB},
     .impl = &impl_ram_frames16,
     .peers = {&peer_glibc_64k}},
    {.group = "alloc_zero",
     .name = "alloc_zero/64M",
     .params = {.ram_size = 64 * MIB},
     .impl = &impl_alloc_zero,
     .peers = {&peer_memset_4k}},
    {.group = "alloc_free_2t",
     .name = "alloc_free_2t/64M/0%",
     .params = {.ram_size = 64 * MIB, .nthreads = 2},
     .impl = &impl_ram_frame,
     .peers = {&peer_glibc_4k}},
};

static int alloc_add(struct bench_list *l)
{
	int rc = alloc_add_churn(l);
	if (rc == 0)
		rc = bench_add_rows(l, alloc_cases, sizeof(alloc_cases) / sizeof(alloc_cases[0]));
	return rc;
}

const struct bench_area bench_area_alloc = {.name = "alloc", .add = alloc_add};
