# SPDX-License-Identifier: ISC
"""A throw-away OpenLDAP slapd for tests and benchmarks.

Slapd(dir) writes a configuration, a CA and a server certificate (localhost, 127.0.0.1),
a second "wrong" CA, a small Active-Directory-like schema (sAMAccountName,
userAccountControl, the user and computer classes, with AD's own OIDs so the seed's filter
works unchanged) and a directory with the seed's people, loads it with slapadd, and runs
slapd in the foreground on free loopback ports with its operation log ("-d stats") in
dir/slapd.log, so tests can count the binds that reached it.

Command line (for shell use and the C benchmarks):
    python3 slapd.py start DIR [--users N]   -> prints one JSON line, runs until killed
"""
import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The shared registry: a port picked with bind(0) could be taken by another test run in
# parallel (ctest -j2) before slapd binds it.
from ports import free_port  # noqa: E402

SUFFIX = "dc=joshlab,dc=net"
BASE_AD = "ou=Breaking Bad," + SUFFIX
BASE_PEOPLE = "ou=People," + SUFFIX
SERVICE_DN = "cn=svc-telgate," + SUFFIX
SERVICE_PW = "svc-Secret-42"

AD_SCHEMA = """
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' SUP inetOrgPerson STRUCTURAL
  MAY ( sAMAccountName $ userAccountControl ) )
objectclass ( 1.2.840.113556.1.3.30 NAME 'computer' SUP user STRUCTURAL )
"""

# (dn, objectclass, attributes, password). AD-style people live under the seed's OU.
PEOPLE = [
    ("cn=Walter White," + BASE_AD, "user",
     {"cn": "Walter White", "sn": "White", "sAMAccountName": "wwhite",
      "userAccountControl": "512"}, "Heisenberg-1"),
    ("cn=Skyler White," + BASE_AD, "user",  # disabled account (ACCOUNTDISABLE = 2)
     {"cn": "Skyler White", "sn": "White", "sAMAccountName": "swhite",
      "userAccountControl": "514"}, "Skyler-Pass-1"),
    ("cn=HANK-PC," + BASE_AD, "computer",  # a computer account must never log in
     {"cn": "HANK-PC", "sn": "PC", "sAMAccountName": "hank",
      "userAccountControl": "4096"}, "Computer-Pass-1"),
    ("uid=jpinkman," + BASE_PEOPLE, "inetOrgPerson",
     {"uid": "jpinkman", "cn": "Jesse Pinkman", "sn": "Pinkman"}, "Cap-n-Cook-1"),
    ("uid=star*man," + BASE_PEOPLE, "inetOrgPerson",
     {"uid": "star*man", "cn": "Star Man", "sn": "Man"}, "Star-Pass-1"),
    ("uid=paren(x)," + BASE_PEOPLE, "inetOrgPerson",
     {"uid": "paren(x)", "cn": "Paren X", "sn": "X"}, "Paren-Pass-1"),
    ("uid=back\\5Cslash," + BASE_PEOPLE, "inetOrgPerson",
     {"uid": "back\\slash", "cn": "Back Slash", "sn": "Slash"}, "Back-Pass-1"),
    ("uid=jos\u00e9," + BASE_PEOPLE, "inetOrgPerson",
     {"uid": "jos\u00e9", "cn": "Jos\u00e9 Mar\u00eda", "sn": "Mar\u00eda"}, "Jos\u00e9-Pass-1"),
    ("uid=twin," + BASE_PEOPLE, "inetOrgPerson",
     {"uid": "twin", "cn": "Twin One", "sn": "One"}, "Twin-Pass-1"),
    ("uid=twin,ou=Other," + SUFFIX, "inetOrgPerson",
     {"uid": "twin", "cn": "Twin Two", "sn": "Two"}, "Twin-Pass-2"),
]


def ssha(pw):
    salt = os.urandom(8)
    d = hashlib.sha1(pw.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(d + salt).decode()


def ldif_line(attr, value):
    safe = value.isascii() and value == value.strip() and not value.startswith((":", "<"))
    if safe:
        return "%s: %s\n" % (attr, value)
    return "%s:: %s\n" % (attr, base64.b64encode(value.encode()).decode())


def run(cmd, **kw):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def make_ca(d, name):
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", os.path.join(d, name + ".key"), "-out",
         os.path.join(d, name + ".crt"), "-days", "30", "-subj", "/CN=" + name])


class Slapd:
    def __init__(self, d, users=0):
        self.dir = os.path.abspath(d)
        self.users = users  # extra generated users (bench): user00001.. / Bench-Pass-1
        self.proc = None
        self.port = free_port()
        self.tls_port = free_port()
        self.log = os.path.join(self.dir, "slapd.log")
        self._setup()

    # --- set-up -------------------------------------------------------------------
    def _setup(self):
        d = self.dir
        os.makedirs(os.path.join(d, "db"), exist_ok=True)
        make_ca(d, "ca")
        make_ca(d, "wrong-ca")
        key, csr, crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
        run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=localhost"])
        ext = os.path.join(d, "san.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        run(["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(d, "ca.crt"), "-CAkey",
             os.path.join(d, "ca.key"), "-CAcreateserial", "-out", crt, "-days", "30",
             "-extfile", ext])
        with open(os.path.join(d, "ad-lite.schema"), "w") as f:
            f.write(AD_SCHEMA)
        self.conf = os.path.join(d, "slapd.conf")
        with open(self.conf, "w") as f:
            f.write(f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include {d}/ad-lite.schema
pidfile {d}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {d}/ca.crt
TLSCertificateFile {d}/server.crt
TLSCertificateKeyFile {d}/server.key
TLSProtocolMin 3.3
database mdb
maxsize 268435456
suffix "{SUFFIX}"
rootdn "cn=admin,{SUFFIX}"
directory {d}/db
index uid,sAMAccountName eq
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="{SERVICE_DN}" read by * none
""")
        ldif = os.path.join(d, "data.ldif")
        with open(ldif, "w", encoding="utf-8") as f:
            f.write(f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\n"
                    "dc: joshlab\no: joshlab\n\n")
            for ou in ("Breaking Bad", "People", "Other"):
                f.write(f"dn: ou={ou},{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}\n\n")
            f.write(f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\n"
                    f"objectClass: simpleSecurityObject\ncn: svc-telgate\n"
                    f"userPassword: {ssha(SERVICE_PW)}\n\n")
            for dn, oc, attrs, pw in PEOPLE:
                f.write(ldif_line("dn", dn))
                f.write(f"objectClass: {oc}\n")
                for k, v in attrs.items():
                    f.write(ldif_line(k, v))
                f.write(ldif_line("userPassword", ssha(pw)))
                f.write("\n")
            bench_pw = ssha("Bench-Pass-1")
            for i in range(1, self.users + 1):
                u = "user%05d" % i
                f.write(f"dn: uid={u},{BASE_PEOPLE}\nobjectClass: inetOrgPerson\nuid: {u}\n"
                        f"cn: {u}\nsn: {u}\nuserPassword: {bench_pw}\n\n")
        run(["slapadd", "-q", "-f", self.conf, "-l", ldif])
        with open(os.path.join(d, "service.pw"), "w") as f:
            f.write(SERVICE_PW + "\n")
        os.chmod(os.path.join(d, "service.pw"), 0o600)

    # --- process ------------------------------------------------------------------
    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            ["slapd", "-f", self.conf, "-d", "stats", "-h",
             f"ldap://127.0.0.1:{self.port}/ ldaps://127.0.0.1:{self.tls_port}/"],
            stdout=logf, stderr=logf)
        logf.close()
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("slapd exited: " + open(self.log).read()[-2000:])
                time.sleep(0.05)
        raise RuntimeError("slapd did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def uri(self):
        return f"ldap://127.0.0.1:{self.port}"

    def tls_uri(self):
        return f"ldaps://127.0.0.1:{self.tls_port}"

    def bind_count(self):
        """BIND requests slapd logged so far (service and user binds). slapd logs a
        request line (method=) and, on success, a second line (mech=): count requests."""
        try:
            with open(self.log, errors="replace") as f:
                return sum(1 for line in f if " BIND dn=" in line and " method=" in line)
        except FileNotFoundError:
            return 0

    def bind_dns(self):
        with open(self.log, errors="replace") as f:
            return [line.split(' BIND dn="', 1)[1].split('"', 1)[0]
                    for line in f if ' BIND dn="' in line and " method=" in line]

    def info(self):
        return {"uri": self.uri(), "tls_uri": self.tls_uri(), "ca": self.dir + "/ca.crt",
                "wrong_ca": self.dir + "/wrong-ca.crt", "bind_dn": SERVICE_DN,
                "bind_password_file": self.dir + "/service.pw", "base_ad": BASE_AD,
                "base": SUFFIX, "pid": self.proc.pid if self.proc else 0}


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "start":
        n = int(sys.argv[4]) if len(sys.argv) >= 5 and sys.argv[3] == "--users" else 0
        s = Slapd(sys.argv[2], users=n).start()
        print(json.dumps(s.info()), flush=True)
        # The handler only forwards the signal: Popen.wait() must stay with the main
        # thread, which reaps slapd and exits.
        signal.signal(signal.SIGTERM, lambda *a: s.proc.terminate())
        try:
            s.proc.wait()
        finally:
            s.stop()
    else:
        sys.exit(__doc__)
