# EfficientViT's classifiers and segmenters through the Python API (ZooModel), on the C++ tests'
# fixtures (tests/model/test_cls_seg_tiny.cpp, tests/cli/test_cls_seg_cli.cpp): the six tiny models
# (a ClsHead on a B and an L backbone, SegHead in the zoo's four shapes) against upstream module by
# module, double within cls-seg-double of fp64 and float within encoder-float; upstream's eval
# preprocessing bit for bit (evsam.preprocess, as `evsam preprocess --model`); the zoo's checkpoints
# detected by evsam.load.
import math
import os

import numpy as np
import pytest

import evsam
from conftest import DATA, read_json, tiny
from test_encoder_fixtures import check_trace

CASES = ["cls_b", "cls_l", "seg_b_city", "seg_b_ade", "seg_l_city", "seg_l_ade"]


def load_case(name, dtype):
    d = tiny("cls_seg", name) + "/"
    return d, evsam.create_model(config=d + "config.json", weights=d + "model.pt", dtype=dtype)


@pytest.mark.parametrize("name", CASES)
def test_double_matches_upstream_fp64(name):
    d, m = load_case(name, "float64")
    assert isinstance(m, evsam.ZooModel) and m.kind == read_json(d + "config.json")["kind"]
    x = np.load(d + "input.npy")
    check_trace(m.trace(x), d, "cls-seg-double", 3)
    y = m(x)
    assert y.dtype == np.float64 and list(y.shape) == read_json(d + "config.json")["logits_shape"]
    r = evsam.compare(y, np.load(d + "logits64.npy"), "cls-seg-double", name)
    assert r["ok"], r["message"]


@pytest.mark.parametrize("name", CASES)
def test_float_matches_upstream(name):
    d, m = load_case(name, "float32")
    x = np.load(d + "input.npy")
    check_trace(m.trace(x), d, "encoder-float", 3)
    r = evsam.compare(m.forward(x), np.load(d + "logits32.npy"), "encoder-float", name + " vs fp32")
    assert r["ok"], r["message"]


def test_preprocess_is_upstreams_eval_transform():
    root = tiny("cls_seg", "preprocess") + "/"
    cases = read_json(root + "cases.json")["cases"]
    assert len(cases) == 10
    for c in cases:
        kw = {}
        if c["flags"]:  # "--resolution 48 --crop-ratio 0.9"
            f = c["flags"].split()
            kw = {"resolution": int(f[1]), "crop_ratio": float(f[3])}
        x = evsam.preprocess(evsam.load_image(root + c["image"]), c["model"], **kw)
        assert list(x.shape) == c["shape"], c
        v = x.reshape(-1).astype(np.float64)
        assert abs(math.fsum(v) - c["fsum"]) <= 1e-6 and abs(math.fsum(v * v) - c["fsum_sq"]) <= 1e-6, c
        assert v[c["sample_index"]].tolist() == c["sample"], c


@pytest.mark.parametrize("name,kind,title", [("b1", "cls", "efficientvit-b1"), ("seg-b0-cityscapes", "seg", None)])
def test_zoo_skeletons_are_detected(name, kind, title):
    path = os.path.join(DATA, "ckpt_cls_seg", f"skeleton_{name}.pt")
    if not os.path.exists(path):
        pytest.skip(f"no skeleton {path}")
    m = evsam.load(path)
    assert m.kind == kind and m.name == name
