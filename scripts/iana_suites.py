#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Generates src/tls/iana_suites.inc, telgate's copy of the IANA TLS Cipher Suites registry
(code point + name of every assigned row), from the copies Debian 12 ships.

No package of Debian 12 or npm ships IANA's own tls-parameters-4.csv (searched: every file
name in Debian bookworm's Contents index), so the table is derived from two Debian packages
that each carry a transcription of the registry, and they are checked against each other
(rows registered after both copies are added from their RFCs: SUPPLEMENT below):

  --testssl  testssl.sh 3.0.8+dfsg-1: /etc/testssl/cipher-mapping.txt (code point and
             IANA-name columns only; its OpenSSL names are not used: OpenSSL itself is
             asked at run time)
  --xnet     golang-golang-x-net-dev 1:0.7.0+dfsg-1:
             /usr/share/gocode/src/golang.org/x/net/http2/ciphers.go ("Taken from
             https://www.iana.org/assignments/tls-parameters/tls-parameters.txt")

Every code point both copies name must carry the same name (the script fails otherwise). Rows only
testssl.sh has are kept when the registry assigns them (the TLS 1.3 suites, RFC 8446 B.4);
testssl.sh's rows that are not registry assignments are dropped, each for a stated reason
(NOT_IANA below). Get the inputs with `apt-get download testssl.sh golang-golang-x-net-dev`
and `dpkg -x`.

Usage: scripts/iana_suites.py --testssl cipher-mapping.txt --xnet ciphers.go > src/tls/iana_suites.inc
"""
import argparse
import re
import sys

# testssl.sh rows that are not assignments of the IANA registry, and why.
NOT_IANA = [
    (0x0060, 0x0066, "1999 export1024 draft: the registry marks 0x00,0x60-66 unassigned"),
    (0x0080, 0x0083, "GOST draft code points: the registry marks 0x00,0x80-83 unassigned"),
    (0x16B7, 0x16BA, "CECPQ1: a Google experiment, never registered"),
    (0xCC13, 0xCC15, "pre-RFC 7905 ChaCha20 code points (_OLD), never registered"),
    (0xFE00, 0xFFFF, "private use (RFC 8446 B.4: 0xFF,*): OpenSSL GOST, SSL_RSA_FIPS"),
]
# Rows the registry assigns that only testssl.sh carries (x/net's copy predates them).
ONLY_TESTSSL_OK = {0x1301, 0x1302, 0x1303, 0x1304, 0x1305}
# Rows registered by RFCs that neither copy carries, each from the RFC's IANA
# Considerations section (the registry lists them with that RFC as reference). 0xD0,0x04 is
# unassigned: RFC 8442 registers 0xD0,0x01-03 and 0xD0,0x05. None of these is in OpenSSL 3.0.
SUPPLEMENT = [
    (0x00C6, "TLS_SM4_GCM_SM3", "RFC 8998"),
    (0x00C7, "TLS_SM4_CCM_SM3", "RFC 8998"),
    (0xC0B0, "TLS_ECCPWD_WITH_AES_128_GCM_SHA256", "RFC 8492"),
    (0xC0B1, "TLS_ECCPWD_WITH_AES_256_GCM_SHA384", "RFC 8492"),
    (0xC0B2, "TLS_ECCPWD_WITH_AES_128_CCM_SHA256", "RFC 8492"),
    (0xC0B3, "TLS_ECCPWD_WITH_AES_256_CCM_SHA384", "RFC 8492"),
    (0xC0B4, "TLS_SHA256_SHA256", "RFC 9150"),
    (0xC0B5, "TLS_SHA384_SHA384", "RFC 9150"),
    (0xC100, "TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC", "RFC 9189"),
    (0xC101, "TLS_GOSTR341112_256_WITH_MAGMA_CTR_OMAC", "RFC 9189"),
    (0xC102, "TLS_GOSTR341112_256_WITH_28147_CNT_IMIT", "RFC 9189"),
    (0xC103, "TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_L", "RFC 9367"),
    (0xC104, "TLS_GOSTR341112_256_WITH_MAGMA_MGM_L", "RFC 9367"),
    (0xC105, "TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_S", "RFC 9367"),
    (0xC106, "TLS_GOSTR341112_256_WITH_MAGMA_MGM_S", "RFC 9367"),
    (0xD001, "TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256", "RFC 8442"),
    (0xD002, "TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384", "RFC 8442"),
    (0xD003, "TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256", "RFC 8442"),
    (0xD005, "TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256", "RFC 8442"),
]


def not_iana(code):
    for lo, hi, why in NOT_IANA:
        if lo <= code <= hi:
            return why
    return None


def read_testssl(path):
    rows = {}
    for line in open(path, encoding="utf-8"):
        f = line.split()
        if len(f) < 4:
            continue
        cp = f[0].split(",")
        if len(cp) != 2:  # three-byte SSLv2 codes
            continue
        rows[int(cp[0], 16) << 8 | int(cp[1], 16)] = f[3]
    return rows


def read_xnet(path):
    rows = {}
    for line in open(path, encoding="utf-8"):
        m = re.match(r"\s*cipher_(TLS_\w+)\s+uint16 = 0x([0-9A-Fa-f]{4})\b", line)
        if m:
            rows[int(m.group(2), 16)] = m.group(1)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--testssl", required=True)
    ap.add_argument("--xnet", required=True)
    a = ap.parse_args()
    ts, xn = read_testssl(a.testssl), read_xnet(a.xnet)
    table = dict(xn)
    for code, name in ts.items():
        if code in xn:
            if xn[code] != name:
                sys.exit("0x%04X: testssl.sh says %s, x/net says %s" % (code, name, xn[code]))
        elif not_iana(code) is None:
            if code not in ONLY_TESTSSL_OK:
                sys.exit("0x%04X %s: only in testssl.sh and not known to be IANA's" % (code, name))
            table[code] = name
    for code, name, _ in SUPPLEMENT:
        if code in table or not_iana(code) is not None:
            sys.exit("0x%04X %s: supplement row already in a copy or not IANA's" % (code, name))
        table[code] = name
    names = set()
    for code, name in table.items():
        if not re.fullmatch(r"TLS_[A-Za-z0-9_]+", name) or name in names:
            sys.exit("0x%04X: bad or duplicate name %s" % (code, name))
        names.add(name)
    out = sys.stdout
    out.write("/* SPDX-License-Identifier: ISC */\n")
    out.write("/* Generated by scripts/iana_suites.py: do not edit. The IANA TLS Cipher Suites\n")
    out.write(" * registry (tls-parameters-4), %d assigned rows, { code point, name }, by code point.\n" % len(table))
    out.write(" * Derived from Debian 12's testssl.sh 3.0.8+dfsg-1 cipher-mapping.txt (2022-09-28)\n")
    out.write(" * and golang-golang-x-net-dev 1:0.7.0+dfsg-1 http2/ciphers.go (IANA's\n")
    out.write(" * tls-parameters.txt as of 2017), which agree on every code point both carry: no\n")
    out.write(" * IANA-published CSV is reachable from the build machines. Rows neither copy has are\n")
    out.write(" * added from the RFCs that registered them (SUPPLEMENT in the script):\n")
    out.write(" * %s. OpenSSL 3.0 offers none of those. */\n" % ", ".join(
        sorted({r for _, _, r in SUPPLEMENT})))
    for code in sorted(table):
        out.write('{0x%04X, "%s"},\n' % (code, table[code]))


if __name__ == "__main__":
    main()
