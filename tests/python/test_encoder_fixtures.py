# The image encoder fixtures of the C++ tests (tests/model/test_image_encoder_tiny.cpp,
# test_vit_tiny.cpp, test_hourglass_tiny.cpp), through Model.trace / Model.encode: every module
# upstream recorded, in execution order, within the table's tolerance (the first one out is named);
# SAM's ViT and the hourglass in float held to the multiple of PyTorch fp32's own error the C++
# tests use. And the checkpoint storage variants (fp16, bf16, wrapped, strided views).
import numpy as np
import pytest

import evsam
from conftest import expect_ok, read_json, tiny, tiny_model

# tolerance.hpp: kMaxViTFloatErrorRatio, kMaxHourglassFloatErrorRatio; kMaxRelL2Fp16Checkpoint, kMaxRelL2Bf16Checkpoint
MAX_VIT_FLOAT_RATIO = 1.5
MAX_REL_L2_FP16, MAX_REL_L2_BF16 = 2e-3, 1.5e-2


def check_trace(trace, d, tol, minimum):
    index = read_json(d + "act/index.json")
    compared = 0
    for name, rec in trace.items():  # execution order
        entry = index.get(name)
        if not entry or not isinstance(entry.get("file"), str):
            continue
        r = evsam.compare(rec, np.load(d + entry["file"]), tol, name)
        assert r["ok"], "first module out of tolerance: " + r["message"]
        compared += 1
    assert compared >= minimum, f"{compared} modules compared"
    return compared


@pytest.mark.parametrize("cfg,dtype,tol", [("tiny_l", "float32", "encoder-float"), ("tiny_xl", "float32", "encoder-float"),
                                           ("tiny_l", "float64", "float-fixture"), ("tiny_xl", "float64", "float-fixture")])
def test_efficientvit_encoder_module_by_module(cfg, dtype, tol):
    d = tiny(cfg) + "/"
    model = tiny_model(cfg, dtype)
    x = np.load(d + "input.npy")
    trace = model.trace(x)
    check_trace(trace, d, tol, 20)
    emb = model.encode(x)
    assert emb.dtype == np.dtype(dtype)
    assert np.array_equal(emb, list(trace.values())[-1])  # the last traced module is the embedding
    expect_ok(evsam.compare(emb, np.load(d + "embedding.npy"), tol, "embedding"))


def rel_l2(a, ref):
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(a - ref) / np.linalg.norm(ref))


@pytest.mark.parametrize("case", ["", "hourglass/loc1_k100/", "hourglass/loc2_k81/"])
def test_vit_encoder(case):
    d = tiny("tiny_vit") + "/" + case
    x = np.load(tiny("tiny_vit", "input.npy"))
    weights = tiny("tiny_vit", "model.pt")
    m64 = evsam.create_model(config=d + "config.json", weights=weights, dtype="float64")
    check_trace(m64.trace(x), d, "vit-double", 5)
    m32 = evsam.create_model(config=d + "config.json", weights=weights)
    ref, torch32 = np.load(d + "embedding64.npy"), np.load(d + "embedding32.npy")
    ours = rel_l2(m32.encode(x), ref)
    assert ours <= MAX_VIT_FLOAT_RATIO * rel_l2(torch32, ref), (ours, rel_l2(torch32, ref))


def test_checkpoint_storage_variants():
    d = tiny("tiny_l") + "/"
    x = np.load(d + "input.npy")
    base = tiny_model("tiny_l").encode(x)
    for v in ("wrapped", "views"):
        assert np.array_equal(tiny_model("tiny_l", weights=d + f"variants/model_{v}.pt").encode(x), base), v
    ref = np.load(d + "embedding.npy")
    for v, bound in (("fp16", MAX_REL_L2_FP16), ("bf16", MAX_REL_L2_BF16)):
        e = tiny_model("tiny_l", weights=d + f"variants/model_{v}.pt").encode(x)
        assert rel_l2(e, ref) <= bound, v


# The preprocessing (Pillow-exact resize, normalise, pad) through Model.preprocess, on the predictor
# fixture's images: set_image's input must give the fixture's embedding.
def test_preprocess_then_encode_equals_set_image():
    d = tiny("tiny_l", "predictor") + "/"
    model = tiny_model("tiny_l")
    img = evsam.load_image(d + "image_portrait.png")
    x = model.preprocess(img)
    assert x.shape == (1, 3, model.image_size, model.image_size) and x.dtype == np.float32
    p = evsam.SamPredictor(model)
    p.set_image(img)
    assert np.array_equal(model.encode(x), p.get_image_embedding())
