#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Builds telgated and starts it in the foreground with its embedded defaults: SQLite store
# and generated CA in /var/lib/telgate (or $TELGATE_STATE_DIR), the local directory, and
# the demo provisioning from examples/demo.json. Stop it with Ctrl-C. In another shell:
#   ./build/release/telgate status
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTELGATE_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)"
args=(--provision examples/demo.json)
if [ -n "${TELGATE_STATE_DIR:-}" ]; then
	conf=$(mktemp /tmp/telgated.XXXXXX.conf)
	printf '[core]\nstate_dir = %s\n' "$TELGATE_STATE_DIR" >"$conf"
	args=(-c "$conf" "${args[@]}")
	echo "control socket: $TELGATE_STATE_DIR/telgated.sock (telgate -s PATH ...)"
fi
exec ./build/release/telgated "${args[@]}"
