/* examples/guest-mapper/show.c - how guest-mapper prints things: sizes,
 * mapping flags, and a ptdump of a page table (physim_pt_walk with runs of
 * contiguous, identical pages merged into one line, as Linux's ptdump does). */
#include "guest-mapper.h"

#include <string.h>

const char *show_size(char buf[static 32], uint64_t bytes)
{
	static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	unsigned u = 0;
	while (u < 4 && bytes != 0 && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, 32, "%llu %s", (unsigned long long)bytes, unit[u]);
	return buf;
}

const char *show_flags(char buf[static 32], uint32_t flags)
{
	snprintf(buf, 32, "%c%c%c%s%s%s", flags & PHYSIM_R ? 'R' : '-',
		 flags & PHYSIM_W ? 'W' : '-', flags & PHYSIM_X ? 'X' : '-',
		 flags & PHYSIM_U ? " user" : "", flags & PHYSIM_DEVICE ? " device" : "",
		 flags & PHYSIM_UNCACHED ? " uncached" : "");
	return buf;
}

/* The run of pages being merged. */
struct ptdump {
	FILE *out;
	const char *indent, *in_name, *out_name;
	struct physim_pt_mapping run; /* run.size: the page size */
	uint64_t npages;
	struct ptdump_totals *totals;
};

static void ptdump_flush(struct ptdump *d)
{
	if (d->npages == 0)
		return;
	uint64_t bytes = d->npages * d->run.size;
	char sz[32], pg[32], fl[32];
	fprintf(d->out, "%s%s 0x%08llx-0x%08llx -> %s 0x%08llx-0x%08llx  %9s  %5llu x %-7s %s\n",
		d->indent, d->in_name, (unsigned long long)d->run.va,
		(unsigned long long)(d->run.va + bytes - 1), d->out_name,
		(unsigned long long)d->run.pa, (unsigned long long)(d->run.pa + bytes - 1),
		show_size(sz, bytes), (unsigned long long)d->npages, show_size(pg, d->run.size),
		show_flags(fl, d->run.flags));
	d->totals->lines++;
	d->totals->leaves += d->npages;
	d->totals->bytes += bytes;
	d->npages = 0;
}

/* A leaf continues the run if it follows it in both address spaces and
 * looks the same. */
static bool continues_run(const struct ptdump *d, const struct physim_pt_mapping *m)
{
	uint64_t bytes = d->npages * d->run.size;
	return d->npages > 0 && m->size == d->run.size && m->flags == d->run.flags &&
	       m->arch == d->run.arch && m->va == d->run.va + bytes && m->pa == d->run.pa + bytes;
}

static int ptdump_leaf(void *ctx, const struct physim_pt_mapping *m)
{
	struct ptdump *d = ctx;
	if (continues_run(d, m)) {
		d->npages++;
		return 0;
	}
	ptdump_flush(d);
	d->run = *m;
	d->npages = 1;
	return 0;
}

int show_ptdump(FILE *out, const struct physim_pt *pt, const char *indent, const char *in_name,
		const char *out_name, struct ptdump_totals *totals)
{
	struct physim_pt_format_info info;
	physim_format_get_info(physim_pt_format(pt), &info);
	/* The whole input range; for sign-extended formats only the lower
	 * half, which is all guest-mapper uses. */
	uint64_t span = UINT64_C(1) << (info.sign_extended ? info.va_bits - 1 : info.va_bits);
	struct ptdump d = {.out = out,
			   .indent = indent,
			   .in_name = in_name,
			   .out_name = out_name,
			   .totals = totals};
	memset(totals, 0, sizeof(*totals));
	struct physim_pt_walk_ops ops = {.leaf = ptdump_leaf};
	int rc = physim_pt_walk(pt, 0, span, &ops, &d);
	ptdump_flush(&d);
	return rc;
}
