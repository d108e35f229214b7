#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/register_profile: one server of register_vs_kamailio (telgated or the limit
responder) under SIPp at a fixed rate on one transport, with a profiler attached to the
server's process tree for a window of the timed step (issue 22, seventh round: the
kernel's share).

  python3 bench/register_profile.py BUILD SERVER TRANSPORT RATE SECONDS 'CMD' [SECOND_CMD]

SERVER is telgate or limit, TRANSPORT UDP, TCP or TLS (SIPp through stunnel, as the
bench). CMD runs 3 s into the step, with {pid} (the server's pids, comma-separated, as
perf -p takes them) and {secs} replaced, e.g.
  'perf record -e cpu-clock -F 2000 -g -o /tmp/t.data -p {pid} -- sleep {secs}'
  'perf stat --per-thread -e context-switches,syscalls:sys_enter_futex -p {pid} -- sleep {secs}'
SECOND_CMD (optional, e.g. 'timeout -s INT 4 strace -c -f -p {pid} -o /tmp/t.strace')
runs after it, outside the window. Printed: the step (SIPp's view), the load average, and
per thread of the server the CPU ticks (utime, stime; /proc/PID/task/TID/stat) and the
voluntary and involuntary context switches during CMD's window, the registrations in it
being the step's achieved rate ('got') x the window (valid when 'failed' is 0)."""
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load_bench(build):
    sys.argv = [sys.argv[0], build]
    spec = importlib.util.spec_from_file_location("rvk", f"{HERE}/register_vs_kamailio.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def threads(pid):
    """{tid: (name, utime, stime, voluntary, involuntary switches)} of pid."""
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                st = f.read()
            with open(f"/proc/{pid}/task/{t}/status") as f:
                sw = [int(x.split()[1]) for x in f if "ctxt_switches" in x]
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        out[(pid, t)] = (st[st.index("(") + 1:st.rindex(")")], int(fields[11]),
                         int(fields[12]), sw[0], sw[1])
    return out


def main():
    if len(sys.argv) < 7:
        sys.exit(__doc__)
    build, server, transport = sys.argv[1], sys.argv[2], sys.argv[3]
    rate, secs, cmd = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    cmd2 = sys.argv[7] if len(sys.argv) > 7 else ""
    rvk = load_bench(build)
    tmp = tempfile.mkdtemp(prefix="tgregprof")
    proc, tun = None, None
    try:
        port = rvk.free_port_pair()
        proc, ca = rvk.start_telgate(tmp, port)
        canned = rvk.write_canned(tmp, *rvk.check_server("telgate", port))
        if server == "limit":
            rvk.stop(proc)
            port = rvk.free_port_pair()
            proc, ca = rvk.start_limit(tmp, port, canned)
        tport, tpid = port, None
        if transport == "TLS":
            tun, tport = rvk.start_stunnel(tmp, port + 1, ca)
            tpid = tun.pid
        tr = "u1" if transport == "UDP" else "t1"
        lport = rvk.free_port_pair()
        print("warm-up", rvk.run_step(tmp, tport, tr, rvk.WARMUP_RATE, proc.pid, tpid, lport,
                                      rvk.USERS), flush=True)
        rvk.settle(proc.pid)
        res = {}
        step = threading.Thread(target=lambda: res.update(st=rvk.run_step(
            tmp, tport, tr, rate, proc.pid, tpid, lport, rate * (secs + 6))))
        step.start()
        time.sleep(3)
        pids = [proc.pid] + rvk.descendants(proc.pid)
        fmt = {"pid": ",".join(map(str, pids)), "secs": secs}

        def snap():
            out = {}
            for p in pids:
                out.update(threads(p))
            return out
        t0, c0 = snap(), time.time()
        p1 = subprocess.run(cmd.format(**fmt), shell=True, capture_output=True, text=True)
        t1, c1 = snap(), time.time()
        p2 = subprocess.run(cmd2.format(**fmt), shell=True, capture_output=True,
                            text=True) if cmd2 else None
        step.join()
        print("step", res.get("st"))
        got = res["st"]["got"] if res.get("st") else 0.0
        print("window %.2f s, registrations ~%d (the step's achieved rate x the window)"
              % (c1 - c0, got * (c1 - c0)))
        with open("/proc/loadavg") as f:
            print("load average", f.read().strip())
        for k, v in sorted(t1.items()):
            a = t0.get(k, (v[0], 0, 0, 0, 0))
            d = [v[i] - a[i] for i in range(1, 5)]
            if any(d):
                print("thread %-16s %s: utime %d stime %d ticks, switches %d voluntary %d "
                      "involuntary" % (v[0], k[1], *d))
        print(p1.stdout[-8000:] + p1.stderr[-8000:])
        if p2:
            print(p2.stdout[-8000:] + p2.stderr[-8000:])
    finally:
        if tun:
            tun.kill()
            tun.wait()
        if proc:
            rvk.stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
