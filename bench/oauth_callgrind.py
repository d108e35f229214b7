#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/oauth_callgrind: instructions per durable refresh grant (issue 18) of telgated under
callgrind, split into the engine (loop, workers, committer) and the signer process, with
the load client of bench/run.sh oauth (bench/oauth_load.c) on CONNS connections for
SECONDS. telgated runs whole under valgrind (the engine and the signer are forks,
followed). Counters are zeroed before and dumped after the measured load: the engine's by
`telgate status` / `telgate show metrics` (their command handlers, as
bench/register_callgrind.sh), the signer's by `telgate oauth keys rotate` before and after
(a dump after each keygen of the signer; the second holds the window and one ES256 keygen,
~0.1 % of it). A warm-up load first rotates every chain once
(the successors are then kept: the measured grants take the path the benchmark measures).
Callgrind counts user-space instructions only: the kernel's side of a syscall is not in it
(bench/oauth.py's per-CPU-second figure has it); the syscall rows count the libc wrappers.

usage: oauth_callgrind.py BUILD_DIR [--conns N] [--seconds S] [--keep DIR]"""
import argparse
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import oauth  # noqa: E402
from files import free_port, tree_cpu  # noqa: E402


def total_ir(files):
    """Summed Ir of callgrind output files (their "summary:"/"totals:" lines)."""
    n = 0
    for f in files:
        with open(f) as fh:
            for line in fh:
                if line.startswith(("summary:", "totals:")):
                    n += int(line.split()[1])
                    break
    return n


def top(files, k):
    r = subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=no",
                        f"--threshold=99", *files], capture_output=True, text=True)
    rows = [x for x in r.stdout.splitlines() if re.match(r"\s*[\d,]+ \(", x)]
    return rows[:k]


def idle(pid, secs=2, limit=0.05):
    last = tree_cpu(pid)
    for _ in range(300):
        time.sleep(secs)
        now = tree_cpu(pid)
        if now - last <= limit * secs:
            return
        last = now


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--conns", type=int, default=8)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--keep", default="")
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="tgoauthcg")
    os.chmod(tmp, 0o755)
    a = types.SimpleNamespace(build=args.build, conns=args.conns, repeat=2, seconds=args.seconds,
                              # the signer at nice 0: at its default 10 it can miss the
                              # answer timeout under valgrind on a loaded machine
                              conf="[pki]\\nsigner_nice = 0", start_s=900,
                              wrap=["valgrind", "--tool=callgrind", "--trace-children=yes",
                                    f"--callgrind-out-file={tmp}/cg.%p", "--dump-instr=no",
                                    "--zero-before=cmd_status", "--dump-before=cmd_metrics",
                                    "--dump-after=signer_tokens_keygen"])
    ports = {k: free_port() for k in ("admin", "cti", "http", "https", "est", "sip", "sip_tls")}
    ports["tftp"] = free_port(socket.SOCK_DGRAM)
    s = None
    try:
        s = oauth.telgate_side(a, tmp, ports)
        conf = f"{tmp}/telgated.conf"
        cli = [f"{a.build}/telgate", "-c", conf]
        for _ in range(900):  # the start's CRL and trust lists must not land in the window
            if os.path.exists(f"{tmp}/state/pki/crl.pem"):
                break
            time.sleep(1)
        w = oauth.load(a, s, "refresh", s["refresh"][:a.conns], tmp)
        print(f"  warm-up: {w.get('ok', 0):.0f} grants, {w.get('failed', 0):.0f} failed")
        idle(s["proc"].pid)
        for f in glob.glob(f"{tmp}/cg.*"):
            os.rename(f, f + ".start")
        subprocess.run(cli + ["status"], check=True, capture_output=True)
        subprocess.run(cli + ["oauth", "keys", "rotate"], check=True, capture_output=True)
        # fresh chains: their first grant reads the store (the worker), the rest is kept
        r = oauth.load(a, s, "refresh", s["refresh"][a.conns:2 * a.conns], tmp)
        time.sleep(1)
        subprocess.run(cli + ["oauth", "keys", "rotate"], check=True, capture_output=True)
        subprocess.run(cli + ["show", "metrics"], check=True, capture_output=True)
        time.sleep(5)  # the dumps are written after the commands answer
        ok = r.get("ok", 0)
        print(f"  measured: {ok:.0f} grants in {r.get('wall_s', 0):.1f} s, "
              f"{r.get('failed', 0):.0f} failed ({a.conns} connections)")
        # The window's dumps: the engine's one (before cmd_metrics), the signer's second
        # (after the second keygen: the window and that keygen; a dump zeroes the counters)
        dumps = [f for f in glob.glob(f"{tmp}/cg.*.*") if not f.endswith(".start")]
        engine, signer = [], []
        for f in sorted(dumps, key=lambda f: int(f.rsplit(".", 1)[1])):
            with open(f, errors="replace") as fh:
                text = fh.read()
            if "event_base_loop" in text:
                engine = [f]
            elif "signer_tokens_sign" in text:
                signer = [f]  # the last: the window's
        for name, files in (("engine", engine), ("signer", signer)):
            ir = total_ir(files)
            print(f"  {name}: {ir:,} instructions, {ir / ok if ok else 0:,.0f} per grant")
            for t in top(files, 15):
                print("      " + t)
        # The engine's threads apart (inclusive): its total also holds what runs by the
        # clock whatever the load (timers, the watcher), more of it per grant under valgrind
        incl = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--auto=no",
                               "--threshold=100", *engine], capture_output=True, text=True)
        for fn in ("thread_main", "worker_main", "committer"):
            m = re.search(r"^\s*([\d,]+) \(.*\?\?\?:" + fn + r" ", incl.stdout, re.M)
            n = int(m.group(1).replace(",", "")) if m else 0
            print(f"  engine {fn}: {n / ok if ok else 0:,.0f} instructions per grant")
        e, g = total_ir(engine), total_ir(signer)
        print(f"  RESULT grants={ok:.0f} engine_ir_per_grant={e / ok if ok else 0:.0f} "
              f"signer_ir_per_grant={g / ok if ok else 0:.0f}")
        if args.keep:
            shutil.copytree(tmp, args.keep, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("state"))
    except Exception:
        for line in open(f"{tmp}/telgated.log", errors="replace"):
            if "level=warning" in line or "level=error" in line:
                print("  telgated: " + line.rstrip()[:300])
        raise
    finally:
        if s:
            oauth.stop(s["proc"], 60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
