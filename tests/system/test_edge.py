#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of registration authorisation (seed 003) and the mutual-TLS edge listener
(seed 002's edge part). Certificates are made here with openssl: an edge certificate signed
by telgated's own CA, one whose name is not allow-listed, one from a CA telgated does not
trust. Every row of the 16-row decision table goes over mutual TLS as a REGISTER with digest
credentials; the test checks the status, the Warning header, the trace line and the alarm.
SIPp (no TLS in Debian's build) is carried over mutual TLS by stunnel and sends every row
as well."""
import hashlib
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402

SIPP_DIR = os.path.join(HERE, "sipp")
PW = "Edge-Sip-1"
DEV = {1: "SEPA00000000001", 2: "SEPA00000000002", 3: "SEPA00000000003",
       4: "SEPA00000000004", 5: "SEPA00000000005"}
PROV = {"version": 1,
        "users": [{"userid": u, "directory": "local", "password": "Pass-word-1"}
                  for u in ("alice", "bob", "carol", "dave")] +
                 [{"userid": "sipacct", "directory": "local", "password": "Pass-word-1",
                   "digestpassword": PW}],
        "devices": [
            # owner alice, associated bob
            {"name": DEV[1], "model": "Cisco 8865", "owner": "alice", "lines": ["2001"],
             "digestuser": "sipacct", "mac": "A00000000001"},
            # owner alice, nobody associated
            {"name": DEV[2], "model": "Cisco 8865", "owner": "alice", "lines": ["2002"],
             "digestuser": "sipacct"},
            # no owner, associated bob
            {"name": DEV[3], "model": "Cisco 8865", "lines": ["2003"], "digestuser": "sipacct"},
            # no owner, nobody associated
            {"name": DEV[4], "model": "Cisco 8865", "lines": ["2004"], "digestuser": "sipacct"},
            # no owner, associated bob, carol and dave
            {"name": DEV[5], "model": "Cisco 8865", "lines": ["2005"], "digestuser": "sipacct"}],
        "associations": [{"user": "bob", "device": DEV[1]}, {"user": "bob", "device": DEV[3]},
                         {"user": "bob", "device": DEV[5]}, {"user": "carol", "device": DEV[5]},
                         {"user": "dave", "device": DEV[5]}]}

P = "+u.sip!userid.ccm.cisco.com"
WARNING = 'Warning: 399 {node} "Authorization failure - Unauthorized user for this device"'

# (row, line, Contact parameters, authorisation enabled, expected status, rule in the trace)
ROWS = [
    (1, "2001", "", True, 200, "no user id parameter"),
    (2, "2001", f';{P}="alice"', True, 200, "owner id (Phone Config page)"),
    (3, "2001", f';{P}="bob"', True, 200, "associated end user (EndUser page)"),
    (4, "2002", f';{P}="alice"', True, 200, "owner id (Phone Config page)"),
    (5, "2003", f';{P}="bob"', True, 200, "associated end user (EndUser page)"),
    (6, "2004", f';{P}="carol"', True, 200, "no owner and no associated user"),
    (7, "2001", f';{P}="carol"', True, 401, "user id is neither the owner nor an associated user"),
    (8, "2001", f';{P}="alice";{P}="bob"', True, 401, "several different user ids"),
    (9, "2005", f';{P}="carol"', True, 200, "associated end user (EndUser page)"),
    (10, "2001", f';{P}=alice', True, 200, "owner id (Phone Config page)"),
    (12, "2004", f';{P}=""', True, 200, "no owner and no associated user"),
    (13, "2001", f';{P}=""', True, 401, "empty user id"),
    (14, "2001", f';{P}="carol"', False, 200, "authorization disabled"),
    (15, "2001", f';{P}="alice";{P}="bob"', False, 200, "authorization disabled"),
    (16, "2001", f';{P}=""', False, 200, "authorization disabled"),
]


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), r.stderr))


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj",
            f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_client(d, name, cn, ca_crt, ca_key, dns=None):
    """A client certificate (clientAuth) for cn, optionally with a DNS SAN, signed by ca."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/O=Edge/CN={cn}", cwd=d)
    ext = os.path.join(d, f"{name}.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
                "keyUsage=digitalSignature\n")
        if dns:
            f.write(f"subjectAltName=DNS:{dns}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", ca_crt, "-CAkey", ca_key,
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", ext, cwd=d)
    return os.path.join(d, f"{name}.crt"), os.path.join(d, f"{name}.key")


def digest_md5(user, pw, nonce, uri, nc="00000001", cnonce="edgec0ffee"):
    h = (lambda s: hashlib.md5(s.encode()).hexdigest())
    ha1 = h(f"{user}:telgate:{pw}")
    ha2 = h(f"REGISTER:{uri}")
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")


class Conn:
    """A SIP client over one stream (plain or TLS), writing REGISTERs by hand."""

    def __init__(self, sock):
        self.s = sock
        self.s.settimeout(10)
        self.lport = sock.getsockname()[1]
        self.cseq = 0

    def exchange(self, data):
        self.s.sendall(data.encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.s.recv(65535)
            if not chunk:
                raise ConnectionError("closed by telgated")
            buf += chunk
        return buf.decode()

    def request(self, line, params, callid, auth=None, transport="TLS", expires=3600):
        self.cseq += 1
        msg = (f"REGISTER sip:telgate SIP/2.0\r\n"
               f"Via: SIP/2.0/{transport} 127.0.0.1:{self.lport};branch=z9hG4bKe{self.cseq}\r\n"
               f"Max-Forwards: 70\r\nTo: <sip:{line}@telgate>\r\n"
               f"From: <sip:{line}@telgate>;tag=edge\r\nCall-ID: {callid}\r\n"
               f"CSeq: {self.cseq} REGISTER\r\n"
               f"Contact: <sip:{line}@127.0.0.1:{self.lport};transport=tls>{params}"
               f';+sip.instance="<urn:uuid:00000000-0000-0000-0000-00506005457e>"\r\n'
               f"Expires: {expires}\r\n")
        if auth:
            msg += f"Authorization: {auth}\r\n"
        return self.exchange(msg + "Content-Length: 0\r\n\r\n")

    def register(self, line, params, callid, **kw):
        """REGISTER -> 401 challenge -> REGISTER with MD5 digest credentials; the answer."""
        r = self.request(line, params, callid, **kw)
        assert r.startswith("SIP/2.0 401"), r
        nonce = re.search(r'nonce="([^"]+)"', r).group(1)
        resp = digest_md5("sipacct", PW, nonce, "sip:telgate")
        auth = (f'Digest username="sipacct", realm="telgate", nonce="{nonce}", '
                f'uri="sip:telgate", response="{resp}", algorithm=MD5, qop=auth, '
                f'nc=00000001, cnonce="edgec0ffee", opaque="tg"')
        return self.request(line, params, callid, auth=auth, **kw)


def status(resp):
    return int(resp.split(" ", 2)[1])


def header(resp, name):
    for line in resp.split("\r\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line
    return None


class EdgeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="tgedge")
        cls.certs = os.path.join(cls.root, "certs")
        os.makedirs(cls.certs)
        # The edges' certificates come from an enterprise CA of the test's own, which is
        # the edge trust store; telgated's CA is not trusted there.
        make_ca(cls.certs, "edgeca")
        cls.trust = os.path.join(cls.root, "edge-trust.pem")
        shutil.copy(os.path.join(cls.certs, "edgeca.crt"), cls.trust)
        cls.node = "tg-node-7"
        cls.d = test_daemon.Daemon(cls.root, "challenge_sha256 = no\n"
                                   f"edge_ca_file = {cls.trust}\n"
                                   f"[core]\nnode_id = {cls.node}\n")
        prov = os.path.join(cls.root, "prov.json")
        with open(prov, "w") as f:
            json.dump(PROV, f)
        cls.d.start("--provision", prov)
        cls.ca_crt = os.path.join(cls.d.state, "pki", "ca.crt")  # the server's chain
        eca = (os.path.join(cls.certs, "edgeca.crt"), os.path.join(cls.certs, "edgeca.key"))
        cls.edge = make_client(cls.certs, "edge1", "Edge1.Example.COM", *eca,
                               dns="exp-c.example.net")
        cls.rogue = make_client(cls.certs, "rogue", "rogue.example.com", *eca)
        ours = (os.path.join(cls.d.state, "pki", "ca.crt"),
                os.path.join(cls.d.state, "pki", "ca.key"))
        cls.ownca = make_client(cls.certs, "ownca", "edge1.example.com", *ours)
        make_ca(cls.certs, "otherca")
        cls.foreign = make_client(cls.certs, "foreign", "edge1.example.com",
                                  os.path.join(cls.certs, "otherca.crt"),
                                  os.path.join(cls.certs, "otherca.key"))
        r = cls.d.cli("edge", "add", "edge1.example.com", "test-admin")
        assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        cls.d.kill()
        cls.d.close_pipes()
        shutil.rmtree(cls.root, ignore_errors=True)

    def ctx(self, cert=None):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.load_verify_locations(self.ca_crt)
        if cert:
            c.load_cert_chain(*cert)
        return c

    def edge_conn(self, cert=None, port=None):
        raw = socket.create_connection(("127.0.0.1", port or self.d.sip_edge_port), timeout=10)
        return Conn(self.ctx(cert or self.edge).wrap_socket(raw, server_hostname="localhost"))

    def set_enabled(self, on):
        r = self.d.cli("set", "param", "SIPRegistrationAuthorizationEnabled", "1" if on else "0")
        self.assertEqual(r.returncode, 0, r.stderr)

    def alarms(self):
        r = self.d.cli("show", "alarms", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["rows"]

    def trace(self, callid, event):
        return [line for line in self.d.log_text().splitlines()
                if callid in line and event in line]

    def test_decision_table_over_mutual_tls(self):
        c = self.edge_conn()
        warning = WARNING.format(node=self.node)
        for row, line, params, enabled, want, rule in ROWS:
            with self.subTest(row=row):
                self.set_enabled(enabled)
                callid = f"row{row}-{time.time_ns()}"
                before = len(self.alarms())
                r = c.register(line, params, callid)
                self.assertEqual(status(r), want, r)
                authz = self.trace(callid, "sip_authz")
                self.assertEqual(len(authz), 1, authz)
                self.assertIn(rule, authz[0])
                self.assertIn("edge1.example.com", authz[0])
                alarms = self.alarms()
                if want == 401:
                    self.assertEqual(header(r, "Warning"), warning)
                    self.assertIn("unauthorized", authz[0])
                    self.assertIsNotNone(header(r, "WWW-Authenticate"))
                    new = alarms[before:]
                    self.assertEqual(len(new), 1, new)
                    _, sev, name, cid, fields = new[0]
                    self.assertEqual((sev, name, cid), ("Warning", "EndPointTransientConnection",
                                                        callid))
                    dev = DEV[int(line[-1])]
                    for f in (f"DeviceName={dev}", "Reason=35", "Protocol=SIP",
                              "DeviceType=", "StationState=wait_register",
                              "LastSignalReceived=SIPRegisterInd", f"NodeID={self.node}",
                              f"ConnectingPort={c.lport}"):
                        self.assertIn(f, fields)
                    if line == "2001":
                        self.assertIn("MACAddress=A00000000001", fields)
                    if row == 7:
                        self.assertIn("user=carol", authz[0])
                else:
                    self.assertIsNone(header(r, "Warning"))
                    self.assertEqual(len(alarms), before)
                    self.assertIn("authorized", authz[0])
                    if "Phone Config page" in rule or "EndUser page" in rule:
                        self.assertIn("Phone Config page" if "owner" in rule else "EndUser page",
                                      authz[0])
        self.set_enabled(True)

    def test_row11_refresh_gets_the_same_decision(self):
        c = self.edge_conn()
        self.set_enabled(True)
        callid = f"row11-{time.time_ns()}"

        def bindings():
            r = self.d.cli("show", "registrations", DEV[2], json_mode=True)
            return [row for row in json.loads(r.stdout)["rows"] if row[-1] == callid]
        self.assertEqual(status(c.register("2002", f';{P}="alice"', callid)), 200)
        self.assertEqual(status(c.register("2002", f';{P}="alice"', callid)), 200)
        self.assertEqual(len(self.trace(callid, "Phone Config page")), 2)
        # The same binding refreshed with a user who may not: refused like an initial one.
        r = c.register("2002", f';{P}="bob"', callid)
        self.assertEqual(status(r), 401, r)
        self.assertIn("Authorization failure", header(r, "Warning"))
        self.assertEqual(len(bindings()), 1)  # the refused refresh changed nothing
        self.assertEqual(len(self.trace(callid, "result=unauthorized")), 1)

    def test_parameter_is_ignored_off_the_edge(self):
        """A phone on the ordinary TLS (or UDP) port cannot use the parameter either way:
        carol is not allowed on device 1, but the parameter is not honoured there, so only
        digest authentication decides; its presence is traced."""
        self.set_enabled(True)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.ca_crt)
        raw = socket.create_connection(("127.0.0.1", self.d.sip_tls_port), timeout=10)
        c = Conn(ctx.wrap_socket(raw, server_hostname="localhost"))
        callid = f"nonedge-{time.time_ns()}"
        before = len(self.alarms())
        r = c.register("2001", f';{P}="carol"', callid)
        self.assertEqual(status(r), 200, r)
        self.assertIsNone(header(r, "Warning"))
        self.assertEqual(len(self.trace(callid, "sip_userid_ignored")), 1)
        self.assertEqual(self.trace(callid, "sip_authz"), [])
        self.assertEqual(len(self.alarms()), before)
        # Nor does the parameter replace authentication: a wrong password still fails.
        r = c.request("2001", f';{P}="alice"', callid + "x")
        nonce = re.search(r'nonce="([^"]+)"', r).group(1)
        bad = digest_md5("sipacct", "wrong", nonce, "sip:telgate")
        r = c.request("2001", f';{P}="alice"', callid + "x",
                      auth=f'Digest username="sipacct", realm="telgate", nonce="{nonce}", '
                           f'uri="sip:telgate", response="{bad}", algorithm=MD5, qop=auth, '
                           f'nc=00000001, cnonce="edgec0ffee", opaque="tg"')
        self.assertEqual(status(r), 403, r)

    def test_edge_also_needs_digest(self):
        c = self.edge_conn()
        r = c.request("2001", f';{P}="alice"', f"nodigest-{time.time_ns()}")
        self.assertEqual(status(r), 401)  # a challenge: the edge is not a credential
        self.assertIsNone(header(r, "Warning"))

    def refused(self, cert, alert):
        """The handshake (or, with TLS 1.3, the first read) fails with the given alert."""
        raw = socket.create_connection(("127.0.0.1", self.d.sip_edge_port), timeout=10)
        with self.assertRaises((ssl.SSLError, ConnectionError)) as cm:
            s = self.ctx(cert).wrap_socket(raw, server_hostname="localhost")
            # With TLS 1.3 the client's side of the handshake is over before the server
            # has judged its certificate: the alert is what the next read returns.
            Conn(s).request("2001", "", f"refused-{time.time_ns()}")
        if alert:
            self.assertIn(alert, str(cm.exception).lower())
        raw.close()

    def test_handshake_refusals(self):
        self.refused(self.rogue, "bad certificate")   # chains, but not allow-listed
        self.refused(self.foreign, "unknown ca")      # allow-listed name, untrusted CA
        self.refused(self.ownca, "unknown ca")        # telgated's CA is not the edge trust
        self.refused(None, "certificate required")    # no client certificate at all
        log = self.d.log_text()
        self.assertIn("no certificate name is in the edge allow-list", log)
        self.assertIn("rogue.example.com", log)
        # The plain TLS port does not ask for a client certificate at all.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.ca_crt)
        raw = socket.create_connection(("127.0.0.1", self.d.sip_tls_port), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        self.assertEqual(status(Conn(s).request("2001", "", f"plain-{time.time_ns()}")), 401)
        s.close()

    def test_san_identity_and_allow_list_changes_apply_at_once(self):
        # The certificate's DNS SAN is enough once it is allow-listed (and the CN removed).
        c = self.edge_conn()
        self.assertEqual(status(c.request("2001", "", f"al-{time.time_ns()}")), 401)
        r = self.d.cli("edge", "remove", "EDGE1.example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        # The open connection is closed at its next request; new handshakes fail.
        with self.assertRaises((ConnectionError, ssl.SSLError, OSError)):
            c.request("2001", "", f"al2-{time.time_ns()}")
        self.refused(self.edge, "bad certificate")
        r = self.d.cli("edge", "add", "exp-c.example.net")
        self.assertEqual(r.returncode, 0, r.stderr)
        c = self.edge_conn()
        self.assertEqual(status(c.request("2001", "", f"al3-{time.time_ns()}")), 401)
        self.assertIn("identity=exp-c.example.net", self.d.log_text())
        r = self.d.cli("edge", "list", json_mode=True)
        rows = json.loads(r.stdout)["rows"]
        self.assertEqual(sorted(x[0] for x in rows), ["exp-c.example.net"])
        # Errors an administrator can act on.
        r = self.d.cli("edge", "add", "exp-c.example.net")
        self.assertEqual(r.returncode, 1)
        self.assertIn("already allow-listed", r.stderr)
        r = self.d.cli("edge", "remove", "nobody.example.com")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not allow-listed", r.stderr)
        r = self.d.cli("edge", "add", "two words")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no spaces", r.stderr)
        self.d.cli("edge", "remove", "exp-c.example.net")
        r = self.d.cli("edge", "add", "edge1.example.com", "test-admin")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.d.cli("edge", "list", json_mode=True)
        self.assertEqual(json.loads(r.stdout)["rows"][0][:2], ["edge1.example.com", "test-admin"])

    def test_trust_store_change_applies_without_restart(self):
        self.refused(self.foreign, "unknown ca")
        with open(os.path.join(self.certs, "otherca.crt")) as f:
            other = f.read()
        with open(self.trust) as f:
            ours = f.read()
        try:
            with open(self.trust + ".new", "w") as f:
                f.write(ours + other)
            os.replace(self.trust + ".new", self.trust)
            deadline = time.time() + 60
            while True:
                try:
                    c = self.edge_conn(self.foreign)
                    r = c.request("2001", "", f"trust-{time.time_ns()}")
                    self.assertEqual(status(r), 401)
                    break
                except (ssl.SSLError, ConnectionError):
                    if time.time() > deadline:
                        raise
                    time.sleep(0.3)
            self.assertIn("tls_reloaded", self.d.log_text())
            pid = self.d.proc.pid
            self.assertIsNone(self.d.proc.poll())
            self.assertEqual(pid, self.d.proc.pid)
        finally:
            with open(self.trust + ".new", "w") as f:
                f.write(ours)
            os.replace(self.trust + ".new", self.trust)
            os.kill(self.d.proc.pid, 1)  # SIGHUP reloads at once
        time.sleep(0.5)
        self.refused(self.foreign, "unknown ca")

    def test_sipp_every_row_over_mutual_tls(self):
        """Each row of the table once more, sent by SIPp through stunnel with the edge's
        certificate: SIPp checks the status (and for refusals the Warning header), the test
        the trace and the alarm by the row's Call-ID. Row 11 is two rounds on one Call-ID."""
        with open(os.path.join(SIPP_DIR, "register_edge_row.xml.in")) as f:
            head, rest = f.read().split("  <!-- round -->\n")
            body, tail = rest.split("  <!-- end round -->\n")
        allowed = '  <recv response="200"/>\n'
        denied = ('  <recv response="401">\n    <action>\n'
                  '      <ereg regexp="Authorization failure - Unauthorized user for this device"'
                  ' search_in="hdr" header="Warning:" check_it="true" assign_to="w"/>\n'
                  '    </action>\n  </recv>\n  <Reference variables="w"/>\n')
        rows = [(row, line, params, enabled, want, 1) for row, line, params, enabled, want, _
                in ROWS] + [(11, "2002", f';{P}="alice"', True, 200, 2)]
        p, port = test_daemon.stunnel_client(self.root, self.d.sip_edge_port, self.ca_crt,
                                             self.edge)
        try:
            for row, line, params, enabled, want, rounds in sorted(rows):
                with self.subTest(row=row):
                    self.set_enabled(enabled)
                    callid = f"sipp-row{row}-{time.time_ns()}"
                    xml = head + "".join(
                        body.replace("@CSEQ1@", str(2 * k + 1)).replace("@CSEQ2@", str(2 * k + 2))
                        .replace("@ANSWER@", allowed if want == 200 else denied)
                        for k in range(rounds)) + tail
                    xml = xml.replace("@ROW@", str(row)).replace("@PARAMS@", params)
                    sf = os.path.join(self.root, f"row{row}.xml")
                    with open(sf, "w") as f:
                        f.write(xml)
                    users = os.path.join(self.root, f"row{row}.csv")
                    with open(users, "w") as f:
                        f.write(f"SEQUENTIAL\n{line}\n")
                    before = len(self.alarms())
                    r = subprocess.run(
                        ["sipp", "-nostdin", "-timeout", "20", "-timeout_error", "-sf", sf,
                         "-inf", users, "-au", "sipacct", "-ap", PW, "-t", "t1", "-m", "1",
                         # SIPp matches answers by its own Call-ID: give it the row's prefix.
                         "-cid_str", callid + "-%u-%p@%s",
                         f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=60)
                    self.assertEqual(r.returncode, 0, r.stdout[-1500:] + r.stderr[-1500:])
                    authz = self.trace(callid, "sip_authz")
                    self.assertEqual(len(authz), rounds, authz)
                    new = self.alarms()[before:]
                    if want == 401:
                        self.assertTrue(all("result=unauthorized" in a for a in authz))
                        self.assertEqual([a[2] for a in new], ["EndPointTransientConnection"])
                        self.assertIn("Reason=35", new[0][4])
                    else:
                        self.assertTrue(all("result=authorized" in a for a in authz))
                        self.assertEqual(new, [])
        finally:
            p.kill()
            p.wait()
            self.set_enabled(True)


if __name__ == "__main__":
    test_daemon.main()
