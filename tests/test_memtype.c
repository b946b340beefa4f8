/* SPDX-License-Identifier: MIT */
/* tests/test_memtype.c - the one memory-type channel (issue 12 item 3) in all
 * 22 formats, checked against a model written from the manuals, and the
 * decoded memory type and shareability (item 2): per family from the
 * manuals' tables, MAIR permutations, the walker's view, nested stages and
 * TLB hits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/env.h"

#include "pt-format.h"
#include <physim/ram.h>
#include <physim/walk.h>

#include <stdio.h>
#include <string.h>

#define R  PHYSIM_R
#define W  PHYSIM_W
#define X  PHYSIM_X
#define DV PHYSIM_DEVICE
#define NC PHYSIM_UNCACHED

/* ---- the model: each family's memory-type field, from the manuals ----
 * Field values as the arch bits hold them. normal / device / uncached: the
 * values pt.h says the flags name; reserved(): what the manual reserves. */
struct mt_model {
	const char *prefix; /* formats whose name starts with it */
	uint64_t mask;	    /* the memory-type field in arch */
	uint64_t normal, device, uncached;
	bool (*reserved)(uint64_t v);
};

static bool none_reserved(uint64_t v)
{
	(void)v;
	return false;
}

/* SDM Vol. 3C 29.3.3.1: EPT memory types 2, 3, 7 are a misconfiguration. */
static bool ept_reserved(uint64_t v)
{
	uint64_t t = v >> 3;
	return t == 2 || t == 3 || t == 7;
}

/* Arm ARM D8.5: stage-2 MemAttr with a Normal outer and inner 0b00. */
static bool s2_reserved(uint64_t v)
{
	uint64_t m = v >> 2;
	return (m & 0xc) != 0 && (m & 3) == 0;
}

/* Svpbmt: PBMT 3. */
static bool pbmt_reserved(uint64_t v)
{
	return v == (UINT64_C(3) << 61);
}

/* LoongArch Vol. 1 5.1: MAT 3. */
static bool mat_reserved(uint64_t v)
{
	return v == 0x30;
}

/* Arm ARM G5.7 (TRE = 0): TEX 001 with CB 01 / 10, TEX 010 with CB != 00,
 * TEX 011. arch holds TEX in bits 8:6, C bit 3, B bit 2. */
static bool texcb_reserved(uint64_t v)
{
	unsigned tex = (unsigned)(v >> 6) & 7, cb = (unsigned)(v >> 2) & 3;
	return (tex == 1 && (cb == 1 || cb == 2)) || (tex == 2 && cb != 0) || tex == 3;
}

static const struct mt_model models[] = {
    /* SDM Vol. 3A 4.9.2: PAT (bit 7 in the 4K layout), PCD (4), PWT (3);
     * power-on PAT: index 0 WB, 2 UC-, 3 UC */
    {"x86_64-", 0x98, 0, 0x18, 0x10, none_reserved},
    {"i386-", 0x98, 0, 0x18, 0x10, none_reserved},
    /* SDM Vol. 3C 29.3.2: bits 5:3; WB 6, UC 0, WC 1 */
    {"ept-", 0x38, 6 << 3, 0, 1 << 3, ept_reserved},
    /* Arm ARM D8.3/D8.5: stage-2 MemAttr 5:2; Normal WB 0b1111,
     * Device-nGnRE 0b0001, Normal NC 0b0101 */
    {"aarch64-s2-", 0x3c, 0xf << 2, 1 << 2, 5 << 2, s2_reserved},
    /* AttrIndx 4:2 with PHYSIM_MAIR_DEFAULT: 0 WB, 1 Device-nGnRE, 2 NC */
    {"aarch64-", 0x1c, 0, 1 << 2, 2 << 2, none_reserved},
    /* Sv32 has no PBMT field */
    {"sv32", 0, 0, 0, 0, none_reserved},
    /* Svpbmt: bits 62:61; PMA 0, NC 1, IO 2 */
    {"sv", UINT64_C(3) << 61, 0, UINT64_C(2) << 61, UINT64_C(1) << 61, pbmt_reserved},
    /* LoongArch MAT 5:4: CC 1, SUC 0, WUC 2 */
    {"loongarch64-", 0x30, 0x10, 0, 0x20, mat_reserved},
    /* ARMv7 TEX:C:B: 001:1:1 WB-WA, 000:0:1 Shareable Device, 001:0:0 NC */
    {"armv7-", 0x1cc, 0x4c, 0x04, 0x40, texcb_reserved},
};

/* Field by field: a struct copy need not copy padding. */
static void assert_memattr_equal(const struct physim_memattr *a, const struct physim_memattr *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->outer, b->outer);
	assert_int_equal(a->sh, b->sh);
	assert_int_equal(a->sh_field, b->sh_field);
	assert_int_equal(a->ignore_pat, b->ignore_pat);
}

static const struct mt_model *model_of(const char *name)
{
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (strncmp(name, models[i].prefix, strlen(models[i].prefix)) == 0)
			return &models[i];
	fail_msg("no model for %s", name);
	return NULL;
}

/* pt.h "Memory type": accepted iff the type is given through one channel:
 * the flags alone (raw 0), or a raw value no flag names and the manual does
 * not reserve, with no memory-type flag; the format must support the flag. */
static bool model_accepts(const struct mt_model *m, uint32_t supported, uint32_t mt_flag,
			  uint64_t v)
{
	if (mt_flag & ~supported)
		return false;
	if (v == 0)
		return !(mt_flag == 0 && m->reserved(m->normal));
	if (mt_flag != 0 || m->reserved(v))
		return false;
	return v != m->normal && v != m->device && v != m->uncached;
}

/* The next value of the field after v (subsets of the mask's bits), 0 at
 * the end. */
static uint64_t next_value(uint64_t mask, uint64_t v)
{
	return (v - mask) & mask;
}

struct rig {
	struct tc_env *env;
	struct physim_pt *pt;
	const struct physim_pt_format *f;
};

static void rig_up(struct rig *r, const struct physim_pt_format *f, uint64_t mair)
{
	r->env = tc_env_new(64u << 20);
	r->f = f;
	assert_int_equal(
	    physim_pt_create_ex(
		&(struct physim_pt_config){.format = f, .paging = r->env->ph, .mair = mair},
		&r->pt),
	    0);
}

static void rig_down(struct rig *r)
{
	physim_pt_destroy(r->pt);
	assert_int_equal(physim_ram_stats(r->env->ram).used_frames, 0);
	tc_env_free(r->env);
}

static uint64_t used_frames(const struct rig *r)
{
	return physim_ram_stats(r->env->ram).used_frames;
}

/* A page size and VA the format maps at `level` (4 KiB-ish pages at 0). */
static uint64_t page_at(const struct physim_pt_format *f, unsigned level)
{
	return UINT64_C(1) << f->level[level].shift;
}

static void expect_query(const struct rig *r, uint64_t va, uint64_t pa, uint32_t flags,
			 uint64_t arch)
{
	struct physim_pt_mapping q;
	assert_int_equal(physim_pt_query(r->pt, va, &q), 0);
	if (q.flags != flags || q.arch != arch || q.pa != pa)
		print_error("%s va %#llx: query flags %#x arch %#llx pa %#llx, want %#x %#llx "
			    "%#llx\n",
			    r->f->name, (unsigned long long)va, q.flags, (unsigned long long)q.arch,
			    (unsigned long long)q.pa, flags, (unsigned long long)arch,
			    (unsigned long long)pa);
	assert_int_equal(q.flags, flags);
	assert_int_equal(q.arch, arch);
	assert_int_equal(q.pa, pa);
}

/* The walker reads the same leaf as the engine: the memory attributes of
 * a translation equal those physim_pt_memattr decodes. */
static void check_walker_agrees(const struct rig *r, uint64_t va)
{
	struct physim_mmu *mmu;
	physim_hpa_t root = physim_pt_root(r->pt);
	assert_int_equal(physim_mmu_create(
			     &(struct physim_mmu_config){
				 .format = r->f, .mem = r->env->ph, .root = root, .root_hi = root},
			     &mmu),
			 0);
	struct physim_xlate x;
	struct physim_memattr a, b;
	assert_int_equal(physim_mmu_probe(mmu, &(struct physim_access){.va = va}, &x), 0);
	assert_int_equal(physim_xlate_memattr(mmu, NULL, &x, &a), 0);
	assert_int_equal(physim_pt_memattr(r->pt, va, &b), 0);
	assert_memattr_equal(&a, &b);
	assert_int_not_equal(a.type, PHYSIM_MEM_UNKNOWN);
	physim_mmu_destroy(mmu);
}

/*
 * Every format, every memory-type flag choice (none, DEVICE, UNCACHED) x
 * every value of the format's memory-type field, at every leaf level:
 * flags_ok and map_ex accept exactly what the model accepts; an accepted
 * pair reads back exactly as given through query, and again after protect
 * with the same flags and after remap to another page, and the walker
 * decodes the same memory attributes from it; a refused pair
 * changes nothing (no frame allocated, nothing mapped).
 */
static void test_round_trip_all_formats(void **state)
{
	(void)state;
	unsigned accepted = 0, refused = 0, raw = 0;
	static const uint32_t mt_flags[] = {0, DV, NC};

	for (size_t i = 0; i < physim_format_count(); i++) {
		const struct physim_pt_format *f = physim_format_at(i);
		struct physim_pt_format_info info;
		physim_format_get_info(f, &info);
		const struct mt_model *m = model_of(info.name);
		/* The field is where the manual puts it. */
		assert_int_equal(info.arch_memtype_mask, m->mask);
		assert_int_equal(info.arch_attr_mask & m->mask, m->mask);
		/* x86 needs R (and X in 32-bit paging); the rest take R|W|X too. */
		uint32_t base = R | W | X;
		struct rig r;
		rig_up(&r, f, 0);
		uint64_t va = 0;
		for (unsigned level = 0; level < info.levels; level++) {
			if (!info.level[level].leaf_ok || page_at(f, level) > (UINT64_C(1) << 21))
				continue;
			uint64_t size = page_at(f, level);
			va = (va + size - 1) & ~(size - 1);
			for (unsigned k = 0; k < 3; k++) {
				uint64_t v = 0;
				do {
					uint32_t flags = base | mt_flags[k];
					bool want =
					    model_accepts(m, info.flags_supported, mt_flags[k], v);
					int ok = physim_format_flags_ok(f, flags, v);
					if ((ok == 0) != want)
						print_error(
						    "%s flags %#x arch %#llx: flags_ok %d, model "
						    "%d\n",
						    info.name, flags, (unsigned long long)v, ok,
						    want);
					assert_int_equal(ok, want ? 0 : -ENOTSUP);
					uint64_t frames = used_frames(&r);
					uint64_t pa = 4 * size;
					struct physim_pt_mapping mp = {.va = va,
								       .pa = pa,
								       .size = size,
								       .flags = flags,
								       .arch = v};
					int rc = physim_pt_map_ex(r.pt, &mp, 0);
					assert_int_equal(rc, want ? 0 : -ENOTSUP);
					if (!want) {
						assert_int_equal(used_frames(&r), frames);
						assert_int_equal(physim_pt_query(r.pt, va, NULL),
								 -ENOENT);
						refused++;
					} else {
						expect_query(&r, va, pa, flags, v);
						check_walker_agrees(&r, va);
						assert_int_equal(physim_pt_protect(r.pt, va, flags),
								 0);
						expect_query(&r, va, pa, flags, v);
						assert_int_equal(
						    physim_pt_remap(r.pt, va, pa + size, flags), 0);
						expect_query(&r, va, pa + size, flags, v);
						assert_int_equal(physim_pt_unmap(r.pt, va, NULL),
								 0);
						accepted++;
						raw += v != 0;
					}
					va += size;
					v = next_value(m->mask, v);
				} while (v != 0);
			}
		}
		rig_down(&r);
	}
	/* Both sides were exercised in earnest. */
	assert_true(accepted > 100);
	assert_true(refused > 100);
	assert_true(raw > 30);
}

/* The issue's cases, one per family: a raw value the flags name is refused
 * and nothing is mapped; the flag itself reads back as the flag. */
static void test_issue_cases(void **state)
{
	(void)state;
	static const struct {
		const char *fmt;
		uint32_t flags;
		uint64_t arch;
	} cases[] = {
	    {"x86_64-4l", R | W, 0x10},
	    {"i386-2l", R | X, 0x10},
	    {"ept-4l", R | W, 0x8},
	    {"aarch64-4k-48", R | W, 0x4},
	    {"aarch64-4k-48", R | W, 0x8},
	    {"aarch64-s2-4k-40", R | W, 0x4},
	    {"aarch64-s2-4k-48", R | W, 0x14},
	    {"sv39", R | W, UINT64_C(1) << 62},
	    {"sv48x4", R | W, UINT64_C(1) << 61},
	    {"loongarch64-4k-48", R | W, 0x20},
	    {"armv7-short", R | W, 0x4},
	    {"armv7-short", R | W, 0x40},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rig r;
		rig_up(&r, physim_format(cases[i].fmt), 0);
		uint64_t frames = used_frames(&r);
		struct physim_pt_mapping mp = {.va = 0x200000,
					       .pa = 0x400000,
					       .size = 4096,
					       .flags = cases[i].flags,
					       .arch = cases[i].arch};
		assert_int_equal(physim_format_flags_ok(r.f, mp.flags, mp.arch), -ENOTSUP);
		assert_int_equal(physim_pt_map_ex(r.pt, &mp, 0), -ENOTSUP);
		assert_int_equal(used_frames(&r), frames);
		assert_int_equal(physim_pt_query(r.pt, 0x200000, NULL), -ENOENT);
		rig_down(&r);
	}
}

/* protect and remap: new flags naming a type replace a raw type; flags
 * naming none keep it (pt.h). x86: PWT (PAT index 1, WT). */
static void test_protect_switches_channel(void **state)
{
	(void)state;
	struct rig r;
	rig_up(&r, physim_format("x86_64-4l"), 0);
	struct physim_pt_mapping mp = {
	    .va = 0x1000, .pa = 0x5000, .size = 4096, .flags = R | W, .arch = 0x8 | 0x100};
	assert_int_equal(physim_pt_map_ex(r.pt, &mp, 0), 0);
	expect_query(&r, 0x1000, 0x5000, R | W, 0x108);
	assert_int_equal(physim_pt_protect(r.pt, 0x1000, R), 0);
	expect_query(&r, 0x1000, 0x5000, R, 0x108); /* WT and G kept */
	assert_int_equal(physim_pt_protect(r.pt, 0x1000, R | DV), 0);
	expect_query(&r, 0x1000, 0x5000, R | DV, 0x100); /* UC by the flag, G kept */
	assert_int_equal(physim_pt_remap(r.pt, 0x1000, 0x6000, R | W | NC), 0);
	expect_query(&r, 0x1000, 0x6000, R | W | NC, 0x100);
	assert_int_equal(physim_pt_protect(r.pt, 0x1000, R | W), 0);
	expect_query(&r, 0x1000, 0x6000, R | W, 0x100); /* back to the default WB */
	struct physim_memattr a;
	assert_int_equal(physim_pt_memattr(r.pt, 0x1000, &a), 0);
	assert_int_equal(a.type, PHYSIM_MEM_WB);
	rig_down(&r);
}

/* ---- decoded memory type and shareability ---- */

static struct physim_memattr memattr_of(const struct physim_pt_format *f, uint64_t d,
					unsigned level, uint64_t mair, uint64_t pat)
{
	struct physim_memattr a = {0};
	assert_non_null(f->ops->memattr);
	f->ops->memattr(f, d, level, &(struct pt_mem_ctl){.mair = mair, .pat = pat}, &a);
	return a;
}

/* SDM Vol. 3A 4.9.2 and the PAT MSR: the index is PAT:PCD:PWT, PAT in bit 7
 * of a PTE and bit 12 of a large page; power-on PAT 0x0007040600070406. */
static void test_memattr_x86(void **state)
{
	(void)state;
	const struct physim_pt_format *f = physim_format("x86_64-4l");
	static const enum physim_memtype poweron[8] = {
	    PHYSIM_MEM_WB, PHYSIM_MEM_WT, PHYSIM_MEM_UC_MINUS, PHYSIM_MEM_UC,
	    PHYSIM_MEM_WB, PHYSIM_MEM_WT, PHYSIM_MEM_UC_MINUS, PHYSIM_MEM_UC};
	/* Linux's PAT: PA1 = WC (0x01), PA5 = WP (0x05), PA6 = UC- , PA7 = WT. */
	const uint64_t linux_pat = UINT64_C(0x0407050600070106);
	static const enum physim_memtype linux_t[8] = {
	    PHYSIM_MEM_WB, PHYSIM_MEM_WC, PHYSIM_MEM_UC_MINUS, PHYSIM_MEM_UC,
	    PHYSIM_MEM_WB, PHYSIM_MEM_WP, PHYSIM_MEM_UC_MINUS, PHYSIM_MEM_WT};
	for (unsigned idx = 0; idx < 8; idx++) {
		uint64_t pte = 0x1001 | ((idx & 1) ? 0x8 : 0) | ((idx & 2) ? 0x10 : 0) |
			       ((idx & 4) ? 0x80 : 0);
		uint64_t pde = 0x200081 | ((idx & 1) ? 0x8 : 0) | ((idx & 2) ? 0x10 : 0) |
			       ((idx & 4) ? 0x1000 : 0);
		struct physim_memattr a = memattr_of(f, pte, 0, 0, 0);
		assert_int_equal(a.type, poweron[idx]);
		assert_int_equal(a.outer, poweron[idx]);
		assert_int_equal(a.sh, PHYSIM_SH_SYSTEM);
		assert_int_equal(memattr_of(f, pde, 1, 0, 0).type, poweron[idx]);
		assert_int_equal(memattr_of(f, pte, 0, 0, linux_pat).type, linux_t[idx]);
		assert_int_equal(memattr_of(f, pde, 1, 0, linux_pat).type, linux_t[idx]);
	}
	/* EPT (SDM Vol. 3C 29.3.7): 0 UC, 1 WC, 4 WT, 5 WP, 6 WB; IPAT bit 6. */
	f = physim_format("ept-4l");
	static const enum physim_memtype ept[8] = {
	    PHYSIM_MEM_UC, PHYSIM_MEM_WC, PHYSIM_MEM_UNKNOWN, PHYSIM_MEM_UNKNOWN,
	    PHYSIM_MEM_WT, PHYSIM_MEM_WP, PHYSIM_MEM_WB,      PHYSIM_MEM_UNKNOWN};
	for (unsigned t = 0; t < 8; t++) {
		struct physim_memattr a = memattr_of(f, 0x1007 | (t << 3), 0, 0, 0);
		assert_int_equal(a.type, ept[t]);
		assert_false(a.ignore_pat);
		assert_true(memattr_of(f, 0x1047 | (t << 3), 0, 0, 0).ignore_pat);
	}
}

/* Arm ARM D8.5 / MAIR_ELx: Attr bytes, with a descriptor of each AttrIndx
 * and SH value. */
static void test_memattr_aarch64_s1(void **state)
{
	(void)state;
	const struct physim_pt_format *f = physim_format("aarch64-4k-48");
	static const struct {
		unsigned attr;
		enum physim_memtype inner, outer;
	} attrs[] = {
	    {0x00, PHYSIM_MEM_DEVICE_nGnRnE, PHYSIM_MEM_DEVICE_nGnRnE},
	    {0x04, PHYSIM_MEM_DEVICE_nGnRE, PHYSIM_MEM_DEVICE_nGnRE},
	    {0x08, PHYSIM_MEM_DEVICE_nGRE, PHYSIM_MEM_DEVICE_nGRE},
	    {0x0c, PHYSIM_MEM_DEVICE_GRE, PHYSIM_MEM_DEVICE_GRE},
	    {0x44, PHYSIM_MEM_NORMAL_NC, PHYSIM_MEM_NORMAL_NC},
	    {0xff, PHYSIM_MEM_NORMAL_WB, PHYSIM_MEM_NORMAL_WB},
	    {0xee, PHYSIM_MEM_NORMAL_WB, PHYSIM_MEM_NORMAL_WB},
	    {0xbb, PHYSIM_MEM_NORMAL_WT, PHYSIM_MEM_NORMAL_WT},
	    {0x88, PHYSIM_MEM_NORMAL_WT, PHYSIM_MEM_NORMAL_WT},
	    {0x4f, PHYSIM_MEM_NORMAL_WB, PHYSIM_MEM_NORMAL_NC},
	    {0xf4, PHYSIM_MEM_NORMAL_NC, PHYSIM_MEM_NORMAL_WB},
	    {0x7b, PHYSIM_MEM_NORMAL_WT, PHYSIM_MEM_NORMAL_WB}, /* WB transient outer */
	    {0xf0, PHYSIM_MEM_NORMAL_WB, PHYSIM_MEM_NORMAL_WB}, /* tagged (MTE) */
	    {0x40, PHYSIM_MEM_UNKNOWN, PHYSIM_MEM_UNKNOWN},	/* inner 0000: UNPREDICTABLE */
	    {0x01, PHYSIM_MEM_UNKNOWN, PHYSIM_MEM_UNKNOWN},	/* Device 0bxx01 */
	};
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		for (unsigned idx = 0; idx < 8; idx++) {
			/* the attribute at index idx, 0x44 elsewhere */
			uint64_t mair =
			    UINT64_C(0x4444444444444444) & ~(UINT64_C(0xff) << (8 * idx));
			mair |= (uint64_t)attrs[i].attr << (8 * idx);
			uint64_t d = UINT64_C(0x0060000080001703) | (idx << 2);
			struct physim_memattr a = memattr_of(f, d, 0, mair, 0);
			assert_int_equal(a.type, attrs[i].inner);
			assert_int_equal(a.outer, attrs[i].outer);
			assert_int_equal(a.sh_field, PHYSIM_SH_INNER);
		}
	/* SH: 00 none, 10 outer, 11 inner, 01 reserved, for Normal WB; Device
	 * and Normal NC are outer shareable whatever SH says. */
	static const enum physim_shareability sh[4] = {PHYSIM_SH_NONE, PHYSIM_SH_UNKNOWN,
						       PHYSIM_SH_OUTER, PHYSIM_SH_INNER};
	for (unsigned s = 0; s < 4; s++) {
		uint64_t d = UINT64_C(0x0060000080001403) | ((uint64_t)s << 8);
		struct physim_memattr a = memattr_of(f, d, 0, 0, 0); /* index 0: WB */
		assert_int_equal(a.sh_field, sh[s]);
		assert_int_equal(a.sh, sh[s]);
		a = memattr_of(f, d | (1 << 2), 0, 0, 0); /* index 1: Device-nGnRE */
		assert_int_equal(a.type, PHYSIM_MEM_DEVICE_nGnRE);
		assert_int_equal(a.sh_field, sh[s]);
		assert_int_equal(a.sh, PHYSIM_SH_OUTER);
		a = memattr_of(f, d | (2 << 2), 0, 0, 0); /* index 2: NC */
		assert_int_equal(a.sh, PHYSIM_SH_OUTER);
	}
}

/* Every placement of Normal WB, Device-nGnRE and Normal NC in a MAIR (other
 * slots Normal WT): the engine encodes the flags with those indexes, the
 * walker and query report the types, and the old fixed indexes are raw. */
static void test_mair_permutations(void **state)
{
	(void)state;
	const struct physim_pt_format *f = physim_format("aarch64-4k-48");
	unsigned perms = 0;
	for (unsigned iw = 0; iw < 8; iw++)
		for (unsigned id = 0; id < 8; id++)
			for (unsigned in = 0; in < 8; in++) {
				if (iw == id || id == in || iw == in)
					continue;
				uint64_t mair = 0;
				for (unsigned k = 0; k < 8; k++)
					mair |= (uint64_t)(k == iw   ? 0xff
							   : k == id ? 0x04
							   : k == in ? 0x44
								     : 0xbb)
						<< (8 * k);
				struct rig r;
				rig_up(&r, f, mair);
				/* physim_pt_format still names the static format */
				assert_ptr_equal(physim_pt_format(r.pt), f);
				static const uint32_t fl[3] = {0, DV, NC};
				const unsigned want_idx[3] = {iw, id, in};
				static const enum physim_memtype want_t[3] = {
				    PHYSIM_MEM_NORMAL_WB, PHYSIM_MEM_DEVICE_nGnRE,
				    PHYSIM_MEM_NORMAL_NC};
				struct physim_mmu *mmu;
				assert_int_equal(
				    physim_mmu_create(
					&(struct physim_mmu_config){.format = f,
								    .mem = r.env->ph,
								    .root = physim_pt_root(r.pt),
								    .ctl = {.mair = mair}},
					&mmu),
				    0);
				for (unsigned k = 0; k < 3; k++) {
					uint64_t va = 0x10000 + k * 0x1000;
					assert_int_equal(
					    physim_pt_map(r.pt, va, 0x100000, 4096, R | W | fl[k]),
					    0);
					expect_query(&r, va, 0x100000, R | W | fl[k], 0);
					struct physim_xlate x;
					assert_int_equal(
					    physim_mmu_translate(
						mmu, &(struct physim_access){.va = va}, &x),
					    0);
					assert_int_equal((x.leaf_desc >> 2) & 7, want_idx[k]);
					struct physim_memattr a, b;
					assert_int_equal(physim_xlate_memattr(mmu, NULL, &x, &a),
							 0);
					assert_int_equal(a.type, want_t[k]);
					assert_int_equal(physim_pt_memattr(r.pt, va, &b), 0);
					assert_memattr_equal(&a, &b);
				}
				/* A raw index naming no flag: Normal WT, reported raw. */
				unsigned other = 1; /* 0 in arch means "not given" */
				while (other == iw || other == id || other == in)
					other++;
				struct physim_pt_mapping mp = {.va = 0x20000,
							       .pa = 0x100000,
							       .size = 4096,
							       .flags = R,
							       .arch = (uint64_t)other << 2};
				assert_int_equal(physim_pt_map_ex(r.pt, &mp, 0), 0);
				expect_query(&r, 0x20000, 0x100000, R, (uint64_t)other << 2);
				struct physim_memattr a;
				assert_int_equal(physim_pt_memattr(r.pt, 0x20000, &a), 0);
				if (a.type != PHYSIM_MEM_NORMAL_WT)
					print_error("mair %#llx other %u: type %d\n",
						    (unsigned long long)mair, other, a.type);
				assert_int_equal(a.type, PHYSIM_MEM_NORMAL_WT);
				/* The flags' own indexes are refused raw. */
				mp.va = 0x21000;
				for (unsigned k = 0; k < 3; k++) {
					mp.arch = (uint64_t)want_idx[k] << 2;
					assert_int_equal(physim_pt_map_ex(r.pt, &mp, 0),
							 want_idx[k] == 0 ? 0 : -ENOTSUP);
					if (want_idx[k] == 0)
						assert_int_equal(
						    physim_pt_unmap(r.pt, 0x21000, NULL), 0);
				}
				physim_mmu_destroy(mmu);
				rig_down(&r);
				perms++;
			}
	assert_int_equal(perms, 8 * 7 * 6);

	/* A MAIR without NC: UNCACHED cannot be expressed; without a Device-
	 * nGnRE, DEVICE takes the lowest other Device type; a MAIR on another
	 * family is refused. */
	struct rig r;
	rig_up(&r, f, UINT64_C(0x000000000008ff00)); /* 0 nGnRnE, 1 WB, 2 nGRE */
	assert_int_equal(physim_pt_map(r.pt, 0x1000, 0x2000, 4096, R | NC), -ENOTSUP);
	/* the table's flags_ok knows its MAIR; the format's, the default */
	assert_int_equal(physim_pt_flags_ok(r.pt, R | NC, 0), -ENOTSUP);
	assert_int_equal(physim_format_flags_ok(f, R | NC, 0), 0);
	assert_int_equal(physim_pt_flags_ok(r.pt, R, 2 << 2), 0);	 /* nGRE: DEVICE took 0 */
	assert_int_equal(physim_pt_flags_ok(r.pt, R, 1 << 2), -ENOTSUP); /* the default's */
	assert_int_equal(physim_pt_flags_ok(r.pt, R, 3 << 2), 0);
	assert_int_equal(physim_pt_flags_ok(NULL, R, 0), -EINVAL);
	assert_int_equal(physim_pt_map(r.pt, 0x1000, 0x2000, 4096, R | DV), 0);
	struct physim_memattr a;
	assert_int_equal(physim_pt_memattr(r.pt, 0x1000, &a), 0);
	assert_int_equal(a.type, PHYSIM_MEM_DEVICE_nGnRnE);
	assert_int_equal(physim_pt_map(r.pt, 0x3000, 0x2000, 4096, R), 0);
	assert_int_equal(physim_pt_memattr(r.pt, 0x3000, &a), 0);
	assert_int_equal(a.type, PHYSIM_MEM_NORMAL_WB);
	rig_down(&r);
	struct tc_env *e = tc_env_new(1u << 20);
	struct physim_pt *pt;
	assert_int_equal(physim_pt_create_ex(
			     &(struct physim_pt_config){
				 .format = physim_format("sv39"), .paging = e->ph, .mair = 0xff},
			     &pt),
			 -EINVAL);
	assert_int_equal(physim_pt_create_ex(
			     &(struct physim_pt_config){.format = physim_format("aarch64-s2-4k-48"),
							.paging = e->ph,
							.mair = 0xff},
			     &pt),
			 -EINVAL);
	tc_env_free(e);
}

/* Stage 2 (D8.5, FEAT_S2FWB off): every MemAttr, and SH now visible. */
static void test_memattr_aarch64_s2(void **state)
{
	(void)state;
	const struct physim_pt_format *f = physim_format("aarch64-s2-4k-48");
	static const enum physim_memtype dev[4] = {PHYSIM_MEM_DEVICE_nGnRnE,
						   PHYSIM_MEM_DEVICE_nGnRE, PHYSIM_MEM_DEVICE_nGRE,
						   PHYSIM_MEM_DEVICE_GRE};
	static const enum physim_memtype cache[4] = {PHYSIM_MEM_UNKNOWN, PHYSIM_MEM_NORMAL_NC,
						     PHYSIM_MEM_NORMAL_WT, PHYSIM_MEM_NORMAL_WB};
	for (unsigned m = 0; m < 16; m++) {
		uint64_t d = UINT64_C(0x00400000800007c3) | ((uint64_t)m << 2);
		struct physim_memattr a = memattr_of(f, d, 0, 0, 0);
		if ((m >> 2) == 0) {
			assert_int_equal(a.type, dev[m]);
			assert_int_equal(a.outer, dev[m]);
		} else if ((m & 3) == 0) {
			assert_int_equal(a.type, PHYSIM_MEM_UNKNOWN);
		} else {
			assert_int_equal(a.type, cache[m & 3]);
			assert_int_equal(a.outer, cache[m >> 2]);
		}
	}
	/* The issue's case: SH = 00 and SH = 11 both query as arch = 0 (the
	 * flags cannot tell them apart), the memory attributes can. */
	struct rig r;
	rig_up(&r, f, 0);
	assert_int_equal(physim_pt_map(r.pt, 0x1000, 0x5000, 4096, R | W), 0);
	assert_int_equal(physim_pt_map(r.pt, 0x2000, 0x5000, 4096, R | W), 0);
	struct physim_mmu *mmu;
	assert_int_equal(physim_mmu_create(
			     &(struct physim_mmu_config){
				 .format = f, .mem = r.env->ph, .root = physim_pt_root(r.pt)},
			     &mmu),
			 0);
	struct physim_xlate x;
	assert_int_equal(physim_mmu_translate(mmu, &(struct physim_access){.va = 0x2000}, &x), 0);
	/* Rewrite the second leaf with SH = 00, as other code might. */
	uint64_t l3 = 0;
	{
		/* find the leaf's table: walk the engine's tables by hand */
		uint64_t t = physim_pt_root(r.pt);
		for (int lvl = 3; lvl > 0; lvl--) {
			uint64_t e =
			    tc_get64(r.env, t + ((UINT64_C(0x2000) >> (12 + 9 * lvl)) & 511) * 8);
			t = e & UINT64_C(0x0000fffffffff000);
		}
		l3 = t + 2 * 8;
	}
	assert_int_equal(tc_get64(r.env, l3), x.leaf_desc);
	tc_put64(r.env, l3, x.leaf_desc & ~(UINT64_C(3) << 8));
	struct physim_pt_mapping q1, q2;
	assert_int_equal(physim_pt_query(r.pt, 0x1000, &q1), 0);
	assert_int_equal(physim_pt_query(r.pt, 0x2000, &q2), 0);
	assert_int_equal(q1.arch, q2.arch); /* still the same through the flags */
	struct physim_memattr a1, a2;
	assert_int_equal(physim_pt_memattr(r.pt, 0x1000, &a1), 0);
	assert_int_equal(physim_pt_memattr(r.pt, 0x2000, &a2), 0);
	assert_int_equal(a1.sh, PHYSIM_SH_INNER);
	assert_int_equal(a2.sh, PHYSIM_SH_NONE);
	assert_int_equal(physim_mmu_translate(mmu, &(struct physim_access){.va = 0x2000}, &x), 0);
	assert_int_equal(physim_xlate_memattr(mmu, NULL, &x, &a2), 0);
	assert_int_equal(a2.sh, PHYSIM_SH_NONE);
	assert_int_equal(a2.type, PHYSIM_MEM_NORMAL_WB);
	physim_mmu_destroy(mmu);
	rig_down(&r);
}

/* RISC-V Svpbmt, LoongArch MAT, ARMv7 TEX/C/B: every field value. */
static void test_memattr_others(void **state)
{
	(void)state;
	const struct physim_pt_format *f = physim_format("sv39");
	static const enum physim_memtype pbmt[4] = {PHYSIM_MEM_PMA, PHYSIM_MEM_NORMAL_NC,
						    PHYSIM_MEM_IO, PHYSIM_MEM_UNKNOWN};
	for (unsigned p = 0; p < 4; p++) {
		struct physim_memattr a = memattr_of(f, 0x20000cf | ((uint64_t)p << 61), 0, 0, 0);
		assert_int_equal(a.type, pbmt[p]);
		assert_int_equal(a.sh, PHYSIM_SH_SYSTEM);
	}
	/* Sv32 has no PBMT: bits 31:30 are PPN bits there. */
	assert_int_equal(memattr_of(physim_format("sv32"), 0xc00000cf, 0, 0, 0).type,
			 PHYSIM_MEM_PMA);

	f = physim_format("loongarch64-4k-48");
	static const enum physim_memtype mat[4] = {PHYSIM_MEM_SUC, PHYSIM_MEM_CC, PHYSIM_MEM_WUC,
						   PHYSIM_MEM_UNKNOWN};
	for (unsigned m = 0; m < 4; m++)
		assert_int_equal(memattr_of(f, 0x90001183 | (m << 4), 0, 0, 0).type, mat[m]);

	/* ARMv7 (G5.7, TRE = 0): small page TEX 8:6, C 3, B 2, S 10. */
	f = physim_format("armv7-short");
	static const struct {
		unsigned texcb; /* TEX:C:B as TEX<<2 | C<<1 | B */
		enum physim_memtype inner, outer;
	} v7[] = {
	    {0x00, PHYSIM_MEM_DEVICE_nGnRnE, PHYSIM_MEM_DEVICE_nGnRnE},
	    {0x01, PHYSIM_MEM_DEVICE_nGnRE, PHYSIM_MEM_DEVICE_nGnRE},
	    {0x02, PHYSIM_MEM_NORMAL_WT, PHYSIM_MEM_NORMAL_WT},
	    {0x03, PHYSIM_MEM_NORMAL_WB, PHYSIM_MEM_NORMAL_WB},
	    {0x04, PHYSIM_MEM_NORMAL_NC, PHYSIM_MEM_NORMAL_NC},
	    {0x05, PHYSIM_MEM_UNKNOWN, PHYSIM_MEM_UNKNOWN},
	    {0x07, PHYSIM_MEM_NORMAL_WB, PHYSIM_MEM_NORMAL_WB},
	    {0x08, PHYSIM_MEM_DEVICE_nGnRE, PHYSIM_MEM_DEVICE_nGnRE},
	    {0x0c, PHYSIM_MEM_UNKNOWN, PHYSIM_MEM_UNKNOWN},
	    {0x10, PHYSIM_MEM_NORMAL_NC, PHYSIM_MEM_NORMAL_NC},
	    {0x12, PHYSIM_MEM_NORMAL_WT, PHYSIM_MEM_NORMAL_NC},
	    {0x15, PHYSIM_MEM_NORMAL_WB, PHYSIM_MEM_NORMAL_WB},
	    {0x1b, PHYSIM_MEM_NORMAL_WB, PHYSIM_MEM_NORMAL_WT},
	};
	for (size_t i = 0; i < sizeof(v7) / sizeof(v7[0]); i++) {
		unsigned t = v7[i].texcb;
		uint64_t page =
		    0x80001012 | ((t >> 2) << 6) | ((t & 2) ? 8 : 0) | ((t & 1) ? 4 : 0);
		struct physim_memattr a = memattr_of(f, page, 0, 0, 0);
		assert_int_equal(a.type, v7[i].inner);
		assert_int_equal(a.outer, v7[i].outer);
		/* a section: the same fields 6 bits higher (C, B in place) */
		uint64_t sect =
		    0x80100002 | ((t >> 2) << 12) | ((t & 2) ? 8 : 0) | ((t & 1) ? 4 : 0);
		assert_int_equal(memattr_of(f, sect, 1, 0, 0).type, v7[i].inner);
	}
	/* S: Normal WB-WA with S = 0 is non-shareable, with S = 1 shareable;
	 * Shareable Device is shareable whatever S; Non-shareable Device not. */
	assert_int_equal(memattr_of(f, 0x8000105e, 0, 0, 0).sh, PHYSIM_SH_NONE);
	assert_int_equal(memattr_of(f, 0x8000145e, 0, 0, 0).sh, PHYSIM_SH_OUTER);
	assert_int_equal(memattr_of(f, 0x80001016, 0, 0, 0).sh, PHYSIM_SH_OUTER);
	assert_int_equal(memattr_of(f, 0x80001092, 0, 0, 0).sh, PHYSIM_SH_NONE);
}

/* ---- the walker: lone stages, nested stages, TLB hits ---- */

struct nested_rig {
	struct tc_env *env;
	struct physim_pt *s1, *s2;
	struct physim_mmu *m1, *m2;
};

/* Stage 1 in "guest memory" identity-mapped by stage 2 (the same RAM):
 * stage 2 maps the RAM's 32 MiB 1:1 with s2_flags/s2_arch, stage 1 maps va
 * 0x400000 to RAM base + 0x800000 with s1_flags/s1_arch. */
static void nested_up(struct nested_rig *n, const char *f1, const char *f2, uint32_t s1_flags,
		      uint64_t s1_arch, uint32_t s2_flags, uint64_t s2_arch,
		      const struct physim_mmu_ctl *ctl1)
{
	n->env = tc_env_new(32u << 20);
	assert_int_equal(physim_pt_create(physim_format(f1), n->env->ph, &n->s1), 0);
	assert_int_equal(physim_pt_create(physim_format(f2), n->env->ph, &n->s2), 0);
	uint64_t base = n->env->dm.base;
	for (uint64_t a = base; a < base + (32u << 20); a += 4096) {
		struct physim_pt_mapping mp = {
		    .va = a, .pa = a, .size = 4096, .flags = s2_flags, .arch = s2_arch};
		assert_int_equal(physim_pt_map_ex(n->s2, &mp, 0), 0);
	}
	struct physim_pt_mapping mp = {.va = 0x400000,
				       .pa = base + 0x800000,
				       .size = 4096,
				       .flags = s1_flags,
				       .arch = s1_arch};
	assert_int_equal(physim_pt_map_ex(n->s1, &mp, 0), 0);
	assert_int_equal(
	    physim_mmu_create(&(struct physim_mmu_config){.format = physim_format(f1),
							  .root = physim_pt_root(n->s1),
							  .ctl = *ctl1},
			      &n->m1),
	    0);
	assert_int_equal(
	    physim_mmu_create(&(struct physim_mmu_config){.format = physim_format(f2),
							  .mem = n->env->ph,
							  .root = physim_pt_root(n->s2)},
			      &n->m2),
	    0);
}

static void nested_down(struct nested_rig *n)
{
	physim_mmu_destroy(n->m1);
	physim_mmu_destroy(n->m2);
	physim_pt_destroy(n->s1);
	physim_pt_destroy(n->s2);
	tc_env_free(n->env);
}

static struct physim_memattr nested_attr(const char *f1, const char *f2, uint32_t s1_flags,
					 uint64_t s1_arch, uint32_t s2_flags, uint64_t s2_arch)
{
	struct nested_rig n;
	struct physim_mmu_ctl ctl = {0};
	nested_up(&n, f1, f2, s1_flags, s1_arch, s2_flags, s2_arch, &ctl);
	struct physim_xlate x;
	int rc = physim_nested_translate(n.m1, n.m2, &(struct physim_access){.va = 0x400123}, &x);
	if (rc != 0)
		print_error("%s over %s: %s\n", f1, f2, physim_fault_str(&x.fault));
	assert_int_equal(rc, 0);
	assert_int_equal(x.pa, n.env->dm.base + 0x800123);
	struct physim_memattr a;
	assert_int_equal(physim_xlate_memattr(n.m1, n.m2, &x, &a), 0);
	nested_down(&n);
	return a;
}

static void test_nested_memattr(void **state)
{
	(void)state;
	struct physim_memattr a;
	/* AArch64 (D8.5 combining): Normal WB + Device-nGnRE -> Device;
	 * Device-GRE (raw 0xc) + Device-nGnRE -> nGnRE; Normal NC + WB -> NC;
	 * stage-2 Normal WT (0b1010 raw) + WB -> WT; SH outer at stage 1 +
	 * inner at stage 2 -> outer. */
	a = nested_attr("aarch64-4k-48", "aarch64-s2-4k-48", R | W, 0, R | W, 0);
	assert_int_equal(a.type, PHYSIM_MEM_NORMAL_WB);
	assert_int_equal(a.sh, PHYSIM_SH_INNER);
	a = nested_attr("aarch64-4k-48", "aarch64-s2-4k-48", R | W, 0, R | W | DV, 0);
	assert_int_equal(a.type, PHYSIM_MEM_DEVICE_nGnRE);
	assert_int_equal(a.sh, PHYSIM_SH_OUTER);
	a = nested_attr("aarch64-4k-48", "aarch64-s2-4k-48", R | W | NC, 0, R | W, 0);
	assert_int_equal(a.type, PHYSIM_MEM_NORMAL_NC);
	assert_int_equal(a.outer, PHYSIM_MEM_NORMAL_NC);
	a = nested_attr("aarch64-4k-48", "aarch64-s2-4k-48", R | W, 0, R | W, 0xa << 2);
	assert_int_equal(a.type, PHYSIM_MEM_NORMAL_WT);
	assert_int_equal(a.outer, PHYSIM_MEM_NORMAL_WT);
	a = nested_attr("aarch64-4k-48", "aarch64-s2-4k-48", R | W, 0x200, R | W, 0);
	assert_int_equal(a.sh, PHYSIM_SH_OUTER);
	/* stage 1 Device-nGnRnE (raw index 3 in the default MAIR) with stage 2
	 * Device-GRE: the more restrictive, nGnRnE */
	a = nested_attr("aarch64-4k-48", "aarch64-s2-4k-48", R | W, 3 << 2, R | W, 3 << 2);
	assert_int_equal(a.type, PHYSIM_MEM_DEVICE_nGnRnE);

	/* x86 + EPT (SDM Vol. 3C 29.3.7.2, Vol. 3A "Effective Page-Level Memory
	 * Types"): EPT WB x PAT UC- -> UC; EPT WC x PAT WB -> WC; EPT WT x PAT
	 * WB -> WT; EPT WP x PAT UC- -> WC; IPAT: the EPT type. */
	a = nested_attr("x86_64-4l", "ept-4l", R | W, 0, R | W | X, 0);
	assert_int_equal(a.type, PHYSIM_MEM_WB);
	a = nested_attr("x86_64-4l", "ept-4l", R | W | NC, 0, R | W | X, 0);
	assert_int_equal(a.type, PHYSIM_MEM_UC);
	a = nested_attr("x86_64-4l", "ept-4l", R | W, 0, R | W | X | NC, 0);
	assert_int_equal(a.type, PHYSIM_MEM_WC);
	a = nested_attr("x86_64-4l", "ept-4l", R | W, 0, R | W | X, 4 << 3);
	assert_int_equal(a.type, PHYSIM_MEM_WT);
	a = nested_attr("x86_64-4l", "ept-4l", R | W | NC, 0, R | W | X, 5 << 3);
	assert_int_equal(a.type, PHYSIM_MEM_WC);
	a = nested_attr("x86_64-4l", "ept-4l", R | W | DV, 0, R | W | X, 1 << 6);
	assert_int_equal(a.type, PHYSIM_MEM_WB);
	assert_true(a.ignore_pat);
	a = nested_attr("x86_64-4l", "ept-4l", R | W, 0x8, R | W | X, 0); /* PAT WT */
	assert_int_equal(a.type, PHYSIM_MEM_WT);

	/* RISC-V ([Svpbmt] with [H]): VS-stage PBMT overrides G-stage's,
	 * which overrides the PMAs. */
	a = nested_attr("sv39", "sv39x4", R | W, 0, R | W, 0);
	assert_int_equal(a.type, PHYSIM_MEM_PMA);
	a = nested_attr("sv39", "sv39x4", R | W, 0, R | W | DV, 0);
	assert_int_equal(a.type, PHYSIM_MEM_IO);
	a = nested_attr("sv39", "sv39x4", R | W | NC, 0, R | W | DV, 0);
	assert_int_equal(a.type, PHYSIM_MEM_NORMAL_NC);
}

/* ---- TLB hits (issue 12 item 2) ----
 * A TLB keeps the memory attributes with the entry: physim_xlate_memattr
 * after a hit equals the one after the filling walk and the manuals' value.
 * Both TLBs are run: one without stale checking (the inline hit path) and
 * one with it (the full path). */

/* Translate va through tlb twice (a walk, then a hit) and return the
 * attributes of the hit, checking them against the walk's. */
static struct physim_memattr tlb_twice(struct physim_tlb *tlb, struct physim_mmu *m1,
				       struct physim_mmu *m2, uint64_t va)
{
	struct physim_access acc = {.va = va};
	struct physim_xlate x;
	struct physim_memattr walked, hit;
	uint64_t hits = physim_tlb_stats(tlb).hits;
	uint64_t misses = physim_tlb_stats(tlb).misses;
	int rc = m2 ? physim_tlb_nested_translate(tlb, m1, m2, &acc, &x)
		    : physim_tlb_translate(tlb, m1, &acc, &x);
	assert_int_equal(rc, 0);
	assert_int_equal(physim_tlb_stats(tlb).misses, misses + 1);
	assert_int_equal(physim_xlate_memattr(m1, m2, &x, &walked), 0);
	memset(&x, 0xa5, sizeof(x)); /* nothing of the walk's result survives */
	rc = m2 ? physim_tlb_nested_translate(tlb, m1, m2, &acc, &x)
		: physim_tlb_translate(tlb, m1, &acc, &x);
	assert_int_equal(rc, 0);
	assert_int_equal(physim_tlb_stats(tlb).hits, hits + 1);
	assert_int_equal(physim_tlb_stats(tlb).misses, misses + 1);
	assert_int_equal(physim_xlate_memattr(m1, m2, &x, &hit), 0);
	assert_memattr_equal(&hit, &walked);
	assert_int_equal(physim_tlb_stats(tlb).stale, 0);
	return hit;
}

static struct physim_tlb *new_tlb(bool check_stale)
{
	struct physim_tlb *tlb;
	assert_int_equal(
	    physim_tlb_create(&(struct physim_tlb_config){.check_stale = check_stale}, &tlb), 0);
	return tlb;
}

/* x86 (SDM Vol. 3A 4.9.2, power-on PAT): every PAT:PCD:PWT index on a
 * 4 KiB page, and a 2 MiB UC page (a second page size: a hit there takes
 * the full lookup). */
static void test_memattr_after_tlb_hit_x86(void **state)
{
	(void)state;
	static const enum physim_memtype poweron[8] = {
	    PHYSIM_MEM_WB, PHYSIM_MEM_WT, PHYSIM_MEM_UC_MINUS, PHYSIM_MEM_UC,
	    PHYSIM_MEM_WB, PHYSIM_MEM_WT, PHYSIM_MEM_UC_MINUS, PHYSIM_MEM_UC};
	/* the one channel (pt.h): PCD = UNCACHED, PCD|PWT = DEVICE, else raw */
	static const uint32_t fl[8] = {0, 0, NC, DV, 0, 0, 0, 0};
	static const uint64_t arch[8] = {0, 0x8, 0, 0, 0x80, 0x88, 0x90, 0x98};
	for (int stale = 0; stale < 2; stale++) {
		struct rig r;
		rig_up(&r, physim_format("x86_64-4l"), 0);
		for (unsigned idx = 0; idx < 8; idx++) {
			struct physim_pt_mapping mp = {.va = 0x10000 + idx * 0x1000,
						       .pa = 0x100000,
						       .size = 4096,
						       .flags = R | W | fl[idx],
						       .arch = arch[idx]};
			assert_int_equal(physim_pt_map_ex(r.pt, &mp, 0), 0);
		}
		assert_int_equal(physim_pt_map(r.pt, 0x200000, 0x400000, 0x200000, R | W | DV), 0);
		struct physim_mmu *mmu;
		assert_int_equal(
		    physim_mmu_create(&(struct physim_mmu_config){.format = r.f,
								  .mem = r.env->ph,
								  .root = physim_pt_root(r.pt)},
				      &mmu),
		    0);
		struct physim_tlb *tlb = new_tlb(stale);
		for (unsigned idx = 0; idx < 8; idx++) {
			struct physim_memattr a = tlb_twice(tlb, mmu, NULL, 0x10000 + idx * 0x1000);
			assert_int_equal(a.type, poweron[idx]);
			assert_int_equal(a.sh, PHYSIM_SH_SYSTEM);
		}
		assert_int_equal(tlb_twice(tlb, mmu, NULL, 0x2abcde).type, PHYSIM_MEM_UC);
		physim_tlb_destroy(tlb);
		physim_mmu_destroy(mmu);
		rig_down(&r);
	}
}

/* AArch64 (Arm ARM D8.5, MAIR_ELx): every AttrIndx of a MAIR holding eight
 * different attributes, with SH outer and inner. */
static void test_memattr_after_tlb_hit_aarch64(void **state)
{
	(void)state;
	static const unsigned attr[8] = {0xff, 0x04, 0x44, 0xbb, 0x00, 0x0c, 0xaa, 0x88};
	static const enum physim_memtype want[8] = {
	    PHYSIM_MEM_NORMAL_WB, PHYSIM_MEM_DEVICE_nGnRE,  PHYSIM_MEM_NORMAL_NC,
	    PHYSIM_MEM_NORMAL_WT, PHYSIM_MEM_DEVICE_nGnRnE, PHYSIM_MEM_DEVICE_GRE,
	    PHYSIM_MEM_NORMAL_WT, PHYSIM_MEM_NORMAL_WT};
	/* Device and Normal NC are outer shareable whatever SH says */
	static const bool forced_outer[8] = {false, true, true, false, true, true, false, false};
	static const uint32_t fl[8] = {0, DV, NC, 0, 0, 0, 0, 0};
	uint64_t mair = 0;
	for (unsigned k = 0; k < 8; k++)
		mair |= (uint64_t)attr[k] << (8 * k);
	const struct physim_pt_format *f = physim_format("aarch64-4k-48");
	for (int stale = 0; stale < 2; stale++) {
		struct rig r;
		rig_up(&r, f, mair);
		struct physim_mmu *mmu;
		assert_int_equal(
		    physim_mmu_create(&(struct physim_mmu_config){.format = f,
								  .mem = r.env->ph,
								  .root = physim_pt_root(r.pt),
								  .ctl = {.mair = mair}},
				      &mmu),
		    0);
		struct physim_tlb *tlb = new_tlb(stale);
		for (unsigned sh = 2; sh < 4; sh++)
			for (unsigned idx = 0; idx < 8; idx++) {
				uint64_t va = 0x10000 + (sh * 8 + idx) * 0x1000;
				struct physim_pt_mapping mp = {
				    .va = va,
				    .pa = 0x100000,
				    .size = 4096,
				    .flags = R | W | fl[idx],
				    .arch = (fl[idx] || idx == 0 ? 0 : (uint64_t)idx << 2) |
					    (uint64_t)sh << 8};
				assert_int_equal(physim_pt_map_ex(r.pt, &mp, 0), 0);
				struct physim_memattr a = tlb_twice(tlb, mmu, NULL, va);
				assert_int_equal(a.type, want[idx]);
				enum physim_shareability s =
				    sh == 2 ? PHYSIM_SH_OUTER : PHYSIM_SH_INNER;
				assert_int_equal(a.sh_field, s);
				assert_int_equal(a.sh, forced_outer[idx] ? PHYSIM_SH_OUTER : s);
			}
		physim_tlb_destroy(tlb);
		physim_mmu_destroy(mmu);
		rig_down(&r);
	}
}

/* Nested pairs: the combined attributes of both stages after a hit on a
 * combined GVA -> HPA entry (the cases of test_nested_memattr). */
static void tlb_nested_case(const char *f1, const char *f2, uint32_t s1_flags, uint64_t s1_arch,
			    uint32_t s2_flags, uint64_t s2_arch, enum physim_memtype type,
			    enum physim_shareability sh)
{
	for (int stale = 0; stale < 2; stale++) {
		struct nested_rig n;
		struct physim_mmu_ctl ctl = {0};
		nested_up(&n, f1, f2, s1_flags, s1_arch, s2_flags, s2_arch, &ctl);
		struct physim_tlb *tlb = new_tlb(stale);
		struct physim_memattr a = tlb_twice(tlb, n.m1, n.m2, 0x400123);
		assert_int_equal(a.type, type);
		if (sh != PHYSIM_SH_UNKNOWN)
			assert_int_equal(a.sh, sh);
		physim_tlb_destroy(tlb);
		nested_down(&n);
	}
}

static void test_memattr_after_tlb_hit_nested(void **state)
{
	(void)state;
	/* Arm ARM D8.5 combining: WB + Device-nGnRE -> Device, outer
	 * shareable; NC + WB -> NC; SH outer + inner -> outer. */
	tlb_nested_case("aarch64-4k-48", "aarch64-s2-4k-48", R | W, 0, R | W | DV, 0,
			PHYSIM_MEM_DEVICE_nGnRE, PHYSIM_SH_OUTER);
	tlb_nested_case("aarch64-4k-48", "aarch64-s2-4k-48", R | W | NC, 0, R | W, 0,
			PHYSIM_MEM_NORMAL_NC, PHYSIM_SH_OUTER);
	tlb_nested_case("aarch64-4k-48", "aarch64-s2-4k-48", R | W, 0x200, R | W, 0,
			PHYSIM_MEM_NORMAL_WB, PHYSIM_SH_OUTER);
	/* SDM Vol. 3C 29.3.7.2: EPT WP x PAT UC- -> WC; EPT WT x PAT WB -> WT;
	 * IPAT: the EPT type (WB) whatever PAT says. */
	tlb_nested_case("x86_64-4l", "ept-4l", R | W | NC, 0, R | W | X, 5 << 3, PHYSIM_MEM_WC,
			PHYSIM_SH_UNKNOWN);
	tlb_nested_case("x86_64-4l", "ept-4l", R | W, 0, R | W | X, 4 << 3, PHYSIM_MEM_WT,
			PHYSIM_SH_UNKNOWN);
	tlb_nested_case("x86_64-4l", "ept-4l", R | W | DV, 0, R | W | X, 1 << 6, PHYSIM_MEM_WB,
			PHYSIM_SH_UNKNOWN);
}

/* physim_xlate_memattr refuses what it cannot decode: a fault, mixed
 * families, NULL; a TLB hit it decodes like the walk. */
static void test_xlate_memattr_errors(void **state)
{
	(void)state;
	struct rig r;
	rig_up(&r, physim_format("x86_64-4l"), 0);
	assert_int_equal(physim_pt_map(r.pt, 0x1000, 0x5000, 4096, R | W | DV), 0);
	struct physim_mmu *mmu;
	assert_int_equal(physim_mmu_create(
			     &(struct physim_mmu_config){
				 .format = r.f, .mem = r.env->ph, .root = physim_pt_root(r.pt)},
			     &mmu),
			 0);
	struct physim_tlb *tlb;
	assert_int_equal(physim_tlb_create(&(struct physim_tlb_config){0}, &tlb), 0);
	struct physim_xlate x;
	struct physim_memattr a;
	assert_int_equal(physim_tlb_translate(tlb, mmu, &(struct physim_access){.va = 0x1000}, &x),
			 0);
	assert_int_equal(physim_xlate_memattr(mmu, NULL, &x, &a), 0); /* a miss: walked */
	assert_int_equal(a.type, PHYSIM_MEM_UC);
	assert_int_equal(physim_tlb_translate(tlb, mmu, &(struct physim_access){.va = 0x1000}, &x),
			 0);
	assert_int_equal(physim_tlb_stats(tlb).hits, 1);
	assert_int_equal(physim_xlate_memattr(mmu, NULL, &x, &a), 0); /* a hit: kept */
	assert_int_equal(a.type, PHYSIM_MEM_UC);
	assert_int_equal(physim_mmu_translate(mmu, &(struct physim_access){.va = 0x2000}, &x),
			 -EFAULT);
	assert_int_equal(physim_xlate_memattr(mmu, NULL, &x, &a), -ENOENT);
	assert_int_equal(physim_xlate_memattr(NULL, NULL, &x, &a), -EINVAL);
	assert_int_equal(physim_xlate_memattr(mmu, mmu, &x, &a), -EINVAL);
	assert_int_equal(physim_pt_memattr(r.pt, 0x2000, &a), -ENOENT);
	assert_string_equal(physim_memtype_name(PHYSIM_MEM_UC_MINUS), "uc-");
	assert_string_equal(physim_memtype_name(PHYSIM_MEM_DEVICE_nGnRE), "device-ngnre");
	assert_string_equal(physim_shareability_name(PHYSIM_SH_INNER), "inner");
	assert_string_equal(physim_memtype_name((enum physim_memtype)99), "unknown");
	physim_tlb_destroy(tlb);
	physim_mmu_destroy(mmu);
	rig_down(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_all_formats),
	    cmocka_unit_test(test_issue_cases),
	    cmocka_unit_test(test_protect_switches_channel),
	    cmocka_unit_test(test_memattr_x86),
	    cmocka_unit_test(test_memattr_aarch64_s1),
	    cmocka_unit_test(test_mair_permutations),
	    cmocka_unit_test(test_memattr_aarch64_s2),
	    cmocka_unit_test(test_memattr_others),
	    cmocka_unit_test(test_nested_memattr),
	    cmocka_unit_test(test_xlate_memattr_errors),
	    cmocka_unit_test(test_memattr_after_tlb_hit_x86),
	    cmocka_unit_test(test_memattr_after_tlb_hit_aarch64),
	    cmocka_unit_test(test_memattr_after_tlb_hit_nested),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
