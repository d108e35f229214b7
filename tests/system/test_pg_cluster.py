#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test (issue 21): two telgated nodes on one PostgreSQL store. An administrator's
change made through node A reaches node B's registrar cache through LISTEN/NOTIFY (the
store generations): a lock, the unlock and a new digest password are enforced by node B
at its next REGISTER, though B answered the phone's refreshes from its cache. Device state
crosses nodes (a SIPp registration on A: BackInService to a CTI client on B; the
unregistration: OutOfService); failed CTI logins spread over both nodes lock the account
at the policy's threshold exactly; a node killed with SIGKILL leaves its bindings, which
expire by their time on the surviving node, and the phone re-registers through B; a cloud
CTI interface added or deleted through A is opened or closed by B at runtime, and a TLS
policy change made through A (cipher suites, protocols) is offered by B's listeners
without a restart. Runs
its own PostgreSQL (tests/system/pg.py)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pg  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
import test_daemon  # noqa: E402
import test_cti  # noqa: E402
from test_tls import A128, A256, CHACHA, s_client  # noqa: E402
from test_sip import PROV, SIPP_DIR, Raw, sipp, status  # noqa: E402


class TwoNodes(unittest.TestCase):
    EXTRA = ""  # configuration both nodes get

    def setUp(self):
        self.pg = pg.PgServer().start()
        test_daemon.PG_ADMIN = self.pg.conninfo()
        self.roots = [tempfile.mkdtemp(prefix="tgnode") for _ in range(2)]
        # One issuer for the cluster's tokens (docs/cluster.md), whichever node mints them.
        issuer = "[oauth]\nissuer = https://telgate.cluster.example\n"
        self.a = test_daemon.Daemon(self.roots[0],
                                    "[core]\nnode_id = node-a\n" + issuer + self.EXTRA)
        # Node B on node A's database with the same key-encryption key: the harness reuses
        # the conninfo and kek files it finds.
        for name in ("conninfo", "kek"):
            with open(os.path.join(self.roots[0], name)) as f:
                text = f.read()
            fd = os.open(os.path.join(self.roots[1], name), os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
        self.b = test_daemon.Daemon(self.roots[1],
                                    "[core]\nnode_id = node-b\n" + issuer + self.EXTRA)
        prov = os.path.join(self.roots[0], "prov.json")
        with open(prov, "w") as f:
            json.dump(PROV, f)
        self.a.start("--provision", prov)
        self.b.start()

    def tearDown(self):
        problems = [d.finish() for d in (self.a, self.b)]
        self.pg.stop()
        for r in self.roots:
            shutil.rmtree(r, ignore_errors=True)
        for p in problems:
            if p:
                self.fail(p)


class ClusterTest(TwoNodes):
    def test_admin_change_on_a_enforced_by_b(self):
        raw = Raw(self.b.sip_port)
        ch = raw.register("1002").split("WWW-Authenticate: ")[1]
        nc = iter(range(1, 1000))

        def reg(pw="Sip-Jesse-1"):
            r = raw.register("1002", raw.auth(ch, "jpinkman", pw, nc="%08x" % next(nc)))
            last = [x for x in self.b.log_text().splitlines() if "sip_registered" in x]
            return status(r), (re.search(r"path=(\w+)", last[-1]).group(1) if last else "")

        def until(want, pw="Sip-Jesse-1"):
            """REGISTERs on B until one gets want: NOTIFY reaches B a moment after A's
            command returns (it is sent when A's change commits)."""
            end = time.time() + 60
            while True:
                code = reg(pw)[0]
                if code == want or time.time() > end:
                    return code
                time.sleep(0.05)

        self.assertEqual(reg(), (200, "store"))
        self.assertEqual(reg(), (200, "cache"))
        self.assertIn("event=store_pg_listening", self.b.log_text())
        # Locked through node A: refused by node B, whose copy was cached.
        self.assertEqual(self.a.cli("user", "lock", "jpinkman").returncode, 0)
        self.assertEqual(until(403), 403)
        self.assertEqual(self.a.cli("user", "unlock", "jpinkman").returncode, 0)
        self.assertEqual(until(200), 200)
        self.assertEqual(reg(), (200, "cache"))
        # A new digest password imported through node A: the old one stops working on B.
        prov = json.loads(json.dumps(PROV))
        prov["users"][0]["digestpassword"] = "Sip-Jesse-2"
        path = os.path.join(self.roots[0], "prov2.json")
        with open(path, "w") as f:
            json.dump(prov, f)
        self.assertEqual(self.a.cli("import", path).returncode, 0)
        self.assertEqual(until(403), 403)
        self.assertEqual(reg(pw="Sip-Jesse-2")[0], 200)
        # Both nodes in the node table; this node's store and channel.
        out = self.a.cli("show", "nodes").stdout
        self.assertIn("node-a", out)
        self.assertIn("node-b", out)
        r = self.b.cli("cluster", "status", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        t = json.loads(r.stdout)
        rows = {row[0]: dict(zip(t["columns"], row)) for row in t["rows"]}
        self.assertEqual(set(rows), {"node-a", "node-b"})
        self.assertEqual(rows["node-b"]["this node"], "yes")
        self.assertEqual(rows["node-b"]["store"], "connected (postgres)")
        self.assertEqual(rows["node-b"]["changes from other nodes"],
                         "listening on telgate_store")
        self.assertEqual(rows["node-a"]["this node"], "")

    def test_cti_interface_added_on_a_opens_on_b(self):
        """The interface table is applied on every node at runtime: an interface added
        through node A is opened by node B without a restart (the store generation's
        NOTIFY), and closed by B when A deletes it."""
        port = test_daemon.free_port()
        opened = f"event=xsi_interface_opened address=127.0.0.1 port={port}"
        closed = f"event=xsi_interface_closed address=127.0.0.1 port={port}"

        def b_listening():
            r = self.b.cli("cti-interface", "get", json_mode=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            t = json.loads(r.stdout)
            return [row[t["columns"].index("Listening")] for row in t["rows"]
                    if row[1] == str(port)]

        def until(d, text):
            end = time.time() + 15
            while text not in d.log_text() and time.time() < end:
                time.sleep(0.1)
            return d.log_text()

        self.assertNotIn(opened, self.b.log_text())
        r = self.a.cli("cti-interface", "add", str(port), "true", "true", "true", "127.0.0.1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(opened, self.a.log_text())
        self.assertIn(opened, until(self.b, opened))
        self.assertEqual(b_listening(), ["yes"])
        # Still one listener on A: its own command opened it, the reload found it open.
        self.assertEqual(self.a.log_text().count(opened), 1)
        r = self.a.cli("cti-interface", "delete", str(port), "127.0.0.1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(closed, until(self.b, closed))
        self.assertEqual(b_listening(), [])
        self.assertEqual(self.b.log_text().count(opened), 1)
        self.assertNotIn("xsi_interface_failed", self.a.log_text() + self.b.log_text())

    def test_tls_policy_set_on_a_offered_by_b(self):
        """The TLS policy is in the shared store and applied on every node at runtime:
        cipher suites and protocols set through node A are what node B's listener
        offers, without a restart (the store generation's NOTIFY, then a reload on B)."""
        cti = self.b.cti_tls_port

        def offered12():
            return [iana for iana, ossl in (A128, A256, CHACHA)
                    if s_client(cti, "-tls1_2", "-cipher", ossl)[0] == ossl]

        def until(check, want):
            end = time.time() + 15
            got = check()
            while got != want and time.time() < end:
                time.sleep(0.2)
                got = check()
            return got

        def tls_on_a(*words):
            r = self.a.cli("tls", *words)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        self.assertEqual(offered12(), [A128[0], A256[0], CHACHA[0]])
        tls_on_a("ciphers", "add", "system", A256[0])
        self.assertEqual(until(offered12, [A256[0]]), [A256[0]])
        self.assertIn("event=tls_policy_reloaded", self.b.log_text())
        # A protocol list at B's CTI TLS kind: TLS 1.3 only, so a TLS 1.2 client is refused.
        tls_on_a("protocols", "add", "kind=cti-tls", "TLSv1.3")
        self.assertIsNone(until(lambda: s_client(cti, "-tls1_2")[0], None))
        name, _ = s_client(cti, "-tls1_3")
        self.assertIsNotNone(name)
        # Cleared on A: B offers the defaults again.
        tls_on_a("protocols", "clear", "kind=cti-tls")
        tls_on_a("ciphers", "clear", "system")
        self.assertEqual(until(offered12, [A128[0], A256[0], CHACHA[0]]),
                         [A128[0], A256[0], CHACHA[0]])
        self.assertNotIn("tls_policy_reload_failed", self.a.log_text() + self.b.log_text())

    def test_restarted_node_shows_none_of_its_old_cti_sessions(self):
        """A node's row written again at start: the CTI sessions its previous run counted
        ended with it, and `cluster status` must not show them until its first heartbeat
        (30 s here): it did, since the start's upsert kept the old counts."""
        self.b.store_rows("UPDATE processnode SET ctisessions = 7 WHERE name = 'node-b'",
                          write=True)
        self.assertEqual(self.b.stop(), 0)
        self.b.start()
        r = self.a.cli("cluster", "status", json_mode=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        t = json.loads(r.stdout)
        rows = {row[0]: dict(zip(t["columns"], row)) for row in t["rows"]}
        self.assertEqual(rows["node-b"]["cti sessions"], "0", rows)

    def pki(self, d, name):
        with open(os.path.join(d.state, "pki", name), "rb") as f:
            return f.read()

    def test_keys_shared_under_the_kek(self):
        """Both nodes sign with one CA, trust-list and recovery signer, kept in the store
        encrypted under the KEK; neither the KEK nor a key in clear is in the store or a
        log; a node with another KEK refuses to start and says why."""
        for name in ("ca.crt", "trustlist.crt", "recovery.crt"):
            self.assertEqual(self.pki(self.a, name), self.pki(self.b, name), name)
        # B's own server certificate, issued by the cluster CA (A's).
        ca = os.path.join(self.a.state, "pki", "ca.crt")
        r = subprocess.run(["openssl", "verify", "-CAfile", ca,
                            os.path.join(self.b.state, "pki", "server.crt")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("event=ca_cluster_keys", self.a.log_text())
        with open(os.path.join(self.roots[0], "kek")) as f:
            kek = f.read().strip()
        # The keys' secret parts: the base64 lines of their PEM files.
        secrets = [kek]
        for name in ("ca.key", "trustlist.key", "recovery.key"):
            lines = self.pki(self.a, name).decode().splitlines()[1:-1]
            secrets += [x for x in lines if len(x) >= 40]
        dump = self.a.store_bytes().decode(errors="replace")
        self.assertIn("BEGIN ENCRYPTED PRIVATE KEY", dump)
        self.assertNotIn("BEGIN PRIVATE KEY", dump)
        texts = [dump] + [d.log_text() + d.stderr_text() for d in (self.a, self.b)]
        for t in texts:
            for secret in secrets:
                self.assertNotIn(secret, t)
        # An ad-hoc query reads the encrypted keys as NULL too.
        rc, rows = self.a.sql("select * from clusterkey order by name")
        self.assertEqual(rc, 0, rows)
        name, key = rows["columns"].index("name"), rows["columns"].index("privatekey")
        self.assertLessEqual({"ca", "capf", "recovery", "trustlist"},
                             {r[name] for r in rows["rows"]})
        self.assertTrue(all(r[key] is None for r in rows["rows"]))
        # Named, it is refused with the column and why (as on SQLite: test_daemon).
        r = self.a.cli("run", "sql", "select name, privatekey from clusterkey")
        self.assertEqual(r.returncode, 1)
        self.assertIn("refused: clusterkey.privatekey is a secret column (", r.stderr)
        self.assertIn("may not name it", r.stderr)
        # A third node with another KEK on the same database: refused, with the reason.
        root = tempfile.mkdtemp(prefix="tgnode")
        self.roots.append(root)
        with open(os.path.join(self.roots[0], "conninfo")) as f:
            text = f.read()
        for name, body in (("conninfo", text), ("kek", "x" * 64 + "\n")):
            fd = os.open(os.path.join(root, name), os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(body)
        c = test_daemon.Daemon(root, "[core]\nnode_id = node-c\n")
        proc = c.start(wait=False)
        self.assertNotEqual(proc.wait(timeout=30), 0)
        err = c.stderr_text()
        self.assertIn("the cluster's ca key in the store: the key-encryption key does not "
                      "decrypt it", err)
        for secret in secrets + ["x" * 64]:
            self.assertNotIn(secret, err + c.log_text())
        c.finish()

    def test_trust_list_lists_every_node(self):
        """The signed trust list fetched from node B names both nodes' server certificates
        (each issued by the cluster CA) and the one CA."""
        from cryptography import x509
        import trustlist_parse
        url = f"http://127.0.0.1:{self.b.files_http_port}/ITLFile.tlv"
        with urllib.request.urlopen(url, timeout=10) as r:
            data = r.read()
        _, records, certs, _ = trustlist_parse.read_list(data)
        listed = {c.fingerprint(hashes.SHA256()) for c in certs}
        for d in (self.a, self.b):
            for name in ("server.crt", "ca.crt"):
                cert = x509.load_pem_x509_certificate(self.pki(d, name))
                self.assertIn(cert.fingerprint(hashes.SHA256()), listed, (d.root, name))

    def test_tokens_and_certificates_cross_nodes(self):
        """Node A's work is trusted by node B: a client certificate enrolled over EST on A
        verifies against B's CA; an access token minted on A is active on B (introspection)
        and verifies against B's JWKS; A's refresh token is redeemed on B."""
        import test_oauth
        demo = os.path.join(test_daemon.ARGS.examples, "demo.json")
        r = self.a.cli("import", demo)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        h = test_oauth.OAuthTest("test_code_pkce_flow")
        h.root, h.n, h.d = self.roots[0], 0, self.a
        h.ca = os.path.join(self.a.state, "pki", "ca.crt")
        h.public_client()
        rs = h.client_add("rs", "--type", "confidential")
        a = h.code_grant()
        cert, _ = h.enrolled_cert(test_oauth.USER)
        # Node B: its own CA file, which is the cluster's.
        h.d, h.ca = self.b, os.path.join(self.b.state, "pki", "ca.crt")
        r = subprocess.run(["openssl", "verify", "-CAfile", h.ca, cert], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # A's token key reaches B's verifier with the store's NOTIFY (a moment after A's
        # commit, long before this).
        end = time.time() + 60
        while True:
            s, i = h.introspect(a["access_token"], "rs:" + rs)
            if i.get("active") or time.time() > end:
                break
            time.sleep(0.1)
        self.assertEqual((s, i.get("active"), i.get("sub")), (200, True, test_oauth.USER), i)
        if test_oauth.jwt:
            h.jwks_verify(a["access_token"], "cti")
        s, a2, _ = h.refresh(a["refresh_token"])
        self.assertEqual(s, 200, a2)
        self.assertNotEqual(a2["refresh_token"], a["refresh_token"])
        s, i = h.introspect(a2["access_token"], "rs:" + rs)
        self.assertEqual((s, i["active"]), (200, True))
        for d in (self.a, self.b):
            self.assertNotIn(a["refresh_token"], d.log_text())

    def kek_cmd(self, d, *args):
        return subprocess.run([test_daemon.ARGS.telgated, "-c", d.conf, *args],
                              capture_output=True, text=True, timeout=60)

    def test_kek_status_and_rotate(self):
        """telgated --kek-status says each key opens; --kek-rotate re-encrypts them all under
        a new KEK in one go (the old one then opens none), and a node given the new file
        starts on the same keys."""
        r = self.kek_cmd(self.a, "--kek-status")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for name in ("ca: ok", "capf: ok", "recovery: ok", "trustlist: ok"):
            self.assertIn(name, r.stdout)
        ca_before = self.pki(self.b, "ca.crt")
        new = os.path.join(self.roots[0], "kek.new")
        fd = os.open(new, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("n" * 40 + "\n")
        # The same KEK again, or one others may read: refused, nothing changed.
        self.assertNotEqual(self.kek_cmd(self.a, "--kek-rotate",
                                         os.path.join(self.roots[0], "kek")).returncode, 0)
        os.chmod(new, 0o644)
        r = self.kek_cmd(self.a, "--kek-rotate", new)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("chmod 600", r.stderr)
        os.chmod(new, 0o600)
        r = self.kek_cmd(self.a, "--kek-rotate", new)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ca: re-encrypted", r.stdout)
        r = self.kek_cmd(self.a, "--kek-status")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("do not open with pki.kek_file", r.stderr)
        self.assertNotIn("n" * 40, r.stdout + r.stderr)
        # Node B restarted with the new KEK: the same CA.
        self.b.stop()
        with open(os.path.join(self.roots[1], "kek"), "w") as f:
            f.write("n" * 40 + "\n")
        self.b.start()
        self.assertEqual(self.pki(self.b, "ca.crt"), ca_before)
        self.assertEqual(self.kek_cmd(self.b, "--kek-status").returncode, 0)


class DeviceStateTest(TwoNodes):
    # Heartbeats every second: a node silent for 3 s is dead (docs/cluster.md); SIPp
    # computes MD5 digests only; CTI over plain TCP as the other CTI tests.
    EXTRA = ("[core]\nheartbeat_s = 1\n[cti]\nallow_plain_login = yes\n[sip]\n"
             "min_expires = 1\nchallenge_sha256 = no\n")

    def sipp(self, node, expires=3600, scenario="register.xml"):
        users = os.path.join(self.roots[0], "users.csv")
        with open(users, "w") as f:
            # field2: register.xml's Expires, register_unregister.xml's credentials
            f.write("SEQUENTIAL\n1002;telgate;" + (
                str(expires) if scenario == "register.xml" else
                "[authentication username=jpinkman password=Sip-Jesse-1]") + "\n")
        r = sipp(["-sf", os.path.join(SIPP_DIR, scenario), "-inf", users, "-au", "jpinkman",
                  "-ap", "Sip-Jesse-1", "-t", "u1", "-m", "1", f"127.0.0.1:{node.sip_port}"])
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])

    def cti(self, node):
        c = test_cti.Client(node.cti_port)
        self.assertEqual(test_cti.local(c.login("mjavier", "Mike-Pass-1")),
                         "StartApplicationSessionPosResponse")
        self.assertEqual(test_cti.local(c.monitor("CSFJPINKMAN")), "MonitorStartResponse")
        return c

    def owner(self):
        """The nodes that own CSFJPINKMAN's bindings in the store (B is never killed)."""
        rc, t = self.b.sql("SELECT processnode FROM registration WHERE devicename = "
                           "'CSFJPINKMAN'")
        self.assertEqual(rc, 0, t)
        return [row[0] for row in t["rows"]]

    def test_registration_on_a_reaches_cti_on_b(self):
        c = self.cti(self.b)
        # Registered and unregistered through A: in service, then out, on B.
        self.sipp(self.a, scenario="register_unregister.xml")
        self.assertEqual(test_cti.local(c.event()), "BackInServiceEvent")
        self.assertEqual(test_cti.local(c.event()), "OutOfServiceEvent")
        self.sipp(self.a)
        self.assertEqual(test_cti.local(c.event()), "BackInServiceEvent")
        self.assertEqual(self.owner(), ["node-a"])
        # A CTI client that starts on B later reads the state the bus keeps.
        c2 = self.cti(self.b)
        self.assertEqual(test_cti.local(c2.event()), "BackInServiceEvent")
        c2.close()
        # B's heartbeat writes its CTI sessions, A's its registrations.
        end = time.time() + 60
        while time.time() < end:
            t = json.loads(self.b.cli("cluster", "status", json_mode=True).stdout)
            rows = {row[0]: dict(zip(t["columns"], row)) for row in t["rows"]}
            if rows["node-a"]["registrations"] == "1" and rows["node-b"]["cti sessions"] == "1":
                break
            time.sleep(0.2)
        self.assertEqual(rows["node-a"]["registrations"], "1")
        self.assertEqual(rows["node-b"]["registrations"], "0")
        self.assertEqual(rows["node-b"]["cti sessions"], "1")
        self.assertEqual(rows["node-a"]["cti sessions"], "0")
        c.close()

    def test_failed_logins_on_both_nodes_lock_at_the_threshold(self):
        """Default Credential Policy: 3 failures lock the password. One on A, one on B,
        then the third on A: the count is the store's (one UPDATE .. RETURNING)."""
        def login(node, pw):
            c = test_cti.Client(node.cti_port)
            try:
                return test_cti.local(c.login("mjavier", pw))
            finally:
                c.close()

        def show():
            r = self.b.cli("user", "show", "mjavier", json_mode=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            return {(c, n): v for c, n, v in json.loads(r.stdout)["rows"]}

        self.assertEqual(login(self.a, "Wrong-1"), "StartApplicationSessionNegResponse")
        self.assertEqual(login(self.b, "Wrong-2"), "StartApplicationSessionNegResponse")
        self.assertEqual(show()[("password", "hack_count")], "2 of 3")
        self.assertEqual(show()[("password", "state")], "usable")
        self.assertEqual(login(self.a, "Wrong-3"), "StartApplicationSessionNegResponse")
        self.assertEqual(show()[("password", "hack_count")], "3 of 3")
        self.assertEqual(show()[("password", "state")], "hacked-locked")
        # Locked on both nodes, the right password too.
        for node in (self.a, self.b):
            self.assertEqual(login(node, "Mike-Pass-1"), "StartApplicationSessionNegResponse")

    def test_kill_a_and_reregister_through_b(self):
        c = self.cti(self.b)
        self.sipp(self.a, expires=4)
        self.assertEqual(test_cti.local(c.event()), "BackInServiceEvent")
        self.a.exit_expected = True
        self.a.kill()  # SIGKILL to the engine too: no clean stop, its rows stay
        self.assertEqual(self.owner(), ["node-a"])
        # A's binding expires by its time; B finds A silent (3 heartbeats) and deletes it.
        self.assertEqual(test_cti.local(c.event(timeout=30)), "OutOfServiceEvent")
        # B publishes inside the DELETE's transaction and logs once it committed.
        end = time.time() + 60
        while "event=cluster_orphans_expired" not in self.b.log_text() and time.time() < end:
            time.sleep(0.1)
        self.assertIn("event=cluster_orphans_expired", self.b.log_text())
        self.sipp(self.b)
        self.assertEqual(test_cti.local(c.event()), "BackInServiceEvent")
        self.assertEqual(self.owner(), ["node-b"])
        c.close()


def main():
    test_daemon.main()


if __name__ == "__main__":
    main()
