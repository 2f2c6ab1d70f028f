#!/usr/bin/env python3
"""Where float error grows: evsam float and PyTorch fp32, module by module, both against fp64.

For each variant: make_fixtures.py full writes the seeded random-weight checkpoint (torch.save of
upstream's state_dict) and upstream's preprocessed input for --image. Upstream's model then runs in
float32 and in float64 with a forward hook on every module of the image encoder; `evsam embed
--input --trace-dir` runs in float (and in double, as a check that the reference agrees). For every
module both traces share, in evsam's execution order:

  evsam32 vs torch64   max-abs and relative L2 of evsam's float output
  torch32 vs torch64   the same for PyTorch's own fp32 output
  ratio                evsam's relative L2 over PyTorch's (> 1: evsam's float is the noisier)

The last rows are the embedding. `--json OUT` writes every row; `--top N` prints the N modules
where the ratio grows most from one module to the next (where evsam loses accuracy).

  .venv/bin/python validation/check_float_error.py --efficientvit-src DIR --sam-src DIR \\
      --evsam build/bin/evsam --variants l0 xl0 --image examples/data/chelsea.png
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import upstream  # noqa: E402


def errors(x, ref):
    import numpy as np
    d = x.astype(np.float64) - ref
    den = float(np.sqrt((ref * ref).sum()))
    return float(np.abs(d).max()), (float(np.sqrt((d * d).sum())) / den if den > 0 else float("inf"))


def torch_trace(model, x, dtype, out_dir):
    """Every image-encoder module's output, by its state_dict-style name, saved as out_dir/<name>.npy
    (on disk: the XL models' traces do not fit in memory twice). Returns the names."""
    import numpy as np
    import torch
    os.makedirs(out_dir, exist_ok=True)
    names = []
    hooks = []
    m = model.to(dtype)
    for name, mod in m.image_encoder.named_modules():
        full = "image_encoder" + ("." + name if name else "")

        def hook(_mod, _inp, o, full=full):
            if isinstance(o, dict) and "sam_encoder" in o:  # the neck (a DAGBlock) returns a dict
                o = o["sam_encoder"]
            if isinstance(o, torch.Tensor):
                np.save(os.path.join(out_dir, full + ".npy"), o.detach().numpy())
                names.append(full)
        hooks.append(mod.register_forward_hook(hook))
    with torch.inference_mode():
        emb = m.image_encoder(x.to(dtype))
    for h in hooks:
        h.remove()
    np.save(os.path.join(out_dir, "embedding.npy"), emb.detach().numpy())
    return set(names + ["embedding"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    ap.add_argument("--evsam", default=os.path.join(HERE, "..", "build", "bin", "evsam"))
    ap.add_argument("--work", default="/tmp/evsam_float_error")
    ap.add_argument("--variants", nargs="+", default=["l0", "l1", "l2", "xl0", "xl1"])
    ap.add_argument("--image", default=os.path.join(HERE, "..", "examples", "data", "chelsea.png"))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--all", action="store_true", help="print every module, not only the summary")
    ap.add_argument("--json", help="write every row here")
    args = ap.parse_args()
    upstream.setup(args.efficientvit_src, args.sam_src)
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    report = {}
    for v in args.variants:
        d = os.path.join(args.work, v)
        os.makedirs(d, exist_ok=True)
        subprocess.run([sys.executable, os.path.join(HERE, "make_fixtures.py"), "full", "--variant", v, "--full-dir", d,
                        "--efficientvit-src", args.efficientvit_src, "--sam-src", args.sam_src], check=True,
                       capture_output=True)
        ckpt = os.path.join(d, f"efficientvit_sam_{v}.pt")
        model = upstream.create_model(v)
        model.load_state_dict(torch.load(ckpt, map_location="cpu"))
        model.eval()
        from PIL import Image
        x = model.transform(np.array(Image.open(args.image).convert("RGB"))).unsqueeze(0)
        np.save(os.path.join(d, "input.npy"), x.numpy())
        t32_dir, t64_dir = os.path.join(d, "torch_float32"), os.path.join(d, "torch_float64")
        torch_trace(model, x, torch.float32, t32_dir)
        t64 = torch_trace(model, x, torch.float64, t64_dir)
        traces = {}
        for dt in ("float", "double"):
            tdir = os.path.join(d, f"trace_{dt}")
            subprocess.run([args.evsam, "embed", "--weights", ckpt, "--input", os.path.join(d, "input.npy"), "--out",
                            os.path.join(d, f"evsam_{dt}.npy"), "--dtype", dt, "--threads", str(args.threads),
                            "--trace-dir", tdir], check=True, capture_output=True)
            order = json.load(open(os.path.join(tdir, "trace.json")))
            traces[dt] = (order, tdir)
        order, tdir = traces["float"]
        rows = []
        for name in order + ["embedding"]:
            if name != "embedding" and name not in t64:
                continue
            ref = np.load(os.path.join(t64_dir, name + ".npy"))
            t32 = np.load(os.path.join(t32_dir, name + ".npy"))
            f32 = np.load(os.path.join(d, "evsam_float.npy") if name == "embedding" else os.path.join(tdir, name + ".npy"))
            f64 = np.load(os.path.join(d, "evsam_double.npy") if name == "embedding" else
                          os.path.join(traces["double"][1], name + ".npy"))
            if f32.shape != ref.shape:
                continue
            em, er = errors(f32, ref)
            tm, tr = errors(t32, ref)
            dm, _ = errors(f64, ref)
            rows.append({"module": name, "evsam_max": em, "evsam_rel_l2": er, "torch_max": tm, "torch_rel_l2": tr,
                         "ratio_rel_l2": er / tr if tr > 0 else float("inf"), "ratio_max": em / tm if tm > 0 else float("inf"),
                         "double_max": dm})
        report[v] = rows
        print(f"\n{v}: {len(rows)} modules compared (evsam double vs torch fp64: max {max(r['double_max'] for r in rows):.2e})")
        fmt = "{:<78s} {:>10s} {:>10s} {:>10s} {:>10s} {:>6s}"
        print(fmt.format("module", "evsam max", "evsam rel", "torch max", "torch rel", "ratio"))
        show = rows if args.all else [r for r in rows if r["module"] == "embedding"]
        for r in show:
            print(fmt.format(r["module"][-78:], f"{r['evsam_max']:.2e}", f"{r['evsam_rel_l2']:.2e}", f"{r['torch_max']:.2e}",
                             f"{r['torch_rel_l2']:.2e}", f"{r['ratio_rel_l2']:.2f}"))
        # where evsam's error grows against PyTorch's: the largest step up of the ratio
        steps = sorted(((rows[i]["ratio_rel_l2"] - rows[i - 1]["ratio_rel_l2"], rows[i]["module"]) for i in range(1, len(rows))),
                       reverse=True)[:args.top]
        print(f"largest steps up of the ratio (evsam rel-L2 / torch rel-L2):")
        for s, name in steps:
            print(f"  +{s:.2f}  {name}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
