#!/usr/bin/env python3
"""`evsam predict` against upstream's EfficientViTSamPredictor, full size, per variant (not run in CI).

For each variant:
  1. make_fixtures.py full writes a seeded non-trivial random-weight checkpoint (upstream's
     torch.save(model.state_dict())).
  2. The mask decoder heads are rescaled so the mask logits are O(1-10) rather than O(0.1-1): the
     last layer of every output_hypernetworks_mlps.<i> (layers.2 weight and bias) is multiplied by a
     power of two chosen from a measurement (upstream's low-res logits for a one-point and a box
     prompt; target max |logit| ~ --target-absmax). The mask logits are linear in those layers, so
     this scales them exactly. The rescaled state_dict is saved with torch.save and both sides load
     that file.
  3. Upstream: EfficientViTSamPredictor.set_image(np.array(Image.open(--image).convert("RGB"))),
     then predict(..., return_logits=True) for each prompt type, multimask true and false.
  4. evsam: `evsam predict --weights W --model V --image IMG --point X,Y,L ... --box X0,Y0,X1,Y1
     [--mask-input L.npy] [--single-mask] --logits --out-masks M.npy --out-iou Q.npy
     --out-lowres L.npy --dtype float --threads N` for the same prompt (coordinates in original
     image pixels, as users pass them). The one-point multimask prompt is also run without --logits
     (uint8 0/1 masks) against upstream's predict(return_logits=False).

Prompt types: point (one foreground point), points (fg/bg points, labels 1 0 1 0), box, point_box,
mask (the one point plus mask_input = upstream's best low-res map, by iou, of the one-point multimask
prediction, saved as (1,256,256) float32), border (points on the image corners/edges and at x=W, y=H).

Reported per variant, prompt type and multimask (must hold):
  lowres rel  max|lowres - ref| / max|ref| over the (C,256,256) low-res logits   <= 1e-3
  masks rel   the same over the (C,H,W) full-size logits                          <= 1e-3
  iou abs     max |iou - ref|                                                     <= 1e-4
  binary      % of pixels where (logits > 0) agrees                               >= 99.99
Prints a markdown table; exits 1 if any row fails.

With --fp64, upstream's predictor also runs in float64 (the same checkpoint, image and prompts; the
prompt tensors cast to double, and PositionEmbeddingRandom._pe_encoding made to compute in its
Gaussian matrix's dtype, since upstream casts the coordinates to float32 there). A second table then
puts evsam's error against fp64 beside PyTorch fp32's, for the low-res logits (relative L2 and
max-abs over max |ref|) and the IoU predictions (max abs), with their ratios (evsam / PyTorch), and
a summary: the median and the largest ratio over the prompt sets.

  /usr/bin/python3 validation/check_predictor.py --efficientvit-src DIR --sam-src DIR \\
      --evsam build/bin/evsam [--variants l0 xl0] [--image examples/data/chelsea.png] [--threads 2]
"""
import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import upstream  # noqa: E402

VARIANTS = ["l0", "l1", "l2", "xl0", "xl1"]
LIMITS = dict(lowres_rel=1e-3, masks_rel=1e-3, iou_abs=1e-4, binary_pct=99.99)


def q(v):
    """Quarter-pixel values: exact in float32 and in the tool's decimal argument."""
    return round(v * 4) / 4


def prompts(W, H):
    """(name, points [(x, y, label)], box or None, uses mask_input) in original-image pixels."""
    pt = [(q(0.45 * W), q(0.4 * H), 1)]
    box = [q(0.2 * W), q(0.15 * H), q(0.75 * W) + 0.5, q(0.9 * H)]
    return [
        ("point", pt, None, False),
        ("points", [(q(0.3 * W), q(0.35 * H), 1), (q(0.7 * W) + 0.25, q(0.2 * H), 0),
                    (q(0.55 * W) + 0.5, q(0.6 * H) - 0.25, 1), (q(0.15 * W), q(0.85 * H), 0)], None, False),
        ("box", [], box, False),
        ("point_box", [(q(0.5 * W), q(0.5 * H), 1)], box, False),
        ("mask", pt, None, True),
        ("border", [(0.0, 0.0, 1), (W - 1.0, H - 1.0, 1), (float(W), float(H), 0), (W - 1.0, 0.0, 0),
                    (0.0, H - 1.0, 1), (q(W / 2), 0.0, 1)], None, False),
    ]


def fmt(v):
    return repr(float(v))


def run_tool(args, weights, variant, image, pts, box, mask_file, multimask, logits, out_dir, tag):
    paths = {k: os.path.join(out_dir, f"{tag}.{k}.npy") for k in ("masks", "iou", "lowres")}
    for p in paths.values():
        if os.path.exists(p):
            os.remove(p)
    cmd = [args.evsam, "predict", "--weights", weights, "--model", variant, "--image", image]
    for x, y, lab in pts:
        cmd += ["--point", f"{fmt(x)},{fmt(y)},{lab}"]
    if box is not None:
        cmd += ["--box", ",".join(fmt(v) for v in box)]
    if mask_file:
        cmd += ["--mask-input", mask_file]
    if not multimask:
        cmd.append("--single-mask")
    if logits:
        cmd.append("--logits")
    cmd += ["--out-masks", paths["masks"], "--out-iou", paths["iou"], "--out-lowres", paths["lowres"],
            "--dtype", args.dtype, "--threads", str(args.threads)]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.time() - t0
    if r.returncode != 0:
        raise RuntimeError(f"exit {r.returncode}: {' '.join(shlex.quote(c) for c in cmd)}\n{r.stderr[-2000:]}")
    return paths, dt


def squeeze_to(arr, shape, what):
    """The tool may or may not keep a leading batch dim of 1."""
    import numpy as np
    arr = np.asarray(arr)
    while arr.ndim > len(shape) and arr.shape[0] == 1:
        arr = arr[0]
    if tuple(arr.shape) != tuple(shape):
        raise RuntimeError(f"{what}: shape {tuple(arr.shape)}, upstream {tuple(shape)}")
    return arr


def compare(ref, got):
    import numpy as np
    r = {}
    for k in ("lowres", "masks"):
        a = got[k].astype(np.float64)
        b = ref[k].astype(np.float64)
        r[f"{k}_rel"] = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
    r["iou_abs"] = float(np.abs(got["iou"].astype(np.float64) - ref["iou"].astype(np.float64)).max())
    r["binary_pct"] = float(((got["masks"] > 0) == (ref["masks"] > 0)).mean() * 100)
    r["ok"] = (r["lowres_rel"] <= LIMITS["lowres_rel"] and r["masks_rel"] <= LIMITS["masks_rel"]
               and r["iou_abs"] <= LIMITS["iou_abs"] and r["binary_pct"] >= LIMITS["binary_pct"])
    return r


def scaled_checkpoint(args, v, d, img, probe_points):
    """Steps 1-2 above for variant v in directory d: make_fixtures.py full (seed args.seed), then the
    hypernetwork heads rescaled by a power of two so max |low-res logit| is about args.target_absmax,
    measured with upstream's predictor on img (HxWx3 uint8 RGB) for probe_points [(x, y, label)] (or
    the image centre when empty) and a box. Saves <d>/efficientvit_sam_<v>_scaled.pt (the unscaled
    files are removed). args needs efficientvit_src, sam_src, seed, target_absmax.
    Returns (weights path, upstream model with those weights, EfficientViTSamPredictor with img set,
    factor, measured max |logit| before rescaling, seconds of set_image). check_amg.py uses it too."""
    import numpy as np
    import torch
    from efficientvit.models.efficientvit.sam import EfficientViTSamPredictor
    H, W = img.shape[:2]
    subprocess.run([sys.executable, os.path.join(HERE, "make_fixtures.py"), "full", "--variant", v,
                    "--full-dir", d, "--seed", str(args.seed), "--efficientvit-src", args.efficientvit_src,
                    "--sam-src", args.sam_src], check=True, capture_output=True)
    base = os.path.join(d, f"efficientvit_sam_{v}")
    for suffix in ("_fp16.pt", "_wrapped.pt"):
        os.remove(base + suffix)
    sd = torch.load(base + ".pt", map_location="cpu")
    model = upstream.create_model(v)
    model.load_state_dict(sd)
    predictor = EfficientViTSamPredictor(model)
    t0 = time.time()
    predictor.set_image(img)
    t_embed = time.time() - t0

    # measure the logit scale, then rescale the hypernetwork heads by a power of two
    probe = []
    for pts, box in ((probe_points if probe_points else [(W / 2, H / 2, 1)], None),
                     ([], [0.2 * W, 0.15 * H, 0.75 * W, 0.9 * H])):
        kw = dict(point_coords=np.array([p[:2] for p in pts]) if pts else None,
                  point_labels=np.array([p[2] for p in pts]) if pts else None,
                  box=np.array(box) if box else None)
        _, _, low = predictor.predict(**kw, multimask_output=True, return_logits=True)
        probe.append(float(np.abs(low).max()))
    measured = max(probe)
    factor = 2.0 ** round(math.log2(args.target_absmax / measured))
    keys = [k for k in sd if k.startswith("mask_decoder.output_hypernetworks_mlps.") and ".layers.2." in k]
    assert keys and len(keys) == 2 * model.mask_decoder.num_mask_tokens, keys
    for k in keys:
        sd[k] = sd[k] * factor
    weights = base + "_scaled.pt"
    torch.save(sd, weights)
    os.remove(base + ".pt")
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    print(f"{v}: upstream set_image {t_embed:.1f} s; max |low-res logit| before rescaling {measured:.3g}, "
          f"hypernetwork layers.2 x {factor:g} -> {weights}", flush=True)
    return weights, model, predictor, factor, measured, t_embed


def fp64_predictor(model, img):
    """Upstream's predictor on a float64 copy of model, with img set (see --fp64 above)."""
    import copy
    import torch
    from efficientvit.models.efficientvit.sam import EfficientViTSamPredictor
    from segment_anything.modeling.prompt_encoder import PositionEmbeddingRandom
    if not getattr(PositionEmbeddingRandom, "_evsam_dtype_patch", False):
        orig = PositionEmbeddingRandom._pe_encoding
        PositionEmbeddingRandom._pe_encoding = lambda self, c: orig(self, c.to(self.positional_encoding_gaussian_matrix.dtype))
        PositionEmbeddingRandom._evsam_dtype_patch = True
    m64 = copy.deepcopy(model).double()
    transform = m64.transform
    m64.transform = lambda im: transform(im).double()
    p = EfficientViTSamPredictor(m64)
    predict_torch = p.predict_torch

    def as_double(t):
        return t.double() if t is not None and t.is_floating_point() else t

    p.predict_torch = lambda pc, pl, boxes=None, mask_input=None, *a, **k: predict_torch(
        as_double(pc), pl, as_double(boxes), as_double(mask_input), *a, **k)
    with torch.inference_mode():
        p.set_image(img)
    return p


def against_fp64(ref32, got, ref64):
    """evsam's and PyTorch fp32's errors against fp64 (see --fp64)."""
    import numpy as np
    r = {}
    b = ref64["lowres"].astype(np.float64)
    scale = max(np.abs(b).max(), 1e-30)
    for who, x in (("evsam", got), ("torch", ref32)):
        d = x["lowres"].astype(np.float64) - b
        r[f"{who}_fp64_lowres_rel_l2"] = float(np.sqrt((d * d).sum() / max((b * b).sum(), 1e-300)))
        r[f"{who}_fp64_lowres_max"] = float(np.abs(d).max() / scale)
        r[f"{who}_fp64_iou"] = float(np.abs(x["iou"].astype(np.float64) - ref64["iou"].astype(np.float64)).max())
    for k in ("lowres_rel_l2", "lowres_max", "iou"):
        t = r[f"torch_fp64_{k}"]
        r[f"ratio_{k}"] = r[f"evsam_fp64_{k}"] / t if t > 0 else float("inf")
    return r


def print_fp64_table(results):
    import numpy as np
    rows = [r for r in results if "ratio_lowres_rel_l2" in r]
    print()
    print("against upstream in float64: evsam float / PyTorch fp32 (ratio)")
    print("| model | prompt | multimask | lowres rel-L2 | lowres max / max|ref| | iou max abs |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        cells = [f"{r['evsam_fp64_' + k]:.2e} / {r['torch_fp64_' + k]:.2e} ({r['ratio_' + k]:.2f})"
                 for k in ("lowres_rel_l2", "lowres_max", "iou")]
        print(f"| {r['model']} | {r['prompt']} | {r['multimask']} | " + " | ".join(cells) + " |")
    for k in ("lowres_rel_l2", "lowres_max", "iou"):
        q = np.array([r["ratio_" + k] for r in rows])
        if len(q):
            print(f"{k}: median ratio {np.median(q):.2f}, largest {q.max():.2f} over {len(q)} prompt sets")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    ap.add_argument("--evsam", default=os.path.join(HERE, "..", "build", "bin", "evsam"))
    ap.add_argument("--work", default="/tmp/evsam_predictor_check")
    ap.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    ap.add_argument("--image", default=os.path.join(HERE, "..", "examples", "data", "chelsea.png"))
    ap.add_argument("--prompts", nargs="+", help="subset of prompt types (default all)")
    ap.add_argument("--seed", type=int, default=0, help="make_fixtures.py full --seed")
    ap.add_argument("--target-absmax", type=float, default=8.0,
                    help="rescale the hypernetwork heads so max |low-res logit| is about this (power of two)")
    ap.add_argument("--dtype", default="float", choices=["float", "double"], help="evsam predict --dtype")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the checkpoints and outputs under --work")
    ap.add_argument("--fp64", action="store_true", help="also judge both against upstream run in float64")
    args = ap.parse_args()
    upstream.setup(args.efficientvit_src, args.sam_src)
    if not os.path.isfile(args.evsam):
        sys.exit(f"error: --evsam {args.evsam} not found (build it first)")
    import numpy as np
    import torch
    from PIL import Image
    torch.set_num_threads(args.threads)

    img = np.array(Image.open(args.image).convert("RGB"))
    H, W = img.shape[:2]
    plist = [p for p in prompts(W, H) if not args.prompts or p[0] in args.prompts]
    if args.prompts and "mask" in args.prompts and "point" not in args.prompts:
        sys.exit("error: the mask prompt needs the point prompt (its mask_input comes from it)")
    rows, results = [], []
    print(f"image {args.image}: {W}x{H}; evsam {args.evsam} --dtype {args.dtype} --threads {args.threads}")
    for v in args.variants:
        d = os.path.join(args.work, v)
        os.makedirs(d, exist_ok=True)
        weights, model, predictor, factor, measured, t_embed = scaled_checkpoint(args, v, d, img, plist[0][1])
        pred64 = fp64_predictor(model, img) if args.fp64 else None

        mask_file = None
        for name, pts, box, uses_mask in plist:
            for mm in (True, False):
                kw = dict(point_coords=np.array([p[:2] for p in pts], dtype=np.float64) if pts else None,
                          point_labels=np.array([p[2] for p in pts]) if pts else None,
                          box=np.array(box, dtype=np.float64) if box is not None else None,
                          mask_input=np.load(mask_file) if uses_mask else None)
                masks, iou, low = predictor.predict(**kw, multimask_output=mm, return_logits=True)
                ref = dict(masks=masks, iou=iou, lowres=low)
                if name == "point" and mm:
                    mask_file = os.path.join(d, "mask_input.npy")
                    np.save(mask_file, np.ascontiguousarray(low[int(np.argmax(iou))][None], dtype=np.float32))
                tag = f"{name}_{'multi' if mm else 'single'}"
                row = dict(model=v, prompt=name, multimask=mm, factor=factor,
                           ref_absmax=float(np.abs(low).max()), ref_masks_absmax=float(np.abs(masks).max()))
                try:
                    paths, dt = run_tool(args, weights, v, args.image, pts, box, mask_file if uses_mask else None,
                                         mm, True, d, tag)
                    got = {k: squeeze_to(np.load(p), ref[k].shape, f"{tag} {k}") for k, p in paths.items()}
                    row.update(compare(ref, got), seconds=dt)
                    if pred64 is not None:
                        m64, i64, l64 = pred64.predict(**kw, multimask_output=mm, return_logits=True)
                        row.update(against_fp64(ref, got, dict(masks=m64, iou=i64, lowres=l64)))
                    if name == "point" and mm:  # binary masks (no --logits): uint8 0/1
                        bref, _, _ = predictor.predict(**kw, multimask_output=mm, return_logits=False)
                        bpaths, _ = run_tool(args, weights, v, args.image, pts, box, None, mm, False, d, tag + "_bin")
                        bm = squeeze_to(np.load(bpaths["masks"]), bref.shape, f"{tag} binary masks")
                        row["binary_u8_dtype"] = str(bm.dtype)
                        row["binary_u8_pct"] = float((bm.astype(bool) == bref).mean() * 100)
                        row["binary_u8_values_ok"] = bool(bm.dtype == np.uint8 and set(np.unique(bm)) <= {0, 1})
                        row["ok"] = (row["ok"] and row["binary_u8_values_ok"]
                                     and row["binary_u8_pct"] >= LIMITS["binary_pct"])
                except Exception as e:  # report and go on with the next prompt
                    row.update(ok=False, error=str(e))
                results.append(row)
                if "error" in row:
                    line = f"| {v} | {name} | {mm} | - | - | - | - | FAIL: {row['error'].splitlines()[0][:120]} |"
                else:
                    extra = (f" (uint8 {row['binary_u8_pct']:.3f}%)" if "binary_u8_pct" in row else "")
                    line = (f"| {v} | {name} | {mm} | {row['lowres_rel']:.2e} | {row['masks_rel']:.2e} | "
                            f"{row['iou_abs']:.2e} | {row['binary_pct']:.3f}{extra} | "
                            f"{'ok' if row['ok'] else 'FAIL'} |")
                rows.append(line)
                print(line, f"  ({row.get('seconds', 0):.1f} s, ref max|lowres| {row['ref_absmax']:.3g})",
                      flush=True)
        if not args.keep:
            for f in os.listdir(d):
                if f.endswith((".pt", ".npy")):
                    os.remove(os.path.join(d, f))

    print()
    print(f"limits: lowres rel <= {LIMITS['lowres_rel']:g}, masks rel <= {LIMITS['masks_rel']:g}, "
          f"iou abs <= {LIMITS['iou_abs']:g}, binary >= {LIMITS['binary_pct']}%")
    print("| model | prompt | multimask | lowres rel | masks rel | iou abs | binary agree % | verdict |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for line in rows:
        print(line)
    if args.fp64:
        print_fp64_table(results)
    failures = sum(not r["ok"] for r in results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(image=args.image, dtype=args.dtype, limits=LIMITS, results=results), f, indent=1)
    print("check_predictor:", "all ok" if not failures else f"{failures} of {len(results)} FAILED")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
