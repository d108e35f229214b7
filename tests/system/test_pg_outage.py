#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test (store on PostgreSQL, issue 21): PostgreSQL stopped under a running
telgated gives clear answers — a REGISTER that needs the store gets 503 with Retry-After,
/healthz 503 with the reason, the DatabaseUnavailable alarm — a new binding of a cached
account is spooled locally and answered 200, and the daemon recovers by itself when
PostgreSQL is back: the alarm is cleared and the spooled binding is in the store.
Runs its own server (tests/system/pg.py), which it stops and starts."""
import os
import json
import shutil
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pg  # noqa: E402
import test_daemon  # noqa: E402
from test_cti import Client, local, text  # noqa: E402
from test_sip import PROV, Raw, status  # noqa: E402


class PgOutageTest(unittest.TestCase):
    def setUp(self):
        self.pg = pg.PgServer().start()
        test_daemon.PG_ADMIN = self.pg.conninfo()
        self.root = tempfile.mkdtemp(prefix="tgpgout")
        self.d = test_daemon.Daemon(self.root, "[sip]\nmin_expires = 1\n"
                                    "[cti]\nallow_plain_login = yes\n")
        prov = os.path.join(self.root, "prov.json")
        with open(prov, "w") as f:
            json.dump(PROV, f)
        self.d.start("--provision", prov)

    def tearDown(self):
        problem = self.d.finish()
        self.pg.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def healthz(self):
        url = f"http://127.0.0.1:{self.d.admin_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def register(self, line="1002", expires=3600, ports=None):
        """A new client's REGISTER through its challenge: the answer to the second (ports:
        a list that gets the client's port: its contact is sip:LINE@127.0.0.1:PORT)."""
        raw = Raw(self.d.sip_port)
        if ports is not None:
            ports.append(raw.lport)
        try:
            ch = raw.register(line, callid=f"out-{raw.lport}")
            if status(ch) != 401:
                return ch
            ch = ch.split("WWW-Authenticate: ")[1]
            return raw.register(line, raw.auth(ch, "jpinkman", "Sip-Jesse-1", line=line),
                                expires=expires, callid=f"out-{raw.lport}")
        finally:
            raw.s.close()

    def test_postgres_down_then_back(self):
        self.assertEqual(status(self.register()), 200)
        self.assertEqual(self.healthz()[0], 200)
        self.pg.pause()
        code, body = self.healthz()
        self.assertEqual(code, 503, body)
        self.assertIn("PostgreSQL unavailable", body["store"])
        # A line the registrar has not cached: its device is looked up in the store.
        r = self.register("1009")
        self.assertEqual(status(r), 503, r)
        self.assertIn("Retry-After: ", r)
        # A new binding of a cached account: its 200 waits for the commit, which cannot
        # happen: the batch goes to the local spool, fdatasync'd, and then the 200.
        spooled = []
        r = self.register(ports=spooled)
        self.assertEqual(status(r), 200, r)
        self.assertIn("event=sip_location_spooling", self.d.log_text())
        spool = os.path.join(self.d.state, "sip-location.spool")
        self.assertGreater(os.path.getsize(spool), 8)
        # The alarm, raised once for the outage (every thread's connection found it).
        alarms = self.alarms()
        self.assertEqual(alarms.count("DatabaseUnavailable"), 1,
                         [x for x in self.d.log_text().splitlines() if "alarm" in x or "pg" in x])
        self.assertNotIn("DatabaseAvailable", alarms)
        # cluster status: this node's row, from what it knows, with the reason.
        r = self.d.cli("cluster", "status", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        t = json.loads(r.stdout)
        row = dict(zip(t["columns"], t["rows"][0]))
        self.assertIn("unavailable: PostgreSQL unavailable", row["store"])
        # The listening session is gone too, and cluster status says so (it kept saying
        # "listening" after store_pg_listen_lost).
        end = time.time() + 60
        while "event=store_pg_listen_lost" not in self.d.log_text() and time.time() < end:
            time.sleep(0.05)
        self.assertIn("event=store_pg_listen_lost", self.d.log_text())
        r = self.d.cli("cluster", "status", json_mode=True)
        t = json.loads(r.stdout)
        row = dict(zip(t["columns"], t["rows"][0]))
        self.assertTrue(row["changes from other nodes"].startswith("lost, reconnecting"), row)
        # A CTI login: refused, the directory unavailable.
        c = Client(self.d.cti_port)
        try:
            r = c.login("jpinkman", "Cap-n-Cook-1")
        finally:
            c.close()
        self.assertEqual(local(r), "StartApplicationSessionNegResponse")
        self.assertEqual(text(r, "definedError"), "invalidApplicationInfo")
        end = time.time() + 60
        while "directory-unavailable" not in self.d.log_text() and time.time() < end:
            time.sleep(0.05)
        self.assertIn("directory-unavailable", self.d.log_text())
        log = self.d.log_text()
        self.assertIn("event=store_pg_unavailable", log)
        self.pg.resume()
        # Back by itself: the next attempt after the backoff (at most 5 s) reconnects.
        end = time.time() + 30
        while True:
            r = self.register()
            if status(r) == 200 or time.time() > end:
                break
            self.assertIn(status(r), (500, 503), r)
            time.sleep(0.5)
        self.assertEqual(status(r), 200, r)
        code, body = self.healthz()
        self.assertEqual(code, 200, body)
        self.assertIn("event=store_pg_reconnected", self.d.log_text())
        # Cleared once; the spool replayed into the store and truncated.
        alarms = self.alarms()
        self.assertEqual(alarms.count("DatabaseUnavailable"), 1, alarms)
        self.assertEqual(alarms.count("DatabaseAvailable"), 1, alarms)
        self.assertEqual(self.d.log_text().count("event=store_pg_unavailable"), 1)
        self.assertIn("event=sip_location_replayed", self.d.log_text())
        rows = self.d.store_rows("SELECT contact FROM registration")
        self.assertIn((f"<sip:1002@127.0.0.1:{spooled[0]}>",), rows)
        self.assertEqual(os.path.getsize(spool), 8)

    def wait_log(self, needle, count):
        end = time.time() + 60
        while self.d.log_text().count(needle) < count and time.time() < end:
            time.sleep(0.05)
        self.assertGreaterEqual(self.d.log_text().count(needle), count, needle)

    def test_idle_sessions_after_a_restart(self):
        """PostgreSQL restarted twice: each connection the server ended while it sat idle
        is made again before its next statement, not failed with the old session's error.
        The listening thread's store session, made at the first resync, is idle when the
        second outage ends; its resync then must read the store (it failed, level error,
        with "terminating connection due to administrator command", and the devices were
        not read again), and no second DatabaseUnavailable follows the server's return."""
        self.assertEqual(status(self.register()), 200)
        for outage in (1, 2):
            self.pg.pause()
            self.wait_log("event=store_pg_listen_lost", outage)
            self.pg.resume()
            self.wait_log("event=cluster_devstate_resync", outage)
        resyncs = [x for x in self.d.log_text().splitlines()
                   if "event=cluster_devstate_resync" in x]
        self.assertEqual(len(resyncs), 2, resyncs)
        for line in resyncs:
            self.assertIn("level=notice", line)
            self.assertNotIn("error=", line)
            self.assertIn("in_service=1", line)
        # The store works for the registrar, and the alarm was raised once an outage at
        # most (none when no thread needed the store while the server was down).
        self.assertEqual(status(self.register()), 200)
        self.assertLessEqual(self.alarms().count("DatabaseUnavailable"), 2)

    def alarms(self):
        r = self.d.cli("show", "alarms", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [row[2] for row in json.loads(r.stdout)["rows"]]


def main():
    test_daemon.main()


if __name__ == "__main__":
    main()
