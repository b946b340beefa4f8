/* SPDX-License-Identifier: MIT */
/* lib/aspace-mem.c - guest memory of an address space (aspace.h):
 * translation, host pointers (translated_buffer), page faults that populate
 * lazy areas, and the guest memory accessor.
 *
 * Host pointers (accessor, translated_buffer) come from mm->phys_to_virt for
 * every area, LINEAR ones included: that is why MMIO gives -EFAULT there.
 * The accessor is the space owner's; its writes mark the dirty bitmap. */
#include "aspace-priv.h"
#include "guest-mem-priv.h"

#include <stdlib.h>
#include <string.h>

#define ACCESS_FLAGS (PHYSIM_R | PHYSIM_W | PHYSIM_X)

/* ---- translation ---- */

/* hpa of gpa if an area holds it and its page is mapped. */
static int lookup(const struct physim_aspace *as, uint64_t gpa, const struct area **area,
		  physim_hpa_t *hpa)
{
	const struct area *a = area_find(as, gpa);
	struct physim_pt_mapping m;
	if (a == NULL)
		return -ENOENT;
	int rc = physim_pt_query(as->pt, gpa, &m);
	if (rc != 0)
		return rc == -EINVAL ? -ENOENT : rc;
	*area = a;
	*hpa = m.pa + (gpa - m.va);
	return 0;
}

int physim_aspace_translate(const struct physim_aspace *as, physim_gpa_t gpa, physim_hpa_t *hpa)
{
	const struct area *a;
	if (as == NULL || hpa == NULL)
		return -EINVAL;
	return lookup(as, gpa, &a, hpa);
}

int physim_aspace_translate_and_get_limit(const struct physim_aspace *as, physim_gpa_t gpa,
					  physim_hpa_t *hpa, uint64_t *limit)
{
	const struct area *a;
	physim_hpa_t h;
	if (as == NULL || hpa == NULL || limit == NULL)
		return -EINVAL;
	int rc = lookup(as, gpa, &a, &h);
	if (rc != 0)
		return rc;
	*hpa = h;
	*limit = area_last(a) - gpa + 1;
	return 0;
}

/* Host pointer of the byte at gpa, valid up to the end of its 4 KiB page:
 * -ENOENT if unbacked, -EFAULT if the HAL cannot reach the frame (a LINEAR
 * area over MMIO or other memory outside the mm HAL). */
static int gpa_hva(const struct physim_aspace *as, uint64_t gpa, uint8_t **p)
{
	const struct area *a;
	physim_hpa_t hpa;
	int rc = lookup(as, gpa, &a, &hpa);
	if (rc != 0)
		return rc;
	uint8_t *frame = frame_hva(as, physim_align_down(hpa, PAGE));
	if (frame == NULL)
		return -EFAULT;
	*p = frame + (hpa % PAGE);
	return 0;
}

/* Spans of [gpa, gpa + len); iov may be NULL (count only). */
static int build_spans(const struct physim_aspace *as, uint64_t gpa, size_t len,
		       struct physim_iovec *iov, size_t *count)
{
	uint8_t *prev_end = NULL;
	size_t n = 0;
	uint64_t cur = gpa, left = len;
	while (left > 0) {
		uint64_t chunk = PAGE - (cur % PAGE);
		if (chunk > left)
			chunk = left;
		uint8_t *p;
		int rc = gpa_hva(as, cur, &p);
		if (rc != 0)
			return rc;
		if (n > 0 && p == prev_end) {
			if (iov != NULL)
				iov[n - 1].len += (size_t)chunk;
		} else {
			if (iov != NULL)
				iov[n] = (struct physim_iovec){.base = p, .len = (size_t)chunk};
			n++;
		}
		prev_end = p + chunk;
		cur += chunk;
		left -= chunk;
	}
	*count = n;
	return 0;
}

int physim_aspace_translated_buffer(const struct physim_aspace *as, physim_gpa_t gpa, size_t len,
				    struct physim_iovec *iov, size_t max, size_t *n)
{
	if (as == NULL || n == NULL || (iov == NULL && max > 0))
		return -EINVAL;
	if (len == 0) {
		*n = 0;
		return 0;
	}
	if (!physim_range_ok(gpa, len))
		return -EINVAL;
	size_t need;
	int rc = build_spans(as, gpa, len, NULL, &need);
	if (rc != 0)
		return rc;
	*n = need;
	if (need > max)
		return -ERANGE;
	return build_spans(as, gpa, len, iov, &need);
}

/* ---- page faults ---- */

/* Back each page in pages[] (all in lazy ALLOC areas, all unmapped) with a
 * zeroed frame: every frame first, then the mappings; all or nothing. */
static int populate_pages(struct physim_aspace *as, const uint64_t *pages, size_t n)
{
	physim_hpa_t one, *hpa = &one;
	if (n > 1 && (hpa = malloc(n * sizeof(*hpa))) == NULL)
		return -ENOMEM;
	size_t got = 0, mapped = 0;
	int rc = 0;
	while (got < n && (rc = physim_aspace_frame_alloc_zeroed(as, &hpa[got])) == 0)
		got++;
	while (rc == 0 && mapped < n) {
		const struct area *a = area_find(as, pages[mapped]);
		rc = physim_pt_map(as->pt, pages[mapped], hpa[mapped], PAGE, a->flags);
		if (rc == 0)
			mapped++;
	}
	if (rc != 0) {
		/* Unmapping a 4 KiB leaf splits nothing, so it cannot fail; it
		 * also frees the tables the maps made, which are empty again. */
		while (mapped-- > 0)
			if (physim_pt_unmap(as->pt, pages[mapped], NULL) != 0)
				physim_log_error("aspace: rollback of %#llx failed",
						 (unsigned long long)pages[mapped]);
		physim_aspace_frames_free(as, hpa, got);
	} else {
		for (size_t i = 0; i < n; i++)
			area_find(as, pages[i])->frames++;
		as->alloc_frames += n;
		as->faults_handled += n;
	}
	if (hpa != &one)
		free(hpa);
	return rc;
}

int physim_aspace_handle_page_fault(struct physim_aspace *as, physim_gpa_t gpa, uint32_t access)
{
	if (as == NULL || access == 0 || (access & ~ACCESS_FLAGS))
		return -EINVAL;
	const struct area *a = area_find(as, gpa);
	uint64_t page = physim_align_down(gpa, PAGE);
	struct physim_pt_mapping m;
	bool ok = a != NULL && a->kind == PHYSIM_AREA_ALLOC && (a->flags & access) == access &&
		  physim_pt_query(as->pt, page, &m) == -ENOENT;
	if (!ok) {
		as->faults_refused++;
		return -EFAULT;
	}
	return populate_pages(as, &page, 1);
}

/* ---- guest memory accessor ---- */

/* Pages of the access not yet backed. */
struct page_list {
	uint64_t *page;
	size_t n, cap;
	uint64_t local[4];
};

static int page_list_add(struct page_list *l, uint64_t page)
{
	if (l->n == l->cap) {
		size_t cap = l->cap * 2;
		uint64_t *p = l->page == l->local ? malloc(cap * sizeof(*p))
						  : realloc(l->page, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		if (l->page == l->local)
			memcpy(p, l->local, sizeof(l->local));
		l->page = p;
		l->cap = cap;
	}
	l->page[l->n++] = page;
	return 0;
}

/* Check every page of [gpa, gpa + len) before touching any: an area whose
 * flags allow `need`, and either a frame the HAL can reach or a lazy page
 * (collected in *missing) that a fault would populate. */
static int access_check(const struct physim_aspace *as, uint64_t gpa, size_t len, uint32_t need,
			struct page_list *missing)
{
	if (!physim_range_ok(gpa, len))
		return -EFAULT;
	uint64_t last = gpa + (len - 1);
	for (uint64_t page = physim_align_down(gpa, PAGE);; page += PAGE) {
		const struct area *a = area_find(as, page < gpa ? gpa : page);
		if (a == NULL || (a->flags & need) != need)
			return -EFAULT;
		uint8_t *p;
		int rc = gpa_hva(as, page < gpa ? gpa : page, &p);
		if (rc == -ENOENT && a->kind == PHYSIM_AREA_ALLOC)
			rc = page_list_add(missing, page);
		else if (rc != 0)
			return -EFAULT;
		if (rc != 0)
			return rc;
		if (last - page < PAGE)
			return 0;
	}
}

/* Check, then populate what is missing: after 0 every byte is backed. */
static int access_prepare(struct physim_aspace *as, uint64_t gpa, size_t len, uint32_t need)
{
	struct page_list missing = {.cap = 4};
	missing.page = missing.local;
	int rc = access_check(as, gpa, len, need, &missing);
	if (rc == 0 && missing.n > 0)
		rc = populate_pages(as, missing.page, missing.n);
	if (missing.page != missing.local)
		free(missing.page);
	return rc;
}

/* Copy between buf and guest memory; every byte is known to be backed. */
static void access_copy(struct physim_aspace *as, uint64_t gpa, uint8_t *buf, size_t len,
			bool write)
{
	while (len > 0) {
		size_t chunk = (size_t)(PAGE - (gpa % PAGE));
		if (chunk > len)
			chunk = len;
		uint8_t *p = NULL;
		if (gpa_hva(as, gpa, &p) != 0) {
			physim_log_error("aspace: %#llx lost its backing during a copy",
					 (unsigned long long)gpa);
			return;
		}
		if (write)
			memcpy(p, buf, chunk);
		else
			memcpy(buf, p, chunk);
		gpa += chunk;
		buf += chunk;
		len -= chunk;
	}
}

int physim_guest_read(struct physim_aspace *as, physim_gpa_t gpa, void *buf, size_t len)
{
	if (as == NULL || (buf == NULL && len > 0))
		return -EINVAL;
	if (len == 0)
		return 0;
	int rc = access_prepare(as, gpa, len, PHYSIM_R);
	if (rc == 0)
		access_copy(as, gpa, buf, len, false);
	return rc;
}

int physim_guest_write(struct physim_aspace *as, physim_gpa_t gpa, const void *buf, size_t len)
{
	if (as == NULL || (buf == NULL && len > 0))
		return -EINVAL;
	if (len == 0)
		return 0;
	int rc = access_prepare(as, gpa, len, PHYSIM_W);
	if (rc != 0)
		return rc;
	access_copy(as, gpa, (uint8_t *)(uintptr_t)buf, len, true);
	dirty_set_range(as, gpa, len);
	return 0;
}

static bool volatile_args_ok(unsigned width, uint64_t gpa)
{
	return (width == 1 || width == 2 || width == 4 || width == 8) && gpa % width == 0;
}

int physim_guest_read_volatile(struct physim_aspace *as, physim_gpa_t gpa, unsigned width,
			       uint64_t *value)
{
	if (as == NULL || value == NULL || !volatile_args_ok(width, gpa))
		return -EINVAL;
	uint8_t *p;
	int rc = access_prepare(as, gpa, width, PHYSIM_R);
	if (rc == 0)
		rc = gpa_hva(as, gpa, &p);
	if (rc == 0 && (uintptr_t)p % width != 0)
		rc = -EFAULT; /* a HAL whose frames are not aligned in host memory */
	if (rc == 0)
		*value = physim_load_volatile(p, width);
	return rc;
}

int physim_guest_write_volatile(struct physim_aspace *as, physim_gpa_t gpa, unsigned width,
				uint64_t value)
{
	if (as == NULL || !volatile_args_ok(width, gpa))
		return -EINVAL;
	uint8_t *p;
	int rc = access_prepare(as, gpa, width, PHYSIM_W);
	if (rc == 0)
		rc = gpa_hva(as, gpa, &p);
	if (rc == 0 && (uintptr_t)p % width != 0)
		rc = -EFAULT;
	if (rc != 0)
		return rc;
	physim_store_volatile(p, width, value);
	dirty_set_range(as, gpa, width);
	return 0;
}
