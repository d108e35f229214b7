#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of client authentication by trust anchors and client identities (issue 15,
seed 004): a combined chain file uploaded with `telgate trust update` becomes two aliases
(the root shown [self-signed]); with `tls set kind=sip-tls allowClientApp true` SIP TLS asks
for a client certificate and a client chaining to an anchor connects (the daemon logs the
verified subject); after `trust delete` it fails with unknown_ca (alert 48); with an
identity list that does not name it, bad_certificate (alert 42); `allowClientApp false`
stops asking; all without restart. CTI TLS asks always, naming telgate's CA (issue 17). The SIP edge takes `identity add kind=sip-edge NAME`
like `telgate edge add NAME`."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402
from test_edge import Conn, make_ca, make_client, openssl  # noqa: E402


def make_sub_ca(d, name, ca):
    """An intermediate CA signed by ca (a name made by make_ca)."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d)


def s_client(port, cert=None, brief=True):
    """(return code, stdout+stderr) of one TLS 1.2 handshake to 127.0.0.1:port, presenting
    cert (a (crt, key) pair) when given. TLS 1.2: the server's verdict on the client
    certificate is part of the handshake (with TLS 1.3 it would come after it)."""
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2"]
    if brief:
        args.append("-brief")
    if cert:
        args += ["-cert", cert[0], "-key", cert[1]]
    r = subprocess.run(args, input="", capture_output=True, text=True, timeout=20)
    return r.returncode, r.stdout + r.stderr


class TrustTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="tgtrust")
        c = cls.certs = os.path.join(cls.root, "certs")
        os.makedirs(c)
        make_ca(c, "Internal Private Root")
        make_sub_ca(c, "Internal Private TLS SubCA", "Internal Private Root")
        sub = (os.path.join(c, "Internal Private TLS SubCA.crt"),
               os.path.join(c, "Internal Private TLS SubCA.key"))
        cls.client = make_client(c, "client", "bwcticlient.example.net", *sub)
        cls.chain = os.path.join(c, "combined.pem")
        with open(cls.chain, "w") as out:
            for n in ("Internal Private Root", "Internal Private TLS SubCA"):
                with open(os.path.join(c, f"{n}.crt")) as f:
                    out.write(f.read())
        # The edge trusts its own CA file; its allow-list is the edge table plus the
        # identities of kind=sip-edge.
        make_ca(c, "edgeca")
        eca = (os.path.join(c, "edgeca.crt"), os.path.join(c, "edgeca.key"))
        cls.edge = make_client(c, "edge", "newedge.example.net", *eca)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="d", dir=self.root)
        self.d = test_daemon.Daemon(
            self.dir, f"edge_ca_file = {os.path.join(self.certs, 'edgeca.crt')}\n")
        self.d.start()

    def tearDown(self):
        problem = self.d.finish()
        if problem:
            self.fail(problem)

    def cli(self, *words, ok=True):
        r = self.d.cli(*words)
        if ok:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def rows(self, *words):
        r = self.d.cli(*words, json_mode=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return json.loads(r.stdout)["rows"]

    def test_anchors_identities_and_allow_client_app_without_restart(self):
        # SIP TLS: a listener that asks for client certificates only when allowClientApp
        # says so (CTI TLS asks always since issue 17: test_cti_tls_always_asks).
        port = self.d.sip_tls_port
        r = self.cli("trust", "update", "kind=sip-tls", "webexclient", self.chain)
        self.assertIn("webexclient-2", r.stdout)
        rows = self.rows("trust", "get", "kind=sip-tls")
        self.assertEqual([x[1] for x in rows], ["webexclient", "webexclient-2"])
        root, sub = rows
        self.assertEqual(root[2], "CN=Internal Private Root")
        self.assertEqual(root[3], "CN=Internal Private Root[self-signed]")
        self.assertEqual(sub[2], "CN=Internal Private TLS SubCA")
        self.assertEqual(sub[3], "CN=Internal Private Root")
        self.assertRegex(root[5], r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$")
        # Anchors alone do not make SIP TLS ask for a certificate: allowClientApp does.
        rc, out = s_client(port, brief=False)
        self.assertIn("No client certificate CA names sent", out)
        self.cli("tls", "set", "kind=sip-tls", "allowClientApp", "true")
        rc, out = s_client(port, brief=False)
        self.assertIn("Acceptable client certificate CA names", out)
        self.assertIn("Internal Private TLS SubCA", out)
        # A client that presents no certificate still connects (asked, not required).
        rc, out = s_client(port)
        self.assertEqual(rc, 0, out)
        self.assertIn("CONNECTION ESTABLISHED", out)
        # A client chaining to the anchors connects, and the daemon verified it.
        rc, out = s_client(port, self.client)
        self.assertEqual(rc, 0, out)
        self.assertIn("CONNECTION ESTABLISHED", out)
        self.assertIn("tls_client_verified", self.d.log_text())
        self.assertIn("bwcticlient.example.net", self.d.log_text())
        # Without the issuing CA, the client's chain ends nowhere: unknown_ca.
        self.cli("trust", "delete", "kind=sip-tls", "webexclient-2")
        rc, out = s_client(port, self.client)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("alert number 48", out)
        # Uploaded again (the same file replaces the root, adds the SubCA back).
        r = self.cli("trust", "update", "kind=sip-tls", "webexclient", self.chain)
        self.assertIn("replaced", r.stdout)
        rc, out = s_client(port, self.client)
        self.assertEqual(rc, 0, out)
        # An identity list that does not name the client: bad_certificate.
        self.cli("identity", "add", "kind=sip-tls", "other.example.net")
        rc, out = s_client(port, self.client)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("alert number 42", out)
        self.assertIn("no certificate name is an allowed client identity", self.d.log_text())
        # Named (case-insensitively): it connects again.
        self.cli("identity", "add", "kind=sip-tls", "BWCTIClient.example.net")
        rc, out = s_client(port, self.client)
        self.assertEqual(rc, 0, out)
        self.assertEqual(sorted(x[1] for x in self.rows("identity", "get")),
                         ["BWCTIClient.example.net", "other.example.net"])
        # allowClientApp false: the server no longer asks.
        self.cli("tls", "set", "kind=sip-tls", "allowClientApp", "false")
        rc, out = s_client(port, self.client, brief=False)
        self.assertIn("No client certificate CA names sent", out)
        # Stored in the store, shared by a cluster.
        self.assertEqual(self.d.sql("SELECT COUNT(*) FROM tlstrustanchor")[1]["rows"], [["2"]])
        self.assertEqual(
            self.d.sql("SELECT value FROM tlssetting WHERE name = 'allowClientApp'")[1]["rows"],
            [["false"]])
        # inherit removes the kind's own setting: the system level (true) decides again.
        self.cli("tls", "set", "system", "allowClientApp", "true")
        self.cli("tls", "set", "kind=sip-tls", "allowClientApp", "inherit")
        self.assertEqual(
            self.d.sql("SELECT level, value FROM tlssetting WHERE name = 'allowClientApp'")[1]
            ["rows"], [["system", "true"]])
        rc, out = s_client(port, self.client, brief=False)
        self.assertNotIn("No client certificate CA names sent", out)

    def test_cti_tls_always_asks(self):
        """CTI TLS asks every client for a certificate, naming telgate's CA, whatever
        allowClientApp says (Standard CTI Secure Connection, issue 17: the login decides);
        a client without one connects, one from an unknown CA does not (unknown_ca)."""
        port = self.d.cti_tls_port
        for setting in (None, "false", "true"):
            if setting:
                self.cli("tls", "set", "kind=cti-tls", "allowClientApp", setting)
            rc, out = s_client(port, brief=False)
            self.assertIn("Acceptable client certificate CA names", out)
            self.assertIn("telgate CA", out)
            rc, out = s_client(port)
            self.assertEqual(rc, 0, out)
            self.assertIn("CONNECTION ESTABLISHED", out)
        rc, out = s_client(port, self.client)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("alert number 48", out)
        # The cti-tls anchors still count: a client chaining to them connects.
        self.cli("trust", "update", "kind=cti-tls", "webexclient", self.chain)
        rc, out = s_client(port, self.client)
        self.assertEqual(rc, 0, out)
        self.assertIn("CONNECTION ESTABLISHED", out)

    def test_refusals(self):
        r = self.cli("trust", "update", "system", "x", self.chain, ok=False)
        self.assertEqual(r.returncode, 64)
        self.assertIn("per kind", r.stderr)
        r = self.cli("identity", "add", "transport=cti", "a.example.net", ok=False)
        self.assertIn("per kind", r.stderr)
        r = self.cli("identity", "add", "kind=cti-tls", "*.example.net", ok=False)
        self.assertEqual(r.returncode, 64)
        # A leaf certificate is not a trust anchor; nothing is stored.
        r = self.cli("trust", "update", "kind=cti-tls", "leaf", self.client[0], ok=False)
        self.assertIn("not a CA", r.stderr)
        # An alias generated from another upload is not taken over by a new one.
        self.cli("trust", "update", "kind=cti-tls", "chain", self.chain)
        sub = os.path.join(self.certs, "Internal Private TLS SubCA.crt")
        r = self.cli("trust", "update", "kind=cti-tls", "chain-2", sub, ok=False)
        self.assertIn("belongs to the upload chain", r.stderr)
        r = self.cli("trust", "delete", "kind=cti-tls", "nope", ok=False)
        self.assertIn("no trust anchor nope", r.stderr)
        r = self.cli("tls", "set", "system", "allowClientApp", "maybe", ok=False)
        self.assertEqual(r.returncode, 64)
        self.assertEqual(self.d.sql("SELECT COUNT(*) FROM tlstrustanchor")[1]["rows"], [["2"]])

    def edge_request(self):
        """A REGISTER over the edge with the edge client's certificate: the answer, or the
        exception the refusal raised."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(*self.edge)
        raw = socket.create_connection(("127.0.0.1", self.d.sip_edge_port), timeout=10)
        s = None
        try:
            s = ctx.wrap_socket(raw, server_hostname="localhost")
            return Conn(s).request("2001", "", f"trust-{time.time_ns()}")
        except (ssl.SSLError, ConnectionError) as e:
            return e
        finally:
            if s:
                s.close()
            raw.close()

    def test_edge_identity_like_edge_add(self):
        self.assertIn("bad certificate", str(self.edge_request()).lower())
        self.cli("identity", "add", "kind=sip-edge", "newedge.example.net")
        answer = self.edge_request()
        self.assertIsInstance(answer, str)
        self.assertTrue(answer.startswith("SIP/2.0 "), answer)
        self.cli("identity", "delete", "kind=sip-edge", "newedge.example.net")
        self.assertIn("bad certificate", str(self.edge_request()).lower())
        # The edge table works as before, side by side.
        self.cli("edge", "add", "newedge.example.net")
        self.assertIsInstance(self.edge_request(), str)


if __name__ == "__main__":
    test_daemon.main()
