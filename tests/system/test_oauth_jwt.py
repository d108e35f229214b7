#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Independent check of the access tokens (issue 18): tokens the daemon mints (through its
signer, with `telgate oauth issue`) are verified by Debian's python3-jwt (PyJWT) against the
JWKS `telgate oauth keys list --json` prints — what /oauth/jwks serves — without any of
telgate's code, for each algorithm (ES256, RS256, EdDSA). The kid is checked against an RFC
7638 thumbprint computed here, and key rotation is seen from the outside: both keys
published, the new one signing after the grace, the old token still verifying."""
import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile
import unittest

import jwt  # python3-jwt (Debian), not telgate

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402

ISSUER = "https://telgate.test:8443"


def b64json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def thumbprint(jwk):
    """RFC 7638 §3: SHA-256 of the required members, sorted, no whitespace."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"),
                "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canon = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canon.encode()).digest()).decode().rstrip("=")


class OauthJwtTest(unittest.TestCase):
    def start(self, alg, grace=3600):
        self.root = tempfile.mkdtemp(prefix="tgjwt")
        self.d = test_daemon.Daemon(
            self.root, f"[oauth]\nissuer = {ISSUER}\nalg = {alg}\nkey_grace_s = {grace}\n")
        self.d.start()
        users = {"version": 1, "users": [{"userid": "wwhite", "directory": "local",
                                          "password": "Heisenberg-1",
                                          "groups": ["Standard CTI Enabled"]}]}
        prov = os.path.join(self.root, "users.json")
        with open(prov, "w") as f:
            json.dump(users, f)
        r = self.d.cli("import", prov)
        self.assertEqual(r.returncode, 0, r.stderr)

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def issue(self, aud="cti"):
        r = self.d.cli("oauth", "issue", "wwhite", "--aud", aud, "--client", "jwt-check",
                       "--scope", "cti")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def jwks(self):
        r = self.d.cli("oauth", "keys", "list", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def verify(self, token, jwks, alg, aud="cti"):
        """PyJWT's verification with the key the header's kid names in the JWKS."""
        kid = jwt.get_unverified_header(token)["kid"]
        jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
        key = jwt.PyJWK(jwk).key
        return jwt.decode(token, key, algorithms=[alg], audience=aud, issuer=ISSUER,
                          options={"require": ["exp", "iat", "iss", "sub", "aud", "jti"]})

    def check_alg(self, alg, kty):
        self.start(alg)
        token = self.issue()
        jwks = self.jwks()
        self.assertEqual(len(jwks["keys"]), 1)
        jwk = jwks["keys"][0]
        self.assertEqual((jwk["kty"], jwk["alg"], jwk["use"]), (kty, alg, "sig"))
        self.assertEqual(jwk["kid"], thumbprint(jwk))
        header = jwt.get_unverified_header(token)
        self.assertEqual(header, {"alg": alg, "typ": "at+jwt", "kid": jwk["kid"]})
        claims = self.verify(token, jwks, alg)
        self.assertEqual(claims["sub"], "wwhite")
        self.assertEqual(claims["aud"], "cti")
        self.assertEqual(claims["client_id"], "jwt-check")
        self.assertEqual(claims["exp"] - claims["iat"], 3600)  # the default lifetime
        self.assertRegex(claims["jti"], r"^[A-Za-z0-9_-]{22}$")
        # The same token altered by one bit fails PyJWT's verification too.
        h, p, s = token.split(".")
        body = b64json(p)
        body["sub"] = "jpinkman"
        forged = h + "." + base64.urlsafe_b64encode(
            json.dumps(body).encode()).decode().rstrip("=") + "." + s
        with self.assertRaises(jwt.InvalidSignatureError):
            self.verify(forged, jwks, alg)
        # Both audiences: an array.
        both = self.verify(self.issue("cti,sip"), jwks, alg, aud="sip")
        self.assertEqual(both["aud"], ["sip", "cti"])

    def test_es256(self):
        self.check_alg("ES256", "EC")

    def test_rs256(self):
        self.check_alg("RS256", "RSA")

    def test_eddsa(self):
        self.check_alg("EdDSA", "OKP")

    def test_rotation_seen_from_outside(self):
        self.start("ES256", grace=0)
        old = self.issue()
        r = self.d.cli("oauth", "keys", "rotate")
        self.assertEqual(r.returncode, 0, r.stderr)
        jwks = self.jwks()
        self.assertEqual(len(jwks["keys"]), 2)
        new = self.issue()
        self.assertNotEqual(jwt.get_unverified_header(old)["kid"],
                            jwt.get_unverified_header(new)["kid"])
        # The old token still verifies against the published set; so does the new one.
        self.assertEqual(self.verify(old, jwks, "ES256")["sub"], "wwhite")
        self.assertEqual(self.verify(new, jwks, "ES256")["sub"], "wwhite")
        rows = self.d.cli("oauth", "keys", "list", json_mode=True)
        states = sorted(row[2] for row in json.loads(rows.stdout)["rows"])
        self.assertEqual(states, ["active", "retiring"])


if __name__ == "__main__":
    test_daemon.main()
