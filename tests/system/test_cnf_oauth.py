#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of configuration files for SIP OAuth devices (issue 19): with
ClusterSIPOAuthMode = 1, a device whose security profile enables OAuth gets its cnf.xml on
HTTPS 6971 only with a bearer token (curl): no token 401 with a Bearer challenge, a token
that does not verify 401 invalid_token, another user's token 403, the owner's or an
associated user's 200; the signed copy (.sgn) likewise. Over plain HTTP 6970 and TFTP the
file is served as before and holds no secret; a device whose profile does not enable
OAuth, or the mode off, needs no token on 6971 either."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402
from test_files_http import curl  # noqa: E402

OAUTH_DEV, PLAIN_DEV = "CSFJDOE", "SEP001122334455"
SECRETS = ["Jdoe-Pass-1", "Sip-Jdoe-1", "Mallory-Pass-1", "Sip-Mallory-1", "Assistant-Pass-1"]
PROV = {"version": 1,
        "securityprofiles": [
            {"name": "Jabber OAuth", "transport": "TLS", "enableoauthauthentication": True,
             "enabledigestauthentication": False},
            {"name": "Phone Digest", "transport": "TCP+UDP",
             "enableoauthauthentication": False, "enabledigestauthentication": True}],
        "users": [
            {"userid": "jdoe", "directory": "local", "password": "Jdoe-Pass-1",
             "firstname": "Jane", "lastname": "Doe", "digestpassword": "Sip-Jdoe-1"},
            {"userid": "assistant", "directory": "local", "password": "Assistant-Pass-1"},
            {"userid": "mallory", "directory": "local", "password": "Mallory-Pass-1",
             "digestpassword": "Sip-Mallory-1"}],
        "devices": [
            {"name": OAUTH_DEV, "model": "Cisco Unified Client Services Framework",
             "owner": "jdoe", "securityprofile": "Jabber OAuth", "lines": ["1001"]},
            {"name": PLAIN_DEV, "model": "Cisco 8865", "owner": "jdoe",
             "securityprofile": "Phone Digest", "lines": ["1001"]}],
        "associations": [{"user": "assistant", "device": OAUTH_DEV}]}


class CnfOAuthTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgcnfoauth")
        self.d = test_daemon.Daemon(self.root, "")
        prov = os.path.join(self.root, "prov.json")
        with open(prov, "w") as f:
            json.dump(PROV, f)
        self.d.start("--provision", prov)
        self.ca = os.path.join(self.d.state, "pki", "ca.crt")
        self.https = f"https://127.0.0.1:{self.d.files_https_port}"
        self.http = f"http://127.0.0.1:{self.d.files_http_port}"
        self.mode(1)

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def mode(self, on):
        r = self.d.cli("set", "param", "ClusterSIPOAuthMode", "1" if on else "0")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def token(self, user, aud="sip"):
        r = self.d.cli("oauth", "issue", user, "--aud", aud, "--client", "jabber")
        if r.returncode != 0 and "signer" in r.stdout + r.stderr:
            self.skipTest("no token signer: " + r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout.strip()

    def get(self, name, token=None, base=None):
        args = ["--cacert", self.ca]
        if token:
            args += ["-H", f"Authorization: Bearer {token}"]
        return curl(*args, f"{base or self.https}/{name}")

    def test_https_needs_the_owners_token(self):
        name = f"{OAUTH_DEV}.cnf.xml"
        st, h, body = self.get(name)
        self.assertEqual(st, 401, body)
        self.assertEqual(h.get("www-authenticate"), 'Bearer realm="telgate"')
        self.assertNotIn(b"<device", body)
        st, h, _ = self.get(name, token="not.a.token")
        self.assertEqual(st, 401)
        self.assertIn('error="invalid_token"', h.get("www-authenticate", ""))
        st, h, _ = self.get(name, token=self.token("jdoe", aud="cti"))  # wrong audience
        self.assertEqual(st, 401)
        self.assertIn('error="invalid_token"', h.get("www-authenticate", ""))
        st, h, _ = self.get(name, token=self.token("mallory"))
        self.assertEqual(st, 403)
        self.assertNotIn("www-authenticate", h)
        for user in ("jdoe", "assistant"):  # the owner, an associated user
            st, h, body = self.get(name, token=self.token(user))
            self.assertEqual(st, 200, body)
            self.assertIn(b"<sipOAuthMode>", body)
        log = self.d.log_text()
        self.assertRegex(log, rf"event=files_cnf_guard result=no_token device={OAUTH_DEV}")
        self.assertRegex(log, rf"result=invalid_token device={OAUTH_DEV} token=malformed")
        self.assertRegex(log, rf"result=invalid_token device={OAUTH_DEV} token=wrong_audience")
        self.assertRegex(log, rf"result=wrong_user device={OAUTH_DEV} sub=mallory jti=")
        self.assertRegex(log, rf"result=authorized device={OAUTH_DEV} sub=assistant jti=")
        self.assertNotIn(self.token("jdoe")[:40], log)  # never a token in the log
        # The signed copy is guarded as the file (it may take the signer a moment).
        deadline = time.time() + 20
        while True:
            st, _, _ = self.get(name + ".sgn", token=self.token("jdoe"))
            if st == 200 or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(st, 200)
        self.assertEqual(self.get(name + ".sgn")[0], 401)
        self.assertEqual(self.get(name + ".sgn", token=self.token("mallory"))[0], 403)

    def test_other_files_and_mode_off_need_no_token(self):
        # A device whose profile does not enable OAuth, the default file, a missing one.
        self.assertEqual(self.get(f"{PLAIN_DEV}.cnf.xml")[0], 200)
        self.assertEqual(self.get("XMLDefault.cnf.xml")[0], 200)
        self.assertEqual(self.get("SEPAAAAAAAAAAAA.cnf.xml")[0], 404)
        # Mode off: the OAuth device's file too (its sipOAuthMode is then false).
        self.mode(0)
        st, _, body = self.get(f"{OAUTH_DEV}.cnf.xml")
        self.assertEqual(st, 200, body)
        self.mode(1)
        self.assertEqual(self.get(f"{OAUTH_DEV}.cnf.xml")[0], 401)

    def test_plain_http_and_tftp_hold_no_secret(self):
        name = f"{OAUTH_DEV}.cnf.xml"
        st, _, plain = self.get(name, base=self.http)
        self.assertEqual(st, 200, plain)
        st, _, tls = self.get(name, token=self.token("jdoe"))
        self.assertEqual(st, 200)
        self.assertEqual(plain, tls)  # one file: what HTTPS guards is who, not what
        tftp_out = os.path.join(self.root, "tftp.xml")
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "-o", tftp_out,
                            f"tftp://127.0.0.1:{self.d.tftp_port}/{name}"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(tftp_out, "rb") as f:
            self.assertEqual(f.read(), plain)
        text = plain.decode()
        for secret in SECRETS:
            self.assertNotIn(secret, text)
        # No password hash, HA1 or token either (the HA1s read from the store itself).
        db = sqlite3.connect(os.path.join(self.d.state, "telgate.db"))
        rows = db.execute("SELECT ha1md5, ha1sha256 FROM sipcredential").fetchall()
        db.close()
        self.assertEqual(len(rows), 2)
        for ha1 in (h for row in rows for h in row):
            self.assertNotIn(ha1, text)
        for needle in ("$argon2", "eyJ", "password", "digest"):
            self.assertNotIn(needle, text.lower())
        self.assertIn("<sipOAuthMode>1</sipOAuthMode>", text)  # it is the OAuth device's


if __name__ == "__main__":
    test_daemon.main()
