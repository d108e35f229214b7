#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""What "200 only once the binding is in the store" costs (issue 22, docs/sip.md
"Location"): telgated builds compared on one machine, one after the other, under SIPp.

Two loads, UDP, USERS lines:
  churn    each call adds a new binding and removes it (tests/system/sipp/
           register_unregister.xml: 401 + 200 twice), so every 200 waits for a commit;
  refresh  bench/sipp/register_rtd.xml with one socket: after the first pass over the
           lines every REGISTER refreshes a binding the store has (write-behind).
Per offered rate: calls/s achieved, failed calls, engine CPU (utime + stime of the
network engine, /proc/PID/stat) per successful 200, and store transactions per second
(telgate_store_transaction_seconds_count from `telgate show metrics`); and what overload
does (issue 22): retransmissions repeated/absorbed, nonce-count replays, answers evicted
early, 5xx answers (from /metrics, "-" on builds without them), and datagrams the kernel
dropped for a full receive buffer (machine-wide, telgated's sockets in parentheses).
SIPp runs with 4 MiB socket buffers: the load generator's own drops are not the server's.

  bench/register_durable.py NEW_BUILD [OLD_BUILD] [--seconds 5] [--rates 500,1000,2000]
                            [--loads churn,refresh] [--sip 'commit_interval_ms = 0']
BENCH_EVENTS=1 also prints the server's log events, SIPp's errors and failed-call
counters, by kind.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
USERS = 2000
PW = "Bench-Durable-1"
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def engine_pid(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        for k in f.read().split():
            with open(f"/proc/{k}/comm") as c:
                if c.read().strip() != "telgated-signer":
                    return int(k)
    return None


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def udp_drops():
    """Datagrams the kernel dropped for a full receive buffer, machine-wide (telgated's
    and SIPp's sockets alike): /proc/net/snmp Udp RcvbufErrors."""
    with open("/proc/net/snmp") as f:
        rows = [ln.split() for ln in f if ln.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def udp_drops_port(port):
    """The same for telgated's sockets on port (/proc/net/udp, the drops column): the
    rest of udp_drops() is SIPp's."""
    n = 0
    with open("/proc/net/udp") as f:
        for ln in f.readlines()[1:]:
            x = ln.split()
            if int(x[1].split(":")[1], 16) == port:
                n += int(x[-1])
    return n


def metrics(build, conf):
    """Store transactions, and the location writer's commit histograms (new builds):
    {"txns": n, "lat": {le: cumulative count}, "changes_sum": s, "commits": n}."""
    out = subprocess.run([f"{build}/telgate", "-c", conf, "show", "metrics"],
                         capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"^telgate_store_transaction_seconds_count (\d+)", out, re.M)
    lat = {float(le): int(n) for le, n in re.findall(
        r'^telgate_sip_location_commit_seconds_bucket\{le="([0-9.e+-]+)"\} (\d+)', out, re.M)}
    cs = re.search(r"^telgate_sip_location_commit_changes_sum ([0-9.e+]+)", out, re.M)
    cc = re.search(r"^telgate_sip_location_commit_changes_count (\d+)", out, re.M)
    def counter(pattern):
        x = re.search(pattern, out, re.M)
        return int(float(x.group(1))) if x else None
    return {"txns": int(m.group(1)) if m else 0, "lat": lat,
            "changes_sum": float(cs.group(1)) if cs else 0.0,
            "commits": int(cc.group(1)) if cc else 0,
            # what overload does to transactions (issue 22); None on builds without them
            "repeated": counter(r'^telgate_sip_retransmissions_total\{result="repeated"\} (\S+)'),
            "absorbed": counter(r'^telgate_sip_retransmissions_total\{result="absorbed"\} (\S+)'),
            "replays": counter(r"^telgate_sip_nonce_replays_total (\S+)"),
            "evicted": counter(r"^telgate_sip_transactions_evicted_early_total (\S+)"),
            "r5xx": counter(r'^telgate_sip_responses_total\{class="5xx"\} (\S+)')}


def quantile_le(lat0, lat1, q):
    """The bucket bound at or below which a fraction q of the step's commits took."""
    d = sorted((le, lat1[le] - lat0.get(le, 0)) for le in lat1)
    if not d or d[-1][1] == 0:
        return None
    total = max(n for _, n in d)
    for le, n in d:
        if n >= q * total:
            return le
    return None


def start(build, tmp, port, extra):
    lines = ["b%05d" % i for i in range(USERS)]
    prov = {"version": 1,
            "users": [{"userid": x, "directory": "local", "digestpassword": PW} for x in lines],
            "devices": [{"name": "SEPBENCH" + x.upper(), "owner": x, "lines": [x]}
                        for x in lines]}
    with open(f"{tmp}/prov.json", "w") as f:
        json.dump(prov, f)
    conf = f"{tmp}/telgated.conf"
    with open(conf, "w") as f:
        f.write(f"[core]\nstate_dir = {tmp}/state\n[log]\nlevel = notice\n"
                f"target = file:{tmp}/telgated.log\n[cti]\nport = 0\ntls_port = 0\n"
                f"[admin]\nhttp_port = 0\n[files]\nhttp_port = 0\ntftp_port = 0\n"
                f"https_port = 0\n[est]\nport = 0\n"
                f"[sip]\naddress = 127.0.0.1\nport = {port}\ntls_port = 0\nedge_port = 0\n"
                "challenge_sha256 = no\nsource_failures_max = 0\n" + extra)
    p = subprocess.Popen([f"{build}/telgated", "-c", conf, "--provision", f"{tmp}/prov.json"],
                         stderr=subprocess.DEVNULL)
    end = time.time() + 120
    while time.time() < end:
        if subprocess.run([f"{build}/telgate", "-c", conf, "status"], capture_output=True,
                          timeout=60).returncode == 0:
            return p, conf
        time.sleep(0.2)
    raise SystemExit("telgated did not start")


def step(build, conf, tmp, port, scen, rate, seconds, eng, per_call):
    csv = f"{tmp}/users.csv"
    with open(csv, "w") as f:
        f.write("SEQUENTIAL\n")
        for i in range(USERS):
            u = "b%05d" % i
            f.write(f"{u};telgate;[authentication username={u} password={PW}];3600\n")
    calls = rate * seconds
    c0, t0, m0, d0 = cpu_s(eng), time.time(), metrics(build, conf), udp_drops()
    e0 = udp_drops_port(port)
    r = subprocess.run(["sipp", "-nostdin", "-sf", scen, "-inf", csv, "-t", "u1", "-r", str(rate),
                        "-m", str(calls), "-l", "4000", "-timeout", str(seconds * 4 + 30),
                        "-recv_timeout", "5000", "-timeout_error", "-trace_stat", "-fd", "1",
                        # SIPp's own socket: with the default buffer the load generator,
                        # not the server, dropped the answers under overload
                        "-buff_size", str(4 << 20),
                        "-trace_err",
                        f"127.0.0.1:{port}"], cwd=tmp, capture_output=True, text=True)
    wall = time.time() - t0
    cpu = cpu_s(eng) - c0
    m1 = metrics(build, conf)
    drops = udp_drops() - d0
    edrops = udp_drops_port(port) - e0
    txns = m1["txns"] - m0["txns"]
    commits = m1["commits"] - m0["commits"]
    ok = failed = 0
    for x in os.listdir(tmp):
        if x.endswith("_.csv"):
            rows = open(os.path.join(tmp, x)).read().splitlines()
            if len(rows) >= 2:
                head, last = rows[0].split(";"), rows[-1].split(";")
                ok = int(last[head.index("SuccessfulCall(C)")])
                failed = int(last[head.index("FailedCall(C)")])
                if os.environ.get("BENCH_EVENTS"):  # why calls failed, SIPp's counters
                    print("sipp failed", {h[6:-3]: v for h, v in zip(head, last)
                                          if h.startswith("Failed") and h.endswith("(C)")
                                          and h != "FailedCall(C)" and v not in ("0", "")})
            os.remove(os.path.join(tmp, x))
        elif x.endswith("_errors.log"):
            if os.environ.get("BENCH_EVENTS"):
                errs = {}
                for ln in open(os.path.join(tmp, x), errors="replace"):
                    if not re.match(r"\d{4}-\d\d-\d\d", ln):
                        continue  # a line of the message SIPp dumps after its error
                    k = re.sub(r"\d+", "N", ln.split(": ", 1)[-1].strip())
                    k = re.sub(r"'[^']*'", "'.'", k)[:120]
                    errs[k] = errs.get(k, 0) + 1
                print("sipp", sorted(errs.items(), key=lambda e: -e[1])[:5])
            os.remove(os.path.join(tmp, x))
    regs = ok * per_call
    return {"rate": rate, "calls_s": ok / wall, "failed": failed,
            "cpu_us_per_200": cpu / regs * 1e6 if regs else 0.0,
            "store_txn_s": txns / wall, "sipp_rc": r.returncode,
            "batch": (m1["changes_sum"] - m0["changes_sum"]) / commits if commits else None,
            "p50": quantile_le(m0["lat"], m1["lat"], 0.5),
            "p99": quantile_le(m0["lat"], m1["lat"], 0.99), "drops": drops,
            "edrops": edrops,
            **{k: None if m1[k] is None else m1[k] - m0[k]
               for k in ("repeated", "absorbed", "replays", "evicted", "r5xx")}}


def run(build, seconds, rates, extra, loads):
    res = {}
    for name, scen, per_call in (
            ("churn", f"{ROOT}/tests/system/sipp/register_unregister.xml", 2),
            ("refresh", f"{HERE}/sipp/register_rtd.xml", 1)):
        if name not in loads:
            continue
        tmp = tempfile.mkdtemp(prefix="tgdur")
        port = free_port()
        p, conf = start(build, tmp, port, extra)
        try:
            eng = engine_pid(p.pid)
            # one pass over the lines first: the refresh load then only refreshes
            step(build, conf, tmp, port, f"{HERE}/sipp/register_rtd.xml", 1000,
                 max(1, USERS // 1000), eng, 1)
            res[name] = [step(build, conf, tmp, port, scen, r, seconds, eng, per_call)
                         for r in rates]
        finally:
            p.terminate()
            p.wait(timeout=60)
            if os.environ.get("BENCH_EVENTS"):  # what the server logged, by event
                ev = {}
                for ln in open(f"{tmp}/telgated.log", errors="replace"):
                    m = re.search(r" event=(\S+)", ln)
                    if m:
                        ev[m.group(1)] = ev.get(m.group(1), 0) + 1
                print(name, sorted(ev.items(), key=lambda x: -x[1])[:8])
            shutil.rmtree(tmp, ignore_errors=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("new")
    ap.add_argument("old", nargs="?")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rates", default="500,1000,2000")
    ap.add_argument("--loads", default="churn,refresh")
    ap.add_argument("--sip", default="", help="lines added to [sip], e.g. "
                    "'commit_interval_ms = 0' (\\n between lines)")
    a = ap.parse_args()
    rates = [int(x) for x in a.rates.split(",")]
    builds = [("new", a.new)] + ([("old", a.old)] if a.old else [])
    extra = a.sip.replace("\\n", "\n") + ("\n" if a.sip else "")
    out = {label: run(b, a.seconds, rates, extra, a.loads.split(",")) for label, b in builds}
    print(f"{'build':5} {'load':8} {'offered':>8} {'calls/s':>8} {'failed':>7} "
          f"{'CPU us/200':>10} {'store txn/s':>11} {'changes/commit':>14} "
          f"{'commit p50<=':>12} {'p99<=':>8} {'retrans rep/abs':>15} {'nc replays':>10} "
          f"{'evicted':>7} {'5xx':>5} {'udp drops (telgated)':>20}")
    ms = (lambda v: "-" if v is None else f"{v * 1000:g} ms")
    num = (lambda v: "-" if v is None else str(v))
    rep = (lambda x: "-" if x["repeated"] is None else f"{x['repeated']}/{x['absorbed']}")
    for label, res in out.items():
        for load, rows in res.items():
            for x in rows:
                print(f"{label:5} {load:8} {x['rate']:8d} {x['calls_s']:8.0f} {x['failed']:7d} "
                      f"{x['cpu_us_per_200']:10.1f} {x['store_txn_s']:11.0f} "
                      f"{'-' if x['batch'] is None else '%.1f' % x['batch']:>14} "
                      f"{ms(x['p50']):>12} {ms(x['p99']):>8} {rep(x):>15} "
                      f"{num(x['replays']):>10} {num(x['evicted']):>7} {num(x['r5xx']):>5} "
                      f"{x['drops']:>9} ({x['edrops']:>8})")


if __name__ == "__main__":
    main()
