#!/usr/bin/env bash
# Prepares issue 20's device check (.ci/device-check.sh) here, where the Debian packages and nvcc are:
#   1. build-cuda: the CUDA tests and the tool (-DEVSAM_WITH_CUDA=ON, sm_90 code plus PTX), built for
#      any x86-64 CPU (-DEVSAM_NATIVE=OFF: the GPU machine's CPU is not this one), then pruned to what
#      the check runs (bin/), so that it travels inside the device tool's 64 MiB;
#   2. .device/up: upstream's Python packages (efficientvit/, segment_anything/) for bench/gpu_compare.py
#      (the GPU machine cannot fetch; its image has PyTorch). Ignored by git, never committed.
#   3. build-cuda/source_dir: this checkout's path, which the test binaries have compiled in
#      (EVSAM_TEST_DATA); device-check.sh links it to wherever the copy lands there.
#
#   bash .ci/device-prepare.sh /work/up/mit-han-lab+efficientvit /work/up/facebookresearch+segment-anything
# then, with the device tool (one call; about 10 minutes of the 15):
#   run(command="bash .ci/device-check.sh", carry=["build-cuda", ".device"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/.."
EV=${1:?usage: device-prepare.sh EFFICIENTVIT_SRC SAM_SRC}
SAM=${2:?usage: device-prepare.sh EFFICIENTVIT_SRC SAM_SRC}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$NVCC" ] || { echo "device-prepare: nvcc not found" >&2; exit 2; }
cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DEVSAM_WITH_CUDA=ON -DEVSAM_NATIVE=OFF \
  -DCMAKE_CUDA_COMPILER="$NVCC" -DEVSAM_BUILD_BENCH=OFF -DEVSAM_BUILD_PYTHON=OFF >/dev/null
cmake --build build-cuda --target evsam_cuda_check -j"${JOBS:-2}"
# keep bin/ only: objects and CMake's files stay here
find build-cuda -mindepth 1 -maxdepth 1 ! -name bin -exec rm -rf {} +
pwd >build-cuda/source_dir
rm -rf .device/up
mkdir -p .device/up/efficientvit .device/up/segment-anything
cp -r "$EV/efficientvit" .device/up/efficientvit/
cp -r "$SAM/segment_anything" .device/up/segment-anything/
find .device/up -name __pycache__ -prune -exec rm -rf {} +
echo "device-prepare: build-cuda $(du -sh build-cuda | cut -f1), .device $(du -sh .device | cut -f1)" \
     "(the device tool carries at most 64 MiB with the working tree)"
