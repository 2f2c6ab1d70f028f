#!/usr/bin/env bash
# The main job on a fresh clone: install dependencies, build, fetch the official L0
# weights if absent, and run evsam on the bundled sample image.
#
# What runs today: `evsam preprocess` on the sample (upstream-exact input tensor), then
# with weights `evsam info` and `evsam embed` (the image embedding). Segmentation joins
# this script when the predictor lands (issue "Predictor").
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${EVSAM_MODEL:-l0}"
bash .ci/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target evsam_cli
mkdir -p out
./build/bin/evsam preprocess --image examples/data/chelsea.png --model "$MODEL" --out out/chelsea_input.npy
if bash weights/fetch.sh "$MODEL"; then
  ./build/bin/evsam info --weights "weights/efficientvit_sam_${MODEL}.pt"
  ./build/bin/evsam embed --weights "weights/efficientvit_sam_${MODEL}.pt" --input out/chelsea_input.npy \
      --out out/chelsea_embedding.npy
  echo "run_sample: wrote out/chelsea_input.npy and out/chelsea_embedding.npy"
else
  echo "run_sample: no weights yet; 'evsam info' and 'evsam embed' skipped (see the message above)"
  echo "run_sample: wrote out/chelsea_input.npy"
fi
