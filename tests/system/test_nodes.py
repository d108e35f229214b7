#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of the node table and device security profiles (issue 16): telgated
registers its own processnode row from its configuration at start (`telgate show nodes`,
table and --json, and the node_registered log line), a restart with another
sip.oauth_port changes the row, a sipMRAOAuthPort outside seed 002's 1024-49151 stops the
start with the configuration key named; import refuses a security profile with both OAuth
and digest and a device naming a profile that does not exist (`telgate show
securityprofiles`)."""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402

COLUMNS = ["name", "address", "sip", "sips", "oauth", "mra", "cti", "cti-tls", "http", "tftp",
           "version", "heartbeat"]


class NodesTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgnodes")
        self.d = test_daemon.Daemon(self.root, self.extra(7090))

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    @staticmethod
    def extra(oauth_port):
        # Appended to the harness's [sip] section, then a second [core] section.
        return (f"oauth_port = {oauth_port}\n"
                "[core]\nnode_id = cucm-sys-1\nnode_address = phones.example.test\n")

    def expected_row(self, oauth_port):
        d = self.d
        ports = [d.sip_port, d.sip_tls_port, oauth_port, d.sip_edge_port, d.cti_port,
                 d.cti_tls_port, d.files_http_port, d.tftp_port]
        return ["cucm-sys-1", "phones.example.test"] + \
            [str(p) if p else "off" for p in ports]

    def nodes(self):
        r = self.d.cli("show", "nodes", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["columns"], COLUMNS)
        return out["rows"]

    def test_node_registers_itself(self):
        self.d.start()
        rows = self.nodes()
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][:10], self.expected_row(7090))
        self.assertRegex(rows[0][10], r"^\d+\.\d+\.\d+")  # the version
        self.assertNotEqual(rows[0][11], "")              # the last heartbeat
        # The table form: a header with every column, then the row.
        lines = self.d.cli("show", "nodes").stdout.splitlines()
        self.assertEqual(lines[0].split(), COLUMNS)
        self.assertEqual(lines[2].split()[:10], self.expected_row(7090))
        log = self.d.log_text()
        self.assertRegex(log, r"event=node_registered name=cucm-sys-1 "
                              r"address=phones\.example\.test sip=%d sips=%d oauth=7090 mra=%d "
                              % (self.d.sip_port, self.d.sip_tls_port, self.d.sip_edge_port))
        # The same row through SQL, with the start and heartbeat times set.
        r = self.d.cli("run", "sql", "select sipoauthport, sipmraoauthport, timestarted > 0, "
                       "lastheartbeat >= timestarted from processnode", json_mode=True)
        self.assertEqual(json.loads(r.stdout)["rows"],
                         [["7090", str(self.d.sip_edge_port), "1", "1"]])

        # Restarted with another sipOAuthPort and the TLS CTI listener off: the row
        # follows the configuration.
        self.assertEqual(self.d.stop(), 0)
        self.d.cti_tls_port = 0
        self.d.write_conf("info", self.extra(7091))
        self.d.start()
        rows = self.nodes()
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][:10], self.expected_row(7091))
        self.assertEqual(rows[0][7], "off")

    def test_node_delete(self):
        """A node gone for good (renamed by a restore, decommissioned) is deleted so that
        cnf.xml stops sending phones to it; a running node and this node are refused."""
        self.d.start()
        # Another node that once ran: its row, as it wrote it, last heard of at start.
        db = sqlite3.connect(os.path.join(self.d.state, "telgate.db"), timeout=10)
        db.execute("INSERT INTO processnode (name, address, sipport, securedsipport, "
                   "sipoauthport, sipmraoauthport, ctiport, ctitlsport, httpport, tftpport, "
                   "version, timestarted, lastheartbeat) SELECT 'aaa-old', '192.0.2.9', "
                   "sipport, securedsipport, sipoauthport, sipmraoauthport, ctiport, "
                   "ctitlsport, httpport, tftpport, version, timestarted, lastheartbeat "
                   "FROM processnode WHERE name = 'cucm-sys-1'")
        db.commit()
        cnf = self.d.cli("show", "config", "XMLDefault.cnf.xml").stdout
        self.assertIn("aaa-old", cnf)
        # Alive (a heartbeat just now), this node, no such node: refused, rows unchanged.
        for name, why in (("aaa-old", "it is running; stop it first"),
                          ("cucm-sys-1", "is this node"),
                          ("nosuchnode", "no node named 'nosuchnode'")):
            r = self.d.cli("node", "delete", name)
            self.assertEqual(r.returncode, 1, name)
            self.assertIn(why, r.stderr)
        self.assertEqual(sorted(row[0] for row in self.nodes()), ["aaa-old", "cucm-sys-1"])
        # Silent for ten minutes: deleted, gone from the node list and from cnf.xml.
        db.execute("UPDATE processnode SET lastheartbeat = lastheartbeat - 600 "
                   "WHERE name = 'aaa-old'")
        db.commit()
        db.close()
        r = self.d.cli("node", "delete", "aaa-old")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([row[0] for row in self.nodes()], ["cucm-sys-1"])
        self.assertNotIn("aaa-old", self.d.cli("show", "config", "XMLDefault.cnf.xml").stdout)
        self.assertRegex(self.d.log_text(), r"event=node_deleted node=aaa-old silent_s=6\d\d")

    def test_oauth_port_0_is_off(self):
        """[sip] oauth_port = 0 turns the OAuth listener off, as edge_port = 0 does the edge
        one: accepted, "off" in the node table, no sipOAuthPort in cnf.xml and no listener
        even with ClusterSIPOAuthMode on."""
        self.d.sip_edge_port = 0
        self.d.write_conf("info", self.extra(0))
        self.d.start()
        rows = self.nodes()
        self.assertEqual(rows[0][:10], self.expected_row(0))
        self.assertEqual(rows[0][4:6], ["off", "off"])
        r = self.d.cli("set", "param", "ClusterSIPOAuthMode", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        cnf = self.d.cli("show", "config", "XMLDefault.cnf.xml").stdout
        self.assertIn("<sipPort>", cnf)
        self.assertNotIn("sipOAuthPort", cnf)
        self.assertNotIn("sipMRAOAuthPort", cnf)
        self.assertNotIn("sip-oauth", self.d.cli("show", "open", "ports").stdout)

    def add_old_node(self, silent_s):
        """Another node's row, as it wrote it, its last heartbeat silent_s seconds ago."""
        db = sqlite3.connect(os.path.join(self.d.state, "telgate.db"), timeout=10)
        db.execute("INSERT INTO processnode (name, address, sipport, securedsipport, "
                   "sipoauthport, sipmraoauthport, ctiport, ctitlsport, httpport, tftpport, "
                   "version, timestarted, lastheartbeat) SELECT 'aaa-old', '192.0.2.9', "
                   "sipport, securedsipport, sipoauthport, sipmraoauthport, ctiport, "
                   "ctitlsport, httpport, tftpport, version, timestarted, lastheartbeat - ? "
                   "FROM processnode WHERE name = 'cucm-sys-1'", (silent_s,))
        db.commit()
        db.close()

    def test_node_delete_bound_follows_the_heartbeat(self):
        """The delete bound is 3 x core.heartbeat_s, not a fixed 90 s: with a 300 s heartbeat
        a node silent for 10 minutes is still alive; with a 5 s one, 60 s of silence is
        dead. The refusal names the bound."""
        self.d.write_conf("info", self.extra(7090) + "heartbeat_s = 300\n")
        self.d.start()
        self.add_old_node(600)
        r = self.d.cli("node", "delete", "aaa-old")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("it is running; stop it first (a node is deleted after 900 s without "
                      "one: 3 x core.heartbeat_s)", r.stderr)
        self.assertEqual(sorted(row[0] for row in self.nodes()), ["aaa-old", "cucm-sys-1"])
        self.assertEqual(self.d.stop(), 0)
        self.d.write_conf("info", self.extra(7090) + "heartbeat_s = 5\n")
        self.d.start()
        r = self.d.cli("node", "delete", "aaa-old")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([row[0] for row in self.nodes()], ["cucm-sys-1"])

    def test_mra_port_outside_the_seed_range_stops_the_start(self):
        # Seed 002: sipMRAOAuthPort is 1024-49151; the edge listener is that port.
        self.d.sip_edge_port = 49152
        self.d.write_conf("info", self.extra(7090))
        p = self.d.start(wait=False)
        self.assertNotEqual(p.wait(timeout=30), 0)
        self.assertIn("sip.edge_port: 49152 is not 0 (off) or 1024..49151 (sipMRAOAuthPort)",
                      self.d.stderr_text())
        # --check-config says so too, instead of passing a file the daemon will not start with.
        check = subprocess.run([test_daemon.ARGS.telgated, "--check-config", "-c", self.d.conf],
                               capture_output=True, text=True)
        self.assertNotEqual(check.returncode, 0)
        self.assertIn("sip.edge_port: 49152 is not 0", check.stderr)

    def import_doc(self, doc):
        path = os.path.join(self.root, "doc.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        return self.d.cli("import", path)

    def profiles(self):
        r = self.d.cli("show", "securityprofiles", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["columns"], ["name", "transport", "oauth", "digest", "description"])
        return out["rows"]

    def test_security_profiles(self):
        self.d.start()
        self.assertEqual(self.profiles(), [])
        r = self.d.cli("import", os.path.join(test_daemon.ARGS.examples, "demo.json"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"securityprofiles\s+2")
        rows = self.profiles()
        self.assertEqual([row[:4] for row in rows],
                         [["Cisco 8865 - Standard SIP Non-Secure Profile", "TCP+UDP", "false",
                           "true"],
                          ["Universal Device Template - OAuth", "TLS", "true", "false"]])
        self.assertIn("Universal Device Template - OAuth",
                      self.d.cli("show", "securityprofiles").stdout)

        # Both OAuth and digest: refused with seed 002's reason, nothing changed.
        r = self.import_doc({"version": 1, "securityprofiles": [
            {"name": "Both", "transport": "TLS", "enableoauthauthentication": True,
             "enabledigestauthentication": True}]})
        self.assertEqual(r.returncode, 1)
        self.assertIn("$.securityprofiles[0]: security profile 'Both': OAuth and digest "
                      "authentication cannot both be enabled (with SIP OAuth on, digest is "
                      "not offered)", r.stderr)
        # Turning OAuth on for a stored digest profile without turning digest off: the
        # same refusal.
        r = self.import_doc({"version": 1, "securityprofiles": [
            {"name": "Cisco 8865 - Standard SIP Non-Secure Profile",
             "enableoauthauthentication": True}]})
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot both be enabled", r.stderr)
        # A device naming a profile that does not exist.
        r = self.import_doc({"version": 1, "devices": [
            {"name": "SEP00000000BEEF", "securityprofile": "No Such Profile"}]})
        self.assertEqual(r.returncode, 1)
        self.assertIn("$.devices[0].securityprofile: security profile 'No Such Profile' "
                      "does not exist", r.stderr)
        self.assertEqual(self.profiles(), rows)
        rc, out = self.d.sql("select count(*) from device where name = 'SEP00000000BEEF'")
        self.assertEqual(out["rows"], [["0"]])
        # A device naming a stored profile is accepted.
        r = self.import_doc({"version": 1, "devices": [
            {"name": "CSFNEW", "securityprofile": "Universal Device Template - OAuth"}]})
        self.assertEqual(r.returncode, 0, r.stderr)
        rc, out = self.d.sql("select securityprofile from device where name = 'CSFNEW'")
        self.assertEqual(out["rows"], [["Universal Device Template - OAuth"]])


if __name__ == "__main__":
    test_daemon.main()
