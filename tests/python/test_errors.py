# Bad input raises the right Python exception with the command-line tool's one-line message:
# FileNotFoundError for a missing file, RuntimeError for a corrupt checkpoint (and for a prompt before
# set_image, as upstream), ValueError for every other bad input; never a crash of the interpreter.
import os
import shutil

import numpy as np
import pytest

import evsam
from conftest import DATA, tiny, tiny_model

CKPT = os.path.join(DATA, "ckpt")


def one_line(e):
    msg = str(e.value)
    assert msg and "\n" not in msg, msg
    return msg


@pytest.fixture(scope="module")
def predictor():
    p = evsam.SamPredictor(tiny_model("tiny_l"))
    p.set_image(evsam.load_image(tiny("tiny_l", "predictor", "image_portrait.png")))
    return p


def test_missing_files(tmp_path):
    missing = str(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError) as e:
        evsam.load(missing)
    assert missing in one_line(e)
    with pytest.raises(FileNotFoundError):
        evsam.create_model("l0", weights=missing)
    with pytest.raises(FileNotFoundError):
        evsam.create_model(config=str(tmp_path / "nope.json"), weights=tiny("tiny_l", "model.pt"))
    with pytest.raises(FileNotFoundError):
        evsam.load_image(str(tmp_path / "nope.png"))


@pytest.mark.parametrize("name", ["notzip.pt", "empty.pt", "evil_global.pt", "evil_builtins.pt", "no_datapkl.pt",
                                  "legacy.pt"])
def test_corrupt_checkpoints_are_runtime_errors(name):
    with pytest.raises(RuntimeError) as e:
        evsam.load(os.path.join(CKPT, name))
    assert name in one_line(e)


def test_truncated_checkpoint(tmp_path):
    src = tiny("tiny_l", "model.pt")
    data = open(src, "rb").read()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError) as e:
        evsam.create_model(config=tiny("tiny_l", "config.json"), weights=str(cut))
    one_line(e)


def test_wrong_model_or_arguments():
    with pytest.raises(ValueError, match="unknown model 'l9'"):
        evsam.create_model("l9", weights=os.path.join(CKPT, "skeleton_l0.pt"))
    with pytest.raises(ValueError, match="checkpoint is efficientvit-sam-l0, not --model l1"):
        evsam.create_model("l1", weights=os.path.join(CKPT, "skeleton_l0.pt"))
    with pytest.raises(ValueError, match="missing"):
        evsam.create_model(config=tiny("tiny_l", "config.json"), weights=tiny("tiny_xl", "model.pt"))
    with pytest.raises(ValueError, match="unknown dtype"):
        tiny_model("tiny_l", dtype="float16")
    with pytest.raises(ValueError, match="unknown --precision 'turbo'"):
        tiny_model("tiny_l", precision="turbo")
    with pytest.raises(ValueError, match="precision fast needs"):
        tiny_model("tiny_l", dtype="float64", precision="fast")
    with pytest.raises(ValueError, match="a checkpoint path is needed"):
        evsam.create_model("l0")
    with pytest.raises(ValueError, match="hourglass_\\* apply to SAM's ViT models"):
        tiny_model("tiny_l", hourglass_clustering_location=1)
    with pytest.raises(ValueError, match="hourglass_num_cluster 99: not a positive perfect square"):
        tiny_model("tiny_vit", hourglass_clustering_location=1, hourglass_num_cluster=99)
    with pytest.raises(ValueError, match="unknown keyword argument 'hourglass_typo'"):
        tiny_model("tiny_vit", hourglass_typo=1)
    with pytest.raises(ValueError):
        evsam.set_num_threads(-1)
    with pytest.raises(ValueError, match="unknown tolerance"):
        evsam.compare(np.ones(3), np.ones(3), "nope")


@pytest.mark.parametrize("image,match", [
    (np.zeros((8, 8, 3), np.float32), "expected a uint8 image, got dtype float32"),
    (np.zeros((8, 8), np.uint8), "expected an image of shape \\(H, W, 3\\), got \\(8, 8\\)"),
    (np.zeros((8, 8, 4), np.uint8), "got \\(8, 8, 4\\)"),
    (np.zeros((0, 8, 3), np.uint8), "empty image"),
    ("not an image", "expected"),
    (None, "expected"),
])
def test_bad_images(predictor, image, match):
    with pytest.raises(ValueError, match=match):
        evsam.SamPredictor(predictor.model).set_image(image)
    with pytest.raises(ValueError, match=match):
        evsam.SamAutomaticMaskGenerator(predictor.model, points_per_side=2).generate(image)


def test_bad_prompts(predictor):
    pts, lab = np.array([[10.0, 20.0]]), np.array([1])
    with pytest.raises(ValueError, match="point_labels must be supplied"):
        predictor.predict(point_coords=pts)
    with pytest.raises(ValueError, match="point_labels: expected \\(1,\\)"):
        predictor.predict(point_coords=pts, point_labels=np.array([1, 0]))
    with pytest.raises(ValueError, match="point label must be 1 \\(foreground\\) or 0"):
        predictor.predict(point_coords=pts, point_labels=np.array([2]))
    with pytest.raises(ValueError, match="point_coords: expected \\(N, 2\\)"):
        predictor.predict(point_coords=np.zeros((1, 3)), point_labels=lab)
    with pytest.raises(ValueError, match="point_coords: not a finite number"):
        predictor.predict(point_coords=np.array([[np.nan, 1.0]]), point_labels=lab)
    with pytest.raises(ValueError, match="expected a numeric array"):
        predictor.predict(point_coords=np.array([["a", "b"]]), point_labels=lab)
    with pytest.raises(ValueError, match="box: expected 4 numbers"):
        predictor.predict(box=np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="box: not a finite number"):
        predictor.predict(box=np.array([1.0, 2.0, np.inf, 4.0]))
    with pytest.raises(ValueError, match="boxes: expected \\(B, 4\\)"):
        predictor.predict(boxes=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="not both"):
        predictor.predict(box=np.zeros(4), boxes=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="mask_input must be"):
        predictor.predict(point_coords=pts, point_labels=lab, mask_input=np.zeros((1, 64, 64), np.float32))
    with pytest.raises(ValueError, match="mask_input: with boxes"):
        predictor.predict(boxes=np.zeros((2, 4)), mask_input=np.zeros((1, 256, 256), np.float32))
    with pytest.raises(ValueError, match="image_index"):
        predictor.predict_torch(boxes=np.zeros((1, 4), np.float32), image_index=3)
    with pytest.raises(ValueError, match="image_index must be >= 0"):
        predictor.predict_torch(boxes=np.zeros((1, 4), np.float32), image_index=-5)
    with pytest.raises(ValueError, match="boxes: expected \\(B, 4\\), B >= 1"):
        predictor.predict_torch(boxes=np.zeros((0, 4), np.float32))
    with pytest.raises(ValueError, match="point labels must be 1, 0 or -1"):
        predictor.predict_torch(point_coords=np.zeros((1, 1, 2), np.float32), point_labels=np.full((1, 1), 7.0))
    with pytest.raises(ValueError, match="mask input must be"):
        predictor.predict_torch(boxes=np.zeros((1, 4), np.float32), mask_input=np.zeros((1, 1, 64, 64), np.float32))
    with pytest.raises(ValueError, match="set_image_embedding: expected an embedding of shape"):
        evsam.SamPredictor(predictor.model).set_image_embedding(np.zeros((1, 3, 4, 4), np.float32), (10, 10))
    with pytest.raises(ValueError, match="original_size must be"):
        evsam.SamPredictor(predictor.model).set_image_embedding(predictor.get_image_embedding(), (0, 10))
    with pytest.raises(ValueError, match="image_format must be"):
        evsam.SamPredictor(predictor.model).set_image(np.zeros((8, 8, 3), np.uint8), "RGBA")


def test_before_set_image_is_a_runtime_error(predictor):
    p = evsam.SamPredictor(predictor.model)
    with pytest.raises(RuntimeError, match="An image must be set"):
        p.predict(point_coords=np.array([[1.0, 1.0]]), point_labels=np.array([1]))
    with pytest.raises(RuntimeError, match="An image must be set"):
        p.predict_torch(boxes=np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match="An image must be set"):
        p.get_image_embedding()
    assert p.original_size is None and p.input_size is None and p.features is None


def test_bad_generator_settings(predictor):
    m = predictor.model
    with pytest.raises(ValueError, match="Exactly one of points_per_side or point_grid"):
        evsam.SamAutomaticMaskGenerator(m, points_per_side=None)
    with pytest.raises(ValueError, match="Unknown output_mode"):
        evsam.SamAutomaticMaskGenerator(m, output_mode="png")
    with pytest.raises(ValueError, match="points_per_batch must be > 0"):
        evsam.SamAutomaticMaskGenerator(m, points_per_batch=0)
    with pytest.raises(ValueError, match="min_mask_region_area must be >= 0"):
        evsam.SamAutomaticMaskGenerator(m, min_mask_region_area=-1)
    with pytest.raises(ValueError, match="point_grids"):
        evsam.SamAutomaticMaskGenerator(m, points_per_side=None, point_grids=[np.zeros((3, 3))])
    with pytest.raises(ValueError):
        evsam.SamPredictor("not a model")


def test_model_inputs(predictor):
    m = predictor.model
    with pytest.raises(ValueError, match="expected a preprocessed \\(N, 3, 80, 80\\) array"):
        m.encode(np.zeros((1, 3, 64, 64), np.float32))
    with pytest.raises(ValueError, match="resolution and crop_ratio apply to classifiers"):
        evsam.preprocess(np.zeros((8, 8, 3), np.uint8), "l0", resolution=224)
    with pytest.raises(ValueError, match="unknown model"):
        evsam.preprocess(np.zeros((8, 8, 3), np.uint8), "nope")
