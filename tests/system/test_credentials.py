#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of issue 13: each credential of a user has its own state and policy. The
password (CTI login) and the digest credential (SIP REGISTER) are attacked with real peers
— a hand-written SIP UDP client from several loopback addresses, the CSTA XML CTI client
of test_cti.py, and sipvicious' svcrack — and each attack is shown to leave the other
credential, and the user's other way in, working. Standard library only."""
import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402
import test_cti  # noqa: E402
from test_sip import digest, status  # noqa: E402

USER = "alice"
CTI_PASSWORD = "Alice-Cti-Pass-1"
SIP_PASSWORD = "Alice-Sip-Pass-1"
LINE = "1001"
DEVICE = "SEPA11CE000001"
# The digest policy of test 2: no throttling, a lockout at 100 that only an administrator
# ends.
LOCK_AT_100 = {"name": "Digest Lock At 100", "failedlogonthreshold": 100,
               "resetfailedlogonsafter": 30, "lockoutduration": 30, "adminmustunlock": True,
               "expiresafterdays": 0, "expirywarningdays": 0, "inactivedaysallowed": 0,
               "minlength": 8, "throttleafterfailures": 0}


def provisioning(digest_policy=None):
    """alice: a CTI user (her password under the Default Credential Policy) who owns a
    phone on line 1001 (her digest credential under digest_policy, else the Default Digest
    Credential Policy)."""
    alice = {"userid": USER, "directory": "local", "password": CTI_PASSWORD,
             "digestpassword": SIP_PASSWORD, "groups": ["Standard CTI Enabled"]}
    prov = {"version": 1, "users": [alice],
            "devices": [{"name": DEVICE, "model": "Cisco 8865", "protocol": "SIP",
                         "owner": USER, "lines": [LINE]}]}
    if digest_policy:
        prov["credentialpolicies"] = [digest_policy]
        alice["digestcredentialpolicy"] = digest_policy["name"]
    return prov


class Phone:
    """A SIP UDP client writing REGISTERs by hand (like test_sip.Raw), bound to a loopback
    address of its choice so that the registrar sees it as a source of its own."""

    def __init__(self, port, host="127.0.0.1"):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((host, 0))
        self.s.settimeout(10)
        self.host, self.lport = host, self.s.getsockname()[1]
        self.port = port
        self.cseq = 0
        self.nc = 0
        self.callid = f"cred-{host}-{self.lport}"

    def close(self):
        self.s.close()

    def register(self, line=LINE, auth=None, header=None, expires=3600):
        """Sends one REGISTER for line (auth: an Authorization value; header: a raw header
        line instead) and returns the answer."""
        self.cseq += 1
        msg = (f"REGISTER sip:telgate SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {self.host}:{self.lport};rport;branch=z9hG4bKcr{self.cseq}\r\n"
               f"Max-Forwards: 70\r\nTo: <sip:{line}@telgate>\r\n"
               f"From: <sip:{line}@telgate>;tag=cred\r\nCall-ID: {self.callid}\r\n"
               f"CSeq: {self.cseq} REGISTER\r\n"
               f"Contact: <sip:{line}@{self.host}:{self.lport}>\r\nExpires: {expires}\r\n")
        if auth:
            msg += f"Authorization: {auth}\r\n"
        if header:
            msg += header + "\r\n"
        msg += "Content-Length: 0\r\n\r\n"
        self.s.sendto(msg.encode(), ("127.0.0.1", self.port))
        return self.s.recv(65535).decode()

    def challenge(self, line=LINE):
        """A fresh challenge: the first WWW-Authenticate value of a 401 (SHA-256)."""
        ans = self.register(line)
        assert status(ans) == 401, ans
        return re.search(r"\r\nWWW-Authenticate: ([^\r]+)\r\n", ans).group(1)

    def auth(self, challenge, user, password):
        """An Authorization value answering challenge (the next nonce count)."""
        self.nc += 1
        nc = "%08x" % self.nc
        nonce = re.search(r'nonce="([^"]+)"', challenge).group(1)
        realm = re.search(r'realm="([^"]+)"', challenge).group(1)
        resp = digest("sha256", user, realm, password, "REGISTER", "sip:telgate", nonce, nc,
                      "c0ffee")
        return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", '
                f'uri="sip:telgate", response="{resp}", algorithm=SHA-256, qop=auth, '
                f'nc={nc}, cnonce="c0ffee"')

    def login(self, password=SIP_PASSWORD, line=LINE, user=USER):
        """Challenge, then answer it: the final answer."""
        return self.register(line, self.auth(self.challenge(line), user, password))


class CredentialTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgcred")
        self.d = None
        self.phones = []

    def tearDown(self):
        for p in self.phones:
            p.close()
        problem = self.d.finish() if self.d else None  # a sanitizer report fails the test
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def start(self, extra=""):
        """telgated with alice provisioned; extra: more [sip] settings."""
        self.d = test_daemon.Daemon(self.root, "[cti]\nallow_plain_login = yes\n"
                                    "[dir]\nfailure_delay_ms = 20\n[sip]\n" + extra)
        self.d.start("--provision", self.write_json("prov.json", provisioning()))

    def write_json(self, name, doc):
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def phone(self, host="127.0.0.1"):
        p = Phone(self.d.sip_port, host)
        self.phones.append(p)
        return p

    # --- what an administrator and the log see ---

    def show(self):
        """`telgate --json user show alice` as {(credential, name): value}."""
        r = self.d.cli("user", "show", USER, json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return {(c, n): v for c, n, v in json.loads(r.stdout)["rows"]}

    def block(self, credential):
        return {n: v for (c, n), v in self.show().items() if c == credential}

    def wait_for(self, what, cond, timeout=20):
        """Polls cond() (a failure is counted on a worker thread, before its answer; poll
        anyway so that the tests do not depend on that)."""
        end = time.time() + timeout
        while time.time() < end:
            got = cond()
            if got:
                return got
            time.sleep(0.05)
        self.fail("timed out waiting for " + what)

    def log_lines(self, pattern):
        return [x for x in self.d.log_text().splitlines() if re.search(pattern, x)]

    def wait_counted(self):
        """Until every digest failure the registrar answered for alice has been counted:
        one dir_credential_policy verdict=bad-credential line per sip_auth_failed
        reason=bad-credential line."""
        failed = rf"event=sip_auth_failed .*user={USER} .*reason=bad-credential"
        counted = rf"event=dir_credential_policy credential=digest user={USER} .*" \
                  rf"verdict=bad-credential"
        self.wait_for("the failures to be counted",
                      lambda: len(self.log_lines(counted)) == len(self.log_lines(failed)))

    def cti_login(self, password=CTI_PASSWORD):
        """One CTI login on a new connection: the answer's element name."""
        c = test_cti.Client(self.d.cti_port)
        try:
            return test_cti.local(c.login(USER, password))
        finally:
            c.close()

    def assert_cti_login_works(self):
        self.assertEqual(self.cti_login(), "StartApplicationSessionPosResponse")

    def registered_contacts(self):
        r = self.d.cli("show", "registrations", DEVICE, json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [row[2] for row in json.loads(r.stdout)["rows"]]

    # --- the tests ---

    def test_digest_burst_leaves_cti_and_phone_working(self):
        """50 bad REGISTERs for alice's line from 127.0.0.1 under the Default Digest
        Credential Policy: the digest credential is throttled (and 127.0.0.1 refused for
        the rest of the minute), but alice's CTI login works at once, and her phone on
        127.0.0.2 registers with the right password once the throttle interval is over."""
        self.start()
        attacker = self.phone("127.0.0.1")
        ch = attacker.challenge()
        for i in range(50):
            r = attacker.register(auth=attacker.auth(ch, USER, f"guess-{i}"))
            self.assertEqual(status(r), 403, r)
        self.wait_counted()
        log = self.d.log_text()
        self.assertRegex(log, rf"event=sip_auth_failed source=127\.0\.0\.1:\d+ user={USER} "
                              rf"aor={LINE} transport=UDP credential=digest reason=throttled")
        self.assertRegex(log, rf"event=dir_credential_policy credential=digest user={USER} "
                              rf".*verdict=throttled")
        self.assertIn('reason="source throttled"', log)
        show = self.show()
        hack = int(show[("digest", "hack_count")].split()[0])
        self.assertGreaterEqual(hack, 10)
        self.assertEqual(show[("digest", "credential_policy")],
                         "Default Digest Credential Policy")
        self.assertEqual(show[("password", "hack_count")], "0 of 3")
        self.assertEqual(show[("password", "state")], "usable")
        # The password is another credential: CTI login works, throttled digest or not.
        self.assert_cti_login_works()
        # The phone, from another address, once the interval is over (poll, no timing
        # assertion: the interval doubles with each failure counted).
        for _ in range(5):
            until = self.show().get(("digest", "throttled_until"))
            if not until:
                break
            end = datetime.datetime.strptime(until, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            time.sleep(max(0.0, end - time.time()) + 0.1)
        else:
            self.fail("the digest credential stays throttled: %s" % until)
        phone = self.phone("127.0.0.2")
        r = phone.login()
        self.assertEqual(status(r), 200, r)
        self.assertIn(f"<sip:{LINE}@127.0.0.2:{phone.lport}>", self.registered_contacts())
        block = self.block("digest")
        self.assertEqual(block["state"], "usable")
        self.assertEqual(block["hack_count"], "0 of 100")
        self.assertEqual(self.block("password")["hack_count"], "0 of 3")
        # Why the phone uses another address: the attacker's is still refused for the rest
        # of the minute, the right password included, without touching the account.
        refused = rf'event=sip_auth_failed source=127\.0\.0\.1:.*reason="source throttled"'
        before = len(self.log_lines(refused))
        r = attacker.login()
        self.assertEqual(status(r), 403, r)
        self.assertEqual(len(self.log_lines(refused)), before + 1)
        self.assertEqual(self.block("digest")["hack_count"], "0 of 100")

    def test_hundred_failures_lock_digest_only(self):
        """100 consecutive digest failures under a policy without throttling (and no
        per-source limit) lock the digest credential until an administrator unlocks it:
        the CredentialLockout alarm is raised, even the right digest password gets 403,
        her phone's next REGISTER included (though its account is in the registrar's cache),
        while the password stays usable and CTI login works. `user unlock --credential
        digest` restores registration and leaves the password block as it was."""
        self.start("source_failures_max = 0\n")
        r = self.d.cli("import", self.write_json("lock100.json", provisioning(LOCK_AT_100)))
        self.assertEqual(r.returncode, 0, r.stderr)
        show = self.show()
        self.assertEqual(show[("digest", "credential_policy")], LOCK_AT_100["name"])
        self.assertNotIn(("digest", "throttle"), show)
        self.assertEqual(show[("password", "credential_policy")], "Default Credential Policy")
        # Her phone registers before the attack; its refresh is decided from the cache.
        phone = self.phone("127.0.0.2")
        contact = f"<sip:{LINE}@127.0.0.2:{phone.lport}>"
        for path in ("store", "cache"):
            r = phone.login()
            self.assertEqual(status(r), 200, r)
            self.assertIn(f"path={path}", self.log_lines("event=sip_registered")[-1])
        attacker = self.phone("127.0.0.1")
        ch = attacker.challenge()
        for i in range(100):
            r = attacker.register(auth=attacker.auth(ch, USER, f"guess-{i}"))
            self.assertEqual(status(r), 403, r)
        self.wait_counted()
        self.wait_for("the lockout", lambda: self.log_lines(
            rf"event=dir_user_locked_out user={USER} credential=digest hack_count=100 "
            rf"admin_must_unlock=yes"))
        # Every failure was checked and counted: none was refused unchecked.
        self.assertEqual(len(self.log_lines(rf"event=sip_auth_failed .*user={USER} "
                                            rf".*reason=bad-credential")), 100)
        self.assertNotIn("source throttled", self.d.log_text())
        # The alarm, in the table and in --json.
        r = self.d.cli("show", "alarms")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"CredentialLockout .*UserID=alice")
        r = self.d.cli("show", "alarms", json_mode=True)
        alarms = [row for row in json.loads(r.stdout)["rows"] if row[2] == "CredentialLockout"]
        self.assertEqual(len(alarms), 1, alarms)
        fields = alarms[0][4]
        for want in ("UserID=alice", "CredentialType=digest", "HackCount=100",
                     "AdminMustUnlock=true"):
            self.assertIn(want, fields)
        show = self.show()
        self.assertEqual(show[("digest", "state")], "hacked-locked")
        self.assertEqual(show[("digest", "hack_count")], "100 of 100")
        self.assertEqual(show[("digest", "lockout_ends")], "until an administrator unlocks")
        self.assertNotIn(("digest", "throttle"), show)
        self.assertEqual(show[("password", "state")], "usable")
        self.assertEqual(show[("password", "hack_count")], "0 of 3")
        # The right digest password from her phone: refused unchecked.
        r = phone.login()
        self.assertEqual(status(r), 403, r)
        self.assertRegex(self.d.log_text(), rf"event=sip_auth_failed source=127\.0\.0\.2:\d+ "
                                            rf"user={USER} aor={LINE} transport=UDP "
                                            rf"credential=digest reason=hacked-locked")
        # The password is another credential.
        self.assert_cti_login_works()
        password_before = self.block("password")
        r = self.d.cli("user", "unlock", USER, "--credential", "digest")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("user_unlocked user=alice credential=digest", self.d.log_text())
        r = phone.login()
        self.assertEqual(status(r), 200, r)
        self.assertEqual(self.registered_contacts(), [contact])
        digest_block = self.block("digest")
        self.assertEqual(digest_block["state"], "usable")
        self.assertEqual(digest_block["hack_count"], "0 of 100")
        self.assertEqual(digest_block["time_hacked_lockout"], "never")
        self.assertEqual(self.block("password"), password_before)

    def test_cti_lockout_leaves_phone_registered(self):
        """Three wrong CTI logins lock alice's password (Default Credential Policy), so
        even her right password is refused over CTI; her phone stays registered and a new
        REGISTER with the digest password still gets 200."""
        self.start()
        phone = self.phone("127.0.0.2")
        r = phone.login()
        self.assertEqual(status(r), 200, r)
        contact = f"<sip:{LINE}@127.0.0.2:{phone.lport}>"
        for i in range(3):
            self.assertEqual(self.cti_login(f"Wrong-Cti-{i}"), "StartApplicationSessionNegResponse")
        self.wait_for("the password lockout", lambda: self.log_lines(
            rf"event=dir_user_locked_out user={USER} credential=password hack_count=3"))
        self.assertEqual(self.cti_login(), "StartApplicationSessionNegResponse")
        show = self.show()
        self.assertEqual(show[("password", "state")], "hacked-locked")
        self.assertEqual(show[("password", "hack_count")], "3 of 3")
        self.assertEqual(show[("digest", "state")], "usable")
        self.assertEqual(show[("digest", "hack_count")], "0 of 100")
        r = self.d.cli("show", "alarms", json_mode=True)
        self.assertTrue([row for row in json.loads(r.stdout)["rows"]
                         if row[2] == "CredentialLockout" and "CredentialType=password" in row[4]])
        # Still registered, and a new REGISTER (a fresh challenge) is accepted.
        self.assertEqual(self.registered_contacts(), [contact])
        r = phone.login()
        self.assertEqual(status(r), 200, r)
        self.assertIn(f"Contact: {contact};expires=", r)
        self.assertEqual(self.registered_contacts(), [contact])
        self.assertEqual(self.block("digest")["state"], "usable")
        self.assertEqual(self.block("password")["state"], "hacked-locked")
        self.assertNotIn("event=sip_auth_failed", self.d.log_text())

    def test_svcrack_never_locks_cti_login(self):
        """sipvicious' svcrack guessing alice's digest password with a dictionary of wrong
        ones (its attempts reach the registrar: sip_auth_failed for alice) never touches
        her password: CTI login works afterwards and the password's hack_count is 0."""
        self.start("challenge_sha256 = no\n")  # sipvicious computes MD5 digests only
        words = os.path.join(self.root, "words.txt")
        guesses = [f"wrong-{i}" for i in range(15)]
        with open(words, "w") as f:
            f.write("\n".join(guesses) + "\n")
        r = subprocess.run(["svcrack", "-u", USER, "-e", LINE, "-d", words, "-p",
                            str(self.d.sip_port), "127.0.0.1"], capture_output=True, text=True,
                           timeout=120)
        self.assertIn("found nothing", r.stdout + r.stderr, r.stdout + r.stderr)
        attempts = self.log_lines(rf"event=sip_auth_failed source=127\.0\.0\.1:\d+ "
                                  rf"user={USER} aor={LINE} transport=UDP credential=digest")
        self.assertEqual(len(attempts), len(guesses), attempts)
        self.wait_counted()
        self.assert_cti_login_works()
        show = self.show()
        self.assertEqual(show[("password", "hack_count")], "0 of 3")
        self.assertEqual(show[("password", "state")], "usable")
        self.assertGreaterEqual(int(show[("digest", "hack_count")].split()[0]), 10)

    def test_unreadable_credentials_and_unknown_lines_spare_the_account(self):
        """A Digest credential that cannot be parsed counts against its source (here the
        source is refused after 5 of them), never against alice's account; REGISTERs with
        her user name for a line that does not exist do not touch her counters either.
        A wrong password afterwards is counted exactly once, so nothing else was."""
        self.start("source_failures_max = 5\n")
        bad = self.phone("127.0.0.1")
        garbage = ['Digest username="alice", realm=',
                   'Digest username="alice", realm="telgate", nonce',
                   'Digest username="alice, realm="telgate"',
                   'Digest username="alice",,,,=,realm=="telgate" uri=',
                   'Digest username="alice", realm="telgate", response="' + "f" * 3000 + '"']
        for g in garbage:
            r = bad.register(header="Authorization: " + g)
            self.assertEqual(status(r), 403, (g, r))
            self.assertIn('Warning: 399 telgate "Unreadable Authorization"', r)
        self.assertIn("event=sip_bad_authorization source=127.0.0.1:", self.d.log_text())
        # Counted against the source: 127.0.0.1 is refused now, even the right password.
        r = bad.login()
        self.assertEqual(status(r), 403, r)
        self.assertRegex(self.d.log_text(), rf"event=sip_auth_failed source=127\.0\.0\.1:\d+ "
                                            rf'user={USER} aor={LINE} .*reason="source throttled"')
        block = self.block("digest")
        self.assertEqual(block["hack_count"], "0 of 100")
        self.assertEqual(block["last_failed_login"], "never")
        # Unknown line 9999 with alice's user name and well-formed credentials: 403 like a
        # wrong password, alice's counters untouched.
        other = self.phone("127.0.0.3")
        for pw in (SIP_PASSWORD, "wrong-1", "wrong-2"):
            r = other.login(pw, line="9999")
            self.assertEqual(status(r), 403, r)
        self.assertEqual(len(self.log_lines(rf"event=sip_auth_failed source=127\.0\.0\.3:\d+ "
                                            rf"user={USER} aor=9999 .*reason=unknown-user")), 3)
        # One real failure from alice's phone: counted, exactly once.
        phone = self.phone("127.0.0.2")
        r = phone.login("wrong-3")
        self.assertEqual(status(r), 403, r)
        self.wait_counted()
        block = self.block("digest")
        self.assertEqual(block["hack_count"], "1 of 100")
        self.assertEqual(block["state"], "usable")
        self.assertEqual(self.block("password")["hack_count"], "0 of 3")
        r = phone.login()
        self.assertEqual(status(r), 200, r)
        self.assertEqual(self.block("digest")["hack_count"], "0 of 100")

    def test_burst_from_one_source_checked_at_most_the_limit(self):
        """60 REGISTERs with wrong credentials for unknown lines, sent from one address
        without waiting for answers (60: more would overflow the daemon's UDP receive
        buffer on a small machine): the per-source limit (20 here) holds for a burst too
        (it is checked again on the worker, where earlier failures are already counted),
        so at most the limit plus one per worker thread are checked; all get 403."""
        self.start("source_failures_max = 20\n")
        p = self.phone("127.0.0.5")
        auth = p.auth(p.challenge("9999"), USER, "wrong")
        n = 60
        for i in range(n):
            p.cseq += 1
            msg = (f"REGISTER sip:telgate SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP 127.0.0.5:{p.lport};rport;branch=z9hG4bKburst{i}\r\n"
                   f"Max-Forwards: 70\r\nTo: <sip:8{i:03d}@telgate>\r\n"
                   f"From: <sip:8{i:03d}@telgate>;tag=b\r\nCall-ID: burst-{i}\r\n"
                   f"CSeq: {p.cseq} REGISTER\r\nContact: <sip:x@127.0.0.5:{p.lport}>\r\n"
                   f"Authorization: {auth}\r\nContent-Length: 0\r\n\r\n")
            p.s.sendto(msg.encode(), ("127.0.0.1", self.d.sip_port))
        codes = []
        p.s.settimeout(10)
        while len(codes) < n:
            try:
                codes.append(status(p.s.recv(65535).decode()))
            except socket.timeout:
                break
        self.assertEqual(codes, [403] * n)
        checked = len(self.log_lines(r"event=sip_auth_failed source=127\.0\.0\.5:\d+ "
                                     r".*reason=unknown-user"))
        workers = 8  # generous: the machine's worker threads, each one request in flight
        self.assertGreaterEqual(checked, 20)
        self.assertLessEqual(checked, 20 + workers, checked)

    def test_cli_credential_words_and_messages(self):
        """`user lock|unlock --credential` usage errors exit 64 and say what is wrong;
        unlocking what was not locked says so; a user without a digest password shows
        no digest credential rather than a usable one."""
        self.start()
        for words, want in ((["--credential"], "usage: user unlock USER"),
                            (["--credential", "pin"], "unknown credential 'pin'"),
                            (["--credential", "digest", "extra"], "usage: user unlock USER"),
                            (["--credentials", "digest"], "usage: user unlock USER")):
            r = self.d.cli("user", "unlock", USER, *words)
            self.assertEqual(r.returncode, 64, (words, r.stdout, r.stderr))
            self.assertIn(want, r.stdout + r.stderr)
        r = self.d.cli("user", "unlock", USER, "--credential", "digest")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("digest was not locked (nothing to reset)", r.stdout)
        self.assertEqual(self.d.cli("user", "lock", USER, "--credential", "password")
                         .returncode, 0)
        r = self.d.cli("user", "lock", USER)
        self.assertIn("alice: digest locked; password already locked", r.stdout)
        r = self.d.cli("user", "unlock", USER)
        self.assertIn("alice: password, digest unlocked (failure count reset)", r.stdout)
        self.assertEqual(self.d.cli("user", "unlock", "nobody").returncode, 1)
        self.assertEqual(self.d.cli("import", self.write_json("bob.json", {
            "version": 1, "users": [{"userid": "bob", "password": "Bob-Pass-12"}]}))
            .returncode, 0)
        r = self.d.cli("user", "show", "bob", json_mode=True)
        rows = {(c, n): v for c, n, v in json.loads(r.stdout)["rows"]}
        self.assertEqual(rows[("digest", "state")], "none (no digestpassword)")
        self.assertEqual(rows[("password", "state")], "usable")


if __name__ == "__main__":
    test_daemon.main()
