#!/usr/bin/env python3
"""Fixtures for EfficientViT's classification and segmentation models (issue 16), from upstream's
own classes (efficientvit/models/efficientvit/cls.py, seg.py) and model zoos (cls_model_zoo.py,
seg_model_zoo.py).

  schema  tests/data/schema/cls_seg.json and tests/data/ckpt_cls_seg/skeleton_<name>.pt (see SKELETONS): every architecture of both zoos (b0..b3 and l1..l3
          classifiers; the eleven segmenters), each built by upstream's factory with the zoo's
          norm eps: parameter count, state_dict entry count, and an FNV-1a 64 hash of its keys,
          shapes, dtypes and kinds in order ("name|d0,d1|float32|param\\n" each); the full entry
          list for one model per head config (cls b1, cls l1, seg b1 cityscapes / ade20k,
          seg l1 cityscapes / ade20k).
  tiny    tests/data/tiny/cls_seg/<case>/: a tiny model for every head config (ClsHead on a B and
          an L backbone; SegHead with MBConv + final_expand, MBConv without, FusedMBConv with
          expand 1, FusedMBConv + final_expand), seeded non-trivial weights saved with
          torch.save(model.state_dict()), an input, the modules' outputs with upstream run in
          float64 (model.double(): act/*.npy, logits64.npy) and upstream fp32's logits
          (logits32.npy).
  cli     for the tool's tests: labels64.npy in each segmenter case (upstream's eval step on the
          float64 logits: bicubic resize to the input's size, argmax), and tests/data/tiny/cls_seg/
          preprocess: upstream's eval transforms of the classifiers and segmenters on two images.
  eval    tests/data/tiny/cls_seg/eval: tiny ImageNet / Cityscapes / ADE20K datasets in upstream's
          layouts, two tiny segmenters, and upstream's top-1/top-5 and mIoU on them (see mode_eval).

  venv/bin/python validation/make_cls_seg_fixtures.py --efficientvit-src ../efficientvit \\
      --sam-src ../segment-anything schema tiny cli eval
"""
import argparse
import collections
import copy
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import upstream  # noqa: E402
import make_fixtures as mf  # noqa: E402  (helpers: nontrivial_init, save_npy, write_json, check_roundtrip)

import torch  # noqa: E402

# evsam's names for upstream's zoo architectures (the zoo keys without "efficientvit-" and "-rNNN").
CLS_ARCH = collections.OrderedDict([("b0", "b0"), ("b1", "b1"), ("b2", "b2"), ("b3", "b3"),
                                    ("cls-l1", "l1"), ("cls-l2", "l2"), ("cls-l3", "l3")])
SEG_ARCH = [("b0", "cityscapes"), ("b1", "cityscapes"), ("b2", "cityscapes"), ("b3", "cityscapes"),
            ("l1", "cityscapes"), ("l2", "cityscapes"), ("b1", "ade20k"), ("b2", "ade20k"), ("b3", "ade20k"),
            ("l1", "ade20k"), ("l2", "ade20k")]
# Skeleton checkpoints (tests/data/ckpt_cls_seg) for detection: upstream's load_state_dict_from_file
# unwraps {"state_dict": ...}, so one of them is wrapped.
SKELETONS = {"b1": "wrapped", "cls-l3": "flat", "seg-b0-cityscapes": "flat", "seg-l2-ade20k": "flat"}
FULL_ENTRIES = {"b1", "cls-l1", "seg-b1-cityscapes", "seg-b1-ade20k", "seg-l1-cityscapes", "seg-l1-ade20k"}


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def schema_lines(model):
    pnames = {n for n, _ in model.named_parameters()}
    out = []
    for k, t in model.state_dict().items():
        out.append(f"{k}|{','.join(str(s) for s in t.shape)}|{mf.DTYPE_NAME[t.dtype]}|"
                   f"{'param' if k in pnames else 'buffer'}")
    return out


def eps_of(model):
    eps = {m.eps for m in model.modules() if isinstance(m, (torch.nn.LayerNorm, torch.nn.modules.batchnorm._BatchNorm))}
    assert len(eps) == 1, eps
    return eps.pop()


def mode_schema(args):
    from efficientvit.cls_model_zoo import create_efficientvit_cls_model
    from efficientvit.seg_model_zoo import create_efficientvit_seg_model
    models = collections.OrderedDict()
    built = [(name, f"efficientvit-{v}", create_efficientvit_cls_model) for name, v in CLS_ARCH.items()]
    built += [(f"seg-{v}-{d}", f"efficientvit-seg-{v}-{d}", create_efficientvit_seg_model) for v, d in SEG_ARCH]
    for name, zoo, create in built:
        m = create(zoo, pretrained=False)
        lines = schema_lines(m)
        e = collections.OrderedDict([
            ("zoo", zoo), ("norm_eps", eps_of(m)),
            ("params", sum(p.numel() for p in m.parameters())), ("entries", len(lines)),
            ("fnv1a64", "%016x" % fnv1a64("".join(x + "\n" for x in lines).encode()))])
        if name in FULL_ENTRIES:
            e["lines"] = lines
        models[name] = e
        if name in SKELETONS:  # same keys, shapes and dtypes, every float a view of one small storage
            sd, _ = mf.skeleton_state_dict(m.state_dict(), torch.float32)
            obj = {"state_dict": sd} if SKELETONS[name] == "wrapped" else sd
            path = os.path.join(args.out, "ckpt_cls_seg", f"skeleton_{name}.pt")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            torch.save(obj, path)
            print(f"  {path}: {os.path.getsize(path)} bytes ({SKELETONS[name]})")
        print(f"schema {name}: {e['params']} params, {len(lines)} entries, eps {e['norm_eps']}")
    mf.write_json(os.path.join(args.out, "schema", "cls_seg.json"), collections.OrderedDict([
        ("notes", ["built by upstream's create_efficientvit_cls_model / create_efficientvit_seg_model "
                   "(pretrained=False), which set_norm_eps the zoo's eps",
                   "fnv1a64: FNV-1a 64 over the concatenated lines 'name|shape|dtype|param-or-buffer\\n' "
                   "of model.state_dict() in order; 'lines' is that list for one model per head config"]),
        ("models", models)]))


# ------------------------------------------------------------------------------ tiny models

TINY_B_BACKBONE = mf.TINY_B["backbone"]  # widths 8,16,16,32,32, dim 8, hswish
TINY_L_BACKBONE = mf.TINY_CONFIGS["tiny_l"]["backbone"]  # widths 8,16,16,32,32, qkv_dim 8, gelu
SEG_IN = dict(fid_list=["stage4", "stage3", "stage2"], in_channel_list=[32, 32, 16], stride_list=[32, 16, 8],
              head_stride=8)
TINY_CASES = collections.OrderedDict([
    # ClsHead on the tiny B backbone, a batch of 2 at 48x48 (stage 3 3x3 = 9 > dim 8: linear
    # attention; stage 4 2x2: quadratic)
    ("cls_b", dict(kind="cls", backbone="b", seed=401, input=[2, 3, 48, 48], norm_eps=1e-5,
                   head=dict(in_channels=32, width_list=[24, 20], n_classes=10, act_func="hswish"))),
    # ClsHead on the tiny L backbone at 80x80 (stage 4 3x3 = 9 > 8: linear), gelu, eps 1e-7
    ("cls_l", dict(kind="cls", backbone="l", seed=402, input=[1, 3, 80, 80], norm_eps=1e-7,
                   head=dict(in_channels=32, width_list=[24, 20], n_classes=10, act_func="gelu"))),
    # SegHead as the B Cityscapes heads: MBConv middle, final_expand (op_list.0 conv + act, op_list.1 classifier)
    ("seg_b_city", dict(kind="seg", backbone="b", seed=403, input=[1, 3, 64, 96], norm_eps=1e-5,
                        head=dict(SEG_IN, head_width=8, head_depth=2, expand_ratio=2, middle_op="mbconv",
                                  final_expand=2, n_classes=5, act_func="hswish"))),
    # as the B ADE20K heads: no final_expand (the classifier is op_list.0)
    ("seg_b_ade", dict(kind="seg", backbone="b", seed=404, input=[1, 3, 64, 96], norm_eps=1e-5,
                       head=dict(SEG_IN, head_width=8, head_depth=1, expand_ratio=4, middle_op="mbconv",
                                 final_expand=None, n_classes=7, act_func="hswish"))),
    # as the L Cityscapes heads: FusedMBConv with expand 1, no final_expand, gelu
    ("seg_l_city", dict(kind="seg", backbone="l", seed=405, input=[1, 3, 64, 96], norm_eps=1e-7,
                        head=dict(SEG_IN, head_width=8, head_depth=2, expand_ratio=1, middle_op="fmbconv",
                                  final_expand=None, n_classes=5, act_func="gelu"))),
    # as the L ADE20K heads: FusedMBConv with expand 4, final_expand
    ("seg_l_ade", dict(kind="seg", backbone="l", seed=406, input=[1, 3, 64, 96], norm_eps=1e-7,
                       head=dict(SEG_IN, head_width=8, head_depth=1, expand_ratio=4, middle_op="fmbconv",
                                 final_expand=3, n_classes=7, act_func="gelu"))),
])


def build_tiny(case):
    from efficientvit.models.efficientvit import backbone as bb
    from efficientvit.models.efficientvit.cls import ClsHead, EfficientViTCls
    from efficientvit.models.efficientvit.seg import EfficientViTSeg, SegHead
    from efficientvit.models.nn.norm import set_norm_eps
    backbone = (bb.EfficientViTBackbone(**TINY_B_BACKBONE) if case["backbone"] == "b"
                else bb.EfficientViTLargeBackbone(**TINY_L_BACKBONE))
    if case["kind"] == "cls":
        model = EfficientViTCls(backbone, ClsHead(**case["head"]))
    else:
        model = EfficientViTSeg(backbone, SegHead(**case["head"]))
    set_norm_eps(model, case["norm_eps"])
    return model.eval()


def recorded_names(model, case):
    """The modules whose float64 outputs are saved: backbone.stages.1 on (the stem and the first
    stage are the largest maps, and the next stage reads them), and every head op."""
    names = [n for n, _ in model.named_modules() if n.startswith("backbone.stages.") and n.count(".") == 2]
    names = [n for n in names if n != "backbone.stages.0"]
    head = [n for n, _ in model.named_modules()
            if n.startswith("head.") and (n.count(".") == 2 or n.startswith("head.middle.op_list.") and n.count(".") == 3)]
    return names + [n for n in head if not n.endswith(".op_list") and n != "head.middle.op_list"] + ["head.middle"] * (case["kind"] == "seg")


def mode_tiny(args):
    root = os.path.join(args.out, "tiny", "cls_seg")
    for name, case in TINY_CASES.items():
        d = os.path.join(root, name)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(os.path.join(d, "act"))
        torch.manual_seed(case["seed"])
        model = build_tiny(case)
        mf.nontrivial_init(model, case["seed"])
        sd = model.state_dict()
        path = os.path.join(d, "model.pt")
        torch.save(sd, path)
        mf.check_roundtrip(path, sd)
        x = torch.from_numpy(np.random.RandomState(case["seed"]).standard_normal(case["input"]).astype(np.float32))
        mf.save_npy(os.path.join(d, "input.npy"), x.numpy())

        m64 = copy.deepcopy(model).double()
        mods = dict(m64.named_modules())
        index, handles = collections.OrderedDict(), []

        def hook(n):
            def f(mod, inp, out):
                arr = out.detach().numpy()
                rel = f"act/{n}.npy"
                mf.save_npy(os.path.join(d, rel), arr)
                index[n] = {"file": rel, "shape": list(arr.shape), "std": float(arr.std())}
            return f
        for n in dict.fromkeys(recorded_names(model, case)):
            handles.append(mods[n].register_forward_hook(hook(n)))
        with torch.no_grad():
            out64 = m64(x.double()).numpy()
            out32 = model(x).numpy()
        for h in handles:
            h.remove()
        mf.save_npy(os.path.join(d, "logits64.npy"), out64)
        mf.save_npy(os.path.join(d, "logits32.npy"), out32)
        mf.write_json(os.path.join(d, "act", "index.json"), index)
        err32 = float(np.linalg.norm(out32 - out64) / np.linalg.norm(out64))
        assert 0.05 < out64.std() < 50, out64.std()
        bcfg = TINY_B_BACKBONE if case["backbone"] == "b" else TINY_L_BACKBONE
        mf.write_json(os.path.join(d, "config.json"), collections.OrderedDict([
            ("name", name), ("kind", case["kind"]), ("seed", case["seed"]), ("input_shape", case["input"]),
            ("backbone", collections.OrderedDict([
                ("type", "EfficientViTBackbone" if case["backbone"] == "b" else "EfficientViTLargeBackbone"),
                *bcfg.items()])),
            ("head", collections.OrderedDict([("type", "ClsHead" if case["kind"] == "cls" else "SegHead"),
                                              *case["head"].items()])),
            ("norm_eps", case["norm_eps"]),
            ("notes", ["act/*.npy and logits64.npy: upstream in float64 (copy.deepcopy(model).double()) on "
                       "input.npy; logits32.npy: upstream fp32",
                       "set_norm_eps(model, norm_eps) as the zoos do (1e-5 B, 1e-7 L)"]),
            ("params", sum(p.numel() for p in model.parameters())),
            ("state_dict_entries", len(sd)),
            ("logits_shape", list(out64.shape)),
            ("torch_fp32_rel_l2_vs_fp64", err32),
        ]))
        total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(d) for f in fs)
        print(f"tiny {name}: logits {tuple(out64.shape)} std {out64.std():.3f}, torch fp32 rel-L2 {err32:.2e}, "
              f"{len(index)} modules, {total / 1e3:.0f} kB")


# ------------------------------------------------------------------------------ cli

# Upstream's evaluation preprocessing on two synthetic images, as `evsam preprocess --model NAME`
# must reproduce it bit for bit. The tensors are large (a Cityscapes input is 1024 x 2048), so each
# is recorded by its exact sums (math.fsum of the values and of their squares) and 64 values at fixed
# flat indices; any wrong pixel moves the sums by about 1e-2.
PRE_IMAGES = collections.OrderedDict([("landscape", (53, 37, 21)), ("portrait", (37, 53, 22))])  # (W, H, seed)
PRE_CASES = [  # (model, extra evsam flags, how upstream sizes it)
    ("b1-r224", "", dict(kind="cls", R=224, crop_ratio=0.95)),
    ("l3-r384", "", dict(kind="cls", R=384, crop_ratio=1.0)),
    ("b2", "--resolution 48 --crop-ratio 0.9", dict(kind="cls", R=48, crop_ratio=0.9)),
    ("seg-b1-ade20k", "", dict(kind="seg", dataset="ade20k")),
    ("seg-b0-cityscapes", "", dict(kind="seg", dataset="cityscapes")),
]


def upstream_cls_input(path, R, crop_ratio):
    """applications/efficientvit_cls/eval_efficientvit_cls_model.py's transform on one image."""
    import math
    from PIL import Image
    from torchvision import transforms
    from torchvision.transforms.functional import InterpolationMode
    t = transforms.Compose([
        transforms.Resize(int(math.ceil(R / crop_ratio)), interpolation=InterpolationMode.BICUBIC),
        transforms.CenterCrop(R), transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    return t(Image.open(path).convert("RGB")).unsqueeze(0).numpy()


def upstream_seg_input(path, dataset):
    """eval_efficientvit_seg_model.py's dataset transform (Resize with cv2.INTER_CUBIC, its ToTensor and
    Normalize), re-stated from its source: the module needs the dataset's files to be built."""
    import math
    import cv2
    import torchvision.transforms.functional as F
    from PIL import Image
    image = np.array(Image.open(path).convert("RGB"))
    h, w = image.shape[:2]
    if dataset == "cityscapes":
        th, tw = 1024, 2048
    else:  # ADE20KDataset.__getitem__ with crop_size 512
        if h < w:
            th, tw = 512, math.ceil(w / h * 512 / 32) * 32
        else:
            th, tw = math.ceil(h / w * 512 / 32) * 32, 512
    if (h, w) != (th, tw):
        image = cv2.resize(image, dsize=(tw, th), interpolation=cv2.INTER_CUBIC)
    x = torch.as_tensor(image.transpose((2, 0, 1)), dtype=torch.float32).div(255.0)
    x = F.normalize(x, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    return x.unsqueeze(0).numpy()


def mode_cli(args):
    import math
    import cv2
    import torch.nn.functional as F
    from PIL import Image
    root = os.path.join(args.out, "tiny", "cls_seg")
    # labels: upstream's eval step on the tiny segmenters' float64 logits, at the input's size
    for name, case in TINY_CASES.items():
        if case["kind"] != "seg":
            continue
        d = os.path.join(root, name)
        out64 = torch.from_numpy(np.load(os.path.join(d, "logits64.npy")))
        H, W = case["input"][2:]
        pred = torch.argmax(F.interpolate(out64, size=(H, W), mode="bicubic", align_corners=False), dim=1)
        mf.save_npy(os.path.join(d, "labels64.npy"), pred[0].numpy().astype(np.uint8))
    # preprocessing
    d = os.path.join(root, "preprocess")
    os.makedirs(d, exist_ok=True)
    cv2.ipp.setUseIPP(False)  # OpenCV's own INTER_CUBIC: x86 wheels use IPP otherwise (see core/cv_resize.hpp)
    images = {}
    for name, (w, h, seed) in PRE_IMAGES.items():
        path = os.path.join(d, f"{name}_{w}x{h}.png")
        Image.fromarray(mf.synth_image(w, h, seed)).save(path)
        images[name] = path
    cases = []
    for model, flags, how in PRE_CASES:
        for iname, path in images.items():
            x = (upstream_cls_input(path, how["R"], how["crop_ratio"]) if how["kind"] == "cls"
                 else upstream_seg_input(path, how["dataset"]))
            flat = x.astype(np.float64).ravel()
            idx = [int(i) for i in np.linspace(0, flat.size - 1, 64).round()]
            cases.append(collections.OrderedDict([
                ("model", model), ("flags", flags), ("image", os.path.basename(path)), ("shape", list(x.shape)),
                ("fsum", math.fsum(flat)), ("fsum_sq", math.fsum(flat * flat)),
                ("sample_index", idx), ("sample", [float(flat[i]) for i in idx])]))
            print(f"preprocess {model} {flags} {os.path.basename(path)}: {tuple(x.shape)}")
    mf.write_json(os.path.join(d, "cases.json"), collections.OrderedDict([
        ("notes", ["upstream's eval transforms (see make_cls_seg_fixtures.py: upstream_cls_input, "
                   "upstream_seg_input) on the PNGs here; cv2.ipp.setUseIPP(False), i.e. OpenCV's own "
                   "INTER_CUBIC without IPP; torchvision %s, Pillow %s, OpenCV %s" % (
                       __import__("torchvision").__version__, Image.__version__, cv2.__version__)]),
        ("cases", cases)]))


# ------------------------------------------------------------------------------ eval

# Tiny datasets in upstream's layouts, and upstream's metrics on them (eval-cls / eval-seg):
#   imagenet/val/<synset>/*.png   ImageFolder (10 classes: the cls_l model), PNGs (decoded bit-exactly
#                                 by both Pillow and evsam)
#   cityscapes/leftImg8bit/val/<city>/<x>_leftImg8bit.png + gtFine/val/<city>/<x>_gtFine_labelIds.png
#   ade20k/images/validation/<x>.jpg + annotations/validation/<x>.png: the images are grayscale JPEGs
#                                 of flat 8x8 blocks (quality 100), which every JPEG decoder returns
#                                 exactly (DC-only blocks, no colour conversion); asserted below
# The models: cls_l for ImageNet; eval_city (19 classes) and eval_ade (150), tiny segmenters made
# here like the tiny cases. Upstream's dataset classes, SegIOU and accuracy() are imported from its
# eval scripts; the AverageMeter bookkeeping of their main() is re-stated (sum of val * n).
EVAL_SEG_MODELS = collections.OrderedDict([
    ("eval_city", dict(kind="seg", backbone="b", seed=407, input=[1, 3, 32, 64], norm_eps=1e-5, dataset="cityscapes",
                       head=dict(SEG_IN, head_width=8, head_depth=1, expand_ratio=2, middle_op="mbconv",
                                 final_expand=2, n_classes=19, act_func="hswish"))),
    ("eval_ade", dict(kind="seg", backbone="l", seed=408, input=[1, 3, 32, 64], norm_eps=1e-7, dataset="ade20k",
                      head=dict(SEG_IN, head_width=8, head_depth=1, expand_ratio=4, middle_op="fmbconv",
                                final_expand=3, n_classes=150, act_func="gelu"))),
])
EVAL_CROP = 32  # --crop_size: Cityscapes inputs 32 x 64, ADE20K short side 32


def load_eval_script(args, rel):
    import importlib.util
    import types
    sys.modules.setdefault("tqdm", types.SimpleNamespace(tqdm=None))  # not installed; the scripts' main() uses it
    spec = importlib.util.spec_from_file_location("evsam_eval_" + os.path.basename(rel)[:-3],
                                                  os.path.join(args.efficientvit_src, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def blocky_gray(w, h, seed):
    rs = np.random.RandomState(seed)
    blocks = rs.randint(16, 240, size=((h + 7) // 8, (w + 7) // 8)).astype(np.uint8)
    return np.kron(blocks, np.ones((8, 8), np.uint8))[:h, :w]


def mode_eval(args):
    from PIL import Image
    root = os.path.join(args.out, "tiny", "cls_seg", "eval")
    if os.path.isdir(root):
        shutil.rmtree(root)
    expected = collections.OrderedDict()
    # --- ImageNet (ImageFolder) with cls_l, at R = 64, crop_ratio 0.9
    cls_mod = load_eval_script(args, "applications/efficientvit_cls/eval_efficientvit_cls_model.py")
    from torchvision import datasets, transforms
    from torchvision.transforms.functional import InterpolationMode
    import math
    val = os.path.join(root, "imagenet", "val")
    k = 0
    for c in range(10):
        d = os.path.join(val, "n%08d" % (1440764 + 1000 * c))
        os.makedirs(d)
        for i in range(2 if c % 3 else 3):
            w, h = 40 + 7 * ((k * 5) % 9), 36 + 5 * ((k * 3) % 11)
            Image.fromarray(mf.synth_image(w, h, 500 + k)).save(os.path.join(d, f"img_{k:03d}.png"))
            k += 1
    R, crop = 64, 0.9
    ds = datasets.ImageFolder(val, transforms.Compose([
        transforms.Resize(int(math.ceil(R / crop)), interpolation=InterpolationMode.BICUBIC),
        transforms.CenterCrop(R), transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])]))
    case = TINY_CASES["cls_l"]
    model = build_tiny(case)
    model.load_state_dict(torch.load(os.path.join(args.out, "tiny", "cls_seg", "cls_l", "model.pt")))
    top1_sum = top5_sum = n = 0
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=False)
    with torch.no_grad():
        for images, labels in loader:
            acc1, acc5 = cls_mod.accuracy(model(images), labels, topk=(1, 5))
            top1_sum += acc1[0].item() * images.size(0)  # AverageMeter.update(val, n)
            top5_sum += acc5[0].item() * images.size(0)
            n += images.size(0)
    expected["imagenet"] = collections.OrderedDict([
        ("model", "cls_l"), ("resolution", R), ("crop_ratio", crop), ("images", n),
        ("top1", top1_sum / n), ("top5", top5_sum / n)])
    print(f"eval imagenet: {n} images, top1 {top1_sum / n:.3f} top5 {top5_sum / n:.3f}")

    # --- segmentation
    seg_mod = load_eval_script(args, "applications/efficientvit_seg/eval_efficientvit_seg_model.py")
    from efficientvit.models.utils import resize
    rs = np.random.RandomState(9)
    city = os.path.join(root, "cityscapes")
    for ci, cname in enumerate(["aachen", "bonn"]):
        for j in range(2):
            stem = f"{cname}_{j:06d}_000019"
            w, h = 96 + 16 * j, 48 + 8 * ci
            img_d, gt_d = os.path.join(city, "leftImg8bit", "val", cname), os.path.join(city, "gtFine", "val", cname)
            os.makedirs(img_d, exist_ok=True)
            os.makedirs(gt_d, exist_ok=True)
            Image.fromarray(mf.synth_image(w, h, 600 + 2 * ci + j)).save(os.path.join(img_d, stem + "_leftImg8bit.png"))
            lab = np.kron(rs.randint(0, 34, size=((h + 7) // 8, (w + 7) // 8)), np.ones((8, 8), np.int64))[:h, :w]
            Image.fromarray(lab.astype(np.uint8), mode="L").save(os.path.join(gt_d, stem + "_gtFine_labelIds.png"))
    ade = os.path.join(root, "ade20k")
    for j, (w, h) in enumerate([(56, 40), (40, 64), (48, 48)]):
        img_d, gt_d = os.path.join(ade, "images", "validation"), os.path.join(ade, "annotations", "validation")
        os.makedirs(img_d, exist_ok=True)
        os.makedirs(gt_d, exist_ok=True)
        g = blocky_gray(w, h, 700 + j)
        path = os.path.join(img_d, f"ADE_val_{j + 1:08d}.jpg")
        Image.fromarray(g, mode="L").save(path, quality=100)
        assert (np.array(Image.open(path).convert("L")) == g).all(), "JPEG blocks not decoded exactly"
        lab = np.kron(rs.randint(0, 151, size=((h + 7) // 8, (w + 7) // 8)), np.ones((8, 8), np.int64))[:h, :w]
        Image.fromarray(lab.astype(np.uint8), mode="L").save(os.path.join(gt_d, f"ADE_val_{j + 1:08d}.png"))
    for name, case in EVAL_SEG_MODELS.items():
        d = os.path.join(root, name)
        os.makedirs(d)
        torch.manual_seed(case["seed"])
        model = build_tiny(case)
        mf.nontrivial_init(model, case["seed"])
        torch.save(model.state_dict(), os.path.join(d, "model.pt"))
        bcfg = TINY_B_BACKBONE if case["backbone"] == "b" else TINY_L_BACKBONE
        mf.write_json(os.path.join(d, "config.json"), collections.OrderedDict([
            ("name", name), ("kind", "seg"), ("dataset", case["dataset"]),
            ("backbone", collections.OrderedDict([
                ("type", "EfficientViTBackbone" if case["backbone"] == "b" else "EfficientViTLargeBackbone"),
                *bcfg.items()])),
            ("head", collections.OrderedDict([("type", "SegHead"), *case["head"].items()])),
            ("norm_eps", case["norm_eps"])]))
        if case["dataset"] == "cityscapes":
            dataset = seg_mod.CityscapesDataset(os.path.join(city, "leftImg8bit", "val"), (EVAL_CROP, EVAL_CROP * 2))
        else:
            dataset = seg_mod.ADE20KDataset(os.path.join(ade, "images", "validation"), crop_size=EVAL_CROP)
        iou = seg_mod.SegIOU(len(dataset.classes))
        inter = union = 0
        with torch.no_grad():
            for i in range(len(dataset)):  # batch_size 1, as upstream's default
                fd = dataset[i]
                images, mask = fd["data"].unsqueeze(0), fd["label"].unsqueeze(0)
                output = model(images)
                if output.shape[-2:] != mask.shape[-2:]:
                    output = resize(output, size=mask.shape[-2:])
                output = torch.argmax(output, dim=1)
                # upstream runs this on CUDA, whose histc takes int64; the CPU's needs floats (the class
                # ids 1..C fall into one bin each either way)
                stats = iou(output.double(), mask.double())
                inter = inter + stats["i"]  # AverageMeter.update(val) with n = 1: a running sum
                union = union + stats["u"]
        miou = (inter / union).cpu().mean().item() * 100
        expected[case["dataset"]] = collections.OrderedDict([
            ("model", name), ("crop_size", EVAL_CROP), ("images", len(dataset)),
            ("miou", None if math.isnan(miou) else miou),
            ("intersection", [int(v) for v in inter.tolist()]), ("union", [int(v) for v in union.tolist()])])
        print(f"eval {case['dataset']}: {len(dataset)} images, mIoU {miou:.3f} "
              f"({int((union > 0).sum())}/{len(union)} classes present)")
    mf.write_json(os.path.join(root, "expected.json"), collections.OrderedDict([
        ("notes", ["upstream's eval scripts' datasets, accuracy() / SegIOU and their main() loops on the tiny "
                   "datasets here, models cls_l (../cls_l), eval_city, eval_ade; miou null when a class never "
                   "occurs (upstream's mean over classes is nan then)"]),
        *expected.items()]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    ap.add_argument("modes", nargs="+", choices=["schema", "tiny", "cli", "eval"])
    ap.add_argument("--out", default=os.path.join(mf.REPO, "tests", "data"), help="fixture root (default tests/data)")
    args = ap.parse_args()
    upstream.setup(args.efficientvit_src, args.sam_src)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for m in args.modes:
        {"schema": mode_schema, "tiny": mode_tiny, "cli": mode_cli, "eval": mode_eval}[m](args)


if __name__ == "__main__":
    main()
