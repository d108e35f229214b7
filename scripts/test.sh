#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Builds telgate and runs every test: unit and system tests with gcc, with clang, and with
# AddressSanitizer + UndefinedBehaviorSanitizer, then each libFuzzer target for
# FUZZ_SECONDS (default 30). Installs what it needs first (scripts/deps.sh).
# Ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh || exit 1

JOBS=$(nproc)
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
passed=0
failed=0
failures=()

# suite NAME yes|no CMAKE_ARGS...: configures, builds and runs ctest in build/NAME; adds
# ctest's counts to the totals. "yes" also runs the tests labelled "slow" (the outside TLS
# graders) after the others: they run in one build only, the others in every build.
suite() {
	local name=$1 slow=$2
	shift 2
	echo "=== $name: configure and build"
	if ! cmake -S . -B "build/$name" "${PYTHON_ARG[@]}" "$@" >"build-$name.log" 2>&1 ||
		! cmake --build "build/$name" -j"$JOBS" >>"build-$name.log" 2>&1; then
		cat "build-$name.log"
		failed=$((failed + 1))
		failures+=("$name: build")
		return
	fi
	local labels=("-LE slow")
	[ "$slow" = yes ] && labels+=("-L slow")
	local sel out total bad
	for sel in "${labels[@]}"; do
		echo "=== $name: ctest $sel"
		# shellcheck disable=SC2086 # $sel is two words: the option and the label
		out=$(cd "build/$name" && ctest --output-on-failure -j2 $sel 2>&1)
		echo "$out"
		total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p' <<<"$out")
		bad=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1/p' <<<"$out")
		if [ -z "$total" ]; then
			failed=$((failed + 1))
			failures+=("$name: ctest $sel did not finish")
			continue
		fi
		passed=$((passed + total - bad))
		failed=$((failed + bad))
		[ "$bad" -eq 0 ] || failures+=("$name: $bad test(s) ($sel)")
	done
}

mkdir -p build
# The system tests import Debian's python3-* packages (deps.sh): run them with Debian's
# Python even when another python3 (pyenv, a venv) comes first in PATH.
PYTHON_ARG=()
[ -x /usr/bin/python3 ] && PYTHON_ARG=(-DPython3_EXECUTABLE=/usr/bin/python3)
suite gcc yes -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo
suite clang no -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	suite asan no -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DTELGATE_SANITIZE=ON

if [ "$FUZZ_SECONDS" -gt 0 ]; then
	echo "=== fuzz: build"
	if cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
		-DTELGATE_FUZZ=ON -DTELGATE_TESTS=OFF >build-fuzz.log 2>&1 &&
		cmake --build build/fuzz -j"$JOBS" >>build-fuzz.log 2>&1; then
		# fuzz/targets.txt: the one list of targets, shared with fuzz/CMakeLists.txt.
		for t in $(grep -E '^[a-z_]+$' fuzz/targets.txt); do
			echo "=== fuzz_$t: ${FUZZ_SECONDS}s"
			work=$(mktemp -d)
			cp fuzz/corpus/$t/* "$work/"
			# A sanitizer report ends the run with an error (halt_on_error), so the
			# target fails; grep as well in case a report was printed and recovered.
			if ASAN_OPTIONS=halt_on_error=1:abort_on_error=1 \
				UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
				build/fuzz/fuzz/fuzz_$t -max_total_time="$FUZZ_SECONDS" -max_len=65536 \
				-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
				-artifact_prefix="build/fuzz/$t-" "$work" >"build/fuzz/$t.log" 2>&1 &&
				! grep -q 'runtime error:\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer' \
					"build/fuzz/$t.log"; then
				passed=$((passed + 1))
				tail -n 3 "build/fuzz/$t.log"
			else
				failed=$((failed + 1))
				failures+=("fuzz_$t")
				tail -n 60 "build/fuzz/$t.log"
			fi
			rm -rf "$work"
		done
	else
		cat build-fuzz.log
		failed=$((failed + 1))
		failures+=("fuzz: build")
	fi
fi
rm -f build-*.log

for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
