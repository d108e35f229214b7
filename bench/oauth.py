#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/oauth: the token service (issue 18, "Benchmark") against oidc-provider, in one
run, each figure printed next to its goal:

(1) durable refresh-token grants/s: CONNS keep-alive HTTPS connections, each rotating a
    refresh token of its own in a loop (every answer gives the next one), confidential
    client with client_secret_basic; grants/s and grants per server-CPU-second
    (utime+stime of the server's process tree from /proc); goal telgated >= 3,000/s and
    >= 3x oidc-provider;
(2) introspection requests/s of one valid access token, client authenticated with
    client_secret_basic; goal >= 20,000/s and >= 3x oidc-provider;
(3) bench_authz_verify: cold ES256 verifies/s on one core vs `openssl speed ecdsap256`
    (goal >= 0.75x) and cached verifies/s.

Both servers are driven by the same client (bench/oauth_load.c, OpenSSL only) over TLS on
127.0.0.1. telgated: log level info to a file (one http_access line per request, as in
production); its tokens are minted before the clock with `telgate oauth client add` and
the authorization code + PKCE flow through the login form (one login per connection).
oidc-provider (npm, pinned in bench/oidc/package.json, installed there with `npm ci` by
bench/run.sh): bench/oidc/server.mjs, seeded through its own models.

usage: oauth.py BUILD_DIR [--conns N] [--seconds S] [--repeat N]"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import ssl
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no bench/__pycache__ from importing files.py
import benchlib  # noqa: E402
from files import free_port, tree_cpu, wait_tcp  # noqa: E402

PW = "Bench-Pass-1"
REDIRECT = "https://app.example/cb"


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--conns", type=int, default=16, help="keep-alive connections")
    p.add_argument("--seconds", type=int, default=5, help="per measurement")
    p.add_argument("--repeat", type=int, default=2, help="rounds, servers interleaved; "
                   "the best round is printed (the machine is shared)")
    p.add_argument("--verify-seconds", type=int, default=2)
    p.add_argument("--parts", default="1,2,3")
    p.add_argument("--conf", default="", help="extra telgated.conf lines (experiments)")
    return p.parse_args()


# --- telgated -------------------------------------------------------------------------------

def start_telgated(a, tmp, ports):
    with open(f"{tmp}/prov.json", "w") as f:
        json.dump({"version": 1, "users": [{"userid": "bench", "directory": "local",
                                             "password": PW}]}, f)
    conf = f"{tmp}/telgated.conf"
    with open(conf, "w") as f:
        f.write(f"[core]\nstate_dir = {tmp}/state\n[log]\nlevel = info\n"
                f"target = file:{tmp}/telgated.log\n"
                f"[admin]\nhttp_address = 127.0.0.1\nhttp_port = {ports['admin']}\n"
                f"[cti]\naddress = 127.0.0.1\nport = 0\ntls_port = {ports['cti']}\n"
                f"[files]\naddress = 127.0.0.1\nhttp_port = {ports['http']}\n"
                f"tftp_port = {ports['tftp']}\nhttps_port = {ports['https']}\n"
                f"[est]\naddress = 127.0.0.1\nport = {ports['est']}\n"
                f"[sip]\naddress = 127.0.0.1\nport = {ports['sip']}\n"
                f"tls_port = {ports['sip_tls']}\nedge_port = 0\n"
                + a.conf.replace("\\n", "\n") + "\n")
    # a.wrap: a command to run telgated under (bench/oauth_callgrind.py: valgrind)
    p = subprocess.Popen(list(getattr(a, "wrap", [])) +
                         [f"{a.build}/telgated", "-c", conf, "--provision", f"{tmp}/prov.json"],
                         stderr=open(f"{tmp}/telgated.stderr", "w"))
    wait_tcp(ports["est"], getattr(a, "start_s", 180))
    return p, conf, f"{tmp}/state/pki/ca.crt"


def cli(a, conf, *words):
    r = subprocess.run([f"{a.build}/telgate", "-c", conf, "--json", *words],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(" ".join(words) + ": " + r.stdout + r.stderr)
    return dict(json.loads(r.stdout).get("rows", []))


def https(port, ca, method, path, form=None, headers=None):
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=60,
                                    context=ssl.create_default_context(cafile=ca))
    body = urllib.parse.urlencode(form) if form is not None else None
    h = dict(headers or {})
    if body is not None:
        h["Content-Type"] = "application/x-www-form-urlencoded"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    out = (r.status, r.getheaders(), r.read().decode(errors="replace"))
    c.close()
    return out


def telgate_login(port, ca, secret):
    """One code + PKCE login of user bench by client "benchapp" through the login form: the
    token answer (access and refresh token)."""
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": "benchapp", "redirect_uri": REDIRECT,
              "scope": "sip", "state": "s", "code_challenge": challenge,
              "code_challenge_method": "S256"}
    s, h, page = https(port, ca, "GET", "/oauth/authorize?" + urllib.parse.urlencode(params))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    cookie = "; ".join(v.split(";")[0] for k, v in h if k.lower() == "set-cookie")
    s, h, b = https(port, ca, "POST", "/oauth/authorize",
                    dict(params, csrf_token=csrf, username="bench", password=PW),
                    {"Cookie": cookie})
    loc = dict((k.lower(), v) for k, v in h).get("location", "")
    code = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)["code"][0]
    basic = base64.b64encode(f"benchapp:{secret}".encode()).decode()
    s, h, b = https(port, ca, "POST", "/oauth/token",
                    {"grant_type": "authorization_code", "code": code,
                     "redirect_uri": REDIRECT, "code_verifier": verifier},
                    {"Authorization": "Basic " + basic})
    if s != 200:
        raise RuntimeError(f"code grant: {s} {b}")
    return json.loads(b)


def telgate_side(a, tmp, ports):
    proc, conf, ca = start_telgated(a, tmp, ports)
    try:
        secret = cli(a, conf, "oauth", "client", "add", "benchapp", "--type", "confidential",
                     "--redirect-uris", REDIRECT, "--grants",
                     "authorization_code,refresh_token", "--scopes", "sip", "--audience",
                     "sip")["client_secret"]
        rs = cli(a, conf, "oauth", "client", "add", "rs", "--type",
                 "confidential")["client_secret"]
        t = time.time()
        answers = [telgate_login(ports["est"], ca, secret) for _ in range(a.conns * a.repeat)]
    except Exception:
        stop(proc, 30)  # the caller has no handle on it yet
        raise
    print(f"  telgated: {len(answers)} code + PKCE logins through the login form in "
          f"{time.time() - t:.1f} s (not measured)")
    return {"name": "telgated", "proc": proc, "port": ports["est"], "ca": ca,
            "token_path": "/oauth/token", "introspect_path": "/oauth/introspect",
            "auth": f"basic:benchapp:{secret}", "introspect_auth": f"basic:rs:{rs}",
            "refresh": [x["refresh_token"] for x in answers],
            "access": answers[0]["access_token"], "admin": ports["admin"]}


# --- oidc-provider ----------------------------------------------------------------------------

def oidc_side(a, tmp):
    port = free_port()
    key, cert = f"{tmp}/oidc.key", f"{tmp}/oidc.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-subj", "/CN=localhost", "-days", "2", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    out = f"{tmp}/oidc.json"
    log = open(f"{tmp}/oidc.log", "w")
    # NODE_ENV=production, as its operators run it (Koa and oidc-provider take their
    # development paths without it)
    proc = subprocess.Popen(["node", f"{HERE}/oidc/server.mjs", str(port), key, cert, out,
                             str(a.conns * a.repeat)], stdout=log, stderr=log,
                            env=dict(os.environ, NODE_ENV="production"))
    wait_tcp(port, 120)
    d = json.load(open(out))
    version = json.load(open(f"{HERE}/oidc/node_modules/oidc-provider/package.json"))["version"]
    auth = f"basic:{d['client_id']}:{d['client_secret']}"
    return {"name": f"oidc-provider {version}", "proc": proc, "port": port, "ca": cert,
            "token_path": d["token_path"], "introspect_path": d["introspect_path"],
            "auth": auth, "introspect_auth": auth, "refresh": d["refresh_tokens"],
            "access": d["access_token"]}


# --- the measurements ---------------------------------------------------------------------------

def load(a, side, mode, tokens, tmp):
    path = f"{tmp}/{mode}.tokens"
    with open(path, "w") as f:
        f.write("\n".join(tokens) + "\n")
    c0 = tree_cpu(side["proc"].pid)
    r = subprocess.run([f"{a.build}/bench/bench_oauth_load", "127.0.0.1", str(side["port"]),
                        side["ca"], mode,
                        side["token_path"] if mode == "refresh" else side["introspect_path"],
                        side["auth"] if mode == "refresh" else side["introspect_auth"], path,
                        str(a.conns), str(a.seconds)], capture_output=True, text=True)
    cpu = tree_cpu(side["proc"].pid) - c0
    m = re.search(r"RESULT (.*)", r.stdout)
    res = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())} if m else {}
    res["cpu_s"] = cpu
    res["per_cpu"] = res.get("ok", 0) / cpu if cpu > 0 else 0.0
    res["text"] = r.stdout.split("RESULT")[0].rstrip()
    if not m:
        res["text"] += f"\n  bench_oauth_load exited {r.returncode} without a result"
    if r.stderr.strip():
        res["text"] += "\n  " + r.stderr.strip()[-600:]
    return res


def stop(proc, wait_s):
    """Terminates a server, killed when it has not ended after wait_s."""
    proc.terminate()
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()


def best(rounds):
    return max(rounds, key=lambda x: x.get("rate", 0))


def table(title, rows, goal_abs, unit):
    print(f"  {title}")
    print("  %-24s %12s %14s %10s %10s %8s" % ("server", unit + "/s", unit + "/CPU-s",
                                               "p50 ms", "p99 ms", "failed"))
    for name, r in rows:
        print("  %-24s %12.0f %14.0f %10.2f %10.2f %8d" % (
            name, r.get("rate", 0), r["per_cpu"], r.get("p50_ms", 0), r.get("p99_ms", 0),
            r.get("failed", 0)))
    # the load client's own CPU per request: it shares the 2 cores, so it must stay well
    # below the servers' (or the client, not the server, sets the rate)
    print("  load client CPU per request: " + ", ".join(
        "%s %.0f us" % (name, 1e6 * r.get("client_cpu_s", 0) / r["ok"]) if r.get("ok") else name
        + " -" for name, r in rows))
    t, o = rows[0][1], rows[1][1]
    ratio = t.get("rate", 0) / o["rate"] if o.get("rate") else 0.0
    cratio = t["per_cpu"] / o["per_cpu"] if o.get("per_cpu") else 0.0
    ok = t.get("rate", 0) >= goal_abs and ratio >= 3
    print(f"  telgated / oidc-provider: x{ratio:.2f} per second, x{cratio:.2f} per CPU-second;"
          f" goal >= {goal_abs}/s and >= 3x: {'ok' if ok else 'MISSED'}")


def main():
    a = parse_args()
    load_avg = os.getloadavg()
    print(f"oauth: {os.cpu_count()} cores, load average {load_avg[0]:.2f} {load_avg[1]:.2f} "
          f"{load_avg[2]:.2f} at the start (the machine is shared: the numbers move with it); "
          f"{a.conns} keep-alive connections, {a.seconds} s per measurement, best of "
          f"{a.repeat} rounds, servers interleaved")
    parts = a.parts.split(",")
    if "1" in parts or "2" in parts:
        tmp = benchlib.tempdir("tgoauthbench")
        ports = benchlib.telgated_ports()
        sides = []
        try:
            sides.append(telgate_side(a, tmp, ports))
            sides.append(oidc_side(a, tmp))
            results = {(s["name"], m): [] for s in sides for m in ("refresh", "introspect")}
            for rnd in range(a.repeat):
                for s in sides:
                    toks = s["refresh"][rnd * a.conns:(rnd + 1) * a.conns]
                    if "1" in parts:
                        r = load(a, s, "refresh", toks, tmp)
                        print(f"  round {rnd + 1} {s['name']}:\n{r['text']}")
                        results[(s["name"], "refresh")].append(r)
                    if "2" in parts:
                        r = load(a, s, "introspect", [s["access"]], tmp)
                        print(f"  round {rnd + 1} {s['name']}:\n{r['text']}")
                        results[(s["name"], "introspect")].append(r)
            if "1" in parts:
                table("(1) refresh-token grants (rotation, durable on telgated)",
                      [(s["name"], best(results[(s["name"], "refresh")])) for s in sides],
                      3000, "grants")
            if "2" in parts:
                table("(2) introspection of a valid access token (client authenticated)",
                      [(s["name"], best(results[(s["name"], "introspect")])) for s in sides],
                      20000, "reqs")
        finally:
            for s in sides:
                stop(s["proc"], 30)
            benchlib.rmtree(tmp)
    if "3" in parts:
        print("  (3) authz_verify (bench_authz_verify)")
        r = subprocess.run([f"{a.build}/bench/bench_authz_verify", str(a.verify_seconds),
                            "1000"], capture_output=True, text=True)
        print("\n".join("  " + x for x in r.stdout.rstrip().splitlines()))


if __name__ == "__main__":
    main()
