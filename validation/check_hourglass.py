#!/usr/bin/env python3
"""Full-size SAM ViT image encoders, plain and with Expedit-SAM's hourglass, `evsam embed` against
upstream (segment-anything's ImageEncoderViT, Expedit-SAM's HourglassImageEncoderViT) run in float64.

For each variant: a seeded non-trivial random-weight Sam (make_fixtures.nontrivial_init) saved with
torch.save(model.state_dict()), as the official files are; --image preprocessed by upstream's
ResizeLongestSide + Sam.preprocess. Then, for plain ViT and each --settings L,K (the other knobs:
upstream's class defaults), upstream's encoder in float32 and float64 and `evsam embed` in float and
double. Reported: relative L2 (and max-abs) against fp64 of evsam float and of PyTorch fp32, their
ratio, and evsam double's max-abs over max|ref|.

  /work/venv/bin/python validation/check_hourglass.py --efficientvit-src DIR --sam-src DIR \\
      --expedit-src DIR --variants vit_b --settings 8,100 6,81 --image examples/data/chelsea.png
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import upstream  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    upstream.add_expedit_arg(ap)
    ap.add_argument("--evsam", default=os.path.join(HERE, "..", "build", "bin", "evsam"))
    ap.add_argument("--work", default="/tmp/evsam_hourglass_check")
    ap.add_argument("--variants", nargs="+", default=["vit_b"], choices=["vit_b", "vit_l", "vit_h"])
    ap.add_argument("--settings", nargs="*", default=["8,100", "6,81"], help="L,K pairs (plain ViT always runs)")
    ap.add_argument("--image", default=os.path.join(HERE, "..", "examples", "data", "chelsea.png"))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-double", action="store_true", help="skip evsam's double build (slow at full size)")
    args = ap.parse_args()
    upstream.setup(args.efficientvit_src, args.sam_src)
    hg = upstream.hourglass_module(args.expedit_src)
    import numpy as np
    import torch
    from PIL import Image
    from segment_anything import sam_model_registry
    from segment_anything.utils.transforms import ResizeLongestSide
    import make_fixtures
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    print(f"{'model':6s} {'L,K':>7s} {'evsam32 relL2':>14s} {'torch32 relL2':>14s} {'ratio':>6s} "
          f"{'evsam32 max':>12s} {'torch32 max':>12s} {'evsam64 max/max|ref|':>21s}")
    for v in args.variants:
        sam = sam_model_registry[v](checkpoint=None).eval()
        make_fixtures.nontrivial_init(sam, args.seed)
        ckpt = os.path.join(args.work, f"sam_{v}.pt")
        torch.save(sam.state_dict(), ckpt)
        img = np.array(Image.open(args.image).convert("RGB"))
        t = ResizeLongestSide(1024).apply_image(img)
        x = sam.preprocess(torch.as_tensor(t).permute(2, 0, 1).contiguous()[None].float())
        xin = os.path.join(args.work, "input.npy")
        np.save(xin, x.numpy())
        enc = sam.image_encoder
        for s in [None] + args.settings:
            if s is None:
                model, flags, label = enc, [], "-"
            else:
                L, K = (int(u) for u in s.split(","))
                model = upstream.hourglass_encoder(hg, enc, L, K)
                flags, label = ["--hourglass-location", str(L), "--hourglass-clusters", str(K)], s
            with torch.no_grad():
                r32 = model(x).numpy().astype(np.float64)
                import copy
                r64 = copy.deepcopy(model).double()(x.double()).numpy()
            outs = {}
            for dt in (["float"] if args.no_double else ["float", "double"]):
                out = os.path.join(args.work, f"{v}_{label.replace(',', '_')}_{dt}.npy")
                subprocess.run([args.evsam, "embed", "--weights", ckpt, "--model", v, "--input", xin, "--out", out,
                                "--dtype", dt, "--threads", str(args.threads)] + flags, check=True)
                outs[dt] = np.load(out).astype(np.float64)
            rel = lambda a: float(np.linalg.norm(a - r64) / np.linalg.norm(r64))  # noqa: E731
            mx = lambda a: float(np.abs(a - r64).max())  # noqa: E731
            d64 = f"{mx(outs['double']) / np.abs(r64).max():.2e}" if "double" in outs else "-"
            print(f"{v:6s} {label:>7s} {rel(outs['float']):14.3e} {rel(r32):14.3e} "
                  f"{rel(outs['float']) / rel(r32):6.2f} {mx(outs['float']):12.3e} {mx(r32):12.3e} {d64:>21s}",
                  flush=True)


if __name__ == "__main__":
    main()
