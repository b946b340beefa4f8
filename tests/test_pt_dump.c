/* SPDX-License-Identifier: MIT */
/* tests/test_pt_dump.c - physim_pt_dump on tables built in memory: the text
 * compared with expectations written by hand from the mappings made, the
 * Graphviz and JSON forms, a self-referencing table, and write errors. */
#include <physim/physim.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define RW  (PHYSIM_R | PHYSIM_W)
#define RX  (PHYSIM_R | PHYSIM_X)
#define RWX (PHYSIM_R | PHYSIM_W | PHYSIM_X)

struct env {
	struct physim_ram *ram;
	const struct physim_paging_handler *ph;
};

static int env_setup(void **state)
{
	static struct env e;
	memset(&e, 0, sizeof(e));
	if (physim_ram_create(&(struct physim_ram_config){.size = 16 << 20}, &e.ram) != 0)
		return -1;
	e.ph = physim_ram_paging_handler(e.ram);
	*state = &e;
	return 0;
}

static int env_teardown(void **state)
{
	struct env *e = *state;
	uint64_t used = physim_ram_stats(e->ram).used_frames;
	physim_ram_destroy(e->ram);
	return used == 0 ? 0 : -1;
}

static struct physim_pt *make_pt(struct env *e, const char *format)
{
	struct physim_pt *pt = NULL;
	assert_int_equal(physim_pt_create(physim_format(format), e->ph, &pt), 0);
	return pt;
}

/* The dump as a string (free it), and its return value. */
static char *dump_str(const struct physim_pt *pt, const struct physim_pt_dump_options *opt, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	*rc = physim_pt_dump(pt, f, opt);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void assert_dump(const struct physim_pt *pt, const struct physim_pt_dump_options *opt,
			const char *want)
{
	int rc = 0;
	char *got = dump_str(pt, opt, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(got, want);
	free(got);
}

static char *header(const struct physim_pt *pt, const char *name, const char *desc)
{
	static char h[256];
	snprintf(h, sizeof(h),
		 "# %s table at 0x%llx (%s)\n# VA range  size  flags(rwxudc)  -> PA  pages\n", name,
		 (unsigned long long)physim_pt_root(pt), desc);
	return h;
}

static char *concat(const char *a, const char *b)
{
	char *s = malloc(strlen(a) + strlen(b) + 1);
	assert_non_null(s);
	strcpy(s, a);
	strcat(s, b);
	return s;
}

/* x86-64: 4K runs split by a hole and by flags, a 2M and a 1G page, and
 * the upper (sign-extended) half. Tables: PML4, then PDPT, PD, PT for the
 * 4K pages, a second PD for the 2M page (the 1G page sits in the PDPT), and
 * PDPT, PD, PT at the top of the upper half: 8. */
static void test_x86_64(void **state)
{
	struct env *e = *state;
	struct physim_pt *pt = make_pt(e, "x86_64-4l");
	assert_int_equal(physim_pt_map(pt, 0x400000, 0x1000000, 4096, RW), 0);
	assert_int_equal(physim_pt_map(pt, 0x401000, 0x1001000, 4096, RW), 0);
	assert_int_equal(physim_pt_map(pt, 0x403000, 0x1003000, 4096, PHYSIM_R), 0);
	assert_int_equal(physim_pt_map(pt, 0x40000000, 0x2000000, 2 << 20, RWX), 0);
	assert_int_equal(physim_pt_map(pt, 0x80000000, 0x40000000, 1 << 30, PHYSIM_R), 0);
	assert_int_equal(physim_pt_map(pt, 0xffffffff80000000, 0x3000000, 4096, RWX), 0);
	assert_int_equal(physim_pt_map(pt, 0xffffffff80001000, 0x3001000, 4096, RWX), 0);
	const char *h =
	    header(pt, "x86_64-4l", "x86-64 4-level paging (48-bit VA; 4K/2M/1G pages)");

	char *want = concat(
	    h,
	    "0x0000000000400000-0x0000000000402000      8K  rw----  -> 0x0000000001000000  2 x 4K\n"
	    "0x0000000000403000-0x0000000000404000      4K  r-----  -> 0x0000000001003000  1 x 4K\n"
	    "0x0000000040000000-0x0000000040200000      2M  rwx---  -> 0x0000000002000000  1 x 2M\n"
	    "0x0000000080000000-0x00000000c0000000      1G  r-----  -> 0x0000000040000000  1 x 1G\n"
	    "0xffffffff80000000-0xffffffff80002000      8K  rwx---  -> 0x0000000003000000  2 x 4K\n"
	    "# 5 ranges, 7 pages, 1050644K mapped, 8 tables\n");
	assert_dump(pt, NULL, want);
	free(want);

	/* One line per leaf. */
	want = concat(
	    h,
	    "0x0000000000400000-0x0000000000401000      4K  rw----  -> 0x0000000001000000  1 x 4K\n"
	    "0x0000000000401000-0x0000000000402000      4K  rw----  -> 0x0000000001001000  1 x 4K\n"
	    "0x0000000000403000-0x0000000000404000      4K  r-----  -> 0x0000000001003000  1 x 4K\n"
	    "0x0000000040000000-0x0000000040200000      2M  rwx---  -> 0x0000000002000000  1 x 2M\n"
	    "0x0000000080000000-0x00000000c0000000      1G  r-----  -> 0x0000000040000000  1 x 1G\n"
	    "0xffffffff80000000-0xffffffff80001000      4K  rwx---  -> 0x0000000003000000  1 x 4K\n"
	    "0xffffffff80001000-0xffffffff80002000      4K  rwx---  -> 0x0000000003001000  1 x 4K\n"
	    "# 7 ranges, 7 pages, 1050644K mapped, 8 tables\n");
	assert_dump(pt, &(struct physim_pt_dump_options){.each_leaf = true}, want);
	free(want);

	/* A range: [1G, 3G) holds the 2M and the 1G page; the walk meets the
	 * PML4, the PDPT and the second PD. */
	want = concat(
	    h,
	    "0x0000000040000000-0x0000000040200000      2M  rwx---  -> 0x0000000002000000  1 x 2M\n"
	    "0x0000000080000000-0x00000000c0000000      1G  r-----  -> 0x0000000040000000  1 x 1G\n"
	    "# 2 ranges, 2 pages, 1026M mapped, 3 tables\n");
	assert_dump(pt, &(struct physim_pt_dump_options){.va = 0x40000000, .size = 0x80000000},
		    want);
	free(want);

	/* JSON: one object per range, then the totals. */
	char tot[256];
	snprintf(tot, sizeof(tot),
		 "{\"total\":true,\"format\":\"x86_64-4l\",\"root\":\"0x%llx\",\"ranges\":2,"
		 "\"pages\":2,\"bytes\":1075838976,\"tables\":3}\n",
		 (unsigned long long)physim_pt_root(pt));
	want = concat("{\"va\":\"0x40000000\",\"end\":\"0x40200000\",\"size\":2097152,\"flags\":"
		      "\"rwx\",\"pa\":\"0x2000000\",\"pages\":1,\"page_size\":2097152,\"accessed\":"
		      "false,\"dirty\":false,\"arch\":\"0x0\"}\n"
		      "{\"va\":\"0x80000000\",\"end\":\"0xc0000000\",\"size\":1073741824,\"flags\":"
		      "\"r\",\"pa\":\"0x40000000\",\"pages\":1,\"page_size\":1073741824,"
		      "\"accessed\":false,\"dirty\":false,\"arch\":\"0x0\"}\n",
		      tot);
	assert_dump(pt,
		    &(struct physim_pt_dump_options){
			.va = 0x40000000, .size = 0x80000000, .style = PHYSIM_PT_DUMP_JSON},
		    want);
	free(want);
	physim_pt_destroy(pt);
}

/* Sv39: sign-extended from bit 38; new leaves carry A, and D if writable
 * (Svade: the format info says so). Tables: root, an L1 and an L0 table
 * for the 4K page, an L1 table holding the 2M page of the upper half. */
static void test_sv39(void **state)
{
	struct env *e = *state;
	struct physim_pt *pt = make_pt(e, "sv39");
	struct physim_pt_format_info info;
	physim_format_get_info(physim_format("sv39"), &info);
	assert_true(info.presets_accessed && info.presets_dirty);
	assert_int_equal(physim_pt_map(pt, 0x1000, 0x80200000, 4096, RW), 0);
	assert_int_equal(physim_pt_map(pt, 0xffffffc000000000, 0x80400000, 2 << 20, RX), 0);
	char *want = concat(header(pt, "sv39", "RISC-V Sv39 (satp, 3 levels, 39-bit VA)"),
			    "0x0000000000001000-0x0000000000002000      4K  rw----  -> "
			    "0x0000000080200000  1 x 4K  AD\n"
			    "0xffffffc000000000-0xffffffc000200000      2M  r-x---  -> "
			    "0x0000000080400000  1 x 2M  A\n"
			    "# 2 ranges, 2 pages, 2052K mapped, 4 tables\n");
	assert_dump(pt, NULL, want);
	free(want);
	physim_pt_destroy(pt);
}

/* IA-32 2-level: 8 hex digits of VA, 16 of PA (40-bit PA), a 4M page in the
 * directory and a 4K page in one page table; and its Graphviz tree. 32-bit
 * paging has no XD bit, so every page is executable (SDM Vol. 3A 4.6). */
static void test_i386_and_dot(void **state)
{
	struct env *e = *state;
	struct physim_pt *pt = make_pt(e, "i386-2l");
	assert_int_equal(physim_pt_map(pt, 0x400000, 0x800000, 4 << 20, RWX), 0);
	assert_int_equal(physim_pt_map(pt, 0xc0000000, 0x1000, 4096, RX), 0);
	char *want = concat(
	    header(pt, "i386-2l", "IA-32 32-bit paging with PSE/PSE-36 (4K/4M pages, 40-bit PA)"),
	    "0x00400000-0x00800000      4M  rwx---  -> 0x0000000000800000  1 x 4M\n"
	    "0xc0000000-0xc0001000      4K  r-x---  -> 0x0000000000001000  1 x 4K\n"
	    "# 2 ranges, 2 pages, 4100K mapped, 2 tables\n");
	assert_dump(pt, NULL, want);
	free(want);

	/* The page table's address from PDE 768 (0xc0000000 >> 22): bits 31:12
	 * (SDM Vol. 3A 4.3, Table 4-5). */
	physim_hpa_t root = physim_pt_root(pt);
	void *p = NULL;
	assert_int_equal(physim_ram_phys_to_virt(e->ram, root, &p), 0);
	uint32_t pde = ((const uint32_t *)p)[768];
	unsigned long long pt_pa = pde & 0xfffff000u;
	char dot[1024];
	snprintf(dot, sizeof(dot),
		 "digraph physim_pt {\n"
		 "  label=\"i386-2l table at 0x%llx\";\n"
		 "  rankdir=LR;\n"
		 "  node [shape=box, fontname=\"monospace\", fontsize=10];\n"
		 "  t0 [label=\"L1 root\\nPA 0x%llx\", style=bold];\n"
		 "  l0 [shape=note, label=\"1 x 4M rwx\\l\"];\n"
		 "  t0 -> l0 [style=dashed, arrowhead=none];\n"
		 "  t1 [label=\"L0 table\\nPA 0x%llx\\nVA 0xc0000000-0xc03fffff\"];\n"
		 "  t0 -> t1 [label=\"[768]\"];\n"
		 "  l1 [shape=note, label=\"1 x 4K rx\\l\"];\n"
		 "  t1 -> l1 [style=dashed, arrowhead=none];\n"
		 "}\n",
		 (unsigned long long)root, (unsigned long long)root, pt_pa);
	assert_dump(pt, &(struct physim_pt_dump_options){.style = PHYSIM_PT_DUMP_DOT}, dot);
	physim_pt_destroy(pt);
}

/* A PML4 entry pointing back at the PML4 (present, writable, user: 0x7;
 * SDM Vol. 3A Table 4-15): the walk meets the root again and stops with
 * -EFAULT, after printing what came before; no totals line. Both for the
 * table's owner and for a table attached at the root (what physim-pt
 * reads from an image). */
static void test_self_reference(void **state)
{
	struct env *e = *state;
	struct physim_pt *pt = make_pt(e, "x86_64-4l");
	assert_int_equal(physim_pt_map(pt, 0x1000, 0x1000000, 4096, RW), 0);
	physim_hpa_t root = physim_pt_root(pt);
	void *p = NULL;
	assert_int_equal(physim_ram_phys_to_virt(e->ram, root, &p), 0);
	uint64_t *pml4 = p;
	pml4[1] = root | 0x7;

	struct physim_pt *view = NULL;
	struct physim_pt_config cfg = {.format = physim_format("x86_64-4l"), .paging = e->ph};
	assert_int_equal(physim_pt_attach(&cfg, root, &view), 0);
	const char *h =
	    header(pt, "x86_64-4l", "x86-64 4-level paging (48-bit VA; 4K/2M/1G pages)");
	char *want = concat(h, "0x0000000000001000-0x0000000000002000      4K  rw----  -> "
			       "0x0000000001000000  1 x 4K\n");
	const struct physim_pt *tables[] = {pt, view};
	for (int i = 0; i < 2; i++) {
		int rc = 0;
		char *got = dump_str(tables[i], NULL, &rc);
		assert_int_equal(rc, -EFAULT);
		assert_string_equal(got, want);
		free(got);
		got = dump_str(tables[i],
			       &(struct physim_pt_dump_options){.style = PHYSIM_PT_DUMP_DOT}, &rc);
		assert_int_equal(rc, -EFAULT);
		assert_string_equal(got, "");
		free(got);
	}
	free(want);
	physim_pt_destroy(view);
	pml4[1] = 0;
	physim_pt_destroy(pt);
}

/* Writing fails: a stream opened read-only, and a 16-byte fmemopen buffer. */
static void test_write_error(void **state)
{
	struct env *e = *state;
	struct physim_pt *pt = make_pt(e, "x86_64-4l");
	assert_int_equal(physim_pt_map(pt, 0x1000, 0x1000000, 4096, RW), 0);
	for (int style = PHYSIM_PT_DUMP_TEXT; style <= PHYSIM_PT_DUMP_DOT; style++) {
		struct physim_pt_dump_options o = {.style = (enum physim_pt_dump_style)style};
		FILE *ro = fopen("/dev/null", "r");
		assert_non_null(ro);
		assert_int_equal(physim_pt_dump(pt, ro, &o), -EIO);
		fclose(ro);
		char small[16];
		FILE *f = fmemopen(small, sizeof(small), "w");
		assert_non_null(f);
		assert_int_equal(physim_pt_dump(pt, f, &o), -EIO);
		fclose(f);
	}
	physim_pt_destroy(pt);
}

static void test_bad_arguments(void **state)
{
	struct env *e = *state;
	struct physim_pt *pt = make_pt(e, "x86_64-4l");
	FILE *f = fopen("/dev/null", "w");
	assert_non_null(f);
	assert_int_equal(physim_pt_dump(NULL, f, NULL), -EINVAL);
	assert_int_equal(physim_pt_dump(pt, NULL, NULL), -EINVAL);
	assert_int_equal(
	    physim_pt_dump(pt, f,
			   &(struct physim_pt_dump_options){.style = (enum physim_pt_dump_style)7}),
	    -EINVAL);
	fclose(f);
	physim_pt_destroy(pt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_x86_64),	 cmocka_unit_test(test_sv39),
	    cmocka_unit_test(test_i386_and_dot), cmocka_unit_test(test_self_reference),
	    cmocka_unit_test(test_write_error),	 cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, env_setup, env_teardown);
}
