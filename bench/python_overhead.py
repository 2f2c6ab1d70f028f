#!/usr/bin/env python3
"""The Python package's overhead (issue 19's target: <= 3 % over the CLI's internal times), in ONE
run on the same machine, checkpoint, image and thread count:

  encoder_s  `evsam bench`'s encoder time (preprocessed input -> embedding)  vs  Model.encode(x)
  decoder_s  `evsam bench`'s decoder time (one point at the image centre, multimask, masks at the
             original size)                                                  vs  SamPredictor.predict
  amg_s      `evsam bench --amg` (upstream's defaults, 32 x 32 points)       vs  SamAutomaticMaskGenerator.generate
             (Python's records include the (H, W) bool masks upstream returns; the tool's bench keeps RLE)

Each is the median of --repeat runs after one warm-up; the tool runs first, then Python, each in its
own process, with OMP_NUM_THREADS / --threads equal. Both sides run the same C++ headers (the package
is built from this checkout), so the difference is the binding: argument conversion, the GIL
release, and building numpy results.

  PYTHONPATH=build/python python3 bench/python_overhead.py --weights L0.pt [--image IMG]
      [--evsam build/bin/evsam] [--threads 2] [--repeat 5] [--json OUT.json]

Weights: any SAM checkpoint evsam loads (a seeded random-weight one, written with
torch.save(model.state_dict()), times the same as the official file).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def median_time(fn, repeat):
    fn()  # warm-up
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return statistics.median(t)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--image", default=os.path.join(REPO, "examples", "data", "chelsea.png"))
    ap.add_argument("--evsam", default=os.path.join(REPO, "build", "bin", "evsam"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-amg", action="store_true", help="skip segment everything (the slowest part)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    cmd = [args.evsam, "bench", "--weights", args.weights, "--image", args.image, "--threads", str(args.threads),
           "--repeat", str(args.repeat), "--json"] + ([] if args.no_amg else ["--amg"])
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    if r.returncode != 0:
        sys.exit("evsam bench failed: " + r.stderr.strip())
    cli = json.loads(r.stdout.strip().splitlines()[-1])

    import evsam  # after the tool's run: one process at a time on the cores

    evsam.set_num_threads(args.threads)
    model = evsam.load(args.weights)
    image = evsam.load_image(args.image)
    x = model.preprocess(image)
    py = {"encoder_s": median_time(lambda: model.encode(x), args.repeat)}
    predictor = evsam.SamPredictor(model)
    predictor.set_image(image)
    h, w = image.shape[:2]
    point, label = np.array([[w / 2, h / 2]]), np.array([1])
    py["decoder_s"] = median_time(lambda: predictor.predict(point_coords=point, point_labels=label), args.repeat)
    if not args.no_amg:
        gen = evsam.SamAutomaticMaskGenerator(model)
        masks = []
        py["amg_s"] = median_time(lambda: masks.append(len(gen.generate(image))), args.repeat)
        py["amg_masks"] = masks[-1]

    rows = []
    print(f"model {model.name}  image {w}x{h}  threads {args.threads}  repeat {args.repeat}  "
          f"evsam {evsam.__version__}")
    print(f"{'':10s} {'CLI (s)':>10s} {'Python (s)':>11s} {'overhead':>9s}  target")
    for k in ("encoder_s", "decoder_s", "amg_s"):
        if k not in py:
            continue
        over = py[k] / cli[k] - 1
        rows.append({"what": k, "cli_s": cli[k], "python_s": py[k], "overhead": over, "met": over <= 0.03})
        print(f"{k:10s} {cli[k]:10.4f} {py[k]:11.4f} {100 * over:+8.1f}%  <= 3%: {'met' if over <= 0.03 else 'NOT met'}")
    if "amg_s" in py:
        print(f"masks: CLI {cli.get('amg_masks')}, Python {py['amg_masks']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": model.name, "threads": args.threads, "repeat": args.repeat, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
