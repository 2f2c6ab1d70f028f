#!/usr/bin/env bash
# Issue 17: examples/distributed/evsam_ray.py on a local Ray cluster with 2 workers, bound to
# 127.0.0.1 (no dashboard, no usage report), and examples/eval/score_ap.py: ray and pycocotools from
# PyPI in a fresh venv of Debian's python3, then tests/distributed/test_ray.py (the merged shards
# equal one unsharded run) and test_score_ap.py (COCO AP as upstream's). Needs the README's build
# (build/bin/evsam).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 -m venv "$tmp/venv"
t0=$(date +%s)
"$tmp/venv/bin/pip" install -q "ray>=2.9" pycocotools
echo "distributed: pip install ray pycocotools in $(( $(date +%s) - t0 )) s"
export RAY_USAGE_STATS_ENABLED=0 OMP_WAIT_POLICY=PASSIVE EVSAM_BIN_DIR="$(pwd)/build/bin"
"$tmp/venv/bin/python" tests/distributed/test_ray.py
"$tmp/venv/bin/python" tests/distributed/test_score_ap.py
