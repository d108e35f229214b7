#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of `telgate backup` and `telgate restore` (issue 17): a provisioned node is
backed up while it runs and is written to (the passphrase from a file), stopped, its state
directory wiped, restored and started again: the same users, devices, enrolment profiles
and parameters, the same CA (fingerprint in `telgate status`), every key file byte for byte
with its mode, and the restored CA key signs what the original CA certificate verifies.
Refusals write nothing: a running daemon, a wrong passphrase, a changed byte, a cut file;
backup refuses without a daemon, over an existing file, with a short passphrase or without
a terminal to ask on."""
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402

PASSPHRASE = "a passphrase kept apart from the backups"


class BackupTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgbackup")
        self.d = test_daemon.Daemon(self.root)
        self.pki = os.path.join(self.d.state, "pki")
        self.pass_file = self.secret_file("pass", PASSPHRASE)
        self.archive = os.path.join(self.root, "node.tgbackup")

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def secret_file(self, name, text):
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            f.write(text + "\n")
        os.chmod(path, 0o600)
        return path

    def run_cli(self, *words, json_mode=False, stdin=None):
        cmd = [test_daemon.ARGS.telgate, "-c", self.d.conf] + \
            (["--json"] if json_mode else []) + list(words)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                              stdin=stdin if stdin is not None else subprocess.DEVNULL)

    def backup(self, path=None, pass_file=None):
        return self.run_cli("backup", path or self.archive, "--passphrase-file",
                            pass_file or self.pass_file, json_mode=True)

    def restore(self, path=None, pass_file=None, json_mode=True):
        return self.run_cli("restore", path or self.archive, "--passphrase-file",
                            pass_file or self.pass_file, json_mode=json_mode)

    def status(self):
        r = self.d.cli("status", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return {row[0]: row[1] for row in json.loads(r.stdout)["rows"]}

    def rows(self, *words):
        r = self.d.cli(*words, json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["rows"]

    def pki_files(self):
        """{relative path: (sha256, mode)} of every file under pki.dir."""
        out = {}
        for top, _, files in os.walk(self.pki):
            for name in files:
                p = os.path.join(top, name)
                with open(p, "rb") as f:
                    out[os.path.relpath(p, self.pki)] = (hashlib.sha256(f.read()).hexdigest(),
                                                         stat.S_IMODE(os.stat(p).st_mode))
        return out

    def provision(self):
        self.d.start("--provision", os.path.join(test_daemon.ARGS.examples, "demo.json"))
        for user, iid in (("wwhite", "1001"), ("jpinkman", "1002")):
            r = self.d.cli("capf", "add", user, "--instance-id", iid)
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.d.cli("set", "param", "ClusterSIPOAuthMode", "1").returncode, 0)
        # The first CRL is written by a worker a few seconds after the start (telgated.c,
        # later when the signer is slow to answer): it is part of pki.dir, so the files a
        # test compares are settled only once it is there.
        deadline = time.time() + 120
        while "event=ca_crl_issued" not in self.d.log_text() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn("event=ca_crl_issued", self.d.log_text())

    def state_files(self):
        if not os.path.exists(self.d.state):
            return []
        return sorted(os.path.relpath(os.path.join(t, n), self.d.state)
                      for t, _, names in os.walk(self.d.state) for n in names)

    def test_backup_wipe_restore(self):
        self.provision()
        before = self.status()
        users = self.rows("run", "sql", "select userid from enduser order by userid")
        capf = self.rows("capf", "list")
        param = self.rows("get", "param", "ClusterSIPOAuthMode")
        files = self.pki_files()
        self.assertIn("capf.key", files)
        with open(os.path.join(self.pki, "ca.crt"), "rb") as f:
            ca_crt = f.read()

        # Backed up while another administrator keeps writing: the copy is one state.
        stop = threading.Event()

        def writer():
            n = 0
            while not stop.is_set():
                self.d.cli("capf", "add", "mjavier", "--instance-id", "9%03d" % n)
                self.d.cli("capf", "delete", "9%03d" % n)
                n += 1
        t = threading.Thread(target=writer)
        t.start()
        try:
            r = self.backup()
        finally:
            stop.set()
            t.join()
        self.assertEqual(r.returncode, 0, r.stderr)
        summary = json.loads(r.stdout)
        names = [row[0] for row in summary["rows"]]
        self.assertEqual(names[:2], ["meta.json", "store.db"])
        self.assertEqual(sorted(n[4:] for n in names[2:]), sorted(files))
        self.assertEqual(summary["ca_fingerprint_sha256"], before["ca_fingerprint_sha256"])
        self.assertEqual(summary["bytes"], os.path.getsize(self.archive))
        self.assertEqual(stat.S_IMODE(os.stat(self.archive).st_mode), 0o600)
        # Encrypted: no key, certificate or SQLite page in clear; the daemon's copy is gone.
        with open(self.archive, "rb") as f:
            blob = f.read()
        self.assertTrue(blob.startswith(b"TGBACKUP"))
        for clear in (b"BEGIN", b"SQLite format 3", b"wwhite", b"1001"):
            self.assertNotIn(clear, blob)
        self.assertEqual([n for n in os.listdir(self.d.state) if n.startswith("snapshot-")], [])
        self.assertIn("store_snapshot", self.d.log_text())
        self.assertIn("store snapshot", json.dumps(self.rows("show", "audit", "512")))

        # Restore refuses while the daemon runs, and changes nothing.
        r = self.restore()
        self.assertEqual(r.returncode, 1)
        self.assertIn("telgated is running", r.stderr)
        self.assertEqual(self.pki_files(), files)

        self.assertEqual(self.d.stop(), 0)
        shutil.rmtree(self.d.state)
        restore_time = int(time.time())
        r = self.restore()
        self.assertEqual(r.returncode, 0, r.stderr)
        answer = json.loads(r.stdout)
        # The CRL number moves past any CRL the old node may have published after its
        # backup (RFC 5280: it only grows), and the message says what was not in the backup.
        self.assertGreaterEqual(answer["crl_number"], restore_time)
        self.assertIn("revoke them again", answer["message"])
        self.assertEqual(answer["backup"]["ca_fingerprint_sha256"],
                         before["ca_fingerprint_sha256"])
        self.assertIn("restored %d files" % (len(files) + 1), answer["message"])
        self.assertEqual(self.pki_files(), files)  # bytes and modes
        self.assertEqual(files["ca.key"][1], 0o600)
        self.assertEqual(files["capf.key"][1], 0o600)
        db = sqlite3.connect(os.path.join(self.d.state, "telgate.db"))
        self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        db.close()

        # A snapshot left by a backup that was killed is removed at start.
        stale = os.path.join(self.d.state, "snapshot-AbC123.db")
        with open(stale, "wb") as f:
            f.write(b"SQLite format 3\0")
        self.d.start()
        self.assertFalse(os.path.exists(stale))
        after = self.status()
        for key in ("ca_fingerprint_sha256", "users", "devices", "associations",
                    "schema_version"):
            self.assertEqual(after[key], before[key], key)
        self.assertEqual(self.rows("run", "sql", "select userid from enduser "
                                   "order by userid"), users)
        restored_capf = self.rows("capf", "list")
        for row in capf:
            self.assertIn(row, restored_capf)
        self.assertEqual(self.rows("get", "param", "ClusterSIPOAuthMode"), param)
        self.assertEqual(self.rows("run", "sql", "select number from crlnumber"),
                         [[str(answer["crl_number"])]])
        started = [line for line in self.d.log_text().splitlines() if "event=pki_ready" in line]
        self.assertIn("ca_created=no", started[-1])  # the restored CA, not a new one

        # The restored CA key is the key of the original CA certificate: what it signs,
        # that certificate verifies.
        saved = os.path.join(self.root, "original-ca.crt")
        with open(saved, "wb") as f:
            f.write(ca_crt)
        pub = os.path.join(self.root, "ca.pub")
        subprocess.run(["openssl", "x509", "-in", saved, "-pubkey", "-noout", "-out", pub],
                       check=True)
        data = os.path.join(self.root, "data")
        with open(data, "wb") as f:
            f.write(b"signed after the restore")
        sig = os.path.join(self.root, "data.sig")
        subprocess.run(["openssl", "dgst", "-sha256", "-sign",
                        os.path.join(self.pki, "ca.key"), "-out", sig, data], check=True)
        v = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig,
                            data], capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertIn("Verified OK", v.stdout)

    def test_refusals_write_nothing(self):
        self.provision()
        r = self.backup()
        self.assertEqual(r.returncode, 0, r.stderr)
        # Never over an existing file.
        r = self.backup()
        self.assertEqual(r.returncode, 1)
        self.assertIn("exists", r.stderr)
        # A short passphrase is refused; without a file and a terminal, nothing to ask on.
        r = self.backup(os.path.join(self.root, "b2"), self.secret_file("short", "short"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("at least 12 characters", r.stderr)
        r = self.run_cli("backup", os.path.join(self.root, "b3"))
        self.assertEqual(r.returncode, 66)
        self.assertIn("--passphrase-file", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.root, "b2")))
        self.assertFalse(os.path.exists(os.path.join(self.root, "b3")))
        self.assertEqual(self.run_cli("backup").returncode, 64)
        self.assertEqual(self.run_cli("restore", "x", "--passphrase").returncode, 64)

        self.assertEqual(self.d.stop(), 0)
        r = self.backup(os.path.join(self.root, "b4"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("running telgated", r.stderr)
        shutil.rmtree(self.d.state)

        with open(self.archive, "rb") as f:
            blob = f.read()
        tampered = os.path.join(self.root, "tampered")
        with open(tampered, "wb") as f:
            f.write(blob[:len(blob) // 2] + bytes([blob[len(blob) // 2] ^ 1]) +
                    blob[len(blob) // 2 + 1:])
        cut = os.path.join(self.root, "cut")
        with open(cut, "wb") as f:
            f.write(blob[:-100])
        for path, pass_file, text in (
                (self.archive, self.secret_file("wrong", PASSPHRASE + "!"), "wrong passphrase"),
                (tampered, None, "altered"),
                (cut, None, "altered, damaged or cut short"),
                (os.path.join(self.root, "missing"), None, "No such file"),
        ):
            r = self.restore(path, pass_file, json_mode=False)
            self.assertNotEqual(r.returncode, 0, path)
            self.assertIn(text, r.stderr)
            self.assertIn("nothing was restored", r.stderr)
            self.assertEqual(self.state_files(), [], path)
        r = self.restore(json_mode=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("restored", r.stdout)
        self.d.start()
        self.assertEqual(len(self.rows("capf", "list")), 2)


if __name__ == "__main__":
    test_daemon.main()
