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

    def metric(self, sample):
        """One sample of the admin listener's /metrics (name{labels} as printed)."""
        r = run("curl", "-sS", "http://127.0.0.1:%d/metrics" % self.d.admin_port)
        for line in r.stdout.decode().splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[-1])
        self.fail("no sample " + sample)

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
        self.assertNotIn(secret.encode(), self.d.store_bytes())
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

    def test_metadata_and_jwks(self):
        self.start()
        s, h, b = self.curl("GET", "/.well-known/oauth-authorization-server")
        self.assertEqual(s, 200)
        m = json.loads(b)
        base = m["issuer"]  # [oauth] issuer: https://<core.node_address>:<est port>
        self.assertRegex(base, r"^https://[^/]+:%d$" % self.d.est_port)
        self.assertEqual(m["token_endpoint"], base + "/oauth/token")
        self.assertEqual(m["jwks_uri"], base + "/oauth/jwks")
        self.assertEqual(m["code_challenge_methods_supported"], ["S256"])
        self.assertIn("urn:ietf:params:oauth:grant-type:device_code", m["grant_types_supported"])
        self.assertNotIn("password", m["grant_types_supported"])
        # A token first: a node whose signer was not ready at start makes its first key at
        # the first issue (authz.h), and the key set is empty until then.
        secret = self.client_add("svc", "--type", "confidential")
        s, a, _ = self.token({"grant_type": "client_credentials"}, user="svc:" + secret)
        self.assertEqual(s, 200, a)
        s, h, b = self.curl("GET", "/oauth/jwks")
        self.assertEqual(s, 200)
        keys = json.loads(b)["keys"]
        self.assertTrue(keys)
        self.assertTrue(all("d" not in k for k in keys))  # public halves only
        # EST still answers on the shared listener.
        s, _, _ = self.curl("GET", "/.well-known/est/cacerts")
        self.assertEqual(s, 200)

    def test_client_credentials_secret(self):
        self.start()
        secret = self.client_add("svc", "--type", "confidential", "--scopes", "cti,sip",
                                 "--audience", "cti")
        # client_secret_basic
        s, a, _ = self.token({"grant_type": "client_credentials", "scope": "cti"},
                             user="svc:" + secret)
        self.assertEqual(s, 200, a)
        self.assertEqual(a["token_type"], "Bearer")
        self.assertEqual(a["expires_in"], 3600)
        self.assertNotIn("refresh_token", a)  # RFC 6749 §4.4.3
        claims = self.jwks_verify(a["access_token"], "cti")
        self.assertEqual((claims["sub"], claims["client_id"], claims["scope"]),
                         ("svc", "svc", "cti"))
        self.assertEqual(claims["iss"], json.loads(
            self.curl("GET", "/.well-known/oauth-authorization-server")[2])["issuer"])
        # client_secret_post
        s, a, _ = self.token({"grant_type": "client_credentials", "client_id": "svc",
                              "client_secret": secret})
        self.assertEqual(s, 200, a)
        self.assertEqual(a["scope"], "cti sip")
        # A wrong secret: 401 invalid_client with a Basic challenge.
        s, a, h = self.token({"grant_type": "client_credentials"}, user="svc:" + "x" * 43)
        self.assertEqual((s, a["error"]), (401, "invalid_client"))
        self.assertIn('WWW-Authenticate: Basic realm="telgate-oauth"', h)
        # Both methods at once: invalid_request (RFC 6749 §2.3).
        s, a, _ = self.token({"grant_type": "client_credentials", "client_secret": secret},
                             user="svc:" + secret)
        self.assertEqual((s, a["error"]), (400, "invalid_request"))
        # A scope the client does not have; an unknown grant type; an unknown client.
        s, a, _ = self.token({"grant_type": "client_credentials", "scope": "admin"},
                             user="svc:" + secret)
        self.assertEqual((s, a["error"]), (400, "invalid_scope"))
        self.assertIn("registered scopes", a["error_description"])
        s, a, _ = self.token({"grant_type": "password", "username": USER,
                              "password": PASSWORD}, user="svc:" + secret)
        self.assertEqual((s, a["error"]), (400, "unsupported_grant_type"))
        self.assertIn("client_credentials", a["error_description"])
        s, a, _ = self.token({"grant_type": "client_credentials"}, user="nobody:" + secret)
        self.assertEqual((s, a["error"]), (401, "invalid_client"))

    def test_client_add_refusals(self):
        """What a client registration may not be: a user's name (its tokens' sub would pass
        for the user's), a lifetime beyond what its key outlives, a redirect URI in clear
        beyond loopback or with a wildcard; and a second client of a name says it exists."""
        self.start()
        for args, why in (
                (["mjavier", "--type", "confidential"], "is an end user's userid"),
                (["k1", "--type", "confidential", "--access-lifetime", "30d"],
                 "--access-lifetime: 1m to"),
                (["k2", "--type", "confidential", "--access-lifetime", "10s"],
                 "--access-lifetime: 1m to"),
                (["p1", "--redirect-uris", "http://evil.example/cb"], "is not one of its values"),
                (["p2", "--redirect-uris", "https://x.example/*"], "is not one of its values")):
            r = self.d.cli("oauth", "client", "add", *args)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn(why, r.stderr, args)
        self.client_add("p3", "--redirect-uris", "http://127.0.0.1:8400/cb")
        r = self.d.cli("oauth", "client", "add", "p3")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("client 'p3' exists", r.stderr)

    def enrolled_cert(self, cn):
        """A client certificate from telgate's CA for user cn (EST with a CAPF string, as
        tests/system/test_enrol.py and test_est.py get one): (cert, key) paths."""
        r = self.d.cli("capf", "add", cn, "--instance-id", "oauth-" + cn, json_mode=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        string = dict(json.loads(r.stdout)["rows"])["auth_string"]
        key, der, b64 = self.path(cn + ".key"), self.path(cn + ".der"), self.path(cn + ".b64")
        run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-subj", "/CN=" + cn, "-outform", "DER", "-out", der)
        run("openssl", "base64", "-in", der, "-out", b64)
        out = self.path(cn + ".p7")
        r = run("curl", "-sS", "--cacert", self.ca, "--data-binary", "@" + b64, "-H",
                "Content-Type: application/pkcs10", "-u", "oauth-%s:%s" % (cn, string), "-o",
                out, "-w", "%{http_code}", self.url("/.well-known/est/simpleenroll"))
        self.assertEqual(r.stdout.decode(), "200")
        p7 = run("openssl", "base64", "-d", "-A", "-in", out).stdout
        pem = run("openssl", "pkcs7", "-inform", "DER", "-print_certs", data=p7).stdout
        cert = self.path(cn + ".pem")
        with open(cert, "wb") as f:
            f.write(pem)
        return cert, key

    def test_client_credentials_mtls(self):
        self.start()
        self.client_add("mjavier-app", "--type", "confidential", "--secret", "no",
                        "--mtls-subject", "mjavier", "--audience", "cti")
        cert = self.enrolled_cert("mjavier")
        s, a, _ = self.token({"grant_type": "client_credentials", "client_id": "mjavier-app"},
                             cert=cert)
        self.assertEqual(s, 200, a)
        self.assertEqual(self.jwks_verify(a["access_token"], "cti")["client_id"], "mjavier-app")
        # Without the certificate, or with another subject's: invalid_client.
        s, a, _ = self.token({"grant_type": "client_credentials", "client_id": "mjavier-app"})
        self.assertEqual((s, a["error"]), (401, "invalid_client"))
        self.client_add("other", "--type", "confidential", "--secret", "no", "--mtls-subject",
                        "someone-else")
        s, a, _ = self.token({"grant_type": "client_credentials", "client_id": "other"},
                             cert=cert)
        self.assertEqual((s, a["error"]), (401, "invalid_client"))
        # Revoked (telgate cert revoke): the chain still verifies, the certificate no longer
        # authenticates the client.
        serial = run("openssl", "x509", "-in", cert[0], "-noout", "-serial").stdout.decode()
        serial = serial.strip().split("=", 1)[1]
        r = self.d.cli("cert", "revoke", serial, "keyCompromise")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        s, a, _ = self.token({"grant_type": "client_credentials", "client_id": "mjavier-app"},
                             cert=cert)
        self.assertEqual((s, a["error"]), (401, "invalid_client"))
        self.assertIn("the client certificate is revoked", self.d.log_text())

    # --- authorization code + PKCE, refresh, device, revoke, introspect -----------------------

    def introspect(self, token, user):
        s, h, b = self.curl("POST", "/oauth/introspect", form={"token": token}, user=user)
        self.assertIn("Cache-Control: no-store", h)
        return s, json.loads(b)

    def test_code_pkce_flow(self):
        self.start()
        self.public_client()
        rs = self.client_add("rs", "--type", "confidential")
        a = self.code_grant()
        self.assertIn("refresh_token", a)
        claims = self.jwks_verify(a["access_token"], "cti")
        self.assertEqual((claims["sub"], claims["client_id"], claims["scope"]),
                         (USER, "app", "cti"))
        self.assertEqual(sorted(claims["aud"]), ["cti", "sip"])
        self.assertLessEqual(claims["auth_time"], claims["iat"])
        s, i = self.introspect(a["access_token"], "rs:" + rs)
        self.assertEqual(s, 200)
        self.assertEqual((i["active"], i["sub"], i["client_id"]), (True, USER, "app"))
        s, i = self.introspect(a["refresh_token"], "rs:" + rs)
        self.assertEqual((i["active"], i["token_type"]), (True, "refresh_token"))
        self.assertIn("event=oauth_login", self.d.log_text())
        self.assertNotIn(a["refresh_token"], self.d.log_text())

    def refresh(self, token, cid="app"):
        return self.token({"grant_type": "refresh_token", "refresh_token": token,
                           "client_id": cid})

    def test_refresh_rotation_and_retry_within_grace(self):
        self.start()
        self.public_client()
        r1 = self.code_grant()["refresh_token"]
        s, a2, _ = self.refresh(r1)
        self.assertEqual(s, 200, a2)
        r2 = a2["refresh_token"]
        self.assertNotEqual(r1, r2)
        self.jwks_verify(a2["access_token"], "sip")
        # A retry with the same used token (the answer was lost): the same successor.
        s, again, _ = self.refresh(r1)
        self.assertEqual(s, 200, again)
        self.assertEqual(again["refresh_token"], r2)
        self.assertIn("event=oauth_refresh_retry", self.d.log_text())
        s, a3, _ = self.refresh(r2)
        self.assertEqual(s, 200, a3)
        self.assertEqual(self.metric('telgate_oauth_refreshes_total{outcome="rotated"}'), 2)
        self.assertEqual(self.metric('telgate_oauth_refreshes_total{outcome="retry"}'), 1)
        rc, t = self.oauth("tokens", USER)
        self.assertEqual(len(t["rows"]), 1)
        self.assertEqual(t["rows"][0][1], "app")
        self.assertEqual(t["rows"][0][7], "2")  # rotations
        # Bound to its client.
        self.client_add("app2", "--redirect-uris", REDIRECT)
        s, a, _ = self.refresh(a3["refresh_token"], cid="app2")
        self.assertEqual((s, a["error"]), (400, "invalid_grant"))

    def test_refresh_reuse_after_grace_revokes_family(self):
        self.start("[oauth]\nrefresh_grace_s = 0\n")
        self.public_client()
        r1 = self.code_grant()["refresh_token"]
        s, a2, _ = self.refresh(r1)
        self.assertEqual(s, 200, a2)
        s, a, _ = self.refresh(r1)  # reuse: no grace
        self.assertEqual((s, a["error"]), (400, "invalid_grant"))
        self.assertIn("event=oauth_refresh_reuse", self.d.log_text())
        # The whole family went: the legitimate successor fails too.
        s, a, _ = self.refresh(a2["refresh_token"])
        self.assertEqual((s, a["error"]), (400, "invalid_grant"))
        rc, t = self.oauth("tokens", USER)
        self.assertEqual(t["rows"], [])
        self.assertEqual(self.metric('telgate_oauth_refreshes_total{outcome="reuse"}'), 1)

    def confidential_grant(self):
        """A confidential client "capp" (client_secret_basic) and a code + PKCE login by it:
        (its Basic user for curl, the token answer)."""
        secret = self.client_add("capp", "--type", "confidential", "--redirect-uris", REDIRECT,
                                 "--grants", "authorization_code,refresh_token", "--scopes",
                                 "cti,sip", "--audience", "sip,cti")
        verifier, challenge = pkce_pair()
        code = self.code_for(self.authorize_params(challenge, cid="capp"))
        s, a, _ = self.token({"grant_type": "authorization_code", "code": code,
                              "redirect_uri": REDIRECT, "code_verifier": verifier},
                             user="capp:" + secret)
        self.assertEqual(s, 200, a)
        return "capp:" + secret, a

    def refresh_basic(self, basic, token):
        return self.token({"grant_type": "refresh_token", "refresh_token": token}, user=basic)

    def refresh_paths(self):
        return re.findall(r"event=oauth_token_issued grant_type=refresh_token .*?path=(\w+)",
                          self.d.log_text())

    def refresh_chain(self, basic, token, n=4):
        """n refreshes in a row, each with the last one's token: the last answer. One at
        least must have gone the loop's way (a store write in the background, the start's
        CRL for one, drops the client cache until a worker reads the row again)."""
        before = len(self.refresh_paths())
        for _ in range(n):
            s, a, _ = self.refresh_basic(basic, token)
            self.assertEqual(s, 200, a)
            token = a["refresh_token"]
        self.assertIn("loop", self.refresh_paths()[before:])
        return a

    def test_refresh_on_the_loop(self):
        """A confidential client's refresh whose token row the committer kept goes from the
        loop to the committer (path=loop): the same rotation, grace retry, client and user
        checks as through a worker."""
        self.start()
        basic, a = self.confidential_grant()
        a2 = self.refresh_chain(basic, a["refresh_token"])
        s, a3, _ = self.refresh_basic(basic, a2["refresh_token"])
        self.assertEqual(s, 200, a3)
        self.assertNotEqual(a2["refresh_token"], a3["refresh_token"])
        self.jwks_verify(a3["access_token"], "sip")
        # A retry of the used token within the grace window: the same successor, decided
        # by a worker (the used token is no longer kept).
        s, again, _ = self.refresh_basic(basic, a2["refresh_token"])
        self.assertEqual(s, 200, again)
        self.assertEqual(again["refresh_token"], a3["refresh_token"])
        self.assertEqual(self.refresh_paths()[-1], "worker")
        self.assertEqual(self.metric('telgate_oauth_refreshes_total{outcome="retry"}'), 1)
        # A wrong secret for the cached client is refused, not handed over.
        s, r, _ = self.refresh_basic("capp:" + "x" * 43, a3["refresh_token"])
        self.assertEqual((s, r["error"]), (401, "invalid_client"))
        a4 = self.refresh_chain(basic, a3["refresh_token"])
        # The user's state is checked in the committer's transaction, whichever path the
        # grant took (the lock's store write sends this one through a worker).
        self.assertEqual(self.d.cli("user", "lock", USER, "--credential",
                                    "password").returncode, 0)
        s, r, _ = self.refresh_basic(basic, a4["refresh_token"])
        self.assertEqual((s, r["error"]), (400, "invalid_grant"))
        self.assertIn("event=oauth_user_revoked", self.d.log_text())
        self.assertEqual(self.metric('telgate_oauth_refreshes_total{outcome="rotated"}'), 9)

    def test_refresh_reuse_on_the_loop_revokes_family(self):
        self.start("[oauth]\nrefresh_grace_s = 0\n")
        basic, a = self.confidential_grant()
        a2 = self.refresh_chain(basic, a["refresh_token"])
        s, a3, _ = self.refresh_basic(basic, a2["refresh_token"])
        self.assertEqual(s, 200, a3)
        s, r, _ = self.refresh_basic(basic, a2["refresh_token"])  # reuse: no grace
        self.assertEqual((s, r["error"]), (400, "invalid_grant"))
        self.assertIn("event=oauth_refresh_reuse", self.d.log_text())
        s, r, _ = self.refresh_basic(basic, a3["refresh_token"])
        self.assertEqual((s, r["error"]), (400, "invalid_grant"))
        self.assertEqual(self.metric('telgate_oauth_refreshes_total{outcome="reuse"}'), 1)

    def test_family_revocation_revokes_its_access_tokens(self):
        self.start("[oauth]\nrefresh_grace_s = 0\n")
        self.public_client()
        rs = self.client_add("rs", "--type", "confidential")
        first = self.code_grant()
        s, a2, _ = self.refresh(first["refresh_token"])
        self.assertEqual(s, 200, a2)
        for t in (first["access_token"], a2["access_token"]):
            self.assertTrue(self.introspect(t, "rs:" + rs)[1]["active"])
        # Reuse detected: the family's access tokens go with its refresh tokens.
        s, a, _ = self.refresh(first["refresh_token"])
        self.assertEqual((s, a["error"]), (400, "invalid_grant"))
        for t in (first["access_token"], a2["access_token"]):
            self.assertEqual(self.introspect(t, "rs:" + rs)[1], {"active": False})
        self.assertIn("event=oauth_family_revoked", self.d.log_text())
        self.assertIn("access_tokens=2", self.d.log_text())
        # `oauth revoke --family`: the same for another grant, not for a third one.
        other, third = self.code_grant(), self.code_grant()
        rc, t = self.oauth("tokens", USER)
        fams = [r[0] for r in t["rows"]]
        self.assertEqual(len(fams), 2)
        self.assertEqual(self.d.cli("oauth", "revoke", "--family", fams[0]).returncode, 0)
        states = [self.introspect(x["access_token"], "rs:" + rs)[1]["active"]
                  for x in (other, third)]
        self.assertEqual(sorted(states), [False, True])
        kept = other if states[0] else third
        s, r, _ = self.refresh(kept["refresh_token"])
        self.assertEqual(s, 200, r)

    def approve(self, user_code, user=USER, password=PASSWORD, action="approve"):
        jar = self.path("devjar%d" % self.n)
        s, h, page = self.curl("GET", "/oauth/device?user_code=" + user_code, jar=jar)
        self.assertEqual(s, 200, page)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        return self.curl("POST", "/oauth/device", jar=jar,
                         form={"user_code": user_code.lower(), "csrf_token": csrf,
                               "username": user, "password": password, "action": action})

    def test_device_flow(self):
        self.start()
        self.public_client()
        s, h, b = self.curl("POST", "/oauth/device_authorization",
                            form={"client_id": "app", "scope": "cti"})
        self.assertEqual(s, 200, b)
        d = json.loads(b)
        self.assertRegex(d["user_code"], r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")
        self.assertTrue(d["verification_uri"].endswith(":%d/oauth/device" % self.d.est_port))
        # The user code is a credential for the approval: never in the log.
        self.assertIn("event=oauth_device_authorization", self.d.log_text())
        self.assertNotIn(d["user_code"], self.d.log_text())
        poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "device_code": d["device_code"], "client_id": "app"}
        s, a, _ = self.token(poll)
        self.assertEqual((s, a["error"]), (400, "authorization_pending"))
        s, a, _ = self.token(poll)  # sooner than the interval
        self.assertEqual((s, a["error"]), (400, "slow_down"))
        s, h, page = self.approve(d["user_code"], password="wrong-password")
        self.assertEqual(s, 401)
        s, h, page = self.approve(d["user_code"])
        self.assertEqual(s, 200, page)
        self.assertIn("Device connected", page)
        s, a, _ = self.token(poll)
        self.assertEqual(s, 200, a)
        self.assertEqual(self.jwks_verify(a["access_token"], "cti")["sub"], USER)
        self.assertIn("refresh_token", a)
        s, a, _ = self.token(poll)  # the device code is single use
        self.assertEqual((s, a["error"]), (400, "invalid_grant"))
        # Denied.
        s, h, b = self.curl("POST", "/oauth/device_authorization", form={"client_id": "app"})
        d = json.loads(b)
        s, h, page = self.approve(d["user_code"], action="deny")
        self.assertEqual(s, 200, page)
        s, a, _ = self.token(dict(poll, device_code=d["device_code"]))
        self.assertEqual((s, a["error"]), (400, "access_denied"))

    def test_revoke_and_introspect(self):
        self.start()
        self.public_client()
        rs = self.client_add("rs", "--type", "confidential")
        a = self.code_grant()
        # Introspection without client authentication, or by a public client: 401.
        s, h, b = self.curl("POST", "/oauth/introspect", form={"token": a["access_token"]})
        self.assertEqual(s, 401)
        self.assertEqual(json.loads(b)["error"], "invalid_client")
        s, h, b = self.curl("POST", "/oauth/introspect",
                            form={"token": a["access_token"], "client_id": "app"})
        self.assertEqual(s, 401)
        # Revoke the access token (RFC 7009): introspection says inactive.
        s, h, b = self.curl("POST", "/oauth/revoke",
                            form={"token": a["access_token"], "client_id": "app"})
        self.assertEqual(s, 200, b)
        self.assertEqual(self.introspect(a["access_token"], "rs:" + rs)[1], {"active": False})
        # Revoke the refresh token: the grant is over.
        s, h, b = self.curl("POST", "/oauth/revoke",
                            form={"token": a["refresh_token"], "client_id": "app",
                                  "token_type_hint": "refresh_token"})
        self.assertEqual(s, 200)
        s, r, _ = self.refresh(a["refresh_token"])
        self.assertEqual((s, r["error"]), (400, "invalid_grant"))
        # An unknown token is 200 as well (§2.2).
        s, h, b = self.curl("POST", "/oauth/revoke", form={"token": "nope", "client_id": "app"})
        self.assertEqual(s, 200)
        self.assertEqual(self.introspect("nope", "rs:" + rs)[1], {"active": False})

    # --- negative cases, each its own test -------------------------------------------------------

    def test_redirect_uri_mismatch(self):
        self.start()
        self.public_client()
        _, challenge = pkce_pair()
        params = self.authorize_params(challenge, redirect="https://evil.example/cb")
        s, h, b = self.curl("GET", "/oauth/authorize?" + urllib.parse.urlencode(params))
        self.assertEqual(s, 400)
        self.assertNotIn("Location:", h)  # never a redirect to an unregistered URI
        # Nor a prefix of a registered one.
        params = self.authorize_params(challenge, redirect=REDIRECT + "/x")
        s, h, b = self.curl("GET", "/oauth/authorize?" + urllib.parse.urlencode(params))
        self.assertEqual(s, 400)
        # At the token endpoint: the code's redirect_uri must match exactly.
        verifier, challenge = pkce_pair()
        code = self.code_for(self.authorize_params(challenge))
        s, a, _ = self.token({"grant_type": "authorization_code", "code": code,
                              "redirect_uri": REDIRECT + "?x=1", "client_id": "app",
                              "code_verifier": verifier})
        self.assertEqual((s, a["error"]), (400, "invalid_grant"))

    def test_wrong_pkce_verifier(self):
        self.start()
        self.public_client()
        verifier, challenge = pkce_pair()
        code = self.code_for(self.authorize_params(challenge))
        other, _ = pkce_pair()
        s, a, _ = self.token({"grant_type": "authorization_code", "code": code,
                              "redirect_uri": REDIRECT, "client_id": "app",
                              "code_verifier": other})
        self.assertEqual((s, a["error"]), (400, "invalid_grant"))
        self.assertIn("reason=\"wrong PKCE code_verifier\"", self.d.log_text())

    def test_code_reuse(self):
        self.start()
        self.public_client()
        rs = self.client_add("rs", "--type", "confidential")
        verifier, challenge = pkce_pair()
        code = self.code_for(self.authorize_params(challenge))
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                "client_id": "app", "code_verifier": verifier}
        s, first, _ = self.token(form)
        self.assertEqual(s, 200, first)
        s, a, _ = self.token(form)
        self.assertEqual((s, a["error"]), (400, "invalid_grant"))
        self.assertIn("reason=\"code reused\"", self.d.log_text())
        # RFC 6749 §4.1.2: what the first use issued is revoked.
        self.assertEqual(self.introspect(first["access_token"], "rs:" + rs)[1], {"active": False})
        s, r, _ = self.refresh(first["refresh_token"])
        self.assertEqual((s, r["error"]), (400, "invalid_grant"))

    def test_plain_pkce_refused(self):
        self.start()
        self.public_client()
        verifier, _ = pkce_pair()
        params = self.authorize_params(verifier, method="plain")
        s, h, b = self.curl("GET", "/oauth/authorize?" + urllib.parse.urlencode(params))
        self.assertEqual(s, 302)
        loc = re.search(r"^Location: (.*)$", h, re.M | re.I).group(1).strip()
        q = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
        self.assertEqual(q["error"], ["invalid_request"])
        self.assertNotIn("code", q)
        # Without any challenge: the same.
        params.pop("code_challenge_method")
        s, h, b = self.curl("GET", "/oauth/authorize?" + urllib.parse.urlencode(params))
        self.assertEqual(s, 302)
        self.assertIn("error=invalid_request", h)

    def test_locked_user(self):
        self.start()
        self.public_client()
        rs = self.client_add("rs", "--type", "confidential")
        a = self.code_grant()
        # A locked digest credential ends nothing (issue 13's credentials apart).
        self.assertEqual(self.d.cli("user", "lock", USER, "--credential", "digest").returncode, 0)
        s, a2, _ = self.refresh(a["refresh_token"])
        self.assertEqual(s, 200, a2)
        self.assertEqual(self.d.cli("user", "lock", USER, "--credential",
                                    "password").returncode, 0)
        s, r, _ = self.refresh(a2["refresh_token"])
        self.assertEqual((s, r["error"]), (400, "invalid_grant"))
        self.assertEqual(self.introspect(a2["access_token"], "rs:" + rs)[1], {"active": False})
        self.assertIn("event=oauth_user_revoked", self.d.log_text())
        # And the login page refuses the locked user.
        _, challenge = pkce_pair()
        s, h, b = self.login(self.authorize_params(challenge))
        self.assertEqual(s, 401)

    def test_deleted_user(self):
        self.start()
        self.public_client()
        rs = self.client_add("rs", "--type", "confidential")
        a = self.code_grant()
        self.d.store_rows(f"DELETE FROM enduser WHERE userid = '{USER}'", write=True)
        s, r, _ = self.refresh(a["refresh_token"])
        self.assertEqual((s, r["error"]), (400, "invalid_grant"))
        self.assertEqual(self.introspect(a["access_token"], "rs:" + rs)[1], {"active": False})

    def test_deleted_user_after_refreshes(self):
        """The committer keeps a user's "may" verdict between grants (on SQLite): a deletion
        through telgated still ends the grants at once (the user's refresh tokens go with
        the user; the store's generation moves, so no kept verdict is believed either)."""
        self.start()
        self.public_client()
        a = self.code_grant()
        s, a2, _ = self.refresh(a["refresh_token"])
        self.assertEqual(s, 200, a2)
        s, a3, _ = self.refresh(a2["refresh_token"])  # the verdict kept by now
        self.assertEqual(s, 200, a3)
        r = self.d.cli("user", "delete", USER)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        s, r, _ = self.refresh(a3["refresh_token"])
        self.assertEqual((s, r["error"]), (400, "invalid_grant"))
        self.assertIn("event=oauth_refresh_refused", self.d.log_text())

    def test_password_change_refused_at_introspection(self):
        self.start()
        self.public_client()
        rs = self.client_add("rs", "--type", "confidential")
        a = self.code_grant()
        self.assertTrue(self.introspect(a["access_token"], "rs:" + rs)[1]["active"])
        time.sleep(1.1)  # the change must be in a later second than the login (Unix s)
        doc = {"version": 1, "users": [{"userid": USER, "directory": "local",
                                        "password": "demo-Password-9",
                                        "credentialpolicy": "Demo Policy",
                                        "groups": ["Standard CTI Enabled"]}]}
        path = self.path("pw.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        r = self.d.cli("import", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.introspect(a["access_token"], "rs:" + rs)[1], {"active": False})
        s, r, _ = self.refresh(a["refresh_token"])
        self.assertEqual((s, r["error"]), (400, "invalid_grant"))
        self.assertIn("reason=\"password changed\"", self.d.log_text())

    def test_login_failures_count_against_policy(self):
        self.start()
        self.public_client()
        _, challenge = pkce_pair()
        params = self.authorize_params(challenge)
        for _ in range(5):  # Demo Policy: failedlogonthreshold 5
            s, h, b = self.login(params, password="wrong-password")
            self.assertEqual(s, 401)
            self.assertIn("Sign-in failed.", b)
        r = self.d.cli("user", "show", USER, json_mode=True)
        self.assertIn("hacked", r.stdout.lower() + json.dumps(json.loads(r.stdout)))
        s, h, b = self.login(params)  # the right password, now locked out
        self.assertEqual(s, 401)
        self.assertIn("outcome=hacked-locked", self.d.log_text())

    def test_unknown_user_takes_the_dummy_hash_path(self):
        self.start()
        self.public_client()
        _, challenge = pkce_pair()
        s, h, b = self.login(self.authorize_params(challenge), user="nobody")
        self.assertEqual(s, 401)
        self.assertIn("Sign-in failed.", b)  # the same answer as a wrong password
        log = self.d.log_text()
        line = [x for x in log.splitlines() if "event=oauth_login" in x and "user=nobody" in x]
        self.assertEqual(len(line), 1, log[-2000:])
        self.assertIn("outcome=unknown-user", line[0])
        self.assertIn("dummy_hash=1", line[0])
        self.assertEqual(self.metric('telgate_oauth_logins_total{result="unknown_user"}'), 1)
        self.assertEqual(self.metric('telgate_oauth_logins_total{result="failed"}'), 0)

    def test_csrf_refused(self):
        self.start()
        self.public_client()
        _, challenge = pkce_pair()
        form = dict(self.authorize_params(challenge), csrf_token="x" * 43, username=USER,
                    password=PASSWORD)
        s, h, b = self.curl("POST", "/oauth/authorize", form=form,
                            headers=["Cookie: tg_oauth_csrf=" + "y" * 43])
        self.assertEqual(s, 403)
        self.assertNotIn("Location:", h)

    def test_hostile_forms_while_serving(self):
        self.start()
        secret = self.client_add("svc", "--type", "confidential")
        good = {"grant_type": "client_credentials", "client_id": "svc", "client_secret": secret}
        served, stop = [], threading.Event()

        def other_client():
            while not stop.is_set():
                s, h, b = self.curl("POST", "/oauth/token", form=good)
                served.append(s)
        t = threading.Thread(target=other_client)
        t.start()
        try:
            hostile = [
                "grant_type=client_credentials&" + "a=" + "x" * 12000,          # oversized
                "grant_type=client_credentials&grant_type=client_credentials",  # repeated
                "grant_type=client_credentials&client_id=svc&client_id=svc",
                "grant_type=client%ZZcredentials",                              # bad escape
                "grant_type=client_credentials%00",                             # NUL
                "grant_type=%C3%28",                                            # not UTF-8
                "=x&grant_type=client_credentials",                             # no name
                "&".join("p%d=1" % i for i in range(100)),                      # too many
            ]
            for body in hostile:
                s, h, b = self.curl("POST", "/oauth/token", raw=body)
                self.assertEqual(s, 400, body[:60])
                self.assertEqual(json.loads(b)["error"], "invalid_request")
            s, h, b = self.curl("POST", "/oauth/token", raw="grant_type=client_credentials",
                                ctype="application/json")
            self.assertEqual(s, 400)
            s, h, b = self.curl("POST", "/oauth/token", form=good,
                                headers=["Authorization: Basic !!!"])
            self.assertEqual(s, 401)
        finally:
            stop.set()
            t.join()
        self.assertTrue(served)
        self.assertEqual(set(served), {200})


if __name__ == "__main__":
    test_daemon.main()
