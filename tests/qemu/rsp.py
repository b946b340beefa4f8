# SPDX-License-Identifier: MIT
"""tests/qemu/rsp.py - a small client for the gdb remote serial protocol, as
QEMU's gdbstub speaks it over a unix socket: target description, register
read/write, physical memory writes, single steps and pipelined monitor
commands (qRcmd). No gdb binary is involved.

Protocol reference: the GDB manual, appendix "Remote Protocol" (packets
$data#checksum, '}' escapes in binary replies, qXfer, QStartNoAckMode, qRcmd
with O-packet console output)."""
import re
import socket
import threading
import time

__all__ = ["RspClient", "RspError"]


class RspError(Exception):
    pass


def _checksum(data):
    return sum(data) & 0xFF


def _unescape(data):
    """Binary replies escape '#', '$', '}' and '*' as '}' followed by the
    byte XOR 0x20; run-length encoding ('*') is not used by QEMU for the
    packets read here, so it is refused rather than guessed."""
    out = bytearray()
    i = 0
    while i < len(data):
        c = data[i]
        if c == 0x7D:
            i += 1
            out.append(data[i] ^ 0x20)
        elif c == 0x2A:
            raise RspError("run-length encoded reply not supported")
        else:
            out.append(c)
        i += 1
    return bytes(out)


class RspClient:
    """One connection to a stopped QEMU. Every call waits for its reply
    except query_many, which pipelines.

    Acknowledgements: QEMU 7.2 does not offer QStartNoAckMode, so it sends
    '+' for every packet it receives; those are skipped when reading (a '-'
    is an error). Its system-mode gdbstub never waits for our '+' (only the
    user-mode one does), which is what makes pipelining possible; single
    calls still acknowledge every reply, as the protocol asks."""

    def __init__(self, sock_path, timeout=10.0):
        self.sock = self._connect(sock_path, timeout)
        self.buf = bytearray()
        self.regs = {}       # name -> (number, bitsize)
        self._handshake()

    @staticmethod
    def _connect(path, timeout):
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                s.settimeout(timeout)
                return s
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if time.monotonic() > deadline:
                    raise RspError(f"cannot connect to {path}")
                time.sleep(0.01)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- framing ----

    def _fill(self):
        try:
            chunk = self.sock.recv(1 << 16)
        except OSError as e:
            raise RspError(f"reading from QEMU: {e}")
        if not chunk:
            raise RspError("connection closed by QEMU")
        self.buf += chunk

    @staticmethod
    def _frame(payload):
        if isinstance(payload, str):
            payload = payload.encode()
        return b"$" + payload + b"#" + b"%02x" % _checksum(payload)

    def send_packet(self, payload):
        self.sock.sendall(self._frame(payload))

    def recv_packet(self, ack=True):
        """The next packet's payload (bytes, still escaped)."""
        while True:
            start = self.buf.find(b"$")
            if self.buf.find(b"-", 0, start if start >= 0 else len(self.buf)) >= 0:
                raise RspError("QEMU rejected a packet (bad checksum)")
            if start >= 0:
                end = self.buf.find(b"#", start)
                if end >= 0 and len(self.buf) >= end + 3:
                    payload = bytes(self.buf[start + 1:end])
                    csum = int(self.buf[end + 1:end + 3], 16)
                    del self.buf[:end + 3]
                    if csum != _checksum(payload):
                        raise RspError("bad checksum from QEMU")
                    if ack:
                        self.sock.sendall(b"+")
                    return payload
            self._fill()

    def command(self, payload):
        self.send_packet(payload)
        return self.recv_packet()

    # ---- setup ----

    def _handshake(self):
        self.command("qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+")
        self._read_target_description()

    def _xfer(self, annex):
        data = b""
        while True:
            reply = self.command(f"qXfer:features:read:{annex}:{len(data):x},ffb")
            if not reply or reply[:1] not in (b"l", b"m"):
                raise RspError(f"qXfer {annex}: {reply!r}")
            data += _unescape(reply[1:])
            if reply[:1] == b"l":
                return data.decode()

    def _read_target_description(self):
        """Number the registers as gdb does: in document order through the
        includes, honouring regnum=. QEMU refuses P packets until the
        description has been read. XML comments are stripped first (the x86
        description has commented-out <reg> lines)."""
        number = 0
        todo = ["target.xml"]
        seen = set()
        while todo:
            annex = todo.pop(0)
            if annex in seen:
                continue
            seen.add(annex)
            xml = re.sub(r"<!--.*?-->", "", self._xfer(annex), flags=re.S)
            for tag in re.finditer(r"<(reg|xi:include)\b([^>]*)>", xml):
                attrs = dict(re.findall(r'(\w+)="([^"]*)"', tag.group(2)))
                if tag.group(1) == "xi:include":
                    todo.append(attrs["href"])
                    continue
                if "regnum" in attrs:
                    number = int(attrs["regnum"])
                self.regs[attrs["name"]] = (number, int(attrs["bitsize"]))
                number += 1

    # ---- registers and memory ----

    def _reg(self, name):
        if name not in self.regs:
            raise RspError(f"no register {name}")
        return self.regs[name]

    def write_reg(self, name, value):
        num, bits = self._reg(name)
        nbytes = bits // 8
        data = (value & ((1 << bits) - 1)).to_bytes(nbytes, "little").hex()
        reply = self.command(f"P{num:x}={data}")
        if reply != b"OK":
            raise RspError(f"write {name}: {reply!r}")

    def read_reg(self, name):
        num, _ = self._reg(name)
        reply = self.command(f"p{num:x}")
        if not reply or reply.startswith(b"E"):
            raise RspError(f"read {name}: {reply!r}")
        return int.from_bytes(bytes.fromhex(reply.decode()), "little")

    def set_reg(self, name, value, mask=None):
        """Write and read back; RspError if the value did not stick."""
        self.write_reg(name, value)
        got = self.read_reg(name)
        m = mask if mask is not None else (1 << self._reg(name)[1]) - 1
        if (got & m) != (value & m):
            raise RspError(f"{name}: wrote {value:#x}, reads {got:#x}")
        return got

    def phys_mode(self):
        if self.command("Qqemu.PhyMemMode:1") != b"OK":
            raise RspError("Qqemu.PhyMemMode refused")

    def write_mem(self, addr, data):
        reply = self.command(f"M{addr:x},{len(data):x}:{bytes(data).hex()}")
        if reply != b"OK":
            raise RspError(f"write memory {addr:#x}: {reply!r}")

    def read_mem(self, addr, length):
        reply = self.command(f"m{addr:x},{length:x}")
        if not reply or reply.startswith(b"E"):
            raise RspError(f"read memory {addr:#x}: {reply!r}")
        return bytes.fromhex(reply.decode())

    def step(self):
        reply = self.command("s")
        if not reply.startswith((b"T", b"S")):
            raise RspError(f"step: {reply!r}")
        return reply

    # ---- monitor ----

    def monitor(self, text):
        """Run one monitor command; its console output as a string."""
        self.send_packet(b"qRcmd," + text.encode().hex().encode())
        return self._monitor_reply(ack=True)

    def _monitor_reply(self, ack):
        out = []
        while True:
            p = self.recv_packet(ack)
            if p == b"OK":
                return "".join(out)
            if p.startswith(b"O"):
                out.append(bytes.fromhex(p[1:].decode()).decode())
            else:
                raise RspError(f"monitor: unexpected reply {p!r}")

    def query_many(self, commands, window=256):
        """Pipelined monitor commands: a writer thread keeps up to `window`
        requests in flight while this thread reads the replies in order
        (unacknowledged, see the class comment: acks from this thread could
        land inside a request the writer is sending)."""
        sem = threading.Semaphore(window)
        error = []
        stop = threading.Event()

        def writer():
            try:
                for c in commands:
                    while not sem.acquire(timeout=0.5):
                        if stop.is_set():
                            return
                    self.sock.sendall(self._frame(b"qRcmd," + c.encode().hex().encode()))
            except OSError as e:
                error.append(e)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        replies = []
        try:
            for _ in commands:
                replies.append(self._monitor_reply(ack=False))
                sem.release()
        finally:
            stop.set()
            t.join(timeout=5)
        if error:
            raise RspError(f"sending queries: {error[0]}")
        return replies
