#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Install every Debian package that building, testing and benchmarking telgate needs.
# Idempotent: packages already present are detected with dpkg-query, and apt-get update
# runs only when something is missing. Must run as root (or with sudo available).
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  # libraries the daemon links
  libevent-dev libssl-dev libsqlite3-dev libinih-dev libjansson-dev libsodium-dev
  # nettle: the SIP digest's MD5 (src/sip/digest.c)
  nettle-dev
  libldap-dev libxml2-dev libosip2-dev libhttp-parser-dev libpq-dev
  # optional: the signer process's system-call filter
  libseccomp-dev
  # tests and tools used by tests
  libcmocka-dev sqlite3 python3 procps openssl curl
  # TFTP clients for the device-file tests: tftp-hpa's tftp (plain RFC 1350) and atftp (options)
  tftp-hpa atftp
  # the EST test's second client: strongSwan's pki --est (with the extra plugins, as tested);
  # its key generation needs the openssl plugin, which is in the standard plugins (only a
  # Recommends of libstrongswan: not installed when recommends are off)
  strongswan-pki libstrongswan-standard-plugins libstrongswan-extra-plugins
  # the Prometheus text-format parser the metrics test reads /metrics with
  python3-prometheus-client
  # PyJWT: the independent verifier of the daemon's access tokens (tests/system/test_oauth_jwt.py,
  # tests/system/test_oauth.py)
  python3-jwt
  # a real PostgreSQL 15 for the store's postgres backend tests (tests/system/pg.py runs its
  # own server in a temporary directory as the user telgatepg, created below)
  postgresql-15
  # a real OpenLDAP server and its tools for the directory tests and benchmarks
  slapd ldap-utils
  # SIP peers for the registrar's tests
  sip-tester sipsak sipvicious
  # Debian's SIPp has no TLS: stunnel carries its TCP over (mutual) TLS in tests and benchmarks
  stunnel4
  # fail2ban-regex checks the shipped filter against telgated's log
  fail2ban
  # the benchmark peer of the registrar (with its TLS module for the TLS comparison)
  kamailio kamailio-tls-modules
  # Kamailio (b) of the registrar benchmark persists its bindings to SQLite (db_sqlite)
  kamailio-sqlite-modules
  # instruction counts of the hash-table benchmark (bench/run.sh shtable)
  valgrind
  # outside graders of every TLS listener (bench/tls_grade.py, the slow system test)
  testssl.sh sslscan
)

missing=()
for p in "${PKGS[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

# initdb and postgres refuse to run as root (CI runs as root): the PostgreSQL tests run
# them as this unprivileged system user. Idempotent like the packages.
ensure_pg_user() {
  id telgatepg >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -eq 0 ]; then
    useradd --system --no-create-home --shell /usr/sbin/nologin telgatepg
  elif command -v sudo >/dev/null 2>&1; then
    sudo useradd --system --no-create-home --shell /usr/sbin/nologin telgatepg
  else
    echo "deps: need root to create the user telgatepg" >&2
    return 1
  fi
  echo "deps: created user telgatepg (runs the test PostgreSQL servers)"
}

if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  ensure_pg_user
  exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deps: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

# Some packages start a service on install (Kamailio on 5060, fail2ban with its default sshd
# jail, slapd on 389). telgate's tests and benchmarks run their own instances on free
# ports; the packaged services are not wanted, so the ones installed just now are stopped
# and disabled. Services that were installed before are left alone.
if command -v systemctl >/dev/null 2>&1; then
  for svc in kamailio fail2ban slapd postgresql; do
    for p in "${missing[@]}"; do
      # postgresql-15's service is "postgresql" (the tests start their own servers)
      if [ "$p" = "$svc" ] || { [ "$svc" = postgresql ] && [ "$p" = postgresql-15 ]; }; then
        $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
      fi
    done
  done
fi

ensure_pg_user
