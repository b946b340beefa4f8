/* SPDX-License-Identifier: MIT */
/* tests/test_ram_image.c - RAM images: round trips (contents, allocated
 * ranges, sparseness), the on-disk layout read back by an independent
 * parser, every kind of corrupt or truncated file, and a 64 GiB RAM. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <physim/ram.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAME UINT64_C(4096)
#define MiB   (UINT64_C(1) << 20)
#define GiB   (UINT64_C(1) << 30)
#define HDR   64u
#define FTR   24u

/* ---- test scaffolding: temp dir, captured log, leak counters ---- */

static char tmpdir[256];
static char img_path[300];
static char log_buf[8192];

static void capture_log(void *ctx, enum physim_log_level level, const char *msg)
{
	(void)ctx;
	(void)level;
	size_t n = strlen(log_buf);
	snprintf(log_buf + n, sizeof(log_buf) - n, "%s\n", msg);
}

static int setup(void **state)
{
	(void)state;
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/physim-img-XXXXXX", t && *t ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(img_path, sizeof(img_path), "%s/ram.img", tmpdir);
	physim_set_log(capture_log, NULL, PHYSIM_LOG_DEBUG);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	physim_set_log(NULL, NULL, PHYSIM_LOG_NONE);
	unlink(img_path);
	rmdir(tmpdir);
	return 0;
}

/* Valgrind's own mappings come and go in /proc/self/maps as its heap grows,
 * so mapping counts say nothing under it (its preload library gives it away). */
static bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");
	return p != NULL && strstr(p, "vgpreload") != NULL;
}

/* Tests whose child processes report through their exit status cannot run
 * under valgrind: it turns a child's leak (a child _exit()s with its RAM
 * still mapped, on purpose) into its error exit code, and its own start-up
 * needs the descriptors and file size an rlimit takes away. The plain and
 * sanitizer builds run them. */
static void skip_forking_under_valgrind(void)
{
	if (under_valgrind()) {
		printf("skipping: child processes report through exit codes valgrind rewrites\n");
		skip();
	}
}

static int count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, c;
	assert_non_null(f);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* ---- an independent reading of the documented format ---- */

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* The data checksum as lib/ram-image-priv.h documents it, written again here:
 * 4 lanes of 64-bit words per frame seeded with the frame index, merged,
 * avalanched, and folded over the non-zero frames in file order. */
static const uint64_t K1 = 0x9e3779b185ebca87ull, K2 = 0xc2b2ae3d27d4eb4full,
		      K3 = 0x165667b19e3779f9ull, K4 = 0x85ebca77c2b2ae63ull;

static uint64_t rol(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t mix(uint64_t acc, uint64_t w)
{
	return rol(acc + w * K2, 31) * K1;
}

static uint64_t digest_of(const uint8_t *f, uint64_t index)
{
	uint64_t lane[4] = {index + K1 + K2, index + K2, index, index - K1};
	for (size_t w = 0; w < 4096 / 8; w++) {
		uint64_t v = 0;
		for (int b = 7; b >= 0; b--)
			v = v << 8 | f[w * 8 + (size_t)b];
		lane[w % 4] = mix(lane[w % 4], v);
	}
	uint64_t h = rol(lane[0], 1) + rol(lane[1], 7) + rol(lane[2], 12) + rol(lane[3], 18);
	for (int k = 0; k < 4; k++)
		h = (h ^ mix(0, lane[k])) * K1 + K4;
	h = (h ^ (h >> 33)) * K2;
	h = (h ^ (h >> 29)) * K3;
	return h ^ (h >> 32);
}

static uint64_t file_data_sum(const char *path, uint64_t size)
{
	static const uint8_t zero[4096];
	uint8_t f[4096];
	uint64_t sum = 0x27d4eb2f165667c5ull;
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	for (uint64_t off = 0; off < size; off += 4096) {
		assert_int_equal(pread(fd, f, 4096, (off_t)off), 4096);
		if (memcmp(f, zero, 4096) != 0)
			sum = rol(sum ^ digest_of(f, off / 4096), 27) * K1 + K4;
	}
	close(fd);
	return sum;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void set_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* The whole trailer (malloc'd) and its offset in the file. */
static uint8_t *read_trailer(const char *path, uint64_t *len, uint64_t *off)
{
	uint64_t fs = file_size(path);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	uint8_t f[FTR];
	assert_int_equal(pread(fd, f, FTR, (off_t)(fs - FTR)), FTR);
	assert_memory_equal(f + 8, "PHYSIMEN", 8);
	*len = le64(f);
	*off = fs - *len;
	uint8_t *t = malloc(*len);
	assert_non_null(t);
	assert_int_equal(pread(fd, t, *len, (off_t)*off), (ssize_t)*len);
	close(fd);
	return t;
}

static void write_at(const char *path, const void *buf, size_t len, uint64_t off)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* Apply edit() to the trailer, then store it with a correct checksum, so the
 * check under test (not the checksum) is what must refuse the file. */
static void edit_trailer(const char *path, void (*edit)(uint8_t *t, uint64_t len))
{
	uint64_t len, off;
	uint8_t *t = read_trailer(path, &len, &off);
	edit(t, len);
	set_le64(t + len - 8, fnv(t, len - 8));
	write_at(path, t, len, off);
	free(t);
}

/* Load must fail with `want`, log a line containing `why`, and leave no
 * mapping or descriptor behind. */
static void expect_load_fails(const char *path, int want, const char *why)
{
	int maps = count_lines("/proc/self/maps"), fds = count_fds();
	struct physim_ram *r = (struct physim_ram *)(uintptr_t)0x1;
	log_buf[0] = '\0';
	assert_int_equal(physim_ram_load(path, NULL, &r), want);
	assert_ptr_equal(r, (struct physim_ram *)(uintptr_t)0x1); /* out untouched */
	if (why != NULL && strstr(log_buf, why) == NULL)
		fail_msg("log \"%s\" lacks \"%s\"", log_buf, why);
	if (!under_valgrind())
		assert_int_equal(count_lines("/proc/self/maps"), maps);
	assert_int_equal(count_fds(), fds);
}

/* ---- a RAM with known contents and a model of it ---- */

static struct physim_ram *new_ram(uint64_t base, uint64_t size)
{
	struct physim_ram *r = NULL;
	struct physim_ram_config c = {.base = base, .size = size, .base_is_zero = base == 0};
	assert_int_equal(physim_ram_create(&c, &r), 0);
	return r;
}

static uint8_t *frame_ptr(struct physim_ram *r, uint64_t hpa)
{
	void *p = NULL;
	assert_int_equal(physim_ram_phys_to_virt(r, hpa, &p), 0);
	return p;
}

static void fill_random(struct physim_ram *r, uint64_t hpa, unsigned seed)
{
	uint8_t *p = frame_ptr(r, hpa);
	srand(seed);
	for (uint64_t i = 0; i < FRAME; i++)
		p[i] = (uint8_t)rand();
	p[FRAME - 1] |= 1; /* never all zero */
}

static void check_random(struct physim_ram *r, uint64_t hpa, unsigned seed)
{
	uint8_t *p = frame_ptr(r, hpa);
	srand(seed);
	for (uint64_t i = 0; i < FRAME - 1; i++)
		assert_int_equal(p[i], (uint8_t)rand());
	assert_true(p[FRAME - 1] & 1);
}

/* ---- round trips ---- */

/* 64 MiB at 0x80000000: allocated ranges of several shapes, random data in
 * allocated AND free frames, a frame written then cleared. Everything is
 * compared frame by frame with the test's own model. */
static void test_round_trip(void **state)
{
	(void)state;
	const uint64_t base = 0x80000000, size = 64 * MiB, nf = size / FRAME;
	struct physim_ram *r = new_ram(base, size);
	/* model of the allocator: the ranges the test claims */
	const struct {
		uint64_t off, n;
	} ranges[] = {{0, 1}, {5, 3}, {100, 512}, {nf - 2, 2}};
	bool *used = calloc(nf, 1);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(
		    physim_ram_alloc_at(r, base + ranges[i].off * FRAME, ranges[i].n * FRAME), 0);
		for (uint64_t k = 0; k < ranges[i].n; k++)
			used[ranges[i].off + k] = true;
	}
	const uint64_t data[] = {0, 6, 100, 611, 9000 /* free */, nf - 1};
	for (size_t i = 0; i < 6; i++)
		fill_random(r, base + data[i] * FRAME, (unsigned)i + 1);
	memset(frame_ptr(r, base + 7 * FRAME), 0x55, FRAME);
	memset(frame_ptr(r, base + 7 * FRAME), 0, FRAME); /* touched, but zero */

	assert_int_equal(physim_ram_save(r, img_path), 0);
	physim_ram_destroy(r);

	struct physim_ram *l = NULL;
	assert_int_equal(physim_ram_load(img_path, NULL, &l), 0);
	assert_int_equal(physim_ram_base(l), base);
	assert_int_equal(physim_ram_size(l), size);
	assert_int_equal(physim_ram_stats(l).used_frames, 1 + 3 + 512 + 2);
	for (uint64_t f = 0; f < nf; f++)
		assert_int_equal(physim_ram_frame_in_use(l, base + f * FRAME), used[f]);
	for (size_t i = 0; i < 6; i++)
		check_random(l, base + data[i] * FRAME, (unsigned)i + 1);
	/* every other frame reads zero */
	static const uint8_t zero[4096];
	for (uint64_t f = 0; f < nf; f++) {
		bool has_data = false;
		for (size_t i = 0; i < 6; i++)
			has_data |= data[i] == f;
		if (!has_data)
			assert_memory_equal(frame_ptr(l, base + f * FRAME), zero, FRAME);
	}
	/* the loaded allocator works: the restored ranges are really taken */
	assert_int_equal(physim_ram_alloc_at(l, base + 5 * FRAME, FRAME), -EBUSY);
	assert_int_equal(physim_ram_free_at(l, base + 100 * FRAME, 512 * FRAME), 0);
	assert_int_equal(physim_ram_alloc_at(l, base + 9000 * FRAME, FRAME), 0);
	physim_ram_destroy(l);
	free(used);
}

/* The file itself, read with the test's own parser: RAM byte at hpa sits at
 * offset hpa - base, and the trailer lists exactly the claimed ranges. */
static void test_layout(void **state)
{
	(void)state;
	const uint64_t base = 0x40000000, size = 16 * MiB;
	struct physim_ram *r = new_ram(base, size);
	assert_int_equal(physim_ram_alloc_at(r, base + 0x3000, 0x2000), 0);
	assert_int_equal(physim_ram_alloc_at(r, base + 0x100000, 0x1000), 0);
	assert_int_equal(physim_ram_alloc_at(r, base + 0x101000, 0x1000), 0); /* adjacent: merged */
	fill_random(r, base + 0x4000, 77);
	assert_int_equal(physim_ram_save(r, img_path), 0);

	uint64_t len, off;
	uint8_t *t = read_trailer(img_path, &len, &off);
	assert_int_equal(off, size); /* trailer right after the RAM bytes, 4 KiB aligned */
	assert_int_equal(len, HDR + 2 * 16 + FTR);
	assert_int_equal(file_size(img_path), size + len);
	assert_memory_equal(t, "PHYSIMRI", 8);
	assert_int_equal(t[8], 2); /* version 2, little-endian */
	for (unsigned i = 44; i < HDR; i++)
		if (i < 48 || i >= 56)
			assert_int_equal(t[i], 0);
	assert_int_equal(le64(t + 48), file_data_sum(img_path, size));
	assert_int_equal(t[12], HDR);
	assert_int_equal(le64(t + 16), base);
	assert_int_equal(le64(t + 24), size);
	assert_int_equal(le64(t + 32), 2);
	assert_int_equal(le64(t + HDR), base + 0x3000);
	assert_int_equal(le64(t + HDR + 8), 0x2000);
	assert_int_equal(le64(t + HDR + 16), base + 0x100000);
	assert_int_equal(le64(t + HDR + 24), 0x2000);
	assert_int_equal(le64(t + len - 8), fnv(t, len - 8));
	free(t);

	uint8_t buf[4096];
	int fd = open(img_path, O_RDONLY);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0x4000), 4096);
	close(fd);
	assert_memory_equal(buf, frame_ptr(r, base + 0x4000), 4096);
	physim_ram_destroy(r);
}

/* 1 GiB with three non-zero frames: the file is 1 GiB long but occupies only
 * a few blocks, and loading leaves the rest untouched. */
static void test_sparse(void **state)
{
	(void)state;
	const uint64_t base = 0x80000000;
	struct physim_ram *r = new_ram(base, GiB);
	uint64_t at[3] = {base, base + 300 * MiB, base + GiB - FRAME};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(physim_ram_alloc_at(r, at[i], FRAME), 0);
		fill_random(r, at[i], 10 + (unsigned)i);
	}
	/* 256 frames written and cleared again: touched, but still holes */
	for (uint64_t f = 0; f < 256; f++) {
		uint8_t *p = frame_ptr(r, base + 500 * MiB + f * FRAME);
		memset(p, 0xa5, FRAME);
		memset(p, 0, FRAME);
	}
	assert_int_equal(physim_ram_save(r, img_path), 0);
	physim_ram_destroy(r);

	struct stat st;
	assert_int_equal(stat(img_path, &st), 0);
	assert_int_equal((uint64_t)st.st_size, GiB + HDR + 3 * 16 + FTR);
	/* 3 data frames + trailer; allow 64 KiB file-system blocks */
	uint64_t bytes = (uint64_t)st.st_blocks * 512;
	if (bytes > 4 * 64 * 1024)
		fail_msg("image occupies %llu bytes, not sparse", (unsigned long long)bytes);

	struct physim_ram *l = NULL;
	assert_int_equal(physim_ram_load(img_path, NULL, &l), 0);
	for (int i = 0; i < 3; i++) {
		check_random(l, at[i], 10 + (unsigned)i);
		assert_int_equal(physim_ram_frame_in_use(l, at[i]), 1);
	}
	assert_int_equal(physim_ram_stats(l).used_frames, 3);
	physim_ram_destroy(l);
}

/* RAM at host-physical 0: frame 0 is reserved there, so the image records it
 * in use and the loaded RAM has it reserved again, not allocated. */
static void test_base_zero(void **state)
{
	(void)state;
	struct physim_ram *r = new_ram(0, 8 * MiB);
	assert_int_equal(physim_ram_alloc_at(r, FRAME, 2 * FRAME), 0);
	fill_random(r, FRAME, 5);
	assert_int_equal(physim_ram_save(r, img_path), 0);
	physim_ram_destroy(r);

	uint64_t len, off;
	uint8_t *t = read_trailer(img_path, &len, &off);
	assert_int_equal(le64(t + 16), 0);
	assert_int_equal(le64(t + 32), 1);
	assert_int_equal(le64(t + HDR), 0);
	assert_int_equal(le64(t + HDR + 8), 3 * FRAME);
	free(t);

	struct physim_ram *l = NULL;
	assert_int_equal(physim_ram_load(img_path, NULL, &l), 0);
	assert_int_equal(physim_ram_base(l), 0);
	struct physim_ram_stats s = physim_ram_stats(l);
	assert_int_equal(s.reserved_frames, 1);
	assert_int_equal(s.used_frames, 2);
	check_random(l, FRAME, 5);
	physim_ram_destroy(l);
}

/* Reserved ranges cannot be told from allocations through ram.h: they are
 * saved in use and come back allocated (documented in ram-image-priv.h). */
static void test_reserved_become_allocated(void **state)
{
	(void)state;
	const uint64_t base = 0x80000000;
	struct physim_ram_range res = {.base = base + 0x10000, .size = 0x4000};
	struct physim_ram_config c = {
	    .base = base, .size = 8 * MiB, .reserved = &res, .nreserved = 1};
	struct physim_ram *r = NULL;
	assert_int_equal(physim_ram_create(&c, &r), 0);
	assert_int_equal(physim_ram_save(r, img_path), 0);
	physim_ram_destroy(r);
	struct physim_ram *l = NULL;
	assert_int_equal(physim_ram_load(img_path, NULL, &l), 0);
	assert_int_equal(physim_ram_stats(l).used_frames, 4);
	assert_int_equal(physim_ram_stats(l).reserved_frames, 0);
	assert_int_equal(physim_ram_frame_in_use(l, base + 0x13000), 1);
	assert_int_equal(physim_ram_frame_in_use(l, base + 0x14000), 0);
	physim_ram_destroy(l);
}

/* A PROTECT debug RAM keeps free frames PROT_NONE: saving must not fault
 * and must keep the allocated frames' bytes; the loaded RAM takes its debug
 * mode from the config. */
static void test_debug_protect(void **state)
{
	(void)state;
	const uint64_t base = 0x80000000;
	struct physim_ram_config c = {
	    .base = base, .size = 1 * MiB, .debug = PHYSIM_RAM_DEBUG_PROTECT};
	struct physim_ram *r = NULL;
	assert_int_equal(physim_ram_create(&c, &r), 0);
	physim_hpa_t a, b;
	assert_int_equal(physim_ram_alloc_frame(r, &a), 0);
	assert_int_equal(physim_ram_alloc_frame(r, &b), 0);
	fill_random(r, a, 31);
	fill_random(r, b, 32);
	assert_int_equal(physim_ram_free_frame(r, b), 0); /* now PROT_NONE */
	assert_int_equal(physim_ram_save(r, img_path), 0);
	physim_ram_destroy(r);

	struct physim_ram_config lc = {.debug = PHYSIM_RAM_DEBUG_PROTECT, .guard_pages = true};
	struct physim_ram *l = NULL;
	assert_int_equal(physim_ram_load(img_path, &lc, &l), 0);
	check_random(l, a, 31);
	assert_int_equal(physim_ram_frame_in_use(l, a), 1);
	assert_int_equal(physim_ram_frame_in_use(l, b), 0);
	assert_int_equal(physim_ram_stats(l).used_frames, 1);
	physim_ram_destroy(l);
}

/* A save over an existing longer file replaces it completely. */
static void test_overwrite(void **state)
{
	(void)state;
	struct physim_ram *big = new_ram(0x80000000, 32 * MiB);
	assert_int_equal(physim_ram_save(big, img_path), 0);
	physim_ram_destroy(big);
	struct physim_ram *r = new_ram(0x90000000, 4 * MiB);
	assert_int_equal(physim_ram_save(r, img_path), 0);
	physim_ram_destroy(r);
	assert_int_equal(file_size(img_path), 4 * MiB + HDR + FTR);
	struct physim_ram *l = NULL;
	assert_int_equal(physim_ram_load(img_path, NULL, &l), 0);
	assert_int_equal(physim_ram_base(l), 0x90000000);
	physim_ram_destroy(l);
}

/* 64 GiB with a handful of frames: both directions in seconds, the file
 * sparse. Skipped if the host refuses the mapping or the file system the
 * file size. */
static void test_64g(void **state)
{
	(void)state;
	const uint64_t base = 0x100000000, size = 64 * GiB;
	struct physim_ram *r = NULL;
	struct physim_ram_config c = {.base = base, .size = size};
	if (physim_ram_create(&c, &r) == -ENOMEM)
		skip();
	uint64_t at[4] = {base, base + 17 * GiB + 0x5000, base + 40 * GiB, base + size - FRAME};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(physim_ram_alloc_at(r, at[i], FRAME), 0);
		fill_random(r, at[i], 40 + (unsigned)i);
	}
	struct timespec t0, t1, t2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = physim_ram_save(r, img_path);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	physim_ram_destroy(r);
	if (rc == -EFBIG && strstr(log_buf, "ftruncate") != NULL)
		skip();
	assert_int_equal(rc, 0);
	struct stat st;
	assert_int_equal(stat(img_path, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 < 1 * MiB);

	struct physim_ram *l = NULL;
	assert_int_equal(physim_ram_load(img_path, NULL, &l), 0);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	for (int i = 0; i < 4; i++)
		check_random(l, at[i], 40 + (unsigned)i);
	assert_int_equal(physim_ram_stats(l).used_frames, 4);
	physim_ram_destroy(l);
	double save_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double load_s = (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) / 1e9;
	print_message("64 GiB image: save %.2f s, load %.2f s\n", save_s, load_s);
	assert_true(save_s < 30.0 && load_s < 30.0);
}

/* ---- bad files ---- */

/* A small image to damage; returns its trailer length. */
static uint64_t make_image(void)
{
	struct physim_ram *r = new_ram(0x80000000, 1 * MiB);
	assert_int_equal(physim_ram_alloc_at(r, 0x80002000, 0x3000), 0);
	assert_int_equal(physim_ram_alloc_at(r, 0x80010000, 0x1000), 0);
	fill_random(r, 0x80002000, 3);
	assert_int_equal(physim_ram_save(r, img_path), 0);
	physim_ram_destroy(r);
	return file_size(img_path) - 1 * MiB;
}

static void test_flip_every_trailer_byte(void **state)
{
	(void)state;
	uint64_t tlen = make_image();
	assert_int_equal(tlen, HDR + 2 * 16 + FTR);
	for (uint64_t i = 0; i < tlen; i++) {
		uint8_t b;
		int fd = open(img_path, O_RDWR);
		assert_int_equal(pread(fd, &b, 1, (off_t)(MiB + i)), 1);
		b ^= 0x10;
		assert_int_equal(pwrite(fd, &b, 1, (off_t)(MiB + i)), 1);
		close(fd);
		expect_load_fails(img_path, -EINVAL, "ram_load");
		b ^= 0x10;
		write_at(img_path, &b, 1, MiB + i);
	}
	/* restored: loads again */
	struct physim_ram *l = NULL;
	assert_int_equal(physim_ram_load(img_path, NULL, &l), 0);
	physim_ram_destroy(l);
}

static void test_checksum_named(void **state)
{
	(void)state;
	make_image();
	uint8_t b = 0xee;
	write_at(img_path, &b, 1, MiB + 50); /* inside the header's data checksum */
	expect_load_fails(img_path, -EINVAL, "checksum");
}

static void test_truncated(void **state)
{
	(void)state;
	uint64_t tlen = make_image();
	uint64_t full = MiB + tlen;
	const uint64_t cut[] = {full - 1,
				full - 8,
				full - FTR,
				full - FTR - 1,
				full - tlen + 5,
				full - tlen,
				full - tlen - 1,
				MiB / 2,
				FRAME,
				100,
				1};
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		make_image();
		assert_int_equal(truncate(img_path, (off_t)cut[i]), 0);
		expect_load_fails(img_path, -EINVAL, "ram_load");
	}
	make_image();
	assert_int_equal(truncate(img_path, 0), 0);
	expect_load_fails(img_path, -EINVAL, "too small");
	/* grown by a byte or a frame: the footer is no longer at the end */
	make_image();
	assert_int_equal(truncate(img_path, (off_t)(full + 1)), 0);
	expect_load_fails(img_path, -EINVAL, "trailer magic");
	make_image();
	assert_int_equal(truncate(img_path, (off_t)(full + FRAME)), 0);
	expect_load_fails(img_path, -EINVAL, "trailer magic");
}

/* RAM bytes removed in front of an intact trailer: the sizes disagree. */
static void test_size_mismatch(void **state)
{
	(void)state;
	uint64_t len, off;
	make_image();
	uint8_t *t = read_trailer(img_path, &len, &off);
	assert_int_equal(truncate(img_path, (off_t)(MiB - FRAME)), 0);
	write_at(img_path, t, len, MiB - FRAME);
	free(t);
	expect_load_fails(img_path, -EINVAL, "file size");
}

static void ed_version(uint8_t *t, uint64_t len)
{
	(void)len;
	t[8] = 3;
}
static void ed_magic(uint8_t *t, uint64_t len)
{
	(void)len;
	t[0] = 'X';
}
static void ed_flags(uint8_t *t, uint64_t len)
{
	(void)len;
	t[40] = 2; /* bit 0 is zero_frames; bit 1 means nothing yet */
}
static void ed_flags_high(uint8_t *t, uint64_t len)
{
	(void)len;
	t[43] = 0x80;
}
static void ed_pad(uint8_t *t, uint64_t len)
{
	(void)len;
	t[60] = 1;
}
static void ed_base_misaligned(uint8_t *t, uint64_t len)
{
	(void)len;
	set_le64(t + 16, 0x80000800);
}
static void ed_base_wraps(uint8_t *t, uint64_t len)
{
	(void)len;
	set_le64(t + 16, UINT64_MAX - FRAME + 1);
}
static void ed_size_bigger(uint8_t *t, uint64_t len)
{
	(void)len;
	set_le64(t + 24, 2 * MiB);
}
static void ed_size_zero(uint8_t *t, uint64_t len)
{
	(void)len;
	set_le64(t + 24, 0);
}
static void ed_nranges(uint8_t *t, uint64_t len)
{
	(void)len;
	set_le64(t + 32, 3);
}
static void ed_range_outside(uint8_t *t, uint64_t len)
{
	(void)len;
	set_le64(t + HDR + 16, 0x80100000); /* first byte after RAM */
}
static void ed_range_past_end(uint8_t *t, uint64_t len)
{
	(void)len;
	set_le64(t + HDR + 16 + 8, 0x100000); /* starts inside, runs past the end */
}
static void ed_range_below(uint8_t *t, uint64_t len)
{
	(void)len;
	set_le64(t + HDR, 0x7ffff000);
}
static void ed_range_misaligned(uint8_t *t, uint64_t len)
{
	(void)len;
	set_le64(t + HDR + 8, 0x2800);
}
static void ed_range_empty(uint8_t *t, uint64_t len)
{
	(void)len;
	set_le64(t + HDR + 8, 0);
}
static void ed_range_overlap(uint8_t *t, uint64_t len)
{
	(void)len;
	set_le64(t + HDR + 16, 0x80004000); /* inside the first range */
}
static void ed_range_huge(uint8_t *t, uint64_t len)
{
	(void)len;
	set_le64(t + HDR + 8, UINT64_MAX - FRAME + 1); /* base + size wraps */
}

static void test_bad_fields(void **state)
{
	(void)state;
	const struct {
		void (*edit)(uint8_t *, uint64_t);
		const char *why;
	} cases[] = {
	    {ed_version, "version"},
	    {ed_magic, "header magic"},
	    {ed_flags, "flags"},
	    {ed_flags_high, "flags"},
	    {ed_pad, "reserved"},
	    {ed_base_misaligned, "base"},
	    {ed_base_wraps, "base"},
	    {ed_size_bigger, "file size"},
	    {ed_size_zero, "base/size"},
	    {ed_nranges, "file size"},
	    {ed_range_outside, "allocated range"},
	    {ed_range_past_end, "allocated range"},
	    {ed_range_below, "allocated range"},
	    {ed_range_misaligned, "allocated range"},
	    {ed_range_empty, "allocated range"},
	    {ed_range_overlap, "allocated range"},
	    {ed_range_huge, "allocated range"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_image();
		edit_trailer(img_path, cases[i].edit);
		expect_load_fails(img_path, -EINVAL, cases[i].why);
	}
}

/* A forged trailer claiming a huge range list must be refused before any
 * allocation of that size. */
static void test_forged_trailer_length(void **state)
{
	(void)state;
	make_image();
	uint8_t f[8];
	/* RAM part 16 frames (aligned), the rest claimed as a range list */
	set_le64(f, file_size(img_path) - 16 * FRAME);
	write_at(img_path, f, 8, file_size(img_path) - FTR);
	expect_load_fails(img_path, -EINVAL, "trailer length");
}

static void test_not_an_image(void **state)
{
	(void)state;
	/* 1 MiB of text */
	FILE *f = fopen(img_path, "w");
	assert_non_null(f);
	for (int i = 0; i < 65536; i++)
		fputs("not an image...\n", f);
	fclose(f);
	expect_load_fails(img_path, -EINVAL, "trailer magic");
	/* a directory */
	expect_load_fails(tmpdir, -EISDIR, "directory");
}

static void test_bad_arguments(void **state)
{
	(void)state;
	char missing[320];
	snprintf(missing, sizeof(missing), "%s/nope.img", tmpdir);
	expect_load_fails(missing, -ENOENT, "cannot open");

	struct physim_ram *r = new_ram(0x80000000, 1 * MiB);
	char nodir[340];
	snprintf(nodir, sizeof(nodir), "%s/no/such/dir.img", tmpdir);
	log_buf[0] = '\0';
	assert_int_equal(physim_ram_save(r, nodir), -ENOENT);
	assert_non_null(strstr(log_buf, "cannot create"));
	assert_int_equal(physim_ram_save(NULL, img_path), -EINVAL);
	assert_int_equal(physim_ram_save(r, NULL), -EINVAL);
	assert_int_equal(physim_ram_save(r, ""), -EINVAL);
	assert_int_equal(physim_ram_save(r, img_path), 0);
	physim_ram_destroy(r);

	struct physim_ram *l = NULL;
	assert_int_equal(physim_ram_load(NULL, NULL, &l), -EINVAL);
	assert_int_equal(physim_ram_load(img_path, NULL, NULL), -EINVAL);
	/* base / size / reserved come from the image, never from the config */
	struct physim_ram_range res = {.base = 0x80000000, .size = FRAME};
	const struct physim_ram_config bad[] = {
	    {.base = 0x80000000},   {.size = MiB},
	    {.base_is_zero = true}, {.reserved = &res, .nreserved = 1},
	    {.nreserved = 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(physim_ram_load(img_path, &bad[i], &l), -EINVAL);
	assert_null(l);
}

/* ---- saving never damages the target (issue 10, finding 3) ---- */

/* The whole file, malloc'd. */
static uint8_t *slurp(const char *path, uint64_t *len)
{
	*len = file_size(path);
	uint8_t *b = malloc(*len ? *len : 1);
	int fd = open(path, O_RDONLY);
	assert_true(b != NULL && fd >= 0);
	assert_int_equal(pread(fd, b, *len, 0), (ssize_t)*len);
	close(fd);
	return b;
}

/* Files in tmpdir: a failed save must leave no temporary file behind. */
static int dir_entries(void)
{
	DIR *d = opendir(tmpdir);
	int n = 0;
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* A 1 MiB RAM whose every frame holds `seed`-derived bytes, frames
 * [seed, seed + 4) allocated. */
static struct physim_ram *seeded_ram(unsigned seed)
{
	struct physim_ram *r = new_ram(0x80000000, 1 * MiB);
	assert_int_equal(physim_ram_alloc_at(r, 0x80000000 + seed * FRAME, 4 * FRAME), 0);
	for (uint64_t f = 0; f < MiB / FRAME; f++)
		memset(frame_ptr(r, 0x80000000 + f * FRAME), (int)(seed * 16 + f % 16 + 1), FRAME);
	return r;
}

/* Save in a child under a resource limit; the child exits with -rc. */
static int save_in_child(int resource, rlim_t limit)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of death */
		struct physim_ram *r = seeded_ram(9);
		if (resource == RLIMIT_NOFILE) {
			/* room for the temporary file, none for what follows */
			int probe = dup(0);
			limit = (rlim_t)probe + 2;
			close(probe);
		}
		struct rlimit rl = {limit, limit};
		if (setrlimit(resource, &rl) < 0)
			_exit(200);
		int rc = physim_ram_save(r, img_path);
		_exit(rc <= 0 && rc > -200 ? -rc : 201);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return -WEXITSTATUS(status);
}

static void expect_failed_save_keeps(const uint8_t *old, uint64_t old_len)
{
	uint64_t len;
	uint8_t *now = slurp(img_path, &len);
	assert_int_equal(len, old_len);
	assert_memory_equal(now, old, len);
	free(now);
	assert_int_equal(dir_entries(), 1); /* the image, no temporary file */
	struct physim_ram *l = NULL;
	assert_int_equal(physim_ram_load(img_path, NULL, &l), 0);
	assert_int_equal(physim_ram_frame_in_use(l, 0x80000000 + 3 * FRAME), 1);
	physim_ram_destroy(l);
}

/* Disk full stand-in: RLIMIT_FSIZE below the RAM size (ftruncate fails),
 * and at the RAM size (the trailer write fails). Before the fix the target
 * was truncated in place and the error was -EIO. */
static void test_failed_save_keeps_target_efbig(void **state)
{
	(void)state;
	skip_forking_under_valgrind();
	struct physim_ram *r = seeded_ram(3);
	assert_int_equal(physim_ram_save(r, img_path), 0);
	physim_ram_destroy(r);
	uint64_t len;
	uint8_t *old = slurp(img_path, &len);
	assert_int_equal(save_in_child(RLIMIT_FSIZE, 64 * 1024), -EFBIG);
	expect_failed_save_keeps(old, len);
	assert_int_equal(save_in_child(RLIMIT_FSIZE, 1 * MiB), -EFBIG);
	expect_failed_save_keeps(old, len);
	/* out of descriptors after the temporary file exists: removed again */
	assert_int_equal(save_in_child(RLIMIT_NOFILE, 0), -EMFILE);
	expect_failed_save_keeps(old, len);
	free(old);
}

/* A directory the caller may not write: -EACCES, target untouched (as root
 * permissions do not stop a save, so that part is skipped; a file used as a
 * directory gives -ENOTDIR either way). */
static void test_failed_save_keeps_target_dir(void **state)
{
	(void)state;
	struct physim_ram *r = seeded_ram(3);
	assert_int_equal(physim_ram_save(r, img_path), 0);
	uint64_t len;
	uint8_t *old = slurp(img_path, &len);
	char below_file[400];
	snprintf(below_file, sizeof(below_file), "%s/x.img", img_path);
	log_buf[0] = '\0';
	assert_int_equal(physim_ram_save(r, below_file), -ENOTDIR);
	if (geteuid() != 0) {
		assert_int_equal(chmod(tmpdir, 0555), 0);
		int rc = physim_ram_save(r, img_path);
		assert_int_equal(chmod(tmpdir, 0755), 0);
		assert_int_equal(rc, -EACCES);
	} else {
		print_message("running as root: read-only directory case skipped\n");
	}
	expect_failed_save_keeps(old, len);
	/* over something that is not a regular file: refused, left alone */
	char fifo[400];
	snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(physim_ram_save(r, fifo), -EINVAL);
	struct stat st;
	assert_int_equal(stat(fifo, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	unlink(fifo);
	assert_int_equal(physim_ram_save(r, tmpdir), -EISDIR);
	/* a symbolic link stays a link; the file it names is replaced */
	char link[400];
	snprintf(link, sizeof(link), "%s/link.img", tmpdir);
	assert_int_equal(symlink("ram.img", link), 0);
	struct physim_ram *r2 = seeded_ram(5);
	assert_int_equal(physim_ram_save(r2, link), 0);
	physim_ram_destroy(r2);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	struct physim_ram *l = NULL;
	assert_int_equal(physim_ram_load(img_path, NULL, &l), 0);
	assert_int_equal(physim_ram_frame_in_use(l, 0x80000000 + 8 * FRAME), 1);
	physim_ram_destroy(l);
	unlink(link);
	physim_ram_destroy(r);
	free(old);
}

/* Eight processes saving different RAMs to one path at once, 20 rounds:
 * the file is always exactly one writer's RAM and loads (data checksum
 * verified). Before the fix most rounds mixed two writers' frames. */
static void test_concurrent_saves(void **state)
{
	(void)state;
	skip_forking_under_valgrind();
	enum { WRITERS = 8, ROUNDS = 20 };
	for (int round = 0; round < ROUNDS; round++) {
		pid_t pid[WRITERS];
		int go[2];
		assert_int_equal(pipe(go), 0);
		for (unsigned w = 0; w < WRITERS; w++) {
			pid[w] = fork();
			assert_true(pid[w] >= 0);
			if (pid[w] == 0) {
				struct physim_ram *r = seeded_ram(w);
				char c;
				close(go[1]);
				if (read(go[0], &c, 1) != 0) /* start together */
					_exit(3);
				_exit(physim_ram_save(r, img_path) == 0 ? 0 : 1);
			}
		}
		close(go[0]);
		close(go[1]); /* EOF releases every writer */
		for (unsigned w = 0; w < WRITERS; w++) {
			int status;
			assert_int_equal(waitpid(pid[w], &status, 0), pid[w]);
			assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
		assert_int_equal(dir_entries(), 1);
		struct physim_ram *l = NULL;
		assert_int_equal(physim_ram_load(img_path, NULL, &l), 0);
		/* which writer? frame 0's first byte says; all the rest must agree */
		unsigned w = (unsigned)(frame_ptr(l, 0x80000000)[0] - 1) / 16;
		assert_true(w < WRITERS);
		for (uint64_t f = 0; f < MiB / FRAME; f++) {
			const uint8_t *p = frame_ptr(l, 0x80000000 + f * FRAME);
			uint8_t want = (uint8_t)(w * 16 + f % 16 + 1);
			assert_true(p[0] == want && memcmp(p, p + 1, FRAME - 1) == 0);
			assert_int_equal(physim_ram_frame_in_use(l, 0x80000000 + f * FRAME),
					 f >= w && f < w + 4);
		}
		physim_ram_destroy(l);
	}
}

/* ---- the data checksum (finding 3) ---- */

/* A flipped byte inside an allocated frame, inside a free frame with data,
 * or a byte appearing in a hole: -EBADMSG. Before the fix all three loaded
 * without error. */
static void test_flipped_data_byte(void **state)
{
	(void)state;
	const uint64_t at[] = {0x2000 + 1234, 0x80000 + 7, 0x40000 + 4095};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		struct physim_ram *r = new_ram(0x80000000, 1 * MiB);
		assert_int_equal(physim_ram_alloc_at(r, 0x80002000, 0x3000), 0);
		fill_random(r, 0x80002000, 3);
		fill_random(r, 0x80080000, 4); /* a free frame with data */
		assert_int_equal(physim_ram_save(r, img_path), 0);
		physim_ram_destroy(r);
		int fd = open(img_path, O_RDWR);
		uint8_t b;
		assert_int_equal(pread(fd, &b, 1, (off_t)at[i]), 1);
		b ^= 0x10;
		assert_int_equal(pwrite(fd, &b, 1, (off_t)at[i]), 1);
		close(fd);
		expect_load_fails(img_path, -EBADMSG, "data checksum");
	}
}

static void ed_to_version1(uint8_t *t, uint64_t len)
{
	(void)len;
	t[8] = 1;
	memset(t + 48, 0, 8);
}

/* A version 1 image (no data checksum) still loads, with a warning that its
 * data is unchecked, even with a changed data byte. */
static void test_version1_loads_unchecked(void **state)
{
	(void)state;
	make_image();
	edit_trailer(img_path, ed_to_version1);
	uint8_t b = 0xaa;
	write_at(img_path, &b, 1, 0x2000);
	log_buf[0] = '\0';
	struct physim_ram *l = NULL;
	assert_int_equal(physim_ram_load(img_path, NULL, &l), 0);
	assert_non_null(strstr(log_buf, "unchecked"));
	assert_int_equal(frame_ptr(l, 0x80002000)[0], 0xaa);
	assert_int_equal(physim_ram_frame_in_use(l, 0x80004000), 1);
	physim_ram_destroy(l);
}

/* ---- hostile images (finding 4) ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A sparse 1 TiB + 2 GiB file with a footer claiming a 2 GiB trailer, and
 * a variant with a valid-looking header too: refused in milliseconds, and
 * the peak resident size of the loading process grows by less than 16 MiB.
 * Before the fix: 2 GiB allocated and read, seconds. Loaded in a child so
 * ru_maxrss is the load's own. */
static void test_hostile_footer(void **state)
{
	(void)state;
	skip_forking_under_valgrind();
	const uint64_t ram = 1ull << 40, tlen = 2 * GiB + 8, fsize = ram + tlen;
	for (int variant = 0; variant < 2; variant++) {
		int fd = open(img_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		if (ftruncate(fd, (off_t)fsize) < 0) {
			close(fd);
			skip(); /* the file system cannot hold such a file */
		}
		uint8_t f[FTR] = {0};
		set_le64(f, tlen);
		memcpy(f + 8, "PHYSIMEN", 8);
		assert_int_equal(pwrite(fd, f, FTR, (off_t)(fsize - FTR)), FTR);
		if (variant == 1) {
			uint8_t h[HDR] = {0};
			memcpy(h, "PHYSIMRI", 8);
			h[8] = 2;
			h[12] = HDR;
			set_le64(h + 16, 0x80000000);
			set_le64(h + 24, ram);
			set_le64(h + 32, (tlen - HDR - FTR) / 16);
			assert_int_equal(pwrite(fd, h, HDR, (off_t)ram), HDR);
		}
		close(fd);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			alarm(20);
			struct rusage ru0, ru1;
			getrusage(RUSAGE_SELF, &ru0);
			double t0 = now_s();
			struct physim_ram *l = NULL;
			int rc = physim_ram_load(img_path, NULL, &l);
			double dt = now_s() - t0;
			getrusage(RUSAGE_SELF, &ru1);
			long grew_kib = ru1.ru_maxrss - ru0.ru_maxrss;
			fprintf(stderr, "hostile footer %d: rc %d, %.3f ms, peak RSS +%ld KiB\n",
				variant, rc, dt * 1e3, grew_kib);
			_exit(rc == -EINVAL && dt < 0.2 && grew_kib < 16 * 1024 ? 0 : 1);
		}
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "load of a FIFO hung\n";
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

/* A FIFO with no writer: refused at once; before the fix open() hung. */
static void test_fifo_refused(void **state)
{
	(void)state;
	char fifo[400];
	snprintf(fifo, sizeof(fifo), "%s/fifo.img", tmpdir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	signal(SIGALRM, on_alarm);
	alarm(5);
	expect_load_fails(fifo, -EINVAL, "regular file");
	alarm(0);
	signal(SIGALRM, SIG_DFL);
	unlink(fifo);
}

/* ---- errors keep their cause (finding 5) ---- */

static void test_errors_keep_cause(void **state)
{
	(void)state;
	struct physim_ram *r = new_ram(0x80000000, 1 * MiB);
	assert_int_equal(physim_ram_save(r, img_path), 0);
	char p[400];
	snprintf(p, sizeof(p), "%s/x.img", img_path); /* a file as a directory */
	expect_load_fails(p, -ENOTDIR, "cannot open");
	assert_int_equal(physim_ram_save(r, p), -ENOTDIR);
	snprintf(p, sizeof(p), "%s/none/x.img", tmpdir);
	assert_int_equal(physim_ram_save(r, p), -ENOENT);
	expect_load_fails(p, -ENOENT, "cannot open");
	expect_load_fails(tmpdir, -EISDIR, "directory");
	if (geteuid() != 0) {
		assert_int_equal(chmod(img_path, 0), 0);
		expect_load_fails(img_path, -EACCES, "cannot open");
		assert_int_equal(chmod(img_path, 0644), 0);
	}
	physim_ram_destroy(r);
}

/* A RAM that hands out zeroed frames (config.zero_frames) keeps doing so
 * after a save and load: the policy is in the image (header flags bit 0).
 * Every frame is dirtied and freed, so whatever frame the loaded RAM hands
 * out held 0xa5 bytes: it must come out all zero. A RAM without the policy
 * hands the bytes out as they are. */
static unsigned alloc_dirty_frame_zeroed(struct physim_ram *r)
{
	physim_hpa_t hpa;
	assert_int_equal(physim_ram_alloc_frame(r, &hpa), 0);
	const uint8_t *p = frame_ptr(r, hpa);
	unsigned zero = 1;
	for (unsigned i = 0; i < 4096; i++)
		zero &= p[i] == 0;
	assert_int_equal(physim_ram_free_frame(r, hpa), 0);
	return zero;
}

static void dirty_all_free_frames(struct physim_ram *r)
{
	enum { N = 64 };
	physim_hpa_t f[N];
	unsigned n = 0;
	while (n < N && physim_ram_alloc_frame(r, &f[n]) == 0) {
		memset(frame_ptr(r, f[n]), 0xa5, 4096);
		n++;
	}
	assert_int_equal(n, N - 1); /* 256 KiB at address 0: frame 0 is reserved */
	while (n-- > 0)
		assert_int_equal(physim_ram_free_frame(r, f[n]), 0);
}

static void test_zero_frames_kept(void **state)
{
	(void)state;
	for (int zero = 0; zero <= 1; zero++) {
		struct physim_ram *r = NULL;
		struct physim_ram_config c = {
		    .base_is_zero = true, .size = 64 * 4096, .zero_frames = zero};
		assert_int_equal(physim_ram_create(&c, &r), 0);
		dirty_all_free_frames(r);
		assert_int_equal(physim_ram_save(r, img_path), 0);
		physim_ram_destroy(r);
		struct physim_ram *l = NULL;
		assert_int_equal(physim_ram_load(img_path, NULL, &l), 0);
		assert_int_equal(alloc_dirty_frame_zeroed(l), zero);
		physim_ram_destroy(l);
		/* The config can ask for it on load too. */
		assert_int_equal(
		    physim_ram_load(img_path, &(struct physim_ram_config){.zero_frames = true}, &l),
		    0);
		assert_int_equal(alloc_dirty_frame_zeroed(l), 1);
		physim_ram_destroy(l);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zero_frames_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sparse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_base_zero, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reserved_become_allocated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_debug_protect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overwrite, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_64g, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flip_every_trailer_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checksum_named, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_mismatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forged_trailer_length, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_an_image, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_save_keeps_target_efbig, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_save_keeps_target_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_saves, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flipped_data_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_version1_loads_unchecked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_footer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors_keep_cause, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
