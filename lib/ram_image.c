/* SPDX-License-Identifier: MIT */
/* lib/ram_image.c - RAM images (physim_ram_save / physim_ram_load): the RAM's
 * raw bytes written sparse, then a checksummed trailer. Built on the public
 * RAM API only (ram.h); it never looks inside struct physim_ram. */
#include <physim/ram.h>
#include "physim-priv.h"
#include "ram-priv.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
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

/* FNV-1a, 64-bit, streamed: h starts at FNV_INIT. Small, and any single
 * flipped byte changes it. */
#define FNV_INIT UINT64_C(0xcbf29ce484222325)

static uint64_t fnv1a64_update(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static uint64_t fnv1a64(const uint8_t *p, size_t n)
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

static uint64_t frame_digest(const uint8_t *p, uint64_t index)
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
static uint64_t data_fold(uint64_t sum, const uint8_t *frame, uint64_t index)
{
	return rotl64(sum ^ frame_digest(frame, index), 27) * DP1 + DP4;
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

/* The trailer with a zero data checksum; trailer_seal() fills it in. */
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
	put_le32(t + HDR_FLAGS, physim_ram_zeroes_frames(ram) ? IMG_ZERO_FRAMES : 0);
	for (size_t i = 0; i < l->n; i++) {
		put_le64(t + HDR_BYTES + RANGE_BYTES * i, l->r[i].base);
		put_le64(t + HDR_BYTES + RANGE_BYTES * i + 8, l->r[i].size);
	}
	uint8_t *f = t + n - FTR_BYTES;
	put_le64(f, n);
	memcpy(f + 8, ftr_magic, 8);
	*len = n;
	return t;
}

static void trailer_seal(uint8_t *t, size_t n, uint64_t data_sum)
{
	put_le64(t + HDR_DATA_SUM, data_sum);
	put_le64(t + n - 8, fnv1a64(t, n - 8));
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

/* Write every readable non-zero frame at its offset and return in *sum the
 * data checksum of exactly the bytes written. */
static int write_frames(const struct physim_ram *ram, int fd, uint64_t *sum)
{
	struct physim_direct_map dm = physim_ram_direct_map(ram);
	uint64_t nframes = physim_ram_size(ram) / FRAME;
	struct touched_map *tm = malloc(sizeof(*tm));
	struct frame_writer *w = malloc(sizeof(*w));
	int pipefd[2] = {-1, -1};
	int rc = -ENOMEM;
	uint64_t h = DATA_SUM_INIT;
	if (tm == NULL || w == NULL)
		goto out;
	tm->fd = -1;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		rc = -errno;
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
			rc = -errno;
			physim_log_debug("ram_save: reading frame %#" PRIx64 ": %s",
					 dm.base + i * FRAME, strerror(errno));
			goto out;
		}
		if (c == 0 || frame_is_zero(dst))
			continue;
		if (w->n != 0 && w->off + w->n * FRAME != i * FRAME) {
			if (writer_flush(w) < 0)
				goto write_err;
			memcpy(w->run, dst, FRAME);
			dst = w->run;
		}
		/* The copy is what is written: a RAM changing under the save
		 * still gets a checksum that matches the file. */
		h = data_fold(h, dst, i);
		if (w->n == 0)
			w->off = i * FRAME;
		if (++w->n == RUN_FRAMES && writer_flush(w) < 0)
			goto write_err;
	}
	if (writer_flush(w) < 0)
		goto write_err;
	*sum = h;
	rc = 0;
	goto out;
write_err:
	rc = -errno;
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

/* The file a save replaces: `path`, or what it names if it is a symbolic
 * link (the link stays a link). Malloc'd; NULL with errno set. */
static char *save_target(const char *path)
{
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		char *real = realpath(path, NULL);
		if (real != NULL || errno != ENOENT)
			return real;
		/* A dangling link: replace the link itself. */
	}
	return strdup(path);
}

/* Create an empty temporary file next to `target`, with the mode a new file
 * would get (0666 less the umask), or the target's if it exists. */
static int temp_create(const char *target, const struct stat *old, char **name)
{
	static _Atomic unsigned long counter;
	const char *slash = strrchr(target, '/');
	size_t dirlen = slash ? (size_t)(slash - target) + 1 : 0;
	size_t len = strlen(target) + 64;
	char *t = malloc(len);
	if (t == NULL)
		return -ENOMEM;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	for (int attempt = 0; attempt < 100; attempt++) {
		unsigned long n = ++counter;
		snprintf(t, len, "%.*s.%s.tmp-%ld-%lu-%lx", (int)dirlen, target, target + dirlen,
			 (long)getpid(), n, (unsigned long)ts.tv_nsec ^ (n * 0x9e3779b9ul));
		int fd = open(t, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd >= 0) {
			if (old != NULL)
				(void)fchmod(fd, old->st_mode & 07777); /* best effort */
			*name = t;
			return fd;
		}
		if (errno != EEXIST) {
			int e = errno;
			physim_log_debug("ram_save: cannot create %s: %s", t, strerror(e));
			free(t);
			return -e;
		}
	}
	free(t);
	return -EEXIST;
}

/* Make the rename itself durable; best effort (not every file system can
 * fsync a directory). */
static void sync_dir_of(const char *target)
{
	const char *slash = strrchr(target, '/');
	char *dir = slash ? strndup(target, (size_t)(slash - target) + 1) : strdup(".");
	if (dir == NULL)
		return;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Write the whole image to the new file fd (empty, size 0). */
static int write_image(const struct physim_ram *ram, int fd, const char *name, uint8_t *trailer,
		       size_t tlen)
{
	uint64_t size = physim_ram_size(ram), sum = 0;
	const char *what = "ftruncate";
	int rc;
	/* Size first: every frame not written below stays a hole. */
	if (ftruncate(fd, (off_t)size) < 0)
		goto err;
	rc = write_frames(ram, fd, &sum);
	if (rc < 0)
		return rc;
	trailer_seal(trailer, tlen, sum);
	what = "writing trailer";
	if (pwrite_all(fd, trailer, tlen, size) < 0)
		goto err;
	what = "fsync";
	if (fsync(fd) < 0)
		goto err;
	return 0;
err:
	rc = -errno;
	physim_log_debug("ram_save: %s: %s: %s", name, what, strerror(errno));
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
	char *target = rc == 0 ? save_target(path) : NULL;
	if (rc == 0 && target == NULL)
		rc = -errno;
	struct stat st;
	bool exists = false;
	if (rc == 0 && stat(target, &st) == 0) {
		exists = true;
		/* Renaming over a device or FIFO would replace it, not write it. */
		if (!S_ISREG(st.st_mode)) {
			rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
			physim_log_debug("ram_save: %s: exists and is not a regular file", path);
		}
	}
	char *tmp = NULL;
	int fd = rc == 0 ? temp_create(target, exists ? &st : NULL, &tmp) : -1;
	if (rc == 0 && fd < 0)
		rc = fd;
	if (rc == 0)
		rc = write_image(ram, fd, path, trailer, tlen);
	if (fd >= 0 && close(fd) < 0 && rc == 0) {
		rc = -errno;
		physim_log_debug("ram_save: %s: close: %s", tmp, strerror(errno));
	}
	if (rc == 0 && rename(tmp, target) < 0) {
		rc = -errno;
		physim_log_debug("ram_save: rename %s -> %s: %s", tmp, target, strerror(errno));
	}
	if (rc == 0)
		sync_dir_of(target);
	else if (tmp != NULL)
		unlink(tmp); /* the target was never touched */
	free(tmp);
	free(target);
	free(trailer);
	return rc;
}

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
