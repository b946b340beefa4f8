#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/qemu/run-oracle.py - differential test of physim's translation
against QEMU's page walk, for one table format (or a stage-1 format nested
over a stage-2 format).

For each seed: oracle-gen builds random tables with physim and saves the RAM
image; QEMU (machine `none`, RAM at physical 0) loads the image at the RAM
base, stopped; this script sets the paging registers through QEMU's gdbstub
(rsp.py, no gdb binary) and asks `gva2gpa` (monitor command over qRcmd) for
every test address; each answer is compared with physim's page-table query
and, where the format has walker rules, with physim's walker. The method and
QEMU 7.2's known deviations are described in README.md next to this file.

usage: run-oracle.py --gen PATH/oracle-gen --format F [--s2 F2]
                     [--seeds N] [--seed S] [--queries N]
                     [--mutation-runs N] [--mutations N] [--keep]

A run with a mismatch keeps its files (RAM image, oracle-gen output, QEMU
log) and the script prints the command that repeats exactly that run.

Exit status: 0 all equal, 1 a mismatch or an error, 77 QEMU is not installed
(skip) - except when the environment has CI=true: then a missing QEMU is a
failure, so CI cannot pass without running these tests.
Environment: PHYSIM_QEMU_SEED is the first seed unless --seed gives one;
PHYSIM_QEMU_BINDIR
names the directory holding qemu-system-* (default: PATH).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rsp import RspClient, RspError  # noqa: E402

SCRATCH = 0x1000   # instruction stubs and the x86 GDT live below physim's RAM
MAX_REPORTED = 20  # mismatches printed per run


class Failure(Exception):
    pass


# ---- which QEMU ----

def family(fmt):
    if fmt.startswith(("x86_64", "i386")):
        return "x86"
    if fmt in ("sv32", "sv32x4"):
        return "riscv32"
    if fmt.startswith("sv"):
        return "riscv64"
    if fmt.startswith("aarch64"):
        return "aarch64"
    raise Failure(f"no QEMU setup for format {fmt}")


QEMU_BINARY = {"x86": "qemu-system-x86_64", "riscv64": "qemu-system-riscv64",
               "riscv32": "qemu-system-riscv32", "aarch64": "qemu-system-aarch64"}


def find_qemu(fam):
    name = QEMU_BINARY[fam]
    bindir = os.environ.get("PHYSIM_QEMU_BINDIR")
    if bindir:
        path = os.path.join(bindir, name)
        return path if os.access(path, os.X_OK) else None
    return shutil.which(name)


def cpu_args(fam, stage2):
    if fam == "x86":
        return ["-cpu", "max,apic-id=0"]
    if fam in ("riscv64", "riscv32"):
        # PMP present but empty would make every S-mode walk fail; H for
        # G-stage; Svpbmt so PBMT bits in leaves are not reserved (RV64 only).
        cpu = "rv64,pmp=false,h=true,svpbmt=on,svnapot=on" if fam == "riscv64" else "rv32,pmp=false,h=true"
        return ["-cpu", cpu]
    # AArch64: EL2 only when stage 2 is used; no EL3 (reset lands in EL1 or EL2).
    return ["-cpu", "max,has_el3=off,has_el2=" + ("on" if stage2 else "off")]


class Qemu:
    """A stopped QEMU with the image loaded and a gdbstub on a unix socket."""

    def __init__(self, binary, fam, stage2, image, ram_base, ram_size, tmp):
        ram_mb = (ram_base + ram_size + (1 << 20) - 1) >> 20
        # a unix socket path must fit sun_path (108 bytes): a long $TMPDIR
        # gets a short directory of its own for it
        self.sock_dir = None if len(tmp) < 90 else tempfile.mkdtemp(prefix="pq-", dir="/tmp")
        sock = os.path.join(self.sock_dir or tmp, "gdb.sock")
        self.log_path = os.path.join(tmp, "qemu.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "-M", "none,memory-backend=ram0", "-accel", "tcg",
             "-object", f"memory-backend-ram,id=ram0,size={ram_mb}M,reserve=off",
             "-m", f"{ram_mb}M", *cpu_args(fam, stage2),
             "-S", "-nodefaults", "-no-user-config", "-display", "none",
             "-monitor", "none", "-serial", "none",
             "-chardev", f"socket,id=gdb0,path={sock},server=on,wait=off",
             "-gdb", "chardev:gdb0",
             "-device", f"loader,file={image},addr={ram_base:#x},force-raw=on"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.gdb = None
        try:
            self._wait_for(sock)
            self.gdb = RspClient(sock, timeout=30)
        except (RspError, Failure) as e:
            exited = self._exited()
            self.close()
            raise exited or e

    def _exited(self):
        """A Failure with QEMU's own message if it has exited (an option this
        QEMU does not know, say), else None."""
        try:
            self.proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            return None
        self.log.flush()
        with open(self.log_path) as f:
            return Failure(f"QEMU exited ({self.proc.returncode}): {f.read().strip()}")

    def _wait_for(self, sock):
        deadline = time.monotonic() + 30
        while not os.path.exists(sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise Failure("QEMU did not open its gdb socket")
            time.sleep(0.005)

    def close(self):
        if self.gdb:
            self.gdb.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()
        if self.sock_dir:
            shutil.rmtree(self.sock_dir, ignore_errors=True)


# ---- paging register setup, per architecture ----

def setup_x86(g, fmt, root):
    """SDM Vol. 3A 4.1.1 (paging modes), 2.5 (CR0/CR4), 2.2.1 (EFER)."""
    g.phys_mode()
    cr0_pe, cr0_et, cr0_wp, cr0_pg = 1, 1 << 4, 1 << 16, 1 << 31
    cr4_pse, cr4_pae, cr4_la57 = 1 << 4, 1 << 5, 1 << 12
    efer_lme, efer_lma, efer_nxe = 1 << 8, 1 << 10, 1 << 11
    if fmt.startswith("x86_64"):
        # QEMU truncates CR writes to 32 bits unless CS is a 64-bit code
        # segment: a GDT at physical 0 (GDTR.base is 0 after reset) with a
        # present, readable, DPL-0 code descriptor with L = 1 in slot 1.
        g.write_mem(8, (0x00209A0000000000).to_bytes(8, "little"))
        g.set_reg("efer", efer_lme | efer_lma | efer_nxe)
        g.set_reg("cr0", cr0_pe | cr0_et)
        g.set_reg("cs", 8)
        cr4 = cr4_pae | cr4_pse | (cr4_la57 if fmt == "x86_64-5l" else 0)
    elif fmt == "i386-pae":
        g.set_reg("efer", efer_nxe)
        cr4 = cr4_pae | cr4_pse
    else:
        cr4 = cr4_pse
    g.set_reg("cr4", cr4)
    g.set_reg("cr3", root)
    g.set_reg("cr0", cr0_pg | cr0_wp | cr0_pe | cr0_et)


RV_SATP_MODE = {"sv39": 8, "sv48": 9, "sv57": 10, "sv39x4": 8, "sv48x4": 9, "sv57x4": 10}
PRV_S, PRV_M = 1, 3


def rv_atp(fmt, root):
    """satp / vsatp / hgatp: MODE and PPN (privileged spec, satp and hgatp
    register formats; RV32: MODE is bit 31, PPN bits 21:0)."""
    if fmt in ("sv32", "sv32x4"):
        return (1 << 31) | (root >> 12)
    return (RV_SATP_MODE[fmt] << 60) | (root >> 12)


def setup_riscv(g, fam, fmt, s2fmt, root, s2root):
    g.phys_mode()
    g.set_reg("priv", PRV_M)
    if not fmt.endswith("x4") and s2fmt is None:
        g.set_reg("satp", rv_atp(fmt, root))
        g.set_reg("priv", PRV_S)
        return
    # Two-stage: hgatp holds the G-stage root, vsatp the VS-stage (bare when
    # the format under test is a G-stage format alone). V = 1 has no
    # register: run an mret with MPP = S and MPV = 1 (H extension, mstatus).
    gstage, vs = (fmt, 0) if s2fmt is None else (s2fmt, rv_atp(fmt, root))
    gstage_root = root if s2fmt is None else s2root
    g.set_reg("hgatp", rv_atp(gstage, gstage_root))
    g.set_reg("vsatp", vs)
    g.write_mem(SCRATCH, (0x30200073).to_bytes(4, "little"))  # mret
    target = SCRATCH + 0x100
    g.set_reg("mepc", target)
    mstatus_mpp_s = PRV_S << 11
    if fam == "riscv64":
        # MPV is mstatus bit 39; UXL/SXL (bits 35:32) are read-only.
        g.set_reg("mstatus", mstatus_mpp_s | (1 << 39), mask=~(0xF << 32))
    else:
        g.set_reg("mstatus", mstatus_mpp_s)
        g.set_reg("mstatush", 1 << 7)                    # MPV is mstatush bit 7
    g.set_reg("pc", SCRATCH)
    g.step()
    if g.read_reg("pc") != target or g.read_reg("priv") != PRV_S:
        raise Failure("mret to VS-mode did not happen")


def a64_msr(op0, op1, crn, crm, op2, rt):
    """MSR <sysreg>, Xt (Arm ARM C6, MSR (register))."""
    return 0xD5000000 | op0 << 19 | op1 << 16 | crn << 12 | crm << 8 | op2 << 5 | rt


def a64_mrs(op0, op1, crn, crm, op2, rt):
    return a64_msr(op0, op1, crn, crm, op2, rt) | 1 << 21


SYSREG = {  # (op0, op1, CRn, CRm, op2), Arm ARM D19 / D23 register descriptions
    "SCTLR_EL1": (3, 0, 1, 0, 0), "TTBR0_EL1": (3, 0, 2, 0, 0),
    "TTBR1_EL1": (3, 0, 2, 0, 1), "TCR_EL1": (3, 0, 2, 0, 2),
    "MAIR_EL1": (3, 0, 10, 2, 0), "HCR_EL2": (3, 4, 1, 1, 0),
    "VTTBR_EL2": (3, 4, 2, 1, 0), "VTCR_EL2": (3, 4, 2, 1, 2),
    "SPSR_EL2": (3, 4, 4, 0, 0), "ELR_EL2": (3, 4, 4, 0, 1),
}
A64_ISB = 0xD5033FDF
A64_ERET = 0xD69F03E0
A64_ORR_X30_1 = 0xB24003DE  # orr x30, x30, #1 (N=1, immr=0, imms=0)
A64_GRANULE = {"aarch64-4k-39": (4, 39), "aarch64-4k-48": (4, 48),
               "aarch64-16k-47": (16, 47), "aarch64-64k-48": (64, 48)}
A64_S2 = {"aarch64-s2-4k-40": (40, 1), "aarch64-s2-4k-48": (48, 2)}  # (IPA bits, SL0)
IPS_48 = 5


def a64_tcr(fmt):
    """TCR_EL1 (Arm ARM D19.2): T0SZ = T1SZ = 64 - VA bits, TG0 / TG1 (their
    encodings differ), IPS = 48 bits, EPD0 = EPD1 = 0, TBI off, walks
    inner-shareable write-back."""
    kb, bits = A64_GRANULE[fmt]
    tg0 = {4: 0, 64: 1, 16: 2}[kb]
    tg1 = {16: 1, 4: 2, 64: 3}[kb]
    cache = 1 << 8 | 1 << 10 | 3 << 12           # IRGN0, ORGN0, SH0
    return ((64 - bits) | cache | tg0 << 14 | (64 - bits) << 16 | cache << 16 |
            tg1 << 30 | IPS_48 << 32)


def a64_vtcr(fmt):
    """VTCR_EL2 (Arm ARM D19.2): T0SZ, SL0 (4K granule: 1 = start at level 1,
    2 = level 0), TG0 = 4K, PS = 48 bits, bit 31 RES1."""
    bits, sl0 = A64_S2[fmt]
    return (64 - bits) | sl0 << 6 | 1 << 8 | 1 << 10 | 3 << 12 | IPS_48 << 16 | 1 << 31


def run_stub(g, insns, xregs):
    """Write the instructions at SCRATCH, load x0.. and single-step them,
    checking that each one ran (the PC moved on)."""
    code = b"".join(i.to_bytes(4, "little") for i in insns)
    g.write_mem(SCRATCH, code)
    for n, v in enumerate(xregs):
        g.set_reg(f"x{n}", v)
    g.set_reg("pc", SCRATCH)
    for k, insn in enumerate(insns):
        g.step()
        pc = g.read_reg("pc")
        if insn != A64_ERET and pc != SCRATCH + 4 * (k + 1):
            raise Failure(f"AArch64 stub: instruction {k} ({insn:#010x}) did not complete, pc={pc:#x}")


def setup_aarch64(g, fmt, s2fmt, root, root_hi, s2root):
    # System-register writes through the gdbstub are ignored: MSR stubs.
    g.phys_mode()
    insns, xregs = [], []

    def msr(reg, value):
        insns.append(a64_msr(*SYSREG[reg], len(xregs)))
        xregs.append(value)

    stage1 = fmt in A64_GRANULE
    s2 = fmt if fmt in A64_S2 else s2fmt
    if s2:
        msr("VTCR_EL2", a64_vtcr(s2))
        msr("VTTBR_EL2", (root if s2fmt is None else s2root))   # VMID 0
        msr("HCR_EL2", 1 | 1 << 31)                            # VM, RW (EL1 is AArch64)
    if stage1:
        # MAIR: index 0 Normal WB, 1 Device-nGnRE, 2 Normal NC (the convention
        # physim's AArch64 formats document).
        msr("MAIR_EL1", 0x4404FF)
        msr("TCR_EL1", a64_tcr(fmt))
        msr("TTBR0_EL1", root)
        msr("TTBR1_EL1", root_hi)
        insns.append(A64_ISB)
        # SCTLR_EL1.M = 1 last, keeping the other reset bits. At EL1 nothing
        # may follow: the next fetch would be translated.
        insns += [a64_mrs(*SYSREG["SCTLR_EL1"], 30), A64_ORR_X30_1,
                  a64_msr(*SYSREG["SCTLR_EL1"], 30)]
    if s2:
        # Drop to EL1h with DAIF masked (SPSR_EL2.M = 0b0101).
        insns.append(a64_msr(*SYSREG["SPSR_EL2"], len(xregs)))
        xregs.append(0x3C5)
        insns.append(a64_msr(*SYSREG["ELR_EL2"], len(xregs)))
        xregs.append(SCRATCH + 0x800)
        insns += [A64_ISB, A64_ERET]
    run_stub(g, insns, xregs)
    if s2 and (g.read_reg("pc") != SCRATCH + 0x800 or g.read_reg("cpsr") & 0xF != 5):
        raise Failure("eret to EL1 did not happen")


# ---- one run ----

def parse_gen_output(text):
    info, queries = {}, []
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "q":
            # q VA QUERY WALK GPA [NOTE...]
            queries.append((int(f[1], 16), f[2], f[3], None if f[4] == "-" else f[4],
                            " ".join(f[5:]) or None))
        else:
            info[f[0]] = f[1]
    return info, queries


def parse_answer(text):
    """gva2gpa prints `gpa: 0x...` (a PA of 0 as `gpa: 0`) or `Unmapped`."""
    t = text.strip()
    if t == "Unmapped":
        return "-"
    if t.startswith("gpa: "):
        return hex(int(t[5:], 16))
    raise Failure(f"unexpected gva2gpa output {text!r}")


def norm(physim_answer):
    return physim_answer if physim_answer in ("-", "n/a") else hex(int(physim_answer, 16))


def data_end(path, limit):
    """End of the last data extent below `limit` (SEEK_DATA / SEEK_HOLE;
    `limit` where the file system cannot tell)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        end, off = 0, 0
        while off < limit:
            try:
                start = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:   # ENXIO: no data after off
                break
            if start >= limit:
                break
            off = os.lseek(fd, start, os.SEEK_HOLE)
            end = min(off, limit)
        return end
    except (AttributeError, OSError):
        return limit
    finally:
        os.close(fd)


def trimmed_image(image, ram_size, out):
    """The RAM bytes of a physim image up to the last non-hole (physim_ram_save
    writes zero frames as holes), without the trailer: what QEMU's loader
    copies into its RAM. Keeps QEMU start-up cheap whatever the RAM size."""
    n = data_end(image, ram_size)
    with open(image, "rb") as src, open(out, "wb") as dst:
        dst.write(src.read(n) if n else b"\0")
    return out


def describe(fmt, s2fmt):
    return fmt if s2fmt is None else f"{fmt} over {s2fmt}"


def run_seed(args, fam, qemu_bin, seed, mutations, stats):
    tmp = tempfile.mkdtemp(prefix="physim-qemu-")
    bad = False
    try:
        image = os.path.join(tmp, "ram.img")
        cmd = [args.gen, "--format", args.format, "--seed", str(seed),
               "--queries", str(args.queries), "--image", image,
               "--mutations", str(mutations)]
        if args.s2:
            cmd += ["--s2", args.s2]
        gen = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if gen.returncode != 0:
            raise Failure(f"oracle-gen failed ({gen.returncode}): {gen.stderr.strip()}")
        with open(os.path.join(tmp, "oracle-gen.out"), "w") as f:
            f.write(gen.stdout)
        info, queries = parse_gen_output(gen.stdout)
        num = lambda k: int(info[k], 16)  # noqa: E731
        stage2 = args.s2 is not None or "x4" in args.format or "-s2-" in args.format
        raw = trimmed_image(image, num("ram_size"), os.path.join(tmp, "ram.bin"))
        q = Qemu(qemu_bin, fam, stage2, raw, num("ram_base"), num("ram_size"), tmp)
        try:
            g = q.gdb
            if fam == "x86":
                setup_x86(g, args.format, num("root"))
            elif fam.startswith("riscv"):
                setup_riscv(g, fam, args.format, args.s2, num("root"), num("s2root"))
            else:
                setup_aarch64(g, args.format, args.s2, num("root"), num("root_hi"), num("s2root"))
            t0 = time.monotonic()
            answers = g.query_many([f"gva2gpa {va:#x}" for va, *_ in queries])
            stats["qemu_seconds"] += time.monotonic() - t0
        finally:
            q.close()
        bad = compare(args, seed, info, queries, answers, stats)
        if bad:
            stats["repeat"].append(repeat_command(args, seed, mutations))
    finally:
        if args.keep or bad:
            print(f"seed {seed}: files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def repeat_command(args, seed, mutations):
    runs = (f"--seeds 0 --mutation-runs 1 --mutations {mutations}" if mutations
            else "--seeds 1 --mutation-runs 0")
    s2 = f" --s2 {args.s2}" if args.s2 else ""
    return (f"{sys.argv[0]} --gen {args.gen} --format {args.format}{s2} --seed {seed} "
            f"--queries {args.queries} {runs} --keep")


def compare(args, seed, info, queries, answers, stats):
    """Count and report the mismatches; True if there was one."""
    what = describe(args.format, args.s2)
    before = stats["reported"]
    stats["walker"] = stats["walker"] or info.get("walker") == "yes"
    for (va, pq, pw, gpa, note), raw in zip(queries, answers):
        qemu = parse_answer(raw)
        pq, pw = norm(pq), norm(pw)
        stats["compared"] += 1
        stats["mapped"] += qemu != "-"
        bad = []
        if pq != "n/a":
            stats["query_compared"] += 1
            if pq != qemu:
                bad.append("query")
                stats["query_mismatches"] += 1
        if pw != "n/a":
            stats["walk_compared"] += 1
            if pw != qemu:
                bad.append("walk")
                stats["walk_mismatches"] += 1
        if bad:
            stats["reported"] += 1
            if stats["reported"] <= MAX_REPORTED:
                via = f" (stage-1 output {gpa})" if gpa else ""
                why = f" [mutated: {note}]" if note else ""
                print(f"MISMATCH ({'+'.join(bad)}) format={what} seed={seed} va={va:#x} "
                      f"physim-query={pq}{via} physim-walk={pw} qemu={qemu}{why}")
    return stats["reported"] > before


def new_stats():
    return dict(compared=0, mapped=0, query_compared=0, query_mismatches=0,
                walk_compared=0, walk_mismatches=0, reported=0, walker=False,
                qemu_seconds=0.0, repeat=[])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gen", required=True, help="path to oracle-gen")
    ap.add_argument("--format", required=True)
    ap.add_argument("--s2", help="stage-2 format: test --format nested over it")
    ap.add_argument("--seeds", type=int, default=3, help="runs, each with its own tables")
    ap.add_argument("--seed", type=int,
                    help="first seed (default: $PHYSIM_QEMU_SEED, else 1)")
    ap.add_argument("--queries", type=int, default=3000, help="addresses per run")
    ap.add_argument("--mutation-runs", type=int,
                    help="further runs with mutated descriptors, walker only "
                    "(default 2, nested 3)")
    ap.add_argument("--mutations", type=int,
                    help="descriptors mutated per mutation run (default 50, nested 25: "
                    "a nested walk passes more tables, each mutation hides more)")
    ap.add_argument("--keep", action="store_true", help="keep images and QEMU logs")
    args = ap.parse_args()
    if args.mutation_runs is None:
        args.mutation_runs = 3 if args.s2 else 2
    if args.mutations is None:
        args.mutations = 25 if args.s2 else 50
    first = args.seed if args.seed is not None else int(os.environ.get("PHYSIM_QEMU_SEED", 1))
    what = describe(args.format, args.s2)
    try:
        fam = family(args.format)
        qemu_bin = find_qemu(fam)
        if qemu_bin is None:
            msg = f"{QEMU_BINARY[fam]} not found (Debian: tools/bootstrap --ci installs it)"
            if os.environ.get("CI") == "true":
                print(f"FAIL: {msg}; CI=true, so the QEMU tests may not be skipped")
                return 1
            print(f"SKIP: {msg}")
            return 77
        stats, mstats = new_stats(), new_stats()
        for seed in range(first, first + args.seeds):
            run_seed(args, fam, qemu_bin, seed, 0, stats)
        last = first + args.seeds
        # mutated descriptors: only the walker can answer (see oracle-gen.c)
        for seed in range(last, last + args.mutation_runs):
            run_seed(args, fam, qemu_bin, seed, args.mutations, mstats)
    except (Failure, RspError, subprocess.TimeoutExpired, OSError) as e:
        print(f"ERROR: {what}: {e}")
        return 1
    walk = (f"walker: {stats['walk_compared']} compared, {stats['walk_mismatches']} mismatches"
            if stats["walker"] else "walker: no rules for this format yet")
    if stats["compared"]:
        print(f"{what}: seeds {first}..{first + args.seeds - 1}, {stats['compared']} addresses "
              f"compared ({stats['mapped']} mapped in QEMU); pt_query: "
              f"{stats['query_compared']} compared, {stats['query_mismatches']} mismatches; "
              f"{walk}; {stats['compared'] / max(stats['qemu_seconds'], 1e-9):.0f} QEMU queries/s")
    if mstats["walk_compared"]:
        print(f"{what}: mutated tables, seeds {last}..{last + args.mutation_runs - 1} "
              f"({args.mutations} descriptors each): {mstats['compared']} addresses compared "
              f"({mstats['mapped']} mapped in QEMU); walker: {mstats['walk_compared']} "
              f"compared, {mstats['walk_mismatches']} mismatches")
    repeat = stats["repeat"] + mstats["repeat"]
    if repeat:
        print("repeat a failing run with:")
        for cmd in repeat:
            print("  " + cmd)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
