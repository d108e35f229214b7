#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of the directory against real OpenLDAP slapd servers: telgated is started
with an [ldap] section pointing at one or two slapd instances (tests/lib/slapd.py) and
driven with `telgate auth test` / `telgate ldap test`, the administrator's tools. The
slapd operation logs show what reached the directory (binds, filters)."""
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
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import test_daemon  # noqa: E402
from slapd import Slapd, BASE_AD, SUFFIX  # noqa: E402

LDAP_USERS = ["wwhite", "swhite", "hank", "jpinkman", "star*man", "paren(x)", "back\\slash",
              "jos\u00e9", "twin", "*", ")(uid=*", "star*", "nobody-in-ldap"]
PASSWORDS = {"wwhite": "Heisenberg-1", "jpinkman": "Cap-n-Cook-1", "star*man": "Star-Pass-1",
             "paren(x)": "Paren-Pass-1", "back\\slash": "Back-Pass-1",
             "jos\u00e9": "Jos\u00e9-Pass-1"}


def provisioning():
    users = [{"userid": u, "directory": "ldap", "credentialpolicy": "Three Strikes",
              "groups": ["Standard CTI Enabled"]} for u in LDAP_USERS]
    users.append({"userid": "local1", "directory": "local", "password": "Local-Pass-1",
                  "groups": ["Standard CTI Enabled"]})
    return {"version": 1,
            "credentialpolicies": [{"name": "Three Strikes", "failedlogonthreshold": 3,
                                    "resetfailedlogonsafter": 30, "lockoutduration": 30,
                                    "adminmustunlock": False, "expiresafterdays": 0,
                                    "expirywarningdays": 0, "inactivedaysallowed": 0,
                                    "minlength": 8}],
            "users": users}


class LdapTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tgldap")
        cls.a = Slapd(os.path.join(cls.tmp, "a")).start()
        cls.b = Slapd(os.path.join(cls.tmp, "b")).start()

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.b.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        for s in (self.a, self.b):
            if s.proc is None:
                s.start()
        self.root = tempfile.mkdtemp(prefix="tgsys", dir=self.tmp)
        self.d = None

    def tearDown(self):
        if self.d:
            self.d.kill()
            self.d.close_pipes()
        for s in (self.a, self.b):
            if s.proc:
                s.resume()

    def daemon(self, servers, base=SUFFIX, flt="openldap", ca=None, extra=""):
        ca = ca or self.a.dir + "/ca.crt"
        conf = (f"[dir]\nfailure_delay_ms = 20\n[ldap]\nservers = {' '.join(servers)}\n"
                f"base = {base}\nfilter = {flt}\nbind_dn = cn=svc-telgate,{SUFFIX}\n"
                f"bind_password_file = {self.a.dir}/service.pw\nca_file = {ca}\n"
                f"retry_s = 1\n{extra}")
        self.d = test_daemon.Daemon(self.root, conf)
        prov = os.path.join(self.root, "prov.json")
        with open(prov, "w", encoding="utf-8") as f:
            json.dump(provisioning(), f)
        self.d.start("--provision", prov)
        return self.d

    def auth(self, user, password):
        env = dict(os.environ, TELGATE_PASSWORD=password)
        r = subprocess.run([test_daemon.ARGS.telgate, "-c", self.d.conf, "--json", "auth",
                            "test", user], capture_output=True, text=True, env=env,
                           timeout=60)
        out = json.loads(r.stdout)
        res = {row[0]: row[1] for row in out.get("rows", [])}
        self.assertEqual(r.returncode, 0 if res.get("result") == "success" else 1, r.stdout)
        return res

    def assertResult(self, user, password, expected):
        res = self.auth(user, password)
        self.assertEqual(res["result"], expected, "%r: %r" % (user, res))
        return res

    def test_ad_filter_over_ldaps(self):
        self.daemon([self.a.tls_uri()], base=BASE_AD, flt="ad")
        res = self.assertResult("wwhite", "Heisenberg-1", "success")
        self.assertEqual(res["cti_permissions"], "enabled")
        self.assertResult("wwhite", "Heisenberg-2", "bad-credential")
        # A disabled account and a computer account: the filter excludes both.
        self.assertResult("swhite", "Skyler-Pass-1", "unknown-user")
        self.assertResult("hank", "Computer-Pass-1", "unknown-user")
        self.assertResult("not-provisioned", "whatever-1", "unknown-user")
        log = self.d.log_text()
        self.assertIn("sAMAccountName=wwhite))", log)
        self.assertIn('event=ldap_user_found dn="cn=Walter White,ou=Breaking Bad,'
                      'dc=joshlab,dc=net"', log)
        self.assertIn("event=ldap_user_bind", log)
        self.assertIn("credential_length=12", log)
        self.assertNotIn("Heisenberg", log)  # never a password, right or wrong
        self.assertNotIn("svc-Secret", log)

    def test_special_names_and_injection(self):
        self.daemon([self.a.uri()])
        for user, pw in PASSWORDS.items():
            if user == "wwhite":
                continue
            self.assertResult(user, pw, "success")
            self.assertResult(user, pw + "x", "bad-credential")
        # Filter metacharacters are escaped: '*' is not a wildcard, ')(' no injection.
        for user in ("*", ")(uid=*", "star*"):
            self.assertResult(user, "Star-Pass-1", "unknown-user")
        self.assertResult("twin", "Twin-Pass-1", "unknown-user")  # ambiguous: refused
        log = open(self.a.log, errors="replace").read()
        self.assertIn("(uid=\\2A)", log)
        self.assertIn("(uid=\\29\\28uid=\\2A)", log)
        self.assertIn("(uid=star\\2Aman)", log)
        self.assertIn("(uid=back\\5Cslash)", log)

    def test_empty_password_never_reaches_ldap(self):
        self.daemon([self.a.uri()])
        self.assertResult("jpinkman", "Cap-n-Cook-1", "success")
        before = self.a.bind_count()
        res = self.assertResult("jpinkman", "", "bad-credential")
        self.assertIn("empty", res["reason"])
        self.assertResult("wwhite", "", "bad-credential")
        time.sleep(0.3)  # let slapd flush its log
        self.assertEqual(self.a.bind_count(), before)

    def test_failover_and_return(self):
        self.daemon([self.a.uri(), self.b.uri()])
        self.assertResult("jpinkman", "Cap-n-Cook-1", "success")
        self.assertIn("uid=jpinkman,ou=People,dc=joshlab,dc=net", self.a.bind_dns())
        self.a.stop()
        b_before = self.b.bind_dns().count("uid=jpinkman,ou=People,dc=joshlab,dc=net")
        t0 = time.time()
        self.assertResult("jpinkman", "Cap-n-Cook-1", "success")
        took = time.time() - t0
        self.assertLess(took, 10)  # generous for loaded CI machines; printed for the notes
        sys.stderr.write("\n  login right after the first server died: %.0f ms\n" % (took * 1000))
        self.assertEqual(self.b.bind_dns().count("uid=jpinkman,ou=People,dc=joshlab,dc=net"),
                         b_before + 1)
        self.a.start()  # same port: the background probe brings it back
        deadline = time.time() + 20
        while time.time() < deadline:
            before = self.a.bind_count()
            self.assertResult("jpinkman", "Cap-n-Cook-1", "success")
            time.sleep(0.2)
            if self.a.bind_count() > before:
                break
        else:
            self.fail("the first server was not used again after it came back")
        self.assertIn("event=ldap_server_down", self.d.log_text())
        self.assertIn("event=ldap_server_up", self.d.log_text())

    def test_hung_first_server_fails_over(self):
        # The first server accepts TCP connections but never answers (stopped process).
        self.daemon([self.a.uri(), self.b.uri()])
        self.a.pause()
        t0 = time.time()
        self.assertResult("jpinkman", "Cap-n-Cook-1", "success")
        took = time.time() - t0
        self.assertLess(took, 10)
        sys.stderr.write("\n  login with a hung first server: %.0f ms\n" % (took * 1000))
        self.a.resume()

    def test_wrong_ca_fails_closed(self):
        self.daemon([self.a.tls_uri()], ca=self.a.dir + "/wrong-ca.crt")
        before = self.a.bind_count()
        self.assertResult("jpinkman", "Cap-n-Cook-1", "directory-unavailable")
        r = self.d.cli("ldap", "test")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("failure", r.stdout)
        time.sleep(0.3)
        self.assertEqual(self.a.bind_count(), before)  # not even the service bind

    def test_starttls_verified(self):
        self.daemon([self.a.uri()], extra="starttls = yes\n")
        self.assertResult("jpinkman", "Cap-n-Cook-1", "success")
        r = self.d.cli("ldap", "test")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("TLS, certificate verified", r.stdout)
        self.d.stop()
        self.d.close_pipes()
        self.daemon([self.a.uri()], ca=self.a.dir + "/wrong-ca.crt", extra="starttls = yes\n")
        self.assertResult("jpinkman", "Cap-n-Cook-1", "directory-unavailable")

    def test_slow_server_times_out_and_loop_stays_responsive(self):
        self.daemon([self.a.uri()], extra="timeout_ms = 3000\n")
        self.assertResult("jpinkman", "Cap-n-Cook-1", "success")
        self.a.pause()
        env = dict(os.environ, TELGATE_PASSWORD="Cap-n-Cook-1")
        slow = subprocess.Popen([test_daemon.ARGS.telgate, "-c", self.d.conf, "--json", "auth",
                                 "test", "jpinkman"], stdout=subprocess.PIPE, text=True,
                                env=env)
        time.sleep(0.3)
        # The directory's loop still answers others while the LDAP request waits.
        self.assertResult("local1", "Local-Pass-1", "success")
        self.assertIsNone(slow.poll(), "the LDAP request should still be waiting")
        out, _ = slow.communicate(timeout=30)
        rows = {r[0]: r[1] for r in json.loads(out)["rows"]}
        self.assertEqual(rows["result"], "directory-unavailable")
        self.assertIn("event=ldap_timeout", self.d.log_text())
        self.a.resume()

    def test_lockout_refuses_without_binding(self):
        self.daemon([self.a.uri()])
        dn = "uid=jpinkman,ou=People,dc=joshlab,dc=net"
        for _ in range(3):
            self.assertResult("jpinkman", "wrong-password", "bad-credential")
        time.sleep(0.3)
        binds = self.a.bind_dns().count(dn)
        self.assertResult("jpinkman", "Cap-n-Cook-1", "hacked-locked")
        time.sleep(0.3)
        self.assertEqual(self.a.bind_dns().count(dn), binds)
        r = self.d.cli("user", "show", "jpinkman")
        self.assertIn("hacked-locked", r.stdout)
        self.assertIn("3 of 3", r.stdout)
        r = self.d.cli("user", "unlock", "jpinkman")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertResult("jpinkman", "Cap-n-Cook-1", "success")
        self.assertIn("event=dir_user_locked_out", self.d.log_text())

    def test_ldap_test_command(self):
        self.daemon([self.a.uri(), self.b.uri()])
        r = self.d.cli("ldap", "test", "star*man")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("uid=star*man,ou=People,dc=joshlab,dc=net", r.stdout)
        self.assertIn("(uid=star\\2Aman)", r.stdout)
        self.b.stop()
        r = self.d.cli("ldap", "test")
        self.assertEqual(r.returncode, 1)
        self.assertIn(self.b.uri(), r.stdout)
        self.assertIn("failure", r.stdout)


if __name__ == "__main__":
    test_daemon.main()
