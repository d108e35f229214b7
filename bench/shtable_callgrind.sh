#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# Instructions per operation of the registrar's hash tables (bench_shtable under
# callgrind, counted only inside the measured functions, so the location writer's store
# work is left out). Usage: bench/shtable_callgrind.sh BUILD_DIR [KEYS]
set -euo pipefail
build=$1
n=${2:-10000}
out=$(mktemp -d)
fns=(sip_loc_update sip_loc_list sip_loc_counts sip_accounts_put sip_accounts_get
     conncap_acquire conncap_release)
args=()
for f in "${fns[@]}"; do args+=(--toggle-collect="$f"); done
valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" "${args[@]}" \
	"$build/bench/bench_shtable" "$n" >/dev/null 2>"$out/vg.err" || { cat "$out/vg.err"; exit 1; }
# Inclusive counts of each measured function, divided by its number of calls (for
# sip_loc_counts, one sweep: by the number of keys swept).
callgrind_annotate --inclusive=yes --threshold=100 "$out/cg.out" 2>/dev/null >"$out/ann.txt"
for f in "${fns[@]}"; do
	ir=$(awk -v f="$f" '$0 ~ "[:/ ]" f " " || $0 ~ ":" f "$" || $0 ~ ":" f " " {gsub(",", "", $1); print $1; exit}' "$out/ann.txt")
	calls=$n
	case $f in conncap_*) calls=$((2 * n)) ;; sip_loc_update) calls=$((2 * n)) ;; sip_loc_counts) calls=$n ;; esac
	printf '%-18s %12s Ir %10s Ir/call\n' "$f" "${ir:-?}" "$([ -n "${ir:-}" ] && echo $((ir / calls)) || echo ?)"
done
rm -rf "$out"
