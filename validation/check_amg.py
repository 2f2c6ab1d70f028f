#!/usr/bin/env python3
"""`evsam everything` against upstream's EfficientViTSamAutomaticMaskGenerator, full size (not run in CI).

For each variant (default l0):
  1. The random-weight checkpoint of check_predictor.py: make_fixtures.py full (seed --seed), then the
     hypernetwork heads rescaled by a power of two so the mask logits are O(1-10)
     (check_predictor.scaled_checkpoint, the same file check_predictor.py compares with).
  2. Upstream: EfficientViTSamAutomaticMaskGenerator(model, **settings).generate(
     np.array(Image.open(--image).convert("RGB"))). Its records are cached under --work, keyed by the
     checkpoint, the image and the settings (upstream's decoder is slow on CPU: about 3 s per point
     prompt for l0 on two cores), so a re-run after a C++ change only runs the tool.
  3. evsam: `evsam everything --weights W --model V --image IMG --out RECORDS.json --points-per-side N
     --points-per-batch N --pred-iou-thresh F --stability-score-thresh F --stability-score-offset F
     --box-nms-thresh F --crop-n-layers N --crop-nms-thresh F --crop-overlap-ratio F
     --crop-n-points-downscale-factor N --min-mask-region-area N --output-mode MODE --threads N`,
     which writes a JSON list of records with upstream's fields (segmentation as uncompressed RLE
     {"size": [h, w], "counts": [...]} in column-major order, or COCO RLE {"size": [h, w],
     "counts": "..."}; area, bbox XYWH, predicted_iou, point_coords, stability_score, crop_box).

Settings (every other argument is upstream's default, except the lowered score thresholds
--pred-iou-thresh / --stability-score-thresh, applied to all settings; --set KEY=VALUE overrides any
argument of every setting, e.g. --set points_per_side=2 for a quick run):
  i    points_per_side 8, box_nms_thresh 1.0, output uncompressed_rle. With random weights every mask
       spans the image, so any NMS threshold below 1 keeps about one mask; 1.0 suppresses nothing
       (identical boxes have IoU exactly 1, not > 1) and all filtered masks are compared.
  ii   points_per_side 4, crop_n_layers 1, min_mask_region_area 200, output coco_rle (box and crop NMS
       at upstream's 0.7).

Matching: greedy by mask IoU (pairs in decreasing IoU; exact ties prefer the same point_coords, then
the closer predicted_iou), each evsam mask used at most once. Per variant and setting (must hold):
  count       |#evsam - #upstream| <= 2 % of #upstream
  matched     >= 98 % of upstream's masks matched at mask IoU >= 0.98
  iou diff    max |predicted_iou - ref| over matched masks <= 1e-3
  stab diff   max |stability_score - ref| over matched masks <= 2e-2
Also reported (not criteria): mean matched mask IoU, matched pairs with the same point / bbox / area /
crop_box, pairs in the same position of the record list, COCO strings identical (coco_rle), and that
every evsam RLE is well formed (counts sum to h*w, size = image size).
Prints a markdown table; exits 1 if any row fails.

  /usr/bin/python3 validation/check_amg.py --efficientvit-src DIR --sam-src DIR --evsam build/bin/evsam \\
      [--variants l0] [--image examples/data/chelsea.png] [--settings i ii] [--threads N] [--json R.json]

Needs the real cv2 (remove_small_regions) and pycocotools (coco_rle), see README.md.
"""
import argparse
import collections
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import upstream  # noqa: E402

VARIANTS = ["l0", "l1", "l2", "xl0", "xl1"]
LIMITS = dict(count_rel=0.02, matched_frac=0.98, match_iou=0.98, iou_abs=1e-3, stab_abs=2e-2)
DEFAULTS = collections.OrderedDict([  # upstream's generator defaults
    ("points_per_side", 32), ("points_per_batch", 64), ("pred_iou_thresh", 0.88),
    ("stability_score_thresh", 0.95), ("stability_score_offset", 1.0), ("box_nms_thresh", 0.7),
    ("crop_n_layers", 0), ("crop_nms_thresh", 0.7), ("crop_overlap_ratio", 512 / 1500),
    ("crop_n_points_downscale_factor", 1), ("min_mask_region_area", 0), ("output_mode", "binary_mask")])
SETTINGS = collections.OrderedDict([
    ("i", dict(points_per_side=8, box_nms_thresh=1.0, output_mode="uncompressed_rle")),
    ("ii", dict(points_per_side=4, crop_n_layers=1, min_mask_region_area=200, output_mode="coco_rle")),
])


def settings_for(name, args):
    s = collections.OrderedDict(DEFAULTS)
    s.update(pred_iou_thresh=args.pred_iou_thresh, stability_score_thresh=args.stability_score_thresh)
    s.update(SETTINGS[name])
    for kv in args.set or []:
        k, v = kv.split("=", 1)
        if k not in DEFAULTS:
            sys.exit(f"error: --set {kv}: unknown generator argument {k!r}")
        s[k] = type(DEFAULTS[k])(v) if not isinstance(DEFAULTS[k], float) else float(v)
    return s


def tool_args(s):
    out = []
    for k, v in s.items():
        out += ["--" + k.replace("_", "-"), repr(float(v)) if isinstance(v, float) else str(v)]
    return out


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def to_jsonable(rec):
    """An upstream record as JSON (binary_mask segmentations become nested lists)."""
    import numpy as np
    out = {}
    for k, v in rec.items():
        if isinstance(v, np.ndarray):
            v = v.astype(int).tolist()
        out[k] = v
    return out


def decode(seg, hw, what):
    """Segmentation of either RLE form (or a nested 0/1 list) -> bool (H, W); checks the RLE is well formed."""
    import numpy as np
    from pycocotools import mask as mask_utils
    from segment_anything.utils.amg import rle_to_mask
    if isinstance(seg, dict):
        size = [int(v) for v in seg["size"]]
        if size != list(hw):
            raise ValueError(f"{what}: size {size}, image {list(hw)}")
        if isinstance(seg["counts"], str):
            return mask_utils.decode({"size": size, "counts": seg["counts"].encode()}).astype(bool)
        counts = [int(c) for c in seg["counts"]]
        if sum(counts) != hw[0] * hw[1] or any(c < 0 for c in counts):
            raise ValueError(f"{what}: counts sum to {sum(counts)}, not {hw[0] * hw[1]} (or negative)")
        return rle_to_mask({"size": size, "counts": counts})
    m = np.asarray(seg, dtype=bool)
    if m.shape != tuple(hw):
        raise ValueError(f"{what}: mask shape {m.shape}, image {tuple(hw)}")
    return m


def greedy_match(ref, got, ref_masks, got_masks):
    """Pairs (i, j, iou): greedy in decreasing mask IoU; exact ties prefer the same point, then the closer
    predicted_iou; each mask used once."""
    import numpy as np
    if not ref or not got:
        return []
    a = ref_masks.reshape(len(ref), -1).astype(np.float32)
    b = got_masks.reshape(len(got), -1).astype(np.float32)
    assert a.shape[1] < (1 << 24)  # float32 counts are exact
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)  # two empty masks are identical
    cand = []
    for i in range(len(ref)):
        for j in np.flatnonzero(iou[i] > 0):
            same_pt = got[j].get("point_coords") == ref[i]["point_coords"]
            d_iou = abs(float(got[j]["predicted_iou"]) - float(ref[i]["predicted_iou"]))
            cand.append((-float(iou[i, j]), 0 if same_pt else 1, d_iou, i, int(j)))
    cand.sort()
    used_r, used_g, pairs = set(), set(), []
    for neg, _, _, i, j in cand:
        if i in used_r or j in used_g:
            continue
        used_r.add(i)
        used_g.add(j)
        pairs.append((i, j, -neg))
    return pairs


def compare(ref, got, hw, mode):
    import numpy as np
    r = collections.OrderedDict()
    ref_m = np.stack([decode(x["segmentation"], hw, f"upstream {k}") for k, x in enumerate(ref)]) if ref else None
    got_m = np.stack([decode(x["segmentation"], hw, f"evsam record {k}") for k, x in enumerate(got)]) if got else None
    n_r, n_g = len(ref), len(got)
    pairs = greedy_match(ref, got, ref_m, got_m)
    good = [(i, j, q) for i, j, q in pairs if q >= LIMITS["match_iou"]]
    r["n_upstream"], r["n_evsam"] = n_r, n_g
    r["count_rel"] = abs(n_g - n_r) / n_r if n_r else (0.0 if n_g == 0 else float("inf"))
    r["matched_frac"] = len(good) / n_r if n_r else 1.0
    r["mean_iou"] = float(np.mean([q for _, _, q in good])) if good else None
    r["iou_abs"] = max((abs(float(got[j]["predicted_iou"]) - float(ref[i]["predicted_iou"])) for i, j, _ in good),
                       default=0.0)
    r["stab_abs"] = max((abs(float(got[j]["stability_score"]) - float(ref[i]["stability_score"])) for i, j, _ in good),
                        default=0.0)

    def frac(pred):
        return sum(1 for i, j, _ in good if pred(ref[i], got[j])) / len(good) if good else None

    def close(a, b):
        return len(a) == len(b) and all(abs(float(x) - float(y)) <= 1e-6 for x, y in zip(a, b))
    r["same_point"] = frac(lambda a, b: close(sum(a["point_coords"], []), sum(b["point_coords"], [])))
    r["same_bbox"] = frac(lambda a, b: close(a["bbox"], b["bbox"]))
    r["same_area"] = frac(lambda a, b: int(a["area"]) == int(b["area"]))
    r["same_crop_box"] = frac(lambda a, b: close(a["crop_box"], b["crop_box"]))
    r["same_position"] = sum(1 for i, j, _ in good if i == j) / len(good) if good else None
    if mode == "coco_rle":
        r["coco_identical"] = frac(lambda a, b: a["segmentation"]["counts"] == b["segmentation"]["counts"])
    r["area_consistent"] = all(int(x["area"]) == int(m.sum()) for x, m in zip(got, got_m)) if got else True
    r["ok"] = (r["count_rel"] <= LIMITS["count_rel"] and r["matched_frac"] >= LIMITS["matched_frac"]
               and r["iou_abs"] <= LIMITS["iou_abs"] and r["stab_abs"] <= LIMITS["stab_abs"])
    return r


def run_upstream(model, img, s, cache, key):
    """Upstream's records (cached in `cache` under `key`)."""
    from efficientvit.models.efficientvit.sam import EfficientViTSamAutomaticMaskGenerator
    if os.path.isfile(cache):
        with open(cache) as f:
            c = json.load(f)
        if c.get("key") == key:
            return c["records"], c["seconds"], True
    t0 = time.time()
    recs = EfficientViTSamAutomaticMaskGenerator(model, **s).generate(img)
    dt = time.time() - t0
    recs = [to_jsonable(x) for x in recs]
    with open(cache, "w") as f:
        json.dump({"key": key, "seconds": dt, "records": recs}, f)
    return recs, dt, False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    ap.add_argument("--evsam", default=os.path.join(HERE, "..", "build", "bin", "evsam"))
    ap.add_argument("--work", default="/tmp/evsam_amg_check")
    ap.add_argument("--variants", nargs="+", default=["l0"], choices=VARIANTS)
    ap.add_argument("--image", default=os.path.join(HERE, "..", "examples", "data", "chelsea.png"))
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--pred-iou-thresh", type=float, default=0.5,
                    help="lowered (upstream 0.88); random-weight predicted IoUs lie in about [-1, 0.9]")
    ap.add_argument("--stability-score-thresh", type=float, default=0.3,
                    help="lowered (upstream 0.95); random-weight stability scores (offset 1) lie in about [0, 0.42]")
    ap.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="override a generator argument in every setting (repeatable)")
    ap.add_argument("--seed", type=int, default=0, help="make_fixtures.py full --seed")
    ap.add_argument("--target-absmax", type=float, default=8.0, help="as check_predictor.py")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--keep", action="store_true",
                    help="keep the checkpoint and evsam's records under --work (upstream's records are always kept: "
                         "they are the cache)")
    args = ap.parse_args()
    upstream.setup(args.efficientvit_src, args.sam_src)
    missing = [n for n in ("cv2", "pycocotools") if not upstream.have_real(n)]
    if missing:
        sys.exit(f"error: needs the real {' and '.join(missing)}: apt install python3-opencv; pip install pycocotools")
    if not os.path.isfile(args.evsam):
        sys.exit(f"error: --evsam {args.evsam} not found (build it first)")
    import numpy as np
    import torch
    from PIL import Image
    import check_predictor
    torch.set_num_threads(args.threads)

    img = np.array(Image.open(args.image).convert("RGB"))
    H, W = img.shape[:2]
    img_sha = sha256_file(args.image)
    print(f"image {args.image}: {W}x{H}; evsam {args.evsam} --threads {args.threads}")
    rows, results = [], []
    for v in args.variants:
        d = os.path.join(args.work, v)
        os.makedirs(d, exist_ok=True)
        weights, model, _, factor, measured, _ = check_predictor.scaled_checkpoint(
            args, v, d, img, check_predictor.prompts(W, H)[0][1])
        w_sha = sha256_file(weights)
        for sname in args.settings:
            s = settings_for(sname, args)
            key = hashlib.sha256(json.dumps([w_sha, img_sha, s]).encode()).hexdigest()
            row = collections.OrderedDict([("model", v), ("setting", sname), ("settings", s), ("factor", factor)])
            try:
                ref, t_up, cached = run_upstream(model, img, s, os.path.join(d, f"upstream_{sname}.json"), key)
                row["upstream_seconds"], row["upstream_cached"] = t_up, cached
                out = os.path.join(d, f"evsam_{sname}.json")
                if os.path.exists(out):
                    os.remove(out)
                cmd = ([args.evsam, "everything", "--weights", weights, "--model", v, "--image", args.image,
                        "--out", out] + tool_args(s) + ["--threads", str(args.threads)])
                t0 = time.time()
                p = subprocess.run(cmd, capture_output=True, text=True)
                row["evsam_seconds"] = time.time() - t0
                if p.returncode != 0:
                    raise RuntimeError(f"exit {p.returncode}: {' '.join(shlex.quote(c) for c in cmd)}\n"
                                       f"{p.stderr[-2000:]}")
                with open(out) as f:
                    got = json.load(f)
                if not isinstance(got, list):
                    raise RuntimeError(f"{out}: not a JSON list of records")
                row.update(compare(ref, got, (H, W), s["output_mode"]))
            except Exception as e:  # report and go on
                row.update(ok=False, error=f"{type(e).__name__}: {e}")
            results.append(row)
            if "error" in row:
                line = f"| {v} | {sname} | - | - | - | - | - | - | - | FAIL: {row['error'].splitlines()[0][:120]} |"
            else:
                def pct(x):
                    return "-" if x is None else f"{100 * x:.1f}"
                line = (f"| {v} | {sname} | {row['n_upstream']} | {row['n_evsam']} | {100 * row['count_rel']:.1f} | "
                        f"{pct(row['matched_frac'])} | "
                        f"{'-' if row['mean_iou'] is None else format(row['mean_iou'], '.4f')} | "
                        f"{row['iou_abs']:.1e} | {row['stab_abs']:.1e} | {'ok' if row['ok'] else 'FAIL'} |")
            rows.append(line)
            extra = ""
            if "error" not in row:
                extra = (f"same point {pct(row['same_point'])}%, bbox {pct(row['same_bbox'])}%, area "
                         f"{pct(row['same_area'])}%, crop_box {pct(row['same_crop_box'])}%, position "
                         f"{pct(row['same_position'])}%" +
                         (f", coco identical {pct(row['coco_identical'])}%" if "coco_identical" in row else "") +
                         ("" if row["area_consistent"] else ", AREA != mask sum") +
                         f"; upstream {row['upstream_seconds']:.0f} s{' (cached)' if row['upstream_cached'] else ''}"
                         f", evsam {row['evsam_seconds']:.1f} s")
            print(line, extra, flush=True)
        if not args.keep:  # upstream's records stay, as the cache
            for f in os.listdir(d):
                if f.endswith((".pt", ".npy")) or f.startswith("evsam_"):
                    os.remove(os.path.join(d, f))

    print()
    print(f"limits: count within {100 * LIMITS['count_rel']:g}%, >= {100 * LIMITS['matched_frac']:g}% of upstream's "
          f"masks matched at IoU >= {LIMITS['match_iou']}, |predicted_iou diff| <= {LIMITS['iou_abs']:g}, "
          f"|stability diff| <= {LIMITS['stab_abs']:g} (on matched masks)")
    print("| model | setting | upstream | evsam | count diff % | matched % | mean IoU | max iou diff | "
          "max stability diff | verdict |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for line in rows:
        print(line)
    failures = sum(not r["ok"] for r in results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(image=args.image, limits=LIMITS, results=results), f, indent=1)
    print("check_amg:", "all ok" if not failures else f"{failures} of {len(results)} FAILED")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
