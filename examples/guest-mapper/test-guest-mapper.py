#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""examples/guest-mapper/test-guest-mapper.py - guest-mapper end to end: the
shipped configs run on every architecture, default.cfg is the built-in
config, the default run shows the numbers the manuals and a hand count give,
and every bad option or config line is refused with exit status 2 and one
line naming it.

--version is checked against VERSION, meson's project version.

usage: test-guest-mapper.py GUEST_MAPPER SOURCE_DIR VERSION
"""
import os
import re
import subprocess
import sys
import tempfile
import time

GM, SRC, VERSION = sys.argv[1], sys.argv[2], sys.argv[3]
ARCHES = ["x86_64", "aarch64", "riscv64"]
failures = []


def run(*args):
    p = subprocess.run([GM, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def expect_ok(args, what):
    rc, out, err = run(*args)
    check(rc == 0, f"{what}: exit {rc}, stderr {err!r}")
    check(err == "", f"{what}: stderr {err[:300]!r}")
    return out


def expect_bad(args, pattern, what):
    """Exit 2, nothing on stdout, exactly one line on stderr matching pattern."""
    rc, out, err = run(*args)
    lines = err.splitlines()
    check(rc == 2, f"{what}: exit {rc}, want 2")
    check(out == "", f"{what}: stdout not empty: {out[:200]!r}")
    check(len(lines) == 1, f"{what}: want one line on stderr, got {lines!r}")
    check(re.search(pattern, err) is not None, f"{what}: stderr {err!r} lacks /{pattern}/")


def section(out, number):
    """The text of one numbered section of the output."""
    m = re.search(rf"^{number}\. .*?(?=^\d+\. |\Z)", out, re.M | re.S)
    return m.group(0) if m else ""


# ---- the default run, against hand-computed numbers ----

def test_default_x86():
    out = expect_ok([], "default run")
    check(out.rstrip().endswith("every frame came back"), "default run: verdict")
    check("host RAM: 0 of 524288 frames in use" in out, "2 GiB = 524288 frames, all back")
    vm = section(out, 2)
    # 16 MiB populated = 4096 frames; EPT tables: PML4, PDPT, the PD of the
    # 1 GiB at 0x40000000 and 8 PTs for 16 MiB, plus the PD and PT of the
    # device page = 13.
    check(re.search(r"16 MiB\s+RAM\s+RWX\s+populated now\s+4096 frames", vm), "populated frames")
    check("the table so far: 13 frames" in vm, "13 stage-2 table frames after mapping")
    # The guest's table: PML4, PDPT and PD for the low 1 GiB, PTs for the
    # image, the device and the bogus page; PDPT and PD of the direct map.
    check("pages: 8 pages of guest RAM" in section(out, 4), "8 guest page-table pages")
    run5 = section(out, 5)
    # 4-level over 4-level, 4 KiB pages: (4 + 1) * (4 + 1) - 1 = 24 references;
    # a 2 MiB stage-1 page stops stage 1 a level early: 4 * 5 - 1 = 19.
    check(run5.count("24 memory references") == 3, "three 4K/4K nested walks of 24 refs")
    check(run5.count("19 memory references") == 2, "two 2M-over-4K walks of 19 refs")
    # EPT exit qualification (SDM 28.2.1, Table 28-7): bit 0 read / bit 1
    # write, bit 7 linear address valid, bit 8 final translation.
    check("syndrome 0x182, gpa 0x50800080" in run5, "EPT violation on a write: 0x182")
    check("syndrome 0x181, gpa 0x60000000" in run5, "EPT violation on a read: 0x181")
    # #PF error code of a supervisor read of a not-present page: 0.
    check("stage 1 not-present fault at level 2, syndrome 0x0, va 0x30000000" in run5,
          "guest #PF error code 0 at the PD level")
    check('loaded   "hello from guest memory"' in run5, "the image's data read by the vCPU")
    check("fetch    f4 eb fd" in run5, "the entry point's bytes fetched")
    check("0x48 ('H'), the vCPU's store" in section(out, 6), "the device store seen")
    tlb = section(out, 7)
    check("round 1: 5 misses, 0 hits, 110 memory references" in tlb, "round 1: 3*24 + 2*19")
    check(tlb.count("0 misses, 5 hits,   0 memory references") == 3, "rounds 2-4 all hit")
    dirty = section(out, 8)
    check("12 dirty pages" in dirty and "fetched again at once: 0" in dirty, "dirty pages")
    stats = section(out, 10)
    # 4096 populated + 1 page on the nested fault + 2 by the accessor;
    # 13 + one PT for each of the two lazy 2 MiB spans touched.
    check(re.search(r"guest RAM\s+4099\s", stats), "4099 guest RAM frames")
    check(re.search(r"stage-2 tables\s+15\s", stats), "15 stage-2 table frames")
    check(re.search(r"in all\s+4115\s+the RAM's own allocator counts 4115", stats),
          "4099 + 15 + 1 = 4115")


def test_other_arches():
    # aarch64: 3-level stage 2 from level 1: (4 + 1) * (3 + 1) - 1 = 19,
    # 2 MiB stage-1 pages 4 * 4 - 1 = 15; FSC 0b000110 = level-2
    # translation fault (Arm ARM D17, ESR_ELx.DFSC).
    out = expect_ok(["--arch", "aarch64"], "aarch64 run")
    run5 = section(out, 5)
    check(run5.count("19 memory references") == 3 and run5.count("15 memory references") == 2,
          "aarch64 nested reference counts")
    check("syndrome 0x6, gpa 0x50800080" in run5, "aarch64 stage-2 FSC 0x6")
    check("fetch    7f 20 03 d5 ff ff ff 17" in run5, "aarch64 entry point bytes")
    # Stage 2 starts at level 1 with two concatenated root tables (2 frames),
    # then as on x86: one level-2 table per GiB touched (2), 8 + 1 level-3
    # tables; two more level-3 tables for the lazy pages.
    check("the table so far: 13 frames" in section(out, 2), "aarch64 stage-2 frames")
    check(re.search(r"stage-2 tables\s+15\s", section(out, 10)), "aarch64 stage-2 frames at end")
    # riscv64: Sv48 over Sv48x4 is 4 over 4 as on x86; scause 23 store
    # guest-page fault, 21 load guest-page fault, 13 load page fault.
    out = expect_ok(["--arch", "riscv64"], "riscv64 run")
    run5 = section(out, 5)
    check("syndrome 0x17, gpa 0x50800080" in run5, "riscv store guest-page fault 23")
    check("syndrome 0x15, gpa 0x60000000" in run5, "riscv load guest-page fault 21")
    check("syndrome 0xd, va 0x30000000" in run5, "riscv load page fault 13")
    # Sv48x4: a 16 KiB root (4 frames), one level-2 table, two level-1
    # tables (one per GiB touched), 8 + 1 level-0 tables = 16; +2 lazy.
    check("the table so far: 16 frames" in section(out, 2), "riscv stage-2 frames")
    check(re.search(r"stage-2 tables\s+18\s", section(out, 10)), "riscv stage-2 frames at end")


def strip_varying(out):
    return [l for l in out.splitlines()
            if not l.startswith("  configuration") and not l.startswith("   time so far")]


def test_configs():
    default = expect_ok([], "built-in config")
    from_file = expect_ok(["--config", os.path.join(SRC, "default.cfg")], "default.cfg")
    check(strip_varying(default) == strip_varying(from_file),
          "default.cfg gives the same run as the built-in config")
    for arch in ARCHES:
        out = expect_ok(["--arch", arch, "--config", os.path.join(SRC, "sample.cfg")],
                        f"sample.cfg on {arch}")
        check("every frame came back" in out, f"sample.cfg on {arch}: verdict")
    rc, out, err = run("--quiet")
    check(rc == 0 and err == "" and len(out.splitlines()) == 1, "--quiet: one line")
    for opt in ("--help", "-h"):
        rc, out, err = run(opt)
        check(rc == 0 and out.startswith("usage: guest-mapper") and err == "", opt)
    for args in (["--version"], ["--quiet", "--version"]):
        rc, out, err = run(*args)
        check(rc == 0 and out == f"guest-mapper (physim) {VERSION}\n" and err == "",
              f"{args}: {rc} {out!r}")


def test_images_and_odd_layouts(tmp):
    img = os.path.join(tmp, "kernel.bin")
    with open(img, "wb") as f:
        f.write(bytes(range(256)) * 40)  # 10 KiB: three pages
    out = expect_ok(["--image", img], "--image")
    check("fetch    00 01 02 03 04 05 06 07" in out, "--image: the vCPU fetches the file")
    # An image named in a config is found next to the config.
    cfg = os.path.join(tmp, "with-image.cfg")
    with open(cfg, "w") as f:
        f.write("ram 0x80000000 8M populate\nimage 0x80001000 kernel.bin\n")
    for arch in ARCHES:
        out = expect_ok(["--arch", arch, "--config", cfg], f"image in config on {arch}")
        check("10 KiB of " in out and "kernel.bin" in out, f"{arch}: image from the config")
    # Only lazy RAM: the guest's page-table pages fault in as they are taken.
    cfg = os.path.join(tmp, "lazy-only.cfg")
    with open(cfg, "w") as f:
        f.write("ram 0x0 64M lazy\nimage 0x200000\n")
    for arch in ARCHES:
        expect_ok(["--arch", arch, "--config", cfg], f"lazy-only config on {arch}")
    expect_ok(["--ram-size", "256M"],
              "--ram-size 256M (the device page at 0x88000000 still in it)")
    expect_ok(["--ram", "256M", "--quiet"], "--ram, the old spelling of --ram-size")
    expect_ok(["--ram-size=0x10000000", "--quiet"], "--ram-size=0x10000000")
    # Numbers: decimal (a leading 0 is not octal) or 0x hexadecimal.
    cfg = os.path.join(tmp, "decimal.cfg")
    with open(cfg, "w") as f:
        f.write("\tram 01073741824 0016777216\tpopulate\r\nimage 1073741824\n")
    out = expect_ok(["--config", cfg], "decimal numbers, tabs and CRLF")
    check("GPA 0x40000000-0x40ffffff    16 MiB  RAM" in out, "decimal config read right")
    # Too small a region for the guest's page tables is a run-time failure.
    cfg = os.path.join(tmp, "tiny.cfg")
    with open(cfg, "w") as f:
        f.write("ram 0x40000000 16K populate\nimage 0x40000000\n")
    rc, out, err = run("--config", cfg)
    check(rc == 1 and "no page left for them" in err and "every frame came back" not in out
          and "host RAM: 0 of" in out, "page-table pool exhausted: exit 1, frames back")


# ---- bad input ----

BAD_CONFIGS = [
    ("rom 0x0 4K\n", r"bad\.cfg:1: unknown keyword 'rom'"),
    ("ram 0x4000zz 4K lazy\n", r"bad\.cfg:1: '0x4000zz' is not an address"),
    ("ram 0x 4K lazy\n", r"bad\.cfg:1: '0x' is not an address"),
    ("ram -4096 4K lazy\n", r"bad\.cfg:1: '-4096' is not an address"),
    ("ram 0x40000000 0x10000000000000000 lazy\n", r"bad\.cfg:1: .* is not a size"),
    ("ram 0x40000000 12Q lazy\n", r"bad\.cfg:1: '12Q' is not a size"),
    ("ram 0x40000000 99999999999G lazy\n", r"bad\.cfg:1: .* is not a size"),
    ("ram 0x40000800 4K lazy\n", r"bad\.cfg:1: 0x40000800 is not 4 KiB aligned"),
    ("ram 0x40000000 0 lazy\n", r"bad\.cfg:1: size 0 is not a non-zero multiple of 4 KiB"),
    ("ram 0x40000000 6000 lazy\n", r"bad\.cfg:1: size 6000 is not"),
    ("ram 0xfffffffffffff000 8K lazy\n", r"bad\.cfg:1: .* wraps around"),
    ("ram 0x40000000 4K\n", r"bad\.cfg:1: expected: ram GPA SIZE populate\|lazy"),
    ("# ok\n\nmmio 0x88000000 4K now\n", r"bad\.cfg:3: expected: mmio GPA SIZE"),
    ("ram 0x40000000 4K lazzy\n", r"bad\.cfg:1: 'lazzy': a ram region is"),
    ("ram 0x40000000 4K lazy a b c d e f g\n", r"bad\.cfg:1: too many words"),
    ("ram 0x40000000 16M populate\nimage 0x40000000\nmmio 0x40001000 4K\n",
     r"bad\.cfg:3: mmio region overlaps the ram region of line 1"),
    ("ram 0x40000000 16M populate\nimage 0x40000000\nmmio 0x09000000 4K\n",
     r"bad\.cfg:3: mmio region 0x9000000-0x9000fff is not in host RAM"),
    ("ram 0x40000000 16M populate\nimage 0x90000000\n",
     r"bad\.cfg:2: image address 0x90000000 is in no ram region"),
    ("ram 0x40000000 4K populate\nimage 0x40000800\n",
     r"bad\.cfg:2: the image \(8192 bytes at 0x40000800\) runs past the end of the ram "
     r"region of line 1"),
    ("ram 0x40000000 16M populate\nimage 0x40000000\nimage 0x40001000\n",
     r"bad\.cfg:3: a second image line \(the first is line 2\)"),
    ("mmio 0x88000000 4K\nimage 0x88000000\n", r"bad\.cfg: no ram line"),
    ("ram 0x40000000 16M populate\n", r"bad\.cfg: no image line"),
    ("ram 0x40000000 16M populate\nimage 0x40000000 missing.bin\n",
     r"bad\.cfg:2: image .*missing\.bin: No such file"),
    ("ram 0x200000000000 4K lazy\nimage 0x200000000000\n",
     r"bad\.cfg:1: ram region ends at 0x200000000fff, above this VM's guest-physical limit"),
    ("ram 0x40000000 16M populate # " + "x" * 600 + "\n", r"bad\.cfg:1: line too long"),
    # populated RAM the 2 GiB host cannot hold: refused before anything is
    # built (T is a size suffix like K, M and G)
    ("ram 0x40000000 4G populate\nimage 0x40000000\n",
     r"bad\.cfg:1: populated ram region of 4 GiB does not fit in host RAM: it needs 4 GiB"),
    ("ram 0x40000000 1T populate\nimage 0x40000000\n",
     r"bad\.cfg:1: populated ram region of 1 TiB does not fit in host RAM"),
    ("ram 0x40000000 1G populate\nmmio 0x90000000 4K\nram 0x100000000 1G populate\n"
     "image 0x40000000\n",
     r"bad\.cfg:3: populated ram region of 1 GiB does not fit in host RAM: with the regions "
     r"before it the VM needs ~2 GiB and a 4 KiB stage-2 root, the host has 2 GiB"),
    ("ram 0x40000000 1G populate\nmmio 0x80000000 1G\nimage 0x40000000\n",
     r"bad\.cfg:2: mmio region of 1 GiB does not fit in host RAM: with the regions "
     r"before it the VM needs 2 GiB and a 4 KiB stage-2 root"),
]


def test_bad_configs(tmp):
    cfg = os.path.join(tmp, "bad.cfg")
    for text, pattern in BAD_CONFIGS:
        with open(cfg, "w") as f:
            f.write(text)
        start = time.monotonic()
        expect_bad(["--config", cfg], pattern, f"config {text[:40]!r}")
        # checked up front: no config error takes long (4G populate took 32 s)
        check(time.monotonic() - start < 5, f"config {text[:40]!r}: slow refusal")
    # lazy RAM larger than the host is fine: only touched pages take frames
    with open(cfg, "w") as f:
        f.write("ram 0x40000000 1G populate\nram 0x100000000 1T lazy\nimage 0x40000000\n")
    expect_ok(["--config", cfg, "--quiet"], "1 GiB populated + 1 TiB lazy on a 2 GiB host")
    with open(cfg, "wb") as f:
        f.write(b"ram 0x0 4K lazy\0\n")
    expect_bad(["--config", cfg], r"bad\.cfg: cannot read: not a text file", "NUL in a config")
    expect_bad(["--config", os.path.join(tmp, "nothere.cfg")], r"nothere\.cfg: cannot read",
               "missing config")
    empty = os.path.join(tmp, "empty.bin")
    open(empty, "wb").close()
    expect_bad(["--image", empty], r"--image .*empty\.bin: empty file", "empty image")
    # The device page of the default config is outside 64 MiB of host RAM.
    expect_bad(["--ram", "64M"], r"built-in config:8: mmio region .* is not in host RAM",
               "--ram too small for the identity mapping")
    # An architecture with a 40-bit stage 2 refuses what a 48-bit one takes.
    with open(cfg, "w") as f:
        f.write("ram 0x10000000000 64K populate\nimage 0x10000000000\n")
    expect_ok(["--config", cfg, "--quiet"], "a GPA above 2^40 on EPT")
    expect_bad(["--arch", "aarch64", "--config", cfg],
               r"bad\.cfg:1: ram region ends at 0x1000000ffff, above this VM's guest-physical "
               r"limit 0xffffffffff", "a GPA above 2^40 on aarch64-s2-4k-40")


def test_bad_options():
    expect_bad(["--bogus"], r"unknown option '--bogus' \(try --help\)", "unknown option")
    expect_bad(["extra"], r"unknown option 'extra'", "stray argument")
    expect_bad(["--quiet=1"], r"unknown option '--quiet=1'", "value on a flag")
    expect_bad(["--arch", "mips"], r"--arch: unknown architecture 'mips'", "bad arch")
    expect_bad(["--arch=ppc"], r"--arch: unknown architecture 'ppc'", "bad arch with =")
    expect_bad(["--arch"], r"--arch needs a value", "missing value")
    expect_bad(["--ram-size", "12Q"], r"--ram-size: '12Q' is not", "bad --ram-size")
    expect_bad(["--ram-size", "0"], r"--ram-size: '0' is not", "zero --ram-size")
    expect_bad(["--ram-size", "2T"], r"--ram-size: '2T' is not a multiple of 4K from 4K to 1T",
               "--ram-size above 1T")
    expect_bad(["--ram-size", "2048G"], r"--ram-size: '2048G' is not", "--ram-size above 1T")
    expect_bad(["--ram", "12Q"], r"--ram: '12Q' is not", "bad --ram (old spelling)")
    expect_bad(["-x"], r"unknown option '-x'", "unknown short option")
    # 1T is the largest RAM, and T a suffix: accepted (--version stops before any RAM)
    rc, out, err = run("--ram-size", "1T", "--version")
    check(rc == 0 and err == "", f"--ram-size 1T: {rc} {err!r}")
    rc, out, err = run("--ram-size", "1024G", "--version")
    check(rc == 0 and err == "", f"--ram-size 1024G: {rc} {err!r}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_default_x86()
        test_other_arches()
        test_configs()
        test_images_and_odd_layouts(tmp)
        test_bad_configs(tmp)
        test_bad_options()
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
