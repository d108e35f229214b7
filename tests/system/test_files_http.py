#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of the device-file service over HTTP (issue 16): curl fetches static files
from [files] dir on the HTTP port (byte-identical, 1 MiB too), revalidates with ETag and
Last-Modified (304), sends HEAD, gets 404 for missing files with one body whatever the
reason, 400 for every traversal form curl can send (--path-as-is keeps dots), 405 for
other methods, 414 for long names, 429 once a source has asked for too many missing
files; a replaced file is served with a new tag; hostile raw requests do not stop a
transfer running beside them."""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402


def curl(*args):
    """curl's status code, headers and body ('-D -' then the body into a file)."""
    with tempfile.NamedTemporaryFile() as body:
        r = subprocess.run(["curl", "-sS", "--path-as-is", "-D", "-", "-o", body.name,
                            "--max-time", "20", *args], capture_output=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError("curl %s: %s" % (" ".join(args), r.stderr.decode()))
        text = r.stdout.decode("latin-1")
        blocks = [b for b in text.split("\r\n\r\n") if b.startswith("HTTP/")]
        head = blocks[-1].split("\r\n")
        status = int(head[0].split()[1])
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        with open(body.name, "rb") as f:
            return status, headers, f.read()


class FilesHttpTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgfileshttp")
        self.dir = os.path.join(self.root, "files")
        os.makedirs(os.path.join(self.dir, "firmware"))
        self.small = b'<?xml version="1.0"?><device><fullConfig>true</fullConfig></device>\n'
        self.big = os.urandom(1024 * 1024)
        with open(os.path.join(self.dir, "SEP001122334455.cnf.xml"), "wb") as f:
            f.write(self.small)
        with open(os.path.join(self.dir, "firmware", "load.bin"), "wb") as f:
            f.write(self.big)
        with open(os.path.join(self.root, "secret"), "w") as f:
            f.write("secret")
        os.symlink(os.path.join(self.root, "secret"), os.path.join(self.dir, "link"))
        self.d = test_daemon.Daemon(self.root, f"[files]\ndir = {self.dir}\n")
        self.d.start()
        self.base = f"http://127.0.0.1:{self.d.files_http_port}"

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def test_get_etag_head_and_replace(self):
        st, h, body = curl(self.base + "/SEP001122334455.cnf.xml")
        self.assertEqual(st, 200)
        self.assertEqual(body, self.small)
        self.assertEqual(h["content-type"], "text/xml; charset=utf-8")
        self.assertEqual(h["cache-control"], "no-cache")
        etag, lastmod = h["etag"], h["last-modified"]
        self.assertRegex(etag, r'^"[0-9a-f]{32}"$')
        self.assertEqual(etag[1:33], hashlib.sha256(self.small).hexdigest()[:32])
        # revalidation: the tag, a list holding it, a weak form, the date
        for cond in (etag, f'"x", {etag}', "W/" + etag, "*"):
            st, h, body = curl("-H", f"If-None-Match: {cond}",
                               self.base + "/SEP001122334455.cnf.xml")
            self.assertEqual((st, body), (304, b""), cond)
            self.assertEqual(h["etag"], etag)
        st, _, body = curl("-H", 'If-None-Match: "other"', self.base + "/SEP001122334455.cnf.xml")
        self.assertEqual(st, 200)
        st, _, _ = curl("-H", f"If-Modified-Since: {lastmod}",
                        self.base + "/SEP001122334455.cnf.xml")
        self.assertEqual(st, 304)
        st, _, _ = curl("-H", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT",
                        self.base + "/SEP001122334455.cnf.xml")
        self.assertEqual(st, 200)
        # HEAD: the headers of GET, no body (curl -I writes the headers where the body
        # would go)
        st, h, body = curl("-I", self.base + "/SEP001122334455.cnf.xml")
        self.assertEqual(st, 200)
        self.assertNotIn(b"<device>", body)
        self.assertEqual(int(h["content-length"]), len(self.small))
        self.assertEqual(h["etag"], etag)
        # a query string is ignored (phones add cache-busters)
        st, _, body = curl(self.base + "/SEP001122334455.cnf.xml?t=123")
        self.assertEqual((st, body), (200, self.small))
        # replaced: new bytes and a new tag within a second or two; the old tag gets 200
        with open(os.path.join(self.dir, "SEP001122334455.cnf.xml"), "wb") as f:
            f.write(self.small.replace(b"true", b"false"))
        deadline = time.time() + 60
        while True:
            st, h, body = curl("-H", f"If-None-Match: {etag}",
                               self.base + "/SEP001122334455.cnf.xml")
            if st == 200 or time.time() > deadline:
                break
            time.sleep(0.3)
        self.assertEqual(st, 200)
        self.assertIn(b"false", body)
        self.assertNotEqual(h["etag"], etag)

    def test_big_file_identical(self):
        st, h, body = curl(self.base + "/firmware/load.bin")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/octet-stream")
        self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(self.big).digest())

    def test_missing_traversal_and_methods(self):
        st, _, missing_body = curl(self.base + "/SEPFFFFFFFFFFFF.cnf.xml")
        self.assertEqual(st, 404)
        # a link out of the directory, a directory: the same 404, the same body
        for path in ("/link", "/firmware", "/firmware/"):
            st, _, body = curl(self.base + path)
            self.assertIn(st, (400, 404), path)
            if st == 404:
                self.assertEqual(body, missing_body, path)
        bad = ["/../secret", "/firmware/../../secret", "/%2e%2e/secret", "/%2E%2E%2Fsecret",
               "/firmware%2fload.bin", "/..%5csecret", "/a\\..\\secret", "/%00secret",
               "/%c0%ae%c0%ae/secret", "/%e0%80%ae%e0%80%ae/secret", "/.hidden",
               "/%252e%252e/secret", "//secret", "/caf%C3%A9"]
        for path in bad:
            st, _, body = curl(self.base + path)
            self.assertEqual(st, 400, path)
            self.assertNotIn(b"secret", body, path)
        st, _, _ = curl(self.base + "/" + "a" * 129)
        self.assertEqual(st, 414)
        st, _, _ = curl(self.base + "/" + "a" * 128)
        self.assertEqual(st, 404)
        st, h, _ = curl("-X", "POST", "-d", "x", self.base + "/SEP001122334455.cnf.xml")
        self.assertEqual(st, 405)
        self.assertIn("GET", h["allow"])
        self.assertIn("HEAD", h["allow"])
        st, _, _ = curl("-X", "PUT", "-d", "x", self.base + "/new.txt")
        self.assertEqual(st, 405)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "new.txt")))
        # one access-log line per request
        log = self.d.log_text()
        self.assertIn("SEPFFFFFFFFFFFF.cnf.xml", log)

    def test_scanning_is_throttled(self):
        # 120 misses a minute from one source, then 429 with Retry-After even for a file
        # that exists; one curl, one connection
        urls = [f"{self.base}/SEP{n:012X}.cnf.xml" for n in range(125)]
        args = [a for u in urls for a in ("-o", "/dev/null", u)]
        r = subprocess.run(["curl", "-s", "-w", "%{http_code}\n", *args],
                           capture_output=True, text=True, timeout=60)
        codes = r.stdout.split()
        self.assertEqual(codes[:120], ["404"] * 120)
        self.assertEqual(set(codes[120:]), {"429"})
        st, h, _ = curl(self.base + "/SEP001122334455.cnf.xml")
        self.assertEqual(st, 429)
        self.assertEqual(h["retry-after"], "60")
        self.assertIn("files_http_throttled", self.d.log_text())

    def test_hostile_requests_beside_a_transfer(self):
        result = {}

        def fetch():
            result["r"] = curl("--limit-rate", "2M", self.base + "/firmware/load.bin")

        t = threading.Thread(target=fetch)
        t.start()
        hostile = [b"GET /" + b"A" * 70000 + b" HTTP/1.1\r\n\r\n",
                   b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 5000 + b"\r\n",
                   b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),
                   b"GET /SEP001122334455.cnf.xml HTTP/9.9\r\n\r\n",
                   b"GET /SEP001122334455.cnf.xml HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
                   b"GET\x00/ HTTP/1.1\r\n\r\n", b"\r\n\r\n\r\n", b"G"]
        for req in hostile:
            with socket.create_connection(("127.0.0.1", self.d.files_http_port), 5) as s:
                s.settimeout(5)
                try:
                    s.sendall(req)
                    s.shutdown(socket.SHUT_WR)
                    reply = s.recv(200)
                except OSError:
                    reply = b""
                if reply:
                    self.assertRegex(reply, rb"^HTTP/1\.1 (4\d\d|505) ", req[:40])
        t.join(60)
        st, _, body = result["r"]
        self.assertEqual(st, 200)
        self.assertEqual(body, self.big)
        st, _, body = curl(self.base + "/SEP001122334455.cnf.xml")
        self.assertEqual((st, body), (200, self.small))
        ports = self.d.cli("show", "open", "ports").stdout
        self.assertIn("files-http", ports)


OAUTH = "Universal Device Template - OAuth"
DIGEST = "Cisco 8865 - Standard SIP Non-Secure Profile"


def provisioning(csf_profile):
    return {"version": 1,
            "securityprofiles": [
                {"name": DIGEST, "transport": "TCP+UDP", "enableoauthauthentication": False,
                 "enabledigestauthentication": True},
                {"name": OAUTH, "transport": "TLS", "enableoauthauthentication": True,
                 "enabledigestauthentication": False}],
            "users": [{"userid": "jpinkman", "directory": "local", "password": "Cap-n-Cook-1",
                       "firstname": "Jesse", "lastname": "Pinkman"}],
            "devices": [
                {"name": "CSFJPINKMAN", "model": "Cisco Unified Client Services Framework",
                 "protocol": "SIP", "owner": "jpinkman", "lines": ["1002"],
                 "securityprofile": csf_profile, "description": "Jesse <&> \"softphone\""},
                {"name": "SEP001794625DE5", "model": "Cisco 8865", "protocol": "SIP",
                 "lines": ["1001"], "securityprofile": DIGEST}]}


class CnfHttpTest(unittest.TestCase):
    """cnf.xml generated from the store, served over HTTP: values, the OAuth switch and
    the device's profile changing the file and its ETag at the next request."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgcnfhttp")
        self.d = test_daemon.Daemon(self.root)
        self.d.start()
        self.base = f"http://127.0.0.1:{self.d.files_http_port}"
        self.provision(OAUTH)

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def provision(self, csf_profile):
        path = os.path.join(self.root, "prov.json")
        with open(path, "w") as f:
            json.dump(provisioning(csf_profile), f)
        r = self.d.cli("import", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def fetch(self, name, etag=None):
        args = ["-H", f"If-None-Match: {etag}"] if etag else []
        st, h, body = curl(*args, f"{self.base}/{name}")
        return st, h.get("etag"), body

    def test_cnf_values_and_changes(self):
        st, tag0, body = self.fetch("CSFJPINKMAN.cnf.xml")
        self.assertEqual(st, 200)
        doc = ET.fromstring(body)
        self.assertEqual(doc.tag, "device")
        self.assertEqual(doc.findtext("sipOAuthMode"), "0")  # ClusterSIPOAuthMode unset
        line = doc.find("sipProfile/sipLines/line")
        self.assertEqual(line.findtext("name"), "1002")
        self.assertEqual(line.findtext("displayName"), "Jesse Pinkman")
        self.assertEqual(doc.findtext("telgate/description"), 'Jesse <&> "softphone"')
        self.assertEqual(doc.findtext("telgate/securityProfile/name"), OAUTH)
        # this node, with the ports of its configuration
        cms = doc.findall("devicePool/callManagerGroup/members/member/callManager")
        self.assertEqual(len(cms), 1)
        ports = cms[0].find("ports")
        self.assertEqual(ports.findtext("sipPort"), str(self.d.sip_port))
        self.assertEqual(ports.findtext("securedSipPort"), str(self.d.sip_tls_port))
        self.assertEqual(ports.findtext("sipOAuthPort"), "5090")
        self.assertEqual(ports.findtext("sipMRAOAuthPort"), str(self.d.sip_edge_port))
        # show config prints the same bytes
        r = self.d.cli("show", "config", "CSFJPINKMAN")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout.encode().strip(), body.strip())
        # unchanged: 304
        self.assertEqual(self.fetch("CSFJPINKMAN.cnf.xml", tag0)[0], 304)

        # the cluster switch: the OAuth profile's device turns on, the digest one not
        self.assertEqual(self.d.cli("set", "param", "ClusterSIPOAuthMode", "1").returncode, 0)
        st, tag1, body = self.fetch("CSFJPINKMAN.cnf.xml", tag0)
        self.assertEqual(st, 200)
        self.assertNotEqual(tag1, tag0)
        self.assertEqual(ET.fromstring(body).findtext("sipOAuthMode"), "1")
        st, _, body = self.fetch("SEP001794625DE5.cnf.xml")
        self.assertEqual(ET.fromstring(body).findtext("sipOAuthMode"), "0")
        # Cisco phones may ask with a lower-case MAC
        st, _, body2 = self.fetch("sep001794625de5.cnf.xml")
        self.assertEqual((st, body2), (200, body))

        # the device's profile: to digest, OAuth off again, a new tag
        self.provision(DIGEST)
        st, tag2, body = self.fetch("CSFJPINKMAN.cnf.xml", tag1)
        self.assertEqual(st, 200)
        self.assertNotIn(tag2, (tag0, tag1))
        self.assertEqual(ET.fromstring(body).findtext("sipOAuthMode"), "0")

    def test_https_signed_files_and_crl(self):
        """6971: the same files over HTTPS with the node's certificate (verified against
        telgate's CA); X.sgn is the file behind a header signed with the trust-list key;
        the CRL, signed by the CA, appears within seconds of the start."""
        ca = os.path.join(self.d.state, "pki", "ca.crt")
        https = f"https://127.0.0.1:{self.d.files_https_port}"
        st, _, plain = self.fetch("CSFJPINKMAN.cnf.xml")
        st2, h, body = curl("--cacert", ca, f"{https}/CSFJPINKMAN.cnf.xml")
        self.assertEqual((st, st2), (200, 200))
        self.assertEqual(body, plain)
        deadline = time.time() + 20  # signed through the signer process, which may be starting
        while True:
            st, _, sgn = curl("--cacert", ca, f"{https}/CSFJPINKMAN.cnf.xml.sgn")
            if st == 200 or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(st, 200)
        self.assertTrue(sgn.endswith(plain))
        self.assertGreater(len(sgn), len(plain) + 256)  # a header with an RSA-3072 signature
        self.assertEqual(curl("--cacert", ca, f"{https}/SEPAAAAAAAAAAAA.cnf.xml.sgn")[0], 404)
        # not without verifying who answers: curl refuses another CA
        r = subprocess.run(["curl", "-sS", "--cacert", "/etc/ssl/certs/ca-certificates.crt",
                            f"{https}/CSFJPINKMAN.cnf.xml"], capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        # the CRL, DER, verified by openssl against the CA
        deadline = time.time() + 30
        while True:
            st, h, crl = curl(f"{self.base}/telgate.crl")
            if st == 200 or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(st, 200)
        self.assertEqual(h.get("content-type"), "application/pkix-crl")
        path = os.path.join(self.root, "crl.der")
        with open(path, "wb") as f:
            f.write(crl)
        r = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", path, "-CAfile", ca,
                            "-noout"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("verify OK", r.stdout + r.stderr)
        ports = self.d.cli("show", "open", "ports").stdout
        self.assertIn("files-https", ports)

    def test_default_and_unknown(self):
        st, _, body = self.fetch("XMLDefault.cnf.xml")
        self.assertEqual(st, 200)
        doc = ET.fromstring(body)
        self.assertIsNone(doc.find("sipProfile"))
        self.assertNotIn(b"CSFJPINKMAN", body)
        self.assertEqual(len(doc.findall("devicePool/callManagerGroup/members/member")), 1)
        st, _, unknown = self.fetch("SEPAAAAAAAAAAAA.cnf.xml")
        st2, _, missing = self.fetch("nothing.bin")
        self.assertEqual((st, st2), (404, 404))
        self.assertEqual(unknown, missing)
        r = self.d.cli("show", "config", "SEPAAAAAAAAAAAA")
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    test_daemon.main()
