#!/usr/bin/env bash
# Issue 20's device check: ONE script, run on the GPU machine by the device tool, over what
# .ci/device-prepare.sh built here (carry build-cuda and .device):
#
#   run(command="bash .ci/device-check.sh", carry=["build-cuda", ".device"], timeout_s=540)
#
# Steps, each under its own timeout so that one slow step cannot cost the others (most important
# first), every result under $OUT (the device tool brings back at most 8 files):
#   1. test_cuda.log   the CUDA tests (ctest -L cuda's binary, run directly: the CTest files stay here):
#                      ops against the naive CPU references, tiny models strict / fast / double, and
#                      every full-size variant strict against the CPU module by module;
#   2. traces.jsonl    every variant at full size (random weights, written by step 4's factory): the
#                      CPU trace against cuda strict (encoder-float) and cuda fast (cuda-fast), module
#                      by module, as `evsam compare --json` lines;
#   3. memcheck.log    compute-sanitizer memcheck over the CUDA tests but the full-size ones (minutes
#                      each under the checker); "ERROR SUMMARY: 0 errors" is the target;
#   4. gpu_compare_l.md, gpu_compare_xl.md  bench/gpu_compare.py: images/s at batch 1 and 16, evsam
#                      strict / fast beside PyTorch eager fp32, fp16 autocast and torch.compile (the
#                      machine's own PyTorch), with gpu_compare.log;
#   5. summary.txt     nvidia-smi, then one line per step: its exit status and seconds.
# The timeouts add up to 510 s, inside the 540 s the call above allows; the whole device budget is
# 15 minutes, a machine's start included, so there is room for one partial rerun.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/evsam-device-out}
mkdir -p "$OUT"
BIN=build-cuda/bin
[ -x "$BIN/test_cuda" ] && [ -x "$BIN/evsam" ] || { echo "device-check: run .ci/device-prepare.sh first" >&2; exit 2; }
# The binaries have this checkout's path compiled in (EVSAM_TEST_DATA): make it lead here.
src=$(cat build-cuda/source_dir 2>/dev/null || true)
if [ -n "$src" ] && [ "$src" != "$PWD" ] && [ ! -e "$src" ]; then
  mkdir -p "$(dirname "$src")" && ln -s "$PWD" "$src"
fi
WORK=/tmp/evsam_bench_compare
# 2. full-size traces: the CPU against cuda strict and fast, every variant
traces() {
  local v ckpt d
  : >"$OUT/traces.jsonl"
  python3 - <<EOF
import os, sys
sys.path.insert(0, "bench"); sys.path.insert(0, "validation")
os.makedirs("$WORK", exist_ok=True)
import upstream
upstream.setup(".device/up/efficientvit", ".device/up/segment-anything")
from gpu_compare import checkpoint
for v in ("l0", "l1", "l2", "xl0", "xl1"):
    checkpoint(v, "$WORK")
EOF
  for v in l0 l1 l2 xl0 xl1; do
    ckpt=$WORK/efficientvit_sam_$v.pt
    d=/tmp/evsam_traces/$v
    rm -rf "$d" && mkdir -p "$d"
    "$BIN/evsam" embed --weights "$ckpt" --image examples/data/chelsea.png --out "$d/cpu.npy" --trace-dir "$d/cpu" >/dev/null
    for p in strict fast; do
      "$BIN/evsam" embed --weights "$ckpt" --image examples/data/chelsea.png --backend cuda --precision "$p" \
        --out "$d/$p.npy" --trace-dir "$d/$p" >/dev/null
      tol=$([ "$p" = strict ] && echo encoder-float || echo cuda-fast)
      res=$("$BIN/evsam" compare --reference "$d/cpu" --candidate "$d/$p" --tolerance "$tol" --json 2>&1 | tail -1)
      [[ "$res" == "{"* ]] || res="\"$(printf '%s' "$res" | tr -d '"\\')\""  # an error line, as a JSON string
      printf '{"variant": "%s", "precision": "%s", "tolerance": "%s", "compare": %s}\n' "$v" "$p" "$tol" "$res" \
        >>"$OUT/traces.jsonl"
    done
  done
}
if [ "${1:-}" = traces ]; then  # step 2, run as its own process under its timeout
  traces
  exit
fi
nvidia-smi >"$OUT/summary.txt" 2>&1 || true
step() {  # step NAME TIMEOUT_S COMMAND...: runs it, records its status and time
  local name=$1 limit=$2 t0 rc
  shift 2
  t0=$(date +%s)
  timeout "$limit" "$@"
  rc=$?
  echo "$name: exit $rc, $(( $(date +%s) - t0 )) s$([ "$rc" = 124 ] && echo ' (timed out)')" | tee -a "$OUT/summary.txt"
}

# 1. the CUDA tests
step test_cuda 120 bash -c "$BIN/test_cuda --gtest_color=no >'$OUT/test_cuda.log' 2>&1"

# 2. (the traces function above)
step traces 150 bash "$PWD/.ci/device-check.sh" traces

# 3. compute-sanitizer memcheck (the full-size tests left out: minutes each under the checker)
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer /opt/nvidia/*/compute-sanitizer \
  2>/dev/null | head -1 || true)
[ -n "$SAN" ] || { SAN=compute-sanitizer; echo "device-check: compute-sanitizer not found" >"$OUT/memcheck.log"; }
step memcheck 90 bash -c "'$SAN' --tool memcheck --error-exitcode 86 $BIN/test_cuda --gtest_color=no \
  --gtest_filter='-AllVariants/*' >>'$OUT/memcheck.log' 2>&1"

# 4. throughput beside PyTorch on the same GPU, in two runs so that a timeout keeps the first table
for part in "l0 l1 l2" "xl0 xl1"; do
  tag=$([ "$part" = "l0 l1 l2" ] && echo l || echo xl)
  step "gpu_compare_$tag" 75 bash -c "PYTHONUNBUFFERED=1 python3 bench/gpu_compare.py \
    --efficientvit-src .device/up/efficientvit --sam-src .device/up/segment-anything --evsam $BIN/evsam \
    --work $WORK --variants $part --repeat 10 --markdown '$OUT/gpu_compare_$tag.md' >>'$OUT/gpu_compare.log' 2>&1"
done
cat "$OUT/summary.txt"
