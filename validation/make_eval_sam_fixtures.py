"""Fixtures for `evsam eval-sam` (tests/data/eval_sam/): a tiny COCO-format and a tiny LVIS-format
dataset, a detector source file, and what upstream's evaluation makes of them.

  images/<id>.png        synthetic images (make_fixtures.synth_image); one has no annotation, and one
                         annotated image id has no file (upstream skips both)
  coco.json, lvis.json   instances: polygons (several parts, partly out of the image), uncompressed
                         RLE (iscrowd), every area
                         class, the class bounds 32^2 and 96^2 exactly, an area < 1 (skipped)
  detections.json        a detector's results [{image_id, category_id, bbox, score}]
  masks.json             pycocotools' frPyObjects + merge + decode (as RLE counts) and encode
                         (compressed strings) on hand-made segmentations: the C++ mask API's reference
  expected.json          per case (dataset, prompt, clicks): upstream's records (per-annotation IoU
                         and clicks) and mIoU in float64 and in float32; for box_from_detector the
                         results list (RLE strings) and the AP that pycocotools / lvis compute

Upstream's code does the work: eval_efficientvit_sam_model.py's eval_dataset (its image list, sorted
by name: os.listdir's order is arbitrary), ann_to_mask, bbox_xywh_to_xyxy, predict_mask_from_box /
_point, and sam_eval_utils' Clicker, iou, get_iou_metric, evaluate_predictions_on_coco / _lvis; the
loops are run_box / run_point / run_box_from_detector's, without torch.distributed. OpenCV runs
without IPP (see run_cases: IPP's distance transform is not exact, nor the same from call to call). The model is the
committed tiny_l (tests/data/tiny/tiny_l/model.pt); float64 runs use check_predictor.fp64_predictor.

  /work/venv/bin/python validation/make_eval_sam_fixtures.py --efficientvit-src DIR --sam-src DIR
Needs torch, numpy, Pillow, opencv-python-headless, pycocotools, lvis, tqdm (PyPI).
"""
import argparse
import collections
import contextlib
import io
import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import upstream  # noqa: E402

OUT = os.path.join(REPO, "tests", "data", "eval_sam")
IMAGES = [(101, 160, 120, 5), (102, 96, 128, 6), (103, 120, 90, 7)]  # id, width, height, seed
MISSING_ID = 104  # annotated, but no file


def circle(cx, cy, r, n=24, phase=0.0):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False) + phase
    return [float(round(v, 2)) for xy in zip(cx + r * np.cos(t), cy + r * np.sin(t)) for v in xy]


def rect(x0, y0, x1, y1):
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def uncompressed_counts(m):
    """The mask's uncompressed COCO RLE counts: runs of 0s and 1s in column-major order, 0s first."""
    from pycocotools import mask as mu
    counts, cur, run = [], 0, 0
    for v in m.T.reshape(-1):
        if v != cur:
            counts.append(run)
            run, cur = 0, v
        run += 1
    counts.append(run)
    assert int(mu.area(mu.frPyObjects({"counts": counts, "size": list(m.shape)}, *m.shape))) == int(m.sum())
    return [int(c) for c in counts]


def segmentations(w, h, rs):
    """(segmentation, area override or None, iscrowd) for one image."""
    from pycocotools import mask as mu
    segs = [
        ([rect(4.5, 6.25, w - 10.0, h - 8.75)], None, 0),               # large (> 96^2 on 160x120)
        ([circle(0.35 * w, 0.4 * h, 0.22 * min(w, h))], None, 0),      # medium disc
        ([circle(0.8 * w, 0.2 * h, 4.3, 7)], None, 0),                 # small heptagon
        ([rect(0.5 * w, 0.6 * h, 0.9 * w, 0.85 * h), circle(10, 10, 6, 9)], None, 0),  # two parts
        ([[-8.0, -5.0, 30.0, 2.0, 25.5, 40.25, -3.0, 30.0]], None, 0),  # partly outside
        ([[w * 0.6, h * 0.1, w * 1.3, h * 0.3, w * 0.7, h * 1.2]], None, 0),  # past the right/bottom
        ([circle(0.5 * w, 0.5 * h, 18.06, 32)], 1024.0, 0),             # the small/medium bound
        ([rect(2, 2, 0.95 * w, 0.95 * h)], 9216.0, 0),                  # the medium/large bound
        ([circle(40, 40, 0.3, 5)], 0.5, 0),                             # area < 1: skipped
    ]
    m = np.zeros((h, w), np.uint8)  # a crowd region as uncompressed RLE (column-major counts)
    m[int(0.1 * h):int(0.7 * h), int(0.55 * w):int(0.75 * w)] = 1
    m[rs.rand(h, w) < 0.05] ^= 1
    segs.append(({"counts": uncompressed_counts(m), "size": [h, w]}, None, 1))
    return segs


def area_of(seg, h, w):
    from pycocotools import mask as mu
    if isinstance(seg, list):
        return float(mu.area(mu.merge(mu.frPyObjects(seg, h, w))))
    return float(mu.area(mu.frPyObjects(seg, h, w)))


def bbox_of(seg, h, w):
    from pycocotools import mask as mu
    rle = mu.merge(mu.frPyObjects(seg, h, w)) if isinstance(seg, list) else mu.frPyObjects(seg, h, w)
    return [float(v) for v in mu.toBbox(rle)]


def make_dataset(out):
    from PIL import Image
    import make_fixtures as mf
    os.makedirs(os.path.join(out, "images"))
    rs = np.random.RandomState(17)
    coco_images, lvis_images, anns, dets = [], [], [], []
    ann_id = 1000
    for iid, w, h, seed in IMAGES + [(MISSING_ID, 64, 48, 8)]:
        name = f"{iid:012d}.png"
        if iid != MISSING_ID:
            Image.fromarray(mf.synth_image(w, h, seed)).save(os.path.join(out, "images", name))
        coco_images.append({"id": iid, "file_name": name, "width": w, "height": h})
        lvis_images.append({"id": iid, "coco_url": f"http://images.cocodataset.org/images/{name}", "width": w,
                            "height": h, "neg_category_ids": [3], "not_exhaustive_category_ids": []})
        if iid == 103:
            continue  # an image without annotations
        for k, (seg, area, crowd) in enumerate(segmentations(w, h, rs)):
            ann_id += 7
            a = area if area is not None else area_of(seg, h, w)
            anns.append({"id": ann_id, "image_id": iid, "category_id": 1 + k % 2, "segmentation": seg,
                         "area": a, "bbox": bbox_of(seg, h, w), "iscrowd": crowd})
            if crowd == 0 and a >= 1:
                x, y, bw, bh = anns[-1]["bbox"]
                j = rs.uniform(-3, 3, 4)
                dets.append({"image_id": iid, "category_id": 1 + k % 2,
                             "bbox": [round(x + j[0], 2), round(y + j[1], 2), round(max(bw + j[2], 1), 2),
                                      round(max(bh + j[3], 1), 2)],
                             "score": round(float(rs.uniform(0.05, 1)), 4)})
    cats = [{"id": 1, "name": "thing"}, {"id": 2, "name": "stuff"}, {"id": 3, "name": "other"}]
    coco = {"images": coco_images, "annotations": anns, "categories": cats}
    lvis_anns = [{k: v for k, v in a.items() if k != "iscrowd"} for a in anns if isinstance(a["segmentation"], list)]
    lvis_cats = [dict(c, frequency=f, synset=c["name"] + ".n.01", image_count=1, instance_count=1)
                 for c, f in zip(cats, "fcr")]
    lvis = {"images": lvis_images, "annotations": lvis_anns, "categories": lvis_cats}
    for name, obj in (("coco.json", coco), ("lvis.json", lvis), ("detections.json", dets)):
        with open(os.path.join(out, name), "w") as f:
            json.dump(obj, f)
    return coco, lvis, dets


def make_masks(out):
    """pycocotools on hand-made segmentations: the C++ mask API's reference."""
    from pycocotools import mask as mu
    rs = np.random.RandomState(3)
    cases = []
    h, w = 37, 53
    polys = [
        ("triangle", [[3.2, 4.7, 40.1, 9.9, 12.5, 33.3]]),
        ("two_parts", [[1, 1, 10, 1, 10, 10, 1, 10], [20.5, 20.5, 30.25, 22.0, 25.0, 35.75]]),
        ("overlapping_parts", [[0, 0, 20, 0, 20, 20, 0, 20], [10, 10, 30, 10, 30, 30, 10, 30]]),
        ("outside", [[-10.6, -3.2, 70.0, 5.0, 60.0, 50.0, -2.5, 40.0]]),
        ("negative_half", [[-0.4, -0.4, 5.0, -0.6, 5.2, 6.1]]),
        ("one_point", [[5.0, 6.0, 5.0, 6.0, 5.0, 6.0]]),
        ("degenerate_line", [[2.0, 2.0, 30.0, 2.0, 16.0, 2.0]]),
        ("odd_count", [[1.0, 1.0, 20.0, 3.0, 10.0, 25.0, 7.0]]),
        ("two_points", [[3.0, 4.0, 10.5, 20.25]]),  # frPyObjects raises TypeError (takes it for boxes): frPoly
        ("many_vertices", [circle(26, 18, 15, 97, 0.3)]),
        ("self_intersecting", [[2, 2, 30, 30, 30, 2, 2, 30]]),
    ]
    for k in range(6):
        n = rs.randint(3, 12)
        pts = rs.uniform(-5, 58, (n, 2))
        polys.append((f"random_{k}", [[float(round(v, 3)) for v in pts.reshape(-1)]]))
    from pycocotools import _mask
    for name, seg in polys:
        rles = _mask.frPoly(seg, h, w) if len(seg[0]) == 4 else mu.frPyObjects(seg, h, w)
        rle = mu.merge(rles)
        m = mu.decode(rle)
        cases.append({"name": name, "h": h, "w": w, "segmentation": seg,
                      "parts": [p["counts"].decode() for p in rles], "merged": rle["counts"].decode(),
                      "area": int(mu.area(rle)), "mask_rows": ["".join(str(int(v)) for v in row) for row in m]})
    # uncompressed and compressed RLE of a random mask, and an intersection
    m = (rs.rand(h, w) < 0.3).astype(np.uint8)
    enc = mu.encode(np.asfortranarray(m))
    u = {"counts": uncompressed_counts(m), "size": [h, w]}
    cases.append({"name": "uncompressed", "h": h, "w": w, "segmentation": u,
                  "parts": [mu.frPyObjects(u, h, w)["counts"].decode()], "merged": enc["counts"].decode(),
                  "area": int(mu.area(enc)), "mask_rows": ["".join(str(int(v)) for v in row) for row in m]})
    a = mu.frPyObjects([[0, 0, 20, 0, 20, 20, 0, 20]], h, w)[0]
    b = mu.frPyObjects([[10, 10, 30, 10, 30, 30, 10, 30]], h, w)[0]
    inter = mu.merge([a, b], intersect=True)
    intersect = {"a": a["counts"].decode(), "b": b["counts"].decode(), "intersection": inter["counts"].decode(),
                 "h": h, "w": w}
    with open(os.path.join(out, "masks.json"), "w") as f:
        json.dump({"frPyObjects_merge_decode": cases, "merge_intersect": intersect}, f, indent=0)


def run_cases(args, coco, lvis, dets):
    import torch
    from PIL import Image
    sys.path.insert(0, os.path.join(args.efficientvit_src, "applications", "efficientvit_sam"))
    import eval_efficientvit_sam_model as ev  # upstream's script (its __main__ does not run)
    import sam_eval_utils as su
    import make_fixtures as mf
    from check_predictor import fp64_predictor
    from efficientvit.models.efficientvit.sam import EfficientViTSamPredictor
    from pycocotools import mask as mu
    from pycocotools.coco import COCO
    from lvis import LVIS
    if "float" not in np.__dict__:  # lvis 0.5.3 (the last release) still calls np.float, gone in numpy 1.24
        np.float = float

    import cv2
    # PyPI's OpenCV hands cv2.distanceTransform(DIST_L2, 0) to IPP for images under 2^14 pixels (or one
    # thread). IPP's distances are off by up to ~1e-7 relative, and differently from call to call
    # (measured: a 130x98 map, the maximum sqrt(305) at three pixels, IPP's argmax moved between them
    # across calls). OpenCV's own trueDistTrans is exact (float sqrt of the exact squared distance,
    # checked here against brute force), so the fixture's clicks are the exact transform's.
    cv2.ipp.setUseIPP(False)
    model = mf.build_tiny(mf.TINY_CONFIGS["tiny_l"])
    model.load_state_dict(torch.load(os.path.join(REPO, "tests", "data", "tiny", "tiny_l", "model.pt"),
                                     map_location="cpu"))
    ann_files = {"coco": os.path.join(OUT, "coco.json"), "lvis": os.path.join(OUT, "lvis.json")}
    roots = {"coco": os.path.join(OUT, "images"), "lvis": OUT}

    def dataset(name, prompt):
        ds = ev.eval_dataset(name, roots[name], prompt, ann_files[name],
                             os.path.join(OUT, "detections.json") if prompt == "box_from_detector" else None)
        order = sorted(range(len(ds.images)), key=lambda i: ds.images[i]) if name == "coco" else range(len(ds.images))
        ds.images, ds.ids = [ds.images[i] for i in order], [ds.ids[i] for i in order]
        return ds

    def predictors(img):
        p32 = EfficientViTSamPredictor(model)
        with torch.inference_mode():
            p32.set_image(img)
        return {"fp32": p32, "fp64": fp64_predictor(model, img)}

    def records(name, prompt, num_click):
        """run_box / run_point's loop body for both precisions; image_index as evsam numbers images."""
        ds = dataset(name, prompt)
        recs = {"fp32": [], "fp64": []}
        for idx in range(len(ds)):
            data = ds[idx]
            if not data["anns"] or not os.path.exists(data["image_path"]):
                continue
            sam_image = np.array(Image.open(data["image_path"]).convert("RGB"))
            for prec, predictor in predictors(sam_image).items():
                for ann in data["anns"]:
                    if ann["area"] < 1:
                        continue
                    sam_mask = ev.ann_to_mask(ann, sam_image.shape[0], sam_image.shape[1])
                    r = {"id": ann["id"], "image_id": ann["image_id"], "area": ann["area"]}
                    if prompt == "box":
                        pre_mask = ev.predict_mask_from_box(predictor, np.array(ev.bbox_xywh_to_xyxy(ann["bbox"])))
                    else:
                        clicker = su.Clicker(gt_mask=sam_mask)
                        pre_mask = np.zeros_like(sam_mask)
                        pcl, pll = [], []
                        for _ in range(num_click):
                            clicker.make_next_click(pre_mask)
                            pcl.append(clicker.clicks_list[-1].coords[::-1])
                            pll.append(int(clicker.clicks_list[-1].is_positive))
                            pre_mask = ev.predict_mask_from_point(predictor, np.stack(pcl, axis=0), np.array(pll))
                        r["clicks"] = [[int(c[0]), int(c[1]), lab] for c, lab in zip(pcl, pll)]
                    r["iou"] = su.iou(pre_mask, sam_mask)
                    r["image_index"] = idx
                    recs[prec].append(r)
        return recs

    cases = []
    for name, prompt, nc in (("coco", "box", 1), ("coco", "point", 1), ("coco", "point", 3), ("lvis", "box", 1),
                             ("lvis", "point", 2)):
        recs = records(name, prompt, nc)
        cases.append(collections.OrderedDict([
            ("dataset", name), ("prompt", prompt), ("num_click", nc),
            ("metric_fp64", su.get_iou_metric(recs["fp64"])), ("metric_fp32", su.get_iou_metric(recs["fp32"])),
            ("records_fp64", recs["fp64"]), ("records_fp32", recs["fp32"])]))
        print(name, prompt, nc, cases[-1]["metric_fp64"])

    for name in ("coco", "lvis"):  # run_box_from_detector, then evaluate()
        ds = dataset(name, "box_from_detector")
        out = {"fp32": [], "fp64": []}
        for idx in range(len(ds)):
            data = ds[idx]
            if not data["detections"] or not os.path.exists(data["image_path"]):
                continue
            sam_image = np.array(Image.open(data["image_path"]).convert("RGB"))
            for prec, predictor in predictors(sam_image).items():
                for det in data["detections"]:
                    det = dict(det)
                    sam_mask = ev.predict_mask_from_box(predictor, np.array(ev.bbox_xywh_to_xyxy(det["bbox"])))
                    rle = mu.encode(np.array(sam_mask[:, :, None], order="F", dtype="uint8"))[0]
                    rle["counts"] = rle["counts"].decode("utf-8")
                    det["segmentation"] = rle
                    det["image_index"] = idx
                    out[prec].append(det)
        ap = {}
        for prec in ("fp64", "fp32"):
            with contextlib.redirect_stdout(io.StringIO()) as log:
                if name == "coco":
                    e = su.evaluate_predictions_on_coco(COCO(ann_files[name]), out[prec], "segm")
                    ap[prec] = [float(v) for v in e.stats]
                else:
                    ap[prec] = su.evaluate_predictions_on_lvis(LVIS(ann_files[name]), out[prec], "segm")
            if prec == "fp64":
                summary = log.getvalue()
        cases.append(collections.OrderedDict([
            ("dataset", name), ("prompt", "box_from_detector"), ("ap_fp64", ap["fp64"]), ("ap_fp32", ap["fp32"]),
            ("summary_fp64", summary), ("results_fp64", out["fp64"]), ("results_fp32", out["fp32"])]))
        print(name, "box_from_detector", ap["fp64"])
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"model": "tests/data/tiny/tiny_l (model.pt, config.json)", "cases": cases}, f, indent=0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    args = ap.parse_args()
    upstream.setup(args.efficientvit_src, args.sam_src)
    import torch
    torch.set_num_threads(1)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    coco, lvis, dets = make_dataset(OUT)
    make_masks(OUT)
    run_cases(args, coco, lvis, dets)


if __name__ == "__main__":
    main()
