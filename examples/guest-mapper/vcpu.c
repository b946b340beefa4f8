/* SPDX-License-Identifier: MIT */
/* examples/guest-mapper/vcpu.c - using the VM: a virtual CPU's nested
 * translations, the hypervisor's nested-page-fault handler, the
 * hypervisor's own accesses to guest memory, the TLB, dirty logging, a
 * ptdump of the stage-2 table and the statistics. */
#include "guest-mapper.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define PAGE	     PHYSIM_FRAME_SIZE
#define MAX_ACCESSES 8
#define MAX_EXITS    8 /* nested faults one access may take (tables, then data) */
#define TLB_ROUNDS   4

enum access_type { ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH };

/* One access the guest makes. */
struct guest_access {
	enum access_type type;
	physim_gva_t gva;
	char what[96];
	const void *store; /* ACCESS_WRITE: the bytes stored (within one page) */
	size_t len;	   /* bytes stored, or shown for a read or fetch */
};

static const char vcpu_text[] = "stored by the vCPU";
static const char hv_text[] = "written by the hypervisor";
static const uint8_t uart_byte[4] = {'H', 0, 0, 0}; /* a 32-bit register write */

/* ---- the accesses the guest makes ---- */

static const struct vm_region *first_region(const struct machine *m, enum region_kind kind,
					    bool populated)
{
	for (size_t i = 0; i < m->cfg.nregions; i++) {
		const struct vm_region *r = &m->cfg.region[i];
		if (r->kind == kind && (kind == REGION_MMIO || r->populate == populated))
			return r;
	}
	return NULL;
}

/* A page-aligned offset in the middle of a region. */
static uint64_t middle(const struct vm_region *r)
{
	return physim_align_down(r->size / 2, PAGE);
}

/* Where the vCPU's store to lazy RAM goes (through the guest's direct
 * map), and where the hypervisor's own write goes (crossing a page). */
static uint64_t vcpu_store_gpa(const struct machine *m)
{
	return m->lazy->gpa + middle(m->lazy) + 0x80;
}

static uint64_t accessor_gpa(const struct vm_region *r)
{
	return r->size >= 2 * PAGE ? r->gpa + r->size - PAGE - 24 : r->gpa;
}

static bool in_page(uint64_t page, uint64_t gpa, uint64_t len)
{
	return gpa < page + PAGE && page < gpa + len;
}

/* Whether [gpa, gpa + len) touches the image or the guest's page table,
 * which the demonstration's own writes must leave alone. */
static bool touches_guest_data(const struct machine *m, uint64_t gpa, uint64_t len)
{
	const struct guest_paging *gp = &m->gpt_mem;
	uint64_t img = m->cfg.image_gpa;
	return physim_ranges_overlap(gpa, len, img, m->image_size) ||
	       (gp->next > gp->start &&
		physim_ranges_overlap(gpa, len, gp->start, gp->next - gp->start));
}

/* The vCPU stores to lazy RAM if there is some to spare. */
static bool has_vcpu_store(const struct machine *m)
{
	return m->lazy != NULL && !touches_guest_data(m, vcpu_store_gpa(m), sizeof(vcpu_text));
}

/* The hypervisor writes to lazy RAM, or else to populated RAM. */
static const struct vm_region *accessor_region(const struct machine *m)
{
	return m->lazy ? m->lazy : first_region(m, REGION_RAM, true);
}

/* Accesses stay inside one page: one translation covers them. */
static void add(struct guest_access *list, size_t *n, enum access_type type, uint64_t gva,
		size_t len, const char *what)
{
	if (len > PAGE - gva % PAGE)
		len = PAGE - gva % PAGE;
	list[*n] = (struct guest_access){.type = type, .gva = gva, .len = len};
	snprintf(list[*n].what, sizeof(list[*n].what), "%s", what);
	++*n;
}

/* Derived from the guest's layout (map_guest_layout in vm.c). */
static size_t guest_accesses(const struct machine *m, struct guest_access *list)
{
	size_t n = 0;
	uint64_t entry = GVA_IMAGE + m->cfg.image_gpa % PAGE;
	add(list, &n, ACCESS_FETCH, entry, m->image_builtin ? m->arch->code_len : 8,
	    "the entry point");
	if (m->image_builtin)
		add(list, &n, ACCESS_READ, entry + PAGE, sizeof("hello from guest memory") - 1,
		    "the image's data");
	const struct vm_region *r = first_region(m, REGION_RAM, true);
	if (r != NULL)
		add(list, &n, ACCESS_READ, GVA_PHYSMAP + r->gpa + middle(r) + 0x40, 8,
		    "populated RAM, through the guest's direct map");
	if (first_region(m, REGION_MMIO, false) != NULL) {
		add(list, &n, ACCESS_WRITE, GVA_DEVICES, sizeof(uart_byte), "a device register");
		list[n - 1].store = uart_byte;
	}
	if (has_vcpu_store(m)) {
		add(list, &n, ACCESS_WRITE, GVA_PHYSMAP + vcpu_store_gpa(m), sizeof(vcpu_text),
		    "lazy RAM, never touched yet");
		list[n - 1].store = vcpu_text;
	}
	if (m->have_hole) {
		char what[96];
		snprintf(what, sizeof(what),
			 "mapped by the guest to GPA %#llx, where the VM has nothing",
			 (unsigned long long)m->hole_gpa);
		add(list, &n, ACCESS_READ, GVA_BOGUS, 8, what);
	}
	add(list, &n, ACCESS_READ, GVA_UNMAPPED, 8, "an address the guest never mapped");
	return n;
}

static struct physim_access to_access(const struct guest_access *ga)
{
	return (struct physim_access){
	    .va = ga->gva, .write = ga->type == ACCESS_WRITE, .exec = ga->type == ACCESS_FETCH};
}

static const char *type_name(enum access_type t)
{
	return t == ACCESS_WRITE ? "write" : t == ACCESS_FETCH ? "fetch" : "read";
}

/* ---- the hypervisor's side of a fault ---- */

/* The access a fault asks the handler to allow: a stage-2 fault during
 * the stage-1 walk was a read of a table entry (or the write of its A/D
 * bits; RAM regions allow both). */
static uint32_t fault_access(const struct guest_access *ga, const struct physim_fault *f)
{
	if (f->s1ptw || ga->type == ACCESS_READ)
		return PHYSIM_R;
	return ga->type == ACCESS_WRITE ? PHYSIM_W : PHYSIM_X;
}

/* The nested-page-fault exit handler (KVM's EPT-violation / stage-2 abort
 * handler, axvm's nested page fault): ask the address space to back the
 * page. It can for a lazy RAM page; for anything else - a GPA in no
 * region, an access the region forbids - it cannot, and the hypervisor
 * would emulate a device there if it had one, or inject an abort into the
 * guest, or stop the VM. */
static int nested_fault_exit(struct machine *m, const struct guest_access *ga,
			     const struct physim_fault *f)
{
	uint32_t acc = fault_access(ga, f);
	int rc = physim_aspace_handle_page_fault(m->as, f->gpa, acc);
	const char *what = acc == PHYSIM_W ? "W" : acc == PHYSIM_X ? "X" : "R";
	say(m, "              -> the hypervisor: handle_page_fault(%#llx, %s) ",
	    (unsigned long long)f->gpa, what);
	if (rc == 0) {
		m->exits_handled++;
		say(m, "backs the page with a\n"
		       "                 zeroed frame; the guest resumes and retries the access\n");
		return 0;
	}
	m->exits_refused++;
	say(m,
	    "refuses (%s):\n"
	    "                 nothing can back this GPA. A hypervisor would emulate a device\n"
	    "                 there, inject an abort into the guest, or stop the VM.\n",
	    physim_strerror(rc));
	return rc;
}

/* ---- the vCPU ---- */

static int translate(struct machine *m, const struct physim_access *acc, struct physim_xlate *x,
		     bool use_tlb)
{
	if (use_tlb)
		return physim_tlb_nested_translate(m->tlb, m->s1, m->s2, acc, x);
	return physim_nested_translate(m->s1, m->s2, acc, x);
}

static void show_fault(struct machine *m, const struct physim_fault *f)
{
	bool nested = f->stage == 2;
	say(m, "     %-8s %s\n", nested ? "exit" : "fault", physim_fault_str(f));
	if (!nested) {
		m->guest_faults++;
		say(m,
		    "              -> the guest's own page fault: delivered to the guest kernel,\n"
		    "                 not to the hypervisor\n");
	}
}

/* One guest access as the hardware runs it. The MMU translates
 * GVA -> GPA (the guest's table, its entries fetched through stage 2) ->
 * HPA (stage 2). A stage-2 fault is a VM exit to the hypervisor, which
 * handles it and resumes the guest, which retries the very same access. A
 * stage-1 fault is the guest's own page fault. 0, or -EFAULT with the
 * final fault in x->fault. */
static int vcpu_access(struct machine *m, const struct guest_access *ga, bool use_tlb,
		       struct physim_xlate *x)
{
	struct physim_access acc = to_access(ga);
	for (unsigned exits = 0;; exits++) {
		int rc = translate(m, &acc, x, use_tlb);
		if (rc != -EFAULT)
			return rc ? fail("translating", rc) : 0;
		show_fault(m, &x->fault);
		if (x->fault.stage != 2 || exits == MAX_EXITS)
			return -EFAULT;
		if (nested_fault_exit(m, ga, &x->fault) != 0)
			return -EFAULT;
	}
}

/* The CPU then reads or writes the bytes at the HPA: a host pointer from
 * the host's direct map. Accesses here never cross a page, so one
 * translation covers them. */
static int complete_access(struct machine *m, const struct guest_access *ga,
			   const struct physim_xlate *x, uint8_t *seen)
{
	void *p;
	int rc = physim_ram_phys_to_virt(m->ram, x->pa, &p);
	if (rc != 0)
		return fail("reaching the HPA", rc);
	if (ga->type != ACCESS_WRITE) {
		memcpy(seen, p, ga->len);
		return 0;
	}
	memcpy(p, ga->store, ga->len);
	/* With EPT A/D the walk that allowed this store set the dirty bit of
	 * the stage-2 leaf, which the dirty log harvests. Arm stage 2 without
	 * DBM and RISC-V G-stage (whose leaves are created dirty) give no such
	 * bit: a hypervisor there write-protects logged pages and marks them
	 * on the permission fault. This example marks the page itself. */
	if (!m->arch->hw_dirty)
		physim_aspace_mark_dirty(m->as, x->gpa);
	return 0;
}

/* ---- 5. nested translations ---- */

/* Text if it is text (a trailing NUL aside), else hex. */
static void show_bytes(const struct machine *m, const char *verb, const uint8_t *p, size_t n)
{
	size_t len = n > 1 && p[n - 1] == 0 ? n - 1 : n;
	bool text = len > 1;
	for (size_t i = 0; i < len; i++)
		text &= isprint(p[i]) != 0;
	say(m, "     %-8s", verb);
	if (text) {
		say(m, " \"%.*s\"\n", (int)len, (const char *)p);
		return;
	}
	for (size_t i = 0; i < n; i++)
		say(m, " %02x", p[i]);
	say(m, "\n");
}

/* One line "label  GVA a -> GPA b  rest", columns padded to line up. */
struct stage_cols {
	int in, out; /* widths of the two address columns */
};

static void show_stage(const struct machine *m, const char *label, const char *in_name, uint64_t in,
		       const char *out_name, uint64_t out, struct stage_cols w, const char *rest)
{
	char a[24], b[24];
	snprintf(a, sizeof(a), "%#llx", (unsigned long long)in);
	snprintf(b, sizeof(b), "%#llx", (unsigned long long)out);
	say(m, "     %-8s %s %-*s -> %s %-*s  %s\n", label, in_name, w.in, a, out_name, w.out, b,
	    rest);
}

static int hex_len(uint64_t v)
{
	char buf[24];
	return snprintf(buf, sizeof(buf), "%#llx", (unsigned long long)v);
}

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

/* Each stage on its own, as the guest and the hypervisor each see it: the
 * guest's table walked through the guest-memory handler, then the GPA
 * through stage 2 (probes: no accessed/dirty updates); then the combined
 * result of the nested walk. */
static void show_stages(const struct machine *m, const struct guest_access *ga,
			const struct physim_xlate *x)
{
	struct physim_access acc1 = to_access(ga), acc2 = acc1;
	struct physim_xlate x1 = {0}, x2 = {0};
	acc2.va = x->gpa;
	int rc1 = physim_mmu_probe(m->s1, &acc1, &x1);
	int rc2 = physim_mmu_probe(m->s2, &acc2, &x2);
	struct stage_cols w = {max_int(hex_len(ga->gva), hex_len(x->gpa)),
			       max_int(hex_len(x->gpa), hex_len(x->pa))};
	char sz[32], fl[32], rest[96];
	if (rc1 == 0) {
		snprintf(rest, sizeof(rest), "%s page at level %d (%s)",
			 show_size(sz, x1.page_size), x1.level, m->arch->stage1_root);
		show_stage(m, "stage 1", "GVA", ga->gva, "GPA", x1.pa, w, rest);
	}
	if (rc2 == 0) {
		snprintf(rest, sizeof(rest), "%s page at level %d (%s)",
			 show_size(sz, x2.page_size), x2.level, m->arch->stage2_root);
		show_stage(m, "stage 2", "GPA", x->gpa, "HPA", x2.pa, w, rest);
	}
	snprintf(rest, sizeof(rest), "%s, %s, %u memory references", show_size(sz, x->page_size),
		 show_flags(fl, x->perms), x->mem_refs);
	show_stage(m, "nested", "GVA", ga->gva, "HPA", x->pa, w, rest);
}

static int demonstrate(struct machine *m, const struct guest_access *ga)
{
	struct physim_xlate x;
	say(m, "\n   %s at GVA %#llx: %s\n", type_name(ga->type), (unsigned long long)ga->gva,
	    ga->what);
	int rc = vcpu_access(m, ga, false, &x);
	if (rc == -EFAULT)
		return 0; /* shown; the guest would be told */
	if (rc != 0)
		return rc;
	show_stages(m, ga, &x);
	uint8_t seen[64];
	rc = complete_access(m, ga, &x, seen);
	if (rc == 0)
		show_bytes(m,
			   ga->type == ACCESS_WRITE   ? "stored"
			   : ga->type == ACCESS_FETCH ? "fetch"
						      : "loaded",
			   ga->type == ACCESS_WRITE ? ga->store : seen, ga->len);
	return rc;
}

/* The guest runs: every access below is what its CPU would do, translated
 * through both stages by a full walk (the TLB comes in step 7). Dirty
 * logging starts first, as for a live migration: from now on every page
 * written is recorded. */
int step_vcpu(struct machine *m)
{
	int rc = physim_aspace_dirty_log_enable(m->as);
	if (rc != 0)
		return fail("enabling dirty logging", rc);
	say(m,
	    "   Dirty logging is on from here (physim_aspace_dirty_log_enable). Each access\n"
	    "   below walks both tables, and\n"
	    "     a stage-2 fault exits to the hypervisor: %s\n"
	    "     a stage-1 fault goes to the guest:       %s\n"
	    "     table levels:                            %s\n",
	    m->arch->s2_fault, m->arch->s1_fault, m->arch->levels);
	struct guest_access list[MAX_ACCESSES];
	size_t n = guest_accesses(m, list);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = demonstrate(m, &list[i]);
	return rc;
}

/* ---- 6. the hypervisor's accesses ---- */

/* The accessor checks each area's permissions and populates lazy pages as
 * a guest access would. A device model (virtio) or a loader works this way:
 * at guest-physical addresses, with no guest page table involved. */
static int accessor_lazy(struct machine *m, const struct vm_region *r)
{
	uint64_t at = accessor_gpa(r);
	if (touches_guest_data(m, at, sizeof(hv_text)))
		return 0; /* no RAM to spare in this configuration */
	uint64_t before = physim_aspace_stats(m->as).faults_handled;
	int rc = physim_guest_write(m->as, at, hv_text, sizeof(hv_text));
	char back[sizeof(hv_text)];
	if (rc == 0)
		rc = physim_guest_read(m->as, at, back, sizeof(back));
	if (rc != 0)
		return fail("writing and reading guest RAM", rc);
	if (memcmp(back, hv_text, sizeof(hv_text)) != 0)
		return fail("reading back what was written", -EIO);
	say(m,
	    "   wrote and read back %zu bytes at GPA %#llx%s:\n"
	    "     \"%s\"; lazy pages backed by the accessor: %llu\n",
	    sizeof(hv_text), (unsigned long long)at,
	    at / PAGE != (at + sizeof(hv_text) - 1) / PAGE ? ", across a page boundary" : "", back,
	    (unsigned long long)(physim_aspace_stats(m->as).faults_handled - before));
	return 0;
}

/* What the vCPU stored in step 5, read at its GPA: the same bytes, found
 * through the stage-2 mapping instead of the guest's table. */
static int accessor_vcpu_stores(struct machine *m)
{
	const struct vm_region *dev = first_region(m, REGION_MMIO, false);
	if (dev != NULL) {
		uint64_t v;
		int rc = physim_guest_read_volatile(m->as, dev->gpa, 4, &v);
		if (rc != 0)
			return fail("reading the device register", rc);
		say(m,
		    "   device register at GPA %#llx (a 4-byte volatile read): %#llx ('%c'), the "
		    "vCPU's store\n",
		    (unsigned long long)dev->gpa, (unsigned long long)v,
		    isprint((int)v) ? (int)v : '?');
	}
	if (has_vcpu_store(m)) {
		char s[sizeof(vcpu_text)];
		uint64_t gpa = vcpu_store_gpa(m);
		int rc = physim_guest_read(m->as, gpa, s, sizeof(s));
		if (rc != 0 || memcmp(s, vcpu_text, sizeof(s)) != 0)
			return fail("reading the vCPU's store back", rc ? rc : -EIO);
		say(m, "   read at GPA %#llx: \"%s\", the vCPU's store\n", (unsigned long long)gpa,
		    s);
	}
	return 0;
}

/* A write where the VM has nothing is refused whole. */
static int accessor_refused(struct machine *m)
{
	if (!m->have_hole)
		return 0;
	int rc = physim_guest_write(m->as, m->hole_gpa, "x", 1);
	if (rc == 0)
		return fail("a write to the hole was accepted", -EIO);
	say(m, "   write at GPA %#llx (in no region): refused, %s; nothing written\n",
	    (unsigned long long)m->hole_gpa, physim_strerror(rc));
	return 0;
}

int step_accessor(struct machine *m)
{
	int rc = accessor_vcpu_stores(m);
	if (rc == 0)
		rc = accessor_lazy(m, accessor_region(m));
	if (rc == 0)
		rc = accessor_refused(m);
	return rc;
}

/* ---- 7. the TLB ---- */

static int tlb_round(struct machine *m, const struct guest_access *list, size_t n, unsigned *refs)
{
	for (size_t i = 0; i < n; i++) {
		struct physim_xlate x;
		uint8_t seen[64];
		int rc = vcpu_access(m, &list[i], true, &x);
		if (rc == 0)
			rc = complete_access(m, &list[i], &x, seen);
		if (rc != 0)
			return rc;
		*refs += x.mem_refs;
	}
	return 0;
}

/* A real CPU does not walk both tables for every access: it caches the
 * combined GVA -> HPA translation in its TLB, tagged by ASID and VMID. The
 * guest runs a loop over the addresses it can reach; the first round
 * walks, the others hit. */
int step_tlb(struct machine *m)
{
	struct guest_access all[MAX_ACCESSES], list[MAX_ACCESSES];
	size_t n = 0, total = guest_accesses(m, all);
	for (size_t i = 0; i < total; i++)
		if (all[i].gva != GVA_BOGUS && all[i].gva != GVA_UNMAPPED)
			list[n++] = all[i];
	say(m,
	    "   %d rounds over the %zu addresses the guest can reach "
	    "(physim_tlb_nested_translate)\n",
	    TLB_ROUNDS, n);
	for (unsigned round = 1; round <= TLB_ROUNDS; round++) {
		struct physim_tlb_stats before = physim_tlb_stats(m->tlb), after;
		unsigned refs = 0;
		int rc = tlb_round(m, list, n, &refs);
		if (rc != 0)
			return rc;
		after = physim_tlb_stats(m->tlb);
		say(m, "     round %u: %llu misses, %llu hits, %3u memory references\n", round,
		    (unsigned long long)(after.misses - before.misses),
		    (unsigned long long)(after.hits - before.hits), refs);
	}
	struct physim_tlb_stats s = physim_tlb_stats(m->tlb);
	say(m,
	    "   TLB: %llu hits, %llu misses, %llu stale (every hit is checked against a fresh "
	    "walk)\n",
	    (unsigned long long)s.hits, (unsigned long long)s.misses, (unsigned long long)s.stale);
	return s.stale == 0 ? 0 : fail("the TLB served stale translations", -EIO);
}

/* ---- 8. dirty logging ---- */

/* What a dirty page is, and who wrote it where this program knows. */
static const char *page_label(const struct machine *m, uint64_t gpa,
			      const struct physim_area_info *a)
{
	const struct guest_paging *gp = &m->gpt_mem;
	const struct vm_region *r = accessor_region(m);
	if (in_page(gpa, m->cfg.image_gpa, m->image_size))
		return "the guest image";
	if (gpa >= gp->start && gpa < gp->next)
		return "the guest's page table: the CPU set accessed/dirty bits in it";
	if (a->kind == PHYSIM_AREA_LINEAR)
		return "the device page: the vCPU's store";
	if (has_vcpu_store(m) && in_page(gpa, vcpu_store_gpa(m), 1))
		return "lazy RAM: the vCPU's store";
	if (r != NULL && in_page(gpa, accessor_gpa(r), sizeof(hv_text)))
		return "RAM: the hypervisor's write";
	return a->populate ? "populated RAM" : "lazy RAM";
}

struct dirty_walk {
	struct machine *m;
	bool show;	      /* print the pages */
	uint64_t pages, seen; /* dirty pages: counted, and met while printing */
	int rc;
};

#define MAX_DIRTY_SHOWN 12

static void show_dirty_bits(struct dirty_walk *d, const struct physim_area_info *a,
			    const uint64_t *bm, uint64_t npages)
{
	for (uint64_t i = 0; i < npages; i++) {
		if (!(bm[i / 64] >> (i % 64) & 1))
			continue;
		uint64_t gpa = a->start + i * PAGE;
		if (d->show && d->seen++ < MAX_DIRTY_SHOWN)
			say(d->m, "   GPA %#llx  %s\n", (unsigned long long)gpa,
			    page_label(d->m, gpa, a));
	}
}

static int fetch_area(void *ctx, const struct physim_area_info *a)
{
	struct dirty_walk *d = ctx;
	uint64_t npages = a->size / PAGE;
	uint64_t *bm = calloc((size_t)((npages + 63) / 64), sizeof(*bm));
	if (bm == NULL)
		return d->rc = -ENOMEM;
	int64_t got = physim_aspace_dirty_log_fetch_clear(d->m->as, a->start, npages, bm);
	if (got >= 0) {
		show_dirty_bits(d, a, bm, npages);
		d->pages += (uint64_t)got;
	} else {
		d->rc = (int)got;
	}
	free(bm);
	return d->rc;
}

/* Fetch-and-clear, area by area, as a migration pass does: each fetch
 * returns what was written since the last one. */
static int fetch_dirty(struct machine *m, uint64_t *pages, bool show)
{
	struct dirty_walk d = {.m = m, .show = show};
	physim_aspace_for_each_area(m->as, fetch_area, &d);
	*pages = d.pages;
	if (d.seen > MAX_DIRTY_SHOWN)
		say(m, "   ... and %llu more\n", (unsigned long long)(d.seen - MAX_DIRTY_SHOWN));
	return d.rc ? fail("fetching the dirty log", d.rc) : 0;
}

int step_dirty_log(struct machine *m)
{
	uint64_t first, second;
	int rc = fetch_dirty(m, &first, true);
	if (rc == 0)
		rc = fetch_dirty(m, &second, false);
	if (rc != 0)
		return rc;
	say(m,
	    "   %llu dirty pages (physim_aspace_dirty_log_fetch_clear); fetched again at once: "
	    "%llu\n",
	    (unsigned long long)first, (unsigned long long)second);
	if (m->arch->hw_dirty)
		say(m, "   (the CPU's writes were found in the %s dirty bits the walk set)\n",
		    m->arch->stage2_name);
	else
		say(m,
		    "   (%s has no dirty bit to harvest here: the vCPU's stores were marked with\n"
		    "   physim_aspace_mark_dirty, as a hypervisor marks pages on write-protect "
		    "faults)\n",
		    m->arch->stage2_name);
	physim_aspace_dirty_log_disable(m->as);
	return second == 0 ? 0 : fail("the dirty log was not cleared", -EIO);
}

/* ---- 9. ptdump ---- */

int step_stage2_dump(struct machine *m)
{
	struct ptdump_totals t = {0};
	int rc =
	    m->quiet ? 0 : show_ptdump(stdout, physim_aspace_pt(m->as), "   ", "GPA", "HPA", &t);
	if (rc != 0)
		return fail("walking the stage-2 table", rc);
	say(m, "   %llu leaf entries in %llu lines; %llu table frames\n",
	    (unsigned long long)t.leaves, (unsigned long long)t.lines,
	    (unsigned long long)physim_pt_table_frames(physim_aspace_pt(m->as)));
	return 0;
}

/* ---- 10. statistics ---- */

static uint64_t live(const struct physim_counting_hal *ch)
{
	return (uint64_t)physim_counting_hal_counts(ch).frames_live;
}

/* Frames by what holds them - from the address space's own accounting and,
 * independently, from the counting wrappers and the RAM's allocator; they
 * must agree. */
int step_statistics(struct machine *m)
{
	struct physim_aspace_stats st = physim_aspace_stats(m->as);
	uint64_t ram = live(m->count_ram), tables = live(m->count_tables);
	uint64_t claims = live(m->count_claims);
	uint64_t host = physim_ram_stats(m->ram).used_frames;
	struct physim_tlb_stats t = physim_tlb_stats(m->tlb);
	say(m, "   host frames in use, by what holds them (the counting wrappers):\n");
	say(m, "     guest RAM        %6llu   the address space counts %llu\n",
	    (unsigned long long)ram, (unsigned long long)st.alloc_frames);
	say(m, "     stage-2 tables   %6llu   the table counts %llu\n", (unsigned long long)tables,
	    (unsigned long long)st.table_frames);
	say(m, "     identity claims  %6llu\n", (unsigned long long)claims);
	say(m, "     in all           %6llu   the RAM's own allocator counts %llu\n",
	    (unsigned long long)(ram + tables + claims), (unsigned long long)host);
	say(m, "   guest page table   %6llu   pages of guest RAM (included above)\n",
	    (unsigned long long)m->gpt_mem.pages_in_use);
	say(m,
	    "   lazy pages backed  %6llu   %llu on nested page faults, %llu by the hypervisor's "
	    "accesses\n",
	    (unsigned long long)st.faults_handled, (unsigned long long)m->exits_handled,
	    (unsigned long long)(st.faults_handled - m->exits_handled));
	say(m, "   faults not fixed   %6llu   %llu nested page fault, %llu guest page fault\n",
	    (unsigned long long)(m->exits_refused + m->guest_faults),
	    (unsigned long long)m->exits_refused, (unsigned long long)m->guest_faults);
	say(m,
	    "   TLB hits           %6llu   %llu misses, %llu invalidations from the tables' "
	    "hooks\n",
	    (unsigned long long)t.hits, (unsigned long long)t.misses,
	    (unsigned long long)t.flushes);
	uint64_t now = m->vm_hal.current_time_nanos(m->vm_hal.time_ctx);
	say(m, "   time so far        %6.1f   ms, by the VM HAL's clock\n",
	    (double)(now - m->t_start) / 1e6);
	bool agree =
	    ram == st.alloc_frames && tables == st.table_frames && host == ram + tables + claims;
	return agree ? 0 : fail("the frame counts disagree", -EIO);
}
