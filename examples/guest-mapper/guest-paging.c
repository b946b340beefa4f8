/* SPDX-License-Identifier: MIT */
/* examples/guest-mapper/guest-paging.c - a PagingHandler over guest-physical
 * memory, so that physim's page-table engine builds the GUEST's own table
 * inside the VM's RAM, as a guest kernel would build it for itself.
 *
 * The engine neither knows nor cares what its "physical" addresses are: it
 * asks the handler for a frame, stores the address it gets in the parent
 * entry, and asks the handler for a pointer when it needs to read or write
 * the frame. Here every address the handler hands out is a guest-physical
 * address (GPA) - exactly what a guest kernel puts in its table entries and
 * in CR3 / TTBR0_EL1 / satp - and a pointer is found the way the hypervisor
 * finds one: GPA -> HPA through the VM's stage-2 mapping
 * (physim_aspace_translate), then HPA -> host pointer through the host's own
 * mapping (the mm HAL). The same engine that builds the stage-2 table over
 * host frames thus builds a stage-1 table over guest pages, with no change:
 * that is what a pluggable HAL buys. */
#include "guest-mapper.h"

/* Make sure the page at gpa is backed by a host frame. The pool lies in
 * guest RAM; in a lazily populated region its pages appear on first touch,
 * as for any other guest store (the nested page fault is taken here). */
static int back_page(struct guest_paging *gp, physim_gpa_t gpa)
{
	physim_hpa_t hpa;
	int rc = physim_aspace_translate(gp->as, gpa, &hpa);
	if (rc == -ENOENT)
		rc = physim_aspace_handle_page_fault(gp->as, gpa, PHYSIM_W);
	return rc;
}

/* The page a fresh allocation takes: bump allocation over the pool,
 * stepping over the image. Nothing is taken yet. */
static int peek_fresh_page(const struct guest_paging *gp, physim_gpa_t *gpa)
{
	physim_gpa_t p = gp->next;
	if (p >= gp->avoid && p < gp->avoid_end)
		p = gp->avoid_end;
	if (p >= gp->end || gp->pages_handed_out == GUEST_PT_POOL_PAGES)
		return -ENOMEM;
	*gpa = p;
	return 0;
}

/* PagingHandler::alloc_frame - the returned "physical" address is a GPA.
 * Freed pages are reused first, as a kernel's page allocator would; they
 * are still backed. A failure takes nothing. */
static int gp_alloc_frame(void *ctx, physim_hpa_t *out)
{
	struct guest_paging *gp = ctx;
	physim_gpa_t gpa;
	if (gp->nfreed > 0) {
		gpa = gp->freed[--gp->nfreed];
	} else {
		int rc = peek_fresh_page(gp, &gpa);
		if (rc == 0)
			rc = back_page(gp, gpa);
		if (rc != 0)
			return rc < 0 ? rc : -ENOMEM;
		gp->next = gpa + PHYSIM_FRAME_SIZE;
		gp->pages_handed_out++;
	}
	gp->pages_in_use++;
	*out = gpa;
	return 0;
}

/* A page this pool handed out and that is not already free. */
static bool in_use(const struct guest_paging *gp, physim_gpa_t gpa)
{
	if (gpa < gp->start || gpa >= gp->next || gpa % PHYSIM_FRAME_SIZE != 0 ||
	    (gpa >= gp->avoid && gpa < gp->avoid_end))
		return false;
	for (size_t i = 0; i < gp->nfreed; i++)
		if (gp->freed[i] == gpa)
			return false;
	return true;
}

static int gp_dealloc_frame(void *ctx, physim_hpa_t gpa)
{
	struct guest_paging *gp = ctx;
	if (!in_use(gp, gpa))
		return -ENOENT;
	gp->freed[gp->nfreed++] = gpa;
	gp->pages_in_use--;
	return 0;
}

/* PagingHandler::phys_to_virt - GPA -> HPA (stage 2) -> host pointer. */
static void *gp_phys_to_virt(void *ctx, physim_hpa_t gpa)
{
	struct guest_paging *gp = ctx;
	physim_hpa_t hpa;
	if (physim_aspace_translate(gp->as, gpa, &hpa) != 0)
		return NULL;
	uint8_t *frame =
	    gp->host->phys_to_virt(gp->host->ctx, physim_align_down(hpa, PHYSIM_FRAME_SIZE));
	return frame ? frame + hpa % PHYSIM_FRAME_SIZE : NULL;
}

void guest_paging_init(struct guest_paging *gp, struct physim_aspace *as,
		       const struct physim_mm_hal *host, physim_gpa_t start, uint64_t size,
		       physim_gpa_t avoid, uint64_t avoid_size)
{
	*gp = (struct guest_paging){
	    .as = as,
	    .host = host,
	    .start = start,
	    .next = start,
	    .end = start + size,
	    .avoid = physim_align_down(avoid, PHYSIM_FRAME_SIZE),
	    .avoid_end = physim_align_up(avoid + avoid_size, PHYSIM_FRAME_SIZE),
	};
	/* Stage-1 formats have one-frame tables, so alloc_frames (contiguous
	 * runs, which would also have to be host-contiguous) is not offered.
	 * Guest memory is not host-contiguous either, so there is no direct
	 * map to advertise: direct.size stays 0 and every access goes through
	 * phys_to_virt. */
	gp->ph = (struct physim_paging_handler){
	    .ctx = gp,
	    .alloc_frame = gp_alloc_frame,
	    .dealloc_frame = gp_dealloc_frame,
	    .phys_to_virt = gp_phys_to_virt,
	};
}
