# Every predictor fixture the C++ tests use (tests/model/test_predictor_tiny.cpp), through the Python
# API: upstream's EfficientViTSamPredictor / SamPredictor outputs on the tiny models, every prompt
# type, RGB and BGR, single and multimask, batched boxes and point sets, mask inputs; the same
# tolerances (evsam.compare with the table's mask-logits and iou entries).
import numpy as np
import pytest

import evsam
from conftest import expect_ok, read_json, tiny, tiny_model


def check_masks(logits, iou, d, c):
    ref = np.load(d + c["outputs"]["masks"]["file"])
    expect_ok(evsam.compare(logits, ref, "mask-logits", c["name"] + " mask logits"))
    # binary masks: a pixel may flip only where upstream's logit is within the tolerance of 0
    tol = evsam.tolerances()["mask-logits"][2] * np.abs(ref).max()
    flips = (logits > 0) != (ref > 0)
    assert not np.any(flips & (np.abs(ref) > tol)), f"{c['name']}: {int(flips.sum())} pixels flipped"
    expect_ok(evsam.compare(iou, np.load(d + c["outputs"]["iou"]["file"]), "iou", c["name"] + " iou"))


def run_config(cfg, dtype, config=None, hourglass=None):
    d = tiny(cfg, "predictor") + "/"
    cases = read_json(d + "cases.json")
    model = tiny_model(cfg, dtype, config=config, weights=d + cases["model"], **(hourglass or {}))
    want = np.float32 if dtype == "float32" else np.float64
    predictors = {}
    checked = 0
    for c in cases["cases"]:
        key = c["image"] + c["image_format"]
        if key not in predictors:
            p = evsam.SamPredictor(model)
            img = evsam.load_image(d + c["image"])
            if c["image_format"] == "BGR":
                p.set_image(np.ascontiguousarray(img[..., ::-1]), "BGR")
            else:
                p.set_image(img)
            assert p.input_size == tuple(c["input_size"])
            assert p.original_size == img.shape[:2]
            predictors[key] = p
        p = predictors[key]
        if not c["batched"]:
            kw = {}
            if c["point_coords"] is not None:
                kw["point_coords"] = np.array(c["point_coords"])
                kw["point_labels"] = np.array(c["point_labels"])
            if c["box"] is not None:
                kw["box"] = np.array(c["box"])
            if c["mask_input"] is not None:
                kw["mask_input"] = np.load(d + c["mask_input"])
            masks, iou, low = p.predict(multimask_output=c["multimask"], return_logits=True, **kw)
            bmasks, biou, blow = p.predict(multimask_output=c["multimask"], **kw)
            assert bmasks.dtype == np.bool_ and np.array_equal(bmasks, masks > 0)
            assert np.array_equal(biou, iou) and np.array_equal(blow, low)
        else:  # predict_torch with the float32 inputs upstream's helpers made, in the 1024 frame
            kw = {}
            if c.get("point_coords_input") is not None:
                kw["point_coords"] = np.array(c["point_coords_input"], dtype=np.float32)
                kw["point_labels"] = np.array(c["point_labels"], dtype=np.float32)
            if c.get("box_input") is not None:
                kw["boxes"] = np.array(c["box_input"], dtype=np.float32)
            masks, iou, low = p.predict_torch(multimask_output=c["multimask"], return_logits=True, **kw)
        assert masks.dtype == want and iou.dtype == want and low.dtype == want
        check_masks(masks, iou, d, c)
        if c["outputs"].get("lowres", {}).get("file"):
            expect_ok(evsam.compare(low, np.load(d + c["outputs"]["lowres"]["file"]), "mask-logits", "low-res"))
        checked += 1
    assert checked == len(cases["cases"]) > 10


@pytest.mark.parametrize("cfg,dtype", [("tiny_l", "float32"), ("tiny_xl", "float32"), ("tiny_l", "float64"),
                                       ("tiny_vit", "float32"), ("tiny_vit", "float64"),
                                       ("tiny_vit/hourglass/loc1_k100", "float32"),
                                       ("tiny_vit/hourglass/loc1_k100", "float64")])
def test_predictor_matches_upstream(cfg, dtype):
    run_config(cfg, dtype)


# The hourglass through upstream's keyword arguments (build_sam_vit_b(**hourglass_kwargs)) on the plain
# configuration: the same fixture as the configured model.
def test_hourglass_kwargs_match_upstream():
    run_config("tiny_vit/hourglass/loc1_k100", "float32", config=tiny("tiny_vit", "config.json"),
               hourglass={"hourglass_clustering_location": 1, "hourglass_num_cluster": 100})


# The decoder fixtures (tests/model/test_decoder_tiny.cpp): upstream's prompt encoder and mask decoder
# on upstream's own embedding, prompts already in the 1024 frame, through set_image_embedding and
# predict_torch: points and a box multimask, and points with the padding point, a mask input, one mask.
@pytest.mark.parametrize("cfg,sub,dtype", [("tiny_l", "", "float32"), ("tiny_l", "", "float64"),
                                           ("tiny_l", "decoder_mask/", "float32"), ("tiny_xl", "", "float32")])
def test_decoder_matches_upstream(cfg, sub, dtype):
    d = tiny(cfg) + "/"
    p = read_json(d + sub + "prompt.json")
    model = tiny_model(cfg, dtype)
    pred = evsam.SamPredictor(model)
    pred.set_image_embedding(np.load(d + "embedding.npy"), (1024, 1024))
    kw = dict(point_coords=np.array([p["point_coords"]]), point_labels=np.array([p["point_labels"]]))
    if p["box"] is not None:
        kw["boxes"] = np.array([p["box"]])
    if "mask_input" in p:
        kw["mask_input"] = np.load(d + sub + p["mask_input"])
    _, iou, low = pred.predict_torch(multimask_output=p["multimask_output"], **kw)
    for name, got in (("low_res_masks", low), ("iou", iou)):
        expect_ok(evsam.compare(got, np.load(d + sub + name + ".npy"), "encoder-float", f"{cfg}/{sub}{name}"))
