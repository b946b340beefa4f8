/* SPDX-License-Identifier: MIT */
/* tools/physim-bench/bench-ram.c - the RAM area: creating and destroying a
 * 64 GiB RAM, and the resident memory it costs, against a bare mmap. */

#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

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

static const struct bench_case ram_cases[] = {
    {.group = "ram_create",
     .name = "ram_create_destroy/64G",
     .params = {.ram_size = 64 * GIB},
     .impl = &impl_ram_create,
     .peers = {&peer_mmap_64g}},
};

static int ram_add(struct bench_list *l)
{
	return bench_add_rows(l, ram_cases, sizeof(ram_cases) / sizeof(ram_cases[0]));
}

const struct bench_area bench_area_ram = {.name = "ram", .add = ram_add};
