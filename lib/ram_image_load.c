/* SPDX-License-Identifier: MIT */
/* lib/ram_image_load.c - loading RAM images (physim_ram_load): the trailer
 * checked before anything is allocated, then the frames restored and their
 * checksum verified (the format: ram-image-priv.h). Built on the public RAM
 * API only (ram.h). */
#include "ram-image-priv.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- loading ---- */

struct image_info {
	uint32_t version;
	uint64_t base, size, nranges;
	uint64_t tlen;	   /* trailer length from the footer */
	uint64_t data_sum; /* version 2 */
	uint32_t flags;	   /* version 2: IMG_* */
};

static int bad_image(const char *path, const char *what)
{
	physim_log_debug("ram_load: %s: %s", path, what);
	return -EINVAL;
}

static int read_err(const char *path)
{
	int e = errno;
	physim_log_debug("ram_load: %s: read: %s", path, strerror(e));
	return -e;
}

/* The footer and the header's fixed fields, checked against the file size
 * before anything is allocated. */
static int read_header(int fd, const char *path, uint64_t fsize, struct image_info *info)
{
	uint8_t f[FTR_BYTES], t[HDR_BYTES];
	if (fsize < HDR_BYTES + FTR_BYTES + FRAME)
		return bad_image(path, "too small to be an image (truncated?)");
	if (pread_all(fd, f, FTR_BYTES, fsize - FTR_BYTES) < 0)
		return read_err(path);
	if (memcmp(f + 8, ftr_magic, 8) != 0)
		return bad_image(path, "no trailer magic at the end: not an image, or truncated");
	uint64_t tlen = get_le64(f);
	if (tlen < HDR_BYTES + FTR_BYTES || tlen > fsize - FRAME ||
	    (tlen - HDR_BYTES - FTR_BYTES) % RANGE_BYTES != 0)
		return bad_image(path, "impossible trailer length");
	if ((fsize - tlen) % FRAME != 0)
		return bad_image(path, "trailer not 4 KiB aligned: file truncated or extended");
	/* n frames hold at most ceil(n / 2) maximal runs. */
	if ((tlen - HDR_BYTES - FTR_BYTES) / RANGE_BYTES > (fsize - tlen) / FRAME / 2 + 1)
		return bad_image(path, "impossible trailer length");
	if (pread_all(fd, t, HDR_BYTES, fsize - tlen) < 0)
		return read_err(path);
	if (memcmp(t, hdr_magic, 8) != 0)
		return bad_image(path, "bad header magic");
	info->version = get_le32(t + 8);
	if (info->version != IMG_VERSION && info->version != IMG_VERSION_UNCHECKED)
		return bad_image(path, "unknown image version");
	info->flags = get_le32(t + HDR_FLAGS);
	if (get_le32(t + 12) != HDR_BYTES ||
	    (info->flags & ~(info->version == IMG_VERSION ? IMG_ZERO_FRAMES : 0u)) != 0)
		return bad_image(path, "unsupported header length or flags");
	for (unsigned i = 44; i < HDR_BYTES; i++)
		if (t[i] != 0 && (info->version == IMG_VERSION_UNCHECKED || i < HDR_DATA_SUM ||
				  i >= HDR_DATA_SUM + 8))
			return bad_image(path, "non-zero reserved header bytes");
	info->tlen = tlen;
	info->base = get_le64(t + 16);
	info->size = get_le64(t + 24);
	info->nranges = get_le64(t + 32);
	info->data_sum = get_le64(t + HDR_DATA_SUM);
	if (info->size == 0 || !physim_is_aligned(info->size, FRAME) ||
	    !physim_is_aligned(info->base, FRAME) || !physim_range_ok(info->base, info->size))
		return bad_image(path, "RAM base/size misaligned, zero or wrapping");
	if (info->size != fsize - tlen ||
	    info->nranges != (tlen - HDR_BYTES - FTR_BYTES) / RANGE_BYTES)
		return bad_image(path, "file size does not match RAM size and trailer");
	return 0;
}

/*
 * The range list, read in pieces of RANGE_CHUNK entries so memory does not
 * grow with nranges. Pass 1 (ram == NULL) checks every range and the trailer
 * checksum; pass 2 claims the ranges in the new RAM.
 */
#define RANGE_CHUNK 256

/* Is range {b, s} aligned, inside RAM and after the previous one (which
 * ended at *next)? */
static bool range_ok(const struct image_info *info, uint64_t b, uint64_t s, uint64_t *next,
		     bool last)
{
	uint64_t end = info->base + info->size - 1; /* last byte of RAM */
	if (s == 0 || !physim_is_aligned(b, FRAME) || !physim_is_aligned(s, FRAME) || b < *next ||
	    b > end || s - 1 > end - b)
		return false;
	*next = b + s; /* at most end + 1; wraps to 0 only if RAM ends at 2^64 */
	return *next != 0 || last;
}

static int claim_range(struct physim_ram *ram, const char *path, uint64_t b, uint64_t s)
{
	if (b == 0) { /* frame 0 of a RAM at address 0 is reserved anyway */
		b += FRAME;
		s -= FRAME;
		if (s == 0)
			return 0;
	}
	int rc = physim_ram_alloc_at(ram, b, s);
	if (rc < 0) {
		physim_log_debug("ram_load: %s: claiming %#" PRIx64 "+%#" PRIx64 ": %s", path, b, s,
				 physim_strerror(rc));
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	return 0;
}

static int walk_ranges(int fd, const char *path, uint64_t fsize, const struct image_info *info,
		       struct physim_ram *ram)
{
	uint8_t buf[RANGE_CHUNK * RANGE_BYTES];
	uint64_t off = fsize - info->tlen, next = info->base, h = FNV_INIT;
	if (ram == NULL) {
		if (pread_all(fd, buf, HDR_BYTES, off) < 0)
			return read_err(path);
		h = fnv1a64_update(h, buf, HDR_BYTES);
	}
	off += HDR_BYTES;
	for (uint64_t i = 0; i < info->nranges; i += RANGE_CHUNK) {
		uint64_t n = info->nranges - i < RANGE_CHUNK ? info->nranges - i : RANGE_CHUNK;
		if (pread_all(fd, buf, n * RANGE_BYTES, off) < 0)
			return read_err(path);
		off += n * RANGE_BYTES;
		if (ram == NULL)
			h = fnv1a64_update(h, buf, n * RANGE_BYTES);
		for (uint64_t k = 0; k < n; k++) {
			uint64_t b = get_le64(buf + RANGE_BYTES * k);
			uint64_t s = get_le64(buf + RANGE_BYTES * k + 8);
			/* Stop at the first bad range: a hostile list is
			 * refused without reading the rest of it. */
			if (ram == NULL) {
				if (!range_ok(info, b, s, &next, i + k + 1 == info->nranges))
					return bad_image(path, "allocated range misaligned, "
							       "unsorted or outside RAM");
				continue;
			}
			int rc = claim_range(ram, path, b, s);
			if (rc < 0)
				return rc;
		}
	}
	if (ram != NULL)
		return 0;
	if (pread_all(fd, buf, FTR_BYTES, off) < 0)
		return read_err(path);
	if (fnv1a64_update(h, buf, FTR_BYTES - 8) != get_le64(buf + FTR_BYTES - 8))
		return bad_image(path, "bad trailer checksum");
	return 0;
}

/* Put one checked frame (src, read from file offset off) into RAM at dst.
 * Allocated frames are accessible: a plain copy. A free frame may be
 * PROT_NONE in a debug RAM; pread into it (rather than memcpy) gives EFAULT
 * instead of SIGSEGV, and such a frame's bytes are dropped. If the pread
 * works, the checked bytes are copied over what it read. */
static int load_frame(struct physim_ram *ram, int fd, const uint8_t *src, uint8_t *dst,
		      uint64_t off)
{
	physim_hpa_t hpa = physim_ram_base(ram) + off;
	if (hpa != 0 && physim_ram_frame_in_use(ram, hpa) == 1) {
		memcpy(dst, src, FRAME);
		return 0;
	}
	if (pread_all(fd, dst, FRAME, off) == 0) {
		memcpy(dst, src, FRAME);
		return 0;
	}
	if (errno == EFAULT) {
		physim_log_debug("ram_load: frame at offset %#" PRIx64 " inaccessible, skipped",
				 off);
		return 0;
	}
	return -1;
}

#define CHUNK_FRAMES 256

/* Copy the non-zero frames of [0, size) into RAM, visiting only the file's
 * data extents (SEEK_DATA/SEEK_HOLE) so holes cost nothing, and fold each
 * into the data checksum as it is read. */
static int restore_bytes(struct physim_ram *ram, int fd, const char *path,
			 const struct image_info *info)
{
	struct physim_direct_map dm = physim_ram_direct_map(ram);
	uint64_t size = info->size, off = 0, h = DATA_SUM_INIT;
	uint8_t *buf = malloc(CHUNK_FRAMES * FRAME);
	if (buf == NULL)
		return -ENOMEM;
	while (off < size) {
		off_t d = lseek(fd, (off_t)off, SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			break;				    /* no data after off */
		uint64_t start = d < 0 ? off : (uint64_t)d; /* no SEEK_DATA: read it all */
		off_t hole = d < 0 ? (off_t)size : lseek(fd, d, SEEK_HOLE);
		uint64_t stop = hole < 0 || (uint64_t)hole > size ? size : (uint64_t)hole;
		start = physim_align_down(start, FRAME);
		stop = physim_align_up(stop, FRAME);
		if (stop > size)
			stop = size;
		for (uint64_t o = start; o < stop; o += CHUNK_FRAMES * FRAME) {
			size_t len =
			    (size_t)(stop - o < CHUNK_FRAMES * FRAME ? stop - o
								     : CHUNK_FRAMES * FRAME);
			if (pread_all(fd, buf, len, o) < 0)
				goto io_err;
			for (size_t k = 0; k < len; k += FRAME) {
				if (frame_is_zero(buf + k))
					continue;
				h = data_fold(h, buf + k, (o + k) / FRAME);
				/* The bytes checked are the bytes loaded. */
				if (load_frame(ram, fd, buf + k, dm.hva + o + k, o + k) < 0)
					goto io_err;
			}
		}
		off = stop > off ? stop : off + FRAME;
	}
	free(buf);
	if (info->version == IMG_VERSION && h != info->data_sum) {
		physim_log_debug("ram_load: %s: frame data checksum mismatch: damaged image", path);
		return -EBADMSG;
	}
	return 0;
io_err:
	free(buf);
	return read_err(path);
}

static bool config_ok(const struct physim_ram_config *c)
{
	return c == NULL || (c->base == 0 && !c->base_is_zero && c->size == 0 &&
			     c->reserved == NULL && c->nreserved == 0);
}

static int load_fd(int fd, const char *path, const struct physim_ram_config *config,
		   struct physim_ram **out)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		physim_log_debug("ram_load: %s: stat: %s", path, strerror(e));
		return -e;
	}
	if (S_ISDIR(st.st_mode)) {
		physim_log_debug("ram_load: %s: is a directory", path);
		return -EISDIR;
	}
	if (!S_ISREG(st.st_mode))
		return bad_image(path, "not a regular file");
	/* Opened O_NONBLOCK only so a FIFO could not block the open. */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return read_err(path);
	uint64_t fsize = (uint64_t)st.st_size;
	struct image_info info = {0};
	int rc = read_header(fd, path, fsize, &info);
	if (rc == 0)
		rc = walk_ranges(fd, path, fsize, &info, NULL);
	if (rc < 0)
		return rc;
	struct physim_ram *ram = NULL;
	struct physim_ram_config c = config ? *config : (struct physim_ram_config){0};
	c.base = info.base;
	c.base_is_zero = info.base == 0;
	c.size = info.size;
	c.zero_frames |= (info.flags & IMG_ZERO_FRAMES) != 0;
	rc = physim_ram_create(&c, &ram);
	if (rc < 0)
		physim_log_debug("ram_load: %s: creating RAM: %s", path, physim_strerror(rc));
	if (rc == 0)
		rc = walk_ranges(fd, path, fsize, &info, ram);
	if (rc == 0)
		rc = restore_bytes(ram, fd, path, &info);
	if (rc < 0) {
		physim_ram_destroy(ram);
		return rc;
	}
	if (info.version == IMG_VERSION_UNCHECKED)
		physim_log_warn("ram_load: %s: version 1 image: frame data not checksummed, "
				"loaded unchecked",
				path);
	*out = ram;
	return 0;
}

int physim_ram_load(const char *path, const struct physim_ram_config *config,
		    struct physim_ram **out)
{
	if (path == NULL || out == NULL)
		return -EINVAL;
	if (!config_ok(config)) {
		physim_log_debug("ram_load: config base/size/reserved must be zero");
		return -EINVAL;
	}
	/* O_NONBLOCK: a FIFO must not hang the open; load_fd refuses it. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		physim_log_debug("ram_load: cannot open %s: %s", path, strerror(e));
		return -e;
	}
	int rc = load_fd(fd, path, config, out);
	close(fd);
	return rc;
}
