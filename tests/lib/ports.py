# SPDX-License-Identifier: ISC
"""Ports for the listeners of test daemons and their helpers (telgated, slapd, PostgreSQL,
the TLS graders): one registry shared by every test process on the machine."""
import fcntl
import json
import os
import random
import socket


PORTS_LOCK = "/tmp/telgate-test-ports.lock"
PORTS_FILE = "/tmp/telgate-test-ports.json"


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def free_port(kind="tcp", top=None):
    """A port for a listener of a test daemon: free on 127.0.0.1 for TCP *and* UDP (SIP
    binds both on its port; TFTP's pooled transfer sockets hold ephemeral UDP ports),
    taken from 20000..32767, below the kernel's ephemeral range (32768-60999), so that no
    socket bound to port 0 (a client, a pooled TFTP socket) can take it meanwhile, and
    reserved for this test process in a shared registry, so that two test processes run
    in parallel (ctest -j) never pick the same port: telgated's listeners use SO_REUSEPORT,
    and two daemons on one port would share its connections silently. kind is kept for
    the callers' clarity; top (<= 32767 or above) still bounds the choice."""
    hi = min(top or 32767, 32767)
    with open(PORTS_LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(PORTS_FILE) as f:
                reserved = {int(k): v for k, v in json.load(f).items()}
        except (OSError, ValueError):
            reserved = {}
        reserved = {p: pid for p, pid in reserved.items() if _alive(pid)}
        for _ in range(5000):
            p = random.randint(20000, hi)
            if p in reserved:
                continue
            try:
                with socket.socket(type=socket.SOCK_STREAM) as t, \
                        socket.socket(type=socket.SOCK_DGRAM) as u:
                    t.bind(("127.0.0.1", p))
                    u.bind(("127.0.0.1", p))
            except OSError:
                continue
            reserved[p] = os.getpid()
            with open(PORTS_FILE + ".tmp", "w") as f:
                json.dump(reserved, f)
            os.replace(PORTS_FILE + ".tmp", PORTS_FILE)
            return p
    raise AssertionError("no free port in 20000..%d" % hi)
