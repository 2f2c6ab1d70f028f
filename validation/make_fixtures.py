#!/usr/bin/env python3
"""Generate the test fixtures under tests/data/ from upstream EfficientViT-SAM.

Modes (any number, in order):
  schema   tests/data/schema/<v>.json: state_dict key/shape/dtype list of every variant (EfficientViT-SAM
           l0..xl1, and SAM's vit_b / vit_l / vit_h from segment_anything's sam_model_registry); and
           tests/data/ckpt_vit/skeleton_vit_{b,l,h}.pt: each ViT's whole Sam state_dict as the official
           files hold it (torch.save of a flat dict), float entry j every element (j + 1) / 1024, as
           stride-0 views of one shared storage
  ckpt     tests/data/ckpt/*: checkpoint-loader fixtures (skeletons, bad model
           checkpoints, generic tensor files, broken/malicious files, MANIFEST.json)
  tiny     tests/data/tiny/<config>/*: two tiny upstream models with seeded
           non-trivial weights, their input, embedding, per-module activations and
           decoder outputs (for C++ parity tests)
  tiny_vit tests/data/tiny/tiny_vit/*: a tiny upstream SAM with ImageEncoderViT (windowed and global
           blocks, the 64 -> 70 window padding, relative positions), its input, per-block activations
           and embedding from upstream run in float64, upstream's fp32 embedding, and get_rel_pos on
           interpolated tables
  tiny_b   tests/data/tiny/tiny_b/*: a tiny upstream EfficientViTBackbone (B series) with the
           same seeded init, its input and per-module activations; and
           tests/data/schema/backbone_b1.json (upstream b1 backbone state_dict keys/shapes)
  predictor tests/data/tiny/{tiny_l,tiny_xl}/predictor/*: upstream's EfficientViTSamPredictor
           end to end on the committed tiny models (model.pt): two small PNGs, point / box /
           mask-input / border / batched prompt cases, masks + iou (+ low-res maps and decoder
           intermediates for some cases), listed in cases.json. Needs tiny's model.pt; mode
           tiny leaves <config>/predictor/ alone.
  predictor_vit tests/data/tiny/tiny_vit/predictor/*: the same cases through upstream's SamPredictor on
           the committed tiny_vit model (prompts in its 256 frame). Needs tiny_vit's model.pt.
  hourglass tests/data/tiny/tiny_vit/hourglass/<case>/*: the committed tiny_vit model through Expedit-SAM's
           HourglassImageEncoderViT (--expedit-src) clustered at two locations: each case's config, the
           clustering, every later block, the reconstruction and the embedding from upstream in float64,
           and upstream's fp32 embedding. Needs tiny_vit's model.pt. Leaves each case's predictor/ alone.
  predictor_hourglass tests/data/tiny/tiny_vit/hourglass/loc1_k100/predictor/*: predictor_vit's cases
           through upstream's SamPredictor on a Sam whose image encoder is that hourglass case's
           HourglassImageEncoderViT (tiny_vit's model.pt). Needs --expedit-src.
  amg      tests/data/amg/*: upstream's automatic-mask-generator helpers (segment_anything.utils.amg:
           point grids, crop boxes, crop-edge filter, stability score, mask -> box, RLE / COCO RLE,
           remove_small_regions) and torchvision's batched_nms, on crafted inputs; and
           tests/data/tiny/tiny_l/amg/*: upstream's EfficientViTSamAutomaticMaskGenerator end to end on the
           committed tiny_l model (three settings). Needs the real cv2 and pycocotools, and tiny's model.pt.
  full     (not committed) --full-dir DIR --variant V: a full-size checkpoint with
           the same non-trivial seeded init, and with --image PNG its preprocessed
           input, per-module activations and embedding
  all      schema ckpt tiny tiny_b tiny_vit predictor predictor_vit hourglass amg

Nothing from upstream is copied here: the models are built from the upstream
checkouts named by --efficientvit-src/--sam-src (or EFFICIENTVIT_SRC/SAM_SRC).
Everything is seeded; re-running writes byte-identical files.
"""
import argparse
import collections
import copy
import hashlib
import io
import json
import math
import os
import pickle
import shutil
import struct
import sys
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import upstream  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

VARIANTS = ["l0", "l1", "l2", "xl0", "xl1"]
RESOLUTION = {"l0": 512, "l1": 512, "l2": 512, "xl0": 1024, "xl1": 1024}
DTYPE_NAME = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16",
              torch.float64: "float64", torch.int64: "int64", torch.int32: "int32"}
ST_DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
            torch.float64: "F64", torch.int64: "I64"}

assert sys.byteorder == "little", "fixtures are written little-endian; run on a little-endian host"


# --------------------------------------------------------------------------- utils

def dumps(o, ind=0):
    """Deterministic JSON: dicts one key per line, lists of scalars inline."""
    pad, pad1 = " " * ind, " " * (ind + 1)
    if isinstance(o, dict):
        if not o:
            return "{}"
        items = [pad1 + json.dumps(str(k)) + ": " + dumps(v, ind + 1) for k, v in o.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(o, (list, tuple)):
        if all(not isinstance(x, (dict, list, tuple)) for x in o):
            return json.dumps(list(o))
        if all(isinstance(x, dict) and all(not isinstance(v, dict) and not (
                isinstance(v, (list, tuple)) and any(isinstance(y, (dict, list, tuple)) for y in v))
                for v in x.values()) for x in o):  # list of flat records: one per line
            return "[\n" + ",\n".join(pad1 + json.dumps(x, allow_nan=False) for x in o) + "\n" + pad + "]"
        return "[\n" + ",\n".join(pad1 + dumps(x, ind + 1) for x in o) + "\n" + pad + "]"
    return json.dumps(o, allow_nan=False)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(dumps(obj) + "\n")


def write_bytes(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def save_npy(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, np.ascontiguousarray(arr))


def tensor_values(t):
    """Flat row-major float64 list of a tensor's logical values (exact upcast)."""
    return [float(x) for x in t.detach().to(torch.float64).reshape(-1).tolist()]


def expected_entry(t):
    return {"dtype": DTYPE_NAME[t.dtype], "shape": list(t.shape), "values": tensor_values(t)}


def tensors_equal(a, b):
    return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
            and a.shape == b.shape and torch.equal(a, b))


def check_roundtrip(path, ref):
    """torch.load the file and compare with the object that was saved."""
    got = torch.load(path, map_location="cpu")
    def cmp(x, y, where):
        if isinstance(x, torch.Tensor):
            assert tensors_equal(x, y), f"{path}: mismatch at {where}"
        elif isinstance(x, dict):
            assert isinstance(y, dict) and list(x.keys()) == list(y.keys()), f"{path}: keys differ at {where}"
            for k in x:
                cmp(x[k], y[k], f"{where}/{k}")
        elif isinstance(x, (list, tuple)):
            assert len(x) == len(y)
            for i, (a, b) in enumerate(zip(x, y)):
                cmp(a, b, f"{where}[{i}]")
        else:
            assert x == y, f"{path}: {x!r} != {y!r} at {where}"
    cmp(ref, got, "")
    return got


def zip_prefix(path):
    with zipfile.ZipFile(path) as z:
        return z.namelist()[0].split("/")[0]


# ------------------------------------------------------------------------- schema

SAM_VIT_VARIANTS = ["vit_b", "vit_l", "vit_h"]  # segment_anything build_sam_vit_b / _l / _h


def mode_schema(args):
    from segment_anything import sam_model_registry
    out_dir = os.path.join(args.out, "schema")
    for v in VARIANTS + SAM_VIT_VARIANTS:
        if v in SAM_VIT_VARIANTS:
            with torch.device("meta"):  # keys, shapes and dtypes only: ViT-H is 2.5 GB of weights
                model = sam_model_registry[v](checkpoint=None)
        else:
            model = upstream.create_model(v)
        sd = model.state_dict()
        pnames = {n for n, _ in model.named_parameters()}
        entries = []
        for k, t in sd.items():
            entries.append({"name": k, "shape": list(t.shape), "dtype": DTYPE_NAME[t.dtype],
                            "kind": "param" if k in pnames else "buffer"})
        params = sum(p.numel() for p in model.parameters())
        write_json(os.path.join(out_dir, f"{v}.json"),
                   {"model": v, "resolution": RESOLUTION.get(v, 1024), "params": params, "entries": entries})
        print(f"schema {v}: {len(entries)} entries, {params} params")
        if v in SAM_VIT_VARIANTS:  # an official-layout checkpoint of it, in a few hundred KB
            skel, K = skeleton_state_dict(sd, torch.float32)
            path = os.path.join(args.out, "ckpt_vit", f"skeleton_{v}.pt")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            torch.save(skel, path)
            check_roundtrip(path, skel)
            print(f"ckpt_vit skeleton_{v}.pt: {os.path.getsize(path)} bytes")
        del model


# --------------------------------------------------------------------------- ckpt

SKELETON_SCALE = 1024.0  # float entry j holds (j % K + 1) / 1024, exact in fp32/fp16/bf16


def skeleton_state_dict(ref, dtype, K=None):
    """Same keys/shapes/dtypes as ref, but every float tensor is a stride-0 view of ONE
    shared storage of K elements; int64 buffers (num_batches_tracked) each own a
    1-element storage holding the entry's index in the state_dict."""
    float_keys = [k for k, t in ref.items() if t.is_floating_point()]
    K = K or len(float_keys)
    base = ((torch.arange(K, dtype=torch.float64) + 1) / SKELETON_SCALE).to(dtype)
    sd = collections.OrderedDict()
    j = 0
    for idx, (k, t) in enumerate(ref.items()):
        if t.is_floating_point():
            o = j % K
            sd[k] = base[o:o + 1].expand(t.shape) if t.dim() > 0 else base[o]
            j += 1
        else:
            sd[k] = torch.tensor(idx, dtype=t.dtype).expand(t.shape) if t.dim() > 0 else torch.tensor(idx, dtype=t.dtype)
    sd._metadata = copy.deepcopy(getattr(ref, "_metadata", collections.OrderedDict()))
    return sd, K


def mode_ckpt(args):
    d = os.path.join(args.out, "ckpt")
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    manifest = collections.OrderedDict()

    def add(name, **info):
        manifest[name] = info

    # ---- a. skeletons
    skel_l0 = None
    for v in VARIANTS:
        model = upstream.create_model(v)
        ref = model.state_dict()
        del model
        forms = [("", torch.float32, None, False), ("_fp16", torch.float16, None, False)]
        if v == "l0":
            forms.append(("_bf16", torch.bfloat16, 256, False))
        if v in ("l0", "xl0"):
            forms.append(("_wrapped", torch.float32, None, True))
        for suffix, dt, K, wrapped in forms:
            sd, K = skeleton_state_dict(ref, dt, K)
            obj = {"state_dict": sd} if wrapped else sd
            name = f"skeleton_{v}{suffix}.pt"
            path = os.path.join(d, name)
            torch.save(obj, path)
            got = check_roundtrip(path, obj)
            got_sd = got["state_dict"] if wrapped else got
            for k, t in ref.items():  # same key set/shapes/dtypes as upstream (modulo float dtype)
                g = got_sd[k]
                assert tuple(g.shape) == tuple(t.shape), k
                assert g.dtype == (dt if t.is_floating_point() else t.dtype), k
            assert list(got_sd.keys()) == list(ref.keys())
            size = os.path.getsize(path)
            assert size < 300_000, (name, size)
            add(name, kind="skeleton", variant=v, expect="ok",
                description=(f"upstream efficientvit-sam-{v} state_dict key set/shapes"
                             + (" wrapped as {'state_dict': sd}" if wrapped else "")
                             + f"; float tensors are stride-0 {DTYPE_NAME[dt]} views of one shared storage"),
                float_dtype=DTYPE_NAME[dt], wrapped=wrapped, storage_numel=K,
                value_rule=f"floating entry j (0-based, state_dict order, floating entries only) has every "
                           f"element == (j % {K} + 1) / 1024; int64 entry at state_dict index i (counting all "
                           f"entries) == i",
                schema=f"tests/data/schema/{v}.json", num_entries=len(ref))
            if v == "l0" and suffix == "":
                skel_l0 = sd
            print(f"ckpt {name}: {size} bytes")

    # ---- b. bad model checkpoints derived from skeleton_l0
    def derived():
        sd = collections.OrderedDict(skel_l0.items())
        sd._metadata = skel_l0._metadata
        return sd

    miss_key = "image_encoder.backbone.stages.3.op_list.2.main.depth_conv.conv.weight"
    sd = derived()
    del sd[miss_key]
    torch.save(sd, os.path.join(d, "missing_key.pt"))
    add("missing_key.pt", kind="bad_model", variant="l0", expect="error", stage="model",
        description=f"skeleton_l0 with key {miss_key!r} removed",
        key=miss_key, error_mentions=[miss_key])

    extra_key = "image_encoder.extra.weight"
    sd = derived()
    sd[extra_key] = skel_l0["image_encoder.norm.weight"][:4]
    torch.save(sd, os.path.join(d, "extra_key.pt"))
    add("extra_key.pt", kind="bad_model", variant="l0", expect="error", stage="model",
        description=f"skeleton_l0 plus an unexpected key {extra_key!r} (float32, shape [4])",
        key=extra_key, error_mentions=[extra_key])

    shape_key = "mask_decoder.transformer.layers.0.mlp.lin1.weight"
    sd = derived()
    orig = list(sd[shape_key].shape)
    sd[shape_key] = sd[shape_key].t()
    torch.save(sd, os.path.join(d, "wrong_shape.pt"))
    add("wrong_shape.pt", kind="bad_model", variant="l0", expect="error", stage="model",
        description=f"skeleton_l0 with {shape_key!r} stored transposed",
        key=shape_key, expected_shape=orig, stored_shape=orig[::-1], error_mentions=[shape_key])

    dtype_key = "image_encoder.norm.weight"
    sd = derived()
    sd[dtype_key] = torch.tensor([7], dtype=torch.int64).expand(sd[dtype_key].shape)
    torch.save(sd, os.path.join(d, "wrong_dtype.pt"))
    add("wrong_dtype.pt", kind="bad_model", variant="l0", expect="error", stage="model",
        description=f"skeleton_l0 with float weight {dtype_key!r} stored as int64 (all 7)",
        key=dtype_key, stored_dtype="int64", error_mentions=[dtype_key])

    torch.save([torch.zeros(3), torch.ones(2, 2)], os.path.join(d, "nondict.pt"))
    add("nondict.pt", kind="bad_model", expect="error", stage="model",
        description="torch.save of a Python list of two tensors (not a dict / state_dict)",
        error_mentions_any=["dict", "list"])

    # ---- c. generic tensor fixtures
    g = torch.Generator().manual_seed(1234)

    def rnd(*shape, dtype=torch.float32):
        return (torch.randn(shape, generator=g, dtype=torch.float64) * 0.5).to(dtype)

    tiny32 = collections.OrderedDict([
        ("scalar", rnd()),
        ("vec", rnd(5)),
        ("mat", rnd(3, 4)),
        ("conv.weight", rnd(2, 3, 3, 3)),
        ("steps", torch.tensor(42, dtype=torch.int64)),
        ("index", torch.tensor([3, -1, 0, 1 << 40], dtype=torch.int64)),
    ])

    def cast(sd, dt):
        return collections.OrderedDict((k, t.to(dt) if t.is_floating_point() else t.clone()) for k, t in sd.items())

    def expected_for(sd):
        return collections.OrderedDict((k, expected_entry(t)) for k, t in sd.items())

    def save_tiny(name, obj, exp_sd, desc, **extra):
        path = os.path.join(d, name)
        torch.save(obj, path)
        check_roundtrip(path, obj)
        write_json(path + ".expected.json", expected_for(exp_sd))
        add(name, kind="tensors", expect="ok", description=desc,
            expected=name + ".expected.json", **extra)

    tiny16, tinybf, tiny64 = cast(tiny32, torch.float16), cast(tiny32, torch.bfloat16), cast(tiny32, torch.float64)
    save_tiny("tiny_fp32.pt", tiny32, tiny32, "OrderedDict of float32 tensors of rank 0,1,2,4 plus int64 0-d and 1-d")
    save_tiny("tiny_fp16.pt", tiny16, tiny16, "tiny_fp32 cast to float16 (int64 entries unchanged)")
    save_tiny("tiny_bf16.pt", tinybf, tinybf, "tiny_fp32 cast to bfloat16 (int64 entries unchanged)")
    save_tiny("tiny_f64.pt", tiny64, tiny64, "tiny_fp32 cast to float64 (int64 entries unchanged)")
    save_tiny("tiny_wrapped.pt", {"state_dict": tiny32}, tiny32,
              "{'state_dict': tiny_fp32 contents}; expected lists the inner dict", wrapped=True)

    # a different zip record prefix than the file name (a renamed checkpoint)
    tmp = os.path.join(d, "some_other_name.pt")
    torch.save(tiny32, tmp)
    os.replace(tmp, os.path.join(d, "tiny_renamed.pt"))
    check_roundtrip(os.path.join(d, "tiny_renamed.pt"), tiny32)
    write_json(os.path.join(d, "tiny_renamed.pt.expected.json"), expected_for(tiny32))
    add("tiny_renamed.pt", kind="tensors", expect="ok", expected="tiny_renamed.pt.expected.json",
        description="tiny_fp32 saved as some_other_name.pt then renamed: zip records are "
                    "'some_other_name/...', not 'tiny_renamed/...'", zip_prefix="some_other_name")
    # torch.save to a file object: records are 'archive/...'
    buf = io.BytesIO()
    torch.save(tiny32, buf)
    write_bytes(os.path.join(d, "tiny_archive.pt"), buf.getvalue())
    check_roundtrip(os.path.join(d, "tiny_archive.pt"), tiny32)
    write_json(os.path.join(d, "tiny_archive.pt.expected.json"), expected_for(tiny32))
    add("tiny_archive.pt", kind="tensors", expect="ok", expected="tiny_archive.pt.expected.json",
        description="tiny_fp32 saved through a file object (io.BytesIO): zip records are 'archive/...'",
        zip_prefix="archive")

    t1 = rnd(4, 6)
    big = rnd(8, 3)
    v = rnd(9)
    col = rnd(3, 1)
    noncontig = collections.OrderedDict([
        ("transposed", t1.t()),                         # (6,4) stride (1,6)
        ("permuted", rnd(2, 3, 4, 5).permute(0, 2, 3, 1)),  # (2,4,5,3) NCHW->NHWC view
        ("offset_slice", big[2:5]),                     # (3,3) storage offset 6, contiguous
        ("step2", v[1::2]),                             # (4,) stride 2 offset 1
        ("expanded", col.expand(3, 4)),                 # (3,4) stride (1,0)
        ("col_of_transposed", t1.t()[:, 1]),            # (6,) stride 6 offset 1, shares t1's storage
    ])
    layouts = collections.OrderedDict((k, {"stride": list(t.stride()), "storage_offset": t.storage_offset()})
                                      for k, t in noncontig.items())
    save_tiny("tiny_noncontig.pt", noncontig, noncontig,
              "non-contiguous views: transpose, 4-d permute, slice with storage offset, step-2 slice, "
              "stride-0 expand, column of a transposed view (values are the logical row-major values)",
              layouts=layouts)

    s = rnd(32)
    a = s[0:8].view(2, 4)
    shared = collections.OrderedDict([
        ("a", a),
        ("b", s[8:20].view(3, 4)),
        ("c_overlap", s[4:12]),
        ("d", s[20:32].view(3, 2, 2)),
        ("every3", s[1::3]),
        ("a_again", a),  # the same tensor object under a second key (pickle memo BINGET)
    ])
    save_tiny("tiny_shared.pt", shared, shared,
              "six entries that are views of ONE float32 storage of 32 elements at offsets 0,8,4,20,1 "
              "(overlapping); 'a_again' is the same tensor object as 'a'", storage_numel=32)

    # sizes > 65535 are pickled as BININT (as in real checkpoints, where storage numels are large);
    # stride-0 views keep the file tiny. Expected values are given as a fill value, not a list.
    big = collections.OrderedDict([
        ("wide", torch.tensor([0.75], dtype=torch.float32).expand(70000)),
        ("wide2d", torch.tensor([-1.5], dtype=torch.float16).expand(2, 66000)),
    ])
    path = os.path.join(d, "tiny_bigdim.pt")
    torch.save(big, path)
    check_roundtrip(path, big)
    write_json(path + ".expected.json", collections.OrderedDict(
        (k, {"dtype": DTYPE_NAME[t.dtype], "shape": list(t.shape), "fill": float(t.reshape(-1)[0])})
        for k, t in big.items()))
    add("tiny_bigdim.pt", kind="tensors_fill", expect="ok", expected="tiny_bigdim.pt.expected.json",
        description="stride-0 tensors of shape [70000] (float32) and [2, 66000] (float16): dimensions "
                    "> 65535 are pickled with BININT; expected json gives 'fill' (every element) instead of 'values'")

    # safetensors, written by hand
    def write_safetensors(path, sd, metadata):
        header = collections.OrderedDict([("__metadata__", metadata)])
        blobs, off = [], 0
        for k, t in sd.items():
            t = t.contiguous()
            if t.dtype == torch.bfloat16:
                raw = t.view(torch.int16).numpy().tobytes()
            else:
                raw = t.numpy().tobytes()
            assert len(raw) == t.numel() * t.element_size()
            header[k] = collections.OrderedDict([("dtype", ST_DTYPE[t.dtype]), ("shape", list(t.shape)),
                                                 ("data_offsets", [off, off + len(raw)])])
            blobs.append(raw)
            off += len(raw)
        hj = json.dumps(header, separators=(",", ":")).encode()
        hj += b" " * ((-len(hj)) % 8)
        write_bytes(path, struct.pack("<Q", len(hj)) + hj + b"".join(blobs))

    for name, sd in (("tiny_fp32.safetensors", tiny32), ("tiny_fp16.safetensors", tiny16),
                     ("tiny_bf16.safetensors", tinybf)):
        path = os.path.join(d, name)
        write_safetensors(path, sd, {"format": "pt", "source": "evsam validation/make_fixtures.py"})
        write_json(path + ".expected.json", expected_for(sd))
        add(name, kind="tensors", expect="ok", format="safetensors", expected=name + ".expected.json",
            description="hand-written safetensors file (u64 LE header length, JSON header padded with "
                        "spaces to a multiple of 8, raw LE data), same entries as the .pt of the same dtype")

    # ---- d. broken and malicious files
    write_bytes(os.path.join(d, "empty.pt"), b"")
    add("empty.pt", kind="broken", expect="error", stage="file", description="0-byte file",
        error_mentions_any=["empty", "zip", "too small", "truncated"])
    write_bytes(os.path.join(d, "random.pt"), np.random.RandomState(20240611).bytes(4096))
    add("random.pt", kind="broken", expect="error", stage="file", description="4096 seeded random bytes",
        error_mentions_any=["zip", "not a", "invalid"])
    with open(os.path.join(d, "tiny_fp32.pt"), "rb") as f:
        raw = f.read()
    write_bytes(os.path.join(d, "truncated.pt"), raw[: int(len(raw) * 0.6)])
    add("truncated.pt", kind="broken", expect="error", stage="file",
        description=f"first 60% ({int(len(raw) * 0.6)} of {len(raw)} bytes) of tiny_fp32.pt: "
                    "local headers intact, central directory missing",
        error_mentions_any=["zip", "central directory", "truncated", "end of central"])
    write_bytes(os.path.join(d, "notzip.pt"),
                b"This is a plain text file, not a PyTorch checkpoint.\nevsam loader test fixture.\n")
    add("notzip.pt", kind="broken", expect="error", stage="file", description="a small text file",
        error_mentions_any=["zip", "not a", "invalid"])

    def torch_style_zip(records):
        """Zip written by torch's own PyTorchFileWriter into a file object (prefix 'archive/')."""
        buf = io.BytesIO()
        w = torch._C.PyTorchFileWriter(buf)
        for rname, data in records:
            w.write_record(rname, data, len(data))
        w.write_end_of_file()
        return buf.getvalue()

    storage = np.arange(4, dtype=np.float32).tobytes()
    write_bytes(os.path.join(d, "no_datapkl.pt"),
                torch_style_zip([("data/0", storage), ("version", b"3\n")]))
    add("no_datapkl.pt", kind="broken", expect="error", stage="file",
        description="torch-style zip (records archive/data/0, archive/version) without archive/data.pkl",
        error_mentions=["data.pkl"])

    class _Evil:
        def __init__(self, fn, arg):
            self.fn, self.arg = fn, arg

        def __reduce__(self):
            return (self.fn, (self.arg,))

    import builtins
    evil_sys = pickle.dumps(_Evil(os.system, "echo pwned"), protocol=2)
    evil_eval = pickle.dumps(_Evil(builtins.eval, "__import__('os').system('echo pwned')"), protocol=2)
    # never unpickled; just check what global each one names
    g_sys = "%s.%s" % (os.system.__module__, os.system.__name__)
    assert (b"c" + os.system.__module__.encode() + b"\nsystem\n") in evil_sys
    assert b"c__builtin__\neval\n" in evil_eval
    write_bytes(os.path.join(d, "evil_global.pt"),
                torch_style_zip([("data.pkl", evil_sys), ("version", b"3\n")]))
    add("evil_global.pt", kind="malicious", expect="error", stage="file",
        description=f"archive/data.pkl is a protocol-2 pickle: GLOBAL '{os.system.__module__} system' "
                    "(= os.system), BINUNICODE 'echo pwned', TUPLE1, REDUCE. Must be rejected without executing",
        pickle_global=g_sys, error_mentions_any=[os.system.__module__ + ".system", "system", "global"])
    write_bytes(os.path.join(d, "evil_builtins.pt"),
                torch_style_zip([("data.pkl", evil_eval), ("version", b"3\n")]))
    add("evil_builtins.pt", kind="malicious", expect="error", stage="file",
        description="archive/data.pkl is a protocol-2 pickle calling builtins.eval (pickled as GLOBAL "
                    "'__builtin__ eval' because protocol 2 maps builtins->__builtin__). Must be rejected",
        pickle_global="__builtin__.eval", error_mentions_any=["eval", "__builtin__", "global"])

    legacy_path = os.path.join(d, "legacy.pt")
    write_bytes(legacy_path, deterministic_legacy_save(tiny32))
    check_roundtrip(legacy_path, tiny32)
    write_json(legacy_path + ".expected.json", expected_for(tiny32))
    add("legacy.pt", kind="legacy", expect="error", stage="file",
        description="tiny_fp32 contents saved with _use_new_zipfile_serialization=False (pre-1.6 "
                    "non-zip format: magic-number pickle, protocol pickle, sys-info pickle, data pickle, "
                    "storage keys, raw storages). Expected to be rejected unless legacy support is added "
                    "(then it must equal legacy.pt.expected.json)",
        expected="legacy.pt.expected.json", error_mentions_any=["legacy", "zip"])

    # ---- MANIFEST
    for name in list(manifest):
        p = os.path.join(d, name)
        manifest[name]["size"] = os.path.getsize(p)
        manifest[name]["sha256"] = sha256(p)
        if zipfile.is_zipfile(p) and manifest[name].get("kind") != "broken":
            manifest[name].setdefault("zip_prefix", zip_prefix(p))
    write_json(os.path.join(d, "MANIFEST.json"), collections.OrderedDict([
        ("generator", "validation/make_fixtures.py ckpt (torch %s)" % torch.__version__.split("+")[0]),
        ("notes", [
            "*.pt except legacy.pt are torch.save zip archives; records are '<prefix>/data.pkl', "
            "'<prefix>/data/<key>', '<prefix>/version'; <prefix> is the file stem at save time "
            "('archive' when saved to a file object) and must be discovered from the zip, not the file name",
            "expect=ok files: expected values in <file>.expected.json ({name: {dtype, shape, values}} with "
            "values the flat row-major logical values upcast to float64)",
            "stage=file: the checkpoint reader must fail; stage=model: reading succeeds but loading into the "
            "named model must fail",
            "error_mentions: every listed string must appear in the error message; error_mentions_any: at "
            "least one should",
        ]),
        ("files", manifest),
    ]))
    print(f"ckpt: {len(manifest)} files + expected json + MANIFEST.json")


def deterministic_legacy_save(obj):
    """torch.save(obj, _use_new_zipfile_serialization=False), with the storage keys (which the
    legacy writer takes from memory addresses) renamed to "0", "1", ... in order of first use and
    the storages written in that order, so the bytes do not change between runs.
    Layout: pickle(magic) pickle(protocol) pickle(sys_info) pickle(obj, persistent ids
    ('storage', <torch.XStorage>, key, location, numel, view_metadata)) pickle(sorted keys),
    then per key: int64 LE element count + raw little-endian data."""
    import pickletools
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    raw = buf.getvalue()
    f = io.BytesIO(raw)
    spans, main_ops = [], None
    for i in range(5):
        start = f.tell()
        ops = list(pickletools.genops(f))
        spans.append((start, f.tell()))
        if i == 3:
            main_ops = ops
    keys_old = pickle.loads(raw[spans[4][0]:spans[4][1]])  # a plain list of str
    elsize, order, last_storage = {}, [], None
    for op, arg, pos in main_ops:
        if op.name == "GLOBAL" and arg.startswith("torch ") and arg.endswith("Storage"):
            last_storage = arg.split(" ")[1]
        elif op.name == "BINUNICODE" and arg in keys_old and arg not in order:
            order.append(arg)
            elsize[arg] = getattr(torch, last_storage)().element_size()
    assert sorted(order) == sorted(keys_old), (order, keys_old)
    new_key = {k: str(i) for i, k in enumerate(order)}
    main = raw[spans[3][0]:spans[3][1]]
    out_main, prev = [], 0
    for op, arg, pos in main_ops:
        if op.name == "BINUNICODE" and arg in new_key:
            p0 = pos - spans[3][0]
            old_len = 5 + len(arg.encode())
            out_main += [main[prev:p0], b"X" + struct.pack("<I", len(new_key[arg])) + new_key[arg].encode()]
            prev = p0 + old_len
    out_main.append(main[prev:])
    data, off = {}, spans[4][1]
    for k in keys_old:
        n = struct.unpack("<q", raw[off:off + 8])[0]
        data[k] = raw[off:off + 8 + n * elsize[k]]
        off += 8 + n * elsize[k]
    assert off == len(raw)
    new_keys = sorted(new_key.values())
    inv = {v: k for k, v in new_key.items()}
    return (raw[:spans[3][0]] + b"".join(out_main) + pickle.dumps(new_keys, protocol=2)
            + b"".join(data[inv[k]] for k in new_keys))


# --------------------------------------------------------------- tiny + full models

def nontrivial_init(model, seed):
    """Seeded, non-trivial init: random BN stats/affine, LN affine, non-zero biases,
    random embeddings; conv/linear weights scaled by 1/sqrt(fan_in) so activations stay O(1)."""
    from efficientvit.models.nn.norm import LayerNorm2d as EvLN2d
    from segment_anything.modeling.common import LayerNorm2d as SamLN2d
    g = torch.Generator().manual_seed(seed)

    def randn(shape):
        return torch.randn(tuple(shape), generator=g)

    def unif(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(tuple(shape), generator=g)

    def bias_like(shape):  # |b| in [0.05, 0.25], random sign: never zero
        return unif(shape, 0.05, 0.25) * torch.where(torch.rand(tuple(shape), generator=g) < 0.5, -1.0, 1.0)

    def scale_like(shape):  # |w| in [0.5, 1.5], ~20% negative
        return unif(shape, 0.5, 1.5) * torch.where(torch.rand(tuple(shape), generator=g) < 0.2, -1.0, 1.0)

    done = set()
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Conv2d):
                w = m.weight
                fan_in = w.shape[1] * w.shape[2] * w.shape[3]
                w.copy_(randn(w.shape) / math.sqrt(fan_in))
            elif isinstance(m, nn.ConvTranspose2d):
                w = m.weight  # (in, out/groups, kh, kw); stride == kernel: each output sees `in` inputs
                fan_in = w.shape[0] * w.shape[2] * w.shape[3] / (m.stride[0] * m.stride[1])
                w.copy_(randn(w.shape) / math.sqrt(fan_in))
            elif isinstance(m, nn.Linear):
                m.weight.copy_(randn(m.weight.shape) / math.sqrt(m.weight.shape[1]))
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(scale_like(m.weight.shape))
                m.bias.copy_(randn(m.bias.shape) * 0.1)
                m.running_mean.copy_(randn(m.running_mean.shape) * 0.1)
                m.running_var.copy_(unif(m.running_var.shape, 0.5, 2.0))
                m.num_batches_tracked.fill_(1000 + len(done))
            elif isinstance(m, (nn.LayerNorm, EvLN2d, SamLN2d)):
                m.weight.copy_(scale_like(m.weight.shape))
                m.bias.copy_(randn(m.bias.shape) * 0.1)
            elif isinstance(m, nn.Embedding):
                m.weight.copy_(randn(m.weight.shape))
            else:
                continue
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and m.bias is not None:
                m.bias.copy_(bias_like(m.bias.shape))
            for p in m.parameters(recurse=False):
                done.add(id(p))
        for name, b in model.named_buffers():
            if name.endswith("positional_encoding_gaussian_matrix"):
                b.copy_(randn(b.shape))
        for name, p in model.named_parameters():  # SAM ViT: relative-position tables, absolute positions
            if id(p) not in done and name.rsplit(".", 1)[-1] in ("rel_pos_h", "rel_pos_w", "pos_embed"):
                p.copy_(randn(p.shape) * 0.5)
                done.add(id(p))
    missing = [n for n, p in model.named_parameters() if id(p) not in done]
    assert not missing, f"parameters without init: {missing}"


NOTE = {
    "intermediate": "intermediate inside a ConvLayer (conv output before norm/act, or norm output before act)",
    "neck_internal": "inside a neck middle block at 64x64 (same code as the backbone blocks; "
                     "main = block output - shortcut)",
    "neck_prenorm": "neck output before image_encoder.norm (64x64x32)",
    "container": "nn.ModuleList container, never called",
}


def skip_reason(name, modules, policy):
    """Why the output of encoder submodule `name` is not written (None: it is written).
    policy 'all': write everything; 'default': skip ConvLayer intermediates;
    'compact' (committed tiny fixtures): also skip the big 64x64 neck internals."""
    from efficientvit.models.nn import ConvLayer
    if policy == "all":
        return None
    if "." in name:
        parent_name, child = name.rsplit(".", 1)
        parent = modules.get(parent_name)
        if isinstance(parent, ConvLayer):
            order = [c for c in ("conv", "norm", "act") if getattr(parent, c, None) is not None]
            if child in order and child != order[-1]:
                return "intermediate"
    if policy == "compact":
        parts = name.split(".")
        if parts[:3] == ["neck", "middle", "op_list"] and len(parts) > 4 and parts[4] == "main":
            return "neck_internal"
        if name.startswith("neck.output_ops"):
            return "neck_prenorm"
    return None


INPUT_KEY = object()  # marks a recorded module *input* (forward pre-hook)


class ActivationRecorder:
    """Forward hooks on every named submodule of an encoder. Each distinct output array is
    written once (as soon as it is produced, so full-size models do not need it all in memory);
    modules whose output has identical values become aliases of one file. Files are named after
    the innermost module that produced the values (a ConvLayer rather than its act/norm leaf;
    dict entries of backbone/neck outputs last). Every entry gets shape/std/absmax, also the
    ones not written."""

    def __init__(self, encoder, prefix, out_dir, policy):
        from efficientvit.models.nn import ConvLayer
        self.encoder, self.prefix, self.out_dir, self.policy = encoder, prefix, out_dir, policy
        self.modules = dict(encoder.named_modules())
        self.calls = collections.OrderedDict()  # name -> [(seq, key_or_None, digest, stats)]
        self.files = {}  # digest -> temp path
        self.seq = 0
        self.skip = {n: skip_reason(n, self.modules, policy) for n in self.modules}
        self.in_convlayer = {n: ("." in n and isinstance(self.modules.get(n.rsplit(".", 1)[0]), ConvLayer))
                             for n in self.modules}
        os.makedirs(os.path.join(out_dir, "act"), exist_ok=True)

    def _record(self, name, key, t):
        arr = np.ascontiguousarray(t.detach().float().numpy())
        h = hashlib.sha256(repr(arr.shape).encode())
        h.update(arr.tobytes())
        digest = h.hexdigest()
        stats = collections.OrderedDict([("shape", list(arr.shape)), ("std", float(arr.std(dtype=np.float64))),
                                         ("absmax", float(np.abs(arr).max()) if arr.size else 0.0)])
        if self._skip(name, key) is None and digest not in self.files:
            tmp = os.path.join(self.out_dir, "act", f"_tmp_{digest}.npy")
            np.save(tmp, arr)
            self.files[digest] = tmp
        self.calls.setdefault(name, []).append((self.seq, key, digest, stats))

    def _skip(self, name, key):
        if self.policy == "compact" and name == "neck" and key == "sam_encoder":
            return "neck_prenorm"
        return self.skip[name]

    def _hook(self, name):
        def hook(mod, inp, out):
            self.seq += 1
            if isinstance(out, dict):
                for k, v in out.items():
                    self._record(name, k, v)
            else:
                self._record(name, None, out)
        return hook

    def _pre_hook(self, name):
        def hook(mod, inp):
            self.seq += 1
            self._record(name, INPUT_KEY, inp[0])
        return hook

    def run(self, x):
        from efficientvit.models.nn import LiteMLA
        handles = [m.register_forward_hook(self._hook(n)) for n, m in self.modules.items()]
        # the attention result itself is no module's output: record it as the input of LiteMLA.proj
        handles += [m.proj.register_forward_pre_hook(self._pre_hook(n + ".proj"))
                    for n, m in self.modules.items() if isinstance(m, LiteMLA)]
        try:
            with torch.no_grad():
                out = self.encoder(x)
        finally:
            for h in handles:
                h.remove()
        return out

    def finish(self, preseed):
        """preseed: [(relative file, array)] already written (input.npy, embedding.npy)."""
        named = {}
        for rel, arr in preseed:
            arr = np.ascontiguousarray(arr, dtype=np.float32)
            h = hashlib.sha256(repr(arr.shape).encode())
            h.update(arr.tobytes())
            named[h.hexdigest()] = rel
        rows = []  # (label, name, key, digest, stats, sort key)
        for name in self.modules:
            full = self.prefix + ("." + name if name else "")
            calls = self.calls.get(name, [])
            call_ids = sorted({c[0] for c in calls if c[1] != INPUT_KEY})
            multi = len(call_ids) > 1  # e.g. LiteMLA.kernel_func runs on q, then on k
            if not calls:
                assert isinstance(self.modules[name], nn.ModuleList), f"module {name} was not called"
                rows.append((full, name, None, None, None, None))
            for seq, key, digest, stats in calls:
                parts = [full]
                if key == INPUT_KEY:
                    parts.append("input")
                else:
                    if multi:
                        parts.append(f"call{call_ids.index(seq)}")
                    if key is not None:
                        parts.append(key)
                sort = seq + (10 ** 9 if key is not None else 10 ** 6 if self.in_convlayer[name] else 0)
                rows.append((".".join(parts), name, key, digest, stats, sort))
        for label, name, key, digest, stats, sort in sorted((r for r in rows if r[3] is not None),
                                                            key=lambda r: r[5]):
            if digest in named or self._skip(name, key) is not None:
                continue
            rel = f"act/{label}.npy"
            os.replace(self.files.pop(digest), os.path.join(self.out_dir, rel))
            named[digest] = rel
        for tmp in self.files.values():  # same values as input/embedding
            os.remove(tmp)
        index = collections.OrderedDict()
        for label, name, key, digest, stats, sort in rows:
            if digest is None:
                index[label] = {"file": None, "note": NOTE["container"]}
                continue
            e = collections.OrderedDict()
            if self._skip(name, key) is not None and digest not in named:
                e["file"] = None
                e["note"] = NOTE[self._skip(name, key)]
            else:
                e["file"] = named[digest]
                if e["file"] != f"act/{label}.npy":
                    e["alias"] = True
            e.update(stats)
            index[label] = e
        write_json(os.path.join(self.out_dir, "act", "index.json"), index)
        return index


TINY_CONFIGS = collections.OrderedDict([
    # tiny_l: L-style (l0/l1/l2) backbone. 80 -> stages 40,20,10,5,3: the last stage (3x3=9 > qkv_dim 8)
    # takes LiteMLA's linear path; 5 -> 3 is a stride-2 conv on an odd size.
    ("tiny_l", dict(
        resolution=80, seed=101,
        backbone=dict(width_list=[8, 16, 16, 32, 32], depth_list=[1, 1, 1, 1, 1],
                      block_list=["res", "fmb", "fmb", "mb", "att"], expand_list=[1, 1, 1, 1, 2],
                      fewer_norm_list=[False, False, False, True, True], in_channels=3, qkv_dim=8,
                      norm="bn2d", act_func="gelu"),
        neck=dict(fid_list=["stage4", "stage3", "stage2"], in_channel_list=[32, 32, 16], head_width=8,
                  head_depth=2, expand_ratio=1, middle_op="fmb", out_dim=32, norm="bn2d", act_func="gelu"),
        decoder_mask_case=True,
    )),
    # tiny_xl: XL-style (xl0/xl1) backbone, stage 0 of depth 0. 96 -> stages 48,24,12,6,3,2 with
    # qkv_dim 4: stage 4 (3x3=9 > 4) is linear attention, stage 5 (2x2=4, not > 4) is quadratic
    # attention right at the H*W == qkv_dim boundary; 3 -> 2 is a stride-2 conv on an odd size.
    ("tiny_xl", dict(
        resolution=96, seed=202,
        backbone=dict(width_list=[8, 8, 16, 16, 32, 32], depth_list=[0, 1, 1, 1, 2, 1],
                      block_list=["res", "fmb", "fmb", "fmb", "att@3", "att@3"], expand_list=[1, 1, 1, 1, 1, 2],
                      fewer_norm_list=[False, False, False, False, True, True], in_channels=3, qkv_dim=4,
                      norm="bn2d", act_func="gelu"),
        neck=dict(fid_list=["stage5", "stage4", "stage3"], in_channel_list=[32, 32, 16], head_width=8,
                  head_depth=1, expand_ratio=4, middle_op="fmb", out_dim=32, norm="bn2d", act_func="gelu"),
        decoder_mask_case=False,
    )),
])
EMBED_DIM = 32
SAM_CFG = dict(
    prompt_encoder=dict(embed_dim=EMBED_DIM, image_embedding_size=[64, 64], input_image_size=[1024, 1024],
                        mask_in_chans=16),
    mask_decoder=dict(num_multimask_outputs=3, transformer_dim=EMBED_DIM, iou_head_depth=3,
                      iou_head_hidden_dim=32,
                      transformer=dict(depth=2, embedding_dim=EMBED_DIM, mlp_dim=64, num_heads=4,
                                       attention_downsample_rate=2)),
)


def build_sam_mask_decoder():
    """SAM's MaskDecoder at SAM_CFG's tiny sizes (every tiny model shares it)."""
    from segment_anything.modeling import MaskDecoder, TwoWayTransformer
    md = SAM_CFG["mask_decoder"]
    return MaskDecoder(
        num_multimask_outputs=md["num_multimask_outputs"],
        transformer=TwoWayTransformer(depth=md["transformer"]["depth"], embedding_dim=md["transformer"]["embedding_dim"],
                                      mlp_dim=md["transformer"]["mlp_dim"], num_heads=md["transformer"]["num_heads"]),
        transformer_dim=md["transformer_dim"], iou_head_depth=md["iou_head_depth"],
        iou_head_hidden_dim=md["iou_head_hidden_dim"])


def build_tiny(cfg):
    from efficientvit.models.efficientvit.backbone import EfficientViTLargeBackbone
    from efficientvit.models.efficientvit.sam import EfficientViTSam, EfficientViTSamImageEncoder, SamNeck
    from efficientvit.models.nn import build_norm
    from efficientvit.models.nn.norm import set_norm_eps
    from segment_anything.modeling import PromptEncoder

    backbone = EfficientViTLargeBackbone(**cfg["backbone"])
    neck = SamNeck(**cfg["neck"])
    enc = EfficientViTSamImageEncoder(backbone, neck)
    enc.norm = build_norm("ln2d", EMBED_DIM)
    pe = SAM_CFG["prompt_encoder"]
    model = EfficientViTSam(
        image_encoder=enc,
        prompt_encoder=PromptEncoder(embed_dim=pe["embed_dim"], image_embedding_size=tuple(pe["image_embedding_size"]),
                                     input_image_size=tuple(pe["input_image_size"]),
                                     mask_in_chans=pe["mask_in_chans"]),
        mask_decoder=build_sam_mask_decoder(),
        image_size=(1024, cfg["resolution"]),
    )
    set_norm_eps(model, 1e-6)
    return model.eval()


def stage_info(cfg):
    """Spatial size per backbone stage and which LiteMLA path each attention stage takes."""
    R, b = cfg["resolution"], cfg["backbone"]
    info, h = [], R
    for i, (blk, w, dep) in enumerate(zip(b["block_list"], b["width_list"], b["depth_list"])):
        h = (h + 1) // 2  # every stage starts with a stride-2 op (3x3, pad 1)
        e = {"stage": i, "hw": [h, h], "width": w, "depth": dep, "block": blk}
        if blk.startswith("att"):
            e["attention"] = "linear" if h * h > b["qkv_dim"] else "quadratic"
            e["heads"] = w // b["qkv_dim"]
        info.append(e)
    return info


PROMPT = dict(point_coords=[[300.0, 400.0], [700.5, 250.25]], point_labels=[1, 0],
              box=[100.0, 150.0, 800.0, 900.0], multimask_output=True)
PROMPT_MASK = dict(point_coords=[[512.0, 512.0], [100.25, 900.75], [1000.0, 20.0]], point_labels=[1, 1, 0],
                   box=None, mask_input="mask_input.npy", multimask_output=False)


def run_decoder(model, emb, prompt, mask_input=None):
    coords = torch.tensor([prompt["point_coords"]], dtype=torch.float32)
    labels = torch.tensor([prompt["point_labels"]], dtype=torch.int32)
    box = torch.tensor([prompt["box"]], dtype=torch.float32) if prompt.get("box") else None
    masks = torch.from_numpy(mask_input) if mask_input is not None else None
    with torch.no_grad():
        sparse, dense = model.prompt_encoder(points=(coords, labels), boxes=box, masks=masks)
        low, iou = model.mask_decoder(image_embeddings=emb, image_pe=model.prompt_encoder.get_dense_pe(),
                                      sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                      multimask_output=prompt["multimask_output"])
    return sparse, dense, low, iou


def mode_tiny(args):
    root = os.path.join(args.out, "tiny")
    if os.path.isdir(root):  # everything under tiny/ except what other modes own (tiny_b, <cfg>/predictor)
        for e in sorted(os.listdir(root)):
            if e in TINY_OTHER_MODES:
                continue
            p = os.path.join(root, e)
            if e in TINY_CONFIGS and os.path.isdir(p) and not os.path.islink(p):
                for f in sorted(os.listdir(p)):
                    if f in TINY_CFG_OTHER_MODES:
                        continue
                    q = os.path.join(p, f)
                    shutil.rmtree(q) if os.path.isdir(q) and not os.path.islink(q) else os.remove(q)
                continue
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.remove(p)
    for cname, cfg in TINY_CONFIGS.items():
        d = os.path.join(root, cname)
        os.makedirs(d, exist_ok=True)
        torch.manual_seed(cfg["seed"])
        model = build_tiny(cfg)
        nontrivial_init(model, cfg["seed"])
        R = cfg["resolution"]
        x = torch.from_numpy(np.random.RandomState(cfg["seed"]).standard_normal((1, 3, R, R)).astype(np.float32))

        path = os.path.join(d, "model.pt")
        sd = model.state_dict()
        torch.save(sd, path)
        check_roundtrip(path, sd)
        save_npy(os.path.join(d, "input.npy"), x.numpy())

        rec = ActivationRecorder(model.image_encoder, "image_encoder", d, "compact")
        emb = rec.run(x)
        emb_np = emb.numpy()
        save_npy(os.path.join(d, "embedding.npy"), emb_np)
        index = rec.finish([("input.npy", x.numpy()), ("embedding.npy", emb_np)])
        nsaved = sum(1 for e in index.values() if e.get("file") and not e.get("alias"))
        pre = index["image_encoder.neck.output_ops.0.op_list.0"]
        assert 0.2 < emb_np.std() < 5 and 0.05 < pre["std"] < 20, (emb_np.std(), pre)

        sparse, dense, low, iou = run_decoder(model, emb, PROMPT)
        for n, t in (("sparse", sparse), ("dense", dense), ("low_res_masks", low), ("iou", iou)):
            save_npy(os.path.join(d, n + ".npy"), t.detach().numpy())
        write_json(os.path.join(d, "prompt.json"), collections.OrderedDict([
            *PROMPT.items(),
            ("frame", "coordinates are in the 1024x1024 model input frame (after ResizeLongestSide), x,y"),
            ("outputs", {"sparse": list(sparse.shape), "dense": list(dense.shape),
                         "low_res_masks": list(low.shape), "iou": list(iou.shape)})]))
        assert 0.05 < low.std() < 100, low.std()

        if cfg["decoder_mask_case"]:
            dm = os.path.join(d, "decoder_mask")
            mi = (np.random.RandomState(cfg["seed"] + 1).standard_normal((1, 1, 256, 256)) * 2).astype(np.float32)
            s2, d2, l2, i2 = run_decoder(model, emb, PROMPT_MASK, mi)
            save_npy(os.path.join(dm, "mask_input.npy"), mi)
            for n, t in (("sparse", s2), ("dense", d2), ("low_res_masks", l2), ("iou", i2)):
                save_npy(os.path.join(dm, n + ".npy"), t.detach().numpy())
            write_json(os.path.join(dm, "prompt.json"), collections.OrderedDict([
                *PROMPT_MASK.items(),
                ("frame", "coordinates in the 1024x1024 input frame; no box, so the prompt encoder appends "
                          "a padding point (label -1); mask_input (1,1,256,256) goes through mask_downscaling"),
                ("outputs", {"sparse": list(s2.shape), "dense": list(d2.shape),
                             "low_res_masks": list(l2.shape), "iou": list(i2.shape)})]))

        config = collections.OrderedDict([
            ("name", cname),
            ("resolution", R),
            ("image_size", [1024, R]),
            ("seed", cfg["seed"]),
            ("backbone", collections.OrderedDict([("type", "EfficientViTLargeBackbone"), *cfg["backbone"].items()])),
            ("neck", collections.OrderedDict([("type", "SamNeck"), *cfg["neck"].items(),
                                              ("upsample", {"mode": "bicubic", "size": [64, 64],
                                                            "align_corners": False}),
                                              ("merge", "add")])),
            ("encoder_norm", {"type": "ln2d", "num_features": EMBED_DIM}),
            ("prompt_encoder", SAM_CFG["prompt_encoder"]),
            ("mask_decoder", SAM_CFG["mask_decoder"]),
            ("norm_eps", 1e-6),
            ("notes", [
                "set_norm_eps(model, 1e-6) applies to every BatchNorm2d, efficientvit LayerNorm2d and the "
                "mask decoder's nn.LayerNorm (SAM's own LayerNorm2d already uses 1e-6)",
                "efficientvit 'gelu' is nn.GELU(approximate='tanh'); SAM's nn.GELU (prompt/mask decoder) is exact erf",
                "LiteMLA: kernel relu, eps 1e-15, heads = width // qkv_dim; linear path iff H*W > qkv_dim",
            ]),
            ("stages", stage_info(cfg)),
            ("params", sum(p.numel() for p in model.parameters())),
            ("state_dict_entries", len(sd)),
            ("embedding_std", float(emb_np.std())),
        ])
        write_json(os.path.join(d, "config.json"), config)
        total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(d) for f in fs)
        print(f"tiny {cname}: R={R} params={config['params']} emb std={emb_np.std():.3f} "
              f"acts saved={nsaved}/{len(index)} total={total / 1e6:.2f} MB "
              f"stages={[(s['hw'][0], s.get('attention', '')) for s in config['stages']]}")


# ------------------------------------------------------------------------- tiny_vit

# tiny_vit: SAM's ImageEncoderViT (segment_anything/modeling/image_encoder.py) at a 64x64 token grid,
# like the real ones (1024 / 16): image 256, patch 4. Window 14 pads the grid to 70 (5x5 windows), as in
# vit_b/l/h; blocks 1 and 3 are global (rel-pos tables of 2*64-1), 0 and 2 windowed (2*14-1). Embed 16,
# 2 heads (head_dim 8), out_chans 32 for SAM's prompt encoder and mask decoder (SAM_CFG).
TINY_VIT = dict(
    seed=404,
    image_encoder=dict(img_size=256, patch_size=4, in_chans=3, embed_dim=16, depth=4, num_heads=2, mlp_ratio=4.0,
                       out_chans=EMBED_DIM, qkv_bias=True, use_abs_pos=True, use_rel_pos=True, window_size=14,
                       global_attn_indexes=[1, 3]),
)
# get_rel_pos cases (q_size, k_size, table length): equal sizes and the table's own length, and the
# linear interpolation (table longer or shorter than 2 max(q, k) - 1), and q != k (Expedit's grids).
REL_POS_CASES = [(5, 5, 9), (4, 7, 9), (7, 4, 7), (3, 3, 11), (6, 6, 27), (10, 10, 19)]


def build_tiny_vit(cfg, hourglass=None, hourglass_module=None):
    """hourglass: HourglassImageEncoderViT's hourglass_* keyword arguments (Expedit-SAM's
    hourglass_module, upstream.hourglass_module) instead of ImageEncoderViT."""
    from functools import partial
    from segment_anything.modeling import ImageEncoderViT, PromptEncoder, Sam
    e, pe = cfg["image_encoder"], SAM_CFG["prompt_encoder"]
    grid = e["img_size"] // e["patch_size"]
    enc = (ImageEncoderViT if hourglass is None else
           partial(hourglass_module.HourglassImageEncoderViT, **hourglass))
    return Sam(
        image_encoder=enc(norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), rel_pos_zero_init=True, **e),
        prompt_encoder=PromptEncoder(embed_dim=pe["embed_dim"], image_embedding_size=(grid, grid),
                                     input_image_size=(e["img_size"], e["img_size"]),
                                     mask_in_chans=pe["mask_in_chans"]),
        mask_decoder=build_sam_mask_decoder(),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375],
    ).eval()


def run_vit_recorded(enc64, enc32, x, names, d):
    """enc64 on x in float64, saving the outputs of the modules `names` (the first of a tuple) as
    d/act/<name>.npy, and enc32 in fp32: (index of the saved modules, emb64, emb32)."""
    index, handles = collections.OrderedDict(), []
    mods = dict(enc64.named_modules())

    def hook(name):
        def f(mod, inp, out):
            arr = (out[0] if isinstance(out, tuple) else out).detach().numpy()
            fname = f"act/{name}.npy"
            save_npy(os.path.join(d, fname), arr)
            index["image_encoder." + name] = {"file": fname, "shape": list(arr.shape), "std": float(arr.std())}
        return f
    for n in names:
        handles.append(mods[n].register_forward_hook(hook(n)))
    with torch.no_grad():
        emb64 = enc64(x.double()).numpy()
        emb32 = enc32(x).numpy()
    for h in handles:
        h.remove()
    return index, emb64, emb32


def mode_tiny_vit(args):
    from segment_anything.modeling.image_encoder import get_rel_pos
    cfg = TINY_VIT
    d = os.path.join(args.out, "tiny", "tiny_vit")
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, "act"))
    torch.manual_seed(cfg["seed"])
    model = build_tiny_vit(cfg)
    nontrivial_init(model, cfg["seed"])
    sd = model.state_dict()
    path = os.path.join(d, "model.pt")
    torch.save(sd, path)
    check_roundtrip(path, sd)
    R = cfg["image_encoder"]["img_size"]
    x = torch.from_numpy(np.random.RandomState(cfg["seed"]).standard_normal((1, 3, R, R)).astype(np.float32))
    save_npy(os.path.join(d, "input.npy"), x.numpy())

    # Upstream in float64: the patch embedding, every block's output, the attention of a windowed
    # block (inside its windows) and of a global one, and the embedding; and upstream's fp32 embedding.
    enc64 = copy.deepcopy(model.image_encoder).double()
    names = ["patch_embed", "blocks.0.attn", "blocks.1.attn"] + [f"blocks.{i}" for i in range(cfg["image_encoder"]["depth"])]
    index, emb64, emb32 = run_vit_recorded(enc64, model.image_encoder, x, names, d)
    save_npy(os.path.join(d, "embedding64.npy"), emb64)
    save_npy(os.path.join(d, "embedding32.npy"), emb32)
    index["image_encoder"] = {"file": "embedding64.npy", "shape": list(emb64.shape), "std": float(emb64.std())}
    write_json(os.path.join(d, "act", "index.json"), index)
    assert 0.2 < emb64.std() < 5, emb64.std()
    err32 = float(np.linalg.norm(emb32 - emb64) / np.linalg.norm(emb64))

    cases = []
    g = torch.Generator().manual_seed(cfg["seed"] + 1)
    for i, (q, k, L) in enumerate(REL_POS_CASES):
        table = torch.randn((L, 3), generator=g, dtype=torch.float64)
        out = get_rel_pos(q, k, table)
        save_npy(os.path.join(d, "rel_pos", f"table{i}.npy"), table.numpy())
        save_npy(os.path.join(d, "rel_pos", f"out{i}.npy"), out.numpy())
        cases.append({"q_size": q, "k_size": k, "length": L, "table": f"rel_pos/table{i}.npy",
                      "out": f"rel_pos/out{i}.npy"})
    write_json(os.path.join(d, "rel_pos", "cases.json"), cases)

    write_json(os.path.join(d, "config.json"), collections.OrderedDict([
        ("name", "tiny_vit"),
        ("seed", cfg["seed"]),
        ("image_encoder", collections.OrderedDict([("type", "ImageEncoderViT"), *cfg["image_encoder"].items(),
                                                   ("norm_eps", 1e-6)])),
        ("prompt_encoder", dict(SAM_CFG["prompt_encoder"], image_embedding_size=[R // 4, R // 4],
                                input_image_size=[R, R])),
        ("mask_decoder", SAM_CFG["mask_decoder"]),
        ("pixel_mean", [123.675, 116.28, 103.53]), ("pixel_std", [58.395, 57.12, 57.375]),
        ("notes", ["activations and embedding64.npy: upstream run in float64 (model.double()) on input.npy; "
                   "embedding32.npy: upstream fp32",
                   "nn.GELU is exact erf; LayerNorm eps 1e-6 (norm_layer=partial(nn.LayerNorm, eps=1e-6))"]),
        ("params", sum(p.numel() for p in model.parameters())),
        ("state_dict_entries", len(sd)),
        ("torch_fp32_rel_l2_vs_fp64", err32),
    ]))
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(d) for f in fs)
    print(f"tiny_vit: params={sum(p.numel() for p in model.parameters())} emb std={emb64.std():.3f} "
          f"torch fp32 rel-L2 vs fp64 {err32:.3e} total={total / 1e6:.2f} MB")


# ------------------------------------------------------------------------- hourglass

# Expedit-SAM's hourglass (HourglassImageEncoderViT) on the committed tiny_vit model, clustered at two
# locations: before global block 1 (its 50x50 grid's rel-pos tables interpolated from 127 to 99, then
# windowed block 2 at window 10 from a 14-window table) with upstream's default knobs, and before
# windowed block 2 (window 9, grid 45) with every other knob changed and a temperature that makes the
# soft assignments nearly hard.
HOURGLASS_CASES = [
    ("loc1_k100", dict(hourglass_clustering_location=1, hourglass_num_cluster=100)),
    ("loc2_k81", dict(hourglass_clustering_location=2, hourglass_num_cluster=81, hourglass_cluster_iters=3,
                      hourglass_temperture=0.5, hourglass_cluster_window_size=3, hourglass_reconstruction_k=10)),
]


def mode_hourglass(args):
    hg = upstream.hourglass_module(args.expedit_src)
    root = os.path.join(args.out, "tiny", "tiny_vit")
    sd = torch.load(os.path.join(root, "model.pt"), map_location="cpu")
    base = json.load(open(os.path.join(root, "config.json")))
    x = torch.from_numpy(np.load(os.path.join(root, "input.npy")))
    out_root = os.path.join(root, "hourglass")
    for cname, kw in HOURGLASS_CASES:
        d = os.path.join(out_root, cname)
        for f in (os.listdir(d) if os.path.isdir(d) else []):  # predictor/ is mode predictor_hourglass's
            if f != "predictor":
                shutil.rmtree(os.path.join(d, f)) if os.path.isdir(os.path.join(d, f)) else os.remove(os.path.join(d, f))
        os.makedirs(os.path.join(d, "act"))
        model = build_tiny_vit(TINY_VIT, kw, hg)
        model.load_state_dict(sd, strict=True)
        enc64 = copy.deepcopy(model.image_encoder).double()
        loc = kw["hourglass_clustering_location"]
        names = (["token_clustering_block"] + [f"blocks.{i}" for i in range(loc, TINY_VIT["image_encoder"]["depth"])]
                 + ["token_reconstruction_block"])
        index, emb64, emb32 = run_vit_recorded(enc64, model.image_encoder, x, names, d)
        assert list(index) == ["image_encoder." + n for n in names], list(index)
        save_npy(os.path.join(d, "embedding64.npy"), emb64)
        save_npy(os.path.join(d, "embedding32.npy"), emb32)
        index["image_encoder"] = {"file": "embedding64.npy", "shape": list(emb64.shape), "std": float(emb64.std())}
        write_json(os.path.join(d, "act", "index.json"), index)
        err32 = float(np.linalg.norm(emb32 - emb64) / np.linalg.norm(emb64))
        cfg = collections.OrderedDict(base)
        cfg["name"] = f"tiny_vit_hourglass_{cname}"
        cfg["image_encoder"] = collections.OrderedDict(list(base["image_encoder"].items()) + list(kw.items()))
        cfg["image_encoder"]["type"] = "HourglassImageEncoderViT"
        cfg["notes"] = ["tiny_vit's model.pt and input.npy through Expedit-SAM's HourglassImageEncoderViT "
                        "(hourglass_image_encoder.py) with these hourglass_* arguments",
                        "act/ and embedding64.npy: upstream in float64; embedding32.npy: upstream fp32"]
        cfg["torch_fp32_rel_l2_vs_fp64"] = err32
        write_json(os.path.join(d, "config.json"), cfg)
        total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(d) for f in fs)
        print(f"hourglass {cname}: emb std={emb64.std():.3f} torch fp32 rel-L2 vs fp64 {err32:.3e} "
              f"modules={len(index)} total={total / 1e6:.2f} MB")


# ------------------------------------------------------------------------- tiny_b

TINY_OTHER_MODES = ("tiny_b", "tiny_vit")  # directories under tiny/ that mode tiny leaves alone
TINY_CFG_OTHER_MODES = ("predictor", "amg")  # ... and under tiny/<config>/ (modes predictor, amg own those)

# tiny_b: EfficientViT B-series backbone (EfficientViTBackbone: DSConv stem blocks, MBConv
# stages, fewer_norm MBConv + EfficientViTBlocks, hswish). 64 -> stem 32, stages 16, 8, 4, 2:
# stage 3 (4x4=16 > dim 8) takes LiteMLA's linear path, stage 4 (2x2=4 <= 8) the quadratic one.
# expand_ratio 2 (!= 1) so the stages get MBConv blocks; depth 2 in stage 1 gives a residual MBConv.
TINY_B = dict(
    resolution=64, seed=303,
    backbone=dict(width_list=[8, 16, 16, 32, 32], depth_list=[1, 2, 1, 1, 1], in_channels=3, dim=8,
                  expand_ratio=2, norm="bn2d", act_func="hswish"),
    norm_eps=1e-5,  # cls_model_zoo / seg_model_zoo: set_norm_eps(model, 1e-5) for every b0..b3 model
)
B_SCHEMA = "b1"


def mode_tiny_b(args):
    from efficientvit.models.efficientvit import backbone as bb
    from efficientvit.models.nn.norm import set_norm_eps

    # schema: upstream's b1 backbone state_dict (+ parameter counts of b0..b3)
    params_by = collections.OrderedDict()
    for v in ("b0", "b1", "b2", "b3"):
        m = getattr(bb, f"efficientvit_backbone_{v}")()
        params_by[v] = sum(p.numel() for p in m.parameters())
        if v == B_SCHEMA:
            sd = m.state_dict()
            pnames = {n for n, _ in m.named_parameters()}
            entries = [{"name": k, "shape": list(t.shape), "dtype": DTYPE_NAME[t.dtype],
                        "kind": "param" if k in pnames else "buffer"} for k, t in sd.items()]
            schema = collections.OrderedDict([
                ("model", f"efficientvit_backbone_{v}"), ("params", params_by[v]), ("entries", entries)])
    schema["params_by_config"] = params_by
    write_json(os.path.join(args.out, "schema", f"backbone_{B_SCHEMA}.json"), schema)
    print(f"schema backbone_{B_SCHEMA}: {len(schema['entries'])} entries, params {dict(params_by)}")

    cfg = TINY_B
    d = os.path.join(args.out, "tiny", "tiny_b")
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    torch.manual_seed(cfg["seed"])
    model = bb.EfficientViTBackbone(**cfg["backbone"])
    set_norm_eps(model, cfg["norm_eps"])
    model = model.eval()
    nontrivial_init(model, cfg["seed"])
    R = cfg["resolution"]
    x = torch.from_numpy(np.random.RandomState(cfg["seed"]).standard_normal((1, 3, R, R)).astype(np.float32))

    path = os.path.join(d, "model.pt")
    sd = model.state_dict()
    torch.save(sd, path)
    check_roundtrip(path, sd)
    save_npy(os.path.join(d, "input.npy"), x.numpy())

    rec = ActivationRecorder(model, "backbone", d, "compact")
    out = rec.run(x)
    assert list(out.keys()) == ["input", "stage0", "stage1", "stage2", "stage3", "stage4", "stage_final"], list(out)
    index = rec.finish([("input.npy", x.numpy())])
    nsaved = sum(1 for e in index.values() if e.get("file") and not e.get("alias"))
    final = out["stage_final"].numpy()
    assert 0.05 < final.std() < 20, final.std()

    b = cfg["backbone"]
    stages, h = [], R
    for i, (w, dep) in enumerate(zip(b["width_list"], b["depth_list"])):
        h = (h + 1) // 2  # every stage starts with a stride-2 op (3x3, pad 1)
        e = collections.OrderedDict([("stage", i), ("hw", [h, h]), ("width", w), ("depth", dep)])
        if i >= 3:
            e["attention"] = "linear" if h * h > b["dim"] else "quadratic"
            e["heads"] = w // b["dim"]
        stages.append(e)
    config = collections.OrderedDict([
        ("name", "tiny_b"),
        ("resolution", R),
        ("seed", cfg["seed"]),
        ("backbone", collections.OrderedDict([("type", "EfficientViTBackbone"), *b.items()])),
        ("norm_eps", cfg["norm_eps"]),
        ("notes", [
            "set_norm_eps(model, 1e-5) as efficientvit/cls_model_zoo.py and seg_model_zoo.py do for b0..b3",
            "input_stem: ConvLayer s2 + depth_list[0] residual DSConv (expand_ratio 1); stages 1-2: depth_list[i] "
            "MBConv blocks, the first stride 2 without shortcut; stages 3-4: fewer_norm MBConv s2 + depth_list[i] "
            "EfficientViTBlocks",
            "activations: act/index.json, names prefixed 'backbone.'; 'backbone.<key>' entries are the "
            "output_dict entries (input, stage0..stage4, stage_final)",
            "LiteMLA: kernel relu, eps 1e-15, heads = width // dim; linear path iff H*W > dim",
        ]),
        ("stages", stages),
        ("params", sum(p.numel() for p in model.parameters())),
        ("state_dict_entries", len(sd)),
        ("stage_final_std", float(final.std())),
    ])
    write_json(os.path.join(d, "config.json"), config)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(d) for f in fs)
    assert total < 1_200_000, total
    print(f"tiny tiny_b: R={R} params={config['params']} stage_final std={final.std():.3f} "
          f"acts saved={nsaved}/{len(index)} total={total / 1e6:.2f} MB "
          f"stages={[(s['hw'][0], s.get('attention', '')) for s in stages]}")


# ---------------------------------------------------------------------- predictor

# Upstream's EfficientViTSamPredictor end to end on the committed tiny models (model.pt loaded into
# build_tiny(cfg)), on two small synthetic PNGs. Coordinates are in original-image pixels (x, y).
PRED_CONFIGS = ("tiny_l", "tiny_xl")
PRED_IMAGES = collections.OrderedDict([  # (W, H); both smaller than R, so SamResize upsamples
    ("portrait", dict(width=45, height=61, seed=11)),
    ("landscape", dict(width=61, height=37, seed=12)),
])
# Masks (C,H,W) and iou are written for every case; a (C,256,256) float32 low-res map costs 256 KiB
# per mask, so low-res maps and the large (64x64-token / 256x256) intermediates are written only for
# the cases in PRED_PROFILE. tiny_xl has the same prompt encoder / mask decoder structure as tiny_l
# (other weights), so it gets the smaller set.
# intermediates written for the first case of each image (and the mask case): module outputs, by name
PRED_ACT_SMALL = ("prompt_encoder.sparse", "mask_decoder.transformer.layers.0.queries",
                  "mask_decoder.transformer.layers.1.queries", "mask_decoder.transformer.final_attn_token_to_image",
                  "mask_decoder.transformer.norm_final_attn", "mask_decoder.transformer.hs",
                  "mask_decoder.hyper_in", "mask_decoder.iou_prediction_head")
PRED_ACT_BIG = ("prompt_encoder.dense", "prompt_encoder.mask_downscaling", "mask_decoder.transformer.layers.0.keys",
                "mask_decoder.transformer.layers.1.keys", "mask_decoder.transformer.src",
                "mask_decoder.output_upscaling")
PRED_PROFILE = {
    "tiny_l": dict(lowres={"portrait_point_multi", "portrait_mask_single"},
                   big={"portrait_point_multi": PRED_ACT_BIG,
                        "portrait_mask_single": ("prompt_encoder.dense", "prompt_encoder.mask_downscaling")},
                   dense_pe=True, mask_cases=True),
    "tiny_xl": dict(lowres={"portrait_point_single"}, big={}, dense_pe=False, mask_cases=False),
    "tiny_vit": dict(lowres={"portrait_mask_single"}, big={}, dense_pe=False, mask_cases=True),
    "tiny_vit_hourglass": dict(lowres={"portrait_mask_single"}, big={}, dense_pe=False, mask_cases=True),
}
# predictor_hourglass: tiny_vit's model through Expedit-SAM's HourglassImageEncoderViT (this
# HOURGLASS_CASES entry) inside upstream's SamPredictor; written to tiny/tiny_vit/hourglass/<case>/predictor
PRED_HOURGLASS_CASE = "loc1_k100"
# (all cases run multimask true and false on the portrait image; on the landscape image only the
# one-point case does, the others single-mask; mask-input cases are on the portrait image only)
PRED_TUPLE_KEYS = {"prompt_encoder": ("sparse", "dense"), "mask_decoder": ("low_res_masks", "iou_predictions"),
                   "mask_decoder.transformer": ("hs", "src"),
                   "mask_decoder.transformer.layers.0": ("queries", "keys"),
                   "mask_decoder.transformer.layers.1": ("queries", "keys")}


def synth_image(w, h, seed):
    """Deterministic HxWx3 uint8 RGB: smooth gradients, a disc, a rectangle, a stripe, seeded noise."""
    rs = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([255 * x / max(w - 1, 1), 255 * y / max(h - 1, 1),
                    128 + 90 * np.sin((x + 2 * y) / 5.0)], axis=-1)
    cx, cy, r = 0.35 * w, 0.4 * h, 0.22 * min(w, h)
    img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = (230, 40, 60)
    img[int(0.6 * h):int(0.85 * h), int(0.5 * w):int(0.9 * w)] = (30, 200, 90)
    img[np.abs(x - y * w / h - 0.1 * w) < 1.5] = (250, 250, 250)
    img += rs.randint(-20, 21, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def pred_cases(W, H):
    """Prompt cases for an image of W x H pixels: (name, point_coords, point_labels, box, mask_from,
    multimask list). mask_from names the case whose best low-res map (by iou) is fed back as mask_input."""
    def q(v):  # quarter-pixel values: exact in float32, and not all integers
        return round(v * 4) / 4
    pt = [[q(0.42 * W), q(0.47 * H)]]
    box = [q(0.15 * W), q(0.2 * H), q(0.8 * W) + 0.5, q(0.7 * H)]
    return [
        ("point", pt, [1], None, None, [True, False]),
        ("points", [[q(0.3 * W), q(0.3 * H)], [q(0.72 * W) + 0.25, q(0.2 * H)],
                    [q(0.55 * W) + 0.5, q(0.62 * H) - 0.25], [q(0.2 * W), q(0.85 * H)]], [1, 0, 1, 0], None, None,
         [True, False]),
        ("box", None, None, box, None, [True, False]),
        ("point_box", [[q(0.5 * W), q(0.45 * H)]], [1], [q(0.1 * W), q(0.15 * H), q(0.9 * W), q(0.8 * H)], None,
         [True, False]),
        ("mask", pt, [1], None, "point_multi", [True, False]),
        ("mask_only", None, None, None, "point_multi", [False]),
        ("border", [[0.0, 0.0], [W - 1.0, 0.0], [0.0, H - 1.0], [W - 1.0, H - 1.0], [q(W / 2), 0.0]],
         [1, 0, 1, 1, 0], None, None, [True, False]),
        ("outside", [[float(W), float(H)], [W - 0.5, q(H / 2)], [-0.5, q(H / 3)], [q(W / 3), H + 0.5]],
         [1, 1, 0, 0], None, None, [False]),
        ("box_degenerate", None, None, [q(0.4 * W), q(0.2 * H), q(0.4 * W), q(0.8 * H)], None, [False]),
        ("box_full", None, None, [0.0, 0.0, float(W), float(H)], None, [False]),
        ("empty", None, None, None, None, [False]),
    ]


class DecoderRecorder:
    """Forward hooks on every submodule of prompt_encoder and mask_decoder; records (in call order)
    each output with its stats. Tuple outputs get named keys (PRED_TUPLE_KEYS); the stacked
    hypernetwork outputs are added as the pseudo-module mask_decoder.hyper_in."""

    def __init__(self, model):
        self.mods = [("prompt_encoder." + n if n else "prompt_encoder", m)
                     for n, m in model.prompt_encoder.named_modules() if not isinstance(m, nn.ModuleList)]
        self.mods += [("mask_decoder." + n if n else "mask_decoder", m)
                      for n, m in model.mask_decoder.named_modules() if not isinstance(m, nn.ModuleList)]
        self.handles = []
        self.rows = []

    def _hook(self, name):
        def hook(mod, inp, out):
            if isinstance(out, tuple):
                for k, t in zip(PRED_TUPLE_KEYS[name], out):
                    self.rows.append((f"{name}.{k}", t.detach().clone()))
            else:
                self.rows.append((name, out.detach().clone()))
                if name == f"mask_decoder.output_hypernetworks_mlps.{self.n_tokens - 1}":
                    hyper = [t for n, t in self.rows if n.startswith("mask_decoder.output_hypernetworks_mlps.")
                             and n.count(".") == 2]
                    self.rows.append(("mask_decoder.hyper_in", torch.stack(hyper, dim=1)))
        return hook

    def __enter__(self):
        self.rows = []
        self.n_tokens = sum(1 for n, _ in self.mods if n.startswith("mask_decoder.output_hypernetworks_mlps.")
                            and n.count(".") == 2)
        self.handles = [m.register_forward_hook(self._hook(n)) for n, m in self.mods
                        if n != "prompt_encoder.pe_layer"]  # get_dense_pe: written once as dense_pe.npy
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def _digest(arr):
    h = hashlib.sha256(repr(arr.shape).encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def mode_predictor(args, configs=PRED_CONFIGS):
    from PIL import Image
    from efficientvit.models.efficientvit.sam import EfficientViTSamPredictor
    from segment_anything import SamPredictor

    for cname in configs:
        prof = PRED_PROFILE[cname]
        hourglass = cname == "tiny_vit_hourglass"
        cdir = os.path.join(args.out, "tiny", "tiny_vit", "hourglass", PRED_HOURGLASS_CASE) if hourglass else \
            os.path.join(args.out, "tiny", cname)
        d = os.path.join(cdir, "predictor")
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(os.path.join(d, "act"))
        vit = cname in ("tiny_vit", "tiny_vit_hourglass")  # SAM's own predictor (prompts in its img_size frame)
        if hourglass:
            model = build_tiny_vit(TINY_VIT, dict(HOURGLASS_CASES)[PRED_HOURGLASS_CASE],
                                   upstream.hourglass_module(args.expedit_src))
        else:
            model = build_tiny_vit(TINY_VIT) if vit else build_tiny(TINY_CONFIGS[cname])
        model_path = os.path.join(args.out, "tiny", "tiny_vit" if hourglass else cname, "model.pt")
        model.load_state_dict(torch.load(model_path, map_location="cpu"))  # strict: same weights as tiny
        predictor = SamPredictor(model) if vit else EfficientViTSamPredictor(model)
        image_size = [model.image_encoder.img_size] * 2 if vit else list(model.image_size)
        def predict_torch(**kw):  # SamPredictor.predict_torch takes point_coords/point_labels positionally
            return predictor.predict_torch(**{"point_coords": None, "point_labels": None, **kw})

        if vit:  # SamPredictor keeps ResizeLongestSide in .transform; EfficientViTSamPredictor wraps it
            tf = predictor.transform
            predictor.apply_coords = lambda c: tf.apply_coords(c, predictor.original_size)
            predictor.apply_boxes = lambda b: tf.apply_boxes(b, predictor.original_size)
            predictor.apply_coords_torch = lambda c: tf.apply_coords_torch(c, predictor.original_size)
            predictor.apply_boxes_torch = lambda b: tf.apply_boxes_torch(b, predictor.original_size)
        written = {}  # digest -> relative path (files under d)

        def write(rel, arr):
            arr = np.ascontiguousarray(arr)
            assert arr.dtype == np.float32, (rel, arr.dtype)
            dg = _digest(arr)
            if dg in written:
                return written[dg], True
            save_npy(os.path.join(d, rel), arr)
            written[dg] = rel
            return rel, False

        with torch.inference_mode():
            dense_pe = model.prompt_encoder.get_dense_pe().numpy()
        if prof["dense_pe"]:
            write("dense_pe.npy", dense_pe)
        no_mask = model.prompt_encoder.no_mask_embed.weight.detach().numpy().reshape(1, -1, 1, 1)

        images, cases, logit_summary = [], [], []
        best_lowres = {}
        for iname, ispec in PRED_IMAGES.items():
            W, H = ispec["width"], ispec["height"]
            fname = f"image_{iname}.png"
            Image.fromarray(synth_image(W, H, ispec["seed"])).save(os.path.join(d, fname))
            img = np.array(Image.open(os.path.join(d, fname)).convert("RGB"))  # what users do
            assert img.shape == (H, W, 3)
            predictor.set_image(img)
            orig, inp = [int(v) for v in predictor.original_size], [int(v) for v in predictor.input_size]
            features = predictor.features.clone()
            images.append(collections.OrderedDict([
                ("name", iname), ("file", fname), ("width", W), ("height", H), ("original_size", orig),
                ("input_size", inp), ("embedding_std", float(features.std()))]))

            def record_case(name, entry, masks, iou, low, rec):
                masks, iou, low = (np.asarray(masks), np.asarray(iou), np.asarray(low))
                assert masks.dtype == np.float32 and low.dtype == np.float32 and iou.dtype == np.float32
                out = collections.OrderedDict()
                out["masks"] = {"file": write(f"{name}.masks.npy", masks)[0], "shape": list(masks.shape)}
                out["iou"] = {"file": write(f"{name}.iou.npy", iou)[0], "shape": list(iou.shape),
                              "values": [float(v) for v in iou.reshape(-1)]}
                lr = {"file": None, "shape": list(low.shape)}
                if name in prof["lowres"]:
                    lr["file"] = write(f"{name}.lowres.npy", low)[0]
                lr.update(absmax=float(np.abs(low).max()), std=float(low.std(dtype=np.float64)))
                out["lowres"] = lr
                entry["outputs"] = out
                entry["logits"] = collections.OrderedDict([
                    ("absmax", float(np.abs(masks).max())), ("std", float(masks.std(dtype=np.float64))),
                    ("positive_fraction", float((masks > 0).mean()))])
                logit_summary.append((name, float(np.abs(masks).max()), float(masks.std()), float(np.abs(low).max())))
                if rec is not None:
                    entry["intermediates"] = intermediates(name, rec)
                cases.append(entry)

            def intermediates(name, rec):
                rows = []
                for label, t in rec.rows:
                    arr = np.ascontiguousarray(t.numpy(), dtype=np.float32)
                    e = collections.OrderedDict([("name", label), ("file", None)])
                    big = label in PRED_ACT_BIG
                    if label in PRED_ACT_SMALL or (big and label in prof["big"].get(name, ())):
                        if label == "prompt_encoder.dense" and np.array_equal(
                                arr, np.broadcast_to(no_mask, arr.shape)):
                            e["note"] = "no mask input: prompt_encoder.no_mask_embed.weight broadcast to (1,E,64,64)"
                        else:
                            e["file"], alias = write(f"act/{name}/{label}.npy", arr)
                            if alias:
                                e["alias"] = True
                    e["shape"] = list(arr.shape)
                    e["std"] = float(arr.std(dtype=np.float64))
                    e["absmax"] = float(np.abs(arr).max()) if arr.size else 0.0
                    rows.append(e)
                return rows

            for cname_, pts, labels, box, mask_from, mms in pred_cases(W, H):
                for mm in mms:
                    name = f"{iname}_{cname_}_{'multi' if mm else 'single'}"
                    if mask_from is not None and (iname != "portrait" or not prof["mask_cases"]):
                        continue  # mask-input cases on the portrait image only (a mask_input file is 256 KiB)
                    if mm and iname != "portrait" and cname_ != "point":
                        continue
                    mi = None
                    entry = collections.OrderedDict([
                        ("name", name), ("kind", cname_), ("image", fname), ("image_format", "RGB"),
                        ("batched", False), ("original_size", orig), ("input_size", inp),
                        ("point_coords", pts), ("point_labels", labels), ("box", box), ("mask_input", None),
                        ("multimask", mm)])
                    if mask_from is not None:
                        mi = best_lowres[f"{iname}_{mask_from}"]
                        entry["mask_input"] = write(f"{iname}_mask_input.npy", mi)[0]
                    kw = dict(point_coords=None if pts is None else np.array(pts),
                              point_labels=None if labels is None else np.array(labels),
                              box=None if box is None else np.array(box), mask_input=mi)
                    # what predict() hands to predict_torch: apply_coords/apply_boxes in float64, then float32
                    entry["point_coords_input"] = (None if pts is None else
                                                   torch.as_tensor(predictor.apply_coords(np.array(pts)),
                                                                   dtype=torch.float).tolist())
                    entry["box_input"] = (None if box is None else
                                          torch.as_tensor(predictor.apply_boxes(np.array(box)),
                                                          dtype=torch.float).tolist())
                    first = cname_ == "point" and mm or cname_ == "mask" and not mm
                    rec = DecoderRecorder(model) if first else None
                    if rec is not None:
                        with rec:
                            masks, iou, low = predictor.predict(**kw, multimask_output=mm, return_logits=True)
                    else:
                        masks, iou, low = predictor.predict(**kw, multimask_output=mm, return_logits=True)
                    # binary output is logits > mask_threshold (0.0)
                    bm, _, _ = predictor.predict(**kw, multimask_output=mm, return_logits=False)
                    assert bm.dtype == np.bool_ and np.array_equal(bm, masks > model.mask_threshold), name
                    if cname_ == "point" and mm:
                        best_lowres[name] = low[int(np.argmax(iou))][None].copy()  # (1,256,256)
                        entry["best_index"] = int(np.argmax(iou))
                    record_case(name, entry, masks, iou, low, rec)

                    if iname == "portrait" and cname_ == "point" and mm:  # the same through image_format BGR
                        predictor.set_image(img[..., ::-1], "BGR")
                        assert torch.equal(predictor.features, features)
                        m2, i2, l2 = predictor.predict(**kw, multimask_output=mm, return_logits=True)
                        assert np.array_equal(m2, masks) and np.array_equal(i2, iou) and np.array_equal(l2, low)
                        e2 = copy.deepcopy(entry)
                        e2.pop("intermediates", None)
                        e2.update(name=f"{iname}_point_bgr_multi", kind="point_bgr", image_format="BGR")
                        e2["note"] = ("set_image(rgb[..., ::-1], 'BGR'): the array given is the decoded PNG with "
                                      "its channels reversed; results are bit-identical to the RGB case")
                        cases.append(e2)
                        predictor.set_image(img)

            if iname != "portrait":
                continue
            # batched: predict_torch with prompts transformed as upstream's box-prompted evaluation does
            bx = [c[3] for c in pred_cases(W, H) if c[0] in ("box", "point_box", "box_degenerate")]
            boxes_t = predictor.apply_boxes_torch(torch.tensor(bx, dtype=torch.float32))
            pts = [[[9.25, 12.5], [30.0, 40.75], [44.0, 0.0]], [[22.5, 30.25], [5.0, 55.0], [0.0, 0.0]]]
            lbl = [[1, 0, 1], [1, 0, -1]]
            coords_t = predictor.apply_coords_torch(torch.tensor(pts, dtype=torch.float32))
            labels_t = torch.tensor(lbl, dtype=torch.int)
            for name, kind, kw, mm in (
                    ("portrait_boxes_batch_single", "boxes_batch", dict(boxes=boxes_t), False),
                    ("portrait_points_batch_multi", "points_batch",
                     dict(point_coords=coords_t, point_labels=labels_t), True)):
                masks, iou, low = predict_torch(**kw, multimask_output=mm, return_logits=True)
                entry = collections.OrderedDict([
                    ("name", name), ("kind", kind), ("image", fname), ("image_format", "RGB"), ("batched", True),
                    ("original_size", orig), ("input_size", inp),
                    ("point_coords", pts if "point_coords" in kw else None),
                    ("point_labels", lbl if "point_coords" in kw else None),
                    ("box", bx if "boxes" in kw else None), ("mask_input", None), ("multimask", mm),
                    ("point_coords_input", coords_t.tolist() if "point_coords" in kw else None),
                    ("box_input", boxes_t.tolist() if "boxes" in kw else None)])
                entry["note"] = ("predict_torch with B prompts at once; *_input were made by apply_boxes_torch / "
                                 "apply_coords_torch (float32 arithmetic); outputs keep the batch dim")
                # each prompt alone (B=1) for reference: batching changes nothing beyond rounding
                diffs = []
                for b in range(masks.shape[0]):
                    kb = {k: v[b:b + 1] for k, v in kw.items()}
                    mb, ib, lb = predict_torch(**kb, multimask_output=mm, return_logits=True)
                    diffs.append(max(float((mb - masks[b:b + 1]).abs().max()), float((lb - low[b:b + 1]).abs().max())))
                print(f"  {cname} {name}: max |batched - one at a time| = {max(diffs):.2e}")
                record_case(name, entry, masks.numpy(), iou.numpy(), low.numpy(), None)

        write_json(os.path.join(d, "cases.json"), collections.OrderedDict([
            ("config", cname),
            ("model", os.path.relpath(model_path, d)),
            ("model_sha256", sha256(model_path)),
            ("image_size", image_size),
            ("mask_threshold", float(model.mask_threshold)),
            ("dense_pe", collections.OrderedDict([
                ("file", "dense_pe.npy" if prof["dense_pe"] else None), ("shape", list(dense_pe.shape)),
                ("std", float(dense_pe.std(dtype=np.float64))), ("absmax", float(np.abs(dense_pe).max()))])),
            ("notes", [
                "made by upstream EfficientViTSamPredictor: set_image(np.array(Image.open(png).convert('RGB'))), "
                "predict(..., return_logits=True); batched cases call predict_torch",
                "point_coords/box are in original-image pixels (x, y); point_coords_input/box_input are the "
                "float32 values in the 1024 frame that the prompt encoder received",
                "predict(): apply_coords/apply_boxes scale in float64 (x * (input_w / orig_w)), then cast to float32",
                "masks: (C,H,W) float32 logits at the original size (binary mask = logits > 0); iou: (C,); "
                "lowres: (C,256,256) (file null when not written: see lowres absmax/std); batched cases keep the "
                "batch dim (B,C,...)",
                "multimask true: mask tokens 1..3; false: token 0",
                "mask_input: (1,256,256) float32, the best (by iou) low-res map of the case named by kind "
                "'point' multimask, fed back as predict(mask_input=...)",
                "intermediates (first case of each image, and the mask case): module outputs in call order; "
                "file null = not written (stats only); mask_decoder.hyper_in = the stacked "
                "output_hypernetworks_mlps outputs; transformer tensors are (B, tokens, E)",
                "the empty case: no prompt at all (upstream accepts it: 0 sparse tokens, dense = no_mask_embed)",
            ]),
            ("images", images),
            ("cases", cases),
        ]))
        total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(d) for f in fs)
        nfiles = sum(len(fs) for _, _, fs in os.walk(d))
        am = [s[1] for s in logit_summary]
        sd_ = [s[2] for s in logit_summary]
        print(f"predictor {cname}: {len(cases)} cases, {nfiles} files, {total / 1e6:.2f} MB; mask logits "
              f"absmax {min(am):.2f}..{max(am):.2f}, std {min(sd_):.2f}..{max(sd_):.2f}")
        for s in logit_summary:
            print(f"    {s[0]:32s} absmax {s[1]:6.3f} std {s[2]:6.3f} lowres absmax {s[3]:6.3f}")


# ---------------------------------------------------------------------------- amg

# Upstream's automatic mask generator: unit fixtures from segment_anything.utils.amg (and
# torchvision's batched_nms, which SamAutomaticMaskGenerator calls) under amg/, and upstream's
# EfficientViTSamAutomaticMaskGenerator end to end on the committed tiny_l model under
# tiny/tiny_l/amg/. Needs the real cv2 (remove_small_regions) and pycocotools (coco_encode_rle).

AMG_GRID_CASES = [(32, 0, 1), (8, 1, 1), (4, 2, 2), (5, 1, 2), (1, 0, 1), (3, 1, 2), (16, 2, 4), (2, 1, 4)]
AMG_CROP_SIZES = [(480, 640), (640, 480), (300, 451), (37, 61), (1000, 17), (48, 64), (60, 60), (1, 1)]
AMG_OVERLAPS = (512 / 1500, 0.25)
AMG_STABILITY = [(0.0, 1.0), (0.0, 0.5), (0.0, 0.005)]  # (mask_threshold, threshold_offset)
AMG_SR_THRESHOLDS = [0, 1, 3, 4, 5, 16, 17, 30, 1000]
AMG_NEAR_EPS = 1e-4  # tiny runs: pixels with |logit - mask_threshold| below this are listed per record

AMG_TINY_CFG = "tiny_l"
AMG_TINY_IMAGES = collections.OrderedDict([  # file -> (W, H, seed) for synth_image
    ("image_a.png", (64, 48, 51)),
    ("image_c.png", (60, 60, 61)),
])


def _amg_settings(**kw):
    """Every EfficientViTSamAutomaticMaskGenerator argument (upstream's defaults, then kw)."""
    s = collections.OrderedDict([
        ("points_per_side", 32), ("points_per_batch", 64), ("pred_iou_thresh", 0.88),
        ("stability_score_thresh", 0.95), ("stability_score_offset", 1.0), ("box_nms_thresh", 0.7),
        ("crop_n_layers", 0), ("crop_nms_thresh", 0.7), ("crop_overlap_ratio", 512 / 1500),
        ("crop_n_points_downscale_factor", 1), ("min_mask_region_area", 0), ("output_mode", "binary_mask")])
    for k, v in kw.items():
        assert k in s, k
        s[k] = v
    return s


AMG_TINY_SETTINGS = collections.OrderedDict([
    # 16 points in batches of 5, 5, 5, 1; one crop. The tiny model's logits on this image are weak
    # (max |logit| ~0.15), so the stability offset is 0.005; pred_iou_thresh 0 disables that filter
    # although most predicted IoUs are negative; box NMS removes the duplicate full-frame masks.
    ("settings_a", dict(image="image_a.png", settings=_amg_settings(
        points_per_side=4, points_per_batch=5, pred_iou_thresh=0.0, stability_score_thresh=0.5,
        stability_score_offset=0.005, box_nms_thresh=0.7, output_mode="uncompressed_rle"))),
    # one crop layer (5 crops); every layer-1 mask touches an interior crop edge more than 20 px from
    # the image edge, so the crop-edge filter removes all of them; min_mask_region_area 10 changes
    # some masks (holes, islands); both score filters disabled (0).
    ("settings_b", dict(image="image_a.png", settings=_amg_settings(
        points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0, stability_score_offset=0.005,
        box_nms_thresh=0.7, crop_n_layers=1, min_mask_region_area=10, output_mode="coco_rle"))),
    # 60x60: layer-1 crops are 40x40 at offsets 0 and 20; the crop-edge filter keeps only masks of the
    # (20,20) crop, whose interior edges lie exactly 20 px from the image edge (isclose: <= atol).
    # NMS thresholds 1.0 suppress nothing (identical boxes have IoU exactly 1, not > 1), so the
    # order is what the sorts make of it: crop NMS by 1/crop area (smaller crops first), then the
    # small-region pass's NMS puts unchanged masks (score 1) before changed ones (score 0): with
    # min_mask_region_area 4 that moves the (20,20) crop's (changed) masks back behind the full image's.
    # pred_iou_thresh 0.05 filters (most predicted IoUs here are below it).
    ("settings_c", dict(image="image_c.png", settings=_amg_settings(
        points_per_side=2, pred_iou_thresh=0.05, stability_score_thresh=0.0, stability_score_offset=0.25,
        box_nms_thresh=1.0, crop_n_layers=1, crop_nms_thresh=1.0, min_mask_region_area=4,
        output_mode="binary_mask"))),
])


def _f32list(x):
    """float32 values as exact Python floats (NaN -> None: JSON has no NaN)."""
    return [None if math.isnan(v) else float(v) for v in np.asarray(x, dtype=np.float32).reshape(-1).tolist()]


def _need_real_packages():
    missing = [n for n in ("cv2", "pycocotools") if not upstream.have_real(n)]
    if missing:
        sys.exit(f"error: mode amg needs the real {' and '.join(missing)} (not the stand-ins upstream.py gives "
                 "when they are missing): apt install python3-opencv; pip install pycocotools")


def _remove_small_regions_conn(mask, area_thresh, mode, connectivity):
    """NOT upstream: the recipe of segment_anything.utils.amg.remove_small_regions restated with the
    connectivity as a parameter (upstream always passes 8), to record what 4-connectivity gives.
    Returns (mask, changed, n_labels, component sizes in cv2 label order)."""
    import cv2
    holes = mode == "holes"
    work = (holes ^ mask).astype(np.uint8)  # holes: the background is what gets labelled
    # by keyword: the second positional parameter is the `labels` output (upstream's positional 8 lands
    # there and is ignored; its connectivity is cv2's default, 8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(work, connectivity=connectivity)
    sizes = stats[:, -1][1:]  # label 0 is the background of `work`
    small = [i + 1 for i, s in enumerate(sizes) if s < area_thresh]
    if not small:
        return mask, False, int(n), [int(s) for s in sizes]
    keep = [0] + small
    if not holes:
        keep = [i for i in range(n) if i not in keep]
        if not keep:  # every island is small: keep the largest (first in label order on a tie)
            keep = [int(np.argmax(sizes)) + 1]
    return np.isin(labels, keep), True, int(n), [int(s) for s in sizes]


def amg_grids(d):
    from segment_anything.utils.amg import build_all_layer_point_grids
    cases = []
    for n, layers, scale in AMG_GRID_CASES:
        e = collections.OrderedDict([("n_per_side", n), ("n_layers", layers), ("scale_per_layer", scale)])
        e["n_points_per_layer"] = [int(n / (scale ** i)) for i in range(layers + 1)]
        try:
            grids = build_all_layer_point_grids(n, layers, scale)
        except ZeroDivisionError:
            e["error"] = "ZeroDivisionError"
            e["note"] = ("a layer with int(n_per_side / scale**i) == 0 points: build_point_grid(0) divides by "
                         "zero (1 / (2 * 0)); upstream raises")
            cases.append(e)
            continue
        e["layers"] = []
        for g in grids:
            assert g.dtype == np.float64
            e["layers"].append(collections.OrderedDict([("shape", list(g.shape)), ("points", g.tolist())]))
        cases.append(e)
    write_json(os.path.join(d, "grids.json"), collections.OrderedDict([
        ("function", "segment_anything.utils.amg.build_all_layer_point_grids(n_per_side, n_layers, scale_per_layer)"),
        ("notes", [
            "layer i has int(n_per_side / scale_per_layer**i) points per side (float division, truncated)",
            "build_point_grid(k): offset = 1 / (2k); side = np.linspace(offset, 1 - offset, k); points (k*k, 2) "
            "float64, (x, y), x fastest (row-major over y then x)",
            "np.linspace (numpy 1.24): value i = start + i * ((stop - start) / (k - 1)), and the last value is set "
            "to stop exactly; k == 1 gives [start]",
        ]),
        ("cases", cases)]))
    return len(cases)


def amg_crop_boxes(d):
    from segment_anything.utils.amg import generate_crop_boxes
    cases = []
    for h, w in AMG_CROP_SIZES:
        for layers in range(3):
            for ov in AMG_OVERLAPS:
                boxes, idxs = generate_crop_boxes((h, w), layers, ov)
                boxes = [[int(v) for v in b] for b in boxes]
                e = collections.OrderedDict([("im_size", [h, w]), ("n_layers", layers), ("overlap_ratio", ov),
                                             ("crop_boxes", boxes), ("layer_idxs", [int(i) for i in idxs])])
                degenerate = [i for i, b in enumerate(boxes) if b[2] <= b[0] or b[3] <= b[1]]
                if degenerate:
                    e["degenerate"] = degenerate
                cases.append(e)
    write_json(os.path.join(d, "crop_boxes.json"), collections.OrderedDict([
        ("function", "segment_anything.utils.amg.generate_crop_boxes(im_size=(h, w), n_layers, overlap_ratio)"),
        ("notes", [
            "crop_boxes are XYXY ints (x1, y1 exclusive), layer_idxs the crop layer of each; box 0 is the image",
            "layer i (1-based) has n = 2**i crops per side: overlap = int(overlap_ratio * short_side * (2 / n)) "
            "(double arithmetic, in that order), crop_len(L) = ceil((overlap * (n - 1) + L) / n), x0 = "
            "int((crop_w - overlap) * k); boxes are listed x0-major (itertools.product(x0s, y0s)), clipped to the "
            "image on the far side only",
            "degenerate: indices of boxes with x1 <= x0 or y1 <= y0 (tiny images); upstream returns them as they "
            "are (its generator would then crop an empty image)",
            "overlap_ratio 0.3413333333333333 is 512/1500, upstream's default",
        ]),
        ("cases", cases)]))
    return len(cases)


def amg_stability(d):
    from segment_anything.utils.amg import calculate_stability_score
    rs = np.random.RandomState(4242)
    H, W = 13, 17
    stack, names = [], []

    def add(name, arr):
        names.append(name)
        stack.append(np.asarray(arr, dtype=np.float32).reshape(H, W))
    for i in range(5):
        add(f"random{i}", rs.standard_normal((H, W)) * (0.6 + 0.4 * i))
    add("all_negative", np.full((H, W), -3.0))
    add("all_positive", np.full((H, W), 3.0))
    exact = np.array([-1.0, -0.5, 0.0, 0.5, 1.0], dtype=np.float32)
    nxt = np.concatenate([exact, np.nextafter(exact, np.float32(np.inf)), np.nextafter(exact, np.float32(-np.inf)),
                          np.float32([0.005, -0.005, 1.005, 0.995])]).astype(np.float32)
    add("on_thresholds", np.resize(nxt, H * W))
    add("positive_below_offset", rs.uniform(0.01, 0.9, (H, W)))
    add("all_zero", np.zeros((H, W)))
    add("all_minus_one", np.full((H, W), -1.0))
    add("all_minus_half", np.full((H, W), -0.5))
    logits = np.stack(stack).astype(np.float32)
    save_npy(os.path.join(d, "stability_logits.npy"), logits)
    t = torch.from_numpy(logits)
    cases = []
    for thr, off in AMG_STABILITY:
        sc = calculate_stability_score(t, thr, off)
        assert sc.dtype == torch.float32
        inter = (t > (thr + off)).sum((-1, -2))
        union = (t > (thr - off)).sum((-1, -2))
        cases.append(collections.OrderedDict([
            ("mask_threshold", thr), ("threshold_offset", off),
            ("intersections", inter.tolist()), ("unions", union.tolist()),
            ("scores", _f32list(sc.numpy())), ("nan", [i for i, v in enumerate(sc.tolist()) if math.isnan(v)])]))
    # int16 row sums wrap for rows with more than 32767 pixels above a threshold
    n = 32770
    wide = torch.full((1, 1, n), 0.5)
    wide[..., :100] = 2.0
    sc = calculate_stability_score(wide, 0.0, 1.0)
    wrap = collections.OrderedDict([
        ("name", "int16_row_wrap"),
        ("generated", {"shape": [1, 1, n], "fill": 0.5, "first_100": 2.0}),
        ("mask_threshold", 0.0), ("threshold_offset", 1.0),
        ("intersections_int16_sum", int((wide > 1.0).sum(-1, dtype=torch.int16).sum(-1, dtype=torch.int32))),
        ("unions_int16_sum", int((wide > -1.0).sum(-1, dtype=torch.int16).sum(-1, dtype=torch.int32))),
        ("score", _f32list(sc.numpy())[0]),
        ("true_score", 100 / n),
        ("note", "upstream sums each row in int16 (then rows in int32): a row with more than 32767 pixels over a "
                 "threshold wraps (32770 -> -32766) and the score comes out negative. Only images wider than "
                 "32767 px are affected; a re-implementation need not copy this")])
    write_json(os.path.join(d, "stability.json"), collections.OrderedDict([
        ("function", "segment_anything.utils.amg.calculate_stability_score(masks, mask_threshold, threshold_offset)"),
        ("logits", {"file": "stability_logits.npy", "shape": list(logits.shape), "dtype": "float32"}),
        ("names", names),
        ("notes", [
            "score = intersections / unions, intersections = #(logit > mask_threshold + offset), unions = "
            "#(logit > mask_threshold - offset), both strict; the thresholds are Python floats compared with "
            "float32 logits (torch casts the scalar to float32)",
            "counts: int16 sums along W, then int32 along H; int32 / int32 is true division in float32",
            "unions == 0 (nothing above mask_threshold - offset) gives 0/0 = NaN: listed in nan, null in scores. "
            "In the generator a NaN score fails stability_score >= thresh when the filter is on (thresh > 0), and "
            "survives (as NaN) when it is off",
            "on_thresholds holds -1, -0.5, 0, 0.5, 1, their float32 neighbours and +-0.005, 1.005, 0.995, cycled",
        ]),
        ("cases", cases),
        ("quirks", [wrap])]))
    return len(cases)


def amg_mask_to_box(d):
    from segment_anything.utils.amg import batched_mask_to_box
    H, W = 8, 10
    crafted = collections.OrderedDict()

    def m(fn):
        a = np.zeros((H, W), np.uint8)
        fn(a)
        return a
    crafted["empty"] = m(lambda a: None)
    crafted["pixel_interior"] = m(lambda a: a.__setitem__((3, 4), 1))
    crafted["pixel_top_left"] = m(lambda a: a.__setitem__((0, 0), 1))
    crafted["pixel_bottom_right"] = m(lambda a: a.__setitem__((H - 1, W - 1), 1))
    crafted["pixel_top_right"] = m(lambda a: a.__setitem__((0, W - 1), 1))
    crafted["full"] = m(lambda a: a.__setitem__((slice(None), slice(None)), 1))
    crafted["top_row"] = m(lambda a: a.__setitem__((0, slice(2, 7)), 1))
    crafted["bottom_row"] = m(lambda a: a.__setitem__((H - 1, slice(1, 4)), 1))
    crafted["left_column"] = m(lambda a: a.__setitem__((slice(3, 6), 0), 1))
    crafted["right_column"] = m(lambda a: a.__setitem__((slice(0, H), W - 1), 1))
    crafted["diagonal"] = m(lambda a: [a.__setitem__((i, i + 1), 1) for i in range(H - 1)])

    def two(a):
        a[1:3, 1:3] = 1
        a[5:7, 6:9] = 1
    crafted["two_blobs"] = m(two)
    groups = collections.OrderedDict()
    groups["crafted"] = (np.stack(list(crafted.values())), list(crafted))
    rs = np.random.RandomState(77)
    b4 = (rs.uniform(size=(2, 3, 5, 6)) < 0.2).astype(np.uint8)
    b4[1, 2] = 0
    groups["batch4d"] = (b4, None)
    r = np.zeros((3, 1, 7), np.uint8)
    r[1, 0, 2] = 1
    r[2, 0, 3:7] = 1
    groups["rows_1xN"] = (r, None)
    c = np.zeros((3, 7, 1), np.uint8)
    c[1, 0, 0] = 1
    c[2, 2:5, 0] = 1
    groups["cols_Nx1"] = (c, None)
    s2 = np.zeros((5, 6), np.uint8)
    s2[1:4, 2] = 1
    groups["single_2d"] = (s2, None)
    groups["empty_numel"] = (np.zeros((0, 5, 6), np.uint8), None)
    cases = []
    for name, (arr, names) in groups.items():
        fn = f"mask_to_box_{name}.npy"
        save_npy(os.path.join(d, fn), arr)
        out = batched_mask_to_box(torch.from_numpy(arr).bool())
        e = collections.OrderedDict([("name", name), ("file", fn), ("shape", list(arr.shape))])
        if names:
            e["mask_names"] = names
        e.update(out_shape=list(out.shape), out_dtype=DTYPE_NAME[out.dtype], boxes=out.tolist())
        cases.append(e)
    write_json(os.path.join(d, "mask_to_box.json"), collections.OrderedDict([
        ("function", "segment_anything.utils.amg.batched_mask_to_box(masks) on bool masks (..., H, W)"),
        ("notes", [
            "files are uint8 0/1; upstream gets bool (logits > mask_threshold)",
            "boxes are XYXY with INCLUSIVE x1, y1 (last set column/row): a single pixel at (x, y) gives "
            "[x, y, x, y] (zero area for torchvision's NMS); an empty mask gives [0, 0, 0, 0]",
            "int64 for non-empty inputs; an input with no elements returns torch.zeros(..., 4): float32",
            "any leading dims: (C1, C2, H, W) -> (C1, C2, 4); a 2-d (H, W) mask -> (4,)",
            "record bbox = box_xyxy_to_xywh(box) = [x0, y0, x1 - x0, y1 - y0]: one less than the pixel extent",
        ]),
        ("cases", cases)]))
    return len(cases)


def amg_crop_edge(d):
    from segment_anything.utils.amg import generate_crop_boxes, is_box_near_crop_edge
    cases = []
    for (h, w), boxes_fn in (
            ((60, 60), lambda cw, ch: [[0, 0, cw - 1, ch - 1], [5, 5, 10, 10], [0, 0, 19, 19], [0, 0, 20, 20],
                                       [0, 0, 19, 20], [21, 21, 30, 30], [0, 0, 0, 0], [20, 20, 20, 20]]),
            ((48, 64), lambda cw, ch: [[0, 0, cw - 1, ch - 1], [0, 0, 18, 10], [0, 0, 19, 11], [0, 0, 20, 11],
                                       [3, 3, 5, 5], [25, 15, 30, 20], [0, 0, 0, 0]]),
            ((640, 480), lambda cw, ch: [[0, 0, cw - 1, ch - 1], [100, 100, 200, 200], [230, 300, 250, 320],
                                         [0, 0, 10, 10]])):
        crops, layers = generate_crop_boxes((h, w), 1, 512 / 1500)
        for cb in crops:
            cw, ch = cb[2] - cb[0], cb[3] - cb[1]
            bx = boxes_fn(cw, ch)
            r = is_box_near_crop_edge(torch.tensor(bx, dtype=torch.int64), cb, [0, 0, w, h])
            cases.append(collections.OrderedDict([
                ("im_size", [h, w]), ("crop_box", [int(v) for v in cb]), ("orig_box", [0, 0, w, h]),
                ("boxes", bx), ("near_crop_edge", [bool(v) for v in r.tolist()])]))
    write_json(os.path.join(d, "crop_edge.json"), collections.OrderedDict([
        ("function", "segment_anything.utils.amg.is_box_near_crop_edge(boxes, crop_box, orig_box, atol=20.0)"),
        ("notes", [
            "boxes are int64 XYXY in the CROP frame (inclusive x1, y1, as batched_mask_to_box makes them), as "
            "_process_batch passes them; they are shifted by (x0, y0, x0, y0) of the crop, then cast to float32",
            "near = isclose(box, crop_box, atol=20, rtol=0) & ~isclose(box, orig_box, atol=20, rtol=0), per "
            "coordinate; a box is filtered if any coordinate is near: |a - b| <= 20 counts as close (20 is near)",
            "box x1/y1 are inclusive but crop_box/orig_box x1/y1 exclusive: the comparison mixes the two as is",
            "for the full-image crop crop_box == orig_box, so nothing is ever filtered",
        ]),
        ("cases", cases)]))
    return len(cases)


def amg_nms(d):
    from torchvision.ops import batched_nms, box_area
    from segment_anything.utils.amg import batched_mask_to_box, generate_crop_boxes
    rs = np.random.RandomState(99)
    cases = []

    def add(name, boxes, scores, thr, note=None, **extra):
        b = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
        s = torch.as_tensor(np.asarray(scores, dtype=np.float32).reshape(-1))
        keep = batched_nms(b, s, torch.zeros_like(b[:, 0]), iou_threshold=thr)
        e = collections.OrderedDict([("name", name), ("iou_threshold", thr),
                                     ("path", "vanilla" if b.numel() > 4000 else "coordinate_trick")])
        e.update(extra)
        e.update(boxes=[[float(v) for v in r] for r in b.tolist()], scores=_f32list(s.numpy()),
                 keep=keep.tolist())
        if note:
            e["note"] = note
        cases.append(e)
        return keep

    add("basic", [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 9, 10], [21, 19, 30, 31], [50, 0, 60, 4]],
        [0.9, 0.8, 0.7, 0.95, 0.6, 0.1], 0.7)
    tb = [[0, 0, 10, 10], [0, 0, 10, 10], [30, 0, 40, 10], [1, 0, 11, 10], [30, 0, 40, 10], [60, 0, 70, 10]]
    add("ties", tb, [0.5] * 6, 0.7, note="equal scores: the kept order is the index order (stable sort)")
    add("ties_mixed", tb, [0.5, 0.7, 0.5, 0.7, 0.5, 0.7], 0.7)
    ident = [[3, 4, 20, 30]] * 4
    add("identical_0.7", ident, [0.2, 0.9, 0.9, 0.1], 0.7)
    add("identical_1.0", ident, [0.2, 0.9, 0.9, 0.1], 1.0, note="IoU of identical boxes is exactly 1.0, not > 1.0")
    add("empty", [], [], 0.7)
    add("single", [[1, 2, 3, 4]], [0.5], 0.7)
    touch = [[0, 0, 10, 10], [10, 0, 20, 10], [0, 10, 10, 20], [9, 9, 12, 12], [30, 30, 40, 40], [39.5, 39.5, 50, 50]]
    add("threshold_0.0", touch, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], 0.0,
        note="shared edges have zero intersection (kept); any positive overlap is > 0.0 (suppressed)")
    add("threshold_1.0", touch + ident, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.3, 0.2, 0.1], 1.0)
    add("zero_area", [[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 10, 10], [2, 3, 2, 3], [0, 4, 10, 4], [0, 4, 10, 4]],
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], 0.0,
        note="zero-area boxes (single-pixel and one-row masks): two identical ones give 0/0 = NaN, and NaN > t "
             "is false, so neither suppresses the other; against a positive box IoU is 0")
    frac = [[0, 0, 10, 10], [0, 0, 10, 7], [0, 0, 10, 3], [0, 0, 10, 5]]
    for t in (0.7, 0.5, 0.3):
        add(f"iou_equals_threshold_{t}", frac[:3], [1.0, 0.9, 0.8], t,
            note="IoUs 0.7 and 0.3 exactly; the kernel compares the float32 IoU with the double threshold: "
                 "float32(0.7) < 0.7 (kept at 0.7), float32(0.3) > 0.3 (suppressed at 0.3); 0.5 is exact (kept)")
    # upstream's score conventions
    masks = np.zeros((24, 20, 24), bool)
    for i in range(24):
        x0, y0 = rs.randint(0, 16), rs.randint(0, 12)
        masks[i, y0:y0 + rs.randint(1, 9), x0:x0 + rs.randint(1, 9)] = True
    masks[5] = masks[3]
    masks[7] = False
    boxes = batched_mask_to_box(torch.from_numpy(masks))
    ious = rs.uniform(-0.3, 1.0, 24).astype(np.float32)
    ious[9] = ious[2]
    add("iou_preds", boxes.float().numpy(), ious, 0.7,
        note="within-crop NMS: boxes = batched_mask_to_box(masks).float() of random rectangles (one duplicate "
             "mask, one empty -> [0,0,0,0]), scores = predicted IoUs (float32, one tie)")
    crops, _ = generate_crop_boxes((480, 640), 1, 512 / 1500)
    owner = rs.randint(0, len(crops), 30)
    cb = torch.tensor([crops[i] for i in owner])  # int64, as upstream's data["crop_boxes"]
    sc = 1 / box_area(cb)
    assert sc.dtype == torch.float32
    bxs = []
    for i in owner:
        x0, y0, x1, y1 = crops[i]
        a, b_ = rs.randint(x0, x1 - 40), rs.randint(y0, y1 - 40)
        bxs.append([a, b_, a + rs.randint(5, 120), b_ + rs.randint(5, 120)])
    bxs[4] = bxs[1]
    add("crop_area_scores", bxs, sc.numpy(), 0.7, crop_boxes=[[int(v) for v in crops[i]] for i in owner],
        note="crop NMS: scores = 1 / box_area(crop_boxes) (int64 area, float32 reciprocal), so masks of smaller "
             "crops win and masks of the same crop tie (kept in index order)")
    ch = rs.randint(0, 2, 12).astype(np.float32)
    pb = [[rs.randint(0, 30), rs.randint(0, 30)] for _ in range(12)]
    pb = [[x, y, x + rs.randint(10, 30), y + rs.randint(10, 30)] for x, y in pb]
    pb[6] = pb[2]
    add("unchanged_scores", pb, ch, 0.7,
        note="the small-region pass: score 1.0 for masks remove_small_regions left unchanged, 0.0 for changed ones; "
             "the threshold is max(box_nms_thresh, crop_nms_thresh)")
    # more than 1000 boxes: torchvision's CPU batched_nms switches to per-class nms + a final sort
    n = 1100
    xy = rs.randint(0, 400, (n, 2))
    wh = rs.randint(1, 40, (n, 2))
    big = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    distinct = rs.permutation(n).astype(np.float32) / n
    k1 = add("over_1000_distinct", big, distinct, 0.7,
             note="boxes.numel() > 4000 on CPU: _batched_nms_vanilla (nms per class, then keep sorted by score). "
                  "With distinct scores the result equals the kernel's")
    assert torch.ops.torchvision.nms(torch.from_numpy(big), torch.from_numpy(distinct), 0.7).tolist() == k1.tolist()
    tied = (rs.randint(0, 10, n) / 10).astype(np.float32)
    k2 = add("over_1000_ties", big, tied, 0.7,
             note="with ties and > 1000 boxes the final order comes from torch's UNSTABLE CPU sort: keep's order "
                  "among equal scores is implementation-defined. The kept set is the kernel's: keep_sorted; "
                  "keep_stable is the kernel's own order (a stable sort), what a re-implementation gives")
    kernel = torch.ops.torchvision.nms(torch.from_numpy(big), torch.from_numpy(tied), 0.7)
    assert sorted(kernel.tolist()) == sorted(k2.tolist())
    cases[-1]["keep_sorted"] = sorted(k2.tolist())
    cases[-1]["keep_stable"] = kernel.tolist()
    cases[-1]["stable_order_matches"] = kernel.tolist() == k2.tolist()
    write_json(os.path.join(d, "nms.json"), collections.OrderedDict([
        ("function", "torchvision.ops.batched_nms(boxes.float(), scores, torch.zeros(N), iou_threshold), "
                     "as SamAutomaticMaskGenerator calls it (one category)"),
        ("torchvision", __import__("torchvision").__version__),
        ("notes", [
            "keep: indices of kept boxes in decreasing score order; ties in the order of a STABLE descending sort "
            "(index order) — torchvision's CPU nms kernel sorts with stable=true",
            "IoU in float32: w = max(0, min(x1) - max(x0)), h likewise, inter = w * h, iou = inter / (area_i + "
            "area_j - inter), area = (x1 - x0) * (y1 - y0) (no +1); j is suppressed iff iou > iou_threshold, the "
            "float32 iou compared with the threshold as a double",
            "boxes and scores are float32 values written exactly",
            "path: coordinate_trick (<= 1000 boxes: one nms call; the class offset is 0 * (max + 1)) or vanilla "
            "(> 1000 boxes, i.e. numel > 4000 on CPU)",
        ]),
        ("cases", cases)]))
    return len(cases)


def amg_rle(d):
    from pycocotools import mask as mask_utils
    from segment_anything.utils.amg import (area_from_rle, batched_mask_to_box, box_xyxy_to_xywh,
                                            coco_encode_rle, mask_to_rle_pytorch, rle_to_mask)
    rs = np.random.RandomState(31)
    masks = collections.OrderedDict()
    masks["empty"] = np.zeros((5, 7), np.uint8)
    masks["full"] = np.ones((5, 7), np.uint8)
    masks["first_pixel"] = np.zeros((5, 7), np.uint8)
    masks["first_pixel"][0, 0] = 1
    masks["last_pixel"] = np.zeros((5, 7), np.uint8)
    masks["last_pixel"][4, 6] = 1
    masks["first_column"] = np.zeros((5, 7), np.uint8)
    masks["first_column"][:, 0] = 1
    masks["first_row"] = np.zeros((5, 7), np.uint8)
    masks["first_row"][0, :] = 1
    masks["random"] = (rs.uniform(size=(13, 17)) < 0.5).astype(np.uint8)
    masks["random_sparse"] = (rs.uniform(size=(13, 17)) < 0.08).astype(np.uint8)
    masks["random_from_1"] = (rs.uniform(size=(13, 17)) < 0.6).astype(np.uint8)
    masks["random_from_1"][0, 0] = 1
    masks["checker"] = (np.add.outer(np.arange(6), np.arange(6)) % 2).astype(np.uint8)
    masks["row_1xN"] = np.array([[1, 1, 0, 1, 0, 0, 1, 1, 1]], np.uint8)
    masks["col_Nx1"] = np.array([[0], [1], [1], [0], [0], [1], [0], [1], [1]], np.uint8)
    masks["pixel_1x1_set"] = np.ones((1, 1), np.uint8)
    masks["pixel_1x1_unset"] = np.zeros((1, 1), np.uint8)
    big = np.zeros((48, 64), np.uint8)
    big[10:30, 5:50] = 1
    big[15:20, 20:25] = 0
    masks["block_48x64"] = big
    cases = []
    for name, m in masks.items():
        fn = f"rle_{name}.npy"
        save_npy(os.path.join(d, fn), m)
        t = torch.from_numpy(m).bool()[None]
        rle = mask_to_rle_pytorch(t)[0]
        assert np.array_equal(rle_to_mask(rle), m.astype(bool)), name
        coco = coco_encode_rle(rle)
        assert np.array_equal(mask_utils.decode(coco), m), name
        box = batched_mask_to_box(t)[0]
        e = collections.OrderedDict([
            ("name", name), ("file", fn), ("size", [int(v) for v in rle["size"]]),
            ("counts", [int(v) for v in rle["counts"]]), ("area", int(area_from_rle(rle))),
            ("coco_size", [int(v) for v in coco["size"]]), ("coco_counts", coco["counts"]),
            ("coco_area", int(mask_utils.area(coco))),
            ("coco_bbox", [float(v) for v in mask_utils.toBbox(coco)]),
            ("amg_bbox", [int(v) for v in box_xyxy_to_xywh(box).tolist()])])
        cases.append(e)
    # one batched call gives the same as one mask at a time
    same = [n for n, m in masks.items() if m.shape == (13, 17)]
    batch = mask_to_rle_pytorch(torch.from_numpy(np.stack([masks[n] for n in same])).bool())
    for n, r in zip(same, batch):
        assert [int(v) for v in r["counts"]] == next(c["counts"] for c in cases if c["name"] == n)
    write_json(os.path.join(d, "rle.json"), collections.OrderedDict([
        ("functions", ["segment_anything.utils.amg.mask_to_rle_pytorch", "rle_to_mask", "area_from_rle",
                       "coco_encode_rle (pycocotools.mask.frPyObjects)", "box_xyxy_to_xywh(batched_mask_to_box)"]),
        ("pycocotools", _pkg_version("pycocotools")),
        ("notes", [
            "files: uint8 (H, W) masks",
            "counts: uncompressed RLE in column-major (Fortran) order, alternating runs of 0s and 1s starting "
            "with 0s: a mask whose first pixel (0, 0) is set starts with a 0 count; the counts sum to H*W; "
            "size is [H, W]",
            "area = sum(counts[1::2])",
            "rle_to_mask(rle) gives the mask back (checked); mask_to_rle_pytorch on a batch gives the same as "
            "one at a time (checked)",
            "coco_counts: pycocotools' compressed string of the same RLE (frPyObjects, counts decoded as utf-8); "
            "pycocotools.mask.decode gives the mask back (checked)",
            "coco_bbox (pycocotools.mask.toBbox, w = pixel extent) vs amg_bbox (the generator's record bbox, "
            "w = x1 - x0 with inclusive x1: one less); an empty mask gives [0, 0, 0, 0] in both",
        ]),
        ("cases", cases)]))
    return len(cases)


def _pkg_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return None


def amg_small_regions(d):
    from segment_anything.utils.amg import remove_small_regions
    H = W = 16
    rs = np.random.RandomState(57)
    inputs = collections.OrderedDict()

    def new():
        return np.zeros((H, W), bool)
    m = new()
    m[2:14, 2:14] = True
    m[4, 4] = False  # 1-px hole
    m[5, 9:12] = False  # 3-px hole
    m[9:11, 5:7] = False  # 4-px hole (2x2)
    inputs["holes"] = m
    m = new()
    m[3:11, 3:11] = True  # 64-px main blob
    m[0, 15] = True  # 1 px
    m[14:16, 0] = True  # 2 px
    m[14, 13:16] = True  # 3 px
    m[13, 7] = True  # a 4-px T: (13, 7) and (14, 6..8)
    m[14, 6:9] = True
    inputs["islands"] = m
    m = new()
    m[2:5, 2:5] = True
    m[5:8, 5:8] = True  # touches the first block only at a corner
    m[8, 8] = True  # touches the second block only at a corner
    inputs["diagonal_blocks"] = m
    m = np.ones((H, W), bool)
    for r in range(8):
        m[r, 7 - r] = False
    m = ~m  # a foreground anti-diagonal line; the 28-px triangle above it is background
    inputs["diagonal_line"] = m
    m = new()
    m[1, 12:15] = True  # 3 px, first in raster order
    m[7, 7:9] = True  # 2 px
    m[12:15, 2] = True  # 3 px
    inputs["all_small"] = m
    m = np.ones((H, W), bool)
    m[0, 5:7] = False  # a notch in the top border
    m[15, 15] = False  # the bottom-right corner pixel
    inputs["border_notch"] = m
    m = new()
    m[4:12, 4:12] = True
    m[6:10, 6:10] = False  # 16-px hole
    inputs["ring"] = m
    inputs["empty"] = new()
    inputs["full"] = np.ones((H, W), bool)
    inputs["random"] = rs.uniform(size=(H, W)) < 0.5
    names = list(inputs)
    in_stack = np.stack([inputs[n] for n in names]).astype(np.uint8)
    save_npy(os.path.join(d, "small_regions_inputs.npy"), in_stack)
    outputs, out_index = [], {}

    def out_id(mask):
        k = np.asarray(mask, bool).tobytes()
        if k not in out_index:
            out_index[k] = len(outputs)
            outputs.append(np.asarray(mask, bool))
        return out_index[k]
    cases = []
    for n in names:
        m = inputs[n]
        for mode in ("holes", "islands"):
            for t in AMG_SR_THRESHOLDS:
                up, up_changed = remove_small_regions(m, t, mode)
                for conn in (8, 4):
                    res, changed, nl, sizes = _remove_small_regions_conn(m, t, mode, conn)
                    if conn == 8:  # the restatement agrees with upstream
                        assert changed == up_changed and np.array_equal(np.asarray(res, bool), np.asarray(up, bool))
                    cases.append(collections.OrderedDict([
                        ("mask", n), ("mode", mode), ("area_thresh", t), ("connectivity", conn),
                        ("upstream", conn == 8), ("changed", bool(changed)), ("output", out_id(res)),
                        ("component_sizes", sizes)]))
    pipeline = []
    for n in names:
        for t in AMG_SR_THRESHOLDS:
            m, c1 = remove_small_regions(inputs[n], t, "holes")
            m, c2 = remove_small_regions(m, t, "islands")
            pipeline.append(collections.OrderedDict([("mask", n), ("area_thresh", t), ("output", out_id(m)),
                                                     ("unchanged", not c1 and not c2)]))
    out_stack = np.stack(outputs).astype(np.uint8)
    save_npy(os.path.join(d, "small_regions_outputs.npy"), out_stack)
    write_json(os.path.join(d, "small_regions.json"), collections.OrderedDict([
        ("function", "segment_anything.utils.amg.remove_small_regions(mask, area_thresh, mode) (cv2 "
                     "connectedComponentsWithStats, connectivity 8)"),
        ("opencv", __import__("cv2").__version__),
        ("inputs", {"file": "small_regions_inputs.npy", "shape": list(in_stack.shape), "names": names}),
        ("outputs", {"file": "small_regions_outputs.npy", "shape": list(out_stack.shape)}),
        ("notes", [
            "files are uint8 0/1 stacks; a case's output is an index into small_regions_outputs.npy",
            "connectivity 8 rows (upstream true) are upstream's function; connectivity 4 rows (upstream false) are "
            "NOT upstream: the same recipe with cv2.connectedComponentsWithStats(work, connectivity=4), for tests "
            "of both connectivities",
            "upstream calls cv2.connectedComponentsWithStats(working_mask, 8): the 8 lands in the `labels` output "
            "slot (the second positional parameter) and is ignored, so the connectivity is cv2's default, which "
            "is 8 — the intended value. (Passing 4 the same way would also give 8.)",
            "recipe: holes mode labels the background (~mask), islands mode the mask; component_sizes are the "
            "sizes in cv2 label order (raster order of each component's first pixel), background label excluded; "
            "a component is small iff size < area_thresh (strict: a size equal to the threshold stays)",
            "no small component: the mask is returned unchanged, changed false. holes: the small background "
            "components are filled, including background touching the image border (border_notch). islands: "
            "the small components are removed; if that would remove all of them, only the largest is kept "
            "(np.argmax: the first in label order on a tie, all_small)",
            "diagonal_blocks / diagonal_line: corner-touching pixels are one component with connectivity 8, "
            "separate with 4",
            "changed is true whenever some component is small, even when the result equals the input (islands "
            "mode, one component, all small: diagonal_blocks at 30 and 1000 with connectivity 8)",
            "pipeline: SamAutomaticMaskGenerator.postprocess_small_regions per mask: holes, then islands on the "
            "result, same threshold; unchanged = neither pass changed anything (its NMS score is 1.0, else 0.0)",
        ]),
        ("cases", cases),
        ("pipeline", pipeline)]))
    return len(cases) + len(pipeline)


class _AmgTrace:
    """Observes one EfficientViTSamAutomaticMaskGenerator.generate call without changing it: wraps the
    instance's predictor.predict_torch, _process_crop and postprocess_small_regions, and (temporarily) the
    module-level helpers automatic_mask_generator.py calls, to record each crop's logits and how many
    masks each stage keeps."""

    def __init__(self, gen):
        import segment_anything.automatic_mask_generator as samg
        self.g, self.samg = gen, samg
        self.crops, self.captures, self.events = [], [], []
        self.crop = None
        self.post = None

    def __enter__(self):
        g, samg = self.g, self.samg
        self.saved = {n: getattr(samg, n) for n in ("calculate_stability_score", "is_box_near_crop_edge",
                                                   "batched_nms", "remove_small_regions")}
        orig_pt, orig_pc, orig_pp = g.predictor.predict_torch, g._process_crop, g.postprocess_small_regions
        orig_pb = g._process_batch
        sv = self.saved

        def process_batch(points, *a, **k):
            self.points = np.array(points, dtype=np.float64)  # crop frame, before apply_coords
            return orig_pb(points, *a, **k)

        def predict_torch(point_coords, point_labels, *a, **k):
            out = orig_pt(point_coords, point_labels, *a, **k)
            assert point_coords.dtype == torch.float64  # _process_batch hands apply_coords' float64 on
            self.captures.append(dict(crop=len(self.crops) - 1, batch=self.crop["batches"], points=self.points,
                                      logits=out[0].flatten(0, 1).numpy().copy(), iou=out[1].flatten(0, 1).numpy().copy()))
            self.crop["batches"] += 1
            self.crop["masks"] += out[0].shape[0] * out[0].shape[1]
            return out

        def process_crop(image, crop_box, layer_idx, orig_size):
            self.crop = collections.OrderedDict([
                ("crop_box", [int(v) for v in crop_box]), ("layer", int(layer_idx)),
                ("points", len(self.g.point_grids[layer_idx])), ("batches", 0), ("masks", 0),
                ("after_pred_iou", 0), ("after_stability", 0), ("after_crop_edge", 0), ("after_box_nms", None)])
            self.crops.append(self.crop)
            r = orig_pc(image, crop_box, layer_idx, orig_size)
            self.crop = None
            return r

        def stability(masks, *a, **k):
            self.crop["after_pred_iou"] += int(masks.shape[0])
            return sv["calculate_stability_score"](masks, *a, **k)

        def edge(boxes, *a, **k):
            r = sv["is_box_near_crop_edge"](boxes, *a, **k)
            self.crop["after_stability"] += int(boxes.shape[0])
            self.crop["after_crop_edge"] += int((~r).sum())
            return r

        def nms(boxes, scores, idxs, iou_threshold):
            keep = sv["batched_nms"](boxes, scores, idxs, iou_threshold=iou_threshold)
            if self.crop is not None:
                self.crop["after_box_nms"] = int(keep.numel())
            elif self.post is not None:
                self.post.update(nms_in=int(boxes.shape[0]), after_nms=int(keep.numel()),
                                 nms_threshold=iou_threshold)
            else:
                self.events.append(collections.OrderedDict([
                    ("stage", "crop_nms"), ("in", int(boxes.shape[0])), ("after", int(keep.numel())),
                    ("threshold", iou_threshold)]))
            return keep

        def rsr(mask, area_thresh, mode):
            m, changed = sv["remove_small_regions"](mask, area_thresh, mode)
            self.post[f"{mode}_changed"] += int(changed)
            return m, changed

        def postprocess(mask_data, min_area, nms_thresh):
            self.post = collections.OrderedDict([("stage", "small_regions"), ("in", len(mask_data["rles"])),
                                                 ("holes_changed", 0), ("islands_changed", 0)])
            r = orig_pp(mask_data, min_area, nms_thresh)
            self.events.append(self.post)
            self.post = None
            return r

        g.predictor.predict_torch = predict_torch
        g._process_crop = process_crop
        g._process_batch = process_batch
        g.postprocess_small_regions = postprocess
        samg.calculate_stability_score, samg.is_box_near_crop_edge = stability, edge
        samg.batched_nms, samg.remove_small_regions = nms, rsr
        return self

    def __exit__(self, *exc):
        for n, f in self.saved.items():
            setattr(self.samg, n, f)
        for n in ("_process_crop", "_process_batch", "postprocess_small_regions"):
            self.g.__dict__.pop(n, None)
        self.g.predictor.__dict__.pop("predict_torch", None)


def amg_tiny_runs(args, root):
    from PIL import Image
    from efficientvit.models.efficientvit.sam import EfficientViTSamAutomaticMaskGenerator
    from segment_anything.utils.amg import calculate_stability_score

    cname = AMG_TINY_CFG
    cdir = os.path.join(args.out, "tiny", cname)
    model_path = os.path.join(cdir, "model.pt")
    model = build_tiny(TINY_CONFIGS[cname])
    model.load_state_dict(torch.load(model_path, map_location="cpu"))  # strict: the committed weights
    for fname, (W, H, seed) in AMG_TINY_IMAGES.items():
        Image.fromarray(synth_image(W, H, seed)).save(os.path.join(root, fname))
    summary = []
    for sname, spec in AMG_TINY_SETTINGS.items():
        st = spec["settings"]
        img_path = os.path.join(root, spec["image"])
        img = np.array(Image.open(img_path).convert("RGB"))  # what users do
        H, W = img.shape[:2]
        gen = EfficientViTSamAutomaticMaskGenerator(model, **st)
        with _AmgTrace(gen) as tr:
            recs = gen.generate(img)
        again = EfficientViTSamAutomaticMaskGenerator(model, **st).generate(img)  # the trace changed nothing
        assert len(again) == len(recs) and all(
            a["predicted_iou"] == b["predicted_iou"] and a["bbox"] == b["bbox"] for a, b in zip(recs, again)), sname
        assert 5 <= len(recs) <= 40, (sname, len(recs))
        # where each record came from (by its float32 predicted IoU and its point), and its near-threshold pixels
        thr = float(model.mask_threshold)
        by_iou = collections.defaultdict(list)
        for cap in tr.captures:
            for k, v in enumerate(cap["iou"].tolist()):
                by_iou[v].append((cap, k))
        sources = []
        for r in recs:
            cands = []
            for cap, k in by_iou[r["predicted_iou"]]:
                x0, y0, x1, y1 = tr.crops[cap["crop"]]["crop_box"]
                pt = cap["points"][k // 3] + np.array([x0, y0])  # uncrop_points: float64 + int
                if pt.tolist() == list(r["point_coords"][0]):
                    cands.append((cap, k, (x0, y0, x1, y1)))
            assert len(cands) == 1, (sname, r["predicted_iou"], len(cands))
            cap, k, (x0, y0, x1, y1) = cands[0]
            near = np.zeros((H, W), bool)
            near[y0:y1, x0:x1] = np.abs(cap["logits"][k].astype(np.float64) - thr) < AMG_NEAR_EPS
            sources.append(collections.OrderedDict([
                ("crop_index", cap["crop"]), ("batch", cap["batch"]), ("index_in_batch", k),
                ("point_index_in_crop", cap["batch"] * st["points_per_batch"] + k // 3),
                ("multimask_index", k % 3),
                ("near_threshold_pixels", [int(i) for i in np.flatnonzero(near.T)])]))
        # margins of every decision that thresholds a float
        off = st["stability_score_offset"]
        mg = collections.OrderedDict([("logit_vs_mask_threshold", math.inf), ("logit_vs_threshold_plus_offset", math.inf),
                                      ("logit_vs_threshold_minus_offset", math.inf)])
        if st["pred_iou_thresh"] > 0:
            mg["iou_vs_pred_iou_thresh"] = math.inf
        if st["stability_score_thresh"] > 0:
            mg["stability_vs_thresh"] = math.inf
        n_near = 0
        for cap in tr.captures:
            lg, iou = cap["logits"].astype(np.float64), cap["iou"]
            mg["logit_vs_mask_threshold"] = min(mg["logit_vs_mask_threshold"], float(np.abs(lg - thr).min()))
            mg["logit_vs_threshold_plus_offset"] = min(mg["logit_vs_threshold_plus_offset"],
                                                       float(np.abs(lg - (thr + off)).min()))
            mg["logit_vs_threshold_minus_offset"] = min(mg["logit_vs_threshold_minus_offset"],
                                                        float(np.abs(lg - (thr - off)).min()))
            n_near += int((np.abs(lg - thr) < AMG_NEAR_EPS).sum())
            keep = np.ones(len(iou), bool)
            if st["pred_iou_thresh"] > 0:
                mg["iou_vs_pred_iou_thresh"] = min(mg["iou_vs_pred_iou_thresh"],
                                                   float(np.abs(iou.astype(np.float64) - st["pred_iou_thresh"]).min()))
                keep = iou > st["pred_iou_thresh"]
            if st["stability_score_thresh"] > 0 and keep.any():
                s = calculate_stability_score(torch.from_numpy(cap["logits"][keep]), thr, off).numpy()
                s = s[~np.isnan(s)].astype(np.float64)
                if s.size:
                    mg["stability_vs_thresh"] = min(mg["stability_vs_thresh"],
                                                    float(np.abs(s - st["stability_score_thresh"]).min()))
        out_recs = []
        seg_stack = []
        for i, r in enumerate(recs):
            o = collections.OrderedDict()
            for k in ("segmentation", "area", "bbox", "predicted_iou", "point_coords", "stability_score", "crop_box"):
                v = r[k]
                if k == "segmentation" and isinstance(v, np.ndarray):
                    seg_stack.append(v)
                    v = collections.OrderedDict([("file", f"{sname}_segmentations.npy"), ("index", i)])
                elif k == "segmentation":
                    v = collections.OrderedDict([("size", [int(x) for x in v["size"]]),
                                                 ("counts", v["counts"] if isinstance(v["counts"], str)
                                                  else [int(x) for x in v["counts"]])])
                elif k in ("predicted_iou", "stability_score"):
                    assert not math.isnan(v), (sname, k)
                o[k] = v
            out_recs.append(o)
        if seg_stack:
            fn = f"{sname}_segmentations.npy"
            save_npy(os.path.join(root, fn), np.stack(seg_stack).astype(np.uint8))
        notes = [
            "records: upstream's generate() output in its order, every field as upstream gives it (segmentation "
            "per output_mode; binary_mask masks are stacked as uint8 in <settings>_segmentations.npy, the record "
            "naming file and index)",
            "image: np.array(Image.open(png).convert('RGB')); the generator calls predictor.set_image on each crop "
            "(image[y0:y1, x0:x1])",
            "points: point_grids[layer] * [crop_w, crop_h] (float64), apply_coords in float64 (x * (input_w / "
            "crop_w)), torch.as_tensor keeps float64; the prompt encoder adds 0.5 and divides by 1024 in float64 "
            "and only then casts to float32 (predict() casts before) — labels 1, multimask 3 masks per point",
            "masks per point in token order 1..3; per batch: pred_iou filter (iou > thresh, skipped when thresh <= "
            "0), stability filter (score >= thresh, skipped when thresh <= 0), logits > 0, "
            "batched_mask_to_box, crop-edge filter, uncrop, RLE; per crop: box NMS (scores = predicted IoU), "
            "uncrop boxes/points; over crops (when more than one): NMS with scores 1/crop area, threshold "
            "crop_nms_thresh; min_mask_region_area > 0: remove_small_regions holes then islands, NMS (threshold "
            "max(box_nms_thresh, crop_nms_thresh), scores 1 unchanged / 0 changed), changed masks re-encoded",
            "bbox: XYWH from the inclusive-x1 box (w = x1 - x0); an empty mask gives area 0 and bbox [0, 0, 0, 0] "
            "and is NOT filtered",
            "crop_box: XYWH; when any crop ends up with no masks, upstream's MaskData.cat concatenates "
            "torch.tensor([]) (float32) with the int64 crop boxes, so every crop_box comes out as floats "
            "(0.0, ...); numerically the same",
            "upstream crashes (IndexError in box_area) when crop_n_layers > 0 and no mask survives at all; these "
            "settings avoid that",
            "record_sources (not upstream output, for debugging): the crop/batch/mask each record came from, and "
            f"near_threshold_pixels: column-major flat indices (x * H + y) in the full image where "
            f"|logit - mask_threshold| < {AMG_NEAR_EPS:g} — pixels a float re-implementation may legitimately flip",
            "pipeline: per crop, how many masks each stage kept (after_box_nms null when the crop had none); "
            "events: the crop NMS and the small-region pass",
            "margins: the smallest distance of any logit / predicted IoU / stability score from the threshold it "
            "was compared with (over every mask the decoder produced, before filtering)",
        ]
        doc = collections.OrderedDict([
            ("config", cname), ("model", "../model.pt"), ("model_sha256", sha256(model_path)),
            ("generator", "efficientvit.models.efficientvit.sam.EfficientViTSamAutomaticMaskGenerator"),
            ("image", collections.OrderedDict([("file", spec["image"]), ("width", W), ("height", H),
                                               ("sha256", sha256(img_path))])),
            ("settings", st),
            ("mask_threshold", thr),
            ("num_records", len(recs)),
            ("notes", notes),
            ("pipeline", collections.OrderedDict([("crops", tr.crops), ("events", tr.events)])),
            ("margins", collections.OrderedDict((k, v) for k, v in mg.items())),
            ("pixels_near_threshold_all_masks", n_near),
            ("records", out_recs),
            ("record_sources", sources),
        ])
        write_json(os.path.join(root, f"{sname}.json"), doc)
        ious = [r["predicted_iou"] for r in recs]
        stab = [r["stability_score"] for r in recs]
        summary.append(f"  {sname}: {len(recs)} records (iou {min(ious):+.3f}..{max(ious):+.3f}, stability "
                       f"{min(stab):.3f}..{max(stab):.3f}, areas {sorted(r['area'] for r in recs)}); crops "
                       f"{[(c['masks'], c['after_pred_iou'], c['after_stability'], c['after_crop_edge'], c['after_box_nms']) for c in tr.crops]} "
                       f"events {[dict(e) for e in tr.events]}; margins "
                       + ", ".join(f"{k} {v:.1e}" for k, v in mg.items()))
    return summary


def mode_amg(args):
    _need_real_packages()
    d = os.path.join(args.out, "amg")
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    counts = collections.OrderedDict()
    counts["grids"] = amg_grids(d)
    counts["crop_boxes"] = amg_crop_boxes(d)
    counts["crop_edge"] = amg_crop_edge(d)
    counts["stability"] = amg_stability(d)
    counts["mask_to_box"] = amg_mask_to_box(d)
    counts["nms"] = amg_nms(d)
    counts["rle"] = amg_rle(d)
    counts["small_regions"] = amg_small_regions(d)
    total = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    assert total < 1_000_000, total
    print(f"amg: {dict(counts)} cases, {len(os.listdir(d))} files, {total / 1e3:.0f} kB")

    root = os.path.join(args.out, "tiny", AMG_TINY_CFG, "amg")
    if os.path.isdir(root):
        shutil.rmtree(root)
    os.makedirs(root)
    for line in amg_tiny_runs(args, root):
        print(line)
    total = sum(os.path.getsize(os.path.join(root, f)) for f in os.listdir(root))
    print(f"amg {AMG_TINY_CFG}: {len(os.listdir(root))} files, {total / 1e3:.0f} kB")


def mode_full(args):
    if not args.full_dir:
        sys.exit("error: full mode needs --full-dir DIR")
    v = args.variant
    os.makedirs(args.full_dir, exist_ok=True)
    model = upstream.create_model(v)
    nontrivial_init(model, args.seed)
    sd = model.state_dict()
    base = os.path.join(args.full_dir, f"efficientvit_sam_{v}")
    torch.save(sd, base + ".pt")
    sd16 = collections.OrderedDict((k, t.half() if t.is_floating_point() else t) for k, t in sd.items())
    sd16._metadata = sd._metadata
    torch.save(sd16, base + "_fp16.pt")
    torch.save({"state_dict": sd}, base + "_wrapped.pt")
    print(f"full {v}: wrote {base}.pt, {base}_fp16.pt, {base}_wrapped.pt (seed {args.seed})")
    if not args.image:
        return
    from PIL import Image
    img = np.array(Image.open(args.image).convert("RGB"))
    x = model.transform(img).unsqueeze(0)
    save_npy(os.path.join(args.full_dir, "input.npy"), x.numpy())
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rec = ActivationRecorder(model.image_encoder, "image_encoder", args.full_dir,
                             "all" if args.act_all else "default")
    emb = rec.run(x)
    save_npy(os.path.join(args.full_dir, "embedding.npy"), emb.numpy())
    index = rec.finish([("input.npy", x.numpy()), ("embedding.npy", emb.numpy())])
    sparse, dense, low, iou = run_decoder(model, emb, PROMPT)
    for n, t in (("sparse", sparse), ("dense", dense), ("low_res_masks", low), ("iou", iou)):
        save_npy(os.path.join(args.full_dir, n + ".npy"), t.detach().numpy())
    write_json(os.path.join(args.full_dir, "prompt.json"), PROMPT)
    write_json(os.path.join(args.full_dir, "info.json"), {
        "variant": v, "seed": args.seed, "image": os.path.basename(args.image),
        "original_size": list(img.shape[:2]), "input_shape": list(x.shape),
        "embedding_std": float(emb.std())})
    print(f"full {v}: input {tuple(x.shape)}, embedding {tuple(emb.shape)}, {len(index)} activation entries")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    upstream.add_expedit_arg(ap)
    ap.add_argument("modes", nargs="+", choices=["schema", "ckpt", "tiny", "tiny_b", "tiny_vit", "predictor", "predictor_vit",
                                              "hourglass", "predictor_hourglass", "amg", "full", "all"])
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data"), help="fixture root (default tests/data)")
    ap.add_argument("--full-dir", help="full mode: output directory (not committed)")
    ap.add_argument("--variant", default="l0", choices=VARIANTS, help="full mode: which variant")
    ap.add_argument("--image", help="full mode: PNG/JPEG to preprocess and run through the image encoder")
    ap.add_argument("--seed", type=int, default=0, help="full mode: init seed")
    ap.add_argument("--act-all", action="store_true",
                    help="full mode: also save conv/norm outputs inside ConvLayers")
    args = ap.parse_args()
    upstream.setup(args.efficientvit_src, args.sam_src)
    torch.set_num_threads(1)  # deterministic reductions; the tiny models are small
    torch.use_deterministic_algorithms(True)
    modes = []
    for m in args.modes:
        modes += (["schema", "ckpt", "tiny", "tiny_b", "tiny_vit", "predictor", "predictor_vit", "hourglass",
                   "predictor_hourglass", "amg"]
                  if m == "all"
                  else [m])
    def mode_predictor_vit(a):
        mode_predictor(a, ("tiny_vit",))

    def mode_predictor_hourglass(a):
        mode_predictor(a, ("tiny_vit_hourglass",))

    for m in modes:
        {"predictor_vit": mode_predictor_vit, "schema": mode_schema, "ckpt": mode_ckpt, "tiny": mode_tiny, "tiny_b": mode_tiny_b, "tiny_vit": mode_tiny_vit, "hourglass": mode_hourglass, "predictor_hourglass": mode_predictor_hourglass,
         "predictor": mode_predictor, "amg": mode_amg, "full": mode_full}[m](args)


if __name__ == "__main__":
    main()
