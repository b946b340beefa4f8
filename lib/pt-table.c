/* SPDX-License-Identifier: MIT */
/* lib/pt-table.c - page-table memory: allocating and freeing table frames, and
 * the rule every traversal follows before it enters a table (lib/pt.c). */
#include "pt-priv.h"

uint8_t *physim_pt_hva_slow(const struct physim_pt *pt, uint64_t pa, uint64_t len)
{
	const struct physim_paging_handler *ph = pt->ph;
	if (pa + (len - 1) < pa)
		return NULL;
	uint8_t *p = ph->phys_to_virt(ph->ctx, pa);
	if (p == NULL || ((uintptr_t)p & 7) != (pa & 7))
		return NULL; /* descriptors would not be naturally aligned */
	if (len > 1 && (uint8_t *)ph->phys_to_virt(ph->ctx, pa + (len - 1)) != p + (len - 1))
		return NULL;
	return p;
}

/* Return the frames of a table this table allocated at pa (the level it
 * was allocated for decides how many). A pa it does not hold is never
 * freed: that would hand out frames someone else still uses. */
void physim_pt_table_free(struct physim_pt *pt, physim_hpa_t pa)
{
	const struct physim_paging_handler *ph = pt->ph;
	struct pt_frameset_slot *s = pt_frameset_find(&pt->owned, pa);
	if (s == NULL) {
		physim_log_error("pt: %s: not freeing %#llx: not a table frame it allocated",
				 pt->fmt->name, (unsigned long long)pa);
		return;
	}
	uint64_t nframes = pt_table_frames(pt->fmt, (unsigned)(s->key & PT_FRAMESET_TAG_MASK) - 1);
	int rc = nframes == 1 ? ph->dealloc_frame(ph->ctx, pa)
			      : ph->dealloc_frames(ph->ctx, pa, (size_t)nframes);
	if (rc != 0) {
		physim_log_error("pt: returning table frame %#llx failed: %s",
				 (unsigned long long)pa, physim_strerror(rc));
		return;
	}
	pt_frameset_remove(&pt->owned, s);
	pt->table_frames -= nframes;
}

/* The descriptor at entry idx of the table at table_pa now links child (a
 * table this table allocated). */
void physim_pt_link_set(struct physim_pt *pt, physim_hpa_t child, physim_hpa_t table_pa,
			uint64_t idx)
{
	struct pt_frameset_slot *s = pt_frameset_find(&pt->owned, child);
	if (s != NULL)
		s->val = table_pa + idx * pt->fmt->pte_bytes;
}

/* Note pa as met in one traversal: -EFAULT if it was met before (a table
 * reached twice: a cycle or a shared table), -ENOMEM. Addresses are taken
 * 32-byte aligned (no table is less aligned). */
static int seen_add(struct pt_frameset *seen, physim_hpa_t pa)
{
	uint64_t key = pa & ~PT_FRAMESET_TAG_MASK;
	if (pt_frameset_find(seen, key) != NULL)
		return -EFAULT;
	return pt_frameset_add(seen, key, 1, 0);
}

/* May a traversal follow the table pointer in entry idx of the table at
 * table_pa to a table at child, at level lvl? Yes (0) if it is the link
 * the engine wrote for a table it allocated for that level; in an attached
 * table also if child is a table the engine did not allocate and the
 * traversal has not met it before (*seen). Otherwise the pointer is
 * corrupt: -EFAULT (or -ENOMEM from *seen). */
int physim_pt_child_check(const struct physim_pt *pt, struct pt_frameset *seen,
			  physim_hpa_t table_pa, uint64_t idx, physim_hpa_t child, unsigned lvl)
{
	const struct pt_frameset_slot *s = pt_frameset_find(&pt->owned, child);
	if (s != NULL)
		return s->val == table_pa + idx * pt->fmt->pte_bytes &&
			       (s->key & PT_FRAMESET_TAG_MASK) == lvl + 1u
			   ? 0
			   : -EFAULT;
	if (!pt->attached)
		return -EFAULT;
	return seen_add(seen, child);
}

/* A traversal's visited set starts with the root of an attached table (an
 * owned root has no link, so nothing can lead to it). */
int physim_pt_seen_start(const struct physim_pt *pt, struct pt_frameset *seen)
{
	memset(seen, 0, sizeof(*seen));
	return pt->attached ? seen_add(seen, pt->root) : 0;
}

/* Can a table pointer hold a table at pa, for a table at level lvl? The
 * pointer to it sits at level lvl + 1. The root's own register (TTBR, CR3)
 * is checked against the top level's pointer field for its high bits only
 * (above bit 15): the field is as wide as the register in every format
 * here, but a small root need not have the alignment of a full table
 * (a 64-entry AArch64 64K-granule root is 512 bytes; TTBR bits 47:6),
 * and against the register's own width where it is narrower (i386 PAE:
 * CR3 bits 31:5, though PDPTEs hold 51:12).
 * Table pointers are narrower than the output
 * of some formats: ARMv7 short-descriptor tables must lie below 4 GiB
 * (Arm ARM B3.5.1: first-level descriptor bits 31:10, TTBR0 bits 31:14)
 * though supersections reach 40 bits, and 32-bit x86 tables below 4 GiB
 * (SDM Vol. 3A 4.3). Storing pa anyway would truncate it silently. */
static bool table_pa_fits(const struct physim_pt_format *f, unsigned lvl, physim_hpa_t pa)
{
	if (lvl + 1u < f->levels)
		return f->ops->output_addr(f, f->ops->encode_table(f, pa, lvl + 1u), lvl + 1u) ==
		       pa;
	if (f->root_pa_bits != 0 && f->root_pa_bits < 64 && (pa >> f->root_pa_bits) != 0)
		return false;
	uint64_t hi = pa & ~UINT64_C(0xFFFF);
	return f->ops->output_addr(f, f->ops->encode_table(f, hi, lvl), lvl) == hi;
}

/* A zeroed table for level lvl: one frame, or table-size aligned frames for
 * tables larger than 4 KiB (16K/64K granules, concatenated roots). Tables
 * smaller than a frame get a whole frame. -ERANGE (the frame returned) if
 * the handler gives a frame the format's table pointers cannot address. */
int physim_pt_table_alloc(struct physim_pt *pt, unsigned lvl, physim_hpa_t *out)
{
	const struct physim_paging_handler *ph = pt->ph;
	uint64_t nframes = pt_table_frames(pt->fmt, lvl);
	physim_hpa_t pa = 0;
	int rc = nframes == 1
		     ? ph->alloc_frame(ph->ctx, &pa)
		     : ph->alloc_frames(ph->ctx, (size_t)nframes, nframes * PHYSIM_FRAME_SIZE, &pa);
	if (rc != 0)
		return rc < 0 ? rc : -ENOMEM;
	rc = table_pa_fits(pt->fmt, lvl, pa) ? 0 : -ERANGE;
	if (rc != 0)
		physim_log_error("pt: %s: the paging handler gave table frame %#llx, which "
				 "the format's table pointers cannot address",
				 pt->fmt->name, (unsigned long long)pa);
	else
		rc = pt_frameset_add(&pt->owned, pa, lvl + 1u, NO_LINK);
	if (rc != 0) {
		if (nframes == 1)
			ph->dealloc_frame(ph->ctx, pa);
		else
			ph->dealloc_frames(ph->ctx, pa, (size_t)nframes);
		return rc;
	}
	uint8_t *p = pt->dm.size
			 ? physim_dm_phys_to_virt_checked(&pt->dm, pa, nframes * PHYSIM_FRAME_SIZE)
			 : NULL;
	if (p == NULL)
		p = physim_pt_hva_slow(pt, pa, nframes * PHYSIM_FRAME_SIZE);
	if (p == NULL) {
		pt->table_frames += nframes; /* physim_pt_table_free takes them off again */
		physim_pt_table_free(pt, pa);
		return -EFAULT;
	}
	memset(p, 0, nframes * PHYSIM_FRAME_SIZE);
	pt->table_frames += nframes;
	*out = pa;
	return 0;
}
