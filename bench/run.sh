#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Runs telgate's benchmarks against their peers on this machine, in one run, and prints
# the results and ratios. Installs what it needs (scripts/deps.sh), builds a release
# tree in build/bench. Not part of CI: numbers depend on the machine.
#   bench/run.sh              all benchmarks
#   bench/run.sh ldap_login   one of: ldap_login dir_enum cti_fanout register_vs_kamailio
#                             register_durable cluster
#                             tls_first_answer tls_grade tls_handshakes shtable files signer
#                             oauth_verify oauth est_enrol cloud_cti sip_bearer
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh >/dev/null
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DTELGATE_TESTS=OFF >/dev/null
cmake --build build/bench -j"$(nproc)" >/dev/null
which=${1:-all}
if [ "$which" = all ] || [ "$which" = ldap_login ]; then
	# seconds per side, logins in flight, users in the directory
	build/bench/bench/bench_ldap_login . "${SECONDS_PER_SIDE:-10}" "${CONCURRENCY:-8}" 1000
fi
if [ "$which" = all ] || [ "$which" = dir_enum ]; then
	build/bench/bench/bench_dir_enum . "${SAMPLES:-30}"
	# SIP digest: a wrong digest for a real digest user versus an unknown line or user name
	# (issue 13); tries per class, discarded warm-up, idle time before each try
	python3 bench/digest_enum.py build/bench --tries "${TRIES:-1000}" --warmup "${WARMUP:-300}" \
		--gap-us "${GAP_US:-0}"
fi
if [ "$which" = all ] || [ "$which" = register_vs_kamailio ]; then
	# build dir, seconds per rate step, users; `bench/run.sh register_vs_kamailio --quick`
	# is a short check that every server runs (2 s steps, four rates), not a measurement
	python3 bench/register_vs_kamailio.py build/bench "${STEP_SECONDS:-5}" 10000 "${@:2}"
fi
if [ "$which" = all ] || [ "$which" = cluster ]; then
	# issue 21, part 1: REGISTER per server-CPU-second with the store on PostgreSQL vs
	# SQLite (a temporary PostgreSQL 15 on this machine, tests/system/pg.py); part 2:
	# cross-node device-state latency p50/p99 under a 5,000-registration storm
	python3 bench/cluster.py build/bench --seconds "${STEP_SECONDS:-5}" --rate "${RATE:-500}"
fi
if [ "$which" = all ] || [ "$which" = register_durable ]; then
	# what "200 only once the binding is committed" costs: churn (new bindings and
	# removals) and refresh loads under SIPp; OLD_BUILD=dir compares
	python3 bench/register_durable.py build/bench ${OLD_BUILD:-} --seconds "${STEP_SECONDS:-5}" \
		--rates "${RATES:-500,1000,1500}"
fi
if [ "$which" = all ] || [ "$which" = sip_bearer ]; then
	# SIP OAuth (issue 19): bearer vs digest REGISTER over TLS (stunnel + SIPp, the same
	# scenario shape), registrations per server-CPU-second, first pass and refreshes
	python3 bench/sip_bearer.py build/bench --devices "${DEVICES:-10000}" --rate "${RATE:-400}"
fi
if [ "$which" = all ] || [ "$which" = cti_fanout ]; then
	# sessions, monitors per session, devices, storm threads
	build/bench/bench/bench_cti_fanout build/bench . "${SESSIONS:-10000}" 5 5000 4
fi
if [ "$which" = all ] || [ "$which" = tls_first_answer ]; then
	# the first answer on a new TLS connection (TCP_NODELAY); OLD_BUILD=dir compares
	python3 bench/tls_first_answer.py build/bench ${OLD_BUILD:-} --tries "${TRIES:-50}"
fi
if [ "$which" = all ] || [ "$which" = tls_grade ]; then
	# testssl.sh and sslscan against every TLS listener; fails on a weakness
	python3 bench/tls_grade.py build/bench
fi
if [ "$which" = all ] || [ "$which" = tls_handshakes ]; then
	# openssl s_time against CTI TLS, TLS 1.2 and 1.3: handshakes/s and telgated's CPU per
	# handshake; OLD_BUILD=dir compares
	python3 bench/tls_handshakes.py build/bench ${OLD_BUILD:-} --seconds "${SECONDS_PER_SIDE:-10}" \
		--runs "${RUNS:-3}"
fi
if [ "$which" = all ] || [ "$which" = shtable ]; then
	# the hash tables on the registrar's path: ns/op, then instructions/call (callgrind)
	build/bench/bench/bench_shtable "${KEYS:-10000}"
	bash bench/shtable_callgrind.sh build/bench "${KEYS:-10000}"
fi
if [ "$which" = all ] || [ "$which" = files ]; then
	# the device-file service (HTTP 6970, TFTP) versus dnsmasq, tftpd-hpa, atftpd and nginx.
	# The peers are not in scripts/deps.sh (CI does not run benchmarks): installed here if
	# missing, with a policy-rc.d that keeps their packaged services (nginx on 80, tftpd-hpa
	# on 69, which dnsmasq needs) from starting: the benchmark runs its own instances.
	# atftpd conflicts with tftpd-hpa as a package: files.py runs it from `apt-get download`
	# + `dpkg -x` in its temporary directory.
	need=()
	for p in dnsmasq-base tftpd-hpa nginx wrk; do
		[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
			need+=("$p")
	done
	if [ "${#need[@]}" -gt 0 ]; then
		policy=
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			policy=/usr/sbin/policy-rc.d
			printf '#!/bin/sh\nexit 101\n' >"$policy"
			chmod 755 "$policy"
		fi
		apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			"${need[@]}" >/dev/null
		[ -z "$policy" ] || rm -f "$policy"
	fi
	# seconds per run, runs per row (interleaved across servers: the median is printed)
	/usr/bin/python3 bench/files.py build/bench --seconds "${SECONDS_PER_SIDE:-5}" \
		--repeat "${REPEAT:-3}" ${RESULTS:+--results "$RESULTS"}
fi
if [ "$which" = all ] || [ "$which" = signer ]; then
	# certificates signed: bare OpenSSL, the local signer, the signer process (issue 17)
	build/bench/bench/bench_signer "${CERTS:-2000}" "${THREADS:-4}"
fi
if [ "$which" = all ] || [ "$which" = oauth_verify ]; then
	# access tokens (issue 18): cold ES256 verifies/s on one core against openssl speed's
	# ecdsap256 verify figure of the same run (goal >= 0.75x), and cached verifies/s
	build/bench/bench/bench_authz_verify "${SECONDS_PER_SIDE:-3}" "${TOKENS:-1000}"
fi
if [ "$which" = all ] || [ "$which" = oauth ]; then
	# the token service (issue 18) against oidc-provider (npm, pinned by
	# bench/oidc/package-lock.json, installed into bench/oidc/node_modules, not committed):
	# refresh grants/s and introspections/s per second and per server-CPU-second, then
	# bench_authz_verify's cold/cached verifies (bench/README.md)
	(cd bench/oidc && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	/usr/bin/python3 bench/oauth.py build/bench --conns "${CONNS:-16}" \
		--seconds "${SECONDS_PER_SIDE:-5}" --repeat "${REPEAT:-2}"
fi
if [ "$which" = all ] || [ "$which" = est_enrol ]; then
	# EST (issue 17): the CA step vs a bare OpenSSL loop, /simpleenroll end to end vs
	# openssl s_time, and SIP/CTI p99 during an enrolment storm (bench/README.md)
	/usr/bin/python3 bench/est_enrol.py build/bench --ca-certs "${CERTS:-2000}" \
		--enrolments "${ENROLMENTS:-3000}" --clients "${CLIENTS:-16}" \
		--storm "${STORM:-500}" --phase-seconds "${PHASE_SECONDS:-10}"
fi
if [ "$which" = all ] || [ "$which" = cloud_cti ]; then
	# the cloud CTI event interface (issue 20): channels (10,000: RSS), device-state changes
	# per second and seconds (latency p50/p99), set-up seconds (against openssl s_time on a
	# mutual-TLS openssl s_server), storm threads
	build/bench/bench/bench_cloud_cti build/bench "${CHANNELS:-10000}" "${RATE:-5000}" \
		"${SECONDS_PER_SIDE:-10}" "${SECONDS_PER_SIDE:-10}" "${THREADS:-4}"
fi
