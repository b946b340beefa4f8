/* SPDX-License-Identifier: MIT */
/* lib/formats.c - the list of page-table formats compiled in (meson option
 * `archs`), in the order `physim-pt formats` prints them, and lookup by name. */
#include "pt-format.h"

#include <string.h>

const struct physim_pt_format *const physim_all_formats[] = {
#ifdef PHYSIM_HAVE_X86_64
    &physim_fmt_x86_64_4l,
#endif
#ifdef PHYSIM_HAVE_X86_64
    &physim_fmt_x86_64_5l,
#endif
#ifdef PHYSIM_HAVE_X86_64
    &physim_fmt_ept_4l,
#endif
#ifdef PHYSIM_HAVE_X86_64
    &physim_fmt_ept_5l,
#endif
#ifdef PHYSIM_HAVE_AARCH64
    &physim_fmt_aarch64_4k_39,
#endif
#ifdef PHYSIM_HAVE_AARCH64
    &physim_fmt_aarch64_4k_48,
#endif
#ifdef PHYSIM_HAVE_AARCH64
    &physim_fmt_aarch64_16k_47,
#endif
#ifdef PHYSIM_HAVE_AARCH64
    &physim_fmt_aarch64_64k_48,
#endif
#ifdef PHYSIM_HAVE_AARCH64
    &physim_fmt_aarch64_s2_4k_40,
#endif
#ifdef PHYSIM_HAVE_AARCH64
    &physim_fmt_aarch64_s2_4k_48,
#endif
#ifdef PHYSIM_HAVE_AARCH64
    &physim_fmt_aarch64_4k_52,
#endif
#ifdef PHYSIM_HAVE_AARCH64
    &physim_fmt_aarch64_16k_52,
#endif
#ifdef PHYSIM_HAVE_AARCH64
    &physim_fmt_aarch64_64k_52,
#endif
#ifdef PHYSIM_HAVE_AARCH64
    &physim_fmt_aarch64_s2_4k_52,
    &physim_fmt_aarch64_el2_4k_39,
#endif
#ifdef PHYSIM_HAVE_AARCH64
    &physim_fmt_aarch64_el2_4k_48,
#endif
#ifdef PHYSIM_HAVE_AARCH64
    &physim_fmt_aarch64_el2_16k_47,
#endif
#ifdef PHYSIM_HAVE_AARCH64
    &physim_fmt_aarch64_el2_64k_48,
#endif
#ifdef PHYSIM_HAVE_RISCV64
    &physim_fmt_sv39,
#endif
#ifdef PHYSIM_HAVE_RISCV64
    &physim_fmt_sv48,
#endif
#ifdef PHYSIM_HAVE_RISCV64
    &physim_fmt_sv57,
#endif
#ifdef PHYSIM_HAVE_RISCV64
    &physim_fmt_sv39x4,
#endif
#ifdef PHYSIM_HAVE_RISCV64
    &physim_fmt_sv48x4,
#endif
#ifdef PHYSIM_HAVE_RISCV64
    &physim_fmt_sv57x4,
#endif
#ifdef PHYSIM_HAVE_LOONGARCH64
    &physim_fmt_loongarch64_4k_48,
#endif
#ifdef PHYSIM_HAVE_X86_64
    &physim_fmt_i386_2l,
#endif
#ifdef PHYSIM_HAVE_X86_64
    &physim_fmt_i386_pae,
#endif
#ifdef PHYSIM_HAVE_RISCV64
    &physim_fmt_sv32,
#endif
#ifdef PHYSIM_HAVE_RISCV64
    &physim_fmt_sv32x4,
#endif
#ifdef PHYSIM_HAVE_AARCH64
    &physim_fmt_armv7_short,
#endif
    NULL,
};

const size_t physim_all_formats_count =
    sizeof(physim_all_formats) / sizeof(physim_all_formats[0]) - 1;

const struct physim_pt_format *physim_format(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < physim_all_formats_count; i++)
		if (strcmp(physim_all_formats[i]->name, name) == 0)
			return physim_all_formats[i];
	return NULL;
}

size_t physim_format_count(void)
{
	return physim_all_formats_count;
}

const struct physim_pt_format *physim_format_at(size_t index)
{
	return index < physim_all_formats_count ? physim_all_formats[index] : NULL;
}

const char *physim_format_name(const struct physim_pt_format *fmt)
{
	return fmt ? fmt->name : NULL;
}
