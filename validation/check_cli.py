#!/usr/bin/env python3
"""End-to-end checks of the `evsam` tool against upstream, on full-size models.

Not part of CI (it needs torch and the upstream checkouts, and writes ~2.5 GB of
checkpoints); run it after changing the loader or the preprocessing.

  info        For every variant (or --variants), build upstream's model with seeded
              non-trivial random weights (make_fixtures.py full), torch.save it as
              .pt, fp16 .pt and {"state_dict": ...}-wrapped .pt, and check that
              `evsam info --json` reports the variant, upstream's exact parameter
              count, the resolution and the dtype for each file.
  preprocess  For each --images file and each model resolution, compare
              `evsam preprocess` with upstream's EfficientViTSam.transform applied to
              Pillow's decoding: max |diff| must be <= 1e-6 for PNG (bit-exact in
              practice); JPEG is reported (stb and libjpeg decoders differ).

  /usr/bin/python3 validation/check_cli.py --efficientvit-src DIR --sam-src DIR \
      --evsam build/bin/evsam --work /tmp/evsam_check info preprocess --images a.png b.jpg
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import upstream  # noqa: E402

VARIANTS = ["l0", "l1", "l2", "xl0", "xl1"]


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def check_info(args):
    import torch  # noqa: F401  (make_fixtures needs it)
    failures = 0
    for v in args.variants:
        rc, out, err = run([sys.executable, os.path.join(HERE, "make_fixtures.py"), "full", "--variant", v,
                            "--full-dir", args.work, "--efficientvit-src", args.efficientvit_src,
                            "--sam-src", args.sam_src])
        if rc:
            sys.exit(f"make_fixtures full {v} failed: {err.strip()}")
        model = upstream.create_model(v)
        params = sum(p.numel() for p in model.parameters())
        resolution = model.image_size[1]
        for suffix, dtype, wrapped in (("", "float32", False), ("_fp16", "float16", False), ("_wrapped", "float32", True)):
            path = os.path.join(args.work, f"efficientvit_sam_{v}{suffix}.pt")
            rc, out, err = run([args.evsam, "info", "--weights", path, "--json"])
            got = json.loads(out.strip().splitlines()[-1]) if rc == 0 else {}
            want = {"model": v, "params": params, "resolution": resolution, "dtype": dtype, "wrapped": wrapped}
            ok = rc == 0 and all(got.get(k) == w for k, w in want.items())
            failures += not ok
            print(f"info {os.path.basename(path):32s} {'ok  ' if ok else 'FAIL'} "
                  f"model={got.get('model')} params={got.get('params')} (upstream {params}) "
                  f"resolution={got.get('resolution')} dtype={got.get('dtype')} wrapped={got.get('wrapped')}"
                  + ("" if rc == 0 else f" rc={rc} {err.strip()}"))
            if not args.keep:
                os.remove(path)
    return failures


def check_preprocess(args):
    import numpy as np
    from PIL import Image
    failures = 0
    for v in ("l0", "xl0"):  # the two resolutions, 512 and 1024
        model = upstream.create_model(v)
        for img_path in args.images:
            out = os.path.join(args.work, "pre.npy")
            rc, _, err = run([args.evsam, "preprocess", "--image", img_path, "--model", v, "--out", out])
            if rc:
                print(f"preprocess {img_path} {v}: FAIL rc={rc} {err.strip()}")
                failures += 1
                continue
            rgb = np.array(Image.open(img_path).convert("RGB"))
            ref = model.transform(rgb).unsqueeze(0).numpy()
            ours = np.load(out)
            diff = float(np.abs(ref - ours).max()) if ref.shape == ours.shape else float("inf")
            is_png = img_path.lower().endswith(".png")
            ok = diff <= 1e-6 if is_png else True
            failures += not ok
            print(f"preprocess {os.path.basename(img_path):20s} {v:3s} {str(rgb.shape):16s} -> {ours.shape} "
                  f"max|diff|={diff:.3g} {'ok' if ok else 'FAIL'}{'' if is_png else ' (JPEG: decoder differences, reported only)'}")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    ap.add_argument("checks", nargs="+", choices=["info", "preprocess"])
    ap.add_argument("--evsam", default=os.path.join(HERE, "..", "build", "bin", "evsam"))
    ap.add_argument("--work", default="/tmp/evsam_check", help="scratch directory for checkpoints and outputs")
    ap.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    ap.add_argument("--images", nargs="+", default=[os.path.join(HERE, "..", "examples", "data", "chelsea.png")])
    ap.add_argument("--keep", action="store_true", help="keep the generated checkpoints")
    args = ap.parse_args()
    upstream.setup(args.efficientvit_src, args.sam_src)
    os.makedirs(args.work, exist_ok=True)
    failures = 0
    if "info" in args.checks:
        failures += check_info(args)
    if "preprocess" in args.checks:
        failures += check_preprocess(args)
    print("check_cli:", "all ok" if failures == 0 else f"{failures} FAILED")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
