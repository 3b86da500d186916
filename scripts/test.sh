#!/usr/bin/env bash
# Installs, builds and runs the whole test suite twice: a normal build and an
# AddressSanitizer + UndefinedBehaviorSanitizer build; then the tests of
# threads (iothreads, the worker pool, concurrent NBD clients) in a
# ThreadSanitizer build.  Ends with one line "N passed, N failed" over all.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1

status=0
run_suite() {
  local dir=$1; shift
  scripts/build.sh "$dir" "$@" || { status=1; return; }
  meson test -C "$dir" --num-processes 2 --print-errorlogs "${TESTS[@]}" || status=1
}

# Under ThreadSanitizer (about 1 minute on 2 cores): what runs on several threads.
TSAN_TESTS=(iothread loop-turn worker-pool io nbd-server test-iothread-exports test-driver-options
            test-nbd-concurrent test-io-uring test-job-iothread test-iothread-filters
            test-nbd-write-direct)

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TESTS=()
run_suite build
run_suite build-sanitize -Db_sanitize=address,undefined -Db_lundef=false
TESTS=("${TSAN_TESTS[@]}")
run_suite build-tsan -Db_sanitize=thread -Db_lundef=false

/usr/bin/python3 - build build-sanitize build-tsan <<'PY'
import json, sys
passed = failed = skipped = 0
for d in sys.argv[1:]:
    try:
        lines = open(f"{d}/meson-logs/testlog.json").read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
