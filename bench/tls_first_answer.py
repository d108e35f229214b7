#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/tls_first_answer: how long the first answer on a new TLS connection takes (issue
14: without TCP_NODELAY it waited ~40 ms for Nagle and the peer's delayed ACK). Starts
telgated from a build directory on free loopback ports, then N times: connect, TLS
handshake, send one SIP OPTIONS, time until its answer is read; prints the median and p90
of the handshake and of the answer. Give two build directories to compare them in one run.

    python3 bench/tls_first_answer.py build/bench [OLD_BUILD] [--tries 50]
"""
import argparse
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(build, tries):
    root = tempfile.mkdtemp(prefix="tgtls")
    state = os.path.join(root, "state")
    port, tls = free_port(), free_port()
    conf = os.path.join(root, "t.conf")
    with open(conf, "w") as f:
        f.write(f"[core]\nstate_dir = {state}\nthreads = 1\nworkers = 1\n"
                f"[log]\nlevel = warning\ntarget = file:{root}/log\n"
                f"[cti]\nport = {free_port()}\ntls_port = {free_port()}\naddress = 127.0.0.1\n"
                f"[sip]\nport = {port}\ntls_port = {tls}\nedge_port = 0\naddress = 127.0.0.1\n")
    p = subprocess.Popen([os.path.join(build, "telgated"), "-c", conf],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", tls), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        ctx = ssl.create_default_context(cafile=os.path.join(state, "pki", "ca.crt"))
        ctx.check_hostname = False
        hs, ans = [], []
        for i in range(tries):
            t0 = time.perf_counter()
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls)))
            t1 = time.perf_counter()
            s.sendall((f"OPTIONS sip:telgate SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;"
                       f"branch=z9hG4bKb{i}\r\nMax-Forwards: 70\r\nTo: <sip:t@telgate>\r\n"
                       f"From: <sip:b@telgate>;tag=b\r\nCall-ID: b{i}\r\nCSeq: 1 OPTIONS\r\n"
                       f"Content-Length: 0\r\n\r\n").encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65535)
            t2 = time.perf_counter()
            s.close()
            hs.append((t1 - t0) * 1000)
            ans.append((t2 - t1) * 1000)
        return hs, ans
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(root, ignore_errors=True)


def line(name, hs, ans):
    q = statistics.quantiles
    print(f"{name}: handshake median {statistics.median(hs):.2f} ms p90 {q(hs, n=10)[8]:.2f} "
          f"ms; first answer median {statistics.median(ans):.3f} ms p90 {q(ans, n=10)[8]:.3f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("old", nargs="?")
    ap.add_argument("--tries", type=int, default=50)
    a = ap.parse_args()
    hs, ans = run(a.build, a.tries)
    line(a.build, hs, ans)
    if a.old:
        ohs, oans = run(a.old, a.tries)
        line(a.old, ohs, oans)
        print(f"first answer, median: {statistics.median(oans) / statistics.median(ans):.1f}x "
              f"faster in {a.build}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
