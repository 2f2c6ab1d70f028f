"""The Python package's drop-in fixtures (tests/data/python/dropin_<config>): upstream's own usage
(tests/python/dropin_snippet.py: segment-anything's README and notebook snippets) run with
upstream's classes on the committed tiny models, whose outputs tests/python/test_dropin.py compares
with the same snippet run with evsam's classes.

    python validation/make_python_fixtures.py --efficientvit-src UP/efficientvit --sam-src UP/segment-anything

tiny_l runs through efficientvit's EfficientViTSamPredictor / EfficientViTSamAutomaticMaskGenerator,
tiny_vit through segment-anything's SamPredictor / SamAutomaticMaskGenerator. Per predict call the
fixture holds upstream's masks (bool), scores and low-res logits, and its full-size logits (the same
call with return_logits=True) so the test can tell a flipped pixel near the threshold from a wrong
one; per generator record every field, segmentations as stacked uint8.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "python"))
import upstream  # noqa: E402

CONFIGS = ("tiny_l", "tiny_vit")
IMAGE = "predictor/image_portrait.png"  # the predictor snippet's image
AMG_IMAGE = "tests/data/tiny/tiny_l/amg/image_a.png"  # the generator snippet's (64 x 48: enough masks survive NMS)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "python"))
    args = ap.parse_args()
    upstream.setup(args.efficientvit_src, args.sam_src)
    torch.set_num_threads(1)
    import make_fixtures as mf  # noqa: E402  (after setup: it imports upstream lazily)
    from PIL import Image
    from dropin_snippet import generator_usage, predictor_usage
    from efficientvit.models.efficientvit.sam import EfficientViTSamAutomaticMaskGenerator, EfficientViTSamPredictor
    from segment_anything import SamAutomaticMaskGenerator, SamPredictor

    for cfg in CONFIGS:
        tdir = os.path.join(REPO, "tests", "data", "tiny", cfg)
        vit = cfg == "tiny_vit"
        model = mf.build_tiny_vit(mf.TINY_VIT) if vit else mf.build_tiny(mf.TINY_CONFIGS[cfg])
        model.load_state_dict(torch.load(os.path.join(tdir, "model.pt"), map_location="cpu"))
        Pred = SamPredictor if vit else EfficientViTSamPredictor
        Gen = SamAutomaticMaskGenerator if vit else EfficientViTSamAutomaticMaskGenerator
        image = np.array(Image.open(os.path.join(tdir, IMAGE)).convert("RGB"))
        as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float)
        with torch.inference_mode():
            outs = predictor_usage(Pred, model, image, as_tensor)
            logits = predictor_usage(Pred, model, image, as_tensor, return_logits=True)
            recs = generator_usage(Gen, model, np.array(Image.open(os.path.join(REPO, AMG_IMAGE)).convert("RGB")))
        d = os.path.join(args.out, "dropin_" + cfg)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        index = {"config": cfg, "model": f"../../tiny/{cfg}/model.pt", "image": f"../../tiny/{cfg}/{IMAGE}",
                 "amg_image": "../../" + AMG_IMAGE[len("tests/data/"):],
                 "predictor": Pred.__module__ + "." + Pred.__name__, "generator": Gen.__module__ + "." + Gen.__name__,
                 "calls": {}, "generate": {}}
        for name, (masks, scores, low) in outs.items():
            masks, scores, low = (np.asarray(t) for t in (masks, scores, low))
            full = np.asarray(logits[name][0])
            assert masks.dtype == np.bool_ and np.array_equal(masks, full > 0), name
            entry = {}
            for key, arr in (("masks", masks.astype(np.uint8)), ("scores", scores), ("low_res", low),
                             ("logits", full)):
                np.save(os.path.join(d, f"{name}.{key}.npy"), np.ascontiguousarray(arr))
                entry[key] = {"file": f"{name}.{key}.npy", "dtype": str(arr.dtype), "shape": list(arr.shape)}
            entry["masks"]["dtype"] = str(masks.dtype)
            index["calls"][name] = entry
        for name, rs in recs.items():
            segs = [r["segmentation"] for r in rs]
            if segs:
                np.save(os.path.join(d, f"generate_{name}.segmentations.npy"), np.stack(segs).astype(np.uint8))
            index["generate"][name] = {
                "segmentations": f"generate_{name}.segmentations.npy" if segs else None,
                "types": {k: type(v).__name__ for k, v in rs[0].items()} if rs else {},
                "records": [{k: v for k, v in r.items() if k != "segmentation"} for r in rs],
            }
        with open(os.path.join(d, "index.json"), "w") as f:
            json.dump(index, f, indent=1)
        print(cfg, {k: len(v["records"]) for k, v in index["generate"].items()})


if __name__ == "__main__":
    main()
