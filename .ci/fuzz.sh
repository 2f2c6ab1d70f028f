#!/usr/bin/env bash
# Fuzzes every parser that reads untrusted bytes (issue 7): builds the libFuzzer harnesses of
# tests/fuzz with clang, ASan and UBSan in a separate build dir, then runs each one for
# FUZZ_SECONDS (default 30) on a scratch copy of its seed corpus. Fails on any finding: a crash,
# a sanitizer report, an exception other than evsam::Error escaping, a leak, an input slower than
# 60 s or an allocation over 2.5 GB. Findings are left under $BUILD/artifacts/<harness>/; copy
# each to tests/fuzz/crashes/<harness>/ (replayed by test_core's FuzzRegressions.*) and fix it.
#
# Measured on 2 shared, busy cores: 440 s with 60 s per harness (build 133 s, then 5 x ~61 s); with
# 30 s about 290 s. Since 2026-12-04 the harnesses build as one goal and run two at a time (one per
# core), so seven of them at 30 s take about 4 x 30 s after the build.
#
#   FUZZ_SECONDS=30        seconds per harness (run with 60 or more by hand after parser changes)
#   FUZZ_TARGETS="..."     a subset of: checkpoint safetensors npy image args serve coco
#   FUZZ_BUILD_DIR=build-fuzz
#   FUZZ_JOBS=2            parallel compile jobs, and harnesses run at once
# Needs clang and libclang-rt-14-dev (Debian), besides .ci/install-deps.sh's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${FUZZ_SECONDS:-30}
TARGETS=${FUZZ_TARGETS:-checkpoint safetensors npy image args serve coco}
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${FUZZ_JOBS:-2}

# -max_len per harness: the largest seed must fit (skeleton_l0.pt is 99 KB); for the small
# formats a few KB reach every header path while keeping executions fast.
max_len() {
  case "$1" in
    checkpoint) echo 131072 ;;
    safetensors | npy) echo 4096 ;;
    image) echo 16384 ;;
    args) echo 1024 ;;
    serve) echo 2048 ;;
    coco) echo 2048 ;;
    *) echo "fuzz.sh: unknown harness '$1'" >&2; exit 2 ;;
  esac
}

for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
done

t0=$(date +%s)
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DEVSAM_FUZZ=ON -DEVSAM_BUILD_EXAMPLES=OFF -DEVSAM_BUILD_BENCH=OFF -DEVSAM_BUILD_PYTHON=OFF >/dev/null
# one goal, so that make builds the harnesses side by side (several --target names are built in turn)
if [ -z "${FUZZ_TARGETS:-}" ]; then
  cmake --build "$BUILD" --target fuzzers -j"$JOBS"
else
  cmake --build "$BUILD" --target $(for t in $TARGETS; do echo "fuzz_$t"; done) -j"$JOBS"
fi
t1=$(date +%s)
echo "fuzz.sh: harnesses built in $((t1 - t0)) s"

# One harness per core at a time (FUZZ_JOBS): each runs SECONDS_PER seconds on its own core.
run_one() {
  local t=$1 work="$BUILD/fuzz-work/$1" art="$BUILD/artifacts/$1" log="$BUILD/fuzz-work/$1.log" ts te rc=0 stats
  rm -rf "$work" "$art"
  mkdir -p "$work" "$art"
  ts=$(date +%s)
  # New inputs go to the scratch dir; the committed seeds (second dir) are only read.
  "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER" -max_len="$(max_len "$t")" -timeout=60 \
    -rss_limit_mb=2560 -print_final_stats=1 -dict="tests/fuzz/dict/$t.dict" -artifact_prefix="$art/" \
    "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  te=$(date +%s)
  stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  if [ "$rc" != 0 ] || [ -n "$(ls -A "$art")" ]; then
    {
      echo "fuzz.sh: FINDING in fuzz_$t (exit $rc, $((te - ts)) s); artifacts in $art:"
      ls -l "$art"
      grep -E -A30 'ERROR:|runtime error|terminate called|deadly signal|Timeout|out-of-memory|malloc' "$log" | head -60 || tail -40 "$log"
    } >"$BUILD/fuzz-work/$t.result"
  else
    echo "fuzz.sh: fuzz_$t clean for $((te - ts)) s: ${stats:-no stats}" >"$BUILD/fuzz-work/$t.result"
  fi
}

mkdir -p "$BUILD/fuzz-work"
running=0
for t in $TARGETS; do
  max_len "$t" >/dev/null  # an unknown harness name fails here, before anything runs
  rm -f "$BUILD/fuzz-work/$t.result"
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait
failed=""
for t in $TARGETS; do
  cat "$BUILD/fuzz-work/$t.result"
  grep -q "^fuzz.sh: FINDING" "$BUILD/fuzz-work/$t.result" && failed="$failed $t"
done

echo "fuzz.sh: total $(( $(date +%s) - t0 )) s"
if [ -n "$failed" ]; then
  echo "fuzz.sh: findings in:$failed (reproduce: $BUILD/fuzz/fuzz_<harness> <artifact>)" >&2
  exit 1
fi
