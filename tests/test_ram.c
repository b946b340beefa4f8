/* SPDX-License-Identifier: MIT */
/* tests/test_ram.c - simulated RAM and its frame allocator through the public
 * API: creation, translation, every allocation call and bad input, odd
 * bases, reserved ranges, guard pages, debug modes, big sparse RAMs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <physim/ram.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KiB UINT64_C(1024)
#define MiB (KiB * 1024)
#define GiB (MiB * 1024)
#define F   PHYSIM_FRAME_SIZE

/* ThreadSanitizer confines mappings to a few fixed ranges: 1 TiB fits only
 * sometimes, depending on where the libraries landed. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

/* Some tests exceed what valgrind can run: its segment table, its client
 * address space (no room for 64 GiB). Its preload library gives it away. */
static void skip_under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");
	if (p != NULL && strstr(p, "vgpreload") != NULL) {
		printf("skipping: running under valgrind\n");
		skip();
	}
}

static struct physim_ram *make_ram(struct physim_ram_config c)
{
	struct physim_ram *ram = NULL;
	int rc = physim_ram_create(&c, &ram);
	assert_int_equal(rc, 0);
	assert_non_null(ram);
	return ram;
}

static void assert_stats(const struct physim_ram *ram, uint64_t total, uint64_t reserved,
			 uint64_t used)
{
	struct physim_ram_stats s = physim_ram_stats(ram);
	assert_int_equal(s.total_frames, total);
	assert_int_equal(s.reserved_frames, reserved);
	assert_int_equal(s.used_frames, used);
	assert_int_equal(s.free_frames, total - reserved - used);
}

/* ---- "nothing changed": stats plus every frame's state ---- */

#define SNAP_MAX 1024

struct snapshot {
	struct physim_ram_stats stats;
	int in_use[SNAP_MAX];
};

static void snap(const struct physim_ram *ram, struct snapshot *s)
{
	uint64_t n = physim_ram_size(ram) / F;
	assert_true(n <= SNAP_MAX);
	s->stats = physim_ram_stats(ram);
	for (uint64_t i = 0; i < n; i++)
		s->in_use[i] = physim_ram_frame_in_use(ram, physim_ram_base(ram) + i * F);
}

static void assert_unchanged(const struct physim_ram *ram, const struct snapshot *before)
{
	struct snapshot now;
	snap(ram, &now);
	assert_memory_equal(&now.stats, &before->stats, sizeof(now.stats));
	assert_memory_equal(now.in_use, before->in_use,
			    sizeof(int) * (size_t)(physim_ram_size(ram) / F));
}

/* ---- forked children that touch memory ---- */

/* Runs `*p = 1` (or a read) in a child; returns the signal that killed it,
 * or 0 if it exited normally. */
static int touch_in_child(volatile uint8_t *p, bool write)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka's (and a sanitizer's) handlers must not catch this. */
		struct sigaction sa = {.sa_handler = SIG_DFL};
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		if (write)
			*p = 1;
		else
			(void)*p;
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status) == 0 ? 0 : -1;
}

static uint8_t *hva_of(const struct physim_ram *ram, physim_hpa_t hpa)
{
	void *p = NULL;
	assert_int_equal(physim_ram_phys_to_virt(ram, hpa, &p), 0);
	return p;
}

static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	assert_non_null(f);
	long size, resident;
	assert_int_equal(fscanf(f, "%ld %ld", &size, &resident), 2);
	fclose(f);
	return resident * sysconf(_SC_PAGESIZE);
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* ---- creation ---- */

static void test_create_defaults(void **state)
{
	(void)state;
	struct physim_ram *ram = make_ram((struct physim_ram_config){0});
	assert_int_equal(physim_ram_base(ram), 0x80000000);
	assert_int_equal(physim_ram_size(ram), GiB);
	assert_stats(ram, GiB / F, 0, 0);
	physim_ram_destroy(ram);

	/* A NULL config means the same. */
	ram = NULL;
	assert_int_equal(physim_ram_create(NULL, &ram), 0);
	assert_int_equal(physim_ram_base(ram), 0x80000000);
	assert_int_equal(physim_ram_size(ram), GiB);
	physim_ram_destroy(ram);

	ram = make_ram((struct physim_ram_config){.base = 0x1000, .size = 12 * F});
	assert_int_equal(physim_ram_base(ram), 0x1000);
	assert_int_equal(physim_ram_size(ram), 12 * F);
	assert_stats(ram, 12, 0, 0);
	physim_ram_destroy(ram);

	physim_ram_destroy(NULL);
}

static void expect_bad_config(struct physim_ram_config c, int want)
{
	struct physim_ram *sentinel = (struct physim_ram *)&c;
	struct physim_ram *ram = sentinel;
	assert_int_equal(physim_ram_create(&c, &ram), want);
	assert_ptr_equal(ram, sentinel);
}

static void test_create_bad_config(void **state)
{
	(void)state;
	const struct physim_ram_range outside_low[] = {{0x7ffff000, 2 * F}};
	const struct physim_ram_range outside_high[] = {{0x80000000 + 15 * F, 2 * F}};
	const struct physim_ram_range past_end[] = {{0x80000000 + 16 * F, F}};
	const struct physim_ram_range misaligned_base[] = {{0x80000800, F}};
	const struct physim_ram_range misaligned_size[] = {{0x80000000, 0x800}};
	const struct physim_ram_range empty[] = {{0x80000000, 0}};
	const struct physim_ram_range wraps[] = {{0x80000000, UINT64_MAX - F + 1}};
	struct physim_ram_config ok = {.base = 0x80000000, .size = 16 * F};

	assert_int_equal(physim_ram_create(&ok, NULL), -EINVAL);

	struct physim_ram_config c = ok;
	c.base = 0x80000800;
	expect_bad_config(c, -EINVAL);
	c = ok;
	c.size = 16 * F + 1;
	expect_bad_config(c, -EINVAL);
	c = ok;
	c.base = UINT64_MAX - 4 * F + 1; /* 4 frames before the top, 16 asked */
	expect_bad_config(c, -EINVAL);
	c = ok;
	c.base_is_zero = true; /* contradicts base != 0 */
	expect_bad_config(c, -EINVAL);
	c = ok;
	c.debug = (enum physim_ram_debug)8;
	expect_bad_config(c, -EINVAL);
	c = ok;
	c.nreserved = 1; /* with reserved == NULL */
	expect_bad_config(c, -EINVAL);

	const struct physim_ram_range *bad_ranges[] = {
	    outside_low, outside_high, past_end, misaligned_base, misaligned_size, empty, wraps};
	for (size_t i = 0; i < sizeof(bad_ranges) / sizeof(bad_ranges[0]); i++) {
		c = ok;
		c.reserved = bad_ranges[i];
		c.nreserved = 1;
		expect_bad_config(c, -EINVAL);
	}

	/* The host refuses a 2^62-byte mapping: -ENOMEM. */
	c = ok;
	c.size = UINT64_C(1) << 62;
	expect_bad_config(c, -ENOMEM);
}

static void test_null_ram(void **state)
{
	(void)state;
	physim_hpa_t hpa = 9;
	void *hva = NULL;
	assert_int_equal(physim_ram_alloc_frame(NULL, &hpa), -EINVAL);
	assert_int_equal(physim_ram_alloc_frames(NULL, 2, F, &hpa), -EINVAL);
	assert_int_equal(physim_ram_free_frame(NULL, 0x80000000), -EINVAL);
	assert_int_equal(physim_ram_free_frames(NULL, 0x80000000, 2), -EINVAL);
	assert_int_equal(physim_ram_alloc_at(NULL, 0x80000000, F), -EINVAL);
	assert_int_equal(physim_ram_free_at(NULL, 0x80000000, F), -EINVAL);
	assert_int_equal(physim_ram_frame_in_use(NULL, 0x80000000), -EINVAL);
	assert_int_equal(physim_ram_phys_to_virt(NULL, 0x80000000, &hva), -EINVAL);
	assert_int_equal(physim_ram_virt_to_phys(NULL, &hpa, &hpa), -EINVAL);
	assert_int_equal(hpa, 9);
	assert_null(hva);
	assert_int_equal(physim_ram_base(NULL), 0);
	assert_int_equal(physim_ram_size(NULL), 0);
	assert_int_equal(physim_ram_direct_map(NULL).size, 0);
	assert_int_equal(physim_ram_stats(NULL).total_frames, 0);
}

/* ---- translation ---- */

static void test_translation(void **state)
{
	(void)state;
	const physim_hpa_t base = 0x80001000;
	const uint64_t size = 64 * F;
	struct physim_ram *ram = make_ram((struct physim_ram_config){.base = base, .size = size});

	struct physim_direct_map dm = physim_ram_direct_map(ram);
	assert_int_equal(dm.base, base);
	assert_int_equal(dm.size, size);
	assert_non_null(dm.hva);

	/* Linear: hpa base + off is at hva + off, and memory is really there. */
	const uint64_t offs[] = {0, 1, 0x1234, F, size / 2 + 17, size - 1};
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		void *p = NULL;
		assert_int_equal(physim_ram_phys_to_virt(ram, base + offs[i], &p), 0);
		assert_ptr_equal(p, dm.hva + offs[i]);
		assert_ptr_equal(physim_dm_phys_to_virt(&dm, base + offs[i]), p);
		*(volatile uint8_t *)p = (uint8_t)(i + 1);
		physim_hpa_t back = 0;
		assert_int_equal(physim_ram_virt_to_phys(ram, p, &back), 0);
		assert_int_equal(back, base + offs[i]);
	}
	assert_int_equal(dm.hva[0x1234], 3);
	assert_int_equal(dm.hva[size - 1], 6);

	/* Outside RAM: -EFAULT, outputs untouched. */
	void *p = (void *)&dm;
	const physim_hpa_t outside[] = {0, base - 1, base + size, base + size + F, UINT64_MAX};
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		assert_int_equal(physim_ram_phys_to_virt(ram, outside[i], &p), -EFAULT);
		assert_ptr_equal(p, (void *)&dm);
	}
	physim_hpa_t hpa = 42;
	assert_int_equal(physim_ram_virt_to_phys(ram, dm.hva - 1, &hpa), -EFAULT);
	assert_int_equal(physim_ram_virt_to_phys(ram, dm.hva + size, &hpa), -EFAULT);
	assert_int_equal(physim_ram_virt_to_phys(ram, &hpa, &hpa), -EFAULT);
	assert_int_equal(physim_ram_virt_to_phys(ram, NULL, &hpa), -EFAULT);
	assert_int_equal(hpa, 42);

	assert_int_equal(physim_ram_phys_to_virt(ram, base, NULL), -EINVAL);
	assert_int_equal(physim_ram_virt_to_phys(ram, dm.hva, NULL), -EINVAL);
	physim_ram_destroy(ram);
}

/* ---- single frames ---- */

static void test_alloc_free_single(void **state)
{
	(void)state;
	const physim_hpa_t base = 0x80001000;
	const unsigned n = 100;
	struct physim_ram *ram = make_ram((struct physim_ram_config){.base = base, .size = n * F});
	bool seen[100] = {false};

	for (unsigned i = 0; i < n; i++) {
		physim_hpa_t hpa = 0;
		assert_int_equal(physim_ram_alloc_frame(ram, &hpa), 0);
		assert_true(hpa >= base && hpa < base + n * F);
		assert_int_equal(hpa % F, 0);
		uint64_t idx = (hpa - base) / F;
		assert_false(seen[idx]);
		seen[idx] = true;
		assert_int_equal(physim_ram_frame_in_use(ram, hpa), 1);
		assert_int_equal(physim_ram_frame_in_use(ram, hpa + F - 1), 1);
		assert_stats(ram, n, 0, i + 1);
	}
	physim_hpa_t hpa = 7;
	assert_int_equal(physim_ram_alloc_frame(ram, &hpa), -ENOMEM);
	assert_int_equal(hpa, 7);

	/* Free every third frame; exactly those come back, then none. */
	unsigned freed = 0;
	for (unsigned i = 0; i < n; i += 3, freed++) {
		assert_int_equal(physim_ram_free_frame(ram, base + i * F), 0);
		assert_int_equal(physim_ram_frame_in_use(ram, base + i * F), 0);
	}
	assert_stats(ram, n, 0, n - freed);
	for (unsigned k = 0; k < freed; k++) {
		assert_int_equal(physim_ram_alloc_frame(ram, &hpa), 0);
		assert_int_equal((hpa - base) / F % 3, 0);
	}
	assert_int_equal(physim_ram_alloc_frame(ram, &hpa), -ENOMEM);
	assert_stats(ram, n, 0, n);

	for (unsigned i = 0; i < n; i++)
		assert_int_equal(physim_ram_free_frame(ram, base + i * F), 0);
	assert_stats(ram, n, 0, 0);
	physim_ram_destroy(ram);
}

static void test_base_zero(void **state)
{
	(void)state;
	const unsigned n = 70;
	struct physim_ram *ram =
	    make_ram((struct physim_ram_config){.base_is_zero = true, .size = n * F});
	assert_int_equal(physim_ram_base(ram), 0);
	assert_stats(ram, n, 1, 0);
	assert_int_equal(physim_ram_frame_in_use(ram, 0), 1);

	unsigned got = 0;
	physim_hpa_t hpa;
	while (physim_ram_alloc_frame(ram, &hpa) == 0) {
		assert_true(hpa != 0);
		assert_true(hpa < n * F);
		got++;
	}
	assert_int_equal(got, n - 1);
	assert_stats(ram, n, 1, n - 1);
	assert_int_equal(physim_ram_free_frame(ram, 0), -ENOENT);
	assert_int_equal(physim_ram_free_frame(ram, F), 0);
	assert_int_equal(physim_ram_alloc_at(ram, 0, 2 * F), -EBUSY);
	assert_int_equal(physim_ram_frame_in_use(ram, F), 0); /* not taken by the failure */
	assert_int_equal(physim_ram_alloc_frames(ram, 1, 2 * F, &hpa), -ENOMEM);
	physim_ram_destroy(ram);

	/* A reserved range touching frame 0 merges with it. */
	const struct physim_ram_range r[] = {{0, 3 * F}, {2 * F, 2 * F}};
	ram = make_ram((struct physim_ram_config){
	    .base_is_zero = true, .size = n * F, .reserved = r, .nreserved = 2});
	assert_stats(ram, n, 4, 0);
	assert_int_equal(physim_ram_alloc_frame(ram, &hpa), 0);
	assert_true(hpa >= 4 * F);
	physim_ram_destroy(ram);
}

/* ---- where allocation looks first ---- */

/* A thread's hint belongs to one RAM: a thread using two RAMs in turn
 * finds in each the frame it just freed there. (A hint not tied to its RAM
 * would send the small RAM's search to a word of the big one, past the end
 * of its bitmap.) */
static void test_hint_is_per_ram(void **state)
{
	(void)state;
	const physim_hpa_t base = 0x80000000;
	struct physim_ram *a = make_ram((struct physim_ram_config){.size = 4096 * F});
	struct physim_ram *b = make_ram((struct physim_ram_config){.size = 128 * F});
	assert_int_equal(physim_ram_alloc_at(a, base, 4096 * F), 0);
	assert_int_equal(physim_ram_alloc_at(b, base, 128 * F), 0);
	for (uint64_t i = 0; i < 200; i++) {
		physim_hpa_t fa = base + (i * 37 % 4096) * F, fb = base + (i * 11 % 128) * F, got;
		assert_int_equal(physim_ram_free_frame(a, fa), 0);
		assert_int_equal(physim_ram_free_frame(b, fb), 0);
		assert_int_equal(physim_ram_alloc_frame(a, &got), 0);
		assert_int_equal(got, fa);
		assert_int_equal(physim_ram_alloc_frame(b, &got), 0);
		assert_int_equal(got, fb);
	}
	physim_ram_destroy(a);
	physim_ram_destroy(b);
}

struct hint_thread {
	struct physim_ram *ram;
	physim_hpa_t freed, got;
	pthread_barrier_t *step;
};

static void *hint_thread_main(void *p)
{
	struct hint_thread *t = p;
	int rc = physim_ram_free_frame(t->ram, t->freed);
	pthread_barrier_wait(t->step); /* freed; now the main thread frees */
	pthread_barrier_wait(t->step);
	if (rc == 0 && physim_ram_alloc_frame(t->ram, &t->got) != 0)
		t->got = 0;
	return NULL;
}

/* Each thread first looks where it freed last, not where anybody did: a
 * thread gets back its own frame although another freed one since. (A
 * shared "last freed" hint would hand it the other thread's frame, and two
 * threads churning would share bitmap cache lines.) */
static void test_hint_is_per_thread(void **state)
{
	(void)state;
	const physim_hpa_t base = 0x80000000;
	const uint64_t n = 64 * 64 * 2;
	struct physim_ram *ram = make_ram((struct physim_ram_config){.size = n * F});
	assert_int_equal(physim_ram_alloc_at(ram, base, n * F), 0);
	pthread_barrier_t step;
	assert_int_equal(pthread_barrier_init(&step, NULL, 2), 0);
	struct hint_thread t = {.ram = ram, .freed = base + (64 * 70 + 9) * F, .step = &step};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, hint_thread_main, &t), 0);
	pthread_barrier_wait(&step);
	const physim_hpa_t mine = base + 3 * 64 * F; /* a lower frame: first for a search */
	assert_int_equal(physim_ram_free_frame(ram, mine), 0);
	pthread_barrier_wait(&step);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&step);
	assert_int_equal(t.got, t.freed);
	physim_hpa_t got;
	assert_int_equal(physim_ram_alloc_frame(ram, &got), 0);
	assert_int_equal(got, mine);
	assert_stats(ram, n, 0, n);
	physim_ram_destroy(ram);
}

/* ---- bad input changes nothing ---- */

static void test_bad_input_changes_nothing(void **state)
{
	(void)state;
	const physim_hpa_t base = 0x80001000;
	const uint64_t n = 200;
	const struct physim_ram_range res[] = {{base + 50 * F, 10 * F}};
	struct physim_ram *ram = make_ram((struct physim_ram_config){
	    .base = base, .size = n * F, .reserved = res, .nreserved = 1});
	/* Frames 10..19 allocated as a region, 30 as a single frame. */
	assert_int_equal(physim_ram_alloc_at(ram, base + 10 * F, 10 * F), 0);
	assert_int_equal(physim_ram_alloc_at(ram, base + 30 * F, F), 0);
	struct snapshot before;
	snap(ram, &before);
	assert_int_equal(before.stats.used_frames, 11);
	assert_int_equal(before.stats.reserved_frames, 10);

	physim_hpa_t hpa = 5;
	/* free_frame */
	assert_int_equal(physim_ram_free_frame(ram, base + 10 * F + 8), -EINVAL);
	assert_int_equal(physim_ram_free_frame(ram, base - F), -EINVAL);
	assert_int_equal(physim_ram_free_frame(ram, base + n * F), -EINVAL);
	assert_int_equal(physim_ram_free_frame(ram, 0), -EINVAL);
	assert_int_equal(physim_ram_free_frame(ram, base + 5 * F), -ENOENT);  /* never */
	assert_int_equal(physim_ram_free_frame(ram, base + 55 * F), -ENOENT); /* reserved */
	assert_unchanged(ram, &before);

	/* alloc_frame / alloc_frames */
	assert_int_equal(physim_ram_alloc_frame(ram, NULL), -EINVAL);
	assert_int_equal(physim_ram_alloc_frames(ram, 0, F, &hpa), -EINVAL);
	const uint64_t bad_align[] = {0, 1, 3, 2048, F + 1, 3 * F, UINT64_MAX};
	for (size_t i = 0; i < sizeof(bad_align) / sizeof(bad_align[0]); i++)
		assert_int_equal(physim_ram_alloc_frames(ram, 2, bad_align[i], &hpa), -EINVAL);
	assert_int_equal(physim_ram_alloc_frames(ram, SIZE_MAX, F, &hpa), -EINVAL);
	assert_int_equal(physim_ram_alloc_frames(ram, (SIZE_MAX >> 12) + 1, F, &hpa), -EINVAL);
	assert_int_equal(physim_ram_alloc_frames(ram, 2, F, NULL), -EINVAL);
	assert_int_equal(physim_ram_alloc_frames(ram, n + 1, F, &hpa), -ENOMEM);
	assert_int_equal(physim_ram_alloc_frames(ram, 141, F, &hpa), -ENOMEM); /* > largest hole */
	assert_int_equal(physim_ram_alloc_frames(ram, 2, UINT64_C(1) << 40, &hpa), -ENOMEM);
	assert_int_equal(hpa, 5);
	assert_unchanged(ram, &before);

	/* free_frames */
	assert_int_equal(physim_ram_free_frames(ram, base + 10 * F, 0), -EINVAL);
	assert_int_equal(physim_ram_free_frames(ram, base + 10 * F, SIZE_MAX), -EINVAL);
	assert_int_equal(physim_ram_free_frames(ram, base + 10 * F + 1, 2), -EINVAL);
	assert_int_equal(physim_ram_free_frames(ram, base + 199 * F, 2), -EINVAL); /* past end */
	assert_int_equal(physim_ram_free_frames(ram, base - F, 2), -EINVAL);
	assert_int_equal(physim_ram_free_frames(ram, base + 10 * F, 11), -ENOENT); /* 20 free */
	assert_int_equal(physim_ram_free_frames(ram, base + 9 * F, 2), -ENOENT);   /* 9 free */
	assert_int_equal(physim_ram_free_frames(ram, base + 29 * F, 2), -ENOENT);
	assert_int_equal(physim_ram_free_frames(ram, base + 50 * F, 1), -ENOENT); /* reserved */
	assert_int_equal(physim_ram_free_frames(ram, base + 100 * F, 64), -ENOENT);
	assert_unchanged(ram, &before);

	/* alloc_at */
	assert_int_equal(physim_ram_alloc_at(ram, base, 0), -EINVAL);
	assert_int_equal(physim_ram_alloc_at(ram, base + 1, F), -EINVAL);
	assert_int_equal(physim_ram_alloc_at(ram, base, F + 1), -EINVAL);
	assert_int_equal(physim_ram_alloc_at(ram, base - F, 2 * F), -EINVAL);
	assert_int_equal(physim_ram_alloc_at(ram, base + 199 * F, 2 * F), -EINVAL);
	assert_int_equal(physim_ram_alloc_at(ram, base + n * F, F), -EINVAL);
	assert_int_equal(physim_ram_alloc_at(ram, UINT64_MAX - F + 1, F), -EINVAL);
	assert_int_equal(physim_ram_alloc_at(ram, base + F, UINT64_MAX - F + 1), -EINVAL);
	assert_int_equal(physim_ram_alloc_at(ram, base + 5 * F, 6 * F), -EBUSY);  /* 10 used */
	assert_int_equal(physim_ram_alloc_at(ram, base + 19 * F, 3 * F), -EBUSY); /* 19 used */
	assert_int_equal(physim_ram_alloc_at(ram, base + 21 * F, 100 * F), -EBUSY);
	assert_int_equal(physim_ram_alloc_at(ram, base + 45 * F, 6 * F), -EBUSY); /* reserved */
	assert_int_equal(physim_ram_alloc_at(ram, base, n * F), -EBUSY);
	assert_unchanged(ram, &before);

	/* free_at */
	assert_int_equal(physim_ram_free_at(ram, base + 10 * F, 0), -EINVAL);
	assert_int_equal(physim_ram_free_at(ram, base + 10 * F + 4, F), -EINVAL);
	assert_int_equal(physim_ram_free_at(ram, base + 10 * F, F - 1), -EINVAL);
	assert_int_equal(physim_ram_free_at(ram, base + 199 * F, 2 * F), -EINVAL);
	assert_int_equal(physim_ram_free_at(ram, UINT64_MAX - F + 1, F), -EINVAL);
	assert_int_equal(physim_ram_free_at(ram, base + 10 * F, 11 * F), -ENOENT);
	assert_int_equal(physim_ram_free_at(ram, base + 50 * F, 10 * F), -ENOENT);
	assert_int_equal(physim_ram_free_at(ram, base + 30 * F, 2 * F), -ENOENT);
	assert_unchanged(ram, &before);

	/* frame_in_use outside RAM */
	assert_int_equal(physim_ram_frame_in_use(ram, base - 1), -EINVAL);
	assert_int_equal(physim_ram_frame_in_use(ram, base + n * F), -EINVAL);
	assert_int_equal(physim_ram_frame_in_use(ram, 0), -EINVAL);

	/* The good calls still work after all that, and double frees fail. */
	assert_int_equal(physim_ram_free_at(ram, base + 10 * F, 10 * F), 0);
	assert_int_equal(physim_ram_free_at(ram, base + 10 * F, 10 * F), -ENOENT);
	assert_int_equal(physim_ram_free_frame(ram, base + 30 * F), 0);
	assert_int_equal(physim_ram_free_frame(ram, base + 30 * F), -ENOENT);
	assert_stats(ram, n, 10, 0);
	physim_ram_destroy(ram);
}

/* ---- contiguous and aligned ---- */

static void check_run(struct physim_ram *ram, physim_hpa_t hpa, uint64_t nframes, uint64_t align)
{
	physim_hpa_t base = physim_ram_base(ram);
	assert_int_equal(hpa % align, 0);
	assert_true(hpa >= base && hpa - base + nframes * F <= physim_ram_size(ram));
	for (uint64_t i = 0; i < nframes; i++)
		assert_int_equal(physim_ram_frame_in_use(ram, hpa + i * F), 1);
}

static void test_alloc_frames_aligned_odd_base(void **state)
{
	(void)state;
	/* With base 0x80001000 the bitmap index of a 16 KiB-aligned address
	 * is 3 mod 4: aligning the index instead would fail these checks. */
	const physim_hpa_t bases[] = {0x80001000, 0x1000, 0x80000000, 0x7000};
	for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
		struct physim_ram *ram =
		    make_ram((struct physim_ram_config){.base = bases[b], .size = 8 * MiB});
		uint64_t used = 0;
		const struct {
			size_t nframes;
			uint64_t align;
		} req[] = {{1, 16 * KiB}, {4, 16 * KiB}, {3, 64 * KiB},	 {1, F},       {2, F},
			   {64, F},	  {65, 8 * KiB}, {512, 2 * MiB}, {7, 32 * KiB}};
		physim_hpa_t got[sizeof(req) / sizeof(req[0])];
		for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
			assert_int_equal(
			    physim_ram_alloc_frames(ram, req[i].nframes, req[i].align, &got[i]), 0);
			check_run(ram, got[i], req[i].nframes, req[i].align);
			used += req[i].nframes;
			assert_stats(ram, 8 * MiB / F, 0, used);
		}
		/* Runs do not overlap (each frame counted once above, and the
		 * total matches); free them with both calls. */
		for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
			if (i % 2)
				assert_int_equal(
				    physim_ram_free_frames(ram, got[i], req[i].nframes), 0);
			else
				assert_int_equal(
				    physim_ram_free_at(ram, got[i], req[i].nframes * F), 0);
			assert_int_equal(physim_ram_frame_in_use(ram, got[i]), 0);
		}
		assert_stats(ram, 8 * MiB / F, 0, 0);

		/* One 2 MiB-aligned 2 MiB run fits in 8 MiB starting at a
		 * non-2 MiB base only three times (the odd base loses one). */
		unsigned runs = 0;
		physim_hpa_t h;
		while (physim_ram_alloc_frames(ram, 512, 2 * MiB, &h) == 0) {
			check_run(ram, h, 512, 2 * MiB);
			runs++;
		}
		assert_int_equal(runs, bases[b] % (2 * MiB) == 0 ? 4 : 3);
		physim_ram_destroy(ram);
	}
}

static void test_alloc_frames_fragmented(void **state)
{
	(void)state;
	/* Every 8th frame taken: runs of 7 fit, runs of 8 do not. */
	const physim_hpa_t base = 0x80003000;
	const unsigned n = 512;
	struct physim_ram *ram = make_ram((struct physim_ram_config){.base = base, .size = n * F});
	for (unsigned i = 0; i < n; i += 8)
		assert_int_equal(physim_ram_alloc_at(ram, base + i * F, F), 0);
	physim_hpa_t hpa;
	assert_int_equal(physim_ram_alloc_frames(ram, 8, F, &hpa), -ENOMEM);
	assert_stats(ram, n, 0, n / 8);
	assert_int_equal(physim_ram_alloc_frames(ram, 7, F, &hpa), 0);
	assert_int_equal((hpa - base) / F % 8, 1);
	check_run(ram, hpa, 7, F);
	/* A 4-frame run aligned to 16 KiB: base is 3 frames past a 16 KiB
	 * boundary, so index i is aligned when i % 4 == 1. Of those, i % 8 == 5
	 * runs into the taken frame i + 3; i % 8 == 1 fits (1 itself is gone). */
	assert_int_equal(physim_ram_alloc_frames(ram, 4, 16 * KiB, &hpa), 0);
	check_run(ram, hpa, 4, 16 * KiB);
	assert_int_equal((hpa - base) / F % 8, 1);
	physim_ram_destroy(ram);
}

/* ---- regions at fixed addresses ---- */

static void test_alloc_at_free_at(void **state)
{
	(void)state;
	const physim_hpa_t base = 0x80001000;
	const unsigned n = 300;
	struct physim_ram *ram = make_ram((struct physim_ram_config){.base = base, .size = n * F});

	/* Regions crossing 64-frame bitmap words. */
	assert_int_equal(physim_ram_alloc_at(ram, base + 60 * F, 80 * F), 0);
	assert_stats(ram, n, 0, 80);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(physim_ram_frame_in_use(ram, base + i * F), i >= 60 && i < 140);
	assert_int_equal(physim_ram_alloc_at(ram, base + 140 * F, 160 * F), 0); /* to the end */
	assert_int_equal(physim_ram_alloc_at(ram, base, 60 * F), 0);
	assert_stats(ram, n, 0, n);
	physim_hpa_t hpa;
	assert_int_equal(physim_ram_alloc_frame(ram, &hpa), -ENOMEM);

	/* A region's frames may be given back one by one. */
	assert_int_equal(physim_ram_free_frame(ram, base + 100 * F), 0);
	assert_int_equal(physim_ram_alloc_frame(ram, &hpa), 0);
	assert_int_equal(hpa, base + 100 * F); /* the only free frame */
	assert_int_equal(physim_ram_free_at(ram, base, n * F), 0);
	assert_stats(ram, n, 0, 0);
	assert_int_equal(physim_ram_alloc_at(ram, base, n * F), 0);
	assert_int_equal(physim_ram_free_frames(ram, base, n), 0);
	assert_stats(ram, n, 0, 0);
	physim_ram_destroy(ram);
}

/* ---- reserved ranges ---- */

static void test_reserved_ranges(void **state)
{
	(void)state;
	const physim_hpa_t base = 0x40000000;
	const unsigned n = 256;
	/* Overlapping, unsorted, one crossing a bitmap word, one at the end. */
	const struct physim_ram_range res[] = {
	    {base + 10 * F, 5 * F}, {base + 2 * F, 4 * F}, {base + 4 * F, 3 * F},
	    {base + 60 * F, 8 * F}, {base + 12 * F, F},	   {base + 250 * F, 6 * F},
	};
	bool reserved[256] = {false};
	for (size_t r = 0; r < sizeof(res) / sizeof(res[0]); r++)
		for (uint64_t i = 0; i < res[r].size / F; i++)
			reserved[(res[r].base - base) / F + i] = true;
	unsigned nres = 0;
	for (unsigned i = 0; i < n; i++)
		nres += reserved[i];
	assert_int_equal(nres, 5 + 5 + 8 + 6); /* 2..6, 10..14, 60..67, 250..255 */

	struct physim_ram *ram = make_ram((struct physim_ram_config){
	    .base = base, .size = n * F, .reserved = res, .nreserved = 6});
	assert_stats(ram, n, nres, 0);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(physim_ram_frame_in_use(ram, base + i * F), reserved[i]);

	/* Everything else can be allocated, and nothing reserved is. */
	unsigned got = 0;
	physim_hpa_t hpa;
	while (physim_ram_alloc_frame(ram, &hpa) == 0) {
		assert_false(reserved[(hpa - base) / F]);
		got++;
	}
	assert_int_equal(got, n - nres);
	for (unsigned i = 0; i < n; i++) {
		int want = reserved[i] ? -ENOENT : 0;
		assert_int_equal(physim_ram_free_frame(ram, base + i * F), want);
	}
	assert_stats(ram, n, nres, 0);
	assert_int_equal(physim_ram_alloc_at(ram, base, 3 * F), -EBUSY);
	assert_int_equal(physim_ram_alloc_at(ram, base + 7 * F, 3 * F), 0);
	assert_int_equal(physim_ram_free_at(ram, base + 7 * F, 4 * F), -ENOENT);
	assert_int_equal(physim_ram_free_at(ram, base + 7 * F, 3 * F), 0);
	/* Frames 15..59 are the longest hole: 45 frames. */
	assert_int_equal(physim_ram_alloc_frames(ram, 46, F, &hpa), 0);
	assert_int_equal(hpa, base + 68 * F);
	assert_int_equal(physim_ram_free_frames(ram, hpa, 46), 0);
	assert_int_equal(physim_ram_alloc_frames(ram, 45, F, &hpa), 0);
	assert_int_equal(hpa, base + 15 * F);
	physim_ram_destroy(ram);
}

/* ---- guard pages and debug modes ---- */

static void test_guard_pages(void **state)
{
	(void)state;
	const uint64_t size = 16 * F;
	struct physim_ram *ram = make_ram(
	    (struct physim_ram_config){.base = 0x80001000, .size = size, .guard_pages = true});
	uint8_t *mem = physim_ram_direct_map(ram).hva;
	/* The RAM itself is usable up to both ends... */
	mem[0] = 1;
	mem[size - 1] = 2;
	assert_int_equal(touch_in_child(mem, true), 0);
	assert_int_equal(touch_in_child(mem + size - 1, false), 0);
	/* ...and one byte past either end traps. */
	assert_int_equal(touch_in_child(mem - 1, false), SIGSEGV);
	assert_int_equal(touch_in_child(mem + size, true), SIGSEGV);
	assert_int_equal(touch_in_child(mem - sysconf(_SC_PAGESIZE), true), SIGSEGV);
	physim_ram_destroy(ram);
}

static void test_poison(void **state)
{
	(void)state;
	const uint8_t poisons[] = {0, 0xa5};
	for (size_t k = 0; k < 2; k++) {
		uint8_t want = poisons[k] ? poisons[k] : 0x6b;
		struct physim_ram *ram = make_ram((struct physim_ram_config){
		    .size = 64 * F, .debug = PHYSIM_RAM_DEBUG_POISON, .poison_byte = poisons[k]});
		physim_hpa_t a, run;
		assert_int_equal(physim_ram_alloc_frame(ram, &a), 0);
		assert_int_equal(physim_ram_alloc_frames(ram, 3, F, &run), 0);
		memset(hva_of(ram, a), 0x11, F);
		memset(hva_of(ram, run), 0x22, 3 * F);

		/* A rejected free does not poison. */
		assert_int_equal(physim_ram_free_frames(ram, run, 4), -ENOENT);
		for (uint64_t i = 0; i < 3 * F; i++)
			assert_int_equal(hva_of(ram, run)[i], 0x22);

		assert_int_equal(physim_ram_free_frame(ram, a), 0);
		assert_int_equal(physim_ram_free_frames(ram, run, 3), 0);
		for (uint64_t i = 0; i < F; i++)
			assert_int_equal(hva_of(ram, a)[i], want);
		for (uint64_t i = 0; i < 3 * F; i++)
			assert_int_equal(hva_of(ram, run)[i], want);

		assert_int_equal(physim_ram_alloc_at(ram, run, F), 0);
		memset(hva_of(ram, run), 0x33, F);
		assert_int_equal(physim_ram_free_at(ram, run, F), 0);
		assert_int_equal(hva_of(ram, run)[F - 1], want);
		physim_ram_destroy(ram);
	}
}

static void test_protect(void **state)
{
	(void)state;
	const physim_hpa_t base = 0x80001000;
	const struct physim_ram_range res[] = {{base + 8 * F, F}};
	struct physim_ram *ram = make_ram(
	    (struct physim_ram_config){.base = base,
				       .size = 16 * F,
				       .reserved = res,
				       .nreserved = 1,
				       .debug = PHYSIM_RAM_DEBUG_PROTECT | PHYSIM_RAM_DEBUG_POISON,
				       .poison_byte = 0x5a});
	/* Never-allocated and reserved frames trap. */
	assert_int_equal(touch_in_child(hva_of(ram, base), false), SIGSEGV);
	assert_int_equal(touch_in_child(hva_of(ram, base + 15 * F), true), SIGSEGV);
	assert_int_equal(touch_in_child(hva_of(ram, base + 8 * F), false), SIGSEGV);

	physim_hpa_t a, run;
	assert_int_equal(physim_ram_alloc_frame(ram, &a), 0);
	assert_int_equal(physim_ram_alloc_frames(ram, 3, 16 * KiB, &run), 0);
	memset(hva_of(ram, a), 1, F); /* allocated: accessible here */
	memset(hva_of(ram, run), 2, 3 * F);
	assert_int_equal(touch_in_child(hva_of(ram, a), true), 0);

	assert_int_equal(physim_ram_free_frame(ram, a), 0);
	assert_int_equal(touch_in_child(hva_of(ram, a), false), SIGSEGV);
	assert_int_equal(touch_in_child(hva_of(ram, a + F - 1), true), SIGSEGV);
	assert_int_equal(physim_ram_free_frames(ram, run, 3), 0);
	assert_int_equal(touch_in_child(hva_of(ram, run + 2 * F), false), SIGSEGV);

	/* Allocated again: accessible, and the poison written on free is there. */
	assert_int_equal(physim_ram_alloc_at(ram, a, F), 0);
	for (uint64_t i = 0; i < F; i++)
		assert_int_equal(hva_of(ram, a)[i], 0x5a);
	assert_int_equal(physim_ram_free_at(ram, a, F), 0);
	assert_int_equal(touch_in_child(hva_of(ram, a), false), SIGSEGV);
	physim_ram_destroy(ram);
}

static long max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	long n = -1;
	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

/* PROTECT splits the mapping at every protection change; when the host runs
 * out of mappings, allocation fails with -ENOMEM and nothing changes. */
static void test_protect_mprotect_failure(void **state)
{
	(void)state;
	long limit = max_map_count();
	if (limit < 0 || limit > 300000) {
		printf("skipping: vm.max_map_count is %ld\n", limit);
		skip();
	}
	/* Valgrind's segment table (VG_N_SEGMENTS) is far smaller than
	 * vm.max_map_count: it would give up before mprotect fails. */
	skip_under_valgrind();
	const physim_hpa_t base = 0x100000000;
	const uint64_t n = 2 * (uint64_t)limit + 4096;
	struct physim_ram *ram = make_ram((struct physim_ram_config){
	    .base = base, .size = n * F, .debug = PHYSIM_RAM_DEBUG_PROTECT});
	uint64_t taken = 0, i;
	int rc = 0;
	for (i = 0; i + 1 < n; i += 2, taken++) {
		rc = physim_ram_alloc_at(ram, base + i * F, F);
		if (rc != 0)
			break;
	}
	assert_int_equal(rc, -ENOMEM);
	assert_int_equal(physim_ram_frame_in_use(ram, base + i * F), 0);
	assert_stats(ram, n, 0, taken);
	/* Other calls that need a new split fail the same way. */
	assert_int_equal(physim_ram_alloc_at(ram, base + (n - 8) * F, 2 * F), -ENOMEM);
	assert_int_equal(physim_ram_frame_in_use(ram, base + (n - 8) * F), 0);
	assert_stats(ram, n, 0, taken);
	/* Freeing merges mappings back; then allocation works again. */
	for (uint64_t k = 0; k < taken; k++)
		assert_int_equal(physim_ram_free_frame(ram, base + 2 * k * F), 0);
	assert_stats(ram, n, 0, 0);
	assert_int_equal(physim_ram_alloc_at(ram, base + (n - 8) * F, 2 * F), 0);
	physim_ram_destroy(ram);
}

static void test_huge_pages_advice(void **state)
{
	(void)state;
	struct physim_ram *ram =
	    make_ram((struct physim_ram_config){.size = 8 * MiB, .huge_pages = true});
	physim_hpa_t hpa;
	assert_int_equal(physim_ram_alloc_frames(ram, 512, 2 * MiB, &hpa), 0);
	memset(hva_of(ram, hpa), 0x77, 2 * MiB);
	assert_int_equal(hva_of(ram, hpa)[2 * MiB - 1], 0x77);
	assert_int_equal(physim_ram_free_frames(ram, hpa, 512), 0);
	physim_ram_destroy(ram);
}

/* ---- big sparse RAMs ---- */

static void check_cheap_create(struct physim_ram_config c)
{
	long rss0 = rss_bytes();
	double t0 = now_ms();
	struct physim_ram *ram = make_ram(c);
	double t_create = now_ms() - t0;
	assert_stats(ram, c.size / F, c.base_is_zero, 0);
	long grown = rss_bytes() - rss0;
	t0 = now_ms();
	physim_ram_destroy(ram);
	double t_destroy = now_ms() - t0;
	printf("%llu GiB: create %.3f ms, destroy %.3f ms, RSS +%ld KiB\n",
	       (unsigned long long)(c.size / GiB), t_create, t_destroy, grown / 1024);
	/* Generous for a loaded machine; touching the bitmap eagerly would
	 * cost 2 MiB per 64 GiB of RAM, and 32 MiB for 1 TiB. */
	assert_true(grown < (long)(8 * MiB));
	assert_true(t_create + t_destroy < 100.0);
}

static void test_big_ram_is_cheap(void **state)
{
	(void)state;
	skip_under_valgrind();
	check_cheap_create((struct physim_ram_config){.size = 64 * GiB});
	check_cheap_create((struct physim_ram_config){.base_is_zero = true, .size = 64 * GiB});
#ifndef UNDER_TSAN
	check_cheap_create((struct physim_ram_config){.base = 0x80001000, .size = 1024 * GiB});
#endif
}

static void test_big_ram_nearly_full(void **state)
{
	(void)state;
	skip_under_valgrind();
	const physim_hpa_t base = 0x80000000;
	const uint64_t size = 64 * GiB, n = size / F;
	const uint64_t filled = n / 20 * 19; /* 95 % */
	struct physim_ram *ram = make_ram((struct physim_ram_config){.base = base, .size = size});
	assert_int_equal(physim_ram_alloc_at(ram, base, filled * F), 0);
	assert_stats(ram, n, 0, filled);

	physim_hpa_t hpa;
	assert_int_equal(physim_ram_alloc_frame(ram, &hpa), 0);
	assert_int_equal(hpa, base + filled * F); /* the only free frames are above */
	physim_hpa_t run;
	assert_int_equal(physim_ram_alloc_frames(ram, 16, 64 * KiB, &run), 0);
	check_run(ram, run, 16, 64 * KiB);
	assert_true(run > hpa);

	/* Fill the rest frame by frame; exactly the free count fits. */
	uint64_t more = 0;
	while (physim_ram_alloc_frame(ram, &hpa) == 0)
		more++;
	assert_int_equal(more, n - filled - 1 - 16);
	assert_stats(ram, n, 0, n);

	/* In a full RAM, a frame freed anywhere is found again: the summary
	 * levels give it back. */
	const uint64_t probes[] = {0, 1, 63, 64, 4095, 262143, 262144, n / 3, filled + 5, n - 1};
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		physim_hpa_t want = base + probes[i] * F;
		assert_int_equal(physim_ram_free_frame(ram, want), 0);
		assert_int_equal(physim_ram_alloc_frame(ram, &hpa), 0);
		assert_int_equal(hpa, want);
		assert_int_equal(physim_ram_alloc_frame(ram, &hpa), -ENOMEM);
	}
	/* Two frames freed far apart: a 2-frame run does not exist. */
	assert_int_equal(physim_ram_free_frame(ram, base + 5 * F), 0);
	assert_int_equal(physim_ram_free_frame(ram, base + (n - 5) * F), 0);
	assert_int_equal(physim_ram_alloc_frames(ram, 2, F, &run), -ENOMEM);
	assert_int_equal(physim_ram_free_frame(ram, base + 6 * F), 0);
	assert_int_equal(physim_ram_alloc_frames(ram, 2, F, &run), 0);
	assert_int_equal(run, base + 5 * F);
	physim_ram_destroy(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_defaults),
	    cmocka_unit_test(test_create_bad_config),
	    cmocka_unit_test(test_null_ram),
	    cmocka_unit_test(test_translation),
	    cmocka_unit_test(test_alloc_free_single),
	    cmocka_unit_test(test_base_zero),
	    cmocka_unit_test(test_hint_is_per_ram),
	    cmocka_unit_test(test_hint_is_per_thread),
	    cmocka_unit_test(test_bad_input_changes_nothing),
	    cmocka_unit_test(test_alloc_frames_aligned_odd_base),
	    cmocka_unit_test(test_alloc_frames_fragmented),
	    cmocka_unit_test(test_alloc_at_free_at),
	    cmocka_unit_test(test_reserved_ranges),
	    cmocka_unit_test(test_guard_pages),
	    cmocka_unit_test(test_poison),
	    cmocka_unit_test(test_protect),
	    cmocka_unit_test(test_protect_mprotect_failure),
	    cmocka_unit_test(test_huge_pages_advice),
	    cmocka_unit_test(test_big_ram_is_cheap),
	    cmocka_unit_test(test_big_ram_nearly_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
