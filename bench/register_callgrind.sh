#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Instructions per registration (REGISTER -> 401 -> REGISTER with digest -> 200) of
# telgated under callgrind, by function group (issue 22). telgated runs whole under
# valgrind (the engine and the signer are forks, followed); SIPp sends
# bench/sipp/register_rtd.xml over UDP (TRANSPORT=tcp: over one TCP connection; tls:
# SIPp's TCP through a local stunnel client to the SIP TLS port, as
# bench/register_vs_kamailio.py does: Debian's SIPp has no TLS). Three phases, counters zeroed before and dumped
# after each, over every process of the daemon (all threads: loop, workers, the location
# writer):
#   store  each line's first registration after the start: a new binding (worker path,
#          the 200 waits for the commit)
#   first  the same lines again: each line's first refresh (until d771d48 the start's
#          CRL check moved store_generation and sent these down the store path;
#          a new CRL number no longer does)
#   fast   the same lines once more: refreshes decided on the loop from the account cache
# Callgrind counts user-space instructions only: the kernel's side of a syscall is not
# in it (the syscall rows count the libc wrappers and how many calls were made).
# Usage: bench/register_callgrind.sh BUILD_DIR [LINES] [RATE]
#   KEEP=dir keeps the callgrind files and annotations there.
#   TRANSPORT=udp (default), tcp or tls.
#   CALLGRIND_OPTS="--cache-sim=yes" adds valgrind options; the groups stay instructions,
#   and KEEP's PHASE-events.txt lists every event (with --cache-sim, D1/LL misses).
set -euo pipefail
transport=${TRANSPORT:-udp}
build=$(cd "$1" && pwd)
n=${2:-300}
rate=${3:-20} # low, and -nr: no retransmission inflates the counts
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/tgcg.XXXXXX)
pw=Bench-Callgrind-1
# a port free for both UDP and TCP: the SIP port serves both
port=$(/usr/bin/python3 -c '
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        u.close(); t.close()
')

/usr/bin/python3 - "$tmp" "$n" "$pw" <<'EOF'
import json, sys
tmp, n, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = ["c%05d" % i for i in range(n)]
json.dump({"version": 1,
           "users": [{"userid": x, "directory": "local", "digestpassword": pw} for x in lines],
           "devices": [{"name": "SEPCG" + x.upper(), "owner": x, "lines": [x]} for x in lines]},
          open(f"{tmp}/prov.json", "w"))
with open(f"{tmp}/users.csv", "w") as f:
    f.write("SEQUENTIAL\n")
    for x in lines:
        f.write(f"{x};telgate;[authentication username={x} password={pw}];3600\n")
EOF
cat >"$tmp/telgated.conf" <<EOF
[core]
state_dir = $tmp/state
[log]
level = notice
target = file:$tmp/telgated.log
[cti]
port = 0
tls_port = 0
[admin]
http_port = 0
[files]
http_port = 0
tftp_port = 0
https_port = 0
[est]
port = 0
[sip]
address = 127.0.0.1
port = $port
tls_port = $([ "$transport" = tls ] && echo $((port + 1)) || echo 0)
edge_port = 0
challenge_sha256 = no
source_failures_max = 0
EOF

# The engine cannot be reached by callgrind_control (it is not dumpable: no ptrace, so no
# vgdb): its counters are zeroed by `telgate status` and dumped by `telgate show metrics`
# (their command handlers), before and after each phase.
# shellcheck disable=SC2086 # CALLGRIND_OPTS: words
valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.%p" --dump-instr=no ${CALLGRIND_OPTS:-} \
	--zero-before=cmd_status --dump-before=cmd_metrics \
	"$build/telgated" -c "$tmp/telgated.conf" --provision "$tmp/prov.json" \
	2>"$tmp/vg.err" &
vg=$!
cleanup() {
	kill "$vg" 2>/dev/null || true
	wait "$vg" 2>/dev/null || true
	if [ -n "${KEEP:-}" ]; then
		mkdir -p "$KEEP"
		cp -r "$tmp"/store "$tmp"/first "$tmp"/fast "$tmp"/*.txt "$KEEP"/ 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 600); do
	"$build/telgate" -c "$tmp/telgated.conf" status >/dev/null 2>&1 && break
	sleep 1
done
"$build/telgate" -c "$tmp/telgated.conf" status >/dev/null 2>&1 || {
	echo "telgated did not start" >&2
	cat "$tmp/vg.err" >&2
	exit 1
}
# The start's background work must not land in a phase: once the signer answers (under
# valgrind on a loaded machine that took ~6 minutes) the trust-list checker builds the
# lists (tl_provider.c: ~40M instructions) and the CRL check, retried every 30 s until
# then, publishes the first CRL (~3M): ~140,000 instructions per registration of
# whichever phase it fell in (the "first refresh at 2x the cached one" of earlier runs).
# Wait for the CRL (up to 15 minutes), then until the daemon's processes are idle.
tree_ticks() { # utime + stime of valgrind's process tree
	local pids=$vg kids all=$vg t=0 f
	while [ -n "$pids" ]; do
		kids=$(for q in $pids; do pgrep -P "$q" || true; done)
		all="$all $kids"
		pids=$kids
	done
	for q in $all; do
		f=$(cut -d')' -f2 "/proc/$q/stat" 2>/dev/null) || continue
		set -- $f
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}
for _ in $(seq 900); do
	[ -s "$tmp/state/pki/crl.pem" ] && break
	sleep 1
done
last=$(tree_ticks)
for _ in $(seq 120); do
	sleep 2
	now=$(tree_ticks)
	[ $((now - last)) -le 10 ] && break # under 5 % of a core
	last=$now
done
# tls: SIPp's TCP to a local stunnel client, which verifies telgated's certificate
target=127.0.0.1:$port
# SIPp's own port, the same in every phase: the Contact (and the Via) carry it, so the
# second and third phases refresh the first phase's bindings
lport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sippt=u1
[ "$transport" = udp ] || sippt=t1
if [ "$transport" = tls ]; then
	tport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	printf 'foreground = yes\npid =\ndebug = 0\n[sip]\nclient = yes\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\nCAfile = %s\nverifyChain = yes\ncheckHost = localhost\nsslVersionMin = TLSv1.2\n' \
		"$tport" $((port + 1)) "$tmp/state/pki/ca.crt" >"$tmp/stunnel.conf"
	stunnel4 "$tmp/stunnel.conf" >/dev/null 2>&1 &
	st=$!
	trap 'kill $st 2>/dev/null || true; cleanup' EXIT
	sleep 1
	target=127.0.0.1:$tport
fi
phase() { # name: one pass over the lines, counted
	local name=$1
	"$build/telgate" -c "$tmp/telgated.conf" status >/dev/null
	sipp -nostdin -sf "$here/sipp/register_rtd.xml" -inf "$tmp/users.csv" -t "$sippt" -p "$lport" -nr \
		-r "$rate" -m "$n" -l 1000 -recv_timeout 20000 -timeout 600 -timeout_error \
		-trace_stat -fd 1 "$target" >/dev/null 2>&1 || true
	local ok
	ok=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="SuccessfulCall(C)") c=i} END{print $c}' \
		"$tmp"/register_rtd_*_.csv)
	rm -f "$tmp"/register_rtd_*_.csv
	sleep 1 # the writer's commit and the held 200s
	# the metrics dump the counters before they are written (cmd_metrics), then say how
	# many REGISTERs came (retransmissions would inflate the per-registration numbers)
	"$build/telgate" -c "$tmp/telgated.conf" show metrics >"$tmp/$name.metrics"
	local reqs
	reqs=$(awk '/^telgate_sip_requests_total\{method="REGISTER"\}/ {print $2}' "$tmp/$name.metrics")
	echo "$reqs" >"$tmp/$name.reqs"
	mkdir "$tmp/$name"
	mv "$tmp"/cg.*.* "$tmp/$name"/
	callgrind_annotate --show=Ir --inclusive=no --auto=no --threshold=100 "$tmp/$name"/cg.* \
		>"$tmp/$name.txt" 2>/dev/null
	callgrind_annotate --show=Ir --inclusive=yes --auto=no --threshold=100 "$tmp/$name"/cg.* \
		>"$tmp/$name-incl.txt" 2>/dev/null
	if [ -n "${CALLGRIND_OPTS:-}" ]; then # every event recorded (e.g. the cache misses)
		callgrind_annotate --inclusive=no --auto=no --threshold=100 "$tmp/$name"/cg.* \
			>"$tmp/$name-events.txt" 2>/dev/null
	fi
	local before=0
	[ -n "${prev:-}" ] && before=$(cat "$tmp/$prev.reqs")
	echo "== $name: $ok registrations (of $n), $((${reqs%.*} - ${before%.*})) REGISTER requests =="
	/usr/bin/python3 "$here/register_callgrind_groups.py" "$tmp/$name.txt" "$ok" \
		--inclusive "$tmp/$name-incl.txt"
}

( cd "$tmp" && phase store )
( cd "$tmp" && prev=store phase first )
( cd "$tmp" && prev=first phase fast )
