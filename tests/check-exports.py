#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that libphysim exports exactly the PHYSIM_API declarations of the
public headers, and that lib/physim.map lists exactly the same names.

usage: check-exports.py NM LIBPHYSIM.so physim.map include/physim
"""
import re
import subprocess
import sys
from pathlib import Path


def header_names(incdir):
    names = set()
    for h in sorted(Path(incdir).glob("*.h")):
        text = h.read_text()
        # A declaration: PHYSIM_API <type...> [*]name(  (possibly over lines).
        for m in re.finditer(r"PHYSIM_API\s+([^;{]*?)\b(physim_\w+)\s*\(", text, re.S):
            names.add(m.group(2))
    return names


def map_names(mapfile):
    """The names of every version node's global: list (docs/versioning.md:
    each minor release that adds functions adds a node)."""
    text = re.sub(r"/\*.*?\*/", "", Path(mapfile).read_text(), flags=re.S)
    names = set()
    for node in re.finditer(r"\{(.*?)\}", text, re.S):
        body = node.group(1)
        if "global:" not in body:
            continue
        glob = body.split("global:", 1)[1].split("local:", 1)[0]
        names |= {n.strip() for n in glob.split(";") if n.strip()}
    return names


def lib_names(nm, lib):
    out = subprocess.run([nm, "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TtDdBbRr":
            names.add(parts[2].split("@")[0])
    # the version nodes themselves (PHYSIM_0, PHYSIM_0.2, ...) show up as
    # absolute symbols
    return {n for n in names if not re.fullmatch(r"PHYSIM_[0-9.]+", n)}


def report(what, a, b):
    ok = True
    for n in sorted(a - b):
        print(f"{what}: {n}")
        ok = False
    return ok


def main():
    nm, lib, mapfile, incdir = sys.argv[1:5]
    h, m, l = header_names(incdir), map_names(mapfile), lib_names(nm, lib)
    ok = True
    ok &= report("declared PHYSIM_API but missing from physim.map", h, m)
    ok &= report("in physim.map but not declared PHYSIM_API", m, h)
    ok &= report("declared but not exported by the library", h, l)
    ok &= report("exported by the library but not declared", l, h)
    print(f"{len(h)} public functions, {len(m)} in the map, {len(l)} exported")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
