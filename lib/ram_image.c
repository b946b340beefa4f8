/* SPDX-License-Identifier: MIT */
/* lib/ram_image.c - saving RAM images (physim_ram_save): the RAM's raw bytes
 * written sparse, then a checksummed trailer (the format: ram-image-priv.h;
 * loading: ram_image_load.c). Built on the public RAM API only (ram.h); it
 * never looks inside struct physim_ram. */
#include "ram-image-priv.h"
#include "ram-priv.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
