#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""An independent reader of telgate's trust lists and signed files (issue 17).

Written from docs/trust-list.md (the format as the usecallmanagernz certutils tools
build it), not from telgate's C code: it walks the TLVs, checks each record against the
certificate it carries (serial, public key, signature, as `cryptography` reads them), finds
the SAST signer and checks the RSA PKCS#1 v1.5 signature over the file without its
signature TLV.

  trustlist_parse.py --generate PATH/TO/tl_gen     run tl_gen into a temporary directory
                                                   and check what it wrote
  trustlist_parse.py FILE.tlv [FILE.sgn CERT.pem]  print a list (and check a .sgn)
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

ROLES = {0: "SAST", 1: "CCM", 2: "CCM+TFTP", 3: "TFTP", 4: "CAPF", 7: "APP-SERVER", 21: "TVS"}
DIGESTS = {1: hashes.SHA1, 2: hashes.SHA256, 3: hashes.SHA512}
CONTAINERS = (3, 7, 9)  # signer info, signature info, signature algorithm info
PADDING = 13


class Bad(Exception):
    pass


def text(v):
    if not v or v[-1] != 0 or 0 in v[:-1]:
        raise Bad("text field without its single final NUL")
    return v[:-1].decode("utf-8")


def read_header(data):
    """The header as a dict; 'sig_at' is where the signature TLV starts."""
    if len(data) < 10:
        raise Bad("shorter than the fixed header")
    tag, n, major, minor = struct.unpack_from(">BHBB", data, 0)
    if tag != 1 or n != 2:
        raise Bad("the file does not open with the version TLV")
    tag, n, hlen = struct.unpack_from(">BHH", data, 5)
    if tag != 2 or n != 2:
        raise Bad("the version is not followed by the header length")
    if hlen > len(data):
        raise Bad("header length beyond the file")
    h = {"version": (major, minor), "length": hlen}
    at = 10
    while at < hlen:
        tag = data[at]
        if tag == PADDING:
            at += 1
            continue
        if at + 3 > hlen:
            raise Bad("TLV head beyond the header")
        (n,) = struct.unpack_from(">H", data, at + 1)
        if tag in CONTAINERS:
            if at + 3 + n > hlen:
                raise Bad("container beyond the header")
            at += 3
            continue
        v = data[at + 3:at + 3 + n]
        if len(v) != n or at + 3 + n > hlen:
            raise Bad("value beyond the header")
        key = {4: "signer", 5: "serial", 6: "issuer", 8: "hash", 10: "sigalg", 11: "modulus",
               12: "signature", 14: "filename", 15: "timestamp", 28: "signer_version"}.get(tag)
        if key is None:
            raise Bad(f"unknown header tag {tag}")
        if key in h:
            raise Bad(f"header field {key} twice")
        if key in ("signer", "issuer", "filename"):
            h[key] = text(v)
        elif key in ("hash", "sigalg", "modulus"):
            h[key] = v[0]
        elif key == "timestamp":
            (h[key],) = struct.unpack(">I", v)
        elif key == "signature":
            h[key] = bytes(v)
            h["sig_at"] = at
        else:
            h[key] = bytes(v)
        at += 3 + n
    for need in ("serial", "hash", "signature"):
        if need not in h:
            raise Bad(f"header without {need}")
    return h


def read_records(data, start):
    records = []
    at = start
    while at < len(data):
        tag, n, rlen = struct.unpack_from(">BHH", data, at)
        if tag != 1 or n != 2 or rlen < 5 or at + rlen > len(data):
            raise Bad(f"bad record length TLV at {at:#x}")
        rec = {}
        p, end = at + 5, at + rlen
        while p < end:
            tag, n = struct.unpack_from(">BH", data, p)
            v = data[p + 3:p + 3 + n]
            if p + 3 + n > end:
                raise Bad("record field beyond its record")
            name = {2: "dns", 3: "subject", 4: "role", 5: "issuer", 6: "serial", 7: "public_key",
                    8: "signature", 9: "certificate"}.get(tag)
            if name in ("dns", "subject", "issuer"):
                rec[name] = text(v)
            elif name == "role":
                (rec[name],) = struct.unpack(">H", v)
            elif name:
                rec[name] = bytes(v)
            p += 3 + n
        records.append(rec)
        at = end
    return records


def signed_bytes(data, h):
    """The file without its signature TLV: what the signature covers."""
    s = h["sig_at"]
    return data[:s] + data[s + 3 + len(h["signature"]):]


def verify(data, h, cert):
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Bad("signer key is not RSA")
    key.verify(h["signature"], signed_bytes(data, h), padding.PKCS1v15(), DIGESTS[h["hash"]]())


def serial_bytes(cert):
    s = cert.serial_number
    return s.to_bytes(max(1, (s.bit_length() + 7) // 8), "big")


def check_record(rec):
    """A record's fields say what its certificate says."""
    cert = x509.load_der_x509_certificate(rec["certificate"])
    if rec["serial"] != serial_bytes(cert):
        raise Bad("record serial differs from its certificate's")
    if rec["signature"] != cert.signature:
        raise Bad("record signature differs from its certificate's")
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        want = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        want = key.public_bytes(serialization.Encoding.X962,
                                serialization.PublicFormat.UncompressedPoint)
    else:
        raise Bad("unexpected key type")
    if rec["public_key"] != want:
        raise Bad("record public key differs from its certificate's")
    # Names: the same attributes, in certificate order, as the text says.
    for field, name in (("subject", cert.subject), ("issuer", cert.issuer)):
        for attr in name:
            if f"{attr.rfc4514_attribute_name}={attr.value}" not in rec[field]:
                raise Bad(f"record {field} {rec[field]!r} lacks {attr.rfc4514_string()}")
    return cert


def read_list(data):
    h = read_header(data)
    records = read_records(data, h["length"])
    certs = [check_record(r) for r in records]
    signer = None
    for r, c in zip(records, certs):
        if r.get("role") == 0 and r["serial"] == h["serial"] and r["issuer"] == h.get("issuer"):
            signer = c
    if signer is None:
        raise Bad("no SAST record for the header's signer")
    verify(data, h, signer)
    return h, records, certs, signer


def pem(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def expect(cond, what):
    if not cond:
        raise Bad(what)
    print("ok:", what)


def check_generated(tl_gen):
    with tempfile.TemporaryDirectory(prefix="tgtl") as d:
        subprocess.run([tl_gen, d], check=True)
        files = {n: open(os.path.join(d, n), "rb").read() for n in os.listdir(d)}
        signer, recovery = pem(os.path.join(d, "signer.pem")), pem(os.path.join(d, "recovery.pem"))
        ca, server = pem(os.path.join(d, "ca.pem")), pem(os.path.join(d, "server.pem"))

        itl = files["ITLFile.tlv"]
        h, records, certs, by = read_list(itl)
        expect(h["version"] == (1, 2), "format version 1.2")
        expect(h["length"] % 4 == 0 and h["sig_at"] + 3 + 384 < h["length"],
               "header length counts the signature and is padded to 4")
        expect(h["hash"] == 3 and len(h["signature"]) == 384, "SHA-512, RSA-3072 signature")
        expect(h["filename"] == "ITLFile.tlv" and h["timestamp"] == 1000,
               "file name and sequence (timestamp) 1000")
        expect(by == signer, "signed by the trust-list signer, found as a SAST record")
        roles = [(ROLES[r["role"]], c) for r, c in zip(records, certs)]
        expect(roles == [("SAST", signer), ("TFTP", signer), ("SAST", recovery), ("CAPF", ca),
                         ("CCM", server)], "records: signer SAST+TFTP, recovery SAST, CA CAPF, server CCM")
        expect(records[4].get("dns") == "node1.example.net", "DNS name of the server record")

        # One byte of the CA record's certificate changed: the signature no longer verifies.
        at = itl.index(ca.public_bytes(serialization.Encoding.DER)) + 30
        bad = bytearray(itl)
        bad[at] ^= 1
        try:
            verify(bytes(bad), read_header(bytes(bad)), signer)
            raise Bad("a tampered list verified")
        except InvalidSignature:
            expect(True, "a tampered list does not verify")

        rec = files["ITLRecovery.tlv"]
        h2, _, _, by2 = read_list(rec)
        expect(by2 == recovery and h2["hash"] == 1 and len(h2["signature"]) == 256,
               "the recovery-signed list verifies with the recovery certificate (SHA-1, 2048)")
        expect(h2["timestamp"] > h["timestamp"], "its sequence is newer")
        held = {c.fingerprint(hashes.SHA256()) for r, c in zip(records, certs) if r["role"] == 0}
        expect(by2.fingerprint(hashes.SHA256()) in held,
               "its signer is a SAST of the list held before (accepted by a client)")

        sgn = files["SEP001122334455.cnf.xml.sgn"]
        hs = read_header(sgn)
        tftp = [c for r, c in zip(records, certs) if r["role"] == 3]
        verify(sgn, hs, tftp[0])
        expect(hs["filename"] == "SEP001122334455.cnf.xml", ".sgn header names the inner file")
        expect(sgn[hs["length"]:] == b"<device><fullConfig>true</fullConfig></device>\n",
               ".sgn body is the file, signature checked with the list's TFTP certificate")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--generate")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    try:
        if a.generate:
            return check_generated(a.generate)
        data = open(a.files[0], "rb").read()
        h, records, certs, by = read_list(data)
        print(f"version {h['version']}, sequence {h['timestamp']}, file {h.get('filename')}, "
              f"signed by {by.subject.rfc4514_string()}: signature ok")
        for r in records:
            print(f"  {ROLES.get(r['role'], r['role']):10} {r['subject']}")
        if len(a.files) == 3:
            sgn = open(a.files[1], "rb").read()
            verify(sgn, read_header(sgn), pem(a.files[2]))
            print(f"{a.files[1]}: signature ok")
        return 0
    except (Bad, InvalidSignature, struct.error, ValueError) as e:
        print("FAIL:", type(e).__name__, e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
