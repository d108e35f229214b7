#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/oauth_cpu: where telgated's CPU goes per durable refresh grant (issue 18), by
thread, user and system time apart, with the thread switches per grant: telgated alone
under the load client of bench/run.sh oauth (bench/oauth_load.c, CONNS connections for
SECONDS), ROUNDS measured rounds after an untimed warm-up (each round on chains of its own,
the first grant of each taking the worker's path as in the benchmark). Read from
/proc/PID/task/TID/{stat,status} of the engine and the signer process (threads are named:
loop-N, worker, oauth-commit; the others keep the process's name) before and after
each round. What bench/oauth.py's per-CPU-second figure divides by, taken apart.
--perf FILE records the first round with `perf record -g` (its sampling adds to the CPU
figures of that round); --keep DIR keeps telgated's log.

usage: oauth_cpu.py BUILD_DIR [--conns N] [--seconds S] [--rounds N] [--conf LINES]
                    [--perf FILE] [--keep DIR]"""
import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import benchlib  # noqa: E402
import oauth  # noqa: E402


def children(pid):
    """pid and its live descendants."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            parent[int(d)] = int(st[st.rindex(")") + 2:].split()[1])
    out = [pid]
    for p in parent:
        q = p
        while q in parent and q != pid and q:
            q = parent[q]
        if q == pid and p != pid:
            out.append(p)
    return out


def threads(root):
    """{(process, thread name): [utime s, stime s, switches]} summed over threads of a name."""
    hz = os.sysconf("SC_CLK_TCK")
    out = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for pid in children(root):
        try:
            with open(f"/proc/{pid}/comm") as f:
                kind = f.read().strip()
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    st = f.read()
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    status = f.read()
            except OSError:
                continue
            name = st[st.index("(") + 1:st.rindex(")")]
            name = name.rstrip("0123456789").rstrip("-") or name
            fields = st[st.rindex(")") + 2:].split()
            sw = sum(int(line.split()[1]) for line in status.splitlines()
                     if line.startswith(("voluntary_ctxt_switches",
                                         "nonvoluntary_ctxt_switches")))
            row = out[(kind, name)]
            row[0] += int(fields[11]) / hz
            row[1] += int(fields[12]) / hz
            row[2] += sw
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--conf", default="", help="extra telgated.conf lines")
    p.add_argument("--keep", default="", help="copy telgated's log and files here")
    p.add_argument("--perf", default="", help="perf record the first round into this file")
    args = p.parse_args()
    a = types.SimpleNamespace(build=args.build, conns=args.conns, seconds=args.seconds,
                              repeat=args.rounds + 1, conf=args.conf)
    tmp = benchlib.tempdir("tgoauthcpu")
    s = None
    try:
        s = oauth.telgate_side(a, tmp, benchlib.telgated_ports())
        pid = s["proc"].pid
        w = oauth.load(a, s, "refresh", s["refresh"][:a.conns], tmp)
        print(f"  warm-up: {w.get('ok', 0):.0f} grants")
        benchlib.wait_idle(pid)
        for rnd in range(1, args.rounds + 1):
            t0 = threads(pid)
            rec = None
            if args.perf and rnd == 1:
                rec = subprocess.Popen(["perf", "record", "-q", "-F", "4999", "-g", "-o", args.perf,
                                        "-p", ",".join(str(x) for x in children(pid))],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
            r = oauth.load(a, s, "refresh", s["refresh"][rnd * a.conns:(rnd + 1) * a.conns], tmp)
            t1 = threads(pid)
            if rec:
                rec.send_signal(signal.SIGINT)
                rec.wait()
            ok = r.get("ok", 0)
            print(r["text"])
            if not ok:
                continue
            print(f"  round {rnd}: {ok:.0f} grants, {r.get('rate', 0):.0f}/s, failed "
                  f"{r.get('failed', 0):.0f}, load average {os.getloadavg()[0]:.2f}")
            print("    %-16s %-16s %9s %9s %9s %10s" % ("process", "thread", "user us", "sys us",
                                                       "total us", "switches"))
            tot = [0.0, 0.0, 0]
            for k in sorted(t1, key=lambda k: -(sum(t1[k][:2]) - sum(t0.get(k, [0, 0])[:2]))):
                d = [t1[k][i] - t0.get(k, [0, 0, 0])[i] for i in range(3)]
                if d[0] + d[1] <= 0 and d[2] <= 0:
                    continue
                tot = [tot[i] + d[i] for i in range(3)]
                print("    %-16s %-16s %9.1f %9.1f %9.1f %10.2f" % (
                    k[0], k[1], 1e6 * d[0] / ok, 1e6 * d[1] / ok, 1e6 * (d[0] + d[1]) / ok,
                    d[2] / ok))
            print("    %-33s %9.1f %9.1f %9.1f %10.2f" % (
                "all", 1e6 * tot[0] / ok, 1e6 * tot[1] / ok, 1e6 * (tot[0] + tot[1]) / ok,
                tot[2] / ok))
            print(f"  RESULT round={rnd} grants={ok:.0f} us_per_grant="
                  f"{1e6 * (tot[0] + tot[1]) / ok:.1f} switches_per_grant={tot[2] / ok:.2f}")
            time.sleep(1)
    finally:
        if s:
            oauth.stop(s["proc"], 60)
        if args.keep:
            shutil.copytree(tmp, args.keep, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("state"))
        benchlib.rmtree(tmp)


if __name__ == "__main__":
    main()
