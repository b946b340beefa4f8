/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_image.c - physim_ram_load on arbitrary files. The harness
 * decides from the image layout (lib/ram-image-priv.h, versions 1 and 2) whether a
 * file is a valid image; the loader must load exactly the valid ones (-EINVAL
 * for the rest, -EBADMSG for a version 2 file whose frame data does not match
 * its checksum), and a loaded RAM holds the file's bytes and listed frames,
 * and saves and loads again to the same RAM.
 *
 * Input: one byte of options (bits 0-1 mode, bit 2 guard pages, bit 3 poison,
 * bit 4 no config), then
 *   mode 0: the file, byte for byte;
 *   mode 1: the file, with the footer's checksum recomputed (so the fuzzer
 *           gets past it to the layout checks);
 *   mode 2/3: a file laid out by the harness from a few choices (frames,
 *           base, ranges, one damaged field) and the RAM bytes, with a
 *           correct footer: most are valid, and the damage is targeted. */
#include "fuzz.h"

#include <physim/ram.h>

#include <sys/mman.h>
#include <unistd.h>

#define HDR   64u
#define FTR   24u
#define RNG   16u
#define FRAME PHYSIM_FRAME_SIZE

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* FNV-1a 64, as the image format defines its checksum. */
static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * UINT64_C(0x100000001b3);
	return h;
}

/* ---- the layout rules, written from the format description ---- */

/* Version 2's data checksum: per non-zero frame, 4 lanes of 64-bit words
 * (acc = rotl(acc + w * K2, 31) * K1) seeded from the frame index, merged
 * and avalanched; folded in file order. */
#define K1 UINT64_C(0x9e3779b185ebca87)
#define K2 UINT64_C(0xc2b2ae3d27d4eb4f)
#define K3 UINT64_C(0x165667b19e3779f9)
#define K4 UINT64_C(0x85ebca77c2b2ae63)

static uint64_t rl(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t lane(uint64_t acc, uint64_t w)
{
	return rl(acc + w * K2, 31) * K1;
}

static uint64_t data_sum(const uint8_t *file, uint64_t size)
{
	uint64_t sum = UINT64_C(0x27d4eb2f165667c5);
	for (uint64_t off = 0; off < size; off += FRAME) {
		const uint8_t *f = file + off;
		bool zero = true;
		for (size_t i = 0; i < FRAME && zero; i++)
			zero = f[i] == 0;
		if (zero)
			continue;
		uint64_t idx = off / FRAME, a[4] = {idx + K1 + K2, idx + K2, idx, idx - K1};
		for (size_t w = 0; w < FRAME / 8; w++)
			a[w % 4] = lane(a[w % 4], get64(f + 8 * w));
		uint64_t h = rl(a[0], 1) + rl(a[1], 7) + rl(a[2], 12) + rl(a[3], 18);
		for (int k = 0; k < 4; k++)
			h = (h ^ lane(0, a[k])) * K1 + K4;
		h = (h ^ h >> 33) * K2;
		h = (h ^ h >> 29) * K3;
		sum = rl(sum ^ (h ^ h >> 32), 27) * K1 + K4;
	}
	return sum;
}

/* What loading a file of len bytes must give: 0 (valid), -EINVAL (not an
 * image: footer, header, ranges) or -EBADMSG (version 2 data damaged). */
static int image_verdict(const uint8_t *file, size_t len)
{
	if (len < HDR + FTR + FRAME)
		return -EINVAL;
	const uint8_t *ftr = file + len - FTR;
	uint64_t tlen = get64(ftr);
	if (memcmp(ftr + 8, "PHYSIMEN", 8) != 0)
		return -EINVAL;
	if (tlen < HDR + FTR || tlen > len - FRAME || (tlen - HDR - FTR) % RNG != 0)
		return -EINVAL;
	uint64_t size = len - tlen, nranges = (tlen - HDR - FTR) / RNG;
	const uint8_t *t = file + size;
	uint32_t version = size % FRAME == 0 ? get32(t + 8) : 0;
	if (size % FRAME != 0 || nranges > size / FRAME / 2 + 1)
		return -EINVAL;
	if (memcmp(t, "PHYSIMRI", 8) != 0 || (version != 1 && version != 2) ||
	    get32(t + 12) != HDR || get32(t + 40) != 0 || fnv1a(t, tlen - 8) != get64(ftr + 16))
		return -EINVAL;
	for (unsigned i = 44; i < HDR; i++)
		if (t[i] != 0 && (version == 1 || i < 48 || i >= 56))
			return -EINVAL;
	uint64_t base = get64(t + 16);
	if (get64(t + 24) != size || get64(t + 32) != nranges || base % FRAME != 0 ||
	    base + (size - 1) < base)
		return -EINVAL;
	/* Ranges: non-empty, aligned, sorted, disjoint, inside the RAM. */
	uint64_t next_off = 0;
	for (uint64_t k = 0; k < nranges; k++) {
		uint64_t b = get64(t + HDR + RNG * k), s = get64(t + HDR + RNG * k + 8);
		uint64_t off = b - base;
		if (s == 0 || b % FRAME != 0 || s % FRAME != 0 || b < base || off < next_off ||
		    off >= size || s > size - off)
			return -EINVAL;
		next_off = off + s;
	}
	if (version == 2 && data_sum(file, size) != get64(t + 48))
		return -EBADMSG;
	return 0;
}

/* ---- mode 2: a file laid out from choices ---- */

static uint64_t pick_base(struct fz *in, uint64_t size)
{
	switch (fz_u8(in) % 6) {
	case 0:
		return 0;
	case 1:
		return FRAME;
	case 2:
		return 0 - size; /* the RAM ends at 2^64 */
	case 3:
		return 0 - size + FRAME; /* wraps */
	case 4:
		return fz_u64(in) & ~(FRAME - 1);
	default:
		return UINT64_C(0x80000000);
	}
}

/* Damage one field of the trailer t (tlen bytes) before the checksum. */
static void damage(struct fz *in, uint8_t *t, uint64_t tlen, uint8_t what)
{
	switch (what) {
	case 1:
		put32(t + 8, 1 + fz_u8(in)); /* version */
		break;
	case 2:
		put32(t + 12, fz_u8(in)); /* header length */
		break;
	case 3:
		put32(t + 40, 1u << (fz_u8(in) % 32)); /* flags */
		break;
	case 4:
		t[44 + fz_u8(in) % 20] = 1; /* reserved byte */
		break;
	case 5:
		put64(t + 24, get64(t + 24) + (fz_u8(in) & 1 ? FRAME : 1)); /* size */
		break;
	case 6:
		put64(t + 32, get64(t + 32) + 1); /* nranges */
		break;
	case 7:
		if (tlen > HDR + FTR) /* a range's field set to any value */
			put64(t + HDR + 8 * fz_below(in, (tlen - HDR - FTR) / 8), fz_u64(in));
		break;
	default:
		break;
	}
}

/* The file for a mode-2 input (caller frees). */
static uint8_t *lay_out(struct fz *in, size_t *len)
{
	uint64_t nframes = 1 + fz_u8(in) % 8, nranges = fz_u8(in) % 6;
	uint64_t size = nframes * FRAME, base = pick_base(in, size);
	uint8_t what = fz_u8(in) % 16; /* 0 or >= 8: nothing damaged */
	uint64_t tlen = HDR + RNG * nranges + FTR;
	size_t n = (size_t)(size + tlen);
	uint8_t *f = calloc(1, n);
	FZ_CHECK(f != NULL);
	uint8_t *t = f + size;
	memcpy(t, "PHYSIMRI", 8);
	put32(t + 8, 1);
	put32(t + 12, HDR);
	put64(t + 16, base);
	put64(t + 24, size);
	put64(t + 32, nranges);
	/* Ranges as gaps and lengths in frames: sorted and disjoint unless a
	 * gap byte says "go back". */
	uint64_t at = 0;
	for (uint64_t k = 0; k < nranges; k++) {
		uint8_t gap = fz_u8(in), cnt = fz_u8(in);
		at = gap == 0xff && at ? at - 1 : at + gap % 3;
		put64(t + HDR + RNG * k, base + at * FRAME);
		put64(t + HDR + RNG * k + 8, (1 + cnt % 4) * FRAME);
		at += 1 + cnt % 4;
	}
	damage(in, t, tlen, what);
	put64(t + tlen - FTR, tlen);
	memcpy(t + tlen - FTR + 8, "PHYSIMEN", 8);
	put64(t + tlen - 8, fnv1a(t, tlen - 8));
	memcpy(f, in->p, in->n < size ? in->n : (size_t)size);
	*len = n;
	return f;
}

/* ---- checking a loaded RAM ---- */

static int memfd_with(const uint8_t *p, size_t n)
{
	int fd = memfd_create("fuzz-image", 0);
	FZ_CHECK(fd >= 0);
	for (size_t done = 0; done < n;) {
		ssize_t w = write(fd, p + done, n - done);
		FZ_CHECK(w > 0);
		done += (size_t)w;
	}
	return fd;
}

static void fd_path(int fd, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* Is the frame at hpa listed in the file's ranges? */
static bool listed(const uint8_t *t, uint64_t nranges, uint64_t hpa)
{
	for (uint64_t k = 0; k < nranges; k++) {
		uint64_t b = get64(t + HDR + RNG * k), s = get64(t + HDR + RNG * k + 8);
		if (hpa - b < s)
			return true;
	}
	return false;
}

/* A loaded RAM holds the file's bytes, and its listed frames are in use. */
static void check_loaded(struct physim_ram *ram, const uint8_t *file, size_t len)
{
	uint64_t tlen = get64(file + len - FTR);
	const uint8_t *t = file + len - tlen;
	uint64_t size = len - tlen, nranges = (tlen - HDR - FTR) / RNG;
	physim_hpa_t base = get64(t + 16);
	FZ_CHECK(physim_ram_base(ram) == base && physim_ram_size(ram) == size);
	struct physim_direct_map dm = physim_ram_direct_map(ram);
	uint64_t in_use = 0;
	for (uint64_t off = 0; off < size; off += FRAME) {
		FZ_CHECK(memcmp(physim_dm_phys_to_virt(&dm, base + off), file + off, FRAME) == 0);
		int u = physim_ram_frame_in_use(ram, base + off);
		/* Frame 0 of a RAM at address 0 is reserved, listed or not. */
		FZ_CHECK(u == (listed(t, nranges, base + off) || base + off == 0));
		in_use += (uint64_t)u;
	}
	struct physim_ram_stats s = physim_ram_stats(ram);
	FZ_CHECK(s.total_frames == size / FRAME);
	FZ_CHECK(s.used_frames + s.reserved_frames == in_use);
}

/* save, then load again: the same RAM. A save renames a new file over its
 * target, so it goes to a real file, not a memfd. */
static void check_round_trip(struct physim_ram *ram)
{
	const char *dir = getenv("TMPDIR");
	char path[512];
	snprintf(path, sizeof(path), "%s/physim-fuzz-image-%ld.img", dir && *dir ? dir : "/tmp",
		 (long)getpid());
	FZ_CHECK(physim_ram_save(ram, path) == 0);
	struct physim_ram *again = NULL;
	FZ_CHECK(physim_ram_load(path, NULL, &again) == 0);
	unlink(path);
	uint64_t size = physim_ram_size(ram);
	physim_hpa_t base = physim_ram_base(ram);
	FZ_CHECK(physim_ram_base(again) == base && physim_ram_size(again) == size);
	struct physim_direct_map a = physim_ram_direct_map(ram), b = physim_ram_direct_map(again);
	for (uint64_t off = 0; off < size; off += FRAME) {
		FZ_CHECK(memcmp(physim_dm_phys_to_virt(&a, base + off),
				physim_dm_phys_to_virt(&b, base + off), FRAME) == 0);
		FZ_CHECK(physim_ram_frame_in_use(ram, base + off) ==
			 physim_ram_frame_in_use(again, base + off));
	}
	struct physim_ram_stats s1 = physim_ram_stats(ram), s2 = physim_ram_stats(again);
	FZ_CHECK(s1.used_frames + s1.reserved_frames == s2.used_frames + s2.reserved_frames);
	physim_ram_destroy(again);
}

/* The file an input describes (caller frees). */
static uint8_t *make_file(struct fz *in, uint8_t opt, size_t *len)
{
	if (opt % 4 >= 2)
		return lay_out(in, len);
	uint8_t *file = fz_xrealloc(NULL, in->n);
	memcpy(file, in->p, in->n);
	*len = in->n;
	uint64_t tlen = *len >= FTR ? get64(file + *len - FTR) : 0;
	if (opt % 4 == 1 && tlen >= 8 && tlen <= *len)
		put64(file + *len - 8, fnv1a(file + *len - tlen, tlen - 8));
	return file;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = {data, size};
	uint8_t opt = fz_u8(&in);
	size_t len = 0;
	uint8_t *file = make_file(&in, opt, &len);
	int want = image_verdict(file, len);
	int fd = memfd_with(file, len);
	char path[64];
	fd_path(fd, path, sizeof(path));
	struct physim_ram_config c = {
	    .guard_pages = opt >> 2 & 1,
	    .debug = opt >> 3 & 1 ? PHYSIM_RAM_DEBUG_POISON : PHYSIM_RAM_DEBUG_OFF,
	};
	struct physim_ram *ram = NULL;
	int rc = physim_ram_load(path, opt >> 4 & 1 ? NULL : &c, &ram);
	close(fd);
	if (rc != want)
		fprintf(stderr, "fuzz_image: load gave %d, expected %d, for a file of %zu bytes\n",
			rc, want, len);
	FZ_CHECK(rc == want || rc == -ENOMEM);
	if (rc == 0) {
		check_loaded(ram, file, len);
		check_round_trip(ram);
		physim_ram_destroy(ram);
	} else {
		FZ_CHECK(ram == NULL);
	}
	free(file);
	return 0;
}
