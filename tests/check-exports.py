#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that libphysim exports exactly the PHYSIM_API declarations of the
public headers, and that lib/physim.map lists exactly the same names.

usage: check-exports.py NM physim.map include/physim LIB...

Each LIB is libphysim.so (its dynamic symbols must be exactly the map) or
libphysim.a (every name of the map defined there, and every other global
symbol it defines carries the physim_ prefix, so a program linking the
archive cannot clash with it, and has hidden visibility, so a shared library
built from the archive does not export it; visibility is read with readelf
when there is one next to NM or on PATH).
"""
import os
import re
import shutil
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
    text = re.sub(r"/\*.*?\*/", "", Path(mapfile).read_text(), flags=re.S)
    glob = text.split("global:", 1)[1].split("local:", 1)[0]
    return {n.strip() for n in glob.split(";") if n.strip()}


def lib_names(nm, lib):
    out = subprocess.run([nm, "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TtDdBbRr":
            names.add(parts[2].split("@")[0])
    return {n for n in names if n != "PHYSIM_0"}


def archive_symbols(nm, lib):
    """Global symbols defined in the archive's objects."""
    out = subprocess.run([nm, "-g", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        # "ADDRESS TYPE NAME"; member headers ("x.o:") and blank lines skipped.
        if len(parts) == 3 and parts[1] not in "UuwvWV":
            names.add(parts[2])
    return names


def find_readelf(nm):
    """readelf from the same binutils as NM (x86_64-linux-gnu-nm ->
    x86_64-linux-gnu-readelf), else the one on PATH, else None."""
    base = os.path.basename(nm)
    if base.endswith("nm"):
        sibling = os.path.join(os.path.dirname(nm), base[:-2] + "readelf")
        if os.access(sibling, os.X_OK):
            return sibling
    return shutil.which("readelf")


def archive_visibility(readelf, lib):
    """name -> ELF visibility (DEFAULT, HIDDEN, ...) of defined global symbols."""
    out = subprocess.run([readelf, "-sW", lib], check=True,
                         capture_output=True, text=True).stdout
    vis = {}
    for line in out.splitlines():
        # Num: Value Size Type Bind Vis Ndx Name
        parts = line.split()
        if len(parts) >= 8 and parts[4] in ("GLOBAL", "WEAK") and parts[6] != "UND":
            vis[parts[7]] = parts[5]
    return vis


def report(what, a, b):
    ok = True
    for n in sorted(a - b):
        print(f"{what}: {n}")
        ok = False
    return ok


def check_shared(nm, lib, h):
    l = lib_names(nm, lib)
    ok = report(f"{lib}: declared but not exported by the library", h, l)
    ok &= report(f"{lib}: exported by the library but not declared", l, h)
    print(f"{lib}: {len(l)} exported")
    return ok


def check_static(nm, lib, h):
    defined = archive_symbols(nm, lib)
    internal = defined - h
    ok = report(f"{lib}: declared but not defined in the archive", h, defined)
    for n in sorted(internal):
        if not n.startswith("physim_"):
            print(f"{lib}: global symbol without the physim_ prefix: {n}")
            ok = False
    readelf = find_readelf(nm)
    if readelf is None:
        print(f"{lib}: no readelf, visibility not checked")
    else:
        vis = archive_visibility(readelf, lib)
        for n in sorted(internal):
            if vis.get(n, "HIDDEN") != "HIDDEN":
                print(f"{lib}: internal symbol not hidden ({vis[n]}): {n}")
                ok = False
        for n in sorted(h & defined):
            if vis.get(n, "DEFAULT") != "DEFAULT":
                print(f"{lib}: public symbol not default visibility ({vis[n]}): {n}")
                ok = False
    print(f"{lib}: {len(h & defined)} public, {len(internal)} internal")
    return ok


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    nm, mapfile, incdir, libs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    h, m = header_names(incdir), map_names(mapfile)
    ok = True
    ok &= report("declared PHYSIM_API but missing from physim.map", h, m)
    ok &= report("in physim.map but not declared PHYSIM_API", m, h)
    for lib in libs:
        if lib.endswith(".a"):
            ok &= check_static(nm, lib, h)
        else:
            ok &= check_shared(nm, lib, h)
    print(f"{len(h)} public functions, {len(m)} in the map, {len(libs)} libraries checked")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
