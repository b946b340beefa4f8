#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""docs/man/check-man-page.py - lint one hand-written manual page and check
it against the program it documents:

  * groff -z -ww -man accepts it without a single warning (skipped, exit 77,
    when groff is not installed: `tools/bootstrap --ci` installs it);
  * it has .TH and the sections NAME, SYNOPSIS, DESCRIPTION, OPTIONS,
    EXIT STATUS, EXAMPLES and SEE ALSO;
  * its .TH names the version that `PROGRAM --version` prints;
  * every option that `PROGRAM --help` (and `PROGRAM COMMAND --help` for each
    COMMAND given) prints appears in it.

usage: check-man-page.py MANPAGE PROGRAM [COMMAND...]
"""
import re
import shutil
import subprocess
import sys

SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "EXAMPLES",
            "SEE ALSO"]
# an option in a usage text: --long-name or -x, not part of a longer word
OPTION = re.compile(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*[a-z0-9]|-[a-zA-Z])(?![\w-])")


def plain_text(troff):
    """The page's source with escapes that hide option names undone:
    \\- (minus), \\f fonts, \\& and \\c."""
    t = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", troff)
    return t.replace("\\-", "-").replace("\\&", "").replace("\\c", "")


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    page, prog, commands = sys.argv[1], sys.argv[2], sys.argv[3:]
    problems = []
    with open(page, encoding="utf-8") as f:
        source = f.read()
    text = plain_text(source)

    groff = shutil.which("groff")
    if groff is None:
        print("SKIP: groff not found (package groff-base)")
        return 77
    p = subprocess.run([groff, "-z", "-ww", "-man", page], capture_output=True, text=True)
    if p.returncode != 0 or p.stderr:
        problems.append(f"groff -z -ww -man: exit {p.returncode}: {p.stderr.strip()}")

    th = re.search(r"^\.TH +(\S+) +(\d)\b(.*)$", source, re.M)
    if th is None:
        problems.append("no .TH line")
    for name in SECTIONS:
        if not re.search(rf"^\.SH +\"?{name}\"?\s*$", source, re.M):
            problems.append(f"no .SH {name}")

    v = subprocess.run([prog, "--version"], capture_output=True, text=True, timeout=60)
    m = re.search(r"\(physim\) (\S+)$", v.stdout.strip())
    if v.returncode != 0 or m is None:
        problems.append(f"{prog} --version: exit {v.returncode}, {v.stdout!r}")
    elif th is not None and f"physim {m.group(1)}" not in th.group(3):
        problems.append(f".TH says {th.group(3).strip()!r}, --version says {m.group(1)}")

    options = set()
    for args in [["--help"]] + [[c, "--help"] for c in commands]:
        h = subprocess.run([prog, *args], capture_output=True, text=True, timeout=60)
        if h.returncode != 0 or not h.stdout.startswith("usage:"):
            problems.append(f"{prog} {' '.join(args)}: exit {h.returncode}")
        options |= set(OPTION.findall(h.stdout))
    for c in commands:
        if not re.search(rf"(?<![\w-]){re.escape(c)}(?![\w-])", text):
            problems.append(f"command {c} not in the page")
    for opt in sorted(options):
        if not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text):
            problems.append(f"option {opt} (from --help) not in the page")
    if not options:
        problems.append("no options found in --help")

    for msg in problems:
        print(f"FAIL: {page}: {msg}")
    print(f"{page}: {len(options)} options checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
