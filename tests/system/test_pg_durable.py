#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System tests of the durability contract on PostgreSQL (issue 21, docs/cluster.md):
a new binding or removal answered 200 is in the store afterwards, whatever happened in
between. Labelled slow (run by tests/system/pg.py in the system_pg CTest).

- PostgreSQL restarted under load, twice (pg_ctl stop -m fast, then -m immediate, a few
  seconds down each time), with two nodes on one database: SIPp registering and
  unregistering through node A, and test_sip_crash's client (new bindings, refreshes,
  removals, every 200 recorded) through both. Changes made while the database is down go
  to each node's spool and are answered 200; both nodes recover by themselves (nothing is
  restarted but PostgreSQL), replay their spools, and every acknowledged binding is in the
  store afterwards, every acknowledged removal absent.
- test_sip_crash's 20 kill -9 cycles, on PostgreSQL, with node B running beside node A:
  after each kill of node A the store holds every binding whose addition A answered 200
  and none whose removal it did; node B keeps serving."""
import os
import random
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pg  # noqa: E402
import test_daemon  # noqa: E402
import test_sip_crash  # noqa: E402
from test_sip_crash import CLIENT_LINES, Client  # noqa: E402

EXTRA = "challenge_sha256 = no\nsource_failures_max = 0\n"


def share_store(root_a, root_b):
    """Node B on node A's database: the harness reuses a conninfo file it finds."""
    with open(os.path.join(root_a, "conninfo")) as f:
        text = f.read()
    fd = os.open(os.path.join(root_b, "conninfo"), os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def stored_pg(d):
    """(device, contact) of every live binding in the PostgreSQL store."""
    return set(d.store_rows("SELECT devicename, contact FROM registration WHERE expires > %d"
                            % int(time.time())))


def check(test, model, rows, what):
    """test_sip_crash's check: acknowledged bindings present, acknowledged removals absent;
    unanswered changes resolved from the store. Returns (present, removed) checked."""
    present = removed = 0
    for line, m in model.items():
        dev = "SEPCRASH" + line.upper()
        for contact, st in list(m.items()):
            there = (dev, f"<{contact}>") in rows
            if st == "present":
                test.assertTrue(there, f"{what}: {dev} {contact}: its 200 came, the store "
                                "lacks it")
                present += 1
            elif st == "removed":
                test.assertFalse(there, f"{what}: {dev} {contact}: its removal's 200 came, "
                                 "the store has it")
                removed += 1
                del m[contact]
            elif there:
                m[contact] = "present"
            else:
                del m[contact]
    return present, removed


class PgRestartTest(test_sip_crash.SipCrashTest):
    """PostgreSQL stopped and started under load, two nodes (see the module)."""

    test_acknowledged_bindings_survive_kill9 = None  # the base's cycles: PgKill9Test

    def setUp(self):
        super().setUp()
        self.pg = pg.PgServer().start()
        test_daemon.PG_ADMIN = self.pg.conninfo()
        self.root_b = tempfile.mkdtemp(prefix="tgpgdurb")
        self.b = None

    def tearDown(self):
        problem = self.b.finish() if self.b else None
        super().tearDown()
        self.pg.stop()
        shutil.rmtree(self.root_b, ignore_errors=True)
        if problem:
            self.fail(problem)

    def spool_bytes(self, d):
        path = os.path.join(d.state, "sip-location.spool")
        return os.path.getsize(path) if os.path.exists(path) else 0

    def test_restart_under_load(self):
        seed = int(os.environ.get("TELGATE_CRASH_SEED", random.randrange(1 << 30)))
        print(f"TELGATE_CRASH_SEED={seed}", file=sys.stderr)
        rnd = random.Random(seed)
        self.d = test_daemon.Daemon(self.root, "[core]\nnode_id = node-a\n[sip]\n" + EXTRA)
        share_store(self.root, self.root_b)
        self.b = test_daemon.Daemon(self.root_b, "[core]\nnode_id = node-b\n[sip]\n" + EXTRA)
        self.d.start("--provision", self.provision())
        self.b.start()
        self.start_sipp()
        lines = [f"c{i:04d}" for i in range(CLIENT_LINES)]
        model = {x: {} for x in lines}
        half = CLIENT_LINES // 2  # A's lines, then B's: a device is registered on one node
        clients = [Client(node.sip_port, lines[lo:hi][i::3], model, random.Random(rnd.random()),
                          f"{name}{i}")
                   for node, name, lo, hi in ((self.d, "a", 0, half),
                                              (self.b, "b", half, CLIENT_LINES))
                   for i in range(3)]
        for c in clients:
            c.start()
        try:
            time.sleep(2)
            for mode in ("fast", "immediate"):
                self.pg.pause(mode)
                before = sum(c.ok for c in clients)
                time.sleep(rnd.uniform(2.0, 4.0))
                during = sum(c.ok for c in clients) - before
                self.pg.resume()
                print(f"stop -m {mode}: {during} new bindings answered 200 while down",
                      file=sys.stderr)
                self.assertGreater(during, 0, f"stop -m {mode}: no new binding spooled")
                time.sleep(3)
        finally:
            for c in clients:
                c.stop.set()
            for c in clients:
                c.join(timeout=10)
                c.s.close()
            self.sipp.kill()
            self.sipp.wait()
        # Both nodes back by themselves: their spools replayed (within about a second of
        # the database's return) and a new binding committed to the store again.
        end = time.time() + 30
        while time.time() < end and any(self.spool_bytes(d) > 8 for d in (self.d, self.b)):
            time.sleep(0.2)
        for d in (self.d, self.b):
            log = d.log_text()
            self.assertIn("event=sip_location_spooling", log)
            self.assertIn("event=sip_location_replayed", log)
            self.assertEqual(self.spool_bytes(d), 8)
        for node, line in ((self.d, lines[0]), (self.b, lines[-1])):
            c = Client(node.sip_port, [line], model, rnd, "after")
            contact = f"sip:{line}-after@127.0.0.1:{c.lport}"
            self.assertEqual(c.request(line, contact, 3600), 200)
            c.s.close()
            model[line][contact] = "present"
        present, removed = check(self, model, stored_pg(self.d), f"seed {seed}")
        print(f"checked: {present} acknowledged bindings present, {removed} acknowledged "
              "removals absent", file=sys.stderr)
        self.assertGreater(present, 0)
        self.assertGreater(removed, 0)


class PgKill9Test(test_sip_crash.SipCrashTest):
    """test_sip_crash's kill -9 cycles against node A on PostgreSQL, node B beside it."""

    def setUp(self):
        super().setUp()
        self.pg = pg.PgServer().start()
        test_daemon.PG_ADMIN = self.pg.conninfo()
        self.root_b = tempfile.mkdtemp(prefix="tgpgdurb")
        self.b = None

    def tearDown(self):
        ok = self.b and self.b.proc.poll() is None
        problem = self.b.finish() if self.b else None
        super().tearDown()
        self.pg.stop()
        shutil.rmtree(self.root_b, ignore_errors=True)
        if problem:
            self.fail(problem)
        if self.b and not ok:
            self.fail("node B did not survive node A's kills")

    def kill(self, cycle):
        if not self.b:  # node A made the database and provisioned it: B joins it
            share_store(self.root, self.root_b)
            self.b = test_daemon.Daemon(self.root_b, "[core]\nnode_id = node-b\n[sip]\n" + EXTRA)
            self.b.start()
        super().kill(cycle)

    def stored(self):
        return stored_pg(self.d)


if __name__ == "__main__":
    test_daemon.main()
