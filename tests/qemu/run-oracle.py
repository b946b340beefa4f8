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

usage: run-oracle.py --gen PATH/oracle-gen --format F [--s2 F2] [--regime el20]
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
import random
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


def cpu_args(fam, el2):
    if fam == "x86":
        return ["-cpu", "max,apic-id=0"]
    if fam in ("riscv64", "riscv32"):
        # PMP present but empty would make every S-mode walk fail; H for
        # G-stage; Svpbmt so PBMT bits in leaves are not reserved (RV64 only).
        cpu = "rv64,pmp=false,h=true,svpbmt=on,svnapot=on" if fam == "riscv64" else "rv32,pmp=false,h=true"
        return ["-cpu", cpu]
    # AArch64: EL2 only when stage 2 or an EL2 regime is used; no EL3 (reset
    # lands in EL1 or EL2).
    return ["-cpu", "max,has_el3=off,has_el2=" + ("on" if el2 else "off")]


class Qemu:
    """A stopped QEMU with the image loaded and a gdbstub on a unix socket."""

    def __init__(self, binary, fam, el2, image, ram_base, ram_size, tmp):
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
             "-m", f"{ram_mb}M", *cpu_args(fam, el2),
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
    "SCTLR_EL2": (3, 4, 1, 0, 0), "TTBR0_EL2": (3, 4, 2, 0, 0),
    "TTBR1_EL2": (3, 4, 2, 0, 1), "TCR_EL2": (3, 4, 2, 0, 2),
    "MAIR_EL2": (3, 4, 10, 2, 0),
    "ID_AA64MMFR0_EL1": (3, 0, 0, 7, 0),
}
A64_ISB = 0xD5033FDF
A64_ERET = 0xD69F03E0
A64_ORR_X30_1 = 0xB24003DE  # orr x30, x30, #1 (N=1, immr=0, imms=0)
A64_GRANULE = {"aarch64-4k-39": (4, 39), "aarch64-4k-48": (4, 48),
               "aarch64-16k-47": (16, 47), "aarch64-64k-48": (64, 48),
               "aarch64-4k-52": (4, 52), "aarch64-16k-52": (16, 52), "aarch64-64k-52": (64, 52)}
# EL2 regime formats (HCR_EL2.E2H = 0): the EL1&0 geometry under TCR_EL2
A64_EL2 = {"aarch64-el2-" + f[len("aarch64-"):]: g for f, g in A64_GRANULE.items()
           if not f.endswith("-52")}
# (IPA bits, SL0, SL2): "aarch64-s2-4k-52" starts at lookup level -1 (SL2 = 1,
# SL0 = 0 with DS = 1)
A64_S2 = {"aarch64-s2-4k-40": (40, 1, 0), "aarch64-s2-4k-48": (48, 2, 0),
          "aarch64-s2-4k-52": (52, 0, 1)}
IPS_48 = 5
IPS_52 = 6  # 0b110 (FEAT_LPA / FEAT_LPA2)


def a64_52(bits, kb):
    """{I}PS and DS of a format: a 52-bit format has a 52-bit output; the 4K
    and 16K granules need DS = 1 (FEAT_LPA2 layout) for it, 64K (FEAT_LPA)
    has no DS."""
    if bits != 52:
        return IPS_48, 0
    return IPS_52, (0 if kb == 64 else 1)


def a64_tcr(fmt):
    """TCR_EL1 (Arm ARM D19.2): T0SZ = T1SZ = 64 - VA bits, TG0 / TG1 (their
    encodings differ), IPS = 48 bits, EPD0 = EPD1 = 0, TBI off, walks
    inner-shareable write-back."""
    kb, bits = A64_GRANULE[fmt]
    tg0 = {4: 0, 64: 1, 16: 2}[kb]
    tg1 = {16: 1, 4: 2, 64: 3}[kb]
    ips, ds = a64_52(bits, kb)
    cache = 1 << 8 | 1 << 10 | 3 << 12           # IRGN0, ORGN0, SH0
    return ((64 - bits) | cache | tg0 << 14 | (64 - bits) << 16 | cache << 16 |
            tg1 << 30 | ips << 32 | ds << 59)


def a64_tcr_el2(fmt):
    """TCR_EL2 with HCR_EL2.E2H = 0 (Arm ARM D19.2, TCR_EL2): one range,
    T0SZ, TG0 (the TCR_EL1 TG0 encoding), PS = 48 bits in bits 18:16,
    walks inner-shareable write-back, bits 31 and 23 RES1."""
    kb, bits = A64_EL2[fmt]
    tg0 = {4: 0, 64: 1, 16: 2}[kb]
    return ((64 - bits) | 1 << 8 | 1 << 10 | 3 << 12 | tg0 << 14 | IPS_48 << 16 |
            1 << 23 | 1 << 31)


HCR_E2H = 1 << 34
HCR_TGE = 1 << 27
HCR_RW = 1 << 31


def a64_vtcr(fmt):
    """VTCR_EL2 (Arm ARM D19.2): T0SZ, SL0 (4K granule: 1 = start at level 1,
    2 = level 0), TG0 = 4K, PS = 48 or 52 bits, bit 31 RES1, DS (bit 32) and
    SL2 (bit 33) for the 52-bit format."""
    bits, sl0, sl2 = A64_S2[fmt]
    ps, ds = a64_52(bits, 4)
    return ((64 - bits) | sl0 << 6 | 1 << 8 | 1 << 10 | 3 << 12 | ps << 16 | 1 << 31 |
            ds << 32 | sl2 << 33)


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


def setup_aarch64_el2(g, fmt, regime, root, root_hi):
    """Stay at EL2 (where reset leaves a CPU with EL2 and no EL3) and turn on
    the EL2 regime (E2H = 0: MAIR_EL2, TCR_EL2, TTBR0_EL2) or, for
    regime "el20", the EL2&0 regime (HCR_EL2.E2H = TGE = 1; TCR_EL2 then has
    the TCR_EL1 layout, TTBR0_EL2 and TTBR1_EL2); SCTLR_EL2.M last.
    gva2gpa walks the current regime (QEMU 7.2 arm_cpu_get_phys_page_attrs_debug
    uses the current MMU index: E2, or E20_2 with E2H and TGE set)."""
    g.phys_mode()
    if g.read_reg("cpsr") & 0xC != 0x8:
        raise Failure("the CPU does not start at EL2")
    insns, xregs = [], []

    def msr(reg, value):
        insns.append(a64_msr(*SYSREG[reg], len(xregs)))
        xregs.append(value)

    if regime == "el20":
        msr("HCR_EL2", HCR_E2H | HCR_TGE | HCR_RW)
        insns.append(A64_ISB)
        msr("TCR_EL2", a64_tcr(fmt))
        msr("TTBR1_EL2", root_hi)
    else:
        msr("TCR_EL2", a64_tcr_el2(fmt))
    msr("MAIR_EL2", 0x4404FF)
    msr("TTBR0_EL2", root)
    insns.append(A64_ISB)
    insns += [a64_mrs(*SYSREG["SCTLR_EL2"], 30), A64_ORR_X30_1,
              a64_msr(*SYSREG["SCTLR_EL2"], 30)]
    run_stub(g, insns, xregs)
    if g.read_reg("cpsr") & 0xC != 0x8:
        raise Failure("the stub left EL2")
def check_a64_52(g, fmt):
    """The CPU must implement what a 52-bit format needs (Arm ARM D19.2
    ID_AA64MMFR0_EL1): PARange (3:0) 0b0110 = 52 bits, and for the DS = 1
    formats TGran4 (31:28) 0b0001 or TGran16 (23:20) 0b0010 = 52-bit
    support (FEAT_LPA2). Read with an MRS stub: a wrong CPU model fails
    here with a clear message instead of with mismatches."""
    if fmt in A64_GRANULE:
        kb, bits = A64_GRANULE[fmt]
    else:
        bits, kb = A64_S2[fmt][0], 4
    if bits != 52:
        return
    run_stub(g, [a64_mrs(*SYSREG["ID_AA64MMFR0_EL1"], 0)], [0])
    mmfr0 = g.read_reg("x0")
    ok = mmfr0 & 0xF == 6
    if kb == 4:
        ok = ok and (mmfr0 >> 28) & 0xF == 1
    elif kb == 16:
        ok = ok and (mmfr0 >> 20) & 0xF == 2
    if not ok:
        raise Failure(f"{fmt}: ID_AA64MMFR0_EL1 = {mmfr0:#x}: no 52-bit support for this granule")


def setup_aarch64(g, fmt, s2fmt, root, root_hi, s2root):
    # System-register writes through the gdbstub are ignored: MSR stubs.
    g.phys_mode()
    for f in (fmt, s2fmt):
        if f is not None:
            check_a64_52(g, f)
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


# ---- instruction fetches at EL2 ----

FETCH_PROBES = 400  # fetches executed per run (each is 4 gdb round trips)


def fetch_answer(g, va):
    """Execute one instruction at va at EL2 (single step) and say what the
    fetch did: `ok`, or the Instruction Abort's fault as KIND@LEVEL from
    ESR_EL2 (EC 0x21; IFSC, Arm ARM D24.2 ISS encoding for an exception from
    an Instruction Abort). A fetch that translated but found no memory
    (IFSC 0x10, synchronous External abort not on a walk), or an
    instruction that ran or raised anything but an Instruction Abort
    (undefined, data abort, ...), means the translation allowed the fetch.
    The exception vector (VBAR_EL2 + 0x200) is not executed: the step stops
    on its entry."""
    g.write_reg("pc", va)
    g.step()
    if g.read_reg("pc") == (va + 4) & ((1 << 64) - 1):
        return "ok"
    esr = g.read_reg("ESR_EL2")
    if esr >> 26 & 0x3F != 0x21:
        return "ok"
    ifsc = esr & 0x3F
    kind = {0x00: "asize", 0x04: "trans", 0x08: "af", 0x0C: "perm", 0x14: "bus"}.get(ifsc & 0x3C)
    if ifsc == 0x10:
        return "ok"
    return f"{kind}@{ifsc & 3}" if kind else f"ifsc={ifsc:#x}"


def pick_fetches(fetches, seed):
    """Up to FETCH_PROBES of the fetch addresses, the first ones (mutation
    targets come first) and then a seeded sample favouring mapped addresses,
    without repeats."""
    seen, out = set(), []
    for va, ans in fetches:
        if va not in seen:
            seen.add(va)
            out.append((va, ans))
    head, rest = out[:FETCH_PROBES // 4], out[FETCH_PROBES // 4:]
    random.Random(seed).shuffle(rest)
    # mapped addresses (anything but a translation fault) first
    rest = ([f for f in rest if not f[1].startswith("trans")] +
            [f for f in rest if f[1].startswith("trans")])
    return head + rest[:FETCH_PROBES - len(head)]


def compare_fetches(args, seed, fetches, answers, stats):
    what = describe(args.format, args.s2)
    bad = False
    for (va, physim), qemu in zip(fetches, answers):
        stats["fetch_compared"] += 1
        stats["fetch_ok"] += qemu == "ok"
        if physim != qemu:
            bad = True
            stats["fetch_mismatches"] += 1
            stats["reported"] += 1
            if stats["reported"] <= MAX_REPORTED:
                print(f"MISMATCH (fetch) format={what} seed={seed} va={va:#x} "
                      f"physim-walk={physim} qemu={qemu}")
    return bad


# ---- one run ----

def parse_gen_output(text, fetches=None):
    info, queries = {}, []
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "x":
            # x VA ok|KIND@LEVEL: the walker on a privileged fetch (--fetch)
            if fetches is not None:
                fetches.append((int(f[1], 16), f[2]))
        elif f[0] == "q":
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
        fetch = args.format in A64_EL2 or args.regime == "el20"
        if fetch:
            cmd += ["--fetch", "1"]
        gen = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if gen.returncode != 0:
            raise Failure(f"oracle-gen failed ({gen.returncode}): {gen.stderr.strip()}")
        with open(os.path.join(tmp, "oracle-gen.out"), "w") as f:
            f.write(gen.stdout)
        fetches = []
        info, queries = parse_gen_output(gen.stdout, fetches)
        fetches = pick_fetches(fetches, seed)
        num = lambda k: int(info[k], 16)  # noqa: E731
        stage2 = args.s2 is not None or "x4" in args.format or "-s2-" in args.format
        el2 = stage2 or args.format in A64_EL2 or args.regime == "el20"
        raw = trimmed_image(image, num("ram_size"), os.path.join(tmp, "ram.bin"))
        q = Qemu(qemu_bin, fam, el2, raw, num("ram_base"), num("ram_size"), tmp)
        try:
            g = q.gdb
            if fam == "x86":
                setup_x86(g, args.format, num("root"))
            elif fam.startswith("riscv"):
                setup_riscv(g, fam, args.format, args.s2, num("root"), num("s2root"))
            elif args.format in A64_EL2 or args.regime == "el20":
                setup_aarch64_el2(g, args.format, args.regime, num("root"), num("root_hi"))
            else:
                setup_aarch64(g, args.format, args.s2, num("root"), num("root_hi"), num("s2root"))
            t0 = time.monotonic()
            answers = g.query_many([f"gva2gpa {va:#x}" for va, *_ in queries])
            stats["qemu_seconds"] += time.monotonic() - t0
            # last: an exception taken here may set PSTATE.PAN (EL2&0)
            fetch_answers = [fetch_answer(g, va) for va, _ in fetches] if fetch else []
        finally:
            q.close()
        bad = compare(args, seed, info, queries, answers, stats)
        bad = compare_fetches(args, seed, fetches, fetch_answers, stats) or bad
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
    s2 += f" --regime {args.regime}" if args.regime else ""
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
                fetch_compared=0, fetch_ok=0, fetch_mismatches=0,
                qemu_seconds=0.0, repeat=[])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gen", required=True, help="path to oracle-gen")
    ap.add_argument("--format", required=True)
    ap.add_argument("--s2", help="stage-2 format: test --format nested over it")
    ap.add_argument("--regime", choices=["el20"],
                    help="el20: walk an EL1&0-format table (TTBR0 and TTBR1) in QEMU's "
                    "EL2&0 regime (HCR_EL2.E2H = TGE = 1) instead of at EL1")
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
    if args.regime and (args.format not in A64_GRANULE or args.s2):
        ap.error("--regime el20 takes an AArch64 EL1&0 stage-1 format and no --s2")
    what = describe(args.format, args.s2) + (" in EL2&0" if args.regime else "")
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
    for label, st in (("", stats), ("mutated tables: ", mstats)):
        if st["fetch_compared"]:
            print(f"{what}: {label}{st['fetch_compared']} instruction fetches executed at EL2 "
                  f"({st['fetch_ok']} allowed by QEMU); walker: {st['fetch_mismatches']} "
                  f"mismatches")
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
