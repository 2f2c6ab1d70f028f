# The drop-in test: upstream's own usage (dropin_snippet.py: segment-anything's README and notebook
# snippets) run with evsam's classes, against the same snippet run with upstream's classes on the
# same tiny models (tests/data/python/dropin_*, made by validation/make_python_fixtures.py):
# tiny_l through efficientvit's EfficientViTSamPredictor / ...AutomaticMaskGenerator, tiny_vit through
# segment-anything's SamPredictor / SamAutomaticMaskGenerator. Same shapes, dtypes and Python types;
# values within the table's tolerances (a mask pixel may flip only where upstream's logit is within
# the mask-logits tolerance of 0).
import os

import numpy as np
import pytest

import evsam
from conftest import DATA, read_json, tiny, tiny_model
from dropin_snippet import generator_usage, predictor_usage


def fixture(cfg):
    d = os.path.join(DATA, "python", "dropin_" + cfg) + "/"
    return d, read_json(d + "index.json")


@pytest.mark.parametrize("cfg", ["tiny_l", "tiny_vit"])
def test_predictor_snippet(cfg):
    d, fx = fixture(cfg)
    sam = tiny_model(cfg, weights=d + fx["model"])
    Pred = evsam.SamPredictor if cfg == "tiny_vit" else evsam.EfficientViTSamPredictor
    out = predictor_usage(Pred, sam, evsam.load_image(d + fx["image"]), np.asarray)
    assert sorted(out) == sorted(fx["calls"])
    mask_tol = evsam.tolerances()["mask-logits"][2]
    for name, (masks, scores, low) in out.items():
        want = fx["calls"][name]
        for key, arr in (("masks", masks), ("scores", scores), ("low_res", low)):
            assert str(arr.dtype) == want[key]["dtype"] and list(arr.shape) == want[key]["shape"], (name, key)
        ref_logits = np.load(d + want["logits"]["file"])
        ref_masks = np.load(d + want["masks"]["file"]).astype(bool)
        flips = masks != ref_masks
        assert not np.any(flips & (np.abs(ref_logits) > mask_tol * np.abs(ref_logits).max())), name
        r = evsam.compare(scores, np.load(d + want["scores"]["file"]), "iou", name + " scores")
        assert r["ok"], r["message"]
        r = evsam.compare(low, np.load(d + want["low_res"]["file"]), "mask-logits", name + " low-res logits")
        assert r["ok"], r["message"]


@pytest.mark.parametrize("cfg", ["tiny_l", "tiny_vit"])
def test_generator_snippet(cfg):
    d, fx = fixture(cfg)
    sam = tiny_model(cfg, weights=d + fx["model"])
    Gen = evsam.SamAutomaticMaskGenerator if cfg == "tiny_vit" else evsam.EfficientViTSamAutomaticMaskGenerator
    out = generator_usage(Gen, sam, evsam.load_image(d + fx["amg_image"]))
    assert sorted(out) == sorted(fx["generate"])
    for name, recs in out.items():
        want = fx["generate"][name]
        assert len(recs) == len(want["records"]), name
        if not recs:
            continue
        assert {k: type(v).__name__ for k, v in recs[0].items()} == {**want["types"], "segmentation": "ndarray"}
        segs = np.load(d + want["segmentations"]).astype(bool)
        for i, (r, w) in enumerate(zip(recs, want["records"])):
            assert list(r) == ["segmentation"] + list(w), i  # upstream's keys, in its order
            assert r["bbox"] == w["bbox"] and r["crop_box"] == w["crop_box"] and r["point_coords"] == w["point_coords"]
            assert abs(r["predicted_iou"] - w["predicted_iou"]) <= evsam.tolerances()["iou"][0], i
            assert abs(r["stability_score"] - w["stability_score"]) <= 2e-2, i  # kTolStabilityScore
            assert r["segmentation"].dtype == np.bool_ and r["segmentation"].shape == segs[i].shape
            assert np.array_equal(r["segmentation"], segs[i]) and r["area"] == w["area"], i
