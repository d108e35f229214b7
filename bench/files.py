#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/files: the device-file service (issue 16) against its peers on this machine, in
one run, the same clients for every server, one measurement at a time:

  tftp4k   TFTP transfers/s of a 4 KiB cnf.xml at blksize 1468 (with tsize), and transfers
           per server-CPU-second: telgated vs dnsmasq (dnsmasq-base, TFTP only) vs tftpd-hpa
           (goal: telgated >= 1.5x dnsmasq)
  window   MiB/s of a 1 MiB file at blksize 1468, windowsize 8: telgated vs atftpd (the only
           Debian server that grants windowsize; dnsmasq's row shows what no window gives),
           with 1 and with 8 transfers in flight (goal >= 1.2x atftpd)
  http     cnf.xml requests/s with wrk at 1 and 16 connections: telgated vs nginx serving
           the same bytes from disk (goal >= 0.8x nginx)
  storm    1,000 phones, each GET /SEP<12 hex>.cnf.xml over HTTP then RRQ ITLFile.tlv over
           TFTP, all at once: zero failures, total time within 10 s; p99 per phone. Against
           telgated, and against nginx + dnsmasq for reference.

Phones come from addresses of their own (127.1.0.1.., tftp_load -S), the 4 KiB transfers
from 256 of them, so that telgated's per-source TFTP cap (files.tftp_max_per_source, 64)
sees what a network of phones would show it rather than one address.

The TFTP load and the storm are bench/tftp_load.c (built here with cc -O2); every file is
checked byte for byte. The 4 KiB table shows what a transfer cost the server (S, from
/proc) and the client (C, its own getrusage), and what bounds each rate: client and server
share the cores (cores / (C + S)), and dnsmasq, telgated's TFTP loop and the client each
run on one thread (1 / S, 1 / C). Server CPU is utime+stime (+ reaped children's) of the server's
process tree from /proc, over the whole client run. Every measurement is repeated
(--repeat, the servers interleaved so that the machine's noise falls on all of them);
the table shows the median and, in brackets, the lowest and highest run.

The peers are configured as their operators would for this load: dnsmasq with --port=0
(no DNS), --tftp-max 10000, --quiet-tftp (no log line per transfer); tftpd-hpa as
`in.tftpd -L` (forks per transfer: that is its design); atftpd with --maxthread 1000,
logging off; nginx with worker_processes = cores, sendfile, open_file_cache, keep-alive,
and its access log on but buffered (64 KiB, flushed each second). telgated logs one line per
HTTP request and one per TFTP transfer (level info, to a file), buffered the same way
([log] buffer_ms = 1000: 64 KiB per loop, written at least each second), as an operator
who runs either for load would.

telgated serves the generated cnf.xml of provisioned devices when it has them (the
device-file issue); until then the same names as static files through files.dir.
ITLFile.tlv is telgated's own signed trust list, and the peers serve the same bytes. A server that is not available
(telgated without TFTP yet, a peer that is not installed) gets a row saying so.

usage: files.py BUILD_DIR [--seconds S] [--repeat R] [--only tftp4k,window,http,storm]
                [--servers telgated,dnsmasq,tftpd-hpa,atftpd,nginx] [--results FILE]"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PHONES = 1000
CNF_BYTES = 4096
BIG_BYTES = 1 << 20
ITL_BYTES = 6 * 1024  # an ITL file with a handful of certificates


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_tcp(port, t=30):
    end = time.time() + t
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def wait_udp(port, t=10):
    """Until something is bound to 127.0.0.1:port/udp."""
    end = time.time() + t
    while time.time() < end:
        if not udp_port_free(port):
            return True
        time.sleep(0.1)
    return False


def tree_cpu(root):
    """CPU seconds used so far by root and its live descendants, with the children they
    have reaped (tftpd-hpa forks a process per transfer)."""
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
        ticks[int(d)] = sum(int(x) for x in fields[11:15])
    total = 0
    for pid, t in ticks.items():
        p = pid
        while p and p != root and p in parent:
            p = parent[p]
        if p == root:
            total += t
    return total / hz


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""
    except OSError:
        return 0, b""


def cnf_bytes(i):
    """A static stand-in for a phone's cnf.xml: CNF_BYTES of XML naming the device."""
    head = (f'<?xml version="1.0" encoding="UTF-8"?>\n<device>\n'
            f'<deviceName>SEP{i:012X}</deviceName>\n<!-- static bench file -->\n')
    tail = "</device>\n"
    pad = "<x>" + "p" * (CNF_BYTES - len(head) - len(tail) - 8) + "</x>\n"
    return (head + pad + tail).encode()


class Server:
    """One running server: name, process, ports, pid whose tree's CPU is its cost."""

    def __init__(self, name, proc, tftp=None, http=None, note=""):
        self.name, self.proc, self.tftp, self.http, self.note = name, proc, tftp, http, note

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Bench:
    def __init__(self, args):
        self.a = args
        self.tmp = tempfile.mkdtemp(prefix="tgfilesbench")
        os.chmod(self.tmp, 0o755)  # dnsmasq, tftpd-hpa and nginx's workers drop to nobody
        self.root = os.path.join(self.tmp, "root")
        os.mkdir(self.root)
        self.servers, self.unavailable = {}, {}
        self.load = os.path.join(self.tmp, "tftp_load")
        self.cnf_generated = False
        self.itl = None  # telgated's own signed ITLFile.tlv, once fetched

    # -- setup ----------------------------------------------------------------------------
    def build_client(self):
        built = os.path.join(self.a.build, "bench", "bench_tftp_load")
        if os.access(built, os.X_OK):
            shutil.copy(built, self.load)
            return
        cc = shutil.which("cc") or "gcc"
        subprocess.run([cc, "-O2", "-std=c11", "-Wall", "-Wextra", "-o", self.load,
                        os.path.join(HERE, "tftp_load.c"), "-lpthread"], check=True)

    def write_files(self, cnf_static):
        def put(name, data):
            with open(os.path.join(self.root, name), "wb") as f:
                f.write(data)
            os.chmod(os.path.join(self.root, name), 0o644)
        put("cnf.xml", cnf_bytes(0))
        put("big.bin", os.urandom(BIG_BYTES))
        put("ITLFile.tlv", self.itl or os.urandom(ITL_BYTES))
        for i in range(1, PHONES + 1):
            if cnf_static or not os.path.exists(os.path.join(self.root, f"SEP{i:012X}.cnf.xml")):
                put(f"SEP{i:012X}.cnf.xml", cnf_static.get(i, cnf_bytes(i)))

    def provisioning(self):
        devs = [{"name": f"SEP{i:012X}", "model": "Cisco 8865", "protocol": "SIP",
                 "lines": [str(20000 + i)]} for i in range(1, PHONES + 1)]
        path = os.path.join(self.tmp, "prov.json")
        with open(path, "w") as f:
            json.dump({"version": 1, "devices": devs}, f)
        return path

    def start_telgated(self):
        build = self.a.build
        if not os.access(f"{build}/telgated", os.X_OK):
            return None, f"no {build}/telgated"
        state = os.path.join(self.tmp, "tg-state")
        http, tftp = free_port(), free_port(socket.SOCK_DGRAM)
        conf = os.path.join(self.tmp, "telgated.conf")
        with open(conf, "w") as f:
            f.write(f"[core]\nstate_dir = {state}\n"
                    f"[log]\nlevel = info\nbuffer_ms = 1000\ntarget = file:{self.tmp}/telgated.log\n"
                    f"[admin]\nhttp_port = 0\n[cti]\nport = 0\ntls_port = 0\n"
                    f"[sip]\naddress = 127.0.0.1\nport = 0\ntls_port = 0\nedge_port = 0\n"
                    f"[files]\naddress = 127.0.0.1\nhttp_port = {http}\ntftp_port = {tftp}\n"
                    f"dir = {self.root}\n")
        err = open(os.path.join(self.tmp, "telgated.stderr"), "ab")
        p = subprocess.Popen([f"{build}/telgated", "-c", conf, "--provision", self.provisioning()],
                             stdout=subprocess.DEVNULL, stderr=err)
        # the control socket is there once the start is over; the listeners are up then
        end = time.time() + 120
        sock = f"{state}/telgated.sock"
        while time.time() < end and p.poll() is None and not os.path.exists(sock):
            time.sleep(0.1)
        has_http, has_tftp = wait_tcp(http, 3), wait_udp(tftp, 3)
        if not (has_http or has_tftp) or p.poll() is not None:
            srv = Server("telgated", p)
            srv.stop()
            with open(os.path.join(self.tmp, "telgated.stderr"), errors="replace") as f:
                tail = f.read().strip().splitlines()[-1:] or ["no HTTP or TFTP listener"]
            return None, "not available: " + tail[0][:120]
        srv = Server("telgated", p, tftp=tftp if has_tftp else None,
                     http=http if has_http else None)
        if not has_tftp:
            self.unavailable["telgated TFTP"] = "no TFTP listener (not built yet?)"
        if not has_http:
            self.unavailable["telgated HTTP"] = "no HTTP listener (not built yet?)"
        return srv, ""

    def start_dnsmasq(self):
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.access(exe, os.X_OK):
            return None, "dnsmasq-base not installed"
        # dnsmasq's TFTP port is 69, fixed at build time
        if not udp_port_free(69):
            return None, "127.0.0.1:69/udp is taken (dnsmasq listens on 69 only)"
        p = subprocess.Popen([exe, "-k", "--port=0", "--enable-tftp", f"--tftp-root={self.root}",
                              "--listen-address=127.0.0.1", "--bind-interfaces",
                              "--tftp-max=10000", "--quiet-tftp", "--user=nobody",
                              f"--pid-file={self.tmp}/dnsmasq.pid",
                              f"--log-facility={self.tmp}/dnsmasq.log", "--conf-file=/dev/null"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_udp(69) or p.poll() is not None:
            return None, "did not start (see dnsmasq.log)"
        return Server("dnsmasq", p, tftp=69), ""

    def start_tftpd_hpa(self):
        exe = shutil.which("in.tftpd") or "/usr/sbin/in.tftpd"
        if not os.access(exe, os.X_OK):
            return None, "tftpd-hpa not installed"
        port = free_port(socket.SOCK_DGRAM)
        p = subprocess.Popen([exe, "-L", "-s", self.root, "-a", f"127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_udp(port) or p.poll() is not None:
            return None, "did not start"
        return Server("tftpd-hpa", p, tftp=port), ""

    def start_atftpd(self):
        exe = os.path.join(self.a.atftpd_dir, "usr/sbin/atftpd")
        if not os.access(exe, os.X_OK):
            return None, f"no {exe} (apt-get download atftpd && dpkg -x)"
        port = free_port(socket.SOCK_DGRAM)
        p = subprocess.Popen([exe, "--daemon", "--no-fork", "--port", str(port),
                              "--bind-address", "127.0.0.1", "--logfile", "/dev/null",
                              "--verbose=0", "--maxthread", "1000", "--no-multicast",
                              "--user", "nobody", "--group", "nogroup", self.root],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_udp(port) or p.poll() is not None:
            return None, "did not start"
        return Server("atftpd", p, tftp=port), ""

    def start_nginx(self):
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.access(exe, os.X_OK):
            return None, "nginx not installed"
        port = free_port()
        t = self.tmp
        conf = os.path.join(t, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off;
worker_processes {os.cpu_count() or 2};
pid {t}/nginx.pid;
error_log {t}/nginx-error.log error;
events {{ worker_connections 8192; }}
http {{
	types {{ text/xml xml; application/octet-stream tlv bin; }}
	default_type application/octet-stream;
	access_log {t}/nginx-access.log combined buffer=64k flush=1s;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_timeout 65;
	keepalive_requests 1000000;
	open_file_cache max=10000 inactive=60s;
	open_file_cache_valid 60s;
	open_file_cache_errors on;
	client_body_temp_path {t}/nginx-body;
	proxy_temp_path {t}/nginx-proxy;
	fastcgi_temp_path {t}/nginx-fastcgi;
	uwsgi_temp_path {t}/nginx-uwsgi;
	scgi_temp_path {t}/nginx-scgi;
	server {{
		listen 127.0.0.1:{port} backlog=4096;
		root {self.root};
		location / {{ }}
	}}
}}
""")
        p = subprocess.Popen([exe, "-p", t, "-e", f"{t}/nginx-error.log", "-c", conf],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_tcp(port, 10) or p.poll() is not None:
            return None, "did not start (see nginx-error.log)"
        return Server("nginx", p, http=port), ""

    def start_all(self):
        # telgated first: what it generates for the devices is what nginx serves
        cnf_static = {}
        order = [("telgated", self.start_telgated), ("dnsmasq", self.start_dnsmasq),
                 ("tftpd-hpa", self.start_tftpd_hpa), ("atftpd", self.start_atftpd),
                 ("nginx", self.start_nginx)]
        self.write_files({})
        for name, start in order:
            if name not in self.a.servers:
                continue
            srv, why = start()
            if not srv:
                self.unavailable[name] = why
                continue
            self.servers[name] = srv
            if name == "telgated":
                self.telgated_cnf(srv, cnf_static)

    def telgated_cnf(self, srv, cnf_static):
        """Generated cnf.xml when telgated has it: fetched once and written into the
        static root, so that nginx serves exactly the bytes telgated generates."""
        if not srv.http:
            return
        # the static files are there now; a generated one differs from its static copy
        st, body = http_get(srv.http, "/SEP000000000001.cnf.xml")
        if st == 200 and body and body != cnf_bytes(1):
            for i in range(1, PHONES + 1):
                st, body = http_get(srv.http, f"/SEP{i:012X}.cnf.xml")
                if st == 200:
                    cnf_static[i] = body
            self.write_files(cnf_static)
            srv.note = "generated cnf.xml"
        elif st == 200:
            srv.note = "static cnf.xml (files.dir): no generated cnf.xml yet"
        else:
            srv.note = f"HTTP GET of a cnf.xml answered {st}"
        self.cnf_generated = bool(cnf_static)
        # The trust list: telgated signs its own (the CA issue); the peers serve the same
        # bytes from disk, and the storm checks them byte for byte.
        deadline = time.time() + 30
        while time.time() < deadline:
            st, body = http_get(srv.http, "/ITLFile.tlv")
            if st == 200 and body:
                self.itl = body
                self.write_files(cnf_static)
                srv.note += "; its own signed ITLFile.tlv"
                break
            time.sleep(0.5)

    # -- measuring ------------------------------------------------------------------------
    def tftp_run(self, srv, args):
        """args: tftp_load's options, then the file name."""
        cmd = [self.load, *args[:-1], "127.0.0.1", str(srv.tftp), args[-1]]
        c0, t0 = tree_cpu(srv.proc.pid), time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        cpu = tree_cpu(srv.proc.pid) - c0
        try:
            res = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {"completed": 0, "drained": 0, "failed": -1, "per_s": 0, "mib_s": 0,
                   "p99_us": 0, "first_error": ((r.stderr or "no output").strip().splitlines()
                                               or [""])[-1][:200]}
        res["server_cpu_s"] = cpu
        res["wall"] = time.time() - t0
        total = res.get("completed", 0) + res.get("drained", 0)
        res["per_cpu"] = total / cpu if cpu > 0 else 0.0
        # what a transfer cost the server (S) and the client (C, its own getrusage), in µs
        res["server_us"] = cpu * 1e6 / total if total else 0.0
        res["client_us"] = res.get("client_us_per_transfer", 0.0)
        if self.a.verbose:
            print(f"  {srv.name}: {' '.join(cmd[1:])}\n    {r.stderr.strip()}", file=sys.stderr)
        return res

    def wrk_run(self, srv, conns, path):
        threads = min(conns, os.cpu_count() or 2)
        cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{max(1, round(self.a.seconds))}s",
               "--latency", f"http://127.0.0.1:{srv.http}{path}"]
        c0 = tree_cpu(srv.proc.pid)
        r = subprocess.run(cmd, capture_output=True, text=True)
        cpu = tree_cpu(srv.proc.pid) - c0
        res = {"per_s": 0.0, "p99_ms": 0.0, "failed": 0, "requests": 0}
        for line in r.stdout.splitlines():
            w = line.split()
            if line.startswith("Requests/sec:"):
                res["per_s"] = float(w[1])
            elif w[:1] == ["99%"]:
                v = w[1]
                res["p99_ms"] = (float(v[:-2]) if v.endswith("ms") else
                                 float(v[:-2]) / 1000 if v.endswith("us") else
                                 float(v[:-1]) * 1000)
            elif "requests in" in line:
                res["requests"] = int(w[0])
            elif line.strip().startswith("Non-2xx") or line.strip().startswith("Socket errors"):
                res["failed"] += sum(int(x.strip(",")) for x in w if x.strip(",").isdigit())
        if r.returncode != 0 or not res["requests"]:
            res["failed"] = res["failed"] or -1
        res["per_cpu"] = res["requests"] / cpu if cpu > 0 else 0.0
        res["server_cpu_s"] = cpu
        if self.a.verbose:
            print(f"  {srv.name}: {' '.join(cmd)}\n{r.stdout}", file=sys.stderr)
        return res

    def run(self):
        a, S = self.a, self.servers
        tests = []  # (test, row label, server, function returning a result)
        cnf = os.path.join(self.root, "cnf.xml")
        big = os.path.join(self.root, "big.bin")
        itl = os.path.join(self.root, "ITLFile.tlv")
        if "tftp4k" in a.only:
            for n in ("telgated", "dnsmasq", "tftpd-hpa"):
                if n in S and S[n].tftp:
                    tests.append(("tftp4k", n, S[n], lambda s=S[n]: self.tftp_run(
                        s, ["-c", str(a.conc), "-S", "256", "-d", str(a.seconds), "-b", "1468",
                            "-T", "-V", cnf, "cnf.xml"])))
        if "window" in a.only:
            for c in (1, 8):
                for n in ("telgated", "atftpd", "dnsmasq"):
                    if n in S and S[n].tftp:
                        tests.append((f"window c={c}", n, S[n], lambda s=S[n], c=c: self.tftp_run(
                            s, ["-c", str(c), "-d", str(a.seconds), "-b", "1468", "-w", "8",
                                "-T", "-V", big, "big.bin"])))
        if "http" in a.only:
            for c in (1, 16):
                for n in ("telgated", "nginx"):
                    if n in S and S[n].http:
                        tests.append((f"http c={c}", n, S[n], lambda s=S[n], c=c: self.wrk_run(
                            s, c, "/SEP000000000001.cnf.xml")))
        if "storm" in a.only:
            pairs = [("telgated", S.get("telgated"), S.get("telgated")),
                     ("nginx+dnsmasq", S.get("nginx"), S.get("dnsmasq"))]
            for label, h, t in pairs:
                if h and t and h.http and t.tftp:
                    tests.append(("storm", label, t, lambda h=h, t=t: self.storm_run(h, t, itl)))
        results = {}
        for rep in range(a.repeat):
            for test, label, srv, fn in tests:
                if srv.proc.poll() is not None:
                    results.setdefault((test, label), []).append(
                        {"failed": -1, "per_s": 0, "first_error": "server exited"})
                    continue
                results.setdefault((test, label), []).append(fn())
        return results

    def storm_run(self, h, t, itl):
        args = ["--storm", str(PHONES), "-S", str(PHONES), "--http-port", str(h.http),
                "--http-prefix", "/SEP", "--http-suffix", ".cnf.xml", "-V", itl, "-b", "1468",
                "-T", "ITLFile.tlv"]
        if not self.cnf_generated:
            args[-1:-1] = ["--http-size", str(CNF_BYTES)]
        c0h = tree_cpu(h.proc.pid)
        res = self.tftp_run(t, args)
        if h is not t:
            res["server_cpu_s"] += tree_cpu(h.proc.pid) - c0h
        return res

    def stop(self):
        for s in self.servers.values():
            s.stop()


def med(rs, key):
    vals = [r.get(key, 0) for r in rs]
    return statistics.median(vals), min(vals), max(vals)


def fmt(rs, key, scale=1.0, digits=0):
    m, lo, hi = (x * scale for x in med(rs, key))
    if len(rs) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]"


def report(b, results, out):
    a = b.a
    p = (lambda *x: print(*x, file=out))
    p(f"bench files: {os.cpu_count()} cores shared by client and server, loopback; "
      f"{a.seconds} s per run, {a.repeat} runs per row interleaved; median [lowest-highest]")
    for name, s in b.servers.items():
        if s.note:
            p(f"  {name}: {s.note}")
    for name, why in b.unavailable.items():
        p(f"  {name}: {why}")
    p("  logging: telgated one line per HTTP request and per TFTP transfer (level info, file, "
      "buffered: buffer_ms 1000); "
      "nginx access log buffered 64k/1s; dnsmasq --quiet-tftp; atftpd and tftpd-hpa none")
    failed_any = False

    def fails(rs):
        nonlocal failed_any
        f = sum(r.get("failed", 0) for r in rs)
        if f:
            failed_any = True
            errs = [r.get("first_error") for r in rs if r.get("first_error")]
            return f"FAILED {f}: {errs[0] if errs else ''}"
        return ""
    by_test = {}
    for (test, label), rs in results.items():
        by_test.setdefault(test, {})[label] = rs
    if "tftp4k" in by_test:
        p(f"\nTFTP 4 KiB cnf.xml, blksize 1468 + tsize, {a.conc} transfers in flight")
        p("%-10s %22s %22s %16s %16s %10s %6s" % (
            "server", "transfers/s", "per server-CPU-s", "server us/xfer", "client us/xfer",
            "p99 ms", "retx"))
        for label, rs in by_test["tftp4k"].items():
            p("%-10s %22s %22s %16s %16s %10s %6s %s" % (
                label, fmt(rs, "per_s"), fmt(rs, "per_cpu"), fmt(rs, "server_us", 1, 1),
                fmt(rs, "client_us", 1, 1), fmt(rs, "p99_us", 1e-3, 1),
                fmt(rs, "retransmissions"), fails(rs)))
        ratio(p, by_test["tftp4k"], "telgated", "dnsmasq", ["per_s", "per_cpu"], 1.5)
        ratio(p, by_test["tftp4k"], "telgated", "tftpd-hpa", ["per_s", "per_cpu"], None)
        ratio(p, by_test["tftp4k"], "dnsmasq", "tftpd-hpa", ["per_s", "per_cpu"], None)
        bounds(p, by_test["tftp4k"])
    for c in (1, 8):
        t = f"window c={c}"
        if t in by_test:
            p(f"\nTFTP 1 MiB, blksize 1468, windowsize 8 asked, {c} transfer(s) in flight")
            p("%-10s %22s %26s %10s %8s" % ("server", "MiB/s", "MiB per server-CPU-s", "p99 ms",
                                            "granted"))
            for label, rs in by_test[t].items():
                for r in rs:
                    r["mib_cpu"] = r.get("per_cpu", 0)  # 1 MiB per transfer
                g = f"{rs[0].get('blksize', 0)}/{rs[0].get('windowsize', 0)}"
                p("%-10s %22s %26s %10s %8s %s" % (label, fmt(rs, "mib_s", 1, 1),
                                                    fmt(rs, "mib_cpu", 1, 1),
                                                    fmt(rs, "p99_us", 1e-3, 1), g, fails(rs)))
            ratio(p, by_test[t], "telgated", "atftpd", ["mib_s", "mib_cpu"], 1.2)
    for c in (1, 16):
        t = f"http c={c}"
        if t in by_test:
            p(f"\nHTTP GET /SEP000000000001.cnf.xml, wrk -c{c} (keep-alive)")
            p("%-10s %22s %26s %10s" % ("server", "requests/s", "per server-CPU-s", "p99 ms"))
            for label, rs in by_test[t].items():
                p("%-10s %22s %26s %10s %s" % (label, fmt(rs, "per_s"), fmt(rs, "per_cpu"),
                                                fmt(rs, "p99_ms", 1, 2), fails(rs)))
            ratio(p, by_test[t], "telgated", "nginx", ["per_s", "per_cpu"], 0.8)
    if "storm" in by_test:
        p(f"\nBoot storm: {PHONES} phones at once, each GET its cnf.xml (new connection) "
          "then RRQ ITLFile.tlv (blksize 1468, tsize); goal: 0 failures within 10 s")
        p("%-14s %16s %16s %18s %18s %8s %8s" % ("server", "total s", "p50 ms", "p99 ms",
                                                "HTTP p99 ms", "retx", "failures"))
        for label, rs in by_test["storm"].items():
            worst = max(r.get("seconds", 0) for r in rs)
            nf = sum(abs(r.get("failed", 0)) for r in rs)
            ok = "ok" if nf == 0 and worst <= 10 else "MISSED"
            p("%-14s %16s %16s %18s %18s %8s %8d %s %s" % (
                label, fmt(rs, "seconds", 1, 2), fmt(rs, "p50_us", 1e-3, 1),
                fmt(rs, "p99_us", 1e-3, 1), fmt(rs, "http_p99_us", 1e-3, 1),
                fmt(rs, "retransmissions"), nf, ok, fails(rs)))
    return failed_any


def bounds(p, rows):
    """What bounds each rate: client and server share the cores, so at most
    cores / (C + S) transfers a second (C, S: CPU µs per transfer of client and server);
    a server that runs its transfers on one thread (dnsmasq; telgated's TFTP on one loop by
    default) does at most one core's worth, 1 / S, and the client (one thread) 1 / C.
    Where the server's one-core bound is the lowest for both servers, the rate ratio is
    the ratio of S: the servers', not the client's."""
    cores = os.cpu_count() or 2
    for label in ("telgated", "dnsmasq"):
        if label not in rows:
            continue
        c, s = med(rows[label], "client_us")[0], med(rows[label], "server_us")[0]
        if c <= 0 or s <= 0:
            continue
        shared, server, client = cores * 1e6 / (c + s), 1e6 / s, 1e6 / c
        least = min((shared, "the shared cores"), (server, "the server's one core"),
                    (client, "the client's one thread"))
        got = med(rows[label], "per_s")[0]
        why = ("below the bounds: the machine's other work took the cores"
               if got < 0.8 * least[0] else f"bound by {least[1]}")
        p(f"  bound {label}: {cores} cores / (C {c:.1f} + S {s:.1f} us) = {shared:.0f}/s, "
          f"1 / S = {server:.0f}/s, 1 / C = {client:.0f}/s; measured {got:.0f}/s ({why})")


def ratio(p, rows, x, y, keys, goal):
    if x not in rows or y not in rows:
        return
    parts = []
    for k in keys:
        a, b = med(rows[x], k)[0], med(rows[y], k)[0]
        if b:
            parts.append(f"{a / b:.2f} by {'rate' if k in ('per_s', 'mib_s') else 'server CPU'}")
    if parts:
        p(f"  ratio {x}/{y}: " + ", ".join(parts) + (f" (goal >= {goal})" if goal else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--conc", type=int, default=64, help="TFTP 4 KiB transfers in flight")
    ap.add_argument("--only", default="tftp4k,window,http,storm")
    ap.add_argument("--servers", default="telgated,dnsmasq,tftpd-hpa,atftpd,nginx")
    ap.add_argument("--atftpd-dir", default="", help="where atftpd's package was dpkg -x'ed")
    ap.add_argument("--results", default="", help="also write the table to this file")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    a.only, a.servers = a.only.split(","), a.servers.split(",")
    b = Bench(a)
    if not a.atftpd_dir:
        a.atftpd_dir = os.path.join(b.tmp, "atftpd")
        deb = subprocess.run("apt-get download atftpd", shell=True, cwd=b.tmp,
                             capture_output=True)
        debs = [f for f in os.listdir(b.tmp) if f.startswith("atftpd_") and f.endswith(".deb")]
        if deb.returncode == 0 and debs:
            subprocess.run(["dpkg", "-x", os.path.join(b.tmp, debs[0]), a.atftpd_dir], check=True)
    try:
        b.build_client()
        b.start_all()
        results = b.run()
    finally:
        b.stop()
        # nginx's workers may still be flushing their log when the master has exited
        for _ in range(10):
            shutil.rmtree(b.tmp, ignore_errors=True)
            if not os.path.exists(b.tmp):
                break
            time.sleep(0.5)
    failed = report(b, results, sys.stdout)
    if a.results:
        os.makedirs(os.path.dirname(os.path.abspath(a.results)), exist_ok=True)
        with open(a.results, "w") as f:
            report(b, results, f)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
