#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of privilege separation (issue 17): telgated runs as three processes — the
monitor (the PID the test started), the network engine (as the service user, not
dumpable) and the signer (nice 10, under seccomp); the engine's memory does not hold the
CA's private key while the signer's does; the signing keys stay root's; a signer killed
with SIGKILL is replaced, the SignerRestarted alarm is raised and `telgate show signer`
says restarts=1; the engine killed with SIGKILL ends the monitor with a non-zero status and
the signer with it; the monitor killed alone ends both."""
import base64
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402

USER = "nobody"


def status_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].split()
    return None


def nice_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])  # field 19


def memory_holds(pid, needles):
    """Whether any readable mapping of pid contains one of the byte strings (as root,
    /proc/PID/mem is readable even when the process is not dumpable). Mappings above 1 GiB
    are reservations (a sanitizer's shadow memory and allocator), skipped; the others are
    read 8 MiB at a time, overlapping by a needle's length."""
    longest = max(len(n) for n in needles)
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]")):
                continue
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if hi - lo > 1 << 30:
                continue
            tail = b""
            for at in range(lo, hi, 8 << 20):
                try:
                    mem.seek(at)
                    chunk = tail + mem.read(min(8 << 20, hi - at))
                except OSError:
                    tail = b""
                    continue
                if any(n in chunk for n in needles):
                    return True
                tail = chunk[-longest:]
    return False


def sanitized(pid):
    with open(f"/proc/{pid}/maps") as f:
        return any(int(l.split()[0].split("-")[1], 16) - int(l.split()[0].split("-")[0], 16)
                   > 1 << 40 for l in f)


def ec_private_scalar(path):
    """The CA key's private scalar as bytes, from `openssl pkey -text`."""
    out = subprocess.run(["openssl", "pkey", "-in", path, "-noout", "-text"], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"priv:\s*\n((?:\s+[0-9a-f:]+\n)+)", out)
    raw = bytes.fromhex(re.sub(r"[\s:]", "", m.group(1)))
    return raw.lstrip(b"\0").rjust(32, b"\0")


class SignerTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgsigner")
        os.chmod(self.root, 0o755)  # the engine, as the service user, reaches its state
        self.d = test_daemon.Daemon(self.root, f"[core]\nuser = {USER}\n")
        self.d.start()

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def signer(self, want_pid=None):
        """`show signer` as a dict once the signer said hello (and, with want_pid, once
        its pid differs from want_pid): the RSA keys are made at first start."""
        deadline = time.time() + 60
        while time.time() < deadline:
            r = self.d.cli("show", "signer", json_mode=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            rows = dict(json.loads(r.stdout)["rows"])
            if rows["pid"] != "0" and rows["pid"] != want_pid:
                return rows
            time.sleep(0.1)
        self.fail("the signer never said hello")

    def test_processes_keys_and_restarts(self):
        s = self.signer()
        kids = self.d.children()
        engine, signer = kids.get("engine"), kids.get("signer")
        self.assertIsNotNone(engine)
        self.assertEqual(str(signer), s["pid"])
        monitor = self.d.proc.pid
        # The monitor is root; the engine runs as the service user and is not dumpable
        # (its /proc files then belong to root, not to its uid); the signer is nice 10.
        nobody = pwd.getpwnam(USER).pw_uid
        self.assertEqual(status_field(monitor, "Uid")[0], "0")
        self.assertEqual(status_field(engine, "Uid")[0], str(nobody))
        self.assertEqual(os.stat(f"/proc/{engine}/status").st_uid, 0)
        self.assertEqual(nice_of(signer), 10)
        self.assertEqual(nice_of(engine), 0)
        if s["seccomp"] == "on":
            self.assertEqual(status_field(signer, "Seccomp")[0], "2")
        self.assertEqual(s["mode"], "process")
        self.assertEqual(s["restarts"], "0")
        self.assertEqual(s["queue_max"], "256")
        self.assertIn("CN=telgate CA", s["key_ca_subject"])
        self.assertIn("CN=telgate TFTP", s["key_trustlist_subject"])
        self.assertIn("CN=ITLRECOVERY_", s["key_recovery_subject"])
        self.assertEqual(s["key_token_subject"], "absent")
        # The signing keys are root's and 0600; the server key was given to the engine.
        pki = os.path.join(self.d.state, "pki")
        for name in ("ca.key", "trustlist.key", "recovery.key"):
            st = os.stat(os.path.join(pki, name))
            self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (0, 0o600), name)
        self.assertEqual(os.stat(os.path.join(pki, "server.key")).st_uid, nobody)
        # The CA's private scalar: in the signer's memory (big-endian bytes or OpenSSL's
        # little-endian limbs), never in the engine's.
        scalar = ec_private_scalar(os.path.join(pki, "ca.key"))
        needles = [scalar, scalar[::-1]]
        if not memory_holds(signer, needles):
            # Under ASan the heap lives in the allocator's reservation this search skips.
            self.assertTrue(sanitized(signer), "the search does not find the key in the signer")
        self.assertFalse(memory_holds(engine, needles), "the CA key is in the engine's memory")

        # The signer killed: a new one, the alarm, restarts=1.
        os.kill(signer, signal.SIGKILL)
        s2 = self.signer(want_pid=s["pid"])
        self.assertEqual(s2["restarts"], "1")
        self.assertEqual(self.d.children().get("signer"), int(s2["pid"]))
        self.assertEqual(self.d.children().get("engine"), engine)
        r = self.d.cli("show", "alarms")
        self.assertIn("SignerRestarted", r.stdout)
        self.assertRegex(self.d.log_text(), rf"event=signer_exited pid={signer} status=137 "
                                            rf"signal=9 restarts=1")
        self.assertEqual(s2["key_ca_sha256"], s["key_ca_sha256"])
        # The OAuth token key (issue 18): made by the first signer after the monitor had
        # loaded its keys, kept as pki/tokens/<kid>.key (root's, 0600), and read from there
        # by the new signer: tokens still sign with it.
        tokens = os.path.join(pki, "tokens")
        files = os.listdir(tokens)
        self.assertEqual(len(files), 1, files)
        st = os.stat(os.path.join(tokens, files[0]))
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (0, 0o600))
        self.assertEqual(stat.S_IMODE(os.stat(tokens).st_mode), 0o700)
        r = self.d.cli("run", "sql", "SELECT kid FROM oauthkey", json_mode=True)
        self.assertEqual(json.loads(r.stdout)["rows"], [[files[0][:-4]]])
        prov = os.path.join(self.root, "user.json")
        with open(prov, "w") as f:
            json.dump({"version": 1, "users": [{"userid": "jpinkman", "directory": "local",
                                                "password": "Cap-n-Cook-1"}]}, f)
        os.chmod(prov, 0o644)
        self.assertEqual(self.d.cli("import", prov).returncode, 0)
        r = self.d.cli("oauth", "issue", "jpinkman", "--aud", "cti", "--client", "t")
        self.assertEqual(r.returncode, 0, r.stderr)
        head = r.stdout.strip().split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
        self.assertEqual(header["kid"], files[0][:-4])

        # SIGTERM still stops all three, with status 0.
        new_signer = int(s2["pid"])
        self.assertEqual(self.d.stop(), 0)
        self.assertFalse(os.path.exists(f"/proc/{new_signer}"))
        self.assertFalse(os.path.exists(f"/proc/{engine}"))

    def test_engine_killed_ends_the_monitor(self):
        s = self.signer()
        kids = self.d.children()
        os.kill(kids["engine"], signal.SIGKILL)
        self.d.exit_expected = True
        self.assertEqual(self.d.proc.wait(timeout=30), 128 + signal.SIGKILL)
        deadline = time.time() + 60
        while os.path.exists(f"/proc/{s['pid']}") and time.time() < deadline:
            time.sleep(0.05)
        self.assertFalse(os.path.exists(f"/proc/{s['pid']}"), "the signer outlived the engine")
        self.assertRegex(self.d.log_text(), rf"event=engine_exited pid={kids['engine']} "
                                            rf"status=137")

    def test_monitor_killed_ends_engine_and_signer(self):
        """A monitor killed alone (kill -9, the OOM killer) must not leave an engine serving
        without a signer, nor a signer holding the keys: both get SIGTERM from the kernel
        (PR_SET_PDEATHSIG) and end."""
        # The engine may serve before the signer exists (on a loaded machine the RSA keys
        # of a first start, made after the engine is forked, can outlast the engine's wait
        # for its first token key): the signer's hello first, then both are there.
        s = self.signer()
        kids = self.d.children()
        self.assertEqual(str(kids.get("signer")), s["pid"])
        self.assertEqual(set(kids), {"engine", "signer"})
        self.d.exit_expected = True
        self.d.proc.kill()
        self.d.proc.wait(timeout=30)
        deadline = time.time() + 20
        alive = list(kids.values())
        while alive and time.time() < deadline:
            alive = [p for p in alive if os.path.exists(f"/proc/{p}")
                     and status_field(p, "State")[0] != "Z"]
            time.sleep(0.05)
        self.assertEqual(alive, [], f"outlived the monitor: {kids}")


if __name__ == "__main__":
    test_daemon.main()
