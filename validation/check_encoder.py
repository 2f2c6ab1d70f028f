#!/usr/bin/env python3
"""Image-encoder accuracy of `evsam embed` against upstream, full size, per variant.

For each variant: make_fixtures.py full writes a seeded non-trivial random-weight
checkpoint (torch.save of upstream's state_dict) and upstream's preprocessed input
for --image. Upstream's encoder then runs in float32 and in float64 on that input;
`evsam embed --input` runs in float and in double. Reported (max |diff| over the
(1,256,64,64) embedding):

  evsam_f32 - torch_f32     must be <= 1e-4
  torch_f32 - torch_f64     PyTorch's own fp32 error
  evsam_f32 - torch_f64     must be <= 2 x the line above
  evsam_f64 - torch_f64     must be <= 1e-9

  /usr/bin/python3 validation/check_encoder.py --efficientvit-src DIR --sam-src DIR \
      --evsam build/bin/evsam --variants l0 xl0 --image examples/data/chelsea.png
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
    ap.add_argument("--evsam", default=os.path.join(HERE, "..", "build", "bin", "evsam"))
    ap.add_argument("--work", default="/tmp/evsam_encoder_check")
    ap.add_argument("--variants", nargs="+", default=["l0", "l1", "l2", "xl0", "xl1"])
    ap.add_argument("--image", default=os.path.join(HERE, "..", "examples", "data", "chelsea.png"))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    upstream.setup(args.efficientvit_src, args.sam_src)
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    failures = 0
    print(f"{'model':5s} {'evsam32-torch32':>16s} {'torch32-torch64':>16s} {'evsam32-torch64':>16s} "
          f"{'ratio':>6s} {'evsam64-torch64':>16s}  verdict")
    for v in args.variants:
        d = os.path.join(args.work, v)
        os.makedirs(d, exist_ok=True)
        subprocess.run([sys.executable, os.path.join(HERE, "make_fixtures.py"), "full", "--variant", v, "--full-dir", d,
                        "--efficientvit-src", args.efficientvit_src, "--sam-src", args.sam_src], check=True,
                       capture_output=True)
        model = upstream.create_model(v)
        model.load_state_dict(torch.load(os.path.join(d, f"efficientvit_sam_{v}.pt"), map_location="cpu"))
        from PIL import Image
        x = model.transform(np.array(Image.open(args.image).convert("RGB"))).unsqueeze(0)
        np.save(os.path.join(d, "input.npy"), x.numpy())
        with torch.inference_mode():
            e32 = model.image_encoder(x).numpy().astype(np.float64)
            e64 = model.double().image_encoder(x.double()).numpy()
        outs = {}
        for dt in ("float", "double"):
            out = os.path.join(d, f"evsam_{dt}.npy")
            subprocess.run([args.evsam, "embed", "--weights", os.path.join(d, f"efficientvit_sam_{v}.pt"), "--input",
                            os.path.join(d, "input.npy"), "--out", out, "--dtype", dt, "--threads", str(args.threads)],
                           check=True)
            outs[dt] = np.load(out).astype(np.float64)
        a = np.abs(outs["float"] - e32).max()
        b = np.abs(e32 - e64).max()
        c = np.abs(outs["float"] - e64).max()
        dd = np.abs(outs["double"] - e64).max()
        ok = a <= 1e-4 and c <= 2 * b and dd <= 1e-9
        failures += not ok
        print(f"{v:5s} {a:16.3e} {b:16.3e} {c:16.3e} {c / b:6.2f} {dd:16.3e}  {'ok' if ok else 'FAIL'}", flush=True)
        for f in os.listdir(d):
            if f.endswith(".pt"):
                os.remove(os.path.join(d, f))
    print("check_encoder:", "all ok" if not failures else f"{failures} FAILED")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
