/* SPDX-License-Identifier: MIT */
/* tools/physim-pt/spec.c - the spec file `physim-pt build` reads: one
 * operation per line, '#' starts a comment. Syntax in physim-pt.h and in
 * `physim-pt build --help`. */
#include "physim-pt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 8

struct cursor {
	const char *path;
	unsigned lineno;
	char *tok[MAX_TOKENS];
	int ntok;
};

_Noreturn static void bad_line(const struct cursor *c, const char *fmt, const char *arg)
{
	char msg[256];
	snprintf(msg, sizeof(msg), fmt, arg);
	die("%s:%u: %s", c->path, c->lineno, msg);
}

/* Split at blanks after cutting the comment; -1 if there are too many tokens. */
static int tokenize(char *line, struct cursor *c)
{
	char *hash = strchr(line, '#');
	if (hash != NULL)
		*hash = '\0';
	c->ntok = 0;
	for (char *save = NULL, *t = strtok_r(line, " \t\r\n\v\f", &save); t != NULL;
	     t = strtok_r(NULL, " \t\r\n\v\f", &save)) {
		if (c->ntok == MAX_TOKENS)
			return -1;
		c->tok[c->ntok++] = t;
	}
	return 0;
}

/* A number in token text (tok, for messages: the whole token). */
static uint64_t number_in(const struct cursor *c, const char *text, const char *tok,
			  const char *what)
{
	uint64_t v;
	int rc = parse_u64(text, &v);
	if (rc == 0)
		return v;
	char msg[160];
	if (rc == -ERANGE)
		snprintf(msg, sizeof(msg), "%s '%.64s' out of range (more than 64 bits)", what,
			 tok);
	else
		snprintf(msg, sizeof(msg), "bad %s '%.64s' (decimal or 0x-hex, optional K/M/G/T)",
			 what, tok);
	bad_line(c, "%s", msg);
}

static uint64_t number(const struct cursor *c, int i, const char *what)
{
	return number_in(c, c->tok[i], c->tok[i], what);
}

static uint32_t flags(const struct cursor *c, int i)
{
	uint32_t f;
	if (parse_flags(c->tok[i], &f) < 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "bad flags '%.64s' (letters r w x u d c, or -)",
			 c->tok[i]);
		bad_line(c, "%s", msg);
	}
	return f;
}

static void want_args(const struct cursor *c, int min, int max, const char *usage)
{
	if (c->ntok - 1 < min || c->ntok - 1 > max)
		bad_line(c, "wrong number of arguments, expected: %s", usage);
}

/* Trailing words after the fixed arguments of map / region. */
static void options(const struct cursor *c, int first, struct spec_line *l)
{
	for (int i = first; i < c->ntok; i++) {
		const char *t = c->tok[i];
		if (strcmp(t, "replace") == 0)
			l->opts |= PHYSIM_REPLACE;
		else if (l->op == SPEC_REGION && strcmp(t, "nohuge") == 0)
			l->opts &= ~(unsigned)PHYSIM_ALLOW_HUGE;
		else if (l->op == SPEC_MAP && strncmp(t, "arch=", 5) == 0)
			l->arch = number_in(c, t + 5, t, "arch bits");
		else
			bad_line(c, "unknown option '%.64s'", t);
	}
}

static void parse_line(const struct cursor *c, struct spec_line *l)
{
	const char *cmd = c->tok[0];
	memset(l, 0, sizeof(*l));
	l->lineno = c->lineno;
	if (strcmp(cmd, "map") == 0) {
		l->op = SPEC_MAP;
		want_args(c, 4, 6, "map VA PA PAGESIZE FLAGS [replace] [arch=N]");
		l->size = number(c, 3, "page size");
		l->flags = flags(c, 4);
		options(c, 5, l);
	} else if (strcmp(cmd, "region") == 0) {
		l->op = SPEC_REGION;
		l->opts = PHYSIM_ALLOW_HUGE;
		want_args(c, 4, 6, "region VA PA SIZE FLAGS [nohuge] [replace]");
		l->size = number(c, 3, "size");
		l->flags = flags(c, 4);
		options(c, 5, l);
	} else if (strcmp(cmd, "unmap") == 0) {
		l->op = SPEC_UNMAP;
		want_args(c, 1, 2, "unmap VA [SIZE]");
		if (c->ntok == 3 && (l->size = number(c, 2, "size")) == 0)
			bad_line(c, "%s", "size must not be zero");
	} else if (strcmp(cmd, "protect") == 0) {
		l->op = SPEC_PROTECT;
		want_args(c, 3, 3, "protect VA SIZE FLAGS");
		l->size = number(c, 2, "size");
		l->flags = flags(c, 3);
		if (l->size == 0)
			bad_line(c, "%s", "size must not be zero");
	} else if (strcmp(cmd, "write64") == 0 || strcmp(cmd, "write32") == 0) {
		l->op = cmd[5] == '6' ? SPEC_WRITE64 : SPEC_WRITE32;
		want_args(c, 2, 2, l->op == SPEC_WRITE64 ? "write64 PA VALUE" : "write32 PA VALUE");
		l->value = number(c, 2, "value");
		if (l->op == SPEC_WRITE32 && l->value > UINT32_MAX)
			bad_line(c, "%s", "value does not fit in 32 bits");
	} else {
		bad_line(c,
			 "unknown command '%.64s' (map, region, unmap, protect, write64, write32)",
			 cmd);
	}
	l->va = number(c, 1, l->op >= SPEC_WRITE64 ? "physical address" : "virtual address");
	if (l->op == SPEC_MAP || l->op == SPEC_REGION)
		l->pa = number(c, 2, "physical address");
	if (l->op == SPEC_REGION && l->size == 0)
		bad_line(c, "%s", "size must not be zero");
}

void spec_read(const char *path, struct spec *out)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		die("cannot open spec %s: %s", path, strerror(errno));
	memset(out, 0, sizeof(*out));
	out->path = path;
	struct cursor c = {.path = path};
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) >= 0) {
		c.lineno++;
		if (strlen(line) != (size_t)len)
			bad_line(&c, "%s", "NUL byte in line");
		if (tokenize(line, &c) < 0)
			bad_line(&c, "%s", "too many words");
		if (c.ntok == 0)
			continue;
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 32;
			out->lines = xrealloc(out->lines, out->cap, sizeof(*out->lines));
		}
		parse_line(&c, &out->lines[out->n++]);
	}
	int err = ferror(f) ? errno : 0;
	free(line);
	fclose(f);
	if (err != 0)
		die("reading spec %s: %s", path, strerror(err));
}

void spec_free(struct spec *s)
{
	free(s->lines);
	memset(s, 0, sizeof(*s));
}

const char *spec_op_name(enum spec_op op)
{
	static const char *const names[] = {"map",     "region",  "unmap",
					    "protect", "write64", "write32"};
	return names[op];
}
