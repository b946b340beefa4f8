/* SPDX-License-Identifier: MIT */
/* tests/fuzz/standalone.c - a driver that runs a fuzz harness without
 * libFuzzer: every file named on the command line (a directory: every file
 * in it, in name order) is passed once to LLVMFuzzerTestOneInput; with no
 * argument the input is read from stdin. So the corpora replay as ordinary
 * tests with any compiler, and an afl-clang-fast build runs as `prog @@`. */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned long replayed;

static int run_stream(FILE *f, const char *name)
{
	size_t cap = 4096, n = 0;
	uint8_t *buf = fz_xrealloc(NULL, cap);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = fz_xrealloc(buf, cap);
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "%s: read error\n", name);
		free(buf);
		return -1;
	}
	/* libFuzzer hands over a buffer of exactly the input's size. */
	uint8_t *exact = fz_xrealloc(NULL, n);
	memcpy(exact, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	replayed++;
	return 0;
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	int rc = run_stream(f, path);
	fclose(f);
	return rc;
}

static int skip_entry(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

static int run_dir(const char *dir)
{
	struct dirent **list;
	int n = scandir(dir, &list, skip_entry, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
		struct stat st;
		if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			rc = run_file(path);
		free(list[i]);
	}
	free(list);
	return rc;
}

int main(int argc, char **argv)
{
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	int rc = 0, named = 0;
	for (int i = 1; i < argc && rc == 0; i++) {
		/* libFuzzer-style options (-runs=N ...) are accepted and ignored. */
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			continue;
		named++;
		struct stat st;
		if (strcmp(argv[i], "-") == 0)
			rc = run_stream(stdin, "stdin");
		else if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			rc = run_dir(argv[i]);
		else
			rc = run_file(argv[i]);
	}
	if (named == 0)
		rc = run_stream(stdin, "stdin");
	if (rc != 0)
		return 1;
	if (replayed == 0) {
		fprintf(stderr, "%s: no input replayed\n", argv[0]);
		return 1;
	}
	printf("%s: %lu inputs replayed\n", argv[0], replayed);
	printf("%lu passed, 0 failed\n", replayed);
	return 0;
}
