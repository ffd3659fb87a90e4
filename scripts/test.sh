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
  for t in spec_test store_test backend_test events_test common_test route_test scale_test gateway_test platform_test revisions_test process_test store_crash_test containerd_test; do
    local exe="$dir/tests/$t" args=()
    # Built only with the containerd backend (meson option containerd).
    [ "$t" = containerd_test ] && [ ! -x "$exe" ] && continue
    [ "$t" = store_crash_test ] && args=(--child="$dir/tests/store_crash_child")
    touch "$REPORTS/$prefix$t.expected"
    echo "== $prefix$t"
    OFN_SOURCE_ROOT=$ROOT OFN_BUILD_ROOT=$ROOT/$dir timeout 900 "$exe" --gtest_brief=1 \
      --gtest_output="json:$REPORTS/$prefix$t.json" "${args[@]}" || { status=1; touch "$REPORTS/$prefix$t.exit"; }
  done
}

if build build; then
  run_gtests build ""
  echo "== python"
  touch "$REPORTS/python.expected"
  OFN_SOURCE_ROOT=$ROOT OFN_BUILD_ROOT=$ROOT/build \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python --junitxml="$REPORTS/python.xml" || status=1
else
  echo "build failed"; touch "$REPORTS/build.expected"; status=1
fi

# A release build (-O3, warnings as errors) must compile too: packagers and
# benchmarks use it. The library, the ofn command and the examples.
echo "== release build"
release_ok=1
if [ ! -f build-release/build.ninja ]; then
  meson setup build-release --buildtype=release >"$REPORTS/release-setup.log" 2>&1 || { cat "$REPORTS/release-setup.log"; release_ok=0; }
fi
if [ $release_ok = 1 ]; then
  ninja -C build-release -j2 libofn/ofn examples/hello-world.so >"$REPORTS/release-build.log" 2>&1 ||
    { tail -50 "$REPORTS/release-build.log"; release_ok=0; }
fi
# Reported as one test, so the summary counts it.
echo "{\"tests\": 1, \"failures\": $((1 - release_ok)), \"testsuites\": []}" >"$REPORTS/release-build.json"
[ $release_ok = 1 ] || status=1

# Short, repeatable fuzzing runs (fixed seed and execution counts) over the
# committed corpora; campaigns run by hand (scripts/fuzz.sh -runs=N).
if [ "${OFN_FUZZ:-1}" != 0 ]; then
  echo "== fuzz (short runs)"
  FUZZ_REPORTS=$REPORTS bash scripts/fuzz.sh || status=1
fi

if [ "${OFN_SANITIZE:-1}" != 0 ]; then
  if build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp"
    run_gtests build-asan "asan-"
  else
    echo "sanitizer build failed"; touch "$REPORTS/asan-build.expected"; status=1
  fi
fi

# ThreadSanitizer over the data plane, the activator and the autoscaler
# (g++ 12 warns that it cannot instrument atomic_thread_fence, which Asio
# uses: -Wno-tsan; TSan still checks everything else).
if [ "${OFN_TSAN:-1}" != 0 ]; then
  tsan_tests=(gateway_test scale_test revisions_test platform_test events_test)
  tsan_ok=1
  if [ ! -f build-tsan/build.ninja ]; then
    # The data plane only: without the containerd backend's generated gRPC code.
    meson setup build-tsan -Db_sanitize=thread -Dcpp_args=-Wno-tsan -Dbuildtype=debugoptimized -Dcontainerd=disabled \
      >"$REPORTS/tsan-setup.log" 2>&1 || { cat "$REPORTS/tsan-setup.log"; tsan_ok=0; }
  fi
  if [ $tsan_ok = 1 ]; then
    ninja -C build-tsan -j2 examples/hello-world.so "${tsan_tests[@]/#/tests/}" >"$REPORTS/tsan-build.log" 2>&1 ||
      { tail -50 "$REPORTS/tsan-build.log"; tsan_ok=0; }
  fi
  if [ $tsan_ok = 1 ]; then
    for t in "${tsan_tests[@]}"; do
      touch "$REPORTS/tsan-$t.expected"
      echo "== tsan-$t"
      TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" OFN_SOURCE_ROOT=$ROOT OFN_BUILD_ROOT=$ROOT/build-tsan \
        timeout 900 "build-tsan/tests/$t" --gtest_brief=1 --gtest_output="json:$REPORTS/tsan-$t.json" ||
        { status=1; touch "$REPORTS/tsan-$t.exit"; }
    done
  else
    echo "thread sanitizer build failed"; touch "$REPORTS/tsan-build.expected"; status=1
  fi
fi

echo "== summary"
/usr/bin/python3 scripts/summarize.py "$REPORTS" || status=1
exit $status
