/* SPDX-License-Identifier: MIT */
/* tools/physim-ab/physim-ab.c - compare two builds of libphysim.so on one
 * hot path, in one process at a time.
 *
 *   physim-ab [--procs K] [--rounds R] [--ms M] [--span MIB] CASE FORMAT[,S2FORMAT]
 *             A.so B.so
 *
 * physim-bench compares an implementation with its peers inside one binary;
 * comparing two commits means two binaries, and on a shared machine two
 * processes run seconds apart differ by more (5-15%) than the changes worth
 * measuring. So this tool loads both libraries into one process (each from a
 * private copy, dlopen RTLD_LOCAL: the same file may be given twice as a
 * control), has each walk the very same tables (built once, by the library
 * loaded first; unmap: one table each), and times batches of the case
 * alternately, A then B, then B then A. Each round gives a ratio B/A of
 * batches taken a few milliseconds apart, and a process reports the median
 * of its rounds. Where code lands in memory also moves times by a few per
 * cent, so K child processes (default 8) each load the pair afresh, half of
 * them B first, and the figure to quote is the median over the processes;
 * their spread says how far to trust it.
 *
 * Cases (every access a supervisor read; mappings of 4 KiB pages):
 *   translate  physim_mmu_translate, uniform random addresses in 1 GiB
 *   probe      physim_mmu_probe, the same addresses
 *   tlb-hit    physim_tlb_translate over 64 pages the TLB holds
 *   tlb-miss   physim_tlb_translate, the random addresses (mostly misses)
 *   nested     physim_nested_translate, FORMAT over S2FORMAT, 256 MiB
 *   unmap      physim_pt_unmap_region of 1 GiB (mapped again, untimed)
 * Times are ns per access (unmap: per 4 KiB page). --span MIB keeps the
 * random addresses in the first MIB MiB (a small span: tables in cache,
 * the code's own cost; the whole mapping: the walks' cache misses too).
 *
 * Only the public API is used, resolved by name in each library; this file
 * does not link libphysim. */

#include <physim/ram.h>
#include <physim/walk.h>

#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB	   (UINT64_C(1) << 20)
#define GIB	   (UINT64_C(1) << 30)
#define PAGE	   UINT64_C(4096)
#define VA_BASE	   (UINT64_C(1) << 37) /* 128 GiB: in the lower half from 39-bit formats up */
#define GPA_BASE   GIB
#define NADDR	   (UINT64_C(1) << 20) /* the random address sequence */
#define HIT_PAGES  64u
#define MAX_ROUNDS 1000

/* ---- the library API, resolved per copy ---- */

#define API(X)                                                                                     \
	X(physim_ram_create)                                                                       \
	X(physim_ram_destroy)                                                                      \
	X(physim_ram_base)                                                                         \
	X(physim_ram_alloc_frames)                                                                 \
	X(physim_ram_direct_map)                                                                   \
	X(physim_ram_paging_handler)                                                               \
	X(physim_format)                                                                           \
	X(physim_pt_create)                                                                        \
	X(physim_pt_destroy)                                                                       \
	X(physim_pt_root)                                                                          \
	X(physim_pt_map_region)                                                                    \
	X(physim_pt_unmap_region)                                                                  \
	X(physim_mmu_create)                                                                       \
	X(physim_mmu_destroy)                                                                      \
	X(physim_mmu_translate)                                                                    \
	X(physim_mmu_probe)                                                                        \
	X(physim_nested_translate)                                                                 \
	X(physim_tlb_create)                                                                       \
	X(physim_tlb_destroy)                                                                      \
	X(physim_tlb_translate)

struct lib {
	void *handle;
#define FIELD(name) __typeof__(&name) name;
	API(FIELD)
#undef FIELD
};

/* An error this process has named on stderr (one line), so that the
 * parent does not name it again. */
static bool reported;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("physim-ab: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	reported = true;
}

/* dlopen a private copy of path (glibc would hand back the first library
 * again for the same file), so A and B may be one file, or rebuilt while
 * this runs. */
static int lib_open(const char *path, struct lib *l)
{
	char tmp[] = "/tmp/physim-ab-XXXXXX";
	int out = -1, in = open(path, O_RDONLY | O_CLOEXEC);
	int rc = in < 0 ? -errno : 0;
	if (rc == 0 && (out = mkostemp(tmp, O_CLOEXEC)) < 0)
		rc = -errno;
	char buf[1 << 16];
	ssize_t n = 0;
	while (rc == 0 && (n = read(in, buf, sizeof(buf))) > 0) {
		ssize_t w = write(out, buf, (size_t)n);
		if (w != n)
			rc = w < 0 ? -errno : -EIO; /* a short write: the disk is full */
	}
	if (rc == 0 && n < 0)
		rc = -errno;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (rc == 0) {
		l->handle = dlopen(tmp, RTLD_NOW | RTLD_LOCAL);
		if (l->handle == NULL) {
			say("%s: %s", path, dlerror());
			rc = -ENOEXEC;
		}
	} else {
		say("%s: cannot copy: %s", path, strerror(-rc));
	}
	if (out >= 0)
		unlink(tmp);
#define RESOLVE(name)                                                                              \
	if (rc == 0 && (*(void **)&l->name = dlsym(l->handle, #name)) == NULL) {                   \
		say("%s: no symbol %s", path, #name);                                              \
		rc = -ENOENT;                                                                      \
	}
	API(RESOLVE)
#undef RESOLVE
	return rc;
}

/* ---- a world: one library's RAM, tables and walker for the case ---- */

enum kind { K_TRANSLATE, K_PROBE, K_TLB_HIT, K_TLB_MISS, K_NESTED, K_UNMAP };

static const char *const kind_names[] = {"translate", "probe",	"tlb-hit",
					 "tlb-miss",  "nested", "unmap"};

struct world {
	const struct lib *l;
	enum kind kind;
	/* The tables: built by this world's library, or those of `tables`,
	 * another world's, walked by this one's (so that both libraries read
	 * the very same memory, and only their code differs). */
	const struct world *tables;
	struct physim_ram *ram;
	struct physim_pt *pt;	 /* the table (nested: stage 2) */
	struct physim_pt *guest; /* nested: stage 1, in guest memory */
	struct physim_paging_handler gph;
	struct physim_direct_map dm;
	physim_hpa_t guest_hpa;
	uint64_t guest_size, table_next;
	struct physim_mmu *mmu, *s1;
	struct physim_tlb *tlb;
	const uint64_t *addr; /* shared by both worlds */
	uint64_t naddr, pos, sink;
};

/* Guest memory [GPA_BASE, + guest_size) is host memory from guest_hpa on. */
static void *guest_p2v(void *ctx, physim_hpa_t gpa)
{
	const struct world *w = ctx;
	if (gpa < GPA_BASE || gpa - GPA_BASE >= w->guest_size)
		return NULL;
	return physim_dm_phys_to_virt(&w->dm, w->guest_hpa + (gpa - GPA_BASE));
}

static int guest_alloc_frames(void *ctx, size_t n, uint64_t align, physim_hpa_t *gpa)
{
	struct world *w = ctx;
	uint64_t at = (w->table_next + align - 1) & ~(align - 1);
	if (at + n * PAGE > GPA_BASE + w->guest_size)
		return -ENOMEM;
	w->table_next = at + n * PAGE;
	*gpa = at;
	return 0;
}

static int guest_alloc_frame(void *ctx, physim_hpa_t *gpa)
{
	return guest_alloc_frames(ctx, 1, PAGE, gpa);
}

static int guest_dealloc_frames(void *ctx, physim_hpa_t gpa, size_t n)
{
	(void)ctx, (void)gpa, (void)n;
	return 0; /* the bump allocator's frames go with the world */
}

static int guest_dealloc_frame(void *ctx, physim_hpa_t gpa)
{
	return guest_dealloc_frames(ctx, gpa, 1);
}

static int world_nested(struct world *w, const struct physim_pt_format *f1)
{
	const struct lib *l = w->l;
	w->guest_size = 256 * MIB + 4 * MIB; /* data, then stage-1 tables */
	int rc = l->physim_ram_alloc_frames(w->ram, w->guest_size / PAGE, 2 * MIB, &w->guest_hpa);
	if (rc == 0)
		rc = l->physim_pt_map_region(w->pt, GPA_BASE, w->guest_hpa, w->guest_size,
					     PHYSIM_R | PHYSIM_W, 0);
	if (rc < 0)
		return rc;
	w->dm = l->physim_ram_direct_map(w->ram);
	w->table_next = GPA_BASE + 256 * MIB;
	w->gph = (struct physim_paging_handler){
	    .ctx = w,
	    .alloc_frame = guest_alloc_frame,
	    .alloc_frames = guest_alloc_frames,
	    .dealloc_frame = guest_dealloc_frame,
	    .dealloc_frames = guest_dealloc_frames,
	    .phys_to_virt = guest_p2v,
	};
	rc = l->physim_pt_create(f1, &w->gph, &w->guest);
	if (rc == 0)
		rc = l->physim_pt_map_region(w->guest, VA_BASE, GPA_BASE, 256 * MIB,
					     PHYSIM_R | PHYSIM_W, 0);
	return rc;
}

/* The tables of the case, in this world's library: f (nested: f1 over
 * f). */
static int world_tables(struct world *w, const struct physim_pt_format *f,
			const struct physim_pt_format *f1)
{
	const struct lib *l = w->l;
	struct physim_ram_config rc_ram = {.size = 2 * GIB};
	int rc = l->physim_ram_create(&rc_ram, &w->ram);
	if (rc == 0)
		rc = l->physim_pt_create(f, l->physim_ram_paging_handler(w->ram), &w->pt);
	if (rc == 0 && w->kind == K_NESTED)
		rc = world_nested(w, f1);
	else if (rc == 0)
		rc = l->physim_pt_map_region(w->pt, VA_BASE, l->physim_ram_base(w->ram), GIB,
					     PHYSIM_R | PHYSIM_W, 0);
	return rc;
}

/* A world of library l: its own tables, or (tables != NULL, not for
 * unmap) those of another world, which must outlive this one. */
static int world_open(struct world *w, const struct lib *l, enum kind kind, const char *fmt,
		      const char *s2fmt, const uint64_t *addr, uint64_t naddr,
		      const struct world *tables)
{
	*w = (struct world){.l = l, .kind = kind, .tables = tables, .addr = addr, .naddr = naddr};
	const char *name = kind == K_NESTED ? s2fmt : fmt;
	const struct physim_pt_format *f = l->physim_format(name);
	const struct physim_pt_format *f1 = l->physim_format(fmt);
	if (f == NULL || f1 == NULL) {
		say("no format %s in this library (or its family is not built)",
		    f1 == NULL ? fmt : name);
		return -ENOENT;
	}
	int rc = tables ? 0 : world_tables(w, f, f1);
	const struct world *t = tables ? tables : w;
	if (rc < 0)
		return rc;
	/* The tables' memory and roots, through the tables' own library. */
	struct physim_mmu_config mc = {.format = f,
				       .mem = t->l->physim_ram_paging_handler(t->ram),
				       .root = t->l->physim_pt_root(t->pt)};
	rc = l->physim_mmu_create(&mc, &w->mmu);
	if (rc == 0 && kind == K_NESTED) {
		struct physim_mmu_config c1 = {
		    .format = f1, .mem = &t->gph, .root = t->l->physim_pt_root(t->guest)};
		rc = l->physim_mmu_create(&c1, &w->s1);
	}
	if (rc == 0 && (kind == K_TLB_HIT || kind == K_TLB_MISS))
		rc = l->physim_tlb_create(NULL, &w->tlb);
	/* Translate every page once, so that no timed walk sets an A bit (and
	 * a probe meets the entries as they are after use). */
	uint64_t span = kind == K_NESTED ? 256 * MIB : GIB;
	struct physim_xlate x;
	for (uint64_t off = 0; rc == 0 && kind != K_UNMAP && off < span; off += PAGE) {
		struct physim_access acc = {.va = VA_BASE + off};
		rc = kind == K_NESTED ? l->physim_nested_translate(w->s1, w->mmu, &acc, &x)
				      : l->physim_mmu_translate(w->mmu, &acc, &x);
	}
	return rc;
}

static void world_close(struct world *w)
{
	const struct lib *l = w->l;
	if (l == NULL)
		return;
	if (w->tlb)
		l->physim_tlb_destroy(w->tlb);
	if (w->mmu)
		l->physim_mmu_destroy(w->mmu);
	if (w->s1)
		l->physim_mmu_destroy(w->s1);
	if (w->tables != NULL) {
		*w = (struct world){0};
		return; /* the tables are the other world's */
	}
	if (w->guest)
		l->physim_pt_destroy(w->guest);
	if (w->pt)
		l->physim_pt_destroy(w->pt);
	if (w->ram)
		l->physim_ram_destroy(w->ram);
	*w = (struct world){0};
}

/* One access of the case at va; the page reached goes into sink. */
static int world_step(struct world *w, uint64_t va)
{
	const struct lib *l = w->l;
	struct physim_access acc = {.va = va};
	struct physim_xlate x;
	int rc;
	switch (w->kind) {
	case K_PROBE:
		rc = l->physim_mmu_probe(w->mmu, &acc, &x);
		break;
	case K_TLB_HIT:
	case K_TLB_MISS:
		rc = l->physim_tlb_translate(w->tlb, w->mmu, &acc, &x);
		break;
	case K_NESTED:
		rc = l->physim_nested_translate(w->s1, w->mmu, &acc, &x);
		break;
	default:
		rc = l->physim_mmu_translate(w->mmu, &acc, &x);
		break;
	}
	if (rc == 0)
		w->sink += x.pa; /* x is not filled in on an error */
	return rc;
}

static double ns_between(const struct timespec *t0, const struct timespec *t1)
{
	return (double)(t1->tv_sec - t0->tv_sec) * 1e9 + (double)(t1->tv_nsec - t0->tv_nsec);
}

/* n accesses (unmap: n whole unmaps); the time of the timed part in ns. */
static int world_run(struct world *w, uint64_t n, double *ns)
{
	struct timespec t0, t1;
	double total = 0;
	int rc = 0;
	if (w->kind == K_UNMAP) {
		const struct lib *l = w->l;
		for (uint64_t i = 0; rc == 0 && i < n; i++) {
			clock_gettime(CLOCK_MONOTONIC, &t0);
			rc = l->physim_pt_unmap_region(w->pt, VA_BASE, GIB);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			total += ns_between(&t0, &t1);
			if (rc == 0)
				rc = l->physim_pt_map_region(w->pt, VA_BASE,
							     l->physim_ram_base(w->ram), GIB,
							     PHYSIM_R | PHYSIM_W, 0);
		}
		*ns = total;
		return rc;
	}
	uint64_t pos = w->pos;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t i = 0; rc == 0 && i < n; i++) {
		rc = world_step(w, w->addr[pos]);
		pos = pos + 1 == w->naddr ? 0 : pos + 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	w->pos = pos;
	*ns = ns_between(&t0, &t1);
	return rc;
}

/* ---- one process: both worlds, alternating rounds ---- */

struct opts {
	unsigned procs, rounds, ms;
	unsigned span_mib; /* random addresses in the first span_mib MiB; 0: all */
	enum kind kind;
	const char *fmt, *s2fmt, *path[2];
};

struct proc_result {
	double ns[2];  /* median ns per access, A and B */
	double ratio;  /* median over rounds of B / A */
	double min[2]; /* fastest round, A and B */
	int rc;
	bool reported; /* the process has named the error */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t *make_addresses(enum kind kind, unsigned span_mib, uint64_t *n)
{
	*n = kind == K_TLB_HIT ? HIT_PAGES : NADDR;
	uint64_t *a = malloc(*n * sizeof(*a)), s = 0x5eed;
	uint64_t span = span_mib ? span_mib * MIB : kind == K_NESTED ? 256 * MIB : GIB;
	for (uint64_t i = 0; a != NULL && i < *n; i++) {
		/* splitmix64 */
		uint64_t z = (s += UINT64_C(0x9e3779b97f4a7c15));
		z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
		z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
		z ^= z >> 31;
		a[i] = VA_BASE + (kind == K_TLB_HIT ? i * PAGE + (z & (PAGE - 1)) : z % span);
	}
	return a;
}

static void proc_run(const struct opts *o, unsigned index, struct proc_result *r)
{
	struct lib lib[2] = {0};
	struct world w[2] = {0};
	uint64_t naddr, *addr = make_addresses(o->kind, o->span_mib, &naddr);
	unsigned first = index % 2; /* half of the processes load and run B first */
	int rc = addr ? 0 : -ENOMEM;
	for (unsigned k = 0; rc == 0 && k < 2; k++)
		rc = lib_open(o->path[first ^ k], &lib[first ^ k]);
	/* The world loaded first builds the tables, the other walks them
	 * (unmap: each its own, as each changes them). */
	for (unsigned k = 0; rc == 0 && k < 2; k++)
		rc = world_open(&w[first ^ k], &lib[first ^ k], o->kind, o->fmt, o->s2fmt, addr,
				naddr, k == 1 && o->kind != K_UNMAP ? &w[first] : NULL);
	/* Batch size: about o->ms of wall time per batch (unmap: the untimed
	 * map included), from a trial on A. */
	uint64_t batch = o->kind == K_UNMAP ? 4 : 10000;
	struct timespec t0, t1;
	double t = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (rc == 0)
		rc = world_run(&w[0], batch, &t);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	t = ns_between(&t0, &t1);
	if (rc == 0 && t > 0)
		batch = (uint64_t)((double)batch * o->ms * 1e6 / t) + 1;
	double ns[2][MAX_ROUNDS], ratio[MAX_ROUNDS];
	uint64_t per = o->kind == K_UNMAP ? batch * (GIB / PAGE) : batch;
	for (unsigned i = 0; rc == 0 && i < o->rounds; i++) {
		unsigned a = (i + index) % 2;
		for (unsigned k = 0; rc == 0 && k < 2; k++) {
			double t_ns;
			rc = world_run(&w[a ^ k], batch, &t_ns);
			ns[a ^ k][i] = t_ns / (double)per;
		}
		ratio[i] = ns[1][i] / ns[0][i];
	}
	if (rc == 0) {
		for (unsigned k = 0; k < 2; k++) {
			double m = ns[k][0];
			for (unsigned i = 1; i < o->rounds; i++)
				m = ns[k][i] < m ? ns[k][i] : m;
			r->min[k] = m;
			r->ns[k] = median(ns[k], o->rounds);
		}
		r->ratio = median(ratio, o->rounds);
	}
	r->rc = rc;
	r->reported = reported;
	world_close(&w[first ^ 1]); /* the one that may use the other's tables */
	world_close(&w[first]);
	for (unsigned k = 0; k < 2; k++)
		if (lib[k].handle)
			dlclose(lib[k].handle);
	free(addr);
}

/* ---- the command line, and the processes ---- */

static void usage(FILE *to)
{
	fprintf(to,
		"usage: physim-ab [--procs K] [--rounds R] [--ms M] [--span MIB] CASE "
		"FORMAT[,S2FORMAT] A.so B.so\n"
		"  CASE: translate probe tlb-hit tlb-miss nested unmap\n"
		"  K processes (default 8), R rounds each (default 40), M ms per batch (default "
		"5),\n"
		"  random addresses in the first MIB MiB of the mapping (default all: 1024, "
		"nested 256)\n"
		"  prints per process and the median over processes of: ns per access of A and "
		"B, B/A\n");
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.procs = 8, .rounds = 40, .ms = 5};
	int i = 1;
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		unsigned *v = strcmp(argv[i], "--procs") == 0	 ? &o->procs
			      : strcmp(argv[i], "--rounds") == 0 ? &o->rounds
			      : strcmp(argv[i], "--ms") == 0	 ? &o->ms
			      : strcmp(argv[i], "--span") == 0	 ? &o->span_mib
								 : NULL;
		unsigned hi = v == &o->span_mib ? 1024 : MAX_ROUNDS;
		if (v == NULL || parse_uint(argv[i + 1], 1, hi, v) != 0) {
			fprintf(stderr, "physim-ab: bad option %s %s\n", argv[i], argv[i + 1]);
			return -EINVAL;
		}
	}
	if (argc - i != 4) {
		usage(stderr);
		return -EINVAL;
	}
	unsigned k = 0;
	while (k < sizeof(kind_names) / sizeof(kind_names[0]) && strcmp(kind_names[k], argv[i]))
		k++;
	if (k == sizeof(kind_names) / sizeof(kind_names[0])) {
		fprintf(stderr, "physim-ab: unknown case %s\n", argv[i]);
		return -EINVAL;
	}
	o->kind = (enum kind)k;
	o->fmt = argv[i + 1];
	char *comma = strchr(argv[i + 1], ',');
	if ((comma != NULL) != (o->kind == K_NESTED)) {
		fprintf(stderr, "physim-ab: %s\n",
			comma ? "only the nested case takes a stage-2 format"
			      : "the nested case needs FORMAT,S2FORMAT");
		return -EINVAL;
	}
	if (comma) {
		*comma = '\0';
		o->s2fmt = comma + 1;
	}
	if (o->kind == K_NESTED && o->span_mib > 256) {
		fprintf(stderr, "physim-ab: --span %u: the nested case maps 256 MiB\n",
			o->span_mib);
		return -EINVAL;
	}
	o->path[0] = argv[i + 2];
	o->path[1] = argv[i + 3];
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (parse_args(argc, argv, &o) != 0)
		return 2;
	double ratio[MAX_ROUNDS], ns[2][MAX_ROUNDS];
	printf("%-4s %10s %10s %8s %10s %10s\n", "proc", "A ns", "B ns", "B/A", "A best", "B best");
	for (unsigned p = 0; p < o.procs; p++) {
		/* A child per measurement: a fresh load, so fresh placement. */
		int fd[2];
		struct proc_result r = {.rc = -EIO};
		if (pipe(fd) != 0) {
			perror("physim-ab: pipe");
			return 1;
		}
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			close(fd[0]);
			proc_run(&o, p, &r);
			ssize_t wr = write(fd[1], &r, sizeof(r));
			_exit(wr == (ssize_t)sizeof(r) ? 0 : 1);
		}
		close(fd[1]);
		if (pid < 0 || read(fd[0], &r, sizeof(r)) != (ssize_t)sizeof(r))
			r.rc = -EIO;
		close(fd[0]);
		if (pid > 0)
			waitpid(pid, NULL, 0);
		if (r.rc != 0) {
			if (!r.reported)
				fprintf(stderr, "physim-ab: process %u: %s\n", p, strerror(-r.rc));
			return 1;
		}
		printf("%-4u %10.3f %10.3f %8.3f %10.3f %10.3f\n", p, r.ns[0], r.ns[1], r.ratio,
		       r.min[0], r.min[1]);
		ratio[p] = r.ratio;
		ns[0][p] = r.ns[0];
		ns[1][p] = r.ns[1];
	}
	double lo = ratio[0], hi = ratio[0];
	for (unsigned p = 1; p < o.procs; p++) {
		lo = ratio[p] < lo ? ratio[p] : lo;
		hi = ratio[p] > hi ? ratio[p] : hi;
	}
	printf("%s %s%s%s: A %.3f ns, B %.3f ns, B/A %.3f (processes %.3f-%.3f)\n",
	       kind_names[o.kind], o.fmt, o.s2fmt ? "," : "", o.s2fmt ? o.s2fmt : "",
	       median(ns[0], o.procs), median(ns[1], o.procs), median(ratio, o.procs), lo, hi);
	return 0;
}
