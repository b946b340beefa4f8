/* SPDX-License-Identifier: MIT */
/* lib/guest-mem-priv.h - one device-register style access of 1, 2, 4 or 8
 * bytes, shared by the address space's accessor and the accessor over a
 * caller's translation. */
#ifndef PHYSIM_GUEST_MEM_PRIV_H
#define PHYSIM_GUEST_MEM_PRIV_H

#include <stdint.h>

/* p is aligned to width (the callers check it). */
static inline uint64_t physim_load_volatile(const uint8_t *p, unsigned width)
{
	switch (width) {
	case 1:
		return *(const volatile uint8_t *)p;
	case 2:
		return *(const volatile uint16_t *)(const void *)p;
	case 4:
		return *(const volatile uint32_t *)(const void *)p;
	default:
		return *(const volatile uint64_t *)(const void *)p;
	}
}

static inline void physim_store_volatile(uint8_t *p, unsigned width, uint64_t v)
{
	switch (width) {
	case 1:
		*(volatile uint8_t *)p = (uint8_t)v;
		break;
	case 2:
		*(volatile uint16_t *)(void *)p = (uint16_t)v;
		break;
	case 4:
		*(volatile uint32_t *)(void *)p = (uint32_t)v;
		break;
	default:
		*(volatile uint64_t *)(void *)p = v;
		break;
	}
}

#endif
