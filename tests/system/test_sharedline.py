#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of shared lines (issue 19, schema v14): one line on a desk phone and on the
user's softphone; a REGISTER naming its device with Jabber's Contact parameter
+u.sip!devicename.ccm.cisco.com binds that device (a CTI monitor of it sees
BackInService, one of the other device does not), the ambiguous and the wrong-device or
wrong-user cases are refused with a trace reason, `telgate line show` lists both devices,
and a store written by schema v13 keeps its lines."""
import json
import os
import re
import shutil
import socket
import sqlite3
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402
import test_cti  # noqa: E402
from test_sip import Raw, status  # noqa: E402

DESK, SOFT, OTHER = "SEP001122334455", "CSFJDOE", "SEP00AABBCCDDEE"
DN = "+u.sip!devicename.ccm.cisco.com"
PROV = {"version": 1,
        "users": [
            {"userid": "jdoe", "directory": "local", "password": "Jdoe-Pass-1",
             "digestpassword": "Sip-Jdoe-1"},
            {"userid": "mallory", "directory": "local", "password": "Mallory-Pass-1",
             "digestpassword": "Sip-Mallory-1"},
            {"userid": "mjavier", "directory": "local", "password": "Mike-Pass-1",
             "groups": ["Standard CTI Enabled", "Standard CTI Allow Control of All Devices"]}],
        "devices": [
            {"name": DESK, "model": "Cisco 8865", "owner": "jdoe", "lines": ["1001"]},
            {"name": SOFT, "model": "Cisco Unified Client Services Framework",
             "owner": "jdoe", "lines": ["1001", "1002"]},
            {"name": OTHER, "model": "Cisco 8865", "owner": "mallory", "lines": ["2001"]}]}


class DevRaw(Raw):
    """Raw's REGISTER with the Contact parameters Jabber sends (+sip.instance and, when
    given, the device name)."""

    def register(self, line, auth=None, expires=3600, callid="raw-1", transport="UDP",
                 devicename=None):
        self.cseq += 1
        params = ';+sip.instance="<urn:uuid:00000000-0000-0000-0000-%012d>"' % self.lport
        if devicename:
            params += f';{DN}="{devicename}"'
        msg = (f"REGISTER sip:telgate SIP/2.0\r\n"
               f"Via: SIP/2.0/{transport} 127.0.0.1:{self.lport};branch=z9hG4bKdev{self.cseq}\r\n"
               f"Max-Forwards: 70\r\nTo: <sip:{line}@telgate>\r\n"
               f"From: <sip:{line}@telgate>;tag=dev\r\nCall-ID: {callid}\r\n"
               f"CSeq: {self.cseq} REGISTER\r\n"
               f"Contact: <sip:{line}@127.0.0.1:{self.lport}>{params}\r\nExpires: {expires}\r\n")
        if auth:
            msg += f"Authorization: {auth}\r\n"
        msg += "Content-Length: 0\r\n\r\n"
        return self.send(msg.encode())

    def login(self, line, user, pw, devicename=None, callid="raw-1", expires=3600):
        """Challenge, then the digest answer: the final response."""
        ch = self.register(line, devicename=devicename, callid=callid, expires=expires)
        assert status(ch) == 401, ch
        auth = self.auth(ch.split("WWW-Authenticate: ")[1], user, pw)
        return self.register(line, auth, devicename=devicename, callid=callid, expires=expires)


class SharedLineTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgshared")
        self.d = test_daemon.Daemon(self.root, "[cti]\nallow_plain_login = yes\n")
        self.prov = os.path.join(self.root, "prov.json")
        with open(self.prov, "w") as f:
            json.dump(PROV, f)
        self.d.start("--provision", self.prov)
        self.clients, self.sockets = [], []

    def tearDown(self):
        for c in self.clients:
            c.close()
        for s in self.sockets:
            s.close()
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def raw(self):
        r = DevRaw(self.d.sip_port)
        self.sockets.append(r.s)
        return r

    def monitor(self, device):
        c = test_cti.Client(self.d.cti_port)
        self.clients.append(c)
        self.assertEqual(test_cti.local(c.login("mjavier", "Mike-Pass-1")),
                         "StartApplicationSessionPosResponse")
        self.assertEqual(test_cti.local(c.monitor(device)), "MonitorStartResponse")
        return c

    def registrations(self, device):
        return self.d.cli("show", "registrations", device).stdout

    def test_line_show_lists_both_devices(self):
        r = self.d.cli("line", "show", "1001")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(DESK, r.stdout)
        self.assertIn(SOFT, r.stdout)
        r = self.d.cli("line", "show", "1001", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rows = json.loads(r.stdout)["rows"]
        self.assertEqual([row[1] for row in rows], [SOFT, DESK])  # by name
        self.assertEqual({row[4] for row in rows}, {"jdoe"})
        r = self.d.cli("line", "show", "1002", json_mode=True)
        self.assertEqual([row[1] for row in json.loads(r.stdout)["rows"]], [SOFT])
        r = self.d.cli("line", "show", "9999")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no device has line '9999'", r.stdout + r.stderr)
        # Ad-hoc SQL sees the two rows of the line.
        rc, out = self.d.sql("SELECT devicename FROM deviceline WHERE line = '1001' "
                             "ORDER BY devicename")
        self.assertEqual(out["rows"], [[SOFT], [DESK]])

    def test_devicename_binds_the_softphone(self):
        soft, desk = self.monitor(SOFT), self.monitor(DESK)
        raw = self.raw()
        ok = raw.login("1001", "jdoe", "Sip-Jdoe-1", devicename=SOFT)
        self.assertEqual(status(ok), 200, ok)
        self.assertEqual(test_cti.local(soft.event()), "BackInServiceEvent")
        self.assertIn("1001", self.registrations(SOFT))
        self.assertNotIn("1001", self.registrations(DESK))
        # The desk phone's monitor saw nothing: no event is waiting for it.
        with self.assertRaises(socket.timeout):
            desk.event(timeout=1)
        log = self.d.log_text()
        self.assertRegex(log, r"event=sip_device_pick result=picked reason=named line=1001 "
                              rf"device={SOFT} devices=2")
        self.assertRegex(log, rf"event=sip_registered .*device={SOFT}")
        # A refresh (same Call-ID, next CSeq) takes the cache: same device, no new pick.
        picks = log.count("event=sip_device_pick")
        ok = raw.login("1001", "jdoe", "Sip-Jdoe-1", devicename=SOFT)
        self.assertEqual(status(ok), 200, ok)
        log = self.d.log_text()
        self.assertEqual(log.count("event=sip_device_pick"), picks)
        self.assertRegex(log, rf"event=sip_registered .*device={SOFT} .*path=cache")
        # Now the desk phone names itself (from its own port): its monitor's first event
        # is its own BackInService.
        desk_raw = self.raw()
        ok = desk_raw.login("1001", "jdoe", "Sip-Jdoe-1", devicename=DESK, callid="desk-1")
        self.assertEqual(status(ok), 200, ok)
        self.assertEqual(test_cti.local(desk.event()), "BackInServiceEvent")
        self.assertIn("1001", self.registrations(DESK))
        self.assertIn("1001", self.registrations(SOFT))
        # Unregistering the softphone takes only its binding.
        ok = raw.login("1001", "jdoe", "Sip-Jdoe-1", devicename=SOFT, expires=0)
        self.assertEqual(status(ok), 200, ok)
        self.assertEqual(test_cti.local(soft.event()), "OutOfServiceEvent")
        self.assertIn("1001", self.registrations(DESK))

    def test_line_of_one_device_needs_no_devicename(self):
        soft = self.monitor(SOFT)
        ok = self.raw().login("1002", "jdoe", "Sip-Jdoe-1")
        self.assertEqual(status(ok), 200, ok)
        self.assertEqual(test_cti.local(soft.event()), "BackInServiceEvent")
        self.assertNotIn("event=sip_device_pick", self.d.log_text())

    def refused(self, line, user, pw, devicename, reason):
        raw = self.raw()
        r = raw.login(line, user, pw, devicename=devicename, callid="refused-" + reason)
        self.assertEqual(status(r), 403, r)
        self.assertNotIn("Warning", r)  # the peer learns only the status
        log = self.d.log_text()
        self.assertRegex(log, rf"event=sip_device_pick result=refused reason={reason} "
                              rf"line={line} ")
        self.assertRegex(log, rf"event=sip_auth_failed .* aor={line} .*reason={reason}")

    def test_ambiguous_refused(self):
        desk, soft = self.monitor(DESK), self.monitor(SOFT)
        # The right user and password, but no device named on a line of two devices.
        self.refused("1001", "jdoe", "Sip-Jdoe-1", None, "ambiguous")
        self.assertRegex(self.d.log_text(), r"reason=ambiguous line=1001 devicename=\"?\"? "
                                            r"devices=2 user=jdoe")
        for c in (desk, soft):
            with self.assertRaises(socket.timeout):
                c.event(timeout=1)
        self.assertNotIn("1001", self.registrations(DESK) + self.registrations(SOFT))
        # Nothing counted against jdoe's digest credential (only the source's minute).
        show = self.d.cli("user", "show", "jdoe").stdout
        self.assertRegex(show, r"digest\s+hack_count\s+0 of")

    def test_wrong_device_or_user_refused(self):
        # A device that does not carry the line, one that does not exist, and another
        # user's credentials naming jdoe's softphone.
        self.refused("1001", "jdoe", "Sip-Jdoe-1", OTHER, "device_not_on_line")
        self.refused("1002", "jdoe", "Sip-Jdoe-1", "CSFNOBODY", "device_not_on_line")
        self.refused("1001", "mallory", "Sip-Mallory-1", SOFT, "user_not_allowed")
        self.assertEqual(self.registrations(SOFT).count("1001"), 0)

    def test_store_of_schema_13_keeps_lines(self):
        """A store written by schema v13 (deviceline.line the key) opened by this telgated
        keeps every line; afterwards the line can be shared."""
        rc, out = self.d.sql("SELECT max(version) FROM schema_version")
        latest = int(out["rows"][0][0])
        self.d.stop()
        self.d.close_pipes()
        db = sqlite3.connect(os.path.join(self.d.state, "telgate.db"))
        # Back to v13's shape: one device per line (the softphone's 1001 cannot be kept
        # there: v13 had no shared lines).
        db.executescript(
            "DELETE FROM deviceline WHERE line = '1001' AND devicename = 'CSFJDOE';"
            "CREATE TABLE deviceline_v13 (line TEXT PRIMARY KEY, devicename TEXT NOT NULL "
            " REFERENCES device (name) ON DELETE CASCADE);"
            "INSERT INTO deviceline_v13 SELECT line, devicename FROM deviceline;"
            "DROP TABLE deviceline;"
            "ALTER TABLE deviceline_v13 RENAME TO deviceline;"
            "CREATE INDEX deviceline_device ON deviceline (devicename);"
            # What later migrations created goes too (v15: the cloud CTI interfaces; v16:
            # the bindings' node, the nodes' counts; v17: registration.changedms; v18: the
            # cluster's keys and node certificates).
            "DROP TABLE ctiinterfacescope; DROP TABLE ctiinterface;"
            "DROP INDEX registration_node; ALTER TABLE registration DROP COLUMN processnode;"
            "ALTER TABLE processnode DROP COLUMN registrations;"
            "ALTER TABLE processnode DROP COLUMN ctisessions;"
            "ALTER TABLE registration DROP COLUMN changedms;"
            "DROP TABLE nodecertificate; DROP TABLE clusterkey;"
            "DELETE FROM schema_version WHERE version >= 14;")
        db.commit()
        self.assertEqual(db.execute("SELECT max(version) FROM schema_version").fetchone()[0], 13)
        before = db.execute("SELECT line, devicename FROM deviceline ORDER BY 1, 2").fetchall()
        db.close()
        self.assertEqual(before, [("1001", DESK), ("1002", SOFT), ("2001", OTHER)])
        self.d.start()
        rc, out = self.d.sql("SELECT line, devicename FROM deviceline ORDER BY 1, 2")
        self.assertEqual([tuple(r) for r in out["rows"]], before)
        rc, out = self.d.sql("SELECT max(version) FROM schema_version")
        self.assertEqual(int(out["rows"][0][0]), latest)
        # The migrated line registers its one device without a device name ...
        desk = self.monitor(DESK)
        ok = self.raw().login("1001", "jdoe", "Sip-Jdoe-1")
        self.assertEqual(status(ok), 200, ok)
        self.assertEqual(test_cti.local(desk.event()), "BackInServiceEvent")
        # ... and can be shared again: import puts 1001 on the softphone too.
        r = self.d.cli("import", self.prov)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.d.cli("line", "show", "1001", json_mode=True)
        self.assertEqual([row[1] for row in json.loads(r.stdout)["rows"]], [SOFT, DESK])


if __name__ == "__main__":
    test_daemon.main()
