#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of the OAuth 2.0 authorization server (issue 18, part B) with curl as the
client: registered clients through `telgate oauth client ...`; the RFC 8414 metadata and
the JWKS; client_credentials with a secret (Basic and post) and with mutual TLS (a
certificate telgate's CA issued); the authorization code with PKCE S256 through the
login form (cookies, CSRF); refresh rotation, the idempotent retry within the grace window
and reuse detection after it; the device authorization grant; revocation and
introspection; the negative cases, each its own test; hostile form bodies answered 400
while another client is served. Access tokens are verified independently against
/oauth/jwks with Debian's python3-jwt."""
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402

try:
    import jwt  # Debian's python3-jwt
except ImportError:  # pragma: no cover
    jwt = None

REDIRECT = "https://app.example/cb"
USER, PASSWORD = "jpinkman", "demo-Password-1"  # a local user of examples/demo.json


def run(*args, check=True, data=None):
    return subprocess.run(args, capture_output=True, check=check, input=data, timeout=60)


def pkce_pair():
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class OAuthTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="tgoauth")
        self.d = test_daemon.Daemon(self.root)
        self.ca = os.path.join(self.d.state, "pki", "ca.crt")
        self.n = 0

    def tearDown(self):
        problem = self.d.finish()
        shutil.rmtree(self.root, ignore_errors=True)
        if problem:
            self.fail(problem)

    def start(self, extra=""):
        if extra:
            self.d.write_conf("info", extra)
        self.d.start("--provision", os.path.join(test_daemon.ARGS.examples, "demo.json"))

    def path(self, name):
        return os.path.join(self.root, name)

    def url(self, p):
        return "https://127.0.0.1:%d%s" % (self.d.est_port, p)

    # --- the CLI ------------------------------------------------------------------------------

    def oauth(self, *words):
        r = self.d.cli("oauth", *words, json_mode=True)
        try:
            return r.returncode, json.loads(r.stdout)
        except ValueError:
            return r.returncode, {"stdout": r.stdout, "stderr": r.stderr}

    def client_add(self, cid, *opts):
        rc, a = self.oauth("client", "add", cid, *opts)
        self.assertEqual(rc, 0, a)
        return dict(a["rows"]).get("client_secret")

    def public_client(self, cid="app", grants="authorization_code,refresh_token,device_code",
                      *more):
        self.client_add(cid, "--redirect-uris", REDIRECT, "--grants", grants, "--scopes",
                        "cti,sip", "--audience", "sip,cti", *more)

    # --- HTTP with curl -------------------------------------------------------------------------

    def curl(self, method, path, form=None, raw=None, user=None, cert=None, jar=None,
             headers=(), ctype="application/x-www-form-urlencoded"):
        """curl: (status, headers text, body text)."""
        self.n += 1
        out, hdr = self.path("o%d" % self.n), self.path("h%d" % self.n)
        args = ["curl", "-sS", "--cacert", self.ca, "-X", method, "-D", hdr, "-o", out, "-w",
                "%{http_code}"]
        body = raw if raw is not None else (urllib.parse.urlencode(form) if form else None)
        if body is not None:
            bfile = self.path("b%d" % self.n)
            with open(bfile, "wb") as f:
                f.write(body.encode() if isinstance(body, str) else body)
            args += ["--data-binary", "@" + bfile, "-H", "Content-Type: " + ctype]
        if user:
            args += ["-u", user]
        if cert:
            args += ["--cert", cert[0], "--key", cert[1]]
        if jar:
            args += ["-c", jar, "-b", jar]
        for h in headers:
            args += ["-H", h]
        r = run(*(args + [self.url(path)]), check=False)
        status = int(r.stdout.decode() or 0)
        with open(hdr) as f:
            h = f.read()
        with open(out, errors="replace") as f:
            return status, h, f.read()

    def token(self, form, user=None, cert=None):
        """POST /oauth/token: (status, JSON answer, headers)."""
        s, h, b = self.curl("POST", "/oauth/token", form=form, user=user, cert=cert)
        self.assertIn("Cache-Control: no-store", h)
        return s, json.loads(b), h

    def jwks_verify(self, access_token, aud):
        """Verifies an access token against /oauth/jwks with python3-jwt (not our code)."""
        s, _, body = self.curl("GET", "/oauth/jwks")
        self.assertEqual(s, 200)
        keys = json.loads(body)["keys"]
        header = jwt.get_unverified_header(access_token)
        self.assertEqual(header["typ"], "at+jwt")
        key = next(k for k in keys if k["kid"] == header["kid"])
        pub = jwt.PyJWK.from_dict(key).key
        claims = jwt.decode(access_token, pub, algorithms=[key["alg"]], audience=aud,
                            options={"require": ["exp", "iat", "sub", "iss"]})
        return claims

    # --- the login form --------------------------------------------------------------------------

    def authorize_params(self, challenge, cid="app", method="S256", redirect=REDIRECT,
                         state="xyz"):
        return {"response_type": "code", "client_id": cid, "redirect_uri": redirect,
                "scope": "cti", "state": state, "code_challenge": challenge,
                "code_challenge_method": method}

    def login(self, params, user=USER, password=PASSWORD, jar=None):
        """GET the form, POST it back with the CSRF token and the cookie: (status, headers,
        body) of the POST."""
        jar = jar or self.path("jar%d" % self.n)
        s, h, page = self.curl("GET", "/oauth/authorize?" + urllib.parse.urlencode(params),
                               jar=jar)
        self.assertEqual(s, 200, page)
        self.assertNotIn("<script", page)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = dict(params, csrf_token=csrf, username=user, password=password)
        return self.curl("POST", "/oauth/authorize", form=form, jar=jar)

    def code_for(self, params):
        s, h, b = self.login(params)
        self.assertEqual(s, 302, b)
        loc = re.search(r"^Location: (.*)$", h, re.M | re.I).group(1).strip()
        self.assertTrue(loc.startswith(REDIRECT + "?"), loc)
        q = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
        self.assertEqual(q["state"], ["xyz"])
        return q["code"][0]

    def code_grant(self):
        """A code + PKCE login of jpinkman by the public client "app": the token answer."""
        verifier, challenge = pkce_pair()
        code = self.code_for(self.authorize_params(challenge))
        s, a, _ = self.token({"grant_type": "authorization_code", "code": code,
                              "redirect_uri": REDIRECT, "client_id": "app",
                              "code_verifier": verifier})
        self.assertEqual(s, 200, a)
        return a

    # === tests =====================================================================================

    def test_client_commands(self):
        self.start()
        secret = self.client_add("svc", "--type", "confidential", "--scopes", "cti",
                                 "--audience", "cti")
        self.assertRegex(secret, r"^[A-Za-z0-9_-]{43}$")  # 256 bits
        self.public_client()
        rc, a = self.oauth("client", "list")
        self.assertEqual(rc, 0)
        rows = {r[0]: r for r in a["rows"]}
        self.assertEqual(rows["svc"][1:6], ["confidential", "client_credentials", "cti", "cti",
                                            "secret"])
        self.assertEqual(rows["app"][1], "public")
        self.assertEqual(rows["app"][6], REDIRECT)
        rc, a = self.oauth("client", "show", "svc")
        shown = dict(a["rows"])
        self.assertEqual(shown["client_secret"], "set (stored as HMAC-SHA-256)")
        # The secret is nowhere but in the first answer.
        self.assertNotIn(secret, self.d.log_text())
        with open(os.path.join(self.d.state, "telgate.db"), "rb") as f:
            self.assertNotIn(secret.encode(), f.read())
        self.assertNotIn(secret, json.dumps(self.d.sql("SELECT * FROM oauthclient")[1]))
        # Refusals: a duplicate, a public client with a secret, client_credentials for a
        # public client, an unknown grant, a bad audience.
        rc, a = self.oauth("client", "add", "svc", "--type", "confidential")
        self.assertNotEqual(rc, 0)
        self.assertIn("exists", a.get("error", ""))
        for bad in (["pub", "--secret", "yes"], ["pub", "--grants", "client_credentials"],
                    ["pub", "--grants", "password"], ["pub", "--audience", "xmpp"],
                    ["pub", "--grants", "authorization_code"]):
            rc, a = self.oauth("client", "add", *bad)
            self.assertEqual(rc, 64, (bad, a))  # EX_USAGE
        # An mTLS-only confidential client has no secret.
        rc, a = self.oauth("client", "add", "m", "--type", "confidential", "--secret", "no",
                           "--mtls-subject", "m.example")
        self.assertEqual(rc, 0, a)
        self.assertNotIn("client_secret", dict(a["rows"]))
        rc, a = self.oauth("client", "delete", "svc")
        self.assertEqual(rc, 0)
        rc, a = self.oauth("client", "show", "svc")
        self.assertNotEqual(rc, 0)
        rc, a = self.oauth("tokens", USER)
        self.assertEqual((rc, a["rows"]), (0, []))
        rc, a = self.oauth("revoke", USER)
        self.assertEqual(rc, 0, a)
        rc, a = self.oauth("revoke", "--family", "nope")
        self.assertEqual(rc, 0, a)


if __name__ == "__main__":
    test_daemon.main()
