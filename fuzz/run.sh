#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the libFuzzer harnesses with clang (ASan + UBSan, the whole tree
# with coverage) in build-fuzz/ and runs each for a number of executions:
#
#   fuzz/run.sh [--keep-going] RUNS [HARNESS...]
#
# HARNESS: nbd-proto qcow2-header xml-blockdev xml-reopen xml-export config
# (default: all, one after the other).  Each starts from its seed corpus
# fuzz/corpus/HARNESS plus what earlier runs found (build-fuzz/corpus/HARNESS)
# and prints executions, coverage (edges, features), corpus size and crashes;
# crash, leak, timeout and out-of-memory inputs land in build-fuzz/crashes/
# (inputs slower than 10 s too, as slow-unit-*, not counted as crashes).  --keep-going runs libFuzzer's
# fork mode, which goes on after a crash or timeout.  FUZZ_MAX_TIME=SECONDS
# stops each harness after that long even if RUNS are not done.
# FUZZ_FORKS=N (with --keep-going) runs N child processes at once, to use
# more than one core.  FUZZ_FLAGS adds libFuzzer flags (e.g.
# -entropic_feature_frequency_threshold=32: docs/fuzzing.md).  Runs under
# nice -n 19.
set -euo pipefail
cd "$(dirname "$0")/.."
keep_going=
if [ "${1:-}" = --keep-going ]; then keep_going=1; shift; fi
runs=${1:?usage: fuzz/run.sh [--keep-going] RUNS [HARNESS...]}; shift
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(nbd-proto qcow2-header xml-blockdev xml-reopen xml-export config)
build=${FUZZ_BUILD:-build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
  CC=clang meson setup "$build" -Dfuzzers=true -Dtests=false \
    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
nice -n 19 ninja -C "$build" $(printf 'fuzz/fuzz-%s ' "${harnesses[@]}") >/dev/null

# A quarantine of 64 MiB instead of 256 (freed memory stays poisoned for
# 64 MiB of frees, far more than one input frees): two to three times faster
# with the graph and qcow2 harnesses, whose allocations otherwise keep landing
# on fresh pages.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:quarantine_size_mb=64}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
printf '%-14s %12s %8s %8s %8s %8s %s\n' harness executions edges features corpus crashes status
for h in "${harnesses[@]}"; do
  work=$build/corpus/$h crashes=$build/crashes
  log=$build/fuzz-$h.log
  mkdir -p "$work" "$crashes"
  args=(-runs="$runs" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1
        -artifact_prefix="$crashes/$h-")
  [ -n "${FUZZ_MAX_TIME:-}" ] && args+=(-max_total_time="$FUZZ_MAX_TIME")
  case $h in xml-*|config) args+=(-dict=fuzz/xml.dict);; esac
  # shellcheck disable=SC2206
  [ -n "${FUZZ_FLAGS:-}" ] && args+=($FUZZ_FLAGS)
  [ -n "$keep_going" ] && args+=(-fork=${FUZZ_FORKS:-1} -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  status=ok
  nice -n 19 "$build/fuzz/fuzz-$h" "${args[@]}" "$work" "fuzz/corpus/$h" >"$log" 2>&1 || status="failed (see $log)"
  # Final stats: "#N DONE cov: E ft: F corp: C/..." (fork mode: the last "#N" line).
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: //p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(echo "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
  edges=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
  corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
  found=$(find "$crashes" -name "$h-*" ! -name "$h-slow-unit-*" | wc -l)
  printf '%-14s %12s %8s %8s %8s %8s %s\n' "$h" "${execs:-?}" "${edges:-?}" "${ft:-?}" "${corp:-?}" "$found" "$status"
done
