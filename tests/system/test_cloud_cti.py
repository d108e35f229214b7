#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""System test of the cloud CTI event interface (issue 20, seed 004): the seed's set-up
steps with the CLI (`cti-interface add PORT true true true`, a two-certificate chain as
trust anchors, the client identity, `allowClientApp true`), then an Xsi-Events v2.0 client
of its own (Python's ssl module, mutual TLS, no project code) opens a streaming channel,
subscribes two subscribers and receives their device-state events while SIPp registers
and unregisters their devices; acknowledgements stop redelivery, an unacknowledged event
comes again after reconnecting. Then every refusal: no client certificate, an untrusted CA
(unknown_ca), a CN that is not an identity (bad_certificate), allowClientApp false, TLS 1.1,
a subscriber outside the identity's scope (403), malformed and oversized bodies (400),
a channel that stops acknowledging (cut off at queue_max, the other one unaffected), a
deleted subscriber (SubscriptionTerminated). And curl with a client certificate on every
endpoint, as docs/cti-events.md shows."""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_daemon  # noqa: E402
from test_edge import make_ca, make_client  # noqa: E402
from test_tls_cert import Pki  # noqa: E402
from test_tls_trust import make_sub_ca  # noqa: E402

NS = "http://schema.broadsoft.com/xsi"
EV = "/com.broadsoft.xsi-events/v2.0"
ASYNC = "/com.broadsoft.async/com.broadsoft.xsi-events/v2.0"
IDENTITY = "bwcticlient.webex.com"
GROUP = "Cloud Subscribers"
SIPP_DIR = os.path.join(HERE, "sipp")

PROV = {"version": 1,
        "groups": [{"name": GROUP, "description": "users the cloud may watch"}],
        "users": [
            {"userid": "jpinkman", "directory": "local", "password": "Cap-n-Cook-1",
             "digestpassword": "Sip-Jesse-1", "groups": [GROUP]},
            {"userid": "swhite", "directory": "local", "password": "Sky-Pass-12",
             "digestpassword": "Sip-Skyler-1", "groups": [GROUP]},
            {"userid": "hschrader", "directory": "local", "password": "Hank-Pass-1",
             "digestpassword": "Sip-Hank-1"}],
        "devices": [
            {"name": "CSFJPINKMAN", "model": "CSF", "owner": "jpinkman", "lines": ["1002"]},
            {"name": "CSFSWHITE", "model": "CSF", "owner": "swhite", "lines": ["1003"]},
            {"name": "CSFHANK", "model": "CSF", "owner": "hschrader", "lines": ["1004"]}]}


def root(doc):
    """The root element's local name, past the XML declaration."""
    m = re.search(r"<([A-Za-z][^\s/>]*)", doc)
    return m.group(1).split(":")[-1] if m else None


def field(doc, name):
    """The text of the first element called name (any prefix) in doc, or None."""
    m = re.search(r"<(?:\w+:)?%s>([^<]*)</" % name, doc)
    return m.group(1) if m else None


def xml(root, **fields):
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{NS}">{inner}</{root}>'


class Client:
    """An Xsi-Events client: every request on a connection of its own (mutual TLS)."""

    def __init__(self, port, cert, ca, version=None):
        self.port = port
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ctx.load_verify_locations(ca)
        self.ctx.check_hostname = False
        if cert:
            self.ctx.load_cert_chain(*cert)
        if version:
            self.ctx.minimum_version = self.ctx.maximum_version = version

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return self.ctx.wrap_socket(raw)

    def request(self, method, path, body=None, close=True):
        s = self.connect()
        data = (body or "").encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/xml\r\nContent-Length: {len(data)}\r\n")
        if close:
            head += "Connection: close\r\n"
        s.sendall(head.encode() + b"\r\n" + data)
        if not close:
            return s
        buf = b""
        while True:
            try:
                b = s.recv(65536)
            except (ssl.SSLError, ConnectionError):
                break
            if not b:
                break
            buf += b
        s.close()
        head, _, body = buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        return status, body.decode(errors="replace")

    def channel(self, set_id, expires=3600):
        return Channel(self.request("POST", ASYNC + "/channel",
                                    xml("Channel", channelSetId=set_id, priority=1,
                                        weight=100, expires=expires), close=False))

    def subscribe(self, user, set_id, event="Device State", group=False):
        path = (f"{EV}/enterprise/telgate/group/{user.replace(' ', '%20')}" if group
                else f"{EV}/user/{user}")
        return self.request("POST", path, xml("Subscription", event=event, expires=3600,
                                              channelSetId=set_id,
                                              applicationId="webex-test"))

    def ack(self, event_id):
        return self.request("POST", EV + "/channel/eventresponse",
                            xml("EventResponse", eventID=event_id, statusCode=200,
                                reason="OK"))


class Channel:
    """A streaming channel: one XML document per chunk."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])
        self.chunked = b"transfer-encoding: chunked" in head.lower()
        self.id = None
        if self.status == 200:
            first = self.doc()
            assert root(first) == "Channel", first
            self.id = field(first, "channelId")

    def _fill(self):
        b = self.s.recv(65536)
        if not b:
            raise EOFError("channel closed")
        self.buf += b

    def _until(self, mark):
        while mark not in self.buf:
            self._fill()
        i = self.buf.index(mark) + len(mark)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def doc(self, timeout=10):
        """The next document (a chunk)."""
        self.s.settimeout(timeout)
        size = int(self._until(b"\r\n").strip(), 16)
        if size == 0:
            raise EOFError("channel ended")
        while len(self.buf) < size + 2:
            self._fill()
        d, self.buf = self.buf[:size], self.buf[size + 2:]
        return d.decode()

    def event(self, timeout=10):
        """The next document that is not a heartbeat."""
        end = time.time() + timeout
        while True:
            d = self.doc(max(0.1, end - time.time()))
            if "ChannelHeartBeat" not in d:
                return d

    def events_within(self, seconds):
        """Every non-heartbeat document arriving within seconds."""
        out, end = [], time.time() + seconds
        while time.time() < end:
            try:
                out.append(self.event(max(0.1, end - time.time())))
            except (socket.timeout, TimeoutError):
                break
        return out

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class CloudCtiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="tgxsi")
        c = cls.certs = os.path.join(cls.root, "certs")
        os.makedirs(c)
        # The cloud's CA chain: a root and an issuing CA, uploaded as one file.
        make_ca(c, "Cloud Root")
        make_sub_ca(c, "Cloud Issuing CA", "Cloud Root")
        sub = (os.path.join(c, "Cloud Issuing CA.crt"), os.path.join(c, "Cloud Issuing CA.key"))
        cls.chain = os.path.join(c, "chain.pem")
        with open(cls.chain, "w") as out:
            for n in ("Cloud Root", "Cloud Issuing CA"):
                with open(os.path.join(c, f"{n}.crt")) as f:
                    out.write(f.read())
        cls.client = make_client(c, "client", IDENTITY, *sub)
        cls.other = make_client(c, "other", "intruder.example.net", *sub)
        make_ca(c, "Stranger CA")
        cls.stranger = make_client(c, "stranger", IDENTITY,
                                   os.path.join(c, "Stranger CA.crt"),
                                   os.path.join(c, "Stranger CA.key"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="d", dir=self.root)
        self.d = test_daemon.Daemon(
            self.dir, "challenge_sha256 = no\nmin_expires = 1\n"
            "[cti_interface]\nheartbeat_s = 1\nredeliver_s = 2\nqueue_max = 6\n"
            "sweep_s = 1\n")
        prov = os.path.join(self.dir, "prov.json")
        with open(prov, "w") as f:
            json.dump(PROV, f)
        self.d.start("--provision", prov)
        self.port = test_daemon.free_port()
        self.ca = os.path.join(self.d.state, "pki", "ca.crt")
        self.channels = []

    def tearDown(self):
        for ch in self.channels:
            ch.close()
        problem = self.d.finish()
        if problem:
            self.fail(problem)

    def cli(self, *words, ok=True):
        r = self.d.cli(*words)
        if ok:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def rows(self, *words):
        r = self.d.cli(*words, json_mode=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return json.loads(r.stdout)["rows"]

    def seed_setup(self):
        """The seed's steps: add the interface, the CA chain, the identity,
        allowClientApp; and telgate's scope for the identity."""
        self.cli("cti-interface", "add", str(self.port), "true", "true", "true", "127.0.0.1")
        self.cli("trust", "update", "kind=cti-interface", "webexca", self.chain)
        self.cli("identity", "add", "kind=cti-interface", IDENTITY)
        self.cli("tls", "set", "kind=cti-interface", "allowClientApp", "true")
        self.cli("cti-interface", "scope", "add", IDENTITY, GROUP)

    def xsi(self, cert=None, version=None):
        return Client(self.port, cert or self.client, self.ca, version)

    def open(self, client, set_id):
        ch = client.channel(set_id)
        self.channels.append(ch)
        self.assertEqual(ch.status, 200)
        return ch

    def sipp(self, lines):
        users = os.path.join(self.dir, "users.csv")
        with open(users, "w") as f:
            f.write("SEQUENTIAL\n")
            for line, user, pw in lines:
                f.write(f"{line};telgate;[authentication username={user} password={pw}]\n")
        r = subprocess.run(["sipp", "-nostdin", "-timeout", "20", "-timeout_error", "-sf",
                            os.path.join(SIPP_DIR, "register_unregister.xml"), "-inf", users,
                            "-t", "u1", "-m", str(len(lines)), "-l", "1",
                            f"127.0.0.1:{self.d.sip_port}"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])

    # --- the positive flow -----------------------------------------------------------------

    def test_seed_setup_events_acks_and_redelivery(self):
        self.seed_setup()
        row = self.rows("cti-interface", "get")[0]
        self.assertEqual(row, ["127.0.0.1", str(self.port), "true", "true", "true", "yes"])
        anchors = self.d.cli("trust", "get", "kind=cti-interface").stdout
        self.assertIn("Cloud Root", anchors)
        self.assertIn("Cloud Issuing CA", anchors)
        self.assertIn("self-signed", anchors)
        c = self.xsi()
        ch = self.open(c, "set-1")
        self.assertTrue(ch.chunked)
        self.assertEqual(root(ch.doc()), "ChannelHeartBeat")
        subs = {}
        for user in ("jpinkman", "swhite"):
            st, body = c.subscribe(user, "set-1")
            self.assertEqual(st, 200, body)
            subs[user] = field(body, "subscriptionId")
            self.assertTrue(subs[user])
        # SIPp registers and unregisters both devices: in service, out of service each.
        self.sipp([("1002", "jpinkman", "Sip-Jesse-1"), ("1003", "swhite", "Sip-Skyler-1")])
        got = {}
        for _ in range(4):
            e = ch.event()
            self.assertIn('xsi1:type="xsi:SubscriptionEvent"', e)
            self.assertIn('xsi:DeviceStateEvent', e)
            user = field(e, "userId")
            got.setdefault(user, []).append((field(e, "sequenceNumber"), field(e, "deviceName"),
                                            field(e, "state"), field(e, "contact")))
            self.assertEqual(field(e, "channelId"), ch.id)
            self.assertEqual(field(e, "subscriptionId"), subs[user])
            self.assertEqual(field(e, "externalApplicationId"), "webex-test")
            st, _ = c.ack(field(e, "eventID"))
            self.assertEqual(st, 200)
        self.assertEqual([(s, d, st) for s, d, st, _ in got["jpinkman"]],
                         [("1", "CSFJPINKMAN", "In Service"),
                          ("2", "CSFJPINKMAN", "Out Of Service")])
        self.assertEqual([(s, d, st) for s, d, st, _ in got["swhite"]],
                         [("1", "CSFSWHITE", "In Service"), ("2", "CSFSWHITE", "Out Of Service")])
        self.assertIn("sip:1002-", got["jpinkman"][0][3])  # the registration contact
        # Acknowledged: nothing comes again (redeliver_s = 2).
        self.assertEqual(ch.events_within(4), [])
        # Not acknowledged: sent again after redeliver_s, the same eventID and number.
        self.cli("device", "state", "CSFJPINKMAN", "in-service")
        e1 = ch.event()
        e2 = ch.event(timeout=10)
        self.assertEqual(field(e2, "eventID"), field(e1, "eventID"))
        self.assertEqual(field(e2, "sequenceNumber"), "3")
        # ...and after reconnecting: a new channel of the set gets it at once.
        ch.close()
        ch2 = self.open(c, "set-1")
        e3 = ch2.event()
        self.assertEqual(field(e3, "eventID"), field(e1, "eventID"))
        self.assertEqual(field(e3, "channelId"), ch2.id)
        self.assertEqual(c.ack(field(e3, "eventID"))[0], 200)
        self.assertEqual(ch2.events_within(4), [])
        self.assertEqual(c.ack(field(e3, "eventID"))[0], 404)  # acknowledged once
        # Channel refresh, client heartbeat, subscription refresh, then deletes.
        self.assertEqual(c.request("PUT", f"{EV}/channel/{ch2.id}",
                                   xml("Channel", expires=600))[0], 200)
        self.assertEqual(c.request("PUT", f"{EV}/channel/{ch2.id}/heartbeat")[0], 200)
        self.assertEqual(c.request("PUT", f"{EV}/subscription/{subs['swhite']}",
                                   xml("Subscription", expires=600))[0], 200)
        self.assertEqual(c.request("DELETE", f"{EV}/subscription/{subs['swhite']}")[0], 200)
        self.assertEqual(c.request("DELETE", f"{EV}/subscription/{subs['swhite']}")[0], 404)
        status = dict(self.rows("cti-interface", "status"))
        self.assertEqual(status["channels"], "1")
        self.assertEqual(status["subscriptions"], "1")
        self.assertEqual(c.request("DELETE", f"{EV}/channel/{ch2.id}")[0], 200)
        end = ch2.event()
        self.assertIn("ChannelTerminatedEvent", end)
        with self.assertRaises(EOFError):
            ch2.event()

    def test_registration_package_and_group_subscription(self):
        self.seed_setup()
        c = self.xsi()
        ch = self.open(c, "set-g")
        st, body = c.subscribe(GROUP, "set-g", event="Registration", group=True)
        self.assertEqual(st, 200, body)
        self.sipp([("1003", "swhite", "Sip-Skyler-1")])
        e = ch.event()
        self.assertIn("xsi:RegistrationEvent", e)
        self.assertEqual(field(e, "userId"), "swhite")
        self.assertEqual(field(e, "registered"), "true")
        self.assertIn("sip:1003-", field(e, "contact"))
        self.assertEqual(field(ch.event(), "registered"), "false")
        # A package telgate does not produce is refused, and so is a group out of scope.
        st, body = c.subscribe("jpinkman", "set-g", event="Advanced Call")
        self.assertEqual(st, 400, body)
        st, body = c.subscribe("Standard CTI Enabled", "set-g", group=True)
        self.assertEqual(st, 403, body)
        # A clean stop with a channel and a subscription live (exit 0, and finish() checks
        # for sanitizer reports). The channel gets ChannelTerminated when the stop reaches
        # the interface before the drain has closed its connection: either way it ends.
        self.assertEqual(self.d.stop(), 0)
        docs = []
        with self.assertRaises((EOFError, OSError)):
            while True:
                docs.append(ch.doc(5))
        self.assertTrue(all("SubscriptionEvent" not in d for d in docs), docs)

    def test_subscription_to_a_set_without_a_channel_here_is_flagged(self):
        """A subscription is accepted whether or not its set has a channel on this node (one
        may open later and gets what waited), but a set without one is what a cloud client
        sees when its channel went to another node of a cluster: the xsi_subscribed line
        says so at warning, with the channel count, so that the administrator can tell."""
        self.seed_setup()
        c = self.xsi()
        st, body = c.subscribe("jpinkman", "set-elsewhere")
        self.assertEqual(st, 200, body)
        self.open(c, "set-here")
        st, body = c.subscribe("jpinkman", "set-here")
        self.assertEqual(st, 200, body)
        lines = [x for x in self.d.log_text().splitlines() if "event=xsi_subscribed" in x]
        self.assertEqual(len(lines), 2, lines)
        alone, served = lines
        self.assertIn("channel_set=set-elsewhere", alone)
        self.assertIn("level=warning", alone)
        self.assertIn("channels=0", alone)
        self.assertIn("is the client's channel on another node?", alone)
        self.assertIn("channel_set=set-here", served)
        self.assertIn("level=notice", served)
        self.assertIn("channels=1", served)
        self.assertNotIn("note=", served)

    # --- refusals --------------------------------------------------------------------------

    def test_add_refusals_and_runtime_open_close(self):
        for args in (("false", "true", "true"), ("true", "true", "false")):
            r = self.cli("cti-interface", "add", str(self.port), *args, "127.0.0.1", ok=False)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("mutual TLS only", r.stdout + r.stderr)
        self.assertEqual(self.rows("cti-interface", "get"), [])
        self.seed_setup()
        r = self.cli("cti-interface", "add", str(self.port), "true", "true", "true",
                     "127.0.0.1", ok=False)
        self.assertIn("exists already", r.stdout + r.stderr)
        self.assertIn(str(self.port), self.cli("show", "open", "ports").stdout)
        self.cli("cti-interface", "delete", str(self.port), "127.0.0.1")
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=2)
        self.assertEqual(self.rows("cti-interface", "get"), [])

    def test_server_certificate_and_ssl_update(self):
        self.seed_setup()
        iface = f"interface=cti-interface@127.0.0.1:{self.port}"
        rows = self.rows("tls", "cert", "get", iface)
        self.assertEqual(rows[0][1], "node certificate")  # issued by telgate's CA
        self.open(self.xsi(), "a")  # the client verified it against telgate's CA
        pki = Pki(self.dir)
        key, crt = pki.server("cti.example.net", 30)
        r = self.cli("cti-interface", "ssl-update", f"127.0.0.1:{self.port}", key, crt,
                     pki.ca_crt)
        self.assertIn("CN=cti.example.net", r.stdout)
        rows = self.rows("tls", "cert", "get", iface)
        self.assertEqual(rows[0][1], "interface override")
        # New connections get it: telgate's CA no longer verifies the server, its CA does.
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.xsi().connect()
        c = Client(self.port, self.client, pki.ca_crt)
        self.open(c, "b")
        r = self.cli("cti-interface", "ssl-update", "127.0.0.1:1", key, crt, ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no TLS listener", r.stdout + r.stderr)

    def handshake_fails(self, client, alert):
        with self.assertRaises((ssl.SSLError, ConnectionError)) as cm:
            s = client.connect()
            # TLS 1.3: the verdict on the certificate arrives after the handshake.
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            if not s.recv(1):
                raise ConnectionError("closed")
        if alert:
            self.assertIn(alert, str(cm.exception).lower().replace(" ", "_"))

    def test_tls_refusals(self):
        self.seed_setup()
        self.handshake_fails(Client(self.port, None, self.ca), "certificate_required")
        self.handshake_fails(self.xsi(self.stranger), "unknown_ca")
        self.handshake_fails(self.xsi(self.other), "bad_certificate")
        self.handshake_fails(self.xsi(version=ssl.TLSVersion.TLSv1_1), None)
        # allowClientApp false: no certificate is asked for, so no identity: 403.
        self.cli("tls", "set", "kind=cti-interface", "allowClientApp", "false")
        st, body = self.xsi().request("POST", ASYNC + "/channel",
                                      xml("Channel", channelSetId="s"))
        self.assertEqual(st, 403, body)
        self.assertIn("ErrorInfo", body)
        self.cli("tls", "set", "kind=cti-interface", "allowClientApp", "true")
        self.open(self.xsi(), "s")

    def test_scope_bodies_and_deleted_subscriber(self):
        self.seed_setup()
        c = self.xsi()
        ch = self.open(c, "set-1")
        st, body = c.subscribe("hschrader", "set-1")  # not in the group of the scope
        self.assertEqual(st, 403, body)
        self.assertIn("event=xsi_subscription_out_of_scope", self.d.log_text())
        self.assertEqual(c.subscribe("nobody", "set-1")[0], 404)
        for bad in ("<Channel", "<?xml version='1.0'?><!DOCTYPE a [<!ENTITY x 'y'>]><a/>",
                    "<Channel xmlns='urn:other'/>",
                    xml("Channel", channelSetId="x" * 20000),
                    xml("EventResponse", statusCode=200)):
            st, body = c.request("POST", EV + "/channel/eventresponse", bad)
            self.assertEqual(st, 400, bad[:80] + body)
        st, _ = c.request("POST", EV + "/channel/eventresponse", "<a>" + "x" * 70000 + "</a>")
        self.assertEqual(st, 413)
        # The daemon kept serving: the channel too.
        st, body = c.subscribe("swhite", "set-1")
        self.assertEqual(st, 200, body)
        self.cli("user", "delete", "swhite")
        e = ch.event()
        self.assertIn("xsi:SubscriptionTerminatedEvent", e)
        self.assertEqual(field(e, "targetId"), "swhite")
        self.assertEqual(dict(self.rows("cti-interface", "status"))["subscriptions"], "0")

    def test_consumer_that_falls_behind_is_cut_off(self):
        self.seed_setup()
        c = self.xsi()
        good = self.open(c, "good")
        slow = self.open(c, "slow")
        for s in ("good", "slow"):
            self.assertEqual(c.subscribe("jpinkman", s)[0], 200)
        # The slow set never acknowledges and stops reading; queue_max is 6.
        for i in range(8):
            self.cli("device", "state", "CSFJPINKMAN",
                     "in-service" if i % 2 == 0 else "out-of-service")
            e = good.event()
            self.assertEqual(c.ack(field(e, "eventID"))[0], 200)
        docs = []
        try:
            while True:
                docs.append(slow.doc(5))
        except EOFError:
            pass
        self.assertTrue(any("ChannelTerminatedEvent" in d and "queue full" in d for d in docs),
                        docs[-3:])
        self.assertIn("event=xsi_queue_full", self.d.log_text())
        self.cli("device", "state", "CSFJPINKMAN", "in-service")  # it was out of service
        self.assertEqual(field(good.event(), "sequenceNumber"), "9")

    # --- curl ------------------------------------------------------------------------------

    def test_curl_every_endpoint(self):
        self.seed_setup()
        base = f"https://127.0.0.1:{self.port}"
        cert, key = self.client

        def curl(method, path, body=None, stream=False):
            args = ["curl", "-sS", "--cacert", self.ca, "--cert", cert, "--key", key,
                    "-X", method, "-H", "Content-Type: application/xml",
                    "-w", "\n%{http_code}", base + path]
            if body is not None:
                args += ["--data-binary", body]
            if stream:
                args += ["-N", "--max-time", "3"]
            r = subprocess.run(args, capture_output=True, text=True, timeout=30)
            out, _, code = r.stdout.rpartition("\n")
            return code, out

        ch = self.open(self.xsi(), "curl-set")  # a channel to receive on
        code, out = curl("POST", ASYNC + "/channel",
                         xml("Channel", channelSetId="curl-set2", expires=60), stream=True)
        self.assertIn("<channelId>", out)
        self.assertIn("ChannelHeartBeat", out)
        code, out = curl("POST", EV + "/user/jpinkman",
                         xml("Subscription", event="Device State", expires=60,
                             channelSetId="curl-set", applicationId="curl"))
        self.assertEqual(code, "200", out)
        sub = field(out, "subscriptionId")
        self.cli("device", "state", "CSFJPINKMAN", "in-service")
        ev = field(ch.event(), "eventID")
        for method, path, body in (
                ("POST", EV + "/channel/eventresponse",
                 xml("EventResponse", eventID=ev, statusCode=200, reason="OK")),
                ("PUT", f"{EV}/channel/{ch.id}", xml("Channel", expires=120)),
                ("PUT", f"{EV}/channel/{ch.id}/heartbeat", None),
                ("PUT", f"{EV}/subscription/{sub}", xml("Subscription", expires=120)),
                ("DELETE", f"{EV}/subscription/{sub}", None),
                ("DELETE", f"{EV}/channel/{ch.id}", None)):
            code, out = curl(method, path, body)
            self.assertEqual(code, "200", f"{method} {path}: {out}")
        self.assertIn("ChannelTerminatedEvent", ch.event())


if __name__ == "__main__":
    test_daemon.main()
