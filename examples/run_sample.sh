#!/usr/bin/env bash
# The main job on a fresh clone: install dependencies, build, fetch the official L0
# weights if absent, and run evsam on the bundled sample image.
#
# What runs today: `evsam info` on the weights and `evsam preprocess` on the sample
# (upstream-exact input tensor). Segmentation joins this script when the encoder and
# predictor land (issues "Image encoder" and "Predictor").
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
else
  echo "run_sample: no weights yet; 'evsam info' skipped (see the message above)"
fi
echo "run_sample: wrote out/chelsea_input.npy"
