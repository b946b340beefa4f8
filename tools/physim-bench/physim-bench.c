/* tools/physim-bench/physim-bench.c - benchmarks of physim's hot paths (frame
 * allocation, RAM setup), each measured side by side with a familiar peer. */

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
 * is physim itself in another configuration).
 */
struct bench_impl {
	const char *name;
	const void *data;
	const struct bench_params *params; /* optional */
	int (*setup)(const void *data, const struct bench_params *p, void **state);
	int (*run)(void *state, uint64_t nops);
	void (*teardown)(void *state);
	void (*extras)(const void *state, struct bench_extras *ex); /* optional */
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

/* New groups (page-table map/query/unmap, walker translate, TLB) add their
 * implementations above and rows here. */
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
	uint64_t t0 = now_ns();
	int rc = im->run(st, nops);
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
		rc = calibrate(im[i], st[i], o->target_ns, &res[i].ops);
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
				      im[ready]->params ? im[ready]->params : &c->params,
				      &st[ready]);
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

static void print_json(const struct case_result *r, unsigned threads, unsigned reps)
{
	for (unsigned p = 0; p < r->npeers; p++) {
		const struct impl_result *s = &r->self, *q = &r->peer[p];
		printf("{\"case\": ");
		json_string(r->c->name);
		printf(", \"group\": ");
		json_string(r->c->group);
		printf(", \"ns_per_op\": %.3f, \"peer\": ", s->median);
		json_string(q->impl->name);
		printf(", \"peer_ns_per_op\": %.3f, \"ratio\": %.5f", q->median,
		       s->median / q->median);
		printf(", \"reps\": %u, \"ops\": %" PRIu64 ", \"peer_ops\": %" PRIu64, reps, s->ops,
		       q->ops);
		printf(", \"min_ns_per_op\": %.3f, \"max_ns_per_op\": %.3f", s->min, s->max);
		printf(", \"peer_min_ns_per_op\": %.3f, \"peer_max_ns_per_op\": %.3f", q->min,
		       q->max);
		printf(", \"threads\": %u, \"impl\": ", threads);
		json_string(s->impl->name);
		json_extras("", &s->ex);
		json_extras("peer_", &q->ex);
		printf("}\n");
	}
}

static void text_notes(char *buf, size_t len, const struct bench_extras *ex, const char *prefix)
{
	size_t used = 0;
	buf[0] = '\0';
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
		else
			n = snprintf(buf + used, len - used, "%s%s%s %g", used ? ", " : "", prefix,
				     key, v);
		used += n > 0 ? (size_t)n : 0;
	}
}

static void print_text_header(const struct options *o)
{
	printf("physim-bench: %s run, %u reps per case, ~%.0f ms per timed batch; "
	       "median ns/op, physim and peers timed interleaved\n\n",
	       o->quick ? "quick" : "full", o->reps, (double)o->target_ns / 1e6);
	printf("%-28s %9s  %-28s %11s %8s  %s\n", "case", "ns/op", "peer", "peer ns/op", "ratio",
	       "notes");
}

static void print_text(const struct case_result *r)
{
	for (unsigned p = 0; p < r->npeers; p++) {
		const struct impl_result *q = &r->peer[p];
		char notes[160], peer_notes[96];
		text_notes(notes, sizeof(notes), p == 0 ? &r->self.ex : &(struct bench_extras){0},
			   "");
		text_notes(peer_notes, sizeof(peer_notes), &q->ex, "peer ");
		if (notes[0] && peer_notes[0])
			strncat(notes, ", ", sizeof(notes) - strlen(notes) - 1);
		strncat(notes, peer_notes, sizeof(notes) - strlen(notes) - 1);
		if (p == 0)
			printf("%-28s %9.1f  ", r->c->name, r->self.median);
		else
			printf("%-28s %9s  ", "", "");
		printf("%-28s %11.1f %8.3f%s%s\n", q->impl->name, q->median,
		       r->self.median / q->median, notes[0] ? "  " : "", notes);
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

static void print_goals(const struct case_result *res)
{
	printf("\nGoals (report against these):\n");
	goal_alloc_vs_glibc(res);
	goal_full_vs_empty(res);
	goal_create(res);
	printf("  (a goal whose cases were filtered out is not shown)\n");
}

/* ---- command line ---- */

static void usage(void)
{
	printf("usage: physim-bench [--quick] [--json] [--filter SUBSTR] [--reps N] [--list]\n"
	       "\n"
	       "Times physim's hot paths against peers (glibc, mmap, memset), interleaved,\n"
	       "and prints the median ns per operation over the reps.\n"
	       "\n"
	       "  --quick          reduced set (no 4G / 50%% cases), 5 reps, short batches\n"
	       "  --json           one JSON object per line and peer: case, ns_per_op, peer,\n"
	       "                   peer_ns_per_op, ratio (= ns_per_op / peer_ns_per_op), ...\n"
	       "  --filter SUBSTR  only cases whose name contains SUBSTR\n"
	       "  --reps N         timed batches per case (1..%u; default 11, quick 5)\n"
	       "  --list           print the case names and exit\n"
	       "  --help           this text\n",
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
	return o->filter == NULL || strstr(c->name, o->filter) != NULL;
}

int main(int argc, char **argv)
{
	struct options o = {0};
	parse_args(argc, argv, &o);

	size_t nsel = 0;
	for (size_t i = 0; i < NCASES; i++)
		nsel += selected(&cases[i], &o);
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
