/* SPDX-License-Identifier: MIT */
/* tools/physim-pt/physim-pt.c - command-line front end to physim's page-table
 * engine: list formats, build a table from a spec into a RAM image, query and
 * dump a table inside an image. Exit status: 0 success, 2 bad input, 1 the
 * host is out of memory (physim-pt.h, docs/man/physim-pt.1). */
#include "physim-pt.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage_main[] =
    "usage: physim-pt COMMAND [OPTIONS]\n"
    "       physim-pt --help | --version\n"
    "\n"
    "Build, inspect and query page tables of every format physim knows, kept in\n"
    "RAM images (the simulated RAM's raw bytes plus a trailer; see ram.h).\n"
    "\n"
    "commands:\n"
    "  formats   list the table formats and their geometry\n"
    "  build     build a table from a spec file into a new RAM image\n"
    "  query     translate virtual addresses through a table in an image\n"
    "  dump      print a table's mappings as merged ranges, or as a Graphviz graph\n"
    "  nested    translate guest addresses through a stage-1 table over a stage-2 table\n"
    "\n"
    "`physim-pt COMMAND --help` describes each command; formats, query, dump and\n"
    "nested take --json (one JSON object per line). Numbers are decimal or 0x-hex\n"
    "with an optional K, M, G or T suffix (powers of 1024): 4K, 0x200000, 1G.\n"
    "  -h, --help     this text\n"
    "  --version      print physim-pt's version and exit\n"
    "Exit status: 0 done, 2 bad input (one line on stderr says what), 1 the host\n"
    "is out of memory (it refused the simulated RAM, or the tool's own memory).\n"
    "The manual page physim-pt(1) has the details.\n";

static const char usage_formats[] =
    "usage: physim-pt formats [--format NAME] [--json]\n"
    "\n"
    "Lists every format: name, levels, input (VA) and output (PA) address bits,\n"
    "page sizes, root table size, description. With --format, also the geometry\n"
    "of each level (level 0 is the last-level table, the root is the highest).\n"
    "--json prints one JSON object per format instead.\n";

static const char usage_build[] =
    "usage: physim-pt build --format F [--ram-base B] [--ram-size S] --spec FILE --image OUT\n"
    "\n"
    "Creates a RAM (default base 0x80000000, size 1G), builds a table of format F\n"
    "in it as the spec says, saves the RAM to OUT and prints root=0x... .\n"
    "\n"
    "Spec file: one operation per line; '#' starts a comment; blank lines are fine.\n"
    "  map VA PA PAGESIZE FLAGS [replace] [arch=N]\n"
    "        one page of exactly PAGESIZE (4K, 2M, 1G, ... as the format allows);\n"
    "        arch=N gives raw leaf attribute bits (the format's arch_attr_mask)\n"
    "  region VA PA SIZE FLAGS [nohuge] [replace]\n"
    "        [VA, VA+SIZE) -> [PA, PA+SIZE) with the largest pages alignment\n"
    "        allows (nohuge: smallest pages only)\n"
    "  unmap VA           the whole page containing VA (must be mapped)\n"
    "  unmap VA SIZE      everything in [VA, VA+SIZE); huge pages partly\n"
    "                     covered are split\n"
    "  protect VA SIZE FLAGS   new flags for every page in [VA, VA+SIZE)\n"
    "  (unmap VA SIZE and protect skip holes but refuse a range with nothing\n"
    "  mapped in it, as unmap VA refuses an unmapped page)\n"
    "  write64 PA VALUE   store a raw little-endian 64-bit value at PA\n"
    "  write32 PA VALUE   the same, 32 bits\n"
    "FLAGS: letters r (read) w (write) x (execute) u (user) d (device memory)\n"
    "c (normal uncached memory), in any order, or - for none. replace: replace\n"
    "what is mapped there instead of failing.\n"
    "Every frame a write64/write32 touches is reserved before the table is\n"
    "created, so table frames never land on them. Lines run in file order.\n";

/* --json of query and nested. */
#define USAGE_JSON_OPT                                                                             \
	"  --json           one JSON object per VA: va, mapped, then pa, size, flags\n"            \
	"                   (nested: gpa) or a fault object, as physim-pt(1) describes\n"

/* The walker options query and nested share. */
#define USAGE_WALK_OPTS                                                                            \
	"  --access r|w|x   the access: read (default), write or instruction fetch\n"              \
	"  --user           a user-mode (CPL 3 / EL0 / U-mode / PLV3) access\n"                    \
	"  --ctl NAME=VALUE paging control state, repeatable: wp nxe smep smap ac pke\n"           \
	"                   ept_ad mbec wxn pan ha hd sum mxr take 0 or 1; pkru a number;\n"       \
	"                   maxphyaddr and ips a bit count (0 = default); ad=hw|fault\n"           \
	"                   (RISC-V Svadu / Svade). Defaults: everything 0 except wp=1\n"          \
	"                   and nxe=1.\n"                                                          \
	"  --update-ad      make the accessed/dirty updates the hardware would and save\n"         \
	"                   them into the image (otherwise the walk writes nothing)\n"             \
	"  --trace          before each answer, one line per descriptor the walk\n"                \
	"                   fetched: stage, level, table, entry address, value, decision\n"

static const char usage_query[] =
    "usage: physim-pt query --format F --image IMG [--ram-base B] --root R [--json]\n"
    "                       [--access r|w|x] [--user] [--ctl NAME=VALUE]... [--update-ad]\n"
    "                       [--trace] VA...\n"
    "\n"
    "For each VA prints `VA PA SIZE FLAGS` (PA of that byte, SIZE of its page,\n"
    "FLAGS as in spec files) or `VA unmapped`, or `VA fault: ...` if the walk\n"
    "meets a reserved descriptor or a table pointer outside RAM. --ram-base, if\n"
    "given, must match the image.\n"
    "\n"
    "With any of the options below the architectural walker answers instead:\n"
    "`VA PA SIZE FLAGS` with the effective permissions, or\n"
    "`VA fault KIND level=N syndrome=0xHEX` with the fault as the hardware\n"
    "reports it (level in the architecture's numbering, -1 for none; syndrome:\n"
    "x86 #PF error code, EPT exit qualification, AArch64 FSC, RISC-V scause).\n" USAGE_JSON_OPT
	USAGE_WALK_OPTS "Exit status 0 whatever the answers.\n";

static const char usage_nested[] =
    "usage: physim-pt nested --s1-format F1 --s1-root GPA --s2-format F2 --s2-root HPA\n"
    "                        --image IMG [--ram-base B] [--access r|w|x] [--user]\n"
    "                        [--ctl NAME=VALUE]... [--s2-ctl NAME=VALUE]... [--update-ad]\n"
    "                        [--trace] [--json] VA...\n"
    "\n"
    "Two-stage translation: each guest VA goes through the stage-1 table at GPA\n"
    "(format F1, its tables read through stage 2) and the result through the\n"
    "stage-2 table at HPA (format F2, in the image). Prints\n"
    "`VA PA SIZE FLAGS gpa=GPA`, or `VA fault KIND level=N syndrome=0xHEX stage=S`\n"
    "followed by ` gpa=GPA` for stage-2 faults and bus errors and ` s1ptw` when\n"
    "stage 2 faulted on a stage-1 table access. --ctl sets stage 1's controls,\n"
    "--s2-ctl stage 2's.\n" USAGE_JSON_OPT USAGE_WALK_OPTS "Exit status 0 whatever the answers.\n";

static const char usage_dump[] =
    "usage: physim-pt dump --format F --image IMG [--ram-base B] --root R [--dot | --json]\n"
    "\n"
    "Prints the mappings in address order, consecutive pages of one size with\n"
    "the same flags and contiguous physical addresses merged into one line:\n"
    "  VA_START-VA_END  SIZE  FLAGS  -> PA_START  COUNT x PAGESIZE  [A][D] [arch=N]\n"
    "FLAGS has one column per flag r w x u d c ('-' when clear); A / D mark the\n"
    "accessed / dirty bits. Lines starting with '#' are headers and totals.\n"
    "--dot prints the tree of tables as a Graphviz digraph instead: one node per\n"
    "table (level, PA, VA span), edges labelled with the entry index, a note per\n"
    "table summarising its leaves.\n"
    "--json prints one JSON object per merged range (va, end, size, flags, pa,\n"
    "pages, page_size, accessed, dirty, arch), then one with \"total\": true and\n"
    "the totals (ranges, pages, bytes, tables).\n";

/* ---- formats ---- */

static const char *page_sizes_str(uint64_t sizes, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (unsigned b = 0; b < 64; b++) {
		if ((sizes >> b & 1) == 0)
			continue;
		char s[32];
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "," : "",
				      size_str(UINT64_C(1) << b, s, sizeof(s)));
	}
	return buf;
}

static void print_levels(const struct physim_pt_format_info *in)
{
	printf("  level  VA bits  entries  table  leaf\n");
	for (unsigned l = in->levels; l-- > 0;) {
		char tb[32], pg[32];
		unsigned top = l + 1 < in->levels ? in->level[l + 1].shift : in->va_bits;
		printf("  %5u  %2u..%-2u   %7" PRIu64 "  %5s  %s\n", l, top - 1, in->level[l].shift,
		       UINT64_C(1) << in->level[l].index_bits,
		       size_str(in->level[l].table_bytes, tb, sizeof(tb)),
		       in->level[l].leaf_ok
			   ? size_str(UINT64_C(1) << in->level[l].shift, pg, sizeof(pg))
			   : "-");
	}
}

/* {"name":...,"levels":N,"va_bits":N,"pa_bits":N,"sign_extended":B,
 *  "pte_bytes":N,"stage2":B,"page_sizes":[...],"root_bytes":N,
 *  "root_align":N,"description":...} and, for --format, "level":[...]
 *  from the root down: {"level","va_high","va_low","entries","table_bytes",
 *  "leaf_size" (0 if no leaf at that level)}. */
static void format_json(const struct physim_pt_format_info *in, bool levels)
{
	fputs("{\"name\":", stdout);
	json_str(stdout, in->name);
	json_key_u64(stdout, "levels", in->levels);
	json_key_u64(stdout, "va_bits", in->va_bits);
	json_key_u64(stdout, "pa_bits", in->pa_bits);
	json_key_bool(stdout, "sign_extended", in->sign_extended);
	json_key_u64(stdout, "pte_bytes", in->pte_bytes);
	json_key_bool(stdout, "stage2", in->stage2);
	fputs(",\"page_sizes\":[", stdout);
	const char *sep = "";
	for (unsigned b = 0; b < 64; b++) {
		if (in->page_sizes >> b & 1) {
			printf("%s%" PRIu64, sep, UINT64_C(1) << b);
			sep = ",";
		}
	}
	putchar(']');
	json_key_u64(stdout, "root_bytes", in->root_bytes);
	json_key_u64(stdout, "root_align", in->root_align);
	json_key_str(stdout, "description", in->description);
	if (levels) {
		fputs(",\"level\":[", stdout);
		for (unsigned l = in->levels; l-- > 0;) {
			unsigned top = l + 1 < in->levels ? in->level[l + 1].shift : in->va_bits;
			printf("%s{\"level\":%u", l + 1 < in->levels ? "," : "", l);
			json_key_u64(stdout, "va_high", top - 1);
			json_key_u64(stdout, "va_low", in->level[l].shift);
			json_key_u64(stdout, "entries", UINT64_C(1) << in->level[l].index_bits);
			json_key_u64(stdout, "table_bytes", in->level[l].table_bytes);
			json_key_u64(stdout, "leaf_size",
				     in->level[l].leaf_ok ? UINT64_C(1) << in->level[l].shift : 0);
			putchar('}');
		}
		putchar(']');
	}
	fputs("}\n", stdout);
}

static int formats_json(const struct opts *o)
{
	struct physim_pt_format_info in;
	if (has(o, OPT_FORMAT)) {
		format_or_die(o->format, &in);
		format_json(&in, true);
		return 0;
	}
	for (size_t i = 0; i < physim_format_count(); i++) {
		physim_format_get_info(physim_format_at(i), &in);
		format_json(&in, false);
	}
	return 0;
}

static int cmd_formats(int argc, char **argv, struct opts *o)
{
	parse_opts(argc, argv, 1u << OPT_FORMAT | 1u << OPT_JSON, usage_formats, o);
	no_args(o);
	struct physim_pt_format_info in;
	if (has(o, OPT_JSON))
		return formats_json(o);
	if (has(o, OPT_FORMAT)) {
		format_or_die(o->format, &in);
		char ps[128], rb[32];
		printf("%s: %s\n", in.name, in.description);
		printf("  %u levels, VA %u bits%s, PA %u bits, %u-byte descriptors%s\n", in.levels,
		       in.va_bits, in.sign_extended ? " (sign-extended)" : "", in.pa_bits,
		       in.pte_bytes, in.stage2 ? ", stage 2" : "");
		printf("  pages %s, root %s (aligned to %" PRIu64 ")\n",
		       page_sizes_str(in.page_sizes, ps, sizeof(ps)),
		       size_str(in.root_bytes, rb, sizeof(rb)), in.root_align);
		print_levels(&in);
		return 0;
	}
	printf("%-18s %6s %3s %3s  %-20s %5s  %s\n", "NAME", "LEVELS", "VA", "PA", "PAGES", "ROOT",
	       "DESCRIPTION");
	for (size_t i = 0; i < physim_format_count(); i++) {
		physim_format_get_info(physim_format_at(i), &in);
		char ps[128], rb[32];
		printf("%-18s %6u %3u %3u  %-20s %5s  %s\n", in.name, in.levels, in.va_bits,
		       in.pa_bits, page_sizes_str(in.page_sizes, ps, sizeof(ps)),
		       size_str(in.root_bytes, rb, sizeof(rb)), in.description);
	}
	return 0;
}

/* ---- build ---- */

struct builder {
	const struct spec *spec;
	struct physim_pt_format_info info;
	struct physim_ram *ram;
	struct physim_pt *pt;
};

_Noreturn static void line_fail(const struct builder *b, const struct spec_line *l, const char *why)
{
	die("%s:%u: %s: %s", b->spec->path, l->lineno, spec_op_name(l->op), why);
}

static const char *engine_error(int rc)
{
	switch (rc) {
	case -EEXIST:
		return "something is already mapped there (add 'replace' to replace it)";
	case -ENOENT:
		return "nothing is mapped there";
	case -ENOMEM:
		return "RAM is full: no frame left for a page table";
	case -ENOTSUP:
		return "flags or arch bits the format cannot express";
	case -EINVAL:
		return "invalid address, size or alignment for this format";
	default:
		return physim_strerror(rc);
	}
}

static uint64_t ram_end(const struct builder *b)
{
	return physim_ram_base(b->ram) + physim_ram_size(b->ram); /* exclusive */
}

/* write64/write32 targets: inside RAM, naturally aligned, reserved now. */
static void reserve_raw_writes(struct builder *b)
{
	physim_hpa_t base = physim_ram_base(b->ram);
	for (size_t i = 0; i < b->spec->n; i++) {
		const struct spec_line *l = &b->spec->lines[i];
		if (l->op != SPEC_WRITE64 && l->op != SPEC_WRITE32)
			continue;
		uint64_t len = l->op == SPEC_WRITE64 ? 8 : 4;
		if (l->va < base || l->va - base >= physim_ram_size(b->ram) ||
		    len > ram_end(b) - l->va) {
			char why[128];
			snprintf(why, sizeof(why),
				 "address 0x%" PRIx64 " outside RAM [0x%" PRIx64 ", 0x%" PRIx64 ")",
				 l->va, base, ram_end(b));
			line_fail(b, l, why);
		}
		if (!physim_is_aligned(l->va, len))
			line_fail(b, l, "address not naturally aligned");
		physim_hpa_t frame = physim_align_down(l->va, PHYSIM_FRAME_SIZE);
		if (physim_ram_frame_in_use(b->ram, frame) == 1)
			continue; /* an earlier write line took it, or RAM frame 0 */
		int rc = physim_ram_alloc_at(b->ram, frame, PHYSIM_FRAME_SIZE);
		if (rc < 0)
			line_fail(b, l, physim_strerror(rc));
	}
}

static void store_le(struct builder *b, uint64_t pa, uint64_t value, unsigned len)
{
	void *p = NULL;
	physim_ram_phys_to_virt(b->ram, pa, &p);
	uint8_t *d = p;
	for (unsigned i = 0; i < len; i++)
		d[i] = (uint8_t)(value >> (8 * i));
}

/* The range [va, va + size) lies in the format's input range. */
static bool va_range_ok(const struct builder *b, uint64_t va, uint64_t size)
{
	return physim_range_ok(va, size) && va_in_range(&b->info, va) &&
	       va_in_range(&b->info, va + size - 1);
}

static bool pa_range_ok(const struct builder *b, uint64_t pa, uint64_t size)
{
	return physim_range_ok(pa, size) &&
	       (b->info.pa_bits >= 64 || (pa + size - 1) >> b->info.pa_bits == 0);
}

static uint64_t granule(const struct builder *b)
{
	return b->info.page_sizes & (~b->info.page_sizes + 1); /* lowest page size */
}

static void check_map(const struct builder *b, const struct spec_line *l)
{
	char why[160], s[32], ps[128];
	if (!physim_is_pow2(l->size) || (b->info.page_sizes & l->size) == 0) {
		snprintf(why, sizeof(why), "page size %s not supported by %s (pages: %s)",
			 size_str(l->size, s, sizeof(s)), b->info.name,
			 page_sizes_str(b->info.page_sizes, ps, sizeof(ps)));
		line_fail(b, l, why);
	}
	if (!physim_is_aligned(l->va, l->size) || !physim_is_aligned(l->pa, l->size))
		line_fail(b, l, "VA and PA must be aligned to the page size");
}

static void check_region(const struct builder *b, const struct spec_line *l, bool has_pa)
{
	uint64_t g = granule(b);
	if (!physim_is_aligned(l->va, g) || !physim_is_aligned(l->size, g) ||
	    (has_pa && !physim_is_aligned(l->pa, g))) {
		char why[96], s[32];
		snprintf(why, sizeof(why), "addresses and size must be multiples of %s",
			 size_str(g, s, sizeof(s)));
		line_fail(b, l, why);
	}
}

static void check_addresses(const struct builder *b, const struct spec_line *l)
{
	uint64_t size = l->size ? l->size : 1;
	if (!va_range_ok(b, l->va, size)) {
		char why[128];
		snprintf(why, sizeof(why), "VA range outside %s's %u-bit%s input range",
			 b->info.name, b->info.va_bits,
			 b->info.sign_extended ? " sign-extended" : "");
		line_fail(b, l, why);
	}
	if ((l->op == SPEC_MAP || l->op == SPEC_REGION) && !pa_range_ok(b, l->pa, size)) {
		char why[96];
		snprintf(why, sizeof(why), "PA range beyond %s's %u-bit output addresses",
			 b->info.name, b->info.pa_bits);
		line_fail(b, l, why);
	}
}

static int stop_at_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	(void)ctx;
	(void)m;
	return 1;
}

/* unmap VA SIZE and protect skip holes inside the range, but a range with
 * nothing mapped at all is refused, as `unmap VA` refuses an unmapped page:
 * a line that changes nothing is almost always a wrong address. */
static void require_mapping(const struct builder *b, const struct spec_line *l)
{
	int rc = physim_pt_walk(b->pt, l->va, l->size,
				&(struct physim_pt_walk_ops){.leaf = stop_at_leaf}, NULL);
	if (rc == 0) {
		char why[96];
		snprintf(why, sizeof(why), "nothing is mapped in [0x%" PRIx64 ", 0x%" PRIx64 ")",
			 l->va, l->va + l->size);
		line_fail(b, l, why);
	}
	if (rc < 0)
		line_fail(b, l, engine_error(rc));
}

static void apply_line(struct builder *b, const struct spec_line *l)
{
	int rc = 0;
	switch (l->op) {
	case SPEC_MAP:
		check_map(b, l);
		check_addresses(b, l);
		rc = physim_pt_map_ex(b->pt,
				      &(struct physim_pt_mapping){.va = l->va,
								  .pa = l->pa,
								  .size = l->size,
								  .flags = l->flags,
								  .arch = l->arch},
				      l->opts);
		break;
	case SPEC_REGION:
		check_region(b, l, true);
		check_addresses(b, l);
		rc = physim_pt_map_region(b->pt, l->va, l->pa, l->size, l->flags, l->opts);
		break;
	case SPEC_UNMAP:
		check_addresses(b, l);
		if (l->size == 0) {
			rc = physim_pt_unmap(b->pt, l->va, NULL);
		} else {
			check_region(b, l, false);
			require_mapping(b, l);
			rc = physim_pt_unmap_region(b->pt, l->va, l->size);
		}
		break;
	case SPEC_PROTECT:
		check_region(b, l, false);
		check_addresses(b, l);
		require_mapping(b, l);
		rc = physim_pt_protect_region(b->pt, l->va, l->size, l->flags);
		break;
	case SPEC_WRITE64:
	case SPEC_WRITE32:
		store_le(b, l->va, l->value, l->op == SPEC_WRITE64 ? 8 : 4);
		break;
	}
	if (rc < 0)
		line_fail(b, l, engine_error(rc));
}

static void create_ram(struct builder *b, const struct opts *o)
{
	uint64_t base = has(o, OPT_RAM_BASE) ? o->ram_base : PHYSIM_RAM_DEFAULT_BASE;
	uint64_t size = has(o, OPT_RAM_SIZE) ? o->ram_size : PHYSIM_RAM_DEFAULT_SIZE;
	if (!physim_is_aligned(base, PHYSIM_FRAME_SIZE) || size == 0 ||
	    !physim_is_aligned(size, PHYSIM_FRAME_SIZE) || !physim_range_ok(base, size))
		die("build: RAM base 0x%" PRIx64 " size 0x%" PRIx64
		    ": both must be 4K multiples, size non-zero, base + size within 64 bits",
		    base, size);
	struct physim_ram_config c = {.base = base, .base_is_zero = base == 0, .size = size};
	int rc = physim_ram_create(&c, &b->ram);
	if (rc == -ENOMEM)
		die_status(EXIT_NO_MEMORY, "build: the host refuses a RAM of 0x%" PRIx64 " bytes",
			   size);
	if (rc < 0)
		die("build: cannot create the RAM: %s", physim_strerror(rc));
}

/* Writing an output that is also an input (same device and inode, however
 * the paths are spelled) would destroy the input. */
static void refuse_output_is_input(const char *out, const char *in)
{
	struct stat a, b;
	if (stat(out, &a) == 0 && stat(in, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		die("build: --image %s is the --spec file %s: refusing to overwrite it", out, in);
}

static int cmd_build(int argc, char **argv, struct opts *o)
{
	parse_opts(argc, argv,
		   1u << OPT_FORMAT | 1u << OPT_RAM_BASE | 1u << OPT_RAM_SIZE | 1u << OPT_SPEC |
		       1u << OPT_IMAGE,
		   usage_build, o);
	no_args(o);
	require(o, OPT_FORMAT);
	require(o, OPT_SPEC);
	require(o, OPT_IMAGE);
	refuse_output_is_input(o->image, o->spec);
	struct builder b = {0};
	const struct physim_pt_format *fmt = format_or_die(o->format, &b.info);
	struct spec spec;
	spec_read(o->spec, &spec);
	b.spec = &spec;
	create_ram(&b, o);
	reserve_raw_writes(&b);
	int rc = physim_pt_create(fmt, physim_ram_paging_handler(b.ram), &b.pt);
	if (rc < 0)
		die("build: cannot create the root table: %s",
		    rc == -ENOMEM ? "RAM is full" : physim_strerror(rc));
	for (size_t i = 0; i < spec.n; i++)
		apply_line(&b, &spec.lines[i]);
	rc = physim_ram_save(b.ram, o->image);
	if (rc < 0)
		die("build: cannot write image %s: %s", o->image, strerror(-rc));
	printf("root=0x%" PRIx64 "\n", physim_pt_root(b.pt));
	physim_pt_destroy(b.pt);
	physim_ram_destroy(b.ram);
	spec_free(&spec);
	return 0;
}

/* ---- query and dump ---- */

static void open_table_opts(struct table_view *v, const struct opts *o)
{
	require(o, OPT_FORMAT);
	require(o, OPT_IMAGE);
	require(o, OPT_ROOT);
	table_open(v, o->format, o->image, has(o, OPT_RAM_BASE), o->ram_base, o->root);
}

/* Check every positional argument is an address (dies on a malformed one),
 * before anything is printed; va_arg() reads one again afterwards. Nothing
 * is allocated, so an early exit leaks nothing. */
static void check_vas(const struct opts *o)
{
	uint64_t va;
	if (o->nargs == 0)
		die("%s: missing VA (try --help)", o->cmd);
	for (int i = 0; i < o->nargs; i++) {
		int rc = parse_u64(o->args[i], &va);
		if (rc == -ERANGE)
			die("%s: VA '%s' out of range (more than 64 bits)", o->cmd, o->args[i]);
		if (rc < 0)
			die("%s: bad VA '%s' (decimal or 0x-hex, optional K/M/G/T)", o->cmd,
			    o->args[i]);
	}
}

static uint64_t va_arg_at(const struct opts *o, int i)
{
	uint64_t va = 0;
	parse_u64(o->args[i], &va);
	return va;
}

static struct physim_mmu *mmu_or_die(const char *cmd, const struct physim_mmu_config *c)
{
	struct physim_mmu *m;
	int rc = physim_mmu_create(c, &m);
	if (rc == -ENOTSUP)
		die("%s: the walker has no access rules for %s yet", cmd,
		    physim_format_name(c->format));
	if (rc < 0)
		die("%s: cannot set up the walk over %s: %s", cmd, physim_format_name(c->format),
		    physim_strerror(rc));
	return m;
}

/* Write the A/D updates back into the image (the attached table holds no
 * frame of its own, so the image keeps exactly its own frames). */
static void save_updates(const struct opts *o, const struct table_view *v)
{
	int rc = physim_ram_save(v->ram, o->image);
	if (rc < 0)
		die("%s: cannot write image %s: %s", o->cmd, o->image, strerror(-rc));
}

/* query with walker options: the architectural walk from the image's root. */
static void query_walk(const struct opts *o, struct table_view *v)
{
	struct physim_mmu_config c = {.format = v->fmt,
				      .mem = physim_ram_paging_handler(v->ram),
				      .root = v->root,
				      .ctl = o->ctl};
	struct physim_mmu *m = mmu_or_die(o->cmd, &c);
	bool update = has(o, OPT_UPDATE_AD);
	struct physim_walk_trace tr, *trp = has(o, OPT_TRACE) ? &tr : NULL;
	for (int i = 0; i < o->nargs; i++) {
		struct physim_access a = o->acc;
		struct physim_xlate x;
		a.va = va_arg_at(o, i);
		int rc;
		if (trp != NULL)
			rc = physim_mmu_trace(m, &a, update ? 0 : PHYSIM_TRACE_PROBE, &x, trp);
		else
			rc = update ? physim_mmu_translate(m, &a, &x) : physim_mmu_probe(m, &a, &x);
		if (has(o, OPT_JSON))
			print_xlate_json(a.va, rc, &x, false, trp);
		else
			print_xlate(a.va, rc, &x, false, trp);
	}
	physim_mmu_destroy(m);
	if (update)
		save_updates(o, v);
}

/* {"va":...,"mapped":true,"pa":...,"size":N,"flags":...} (pa of that byte),
 * {"va":...,"mapped":false}, or with "error" for a corrupt table. */
static void query_json(uint64_t va, int rc, const struct physim_pt_mapping *m)
{
	char f[8];
	printf("{\"va\":\"0x%" PRIx64 "\"", va);
	json_key_bool(stdout, "mapped", rc == 0);
	if (rc == 0) {
		json_key_hex(stdout, "pa", m->pa + (va - m->va));
		json_key_u64(stdout, "size", m->size);
		json_key_str(stdout, "flags", flags_str(m->flags, f));
	} else if (rc == -EFAULT) {
		json_key_str(stdout, "error", "corrupt table");
	} else if (rc != -ENOENT) {
		json_key_str(stdout, "error", physim_strerror(rc));
	}
	fputs("}\n", stdout);
}

static int cmd_query(int argc, char **argv, struct opts *o)
{
	parse_opts(argc, argv,
		   1u << OPT_FORMAT | 1u << OPT_IMAGE | 1u << OPT_RAM_BASE | 1u << OPT_ROOT |
		       1u << OPT_JSON | WALK_OPTS,
		   usage_query, o);
	/* Check every address and option before printing anything. */
	check_vas(o);
	struct table_view v;
	open_table_opts(&v, o);
	/* The walker reports an out-of-range VA as the hardware does. */
	for (int i = 0; i < o->nargs && !(o->seen & WALK_OPTS); i++)
		if (!va_in_range(&v.info, va_arg_at(o, i)))
			die("query: VA 0x%" PRIx64 " outside %s's %u-bit%s input range",
			    va_arg_at(o, i), v.info.name, v.info.va_bits,
			    v.info.sign_extended ? " sign-extended" : "");
	if (o->seen & WALK_OPTS) {
		query_walk(o, &v);
		table_close(&v);
		return 0;
	}
	for (int i = 0; i < o->nargs; i++) {
		struct physim_pt_mapping m;
		uint64_t va = va_arg_at(o, i);
		int rc = physim_pt_query(v.pt, va, &m);
		char s[32], f[8];
		if (has(o, OPT_JSON))
			query_json(va, rc, &m);
		else if (rc == 0)
			printf("0x%" PRIx64 " 0x%" PRIx64 " %s %s\n", va, m.pa + (va - m.va),
			       size_str(m.size, s, sizeof(s)), flags_str(m.flags, f));
		else if (rc == -ENOENT)
			printf("0x%" PRIx64 " unmapped\n", va);
		else if (rc == -EFAULT)
			printf("0x%" PRIx64 " fault: corrupt table (reserved descriptor or table "
			       "pointer outside RAM)\n",
			       va);
		else
			printf("0x%" PRIx64 " error: %s\n", va, physim_strerror(rc));
	}
	table_close(&v);
	return 0;
}

static int cmd_dump(int argc, char **argv, struct opts *o)
{
	parse_opts(argc, argv,
		   1u << OPT_FORMAT | 1u << OPT_IMAGE | 1u << OPT_RAM_BASE | 1u << OPT_ROOT |
		       1u << OPT_DOT | 1u << OPT_JSON,
		   usage_dump, o);
	no_args(o);
	if (has(o, OPT_DOT) && has(o, OPT_JSON))
		die("dump: --dot and --json exclude each other");
	struct table_view v;
	open_table_opts(&v, o);
	dump_table(&v, stdout,
		   has(o, OPT_DOT)    ? PHYSIM_PT_DUMP_DOT
		   : has(o, OPT_JSON) ? PHYSIM_PT_DUMP_JSON
				      : PHYSIM_PT_DUMP_TEXT);
	table_close(&v);
	return 0;
}

/* ---- nested ---- */

static int cmd_nested(int argc, char **argv, struct opts *o)
{
	parse_opts(argc, argv,
		   1u << OPT_S1_FORMAT | 1u << OPT_S1_ROOT | 1u << OPT_S2_FORMAT |
		       1u << OPT_S2_ROOT | 1u << OPT_S2_CTL | 1u << OPT_IMAGE | 1u << OPT_RAM_BASE |
		       1u << OPT_JSON | WALK_OPTS,
		   usage_nested, o);
	require(o, OPT_S1_FORMAT);
	require(o, OPT_S1_ROOT);
	require(o, OPT_S2_FORMAT);
	require(o, OPT_S2_ROOT);
	require(o, OPT_IMAGE);
	check_vas(o);
	struct physim_pt_format_info i1, i2;
	const struct physim_pt_format *f1 = format_or_die(o->s1_format, &i1);
	const struct physim_pt_format *f2 = format_or_die(o->s2_format, &i2);
	if (i1.stage2)
		die("nested: --s1-format %s is a stage-2 format", i1.name);
	if (!i2.stage2)
		die("nested: --s2-format %s is not a stage-2 format", i2.name);
	if (!physim_is_aligned(o->s1_root, i1.root_align))
		die("--s1-root 0x%" PRIx64 " not aligned: %s needs a %" PRIu64 "-byte aligned root",
		    o->s1_root, i1.name, i1.root_align);
	struct physim_ram *ram = image_open(o->image, has(o, OPT_RAM_BASE), o->ram_base);
	root_check(ram, &i2, o->s2_root, "--s2-root");
	struct physim_mmu_config c1 = {.format = f1, .root = o->s1_root, .ctl = o->ctl};
	struct physim_mmu_config c2 = {.format = f2,
				       .mem = physim_ram_paging_handler(ram),
				       .root = o->s2_root,
				       .ctl = o->s2ctl};
	struct physim_mmu *s1 = mmu_or_die(o->cmd, &c1), *s2 = mmu_or_die(o->cmd, &c2);
	bool update = has(o, OPT_UPDATE_AD);
	struct physim_walk_trace tr, *trp = has(o, OPT_TRACE) ? &tr : NULL;
	for (int i = 0; i < o->nargs; i++) {
		struct physim_access a = o->acc;
		struct physim_xlate x;
		a.va = va_arg_at(o, i);
		/* The walk works on the RAM loaded from the image, a private
		 * copy: its A/D updates reach the file only with --update-ad
		 * (and never change an x86 / EPT answer of a later VA). */
		int rc = trp != NULL ? physim_nested_trace(s1, s2, &a, 0, &x, trp)
				     : physim_nested_translate(s1, s2, &a, &x);
		if (has(o, OPT_JSON))
			print_xlate_json(a.va, rc, &x, true, trp);
		else
			print_xlate(a.va, rc, &x, true, trp);
	}
	physim_mmu_destroy(s1);
	physim_mmu_destroy(s2);
	if (update) {
		int rc = physim_ram_save(ram, o->image);
		if (rc < 0)
			die("nested: cannot write image %s: %s", o->image, strerror(-rc));
	}
	physim_ram_destroy(ram);
	return 0;
}

/* ---- main ---- */

static const struct {
	const char *name;
	int (*run)(int argc, char **argv, struct opts *o);
} commands[] = {
    {"formats", cmd_formats}, {"build", cmd_build},   {"query", cmd_query},
    {"dump", cmd_dump},	      {"nested", cmd_nested},
};

int main(int argc, char **argv)
{
	if (argc < 2)
		die("missing command (try --help)");
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0)
		return print_version();
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cmd, commands[i].name) == 0) {
			struct opts o = {.cmd = cmd};
			int rc = commands[i].run(argc - 1, argv + 1, &o);
			if (fflush(stdout) != 0 || ferror(stdout))
				die("%s: error writing output", cmd);
			return rc;
		}
	}
	die("unknown command '%s' (formats, build, query, dump, nested; try --help)", cmd);
}
