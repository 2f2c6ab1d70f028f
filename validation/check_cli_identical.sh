#!/usr/bin/env bash
# Byte-for-byte comparison of two evsam binaries over every command: the same inputs (the committed
# fixtures and the sample image), each run in a fresh empty folder, must give the same exit code,
# stdout, stderr and output files. Run it after a change that must not change the tool's behaviour
# (a refactor), with the binary built before the change:
#
#   git worktree add /tmp/evsam-old <commit> && cmake -S /tmp/evsam-old -B /tmp/evsam-old/build \
#     -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/evsam-old/build -j2 --target evsam_cli
#   validation/check_cli_identical.sh /tmp/evsam-old/build/bin/evsam build/bin/evsam
#
# Timings (evsam bench's numbers) differ from run to run, so bench is compared on its errors and on
# the labels of its report only. Help texts are compared unless EXPECT_HELP_CHANGE=1 says a change
# of the usage text is intended (the run then lists their differences without failing).
# Exit 0 when every case agrees; otherwise each differing case is printed with a diff.
set -uo pipefail
OLD=$(realpath "$1")
NEW=$(realpath "$2")
cd "$(dirname "$0")/.."
ROOT=$PWD
D=$ROOT/tests/data
T=$D/tiny/tiny_l
X=$D/tiny/tiny_xl
C=$D/ckpt
IMG=$ROOT/examples/data/chelsea.png
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cases=()
add() { cases+=("$1|$2"); }  # kind|arguments ($T, $X, $C, $D, $IMG expanded)

# info
add out "info --weights $C/skeleton_l0.pt"
add out "info --weights $C/skeleton_xl1_fp16.pt --json"
add out "info --weights $C/skeleton_l0_wrapped.pt --model l0"
add out "info --weights $C/skeleton_l0_bf16.pt --model efficientvit-sam-l0 --json"
add out "info --model l0"
add out "info --model xl1 --json"
add out "info --model efficientvit_sam_l2"
for v in l1 xl0; do add out "info --model $v"; done
add out "info"
add out "info --model l7"
add out "info --model efficientvit-sam-l7"
add out "info --weights $C/skeleton_l1.pt --model xl0"
add out "info --weights $T/model.pt"
add out "info --weights $C/missing_key.pt"
add out "info --weights $C/extra_key.pt --model l0"
add out "info --weights $C/evil_global.pt"
add out "info --weights $C/random.pt"
add out "info --weights $C/nonexistent.pt --model l7"
add out "info --weights"
add out "info --bogus 1"
add out "info positional"
# preprocess
add out "preprocess --image $IMG --model l0 --out x.npy"
add out "preprocess --image $IMG --model xl1 --out x.npy"
add out "preprocess --image $D/io/img/palette_trns.png --model l2 --out x.npy"
add out "preprocess --image $D/io/img/bad_truncated.png --model l0 --out x.npy"
add out "preprocess --image $IMG --model l9 --out x.npy"
add out "preprocess --image $IMG --out x.npy"
# embed
add out "embed --weights $T/model.pt --config $T/config.json --input $T/input.npy --out e.npy"
add out "embed --weights $T/model.pt --config $T/config.json --input $T/input.npy --out e.npy --dtype double --threads 1"
add out "embed --weights $X/model.pt --config $X/config.json --input $X/input.npy --out e.npy --trace-dir tr"
add out "embed --weights $T/model.pt --config $T/config.json --image $IMG --out e.npy"
add out "embed --weights $T/model.pt --config $T/config.json --image $IMG --input $T/input.npy --out e.npy"
add out "embed --weights $T/model.pt --config $X/config.json --input $T/input.npy --out e.npy"
add out "embed --weights $T/model.pt --config $T/config.json --input $X/input.npy --out e.npy"
add out "embed --weights $T/model.pt --config $T/config.json --model l0 --input $T/input.npy --out e.npy"
add out "embed --weights $T/model.pt --config $T/config.json --input $T/input.npy --out e.npy --backend cuda"
add out "embed --weights $T/model.pt --config $T/config.json --input $T/input.npy --out e.npy --precision fast"
add out "embed --weights $C/skeleton_l0.pt --input $T/input.npy --out e.npy"
add out "embed --weights $T/model.pt --config $T/config.json --input $D/io/npy/bad_magic.npy --out e.npy"
# predict
P="predict --weights $T/model.pt --config $T/config.json --image $T/predictor/image_landscape.png"
add out "$P --point 30,20 --point 5,5,0 --box 2,3,50,40 --out-masks m.npy --out-iou q.npy --out-lowres l.npy --overlay o.png"
add out "$P --point 30,20 --logits --single-mask --out-masks m.npy"
add out "$P --point 30,20 --dtype double --out-masks m.npy --out-lowres l.npy"
add out "$P --box 3,4,40,30 --out-masks m.npy --threads 1"
add out "$P --point -10,500 --point 61,45 --out-masks m.npy"
add out "$P --point 1e9,-1e9 --box -1e9,-1e9,1e9,1e9 --out-masks m.npy --overlay o.png"
add out "$P --point 1,2,7 --out-masks m.npy"
add out "$P --box 10,10,5,20 --out-masks m.npy"
add out "$P --point 1,nan --out-masks m.npy"
add out "$P --point 1 --out-masks m.npy"
add out "$P --out-masks m.npy"
add out "$P --point 1,2"
add out "$P --point 1,2 --mask-input $T/embedding.npy --out-masks m.npy"
add out "$P --point 1,2 --out-masks m.npy --backend cuda"
add out "$P --point 1,2 --out-masks nodir/m.npy"
add out "predict --weights $X/model.pt --config $X/config.json --image $X/predictor/image_portrait.png --point 19,28.75 --out-masks m.npy --out-iou q.npy"
# everything
E="everything --weights $T/model.pt --config $T/config.json --image $T/amg/image_a.png --points-per-side 4 --pred-iou-thresh 0 --stability-score-thresh 0"
add out "$E --output-mode uncompressed_rle --out r.json --overlay o.png"
add out "$E --output-mode coco_rle --out r.json --crop-n-layers 1 --min-mask-region-area 20"
add out "$E --out masks"
add out "$E --out r.json --output-mode bogus"
add out "$E --out r.json --dtype double"
add out "$E --out r.json --box-nms-thresh 2"
# compare
add out "compare --reference $T/act --candidate $T/act"
add out "compare --reference $T/act --candidate $T/act --json --tolerance encoder-double"
add out "compare --reference $T/act --candidate $X/act"
add out "compare --reference $T/act --candidate $T/act --tolerance nope"
# bench: errors only (its numbers are timings)
add out "bench --weights $T/model.pt --config $T/config.json --backend cuda"
add out "bench --weights $T/model.pt --config $T/config.json --repeat 0"
add out "bench --weights $T/model.pt --config $T/config.json --batch 2"
add labels "bench --weights $T/model.pt --config $T/config.json --repeat 1 --amg --json"
# the rest of the dispatcher
add out "--version"
add out "frobnicate"
add help "frobnicate --help"
add help ""
add help "--help"
add help "help"
add help "-h"
add help "predict --help"
add help "info -h"

# Runs one case with binary $1 in a fresh folder $2; prints the normalised record.
run_case() {
  local bin=$1 dir=$2 kind=$3 args=$4
  mkdir -p "$dir"
  (cd "$dir" && eval "\"$bin\" $args" >"$dir.out" 2>"$dir.err"; echo "exit $?" >"$dir.rc")
  {
    cat "$dir.rc"
    if [[ $kind == labels ]]; then  # bench: keep each line's first word and the JSON keys
      echo "--- stdout (labels)"
      awk '{print $1}' "$dir.out" | grep -v '^{' || true
      grep '^{' "$dir.out" | python3 -c 'import json,sys; print(sorted(json.loads(sys.stdin.read()).keys()))' 2>/dev/null
    else
      echo "--- stdout"; cat "$dir.out"
    fi
    echo "--- stderr"; sed "s|$dir|<DIR>|g" "$dir.err"
    echo "--- files"
    (cd "$dir" && find . -type f | LC_ALL=C sort | while read -r f; do echo "$f $(sha256sum <"$f" | cut -c1-16)"; done)
  }
}

fail=0 n=0 help_diff=0
for c in "${cases[@]}"; do
  kind=${c%%|*}
  args=${c#*|}
  n=$((n + 1))
  a=$(run_case "$OLD" "$WORK/old$n" "$kind" "$args")
  b=$(run_case "$NEW" "$WORK/new$n" "$kind" "$args")
  if [[ "$a" != "$b" ]]; then
    if [[ $kind == help && ${EXPECT_HELP_CHANGE:-0} == 1 ]]; then
      help_diff=$((help_diff + 1))
      echo "help text differs (intended): evsam $args"
      continue
    fi
    fail=$((fail + 1))
    echo "DIFFERS: evsam ${args//$ROOT/.}"
    diff <(echo "$a") <(echo "$b") | head -20
  fi
done
echo "check_cli_identical: $n cases, $fail differ$( ((help_diff)) && echo ", $help_diff help texts changed as intended")"
[[ $fail -eq 0 ]]
