#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of SIP OAuth (issue 19 part A, seed 002): the seed's flow end to end
(`utils sipOAuth-mode enable`, cnf.xml over HTTP, a token, SIPp over stunnel to sipOAuthPort
registering, refreshing and unregistering with the token, a CTI monitor seeing the device
come into and go out of service), SIPp in Jabber's 407 shape and in RFC 8898's, one
negative per decision with a Python TLS client, the mode switched off at runtime, 5060/5061
with the mode on, and the edge (5091) with bearer tokens over mutual TLS."""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_cti  # noqa: E402
import test_daemon  # noqa: E402
import test_edge  # noqa: E402
from test_edge import Conn, header, status  # noqa: E402

SIPP_DIR = os.path.join(HERE, "sipp")
PW = test_edge.PW
P = "+u.sip!userid.ccm.cisco.com"
MISMATCH = '"SIP OAuth Registration port Mismatch"'
OAUTH, DIGEST, NEITHER = "Jabber - OAuth", "Phone - Digest", "Neither"
PROV = {
    "version": 1,
    "users": [{"userid": u, "directory": "local", "password": "Pass-word-1",
               "groups": ["Standard CTI Enabled"]}
              for u in ("jabber", "assoc", "mallory", "carol", "dora")] +
             [{"userid": "sipacct", "directory": "local", "password": "Pass-word-1",
               "digestpassword": PW},
              {"userid": "ctiapp", "directory": "local", "password": "Cti-App-Pass-1",
               "groups": ["Standard CTI Enabled",
                          "Standard CTI Allow Control of All Devices"]}],
    "securityprofiles": [
        {"name": OAUTH, "transport": "TLS", "enableoauthauthentication": True},
        {"name": DIGEST, "enabledigestauthentication": True},
        {"name": NEITHER}],
    "devices": [
        # the Jabber softphone: OAuth profile, owner jabber, assoc associated
        {"name": "CSFJABBER", "model": "Cisco Unified Client Services Framework",
         "owner": "jabber", "lines": ["3001"], "securityprofile": OAUTH,
         "digestuser": "sipacct"},
        # an OAuth device with no owner and nobody associated
        {"name": "CSFNOBODY", "model": "Cisco Unified Client Services Framework",
         "lines": ["3002"], "securityprofile": OAUTH},
        # a digest phone of jabber's: its profile does not take tokens
        {"name": "SEPD16E57000003", "model": "Cisco 8865", "owner": "jabber",
         "lines": ["3003"], "securityprofile": DIGEST, "digestuser": "sipacct"},
        # a profile with neither: refused, never unauthenticated
        {"name": "SEPD16E57000004", "model": "Cisco 8865", "owner": "jabber",
         "lines": ["3004"], "securityprofile": NEITHER, "digestuser": "sipacct"}],
    "associations": [{"user": "assoc", "device": "CSFJABBER"},
                     {"user": "dora", "device": "CSFJABBER"}]}


class SipOAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="tgsipoauth")
        cls.certs = os.path.join(cls.root, "certs")
        os.makedirs(cls.certs)
        test_edge.make_ca(cls.certs, "edgeca")
        cls.trust = os.path.join(cls.certs, "edgeca.crt")
        cls.node = "tg-oauth-1"
        cls.oauth_port = test_daemon.free_port(top=49151)
        # Tokens live 60 s with no leeway: the expired-token test waits for one.
        cls.d = test_daemon.Daemon(cls.root, "challenge_sha256 = no\n"
                                   f"oauth_port = {cls.oauth_port}\n"
                                   f"edge_ca_file = {cls.trust}\n"
                                   f"[core]\nnode_id = {cls.node}\n"
                                   "[cti]\nallow_plain_login = yes\n"
                                   "[oauth]\naccess_token_expiry_s = 60\nleeway_s = 0\n")
        prov = os.path.join(cls.root, "prov.json")
        with open(prov, "w") as f:
            json.dump(PROV, f)
        cls.d.start("--provision", prov)
        cls.ca_crt = os.path.join(cls.d.state, "pki", "ca.crt")
        cls.edge = test_edge.make_client(cls.certs, "edge1", "edge1.example.com",
                                         os.path.join(cls.certs, "edgeca.crt"),
                                         os.path.join(cls.certs, "edgeca.key"))
        assert cls.d.cli("edge", "add", "edge1.example.com", "test").returncode == 0
        cls.soon_expired = None

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()
        cls.d.close_pipes()
        if not os.environ.get("TG_KEEP"):
            shutil.rmtree(cls.root, ignore_errors=True)

    def setUp(self):
        self.mode(True)

    # --- helpers ---------------------------------------------------------------------

    def mode(self, on):
        r = self.d.cli("utils", "sipOAuth-mode", "enable" if on else "disable", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        return json.loads(r.stdout)

    def token(self, user="jabber", aud="sip"):
        r = self.d.cli("oauth", "issue", user, "--aud", aud, "--client", "jabber-test")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def ctx(self, cert=None):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.load_verify_locations(self.ca_crt)
        if cert:
            c.load_cert_chain(*cert)
        return c

    def conn(self, port=None, cert=None, tls=True):
        raw = socket.create_connection(("127.0.0.1", port or self.oauth_port), timeout=10)
        if not tls:
            return Conn(raw)
        return Conn(self.ctx(cert).wrap_socket(raw, server_hostname="localhost"))

    def reg(self, line, auth=None, proxy=False, params="", port=None, cert=None, tls=True,
            expires=3600):
        """One REGISTER; auth goes in Proxy-Authorization (Jabber) or Authorization."""
        c = self.conn(port, cert, tls)
        callid = f"oauth-{line}-{time.time_ns()}"
        if proxy and auth:
            c.s.settimeout(10)
            c.cseq += 1
            msg = (f"REGISTER sip:telgate SIP/2.0\r\n"
                   f"Via: SIP/2.0/TLS 127.0.0.1:{c.lport};branch=z9hG4bKo{c.cseq}\r\n"
                   f"Max-Forwards: 70\r\nTo: <sip:{line}@telgate>\r\n"
                   f"From: <sip:{line}@telgate>;tag=j\r\nCall-ID: {callid}\r\n"
                   f"CSeq: {c.cseq} REGISTER\r\n"
                   f"Contact: <sip:{line}@127.0.0.1:{c.lport};transport=tls>{params}\r\n"
                   f"Expires: {expires}\r\nProxy-Authorization: {auth}\r\n"
                   f"Content-Length: 0\r\n\r\n")
            r = c.exchange(msg)
        else:
            r = c.request(line, params, callid, auth=auth,
                          transport="TLS" if tls else "TCP", expires=expires)
        c.s.close()
        return r, callid

    def trace(self, callid, event):
        return [line for line in self.d.log_text().splitlines()
                if callid in line and f"event={event} " in line]

    def port_listed(self):
        r = self.d.cli("show", "open", "ports", "regexp", str(self.oauth_port))
        self.assertEqual(r.returncode, 0, r.stderr)
        return "sip-oauth" in r.stdout

    def sipp_over_tls(self, scenario, fields, port=None, cert=None):
        inf = os.path.join(self.root, f"inj-{time.time_ns()}.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n" + ";".join(fields) + "\n")
        p, lport = test_daemon.stunnel_client(self.root, port or self.oauth_port, self.ca_crt,
                                              cert)
        try:
            return subprocess.run(
                ["sipp", "-nostdin", "-timeout", "20", "-timeout_error", "-sf",
                 os.path.join(SIPP_DIR, scenario), "-inf", inf, "-t", "t1", "-m", "1",
                 f"127.0.0.1:{lport}"], capture_output=True, text=True, timeout=60)
        finally:
            p.kill()
            p.wait()

    # --- the seed's flow -------------------------------------------------------------

    def test_seed002_flow_end_to_end(self):
        ans = self.mode(True)
        self.assertEqual((ans["mode"], ans["port"]), (1, self.oauth_port))
        r = self.d.cli("utils", "sipOAuth-mode", "status", json_mode=True)
        self.assertEqual(json.loads(r.stdout)["port"], self.oauth_port)
        self.assertTrue(self.port_listed())
        _, rows = self.d.sql("select paramvalue from processconfig "
                             "where paramname='ClusterSIPOAuthMode'")
        self.assertEqual(rows["rows"][0][0], "1")
        # The device reads its configuration file over HTTP (6970).
        url = f"http://127.0.0.1:{self.d.files_http_port}/CSFJABBER.cnf.xml"
        cnf = urllib.request.urlopen(url, timeout=10).read().decode()
        self.assertIn("<sipOAuthMode>1</sipOAuthMode>", cnf)
        self.assertIn(f"<sipOAuthPort>{self.oauth_port}</sipOAuthPort>", cnf)
        tok = self.token()
        self.d.cli("unregister", "CSFJABBER")  # out of service whatever ran before
        c = test_cti.Client(self.d.cti_port)
        self.assertEqual(test_cti.local(c.login("ctiapp", "Cti-App-Pass-1")),
                         "StartApplicationSessionPosResponse")
        self.assertEqual(test_cti.local(c.monitor("CSFJABBER")), "MonitorStartResponse")
        r = self.sipp_over_tls("register_bearer_jabber.xml", ["3001", tok])
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        self.assertEqual(test_cti.local(c.event()), "BackInServiceEvent")
        self.assertEqual(test_cti.local(c.event()), "OutOfServiceEvent")
        c.close()
        log = self.d.log_text()
        ok = [ln for ln in log.splitlines() if "event=sip_registered " in ln and
              "device=CSFJABBER" in ln and "auth=bearer" in ln and
              "user_agent=telgate-test-jabber" in ln]
        self.assertEqual(len(ok), 3, ok)  # register, refresh, unregister
        self.assertTrue(all(re.search(r" jti=[A-Za-z0-9_-]{22} ", ln) for ln in ok), ok)
        # the refresh and the removal come from the verified-token cache and the grant
        self.assertEqual([ln.split("path=")[1] for ln in ok], ["store", "cache", "cache"])
        self.assertNotIn(tok, log)  # the trace names the jti, never the token
        self.assertNotIn(tok.split(".")[2], log)

    def test_sipp_rfc8898_form(self):
        tok = self.token()
        r = self.sipp_over_tls("register_bearer_rfc8898.xml", ["3001", tok, tok[:-4] + "AAAA"])
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])

    # --- one negative per decision on 5090 ---------------------------------------------

    def test_no_token_gets_the_bearer_challenge(self):
        r, _ = self.reg("3001")
        self.assertEqual(status(r), 407, r)
        ch = header(r, "Proxy-Authenticate")
        self.assertRegex(ch, r'^Proxy-Authenticate: Bearer realm="[^"]+", scope="sip", '
                             r'authz_server="https://[^"]+"$')
        self.assertIsNone(header(r, "WWW-Authenticate"))

    def invalid(self, tok, reason, proxy=True):
        """The token is refused with invalid_token, the trace says why."""
        auth = f'Bearer token="{tok}"' if proxy else f"Bearer {tok}"
        r, callid = self.reg("3001", auth, proxy=proxy)
        self.assertEqual(status(r), 407 if proxy else 401, r)
        ch = header(r, "Proxy-Authenticate" if proxy else "WWW-Authenticate")
        self.assertIn('error="invalid_token"', ch)
        self.assertIn("authz_server=", ch)
        t = self.trace(callid, "sip_oauth_refused")
        self.assertEqual(len(t), 1, t)
        self.assertIn(f"reason={reason} ", t[0])
        self.assertNotIn(reason, r)  # the peer gets only the status

    def test_revoked_token(self):
        tok = self.token("assoc")
        self.assertEqual(self.d.cli("oauth", "revoke", "assoc").returncode, 0)
        self.invalid(tok, "revoked")
        self.invalid(tok, "revoked", proxy=False)  # RFC 8898 form: 401 WWW-Authenticate

    def test_cti_audience_token(self):
        self.invalid(self.token(aud="cti"), "wrong_audience")

    def test_forged_token(self):
        tok = self.token()
        self.invalid(tok[:-6] + ("AAAAAA" if not tok.endswith("AAAAAA") else "BBBBBB"),
                     "bad_signature")

    def test_zz_expired_token(self):
        """Last (zz): a token of the 60 s lifetime is made, then waited out."""
        tok = self.token("carol")
        time.sleep(62)
        self.invalid(tok, "expired")

    def test_user_not_associated(self):
        r, callid = self.reg("3001", f'Bearer token="{self.token("mallory")}"', proxy=True)
        self.assertEqual(status(r), 403, r)
        self.assertIsNone(header(r, "Warning"))
        self.assertIn('reason="token user neither owner nor associated"',
                      self.trace(callid, "sip_oauth_refused")[0])

    def test_unowned_device(self):
        r, callid = self.reg("3002", f'Bearer token="{self.token()}"', proxy=True)
        self.assertEqual(status(r), 403, r)
        self.assertIn("token user neither owner nor associated",
                      self.trace(callid, "sip_oauth_refused")[0])

    def test_profile_without_oauth(self):
        r, callid = self.reg("3003", f'Bearer token="{self.token()}"', proxy=True)
        self.assertEqual(status(r), 403, r)
        self.assertEqual(header(r, "Warning"), f"Warning: 399 {self.node} {MISMATCH}")
        self.assertIsNotNone(header(r, "Retry-After"))
        self.assertIn('reason="profile without OAuth"', self.trace(callid, "sip_oauth_refused")[0])

    def test_digest_on_5090(self):
        c = self.conn()
        callid = f"digest5090-{time.time_ns()}"
        auth = ('Digest username="sipacct", realm="telgate", nonce="x", uri="sip:telgate", '
                'response="00000000000000000000000000000000", algorithm=MD5, qop=auth, '
                'nc=00000001, cnonce="c", opaque="tg"')
        r = c.request("3003", "", callid, auth=auth)
        self.assertEqual(status(r), 403, r)
        self.assertEqual(header(r, "Warning"), f"Warning: 399 {self.node} {MISMATCH}")
        self.assertIsNotNone(header(r, "Retry-After"))

    def test_associated_user_registers(self):
        r, callid = self.reg("3001", f"Bearer {self.token('assoc')}")
        self.assertEqual(status(r), 200, r)
        self.assertIn("user=assoc", self.trace(callid, "sip_registered")[0])
        self.assertEqual(self.d.cli("unregister", "CSFJABBER").returncode, 0)

    def test_fast_path_follows_the_store(self):
        """A refresh is answered from the cache; a lock (which revokes the user's tokens)
        and a profile change are seen by the next REGISTER."""
        tok = self.token("dora")
        paths = []
        for _ in range(2):
            r, callid = self.reg("3001", f"Bearer {tok}")
            self.assertEqual(status(r), 200, r)
            paths.append(self.trace(callid, "sip_registered")[0].split("path=")[1])
        self.assertEqual(paths, ["store", "cache"])
        self.assertEqual(self.d.cli("user", "lock", "dora").returncode, 0)
        self.invalid(tok, "revoked")
        self.assertEqual(self.d.cli("unregister", "CSFJABBER").returncode, 0)

    # --- the mode at runtime, and 5060/5061 --------------------------------------------

    def test_mode_off_at_runtime(self):
        self.assertTrue(self.port_listed())
        ans = self.mode(False)
        self.assertEqual((ans["mode"], ans["port"]), (0, 0))
        self.assertFalse(self.port_listed())
        with self.assertRaises(OSError):
            self.conn()
        url = f"http://127.0.0.1:{self.d.files_http_port}/CSFJABBER.cnf.xml"
        cnf = urllib.request.urlopen(url, timeout=10).read().decode()
        self.assertIn("<sipOAuthMode>0</sipOAuthMode>", cnf)
        # Devices register as their profile says: digest on 5061 ...
        c = self.conn(self.d.sip_tls_port)
        self.assertEqual(status(c.register("3003", "", f"off-{time.time_ns()}")), 200)
        # ... and an OAuth profile has digest off: refused, never unauthenticated.
        c = self.conn(self.d.sip_tls_port)
        self.assertEqual(status(c.register("3001", "", f"off-{time.time_ns()}")), 403)
        c = self.conn(self.d.sip_tls_port)
        self.assertEqual(status(c.register("3004", "", f"off-{time.time_ns()}")), 403)
        # `set param` reaches the registrar too (within a second: no restart).
        self.assertEqual(self.d.cli("set", "param", "ClusterSIPOAuthMode", "1").returncode, 0)
        deadline = time.time() + 10
        while not self.port_listed() and time.time() < deadline:
            time.sleep(0.2)
        self.assertTrue(self.port_listed())
        r, _ = self.reg("3001")
        self.assertEqual(status(r), 407)

    def test_bearer_on_5060_gets_the_digest_challenge(self):
        for port, tls in ((self.d.sip_port, False), (self.d.sip_tls_port, True)):
            r, _ = self.reg("3001", f"Bearer {self.token()}", port=port, tls=tls)
            self.assertEqual(status(r), 401, r)
            self.assertIn("WWW-Authenticate: Digest", r)
            self.assertNotIn("Bearer", r)

    def test_oauth_device_trying_digest_on_5061(self):
        c = self.conn(self.d.sip_tls_port)
        callid = f"digest5061-{time.time_ns()}"
        r = c.register("3001", "", callid)
        self.assertEqual(status(r), 403, r)
        self.assertEqual(header(r, "Warning"), f"Warning: 399 {self.node} {MISMATCH}")
        self.assertIn("OAuth profile", self.trace(callid, "sip_oauth_refused")[0])
        # The digest device next to it is not affected by the mode.
        c = self.conn(self.d.sip_tls_port)
        self.assertEqual(status(c.register("3003", "", f"d5061-{time.time_ns()}")), 200)

    # --- the edge (5091): bearer over mutual TLS, seed 003's asserted user id ------------

    def test_edge_rows_with_bearer(self):
        rows = [  # (token user, Contact parameters, status, what the trace says)
            ("jabber", "", 200, "no user id parameter"),
            ("jabber", f';{P}="jabber"', 200, "owner id"),
            ("assoc", f';{P}="assoc"', 200, "associated end user"),
            ("jabber", f';{P}="carol"', 401, "neither the owner nor an associated user"),
            ("jabber", f';{P}="jabber";{P}="assoc"', 401, "several different user ids"),
            ("jabber", f';{P}=""', 401, "empty user id"),
            ("mallory", f';{P}="jabber"', 403, None),  # the token's user is not allowed
        ]
        self.mode(False)  # the edge does not depend on the mode
        for user, params, want, rule in rows:
            with self.subTest(user=user, params=params):
                r, callid = self.reg("3001", f'Bearer token="{self.token(user)}"',
                                     proxy=True, params=params, port=self.d.sip_edge_port,
                                     cert=self.edge)
                self.assertEqual(status(r), want, r)
                if rule:
                    self.assertIn(rule, self.trace(callid, "sip_authz")[0])
                if want == 200:
                    self.assertIn("auth=bearer", self.trace(callid, "sip_registered")[0])
        # Digest stays what it was for digest devices; an OAuth device's digest is refused.
        c = self.conn(self.d.sip_edge_port, self.edge)
        self.assertEqual(status(c.register("3003", "", f"edge-d-{time.time_ns()}")), 200)
        c = self.conn(self.d.sip_edge_port, self.edge)
        self.assertEqual(status(c.register("3001", "", f"edge-d-{time.time_ns()}")), 403)


if __name__ == "__main__":
    test_daemon.main()
