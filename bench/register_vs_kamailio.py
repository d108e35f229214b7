#!/usr/bin/env python3
"""bench/register_vs_kamailio: REGISTER -> 401 -> REGISTER with digest -> 200 per second,
telgate versus Kamailio (Debian's, usrloc in memory, auth_db on db_text) with the same
10,000 users, driven by the same SIPp scenario (bench/sipp/register_rtd.xml), on the same
machine, one server at a time. For each transport it raises the offered rate step by step
and reports the highest rate the server kept up with (achieved >= 90 % of offered) with
zero failed calls, the p99 of the
register-to-200 time at that rate, and the ratio telgate/Kamailio.

usage: register_vs_kamailio.py BUILD_DIR [seconds per step] [users]
TLS: Debian's SIPp is built without OpenSSL, so TLS is reported as not measured."""
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
RATES = [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 5000, 6000, 7000, 8000, 10000]
PW = "Bench-Pass-1"


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
                f"[sip]\naddress = 127.0.0.1\nport = {port}\ntls_port = 0\n"
                "challenge_sha256 = no\nsource_failures_max = 0\n")
    p = subprocess.Popen([f"{BUILD}/telgated", "-c", f"{tmp}/telgated.conf", "--provision",
                          f"{tmp}/prov.json"], stderr=subprocess.DEVNULL)
    wait_port(port, 120)
    return p


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
    with open(f"{tmp}/kamailio.cfg", "w") as f:
        f.write(f"""#!KAMAILIO
debug=0
log_stderror=no
children={ncpu}
tcp_children={ncpu}
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
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
    return p


def run_step(tmp, port, transport, rate):
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
    r = subprocess.run(["sipp", "-nostdin", "-sf", f"{HERE}/sipp/register_rtd.xml", "-inf", csv,
                        "-t", transport, "-r", str(rate), "-m", str(calls), "-l", "2000",
                        "-timeout", str(STEP_S * 4 + 30), "-timeout_error", "-trace_rtt",
                        "-rtt_freq", "100", "-max_socket", "5000",
                        f"127.0.0.1:{port}"], cwd=tmp, capture_output=True, text=True)
    wall = time.time() - t0
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
    return ok / wall, failed, p99, r.returncode


def measure(tmp, port, transport):
    best = None
    for rate in RATES:
        got, failed, p99, rc = run_step(tmp, port, transport, rate)
        # A step counts when every call succeeded and the server kept up with the offer
        # (within 10 %); past that, calls queue and latency is the queue's, not the server's.
        if failed or rc != 0 or got < rate * 0.9:
            break
        best = (got, p99, rate)
    return best


def main():
    tmp = tempfile.mkdtemp(prefix="tgregbench")
    results = {}
    try:
        for name, starter in (("telgate", start_telgate), ("kamailio", start_kamailio)):
            port = free_port()
            proc = starter(tmp, port)
            try:
                for tr in ("u1", "t1"):
                    results[(name, tr)] = measure(tmp, port, tr)
            finally:
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
          f"({os.cpu_count()} cores shared with SIPp)")
    print("%-9s %-10s %12s %10s %12s" % ("transport", "server", "regs/s", "p99 ms", "offered/s"))
    names = {"u1": "UDP", "t1": "TCP"}
    for tr in ("u1", "t1"):
        for name in ("telgate", "kamailio"):
            b = results.get((name, tr))
            if b:
                print("%-9s %-10s %12.0f %10.2f %12d" % (names[tr], name, b[0], b[1], b[2]))
            else:
                print("%-9s %-10s %12s" % (names[tr], name, "failed at the lowest rate"))
        t, k = results.get(("telgate", tr)), results.get(("kamailio", tr))
        if t and k:
            print("%-9s ratio telgate/kamailio: %.2f (goal >= 1.5)" % (names[tr], t[0] / k[0]))
    print("TLS       not measured: Debian's SIPp is built without OpenSSL")


if __name__ == "__main__":
    main()
