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
import collections
import glob
import os
import re
import shutil
import subprocess
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import benchlib  # noqa: E402
import oauth  # noqa: E402


def _records(files):
    """(function, callee or None, cost) of callgrind output files: a function's own cost
    lines (callee None) and, after a calls= line, the inclusive cost of that call. Counts
    are summed from these, not taken from the "summary:" line or from a long-running
    function's inclusive count: with --zero-before, a frame entered before the zeroing is
    charged from its entry (so were earlier figures of the threads' totals)."""
    for f in files:
        names = {}

        def name(v):
            m = re.match(r"\((\d+)\)(?: (.*))?", v)
            if not m:
                return v
            if m.group(2) is not None:
                names[m.group(1)] = m.group(2)
            return names.get(m.group(1), v)
        fn = callee = None
        after_call = False
        with open(f, errors="replace") as fh:
            for line in fh:
                if line.startswith("fn="):
                    fn = name(line[3:].strip())
                elif line.startswith("cfn="):
                    callee = name(line[4:].strip())
                elif line.startswith("calls="):
                    after_call = True
                elif line[:1].isdigit() or line[:1] in "+-*":
                    parts = line.split()
                    if len(parts) >= 2 and fn:
                        yield fn, callee if after_call else None, int(parts[1])
                    after_call = False


def self_costs(files):
    c = collections.Counter()
    for fn, callee, n in _records(files):
        if callee is None:
            c[fn] += n
    return c


def callee_costs(files):
    c = collections.Counter()
    for fn, callee, n in _records(files):
        if callee is not None and callee != fn:
            c[(fn, callee)] += n
    return c


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--conns", type=int, default=8)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--keep", default="")
    args = p.parse_args()
    tmp = benchlib.tempdir("tgoauthcg")
    a = types.SimpleNamespace(build=args.build, conns=args.conns, repeat=2, seconds=args.seconds,
                              # the signer at nice 0: at its default 10 it can miss the
                              # answer timeout under valgrind on a loaded machine
                              conf="[pki]\\nsigner_nice = 0", start_s=900,
                              wrap=["valgrind", "--tool=callgrind", "--trace-children=yes",
                                    f"--callgrind-out-file={tmp}/cg.%p", "--dump-instr=no",
                                    "--zero-before=cmd_status", "--dump-before=cmd_metrics",
                                    "--dump-after=signer_tokens_keygen"])
    ports = benchlib.telgated_ports()
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
        benchlib.wait_idle(s["proc"].pid)
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
        ok = ok or 1
        e, g = self_costs(engine), self_costs(signer)
        et, gt = sum(e.values()), sum(g.values())
        print(f"  engine: {et:,} instructions, {et / ok:,.0f} per grant")
        for fn, n in e.most_common(12):
            print(f"      {n / ok:9,.0f}  {fn}")
        print(f"  signer: {gt:,} instructions, {gt / ok:,.0f} per grant")
        for fn, n in g.most_common(12):
            print(f"      {n / ok:9,.0f}  {fn}")
        # By thread: what each thread's main function did in the window, its own
        # instructions and its callees' (a callee returns within the window; the thread
        # functions themselves started before it, so their own inclusive counts are not
        # the window's). The rest of the engine: the main thread, timers, the watcher.
        calls = callee_costs(engine)
        by = {}
        for label, fn in (("loop", "event_base_loop"), ("worker", "worker_main"),
                          ("committer", "committer")):
            by[label] = e.get(fn, 0) + sum(n for (caller, _), n in calls.items() if caller == fn)
            print(f"  engine {label} ({fn}): {by[label] / ok:,.0f} instructions per grant")
        print(f"  engine rest: {(et - sum(by.values())) / ok:,.0f} instructions per grant")
        print(f"  RESULT grants={ok:.0f} engine_ir_per_grant={et / ok:.0f} "
              f"loop={by['loop'] / ok:.0f} worker={by['worker'] / ok:.0f} "
              f"committer={by['committer'] / ok:.0f} signer_ir_per_grant={gt / ok:.0f}")
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
        benchlib.rmtree(tmp)


if __name__ == "__main__":
    main()
