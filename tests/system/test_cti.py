#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of the CTI server, seed 000 end to end, with a client written from
docs/protocol.md using only Python's standard library (socket, ssl, xml.etree) — not the
project's code — so it proves the wire format is what the document says.

The LDAP user logs in against a real slapd (tests/lib/slapd.py) with the seed's Active
Directory filter; device state is driven with `telgate device state` (the registrar will
feed the same API).

wwhite is in Standard CTI Secure Connection: since issue 17 that means TLS, his password
AND a client certificate telgate's CA issued to him (seed 001). The tests issue
certificates with tests/tools/cert_issue (telgate's issuer over the daemon's PKI
directory and store) until enrolment clients exist; Python's ssl presents them."""
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import test_daemon  # noqa: E402
from slapd import Slapd, BASE_AD, SUFFIX  # noqa: E402

CSTA = "http://www.ecma-international.org/standards/ecma-323/csta/ed5"
ACSE = "http://www.ecma-international.org/standards/ecma-354/appl_session"
TG = "urn:telgate:cti:1"
DEV = "SEP001794625DE5"


def provisioning():
    return {"version": 1,
            "credentialpolicies": [{"name": "Two Strikes", "failedlogonthreshold": 2,
                                    "resetfailedlogonsafter": 30, "lockoutduration": 30,
                                    "adminmustunlock": False, "expiresafterdays": 0,
                                    "expirywarningdays": 0, "inactivedaysallowed": 0,
                                    "minlength": 8}],
            "users": [
                {"userid": "wwhite", "directory": "ldap",
                 "groups": ["Standard CTI Enabled", "Standard CTI Secure Connection"]},
                {"userid": "jpinkman", "directory": "local", "password": "Cap-n-Cook-1",
                 "credentialpolicy": "Two Strikes", "groups": ["Standard CTI Enabled"]},
                {"userid": "mjavier", "directory": "local", "password": "Mike-Pass-1",
                 "groups": ["Standard CTI Enabled",
                            "Standard CTI Allow Control of All Devices"]},
                {"userid": "nocti", "directory": "local", "password": "No-Cti-Pass-1",
                 "groups": []},
                # An application user; its CTI authentication type is set to certificate
                # by the test (telgate user ctiauthtype), the seed's "AuthType certificate".
                {"userid": "crmapp", "directory": "local", "password": "Crm-App-Pass-1",
                 "groups": ["Standard CTI Enabled"]}],
            "devices": [
                {"name": DEV, "model": "Cisco 8865", "protocol": "SIP", "owner": "wwhite"},
                {"name": "CSFJPINKMAN", "model": "CSF", "protocol": "SIP",
                 "owner": "jpinkman"},
                {"name": "SEPNOBODY00001", "model": "Cisco 8865", "protocol": "SIP"}],
            "associations": [{"user": "jpinkman", "device": "CSFJPINKMAN"}]}


class Client:
    """CSTA XML over TCP/TLS: 0x0000, 2-byte length (header included), 4-digit invoke id."""

    def __init__(self, port, tls=False, ca=None, rcvbuf=None, tls_version=None,
                 ragged_eofs=True, cert=None, source=None, host="127.0.0.1"):
        """rcvbuf: a small receive buffer (set before connecting, so the window the server
        sees stays small); tls_version: the only TLS version offered; ragged_eofs=False: a
        TLS connection that ends without close_notify raises ssl.SSLEOFError instead of
        reading as the end of the stream; cert: (certificate file, key file) presented as
        the client certificate; source: the local address to connect from (another
        loopback address is another source for the per-source caps); host: the address
        to connect to ("::1": over IPv6)."""
        raw = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                            socket.SOCK_STREAM)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:
            raw.bind((source, 0))
        raw.settimeout(10)
        raw.connect((host, port))
        if tls:
            ctx = ssl.create_default_context(cafile=ca)
            ctx.check_hostname = False  # the server certificate names the node, not 127.0.0.1
            if tls_version:
                ctx.minimum_version = ctx.maximum_version = tls_version
            if cert:
                ctx.load_cert_chain(cert[0], cert[1])
            raw = ctx.wrap_socket(raw, suppress_ragged_eofs=ragged_eofs)
        self.s = raw
        self.invoke = 0
        self.events = []

    def send_raw(self, data):
        self.s.sendall(data)

    def frame(self, body, invoke=None):
        """One frame for body (str or bytes) and the invoke id it carries."""
        if invoke is None:
            self.invoke = self.invoke % 9998 + 1
            invoke = self.invoke
        data = body.encode() if isinstance(body, str) else body
        return struct.pack(">HH", 0, len(data) + 8) + b"%04d" % invoke + data, invoke

    def send(self, body, invoke=None):
        data, invoke = self.frame(body, invoke)
        self.send_raw(data)
        return invoke

    def answers_until_close(self):
        """Every frame the server sends until it closes: [(invoke id, root), ...]."""
        got = []
        while True:
            try:
                got.append(self.read_frame())
            except (EOFError, ConnectionError):
                return got

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk
        return buf

    def read_frame(self):
        hdr = self._read(8)
        zero, length = struct.unpack(">HH", hdr[:4])
        assert zero == 0, hdr
        invoke = int(hdr[4:8])
        return invoke, ET.fromstring(self._read(length - 8))

    def request(self, body):
        inv = self.send(body)
        while True:
            got, root = self.read_frame()
            if got == 9999:
                self.events.append(root)
                continue
            assert got == inv, (got, inv)
            return root

    def event(self, timeout=10):
        if self.events:
            return self.events.pop(0)
        self.s.settimeout(timeout)
        try:
            inv, root = self.read_frame()
        finally:
            self.s.settimeout(10)
        assert inv == 9999, inv
        return root

    @staticmethod
    def login_body(user, password, app="SeedTest", duration=None, token=None):
        """password None: no password element (a certificate login); token: an
        <tg:accessToken> instead (issue 18)."""
        dur = f"<requestedSessionDuration>{duration}</requestedSessionDuration>" if duration else ""
        pw = "" if password is None else f"<tg:password>{password}</tg:password>"
        if token is not None:
            pw += f"<tg:accessToken>{token}</tg:accessToken>"
        return (f'<?xml version="1.0" encoding="UTF-8"?>'
                f'<StartApplicationSession xmlns="{ACSE}"><applicationInfo>'
                f"<applicationID>{app}</applicationID><applicationSpecificInfo>"
                f'<tg:login xmlns:tg="{TG}"><tg:userID>{user}</tg:userID>'
                f"{pw}</tg:login>"
                f"</applicationSpecificInfo></applicationInfo>"
                f"<requestedProtocolVersions><protocolVersion>{CSTA}</protocolVersion>"
                f"</requestedProtocolVersions>{dur}</StartApplicationSession>")

    def login(self, user, password, app="SeedTest", duration=None):
        return self.request(self.login_body(user, password, app, duration))

    def login_token(self, token, user=""):
        return self.request(self.login_body(user, None, token=token))

    def monitor(self, device):
        return self.request(f'<MonitorStart xmlns="{CSTA}"><monitorObject><deviceObject>'
                            f"{device}</deviceObject></monitorObject></MonitorStart>")

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def local(root):
    return root.tag.split("}", 1)[1]


def text(root, name):
    for el in root.iter():
        if el.tag.endswith("}" + name):
            return el.text
    return None


class CtiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tgcti")
        cls.ldap = Slapd(os.path.join(cls.tmp, "slapd")).start()

    @classmethod
    def tearDownClass(cls):
        cls.ldap.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgsys", dir=self.tmp)
        self.clients = []
        conf = (f"[dir]\nfailure_delay_ms = 20\n[ldap]\nservers = {self.ldap.tls_uri()}\n"
                f"base = {BASE_AD}\nfilter = ad\nbind_dn = cn=svc-telgate,{SUFFIX}\n"
                f"bind_password_file = {self.ldap.dir}/service.pw\n"
                f"ca_file = {self.ldap.dir}/ca.crt\n[cti]\nallow_plain_login = yes\n")
        self.d = test_daemon.Daemon(self.root, conf)
        prov = os.path.join(self.root, "prov.json")
        with open(prov, "w") as f:
            json.dump(provisioning(), f)
        self.d.start("--provision", prov)
        self.ca = os.path.join(self.d.state, "pki", "ca.crt")

    def tearDown(self):
        for c in self.clients:
            c.close()
        problem = self.d.finish()
        if problem:
            self.fail(problem)

    def client(self, tls=True, **kw):
        c = Client(self.d.cti_tls_port if tls else self.d.cti_port, tls, self.ca, **kw)
        self.clients.append(c)
        return c

    def issue(self, user, expired=False):
        """A client certificate for user from the daemon's CA: (crt, key), serial."""
        tool = os.path.join(os.path.dirname(os.path.abspath(test_daemon.ARGS.telgated)),
                            "tests", "cert_issue")
        out = os.path.join(self.root, "%s-%d" % (user, len(os.listdir(self.root))))
        r = subprocess.run([tool, os.path.join(self.d.state, "pki"),
                            self.d.store_arg(), user, out]
                           + (["--expired"] if expired else []),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return (out + ".crt", out + ".key"), r.stdout.strip()

    def refused(self, r, reason):
        """A refused login: the peer sees invalidApplicationInfo, the trace says why."""
        self.assertEqual(local(r), "StartApplicationSessionNegResponse", ET.tostring(r))
        self.assertEqual(text(r, "definedError"), "invalidApplicationInfo")
        deadline = time.time() + 60
        while time.time() < deadline and reason not in self.d.log_text():
            time.sleep(0.05)  # the refusal is answered, then logged on the same loop
        self.assertIn(reason, self.d.log_text())

    def state(self, device, st):
        r = self.d.cli("device", "state", device, st)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_seed_flow_over_tls(self):
        self.state(DEV, "in-service")  # the phone is registered before the app opens it
        # Secure Connection: his certificate and his password (the Cisco TSP sends both).
        cert, serial = self.issue("wwhite")
        c = self.client(tls=True, cert=cert)
        r = c.login("wwhite", "Heisenberg-1")
        self.assertEqual(local(r), "StartApplicationSessionPosResponse", ET.tostring(r))
        self.assertEqual(text(r, "actualSessionDuration"), "60")
        session = text(r, "sessionID")
        r = c.monitor(DEV)
        self.assertEqual(local(r), "MonitorStartResponse", ET.tostring(r))
        xref = text(r, "monitorCrossRefID")
        ev = c.event()
        self.assertEqual(local(ev), "BackInServiceEvent")
        self.assertEqual(text(ev, "monitorCrossRefID"), xref)
        self.assertEqual(text(ev, "deviceIdentifier"), DEV)
        self.state(DEV, "out-of-service")
        self.assertEqual(local(c.event()), "OutOfServiceEvent")
        self.state(DEV, "in-service")
        self.assertEqual(local(c.event()), "BackInServiceEvent")
        # The administrator sees who opened what.
        r = self.d.cli("show", "cti", "monitors")
        self.assertIn(DEV, r.stdout)
        self.assertIn("wwhite", r.stdout)
        self.assertIn("SeedTest", r.stdout)
        r = self.d.cli("show", "cti", "sessions")
        self.assertIn(session, r.stdout)
        self.assertIn("tls", r.stdout)
        # The trace shows the seed's steps, in the seed's order, under one id.
        log = self.d.log_text()
        line = next(x for x in log.splitlines() if "event=cti_session_started" in x)
        cid = line.split()[0]
        steps = [x.split("event=")[1].split()[0] for x in log.splitlines()
                 if x.startswith(cid + " ")]
        want = ["cti_connect", "cti_login_request", "cti_login_certificate", "dir_auth_start",
                "dir_user", "dir_credential_policy", "ldap_search", "ldap_user_found",
                "ldap_user_bind", "dir_auth_result", "cti_user_settings",
                "cti_session_started", "cti_device_open", "cti_event"]
        pos = [steps.index(w) for w in want]
        self.assertEqual(pos, sorted(pos), steps)
        self.assertIn("certificate=" + serial, line)
        self.assertNotIn("Heisenberg", log)
        r = c.request(f'<StopApplicationSession xmlns="{ACSE}"><sessionID>{session}'
                      f"</sessionID></StopApplicationSession>")
        self.assertEqual(local(r), "StopApplicationSessionPosResponse")

    def test_refusals(self):
        c = self.client(tls=True)
        r = c.login("jpinkman", "wrong-password")
        self.assertEqual(local(r), "StartApplicationSessionNegResponse")
        self.assertEqual(text(r, "definedError"), "invalidApplicationInfo")
        # Locked (threshold 2): even the right password is refused.
        c = self.client(tls=True)
        c.login("jpinkman", "wrong-password")
        r = c.login("jpinkman", "Cap-n-Cook-1")
        self.assertEqual(local(r), "StartApplicationSessionNegResponse")
        self.assertIn("hacked-locked", self.d.log_text())
        self.d.cli("user", "unlock", "jpinkman")
        # Not in Standard CTI Enabled.
        r = self.client().login("nocti", "No-Cti-Pass-1")
        self.assertEqual(local(r), "StartApplicationSessionNegResponse")
        self.assertIn("not in Standard CTI Enabled", self.d.log_text())
        # Secure-connection user over plain TCP (plain logins are allowed in this test).
        r = self.client(tls=False).login("wwhite", "Heisenberg-1")
        self.assertEqual(local(r), "StartApplicationSessionNegResponse")
        self.assertIn("Standard CTI Secure Connection: TLS required", self.d.log_text())
        # A device neither owned nor associated: refused; a super provider may.
        c = self.client()
        self.assertEqual(local(c.login("jpinkman", "Cap-n-Cook-1")),
                         "StartApplicationSessionPosResponse")
        r = c.monitor(DEV)
        self.assertEqual(local(r), "CSTAErrorCode")
        self.assertEqual(text(r, "operation"), "privilegeViolationOnSpecifiedDevice")
        r = c.monitor("CSFJPINKMAN")
        self.assertEqual(local(r), "MonitorStartResponse")
        xref = text(r, "monitorCrossRefID")
        stop = f'<MonitorStop xmlns="{CSTA}"><monitorCrossRefID>{xref}</monitorCrossRefID></MonitorStop>'
        self.assertEqual(local(c.request(stop)), "MonitorStopResponse")
        self.assertEqual(text(c.request(stop), "operation"), "invalidCrossRefID")
        r = c.request(f'<GetSwitchingFunctionDevices xmlns="{CSTA}"/>')
        self.assertEqual([e.text for e in r.iter() if e.tag.endswith("}deviceID")],
                         ["CSFJPINKMAN"])
        snap = '<SnapshotDevice xmlns="%s"><snapshotObject>%%s</snapshotObject></SnapshotDevice>' % CSTA
        r = c.request(snap % "CSFJPINKMAN")
        self.assertEqual(local(r), "SnapshotDeviceResponse")
        self.assertEqual(text(r, "inService"), "false")
        self.assertEqual(text(c.request(snap % DEV), "operation"),
                         "privilegeViolationOnSpecifiedDevice")
        self.assertEqual(text(c.monitor("NOSUCHDEVICE"), "operation"), "invalidDeviceIdentifier")
        m = self.client()
        self.assertEqual(local(m.login("mjavier", "Mike-Pass-1")),
                         "StartApplicationSessionPosResponse")
        self.assertEqual(local(m.monitor("SEPNOBODY00001")), "MonitorStartResponse")
        r = m.request(f'<GetSwitchingFunctionDevices xmlns="{CSTA}"/>')
        self.assertEqual(len([e for e in r.iter() if e.tag.endswith("}deviceID")]), 3)
        # Requests before a session are refused.
        r = self.client().monitor(DEV)
        self.assertEqual(text(r, "operation"), "securityViolation")

    def test_secure_connection_certificates(self):
        """Standard CTI Secure Connection (seed 001): the password alone is not enough, and
        each bad certificate is refused with its own reason in the trace."""
        # No certificate (the TLS port asks for one; the handshake completes without).
        self.refused(self.client(tls=True).login("wwhite", "Heisenberg-1"),
                     "certificate required (Standard CTI Secure Connection")
        # Another user's certificate (jpinkman's, valid).
        other, _ = self.issue("jpinkman")
        self.refused(self.client(tls=True, cert=other).login("wwhite", "Heisenberg-1"),
                     "certificate issued to another user")
        # An expired one of his: the handshake completes and the login says why.
        old, _ = self.issue("wwhite", expired=True)
        self.refused(self.client(tls=True, cert=old).login("wwhite", "Heisenberg-1"),
                     "certificate expired")
        # A revoked one (revoked in the table and the CRL, as telgate cert revoke does).
        rev, serial = self.issue("wwhite")
        tool = os.path.join(os.path.dirname(os.path.abspath(test_daemon.ARGS.telgated)),
                            "tests", "cert_issue")
        r = subprocess.run([tool, os.path.join(self.d.state, "pki"),
                            self.d.store_arg(), "--revoke", serial],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.refused(self.client(tls=True, cert=rev).login("wwhite", "Heisenberg-1"),
                     "certificate revoked")
        # His valid certificate with a wrong password: the directory refuses first.
        good, serial = self.issue("wwhite")
        self.refused(self.client(tls=True, cert=good).login("wwhite", "not-his-password"),
                     "authentication: ")
        # Both right: in, and the session carries the certificate's serial.
        r = self.client(tls=True, cert=good).login("wwhite", "Heisenberg-1")
        self.assertEqual(local(r), "StartApplicationSessionPosResponse", ET.tostring(r))
        self.assertRegex(self.d.log_text(),
                         r"event=cti_session_started user=wwhite .*certificate=" + serial)
        # Users not in Secure Connection: unchanged, with someone else's certificate or none.
        r = self.client(tls=True, cert=other).login("mjavier", "Mike-Pass-1")
        self.assertEqual(local(r), "StartApplicationSessionPosResponse", ET.tostring(r))
        r = self.client(tls=True).login("mjavier", "Mike-Pass-1")
        self.assertEqual(local(r), "StartApplicationSessionPosResponse", ET.tostring(r))

    def test_certificate_application_user(self):
        """CTI authentication type certificate (the seed's "AuthType certificate"): the
        certificate alone logs in; without it, no password helps."""
        r = self.d.cli("user", "ctiauthtype", "crmapp", "certificate")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.d.cli("user", "show", "crmapp")
        self.assertRegex(r.stdout, r"cti_authentication_type\s+certificate")
        cert, serial = self.issue("crmapp")
        c = self.client(tls=True, cert=cert)
        r = c.login("crmapp", None)  # no password element at all
        self.assertEqual(local(r), "StartApplicationSessionPosResponse", ET.tostring(r))
        self.assertIn("crmapp", self.d.cli("show", "cti", "sessions").stdout)
        # A password sent along is ignored (the Cisco TSP always sends the field).
        r = self.client(tls=True, cert=cert).login("crmapp", "anything")
        self.assertEqual(local(r), "StartApplicationSessionPosResponse", ET.tostring(r))
        # Without a certificate: refused, even with its old password; another user's
        # certificate: refused.
        self.refused(self.client(tls=True).login("crmapp", "Crm-App-Pass-1"),
                     "certificate required")
        other, _ = self.issue("jpinkman")
        self.refused(self.client(tls=True, cert=other).login("crmapp", None),
                     "certificate issued to another user")
        # Back to password: the password logs in again, the certificate alone does not.
        self.assertEqual(self.d.cli("user", "ctiauthtype", "crmapp", "password").returncode, 0)
        r = self.client(tls=True).login("crmapp", "Crm-App-Pass-1")
        self.assertEqual(local(r), "StartApplicationSessionPosResponse", ET.tostring(r))
        self.refused(self.client(tls=True, cert=cert).login("crmapp", None),
                     "userID or password missing")
        r = self.d.cli("user", "ctiauthtype", "crmapp", "fingerprint")
        self.assertNotEqual(r.returncode, 0)

    def test_revocation_closes_sessions(self):
        """telgate cert revoke closes the CTI sessions that logged in with the certificate
        (and no other), and the certificate logs in no more."""
        cert, serial = self.issue("wwhite")
        c = self.client(tls=True, cert=cert)
        self.assertEqual(local(c.login("wwhite", "Heisenberg-1")),
                         "StartApplicationSessionPosResponse")
        m = self.client(tls=True)
        self.assertEqual(local(m.login("mjavier", "Mike-Pass-1")),
                         "StartApplicationSessionPosResponse")
        r = self.d.cli("cert", "revoke", serial, "keyCompromise")
        if r.returncode != 0 and "signer is not running" in r.stdout + r.stderr:
            self.skipTest("telgated runs no signer process yet: cert revoke cannot revoke")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with self.assertRaises((EOFError, ConnectionError, OSError)):
            c.read_frame()
        log = self.d.log_text()
        self.assertIn("event=cti_session_revoked", log)
        self.assertIn('reason="certificate revoked"', log)
        r = m.request(f'<GetSwitchingFunctionDevices xmlns="{CSTA}"/>')
        self.assertEqual(local(r), "GetSwitchingFunctionDevicesResponse")
        self.refused(self.client(tls=True, cert=cert).login("wwhite", "Heisenberg-1"),
                     "certificate revoked")

    def test_second_login_keeps_the_session_user(self):
        # A StartApplicationSession inside a session is refused, and the session stays
        # jpinkman's: naming another user there must not reach that user's devices.
        c = self.client()
        self.assertEqual(local(c.login("jpinkman", "Cap-n-Cook-1")),
                         "StartApplicationSessionPosResponse")
        r = c.login("wwhite", "not-his-password")
        self.assertEqual(local(r), "StartApplicationSessionNegResponse")
        self.assertEqual(text(r, "definedError"), "invalidApplicationInfo")
        self.assertEqual(text(c.monitor(DEV), "operation"), "privilegeViolationOnSpecifiedDevice")
        self.assertEqual(local(c.monitor("CSFJPINKMAN")), "MonitorStartResponse")
        r = self.d.cli("show", "cti", "sessions")
        self.assertIn("jpinkman", r.stdout)
        self.assertNotIn("wwhite", r.stdout)

    def test_telgate_cti_client(self):
        cmd = [test_daemon.ARGS.telgate_cti, "--tls", "-p", str(self.d.cti_tls_port), "--ca", self.ca,
               "-u", "mjavier", "-a", "cli-test"]
        env = dict(os.environ, TELGATE_PASSWORD="Mike-Pass-1")
        p = subprocess.Popen(cmd + ["open", DEV, "--events", "2"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        self.assertIn("logged in as mjavier", p.stdout.readline())
        self.assertIn(f"opened {DEV} monitor=", p.stdout.readline())
        self.state(DEV, "in-service")
        self.state(DEV, "out-of-service")
        out, errs = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, errs)
        lines = out.splitlines()
        self.assertIn(f"BackInService {DEV}", lines[0])
        self.assertIn(f"OutOfService {DEV}", lines[1])
        self.assertIn("cli-test", self.d.log_text())
        # Refused login: exit 1; a CA that did not sign the server: exit 2, fails closed.
        bad = dict(os.environ, TELGATE_PASSWORD="wrong")
        r = subprocess.run(cmd + ["open", DEV], env=bad, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("invalidApplicationInfo", r.stderr)
        # ... and where the reason is: the server's log line, which is there.
        self.assertIn("event=cti_login_refused user=", r.stderr)
        self.assertIn("event=cti_login_refused", self.d.log_text())
        wrong_ca = [c if c != self.ca else self.ldap.dir + "/ca.crt" for c in cmd]
        r = subprocess.run(wrong_ca + ["open", DEV], env=env, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("certificate", r.stderr)

    def test_plain_login_refused_by_default(self):
        self.d.stop()
        self.d.close_pipes()
        self.d.write_conf("info", "")  # no allow_plain_login
        self.d.start()
        r = self.client(tls=False).login("mjavier", "Mike-Pass-1")
        self.assertEqual(local(r), "StartApplicationSessionNegResponse")
        self.assertIn("login over plain TCP refused", self.d.log_text())

    def test_heartbeat_missed_releases_monitors(self):
        c = self.client()
        r = c.login("mjavier", "Mike-Pass-1", duration=10)
        self.assertEqual(text(r, "actualSessionDuration"), "10")
        session = text(r, "sessionID")
        self.assertEqual(local(c.monitor(DEV)), "MonitorStartResponse")
        # One reset keeps it alive past the first window.
        time.sleep(6)
        r = c.request(f'<ResetApplicationSessionTimer xmlns="{ACSE}"><sessionID>{session}'
                      f"</sessionID><requestedSessionDuration>10</requestedSessionDuration>"
                      f"</ResetApplicationSessionTimer>")
        self.assertEqual(local(r), "ResetApplicationSessionTimerPosResponse")
        time.sleep(6)
        self.assertIn(DEV, self.d.cli("show", "cti", "monitors").stdout)
        # Then silence: the session ends and its monitor is released.
        deadline = time.time() + 20
        while time.time() < deadline and DEV in self.d.cli("show", "cti", "monitors").stdout:
            time.sleep(0.5)
        self.assertNotIn(DEV, self.d.cli("show", "cti", "monitors").stdout)
        self.assertIn("event=cti_heartbeat_missed", self.d.log_text())
        with self.assertRaises((EOFError, ConnectionError, OSError)):
            c.read_frame()

    def burst(self, c, bodies, tail=b""):
        """Sends bodies as frames in ONE write (then the raw tail); returns the invoke ids
        and every answer until the server closes, by invoke id (device requests run on
        the worker pool: their answers may overtake the next request's)."""
        frames = [c.frame(b) for b in bodies]
        c.send_raw(b"".join(f for f, _ in frames) + tail)
        return [inv for _, inv in frames], sorted(c.answers_until_close(), key=lambda a: a[0])

    def assert_device_answers_before_the_close(self, msg=None):
        """Over TLS, in one write: a login, two MonitorStart (answered from the worker
        pool) and a broken header. All three are answered, then the server closes."""
        mon = f'<MonitorStart xmlns="{CSTA}"><monitorObject><deviceObject>{DEV}' \
              f"</deviceObject></monitorObject></MonitorStart>"
        c = self.client(tls=True)
        invokes, got = self.burst(c, [Client.login_body("mjavier", "Mike-Pass-1"), mon, mon],
                                  tail=b"\x00\x00\x00\x04" + b"0001")
        self.assertEqual([(inv, local(r)) for inv, r in got],
                         [(invokes[0], "StartApplicationSessionPosResponse"),
                          (invokes[1], "MonitorStartResponse"),
                          (invokes[2], "MonitorStartResponse")], msg)
        c.close()
        self.clients.remove(c)

    def assert_still_serving(self):
        self.assertIsNone(self.d.proc.poll(), "telgated died")
        c = self.client(tls=False)
        self.assertEqual(local(c.login("mjavier", "Mike-Pass-1")),
                         "StartApplicationSessionPosResponse")

    def test_frames_in_one_write_that_close(self):
        # The smallest form of the bug: three logins refused without asking the directory
        # (empty applicationID, no credentials), then wrong credentials (refused by the
        # directory, asynchronously), over TCP and TLS. Each of the three gets its
        # NegResponse, the third one included, then the server closes.
        empty = f'<StartApplicationSession xmlns="{ACSE}"><applicationInfo><applicationID>' \
                f"</applicationID></applicationInfo></StartApplicationSession>"
        wrong = Client.login_body("ghost", "not-a-password")
        for tls in (False, True):
            for body in (empty, wrong):
                c = self.client(tls=tls)
                invokes, got = self.burst(c, [body] * 3 + [wrong])
                self.assertEqual([inv for inv, _ in got], invokes[:3], (tls, body))
                for _, root in got:
                    self.assertEqual(local(root), "StartApplicationSessionNegResponse")
                    self.assertEqual(text(root, "definedError"), "invalidApplicationInfo")
                self.assert_still_serving()
        self.assertIn("reason=\"too many failed logins\"", self.d.log_text())
        # A framing error after valid frames: they are answered, then the close.
        c = self.client(tls=False)
        mon = f'<MonitorStart xmlns="{CSTA}"><monitorObject><deviceObject>{DEV}' \
              f"</deviceObject></monitorObject></MonitorStart>"
        invokes, got = self.burst(c, [mon], tail=b"\x01\x00\x00\x10" + b"0001" + b"x" * 8)
        self.assertEqual([(inv, text(r, "operation")) for inv, r in got],
                         [(invokes[0], "securityViolation")])
        self.assert_device_answers_before_the_close()
        self.assert_still_serving()
        # StopApplicationSession followed by more frames: answered, the rest dropped.
        c = self.client(tls=False)
        r = c.login("mjavier", "Mike-Pass-1")
        session = text(r, "sessionID")
        stop = f'<StopApplicationSession xmlns="{ACSE}"><sessionID>{session}' \
               f"</sessionID></StopApplicationSession>"
        invokes, got = self.burst(c, [mon, stop, mon, stop, "not xml"])
        self.assertEqual([(inv, local(r)) for inv, r in got],
                         [(invokes[0], "MonitorStartResponse"),
                          (invokes[1], "StopApplicationSessionPosResponse")])
        self.assert_still_serving()
        # The monitor opened just before the stop was released with the connection.
        self.assertNotIn(DEV, self.d.cli("show", "cti", "monitors").stdout)

    def test_session_duration_clamped(self):
        c = self.client(tls=False)
        r = c.login("mjavier", "Mike-Pass-1", duration=86401)
        self.assertEqual(local(r), "StartApplicationSessionPosResponse", ET.tostring(r))
        self.assertEqual(text(r, "actualSessionDuration"), "3600")  # cti.max_session_duration
        session = text(r, "sessionID")
        r = c.request(f'<ResetApplicationSessionTimer xmlns="{ACSE}"><sessionID>{session}'
                      f"</sessionID><requestedSessionDuration>99999999999999999999"
                      f"</requestedSessionDuration></ResetApplicationSessionTimer>")
        self.assertEqual(local(r), "ResetApplicationSessionTimerPosResponse", ET.tostring(r))
        self.assertEqual(text(r, "actualSessionDuration"), "3600")

    def test_malformed_input_while_another_session_gets_events(self):
        good = self.client()
        self.assertEqual(local(good.login("mjavier", "Mike-Pass-1")),
                         "StartApplicationSessionPosResponse")
        self.assertEqual(local(good.monitor(DEV)), "MonitorStartResponse")
        flip = [False]  # the device starts out of service

        def still_served():
            flip[0] = not flip[0]
            self.state(DEV, "in-service" if flip[0] else "out-of-service")
            ev = good.event()
            self.assertEqual(local(ev), "BackInServiceEvent" if flip[0] else "OutOfServiceEvent")

        # Bodies that are answered with a CSTA error, connection kept.
        bodies = {
            "not xml": b"this is not xml",
            "truncated xml": f'<MonitorStart xmlns="{CSTA}"><monitorObject>'.encode(),
            "dtd": (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
                    b'<MonitorStart xmlns="' + CSTA.encode() + b'">&a;</MonitorStart>'),
            "external entity": (b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                                b"<x>&e;</x>"),
            "wrong namespace": b'<MonitorStart xmlns="urn:evil"><x/></MonitorStart>',
            "no namespace": b"<MonitorStart/>",
            "unknown message": f'<MakeCall xmlns="{CSTA}"/>'.encode(),
            "missing field": f'<MonitorStart xmlns="{CSTA}"/>'.encode(),
            "binary": bytes(range(256)) * 4,
            "huge": b"<a>" + b"x" * 65000 + b"</a>",
        }
        bad = self.client()
        for name, body in bodies.items():
            r = bad.request(body)
            self.assertEqual(local(r), "CSTAErrorCode", name)
            still_served()
        # Framing errors close the connection; the server goes on.
        for name, raw in {
            "bad magic": b"\x01\x00\x00\x10" + b"0001" + b"x" * 8,
            "short length": b"\x00\x00\x00\x04" + b"0001",
            "letters as invoke id": b"\x00\x00\x00\x10" + b"ab12" + b"x" * 8,
        }.items():
            b = self.client()
            b.send_raw(raw)
            with self.assertRaises((EOFError, ConnectionError, OSError), msg=name):
                b.read_frame()
            still_served()
        # A frame announced long and cut short, then the peer goes away.
        t = self.client()
        t.send_raw(b"\x00\x00\xff\xff0001<MonitorStart")
        t.close()
        still_served()
        # TLS port spoken to in plain text, and a TLS hello cut short.
        p = socket.create_connection(("127.0.0.1", self.d.cti_tls_port))
        p.sendall(b"\x00\x00\x00\x10" + b"0001" + b"<x/>0000")
        p.close()
        still_served()
        self.assertIsNone(self.d.proc.poll())

    def log_rows(self, event):
        """The key=value fields of every log line of event, in order, with the
        correlation id (the line's first word) as "cid"."""
        rows = []
        for line in self.d.log_text().splitlines():
            if f" event={event} " in line + " ":
                f = {k: v.strip('"') for k, v in
                     re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line)}
                f["cid"] = line.split()[0]
                rows.append(f)
        return rows

    def test_slow_consumer_cut_off_while_another_gets_every_event(self):
        # Two sessions monitor the same device. "slow" opens many monitors of it, so that
        # every state change brings it one event per monitor, then stops reading (with a
        # small receive buffer, so little of it waits in the kernel); "good" reads on.
        good = self.client()
        self.assertEqual(local(good.login("mjavier", "Mike-Pass-1")),
                         "StartApplicationSessionPosResponse")
        self.assertEqual(local(good.monitor(DEV)), "MonitorStartResponse")
        slow = self.client(rcvbuf=4096)
        r = slow.login("mjavier", "Mike-Pass-1", app="SlowReader")
        self.assertEqual(local(r), "StartApplicationSessionPosResponse")
        slow_session = text(r, "sessionID")
        monitors = 500  # cti.max_monitors is 1000
        for _ in range(monitors):
            self.assertEqual(local(slow.monitor(DEV)), "MonitorStartResponse")
        slow_peer = "127.0.0.1:%d" % slow.s.getsockname()[1]
        slow_cid = next(f["cid"] for f in self.log_rows("cti_connect")
                        if f["peer"] == slow_peer)
        # From here on slow reads nothing. Each change queues ~130 KB for it; the
        # listener's limit is 4 MiB (docs/protocol.md).
        changes, cut = 0, False
        in_service = False
        while changes < 400 and not cut:
            in_service = not in_service
            self.state(DEV, "in-service" if in_service else "out-of-service")
            changes += 1
            ev = good.event()
            self.assertEqual(local(ev), "BackInServiceEvent" if in_service else "OutOfServiceEvent",
                             changes)
            cut = any(f["peer"] == slow_peer for f in self.log_rows("stream_slow_consumer"))
        self.assertTrue(cut, "slow reader never cut off after %d changes" % changes)
        # Not before 4 MiB could be queued (an event is over 200 bytes).
        self.assertGreater(changes * monitors * 200, 4 * 1024 * 1024, changes)
        # good goes on receiving every event after the cut-off too.
        for _ in range(4):
            in_service = not in_service
            self.state(DEV, "in-service" if in_service else "out-of-service")
            changes += 1
            self.assertEqual(local(good.event()),
                             "BackInServiceEvent" if in_service else "OutOfServiceEvent")
        # One line says why, at the limit: the slow reader's peer on the TLS listener.
        slow_lines = [f for f in self.log_rows("stream_slow_consumer") if f["peer"] == slow_peer]
        self.assertEqual(len(slow_lines), 1, slow_lines)
        self.assertEqual(slow_lines[0]["listener"], "cti-tls")
        self.assertGreater(int(slow_lines[0]["queued_bytes"]), 4 * 1024 * 1024)
        self.assertLess(int(slow_lines[0]["queued_bytes"]), 4 * 1024 * 1024 + 4096)
        # The slow session ended with that reason, its monitors released; good's stays.
        deadline = time.time() + 60
        while time.time() < deadline and not any(
                f["cid"] == slow_cid for f in self.log_rows("cti_disconnect")):
            time.sleep(0.1)
        gone = [f for f in self.log_rows("cti_disconnect") if f["cid"] == slow_cid]
        self.assertEqual([f["reason"] for f in gone], ["peer does not read what it is sent"])
        ended = [f for f in self.log_rows("cti_session_ended") if f["cid"] == slow_cid]
        self.assertEqual([f["reason"] for f in ended], ["peer does not read what it is sent"])
        released = [f for f in self.log_rows("cti_monitor_released") if f["cid"] == slow_cid]
        self.assertEqual(len(released), monitors)
        sessions = self.d.cli("show", "cti", "sessions").stdout
        self.assertNotIn(slow_session, sessions)
        self.assertNotIn("SlowReader", self.d.cli("show", "cti", "monitors").stdout)
        self.assertEqual(self.d.cli("show", "cti", "monitors").stdout.count(DEV), 1)
        # Nothing else is waiting for good: its last event was the last change's.
        with self.assertRaises(socket.timeout):
            good.event(timeout=0.5)

    def test_connection_cap_before_tls(self):
        # cti.max_connections counts both ports together; more are refused at accept,
        # before any TLS work, and a freed place can be taken again.
        self.d.stop()
        self.d.close_pipes()
        self.d.write_conf("info", "[cti]\nallow_plain_login = yes\nmax_connections = 2\n")
        self.d.start()
        a = self.client(tls=False)
        self.assertEqual(text(a.monitor(DEV), "operation"), "securityViolation")
        b = self.client(tls=True)
        self.assertEqual(local(b.login("mjavier", "Mike-Pass-1")),
                         "StartApplicationSessionPosResponse")
        for tls in (False, True):
            with self.assertRaises((EOFError, ConnectionError, OSError), msg=tls):
                self.client(tls=tls).read_frame()  # TLS: the handshake already fails
        refused = self.log_rows("stream_refused")
        self.assertEqual(sorted((f["listener"], f["reason"]) for f in refused),
                         [("cti", "node connection cap reached"),
                          ("cti-tls", "node connection cap reached")])
        self.assertEqual(self.log_rows("stream_tls_failed"), [])
        self.assertEqual(len(self.log_rows("cti_connect")), 2)
        a.close()
        # The place is given back when the server has seen the close (a moment later).
        deadline = time.time() + 60
        while True:
            try:
                r = self.client(tls=False).login("mjavier", "Mike-Pass-1")
                break
            except (EOFError, ConnectionError) as e:
                if time.time() > deadline:
                    raise AssertionError("the freed place was not given back") from e
                time.sleep(0.1)
        self.assertEqual(local(r), "StartApplicationSessionPosResponse")

    def test_daemon_stops_with_connections_open(self):
        # SIGTERM while sessions with monitors (TCP and TLS), device requests, a closing
        # connection and a half TLS handshake are open: a clean exit (tearDown checks the
        # sanitizers' report, leaks included).
        a = self.client(tls=True)
        self.assertEqual(local(a.login("mjavier", "Mike-Pass-1")),
                         "StartApplicationSessionPosResponse")
        self.assertEqual(local(a.monitor(DEV)), "MonitorStartResponse")
        b = self.client(tls=False)
        self.assertEqual(local(b.login("mjavier", "Mike-Pass-1")),
                         "StartApplicationSessionPosResponse")
        self.assertEqual(local(b.monitor(DEV)), "MonitorStartResponse")
        mon = f'<MonitorStart xmlns="{CSTA}"><monitorObject><deviceObject>{DEV}' \
              f"</deviceObject></monitorObject></MonitorStart>"
        b.send_raw(b"".join(b.frame(mon)[0] for _ in range(50)))
        c = self.client(tls=True)
        c.send_raw(c.frame(Client.login_body("mjavier", "Mike-Pass-1"))[0] + b"\x01\x00junk")
        h = socket.create_connection(("127.0.0.1", self.d.cti_tls_port))
        h.sendall(b"\x16\x03\x01\x00")
        self.assertEqual(self.d.stop(), 0)
        h.close()
        self.assertIn("event=stopped exit=clean", self.d.log_text())

    def test_last_answers_before_the_close_over_tls(self):
        # Device answers computed after a framing error still go out before the close,
        # over TLS too, every time (a write-drained callback delivered late once closed
        # such connections with the answers still queued, in about 1 of 40 tries).
        for i in range(60):
            self.assert_device_answers_before_the_close(i)

    def test_tls_close_notify_after_stop(self):
        # After StopApplicationSession over TLS the server ends TLS properly: a
        # close_notify before the FIN (RFC 5246 §7.2.1, RFC 8446 §6.1), for TLS 1.2 and 1.3.
        for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                              (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            c = self.client(tls_version=version, ragged_eofs=False)
            self.assertEqual(c.s.version(), name)
            r = c.login("mjavier", "Mike-Pass-1")
            self.assertEqual(local(r), "StartApplicationSessionPosResponse", name)
            r = c.request(f'<StopApplicationSession xmlns="{ACSE}"><sessionID>'
                          f'{text(r, "sessionID")}</sessionID></StopApplicationSession>')
            self.assertEqual(local(r), "StopApplicationSessionPosResponse", name)
            # A bare FIN would raise ssl.SSLEOFError here (ragged EOFs are not
            # suppressed); the server's close_notify reads as the clean end of the stream.
            try:
                self.assertEqual(c.s.recv(1), b"", name)
            except ssl.SSLEOFError as e:
                self.fail(f"{name}: the server closed without close_notify: {e}")
            # Our own close_notify completes the shutdown on both sides.
            c.s = c.s.unwrap()
        self.assertEqual(len([f for f in self.log_rows("cti_disconnect")
                              if f["reason"] == "session stopped by the application"]), 2)

    # --- CTI login by access token (issue 18) -------------------------------------------

    def token(self, user, aud="cti"):
        """A token minted by the daemon's signer with the administrator's tool."""
        r = self.d.cli("oauth", "issue", user, "--aud", aud, "--client", "systest")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def test_token_login(self):
        tok = self.token("jpinkman")
        self.assertEqual(tok.count("."), 2, tok)
        c = self.client(tls=True)
        r = c.login_token(tok)
        self.assertEqual(local(r), "StartApplicationSessionPosResponse", ET.tostring(r))
        # The session is the user's, as a password session would be: a device neither owned
        # nor associated is refused to jpinkman, and a super provider's token may monitor it.
        r = c.monitor(DEV)
        self.assertIn("privilegeViolationOnSpecifiedDevice", ET.tostring(r).decode())
        log = self.d.log_text()
        line = next(x for x in log.splitlines() if "event=cti_session_started" in x)
        self.assertIn("user=jpinkman", line)
        self.assertIn("authentication=token", line)
        self.assertRegex(line, r"jti=[A-Za-z0-9_-]{22}")
        self.assertNotIn(tok.split(".")[2], log)  # never the token
        # With the userID too, when it is the token's subject.
        m = self.client(tls=True)
        r = m.login_token(self.token("mjavier"), user="mjavier")
        self.assertEqual(local(r), "StartApplicationSessionPosResponse", ET.tostring(r))
        self.assertEqual(local(m.monitor(DEV)), "MonitorStartResponse")
        # telgate-cti logs in with a token from a file, the user taken from the token.
        tokfile = os.path.join(self.root, "token")
        with open(tokfile, "w") as f:
            f.write(self.token("mjavier") + "\n")
        r = subprocess.run([test_daemon.ARGS.telgate_cti, "--tls", "-p",
                            str(self.d.cti_tls_port), "--ca", self.ca, "--access-token-file",
                            tokfile, "open", DEV, "--events", "0"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("logged in as the access token's subject with an access token", r.stdout)
        self.assertIn(f"opened {DEV} monitor=", r.stdout)
        # A password login's trace names its type as well.
        r = self.client(tls=True).login("mjavier", "Mike-Pass-1")
        self.assertEqual(local(r), "StartApplicationSessionPosResponse")
        self.assertIn("authentication=password", self.d.log_text())

    def test_token_refusals(self):
        # A SIP token presented to CTI.
        self.refused(self.client().login_token(self.token("jpinkman", aud="sip")),
                     "access token refused: wrong_audience")
        # Tampered: another user in the payload, the signature kept.
        tok = self.token("jpinkman")
        h, p, sig = tok.split(".")
        import base64
        pad = "=" * (-len(p) % 4)
        claims = json.loads(base64.urlsafe_b64decode(p + pad))
        claims["sub"] = "mjavier"
        p2 = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        self.refused(self.client().login_token(f"{h}.{p2}.{sig}"),
                     "access token refused: bad_signature")
        self.refused(self.client().login_token("not.a.token"), "access token refused: malformed")
        # A userID that is not the token's subject.
        self.refused(self.client().login_token(tok, user="mjavier"),
                     "the userID is not the access token's subject")
        # A client's token (sub = client_id, as client_credentials gives) is no user's login,
        # even when a user has the client's name (RFC 9068 §5).
        r = self.d.cli("oauth", "issue", "mjavier", "--aud", "cti", "--client", "mjavier")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.refused(self.client().login_token(r.stdout.strip()),
                     "access token refused: it names a client (client_credentials), not a user")
        # The user's standing applies as for a password: not in Standard CTI Enabled...
        self.refused(self.client().login_token(self.token("nocti")),
                     "user is not in Standard CTI Enabled")
        # A locked digest credential does not touch tokens (issue 18) ...
        r = self.d.cli("user", "lock", "jpinkman", "--credential", "digest")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(local(self.client().login_token(tok)),
                         "StartApplicationSessionPosResponse")
        # ... a locked password credential ends the tokens issued until then: they stay
        # refused after an unlock.
        r = self.d.cli("user", "lock", "jpinkman", "--credential", "password")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.refused(self.client().login_token(tok), "access token refused: revoked")
        self.assertIn("event=oauth_user_tokens_revoked", self.d.log_text())
        self.d.cli("user", "unlock", "jpinkman")
        self.refused(self.client().login_token(tok), "access token refused: revoked")
        # The refusals name the type and the token's jti, never the token.
        log = self.d.log_text()
        self.assertIn("authentication=token", log)
        self.assertNotIn(sig, log)
        # An unknown user cannot be given a token by the tool.
        self.assertNotEqual(self.d.cli("oauth", "issue", "nobody", "--aud", "cti", "--client",
                                       "x").returncode, 0)


if __name__ == "__main__":
    test_daemon.main()
