#!/usr/bin/env bash
# Installs everything evsam needs to build and test, from Debian packages only.
#   libeigen3-dev libxsimd-dev libstb-dev libomp-dev nlohmann-json3-dev : the library
#   libgtest-dev libbenchmark-dev cmake g++                             : tests and benchmarks
#   clang libclang-rt-14-dev                                            : sanitizer/fuzz builds
# Python is NOT needed: fixtures under tests/data are committed (validation/ makes them).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PKGS="cmake g++ make libeigen3-dev libxsimd-dev libstb-dev libomp-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev"
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
