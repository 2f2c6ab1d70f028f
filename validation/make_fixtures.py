#!/usr/bin/env python3
"""Generate the test fixtures under tests/data/ from upstream EfficientViT-SAM.

Modes (any number, in order):
  schema   tests/data/schema/<v>.json: state_dict key/shape/dtype list of every variant
  ckpt     tests/data/ckpt/*: checkpoint-loader fixtures (skeletons, bad model
           checkpoints, generic tensor files, broken/malicious files, MANIFEST.json)
  tiny     tests/data/tiny/<config>/*: two tiny upstream models with seeded
           non-trivial weights, their input, embedding, per-module activations and
           decoder outputs (for C++ parity tests)
  tiny_b   tests/data/tiny/tiny_b/*: a tiny upstream EfficientViTBackbone (B series) with the
           same seeded init, its input and per-module activations; and
           tests/data/schema/backbone_b1.json (upstream b1 backbone state_dict keys/shapes)
  predictor tests/data/tiny/{tiny_l,tiny_xl}/predictor/*: upstream's EfficientViTSamPredictor
           end to end on the committed tiny models (model.pt): two small PNGs, point / box /
           mask-input / border / batched prompt cases, masks + iou (+ low-res maps and decoder
           intermediates for some cases), listed in cases.json. Needs tiny's model.pt; mode
           tiny leaves <config>/predictor/ alone.
  full     (not committed) --full-dir DIR --variant V: a full-size checkpoint with
           the same non-trivial seeded init, and with --image PNG its preprocessed
           input, per-module activations and embedding
  all      schema ckpt tiny tiny_b predictor

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

def mode_schema(args):
    out_dir = os.path.join(args.out, "schema")
    for v in VARIANTS:
        model = upstream.create_model(v)
        sd = model.state_dict()
        pnames = {n for n, _ in model.named_parameters()}
        entries = []
        for k, t in sd.items():
            entries.append({"name": k, "shape": list(t.shape), "dtype": DTYPE_NAME[t.dtype],
                            "kind": "param" if k in pnames else "buffer"})
        params = sum(p.numel() for p in model.parameters())
        write_json(os.path.join(out_dir, f"{v}.json"),
                   {"model": v, "resolution": RESOLUTION[v], "params": params, "entries": entries})
        print(f"schema {v}: {len(entries)} entries, {params} params")
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


def build_tiny(cfg):
    from efficientvit.models.efficientvit.backbone import EfficientViTLargeBackbone
    from efficientvit.models.efficientvit.sam import EfficientViTSam, EfficientViTSamImageEncoder, SamNeck
    from efficientvit.models.nn import build_norm
    from efficientvit.models.nn.norm import set_norm_eps
    from segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

    backbone = EfficientViTLargeBackbone(**cfg["backbone"])
    neck = SamNeck(**cfg["neck"])
    enc = EfficientViTSamImageEncoder(backbone, neck)
    enc.norm = build_norm("ln2d", EMBED_DIM)
    pe, md = SAM_CFG["prompt_encoder"], SAM_CFG["mask_decoder"]
    model = EfficientViTSam(
        image_encoder=enc,
        prompt_encoder=PromptEncoder(embed_dim=pe["embed_dim"], image_embedding_size=tuple(pe["image_embedding_size"]),
                                     input_image_size=tuple(pe["input_image_size"]),
                                     mask_in_chans=pe["mask_in_chans"]),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=md["num_multimask_outputs"],
            transformer=TwoWayTransformer(depth=md["transformer"]["depth"],
                                          embedding_dim=md["transformer"]["embedding_dim"],
                                          mlp_dim=md["transformer"]["mlp_dim"],
                                          num_heads=md["transformer"]["num_heads"]),
            transformer_dim=md["transformer_dim"], iou_head_depth=md["iou_head_depth"],
            iou_head_hidden_dim=md["iou_head_hidden_dim"]),
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


# ------------------------------------------------------------------------- tiny_b

TINY_OTHER_MODES = ("tiny_b",)  # directories under tiny/ that mode tiny leaves alone
TINY_CFG_OTHER_MODES = ("predictor",)  # ... and under tiny/<config>/ (mode predictor owns predictor/)

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
}
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


def mode_predictor(args):
    from PIL import Image
    from efficientvit.models.efficientvit.sam import EfficientViTSamPredictor

    for cname in PRED_CONFIGS:
        cfg, prof = TINY_CONFIGS[cname], PRED_PROFILE[cname]
        cdir = os.path.join(args.out, "tiny", cname)
        d = os.path.join(cdir, "predictor")
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(os.path.join(d, "act"))
        model = build_tiny(cfg)
        model_path = os.path.join(cdir, "model.pt")
        model.load_state_dict(torch.load(model_path, map_location="cpu"))  # strict: same weights as tiny
        predictor = EfficientViTSamPredictor(model)
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
                masks, iou, low = predictor.predict_torch(**kw, multimask_output=mm, return_logits=True)
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
                    mb, ib, lb = predictor.predict_torch(**kb, multimask_output=mm, return_logits=True)
                    diffs.append(max(float((mb - masks[b:b + 1]).abs().max()), float((lb - low[b:b + 1]).abs().max())))
                print(f"  {cname} {name}: max |batched - one at a time| = {max(diffs):.2e}")
                record_case(name, entry, masks.numpy(), iou.numpy(), low.numpy(), None)

        write_json(os.path.join(d, "cases.json"), collections.OrderedDict([
            ("config", cname),
            ("model", "../model.pt"),
            ("model_sha256", sha256(model_path)),
            ("image_size", list(model.image_size)),
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
    ap.add_argument("modes", nargs="+", choices=["schema", "ckpt", "tiny", "tiny_b", "predictor", "full", "all"])
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
        modes += ["schema", "ckpt", "tiny", "tiny_b", "predictor"] if m == "all" else [m]
    for m in modes:
        {"schema": mode_schema, "ckpt": mode_ckpt, "tiny": mode_tiny, "tiny_b": mode_tiny_b,
         "predictor": mode_predictor, "full": mode_full}[m](args)


if __name__ == "__main__":
    main()
