/* SPDX-License-Identifier: MIT */
/* physim/physim.h - umbrella header: includes every public physim header. */
#ifndef PHYSIM_PHYSIM_H
#define PHYSIM_PHYSIM_H

#include <physim/version.h>
#include <physim/common.h>
#include <physim/addr.h>
#include <physim/hal.h>
#include <physim/frame.h>
#include <physim/clock.h>
#include <physim/ram.h>
#include <physim/pt.h>
#include <physim/walk.h>
#include <physim/aspace.h>
#include <physim/cpu.h>

#endif
