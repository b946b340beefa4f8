/* SPDX-License-Identifier: MIT */
/* examples/guest-mapper/show.c - how guest-mapper prints things: sizes,
 * mapping flags, and a ptdump of a page table (physim_pt_walk with runs of
 * contiguous, identical pages merged into one line, as Linux's ptdump does). */
#include "guest-mapper.h"

#include <string.h>

/* Exact in the largest unit that divides it ("496 MiB", "1536 MiB"), or
 * approximate in the largest unit it reaches when the exact form would
 * need more than five digits ("~896 MiB" for 917500 KiB). */
const char *show_size(char buf[static 32], uint64_t bytes)
{
	static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	unsigned exact = 0, reach = 0;
	while (exact < 4 && bytes != 0 && bytes % (UINT64_C(1024) << (10 * exact)) == 0)
		exact++;
	while (reach < 4 && bytes >> (10 * (reach + 1)) != 0)
		reach++;
	uint64_t n = bytes >> (10 * exact);
	if (n < 100000)
		snprintf(buf, 32, "%llu %s", (unsigned long long)n, unit[exact]);
	else
		snprintf(buf, 32, "~%.3g %s", (double)bytes / (double)(UINT64_C(1) << (10 * reach)),
			 unit[reach]);
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
	int in_digits, out_digits;    /* hex digits of the widest address */
	uint64_t max_in, max_out;     /* first pass: the highest addresses */
	struct physim_pt_mapping run; /* run.size: the page size */
	uint64_t npages;
	struct ptdump_totals *totals;
};

int show_hex_digits(uint64_t v)
{
	int n = 8; /* at least 32 bits, so small tables line up too */
	while (n < 16 && v >> (4 * n) != 0)
		n++;
	return n;
}

static void ptdump_flush(struct ptdump *d)
{
	if (d->npages == 0)
		return;
	uint64_t bytes = d->npages * d->run.size;
	char sz[32], pg[32], fl[32];
	fprintf(d->out, "%s%s 0x%0*llx-0x%0*llx -> %s 0x%0*llx %9s = %4llu x %-6s %s\n", d->indent,
		d->in_name, d->in_digits, (unsigned long long)d->run.va, d->in_digits,
		(unsigned long long)(d->run.va + bytes - 1), d->out_name, d->out_digits,
		(unsigned long long)d->run.pa, show_size(sz, bytes), (unsigned long long)d->npages,
		show_size(pg, d->run.size), show_flags(fl, d->run.flags));
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

static int ptdump_measure(void *ctx, const struct physim_pt_mapping *m)
{
	struct ptdump *d = ctx;
	if (m->va + (m->size - 1) > d->max_in)
		d->max_in = m->va + (m->size - 1);
	if (m->pa + (m->size - 1) > d->max_out)
		d->max_out = m->pa + (m->size - 1);
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
	/* Two walks: the first finds how wide the columns must be. */
	int rc =
	    physim_pt_walk(pt, 0, span, &(struct physim_pt_walk_ops){.leaf = ptdump_measure}, &d);
	d.in_digits = show_hex_digits(d.max_in);
	d.out_digits = show_hex_digits(d.max_out);
	if (rc == 0)
		rc = physim_pt_walk(pt, 0, span, &(struct physim_pt_walk_ops){.leaf = ptdump_leaf},
				    &d);
	ptdump_flush(&d);
	return rc;
}
