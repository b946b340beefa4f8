#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/fuzz/make-seeds.py - writes the hand-made seed files of the fuzz
corpora (corpus/<harness>/seed-*): one start per format and mode, laid out
as each harness decodes its input. Deterministic, and each seed draws from
a generator of its own (named after it), so adding a format adds seeds and
changes no other. Run it again after a harness changes its input layout or
a format is added; `make-seeds.py --check` (the test fuzz-seeds) fails,
naming them, while a seed it would write is missing, and, given
`--physim-pt PATH`, while its list of formats or their stage (told by
name, below) differs from the library's. Inputs found by fuzzing are
added next to these with libFuzzer's -merge=1, which keeps only those that
add coverage:
  build-fuzzing/tests/fuzz/fuzz_walk -merge=1 tests/fuzz/corpus/walk NEW_DIR"""
import json
import os
import random
import re
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FRAME = 4096
NTOYS = 4  # tests/pt-toy-format.h, after the real formats in fuzz_pt


def formats():
    """The formats of lib/formats.c in its order (physim_format_at with
    every family built) as (name, stage2). Stage 2 by name: EPT, AArch64
    *_s2_*, RISC-V *x4 (checked against the library by library_problems)."""
    with open(os.path.join(HERE, "..", "..", "lib", "formats.c")) as f:
        names = re.findall(r"&physim_fmt_(\w+),", f.read())
    return [(n, n.startswith("ept_") or "_s2_" in n or n.endswith("x4")) for n in names]


FORMATS = formats()
NFORMATS = len(FORMATS)
NSTAGE2 = sum(s2 for _, s2 in FORMATS)
CHECK = "--check" in sys.argv[1:]
missing = []


def library_problems(tool):
    """What in FORMATS differs from `physim-pt formats --json` (the formats
    compiled in, in physim_format_at order: a subsequence of FORMATS when
    -Darchs leaves families out)."""
    try:
        out = subprocess.run([tool, "formats", "--json"], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        return ["cannot list the library's formats with %s: %s" % (tool, e)]
    lib = [(j["name"].replace("-", "_"), j["stage2"]) for j in map(json.loads, out.splitlines())]
    ours = dict(FORMATS)
    order = [n for n, _ in FORMATS]
    problems = []
    for n, s2 in lib:
        if n not in ours:
            problems.append("format %s is not in lib/formats.c as this script reads it" % n)
        elif ours[n] != s2:
            problems.append("format %s is %s in the library but %s by this script's name rule"
                            % (n, "stage 2" if s2 else "stage 1", "stage 2" if ours[n] else
                               "stage 1"))
    known = [n for n, _ in lib if n in ours]
    if known != sorted(known, key=order.index):
        problems.append("the formats are in another order than in lib/formats.c")
    return problems


def write(harness, name, data):
    path = os.path.join(HERE, "corpus", harness, "seed-" + name)
    if CHECK:
        if not os.path.exists(path):
            missing.append(os.path.relpath(path, HERE))
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(bytes(data))
    os.replace(tmp, path)


def gen(harness, name):
    """The seed's own generator."""
    return random.Random(harness + "/" + name)


def noise(rng, n):
    return bytes(rng.randrange(256) for _ in range(n))


def seeds_pt():
    # format (the real ones, then the toys), options, then operations with
    # their operands.
    for k in range(NFORMATS + NTOYS):
        name = "fmt%02d" % k
        write("pt", name, bytes([k, k & 1]) + noise(gen("pt", name), 160))


def seeds_alloc():
    # base, size byte, debug/guard byte, reserved ranges, operations.
    for k in range(8):
        cfg = bytes([k % 5, 0x20 + k * 16, k * 2, k % 5])
        write("alloc", "cfg%d" % k, cfg + noise(gen("alloc", "cfg%d" % k), 200))


def walk_memory(pattern, frames, base):
    """Table memory whose every descriptor points into the memory itself
    (cycles and self-references included) with one family's valid bits."""
    out = bytearray()
    for i in range(frames * FRAME // 8):
        addr = base + (i % frames) * FRAME
        if pattern == 0:  # x86 P|RW|US|A|D, EPT RWX, AArch64 table/page + AF
            v = addr | 0x467
        elif pattern == 1:  # RISC-V: PPN << 10, V (tables) or VRWXAD (leaves)
            v = (addr >> 2) | (0x1 if i % 3 else 0xCF)
        else:  # LoongArch V|D|P|W, and the 32-bit formats' low word
            v = addr | 0x183
        out += struct.pack("<Q", v)
    return bytes(out)


def walk_header(mode, f1, f2, frames, ctl, accesses):
    hdr = bytes([mode, f1, f2, frames - 1]) + struct.pack("<II", ctl, 0)
    hdr += struct.pack("<QQQ", 0, 0, 0)  # roots: offset 0 of the memory
    hdr += bytes([len(accesses)])
    for va, bits, op in accesses:
        hdr += struct.pack("<QBB", va, bits, op)
    return hdr


def seeds_walk():
    base = 0x80000000  # mode bits 2-3 = 0
    for k in range(NFORMATS):
        for pattern in range(3):
            name = "fmt%02d-p%d" % (k, pattern)
            rng = gen("walk", name)
            acc = [(rng.randrange(1 << 32), rng.randrange(256), rng.randrange(8))
                   for _ in range(8)]
            data = walk_header(0, k, 0, 1, rng.randrange(1 << 16), acc)
            # The first 1 KiB of the frame; the rest reads as zeros.
            mem = walk_memory(pattern, 1, base)[:1024]
            write("walk", name, data + mem)
    for k in range(NSTAGE2):
        rng = gen("walk", "nested%d" % k)
        acc = [(rng.randrange(1 << 32), rng.randrange(256), rng.randrange(16))
               for _ in range(8)]
        data = walk_header(1 | (k << 4), k * 2, k, 2, 0, acc)
        write("walk", "nested%d" % k, data + walk_memory(k % 3, 2, base)[:2048])


# A stage 1 nested over a stage 2 of its own family and level count walks
# stage 2 inline (lib/walk-loop.h, struct walk_s2_inline); fuzz_walk checks
# it against the traced walk, which calls stage 2. The pairs, as indexes
# among the stage-1 and the stage-2 formats (lib/formats.c order): AArch64
# 4k-39 / s2-4k-40, 4k-48 / s2-4k-48, 4k-52 / s2-4k-52; Sv39 / Sv39x4, Sv48 /
# Sv48x4, Sv57 / Sv57x4. The RISC-V memory pattern's leaves lack U, so every
# G-stage walk of a table entry faults (G-stage accesses are U-mode).
SAME_LEVEL_PAIRS = [(2, 2, 0), (3, 3, 0), (6, 4, 0), (13, 5, 1), (14, 6, 1), (15, 7, 1)]


def seeds_pairs():
    base = 0x80000000
    for f1, f2, pattern in SAME_LEVEL_PAIRS:
        rng = gen("walk", "pair%02d-%d" % (f1, f2))
        acc = [(rng.randrange(1 << 32), rng.randrange(256), rng.randrange(8))
               for _ in range(16)]
        data = walk_header(1, f1, f2, 2, rng.randrange(1 << 16), acc)
        write("walk", "pair%02d-%d" % (f1, f2), data + walk_memory(pattern, 2, base)[:2048])


def fnv1a(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


M64 = 0xFFFFFFFFFFFFFFFF
K1, K2, K3, K4 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                  0x85EBCA77C2B2AE63)


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def data_sum(ram):
    """Version 2's checksum of the non-zero frames (lib/ram-image-priv.h)."""
    def lane(acc, w):
        return rotl((acc + w * K2) & M64, 31) * K1 & M64
    total = 0x27D4EB2F165667C5
    for idx in range(len(ram) // FRAME):
        f = ram[idx * FRAME:(idx + 1) * FRAME]
        if not any(f):
            continue
        a = [(idx + K1 + K2) & M64, (idx + K2) & M64, idx, (idx - K1) & M64]
        for w in range(FRAME // 8):
            a[w % 4] = lane(a[w % 4], struct.unpack_from("<Q", f, 8 * w)[0])
        h = (rotl(a[0], 1) + rotl(a[1], 7) + rotl(a[2], 12) + rotl(a[3], 18)) & M64
        for k in range(4):
            h = ((h ^ lane(0, a[k])) * K1 + K4) & M64
        h = (h ^ (h >> 33)) * K2 & M64
        h = (h ^ (h >> 29)) * K3 & M64
        total = (rotl(total ^ h ^ (h >> 32), 27) * K1 + K4) & M64
    return total


def image(base, frames, ranges, rng, version=1, damage=None):
    """A valid image, written from the layout in lib/ram-image-priv.h; version 2
    carries the data checksum; damage = RAM offset of a byte flipped after
    the checksum was taken."""
    ram = bytearray(frames * FRAME)
    for i in range(0, len(ram), 512):
        ram[i] = rng.randrange(256)
    t = b"PHYSIMRI" + struct.pack("<IIQQQI", version, 64, base, frames * FRAME, len(ranges), 0)
    t += bytes(4) + struct.pack("<Q", data_sum(ram) if version == 2 else 0)
    t += bytes(64 - len(t))
    if damage is not None:
        ram[damage] ^= 0x20
    for b, s in ranges:
        t += struct.pack("<QQ", b, s)
    tlen = len(t) + 24
    t += struct.pack("<Q", tlen) + b"PHYSIMEN"
    t += struct.pack("<Q", fnv1a(t))
    return bytes(ram) + t


def seeds_image():
    def img(name, mode, *args, **kw):
        write("image", name, bytes([mode]) + image(*args, gen("image", name), **kw))

    img("valid-1frame", 0, 0x80000000, 1, [])
    img("valid-ranges", 0x10, 0x80000000, 3, [(0x80000000, FRAME), (0x80002000, FRAME)])
    img("valid-at-0", 4, 0, 2, [(0, 2 * FRAME)])
    # Mode 2: laid out by the harness (frames, ranges, base, damage, ranges).
    for k in range(6):
        name = "layout%d" % k
        write("image", name,
              bytes([2 | (k << 2), k, k % 6, k, k % 16]) + noise(gen("image", name), 40))
    # Version 2 (data checksum), whole and with one data byte flipped.
    rngs = [(0x80001000, FRAME)]
    img("v2-valid", 0, 0x80000000, 3, rngs, version=2)
    img("v2-damaged", 0, 0x80000000, 3, rngs, version=2, damage=FRAME + 77)


def seeds_aspace():
    for k in range(NSTAGE2):
        name = "fmt%d" % k
        write("aspace", name, bytes([k, k * 3]) + noise(gen("aspace", name), 300))


def main():
    argv = sys.argv[1:]
    tool = None
    if "--physim-pt" in argv:
        i = argv.index("--physim-pt")
        if not CHECK or i + 1 == len(argv):
            print("make-seeds.py: --physim-pt PATH goes with --check", file=sys.stderr)
            return 2
        tool = argv[i + 1]
    seeds_pt()
    seeds_alloc()
    seeds_walk()
    seeds_image()
    seeds_aspace()
    seeds_pairs()
    problems = ["missing seed %s (run tests/fuzz/make-seeds.py)" % m for m in missing]
    if tool is not None:
        problems += library_problems(tool)
    for p in problems:
        print("make-seeds.py: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
