#!/usr/bin/python3
"""Make the small file-layer fixtures in tests/data/io/ (npy files and images).

Run with the system Python (numpy + Pillow):  /usr/bin/python3 validation/make_io_fixtures.py
Everything is deterministic (fixed seeds, no timestamps), so re-running gives
identical files. The tests in tests/core/test_npy.cpp and tests/core/test_image_io.cpp
read these files:

  npy/<name>.npy          arrays written by numpy, one per dtype and several shapes
  npy/bad_*.npy           files the reader must refuse with an evsam::Error
  img/<name>.<ext>        images, and img/<name>.<ext>.rgb.npy = the uint8 HxWx3 array
                          np.asarray(Image.open(p).convert("RGB")) gives (the reference)
  img/bad_*               broken images the loader must refuse
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "io")
NPY = os.path.join(ROOT, "npy")
IMG = os.path.join(ROOT, "img")


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def npy_bytes(arr, version=None):
    b = io.BytesIO()
    np.lib.format.write_array(b, arr, version=version, allow_pickle=True)
    return b.getvalue()


# ----------------------------------------------------------------------------- npy
def make_npy():
    os.makedirs(NPY, exist_ok=True)
    good = {
        # float32 with awkward values: -0, subnormal, max, inf, nan
        "f32_2x3": np.array([[0.0, -0.0, 1.5], [1e-45, 3.4028235e38, -np.inf]], dtype=np.float32),
        "f32_nan": np.array([np.nan, 1.0], dtype=np.float32),
        "f64_1x2x3x4": (np.arange(24, dtype=np.float64).reshape(1, 2, 3, 4) / 7.0 - 1.0),
        "u8_7": np.array([0, 1, 2, 127, 128, 254, 255], dtype=np.uint8),
        "i32_scalar": np.array(-123456, dtype=np.int32),  # 0-d
        "i32_3": np.array([-2147483648, 0, 2147483647], dtype=np.int32),
        "i64_2x0x3": np.zeros((2, 0, 3), dtype=np.int64),  # an empty dim
        "i64_4": np.array([-(2**63), -1, 2**53 + 1, 2**63 - 1], dtype=np.int64),
        "b1_2x2": np.array([[True, False], [False, True]]),
    }
    for name, arr in good.items():
        np.save(os.path.join(NPY, name + ".npy"), arr)

    # Format versions 2.0 and 3.0 (numpy only picks them for huge / non-latin1 headers).
    v = np.arange(6, dtype=np.float32).reshape(2, 3) * 0.25
    write_bytes(os.path.join(NPY, "f32_2x3_v2.npy"), npy_bytes(v, version=(2, 0)))
    write_bytes(os.path.join(NPY, "f32_2x3_v3.npy"), npy_bytes(v, version=(3, 0)))

    # Refused files.
    np.save(os.path.join(NPY, "bad_fortran.npy"), np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
    np.save(os.path.join(NPY, "bad_bigendian.npy"), np.arange(4, dtype=">f4"))
    np.save(os.path.join(NPY, "bad_object.npy"), np.array([1, "a"], dtype=object), allow_pickle=True)
    np.save(os.path.join(NPY, "bad_float16.npy"), np.arange(3, dtype=np.float16))
    full = npy_bytes(np.arange(12, dtype=np.float32))
    write_bytes(os.path.join(NPY, "bad_truncated.npy"), full[:-5])  # data cut short
    write_bytes(os.path.join(NPY, "bad_trailing.npy"), full + b"\0\0\0\0")  # extra bytes after data
    write_bytes(os.path.join(NPY, "bad_magic.npy"), b"this is a text file, not an npy file\n")
    # Valid magic and length, but the dict is never closed.
    hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), "
    hdr = hdr + b" " * (64 - 10 - len(hdr) - 1) + b"\n"
    write_bytes(os.path.join(NPY, "bad_header_unclosed.npy"),
                b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + b"\0" * 24)
    # Header length field larger than the file.
    write_bytes(os.path.join(NPY, "bad_header_len.npy"), b"\x93NUMPY\x01\x00" + struct.pack("<H", 5000) + b"{'descr'")
    # Shape whose byte size is absurd (2^40 floats) with 8 bytes of data.
    hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }"
    hdr = hdr + b" " * (128 - 10 - len(hdr) - 1) + b"\n"
    write_bytes(os.path.join(NPY, "bad_absurd_shape.npy"),
                b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + b"\0" * 8)


# ----------------------------------------------------------------------------- images
def png_chunk(ctype, data):
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data) & 0xFFFFFFFF)


def raw_png(width, height, bit_depth, color_type, rows):
    """A PNG from already-packed scanlines (filter type 0 prepended here)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 9)) +
            png_chunk(b"IEND", b""))


def test_pattern(h, w, seed):
    """Smooth gradients plus a little noise plus a hard edge: exercises both JPEG and PNG filters."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 128 + 100 * np.sin(x / 3.0) * np.cos(y / 5.0)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (h, w, 3))
    img[h // 3: h // 2, w // 4: w // 2] = [250, 10, 30]
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def save_image(name, im, **kw):
    path = os.path.join(IMG, name)
    im.save(path, **kw)
    ref = np.asarray(Image.open(path).convert("RGB"))
    assert ref.dtype == np.uint8 and ref.ndim == 3 and ref.shape[2] == 3
    np.save(path + ".rgb.npy", ref)


def save_raw(name, data):
    path = os.path.join(IMG, name)
    write_bytes(path, data)
    ref = np.asarray(Image.open(path).convert("RGB"))
    np.save(path + ".rgb.npy", ref)


def make_images():
    os.makedirs(IMG, exist_ok=True)
    rgb = test_pattern(11, 13, seed=1)
    rng = np.random.default_rng(2)
    alpha = rng.integers(0, 256, (11, 13), dtype=np.uint8)
    alpha[0, :] = 0  # fully transparent row: Pillow's convert("RGB") keeps the colour, it does not composite
    gray = rgb[..., 0] // 2 + rgb[..., 1] // 2

    save_image("rgb.png", Image.fromarray(rgb, "RGB"))
    save_image("gray.png", Image.fromarray(gray, "L"))
    save_image("gray_alpha.png", Image.fromarray(np.stack([gray, alpha], -1), "LA"))
    save_image("rgba.png", Image.fromarray(np.concatenate([rgb, alpha[..., None]], -1), "RGBA"))
    save_image("bilevel.png", Image.fromarray(gray > 100).convert("1"))  # 1-bit grayscale

    pal = Image.fromarray(rgb, "RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    save_image("palette.png", pal)  # 8-bit palette
    pal16 = Image.fromarray(rgb, "RGB").quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    save_image("palette4.png", pal16)  # Pillow writes a 4-bit palette for <= 16 colours
    save_image("palette_trns.png", pal16, transparency=3)  # palette + tRNS chunk

    # 16-bit PNGs, built by hand so every sample uses both bytes.
    g16 = np.array([[0, 1, 255, 256], [1000, 32768, 65280, 65535]], dtype=">u2")
    save_raw("gray16.png", raw_png(4, 2, 16, 0, [r.tobytes() for r in g16]))
    c16 = (np.arange(2 * 3 * 3, dtype=np.uint32).reshape(2, 3, 3) * 3851 + 77).astype(">u2")
    save_raw("rgb16.png", raw_png(3, 2, 16, 2, [r.tobytes() for r in c16]))
    a16 = np.stack([g16, (g16[::-1] ^ 0x5A5A)], -1).astype(">u2")
    save_raw("gray_alpha16.png", raw_png(4, 2, 16, 4, [r.tobytes() for r in a16]))

    save_image("rgb.bmp", Image.fromarray(rgb, "RGB"))  # 24-bit
    save_image("palette.bmp", pal)  # 8-bit palette BMP
    save_image("gray.bmp", Image.fromarray(gray, "L"))  # 8-bit, grey palette

    big = test_pattern(37, 45, seed=3)  # not a multiple of 8/16: exercises partial MCUs
    save_image("rgb_q95.jpg", Image.fromarray(big, "RGB"), quality=95)  # 4:2:0 (Pillow default)
    save_image("rgb_q95_444.jpg", Image.fromarray(big, "RGB"), quality=95, subsampling=0)
    save_image("rgb_q95_422.jpg", Image.fromarray(big, "RGB"), quality=95, subsampling=1)
    save_image("gray_q95.jpg", Image.fromarray(big[..., 1], "L"), quality=95)

    # Broken images.
    png = open(os.path.join(IMG, "rgb.png"), "rb").read()
    write_bytes(os.path.join(IMG, "bad_empty.png"), b"")
    idat = png.index(b"IDAT")
    write_bytes(os.path.join(IMG, "bad_truncated.png"), png[: idat + 4 + 20])  # cut inside the IDAT data
    write_bytes(os.path.join(IMG, "bad_text.png"), b"this is a text file with a .png name\n")
    # Valid signature + IHDR (correct CRC) claiming 100000 x 100000 RGB, then an empty IDAT and IEND.
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    write_bytes(os.path.join(IMG, "bad_huge_ihdr.png"),
                b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"") + png_chunk(b"IEND", b""))
    bmp = open(os.path.join(IMG, "rgb.bmp"), "rb").read()
    write_bytes(os.path.join(IMG, "bad_truncated.bmp"), bmp[: len(bmp) - 40])
    # BMP header claiming 30000 x 30000 (9e8 pixels): width/height are int32 LE at offsets 18/22.
    write_bytes(os.path.join(IMG, "bad_huge.bmp"), bmp[:18] + struct.pack("<ii", 30000, 30000) + bmp[26:])
    jpg = open(os.path.join(IMG, "rgb_q95.jpg"), "rb").read()
    write_bytes(os.path.join(IMG, "bad_truncated.jpg"), jpg[: len(jpg) // 2])
    # JPEG whose SOF0 claims 20000 (w) x 10000 (h) = 2e8 pixels: a valid header stb accepts, above
    # the pixel limit. SOF0 = FF C0, length(2), precision(1), height(2, BE), width(2, BE).
    sof = jpg.index(b"\xff\xc0")
    write_bytes(os.path.join(IMG, "bad_huge_sof.jpg"),
                jpg[: sof + 5] + struct.pack(">HH", 10000, 20000) + jpg[sof + 9:])


if __name__ == "__main__":
    make_npy()
    make_images()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    print(f"wrote fixtures to {os.path.normpath(ROOT)} ({total} bytes)")
