#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of enrolment under failure (issue 17, "Must show": the signer killed during
a burst of enrolments; "Crash safety").

Signer killed: 50 profiles, 50 concurrent /simpleenroll requests (threads, Python ssl +
http.client, CSRs made with `cryptography`), the signer killed with SIGKILL in the middle.
Every request ends 200 with a certificate that verifies against the CA and is in the
issued table, or 202/503 with Retry-After (never a 500, never a hang); the others' strings
still work once the monitor has replaced the signer; `show signer` counts the restart and
the SignerRestarted alarm is raised.

Crash safety: 20 cycles of telgated (same state directory) taking a burst of 50 enrolments
with 50 fresh profiles and being killed with SIGKILL at a random moment of it, in
alternate cycles the network engine alone (the monitor then ends, and the signer with it:
a crash of the process that serves) and all three processes at once (the machine's
power): no serial issued twice, no string accepted twice (a profile whose client got a
200 is success with that serial and has no other certificate), every certificate a client
received is in the issued table, byte for byte, SQLite's integrity_check ok, and a
profile whose client got no certificate is not used up: its string enrols after the
restart (a profile consumed when the crash came is put back at start), unless its
enrolment had ended (success, recorded) and only the answer was lost — which the server
cannot tell from an answer received (docs/enrolment.md "Crashes"). TELGATE_CRASH_SEED
replays a run's random moments (the test prints its seed)."""
import base64
import concurrent.futures
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import sqlite3
import ssl
import sys
import tempfile
import threading
import time
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402
import test_metrics  # noqa: E402

BURST = 50
CYCLES = 20
# A request's bound: connect, TLS, the enrolment and the answer. The signer's own timeout
# is 5 s, an EST answer waits for a worker: far below this unless something hangs.
REQUEST_BOUND_S = 30
RETRYABLE = (202, 503)


def new_csr():
    """A fresh P-256 key and a DER PKCS#10 for it (the profiles' default key type)."""
    key = ec.generate_private_key(ec.SECP256R1())
    req = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crash")]))
           .sign(key, hashes.SHA256()))
    return req.public_bytes(serialization.Encoding.DER)


class Outcome:
    """What one request ended with: status (None: the connection failed), the
    Retry-After header, the certificate received (DER) and the error text."""

    def __init__(self, instance, secret):
        self.instance, self.secret = instance, secret
        self.status = self.retry_after = self.der = None
        self.error = ""


class Enroller:
    """/simpleenroll over a new TLS connection per request, the way a device does."""

    def __init__(self, d):
        self.d = d
        self.ctx = ssl.create_default_context(cafile=os.path.join(d.state, "pki", "ca.crt"))
        self.ctx.check_hostname = False  # the server certificate names localhost
        with open(os.path.join(d.state, "pki", "ca.crt"), "rb") as f:
            self.ca = x509.load_pem_x509_certificate(f.read())

    def enrol(self, o):
        auth = base64.b64encode(f"{o.instance}:{o.secret}".encode()).decode()
        body = base64.b64encode(new_csr())
        conn = http.client.HTTPSConnection("127.0.0.1", self.d.est_port, context=self.ctx,
                                           timeout=REQUEST_BOUND_S)
        try:
            conn.request("POST", "/.well-known/est/simpleenroll", body=body,
                         headers={"Content-Type": "application/pkcs10",
                                  "Authorization": "Basic " + auth})
            r = conn.getresponse()
            data = r.read()
            o.status, o.retry_after = r.status, r.getheader("Retry-After")
            if r.status == 200:
                certs = pkcs7.load_der_pkcs7_certificates(base64.b64decode(data))
                o.der = certs[0].public_bytes(serialization.Encoding.DER)
            else:
                o.error = data.decode(errors="replace")
        except (OSError, http.client.HTTPException) as e:
            o.status, o.error = None, "%s: %s" % (type(e).__name__, e)
        finally:
            conn.close()
        return o

    def verify(self, der):
        """The certificate was signed by the CA's key (raises otherwise)."""
        c = x509.load_der_x509_certificate(der)
        self.ca.public_key().verify(c.signature, c.tbs_certificate_bytes,
                                    ec.ECDSA(c.signature_hash_algorithm))
        return "%032X" % c.serial_number

    def burst(self, outcomes, on_answer):
        """All requests at once (a barrier releases them); on_answer(n) is called from the
        request threads with the number of answers so far. Returns the threads still alive
        after the bound (a hang)."""
        gate = threading.Barrier(len(outcomes))
        done = [0]
        lock = threading.Lock()

        def one(o):
            gate.wait()
            self.enrol(o)
            with lock:
                done[0] += 1
                n = done[0]
            on_answer(n)

        threads = [threading.Thread(target=one, args=(o,), daemon=True) for o in outcomes]
        for t in threads:
            t.start()
        deadline = time.time() + REQUEST_BOUND_S + 30
        for t in threads:
            t.join(max(0.1, deadline - time.time()))
        return [t for t in threads if t.is_alive()]


class EnrolCrashTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgcrash")
        self.d = test_daemon.Daemon(self.root)
        self.seed = int(os.environ.get("TELGATE_CRASH_SEED", random.randrange(1 << 30)))
        print(f"TELGATE_CRASH_SEED={self.seed}", file=sys.stderr)
        self.rng = random.Random(self.seed)

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def start(self):
        self.d.start("--provision", os.path.join(test_daemon.ARGS.examples, "demo.json"))
        self.signer_up()

    def signer_up(self, restarts=None):
        """`show signer` once the signer said hello (and, with restarts, once it has been
        restarted that many times): the RSA keys are made at first start."""
        deadline = time.time() + 60
        while time.time() < deadline:
            r = self.d.cli("show", "signer", json_mode=True)
            if r.returncode == 0:
                s = dict(json.loads(r.stdout)["rows"])
                if s["pid"] != "0" and (restarts is None or int(s["restarts"]) >= restarts):
                    return s
            time.sleep(0.1)
        self.fail("the signer never said hello")

    def profiles(self, prefix, n=BURST):
        """n new profiles for wwhite: [Outcome] with their generated strings."""
        def add(i):
            instance = f"{prefix}-{i}"
            r = self.d.cli("capf", "add", "wwhite", "--instance-id", instance, json_mode=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            return Outcome(instance, dict(json.loads(r.stdout)["rows"])["auth_string"])

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            return list(ex.map(add, range(n)))

    def cert_list(self):
        r = self.d.cli("cert", "list", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        return [dict(zip(j["columns"], row)) for row in j["rows"]]

    def capf_list(self):
        r = self.d.cli("capf", "list", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        return {row[0]: dict(zip(j["columns"], row)) for row in j["rows"]}

    def assert_clean(self, outcomes, crashed):
        """Each answer is 200 with a certificate or a retryable refusal with Retry-After;
        after a crash a request may also have lost its connection (the server is gone)."""
        for o in outcomes:
            if o.status == 200:
                self.assertIsNotNone(o.der, o.instance)
            elif o.status in RETRYABLE:
                self.assertTrue(o.retry_after and int(o.retry_after) > 0, vars(o))
            else:
                self.assertTrue(crashed and o.status is None, vars(o))

    def retry_until_issued(self, enroller, outcomes):
        """The profiles whose request was refused or lost: the same string enrols now
        (after a 202/503, once; a 202 again is retried, as RFC 7030 §4.2.3 says)."""
        for o in outcomes:
            if o.status == 200:
                continue
            for _ in range(20):
                enroller.enrol(o)
                if o.status != 202:
                    break
                time.sleep(0.5)
            self.assertEqual(o.status, 200, vars(o))

    # --- the signer killed ------------------------------------------------------------------

    def test_signer_killed_during_burst(self):
        self.start()
        s = self.signer_up()
        outcomes = self.profiles("sk")
        enroller = Enroller(self.d)
        killed = threading.Event()
        at = self.rng.randint(1, BURST // 5)

        def on_answer(n):
            if n == at and not killed.is_set():
                killed.set()
                os.kill(int(s["pid"]), signal.SIGKILL)

        hung = enroller.burst(outcomes, on_answer)
        self.assertEqual(hung, [], "requests without an answer")
        self.assertTrue(killed.is_set())
        self.assert_clean(outcomes, crashed=False)
        counts = {}
        for o in outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        print(f"signer killed after answer {at}: answers {counts}", file=sys.stderr)
        # Each 503 was an enrolment that found the signer gone (counted before it was sent).
        self.assertEqual(test_metrics.sample(self.d.admin_port, "telgate_est_enrolments_total",
                                             outcome="unavailable"), counts.get(503, 0))

        s2 = self.signer_up(restarts=1)
        self.assertNotEqual(s2["pid"], s["pid"])
        self.assertIn("SignerRestarted", self.d.cli("show", "alarms").stdout)
        self.assertIn(f"event=signer_exited pid={s['pid']}", self.d.log_text())

        self.retry_until_issued(enroller, outcomes)
        issued = {c["serial"]: c for c in self.cert_list()}
        profiles = self.capf_list()
        for o in outcomes:
            serial = enroller.verify(o.der)
            self.assertIn(serial, issued, o.instance)
            self.assertEqual(issued[serial]["profile"], o.instance)
            self.assertEqual(profiles[o.instance]["status"], "success")
            self.assertEqual(profiles[o.instance]["serial"], serial)
        self.assertEqual(len(issued), BURST, "a certificate that no client holds")
        self.assertEqual(test_metrics.sample(self.d.admin_port, "telgate_est_enrolments_total",
                                             outcome="issued"), BURST)
        self.assertEqual(test_metrics.sample(self.d.admin_port, "telgate_signer_restarts_total"),
                         1)

    # --- crash safety -----------------------------------------------------------------------

    def crash_pids(self, whole):
        """What a crash kills: the engine alone, or (whole) all three processes."""
        kids = self.d.children()
        return kids, ([self.d.proc.pid] + list(kids.values()) if whole else [kids["engine"]])

    def crashed(self, kids, whole):
        """After the SIGKILLs: the monitor ended as it should, and no process is left."""
        self.d.exit_expected = True
        self.assertEqual(self.d.proc.wait(timeout=30),
                         -signal.SIGKILL if whole else 128 + signal.SIGKILL)
        deadline = time.time() + 30
        for pid in kids.values():
            while time.time() < deadline and alive(pid):
                time.sleep(0.02)
            self.assertFalse(alive(pid), f"pid {pid} outlived the crash")

    def test_kill_during_bursts(self):
        self.start()
        enroller = Enroller(self.d)
        received = []  # every Outcome that got a certificate
        lost = []      # the others, retried after the restart
        answer_lost = []  # issued and recorded, the answer lost in the crash
        for cycle in range(CYCLES):
            whole = cycle % 2 == 1
            outcomes = self.profiles(f"c{cycle}")
            killed = threading.Event()
            at = self.rng.randint(0, BURST - 1)
            kids, pids = self.crash_pids(whole)
            self.d.exit_expected = True

            def on_answer(n, at=at, killed=killed, pids=pids):
                if n >= at and not killed.is_set():
                    killed.set()
                    for pid in pids:
                        os.kill(pid, signal.SIGKILL)

            if at == 0:  # before any answer: as soon as the burst is under way
                threading.Timer(self.rng.uniform(0, 0.2), on_answer, (0,)).start()
            hung = enroller.burst(outcomes, on_answer)
            self.assertEqual(hung, [], f"cycle {cycle}: requests without an answer")
            self.assertTrue(killed.wait(30), f"cycle {cycle}: never killed")
            self.crashed(kids, whole)
            self.assert_clean(outcomes, crashed=True)
            received += [o for o in outcomes if o.status == 200]
            self.start()
            # Each string whose client got no certificate still enrols, unless its
            # enrolment ended (success) and only the answer was lost with the engine: the
            # server cannot tell that from an answer received.
            profiles = self.capf_list()
            failed = [o for o in outcomes if o.status != 200]
            ended = [o for o in failed if profiles[o.instance]["status"] == "success"]
            answer_lost += ended
            failed = [o for o in failed if o not in ended]
            print(f"cycle {cycle}: {'all three' if whole else 'engine'} killed after answer "
                  f"{at}: {BURST - len(failed) - len(ended)} certificates received, "
                  f"{len(ended)} issued with the answer lost, {len(failed)} to retry",
                  file=sys.stderr)
            self.retry_until_issued(enroller, failed)
            received += failed
            lost += failed

        issued = self.cert_list()
        serials = [c["serial"] for c in issued]
        self.assertEqual(len(serials), len(set(serials)), "a serial issued twice")
        by_serial = {c["serial"]: c for c in issued}
        by_profile = {}
        for c in issued:
            by_profile.setdefault(c["profile"], []).append(c["serial"])
        profiles = self.capf_list()
        mine = set()
        for o in received:
            serial = enroller.verify(o.der)
            self.assertNotIn(serial, mine, "two clients received the same serial")
            mine.add(serial)
            self.assertIn(serial, by_serial, f"{o.instance}: a certificate not in the table")
            self.assertEqual(profiles[o.instance]["status"], "success", o.instance)
            self.assertEqual(profiles[o.instance]["serial"], serial, o.instance)
        # No string accepted twice: one certificate per profile whose client got a 200
        # before the crash. A profile put back after one may also have a certificate signed
        # and recorded when the crash came, before its answer left: never sent (no client
        # has it), older than the one its retry received, so the supersede sweep revokes it
        # (one valid certificate per instance id; unit_est checks the sweep).
        unsent = 0
        for o in received:
            extra = [s for s in by_profile[o.instance] if s != profiles[o.instance]["serial"]]
            if o not in lost:
                self.assertEqual(extra, [], f"{o.instance}: a second certificate")
            unsent += len(extra)
        # Issued, recorded and ended before the crash, the answer lost with the engine: the
        # server cannot tell it from an answer received (`capf rearm` enrols it again).
        for o in answer_lost:
            serial = profiles[o.instance]["serial"]
            self.assertEqual(by_serial[serial]["status"], "valid", o.instance)
            self.assertEqual(by_profile[o.instance], [serial], o.instance)
            self.assertNotIn(serial, mine, o.instance)
        print(f"{len(received)} certificates received ({len(lost)} after a restart), "
              f"{len(answer_lost)} issued with the answer lost, {unsent} signed and recorded "
              f"but never sent, {len(issued)} issued, "
              f"{self.d.log_text().count('event=est_enrolment_interrupted')} profiles put "
              f"back at a start", file=sys.stderr)
        # A used string is refused (401, or 429 once the source has been refused often).
        for o in self.rng.sample(received, 10):
            again = enroller.enrol(Outcome(o.instance, o.secret))
            self.assertIn(again.status, (401, 429), vars(again))

        self.assertEqual(self.d.stop(), 0)
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.d.state, "telgate.db"),
                             uri=True)
        try:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            rows = dict(db.execute("SELECT serial, sha256 FROM issuedcertificate"))
        finally:
            db.close()
        for o in received:
            serial = enroller.verify(o.der)
            fp = ":".join("%02X" % b for b in hashlib.sha256(o.der).digest())
            self.assertEqual(rows[serial], fp, f"{o.instance}: not the certificate recorded")


def alive(pid):
    """pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


if __name__ == "__main__":
    test_daemon.main()
