#!/usr/bin/python3
"""Fixtures for tests/core/test_resize_u8.cpp: the two uint8 resizes of upstream's
classification and segmentation evaluation, made by the real libraries.

  Pillow    PIL.Image.resize(size, Image.BICUBIC) (and BILINEAR for the generalised
            code paths): evsam::pil_resize_u8 (include/evsam/core/pil_resize.hpp).
            Pillow 13.0 changed which pass runs first (vertical first when
            newH < H and H - newH > 2 (W - newW)); every Pillow case with both
            passes is also made as two one-axis resizes in each order, the one-call
            result is checked to be the order that rule predicts (the script stops
            otherwise), and the horizontal-first result (Pillow <= 12.2) is stored
            as "expected_hv" where it differs.
  torchvision
            upstream's classification transform up to ToTensor,
            Resize(ceil(R / crop_ratio), BICUBIC) + CenterCrop(R) on a PIL image:
            evsam::classify_resize_crop_u8 (include/evsam/core/tv_transforms.hpp).
            The transform is not re-typed here: applications/efficientvit_cls/
            eval_efficientvit_cls_model.py's main() runs with ImageFolder replaced by
            a catcher, and its Compose minus ToTensor/Normalize is applied.
  OpenCV    cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC):
            evsam::cv_resize_cubic_u8 (include/evsam/core/cv_resize.hpp). The
            segmentation cases come from upstream's own objects in
            applications/efficientvit_seg/eval_efficientvit_seg_model.py, with
            cv2.resize spied on: ADE20KDataset.__getitem__ on a temporary one-image
            dataset (short side --ade-crop instead of 512, to keep files small) and
            the Resize((crop, 2 * crop)) transform of CityscapesDataset.

OpenCV has two answers. The x86-64 PyPI wheels hand 8-bit INTER_CUBIC images of
at least 4x4 to Intel IPP, whose float arithmetic is not OpenCV's and differs
between IPP's own AVX-512/AVX2/SSE4.2 kernels at a few pixels per million (see
include/evsam/core/cv_resize.hpp). Every OpenCV case therefore stores
  expected      cv2 with cv2.ipp.setUseIPP(False): OpenCV's own code, which the
                C++ port reproduces bit for bit (and which default cv2 gives on
                builds without IPP and for images under 4 pixels on a side);
  expected_ipp  default cv2 on the machine that ran this script (CPU in
                cases.json), which CvCubicBackend::ipp_like approximates.

Inputs are seeded synthetic images (noise + gradients + sharp 0/255 edges, so
that the cubic overshoots and clips). Cases: up- and downscaling (Pillow
antialiases when shrinking), integer and non-integer factors, one axis only,
1-pixel-wide/tall and 1x1 images, identity size, large factors (5x2000 -> 3x7,
2000x5 -> 7x3: the tall one pins Pillow's pass order), 1 to 4 channels for
OpenCV, the ADE20K and Cityscapes size rules on odd sizes, and three tables of
sizes only (torchvision's resize size, ADE20K's rule at crop 512, Cityscapes').

Writes into tests/data/resize/ (or --out; ~1.2 MB):
  cases.json      versions, CPU, the cases, the size tables
  in_*.png        inputs (gray: mode L; RGB); in_*.npy for 2 and 4 channels (uint8 HWC)
  pil_*.png, tv_*.png, cv_*.png (and .npy)
                  expected outputs, named after the case (*_hv: Pillow's horizontal-
                  first order, *_ipp: default cv2 with IPP)

Usage:
  /work/venv/bin/python validation/make_resize_fixtures.py \\
      --efficientvit-src /work/up/mit-han-lab+efficientvit
(needs numpy, Pillow, torch, torchvision and opencv-python-headless; re-run only
when a fixture has to change.)
"""
import argparse
import importlib.util
import json
import math
import os
import platform
import shutil
import sys
import tempfile

import cv2
import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision.transforms import functional as TF

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import upstream  # noqa: E402  (its stub finder)


# --------------------------------------------------------------------------- images

def synth(h: int, w: int, c: int, seed: int, smooth: bool = False) -> np.ndarray:
    """Seeded HxWxc uint8 image: per-channel gradients, a checkerboard of 0/255
    blocks (sharp edges: the cubic over- and undershoots, so outputs clip) and
    uniform noise; a few rows and columns are pure 0 or 255. smooth=True uses
    larger blocks and weaker noise (larger images that still compress)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    gx = x * 255 / max(w - 1, 1)
    gy = y * 255 / max(h - 1, 1)
    grads = [gx, gy, (gx + gy) / 2, 255 - gx]
    bx, by = (23, 17) if smooth else (5, 3)
    edge = np.where(((x // bx) + (y // by)) % 2 == 0, 255.0, 0.0)
    amp = 6 if smooth else 48
    out = np.empty((h, w, c), np.uint8)
    for ch in range(c):
        v = 0.45 * grads[ch] + 0.55 * edge + rng.integers(-amp, amp + 1, (h, w))
        out[:, :, ch] = np.clip(np.rint(v), 0, 255).astype(np.uint8)
    if h > 6 and w > 6:
        out[h // 3, :, :] = 255
        out[:, w // 4, :] = 0
    return out


def save_image(path: str, img: np.ndarray) -> None:
    """PNG (lossless) for 1 and 3 channels, .npy for 2 and 4 (evsam's PNG reader gives RGB)."""
    assert img.dtype == np.uint8 and img.ndim == 3
    if path.endswith(".npy"):
        np.save(path, np.ascontiguousarray(img))
    elif img.shape[2] == 1:
        Image.fromarray(img[:, :, 0], "L").save(path, optimize=True)
    else:
        assert img.shape[2] == 3
        Image.fromarray(img, "RGB").save(path, optimize=True)


def ext_for(c: int) -> str:
    return ".png" if c in (1, 3) else ".npy"


def to_pil(img: np.ndarray) -> Image.Image:
    return Image.fromarray(img[:, :, 0], "L") if img.shape[2] == 1 else Image.fromarray(img, "RGB")


def from_pil(im: Image.Image) -> np.ndarray:
    a = np.asarray(im)
    return a[:, :, None] if a.ndim == 2 else a


def cv2_resize(img: np.ndarray, nh: int, nw: int, ipp: bool) -> np.ndarray:
    """cv2.resize INTER_CUBIC with IPP on (default) or off; HWC in and out."""
    src = img[:, :, 0] if img.shape[2] == 1 else img
    cv2.ipp.setUseIPP(ipp)
    try:
        out = cv2.resize(src, dsize=(nw, nh), interpolation=cv2.INTER_CUBIC)
    finally:
        cv2.ipp.setUseIPP(True)
    return out[:, :, None] if out.ndim == 2 else out


# --------------------------------------------------------------------------- upstream

def load_upstream_script(evit_src: str, rel: str, name: str):
    """Import one of upstream's application scripts as a module. Packages the
    imported paths do not use (tqdm, model zoos, efficientvit.apps, ...) are stubs."""
    if not evit_src or not os.path.isdir(evit_src):
        sys.exit(f"error: --efficientvit-src must name a mit-han-lab/efficientvit checkout (got {evit_src!r})")
    if evit_src not in sys.path:
        sys.path.insert(0, os.path.abspath(evit_src))
    if not any(isinstance(f, upstream._StubFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, upstream._StubFinder(
            ("tqdm", "efficientvit.apps", "efficientvit.cls_model_zoo", "efficientvit.seg_model_zoo", "timm",
             "omegaconf", "triton", "torchpack", "einops", "huggingface_hub", "onnx", "onnxsim")))
    spec = importlib.util.spec_from_file_location(name, os.path.join(evit_src, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _Caught(Exception):
    pass


def cls_transform(cls_mod, R: int, crop_ratio: float):
    """The Compose that eval_efficientvit_cls_model.main() builds for --image_size R
    --crop_ratio crop_ratio, caught where it is handed to datasets.ImageFolder; returns
    its first two transforms (Resize, CenterCrop) as a Compose."""
    class Datasets:
        @staticmethod
        def ImageFolder(path, transform):
            raise _Caught(transform)

    saved_argv, saved_ds = sys.argv, cls_mod.datasets
    saved_env = os.environ.get("CUDA_VISIBLE_DEVICES")
    sys.argv = ["eval_efficientvit_cls_model.py", "--image_size", str(R), "--crop_ratio", repr(crop_ratio),
                "--path", "/nonexistent", "--gpu", "0", "--model", "none"]
    cls_mod.datasets = Datasets
    try:
        cls_mod.main()
        raise RuntimeError("eval_efficientvit_cls_model.main() did not build an ImageFolder")
    except _Caught as e:
        compose = e.args[0]
    finally:
        sys.argv, cls_mod.datasets = saved_argv, saved_ds
        if saved_env is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = saved_env
    t = compose.transforms
    assert type(t[0]).__name__ == "Resize" and type(t[1]).__name__ == "CenterCrop", t
    assert type(t[2]).__name__ == "ToTensor" and type(t[3]).__name__ == "Normalize", t
    assert t[0].interpolation == TF.InterpolationMode.BICUBIC, t[0]
    return torchvision.transforms.Compose(t[:2]), t[0].size


class Cv2Spy:
    """Stands in for the cv2 module inside an upstream script: records each resize."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return getattr(cv2, name)

    def resize(self, image, dsize, interpolation):
        out = cv2.resize(image, dsize=dsize, interpolation=interpolation)
        self.calls.append((image.copy(), tuple(dsize), interpolation, out.copy()))
        return out


def ade20k_resize(seg_mod, img: np.ndarray, crop: int):
    """ADE20KDataset(tmp, crop_size=crop)[0] on a one-image dataset holding img (as
    JPEG, which is the suffix it looks for). Returns (decoded input, (th, tw),
    interpolation, output) of its cv2.resize call, or (decoded input, (h, w), None, None)
    when it does not resize."""
    tmp = tempfile.mkdtemp(prefix="ade20k_")
    try:
        os.makedirs(os.path.join(tmp, "images", "validation"))
        os.makedirs(os.path.join(tmp, "annotations", "validation"))
        Image.fromarray(img, "RGB").save(os.path.join(tmp, "images", "validation", "a.jpg"), quality=95)
        Image.fromarray(np.ones(img.shape[:2], np.uint8), "L").save(
            os.path.join(tmp, "annotations", "validation", "a.png"))
        decoded = np.array(Image.open(os.path.join(tmp, "images", "validation", "a.jpg")).convert("RGB"))
        spy = Cv2Spy()
        saved = seg_mod.cv2
        seg_mod.cv2 = spy
        try:
            ds = seg_mod.ADE20KDataset(tmp, crop_size=crop)
            assert len(ds) == 1
            item = ds[0]
        finally:
            seg_mod.cv2 = saved
        data = item["data"]
        shape = tuple(data.shape[-2:])
        if not spy.calls:
            return decoded, shape, None, None
        (inp, dsize, interp, out), = spy.calls
        assert np.array_equal(inp, decoded) and (dsize[1], dsize[0]) == shape, (dsize, shape)
        return decoded, shape, interp, out
    finally:
        shutil.rmtree(tmp)


def cityscapes_resize(seg_mod, img: np.ndarray, crop: int):
    """Upstream's Resize((crop, crop * 2)) (CityscapesDataset's transform) on img:
    returns (interpolation, output) of its cv2.resize call, or (None, img)."""
    spy = Cv2Spy()
    saved = seg_mod.cv2
    seg_mod.cv2 = spy
    try:
        r = seg_mod.Resize((crop, crop * 2))
        out = r({"data": img, "label": None})["data"]
    finally:
        seg_mod.cv2 = saved
    if not spy.calls:
        return None, out
    (_, _, interp, got), = spy.calls
    assert np.array_equal(got, out)
    return interp, out


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--efficientvit-src", default=os.environ.get("EFFICIENTVIT_SRC"),
                    help="checkout of mit-han-lab/efficientvit (or env EFFICIENTVIT_SRC)")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "data", "resize"))
    ap.add_argument("--ade-crop", type=int, default=64, help="ADE20K short side for the image cases (upstream: 512)")
    ap.add_argument("--cityscapes-crop", type=int, default=24, help="Cityscapes height for the image cases (upstream: 1024)")
    args = ap.parse_args()
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):
        if f.endswith((".png", ".npy", ".json")):
            os.remove(os.path.join(out_dir, f))

    cls_mod = load_upstream_script(args.efficientvit_src, "applications/efficientvit_cls/eval_efficientvit_cls_model.py",
                                   "evit_cls_eval")
    seg_mod = load_upstream_script(args.efficientvit_src, "applications/efficientvit_seg/eval_efficientvit_seg_model.py",
                                   "evit_seg_eval")

    inputs = {}

    def add_input(name: str, img: np.ndarray) -> str:
        fname = f"in_{name}{ext_for(img.shape[2])}"
        if fname not in inputs:
            save_image(os.path.join(out_dir, fname), img)
            inputs[fname] = img
        return fname

    imgs = {
        "rgb_23x37": synth(23, 37, 3, 1),
        "rgb_100x140": synth(100, 140, 3, 2),
        "gray_120x160": synth(120, 160, 1, 3),
        "rgb_1x70": synth(1, 70, 3, 4),
        "gray_60x1": synth(60, 1, 1, 5),
        "rgb_1x1": synth(1, 1, 3, 6),
        "gray_5x2000": synth(5, 2000, 1, 7),
        "gray_2000x5": synth(2000, 5, 1, 8),
        "rgb_31x29": synth(31, 29, 3, 9),
        "rgb_3x3": synth(3, 3, 3, 10),
        "gray_3x40": synth(3, 40, 1, 11),
        "rgba_19x23": synth(19, 23, 4, 12),
        "ga_17x13": synth(17, 13, 2, 13),
        "rgb_37x53": synth(37, 53, 3, 14),
        "rgb_61x47": synth(61, 47, 3, 15),
        "rgb_45x45": synth(45, 45, 3, 16),
    }
    cases = []

    # ---- Pillow: Image.resize(BICUBIC), and BILINEAR on the paths the generalisation touched.
    pil_cases = [
        ("up_nonint", "rgb_23x37", 50, 61), ("up_int2", "rgb_23x37", 46, 74),
        ("down_nonint_aa", "rgb_100x140", 31, 44), ("down_int", "rgb_100x140", 50, 35),
        ("down_int_gray", "gray_120x160", 40, 40), ("width_only", "rgb_100x140", 100, 53),
        ("height_only", "rgb_100x140", 41, 140), ("up_down_gray", "gray_120x160", 200, 45),
        ("tall1px_up", "rgb_1x70", 3, 20), ("tall1px_w", "rgb_1x70", 1, 200),
        ("wide1px_down", "gray_60x1", 25, 1), ("wide1px_up", "gray_60x1", 90, 4),
        ("px1x1_up", "rgb_1x1", 5, 3), ("identity", "rgb_31x29", 31, 29),
        ("large_wide", "gray_5x2000", 3, 7), ("large_tall", "gray_2000x5", 7, 3),
        ("tall_height_only", "gray_2000x5", 150, 5), ("to_1x1", "rgb_100x140", 1, 1),
    ]
    # Pillow's pass order (see include/evsam/core/pil_resize.hpp): 13.0 runs the vertical
    # pass first when newH < H and H - newH > 2 (W - newW). The two orders are also
    # computed as two one-axis resizes (each one pass; identical to the one-call
    # result of a release with that order), the one-call result is checked against
    # the order the rule predicts, and the other order's output is stored as well
    # when it differs ("expected_hv": Pillow <= 12.2).
    pil_cases += [("vfirst_rgb", "rgb_100x140", 30, 120), ("vfirst_gray", "gray_120x160", 20, 150),
                  ("vfirst_edge_in", "rgb_100x140", 60, 121), ("vfirst_edge_out", "rgb_100x140", 60, 119)]
    n_rule = 0
    for filt_name, filt in [("bicubic", Image.Resampling.BICUBIC), ("bilinear", Image.Resampling.BILINEAR)]:
        for name, src, nh, nw in pil_cases:
            if filt_name == "bilinear" and name not in ("down_nonint_aa", "large_wide", "large_tall", "up_nonint",
                                                        "vfirst_rgb", "vfirst_edge_in"):
                continue
            img = imgs[src]
            H, W = img.shape[:2]
            pim = to_pil(img)
            out = from_pil(pim.resize((nw, nh), filt))
            assert out.shape == (nh, nw, img.shape[2])
            cname = f"pil_{filt_name}_{name}"
            save_image(os.path.join(out_dir, cname + ".png"), out)
            e = dict(name=cname, library="pillow", op="resize", filter=filt_name, input=add_input(src, img), H=H,
                     W=W, C=img.shape[2], new_h=nh, new_w=nw, expected=cname + ".png")
            if nh != H and nw != W:
                hv = from_pil(pim.resize((nw, H), filt).resize((nw, nh), filt))
                vh = from_pil(pim.resize((W, nh), filt).resize((nw, nh), filt))
                vfirst = nh < H and H - nh > 2 * (W - nw)
                assert np.array_equal(out, vh if vfirst else hv), f"{cname}: Pillow's pass order rule changed"
                n_rule += int(not np.array_equal(hv, vh))
                e["vertical_first_13"] = vfirst
                if not np.array_equal(out, hv):
                    e["expected_hv"] = cname + "_hv.png"
                    save_image(os.path.join(out_dir, e["expected_hv"]), hv)
            cases.append(e)
    print(f"Pillow's pass order rule confirmed on {n_rule} cases where the orders differ")

    # ---- torchvision: upstream's Resize(ceil(R / crop_ratio), BICUBIC) + CenterCrop(R).
    imgs["rgb_180x240_smooth"] = synth(180, 240, 3, 20, smooth=True)
    imgs["rgb_250x190_smooth"] = synth(250, 190, 3, 21, smooth=True)
    imgs["gray_300x260_smooth"] = synth(300, 260, 1, 22, smooth=True)
    imgs["gray_236x240_smooth"] = synth(236, 240, 1, 23, smooth=True)
    imgs["rgb_41x67"] = synth(41, 67, 3, 24)
    tv_cases = [
        ("rgb_180x240_smooth", 224, 0.95), ("rgb_180x240_smooth", 224, 1.0),
        ("rgb_250x190_smooth", 256, 0.95), ("gray_300x260_smooth", 288, 1.0),
        ("gray_300x260_smooth", 224, 0.95), ("gray_300x260_smooth", 256, 0.95),
        ("gray_236x240_smooth", 224, 0.95),  # ceil(224 / 0.95) = 236: no resize, crop only
        ("rgb_41x67", 32, 0.95), ("rgb_41x67", 48, 1.0), ("rgb_41x67", 21, 0.95),
        ("rgb_41x67", 64, 1.3),  # crop larger than the resized image: zero padding
        ("rgb_23x37", 35, 0.875),
    ]
    for src, R, ratio in tv_cases:
        img = imgs[src]
        tf, resize_to = cls_transform(cls_mod, R, ratio)
        assert resize_to == int(math.ceil(R / ratio)), (resize_to, R, ratio)
        mid = tf.transforms[0](to_pil(img))
        # Keep these independent of Pillow's pass order (which 13.0 changed).
        mh, mw = mid.size[1], mid.size[0]
        assert not (mh < img.shape[0] and mw != img.shape[1] and img.shape[0] - mh > 2 * (img.shape[1] - mw)), src
        out = from_pil(tf(to_pil(img)))
        assert out.shape == (R, R, img.shape[2])
        cname = f"tv_{src}_r{R}_c{str(ratio).replace('.', 'p')}"
        save_image(os.path.join(out_dir, cname + ".png"), out)
        cases.append(dict(name=cname, library="torchvision", op="classify_resize_crop", filter="bicubic",
                          input=add_input(src, img), H=img.shape[0], W=img.shape[1], C=img.shape[2], R=R,
                          crop_ratio=ratio, resize_to=resize_to, resized_h=mid.size[1], resized_w=mid.size[0],
                          new_h=R, new_w=R, expected=cname + ".png"))

    # ---- OpenCV: cv2.resize(INTER_CUBIC), without IPP (exact) and default (IPP on x86-64).
    cv_cases = [
        ("up_nonint", "rgb_23x37", 50, 61), ("up_int2", "rgb_23x37", 46, 74),
        ("down_nonint", "rgb_100x140", 31, 44), ("down_int", "rgb_100x140", 50, 35),
        ("down_int_gray", "gray_120x160", 40, 40), ("width_only", "rgb_100x140", 100, 53),
        ("height_only", "rgb_100x140", 41, 140), ("up_down_gray", "gray_120x160", 200, 45),
        ("tall1px_up", "rgb_1x70", 3, 20), ("wide1px_up", "gray_60x1", 90, 4),
        ("px1x1_up", "rgb_1x1", 5, 3), ("identity", "rgb_31x29", 31, 29),
        ("large_wide", "gray_5x2000", 3, 7), ("large_tall", "gray_2000x5", 7, 3),
        ("to_1x1", "rgb_100x140", 1, 1), ("tiny_3x3", "rgb_3x3", 10, 7), ("gray_3x40", "gray_3x40", 11, 90),
        ("rgba", "rgba_19x23", 31, 40), ("gray_alpha", "ga_17x13", 9, 30),
    ]
    for name, src, nh, nw in cv_cases:
        img = imgs[src]
        cases.append(dict(name=f"cv_{name}", library="opencv", op="resize", filter="cubic", input=add_input(src, img),
                          H=img.shape[0], W=img.shape[1], C=img.shape[2], new_h=nh, new_w=nw))
    # ADE20KDataset (short side --ade-crop) on odd sizes; upstream decodes a JPEG first.
    for src in ("rgb_37x53", "rgb_61x47", "rgb_45x45"):
        decoded, (th, tw), interp, _ = ade20k_resize(seg_mod, imgs[src], args.ade_crop)
        assert interp == cv2.INTER_CUBIC
        imgs[f"{src}_jpeg"] = decoded
        cases.append(dict(name=f"cv_ade20k_{src}", library="opencv", op="resize", filter="cubic",
                          rule="ade20k", crop_size=args.ade_crop, input=add_input(f"{src}_jpeg", decoded),
                          H=decoded.shape[0], W=decoded.shape[1], C=3, new_h=th, new_w=tw))
    # CityscapesDataset's Resize((crop, 2 * crop)).
    for src in ("rgb_100x140", "rgb_23x37"):
        interp, res = cityscapes_resize(seg_mod, imgs[src], args.cityscapes_crop)
        assert interp == cv2.INTER_CUBIC
        cases.append(dict(name=f"cv_cityscapes_{src}", library="opencv", op="resize", filter="cubic",
                          rule="cityscapes", crop_size=args.cityscapes_crop, input=add_input(src, imgs[src]),
                          H=imgs[src].shape[0], W=imgs[src].shape[1], C=3, new_h=res.shape[0], new_w=res.shape[1],
                          upstream_output_is_default_cv2=True))
    n_ipp_diff = 0
    for e in cases:
        if e["library"] != "opencv":
            continue
        img = inputs[e["input"]]
        exact = cv2_resize(img, e["new_h"], e["new_w"], ipp=False)
        default = cv2_resize(img, e["new_h"], e["new_w"], ipp=True)
        if e.get("rule") == "cityscapes":
            _, res = cityscapes_resize(seg_mod, img, e["crop_size"])
            assert np.array_equal(res, default)
        e["expected"] = e["name"] + ext_for(img.shape[2])
        save_image(os.path.join(out_dir, e["expected"]), exact)
        diff = int((exact != default).sum())
        e["ipp_differs"] = diff
        n_ipp_diff += diff
        if diff:
            e["expected_ipp"] = e["name"] + "_ipp" + ext_for(img.shape[2])
            save_image(os.path.join(out_dir, e["expected_ipp"]), default)

    # ---- Size tables (no images).
    tv_sizes = []
    for h, w, s in [(375, 500, 236), (500, 375, 236), (333, 500, 270), (480, 640, 304), (1, 1, 7), (7, 1000, 236),
                    (1000, 7, 236), (299, 299, 224), (224, 225, 224), (3, 10, 10), (10, 3, 10), (683, 1024, 1024),
                    (457, 913, 288), (100, 333, 3)]:
        nh, nw = torchvision.transforms.functional._compute_resized_output_size((h, w), [s])
        tv_sizes.append([h, w, s, nh, nw])
    ade_sizes = []
    for h, w in [(375, 500), (500, 375), (333, 500), (512, 683), (683, 512), (481, 481), (512, 512), (211, 1021),
                 (1021, 211), (600, 800), (17, 1000), (512, 700)]:
        img = synth(h, w, 3, h * 7 + w, smooth=True)
        _, (th, tw), _, _ = ade20k_resize(seg_mod, img, 512)
        ade_sizes.append([h, w, 512, th, tw])
    city_sizes = [[c, c, 2 * c] for c in (1024, 512, 24)]

    versions = {
        "pillow": PIL.__version__, "opencv": cv2.__version__, "ipp": cv2.ipp.getIppVersion(),
        "torchvision": torchvision.__version__, "torch": torch.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "machine": platform.machine(), "cpu_features": cv2.getCPUFeaturesLine(),
    }
    doc = dict(generator="validation/make_resize_fixtures.py", versions=versions, cases=cases,
               size_tables=dict(tv_resize=tv_sizes, ade20k=ade_sizes, cityscapes=city_sizes))
    with open(os.path.join(out_dir, "cases.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"{len(cases)} cases, {len(os.listdir(out_dir))} files, {total / 1e6:.2f} MB in {out_dir}")
    print(f"default cv2 (IPP) differs from OpenCV's own code at {n_ipp_diff} bytes over all OpenCV cases")
    print(json.dumps(versions))


if __name__ == "__main__":
    main()
