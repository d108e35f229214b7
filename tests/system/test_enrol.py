#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of the seed-001 client side (issue 17): `telgate-cti trust-list` and
`telgate-cti enrol` against telgated.

TrustListTest runs now: telgated serves trust lists written by telgate's builder (tl_gen)
from a static files directory over TFTP and HTTP; the client verifies the first one with
the pinned fingerprint of the signer's certificate, keeps it, accepts a newer list signed
by the recovery key, and refuses an older list, a tampered list, a wrong pin and a first
use without a pin -- each refusal leaving the list it holds as it was.

EnrolTest is the enrolment end to end: `telgate capf add`, `telgate-cti enrol` with the pin
taken from the daemon's pki dir (trustlist.crt), the files checked, `telgate capf show`
says success with the serial, the same string refused the second time. It is skipped,
saying why, until the daemon serves its own trust list and has an EST server ([est])."""
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402

TL_GEN = None  # --tl-gen PATH (tests/CMakeLists.txt passes it)


def pem_sha256(path):
    with open(path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return "sha256:" + hashlib.sha256(der).hexdigest()


class ClientTest(unittest.TestCase):
    extra = ""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgenrol")
        self.files = os.path.join(self.root, "files")
        os.makedirs(self.files)
        self.out = os.path.join(self.root, "client")
        self.d = test_daemon.Daemon(self.root, f"[files]\ndir = {self.files}\n" + self.extra)

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def cti(self, command, *words, http=False, name="gen/CTLCAPF1234.tlv"):
        port = ["--http-port", str(self.d.files_http_port)] if http else \
            ["--tftp-port", str(self.d.tftp_port)]
        return subprocess.run([test_daemon.ARGS.telgate_cti, command, "--server", "127.0.0.1",
                               *port, "--out", self.out, "--trust-list-file", name, *words],
                              capture_output=True, text=True, timeout=60)


class TrustListTest(ClientTest):
    def setUp(self):
        super().setUp()
        gen = os.path.join(self.root, "gen")
        os.makedirs(gen)
        subprocess.run([TL_GEN, gen], check=True, capture_output=True)
        # ITLFile.tlv: sequence 1000 by the trust-list signer; ITLRecovery.tlv: 1001 by
        # the recovery signer. Served from the static directory under gen/ (the names a
        # CTI client asks for at the top are the daemon's own lists).
        os.makedirs(os.path.join(self.files, "gen"))
        shutil.copy(os.path.join(gen, "ITLFile.tlv"), os.path.join(self.files, "gen/CTLCAPF1234.tlv"))
        shutil.copy(os.path.join(gen, "ITLRecovery.tlv"), os.path.join(self.files, "gen/CTLCAPF1235.tlv"))
        with open(os.path.join(gen, "ITLFile.tlv"), "rb") as f:
            data = bytearray(f.read())
        data[-40] ^= 1  # a byte of the last record's certificate
        with open(os.path.join(self.files, "gen/CTLCAPF1236.tlv"), "wb") as f:
            f.write(data)
        self.pin = pem_sha256(os.path.join(gen, "signer.pem"))
        self.recovery_pin = pem_sha256(os.path.join(gen, "recovery.pem"))
        self.ca = os.path.join(gen, "ca.pem")
        self.d.start()

    def held(self):
        with open(os.path.join(self.out, "trustlist.tlv"), "rb") as f:
            return f.read()

    def test_first_use_later_recovery_older_tampered(self):
        r = self.cti("trust-list")  # no pin, nothing held
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("first use needs the signer's fingerprint (--pin)", r.stderr)
        r = self.cti("trust-list", "--pin", self.recovery_pin)  # not its signer
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not the pinned one", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.out, "trustlist.tlv")))

        r = self.cti("trust-list", "--pin", self.pin)  # TFTP, first use
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sequence 1000", r.stdout)
        self.assertIn("first use (pinned signer)", r.stdout)
        with open(os.path.join(self.files, "gen/CTLCAPF1234.tlv"), "rb") as f:
            self.assertEqual(self.held(), f.read())
        with open(os.path.join(self.out, "ca.pem")) as f, open(self.ca) as g:
            self.assertEqual(f.read(), g.read())  # the CAPF record: the CA
        self.assertEqual(os.stat(self.out).st_mode & 0o777, 0o700)

        # Later: verified against the list held, no pin needed; over HTTP this time.
        r = self.cti("trust-list", "--json", http=True, name="gen/CTLCAPF1235.tlv")
        self.assertEqual(r.returncode, 0, r.stderr)
        tl = json.loads(r.stdout)["trust_list"]
        self.assertEqual(tl["sequence"], 1001)
        self.assertFalse(tl["first_use"])
        self.assertIn("CN=telgate recovery", tl["signer"])
        self.assertEqual(tl["path"], os.path.join(self.out, "trustlist.tlv"))
        self.assertEqual(tl["ca"], os.path.join(self.out, "ca.pem"))
        newer = self.held()

        for name, why in (("gen/CTLCAPF1234.tlv", "older than the one held"),
                          ("gen/CTLCAPF1236.tlv", "refused")):
            for http in (False, True):
                r = self.cti("trust-list", "--pin", self.pin, http=http, name=name)
                self.assertEqual(r.returncode, 1, (name, r.stderr))
                self.assertIn(why, r.stderr)
                self.assertEqual(self.held(), newer)  # what it holds did not change

    def test_tampered_on_first_use_and_unknown_file(self):
        r = self.cti("trust-list", "--pin", self.pin, name="gen/CTLCAPF1236.tlv")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("trust list refused", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.out, "trustlist.tlv")))
        r = self.cti("trust-list", "--pin", self.pin, name="gen/CTLCAPFFFFF.tlv")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("File not found", r.stderr)

    def test_enrol_refuses_before_any_est_request(self):
        """A refused list stops the enrolment before the string is sent anywhere."""
        secret = os.path.join(self.root, "secret")
        with open(secret, "w") as f:
            f.write("QF4M7Z2KXW5RJD3NTAHV6YBCUE\n")
        r = self.cti("enrol", "--instance-id", "1234", "--auth-string-file", secret,
                     "--est-port", "1", "--pin", self.recovery_pin)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("trust list refused", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.out, "key.pem")))

    def test_usage(self):
        for words in (["--pin", "sha256:00"], ["--http-port", "1"]):
            r = self.cti("trust-list", *words)
            self.assertEqual(r.returncode, 64, (words, r.stderr))
        r = subprocess.run([test_daemon.ARGS.telgate_cti, "enrol", "--server", "127.0.0.1",
                            "--out", self.out], capture_output=True, text=True)
        self.assertEqual(r.returncode, 64)  # no --instance-id / --auth-string-file
        self.assertIn("--auth-string-file", r.stderr)
        self.assertIn("telgate-cti: enrol needs --instance-id ID", r.stderr)


class DaemonTrustListTest(ClientTest):
    """The daemon's own lists (the trust-list provider, signed through the signer process):
    a CTI client pinned to pki/trustlist.crt accepts them over TFTP and HTTP, under every
    name a client asks for, and tftp-hpa's client fetches the same bytes."""

    def test_daemon_lists(self):
        self.d.start()
        pin = pem_sha256(os.path.join(self.d.state, "pki", "trustlist.crt"))
        deadline = time.time() + 20
        while True:  # the signer may still be starting on a first start
            r = self.cti("trust-list", "--pin", pin, name="CTLFile.tlv")
            if r.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("first use (pinned signer)", r.stdout)
        with open(os.path.join(self.out, "trustlist.tlv"), "rb") as f:
            held = f.read()
        for name in ("CTLCAPF1234.tlv", "ITLFile.tlv", "ITLSEP001122AABBCC.tlv"):
            for http in (False, True):
                r = self.cti("trust-list", http=http, name=name)
                self.assertEqual(r.returncode, 0, (name, http, r.stderr))
        with open(os.path.join(self.out, "ca.pem")) as f, \
                open(os.path.join(self.d.state, "pki", "ca.crt")) as g:
            self.assertEqual(f.read(), g.read())  # the CAPF record: telgate's CA
        got = os.path.join(self.root, "tftp-hpa.tlv")
        subprocess.run(["tftp", "127.0.0.1", str(self.d.tftp_port), "-m", "binary", "-c", "get",
                        "CTLFile.tlv", got], check=True, timeout=30, capture_output=True)
        with open(got, "rb") as f:
            self.assertEqual(f.read(), held)


class EnrolTest(ClientTest):
    """Seed 001 end to end: capf add, then the client fetches the daemon's trust list over
    TFTP, verifies it against the pinned signer, enrols over EST with the one-time string
    and keeps the key and certificate; the profile says success with the serial."""

    def setUp(self):
        super().setUp()
        self.d.start("--provision", os.path.join(test_daemon.ARGS.examples, "demo.json"))
        self.est_port = self.d.est_port
        self.pin = pem_sha256(os.path.join(self.d.state, "pki", "trustlist.crt"))

    def enrol(self, instance, string):
        secret = os.path.join(self.root, "secret-" + instance)
        with open(secret, "w") as f:
            f.write(string + "\n")
        return self.cti("enrol", "--instance-id", instance, "--auth-string-file", secret,
                        "--est-port", str(self.est_port), "--pin", self.pin, "--json",
                        name="CTLFile.tlv")

    def test_seed_001_enrolment(self):
        r = self.d.cli("capf", "add", "wwhite", "--instance-id", "1234", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        string = {k: v for k, v in json.loads(r.stdout)["rows"]}["auth_string"]
        r = self.enrol("1234", string)
        self.assertEqual(r.returncode, 0, r.stderr)
        cert = json.loads(r.stdout)["certificate"]
        key = os.path.join(self.out, "key.pem")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(cert["cert"]).st_mode & 0o777, 0o644)
        v = subprocess.run(["openssl", "verify", "-CAfile", cert["ca"], cert["cert"]],
                           capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertIn("CN=wwhite", cert["subject"])
        pub = [subprocess.run(["openssl", *args], capture_output=True, text=True).stdout
               for args in (("pkey", "-in", key, "-pubout"),
                            ("x509", "-in", cert["cert"], "-pubkey", "-noout"))]
        self.assertEqual(pub[0], pub[1])
        r = self.d.cli("capf", "show", "1234", json_mode=True)
        rows = {k: v for k, v in json.loads(r.stdout)["rows"]}
        self.assertEqual(rows["status"], "success")
        self.assertEqual(rows["serial"].upper().lstrip("0"), cert["serial"].lstrip("0"))
        # the string is single use
        kept = os.path.join(self.root, "kept")
        shutil.copytree(self.out, kept)
        shutil.rmtree(self.out)
        again = self.enrol("1234", string)
        self.assertEqual(again.returncode, 1, again.stderr)

    def test_no_auth_profile_needs_no_string_file(self):
        """A profile made with --auth-mode none enrols without --auth-string-file; a wrong
        EST port says which port the client tried and where telgated listens."""
        r = self.d.cli("capf", "add", "wwhite", "--instance-id", "4321", "--auth-mode", "none")
        self.assertEqual(r.returncode, 0, r.stderr)
        closed = test_daemon.free_port()
        r = self.cti("enrol", "--instance-id", "4321", "--est-port", str(closed), "--pin",
                     self.pin, name="CTLFile.tlv")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("the EST port is telgated's [est] port, %d unless --est-port" % closed,
                      r.stderr)
        r = self.cti("enrol", "--instance-id", "4321", "--est-port", str(self.est_port),
                     "--pin", self.pin, "--json", name="CTLFile.tlv")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("CN=wwhite", json.loads(r.stdout)["certificate"]["subject"])
        r = self.d.cli("capf", "show", "4321", json_mode=True)
        self.assertEqual({k: v for k, v in json.loads(r.stdout)["rows"]}["status"], "success")

    def test_seed_001_secure_connection_login(self):
        """The enrolled certificate and the password log a Standard CTI Secure Connection
        user in over TLS, and the device opens (seed 001's last step); without the
        certificate the same login is refused."""
        prov = os.path.join(self.root, "secure.json")
        with open(prov, "w") as f:
            json.dump({"version": 1,
                       "users": [{"userid": "sjones", "directory": "local",
                                  "password": "Secure-Pass-1",
                                  "groups": ["Standard CTI Enabled",
                                             "Standard CTI Secure Connection"]}],
                       "devices": [{"name": "SEP00AABBCCDDEE", "model": "Cisco 8865",
                                    "protocol": "SIP", "owner": "sjones",
                                    "lines": ["1009"]}]}, f)
        self.assertEqual(self.d.cli("import", prov).returncode, 0)
        r = self.d.cli("capf", "add", "sjones", "--instance-id", "5678", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        string = {k: v for k, v in json.loads(r.stdout)["rows"]}["auth_string"]
        r = self.enrol("5678", string)
        self.assertEqual(r.returncode, 0, r.stderr)
        login = [test_daemon.ARGS.telgate_cti, "--tls", "-H", "127.0.0.1",
                 "-p", str(self.d.cti_tls_port), "--ca", os.path.join(self.out, "ca.pem"),
                 "-u", "sjones", "-a", "seed-001"]
        env = dict(os.environ, TELGATE_PASSWORD="Secure-Pass-1")
        cert = ["--cert", os.path.join(self.out, "cert.pem"),
                "--key", os.path.join(self.out, "key.pem")]
        r = subprocess.run(login + cert + ["open", "SEP00AABBCCDDEE", "--events", "0"],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("logged in as sjones", r.stdout)
        self.assertIn("opened SEP00AABBCCDDEE", r.stdout)
        r = subprocess.run(login + ["open", "SEP00AABBCCDDEE", "--events", "0"], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)


def main():
    global TL_GEN
    if "--tl-gen" in sys.argv:
        i = sys.argv.index("--tl-gen")
        TL_GEN = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    test_daemon.main()


if __name__ == "__main__":
    main()
