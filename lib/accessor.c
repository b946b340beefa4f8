/* SPDX-License-Identifier: MIT */
/* lib/accessor.c - the guest memory accessor over a caller's translation
 * (axaddrspace GuestMemoryAccessor): reads and writes at guest addresses that
 * a translate_and_get_limit callback maps, page by page, to host memory. */
#include <physim/aspace.h>

#include <errno.h>
#include <string.h>

#include "physim-priv.h"
#include "guest-mem-priv.h"

#define PAGE PHYSIM_FRAME_SIZE

/* One host-contiguous piece of an access: it ends at the next 4 KiB
 * boundary of the guest address or of the host address (phys_to_virt is
 * asked per frame, so any mm HAL works), or where the callback's limit
 * ends, whichever comes first. */
struct piece {
	uint8_t *hva;
	size_t len;
};

static int piece_at(const struct physim_guest_accessor *acc, uint64_t gpa, size_t want,
		    struct piece *p)
{
	physim_hpa_t hpa = 0;
	uint64_t limit = 0;
	int rc = acc->translate(acc->ctx, gpa, &hpa, &limit);
	if (rc != 0)
		return rc < 0 ? rc : -EFAULT; /* a positive return breaks the contract */
	if (limit == 0 || !physim_range_ok(hpa, limit))
		return -EFAULT;
	uint8_t *frame = acc->mm->phys_to_virt(acc->mm->ctx, physim_align_down(hpa, PAGE));
	if (frame == NULL)
		return -EFAULT; /* not memory the HAL holds (MMIO): nothing to copy */
	/* Translations are page-granular: ask again at every guest page and
	 * host frame boundary, whatever limit says (the seed's aspace gives
	 * the end of the area, which is not host-contiguous memory). */
	uint64_t n = PAGE - hpa % PAGE;
	if (n > PAGE - gpa % PAGE)
		n = PAGE - gpa % PAGE;
	if (n > limit)
		n = limit;
	if (n > want)
		n = want;
	p->hva = frame + hpa % PAGE;
	p->len = (size_t)n;
	return 0;
}

static bool accessor_ok(const struct physim_guest_accessor *acc)
{
	return acc != NULL && acc->translate != NULL && acc->mm != NULL &&
	       acc->mm->phys_to_virt != NULL;
}

/* Two passes over [gpa, gpa + len): the first translates every piece and
 * copies nothing, so an access that fails anywhere leaves memory and buf as
 * they were; the second copies. */
static int access(const struct physim_guest_accessor *acc, uint64_t gpa, uint8_t *buf, size_t len,
		  bool write)
{
	if (!accessor_ok(acc) || (buf == NULL && len > 0))
		return -EINVAL;
	if (len == 0)
		return 0;
	if (!physim_range_ok(gpa, len))
		return -EFAULT;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t a = gpa;
		size_t left = len, done = 0;
		while (left > 0) {
			struct piece p;
			int rc = piece_at(acc, a, left, &p);
			if (rc != 0) {
				if (pass == 1)
					physim_log_error("accessor: %#llx stopped translating "
							 "between check and copy",
							 (unsigned long long)a);
				return rc;
			}
			if (pass == 1 && write)
				memcpy(p.hva, buf + done, p.len);
			else if (pass == 1)
				memcpy(buf + done, p.hva, p.len);
			a += p.len;
			done += p.len;
			left -= p.len;
		}
	}
	return 0;
}

int physim_accessor_read(const struct physim_guest_accessor *acc, uint64_t gpa, void *buf,
			 size_t len)
{
	return access(acc, gpa, buf, len, false);
}

int physim_accessor_write(const struct physim_guest_accessor *acc, uint64_t gpa, const void *buf,
			  size_t len)
{
	return access(acc, gpa, (uint8_t *)(uintptr_t)buf, len, true);
}

/* The host pointer of a naturally aligned volatile access of `width` bytes. */
static int volatile_at(const struct physim_guest_accessor *acc, uint64_t gpa, unsigned width,
		       uint8_t **hva)
{
	if (!accessor_ok(acc) || !(width == 1 || width == 2 || width == 4 || width == 8) ||
	    gpa % width != 0)
		return -EINVAL;
	struct piece p;
	int rc = piece_at(acc, gpa, width, &p);
	if (rc != 0)
		return rc;
	/* One access needs the bytes together and aligned in host memory. */
	if (p.len < width || (uintptr_t)p.hva % width != 0)
		return -EFAULT;
	*hva = p.hva;
	return 0;
}

int physim_accessor_read_volatile(const struct physim_guest_accessor *acc, uint64_t gpa,
				  unsigned width, uint64_t *value)
{
	uint8_t *p;
	if (value == NULL)
		return -EINVAL;
	int rc = volatile_at(acc, gpa, width, &p);
	if (rc != 0)
		return rc;
	*value = physim_load_volatile(p, width);
	return 0;
}

int physim_accessor_write_volatile(const struct physim_guest_accessor *acc, uint64_t gpa,
				   unsigned width, uint64_t value)
{
	uint8_t *p;
	int rc = volatile_at(acc, gpa, width, &p);
	if (rc != 0)
		return rc;
	physim_store_volatile(p, width, value);
	return 0;
}
