#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of EST (RFC 7030, RFC 8951; issue 17, seed 001's enrolment): an enrolment
profile made with `telgate capf add`, then the same enrolment done by two independent
clients, curl + openssl (CSR from `openssl req`, the answer read with `openssl pkcs7
-print_certs`, checked with `openssl verify`) and strongSwan's `pki --est` (enrolment and
re-enrolment with the certificate); `capf show` says success with the serial and `cert
list` lists it. Negatives: a used string, ten wrong strings (locked: then the right one is
refused too), an expired profile, a CSR with the wrong key type and one whose signature
does not verify (400), a CSR asking for another CN, CA:TRUE, a SAN and more EKUs (a
certificate without them), re-enrolment with a revoked certificate, the rate limit (202
with Retry-After), content types of /cacerts and /csrattrs."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402
import test_metrics  # noqa: E402

EST = "/.well-known/est/"


def run(*cmd, data=None, check=True):
    r = subprocess.run(list(cmd), input=data, capture_output=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError("%s: %s" % (" ".join(cmd), r.stderr.decode(errors="replace")))
    return r


class EstTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgest")
        self.d = test_daemon.Daemon(self.root)
        self.ca = os.path.join(self.d.state, "pki", "ca.crt")

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def start(self, extra=""):
        if extra:
            self.d.write_conf("info", extra)
        self.d.start("--provision", os.path.join(test_daemon.ARGS.examples, "demo.json"))

    def path(self, name):
        return os.path.join(self.root, name)

    def url(self, op):
        return "https://127.0.0.1:%d%s%s" % (self.d.est_port, EST, op)

    def capf_add(self, instance, *extra):
        """`telgate capf add wwhite --instance-id INSTANCE ...`: the generated string, read
        from the command's answer (the only place it ever appears)."""
        r = self.d.cli("capf", "add", "wwhite", "--instance-id", instance, *extra, json_mode=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return dict(json.loads(r.stdout)["rows"])["auth_string"]

    def capf_show(self, instance):
        r = self.d.cli("capf", "show", instance, json_mode=True)
        return dict(json.loads(r.stdout)["rows"])

    def csr(self, name, curve="P-256", cn="wwhite", addext=()):
        """A new key and a base64 DER CSR for it (openssl req); returns (key, csr.b64)."""
        key, der, b64 = self.path(name + ".key"), self.path(name + ".der"), self.path(name + ".b64")
        args = ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:" + curve, "-nodes", "-keyout", key, "-subj", "/CN=" + cn,
                "-outform", "DER", "-out", der]
        for e in addext:
            args += ["-addext", e]
        run(*args)
        run("openssl", "base64", "-in", der, "-out", b64)
        return key, b64

    def post(self, op, body_file, user=None, cert=None, key=None, ctype="application/pkcs10"):
        """curl: (status, headers text, body path)."""
        out, hdr = self.path("answer.bin"), self.path("answer.hdr")
        args = ["curl", "-sS", "--cacert", self.ca, "--data-binary", "@" + body_file,
                "-H", "Content-Type: " + ctype, "-D", hdr, "-o", out, "-w", "%{http_code}"]
        if user:
            args += ["-u", user]
        if cert:
            args += ["--cert", cert, "--key", key]
        r = run(*(args + [self.url(op)]), check=False)
        status = int(r.stdout.decode() or 0)
        with open(hdr) as f:
            return status, f.read(), out

    def certs_of(self, body_path, pem_path):
        """The certs-only answer read as RFC 8951 writes it (base64 without line breaks:
        openssl base64 -A), printed with openssl pkcs7 -print_certs into pem_path."""
        der = run("openssl", "base64", "-d", "-A", "-in", body_path).stdout
        pem = run("openssl", "pkcs7", "-inform", "DER", "-print_certs", data=der).stdout
        with open(pem_path, "wb") as f:
            f.write(pem)
        return pem.decode()

    def x509(self, pem_path, *what):
        return run("openssl", "x509", "-in", pem_path, "-noout", *what).stdout.decode()

    def assert_issued_to_wwhite(self, pem, instance):
        run("openssl", "verify", "-CAfile", self.ca, pem)
        text = self.x509(pem, "-text")
        self.assertIn("Subject: CN = wwhite\n", text)
        self.assertIn("URI:urn:telgate:instance:" + instance, text)
        self.assertIn("CA:FALSE", text)
        self.assertIn("TLS Web Client Authentication", text)
        self.assertNotIn("TLS Web Server Authentication", text)
        self.assertNotIn("Code Signing", text)
        self.assertNotIn("DNS:", text)
        serial = self.x509(pem, "-serial").strip().split("=")[1]
        return serial.upper().rjust(32, "0")

    def assert_success(self, instance, serial):
        p = self.capf_show(instance)
        self.assertEqual(p["status"], "success")
        self.assertEqual(p["serial"], serial)
        rows = json.loads(self.d.cli("cert", "list", "wwhite", json_mode=True).stdout)["rows"]
        self.assertIn(serial, [r[0] for r in rows])

    def metric(self, name, **labels):
        return test_metrics.sample(self.d.admin_port, name, **labels)

    def assert_outcomes(self, **expected):
        """telgate_est_enrolments_total by outcome: exactly these (others 0)."""
        for o in ("issued", "revoked", "bad_csr", "auth", "cert_refused", "throttled", "busy",
                  "unavailable", "error"):
            self.assertEqual(self.metric("telgate_est_enrolments_total", outcome=o),
                             expected.get(o, 0), o)

    # --- the two clients ---------------------------------------------------------------------

    def test_curl_and_openssl(self):
        self.start()
        # /cacerts and /csrattrs: content types and contents
        hdr = run("curl", "-sS", "--cacert", self.ca, "-D", "-", "-o", self.path("ca.b64"),
                  self.url("cacerts")).stdout.decode()
        self.assertIn("Content-Type: application/pkcs7-mime; smime-type=certs-only", hdr)
        self.assertIn("Content-Transfer-Encoding: base64", hdr)
        self.assertIn("subject=O = telgate, CN = telgate CA",
                      self.certs_of(self.path("ca.b64"), self.path("ca-est.pem")))
        hdr = run("curl", "-sS", "--cacert", self.ca, "-D", "-", "-o", self.path("attrs.b64"),
                  self.url("csrattrs")).stdout.decode()
        self.assertIn("Content-Type: application/csrattrs", hdr)
        der = run("openssl", "base64", "-d", "-A", "-in", self.path("attrs.b64")).stdout
        asn1 = run("openssl", "asn1parse", "-inform", "DER", data=der).stdout.decode()
        for oid in ("ecdsa-with-SHA256", "id-ecPublicKey", "prime256v1"):
            self.assertIn(oid, asn1)

        secret = self.capf_add("1234")
        # A CSR asking for another CN, CA:TRUE, a SAN and more EKUs: a certificate without.
        key, b64 = self.csr("c1", cn="root", addext=(
            "basicConstraints=critical,CA:TRUE", "subjectAltName=DNS:evil.example",
            "extendedKeyUsage=serverAuth,codeSigning,clientAuth"))
        status, hdr, body = self.post("simpleenroll", b64, user="1234:" + secret)
        self.assertEqual(status, 200, open(body).read())
        self.assertIn("Content-Type: application/pkcs7-mime; smime-type=certs-only", hdr)
        self.certs_of(body, self.path("c1.pem"))
        serial = self.assert_issued_to_wwhite(self.path("c1.pem"), "1234")
        self.assert_success("1234", serial)
        # The key is the CSR's.
        self.assertEqual(run("openssl", "x509", "-in", self.path("c1.pem"), "-noout",
                             "-pubkey").stdout,
                         run("openssl", "pkey", "-in", key, "-pubout").stdout)

        # The string again: 401 with the challenge.
        status, hdr, _ = self.post("simpleenroll", b64, user="1234:" + secret)
        self.assertEqual(status, 401)
        self.assertIn('WWW-Authenticate: Basic realm="telgate EST"', hdr)

        # Re-enrolment with the certificate (curl --cert); then the same certificate,
        # revoked, is refused.
        key2, b64b = self.csr("c2")
        status, _, body = self.post("simplereenroll", b64b, cert=self.path("c1.pem"), key=key)
        self.assertEqual(status, 200, open(body).read())
        self.certs_of(body, self.path("c2.pem"))
        serial2 = self.assert_issued_to_wwhite(self.path("c2.pem"), "1234")
        self.assertNotEqual(serial, serial2)
        r = self.d.cli("cert", "revoke", serial, "keyCompromise")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        status, _, body = self.post("simplereenroll", b64b, cert=self.path("c1.pem"), key=key)
        self.assertEqual(status, 403)
        self.assertIn("revoked", open(body).read())
        # No certificate at all: refused.
        status, _, _ = self.post("simplereenroll", b64b)
        self.assertEqual(status, 403)

        # serverkeygen: telgate's key and its certificate, multipart/mixed.
        secret = self.capf_add("1235")
        status, hdr, body = self.post("serverkeygen", b64b, user="1235:" + secret)
        self.assertEqual(status, 200, open(body).read())
        self.assertIn("Content-Type: multipart/mixed; boundary=", hdr)
        with open(body, newline="") as f:  # CRLFs as sent
            text = f.read()
        parts = [p for p in text.split("--telgate-est-7030") if "Content-Type" in p]
        self.assertEqual(len(parts), 2)
        payload = [p.split("\r\n\r\n", 1)[1].strip() for p in parts]
        with open(self.path("k.b64"), "w") as f:
            f.write(payload[0])
        with open(self.path("c.b64"), "w") as f:
            f.write(payload[1])
        kder = run("openssl", "base64", "-d", "-A", "-in", self.path("k.b64")).stdout
        kpem = run("openssl", "pkey", "-inform", "DER", data=kder).stdout
        with open(self.path("skg.key"), "wb") as f:
            f.write(kpem)
        self.certs_of(self.path("c.b64"), self.path("skg.pem"))
        self.assert_issued_to_wwhite(self.path("skg.pem"), "1235")
        self.assertEqual(run("openssl", "x509", "-in", self.path("skg.pem"), "-noout",
                             "-pubkey").stdout,
                         run("openssl", "pkey", "-in", self.path("skg.key"), "-pubout").stdout)
        # The metrics: three issued, the used string, the two refused certificates; each
        # issuance went through the signer process.
        self.assert_outcomes(issued=3, auth=1, cert_refused=2)
        self.assertGreaterEqual(self.metric("telgate_signer_requests_total", result="answered"), 3)
        self.assertEqual(self.metric("telgate_signer_requests_total", result="failed"), 0)
        self.assertGreaterEqual(self.metric("telgate_signer_request_seconds_count"), 3)
        self.assertEqual(self.metric("telgate_signer_restarts_total"), 0)
        log = self.d.log_text()
        self.assertIn("event=est_enrol op=simpleenroll outcome=issued user=wwhite", log)
        self.assertNotIn(secret, log)

    @unittest.skipUnless(shutil.which("pki"), "strongSwan's pki (strongswan-pki) is not installed")
    def test_strongswan_pki(self):
        self.start(f"[est]\nreenroll_grace_s = 0\n")
        secret = self.capf_add("77")
        key, req = self.path("ss.key"), self.path("ss.req")
        with open(key, "wb") as f:
            f.write(run("pki", "--gen", "--type", "ecdsa", "--size", "256").stdout)
        with open(req, "wb") as f:
            f.write(run("pki", "--req", "--in", key, "--type", "ecdsa",
                        "--dn", "CN=strongswan-client").stdout)
        base = "https://127.0.0.1:%d" % self.d.est_port  # pki adds /.well-known/est/...
        r = run("pki", "--est", "--url", base, "--cacert", self.ca, "--in", req,
                "--userpass", "77:" + secret, "--outform", "pem")
        with open(self.path("ss.pem"), "wb") as f:
            f.write(r.stdout)
        serial = self.assert_issued_to_wwhite(self.path("ss.pem"), "77")
        self.assert_success("77", serial)
        # Re-enrolment: pki --est with the old certificate and key (a new CSR and key);
        # with reenroll_grace_s = 0 the old one is revoked (superseded) at once.
        key2, req2 = self.path("ss2.key"), self.path("ss2.req")
        with open(key2, "wb") as f:
            f.write(run("pki", "--gen", "--type", "ecdsa", "--size", "256").stdout)
        with open(req2, "wb") as f:
            f.write(run("pki", "--req", "--in", key2, "--type", "ecdsa",
                        "--dn", "CN=wwhite").stdout)
        r = run("pki", "--est", "--url", base, "--cacert", self.ca, "--in", req2,
                "--cert", self.path("ss.pem"), "--key", key, "--outform", "pem")
        with open(self.path("ss2.pem"), "wb") as f:
            f.write(r.stdout)
        serial2 = self.assert_issued_to_wwhite(self.path("ss2.pem"), "77")
        rows = json.loads(self.d.cli("cert", "list", "wwhite", json_mode=True).stdout)
        status = {row[0]: row[rows["columns"].index("status")] for row in rows["rows"]}
        self.assertEqual(status[serial], "revoked (superseded)")
        self.assertEqual(status[serial2], "valid")
        self.assertIn("path=/.well-known/est/simplereenroll status=200", self.d.log_text())

    # --- negatives -------------------------------------------------------------------------

    def test_refusals(self):
        self.start("[pki]\ncapf_source_failures_max = 0\n")
        _, good = self.csr("g")
        # Ten wrong strings lock the profile; then the right string is refused too.
        secret = self.capf_add("500")
        for _ in range(10):
            status, hdr, _ = self.post("simpleenroll", good, user="500:WRONGWRONGWRONGWRONG")
            self.assertEqual(status, 401)
        self.assertEqual(self.capf_show("500")["status"], "locked")
        status, _, _ = self.post("simpleenroll", good, user="500:" + secret)
        self.assertEqual(status, 401)
        # An unknown instance id: the same answer.
        status, hdr, body = self.post("simpleenroll", good, user="999:" + secret)
        self.assertEqual(status, 401)
        self.assertIn('WWW-Authenticate: Basic realm="telgate EST"', hdr)

        # An expired profile.
        secret = self.capf_add("501", "--expires-in", "1s")
        deadline = time.time() + 20
        while self.capf_show("501")["status"] != "expired" and time.time() < deadline:
            time.sleep(0.2)
        status, _, _ = self.post("simpleenroll", good, user="501:" + secret)
        self.assertEqual(status, 401)

        # The wrong key type for the profile: 400, the profile failed.
        secret = self.capf_add("502")
        _, p384 = self.csr("p384", curve="P-384")
        status, _, body = self.post("simpleenroll", p384, user="502:" + secret)
        self.assertEqual(status, 400)
        self.assertIn("ec-p384", open(body).read())
        p = self.capf_show("502")
        self.assertEqual(p["status"], "failed")

        # A CSR whose signature does not verify: 400 before the string is looked at.
        secret = self.capf_add("503")
        der = bytearray(open(self.path("g.der"), "rb").read())
        der[-3] ^= 1
        with open(self.path("bad.der"), "wb") as f:
            f.write(der)
        run("openssl", "base64", "-in", self.path("bad.der"), "-out", self.path("bad.b64"))
        status, _, body = self.post("simpleenroll", self.path("bad.b64"), user="503:" + secret)
        self.assertEqual(status, 400)
        self.assertIn("signature", open(body).read())
        self.assertEqual(self.capf_show("503")["status"], "pending")
        # Not base64, and the wrong content type.
        with open(self.path("junk"), "w") as f:
            f.write("*** not base64 ***")
        status, _, _ = self.post("simpleenroll", self.path("junk"), user="503:" + secret)
        self.assertEqual(status, 400)
        status, _, _ = self.post("simpleenroll", good, user="503:" + secret,
                                 ctype="application/x-www-form-urlencoded")
        self.assertEqual(status, 415)
        # And it still enrols.
        status, _, _ = self.post("simpleenroll", good, user="503:" + secret)
        self.assertEqual(status, 200)
        # Ten wrong strings, the locked one, the unknown id, the expired profile; the key
        # mismatch and the bad signature (not base64 is refused before an enrolment starts).
        self.assert_outcomes(issued=1, auth=13, bad_csr=2)
        self.assertEqual(self.metric("telgate_est_enrolments_in_flight"), 0)

    def test_own_threads_at_lower_priority(self):
        """[est] threads = 2: two loop threads and two workers of the engine run at [est]
        nice (10), every other engine thread at 0, so that an enrolment storm yields to
        call processing (bench/run.sh est_enrol part 3 measures it)."""
        self.start("[est]\nthreads = 2\n")
        engine = self.d.children()["engine"]
        nices = []
        for tid in os.listdir(f"/proc/{engine}/task"):
            with open(f"/proc/{engine}/task/{tid}/stat") as f:
                nices.append(int(f.read().rsplit(")", 1)[1].split()[16]))
        self.assertEqual(nices.count(10), 4, nices)
        self.assertEqual(len(nices) - nices.count(10), nices.count(0), nices)
        # And they serve: one enrolment.
        secret = self.capf_add("700")
        _, good = self.csr("g")
        status, _, _ = self.post("simpleenroll", good, user="700:" + secret)
        self.assertEqual(status, 200)

    def test_rate_limit_202(self):
        self.start("[est]\nrate = 1\n")
        _, good = self.csr("g")
        secret = self.capf_add("600")
        seen, busy = [], 0
        for _ in range(5):  # no credentials: each takes a token, none touches the profile
            status, hdr, _ = self.post("simpleenroll", good)
            seen.append(status)
            if status == 202:
                self.assertIn("Retry-After:", hdr)
                break
        self.assertIn(202, seen)
        # The string enrols once the bucket has refilled.
        deadline = time.time() + 20
        while time.time() < deadline:
            status, _, _ = self.post("simpleenroll", good, user="600:" + secret)
            if status != 202:
                break
            busy += 1
            time.sleep(1)
        self.assertEqual(status, 200)
        # Every 202 was the rate limit's, before any work.
        self.assertEqual(self.metric("telgate_est_admission_refused_total", limit="rate"),
                         seen.count(202) + busy)
        self.assertEqual(self.metric("telgate_est_admission_refused_total", limit="queue"), 0)
        self.assertEqual(self.metric("telgate_est_enrolments_total", outcome="busy"), 0)


if __name__ == "__main__":
    test_daemon.main()
