/* SPDX-License-Identifier: MIT */
/* examples/guest-mapper/shootdown.c - step 11: the VM on two vCPUs (two simulated CPUs of one
 * physim machine, each caching what its architecture may cache); the hypervisor unmaps a guest
 * page, and the stage-2 table's flush hook shoots it down on both through physim's flusher
 * (physim_cpu_flusher: the architecture's own invalidation for a stage-2 change) - or, with
 * --skip-shootdown, a local-only flusher: only the vCPU it runs on, physim reports the other. */
#include "guest-mapper.h"

#include <errno.h>
#include <string.h>

#define PAGE   UINT64_C(4096)
#define NVCPUS 2

struct findings {
	unsigned n;
	char first[1024];
};

static void on_report(void *ctx, const struct physim_cpu_report *r)
{
	struct findings *f = ctx;
	char line[1024];
	physim_cpu_report_format(r, line, sizeof(line));
	fprintf(stderr, "guest-mapper: physim: %s\n", line);
	if (f->n++ == 0)
		snprintf(f->first, sizeof(f->first), "%s", line);
}

static enum physim_arch arch_of(const struct machine *m)
{
	if (strcmp(m->arch->name, "aarch64") == 0)
		return PHYSIM_ARCH_AARCH64;
	if (strcmp(m->arch->name, "riscv64") == 0)
		return PHYSIM_ARCH_RISCV64;
	return PHYSIM_ARCH_X86_64;
}

/* EPTP as the VMCS holds it: the root, write-back (bits 2:0 = 6), a 4-level walk (bits 5:3 =
 * 3) and the A/D enable of bit 6 when the architecture description sets it (SDM Vol. 3C
 * 25.6.11). INVEPT single-context names the context by this value's EP4TA. */
static uint64_t eptp_of(const struct machine *m)
{
	return physim_aspace_root(m->as) | 6u | 3u << 3 | (m->arch->s2_ctl.ept_ad ? 1u << 6 : 0);
}

static int read_on(struct machine *m, struct physim_machine *pm, unsigned v, uint64_t gva,
		   struct physim_xlate *x)
{
	int rc =
	    physim_cpu_translate(physim_machine_cpu(pm, v), &(struct physim_access){.va = gva}, x);
	if (rc == 0)
		say(m, "   vCPU %u reads GVA %#llx -> HPA %#llx\n", v, (unsigned long long)gva,
		    (unsigned long long)x->pa);
	else if (rc == -EFAULT)
		say(m, "   vCPU %u reads GVA %#llx: %s\n", v, (unsigned long long)gva,
		    physim_fault_str(&x->fault));
	return rc;
}

/* The flusher's trace: each instruction as vCPU 0's physical CPU (or, on x86, the other vCPU's
 * IPI handler) runs it. */
static void say_insn(void *ctx, unsigned cpu, const char *insn)
{
	struct machine *m = ctx;
	bool ipi = cpu != 0 && arch_of(m) == PHYSIM_ARCH_X86_64;
	say(m, "   vCPU %u: %s%s\n", cpu, insn, ipi ? " (the shootdown IPI's handler)" : "");
}

/* The hypervisor's stage-2 flush, routed by physim's flusher from vCPU 0: INVEPT
 * single-context on each vCPU (x86 has no broadcast invalidation); TLBI IPAS2E1IS (IPA >> 12),
 * DSB ISH, TLBI VMALLE1IS, DSB ISH (KVM's __kvm_tlb_flush_vmid_ipa; VMALLS12E1IS for the whole
 * VM); HFENCE.GVMA (GPA >> 2), VMID and SBI remote_hfence_gvma_vmid for the other hart. With
 * --skip-shootdown the flusher is local-only: the non-IS TLBIs, no SBI call, no IPI. */
void vcpus_flush_s2(struct machine *m, const uint64_t *gpas, size_t n, bool all, unsigned flags)
{
	say(m, "   the stage-2 table's flush hook: %s%s\n",
	    all ? "the whole VM" : "the changed GPAs (physim_cpu_flusher_fn_ex)",
	    flags & PHYSIM_PT_FLUSH_TABLES_FREED ? ", a stage-2 table unlinked" : "");
	physim_cpu_flusher_fn_ex(m->vcpu_flusher, gpas, n, all, flags);
	if (m->skip_shootdown)
		say(m, "   (--skip-shootdown: nothing reaches vCPU 1)\n");
	int rc = physim_cpu_flusher_stats(m->vcpu_flusher).first_error;
	if (rc < 0 && m->vcpu_flush_rc == 0)
		m->vcpu_flush_rc = rc;
}

static int run_vcpus(struct machine *m, struct physim_machine *pm, const struct findings *f)
{
	struct physim_cpu_context ctx = {
	    .s1 = m->s1,
	    .s2 = m->s2,
	    .regime = PHYSIM_REGIME_GUEST,
	    .asid = ASID,
	    .vmid = VMID,
	    .eptp = arch_of(m) == PHYSIM_ARCH_X86_64 ? eptp_of(m) : 0,
	};
	for (unsigned v = 0; v < NVCPUS; v++) {
		int rc = physim_cpu_set_context(physim_machine_cpu(pm, v), &ctx);
		if (rc < 0)
			return fail("loading a vCPU's context", rc);
	}
	const uint64_t gva = GVA_IMAGE, gpa = physim_align_down(m->cfg.image_gpa, PAGE);
	struct physim_xlate x;
	for (unsigned v = 0; v < NVCPUS; v++) {
		int rc = read_on(m, pm, v, gva, &x);
		if (rc < 0)
			return fail("a vCPU's read of the image", rc);
	}
	say(m, "   the hypervisor, on vCPU 0, unmaps GPA %#llx (the image's first page)\n",
	    (unsigned long long)gpa);
	m->vcpus = pm; /* the stage-2 flush hook now reaches the vCPUs */
	m->vcpu_flush_rc = 0;
	int rc = physim_aspace_unmap(m->as, gpa, PAGE);
	m->vcpus = NULL;
	if (rc < 0)
		return fail("unmapping the image's first page", rc);
	if (m->vcpu_flush_rc < 0)
		return fail("the invalidation", m->vcpu_flush_rc);
	unsigned faults = 0;
	for (unsigned v = 0; v < NVCPUS; v++) {
		rc = read_on(m, pm, v, gva, &x);
		if (rc == -EFAULT && x.fault.stage == 2)
			faults++;
		else if (rc != 0)
			return fail("a vCPU's read after the unmap", rc);
	}
	long stale = physim_machine_audit(pm);
	say(m, "   audit of both vCPUs' TLBs: %ld stale entr%s\n", stale, stale == 1 ? "y" : "ies");
	if (f->n != 0 || stale != 0 || faults != NVCPUS) {
		fprintf(stderr,
			"guest-mapper: a vCPU kept a translation the unmap removed (%u of %d "
			"vCPUs fault, %u reports)\n",
			faults, NVCPUS, f->n);
		return -EIO;
	}
	say(m, "   both vCPUs now take a stage-2 fault there: the unmap reached both TLBs\n");
	return 0;
}

/* The guest's image page is used by both vCPUs, then unmapped by the hypervisor; physim
 * compares every TLB hit with the tables, so a vCPU that keeps the old translation is
 * reported with the invalidation that would have removed it. */
int step_shootdown(struct machine *m)
{
	struct findings f = {0};
	struct physim_machine *pm;
	struct physim_machine_config c = {
	    .arch = arch_of(m),
	    .ncpus = NVCPUS,
	    .mode = PHYSIM_CPU_STRICT,
	    .check_stale = true,
	    .walk_caches = true, /* non-leaf descriptors too: a freed stage-2 table's */
	    .on_report = on_report,
	    .report_ctx = &f,
	};
	int rc = physim_machine_create(&c, &pm);
	if (rc < 0)
		return fail("creating the two vCPUs", rc);
	say(m, "   two vCPUs (physim_cpu), each with its own TLB of stage-1, stage-2 and combined\n"
	       "   entries and walk caches, nothing evicted, every hit compared with the tables\n");
	struct physim_cpu_flusher_config fc = {
	    .cpu = physim_machine_cpu(pm, 0),
	    .table = PHYSIM_FLUSH_STAGE2,
	    .vmid = VMID,
	    .eptp = arch_of(m) == PHYSIM_ARCH_X86_64 ? eptp_of(m) : 0,
	    .local = m->skip_shootdown,
	    .trace = say_insn,
	    .trace_ctx = m,
	};
	rc = physim_cpu_flusher_create(&fc, &m->vcpu_flusher);
	if (rc < 0) {
		physim_machine_destroy(pm);
		return fail("creating the vCPUs' flusher", rc);
	}
	rc = run_vcpus(m, pm, &f);
	physim_cpu_flusher_destroy(m->vcpu_flusher);
	m->vcpu_flusher = NULL;
	physim_machine_destroy(pm);
	return rc;
}
