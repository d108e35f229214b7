#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/register_vs_kamailio: REGISTER -> 401 -> REGISTER with digest -> 200 per second,
telgate versus Kamailio (Debian's, usrloc in memory, auth_db on db_text, tls module) with
the same 10,000 users, driven by the same SIPp scenario (bench/sipp/register_rtd.xml), on
the same machine, one server at a time, over UDP, TCP and TLS.

For each transport it raises the offered rate step by step and reports the highest rate the
server kept up with (achieved >= 90 % of offered) with zero failed calls, the p99 of the
register-to-200 time at that rate, and the ratio telgate/Kamailio. On a small machine SIPp
itself runs out of CPU before either server does, so the rate ratio tends to 1.0; the
script therefore also measures what each registration costs the server: the CPU time of
the server's whole process tree during a step, divided by the registrations in it, at the
highest rate both servers sustained. Registrations per server-CPU-second is the capacity
a server would have with the load generator elsewhere; that ratio is printed too.

TLS: Debian's SIPp is built without OpenSSL, so SIPp speaks TCP to a local stunnel client
that carries it over TLS (1.2+, the server's certificate verified) to the server's TLS
port; the same stunnel serves both servers.

usage: register_vs_kamailio.py BUILD_DIR [seconds per step] [users]"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build/bench"
STEP_S = int(sys.argv[2]) if len(sys.argv) > 2 else 5
USERS = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
HERE = os.path.dirname(os.path.abspath(__file__))
RATES = [int(x) for x in os.environ.get("RATES", "500 1000 1500 2000 2500 3000 3500 4000 5000 6000 7000 8000 10000").split()]
PW = "Bench-Pass-1"
TRANSPORTS = os.environ.get("TRANSPORTS", "UDP TCP TLS").split()
SERVERS = os.environ.get("SERVERS", "telgate kamailio").split()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, t=20):
    end = time.time() + t
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def proc_tree_cpu(root):
    """CPU seconds (user + system) used so far by root and all its descendants."""
    hz = os.sysconf("SC_CLK_TCK")
    parent, ticks = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        parent[int(d)] = int(fields[1])
        ticks[int(d)] = int(fields[11]) + int(fields[12])
    total = 0
    for pid, t in ticks.items():
        p = pid
        while p and p != root and p in parent:
            p = parent[p]
        if p == root:
            total += t
    return total / hz


def make_cert(tmp):
    """A CA and a server certificate for 127.0.0.1/localhost (for Kamailio's TLS; telgate
    uses the one it generates)."""
    if os.path.exists(f"{tmp}/srv.crt"):
        return
    run = (lambda *a: subprocess.run(["openssl", *a], cwd=tmp, check=True,
                                     capture_output=True))
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=bench CA",
        "-addext", "basicConstraints=critical,CA:TRUE")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=localhost")
    with open(f"{tmp}/srv.ext", "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.crt", "-days", "2", "-extfile", "srv.ext")


def start_stunnel(tmp, tls_port, ca):
    """A TLS client for SIPp's TCP: returns (process, local port)."""
    port = free_port()
    conf = f"{tmp}/stunnel-{tls_port}.conf"
    with open(conf, "w") as f:
        f.write(f"foreground = yes\npid =\ndebug = 0\n[sip]\nclient = yes\n"
                f"accept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{tls_port}\n"
                f"CAfile = {ca}\nverifyChain = yes\ncheckHost = localhost\n"
                f"sslVersionMin = TLSv1.2\n")
    p = subprocess.Popen(["stunnel4", conf], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, port


def start_telgate(tmp, port):
    users = [{"userid": "user%05d" % i, "directory": "local", "digestpassword": PW}
             for i in range(1, USERS + 1)]
    devs = [{"name": "BENCH%05d" % i, "owner": "user%05d" % i, "lines": ["user%05d" % i]}
            for i in range(1, USERS + 1)]
    with open(f"{tmp}/prov.json", "w") as f:
        json.dump({"version": 1, "users": users, "devices": devs}, f)
    with open(f"{tmp}/telgated.conf", "w") as f:
        f.write(f"[core]\nstate_dir = {tmp}/state\n[log]\nlevel = error\n"
                f"target = file:{tmp}/telgated.log\n[cti]\nport = 0\ntls_port = 0\n"
                f"[sip]\naddress = 127.0.0.1\nport = {port}\ntls_port = {port + 1}\n"
                "edge_port = 0\nchallenge_sha256 = no\nsource_failures_max = 0\n")
    p = subprocess.Popen([f"{BUILD}/telgated", "-c", f"{tmp}/telgated.conf", "--provision",
                          f"{tmp}/prov.json"], stderr=subprocess.DEVNULL)
    wait_port(port, 120)
    wait_port(port + 1)
    return p, f"{tmp}/state/pki/ca.crt"


def start_kamailio(tmp, port):
    os.makedirs(f"{tmp}/kdb", exist_ok=True)
    with open(f"{tmp}/kdb/version", "w") as f:
        f.write("table_name(string) table_version(int)\nsubscriber:7\n")
    with open(f"{tmp}/kdb/subscriber", "w") as f:
        f.write("id(int,auto) username(string) domain(string) password(string) "
                "ha1(string,null) ha1b(string,null)\n")
        for i in range(1, USERS + 1):
            f.write("%d:user%05d:telgate:%s::\n" % (i, i, PW))
    ncpu = os.cpu_count() or 2
    make_cert(tmp)
    with open(f"{tmp}/kamailio-tls.cfg", "w") as f:
        f.write(f"[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
                f"require_certificate = no\nprivate_key = {tmp}/srv.key\n"
                f"certificate = {tmp}/srv.crt\n")
    with open(f"{tmp}/kamailio.cfg", "w") as f:
        f.write(f"""#!KAMAILIO
debug=0
log_stderror=no
children={ncpu}
tcp_children={ncpu}
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
listen=tls:127.0.0.1:{port + 1}
enable_tls=yes
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tls.so"
modparam("tls", "config", "{tmp}/kamailio-tls.cfg")
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "db_text.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
modparam("usrloc", "db_mode", 0)
modparam("auth_db", "db_url", "text://{tmp}/kdb")
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
request_route {{
	if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
	if (is_method("OPTIONS")) {{ sl_send_reply("200", "OK"); exit; }}
	if (!is_method("REGISTER")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
	if (!auth_check("$fd", "subscriber", "1")) {{ auth_challenge("$fd", "1"); exit; }}
	if (!save("location")) {{ sl_reply_error(); }}
	exit;
}}
""")
    p = subprocess.Popen(["kamailio", "-f", f"{tmp}/kamailio.cfg", "-DD", "-E", "-m", "512",
                          "-P", f"{tmp}/kamailio.pid"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    wait_port(port)
    wait_port(port + 1)
    return p, f"{tmp}/ca.crt"


def run_step(tmp, port, transport, rate, server_pid):
    csv = f"{tmp}/users.csv"
    if not os.path.exists(csv):
        with open(csv, "w") as f:
            f.write("SEQUENTIAL\n")
            for i in range(1, USERS + 1):
                u = "user%05d" % i
                f.write(f"{u};telgate;[authentication username={u} password={PW}];3600\n")
    calls = rate * STEP_S
    rtt = f"{tmp}/rtt"
    for x in os.listdir(tmp):
        if x.startswith("register_rtd_") and x.endswith("_rtt.csv"):
            os.remove(os.path.join(tmp, x))
    t0 = time.time()
    cpu0 = proc_tree_cpu(server_pid)
    r = subprocess.run(["sipp", "-nostdin", "-sf", f"{HERE}/sipp/register_rtd.xml", "-inf", csv,
                        "-t", transport, "-r", str(rate), "-m", str(calls), "-l", "2000",
                        "-timeout", str(STEP_S * 4 + 30), "-timeout_error", "-trace_rtt",
                        "-rtt_freq", "100", "-max_socket", "5000",
                        f"127.0.0.1:{port}"], cwd=tmp, capture_output=True, text=True)
    wall = time.time() - t0
    cpu = proc_tree_cpu(server_pid) - cpu0
    samples = []
    for x in os.listdir(tmp):
        if x.startswith("register_rtd_") and x.endswith("_rtt.csv"):
            for line in open(os.path.join(tmp, x)):
                parts = line.strip().split(";")
                if len(parts) >= 2 and parts[1].replace(".", "").isdigit():
                    samples.append(float(parts[1]))
    ok = len(samples)
    failed = calls - ok if r.returncode != 0 else 0
    samples.sort()
    p99 = samples[int(0.99 * (len(samples) - 1))] if samples else 0.0
    return ok / wall, failed, p99, r.returncode, (ok / cpu if cpu > 0 else 0.0)


def measure(tmp, port, transport, server_pid):
    """The steps the server passed: {offered rate: (achieved/s, p99 ms, regs per CPU-s)}."""
    steps = {}
    for rate in RATES:
        got, failed, p99, rc, per_cpu = run_step(tmp, port, transport, rate, server_pid)
        # A step counts when every call succeeded and the server kept up with the offer
        # (within 10 %); past that, calls queue and latency is the queue's, not the server's.
        if failed or rc != 0 or got < rate * 0.9:
            break
        steps[rate] = (got, p99, per_cpu)
    return steps


def main():
    tmp = tempfile.mkdtemp(prefix="tgregbench")
    results = {}
    try:
        for name, starter in (("telgate", start_telgate), ("kamailio", start_kamailio)):
            if name not in SERVERS:
                continue
            port = free_port()
            while port + 1 > 65535:
                port = free_port()
            proc, ca = starter(tmp, port)
            tunnel = None
            try:
                if "UDP" in TRANSPORTS:
                    results[(name, "UDP")] = measure(tmp, port, "u1", proc.pid)
                if "TCP" in TRANSPORTS:
                    results[(name, "TCP")] = measure(tmp, port, "t1", proc.pid)
                if "TLS" in TRANSPORTS:
                    tunnel, tport = start_stunnel(tmp, port + 1, ca)
                    results[(name, "TLS")] = measure(tmp, tport, "t1", proc.pid)
            finally:
                if tunnel:
                    tunnel.kill()
                    tunnel.wait()
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                if name == "kamailio":
                    subprocess.run(["pkill", "-f", f"{tmp}/kamailio.cfg"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"register_vs_kamailio: {USERS} users, REGISTER/401/REGISTER/200 per call, "
          f"{STEP_S} s per rate step, one server at a time on this machine "
          f"({os.cpu_count()} cores shared with SIPp; TLS through one stunnel client)")
    print("%-9s %-10s %10s %9s %10s   %s" % ("transport", "server", "regs/s", "p99 ms",
                                            "offered/s", "regs per server CPU-second"))
    for tr in TRANSPORTS:
        t, k = results.get(("telgate", tr)) or {}, results.get(("kamailio", tr)) or {}
        common = max(set(t) & set(k), default=None)
        for name, steps in (("telgate", t), ("kamailio", k)):
            if not steps:
                print("%-9s %-10s %10s" % (tr, name, "failed at the lowest rate"))
                continue
            top = max(steps)
            got, p99, _ = steps[top]
            at = common or top
            eff = "%.0f at %d/s" % (steps[at][2], at)
            print("%-9s %-10s %10.0f %9.2f %10d   %s" % (tr, name, got, p99, top, eff))
        if t and k:
            rate_ratio = t[max(t)][0] / k[max(k)][0]
            line = "%-9s ratio telgate/kamailio: %.2f by rate" % (tr, rate_ratio)
            if common and k[common][2] > 0:
                line += ", %.2f by server CPU per registration" % (t[common][2] / k[common][2])
            print(line + " (goal >= 1.5)")


if __name__ == "__main__":
    main()
