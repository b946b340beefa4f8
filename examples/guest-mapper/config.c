/* SPDX-License-Identifier: MIT */
/* examples/guest-mapper/config.c - the VM description: a few lines of text
 * (ram / mmio / image), the built-in default, and the checks that turn a bad
 * line into one clear error message naming the file and line. */
#include "guest-mapper.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The default VM, in the syntax a --config file uses (default.cfg holds the
 * same text). */
const char vm_default_config[] =
    "# guest-mapper's default VM: 512 MiB of RAM in two regions and one device page.\n"
    "#   ram   GPA SIZE populate|lazy    guest RAM, backed now or on first touch\n"
    "#   mmio  GPA SIZE                  a device region, identity mapped (GPA == HPA)\n"
    "#   image GPA [FILE]                the guest image and its entry point\n"
    "\n"
    "ram   0x40000000  16M   populate   # boot RAM: the image and the guest's page tables\n"
    "ram   0x41000000  496M  lazy       # the rest of RAM\n"
    "mmio  0x88000000  4K               # a device's register page\n"
    "image 0x40080000                   # the built-in image\n";

#define MAX_TOKENS	 8
#define MAX_CONFIG_BYTES (1u << 20)

/* ---- error messages ---- */

/* "source:line: message" (line 0: "source: message"). Returns -EINVAL. */
static int config_error(const char *source, unsigned line, char *err, size_t errlen,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int config_error(const char *source, unsigned line, char *err, size_t errlen,
			const char *fmt, ...)
{
	int n = line ? snprintf(err, errlen, "%s:%u: ", source, line)
		     : snprintf(err, errlen, "%s: ", source);
	if (n >= 0 && (size_t)n < errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* ---- numbers ---- */

/* Decimal, or hexadecimal with 0x (a leading 0 does not mean octal). */
static int parse_u64(const char *s, uint64_t *out, char **end)
{
	bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	if (!isdigit((unsigned char)s[0]) || (hex && !isxdigit((unsigned char)s[2])))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, end, hex ? 16 : 10);
	if (errno != 0)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_address(const char *s, uint64_t *out)
{
	char *end;
	return parse_u64(s, out, &end) == 0 && *end == '\0' ? 0 : -EINVAL;
}

int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT"; /* 2^10, 2^20, 2^30, 2^40 */
	char *end;
	uint64_t v;
	if (parse_u64(s, &v, &end) != 0)
		return -EINVAL;
	const char *u = *end != '\0' ? strchr(units, toupper((unsigned char)*end)) : NULL;
	if (*end != '\0' && (u == NULL || end[1] != '\0'))
		return -EINVAL;
	unsigned shift = u ? 10 * (unsigned)(u - units + 1) : 0;
	if (v > UINT64_MAX >> shift)
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* ---- one line ---- */

struct line_ctx {
	const char *source, *dir;
	unsigned line;
	char *err;
	size_t errlen;
};

static int line_error(const struct line_ctx *lc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int line_error(const struct line_ctx *lc, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return config_error(lc->source, lc->line, lc->err, lc->errlen, "%s", msg);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Split s in place at blanks, dropping a '#' comment; returns the token
 * count, or MAX_TOKENS + 1 if there are too many. */
static size_t tokenize(char *s, char *tok[MAX_TOKENS])
{
	char *hash = strchr(s, '#');
	if (hash != NULL)
		*hash = '\0';
	size_t n = 0;
	while (*s != '\0') {
		while (is_blank(*s))
			*s++ = '\0';
		if (*s == '\0')
			break;
		if (n == MAX_TOKENS)
			return MAX_TOKENS + 1;
		tok[n++] = s;
		while (*s != '\0' && !is_blank(*s))
			s++;
	}
	return n;
}

/* A page-aligned, non-empty, non-wrapping [gpa, gpa + size). */
static int parse_range(const struct line_ctx *lc, const char *a, const char *s, uint64_t *gpa,
		       uint64_t *size)
{
	if (parse_address(a, gpa) != 0)
		return line_error(lc, "'%s' is not an address", a);
	if (parse_size(s, size) != 0)
		return line_error(lc, "'%s' is not a size (write e.g. 4096, 4K, 16M, 1G, 1T)", s);
	if (!physim_is_aligned(*gpa, PHYSIM_FRAME_SIZE))
		return line_error(lc, "%s is not 4 KiB aligned", a);
	if (*size == 0 || !physim_is_aligned(*size, PHYSIM_FRAME_SIZE))
		return line_error(lc, "size %s is not a non-zero multiple of 4 KiB", s);
	if (!physim_range_ok(*gpa, *size))
		return line_error(lc, "%s + %s wraps around the address space", a, s);
	return 0;
}

static int add_region(const struct line_ctx *lc, struct vm_config *cfg, char **tok, size_t n)
{
	bool ram = strcmp(tok[0], "ram") == 0;
	if (ram && n != 4)
		return line_error(lc, "expected: ram GPA SIZE populate|lazy");
	if (!ram && n != 3)
		return line_error(lc, "expected: mmio GPA SIZE");
	if (cfg->nregions == VM_MAX_REGIONS)
		return line_error(lc, "more than %d regions", VM_MAX_REGIONS);
	struct vm_region r = {.kind = ram ? REGION_RAM : REGION_MMIO, .line = lc->line};
	int rc = parse_range(lc, tok[1], tok[2], &r.gpa, &r.size);
	if (rc != 0)
		return rc;
	if (ram && strcmp(tok[3], "populate") != 0 && strcmp(tok[3], "lazy") != 0)
		return line_error(lc, "'%s': a ram region is 'populate' or 'lazy'", tok[3]);
	r.populate = ram && strcmp(tok[3], "populate") == 0;
	cfg->region[cfg->nregions++] = r;
	return 0;
}

static int set_image(const struct line_ctx *lc, struct vm_config *cfg, char **tok, size_t n)
{
	if (n != 2 && n != 3)
		return line_error(lc, "expected: image GPA [FILE]");
	if (cfg->image_line != 0)
		return line_error(lc, "a second image line (the first is line %u)",
				  cfg->image_line);
	if (parse_address(tok[1], &cfg->image_gpa) != 0)
		return line_error(lc, "'%s' is not an address", tok[1]);
	cfg->image_line = lc->line;
	cfg->image_path[0] = '\0';
	if (n == 3) {
		bool relative = tok[2][0] != '/' && lc->dir != NULL;
		int len = relative
			      ? snprintf(cfg->image_path, sizeof(cfg->image_path), "%s/%s", lc->dir,
					 tok[2])
			      : snprintf(cfg->image_path, sizeof(cfg->image_path), "%s", tok[2]);
		if (len < 0 || (size_t)len >= sizeof(cfg->image_path))
			return line_error(lc, "image file name too long");
	}
	return 0;
}

static int parse_line(const struct line_ctx *lc, struct vm_config *cfg, char *text)
{
	char *tok[MAX_TOKENS];
	size_t n = tokenize(text, tok);
	if (n == 0)
		return 0;
	if (n > MAX_TOKENS)
		return line_error(lc, "too many words");
	if (strcmp(tok[0], "ram") == 0 || strcmp(tok[0], "mmio") == 0)
		return add_region(lc, cfg, tok, n);
	if (strcmp(tok[0], "image") == 0)
		return set_image(lc, cfg, tok, n);
	return line_error(lc, "unknown keyword '%s' (expected ram, mmio or image)", tok[0]);
}

/* ---- whole configs ---- */

int vm_config_parse(const char *source, const char *dir, const char *text, struct vm_config *cfg,
		    char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->source, sizeof(cfg->source), "%s", source);
	struct line_ctx lc = {.source = source, .dir = dir, .err = err, .errlen = errlen};
	const char *p = text;
	while (*p != '\0') {
		size_t len = strcspn(p, "\n");
		char buf[512];
		lc.line++;
		if (len >= sizeof(buf))
			return line_error(&lc, "line too long");
		memcpy(buf, p, len);
		buf[len] = '\0';
		int rc = parse_line(&lc, cfg, buf);
		if (rc != 0)
			return rc;
		p += len + (p[len] == '\n');
	}
	bool have_ram = false;
	for (size_t i = 0; i < cfg->nregions; i++)
		have_ram |= cfg->region[i].kind == REGION_RAM;
	if (!have_ram)
		return config_error(source, 0, err, errlen, "no ram line: the VM needs RAM");
	if (cfg->image_line == 0)
		return config_error(source, 0, err, errlen,
				    "no image line: the guest needs an entry point");
	return 0;
}

/* The whole file, NUL-terminated, in a malloc'd buffer. */
static int read_text(const char *path, char **out)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	char *buf = malloc(MAX_CONFIG_BYTES + 1);
	errno = 0;
	size_t n = buf ? fread(buf, 1, MAX_CONFIG_BYTES + 1, f) : 0;
	int read_errno = errno ? errno : EIO; /* the cause (EISDIR for a directory) */
	int rc = buf == NULL		? -ENOMEM
		 : ferror(f)		? -read_errno
		 : n > MAX_CONFIG_BYTES ? -EFBIG
					: 0;
	fclose(f);
	if (rc == 0 && memchr(buf, '\0', n) != NULL)
		rc = -EINVAL;
	if (rc != 0) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

int vm_config_load(const char *path, struct vm_config *cfg, char *err, size_t errlen)
{
	char *text = NULL;
	int rc = read_text(path, &text);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
			 rc == -EINVAL ? "not a text file" : strerror(-rc));
		return -EIO;
	}
	/* Image paths in the file are relative to the file's directory. */
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	rc = vm_config_parse(path, slash ? dir : NULL, text, cfg, err, errlen);
	free(text);
	return rc;
}

/* ---- checks against the machine ---- */

static const char *kind_name(enum region_kind k)
{
	return k == REGION_RAM ? "ram" : "mmio";
}

static const struct vm_region *overlapping(const struct vm_config *cfg, size_t i)
{
	const struct vm_region *r = &cfg->region[i];
	for (size_t j = 0; j < i; j++)
		if (physim_ranges_overlap(r->gpa, r->size, cfg->region[j].gpa, cfg->region[j].size))
			return &cfg->region[j];
	return NULL;
}

static int check_region(const struct vm_config *cfg, size_t i, uint64_t gpa_limit,
			physim_hpa_t host_base, uint64_t host_size, char *err, size_t errlen)
{
	const struct vm_region *r = &cfg->region[i];
	const struct vm_region *other = overlapping(cfg, i);
	uint64_t last = r->gpa + (r->size - 1);
	if (other != NULL)
		return config_error(cfg->source, r->line, err, errlen,
				    "%s region overlaps the %s region of line %u",
				    kind_name(r->kind), kind_name(other->kind), other->line);
	if (last >= gpa_limit)
		return config_error(cfg->source, r->line, err, errlen,
				    "%s region ends at %#llx, above this VM's guest-physical "
				    "limit %#llx",
				    kind_name(r->kind), (unsigned long long)last,
				    (unsigned long long)(gpa_limit - 1));
	bool in_host = r->gpa >= host_base && last <= host_base + (host_size - 1);
	if (r->kind == REGION_MMIO && !in_host)
		return config_error(cfg->source, r->line, err, errlen,
				    "mmio region %#llx-%#llx is not in host RAM %#llx-%#llx: an "
				    "identity mapping needs GPA == HPA",
				    (unsigned long long)r->gpa, (unsigned long long)last,
				    (unsigned long long)host_base,
				    (unsigned long long)(host_base + (host_size - 1)));
	return 0;
}

/* The image must lie in one RAM region. */
static int check_image(const struct vm_config *cfg, uint64_t image_size, char *err, size_t errlen)
{
	const char *src = cfg->image_from_option ? "--image" : cfg->source;
	unsigned line = cfg->image_from_option ? 0 : cfg->image_line;
	for (size_t i = 0; i < cfg->nregions; i++) {
		const struct vm_region *r = &cfg->region[i];
		if (r->kind != REGION_RAM || cfg->image_gpa < r->gpa ||
		    cfg->image_gpa - r->gpa >= r->size)
			continue;
		if (image_size <= r->size - (cfg->image_gpa - r->gpa))
			return 0;
		return config_error(src, line, err, errlen,
				    "the image (%llu bytes at %#llx) runs past the end of the ram "
				    "region of line %u",
				    (unsigned long long)image_size,
				    (unsigned long long)cfg->image_gpa, r->line);
	}
	return config_error(src, line, err, errlen, "image address %#llx is in no ram region",
			    (unsigned long long)cfg->image_gpa);
}

/* Host RAM that must exist before the guest runs: every populated ram
 * region is backed frame by frame at once and every mmio region is claimed
 * in place, plus the stage-2 root. A config that needs more than the host
 * has is refused here, naming the line that no longer fits, instead of
 * populating gigabytes before the allocator runs dry. (The rest of the
 * stage-2 table and lazily touched pages come on top and can still run out
 * at run time: that is exit status 1.) */
static int check_host_fits(const struct vm_config *cfg, uint64_t host_size, uint64_t s2_root_bytes,
			   char *err, size_t errlen)
{
	uint64_t need = 0;
	for (size_t i = 0; i < cfg->nregions; i++) {
		const struct vm_region *r = &cfg->region[i];
		if (r->kind == REGION_RAM && !r->populate)
			continue;
		need += r->size; /* no overflow: regions are disjoint and below 2^45 */
		if (need <= host_size && s2_root_bytes <= host_size - need)
			continue;
		char sz[32], hs[32], nd[32], rb[32];
		return config_error(
		    cfg->source, r->line, err, errlen,
		    "%s region of %s does not fit in host RAM: %s %s and a %s "
		    "stage-2 root, the host has %s (use lazy, or a larger --ram-size)",
		    r->kind == REGION_RAM ? "populated ram" : "mmio", show_size(sz, r->size),
		    need == r->size ? "it needs" : "with the regions before it the VM needs",
		    show_size(nd, need), show_size(rb, s2_root_bytes), show_size(hs, host_size));
	}
	return 0;
}

int vm_config_check(const struct vm_config *cfg, uint64_t gpa_limit, uint64_t image_size,
		    physim_hpa_t host_base, uint64_t host_size, uint64_t s2_root_bytes, char *err,
		    size_t errlen)
{
	for (size_t i = 0; i < cfg->nregions; i++) {
		int rc = check_region(cfg, i, gpa_limit, host_base, host_size, err, errlen);
		if (rc != 0)
			return rc;
	}
	int rc = check_image(cfg, image_size, err, errlen);
	if (rc == 0)
		rc = check_host_fits(cfg, host_size, s2_root_bytes, err, errlen);
	return rc;
}
