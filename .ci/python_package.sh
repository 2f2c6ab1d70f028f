#!/usr/bin/env bash
# The Python package as a user installs it (issue 19): `pip wheel .` then `pip install` of that wheel
# into a fresh venv of Debian's python3 (python3-venv, from .ci/install-deps.sh), with the build
# dependencies (scikit-build-core, pybind11) and numpy / pytest from PyPI, and evsam-check's runtimes
# (onnx, onnxruntime, openvino: the package's "check" extra); then every test of tests/python against
# the installed package (not build/python), test_check.py's ONNX Runtime and OpenVINO paths included. Needs the README's build first
# (build/bin/evsam: test_same_as_cli compares the installed package with the tool, bit for bit).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 -m venv "$tmp/venv"
py="$tmp/venv/bin/python"
"$py" -m pip install -q --upgrade pip
t0=$(date +%s)
"$py" -m pip wheel -q --no-deps -w "$tmp/dist" .
echo "python_package: pip wheel . built $(ls "$tmp/dist") in $(( $(date +%s) - t0 )) s"
whl=$(ls "$tmp"/dist/evsam-*.whl)
"$py" -m pip install -q "$whl[test,check]"
"$tmp/venv/bin/evsam-check" --help >/dev/null  # the console script
cd "$tmp"  # nothing named evsam here: the import is the installed package's
"$py" -c "import evsam, sys; assert evsam.__file__.startswith('$tmp/venv'), evsam.__file__; print('python_package: evsam', evsam.__version__, 'from', evsam.__file__)"
EVSAM_TEST_DATA="$repo/tests/data" EVSAM_BIN_DIR="$repo/build/bin" OMP_WAIT_POLICY=PASSIVE \
  "$py" -m pytest -q -p no:cacheprovider --rootdir "$repo/tests/python" "$repo/tests/python"
