/* SPDX-License-Identifier: MIT */
/* tools/physim-pt/walk.c - the walker side of physim-pt: --ctl NAME=VALUE
 * parsing and the output lines of `query` with access options and of
 * `nested`. */
#include "physim-pt.h"

#include <inttypes.h>
#include <string.h>

/* Boolean controls: `on` says what NAME=1 means. */
struct bool_ctl {
	const char *name;
	size_t off;    /* offsetof(struct physim_mmu_ctl, field) */
	bool inverted; /* the field is "off" (wp_off, nxe_off): NAME=1 stores false */
};

#define CTL_BOOL(n, field, inv)                                                                    \
	{                                                                                          \
		n, offsetof(struct physim_mmu_ctl, field), inv                                     \
	}

static const struct bool_ctl bool_ctls[] = {
    CTL_BOOL("wp", wp_off, true),      CTL_BOOL("nxe", nxe_off, true),
    CTL_BOOL("smep", smep, false),     CTL_BOOL("smap", smap, false),
    CTL_BOOL("ac", ac, false),	       CTL_BOOL("pke", pke, false),
    CTL_BOOL("ept_ad", ept_ad, false), CTL_BOOL("mbec", mbec, false),
    CTL_BOOL("wxn", wxn, false),       CTL_BOOL("pan", pan, false),
    CTL_BOOL("ha", ha, false),	       CTL_BOOL("hd", hd, false),
    CTL_BOOL("sum", sum, false),       CTL_BOOL("mxr", mxr, false),
};

static const char ctl_names[] = "wp nxe smep smap ac pke pkru maxphyaddr ept_ad mbec wxn pan ha "
				"hd ips sum mxr ad=hw|fault";

void parse_ctl(const char *arg, struct physim_mmu_ctl *ctl)
{
	const char *eq = strchr(arg, '=');
	if (eq == NULL || eq == arg || eq[1] == '\0')
		die("bad --ctl '%s': NAME=VALUE expected (names: %s)", arg, ctl_names);
	size_t n = (size_t)(eq - arg);
	const char *val = eq + 1;

	if (n == 2 && strncmp(arg, "ad", 2) == 0) {
		/* RISC-V: hardware A/D updates (Svadu) or a fault (Svade). */
		if (strcmp(val, "hw") == 0)
			ctl->svadu = true;
		else if (strcmp(val, "fault") == 0)
			ctl->svadu = false;
		else
			die("bad --ctl '%s': ad takes hw or fault", arg);
		return;
	}
	for (size_t i = 0; i < sizeof(bool_ctls) / sizeof(bool_ctls[0]); i++) {
		if (strlen(bool_ctls[i].name) != n || strncmp(arg, bool_ctls[i].name, n) != 0)
			continue;
		if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
			die("bad --ctl '%s': %s takes 0 or 1", arg, bool_ctls[i].name);
		bool on = val[0] == '1';
		bool *field = (bool *)((char *)ctl + bool_ctls[i].off);
		*field = bool_ctls[i].inverted ? !on : on;
		return;
	}
	uint64_t v;
	bool numeric = parse_u64(val, &v) == 0;
	if (n == 4 && strncmp(arg, "pkru", 4) == 0) {
		if (!numeric || v > UINT32_MAX)
			die("bad --ctl '%s': pkru takes a 32-bit number", arg);
		ctl->pkru = (uint32_t)v;
	} else if (n == 10 && strncmp(arg, "maxphyaddr", 10) == 0) {
		if (!numeric || v > 52)
			die("bad --ctl '%s': maxphyaddr takes 0 (default 46) up to 52", arg);
		ctl->maxphyaddr = (unsigned)v;
	} else if (n == 3 && strncmp(arg, "ips", 3) == 0) {
		if (!numeric || v > 52)
			die("bad --ctl '%s': ips takes 0 (default 48) up to 52", arg);
		ctl->ips_bits = (unsigned)v;
	} else {
		die("unknown control in --ctl '%s' (names: %s)", arg, ctl_names);
	}
}

void parse_access_kind(const char *arg, struct physim_access *a)
{
	if (strcmp(arg, "r") == 0) {
		a->write = a->exec = false;
	} else if (strcmp(arg, "w") == 0) {
		a->write = true;
		a->exec = false;
	} else if (strcmp(arg, "x") == 0) {
		a->write = false;
		a->exec = true;
	} else {
		die("bad --access '%s': r, w or x", arg);
	}
}

static const char *decision_name(const struct physim_walk_trace_step *st)
{
	switch (st->decision) {
	case PHYSIM_WALK_TABLE:
		return "table";
	case PHYSIM_WALK_LEAF:
		return "leaf";
	default:
		return "fault";
	}
}

static void print_trace(const struct physim_walk_trace *tr)
{
	for (unsigned i = 0; i < tr->n; i++) {
		const struct physim_walk_trace_step *st = &tr->steps[i];
		printf("  trace stage=%u level=%d table=0x%" PRIx64 " entry=0x%" PRIx64
		       " desc=0x%" PRIx64 " %s",
		       st->stage, st->level, st->table, st->addr, st->desc, decision_name(st));
		if (st->decision == PHYSIM_WALK_FAULT)
			printf(" %s", physim_fault_kind_name((enum physim_fault_kind)st->fault));
		if (!st->fetched)
			printf(" unfetched");
		if (st->s1_table)
			printf(" s2-of-s1-table");
		if (st->ad_written)
			printf(" ad=0x%" PRIx64, st->desc_new);
		putchar('\n');
	}
	if (tr->truncated)
		printf("  trace truncated\n");
}

static void print_trace_json(const struct physim_walk_trace *tr)
{
	printf(",\"trace\":[");
	for (unsigned i = 0; i < tr->n; i++) {
		const struct physim_walk_trace_step *st = &tr->steps[i];
		printf("%s{\"stage\":%u,\"level\":%d", i ? "," : "", st->stage, st->level);
		json_key_hex(stdout, "table", st->table);
		json_key_hex(stdout, "entry", st->addr);
		json_key_hex(stdout, "desc", st->desc);
		json_key_str(stdout, "decision", decision_name(st));
		if (st->decision == PHYSIM_WALK_FAULT)
			json_key_str(stdout, "fault",
				     physim_fault_kind_name((enum physim_fault_kind)st->fault));
		json_key_bool(stdout, "s1_table", st->s1_table);
		json_key_bool(stdout, "fetched", st->fetched);
		if (st->ad_written)
			json_key_hex(stdout, "ad", st->desc_new);
		putchar('}');
	}
	putchar(']');
}

void print_xlate(uint64_t va, int rc, const struct physim_xlate *x, bool nested,
		 const struct physim_walk_trace *tr)
{
	char s[32], f[8];
	if (tr != NULL && rc != -EINVAL)
		print_trace(tr);
	if (rc == 0) {
		printf("0x%" PRIx64 " 0x%" PRIx64 " %s %s", va, x->pa,
		       size_str(x->page_size, s, sizeof(s)), flags_str(x->perms, f));
		if (nested)
			printf(" gpa=0x%" PRIx64, x->gpa);
		putchar('\n');
		return;
	}
	if (rc != -EFAULT) {
		printf("0x%" PRIx64 " error: %s\n", va, physim_strerror(rc));
		return;
	}
	const struct physim_fault *ft = &x->fault;
	printf("0x%" PRIx64 " fault %s level=%d syndrome=0x%" PRIx64, va,
	       physim_fault_kind_name(ft->kind), ft->level, ft->syndrome);
	if (nested) {
		printf(" stage=%u", ft->stage);
		if (ft->stage == 2 || ft->kind == PHYSIM_FAULT_BUS_ERROR)
			printf(" gpa=0x%" PRIx64, ft->gpa);
		if (ft->s1ptw)
			printf(" s1ptw");
	}
	putchar('\n');
}

void print_xlate_json(uint64_t va, int rc, const struct physim_xlate *x, bool nested,
		      const struct physim_walk_trace *tr)
{
	char f[8];
	printf("{\"va\":\"0x%" PRIx64 "\"", va);
	json_key_bool(stdout, "mapped", rc == 0);
	if (rc == 0) {
		json_key_hex(stdout, "pa", x->pa);
		json_key_u64(stdout, "size", x->page_size);
		json_key_str(stdout, "flags", flags_str(x->perms, f));
		if (nested)
			json_key_hex(stdout, "gpa", x->gpa);
	} else if (rc == -EFAULT) {
		const struct physim_fault *ft = &x->fault;
		printf(",\"fault\":{\"kind\":");
		json_str(stdout, physim_fault_kind_name(ft->kind));
		printf(",\"level\":%d", ft->level);
		json_key_hex(stdout, "syndrome", ft->syndrome);
		if (nested) {
			json_key_u64(stdout, "stage", ft->stage);
			if (ft->stage == 2 || ft->kind == PHYSIM_FAULT_BUS_ERROR)
				json_key_hex(stdout, "gpa", ft->gpa);
			json_key_bool(stdout, "s1ptw", ft->s1ptw);
		}
		putchar('}');
	} else {
		json_key_str(stdout, "error", physim_strerror(rc));
	}
	if (tr != NULL && rc != -EINVAL)
		print_trace_json(tr);
	fputs("}\n", stdout);
}
