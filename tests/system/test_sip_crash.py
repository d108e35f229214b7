#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Crash test of the registrar's durability contract (issue 22, docs/sip.md "Location"):
a REGISTER that adds or removes a binding is answered 200 only once the change is
committed to the store.

20 cycles of telgated (same state directory) under load, killed with SIGKILL at a random
moment — in alternate cycles the network engine alone and every process at once. The load:
SIPp registering and unregistering (a new binding and its removal per call: the Contact
carries the call number) across 100 lines, and a client written here that adds new
contacts, refreshes and removes them across 48 other lines over UDP with digest, and
records every 200 it received. After each kill the store file itself (SQLite, read before
the restart) must hold every binding whose addition was answered 200 and none whose
removal was. A change whose answer did not arrive (the kill, or a 500) may be either way;
the client reads which from the store and goes on from there. TELGATE_CRASH_SEED replays a
run's random moments (the test prints its seed)."""
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402

CYCLES = 20
CLIENT_LINES = 48  # the client's lines, split among its threads (one thread per line)
THREADS = 6
SIPP_LINES = 100
PW = "Crash-Digest-1"
MAX_LIVE = 6  # contacts per line the client keeps (a device may have 32)


def h(s):
    return hashlib.md5(s.encode()).hexdigest()


class Client(threading.Thread):
    """REGISTERs over UDP for its own lines, one at a time, MD5 digest with qop=auth.
    model[line][contact] is "present" (its addition answered 200), "removed" (its
    removal answered 200) or "unknown" (no 200 came: either may be in the store)."""

    def __init__(self, port, lines, model, rnd, tag):
        super().__init__(daemon=True)
        self.port, self.lines, self.model, self.rnd, self.tag = port, lines, model, rnd, tag
        self.stop = threading.Event()
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(0.5)
        self.lport = self.s.getsockname()[1]
        self.nonce, self.nc, self.n = None, 0, 0
        self.ok = 0

    def request(self, line, contact, expires):
        """The final status of one REGISTER (401s answered), or None without an answer."""
        for _ in range(3):
            self.n += 1
            callid = f"crash-{self.tag}-{self.n}"
            msg = (f"REGISTER sip:telgate SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP 127.0.0.1:{self.lport};branch=z9hG4bKc{self.tag}x{self.n}\r\n"
                   f"Max-Forwards: 70\r\nTo: <sip:{line}@telgate>\r\n"
                   f"From: <sip:{line}@telgate>;tag=c{self.tag}\r\nCall-ID: {callid}\r\n"
                   f"CSeq: 1 REGISTER\r\nContact: <{contact}>\r\nExpires: {expires}\r\n")
            if self.nonce:
                self.nc += 1
                nc = "%08x" % self.nc
                ha1 = h(f"{line}:telgate:{PW}")
                resp = h(f"{ha1}:{self.nonce}:{nc}:cn:auth:{h('REGISTER:sip:telgate')}")
                msg += (f'Authorization: Digest username="{line}", realm="telgate", '
                        f'nonce="{self.nonce}", uri="sip:telgate", response="{resp}", '
                        f'algorithm=MD5, qop=auth, nc={nc}, cnonce="cn", opaque="tg"\r\n')
            msg += "Content-Length: 0\r\n\r\n"
            try:
                self.s.sendto(msg.encode(), ("127.0.0.1", self.port))
                while True:  # skip late answers to earlier requests
                    r = self.s.recv(65535).decode(errors="replace")
                    if f"Call-ID: {callid}\r\n" in r:
                        break
            except OSError:  # timeout (the kill), or the port refused
                return None
            code = int(r.split(" ", 2)[1])
            if code != 401:
                return code
            m = re.search(r'nonce="([^"]+)"', r)
            self.nonce, self.nc = (m.group(1) if m else None), 0
        return None

    def run(self):
        while not self.stop.is_set():
            line = self.rnd.choice(self.lines)
            m = self.model[line]
            live = [c for c, st in m.items() if st == "present"]
            x = self.rnd.random()
            if live and (len(live) >= MAX_LIVE or x < 0.35):
                c = self.rnd.choice(live)
                code = self.request(line, c, 0)
                m[c] = "removed" if code == 200 else "unknown"
            elif live and x < 0.5:  # a refresh: write-behind, the binding stays
                self.request(line, self.rnd.choice(live), 3600)
            else:
                c = f"sip:{line}-{self.tag}-{self.n}@127.0.0.1:{self.lport}"
                code = self.request(line, c, 3600)
                m[c] = "present" if code == 200 else "unknown"
                self.ok += code == 200


def stop_clients(clients):
    """Stops the clients' threads and closes their sockets."""
    for c in clients:
        c.stop.set()
    for c in clients:
        c.join(timeout=10)
        c.s.close()


def check_model(test, model, rows, what):
    """Every binding whose addition was answered 200 is in rows ((device, contact) read
    from the store), none whose removal was; an unanswered change is resolved from rows
    (the model then says what the store has). Returns (present, removed, resolved)."""
    present = removed = resolved = 0
    for line, m in model.items():
        dev = "SEPCRASH" + line.upper()
        for contact, st in list(m.items()):
            there = (dev, f"<{contact}>") in rows  # stored as sent
            if st == "present":
                test.assertTrue(there, f"{what}: {dev} {contact}: its 200 came, the store "
                                "lacks it; it has "
                                + repr(sorted(r for r in rows if r[0] == dev)))
                present += 1
            elif st == "removed":
                test.assertFalse(there, f"{what}: {dev} {contact}: its removal's 200 came, "
                                 "the store has it")
                removed += 1
                del m[contact]
            else:  # no answer: whatever the store says is what the next cycle has
                resolved += 1
                if there:
                    m[contact] = "present"
                else:
                    del m[contact]
    return present, removed, resolved


class SipCrashTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgsipcrash")
        self.d = None
        self.sipp = None

    def tearDown(self):
        if self.sipp and self.sipp.poll() is None:
            self.sipp.kill()
            self.sipp.wait()
        problem = self.d.finish() if self.d else None
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def provision(self):
        lines = [f"c{i:04d}" for i in range(CLIENT_LINES)] + \
                [f"s{i:04d}" for i in range(SIPP_LINES)]
        prov = {"version": 1,
                "users": [{"userid": x, "directory": "local", "digestpassword": PW}
                          for x in lines],
                "devices": [{"name": "SEPCRASH" + x.upper(), "model": "Cisco 8865", "owner": x,
                             "lines": [x]} for x in lines]}
        path = os.path.join(self.root, "prov.json")
        with open(path, "w") as f:
            json.dump(prov, f)
        self.csv = os.path.join(self.root, "sipp.csv")
        with open(self.csv, "w") as f:
            f.write("RANDOM\n")
            for i in range(SIPP_LINES):
                u = f"s{i:04d}"
                f.write(f"{u};telgate;[authentication username={u} password={PW}]\n")
        return path

    def start_sipp(self):
        scen = os.path.join(HERE, "sipp", "register_unregister.xml")
        self.sipp = subprocess.Popen(
            ["sipp", "-nostdin", "-sf", scen, "-inf", self.csv, "-t", "u1", "-r", "150",
             "-l", "300", "-timeout", "600", "-recv_timeout", "2000",
             f"127.0.0.1:{self.d.sip_port}"],
            cwd=self.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self, cycle):
        """SIGKILL: the engine alone on even cycles (the monitor then ends, the signer with
        it), every process at once on odd ones (the machine's power, as far as the
        processes go: the kernel still has what they wrote)."""
        self.d.exit_expected = True
        if cycle % 2 == 0:
            pid = self.d.engine_pid()
            if pid:
                os.kill(pid, signal.SIGKILL)
                try:
                    self.d.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
        self.d.kill()

    def stored(self):
        """(device, contact) of every binding in the store file, read as telgated would
        at its next start."""
        db = sqlite3.connect(os.path.join(self.d.state, "telgate.db"), timeout=10)
        try:
            rows = db.execute("SELECT devicename, contact FROM registration "
                              "WHERE expires > ?", (int(time.time()),)).fetchall()
        finally:
            db.close()
        return set(rows)

    def test_acknowledged_bindings_survive_kill9(self):
        seed = int(os.environ.get("TELGATE_CRASH_SEED", random.randrange(1 << 30)))
        print(f"TELGATE_CRASH_SEED={seed}", file=sys.stderr)
        rnd = random.Random(seed)
        self.d = test_daemon.Daemon(self.root, "[sip]\nchallenge_sha256 = no\n"
                                    "source_failures_max = 0\n")
        prov = self.provision()
        lines = [f"c{i:04d}" for i in range(CLIENT_LINES)]
        model = {x: {} for x in lines}
        checked_present = checked_removed = resolved = 0
        for cycle in range(CYCLES):
            self.d.start(*(("--provision", prov) if cycle == 0 else ()))
            self.start_sipp()
            clients = [Client(self.d.sip_port, lines[i::THREADS], model,
                              random.Random(rnd.random()), f"{cycle}t{i}")
                       for i in range(THREADS)]
            for c in clients:
                c.start()
            time.sleep(rnd.uniform(1.0, 3.0))
            self.kill(cycle)
            stop_clients(clients)
            self.sipp.kill()
            self.sipp.wait()
            self.assertGreater(sum(c.ok for c in clients), 0, f"cycle {cycle}: no 200 at all")
            p, r, u = check_model(self, model, self.stored(), f"cycle {cycle} (seed {seed})")
            checked_present += p
            checked_removed += r
            resolved += u
        print(f"checked: {checked_present} acknowledged bindings present, {checked_removed} "
              f"acknowledged removals absent, {resolved} unanswered changes resolved",
              file=sys.stderr)
        self.assertGreater(checked_removed, 0)
        # SIPp's load was served too (its lines registered and unregistered).
        sipp_regs = len(re.findall(r"event=sip_registered .*device=SEPCRASHS", self.d.log_text()))
        print(f"SIPp registrations and removals answered 200: {sipp_regs}", file=sys.stderr)
        self.assertGreater(sipp_regs, 0)
        # After the last restart the table telgated serves is the store's.
        self.d.start()
        out = self.d.cli("show", "registrations").stdout
        for line, m in model.items():
            for contact, st in m.items():
                self.assertIn(contact, out)
        self.d.stop()


if __name__ == "__main__":
    test_daemon.main()
