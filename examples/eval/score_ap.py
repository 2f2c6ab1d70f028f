#!/usr/bin/env python3
"""Score `evsam eval-sam --prompt box_from_detector --out RESULTS.json` with the field's standard
scorers, as upstream's evaluate() does (sam_eval_utils.evaluate_predictions_on_coco / _lvis):

  coco: pycocotools COCOeval, iouType "segm", maxDets [1, 10, 100]; each result's "bbox" dropped
        first (segm scores the masks), then evaluate / accumulate / summarize: the standard 12 lines.
  lvis: lvis LVISResults (max_dets 300) and LVISEval "segm"; print_results, then the dict of
        AP, AP50, AP75, APs, APm, APl, APr, APc, APf in percent, as upstream prints it.

--json prints the numbers as one JSON object on the last line: coco {"stats": [12 numbers]}, lvis
the dict above. Needs pycocotools (coco) or lvis (LVIS) from PyPI.

  python examples/eval/score_ap.py --dataset coco --annotations instances_val2017.json --results dets.json
"""
import argparse
import contextlib
import copy
import io
import json
import sys


def score_coco(annotations, results, quiet):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    log = io.StringIO()
    with contextlib.redirect_stdout(log if quiet else sys.stdout):
        gt = COCO(annotations)
        res = copy.deepcopy(results)
        for r in res:
            r.pop("bbox", None)
        ev = COCOeval(gt, gt.loadRes(res), "segm")
        ev.params.maxDets = [1, 10, 100]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"stats": [float(v) for v in ev.stats]}


def score_lvis(annotations, results, quiet):
    import numpy as np
    if "float" not in np.__dict__:  # lvis 0.5.3 (its last release) still calls np.float, gone in numpy 1.24
        np.float = float
    from lvis import LVIS, LVISEval, LVISResults
    log = io.StringIO()
    with contextlib.redirect_stdout(log if quiet else sys.stdout):
        gt = LVIS(annotations)
        res = copy.deepcopy(results)
        for r in res:
            r.pop("bbox", None)
        ev = LVISEval(gt, LVISResults(gt, res, max_dets=300), "segm")
        ev.run()
        ev.print_results()
        out = ev.get_results()
        out = {k: float(out[k] * 100) for k in ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf"]}
        print(out)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, choices=["coco", "lvis"])
    ap.add_argument("--annotations", required=True, help="the ground-truth instances JSON")
    ap.add_argument("--results", required=True, help="evsam eval-sam --prompt box_from_detector --out")
    ap.add_argument("--json", action="store_true", help="only the numbers, as one JSON object")
    a = ap.parse_args()
    with open(a.results) as f:
        results = json.load(f)
    if not isinstance(results, list) or not results:
        sys.exit(f"score_ap: {a.results}: no results (a non-empty JSON list)")
    out = (score_coco if a.dataset == "coco" else score_lvis)(a.annotations, results, a.json)
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
