/* SPDX-License-Identifier: MIT */
/* lib/version.c - physim_version(): the version of the library that is
 * loaded, from the generated <physim/version.h>. */
#include "physim-priv.h"

#include <physim/version.h>

const char *physim_version(void)
{
	return PHYSIM_VERSION_STRING;
}
