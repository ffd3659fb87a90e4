#!/usr/bin/env bash
# Sets up the machine (Debian packages), builds libofn, runs every test suite
# and ends with one line: "N passed, N failed". Exits non-zero on any failure.
#
#   scripts/test.sh               build/ and build-asan/ (address+undefined)
#   OFN_SANITIZE=0 scripts/test.sh   skip the sanitizer build
#   OFN_FUZZ=0 scripts/test.sh       skip the short fuzzing runs
#   OFN_TSAN=0 scripts/test.sh       skip the thread sanitizer build
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

REPORTS=$(mktemp -d)
# Each section's header says when it started (seconds into the run).
phase() { echo "== $1 (+${SECONDS}s)"; }
trap 'rm -rf "$REPORTS"' EXIT
status=0

build() {  # dir, extra meson args...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$REPORTS/$dir-setup.log" 2>&1 || { cat "$REPORTS/$dir-setup.log"; return 1; }
  fi
  ninja -C "$dir" -j2 >"$REPORTS/$dir-build.log" 2>&1 || { tail -50 "$REPORTS/$dir-build.log"; return 1; }
}

run_gtests() {  # dir, report prefix
  local dir=$1 prefix=$2
  for t in "${gtests[@]}"; do
    local exe="$dir/tests/$t" args=()
    # Built only with the containerd backend (meson option containerd).
    [ "$t" = containerd_test ] && [ ! -x "$exe" ] && continue
    [ "$t" = store_crash_test ] && args=(--child="$dir/tests/store_crash_child")
    touch "$REPORTS/$prefix$t.expected"
    phase "$prefix$t"
    OFN_SOURCE_ROOT=$ROOT OFN_BUILD_ROOT=$ROOT/$dir timeout 900 "$exe" --gtest_brief=1 \
      --gtest_output="json:$REPORTS/$prefix$t.json" "${args[@]}" || { status=1; touch "$REPORTS/$prefix$t.exit"; }
  done
}

# The main build is a release build (-O3, warnings as errors, as packagers
# and benchmarks build it) when the test script sets it up; the asan build
# is the debug one (-O0). Two cores make compiling most of a CI run, so the
# sanitizer builds keep line tables only (-g1: stack traces name files and
# lines; full debug info doubled the time of the largest files).
# The sanitizer builds compile in the background at the lowest priority,
# one core each, while the main suites run: those mostly wait on servers
# and clocks, and keep the CPU whenever they need it. Each background build
# leaves its exit status in $REPORTS/<name>.status.
#   tsan:    ThreadSanitizer over the data plane, the activator, the
#            autoscaler and the async runtime (g++ 12 warns that it cannot
#            instrument atomic_thread_fence, which Asio uses: -Wno-tsan;
#            TSan still checks everything else), without the containerd
#            backend's generated gRPC code; -O1;
#   asan:    address + undefined, every gtest suite.
tsan_tests=(gateway_test scale_test revisions_test platform_test events_test build_test)
gtests=(spec_test store_test build_test backend_test events_test common_test route_test scale_test gateway_test socket_reads_test
  platform_test revisions_test process_test store_crash_test containerd_test)
background_build() {  # name, dir, nice, jobs, targets (comma separated, "" = all), meson args...
  local name=$1 dir=$2 niceness=$3 jobs=$4 targets=$5; shift 5
  local rc=0
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$REPORTS/$name-setup.log" 2>&1 || rc=1
  fi
  if [ $rc = 0 ]; then
    # shellcheck disable=SC2086
    nice -n "$niceness" ninja -C "$dir" -j"$jobs" ${targets//,/ } >"$REPORTS/$name-build.log" 2>&1 || rc=1
  fi
  echo $rc >"$REPORTS/$name.status"
  echo "$SECONDS" >"$REPORTS/$name.finished"
  return $rc
}
tsan_build() {  # nice, jobs
  local t targets=examples/hello-world.so
  for t in "${tsan_tests[@]}"; do targets+=",tests/$t"; done
  background_build tsan build-tsan "$1" "$2" "$targets" -Db_sanitize=thread "-Dcpp_args=-Wno-tsan -O1 -g1" \
    -Dbuildtype=debugoptimized -Dcontainerd=disabled
}
# The asan build holds what its run uses: the gtest suites and the programs
# and modules they start or load (not the bindings, benches or the C test,
# which the release run covers).
asan_build() {  # nice, jobs
  local t targets=examples/hello-world.so,tests/ce-echo.so,tests/store_crash_child,libofn/ofn,libofn/ofn-shim
  for t in "${gtests[@]}"; do [ "$t" = containerd_test ] || targets+=",tests/$t"; done
  background_build asan build-asan "$1" "$2" "$targets" -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debug -Dcpp_args=-g1
  # containerd_test exists only where the containerd backend is configured.
  if [ "$(cat "$REPORTS/asan.status")" = 0 ] && ninja -C build-asan -t query tests/containerd_test >/dev/null 2>&1; then
    nice -n "$1" ninja -C build-asan -j"$2" tests/containerd_test >>"$REPORTS/asan-build.log" 2>&1 ||
      echo 1 >"$REPORTS/asan.status"
    echo "$SECONDS" >"$REPORTS/asan.finished"
  fi
}
# A background build its suite now waits for: its one-job, lowest-priority
# ninja is interrupted (what it compiled stays) and the build is finished
# here with both cores, which the suites that ran meanwhile no longer need.
finish_build() {  # pid of the background build, its builder function
  pkill -INT -P "$1" -x ninja 2>/dev/null
  wait "$1"
  "$2" 0 2
}
# The log of a failed background build.
show_failure() {  # name
  cat "$REPORTS/$1-setup.log" 2>/dev/null
  tail -50 "$REPORTS/$1-build.log" 2>/dev/null
}

bg_asan=; bg_tsan=
if build build --buildtype=release; then
  phase "release build ready"
  if [ "${OFN_SANITIZE:-1}" != 0 ]; then asan_build 19 1 & bg_asan=$!; fi
  if [ "${OFN_TSAN:-1}" != 0 ]; then tsan_build 19 1 & bg_tsan=$!; fi
  run_gtests build ""
  phase python
  touch "$REPORTS/python.expected"
  OFN_SOURCE_ROOT=$ROOT OFN_BUILD_ROOT=$ROOT/build \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python --junitxml="$REPORTS/python.xml" || status=1
else
  echo "build failed"; touch "$REPORTS/build.expected"; status=1
fi

# Short, repeatable fuzzing runs (fixed seed and execution counts) over the
# committed corpora; campaigns run by hand (scripts/fuzz.sh -runs=N).
if [ "${OFN_FUZZ:-1}" != 0 ]; then
  phase "fuzz (short runs)"
  FUZZ_REPORTS=$REPORTS bash scripts/fuzz.sh || status=1
fi

if [ "${OFN_SANITIZE:-1}" != 0 ]; then
  if [ -n "$bg_asan" ]; then finish_build "$bg_asan" asan_build; else asan_build 0 2; fi
  phase "asan build ready (finished at +$(cat "$REPORTS/asan.finished" 2>/dev/null)s)"
  if [ "$(cat "$REPORTS/asan.status" 2>/dev/null)" = 0 ]; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp"
    run_gtests build-asan "asan-"
  else
    show_failure asan
    echo "sanitizer build failed"; touch "$REPORTS/asan-build.expected"; status=1
  fi
fi

if [ "${OFN_TSAN:-1}" != 0 ]; then
  if [ -n "$bg_tsan" ]; then finish_build "$bg_tsan" tsan_build; else tsan_build 0 2; fi
  phase "tsan build ready (finished at +$(cat "$REPORTS/tsan.finished" 2>/dev/null)s)"
  if [ "$(cat "$REPORTS/tsan.status" 2>/dev/null)" = 0 ]; then
    for t in "${tsan_tests[@]}"; do
      touch "$REPORTS/tsan-$t.expected"
      phase "tsan-$t"
      TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" OFN_SOURCE_ROOT=$ROOT OFN_BUILD_ROOT=$ROOT/build-tsan \
        timeout 900 "build-tsan/tests/$t" --gtest_brief=1 --gtest_output="json:$REPORTS/tsan-$t.json" ||
        { status=1; touch "$REPORTS/tsan-$t.exit"; }
    done
  else
    show_failure tsan
    echo "thread sanitizer build failed"; touch "$REPORTS/tsan-build.expected"; status=1
  fi
fi

phase summary
/usr/bin/python3 scripts/summarize.py "$REPORTS" || status=1
exit $status
