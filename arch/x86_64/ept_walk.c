/* SPDX-License-Identifier: MIT */
/* arch/x86_64/ept_walk.c - EPT access rules for the walker
 * (lib/walk-format.h): Intel SDM Vol. 3C 29.3.2 translation, 29.3.3.1 EPT
 * misconfigurations, 29.3.3.2 EPT violations, 29.3.5 accessed and dirty flags
 * for EPT, and the exit qualification for EPT violations (Vol. 3C 28.2.1,
 * table 28-7). Older editions number the same sections 28.2.x / 27.2.1.
 *
 * What is modelled:
 * - Permissions: an access is allowed only if every entry used allows it
 *   (bits 0/1/2 ANDed across levels, 29.3.3.2). With mode-based execute
 *   control (ctl.mbec) bit 2 allows fetches from supervisor-mode linear
 *   addresses and bit 10 from user-mode ones; an entry is then present if any
 *   of bits 2:0 or bit 10 is set (29.3.2).
 * - Whether the guest linear address is a user-mode address: in a nested
 *   walk, PHYSIM_U of the stage-1 result; in a lone EPT translation, the
 *   access's user flag.
 * - Implicit accesses (WALK_NESTED_TABLE): reads of guest paging structures
 *   are data reads, A/D writes to them data writes (29.3.3.2). With EPTP
 *   bit 6 (ctl.ept_ad) every access to a guest paging-structure entry is
 *   treated as a write, both for EPT violations and for the EPT dirty flag
 *   (29.3.3.2, 29.3.5), and the exit qualification reports a write.
 * - A/D with ept_ad (29.3.5): A (bit 8) in every entry used, D (bit 9) in the
 *   leaf on a write; set only when the translation succeeds
 *   (walk-format.h). Without ept_ad bits 8/9 are ignored and never written.
 * - Misconfiguration (kind RESERVED, syndrome 0: the exit has no
 *   qualification, only the guest-physical address): write-only or
 *   write/execute, reserved bits (those of the format, plus bits 51:N for
 *   N = ctl.maxphyaddr), reserved memory types.
 * - Violation exit qualification (table 28-7): bit 0 read, 1 write, 2 fetch;
 *   bits 3/4/5 the AND of bits 0/1/2 over the entries used up to and
 *   including the faulting one (so 0 for a not-present entry); bit 6 the AND
 *   of bit 10 under MBEC (else 0); bit 7 guest linear address valid (nested
 *   walks); bit 8 (only with bit 7) 1 for the translation of the linear
 *   address, 0 for an access to a guest paging-structure entry. Bits 9-11
 *   (advanced VM-exit information) and 12 (NMI unblocking) are 0: a
 *   processor without IA32_VMX_EPT_VPID_CAP bit 22.
 */
#include "walk-loop.h"
#include "x86-desc.h"

/* Entry bits: x86-desc.h (EPT_*). */

/* Exit qualification for EPT violations (table 28-7). */
#define EQ_READ	      (UINT64_C(1) << 0)
#define EQ_WRITE      (UINT64_C(1) << 1)
#define EQ_FETCH      (UINT64_C(1) << 2)
#define EQ_PERM_SHIFT 3 /* bits 5:3 = AND of entry bits 2:0 */
#define EQ_UX	      (UINT64_C(1) << 6)
#define EQ_GLA_VALID  (UINT64_C(1) << 7)
#define EQ_GLA_XLATE  (UINT64_C(1) << 8)

/* Physical-address width when ctl.maxphyaddr is 0 (walk.h). */
#define EPT_DEFAULT_MAXPHYADDR 46

/* True if this access counts as a write for EPT (29.3.3.2, 29.3.5). */
static inline bool ept_is_write(const struct walk_state *w)
{
	return w->write || (w->origin == WALK_NESTED_TABLE && w->ctl->ept_ad);
}

/* Whether the guest linear address is a user-mode address (for MBEC). */
static inline bool ept_user_addr(const struct walk_state *w)
{
	if (w->origin == WALK_NESTED_FINAL)
		return (w->s1_perms & PHYSIM_U) != 0;
	return w->user;
}

/* The codec's masks (x86-desc.h) once per mmu, with the configured
 * physical-address width N for the reserved bits 51:N (29.3.3.1). */
static void ept_configure(struct physim_mmu *m)
{
	const struct physim_pt_format *f = m->cfg.format;
	unsigned n = m->cfg.ctl.maxphyaddr ? m->cfg.ctl.maxphyaddr : EPT_DEFAULT_MAXPHYADDR;

	if (n > f->pa_bits)
		n = f->pa_bits;
	for (unsigned level = 0; level < f->levels; level++) {
		for (unsigned leaf = 0; leaf < 2; leaf++) {
			m->rsv[level][leaf] = ept_rsv_mask(f, level, leaf, n);
			m->oa[level][leaf] = ept_oa_mask(f, level, leaf);
		}
		/* The loop's fast path (walk-format.h): R/W/X (and the user
		 * execute bit under MBEC) all set, removing no right; A set if
		 * A/D flags are on (29.3.5); nothing else. Without MBEC bit 10
		 * of a table pointer is ignored (the engine sets it). */
		bool mbec = m->cfg.ctl.mbec;
		uint64_t table = EPT_RWX | (mbec ? EPT_UX : 0) | (m->cfg.ctl.ept_ad ? EPT_A : 0);
		walk_table_fast(m, level, table, m->rsv[level][0], mbec ? 0 : EPT_UX);
	}
}

/* The fault (ops->fault), inline: begin() builds one too, and w's address
 * must not leave the loop (walk-format.h, b.). */
WALK_INLINE void ept_fault_build(const struct walk_state *w, enum physim_fault_kind kind, int level,
				 struct physim_fault *f)
{
	uint64_t q = 0;
	int arch = level < 0 ? -1 : (int)x86_arch_level((unsigned)level);

	if (kind != PHYSIM_FAULT_NOT_PRESENT && kind != PHYSIM_FAULT_PERMISSION) {
		/* Misconfiguration or a fetch outside memory: no qualification. */
		walk_fault_set(f, kind, arch, 0);
		return;
	}
	if (w->exec)
		q |= EQ_FETCH;
	else if (ept_is_write(w))
		q |= EQ_WRITE;
	else
		q |= EQ_READ;
	q |= (w->acc_and & EPT_RWX) << EQ_PERM_SHIFT;
	if (w->ctl->mbec && (w->acc_and & EPT_UX))
		q |= EQ_UX;
	if (w->origin == WALK_NESTED_TABLE)
		q |= EQ_GLA_VALID;
	else if (w->origin == WALK_NESTED_FINAL)
		q |= EQ_GLA_VALID | EQ_GLA_XLATE;
	walk_fault_set(f, kind, arch, q);
}

WALK_INLINE int ept_begin(struct walk_state *w, uint64_t root, uint64_t root_hi, uint64_t *table,
			  struct physim_fault *f)
{
	(void)root_hi;
	/* A guest-physical address wider than the EPT input (48 bits, 57 with
	 * 5-level EPT, 29.3.2) has no translation: a violation at the root
	 * with nothing readable. */
	w->acc_and = EPT_RWX | EPT_UX;
	w->acc_or = 0;
	w->detail = 0;
	if (!walk_va_ok(w->mmu, w->va)) {
		w->acc_and = 0;
		ept_fault_build(w, PHYSIM_FAULT_NOT_PRESENT, (int)w->fmt->levels - 1, f);
		return -EFAULT;
	}
	*table = root;
	return 0;
}

/* Is the access allowed by the accumulated rights? */
WALK_INLINE bool ept_allows(const struct walk_state *w, uint64_t rights)
{
	if (w->exec) {
		uint64_t xbit = (w->ctl->mbec && ept_user_addr(w)) ? EPT_UX : EPT_X;
		return (rights & xbit) != 0;
	}
	if (ept_is_write(w))
		return (rights & EPT_W) != 0;
	return (rights & EPT_R) != 0;
}

/* One entry: the codec's classify (x86-desc.h), the control state's reserved
 * bits (ept_configure), then the rights and A/D rules. */
WALK_INLINE enum physim_fault_kind ept_step(struct walk_state *w, uint64_t d, unsigned level,
					    struct walk_step *s)
{
	bool mbec = w->ctl->mbec;
	uint64_t cls = d;

	/* Present: any of bits 2:0, or bit 10 under MBEC (29.3.2). The
	 * format's classify knows only bits 2:0, so an entry present through
	 * bit 10 alone is classified as if bit 2 were set (which changes no
	 * reserved-bit rule). */
	w->acc_and &= d | (mbec ? 0 : EPT_UX);
	if (!(d & EPT_RWX)) {
		if (!(mbec && (d & EPT_UX)))
			return PHYSIM_FAULT_NOT_PRESENT;
		cls |= EPT_X;
	}
	bool leaf = ept_is_leaf(d, level);
	enum pt_kind k = ept_classify_masked(cls, leaf, w->mmu->rsv[level][leaf]);
	if (PHYSIM_UNLIKELY(k == PT_RESERVED))
		return PHYSIM_FAULT_RESERVED;
	if (k != PT_TABLE && k != PT_LEAF)
		return PHYSIM_FAULT_NOT_PRESENT;
	s->d_new = d;
	if (w->ctl->ept_ad)
		s->d_new |= EPT_A; /* 29.3.5: A in every entry used */
	s->next = d & walk_oa_mask(w->mmu, level, leaf);
	if (k == PT_TABLE)
		return PHYSIM_FAULT_NONE;

	if (!ept_allows(w, w->acc_and))
		return PHYSIM_FAULT_PERMISSION;
	s->leaf = true;
	/* Effective rights; X is the execute bit that governs this linear
	 * address (bit 10 for user-mode addresses under MBEC). */
	uint64_t xbit = (mbec && ept_user_addr(w)) ? EPT_UX : EPT_X;
	s->perms = ((w->acc_and & EPT_R) ? PHYSIM_R : 0) | ((w->acc_and & EPT_W) ? PHYSIM_W : 0) |
		   ((w->acc_and & xbit) ? PHYSIM_X : 0);
	s->global = false;
	if (w->ctl->ept_ad && ept_is_write(w))
		s->d_new |= EPT_D; /* 29.3.5: D in the leaf on a write */
	return PHYSIM_FAULT_NONE;
}

/* Lookup mode (walk-loop.h, walk_lookup_loop): the codec alone. */
WALK_LOOKUP_CODEC_STEP(ept_lookup_step, ept_desc_classify, ept_desc_output_addr)

WALK_LOOKUP_FN(ept_lookup_4, ept_lookup_step, 4, 8, WALK_GEO_4K, 0)
WALK_LOOKUP_FN(ept_lookup_5, ept_lookup_step, 5, 8, WALK_GEO_4K, 0)

/* An EPT walk called from a nested stage 1 (walk-loop.h, WALK_GPA_FN). */
WALK_GPA_FN(ept_gpa_4, ept_begin, ept_step, 4, 8, 0)
WALK_GPA_FN(ept_gpa_5, ept_begin, ept_step, 5, 8, 0)

/* The one loop (walk-loop.h) for 4-level and 5-level EPT, never a nested
 * stage 1. */
static int ept_walk(const struct walk_req *r, struct physim_xlate *x)
{
	if (r->m->cfg.format->levels == 4)
		return walk_stage2_loop(r, x, ept_begin, ept_step, 4, 8);
	return walk_stage2_loop(r, x, ept_begin, ept_step, 5, 8);
}

static void ept_fault(const struct walk_state *w, enum physim_fault_kind kind, int level,
		      struct physim_fault *f)
{
	ept_fault_build(w, kind, level, f);
}

/* Architecture levels as for IA-32 paging: PT = 1 .. PML5 = 5. */
const struct pt_walk_ops physim_ept_walk_ops = {
    .level_base = 1,
    .level_dir = 1,
    .configure = ept_configure,
    .walk = ept_walk,
    .walk_gpa = {[4] = ept_gpa_4, [5] = ept_gpa_5},
    .fault = ept_fault,
    .lookup = {[4] = ept_lookup_4, [5] = ept_lookup_5},
};
