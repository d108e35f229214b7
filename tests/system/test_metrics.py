#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of the admin HTTP listener (issue 14): /metrics read with the Prometheus
project's own text-format parser (Debian's python3-prometheus-client), not with regular
expressions, after a SIPp registration run and a CTI login, checking that the counters
moved by exactly what was done; /healthz turning 503 while another connection holds the
store's write lock (tests run as root, so file permissions would prove nothing); and
`telgate show metrics` printing the same families."""
import json
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402
import test_sip  # noqa: E402
import test_cti  # noqa: E402


def parse(text):
    """{(sample name, frozenset of labels): value} and {family name: type}."""
    samples, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples, types


def get(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def sample(admin_port, name, **labels):
    """One sample of a daemon's /metrics (0 when absent), for the other system tests."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10) as r:
        return get(parse(r.read().decode())[0], name, **labels)


class MetricsTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgmetrics")
        self.d = test_daemon.Daemon(self.root, "[cti]\nallow_plain_login = yes\n[sip]\n"
                                    "min_expires = 1\nchallenge_sha256 = no\n")
        prov = os.path.join(self.root, "prov.json")
        data = json.loads(json.dumps(test_sip.PROV))
        data["credentialpolicies"] = [{
            "name": "Two Strikes", "failedlogonthreshold": 2, "resetfailedlogonsafter": 30,
            "lockoutduration": 30, "adminmustunlock": False, "expiresafterdays": 0,
            "expirywarningdays": 0, "inactivedaysallowed": 0, "minlength": 8}]
        data["users"][1]["credentialpolicy"] = "Two Strikes"  # mjavier
        with open(prov, "w") as f:
            json.dump(data, f)
        self.d.start("--provision", prov)
        self.users = os.path.join(self.root, "users.csv")
        with open(self.users, "w") as f:
            f.write("SEQUENTIAL\n1002;telgate;3600\n")

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def url(self, path):
        return f"http://127.0.0.1:{self.d.admin_port}{path}"

    def fetch(self, path, method="GET"):
        """(status, headers, body text)."""
        req = urllib.request.Request(self.url(path), method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def scrape(self):
        status, headers, body = self.fetch("/metrics")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"),
                        headers["Content-Type"])
        return parse(body)

    def sipp(self, transport):
        r = test_sip.sipp(["-sf", os.path.join(test_sip.SIPP_DIR, "register.xml"), "-inf",
                           self.users, "-au", "jpinkman", "-ap", "Sip-Jesse-1", "-t",
                           transport, "-m", "1", f"127.0.0.1:{self.d.sip_port}"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_counters_move_by_what_was_done(self):
        before, types = self.scrape()
        # Conventions: counters end in _total, the histogram is in seconds.
        for name, t in types.items():
            self.assertTrue(name.startswith("telgate_"), name)
        self.assertEqual(types["telgate_connections_accepted"], "counter")
        self.assertEqual(types["telgate_store_transaction_seconds"], "histogram")
        self.assertEqual(types["telgate_sip_registrations"], "gauge")
        self.assertEqual(get(before, "telgate_sip_registrations"), 0)

        # One SIPp registration over UDP and one over TCP: each is a challenged REGISTER
        # and an authenticated one (401, then 200).
        self.sipp("u1")
        self.sipp("t1")
        # A CTI login over plain TCP, kept open while the page is read.
        c = test_cti.Client(self.d.cti_port)
        try:
            ans = c.login("jpinkman", "Cap-n-Cook-1")
            self.assertEqual(test_cti.local(ans), "StartApplicationSessionPosResponse")
            ans = c.monitor("CSFJPINKMAN")
            self.assertEqual(test_cti.local(ans), "MonitorStartResponse")
            # The device is registered: the monitor opens with a BackInService event.
            self.assertEqual(test_cti.local(c.event()), "BackInServiceEvent")
            self.d.cli("status")  # a control-socket connection
            after, _ = self.scrape()
        finally:
            c.close()

        def delta(name, **labels):
            return get(after, name, **labels) - get(before, name, **labels)

        # Two REGISTERs per run (challenged, then authenticated): a 401 and a 200 each.
        self.assertEqual(delta("telgate_sip_requests_total", method="REGISTER"), 4)
        self.assertEqual(delta("telgate_sip_requests_total", method="OPTIONS"), 0)
        self.assertEqual(delta("telgate_sip_responses_total", **{"class": "2xx"}), 2)
        self.assertEqual(delta("telgate_sip_responses_total", **{"class": "4xx"}), 2)
        self.assertEqual(delta("telgate_sip_responses_total", **{"class": "5xx"}), 0)
        self.assertEqual(delta("telgate_sip_throttled_total"), 0)
        self.assertEqual(get(after, "telgate_devices_in_service"), 1)
        self.assertEqual(delta("telgate_device_state_changes_total"), 1)
        self.assertEqual(delta("telgate_connections_accepted_total", listener="sip-tcp"), 1)
        self.assertEqual(delta("telgate_connections_accepted_total", listener="cti"), 1)
        self.assertEqual(get(after, "telgate_connections_open", listener="cti"), 1)
        self.assertGreaterEqual(delta("telgate_connections_accepted_total", listener="control"),
                                1)
        self.assertGreater(delta("telgate_connection_received_bytes_total", listener="sip-tcp"),
                           0)
        # UDP and TCP bindings of the one line: as many as `show registrations` lists.
        regs = json.loads(self.d.cli("show", "registrations", json_mode=True).stdout)
        self.assertEqual(get(after, "telgate_sip_registrations"), len(regs["rows"]))
        self.assertGreaterEqual(len(regs["rows"]), 1)
        self.assertEqual(get(after, "telgate_cti_sessions", transport="tcp"), 1)
        self.assertEqual(get(after, "telgate_cti_sessions", transport="tls"), 0)
        self.assertEqual(get(after, "telgate_cti_monitors"), 1)
        self.assertEqual(delta("telgate_cti_logins_total", result="success",
                               directory="local"), 1)
        self.assertEqual(sum(v - get(before, k[0], **dict(k[1])) for k, v in after.items()
                             if k[0] == "telgate_cti_logins_total"), 1)
        # The line registered once (the TCP binding joins the UDP one): one change.
        self.assertEqual(delta("telgate_cti_device_state_changes_total"), 1)
        self.assertEqual(delta("telgate_cti_device_events_sent_total"), 1)
        self.assertEqual(delta("telgate_dir_authentications_total", result="success"), 1)
        self.assertEqual(delta("telgate_dir_authentications_total", result="failure"), 0)
        # Each binding change is one store transaction; the histogram's buckets are
        # cumulative and its +Inf bucket is its count.
        n = delta("telgate_store_transaction_seconds_count")
        self.assertGreaterEqual(n, 2)
        self.assertEqual(get(after, "telgate_store_transaction_seconds_bucket", le="+Inf"),
                         get(after, "telgate_store_transaction_seconds_count"))
        self.assertGreater(get(after, "telgate_store_transaction_seconds_sum"), 0)
        self.assertEqual(get(after, "telgate_worker_rejections_total"), 0)

    def test_alarm_counted(self):
        """Two wrong CTI passwords lock mjavier out (a two-strike policy): the
        CredentialLockout alarm is counted once, with its severity, as `show alarms`
        lists it."""
        before, _ = self.scrape()
        for _ in range(2):
            c = test_cti.Client(self.d.cti_port)
            try:
                ans = c.login("mjavier", "wrong-password-1")
                self.assertEqual(test_cti.local(ans), "StartApplicationSessionNegResponse")
            finally:
                c.close()
        after, _ = self.scrape()
        rows = json.loads(self.d.cli("show", "alarms", json_mode=True).stdout)["rows"]
        listed = {}
        for row in rows:  # time, severity, alarm, cid, fields
            listed[(row[2], row[1])] = listed.get((row[2], row[1]), 0) + 1
        self.assertEqual(listed, {("CredentialLockout", "Warning"): 1})
        self.assertEqual(get(after, "telgate_cti_logins_total", result="refused",
                             directory="local")
                         - get(before, "telgate_cti_logins_total", result="refused",
                               directory="local"), 2)
        counted = {}
        for (name, labels), v in after.items():
            if name == "telgate_alarms_raised_total":
                lab = dict(labels)
                d = v - get(before, name, **lab)
                if d:
                    counted[(lab["alarm"], lab["severity"])] = d
        self.assertEqual(counted, listed)

    def test_healthz_503_while_the_store_is_locked(self):
        status, headers, body = self.fetch("/healthz")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["status"], "ok")
        self.assertEqual(headers["Cache-Control"], "no-store")
        db = sqlite3.connect(os.path.join(self.d.state, "telgate.db"), isolation_level=None,
                             timeout=10)
        try:
            db.execute("BEGIN EXCLUSIVE")
            status, _, body = self.fetch("/healthz")
            self.assertEqual(status, 503, body)
            h = json.loads(body)
            self.assertEqual(h["status"], "unavailable")
            self.assertIn("write lock not obtained", h["store"])
            self.assertEqual(h["loops"], "ok")
        finally:
            db.execute("ROLLBACK")
            db.close()
        status, _, body = self.fetch("/healthz")
        self.assertEqual(status, 200, body)
        self.assertIn("event=health_unavailable", self.d.log_text())

    REASONS = ("handshake_timeout", "protocol_version", "no_shared_cipher", "no_certificate",
               "unknown_ca", "bad_certificate", "not_tls", "other")

    def test_tls_failures_counted_by_reason(self):
        name = "telgate_connections_tls_failed_total"
        before, _ = self.scrape()
        # Every reason is listed (bounded label values), zeros included.
        for reason in self.REASONS:
            self.assertIn((name, frozenset({"listener": "sip-tls", "reason": reason}.items())),
                          before)
        # A TLS 1.1 client (openssl s_client; security level 0 so that it offers 1.1 at
        # all): no version in common.
        r = subprocess.run(["openssl", "s_client", "-connect",
                            f"127.0.0.1:{self.d.sip_tls_port}", "-tls1_1", "-cipher",
                            "DEFAULT@SECLEVEL=0"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        # Plain text on the TLS port: a SIP request, twice.
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", self.d.sip_tls_port), timeout=10)
            s.sendall(b"OPTIONS sip:telgate SIP/2.0\r\nContent-Length: 0\r\n\r\n")
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
            s.close()

        # A client without a certificate on the mutual-TLS edge listener.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", self.d.sip_edge_port), timeout=10)
        # TLS 1.3: the refusal (certificate_required, RFC 8446 §4.4.2.4) comes with the
        # first read.
        with self.assertRaisesRegex(ssl.SSLError, "CERTIFICATE_REQUIRED"):
            with ctx.wrap_socket(raw) as s:
                s.sendall(b"OPTIONS sip:telgate SIP/2.0\r\n\r\n")
                s.recv(4096)

        def delta(after, reason, listener="sip-tls"):
            labels = {"listener": listener, "reason": reason}
            return get(after, name, **labels) - get(before, name, **labels)

        for _ in range(50):  # the closes are counted on the loop, after the peer saw them
            after, _ = self.scrape()
            if (delta(after, "protocol_version") + delta(after, "not_tls") >= 3 and
                    delta(after, "no_certificate", "sip-edge") >= 1):
                break
            time.sleep(0.1)
        self.assertEqual(delta(after, "no_certificate", "sip-edge"), 1)
        self.assertEqual(delta(after, "protocol_version"), 1)
        self.assertEqual(delta(after, "not_tls"), 2)
        for reason in self.REASONS:
            if reason not in ("protocol_version", "not_tls"):
                self.assertEqual(delta(after, reason), 0, reason)
        self.assertIn("reason=protocol_version", self.d.log_text())

    def test_show_metrics_prints_the_same_families(self):
        r = self.d.cli("show", "metrics")
        self.assertEqual(r.returncode, 0, r.stderr)
        _, cli_types = parse(r.stdout)
        _, http_types = self.scrape()
        self.assertEqual(cli_types, http_types)

    def test_routes_and_methods(self):
        self.assertEqual(self.fetch("/nothing")[0], 404)
        status, headers, _ = self.fetch("/metrics", method="POST")
        self.assertEqual(status, 405)
        self.assertIn("GET", headers["Allow"])
        # The access log names the path without its query string.
        self.fetch("/metrics?token=s3cr3t")
        time.sleep(0.2)
        self.assertNotIn("s3cr3t", self.d.log_text())

    def test_off_when_port_is_zero(self):
        self.d.stop()
        self.d.close_pipes()
        port = self.d.admin_port
        with open(self.d.conf, "a") as f:
            f.write("[admin]\nhttp_port = 0\n")
        # The harness wrote one [admin] section already: a second http_port is a
        # duplicate, so rewrite the first instead.
        with open(self.d.conf) as f:
            text = f.read().replace(f"http_port = {port}\n", "http_port = 0\n", 1)
            text = text[:text.rindex("[admin]\nhttp_port = 0\n")]
        with open(self.d.conf, "w") as f:
            f.write(text)
        self.d.start()
        out = self.d.cli("show", "open", "ports").stdout
        self.assertNotIn("admin-http", out)
        with self.assertRaises(OSError):
            urllib.request.urlopen(self.url("/metrics"), timeout=2)


if __name__ == "__main__":
    test_daemon.main()
