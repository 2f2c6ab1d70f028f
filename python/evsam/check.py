"""evsam-check: an ONNX port of a SAM model, layer by layer, against evsam's reference.

    evsam-check --weights W.pt --onnx M.onnx (--image IMG | --input X.npy) [--runtime onnxruntime|openvino|tensorrt]
                [--reference float|double] [--precision strict|fast] [--tolerance NAME] [--json] [--dump DIR]
                [--point-coords C.npy --point-labels L.npy] [--openvino-precision f32|bf16|f16|default]

Both halves of upstream's deployment path (applications/efficientvit_sam/deployment/onnx):
  - an encoder export (export_encoder.py): --input is the preprocessed (1, 3, R, R) input;
  - a decoder export (export_decoder.py; inputs image_embeddings, point_coords, point_labels): --input
    is the (1, C, 64, 64) image embedding, or an image / preprocessed input that evsam encodes first, so
    the decoder is checked on its own. Prompts are in the prompt frame (1024), labels -1 (padding), 0,
    1, and 2, 3 for a box's corners; by default a point and a box. Such an export returns all four mask
    tokens' low-res logits, or with --return-single-mask the token of the highest IoU prediction among
    all four, which is not SamPredictor's choice (token 0, or the best of tokens 1..3): the report's
    "semantics" says which tokens both pick. That is a difference in meaning, not in numbers.

The ONNX model runs on the runtime with its intermediate tensors exposed; evsam runs its trace on the
same input. Each evsam module is mapped to an ONNX tensor:
  - "scopes": from the scopes torch.onnx writes into node names (/image_encoder/backbone/stages.1/
    op_list.0/.../Conv, or /transformer/layers.0/... for the decoder, whose wrapper calls
    mask_decoder.predict_masks): a module's output is the output of the last node inside its scope
    with the module's shape; the decoder's "masks" and "iou_predictions" are the graph's outputs;
  - "values": where no node carries the module's scope (a runtime or tool fused or renamed them), the
    tensor of the module's shape whose values are nearest to evsam's.
Only the tensors the mapping can use are exposed (from the inferred shapes; --expose all for every
node's). Each mapped pair is compared under the one tolerance table (evsam.compare), in execution
order; the first module out of tolerance is named and the exit status is 1. --dump DIR writes both
sides of it as .npy. --json prints one object as the last line: {"first_failure", "mapping",
"modules": [...], ...}.

Precision: an fp16 export (fp16 inputs) or OpenVINO at f16 is held to the
engine-fp16 entry of the table, OpenVINO at bf16 (its default on a CPU with bf16) to engine-bf16,
against evsam strict; --precision fast makes evsam's reference bf16 too (the same entries apply). fp16
weights or casts behind an fp32 interface are reported ("fp16_inside") and held to encoder-float. The
first module whose activations leave fp16's range (|x| > 65504, or inf / NaN) is reported, with the
largest |activation| there, on both sides: in the port's (fp16_range_exceeded) and in evsam's reference
(fp16_range_exceeded_reference: where an fp16 engine of this model would overflow, the fp16 LayerNorm
failure of upstream's issues). Every module row carries its reference's max |activation|.

Needs the `onnx` package (to expose the intermediate tensors) and the runtime's (onnxruntime,
openvino): pip install onnx onnxruntime openvino. TensorRT needs a GPU and the tensorrt package;
without them --runtime tensorrt prints one line and skips.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np

FP16_MAX = 65504.0
_INDEX_OPS = ("Shape", "Size", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Range", "Equal", "Where",
              "ConstantOfShape", "Constant", "NonZero", "ArgMax", "ArgMin", "TopK")


def _scope_of(node_name: str) -> Optional[str]:
    """'/image_encoder/backbone/stages.1/op_list.0/main/Conv' -> 'image_encoder.backbone.stages.1.op_list.0.main'."""
    if not node_name.startswith("/"):
        return None
    parts = node_name.strip("/").split("/")
    return ".".join(parts[:-1]) if len(parts) > 1 else ""


class Graph:
    """An ONNX model's float node outputs in graph order, with their inferred element types and shapes.

    Shape inference runs on a copy without the large initializers' data (their shapes are all it
    needs), so that a 100 MB export is not copied through it."""

    def __init__(self, path: str):
        import onnx

        self.proto = onnx.load(path)
        g = self.proto.graph
        self.inputs = {i.name: i.type.tensor_type.elem_type for i in g.input}
        light = onnx.ModelProto()
        self._light_copy(light)
        try:
            inferred = onnx.shape_inference.infer_shapes(light)
            info = list(inferred.graph.value_info) + list(inferred.graph.output)
            self.elem = {v.name: v.type.tensor_type.elem_type for v in info}
            self.shape = {v.name: tuple(d.dim_value if d.HasField("dim_value") else None
                                        for d in v.type.tensor_type.shape.dim)
                          for v in info if v.type.tensor_type.HasField("shape")}
        except Exception:  # noqa: BLE001 (a model shape inference cannot follow still runs)
            self.elem, self.shape = {}, {}
        self.order: List[Tuple[str, str]] = []  # (tensor name, node name) of every float output, in graph order
        for node in g.node:
            out = node.output[0] if node.output else ""
            if not out:
                continue
            # the inferred type; without one (inference failed), float unless the op makes shapes or indices
            t = self.elem.get(out, 0 if self.elem or node.op_type in _INDEX_OPS else onnx.TensorProto.FLOAT)
            if t in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
                     onnx.TensorProto.BFLOAT16):
                self.order.append((out, node.name))
        self.graph_outputs = [o.name for o in g.output]
        # an fp16 export declares fp16 inputs; fp16 weights or casts behind an fp32 interface are
        # reported (fp16_inside) but held to the fp32 entry: that is the fault of a model cast by accident
        self.fp16_io = any(t == onnx.TensorProto.FLOAT16 for t in self.inputs.values())
        self.fp16_inside = self.fp16_io or any(
            i.data_type == onnx.TensorProto.FLOAT16 for i in g.initializer) or any(
            n.op_type == "Cast" and any(a.name == "to" and a.i == onnx.TensorProto.FLOAT16 for a in n.attribute)
            for n in g.node)

    def _light_copy(self, light):
        import onnx

        light.ir_version = self.proto.ir_version
        light.opset_import.extend(self.proto.opset_import)
        g = light.graph
        g.node.extend(self.proto.graph.node)
        g.input.extend(self.proto.graph.input)
        g.output.extend(self.proto.graph.output)
        names = {i.name for i in g.input}
        for init in self.proto.graph.initializer:
            if init.name in names:
                continue
            if len(init.raw_data) > 4096 or len(init.float_data) > 1024:  # a weight: its type and shape as an input
                g.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
            else:  # shape constants and the like keep their values
                g.initializer.append(init)

    def exposed(self, wanted: Optional[set] = None):
        """The model with the wanted float node outputs (all by default) added to the graph's outputs."""
        import onnx

        m = onnx.ModelProto()
        m.CopyFrom(self.proto)
        have = {o.name for o in m.graph.output}
        for out, _ in self.order:
            if out not in have and (wanted is None or out in wanted):
                m.graph.output.append(onnx.helper.make_tensor_value_info(
                    out, self.elem.get(out, onnx.TensorProto.FLOAT), None))
                have.add(out)
        return m


def run_onnx(path: str, feeds, runtime: str, ov_precision: str = "f32", graph: Optional[Graph] = None,
             wanted: Optional[set] = None):
    """The ONNX model's intermediate tensors on the given inputs: ({tensor: array}, [(tensor, node name)]).

    feeds: {input name: array}, or one array for the model's first input. wanted: the tensors to
    expose (every float node output by default: exposing fewer keeps more of the runtime's fusions
    and memory reuse, hence its speed)."""
    import onnx

    graph = graph or Graph(path)
    if not isinstance(feeds, dict):
        feeds = {next(iter(graph.inputs)): feeds}
    feed = {}
    for name, v in feeds.items():
        if name not in graph.inputs:
            raise ValueError(f"the ONNX model has no input '{name}' (it has {', '.join(graph.inputs)})")
        feed[name] = np.asarray(v).astype(np.float16 if graph.inputs[name] == onnx.TensorProto.FLOAT16 else np.float32)
    if runtime == "onnxruntime":
        import onnxruntime as ort

        # ORT's optimisations keep every graph output, so each exposed tensor survives them
        sess = ort.InferenceSession(graph.exposed(wanted).SerializeToString(), providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        values = dict(zip(names, sess.run(names, feed)))
    elif runtime == "openvino":
        import openvino as ov

        core = ov.Core()
        model = core.read_model(path)
        want = {t for t, _ in graph.order} if wanted is None else set(wanted)
        outs = []
        for op in model.get_ops():
            if op.get_type_name() in ("Parameter", "Constant", "Result"):
                continue
            for o in op.outputs():
                if o.get_names() & want:
                    outs.append(o)
        model.add_outputs(outs)
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": ov_precision} if ov_precision != "default" else {})
        res = compiled(feed)
        values = {}
        for o, v in res.items():
            for n in o.get_names():
                values[n] = v
    elif runtime == "tensorrt":
        values = _run_tensorrt(graph.exposed(wanted).SerializeToString(), feed, ov_precision)
    else:
        raise ValueError(f"unknown runtime '{runtime}' (onnxruntime, openvino or tensorrt)")
    values = {k: np.asarray(v) for k, v in values.items() if isinstance(v, np.ndarray) or hasattr(v, "shape")}
    return values, graph.order


def tensorrt_available() -> Optional[str]:
    """None when TensorRT can run here (the tensorrt and polygraphy packages, and a CUDA device), else why not."""
    try:
        import tensorrt  # noqa: F401
        from polygraphy import cuda
    except ImportError:
        return "tensorrt needs the tensorrt and polygraphy packages and an NVIDIA GPU"
    try:
        cuda.wrapper().malloc(1)
    except Exception:  # noqa: BLE001 (no driver, no device: polygraphy raises its own errors)
        return "tensorrt needs an NVIDIA GPU, and no CUDA device is usable here"
    return None


def _run_tensorrt(model_bytes: bytes, feed, precision: str):
    """The exposed ONNX model built into a TensorRT engine (polygraphy) at the feed's shapes, and run.
    precision: f32 (TF32 off), f16 or bf16. Untested here: the project's machines have no GPU."""
    from polygraphy.backend.trt import CreateConfig, EngineFromNetwork, NetworkFromOnnxBytes, Profile, TrtRunner

    profile = Profile()
    for name, v in feed.items():
        profile.add(name, min=v.shape, opt=v.shape, max=v.shape)
    config = CreateConfig(tf32=False, fp16=precision == "f16", bf16=precision == "bf16", profiles=[profile])
    with TrtRunner(EngineFromNetwork(NetworkFromOnnxBytes(model_bytes), config=config)) as runner:
        out = runner.infer(feed)
    return {k: np.asarray(v) for k, v in out.items()}


def _scope_index(order, prefix_ok=lambda t: True):
    """{scope and each of its prefixes: [tensors inside, in graph order]}, {tensor: its node's scope}."""
    inside: Dict[str, List[str]] = {}
    tscope: Dict[str, str] = {}
    for tensor, node in order:
        scope = _scope_of(node)
        if scope is None or not prefix_ok(tensor):
            continue
        tscope[tensor] = scope
        parts = scope.split(".") if scope else []
        for k in range(1, len(parts) + 1):
            inside.setdefault(".".join(parts[:k]), []).append(tensor)
    return inside, tscope


# Trace records that are not modules but named outputs (transformer.py, mask_decoder.py,
# prompt_encoder.py), with the submodule whose output each is: a two-way attention block's queries are
# its norm3's output and its keys its norm4's; the transformer's hs is norm_final_attn's output and its
# src the last block's norm4's. None: computed outside any submodule (mapped by values).
_RECORDS = {"queries": "norm3", "keys": "norm4", "hs": "norm_final_attn", "src": "norm4", "hyper_in": None,
            "sparse": None, "dense": None}


def _longest_suffix_scope(parts: List[str], inside: Dict[str, List[str]]) -> Optional[str]:
    """The name itself or its longest suffix that is an ONNX scope: an export names scopes from the
    module it calls (/transformer/... for mask_decoder.transformer when the wrapper calls
    mask_decoder.predict_masks; /backbone/... for an export of the image encoder itself)."""
    for k in range(len(parts)):
        s = ".".join(parts[k:])
        if s in inside:
            return s
    return None


def _scope_candidates(name: str, inside: Dict[str, List[str]], tscope: Dict[str, str]) -> List[str]:
    """The tensors, in graph order, that may be module `name`'s output: those inside its scope, or for
    a named output (_RECORDS) those of its submodule inside its module's scope."""
    parts = name.split(".")
    if parts[-1] in _RECORDS:
        sub = _RECORDS[parts[-1]]
        s = _longest_suffix_scope(parts[:-1], inside) if sub else None
        # tensors whose scope, below the module's, passes through the submodule
        return [t for t in inside[s] if f".{sub}." in tscope[t][len(s):] + "."] if s else []
    s = _longest_suffix_scope(parts, inside)
    return inside[s] if s else []


def _same_shape(got: Optional[Tuple], want: Tuple) -> bool:
    return got is not None and len(got) == len(want) and all(g is None or g == w for g, w in zip(got, want))


def expose_for(trace: Dict[str, np.ndarray], graph: Graph) -> Optional[set]:
    """The tensors map_modules can use, from the inferred shapes: for each module the last tensor of
    its shape in each of its scopes, and for a module without a scope every tensor of its shape;
    None (expose everything) when shapes were not inferred."""
    if not graph.shape:
        return None
    inside, tscope = _scope_index(graph.order)
    wanted = set(graph.graph_outputs)
    for name, ref in trace.items():
        t = next((t for t in reversed(_scope_candidates(name, inside, tscope))
                  if _same_shape(graph.shape.get(t), ref.shape)), None)
        if t is not None:
            wanted.add(t)
        elif name not in graph.graph_outputs:
            wanted.update(t for t, _ in graph.order if _same_shape(graph.shape.get(t), ref.shape)
                          or graph.shape.get(t) is None)
    return wanted


def map_modules(trace: Dict[str, np.ndarray], values: Dict[str, np.ndarray], order: List[Tuple[str, str]]):
    """[(module, onnx tensor or None, how)] in the trace's (execution) order: how is "scopes" (the last
    tensor of the module's shape inside its scope; a trace record named as a graph output, e.g. the
    decoder's "masks", is that output) or "values" (the tensor of its shape nearest to it)."""
    inside, tscope = _scope_index(order, lambda t: t in values)
    by_shape: Dict[Tuple[int, ...], List[str]] = {}
    for tensor, _ in order:
        if tensor in values:
            by_shape.setdefault(tuple(values[tensor].shape), []).append(tensor)
    out = []
    for name, ref in trace.items():
        tensor, how = None, None
        if name in values and tuple(values[name].shape) == tuple(ref.shape):
            tensor, how = name, "scopes"
        if tensor is None:
            t = next((t for t in reversed(_scope_candidates(name, inside, tscope))
                      if tuple(values[t].shape) == tuple(ref.shape)), None)
            if t is not None:
                tensor, how = t, "scopes"
        if tensor is None:
            best = None
            for t in by_shape.get(tuple(ref.shape), []):
                v = values[t].astype(np.float64)
                d = float(np.linalg.norm(v - ref) / (np.linalg.norm(ref) + 1e-30))
                if np.isfinite(d) and (best is None or d < best[0]):
                    best = (d, t)
            if best is not None and best[0] < 0.5:
                tensor, how = best[1], "values"
        out.append((name, tensor, how))
    return out


# The decoder export's default prompts, in the prompt frame (1024): a foreground point with the
# padding point SamPredictor adds, and a box as its two corners (labels 2, 3).
DEFAULT_POINT_COORDS = np.array([[[512.0, 512.0], [0.0, 0.0]], [[256.0, 256.0], [768.0, 768.0]]], np.float32)
DEFAULT_POINT_LABELS = np.array([[1.0, -1.0], [2.0, 3.0]], np.float32)


def _decoder_semantics(iou4: np.ndarray, single: bool) -> dict:
    """Which mask token each export output is, beside SamPredictor's choice (a difference in semantics,
    not in numbers)."""
    export = [int(i) for i in np.argmax(iou4, axis=1)] if single else None
    multi = [int(i) + 1 for i in np.argmax(iou4[:, 1:], axis=1)]
    rep = {"export": "the mask of the highest IoU prediction among all {} tokens".format(iou4.shape[1]) if single
           else "all {} mask tokens' low-res logits (no SamPredictor selection)".format(iou4.shape[1]),
           "export_tokens": export, "sam_predictor_multimask_tokens": multi,
           "sam_predictor_single_tokens": [0] * iou4.shape[0]}
    if single:
        rep["differs_from_sam_predictor"] = [b for b in range(iou4.shape[0]) if export[b] not in (0, multi[b])]
    return rep


def check(weights: str, onnx_path: str, x: Optional[np.ndarray] = None, image: Optional[str] = None,
          runtime: str = "onnxruntime", reference: str = "float", tolerance: Optional[str] = None,
          dump: Optional[str] = None, ov_precision: str = "f32", config: Optional[str] = None,
          precision: str = "strict", point_coords: Optional[np.ndarray] = None,
          point_labels: Optional[np.ndarray] = None, expose: str = "needed") -> dict:
    """The layer-by-layer report as a dict (what --json prints).

    An encoder export takes x, a preprocessed (1, 3, R, R) input (or image); a decoder export (inputs
    image_embeddings, point_coords, point_labels) takes x, the (1, C, e, e) image embedding, or an
    image or preprocessed input that evsam encodes first, and point_coords / point_labels in the
    prompt frame (default: DEFAULT_POINT_COORDS / LABELS). tolerance: an entry of the table; by
    default encoder-float, or the engine's entry for an fp16 export or OpenVINO at f16 (engine-fp16) or
    OpenVINO at bf16 (engine-bf16)."""
    import evsam

    dtype = "float64" if reference == "double" else "float32"
    model = evsam.create_model(config=config, weights=weights, dtype=dtype, precision=precision) \
        if config else evsam.load(weights, dtype=dtype, precision=precision)
    graph = Graph(onnx_path)
    decoder = "point_coords" in graph.inputs
    sam_onnx = sorted({"mask_input", "has_mask_input", "orig_im_size"} & set(graph.inputs))
    if decoder and sam_onnx:
        raise ValueError(f"{os.path.basename(onnx_path)} has the inputs {', '.join(sam_onnx)} of segment-anything's "
                         "SamOnnxModel (scripts/export_onnx_model.py), which evsam-check does not model: it checks "
                         "efficientvit's export_decoder.py exports (image_embeddings, point_coords, point_labels)")
    engine = "fp16" if graph.fp16_io or ov_precision == "f16" else \
        "bf16" if ov_precision == "bf16" or (runtime == "openvino" and ov_precision == "default" and
                                             evsam.cpu_has_bf16()) else "fp32"
    if runtime == "tensorrt" and ov_precision == "default":
        raise ValueError("--runtime tensorrt takes a precision of f32, f16 or bf16")
    if tolerance is None:
        tolerance = {"fp32": "encoder-float", "fp16": "engine-fp16", "bf16": "engine-bf16"}[engine]
    if x is None and image is None:
        raise ValueError("an --image or an --input is needed")
    if x is None:
        x = model.preprocess(evsam.load_image(image))
    x = np.asarray(x)
    semantics = None
    if decoder:
        e = model.image_embedding_size
        if x.ndim == 4 and x.shape[1] == 3 and x.shape[2] == model.image_size:
            x = model.encode(x)  # the embedding both sides decode: the decoder is checked on its own
        if x.shape != (1, model.embed_dim, e, e):
            raise ValueError(f"a decoder export needs a (1, {model.embed_dim}, {e}, {e}) image embedding, "
                             f"or an image, got an array of shape {x.shape}")
        coords = DEFAULT_POINT_COORDS if point_coords is None else np.asarray(point_coords, np.float32)
        labels = DEFAULT_POINT_LABELS if point_labels is None else np.asarray(point_labels, np.float32)
        if coords.ndim != 3 or coords.shape[2] != 2 or labels.shape != coords.shape[:2]:
            raise ValueError(f"point_coords must be (B, N, 2) and point_labels (B, N), got {coords.shape} and "
                             f"{labels.shape}")
        feeds = {"image_embeddings": x, "point_coords": coords, "point_labels": labels}
        trace = model.trace_decoder(x, coords, labels, return_single_mask=False)
        wanted = expose_for(trace, graph) if expose == "needed" else None
        values, order = run_onnx(onnx_path, feeds, runtime, ov_precision, graph, wanted)
        # an export with --return-single-mask returns one mask per prompt: trace that (the decoder is fast)
        single = "masks" in values and values["masks"].ndim == 4 and values["masks"].shape[1] == 1
        if single:
            trace = model.trace_decoder(x, coords, labels, return_single_mask=True)
        iou4 = trace.get("mask_decoder.iou_prediction_head")
        semantics = _decoder_semantics(iou4, single) if iou4 is not None else None
    else:
        trace = model.trace(x)
        wanted = expose_for(trace, graph) if expose == "needed" else None
        values, order = run_onnx(onnx_path, np.asarray(x, np.float32), runtime, ov_precision, graph, wanted)
    rows, first, overflow, ref_overflow, mappings = [], None, None, None, set()
    for name, tensor, how in map_modules(trace, values, order):
        ref = trace[name]
        if tensor is None:
            rows.append({"name": name, "shape": list(ref.shape), "onnx": None, "mapped": None})
            continue
        mappings.add(how)
        got = values[tensor]
        if got.dtype != ref.dtype:
            got = got.astype(ref.dtype)
        r = evsam.compare(got, ref, tolerance, name)
        big = float(np.nanmax(np.abs(got))) if got.size else 0.0
        if overflow is None and (not np.all(np.isfinite(got)) or big > FP16_MAX):
            overflow = {"name": name, "max_abs_activation": big if np.isfinite(big) else None}
        ref_big = float(np.abs(ref).max()) if ref.size else 0.0
        if ref_overflow is None and ref_big > FP16_MAX:  # where an fp16 engine of this model would overflow
            ref_overflow = {"name": name, "max_abs_activation": ref_big}
        rows.append({"name": name, "shape": list(ref.shape), "onnx": tensor, "mapped": how, "max_abs": r["max_abs"],
                     "rel_l2": r["rel_l2"], "ok": bool(r["ok"]), "max_abs_activation": ref_big})
        if not r["ok"] and first is None:
            first = name
            if dump:
                os.makedirs(dump, exist_ok=True)
                safe = name.replace("/", "_")
                np.save(os.path.join(dump, safe + ".evsam.npy"), ref)
                np.save(os.path.join(dump, safe + ".onnx.npy"), values[tensor])
    mapping = "scopes" if mappings == {"scopes"} else "values" if mappings == {"values"} else \
        "scopes+values" if mappings else None
    return {"first_failure": first, "mapping": mapping, "kind": "decoder" if decoder else "encoder",
            "runtime": runtime, "engine_precision": engine, "fp16_inside": graph.fp16_inside, "reference": reference,
            "precision": precision, "tolerance": tolerance, "fp16_range_exceeded": overflow,
            "fp16_range_exceeded_reference": ref_overflow,
            "semantics": semantics,
            "modules": [r for r in rows if r.get("mapped")], "unmapped": [r["name"] for r in rows if not r.get("mapped")]}


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="evsam-check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="the checkpoint the ONNX model was exported from")
    ap.add_argument("--config", help="a model in JSON (as validation/make_fixtures.py writes), instead of detecting it")
    ap.add_argument("--onnx", required=True, help="the exported image encoder")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", help="an image, preprocessed as the model's transform does")
    src.add_argument("--input", help="a preprocessed (1, 3, R, R) .npy")
    ap.add_argument("--runtime", default="onnxruntime", choices=["onnxruntime", "openvino", "tensorrt"])
    ap.add_argument("--openvino-precision", default="f32", choices=["f32", "bf16", "f16", "default"],
                    help="OpenVINO's INFERENCE_PRECISION_HINT (default: its own choice for this CPU); for "
                         "--runtime tensorrt the engine's precision (f32 with TF32 off, f16 or bf16)")
    ap.add_argument("--reference", default="float", choices=["float", "double"])
    ap.add_argument("--precision", default="strict", choices=["strict", "fast"],
                    help="evsam's CPU precision for the reference (fast: bf16 GEMM operands, as a bf16 engine)")
    ap.add_argument("--tolerance", help="an entry of the tolerance table (default: encoder-float; engine-fp16 for an "
                                        "fp16 model, engine-bf16 for OpenVINO at bf16)")
    ap.add_argument("--point-coords", help="decoder exports: (B, N, 2) .npy of points in the prompt frame (1024)")
    ap.add_argument("--point-labels", help="decoder exports: (B, N) .npy of labels: -1 pad, 0, 1, 2/3 box corners")
    ap.add_argument("--expose", default="needed", choices=["needed", "all"],
                    help="the intermediate tensors the runtime returns: those the mapping can use (from the "
                         "inferred shapes), or every node's")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--dump", help="write both sides of the first module out of tolerance here")
    a = ap.parse_args(argv)
    try:
        if a.runtime == "tensorrt":
            why = tensorrt_available()
            if why:
                print(f"evsam-check: skipped: {why}")
                return 0
        x = np.load(a.input) if a.input else None
        if (a.point_coords is None) != (a.point_labels is None):
            raise ValueError("--point-coords and --point-labels go together")
        rep = check(a.weights, a.onnx, x=x, image=a.image, runtime=a.runtime, reference=a.reference,
                    tolerance=a.tolerance, dump=a.dump, ov_precision=a.openvino_precision, config=a.config,
                    precision=a.precision, expose=a.expose,
                    point_coords=np.load(a.point_coords) if a.point_coords else None,
                    point_labels=np.load(a.point_labels) if a.point_labels else None)
    except (ValueError, OSError, RuntimeError, ImportError) as e:
        print(f"evsam-check: {e}".replace("\n", " "), file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 (a file the onnx package cannot parse, and the like: one line, no trace)
        print(f"evsam-check: {type(e).__name__}: {e}".replace("\n", " "), file=sys.stderr)
        return 2
    if not a.json:
        print(f"{'module':72s} {'shape':>18s} {'max-abs':>10s} {'rel-L2':>10s}  verdict")
        for r in rep["modules"]:
            print(f"{r['name'][:72]:72s} {str(tuple(r['shape'])):>18s} {r['max_abs']:10.3g} {r['rel_l2']:10.3g}  "
                  f"{'ok' if r['ok'] else 'OUT'}{'' if r['mapped'] == 'scopes' else ' (by values)'}")
        print(f"{len(rep['modules'])} modules compared ({rep['mapping']}), {len(rep['unmapped'])} without an ONNX "
              f"tensor; first out of tolerance: {rep['first_failure'] or 'none'}")
        if rep["fp16_range_exceeded"]:
            print(f"first module outside fp16's range: {rep['fp16_range_exceeded']['name']} "
                  f"(max |activation| {rep['fp16_range_exceeded']['max_abs_activation']})")
        if rep["fp16_range_exceeded_reference"]:
            print(f"first module whose reference activations leave fp16's range (an fp16 engine overflows there): "
                  f"{rep['fp16_range_exceeded_reference']['name']} "
                  f"(max |activation| {rep['fp16_range_exceeded_reference']['max_abs_activation']:.4g})")
        sem = rep["semantics"]
        if sem:
            print(f"semantics (not numbers): the export returns {sem['export']}"
                  + (f"; tokens {sem['export_tokens']}, where SamPredictor returns {sem['sam_predictor_multimask_tokens']}"
                     f" (multimask_output=True) or 0 (False)" if sem["export_tokens"] is not None else ""))
    else:
        print(json.dumps({k: rep[k] for k in ("first_failure", "mapping", "kind", "tolerance", "engine_precision",
                                              "modules", "fp16_range_exceeded", "fp16_range_exceeded_reference", "semantics",
                                              "unmapped")}))
    return 1 if rep["first_failure"] else 0


if __name__ == "__main__":
    sys.exit(main())
