#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of enrolment profiles (issue 17, seed 001's CAPF profiles) through the
commands: `telgate capf add` with a generated string (printed once; `capf show`, the
store, the log and the audit never hold it), a chosen string under pki.capf_min_length
refused (and allowed, with a warning, when the minimum is configured down), list, show,
delete and rearm in table and --json form, expiry, a locked profile re-armed, usage
errors, and the capf key file."""
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402

LIST_COLUMNS = ["instance_id", "user", "auth_mode", "key", "operation", "status", "serial",
                "failures", "expires"]
BASE32 = re.compile(r"^[A-Z2-7]{26}$")


class CapfTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgcapf")
        self.d = test_daemon.Daemon(self.root)

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def start(self, min_length=None):
        if min_length is not None:
            self.d.write_conf("info", f"[pki]\ncapf_min_length = {min_length}\n")
        self.d.start("--provision", os.path.join(test_daemon.ARGS.examples, "demo.json"))

    def capf(self, *words):
        """Runs `telgate --json capf ...`: (exit status, the answer or None)."""
        r = self.d.cli("capf", *words, json_mode=True)
        try:
            return r.returncode, json.loads(r.stdout)
        except ValueError:
            return r.returncode, None

    @staticmethod
    def kv(answer):
        return {row[0]: row[1] for row in answer["rows"]}

    def db_row(self, instance_id):
        """The row as stored, read behind the daemon's back (the test may; SQL through
        telgate reads the secret column as NULL)."""
        db = sqlite3.connect(os.path.join(self.d.state, "telgate.db"))
        try:
            return db.execute("SELECT secretkind, secrethash, status, used FROM capfprofile "
                              "WHERE instanceid = ?", (instance_id,)).fetchone()
        finally:
            db.close()

    def audit_text(self):
        r = self.d.cli("show", "audit", "512", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.dumps(json.loads(r.stdout)["rows"])

    def assert_nowhere(self, secret):
        """The string is in no log line, audit record or stored column."""
        self.assertNotIn(secret, self.d.log_text())
        self.assertNotIn(secret, self.audit_text())
        with open(os.path.join(self.d.state, "telgate.db"), "rb") as f:
            self.assertNotIn(secret.encode(), f.read())

    def test_generated_string_shown_once(self):
        self.start()
        rc, a = self.capf("add", "wwhite", "--instance-id", "1234", "--key", "ec-p384",
                          "--operation", "install", "--expires-in", "2h")
        self.assertEqual(rc, 0, a)
        kv = self.kv(a)
        secret = kv["auth_string"]
        self.assertRegex(secret, BASE32)  # 26 base32 characters: 130 bits
        self.assertEqual(kv["user"], "wwhite")
        self.assertEqual(kv["key"], "ec-p384")
        self.assertEqual(kv["status"], "pending")
        self.assertIn("shown this once", a["message"])
        # The table form prints it too (the only time).
        rc, b = self.capf("add", "jpinkman", "--instance-id", "5678")
        self.assertEqual(rc, 0)
        r = self.d.cli("capf", "show", "5678")
        self.assertNotIn(self.kv(b)["auth_string"], r.stdout)
        # Show never shows it, nor its hash.
        rc, s = self.capf("show", "1234")
        self.assertEqual(rc, 0)
        show = self.kv(s)
        self.assertEqual(show["auth_string"], "generated, stored as HMAC-SHA-256")
        self.assertEqual(show["status"], "pending")
        self.assertEqual(show["failures"], "0 of 10")
        self.assertEqual(show["used"], "false")
        self.assertNotIn(secret, json.dumps(s))
        stored = self.db_row("1234")
        self.assertEqual(stored[0], "hmac")
        self.assertRegex(stored[1], r"^[0-9a-f]{64}$")
        self.assertNotIn(json.dumps(s), stored[1])
        # Ad-hoc SQL reads the secret column as NULL through *, and refuses to name it.
        rc, rows = self.d.sql("select * from capfprofile order by instanceid")
        self.assertEqual(rc, 0)
        cols = rows["columns"]
        self.assertEqual([[r[cols.index(c)] for c in ("instanceid", "secretkind", "secrethash")]
                          for r in rows["rows"]],
                         [["1234", "hmac", None], ["5678", "hmac", None]])
        r = self.d.cli("run", "sql", "select instanceid, secretkind, secrethash from "
                       "capfprofile order by instanceid")
        self.assertEqual(r.returncode, 1)
        self.assertIn("refused: capfprofile.secrethash is a secret column", r.stderr)
        self.assert_nowhere(secret)
        self.assertRegex(self.d.log_text(), r"event=capf_profile_added instance_id=1234 "
                                            r"user=wwhite auth_mode=string secret=hmac "
                                            r"key=ec-p384 operation=install")
        # The capf key: made once, owner only, 32 bytes.
        key = os.path.join(self.d.state, "pki", "capf.key")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(key).st_size, 32)

    def test_chosen_string_and_minimum(self):
        self.start()
        # The default minimum is 12: the seed's short string is refused.
        r = self.d.cli("capf", "add", "wwhite", "--instance-id", "77", "--auth-string",
                       "12345")
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn("capf_min_length", r.stderr)
        self.assertIn("at least 12 characters", r.stderr)
        self.assertNotIn("12345", r.stderr)
        self.assertEqual(self.capf("show", "77")[0], 1)
        rc, a = self.capf("add", "wwhite", "--instance-id", "77", "--auth-string",
                          "horse-battery-staple")
        self.assertEqual(rc, 0, a)
        self.assertEqual(self.kv(a)["auth_string"], "(as given; not shown)")
        self.assertNotIn("shown this once", a["message"])
        self.assertEqual(self.kv(self.capf("show", "77")[1])["auth_string"],
                         "chosen by an administrator, stored as argon2id")
        kind, digest, _, _ = self.db_row("77")
        self.assertEqual(kind, "argon2id")
        self.assertTrue(digest.startswith("$argon2id$"), digest)
        self.assert_nowhere("horse-battery-staple")
        self.assert_nowhere("12345")
        # The audit records both commands, the string redacted.
        audit = json.loads(self.d.cli("show", "audit", json_mode=True).stdout)["rows"]
        self.assertEqual([row[3] for row in audit],
                         ["capf add wwhite --instance-id 77 --auth-string (redacted)"] * 2)
        self.assertEqual([row[4] for row in audit], ["error", "ok"])
        self.assertRegex(self.d.log_text(),
                         r'event=admin_audit .*command="capf add wwhite --instance-id 77 '
                         r'--auth-string \(redacted\)" result=ok')

    def test_short_string_when_configured(self):
        self.start(min_length=4)
        rc, a = self.capf("add", "mjavier", "--instance-id", "4711", "--auth-string", "12345")
        self.assertEqual(rc, 0, a)
        self.assertIn("warning: the authentication string is shorter than 12", a["message"])
        self.assertRegex(self.d.log_text(), r"event=capf_short_auth_string instance_id=4711 "
                                            r"length=5 advised=12 capf_min_length=4")
        self.assertEqual(self.capf("add", "mjavier", "--instance-id", "4712",
                                   "--auth-string", "123")[0], 64)
        self.assertEqual(self.capf("add", "mjavier", "--instance-id", "4713",
                                   "--auth-string", "12 45")[0], 64)

    def test_list_show_delete_rearm(self):
        self.start()
        for words in (["wwhite", "--instance-id", "2"],
                      ["wwhite", "--instance-id", "1", "--operation", "delete", "--key",
                       "rsa-2048"],
                      ["jpinkman", "--instance-id", "3", "--auth-mode", "none"]):
            rc, a = self.capf("add", *words)
            self.assertEqual(rc, 0, a)
        rc, a = self.capf("list")
        self.assertEqual(rc, 0)
        self.assertEqual(a["columns"], LIST_COLUMNS)
        self.assertEqual([row[:8] for row in a["rows"]],
                         [["1", "wwhite", "string", "rsa-2048", "delete", "pending", "-", "0"],
                          ["2", "wwhite", "string", "ec-p256", "install", "pending", "-", "0"],
                          ["3", "jpinkman", "none", "ec-p256", "install", "pending", "-",
                           "0"]])
        self.assertEqual([row[0] for row in self.capf("list", "wwhite")[1]["rows"]],
                         ["1", "2"])
        self.assertEqual(self.capf("list", "nobody")[1]["rows"], [])
        # The table form: a header, underlines, a row per profile.
        lines = self.d.cli("capf", "list").stdout.splitlines()
        self.assertEqual(lines[0].split(), LIST_COLUMNS)
        self.assertEqual(lines[2].split()[:6], ["1", "wwhite", "string", "rsa-2048", "delete",
                                                "pending"])
        # Auth mode none: nothing to show, a warning, and no string on rearm.
        rc, s = self.capf("show", "3")
        self.assertEqual(self.kv(s)["auth_string"], "none")
        self.assertEqual(self.capf("rearm", "3", "--auth-string", "abcdefghijklmnop")[0], 64)

        # Delete.
        rc, a = self.capf("delete", "2")
        self.assertEqual((rc, a["message"]), (0, "profile 2 deleted"))
        self.assertEqual(self.capf("delete", "2")[0], 1)
        self.assertEqual(self.capf("show", "2")[0], 1)

        # A profile locked by wrong strings (ten, by the EST layer: written here) is
        # re-armed: pending, no failures, a new string, a new expiry.
        rc, a = self.capf("add", "wwhite", "--instance-id", "9")
        old = self.kv(a)["auth_string"]
        db = sqlite3.connect(os.path.join(self.d.state, "telgate.db"))
        db.execute("UPDATE capfprofile SET status = 'locked', failures = 10 "
                   "WHERE instanceid = '9'")
        db.commit()
        db.close()
        show = self.kv(self.capf("show", "9")[1])
        self.assertEqual((show["status"], show["failures"]), ("locked", "10 of 10"))
        old_hash = self.db_row("9")[1]
        rc, a = self.capf("rearm", "9", "--expires-in", "30m")
        self.assertEqual(rc, 0, a)
        new = self.kv(a)["auth_string"]
        self.assertRegex(new, BASE32)
        self.assertNotEqual(new, old)
        self.assertIn("re-armed (was locked)", a["message"])
        show = self.kv(self.capf("show", "9")[1])
        self.assertEqual((show["status"], show["failures"], show["used"]),
                         ("pending", "0 of 10", "false"))
        self.assertNotEqual(self.db_row("9")[1], old_hash)
        # Rearm with a chosen string: argon2id from now on.
        rc, a = self.capf("rearm", "9", "--auth-string", "a-long-enough-one")
        self.assertEqual(rc, 0, a)
        self.assertEqual(self.db_row("9")[0], "argon2id")
        self.assertEqual(self.capf("rearm", "404")[0], 1)
        self.assert_nowhere(new)
        self.assert_nowhere("a-long-enough-one")
        audit = [row[3] for row in json.loads(
            self.d.cli("show", "audit", json_mode=True).stdout)["rows"]]
        self.assertIn("capf rearm 9 --auth-string (redacted)", audit)
        self.assertIn("capf delete 2", audit)

    def test_expiry(self):
        self.start()
        rc, a = self.capf("add", "wwhite", "--instance-id", "5", "--expires-in", "1s")
        self.assertEqual(rc, 0, a)
        # Computed on read: once the second has passed, the profile reads expired.
        deadline = time.time() + 20
        status = None
        while time.time() < deadline:
            status = self.kv(self.capf("show", "5")[1])["status"]
            if status == "expired":
                break
            time.sleep(0.2)
        self.assertEqual(status, "expired")
        self.assertEqual(self.capf("list")[1]["rows"][0][5], "expired")
        # Rearm makes it pending again, 24 h from now by default.
        rc, a = self.capf("rearm", "5")
        self.assertEqual(rc, 0)
        self.assertIn("was expired", a["message"])
        self.assertEqual(self.kv(self.capf("show", "5")[1])["status"], "pending")

    def test_usage_errors(self):
        self.start()
        for words, status, text in (
                (["add", "wwhite"], 64, "usage: capf add USER --instance-id ID"),
                (["add", "wwhite", "--auth-mode", "none"], 64, "needs --instance-id"),
                (["add", "wwhite", "--instance-id", "1", "--color", "red"], 64,
                 "unknown option '--color'"),
                (["add", "wwhite", "--instance-id", "1", "--key"], 64, "--key needs a value"),
                (["add", "wwhite", "--instance-id", "1", "--key", "rsa-1024"], 64,
                 "use ec-p256, ec-p384, rsa-2048 or rsa-3072"),
                (["add", "wwhite", "--instance-id", "1", "--operation", "upgrade"], 64,
                 "use install or delete"),
                (["add", "wwhite", "--instance-id", "1", "--expires-in", "2w"], 64,
                 "a duration such as 30m, 24h or 7d"),
                (["add", "wwhite", "--instance-id", "a:b"], 64, "only letters, digits"),
                (["add", "wwhite", "--instance-id", "1", "--instance-id", "2"], 64,
                 "--instance-id given twice"),
                (["add", "wwhite", "--instance-id", "1", "--auth-mode", "none",
                  "--auth-string", "abcdefghijklmnop"], 64, "takes no --auth-string"),
                (["add", "nobody", "--instance-id", "1"], 1, "no user 'nobody'"),
                (["show", "1"], 1, "no profile with instance id '1'"),
                (["rearm", "1", "--expires-in"], 64, "--expires-in needs a value"),
        ):
            r = self.d.cli("capf", *words)
            self.assertEqual(r.returncode, status, (words, r.stderr))
            self.assertIn(text, r.stderr, words)
        self.assertEqual(self.capf("add", "wwhite", "--instance-id", "1")[0], 0)
        r = self.d.cli("capf", "add", "jpinkman", "--instance-id", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("already has a profile", r.stderr)
        self.assertIn("capf add USER --instance-id ID",
                      self.d.cli("help").stdout)


if __name__ == "__main__":
    test_daemon.main()
