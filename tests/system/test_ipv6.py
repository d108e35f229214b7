#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of listen address lists (issue 14): SIP and CTI configured with
`address = 127.0.0.1, ::1` listen on both; a REGISTER over SIP TCP to [::1] and a CTI login
over ::1 succeed, the same over 127.0.0.1 too, SIP OAuth (opened at runtime) handshakes on
both, and `telgate show open ports` lists both addresses. Skipped only when the machine has no IPv6 loopback. Standard library only."""
import json
import os
import shutil
import socket
import ssl
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402
import test_cti  # noqa: E402
from test_fdlimit import PROV  # noqa: E402  (jpinkman with phone CSFJPINKMAN on 1002)
from test_sip import Raw, status  # noqa: E402


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@unittest.skipUnless(ipv6_loopback(), "no IPv6 loopback (::1) on this machine")
class Ipv6Test(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgv6")
        self.oauth_port = test_daemon.free_port(top=49151)  # sipOAuthPort: 1024-49151
        self.d = test_daemon.Daemon(self.root, f"oauth_port = {self.oauth_port}\n")
        # Both sections get a list instead of the harness's single 127.0.0.1.
        with open(self.d.conf) as f:
            text = f.read()
        cti = text.index("[cti]\n")
        sip = text.index("[sip]\n")
        line = "address = 127.0.0.1\n"
        new = "address = 127.0.0.1, ::1\n"
        cti_at = text.index(line, cti)
        sip_at = text.index(line, sip)
        self.assertLess(cti_at, text.index("[files]\n"))
        text = (text[:cti_at] + new + "allow_plain_login = yes\n" +
                text[cti_at + len(line):sip_at] + new + text[sip_at + len(line):])
        with open(self.d.conf, "w") as f:
            f.write(text)
        prov = os.path.join(self.root, "prov.json")
        with open(prov, "w") as f:
            json.dump(PROV, f)
        self.d.start("--provision", prov)

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def register_tcp(self, host, callid):
        s = socket.create_connection((host, self.d.sip_port), timeout=10)
        try:
            raw = Raw(self.d.sip_port, stream=s)
            ch = raw.register("1002", transport="TCP", callid=callid)
            self.assertEqual(status(ch), 401, ch)
            ok = raw.register("1002", raw.auth(ch.split("WWW-Authenticate: ")[1], "jpinkman",
                                               "Sip-Jesse-1"), transport="TCP", callid=callid)
            self.assertEqual(status(ok), 200, ok)
            return s.getpeername()[0]
        finally:
            s.close()

    def cti_login(self, host):
        c = test_cti.Client(self.d.cti_port, host=host)
        try:
            self.assertEqual(c.s.getpeername()[0], host)
            self.assertEqual(test_cti.local(c.login("jpinkman", "Cap-n-Cook-1")),
                             "StartApplicationSessionPosResponse")
        finally:
            c.close()

    def test_sip_and_cti_on_ipv4_and_ipv6(self):
        self.assertEqual(self.register_tcp("::1", "v6-1"), "::1")
        self.assertEqual(self.register_tcp("127.0.0.1", "v4-1"), "127.0.0.1")
        self.cti_login("::1")
        self.cti_login("127.0.0.1")
        # SIP OAuth (5090), opened at runtime, listens on the list too: a TLS handshake
        # over each address.
        self.assertEqual(self.d.cli("utils", "sipOAuth-mode", "enable").returncode, 0)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        for host in ("::1", "127.0.0.1"):
            with socket.create_connection((host, self.oauth_port), timeout=10) as raw:
                with ctx.wrap_socket(raw) as t:
                    self.assertIn(t.version(), ("TLSv1.2", "TLSv1.3"))
        # The kernel's view: both addresses listen on the SIP and CTI ports.
        out = self.d.cli("show", "open", "ports").stdout
        listening = set()  # (proto, address, port, service)
        for row in out.splitlines()[2:]:
            f = row.split()
            if len(f) == 5 and f[3] == "LISTEN":
                listening.add((f[0], f[1], f[2], f[4]))
        for port, service in ((self.d.sip_port, "sip"), (self.d.sip_tls_port, "sip-tls"),
                              (self.d.cti_port, "cti"), (self.d.cti_tls_port, "cti-tls"),
                              (self.oauth_port, "sip-oauth")):
            self.assertIn(("tcp", "127.0.0.1", str(port), service), listening, out)
            self.assertIn(("tcp6", "::1", str(port), service), listening, out)
        # Other services keep their single address.
        self.assertFalse([x for x in listening if x[1] == "::1" and
                          x[3] not in ("sip", "sip-tls", "sip-edge", "sip-oauth", "cti",
                                        "cti-tls")], out)
        # The log says where each service listens.
        self.assertIn("127.0.0.1, ::1", self.d.log_text())


if __name__ == "__main__":
    test_daemon.main()
