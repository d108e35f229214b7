#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/tls_handshakes: what a full TLS handshake costs telgated on CTI TLS (issue 15:
building contexts from the TLS policy must not make handshakes slower). Starts telgated
from each build directory on free loopback ports, then runs `openssl s_time -new` (a new
session per connection, no resumption) for TLS 1.2 (ECDHE-ECDSA-AES128-GCM-SHA256) and
TLS 1.3 (TLS_AES_128_GCM_SHA256; ECDSA certificate) and prints handshakes per second,
telgated's CPU time per handshake and handshakes per server-CPU-second (utime + stime of
every thread of telgated and of every process it forked: the monitor, the network engine
and the signer since issue 17; /proc/PID/stat). Handshakes per CPU-second is the steadier
figure on a shared machine: a busy neighbour stretches the wall clock, not the work. With
an old build, both daemons run at once and the measurements alternate between them, so
that a busy neighbour hits both; prints new/old ratios. --runs repeats the alternation and
prints every run and the medians; the load average is printed before and after.

    python3 bench/tls_handshakes.py build/bench [OLD_BUILD] [--seconds 10] [--runs 3]
"""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")
CASES = [("TLS 1.2", ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]),
         ("TLS 1.3", ["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"])]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """telgated with CTI TLS on a free loopback port (one loop thread, as deployed on a
    small node: the handshakes of one listener run on one loop)."""

    def __init__(self, build):
        self.build = build
        self.root = tempfile.mkdtemp(prefix="tghs")
        self.port = free_port()
        conf = os.path.join(self.root, "t.conf")
        with open(conf, "w") as f:
            f.write(f"[core]\nstate_dir = {self.root}/state\nthreads = 1\nworkers = 1\n"
                    f"[log]\nlevel = warning\ntarget = file:{self.root}/log\n"
                    f"[cti]\nport = {free_port()}\ntls_port = {self.port}\n"
                    f"address = 127.0.0.1\n"
                    f"[sip]\nport = {free_port()}\ntls_port = {free_port()}\nedge_port = 0\n"
                    f"address = 127.0.0.1\n")
        self.proc = subprocess.Popen([os.path.join(build, "telgated"), "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"telgated from {build} did not come up")
                time.sleep(0.1)

    def tree(self):
        """telgated's pid and the pids of every process under it."""
        pids, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        todo += [int(x) for x in f.read().split()]
            except OSError:
                pass
        return pids

    def cpu_seconds(self):
        total = 0
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        return total / TICK

    def s_time(self, args, seconds):
        """Returns (handshakes per second, telgated's CPU ms per handshake)."""
        cpu0, t0 = self.cpu_seconds(), time.perf_counter()
        r = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{self.port}", "-new",
                            "-time", str(seconds), *args], capture_output=True, text=True,
                           timeout=seconds + 60)
        cpu, wall = self.cpu_seconds() - cpu0, time.perf_counter() - t0
        # s_time's own "real seconds" are whole seconds: the wall time is measured here.
        m = re.search(r"(\d+) connections in \d+ real seconds", r.stdout)
        if not m or int(m.group(1)) == 0:
            raise RuntimeError(f"openssl s_time {' '.join(args)}: {r.stdout}{r.stderr}")
        n = int(m.group(1))
        return n / wall, cpu * 1000 / n

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("old", nargs="?")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    print(f"load average before: {load()} ({os.cpu_count()} CPUs)")
    daemons = [Daemon(a.build)] + ([Daemon(a.old)] if a.old else [])
    try:
        results = {}  # (build, case) -> [(handshakes/s, CPU ms per handshake)] per run
        for run in range(a.runs):
            for case, args in CASES:
                for d in daemons:
                    r = d.s_time(args, a.seconds)
                    results.setdefault((d.build, case), []).append(r)
                    print(f"run {run + 1} {d.build}: CTI TLS {case}: {r[0]:.0f} handshakes/s, "
                          f"{r[1]:.3f} ms CPU each, {1000 / r[1]:.0f} per CPU-second",
                          flush=True)
    finally:
        for d in daemons:
            d.stop()
    print(f"load average after: {load()}")

    def med(build, case):
        rs = results[(build, case)]
        return (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))

    for case, _ in CASES:
        for d in daemons:
            hs, cpu = med(d.build, case)
            print(f"{d.build}: CTI TLS {case} full handshakes (median of {a.runs}): {hs:.0f}/s, "
                  f"telgated CPU {cpu:.3f} ms per handshake, {1000 / cpu:.0f} per CPU-second")
        if a.old:
            hs, cpu = med(a.build, case)
            ohs, ocpu = med(a.old, case)
            # Each run measured both back to back: its own ratio is the paired comparison.
            pairs = [o[1] / n[1] for n, o in zip(results[(a.build, case)],
                                                 results[(a.old, case)])]
            print(f"{case}: handshakes/s new/old {hs / ohs:.2f}; handshakes per CPU-second "
                  f"new/old {ocpu / cpu:.2f} (medians), per run "
                  + " ".join(f"{p:.2f}" for p in pairs)
                  + f", median of the runs {statistics.median(pairs):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
