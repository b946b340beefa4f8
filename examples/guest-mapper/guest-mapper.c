/* SPDX-License-Identifier: MIT */
/* examples/guest-mapper - physim's main example: the memory of one virtual
 * machine, built on simulated host RAM and used the way a hypervisor uses it.
 *
 * A hypervisor gives each VM its own guest-physical address space: a second
 * page table (Intel EPT, Arm stage 2, RISC-V G-stage) that the MMU walks
 * after the guest's own table, mapping guest-physical addresses (GPAs) to
 * host-physical ones (HPAs). The guest kernel meanwhile builds its own
 * (stage-1) table in its own memory, mapping guest-virtual addresses (GVAs)
 * to GPAs, and never sees an HPA. This program does all of it, in steps:
 *
 *   vm.c      the host, the VM's memory map (stage 2), the guest image, the
 *             guest's page table built inside guest memory, and the teardown;
 *   vcpu.c    a virtual CPU using them: nested translations, nested page
 *             faults handled as a hypervisor's exit handler does, the
 *             hypervisor's own accesses to guest memory, a TLB, dirty logging,
 *             a ptdump of the stage-2 table and the statistics;
 *   guest-paging.c  the PagingHandler that puts the guest's table in guest memory;
 *   config.c  the VM description (default.cfg shows the syntax);
 *   show.c    printing.
 *
 * This file: the architectures, the command line and the order of the steps. */
#include "guest-mapper.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- the architectures ----
 * The guest's format and the VM's stage-2 format of each; control state
 * as a hypervisor would set it up. */
static const struct arch arches[] = {
    {
	.name = "x86_64",
	.stage2_format = "ept-4l",
	.stage2_name = "EPT",
	.stage2_root = "EPTP",
	.stage1_format = "x86_64-4l",
	.stage1_root = "CR3",
	/* EPTP bit 6: the CPU sets accessed/dirty bits in EPT entries
	 * (SDM Vol. 3C 29.3.5), which the dirty log harvests. */
	.s2_ctl = {.ept_ad = true},
	.hw_dirty = true,
	.levels = "x86 numbering, PML4 = 4 ... PT = 1",
	.s1_fault = "#PF, syndrome = its error code",
	.s2_fault = "EPT violation, syndrome = exit qualification",
	.code = {0xf4, 0xeb, 0xfd},
	.code_len = 3,
	.code_text = "1: hlt; jmp 1b",
    },
    {
	.name = "aarch64",
	.stage2_format = "aarch64-s2-4k-40",
	.stage2_name = "stage 2",
	.stage2_root = "VTTBR_EL2",
	.stage1_format = "aarch64-4k-48",
	.stage1_root = "TTBR0_EL1",
	.levels = "Arm lookup levels, 0 ... 3",
	.s1_fault = "abort to EL1, syndrome = ESR_EL1 FSC",
	.s2_fault = "stage-2 abort to EL2, syndrome = ESR_EL2 FSC",
	.code = {0x7f, 0x20, 0x03, 0xd5, 0xff, 0xff, 0xff, 0x17},
	.code_len = 8,
	.code_text = "1: wfi; b 1b",
    },
    {
	.name = "riscv64",
	.stage2_format = "sv48x4",
	.stage2_name = "G-stage",
	.stage2_root = "hgatp",
	.stage1_format = "sv48",
	.stage1_root = "vsatp",
	.levels = "RISC-V numbering, 3 ... 0",
	.s1_fault = "page fault, syndrome = scause 12/13/15",
	.s2_fault = "guest-page fault, syndrome = scause 20/21/23",
	.code = {0x73, 0x00, 0x50, 0x10, 0x6f, 0xf0, 0xdf, 0xff},
	.code_len = 8,
	.code_text = "1: wfi; j 1b",
    },
};

#define DEFAULT_RAM_SIZE (UINT64_C(2) << 30)
#define MAX_RAM_SIZE	 (UINT64_C(1) << 40)
#define MAX_IMAGE_BYTES	 (UINT64_C(64) << 20)

/* ---- output ---- */

void say(const struct machine *m, const char *fmt, ...)
{
	if (m->quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

int fail(const char *what, int rc)
{
	fprintf(stderr, "guest-mapper: %s: %s\n", what, physim_strerror(rc));
	return rc < 0 ? rc : -EINVAL;
}

/* ---- the command line ---- */

struct options {
	const char *config; /* NULL: the built-in config */
	const char *image;  /* NULL: as the config says */
	bool help, version;
};

static const char usage[] =
    "usage: guest-mapper [--arch x86_64|aarch64|riscv64] [--ram-size SIZE] [--config FILE]\n"
    "                    [--image FILE] [--quiet] [--skip-shootdown]\n"
    "       guest-mapper -h | --help | --version\n"
    "\n"
    "Builds the memory of one VM on simulated host RAM - RAM regions, an identity-\n"
    "mapped device region, a guest image and the guest's own page table inside guest\n"
    "memory - then runs nested translations, nested page faults, guest memory\n"
    "accesses, a TLB and dirty logging on it, unmaps a page under two vCPUs with\n"
    "the architecture's shootdown, tears it all down and proves that every frame\n"
    "came back.\n"
    "\n"
    "  --arch ARCH    x86_64 (EPT under x86-64 paging; the default), aarch64 (stage 2\n"
    "                 under VMSAv8-64 stage 1) or riscv64 (Sv48x4 G-stage under Sv48)\n"
    "  --ram-size SIZE  host RAM at 0x80000000: a multiple of 4K from 4K to 1T,\n"
    "                 decimal or 0x-hex with a K, M, G or T suffix (default 2G);\n"
    "                 --ram is an old spelling of it\n"
    "  --config FILE  the VM's regions (default: built in; default.cfg shows it):\n"
    "                   ram   GPA SIZE populate|lazy\n"
    "                   mmio  GPA SIZE\n"
    "                   image GPA [FILE]\n"
    "                 and # comments\n"
    "  --image FILE   load FILE as the guest image instead of the configured one\n"
    "  --quiet        print only errors and the final verdict\n"
    "  --skip-shootdown  plant a bug: the hypervisor's unmap on two vCPUs invalidates\n"
    "                 only the vCPU it runs on; physim reports the other's stale entry\n"
    "  -h, --help     this text\n"
    "  --version      print guest-mapper's version and exit\n"
    "\n"
    "The whole configuration is checked before anything is built: a region that\n"
    "cannot be placed, or populated RAM the host RAM cannot hold, is refused at\n"
    "once with the file and line.\n"
    "Exit status: 0 success, 1 a step failed or a frame leaked, 2 bad option or config.\n";

static int bad_option(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line naming what is wrong; exit status 2. */
static int bad_option(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("guest-mapper: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (try --help)\n", stderr);
	va_end(ap);
	return EXIT_BAD_INPUT;
}

static const struct arch *find_arch(const char *name)
{
	for (size_t i = 0; i < sizeof(arches) / sizeof(arches[0]); i++)
		if (strcmp(arches[i].name, name) == 0)
			return &arches[i];
	return NULL;
}

/* Apply one option that takes a value. */
static int option_value(struct machine *m, struct options *o, const char *name, const char *v)
{
	if (strcmp(name, "--arch") == 0) {
		m->arch = find_arch(v);
		return m->arch ? EXIT_OK : bad_option("--arch: unknown architecture '%s'", v);
	}
	if (strcmp(name, "--ram-size") == 0 || strcmp(name, "--ram") == 0) {
		if (parse_size(v, &m->ram_size) != 0 || m->ram_size == 0 ||
		    m->ram_size > MAX_RAM_SIZE ||
		    !physim_is_aligned(m->ram_size, PHYSIM_FRAME_SIZE))
			return bad_option("%s: '%s' is not a multiple of 4K from 4K to 1T", name,
					  v);
		return EXIT_OK;
	}
	if (strcmp(name, "--config") == 0)
		o->config = v;
	else
		o->image = v;
	return EXIT_OK;
}

static bool takes_value(const char *name)
{
	return strcmp(name, "--arch") == 0 || strcmp(name, "--ram-size") == 0 ||
	       strcmp(name, "--ram") == 0 || strcmp(name, "--config") == 0 ||
	       strcmp(name, "--image") == 0;
}

/* "--name value" and "--name=value". */
static int parse_options(int argc, char **argv, struct machine *m, struct options *o)
{
	for (int i = 1; i < argc; i++) {
		char name[32];
		const char *eq = strchr(argv[i], '=');
		size_t len = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
		snprintf(name, sizeof(name), "%.*s", (int)(len < 31 ? len : 31), argv[i]);
		if (strcmp(argv[i], "--quiet") == 0) {
			m->quiet = true;
		} else if (strcmp(argv[i], "--skip-shootdown") == 0) {
			m->skip_shootdown = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			o->help = true;
		} else if (strcmp(argv[i], "--version") == 0) {
			o->version = true;
		} else if (takes_value(name) && len == strlen(name)) {
			const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (v == NULL)
				return bad_option("%s needs a value", name);
			int rc = option_value(m, o, name, v);
			if (rc != EXIT_OK)
				return rc;
		} else {
			return bad_option("unknown option '%s'", argv[i]);
		}
	}
	return EXIT_OK;
}

/* ---- the VM description and the image ---- */

/* Two pages: the arch's halt loop at the entry point, then a data page
 * with a greeting the demonstration reads back. */
#define BUILTIN_DATA_OFFSET PHYSIM_FRAME_SIZE
static const char builtin_greeting[] = "hello from guest memory";

static uint8_t *builtin_image(const struct arch *a, size_t *size)
{
	uint8_t *img = calloc(1, 2 * PHYSIM_FRAME_SIZE);
	if (img != NULL) {
		memcpy(img, a->code, a->code_len);
		memcpy(img + BUILTIN_DATA_OFFSET, builtin_greeting, sizeof(builtin_greeting));
		*size = 2 * PHYSIM_FRAME_SIZE;
	}
	return img;
}

/* A whole file in a malloc'd buffer, or NULL and *why. */
static uint8_t *read_file(const char *path, size_t *size, const char **why)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		*why = strerror(errno);
		return NULL;
	}
	uint8_t *buf = malloc(MAX_IMAGE_BYTES + 1);
	errno = 0;
	size_t n = buf ? fread(buf, 1, MAX_IMAGE_BYTES + 1, f) : 0;
	const char *read_error = strerror(errno ? errno : EIO); /* EISDIR, EIO, ... */
	*why = buf == NULL	     ? "out of memory"
	       : ferror(f)	     ? read_error
	       : n == 0		     ? "empty file"
	       : n > MAX_IMAGE_BYTES ? "larger than 64 MiB"
				     : NULL;
	fclose(f);
	if (*why != NULL) {
		free(buf);
		return NULL;
	}
	*size = n;
	return buf;
}

/* The guest image: built in, or the file the config's image line or
 * --image names (an error names whichever it was). */
static int load_image(struct machine *m, char *err, size_t errlen)
{
	const struct vm_config *c = &m->cfg;
	if (c->image_path[0] == '\0') {
		m->image = builtin_image(m->arch, &m->image_size);
		m->image_builtin = true;
		return m->image ? 0 : -ENOMEM;
	}
	const char *why;
	m->image = read_file(c->image_path, &m->image_size, &why);
	if (m->image != NULL)
		return 0;
	if (c->image_from_option)
		snprintf(err, errlen, "--image %.256s: %s", c->image_path, why);
	else
		snprintf(err, errlen, "%.256s:%u: image %.256s: %s", c->source, c->image_line,
			 c->image_path, why);
	return -EIO;
}

/* The VM's guest-physical addresses end where the stage-2 format's input
 * range does, or where the guest's direct map of its RAM would not fit. */
static uint64_t gpa_limit(const struct machine *m)
{
	unsigned bits = m->s2_info.va_bits;
	uint64_t limit = bits < 64 ? UINT64_C(1) << bits : UINT64_MAX;
	return limit < GPA_LIMIT ? limit : GPA_LIMIT;
}

/* The config, the image and the checks that need the machine: any error
 * is the user's input, reported in one line. */
static int load_vm_description(struct machine *m, const struct options *o)
{
	const struct physim_pt_format *f1 = physim_format(m->arch->stage1_format);
	const struct physim_pt_format *f2 = physim_format(m->arch->stage2_format);
	if (f1 == NULL || f2 == NULL)
		return bad_option("--arch %s: this physim was built without its formats "
				  "(meson option archs)",
				  m->arch->name);
	physim_format_get_info(f1, &m->s1_info);
	physim_format_get_info(f2, &m->s2_info);
	char err[1024];
	int rc = o->config ? vm_config_load(o->config, &m->cfg, err, sizeof(err))
			   : vm_config_parse("built-in config", NULL, vm_default_config, &m->cfg,
					     err, sizeof(err));
	if (rc == 0 && o->image != NULL) {
		snprintf(m->cfg.image_path, sizeof(m->cfg.image_path), "%s", o->image);
		m->cfg.image_from_option = true;
	}
	if (rc == 0)
		rc = load_image(m, err, sizeof(err));
	if (rc == 0)
		rc = vm_config_check(&m->cfg, gpa_limit(m), m->image_size, PHYSIM_RAM_DEFAULT_BASE,
				     m->ram_size, m->s2_info.root_bytes, err, sizeof(err));
	if (rc == -ENOMEM)
		snprintf(err, sizeof(err), "out of memory");
	if (rc != 0)
		fprintf(stderr, "guest-mapper: %s\n", err);
	return rc == 0 ? EXIT_OK : EXIT_BAD_INPUT;
}

/* ---- the steps ---- */

static const struct step {
	const char *title;
	int (*run)(struct machine *m);
} steps[] = {
    {"The host: simulated RAM and its HALs", step_host},
    {"The VM's memory map: its stage-2 table", step_vm},
    {"The guest image", step_image},
    {"The guest's own page table, built inside guest memory", step_guest_table},
    {"The guest runs: nested translations and nested page faults", step_vcpu},
    {"The hypervisor reads and writes guest memory", step_accessor},
    {"The vCPU's TLB", step_tlb},
    {"Dirty pages since logging began", step_dirty_log},
    {"The stage-2 table, page by page (ptdump)", step_stage2_dump},
    {"Statistics", step_statistics},
    {"Two vCPUs: the hypervisor's unmap and its shootdown", step_shootdown},
};

static void print_header(const struct machine *m)
{
	const struct arch *a = m->arch;
	say(m, "guest-mapper: one VM's memory, built and used on simulated RAM\n");
	say(m, "  architecture   %s\n", a->name);
	say(m, "  guest's table  %s, its root in %s\n", a->stage1_format, a->stage1_root);
	say(m, "  VM's table     %s (%s), its root in %s\n", a->stage2_format, a->stage2_name,
	    a->stage2_root);
	say(m, "  configuration  %s%s\n", m->cfg.source,
	    strcmp(m->cfg.source, "built-in config") == 0 ? " (as in default.cfg)" : "");
}

/* Every step in order, then the teardown, which runs whatever happened;
 * the verdict is the last line, --quiet or not. */
static int run(struct machine *m)
{
	const size_t nsteps = sizeof(steps) / sizeof(steps[0]);
	print_header(m);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < nsteps; i++) {
		say(m, "\n%zu. %s\n", i + 1, steps[i].title);
		rc = steps[i].run(m);
	}
	say(m, "\n%zu. Teardown\n", nsteps + 1);
	int clean = step_teardown(m);
	if (rc == 0 && clean == 0)
		printf(
		    "guest-mapper: OK - %s VM built, used and torn down; every frame came back\n",
		    m->arch->name);
	else
		printf("guest-mapper: FAILED - %s\n",
		       clean != 0 ? "frames did not all come back" : "a step failed (see above)");
	return rc == 0 && clean == 0 ? EXIT_OK : EXIT_FAILED;
}

int main(int argc, char **argv)
{
	struct machine m = {.arch = &arches[0], .ram_size = DEFAULT_RAM_SIZE};
	struct options o = {0};
	int status = parse_options(argc, argv, &m, &o);
	if (status == EXIT_OK && o.help) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	if (status == EXIT_OK && o.version) {
		printf("guest-mapper (physim) %s\n", physim_version());
		return EXIT_OK;
	}
	if (status == EXIT_OK)
		status = load_vm_description(&m, &o);
	if (status == EXIT_OK)
		status = run(&m);
	free(m.image);
	return status;
}
