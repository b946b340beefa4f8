/* SPDX-License-Identifier: MIT */
/* tools/physim-pt/json.c - the pieces of physim-pt's --json output: one JSON
 * object per line, strings escaped as RFC 8259 requires. */
#include "physim-pt.h"

#include <inttypes.h>

void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p == '\t')
			fputs("\\t", out);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(out, "\\u%04x", *p); /* control or non-ASCII byte, as Latin-1 */
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void json_key_str(FILE *out, const char *key, const char *value)
{
	fprintf(out, ",\"%s\":", key);
	json_str(out, value);
}

void json_key_hex(FILE *out, const char *key, uint64_t value)
{
	fprintf(out, ",\"%s\":\"0x%" PRIx64 "\"", key, value);
}

void json_key_u64(FILE *out, const char *key, uint64_t value)
{
	fprintf(out, ",\"%s\":%" PRIu64, key, value);
}

void json_key_bool(FILE *out, const char *key, bool value)
{
	fprintf(out, ",\"%s\":%s", key, value ? "true" : "false");
}
