#!/usr/bin/env python3
"""The float error of Winograd's larger tiles, against the direct conv in float64 (issue 14).

strict runs its dense 3x3 stride-1 convs as Winograd F(2x2, 3x3) (ops/conv2d.hpp). A larger tile
does fewer multiplies per output (F(3x3): 25 / 9, F(4x4): 36 / 16, against F(2x2)'s 16 / 4 and the
direct conv's 9). This script asks whether one of them keeps strict's accuracy target (relative L2
no worse than PyTorch fp32's, max-abs no worse than 1.5x). It computes one 256 -> 256 3x3 conv, the
size of the L-models' neck convs, with inputs N(0, 1) and He-scaled weights:
  - the direct conv in float64 (the reference) and in float32 (im2col, one float32 product);
  - Winograd F(m x m, 3x3) in float32 for m = 2, 3, 4 and several point sets, the transforms in
    float32 and the products summed over the channels in chunks of 64, as evsam's GEMM sums;
  - F(m x m) with exact (float64) transforms, only the products' operands and sums in float32: the
    error that no care in the transforms removes.
The Toom-Cook matrices are built here from the points (exact fractions), and each is checked in
float64 against the direct conv first. numpy only; nothing from upstream.

    python3 validation/check_winograd_tiles.py [--size 48] [--channels 256]

Results (bench/README.md, issue 14 part 19): F(2x2) 2.8e-7 relative L2 (direct float32 3.6e-7);
F(3x3) 1.0e-6, 0.93e-6 with exact transforms; F(4x4) 1.3e-6 to 1.9e-6, 1.1e-6 at best with exact
transforms. PyTorch fp32's conv of the same inputs: 2.3e-7 (max-abs 2.0e-6).
"""
import argparse
from fractions import Fraction

import numpy as np


def polymul(a, b):
    r = [Fraction(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            r[i + j] += x * y
    return r


def toom_cook(m, r, points):
    """A^T (m x n), G (n x r), B^T (n x n), n = m + r - 1, from n - 1 finite points and infinity."""
    n = m + r - 1
    if len(points) != n - 1:
        raise ValueError(f"F({m}, {r}) needs {n - 1} finite points")
    p = [Fraction(x) for x in points]
    AT = [[x**k for x in p] + [Fraction(int(k == m - 1))] for k in range(m)]
    G = []
    for i, x in enumerate(p):
        norm = Fraction(1)
        for j, y in enumerate(p):
            if j != i:
                norm *= x - y
        G.append([x**k / norm for k in range(r)])
    G.append([Fraction(0)] * (r - 1) + [Fraction(1)])
    BT = []
    for i in range(n - 1):
        poly = [Fraction(1)]
        for j, y in enumerate(p):
            if j != i:
                poly = polymul(poly, [-y, Fraction(1)])
        BT.append(poly + [Fraction(0)])
    poly = [Fraction(1)]
    for y in p:
        poly = polymul(poly, [-y, Fraction(1)])
    BT.append(poly)
    return [np.array(M, dtype=np.float64) for M in (AT, G, BT)]


def direct(x, w, dt):
    C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1))).astype(dt)
    col = np.stack([xp[:, ky:ky + H, kx:kx + W] for ky in range(3) for kx in range(3)], 1).reshape(C * 9, H * W)
    return (w.astype(dt).reshape(w.shape[0], C * 9) @ col).reshape(w.shape[0], H, W)


def winograd(x, w, m, mats, dt, exact_transforms=False, chunk=64):
    C, H, W = x.shape
    OC = w.shape[0]
    a, nt = m + 2, H // m
    tdt = np.float64 if exact_transforms else dt
    AT, G, BT = [M.astype(tdt) for M in mats]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1))).astype(tdt)
    d = np.stack([np.stack([xp[:, ty * m:ty * m + a, tx * m:tx * m + a] for tx in range(nt)], 1) for ty in range(nt)],
                 1)
    V = np.einsum("ij,ctsjk,lk->ctsil", BT, d, BT, optimize=False).astype(dt).reshape(C, nt * nt, a, a)
    U = np.einsum("ij,ocjk,lk->ocil", G, w.astype(tdt), G, optimize=False).astype(dt)
    M = np.zeros((OC, nt * nt, a, a), tdt)
    for i in range(a):
        for j in range(a):
            acc = np.zeros((OC, nt * nt), dt)
            for c0 in range(0, C, chunk):  # each chunk's product from zero, then added: evsam's blocked sum
                acc = (acc + U[:, c0:c0 + chunk, i, j] @ V[c0:c0 + chunk, :, i, j]).astype(dt)
            M[:, :, i, j] = acc
    Y = np.einsum("ij,otjk,lk->otil", AT, M, AT, optimize=False).astype(dt)
    return Y.reshape(OC, nt, nt, m, m).transpose(0, 1, 3, 2, 4).reshape(OC, H, W)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=48, help="image side, a multiple of 2, 3 and 4 (default 48)")
    ap.add_argument("--channels", type=int, default=256)
    args = ap.parse_args()
    if args.size <= 0 or args.size % 12:
        raise SystemExit("check_winograd_tiles: --size must be a positive multiple of 12")
    rng = np.random.default_rng(0)
    C = args.channels
    x = rng.standard_normal((C, args.size, args.size))
    w = rng.standard_normal((C, C, 3, 3)) * np.sqrt(2 / (C * 9))
    ref = direct(x, w, np.float64)

    def err(y):
        e = y.astype(np.float64) - ref
        return f"relative L2 {np.linalg.norm(e) / np.linalg.norm(ref):.2e}  max-abs {np.abs(e).max():.2e}"

    print(f"{C} -> {C} 3x3 at {args.size}x{args.size}, |ref| max {np.abs(ref).max():.2f}")
    print(f"{'direct, float32':50s} {err(direct(x, w, np.float32))}")
    for m, pts in [(2, [0, 1, -1]), (3, [0, 1, -1, 2]), (3, [0, 1, -1, 0.5]), (4, [0, 1, -1, 2, -2]),
                   (4, [0, 1, -1, 0.5, -0.5]), (4, [0, -1, 1, 0.5, -2])]:
        mats = toom_cook(m, 3, pts)
        check = winograd(x, w, m, mats, np.float64)
        if np.abs(check - ref).max() > 1e-10 * np.abs(ref).max():
            raise SystemExit(f"check_winograd_tiles: F({m}x{m}) points {pts} do not give the conv in float64")
        label = f"F({m}x{m}) points {pts}"
        print(f"{label + ', float32':50s} {err(winograd(x, w, m, mats, np.float32))}")
        print(f"{label + ', exact transforms':50s} "
              f"{err(winograd(x, w, m, mats, np.float32, exact_transforms=True))}")


if __name__ == "__main__":
    main()
