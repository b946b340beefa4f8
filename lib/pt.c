/* SPDX-License-Identifier: MIT */
/* lib/pt.c - the page-table engine's public face: formats, creating,
 * attaching and destroying tables, argument checks of map / unmap / protect /
 * remap. Formats supply geometry and the encode/decode of one descriptor
 * (lib/pt-format.h); table memory comes only from the paging handler (hal.h).
 * The engine is split over lib/pt-table.c (table memory), lib/pt-edit.c (the
 * check/apply engine), lib/pt-lookup.c (query) and lib/pt-iter.c (walks).
 *
 * Table memory may be corrupt (a table is ordinary RAM, and an attached one
 * was built elsewhere). The engine remembers every table frame it allocated
 * and the descriptor that links it (owned). A traversal follows a table
 * pointer only if it is that link, or - in an attached table, for a table the
 * engine did not allocate - if the table was not met before in the same
 * traversal; anything else is corruption (-EFAULT). So every traversal
 * reaches each table at most once (its cost is linear in the table frames),
 * and only frames the table allocated are ever freed, each once. Lookups of
 * one address are bounded by the level count and are not checked (query
 * stays fast); the calls that write through them are. */
#include "pt-priv.h"

#include <stdlib.h>

/* ---- public: formats ---- */

void physim_format_get_info(const struct physim_pt_format *fmt, struct physim_pt_format_info *info)
{
	if (info == NULL)
		return;
	memset(info, 0, sizeof(*info));
	if (fmt == NULL)
		return;
	unsigned top = fmt->levels - 1u;
	info->name = fmt->name;
	info->description = fmt->description;
	info->arch = fmt->arch;
	info->stage2 = fmt->stage2;
	info->levels = fmt->levels;
	info->pte_bytes = fmt->pte_bytes;
	info->va_bits = fmt->va_bits;
	info->pa_bits = fmt->pa_bits;
	info->sign_extended = fmt->sign_extended;
	info->root_bytes = pt_table_bytes(fmt, top);
	/* A table is aligned to its own size (a 32-byte PAE PDPT to 32 bytes,
	 * a concatenated stage-2 root to its whole size). */
	info->root_align = info->root_bytes;
	for (unsigned l = 0; l < fmt->levels && l < PHYSIM_PT_MAX_LEVELS; l++) {
		info->level[l].shift = fmt->level[l].shift;
		info->level[l].index_bits = fmt->level[l].index_bits;
		info->level[l].table_bytes = pt_table_bytes(fmt, l);
		info->level[l].leaf_ok = fmt->level[l].leaf_ok;
		info->level[l].group_log2 = fmt->group_log2[l];
		if (fmt->level[l].leaf_ok)
			info->page_sizes |= pt_level_page_size(fmt, l);
		if (fmt->level[l].leaf_ok && fmt->group_log2[l] != 0)
			info->grouped_sizes |= pt_group_size(fmt, l);
	}
	info->flags_supported = fmt->flags_supported;
	info->arch_attr_mask = fmt->arch_attr_mask;
	info->arch_memtype_mask = fmt->arch_memtype_mask;
	info->presets_accessed = fmt->set_accessed_on_map;
	info->presets_dirty = fmt->set_dirty_on_map;
}

/* ---- public: tables ---- */

/* The engine's assumptions about a format's geometry. */
static bool format_ok(const struct physim_pt_format *f)
{
	const struct pt_format_ops *ops = f->ops;
	if (ops == NULL || !ops->classify || !ops->output_addr || !ops->encode_table ||
	    !ops->encode_leaf || !ops->decode_leaf)
		return false;
	if (f->levels < 1 || f->levels > PHYSIM_PT_MAX_LEVELS ||
	    (f->pte_bytes != 4 && f->pte_bytes != 8) || f->va_bits > 64 ||
	    (f->sign_extended && (f->va_bits < 2 || f->va_bits >= 64)))
		return false;
	/* Level 0 takes granule pages; huge leaves split into the next level
	 * down, so leaf levels must run contiguously from 0. */
	if (!f->level[0].leaf_ok || f->level[0].shift < PHYSIM_FRAME_SHIFT)
		return false;
	for (unsigned l = 0; l < f->levels; l++) {
		unsigned top = f->level[l].shift + f->level[l].index_bits;
		if (f->level[l].index_bits == 0 || top > 64)
			return false;
		if (l + 1 < f->levels && top != f->level[l + 1].shift)
			return false;
		if (l + 1 == f->levels && top < f->va_bits)
			return false;
		if (l > 0 && f->level[l].leaf_ok && !f->level[l - 1].leaf_ok)
			return false;
		if (f->level[l].shift >= 63)
			return false;
	}
	return true;
}

static bool handler_ok(const struct physim_pt_format *f, const struct physim_paging_handler *ph)
{
	if (!ph->alloc_frame || !ph->dealloc_frame || !ph->phys_to_virt)
		return false;
	for (unsigned l = 0; l < f->levels; l++)
		if (pt_table_frames(f, l) > 1 && (!ph->alloc_frames || !ph->dealloc_frames))
			return false;
	return true;
}

/* Everything create_ex and attach set up except the root table itself. */
static int pt_setup(const struct physim_pt_config *config, struct physim_pt **out)
{
	if (config == NULL || config->format == NULL || config->paging == NULL)
		return -EINVAL;
	const struct physim_pt_format *f = config->format;
	if (!format_ok(f)) {
		physim_log_warn("pt: format %s has a geometry the engine cannot use",
				f->name ? f->name : "?");
		return -EINVAL;
	}
	if (!handler_ok(f, config->paging))
		return -EINVAL;
	/* A MAIR for the codec: VMSAv8-64 stage 1 only (8-byte descriptors;
	 * ARMv7 short descriptors are of the same family). */
	bool has_mair = f->arch == PHYSIM_ARCH_AARCH64 && !f->stage2 && f->pte_bytes == 8;
	if (config->mair != 0 && !has_mair)
		return -EINVAL;
	struct physim_pt *pt = calloc(1, sizeof(*pt));
	if (pt == NULL)
		return -ENOMEM;
	pt->fmt = f;
	pt->pub_fmt = f;
	if (config->mair != 0) {
		pt->fmt_own = *f;
		pt->fmt_own.mair = config->mair;
		pt->fmt = &pt->fmt_own;
	}
	pt->ph = config->paging;
	pt->dm = pt_direct_map(config->paging);
	pt->flush = config->flush;
	pt->flush_ex = config->flush_ex;
	pt->flush_ctx = config->flush_ctx;
	pt->keep_empty = config->keep_empty_tables;
	for (unsigned l = 0; l < f->levels; l++)
		pt->tbytes[l] = pt_table_bytes(f, l);
	pt->va_range = pt_va_range(f);
	*out = pt;
	return 0;
}

int physim_pt_create_ex(const struct physim_pt_config *config, struct physim_pt **out)
{
	struct physim_pt *pt;
	int rc = out != NULL ? pt_setup(config, &pt) : -EINVAL;
	if (rc != 0)
		return rc;
	const struct physim_pt_format *f = pt->fmt;
	rc = physim_pt_table_alloc(pt, f->levels - 1u, &pt->root);
	if (rc != 0) {
		pt_frameset_free(&pt->owned); /* its slots may exist, now empty */
		free(pt);
		return rc;
	}
	pt->root_hva = table_hva(pt, pt->root, f->levels - 1u);
	/* Without a direct map (or memory for it) queries just make the calls. */
	if (pt->dm.size != 0)
		pt->memo = physim_pt_memo_create(f);
	physim_pt_lookup_init(pt);
	*out = pt;
	return 0;
}

int physim_pt_create(const struct physim_pt_format *fmt, const struct physim_paging_handler *paging,
		     struct physim_pt **out)
{
	struct physim_pt_config c = {.format = fmt, .paging = paging};
	return physim_pt_create_ex(&c, out);
}

int physim_pt_attach(const struct physim_pt_config *config, physim_hpa_t root,
		     struct physim_pt **out)
{
	struct physim_pt *pt;
	int rc = out != NULL ? pt_setup(config, &pt) : -EINVAL;
	if (rc != 0)
		return rc;
	const struct physim_pt_format *f = pt->fmt;
	struct physim_pt_format_info info;
	physim_format_get_info(f, &info);
	if (!physim_is_aligned(root, info.root_align)) {
		free(pt);
		return -EINVAL;
	}
	pt->root = root;
	pt->root_hva = table_hva(pt, root, f->levels - 1u);
	if (pt->root_hva == NULL) {
		free(pt);
		return -EFAULT;
	}
	pt->attached = true;
	if (pt->dm.size != 0)
		pt->memo = physim_pt_memo_create(f);
	physim_pt_lookup_init(pt);
	*out = pt;
	return 0;
}

const struct physim_paging_handler *physim_pt_paging(const struct physim_pt *pt)
{
	return pt ? pt->ph : NULL;
}

/* Table pointers in the table at pa (level lvl) and below that are not the
 * links the engine wrote: corruption that destroy reports. */
static uint64_t count_bad_links(const struct physim_pt *pt, unsigned lvl, physim_hpa_t pa)
{
	const struct physim_pt_format *f = pt->fmt;
	const uint8_t *t = table_hva(pt, pa, lvl);
	uint64_t bad = 0;
	for (uint64_t i = 0, n = pt_level_entries(f, lvl); t != NULL && lvl > 0 && i < n; i++) {
		uint64_t d = pte_load(t, i, f->pte_bytes);
		if (pte_kind(f, d, lvl) != PT_TABLE)
			continue;
		physim_hpa_t child = f->ops->output_addr(f, d, lvl);
		if (physim_pt_child_check(pt, NULL, pa, i, child, lvl - 1) != 0)
			bad++;
		else
			bad += count_bad_links(pt, lvl - 1, child);
	}
	return bad;
}

/* destroy of an owned table: every frame it allocated goes back, each
 * once, whatever the table memory now says; nothing else is freed. */
static void free_owned(struct physim_pt *pt)
{
	uint64_t bad = count_bad_links(pt, pt->fmt->levels - 1u, pt->root);
	if (bad != 0)
		physim_log_warn("pt: %s: destroy: %llu corrupt table pointers (not followed, "
				"nothing they point at freed)",
				pt->fmt->name, (unsigned long long)bad);
	struct pt_frameset *s = &pt->owned;
	for (size_t i = 0; s->slot != NULL && i <= s->mask; i++) {
		uint64_t key = s->slot[i].key;
		if (key == 0)
			continue;
		const struct physim_paging_handler *ph = pt->ph;
		physim_hpa_t pa = key & ~PT_FRAMESET_TAG_MASK;
		uint64_t nframes =
		    pt_table_frames(pt->fmt, (unsigned)(key & PT_FRAMESET_TAG_MASK) - 1);
		int rc = nframes == 1 ? ph->dealloc_frame(ph->ctx, pa)
				      : ph->dealloc_frames(ph->ctx, pa, (size_t)nframes);
		if (rc != 0)
			physim_log_error("pt: returning table frame %#llx failed: %s",
					 (unsigned long long)pa, physim_strerror(rc));
		else
			pt->table_frames -= nframes;
	}
}

void physim_pt_destroy(struct physim_pt *pt)
{
	if (pt == NULL)
		return;
	if (!pt->attached)
		free_owned(pt);
	if (pt->table_frames != 0)
		physim_log_warn("pt: %s: %llu table frames not returned", pt->fmt->name,
				(unsigned long long)pt->table_frames);
	pt_frameset_free(&pt->owned);
	free(pt->memo);
	free(pt->memo_off);
	free(pt);
}

physim_hpa_t physim_pt_root(const struct physim_pt *pt)
{
	return pt ? pt->root : 0;
}

const struct physim_pt_format *physim_pt_format(const struct physim_pt *pt)
{
	return pt ? pt->pub_fmt : NULL;
}

uint64_t physim_pt_table_frames(const struct physim_pt *pt)
{
	return pt ? pt->table_frames : 0;
}

/* ---- public: map ---- */

/* Attributes of a new leaf: the caller's, plus the accessed/dirty bits the
 * format must pre-set (RISC-V A/D, AArch64 AF). */
static struct pt_leaf_attr new_leaf_attr(const struct physim_pt_format *f, uint32_t flags,
					 uint64_t arch)
{
	return (struct pt_leaf_attr){
	    .flags = flags,
	    .arch = arch,
	    .accessed = f->set_accessed_on_map,
	    .dirty = f->set_dirty_on_map && (flags & PHYSIM_W),
	};
}

/* -ENOTSUP (or the format's error) if no leaf level in mask can encode a. */
static int attr_check(const struct physim_pt_format *f, const struct pt_leaf_attr *a, unsigned mask)
{
	for (unsigned l = 0; l < f->levels; l++) {
		uint64_t d;
		if (!(mask >> l & 1))
			continue;
		int rc = f->ops->encode_leaf(f, 0, a, l, &d);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Shared argument checks of the map calls: range, alignment, output width. */
static int map_args(const struct physim_pt *pt, uint64_t va, uint64_t pa, uint64_t size,
		    uint64_t align, uint32_t flags, unsigned opts)
{
	const struct physim_pt_format *f = pt->fmt;
	if ((flags & ~KNOWN_FLAGS) || (opts & ~(unsigned)(PHYSIM_ALLOW_HUGE | PHYSIM_REPLACE)))
		return -EINVAL;
	if (!range_ok(f, va, size) || !physim_is_aligned(va | pa | size, align))
		return -EINVAL;
	uint64_t pa_last = pa + (size - 1);
	if (pa_last < pa || (f->pa_bits < 64 && (pa_last >> f->pa_bits) != 0))
		return -EINVAL;
	return 0;
}

static int map_common(struct physim_pt *pt, uint64_t va, uint64_t pa, uint64_t size,
		      const struct pt_leaf_attr *a, unsigned leaf_mask, unsigned group_mask,
		      unsigned opts)
{
	struct op o;
	int rc = attr_check(pt->fmt, a, leaf_mask);
	if (rc != 0)
		return rc;
	physim_pt_op_init(&o, pt, OP_MAP, va, size);
	o.pa = pa;
	o.attr = *a;
	o.leaf_mask = leaf_mask;
	o.group_mask = group_mask;
	o.replace = opts & PHYSIM_REPLACE;
	rc = physim_pt_op_check(&o);
	return rc != 0 ? rc : physim_pt_op_commit(&o);
}

/* Level whose grouped leaves are page_size bytes, or -1. */
static int group_level_of(const struct physim_pt_format *f, uint64_t page_size)
{
	for (unsigned l = 0; l < f->levels; l++)
		if (f->level[l].leaf_ok && f->group_log2[l] != 0 &&
		    pt_group_size(f, l) == page_size)
			return (int)l;
	return -1;
}

int physim_pt_map_ex(struct physim_pt *pt, const struct physim_pt_mapping *m, unsigned opts)
{
	if (pt == NULL || m == NULL)
		return -EINVAL;
	const struct physim_pt_format *f = pt->fmt;
	/* A size that is a level's page size maps one plain leaf; one that is
	 * a level's grouped-leaf size (e.g. 64 KiB on a 4 KiB AArch64 format)
	 * maps one grouped leaf: the whole run of entries. */
	int lvl = leaf_level_of(f, m->size);
	unsigned group_mask = 0;
	if (lvl < 0) {
		lvl = group_level_of(f, m->size);
		if (lvl < 0)
			return -EINVAL;
		group_mask = 1u << lvl;
	}
	int rc = map_args(pt, m->va, m->pa, m->size, m->size, m->flags, opts);
	if (rc != 0)
		return rc;
	if (m->arch & ~f->arch_attr_mask)
		return -ENOTSUP;
	struct pt_leaf_attr a = new_leaf_attr(f, m->flags, m->arch);
	return map_common(pt, m->va, m->pa, m->size, &a, 1u << lvl, group_mask, opts);
}

int physim_pt_map(struct physim_pt *pt, uint64_t va, uint64_t pa, uint64_t page_size,
		  uint32_t flags)
{
	struct physim_pt_mapping m = {.va = va, .pa = pa, .size = page_size, .flags = flags};
	return physim_pt_map_ex(pt, &m, 0);
}

int physim_pt_map_region(struct physim_pt *pt, uint64_t va, uint64_t pa, uint64_t size,
			 uint32_t flags, unsigned opts)
{
	if (pt == NULL)
		return -EINVAL;
	const struct physim_pt_format *f = pt->fmt;
	int rc = map_args(pt, va, pa, size, granule(f), flags, opts);
	if (rc != 0)
		return rc;
	unsigned mask = 1, group_mask = 0;
	if (opts & PHYSIM_ALLOW_HUGE)
		for (unsigned l = 0; l < f->levels; l++) {
			if (f->level[l].leaf_ok)
				mask |= 1u << l;
			if (f->level[l].leaf_ok && f->group_log2[l] != 0)
				group_mask |= 1u << l;
		}
	struct pt_leaf_attr a = new_leaf_attr(f, flags, 0);
	return map_common(pt, va, pa, size, &a, mask, group_mask, opts);
}

/* Ask the callback for every page, encoding each at once, so that nothing
 * changes if it (or a page it names) fails. */
static int collect_descs(struct op *o, uint64_t npages, physim_pt_pa_fn pa_of, void *ctx)
{
	const struct physim_pt_format *f = o->f;
	uint64_t gran = granule(f);
	if (npages > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	o->descs = malloc((size_t)npages * sizeof(uint64_t));
	if (o->descs == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t pa = 0;
		int rc = pa_of(ctx, o->va + i * gran, &pa);
		if (rc == 0 && !physim_is_aligned(pa, gran))
			rc = -EINVAL;
		if (rc == 0)
			rc = f->ops->encode_leaf(f, pa, &o->attr, 0, &o->descs[i]);
		if (rc != 0) {
			free(o->descs);
			o->descs = NULL;
			return rc < 0 ? rc : -EINVAL;
		}
	}
	return 0;
}

int physim_pt_map_region_cb(struct physim_pt *pt, uint64_t va, uint64_t size, uint32_t flags,
			    unsigned opts, physim_pt_pa_fn pa_of, void *ctx)
{
	if (pt == NULL || pa_of == NULL)
		return -EINVAL;
	const struct physim_pt_format *f = pt->fmt;
	int rc = map_args(pt, va, 0, size, granule(f), flags, opts);
	if (rc != 0)
		return rc;
	struct pt_leaf_attr a = new_leaf_attr(f, flags, 0);
	rc = attr_check(f, &a, 1);
	if (rc != 0)
		return rc;
	struct op o;
	physim_pt_op_init(&o, pt, OP_MAP, va, size);
	o.pa = va; /* unused: pages come from descs; keeps alignment checks trivial */
	o.attr = a;
	o.leaf_mask = 1;
	o.replace = opts & PHYSIM_REPLACE;
	/* A non-NULL descs marks callback mode for the check pass too. */
	uint64_t marker = 0;
	o.descs = &marker;
	rc = physim_pt_op_check(&o);
	o.descs = NULL;
	if (rc == 0)
		rc = collect_descs(&o, size >> f->level[0].shift, pa_of, ctx);
	if (rc == 0)
		rc = physim_pt_op_commit(&o);
	free(o.descs);
	return rc;
}

/* ---- public: unmap, protect, remap ---- */

int physim_pt_unmap_region(struct physim_pt *pt, uint64_t va, uint64_t size)
{
	if (pt == NULL)
		return -EINVAL;
	const struct physim_pt_format *f = pt->fmt;
	if (!range_ok(f, va, size) || !physim_is_aligned(va | size, granule(f)))
		return -EINVAL;
	struct op o;
	physim_pt_op_init(&o, pt, OP_UNMAP, va, size);
	int rc = physim_pt_op_check(&o);
	return rc != 0 ? rc : physim_pt_op_commit(&o);
}

int physim_pt_unmap(struct physim_pt *pt, uint64_t va, struct physim_pt_mapping *old)
{
	if (pt == NULL)
		return -EINVAL;
	struct hit h;
	struct physim_pt_mapping m;
	int rc = physim_pt_find_page(pt, va, &h, &m);
	if (rc != 0)
		return rc;
	struct op o;
	physim_pt_op_init(&o, pt, OP_UNMAP, m.va, m.size);
	rc = physim_pt_op_check(&o);
	if (rc == 0)
		rc = physim_pt_op_commit(&o);
	if (rc == 0 && old != NULL)
		*old = m;
	return rc;
}

static int protect_common(struct physim_pt *pt, uint64_t va, uint64_t size, uint32_t flags)
{
	struct op o;
	/* Flags the format cannot express at all fail even over a hole. */
	struct pt_leaf_attr probe = new_leaf_attr(pt->fmt, flags, 0);
	int rc = attr_check(pt->fmt, &probe, 1);
	if (rc != 0)
		return rc;
	physim_pt_op_init(&o, pt, OP_PROTECT, va, size);
	o.flags = flags;
	rc = physim_pt_op_check(&o);
	return rc != 0 ? rc : physim_pt_op_commit(&o);
}

int physim_pt_protect_region(struct physim_pt *pt, uint64_t va, uint64_t size, uint32_t flags)
{
	if (pt == NULL || (flags & ~KNOWN_FLAGS))
		return -EINVAL;
	const struct physim_pt_format *f = pt->fmt;
	if (!range_ok(f, va, size) || !physim_is_aligned(va | size, granule(f)))
		return -EINVAL;
	return protect_common(pt, va, size, flags);
}

int physim_pt_protect(struct physim_pt *pt, uint64_t va, uint32_t flags)
{
	if (pt == NULL || (flags & ~KNOWN_FLAGS))
		return -EINVAL;
	struct hit h;
	struct physim_pt_mapping m;
	int rc = physim_pt_find_page(pt, va, &h, &m);
	return rc != 0 ? rc : protect_common(pt, m.va, m.size, flags);
}

/* The tables a lookup of va passed through to its leaf at leaf_lvl are
 * linked as physim_pt_child_check requires (before remap writes into the last one). */
static int path_check(const struct physim_pt *pt, uint64_t va, unsigned leaf_lvl)
{
	const struct physim_pt_format *f = pt->fmt;
	struct pt_frameset seen;
	physim_hpa_t tpa = pt->root;
	const uint8_t *t = pt->root_hva;
	int rc = physim_pt_seen_start(pt, &seen);
	for (unsigned lvl = f->levels - 1u; rc == 0 && lvl > leaf_lvl; lvl--) {
		uint64_t idx = pt_index(f, va, lvl);
		physim_hpa_t child = f->ops->output_addr(f, pte_load(t, idx, f->pte_bytes), lvl);
		rc = physim_pt_child_check(pt, &seen, tpa, idx, child, lvl - 1);
		t = table_hva(pt, child, lvl - 1);
		if (rc == 0 && t == NULL)
			rc = -EFAULT;
		tpa = child;
	}
	pt_frameset_free(&seen);
	return rc;
}

int physim_pt_remap(struct physim_pt *pt, uint64_t va, uint64_t pa, uint32_t flags)
{
	if (pt == NULL || (flags & ~KNOWN_FLAGS))
		return -EINVAL;
	const struct physim_pt_format *f = pt->fmt;
	struct hit h;
	struct physim_pt_mapping m;
	int rc = physim_pt_find_page(pt, va, &h, &m);
	if (rc != 0)
		return rc;
	if (m.va != va || !physim_is_aligned(pa, m.size))
		return -EINVAL;
	rc = path_check(pt, va, h.lvl);
	if (rc != 0)
		return rc;
	/* A new page: explicit arch attributes stay, accessed/dirty start
	 * afresh; a raw memory type only if the new flags name none (pt.h). */
	struct pt_leaf_attr old = {.flags = m.flags, .arch = m.arch};
	uint64_t arch = physim_pt_explicit_arch(f, m.pa, h.lvl, &old);
	if (flags & (PHYSIM_DEVICE | PHYSIM_UNCACHED))
		arch &= ~f->arch_memtype_mask;
	struct pt_leaf_attr a = new_leaf_attr(f, flags, arch);
	/* A grouped leaf stays one: every entry of its run is rewritten. */
	uint64_t n = 1, idx0 = h.idx, esize = pt_level_page_size(f, h.lvl), d;
	if (m.size != esize) {
		a.grouped = true;
		n = pt_group_entries(f, h.lvl);
		idx0 = h.idx & ~(n - 1);
	}
	for (uint64_t i = 0; i < n; i++) {
		rc = f->ops->encode_leaf(f, pa + i * esize, &a, h.lvl, &d);
		if (rc != 0)
			return rc; /* checked before anything is written */
	}
	for (uint64_t i = 0; i < n; i++) {
		f->ops->encode_leaf(f, pa + i * esize, &a, h.lvl, &d);
		pte_store(h.t, idx0 + i, f->pte_bytes, d);
	}
	physim_pt_flush_one(pt, m.va);
	return 0;
}

/* ---- public: flag checks and accessed/dirty harvesting ---- */

int physim_pt_flags_ok(const struct physim_pt *pt, uint32_t flags, uint64_t arch)
{
	return pt != NULL ? physim_format_flags_ok(pt->fmt, flags, arch) : -EINVAL;
}

int physim_format_flags_ok(const struct physim_pt_format *fmt, uint32_t flags, uint64_t arch)
{
	if (fmt == NULL || (flags & ~KNOWN_FLAGS))
		return -EINVAL;
	struct pt_leaf_attr a = new_leaf_attr(fmt, flags, arch);
	unsigned mask = 0;
	for (unsigned l = 0; l < fmt->levels; l++)
		if (fmt->level[l].leaf_ok)
			mask |= 1u << l;
	return attr_check(fmt, &a, mask);
}

/* ---- public: memory attributes ---- */

int physim_pt_memattr(const struct physim_pt *pt, uint64_t va, struct physim_memattr *out)
{
	if (pt == NULL || out == NULL)
		return -EINVAL;
	const struct physim_pt_format *f = pt->fmt;
	struct hit h;
	struct physim_pt_mapping m;
	int rc = physim_pt_find_page(pt, va, &h, &m);
	if (rc != 0)
		return rc;
	*out = (struct physim_memattr){0};
	if (f->ops->memattr != NULL)
		f->ops->memattr(f, h.d, h.lvl, &(struct pt_mem_ctl){.mair = f->mair}, out);
	return 0;
}

const char *physim_memtype_name(enum physim_memtype t)
{
	static const char *const names[] = {
	    [PHYSIM_MEM_UNKNOWN] = "unknown",
	    [PHYSIM_MEM_NORMAL_WB] = "normal-wb",
	    [PHYSIM_MEM_NORMAL_WT] = "normal-wt",
	    [PHYSIM_MEM_NORMAL_NC] = "normal-nc",
	    [PHYSIM_MEM_DEVICE_nGnRnE] = "device-ngnrne",
	    [PHYSIM_MEM_DEVICE_nGnRE] = "device-ngnre",
	    [PHYSIM_MEM_DEVICE_nGRE] = "device-ngre",
	    [PHYSIM_MEM_DEVICE_GRE] = "device-gre",
	    [PHYSIM_MEM_UC] = "uc",
	    [PHYSIM_MEM_UC_MINUS] = "uc-",
	    [PHYSIM_MEM_WC] = "wc",
	    [PHYSIM_MEM_WT] = "wt",
	    [PHYSIM_MEM_WP] = "wp",
	    [PHYSIM_MEM_WB] = "wb",
	    [PHYSIM_MEM_PMA] = "pma",
	    [PHYSIM_MEM_IO] = "io",
	    [PHYSIM_MEM_SUC] = "suc",
	    [PHYSIM_MEM_CC] = "cc",
	    [PHYSIM_MEM_WUC] = "wuc",
	};
	if ((unsigned)t >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[t];
}

const char *physim_shareability_name(enum physim_shareability s)
{
	static const char *const names[] = {
	    [PHYSIM_SH_UNKNOWN] = "unknown", [PHYSIM_SH_NONE] = "none",
	    [PHYSIM_SH_INNER] = "inner",     [PHYSIM_SH_OUTER] = "outer",
	    [PHYSIM_SH_SYSTEM] = "system",
	};
	if ((unsigned)s >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[s];
}
