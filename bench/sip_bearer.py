#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""SIP OAuth (issue 19): bearer-token REGISTER against digest REGISTER over TLS, in one run,
with the same scenario shape (bench/sipp/register_rtd.xml for digest: REGISTER -> 401 ->
REGISTER with digest -> 200; register_bearer_rtd.xml for bearer: REGISTER -> 407 ->
REGISTER with Proxy-Authorization: Bearer token="..." -> 200), SIPp over one TCP socket
through stunnel (Debian's SIPp has no TLS): digest to sip.tls_port (5061), bearer to
sipOAuthPort (5090, ClusterSIPOAuthMode on).

DEVICES lines and users (10,000): digest devices with the default profile, OAuth devices
with an OAuth profile, each owned by its own user; one access token per OAuth user (issued
over the control socket before the clock starts). Each side runs two passes over its lines:
"first" (every device registers for the first time: the store path, a signature check for
a token) and "refresh" (every line again: the account cache for digest; the
verified-token cache and the grant for bearer). Per pass: successful calls, the network
engine's CPU (utime + stime, /proc/PID/stat) and registrations per server-CPU-second; then
the ratio bearer / digest (goal >= 1.0 for refreshes).

  bench/sip_bearer.py BUILD [--devices 10000] [--rate 400]
Wall-clock figures are noisy on a shared machine; CPU per registration is what compares.
"""
import argparse
import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from register_durable import cpu_s, engine_pid  # noqa: E402
from register_vs_kamailio import start_stunnel  # noqa: E402

PW = "Bench-Bearer-1"
OAUTH = "Jabber - OAuth"


def free_port():
    """Free for TCP and UDP, below the ephemeral range (sipOAuthPort is 1024-49151)."""
    while True:
        p = random.randint(20000, 32767)
        try:
            with socket.socket() as t, socket.socket(type=socket.SOCK_DGRAM) as u:
                t.bind(("127.0.0.1", p))
                u.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue


def ctl(sock_path, argv):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    body = json.dumps({"argv": argv}).encode()
    s.sendall(struct.pack(">I", len(body)) + body)
    buf = b""
    while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return json.loads(buf[4:])


def start(build, tmp, n, ports):
    dl = ["d%05d" % i for i in range(n)]
    ol = ["o%05d" % i for i in range(n)]
    prov = {"version": 1,
            "users": [{"userid": x, "directory": "local", "digestpassword": PW} for x in dl] +
                     [{"userid": x, "directory": "local"} for x in ol],
            "securityprofiles": [{"name": OAUTH, "transport": "TLS",
                                  "enableoauthauthentication": True}],
            "devices": [{"name": "SEPB" + x.upper(), "owner": x, "lines": [x]} for x in dl] +
                       [{"name": "CSFB" + x.upper(), "owner": x, "lines": [x],
                         "securityprofile": OAUTH} for x in ol]}
    with open(f"{tmp}/prov.json", "w") as f:
        json.dump(prov, f)
    conf = f"{tmp}/telgated.conf"
    with open(conf, "w") as f:
        f.write(f"[core]\nstate_dir = {tmp}/state\n[log]\nlevel = notice\n"
                f"target = file:{tmp}/telgated.log\n[cti]\nport = 0\ntls_port = 0\n"
                f"[admin]\nhttp_port = 0\n[files]\nhttp_port = 0\ntftp_port = 0\n"
                f"https_port = 0\n[est]\nport = {ports['est']}\n"
                f"[sip]\naddress = 127.0.0.1\nport = {ports['sip']}\n"
                f"tls_port = {ports['tls']}\nedge_port = 0\noauth_port = {ports['oauth']}\n"
                "challenge_sha256 = no\nsource_failures_max = 0\n")
    p = subprocess.Popen([f"{build}/telgated", "-c", conf, "--provision", f"{tmp}/prov.json"],
                         stderr=subprocess.DEVNULL)
    end = time.time() + 300
    while time.time() < end and p.poll() is None:
        if subprocess.run([f"{build}/telgate", "-c", conf, "status"], capture_output=True,
                          timeout=60).returncode == 0:
            return p, conf, dl, ol
        time.sleep(0.2)
    raise SystemExit(f"telgated did not start (exit {p.poll()}; see {tmp}/telgated.log)")


def sipp_pass(scen, inf, lport, n, rate, eng):
    c0, t0 = cpu_s(eng), time.time()
    r = subprocess.run(["sipp", "-nostdin", "-sf", scen, "-inf", inf, "-t", "t1", "-m", str(n),
                        "-r", str(rate), "-l", str(rate), "-timeout", str(n // rate + 120),
                        "-trace_stat", "-stf", inf + ".stat.csv", f"127.0.0.1:{lport}"],
                       capture_output=True, text=True)
    cpu, wall = cpu_s(eng) - c0, time.time() - t0
    ok = failed = 0
    try:
        with open(inf + ".stat.csv") as f:
            rows = [ln.strip().split(";") for ln in f if ln.strip()]
        head = rows[0]
        last = rows[-1]
        ok = int(last[head.index("SuccessfulCall(C)")])
        failed = int(last[head.index("FailedCall(C)")])
    except (OSError, ValueError, IndexError):
        pass
    if r.returncode not in (0, 1) or not ok:
        sys.stderr.write(r.stdout[-1500:] + r.stderr[-1500:])
    return {"ok": ok, "failed": failed, "cpu_s": cpu, "wall_s": wall,
            "per_cpu_s": ok / cpu if cpu > 0 else 0.0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--rate", type=int, default=400)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="tgbearer")
    ports = {k: free_port() for k in ("sip", "tls", "oauth", "est")}
    p, conf, dl, ol = start(a.build, tmp, a.devices, ports)
    tunnels = []
    try:
        sock = f"{tmp}/state/telgated.sock"
        r = ctl(sock, ["utils", "sipOAuth-mode", "enable"])
        assert r.get("ok") and r.get("port") == ports["oauth"], r
        t0 = time.time()
        toks = []
        for u in ol:
            r = ctl(sock, ["oauth", "issue", u, "--aud", "sip", "--client", "bench"])
            assert r.get("ok"), r
            toks.append(r["message"])
        print(f"# {a.devices} tokens issued in {time.time() - t0:.1f} s")
        with open(f"{tmp}/digest.csv", "w") as f:
            f.write("SEQUENTIAL\n" + "".join(
                f"{x};telgate;[authentication username={x} password={PW}];3600\n" for x in dl))
        with open(f"{tmp}/bearer.csv", "w") as f:
            f.write("SEQUENTIAL\n" + "".join(
                f"{x};telgate;{t};3600\n" for x, t in zip(ol, toks)))
        ca = f"{tmp}/state/pki/ca.crt"
        pd, dport = start_stunnel(tmp, ports["tls"], ca)
        pb, bport = start_stunnel(tmp, ports["oauth"], ca)
        tunnels = [pd, pb]
        eng = engine_pid(p.pid) or p.pid
        res = {}
        for name in ("first", "refresh"):
            res["digest", name] = sipp_pass(os.path.join(HERE, "sipp", "register_rtd.xml"),
                                            f"{tmp}/digest.csv", dport, a.devices, a.rate, eng)
            res["bearer", name] = sipp_pass(os.path.join(HERE, "sipp",
                                                         "register_bearer_rtd.xml"),
                                            f"{tmp}/bearer.csv", bport, a.devices, a.rate, eng)
        print(f"{'side':8} {'pass':8} {'ok':>7} {'failed':>7} {'cpu_s':>8} {'us/reg':>8} "
              f"{'reg/cpu_s':>10}")
        for (side, name), x in sorted(res.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            us = x["cpu_s"] / x["ok"] * 1e6 if x["ok"] else 0.0
            print(f"{side:8} {name:8} {x['ok']:7d} {x['failed']:7d} {x['cpu_s']:8.2f} "
                  f"{us:8.1f} {x['per_cpu_s']:10.0f}")
        for name in ("first", "refresh"):
            d, b = res["digest", name]["per_cpu_s"], res["bearer", name]["per_cpu_s"]
            print(f"ratio bearer/digest ({name}): " + (f"{b / d:.2f}" if d else "-") +
                  ("  (goal >= 1.0)" if name == "refresh" else ""))
    finally:
        for t in tunnels:
            t.kill()
            t.wait()
        p.terminate()
        p.wait(timeout=60)
        if not os.environ.get("BENCH_KEEP"):
            subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
