#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/run.sh cluster (issue 21), part 1: REGISTER per server-CPU-second with the store on
PostgreSQL vs SQLite, one build, one run, under SIPp (bench/register_durable.py's loads:
churn = every 200 waits for a commit, refresh = write-behind). PostgreSQL 15 runs on this
machine (tests/system/pg.py: a temporary cluster, fsync off like a test server: the
figure is the client side's cost and the server's CPU, not disk latency).

CPU is read from /proc: telgated's network engine (utime + stime) per successful 200,
and for PostgreSQL also the CPU of every process of the server's user (its backends, the
WAL writer) in the same step: per node the engine figure counts; the database's is the
shared server's cost, shown beside it. Ratios: REGISTER per engine-CPU-second PostgreSQL
over SQLite (goal >= 0.8), and with the database's CPU added.

With --spool, a third run on PostgreSQL measures the outage path (docs/cluster.md,
Durability contract): the server is stopped after the warm-up pass (which caches the
accounts), so every new binding and removal of the churn load is appended to the node's
spool and fdatasync'd before its 200; the row is "spool", the ratio spool / store.


Part 2 (bench/cluster_devstate.py), in the same run on the same PostgreSQL: cross-node
device-state latency p50/p99 under a registration storm (--devices 5000 through node A
at --storm-rate 250/s, a CTI monitor on node B; goal p99 < 50 ms).

  bench/cluster.py BUILD [--seconds 5] [--rate 500] [--loads churn,refresh]
                         [--devices 5000] [--storm-rate 250] [--spool]
"""
import argparse
import os
import pwd
import secrets
import tempfile
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "system"))
import pg  # noqa: E402
import register_durable as rd  # noqa: E402
import cluster_devstate  # noqa: E402

SAMPLES = []


def pg_cpu_s(uid):
    """CPU seconds (utime + stime) of every live process of uid."""
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.stat(f"/proc/{d}").st_uid != uid:
                continue
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / rd.TICK


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rate", type=int, default=500)
    ap.add_argument("--loads", default="churn,refresh")
    ap.add_argument("--spool", action="store_true",
                    help="also the churn load with PostgreSQL stopped: the spool path")
    ap.add_argument("--devices", type=int, default=5000, help="part 2's registration storm")
    ap.add_argument("--storm-rate", type=int, default=250, help="part 2's SIPp calls/s")
    a = ap.parse_args()
    loads = a.loads.split(",")
    engine_cpu = rd.cpu_s
    uid = pwd.getpwnam(pg.PG_USER).pw_uid if os.geteuid() == 0 else os.geteuid()

    def cpu_s(pid):  # what each step reads at its start and end, with the database's
        e = engine_cpu(pid)
        SAMPLES.append((e, pg_cpu_s(uid)))
        return e

    rd.cpu_s = cpu_s
    print("cluster: SQLite store ...", flush=True)
    res = {"sqlite": rd.run(a.build, a.seconds, [a.rate], "", loads)}
    print("cluster: PostgreSQL store ...", flush=True)
    with pg.PgServer() as server:
        SAMPLES.clear()
        conninfo = pg.new_database(server.conninfo(), "bench")
        # A cluster's key-encryption key (required with postgres; docs/cluster.md).
        kek = os.path.join(tempfile.mkdtemp(prefix="tgkek"), "kek")  # outlives the server
        fd = os.open(kek, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48) + "\n")
        res["postgres"] = rd.run(a.build, a.seconds, [a.rate],
                                 f"[store]\nbackend = postgres\nconninfo = {conninfo}\n"
                                 f"[pki]\nkek_file = {kek}\n", loads)
        # Per load: the warm-up step's two samples, then the measured step's two.
        db = {}
        for i, load in enumerate(x for x in ("churn", "refresh") if x in loads):
            (e0, d0), (e1, d1) = SAMPLES[4 * i + 2], SAMPLES[4 * i + 3]
            db[load] = (e1 - e0, d1 - d0)
        print("cluster: device state across two nodes ...", flush=True)
        part2 = cluster_devstate.run(a.build, server.conninfo(), a.devices, a.storm_rate)
    if a.spool:
        print("cluster: PostgreSQL stopped after the warm-up: the spool ...", flush=True)
        with pg.PgServer() as server:
            conninfo = pg.new_database(server.conninfo(), "bench")
            step, steps = rd.step, []

            def spool_step(*args):
                steps.append(args)
                if len(steps) == 2:  # the warm-up cached the accounts: now the outage
                    server.pause()
                return step(*args)
            rd.step = spool_step
            try:
                res["spool"] = rd.run(a.build, a.seconds, [a.rate],
                                      f"[store]\nbackend = postgres\nconninfo = {conninfo}\n"
                                      f"[pki]\nkek_file = {kek}\n", ["churn"])
            finally:
                rd.step = step
    print(f"{'store':8} {'load':8} {'offered':>7} {'calls/s':>8} {'failed':>6} "
          f"{'engine us/200':>13} {'db us/200':>9} {'REG/engine-CPU-s':>16}")
    per = {}
    for backend in ("sqlite", "postgres", "spool"):
        for load, rows in res.get(backend, {}).items():
            x = rows[0]
            us = x["cpu_us_per_200"]
            dbus = "-"
            if backend == "postgres" and us:
                eng_s, db_s = db[load]
                regs = eng_s / (us / 1e6)
                dbus = f"{db_s / regs * 1e6:.1f}" if regs else "-"
                per[(backend, load, "db")] = db_s / regs * 1e6 if regs else 0
            per[(backend, load)] = us
            print(f"{backend:8} {load:8} {x['rate']:7d} {x['calls_s']:8.0f} {x['failed']:6d} "
                  f"{us:13.1f} {dbus:>9} {1e6 / us if us else 0:16.0f}")
    for load in res["sqlite"]:
        s, p = per.get(("sqlite", load)), per.get(("postgres", load))
        if s and p:
            both = p + per.get(("postgres", load, "db"), 0)
            print(f"{load}: REGISTER per engine-CPU-second, PostgreSQL / SQLite = {s / p:.2f} "
                  f"(goal >= 0.8); with the database's CPU added: {s / both:.2f}")
    p, sp = per.get(("postgres", "churn")), per.get(("spool", "churn"))
    if p and sp:
        both = p + per.get(("postgres", "churn", "db"), 0)
        print(f"churn: new-binding REGISTER per engine-CPU-second, spool / PostgreSQL store = "
              f"{p / sp:.2f}; against the store with the database's CPU added: {both / sp:.2f}")
    cluster_devstate.report(part2)


if __name__ == "__main__":
    main()
