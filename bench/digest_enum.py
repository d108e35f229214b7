#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/digest_enum: can a peer tell valid SIP digest user names from how long a wrong
digest takes to be refused? (issue 13: "no timing oracle for digest users")

Starts telgated (a release build) on free loopback ports in a temporary directory,
provisions users with digest passwords and one device and line each, and times one
REGISTER with a well-formed but wrong Digest Authorization over UDP, from send to the 403,
for three classes of request, interleaved in a random order (not in blocks, so that drift
on this shared machine falls on every class alike):

  known      a provisioned line, its digest user's name, a wrong password
  unknown    a line that is not provisioned, a user name that does not exist
  wronguser  a provisioned line, a user name that is not its digest user

and compares known with each of the others: Welch's t-test on the means (the p-value from
Student's t distribution through the regularized incomplete beta function, no normal
approximation), with Yuen's test on 10 % trimmed means and the Mann-Whitney U test (normal
approximation with tie correction) as checks that do not hinge on a few slow outliers.
A comparison is "no significant difference" when Welch's p > 0.01. It prints, it does not
assert (never a timing assertion in tests).

Phases, each its own set of users, run one after the other against the same daemon:

  nothrottle  the users' digest credentials under a policy that never throttles or locks
              (failedlogonthreshold 0, throttleafterfailures 0, given per user with
              "digestcredentialpolicy"): every known try takes the full digest-check path.
  default     the Default Digest Credential Policy (throttles from 10 failures), with
              enough users that each gets at most 2 wrong digests (the rotation is shuffled).
  locked      the refused-unchecked branch (DIR_THROTTLED, DIR_HACKED_LOCKED, DIR_INACTIVE
              all take it: a dummy digest, no failure recorded): users under a policy that
              locks at the first failure, each failed once before the phase. A throttled
              credential stays throttled only 1 s after its 10th failure, too short for
              1,000 interleaved tries; the lock takes the same branch for as long as needed.

Before the phases, every line of the nothrottle and default users registers once with
the right password (as live phones would; this also puts their lines in the account
cache, the state a real line is in). A warm-up of random tries is discarded per phase.

Controls, to show the comparison is neither blind nor trigger-happy:
  - the nothrottle phase also times a class "control": a known line whose Authorization
    names another realm, which is answered 401 on the event loop without the worker hop;
    known vs control must come out SIGNIFICANT (a coarse positive control).
  - and a class "unknown2", made exactly like "unknown": unknown vs unknown2 is an A/A
    comparison that should be SIGNIFICANT in about 1 run in 100 (a null control: the
    interleaving cancels drift, so a difference is not an artefact of the machine).
  - --build DIR can point at a build of an older commit, e.g. 7dadbc3^, where issue 13
    measured +0.085 ms for known users. That commit's import knows neither
    "digestcredentialpolicy" nor "throttleafterfailures", so the script falls back to the
    user's "credentialpolicy" (the policy the digest check then used) and says so.

Also printed: the carry-over, i.e. the time of the try *after* a known try versus after an
unknown one. A wrong digest for a real user is counted by a store write made after its 403
is sent; this asks whether that write slows whatever request comes next.

usage: digest_enum.py [BUILD_DIR] [--tries N] [--warmup N] [--users N] [--phases LIST]
                      [--gap-us N] [--alg SHA-256|MD5] [--seed N] [--raw FILE]
environment: TRIES, WARMUP, USERS, PHASES, GAP_US (the options win)."""
import argparse
import gc
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REALM = "telgate"
GOOD_PW = "Bench-Digest-1"
POL_OPEN = "Bench No Throttle"
POL_LOCK = "Bench Lock At First Failure"
ALPHA = 0.01
NONCE_REFRESH_S = 20  # telgated's nonce_lifetime_s is 60

# --- statistics (stdlib only) ---------------------------------------------------------


def _betacf(a, b, x):
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betai(a, b, x):
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x)
           + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def t_p2(t, df):
    """Two-sided p-value of Student's t with df degrees of freedom."""
    if not math.isfinite(t):
        return 0.0
    return betai(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(p_two, df):
    """The t such that t_p2(t, df) = p_two (bisection)."""
    lo, hi = 0.0, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_p2(mid, df) > p_two:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def welch(x, y):
    """(mean x - mean y, t, df, p, half-width of the 99 % CI of the difference)."""
    n1, n2 = len(x), len(y)
    m1, m2 = statistics.fmean(x), statistics.fmean(y)
    a, b = statistics.variance(x, m1) / n1, statistics.variance(y, m2) / n2
    se = math.sqrt(a + b)
    t = (m1 - m2) / se if se > 0 else math.inf
    df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1)) if se > 0 else n1 + n2 - 2
    return m1 - m2, t, df, t_p2(t, df), t_quantile(ALPHA, df) * se


def trimmed_mean(x, frac=0.1):
    s = sorted(x)
    g = int(frac * len(s))
    return statistics.fmean(s[g:len(s) - g])


def yuen(x, y, frac=0.1):
    """Yuen's test of equal trimmed means: (difference, t, df, p)."""
    def parts(v):
        s = sorted(v)
        n = len(s)
        g = int(frac * n)
        h = n - 2 * g
        w = [s[g]] * g + s[g:n - g] + [s[n - g - 1]] * g  # winsorized
        d = (n - 1) * statistics.variance(w) / (h * (h - 1))
        return statistics.fmean(s[g:n - g]), d, h
    m1, d1, h1 = parts(x)
    m2, d2, h2 = parts(y)
    se = math.sqrt(d1 + d2)
    t = (m1 - m2) / se if se > 0 else math.inf
    df = (d1 + d2) ** 2 / (d1 * d1 / (h1 - 1) + d2 * d2 / (h2 - 1)) if se > 0 else h1 + h2 - 2
    return m1 - m2, t, df, t_p2(t, df)


def mann_whitney(x, y):
    """Mann-Whitney U, normal approximation with tie correction: (U/(n1 n2), p)."""
    n1, n2 = len(x), len(y)
    allv = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks, ties, i = [0.0] * len(allv), 0.0, 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1][0] == allv[i][0]:
            j += 1
        r = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[k] = r
        tcount = j - i + 1
        ties += tcount ** 3 - tcount
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, allv) if g == 0)
    u1 = r1 - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    var = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    z = (u1 - n1 * n2 / 2.0) / math.sqrt(var) if var > 0 else 0.0
    return u1 / (n1 * n2), math.erfc(abs(z) / math.sqrt(2))


def describe(v):
    s = sorted(v)
    return {"n": len(v), "mean": statistics.fmean(v), "median": statistics.median(v),
            "trim10": trimmed_mean(v), "sd": statistics.stdev(v),
            "p90": s[int(0.9 * (len(s) - 1))], "p99": s[int(0.99 * (len(s) - 1))]}


def compare_line(label, a, b, name_a, name_b, expect_diff=None):
    d, t, df, p, ci = welch(a, b)
    yd, _, _, yp = yuen(a, b)
    auc, mp = mann_whitney(a, b)
    verdict = "SIGNIFICANT" if p <= ALPHA else "no significant difference (p > %.2g)" % ALPHA
    robust = [n for n, q in (("Yuen", yp), ("Mann-Whitney", mp)) if q <= ALPHA]
    if p > ALPHA and robust:
        verdict += ", but SIGNIFICANT by " + " and ".join(robust)
    elif p <= ALPHA and not robust:
        verdict += " (not by Yuen or Mann-Whitney)"
    if expect_diff is True:
        verdict += " [positive control: %s]" % ("detected" if p <= ALPHA else "NOT DETECTED")
    elif expect_diff is False:
        verdict += " [null control: %s]" % ("FALSE POSITIVE (expected 1 run in 100)"
                                            if p <= ALPHA or robust else "ok")
    print(f"  {label}: {name_a} vs {name_b}: means {statistics.fmean(a):.1f} vs "
          f"{statistics.fmean(b):.1f} us, diff {d:+.2f} us (99% CI {d - ci:+.2f}..{d + ci:+.2f}),"
          f" t={t:.2f} df={df:.0f} p={p:.3g} -> {verdict}")
    print(f"      medians {statistics.median(a):.1f} vs {statistics.median(b):.1f} us; "
          f"10%-trimmed means {trimmed_mean(a):.1f} vs {trimmed_mean(b):.1f} us "
          f"(Yuen diff {yd:+.2f} us p={yp:.3g}); Mann-Whitney P(a>b)={auc:.3f} p={mp:.3g}")
    return {"diff_us": d, "t": t, "df": df, "p": p, "ci99": ci, "yuen_diff_us": yd,
            "yuen_p": yp, "mw_auc": auc, "mw_p": mp}


# --- SIP ------------------------------------------------------------------------------


def free_port():
    """A port free for both UDP and TCP on loopback."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            try:
                with socket.socket() as t:
                    t.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


def H(alg, s):
    return hashlib.new("sha256" if alg == "SHA-256" else "md5", s.encode()).hexdigest()


class Client:
    """One UDP socket connected to the registrar; requests written by hand."""

    def __init__(self, port, alg):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.connect(("127.0.0.1", port))
        self.s.settimeout(3)
        self.lport = self.s.getsockname()[1]
        self.alg = alg
        self.seq = 0
        self.nonce = None
        self.nonce_at = 0.0
        self.nc = 0

    def request(self, line, auth=None):
        """The bytes of a REGISTER for line, and its Call-ID."""
        self.seq += 1
        cid = f"de-{os.getpid()}-{self.seq}"
        msg = (f"REGISTER sip:{REALM} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{self.lport};branch=z9hG4bKde{self.seq}\r\n"
               f"Max-Forwards: 70\r\nTo: <sip:{line}@{REALM}>\r\n"
               f"From: <sip:{line}@{REALM}>;tag=de{self.seq}\r\nCall-ID: {cid}\r\n"
               f"CSeq: 1 REGISTER\r\n"
               f"Contact: <sip:{line}@127.0.0.1:{self.lport}>\r\nExpires: 3600\r\n")
        if auth:
            msg += f"Authorization: {auth}\r\n"
        msg += "Content-Length: 0\r\n\r\n"
        return msg.encode(), ("Call-ID: " + cid + "\r\n").encode()

    def timed(self, msg, cid):
        """(nanoseconds from send to the answer, status code); (None, None) on timeout."""
        s = self.s
        t0 = time.perf_counter_ns()
        s.send(msg)
        while True:
            try:
                data = s.recv(65535)
            except socket.timeout:
                return None, None
            t1 = time.perf_counter_ns()
            if cid in data:  # skip a late answer to an earlier request
                return t1 - t0, int(data[8:11])

    def send(self, msg, cid):
        return self.timed(msg, cid)[1]

    def fresh_nonce(self, line="00000", force=False):
        if not force and self.nonce and time.monotonic() - self.nonce_at < NONCE_REFRESH_S:
            return
        msg, cid = self.request(line)
        self.s.send(msg)
        while True:
            data = self.s.recv(65535)
            if cid in data:
                break
        text = data.decode(errors="replace")
        for m in re.finditer(r'WWW-Authenticate: Digest ([^\r\n]*)', text):
            if f"algorithm={self.alg}" in m.group(1).replace('"', ""):
                self.nonce = re.search(r'nonce="([^"]+)"', m.group(1)).group(1)
                break
        else:
            raise RuntimeError("no %s challenge in:\n%s" % (self.alg, text))
        self.nonce_at = time.monotonic()
        self.nc = 0

    def auth(self, user, pw, realm=REALM):
        self.nc += 1
        nc = "%08x" % self.nc
        cnonce = "%016x" % random.getrandbits(64)
        ha1 = H(self.alg, f"{user}:{realm}:{pw}")
        ha2 = H(self.alg, f"REGISTER:sip:{REALM}")
        resp = H(self.alg, f"{ha1}:{self.nonce}:{nc}:{cnonce}:auth:{ha2}")
        return (f'Digest username="{user}", realm="{realm}", nonce="{self.nonce}", '
                f'uri="sip:{REALM}", response="{resp}", algorithm={self.alg}, qop=auth, '
                f'nc={nc}, cnonce="{cnonce}", opaque=""')


# --- the daemon -----------------------------------------------------------------------


def provisioning(phases, users, legacy):
    """The import document: per phase, users p<x>NNNN with line <k>NNNN on device
    B<X>NNNN. legacy: an import without digest credential policies (7dadbc3^)."""
    open_pol = {"name": POL_OPEN, "failedlogonthreshold": 0}
    lock_pol = {"name": POL_LOCK, "failedlogonthreshold": 1, "adminmustunlock": True}
    if not legacy:
        open_pol["throttleafterfailures"] = 0
        lock_pol["throttleafterfailures"] = 0
    doc = {"version": 1, "credentialpolicies": [open_pol, lock_pol], "users": [],
           "devices": []}
    for ph in phases:
        pol = {"nothrottle": POL_OPEN, "locked": POL_LOCK}.get(ph.name)
        for i in range(users):
            u = {"userid": ph.user(i), "directory": "local", "digestpassword": GOOD_PW}
            if pol:
                u["credentialpolicy" if legacy else "digestcredentialpolicy"] = pol
            doc["users"].append(u)
            doc["devices"].append({"name": "B%s%05d" % (ph.name[0].upper(), i),
                                   "owner": ph.user(i), "lines": [ph.line(i)]})
    return doc


class Daemon:
    def __init__(self, build, tmp):
        self.build, self.tmp = build, tmp
        self.port = free_port()
        self.conf = os.path.join(tmp, "telgated.conf")
        self.log = os.path.join(tmp, "telgated.log")
        self.proc = None
        with open(self.conf, "w") as f:
            f.write(f"[core]\nstate_dir = {tmp}/state\n"
                    f"[log]\nlevel = info\ntarget = file:{self.log}\n"
                    f"[cti]\nport = 0\ntls_port = 0\n"
                    f"[sip]\naddress = 127.0.0.1\nport = {self.port}\ntls_port = 0\n"
                    f"edge_port = 0\nsource_failures_max = 0\n")

    def start(self, prov):
        path = os.path.join(self.tmp, "prov.json")
        with open(path, "w") as f:
            json.dump(prov, f)
        err = open(os.path.join(self.tmp, "telgated.stderr"), "wb")
        self.proc = subprocess.Popen([os.path.join(self.build, "telgated"), "-c", self.conf,
                                      "--provision", path], stdout=subprocess.DEVNULL,
                                     stderr=err)
        err.close()
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.settimeout(0.2)
        probe.bind(("127.0.0.1", 0))
        opts = (f"OPTIONS sip:{REALM} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{probe.getsockname()[1]};branch=z9hG4bKp\r\n"
                f"Max-Forwards: 70\r\nTo: <sip:{REALM}>\r\nFrom: <sip:p@{REALM}>;tag=p\r\n"
                f"Call-ID: probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()
        try:
            deadline = time.time() + 120
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    return False
                probe.sendto(opts, ("127.0.0.1", self.port))
                try:
                    probe.recv(65535)
                    return True
                except socket.timeout:
                    pass
            raise RuntimeError("telgated did not answer OPTIONS")
        finally:
            probe.close()

    def stderr(self):
        with open(os.path.join(self.tmp, "telgated.stderr"), errors="replace") as f:
            return f.read()

    def cli(self, *words):
        tool = os.path.join(self.build, "telgate")
        return subprocess.run([tool, "-c", self.conf, *words], capture_output=True, text=True,
                              timeout=60).stdout

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- the measurement ------------------------------------------------------------------


class Phase:
    def __init__(self, name, index, users):
        self.name, self.index, self.users = name, index, users

    def user(self, i):
        return "p%s%05d" % (self.name[0], i)

    def line(self, i):
        return "%d%05d" % (self.index + 1, i)

    @staticmethod
    def nobody(i):
        return "px%05d" % i  # exists in no phase

    @staticmethod
    def nowhere(i):
        return "9%05d" % i  # a line no phase provisions


TITLES = {
    "nothrottle": "(a) digest credential policy without throttle or lockout: the digest-check path",
    "default": "(b) Default Digest Credential Policy (each known user gets at most 2 failures)",
    "locked": "(c) refused unchecked: known users locked (the branch throttled users take too)",
}


def build_try(cl, ph, cls, rot):
    """The request of one try: (bytes, call-id marker, expected status)."""
    wrong = "Wrong-%08x" % random.getrandbits(32)  # as long as any other wrong password
    k = rot.pop() if cls == "known" else random.randrange(ph.users)
    if cls == "known":
        return cl.request(ph.line(k), cl.auth(ph.user(k), wrong)) + (403,)
    if cls in ("unknown", "unknown2"):
        return cl.request(Phase.nowhere(k), cl.auth(Phase.nobody(k), wrong)) + (403,)
    if cls == "wronguser":
        return cl.request(ph.line(k), cl.auth(Phase.nobody(k), wrong)) + (403,)
    if cls == "control":  # another realm: a 401 from the loop, no worker
        return cl.request(ph.line(k), cl.auth(ph.user(k), wrong, realm="elsewhere")) + (401,)
    raise ValueError(cls)


def run_phase(cl, ph, classes, tries, warmup, gap_ns, rng):
    """Times the interleaved tries; returns ({class: [us]}, [(class, prev class, us)])."""
    order = [c for c in classes for _ in range(tries)]
    rng.shuffle(order)
    order = [rng.choice(classes) for _ in range(warmup)] + order
    # Known users in a shuffled rotation, so that each gets as few failures as possible.
    nknown = order.count("known")
    rot = []
    while len(rot) < nknown:
        block = list(range(ph.users))
        rng.shuffle(block)
        rot.extend(block)
    rot = rot[:nknown]
    samples = {c: [] for c in classes}
    seq, unexpected, lost = [], {}, 0
    prev = None
    gc.collect()
    gc.disable()
    try:
        for n, cls in enumerate(order):
            cl.fresh_nonce()
            msg, cid, want = build_try(cl, ph, cls, rot)
            if gap_ns:
                end = time.perf_counter_ns() + gap_ns
                while time.perf_counter_ns() < end:
                    pass
            ns, status = cl.timed(msg, cid)
            if ns is None:
                lost += 1
                prev = None
                continue
            if status != want:
                unexpected[(cls, status)] = unexpected.get((cls, status), 0) + 1
            if n >= warmup:
                us = ns / 1000.0
                samples[cls].append(us)
                seq.append((cls, prev, us))
            prev = cls
    finally:
        gc.enable()
    if lost or unexpected:
        odd = ", ".join("%s->%s x%d" % (c, s, k) for (c, s), k in unexpected.items())
        print("  note: %d tries got no answer; unexpected statuses: %s" % (lost, odd or "none"))
    return samples, seq


def report_phase(ph, samples, seq, out):
    print(TITLES[ph.name])
    for cls, v in samples.items():
        d = describe(v)
        print("  %-9s n=%4d mean %7.1f us  median %7.1f  trim10 %7.1f  sd %6.1f  p90 %7.1f  "
              "p99 %7.1f" % (cls, d["n"], d["mean"], d["median"], d["trim10"], d["sd"],
                             d["p90"], d["p99"]))
        out.setdefault("classes", {})[cls] = d
    res = out.setdefault("comparisons", {})
    for other in ("unknown", "wronguser"):
        res["known-" + other] = compare_line("(%s)" % ph.name, samples["known"],
                                             samples[other], "known", other)
    if "control" in samples:
        res["known-control"] = compare_line("(%s)" % ph.name, samples["known"],
                                            samples["control"], "known", "control (401)",
                                            expect_diff=True)
    if "unknown2" in samples:
        res["unknown-unknown2"] = compare_line("(%s)" % ph.name, samples["unknown"],
                                               samples["unknown2"], "unknown",
                                               "unknown again (A/A)", expect_diff=False)
    # Carry-over: the next try's time, by what the try before it was.
    after = {}
    for cls, prev, us in seq:
        if prev in ("known", "unknown") and cls != "control":
            after.setdefault(prev, []).append(us)
    if all(len(after.get(c, [])) > 2 for c in ("known", "unknown")):
        res["after-known-after-unknown"] = compare_line(
            "(%s) carry-over" % ph.name, after["known"], after["unknown"],
            "any try after a known", "any try after an unknown")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default="build/bench",
                    help="directory with telgated and telgate (default build/bench)")
    ap.add_argument("--tries", type=int, default=int(os.environ.get("TRIES", 1000)),
                    help="timed tries per class and phase (default 1000)")
    ap.add_argument("--warmup", type=int, default=int(os.environ.get("WARMUP", 300)),
                    help="discarded tries at the start of each phase (default 300)")
    ap.add_argument("--users", type=int, default=int(os.environ.get("USERS", 1000)),
                    help="users per phase (default 1000; raised so that no default-policy "
                         "user gets more than 2 wrong digests)")
    ap.add_argument("--phases", default=os.environ.get("PHASES", "nothrottle,default,locked"))
    ap.add_argument("--gap-us", type=int, default=int(os.environ.get("GAP_US", 0)),
                    help="idle time before each try (default 0: back to back)")
    ap.add_argument("--alg", default="SHA-256", choices=["SHA-256", "MD5"])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--no-control", action="store_true",
                    help="leave out the positive (realm mismatch) and null (A/A) controls")
    ap.add_argument("--raw", help="write every sample as JSON to this file")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (config, log, telgated's stderr)")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    random.seed(seed + 1)
    names = [p.strip() for p in a.phases.split(",") if p.strip()]
    for n in names:
        if n not in TITLES:
            ap.error("unknown phase %s" % n)
    # Each known try fails one user once; at most 2 per user keeps the default policy
    # (throttle at 10; before issue 13, the password policy's lock at 3) out of the way.
    users = max(a.users, (a.tries + a.warmup + 1) // 2)
    if users > 99999:
        ap.error("at most 99999 users per phase (line and user names have 5 digits)")
    phases = [Phase(n, i, users) for i, n in enumerate(names)]
    tmp = tempfile.mkdtemp(prefix="tgdigestenum")
    d = Daemon(a.build, tmp)
    result = {"seed": seed, "tries": a.tries, "warmup": a.warmup, "users": users,
              "gap_us": a.gap_us, "alg": a.alg, "build": a.build, "phases": {}}
    try:
        legacy = False
        if not d.start(provisioning(phases, users, legacy)):
            legacy = True  # an import from before issue 13: no digest credential policies
            shutil.rmtree(os.path.join(tmp, "state"), ignore_errors=True)
            if not d.start(provisioning(phases, users, legacy)):
                raise RuntimeError("telgated exited:\n" + d.stderr()[-3000:])
        result["legacy_import"] = legacy
        head = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(a.build)) or ".",
                               "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        print(f"digest_enum: {a.build}/telgated{' (' + head + ')' if head else ''}, "
              f"{users} users per phase, {a.tries} tries per class, warm-up {a.warmup}, "
              f"{a.alg}, UDP, gap {a.gap_us} us, seed {seed}, {os.cpu_count()} cores"
              + ("\n  (an import without digest credential policies: the no-throttle and "
                 "locking policies are given as the users' credentialpolicy, which the "
                 "digest check used before issue 13)" if legacy else ""))
        cl = Client(d.port, a.alg)
        cl.fresh_nonce(force=True)
        # Live phones: every line of the nothrottle and default users registers once.
        for ph in phases:
            if ph.name in ("nothrottle", "default"):
                for i in range(users):
                    cl.fresh_nonce()
                    msg, cid = cl.request(ph.line(i), cl.auth(ph.user(i), GOOD_PW))
                    st = cl.send(msg, cid)
                    if st != 200:
                        raise RuntimeError(f"{ph.line(i)}: REGISTER got {st}, not 200")
            if ph.name == "locked":
                for i in range(users):
                    cl.fresh_nonce()
                    msg, cid = cl.request(ph.line(i), cl.auth(ph.user(i), "Lock-Me-Now"))
                    cl.send(msg, cid)
                time.sleep(1.0)  # the failures are counted after their answers
                show = d.cli("user", "show", ph.user(users - 1))
                if not re.search(r"state +\S*locked", show):
                    print("  warning: %s does not look locked:\n%s" % (ph.user(users - 1), show))
        for ph in phases:
            classes = ["known", "unknown", "wronguser"]
            if ph.name == "nothrottle" and not a.no_control:
                classes += ["control", "unknown2"]
            samples, seq = run_phase(cl, ph, classes, a.tries, a.warmup, a.gap_us * 1000, rng)
            out = result["phases"].setdefault(ph.name, {})
            report_phase(ph, samples, seq, out)
            if a.raw:
                out["samples"] = samples
        if "default" in names:
            ph = phases[names.index("default")]
            counts = []
            for i in range(0, users, max(1, users // 8)):
                show = d.cli("user", "show", ph.user(i))
                m = re.search(r"digest +hack_count +(\d+) of (\d+)", show)
                if m:
                    counts.append(int(m.group(1)))
            if counts:
                print("  (default policy: digest hack_count of %d sampled users after the run: %s)"
                      % (len(counts), " ".join(map(str, counts))))
        if a.raw:
            with open(a.raw, "w") as f:
                json.dump(result, f)
    finally:
        d.stop()
        if a.keep:
            print("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
