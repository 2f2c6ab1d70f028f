# Results identical, bit for bit, to the C++ library's: the Python API against `evsam embed`,
# `evsam predict` and `evsam everything` (build/bin/evsam, which runs the same headers) on the same
# tiny model, image and prompts, in float and double.
import json
import os
import subprocess

import numpy as np
import pytest

import evsam
from conftest import BIN, read_json, tiny, tiny_model

EVSAM = os.path.join(BIN, "evsam")
CFG, W = tiny("tiny_l", "config.json"), tiny("tiny_l", "model.pt")
IMG = tiny("tiny_l", "predictor", "image_portrait.png")

pytestmark = pytest.mark.skipif(not os.path.exists(EVSAM), reason=f"no {EVSAM} (build the tool first)")


def cli(*args):
    r = subprocess.run([EVSAM, *args, "--config", CFG, "--weights", W, "--threads", "2"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return r


@pytest.mark.parametrize("dtype,flag", [("float32", "float"), ("float64", "double")])
def test_predict_and_embed_are_the_librarys(tmp_path, dtype, flag):
    model = tiny_model("tiny_l", dtype)
    p = evsam.SamPredictor(model)
    p.set_image(evsam.load_image(IMG))
    cli("embed", "--image", IMG, "--out", str(tmp_path / "e.npy"), "--dtype", flag)
    assert np.array_equal(np.load(tmp_path / "e.npy"), p.get_image_embedding())
    cases = [
        (["--point", "20,30,1", "--point", "5,40,0"], dict(point_coords=np.array([[20, 30], [5, 40]]),
                                                        point_labels=np.array([1, 0]))),
        (["--box", "3,4,30,50", "--single-mask"], dict(box=np.array([3, 4, 30, 50]), multimask_output=False)),
        (["--box", "3,4,30,50", "--box", "10,10,40,60", "--point", "12,20"],
         dict(boxes=np.array([[3, 4, 30, 50], [10, 10, 40, 60]]), point_coords=np.array([[12, 20]]),
              point_labels=np.array([1]))),
    ]
    for flags, kw in cases:
        out = [str(tmp_path / n) for n in ("m.npy", "q.npy", "l.npy")]
        cli("predict", "--image", IMG, "--dtype", flag, "--out-masks", out[0], "--out-iou", out[1],
            "--out-lowres", out[2], "--logits", *flags)
        masks, iou, low = p.predict(return_logits=True, **kw)
        # the tool writes float32 files; the double build's values are cast once, as here
        for ours, path in zip((masks, iou, low), out):
            assert np.array_equal(ours.astype(np.float32), np.load(path)), (flags, path)
        cli("predict", "--image", IMG, "--dtype", flag, "--out-masks", out[0], *flags)
        bmasks, _, _ = p.predict(**kw)
        assert np.array_equal(bmasks, np.load(out[0]).astype(bool)), flags


def test_everything_is_the_librarys(tmp_path):
    # the settings of the crop-layer fixture (settings_b), with more points and the other RLE form
    settings = dict(read_json(tiny("tiny_l", "amg", "settings_b.json"))["settings"], points_per_side=4,
                    points_per_batch=7, output_mode="uncompressed_rle")
    image = tiny("tiny_l", "amg", "image_a.png")
    flags = []
    for k, v in settings.items():
        flags += ["--" + k.replace("_", "-"), str(v)]
    cli("everything", "--image", image, "--out", str(tmp_path / "r.json"), *flags)
    want = json.load(open(tmp_path / "r.json"))
    got = evsam.SamAutomaticMaskGenerator(tiny_model("tiny_l"), **settings).generate(evsam.load_image(image))
    assert len(got) == len(want) > 3
    for g, w in zip(got, want):  # JSON floats print with 17 digits: exact
        assert g == w
