#!/usr/bin/python3
"""Fixtures for tests/core/test_preprocess.cpp: upstream EfficientViT-SAM image
preprocessing (SamResize -> ToTensor -> Normalize -> SamPad) and Pillow's
bilinear resize.

Everything expected comes from upstream objects, never from a Python
re-implementation: the transform is the `transform` attribute of a real
efficientvit.models.efficientvit.sam.EfficientViTSam (built with identity
sub-modules, which its __init__ only stores), and the prompt-frame sizes come
from SamResize.get_preprocess_shape and segment_anything's
ResizeLongestSide.get_preprocess_shape.

Writes into tests/data/preprocess/ (or --out):
  cases.json          versions, the case lists below, get_preprocess_shape table
  in_*.png            synthetic RGB inputs (seeded noise + gradients + sharp edges)
  rs_*.png            upstream SamResize output (uint8) for each pipeline case
  pil_*.png           PIL Image.resize(BILINEAR) output for the resize-only cases
  norm_table.npy      (3, 256) float32: upstream ToTensor+Normalize of every uint8 value
  full_*.npy          one whole upstream (1, 3, 512, 512) float32 tensor (small image)

Full (1,3,R,R) tensors are large, so for every pipeline case this script checks
(bit for bit) that upstream's tensor equals norm_table[c][resized_u8] inside the
resized region and +0.0 in the padding; the C++ test then only needs the
resized uint8 image and the table. Large photo-sized inputs are "procedural":
an integer formula that the C++ test evaluates identically, with the expected
upstream output stored as an FNV-1a 64 hash instead of a PNG.

Usage:
  /usr/bin/python3 validation/make_preprocess_fixtures.py \
      --efficientvit-src /work/up/mit-han-lab+efficientvit \
      --sam-src /work/up/facebookresearch+segment-anything
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import upstream  # noqa: E402


# --------------------------------------------------------------------------- helpers

def fnv1a64(data: bytes) -> str:
    """FNV-1a 64-bit hash of the bytes, as 16 hex digits (the C++ test computes the same)."""
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def procedural(h: int, w: int, c: int, seed: int) -> np.ndarray:
    """Deterministic HxWxc uint8 image from integer arithmetic only; mirrored by
    procedural_image() in tests/core/test_preprocess.cpp. Per pixel (y, x) and
    channel ch:
      n    = hash32(x * 0x9E3779B1 + y * 0x85EBCA77 + (ch + 4 * seed) * 0xC2B2AE3D)  (mod 2^32)
             hash32(v): v ^= v >> 15; v = v * 0x2C1B3C6D mod 2^32; v ^= v >> 12
      gx   = x * 255 // max(w - 1, 1);  gy = y * 255 // max(h - 1, 1)
      grad = [gx, gy, (gx + gy) // 2, 255 - gx][ch]
      edge = 255 if (x // 37 + y // 23) % 2 == 0 else 0
      v    = (2 * grad + edge + (n & 255)) // 4
    """
    M = 0xFFFFFFFF
    y, x = np.mgrid[0:h, 0:w].astype(np.uint64)
    gx = x * np.uint64(255) // np.uint64(max(w - 1, 1))
    gy = y * np.uint64(255) // np.uint64(max(h - 1, 1))
    grads = [gx, gy, (gx + gy) // np.uint64(2), np.uint64(255) - gx]
    edge = np.where((x // np.uint64(37) + y // np.uint64(23)) % np.uint64(2) == 0, 255, 0).astype(np.uint64)
    out = np.empty((h, w, c), np.uint8)
    for ch in range(c):
        v = (x * np.uint64(0x9E3779B1) + y * np.uint64(0x85EBCA77)
             + np.uint64((ch + 4 * seed) * 0xC2B2AE3D)) & np.uint64(M)
        v ^= v >> np.uint64(15)
        v = (v * np.uint64(0x2C1B3C6D)) & np.uint64(M)
        v ^= v >> np.uint64(12)
        out[:, :, ch] = ((np.uint64(2) * grads[ch] + edge + (v & np.uint64(255))) // np.uint64(4)).astype(np.uint8)
    return out


def synth(h: int, w: int, seed: int) -> np.ndarray:
    """Seeded synthetic RGB photo stand-in: smooth gradients, sharp-edged shapes,
    a strong-noise patch and faint noise elsewhere (kept PNG-compressible)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    fy, fx = yy / max(h - 1, 1), xx / max(w - 1, 1)
    img = np.stack([255 * fx,
                    255 * fy,
                    127.5 + 127.5 * np.sin(2 * np.pi * (1.3 * fx + 0.7 * fy))], axis=-1)
    # sharp-edged rectangles and discs with flat random colours
    for _ in range(6):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        y1, x1 = y0 + rng.integers(1, max(2, h // 3)), x0 + rng.integers(1, max(2, w // 3))
        img[y0:y1, x0:x1] = rng.integers(0, 256, 3)
    for _ in range(3):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.5, max(1.0, max(h, w) / 4))
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
    # a thin black/white stripe pattern (aliasing stress for downscales)
    sy = slice(h // 2, h // 2 + max(1, h // 10))
    img[sy] = np.where((xx[sy].astype(np.int64) // 2) % 2 == 0, 0, 255)[..., None]
    # faint noise over the top-left quadrant, full-range noise in a small patch
    qh, qw = max(1, h // 2), max(1, w // 2)
    img[:qh, :qw] += rng.integers(-2, 3, (qh, qw, 3))
    ny0, nx0 = rng.integers(0, h), rng.integers(0, w)
    ny1, nx1 = ny0 + max(1, h // 7), nx0 + max(1, w // 7)
    img[ny0:ny1, nx0:nx1] = rng.integers(0, 256, img[ny0:ny1, nx0:nx1].shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def save_png(path: str, arr: np.ndarray) -> None:
    from PIL import Image
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[arr.shape[2]]
    im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr, mode)
    im.save(path, optimize=True, compress_level=9)
    back = np.array(Image.open(path)).reshape(arr.shape)
    assert np.array_equal(back, arr), path


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


# --------------------------------------------------------------------------- cases

# (name, R, H, W, source): source "png" (synth image stored as in_<name>.png),
# "procedural" (generated in the test; output hash only) or "full" (png input
# plus the whole upstream tensor as .npy).
PIPELINE = [
    # R = 512 (L models)
    ("land_600x800_r512", 512, 600, 800, "png"),      # downscale, landscape
    ("port_777x517_r512", 512, 777, 517, "png"),      # downscale, portrait, odd sizes
    ("small_48x64_r512", 512, 48, 64, "png"),         # upscale
    ("odd_301x123_r512", 512, 301, 123, "png"),       # upscale, odd sizes
    ("thin_1x7_r512", 512, 1, 7, "png"),              # extreme aspect (73 x 512)
    ("thin_3x1000_r512", 512, 3, 1000, "png"),        # extreme aspect (2 x 512)
    ("tall_1000x3_r512", 512, 1000, 3, "png"),        # extreme aspect, portrait
    ("px_1x1_r512", 512, 1, 1, "png"),                # single pixel
    ("exact_512x384_r512", 512, 512, 384, "png"),     # long side == R: no resize
    ("exact_512x512_r512", 512, 512, 512, "png"),     # already R x R
    ("small_45x61_r512", 512, 45, 61, "full"),         # whole tensor stored
    ("photo_3000x4000_r512", 512, 3000, 4000, "procedural"),
    # R = 1024 (XL models)
    ("land_700x1100_r1024", 1024, 700, 1100, "png"),  # downscale, landscape
    ("port_1300x611_r1024", 1024, 1300, 611, "png"),  # downscale, portrait
    ("up_333x500_r1024", 1024, 333, 500, "png"),      # upscale
    ("odd_77x1023_r1024", 1024, 77, 1023, "png"),     # long side R-1
    ("thin_1x7_r1024", 1024, 1, 7, "png"),
    ("thin_3x1000_r1024", 1024, 3, 1000, "png"),      # height stays 3: vertical pass skipped
    ("px_1x1_r1024", 1024, 1, 1, "png"),
    ("exact_768x1024_r1024", 1024, 768, 1024, "procedural"),  # long side == R: no resize
    ("photo_3000x4000_r1024", 1024, 3000, 4000, "procedural"),  # 12 MP photo, ~3.9x antialias
    ("photo_4000x3000_r1024", 1024, 4000, 3000, "procedural"),
    ("photo_1080x1920_r1024", 1024, 1080, 1920, "procedural"),
]

# Upstream fails (PIL: "height and width must be > 0") when a side rounds to 0.
ERRORS = [("zero_1x3000_r512", 512, 1, 3000), ("zero_3000x1_r1024", 1024, 3000, 1)]

# Resize-only: PIL Image.resize((new_w, new_h), BILINEAR) on procedural inputs.
# (name, H, W, C, new_h, new_w); C = 4 uses mode "RGBX" (no alpha premultiplication).
RESIZE = [
    ("rgb_200x300_to_37x53", 200, 300, 3, 37, 53),
    ("rgb_3x3_to_5x5", 3, 3, 3, 5, 5),
    ("rgb_5x5_to_3x3", 5, 5, 3, 3, 3),
    ("gray_200x300_to_37x53", 200, 300, 1, 37, 53),
    ("gray_97x101_to_300x41", 97, 101, 1, 300, 41),
    ("gray_3x3_to_5x5", 3, 3, 1, 5, 5),
    ("rgbx_150x90_to_64x200", 150, 90, 4, 64, 200),
    ("rgbx_3x3_to_5x5", 3, 3, 4, 5, 5),
    ("rgb_same_w_100x80_to_37x80", 100, 80, 3, 37, 80),     # horizontal pass skipped
    ("rgb_same_h_100x80_to_100x13", 100, 80, 3, 100, 13),   # vertical pass skipped
    ("rgb_identity_50x40", 50, 40, 3, 50, 40),              # plain copy
    ("rgb_5x2000_to_2x3", 5, 2000, 3, 2, 3),                # huge downscale factor
    ("rgb_1x1_to_7x3", 1, 1, 3, 7, 3),
    ("gray_1x5_to_1x1", 1, 5, 1, 1, 1),
    ("rgb_640x480_to_1023x1", 640, 480, 3, 1023, 1),
]

SHAPES_FIXED = [(4000, 3000), (3000, 4000), (1, 1), (1, 7), (7, 1), (3, 1000), (1000, 3), (1, 3000),
                (2000, 1), (1023, 1024), (1025, 1), (720, 1280), (1080, 1920), (1200, 1600), (375, 500),
                (333, 500), (1, 2048), (3, 2048), (5, 2048), (2048, 1), (1, 1024), (1, 512), (511, 1023),
                (600, 800), (777, 517), (45, 61), (683, 1024), (1500, 1001), (17, 4096), (999, 1998)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "data", "preprocess"))
    args = ap.parse_args()
    upstream.setup(args.efficientvit_src, args.sam_src)

    import PIL
    import torch
    import torch.nn as nn
    import torchvision
    from PIL import Image
    from efficientvit.models.efficientvit.sam import EfficientViTSam, SamPad, SamResize
    from segment_anything.utils.transforms import ResizeLongestSide

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    def upstream_transform(R: int):
        """EfficientViTSam(...).transform with image_size=(1024, R), exactly as upstream builds it."""
        m = EfficientViTSam(nn.Identity(), nn.Identity(), nn.Identity(), image_size=(1024, R))
        t = m.transform
        assert isinstance(t.transforms[0], SamResize) and isinstance(t.transforms[3], SamPad), t
        return t

    transforms = {R: upstream_transform(R) for R in (512, 1024)}

    # norm_table: upstream ToTensor + Normalize (the Compose's own steps 1, 2) on all 256 values
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)  # 1 x 256 x 3
    t = transforms[512]
    table = t.transforms[2](t.transforms[1](ramp)).numpy()[:, 0, :].astype(np.float32)  # (3, 256)
    t1024 = transforms[1024]
    assert np.array_equal(bits(table), bits(t1024.transforms[2](t1024.transforms[1](ramp)).numpy()[:, 0, :]))
    np.save(os.path.join(out, "norm_table.npy"), table)

    def check_tensor(full: torch.Tensor, resized: np.ndarray, R: int, name: str) -> None:
        """upstream tensor == table[c][resized] inside, +0.0 outside, bit for bit."""
        assert full.dtype == torch.float32 and tuple(full.shape) == (3, R, R), (name, full.shape)
        h, w = resized.shape[:2]
        exp = np.zeros((3, R, R), np.float32)
        for c in range(3):
            exp[c, :h, :w] = table[c][resized[:, :, c]]
        assert np.array_equal(bits(full.numpy()), bits(exp)), f"{name}: tensor != table[resized]"

    pipeline = []
    for name, R, H, W, src in PIPELINE:
        seed = len(pipeline) + 1
        img = procedural(H, W, 3, seed) if src == "procedural" else synth(H, W, seed)
        tf = transforms[R]
        resized = tf.transforms[0](img)                          # upstream SamResize
        assert resized.dtype == np.uint8 and resized.ndim == 3 and resized.shape[2] == 3
        full = tf(img)                                           # upstream Compose end to end
        check_tensor(full, resized, R, name)
        skipped = max(H, W) == R
        nh, nw = SamResize.get_preprocess_shape(H, W, R)
        if skipped:
            assert resized is img
        else:
            assert resized.shape[:2] == (nh, nw), (name, resized.shape, nh, nw)
            # torchvision hands the PIL image to Image.resize(BILINEAR): check our reading of it
            direct = np.array(Image.fromarray(img).resize((nw, nh), Image.BILINEAR))
            assert np.array_equal(direct, resized), name
        e = {"name": name, "R": R, "H": H, "W": W, "resized_h": int(resized.shape[0]),
             "resized_w": int(resized.shape[1]), "resize_skipped": bool(skipped)}
        if src == "procedural":
            e["procedural_seed"] = seed
            e["resized_fnv1a64"] = fnv1a64(np.ascontiguousarray(resized).tobytes())
            if img.size <= 1_000_000:  # pure-Python hash; the big ones are checked via their output
                e["input_fnv1a64"] = fnv1a64(img.tobytes())
        else:
            e["input_png"] = f"in_{name}.png"
            save_png(os.path.join(out, e["input_png"]), img)
            if skipped:
                e["resized_png"] = e["input_png"]
            else:
                e["resized_png"] = f"rs_{name}.png"
                save_png(os.path.join(out, e["resized_png"]), np.ascontiguousarray(resized))
        if src == "full":
            e["full_npy"] = f"full_{name}.npy"
            np.save(os.path.join(out, e["full_npy"]), full.unsqueeze(0).numpy())  # (1, 3, R, R) like set_image
        pipeline.append(e)
        print(f"{name}: {H}x{W} -> {resized.shape[0]}x{resized.shape[1]} (R={R})")

    errors = []
    for name, R, H, W in ERRORS:
        img = procedural(H, W, 3, 99)
        try:
            transforms[R](img)
        except ValueError as ex:
            msg = str(ex)
        else:
            sys.exit(f"{name}: expected upstream to raise")
        errors.append({"name": name, "R": R, "H": H, "W": W, "procedural_seed": 99,
                       "preprocess_shape": list(SamResize.get_preprocess_shape(H, W, R)), "upstream_error": msg})
        print(f"{name}: upstream raises {msg!r}")

    resize = []
    for i, (name, H, W, C, nh, nw) in enumerate(RESIZE):
        seed = 100 + i
        img = procedural(H, W, C, seed)
        mode = {1: "L", 3: "RGB", 4: "RGBX"}[C]
        im = Image.fromarray(img[:, :, 0] if C == 1 else img, mode)
        res = np.array(im.resize((nw, nh), Image.BILINEAR)).reshape(nh, nw, C)
        e = {"name": name, "H": H, "W": W, "C": C, "new_h": nh, "new_w": nw, "procedural_seed": seed,
             "expected_png": f"pil_{name}.png", "input_fnv1a64": fnv1a64(img.tobytes())}
        save_png(os.path.join(out, e["expected_png"]), res)
        resize.append(e)

    shapes = []
    rng = np.random.default_rng(7)
    pairs = SHAPES_FIXED + [tuple(int(v) for v in rng.integers(1, 5000, 2)) for _ in range(150)]
    for h, w in pairs:
        for L in (512, 1024, 1000):
            a = SamResize.get_preprocess_shape(h, w, L)
            b = ResizeLongestSide.get_preprocess_shape(h, w, L)
            assert tuple(a) == tuple(b)
            shapes.append({"h": h, "w": w, "long_side": L, "new_h": a[0], "new_w": a[1]})

    meta = {
        "generator": "validation/make_preprocess_fixtures.py",
        "versions": {"pillow": PIL.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
                     "numpy": np.__version__},
        "norm_table": "norm_table.npy",
        "pipeline": pipeline,
        "errors": errors,
        "resize": resize,
        "preprocess_shape": shapes,
    }
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    print(f"wrote {out}: {len(os.listdir(out))} files, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
