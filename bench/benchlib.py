# SPDX-License-Identifier: ISC
"""bench/benchlib: what the Python benchmarks that start a telgated of their own share (the
OAuth ones: bench/oauth.py, oauth_callgrind.py, oauth_cpu.py): its ports, a scratch
directory it can read, and waiting until it is idle."""
import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from files import free_port, tree_cpu  # noqa: E402


def telgated_ports():
    """A free loopback port for each listener of bench/oauth.py's telgated.conf."""
    ports = {k: free_port() for k in ("admin", "cti", "http", "https", "est", "sip", "sip_tls")}
    ports["tftp"] = free_port(socket.SOCK_DGRAM)
    return ports


def tempdir(prefix):
    """A scratch directory that telgated (after it drops privileges) can read."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    os.chmod(tmp, 0o755)
    return tmp


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)


def wait_idle(pid, secs=2, limit=0.05):
    """Until pid's process tree used at most limit of a core over secs (at most 600 s): the
    start's work (CRL, trust lists) or a warm-up's tail must not land in a measurement."""
    last = tree_cpu(pid)
    for _ in range(300):
        time.sleep(secs)
        now = tree_cpu(pid)
        if now - last <= limit * secs:
            return
        last = now
