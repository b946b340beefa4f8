/* SPDX-License-Identifier: MIT */
/* examples/fuzz-harness/replay.c - main() for builds without libFuzzer: runs
 * the harness once on each file (or each file of each directory) named on
 * the command line, e.g. a corpus or a crash file; also `prog @@` for AFL++. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return 1;
	}
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;
	for (int c; (c = fgetc(f)) != EOF; buf[n++] = (uint8_t)c) {
		if (n == cap) {
			cap = 2 * cap + 64;
			buf = realloc(buf, cap);
			if (buf == NULL)
				abort();
		}
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int bad = 0, runs = 0;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		if (d == NULL) { /* a file */
			bad |= replay_file(argv[i]);
			runs++;
			continue;
		}
		for (struct dirent *e; (e = readdir(d)) != NULL;) {
			char path[4096];
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			bad |= replay_file(path);
			runs++;
		}
		closedir(d);
	}
	printf("%d inputs replayed\n", runs);
	return bad;
}
