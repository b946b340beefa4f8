#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end test of the physim-pt tool: builds RAM images from spec files
for several formats, queries mapped and unmapped addresses, checks dump and
--dot output, tables written by hand with raw descriptors, and every kind of
bad input (exit status 2, exactly one line on stderr).

Every expected answer below is written out by hand from the spec it belongs
to (and, for raw descriptors, from the architecture manual's bit layout); the
tool's output is never fed back as an expectation.

--version is checked against VERSION (meson's project version), --json
output is parsed with the json module and compared with the same hand-written
answers as the text output.

usage: test_physim_pt_tool.py PATH/TO/physim-pt VERSION
"""
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile

TOOL = sys.argv[1]
VERSION = sys.argv[2]
TMP = tempfile.mkdtemp(prefix="physim-pt-test-")
failures = []
checks = 0


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def check(cond, msg):
    global checks
    checks += 1
    if not cond:
        fail(msg)
    return cond


def run(*args, preexec_fn=None):
    p = subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=120,
                       preexec_fn=preexec_fn)
    if p.returncode < 0:
        fail(f"{' '.join(args)}: killed by signal {-p.returncode}")
    return p


def path(name):
    return os.path.join(TMP, name)


def write_spec(name, text):
    with open(path(name), "w") as f:
        f.write(text)
    return path(name)


def build(fmt, spec_text, name, ram_size="16M", ram_base=None):
    """Build an image; returns the root address (int) or None on failure."""
    spec = write_spec(name + ".spec", spec_text)
    args = ["build", "--format", fmt, "--ram-size", ram_size, "--spec", spec,
            "--image", path(name + ".img")]
    if ram_base is not None:
        args += ["--ram-base", ram_base]
    p = run(*args)
    if not check(p.returncode == 0 and p.stderr == "",
                 f"build {fmt} {name}: rc={p.returncode} stderr={p.stderr!r}"):
        return None
    out = p.stdout.strip()
    if not check(out.startswith("root=0x") and "\n" not in out,
                 f"build {fmt}: stdout {out!r}"):
        return None
    return int(out[5:], 16)


def query(fmt, name, root, vas, expect):
    """expect: list of expected output lines, one per VA, written by hand."""
    p = run("query", "--format", fmt, "--image", path(name + ".img"),
            "--root", hex(root), *vas)
    check(p.returncode == 0 and p.stderr == "",
          f"query {fmt}: rc={p.returncode} stderr={p.stderr!r}")
    got = p.stdout.splitlines()
    check(len(got) == len(expect), f"query {fmt}: {len(got)} lines for {len(expect)} VAs")
    for g, e in zip(got, expect):
        check(g == e, f"query {fmt}: got {g!r}, expected {e!r}")


def expect_bad(args, needle, what):
    """Bad input: exit status 2, one line on stderr naming the problem."""
    p = run(*args)
    lines = p.stderr.splitlines()
    ok = (p.returncode == 2 and len(lines) == 1 and lines[0].startswith("physim-pt: ")
          and needle in lines[0])
    check(ok, f"{what}: rc={p.returncode} stderr={p.stderr!r} (want '{needle}')")


# ---------------------------------------------------------------------------
# help and formats


def test_help():
    for args in (["--help"], ["-h"], ["help"]):
        p = run(*args)
        check(p.returncode == 0 and p.stdout.startswith("usage: physim-pt COMMAND"),
              f"{args}: {p.returncode} {p.stdout[:40]!r}")
    for cmd in ("formats", "build", "query", "dump", "nested"):
        p = run(cmd, "--help")
        check(p.returncode == 0 and p.stdout.startswith(f"usage: physim-pt {cmd}")
              and p.stderr == "", f"{cmd} --help: {p.returncode} {p.stdout[:40]!r}")
    p = run("build", "--help")
    for word in ("map VA PA PAGESIZE FLAGS", "region VA PA SIZE FLAGS", "unmap VA",
                 "protect VA SIZE FLAGS", "write64 PA VALUE", "write32 PA VALUE",
                 "d (device memory)", "c (normal uncached memory)"):
        check(word in p.stdout, f"build --help lacks {word!r}")


# name: (levels, VA bits, PA bits, page sizes, root size) from the manuals:
# Intel SDM Vol. 3A 4.5 / 29.3, Arm ARM D8 (granule geometry, concatenated
# stage-2 roots) and G5, RISC-V privileged spec Sv32/39/48/57 and the x4
# G-stage (2 extra root index bits: 16 KiB root), LoongArch manual 5.4.
FORMATS = {
    "x86_64-4l": ("4", "48", "52", "4K,2M,1G", "4K"),
    "x86_64-5l": ("5", "57", "52", "4K,2M,1G", "4K"),
    "ept-4l": ("4", "48", "52", "4K,2M,1G", "4K"),
    "ept-5l": ("5", "57", "52", "4K,2M,1G", "4K"),
    "aarch64-4k-39": ("3", "39", "48", "4K,2M,1G", "4K"),
    "aarch64-4k-48": ("4", "48", "48", "4K,2M,1G", "4K"),
    "aarch64-16k-47": ("3", "47", "48", "16K,32M", "16K"),
    "aarch64-64k-48": ("3", "48", "48", "64K,512M", "512"),
    "aarch64-s2-4k-40": ("3", "40", "48", "4K,2M,1G", "8K"),
    "aarch64-s2-4k-48": ("4", "48", "48", "4K,2M,1G", "4K"),
    "sv39": ("3", "39", "56", "4K,2M,1G", "4K"),
    "sv48": ("4", "48", "56", "4K,2M,1G,512G", "4K"),
    "sv57": ("5", "57", "56", "4K,2M,1G,512G,256T", "4K"),
    "sv39x4": ("3", "41", "56", "4K,2M,1G", "16K"),
    "sv48x4": ("4", "50", "56", "4K,2M,1G,512G", "16K"),
    "sv57x4": ("5", "59", "56", "4K,2M,1G,512G,256T", "16K"),
    "loongarch64-4k-48": ("4", "48", "48", "4K,2M,1G", "4K"),
    "i386-2l": ("2", "32", "40", "4K,4M", "4K"),
    "i386-pae": ("3", "32", "52", "4K,2M", "32"),
    "sv32": ("2", "32", "34", "4K,4M", "4K"),
    "sv32x4": ("2", "34", "34", "4K,4M", "16K"),
    "armv7-short": ("2", "32", "40", "4K,1M", "16K"),
    "aarch64-4k-52": ("5", "52", "52", "4K,2M,1G,512G", "128"),
    "aarch64-16k-52": ("4", "52", "52", "16K,32M,64G", "256"),
    "aarch64-64k-52": ("3", "52", "52", "64K,512M,4T", "8K"),
    "aarch64-s2-4k-52": ("5", "52", "52", "4K,2M,1G,512G", "128"),
    # EL2 regime (HCR_EL2.E2H = 0): the EL1&0 geometry, TCR_EL2.T0SZ/TG0
    "aarch64-el2-4k-39": ("3", "39", "48", "4K,2M,1G", "4K"),
    "aarch64-el2-4k-48": ("4", "48", "48", "4K,2M,1G", "4K"),
    "aarch64-el2-16k-47": ("3", "47", "48", "16K,32M", "16K"),
    "aarch64-el2-64k-48": ("3", "48", "48", "64K,512M", "512"),
}


def test_formats():
    p = run("formats")
    check(p.returncode == 0 and p.stderr == "", f"formats: {p.returncode} {p.stderr!r}")
    rows = {}
    lines = p.stdout.splitlines()
    check(lines[0].split()[:6] == ["NAME", "LEVELS", "VA", "PA", "PAGES", "ROOT"],
          f"formats header {lines[0]!r}")
    for line in lines[1:]:
        w = line.split()
        rows[w[0]] = tuple(w[1:6])
        check(len(w) > 6, f"formats: no description in {line!r}")
    for name, geom in FORMATS.items():
        check(rows.get(name) == geom, f"formats {name}: {rows.get(name)} != {geom}")
    check(len(rows) == len(FORMATS), f"formats lists {len(rows)} formats")

    # One format in detail: Sv48, 9 index bits per level above a 12-bit offset.
    p = run("formats", "--format", "sv48")
    lines = p.stdout.splitlines()
    check(p.returncode == 0 and lines[0].startswith("sv48: "), f"formats sv48: {lines[:1]}")
    levels = [line.split() for line in lines if ".." in line]
    want = [["3", "47..39", "512", "4K", "512G"], ["2", "38..30", "512", "4K", "1G"],
            ["1", "29..21", "512", "4K", "2M"], ["0", "20..12", "512", "4K", "4K"]]
    check(levels == want, f"formats --format sv48 levels {levels}")
    expect_bad(["formats", "--format", "sv49"], "unknown format 'sv49'", "formats bad name")


# ---------------------------------------------------------------------------
# builds from specs, one per format family, with hand-written answers

X86_SPEC = """\
# x86-64 4-level: user code, a 1G page, 2M pages split by protect, a device page
map 0x400000 0x200000 4K rwxu
map 0x401000 0x201000 4K ru
map 0x40000000 0x80000000 1G rw        # one 1G page

region 0x600000 0x10000000 0x400000 rw    # 2 x 2M
region 0x1000000 0x20001000 0x3000 rx nohuge
region 0x2000000 0x30000000 0x200000 rw nohuge   # 512 x 4K, one dump line
map 0xffff800000000000 0xfee00000 4K rwd  # upper half, device
unmap 0x1001000
protect 0x600000 0x1000 r                 # splits the first 2M page
map 0x401000 0x301000 4K rwu replace
"""

X86_DUMP = """\
0x0000000000400000-0x0000000000401000      4K  rwxu--  -> 0x0000000000200000  1 x 4K
0x0000000000401000-0x0000000000402000      4K  rw-u--  -> 0x0000000000301000  1 x 4K
0x0000000000600000-0x0000000000601000      4K  r-----  -> 0x0000000010000000  1 x 4K
0x0000000000601000-0x0000000000800000   2044K  rw----  -> 0x0000000010001000  511 x 4K
0x0000000000800000-0x0000000000a00000      2M  rw----  -> 0x0000000010200000  1 x 2M
0x0000000001000000-0x0000000001001000      4K  r-x---  -> 0x0000000020001000  1 x 4K
0x0000000001002000-0x0000000001003000      4K  r-x---  -> 0x0000000020003000  1 x 4K
0x0000000002000000-0x0000000002200000      2M  rw----  -> 0x0000000030000000  512 x 4K
0x0000000040000000-0x0000000080000000      1G  rw----  -> 0x0000000080000000  1 x 1G
0xffff800000000000-0xffff800000001000      4K  rw--d-  -> 0x00000000fee00000  1 x 4K
# 10 ranges, 1031 pages, 1054740K mapped, 10 tables
"""


def test_x86_64():
    root = build("x86_64-4l", X86_SPEC, "x86")
    if root is None:
        return
    check(root % 4096 == 0 and 0x80000000 <= root < 0x81000000, f"x86 root {root:#x}")
    query("x86_64-4l", "x86", root,
          ["0x400123", "0x401fff", "0x402000", "0x40000005", "0x600000", "0x7ff008",
           "0x800010", "0x1000000", "0x1001000", "0x1002fff", "0x20ff000",
           "0xffff800000000abc", "0x7fffffffffff", "0xffffffffffffffff", "4M", "1G"],
          ["0x400123 0x200123 4K rwxu",
           "0x401fff 0x301fff 4K rwu",
           "0x402000 unmapped",
           "0x40000005 0x80000005 1G rw",
           "0x600000 0x10000000 4K r",
           "0x7ff008 0x101ff008 4K rw",
           "0x800010 0x10200010 2M rw",
           "0x1000000 0x20001000 4K rx",
           "0x1001000 unmapped",
           "0x1002fff 0x20003fff 4K rx",
           "0x20ff000 0x300ff000 4K rw",
           "0xffff800000000abc 0xfee00abc 4K rwd",
           "0x7fffffffffff unmapped",
           "0xffffffffffffffff unmapped",
           "0x400000 0x200000 4K rwxu",
           "0x40000000 0x80000000 1G rw"])
    p = run("dump", "--format", "x86_64-4l", "--image", path("x86.img"), "--root", hex(root))
    check(p.returncode == 0 and p.stderr == "", f"dump x86: {p.returncode} {p.stderr!r}")
    body = "".join(line + "\n" for line in p.stdout.splitlines()
                   if not line.startswith("# x86_64-4l") and not line.startswith("# VA"))
    check(body == X86_DUMP, "dump x86_64-4l:\n" + body + "expected:\n" + X86_DUMP)

    # --dot: 10 tables, 9 edges between them; the root is bold and named.
    p = run("dump", "--dot", "--format", "x86_64-4l", "--image", path("x86.img"),
            "--root", hex(root))
    out = p.stdout
    check(p.returncode == 0 and out.startswith("digraph") and out.rstrip().endswith("}"),
          "dot: not a digraph")
    tables = [ln for ln in out.splitlines() if re.match(r"\s*t\d+ \[label=", ln)]
    edges = [ln for ln in out.splitlines() if "-> t" in ln]
    check(len(tables) == 10 and len(edges) == 9, f"dot: {len(tables)} tables {len(edges)} edges")
    check(f"L3 root\\nPA {root:#x}" in out, "dot: root node")
    check(sum("L0 table" in t for t in tables) == 5, "dot: five last-level tables")
    check("512 x 4K rw\\l" in out and "1 x 1G rw\\l" in out, "dot: leaf summaries")
    # the PD covering VA 0-1G holds the 1G page's sibling entries: index 2 (0x400000)
    check('[label="[2]"]' in out and '[label="[256]"]' in out, "dot: edge indexes")

    # an image check independent of physim: offset 0 = RAM base, trailer at the end
    size = os.path.getsize(path("x86.img"))
    with open(path("x86.img"), "rb") as f:
        f.seek(size - 16)
        check(f.read(8) == b"PHYSIMEN", "image trailer magic")
        f.seek(16 << 20)
        check(f.read(8) == b"PHYSIMRI", "image header right after 16 MiB of RAM")


SV48_SPEC = """\
map 0x400000 0x200000 4K rwxu
map 0x401000 0x201000 4K xu          # execute-only: fine on RISC-V
region 0x40000000 0x80000000 0x40000000 rw
map 0x8000000000 0x0 512G rw         # a level-3 leaf
map 0xffffffffffe00000 0x3000000 2M rc   # top of the upper half, Svpbmt NC
protect 0x400000 0x1000 ru
"""


def test_sv48():
    root = build("sv48", SV48_SPEC, "sv48")
    if root is None:
        return
    query("sv48", "sv48", root,
          ["0x400123", "0x401000", "0x402000", "0x40000000", "0x7fffffff", "0x8000001234",
           "0xfffffffffffff000", "0xffff800000000000", "0xffffffffffdfffff"],
          ["0x400123 0x200123 4K ru",
           "0x401000 0x201000 4K xu",
           "0x402000 unmapped",
           "0x40000000 0x80000000 1G rw",
           "0x7fffffff 0xbfffffff 1G rw",
           "0x8000001234 0x1234 512G rw",
           "0xfffffffffffff000 0x31ff000 2M rc",
           "0xffff800000000000 unmapped",
           "0xffffffffffdfffff unmapped"])
    # the lower-half VA right above the canonical range is not an address at all
    expect_bad(["query", "--format", "sv48", "--image", path("sv48.img"), "--root", hex(root),
                "0x800000000000"], "outside sv48's 48-bit sign-extended input range",
               "sv48 non-canonical VA")


AARCH64_SPEC = """\
map 0x400000 0x40000000 4K rwx
map 0x401000 0x40001000 4K ru
region 0x200000 0x80200000 0x200000 rw    # one 2M block
map 0x40000000 0x0 1G rwd                 # device block
map 0x80000000 0x90000000 4K rc           # normal non-cacheable
"""


def test_aarch64():
    root = build("aarch64-4k-48", AARCH64_SPEC, "a64")
    if root is None:
        return
    query("aarch64-4k-48", "a64", root,
          ["0x400008", "0x401ff0", "0x3fffff", "0x40001000", "0x80000abc", "0x402000",
           "0xffffffffffff"],
          ["0x400008 0x40000008 4K rwx",
           "0x401ff0 0x40001ff0 4K ru",
           "0x3fffff 0x803fffff 2M rw",
           "0x40001000 0x1000 1G rwd",
           "0x80000abc 0x90000abc 4K rc",
           "0x402000 unmapped",
           "0xffffffffffff unmapped"])
    # TTBR0 range only: bit 48 and up must be zero
    expect_bad(["query", "--format", "aarch64-4k-48", "--image", path("a64.img"),
                "--root", hex(root), "0xffff000000000000"], "outside aarch64-4k-48",
               "aarch64 VA above 48 bits")


ARMV7_SPEC = """\
map 0x0 0x80000000 1M rwx
map 0x100000 0x12345000 4K ru
region 0x200000 0x90000000 0x201000 rw    # 2 sections + 1 small page
map 0xfff00000 0x1f000000 1M rwd
"""


def test_armv7():
    root = build("armv7-short", ARMV7_SPEC, "v7", ram_size="4M")
    if root is None:
        return
    check(root % 16384 == 0, f"armv7 root {root:#x} not 16K aligned")
    query("armv7-short", "v7", root,
          ["0x12345", "0x100fff", "0x3fffff", "0x400000", "0x401000", "0xfff00010",
           "0x101000"],
          ["0x12345 0x80012345 1M rwx",
           "0x100fff 0x12345fff 4K ru",
           "0x3fffff 0x901fffff 1M rw",
           "0x400000 0x90200000 4K rw",
           "0x401000 unmapped",
           "0xfff00010 0x1f000010 1M rwd",
           "0x101000 unmapped"])
    p = run("dump", "--format", "armv7-short", "--image", path("v7.img"), "--root", hex(root))
    lines = [ln for ln in p.stdout.splitlines() if not ln.startswith("#")]
    # 32-bit input addresses print with 8 digits, output addresses with 16
    # (pa_bits is 40: supersections); sections merge only with sections
    want = [("0x00000000-0x00100000", "1M", "rwx---", "0x0000000080000000", "1 x 1M"),
            ("0x00100000-0x00101000", "4K", "r--u--", "0x0000000012345000", "1 x 4K"),
            ("0x00200000-0x00400000", "2M", "rw----", "0x0000000090000000", "2 x 1M"),
            ("0x00400000-0x00401000", "4K", "rw----", "0x0000000090200000", "1 x 4K"),
            ("0xfff00000-0x100000000", "1M", "rw--d-", "0x000000001f000000", "1 x 1M")]
    check(len(lines) == 5, f"armv7 dump has {len(lines)} lines")
    for ln, w in zip(lines, want):
        f = ln.split()
        got = (f[0], f[1], f[2], f[4], " ".join(f[5:8]))
        check(got == w, f"armv7 dump line {ln!r}, expected {w}")


def test_more_formats():
    """Stage 2 (U ignored), a concatenated root, 32-bit guests, 64K granule."""
    root = build("ept-4l", "map 0x1000 0x5000 4K rwu\nregion 0x200000 0x40200000 2M rwx\n",
                 "ept")
    if root is not None:
        query("ept-4l", "ept", root, ["0x1234", "0x3fffff"],
              ["0x1234 0x5234 4K rw", "0x3fffff 0x403fffff 2M rwx"])

    spec = ("region 0x0 0x80000000 0x80000000 rwx\n"      # two 1G blocks
            "map 0xffffe00000 0x1000000 2M rw\n"          # second concatenated root
            "map 0x1000 0x5000 4K rwu replace\n")         # splits the first 1G block
    root = build("aarch64-s2-4k-40", spec, "s2")
    if root is not None:
        check(root % 8192 == 0, f"s2-4k-40 root {root:#x} not 8K aligned")
        query("aarch64-s2-4k-40", "s2", root,
              ["0xffffe00010", "0x1234", "0x2000", "0x7fffffff", "0x80000000"],
              ["0xffffe00010 0x1000010 2M rw", "0x1234 0x5234 4K rw",
               "0x2000 0x80002000 4K rwx", "0x7fffffff 0xffffffff 1G rwx",
               "0x80000000 unmapped"])
        p = run("dump", "--dot", "--format", "aarch64-s2-4k-40", "--image", path("s2.img"),
                "--root", hex(root))
        # VA bit 39 selects the second 4K table of the root: index 512 + 511
        check('[label="[1023]"]' in p.stdout, "s2-4k-40 dot: edge from the second root")

    root = build("i386-pae", "map 0xc0000000 0x123456000 4K rw\nmap 0x200000 0x0 2M rx\n",
                 "pae", ram_size="1M")
    if root is not None:
        check(root % 32 == 0, "pae root alignment")
        query("i386-pae", "pae", root, ["0xc0000fff", "0x3fffff", "0x0"],
              ["0xc0000fff 0x123456fff 4K rw", "0x3fffff 0x1fffff 2M rx", "0x0 unmapped"])

    root = build("sv39x4", "map 0x1ffffe00000 0x2000000 2M rwxu\n", "sv39x4")
    if root is not None:
        check(root % 16384 == 0, "sv39x4 root alignment")
        query("sv39x4", "sv39x4", root, ["0x1ffffffffff", "0xffffffffff"],
              ["0x1ffffffffff 0x21fffff 2M rwx", "0xffffffffff unmapped"])

    root = build("sv32", "map 0xc0000000 0x300000000 4M rw\nmap 0x1000 0x2000 4K rx\n",
                 "sv32", ram_size="1M")
    if root is not None:
        query("sv32", "sv32", root, ["0xc0123456", "0x1fff"],
              ["0xc0123456 0x300123456 4M rw", "0x1fff 0x2fff 4K rx"])

    root = build("aarch64-64k-48", "map 0x20000000 0x40000000 512M rw\n"
                 "map 0x10000 0x30000 64K rx\n", "a64k", ram_size="4M")
    if root is not None:
        query("aarch64-64k-48", "a64k", root, ["0x3fffffff", "0x1ffff", "0x20000"],
              ["0x3fffffff 0x5fffffff 512M rw", "0x1ffff 0x3ffff 64K rx", "0x20000 unmapped"])

    root = build("loongarch64-4k-48", "map 0x400000 0x200000 4K rwxu\n", "la")
    if root is not None:
        query("loongarch64-4k-48", "la", root, ["0x400fff"], ["0x400fff 0x200fff 4K rwxu"])


# ---------------------------------------------------------------------------
# tables written by hand with raw descriptors


# x86-64 4-level (Intel SDM Vol. 3A 4.5, tables 4-15..4-20): P bit 0, R/W 1,
# U/S 2, PWT 3, PCD 4, PS 7, XD 63, address bits 51:12. PML4 0x80100000,
# PDPT 0x80101000, PD 0x80102000, PT 0x80103000.
X86_RAW = """\
write64 0x80100000 0x80101007        # PML4[0] -> PDPT, P|RW|US
write64 0x80101000 0x80102007        # PDPT[0] -> PD
write64 0x80101008 0xc0000083        # PDPT[1]: 1G page 0xc0000000, P|RW|PS
write64 0x80102010 0x80103007        # PD[2] (VA 0x400000) -> PT
write64 0x80102018 0x8000000000a00081  # PD[3]: 2M page 0xa00000, P|PS|XD
write64 0x80103000 0x200007          # PT[0]: 0x200000 P|RW|US
write64 0x80103008 0x8000000000201005  # PT[1]: 0x201000 P|US|XD
write64 0x80103010 0x202006          # PT[2]: P clear
write64 0x80103018 0x20301f          # PT[3]: PCD|PWT = UC (PAT index 3): device
write32 0x80103020 0x00204007        # PT[4]: low half ...
write32 0x80103024 0x80000000        #        ... high half: XD
"""


def test_x86_raw():
    root = build("x86_64-4l", X86_RAW, "x86raw")
    if root is None:
        return
    # the table the engine made for build is elsewhere: the raw frames were reserved
    check(not 0x80100000 <= root < 0x80104000, f"build root {root:#x} on a raw frame")
    query("x86_64-4l", "x86raw", 0x80100000,
          ["0x400abc", "0x401fff", "0x402000", "0x403008", "0x404000", "0x600123",
           "0x40000005", "0x80000000", "0x8000000000"],
          ["0x400abc 0x200abc 4K rwxu",
           "0x401fff 0x201fff 4K ru",
           "0x402000 unmapped",
           "0x403008 0x203008 4K rwxud",
           "0x404000 0x204000 4K rwu",
           "0x600123 0xa00123 2M r",
           "0x40000005 0xc0000005 1G rwx",
           "0x80000000 unmapped",
           "0x8000000000 unmapped"])
    # the raw bytes sit at file offset PA - base, little-endian
    with open(path("x86raw.img"), "rb") as f:
        f.seek(0x100000)
        check(f.read(8) == bytes.fromhex("0710108000000000"), "raw PML4[0] bytes in image")
        f.seek(0x103020)
        check(f.read(8) == bytes.fromhex("0740200000000080"), "write32 pair bytes in image")


# Sv48 (RISC-V privileged spec, Sv48 / Sv39 PTE format): V bit 0, R 1, W 2,
# X 3, U 4, G 5, A 6, D 7, PPN in bits 53:10 (= PA >> 12 << 10). Pointers are
# V only. Root 0x80100000, then 0x80101000, 0x80102000, 0x80103000.
SV48_RAW = """\
write64 0x80100000 0x20040401     # root[0] -> 0x80101000
write64 0x80101000 0x20040801     # [0] -> 0x80102000
write64 0x80101008 0x300000c7     # [1]: 1G leaf 0xc0000000 V|R|W|A|D
write64 0x80102010 0x20040c01     # [2] (VA 0x400000) -> 0x80103000
write64 0x80102018 0x28004b       # [3]: 2M leaf 0xa00000 V|R|X|A
write64 0x80103000 0x800df        # 4K 0x200000 V|R|W|X|U|A|D
write64 0x80103008 0x80459        # 4K 0x201000 V|X|U|A
write64 0x80103010 0x80802        # V clear
write64 0x80103018 0x80c05        # V|W without R: reserved
write64 0x80100ff8 0xc7           # root[511]: 512G leaf at PA 0, V|R|W|A|D
"""


def test_sv48_raw():
    if build("sv48", SV48_RAW, "sv48raw") is None:
        return
    query("sv48", "sv48raw", 0x80100000,
          ["0x400abc", "0x401fff", "0x402000", "0x600123", "0x40000005",
           "0xffffff8000001234", "0xffff800000000000"],
          ["0x400abc 0x200abc 4K rwxu",
           "0x401fff 0x201fff 4K xu",
           "0x402000 unmapped",
           "0x600123 0xa00123 2M rx",
           "0x40000005 0xc0000005 1G rw",
           "0xffffff8000001234 0x1234 512G rw",
           "0xffff800000000000 unmapped"])
    p = run("query", "--format", "sv48", "--image", path("sv48raw.img"), "--root",
            "0x80100000", "0x403000")
    check(p.returncode == 0 and p.stdout.startswith("0x403000 fault: "),
          f"reserved W-without-R PTE: {p.returncode} {p.stdout!r}")
    # dump stops at the reserved entry: exit 2, one line, what came before printed
    p = run("dump", "--format", "sv48", "--image", path("sv48raw.img"), "--root", "0x80100000")
    check(p.returncode == 2 and len(p.stderr.splitlines()) == 1 and "corrupt table" in p.stderr
          and "0x0000000000400000-0x0000000000401000" in p.stdout,
          f"dump of corrupt sv48 table: {p.returncode} {p.stderr!r}")


def test_raw_write_placement():
    # write64 on the RAM's first frame, where the root would otherwise go
    root = build("x86_64-4l", "write64 0x80000000 0x1122334455667788\n"
                 "write32 0x80000ffc 0xcafef00d\nmap 0x1000 0x1000 4K r\n", "place")
    if root is None:
        return
    check(root != 0x80000000, "root placed on a frame a write64 reserved")
    with open(path("place.img"), "rb") as f:
        check(f.read(8) == bytes.fromhex("8877665544332211"), "write64 bytes at offset 0")
        f.seek(0xffc)
        check(f.read(4) == bytes.fromhex("0df0feca"), "write32 bytes")
    query("x86_64-4l", "place", root, ["0x1fff"], ["0x1fff 0x1fff 4K r"])
    # query with the matching --ram-base is fine
    p = run("query", "--format", "x86_64-4l", "--image", path("place.img"), "--ram-base",
            "2G", "--root", hex(root), "0x1000")
    check(p.returncode == 0 and p.stdout == "0x1000 0x1000 4K r\n", f"--ram-base 2G: {p.stdout!r}")


def test_numbers():
    # decimal, hex and suffixes everywhere: base 1G, size 8M, a 2M page at 6M
    spec = "map 6291456 2M 0x200000 rwx\nregion 1M 0x1000 4K r\n"
    root = build("sv39", spec, "num", ram_size="8M", ram_base="1G")
    if root is None:
        return
    check(0x40000000 <= root < 0x40800000, f"root {root:#x} not inside RAM at 1G")
    query("sv39", "num", root, ["6M", "0x600001", "1048576", "0x1K"],
          ["0x600000 0x200000 2M rwx", "0x600001 0x200001 2M rwx", "0x100000 0x1000 4K r",
           "0x400 unmapped"])


# ---------------------------------------------------------------------------
# bad input: exit 2, one line on stderr


def test_bad_input():
    good = write_spec("good.spec", "map 0x1000 0x1000 4K rw\n")
    img = path("good.img")
    p = run("build", "--format", "x86_64-4l", "--ram-size", "1M", "--spec", good, "--image", img)
    check(p.returncode == 0, "good build")
    root = p.stdout.strip()[5:]
    b = ["build", "--format", "x86_64-4l", "--ram-size", "1M", "--image", path("bad.img")]
    q = ["query", "--format", "x86_64-4l", "--image", img, "--root", root]

    expect_bad([], "missing command", "no command")
    expect_bad(["frobnicate"], "unknown command 'frobnicate'", "unknown command")
    expect_bad(["query", "--bogus"], "unknown option '--bogus'", "unknown option")
    expect_bad(["build", "--format"], "needs a value", "option without value")
    expect_bad(["build", "--spec", good, "--image", img], "missing option --format",
               "missing --format")
    expect_bad(["build", "--format", "sv39", "--image", img], "missing option --spec",
               "missing --spec")
    expect_bad(["build", "--format", "sv39", "--spec", good], "missing option --image",
               "missing --image")
    expect_bad(["query", "--format", "x86_64-4l", "--image", img, "0x1000"],
               "missing option --root", "missing --root")
    expect_bad(q, "missing VA", "query without VA")
    expect_bad(["query", "--image", img, "--root", root, "0x1000"], "missing option --format",
               "query missing --format")
    expect_bad(["dump", "--format", "x86_64-4l", "--root", root], "missing option --image",
               "dump missing --image")
    expect_bad(q + ["--dot", "0x1000"], "--dot does not apply", "option of another command")
    expect_bad(b + ["--spec", good, "--format", "sv39"], "given twice", "duplicate option")
    expect_bad(["formats", "extra"], "unexpected argument 'extra'", "stray argument")
    expect_bad(["build", "--format", "x86-64", "--spec", good, "--image", img],
               "unknown format 'x86-64'", "unknown format")
    expect_bad(["build", "--format", "sv39", "--ram-size", "12Q", "--spec", good,
                "--image", img], "bad --ram-size value '12Q'", "bad number")
    expect_bad(["build", "--format", "sv39", "--ram-size", "0x", "--spec", good,
                "--image", img], "bad --ram-size", "hex without digits")
    expect_bad(["build", "--format", "sv39", "--ram-size", "99999999999999999999",
                "--spec", good, "--image", img],
               "--ram-size value '99999999999999999999' out of range", "number overflow")
    expect_bad(["build", "--format", "sv39", "--ram-size", "16T", "--ram-base", "0xfffffffffffff000",
                "--spec", good, "--image", img], "RAM base", "RAM wraps")
    expect_bad(["build", "--format", "sv39", "--ram-base", "0x80000800", "--spec", good,
                "--image", img], "RAM base", "misaligned RAM base")
    expect_bad(["build", "--format", "sv39", "--ram-size", "0", "--spec", good,
                "--image", img], "RAM base", "zero RAM size")
    expect_bad(b + ["--spec", path("nope.spec")], "cannot open spec", "missing spec file")
    expect_bad(["build", "--format", "sv39", "--ram-size", "1M", "--spec", good,
                "--image", path("no/such/dir.img")], "cannot write image", "unwritable image")

    # spec lines: each names file and line number
    bad_lines = [
        ("frob 1 2", "unknown command 'frob'"),
        ("map 0x1000 0x1000 4K", "wrong number of arguments"),
        ("map 0x1000 0x1000 4K rw extra", "unknown option 'extra'"),
        ("map 0x1000 0x1000 4K rw 1 2 3", "wrong number of arguments"),
        ("map 0x10zz 0x1000 4K rw", "bad virtual address '0x10zz'"),
        ("map 0x1000 -5 4K rw", "bad physical address '-5'"),
        ("map 0x1000 0x1000 4K rwq", "bad flags 'rwq'"),
        ("map 0x1000 0x1000 4K rrw", "bad flags 'rrw'"),
        ("map 0x1000 0x1000 3K rw", "page size 3K not supported"),
        ("map 0x1000 0x1000 512G rw", "page size 512G not supported by x86_64-4l"),
        ("map 0x1800 0x1000 4K rw", "aligned to the page size"),
        ("map 0x200000 0x1000 2M rw", "aligned to the page size"),
        ("map 0x800000000000 0x1000 4K rw", "outside x86_64-4l's 48-bit"),
        ("map 0x1000 0x10000000000000 4K rw", "beyond x86_64-4l's 52-bit"),
        ("map 0x3000 0x1000 4K w", "cannot express"),
        ("map 0x3000 0x1000 4K rdc", "cannot express"),
        ("region 0x1000 0x2000 0 rw", "size must not be zero"),
        ("region 0x1000 0x2000 0x1800 rw", "multiples of 4K"),
        ("region 0x1000 0x2000 4K rw huge", "unknown option 'huge'"),
        ("unmap", "wrong number of arguments"),
        ("unmap 0x5000", "nothing is mapped there"),
        ("unmap 0x1000 0", "size must not be zero"),
        ("protect 0x1000 4K", "wrong number of arguments"),
        ("protect 0x1000 0x10 r", "multiples of 4K"),
        ("write64 0x1000 5", "outside RAM"),
        ("write64 0x80100000 5", "outside RAM"),
        ("write64 0x800ffffc 5", "outside RAM"),
        ("write64 0x80000004 5", "not naturally aligned"),
        ("write32 0x80000000 0x100000000", "does not fit in 32 bits"),
        ("write32 0x80000000", "wrong number of arguments"),
        ("map 0x3000 0x1000 4K rw arch=0x1", "cannot express"),
        # a number too large is out of range, not an unknown word
        ("map 0x3000 0x1000 4K rw arch=999999999999999999999",
         "arch bits 'arch=999999999999999999999' out of range (more than 64 bits)"),
        ("map 0x3000 0x1000 4K rw arch=0x1zz", "bad arch bits 'arch=0x1zz'"),
        ("map 0x100000000000000000 0x1000 4K rw",
         "virtual address '0x100000000000000000' out of range"),
        # unmap VA SIZE and protect refuse a range with nothing mapped, as
        # unmap VA does (the spec maps only 0x1000)
        ("unmap 0x100000 0x2000", "nothing is mapped in [0x100000, 0x102000)"),
        ("protect 0x100000 0x2000 r", "nothing is mapped in [0x100000, 0x102000)"),
        ("protect 0x2000 0x1000 r", "nothing is mapped in [0x2000, 0x3000)"),
    ]
    for i, (line, needle) in enumerate(bad_lines):
        # two good lines first, so the bad one is line 4 (after a comment)
        spec = write_spec(f"bad{i}.spec", "# header\nmap 0x1000 0x1000 4K rw\n\n" + line + "\n")
        expect_bad(b + ["--spec", spec], f"bad{i}.spec:4: ", f"spec line {line!r} (line no.)")
        expect_bad(b + ["--spec", spec], needle, f"spec line {line!r}")
    # binary bytes in a spec come back escaped, never raw
    for i, (raw, shown) in enumerate([(b"frob\x01\x1b[31m\xff", "frob\\x01\\x1b[31m\\xff"),
                                      (b"map 0x1000 0x1000 4K rw \x7f\x80",
                                       "unknown option '\\x7f\\x80'")]):
        with open(path(f"binary{i}.spec"), "wb") as f:
            f.write(b"map 0x1000 0x1000 4K rw\n" + raw + b"\n")
        p = subprocess.run([TOOL, *b, "--spec", path(f"binary{i}.spec")], capture_output=True,
                           timeout=60)
        err = p.stderr
        check(p.returncode == 2 and err.count(b"\n") == 1
              and all(0x20 <= c < 0x7f for c in err.rstrip(b"\n"))
              and shown.encode() in err, f"binary spec {raw!r}: rc={p.returncode} {err!r}")
    # holes inside a range that maps something are fine for unmap and protect
    spec = write_spec("holes.spec", "map 0x1000 0x1000 4K rw\nmap 0x3000 0x3000 4K rw\n"
                      "protect 0x0 0x10000 r\nunmap 0x2000 0x2000\n")
    p = run(*b, "--spec", spec)
    check(p.returncode == 0 and p.stderr == "", f"holes: {p.returncode} {p.stderr!r}")
    p = run("query", "--format", "x86_64-4l", "--image", path("bad.img"),
            "--root", p.stdout.strip()[5:], "0x1000", "0x3000")
    check(p.stdout == "0x1000 0x1000 4K r\n0x3000 unmapped\n", f"holes query: {p.stdout!r}")
    # a second map over the first page
    spec = write_spec("dup.spec", "map 0x1000 0x1000 4K rw\nmap 0x1000 0x2000 4K rw\n")
    expect_bad(b + ["--spec", spec], "dup.spec:2: map: something is already mapped",
               "map over a mapping")
    # RAM too small for the tables the spec needs (1 frame RAM: root only)
    spec = write_spec("full.spec", "map 0x1000 0x1000 4K rw\n")
    expect_bad(["build", "--format", "x86_64-4l", "--ram-size", "4K", "--spec", spec,
                "--image", path("full.img")], "RAM is full", "RAM full")

    # query / dump inputs
    expect_bad(q + ["0x12g4"], "bad VA '0x12g4'", "bad VA")
    expect_bad(q + ["0x1ffffffffffffffff"], "VA '0x1ffffffffffffffff' out of range",
               "VA above 64 bits")
    expect_bad(q + ["0x800000000000"], "outside x86_64-4l's 48-bit", "non-canonical VA")
    rq = ["query", "--format", "x86_64-4l", "--image", img, "0x1000"]
    expect_bad(rq + ["--root", hex(int(root, 16) + 0x800)], "not aligned", "root not aligned")
    expect_bad(rq + ["--root", "0x1000"], "outside RAM", "root below RAM")
    expect_bad(rq + ["--root", "0x80100000"], "outside RAM", "root above RAM")
    expect_bad(rq + ["--root", "0x800ff000"], "not an allocated frame", "root on a free frame")
    expect_bad(rq + ["--root", root, "--ram-base", "0x40000000"], "does not match",
               "--ram-base mismatch")
    expect_bad(["query", "--format", "x86_64-4l", "--image", path("nope.img"), "--root", root,
                "0x1000"], "no such file", "missing image")
    expect_bad(["dump", "--format", "x86_64-4l", "--image", good, "--root", root],
               "bad image", "spec file as image")
    expect_bad(["dump", "--format", "x86_64-4l", "--image", TMP, "--root", root],
               "Is a directory", "directory as image")
    expect_bad(["dump", "--format", "i386-pae", "--image", img, "--root", root + "1"],
               "not aligned", "pae root not 32-byte aligned")

    data = open(img, "rb").read()
    # a byte of the header's data checksum: only the trailer checksum can
    # tell (a flipped range field is refused as a bad range first)
    sum_at = len(data) - int.from_bytes(data[-24:-16], "little") + 50
    damaged = [
        ("empty.img", b"", "too small"),
        ("trunc1.img", data[:-1], "trailer magic"),
        ("trunc2.img", data[:len(data) // 2], "trailer magic"),
        ("trunc3.img", data[:1 << 20], "trailer magic"),
        ("flip.img", data[:sum_at] + bytes([data[sum_at] ^ 1]) + data[sum_at + 1:], "checksum"),
        ("grown.img", data + b"\0", "trailer magic"),
    ]
    for name, content, needle in damaged:
        with open(path(name), "wb") as f:
            f.write(content)
        expect_bad(["dump", "--format", "x86_64-4l", "--image", path(name), "--root", root],
                   needle, f"damaged image {name}")
        expect_bad(["query", "--format", "x86_64-4l", "--image", path(name), "--root", root,
                    "0x1000"], "bad image", f"query of damaged image {name}")

    # query runs fine when every answer is "unmapped"
    p = run(*q, "0x0", "0x2000")
    check(p.returncode == 0 and p.stdout == "0x0 unmapped\n0x2000 unmapped\n",
          f"all-unmapped query: {p.returncode} {p.stdout!r}")


# ---------------------------------------------------------------------------
# the architectural walker: query with access options, nested


def walk_query(name, root, opts, vas, expect, fmt="x86_64-4l"):
    p = run("query", "--format", fmt, "--image", path(name + ".img"), "--root", hex(root),
            *opts, *vas)
    check(p.returncode == 0 and p.stderr == "",
          f"query {opts}: rc={p.returncode} stderr={p.stderr!r}")
    got = p.stdout.splitlines()
    check(got == expect, f"query {opts}: got {got!r}, expected {expect!r}")


def image_bytes(name, offset, n=8):
    with open(path(name + ".img"), "rb") as f:
        f.seek(offset)
        return f.read(n)


def test_walker_query():
    """x86 access rules on X86_RAW (Intel SDM Vol. 3A 4.6, error codes 4.7:
    P=1 W/R=2 U/S=4 RSVD=8 I/D=0x10 PK=0x20); default control: WP=1, NXE=1."""
    root = build("x86_64-4l", X86_RAW, "walkq")
    if root is None:
        return
    root = 0x80100000
    # user writes: only PT[0] (P|RW|US everywhere) allows them
    walk_query("walkq", root, ["--access", "w", "--user"],
               ["0x400abc", "0x401fff", "0x402000", "0x600123", "0x40000005",
                "0x800000000000"],
               ["0x400abc 0x200abc 4K rwxu",
                "0x401fff fault permission level=1 syndrome=0x7",
                "0x402000 fault not-present level=1 syndrome=0x6",
                "0x600123 fault permission level=2 syndrome=0x7",
                "0x40000005 fault permission level=3 syndrome=0x7",
                "0x800000000000 fault non-canonical level=-1 syndrome=0x0"])
    # --trace: the fetches the spec's entries give (4-level index layout,
    # SDM Vol. 3A 4.5: PML4/PDPT/PD/PT indexes 0, 0, 2, 0 for 0x400abc)
    walk_query("walkq", root, ["--trace"], ["0x400abc", "0x402000"],
               ["  trace stage=1 level=4 table=0x80100000 entry=0x80100000 desc=0x80101007 table",
                "  trace stage=1 level=3 table=0x80101000 entry=0x80101000 desc=0x80102007 table",
                "  trace stage=1 level=2 table=0x80102000 entry=0x80102010 desc=0x80103007 table",
                "  trace stage=1 level=1 table=0x80103000 entry=0x80103000 desc=0x200007 leaf",
                "0x400abc 0x200abc 4K rwxu",
                "  trace stage=1 level=4 table=0x80100000 entry=0x80100000 desc=0x80101007 table",
                "  trace stage=1 level=3 table=0x80101000 entry=0x80101000 desc=0x80102007 table",
                "  trace stage=1 level=2 table=0x80102000 entry=0x80102010 desc=0x80103007 table",
                "  trace stage=1 level=1 table=0x80103000 entry=0x80103010 desc=0x202006 fault "
                "not-present",
                "0x402000 fault not-present level=1 syndrome=0x0"])
    # supervisor fetch with SMEP: user pages refused (P|I/D), the 1G
    # supervisor page is fine
    walk_query("walkq", root, ["--access", "x", "--ctl", "smep=1"],
               ["0x400abc", "0x40000005"],
               ["0x400abc fault permission level=1 syndrome=0x11",
                "0x40000005 0xc0000005 1G rwx"])
    # NXE=0: XD is a reserved bit (4.5.4); I/D is 0 without SMEP and NXE (4.7)
    walk_query("walkq", root, ["--access", "x", "--ctl", "nxe=0"],
               ["0x401fff", "0x600123", "0x400abc"],
               ["0x401fff fault reserved level=1 syndrome=0x9",
                "0x600123 fault reserved level=2 syndrome=0x9",
                "0x400abc 0x200abc 4K rwxu"])
    # supervisor write to a read-only user page: fine with WP=0, refused by
    # SMAP unless AC=1
    walk_query("walkq", root, ["--access", "w", "--ctl", "wp=0"], ["0x401fff"],
               ["0x401fff 0x201fff 4K ru"])
    walk_query("walkq", root, ["--access", "w", "--ctl", "wp=0", "--ctl", "smap=1"],
               ["0x401fff"], ["0x401fff fault permission level=1 syndrome=0x3"])
    walk_query("walkq", root, ["--access", "w", "--ctl", "wp=0", "--ctl", "smap=1",
                               "--ctl", "ac=1"], ["0x401fff"], ["0x401fff 0x201fff 4K ru"])
    # protection keys (4.6.2): PT[0] has key 0; PKRU AD0 = bit 0
    walk_query("walkq", root, ["--user", "--ctl", "pke=1", "--ctl", "pkru=0x1"],
               ["0x400abc"], ["0x400abc fault permission level=1 syndrome=0x25"])
    walk_query("walkq", root, ["--user", "--ctl", "pke=1", "--ctl", "pkru=0x4"],
               ["0x400abc"], ["0x400abc 0x200abc 4K rwxu"])
    # without --update-ad nothing is written; with it A lands in the four
    # entries and D in the PTE (4.8): PML4[0] 0x80101007 -> 0x80101027,
    # PT[0] 0x200007 -> 0x200067
    before = image_bytes("walkq", 0, 0x200000)
    walk_query("walkq", root, ["--access", "w"], ["0x400abc"], ["0x400abc 0x200abc 4K rwxu"])
    check(image_bytes("walkq", 0, 0x200000) == before, "query without --update-ad wrote")
    walk_query("walkq", root, ["--access", "w", "--update-ad"], ["0x400abc"],
               ["0x400abc 0x200abc 4K rwxu"])
    check(image_bytes("walkq", 0x100000) == bytes.fromhex("2710108000000000"), "A in PML4[0]")
    check(image_bytes("walkq", 0x103000) == bytes.fromhex("6700200000000000"), "A|D in PT[0]")
    check(image_bytes("walkq", 0x103008) == before[0x103008:0x103010], "PT[1] untouched")
    p = run("dump", "--format", "x86_64-4l", "--image", path("walkq.img"), "--root", hex(root))
    check(p.returncode == 0 and "1 x 4K  AD" in p.stdout, f"dump after --update-ad: {p.stdout!r}")

    q = ["query", "--format", "x86_64-4l", "--image", path("walkq.img"), "--root", hex(root)]
    expect_bad(q + ["--ctl", "bogus=1", "0x1"], "unknown control in --ctl 'bogus=1'",
               "unknown control")
    expect_bad(q + ["--ctl", "wp=2", "0x1"], "wp takes 0 or 1", "boolean control value")
    expect_bad(q + ["--ctl", "smep", "0x1"], "NAME=VALUE expected", "control without value")
    expect_bad(q + ["--ctl", "pkru=0x100000000", "0x1"], "pkru takes a 32-bit number",
               "pkru too big")
    expect_bad(q + ["--ctl", "maxphyaddr=53", "0x1"], "maxphyaddr takes", "maxphyaddr 53")
    expect_bad(q + ["--ctl", "ad=maybe", "0x1"], "ad takes hw or fault", "bad ad=")
    expect_bad(q + ["--access", "rw", "0x1"], "bad --access 'rw'", "bad access")
    expect_bad(q + ["--user", "--user", "0x1"], "--user given twice", "duplicate --user")
    expect_bad(q + ["--user"], "missing VA", "walker query without VA")


def test_full_image():
    """The reader attaches to the image's own table: it needs no free frame.
    A 16K RAM holds exactly the four x86-64 tables one 4K page needs (PML4,
    PDPT, PD, PT), so every frame of the image is in use."""
    root = build("x86_64-4l", "map 0x1000 0x5000 4K rw\n", "full4", ram_size="16K")
    if root is None:
        return
    query("x86_64-4l", "full4", root, ["0x1234", "0x2000"],
          ["0x1234 0x5234 4K rw", "0x2000 unmapped"])
    p = run("dump", "--format", "x86_64-4l", "--image", path("full4.img"), "--root", hex(root))
    check(p.returncode == 0 and p.stderr == "", f"dump full: {p.returncode} {p.stderr!r}")
    check("# 1 ranges, 1 pages, 4K mapped, 4 tables" in p.stdout, f"dump full: {p.stdout!r}")
    # A write with --update-ad sets A (bit 5) in the four entries on the path
    # and D (bit 6) in the PTE (SDM Vol. 3A 4.8); nothing else in RAM changes.
    before = image_bytes("full4", 0, 16 << 10)
    walk_query("full4", root, ["--access", "w", "--update-ad"], ["0x1234"],
               ["0x1234 0x5234 4K rw"])
    after = image_bytes("full4", 0, 16 << 10)
    diff = sorted(a ^ b for a, b in zip(before, after) if a != b)
    check(diff == [0x20, 0x20, 0x20, 0x60], f"--update-ad on a full image changed {diff!r}")
    query("x86_64-4l", "full4", root, ["0x1fff"], ["0x1fff 0x5fff 4K rw"])


# Intel EPT (SDM Vol. 3C 29.3.2) identity-maps the RAM with read/write/execute
# (engine region), GPA 0x1000 -> HPA 0x80180000 read/write only, GPA 0x5000 to
# HPA 0x90000000 (outside the 2M RAM). The guest's x86-64 tables sit in RAM
# at GPA = HPA: PML4 0x80100000 -> PDPT 0x80101000 -> PD 0x80102000 -> PT
# 0x80103000; PT[0] (VA 0) -> GPA 0x1000 P|RW|US, PT[1] (VA 0x1000) -> GPA
# 0x2000 P|US (GPA 0x2000 not mapped by EPT); PML4[1] -> a PDPT at GPA 0x3000
# (not mapped by EPT); PML4[2] -> a PDPT at GPA 0x5000 (outside host RAM).
NESTED = """\
region 0x80000000 0x80000000 2M rwx
map 0x1000 0x80180000 4K rw
map 0x5000 0x90000000 4K rw
write64 0x80100000 0x80101007
write64 0x80100008 0x3007
write64 0x80100010 0x5007
write64 0x80101000 0x80102007
write64 0x80102000 0x80103007
write64 0x80103000 0x1007
write64 0x80103008 0x2005
"""


def test_nested():
    s2root = build("ept-4l", NESTED, "nested", ram_size="2M")
    if s2root is None:
        return
    n = ["nested", "--s1-format", "x86_64-4l", "--s1-root", "0x80100000", "--s2-format",
         "ept-4l", "--s2-root", hex(s2root), "--image", path("nested.img")]

    def nested(opts, vas, expect):
        p = run(*n, *opts, *vas)
        check(p.returncode == 0 and p.stderr == "",
              f"nested {opts}: rc={p.returncode} stderr={p.stderr!r}")
        got = p.stdout.splitlines()
        check(got == expect, f"nested {opts}: got {got!r}, expected {expect!r}")

    # Exit qualification (Vol. 3C table 28-7): read 1, write 2, fetch 4,
    # bits 5:3 = R/W/X ANDed over the EPT entries, 0x80 guest linear address
    # valid, 0x100 the access was the translation (not a guest table fetch).
    nested([], ["0x123", "0x1123", "0x2000", "0x8000000000", "0x10000000000",
                "0x800000000000"],
           ["0x123 0x80180123 4K rwu gpa=0x1123",
            "0x1123 fault not-present level=1 syndrome=0x181 stage=2 gpa=0x2123",
            "0x2000 fault not-present level=1 syndrome=0x0 stage=1",
            "0x8000000000 fault not-present level=1 syndrome=0x81 stage=2 gpa=0x3000 s1ptw",
            "0x10000000000 fault bus-error level=3 syndrome=0x0 stage=1 gpa=0x5000",
            "0x800000000000 fault non-canonical level=-1 syndrome=0x0 stage=1"])
    # a fetch from the read/write EPT page: 4 | 0x18 | 0x80 | 0x100
    nested(["--access", "x"], ["0x123"],
           ["0x123 fault permission level=1 syndrome=0x19c stage=2 gpa=0x1123"])
    # user write through a guest page without R/W (PT[1]): a guest #PF
    nested(["--access", "w", "--user"], ["0x1000"],
           ["0x1000 fault permission level=1 syndrome=0x7 stage=1"])
    # --update-ad: the guest's entries get A (the leaf D), written back
    before = image_bytes("nested", 0, 0x200000)
    nested(["--access", "w"], ["0x123"], ["0x123 0x80180123 4K rwu gpa=0x1123"])
    check(image_bytes("nested", 0, 0x200000) == before, "nested without --update-ad wrote")
    nested(["--access", "w", "--update-ad", "--s2-ctl", "ept_ad=1"], ["0x123"],
           ["0x123 0x80180123 4K rwu gpa=0x1123"])
    check(image_bytes("nested", 0x100000) == bytes.fromhex("2710108000000000"),
          "guest PML4[0] A")
    check(image_bytes("nested", 0x103000) == bytes.fromhex("6710000000000000"),
          "guest PT[0] A|D")

    expect_bad(n[:2] + ["--s2-format", "ept-4l", "--s2-root", hex(s2root), "--image",
                        path("nested.img"), "0x1"], "missing option --s1-root", "no s1 root")
    expect_bad(["nested", "--s1-format", "ept-4l", "--s1-root", "0x80100000", "--s2-format",
                "ept-4l", "--s2-root", hex(s2root), "--image", path("nested.img"), "0x1"],
               "is a stage-2 format", "stage-2 format as stage 1")
    expect_bad(["nested", "--s1-format", "x86_64-4l", "--s1-root", "0x80100000",
                "--s2-format", "x86_64-4l", "--s2-root", hex(s2root), "--image",
                path("nested.img"), "0x1"], "is not a stage-2 format", "stage-1 as stage 2")
    expect_bad(n[:5] + ["--s2-format", "ept-4l", "--s2-root", hex(s2root + 0x800),
                        "--image", path("nested.img"), "0x1"], "--s2-root", "misaligned s2 root")
    expect_bad(["nested", "--s1-format", "x86_64-4l", "--s1-root", "0x80100008",
                "--s2-format", "ept-4l", "--s2-root", hex(s2root), "--image",
                path("nested.img"), "0x1"], "--s1-root 0x80100008 not aligned",
               "misaligned s1 root")
    expect_bad(n + ["--root", "0x1", "0x1"], "--root does not apply", "query option in nested")
    expect_bad(n, "missing VA", "nested without VA")
    expect_bad(n + ["--s2-ctl", "nope=1", "0x1"], "unknown control", "bad --s2-ctl")
    p = run("nested", "--help")
    check(p.returncode == 0 and p.stdout.startswith("usage: physim-pt nested"), "nested --help")


# ---------------------------------------------------------------------------
# --version, exit status 1, --json


def test_version():
    want = f"physim-pt (physim) {VERSION}\n"
    for args in (["--version"], ["formats", "--version"], ["query", "--version"],
                 ["nested", "--version"]):
        p = run(*args)
        check(p.returncode == 0 and p.stdout == want and p.stderr == "",
              f"{args}: {p.returncode} {p.stdout!r} (want {want!r})")
    p = run("--help")
    check("--version" in p.stdout and "-h, --help" in p.stdout, "--help lists --version")


def limit_address_space():
    """The child may map at most 1 GiB: a 4 GiB RAM is refused by the host."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def sanitized():
    """True if the tool is built with a sanitizer runtime (gcc links it
    dynamically, clang statically): an address-space limit then stops the
    sanitizer's own shadow mapping before physim runs."""
    with open(TOOL, "rb") as f:
        data = f.read()
    return any(s in data for s in (b"__asan_init", b"__tsan_init", b"__msan_init"))


def test_exit_status():
    """Exit 1 when the host refuses memory, 2 for bad input (manual page)."""
    spec = write_spec("one.spec", "map 0x1000 0x1000 4K rw\n")
    if sanitized():
        print("test_exit_status: sanitizer build, the host-refuses-memory case "
              "(RLIMIT_AS) is left to the plain builds")
    else:
        host_refuses_ram(spec)
    # the simulated RAM is too small for the spec's tables: the user's input
    p = run("build", "--format", "x86_64-4l", "--ram-size", "4K", "--spec", spec,
            "--image", path("small.img"))
    check(p.returncode == 2 and "RAM is full" in p.stderr, f"RAM full: rc={p.returncode}")


def host_refuses_ram(spec):
    p = run("build", "--format", "x86_64-4l", "--ram-size", "4G", "--spec", spec,
            "--image", path("huge.img"), preexec_fn=limit_address_space)
    lines = p.stderr.splitlines()
    check(p.returncode == 1 and len(lines) == 1 and "the host refuses a RAM" in lines[0],
          f"RAM refused by the host: rc={p.returncode} {p.stderr!r} (want exit 1)")
    check(not os.path.exists(path("huge.img")), "a refused build wrote an image")


def parse_json_lines(p, what):
    check(p.returncode == 0 and p.stderr == "", f"{what}: rc={p.returncode} {p.stderr!r}")
    objs = []
    for line in p.stdout.splitlines():
        try:
            objs.append(json.loads(line))
        except ValueError as e:
            fail(f"{what}: not one JSON object per line: {line!r}: {e}")
    return objs


def size_value(text):
    """'4K' -> 4096 (the tool's size notation, parsed here independently)."""
    units = {"K": 10, "M": 20, "G": 30, "T": 40}
    return int(text[:-1]) << units[text[-1]] if text[-1] in units else int(text)


def test_json_formats():
    objs = parse_json_lines(run("formats", "--json"), "formats --json")
    got = {o["name"]: o for o in objs}
    check(len(objs) == len(FORMATS) == len(got), f"formats --json: {len(objs)} objects")
    for name, (levels, va, pa, pages, root) in FORMATS.items():
        o = got.get(name, {})
        want = (int(levels), int(va), int(pa), [size_value(x) for x in pages.split(",")],
                size_value(root))
        have = (o.get("levels"), o.get("va_bits"), o.get("pa_bits"), o.get("page_sizes"),
                o.get("root_bytes"))
        check(have == want, f"formats --json {name}: {have} != {want}")
    # stage 2 exactly for EPT, Arm stage 2 and the RISC-V x4 G-stage formats
    s2 = {n for n, o in got.items() if o.get("stage2")}
    check(s2 == {"ept-4l", "ept-5l", "aarch64-s2-4k-40", "aarch64-s2-4k-48", "sv39x4",
                 "sv48x4", "sv57x4", "sv32x4", "aarch64-s2-4k-52"}, f"stage-2 formats {sorted(s2)}")
    check(got.get("x86_64-4l", {}).get("sign_extended") is True
          and got.get("ept-4l", {}).get("sign_extended") is False, "sign_extended")
    objs = parse_json_lines(run("formats", "--format", "sv48", "--json"), "formats sv48 --json")
    check(len(objs) == 1, "formats --format --json: one object")
    lv = [(x["level"], x["va_high"], x["va_low"], x["entries"], x["table_bytes"], x["leaf_size"])
          for x in objs[0].get("level", [])] if objs else []
    check(lv == [(3, 47, 39, 512, 4096, 512 << 30), (2, 38, 30, 512, 4096, 1 << 30),
                 (1, 29, 21, 512, 4096, 2 << 20), (0, 20, 12, 512, 4096, 4096)],
          f"sv48 levels {lv}")


def test_json_query_dump():
    root = build("x86_64-4l", X86_SPEC, "x86j")
    if root is None:
        return
    vas = ["0x400123", "0x402000", "0x40000005", "0x600000", "0xffff800000000abc"]
    objs = parse_json_lines(run("query", "--format", "x86_64-4l", "--image", path("x86j.img"),
                                "--root", hex(root), "--json", *vas), "query --json")
    want = [{"va": "0x400123", "mapped": True, "pa": "0x200123", "size": 4096, "flags": "rwxu"},
            {"va": "0x402000", "mapped": False},
            {"va": "0x40000005", "mapped": True, "pa": "0x80000005", "size": 1 << 30,
             "flags": "rw"},
            {"va": "0x600000", "mapped": True, "pa": "0x10000000", "size": 4096, "flags": "r"},
            {"va": "0xffff800000000abc", "mapped": True, "pa": "0xfee00abc", "size": 4096,
             "flags": "rwd"}]
    check(objs == want, f"query --json: {objs}")
    # the walker's answers: a user write to the read-only user page faults
    objs = parse_json_lines(run("query", "--format", "x86_64-4l", "--image", path("x86j.img"),
                                "--root", hex(root), "--json", "--access", "w", "--user",
                                "0x400123", "0x600000"), "walk --json")
    check(objs[:1] == [{"va": "0x400123", "mapped": True, "pa": "0x200123", "size": 4096,
                        "flags": "rwxu"}], f"walk --json mapped: {objs[:1]}")
    # supervisor page, user access: #PF error code P|W|U = 7 (SDM 4.7)
    check(objs[1:] == [{"va": "0x600000", "mapped": False,
                        "fault": {"kind": "permission", "level": 1, "syndrome": "0x7"}}],
          f"walk --json fault: {objs[1:]}")

    objs = parse_json_lines(run("dump", "--format", "x86_64-4l", "--image", path("x86j.img"),
                                "--root", hex(root), "--json"), "dump --json")
    # the same ranges as X86_DUMP, read back from its text here
    want = []
    for line in X86_DUMP.splitlines():
        m = re.match(r"0x(\w+)-0x(\w+) +(\w+)  (\S+)  -> 0x(\w+)  (\d+) x (\w+)$", line)
        if m:
            want.append({"va": hex(int(m[1], 16)), "end": hex(int(m[2], 16)),
                         "size": size_value(m[3]), "flags": m[4].replace("-", "") or "-",
                         "pa": hex(int(m[5], 16)), "pages": int(m[6]),
                         "page_size": size_value(m[7]), "accessed": False, "dirty": False,
                         "arch": "0x0"})
    check(len(want) == 10 and objs[:-1] == want, f"dump --json ranges: {objs[:-1]}")
    check(objs[-1:] == [{"total": True, "format": "x86_64-4l", "root": hex(root), "ranges": 10,
                         "pages": 1031, "bytes": 1054740 << 10, "tables": 10}],
          f"dump --json total: {objs[-1:]}")
    expect_bad(["dump", "--format", "x86_64-4l", "--image", path("x86j.img"), "--root",
                hex(root), "--json", "--dot"], "exclude each other", "--json with --dot")
    expect_bad(["build", "--json"], "--json does not apply", "build --json")


def test_json_nested():
    s2root = build("ept-4l", NESTED, "nestedj", ram_size="2M")
    if s2root is None:
        return
    p = run("nested", "--s1-format", "x86_64-4l", "--s1-root", "0x80100000", "--s2-format",
            "ept-4l", "--s2-root", hex(s2root), "--image", path("nestedj.img"), "--json",
            "0x123", "0x1123", "0x8000000000")
    objs = parse_json_lines(p, "nested --json")
    # the answers test_nested gives in text, from the same SDM tables
    check(objs == [
        {"va": "0x123", "mapped": True, "pa": "0x80180123", "size": 4096, "flags": "rwu",
         "gpa": "0x1123"},
        {"va": "0x1123", "mapped": False,
         "fault": {"kind": "not-present", "level": 1, "syndrome": "0x181", "stage": 2,
                   "gpa": "0x2123", "s1ptw": False}},
        {"va": "0x8000000000", "mapped": False,
         "fault": {"kind": "not-present", "level": 1, "syndrome": "0x81", "stage": 2,
                   "gpa": "0x3000", "s1ptw": True}}], f"nested --json: {objs}")


def test_image_safety():
    """RAM images (physim issue 10): an output that is one of the inputs is
    refused; a failing --update-ad save leaves its input image exactly as it
    was; a damaged frame is refused; errors name their real cause."""
    spec_text = "map 0x1000 0x1000 4K rw\n"
    spec = write_spec("same.spec", spec_text)
    os.link(spec, path("same-link.img"))
    bld = ["build", "--format", "x86_64-4l", "--ram-size", "1M", "--spec", spec, "--image"]
    for img in (spec, os.path.join(TMP, ".", "same.spec"), path("same-link.img")):
        expect_bad(bld + [img], "refusing to overwrite", f"--image {img} is the spec")
        with open(spec) as f:
            check(f.read() == spec_text, f"--image {img}: the spec file was overwritten")

    # query --update-ad whose save fails (ulimit -f): the real cause, and the
    # input image unchanged and still loadable (it used to be left 0 bytes).
    root = build("x86_64-4l", X86_RAW, "keep")
    if root is None:
        return
    with open(path("keep.img"), "rb") as f:
        before = f.read()

    def small_fsize():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))

    args = [TOOL, "query", "--format", "x86_64-4l", "--image", path("keep.img"), "--root",
            "0x80100000", "--access", "w", "--update-ad", "0x400abc"]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120,
                       preexec_fn=small_fsize)
    check(p.returncode == 2 and "cannot write image" in p.stderr
          and "File too large" in p.stderr,
          f"--update-ad under ulimit -f: rc={p.returncode} stderr={p.stderr!r}")
    with open(path("keep.img"), "rb") as f:
        check(f.read() == before, "a failed --update-ad save changed the input image")
    check([n for n in os.listdir(TMP) if ".tmp-" in n] == [], "temporary file left behind")
    p = run("query", "--format", "x86_64-4l", "--image", path("keep.img"), "--root",
            "0x80100000", "0x400abc")
    check(p.returncode == 0, f"image after a failed save: {p.stderr!r}")

    # a flipped byte inside an allocated frame (the root table at RAM offset
    # 1 MiB): refused by the data checksum
    flipped = bytearray(before)
    flipped[0x100001] ^= 0x40
    with open(path("flipped.img"), "wb") as f:
        f.write(flipped)
    expect_bad(["query", "--format", "x86_64-4l", "--image", path("flipped.img"), "--root",
                "0x80100000", "0x1000"], "checksum", "flipped data byte")

    # errors keep their cause
    expect_bad(bld + [path("same.spec/x.img")], "Not a directory", "image below a file")
    expect_bad(bld + [path("no/such/dir.img")], "No such file or directory",
               "image in a missing directory")
    expect_bad(["dump", "--format", "x86_64-4l", "--image", path("same.spec/x.img"), "--root",
                "0x80100000"], "Not a directory", "reading an image below a file")


def main():
    for t in (test_help, test_version, test_exit_status, test_json_formats,
              test_json_query_dump, test_json_nested, test_formats, test_x86_64, test_sv48, test_aarch64, test_armv7,
              test_more_formats, test_x86_raw, test_sv48_raw, test_raw_write_placement,
              test_numbers, test_bad_input, test_walker_query, test_full_image, test_nested,
              test_image_safety):
        before = len(failures)
        try:
            t()
        except Exception as e:  # a crash of the test itself is a failure too
            fail(f"{t.__name__}: {type(e).__name__}: {e}")
        print(f"{'ok  ' if len(failures) == before else 'FAIL'} {t.__name__}")
    for name in sorted(os.listdir(TMP)):
        os.unlink(os.path.join(TMP, name))
    os.rmdir(TMP)
    print(f"{checks} checks, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
