# The rest of the API: set_image_batch and predict_torch's image_index, embeddings set back,
# zero-copy results, upstream's factory names, the model's preprocessing against upstream's
# transform (tests/data/preprocess), and the classifier / segmenter helpers.
import os

import numpy as np
import pytest

import evsam
from conftest import DATA, tiny, tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model("tiny_l")


@pytest.fixture(scope="module")
def images():
    d = tiny("tiny_l", "predictor") + "/"
    return [evsam.load_image(d + f) for f in ("image_portrait.png", "image_landscape.png")]


def test_embedding_set_back_gives_the_same_bits(model, images):
    p = evsam.SamPredictor(model)
    p.set_image(images[0])
    emb = p.get_image_embedding()
    assert emb.shape == (1, model.embed_dim, model.image_embedding_size, model.image_embedding_size)
    q = evsam.SamPredictor(model)
    q.set_image_embedding(emb, images[0].shape[:2])
    assert q.original_size == p.original_size and q.input_size == p.input_size
    kw = dict(point_coords=np.array([[20.0, 30.0]]), point_labels=np.array([1]), return_logits=True)
    for a, b in zip(p.predict(**kw), q.predict(**kw)):
        assert np.array_equal(a, b)
    p.reset_image()
    assert not p.is_image_set and p.features is None


def test_set_image_batch_and_image_index(model, images):
    xs = np.concatenate([model.preprocess(im) for im in images])
    p = evsam.SamPredictor(model)
    p.set_image_batch(xs)
    R = model.image_size
    assert p.original_size == (R, R)  # upstream: the tensor's own size
    boxes = np.array([[100.0, 200.0, 600.0, 900.0]], np.float32)
    for i in range(len(images)):
        q = evsam.SamPredictor(model)  # the same image alone, from its own embedding
        q.set_image_embedding(model.encode(xs[i:i + 1]), (R, R))
        got, want = p.predict_torch(boxes=boxes, image_index=i), q.predict_torch(boxes=boxes)
        assert got[0].shape == want[0].shape == (1, 3, R, R) and got[0].dtype == np.bool_
        r = evsam.compare(got[2], want[2], "mask-logits", f"image {i}")
        assert r["ok"], r["message"]
    with pytest.raises(ValueError, match="image_index"):
        p.predict_torch(boxes=boxes)  # two images set: an index is needed


def test_results_are_handed_over_without_a_copy(model, images):
    p = evsam.SamPredictor(model)
    p.set_image(images[0])
    masks, iou, low = p.predict(point_coords=np.array([[5.0, 5.0]]), point_labels=np.array([0]), return_logits=True)
    for a in (masks, iou, low, model.encode(model.preprocess(images[0]))):
        assert not a.flags.owndata and a.base is not None  # numpy holds evsam's buffer (a capsule)
        assert a.flags.c_contiguous and a.flags.writeable


def test_upstream_factory_names():
    m = evsam.create_efficientvit_sam_model("efficientvit-sam-l0", pretrained=True,
                                            weight_url=os.path.join(DATA, "ckpt", "skeleton_l0.pt"))
    assert m.name == "l0" and m.title == "efficientvit-sam-l0" and m.image_size == 512 and m.prompt_frame == 1024
    with pytest.raises(ValueError, match="pretrained=False"):
        evsam.create_efficientvit_sam_model("efficientvit-sam-l0", pretrained=False)
    v = evsam.sam_model_registry["vit_b"](checkpoint=os.path.join(DATA, "ckpt_vit", "skeleton_vit_b.pt"),
                                          hourglass_clustering_location=6)
    assert v.name == "vit_b" and v.image_size == 1024 and v.hourglass["hourglass_clustering_location"] == 6
    assert "l0" in evsam.models() and "vit_h" in evsam.models()
    assert evsam.tolerances()["mask-logits"] == (0.0, 0.0, 1e-3)


# upstream's transform (tests/data/preprocess, make_preprocess_fixtures.py): Pillow's resize,
# normalise, pad, through evsam.preprocess for an L model (R = 512) and the model's own preprocess
def test_preprocess_matches_upstreams_transform():
    d = os.path.join(DATA, "preprocess") + "/"
    img = evsam.load_image(d + "in_small_45x61_r512.png")
    ref = np.load(d + "full_small_45x61_r512.npy")
    x = evsam.preprocess(img, "l0")
    assert x.shape == ref.reshape(x.shape).shape
    r = evsam.compare(x, ref.reshape(x.shape), (1e-6, 0.0), "preprocess")  # kTolPreprocess
    assert r["ok"], r["message"]
    assert np.array_equal(evsam.preprocess(img, "l0", dtype="float64").astype(np.float32), x)


def test_classifier_and_segmenter_helpers():
    d = tiny("cls_seg", "cls_b") + "/"
    m = evsam.create_model(config=d + "config.json", weights=d + "model.pt")
    logits = m(np.load(d + "input.npy"))
    rows = m.top_k(logits, k=3)
    assert len(rows) == logits.shape[0] and [r["index"] for r in rows[0]] == list(np.argsort(-logits[0])[:3])
    assert abs(sum(np.exp(logits[0] - logits[0].max())) - 1 / rows[0][0]["prob"]) < 1e-6
    d = tiny("cls_seg", "seg_b_city") + "/"
    s = evsam.create_model(config=d + "config.json", weights=d + "model.pt")
    x = np.load(d + "input.npy")
    lab = s.labels(s(x), x.shape[2:])
    assert lab.shape == x.shape[2:] and lab.dtype == np.int32 and 0 <= lab.min() and lab.max() < s.n_classes
