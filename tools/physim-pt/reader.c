/* SPDX-License-Identifier: MIT */
/* tools/physim-pt/reader.c - opening a page table that lives inside a RAM
 * image, for `physim-pt query` and `physim-pt dump`. */
#include "physim-pt.h"

#include <inttypes.h>
#include <string.h>

/* The library explains a refused image in a "ram_load: " log line; keep
 * the last one so the tool's single error line can name the problem (other
 * lines, such as the loader's own RAM being torn down, are not the reason). */
static char last_log[512];

static void keep_log(void *ctx, enum physim_log_level level, const char *msg)
{
	(void)ctx;
	(void)level;
	if (strncmp(msg, "ram_load: ", strlen("ram_load: ")) == 0 || last_log[0] == '\0')
		snprintf(last_log, sizeof(last_log), "%s", msg);
}

/* "ram_load: PATH: why" -> "why" */
static const char *load_reason(const char *image)
{
	const char *p = last_log;
	size_t n = strlen("ram_load: ");
	if (strncmp(p, "ram_load: ", n) == 0 && strncmp(p + n, image, strlen(image)) == 0 &&
	    strncmp(p + n + strlen(image), ": ", 2) == 0)
		return p + n + strlen(image) + 2;
	return p[0] != '\0' ? p : "not a physim RAM image";
}

/* The image's RAM, with --ram-base checked if given; dies on bad input. */
struct physim_ram *image_open(const char *image, bool have_base, uint64_t base)
{
	struct physim_ram *ram = NULL;
	last_log[0] = '\0';
	physim_set_log(keep_log, NULL, PHYSIM_LOG_DEBUG);
	int rc = physim_ram_load(image, NULL, &ram);
	physim_set_log(NULL, NULL, PHYSIM_LOG_NONE);
	switch (rc) {
	case 0:
		break;
	case -ENOENT:
		die("cannot open image %s: no such file", image);
	case -EINVAL:
	case -EBADMSG:
		die("bad image %s: %s", image, load_reason(image));
	case -ENOMEM:
		die_status(EXIT_NO_MEMORY, "image %s: the host refuses its RAM: out of memory",
			   image);
	default:
		die("cannot read image %s: %s", image, strerror(-rc));
	}
	if (have_base && base != physim_ram_base(ram))
		die("--ram-base 0x%" PRIx64 " does not match the image's RAM base 0x%" PRIx64, base,
		    physim_ram_base(ram));
	return ram;
}

bool va_in_range(const struct physim_pt_format_info *info, uint64_t va)
{
	if (info->va_bits >= 64)
		return true;
	if (!info->sign_extended)
		return (va >> info->va_bits) == 0;
	uint64_t top = va >> (info->va_bits - 1); /* bits that must all be equal */
	return top == 0 || top == UINT64_MAX >> (info->va_bits - 1);
}

void root_check(struct physim_ram *ram, const struct physim_pt_format_info *info, uint64_t root,
		const char *what)
{
	physim_hpa_t base = physim_ram_base(ram);
	uint64_t size = physim_ram_size(ram);
	if (!physim_is_aligned(root, info->root_align))
		die("%s 0x%" PRIx64 " not aligned: %s needs a %" PRIu64 "-byte aligned root", what,
		    root, info->name, info->root_align);
	if (root < base || root - base >= size || info->root_bytes > size - (root - base))
		die("%s 0x%" PRIx64 " outside RAM [0x%" PRIx64 ", 0x%" PRIx64 ")", what, root, base,
		    base + size);
	for (uint64_t off = 0; off < info->root_bytes; off += PHYSIM_FRAME_SIZE)
		if (physim_ram_frame_in_use(ram, root + off) != 1)
			die("%s 0x%" PRIx64 " is not an allocated frame of the image", what, root);
}

/* The image's table is attached, not copied: query, walk and A/D updates act
 * on the image's own frames, and closing the view frees none of them. */
static void attach_table(struct table_view *v)
{
	struct physim_pt_config c = {.format = v->fmt, .paging = physim_ram_paging_handler(v->ram)};
	int rc = physim_pt_attach(&c, v->root, &v->pt);
	if (rc < 0) /* root_check has vouched for the root: not expected */
		die("cannot open the %s table at 0x%" PRIx64 ": %s", v->info.name, v->root,
		    physim_strerror(rc));
}

void table_open(struct table_view *v, const char *fmt_name, const char *image, bool have_base,
		uint64_t base, uint64_t root)
{
	memset(v, 0, sizeof(*v));
	v->fmt = physim_format(fmt_name);
	if (v->fmt == NULL)
		die("unknown format '%s' (see physim-pt formats)", fmt_name);
	physim_format_get_info(v->fmt, &v->info);
	v->ram = image_open(image, have_base, base);
	v->root = root;
	root_check(v->ram, &v->info, root, "root");
	attach_table(v);
}

void table_close(struct table_view *v)
{
	physim_pt_destroy(v->pt);
	physim_ram_destroy(v->ram);
	memset(v, 0, sizeof(*v));
}
