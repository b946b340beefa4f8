/* SPDX-License-Identifier: MIT */
/* lib/cpu-bbm.c - break-before-make on simulated CPUs: at each
 * invalidation's completion, the descriptors cached entries were made from
 * compared with table memory (runs member by member), and what a
 * broadcast's receivers compare with - a snapshot of the invalidated
 * address's path in every context the machine's CPUs cache, taken at the
 * issuer's DSB. */
#include "cpu-priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walk-format.h"

int physim_cpui_engine_level(const struct physim_pt_format *f, unsigned shift)
{
	for (unsigned n = 0; n < f->levels; n++) {
		if (f->level[n].shift == shift)
			return (int)n;
	}
	return -1;
}

uint64_t physim_cpui_read_desc(const struct physim_paging_handler *mem, unsigned pte_bytes,
			       uint64_t pa, bool *ok)
{
	const void *ptr = mem ? mem->phys_to_virt(mem->ctx, pa) : NULL;
	*ok = ptr != NULL;
	if (ptr == NULL)
		return 0;
	return pte_bytes == 8 ? __atomic_load_n((const uint64_t *)ptr, __ATOMIC_RELAXED)
			      : __atomic_load_n((const uint32_t *)ptr, __ATOMIC_RELAXED);
}

/* A snapshot is sorted by address (snap_sort), so a lookup is a binary
 * search; one address may appear twice (two contexts' paths through one
 * table), with the one value read at the DSB. */
static bool snap_find(const struct bbm_snap *s, uint64_t pa, uint64_t *val)
{
	if (s == NULL)
		return false;
	unsigned lo = 0, hi = s->n;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (s->d[mid].pa < pa)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->n || s->d[lo].pa != pa)
		return false;
	*val = s->d[lo].val;
	return true;
}

static int snap_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void snap_sort(struct bbm_snap *s)
{
	qsort(s->d, s->n, sizeof(s->d[0]), snap_cmp);
}

void physim_cpui_snap_put(struct bbm_snap *s)
{
	if (s != NULL && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		free(s);
}

/* ---- what a broadcast's receivers compare with ----
 *
 * A CPU applies another CPU's broadcast at its own next access or
 * instruction, by which time the issuer may rightly have made the new
 * descriptor (break, TLBI, DSB, make). So the receivers' break-before-make
 * check compares with the descriptors as they were at the issuer's DSB, read
 * there: those on the invalidated address's path in the tables of every
 * context some CPU cached entries from (the entries the receivers hold were
 * made from those, whatever context the issuer has loaded - a hypervisor in
 * its own EL2 context broadcasting a guest's TLBI IPAS2E1IS), with every
 * descriptor of a run met there. The contexts are registered as their
 * first entry is cached; a context record never changes once made. */

/* A descriptor some CPU's entry was made from: what a broadcast without an
 * address snapshots (every entry of the receivers may go). */
struct watch {
	uint64_t key; /* the descriptor's address | 1 (descriptors are aligned); 0: empty */
	const struct physim_paging_handler *mem;
	unsigned pte_bytes;
};

struct bbm_reg {
	pthread_mutex_t lock;
	const struct ctxrec **v;
	size_t n, cap;
	/* open addressing, linear probing, at most half full */
	struct watch *w;
	size_t wn, wcap;
};

static void reg_free(void *obj)
{
	struct bbm_reg *g = obj;
	free(g->w);
	free(g->v);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static void *reg_make(void)
{
	struct bbm_reg *g = calloc(1, sizeof(*g));
	if (g != NULL && pthread_mutex_init(&g->lock, NULL) != 0) {
		free(g);
		g = NULL;
	}
	return g;
}

/* The machine's registry, made at the first registration if make. */
static struct bbm_reg *reg_of(struct physim_machine *m, bool make)
{
	return physim_cpui_machine_once(m, &m->bbm_reg, make ? reg_make : NULL, reg_free);
}

void physim_cpui_bbm_register(struct physim_cpu *c, struct ctxrec *r)
{
	struct bbm_reg *g = reg_of(c->m, true);
	if (g == NULL)
		return; /* tried again at the next entry */
	pthread_mutex_lock(&g->lock);
	if (g->n == g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 8;
		const struct ctxrec **nv = realloc(g->v, ncap * sizeof(*nv));
		if (nv == NULL) {
			pthread_mutex_unlock(&g->lock);
			return;
		}
		g->v = nv;
		g->cap = ncap;
	}
	g->v[g->n++] = r;
	pthread_mutex_unlock(&g->lock);
	r->bbm_registered = true;
}

static size_t watch_slot(const struct bbm_reg *g, uint64_t key)
{
	size_t i = (size_t)((key >> 2) * UINT64_C(0x9E3779B97F4A7C15) >> 20) & (g->wcap - 1);
	while (g->w[i].key != 0 && g->w[i].key != key)
		i = (i + 1) & (g->wcap - 1);
	return i;
}

/* Under g->lock. false: no memory (the set stays as it was). */
static bool watch_add(struct bbm_reg *g, uint64_t pa, const struct physim_paging_handler *mem,
		      unsigned pte_bytes)
{
	if (2 * (g->wn + 1) > g->wcap) {
		size_t ncap = g->wcap ? 2 * g->wcap : 1024;
		struct watch *nw = calloc(ncap, sizeof(*nw));
		if (nw == NULL)
			return false;
		struct bbm_reg old = *g;
		g->w = nw;
		g->wcap = ncap;
		for (size_t i = 0; i < old.wcap; i++) {
			if (old.w[i].key != 0)
				g->w[watch_slot(g, old.w[i].key)] = old.w[i];
		}
		free(old.w);
	}
	size_t i = watch_slot(g, pa | 1);
	if (g->w[i].key == 0) {
		g->w[i] = (struct watch){.key = pa | 1, .mem = mem, .pte_bytes = pte_bytes};
		g->wn++;
	}
	return true;
}

void physim_cpui_bbm_watch(struct physim_cpu *c, const struct centry *e)
{
	const struct physim_pt_format *f = physim_cpui_desc_format(e);
	if (e->desc_pa == 0 || e->ctx == NULL || f == NULL)
		return;
	bool s2 = e->kind == PHYSIM_ENTRY_S2 || (e->kind == PHYSIM_ENTRY_WALK && e->wstage == 2);
	const struct physim_paging_handler *mem = e->nested || s2 ? e->ctx->c2.mem : e->ctx->c1.mem;
	unsigned n = physim_cpui_desc_count(e);
	struct bbm_reg *g = reg_of(c->m, true);
	if (g == NULL || mem == NULL || n > RUN_DESC_MAX)
		return;
	pthread_mutex_lock(&g->lock);
	for (unsigned k = 0; k < n; k++)
		(void)watch_add(g, e->desc_pa + (uint64_t)k * f->pte_bytes, mem, f->pte_bytes);
	pthread_mutex_unlock(&g->lock);
}

struct snapbuf {
	struct bbm_snap *s;
	unsigned cap;
	bool oom;
};

static void snap_add(struct snapbuf *b, uint64_t pa, uint64_t val)
{
	if (b->oom)
		return;
	if (b->s == NULL || b->s->n == b->cap) {
		unsigned ncap = b->cap ? b->cap * 2 : 64;
		struct bbm_snap *ns = realloc(b->s, sizeof(*ns) + ncap * sizeof(ns->d[0]));
		if (ns == NULL) {
			b->oom = true;
			return;
		}
		if (b->s == NULL)
			ns->n = 0;
		b->s = ns;
		b->cap = ncap;
	}
	b->s->d[b->s->n].pa = pa;
	b->s->d[b->s->n].val = val;
	b->s->n++;
}

/* The descriptors one traced walk fetched (stage-1 ones of a nested walk at
 * their HPA), and every descriptor of an AArch64 Contiguous run whose
 * descriptor the walk ended at. m: the walk's mmu (the stage 1 of a nested
 * one), s2: a nested walk's stage 2 (else NULL). */
static void snap_trace(struct snapbuf *b, const struct physim_walk_trace *t,
		       const struct physim_mmu *m, const struct physim_mmu *s2)
{
	for (unsigned i = 0; i < t->n; i++) {
		const struct physim_walk_trace_step *st = &t->steps[i];
		if (!st->fetched)
			continue;
		bool s1_of_nested = s2 != NULL && st->stage == 1;
		const struct physim_mmu *sm = s2 != NULL && !s1_of_nested ? s2 : m;
		uint64_t pa = s1_of_nested ? physim_cpui_s2_hpa(s2, st->addr) : st->addr;
		if (pa == 0)
			continue;
		snap_add(b, pa, st->desc_new);
		const struct physim_pt_format *f = sm->cfg.format;
		const struct pt_walk_ops *w = sm->ops;
		if (st->decision != PHYSIM_WALK_LEAF || w == NULL || w->level_dir == 0 ||
		    f->arch != PHYSIM_ARCH_AARCH64 || f->pte_bytes != 8)
			continue;
		int n = (st->level - w->level_base) / w->level_dir;
		if (n < 0 || n >= f->levels || f->group_log2[n] == 0)
			continue;
		const struct physim_paging_handler *mem = s1_of_nested ? s2->cfg.mem : sm->cfg.mem;
		uint64_t count = UINT64_C(1) << f->group_log2[n];
		uint64_t base = pa & ~(count * f->pte_bytes - 1);
		for (uint64_t k = 0; k < count; k++) {
			bool ok;
			uint64_t d =
			    physim_cpui_read_desc(mem, f->pte_bytes, base + k * f->pte_bytes, &ok);
			if (ok)
				snap_add(b, base + k * f->pte_bytes, d);
		}
	}
}

/* The path of iv's address in the tables of context r (configured as when
 * its entries were filled: fresh mmus of its recorded configurations). */
static void snap_context(struct snapbuf *b, const struct ctxrec *r, const struct inval *iv)
{
	bool want1 = (iv->kinds & (KIND_S1 | KIND_COMB)) && r->c1.format != NULL;
	bool want2 = (iv->kinds & KIND_S2) && r->c2.format != NULL;
	struct physim_mmu *t1 = NULL, *t2 = NULL;
	if (!want1 && !want2)
		return;
	if ((want1 && physim_mmu_create(&r->c1, &t1) < 0) ||
	    (r->c2.format != NULL && physim_mmu_create(&r->c2, &t2) < 0)) {
		physim_mmu_destroy(t1);
		return;
	}
	struct physim_walk_trace t;
	struct physim_xlate x;
	struct physim_access a = {.va = iv->addr};
	int rc;
	if (want1) {
		rc = t2 != NULL ? physim_nested_trace(t1, t2, &a, PHYSIM_TRACE_PROBE, &x, &t)
				: physim_mmu_trace(t1, &a, PHYSIM_TRACE_PROBE, &x, &t);
		if (rc == 0 || rc == -EFAULT)
			snap_trace(b, &t, t1, t2);
	}
	if (want2) {
		rc = physim_mmu_trace(t2, &a, PHYSIM_TRACE_PROBE, &x, &t);
		if (rc == 0 || rc == -EFAULT)
			snap_trace(b, &t, t2, NULL);
	}
	physim_mmu_destroy(t1);
	physim_mmu_destroy(t2);
}

/* A broadcast without an input address (by ASID, VMID or all; or by GPA)
 * may remove any entry the receivers hold: every descriptor some CPU's
 * entry was made from, as it is now. */
static struct bbm_snap *snap_watched(struct bbm_reg *g)
{
	struct snapbuf b = {0};
	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < g->wcap; i++) {
		const struct watch *w = &g->w[i];
		bool ok;
		uint64_t pa = w->key & ~UINT64_C(1);
		uint64_t d = w->key ? physim_cpui_read_desc(w->mem, w->pte_bytes, pa, &ok) : 0;
		if (w->key != 0 && ok)
			snap_add(&b, pa, d);
	}
	pthread_mutex_unlock(&g->lock);
	if (b.oom || b.s == NULL) {
		free(b.s);
		return NULL;
	}
	snap_sort(b.s);
	return b.s;
}

struct bbm_snap *physim_cpui_bbm_snapshot(struct physim_cpu *c, const struct inval *iv)
{
	if (!c->m->cfg.check_bbm)
		return NULL;
	struct bbm_reg *g = reg_of(c->m, false);
	if (g == NULL)
		return NULL; /* nothing was ever cached */
	if (iv->addr_mode != INV_ADDR_INPUT)
		return snap_watched(g);
	pthread_mutex_lock(&g->lock);
	size_t n = g->n;
	const struct ctxrec **v = malloc((n ? n : 1) * sizeof(*v));
	if (v != NULL && n != 0)
		memcpy(v, g->v, n * sizeof(*v));
	pthread_mutex_unlock(&g->lock);
	if (v == NULL)
		return NULL;
	struct snapbuf b = {0};
	for (size_t i = 0; i < n; i++) {
		bool seen = false; /* the same tables on another CPU */
		for (size_t k = 0; k < i && !seen; k++)
			seen = same_cfg(&v[k]->c1, &v[i]->c1) && same_cfg(&v[k]->c2, &v[i]->c2);
		if (!seen)
			snap_context(&b, v[i], iv);
	}
	free(v);
	if (b.oom || b.s == NULL || b.s->n == 0) {
		/* without the whole snapshot the receivers check nothing
		 * rather than something wrong */
		free(b.s);
		return NULL;
	}
	snap_sort(b.s);
	return b.s;
}

/* AArch64 descriptor bits that may change while the descriptor stays
 * valid (Arm ARM DDI 0487 M.a.a D8.17.1 "Using break-before-make when updating translation
 * table entries"; Linux pgattr_change_is_safe): AP / S2AP [7:6], AF [10],
 * nG [11], DBM [51], PXN [53], UXN / XN [54], software bits [58:55]. Any
 * other change - output address, table <-> block, memory attributes,
 * contiguous - needs invalid + invalidation + completion in between. */
#define ARM_LIVE_OK                                                                                \
	(UINT64_C(3) << 6 | UINT64_C(1) << 10 | UINT64_C(1) << 11 | UINT64_C(1) << 51 |            \
	 UINT64_C(3) << 53 | UINT64_C(0xF) << 55)

/* Does descriptor `now` replace `old` (both valid) in a way the
 * architecture does not allow while it stays valid? */
static bool bbm_bad(enum physim_arch arch, const struct physim_pt_format *f, unsigned level,
		    uint64_t old, uint64_t now)
{
	if (arch == PHYSIM_ARCH_AARCH64)
		return ((old ^ now) & ~ARM_LIVE_OK) != 0;
	/* x86: a page-size change */
	return f->ops->classify(f, old, level) != f->ops->classify(f, now, level);
}

static void bbm_report(struct physim_cpu *c, const struct inval *iv, const struct centry *e,
		       uint64_t pa, uint64_t old, uint64_t now)
{
	enum physim_arch arch = c->m->cfg.arch;
	struct physim_cpu_report r = {.kind = PHYSIM_REPORT_BBM, .cpu = c->index, .addr = pa};
	physim_cpui_to_public(e, &r.entry);
	r.desc_old = old;
	r.desc_new = now;
	r.inval = iv->name;
	bool run = physim_cpui_desc_count(e) > 1 || physim_cpui_run_piece_shift(e, INV_ADDR_INPUT);
	r.remedy =
	    arch != PHYSIM_ARCH_AARCH64
		? "a page-size change (a large page split, or tables merged into one) needs "
		  "the old translation invalidated before the new entry is used, or the TLB "
		  "may hold both (SDM Vol. 3A 4.10.2, \"Translation Lookaside Buffers\"): make the "
		  "entry not present, "
		  "invalidate on every processor, then write the new one"
	    : run ? "break-before-make on a Contiguous run: write every descriptor of the run "
		    "invalid, invalidate each of its pages (a TLBI per block or granule, or one "
		    "without an address) and DSB ISH, and only then write the new descriptors; "
		    "changing the output address, memory type or Contiguous bit of any "
		    "descriptor of a live run needs it (Arm ARM DDI 0487 M.a.a D8.17.1, D8.7.1 "
		    "'The Contiguous bit', D8.17.6 RLQLSD)"
		  : "break-before-make: write an invalid descriptor, invalidate it (TLBI + DSB "
		    "ISH) and only then write the new one; only permission, AF, DBM and nG "
		    "may change while valid (Arm ARM DDI 0487 M.a.a D8.17.1)";
	c->st.stale++;
	if (c->m->cfg.on_report)
		c->m->cfg.on_report(c->m->cfg.report_ctx, &r);
}

/* At the completion of an invalidation that removes e (on the CPU that
 * completes it): if a descriptor e was made from is valid again but differs
 * in what the architecture does not allow to change live, the new
 * descriptor was written while the old one could still be in use. A run
 * entry (a Contiguous run, or a combined entry over several descriptors of
 * a stage-1 run) was made from every descriptor of its run: each is
 * compared with the value the run implies (the first one's, the address
 * field advanced per descriptor), so a descriptor of the run rewritten to
 * another output address, or its Contiguous bit cleared, while valid is
 * found whichever page the invalidation named; one report per entry. */
bool physim_cpui_bbm_check(struct physim_cpu *c, const struct inval *iv, const struct centry *e,
			   uint64_t *carry)
{
	enum physim_arch arch = c->m->cfg.arch;
	if (arch != PHYSIM_ARCH_AARCH64 && arch != PHYSIM_ARCH_X86_64)
		return false;
	const struct physim_pt_format *f = physim_cpui_desc_format(e);
	/* a nested context's stage-1 descriptors are read at their HPA through
	 * stage 2's memory; a combined entry's descriptor is its stage-1 leaf */
	bool s2 = e->kind == PHYSIM_ENTRY_S2 || (e->kind == PHYSIM_ENTRY_WALK && e->wstage == 2);
	const struct physim_paging_handler *mem = e->nested ? e->ctx->c2.mem
						  : s2	    ? e->ctx->c2.mem
							    : e->ctx->c1.mem;
	if (f == NULL)
		return false;
	unsigned dshift = physim_cpui_desc_shift(e);
	unsigned n = physim_cpui_desc_count(e);
	int lvl = physim_cpui_engine_level(f, dshift);
	if (lvl < 0 || n > RUN_DESC_MAX)
		return false;
	bool reported = false;
	for (unsigned k = 0; k < n; k++) {
		uint64_t pa = e->desc_pa + (uint64_t)k * f->pte_bytes;
		uint64_t old = n > 1 ? physim_cpui_run_member(f, e->desc, k, dshift) : e->desc;
		bool ok;
		uint64_t now = 0;
		if (carry != NULL)
			carry[k] = old;
		if (c->remote_apply)
			/* another CPU's broadcast: the descriptor as it was when that
			 * completed; one not on its path is not known then */
			ok = snap_find(iv->snap, pa, &now);
		else
			now = physim_cpui_read_desc(mem, f->pte_bytes, pa, &ok);
		if (!ok || now == old || f->ops->classify(f, now, (unsigned)lvl) == PT_INVALID)
			continue; /* unknown, unchanged, or the break was made */
		if (carry != NULL)
			carry[k] = now; /* compared (and reported if it had to be) */
		if (reported || !bbm_bad(arch, f, (unsigned)lvl, old, now))
			continue;
		reported = true;
		bbm_report(c, iv, e, pa, old, now);
	}
	return carry != NULL;
}

/* Are the descriptors of a run at dpa (n of them, the first d0) what a run
 * is made of, apart from what may differ live (AArch64 AF, DBM, ...)? A
 * malformed run is not checked (its TLB entries are UNPREDICTABLE anyway). */
bool physim_cpui_run_consistent(const struct physim_pt_format *f,
				const struct physim_paging_handler *mem, uint64_t dpa, uint64_t d0,
				unsigned n, unsigned dshift)
{
	uint64_t live = f->arch == PHYSIM_ARCH_AARCH64 ? ARM_LIVE_OK : 0;
	for (unsigned k = 1; k < n; k++) {
		bool ok;
		uint64_t d =
		    physim_cpui_read_desc(mem, f->pte_bytes, dpa + (uint64_t)k * f->pte_bytes, &ok);
		if (!ok || ((d ^ physim_cpui_run_member(f, d0, k, dshift)) & ~live) != 0)
			return false;
	}
	return true;
}
