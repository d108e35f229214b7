#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of the TLS policy on every TLS listener of telgated (issue 15, seed 004): CTI
TLS (2749), SIP TLS (5061), SIP OAuth (5090, opened with `utils sipOAuth-mode enable`), the
SIP edge (5091, mutual TLS, allow-listed with `edge add`), a cloud CTI interface (8012,
mutual TLS, `cti-interface add`), the device files over HTTPS (6971) and the HTTPS services
(EST, 8443), all on free loopback ports. Seen from outside with sslscan and `openssl
s_client` (the mutual-TLS ones with a client certificate signed by the node's CA):

- each listener offers exactly the set `tls show` says, with the defaults and with a
  different setting at each interface (two listeners of one kind keep theirs apart);
- TLS 1.0 and 1.1 handshakes fail on every listener with a protocol_version alert;
- protocols by level, without a restart: TLSv1.3 only at transport=sip refuses a TLS 1.2
  client on 5061 and 5091 but not on 2749; TLSv1.2 only at one interface overrides it
  there and nowhere else; clearing the interface brings the transport's setting back;
- the admin listener (9464) is plain HTTP, not a TLS listener (docs/tls.md says why)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402
from test_edge import make_client  # noqa: E402
from test_tls import A128, A256, CHACHA, effective_set, s_client, sslscan  # noqa: E402

CLIENT_CN = "listeners.client.example"
CBC = "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"


class TlsListenersTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgtlsl")
        self.oauth_port = test_daemon.free_port(top=49151)  # sipOAuthPort: 1024-49151
        self.d = test_daemon.Daemon(self.root, f"oauth_port = {self.oauth_port}\n")
        self.d.start()
        d = self.d
        self.cloud_port = test_daemon.free_port()
        # One client certificate for both mutual-TLS listeners, signed by the node's CA:
        # the edge's default trust store; uploaded as the cloud CTI interfaces' anchor.
        pki = os.path.join(d.state, "pki")
        self.cert = make_client(self.root, "client", CLIENT_CN, os.path.join(pki, "ca.crt"),
                                os.path.join(pki, "ca.key"))
        self.cli("edge", "add", CLIENT_CN, "tls listeners test")
        self.cli("utils", "sipOAuth-mode", "enable")
        self.cli("cti-interface", "add", str(self.cloud_port), "true", "true", "true",
                 "127.0.0.1")
        self.cli("trust", "update", "kind=cti-interface", "nodeca", os.path.join(pki, "ca.crt"))
        self.cli("identity", "add", "kind=cti-interface", CLIENT_CN)
        self.cli("tls", "set", "kind=cti-interface", "allowClientApp", "true")
        # name -> (port, interface level, client certificate or None)
        self.listeners = {
            "cti-tls": (d.cti_tls_port, "cti-tls", None),
            "sip-tls": (d.sip_tls_port, "sip-tls", None),
            "sip-oauth": (self.oauth_port, "sip-tls", None),
            "sip-edge": (d.sip_edge_port, "sip-edge", self.cert),
            "cti-interface": (self.cloud_port, "cti-interface", self.cert),
            "files-https": (d.files_https_port, "https", None),
            "est-https": (d.est_port, "https", None),
        }
        listed = {r[0] for r in json.loads(d.cli("tls", "show", json_mode=True).stdout)["rows"]}
        for name, (port, kind, _) in self.listeners.items():
            self.assertIn(self.iface(name), listed, name)
        # The admin listener (/metrics, /healthz) is plain HTTP on loopback: no TLS listener.
        self.assertFalse([i for i in listed if i.endswith(f":{d.admin_port}")], listed)

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def cli(self, *words):
        r = self.d.cli(*words)
        self.assertEqual(r.returncode, 0, " ".join(words) + ": " + r.stdout + r.stderr)
        return r

    def iface(self, name):
        port, kind, _ = self.listeners[name]
        return f"interface={kind}@127.0.0.1:{port}"

    def handshake(self, name, *args):
        """(negotiated suite or None, output) of one s_client handshake with listener name,
        presenting the client certificate where the listener needs one."""
        port, _, cert = self.listeners[name]
        mutual = ["-cert", cert[0], "-key", cert[1]] if cert else []
        return s_client(port, *mutual, *args)

    def scan(self, name):
        port, _, cert = self.listeners[name]
        return sslscan(port, self.root, cert)

    def test_every_listener_offers_exactly_its_effective_set(self):
        # Not the admin listener: plain HTTP (docs/tls.md), no TLS handshake there.
        suite, out = s_client(self.d.admin_port, "-tls1_2")
        self.assertIsNone(suite, out)
        r = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{self.d.admin_port}/healthz"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The defaults: ECDHE_ECDSA + AEAD under TLS 1.2 (the node's certificate is ECDSA),
        # the three default TLS 1.3 suites.
        default = {("TLSv1.2", A128[0]), ("TLSv1.2", A256[0]), ("TLSv1.2", CHACHA[0]),
                   ("TLSv1.3", "TLS_AES_128_GCM_SHA256"), ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
                   ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256")}
        for name in self.listeners:
            with self.subTest(listener=name, policy="default"):
                got = self.scan(name)
                self.assertEqual(got, default)
                self.assertEqual(got, effective_set(self.d, self.iface(name)))
        # A setting of its own at each interface; listeners of one kind (5061 and 5090,
        # 6971 and 8443) get different ones, so one interface's setting must not reach
        # the other. Two interfaces set their protocols too.
        own = {  # listener: (suites added, protocol added or None, what sslscan must see)
            "cti-tls": ([A128[0], "TLS_AES_256_GCM_SHA384"], None,
                        {("TLSv1.2", A128[0]), ("TLSv1.3", "TLS_AES_256_GCM_SHA384")}),
            "sip-tls": ([A256[0], "TLS_CHACHA20_POLY1305_SHA256"], None,
                        {("TLSv1.2", A256[0]), ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256")}),
            "sip-oauth": ([CHACHA[0], CBC, "TLS_AES_128_GCM_SHA256"], None,
                          {("TLSv1.2", CHACHA[0]), ("TLSv1.2", CBC),
                           ("TLSv1.3", "TLS_AES_128_GCM_SHA256")}),
            "sip-edge": ([CBC, "TLS_AES_256_GCM_SHA384"], None,
                         {("TLSv1.2", CBC), ("TLSv1.3", "TLS_AES_256_GCM_SHA384")}),
            "cti-interface": ([A256[0], "TLS_AES_128_GCM_SHA256"], None,
                              {("TLSv1.2", A256[0]), ("TLSv1.3", "TLS_AES_128_GCM_SHA256")}),
            "files-https": ([A128[0], CHACHA[0]], "TLSv1.2",
                            {("TLSv1.2", A128[0]), ("TLSv1.2", CHACHA[0])}),
            "est-https": (["TLS_CHACHA20_POLY1305_SHA256"], "TLSv1.3",
                          {("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256")}),
        }
        for name, (suites, proto, _) in own.items():
            for suite in suites:
                self.cli("tls", "ciphers", "add", self.iface(name), suite)
            if proto:
                self.cli("tls", "protocols", "add", self.iface(name), proto)
        for name, (_, _, want) in own.items():
            with self.subTest(listener=name, policy="interface"):
                got = self.scan(name)
                self.assertEqual(got, want)
                self.assertEqual(got, effective_set(self.d, self.iface(name)))

    def test_tls10_and_tls11_fail_on_every_listener(self):
        for name in self.listeners:
            for flag in ("-tls1", "-tls1_1"):
                with self.subTest(listener=name, protocol=flag):
                    suite, out = self.handshake(name, flag, "-cipher", "DEFAULT:@SECLEVEL=0")
                    self.assertIsNone(suite, out)
                    # The server answers the old ClientHello with a protocol_version alert.
                    self.assertIn("alert protocol version", out)
            # The same client with TLS 1.2 gets through: the refusal is the protocol's.
            with self.subTest(listener=name, protocol="-tls1_2"):
                suite, out = self.handshake(name, "-tls1_2", "-cipher", "DEFAULT:@SECLEVEL=0")
                self.assertIsNotNone(suite, out)

    def test_protocols_by_level_without_restart(self):
        def tls12(name):
            return self.handshake(name, "-tls1_2")

        def tls13(name):
            return self.handshake(name, "-tls1_3")

        def source(name):
            rows = {r[1]: r for r in json.loads(self.d.cli(
                "tls", "show", self.iface(name), json_mode=True).stdout)["rows"]}
            return rows["protocols"][2], rows["protocols"][3]

        pid = self.d.engine_pid()
        for name in ("sip-tls", "sip-edge", "cti-tls"):
            self.assertIsNotNone(tls12(name)[0], name)
        # TLS 1.3 only for the SIP transport: 5061 and 5091 refuse a TLS 1.2 client with
        # protocol_version; CTI TLS (another transport) still takes it.
        self.cli("tls", "protocols", "add", "transport=sip", "TLSv1.3")
        for name in ("sip-tls", "sip-oauth", "sip-edge"):
            suite, out = tls12(name)
            self.assertIsNone(suite, (name, out))
            self.assertIn("alert protocol version", out, name)
            self.assertIsNotNone(tls13(name)[0], name)
            self.assertEqual(source(name), ("TLSv1.3", "transport=sip"))
        self.assertEqual(tls12("cti-tls")[0], "ECDHE-ECDSA-AES128-GCM-SHA256")
        # TLS 1.2 only at the SIP TLS interface: there the interface wins (a TLS 1.3
        # client is refused, a TLS 1.2 one served); the edge and 5090, under the same
        # transport, keep TLS 1.3 only.
        self.cli("tls", "protocols", "add", self.iface("sip-tls"), "TLSv1.2")
        self.assertEqual(source("sip-tls"), ("TLSv1.2", self.iface("sip-tls")))
        self.assertEqual(tls12("sip-tls")[0], "ECDHE-ECDSA-AES128-GCM-SHA256")
        suite, out = tls13("sip-tls")
        self.assertIsNone(suite, out)
        self.assertIn("alert protocol version", out)
        for name in ("sip-edge", "sip-oauth"):
            self.assertIsNone(tls12(name)[0], name)
            self.assertIsNotNone(tls13(name)[0], name)
        # Clear the interface: the transport's TLS 1.3 only is back on 5061.
        self.cli("tls", "protocols", "clear", self.iface("sip-tls"))
        self.assertEqual(source("sip-tls"), ("TLSv1.3", "transport=sip"))
        suite, out = tls12("sip-tls")
        self.assertIsNone(suite, out)
        self.assertIn("alert protocol version", out)
        self.assertIsNotNone(tls13("sip-tls")[0])
        # Clear the transport: every SIP listener takes TLS 1.2 again. All of it without a
        # restart: the same daemon process answered every handshake.
        self.cli("tls", "protocols", "clear", "transport=sip")
        for name in ("sip-tls", "sip-oauth", "sip-edge"):
            self.assertIsNotNone(tls12(name)[0], name)
            self.assertEqual(source(name), ("TLSv1.2,TLSv1.3", "default"))
        self.assertEqual(self.d.engine_pid(), pid)


if __name__ == "__main__":
    test_daemon.main()
