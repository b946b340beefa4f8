/* SPDX-License-Identifier: MIT */
/* examples/guest-mapper/vm.c - building the VM: the host's memory and HALs,
 * the VM's guest-physical memory map (its stage-2 table), the guest image,
 * the guest's own page table inside guest memory - and the teardown that
 * proves every frame came back. */
#include "guest-mapper.h"

#include <string.h>

#define PAGE	     PHYSIM_FRAME_SIZE
#define RAM_FLAGS    (PHYSIM_R | PHYSIM_W | PHYSIM_X)
#define DEVICE_FLAGS (PHYSIM_R | PHYSIM_W | PHYSIM_DEVICE)

/* ---- 1. the host ---- */

static int counting(struct physim_counting_hal_config c, struct physim_counting_hal **out)
{
	return physim_counting_hal_create(&c, out);
}

/* The host's physical memory is one simulated RAM. It is backed lazily (an
 * anonymous MAP_NORESERVE mapping), so gigabytes cost nothing until frames
 * are touched. Its HALs are what a hypervisor gets from its host kernel:
 * AxMmHal for single frames (guest RAM), PagingHandler for page-table
 * frames, AxVMHal for claiming fixed host-physical ranges, and a clock.
 * Each consumer gets its own counting wrapper, so that every frame in use
 * can be attributed - and at the end, every frame accounted for. */
int step_host(struct machine *m)
{
	int rc = physim_ram_create(
	    &(struct physim_ram_config){.base = PHYSIM_RAM_DEFAULT_BASE, .size = m->ram_size},
	    &m->ram);
	if (rc != 0)
		return fail("creating the host RAM", rc);
	rc = physim_clock_create(NULL, &m->clock);
	if (rc != 0)
		return fail("creating the clock", rc);
	physim_ram_vm_hal(m->ram, m->clock, &m->vm_hal);
	const struct physim_mm_hal *mm = physim_ram_mm_hal(m->ram);
	const struct physim_paging_handler *paging = physim_ram_paging_handler(m->ram);
	rc = counting((struct physim_counting_hal_config){.mm = mm}, &m->count_ram);
	if (rc == 0)
		rc = counting((struct physim_counting_hal_config){.paging = paging},
			      &m->count_tables);
	if (rc == 0)
		rc = counting((struct physim_counting_hal_config){.vm = &m->vm_hal},
			      &m->count_claims);
	if (rc != 0)
		return fail("creating the counting HALs", rc);
	m->t_start = m->vm_hal.current_time_nanos(m->vm_hal.time_ctx);

	char sz[32];
	say(m,
	    "   host RAM   %s at HPA %#llx-%#llx, backed lazily: untouched frames cost nothing\n",
	    show_size(sz, m->ram_size), (unsigned long long)physim_ram_base(m->ram),
	    (unsigned long long)(physim_ram_base(m->ram) + m->ram_size - 1));
	say(m, "   HALs       mm HAL -> guest RAM frames, paging handler -> stage-2 table frames,\n"
	       "              vm HAL -> identity claims (and a monotonic clock); each behind its\n"
	       "              own counting wrapper, so every frame can be attributed\n");
	return 0;
}

/* ---- 2. the VM's memory map ---- */

/* The guest-physical range the address space covers: the regions, widened
 * to 1 GiB boundaries. (The dirty log keeps one bit per page of it.) */
static void space_range(const struct vm_config *cfg, uint64_t *base, uint64_t *size)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < cfg->nregions; i++) {
		const struct vm_region *r = &cfg->region[i];
		lo = r->gpa < lo ? r->gpa : lo;
		hi = r->gpa + r->size > hi ? r->gpa + r->size : hi;
	}
	*base = physim_align_down(lo, PHYSIM_SIZE_1G);
	*size = physim_align_up(hi, PHYSIM_SIZE_1G) - *base;
}

static void report_stale(void *ctx, uint64_t va, const struct physim_tlb_entry_info *cached,
			 const struct physim_xlate *current)
{
	(void)ctx;
	fprintf(stderr,
		"guest-mapper: stale TLB entry for %#llx: cached HPA %#llx, tables say %#llx\n",
		(unsigned long long)va, (unsigned long long)cached->pa,
		(unsigned long long)current->pa);
}

/* The vCPU's TLB comes first: the stage-2 table reports every change it
 * makes to it (the flush hook), as a hypervisor issues INVEPT / TLBI IPAS2 /
 * HFENCE.GVMA after changing a VM's mappings. Every hit is also checked
 * against a fresh walk, so a missing invalidation would be caught. */
static int create_tlb(struct machine *m)
{
	struct physim_tlb_config c = {.check_stale = true, .on_stale = report_stale};
	int rc = physim_tlb_create(&c, &m->tlb);
	return rc ? fail("creating the TLB", rc) : 0;
}

/* The stage-2 table's change hook - the hypervisor's flush function: the TLB of steps 5-10,
 * and the simulated vCPUs while step 11 runs them. flags says whether the change unlinked
 * stage-2 tables (PHYSIM_PT_FLUSH_TABLES_FREED: their frames go back after this returns), which
 * the vCPUs' walk caches may hold; the TLB of steps 5-10 caches final translations only. */
static void flush_s2(void *ctx, const uint64_t *gpas, size_t n, bool all, unsigned flags)
{
	struct machine *m = ctx;
	physim_tlb_pt_flush(m->tlb, gpas, n, all);
	if (m->vcpus != NULL)
		vcpus_flush_s2(m, gpas, n, all, flags);
}

static int create_aspace(struct machine *m)
{
	struct physim_aspace_config c = {
	    .format = physim_format(m->arch->stage2_format),
	    .paging = physim_counting_hal_paging(m->count_tables),
	    .mm = physim_counting_hal_mm(m->count_ram),
	    .vm = physim_counting_hal_vm(m->count_claims),
	    .flush_ex = flush_s2,
	    .flush_ctx = m,
	};
	space_range(&m->cfg, &c.base, &c.size);
	int rc = physim_aspace_create(&c, &m->as);
	return rc ? fail("creating the address space", rc) : 0;
}

static int region_error(const struct machine *m, const struct vm_region *r, int rc)
{
	char what[300];
	snprintf(what, sizeof(what), "%s:%u: mapping the %s region at %#llx", m->cfg.source,
		 r->line, r->kind == REGION_RAM ? "ram" : "mmio", (unsigned long long)r->gpa);
	return fail(what, rc);
}

/* A device region is mapped with GPA == HPA: the guest reaches the
 * device's registers at their real host-physical address, as with a
 * passed-through device (axvm's identity-mapped regions). The range is
 * claimed from the host first (AxVMHal::alloc_memory_region_at), so nothing
 * else can be given those frames. Here the "device" is a page of simulated
 * RAM standing in for its register page; a device outside host memory
 * would be mapped with physim_aspace_map_linear instead, with no claim.
 * Fixed ranges are claimed before any RAM is populated: once the frame
 * allocator has handed them out they cannot be had. */
static int map_devices(struct machine *m)
{
	for (size_t i = 0; i < m->cfg.nregions; i++) {
		const struct vm_region *r = &m->cfg.region[i];
		int rc = r->kind != REGION_MMIO
			     ? 0
			     : physim_aspace_map_identity(m->as, r->gpa, r->size, DEVICE_FLAGS);
		if (rc != 0)
			return region_error(m, r, rc);
	}
	return 0;
}

/* Guest RAM: frames from the mm HAL, either all of them now ("populate",
 * for memory the guest needs at once) or none until the guest touches a
 * page and the resulting nested page fault is handled ("lazy": how a
 * hypervisor overcommits memory). */
static int map_ram(struct machine *m)
{
	for (size_t i = 0; i < m->cfg.nregions; i++) {
		const struct vm_region *r = &m->cfg.region[i];
		if (r->kind != REGION_RAM)
			continue;
		int rc = physim_aspace_map_alloc(m->as, r->gpa, r->size, RAM_FLAGS, r->populate);
		if (rc != 0)
			return region_error(m, r, rc);
		if (!r->populate && m->lazy == NULL)
			m->lazy = r;
	}
	return 0;
}

static bool in_any_region(const struct vm_config *cfg, uint64_t gpa)
{
	for (size_t i = 0; i < cfg->nregions; i++)
		if (gpa - cfg->region[i].gpa < cfg->region[i].size)
			return true;
	return false;
}

static bool try_hole(struct machine *m, uint64_t gpa)
{
	uint64_t end = physim_aspace_base(m->as) + physim_aspace_size(m->as);
	m->have_hole = gpa < end && !in_any_region(&m->cfg, gpa);
	m->hole_gpa = m->have_hole ? gpa : 0;
	return m->have_hole;
}

/* A page where the VM has nothing, for the demonstration of a fault no
 * handler can fix: the page just past the end of RAM (a guest that thinks
 * it has more memory than it has), or else just past any region. */
static void find_hole(struct machine *m)
{
	const struct vm_config *cfg = &m->cfg;
	uint64_t ram_end = 0;
	for (size_t i = 0; i < cfg->nregions; i++)
		if (cfg->region[i].kind == REGION_RAM &&
		    cfg->region[i].gpa + cfg->region[i].size > ram_end)
			ram_end = cfg->region[i].gpa + cfg->region[i].size;
	if (try_hole(m, ram_end))
		return;
	for (size_t i = 0; i < cfg->nregions; i++)
		if (try_hole(m, cfg->region[i].gpa + cfg->region[i].size))
			return;
}

struct map_printer {
	const struct machine *m;
	int digits;    /* hex digits of the widest address */
	uint64_t next; /* end of the previous area */
};

static void print_gap(const struct map_printer *p, uint64_t from, uint64_t to)
{
	char sz[32];
	if (from < to)
		say(p->m,
		    "   GPA 0x%0*llx-0x%0*llx %9s  -     unmapped: no handler can back an access\n",
		    p->digits, (unsigned long long)from, p->digits, (unsigned long long)(to - 1),
		    show_size(sz, to - from));
}

static int print_area(void *ctx, const struct physim_area_info *a)
{
	struct map_printer *p = ctx;
	char sz[32], fl[32], how[64];
	print_gap(p, p->next, a->start);
	if (a->kind == PHYSIM_AREA_LINEAR)
		snprintf(how, sizeof(how), "identity: HPA %#llx%s",
			 (unsigned long long)a->linear_hpa, a->identity ? ", claimed" : "");
	else
		snprintf(how, sizeof(how), "%-19s %6llu frames",
			 a->populate ? "populated now" : "populated on demand",
			 (unsigned long long)a->frames);
	say(p->m, "   GPA 0x%0*llx-0x%0*llx %9s  %-4s  %-10s  %s\n", p->digits,
	    (unsigned long long)a->start, p->digits, (unsigned long long)(a->start + a->size - 1),
	    show_size(sz, a->size), a->kind == PHYSIM_AREA_LINEAR ? "MMIO" : "RAM",
	    show_flags(fl, a->flags), how);
	p->next = a->start + a->size;
	return 0;
}

static void print_memory_map(const struct machine *m)
{
	uint64_t base = physim_aspace_base(m->as), size = physim_aspace_size(m->as);
	struct map_printer p = {.m = m, .digits = show_hex_digits(base + size - 1), .next = base};
	say(m, "   %s: %s\n", m->s2_info.name, m->s2_info.description);
	say(m, "   guest-physical space %#llx-%#llx:\n", (unsigned long long)base,
	    (unsigned long long)(base + size - 1));
	physim_aspace_for_each_area(m->as, print_area, &p);
	print_gap(&p, p.next, base + size);
	struct physim_aspace_stats st = physim_aspace_stats(m->as);
	say(m, "   the table so far: %llu frames, its root at HPA %#llx (the VM's %s)\n",
	    (unsigned long long)st.table_frames, (unsigned long long)physim_aspace_root(m->as),
	    m->arch->stage2_root);
}

/* The VM's memory map is its stage-2 table: physim_aspace keeps the areas
 * (axaddrspace's AddrSpace) and maps them in that table. */
int step_vm(struct machine *m)
{
	int rc = create_tlb(m);
	if (rc == 0)
		rc = create_aspace(m);
	if (rc == 0)
		rc = map_devices(m);
	if (rc == 0)
		rc = map_ram(m);
	if (rc != 0)
		return rc;
	find_hole(m);
	print_memory_map(m);
	return 0;
}

/* ---- 3. the guest image ---- */

static void print_bytes(const struct machine *m, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		say(m, " %02x", p[i]);
}

/* The hypervisor loads the guest's image into guest RAM the way a loader
 * would: through the guest memory accessor, at guest-physical addresses.
 * Pages of a lazy region are populated as the write reaches them. */
int step_image(struct machine *m)
{
	const struct vm_config *cfg = &m->cfg;
	int rc = physim_guest_write(m->as, cfg->image_gpa, m->image, m->image_size);
	if (rc != 0)
		return fail("writing the image into guest memory", rc);
	char sz[32];
	say(m, "   %s %s%s written at GPA %#llx with physim_guest_write: the entry point\n",
	    show_size(sz, m->image_size), m->image_builtin ? "built-in image" : "of ",
	    cfg->image_path, (unsigned long long)cfg->image_gpa);
	if (!m->image_builtin) {
		say(m, "     first bytes at %#llx:", (unsigned long long)cfg->image_gpa);
		print_bytes(m, m->image, m->image_size < 16 ? m->image_size : 16);
		say(m, "\n");
		return 0;
	}
	say(m, "     code at %#llx:", (unsigned long long)cfg->image_gpa);
	print_bytes(m, m->image, m->arch->code_len);
	say(m, "%*s%s\n", (int)(3 * (8 - m->arch->code_len) + 4), "", m->arch->code_text);
	say(m, "     data at %#llx: \"%s\"\n", (unsigned long long)(cfg->image_gpa + PAGE),
	    (const char *)m->image + PAGE);
	return 0;
}

/* ---- 4. the guest's page table ---- */

static const struct vm_region *lowest_ram(const struct vm_config *cfg)
{
	const struct vm_region *best = NULL;
	for (size_t i = 0; i < cfg->nregions; i++)
		if (cfg->region[i].kind == REGION_RAM &&
		    (best == NULL || cfg->region[i].gpa < best->gpa))
			best = &cfg->region[i];
	return best;
}

static int guest_map(struct machine *m, uint64_t gva, uint64_t gpa, uint64_t size, uint32_t flags,
		     const char *what)
{
	int rc = physim_pt_map_region(m->gpt, gva, gpa, size, flags, PHYSIM_ALLOW_HUGE);
	if (rc != 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "the guest mapping %s (%#llx -> GPA %#llx)", what,
			 (unsigned long long)gva, (unsigned long long)gpa);
		fail(msg, rc);
		if (rc == -ENOMEM && m->gpt_mem.next >= m->gpt_mem.end)
			fprintf(stderr,
				"guest-mapper: (the guest's page tables come from the lowest "
				"ram region, and it has no page left for them)\n");
		return rc;
	}
	return 0;
}

/* What the guest kernel maps for itself: its image (executable), every
 * device region (uncached device memory, one after another from
 * GVA_DEVICES, like ioremap), all of its RAM in a direct map at
 * GVA_PHYSMAP + GPA (large pages where alignment allows), and one page
 * pointing at a guest-physical address where the VM has nothing - a guest
 * bug, or a stale mapping of memory the hypervisor took away. */
static int map_guest_layout(struct machine *m)
{
	const struct vm_config *cfg = &m->cfg;
	uint64_t img = physim_align_down(cfg->image_gpa, PAGE);
	uint64_t img_size = physim_align_up(cfg->image_gpa + m->image_size, PAGE) - img;
	int rc = guest_map(m, GVA_IMAGE, img, img_size, RAM_FLAGS, "its image");
	uint64_t dev_gva = GVA_DEVICES;
	for (size_t i = 0; rc == 0 && i < cfg->nregions; i++) {
		const struct vm_region *r = &cfg->region[i];
		if (r->kind == REGION_MMIO) {
			rc = guest_map(m, dev_gva, r->gpa, r->size, DEVICE_FLAGS, "a device");
			dev_gva += r->size;
		} else {
			rc = guest_map(m, GVA_PHYSMAP + r->gpa, r->gpa, r->size,
				       PHYSIM_R | PHYSIM_W, "RAM");
		}
	}
	if (rc == 0 && m->have_hole)
		rc = guest_map(m, GVA_BOGUS, m->hole_gpa, PAGE, PHYSIM_R | PHYSIM_W, "the hole");
	return rc;
}

/* The two MMU contexts of the vCPU. Stage 1 is the guest's: its root is
 * the guest-physical address of the guest's table, as in CR3 / TTBR0_EL1 /
 * vsatp. In a nested walk its table reads go through stage 2, like the
 * hardware's; its `mem` (the guest-memory handler) is used when stage 1 is
 * walked on its own - the guest's view, which this example prints. Stage 2
 * is the hypervisor's: its root is the host-physical address of the
 * stage-2 table, read through the host's paging handler. */
static int create_mmus(struct machine *m)
{
	const struct arch *a = m->arch;
	struct physim_mmu_config s1 = {
	    .format = physim_format(a->stage1_format),
	    .mem = &m->gpt_mem.ph,
	    .root = physim_pt_root(m->gpt),
	    .ctl = a->s1_ctl,
	    .asid = ASID,
	};
	struct physim_mmu_config s2 = {
	    .format = physim_format(a->stage2_format),
	    .mem = physim_ram_paging_handler(m->ram),
	    .root = physim_aspace_root(m->as),
	    .ctl = a->s2_ctl,
	    .vmid = VMID,
	};
	int rc = physim_mmu_create(&s1, &m->s1);
	if (rc == 0)
		rc = physim_mmu_create(&s2, &m->s2);
	return rc ? fail("creating the MMU contexts", rc) : 0;
}

static void print_guest_table(const struct machine *m, const struct vm_region *pool)
{
	say(m, "   %s: %s\n", m->s1_info.name, m->s1_info.description);
	say(m,
	    "   built by the page-table engine over a PagingHandler whose frames are guest\n"
	    "   pages: %llu pages of guest RAM from GPA %#llx; the root (%s) at GPA %#llx\n",
	    (unsigned long long)m->gpt_mem.pages_in_use, (unsigned long long)pool->gpa,
	    m->arch->stage1_root, (unsigned long long)physim_pt_root(m->gpt));
	if (m->quiet)
		return;
	struct ptdump_totals t;
	show_ptdump(stdout, m->gpt, "   ", "GVA", "GPA", &t);
}

/* The guest kernel builds its own page table in its own memory. Here the
 * page-table engine does it for the guest, through a PagingHandler whose
 * frames are guest-physical pages (guest-paging.c) - what the table holds,
 * and what the root register holds, are GPAs. */
int step_guest_table(struct machine *m)
{
	const struct vm_region *pool = lowest_ram(&m->cfg);
	guest_paging_init(&m->gpt_mem, m->as, physim_ram_mm_hal(m->ram), pool->gpa, pool->size,
			  m->cfg.image_gpa, m->image_size);
	struct physim_pt_config c = {
	    .format = physim_format(m->arch->stage1_format),
	    .paging = &m->gpt_mem.ph,
	    .flush = physim_tlb_pt_flush, /* guest INVLPG / TLBI VAE1 / SFENCE.VMA */
	    .flush_ctx = m->tlb,
	};
	int rc = physim_pt_create_ex(&c, &m->gpt);
	if (rc != 0)
		return fail("creating the guest's page table", rc);
	rc = map_guest_layout(m);
	if (rc == 0)
		rc = create_mmus(m);
	if (rc == 0)
		print_guest_table(m, pool);
	return rc;
}

/* ---- teardown ---- */

static int64_t live(const struct physim_counting_hal *ch)
{
	return ch ? physim_counting_hal_counts(ch).frames_live : 0;
}

/* Frees in dependency order: the guest's table lives in guest memory, so
 * it goes before the address space; the address space reports its last
 * changes to the TLB, so the TLB goes after it. */
static uint64_t destroy_vm(struct machine *m)
{
	physim_pt_destroy(m->gpt);
	uint64_t gpt_pages = m->gpt_mem.pages_in_use;
	physim_mmu_destroy(m->s1);
	physim_mmu_destroy(m->s2);
	physim_aspace_destroy(m->as);
	physim_tlb_destroy(m->tlb);
	m->gpt = NULL;
	m->s1 = m->s2 = NULL;
	m->as = NULL;
	m->tlb = NULL;
	return gpt_pages;
}

/* Everything goes back; then the proof: the counting wrappers saw as many
 * frames return as were handed out, and the RAM's own allocator has no
 * frame in use. */
int step_teardown(struct machine *m)
{
	uint64_t gpt_pages = destroy_vm(m);
	int64_t ram = live(m->count_ram), tables = live(m->count_tables);
	int64_t claims = live(m->count_claims);
	uint64_t used = m->ram ? physim_ram_stats(m->ram).used_frames : 0;
	uint64_t total = m->ram ? physim_ram_stats(m->ram).total_frames : 0;
	say(m,
	    "   destroyed the guest's page table (%llu of its pages still in use), the MMU\n"
	    "   contexts, the address space (its RAM, tables and claims go back to the HALs)\n"
	    "   and the TLB\n",
	    (unsigned long long)gpt_pages);
	say(m,
	    "   frames still live, by counting wrapper: guest RAM %lld, stage-2 tables %lld, "
	    "identity claims %lld\n",
	    (long long)ram, (long long)tables, (long long)claims);
	say(m, "   host RAM: %llu of %llu frames in use\n", (unsigned long long)used,
	    (unsigned long long)total);
	physim_counting_hal_destroy(m->count_ram);
	physim_counting_hal_destroy(m->count_tables);
	physim_counting_hal_destroy(m->count_claims);
	physim_clock_destroy(m->clock);
	physim_ram_destroy(m->ram);
	bool clean = gpt_pages == 0 && ram == 0 && tables == 0 && claims == 0 && used == 0;
	if (!clean)
		fprintf(stderr,
			"guest-mapper: frames leaked: guest table %llu, guest RAM %lld, "
			"stage-2 tables %lld, claims %lld, host RAM %llu\n",
			(unsigned long long)gpt_pages, (long long)ram, (long long)tables,
			(long long)claims, (unsigned long long)used);
	return clean ? 0 : -EBUSY;
}
