/* SPDX-License-Identifier: MIT */
/* tools/physim-bench/physim-bench.c - benchmarks of physim's hot paths (frame
 * allocation, RAM setup, page-table map / query / unmap, translation walks and
 * the TLB), each measured side by side with a familiar peer. */

#include <physim/physim.h>

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define POOL_SIZE    1024u  /* live blocks per churning thread */
#define SEQ_LEN	     65536u /* pre-generated pool indexes, a power of two */
#define CHUNK_FRAMES 512u   /* occupancy layout granule: 2 MiB */
#define MAX_PEERS    2
#define MAX_EXTRAS   4
#define MAX_THREADS  2
#define MAX_REPS     1000u
#define MAX_OPS	     (UINT64_C(1) << 26)

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

/* ---- small utilities ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Tell the compiler that p's memory is read here, so work that produced it
 * (a memset, an allocation) cannot be deleted. */
static inline void keep(const void *p)
{
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* splitmix64: a tiny seeded generator, so every run churns the same way. */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

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

/* Anonymous resident memory in KiB: resident minus shared (file-backed)
 * pages from /proc/self/statm, so code paged in on a first call does not
 * count as memory the RAM costs. Read without stdio so the measurement
 * itself allocates no heap. -1 on failure. */
static long rss_kib(void)
{
	char buf[128];
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	long size_pages, resident_pages, shared_pages;
	if (sscanf(buf, "%ld %ld %ld", &size_pages, &resident_pages, &shared_pages) != 3)
		return -1;
	return (resident_pages - shared_pages) * (sysconf(_SC_PAGESIZE) / 1024);
}

/* -1 when either reading failed. */
static long rss_growth(long before, long after)
{
	return before < 0 || after < 0 ? -1 : after - before;
}

/* Give freed heap memory back first, so a later reuse of it shows up as
 * growth instead of hiding in memory that was already resident. */
static void trim_heap(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* ---- the case table's vocabulary ---- */

struct bench_params {
	uint64_t ram_size;
	unsigned occupancy_pct; /* of the RAM in use while churning, pool included */
	unsigned nthreads;	/* 0 means 1 */
	/* page-table cases */
	const char *format;	 /* physim_format() name */
	uint64_t region;	 /* bytes mapped at PT_VA */
	bool huge;		 /* map with PHYSIM_ALLOW_HUGE */
	uint64_t nqueries;	 /* query cases: addresses in the sequence (--quick: fewer) */
	uint64_t quick_nqueries; /* --quick cap on nqueries; 0 = QUICK_QUERIES */
	bool sequential;	 /* query pages in address order, else uniformly random */
	/* nested walk cases: the stage-2 format; format is then the guest's stage 1 */
	const char *s2_format;
};

/* Extra numbers an implementation reports (JSON fields, text notes). */
struct bench_extras {
	unsigned n;
	struct {
		const char *key;
		double value;
	} kv[MAX_EXTRAS];
};

static void extras_add(struct bench_extras *ex, const char *key, double value)
{
	if (ex->n < MAX_EXTRAS) {
		ex->kv[ex->n].key = key;
		ex->kv[ex->n].value = value;
		ex->n++;
	}
}

/*
 * One measured thing: setup makes a state (not timed), run performs nops
 * operations on it (timed by the harness, called many times), teardown
 * releases it. `data` is the implementation's constant parameter. A peer
 * normally runs with its case's params; `params` overrides them (a peer that
 * is physim itself in another configuration). An operation whose run cannot
 * simply be repeated (map a whole region) gives reset, untimed work before
 * every timed run, and fixed_ops, the one batch size it runs with instead of
 * a calibrated one.
 */
struct bench_impl {
	const char *name;
	const void *data;
	const struct bench_params *params; /* optional */
	int (*setup)(const void *data, const struct bench_params *p, void **state);
	int (*run)(void *state, uint64_t nops);
	void (*teardown)(void *state);
	void (*extras)(const void *state, struct bench_extras *ex); /* optional */
	int (*reset)(void *state);				    /* optional */
	uint64_t (*fixed_ops)(const void *state);		    /* optional */
};

/* A case: physim's implementation and up to MAX_PEERS peers, all set up
 * together and timed interleaved in the same run. */
struct bench_case {
	const char *group;
	const char *name;
	struct bench_params params;
	const struct bench_impl *impl;
	const struct bench_impl *peers[MAX_PEERS]; /* unused slots NULL */
	bool full_only;				   /* left out by --quick */
	const char *unit;			   /* what one op is, if not obvious */
};

/* ---- RAM helpers ---- */

static int ram_new(uint64_t size, struct physim_ram **out)
{
	struct physim_ram_config cfg = {.size = size};
	return physim_ram_create(&cfg, out);
}

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

/* ---- RAM create + destroy, and its resident cost ---- */

/* One create + destroy (or map + unmap) of size bytes; if rss_growth_kib is
 * given, the resident growth while it exists. The call per operation is
 * indirect, which is noise next to the mmap it does. */
struct create_kind {
	int (*cycle)(uint64_t size, long *rss_growth_kib);
};

struct create_bench {
	const struct create_kind *kind;
	uint64_t size;
	long rss_kib; /* largest growth seen between before-create and after-create */
};

static int ram_create_destroy(uint64_t size, long *rss_growth_kib)
{
	struct physim_ram *ram;
	long before = rss_growth_kib ? rss_kib() : 0;
	int rc = ram_new(size, &ram);
	if (rc < 0)
		return rc;
	if (rss_growth_kib)
		*rss_growth_kib = rss_growth(before, rss_kib());
	physim_ram_destroy(ram);
	return 0;
}

static int mmap_unmap(uint64_t size, long *rss_growth_kib)
{
	long before = rss_growth_kib ? rss_kib() : 0;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (rss_growth_kib)
		*rss_growth_kib = rss_growth(before, rss_kib());
	munmap(p, size);
	return 0;
}

/* One unmeasured cycle first (code and libc state warm), then the resident
 * growth is taken three times, after trimming the heap, and the largest
 * kept. */
static int create_setup(const void *data, const struct bench_params *p, void **state)
{
	struct create_bench *cb = calloc(1, sizeof(*cb));
	if (cb == NULL)
		return -ENOMEM;
	cb->kind = data;
	cb->size = p->ram_size;
	int rc = cb->kind->cycle(cb->size, NULL);
	for (int i = 0; i < 3 && rc == 0; i++) {
		long growth = 0;
		trim_heap();
		rc = cb->kind->cycle(cb->size, &growth);
		if (rc == 0 && (growth < 0 || (cb->rss_kib >= 0 && growth > cb->rss_kib)))
			cb->rss_kib = growth; /* -1 (unreadable) sticks */
	}
	if (rc < 0) {
		free(cb);
		return rc;
	}
	*state = cb;
	return 0;
}

static int create_run(void *state, uint64_t nops)
{
	const struct create_bench *cb = state;
	for (uint64_t i = 0; i < nops; i++) {
		int rc = cb->kind->cycle(cb->size, NULL);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void create_teardown(void *state)
{
	free(state);
}

static void create_extras(const void *state, struct bench_extras *ex)
{
	extras_add(ex, "rss_kib", (double)((const struct create_bench *)state)->rss_kib);
}

/* ---- page tables: map / unmap of a region, queries and their peers ----
 *
 * Tables live in a 64 GiB RAM (MAP_NORESERVE: only the table frames are ever
 * touched). The mapped physical range starts at the RAM's base and is never
 * allocated: a page table does not care whether its pages are in use. */

#define PT_VA	     (UINT64_C(1) << 42) /* region start: 4 TiB, lower half everywhere */
#define PT_FLAGS     (PHYSIM_R | PHYSIM_W)
#define PT_RAM_SIZE  (64 * GIB)
#define PT_CHECKS    4096u /* queries a peer must answer as physim does */
#define PT_PAGE_SIZE UINT64_C(4096)
/* --quick cuts query sequences to this many addresses. */
#define QUICK_QUERIES 1000000u

/* A RAM, its paging handler and one empty table of the case's format. */
struct pt_env {
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
	struct physim_pt *pt;
	struct physim_pt_format_info info;
};

static void pt_env_close(struct pt_env *e)
{
	physim_pt_destroy(e->pt);
	physim_ram_destroy(e->ram);
	*e = (struct pt_env){0};
}

static int pt_env_open(const struct bench_params *p, struct pt_env *e)
{
	const struct physim_pt_format *fmt = physim_format(p->format);
	*e = (struct pt_env){0};
	if (fmt == NULL)
		return -ENOTSUP; /* family not compiled in (-Darchs) */
	physim_format_get_info(fmt, &e->info);
	int rc = ram_new(PT_RAM_SIZE, &e->ram);
	if (rc < 0)
		return rc;
	e->ph = physim_ram_paging_handler(e->ram);
	rc = physim_pt_create(fmt, e->ph, &e->pt);
	if (rc < 0)
		pt_env_close(e);
	return rc;
}

static int pt_env_map(struct pt_env *e, uint64_t size, unsigned opts)
{
	return physim_pt_map_region(e->pt, PT_VA, physim_ram_base(e->ram), size, PT_FLAGS, opts);
}

/* ---- map_region and unmap_region: one is timed, the other resets ---- */

struct region_kind {
	bool timed_map; /* else the unmap is timed */
};

struct region_bench {
	const struct region_kind *kind;
	struct pt_env env;
	uint64_t size;
	unsigned opts;
	bool mapped;
	uint64_t ops;	       /* pages (4 KiB) or GiB (huge) per region */
	uint64_t empty_frames; /* table frames with nothing mapped (the root) */
	uint64_t table_frames; /* while mapped, root included */
};

static void region_teardown(void *state)
{
	struct region_bench *b = state;
	pt_env_close(&b->env);
	free(b);
}

/* Maps once (which also checks that the region can be mapped) and leaves
 * it mapped; the first reset of a timed map unmaps it again. */
static int region_setup(const void *data, const struct bench_params *p, void **state)
{
	struct region_bench *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->kind = data;
	b->size = p->region;
	b->opts = p->huge ? PHYSIM_ALLOW_HUGE : 0;
	b->ops = p->region / (p->huge ? GIB : PT_PAGE_SIZE);
	int rc = b->ops ? pt_env_open(p, &b->env) : -EINVAL;
	if (rc == 0) {
		b->empty_frames = physim_pt_table_frames(b->env.pt);
		rc = pt_env_map(&b->env, b->size, b->opts);
	}
	if (rc < 0) {
		region_teardown(b);
		return rc;
	}
	b->mapped = true;
	b->table_frames = physim_pt_table_frames(b->env.pt);
	*state = b;
	return 0;
}

static int region_map(struct region_bench *b)
{
	int rc = pt_env_map(&b->env, b->size, b->opts);
	b->mapped = rc == 0;
	return rc;
}

static int region_unmap(struct region_bench *b)
{
	int rc = physim_pt_unmap_region(b->env.pt, PT_VA, b->size);
	b->mapped = rc != 0;
	return rc;
}

/* The table holds what the last operation should have left (-EIO if not):
 * the frame count, and the first and last page mapped or not. */
static int region_verify(const struct region_bench *b)
{
	const struct physim_pt *pt = b->env.pt;
	uint64_t last = PT_VA + b->size - 1;
	int want = b->mapped ? 0 : -ENOENT;
	bool ok = physim_pt_table_frames(pt) == (b->mapped ? b->table_frames : b->empty_frames) &&
		  physim_pt_query(pt, PT_VA, NULL) == want &&
		  physim_pt_query(pt, last, NULL) == want;
	return ok ? 0 : -EIO;
}

/* Untimed: check what the last timed run did, then bring the table to the
 * state the timed operation starts from. */
static int region_reset(void *state)
{
	struct region_bench *b = state;
	int rc = region_verify(b);
	if (rc < 0)
		return rc;
	if (b->kind->timed_map)
		return b->mapped ? region_unmap(b) : 0;
	return b->mapped ? 0 : region_map(b);
}

/* One whole region per run: nops is always region_ops (fixed_ops). */
static int region_run(void *state, uint64_t nops)
{
	struct region_bench *b = state;
	(void)nops;
	return b->kind->timed_map ? region_map(b) : region_unmap(b);
}

static uint64_t region_ops(const void *state)
{
	return ((const struct region_bench *)state)->ops;
}

static void region_extras(const void *state, struct bench_extras *ex)
{
	extras_add(ex, "table_frames", (double)((const struct region_bench *)state)->table_frames);
}

/* ---- queries: one table and one address sequence, shared ---- */

/*
 * A region mapped with 4 KiB pages and the addresses to query in it, shared
 * by physim's query and its peers within a case, so that all of them read
 * the same table memory in the same order. Made by the first setup of a
 * case, freed by its last teardown (cases run one at a time).
 */
struct pt_fixture {
	unsigned users;
	struct bench_params key;
	struct pt_env env;
	physim_hpa_t root;
	struct physim_direct_map dm;
	/* PT_VA, read at run time: were the base a constant, the compiler
	 * could see that the root index of every query is the same and hoist
	 * the root descriptor load out of the chain loop. */
	uint64_t va;
	uint32_t *offs; /* byte offsets from va, one per query */
	uint64_t n;
};

static struct pt_fixture pt_shared;

static bool fixture_matches(const struct pt_fixture *fx, const struct bench_params *p)
{
	return strcmp(fx->key.format, p->format) == 0 && fx->key.region == p->region &&
	       fx->key.nqueries == p->nqueries && fx->key.sequential == p->sequential;
}

static void fixture_put(struct pt_fixture *fx)
{
	if (--fx->users > 0)
		return;
	free(fx->offs);
	pt_env_close(&fx->env);
	*fx = (struct pt_fixture){0};
}

/* Sequential: one query per page in address order, wrapping around the
 * region. Random: uniform byte addresses (the region is a power of two). */
static void make_offsets(uint32_t *offs, uint64_t n, const struct bench_params *p)
{
	uint64_t seed = UINT64_C(0x9a6e7ab1e), npages = p->region / PT_PAGE_SIZE;
	for (uint64_t i = 0; i < n; i++)
		offs[i] = (uint32_t)(p->sequential ? (i % npages) * PT_PAGE_SIZE
						   : rng_next(&seed) & (p->region - 1));
}

static void fixture_addresses(struct pt_fixture *fx, const struct bench_params *p)
{
	make_offsets(fx->offs, fx->n, p);
}

/* Peers are written for 4 levels of 512 entries over 4 KiB pages. */
static bool fixture_geometry_ok(const struct physim_pt_format_info *info)
{
	if (info->levels != 4 || info->pte_bytes != 8)
		return false;
	for (unsigned l = 0; l < 4; l++)
		if (info->level[l].shift != 12 + 9 * l || info->level[l].index_bits != 9)
			return false;
	return true;
}

static int fixture_build(struct pt_fixture *fx, const struct bench_params *p)
{
	/* Offsets are 32-bit; a power-of-two region keeps random ones uniform. */
	if (p->region == 0 || p->region > 4 * GIB || (p->region & (p->region - 1)) != 0 ||
	    p->nqueries == 0)
		return -EINVAL;
	int rc = pt_env_open(p, &fx->env);
	if (rc < 0)
		return rc;
	fx->key = *p;
	fx->n = p->nqueries;
	fx->offs = malloc(fx->n * sizeof(*fx->offs));
	rc = fx->offs ? 0 : -ENOMEM;
	if (rc == 0 && !fixture_geometry_ok(&fx->env.info))
		rc = -ENOTSUP;
	if (rc == 0)
		rc = pt_env_map(&fx->env, p->region, 0);
	if (rc < 0) {
		free(fx->offs);
		pt_env_close(&fx->env);
		*fx = (struct pt_fixture){0};
		return rc;
	}
	fx->root = physim_pt_root(fx->env.pt);
	fx->va = PT_VA;
	fx->dm = physim_ram_direct_map(fx->env.ram);
	fixture_addresses(fx, p);
	fx->users = 1;
	return 0;
}

static int fixture_get(const struct bench_params *p, struct pt_fixture **out)
{
	struct pt_fixture *fx = &pt_shared;
	if (fx->users > 0 && !fixture_matches(fx, p))
		return -EBUSY;
	int rc = 0;
	if (fx->users > 0)
		fx->users++;
	else
		rc = fixture_build(fx, p);
	if (rc == 0)
		*out = fx;
	return rc;
}

/* One implementation's pass over the sequence: the page pas it finds are
 * summed into sink, so that nothing can be left out and so that the peers
 * can be checked against physim. */
struct query_bench {
	struct pt_fixture *fx;
	int (*run)(struct query_bench *q, uint64_t nops);
	uint64_t pos;
	uint64_t sink;
};

static inline uint64_t query_next(const struct pt_fixture *fx, uint64_t *pos)
{
	uint64_t va = fx->va + fx->offs[*pos];
	*pos = *pos + 1 == fx->n ? 0 : *pos + 1;
	return va;
}

static int query_run_physim(struct query_bench *q, uint64_t nops)
{
	const struct pt_fixture *fx = q->fx;
	const struct physim_pt *pt = fx->env.pt;
	uint64_t pos = q->pos, sink = 0;
	for (uint64_t i = 0; i < nops; i++) {
		struct physim_pt_mapping m;
		int rc = physim_pt_query(pt, query_next(fx, &pos), &m);
		if (rc < 0)
			return rc;
		sink += m.pa;
	}
	q->pos = pos;
	q->sink += sink;
	return 0;
}

/*
 * The straightforward walkers a user would write for one architecture: per
 * level the index, the table through the paging handler's phys_to_virt (an
 * indirect call), the valid bit, the leaf test, the next address. 4 levels,
 * 512 entries each, 4 KiB pages (level 3 is the root, as in the engine).
 * They return the pa of the page holding va.
 */
static inline unsigned plain_shift(int lvl)
{
	return 12 + 9 * (unsigned)lvl;
}

static inline const uint64_t *plain_table(const struct physim_paging_handler *ph, uint64_t pa)
{
	return ph->phys_to_virt(ph->ctx, pa);
}

/* Intel SDM Vol. 3A 4.5 (4-level paging): P is bit 0, PS (bit 7) makes a
 * PDPTE or PDE a 1 GiB / 2 MiB leaf, the address is bits 51:12 (the PAT bit
 * 12 of a huge leaf is masked off with the page offset). */
static int plain_walk_x86_64(const struct physim_paging_handler *ph, uint64_t root, uint64_t va,
			     uint64_t *pa)
{
	uint64_t table = root;
	for (int lvl = 3; lvl >= 0; lvl--) {
		const uint64_t *t = plain_table(ph, table);
		if (t == NULL)
			return -EFAULT;
		uint64_t d = t[(va >> plain_shift(lvl)) & 511];
		if (!(d & 1))
			return -ENOENT;
		uint64_t addr = d & UINT64_C(0x000ffffffffff000);
		if (lvl == 0 || (d & 0x80)) {
			*pa = addr & ~((UINT64_C(1) << plain_shift(lvl)) - 1);
			return 0;
		}
		table = addr;
	}
	return -ENOENT;
}

/* Arm ARM D8.3 (VMSAv8-64 descriptors, 4 KiB granule): bit 0 valid; bit 1
 * set is a table above the last level and a page at it, clear is a block;
 * the output address is bits 47:12. */
static int plain_walk_aarch64(const struct physim_paging_handler *ph, uint64_t root, uint64_t va,
			      uint64_t *pa)
{
	uint64_t table = root;
	for (int lvl = 3; lvl >= 0; lvl--) {
		const uint64_t *t = plain_table(ph, table);
		if (t == NULL)
			return -EFAULT;
		uint64_t d = t[(va >> plain_shift(lvl)) & 511];
		if (!(d & 1))
			return -ENOENT;
		uint64_t addr = d & UINT64_C(0x0000fffffffff000);
		if (lvl == 0 || !(d & 2)) {
			*pa = addr & ~((UINT64_C(1) << plain_shift(lvl)) - 1);
			return 0;
		}
		table = addr;
	}
	return -ENOENT;
}

/* RISC-V privileged spec, Sv48 (PTE format of 10.3.1 / 10.5): V is bit 0,
 * a PTE with any of R, W, X (bits 3:1) is a leaf, the PPN is bits 53:10 and
 * stands for bits 55:12 of the address. */
static int plain_walk_riscv(const struct physim_paging_handler *ph, uint64_t root, uint64_t va,
			    uint64_t *pa)
{
	uint64_t table = root;
	for (int lvl = 3; lvl >= 0; lvl--) {
		const uint64_t *t = plain_table(ph, table);
		if (t == NULL)
			return -EFAULT;
		uint64_t d = t[(va >> plain_shift(lvl)) & 511];
		if (!(d & 1))
			return -ENOENT;
		uint64_t addr = ((d >> 10) & ((UINT64_C(1) << 44) - 1)) << 12;
		if (d & 0xe) {
			*pa = addr & ~((UINT64_C(1) << plain_shift(lvl)) - 1);
			return 0;
		}
		table = addr;
	}
	return -ENOENT;
}

typedef int (*plain_walk_fn)(const struct physim_paging_handler *ph, uint64_t root, uint64_t va,
			     uint64_t *pa);

/* Instantiated once per walker with a constant walk, so the loop calls it
 * directly (the only indirect calls are the walker's own phys_to_virt). */
static inline int plain_loop(struct query_bench *q, uint64_t nops, plain_walk_fn walk)
{
	const struct pt_fixture *fx = q->fx;
	const struct physim_paging_handler *ph = fx->env.ph;
	uint64_t pos = q->pos, sink = 0;
	for (uint64_t i = 0; i < nops; i++) {
		uint64_t pa;
		int rc = walk(ph, fx->root, query_next(fx, &pos), &pa);
		if (rc < 0)
			return rc;
		sink += pa;
	}
	q->pos = pos;
	q->sink += sink;
	return 0;
}

static int query_run_plain_x86_64(struct query_bench *q, uint64_t nops)
{
	return plain_loop(q, nops, plain_walk_x86_64);
}

static int query_run_plain_aarch64(struct query_bench *q, uint64_t nops)
{
	return plain_loop(q, nops, plain_walk_aarch64);
}

static int query_run_plain_riscv(struct query_bench *q, uint64_t nops)
{
	return plain_loop(q, nops, plain_walk_riscv);
}

/*
 * The physical limit of a 4-level query: four dependent descriptor loads
 * from the same table frames, with the cheapest arithmetic between them
 * (index from va; next table = the descriptor's address field, shifted left
 * by pa_lshift and masked, plus the direct map's host offset) and no checks.
 * Every address starts again at the root, so consecutive chains are as
 * independent of each other as consecutive queries are. The leaf's page pa
 * goes into the sink.
 */
static inline int chain_loop(struct query_bench *q, uint64_t nops, unsigned pa_lshift,
			     uint64_t pa_mask)
{
	const struct pt_fixture *fx = q->fx;
	uintptr_t host = (uintptr_t)fx->dm.hva - (uintptr_t)fx->dm.base;
	uintptr_t root = host + (uintptr_t)fx->root;
	uint64_t pos = q->pos, sink = 0;
	for (uint64_t i = 0; i < nops; i++) {
		uint64_t va = query_next(fx, &pos);
		uint64_t d = *(const uint64_t *)(root + ((va >> 39) & 511) * 8);
		d = *(const uint64_t *)(host + ((d << pa_lshift) & pa_mask) +
					((va >> 30) & 511) * 8);
		d = *(const uint64_t *)(host + ((d << pa_lshift) & pa_mask) +
					((va >> 21) & 511) * 8);
		d = *(const uint64_t *)(host + ((d << pa_lshift) & pa_mask) +
					((va >> 12) & 511) * 8);
		sink += (d << pa_lshift) & pa_mask;
	}
	q->pos = pos;
	q->sink += sink;
	return 0;
}

/* Address fields as in the plain walkers; RISC-V's PPN (bits 53:10) lands on
 * bits 55:12 when shifted left by 2. */
static int query_run_chain_x86_64(struct query_bench *q, uint64_t nops)
{
	return chain_loop(q, nops, 0, UINT64_C(0x000ffffffffff000));
}

static int query_run_chain_aarch64(struct query_bench *q, uint64_t nops)
{
	return chain_loop(q, nops, 0, UINT64_C(0x0000fffffffff000));
}

static int query_run_chain_riscv(struct query_bench *q, uint64_t nops)
{
	return chain_loop(q, nops, 2, UINT64_C(0x00fffffffffff000));
}

/* How one implementation answers queries, per format family (indexed by
 * enum physim_arch; NULL: not written for that family). */
struct query_reader {
	int (*run[PHYSIM_ARCH_LOONGARCH64 + 1])(struct query_bench *q, uint64_t nops);
};

static const struct query_reader reader_physim = {
    .run = {[PHYSIM_ARCH_X86_64] = query_run_physim,
	    [PHYSIM_ARCH_AARCH64] = query_run_physim,
	    [PHYSIM_ARCH_RISCV64] = query_run_physim,
	    [PHYSIM_ARCH_LOONGARCH64] = query_run_physim},
};
static const struct query_reader reader_plain = {
    .run = {[PHYSIM_ARCH_X86_64] = query_run_plain_x86_64,
	    [PHYSIM_ARCH_AARCH64] = query_run_plain_aarch64,
	    [PHYSIM_ARCH_RISCV64] = query_run_plain_riscv},
};
static const struct query_reader reader_chain = {
    .run = {[PHYSIM_ARCH_X86_64] = query_run_chain_x86_64,
	    [PHYSIM_ARCH_AARCH64] = query_run_chain_aarch64,
	    [PHYSIM_ARCH_RISCV64] = query_run_chain_riscv},
};

/* The reader must find the pages physim_pt_query finds for the first
 * addresses of the sequence (-EIO if not): a peer that walked something
 * else would measure nothing. */
static int query_check(struct query_bench *q)
{
	const struct pt_fixture *fx = q->fx;
	uint64_t n = fx->n < PT_CHECKS ? fx->n : PT_CHECKS, pos = 0, want = 0;
	for (uint64_t i = 0; i < n; i++) {
		struct physim_pt_mapping m;
		int rc = physim_pt_query(fx->env.pt, query_next(fx, &pos), &m);
		if (rc < 0)
			return rc;
		want += m.pa;
	}
	int rc = q->run(q, n);
	if (rc == 0 && q->sink != want)
		rc = -EIO;
	q->pos = 0;
	q->sink = 0;
	return rc;
}

static void query_teardown(void *state)
{
	struct query_bench *q = state;
	keep(&q->sink);
	fixture_put(q->fx);
	free(q);
}

static int query_setup(const void *data, const struct bench_params *p, void **state)
{
	const struct query_reader *r = data;
	struct query_bench *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	int rc = fixture_get(p, &q->fx);
	if (rc < 0) {
		free(q);
		return rc;
	}
	unsigned arch = (unsigned)q->fx->env.info.arch;
	q->run = arch <= PHYSIM_ARCH_LOONGARCH64 ? r->run[arch] : NULL;
	rc = q->run ? query_check(q) : -ENOTSUP;
	if (rc < 0) {
		query_teardown(q);
		return rc;
	}
	*state = q;
	return 0;
}

static int query_run(void *state, uint64_t nops)
{
	struct query_bench *q = state;
	return q->run(q, nops);
}

/* A timed run is one pass over the whole sequence. */
static uint64_t query_ops(const void *state)
{
	return ((const struct query_bench *)state)->fx->n;
}

static void query_extras(const void *state, struct bench_extras *ex)
{
	extras_add(ex, "queries", (double)((const struct query_bench *)state)->fx->n);
}

/* ---- translation: the walker, the TLB, nested walks ----
 *
 * walk_translate, tlb_miss and tlb_hit use the query fixture above (a region
 * of 4 KiB pages mapped at PT_VA to the RAM's base, and an address
 * sequence), so that the 4-load chain peer reads the same tables in the same
 * order. Every access is a supervisor read. Before anything is timed, setup
 * translates every page of the region once: x86 sets A in every entry a walk
 * uses, so after that pass no translation writes back (the other formats map
 * with A / AF already set). The implementations count write-backs during
 * the runs all the same and report them (expected: 0).
 */

#define PAGE_MASK     (~(PT_PAGE_SIZE - 1))
#define TLB_HIT_PAGES 64u /* tlb_hit working set; the TLB holds 1024 */

/* The tlb_hit peer: the least a software TLB hit can do. One call the
 * compiler may not inline (physim_tlb_translate is an ordinary call into the
 * library too), a direct-mapped set index, one tag compare and the page
 * offset added to the cached page address. It holds exactly the working set,
 * so it never misses, and it fills no result struct, checks no access
 * class and keeps no statistics: a floor for a hit, not a rival TLB. */
struct mini_tlb {
	uint64_t vpn[TLB_HIT_PAGES]; /* va >> 12; the slot is its low bits */
	uint64_t pa[TLB_HIT_PAGES];  /* page address */
};

static __attribute__((noinline)) int mini_tlb_lookup(const struct mini_tlb *t, uint64_t va,
						     uint64_t *pa)
{
	uint64_t vpn = va >> 12;
	unsigned slot = (unsigned)vpn & (TLB_HIT_PAGES - 1);
	if (t->vpn[slot] != vpn)
		return -ENOENT;
	*pa = t->pa[slot] + (va & ~PAGE_MASK);
	return 0;
}

struct walk_bench {
	struct pt_fixture *fx;
	struct physim_mmu *mmu;
	struct physim_tlb *tlb;
	struct mini_tlb *mini;
	int (*run)(struct walk_bench *b, uint64_t nops);
	uint64_t pos, sink;
	uint64_t ad_updates;	      /* translations that wrote A/D, since setup */
	struct physim_tlb_stats base; /* TLB statistics at the end of setup */
};

/* What an implementation calls per address, and the setup it needs. */
struct walk_kind {
	int (*run)(struct walk_bench *b, uint64_t nops);
	bool tlb;  /* a TLB of the default size (1024 entries) */
	bool warm; /* fill the TLB (or the mini TLB) with the region's pages */
	bool mini; /* the tlb_hit peer */
};

/* One physim call per address with the translated page summed into sink.
 * Instantiated with a constant xl, so the call is direct. */
typedef int (*walk_xl_fn)(struct walk_bench *b, const struct physim_access *acc,
			  struct physim_xlate *x);

static inline int walk_loop(struct walk_bench *b, uint64_t nops, walk_xl_fn xl)
{
	const struct pt_fixture *fx = b->fx;
	uint64_t pos = b->pos, sink = 0, ad = 0;
	for (uint64_t i = 0; i < nops; i++) {
		struct physim_access acc = {.va = query_next(fx, &pos)};
		struct physim_xlate x;
		int rc = xl(b, &acc, &x);
		if (rc < 0)
			return rc;
		sink += x.pa & PAGE_MASK;
		ad += x.ad_updated;
	}
	b->pos = pos;
	b->sink += sink;
	b->ad_updates += ad;
	return 0;
}

static inline int xl_translate(struct walk_bench *b, const struct physim_access *acc,
			       struct physim_xlate *x)
{
	return physim_mmu_translate(b->mmu, acc, x);
}

static inline int xl_probe(struct walk_bench *b, const struct physim_access *acc,
			   struct physim_xlate *x)
{
	return physim_mmu_probe(b->mmu, acc, x);
}

static inline int xl_tlb(struct walk_bench *b, const struct physim_access *acc,
			 struct physim_xlate *x)
{
	return physim_tlb_translate(b->tlb, b->mmu, acc, x);
}

static int walk_run_translate(struct walk_bench *b, uint64_t nops)
{
	return walk_loop(b, nops, xl_translate);
}

static int walk_run_probe(struct walk_bench *b, uint64_t nops)
{
	return walk_loop(b, nops, xl_probe);
}

static int walk_run_tlb(struct walk_bench *b, uint64_t nops)
{
	return walk_loop(b, nops, xl_tlb);
}

static int walk_run_mini(struct walk_bench *b, uint64_t nops)
{
	const struct pt_fixture *fx = b->fx;
	const struct mini_tlb *t = b->mini;
	uint64_t pos = b->pos, sink = 0;
	for (uint64_t i = 0; i < nops; i++) {
		uint64_t pa;
		int rc = mini_tlb_lookup(t, query_next(fx, &pos), &pa);
		if (rc < 0)
			return rc;
		sink += pa & PAGE_MASK;
	}
	b->pos = pos;
	b->sink += sink;
	return 0;
}

/* The fixture maps PT_VA + off to the RAM's base + off: the expected page of
 * an address, independent of every walker. */
static inline uint64_t walk_expected_page(const struct pt_fixture *fx, uint64_t va)
{
	return (physim_ram_base(fx->env.ram) + (va - fx->va)) & PAGE_MASK;
}

/* Translate every page of the region once (x86 sets its A bits), checking
 * each result against the linear mapping; then one more translation must
 * have walked all levels and written nothing back. -EIO if not. */
static int walk_touch_all(struct walk_bench *b)
{
	const struct pt_fixture *fx = b->fx;
	struct physim_xlate x;
	for (uint64_t off = 0; off < fx->key.region; off += PT_PAGE_SIZE) {
		struct physim_access acc = {.va = fx->va + off};
		int rc = physim_mmu_translate(b->mmu, &acc, &x);
		if (rc < 0)
			return rc;
		if (x.pa != walk_expected_page(fx, acc.va))
			return -EIO;
	}
	struct physim_access acc = {.va = fx->va};
	int rc = physim_mmu_translate(b->mmu, &acc, &x);
	if (rc == 0 && (x.mem_refs != fx->env.info.levels || x.ad_updated))
		rc = -EIO;
	return rc;
}

/* Fill the TLB (or the mini TLB) with the region's pages. */
static int walk_warm(struct walk_bench *b)
{
	const struct pt_fixture *fx = b->fx;
	uint64_t npages = fx->key.region / PT_PAGE_SIZE;
	if (b->mini != NULL && npages != TLB_HIT_PAGES)
		return -EINVAL;
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t va = fx->va + i * PT_PAGE_SIZE;
		if (b->mini != NULL) {
			unsigned slot = (unsigned)(va >> 12) & (TLB_HIT_PAGES - 1);
			b->mini->vpn[slot] = va >> 12;
			b->mini->pa[slot] = walk_expected_page(fx, va);
			continue;
		}
		struct physim_access acc = {.va = va};
		struct physim_xlate x;
		int rc = physim_tlb_translate(b->tlb, b->mmu, &acc, &x);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The run must find the expected pages for the first addresses of the
 * sequence (-EIO if not). */
static int walk_check(struct walk_bench *b)
{
	const struct pt_fixture *fx = b->fx;
	uint64_t n = fx->n < PT_CHECKS ? fx->n : PT_CHECKS, pos = 0, want = 0;
	for (uint64_t i = 0; i < n; i++)
		want += walk_expected_page(fx, query_next(fx, &pos));
	int rc = b->run(b, n);
	if (rc == 0 && b->sink != want)
		rc = -EIO;
	b->pos = 0;
	b->sink = 0;
	return rc;
}

static void walk_teardown(void *state)
{
	struct walk_bench *b = state;
	keep(&b->sink);
	physim_tlb_destroy(b->tlb);
	physim_mmu_destroy(b->mmu);
	free(b->mini);
	if (b->fx != NULL)
		fixture_put(b->fx);
	free(b);
}

static int walk_prepare(struct walk_bench *b, const struct walk_kind *k)
{
	const struct pt_fixture *fx = b->fx;
	struct physim_mmu_config mc = {
	    .format = physim_pt_format(fx->env.pt), .mem = fx->env.ph, .root = fx->root};
	int rc = physim_mmu_create(&mc, &b->mmu);
	if (rc == 0)
		rc = walk_touch_all(b);
	if (rc == 0 && k->tlb)
		rc = physim_tlb_create(NULL, &b->tlb);
	if (rc == 0 && k->mini)
		rc = (b->mini = calloc(1, sizeof(*b->mini))) ? 0 : -ENOMEM;
	if (rc == 0 && k->warm)
		rc = walk_warm(b);
	if (rc == 0)
		rc = walk_check(b);
	return rc;
}

static int walk_setup(const void *data, const struct bench_params *p, void **state)
{
	const struct walk_kind *k = data;
	struct walk_bench *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->run = k->run;
	int rc = fixture_get(p, &b->fx);
	if (rc == 0)
		rc = walk_prepare(b, k);
	if (rc < 0) {
		walk_teardown(b);
		return rc;
	}
	b->ad_updates = 0;
	b->base = physim_tlb_stats(b->tlb);
	*state = b;
	return 0;
}

static int walk_run(void *state, uint64_t nops)
{
	struct walk_bench *b = state;
	return b->run(b, nops);
}

/* A timed run is one pass over the whole sequence. */
static uint64_t walk_ops(const void *state)
{
	return ((const struct walk_bench *)state)->fx->n;
}

static void walk_extras(const void *state, struct bench_extras *ex)
{
	const struct walk_bench *b = state;
	extras_add(ex, "addresses", (double)b->fx->n);
	if (b->mini != NULL)
		return;
	extras_add(ex, "ad_writebacks", (double)b->ad_updates);
	if (b->tlb != NULL) {
		struct physim_tlb_stats st = physim_tlb_stats(b->tlb);
		double hits = (double)(st.hits - b->base.hits);
		double all = hits + (double)(st.misses - b->base.misses);
		extras_add(ex, "tlb_hit_rate", all > 0 ? hits / all : 0);
	}
}

/* ---- nested walks: a guest's stage 1 whose tables are fetched through stage 2 ----
 *
 * Guest-physical memory is [GUEST_GPA, GUEST_GPA + region + GUEST_TABLES):
 * the guest's data pages, then the frames its stage-1 tables are allocated
 * from (a bump allocator behind the guest's paging handler, whose addresses
 * are GPAs). It is backed by one contiguous block of host frames claimed
 * from the RAM, and stage 2 maps all of it with 4 KiB pages, so that every
 * stage-1 table fetch and the final GPA take a full 4-level stage-2 walk:
 * 4 x (4 + 1) + 4 = 24 descriptor loads per translation. Stage 1 maps
 * GVA PT_VA + off to GPA GUEST_GPA + off with 4 KiB pages.
 */

#define GUEST_GPA     GIB	/* where guest RAM starts, as on many VMs */
#define GUEST_TABLES  (4 * MIB) /* room for the stage-1 tables */
#define NESTED_REFS   24u
#define NESTED_TRACES 64u /* addresses whose fetches the chain check compares */

struct nested_fixture {
	unsigned users;
	struct bench_params key;
	struct pt_env host; /* the RAM and the stage-2 table */
	struct physim_pt *guest;
	struct physim_paging_handler guest_ph;
	physim_hpa_t guest_hpa; /* host-physical base of guest RAM */
	uint64_t guest_size;
	uint64_t table_next; /* next free GPA for a stage-1 table */
	struct physim_mmu *s1, *s2;
	struct physim_direct_map dm;
	uint64_t s1_root; /* a GPA */
	physim_hpa_t s2_root;
	uint64_t s2_root_mask; /* index mask of the stage-2 root (sv48x4: 11 bits) */
	uint64_t va;	       /* PT_VA, read at run time (see pt_fixture) */
	uint32_t *offs;
	uint64_t n;
};

static struct nested_fixture nested_shared;

static void *guest_phys_to_virt(void *ctx, physim_hpa_t gpa)
{
	const struct nested_fixture *fx = ctx;
	uint64_t off = gpa - GUEST_GPA;
	if (gpa < GUEST_GPA || off >= fx->guest_size)
		return NULL;
	return physim_dm_phys_to_virt(&fx->dm, fx->guest_hpa + off);
}

static int guest_alloc_frames(void *ctx, size_t nframes, uint64_t align, physim_hpa_t *gpa)
{
	struct nested_fixture *fx = ctx;
	uint64_t at = (fx->table_next + align - 1) & ~(align - 1);
	if (at + nframes * PT_PAGE_SIZE > GUEST_GPA + fx->guest_size)
		return -ENOMEM;
	fx->table_next = at + nframes * PT_PAGE_SIZE;
	*gpa = at;
	return 0;
}

static int guest_alloc_frame(void *ctx, physim_hpa_t *gpa)
{
	return guest_alloc_frames(ctx, 1, PT_PAGE_SIZE, gpa);
}

/* The tables go when the guest's memory goes. */
static int guest_dealloc_frames(void *ctx, physim_hpa_t gpa, size_t nframes)
{
	(void)ctx, (void)gpa, (void)nframes;
	return 0;
}

static int guest_dealloc_frame(void *ctx, physim_hpa_t gpa)
{
	return guest_dealloc_frames(ctx, gpa, 1);
}

static bool nested_fixture_matches(const struct nested_fixture *fx, const struct bench_params *p)
{
	return strcmp(fx->key.format, p->format) == 0 &&
	       strcmp(fx->key.s2_format, p->s2_format) == 0 && fx->key.region == p->region &&
	       fx->key.nqueries == p->nqueries;
}

static void nested_fixture_free(struct nested_fixture *fx)
{
	physim_mmu_destroy(fx->s1);
	physim_mmu_destroy(fx->s2);
	physim_pt_destroy(fx->guest);
	free(fx->offs);
	pt_env_close(&fx->host);
	*fx = (struct nested_fixture){0};
}

static void nested_fixture_put(struct nested_fixture *fx)
{
	if (--fx->users == 0)
		nested_fixture_free(fx);
}

/* The chain peer is written for 4 levels of 512 entries over 4 KiB pages,
 * except that a stage-2 root may be concatenated (up to 2048 entries). */
static bool nested_geometry_ok(const struct physim_pt_format *s1, const struct physim_pt_format *s2,
			       uint64_t *s2_root_mask)
{
	struct physim_pt_format_info i1, i2;
	physim_format_get_info(s1, &i1);
	physim_format_get_info(s2, &i2);
	if (!fixture_geometry_ok(&i1) || i1.stage2 || !i2.stage2 || i1.arch != i2.arch ||
	    i2.levels != 4 || i2.pte_bytes != 8)
		return false;
	for (unsigned l = 0; l < 4; l++)
		if (i2.level[l].shift != 12 + 9 * l || (l < 3 && i2.level[l].index_bits != 9) ||
		    i2.level[l].index_bits > 11)
			return false;
	*s2_root_mask = (UINT64_C(1) << i2.level[3].index_bits) - 1;
	return true;
}

/* Guest memory, stage 2 over all of it, the guest's stage 1. */
static int nested_build_tables(struct nested_fixture *fx, const struct bench_params *p)
{
	struct physim_ram *ram = fx->host.ram;
	uint64_t frames = fx->guest_size / PT_PAGE_SIZE;
	int rc = physim_ram_alloc_frames(ram, frames, 2 * MIB, &fx->guest_hpa);
	if (rc == 0)
		rc = physim_pt_map_region(fx->host.pt, GUEST_GPA, fx->guest_hpa, fx->guest_size,
					  PT_FLAGS, 0);
	if (rc < 0)
		return rc;
	fx->dm = physim_ram_direct_map(ram);
	fx->table_next = GUEST_GPA + p->region;
	fx->guest_ph = (struct physim_paging_handler){
	    .ctx = fx,
	    .alloc_frame = guest_alloc_frame,
	    .alloc_frames = guest_alloc_frames,
	    .dealloc_frame = guest_dealloc_frame,
	    .dealloc_frames = guest_dealloc_frames,
	    .phys_to_virt = guest_phys_to_virt,
	};
	rc = physim_pt_create(physim_format(p->format), &fx->guest_ph, &fx->guest);
	if (rc == 0)
		rc = physim_pt_map_region(fx->guest, PT_VA, GUEST_GPA, p->region, PT_FLAGS, 0);
	return rc;
}

static int nested_build_mmus(struct nested_fixture *fx)
{
	fx->s1_root = physim_pt_root(fx->guest);
	fx->s2_root = physim_pt_root(fx->host.pt);
	struct physim_mmu_config c1 = {
	    .format = physim_pt_format(fx->guest), .mem = &fx->guest_ph, .root = fx->s1_root};
	struct physim_mmu_config c2 = {
	    .format = physim_pt_format(fx->host.pt), .mem = fx->host.ph, .root = fx->s2_root};
	int rc = physim_mmu_create(&c1, &fx->s1);
	if (rc == 0)
		rc = physim_mmu_create(&c2, &fx->s2);
	return rc;
}

/* GVA PT_VA + off is host-physical guest_hpa + off. */
static inline uint64_t nested_expected_page(const struct nested_fixture *fx, uint64_t va)
{
	return (fx->guest_hpa + (va - fx->va)) & PAGE_MASK;
}

/* Translate every guest page once (x86 sets stage-1 A bits through stage
 * 2), checking each against the layout; one more translation must then
 * make exactly 24 references and write nothing back. -EIO if not. */
static int nested_touch_all(struct nested_fixture *fx)
{
	struct physim_xlate x;
	for (uint64_t off = 0; off < fx->key.region; off += PT_PAGE_SIZE) {
		struct physim_access acc = {.va = fx->va + off};
		int rc = physim_nested_translate(fx->s1, fx->s2, &acc, &x);
		if (rc < 0)
			return rc;
		if (x.pa != nested_expected_page(fx, acc.va) || x.gpa != GUEST_GPA + off)
			return -EIO;
	}
	struct physim_access acc = {.va = fx->va + fx->key.region / 2};
	int rc = physim_nested_translate(fx->s1, fx->s2, &acc, &x);
	if (rc == 0 && (x.mem_refs != NESTED_REFS || x.ad_updated))
		rc = -EIO;
	return rc;
}

static int nested_fixture_build(struct nested_fixture *fx, const struct bench_params *p)
{
	const struct physim_pt_format *f1 = physim_format(p->format);
	const struct physim_pt_format *f2 = p->s2_format ? physim_format(p->s2_format) : NULL;
	if (p->region == 0 || p->region > GIB || (p->region & (p->region - 1)) != 0 ||
	    p->nqueries == 0 || p->sequential)
		return -EINVAL;
	if (f1 == NULL || f2 == NULL)
		return -ENOTSUP; /* family not compiled in (-Darchs) */
	if (!nested_geometry_ok(f1, f2, &fx->s2_root_mask))
		return -ENOTSUP;
	struct bench_params host = *p;
	host.format = p->s2_format;
	int rc = pt_env_open(&host, &fx->host);
	if (rc < 0)
		return rc;
	fx->key = *p;
	fx->guest_size = p->region + GUEST_TABLES;
	fx->va = PT_VA;
	fx->n = p->nqueries;
	fx->offs = malloc(fx->n * sizeof(*fx->offs));
	rc = fx->offs ? nested_build_tables(fx, p) : -ENOMEM;
	if (rc == 0)
		rc = nested_build_mmus(fx);
	if (rc == 0)
		rc = nested_touch_all(fx);
	if (rc < 0) {
		nested_fixture_free(fx);
		return rc;
	}
	make_offsets(fx->offs, fx->n, p);
	fx->users = 1;
	return 0;
}

static int nested_fixture_get(const struct bench_params *p, struct nested_fixture **out)
{
	struct nested_fixture *fx = &nested_shared;
	if (fx->users > 0 && !nested_fixture_matches(fx, p))
		return -EBUSY;
	int rc = 0;
	if (fx->users > 0)
		fx->users++;
	else
		rc = nested_fixture_build(fx, p);
	if (rc == 0)
		*out = fx;
	return rc;
}

static inline uint64_t nested_next(const struct nested_fixture *fx, uint64_t *pos)
{
	uint64_t va = fx->va + fx->offs[*pos];
	*pos = *pos + 1 == fx->n ? 0 : *pos + 1;
	return va;
}

struct nested_bench {
	struct nested_fixture *fx;
	int (*run)(struct nested_bench *b, uint64_t nops);
	uint64_t pos, sink;
	uint64_t ad_updates; /* since setup */
};

static int nested_run_physim(struct nested_bench *b, uint64_t nops)
{
	const struct nested_fixture *fx = b->fx;
	uint64_t pos = b->pos, sink = 0, ad = 0;
	for (uint64_t i = 0; i < nops; i++) {
		struct physim_access acc = {.va = nested_next(fx, &pos)};
		struct physim_xlate x;
		int rc = physim_nested_translate(fx->s1, fx->s2, &acc, &x);
		if (rc < 0)
			return rc;
		sink += x.pa & PAGE_MASK;
		ad += x.ad_updated;
	}
	b->pos = pos;
	b->sink += sink;
	b->ad_updates += ad;
	return 0;
}

/*
 * The limit of a 4-in-4 nested walk: the 24 descriptor loads the walk
 * makes, in its order, as one chain of dependent loads with the cheapest
 * arithmetic between them and no checks (as chain_loop, whose conventions
 * it shares: the address field of a descriptor is (d << pa_lshift) &
 * pa_mask, host = the direct map's offset). For each of the 4 stage-1
 * levels: the GPA of the stage-1 entry (table GPA + index) is walked through
 * stage 2 (4 loads, the first indexed from that GPA), the entry is loaded
 * from the host address found (1 load) and its address field is the next
 * table's GPA; the output GPA is then walked through stage 2 (4 loads). So
 * each load's address is computed from the value the previous load
 * returned - the first stage-2 load of a stage-1 level from the stage-1
 * entry loaded before it - and nothing of one chain can start before the
 * load ahead of it has completed. The stage-2 leaf's page address of the
 * final walk goes into the sink. The fixture checks, for the first
 * addresses of the sequence, that the chain loads exactly the 24 addresses
 * physim's walk fetches, in the same order (nested_trace_check).
 */
/* A family's descriptor address field: (d << pa_lshift) & pa_mask, as in
 * chain_loop; both stages of a family share it (EPT bits 51:12, VMSAv8-64
 * stage 2 bits 47:12, G-stage PPN). */
struct chain_field {
	unsigned pa_lshift;
	uint64_t pa_mask;
};

static const struct chain_field chain_fields[PHYSIM_ARCH_LOONGARCH64 + 1] = {
    [PHYSIM_ARCH_X86_64] = {0, UINT64_C(0x000ffffffffff000)},
    [PHYSIM_ARCH_AARCH64] = {0, UINT64_C(0x0000fffffffff000)},
    [PHYSIM_ARCH_RISCV64] = {2, UINT64_C(0x00fffffffffff000)},
};

/* What the chain needs: host = the direct map's offset (host-virtual = host +
 * host-physical), the roots, and the family's address field. */
struct nested_geo {
	uintptr_t host;
	uint64_t s1_root; /* a GPA */
	uint64_t s2_root; /* an HPA */
	uint64_t root_mask;
	unsigned pa_lshift;
	uint64_t pa_mask;
};

/* One descriptor load at host-physical hpa. trace (a constant NULL in the
 * timed loop, where the test vanishes) records the address for the check. */
static inline uint64_t chain_load(const struct nested_geo *g, uint64_t hpa, uint64_t **trace)
{
	if (trace != NULL)
		*(*trace)++ = hpa;
	return *(const uint64_t *)(g->host + hpa);
}

static inline uint64_t chain_addr(const struct nested_geo *g, uint64_t d)
{
	return (d << g->pa_lshift) & g->pa_mask;
}

/* Stage 2 for gpa: 4 loads; returns the page address gpa maps to. */
static inline uint64_t chain_s2(const struct nested_geo *g, uint64_t gpa, uint64_t **trace)
{
	uint64_t d = chain_load(g, g->s2_root + ((gpa >> 39) & g->root_mask) * 8, trace);
	d = chain_load(g, chain_addr(g, d) + ((gpa >> 30) & 511) * 8, trace);
	d = chain_load(g, chain_addr(g, d) + ((gpa >> 21) & 511) * 8, trace);
	d = chain_load(g, chain_addr(g, d) + ((gpa >> 12) & 511) * 8, trace);
	return chain_addr(g, d);
}

/* The 24 loads for va; returns the host page address va maps to. */
static inline uint64_t chain_nested(const struct nested_geo *g, uint64_t va, uint64_t **trace)
{
	uint64_t table = g->s1_root;
	for (unsigned shift = 39; shift >= 12; shift -= 9) {
		uint64_t ea = table + ((va >> shift) & 511) * 8; /* GPA of the stage-1 entry */
		uint64_t d = chain_load(g, chain_s2(g, ea, trace) + (ea & ~PAGE_MASK), trace);
		table = chain_addr(g, d);
	}
	return chain_s2(g, table + (va & ~PAGE_MASK), trace);
}

static inline struct nested_geo nested_geo(const struct nested_fixture *fx, unsigned pa_lshift,
					   uint64_t pa_mask)
{
	return (struct nested_geo){
	    .host = (uintptr_t)fx->dm.hva - (uintptr_t)fx->dm.base,
	    .s1_root = fx->s1_root,
	    .s2_root = fx->s2_root,
	    .root_mask = fx->s2_root_mask,
	    .pa_lshift = pa_lshift,
	    .pa_mask = pa_mask,
	};
}

/* Instantiated with constant pa_lshift / pa_mask per family. */
static inline int nested_chain_loop(struct nested_bench *b, uint64_t nops, unsigned pa_lshift,
				    uint64_t pa_mask)
{
	const struct nested_fixture *fx = b->fx;
	const struct nested_geo g = nested_geo(fx, pa_lshift, pa_mask);
	uint64_t pos = b->pos, sink = 0;
	for (uint64_t i = 0; i < nops; i++)
		sink += chain_nested(&g, nested_next(fx, &pos), NULL);
	b->pos = pos;
	b->sink += sink;
	return 0;
}

static int nested_run_chain_x86_64(struct nested_bench *b, uint64_t nops)
{
	const struct chain_field *c = &chain_fields[PHYSIM_ARCH_X86_64];
	return nested_chain_loop(b, nops, c->pa_lshift, c->pa_mask);
}

static int nested_run_chain_aarch64(struct nested_bench *b, uint64_t nops)
{
	const struct chain_field *c = &chain_fields[PHYSIM_ARCH_AARCH64];
	return nested_chain_loop(b, nops, c->pa_lshift, c->pa_mask);
}

static int nested_run_chain_riscv(struct nested_bench *b, uint64_t nops)
{
	const struct chain_field *c = &chain_fields[PHYSIM_ARCH_RISCV64];
	return nested_chain_loop(b, nops, c->pa_lshift, c->pa_mask);
}

/* A paging handler that records the host-physical address of every
 * descriptor fetch: it has no direct map, so the walk calls phys_to_virt
 * once per descriptor (lib/walk.c desc_ptr). */
struct fetch_log {
	struct physim_paging_handler ph;
	const struct physim_paging_handler *inner;
	uint64_t hpa[2 * NESTED_REFS];
	unsigned n;
};

static void *log_phys_to_virt(void *ctx, physim_hpa_t hpa)
{
	struct fetch_log *l = ctx;
	if (l->n < 2 * NESTED_REFS)
		l->hpa[l->n] = hpa;
	l->n++;
	return l->inner->phys_to_virt(l->inner->ctx, hpa);
}

/* The chain's loads are the walk's fetches, address for address, for the
 * first NESTED_TRACES addresses of the sequence (-EIO if not). Stage 2 is
 * walked again through a copy of its mmu whose memory is the log; stage 1
 * fetches its tables through stage 2's memory, so they are logged too. */
static int nested_trace_check(const struct nested_fixture *fx, const struct chain_field *c)
{
	struct fetch_log log = {.inner = fx->host.ph};
	log.ph = *fx->host.ph;
	log.ph.ctx = &log;
	log.ph.phys_to_virt = log_phys_to_virt;
	log.ph.direct = (struct physim_direct_map){0};
	struct physim_mmu_config c2;
	physim_mmu_get_config(fx->s2, &c2);
	c2.mem = &log.ph;
	struct physim_mmu *s2 = NULL;
	int rc = physim_mmu_create(&c2, &s2);
	const struct nested_geo g = nested_geo(fx, c->pa_lshift, c->pa_mask);
	uint64_t pos = 0;
	for (unsigned i = 0; i < NESTED_TRACES && i < fx->n && rc == 0; i++) {
		uint64_t want[NESTED_REFS + 1], *t = want;
		struct physim_access acc = {.va = nested_next(fx, &pos)};
		struct physim_xlate x;
		chain_nested(&g, acc.va, &t);
		log.n = 0;
		rc = physim_nested_translate(fx->s1, s2, &acc, &x);
		if (rc == 0 && (t - want != NESTED_REFS || log.n != NESTED_REFS ||
				memcmp(want, log.hpa, sizeof(uint64_t) * NESTED_REFS) != 0))
			rc = -EIO;
	}
	physim_mmu_destroy(s2);
	return rc;
}

/* How an implementation walks, per family (indexed by enum physim_arch). */
struct nested_reader {
	int (*run[PHYSIM_ARCH_LOONGARCH64 + 1])(struct nested_bench *b, uint64_t nops);
};

static const struct nested_reader nested_physim = {
    .run = {[PHYSIM_ARCH_X86_64] = nested_run_physim,
	    [PHYSIM_ARCH_AARCH64] = nested_run_physim,
	    [PHYSIM_ARCH_RISCV64] = nested_run_physim,
	    [PHYSIM_ARCH_LOONGARCH64] = nested_run_physim},
};
static const struct nested_reader nested_chain = {
    .run = {[PHYSIM_ARCH_X86_64] = nested_run_chain_x86_64,
	    [PHYSIM_ARCH_AARCH64] = nested_run_chain_aarch64,
	    [PHYSIM_ARCH_RISCV64] = nested_run_chain_riscv},
};

/* The first addresses of the sequence must give the expected pages. */
static int nested_check(struct nested_bench *b)
{
	const struct nested_fixture *fx = b->fx;
	uint64_t n = fx->n < PT_CHECKS ? fx->n : PT_CHECKS, pos = 0, want = 0;
	for (uint64_t i = 0; i < n; i++)
		want += nested_expected_page(fx, nested_next(fx, &pos));
	int rc = b->run(b, n);
	if (rc == 0 && b->sink != want)
		rc = -EIO;
	b->pos = 0;
	b->sink = 0;
	b->ad_updates = 0;
	return rc;
}

static void nested_teardown(void *state)
{
	struct nested_bench *b = state;
	keep(&b->sink);
	if (b->fx != NULL)
		nested_fixture_put(b->fx);
	free(b);
}

static int nested_setup(const void *data, const struct bench_params *p, void **state)
{
	const struct nested_reader *r = data;
	struct nested_bench *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	int rc = nested_fixture_get(p, &b->fx);
	if (rc < 0) {
		free(b);
		return rc;
	}
	struct physim_pt_format_info info;
	physim_format_get_info(physim_pt_format(b->fx->guest), &info);
	b->run = r->run[info.arch];
	rc = b->run ? nested_check(b) : -ENOTSUP;
	if (rc == 0 && b->run != nested_run_physim)
		rc = nested_trace_check(b->fx, &chain_fields[info.arch]);
	if (rc < 0) {
		nested_teardown(b);
		return rc;
	}
	*state = b;
	return 0;
}

static int nested_run(void *state, uint64_t nops)
{
	struct nested_bench *b = state;
	return b->run(b, nops);
}

static uint64_t nested_ops(const void *state)
{
	return ((const struct nested_bench *)state)->fx->n;
}

static void nested_extras(const void *state, struct bench_extras *ex)
{
	const struct nested_bench *b = state;
	extras_add(ex, "addresses", (double)b->fx->n);
	if (b->run == nested_run_physim)
		extras_add(ex, "ad_writebacks", (double)b->ad_updates);
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
static const struct create_kind create_ram = {.cycle = ram_create_destroy};
static const struct create_kind create_mmap = {.cycle = mmap_unmap};
static const struct bench_impl impl_ram_create = {
    .name = "physim_ram_create+destroy",
    .data = &create_ram,
    .setup = create_setup,
    .run = create_run,
    .teardown = create_teardown,
    .extras = create_extras,
};
static const struct bench_impl peer_mmap_64g = {
    .name = "mmap+munmap NORESERVE",
    .data = &create_mmap,
    .setup = create_setup,
    .run = create_run,
    .teardown = create_teardown,
    .extras = create_extras,
};

static const struct region_kind region_timed_map = {.timed_map = true};
static const struct region_kind region_timed_unmap = {.timed_map = false};
static const struct bench_impl impl_pt_map = {
    .name = "physim_pt_map_region",
    .data = &region_timed_map,
    .setup = region_setup,
    .run = region_run,
    .teardown = region_teardown,
    .extras = region_extras,
    .reset = region_reset,
    .fixed_ops = region_ops,
};
static const struct bench_impl impl_pt_unmap = {
    .name = "physim_pt_unmap_region",
    .data = &region_timed_unmap,
    .setup = region_setup,
    .run = region_run,
    .teardown = region_teardown,
    .extras = region_extras,
    .reset = region_reset,
    .fixed_ops = region_ops,
};
static const struct bench_impl impl_pt_query = {
    .name = "physim_pt_query",
    .data = &reader_physim,
    .setup = query_setup,
    .run = query_run,
    .teardown = query_teardown,
    .extras = query_extras,
    .fixed_ops = query_ops,
};
/* The query goals' yardsticks: peer 0 is the limit, peer 1 the plain walker. */
static const struct bench_impl peer_pt_chain = {
    .name = "4 dependent loads (limit)",
    .data = &reader_chain,
    .setup = query_setup,
    .run = query_run,
    .teardown = query_teardown,
    .fixed_ops = query_ops,
};
static const struct bench_impl peer_pt_plain = {
    .name = "plain C walker (phys_to_virt)",
    .data = &reader_plain,
    .setup = query_setup,
    .run = query_run,
    .teardown = query_teardown,
    .fixed_ops = query_ops,
};

static const struct walk_kind walk_translate = {.run = walk_run_translate};
static const struct walk_kind walk_probe = {.run = walk_run_probe};
static const struct walk_kind walk_tlb_cold = {.run = walk_run_tlb, .tlb = true};
static const struct walk_kind walk_tlb_warm = {.run = walk_run_tlb, .tlb = true, .warm = true};
static const struct walk_kind walk_mini = {.run = walk_run_mini, .warm = true, .mini = true};
static const struct bench_impl impl_mmu_translate = {
    .name = "physim_mmu_translate",
    .data = &walk_translate,
    .setup = walk_setup,
    .run = walk_run,
    .teardown = walk_teardown,
    .extras = walk_extras,
    .fixed_ops = walk_ops,
};
static const struct bench_impl peer_mmu_probe = {
    .name = "physim_mmu_probe",
    .data = &walk_probe,
    .setup = walk_setup,
    .run = walk_run,
    .teardown = walk_teardown,
    .fixed_ops = walk_ops,
};
/* tlb_miss: peer 0 the limit of the walk, peer 1 the walk without a TLB. */
static const struct bench_impl impl_tlb_miss = {
    .name = "physim_tlb_translate",
    .data = &walk_tlb_cold,
    .setup = walk_setup,
    .run = walk_run,
    .teardown = walk_teardown,
    .extras = walk_extras,
    .fixed_ops = walk_ops,
};
static const struct bench_impl peer_mmu_translate = {
    .name = "physim_mmu_translate (no TLB)",
    .data = &walk_translate,
    .setup = walk_setup,
    .run = walk_run,
    .teardown = walk_teardown,
    .fixed_ops = walk_ops,
};
/* tlb_hit: a short sequence over 64 pages, repeated; batches calibrated. */
static const struct bench_impl impl_tlb_hit = {
    .name = "physim_tlb_translate",
    .data = &walk_tlb_warm,
    .setup = walk_setup,
    .run = walk_run,
    .teardown = walk_teardown,
    .extras = walk_extras,
};
static const struct bench_impl peer_mini_tlb = {
    .name = "call + direct-mapped lookup",
    .data = &walk_mini,
    .setup = walk_setup,
    .run = walk_run,
    .teardown = walk_teardown,
};
static const struct bench_impl impl_nested = {
    .name = "physim_nested_translate",
    .data = &nested_physim,
    .setup = nested_setup,
    .run = nested_run,
    .teardown = nested_teardown,
    .extras = nested_extras,
    .fixed_ops = nested_ops,
};
static const struct bench_impl peer_nested_chain = {
    .name = "24 dependent loads (limit)",
    .data = &nested_chain,
    .setup = nested_setup,
    .run = nested_run,
    .teardown = nested_teardown,
    .fixed_ops = nested_ops,
};

/* Walk cases: addresses in a sequence, and --quick's smaller number. */
#define WALK_QUERIES	     4000000u
#define WALK_QUICK_QUERIES   250000u
#define NESTED_QUERIES	     2000000u
#define NESTED_QUICK_QUERIES 100000u
#define TLB_HIT_QUERIES	     4096u

static const struct bench_case cases[] = {
    {.group = "alloc_free",
     .name = "alloc_free/64M/0%",
     .params = {.ram_size = 64 * MIB},
     .impl = &impl_ram_frame,
     .peers = {&peer_glibc_4k, &peer_mmap_4k}},
    {.group = "alloc_free",
     .name = "alloc_free/64M/50%",
     .params = {.ram_size = 64 * MIB, .occupancy_pct = 50},
     .impl = &impl_ram_frame,
     .peers = {&peer_glibc_4k, &peer_mmap_4k},
     .full_only = true},
    {.group = "alloc_free",
     .name = "alloc_free/64M/95%",
     .params = {.ram_size = 64 * MIB, .occupancy_pct = 95},
     .impl = &impl_ram_frame,
     .peers = {&peer_glibc_4k, &peer_mmap_4k}},
    {.group = "alloc_free",
     .name = "alloc_free/4G/0%",
     .params = {.ram_size = 4 * GIB},
     .impl = &impl_ram_frame,
     .peers = {&peer_glibc_4k, &peer_mmap_4k},
     .full_only = true},
    {.group = "alloc_free",
     .name = "alloc_free/4G/50%",
     .params = {.ram_size = 4 * GIB, .occupancy_pct = 50},
     .impl = &impl_ram_frame,
     .peers = {&peer_glibc_4k, &peer_mmap_4k},
     .full_only = true},
    {.group = "alloc_free",
     .name = "alloc_free/4G/95%",
     .params = {.ram_size = 4 * GIB, .occupancy_pct = 95},
     .impl = &impl_ram_frame,
     .peers = {&peer_glibc_4k, &peer_mmap_4k},
     .full_only = true},
    {.group = "alloc_free",
     .name = "alloc_free/64G/0%",
     .params = {.ram_size = 64 * GIB},
     .impl = &impl_ram_frame,
     .peers = {&peer_glibc_4k, &peer_mmap_4k}},
    {.group = "alloc_free",
     .name = "alloc_free/64G/50%",
     .params = {.ram_size = 64 * GIB, .occupancy_pct = 50},
     .impl = &impl_ram_frame,
     .peers = {&peer_glibc_4k, &peer_mmap_4k},
     .full_only = true},
    {.group = "alloc_free",
     .name = "alloc_free/64G/95%",
     .params = {.ram_size = 64 * GIB, .occupancy_pct = 95},
     .impl = &impl_ram_frame,
     .peers = {&peer_glibc_4k, &peer_mmap_4k}},
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
    {.group = "ram_create",
     .name = "ram_create_destroy/64G",
     .params = {.ram_size = 64 * GIB},
     .impl = &impl_ram_create,
     .peers = {&peer_mmap_64g}},
    {.group = "pt_map",
     .name = "pt_map/x86_64-4l/1G",
     .params = {.format = "x86_64-4l", .region = 1 * GIB},
     .impl = &impl_pt_map,
     .unit = "4 KiB page"},
    {.group = "pt_query",
     .name = "pt_query_rand/x86_64-4l",
     .params = {.format = "x86_64-4l", .region = 1 * GIB, .nqueries = 10000000},
     .impl = &impl_pt_query,
     .peers = {&peer_pt_chain, &peer_pt_plain},
     .unit = "query"},
    {.group = "pt_query",
     .name = "pt_query_seq/x86_64-4l",
     .params = {.format = "x86_64-4l", .region = 1 * GIB, .nqueries = 10000000, .sequential = true},
     .impl = &impl_pt_query,
     .peers = {&peer_pt_chain, &peer_pt_plain},
     .unit = "query"},
    {.group = "pt_unmap",
     .name = "pt_unmap/x86_64-4l/1G",
     .params = {.format = "x86_64-4l", .region = 1 * GIB},
     .impl = &impl_pt_unmap,
     .unit = "4 KiB page"},
    {.group = "pt_map_huge",
     .name = "pt_map_huge/x86_64-4l/64G",
     .params = {.format = "x86_64-4l", .region = 64 * GIB, .huge = true},
     .impl = &impl_pt_map,
     .unit = "GiB"},
    {.group = "pt_map",
     .name = "pt_map/aarch64-4k-48/1G",
     .params = {.format = "aarch64-4k-48", .region = 1 * GIB},
     .impl = &impl_pt_map,
     .unit = "4 KiB page"},
    {.group = "pt_query",
     .name = "pt_query_rand/aarch64-4k-48",
     .params = {.format = "aarch64-4k-48", .region = 1 * GIB, .nqueries = 10000000},
     .impl = &impl_pt_query,
     .peers = {&peer_pt_chain, &peer_pt_plain},
     .unit = "query"},
    {.group = "pt_query",
     .name = "pt_query_seq/aarch64-4k-48",
     .params =
	 {.format = "aarch64-4k-48", .region = 1 * GIB, .nqueries = 10000000, .sequential = true},
     .impl = &impl_pt_query,
     .peers = {&peer_pt_chain, &peer_pt_plain},
     .unit = "query"},
    {.group = "pt_unmap",
     .name = "pt_unmap/aarch64-4k-48/1G",
     .params = {.format = "aarch64-4k-48", .region = 1 * GIB},
     .impl = &impl_pt_unmap,
     .unit = "4 KiB page"},
    {.group = "pt_map_huge",
     .name = "pt_map_huge/aarch64-4k-48/64G",
     .params = {.format = "aarch64-4k-48", .region = 64 * GIB, .huge = true},
     .impl = &impl_pt_map,
     .unit = "GiB"},
    {.group = "pt_map",
     .name = "pt_map/sv48/1G",
     .params = {.format = "sv48", .region = 1 * GIB},
     .impl = &impl_pt_map,
     .unit = "4 KiB page"},
    {.group = "pt_query",
     .name = "pt_query_rand/sv48",
     .params = {.format = "sv48", .region = 1 * GIB, .nqueries = 10000000},
     .impl = &impl_pt_query,
     .peers = {&peer_pt_chain, &peer_pt_plain},
     .unit = "query"},
    {.group = "pt_query",
     .name = "pt_query_seq/sv48",
     .params = {.format = "sv48", .region = 1 * GIB, .nqueries = 10000000, .sequential = true},
     .impl = &impl_pt_query,
     .peers = {&peer_pt_chain, &peer_pt_plain},
     .unit = "query"},
    {.group = "pt_unmap",
     .name = "pt_unmap/sv48/1G",
     .params = {.format = "sv48", .region = 1 * GIB},
     .impl = &impl_pt_unmap,
     .unit = "4 KiB page"},
    {.group = "pt_map_huge",
     .name = "pt_map_huge/sv48/64G",
     .params = {.format = "sv48", .region = 64 * GIB, .huge = true},
     .impl = &impl_pt_map,
     .unit = "GiB"},
    {.group = "walk",
     .name = "walk_translate/x86_64-4l",
     .params = {.format = "x86_64-4l",
		.region = 1 * GIB,
		.nqueries = WALK_QUERIES,
		.quick_nqueries = WALK_QUICK_QUERIES},
     .impl = &impl_mmu_translate,
     .peers = {&peer_pt_chain, &peer_mmu_probe},
     .unit = "translate"},
    {.group = "walk",
     .name = "tlb_hit/x86_64-4l",
     .params = {.format = "x86_64-4l",
		.region = TLB_HIT_PAGES * PT_PAGE_SIZE,
		.nqueries = TLB_HIT_QUERIES},
     .impl = &impl_tlb_hit,
     .peers = {&peer_mini_tlb},
     .unit = "lookup"},
    {.group = "walk",
     .name = "tlb_miss/x86_64-4l",
     .params = {.format = "x86_64-4l",
		.region = 1 * GIB,
		.nqueries = WALK_QUERIES,
		.quick_nqueries = WALK_QUICK_QUERIES},
     .impl = &impl_tlb_miss,
     .peers = {&peer_pt_chain, &peer_mmu_translate},
     .unit = "lookup"},
    {.group = "walk",
     .name = "walk_translate/aarch64-4k-48",
     .params = {.format = "aarch64-4k-48",
		.region = 1 * GIB,
		.nqueries = WALK_QUERIES,
		.quick_nqueries = WALK_QUICK_QUERIES},
     .impl = &impl_mmu_translate,
     .peers = {&peer_pt_chain, &peer_mmu_probe},
     .unit = "translate"},
    {.group = "walk",
     .name = "tlb_hit/aarch64-4k-48",
     .params = {.format = "aarch64-4k-48",
		.region = TLB_HIT_PAGES * PT_PAGE_SIZE,
		.nqueries = TLB_HIT_QUERIES},
     .impl = &impl_tlb_hit,
     .peers = {&peer_mini_tlb},
     .unit = "lookup"},
    {.group = "walk",
     .name = "tlb_miss/aarch64-4k-48",
     .params = {.format = "aarch64-4k-48",
		.region = 1 * GIB,
		.nqueries = WALK_QUERIES,
		.quick_nqueries = WALK_QUICK_QUERIES},
     .impl = &impl_tlb_miss,
     .peers = {&peer_pt_chain, &peer_mmu_translate},
     .unit = "lookup"},
    {.group = "walk",
     .name = "walk_translate/sv48",
     .params = {.format = "sv48",
		.region = 1 * GIB,
		.nqueries = WALK_QUERIES,
		.quick_nqueries = WALK_QUICK_QUERIES},
     .impl = &impl_mmu_translate,
     .peers = {&peer_pt_chain, &peer_mmu_probe},
     .unit = "translate"},
    {.group = "walk",
     .name = "tlb_hit/sv48",
     .params = {.format = "sv48",
		.region = TLB_HIT_PAGES * PT_PAGE_SIZE,
		.nqueries = TLB_HIT_QUERIES},
     .impl = &impl_tlb_hit,
     .peers = {&peer_mini_tlb},
     .unit = "lookup"},
    {.group = "walk",
     .name = "tlb_miss/sv48",
     .params = {.format = "sv48",
		.region = 1 * GIB,
		.nqueries = WALK_QUERIES,
		.quick_nqueries = WALK_QUICK_QUERIES},
     .impl = &impl_tlb_miss,
     .peers = {&peer_pt_chain, &peer_mmu_translate},
     .unit = "lookup"},
    {.group = "walk",
     .name = "walk_nested/x86_64-4l-over-ept-4l",
     .params = {.format = "x86_64-4l",
		.s2_format = "ept-4l",
		.region = 256 * MIB,
		.nqueries = NESTED_QUERIES,
		.quick_nqueries = NESTED_QUICK_QUERIES},
     .impl = &impl_nested,
     .peers = {&peer_nested_chain},
     .unit = "translate"},
    {.group = "walk",
     .name = "walk_nested/aarch64-4k-48-over-aarch64-s2-4k-48",
     .params = {.format = "aarch64-4k-48",
		.s2_format = "aarch64-s2-4k-48",
		.region = 256 * MIB,
		.nqueries = NESTED_QUERIES,
		.quick_nqueries = NESTED_QUICK_QUERIES},
     .impl = &impl_nested,
     .peers = {&peer_nested_chain},
     .unit = "translate"},
    {.group = "walk",
     .name = "walk_nested/sv48-over-sv48x4",
     .params = {.format = "sv48",
		.s2_format = "sv48x4",
		.region = 256 * MIB,
		.nqueries = NESTED_QUERIES,
		.quick_nqueries = NESTED_QUICK_QUERIES},
     .impl = &impl_nested,
     .peers = {&peer_nested_chain},
     .unit = "translate"},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* ---- measurement ---- */

struct options {
	bool quick, json, list;
	const char *filter;
	unsigned reps;
	uint64_t target_ns; /* wanted duration of one timed batch */
};

struct impl_result {
	const struct bench_impl *impl;
	uint64_t ops; /* per rep */
	double median, min, max;
	struct bench_extras ex;
};

struct case_result {
	const struct bench_case *c;
	bool measured;
	unsigned npeers;
	struct impl_result self, peer[MAX_PEERS];
};

static int timed_run(const struct bench_impl *im, void *st, uint64_t nops, uint64_t *ns)
{
	int rc = im->reset ? im->reset(st) : 0;
	if (rc < 0)
		return rc;
	uint64_t t0 = now_ns();
	rc = im->run(st, nops);
	*ns = now_ns() - t0;
	return rc;
}

/* Grow the batch by 4x until it takes an eighth of the target, then scale it
 * to the target. Doubles as warm-up. */
static int calibrate(const struct bench_impl *im, void *st, uint64_t target_ns, uint64_t *ops)
{
	uint64_t n = 1, ns = 0;
	for (;;) {
		int rc = timed_run(im, st, n, &ns);
		if (rc < 0)
			return rc;
		if (ns >= target_ns / 8 || n >= MAX_OPS)
			break;
		n *= 4;
	}
	double want = (double)n * (double)target_ns / (double)(ns ? ns : 1);
	*ops = want < 1 ? 1 : want > (double)MAX_OPS ? MAX_OPS : (uint64_t)want;
	return 0;
}

static int batch_size(const struct bench_impl *im, void *st, uint64_t target_ns, uint64_t *ops)
{
	if (im->fixed_ops == NULL)
		return calibrate(im, st, target_ns, ops);
	*ops = im->fixed_ops(st);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void summarise(double *samples, unsigned n, struct impl_result *r)
{
	qsort(samples, n, sizeof(*samples), cmp_double);
	r->min = samples[0];
	r->max = samples[n - 1];
	r->median = n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
}

/* Reps interleave: physim, peer 1, peer 2, physim, ... so that noise from
 * the machine lands on all of them alike. */
static int measure_interleaved(const struct bench_impl **im, void **st, unsigned nimpl,
			       const struct options *o, struct impl_result *res)
{
	double *samples = calloc((size_t)nimpl * o->reps, sizeof(*samples));
	if (samples == NULL)
		return -ENOMEM;
	int rc = 0;
	uint64_t ns;
	/* Calibrate, then one untimed batch: heaps, caches and page tables
	 * reach their steady state before the first timed rep. */
	for (unsigned i = 0; i < nimpl && rc == 0; i++)
		rc = batch_size(im[i], st[i], o->target_ns, &res[i].ops);
	for (unsigned i = 0; i < nimpl && rc == 0; i++)
		rc = timed_run(im[i], st[i], res[i].ops, &ns);
	for (unsigned r = 0; r < o->reps && rc == 0; r++) {
		for (unsigned i = 0; i < nimpl && rc == 0; i++) {
			rc = timed_run(im[i], st[i], res[i].ops, &ns);
			samples[i * o->reps + r] = (double)ns / (double)res[i].ops;
		}
	}
	for (unsigned i = 0; i < nimpl && rc == 0; i++) {
		res[i].impl = im[i];
		summarise(&samples[i * o->reps], o->reps, &res[i]);
		if (im[i]->extras)
			im[i]->extras(st[i], &res[i].ex);
	}
	free(samples);
	return rc;
}

static int measure_case(const struct bench_case *c, const struct options *o,
			struct case_result *out)
{
	struct bench_params params = c->params;
	uint64_t quick_cap = params.quick_nqueries ? params.quick_nqueries : QUICK_QUERIES;
	if (o->quick && params.nqueries > quick_cap)
		params.nqueries = quick_cap;
	const struct bench_impl *im[1 + MAX_PEERS] = {c->impl};
	void *st[1 + MAX_PEERS] = {NULL};
	struct impl_result res[1 + MAX_PEERS];
	unsigned nimpl = 1, ready = 0;
	for (unsigned i = 0; i < MAX_PEERS && c->peers[i]; i++)
		im[nimpl++] = c->peers[i];

	memset(res, 0, sizeof(res));
	int rc = 0;
	for (; ready < nimpl && rc == 0; ready++)
		rc = im[ready]->setup(im[ready]->data,
				      im[ready]->params ? im[ready]->params : &params, &st[ready]);
	if (rc == 0)
		rc = measure_interleaved(im, st, nimpl, o, res);
	else
		ready--; /* the failed setup left nothing to tear down */
	for (unsigned i = 0; i < ready; i++)
		im[i]->teardown(st[i]);
	if (rc < 0)
		return rc;

	out->c = c;
	out->measured = true;
	out->self = res[0];
	out->npeers = nimpl - 1;
	for (unsigned i = 1; i < nimpl; i++)
		out->peer[i - 1] = res[i];
	return 0;
}

/* ---- output ---- */

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

static void json_extras(const char *prefix, const struct bench_extras *ex)
{
	for (unsigned i = 0; i < ex->n; i++)
		printf(", \"%s%s\": %.6g", prefix, ex->kv[i].key, ex->kv[i].value);
}

static void json_peer(const struct impl_result *s, const struct impl_result *q)
{
	printf(", \"peer\": ");
	json_string(q->impl->name);
	printf(", \"peer_ns_per_op\": %.3f, \"ratio\": %.5f", q->median, s->median / q->median);
	printf(", \"peer_ops\": %" PRIu64, q->ops);
	printf(", \"peer_min_ns_per_op\": %.3f, \"peer_max_ns_per_op\": %.3f", q->min, q->max);
	json_extras("peer_", &q->ex);
}

/* One line per peer; a case without peers still gets its one line. */
static void print_json(const struct case_result *r, unsigned threads, unsigned reps)
{
	const struct impl_result *s = &r->self;
	unsigned lines = r->npeers ? r->npeers : 1;
	for (unsigned p = 0; p < lines; p++) {
		printf("{\"case\": ");
		json_string(r->c->name);
		printf(", \"group\": ");
		json_string(r->c->group);
		printf(", \"ns_per_op\": %.3f", s->median);
		if (r->c->unit != NULL) {
			printf(", \"unit\": ");
			json_string(r->c->unit);
		}
		printf(", \"reps\": %u, \"ops\": %" PRIu64, reps, s->ops);
		printf(", \"min_ns_per_op\": %.3f, \"max_ns_per_op\": %.3f", s->min, s->max);
		printf(", \"threads\": %u, \"impl\": ", threads);
		json_string(s->impl->name);
		json_extras("", &s->ex);
		if (r->npeers > 0)
			json_peer(s, &r->peer[p]);
		printf("}\n");
	}
}

/* Appends to what buf already holds. */
static void text_notes(char *buf, size_t len, const struct bench_extras *ex, const char *prefix)
{
	size_t used = strlen(buf);
	for (unsigned i = 0; i < ex->n && used < len; i++) {
		const char *key = ex->kv[i].key;
		double v = ex->kv[i].value;
		int n;
		if (strcmp(key, "occupancy") == 0)
			n = snprintf(buf + used, len - used, "%s%soccupancy %.2f%%",
				     used ? ", " : "", prefix, v * 100);
		else if (strcmp(key, "rss_kib") == 0)
			n = snprintf(buf + used, len - used, "%s%srss +%.0f KiB", used ? ", " : "",
				     prefix, v);
		else if (strcmp(key, "queries") == 0 || strcmp(key, "table_frames") == 0 ||
			 strcmp(key, "addresses") == 0)
			n = snprintf(buf + used, len - used, "%s%s%.0f %s", used ? ", " : "",
				     prefix, v,
				     key[0] == 'q'   ? "queries"
				     : key[0] == 'a' ? "addresses"
						     : "table frames");
		else if (strcmp(key, "tlb_hit_rate") == 0)
			n = snprintf(buf + used, len - used, "%s%sTLB hits %.2f%%",
				     used ? ", " : "", prefix, v * 100);
		else if (strcmp(key, "ad_writebacks") == 0)
			n = snprintf(buf + used, len - used, "%s%s%.0f A/D write-backs",
				     used ? ", " : "", prefix, v);
		else
			n = snprintf(buf + used, len - used, "%s%s%s %g", used ? ", " : "", prefix,
				     key, v);
		used += n > 0 ? (size_t)n : 0;
	}
}

/* Width of the case column: the longest selected name, at least 30. */
static int case_width = 30;

static void print_text_header(const struct options *o)
{
	printf("physim-bench: %s run, %u reps per case, ~%.0f ms per timed batch; "
	       "median ns/op, physim and peers timed interleaved\n"
	       "(pt_*, walk_* and tlb_miss cases: a batch is one whole region or address "
	       "sequence)\n\n",
	       o->quick ? "quick" : "full", o->reps, (double)o->target_ns / 1e6);
	printf("%-*s %9s  %-30s %11s %8s  %s\n", case_width, "case", "ns/op", "peer", "peer ns/op",
	       "ratio", "notes");
}

/* One line per peer; a case without peers gets dashes in the peer columns. */
static void print_text(const struct case_result *r)
{
	unsigned lines = r->npeers ? r->npeers : 1;
	for (unsigned p = 0; p < lines; p++) {
		const struct impl_result *q = r->npeers ? &r->peer[p] : NULL;
		char notes[160] = "", peer_notes[96] = "";
		if (p == 0) {
			if (r->c->unit != NULL)
				snprintf(notes, sizeof(notes), "per %s", r->c->unit);
			text_notes(notes, sizeof(notes), &r->self.ex, "");
		}
		if (q != NULL)
			text_notes(peer_notes, sizeof(peer_notes), &q->ex, "peer ");
		if (notes[0] && peer_notes[0])
			strncat(notes, ", ", sizeof(notes) - strlen(notes) - 1);
		strncat(notes, peer_notes, sizeof(notes) - strlen(notes) - 1);
		if (p == 0)
			printf("%-*s %9.2f  ", case_width, r->c->name, r->self.median);
		else
			printf("%-*s %9s  ", case_width, "", "");
		if (q != NULL)
			printf("%-30s %11.2f %8.3f", q->impl->name, q->median,
			       r->self.median / q->median);
		else
			printf("%-30s %11s %8s", "-", "-", "-");
		printf("%s%s\n", notes[0] ? "  " : "", notes);
	}
}

/* ---- derived numbers and the goals ---- */

static const struct case_result *find_result(const struct case_result *res, const char *name)
{
	for (size_t i = 0; i < NCASES; i++)
		if (res[i].measured && strcmp(res[i].c->name, name) == 0)
			return &res[i];
	return NULL;
}

#define GOAL_GLIBC_RATIO   0.1
#define GOAL_FULL_RATIO	   1.3
#define GOAL_CREATE_NS	   5e6
#define GOAL_CREATE_RSS_KB 8192.0

static const char *verdict(bool ok)
{
	return ok ? "met" : "MISSED";
}

static void goal_alloc_vs_glibc(const struct case_result *res)
{
	const struct case_result *worst = NULL;
	double worst_ratio = 0;
	for (size_t i = 0; i < NCASES; i++) {
		if (!res[i].measured || strcmp(res[i].c->group, "alloc_free") != 0)
			continue;
		double ratio = res[i].self.median / res[i].peer[0].median;
		if (worst == NULL || ratio > worst_ratio) {
			worst = &res[i];
			worst_ratio = ratio;
		}
	}
	if (worst == NULL)
		return;
	printf("  single-frame alloc+free <= %.1fx glibc aligned_alloc+free: worst %.3fx (%s, "
	       "%.1f vs %.1f ns) - %s\n",
	       GOAL_GLIBC_RATIO, worst_ratio, worst->c->name, worst->self.median,
	       worst->peer[0].median, verdict(worst_ratio <= GOAL_GLIBC_RATIO));
}

static void goal_full_vs_empty(const struct case_result *res)
{
	const struct case_result *r = find_result(res, "alloc_free/64G/95% vs 64M/0%");
	if (r == NULL)
		return;
	double ratio = r->self.median / r->peer[0].median;
	printf("  alloc in 95%%-full 64 GiB <= %.1fx alloc in empty 64 MiB: %.3fx (%.1f vs %.1f "
	       "ns, timed interleaved) - %s\n",
	       GOAL_FULL_RATIO, ratio, r->self.median, r->peer[0].median,
	       verdict(ratio <= GOAL_FULL_RATIO));
}

static void goal_create(const struct case_result *res)
{
	const struct case_result *cr = find_result(res, "ram_create_destroy/64G");
	if (cr == NULL)
		return;
	double rss = cr->self.ex.n ? cr->self.ex.kv[0].value : -1;
	printf("  create+destroy 64 GiB RAM < %.0f ms: %.3f ms - %s\n", GOAL_CREATE_NS / 1e6,
	       cr->self.median / 1e6, verdict(cr->self.median < GOAL_CREATE_NS));
	printf("  anonymous resident growth of a 64 GiB RAM < %.0f MiB: %.0f KiB - %s\n",
	       GOAL_CREATE_RSS_KB / 1024, rss, verdict(rss >= 0 && rss < GOAL_CREATE_RSS_KB));
}

#define GOAL_PT_CHAIN_RATIO 1.5 /* random query / 4 dependent loads */
#define GOAL_PT_PLAIN_RATIO 0.5 /* random query / plain C walker */
#define GOAL_PT_SEQ_NS	    4.0
#define GOAL_PT_MAP_NS	    8.0
#define GOAL_PT_UNMAP_NS    3.5
/* The query cases' peers, in their rows' order. */
#define PEER_PT_CHAIN 0
#define PEER_PT_PLAIN 1

/* One goal over every measured case whose name starts with prefix: its
 * median (peer < 0) or its ratio to that peer, listed per format; met if
 * all are within limit. */
static void goal_pt(const struct case_result *res, const char *what, const char *prefix, int peer,
		    double limit, const char *unit)
{
	char line[256] = "";
	bool ok = true;
	for (size_t i = 0; i < NCASES; i++) {
		const struct case_result *r = &res[i];
		if (!r->measured || strncmp(r->c->name, prefix, strlen(prefix)) != 0 ||
		    (peer >= 0 && (unsigned)peer >= r->npeers))
			continue;
		double v = peer < 0 ? r->self.median : r->self.median / r->peer[peer].median;
		size_t used = strlen(line);
		snprintf(line + used, sizeof(line) - used, "%s%s%s%s %.2f%s", used ? ", " : "",
			 r->c->params.format, r->c->params.s2_format ? "/" : "",
			 r->c->params.s2_format ? r->c->params.s2_format : "", v, unit);
		ok = ok && v <= limit;
	}
	if (line[0])
		printf("  %s <= %g%s: %s - %s\n", what, limit, unit, line, verdict(ok));
}

/* Huge-page map of a large region: no goal, the total time for scale. */
static void info_pt_map_huge(const struct case_result *res)
{
	for (size_t i = 0; i < NCASES; i++) {
		const struct case_result *r = &res[i];
		if (!r->measured || strcmp(r->c->group, "pt_map_huge") != 0)
			continue;
		printf("  %s: map_region with huge pages: %.2f us total, %.2f ns per GiB\n",
		       r->c->name, r->self.median * (double)r->self.ops / 1e3, r->self.median);
	}
}

static void goals_pt(const struct case_result *res)
{
	goal_pt(res, "random query vs 4 dependent loads", "pt_query_rand/", PEER_PT_CHAIN,
		GOAL_PT_CHAIN_RATIO, "x");
	goal_pt(res, "random query vs plain C walker", "pt_query_rand/", PEER_PT_PLAIN,
		GOAL_PT_PLAIN_RATIO, "x");
	goal_pt(res, "sequential query", "pt_query_seq/", -1, GOAL_PT_SEQ_NS, " ns");
	goal_pt(res, "map_region 4 KiB pages", "pt_map/", -1, GOAL_PT_MAP_NS, " ns/page");
	goal_pt(res, "unmap_region 4 KiB pages", "pt_unmap/", -1, GOAL_PT_UNMAP_NS, " ns/page");
	info_pt_map_huge(res);
	if (find_result(res, "pt_query_rand/x86_64-4l") || find_result(res, "pt_map/x86_64-4l/1G"))
		printf(
		    "  for scale, page_table_multiarch 0.6.1 (fat LTO) measured on this machine: "
		    "map 13.1 ns/page,\n"
		    "  random query 12.2 ns, sequential query 6.4 ns, unmap 5.1 ns/page\n");
}

#define GOAL_WALK_CHAIN_RATIO	1.5 /* translate / 4 dependent loads */
#define GOAL_NESTED_CHAIN_RATIO 1.5 /* nested translate / 24 dependent loads */
#define GOAL_TLB_HIT_NS		3.0 /* strictly under */
/* The walk cases' peers, in their rows' order. */
#define PEER_WALK_CHAIN 0
#define PEER_WALK_OTHER 1 /* walk_translate: probe; tlb_miss: translate without TLB */

/* Figures without a goal, per format: peer a's median over peer b's (a < 0:
 * physim's own). */
static void info_walk(const struct case_result *res, const char *what, const char *prefix, int a,
		      int b)
{
	char line[256] = "";
	for (size_t i = 0; i < NCASES; i++) {
		const struct case_result *r = &res[i];
		if (!r->measured || strncmp(r->c->name, prefix, strlen(prefix)) != 0 ||
		    (unsigned)(a > b ? a : b) >= r->npeers)
			continue;
		double num = a < 0 ? r->self.median : r->peer[a].median;
		size_t used = strlen(line);
		snprintf(line + used, sizeof(line) - used, "%s%s %.2fx", used ? ", " : "",
			 r->c->params.format, num / r->peer[b].median);
	}
	if (line[0])
		printf("  %s (no goal): %s\n", what, line);
}

static void goal_tlb_hit(const struct case_result *res)
{
	char line[256] = "";
	bool ok = true;
	for (size_t i = 0; i < NCASES; i++) {
		const struct case_result *r = &res[i];
		if (!r->measured || strncmp(r->c->name, "tlb_hit/", 8) != 0)
			continue;
		size_t used = strlen(line);
		snprintf(line + used, sizeof(line) - used, "%s%s %.2f ns", used ? ", " : "",
			 r->c->params.format, r->self.median);
		ok = ok && r->self.median < GOAL_TLB_HIT_NS;
	}
	if (line[0])
		printf("  TLB hit < %g ns: %s - %s\n", GOAL_TLB_HIT_NS, line, verdict(ok));
}

static void goals_walk(const struct case_result *res)
{
	goal_pt(res, "translate vs 4 dependent loads", "walk_translate/", PEER_WALK_CHAIN,
		GOAL_WALK_CHAIN_RATIO, "x");
	info_walk(res, "probe vs 4 dependent loads", "walk_translate/", PEER_WALK_OTHER,
		  PEER_WALK_CHAIN);
	goal_pt(res, "nested translate vs 24 dependent loads", "walk_nested/", PEER_WALK_CHAIN,
		GOAL_NESTED_CHAIN_RATIO, "x");
	goal_tlb_hit(res);
	info_walk(res, "TLB miss + walk vs 4 dependent loads", "tlb_miss/", -1, PEER_WALK_CHAIN);
	info_walk(res, "TLB miss + walk vs translate without TLB", "tlb_miss/", -1,
		  PEER_WALK_OTHER);
}

static void print_goals(const struct case_result *res)
{
	printf("\nGoals (report against these):\n");
	goal_alloc_vs_glibc(res);
	goal_full_vs_empty(res);
	goal_create(res);
	goals_pt(res);
	goals_walk(res);
	printf("  (a goal whose cases were filtered out is not shown)\n");
}

/* ---- command line ---- */

static void usage(void)
{
	printf("usage: physim-bench [--quick] [--json] [--filter SUBSTR] [--reps N] [--list]\n"
	       "       physim-bench -h | --help | --version\n"
	       "\n"
	       "Times physim's hot paths against peers (glibc, mmap, memset, dependent-load\n"
	       "chains standing for the memory a walk must read), interleaved,\n"
	       "and prints the median ns per operation over the reps.\n"
	       "\n"
	       "  --quick          reduced set (no 4G / 50%% cases), 5 reps, short batches\n"
	       "  --json           one JSON object per line and peer: case, ns_per_op, peer,\n"
	       "                   peer_ns_per_op, ratio (= ns_per_op / peer_ns_per_op), ...\n"
	       "  --filter SUBSTR  only cases whose name or group contains SUBSTR\n"
	       "  --reps N         timed batches per case (1..%u; default 11, quick 5)\n"
	       "  --list           print the case names and exit\n"
	       "  -h, --help       this text\n"
	       "  --version        print physim-bench's version and exit\n"
	       "\n"
	       "Exit status: 0 done, 1 a case failed (the others still run) or the host\n"
	       "refused memory, 2 bad option. The manual page physim-bench(1) has more.\n",
	       MAX_REPS);
}

static _Noreturn void bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "physim-bench: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see --help)\n");
	exit(2);
}

static unsigned parse_reps(const char *s)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v < 1 || v > MAX_REPS)
		bad_usage("--reps: '%s' is not a whole number from 1 to 1000", s);
	return (unsigned)v;
}

/* Value of an option given as "--opt VALUE" or "--opt=VALUE"; NULL if argv[*i]
 * is not that option. */
static const char *option_value(int argc, char **argv, int *i, const char *opt)
{
	size_t len = strlen(opt);
	if (strncmp(argv[*i], opt, len) != 0)
		return NULL;
	if (argv[*i][len] == '=')
		return argv[*i] + len + 1;
	if (argv[*i][len] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		bad_usage("%s needs a value", opt);
	return argv[++*i];
}

static void parse_args(int argc, char **argv, struct options *o)
{
	unsigned reps = 0;
	for (int i = 1; i < argc; i++) {
		const char *v;
		if (strcmp(argv[i], "--quick") == 0) {
			o->quick = true;
		} else if (strcmp(argv[i], "--json") == 0) {
			o->json = true;
		} else if (strcmp(argv[i], "--list") == 0) {
			o->list = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage();
			exit(0);
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("physim-bench (physim) %s\n", physim_version());
			exit(0);
		} else if ((v = option_value(argc, argv, &i, "--filter")) != NULL) {
			o->filter = v;
		} else if ((v = option_value(argc, argv, &i, "--reps")) != NULL) {
			reps = parse_reps(v);
		} else {
			bad_usage("unknown argument '%s'", argv[i]);
		}
	}
	o->reps = reps ? reps : o->quick ? 5 : 11;
	o->target_ns = o->quick ? 8000000 : 20000000;
}

static bool selected(const struct bench_case *c, const struct options *o)
{
	if (o->quick && c->full_only)
		return false;
	return o->filter == NULL || strstr(c->name, o->filter) != NULL ||
	       strstr(c->group, o->filter) != NULL;
}

int main(int argc, char **argv)
{
	struct options o = {0};
	parse_args(argc, argv, &o);

	size_t nsel = 0;
	for (size_t i = 0; i < NCASES; i++) {
		if (!selected(&cases[i], &o))
			continue;
		nsel++;
		if (strlen(cases[i].name) > (size_t)case_width)
			case_width = (int)strlen(cases[i].name);
	}
	if (nsel == 0)
		bad_usage("--filter '%s' matches no case", o.filter ? o.filter : "");
	if (o.list) {
		for (size_t i = 0; i < NCASES; i++)
			if (selected(&cases[i], &o))
				printf("%s\n", cases[i].name);
		return 0;
	}

	static struct case_result res[NCASES];
	int status = 0;
	if (!o.json)
		print_text_header(&o);
	for (size_t i = 0; i < NCASES; i++) {
		if (!selected(&cases[i], &o))
			continue;
		int rc = measure_case(&cases[i], &o, &res[i]);
		if (rc < 0) {
			fflush(stdout);
			fprintf(stderr, "physim-bench: %s: %s\n", cases[i].name,
				physim_strerror(rc));
			status = 1;
			continue;
		}
		unsigned threads = cases[i].params.nthreads ? cases[i].params.nthreads : 1;
		if (o.json)
			print_json(&res[i], threads, o.reps);
		else
			print_text(&res[i]);
		fflush(stdout);
	}
	if (!o.json)
		print_goals(res);
	return status;
}
