#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/tls_grade: grades every TLS listener of telgated with outside scanners (issue 15).
Starts telgated from a build directory on free loopback ports with a temporary state
directory, then runs testssl.sh (Debian 12: 3.0.8) against each server-auth listener (SIP
TLS, SIP OAuth opened with `telgate utils sipOAuth-mode enable`, CTI TLS, the device files
over HTTPS, EST) and sslscan against the mutual-TLS ones (the SIP edge and a cloud CTI
interface made with `telgate cti-interface add`): testssl.sh 3.0.8 cannot present a
client certificate, sslscan can (--certs/--pk). The client certificate is signed by
telgated's own CA (the edge's default sip.edge_ca_file; uploaded with `telgate trust
update` as the cloud CTI interfaces' anchor) and its name is allow-listed with `telgate
edge add` and `telgate identity add`, as an administrator would.

Asserts per listener: no SSLv2, SSLv3, TLS 1.0 or TLS 1.1; forward secrecy only; AEAD
suites only (no CBC); TLS 1.3 offered; no vulnerability check flagged at MEDIUM or worse.
Prints the findings per listener, then one summary line per listener; exits 1 when an
assertion fails. Takes a few minutes on a loaded machine (testssl.sh ~30 s per listener
alone, the five at once; sslscan a few seconds).

    python3 bench/tls_grade.py BUILD_DIR [--keep] [--weaken]
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

# testssl.sh 3.0.8's groups: -p protocols, -E ciphers per protocol, -S server defaults,
# -f forward secrecy, -U vulnerabilities. Its --fast is gone in 3.0; without -s/-P/-h/-H
# and the client simulation a run takes ~30 s instead of ~2 min.
TESTSSL = ["testssl", "--warnings", "batch", "--quiet", "--color", "0",
           "-p", "-E", "-S", "-f", "-U"]
# The vulnerability checks of -U, by testssl's JSON id (prefix). BREACH only runs against
# HTTP, which neither listener speaks: it is reported as not applicable.
VULNS = ["heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego",
         "CRIME_TLS", "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN",
         "LOGJAM", "BEAST", "LUCKY13", "RC4"]
FLAGGED = {"MEDIUM", "HIGH", "CRITICAL"}
OLD_PROTOCOLS = {"SSLv2": "SSLv2", "SSLv3": "SSLv3", "TLS1": "TLS 1.0", "TLS1_1": "TLS 1.1"}
FS_PREFIXES = ("TLS_ECDHE_", "TLS_DHE_", "ECDHE-", "DHE-")  # IANA and OpenSSL names
AEAD = ("GCM", "CHACHA20_POLY1305", "CHACHA20-POLY1305", "CCM")


# The system tests' port registry (tests/lib/ports.py): a port below the kernel's
# ephemeral range, reserved for this process, so that neither a client socket nor another
# test run in parallel (ctest -j2) takes it between the choice and telgated's bind.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "lib"))
from ports import free_port  # noqa: E402


def run_quiet(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s: %s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r


class Daemon:
    """telgated on free loopback ports: SIP TLS, SIP OAuth, the SIP edge, CTI TLS, a cloud
    CTI interface, the device files over HTTPS and EST (the other listeners off or on free
    ports too)."""

    def __init__(self, build, root):
        self.build, self.root = build, root
        self.state = os.path.join(root, "state")
        self.conf = os.path.join(root, "t.conf")
        # the edge port is sipMRAOAuthPort in the node table: 1024-49151 (seed 002)
        # so is SIP OAuth's sipOAuthPort
        self.ports = {"sip-tls": free_port(), "sip-oauth": free_port(top=49151),
                      "sip-edge": free_port(top=49151), "cti-tls": free_port(),
                      "cti-interface": free_port(), "files-https": free_port(),
                      "est-https": free_port()}
        with open(self.conf, "w") as f:
            f.write(f"[core]\nstate_dir = {self.state}\nthreads = 1\nworkers = 1\n"
                    f"[log]\nlevel = warning\ntarget = file:{root}/log\n"
                    f"[cti]\nport = {free_port()}\ntls_port = {self.ports['cti-tls']}\n"
                    f"address = 127.0.0.1\n"
                    f"[sip]\nport = {free_port()}\ntls_port = {self.ports['sip-tls']}\n"
                    f"edge_port = {self.ports['sip-edge']}\naddress = 127.0.0.1\n"
                    f"oauth_port = {self.ports['sip-oauth']}\n"
                    f"[admin]\nhttp_port = 0\n"
                    f"[files]\naddress = 127.0.0.1\nhttp_port = {free_port()}\ntftp_port = 0\n"
                    f"https_port = {self.ports['files-https']}\n"
                    f"[est]\naddress = 127.0.0.1\nport = {self.ports['est-https']}\n")
        self.proc = subprocess.Popen([os.path.join(build, "telgated"), "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120  # a first start on a loaded machine: see test_daemon
        while self.cli("status").returncode != 0:
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("telgated did not come up")
            time.sleep(0.1)

    def cli(self, *words):
        return subprocess.run([os.path.join(self.build, "telgate"), "-c", self.conf, *words],
                              capture_output=True, text=True, timeout=60)

    def must(self, *words):
        r = self.cli(*words)
        if r.returncode != 0:
            raise RuntimeError("telgate %s: %s%s" % (" ".join(words), r.stdout, r.stderr))

    def mutual_client(self):
        """A client certificate the edge and the cloud CTI interface accept: signed by
        telgated's CA (the default edge trust store; the interfaces' anchor), its CN
        allow-listed for both. Opens SIP OAuth and the cloud CTI interface too. Returns
        (certificate, key) paths."""
        pki = os.path.join(self.state, "pki")
        crt, key, csr = (os.path.join(self.root, n) for n in ("edge.crt", "edge.key", "edge.csr"))
        ext = os.path.join(self.root, "edge.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
                    "keyUsage=digitalSignature\n")
        run_quiet(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=grade.edge.example"])
        run_quiet(["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(pki, "ca.crt"),
                   "-CAkey", os.path.join(pki, "ca.key"), "-CAcreateserial", "-out", crt,
                   "-days", "2", "-extfile", ext])
        self.must("edge", "add", "grade.edge.example", "tls_grade")
        self.must("utils", "sipOAuth-mode", "enable")
        self.must("cti-interface", "add", str(self.ports["cti-interface"]), "true", "true",
                  "true", "127.0.0.1")
        self.must("trust", "update", "kind=cti-interface", "nodeca", os.path.join(pki, "ca.crt"))
        self.must("identity", "add", "kind=cti-interface", "grade.edge.example")
        self.must("tls", "set", "kind=cti-interface", "allowClientApp", "true")
        return crt, key

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Grade:
    """The facts about one listener that the assertions need, and what failed."""

    def __init__(self, name, port, tool):
        self.name, self.port, self.tool = name, port, tool
        self.protocols = {}  # "TLS 1.2" -> True when offered
        self.suites = []  # (protocol, IANA or OpenSSL name)
        self.vulns = []  # (check, severity, finding)
        self.notes = []
        self.failures = []
        self.seconds = 0.0

    def check(self):
        for p in ("SSLv2", "SSLv3", "TLS 1.0", "TLS 1.1"):
            if self.protocols.get(p, True):
                self.failures.append(f"{p} offered (or not tested)")
        if not self.protocols.get("TLS 1.3"):
            self.failures.append("TLS 1.3 not offered")
        if not self.suites:
            self.failures.append("no cipher suite found")
        for proto, suite in self.suites:
            # TLS 1.3 key exchange is always ephemeral; TLS 1.2 needs (EC)DHE.
            if proto != "TLS 1.3" and not suite.startswith(FS_PREFIXES):
                self.failures.append(f"{proto} {suite}: no forward secrecy")
            if not any(a in suite for a in AEAD):
                self.failures.append(f"{proto} {suite}: not AEAD")
        for check, sev, finding in self.vulns:
            if sev in FLAGGED:
                self.failures.append(f"{check} flagged {sev}: {finding}")

    def summary(self):
        offered = [p for p in ("SSLv2", "SSLv3", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3")
                   if self.protocols.get(p)]
        out = [f"== {self.name} 127.0.0.1:{self.port} ({self.tool}, {self.seconds:.0f} s): "
               + ("PASS" if not self.failures else "FAIL"),
               "  protocols offered: " + " ".join(offered),
               "  not offered: " + " ".join(p for p in ("SSLv2", "SSLv3", "TLS 1.0", "TLS 1.1")
                                            if self.protocols.get(p) is False)]
        for proto in ("TLS 1.2", "TLS 1.3"):
            names = [s for p, s in self.suites if p == proto]
            out.append(f"  {proto} suites ({len(names)}): " + " ".join(names))
        out.append("  vulnerability checks: " + ", ".join(f"{c} {s}" for c, s, _ in self.vulns))
        out += ["  note: " + n for n in self.notes]
        out += ["  FAILED: " + f for f in self.failures]
        return "\n".join(out)

    def line(self):
        """One line: verdict, protocols, suites per protocol, the properties checked."""
        offered = [p.replace("TLS ", "") for p in ("SSLv2", "SSLv3", "TLS 1.0", "TLS 1.1",
                                                    "TLS 1.2", "TLS 1.3")
                   if self.protocols.get(p)]
        n12 = sum(1 for p, _ in self.suites if p == "TLS 1.2")
        n13 = sum(1 for p, _ in self.suites if p == "TLS 1.3")
        fs = all(p == "TLS 1.3" or s.startswith(FS_PREFIXES) for p, s in self.suites)
        aead = all(any(a in s for a in AEAD) for _, s in self.suites)
        flagged = [c for c, sev, _ in self.vulns if sev in FLAGGED]
        return (f"{self.name:<14} {self.port:>5} {self.tool.split(',')[0]:<10} "
                f"{'PASS' if not self.failures else 'FAIL'}  protocols {'+'.join(offered) or '-'}"
                f"  suites 1.2:{n12} 1.3:{n13}  FS {'all' if fs else 'NO'}"
                f"  AEAD {'all' if aead else 'NO'}  vulnerabilities {len(self.vulns)} checked, "
                f"{len(flagged)} flagged" + (" (" + " ".join(flagged) + ")" if flagged else ""))


def testssl(name, port, root):
    g = Grade(name, port, "testssl.sh")
    js = os.path.join(root, f"{name}.json")
    t0 = time.time()
    r = subprocess.run(TESTSSL + ["--jsonfile", js, f"127.0.0.1:{port}"],
                       capture_output=True, text=True, timeout=600)
    g.seconds = time.time() - t0
    if not os.path.exists(js):
        g.failures.append(f"testssl.sh wrote no results (exit {r.returncode}): "
                          + r.stdout[-2000:] + r.stderr[-2000:])
        return g
    with open(js) as f:
        rows = json.load(f)
    seen = set()
    for row in rows:
        rid, sev, finding = row["id"], row["severity"], row["finding"]
        if rid in OLD_PROTOCOLS:
            g.protocols[OLD_PROTOCOLS[rid]] = not finding.startswith("not offered")
        elif rid in ("TLS1_2", "TLS1_3"):
            g.protocols["TLS 1.2" if rid == "TLS1_2" else "TLS 1.3"] = finding.startswith("offered")
        elif rid.startswith("cipher-tls1_2_") or rid.startswith("cipher-tls1_3_"):
            proto = "TLS 1.2" if rid.startswith("cipher-tls1_2_") else "TLS 1.3"
            g.suites.append((proto, finding.split()[-1]))  # the IANA name, last column
        elif rid.startswith("cipher-"):
            g.failures.append(f"suite offered below TLS 1.2: {finding}")
        elif rid == "PFS" and sev != "OK":
            g.failures.append(f"forward secrecy: {sev} {finding}")
        elif rid in ("scanProblem",) or sev == "FATAL":
            g.failures.append(f"testssl.sh problem: {rid} {finding}")
        elif rid in ("cert_chain_of_trust", "cert_revocation") and sev in FLAGGED:
            # telgated's own CA signs the certificate and is not sent: not a weakness of
            # the listener's TLS, so reported without failing.
            g.notes.append(f"{rid} {sev}: {finding}")
        for v in VULNS:
            if rid == v or rid.startswith(v + "-") or rid.startswith(v + "_CBC"):
                g.vulns.append((rid, sev, finding))
                seen.add(v)
    for v in VULNS:
        if v not in seen and v != "BREACH":
            g.failures.append(f"vulnerability check {v} missing from testssl.sh's results")
    if "BREACH" not in seen:
        g.notes.append("BREACH not applicable: not HTTP")
    g.check()
    return g


def sslscan(name, port, root, cert):
    """sslscan with the client certificate; a second scan without it shows that the
    listener needs one (TLS 1.2 handshakes fail, so no TLS 1.2 suite is accepted)."""
    g = Grade(name, port, "sslscan, client certificate")
    t0 = time.time()
    docs = {}
    for tag, extra in (("cert", [f"--certs={cert[0]}", f"--pk={cert[1]}"]), ("nocert", [])):
        xml = os.path.join(root, f"{name}-{tag}.xml")
        subprocess.run(["sslscan", "--no-colour", f"--xml={xml}", *extra, f"127.0.0.1:{port}"],
                       capture_output=True, text=True, timeout=300)
        docs[tag] = ET.parse(xml).getroot().find("ssltest")
    g.seconds = time.time() - t0
    doc = docs["cert"]
    if doc is None:
        g.failures.append("sslscan found no TLS service")
        return g
    for p in doc.findall("protocol"):
        label = ("SSLv" if p.get("type") == "ssl" else "TLS ") + p.get("version")
        g.protocols[label] = p.get("enabled") == "1"
    for c in doc.findall("cipher"):
        proto = c.get("sslversion").replace("TLSv", "TLS ")
        g.suites.append((proto, c.get("cipher")))
        if proto not in ("TLS 1.2", "TLS 1.3"):
            g.failures.append(f"suite offered below TLS 1.2: {proto} {c.get('cipher')}")
    for h in doc.findall("heartbleed"):
        g.vulns.append((f"heartbleed {h.get('sslversion')}",
                        "HIGH" if h.get("vulnerable") != "0" else "OK", ""))
    for r in doc.findall("renegotiation"):
        insecure = r.get("supported") == "1" and r.get("secure") != "1"
        g.vulns.append(("renegotiation", "HIGH" if insecure else "OK", ""))
    for c in doc.findall("compression"):
        g.vulns.append(("compression (CRIME)", "HIGH" if c.get("supported") == "1" else "OK", ""))
    if not any(p == "TLS 1.2" for p, _ in g.suites):
        g.failures.append("no TLS 1.2 suite accepted with the client certificate")
    plain = docs["nocert"]
    without = [] if plain is None else [c.get("cipher") for c in plain.findall("cipher")
                                        if c.get("sslversion") != "TLSv1.3"]
    if without:
        g.failures.append("TLS 1.2 handshakes without a client certificate: " + " ".join(without))
    g.notes.append("without a client certificate no TLS 1.2 suite is accepted (TLS 1.3 "
                   "suites still show: the server asks for the certificate after its "
                   "handshake messages)")
    g.check()
    return g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--keep", action="store_true", help="keep the scanners' output files")
    ap.add_argument("--weaken", action="store_true",
                    help="apply the bwks-default profile (CBC and non-FS suites) first: "
                         "shows that the assertions fail")
    a = ap.parse_args()
    for tool in ("testssl", "sslscan", "openssl"):
        if not shutil.which(tool):
            print(f"tls_grade: {tool} not found (bash scripts/deps.sh installs it)")
            return 2
    root = tempfile.mkdtemp(prefix="tggrade")
    t0 = time.time()
    d = Daemon(a.build, root)
    try:
        cert = d.mutual_client()
        if a.weaken:
            r = d.cli("tls", "profile", "apply", "system", "bwks-default")
            print("tls_grade: --weaken: " + (r.stdout + r.stderr).strip().replace("\n", "; "))
        # The scans at once: each is a long chain of short handshakes, mostly waiting on
        # its own processes, so together they take about as long as the slowest one
        # instead of the sum (the whole grade stays well inside its CTest timeout on a
        # loaded machine). Each writes its own files; the results keep this order.
        with concurrent.futures.ThreadPoolExecutor(max_workers=7) as pool:
            jobs = [pool.submit(testssl, name, d.ports[name], root)
                    for name in ("sip-tls", "sip-oauth", "cti-tls", "files-https",
                                 "est-https")]
            jobs += [pool.submit(sslscan, name, d.ports[name], root, cert)
                     for name in ("sip-edge", "cti-interface")]
            grades = [j.result() for j in jobs]
    finally:
        d.stop()
        if a.keep:
            print("tls_grade: results kept in " + root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    for g in grades:
        print(g.summary())
    print("tls_grade: summary, one line per listener")
    for g in grades:
        print("  " + g.line())
    bad = [g.name for g in grades if g.failures]
    print(f"tls_grade: {len(grades) - len(bad)} of {len(grades)} listeners pass "
          f"({time.time() - t0:.0f} s)" + (": failed " + " ".join(bad) if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
