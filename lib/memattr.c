/* SPDX-License-Identifier: MIT */
/* lib/memattr.c - the effective memory type and shareability of a
 * translation (walk.h, physim_xlate_memattr): each stage's leaf decoded by
 * its codec, and the two stages of a nested walk combined as the manuals say. */
#include "walk-format.h"

static bool is_arm_device(enum physim_memtype t)
{
	return t >= PHYSIM_MEM_DEVICE_nGnRnE && t <= PHYSIM_MEM_DEVICE_GRE;
}

/* Decode one stage's leaf with its mmu's format and control state. The
 * engine level of the leaf is the inverse of walk_arch_level. */
static void stage_memattr(const struct physim_mmu *m, uint64_t d, int arch_level,
			  struct physim_memattr *out)
{
	const struct physim_pt_format *f = m->cfg.format;
	const struct pt_walk_ops *ops = m->ops;
	int n = ops->level_dir ? (arch_level - ops->level_base) / ops->level_dir : 0;
	struct pt_mem_ctl c = {.mair = m->cfg.ctl.mair, .pat = m->cfg.ctl.pat};

	*out = (struct physim_memattr){0};
	if (n < 0 || n >= f->levels)
		n = 0;
	if (f->ops->memattr != NULL)
		f->ops->memattr(f, d, (unsigned)n, &c, out);
}

/* Arm ARM D8.5, "Combining the stage 1 and stage 2 attributes" (FEAT_S2FWB
 * off): Device beats Normal and the more restrictive Device type wins
 * (nGnRnE < nGnRE < nGRE < GRE, the enum's order); between Normal types the
 * less cacheable wins (NC < WT < WB, the reverse of the enum's order). */
static enum physim_memtype arm_combine(enum physim_memtype a, enum physim_memtype b)
{
	if (a == PHYSIM_MEM_UNKNOWN || b == PHYSIM_MEM_UNKNOWN)
		return PHYSIM_MEM_UNKNOWN;
	if (is_arm_device(a) || is_arm_device(b)) {
		if (!is_arm_device(a))
			return b;
		if (!is_arm_device(b))
			return a;
		return a < b ? a : b;
	}
	return a > b ? a : b;
}

/* The wider of two shareability domains (D8.5, "Combining the stage 1 and
 * stage 2 shareability attributes"): outer > inner > non-shareable. */
static enum physim_shareability arm_sh_combine(enum physim_shareability a,
					       enum physim_shareability b)
{
	static const int rank[] = {[PHYSIM_SH_UNKNOWN] = -1,
				   [PHYSIM_SH_NONE] = 0,
				   [PHYSIM_SH_INNER] = 1,
				   [PHYSIM_SH_OUTER] = 2,
				   [PHYSIM_SH_SYSTEM] = 3};
	if (a == PHYSIM_SH_UNKNOWN || b == PHYSIM_SH_UNKNOWN)
		return PHYSIM_SH_UNKNOWN;
	return rank[a] >= rank[b] ? a : b;
}

static void arm_nested(const struct physim_memattr *s1, const struct physim_memattr *s2,
		       struct physim_memattr *out)
{
	out->type = arm_combine(s1->type, s2->type);
	out->outer = arm_combine(s1->outer, s2->outer);
	if (is_arm_device(out->type) || is_arm_device(out->outer))
		out->outer = out->type = is_arm_device(out->type) ? out->type : out->outer;
	out->sh_field = arm_sh_combine(s1->sh_field, s2->sh_field);
	/* Device and Normal inner+outer NC are outer shareable (D8.5). */
	bool nc = out->type == PHYSIM_MEM_NORMAL_NC && out->outer == PHYSIM_MEM_NORMAL_NC;
	out->sh = is_arm_device(out->type) || nc ? PHYSIM_SH_OUTER : out->sh_field;
}

/* x86 + EPT (SDM Vol. 3C "Memory Type Used for Translated Guest-Physical
 * Addresses"): IPAT = 1: the EPT type; else the EPT type in the MTRR's role
 * of SDM Vol. 3A "Effective Page-Level Memory Types" (row: MTRR/EPT type,
 * column: PAT type). */
static enum physim_memtype x86_combine(enum physim_memtype ept, enum physim_memtype pat)
{
	if (pat == PHYSIM_MEM_UC || pat == PHYSIM_MEM_WC)
		return pat;
	switch (ept) {
	case PHYSIM_MEM_UC:
		return PHYSIM_MEM_UC;
	case PHYSIM_MEM_WC:
		return pat == PHYSIM_MEM_WB || pat == PHYSIM_MEM_UC_MINUS ? PHYSIM_MEM_WC
									  : PHYSIM_MEM_UC;
	case PHYSIM_MEM_WT:
		return pat == PHYSIM_MEM_WB	    ? PHYSIM_MEM_WT
		       : pat == PHYSIM_MEM_UC_MINUS ? PHYSIM_MEM_UC
						    : pat;
	case PHYSIM_MEM_WP:
		return pat == PHYSIM_MEM_WB	    ? PHYSIM_MEM_WP
		       : pat == PHYSIM_MEM_UC_MINUS ? PHYSIM_MEM_WC
						    : pat;
	case PHYSIM_MEM_WB:
		return pat == PHYSIM_MEM_UC_MINUS ? PHYSIM_MEM_UC : pat;
	default:
		return PHYSIM_MEM_UNKNOWN;
	}
}

int physim_xlate_memattr(const struct physim_mmu *s1, const struct physim_mmu *s2,
			 const struct physim_xlate *x, struct physim_memattr *out)
{
	if (s1 == NULL || x == NULL || out == NULL)
		return -EINVAL;
	if (s2 != NULL && (s1->cfg.format->arch != s2->cfg.format->arch || s1->cfg.format->stage2 ||
			   !s2->cfg.format->stage2))
		return -EINVAL;
	if (x->fault.kind != PHYSIM_FAULT_NONE || x->leaf_desc == 0 ||
	    (s2 != NULL && x->s2_leaf_desc == 0))
		return -ENOENT;
	struct physim_memattr a, b;
	stage_memattr(s1, x->leaf_desc, x->level, &a);
	if (s2 == NULL) {
		*out = a;
		return 0;
	}
	stage_memattr(s2, x->s2_leaf_desc, 0, &b);
	*out = (struct physim_memattr){.sh = PHYSIM_SH_SYSTEM, .sh_field = PHYSIM_SH_SYSTEM};
	switch (s1->cfg.format->arch) {
	case PHYSIM_ARCH_AARCH64:
		arm_nested(&a, &b, out);
		break;
	case PHYSIM_ARCH_X86_64:
		out->type = b.ignore_pat ? b.type : x86_combine(b.type, a.type);
		out->outer = out->type;
		out->ignore_pat = b.ignore_pat;
		break;
	case PHYSIM_ARCH_RISCV64:
		/* [Svpbmt] with [H]: G-stage PBMT overrides the PMAs, VS-stage
		 * PBMT overrides that; PMA means "no override". */
		out->type = a.type != PHYSIM_MEM_PMA ? a.type : b.type;
		out->outer = out->type;
		break;
	default:
		*out = a;
		break;
	}
	return 0;
}
