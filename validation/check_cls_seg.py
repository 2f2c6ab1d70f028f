#!/usr/bin/env python3
"""Full-size parity of EfficientViT's classifiers and segmenters (issue 16), on demand (not CI).

For each model: a seeded random-weight checkpoint of upstream's zoo architecture (non-trivial
BatchNorm statistics, make_fixtures.nontrivial_init), written with torch.save(model.state_dict());
upstream's evaluation preprocessing of --image (the classifier's Resize/CenterCrop, the segmenter's
Cityscapes / ADE20K resize), against `evsam preprocess` (bit for bit); upstream's model in float64 and
float32 against `evsam classify|segment --input --logits` in float and double. Reported: evsam float's
relative L2 against fp64 beside PyTorch fp32's (and their ratio), max-abs errors, evsam double's max-abs
over max|ref| (the target: 1e-9), and whether the top-1 class / the label maps agree with fp64's.

  venv/bin/python validation/check_cls_seg.py --efficientvit-src DIR --sam-src DIR --image IMG
      [--models b1-r224 cls-l2 seg-b1-cityscapes seg-l1-ade20k] [--evsam build/bin/evsam] [--threads 2]
"""
import argparse
import copy
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import upstream  # noqa: E402
import make_fixtures as mf  # noqa: E402
import make_cls_seg_fixtures as csf  # noqa: E402

import torch  # noqa: E402


def rel_l2(a, ref):
    return float(np.linalg.norm(a - ref) / np.linalg.norm(ref))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    ap.add_argument("--image", required=True)
    ap.add_argument("--models", nargs="+", default=["b1-r224", "cls-l2", "seg-b1-cityscapes", "seg-l1-ade20k"])
    ap.add_argument("--evsam", default=os.path.join(HERE, "..", "build", "bin", "evsam"))
    ap.add_argument("--work", default="/tmp/evsam_check_cls_seg")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    upstream.setup(a.efficientvit_src, a.sam_src)
    torch.set_num_threads(a.threads)
    os.makedirs(a.work, exist_ok=True)
    from efficientvit.cls_model_zoo import create_efficientvit_cls_model
    from efficientvit.seg_model_zoo import create_efficientvit_seg_model
    rows = []
    for name in a.models:
        seg = name.startswith("seg-")
        base, res = name, None
        if not seg and "-r" in name:
            base, res = name.rsplit("-r", 1)
            res = int(res)
        zoo = "efficientvit-" + (base[4:] if base.startswith("cls-") else base)
        torch.manual_seed(a.seed)
        model = (create_efficientvit_seg_model if seg else create_efficientvit_cls_model)(zoo, pretrained=False).eval()
        mf.nontrivial_init(model, a.seed)
        ckpt = os.path.join(a.work, f"{name}.pt")
        torch.save(model.state_dict(), ckpt)
        if seg:
            x = csf.upstream_seg_input(a.image, "cityscapes" if name.endswith("cityscapes") else "ade20k")
        else:
            res = res or 224
            x = csf.upstream_cls_input(a.image, res, 0.95 if base == "b1" else 1.0)
        xin = os.path.join(a.work, f"{name}.input.npy")
        np.save(xin, x)
        # evsam's own preprocessing of the same image: bit for bit
        pre = os.path.join(a.work, f"{name}.evsam_input.npy")
        subprocess.run([a.evsam, "preprocess", "--model", name, "--image", a.image, "--out", pre], check=True,
                       capture_output=True)
        pre_same = bool(np.array_equal(np.load(pre), x))
        with torch.no_grad():
            ref64 = copy.deepcopy(model).double()(torch.from_numpy(x).double()).numpy()
            ref32 = model(torch.from_numpy(x)).numpy()
        out = {}
        for dtype in ("float", "double"):
            lp = os.path.join(a.work, f"{name}.{dtype}.npy")
            cmd = [a.evsam, "segment" if seg else "classify", "--weights", ckpt, "--model", name, "--input", xin,
                   "--logits", lp, "--dtype", dtype, "--threads", str(a.threads)]
            if seg:
                cmd += ["--out", os.path.join(a.work, f"{name}.{dtype}.png")]
            subprocess.run(cmd, check=True, capture_output=True)
            out[dtype] = np.load(lp).astype(np.float64)
        e32, t32 = rel_l2(out["float"], ref64), rel_l2(ref32, ref64)
        m = float(np.abs(ref64).max())
        if seg:
            agree = float((out["float"].argmax(1) == ref64.argmax(1)).mean())
            t_agree = float((ref32.argmax(1) == ref64.argmax(1)).mean())
        else:
            agree = float(out["float"].argmax(1)[0] == ref64.argmax(1)[0])
            t_agree = float(ref32.argmax(1)[0] == ref64.argmax(1)[0])
        rows.append((name, list(x.shape[2:]), pre_same, e32, t32, float(np.abs(out["float"] - ref64).max()),
                     float(np.abs(ref32 - ref64).max()), float(np.abs(out["double"] - ref64).max()) / m, agree, t_agree))
        print(f"{name}: done", file=sys.stderr, flush=True)
    print("| model | input | preprocess bit-exact | evsam float rel-L2 | PyTorch fp32 rel-L2 | ratio | evsam float max-abs "
          "| PyTorch fp32 max-abs | evsam double max-abs / max\\|ref\\| | argmax agreement with fp64: evsam / PyTorch |")
    print("| --- " * 10 + "|")
    for r in rows:
        print(f"| {r[0]} | {r[1][0]}x{r[1][1]} | {'yes' if r[2] else 'NO'} | {r[3]:.2e} | {r[4]:.2e} | {r[3] / r[4]:.2f} | "
              f"{r[5]:.1e} | {r[6]:.1e} | {r[7]:.1e} | {r[8]:.6f} / {r[9]:.6f} |")
    bad = [r[0] for r in rows if not r[2] or r[7] > 1e-9]
    if bad:
        sys.exit(f"out of target: {bad}")


if __name__ == "__main__":
    main()
