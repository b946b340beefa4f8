/* SPDX-License-Identifier: MIT */
/* tests/subproject/main.c - the parent project's own test: physim, linked
 * through dependency('physim') as a subproject, creates RAM and knows sv39. */
#include <physim/physim.h>

#include <stdio.h>
#include <string.h>

#define RAM_SIZE (UINT64_C(16) << 20)

static int check(int ok, const char *what)
{
	if (!ok)
		fprintf(stderr, "physim-user: %s\n", what);
	return ok ? 0 : 1;
}

int main(void)
{
	struct physim_ram_config cfg = {.size = RAM_SIZE};
	struct physim_ram *ram = NULL;
	int rc = physim_ram_create(&cfg, &ram);
	if (rc != 0) {
		fprintf(stderr, "physim-user: physim_ram_create: %s\n", physim_strerror(rc));
		return 1;
	}
	int bad = check(physim_ram_size(ram) == RAM_SIZE, "RAM size differs from the request");
	struct physim_ram_stats st = physim_ram_stats(ram);
	bad += check(st.total_frames == RAM_SIZE / 4096, "frame count is not size / 4 KiB");

	physim_hpa_t hpa = 0;
	rc = physim_ram_alloc_frame(ram, &hpa);
	bad += check(rc == 0 && hpa % 4096 == 0 && physim_ram_frame_in_use(ram, hpa) == 1,
		     "a frame could not be allocated");
	bad += check(physim_ram_stats(ram).used_frames == 1, "used frames is not 1");
	physim_ram_destroy(ram);

	/* Sv39 (RISC-V privileged spec 10.6): 3 levels, 39-bit VA, 8-byte PTEs. */
	const struct physim_pt_format *sv39 = physim_format("sv39");
	bad += check(sv39 != NULL, "no sv39 format");
	if (sv39 != NULL) {
		struct physim_pt_format_info info;
		physim_format_get_info(sv39, &info);
		bad +=
		    check(strcmp(physim_format_name(sv39), "sv39") == 0, "sv39 has another name");
		bad += check(info.levels == 3 && info.va_bits == 39 && info.pte_bytes == 8,
			     "sv39 geometry is not 3 levels, 39-bit VA, 8-byte PTEs");
	}
	if (bad == 0)
		printf("physim-user: physim works as a subproject\n");
	return bad == 0 ? 0 : 1;
}
