/* SPDX-License-Identifier: MIT */
/* lib/ram-image-priv.h - the RAM image format, shared by saving (ram_image.c)
 * and loading (ram_image_load.c): its layout, constants, byte order,
 * checksums and the read/write-until-done I/O helpers. Never installed. */
#ifndef PHYSIM_RAM_IMAGE_PRIV_H
#define PHYSIM_RAM_IMAGE_PRIV_H

#include <physim/ram.h>
#include "physim-priv.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/*
 * Image layout, version 2 (every integer little-endian):
 *
 *   [0, size)            RAM bytes; offset 0 is host-physical `base`. All-zero
 *                        4 KiB frames are holes (the file is made `size` long
 *                        with ftruncate first, then only non-zero frames are
 *                        written).
 *   [size, size + T)     the trailer, T = HDR_BYTES + 16 * nranges + FTR_BYTES;
 *                        it starts 4 KiB aligned because size is.
 *
 *   header (64 bytes):   0 magic "PHYSIMRI"  8 u32 version (2)  12 u32 header
 *                        bytes (64)  16 u64 base  24 u64 size  32 u64 nranges
 *                        40 u32 flags  44 u32 zero  48 u64 data checksum
 *                        56..63 zero
 *   ranges:              nranges x { u64 base, u64 size }: the frames in use
 *                        (allocated or reserved) when saved, sorted, disjoint,
 *                        maximal runs.
 *   footer (24 bytes):   0 u64 T  8 magic "PHYSIMEN"
 *                        16 u64 FNV-1a 64 of the trailer bytes before it.
 *
 * The data checksum covers every non-zero frame of [0, size): for frame i
 * (in increasing order) d = frame_digest(bytes, i), folded into the running
 * sum by data_fold(); zero frames (holes) are not folded, so a hole that
 * gains a byte, a frame that loses its bytes or moves, and any flipped byte
 * all change it. It is computed on the very bytes written, while writing,
 * and checked on the very bytes read, while loading: one pass each way.
 * The trailer checksum covers the header, so the data checksum too.
 *
 * Header flags: bit 0 (IMG_ZERO_FRAMES) = the RAM handed out zeroed frames
 * (config.zero_frames), restored on load; any other bit is refused (a
 * newer writer's policy this reader cannot honour). Version 1 has no flags.
 *
 * Version 1 is the same without the data checksum (header bytes 44..63
 * zero); it still loads, with a warning that its frame data is unchecked.
 *
 * The footer sits at the very end so a reader finds the trailer from the file
 * size; any later version keeps the footer as it is. A file whose size is not
 * size + T (truncated, extended) is refused. The loader checks the footer and
 * the header's fixed fields against the file size before it allocates
 * anything, and reads the range list in fixed-size pieces: what it allocates
 * never depends on what a file claims, only on the RAM a valid image holds.
 *
 * Saving writes a temporary file next to `path` (".NAME.tmp-..."), fsyncs it
 * and renames it over `path`: a reader, a crash or a failed save sees the old
 * file or the whole new image, never a mix or a truncation. On failure the
 * temporary file is removed.
 *
 * What is saved: every frame whose bytes can be read and are not all zero,
 * allocated or free (a free frame may hold poison or stale data). Reserved
 * ranges cannot be told from allocated frames through ram.h, so they are
 * saved as in-use ranges and come back as allocated frames. Frames the RAM's
 * debug mode made inaccessible (PROT_NONE) read as zero; they are free or
 * reserved, so nothing a user owns is lost.
 *
 * Errors are the host's errno for open/read/write/rename failures (-ENOENT,
 * -EACCES, -ENOTDIR, -EFBIG, -ENOSPC, -EIO, ...); -EISDIR for a directory;
 * every refusal of a file's layout is -EINVAL and a data checksum mismatch
 * -EBADMSG, each with a debug log line "ram_load: PATH: <what is wrong>".
 */

#define IMG_VERSION	      2u
#define IMG_VERSION_UNCHECKED 1u /* no data checksum */
#define HDR_DATA_SUM	      48u
#define HDR_FLAGS	      40u
#define IMG_ZERO_FRAMES	      1u /* header flags: config.zero_frames */
#define HDR_BYTES	      64u
#define RANGE_BYTES	      16u
#define FTR_BYTES	      24u
#define FRAME		      PHYSIM_FRAME_SIZE

static const char hdr_magic[8] = {'P', 'H', 'Y', 'S', 'I', 'M', 'R', 'I'};
static const char ftr_magic[8] = {'P', 'H', 'Y', 'S', 'I', 'M', 'E', 'N'};

/* ---- small helpers ---- */

static inline void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* FNV-1a, 64-bit, streamed: h starts at FNV_INIT. Small, and any single
 * flipped byte changes it. */
#define FNV_INIT UINT64_C(0xcbf29ce484222325)

static inline uint64_t fnv1a64_update(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static inline uint64_t fnv1a64(const uint8_t *p, size_t n)
{
	return fnv1a64_update(FNV_INIT, p, n);
}

/*
 * The data checksum. FNV-1a goes one byte per multiply, too slow for
 * gigabytes; a frame is digested instead as 4 independent lanes of 64-bit
 * words (multiply-rotate-multiply rounds with the 64-bit primes of the
 * xxHash family), seeded with the frame's index, the lanes merged and the
 * result avalanched. Not cryptographic: it catches damage, not forgery.
 */
#define DP1	      UINT64_C(0x9e3779b185ebca87)
#define DP2	      UINT64_C(0xc2b2ae3d27d4eb4f)
#define DP3	      UINT64_C(0x165667b19e3779f9)
#define DP4	      UINT64_C(0x85ebca77c2b2ae63)
#define DATA_SUM_INIT UINT64_C(0x27d4eb2f165667c5)

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline uint64_t lane_round(uint64_t acc, uint64_t word)
{
	return rotl64(acc + word * DP2, 31) * DP1;
}

static inline uint64_t frame_digest(const uint8_t *p, uint64_t index)
{
	uint64_t a0 = index + DP1 + DP2, a1 = index + DP2, a2 = index, a3 = index - DP1;
	for (size_t i = 0; i < FRAME; i += 32) {
		a0 = lane_round(a0, load_le64(p + i));
		a1 = lane_round(a1, load_le64(p + i + 8));
		a2 = lane_round(a2, load_le64(p + i + 16));
		a3 = lane_round(a3, load_le64(p + i + 24));
	}
	uint64_t h = rotl64(a0, 1) + rotl64(a1, 7) + rotl64(a2, 12) + rotl64(a3, 18);
	h = (h ^ lane_round(0, a0)) * DP1 + DP4;
	h = (h ^ lane_round(0, a1)) * DP1 + DP4;
	h = (h ^ lane_round(0, a2)) * DP1 + DP4;
	h = (h ^ lane_round(0, a3)) * DP1 + DP4;
	h ^= h >> 33;
	h *= DP2;
	h ^= h >> 29;
	h *= DP3;
	return h ^ (h >> 32);
}

/* Fold the digest of non-zero frame `index` into the image's data sum. */
static inline uint64_t data_fold(uint64_t sum, const uint8_t *frame, uint64_t index)
{
	return rotl64(sum ^ frame_digest(frame, index), 27) * DP1 + DP4;
}

static inline bool frame_is_zero(const uint8_t *p)
{
	return p[0] == 0 && memcmp(p, p + 1, FRAME - 1) == 0;
}

/* pread/pwrite until done; -1 with errno set on error, 0 bytes read = EIO. */
static inline int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static inline int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

#endif
