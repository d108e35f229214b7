#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of descriptor exhaustion (issue 14): telgated started with RLIMIT_NOFILE
256 clamps its connection caps to what the limit leaves, refuses connections past them
with one log line a second instead of spinning on accept(), and keeps serving UDP
REGISTERs and CTI logins from other sources. The connections come from several loopback
addresses (127.0.0.2, 127.0.0.3, ...), so that the node cap, not the per-source cap, is
what refuses. Standard library only."""
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402
import test_cti  # noqa: E402
from test_sip import Raw, status  # noqa: E402

PROV = {"version": 1,
        "users": [{"userid": "jpinkman", "directory": "local", "password": "Cap-n-Cook-1",
                   "digestpassword": "Sip-Jesse-1", "groups": ["Standard CTI Enabled"]}],
        "devices": [{"name": "CSFJPINKMAN", "model": "CSF", "owner": "jpinkman",
                     "lines": ["1002"]}]}


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FdLimitTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgfd")
        # Connections without a request stay for the test's length.
        self.d = test_daemon.Daemon(self.root, "first_message_timeout_s = 60\n"
                                    "[cti]\nallow_plain_login = yes\n")
        self.d.nofile = 256
        prov = os.path.join(self.root, "prov.json")
        with open(prov, "w") as f:
            json.dump(PROV, f)
        self.d.start("--provision", prov)
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    SOURCES = 10  # 127.0.0.2 .. 127.0.0.11: 15 connections each, under any per-source cap

    def open_many(self, port, n=150):
        """Opens n TCP connections at once (no request on them), spread over SOURCES
        source addresses; returns how many the daemon kept open and how many it closed at
        once."""
        socks = [socket.create_connection(("127.0.0.1", port), timeout=5,
                                          source_address=(f"127.0.0.{2 + i % self.SOURCES}", 0))
                 for i in range(n)]
        time.sleep(0.5)
        kept = 0
        for s in socks:
            s.setblocking(False)
            try:
                closed = s.recv(1) == b""
            except BlockingIOError:
                closed = False
            except ConnectionResetError:
                closed = True
            if closed:
                s.close()
            else:
                kept += 1
                self.socks.append(s)
        return kept, n - kept

    def test_caps_clamped_no_accept_spin_and_others_served(self):
        log = self.d.log_text()
        self.assertRegex(log, r"event=fd_budget descriptors_for_connections=\d+ "
                              r"sip_max_connections=\d+ cti_max_connections=\d+ clamped=yes")
        kept, refused = self.open_many(self.d.sip_port)
        self.assertGreater(kept, 0)
        self.assertGreater(refused, 0)
        # Idle while refused connections keep coming in: no accept() spin.
        pid = self.d.engine_pid()  # the process that accepts (the monitor only waits)
        before = cpu_seconds(pid)
        for _ in range(20):
            try:
                s = socket.create_connection(("127.0.0.1", self.d.sip_port), timeout=2)
                s.close()
            except OSError:
                pass
            time.sleep(0.1)
        used = cpu_seconds(pid) - before
        self.assertLess(used, 0.5, f"telgated used {used:.2f} s of CPU in ~2 s while full")
        refusals = [x for x in self.d.log_text().splitlines()
                    if "event=stream_refused" in x or "event=sip_connection_refused" in x]
        self.assertGreaterEqual(len(refusals), 1)
        # At most one a second per loop thread (2 here) over ~3 s, not one per refusal
        # (over 100 here).
        self.assertLessEqual(len(refusals), 10)
        self.assertRegex(refusals[0], r"reason=")
        # The node cap refused, not the per-source cap: 15 connections per source are far
        # under it (its setting would be named otherwise).
        self.assertTrue(any("sip.max_connections reached" in x for x in refusals), refusals)
        self.assertFalse(any("max_connections_per_source" in x for x in refusals), refusals)
        # UDP REGISTER still works (from a source that opened no connection).
        raw = Raw(self.d.sip_port)
        ch = raw.register("1002")
        self.assertEqual(status(ch), 401)
        ok = raw.register("1002", raw.auth(ch.split("WWW-Authenticate: ")[1], "jpinkman",
                                           "Sip-Jesse-1"))
        self.assertEqual(status(ok), 200, ok)
        raw.s.close()
        # A CTI login from a source that opened no connection works (CTI's cap is its own
        # share of the descriptors).
        c = test_cti.Client(self.d.cti_port, source="127.0.0.200")
        try:
            self.assertEqual(test_cti.local(c.login("jpinkman", "Cap-n-Cook-1")),
                             "StartApplicationSessionPosResponse")
        finally:
            c.close()


if __name__ == "__main__":
    test_daemon.main()
