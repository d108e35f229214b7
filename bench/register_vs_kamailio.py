#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/register_vs_kamailio: REGISTER -> 401 -> REGISTER with digest -> 200 per second,
telgate versus Kamailio configured fairly, and versus the machine's limit, with the same
10,000 users, driven by the same SIPp scenario (bench/sipp/register_rtd.xml), on the same
machine, one server at a time, over UDP, TCP and TLS (issue 22).

The servers (rows), each labelled in the output:
  telgate    telgated as configured by its tests (bindings persisted, nonce counts checked).
  kam-a      Kamailio's fastest idiomatic configuration for this job: credentials (HA1) in
             an htable loaded at start-up from SQLite, checked by pv_www_authenticate;
             usrloc in memory (db_mode 0); stateless replies; children and tcp_children one
             per core; the tls module with its session cache (tickets: OpenSSL's default).
  kam-b      kam-a doing the same work as telgate: bindings persisted (usrloc db_mode 2,
             write-back to SQLite in WAL mode, as telgate's store) and nonce counts checked
             (auth nonce_count with qop=auth), stateful (t_newtran) for authenticated
             REGISTERs as the auth module's documentation requires with nonce_count, as
             telgate absorbs retransmitted authenticated REGISTERs.
  kam-dbtext the old configuration (auth_db on db_text, which scans the subscriber table
             on every authentication): informative only, no ratio.
  limit      bench_sip_limit (bench/sip_limit.c): canned 401 and 200 of the same sizes as
             telgate's (captured from it), no SIP work: the ceiling of the kernel, the
             transport and SIPp here.
Before it is timed, every server is checked: a REGISTER without credentials gets a 401, a
wrong password 401/403 (not for the limit responder, which checks nothing), the right one
200; telgate and kam-b refuse a replayed nonce count, and kam-b's binding reaches SQLite.
Per transport an untimed warm-up registers every user once (the "first" column), the
script waits until the server is idle, and the timed steps are refreshes (SIPp keeps one
local port, so each user's Contact stays the same).

For each transport it raises the offered rate step by step (RATES, then a quarter more a
step up to MAX_RATE) until the server fails or the load generator is saturated (SIPp or
stunnel at >= 90 % of a core), says which one limited each row (the server; SIPp or
stunnel; the machine, when server, SIPp and stunnel together kept every core busy; or
MAX_RATE), and keeps the highest rate the
server kept up with (achieved >= 90 % of offered) with zero failed calls, the p99 of the
register-to-200 time at that rate, and what a registration cost the server: the CPU time of
the server's whole process tree (from /proc) during the step divided by the registrations
(registrations per server-CPU-second: the capacity with the load generator elsewhere). The
ratios compare telgate with a peer at the highest rate both sustained (efficiency depends on
the load). SIPp's own CPU is measured too: near a full core (>= 90 %), SIPp is the limit and
the rate says nothing about the server.

TLS: Debian's SIPp is built without OpenSSL, so SIPp speaks TCP to a local stunnel client
that carries it over TLS (1.2+, the server's certificate verified) to the server's TLS
port; the same stunnel configuration serves every server (its CPU is shown with SIPp's).

usage: register_vs_kamailio.py BUILD_DIR [seconds per step] [users] [--quick]
  --quick: 2 s steps and four rates, a check that everything runs, not a measurement.
  env: RATES, MAX_RATE (100000), TRANSPORTS (UDP TCP TLS), SERVERS (telgate kam-a kam-b kam-dbtext limit),
  WARMUP_RATE (1000), TELGATE_OLD (a directory holding another build's telgated: an
  extra row "telgate@REV", where REV is TELGATE_OLD_REV or the directory's git commit, run
  with the same configuration in the same run; issue 14's before/after)"""
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
QUICK = "--quick" in sys.argv[1:]
BUILD = ARGS[0] if ARGS else "build/bench"
STEP_S = 2 if QUICK else (int(ARGS[1]) if len(ARGS) > 1 else 5)
USERS = int(ARGS[2]) if len(ARGS) > 2 else 10000
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_RATES = "1000 4000 8000 12000" if QUICK else "1000 2000 4000 6000 8000 12000 16000"
RATES = [int(x) for x in os.environ.get("RATES", DEFAULT_RATES).split()]
# Past RATES the offer grows by a quarter a step up to this (see rates())
MAX_RATE = int(os.environ.get("MAX_RATE", "12000" if QUICK else "100000"))
PW = "Bench-Pass-1"
WARMUP_RATE = int(os.environ.get("WARMUP_RATE", "1000"))
REALM = "telgate"
TRANSPORTS = os.environ.get("TRANSPORTS", "UDP TCP TLS").split()
ALL_SERVERS = ["telgate", "kam-a", "kam-b", "kam-dbtext", "limit"]
SERVERS = os.environ.get("SERVERS", " ".join(ALL_SERVERS)).split()
OLD_BUILD = os.environ.get("TELGATE_OLD", "")


def old_rev():
    """The row name of TELGATE_OLD's telgated: telgate@ its commit (short)."""
    rev = os.environ.get("TELGATE_OLD_REV", "")
    if not rev:
        r = subprocess.run(["git", "-C", OLD_BUILD, "rev-parse", "--short=7", "HEAD"],
                           capture_output=True, text=True)
        rev = r.stdout.strip() or "old"
    return "telgate@" + rev


OLD_NAME = old_rev() if OLD_BUILD else None
if OLD_NAME:
    ALL_SERVERS.insert(1, OLD_NAME)
    SERVERS.insert(SERVERS.index("telgate") + 1 if "telgate" in SERVERS else 0, OLD_NAME)
LABELS = {
    "telgate": "telgate",
    "kam-a": "Kamailio (a) fastest: htable + pv_www_authenticate, usrloc in memory",
    "kam-b": "Kamailio (b) same work: (a) + usrloc db_mode 2 on SQLite + nonce_count",
    "kam-dbtext": "Kamailio auth_db on db_text (informative)",
    "limit": "physical limit: bench_sip_limit, canned 401/200 of telgate's sizes",
}
if OLD_NAME:
    LABELS[OLD_NAME] = f"telgated of {OLD_BUILD}, same configuration"
NCPU = os.cpu_count() or 2
KAM_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
KAM_SQL = "/usr/share/kamailio/db_sqlite"


def free_port_pair():
    """A port p with p and p + 1 free (SIP on p, SIP over TLS on p + 1)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p + 1 > 65535:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue


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
    """A CA and a server certificate for 127.0.0.1/localhost (Kamailio's TLS and the limit
    responder's; telgate uses the one it generates)."""
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
    port = free_port_pair()
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


# --- one registration by hand: the check before timing, and the limit's canned answers ---

def sip_request(port, user, cseq, auth=None, lport=5999):
    """A REGISTER shaped as the SIPp scenario's (same headers, same order)."""
    branch = "z9hG4bK-check-%d-%d" % (cseq, time.time_ns() % 1000000)
    lines = [f"REGISTER sip:127.0.0.1:{port} SIP/2.0",
             f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch}",
             f"From: <sip:{user}@{REALM}>;tag=1SIPpTag001",
             f"To: <sip:{user}@{REALM}>",
             "Call-ID: 1-check@127.0.0.1",
             f"CSeq: {cseq} REGISTER",
             f"Contact: <sip:{user}@127.0.0.1:{lport};transport=UDP>"]
    if auth:
        lines.append(auth)
    lines += ["Max-Forwards: 70", "Expires: 3600", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def digest(challenge, user, pw, port):
    """The Authorization header answering a WWW-Authenticate (MD5, qop=auth if offered)."""
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge.split(" ", 1)[1]))
    uri = f"sip:127.0.0.1:{port}"
    h = (lambda s: hashlib.md5(s.encode()).hexdigest())
    ha1, ha2 = h(f"{user}:{params['realm']}:{pw}"), h(f"REGISTER:{uri}")
    out = (f'Authorization: Digest username="{user}",realm="{params["realm"]}",'
           f'nonce="{params["nonce"]}",uri="{uri}",algorithm=MD5')
    if "auth" in params.get("qop", "").split(","):
        cnonce = "6b8b4567"
        resp = h(f"{ha1}:{params['nonce']}:00000001:{cnonce}:auth:{ha2}")
        out += f',cnonce="{cnonce}",nc=00000001,qop=auth,response="{resp}"'
    else:
        out += ',response="%s"' % h(f"{ha1}:{params['nonce']}:{ha2}")
    if "opaque" in params:
        out += f',opaque="{params["opaque"]}"'
    return out


def exchange(sock, port, msg):
    sock.sendto(msg, ("127.0.0.1", port))
    data = sock.recv(65535).decode()
    code = int(data.split(" ", 2)[1])
    m = re.search(r"^WWW-Authenticate:\s*(.*?)\r$", data, re.M | re.I)
    return code, data, (m.group(1) if m else None)


def check_server(name, port, checks_password=True, checks_nc=False):
    """401 without credentials, 401/403 with a wrong password, 200 with the right one;
    with checks_nc, not 200 for the same credentials replayed in a new request.
    Returns the 401 and 200 texts (the limit responder's canned answers come from
    telgate's)."""
    user = "user00001"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        lport = s.getsockname()[1]
        code, r401, ch = exchange(s, port, sip_request(port, user, 1, lport=lport))
        if code != 401 or not ch:
            raise RuntimeError(f"{name}: REGISTER without credentials got {code}")
        if checks_password:
            code, _, _ = exchange(s, port, sip_request(
                port, user, 2, digest(ch, user, "wrong-" + PW, port), lport))
            if code not in (401, 403):
                raise RuntimeError(f"{name}: a wrong password got {code}")
            code, _, ch = exchange(s, port, sip_request(port, user, 3, lport=lport))
        auth = digest(ch, user, PW, port)
        code, r200, _ = exchange(s, port, sip_request(port, user, 4, auth, lport))
        if code != 200:
            raise RuntimeError(f"{name}: the right password got {code}")
        if checks_nc:
            # the same credentials (same nonce, same nc) in a new request: a replay
            code, _, _ = exchange(s, port, sip_request(port, user, 5, auth, lport))
            if code == 200:
                raise RuntimeError(f"{name}: a replayed nonce count got 200")
    return r401, r200


# --- the servers ---

def start_telgate(tmp, port, build=None):
    state = f"{tmp}/state-old" if build else f"{tmp}/state"  # an older store schema
    users = [{"userid": "user%05d" % i, "directory": "local", "digestpassword": PW}
             for i in range(1, USERS + 1)]
    devs = [{"name": "BENCH%05d" % i, "owner": "user%05d" % i, "lines": ["user%05d" % i]}
            for i in range(1, USERS + 1)]
    with open(f"{tmp}/prov.json", "w") as f:
        json.dump({"version": 1, "users": users, "devices": devs}, f)
    with open(f"{tmp}/telgated.conf", "w") as f:
        f.write(f"[core]\nstate_dir = {state}\n[log]\nlevel = error\n"
                f"target = file:{tmp}/telgated.log\n[cti]\nport = 0\ntls_port = 0\n"
                f"[sip]\naddress = 127.0.0.1\nport = {port}\ntls_port = {port + 1}\n"
                "edge_port = 0\nchallenge_sha256 = no\nsource_failures_max = 0\n")
    p = subprocess.Popen([f"{build or BUILD}/telgated", "-c", f"{tmp}/telgated.conf", "--provision",
                          f"{tmp}/prov.json"], stderr=subprocess.DEVNULL)
    wait_port(port, 120)
    wait_port(port + 1)
    return p, f"{state}/pki/ca.crt"


def kamailio_sqlite(tmp):
    """One SQLite file for Kamailio: the htable of HA1s and usrloc's location table, from
    Kamailio's own schema files."""
    path = f"{tmp}/kamailio.sqlite"
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    for t in ("standard", "htable", "usrloc"):
        with open(f"{KAM_SQL}/{t}-create.sql") as f:
            db.executescript(f.read())
    db.executemany("INSERT INTO htable (key_name, key_type, value_type, key_value) "
                   "VALUES (?, 0, 0, ?)",
                   (("user%05d" % i, hashlib.md5(
                       ("user%05d:%s:%s" % (i, REALM, PW)).encode()).hexdigest())
                    for i in range(1, USERS + 1)))
    db.commit()
    db.execute("PRAGMA journal_mode = WAL")  # what telgate's store uses
    db.close()
    return path


def kamailio_cfg(tmp, port, variant):
    """The configuration of one variant: a, b or dbtext (see the module docstring)."""
    common = f"""#!KAMAILIO
debug=0
log_stderror=no
children={NCPU}
tcp_children={NCPU}
dns=no
rev_dns=no
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
listen=tls:127.0.0.1:{port + 1}
enable_tls=yes
mpath="{KAM_MODULES}"
loadmodule "tls.so"
modparam("tls", "config", "{tmp}/kamailio-tls.cfg")
modparam("tls", "session_cache", 1)
modparam("tls", "session_id", "telgate-bench")
{'loadmodule "tm.so"' if variant == "b" else ""}
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
modparam("usrloc", "hash_size", 14)
"""
    if variant == "dbtext":
        os.makedirs(f"{tmp}/kdb", exist_ok=True)
        with open(f"{tmp}/kdb/version", "w") as f:
            f.write("table_name(string) table_version(int)\nsubscriber:7\n")
        with open(f"{tmp}/kdb/subscriber", "w") as f:
            f.write("id(int,auto) username(string) domain(string) password(string) "
                    "ha1(string,null) ha1b(string,null)\n")
            for i in range(1, USERS + 1):
                f.write("%d:user%05d:%s:%s::\n" % (i, i, REALM, PW))
        return common + f"""loadmodule "db_text.so"
loadmodule "auth_db.so"
modparam("usrloc", "db_mode", 0)
modparam("auth_db", "db_url", "text://{tmp}/kdb")
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
request_route {{
	if (method != "REGISTER") {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
	if (!auth_check("$td", "subscriber", "1")) {{ auth_challenge("$td", "1"); exit; }}
	if (!save("location")) {{ sl_reply_error(); }}
	exit;
}}
"""
    db = kamailio_sqlite(tmp)
    cfg = common + f"""loadmodule "db_sqlite.so"
modparam("db_sqlite", "db_set_journal_mode", "{db}=WAL;")
loadmodule "htable.so"
modparam("htable", "db_url", "sqlite:///{db}")
modparam("htable", "htable", "cred=>size=14;dbtable=htable;")
"""
    # Without an Authorization header $au is empty and pv_www_authenticate would log an
    # error line per challenge ("failed to get passwd value"): challenge before it.
    if variant == "a":
        return cfg + """modparam("usrloc", "db_mode", 0)
request_route {
	if (method != "REGISTER") { sl_send_reply("405", "Method Not Allowed"); exit; }
	if ($hdr(Authorization) == $null) { www_challenge("$td", "1"); exit; }
	if (!pv_www_authenticate("$td", "$sht(cred=>$au)", "1")) { www_challenge("$td", "1"); exit; }
	if ($au != $tU) { sl_send_reply("403", "Forbidden"); exit; }
	if (!save("location")) { sl_reply_error(); }
	exit;
}
"""
    # b: usrloc's write-back timer runs every timer_interval seconds (1 is its minimum;
    # telgate's writer commits every 50 ms). nonce_count needs qop and, as the auth module's
    # documentation says, a transaction for the authenticated request, so that a
    # retransmission is absorbed rather than re-challenged (telgate's txn does the same).
    # tm is loaded before the modules that use it (sl, auth, registrar), above.
    return cfg + f"""modparam("usrloc", "db_mode", 2)
modparam("usrloc", "db_url", "sqlite:///{db}")
modparam("usrloc", "timer_interval", 1)
modparam("auth", "qop", "auth")
modparam("auth", "nonce_count", 1)
modparam("auth", "nid_pool_no", {NCPU})
request_route {{
	if (method != "REGISTER") {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
	if ($hdr(Authorization) == $null) {{ www_challenge("$td", "1"); exit; }}
	if (!t_newtran()) {{ sl_reply_error(); exit; }}
	if (!pv_www_authenticate("$td", "$sht(cred=>$au)", "1")) {{ www_challenge("$td", "1"); exit; }}
	if ($au != $tU) {{ t_reply("403", "Forbidden"); exit; }}
	if (!save("location")) {{ sl_reply_error(); }}
	exit;
}}
"""


def start_kamailio(tmp, port, variant):
    make_cert(tmp)
    with open(f"{tmp}/kamailio-tls.cfg", "w") as f:
        f.write(f"[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
                f"require_certificate = no\nprivate_key = {tmp}/srv.key\n"
                f"certificate = {tmp}/srv.crt\n")
    cfg = f"{tmp}/kamailio-{variant}.cfg"
    with open(cfg, "w") as f:
        f.write(kamailio_cfg(tmp, port, variant))
    chk = subprocess.run(["kamailio", "-c", "-f", cfg], capture_output=True, text=True)
    if chk.returncode != 0:
        raise RuntimeError(f"kamailio {variant}: configuration refused:\n{chk.stderr[-2000:]}")
    p = subprocess.Popen(["kamailio", "-f", cfg, "-DD", "-E", "-m", "512", "-P",
                          f"{tmp}/kamailio.pid"], stdout=subprocess.DEVNULL,
                         stderr=open(f"{tmp}/kamailio-{variant}.log", "w"))
    wait_port(port)
    wait_port(port + 1)
    return p, f"{tmp}/ca.crt"


def write_canned(tmp, r401, r200):
    """telgate's 401 and 200 as the limit responder's response files (header lines; the
    Via/From/To/Call-ID/CSeq lines are replaced by the request's there)."""
    paths = []
    for name, text in (("401", r401), ("200", r200)):
        head = text.split("\r\n\r\n", 1)[0]
        path = f"{tmp}/canned-{name}.txt"
        with open(path, "w") as f:
            f.write(head + "\r\n\r\n")
        paths.append(path)
    return paths


def start_limit(tmp, port, canned):
    make_cert(tmp)
    p = subprocess.Popen([f"{BUILD}/bench/bench_sip_limit", "127.0.0.1", str(port),
                          str(port + 1), f"{tmp}/srv.crt", f"{tmp}/srv.key", *canned,
                          str(NCPU)])
    wait_port(port)
    wait_port(port + 1)
    return p, f"{tmp}/ca.crt"


# --- timing ---

def run_step(tmp, port, transport, rate, server_pid, tunnel_pid, lport, calls=None):
    csv = f"{tmp}/users.csv"
    if not os.path.exists(csv):
        with open(csv, "w") as f:
            f.write("SEQUENTIAL\n")
            for i in range(1, USERS + 1):
                u = "user%05d" % i
                f.write(f"{u};{REALM};[authentication username={u} password={PW}];3600\n")
    calls = calls or rate * STEP_S
    for x in os.listdir(tmp):
        if x.startswith("register_rtd_") and x.endswith("_rtt.csv"):
            os.remove(os.path.join(tmp, x))
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    cpu0 = proc_tree_cpu(server_pid)
    tun0 = proc_tree_cpu(tunnel_pid) if tunnel_pid else 0.0
    r = subprocess.run(["sipp", "-nostdin", "-sf", f"{HERE}/sipp/register_rtd.xml", "-inf", csv,
                        "-t", transport, "-r", str(rate), "-m", str(calls), "-l", "2000",
                        "-timeout", str(STEP_S * 4 + 30), "-timeout_error", "-trace_rtt",
                        "-rtt_freq", "100", "-max_socket", "5000", "-p", str(lport),
                        f"127.0.0.1:{port}"], cwd=tmp, capture_output=True, text=True)
    wall = time.time() - t0
    cpu = proc_tree_cpu(server_pid) - cpu0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    sipp_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    tun_cpu = (proc_tree_cpu(tunnel_pid) - tun0) if tunnel_pid else 0.0
    samples, stamps = [], []
    for x in os.listdir(tmp):
        if x.startswith("register_rtd_") and x.endswith("_rtt.csv"):
            for line in open(os.path.join(tmp, x)):
                parts = line.strip().split(";")
                if len(parts) >= 2 and parts[1].replace(".", "").isdigit():
                    stamps.append(float(parts[0]))
                    samples.append(float(parts[1]))
    ok = len(samples)
    failed = calls - ok if r.returncode != 0 else 0
    samples.sort()
    p99 = samples[int(0.99 * (len(samples) - 1))] if samples else 0.0
    # The achieved rate over the span in which registrations completed (SIPp's start-up,
    # reading the users file, is not the server's time); a server that falls behind
    # stretches the span.
    span = (max(stamps) - min(stamps)) / 1000 + 1 / rate if ok > 1 else wall
    return {"got": ok / span, "failed": failed, "p99": p99, "rc": r.returncode,
            "per_cpu": ok / cpu if cpu > 0 else 0.0, "srv": cpu / wall, "sipp": sipp_cpu / wall,
            "tunnel": tun_cpu / wall}


def settle(server_pid, limit_s=20):
    """Waits until the server is idle (under 5 % of a core for half a second): work it
    deferred from the warm-up (telgate's binding writer, usrloc's write-back timer) is
    then not charged to the first timed step."""
    end = time.time() + limit_s
    while time.time() < end:
        c0 = proc_tree_cpu(server_pid)
        time.sleep(0.5)
        if proc_tree_cpu(server_pid) - c0 < 0.025:
            return


def measure(tmp, port, transport, server_pid, tunnel_pid=None):
    """The steps the server passed: {offered rate: step result}, and "warmup": every user's
    first registration on this transport, untimed in the steps. SIPp keeps one local port
    (so one Contact per user) on a transport: after the warm-up every step's REGISTERs are
    refreshes of existing bindings, as at a registrar in service."""
    lport = free_port_pair()
    steps = {"warmup": run_step(tmp, port, transport, WARMUP_RATE, server_pid, tunnel_pid,
                                lport, USERS)}
    settle(server_pid)
    for rate in rates():
        st = run_step(tmp, port, transport, rate, server_pid, tunnel_pid, lport)
        # A step counts when every call succeeded and the server kept up with the offer
        # (within 10 %); past that, calls queue and latency is the queue's, not the server's.
        if st["failed"] or st["rc"] != 0 or st["got"] < rate * 0.9:
            steps["stopped"] = (rate, st)
            break
        steps[rate] = st
        if limiter(st, generator_only=True):
            break  # a higher offer would measure the load generator
    return steps


def rates():
    """RATES, then on by a quarter (rounded to 1,000/s) up to MAX_RATE: the steps go on
    until the server fails or the load generator (or the machine) is the limit."""
    yield from RATES
    r = RATES[-1]
    while True:
        r = max(r + 1000, int(round(r * 1.25, -3)))
        if r > MAX_RATE:
            return
        yield r


def limiter(st, generator_only=False):
    """What bounded a step other than the server: SIPp or stunnel near a full core, or
    (unless generator_only) every core busy (server, SIPp and stunnel together); "" when
    neither."""
    if st["sipp"] >= 0.9:
        return "SIPp %.0f%% of a core" % (100 * st["sipp"])
    if st["tunnel"] >= 0.9:
        return "stunnel %.0f%% of a core" % (100 * st["tunnel"])
    if not generator_only and st["sipp"] + st["tunnel"] + st["srv"] >= 0.9 * NCPU:
        return "machine: %d cores busy" % NCPU
    return ""


def limited_by(steps):
    """Which one limited a row: the server (it failed or fell behind while the load
    generator had room), the load generator or the machine, or the script's top rate."""
    if "stopped" in steps:
        rate, st = steps["stopped"]
        what = "failed calls" if st["failed"] or st["rc"] else "got %.0f/s" % st["got"]
        gen = limiter(st)
        return "%s at %d/s (%s)" % (gen or "server", rate, what)
    t = top(steps)
    if t is None:
        return "-"
    gen = limiter(steps[t])
    return "%s at %d/s" % (gen, t) if gen else "top rate %d/s (MAX_RATE)" % t


def descendants(root):
    """The pids of root's process tree (root excluded)."""
    parent = {}
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
            parent[int(d)] = int(st[st.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def stop(proc):
    """SIGTERM to the server, then to whatever of its tree outlived it (by pid)."""
    tree = descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_server(tmp, name, canned, results):
    port = free_port_pair()
    if name == "telgate":
        proc, ca = start_telgate(tmp, port)
    elif name == OLD_NAME:
        proc, ca = start_telgate(tmp, port, OLD_BUILD)
    elif name == "limit":
        proc, ca = start_limit(tmp, port, canned)
    else:
        proc, ca = start_kamailio(tmp, port, name.split("-", 1)[1])
    tunnel = None
    try:
        r401, r200 = check_server(name, port, checks_password=(name != "limit"),
                                  checks_nc=name in ("telgate", "kam-b", OLD_NAME))
        if name == "kam-b":
            time.sleep(2.5)  # usrloc's write-back timer: 1 s
            db = sqlite3.connect(f"{tmp}/kamailio.sqlite")
            rows = db.execute("SELECT count(*) FROM location").fetchone()[0]
            db.close()
            if rows < 1:
                raise RuntimeError("kam-b: the binding was not written to SQLite")
        if name == "telgate":
            canned[:] = write_canned(tmp, r401, r200)
        if "UDP" in TRANSPORTS:
            results[(name, "UDP")] = measure(tmp, port, "u1", proc.pid)
        if "TCP" in TRANSPORTS:
            results[(name, "TCP")] = measure(tmp, port, "t1", proc.pid)
        if "TLS" in TRANSPORTS:
            tunnel, tport = start_stunnel(tmp, port + 1, ca)
            results[(name, "TLS")] = measure(tmp, tport, "t1", proc.pid, tunnel.pid)
    finally:
        if tunnel:
            tunnel.kill()
            tunnel.wait()
        stop(proc)


def top(steps):
    rates = [r for r in steps if isinstance(r, int)]
    return max(rates) if rates else None


def report(results):
    load = os.getloadavg()
    print(f"register_vs_kamailio: {USERS} users, REGISTER/401/REGISTER/200 per call, "
          f"{STEP_S} s per rate step, one server at a time on this machine "
          f"({NCPU} cores shared with SIPp; TLS through one stunnel client); "
          f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
          + (" [--quick: a check, not a measurement]" if QUICK else ""))
    for name in SERVERS:
        print(f"  {name:15} {LABELS[name]}")
    print("(regs/s: the highest offered rate kept up with at zero failures; regs/CPU-s: per "
          "second of the server's CPU at that rate; SIPp: its CPU, +stunnel's on TLS; first: "
          f"the warm-up, each user's first registration offered at {WARMUP_RATE}/s, its "
          "regs/s and failed calls)")
    print("%-4s %-15s %9s %8s %9s %10s %7s %11s  %s" % (
        "tr", "server", "regs/s", "p99 ms", "offered", "regs/CPU-s", "SIPp", "first",
        "limited by (at the step that stopped the row)"))
    peers = [("kam-a", "telgate/Kamailio(a)", "goal >= 1.2 by CPU"),
             ("kam-b", "telgate/Kamailio(b)", "goal >= 1.5 by CPU"),
             ("limit", "telgate/limit", "goal >= 0.5 by CPU")]
    if OLD_NAME:
        peers.append((OLD_NAME, "telgate/" + OLD_NAME, "issue 14: now / before"))
    for tr in TRANSPORTS:
        for name in SERVERS:
            steps = results.get((name, tr)) or {}
            t = top(steps)
            why = limited_by(steps)
            w = steps.get("warmup")
            first = "%.0f/%d" % (w["got"], w["failed"]) if w else "-"
            if t is None:
                print("%-4s %-15s %9s %8s %9s %10s %7s %11s  %s" % (
                    tr, name, "-", "-", "-", "-", "-", first, "failed at the lowest rate: "
                    + why))
                continue
            st = steps[t]
            sipp = "%3.0f%%%s" % (100 * st["sipp"], "+%.0f%%" % (100 * st["tunnel"])
                                  if tr == "TLS" else "")
            print("%-4s %-15s %9.0f %8.0f %9d %10.0f %7s %11s  %s" % (
                tr, name, st["got"], st["p99"], t, st["per_cpu"], sipp, first, why))
        tg = results.get(("telgate", tr)) or {}
        for peer, label, goal in peers:
            pk = results.get((peer, tr)) or {}
            if top(tg) is None or top(pk) is None or peer not in SERVERS:
                continue
            common = max((x for x in set(tg) & set(pk) if isinstance(x, int)), default=None)
            line = "%-4s %-24s %.2f by rate" % (tr, label,
                                                tg[top(tg)]["got"] / pk[top(pk)]["got"])
            if common and pk[common]["per_cpu"] > 0:
                line += ", %.2f by server CPU per registration at %d/s" % (
                    tg[common]["per_cpu"] / pk[common]["per_cpu"], common)
            print(line + f" ({goal})")


def main():
    tmp = tempfile.mkdtemp(prefix="tgregbench")
    results, canned = {}, []
    try:
        order = [n for n in ALL_SERVERS if n in SERVERS]
        if "limit" in order and "telgate" not in order:
            # the limit's canned answers are telgate's: start telgate for them alone
            port = free_port_pair()
            proc, _ = start_telgate(tmp, port)
            try:
                canned = write_canned(tmp, *check_server("telgate", port))
            finally:
                stop(proc)
        for name in order:
            run_server(tmp, name, canned, results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(results)


if __name__ == "__main__":
    main()
