#!/usr/bin/env python3
"""examples/eval/score_ap.py on evsam's box_from_detector results for the tiny COCO set
(tests/data/eval_sam): the 12 COCOeval numbers equal upstream's (expected.json, from upstream's
evaluate_predictions_on_coco on its own float64 results) to 1e-4, for evsam in double and in float;
and, where lvis is installed, the LVIS numbers likewise.

Exit 5 (skipped) without pycocotools. .ci/distributed.sh installs it from PyPI and runs this.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.environ.get("EVSAM_TEST_DATA", os.path.join(REPO, "tests", "data"))
EVSAM = os.path.join(os.environ.get("EVSAM_BIN_DIR", os.path.join(REPO, "build", "bin")), "evsam")
TINY = os.path.join(DATA, "tiny", "tiny_l")
ES = os.path.join(DATA, "eval_sam")


def main():
    try:
        import pycocotools  # noqa: F401
    except ImportError:
        print("skipped: pycocotools is not installed (.ci/distributed.sh installs it)")
        sys.exit(5)
    try:
        import lvis  # noqa: F401
        datasets = ["coco", "lvis"]
    except ImportError:
        datasets = ["coco"]
    with open(os.path.join(ES, "expected.json")) as f:
        cases = {c["dataset"]: c for c in json.load(f)["cases"] if c["prompt"] == "box_from_detector"}
    with tempfile.TemporaryDirectory() as tmp:
        for ds in datasets:
            for dtype in ("double", "float"):
                out = os.path.join(tmp, f"{ds}_{dtype}.json")
                subprocess.run([EVSAM, "eval-sam", "--weights", os.path.join(TINY, "model.pt"), "--config",
                                os.path.join(TINY, "config.json"), "--dataset", ds, "--image-root",
                                os.path.join(ES, "images") if ds == "coco" else ES, "--annotations",
                                os.path.join(ES, f"{ds}.json"), "--prompt", "box_from_detector", "--source-json",
                                os.path.join(ES, "detections.json"), "--dtype", dtype, "--out", out], check=True,
                               stderr=subprocess.DEVNULL)
                p = subprocess.run([sys.executable, os.path.join(REPO, "examples", "eval", "score_ap.py"), "--dataset",
                                    ds, "--annotations", os.path.join(ES, f"{ds}.json"), "--results", out, "--json"],
                                   check=True, stdout=subprocess.PIPE, text=True)
                got = json.loads(p.stdout.strip().splitlines()[-1])
                want = cases[ds]["ap_fp64"]
                pairs = zip(got["stats"], want) if ds == "coco" else ((got[k], want[k]) for k in want)
                worst = max(abs(a - b) for a, b in pairs)
                assert worst <= 1e-4, f"{ds} {dtype}: AP differs from upstream's by {worst}: {got} vs {want}"
                print(f"{ds} {dtype}: AP as upstream's (max |diff| {worst})")
    if "lvis" not in datasets:
        print("lvis not installed: LVIS AP not scored")


if __name__ == "__main__":
    main()
