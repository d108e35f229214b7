#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test: starts telgated on a temporary state directory and drives it with the
telgate CLI (and a raw control-socket client) the way an administrator would."""
import argparse
import base64
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from ports import free_port  # noqa: E402,F401 (the tests call test_daemon.free_port)

ARGS = None
# The store backend of every Daemon: PostgreSQL when tests/system/pg.py runs the script
# (it sets this to its server's superuser connection string), else SQLite.
PG_ADMIN = os.environ.get("TELGATE_TEST_PG", "")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "AddressSanitizer:DEADLYSIGNAL")


def frame(obj):
    body = json.dumps(obj).encode()
    return struct.pack(">I", len(body)) + body


def read_frame(sock):
    hdr = b""
    while len(hdr) < 4:
        chunk = sock.recv(4 - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    (n,) = struct.unpack(">I", hdr)
    body = b""
    while len(body) < n:
        chunk = sock.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return json.loads(body)


def stunnel_client(root, connect_port, ca, cert=None):
    """stunnel as a TLS client (TLS 1.2+, the server verified against ca for "localhost"),
    optionally presenting cert = (crt, key): a program that speaks plain TCP (Debian's SIPp
    has no TLS) connects to the returned local port. Returns (process, port)."""
    port = free_port()
    conf = os.path.join(root, f"stunnel-{port}.conf")
    with open(conf, "w") as f:
        f.write(f"foreground = yes\npid =\n[tls]\nclient = yes\n"
                f"accept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{connect_port}\n"
                f"CAfile = {ca}\nverifyChain = yes\ncheckHost = localhost\n"
                f"sslVersionMin = TLSv1.2\n")
        if cert:
            f.write(f"cert = {cert[0]}\nkey = {cert[1]}\n")
    p = subprocess.Popen(["stunnel4", conf], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p, port
        except OSError:
            time.sleep(0.1)
    p.kill()
    raise AssertionError("stunnel did not start")


class Daemon:
    def __init__(self, root, extra=""):
        self.root = root
        self.state = os.path.join(root, "state")
        self.conf = os.path.join(root, "telgated.conf")
        self.log = os.path.join(root, "telgated.log")
        self.sock = os.path.join(self.state, "telgated.sock")
        self.cti_port, self.cti_tls_port = free_port(), free_port()
        self.sip_port, self.sip_tls_port = free_port(), free_port()
        self.sip_edge_port = free_port(top=49151)  # the node's sipMRAOAuthPort
        self.admin_port = free_port()
        self.files_http_port, self.tftp_port = free_port(), free_port("udp")
        self.files_https_port = free_port()
        self.est_port = free_port()
        self.store_conf = self.pg_store() if PG_ADMIN else ""
        self.write_conf("info", extra)
        self.proc = None
        # telgated's stderr, every run appended: a sanitizer report lands here (the log
        # file does not get it), and a file never blocks the daemon like a full pipe.
        self.stderr_path = os.path.join(root, "telgated.stderr")
        self.stderr_file = None
        self.exit_expected = False
        self.nofile = None  # RLIMIT_NOFILE (soft = hard) for telgated, None = inherited

    def write_conf(self, level, extra=""):
        with open(self.conf, "w") as f:
            f.write(f"[core]\nstate_dir = {self.state}\nthreads = 2\nworkers = 2\n"
                    f"[log]\nlevel = {level}\ntarget = file:{self.log}\n"
                    f"[password]\nargon2_t = 1\nargon2_m_kib = 1024\n"
                    f"[admin]\nhttp_address = 127.0.0.1\nhttp_port = {self.admin_port}\n"
                    f"[cti]\nport = {self.cti_port}\ntls_port = {self.cti_tls_port}\n"
                    f"address = 127.0.0.1\n"
                    f"[files]\naddress = 127.0.0.1\nhttp_port = {self.files_http_port}\n"
                    f"tftp_port = {self.tftp_port}\nhttps_port = {self.files_https_port}\n"
                    f"[est]\naddress = 127.0.0.1\nport = {self.est_port}\n"
                    f"[sip]\nport = {self.sip_port}\ntls_port = {self.sip_tls_port}\n"
                    f"edge_port = {self.sip_edge_port}\n"
                    f"address = 127.0.0.1\n{self.store_conf}{extra}")

    def store_rows(self, query, write=False):
        """query run on the store directly, behind the daemon's back (sqlite3 on the file
        with foreign keys on, psql on PostgreSQL): its rows as tuples of strings (sqlite3's
        values as they are)."""
        if PG_ADMIN:
            out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t",
                                  "-v", "ON_ERROR_STOP=1", self.pg_conninfo, "-c", query],
                                 capture_output=True, text=True, timeout=60, check=True)
            return [tuple(x.split("\t")) for x in out.stdout.splitlines()]
        import sqlite3
        db = sqlite3.connect(os.path.join(self.state, "telgate.db"), timeout=10)
        try:
            db.execute("PRAGMA foreign_keys = ON")
            rows = list(db.execute(query))
            if write:
                db.commit()
            return rows
        finally:
            db.close()

    def store_bytes(self):
        """Everything the store holds, as bytes: the SQLite file, or pg_dump's output."""
        if PG_ADMIN:
            return subprocess.run(["pg_dump", "-d", self.pg_conninfo], capture_output=True,
                                  timeout=120, check=True).stdout
        with open(os.path.join(self.state, "telgate.db"), "rb") as f:
            return f.read()

    def store_arg(self):
        """The store as the test tools (tests/tools/cert_issue) take it: the SQLite file, or
        postgres:<conninfo file>."""
        if PG_ADMIN:
            return "postgres:" + os.path.join(self.root, "conninfo")
        return os.path.join(self.state, "telgate.db")

    def pg_store(self):
        """A database of this daemon's own on the test PostgreSQL server, its connection
        string (with the password) in a file only its owner may read."""
        import pg  # tests/system/pg.py, next to this file
        path = os.path.join(self.root, "conninfo")
        if os.path.exists(path):  # a daemon restarted on the same root: the same store
            with open(path) as f:
                self.pg_conninfo = f.read().strip()
        else:
            name = "tg_%d_%d_%d" % (os.getpid(), int(time.time() * 1000) % 10**9,
                                    random.randrange(10**6))
            self.pg_conninfo = pg.new_database(PG_ADMIN, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.pg_conninfo + "\n")
        # The cluster's key-encryption key (docs/cluster.md): kept next to the conninfo
        # file, so that a node given this node's files shares its keys.
        kek = os.path.join(self.root, "kek")
        if not os.path.exists(kek):
            fd = os.open(kek, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(base64.b64encode(os.urandom(48)).decode() + "\n")
        return (f"[store]\nbackend = postgres\nconninfo_file = {path}\n"
                f"[pki]\nkek_file = {kek}\n")

    def start(self, *extra_args, wait=True):
        """Starts telgated; wait=False: the caller expects it to exit by itself and reads
        its stderr with stderr_text() after proc.wait()."""
        self.close_pipes()
        self.stderr_file = open(self.stderr_path, "ab")
        limit = self.nofile
        pre = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))) \
            if limit else None
        self.proc = subprocess.Popen([ARGS.telgated, "-c", self.conf, *extra_args],
                                     stdout=subprocess.DEVNULL, stderr=self.stderr_file,
                                     preexec_fn=pre)
        self.exit_expected = not wait
        if not wait:
            return self.proc
        # Generous: a first start makes the CA and the signers' RSA keys, and a loaded
        # machine (ctest -j2, a sanitizer build) takes several times as long as an idle one.
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("telgated exited: %s" % self.stderr_text())
            if os.path.exists(self.sock) and self.cli("status").returncode == 0:
                return self.proc
            time.sleep(0.05)
        raise AssertionError("telgated did not come up")

    def children(self):
        """The monitor's children (issue 17) by role: {"engine": pid, "signer": pid}; the
        signer is the one named telgated-signer, the engine the first other one. The kernel
        lists children in the order they were forked, and the monitor forks the engine
        before anything else it keeps: a signer just forked (not yet renamed, or not yet
        forked at all while the monitor makes the RSA keys of a first start) or the PKI
        child of a cluster start is never taken for the engine."""
        out = {}
        for k in self.child_pids():
            try:
                with open(f"/proc/{k}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm == "telgated-signer":
                out["signer"] = k
            else:
                out.setdefault("engine", k)
        return out

    def child_pids(self):
        """Every child of the monitor, in the order it forked them."""
        pid = self.proc.pid
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def engine_pid(self):
        """The network engine's pid: the process that serves, as telgated's was before the
        monitor (issue 17)."""
        return self.children().get("engine")

    def close_pipes(self):
        if self.stderr_file:
            self.stderr_file.close()
            self.stderr_file = None

    def stderr_text(self):
        if not os.path.exists(self.stderr_path):
            return ""
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        self.exit_expected = True
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            return self.proc.wait(timeout=30)
        return self.proc.returncode if self.proc else None

    def kill(self):
        """SIGKILL to a daemon still running, its engine and signer included: SIGKILL
        reaches the monitor only, and the two (issue 17) would go on serving the test's
        ports, which free_port later hands to other tests."""
        if not self.proc or self.proc.poll() is not None:
            return
        kids = self.child_pids()
        self.proc.kill()
        self.proc.wait()
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def finish(self):
        """For tearDown: kills a daemon still running and returns what went wrong in any
        run of this test (None if nothing): a sanitizer report on stderr (ASan, LSan and
        UBSan stop the process; a test may still pass when nobody asked the dead daemon
        again), or a daemon that exited while the test did not stop it."""
        died = None
        if self.proc and self.proc.poll() is not None and not self.exit_expected:
            died = "telgated exited by itself (status %s)" % self.proc.returncode
        self.kill()
        self.close_pipes()
        err = self.stderr_text()
        for mark in SANITIZER_MARKS:
            if mark in err:
                return "sanitizer report from telgated:\n" + err[max(0, err.index(mark) - 80):][:6000]
        if died:
            return died + ":\n" + err[-3000:]
        return None

    def cli(self, *words, json_mode=False):
        cmd = [ARGS.telgate, "-c", self.conf] + (["--json"] if json_mode else []) + list(words)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    def sql(self, query):
        r = self.cli("run", "sql", query, json_mode=True)
        return r.returncode, json.loads(r.stdout)

    def log_text(self):
        with open(self.log) as f:
            return f.read()


class DaemonTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgsys")
        self.d = Daemon(self.root)

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def demo(self):
        return os.path.join(ARGS.examples, "demo.json")

    def test_audit_of_admin_commands(self):
        """Every command that changes something is recorded once with the peer's uid and
        pid, its words, its result and the correlation id; reads are not recorded
        (issue 14)."""
        self.d.start()
        self.assertEqual(self.d.cli("set", "param", "ClusterSIPOAuthMode", "1").returncode, 0)
        self.assertEqual(self.d.cli("user", "unlock", "nobody").returncode, 1)
        self.assertEqual(self.d.cli("edge", "add", "edge1.example", "Jane Admin").returncode,
                         0)
        self.assertEqual(self.d.cli("status").returncode, 0)
        r = self.d.cli("show", "audit", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = json.loads(r.stdout)["rows"]
        self.assertEqual([row[3] for row in rows],
                         ["set param ClusterSIPOAuthMode 1", "user unlock nobody",
                          'edge add edge1.example "Jane Admin"'])
        self.assertEqual([row[4] for row in rows], ["ok", "error", "ok"])
        self.assertEqual(rows[1][5], "no user 'nobody'")
        for row in rows:
            self.assertEqual(row[1], str(os.getuid()))
            self.assertGreater(int(row[2]), 0)  # the CLI's pid
        log = self.d.log_text()
        self.assertRegex(log, rf"cid={re.escape(rows[0][6])} .*event=admin_audit "
                              rf"uid={os.getuid()} pid=\d+ command=\"set param "
                              rf"ClusterSIPOAuthMode 1\" result=ok")
        self.assertEqual(self.d.cli("show", "audit", "1", json_mode=True).returncode, 0)
        self.assertEqual(len(json.loads(self.d.cli("show", "audit", "1", json_mode=True)
                                        .stdout)["rows"]), 1)
        self.assertEqual(self.d.cli("show", "audit", "0").returncode, 64)

    def test_check_config(self):
        r = subprocess.run([ARGS.telgated, "--check-config", "-c", self.d.conf],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        bad = os.path.join(self.root, "bad.conf")
        with open(bad, "w") as f:
            f.write("[core]\nthreads = 2\n[log]\nlevel = loud\n")
        r = subprocess.run([ARGS.telgated, "--check-config", "-c", bad],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{bad}:4: log.level", r.stderr)
        r = subprocess.run([ARGS.telgated, "--check-config", "-c", "/nonexistent.conf"],
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot read", r.stderr)
        r = subprocess.run([ARGS.telgated, "--bogus"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 64)

    def test_import_sql_and_refusals(self):
        self.d.start()
        mode = os.stat(self.d.sock).st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(mode & 0o777, 0o600)

        r = self.d.cli("import", self.demo())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("users", r.stdout)

        r = self.d.cli("run", "sql",
                       "select paramvalue from processconfig where paramname='ClusterSIPOAuthMode'")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), ["paramvalue", "==========", "0"])

        rc, before = self.d.sql("select count(*) as n from enduser")
        self.assertEqual(before["rows"], [["3"]])
        r = self.d.cli("run", "sql", "delete from enduser")
        self.assertEqual(r.returncode, 1)
        # In words, never SQLite's action codes. PostgreSQL (a read-only transaction)
        # names the statement it refused.
        self.assertEqual(r.stderr, "error: refused: only a single SELECT statement may be run, "
                                   "not DELETE\n" if PG_ADMIN else
                                   "error: refused: writing to table enduser (DELETE)\n")
        for q, want in [("insert into dirgroup(name) values ('x')",
                         "not INSERT" if PG_ADMIN else "table dirgroup (INSERT)"),
                        ("attach database '/tmp/x' as x",
                         "not ATTACH" if PG_ADMIN else "another database /tmp/x (ATTACH)")]:
            r = self.d.cli("run", "sql", q)
            self.assertIn(want, r.stderr)
            self.assertNotRegex(r.stderr, r"\d|action code")
        for q in ["select 1; delete from enduser", "update enduser set firstname='x'",
                  "drop table enduser", "pragma journal_mode=delete",
                  "attach database '/tmp/x' as x"]:
            r = self.d.cli("run", "sql", q)
            self.assertEqual(r.returncode, 1, q)
            self.assertIn("refused", r.stderr, q)
        rc, after = self.d.sql("select count(*) as n from enduser")
        self.assertEqual(after["rows"], [["3"]])

        # Password hashes never leave through run sql, the same on both backends: read as
        # NULL through *, named anywhere (a column, a WHERE) refused with the reason.
        rc, rows = self.d.sql("select * from enduser order by userid")
        self.assertEqual(rc, 0)
        col = rows["columns"].index("passwordhash")
        self.assertTrue(all(row[col] is None for row in rows["rows"]))
        for q in ("select userid from enduser where passwordhash <> ''",
                  "select userid, passwordhash from enduser order by userid"):
            r = self.d.cli("run", "sql", q)
            self.assertEqual(r.returncode, 1, q)
            self.assertIn("refused: enduser.passwordhash is a secret column (", r.stderr)
            self.assertIn("may not name it", r.stderr)

        # A bad file changes nothing and names the JSON path.
        bad = os.path.join(self.root, "bad.json")
        with open(bad, "w") as f:
            json.dump({"version": 1,
                       "users": [{"userid": "newbie"}],
                       "devices": [{"name": "SEPAAAABBBBCCCC", "owner": "ghost"}]}, f)
        r = self.d.cli("import", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("$.devices[0]: owner 'ghost' is not a user", r.stderr)
        rc, after = self.d.sql("select count(*) from enduser")
        self.assertEqual(after["rows"], [["3"]])

        r = self.d.cli("import", os.path.join(self.root, "missing.json"))
        self.assertEqual(r.returncode, 66)  # EX_NOINPUT, telgate(1)

    def test_params_ports_status(self):
        self.d.start()
        r = self.d.cli("set", "param", "ClusterSIPOAuthMode", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.d.cli("get", "param", "ClusterSIPOAuthMode", json_mode=True)
        self.assertEqual(json.loads(r.stdout)["rows"][0][:2], ["ClusterSIPOAuthMode", "1"])
        r = self.d.cli("set", "param", "ClusterSIPOAuthMode", "yes")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not one of 0|1", r.stderr)
        r = self.d.cli("set", "param", "NoSuchParameter", "1")
        self.assertEqual(r.returncode, 1)

        r = self.d.cli("show", "open", "ports", json_mode=True)
        rows = json.loads(r.stdout)["rows"]
        self.assertIn(["unix", self.d.sock, "-", "LISTEN", "control"], rows)
        # threads = 2: each loop thread has its own SO_REUSEPORT socket, yet every port
        # is one row per protocol, in the table as in --json.
        self.assertIn(["tcp", "127.0.0.1", str(self.d.sip_port), "LISTEN", "sip"], rows)
        keys = [(row[0], row[2]) for row in rows if row[0] != "unix"]
        self.assertEqual(len(keys), len(set(keys)), rows)
        table = self.d.cli("show", "open", "ports").stdout.splitlines()
        self.assertEqual([line.split() for line in table[2:]], rows)
        # A pattern no row can hold (a port number could: the test's ports are random).
        r = self.d.cli("show", "open", "ports", "regexp", "no-such-service", json_mode=True)
        self.assertEqual(json.loads(r.stdout)["rows"], [])
        r = self.d.cli("show", "open", "ports", "regexp", "([")
        self.assertIn("bad regexp", r.stderr)

        r = self.d.cli("status", json_mode=True)
        status = dict(json.loads(r.stdout)["rows"])
        self.assertEqual(status["store_backend"], "postgres" if PG_ADMIN else "sqlite")
        self.assertEqual(status["loop_threads"], "2")

        # The generated server certificate verifies against the generated CA.
        pki = os.path.join(self.d.state, "pki")
        v = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(pki, "ca.crt"),
                            "-verify_hostname", "localhost", os.path.join(pki, "server.crt")],
                           capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertEqual(os.stat(os.path.join(pki, "ca.key")).st_mode & 0o777, 0o600)

    @unittest.skipUnless(PG_ADMIN, "the PostgreSQL backend only (tests/system/pg.py)")
    def test_pg_store_password_never_logged(self):
        """The connection string is logged where the store is, without its password; a
        conninfo_file others may read is refused."""
        self.d.start()
        password = re.search(r"password=(\S+)", self.d.pg_conninfo).group(1)
        log = self.d.log_text()
        self.assertIn("event=store_open backend=postgres", log)
        self.assertIn("password=(redacted)", log)
        self.assertNotIn(password, log)
        self.assertNotIn(password, self.d.stderr_text())
        self.assertEqual(self.d.cli("status").returncode, 0)
        self.d.stop()
        os.chmod(os.path.join(self.root, "conninfo"), 0o640)
        p = self.d.start(wait=False)
        p.wait(timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("lets others read the secret; chmod 600 it", self.d.stderr_text())
        self.assertNotIn(password, self.d.stderr_text() + self.d.log_text())

    def test_usage_errors_and_help(self):
        self.d.start()
        # Found by the CLI itself, by the daemon (a word inside a command), and by getopt:
        # each ends with 64 (EX_USAGE) and says what was wrong.
        for words, want in [(["nonsense"], "try: telgate help"),
                            (["show", "nonsense"], "did you mean"),
                            (["set", "param", "ClusterSIPOAuthMode"],
                             "usage: set param NAME VALUE"),
                            (["status", "extra"], "usage: status"),
                            (["import"], "usage: import FILE.json"),
                            (["run", "sql"], "usage: run sql"),
                            (["show", "open", "ports", "x"], "usage: show open ports"),
                            (["show", "open", "ports", "grep", "x"], "usage: show open ports"),
                            (["device", "state", "SEP1", "sideways"], "in-service"),
                            (["--bogus", "status"], "usage: telgate"),
                            (["-s"], "usage: telgate"),
                            ([], "no command given")]:
            for json_mode in (False, True):
                r = self.d.cli(*words, json_mode=json_mode)
                self.assertEqual(r.returncode, 64, (words, r.stderr))
                self.assertIn(want, r.stderr + r.stdout, words)
        # The daemon marks its usage errors for any client.
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.d.sock)
            s.settimeout(10)
            s.sendall(frame({"argv": ["status", "extra"]}))
            self.assertEqual(read_frame(s), {"ok": False, "error": "usage: status", "exit": 64})

        # --help (no daemon needed) and the daemon's help come from one table.
        r = subprocess.run([ARGS.telgate, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        helped = r.stdout.splitlines()
        r = self.d.cli("help", json_mode=True)
        table = [row[0] for row in json.loads(r.stdout)["rows"]]
        self.assertGreater(len(table), 10)
        for usage in table:
            self.assertIn("  " + usage, helped)

    def test_hostile_control_clients(self):
        self.d.start()
        keeper = socket.socket(socket.AF_UNIX)
        keeper.connect(self.d.sock)
        keeper.settimeout(10)
        junk = []
        for payload in [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x00\x00\x00\x05{not",
                        struct.pack(">I", 7) + b"garbage", b"GET / HTTP/1.0\r\n\r\n"]:
            s = socket.socket(socket.AF_UNIX)
            s.connect(self.d.sock)
            s.sendall(payload)
            junk.append(s)
        # The well-behaved client and the CLI are still served.
        keeper.sendall(frame({"argv": ["status"]}))
        self.assertTrue(read_frame(keeper)["ok"])
        self.assertEqual(self.d.cli("status").returncode, 0)
        junk[3].settimeout(10)
        resp = read_frame(junk[3])
        self.assertFalse(resp["ok"])
        self.assertIn("malformed", resp["error"])
        for s in junk:
            s.close()
        keeper.close()

    def test_requests_in_one_write(self):
        """Several requests in one write: each is answered in order, a broken frame is
        answered and then closes the connection (what follows it is dropped), and the
        daemon goes on serving others."""
        self.d.start()
        c = socket.socket(socket.AF_UNIX)
        c.connect(self.d.sock)
        c.settimeout(10)
        bad_request = struct.pack(">I", 9) + b"{not json"
        c.sendall(frame({"argv": ["status"]}) + bad_request + frame({"argv": ["status"]}) +
                  b"\x00\x00\x00\x00" + frame({"argv": ["status"]}))
        answers = []
        while (r := read_frame(c)) is not None:
            answers.append(r)
        self.assertEqual([a["ok"] for a in answers], [True, False, True, False], answers)
        self.assertIn("malformed", answers[1]["error"])
        self.assertIn("bad frame", answers[3]["error"])
        c.close()
        # Thousands of bad requests in one write: one answer each, in a loop (no stack
        # growth per request), then the valid one.
        c = socket.socket(socket.AF_UNIX)
        c.connect(self.d.sock)
        c.settimeout(30)
        n = 5000
        c.sendall(bad_request * n + frame({"argv": ["status"]}))
        for i in range(n):
            self.assertFalse(read_frame(c)["ok"], i)
        self.assertTrue(read_frame(c)["ok"])
        c.close()
        self.assertEqual(self.d.cli("status").returncode, 0)

    def test_reload_keeps_connections_and_term_drains(self):
        self.d.start()
        conn = socket.socket(socket.AF_UNIX)
        conn.connect(self.d.sock)
        conn.settimeout(10)
        conn.sendall(frame({"argv": ["status"]}))
        self.assertEqual(dict(read_frame(conn)["rows"])["log_level"], "info")

        self.d.write_conf("debug")
        self.d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 60
        while "event=reload result=applied" not in self.d.log_text() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("event=reload result=applied", self.d.log_text())
        # Only the log level changed: nothing needs a restart, not even the connection caps
        # fd_budget may have clamped at start (a clamp is not an administrator's change).
        applied = [l for l in self.d.log_text().splitlines() if "event=reload result=applied" in l]
        self.assertNotIn("restart_needed_for", applied[-1])
        # The same connection still works and sees the new level.
        conn.sendall(frame({"argv": ["status"]}))
        self.assertEqual(dict(read_frame(conn)["rows"])["log_level"], "debug")

        # A broken file on reload is rejected; the daemon keeps the running config.
        with open(self.d.conf, "a") as f:
            f.write("[nonsense]\nx = 1\n")
        self.d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 60
        while "result=rejected" not in self.d.log_text() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn("result=rejected", self.d.log_text())
        self.assertIn("unknown section [nonsense]", self.d.log_text())
        conn.sendall(frame({"argv": ["status"]}))
        self.assertTrue(read_frame(conn)["ok"])
        conn.close()

        self.assertEqual(self.d.stop(signal.SIGTERM), 0)
        self.assertIn("event=stopped exit=clean", self.d.log_text())
        self.assertFalse(os.path.exists(self.d.sock))

    def test_restart_keeps_state_and_provision(self):
        self.d.start("--provision", self.demo())
        fp1 = dict(json.loads(self.d.cli("status", json_mode=True).stdout)["rows"])
        self.assertEqual(fp1["users"], "3")
        self.d.cli("set", "param", "ClusterSIPOAuthMode", "1")
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        fp2 = dict(json.loads(self.d.cli("status", json_mode=True).stdout)["rows"])
        self.assertEqual(fp2["users"], "3")
        self.assertEqual(fp1["ca_fingerprint_sha256"], fp2["ca_fingerprint_sha256"])
        rc, rows = self.d.sql("select paramvalue from processconfig "
                              "where paramname='ClusterSIPOAuthMode'")
        self.assertEqual(rows["rows"], [["1"]])
        # A second daemon on the same socket is refused, the first keeps serving.
        second = subprocess.run([ARGS.telgated, "-c", self.d.conf], capture_output=True,
                                text=True, timeout=30)
        self.assertNotEqual(second.returncode, 0)
        self.assertIn("another telgated", second.stderr)
        self.assertEqual(self.d.cli("status").returncode, 0)
        self.assertEqual(self.d.stop(), 0)
        # A bad provisioning file at start: telgated refuses to start, store unchanged.
        bad = os.path.join(self.root, "bad.json")
        with open(bad, "w") as f:
            f.write('{"version": 1, "users": [{"userid": "x", "bogus": 1}]}')
        p = self.d.start("--provision", bad, wait=False)
        self.assertNotEqual(p.wait(timeout=30), 0)
        self.assertIn("$.users[0].bogus: unknown member", self.d.stderr_text())
        self.d.start()
        rc, rows = self.d.sql("select count(*) from enduser")
        self.assertEqual(rows["rows"], [["3"]])


def main():
    """Parses the paths CTest passes to every system test, then runs the calling script's
    tests (unittest looks in __main__)."""
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--telgated", required=True)
    ap.add_argument("--telgate", required=True)
    ap.add_argument("--telgate-cti")
    ap.add_argument("--examples", required=True)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
