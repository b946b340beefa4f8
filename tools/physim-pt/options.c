/* SPDX-License-Identifier: MIT */
/* tools/physim-pt/options.c - physim-pt's command-line options: the long
 * option table and parsing them into struct opts (physim-pt.h). */
#include "physim-pt.h"

#include <getopt.h>
#include <stdlib.h>

static const struct option long_opts[] = {
    {"format", required_argument, NULL, OPT_FORMAT},
    {"ram-base", required_argument, NULL, OPT_RAM_BASE},
    {"ram-size", required_argument, NULL, OPT_RAM_SIZE},
    {"spec", required_argument, NULL, OPT_SPEC},
    {"image", required_argument, NULL, OPT_IMAGE},
    {"root", required_argument, NULL, OPT_ROOT},
    {"dot", no_argument, NULL, OPT_DOT},
    {"help", no_argument, NULL, OPT_HELP},
    {"access", required_argument, NULL, OPT_ACCESS},
    {"user", no_argument, NULL, OPT_USER},
    {"ctl", required_argument, NULL, OPT_CTL},
    {"update-ad", no_argument, NULL, OPT_UPDATE_AD},
    {"s1-format", required_argument, NULL, OPT_S1_FORMAT},
    {"s1-root", required_argument, NULL, OPT_S1_ROOT},
    {"s2-format", required_argument, NULL, OPT_S2_FORMAT},
    {"s2-root", required_argument, NULL, OPT_S2_ROOT},
    {"s2-ctl", required_argument, NULL, OPT_S2_CTL},
    {"json", no_argument, NULL, OPT_JSON},
    {"version", no_argument, NULL, OPT_VERSION},
    {"trace", no_argument, NULL, OPT_TRACE},
    {NULL, 0, NULL, 0},
};

static const char *opt_name(enum opt_id id)
{
	return long_opts[id - 1].name;
}

static uint64_t opt_number(enum opt_id id, const char *arg)
{
	uint64_t v;
	int rc = parse_u64(arg, &v);
	if (rc == -ERANGE)
		die("--%s value '%s' out of range (more than 64 bits)", opt_name(id), arg);
	if (rc < 0)
		die("bad --%s value '%s' (decimal or 0x-hex, optional K/M/G/T)", opt_name(id), arg);
	return v;
}

int print_version(void)
{
	printf("physim-pt (physim) %s\n", physim_version());
	return 0;
}

/* Parse argv (after the command) allowing the options in `allowed`. */
void parse_opts(int argc, char **argv, unsigned allowed, const char *usage, struct opts *o)
{
	opterr = 0;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		if (c == 'h')
			c = OPT_HELP;
		if (c == '?')
			die("%s: unknown option '%s' (try --help)", o->cmd, argv[optind - 1]);
		if (c == ':')
			die("%s: option '%s' needs a value", o->cmd, argv[optind - 1]);
		if (c == OPT_HELP) {
			fputs(usage, stdout);
			exit(0);
		}
		if (c == OPT_VERSION)
			exit(print_version());
		if ((allowed & (1u << c)) == 0)
			die("%s: option --%s does not apply here (try --help)", o->cmd,
			    opt_name((enum opt_id)c));
		if (has(o, (enum opt_id)c) && !(REPEATABLE & (1u << c)))
			die("%s: option --%s given twice", o->cmd, opt_name((enum opt_id)c));
		o->seen |= 1u << c;
		switch (c) {
		case OPT_FORMAT:
			o->format = optarg;
			break;
		case OPT_SPEC:
			o->spec = optarg;
			break;
		case OPT_IMAGE:
			o->image = optarg;
			break;
		case OPT_RAM_BASE:
			o->ram_base = opt_number(OPT_RAM_BASE, optarg);
			break;
		case OPT_RAM_SIZE:
			o->ram_size = opt_number(OPT_RAM_SIZE, optarg);
			break;
		case OPT_ROOT:
			o->root = opt_number(OPT_ROOT, optarg);
			break;
		case OPT_ACCESS:
			parse_access_kind(optarg, &o->acc);
			break;
		case OPT_USER:
			o->acc.user = true;
			break;
		case OPT_CTL:
			parse_ctl(optarg, &o->ctl);
			break;
		case OPT_S2_CTL:
			parse_ctl(optarg, &o->s2ctl);
			break;
		case OPT_S1_FORMAT:
			o->s1_format = optarg;
			break;
		case OPT_S2_FORMAT:
			o->s2_format = optarg;
			break;
		case OPT_S1_ROOT:
			o->s1_root = opt_number(OPT_S1_ROOT, optarg);
			break;
		case OPT_S2_ROOT:
			o->s2_root = opt_number(OPT_S2_ROOT, optarg);
			break;
		default:
			break;
		}
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
}

void require(const struct opts *o, enum opt_id id)
{
	if (!has(o, id))
		die("%s: missing option --%s (try --help)", o->cmd, opt_name(id));
}

void no_args(const struct opts *o)
{
	if (o->nargs > 0)
		die("%s: unexpected argument '%s' (try --help)", o->cmd, o->args[0]);
}

const struct physim_pt_format *format_or_die(const char *name, struct physim_pt_format_info *info)
{
	const struct physim_pt_format *f = physim_format(name);
	if (f == NULL)
		die("unknown format '%s' (see physim-pt formats)", name);
	physim_format_get_info(f, info);
	return f;
}
