#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Sums a callgrind_annotate --inclusive=no listing by function group and prints the
instructions per registration (bench/register_callgrind.sh).

  register_callgrind_groups.py ANNOTATION REGISTRATIONS [--top N] [--inclusive ANNOTATION]

With --inclusive (callgrind_annotate --inclusive=yes), also the inclusive cost of the
request path's entry points: what the loop spends per datagram (on_udp), the parse, the
worker's decision (reg_run), the answers.
"""
import re
import sys

# First match wins: (group, pattern over "file:function [object]").
GROUPS = [
    ("logging", r"core/log\.c|vfprintf|printf_positional|__printf|_IO_|strftime|localtime"),
    ("nonce MAC, nc cache", r"hmac|HMAC|crypto_auth|sip/nonce|blake2|siphash|sodium"),
    ("digest", r"sip/digest\.c|md5|MD5|sha256|SHA256|sha512|EVP_Digest|ossl_|EVP_|"
               r"libcrypto"),
    ("parse (libosip2 + msg.c)", r"libosip|osip_|__osip|parser_|sip/msg\.c|sip/sipfast"),
    ("response build", r"sip/reg_reply\.c|sip_response|sip_reg_answer"),
    ("transactions", r"sip/txn\.c"),
    ("location + store", r"sip/location\.c|core/shtable\.c|sip/commitq\.c|store/|sqlite"),
    ("register logic", r"sip/register\.c|sip/registrar\.c|sip/authz\.c|sip/accounts\.c|"
                       r"sip/charge\.c|core/ratelimit\.c"),
    ("transport + loop", r"sip/transport\.c|core/udp\.c|core/stream|core/loop\.c|"
                         r"core/worker\.c|core/ptimer\.c|libevent|event_|evbuffer|"
                         r"bufferevent|evmap|epoll"),
    ("allocation", r"malloc|free|calloc|realloc|_int_|tcache|arena|sysmalloc|"
                   r"unlink_chunk|mremap|mmap|brk"),
    ("syscall wrappers", r"recvmsg|sendmsg|recvmmsg|sendmmsg|epoll_wait|__libc_write|"
                         r"__libc_read|writev|futex|syscall|clock_gettime|"
                         r"__GI___clock|pthread_cond|pthread_mutex|lll_"),
    ("libc string/memory", r"str|mem|tolower|toupper|isspace|isdigit|ctype|libc\.so"),
]


def main():
    path, regs = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 12
    sums = {g: 0 for g, _ in GROUPS}
    sums["other"] = 0
    rows = []
    total = 0
    lines = open(path, errors="replace").read().splitlines()
    for ln in lines:
        m = re.match(r"\s*([\d,]+)\s.*PROGRAM TOTALS", ln)
        if m:
            total = int(m.group(1).replace(",", ""))
    for ln in lines:
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$", ln)
        if not m or ":" not in m.group(2) or "PROGRAM TOTALS" in m.group(2):
            continue
        ir, name = int(m.group(1).replace(",", "")), m.group(2)
        # A frame on a thread's stack when the counters were zeroed (the loops'
        # loop_run, start_thread, ...) is listed with what ran below it: no function
        # has half of the self cost.
        if ir > total // 2 or re.search(r":(clone|start_thread|loop_run|thread_main|"
                                        r"\(below main\)|main|__libc_start_main\S*) ", name):
            continue
        rows.append((ir, name))
        for g, pat in GROUPS:
            if re.search(pat, name):
                sums[g] += ir
                break
        else:
            sums["other"] += ir
    sums["below the listing threshold"] = total - sum(sums.values())
    if regs <= 0:
        print("no registration succeeded")
        return
    print(f"{'group':28} {'Ir/registration':>16} {'share':>6}")
    for g, v in sorted(sums.items(), key=lambda x: -x[1]):
        if v:
            print(f"{g:28} {v // regs:16,d} {100 * v / total:5.1f}%")
    print(f"{'total':28} {total // regs:16,d}")
    if "--inclusive" in sys.argv:
        incl = sys.argv[sys.argv.index("--inclusive") + 1]
        bg = background(incl)
        print(f"{'background (not requests)':28} {bg // regs:16,d}")
        print(f"{'total without background':28} {(total - bg) // regs:16,d}")
        inclusive(incl, regs)
    print(f"top {top} functions (Ir/registration):")
    for ir, name in sorted(rows, reverse=True)[:top]:
        print(f"  {ir // regs:10,d}  {name[:100]}")


# Entry points of the request path, by function name.
ENTRIES = ["on_udp", "handle", "sip_req_parse", "sip_fast_parse", "sip_req_parse_full",
           "sip_reg_fast", "reg_run", "sip_reg_answer", "sip_response", "deliver",
           "sip_txn_key", "worker_main"]


# Threads and jobs of the daemon that run whatever the requests do (their inclusive cost
# is left out of "total without background"): the trust-list checker (every 10 s once the
# signer answers, ~3.3M instructions a check), the CRL check (a worker job), and the
# engine's main thread (its loop under main: the control socket's commands, this
# script's own `telgate status` among them, the admin and timers; ~5,000 instructions
# per registration at 20/s, ~1.5M a phase, charged to the requests before; no SIP
# request is handled there: the SIP loops are threads). "???:" in a build without debug
# information (Release). None of them runs inside another, so the sum counts nothing
# twice.
BACKGROUND = [r"(?:ca/tl_provider\.c|\?\?\?):checker ", r"(?:telgated\.c|\?\?\?):crl_check_run ",
              r"(?:telgated\.c|\?\?\?):main "]


def background(path):
    got = {}
    for ln in open(path, errors="replace"):
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$", ln)
        if not m:
            continue
        for b in BACKGROUND:
            if b not in got and re.search(b, m.group(2)):
                got[b] = int(m.group(1).replace(",", ""))
    return sum(got.values())


def inclusive(path, regs):
    got = {}
    for ln in open(path, errors="replace"):
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?\S*:(\w+) \[", ln)
        if m and m.group(2) in ENTRIES and m.group(2) not in got:
            got[m.group(2)] = int(m.group(1).replace(",", ""))
    print("inclusive, per registration (request path entry points):")
    for e in ENTRIES:
        if e in got:
            print(f"  {e:20} {got[e] // regs:12,d}")


if __name__ == "__main__":
    main()
