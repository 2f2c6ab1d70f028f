#!/usr/bin/env bash
# The CUDA backend in CI (issue 8): configures with -DEVSAM_WITH_CUDA=ON into build-cuda (nvcc,
# sm_90 + PTX), builds the evsam tool and the CUDA test suite, and runs it (ctest -L cuda).
# Without a GPU every CUDA test passes as "skipped: no CUDA device", and the tool's cuda path must
# fail with that one line and write nothing; with a GPU the tests compare the CUDA encoder with the
# CPU reference and upstream's fixtures.
#
#   CUDA_JOBS=2    parallel compile jobs
# Needs the CUDA toolkit (nvcc, cuBLAS: /usr/local/cuda on this project's machines), besides
# .ci/install-deps.sh's packages. Without nvcc the stage says so and is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${CUDA_JOBS:-2}
NVCC=$(command -v nvcc || true)
if [[ -z "$NVCC" && -x /usr/local/cuda/bin/nvcc ]]; then NVCC=/usr/local/cuda/bin/nvcc; fi
if [[ -z "$NVCC" ]]; then
  echo "cuda.sh: SKIPPED: nvcc not found (no CUDA toolkit on this machine); the CUDA backend was not built" >&2
  exit 0
fi
t0=$(date +%s)
cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DEVSAM_WITH_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" \
  -DEVSAM_BUILD_BENCH=OFF -DEVSAM_BUILD_PYTHON=OFF >/dev/null
cmake --build build-cuda --target evsam_cuda_check -j"$JOBS"  # test_cuda and evsam_cli, as one goal
t1=$(date +%s)
echo "cuda.sh: build $((t1 - t0)) s ($("$NVCC" --version | tail -1))"
ctest --test-dir build-cuda -L cuda --output-on-failure -j"$JOBS"

# The tool's cuda path on this machine: it runs (GPU) or fails with one clear line (no GPU).
out=$(mktemp -d)
d=tests/data/tiny/tiny_l
set +e
build-cuda/bin/evsam embed --weights $d/model.pt --config $d/config.json --input $d/input.npy \
  --backend cuda --out "$out/e.npy" 2>"$out/err"
rc=$?
set -e
if [[ $rc -eq 0 ]]; then
  echo "cuda.sh: evsam embed --backend cuda ran on $(build-cuda/bin/evsam bench --weights $d/model.pt \
    --config $d/config.json --backend cuda --repeat 1 --json | tail -1)"
else
  [[ $(wc -l <"$out/err") -eq 1 ]] && grep -q "no CUDA device" "$out/err" && [[ ! -e "$out/e.npy" ]] || {
    echo "cuda.sh: evsam --backend cuda without a GPU did not fail cleanly (exit $rc):" >&2
    cat "$out/err" >&2
    exit 1
  }
  echo "cuda.sh: no GPU here; evsam --backend cuda fails cleanly: $(cat "$out/err")"
fi
rm -rf "$out"
echo "cuda.sh: total $(( $(date +%s) - t0 )) s"
