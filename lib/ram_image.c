/* SPDX-License-Identifier: MIT */
/* lib/ram_image.c - RAM images (physim_ram_save / physim_ram_load): the RAM's
 * raw bytes written sparse, then a checksummed trailer. Built on the public
 * RAM API only (ram.h); it never looks inside struct physim_ram. */
#include <physim/ram.h>
#include "physim-priv.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Image layout, version 1 (every integer little-endian):
 *
 *   [0, size)            RAM bytes; offset 0 is host-physical `base`. All-zero
 *                        4 KiB frames are holes (the file is made `size` long
 *                        with ftruncate first, then only non-zero frames are
 *                        written).
 *   [size, size + T)     the trailer, T = HDR_BYTES + 16 * nranges + FTR_BYTES;
 *                        it starts 4 KiB aligned because size is.
 *
 *   header (64 bytes):   0 magic "PHYSIMRI"  8 u32 version  12 u32 header bytes (64)
 *                        16 u64 base  24 u64 size  32 u64 nranges
 *                        40 u32 flags (0)  44..63 zero
 *   ranges:              nranges x { u64 base, u64 size }: the frames in use
 *                        (allocated or reserved) when saved, sorted, disjoint,
 *                        maximal runs.
 *   footer (24 bytes):   0 u64 T  8 magic "PHYSIMEN"
 *                        16 u64 FNV-1a 64 of the trailer bytes before it.
 *
 * The footer sits at the very end so a reader finds the trailer from the file
 * size; any later version keeps the footer as it is. A file whose size is not
 * size + T (truncated, extended) is refused.
 *
 * What is saved: every frame whose bytes can be read and are not all zero,
 * allocated or free (a free frame may hold poison or stale data). Reserved
 * ranges cannot be told from allocated frames through ram.h, so they are
 * saved as in-use ranges and come back as allocated frames. Frames the RAM's
 * debug mode made inaccessible (PROT_NONE) read as zero; they are free or
 * reserved, so nothing a user owns is lost.
 *
 * Errors beyond ram.h's list: load returns -ENOENT when `path` does not
 * exist (any other failure to open it is -EIO). Every refusal of a file is
 * -EINVAL with a debug log line "ram_load: PATH: <what is wrong>".
 */

#define IMG_VERSION 1u
#define HDR_BYTES   64u
#define RANGE_BYTES 16u
#define FTR_BYTES   24u
#define FRAME	    PHYSIM_FRAME_SIZE

static const char hdr_magic[8] = {'P', 'H', 'Y', 'S', 'I', 'M', 'R', 'I'};
static const char ftr_magic[8] = {'P', 'H', 'Y', 'S', 'I', 'M', 'E', 'N'};

/* ---- small helpers ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* FNV-1a, 64-bit: small, and any single flipped byte changes it. */
static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static bool frame_is_zero(const uint8_t *p)
{
	return p[0] == 0 && memcmp(p, p + 1, FRAME - 1) == 0;
}

/* pread/pwrite until done; -1 with errno set on error, 0 bytes read = EIO. */
static int pread_all(int fd, void *buf, size_t len, uint64_t off)
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

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
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

/* ---- the in-use frame ranges ---- */

struct range_list {
	struct physim_ram_range *r;
	size_t n, cap;
};

static int range_push(struct range_list *l, physim_hpa_t base, uint64_t size)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		void *p = realloc(l->r, cap * sizeof(*l->r));
		if (p == NULL)
			return -ENOMEM;
		l->r = p;
		l->cap = cap;
	}
	l->r[l->n++] = (struct physim_ram_range){.base = base, .size = size};
	return 0;
}

/* Maximal runs of frames the allocator reports in use. */
static int collect_ranges(const struct physim_ram *ram, struct range_list *l)
{
	physim_hpa_t base = physim_ram_base(ram);
	uint64_t nframes = physim_ram_size(ram) / FRAME;
	uint64_t run = 0; /* frames in the current run */
	for (uint64_t i = 0; i <= nframes; i++) {
		bool used = i < nframes && physim_ram_frame_in_use(ram, base + i * FRAME) == 1;
		if (used) {
			run++;
			continue;
		}
		if (run != 0) {
			int rc = range_push(l, base + (i - run) * FRAME, run * FRAME);
			if (rc < 0)
				return rc;
			run = 0;
		}
	}
	return 0;
}

/* ---- saving ---- */

static uint8_t *build_trailer(const struct physim_ram *ram, const struct range_list *l, size_t *len)
{
	size_t n = HDR_BYTES + RANGE_BYTES * l->n + FTR_BYTES;
	uint8_t *t = calloc(1, n);
	if (t == NULL)
		return NULL;
	memcpy(t, hdr_magic, 8);
	put_le32(t + 8, IMG_VERSION);
	put_le32(t + 12, HDR_BYTES);
	put_le64(t + 16, physim_ram_base(ram));
	put_le64(t + 24, physim_ram_size(ram));
	put_le64(t + 32, l->n);
	for (size_t i = 0; i < l->n; i++) {
		put_le64(t + HDR_BYTES + RANGE_BYTES * i, l->r[i].base);
		put_le64(t + HDR_BYTES + RANGE_BYTES * i + 8, l->r[i].size);
	}
	uint8_t *f = t + n - FTR_BYTES;
	put_le64(f, n);
	memcpy(f + 8, ftr_magic, 8);
	put_le64(f + 16, fnv1a64(t, n - 8));
	*len = n;
	return t;
}

/*
 * Which frames may hold data. Linux's /proc/self/pagemap says for each host
 * page whether it is present or swapped; a page that is neither was never
 * touched and reads as zero, so a 64 GiB RAM with a few frames in use is
 * scanned without faulting in 16M zero pages. Without pagemap every frame is
 * a candidate (correct, only slower).
 */
struct touched_map {
	int fd;
	uint64_t page;	     /* host page size */
	uint64_t first, cnt; /* cached entries: host pages [first, first + cnt) */
	uint64_t ent[4096];
};

static void touched_open(struct touched_map *t)
{
	long pg = sysconf(_SC_PAGESIZE);
	t->page = pg > 0 ? (uint64_t)pg : FRAME;
	t->first = t->cnt = 0; /* both: frame_touched compares with first first */
	t->fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
}

static bool frame_touched(struct touched_map *t, const uint8_t *hva)
{
	if (t->fd < 0)
		return true;
	uint64_t pfn = (uint64_t)(uintptr_t)hva / t->page;
	if (pfn < t->first || pfn >= t->first + t->cnt) {
		ssize_t n = pread(t->fd, t->ent, sizeof(t->ent), (off_t)(pfn * 8));
		if (n < 8) {
			close(t->fd);
			t->fd = -1; /* pagemap unusable: assume everything touched */
			return true;
		}
		t->first = pfn;
		t->cnt = (uint64_t)n / 8;
	}
	/* Bit 63: present, bit 62: swapped (Documentation/admin-guide/mm/pagemap.rst). */
	return (t->ent[pfn - t->first] >> 62) != 0;
}

/*
 * Copy one frame out of RAM without ever faulting: a debug RAM may have made
 * free frames PROT_NONE. Passing the bytes through a pipe turns an
 * inaccessible source into EFAULT instead of SIGSEGV. Returns 1 if copied, 0
 * if the frame cannot be read, -1 on other errors (errno set).
 */
static int copy_frame_out(int pipefd[2], const uint8_t *src, uint8_t *dst)
{
	ssize_t n;
	do
		n = write(pipefd[1], src, FRAME);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EFAULT ? 0 : -1;
	size_t got = 0;
	while (got < (size_t)n) {
		ssize_t r = read(pipefd[0], dst + got, (size_t)n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return (size_t)n == FRAME ? 1 : 0; /* partial: fault inside the frame */
}

/* Runs of non-zero frames are gathered here and written with one pwrite. */
#define RUN_FRAMES 64

struct frame_writer {
	int fd;
	uint64_t off; /* file offset of run[0] */
	size_t n;     /* frames in run */
	uint8_t run[RUN_FRAMES * FRAME];
};

static int writer_flush(struct frame_writer *w)
{
	if (w->n == 0)
		return 0;
	int rc = pwrite_all(w->fd, w->run, w->n * FRAME, w->off);
	w->n = 0;
	return rc;
}

static int write_frames(const struct physim_ram *ram, int fd)
{
	struct physim_direct_map dm = physim_ram_direct_map(ram);
	uint64_t nframes = physim_ram_size(ram) / FRAME;
	struct touched_map *tm = malloc(sizeof(*tm));
	struct frame_writer *w = malloc(sizeof(*w));
	int pipefd[2] = {-1, -1};
	int rc = -ENOMEM;
	if (tm == NULL || w == NULL)
		goto out;
	tm->fd = -1;
	rc = -EIO;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		physim_log_debug("ram_save: pipe: %s", strerror(errno));
		goto out;
	}
	touched_open(tm);
	w->fd = fd;
	w->n = 0;
	for (uint64_t i = 0; i < nframes; i++) {
		const uint8_t *src = dm.hva + i * FRAME;
		if (!frame_touched(tm, src))
			continue;
		uint8_t *dst = w->run + w->n * FRAME;
		int c = copy_frame_out(pipefd, src, dst);
		if (c < 0) {
			physim_log_debug("ram_save: reading frame %#" PRIx64 ": %s",
					 dm.base + i * FRAME, strerror(errno));
			goto out;
		}
		if (c == 0 || frame_is_zero(dst))
			continue;
		if (w->n != 0 && w->off + w->n * FRAME != i * FRAME && writer_flush(w) < 0)
			goto write_err;
		if (w->n == 0) {
			memmove(w->run, dst, FRAME);
			w->off = i * FRAME;
		}
		if (++w->n == RUN_FRAMES && writer_flush(w) < 0)
			goto write_err;
	}
	if (writer_flush(w) < 0)
		goto write_err;
	rc = 0;
	goto out;
write_err:
	physim_log_debug("ram_save: write: %s", strerror(errno));
out:
	if (pipefd[0] >= 0) {
		close(pipefd[0]);
		close(pipefd[1]);
	}
	if (tm != NULL && tm->fd >= 0)
		close(tm->fd);
	free(tm);
	free(w);
	return rc;
}

int physim_ram_save(const struct physim_ram *ram, const char *path)
{
	if (ram == NULL || path == NULL || path[0] == '\0')
		return -EINVAL;
	struct range_list l = {0};
	size_t tlen = 0;
	uint8_t *trailer = NULL;
	int rc = collect_ranges(ram, &l);
	if (rc == 0) {
		trailer = build_trailer(ram, &l, &tlen);
		rc = trailer ? 0 : -ENOMEM;
	}
	free(l.r);
	if (rc < 0)
		return rc;

	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		physim_log_debug("ram_save: cannot create %s: %s", path, strerror(errno));
		free(trailer);
		return -EIO;
	}
	uint64_t size = physim_ram_size(ram);
	/* Size first: every frame not written below stays a hole. */
	if (ftruncate(fd, (off_t)size) < 0) {
		physim_log_debug("ram_save: %s: ftruncate: %s", path, strerror(errno));
		rc = -EIO;
	}
	if (rc == 0)
		rc = write_frames(ram, fd);
	/* The trailer goes last, so an interrupted save never looks valid. */
	if (rc == 0 && pwrite_all(fd, trailer, tlen, size) < 0) {
		physim_log_debug("ram_save: %s: writing trailer: %s", path, strerror(errno));
		rc = -EIO;
	}
	if (close(fd) < 0 && rc == 0) {
		physim_log_debug("ram_save: %s: close: %s", path, strerror(errno));
		rc = -EIO;
	}
	free(trailer);
	return rc;
}

/* ---- loading ---- */

struct image_info {
	uint64_t base, size, nranges;
	uint64_t tlen;	  /* trailer length from the footer */
	uint8_t *trailer; /* the whole trailer; ranges at trailer + HDR_BYTES */
};

static int bad_image(const char *path, const char *what)
{
	physim_log_debug("ram_load: %s: %s", path, what);
	return -EINVAL;
}

/* Find, read and check the footer and header; leaves info->trailer allocated
 * only on success. */
static int read_trailer(int fd, const char *path, uint64_t fsize, struct image_info *info)
{
	uint8_t f[FTR_BYTES];
	if (fsize < HDR_BYTES + FTR_BYTES + FRAME)
		return bad_image(path, "too small to be an image (truncated?)");
	if (pread_all(fd, f, FTR_BYTES, fsize - FTR_BYTES) < 0)
		goto io_err;
	if (memcmp(f + 8, ftr_magic, 8) != 0)
		return bad_image(path, "no trailer magic at the end: not an image, or truncated");
	uint64_t tlen = get_le64(f);
	if (tlen < HDR_BYTES + FTR_BYTES || tlen > fsize - FRAME ||
	    (tlen - HDR_BYTES - FTR_BYTES) % RANGE_BYTES != 0)
		return bad_image(path, "impossible trailer length");
	if ((fsize - tlen) % FRAME != 0)
		return bad_image(path, "trailer not 4 KiB aligned: file truncated or extended");
	/* n frames hold at most ceil(n / 2) maximal runs: bounds the allocation. */
	if ((tlen - HDR_BYTES - FTR_BYTES) / RANGE_BYTES > (fsize - tlen) / FRAME / 2 + 1)
		return bad_image(path, "impossible trailer length");
	uint8_t *t = malloc(tlen);
	if (t == NULL)
		return -ENOMEM;
	if (pread_all(fd, t, tlen, fsize - tlen) < 0) {
		free(t);
		goto io_err;
	}
	int rc = 0;
	if (memcmp(t, hdr_magic, 8) != 0)
		rc = bad_image(path, "bad header magic");
	else if (get_le32(t + 8) != IMG_VERSION)
		rc = bad_image(path, "unknown image version");
	else if (fnv1a64(t, tlen - 8) != get_le64(t + tlen - 8))
		rc = bad_image(path, "bad trailer checksum");
	if (rc < 0) {
		free(t);
		return rc;
	}
	info->trailer = t;
	info->tlen = tlen;
	info->base = get_le64(t + 16);
	info->size = get_le64(t + 24);
	info->nranges = get_le64(t + 32);
	return 0;
io_err:
	physim_log_debug("ram_load: %s: read: %s", path, strerror(errno));
	return -EIO;
}

/* The header fields and the range list make sense for a file of fsize bytes. */
static int check_layout(const char *path, uint64_t fsize, const struct image_info *info)
{
	const uint8_t *t = info->trailer;
	uint64_t tlen = info->tlen; /* read_trailer: HDR + FTR <= tlen < fsize */
	if (get_le32(t + 12) != HDR_BYTES || get_le32(t + 40) != 0)
		return bad_image(path, "unsupported header length or flags");
	for (unsigned i = 44; i < HDR_BYTES; i++)
		if (t[i] != 0)
			return bad_image(path, "non-zero reserved header bytes");
	if (info->size == 0 || !physim_is_aligned(info->size, FRAME) ||
	    !physim_is_aligned(info->base, FRAME) || !physim_range_ok(info->base, info->size))
		return bad_image(path, "RAM base/size misaligned, zero or wrapping");
	if (info->size != fsize - tlen ||
	    info->nranges != (tlen - HDR_BYTES - FTR_BYTES) / RANGE_BYTES)
		return bad_image(path, "file size does not match RAM size and trailer");
	uint64_t end = info->base + info->size - 1; /* last byte of RAM */
	uint64_t next = info->base;		    /* ranges are sorted and disjoint */
	for (uint64_t i = 0; i < info->nranges; i++) {
		uint64_t b = get_le64(t + HDR_BYTES + RANGE_BYTES * i);
		uint64_t s = get_le64(t + HDR_BYTES + RANGE_BYTES * i + 8);
		if (s == 0 || !physim_is_aligned(b, FRAME) || !physim_is_aligned(s, FRAME) ||
		    b < next || b > end || s - 1 > end - b)
			return bad_image(path,
					 "allocated range misaligned, unsorted or outside RAM");
		next = b + s; /* at most end + 1; wraps to 0 only if RAM ends at 2^64 */
		if (next == 0 && i + 1 < info->nranges)
			return bad_image(path,
					 "allocated range misaligned, unsorted or outside RAM");
	}
	return 0;
}

static int restore_ranges(struct physim_ram *ram, const char *path, const struct image_info *info)
{
	for (uint64_t i = 0; i < info->nranges; i++) {
		uint64_t b = get_le64(info->trailer + HDR_BYTES + RANGE_BYTES * i);
		uint64_t s = get_le64(info->trailer + HDR_BYTES + RANGE_BYTES * i + 8);
		if (b == 0) { /* frame 0 of a RAM at address 0 is reserved anyway */
			b += FRAME;
			s -= FRAME;
			if (s == 0)
				continue;
		}
		int rc = physim_ram_alloc_at(ram, b, s);
		if (rc < 0) {
			physim_log_debug("ram_load: %s: claiming %#" PRIx64 "+%#" PRIx64 ": %s",
					 path, b, s, physim_strerror(rc));
			return rc == -ENOMEM ? rc : -EINVAL;
		}
	}
	return 0;
}

/* Copy one frame from the file into RAM. pread into the RAM (rather than
 * memcpy) so that a frame a debug RAM keeps PROT_NONE gives EFAULT, not
 * SIGSEGV; such a frame is free, and its bytes are dropped. */
static int load_frame(int fd, uint8_t *dst, uint64_t off)
{
	if (pread_all(fd, dst, FRAME, off) == 0)
		return 0;
	if (errno == EFAULT) {
		physim_log_debug("ram_load: frame at offset %#" PRIx64 " inaccessible, skipped",
				 off);
		return 0;
	}
	return -1;
}

#define CHUNK_FRAMES 256

/* Copy the non-zero frames of [0, size) into RAM, visiting only the file's
 * data extents (SEEK_DATA/SEEK_HOLE) so holes cost nothing. */
static int restore_bytes(struct physim_ram *ram, int fd, const char *path, uint64_t size)
{
	struct physim_direct_map dm = physim_ram_direct_map(ram);
	uint8_t *buf = malloc(CHUNK_FRAMES * FRAME);
	if (buf == NULL)
		return -ENOMEM;
	uint64_t off = 0;
	int rc = 0;
	while (off < size) {
		off_t d = lseek(fd, (off_t)off, SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			break;				    /* no data after off */
		uint64_t start = d < 0 ? off : (uint64_t)d; /* no SEEK_DATA: read it all */
		off_t h = d < 0 ? (off_t)size : lseek(fd, d, SEEK_HOLE);
		uint64_t stop = h < 0 || (uint64_t)h > size ? size : (uint64_t)h;
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
			for (size_t k = 0; k < len; k += FRAME)
				if (!frame_is_zero(buf + k) &&
				    load_frame(fd, dm.hva + o + k, o + k) < 0)
					goto io_err;
		}
		off = stop > off ? stop : off + FRAME;
	}
	free(buf);
	return rc;
io_err:
	physim_log_debug("ram_load: %s: read: %s", path, strerror(errno));
	free(buf);
	return -EIO;
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
		physim_log_debug("ram_load: %s: stat: %s", path, strerror(errno));
		return -EIO;
	}
	if (!S_ISREG(st.st_mode))
		return bad_image(path, "not a regular file");
	uint64_t fsize = (uint64_t)st.st_size;
	struct image_info info = {0};
	int rc = read_trailer(fd, path, fsize, &info);
	if (rc < 0)
		return rc;
	rc = check_layout(path, fsize, &info);
	struct physim_ram *ram = NULL;
	if (rc == 0) {
		struct physim_ram_config c = config ? *config : (struct physim_ram_config){0};
		c.base = info.base;
		c.base_is_zero = info.base == 0;
		c.size = info.size;
		rc = physim_ram_create(&c, &ram);
		if (rc < 0)
			physim_log_debug("ram_load: %s: creating RAM: %s", path,
					 physim_strerror(rc));
	}
	if (rc == 0)
		rc = restore_ranges(ram, path, &info);
	if (rc == 0)
		rc = restore_bytes(ram, fd, path, info.size);
	free(info.trailer);
	if (rc < 0) {
		physim_ram_destroy(ram);
		return rc;
	}
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
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		physim_log_debug("ram_load: cannot open %s: %s", path, strerror(e));
		return e == ENOENT ? -ENOENT : -EIO;
	}
	int rc = load_fd(fd, path, config, out);
	close(fd);
	return rc;
}
