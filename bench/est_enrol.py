#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/est_enrol: EST enrolment (issue 17, "Benchmark"), in one run, each measurement
printed next to its goal:

(1) the CA step alone, through the signer process, per core, against a bare OpenSSL loop
    doing the same steps (bench_est_ca; goal >= 0.9x);
(2) end-to-end /simpleenroll, a new TLS 1.3 connection per enrolment as devices do, with
    CLIENTS parallel clients (bench_est_load; goal >= 400/s), next to `openssl s_time -new`
    full handshakes/s to the same listener (one s_time per core) as the ceiling;
(3) a STORM-device enrolment storm while SIPp sends REGISTER at a steady SIP_RATE/s and a
    CTI session measures device-state event latency (bench_cti_probe): the SIP REGISTER p99
    (REGISTER -> 401 -> REGISTER -> 200, bench/sipp/register_rtd.xml) and the CTI event
    p99, without the storm and during it (the samples between the storm's first request
    and its last answer); goal both < 20 ms.

One telgated serves (2) and (3), configured for the load: [est] rate = 0 (no rate limit:
the default 100/s would cap (2) at 100/s), queue = 256; log level info to a file (one
http_access, est_enrol, capf_auth and ca_issued line per enrolment, as in production). The
enrolment profiles (one per enrolment, generated one-time strings) are made beforehand
with `telgate capf add`, outside every measured window.

usage: est_enrol.py BUILD_DIR [--enrolments N] [--clients N] [--storm N] [--seconds S] ..."""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no bench/__pycache__ from importing files.py
from files import free_port, wait_tcp  # noqa: E402

PW = "Bench-Pass-1"


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--ca-certs", type=int, default=2000, help="(1) certificates per way")
    p.add_argument("--enrolments", type=int, default=3000, help="(2) enrolments")
    p.add_argument("--clients", type=int, default=16, help="(2) parallel clients")
    p.add_argument("--seconds", type=int, default=5, help="(2) s_time seconds")
    p.add_argument("--storm", type=int, default=500, help="(3) devices in the storm")
    p.add_argument("--storm-clients", type=int, default=100, help="(3) at once")
    p.add_argument("--sip-rate", type=int, default=500, help="(3) REGISTERs a second")
    p.add_argument("--phase-seconds", type=int, default=10, help="(3) per phase")
    p.add_argument("--users", type=int, default=2000, help="(3) SIP users")
    p.add_argument("--storm-nice", type=int, default=19,
                   help="(3) nice of the storm's clients (devices are not on the server)")
    p.add_argument("--parts", default="1,2,3", help="which measurements, e.g. 3")
    p.add_argument("--conf", default="", help="extra telgated.conf lines (experiments), "
                   "e.g. '[est]\\nnice = 0'")
    return p.parse_args()


def start_telgated(a, tmp, ports):
    users = [{"userid": "user%05d" % i, "directory": "local", "digestpassword": PW}
             for i in range(1, a.users + 1)]
    users += [{"userid": "probe", "directory": "local", "password": PW,
               "groups": ["Standard CTI Enabled", "Standard CTI Allow Control of All Devices"]},
              {"userid": "bench", "directory": "local", "password": PW}]
    devs = [{"name": "BENCH%05d" % i, "owner": "user%05d" % i, "lines": ["user%05d" % i]}
            for i in range(1, a.users + 1)]
    devs.append({"name": "PROBE0001", "model": "bench", "protocol": "SIP"})
    with open(f"{tmp}/prov.json", "w") as f:
        json.dump({"version": 1, "users": users, "devices": devs}, f)
    conf = f"{tmp}/telgated.conf"
    with open(conf, "w") as f:
        f.write(f"[core]\nstate_dir = {tmp}/state\n[log]\nlevel = info\n"
                f"target = file:{tmp}/telgated.log\n"
                f"[admin]\nhttp_address = 127.0.0.1\nhttp_port = {ports['admin']}\n"
                f"[cti]\naddress = 127.0.0.1\nport = 0\ntls_port = {ports['cti']}\n"
                f"[files]\naddress = 127.0.0.1\nhttp_port = {ports['http']}\n"
                f"tftp_port = {ports['tftp']}\nhttps_port = {ports['https']}\n"
                f"[est]\naddress = 127.0.0.1\nport = {ports['est']}\nrate = 0\nqueue = 256\n"
                f"[sip]\naddress = 127.0.0.1\nport = {ports['sip']}\n"
                f"tls_port = {ports['sip_tls']}\nedge_port = 0\nchallenge_sha256 = no\n"
                "source_failures_max = 0\n" + a.conf.replace("\\n", "\n") + "\n")
    p = subprocess.Popen([f"{a.build}/telgated", "-c", conf, "--provision", f"{tmp}/prov.json"],
                         stderr=open(f"{tmp}/telgated.stderr", "w"))
    for port in (ports["est"], ports["cti"], ports["sip_tls"]):
        wait_tcp(port, 180)
    return p, conf, f"{tmp}/state/pki/ca.crt", f"{tmp}/state/telgated.sock"


def make_profiles(a, conf, n, first):
    """n enrolment profiles of user bench: ["instance:string"] (generated strings)."""
    def add(i):
        r = subprocess.run([f"{a.build}/telgate", "-c", conf, "--json", "capf", "add", "bench",
                            "--instance-id", str(i)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stdout + r.stderr)
        return f"{i}:" + dict(json.loads(r.stdout)["rows"])["auth_string"]

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        return list(ex.map(add, range(first, first + n)))


def est_load(a, port, ca, creds, clients, tmp, name, nice=0):
    path = f"{tmp}/{name}.creds"
    with open(path, "w") as f:
        f.write("\n".join(creds) + "\n")
    r = subprocess.run(["nice", "-n", str(nice), f"{a.build}/bench/bench_est_load", "127.0.0.1",
                        str(port), ca, path, str(clients)], capture_output=True, text=True)
    print(r.stdout.split("RESULT")[0].rstrip())
    if r.stderr.strip():
        print(r.stderr.strip()[-2000:])
    m = re.search(r"RESULT (.*)", r.stdout)
    return {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())} if m else {}


def s_time(a, port, ca):
    """Full TLS 1.3 handshakes/s, two `openssl s_time -new` per core in parallel (one per
    core leaves the listener idle while each waits for its answers)."""
    procs = [subprocess.Popen(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new",
                               "-tls1_3", "-CAfile", ca, "-time", str(a.seconds)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for _ in range(2 * (os.cpu_count() or 2))]
    total = 0.0
    for p in procs:
        out = p.communicate()[0]
        m = re.search(r"(\d+) connections in (\d+) real seconds", out)
        if m and int(m.group(2)):
            total += int(m.group(1)) / int(m.group(2))
    return total, len(procs)


def sipp_phase(a, tmp, ports, seconds):
    """SIPp at a steady rate for `seconds`: (process, its rtt-file prefix, start epoch s)."""
    csv = f"{tmp}/users.csv"
    if not os.path.exists(csv):
        with open(csv, "w") as f:
            f.write("SEQUENTIAL\n")
            for i in range(1, a.users + 1):
                u = "user%05d" % i
                f.write(f"{u};telgate;[authentication username={u} password={PW}];3600\n")
    for x in os.listdir(tmp):
        if x.startswith("register_rtd_") and x.endswith("_rtt.csv"):
            os.remove(os.path.join(tmp, x))
    t0 = time.time()
    p = subprocess.Popen(["sipp", "-nostdin", "-sf", f"{HERE}/sipp/register_rtd.xml", "-inf",
                          csv, "-t", "u1", "-r", str(a.sip_rate), "-m",
                          str(a.sip_rate * seconds), "-l", "2000", "-timeout",
                          str(seconds * 3 + 30), "-trace_rtt", "-rtt_freq", "1",
                          f"127.0.0.1:{ports['sip']}"], cwd=tmp, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    return p, t0


def sipp_samples(tmp, t0):
    """[(epoch ms, register-to-200 ms)] from SIPp's rtt file (its first column is ms since
    SIPp started)."""
    out = []
    for x in os.listdir(tmp):
        if x.startswith("register_rtd_") and x.endswith("_rtt.csv"):
            for line in open(os.path.join(tmp, x)):
                parts = line.strip().split(";")
                try:
                    out.append((t0 * 1000 + float(parts[0]), float(parts[1])))
                except (ValueError, IndexError):
                    pass
    return out


def p99(values):
    v = sorted(values)
    return v[int(0.99 * (len(v) - 1) + 0.5)] if v else float("nan")


def phase(a, tmp, ports, ca, sock, storm_creds):
    """One phase of (3): SIPp + the CTI probe, and the storm when storm_creds. Returns (SIP
    p99 ms, CTI p99 ms, SIP samples, CTI samples, storm result)."""
    secs = a.phase_seconds
    probe_out = f"{tmp}/probe.txt"
    probe = subprocess.Popen([f"{a.build}/bench/bench_cti_probe", str(ports["cti"]), ca, sock,
                              "PROBE0001", "probe", PW, str(secs), "20", probe_out],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sipp, t0 = sipp_phase(a, tmp, ports, secs)
    storm = {}
    if storm_creds:
        time.sleep(min(2, secs / 4))
        storm = est_load(a, ports["est"], ca, storm_creds, a.storm_clients, tmp, "storm",
                         a.storm_nice)
    sipp_err = sipp.communicate()[1]
    if sipp.returncode != 0:
        print(f"  sipp exited {sipp.returncode}: {sipp_err.strip()[-300:]}")
    print(probe.communicate()[0].rstrip())
    sip = sipp_samples(tmp, t0)
    cti = []
    if os.path.exists(probe_out):
        for line in open(probe_out):
            ms, us = line.split()
            cti.append((float(ms), int(us) / 1000.0))
    if storm:
        lo, hi = storm["t0_ms"], storm["t1_ms"]
        sip = [s for s in sip if lo <= s[0] <= hi]
        cti = [s for s in cti if lo <= s[0] <= hi]
    return p99([s[1] for s in sip]), p99([s[1] for s in cti]), len(sip), len(cti), storm


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return [line for line in text.splitlines()
            if line.startswith(("telgate_est_", "telgate_signer_requests", "telgate_signer_restarts",
                                "telgate_store_transaction_seconds", "telgate_worker_"))]


def main():
    a = parse_args()
    load = os.getloadavg()
    print(f"est_enrol: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f} at the start (the machine is shared: the numbers move with it)")
    parts = a.parts.split(",")
    if "1" in parts:
        r = subprocess.run([f"{a.build}/bench/bench_est_ca", str(a.ca_certs), "2"],
                           capture_output=True, text=True)
        print(r.stdout.rstrip())
        if r.returncode != 0:
            print("  bench_est_ca failed:", r.stderr.strip()[-500:])
    if parts == ["1"]:
        return

    tmp = tempfile.mkdtemp(prefix="tgestbench")
    os.chmod(tmp, 0o755)
    ports = {k: free_port() for k in ("admin", "cti", "http", "https", "est", "sip", "sip_tls")}
    ports["tftp"] = free_port(socket.SOCK_DGRAM)
    proc = None
    try:
        proc, conf, ca, sock = start_telgated(a, tmp, ports)
        t = time.time()
        creds = make_profiles(a, conf, a.enrolments + a.storm, 100000)
        print(f"  {len(creds)} enrolment profiles made with `telgate capf add` in "
              f"{time.time() - t:.1f} s (not measured)")
        if "2" in parts:
            e2e_part(a, ports, ca, creds, tmp)
        if "3" in parts:
            storm_part(a, ports, ca, sock, creds, tmp)
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def e2e_part(a, ports, ca, creds, tmp):
    print(f"est_enrol (2) end-to-end /simpleenroll, a new TLS 1.3 connection each, "
          f"{a.clients} clients, {a.enrolments} enrolments")
    e2e = est_load(a, ports["est"], ca, creds[:a.enrolments], a.clients, tmp, "e2e")
    hs, n = s_time(a, ports["est"], ca)
    rate = e2e.get("rate", 0.0)
    print(f"  enrolments/s {rate:8.1f} (goal >= 400) {'ok' if rate >= 400 else 'MISSED'}; "
          f"p50 {e2e.get('p50_ms', 0):.1f} ms p99 {e2e.get('p99_ms', 0):.1f} ms")
    print(f"  ceiling: openssl s_time -new -tls1_3, {n} in parallel: {hs:8.1f} full "
          f"handshakes/s; enrolments/handshakes x{rate / hs if hs else 0:.2f}")


def storm_part(a, ports, ca, sock, creds, tmp):
    print(f"est_enrol (3) a {a.storm}-device enrolment storm ({a.storm_clients} at once) "
          f"during SIPp REGISTER at {a.sip_rate}/s (UDP, digest) and CTI device-state "
          f"changes at 20/s, {a.phase_seconds} s phases")
    base = phase(a, tmp, ports, ca, sock, None)
    storm = phase(a, tmp, ports, ca, sock, creds[a.enrolments:])
    srate = storm[4].get("rate", 0.0)
    print(f"  storm: {int(storm[4].get('ok', 0))} of {a.storm} enrolled in "
          f"{storm[4].get('wall_s', 0):.2f} s ({srate:.0f}/s)")
    print("  %-34s %14s %14s   goal" % ("", "without storm", "during storm"))
    for name, i, j in (("SIP REGISTER p99 (ms)", 0, 2), ("CTI device event p99 (ms)", 1, 3)):
        ok = storm[i] < 20 and base[i] < 20
        print("  %-34s %8.2f (n=%d) %8.2f (n=%d)   < 20 %s" % (
            name, base[i], base[j], storm[i], storm[j], "ok" if ok else "MISSED"))
    print("  telgated's EST counters (/metrics) after the run:")
    for line in metrics(ports["admin"]):
        print("    " + line)


if __name__ == "__main__":
    main()
