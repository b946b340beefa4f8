/* tests/test_walk_riscv64.c - the RISC-V walker (Sv32/39/48/57 and the x4
 * G-stage schemes) against an oracle written here from the privileged spec,
 * sharing no code with the walker: every low PTE bit pattern (V, R, W, X, U,
 * G, A, D) at every level, as a leaf or as a pointer, crossed with SUM, MXR,
 * Svade/Svadu, U/S mode and load/store/fetch; reserved bits, non-canonical
 * inputs, bus errors, and nested Sv48 over Sv48x4 walks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <physim/ram.h>
#include <physim/pt.h>
#include <physim/walk.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIT(n) (UINT64_C(1) << (n))

/* PTE bits, written out again from the spec (10.3.1, figure "Sv32 page table
 * entry"; the same bits 9:0 in Sv39/48/57 and in G-stage PTEs). */
enum {
	P_V = 1 << 0,
	P_R = 1 << 1,
	P_W = 1 << 2,
	P_X = 1 << 3,
	P_U = 1 << 4,
	P_G = 1 << 5,
	P_A = 1 << 6,
	P_D = 1 << 7,
};
#define P_PBMT_SHIFT 61 /* Svpbmt: bits 62:61 */
#define P_N	     BIT(63)

/* Exception codes (scause / mcause tables of the privileged spec). */
enum {
	C_INSN_ACCESS = 1,
	C_LOAD_ACCESS = 5,
	C_STORE_ACCESS = 7,
	C_INSN_PAGE = 12,
	C_LOAD_PAGE = 13,
	C_STORE_PAGE = 15,
	C_INSN_GUEST = 20,
	C_LOAD_GUEST = 21,
	C_STORE_GUEST = 23,
};

/* Geometry, from the spec's Sv32/39/48/57 sections and the H extension's
 * "Guest Physical Address Translation" (the root of an x4 scheme takes 2 more
 * index bits). */
struct geom {
	const char *name;
	unsigned levels;
	unsigned pte_bytes;
	unsigned vpn_bits;  /* index bits of a non-root level */
	unsigned root_bits; /* index bits of the root */
	unsigned va_bits;
	bool sext; /* the address must be sign-extended (else zero-extended) */
	bool gstage;
};

static const struct geom geoms[] = {
    {"sv32", 2, 4, 10, 10, 32, false, false},  {"sv39", 3, 8, 9, 9, 39, true, false},
    {"sv48", 4, 8, 9, 9, 48, true, false},     {"sv57", 5, 8, 9, 9, 57, true, false},
    {"sv32x4", 2, 4, 10, 12, 34, false, true}, {"sv39x4", 3, 8, 9, 11, 41, false, true},
    {"sv48x4", 4, 8, 9, 11, 50, false, true},  {"sv57x4", 5, 8, 9, 11, 59, false, true},
};

static const struct geom *geom(const char *name)
{
	for (size_t i = 0; i < sizeof(geoms) / sizeof(geoms[0]); i++)
		if (strcmp(geoms[i].name, name) == 0)
			return &geoms[i];
	fail_msg("no geometry %s", name);
	return NULL;
}

static unsigned lvl_shift(const struct geom *g, unsigned i)
{
	return 12 + g->vpn_bits * i;
}

static uint64_t lvl_index(const struct geom *g, uint64_t va, unsigned i)
{
	unsigned bits = i == g->levels - 1 ? g->root_bits : g->vpn_bits;
	return (va >> lvl_shift(g, i)) & ((UINT64_C(1) << bits) - 1);
}

static uint64_t pte_of(uint64_t pa, uint64_t flags)
{
	return ((pa >> 12) << 10) | flags;
}

/* ---- fixture: RAM at host-physical 0 ---- */

/* Frames that stay zero: superpage-aligned addresses that the enumeration
 * also uses as table addresses when a PTE under test is a pointer. */
#define ZERO_LO	 UINT64_C(0)	    /* 1 GiB (and 4 MiB, 512 GiB ...) aligned */
#define ZERO_2M	 UINT64_C(0x200000) /* 2 MiB aligned */
#define RAM_SIZE (UINT64_C(64) << 20)

struct env {
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
	struct physim_direct_map dm;
};

static struct env *env_new(void)
{
	static const struct physim_ram_range reserved[] = {
	    {ZERO_LO, 0x2000},
	    {ZERO_2M, 0x2000},
	};
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	struct physim_ram_config c = {
	    .base_is_zero = true, .size = RAM_SIZE, .reserved = reserved, .nreserved = 2};
	assert_int_equal(physim_ram_create(&c, &e->ram), 0);
	e->ph = physim_ram_paging_handler(e->ram);
	e->dm = physim_ram_direct_map(e->ram);
	return e;
}

static void env_free(struct env *e)
{
	physim_ram_destroy(e->ram);
	free(e);
}

static void zero(struct env *e, uint64_t pa, uint64_t bytes)
{
	memset(physim_dm_phys_to_virt(&e->dm, pa), 0, bytes);
}

/* A zeroed table for level i (16 KiB, 16 KiB aligned for an x4 root). */
static uint64_t table(struct env *e, const struct geom *g, unsigned i)
{
	uint64_t pa;
	bool big = g->gstage && i == g->levels - 1;
	assert_int_equal(physim_ram_alloc_frames(e->ram, big ? 4 : 1, big ? 16384 : 4096, &pa), 0);
	zero(e, pa, big ? 16384 : 4096);
	return pa;
}

static void put(struct env *e, uint64_t pa, uint64_t v, unsigned bytes)
{
	if (bytes == 4) {
		uint32_t v32 = (uint32_t)v;
		memcpy(physim_dm_phys_to_virt(&e->dm, pa), &v32, 4);
	} else {
		memcpy(physim_dm_phys_to_virt(&e->dm, pa), &v, 8);
	}
}

static uint64_t get(struct env *e, uint64_t pa, unsigned bytes)
{
	if (bytes == 4) {
		uint32_t v32;
		memcpy(&v32, physim_dm_phys_to_virt(&e->dm, pa), 4);
		return v32;
	}
	uint64_t v;
	memcpy(&v, physim_dm_phys_to_virt(&e->dm, pa), 8);
	return v;
}

/* The slot of va at level `lvl`, creating pointer tables (V only) above it. */
static uint64_t slot(struct env *e, const struct geom *g, uint64_t root, uint64_t va, unsigned lvl)
{
	uint64_t t = root;
	for (unsigned i = g->levels - 1; i > lvl; i--) {
		uint64_t s = t + lvl_index(g, va, i) * g->pte_bytes;
		uint64_t d = get(e, s, g->pte_bytes);
		if (d == 0) {
			uint64_t n = table(e, g, i - 1);
			put(e, s, pte_of(n, P_V), g->pte_bytes);
			t = n;
		} else {
			t = ((d >> 10) & ((UINT64_C(1) << 44) - 1)) << 12;
		}
	}
	return t + lvl_index(g, va, lvl) * g->pte_bytes;
}

static struct physim_mmu *mmu_new(struct env *e, const char *fmt, uint64_t root,
				  const struct physim_mmu_ctl *ctl)
{
	struct physim_mmu *m;
	struct physim_mmu_config c = {.format = physim_format(fmt), .mem = e->ph, .root = root};
	assert_non_null(c.format);
	if (ctl != NULL)
		c.ctl = *ctl;
	assert_int_equal(physim_mmu_create(&c, &m), 0);
	return m;
}

/* ---- the oracle ---- */

struct ctl_case {
	bool sum, mxr, svadu;
};

struct acc_case {
	bool write, exec, user;
};

struct expect {
	enum physim_fault_kind kind; /* NONE: success */
	int level;		     /* fault level, or the leaf's level */
	uint64_t cause;
	uint64_t pa, size;
	uint32_t perms;
	bool global;
	unsigned refs;
	int wrote_level; /* level of the PTE the hardware updates, -1: none */
	uint64_t new_pte;
};

enum { RIGHT_READ = 1, RIGHT_WRITE = 2, RIGHT_EXEC = 4 };

/*
 * What a leaf grants at a privilege (10.3.1 "Addressing and Memory
 * Protection" and sstatus "Memory Privilege"): R/W/X grant load/store/fetch;
 * MXR makes X pages loadable; U-mode gets only U = 1 pages; S-mode gets U = 0
 * pages, and U = 1 pages for loads and stores when SUM = 1 - never fetches.
 * The G stage always checks as U-mode (H: "Guest Physical Address
 * Translation").
 */
static unsigned spec_rights(uint64_t pte, bool umode, const struct ctl_case *c)
{
	unsigned r = 0;
	if (pte & P_R)
		r |= RIGHT_READ;
	if (pte & P_W)
		r |= RIGHT_WRITE;
	if (pte & P_X)
		r |= RIGHT_EXEC | (c->mxr ? RIGHT_READ : 0);
	if (umode)
		return (pte & P_U) ? r : 0;
	if (!(pte & P_U))
		return r;
	return c->sum ? r & ~(unsigned)RIGHT_EXEC : 0;
}

static unsigned access_right(const struct acc_case *a)
{
	return a->exec ? RIGHT_EXEC : a->write ? RIGHT_WRITE : RIGHT_READ;
}

/* Page faults and guest-page faults of this access type. */
static uint64_t spec_page_cause(bool gstage, const struct acc_case *a)
{
	if (gstage)
		return a->exec ? C_INSN_GUEST : a->write ? C_STORE_GUEST : C_LOAD_GUEST;
	return a->exec ? C_INSN_PAGE : a->write ? C_STORE_PAGE : C_LOAD_PAGE;
}

static uint64_t spec_access_cause(const struct acc_case *a)
{
	return a->exec ? C_INSN_ACCESS : a->write ? C_STORE_ACCESS : C_LOAD_ACCESS;
}

static struct expect spec_fault(const struct geom *g, const struct acc_case *a,
				enum physim_fault_kind kind, int level, unsigned refs)
{
	return (struct expect){.kind = kind,
			       .level = level,
			       .cause = spec_page_cause(g->gstage, a),
			       .refs = refs,
			       .wrote_level = -1};
}

/*
 * The translation process (10.3.2), for a walk whose PTEs above level L are
 * plain pointers, `d` the PTE at level L and `d_next` the PTE a pointer at L
 * leads to (at level L-1). The PTEs carry no bits above bit 9 except the PPN.
 */
static struct expect oracle(const struct geom *g, unsigned L, uint64_t d, uint64_t d_next,
			    uint64_t va, const struct ctl_case *c, const struct acc_case *a)
{
	bool global = false;
	uint64_t pte = d;
	int i = (int)L;
	unsigned refs = g->levels - L;

	for (;;) {
		/* Step 3: V = 0, or W without R. */
		if (!(pte & P_V))
			return spec_fault(g, a, PHYSIM_FAULT_NOT_PRESENT, i, refs);
		if ((pte & P_W) && !(pte & P_R))
			return spec_fault(g, a, PHYSIM_FAULT_RESERVED, i, refs);
		/* Step 4: R or X makes a leaf. */
		if (pte & (P_R | P_X))
			break;
		/* A pointer: D, A and U are reserved in non-leaf PTEs. */
		if (pte & (P_D | P_A | P_U))
			return spec_fault(g, a, PHYSIM_FAULT_RESERVED, i, refs);
		global = global || (pte & P_G);
		if (i == 0) /* i - 1 < 0 */
			return spec_fault(g, a, PHYSIM_FAULT_RESERVED, 0, refs);
		i--;
		pte = d_next;
		refs++;
	}
	global = global || (pte & P_G);
	uint64_t ppn = pte >> 10;
	/* Misaligned superpage: pte.ppn[i-1:0] != 0. */
	if (i > 0 && (ppn & ((UINT64_C(1) << (g->vpn_bits * (unsigned)i)) - 1)) != 0)
		return spec_fault(g, a, PHYSIM_FAULT_RESERVED, i, refs);
	if (!(spec_rights(pte, g->gstage || a->user, c) & access_right(a)))
		return spec_fault(g, a, PHYSIM_FAULT_PERMISSION, i, refs);
	struct expect x = {.kind = PHYSIM_FAULT_NONE, .level = i, .refs = refs, .wrote_level = -1};
	/* A = 0, or a store to D = 0: Svade faults, Svadu sets them. */
	if (!(pte & P_A) || (a->write && !(pte & P_D))) {
		if (!c->svadu)
			return spec_fault(g, a, PHYSIM_FAULT_ACCESS_FLAG, i, refs);
		x.wrote_level = i;
		x.new_pte = pte | P_A | (a->write ? P_D : 0);
	}
	x.size = UINT64_C(1) << lvl_shift(g, (unsigned)i);
	x.pa = ((ppn << 12) & ~(x.size - 1)) | (va & (x.size - 1));
	x.perms = ((pte & P_R) ? PHYSIM_R : 0) | ((pte & P_W) ? PHYSIM_W : 0) |
		  ((pte & P_X) ? PHYSIM_X : 0) | ((!g->gstage && (pte & P_U)) ? PHYSIM_U : 0);
	x.global = global && !g->gstage; /* G-stage G is ignored */
	return x;
}

/* Compare one result with the expectation. */
static void check(const struct geom *g, const struct expect *x, int rc,
		  const struct physim_xlate *r, uint64_t va, const char *what)
{
	if (x->kind == PHYSIM_FAULT_NONE) {
		if (rc != 0)
			fail_msg("%s %s va %#" PRIx64 ": expected success, got %d (%s)", g->name,
				 what, va, rc, physim_fault_str(&r->fault));
		assert_int_equal(r->fault.kind, PHYSIM_FAULT_NONE);
		assert_int_equal(r->pa, x->pa);
		assert_int_equal(r->page_size, x->size);
		assert_int_equal(r->level, x->level);
		assert_int_equal(r->perms, x->perms);
		assert_int_equal(r->global, x->global);
		assert_int_equal(r->gpa, g->gstage ? va : 0);
	} else {
		if (rc != -EFAULT || r->fault.kind != x->kind || r->fault.level != x->level ||
		    r->fault.syndrome != x->cause)
			fail_msg("%s %s va %#" PRIx64 ": expected %s at %d cause %" PRIu64
				 ", got rc %d %s",
				 g->name, what, va, physim_fault_kind_name(x->kind), x->level,
				 x->cause, rc, physim_fault_str(&r->fault));
		assert_int_equal(r->fault.stage, g->gstage ? 2 : 1);
		assert_int_equal(r->fault.addr, va);
		assert_int_equal(r->fault.gpa, g->gstage ? va : 0);
		assert_false(r->fault.s1ptw);
	}
	assert_int_equal(r->mem_refs, x->refs);
}

/* ---- enumeration ---- */

/* An address whose index differs at every level, with an offset, in the low
 * or (sign-extended formats) high half, using the x4 root's extra bits. */
static uint64_t test_va(const struct geom *g, bool high)
{
	uint64_t va = 0xabc;
	for (unsigned i = 0; i < g->levels; i++) {
		unsigned bits = i == g->levels - 1 ? g->root_bits : g->vpn_bits;
		uint64_t idx = (UINT64_C(0x15a) + 77 * i) & ((UINT64_C(1) << bits) - 1);
		if (i == g->levels - 1)
			idx |= UINT64_C(1) << (bits - 1); /* x4: GPA bits above the VA width */
		va |= idx << lvl_shift(g, i);
	}
	if (!high || !g->sext) {
		if (!g->sext)
			return va;
		return va & ~(UINT64_C(1) << (g->va_bits - 1)); /* low half */
	}
	return va | (~UINT64_C(0) << (g->va_bits - 1)); /* sign-extended */
}

/* A superpage-aligned address for a leaf at level i: the zero frames, so
 * that the same PPN read as a pointer leads to a table the test controls. */
static uint64_t aligned_pa(const struct geom *g, unsigned i)
{
	if (i == 0)
		return UINT64_C(0x7654000);
	return lvl_shift(g, i) <= 21 ? ZERO_2M : ZERO_LO;
}

struct counts {
	unsigned long walks, ok, faults[8];
};

static const struct ctl_case ctl_cases[8] = {
    {false, false, false}, {true, false, false}, {false, true, false}, {true, true, false},
    {false, false, true},  {true, false, true},	 {false, true, true},  {true, true, true},
};

/* The pointer target's leaf (at level L-1): readable, writable, user, A set,
 * D clear - loads succeed for U-mode (and S-mode with SUM), stores need D. */
#define NEXT_FLAGS (P_V | P_R | P_W | P_U | P_A)

/* Every pattern of PTE bits 7:0 at level L, with an aligned and (L > 0) a
 * misaligned PPN, under every control state and access. */
static void enumerate_level(struct env *e, const struct geom *g, unsigned L, bool high,
			    struct counts *n)
{
	uint64_t root = table(e, g, g->levels - 1);
	uint64_t va = test_va(g, high);
	uint64_t s = slot(e, g, root, va, L);
	uint64_t base_pa = aligned_pa(g, L);
	uint64_t d_next = L > 0 ? pte_of(aligned_pa(g, L - 1), NEXT_FLAGS) : 0;
	/* Where a pointer at L leads (the aligned and the misaligned PPN). */
	uint64_t nslot[2] = {0, 0};
	struct physim_mmu *mmus[8];

	for (unsigned k = 0; k < 8; k++)
		mmus[k] = mmu_new(e, g->name, root,
				  &(struct physim_mmu_ctl){.sum = ctl_cases[k].sum,
							   .mxr = ctl_cases[k].mxr,
							   .svadu = ctl_cases[k].svadu});
	if (L > 0)
		for (int mis = 0; mis < 2; mis++)
			nslot[mis] =
			    base_pa + 4096 * (uint64_t)mis + lvl_index(g, va, L - 1) * g->pte_bytes;

	for (int mis = 0; mis < (L > 0 ? 2 : 1); mis++) {
		for (unsigned pat = 0; pat < 256; pat++) {
			uint64_t d = pte_of(base_pa + 4096 * (uint64_t)mis, pat);
			for (unsigned k = 0; k < 8; k++) {
				for (unsigned ac = 0; ac < 6; ac++) {
					struct acc_case a = {.write = ac % 3 == 1,
							     .exec = ac % 3 == 2,
							     .user = ac >= 3};
					struct expect x =
					    oracle(g, L, d, d_next, va, &ctl_cases[k], &a);
					struct physim_access acc = {.va = va,
								    .write = a.write,
								    .exec = a.exec,
								    .user = a.user};
					struct physim_xlate r;
					put(e, s, d, g->pte_bytes);
					if (L > 0) {
						zero(e, nslot[mis] & ~UINT64_C(0xfff), 4096);
						put(e, nslot[mis], d_next, g->pte_bytes);
					}
					/* A probe: the same answer, and no write. */
					int rc = physim_mmu_probe(mmus[k], &acc, &r);
					check(g, &x, rc, &r, va, "probe");
					assert_false(r.ad_updated);
					assert_int_equal(get(e, s, g->pte_bytes), d);
					if (L > 0)
						assert_int_equal(get(e, nslot[mis], g->pte_bytes),
								 d_next);
					/* The translation, and the A/D bits it leaves. */
					rc = physim_mmu_translate(mmus[k], &acc, &r);
					check(g, &x, rc, &r, va, "translate");
					assert_int_equal(r.ad_updated, x.wrote_level >= 0);
					assert_int_equal(get(e, s, g->pte_bytes),
							 x.wrote_level == (int)L ? x.new_pte : d);
					if (L > 0)
						assert_int_equal(get(e, nslot[mis], g->pte_bytes),
								 x.wrote_level == (int)L - 1
								     ? x.new_pte
								     : d_next);
					n->walks += 2;
					if (x.kind == PHYSIM_FAULT_NONE)
						n->ok++;
					else
						n->faults[x.kind]++;
				}
			}
		}
	}
	for (unsigned k = 0; k < 8; k++)
		physim_mmu_destroy(mmus[k]);
}

static void enumerate_format(const char *name)
{
	const struct geom *g = geom(name);
	struct counts n = {0};
	struct env *e = env_new();

	for (unsigned L = 0; L < g->levels; L++) {
		enumerate_level(e, g, L, false, &n);
		if (g->sext)
			enumerate_level(e, g, L, true, &n);
	}
	print_message("%s: %lu walks (probe + translate): %lu successes; faults: %lu not-present, "
		      "%lu permission, %lu access-flag, %lu reserved\n",
		      name, n.walks, n.ok * 2, n.faults[PHYSIM_FAULT_NOT_PRESENT] * 2,
		      n.faults[PHYSIM_FAULT_PERMISSION] * 2, n.faults[PHYSIM_FAULT_ACCESS_FLAG] * 2,
		      n.faults[PHYSIM_FAULT_RESERVED] * 2);
	/* Every outcome the enumeration is meant to reach, reached. */
	assert_true(n.ok > 0);
	assert_true(n.faults[PHYSIM_FAULT_NOT_PRESENT] > 0);
	assert_true(n.faults[PHYSIM_FAULT_PERMISSION] > 0);
	assert_true(n.faults[PHYSIM_FAULT_ACCESS_FLAG] > 0);
	assert_true(n.faults[PHYSIM_FAULT_RESERVED] > 0);
	env_free(e);
}

static void test_enum_sv32(void **state)
{
	(void)state;
	enumerate_format("sv32");
}

static void test_enum_sv39(void **state)
{
	(void)state;
	enumerate_format("sv39");
}

static void test_enum_sv48(void **state)
{
	(void)state;
	enumerate_format("sv48");
}

static void test_enum_sv57(void **state)
{
	(void)state;
	enumerate_format("sv57");
}

static void test_enum_gstage(void **state)
{
	(void)state;
	enumerate_format("sv32x4");
	enumerate_format("sv39x4");
	enumerate_format("sv48x4");
	enumerate_format("sv57x4");
}

/* ---- hand-built cases ---- */

/* One leaf at `lvl` for va in a fresh table; returns the root. */
static uint64_t one_leaf(struct env *e, const struct geom *g, uint64_t va, unsigned lvl,
			 uint64_t leaf, uint64_t *leaf_slot)
{
	uint64_t root = table(e, g, g->levels - 1);
	uint64_t s = slot(e, g, root, va, lvl);
	put(e, s, leaf, g->pte_bytes);
	if (leaf_slot != NULL)
		*leaf_slot = s;
	return root;
}

static int xlate(struct physim_mmu *m, uint64_t va, bool write, bool exec, bool user,
		 struct physim_xlate *x)
{
	struct physim_access a = {.va = va, .write = write, .exec = exec, .user = user};
	return physim_mmu_translate(m, &a, x);
}

static void expect_fault(int rc, const struct physim_xlate *x, enum physim_fault_kind kind,
			 int level, uint64_t cause)
{
	if (rc != -EFAULT || x->fault.kind != kind || x->fault.level != level ||
	    x->fault.syndrome != cause)
		fail_msg("expected %s at level %d cause %" PRIu64 ", got rc %d: %s",
			 physim_fault_kind_name(kind), level, cause, rc,
			 physim_fault_str(&x->fault));
}

/*
 * Bits 63:54 of an Sv39/48/57 PTE (10.4.1): 60:54 reserved, 63 N reserved
 * without Svnapot, 62:61 PBMT (Svpbmt) with 3 reserved, and PBMT reserved in
 * a pointer. Every such reserved encoding is a page fault (RESERVED) at the
 * level of the PTE, for each access type; G-stage PTEs likewise.
 */
static void test_reserved_bits(void **state)
{
	(void)state;
	static const char *const names[] = {"sv39", "sv48", "sv57", "sv39x4", "sv48x4", "sv57x4"};
	struct env *e = env_new();
	unsigned cases = 0;

	for (size_t fi = 0; fi < sizeof(names) / sizeof(names[0]); fi++) {
		const struct geom *g = geom(names[fi]);
		uint64_t va = test_va(g, false);
		for (unsigned bit = 54; bit < 64; bit++) {
			for (int as_pointer = 0; as_pointer < 2; as_pointer++) {
				unsigned lvl = as_pointer ? 1 : 0;
				uint64_t flags =
				    as_pointer ? P_V : (P_V | P_R | P_W | P_X | P_U | P_A | P_D);
				uint64_t d = pte_of(0x5000, flags) | BIT(bit);
				uint64_t root = one_leaf(e, g, va, lvl, d, NULL);
				struct physim_mmu *m = mmu_new(e, g->name, root, NULL);
				/* Reserved unless it is a PBMT bit of a leaf (PBMT 1 or 2). */
				bool reserved = !(bit == 61 || bit == 62) || as_pointer;
				for (int ac = 0; ac < 3; ac++) {
					struct acc_case a = {
					    .write = ac == 1, .exec = ac == 2, .user = true};
					struct physim_xlate x;
					int rc = xlate(m, va, a.write, a.exec, true, &x);
					if (reserved) {
						expect_fault(rc, &x, PHYSIM_FAULT_RESERVED,
							     (int)lvl,
							     spec_page_cause(g->gstage, &a));
						assert_int_equal(x.mem_refs, g->levels - lvl);
					} else {
						assert_int_equal(rc, 0);
						assert_int_equal(x.pa, 0x5000 | (va & 0xfff));
					}
					cases++;
				}
				physim_mmu_destroy(m);
			}
		}
		/* PBMT = 3 in a leaf is reserved (Svpbmt). */
		uint64_t root = one_leaf(
		    e, g, va, 0,
		    pte_of(0x5000, P_V | P_R | P_U | P_A) | (UINT64_C(3) << P_PBMT_SHIFT), NULL);
		struct physim_mmu *m = mmu_new(e, g->name, root, NULL);
		struct physim_xlate x;
		expect_fault(xlate(m, va, false, false, true, &x), &x, PHYSIM_FAULT_RESERVED, 0,
			     g->gstage ? C_LOAD_GUEST : C_LOAD_PAGE);
		physim_mmu_destroy(m);
		cases++;
	}
	/* Sv32 PTEs have no reserved bits above the PPN: PPN bit 21 (PA bit
	 * 33) is an address like any other. */
	const struct geom *g32 = geom("sv32");
	uint64_t root =
	    one_leaf(e, g32, 0x12345678, 0, pte_of(UINT64_C(0x200000000), P_V | P_R | P_A), NULL);
	struct physim_mmu *m = mmu_new(e, "sv32", root, NULL);
	struct physim_xlate x;
	assert_int_equal(xlate(m, 0x12345678, false, false, false, &x), 0);
	assert_int_equal(x.pa, UINT64_C(0x200000678));
	physim_mmu_destroy(m);
	print_message("reserved-bit cases: %u\n", cases);
	env_free(e);
}

/*
 * Inputs outside the scheme: a VA not sign-extended from its top bit (10.4.1
 * "must have bits 63-39 all equal to bit 38, or else a page-fault exception
 * will occur"; Sv48/57 alike), a GPA with bits above the x4 width ("must
 * all be zeros, or else a guest-page-fault exception occurs"), an Sv32 VA
 * above 4 GiB. The fault is the access's page fault (never NON_CANONICAL,
 * which is x86's #GP), at level LEVELS-1, with no table read.
 */
static void test_non_canonical(void **state)
{
	(void)state;
	struct env *e = env_new();
	unsigned cases = 0;

	for (size_t fi = 0; fi < sizeof(geoms) / sizeof(geoms[0]); fi++) {
		const struct geom *g = &geoms[fi];
		uint64_t ok_va = test_va(g, g->sext);
		uint64_t root = one_leaf(
		    e, g, ok_va, 0, pte_of(0x9000, P_V | P_R | P_W | P_X | P_U | P_A | P_D), NULL);
		struct physim_mmu *m = mmu_new(e, g->name, root, NULL);
		struct physim_xlate x;
		/* The good address translates. */
		assert_int_equal(xlate(m, ok_va, false, false, true, &x), 0);
		assert_int_equal(x.pa, 0x9000 | (ok_va & 0xfff));
		uint64_t bad[3];
		unsigned nbad = 0;
		if (g->sext) {
			bad[nbad++] =
			    ok_va ^ BIT(g->va_bits); /* bit va_bits differs from the sign */
			bad[nbad++] = (ok_va & ((UINT64_C(1) << g->va_bits) - 1)) |
				      BIT(63);			    /* low half with bit 63 set */
			bad[nbad++] = ok_va & ~BIT(g->va_bits - 1); /* high bits set, sign clear */
		} else {
			bad[nbad++] = ok_va | BIT(g->va_bits);
			bad[nbad++] = ok_va | BIT(63);
		}
		for (unsigned b = 0; b < nbad; b++) {
			for (int ac = 0; ac < 6; ac++) {
				struct acc_case a = {
				    .write = ac % 3 == 1, .exec = ac % 3 == 2, .user = ac >= 3};
				int rc = xlate(m, bad[b], a.write, a.exec, a.user, &x);
				expect_fault(rc, &x, PHYSIM_FAULT_NOT_PRESENT, (int)g->levels - 1,
					     spec_page_cause(g->gstage, &a));
				assert_int_equal(x.mem_refs, 0);
				assert_int_equal(x.fault.addr, bad[b]);
				assert_int_equal(x.fault.stage, g->gstage ? 2 : 1);
				assert_int_equal(x.fault.gpa, g->gstage ? bad[b] : 0);
				cases++;
			}
		}
		physim_mmu_destroy(m);
	}
	print_message("non-canonical cases: %u\n", cases);
	env_free(e);
}

/*
 * A PTE access that violates a PMA (here: outside RAM) raises an access
 * fault of the original access type (10.3.2 step 2): 1/5/7, kind BUS_ERROR,
 * at the level of the table being read - at stage 1 and at the G stage.
 */
static void test_bus_errors(void **state)
{
	(void)state;
	struct env *e = env_new();
	const uint64_t outside = UINT64_C(0x40000000); /* 1 GiB: beyond the 64 MiB RAM */
	unsigned cases = 0;

	for (size_t fi = 0; fi < sizeof(geoms) / sizeof(geoms[0]); fi++) {
		const struct geom *g = &geoms[fi];
		uint64_t va = test_va(g, false);
		for (unsigned lvl = 0; lvl + 1 < g->levels; lvl++) {
			/* The pointer at lvl+1 leads outside RAM. */
			uint64_t root = one_leaf(e, g, va, lvl + 1, pte_of(outside, P_V), NULL);
			struct physim_mmu *m = mmu_new(e, g->name, root, NULL);
			for (int ac = 0; ac < 6; ac++) {
				struct acc_case a = {
				    .write = ac % 3 == 1, .exec = ac % 3 == 2, .user = ac >= 3};
				struct physim_xlate x;
				int rc = xlate(m, va, a.write, a.exec, a.user, &x);
				expect_fault(rc, &x, PHYSIM_FAULT_BUS_ERROR, (int)lvl,
					     spec_access_cause(&a));
				assert_int_equal(x.fault.stage, g->gstage ? 2 : 1);
				assert_int_equal(x.mem_refs, g->levels - lvl - 1);
				cases++;
			}
			physim_mmu_destroy(m);
		}
		/* The root itself outside RAM: nothing read. */
		struct physim_mmu *m = mmu_new(e, g->name, outside, NULL);
		struct physim_xlate x;
		expect_fault(xlate(m, va, true, false, false, &x), &x, PHYSIM_FAULT_BUS_ERROR,
			     (int)g->levels - 1, C_STORE_ACCESS);
		assert_int_equal(x.mem_refs, 0);
		physim_mmu_destroy(m);
		cases++;
	}
	print_message("bus-error cases: %u\n", cases);
	env_free(e);
}

/* satp / hgatp hold the root's PPN, and hgatp.PPN[1:0] read as zero (the x4
 * root is 16 KiB aligned, H extension): a root address with those bits set
 * walks the aligned table. */
static void test_root_alignment(void **state)
{
	(void)state;
	struct env *e = env_new();
	for (size_t fi = 0; fi < sizeof(geoms) / sizeof(geoms[0]); fi++) {
		const struct geom *g = &geoms[fi];
		uint64_t va = test_va(g, false);
		uint64_t root = one_leaf(e, g, va, 0, pte_of(0xa000, P_V | P_R | P_U | P_A), NULL);
		/* Also put a different mapping where an unmasked root would look. */
		uint64_t off = g->gstage ? 0x3000 : 0x800;
		struct physim_mmu *m = mmu_new(e, g->name, root + off, NULL);
		struct physim_xlate x;
		assert_int_equal(xlate(m, va, false, false, true, &x), 0);
		assert_int_equal(x.pa, 0xa000 | (va & 0xfff));
		physim_mmu_destroy(m);
	}
	env_free(e);
}

/* Tables built by the engine (A and D preset on new leaves, pt.md) translate
 * under the default control state (Svade): the formats and the walker agree
 * on every page size. (physim_translate itself needs lib/pt.c's
 * physim_pt_paging; an mmu over the table's root is the same walk.) */
static void test_engine_tables(void **state)
{
	(void)state;
	struct env *e = env_new();
	for (size_t fi = 0; fi < sizeof(geoms) / sizeof(geoms[0]); fi++) {
		const struct geom *g = &geoms[fi];
		struct physim_pt *pt;
		assert_int_equal(physim_pt_create(physim_format(g->name), e->ph, &pt), 0);
		struct physim_mmu *m = mmu_new(e, g->name, physim_pt_root(pt), NULL);
		for (unsigned lvl = 0; lvl < g->levels && lvl < 3; lvl++) {
			uint64_t size = UINT64_C(1) << lvl_shift(g, lvl);
			uint64_t va = size * 3;
			uint64_t pa = size * 5;
			uint32_t fl = PHYSIM_R | PHYSIM_W | (g->gstage ? 0 : PHYSIM_U);
			assert_int_equal(physim_pt_map(pt, va, pa, size, fl), 0);
			for (int ac = 0; ac < 2; ac++) {
				struct physim_xlate x;
				assert_int_equal(xlate(m, va + 0x123, ac == 1, false, true, &x), 0);
				assert_int_equal(x.pa, pa + 0x123);
				assert_int_equal(x.page_size, size);
				assert_int_equal(x.level, (int)lvl);
				assert_int_equal(x.perms, fl);
				assert_false(x.ad_updated);
				assert_int_equal(x.mem_refs, g->levels - lvl);
			}
			/* No execute permission: an instruction (guest-)page fault. */
			struct physim_xlate x;
			expect_fault(xlate(m, va + 0x123, false, true, true, &x), &x,
				     PHYSIM_FAULT_PERMISSION, (int)lvl,
				     g->gstage ? C_INSN_GUEST : C_INSN_PAGE);
		}
		physim_mmu_destroy(m);
		physim_pt_destroy(pt);
	}
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enum_sv32),	   cmocka_unit_test(test_enum_sv39),
	    cmocka_unit_test(test_enum_sv48),	   cmocka_unit_test(test_enum_sv57),
	    cmocka_unit_test(test_enum_gstage),	   cmocka_unit_test(test_reserved_bits),
	    cmocka_unit_test(test_non_canonical),  cmocka_unit_test(test_bus_errors),
	    cmocka_unit_test(test_root_alignment), cmocka_unit_test(test_engine_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
