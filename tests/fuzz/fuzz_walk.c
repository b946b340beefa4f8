/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_walk.c - the architectural walker on arbitrary table
 * memory (hostile guest tables: cycles, self-references, reserved bits,
 * pointers outside memory) for every format and for every stage-1 over
 * stage-2 pair, with and without the software TLB. Every access must give a
 * result or a fault, never a crash and never a read outside the memory the
 * paging handler resolves (the memory is an exact-size heap block, so
 * AddressSanitizer sees any stray read); a probe writes nothing; a
 * translation that wrote nothing agrees with the probe; the TLB agrees with
 * the tables while they do not change.
 *
 * Input layout (tests/fuzz/make-seeds.py writes seeds in it):
 *   0      mode: bit 0 nested, bit 1 no direct map, bits 2-3 memory base,
 *          bits 4-7 (nested) the alternative first stage's distance from
 *          the main one in the format list
 *   1, 2   format (nested: stage-1 format, stage-2 format)
 *   3      frames of memory - 1 (mod 16)
 *   4..7   control bits (see ctl_from), 8..11 PKRU
 *   12..35 three roots (stage 1 / root_hi / stage 2), each u64: bit 63 set:
 *          the other bits as an address; else an offset into the memory
 *   36     number of operations (mod 33), then 10 bytes each: u64 address
 *          (or value), u8 access bits, u8 operation (bits 0-2: walk, walk
 *          through the TLB, store into table memory, TLB flush or new
 *          control state; bit 3: the alternative first stage)
 *   rest   the memory's initial bytes (zero beyond the input) */
#include "fuzz.h"
#include "common/xlate.h"
#include "walk-format.h"

#include <physim/walk.h>

#define MAX_FRAMES   16
#define MAX_ACCESSES 32
#define HDR_BYTES    37

static const physim_hpa_t mem_bases[] = {UINT64_C(0x80000000), UINT64_C(0x1000),
					 UINT64_C(0x100000000), UINT64_C(0x7ff000)};

/* ---- table memory: an exact-size heap block behind a paging handler ---- */

struct mem {
	uint8_t *bytes;
	physim_hpa_t base;
	uint64_t size;
	uint8_t *snap;
};

static void *mem_phys_to_virt(void *ctx, physim_hpa_t hpa)
{
	struct mem *m = ctx;
	if (hpa < m->base || hpa - m->base >= m->size)
		return NULL;
	return m->bytes + (hpa - m->base);
}

/* The walker never allocates or frees. */
static int no_alloc(void *ctx, physim_hpa_t *hpa)
{
	fz_fail(__FILE__, __LINE__, "the walker allocated a frame");
	return -ENOMEM;
}

static int no_alloc_n(void *ctx, size_t n, uint64_t align, physim_hpa_t *hpa)
{
	fz_fail(__FILE__, __LINE__, "the walker allocated frames");
	return -ENOMEM;
}

static int no_free(void *ctx, physim_hpa_t hpa)
{
	fz_fail(__FILE__, __LINE__, "the walker freed a frame");
	return -ENOENT;
}

static int no_free_n(void *ctx, physim_hpa_t hpa, size_t n)
{
	fz_fail(__FILE__, __LINE__, "the walker freed frames");
	return -ENOENT;
}

/* ---- formats ---- */

static const struct physim_pt_format *pick_format(uint8_t b, int stage2)
{
	size_t n = physim_format_count(), k = 0, want;
	for (size_t i = 0; i < n; i++)
		k += stage2 < 0 || physim_format_at(i)->stage2 == stage2;
	want = b % k;
	for (size_t i = 0; i < n; i++) {
		const struct physim_pt_format *f = physim_format_at(i);
		if ((stage2 < 0 || f->stage2 == stage2) && want-- == 0)
			return f;
	}
	return NULL;
}

static struct physim_mmu_ctl ctl_from(uint32_t b, uint32_t pkru)
{
	return (struct physim_mmu_ctl){
	    .wp_off = b & 1,
	    .nxe_off = b >> 1 & 1,
	    .smep = b >> 2 & 1,
	    .smap = b >> 3 & 1,
	    .ac = b >> 4 & 1,
	    .pke = b >> 5 & 1,
	    .pkru = pkru,
	    .ept_ad = b >> 6 & 1,
	    .mbec = b >> 7 & 1,
	    .wxn = b >> 8 & 1,
	    .pan = b >> 9 & 1,
	    .ha = b >> 10 & 1,
	    .hd = b >> 11 & 1,
	    .sum = b >> 12 & 1,
	    .mxr = b >> 13 & 1,
	    .svadu = b >> 14 & 1,
	    /* Widths: mostly the default (0), sometimes any value up to 63
	     * (above 52 is refused by mmu_create). */
	    .maxphyaddr = b >> 15 & 1 ? b >> 16 & 63 : 0,
	    .ips_bits = b >> 22 & 1 ? b >> 23 & 63 : 0,
	};
}

static uint64_t root_from(uint64_t r, const struct mem *m)
{
	if (r >> 63)
		return r & ~(UINT64_C(1) << 63);
	return m->base + r % m->size;
}

/* ---- one input ---- */

struct run {
	struct fz in;
	struct mem mem;
	struct physim_paging_handler ph;
	/* s2 == NULL: a single stage in s1. Nested: two first stages of
	 * (usually) different formats over the same tables take turns, so
	 * state one walk leaves behind shows in a walk of another family. */
	struct physim_mmu *s1, *s2, *s1_alt, *s1_main;
	struct physim_tlb *tlb;
	struct physim_mmu *tlb_s1; /* the first stage the TLB was filled for */
	const struct physim_pt_format *f1, *f2, *f1_alt, *f1_main;
	unsigned levels1, levels2;
	bool mem_changed; /* since the TLB was last flushed */
	bool replicated;  /* the TLB holds a page made of replicated entries */
	uint64_t stale_seen;
};

/* A page larger than its level's entries span is made of replicated
 * entries (ARMv7 supersections and large pages: 16 entries that must be
 * identical). If a guest makes them differ, which one a TLB caches is
 * UNPREDICTABLE (Arm ARM v7 B3.5.1), so a hit may then differ from a
 * fresh walk of another of the 16. */
static bool replicated_page(const struct physim_pt_format *f, uint64_t page_size)
{
	for (unsigned n = 0; n < f->levels; n++)
		if (page_size == UINT64_C(1) << f->level[n].shift)
			return false;
	return true;
}

/* Make the main or the alternative first stage the current one. */
static void use_stage1(struct run *r, bool alt)
{
	if (r->s1_alt == NULL)
		return;
	r->s1 = alt ? r->s1_alt : r->s1_main;
	r->f1 = alt ? r->f1_alt : r->f1_main;
	r->levels1 = r->f1->levels;
}

static int translate(struct run *r, const struct physim_access *a, struct physim_xlate *x,
		     bool probe)
{
	if (r->s2)
		return probe ? physim_nested_probe(r->s1, r->s2, a, x)
			     : physim_nested_translate(r->s1, r->s2, a, x);
	return probe ? physim_mmu_probe(r->s1, a, x) : physim_mmu_translate(r->s1, a, x);
}

/* Is `level` an architecture level of format f (or -1: none applies)? Arm
 * reports faults on the input address (out of the configured range) and on
 * the table base register at level 0, even where the walk starts at level 1
 * (Arm ARM D8: "level 0 or the translation table base register"). */
static bool level_ok(const struct physim_pt_format *f, int level, enum physim_fault_kind kind)
{
	if (level == -1 ||
	    (level == 0 && f->arch == PHYSIM_ARCH_AARCH64 &&
	     (kind == PHYSIM_FAULT_ADDRESS_SIZE || kind == PHYSIM_FAULT_NOT_PRESENT)))
		return true;
	for (unsigned n = 0; n < f->levels; n++)
		if (walk_arch_level(f->walk, n) == level)
			return true;
	return false;
}

static bool below_bits(uint64_t v, unsigned bits)
{
	return bits >= 64 || v >> bits == 0;
}

/* The widest output address a walk of f can give: the format's pa_bits,
 * except that ARMv7 supersections, which the walker translates but the
 * engine never writes, reach 40 bits (Arm ARM v7 B3.5.1). */
static unsigned walk_out_bits(const struct physim_pt_format *f)
{
	return f == physim_format("armv7-short") ? 40 : f->pa_bits;
}

/* What any result must satisfy, whatever the table bytes were. */
static void check_result(const struct run *r, const struct physim_access *a, int rc,
			 const struct physim_xlate *x, bool tlb_hit_possible, bool probe)
{
	const struct physim_pt_format *f1 = r->f1, *last = r->s2 ? r->f2 : r->f1;
	FZ_CHECK(rc == 0 || rc == -EFAULT);
	if (getenv("FZ_VERBOSE"))
		fprintf(stderr, "%s%s%s va %#llx w%d x%d u%d: rc %d %s pa %#llx size %#llx\n",
			f1->name, r->s2 ? " over " : "", r->s2 ? r->f2->name : "",
			(unsigned long long)a->va, a->write, a->exec, a->user, rc,
			physim_fault_str(&x->fault), (unsigned long long)x->pa,
			(unsigned long long)x->page_size);
	if (rc == -EFAULT) {
		const struct physim_fault *ft = &x->fault;
		FZ_CHECK(ft->kind > PHYSIM_FAULT_NONE && ft->kind <= PHYSIM_FAULT_BUS_ERROR);
		if (r->s2 == NULL) {
			FZ_CHECK(ft->stage == (f1->stage2 ? 2u : 1u) && !ft->s1ptw);
			FZ_CHECK(ft->addr == a->va && level_ok(f1, ft->level, ft->kind));
			FZ_CHECK(!f1->stage2 || ft->gpa == a->va);
		} else {
			FZ_CHECK(ft->stage == 1 || ft->stage == 2);
			FZ_CHECK(!ft->s1ptw || ft->stage == 2);
			FZ_CHECK(level_ok(ft->stage == 1 ? f1 : r->f2, ft->level, ft->kind));
			if (ft->stage == 1)
				FZ_CHECK(ft->addr == a->va);
		}
		/* Only an input-address fault has no level, but for AArch64
		 * lookup level -1 (FEAT_LPA2: a 5-level format's root). */
		const struct physim_pt_format *ff = ft->stage == 2 && r->s2 ? r->f2 : f1;
		FZ_CHECK(ft->level >= 0 || ft->kind == PHYSIM_FAULT_NON_CANONICAL ||
			 ft->kind == PHYSIM_FAULT_ADDRESS_SIZE ||
			 walk_arch_level(ff->walk, ff->levels - 1u) == -1);
		char buf[160];
		FZ_CHECK(physim_fault_format(ft, buf, sizeof(buf)) > 0);
		return;
	}
	FZ_CHECK(x->fault.kind == PHYSIM_FAULT_NONE);
	FZ_CHECK(physim_is_pow2(x->page_size) && x->page_size >= 1024);
	FZ_CHECK((x->perms & ~(uint32_t)(PHYSIM_R | PHYSIM_W | PHYSIM_X | PHYSIM_U)) == 0);
	/* The page offset passes through; the output fits the output width. */
	uint64_t off = x->page_size - 1;
	FZ_CHECK((x->pa & off) == (a->va & off));
	FZ_CHECK(below_bits(x->pa, walk_out_bits(last)));
	FZ_CHECK(level_ok(f1, x->level, PHYSIM_FAULT_NONE) && x->level >= 0);
	if (r->s2) {
		FZ_CHECK((x->gpa & off) == (a->va & off));
		FZ_CHECK(below_bits(x->gpa, walk_out_bits(f1)));
	}
	/* A TLB hit makes no memory reference; a walk makes one per level
	 * (nested: each stage-1 fetch is itself walked by stage 2). */
	unsigned most = r->s2 ? r->levels1 * (r->levels2 + 1) + r->levels2 : r->levels1;
	/* A translation walks again when its A/D compare-and-swap finds the
	 * entry changed - by its own earlier update where tables share
	 * entries (self-references); each retry has set at least one more
	 * A or D bit, of which the walk's entries hold at most 2 each. */
	if (!probe)
		most *= 2 * (r->levels1 + r->levels2) + 1;
	FZ_CHECK(x->mem_refs <= most);
	FZ_CHECK(x->mem_refs >= 1 || tlb_hit_possible);
}

static bool same_result(int rc1, const struct physim_xlate *a, int rc2,
			const struct physim_xlate *b)
{
	if (rc1 != rc2)
		return false;
	if (rc1 != 0)
		return a->fault.kind == b->fault.kind && a->fault.level == b->fault.level &&
		       a->fault.stage == b->fault.stage && a->fault.syndrome == b->fault.syndrome;
	return a->pa == b->pa && a->page_size == b->page_size && a->perms == b->perms &&
	       a->global == b->global;
}

static void do_access(struct run *r, const struct physim_access *a, bool via_tlb)
{
	struct physim_xlate xp, xt;
	bool bad = (a->write && a->exec) || (a->implicit && (a->user || a->exec));
	/* A probe writes nothing. */
	memcpy(r->mem.snap, r->mem.bytes, r->mem.size);
	int rp = translate(r, a, &xp, true);
	FZ_CHECK(memcmp(r->mem.snap, r->mem.bytes, r->mem.size) == 0);
	if (bad) {
		FZ_CHECK(rp == -EINVAL);
		return;
	}
	check_result(r, a, rp, &xp, false, true);
	if (rp == 0)
		FZ_CHECK(!xp.ad_updated);
	if (r->s2) {
		/* A traced walk calls stage 2 through its ops; the probe may
		 * have walked it inline (lib/walk-loop.h, struct
		 * walk_s2_inline). Both give the same result. */
		struct physim_xlate xq;
		struct physim_walk_trace tr;
		int rq = physim_nested_trace(r->s1, r->s2, a, PHYSIM_TRACE_PROBE, &xq, &tr);
		FZ_CHECK(rq == rp && tc_xlate_diff(&xp, &xq) == NULL);
		FZ_CHECK(memcmp(r->mem.snap, r->mem.bytes, r->mem.size) == 0);
	}
	int rt;
	if (via_tlb && r->tlb_s1 != r->s1 && r->tlb_s1 != NULL) {
		/* Other tables under the same tags: what an OS flushes. */
		physim_tlb_flush_all(r->tlb);
		r->mem_changed = r->replicated = false;
	}
	if (via_tlb)
		rt = r->s2 ? physim_tlb_nested_translate(r->tlb, r->s1, r->s2, a, &xt)
			   : physim_tlb_translate(r->tlb, r->s1, a, &xt);
	else
		rt = translate(r, a, &xt, false);
	check_result(r, a, rt, &xt, via_tlb, false);
	bool wrote = memcmp(r->mem.snap, r->mem.bytes, r->mem.size) != 0;
	/* A walk says whether it updated A/D. Only a successful stage walk
	 * updates (walk-format.h), but a translation may still end in a fault
	 * after one: its update changed an entry the walk also reads (shared,
	 * self-referencing tables), the walk was made again and that entry now
	 * faults (e.g. the A bit is reserved in a PAE PDPTE). */
	if (!via_tlb)
		FZ_CHECK(xt.ad_updated == wrote);
	if (wrote)
		r->mem_changed = true;
	/* A nested translation's stage-1 A/D update is a write through stage
	 * 2, which may fault where the probe (which updates nothing) got past
	 * stage 1 (walk-format.h): a stage-2 fault on a stage-1 table access. */
	bool probe_past_s1 = rp == 0 || (xp.fault.stage == 2 && !xp.fault.s1ptw);
	bool update_faulted =
	    r->s2 && probe_past_s1 && rt == -EFAULT && xt.fault.stage == 2 && xt.fault.s1ptw;
	/* Tables the translation did not change say the same to the probe. */
	if (!wrote && !via_tlb && !update_faulted)
		FZ_CHECK(same_result(rp, &xp, rt, &xt));
	if (via_tlb) {
		r->tlb_s1 = r->s1;
		if (rt == 0 && (replicated_page(r->f1, xt.page_size) ||
				(r->s2 && replicated_page(r->f2, xt.page_size))))
			r->replicated = true;
		if (r->replicated)
			r->mem_changed = true; /* hits may differ from walks */
		/* While the tables stay as they were when the TLB was last
		 * flushed, a hit is never stale and agrees with a fresh walk. */
		uint64_t stale = physim_tlb_stats(r->tlb).stale;
		if (!r->mem_changed && rp == 0 && !update_faulted)
			FZ_CHECK(same_result(rp, &xp, rt, &xt));
		if (!r->mem_changed)
			FZ_CHECK(stale == r->stale_seen);
		r->stale_seen = stale;
	}
}

static void do_mutate(struct run *r, uint64_t value, uint8_t where)
{
	/* An 8-byte store into the table memory, as a guest would make. */
	uint64_t off = ((uint64_t)where * 8 + (value >> 56) * 2048) % r->mem.size;
	memcpy(r->mem.bytes + (off & ~UINT64_C(7)), &value, 8);
	r->mem_changed = true;
}

static void do_flush(struct run *r, uint64_t va, uint8_t how)
{
	switch (how % 5) {
	case 0:
		physim_tlb_flush_all(r->tlb);
		r->mem_changed = r->replicated = false;
		break;
	case 1:
		physim_tlb_flush_va(r->tlb, va);
		break;
	case 2:
		physim_tlb_flush_asid(r->tlb, (uint16_t)va);
		break;
	case 3:
		physim_tlb_flush_vmid(r->tlb, (uint16_t)va);
		break;
	default:
		physim_tlb_flush_va_asid(r->tlb, va, (uint16_t)(va >> 48));
		break;
	}
}

/* New control state for the current first stage (or, bit 6, the second):
 * what a guest changing CR0/CR4/SCTLR/sstatus does. The TLB may then hold
 * what the old state allowed, as on hardware until it is flushed. */
static void do_set_ctl(struct run *r, uint64_t raw, uint8_t ab)
{
	struct physim_mmu *m = (ab & 0x40) && r->s2 ? r->s2 : r->s1;
	struct physim_mmu_config c;
	physim_mmu_get_config(m, &c);
	c.ctl = ctl_from((uint32_t)raw, (uint32_t)(raw >> 32));
	int want = c.ctl.maxphyaddr > 52 || c.ctl.ips_bits > 52 ? -EINVAL : 0;
	FZ_CHECK(physim_mmu_set_config(m, &c) == want);
	struct physim_mmu_config back;
	physim_mmu_get_config(m, &back);
	if (want == 0)
		FZ_CHECK(back.ctl.pkru == c.ctl.pkru && back.ctl.maxphyaddr == c.ctl.maxphyaddr &&
			 back.ctl.ips_bits == c.ctl.ips_bits && back.ctl.smep == c.ctl.smep &&
			 back.ctl.svadu == c.ctl.svadu && back.ctl.ha == c.ctl.ha);
	r->mem_changed = true;
}

static uint64_t pick_va(uint64_t raw, uint8_t bits)
{
	/* Mostly low addresses (where tables are dense), sometimes the top
	 * half (sign-extended), sometimes any value. */
	switch (bits >> 5) {
	case 0:
	case 1:
		return raw & 0xffffffff;
	case 2:
		return raw | ~((UINT64_C(1) << 47) - 1);
	case 3:
		return raw & ((UINT64_C(1) << 48) - 1);
	default:
		return raw;
	}
}

static bool setup(struct run *r, uint8_t mode, const struct physim_pt_format *f1,
		  const struct physim_pt_format *f1_alt, const struct physim_pt_format *f2,
		  struct physim_mmu_ctl ctl, const uint64_t roots[3])
{
	struct physim_mmu_config c1 = {.format = f1,
				       .mem = &r->ph,
				       .root = root_from(roots[0], &r->mem),
				       .root_hi = roots[1] ? root_from(roots[1], &r->mem) : 0,
				       .ctl = ctl,
				       .asid = (uint16_t)roots[1],
				       .vmid = (uint16_t)roots[2]};
	bool bad_ctl = ctl.maxphyaddr > 52 || ctl.ips_bits > 52;
	int want = f1->walk == NULL					      ? -ENOTSUP
		   : bad_ctl || (c1.root | c1.root_hi) & (f1->pte_bytes - 1u) ? -EINVAL
									      : 0;
	int rc = physim_mmu_create(&c1, &r->s1);
	if (want == -EINVAL && rc == -ENOTSUP)
		want = rc; /* both apply: the contract does not order them */
	FZ_CHECK(rc == want);
	if (rc != 0)
		return false;
	r->f1 = f1;
	r->f2 = f2;
	r->levels1 = f1->levels;
	if (mode & 1) {
		struct physim_mmu_config c2 = {.format = f2,
					       .mem = &r->ph,
					       .root = root_from(roots[2], &r->mem),
					       .ctl = ctl,
					       .vmid = (uint16_t)roots[2]};
		want = f2->walk == NULL ? -ENOTSUP : (c2.root & (f2->pte_bytes - 1u)) ? -EINVAL : 0;
		rc = physim_mmu_create(&c2, &r->s2);
		FZ_CHECK(rc == want);
		if (rc != 0)
			return false;
		r->levels2 = f2->levels;
		c1.format = f1_alt;
		c1.asid++;
		if (physim_mmu_create(&c1, &r->s1_alt) == 0) {
			r->f1_alt = f1_alt;
			r->s1_main = r->s1;
			r->f1_main = f1;
		}
	}
	struct physim_mmu_config back;
	physim_mmu_get_config(r->s1, &back);
	FZ_CHECK(back.format == f1 && back.root == c1.root && back.mem == &r->ph);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r = {.in = {data, size}};
	uint8_t mode = fz_u8(&r.in);
	uint8_t b1 = fz_u8(&r.in), b2 = fz_u8(&r.in);
	const struct physim_pt_format *f1 = pick_format(b1, mode & 1 ? 0 : -1);
	const struct physim_pt_format *f2 = pick_format(b2, 1);
	const struct physim_pt_format *f1_alt = pick_format(b1 + 1 + (mode >> 4), 0);
	r.mem.size = (1 + fz_u8(&r.in) % MAX_FRAMES) * PHYSIM_FRAME_SIZE;
	r.mem.base = mem_bases[(mode >> 2) & 3];
	uint32_t cb = fz_u32(&r.in), pkru = fz_u32(&r.in);
	uint64_t roots[3];
	for (int i = 0; i < 3; i++)
		roots[i] = fz_u64(&r.in);
	unsigned nacc = fz_u8(&r.in) % (MAX_ACCESSES + 1);
	struct fz acc = r.in;
	size_t acc_bytes = (size_t)nacc * 10 < r.in.n ? (size_t)nacc * 10 : r.in.n;
	acc.n = acc_bytes;
	r.in.p += acc_bytes;
	r.in.n -= acc_bytes;

	/* The memory: exactly size bytes (ASan guards both ends). */
	r.mem.bytes = calloc(1, r.mem.size);
	r.mem.snap = malloc(r.mem.size);
	FZ_CHECK(r.mem.bytes && r.mem.snap);
	memcpy(r.mem.bytes, r.in.p, r.in.n < r.mem.size ? r.in.n : r.mem.size);
	memcpy(r.mem.snap, r.mem.bytes, r.mem.size);
	r.ph = (struct physim_paging_handler){
	    .ctx = &r.mem,
	    .alloc_frame = no_alloc,
	    .alloc_frames = no_alloc_n,
	    .dealloc_frame = no_free,
	    .dealloc_frames = no_free_n,
	    .phys_to_virt = mem_phys_to_virt,
	};
	if (!(mode & 2))
		r.ph.direct = (struct physim_direct_map){
		    .base = r.mem.base, .size = r.mem.size, .hva = r.mem.bytes};

	if (setup(&r, mode, f1, f1_alt, f2, ctl_from(cb, pkru), roots)) {
		struct physim_tlb_config tc = {.entries = 16, .check_stale = true};
		FZ_CHECK(physim_tlb_create(&tc, &r.tlb) == 0);
		while (acc.n > 0) {
			uint64_t raw = fz_u64(&acc);
			uint8_t ab = fz_u8(&acc), op = fz_u8(&acc);
			struct physim_access a = {.va = pick_va(raw, ab),
						  .write = ab & 1,
						  .exec = ab >> 1 & 1,
						  .user = ab >> 2 & 1,
						  .implicit = (ab & 0x18) == 0x18};
			memcpy(r.mem.snap, r.mem.bytes, r.mem.size);
			use_stage1(&r, op & 8);
			switch (op % 8) {
			case 0:
			case 1:
			case 2:
				do_access(&r, &a, false);
				break;
			case 3:
			case 4:
			case 5:
				do_access(&r, &a, true);
				break;
			case 6:
				do_mutate(&r, raw, ab);
				break;
			default:
				if (ab & 0x80)
					do_set_ctl(&r, raw, ab);
				else
					do_flush(&r, a.va, ab);
				break;
			}
		}
		physim_tlb_destroy(r.tlb);
	}
	physim_mmu_destroy(r.s1_alt ? r.s1_main : r.s1);
	physim_mmu_destroy(r.s1_alt);
	physim_mmu_destroy(r.s2);
	free(r.mem.bytes);
	free(r.mem.snap);
	return 0;
}
