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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pg  # noqa: E402
import test_daemon  # noqa: E402
import test_sip_crash  # noqa: E402
from test_sip_crash import CLIENT_LINES, Client  # noqa: E402

EXTRA = "challenge_sha256 = no\nsource_failures_max = 0\n"


def share_store(root_a, root_b):
    """Node B on node A's database with A's key-encryption key (one cluster): the harness
    reuses the conninfo and kek files it finds."""
    for name in ("conninfo", "kek"):
        with open(os.path.join(root_a, name)) as f:
            text = f.read()
        fd = os.open(os.path.join(root_b, name), os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)


def stored_pg(d):
    """(device, contact) of every live binding in the PostgreSQL store."""
    return set(d.store_rows("SELECT devicename, contact FROM registration WHERE expires > %d"
                            % int(time.time())))


class TwoNodes(test_sip_crash.SipCrashTest):
    """SipCrashTest's set-up with a PostgreSQL of its own and a second node's root."""

    test_acknowledged_bindings_survive_kill9 = None  # the cycles run in PgKill9Test only

    def setUp(self):
        super().setUp()
        self.pg = pg.PgServer().start()
        test_daemon.PG_ADMIN = self.pg.conninfo()
        self.root_b = tempfile.mkdtemp(prefix="tgpgdurb")
        self.b = None

    def tearDown(self):
        alive = self.b and self.b.proc.poll() is None
        problem = self.b.finish() if self.b else None
        super().tearDown()
        self.pg.stop()
        shutil.rmtree(self.root_b, ignore_errors=True)
        if problem:
            self.fail(problem)
        if self.b and not alive:
            self.fail("node B stopped")

    def start_b(self):
        share_store(self.root, self.root_b)
        self.b = test_daemon.Daemon(self.root_b, "[core]\nnode_id = node-b\n[sip]\n" + EXTRA)
        self.b.start()


class PgRestartTest(TwoNodes):
    """PostgreSQL stopped and started under load, two nodes (see the module)."""

    def spool_bytes(self, d):
        path = os.path.join(d.state, "sip-location.spool")
        return os.path.getsize(path) if os.path.exists(path) else 0

    def test_restart_under_load(self):
        seed = int(os.environ.get("TELGATE_CRASH_SEED", random.randrange(1 << 30)))
        print(f"TELGATE_CRASH_SEED={seed}", file=sys.stderr)
        rnd = random.Random(seed)
        self.d = test_daemon.Daemon(self.root, "[core]\nnode_id = node-a\n[sip]\n" + EXTRA)
        self.d.start("--provision", self.provision())
        self.start_b()
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
        spooled = 0
        try:
            time.sleep(2)
            for mode in ("fast", "immediate"):
                self.pg.pause(mode)
                before = sum(c.ok for c in clients)
                time.sleep(rnd.uniform(2.0, 4.0))
                during = sum(c.ok for c in clients) - before
                spooled += during
                self.pg.resume()
                print(f"stop -m {mode}: {during} new bindings answered 200 while down",
                      file=sys.stderr)
                # Back: each node commits new bindings again once its connections are
                # made (backoff at most 5 s) and its account cache reloaded (PostgreSQL's
                # return stales it: what changed meanwhile is unknown). Only a fresh cache
                # lets a node answer the next outage's REGISTERs: a line whose entry is
                # stale needs the store, so gets 503.
                end, after = time.time() + 30, [c.ok for c in clients]
                while time.time() < end and not all(
                        sum(c.ok - a for c, a in zip(clients[k:k + 3], after[k:k + 3])) >= 30
                        for k in (0, 3)):
                    time.sleep(0.2)
                time.sleep(1)
            self.assertGreater(spooled, 0, "no new binding answered 200 during the outages")
        finally:
            test_sip_crash.stop_clients(clients)
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
            # Each thread's connection comes back after its backoff (at most 5 s): 503
            # with Retry-After until then.
            c = Client(node.sip_port, [line], model, rnd, "after")
            contact = f"sip:{line}-after@127.0.0.1:{c.lport}"
            end = time.time() + 30
            while (code := c.request(line, contact, 3600)) != 200 and time.time() < end:
                self.assertIn(code, (503, None))
                time.sleep(0.5)
            c.s.close()
            self.assertEqual(code, 200)
            model[line][contact] = "present"
        present, removed, _ = test_sip_crash.check_model(self, model, stored_pg(self.d),
                                                         f"seed {seed}")
        print(f"checked: {present} acknowledged bindings present, {removed} acknowledged "
              "removals absent", file=sys.stderr)
        self.assertGreater(present, 0)
        self.assertGreater(removed, 0)


class PgKill9Test(TwoNodes):
    """test_sip_crash's kill -9 cycles against node A on PostgreSQL, node B beside it."""

    test_acknowledged_bindings_survive_kill9 = \
        test_sip_crash.SipCrashTest.test_acknowledged_bindings_survive_kill9

    def kill(self, cycle):
        if not self.b:  # node A made the database and provisioned it: B joins it
            self.start_b()
        super().kill(cycle)

    def stored(self):
        return stored_pg(self.d)


if __name__ == "__main__":
    test_daemon.main()
