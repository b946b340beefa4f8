/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz.h - what every fuzz harness shares: the libFuzzer entry
 * point, a reader that decodes the input bytes into operands, and a check
 * that aborts (a crash to libFuzzer / AFL++, a failed test to the replay). */
#ifndef PHYSIM_FUZZ_H
#define PHYSIM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Operands are read from the front of the input; an exhausted input reads
 * as zeros, so every input is a valid (possibly short) program. */
struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fz_u8(struct fz *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t fz_u16(struct fz *in)
{
	uint16_t v = fz_u8(in);
	return (uint16_t)(v | (uint16_t)fz_u8(in) << 8);
}

static inline uint32_t fz_u32(struct fz *in)
{
	uint32_t v = fz_u16(in);
	return v | (uint32_t)fz_u16(in) << 16;
}

static inline uint64_t fz_u64(struct fz *in)
{
	uint64_t v = fz_u32(in);
	return v | (uint64_t)fz_u32(in) << 32;
}

static inline uint64_t fz_below(struct fz *in, uint64_t n)
{
	return n ? fz_u32(in) % n : 0;
}

static inline _Noreturn void fz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
	abort();
}

/* A check on library behaviour. A macro only to report the condition and
 * the line; the work is in fz_fail. */
#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fz_fail(__FILE__, __LINE__, #cond);                                        \
	} while (0)

/* Allocation that cannot fail in a harness (host memory is not under test). */
static inline void *fz_xrealloc(void *p, size_t bytes)
{
	void *q = realloc(p, bytes ? bytes : 1);
	if (q == NULL)
		fz_fail(__FILE__, __LINE__, "out of host memory");
	return q;
}

#endif
