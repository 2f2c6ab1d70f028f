#!/usr/bin/env bash
# Installs everything evsam needs to build and test, from Debian packages only.
#   libeigen3-dev libxsimd-dev libstb-dev libomp-dev nlohmann-json3-dev : the library
#   libgtest-dev libbenchmark-dev cmake g++                             : tests and benchmarks
#   libcpp-httplib-dev                                                  : evsam serve (issue 18)
#   chromium chromium-driver                                            : serve's browser test (headless,
#     driven over WebDriver by tests/serve/test_serve_browser.cpp; nothing is downloaded at test time)
#   pybind11-dev python3-dev python3-numpy python3-pytest python3-venv  : the Python package (issue 19): its
#     extension built by the project's CMake (python/CMakeLists.txt) and its pytest suite (tests/python)
#     run by ctest with Debian's python3; python3-venv for `pip install .` (.ci/python_package.sh)
#   clang libclang-rt-14-dev llvm pkg-config                            : .ci/fuzz.sh and .ci/sanitize.sh
#     (clang-14 does not depend on libclang-rt-14-dev, which holds libFuzzer and the ASan/UBSan/TSan
#     runtimes; llvm gives llvm-symbolizer for readable sanitizer stacks; libomp-dev brings LLVM's
#     libarcher, the OpenMP tool TSan needs; sanitize.sh asks pkg-config for Eigen's include path)
# No PyPI package is needed for the test suite: fixtures under tests/data are committed (validation/
# makes them), and the Python package's tests use Debian's numpy and pytest.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PKGS="cmake g++ make libeigen3-dev libxsimd-dev libstb-dev libomp-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev
      libcpp-httplib-dev chromium chromium-driver pybind11-dev python3-dev python3-numpy python3-pytest python3-venv
      clang libclang-rt-14-dev llvm pkg-config"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "install-deps: installing$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
else
  echo "install-deps: all packages present"
fi
