#!/usr/bin/env bash
# Stages the Debian headers (and CMake package files) evsam's CUDA build needs into .device/, an
# ignored folder that the device tool can carry to a GPU machine which cannot install packages
# (issue 8): Eigen, xsimd, stb, nlohmann/json, and GoogleTest's headers and static libraries for the
# CUDA tests. The layout mirrors /usr, so each package's CMake config finds its headers relative to
# itself. On the GPU machine:
#
#   cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DEVSAM_WITH_CUDA=ON -DEVSAM_BUILD_BENCH=OFF \
#         -DCMAKE_PREFIX_PATH=$PWD/.device/usr -DSTB_INCLUDE_DIR=$PWD/.device/usr/include
#   cmake --build build-cuda -j16 --target test_cuda evsam_cli && ctest --test-dir build-cuda -L cuda
#
# (run tool: carry [".device"]; about 20 MB). Run here, where the Debian packages are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
D=.device/usr
rm -rf .device
mkdir -p "$D/include" "$D/share" "$D/lib/x86_64-linux-gnu/cmake" "$D/share/cmake"
cp -r /usr/include/eigen3 /usr/include/xsimd /usr/include/stb /usr/include/nlohmann /usr/include/gtest \
   /usr/include/gmock "$D/include/"
cp -r /usr/share/eigen3 "$D/share/"
cp -r /usr/lib/x86_64-linux-gnu/cmake/xsimd /usr/lib/x86_64-linux-gnu/cmake/GTest "$D/lib/x86_64-linux-gnu/cmake/"
cp -r /usr/share/cmake/nlohmann_json "$D/share/cmake/"
cp /usr/lib/x86_64-linux-gnu/libgtest.a /usr/lib/x86_64-linux-gnu/libgtest_main.a /usr/lib/x86_64-linux-gnu/libgmock.a \
   /usr/lib/x86_64-linux-gnu/libgmock_main.a "$D/lib/x86_64-linux-gnu/"
echo "device-deps: staged $(du -sh .device | cut -f1) under .device/usr"
