/* SPDX-License-Identifier: MIT */
/* tools/physim-pt/util.c - physim-pt's error exits and the syntax of numbers,
 * sizes and flag letters shared by the command line and spec files. */
#include "physim-pt.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The message with every byte that is not printable ASCII written as \xNN:
 * a spec file or an argument with binary bytes in it must not send raw
 * control characters to the user's terminal. */
static void put_escaped(const char *msg)
{
	for (const unsigned char *p = (const unsigned char *)msg; *p != '\0'; p++) {
		if (*p >= 0x20 && *p < 0x7f)
			fputc(*p, stderr);
		else
			fprintf(stderr, "\\x%02x", *p);
	}
}

static _Noreturn void vdie_status(int status, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	fputs("physim-pt: ", stderr);
	put_escaped(msg);
	fputc('\n', stderr);
	exit(status);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdie_status(EXIT_BAD_INPUT, fmt, ap);
}

void die_status(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdie_status(status, fmt, ap);
}

void die_nomem(void)
{
	die_status(EXIT_NO_MEMORY, "out of memory");
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		die_nomem();
	return p;
}

void *xrealloc(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		die_nomem();
	size_t bytes = n * size;
	p = realloc(p, bytes != 0 ? bytes : 1);
	if (p == NULL)
		die_nomem();
	return p;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

static unsigned suffix_shift(char c)
{
	switch (c) {
	case 'k':
	case 'K':
		return 10;
	case 'm':
	case 'M':
		return 20;
	case 'g':
	case 'G':
		return 30;
	case 't':
	case 'T':
		return 40;
	default:
		return 0;
	}
}

int parse_u64(const char *s, uint64_t *out)
{
	unsigned base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	uint64_t v = 0;
	size_t ndigits = 0;
	bool overflow = false;
	for (; *s != '\0'; s++, ndigits++) {
		int d = digit_value(*s);
		if (d >= (int)base)
			break;
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			overflow = true; /* keep going: a bad digit later is -EINVAL */
		else
			v = v * base + (uint64_t)d;
	}
	if (ndigits == 0)
		return -EINVAL;
	if (*s != '\0') {
		unsigned shift = suffix_shift(*s);
		if (shift == 0 || s[1] != '\0')
			return -EINVAL;
		if (v > UINT64_MAX >> shift)
			overflow = true;
		v <<= shift;
	}
	if (overflow)
		return -ERANGE;
	*out = v;
	return 0;
}

static const struct {
	char letter;
	uint32_t flag;
} flag_letters[] = {
    {'r', PHYSIM_R}, {'w', PHYSIM_W},	   {'x', PHYSIM_X},
    {'u', PHYSIM_U}, {'d', PHYSIM_DEVICE}, {'c', PHYSIM_UNCACHED},
};

#define NFLAG_LETTERS (sizeof(flag_letters) / sizeof(flag_letters[0]))

int parse_flags(const char *s, uint32_t *out)
{
	uint32_t f = 0;
	if (strcmp(s, "-") == 0) {
		*out = 0;
		return 0;
	}
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		size_t i = 0;
		while (i < NFLAG_LETTERS && flag_letters[i].letter != *s)
			i++;
		if (i == NFLAG_LETTERS || (f & flag_letters[i].flag) != 0)
			return -1; /* unknown or repeated letter */
		f |= flag_letters[i].flag;
	}
	*out = f;
	return 0;
}

const char *flags_str(uint32_t flags, char *buf)
{
	char *p = buf;
	for (size_t i = 0; i < NFLAG_LETTERS; i++)
		if (flags & flag_letters[i].flag)
			*p++ = flag_letters[i].letter;
	if (p == buf)
		*p++ = '-';
	*p = '\0';
	return buf;
}

const char *size_str(uint64_t size, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	int u = -1;
	while (u < 5 && size != 0 && (size & 1023) == 0) {
		size >>= 10;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%llu", (unsigned long long)size);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)size, units[u]);
	return buf;
}
