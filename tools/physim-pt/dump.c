/* SPDX-License-Identifier: MIT */
/* tools/physim-pt/dump.c - `physim-pt dump`: the library's physim_pt_dump
 * (merged ranges after Linux's ptdump, JSON lines, or a Graphviz graph) on
 * the table read from an image, and the tool's messages for its errors. */
#include "physim-pt.h"

void dump_table(struct table_view *v, FILE *out, enum physim_pt_dump_style style)
{
	int rc = physim_pt_dump(v->pt, out, &(struct physim_pt_dump_options){.style = style});
	if (rc == 0)
		return;
	fflush(out); /* what was printed before the bad entry stays */
	/* The engine reaches each table at most once, so a cycle or a table
	 * linked twice ends the walk here instead of repeating it. */
	if (rc == -EFAULT)
		die("corrupt table: a reserved descriptor, a table pointer outside RAM, or a "
		    "table reached a second time (a cycle or a shared table; dump stopped there)");
	if (rc == -EIO)
		die("dump: error writing output");
	if (rc == -ENOMEM)
		die_nomem();
	die("walking the table failed: %s", physim_strerror(rc));
}
