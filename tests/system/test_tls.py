#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of the TLS policy (issue 15, seed 004): cipher suites and protocols set by
level through `telgate tls ...`, seen from outside with `openssl s_client` on the CTI TLS
and SIP TLS listeners, without a restart: set at system level, override at the transport,
override again at one interface, clear the interface and see the transport's setting
return; TLS 1.0 and 1.1 refused; IANA names only (an OpenSSL name and a near miss refused
with the name meant); the bwks-default profile lists the suites OpenSSL 3 cannot offer."""
import json
import os
import shutil
import xml.etree.ElementTree as ET
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402

# The node's generated server certificate is ECDSA: ECDHE_ECDSA suites.
A128 = ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256")
A256 = ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384")
CHACHA = ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305")


def s_client(port, *args):
    """(negotiated OpenSSL cipher name or None, stderr+stdout) of one handshake."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-brief",
                        *args], input="", capture_output=True, text=True, timeout=20)
    out = r.stdout + r.stderr
    for line in out.splitlines():
        if line.startswith("Ciphersuite:"):
            return line.split(":", 1)[1].strip(), out
    return None, out


def openssl_to_iana():
    """OpenSSL's name -> IANA name, from the openssl CLI (independent of telgate), and
    each suite's authentication (Au=)."""
    out = subprocess.run(["openssl", "ciphers", "-stdname", "ALL:COMPLEMENTOFALL"],
                         capture_output=True, text=True, check=True).stdout
    names, auth = {}, {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "-":
            names[parts[2]] = parts[0]
            auth[parts[0]] = [p for p in parts if p.startswith("Au=")][0][3:]
    return names, auth


def sslscan(port, root, cert=None):
    """{(protocol, IANA name)} a full sslscan of the listener was accepted with; cert is a
    (certificate, key) pair to present to a listener that needs one."""
    xml = os.path.join(root, f"scan-{port}.xml")
    mutual = [f"--certs={cert[0]}", f"--pk={cert[1]}"] if cert else []
    subprocess.run(["sslscan", "--no-colour", "--no-heartbleed", "--no-renegotiation",
                    "--no-compression", "--no-fallback", "--no-check-certificate", *mutual,
                    f"--xml={xml}", f"127.0.0.1:{port}"],
                   capture_output=True, text=True, timeout=120)
    names, _ = openssl_to_iana()
    doc = ET.parse(xml).getroot().find("ssltest")
    return {(c.get("sslversion"), names.get(c.get("cipher"), c.get("cipher")))
            for c in doc.findall("cipher")}


def effective_set(d, iface):
    """What `tls show` says the listener offers, as sslscan would list it: every effective
    suite this OpenSSL can offer whose authentication fits the node's ECDSA certificate,
    under each enabled protocol."""
    rows = {r[1]: r for r in json.loads(
        d.cli("tls", "show", iface, json_mode=True).stdout)["rows"]}
    _, auth = openssl_to_iana()
    protos = rows["protocols"][2].split(",")
    want = set()
    if "TLSv1.2" in protos:
        want |= {("TLSv1.2", n) for n in rows["ciphers-tls12"][2].split(",")
                 if n not in rows["ciphers-tls12"][4] and auth.get(n) == "ECDSA"}
    if "TLSv1.3" in protos:
        want |= {("TLSv1.3", n) for n in rows["ciphers-tls13"][2].split(",")}
    return want


class TlsPolicyTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgtls")
        self.d = test_daemon.Daemon(self.root)
        self.d.start()

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def tls(self, *words, ok=True):
        r = self.d.cli("tls", *words)
        if ok:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def offered12(self, port, suites):
        """Which of suites (IANA, OpenSSL) pairs a TLS 1.2 client gets on port."""
        got = []
        for iana, ossl in suites:
            name, _ = s_client(port, "-tls1_2", "-cipher", ossl)
            if name:
                self.assertEqual(name, ossl)
                got.append(iana)
        return got

    def test_levels_override_and_clear_without_restart(self):
        cti, sip = self.d.cti_tls_port, self.d.sip_tls_port
        iface = f"interface=cti-tls@127.0.0.1:{cti}"
        every = [A128, A256, CHACHA]
        # Defaults: ECDHE + AEAD, all three offered everywhere.
        self.assertEqual(self.offered12(cti, every), [A128[0], A256[0], CHACHA[0]])
        # System level: one suite, on every listener.
        self.tls("ciphers", "add", "system", A256[0])
        self.assertEqual(self.offered12(cti, every), [A256[0]])
        self.assertEqual(self.offered12(sip, every), [A256[0]])
        # The CTI transport overrides it; SIP keeps the system level.
        self.tls("ciphers", "add", "transport=cti", CHACHA[0])
        self.assertEqual(self.offered12(cti, every), [CHACHA[0]])
        self.assertEqual(self.offered12(sip, every), [A256[0]])
        # One interface overrides the transport.
        self.tls("ciphers", "add", iface, A128[0])
        self.assertEqual(self.offered12(cti, every), [A128[0]])
        show = json.loads(self.d.cli("tls", "show", iface, json_mode=True).stdout)
        rows = {r[1]: r for r in show["rows"]}
        self.assertEqual(rows["ciphers-tls12"][2], A128[0])
        self.assertEqual(rows["ciphers-tls12"][3], iface)
        self.assertEqual(rows["ciphers-tls13"][3], "default")
        # Clear the interface: the transport's setting returns.
        self.tls("ciphers", "clear", iface)
        self.assertEqual(self.offered12(cti, every), [CHACHA[0]])
        rows = {r[1]: r for r in json.loads(
            self.d.cli("tls", "show", iface, json_mode=True).stdout)["rows"]}
        self.assertEqual(rows["ciphers-tls12"][3], "transport=cti")
        # A level no listener of this node reads yet is stored, and said so.
        r = self.tls("ciphers", "add", "kind=cti-interface", A128[0])
        self.assertIn("no TLS listener of this node reads kind=cti-interface yet", r.stdout)
        r = self.tls("ciphers", "add", "transport=cti", A256[0])
        self.assertNotIn("no TLS listener", r.stdout)
        self.tls("ciphers", "delete", "transport=cti", A256[0])
        # Still served after a restart: the settings are in the store.
        self.d.stop()
        self.d.close_pipes()
        self.d.start()
        self.assertEqual(self.offered12(cti, every), [CHACHA[0]])
        self.assertIn("tls_setting_changed", self.d.log_text())

    def expected(self, iface):
        return effective_set(self.d, iface)

    def test_sslscan_sees_exactly_the_effective_set(self):
        cti = self.d.cti_tls_port
        iface = f"interface=cti-tls@127.0.0.1:{cti}"
        self.assertEqual(sslscan(cti, self.root), self.expected(iface))
        # An interface with a CBC suite (set explicitly: allowed) and one TLS 1.3 suite.
        self.tls("ciphers", "add", iface, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
        self.tls("ciphers", "add", iface, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256")
        self.tls("ciphers", "add", iface, "TLS_AES_256_GCM_SHA384")
        got = sslscan(cti, self.root)
        self.assertEqual(got, {("TLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
                               ("TLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
                               ("TLSv1.3", "TLS_AES_256_GCM_SHA384")})
        self.assertEqual(got, self.expected(iface))
        # The bwks-default profile at the transport, TLS 1.2 only at the kind: sslscan
        # sees the profile's offerable ECDSA suites, nothing of TLS 1.3.
        self.tls("ciphers", "clear", iface)
        self.tls("profile", "apply", "transport=cti", "bwks-default")
        self.tls("protocols", "add", "kind=cti-tls", "TLSv1.2")
        got = sslscan(cti, self.root)
        self.assertEqual(got, self.expected(iface))
        self.assertEqual({p for p, _ in got}, {"TLSv1.2"})
        self.assertIn(("TLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"), got)
        # SIP TLS kept the defaults all along.
        sip = f"interface=sip-tls@127.0.0.1:{self.d.sip_tls_port}"
        self.assertEqual(sslscan(self.d.sip_tls_port, self.root), self.expected(sip))

    def test_tls13_suites_and_protocols(self):
        cti = self.d.cti_tls_port
        name, _ = s_client(cti, "-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384")
        self.assertEqual(name, "TLS_AES_256_GCM_SHA384")
        # TLS 1.3 suites are a list of their own (SSL_CTX_set_ciphersuites).
        self.tls("ciphers", "add", "kind=cti-tls", "TLS_CHACHA20_POLY1305_SHA256")
        name, _ = s_client(cti, "-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384")
        self.assertIsNone(name)
        name, _ = s_client(cti, "-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256")
        self.assertEqual(name, "TLS_CHACHA20_POLY1305_SHA256")
        # TLS 1.3 only: a TLS 1.2 client is refused with protocol_version.
        self.tls("protocols", "add", "kind=cti-tls", "TLSv1.3")
        name, out = s_client(cti, "-tls1_2")
        self.assertIsNone(name)
        self.assertIn("protocol version", out)
        # Deleting a level's last suite makes the level inherit again (the defaults).
        self.tls("ciphers", "delete", "kind=cti-tls", "TLS_CHACHA20_POLY1305_SHA256")
        name, _ = s_client(cti, "-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384")
        self.assertEqual(name, "TLS_AES_256_GCM_SHA384")
        # A change that would leave a listener no suite it can offer is refused before it
        # is stored, naming the listener: TLS 1.2 only, with a static-ECDH suite only.
        self.tls("protocols", "clear", "kind=cti-tls")
        self.tls("protocols", "add", "kind=cti-tls", "TLSv1.2")
        r = self.tls("ciphers", "add", "kind=cti-tls", "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256",
                     ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"interface=cti-tls@127.0.0.1:{cti} could no longer handshake", r.stderr)
        self.assertIn("no TLS 1.2 cipher suite that this OpenSSL can offer", r.stderr)
        name, _ = s_client(cti, "-tls1_2", "-cipher", A128[1])
        self.assertEqual(name, A128[1])
        # The suites must suit the certificate served: the node's is ECDSA, so TLS 1.2
        # with ECDHE_RSA suites only would end every handshake in "no shared cipher".
        r = self.tls("ciphers", "add", "kind=cti-tls", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                     ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("can be used with the listener's EC certificate", r.stderr)
        name, _ = s_client(cti, "-tls1_2", "-cipher", A128[1])
        self.assertEqual(name, A128[1])

    def test_old_protocols_refused(self):
        for port in (self.d.cti_tls_port, self.d.sip_tls_port):
            for flag in ("-tls1", "-tls1_1"):
                name, _ = s_client(port, flag, "-cipher", "DEFAULT:@SECLEVEL=0")
                self.assertIsNone(name, (port, flag))
        r = self.tls("protocols", "add", "system", "TLSv1.1", ok=False)
        self.assertEqual(r.returncode, 64)
        self.assertIn("below TLS 1.2 is never offered", r.stderr)

    def test_names_refused_with_the_iana_name(self):
        r = self.tls("ciphers", "add", "system", "ECDHE-ECDSA-CHACHA20-POLY1305", ok=False)
        self.assertEqual(r.returncode, 64)
        self.assertIn("an OpenSSL name", r.stderr)
        self.assertIn("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", r.stderr)
        # The seed's spelling, without the _SHA256 suffix: the registry name is suggested.
        r = self.tls("ciphers", "add", "system", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
                     ok=False)
        self.assertIn("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", r.stderr)
        r = self.tls("ciphers", "add", "system", "TLS_NOT_A_SUITE", ok=False)
        self.assertEqual(r.returncode, 64)
        self.assertIn("TLS_NOT_A_SUITE", r.stderr)
        r = self.tls("ciphers", "add", "kind=nope", A128[0], ok=False)
        self.assertIn("unknown kind 'nope'", r.stderr)
        # Nothing was stored.
        self.assertEqual(self.d.sql("SELECT COUNT(*) FROM tlssetting")[1]["rows"], [["0"]])

    def test_bwks_default_profile_lists_unavailable_suites(self):
        self.tls("profile", "apply", "transport=cti", "bwks-default")
        rows = json.loads(self.d.cli("tls", "show", json_mode=True).stdout)["rows"]
        cti = [r for r in rows if r[0].startswith("interface=cti-tls") and
               r[1] == "ciphers-tls12"][0]
        self.assertEqual(cti[3], "transport=cti")
        self.assertEqual(len(cti[2].split(",")), 12)
        for suite in ("TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256"):
            self.assertIn(suite, cti[4])
        # Its offerable ECDHE_ECDSA suites are served.
        name, _ = s_client(self.d.cti_tls_port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256")
        self.assertEqual(name, "ECDHE-ECDSA-AES128-SHA256")

    def test_late_registry_rows_known_and_unavailable(self):
        """Rows registered after Debian's copies of the registry (RFC 8442, RFC 9367): known
        names, stored, listed as not available with the reason, never offered or dropped."""
        iface = f"interface=cti-tls@127.0.0.1:{self.d.cti_tls_port}"
        psk, gost = "TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256", "TLS_GOSTR341112_256_WITH_MAGMA_MGM_L"
        self.tls("ciphers", "add", "kind=cti-tls", A128[0])
        self.tls("ciphers", "add", "kind=cti-tls", psk)
        self.tls("ciphers", "add", "kind=cti-tls", "TLS_AES_128_GCM_SHA256")
        self.tls("ciphers", "add", "kind=cti-tls", gost)  # a TLS 1.3 suite outside 0x13,*
        got = self.tls("ciphers", "get", "kind=cti-tls").stdout
        self.assertIn(psk, got)
        self.assertIn(gost, got)
        rows = {r[1]: r for r in json.loads(
            self.d.cli("tls", "show", iface, json_mode=True).stdout)["rows"]}
        self.assertEqual(rows["ciphers-tls12"][2], f"{A128[0]},{psk}")
        self.assertIn(f"{psk} (needs pre-shared keys", rows["ciphers-tls12"][4])
        self.assertEqual(rows["ciphers-tls13"][2], f"TLS_AES_128_GCM_SHA256,{gost}")
        self.assertIn(f"{gost} (not compiled into this OpenSSL", rows["ciphers-tls13"][4])
        # What is offered is what can be: sslscan sees the two offerable suites only.
        self.assertEqual(sslscan(self.d.cti_tls_port, self.root),
                         {("TLSv1.2", A128[0]), ("TLSv1.3", "TLS_AES_128_GCM_SHA256")})


if __name__ == "__main__":
    test_daemon.main()
