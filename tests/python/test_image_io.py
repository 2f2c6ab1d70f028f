# evsam.load_image against Pillow (tests/data/io/img, validation/make_io_fixtures.py; the C++ test is
# tests/core/test_image_io.cpp): lossless formats bit for bit, JPEG within the table's level bounds,
# broken and oversized files refused with the library's one-line messages (ValueError).
import os

import numpy as np
import pytest

import evsam
from conftest import DATA

IMG = os.path.join(DATA, "io", "img") + "/"
# tolerance.hpp: kTolJpeg420 {4, 0.15}, kTolJpeg444 {3, 0.1}, kTolJpegGray {2, 0.05}, kTolJpeg422 {48, 0.5}
JPEG = {"rgb_q95.jpg": (4, 0.15), "rgb_q95_444.jpg": (3, 0.1), "gray_q95.jpg": (2, 0.05), "rgb_q95_422.jpg": (48, 0.5)}


@pytest.mark.parametrize("name", ["rgb.png", "gray.png", "gray_alpha.png", "rgba.png", "bilevel.png", "palette.png",
                                  "palette4.png", "palette_trns.png", "gray16.png", "rgb16.png", "gray_alpha16.png",
                                  "rgb.bmp", "palette.bmp", "gray.bmp"])
def test_lossless_formats_match_pillow_exactly(name):
    im = evsam.load_image(IMG + name)
    assert im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3
    assert np.array_equal(im, np.load(IMG + name + ".rgb.npy"))


@pytest.mark.parametrize("name", sorted(JPEG))
def test_jpeg_within_levels_of_pillow(name):
    d = np.abs(evsam.load_image(IMG + name).astype(int) - np.load(IMG + name + ".rgb.npy").astype(int))
    mx, mean = JPEG[name]
    assert d.max() <= mx and d.mean() <= mean, (d.max(), d.mean())


@pytest.mark.parametrize("name,parts", [
    ("bad_empty.png", ["empty file"]),
    ("bad_text.png", ["not a PNG, JPEG or BMP image"]),
    ("bad_truncated.png", ["cannot decode PNG"]),
    ("bad_truncated.jpg", ["cannot decode JPEG"]),
    ("bad_truncated.bmp", ["truncated BMP"]),
    ("bad_huge_ihdr.png", ["100000x100000 = 10000000000 pixels", "above the limit"]),
    ("bad_huge_sof.jpg", ["above the limit"]),
    ("bad_huge.bmp", ["30000x30000", "above the limit"]),
])
def test_broken_files_are_refused(name, parts):
    with pytest.raises(ValueError) as e:
        evsam.load_image(IMG + name)
    msg = str(e.value)
    assert "\n" not in msg and name in msg and all(p in msg for p in parts), msg
