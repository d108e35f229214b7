#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of the server certificate per interface (issue 15; the seed's sslUpdate):
`telgate tls cert update` puts a certificate made with the openssl CLI on the CTI TLS
listener, `openssl s_client -showcerts` sees it at once while SIP TLS keeps the node
certificate; a key that does not match, an expired certificate and a CA certificate are
refused with the reason; `tls cert get` shows the fingerprint s_client saw; `tls cert
delete` returns to the node certificate; a certificate expiring within 30 days raises
CertificateExpiryWarning (telgate show alarms)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402


def openssl(*args, stdin=None):
    r = subprocess.run(["openssl", *args], input=stdin, capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


class Pki:
    """A test CA and certificates it signs, made with the openssl CLI (EC P-256)."""

    def __init__(self, root):
        self.dir = os.path.join(root, "testpki")
        os.makedirs(self.dir)
        self.ca_key, self.ca_crt = self.path("ca.key"), self.path("ca.crt")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", self.ca_key, "-out", self.ca_crt, "-days", "365",
                "-subj", "/CN=Test Root CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def path(self, name):
        return os.path.join(self.dir, name)

    def server(self, name, days, ext="extendedKeyUsage=serverAuth", newkey=("ec", "-pkeyopt",
                                                                          "ec_paramgen_curve:P-256")):
        """(key, cert) of a certificate for name, signed by the CA, valid days."""
        key, csr, crt = self.path(name + ".key"), self.path(name + ".csr"), self.path(name + ".crt")
        extfile = self.path(name + ".ext")
        with open(extfile, "w") as f:
            f.write(f"subjectAltName=DNS:{name},IP:127.0.0.1\nbasicConstraints=CA:FALSE\n{ext}\n")
        openssl("req", "-newkey", *newkey, "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
        openssl("x509", "-req", "-in", csr, "-CA", self.ca_crt, "-CAkey", self.ca_key,
                "-set_serial", str(abs(hash(name)) % 100000 + 2), "-days", str(days),
                "-extfile", extfile, "-out", crt)
        return key, crt


def served_leaf(port):
    """(subject line, SHA-256 fingerprint) of the leaf a TLS client gets on port."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-showcerts"],
                       input="", capture_output=True, text=True, timeout=20)
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", r.stdout, re.S)
    assert m, r.stdout + r.stderr
    fp = openssl("x509", "-noout", "-fingerprint", "-sha256", stdin=m.group(0))
    subject = openssl("x509", "-noout", "-subject", stdin=m.group(0)).strip()
    return subject, fp.strip().split("=", 1)[1]


class TlsCertTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgcert")
        self.d = test_daemon.Daemon(self.root)
        self.d.start()
        self.pki = Pki(self.root)
        self.iface = f"interface=cti-tls@127.0.0.1:{self.d.cti_tls_port}"

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def cert(self, *words, ok=True):
        r = self.d.cli("tls", "cert", *words)
        if ok:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        else:
            self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def selfsigned(self):
        key = self.pki.path("self.key")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", self.pki.path("self.crt"), "-days", "30",
                "-subj", "/CN=self.example.test", "-addext", "basicConstraints=CA:FALSE")
        return key

    def get_rows(self, *words):
        return json.loads(self.d.cli("tls", "cert", "get", *words, json_mode=True).stdout)["rows"]

    def test_update_get_delete_without_restart(self):
        cti, sip = self.d.cti_tls_port, self.d.sip_tls_port
        node_subject, node_fp = served_leaf(cti)
        _, sip_fp = served_leaf(sip)
        key, crt = self.pki.server("cti.example.test", 365)
        self.cert("update", self.iface, key, crt, self.pki.ca_crt)
        subject, fp = served_leaf(cti)
        self.assertIn("cti.example.test", subject)
        self.assertNotEqual(fp, node_fp)
        # SIP TLS keeps the node certificate.
        self.assertEqual(served_leaf(sip)[1], sip_fp)
        # tls cert get: the fingerprint s_client saw, the source, names and dates.
        row = self.get_rows(self.iface)
        self.assertEqual(len(row), 1)
        iface, source, subj, issuer, sans, not_after, sha = row[0]
        self.assertEqual(iface, self.iface[len("interface="):])
        self.assertEqual(source, "interface override")
        self.assertEqual(sha, fp)
        self.assertIn("cti.example.test", subj)
        self.assertIn("Test Root CA", issuer)
        self.assertEqual(sans, "DNS:cti.example.test, IP:127.0.0.1")
        self.assertRegex(not_after, r"^\d{4}-\d\d-\d\dT")
        every = {r[0]: r for r in self.get_rows()}
        self.assertEqual(every[f"sip-tls@127.0.0.1:{sip}"][1], "node certificate")
        self.assertEqual(every[f"sip-tls@127.0.0.1:{sip}"][6], sip_fp)
        # The key is stored 0600 under the PKI directory.
        d = os.path.join(self.d.state, "pki", "interfaces", f"cti-tls@127.0.0.1_{cti}")
        self.assertEqual(os.stat(os.path.join(d, "key.pem")).st_mode & 0o777, 0o600)
        # Still served after a restart.
        self.d.stop()
        self.d.close_pipes()
        self.d.start()
        self.assertEqual(served_leaf(cti)[1], fp)
        # delete: back to the node certificate, no restart.
        r = self.cert("delete", self.iface)
        self.assertIn("node certificate", r.stdout)
        self.assertEqual(served_leaf(cti)[1], node_fp)
        self.assertEqual(self.get_rows(self.iface)[0][1], "node certificate")
        self.assertIn("tls_cert_updated", self.d.log_text())
        self.assertIn("tls_cert_deleted", self.d.log_text())

    def test_refusals_say_why_and_change_nothing(self):
        cti = self.d.cti_tls_port
        _, node_fp = served_leaf(cti)
        key, crt = self.pki.server("good.example.test", 365)
        other_key, _ = self.pki.server("other.example.test", 365)
        old_key, old_crt = self.pki.server("old.example.test", -1)
        client_key, client_crt = self.pki.server("client.example.test", 365,
                                                 "extendedKeyUsage=clientAuth")
        cases = [
            ((other_key, crt, self.pki.ca_crt), "does not match"),
            ((old_key, old_crt, self.pki.ca_crt), "expired"),
            ((self.pki.ca_key, self.pki.ca_crt), "CA certificate"),
            ((client_key, client_crt, self.pki.ca_crt), "serverAuth"),
            ((key, crt), "does not verify"),  # no chain, not telgate's CA
            ((self.selfsigned(), self.pki.path("self.crt")), "self-signed"),
        ]
        with open(key) as f:
            key_text = f.read()
        for files, reason in cases:
            r = self.cert("update", self.iface, *files, ok=False)
            self.assertIn(reason, r.stderr, files)
            self.assertIn("nothing changed", r.stderr)
            # Errors never carry key material.
            for line in key_text.splitlines()[1:-1]:
                self.assertNotIn(line, r.stderr)
        self.assertEqual(served_leaf(cti)[1], node_fp)
        # An unknown interface is refused with the list of the TLS listeners.
        r = self.cert("update", "interface=cti-tls@127.0.0.1:1", key, crt, self.pki.ca_crt,
                      ok=False)
        self.assertIn("no TLS listener cti-tls@127.0.0.1:1", r.stderr)
        self.assertIn(f"cti-tls@127.0.0.1:{cti}", r.stderr)
        self.assertIn(f"sip-tls@127.0.0.1:{self.d.sip_tls_port}", r.stderr)
        r = self.cert("update", "kind=cti-tls", key, crt, ok=False)
        self.assertEqual(r.returncode, 64)
        r = self.cert("update", self.iface, key, os.path.join(self.root, "missing.crt"),
                      ok=False)
        self.assertIn("missing.crt", r.stderr)
        self.assertNotIn("CertificateExpiryWarning", self.d.cli("show", "alarms").stdout)

    def test_broken_override_at_start_serves_the_node_certificate(self):
        cti = self.d.cti_tls_port
        _, node_fp = served_leaf(cti)
        self.d.stop()
        self.d.close_pipes()
        d = os.path.join(self.d.state, "pki", "interfaces", f"cti-tls@127.0.0.1_{cti}")
        os.makedirs(d)
        for name in ("key.pem", "cert.pem"):
            with open(os.path.join(d, name), "w") as f:
                f.write("not PEM\n")
        self.d.start()
        self.assertEqual(served_leaf(cti)[1], node_fp)
        self.assertIn("tls_override_failed", self.d.log_text())
        self.assertEqual(self.get_rows(self.iface)[0][1], "node certificate")
        # A good update replaces the broken files.
        key, crt = self.pki.server("fixed.example.test", 365)
        self.cert("update", self.iface, key, crt, self.pki.ca_crt)
        self.assertIn("fixed.example.test", served_leaf(cti)[0])

    def test_key_type_must_fit_the_tls_policy(self):
        # TLS 1.2 only, ECDSA suites only on this interface: an RSA certificate would leave
        # no suite to offer, so it is refused; SIP TLS (default policy) takes it.
        for words in (("protocols", "add", self.iface, "TLSv1.2"),
                      ("ciphers", "add", self.iface, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")):
            r = self.d.cli("tls", *words)
            self.assertEqual(r.returncode, 0, r.stderr)
        key, crt = self.pki.server("rsa.example.test", 365, newkey=("rsa:2048",))
        r = self.cert("update", self.iface, key, crt, self.pki.ca_crt, ok=False)
        self.assertIn("none of its TLS 1.2 suites can be used with the listener's RSA "
                      "certificate", r.stderr)
        self.assertEqual(self.get_rows(self.iface)[0][1], "node certificate")
        sip = f"interface=sip-tls@127.0.0.1:{self.d.sip_tls_port}"
        self.cert("update", sip, key, crt, self.pki.ca_crt)
        self.assertIn("rsa.example.test", served_leaf(self.d.sip_tls_port)[0])

    def test_expiry_alarm(self):
        key, crt = self.pki.server("soon.example.test", 10)
        self.cert("update", self.iface, key, crt, self.pki.ca_crt)
        out = self.d.cli("show", "alarms").stdout
        self.assertIn("CertificateExpiryWarning", out)
        self.assertIn(self.iface[len("interface="):], out)
        self.assertIn("interface override", out)
        # Once a day per listener and certificate, not on every check: SIGHUP checks
        # every context again (the log says "reload" after it did).
        os.kill(self.d.proc.pid, signal.SIGHUP)
        deadline = time.time() + 20
        while "event=reload" not in self.d.log_text() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("event=reload", self.d.log_text())
        alarms = json.loads(self.d.cli("show", "alarms", json_mode=True).stdout)["rows"]
        mine = [a for a in alarms if a[2] == "CertificateExpiryWarning" and
                "Interface=" + self.iface[len("interface="):] in a[4]]
        self.assertEqual(len(mine), 1, alarms)
        self.assertEqual(mine[0][1], "Warning")
        self.assertIn("DaysLeft=", mine[0][4])

if __name__ == "__main__":
    test_daemon.main()
