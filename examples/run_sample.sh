#!/usr/bin/env bash
# The main job on a fresh clone: install dependencies, build, fetch the official L0
# weights if absent, and run evsam on the bundled sample image.
#
# With weights it segments the cat with a point and a box and writes out/chelsea_overlay.png
# (the image with the mask tinted and the prompts drawn). Without weights (no network) it
# preprocesses the sample and says where to put the checkpoint.
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
  # segment the cat: a foreground click on its face and a box around its head
  ./build/bin/evsam predict --weights "weights/efficientvit_sam_${MODEL}.pt" --image examples/data/chelsea.png \
      --point 200,150 --box 60,20,380,290 --single-mask \
      --out-masks out/chelsea_masks.npy --out-iou out/chelsea_iou.npy --overlay out/chelsea_overlay.png
  echo "run_sample: wrote out/chelsea_input.npy, out/chelsea_masks.npy and out/chelsea_overlay.png"
else
  echo "run_sample: no weights yet; 'evsam info' and 'evsam predict' skipped (see the message above)"
  echo "run_sample: wrote out/chelsea_input.npy"
fi
