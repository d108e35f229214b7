#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of the device-file service over TFTP (issue 16): real clients (tftp-hpa's
tftp in plain RFC 1350, atftp with blksize/tsize/windowsize, curl with and without
--tftp-blksize) fetch a 1 MiB random file byte-identical; a client of our own (sockets
only, no project code) drops ACKs (the timer retransmits), duplicates every ACK (no DATA
packet is sent twice but by the timer: counted against the server's own log line),
sends from a wrong TID (ERROR 5, the transfer goes on), sends a WRQ (ERROR 2), unknown
options (ignored), blksize out of range (error 8, or lowered), crosses the 65535 -> 0
block rollover, asks for missing files (ERROR 1) and traversal names (ERROR 2), and
netascii (converted). A malformed-packet suite runs while a transfer completes, and the
per-source cap answers ERROR 0 "Server busy"; `telgate show tftp` lists what runs."""
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402

RRQ, WRQ, DATA, ACK, ERROR, OACK = 1, 2, 3, 4, 5, 6


def request(name, mode=b"octet", opts=(), op=RRQ):
    """An RRQ/WRQ datagram: name and mode are bytes; opts are (name, value) byte pairs."""
    return (struct.pack("!H", op) + name + b"\0" + mode + b"\0" +
            b"".join(k + b"\0" + v + b"\0" for k, v in opts))


def parse_oack(d):
    f = d[2:].split(b"\0")[:-1]
    return {f[i].decode().lower(): f[i + 1].decode() for i in range(0, len(f) - 1, 2)}


class Fetch:
    """One read transfer by a client of our own. ack_filter(block) says whether to send the
    ACK of an absolute block number; dup_acks sends every ACK twice; every DATA packet is
    counted by block, so duplicates (retransmissions) are known."""

    def __init__(self, port, name, mode=b"octet", opts=(), window=1, ack_filter=None,
                 dup_acks=False, on_first_data=None, sock=None):
        self.own = sock is None  # a socket given is the caller's: reused, not closed
        self.s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if self.own:
            self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(10)
        self.local_port = self.s.getsockname()[1]
        self.port, self.name, self.mode, self.opts = port, name, mode, opts
        self.window, self.ack_filter, self.dup_acks = window, ack_filter, dup_acks
        self.on_first_data = on_first_data
        self.data = bytearray()
        self.received = {}  # absolute block -> DATA packets received
        self.oack = None
        self.error = None  # (code, message)
        self.tid = None
        self.blocks = 0

    def ack(self, block, force=False):
        if not force and self.ack_filter and not self.ack_filter(block):
            return
        pkt = struct.pack("!HH", ACK, block & 0xFFFF)
        for _ in range(2 if self.dup_acks else 1):
            self.s.sendto(pkt, self.tid)

    def run(self):
        try:
            return self._run()
        finally:
            if self.own:
                self.s.close()

    def _run(self):
        self.s.sendto(request(self.name, self.mode, self.opts), ("127.0.0.1", self.port))
        blksize, window = 512, 1
        nxt = 1  # the absolute block expected next
        while True:
            d, src = self.s.recvfrom(70000)
            if self.tid is None:
                self.tid = src
            if src != self.tid:
                continue
            op = struct.unpack("!H", d[:2])[0]
            if op == ERROR:
                self.error = (struct.unpack("!H", d[2:4])[0], d[4:].rstrip(b"\0").decode())
                return self
            if op == OACK:
                if self.oack is None:
                    self.oack = parse_oack(d)
                    blksize = int(self.oack.get("blksize", 512))
                    window = int(self.oack.get("windowsize", 1))
                self.ack(0)
                continue
            assert op == DATA, d[:4]
            wire = struct.unpack("!H", d[2:4])[0]
            if self.on_first_data and nxt == 1:
                self.on_first_data(self, src)
                self.on_first_data = None
            if wire == nxt & 0xFFFF:
                self.received[nxt] = self.received.get(nxt, 0) + 1
                self.data += d[4:]
                last = len(d) - 4 < blksize
                if last:
                    self.blocks = nxt
                    self.ack(nxt, force=True)
                    return self
                if nxt % window == 0:
                    self.ack(nxt)
                nxt += 1
            else:
                # a block we had: a retransmission; answer with the last in order (RFC 7440)
                for b in range(max(1, nxt - 65535), nxt):
                    if b & 0xFFFF == wire:
                        self.received[b] = self.received.get(b, 0) + 1
                        break
                self.ack(nxt - 1)

    def duplicates(self):
        return sum(n - 1 for n in self.received.values())


class Abort(Exception):
    pass


def exchange(port, pkt, wait=0.5):
    """Sends one datagram to the request port; the answer or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(wait)
        s.sendto(pkt, ("127.0.0.1", port))
        try:
            return s.recvfrom(70000)[0]
        except socket.timeout:
            return None


def error_of(d):
    assert d is not None and struct.unpack("!H", d[:2])[0] == ERROR, d
    return struct.unpack("!H", d[2:4])[0], d[4:].rstrip(b"\0").decode()


class TftpTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgtftp")
        self.dir = os.path.join(self.root, "files")
        os.makedirs(os.path.join(self.dir, "firmware"))
        self.big = os.urandom(1024 * 1024)
        self.small = b'<?xml version="1.0"?>\n<device>\r\n<fullConfig>true</fullConfig>\n</device>\n'
        self.roll = os.urandom(600 * 1024)  # 76800 blocks at blksize 8: past 65535
        for name, data in (("big.bin", self.big), ("SEP001122334455.cnf.xml", self.small),
                           ("firmware/roll.bin", self.roll)):
            with open(os.path.join(self.dir, name), "wb") as f:
                f.write(data)
        self.d = test_daemon.Daemon(
            self.root, f"[files]\ndir = {self.dir}\ntftp_timeout_ms = 200\ntftp_retries = 3\n"
                       f"tftp_max_per_source = 3\n")
        self.d.start()
        self.port = self.d.tftp_port

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def out(self, name="out"):
        p = os.path.join(self.root, name)
        if os.path.exists(p):
            os.unlink(p)
        return p

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def transfer_line(self, peer_port, timeout=10):
        """The tftp_transfer log line of the transfer from 127.0.0.1:peer_port."""
        deadline = time.time() + timeout
        pat = re.compile(r"event=tftp_transfer .*peer=127\.0\.0\.1:%d .*" % peer_port)
        while time.time() < deadline:
            m = pat.search(self.d.log_text())
            if m:
                return dict(kv.split("=", 1) for kv in m.group(0).split() if "=" in kv)
            time.sleep(0.05)
        self.fail("no tftp_transfer line for port %d" % peer_port)

    # --- real clients --------------------------------------------------------------------

    def test_tftp_hpa_plain(self):
        out = self.out()
        r = subprocess.run(["tftp", "127.0.0.1", str(self.port), "-m", "binary", "-c", "get",
                            "big.bin", out], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read(out), self.big)
        line = "options=none blksize=512 windowsize=1"
        self.assertIn(line, self.logged(line))

    def logged(self, text, timeout=10):
        """The log, once it holds text: a transfer's line is written when its last ACK
        arrives, which can be just after the client has exited."""
        deadline = time.time() + timeout
        while True:
            log = self.d.log_text()
            if text in log or time.time() > deadline:
                return log
            time.sleep(0.05)

    def test_atftp_options(self):
        out = self.out()
        r = subprocess.run(["atftp", "--option", "blksize 1468", "--option", "tsize 0",
                            "--option", "windowsize 8", "-g", "-r", "big.bin", "-l", out,
                            "127.0.0.1", str(self.port)], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read(out), self.big)
        line = "options=blksize,tsize,windowsize blksize=1468 windowsize=8"
        self.assertIn(line, self.logged(line))

    def test_atftp_rollover(self):
        """blksize 8: 76,801 blocks, numbers roll over 65535 -> 0 as atftp expects."""
        out = self.out()
        r = subprocess.run(["atftp", "--option", "blksize 8", "-g", "-r", "firmware/roll.bin",
                            "-l", out, "127.0.0.1", str(self.port)],
                           capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read(out), self.roll)

    def test_curl(self):
        for extra in (["--tftp-blksize", "1024"], []):
            out = self.out()
            r = subprocess.run(["curl", "-sS", "--max-time", "60",
                                "tftp://127.0.0.1:%d/big.bin" % self.port, "-o", out, *extra],
                               capture_output=True, timeout=90)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.read(out), self.big, extra)
        out = self.out()
        r = subprocess.run(["curl", "-sS", "tftp://127.0.0.1:%d/nothing.bin" % self.port,
                            "-o", out], capture_output=True, timeout=30)
        # 68: CURLE_TFTP_NOTFOUND (curl 7.88 prints a stale getpeername() message over it:
        # curl/curl#11332)
        self.assertEqual(r.returncode, 68, r.stderr)

    def test_netascii(self):
        """Converted per RFC 1350 (LF -> CR LF, CR -> CR NUL); tftp-hpa's default mode is
        netascii and converts back."""
        f = Fetch(self.port, b"SEP001122334455.cnf.xml", b"NetASCII",
                  opts=((b"tsize", b"0"),)).run()
        want = self.small.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")
        self.assertEqual(bytes(f.data), want)
        self.assertEqual(int(f.oack["tsize"]), len(want))
        out = self.out()
        r = subprocess.run(["tftp", "127.0.0.1", str(self.port), "-c", "get",
                            "SEP001122334455.cnf.xml", out], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.read(out), self.small)

    # --- our own client ------------------------------------------------------------------

    def test_dropped_acks(self):
        """The first ACK of every 40th block is not sent: the timer resends and the
        transfer completes."""
        f = Fetch(self.port, b"big.bin", opts=((b"blksize", b"8192"),),
                  ack_filter=lambda b, seen=set(): b % 40 != 0 or b in seen or seen.add(b))
        f.run()
        self.assertIsNone(f.error)
        self.assertEqual(bytes(f.data), self.big)
        line = self.transfer_line(f.local_port)
        self.assertEqual(line["result"], "ok")
        self.assertGreaterEqual(int(line["retransmits"]), 1)

    def test_duplicated_acks(self):
        """Every ACK sent twice: no DATA packet comes twice except by the timer (the count of
        duplicates received equals the retransmissions the server logged)."""
        for opts in ((), ((b"windowsize", b"4"), (b"blksize", b"1024"))):
            f = Fetch(self.port, b"big.bin", opts=opts, window=1, dup_acks=True).run()
            self.assertIsNone(f.error)
            self.assertEqual(bytes(f.data), self.big)
            line = self.transfer_line(f.local_port)
            self.assertEqual(line["result"], "ok")
            self.assertEqual(f.duplicates(), int(line["retransmits"]), opts)

    def test_wrong_tid(self):
        seen = {}

        def intrude(fetch, tid):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(5)
                s.sendto(struct.pack("!HH", ACK, 1), tid)
                seen["reply"] = s.recvfrom(1000)[0]

        f = Fetch(self.port, b"big.bin", on_first_data=intrude).run()
        self.assertEqual(error_of(seen["reply"])[0], 5)
        self.assertEqual(bytes(f.data), self.big)
        self.assertEqual(self.transfer_line(f.local_port)["result"], "ok")

    def test_refusals(self):
        self.assertEqual(error_of(exchange(self.port, request(b"big.bin", op=WRQ)))[0], 2)
        self.assertEqual(error_of(exchange(self.port, request(b"missing.bin")))[0], 1)
        for name in (b"../etc/passwd", b"/../x", b"a\\b", b"firmware/../big.bin", b".hidden",
                     b"%2e%2e/big.bin", b"big.bin\x01", b"\xc0\xae\xc0\xae/x", b"x" * 200):
            self.assertEqual(error_of(exchange(self.port, request(name)))[0], 2, name)
        # a NUL inside a name ends the field: the rest is read as the mode (error 4)
        self.assertIn(error_of(exchange(self.port, b"\0\1big.bin\0../x\0octet\0"))[0], (2, 4))
        # mail and unknown modes
        self.assertEqual(error_of(exchange(self.port, request(b"big.bin", b"mail")))[0], 4)
        # blksize below 8 refused (error 8); above what the MTU allows lowered
        d = exchange(self.port, request(b"big.bin", opts=((b"blksize", b"4"),)))
        self.assertEqual(error_of(d)[0], 8)
        d = exchange(self.port, request(b"big.bin", opts=((b"timeout", b"0"),)))
        self.assertEqual(error_of(d)[0], 8)
        f = Fetch(self.port, b"SEP001122334455.cnf.xml", opts=((b"blksize", b"70000"),)).run()
        self.assertEqual(f.oack, {"blksize": "1468"})
        self.assertEqual(bytes(f.data), self.small)
        # unknown options ignored: none acknowledged, no OACK at all without known ones
        f = Fetch(self.port, b"SEP001122334455.cnf.xml",
                  opts=((b"x-vendor", b"1"), (b"multicast", b""))).run()
        self.assertIsNone(f.oack)
        self.assertEqual(bytes(f.data), self.small)
        f = Fetch(self.port, b"SEP001122334455.cnf.xml",
                  opts=((b"X-Vendor", b"1"), (b"BLKSIZE", b"16"), (b"windowsize", b"999"))).run()
        self.assertEqual(f.oack, {"blksize": "16", "windowsize": "64"})
        self.assertEqual(bytes(f.data), self.small)

    def test_rollover_own_client(self):
        f = Fetch(self.port, b"firmware/roll.bin",
                  opts=((b"blksize", b"8"), (b"windowsize", b"32")), window=32).run()
        self.assertIsNone(f.error)
        self.assertEqual(bytes(f.data), self.roll)
        self.assertEqual(f.blocks, len(self.roll) // 8 + 1)
        self.assertGreater(f.blocks, 65536)

    def test_malformed_while_transferring(self):
        result = {}

        def fetch():
            result["f"] = Fetch(self.port, b"big.bin").run()

        t = threading.Thread(target=fetch)
        t.start()
        malformed = [
            b"", b"\0", b"\0\1",  # short
            b"\0\1name", b"\0\1name\0octet",  # missing NULs
            b"\0\0" + b"x" * 40 + b"\0octet\0",  # opcode 0
            b"\0\x09" + b"x" * 40 + b"\0octet\0",  # opcode 9
            b"\0\1name\0\0",  # empty mode
            request(b"big.bin", opts=[(b"a%d" % i, b"1") for i in range(600)]),  # 600 options
            b"\0\1" + b"A" * 65505,  # a 64 KiB datagram
            b"\0\3\0\1data", b"\0\4\0\1", b"\0\5\0\1x\0", b"\0\6blksize\0" b"512\0",
        ] + [os.urandom(n) for n in (3, 17, 100, 511, 1400) for _ in range(10)]
        answers = {}
        for pkt in malformed:
            d = exchange(self.port, pkt, wait=0.2)
            if d is not None:
                # an answer to garbage is an ERROR, never data or an OACK
                answers[pkt[:12]] = error_of(d)[0]
        self.assertEqual(answers.get(malformed[5][:12]), 4)
        self.assertEqual(answers.get(malformed[8][:12]), 4)
        self.assertEqual(answers.get(malformed[9][:12]), 4)
        t.join(60)
        f = result["f"]
        self.assertIsNone(f.error)
        self.assertEqual(bytes(f.data), self.big)
        r = self.d.cli("show", "tftp")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(error_of(exchange(self.port, request(b"missing.bin")))[0], 1)

    def test_per_source_cap_and_show(self):
        """Three transfers held open (no ACKs) fill tftp_max_per_source; the fourth gets
        ERROR 0 "Server busy"; show tftp lists the three; they end by timeout."""
        held = []
        for _ in range(3):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(5)
            s.sendto(request(b"big.bin"), ("127.0.0.1", self.port))
            d, _ = s.recvfrom(1000)
            self.assertEqual(struct.unpack("!HH", d[:4]), (DATA, 1))
            held.append(s)
        code, msg = error_of(exchange(self.port, request(b"big.bin")))
        self.assertEqual((code, msg), (0, "Server busy"))
        r = self.d.cli("show", "tftp")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("big.bin"), 3, r.stdout)
        r = self.d.cli("show", "tftp", json_mode=True)
        rows = json.loads(r.stdout)
        text = json.dumps(rows)
        self.assertEqual(text.count("big.bin"), 3, text)
        self.assertIn("blksize", text)
        ports = self.d.cli("show", "open", "ports").stdout
        self.assertRegex(ports, r"udp\s+127\.0\.0\.1\s+%d\s+UNCONN\s+tftp" % self.port)
        for s in held:
            port = s.getsockname()[1]
            s.close()
            self.assertEqual(self.transfer_line(port, 30)["result"], "timeout")
        # the cap is free again
        f = Fetch(self.port, b"SEP001122334455.cnf.xml").run()
        self.assertEqual(bytes(f.data), self.small)
        metrics = self.d.cli("show", "metrics").stdout
        self.assertRegex(metrics, r'telgate_tftp_transfers_total\{result="timeout"\} 3')
        self.assertRegex(metrics, r'telgate_tftp_busy_total 1')

    # --- the pool of transfer sockets ----------------------------------------------------

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.d.proc.pid))

    def test_pool_same_client_port(self):
        """2000 transfers one after another from one client port (the same peer each time,
        so pooled sockets in their 200 ms guard are not handed back): every one gets the
        file, and the daemon's descriptors stay within the pool's cap (256 idle per loop;
        one address and port always reach the same loop)."""
        before = self.fds()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            for i in range(2000):
                opts = ((b"blksize", b"16"), (b"tsize", b"0")) if i % 2 else ()
                f = Fetch(self.port, b"SEP001122334455.cnf.xml", opts=opts, sock=s).run()
                self.assertIsNone(f.error, i)
                self.assertEqual(bytes(f.data), self.small, i)
        self.assertLessEqual(self.fds() - before, 256 + 8)

    def test_pool_fresh_client_ports(self):
        """2000 transfers one after another, each from a new client port (as RFC 1350 §4
        wants): a few pooled sockets serve them all, and the descriptors stay bounded."""
        before = self.fds()
        tids = set()
        for i in range(2000):
            f = Fetch(self.port, b"SEP001122334455.cnf.xml",
                      opts=((b"tsize", b"0"),) if i % 2 else ()).run()
            self.assertIsNone(f.error, i)
            self.assertEqual(bytes(f.data), self.small, i)
            tids.add(f.tid)
        self.assertLess(len(tids), 50)
        self.assertLessEqual(self.fds() - before, 50)

    def test_late_ack_on_reused_socket(self):
        """A finished transfer's peer sends a late duplicate ACK: to the idle socket it gets
        ERROR 5; once that socket serves another client's transfer, ERROR 5 again, and the
        new transfer completes undisturbed."""
        old = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        old.bind(("127.0.0.1", 0))
        self.addCleanup(old.close)
        f = Fetch(self.port, b"SEP001122334455.cnf.xml", sock=old).run()
        self.assertEqual(bytes(f.data), self.small)
        tid = f.tid
        late = struct.pack("!HH", ACK, 1)
        old.sendto(late, tid)
        d, src = old.recvfrom(1000)
        self.assertEqual(src, tid)
        self.assertEqual(error_of(d), (5, "Unknown transfer ID"))
        seen = {}

        def intrude(fetch, src):
            if src != tid:
                return
            old.sendto(late, tid)
            seen["reply"] = old.recvfrom(1000)

        # Requests from new ports reach either loop; the first to reach the finished
        # transfer's loop gets its socket (the only idle one there).
        for _ in range(64):
            f = Fetch(self.port, b"big.bin", opts=((b"blksize", b"1024"),),
                      on_first_data=intrude).run()
            self.assertIsNone(f.error)
            self.assertEqual(bytes(f.data), self.big)
            if "reply" in seen:
                break
        self.assertIn("reply", seen, "no transfer got the pooled socket %s" % (tid,))
        d, src = seen["reply"]
        self.assertEqual(src, tid)
        self.assertEqual(error_of(d), (5, "Unknown transfer ID"))
        line = self.transfer_line(f.local_port)
        self.assertEqual(line["result"], "ok")
        metrics = self.d.cli("show", "metrics").stdout
        m = re.search(r"^telgate_tftp_wrong_tid_total (\d+)", metrics, re.M)
        self.assertGreaterEqual(int(m.group(1)), 2, metrics)

    def test_peer_error(self):
        def abort(fetch, tid):
            fetch.s.sendto(b"\0\5\0\0client gave up\0", tid)
            raise Abort()

        f = Fetch(self.port, b"big.bin", on_first_data=abort)
        with self.assertRaises(Abort):
            f.run()
        line = self.transfer_line(f.local_port)
        self.assertEqual(line["result"], "peer_error")


class TftpEveryLoopTest(unittest.TestCase):
    """files.tftp_loops = 0: every loop (two here) takes requests, each transfer on the
    loop that took it; transfers in flight at once from many client ports all complete,
    byte-identical."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgtftp")
        self.dir = os.path.join(self.root, "files")
        os.makedirs(self.dir)
        self.data = os.urandom(5000)  # 4 blocks at blksize 1468
        with open(os.path.join(self.dir, "SEP001122334455.cnf.xml"), "wb") as f:
            f.write(self.data)
        self.d = test_daemon.Daemon(self.root, f"[files]\ndir = {self.dir}\ntftp_loops = 0\n")
        self.d.start()

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def test_every_loop_serves(self):
        self.assertRegex(self.d.log_text(), r"event=tftp_listening .*loops=2")
        fetches = [Fetch(self.d.tftp_port, b"SEP001122334455.cnf.xml",
                         opts=((b"blksize", b"1468"), (b"tsize", b"0"))) for _ in range(40)]
        threads = [threading.Thread(target=f.run) for f in fetches]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, f in enumerate(fetches):
            self.assertIsNone(f.error, i)
            self.assertEqual(bytes(f.data), self.data, i)


if __name__ == "__main__":
    test_daemon.main()
