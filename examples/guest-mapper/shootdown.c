/* SPDX-License-Identifier: MIT */
/* examples/guest-mapper/shootdown.c - step 11: the VM on two vCPUs (two simulated CPUs of one
 * physim machine, each caching what its architecture may cache); the hypervisor unmaps a guest
 * page, and the stage-2 table's flush hook shoots it down on both with the architecture's own
 * invalidation for the stage-2 format in use - or, with --skip-shootdown, only on the vCPU it
 * runs on, which physim then reports on the other. */
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

/* The whole VM's stage 2 (the hook's `all`): INVEPT single-context covers it already; Arm
 * TLBI VMALLS12E1(IS); RISC-V HFENCE.GVMA x0, vmid (SBI remote_hfence_gvma_vmid over the whole
 * space). */
static int invalidate_vm(struct machine *m, struct physim_machine *pm, bool all)
{
	struct physim_cpu *c0 = physim_machine_cpu(pm, 0);
	int rc = 0;
	if (arch_of(m) == PHYSIM_ARCH_AARCH64) {
		rc =
		    physim_arm_tlbi(c0, all ? PHYSIM_TLBI_VMALLS12E1IS : PHYSIM_TLBI_VMALLS12E1, 0);
		physim_arm_dsb(c0);
		say(m, "   vCPU 0: TLBI %s; DSB ISH\n", all ? "VMALLS12E1IS" : "VMALLS12E1");
	} else if (arch_of(m) == PHYSIM_ARCH_RISCV64) {
		const uint64_t rs2 = VMID;
		rc = physim_rv_hfence_gvma(c0, NULL, &rs2);
		say(m, "   vCPU 0: HFENCE.GVMA x0, %u\n", VMID);
		if (rc == 0 && all) {
			rc = physim_sbi_rfence(c0, PHYSIM_SBI_REMOTE_HFENCE_GVMA_VMID, 1ul << 1, 0,
					       0, 0, VMID);
			say(m, "   vCPU 0: SBI remote_hfence_gvma_vmid(hart mask 0x2, all, %u)\n",
			    VMID);
		}
	}
	return rc;
}

/* The invalidation the hypervisor issues after changing stage 2 for gpa, run by vCPU 0's
 * physical CPU; `all` says whether it reaches vCPU 1 too (the shootdown). */
static int invalidate(struct machine *m, struct physim_machine *pm, uint64_t gpa, bool all)
{
	struct physim_cpu *c0 = physim_machine_cpu(pm, 0), *c1 = physim_machine_cpu(pm, 1);
	int rc = 0;
	switch (arch_of(m)) {
	case PHYSIM_ARCH_AARCH64: {
		/* KVM's __kvm_tlb_flush_vmid_ipa; the IS forms reach every PE of the Inner
		 * Shareable domain, the local ones only this PE */
		enum physim_tlbi_op ipa = all ? PHYSIM_TLBI_IPAS2E1IS : PHYSIM_TLBI_IPAS2E1;
		enum physim_tlbi_op s1 = all ? PHYSIM_TLBI_VMALLE1IS : PHYSIM_TLBI_VMALLE1;
		rc = physim_arm_tlbi(c0, ipa, gpa >> 12);
		physim_arm_dsb(c0);
		if (rc == 0)
			rc = physim_arm_tlbi(c0, s1, 0);
		physim_arm_dsb(c0);
		say(m, "   vCPU 0: TLBI %s, %#llx; DSB ISH; TLBI %s; DSB ISH\n",
		    all ? "IPAS2E1IS" : "IPAS2E1", (unsigned long long)(gpa >> 12),
		    all ? "VMALLE1IS" : "VMALLE1");
		break;
	}
	case PHYSIM_ARCH_RISCV64: {
		const uint64_t rs1 = gpa >> 2, rs2 = VMID;
		rc = physim_rv_hfence_gvma(c0, &rs1, &rs2);
		say(m, "   vCPU 0: HFENCE.GVMA %#llx (GPA >> 2), %u\n", (unsigned long long)rs1,
		    VMID);
		if (rc == 0 && all) {
			/* the remote hart through SBI: hart mask bit 1 */
			rc = physim_sbi_rfence(c0, PHYSIM_SBI_REMOTE_HFENCE_GVMA_VMID, 1ul << 1, 0,
					       gpa, PAGE, VMID);
			say(m,
			    "   vCPU 0: SBI remote_hfence_gvma_vmid(hart mask 0x2, %#llx, 4096, "
			    "%u)\n",
			    (unsigned long long)gpa, VMID);
		}
		break;
	}
	default: {
		/* INVEPT acts on the processor that runs it: the other one runs it in its IPI
		 * handler (x86 has no broadcast invalidation) */
		const uint64_t desc[2] = {eptp_of(m), 0};
		rc = physim_x86_invept(c0, 1, desc);
		say(m, "   vCPU 0: INVEPT single-context, EPTP %#llx\n",
		    (unsigned long long)desc[0]);
		if (rc == 0 && all) {
			rc = physim_x86_invept(c1, 1, desc);
			say(m, "   vCPU 1: INVEPT single-context (the shootdown IPI's handler)\n");
		}
		break;
	}
	}
	return rc;
}

void vcpus_flush_s2(struct machine *m, const uint64_t *gpas, size_t n, bool all)
{
	bool shootdown = !m->skip_shootdown;
	say(m, "   the stage-2 table's flush hook: %s\n",
	    all ? "the whole VM" : "the changed GPAs, one by one");
	int rc = 0;
	if (all)
		rc = arch_of(m) == PHYSIM_ARCH_X86_64 ? invalidate(m, m->vcpus, 0, shootdown)
						      : invalidate_vm(m, m->vcpus, shootdown);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = invalidate(m, m->vcpus, gpas[i], shootdown);
	if (!shootdown)
		say(m, "   (--skip-shootdown: nothing reaches vCPU 1)\n");
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
	    .on_report = on_report,
	    .report_ctx = &f,
	};
	int rc = physim_machine_create(&c, &pm);
	if (rc < 0)
		return fail("creating the two vCPUs", rc);
	say(m, "   two vCPUs (physim_cpu), each with its own TLB of stage-1, stage-2 and combined\n"
	       "   entries, nothing evicted, every hit compared with the tables\n");
	rc = run_vcpus(m, pm, &f);
	physim_machine_destroy(pm);
	return rc;
}
