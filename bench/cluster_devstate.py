#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/run.sh cluster, part 2 (issue 21): cross-node device-state latency under a
registration storm. Two telgated nodes on one PostgreSQL database (a new database of the
server part 1 started): SIPp registers DEVICES devices through node A (UDP, digest, at
--storm-rate calls/s: 250 by default, which node A takes without refusing on a shared
2-core machine; at 500/s its admission answered a third of them 503 there); a CTI client on node B monitors every one of them and timestamps
each BackInServiceEvent as it reads it. Per device: latency = the event's arrival on B's
client minus the 200's arrival at SIPp (its message trace), both on this machine's clock.
Node A sends the NOTIFY in the transaction that makes the binding durable, and the 200
after that commit: a latency near zero (or below) is the floor. The client is Python and
reads on one thread: under the storm its own backlog is part of the figure (an upper
bound). Printed: p50, p99, max, events missing; goal p99 < 50 ms.

  run(build, server_conninfo, devices=5000, rate=250) -> dict, from bench/cluster.py
"""
import datetime
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "system"))
import pg  # noqa: E402
import test_cti  # noqa: E402
import register_durable as rd  # noqa: E402

PW = "Bench-Cluster-1"
CTI_USER, CTI_PW = "benchmon", "Bench-Monitor-1"


def _names(n):
    return ["c%05d" % i for i in range(n)]


def _start(build, root, conf_text, *args):
    conf = os.path.join(root, "telgated.conf")
    with open(conf, "w") as f:
        f.write(conf_text)
    p = subprocess.Popen([f"{build}/telgated", "-c", conf, *args], stderr=subprocess.DEVNULL)
    end = time.time() + 180
    while time.time() < end:
        if subprocess.run([f"{build}/telgate", "-c", conf, "status"], capture_output=True,
                          timeout=60).returncode == 0:
            return p
        if p.poll() is not None:
            raise SystemExit(f"telgated ({root}) exited: {p.returncode}")
        time.sleep(0.2)
    raise SystemExit("telgated did not start")


def _conf(root, node, conninfo, sip_port, cti_port, kek):
    return (f"[core]\nstate_dir = {root}/state\nnode_id = {node}\n"
            f"[pki]\nkek_file = {kek}\n"
            f"[log]\nlevel = notice\ntarget = file:{root}/telgated.log\n"
            f"[store]\nbackend = postgres\nconninfo = {conninfo}\n"
            f"[cti]\naddress = 127.0.0.1\nport = {cti_port}\ntls_port = 0\n"
            f"allow_plain_login = yes\nmax_monitors = 100000\n"
            f"[admin]\nhttp_port = 0\n[files]\nhttp_port = 0\ntftp_port = 0\nhttps_port = 0\n"
            f"[est]\nport = 0\n"
            f"[sip]\naddress = 127.0.0.1\nport = {sip_port}\ntls_port = 0\nedge_port = 0\n"
            "challenge_sha256 = no\nsource_failures_max = 0\n")


def _sipp_200_times(trace):
    """{line user: epoch s of the first 200 received} from SIPp's -trace_msg file."""
    out = {}
    with open(trace, errors="replace") as f:
        text = f.read()
    for block in re.split(r"\n-{20,} ", text):
        # "2026-11-30 20:01:03.940182": SIPp's local time, as datetime reads it
        m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)", block)
        if not m or "message received" not in block or "SIP/2.0 200" not in block:
            continue
        stamp = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        to = re.search(r"^To:.*?sip:([^@>;]+)@", block, re.M | re.I)
        if to and to.group(1) not in out:
            out[to.group(1)] = stamp
    return out


def run(build, server_conninfo, devices=5000, rate=250):
    names = _names(devices)
    conninfo = pg.new_database(server_conninfo, "devstate")
    roots = [tempfile.mkdtemp(prefix="tgclus") for _ in range(2)]
    # The cluster's key-encryption key, one file for both nodes (docs/cluster.md).
    kek = os.path.join(roots[0], "kek")
    fd = os.open(kek, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48) + "\n")
    procs = []
    try:
        prov = {"version": 1,
                "users": [{"userid": x, "directory": "local", "digestpassword": PW}
                          for x in names] +
                [{"userid": CTI_USER, "directory": "local", "password": CTI_PW,
                  "groups": ["Standard CTI Enabled",
                             "Standard CTI Allow Control of All Devices"]}],
                "devices": [{"name": "SEPCL" + x.upper(), "owner": x, "lines": [x]}
                            for x in names]}
        with open(os.path.join(roots[0], "prov.json"), "w") as f:
            json.dump(prov, f)
        sip_a, cti_b = rd.free_port(), rd.free_port()
        procs.append(_start(build, roots[0], _conf(roots[0], "bench-a", conninfo, sip_a, 0, kek),
                            "--provision", os.path.join(roots[0], "prov.json")))
        procs.append(_start(build, roots[1], _conf(roots[1], "bench-b", conninfo, 0, cti_b, kek)))
        c = test_cti.Client(cti_b)
        assert test_cti.local(c.login(CTI_USER, CTI_PW)) == "StartApplicationSessionPosResponse"
        xref = {}
        for x in names:
            r = c.monitor("SEPCL" + x.upper())
            ref = [e.text for e in r.iter() if test_cti.local(e) == "monitorCrossRefID"]
            xref[ref[0]] = x
        seen, stop = {}, threading.Event()

        def reader():
            c.s.settimeout(1)
            while not stop.is_set() and len(seen) < devices:
                try:
                    inv, root = c.read_frame()
                except (TimeoutError, OSError):
                    continue
                t = time.time()
                if test_cti.local(root) != "BackInServiceEvent":
                    continue
                ref = [e.text for e in root.iter() if test_cti.local(e) == "monitorCrossRefID"]
                if ref and ref[0] in xref and xref[ref[0]] not in seen:
                    seen[xref[ref[0]]] = t

        th = threading.Thread(target=reader)
        th.start()
        csv = os.path.join(roots[0], "users.csv")
        with open(csv, "w") as f:
            f.write("SEQUENTIAL\n")
            for x in names:
                f.write(f"{x};telgate;[authentication username={x} password={PW}];3600\n")
        trace = os.path.join(roots[0], "sipp_msg.log")
        eng_b = rd.engine_pid(procs[1].pid)
        cpu_b0 = rd.cpu_s(eng_b)
        r = subprocess.run(["sipp", "-nostdin", "-sf", os.path.join(HERE, "sipp", "register_rtd.xml"),
                            "-inf", csv, "-t", "u1", "-r", str(rate), "-m", str(devices),
                            "-l", "4000", "-timeout", "300", "-timeout_error",
                            "-buff_size", str(4 << 20), "-trace_msg", "-message_file", trace,
                            "-trace_err", "-error_file", os.path.join(roots[0], "sipp_err.log"),
                            f"127.0.0.1:{sip_a}"], cwd=roots[0], capture_output=True, text=True)
        end = time.time() + 30
        while len(seen) < devices and time.time() < end:
            time.sleep(0.1)
        stop.set()
        th.join()
        cpu_b = rd.cpu_s(eng_b) - cpu_b0
        c.close()
        with open(os.path.join(roots[0], "sipp_stdout.log"), "w") as f:
            f.write(r.stdout + r.stderr)
        ok = _sipp_200_times(trace)
        calls = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", r.stdout)
        failed = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", r.stdout)
        errs = {}  # why SIPp calls failed, by kind (the numbers taken out)
        if os.path.exists(os.path.join(roots[0], "sipp_err.log")):
            for ln in open(os.path.join(roots[0], "sipp_err.log"), errors="replace"):
                if re.match(r"\d{4}-\d\d-\d\d", ln):
                    k = re.sub(r"'[^']*'", "'.'", re.sub(r"\d+", "N", ln.split(": ", 1)[-1]))
                    errs[k.strip()[:100]] = errs.get(k.strip()[:100], 0) + 1
        lat = sorted((seen[x] - ok[x]) * 1000 for x in ok if x in seen)
        missing = sum(1 for x in ok if x not in seen)

        def q(p):
            return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
        return {"devices": devices, "rate": rate, "registered": len(ok), "events": len(lat),
                "missing": missing, "p50_ms": q(0.50), "p99_ms": q(0.99),
                "max_ms": lat[-1] if lat else float("nan"), "sipp_rc": r.returncode,
                "sipp_errors": sorted(errs.items(), key=lambda e: -e[1])[:3],
                "sipp_ok": int(calls[-1]) if calls else -1,
                "b_cpu_us_per_event": cpu_b / len(lat) * 1e6 if lat else float("nan"),
                "sipp_failed": int(failed[-1]) if failed else -1}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        for x in roots:
            if not os.environ.get("BENCH_KEEP"):
                shutil.rmtree(x, ignore_errors=True)


def report(res):
    print(f"cluster part 2: device state node A -> CTI monitor on node B, "
          f"{res['devices']} registrations at {res['rate']}/s through A")
    print(f"  registered {res['registered']}, BackInService events {res['events']}, "
          f"missing {res['missing']} (SIPp: {res['sipp_ok']} calls successful, "
          f"{res['sipp_failed']} failed)")
    if res["sipp_errors"]:
        print(f"  SIPp's failed calls: {res['sipp_errors']}")
    print(f"  latency 200 at SIPp -> event at B's client: p50 {res['p50_ms']:.1f} ms, "
          f"p99 {res['p99_ms']:.1f} ms (goal < 50), max {res['max_ms']:.1f} ms")
    print(f"  node B's engine CPU per device-state event heard and sent to its CTI client: "
          f"{res['b_cpu_us_per_event']:.1f} us")
