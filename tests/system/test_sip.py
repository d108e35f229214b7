#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of the SIP registrar with real peers: SIPp (Debian sip-tester) registers
over UDP, TCP and TLS with digest authentication, sipsak pings, and a raw client written
here checks what SIPp cannot: SHA-256, stale nonces, nonce replay, identical challenges
for known and unknown lines, malformed requests while SIPp keeps registering, and device
state reaching a CTI application."""
import hashlib
import json
import os
import re
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import struct
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402
import test_cti  # noqa: E402

SIPP_DIR = os.path.join(HERE, "sipp")
PROV = {"version": 1,
        "users": [
            {"userid": "jpinkman", "directory": "local", "password": "Cap-n-Cook-1",
             "digestpassword": "Sip-Jesse-1", "groups": ["Standard CTI Enabled"]},
            {"userid": "mjavier", "directory": "local", "password": "Mike-Pass-1",
             "groups": ["Standard CTI Enabled", "Standard CTI Allow Control of All Devices"]}],
        "devices": [{"name": "CSFJPINKMAN", "model": "CSF", "owner": "jpinkman",
                     "lines": ["1002"]}]}


def sipp(args, timeout=60):
    return subprocess.run(["sipp", "-nostdin", "-timeout", "20", "-timeout_error"] + args,
                          capture_output=True, text=True, timeout=timeout)


def digest(alg, user, realm, pw, method, uri, nonce, nc, cnonce):
    h = (lambda s: hashlib.new(alg, s.encode()).hexdigest())
    ha1 = h(f"{user}:{realm}:{pw}")
    ha2 = h(f"{method}:{uri}")
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")


class Raw:
    """A SIP UDP client that writes requests by hand."""

    def __init__(self, port, stream=None):
        self.stream = stream
        if stream:
            self.lport = stream.getsockname()[1]
        else:
            self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.s.bind(("127.0.0.1", 0))
            self.s.settimeout(5)
            self.lport = self.s.getsockname()[1]
        self.port = port
        self.cseq = 0

    def register(self, line, auth=None, expires=3600, callid="raw-1", transport="UDP"):
        self.cseq += 1
        msg = (f"REGISTER sip:telgate SIP/2.0\r\n"
               f"Via: SIP/2.0/{transport} 127.0.0.1:{self.lport};branch=z9hG4bKraw{self.cseq}\r\n"
               f"Max-Forwards: 70\r\nTo: <sip:{line}@telgate>\r\n"
               f"From: <sip:{line}@telgate>;tag=raw\r\nCall-ID: {callid}\r\n"
               f"CSeq: {self.cseq} REGISTER\r\n"
               f"Contact: <sip:{line}@127.0.0.1:{self.lport}>\r\nExpires: {expires}\r\n")
        if auth:
            msg += f"Authorization: {auth}\r\n"
        msg += "Content-Length: 0\r\n\r\n"
        return self.send(msg.encode())

    def send(self, data):
        if self.stream:
            self.stream.sendall(data)
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += self.stream.recv(65535)
            return buf.decode()
        self.s.sendto(data, ("127.0.0.1", self.port))
        return self.s.recv(65535).decode()

    def auth(self, challenge, user, pw, alg="SHA-256", nc="00000001", line="1002"):
        nonce = re.search(r'nonce="([^"]+)"', challenge).group(1)
        resp = digest("sha256" if alg == "SHA-256" else "md5", user, "telgate", pw, "REGISTER",
                      "sip:telgate", nonce, nc, "c0ffee")
        return (f'Digest username="{user}", realm="telgate", nonce="{nonce}", '
                f'uri="sip:telgate", response="{resp}", algorithm={alg}, qop=auth, nc={nc}, '
                f'cnonce="c0ffee", opaque="tg"')


def status(resp):
    return int(resp.split(" ", 2)[1])


class SipTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgsip")
        self.start_daemon("")

    def start_daemon(self, extra, sip_address=None):
        if getattr(self, "d", None):  # a daemon this test restarts: did it die or report?
            problem = self.d.finish()
            if problem:
                self.fail(problem)
        self.d = test_daemon.Daemon(self.root, "[cti]\nallow_plain_login = yes\n[sip]\n"
                                    "min_expires = 1\nnonce_lifetime_s = 5\n" + extra)
        if sip_address:  # the [sip] address line is the last one the harness writes
            with open(self.d.conf) as f:
                text = f.read()
            i = text.rindex("address = 127.0.0.1")
            with open(self.d.conf, "w") as f:
                f.write(text[:i] + f"address = {sip_address}" + text[i + 19:])
        prov = os.path.join(self.root, "prov.json")
        with open(prov, "w") as f:
            json.dump(PROV, f)
        self.d.start("--provision", prov)
        self.users = os.path.join(self.root, "users.csv")
        with open(self.users, "w") as f:
            f.write("SEQUENTIAL\n1002;telgate;3600\n")

    def wait_for_show(self, pattern, user="jpinkman", timeout=60):
        """`user show` output matching pattern within timeout seconds."""
        end = time.time() + timeout
        while time.time() < end:
            if re.search(pattern, self.d.cli("user", "show", user).stdout):
                return True
            time.sleep(0.05)
        return False

    def tearDown(self):
        problem = self.d.finish()  # a sanitizer report or a daemon that died fails the test
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def sipp_register(self, transport="u1", password="Sip-Jesse-1", scenario="register.xml",
                      port=None, extra=()):
        port = port or self.d.sip_port
        return sipp(["-sf", os.path.join(SIPP_DIR, scenario), "-inf", self.users, "-au",
                     "jpinkman", "-ap", password, "-t", transport, "-m", "1",
                     f"127.0.0.1:{port}", *extra])

    def md5_only(self):
        self.d.stop()
        self.d.close_pipes()
        self.start_daemon("challenge_sha256 = no\n")  # SIPp computes MD5 digests only

    def test_sipp_register_udp_tcp_tls_and_wrong_password(self):
        self.md5_only()
        for t in ("u1", "t1"):
            r = self.sipp_register(t)
            self.assertEqual(r.returncode, 0, t + r.stdout[-2000:] + r.stderr[-2000:])
        # TLS: Debian's SIPp is built without OpenSSL; stunnel carries its TCP over TLS
        # (verifying telgate's certificate against its CA).
        ca = os.path.join(self.d.state, "pki", "ca.crt")
        tun, tport = test_daemon.stunnel_client(self.root, self.d.sip_tls_port, ca)
        try:
            r = self.sipp_register("t1", port=tport)
            self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        finally:
            tun.kill()
            tun.wait()
        self.assertRegex(self.d.log_text(), r"event=sip_registered .*transport=TLS")
        # And a stdlib client, which checks the TLS answer itself.
        ctx = ssl.create_default_context(cafile=ca)
        ctx.check_hostname = False
        t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.d.sip_tls_port)))
        raw = Raw(self.d.sip_port, stream=t)
        ch = raw.register("1002", transport="TLS")
        self.assertEqual(status(ch), 401)
        ok = raw.register("1002", raw.auth(ch.split("WWW-Authenticate: ")[1], "jpinkman",
                                           "Sip-Jesse-1", alg="MD5"), transport="TLS")
        self.assertEqual(status(ok), 200, ok)
        t.close()
        out = self.d.cli("show", "registrations", "CSFJPINKMAN").stdout
        for t in ("UDP", "TCP", "TLS"):
            self.assertIn(t, out)
        # Wrong password: 401, then 403 (the scenario expects exactly that).
        r = self.sipp_register("u1", password="wrong", scenario="register_forbidden.xml")
        self.assertEqual(r.returncode, 0, r.stdout[-2000:])
        log = self.d.log_text()
        self.assertRegex(log, r"event=sip_auth_failed source=127\.0\.0\.1:\d+ user=jpinkman")
        self.assertNotIn("Sip-Jesse-1", log)
        # The shipped fail2ban filter finds the failure (and nothing else) in the log.
        f2b = os.path.join(HERE, "..", "..", "dist", "fail2ban", "telgate-sip.conf")
        r = subprocess.run(["fail2ban-regex", self.d.log, f2b], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"Lines: \d+ lines, 0 ignored, 1 matched")
        # sipsak smoke test: OPTIONS answered.
        r = subprocess.run(["sipsak", "-s", f"sip:telgate@127.0.0.1:{self.d.sip_port}"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_sha256_stale_nonce_replay_and_unknown_line(self):
        raw = Raw(self.d.sip_port)
        ch = raw.register("1002")
        self.assertEqual(status(ch), 401)
        self.assertIn("algorithm=SHA-256", ch)
        self.assertIn("algorithm=MD5", ch)
        # Unknown line: the same challenge (only the nonce differs).
        ch2 = raw.register("9999")
        norm = (lambda r: sorted(re.sub(r'nonce="[^"]+"', "N", re.sub(
            r"(CSeq|Via|To|From|Call-ID):.*", "", r)).split("\r\n")))
        self.assertEqual(norm(ch), norm(ch2))
        auth = raw.auth(ch.split("WWW-Authenticate: ")[1], "jpinkman", "Sip-Jesse-1")
        ok = raw.register("1002", auth)
        self.assertEqual(status(ok), 200, ok)
        self.assertIn(f"<sip:1002@127.0.0.1:{raw.lport}>;expires=", ok)
        # The same credentials again (same nonce, same nc): a replay.
        again = raw.register("1002", auth)
        self.assertEqual(status(again), 401)
        self.assertIn("event=sip_nonce_replay", self.d.log_text())
        # Unknown line with well-formed credentials: 403, like a wrong password.
        bad = raw.register("9999", raw.auth(ch2.split("WWW-Authenticate: ")[1], "jpinkman",
                                            "Sip-Jesse-1"))
        self.assertEqual(status(bad), 403)
        # A nonce past its lifetime: 401 with stale=true.
        time.sleep(6)
        stale = raw.register("1002", raw.auth(ch.split("WWW-Authenticate: ")[1], "jpinkman",
                                              "Sip-Jesse-1", nc="00000002"))
        self.assertEqual(status(stale), 401)
        self.assertIn("stale=true", stale)
        # A stale nonce with a wrong password is a plain failure, not stale=true
        # (RFC 2617 3.2.1): 403, counted.
        wrong = raw.register("1002", raw.auth(ch.split("WWW-Authenticate: ")[1], "jpinkman",
                                              "Not-The-Password", nc="00000003"))
        self.assertEqual(status(wrong), 403, wrong)
        self.assertNotIn("stale=true", wrong)
        # Expires below the minimum: 423 with Min-Expires (min_expires = 1 here: use 0<e<1
        # is impossible, so check the unregister path instead): Expires 0 removes.
        ch3 = raw.register("1002")
        gone = raw.register("1002", raw.auth(ch3.split("WWW-Authenticate: ")[1], "jpinkman",
                                             "Sip-Jesse-1"), expires=0)
        self.assertEqual(status(gone), 200)
        self.assertNotIn("Contact:", gone)

    def test_digest_throttle_and_source_throttling(self):
        raw = Raw(self.d.sip_port)
        ch = raw.register("1002").split("WWW-Authenticate: ")[1]
        # The Default Digest Credential Policy throttles from 10 consecutive failures:
        # the 10th starts a 1-s interval in which even the right password is refused
        # unchecked (and not counted); after it, the right password registers.
        for i in range(1, 11):
            r = raw.register("1002", raw.auth(ch, "jpinkman", "wrong", nc="%08x" % i))
            self.assertEqual(status(r), 403)
        r = raw.register("1002", raw.auth(ch, "jpinkman", "Sip-Jesse-1", nc="0000000b"))
        self.assertEqual(status(r), 403)
        log = self.d.log_text()
        self.assertIn("reason=throttled", log)
        self.assertRegex(log, r"event=dir_credential_policy credential=digest user=jpinkman "
                              r".*verdict=throttled")
        show = self.d.cli("user", "show", "jpinkman").stdout
        self.assertRegex(show, r"digest +hack_count +10 of 100")
        self.assertRegex(show, r"password +hack_count +0 of 3")  # the password is untouched
        time.sleep(2.2)  # the throttle of the 10th failure: 1 s, up to 2 (whole seconds)
        r = raw.register("1002", raw.auth(ch, "jpinkman", "Sip-Jesse-1", nc="0000000c"))
        self.assertEqual(status(r), 200, r)
        self.assertRegex(self.d.cli("user", "show", "jpinkman").stdout,
                         r"digest +hack_count +0 of 100")
        # One source failing too often is refused for the rest of the minute, even with
        # the right password (here after 5: unknown lines do not lock an account).
        self.d.stop()
        self.d.close_pipes()
        self.start_daemon("source_failures_max = 5\n")
        raw = Raw(self.d.sip_port)
        ch = raw.register("9999").split("WWW-Authenticate: ")[1]
        for i in range(1, 6):
            r = raw.register("9999", raw.auth(ch, "jpinkman", "x", nc="%08x" % i))
            self.assertEqual(status(r), 403)
        r = raw.register("1002", raw.auth(ch, "jpinkman", "Sip-Jesse-1", nc="00000006"))
        self.assertEqual(status(r), 403)
        self.assertIn('reason="source throttled"', self.d.log_text())

    def test_cached_account_follows_every_change(self):
        """A refresh is decided from the registrar's account cache (path=cache), and every
        change an administrator makes reaches the next REGISTER at once."""
        raw = Raw(self.d.sip_port)
        ch = raw.register("1002").split("WWW-Authenticate: ")[1]
        nc = iter(range(1, 100))

        def reg(pw="Sip-Jesse-1", line="1002", user="jpinkman"):
            r = raw.register(line, raw.auth(ch, user, pw, nc="%08x" % next(nc), line=line))
            last = [x for x in self.d.log_text().splitlines() if "sip_registered" in x]
            return status(r), (last[-1] if last else "")

        def path_of(line):
            return re.search(r"path=(\w+)", line).group(1)

        code, line = reg()
        self.assertEqual(code, 200)
        self.assertEqual(path_of(line), "store")
        code, line = reg()
        self.assertEqual(code, 200)
        self.assertEqual(path_of(line), "cache")
        # Administrator lock: refused at the next REGISTER, though the account is cached.
        self.assertEqual(self.d.cli("user", "lock", "jpinkman").returncode, 0)
        self.assertEqual(reg()[0], 403)
        self.assertIn("reason=locked", self.d.log_text())
        self.assertEqual(self.d.cli("user", "unlock", "jpinkman").returncode, 0)
        code, line = reg()
        self.assertEqual((code, path_of(line)), (200, "store"))
        # Both credential types: a lock of the password alone leaves the phone
        # registering (from the store, then the cache again); a lock of the digest
        # credential alone refuses it at once, though the account is cached.
        self.assertEqual(self.d.cli("user", "lock", "jpinkman", "--credential",
                                    "password").returncode, 0)
        code, line = reg()
        self.assertEqual((code, path_of(line)), (200, "store"))
        self.assertEqual(path_of(reg()[1]), "cache")
        self.assertEqual(self.d.cli("user", "lock", "jpinkman", "--credential",
                                    "digest").returncode, 0)
        self.assertEqual(reg()[0], 403)
        self.assertEqual(self.d.cli("user", "unlock", "jpinkman", "--credential",
                                    "digest").returncode, 0)
        code, line = reg()
        self.assertEqual((code, path_of(line)), (200, "store"))
        show = self.d.cli("user", "show", "jpinkman").stdout
        self.assertRegex(show, r"password +state +locked")
        self.assertRegex(show, r"digest +state +usable")
        self.assertEqual(self.d.cli("user", "unlock", "jpinkman").returncode, 0)
        # A wrong password on a cached account is counted like any other failure, against
        # the digest credential only.
        self.assertEqual(reg(pw="wrong")[0], 403)
        self.assertTrue(self.wait_for_show(r"digest +hack_count +1 of 100"))
        self.assertRegex(self.d.cli("user", "show", "jpinkman").stdout,
                         r"password +hack_count +0 of 3")
        code, line = reg()
        self.assertEqual((code, path_of(line)), (200, "store"))
        self.assertRegex(self.d.cli("user", "show", "jpinkman").stdout,
                         r"digest +hack_count +0 of 100")
        self.assertEqual(path_of(reg()[1]), "cache")
        # New digest password by import: the old one stops working at once.
        prov = json.loads(json.dumps(PROV))
        prov["users"][0]["digestpassword"] = "Sip-Jesse-2"
        path = os.path.join(self.root, "prov2.json")
        with open(path, "w") as f:
            json.dump(prov, f)
        self.assertEqual(self.d.cli("import", path).returncode, 0)
        self.assertEqual(reg()[0], 403)
        self.assertEqual(reg(pw="Sip-Jesse-2")[0], 200)
        # The line moved to another device: the binding follows the new device.
        prov["devices"][0]["lines"] = []
        prov["devices"].append({"name": "SEPNEWPHONE01", "model": "Cisco 8865",
                                "owner": "jpinkman", "lines": ["1002"]})
        with open(path, "w") as f:
            json.dump(prov, f)
        self.assertEqual(self.d.cli("import", path).returncode, 0)
        code, line = reg(pw="Sip-Jesse-2")
        self.assertEqual(code, 200)
        self.assertIn("device=SEPNEWPHONE01", line)
        self.assertIn("SEPNEWPHONE01", self.d.cli("show", "registrations").stdout)

    def test_new_binding_waits_for_the_store(self):
        """A 200 that adds or removes a binding leaves only once the change is committed
        (docs/sip.md, Location): with the store's write lock held by another process
        (sqlite3, BEGIN IMMEDIATE; on PostgreSQL psql holding the store's transaction
        lock) a new binding gets 500 with Retry-After after
        sip.commit_timeout_ms, a refresh of a binding the store has still gets 200 (it
        is write-behind); once the lock goes, the kept change is written and new bindings
        get 200 again."""
        self.d.stop()
        self.d.close_pipes()
        self.start_daemon("commit_timeout_ms = 300\n[store]\nbusy_timeout_ms = 100\n")
        raw, raw2, raw3 = Raw(self.d.sip_port), Raw(self.d.sip_port), Raw(self.d.sip_port)
        ch = raw.register("1002").split("WWW-Authenticate: ")[1]
        nc = iter(range(1, 100))

        def reg(client, expires=3600):
            r = client.register("1002", client.auth(ch, "jpinkman", "Sip-Jesse-1",
                                                    nc="%08x" % next(nc)),
                                expires=expires, callid=f"store-{client.lport}")
            return r

        self.assertEqual(status(reg(raw)), 200)
        db = os.path.join(self.d.state, "telgate.db")
        pg = test_daemon.PG_ADMIN
        # On PostgreSQL the lock the store's transactions take first (store_pg.c).
        lock = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", self.d.pg_conninfo] if pg
                                else ["sqlite3", db], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        try:
            lock.stdin.write("BEGIN;\nSELECT 1 FROM pg_advisory_xact_lock(1952803943);\n"
                             "SELECT 'locked';\n" if pg
                             else "BEGIN IMMEDIATE;\nSELECT 'locked';\n")
            lock.stdin.flush()
            if pg:
                self.assertEqual(lock.stdout.readline().strip(), "1")
            self.assertEqual(lock.stdout.readline().strip(), "locked")
            # A refresh: answered at once, written behind.
            self.assertEqual(status(reg(raw)), 200)
            # A new binding: the store cannot take it in time: 500, Retry-After.
            r = reg(raw2)
            self.assertEqual(status(r), 500, r)
            self.assertIn("Retry-After: 5\r\n", r)
            end = time.time() + 60  # the log line is written after the answer
            while "event=sip_location_commit_late" not in self.d.log_text() and \
                    time.time() < end:
                time.sleep(0.05)
            self.assertIn("event=sip_location_commit_late", self.d.log_text())
        finally:
            lock.stdin.write("ROLLBACK;\n\\q\n" if pg else "ROLLBACK;\n.quit\n")
            lock.stdin.close()
            lock.wait(timeout=10)
        # The writer retries every second: a new binding is 200 once it is committed
        # (500 until then, as a phone honouring Retry-After would see), and the change
        # kept from the refused batch is in the store with it.
        for _ in range(20):
            r = reg(raw3)
            if status(r) == 200:
                break
            self.assertEqual(status(r), 500, r)
            time.sleep(0.5)
        self.assertEqual(status(r), 200, r)
        rows = {x[0] for x in self.d.store_rows("SELECT contact FROM registration")}
        for cl in (raw, raw2, raw3):
            self.assertIn(f"<sip:1002@127.0.0.1:{cl.lport}>", rows)
        self.assertIn("event=sip_location_persisted", self.d.log_text())
        # A removal is durable too: gone from the store when its 200 arrives.
        self.assertEqual(status(reg(raw2, expires=0)), 200)
        rows = {x[0] for x in self.d.store_rows("SELECT contact FROM registration")}
        self.assertNotIn(f"<sip:1002@127.0.0.1:{raw2.lport}>", rows)
        # The metrics show the commits.
        m = self.d.cli("show", "metrics").stdout
        self.assertRegex(m, r"telgate_sip_location_commit_seconds_count [1-9]")
        self.assertRegex(m, r"telgate_sip_location_commit_changes_count [1-9]")
        self.assertIn("telgate_sip_answers_held_for_store 0", m)

    def refresh_slots(self):
        """The refresh file's valid slots (src/sip/refreshfile.h), read here without the
        daemon's code: {contact: (expires, cseq, callid, changedms)}."""
        path = os.path.join(self.d.state, "sip-location.refresh")
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(data[:8], b"TGREFR01")

        def fnv(b):
            h = 2166136261
            for x in b:
                h = ((h ^ x) * 16777619) & 0xFFFFFFFF
            return h

        out = {}
        for off in range(4096, len(data) - 1215, 1216):
            s = data[off:off + 1216]
            check, keycheck, cseq, idlen, keylen, changed, expires = \
                struct.unpack_from("=IIIHHqq", s)
            if idlen > 511 or keylen > 1216 - 544 - 1 or check != fnv(s[4:32 + idlen]) or \
                    keycheck != fnv(s[544:544 + keylen]):
                continue
            device, contact = s[544:544 + keylen].split(b"\0")
            out[contact.decode()] = (expires, cseq, s[32:32 + idlen].decode(), changed)
        return out

    def test_refresh_moves_the_stored_expiry(self):
        """A refresh (the same contact again) is written behind the 200, yet written. On
        SQLite (issue 22, eleventh round) it goes to the refresh file, not the row: the
        file's slot has the new expiry, CSeq and Call-ID while the row keeps the put's; a
        change of source rewrites the row; a clean stop folds the file into the row, and
        so does the start after a kill -9. On PostgreSQL (no refresh file: the other nodes
        read the rows) the row itself moves. No second row appears."""
        pg = test_daemon.PG_ADMIN
        raw = Raw(self.d.sip_port)
        contact = f"<sip:1002@127.0.0.1:{raw.lport}>"
        ch = raw.register("1002").split("WWW-Authenticate: ")[1]
        nc = iter(range(1, 100))

        def reg(expires, callid, who=raw):
            return who.register("1002", who.auth(ch, "jpinkman", "Sip-Jesse-1",
                                                 nc="%08x" % next(nc)),
                                expires=expires, callid=callid)

        def row():
            rows = self.d.store_rows(
                "SELECT expires, cseq, callid, source, processnode, changedms FROM "
                f"registration WHERE contact = '{contact}'")
            self.assertEqual(len(rows), 1, rows)
            return [str(x) for x in rows[0]]

        def slot_says(expires_from, callid, cseq):
            """The refresh as written: the file's slot (SQLite) or the row (PostgreSQL),
            as (expires, cseq, callid, changedms)."""
            end = time.time() + 30
            while time.time() < end:
                if pg:
                    r = row()
                    got = (int(r[0]), int(r[1]), r[2], int(r[5]))
                else:
                    got = self.refresh_slots().get(contact)
                if got and got[2] == callid and got[1] == cseq and got[0] >= expires_from:
                    return got
                time.sleep(0.05)
            self.fail(f"no refresh of {contact} with {callid}: {row()}")

        t0 = int(time.time())
        self.assertEqual(status(reg(3600, "refresh-a")), 200)  # new: durable before the 200
        first = row()
        self.assertGreaterEqual(int(first[0]), t0 + 3600)
        self.assertEqual(first[2], "refresh-a")
        # Refreshes with a shorter expiry, then a new Call-ID: each reaches the file.
        for expires, callid in ((600, "refresh-a"), (1200, "refresh-b")):
            t1 = int(time.time())
            r = reg(expires, callid)
            self.assertEqual(status(r), 200, r)
            got = slot_says(t1 + expires, callid, raw.cseq)
            self.assertLessEqual(got[0], int(time.time()) + expires, got)
            self.assertEqual(got[1], raw.cseq, got)
            self.assertGreater(got[3], int(first[5]))  # changedms: after the put
            if not pg:
                self.assertEqual(row(), first)  # the row: as the put wrote it
        # The same contact from a new source (a phone that reconnected): a change, written
        # behind into the row, whole (the slot is voided: the row is newer).
        raw2 = Raw(self.d.sip_port)
        src2 = f"127.0.0.1:{raw2.lport}"
        raw2.lport, raw2.cseq = raw.lport, raw.cseq
        # the Via names raw's port (no rport): the answer goes there
        raw2.send = lambda data: (raw2.s.sendto(data, ("127.0.0.1", raw2.port)),
                                  raw.s.recv(65535).decode())[1]
        r = reg(900, "refresh-b", raw2)
        self.assertEqual(status(r), 200, r)
        end = time.time() + 30
        while row()[3] != src2 and time.time() < end:
            time.sleep(0.05)
        now = row()
        self.assertEqual(now[3], src2, now)
        self.assertEqual(int(now[1]), raw2.cseq, now)
        self.assertLessEqual(int(now[0]), int(time.time()) + 900, now)
        self.assertEqual(now[4], first[4])
        if not pg:
            self.assertNotIn(contact, self.refresh_slots())
        # A refresh, then a clean stop: folded into the row, the file left empty.
        raw.cseq = raw2.cseq
        t2 = int(time.time())
        self.assertEqual(status(reg(1500, "refresh-c", raw2)), 200)
        slot_says(t2 + 1500, "refresh-c", raw2.cseq)
        self.assertEqual(self.d.stop(), 0)
        now = row()
        self.assertEqual(now[2], "refresh-c", now)
        self.assertGreaterEqual(int(now[0]), t2 + 1500, now)
        self.assertEqual(int(now[1]), raw2.cseq, now)
        if pg:
            return  # a write-behind UPDATE a kill -9 may lose: nothing more to check there
        self.assertEqual(os.path.getsize(os.path.join(self.d.state, "sip-location.refresh")),
                         4096)
        # A refresh, then kill -9: the row keeps the stop's fold until the next start
        # folds the file.
        self.d.start()
        ch = raw.register("1002").split("WWW-Authenticate: ")[1]
        nc = iter(range(1, 100))
        t3 = int(time.time())
        self.assertEqual(status(reg(1800, "refresh-d", raw2)), 200)
        slot_says(t3 + 1800, "refresh-d", raw2.cseq)
        self.d.kill()
        self.assertEqual(row()[2], "refresh-c")
        self.d.start()
        now = row()
        self.assertEqual(now[2], "refresh-d", now)
        self.assertGreaterEqual(int(now[0]), t3 + 1800, now)
        self.assertEqual(len(self.d.store_rows("SELECT contact FROM registration")), 1)

    def test_udp_retransmission_gets_the_same_answer(self):
        """RFC 3261 17.2.2: a retransmitted REGISTER (its 200 lost) is answered with the same
        200, not judged again (its nonce count is used); the same bytes from another
        address are a replay and get a new challenge."""
        raw = Raw(self.d.sip_port)
        ch = raw.register("1002").split("WWW-Authenticate: ")[1]
        raw.cseq += 1
        msg = (f"REGISTER sip:telgate SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{raw.lport};branch=z9hG4bKretx\r\n"
               f"Max-Forwards: 70\r\nTo: <sip:1002@telgate>\r\n"
               f"From: <sip:1002@telgate>;tag=raw\r\nCall-ID: retx-1\r\n"
               f"CSeq: {raw.cseq} REGISTER\r\n"
               f"Contact: <sip:1002@127.0.0.1:{raw.lport}>\r\nExpires: 3600\r\n"
               f"Authorization: {raw.auth(ch, 'jpinkman', 'Sip-Jesse-1')}\r\n"
               "Content-Length: 0\r\n\r\n").encode()
        first = raw.send(msg)
        self.assertEqual(status(first), 200, first)
        again = raw.send(msg)
        self.assertEqual(status(again), 200, again)
        strip = (lambda r: re.sub(r"Date:.*\r\n", "", r))
        self.assertEqual(strip(again), strip(first))
        log = self.d.log_text()
        self.assertEqual(log.count("event=sip_registered"), 1, log)
        self.assertNotIn("sip_nonce_replay", log)
        # The same bytes from another address: a replay, challenged. The Via has no
        # rport, so the answer goes to its sent-by port, raw's (RFC 3261 18.2.2).
        other = Raw(self.d.sip_port)
        other.s.sendto(msg, ("127.0.0.1", self.d.sip_port))
        self.assertEqual(status(raw.s.recv(65535).decode()), 401)
        self.assertIn("event=sip_nonce_replay", self.d.log_text())
        # and from the first address again (each loop keeps its last source's text): its
        # retransmission still, the same 200
        self.assertEqual(strip(raw.send(msg)), strip(first))

    def test_sipvicious_finds_nothing(self):
        self.md5_only()  # sipvicious computes MD5 digests only
        users = [{"userid": str(2000 + i), "directory": "local", "password": "Pass-%d-x" % i,
                  "digestpassword": "pw%d" % (2000 + i)} for i in range(1, 51)]
        devs = [{"name": "SEPDEV%04d" % i, "owner": str(2000 + i), "lines": [str(2000 + i)]}
                for i in range(1, 51)]
        prov = os.path.join(self.root, "fifty.json")
        with open(prov, "w") as f:
            json.dump({"version": 1, "users": users, "devices": devs}, f)
        self.assertEqual(self.d.cli("import", prov).returncode, 0)
        # svwar against 50 provisioned lines (and 10 that are not): nothing stands out.
        r = subprocess.run(["svwar", "--force", "-e2000-2060", "-p", str(self.d.sip_port),
                            "127.0.0.1"], capture_output=True, text=True, timeout=300)
        self.assertIn("found nothing", r.stdout + r.stderr)
        self.assertNotRegex(r.stdout, r"\| 20\d\d ")
        # svcrack reusing one nonce for every guess, the right password among them.
        words = os.path.join(self.root, "words.txt")
        with open(words, "w") as f:
            f.write("guess1\npw2003\nguess2\n")
        r = subprocess.run(["svcrack", "-u2003", "-d", words, "--reusenonce", "-p",
                            str(self.d.sip_port), "127.0.0.1"], capture_output=True, text=True,
                           timeout=300)
        self.assertNotIn("pw2003", r.stdout)
        self.assertIn("found nothing", r.stdout + r.stderr)

    def test_device_state_reaches_cti(self):
        self.md5_only()
        c = test_cti.Client(self.d.cti_port)
        self.assertEqual(test_cti.local(c.login("mjavier", "Mike-Pass-1")),
                         "StartApplicationSessionPosResponse")
        self.assertEqual(test_cti.local(c.monitor("CSFJPINKMAN")), "MonitorStartResponse")
        r = self.sipp_register("u1")
        self.assertEqual(r.returncode, 0, r.stdout[-2000:])
        self.assertEqual(test_cti.local(c.event()), "BackInServiceEvent")
        self.assertEqual(self.d.cli("unregister", "CSFJPINKMAN").returncode, 0)
        self.assertEqual(test_cti.local(c.event()), "OutOfServiceEvent")
        # A short registration expires on its own.
        with open(self.users, "w") as f:
            f.write("SEQUENTIAL\n1002;telgate;2\n")
        r = self.sipp_register("u1")
        self.assertEqual(r.returncode, 0, r.stdout[-2000:])
        self.assertEqual(test_cti.local(c.event()), "BackInServiceEvent")
        self.assertEqual(test_cti.local(c.event(timeout=15)), "OutOfServiceEvent")
        self.assertIn("event=sip_registration_expired", self.d.log_text())
        c.close()

    def test_restart_keeps_registrations(self):
        self.md5_only()
        r = self.sipp_register("u1")
        self.assertEqual(r.returncode, 0, r.stdout[-2000:])
        self.d.stop()
        self.d.close_pipes()
        self.d.start()
        self.assertIn("CSFJPINKMAN", self.d.cli("show", "registrations").stdout)

    def test_malformed_requests_while_sipp_registers(self):
        self.md5_only()
        bg = subprocess.Popen(["sipp", "-nostdin", "-timeout", "60", "-timeout_error", "-sf",
                               os.path.join(SIPP_DIR, "register.xml"), "-inf", self.users,
                               "-au", "jpinkman", "-ap", "Sip-Jesse-1", "-m", "100", "-r", "20",
                               f"127.0.0.1:{self.d.sip_port}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        head = ("REGISTER sip:telgate SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKm\r\n"
                "To: <sip:1002@telgate>\r\nFrom: <sip:1002@telgate>;tag=m\r\nCall-ID: mal\r\n"
                "CSeq: 1 REGISTER\r\n")
        vias = "".join(f"Via: SIP/2.0/UDP 10.0.0.{i % 250};branch=z9hG4bK{i}\r\n"
                       for i in range(1000))
        bad = {
            "invalid Via": head.replace("branch=z9hG4bKm", "") + "\r\n",
            "duplicate To with a bad tag": head + "To: <sip:1003@telgate>;tag=\x7f\r\n\r\n",
            "negative Content-Length": head + "Content-Length: -1\r\n\r\n",
            "oversized Content-Length": head + "Content-Length: 99999999\r\n\r\n",
            "1000 Via headers": "REGISTER sip:telgate SIP/2.0\r\n" + vias + head[31:] + "\r\n",
            "64 KiB header": head + "X-Big: " + "a" * 65000 + "\r\n\r\n",
            "control characters before the colon": head + "Fro\x01m: x\r\n\r\n",
            "truncated": head[:60],
            "garbage": "\x00\xff" * 100,
        }
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(1)
        for name, msg in bad.items():
            data = msg.encode("latin-1")
            try:
                s.sendto(data[:65000], ("127.0.0.1", self.d.sip_port))
            except OSError:
                pass
            try:
                ans = s.recv(65535).decode("latin-1")
                self.assertTrue(ans.startswith("SIP/2.0 4"), (name, ans[:80]))
            except socket.timeout:
                pass  # dropped: allowed for what cannot be answered
        # The same over TCP: a bad Content-Length ends the connection, others get 400.
        t = socket.create_connection(("127.0.0.1", self.d.sip_port))
        t.sendall(bad["negative Content-Length"].encode())
        t.settimeout(5)
        self.assertTrue(t.recv(4096).startswith(b"SIP/2.0 400"))
        t.close()
        out, err = bg.communicate(timeout=120)
        self.assertEqual(bg.returncode, 0, out[-3000:] + err[-2000:])
        self.assertIsNone(self.d.proc.poll())


    # --- interoperability (RFC 3261 18.2, RFC 3581, RFC 5626, RFC 3261 19.3, 25.1) ---

    def req(self, port_in_via, line="1002", extra="", via_params="", callid="io-1", cseq=1,
            contact=None, transport="UDP", auth=None, expires=3600):
        contact = contact or f"<sip:{line}@127.0.0.1:{port_in_via}>"
        msg = (f"REGISTER sip:telgate SIP/2.0\r\n"
               f"Via: SIP/2.0/{transport} 127.0.0.1:{port_in_via};branch=z9hG4bKio{callid}{cseq}"
               f"{via_params}\r\nMax-Forwards: 70\r\nTo: <sip:{line}@telgate>\r\n"
               f"From: <sip:{line}@telgate>;tag=io\r\nCall-ID: {callid}\r\n"
               f"CSeq: {cseq} REGISTER\r\nContact: {contact}\r\nExpires: {expires}\r\n{extra}")
        if auth:
            msg += f"Authorization: {auth}\r\n"
        return (msg + "Content-Length: 0\r\n\r\n").encode()

    def udp(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        self.addCleanup(s.close)
        return s

    def test_udp_reply_destination_rport_received(self):
        """Without rport the answer goes to the Via's port (RFC 3261 18.2.2); with rport to
        the source port, and rport/received are filled (RFC 3581 4)."""
        sender, listener = self.udp(), self.udp()
        lport = listener.getsockname()[1]
        sender.sendto(self.req(lport, callid="dst-1"), ("127.0.0.1", self.d.sip_port))
        ans = listener.recv(65535).decode()
        self.assertEqual(status(ans), 401)
        self.assertRegex(ans, rf"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=\S+\r\n")
        sender.settimeout(0.5)
        self.assertRaises(socket.timeout, sender.recv, 65535)
        # rport: the source port, in the Via with received (even if equal to sent-by).
        sport = sender.getsockname()[1]
        sender.settimeout(5)
        sender.sendto(self.req(lport, callid="dst-2", via_params=";rport"),
                      ("127.0.0.1", self.d.sip_port))
        ans = sender.recv(65535).decode()
        self.assertIn(f";rport={sport};received=127.0.0.1\r\n", ans)
        # Over TCP the answer comes back on the connection, Via marked the same way.
        t = socket.create_connection(("127.0.0.1", self.d.sip_port))
        self.addCleanup(t.close)
        tans = Raw(self.d.sip_port, stream=t).send(
            self.req(5099, callid="dst-3", via_params=";rport", transport="TCP"))
        self.assertIn(f";rport={t.getsockname()[1]};received=127.0.0.1\r\n", tans)

    def test_force_rport_and_reply_from_the_address_asked(self):
        """sip.address = 0.0.0.0: an answer to a request sent to 127.0.0.2 leaves from
        127.0.0.2 (IP_PKTINFO); force_rport = yes answers the source port without rport."""
        self.d.stop()
        self.d.close_pipes()
        self.start_daemon("force_rport = yes\n", sip_address="0.0.0.0")
        sender = self.udp()
        sender.sendto(self.req(9, callid="pkt-1"), ("127.0.0.2", self.d.sip_port))
        data, src = sender.recvfrom(65535)
        self.assertEqual(src, ("127.0.0.2", self.d.sip_port))
        self.assertEqual(status(data.decode()), 401)
        sender.sendto(self.req(9, callid="pkt-2"), ("127.0.0.1", self.d.sip_port))
        data, src = sender.recvfrom(65535)
        self.assertEqual(src, ("127.0.0.1", self.d.sip_port))

    def register_with(self, s, build, **kw):
        """Challenge, then answer it; returns the final answer. build(auth) -> bytes."""
        s.sendto(build(None), ("127.0.0.1", self.d.sip_port))
        ch = s.recv(65535).decode()
        self.assertEqual(status(ch), 401, ch)
        helper = Raw(self.d.sip_port)  # only for its digest arithmetic
        helper.s.close()
        auth = helper.auth(ch.split("WWW-Authenticate: ")[1], "jpinkman", "Sip-Jesse-1", **kw)
        s.sendto(build(auth), ("127.0.0.1", self.d.sip_port))
        return ch, s.recv(65535).decode()

    def test_htab_credentials_large_expires_and_to_tags(self):
        """HTAB as the only LWS in Authorization (RFC 3261 25.1) registers; Expires
        4294967295 is clamped to max_expires (RFC 3261 10.3); To tags differ per request
        (RFC 3261 19.3); an unknown scheme is answered with a challenge (RFC 4475 3.3.7)."""
        s = self.udp()
        port = s.getsockname()[1]
        htab = (lambda a: a.replace(", ", ",").replace("Digest ", "Digest\t") if a else a)
        ch, ok = self.register_with(
            s, lambda a: self.req(port, callid="htab", cseq=2 if a else 1, auth=htab(a),
                                  expires=4294967295))
        self.assertEqual(status(ok), 200, ok)
        self.assertIn(f"<sip:1002@127.0.0.1:{port}>;expires=3600\r\n", ok)
        tags = {re.search(r"\r\nTo: [^\r]*;tag=([0-9a-f]+)\r\n", r).group(1) for r in (ch, ok)}
        self.assertEqual(len(tags), 2, (ch, ok))
        s.sendto(self.req(port, callid="unk", extra="Authorization: SomeUnknownScheme opaque=x\r\n"),
                 ("127.0.0.1", self.d.sip_port))
        ans = s.recv(65535).decode()
        self.assertEqual(status(ans), 401, ans)
        self.assertIn("WWW-Authenticate: Digest", ans)
        # A Digest credential of an algorithm we do not offer: a challenge naming ours.
        s.sendto(self.req(port, callid="alg", extra='Authorization: Digest username="x", '
                          'realm="telgate", nonce="n", uri="sip:telgate", response="00", '
                          'algorithm=SHA-512-256\r\n'), ("127.0.0.1", self.d.sip_port))
        ans = s.recv(65535).decode()
        self.assertEqual(status(ans), 401, ans)
        self.assertIn("algorithm=SHA-256", ans)
        # An unreadable Digest credential is a failed authentication, logged.
        s.sendto(self.req(port, callid="bad", extra='Authorization: Digest username="x\r\n'),
                 ("127.0.0.1", self.d.sip_port))
        self.assertEqual(status(s.recv(65535).decode()), 403)
        self.assertIn("event=sip_bad_authorization", self.d.log_text())

    def test_same_instance_replaces_the_binding(self):
        """RFC 5626 6 / RFC 5627: the same +sip.instance (and reg-id) from a new address
        replaces the binding instead of adding one."""
        inst = ';+sip.instance="<urn:uuid:00000000-0000-1000-8000-00059a3c7a00>";reg-id=1'
        ports = []
        for i in range(2):
            s = self.udp()
            port = s.getsockname()[1]
            ports.append(port)
            _, ok = self.register_with(
                s, lambda a, p=port, i=i: self.req(
                    p, callid=f"inst-{i}", cseq=2 if a else 1, auth=a,
                    contact=f"<sip:1002@127.0.0.1:{p}>{inst}"))
            self.assertEqual(status(ok), 200, ok)
        self.assertEqual(ok.count("Contact: "), 1, ok)
        self.assertIn(f"127.0.0.1:{ports[1]}>", ok)
        out = self.d.cli("show", "registrations", "CSFJPINKMAN").stdout
        self.assertIn(str(ports[1]), out)
        self.assertNotIn(f"127.0.0.1:{ports[0]}>", out)

    def test_userid_ignored_traced_on_both_paths(self):
        """A user id parameter outside an edge connection is ignored and traced, whether
        the REGISTER is decided from the store or from the account cache (a refresh)."""
        s = self.udp()
        port = s.getsockname()[1]
        contact = f"<sip:1002@127.0.0.1:{port}>;+sip.userid=mjavier"
        for i in range(2):
            _, ok = self.register_with(s, lambda a, i=i: self.req(
                port, callid="uid", cseq=2 * i + (2 if a else 1), auth=a, contact=contact))
            self.assertEqual(status(ok), 200, ok)
        log = self.d.log_text()
        self.assertIn("path=store", log)
        self.assertIn("path=cache", log)
        self.assertEqual(log.count("event=sip_userid_ignored"), 2, log[-3000:])

    def test_require_gets_420_and_binds_nothing(self):
        """RFC 3261 8.2.2.3: a required extension we lack: 420 with Unsupported."""
        s = self.udp()
        port = s.getsockname()[1]
        _, ans = self.register_with(s, lambda a: self.req(
            port, callid="req", cseq=2 if a else 1, auth=a,
            extra="Require: nothingsupported\r\n") if a else self.req(port, callid="req0"))
        self.assertEqual(status(ans), 420, ans)
        self.assertIn("Unsupported: nothingsupported\r\n", ans)
        self.assertNotIn(str(port), self.d.cli("show", "registrations").stdout)

    def test_several_messages_in_one_tcp_write(self):
        """Messages coalesced in one write are answered in order; one that gets the
        connection closed (a bad Content-Length) ends it after its answer, and the daemon
        keeps serving (run under ASan too)."""
        opts = ("OPTIONS sip:telgate SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKc{i}"
                "\r\nTo: <sip:telgate>\r\nFrom: <sip:ping@telgate>;tag=o\r\nCall-ID: c{i}"
                "\r\nCSeq: {i} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: {cl}\r\n\r\n")
        blob = "".join(opts.format(i=i, cl=0) for i in range(1, 4))
        blob += opts.format(i=4, cl=-1) + opts.format(i=5, cl=0)
        for _ in range(20):
            t = socket.create_connection(("127.0.0.1", self.d.sip_port))
            t.sendall(blob.encode())
            t.settimeout(5)
            got = b""
            while True:
                chunk = t.recv(65535)
                if not chunk:
                    break
                got += chunk
            t.close()
            answers = re.findall(rb"SIP/2.0 (\d+) [^\r]*\r\n", got)
            self.assertEqual(answers, [b"200", b"200", b"200", b"400"], got)
        r = Raw(self.d.sip_port)
        self.assertEqual(status(r.register("1002")), 401)
        self.assertIsNone(self.d.proc.poll())

    def test_tcp_bodies_framed_by_content_length(self):
        """A stream's messages are cut by their Content-Length wherever the header stands,
        in either case and in its compact form ("l"), with the value's spaces: a body that
        looks like a message is not taken for one, and every message is answered in order,
        whole or written a byte at a time."""
        head = ("OPTIONS sip:telgate SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKb{i}"
                "\r\n{cl}To: <sip:telgate>\r\nFrom: <sip:ping@telgate>;tag=b\r\nCall-ID: b{i}"
                "\r\nCSeq: {i} OPTIONS\r\nMax-Forwards: 70\r\n{cl2}Content-Type: text/plain"
                "\r\n\r\n{body}")
        fake = "OPTIONS sip:x SIP/2.0\r\n\r\n"  # a body that looks like a message
        msgs = [head.format(i=1, cl="", cl2="Content-Length: %d\r\n" % len(fake), body=fake),
                head.format(i=2, cl="l: %d\r\n" % len(fake), cl2="", body=fake),
                head.format(i=3, cl="content-length:\t %d \r\n" % len(fake), cl2="",
                            body=fake),
                head.format(i=4, cl="L :%d\r\n" % len(fake), cl2="", body=fake),
                head.format(i=5, cl="", cl2="Content-Length: 0\r\n", body="")]
        blob = "".join(msgs).encode()
        for piece in (len(blob), 1):
            t = socket.create_connection(("127.0.0.1", self.d.sip_port))
            t.settimeout(5)
            for k in range(0, len(blob), piece):
                t.sendall(blob[k:k + piece])
            got = b""
            while got.count(b"SIP/2.0 ") < 5:
                chunk = t.recv(65535)
                if not chunk:
                    break
                got += chunk
            t.close()
            self.assertEqual(re.findall(rb"SIP/2.0 (\d+) ", got), [b"200"] * 5, got)
            self.assertEqual(re.findall(rb"Call-ID: (b\d)\r\n", got),
                             [b"b1", b"b2", b"b3", b"b4", b"b5"], got)

    OPTIONS = ("OPTIONS sip:telgate SIP/2.0\r\nVia: SIP/2.0/{t} 127.0.0.1:9;branch=z9hG4bKk{i}"
               "\r\nTo: <sip:telgate>\r\nFrom: <sip:ping@telgate>;tag=k\r\nCall-ID: ka{i}"
               "\r\nCSeq: {i} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: {cl}\r\n\r\n")

    def test_crlf_keepalive_gets_a_pong(self):
        """RFC 5626 §3.5.1: a CRLFCRLF ping on a SIP TCP connection gets a CRLF pong, and
        the connection goes on serving requests (lone CRLFs before a request are skipped)."""
        t = socket.create_connection(("127.0.0.1", self.d.sip_port))
        t.settimeout(5)
        t.sendall(b"\r\n\r\n")
        self.assertEqual(t.recv(65535), b"\r\n")
        raw = Raw(self.d.sip_port, stream=t)
        self.assertEqual(status(raw.send(self.OPTIONS.format(t="TCP", i=1, cl=0).encode())), 200)
        # Two pings in one write: two pongs; then a REGISTER after a lone CRLF.
        t.sendall(b"\r\n\r\n\r\n\r\n")
        pongs = b""
        while len(pongs) < 4:
            pongs += t.recv(65535)
        self.assertEqual(pongs, b"\r\n\r\n")
        t.sendall(b"\r\n")
        self.assertEqual(status(raw.register("1002", transport="TCP")), 401)
        t.close()

    def tls_client(self, version):
        ctx = ssl.create_default_context(cafile=os.path.join(self.d.state, "pki", "ca.crt"))
        ctx.check_hostname = False
        ctx.minimum_version = ctx.maximum_version = version
        raw = socket.create_connection(("127.0.0.1", self.d.sip_tls_port), timeout=10)
        # No ragged EOFs suppressed: an EOF without close_notify raises SSLEOFError, while a
        # close_notify makes recv return b"".
        s = ctx.wrap_socket(raw, suppress_ragged_eofs=False)
        self.assertEqual(s.version(), {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                       ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version])
        return s

    def read_to_tls_eof(self, s):
        """Everything the server sends until its close_notify (an EOF without one fails)."""
        got, version = b"", s.version()
        while True:
            try:
                chunk = s.recv(65535)
            except ssl.SSLEOFError as e:
                self.fail(f"{version}: EOF without close_notify after {got!r}: {e}")
            if not chunk:
                return got
            got += chunk

    def test_tls_close_notify(self):
        """telgated ends every SIP TLS connection with a close_notify (RFC 5246 §7.2.1,
        RFC 8446 §6.1), for TLS 1.2 and 1.3: when it closes after a 400 for a bad
        Content-Length, when a connection sends no request within first_message_timeout_s
        (a CRLFCRLF keep-alive is answered but is not a request), and in answer to the
        client's own close_notify."""
        self.d.stop()
        self.d.close_pipes()
        self.start_daemon("first_message_timeout_s = 1\n")
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=v.name):
                # The framing is lost: 400, then close_notify.
                s = self.tls_client(v)
                s.sendall(self.OPTIONS.format(t="TLS", i=1, cl=0).encode() +
                          self.OPTIONS.format(t="TLS", i=2, cl=-1).encode())
                got = self.read_to_tls_eof(s)
                answers = re.findall(rb"SIP/2.0 (\d+) [^\r]*\r\n", got)
                self.assertEqual(answers, [b"200", b"400"], got)
                s.close()
                # Only a keep-alive, no request: its pong, then close_notify once
                # first_message_timeout_s has passed.
                s = self.tls_client(v)
                t0 = time.monotonic()
                s.sendall(b"\r\n\r\n")
                self.assertEqual(self.read_to_tls_eof(s), b"\r\n")
                self.assertGreaterEqual(time.monotonic() - t0, 0.5)  # not at the ping
                self.assertLess(time.monotonic() - t0, 5)
                s.close()
                # The client closes first: unwrap() sends its close_notify and returns only
                # once the server's has come back (an EOF without one raises).
                s = self.tls_client(v)
                self.assertEqual(status(Raw(self.d.sip_port, stream=s).send(
                    self.OPTIONS.format(t="TLS", i=4, cl=0).encode())), 200)
                plain = s.unwrap()
                plain.settimeout(5)
                self.assertEqual(plain.recv(65535), b"")  # then the FIN, nothing more
                plain.close()
        self.assertIsNone(self.d.proc.poll())

    def test_tls_session_resumption(self):
        """A phone reconnecting its SIP TLS connection resumes its session with the ticket
        it was given (tls/tickets.h), over TLS 1.2 and 1.3: `openssl s_client -sess_out`
        then `-sess_in`, the second handshake is a resumption; a REGISTER on each
        connection is answered."""
        ca = os.path.join(self.d.state, "pki", "ca.crt")
        for v in ("-tls1_2", "-tls1_3"):
            with self.subTest(version=v):
                sess = os.path.join(self.root, f"sess{v}")
                outs = []
                for flag in ("-sess_out", "-sess_in"):
                    # the request is sent, then stdin stays open a moment so that the
                    # answer and (TLS 1.3) the ticket are read before the client closes
                    req = self.OPTIONS.format(t="TLS", i=len(outs) + 1, cl=0)
                    p = subprocess.Popen(
                        ["openssl", "s_client", v, "-connect", f"127.0.0.1:{self.d.sip_tls_port}",
                         "-CAfile", ca, flag, sess],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                    p.stdin.write(req.encode())
                    p.stdin.flush()
                    time.sleep(1)
                    p.stdin.close()  # s_client closes the connection at EOF
                    out = p.stdout.read().decode(errors="replace")
                    p.stdout.close()
                    p.wait(timeout=30)
                    self.assertIn("SIP/2.0 200", out)
                    outs.append(out)
                self.assertIn("New, ", outs[0])
                self.assertIn("Reused, ", outs[1], outs[1][-2000:])
        self.assertIsNone(self.d.proc.poll())

    def test_connection_caps_and_first_request_timeout(self):
        """Two thousand idle TCP connections from one address: the per-source cap keeps
        all but 50 out at accept, those 50 are closed when they send nothing within
        first_message_timeout_s, and meanwhile another address registers with SIPp."""
        self.d.stop()
        self.d.close_pipes()
        self.start_daemon("challenge_sha256 = no\nmax_connections_per_source = 50\n"
                          "first_message_timeout_s = 2\n")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, 4096)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        n = min(2000, want - 200)
        # A connection that speaks in time stays beyond the first-request timeout.
        talker = socket.create_connection(("127.0.0.1", self.d.sip_port))
        opts = ("OPTIONS sip:telgate SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKo{i}"
                "\r\nTo: <sip:telgate>\r\nFrom: <sip:ping@telgate>;tag=o\r\nCall-ID: opt{i}"
                "\r\nCSeq: {i} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        tr = Raw(self.d.sip_port, stream=talker)
        self.assertEqual(status(tr.send(opts.format(i=1).encode())), 200)
        idle = []
        try:
            for _ in range(n):
                idle.append(socket.create_connection(("127.0.0.1", self.d.sip_port), timeout=5))
            time.sleep(1.0)

            def open_ones():
                alive = 0
                for s in idle:
                    s.setblocking(False)
                    try:
                        alive += s.recv(1) != b""
                    except BlockingIOError:
                        alive += 1
                    except OSError:
                        pass
                return alive
            # The talker holds one of the 50.
            self.assertEqual(open_ones(), 49)
            # The stream layer refuses it before any TLS work and names the setting of the
            # cap (the per-source one).
            self.assertRegex(self.d.log_text(),
                             r"event=stream_refused listener=sip-tcp peer=127\.0\.0\.1:\d+ "
                             r'reason="sip\.max_connections_per_source reached"')
            # Another source is not starved: SIPp from 127.0.0.2 registers over TCP.
            r = self.sipp_register("t1", extra=("-i", "127.0.0.2"))
            self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
            # Silent connections go once first_message_timeout_s has passed.
            time.sleep(2.5)
            self.assertEqual(open_ones(), 0)
        finally:
            for s in idle:
                s.close()
        self.assertEqual(status(tr.send(opts.format(i=2).encode())), 200)
        talker.close()
        # With the idle ones gone, the address may connect again.
        c = socket.create_connection(("127.0.0.1", self.d.sip_port))
        self.assertEqual(status(Raw(self.d.sip_port, stream=c).send(opts.format(i=3).encode())),
                         200)
        c.close()

if __name__ == "__main__":
    test_daemon.main()
