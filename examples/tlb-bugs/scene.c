/* SPDX-License-Identifier: MIT */
/* examples/tlb-bugs/scene.c - the shared stage of the planted-bug programs: building the
 * tables and the machine, the accesses, collecting physim's reports and judging them. */
#include "scene.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RWXU (PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U)

static void die(const struct scene *s, const char *what, int rc)
{
	fprintf(stderr, "%s: %s: %s\n", s->prog, what, physim_strerror(rc));
	exit(1);
}

static void on_report(void *ctx, const struct physim_cpu_report *r)
{
	struct scene *s = ctx;
	if (s->closing)
		return;
	char line[1024];
	physim_cpu_report_format(r, line, sizeof(line));
	printf("physim: %s\n", line);
	if (s->nreports < SCENE_MAX_REPORTS)
		s->report[s->nreports] = *r;
	s->nreports++;
	s->nuse += r->kind == PHYSIM_REPORT_STALE_USE;
}

int scene_variant(int argc, char **argv, const char *const *names, unsigned n)
{
	for (unsigned i = 0; argc == 2 && i < n; i++) {
		if (strcmp(argv[1], names[i]) == 0)
			return (int)i;
	}
	fprintf(stderr, "usage: %s", argc > 0 ? argv[0] : "tlb-bug");
	for (unsigned i = 0; i < n; i++)
		fprintf(stderr, "%s%s", i ? "|" : " ", names[i]);
	fprintf(stderr, "\n");
	exit(2);
}

static struct physim_mmu *mmu_of(struct scene *s, struct physim_pt *pt)
{
	struct physim_mmu *mmu;
	struct physim_mmu_config c = {
	    .format = physim_pt_format(pt), .mem = s->ph, .root = physim_pt_root(pt)};
	int rc = physim_mmu_create(&c, &mmu);
	if (rc < 0)
		die(s, "creating an MMU context", rc);
	return mmu;
}

static struct physim_pt *table(struct scene *s, const char *format,
			       const struct physim_paging_handler *ph)
{
	const struct physim_pt_format *f = physim_format(format);
	struct physim_pt *pt;
	if (f == NULL)
		die(s, format, -ENOENT);
	if (ph == NULL)
		die(s, "the machine's checking paging handler", -ENOMEM);
	int rc = physim_pt_create(f, ph, &pt);
	if (rc < 0)
		die(s, "creating a table", rc);
	return pt;
}

void scene_open(struct scene *s, const char *prog, const char *variant,
		const struct scene_config *cfg)
{
	*s = (struct scene){.prog = prog, .variant = variant, .cfg = *cfg};
	if (s->cfg.page_size == 0)
		s->cfg.page_size = 4096;
	printf("%s %s\n", prog, variant);
	int rc = physim_ram_create(&(struct physim_ram_config){.base = RAM_BASE, .size = RAM_SIZE},
				   &s->ram);
	if (rc < 0)
		die(s, "creating RAM", rc);
	s->ph = physim_ram_paging_handler(s->ram);
	struct physim_machine_config mc = {
	    .arch = cfg->arch,
	    .ncpus = cfg->ncpus,
	    .mode = PHYSIM_CPU_STRICT, /* nothing evicted: a missing invalidation shows */
	    .check_stale = true,       /* every hit compared with a fresh walk */
	    .walk_caches = true,       /* non-leaf descriptors cached too */
	    .check_bbm = true,	       /* valid-to-valid changes checked at invalidations */
	    .on_report = on_report,
	    .report_ctx = s,
	};
	rc = physim_machine_create(&mc, &s->m);
	if (rc < 0)
		die(s, "creating the machine", rc);
	s->s1pt = table(s, cfg->s1_format,
			cfg->check_frees ? physim_machine_paging_handler(s->m, s->ph) : s->ph);
	rc = physim_pt_map(s->s1pt, GVA, GPA, s->cfg.page_size, RWXU);
	if (rc < 0)
		die(s, "mapping the guest page", rc);
	s->s1 = mmu_of(s, s->s1pt);
	/* the hypervisor's (or kernel's) own table, loaded at a VM exit: it maps nothing the
	 * programs touch */
	s->hyppt = table(s, cfg->s1_format, s->ph);
	s->hyp = mmu_of(s, s->hyppt);
	if (cfg->s2_format != NULL) {
		s->s2pt = table(s, cfg->s2_format, s->ph);
		rc = physim_pt_map_region(s->s2pt, RAM_BASE, RAM_BASE, RAM_SIZE, RWXU, 0);
		if (rc < 0)
			die(s, "mapping guest RAM in stage 2", rc);
		s->s2 = mmu_of(s, s->s2pt);
	}
}

/* EPTP as a VMM writes it: the EPT root, write-back paging-structure memory type (bits 2:0 =
 * 6) and a 4-level walk (bits 5:3 = 3) (SDM Vol. 3C 25.6.11). */
static uint64_t eptp_of(const struct scene *s)
{
	return s->s2pt ? physim_pt_root(s->s2pt) | 3u << 3 | 6u : 0;
}

void scene_run_guest(struct scene *s, unsigned cpu)
{
	bool nested = s->s2 != NULL;
	struct physim_cpu_context c = {
	    .s1 = s->s1,
	    .s2 = s->s2,
	    .regime = nested ? PHYSIM_REGIME_GUEST : s->cfg.regime,
	    .asid = ASID,
	    .vmid = nested ? VMID : 0, /* one stage: no hypervisor, VMID / VPID 0 */
	    .eptp = s->cfg.arch == PHYSIM_ARCH_X86_64 ? eptp_of(s) : 0,
	};
	/* x86 without EPT runs in VMX root (or without VMX): VPID 0; with CR4.PCIDE clear,
	 * PCID 0 */
	if (s->cfg.arch == PHYSIM_ARCH_X86_64 && !nested)
		c.asid = 0;
	int rc = physim_cpu_set_context(scene_cpu(s, cpu), &c);
	if (rc < 0)
		die(s, "loading the guest's context", rc);
}

void scene_vm_exit(struct scene *s, unsigned cpu)
{
	struct physim_cpu_context c = {
	    .s1 = s->hyp,
	    .regime = PHYSIM_REGIME_HOST,
	    /* Arm VTTBR_EL2.VMID and RISC-V hgatp.VMID keep the VM's VMID at EL2 / HS */
	    .vmid = s->cfg.arch == PHYSIM_ARCH_X86_64 ? 0 : VMID,
	};
	int rc = physim_cpu_set_context(scene_cpu(s, cpu), &c);
	if (rc < 0)
		die(s, "loading the hypervisor's context", rc);
	printf("cpu %u: VM exit\n", cpu);
}

uint64_t scene_read(struct scene *s, unsigned cpu, uint64_t va)
{
	struct physim_xlate x;
	int rc = physim_cpu_translate(scene_cpu(s, cpu),
				      &(struct physim_access){.va = va, .user = true}, &x);
	if (rc < 0)
		die(s, "a read faulted", rc);
	printf("cpu %u: read va 0x%llx -> pa 0x%llx\n", cpu, (unsigned long long)va,
	       (unsigned long long)x.pa);
	return x.pa;
}

static void move(struct scene *s, struct physim_pt *pt, uint64_t in, uint64_t out, uint64_t size,
		 const char *name)
{
	int rc = physim_pt_unmap(pt, in, NULL);
	if (rc == 0)
		rc = physim_pt_map(pt, in, out, size, RWXU);
	if (rc < 0)
		die(s, "changing a mapping", rc);
	printf("the code under test moves %s page 0x%llx to 0x%llx\n", name, (unsigned long long)in,
	       (unsigned long long)out);
}

void scene_move_s1(struct scene *s, uint64_t va, uint64_t new_pa)
{
	move(s, s->s1pt, va, new_pa, s->cfg.page_size, "the stage-1");
}

void scene_unmap_s1(struct scene *s, uint64_t va)
{
	int rc = physim_pt_unmap(s->s1pt, va, NULL);
	if (rc < 0)
		die(s, "unmapping a page", rc);
	printf("the code under test unmaps the stage-1 page 0x%llx\n", (unsigned long long)va);
}

void scene_map_s1(struct scene *s, uint64_t va, uint64_t pa)
{
	int rc = physim_pt_map(s->s1pt, va, pa, s->cfg.page_size, RWXU);
	if (rc < 0)
		die(s, "mapping a page", rc);
	printf("the code under test maps the stage-1 page 0x%llx at 0x%llx\n",
	       (unsigned long long)va, (unsigned long long)pa);
}

void scene_move_s2(struct scene *s, uint64_t gpa, uint64_t new_pa)
{
	move(s, s->s2pt, gpa, new_pa, 4096, "the stage-2");
}

void scene_unmap_s2(struct scene *s, uint64_t gpa)
{
	int rc = physim_pt_unmap(s->s2pt, gpa, NULL);
	if (rc < 0)
		die(s, "unmapping a page", rc);
	printf("the code under test unmaps the stage-2 page 0x%llx\n", (unsigned long long)gpa);
}

void scene_map_s2(struct scene *s, uint64_t gpa, uint64_t pa)
{
	int rc = physim_pt_map(s->s2pt, gpa, pa, 4096, RWXU);
	if (rc < 0)
		die(s, "mapping a page", rc);
	printf("the code under test maps the stage-2 page 0x%llx at 0x%llx\n",
	       (unsigned long long)gpa, (unsigned long long)pa);
}

void scene_did(struct scene *s, int rc, const char *what, ...)
{
	va_list ap;
	va_start(ap, what);
	vprintf(what, ap);
	va_end(ap);
	printf("\n");
	if (rc < 0)
		die(s, "an invalidation was refused", rc);
}

static bool report_fits(const struct physim_cpu_report *r, const struct scene_expect *ex)
{
	enum physim_cpu_report_kind want = ex->report ? ex->report : PHYSIM_REPORT_STALE_USE;
	if (r->kind != want || r->entry.kind != ex->kind || r->pending != ex->pending ||
	    (ex->cpu >= 0 && r->cpu != (unsigned)ex->cpu))
		return false;
	for (unsigned i = 0; i < 3 && ex->remedy[i] != NULL; i++) {
		if (r->remedy == NULL || strstr(r->remedy, ex->remedy[i]) == NULL)
			return false;
	}
	return true;
}

static const char *kind_word(enum physim_entry_kind k)
{
	return k == PHYSIM_ENTRY_S1	? "stage-1"
	       : k == PHYSIM_ENTRY_S2	? "stage-2"
	       : k == PHYSIM_ENTRY_COMB ? "combined"
					: "walk-cache";
}

static bool judge(const struct scene *s, bool planted, const struct scene_expect *ex, long stale)
{
	if (!planted) {
		if (s->nreports == 0)
			return true;
		printf("%s: FALSE POSITIVE: the correct variant was reported\n", s->prog);
		return false;
	}
	/* a stale leaf entry that was used is still there for the audit to find (a stale
	 * walk-cache entry is replaced by the walk that found it) */
	bool use = ex->report == 0 || ex->report == PHYSIM_REPORT_STALE_USE;
	bool audit = use && ex->kind != PHYSIM_ENTRY_WALK;
	unsigned n = s->nreports < SCENE_MAX_REPORTS ? s->nreports : SCENE_MAX_REPORTS;
	for (unsigned i = 0; i < n; i++) {
		if (report_fits(&s->report[i], ex) && (!audit || stale > 0))
			return true;
	}
	printf("%s: MISSED: expected %s a %s entry%s%s naming", s->prog,
	       use					  ? "a stale use of"
	       : ex->report == PHYSIM_REPORT_FREED_IN_USE ? "a frame freed while cached by"
							  : "a break-before-make violation under",
	       kind_word(ex->kind), ex->pending ? " with its invalidation pending" : "",
	       !audit || stale > 0 ? "" : " and stale entries in the audit");
	for (unsigned i = 0; i < 3 && ex->remedy[i] != NULL; i++)
		printf(" \"%s\"", ex->remedy[i]);
	printf("\n");
	return false;
}

int scene_finish(struct scene *s, bool planted, const struct scene_expect *ex)
{
	long stale = physim_machine_audit(s->m);
	printf("audit: %ld stale entr%s, %u stale use%s\n", stale, stale == 1 ? "y" : "ies",
	       s->nuse, s->nuse == 1 ? "" : "s");
	bool ok = stale >= 0 && judge(s, planted, ex, stale);
	/* the tables go before the machine: its checking paging handler may hold them */
	s->closing = true;
	physim_pt_destroy(s->s1pt);
	physim_pt_destroy(s->s2pt);
	physim_pt_destroy(s->hyppt);
	physim_machine_destroy(s->m);
	physim_mmu_destroy(s->s1);
	physim_mmu_destroy(s->s2);
	physim_mmu_destroy(s->hyp);
	uint64_t left = physim_ram_stats(s->ram).used_frames;
	physim_ram_destroy(s->ram);
	if (left != 0) {
		printf("%s: %llu frames leaked\n", s->prog, (unsigned long long)left);
		ok = false;
	}
	printf("%s %s: %s\n", s->prog, s->variant,
	       !ok	 ? "UNEXPECTED"
	       : planted ? "reported as expected"
			 : "clean as expected");
	return ok ? 0 : 1;
}
