#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, address+undefined sanitizers) in
# build-fuzz/ and runs each for a while over its corpus in tests/fuzz/corpus.
#
#   scripts/fuzz.sh                 a short, repeatable run of each (what the
#                                   test command runs: a fixed seed and a
#                                   fixed number of executions, ~20 s each)
#   scripts/fuzz.sh -runs=10000000  a campaign: 10 million executions each
#   FUZZ_REPORTS=DIR scripts/fuzz.sh  also writes DIR/fuzz-<target>.json
#
# New inputs go to a temporary corpus, never into the repository; a crash
# leaves its input in build-fuzz/artifacts/. Exits non-zero on any finding.
set -uo pipefail
cd "$(dirname "$0")/.."
targets=(http_request manifest route cloudevent)
# Short runs: executions per target (its speed under ASan differs a lot).
declare -A short_runs=([http_request]=500000 [manifest]=15000 [route]=200000 [cloudevent]=300000)

build_failed() {
  for t in "${targets[@]}"; do
    [ -n "${FUZZ_REPORTS:-}" ] && echo '{"tests": 1, "failures": 1, "testsuites": []}' >"$FUZZ_REPORTS/fuzz-$t.json"
  done
  exit 1
}
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang-14 CXX=clang++-14 meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    >/dev/null || build_failed
fi
ninja -C build-fuzz -j2 >/dev/null || { ninja -C build-fuzz -j1 2>&1 | tail -30; build_failed; }

mkdir -p build-fuzz/artifacts
status=0
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  log=build-fuzz/fuzz_$t.log
  start=$(date +%s)
  if [ $# -gt 0 ]; then
    limit=("$@")
  else
    limit=(-seed=1 -runs="${short_runs[$t]}" -max_total_time=90)
  fi
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    "build-fuzz/tests/fuzz/fuzz_$t" "$work" "tests/fuzz/corpus/$t" "${limit[@]}" -rss_limit_mb=2048 -timeout=10 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix=build-fuzz/artifacts/"$t"- >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  echo "fuzz_$t: exit $rc, ${runs:-0} executions in $(( $(date +%s) - start )) s"
  if [ $rc -ne 0 ]; then
    status=1
    tail -40 "$log"
  fi
  if [ -n "${FUZZ_REPORTS:-}" ]; then
    echo "{\"tests\": 1, \"failures\": $([ $rc -eq 0 ] && echo 0 || echo 1), \"testsuites\": []}" \
      >"$FUZZ_REPORTS/fuzz-$t.json"
  fi
  rm -rf "$work"
done
exit $status
