/* SPDX-License-Identifier: MIT */
/* tools/physim-pt/physim-pt.h - what the parts of the physim-pt tool share:
 * error exits, number / flag syntax, the options, the spec file, and the
 * table reader. */
#ifndef PHYSIM_PT_TOOL_H
#define PHYSIM_PT_TOOL_H

#include <physim/physim.h>

#include <stdio.h>

/* Exit statuses (the manual page's EXIT STATUS says the same):
 * 2 bad input of any kind (options, spec, image, addresses, a simulated RAM
 *   too small for the tables the spec needs);
 * 1 the host is out of memory: it refused the simulated RAM the options or
 *   the image ask for, or an allocation of the tool itself. */
#define EXIT_NO_MEMORY 1
#define EXIT_BAD_INPUT 2

/* Print "physim-pt: <message>" as one line on stderr, bytes that are not
 * printable ASCII escaped as \xNN, and exit with status 2 (die) or status
 * (die_status). */
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void die_status(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Out of memory in the tool itself: exit status 1. */
_Noreturn void die_nomem(void);

void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n, size_t size);

/* A number: decimal or 0x-hex, optionally followed by one of K M G T
 * (binary: 2^10 ... 2^40, either case). 0 on success, -EINVAL if malformed,
 * -ERANGE if well-formed but it does not fit in 64 bits. */
int parse_u64(const char *s, uint64_t *out);

/* Flag letters r w x u d (device) c (uncached), each at most once, in any
 * order; "-" alone means none. 0 on success, -1 if malformed. */
int parse_flags(const char *s, uint32_t *out);

/* The present flag letters in the order rwxudc, or "-" if none (buf >= 8). */
const char *flags_str(uint32_t flags, char *buf);

/* A size for humans: the largest exact binary unit ("4K", "2M", "1G",
 * "2052K"), or plain bytes below 1 KiB or when not a multiple of 1 KiB. */
const char *size_str(uint64_t size, char *buf, size_t len);

/* ---- command-line options (options.c) ---- */

enum opt_id {
	OPT_FORMAT = 1,
	OPT_RAM_BASE,
	OPT_RAM_SIZE,
	OPT_SPEC,
	OPT_IMAGE,
	OPT_ROOT,
	OPT_DOT,
	OPT_HELP,
	OPT_ACCESS,
	OPT_USER,
	OPT_CTL,
	OPT_UPDATE_AD,
	OPT_S1_FORMAT,
	OPT_S1_ROOT,
	OPT_S2_FORMAT,
	OPT_S2_ROOT,
	OPT_S2_CTL,
	OPT_JSON,
	OPT_VERSION,
	OPT_TRACE,
	OPT_COUNT,
};

/* Options that may be given more than once. */
#define REPEATABLE (1u << OPT_CTL | 1u << OPT_S2_CTL)
/* The walker options of query and nested. */
#define WALK_OPTS                                                                                  \
	(1u << OPT_ACCESS | 1u << OPT_USER | 1u << OPT_CTL | 1u << OPT_UPDATE_AD | 1u << OPT_TRACE)

struct opts {
	const char *cmd;
	unsigned seen; /* bit per enum opt_id */
	const char *format, *spec, *image;
	uint64_t ram_base, ram_size, root;
	struct physim_access acc;	  /* --access, --user (va set per address) */
	struct physim_mmu_ctl ctl, s2ctl; /* --ctl, --s2-ctl */
	const char *s1_format, *s2_format;
	uint64_t s1_root, s2_root;
	char **args; /* positional arguments */
	int nargs;
};

static inline bool has(const struct opts *o, enum opt_id id)
{
	return (o->seen & (1u << id)) != 0;
}

/* Print the version line; 0. */
int print_version(void);

/* Parse argv (after the command) allowing the options in `allowed`: --help
 * prints `usage` and exits 0, anything not allowed or malformed dies. */
void parse_opts(int argc, char **argv, unsigned allowed, const char *usage, struct opts *o);

/* Die unless option `id` was given / unless there are no positional
 * arguments. */
void require(const struct opts *o, enum opt_id id);
void no_args(const struct opts *o);

/* The named format and its facts, or die. */
const struct physim_pt_format *format_or_die(const char *name, struct physim_pt_format_info *info);

/* ---- spec files (spec.c) ---- */

enum spec_op {
	SPEC_MAP,     /* map VA PA PAGESIZE FLAGS [replace] [arch=N] */
	SPEC_REGION,  /* region VA PA SIZE FLAGS [nohuge] [replace] */
	SPEC_UNMAP,   /* unmap VA | unmap VA SIZE */
	SPEC_PROTECT, /* protect VA SIZE FLAGS */
	SPEC_WRITE64, /* write64 PA VALUE */
	SPEC_WRITE32, /* write32 PA VALUE */
};

struct spec_line {
	enum spec_op op;
	unsigned lineno;
	uint64_t va; /* PA for write64/write32 */
	uint64_t pa;
	uint64_t size; /* page size (map), region size, 0 = single page (unmap) */
	uint32_t flags;
	unsigned opts;	/* PHYSIM_ALLOW_HUGE / PHYSIM_REPLACE */
	uint64_t arch;	/* map: raw arch attribute bits */
	uint64_t value; /* write64/write32 */
};

struct spec {
	const char *path;
	struct spec_line *lines;
	size_t n, cap;
};

/* Parse a whole spec file; a malformed line is fatal ("FILE:LINE: why"). */
void spec_read(const char *path, struct spec *out);
void spec_free(struct spec *s);
const char *spec_op_name(enum spec_op op);

/* ---- reading a table out of an image (reader.c) ---- */

struct table_view {
	struct physim_ram *ram;
	const struct physim_pt_format *fmt;
	struct physim_pt_format_info info;
	struct physim_pt *pt; /* attached at root: owns none of the image's frames */
	physim_hpa_t root;
};

/* Load the image, check the root and attach the table at it; dies on bad
 * input. */
void table_open(struct table_view *v, const char *fmt_name, const char *image, bool have_base,
		uint64_t base, uint64_t root);
void table_close(struct table_view *v);

/* Does va lie in the format's input range (sign extension included)? */
bool va_in_range(const struct physim_pt_format_info *info, uint64_t va);

/* Load only the image (for `nested`, whose roots are checked separately);
 * --ram-base must match if given. Dies on bad input. */
struct physim_ram *image_open(const char *image, bool have_base, uint64_t base);

/* Check that a table of info's format can have its root at `root` in ram:
 * aligned, inside RAM, allocated. Dies with `what` in the message if not. */
void root_check(struct physim_ram *ram, const struct physim_pt_format_info *info, uint64_t root,
		const char *what);

/* ---- walker options and output (walk.c) ---- */

/* --ctl NAME=VALUE into ctl; dies on a bad name or value. */
void parse_ctl(const char *arg, struct physim_mmu_ctl *ctl);
/* --access r|w|x into a; dies on anything else. */
void parse_access_kind(const char *arg, struct physim_access *a);
/* `VA PA SIZE FLAGS` (nested: ` gpa=GPA`), or `VA fault KIND level=N
 * syndrome=0xHEX` (nested: ` stage=S`, ` gpa=GPA` for stage-2 faults and
 * bus errors, ` s1ptw`). */
/* With a trace (else NULL), first one line per step:
 * `  trace stage=S level=N table=0xT entry=0xE desc=0xD table|leaf|fault KIND`
 * (` s2-of-s1-table` for stage 2 on a stage-1 table entry, ` ad=0xNEW` when
 * an A/D update was written, ` unfetched` for a fault with nothing read). */
void print_xlate(uint64_t va, int rc, const struct physim_xlate *x, bool nested,
		 const struct physim_walk_trace *tr);
/* The same answer as one JSON object: {"va", "mapped", then "pa", "size",
 * "flags" (nested: "gpa") or "fault": {"kind", "level", "syndrome"
 * (nested: "stage", "gpa", "s1ptw")}, or "error"}. */
/* With a trace: a "trace" array of {"stage", "level", "table", "entry",
 * "desc", "decision" (table/leaf/fault), "fault", "s1_table", "fetched",
 * "ad" (the value written, if any)} after the rest. */
void print_xlate_json(uint64_t va, int rc, const struct physim_xlate *x, bool nested,
		      const struct physim_walk_trace *tr);

/* ---- dump.c ---- */

/* physim_pt_dump of the whole table in the given style; dies on an error
 * (a corrupt table: what came before it stays printed). */
void dump_table(struct table_view *v, FILE *out, enum physim_pt_dump_style style);

/* ---- --json output (json.c) ----
 * Each line is one object. Addresses are strings "0x..." (exact whatever
 * the reader's number type), sizes and counts plain numbers. The first key
 * of an object is written by the caller ({"va":...); the json_key_*
 * helpers add ,"key":value after it. */
void json_str(FILE *out, const char *s);
void json_key_str(FILE *out, const char *key, const char *value);
void json_key_hex(FILE *out, const char *key, uint64_t value);
void json_key_u64(FILE *out, const char *key, uint64_t value);
void json_key_bool(FILE *out, const char *key, bool value);

#endif
