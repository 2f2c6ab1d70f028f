#!/usr/bin/env python3
"""Segment-everything speed: evsam vs upstream PyTorch, measured in the same run.

32x32 point grid (upstream defaults otherwise) on L0 for a 640x480 image, same thread count.
Weights: a seeded random-weight L0 checkpoint written by validation/make_fixtures.py full
(speed does not depend on the values; with random weights few masks pass the default
thresholds, which is the same for both sides).

  /usr/bin/python3 bench/bench_amg.py --efficientvit-src DIR --sam-src DIR [--threads 2] [--repeat 3]

Prints one table row per implementation with the median wall time, and the ratio.
The torch it imports is the baseline: state its version and build (Debian's python3-torch
uses a generic BLAS; the PyPI wheel uses MKL/oneDNN) when you quote the numbers.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "validation"))
import upstream  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    ap.add_argument("--evsam", default=os.path.join(HERE, "..", "build", "bin", "evsam"))
    ap.add_argument("--work", default="/tmp/evsam_bench_amg")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--points-per-side", type=int, default=32)
    args = ap.parse_args()
    upstream.setup(args.efficientvit_src, args.sam_src)
    import numpy as np
    import torch
    from PIL import Image
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    ckpt = os.path.join(args.work, "efficientvit_sam_l0.pt")
    if not os.path.exists(ckpt):
        subprocess.run([sys.executable, os.path.join(HERE, "..", "validation", "make_fixtures.py"), "full", "--variant",
                        "l0", "--full-dir", args.work, "--efficientvit-src", args.efficientvit_src, "--sam-src",
                        args.sam_src], check=True, capture_output=True)
    img_path = os.path.join(args.work, "image_640x480.png")
    src = Image.open(os.path.join(HERE, "..", "examples", "data", "chelsea.png")).convert("RGB")
    src.resize((640, 480), Image.BILINEAR).save(img_path)
    image = np.array(Image.open(img_path).convert("RGB"))

    from efficientvit.models.efficientvit.sam import EfficientViTSamAutomaticMaskGenerator
    model = upstream.create_model("l0")
    model.load_state_dict(torch.load(ckpt, map_location="cpu"))
    gen = EfficientViTSamAutomaticMaskGenerator(model, points_per_side=args.points_per_side)
    torch_times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        with torch.inference_mode():
            n_torch = len(gen.generate(image))
        torch_times.append(time.perf_counter() - t)

    ev_times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        subprocess.run([args.evsam, "everything", "--weights", ckpt, "--image", img_path, "--out",
                        os.path.join(args.work, "records.json"), "--output-mode", "uncompressed_rle",
                        "--points-per-side", str(args.points_per_side), "--threads", str(args.threads)],
                       check=True, capture_output=True)
        ev_times.append(time.perf_counter() - t)
    import json
    n_ev = len(json.load(open(os.path.join(args.work, "records.json"))))
    te, tt = statistics.median(ev_times), statistics.median(torch_times)
    print(f"segment everything, L0, 640x480, {args.points_per_side}x{args.points_per_side} points, "
          f"{args.threads} threads, median of {args.repeat}")
    print(f"baseline: upstream PyTorch {torch.__version__} ({torch.__config__.parallel_info().splitlines()[0]})")
    print(f"| implementation | amg_s | masks |")
    print(f"| --- | --- | --- |")
    print(f"| upstream PyTorch | {tt:.2f} | {n_torch} |")
    print(f"| evsam (whole process, incl. loading) | {te:.2f} | {n_ev} |")
    print(f"evsam / PyTorch = {te / tt:.2f}")


if __name__ == "__main__":
    main()
