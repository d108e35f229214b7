#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A throw-away PostgreSQL 15 server for the store's postgres backend tests: initdb into a
temporary directory, started on a free loopback port, stopped and removed at the end.
initdb and postgres refuse to run as root (CI runs as root): as root they run as the
unprivileged user telgatepg (scripts/deps.sh creates it), otherwise as the caller.

As a program it runs system test scripts (and unit-test binaries) against one server:
  pg.py --telgated ... --telgate ... --telgate-cti ... --examples ... \
        [--unit build/tests/test_store_pg] test_sip.py test_cti.py [test_x.py:Class.test]
Each script's Daemon (test_daemon.py) sees TELGATE_TEST_PG (the superuser's connection
string) and gives every daemon a database of its own and [store] backend = postgres."""
import argparse
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
# The shared registry (tests/lib/ports.py): a port picked with bind(0) could be taken by
# another test run in parallel before PostgreSQL binds it.
from ports import free_port  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_USER = "telgatepg"
ENV = "TELGATE_TEST_PG"


class PgServer:
    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="tgpg")
        os.chmod(self.root, 0o755)
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        self.password = secrets.token_hex(16)
        self.user = "telgate"
        self.as_user = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam(PG_USER)  # KeyError: run scripts/deps.sh
            self.as_user = (pw.pw_uid, pw.pw_gid)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)

    def _run(self, *cmd, check=True):
        pre = None
        if self.as_user:
            uid, gid = self.as_user
            pre = lambda: (os.setgroups([]), os.setgid(gid), os.setuid(uid))  # noqa: E731
        return subprocess.run(list(cmd), preexec_fn=pre, check=check, capture_output=True,
                              text=True, cwd=self.root, timeout=120)

    def start(self):
        pwfile = os.path.join(self.root, "pw")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        if self.as_user:
            os.chown(pwfile, *self.as_user)
        self._run(f"{PG_BIN}/initdb", "-D", self.data, "-U", self.user, "--pwfile", pwfile,
                  "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        os.unlink(pwfile)
        return self.resume()

    def resume(self):
        """Starts the server on its data directory (again, after pause)."""
        # Tests only: no fsync (nothing here must survive a power cut), sockets in the data
        # directory, loopback TCP on the free port.
        opts = (f"-c port={self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c full_page_writes=off -c unix_socket_directories={self.data} "
                f"-c max_connections=200")
        r = self._run(f"{PG_BIN}/pg_ctl", "-D", self.data, "-l",
                      os.path.join(self.root, "postgres.log"), "-o", opts, "-w", "-t", "60",
                      "start", check=False)
        if r.returncode != 0:
            raise AssertionError("postgres did not start: %s %s\n%s" %
                                 (r.stdout, r.stderr, self.log_tail()))
        return self

    def pause(self, mode="fast"):
        """Stops the server, keeping its data: fast (clients are disconnected, a clean
        shutdown) or immediate (no checkpoint: crash recovery at the next start)."""
        self._run(f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def conninfo(self, dbname="postgres"):
        return (f"host=127.0.0.1 port={self.port} dbname={dbname} user={self.user} "
                f"password={self.password} connect_timeout=5")

    def psql(self, sql, dbname="postgres"):
        r = subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            self.conninfo(dbname), "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("psql %r: %s" % (sql, r.stderr))
        return r.stdout.strip()

    def log_tail(self):
        try:
            with open(os.path.join(self.root, "postgres.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run(f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop",
                      check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def new_database(admin_conninfo, name):
    """Creates database name on the server of admin_conninfo; returns its conninfo."""
    r = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", admin_conninfo, "-c",
                        f"CREATE DATABASE {name}"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("CREATE DATABASE %s: %s" % (name, r.stderr))
    return admin_conninfo.replace("dbname=postgres", f"dbname={name}")


# A unit binary or script that runs longer than this hangs (the slowest, test_sip.py,
# takes ~110 s on CI's machine): it and everything it forked are killed and it fails
# now, not at ctest's 2,400 s (stop 33: a forked child stuck on a mutex inherited
# mid-connect held system_pg for 20 minutes).
RUN_LIMIT_S = 900


def run_bounded(cmd, env):
    """cmd's exit code, or None when it ran past RUN_LIMIT_S (its process group killed)."""
    p = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        return p.wait(timeout=RUN_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return None


def verdict(rc):
    return "ok" if rc == 0 else f"TIMED OUT after {RUN_LIMIT_S} s" if rc is None else "FAILED"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scripts", nargs="*")
    ap.add_argument("--unit", action="append", default=[],
                    help="a unit-test binary to run with TELGATE_TEST_PG_CONNINFO set to a "
                         "fresh database (its PostgreSQL-only tests skip without it)")
    ap.add_argument("--telgated", required=True)
    ap.add_argument("--telgate", required=True)
    ap.add_argument("--telgate-cti")
    ap.add_argument("--examples", required=True)
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    failed = []
    with PgServer() as pg:
        for i, binary in enumerate(a.unit):
            db = new_database(pg.conninfo(), f"unit{i}")
            t0 = time.time()
            rc = run_bounded([binary], dict(os.environ, TELGATE_TEST_PG_CONNINFO=db))
            print(f"pg: {os.path.basename(binary)} on PostgreSQL: {verdict(rc)} "
                  f"({time.time() - t0:.0f} s)", flush=True)
            if rc != 0:
                failed.append(binary)
        env = dict(os.environ, **{ENV: pg.conninfo()})
        for s in a.scripts:
            s, _, only = s.partition(":")  # script.py:Class.test runs that one test
            cmd = [sys.executable, os.path.join(here, s), "--telgated", a.telgated,
                   "--telgate", a.telgate, "--examples", a.examples] + ([only] if only else [])
            if a.telgate_cti:
                cmd += ["--telgate-cti", a.telgate_cti]
            t0 = time.time()
            rc = run_bounded(cmd, env)
            print(f"pg: {s} on PostgreSQL: {verdict(rc)} ({time.time() - t0:.0f} s)",
                  flush=True)
            if rc != 0:
                failed.append(s)
    if failed:
        print("pg: failed on PostgreSQL: " + " ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
