#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test (issue 21): two telgated nodes on one PostgreSQL store. An administrator's
change made through node A reaches node B's registrar cache through LISTEN/NOTIFY (the
store generations): a lock, the unlock and a new digest password are enforced by node B
at its next REGISTER, though B answered the phone's refreshes from its cache. Device state
crosses nodes (a SIPp registration on A: BackInService to a CTI client on B; the
unregistration: OutOfService); failed CTI logins spread over both nodes lock the account
at the policy's threshold exactly; a node killed with SIGKILL leaves its bindings, which
expire by their time on the surviving node, and the phone re-registers through B. Runs
its own PostgreSQL (tests/system/pg.py)."""
import json
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pg  # noqa: E402
import test_daemon  # noqa: E402
import test_cti  # noqa: E402
from test_sip import PROV, SIPP_DIR, Raw, sipp, status  # noqa: E402


class TwoNodes(unittest.TestCase):
    EXTRA = ""  # configuration both nodes get

    def setUp(self):
        self.pg = pg.PgServer().start()
        test_daemon.PG_ADMIN = self.pg.conninfo()
        self.roots = [tempfile.mkdtemp(prefix="tgnode") for _ in range(2)]
        self.a = test_daemon.Daemon(self.roots[0], "[core]\nnode_id = node-a\n" + self.EXTRA)
        # Node B on node A's database: the harness reuses a conninfo file it finds.
        with open(os.path.join(self.roots[0], "conninfo")) as f:
            text = f.read()
        fd = os.open(os.path.join(self.roots[1], "conninfo"), os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.b = test_daemon.Daemon(self.roots[1], "[core]\nnode_id = node-b\n" + self.EXTRA)
        prov = os.path.join(self.roots[0], "prov.json")
        with open(prov, "w") as f:
            json.dump(PROV, f)
        self.a.start("--provision", prov)
        self.b.start()

    def tearDown(self):
        problems = [d.finish() for d in (self.a, self.b)]
        self.pg.stop()
        for r in self.roots:
            shutil.rmtree(r, ignore_errors=True)
        for p in problems:
            if p:
                self.fail(p)


class ClusterTest(TwoNodes):
    def test_admin_change_on_a_enforced_by_b(self):
        raw = Raw(self.b.sip_port)
        ch = raw.register("1002").split("WWW-Authenticate: ")[1]
        nc = iter(range(1, 1000))

        def reg(pw="Sip-Jesse-1"):
            r = raw.register("1002", raw.auth(ch, "jpinkman", pw, nc="%08x" % next(nc)))
            last = [x for x in self.b.log_text().splitlines() if "sip_registered" in x]
            return status(r), (re.search(r"path=(\w+)", last[-1]).group(1) if last else "")

        def until(want, pw="Sip-Jesse-1"):
            """REGISTERs on B until one gets want: NOTIFY reaches B a moment after A's
            command returns (it is sent when A's change commits)."""
            end = time.time() + 10
            while True:
                code = reg(pw)[0]
                if code == want or time.time() > end:
                    return code
                time.sleep(0.05)

        self.assertEqual(reg(), (200, "store"))
        self.assertEqual(reg(), (200, "cache"))
        self.assertIn("event=store_pg_listening", self.b.log_text())
        # Locked through node A: refused by node B, whose copy was cached.
        self.assertEqual(self.a.cli("user", "lock", "jpinkman").returncode, 0)
        self.assertEqual(until(403), 403)
        self.assertEqual(self.a.cli("user", "unlock", "jpinkman").returncode, 0)
        self.assertEqual(until(200), 200)
        self.assertEqual(reg(), (200, "cache"))
        # A new digest password imported through node A: the old one stops working on B.
        prov = json.loads(json.dumps(PROV))
        prov["users"][0]["digestpassword"] = "Sip-Jesse-2"
        path = os.path.join(self.roots[0], "prov2.json")
        with open(path, "w") as f:
            json.dump(prov, f)
        self.assertEqual(self.a.cli("import", path).returncode, 0)
        self.assertEqual(until(403), 403)
        self.assertEqual(reg(pw="Sip-Jesse-2")[0], 200)
        # Both nodes in the node table; this node's store and channel.
        out = self.a.cli("show", "nodes").stdout
        self.assertIn("node-a", out)
        self.assertIn("node-b", out)
        r = self.b.cli("cluster", "status", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        t = json.loads(r.stdout)
        rows = {row[0]: dict(zip(t["columns"], row)) for row in t["rows"]}
        self.assertEqual(set(rows), {"node-a", "node-b"})
        self.assertEqual(rows["node-b"]["this node"], "yes")
        self.assertEqual(rows["node-b"]["store"], "connected (postgres)")
        self.assertEqual(rows["node-b"]["changes from other nodes"],
                         "listening on telgate_store")
        self.assertEqual(rows["node-a"]["this node"], "")


class DeviceStateTest(TwoNodes):
    # Heartbeats every second: a node silent for 3 s is dead (docs/cluster.md); SIPp
    # computes MD5 digests only; CTI over plain TCP as the other CTI tests.
    EXTRA = ("[core]\nheartbeat_s = 1\n[cti]\nallow_plain_login = yes\n[sip]\n"
             "min_expires = 1\nchallenge_sha256 = no\n")

    def sipp(self, node, expires=3600, scenario="register.xml"):
        users = os.path.join(self.roots[0], "users.csv")
        with open(users, "w") as f:
            # field2: register.xml's Expires, register_unregister.xml's credentials
            f.write("SEQUENTIAL\n1002;telgate;" + (
                str(expires) if scenario == "register.xml" else
                "[authentication username=jpinkman password=Sip-Jesse-1]") + "\n")
        r = sipp(["-sf", os.path.join(SIPP_DIR, scenario), "-inf", users, "-au", "jpinkman",
                  "-ap", "Sip-Jesse-1", "-t", "u1", "-m", "1", f"127.0.0.1:{node.sip_port}"])
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])

    def cti(self, node):
        c = test_cti.Client(node.cti_port)
        self.assertEqual(test_cti.local(c.login("mjavier", "Mike-Pass-1")),
                         "StartApplicationSessionPosResponse")
        self.assertEqual(test_cti.local(c.monitor("CSFJPINKMAN")), "MonitorStartResponse")
        return c

    def owner(self):
        """The nodes that own CSFJPINKMAN's bindings in the store (B is never killed)."""
        rc, t = self.b.sql("SELECT processnode FROM registration WHERE devicename = "
                           "'CSFJPINKMAN'")
        self.assertEqual(rc, 0, t)
        return [row[0] for row in t["rows"]]

    def test_registration_on_a_reaches_cti_on_b(self):
        c = self.cti(self.b)
        # Registered and unregistered through A: in service, then out, on B.
        self.sipp(self.a, scenario="register_unregister.xml")
        self.assertEqual(test_cti.local(c.event()), "BackInServiceEvent")
        self.assertEqual(test_cti.local(c.event()), "OutOfServiceEvent")
        self.sipp(self.a)
        self.assertEqual(test_cti.local(c.event()), "BackInServiceEvent")
        self.assertEqual(self.owner(), ["node-a"])
        # A CTI client that starts on B later reads the state the bus keeps.
        c2 = self.cti(self.b)
        self.assertEqual(test_cti.local(c2.event()), "BackInServiceEvent")
        c2.close()
        # B's heartbeat writes its CTI sessions, A's its registrations.
        end = time.time() + 10
        while time.time() < end:
            t = json.loads(self.b.cli("cluster", "status", json_mode=True).stdout)
            rows = {row[0]: dict(zip(t["columns"], row)) for row in t["rows"]}
            if rows["node-a"]["registrations"] == "1" and rows["node-b"]["cti sessions"] == "1":
                break
            time.sleep(0.2)
        self.assertEqual(rows["node-a"]["registrations"], "1")
        self.assertEqual(rows["node-b"]["registrations"], "0")
        self.assertEqual(rows["node-b"]["cti sessions"], "1")
        self.assertEqual(rows["node-a"]["cti sessions"], "0")
        c.close()

    def test_failed_logins_on_both_nodes_lock_at_the_threshold(self):
        """Default Credential Policy: 3 failures lock the password. One on A, one on B,
        then the third on A: the count is the store's (one UPDATE .. RETURNING)."""
        def login(node, pw):
            c = test_cti.Client(node.cti_port)
            try:
                return test_cti.local(c.login("mjavier", pw))
            finally:
                c.close()

        def show():
            r = self.b.cli("user", "show", "mjavier", json_mode=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            return {(c, n): v for c, n, v in json.loads(r.stdout)["rows"]}

        self.assertEqual(login(self.a, "Wrong-1"), "StartApplicationSessionNegResponse")
        self.assertEqual(login(self.b, "Wrong-2"), "StartApplicationSessionNegResponse")
        self.assertEqual(show()[("password", "hack_count")], "2 of 3")
        self.assertEqual(show()[("password", "state")], "usable")
        self.assertEqual(login(self.a, "Wrong-3"), "StartApplicationSessionNegResponse")
        self.assertEqual(show()[("password", "hack_count")], "3 of 3")
        self.assertEqual(show()[("password", "state")], "hacked-locked")
        # Locked on both nodes, the right password too.
        for node in (self.a, self.b):
            self.assertEqual(login(node, "Mike-Pass-1"), "StartApplicationSessionNegResponse")

    def test_kill_a_and_reregister_through_b(self):
        c = self.cti(self.b)
        self.sipp(self.a, expires=4)
        self.assertEqual(test_cti.local(c.event()), "BackInServiceEvent")
        self.a.exit_expected = True
        self.a.kill()  # SIGKILL to the engine too: no clean stop, its rows stay
        self.assertEqual(self.owner(), ["node-a"])
        # A's binding expires by its time; B finds A silent (3 heartbeats) and deletes it.
        self.assertEqual(test_cti.local(c.event(timeout=30)), "OutOfServiceEvent")
        # B publishes inside the DELETE's transaction and logs once it committed.
        end = time.time() + 10
        while "event=cluster_orphans_expired" not in self.b.log_text() and time.time() < end:
            time.sleep(0.1)
        self.assertIn("event=cluster_orphans_expired", self.b.log_text())
        self.sipp(self.b)
        self.assertEqual(test_cti.local(c.event()), "BackInServiceEvent")
        self.assertEqual(self.owner(), ["node-b"])
        c.close()


def main():
    test_daemon.main()


if __name__ == "__main__":
    main()
