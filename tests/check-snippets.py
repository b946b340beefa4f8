#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Compiles every ```c block of README.md and docs/*.md against physim's
# headers, and links and runs the ones marked to run: the docs stay true.
"""Usage: check-snippets.py --cc CC [--cflag F]... [--lib LIB] [--work DIR]
                            MARKDOWN-FILE-OR-DIR...

A block is the body of a function: the checker puts its `#include` lines
first and the rest inside `int main(void) { ... return 0; }`. An HTML comment
on the line before the opening fence (blank lines between are allowed) says
how a block relates to the others:

  <!-- snippet: continues previous -->  appended to the previous ```c block
                                        of the same file (a chain)
  <!-- snippet: run -->                 the chain is linked against LIB and
                                        run; it must exit 0 (put it on the
                                        first block of the chain)
  <!-- snippet: run on FAMILY -->       the same, but only compiled when
                                        --arch lists families and FAMILY
                                        (e.g. aarch64) is not among them
  <!-- snippet: fragment -->            deliberately not compilable; skipped
                                        and counted
  <!-- snippet: context                 code that the reader does not need
  ...C declarations...                  but the compiler does (declarations
  -->                                   of the example a block quotes); it is
                                        put before main() of the next chain

Every other block must compile by itself. Fences may be indented (blocks
inside list items); the indentation of the fence is removed.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import textwrap

RUN_ON = re.compile(r'^run on ([a-z0-9]+)$')
FENCE = re.compile(r'^(\s*)```(\S*)\s*$')
MARKER = re.compile(r'^\s*<!--\s*snippet:\s*([a-z0-9 ]+?)\s*(-->)?\s*$')


class Block:
    def __init__(self, path, line, code):
        self.path, self.line, self.code = path, line, code
        self.marks = set()
        self.context = ''


def marker_before(lines, i):
    """The snippet markers (and context code) in the comments just above line i."""
    marks, context = set(), ''
    j = i - 1
    while j >= 0 and lines[j].strip() == '':
        j -= 1
    while j >= 0:
        if lines[j].strip().startswith('<!--') and '-->' in lines[j]:
            m = MARKER.match(lines[j])
            if not m:
                break
            marks.add(m.group(1))
        elif lines[j].strip() == '-->':
            # A multi-line context comment: find its opening line.
            k = j - 1
            while k >= 0 and not MARKER.match(lines[k]):
                k -= 1
            if k < 0 or MARKER.match(lines[k]).group(1) != 'context':
                break
            marks.add('context')
            context = textwrap.dedent('\n'.join(lines[k + 1:j])) + '\n' + context
            j = k
        else:
            break
        j -= 1
        while j >= 0 and lines[j].strip() == '':
            j -= 1
    return marks, context


def extract(path):
    """The ```c blocks of one markdown file, with their markers."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2)
        start = i
        i += 1
        body = []
        while i < len(lines) and not re.match(r'^\s*```\s*$', lines[i]):
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        i += 1
        if lang != 'c':
            continue
        b = Block(path, start + 1, '\n'.join(body) + '\n')
        b.marks, b.context = marker_before(lines, start)
        unknown = {m for m in b.marks - {'continues previous', 'run', 'fragment', 'context'}
                   if not RUN_ON.match(m)}
        if unknown:
            sys.exit(f'{path}:{start + 1}: unknown snippet marker {sorted(unknown)}')
        blocks.append(b)
    return blocks


def chains(blocks):
    """Group blocks into chains: a block and the continuations after it."""
    out = []
    for b in blocks:
        if 'continues previous' in b.marks:
            if not out or 'fragment' in out[-1][0].marks:
                sys.exit(f'{b.path}:{b.line}: continues a block that is not there')
            out[-1].append(b)
        else:
            out.append([b])
    return out


def program(chain):
    """One C translation unit for a chain; #line keeps errors on the markdown."""
    includes, context, body = [], [], []
    for b in chain:
        if b.context:
            context.append(b.context)
        body.append(f'#line {b.line + 1} "{b.path}"')
        for line in b.code.split('\n'):
            if line.startswith('#include'):
                includes.append(line)
                body.append('')
            else:
                body.append('\t' + line)
    return ('\n'.join(includes) + '\n\n' + '\n'.join(context) +
            '\nint main(void)\n{\n' + '\n'.join(body) + '\n\treturn 0;\n}\n')


def check(chain, args, work, n):
    head = chain[0]
    where = f'{head.path}:{head.line}' + (f' (+{len(chain) - 1} continued)' if len(chain) > 1 else '')
    src = os.path.join(work, f'snippet{n}.c')
    with open(src, 'w', encoding='utf-8') as f:
        f.write(program(chain))
    run = wants_run(head, args)
    skipped = not run and runs(head)
    exe = os.path.join(work, f'snippet{n}')
    cmd = args.cc + args.cflag + [src]
    if run:
        libdir = os.path.dirname(os.path.abspath(args.lib))
        cmd += ['-o', exe, args.lib, f'-Wl,-rpath,{libdir}']
    else:
        cmd += ['-c', '-o', exe + '.o']
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print(f'FAIL compile {where}\n{p.stdout}{p.stderr}')
        return False
    if run:
        p = subprocess.run([exe], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            print(f'FAIL run {where}: exit status {p.returncode}\n{p.stdout}{p.stderr}')
            return False
    what = 'compiled and ran' if run else 'compiled'
    if skipped:
        what += ' (not run: a family it needs is not built)'
    print(f'ok   {what} {where}')
    return True


def runs(head):
    """Is the chain marked to run (on any family)?"""
    return any(m == 'run' or RUN_ON.match(m) for m in head.marks)


def wants_run(head, args):
    """Run it here: marked run, or run on a family this build has."""
    for m in head.marks:
        if m == 'run':
            return True
        r = RUN_ON.match(m)
        if r and (not args.arch or r.group(1) in args.arch):
            return True
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cc', required=True, action='append',
                    help='compiler command (repeat for each word)')
    ap.add_argument('--cflag', action='append', default=[])
    ap.add_argument('--lib', help='the shared library to link blocks marked run with')
    ap.add_argument('--work', help='directory for the generated sources (default: a temporary one)')
    ap.add_argument('--arch', action='append', default=[],
                    help='an architecture family the library was built with (repeat); '
                    'none given: every family')
    ap.add_argument('markdown', nargs='+')
    args = ap.parse_args()

    paths = []
    for path in args.markdown:  # a directory stands for its *.md files
        if os.path.isdir(path):
            paths += sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith('.md'))
        else:
            paths.append(path)
    all_chains, fragments = [], 0
    for path in paths:
        for c in chains(extract(path)):
            if 'fragment' in c[0].marks:
                fragments += 1
                print(f'skip fragment {c[0].path}:{c[0].line}')
            else:
                all_chains.append(c)
    if any(runs(c[0]) for c in all_chains) and not args.lib:
        sys.exit('blocks are marked to run but no --lib was given')

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or tmp
        os.makedirs(work, exist_ok=True)
        failed = sum(not check(c, args, work, n) for n, c in enumerate(all_chains))
    nblocks = sum(len(c) for c in all_chains)
    nrun = sum(wants_run(c[0], args) for c in all_chains)
    print(f'{nblocks} blocks in {len(all_chains)} programs ({nrun} run), '
          f'{fragments} fragments skipped, {failed} failed')
    return 1 if failed or not all_chains else 0


if __name__ == '__main__':
    sys.exit(main())
