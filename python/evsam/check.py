"""evsam-check: an ONNX port of a SAM image encoder, layer by layer, against evsam's reference.

    evsam-check --weights W.pt --onnx M.onnx (--image IMG | --input X.npy) [--runtime onnxruntime|openvino]
                [--reference float|double] [--tolerance NAME] [--json] [--dump DIR]

The ONNX model runs on the runtime with every intermediate tensor exposed; evsam runs its trace on the
same input. Each ONNX tensor is mapped to an evsam module:
  - "scopes": from the scopes torch.onnx writes into node names (/image_encoder/backbone/stages.1/
    op_list.0/.../Conv): a module's output is the output of the last node inside its scope, when the
    shapes agree;
  - "values": where no node carries the module's scope (a runtime or tool fused or renamed them), the
    tensor of the module's shape whose values are nearest to evsam's.
Each mapped pair is compared under the one tolerance table (evsam.compare), in execution order; the
first module out of tolerance is named and the exit status is 1. --dump DIR writes both sides of it
as .npy. --json prints one object as the last line: {"first_failure", "mapping", "modules": [...]}.

The first module whose activations leave fp16's range (|x| > 65504, or inf / NaN) is reported too:
the fp16 LayerNorm overflow of upstream's issues shows there.

Needs the `onnx` package (to expose the intermediate tensors) and the runtime's (onnxruntime,
openvino): pip install onnx onnxruntime openvino.
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


def _expose_all(model_proto):
    """The model with every node's first float output added to the graph's outputs (in node order)."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model_proto)
    try:  # each tensor's element type, where shape inference finds it (float otherwise)
        inferred = onnx.shape_inference.infer_shapes(m)
        elem = {v.name: v.type.tensor_type.elem_type
                for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    except Exception:  # noqa: BLE001 (a model shape inference cannot follow still runs)
        elem = {}
    have = {o.name for o in m.graph.output}
    order: List[Tuple[str, str]] = []  # (tensor name, node name), in graph order
    for node in m.graph.node:
        for out in node.output[:1]:
            if not out:
                continue
            # the inferred type; without one (inference failed), float unless the op makes shapes or indices
            t = elem.get(out, 0 if elem or node.op_type in _INDEX_OPS else onnx.TensorProto.FLOAT)
            if t not in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
                         onnx.TensorProto.BFLOAT16):
                continue
            order.append((out, node.name))
            if out not in have:
                m.graph.output.append(onnx.helper.make_tensor_value_info(out, t, None))
                have.add(out)
    return m, order


def run_onnx(path: str, x: np.ndarray, runtime: str, ov_precision: str = "f32"):
    """Every intermediate tensor of the ONNX model on input x: ({tensor: array}, [(tensor, node name)])."""
    import onnx

    proto = onnx.load(path)
    exposed, order = _expose_all(proto)
    input_name = proto.graph.input[0].name
    feed_dtype = {onnx.TensorProto.FLOAT16: np.float16}.get(proto.graph.input[0].type.tensor_type.elem_type,
                                                          np.float32)
    feed = x.astype(feed_dtype)
    if runtime == "onnxruntime":
        import onnxruntime as ort

        # ORT's optimisations keep every graph output, so each exposed tensor survives them
        sess = ort.InferenceSession(exposed.SerializeToString(), providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        values = dict(zip(names, sess.run(names, {input_name: feed})))
    elif runtime == "openvino":
        import openvino as ov

        core = ov.Core()
        model = core.read_model(path)
        wanted = {t for t, _ in order}
        outs = []
        for op in model.get_ops():
            if op.get_type_name() in ("Parameter", "Constant", "Result"):
                continue
            for o in op.outputs():
                if o.get_names() & wanted:
                    outs.append(o)
        model.add_outputs(outs)
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": ov_precision} if ov_precision != "default" else {})
        res = compiled({input_name: feed})
        values = {}
        for o, v in res.items():
            for n in o.get_names():
                values[n] = v
    else:
        raise ValueError(f"unknown runtime '{runtime}' (onnxruntime or openvino; tensorrt needs a GPU)")
    values = {k: np.asarray(v) for k, v in values.items() if isinstance(v, np.ndarray) or hasattr(v, "shape")}
    return values, order


def map_modules(trace: Dict[str, np.ndarray], values: Dict[str, np.ndarray], order: List[Tuple[str, str]]):
    """[(module, onnx tensor or None, how)] in the trace's (execution) order."""
    # the export's root: upstream's EncoderOnnxModel scopes nodes under /image_encoder/, an export of
    # the image encoder itself under / (then its scopes get the trace's "image_encoder." prefix)
    root = next(iter(trace)).split(".")[0] + "." if trace else ""
    scoped = [_scope_of(n) for _, n in order]
    prefix = "" if any(s and s.startswith(root.rstrip(".")) for s in scoped) else root
    last_in_scope: Dict[str, List[str]] = {}
    for tensor, node in order:
        scope = _scope_of(node)
        if scope is None or tensor not in values:
            continue
        scope = (prefix + scope).rstrip(".")
        parts = scope.split(".") if scope else []
        for k in range(1, len(parts) + 1):
            last_in_scope.setdefault(".".join(parts[:k]), []).append(tensor)
    by_shape: Dict[Tuple[int, ...], List[str]] = {}
    for tensor, _ in order:
        if tensor in values:
            by_shape.setdefault(tuple(values[tensor].shape), []).append(tensor)
    out = []
    for name, ref in trace.items():
        tensor, how = None, None
        for t in reversed(last_in_scope.get(name, [])):  # the last node inside the scope with the module's shape
            if tuple(values[t].shape) == tuple(ref.shape):
                tensor, how = t, "scopes"
                break
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


def check(weights: str, onnx_path: str, x: Optional[np.ndarray] = None, image: Optional[str] = None,
          runtime: str = "onnxruntime", reference: str = "float", tolerance: str = "encoder-float",
          dump: Optional[str] = None, ov_precision: str = "f32", config: Optional[str] = None) -> dict:
    """The layer-by-layer report as a dict (what --json prints)."""
    import evsam

    model = evsam.create_model(config=config, weights=weights, dtype="float64" if reference == "double" else "float32") \
        if config else evsam.load(weights, dtype="float64" if reference == "double" else "float32")
    if x is None:
        x = model.preprocess(evsam.load_image(image))
    trace = model.trace(x)
    values, order = run_onnx(onnx_path, np.asarray(x, np.float32), runtime, ov_precision)
    rows, first, overflow, mappings = [], None, None, set()
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
        rows.append({"name": name, "shape": list(ref.shape), "onnx": tensor, "mapped": how, "max_abs": r["max_abs"],
                     "rel_l2": r["rel_l2"], "ok": bool(r["ok"])})
        if not r["ok"] and first is None:
            first = name
            if dump:
                os.makedirs(dump, exist_ok=True)
                safe = name.replace("/", "_")
                np.save(os.path.join(dump, safe + ".evsam.npy"), ref)
                np.save(os.path.join(dump, safe + ".onnx.npy"), values[tensor])
    mapping = "scopes" if mappings == {"scopes"} else "values" if mappings == {"values"} else \
        "scopes+values" if mappings else None
    return {"first_failure": first, "mapping": mapping, "runtime": runtime, "reference": reference,
            "tolerance": tolerance, "fp16_range_exceeded": overflow,
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
                    help="OpenVINO's INFERENCE_PRECISION_HINT (default: its own choice for this CPU)")
    ap.add_argument("--reference", default="float", choices=["float", "double"])
    ap.add_argument("--tolerance", default="encoder-float", help="an entry of the tolerance table")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--dump", help="write both sides of the first module out of tolerance here")
    a = ap.parse_args(argv)
    try:
        if a.runtime == "tensorrt":
            try:
                import tensorrt  # noqa: F401
            except ImportError:
                print("evsam-check: skipped: tensorrt needs the tensorrt package and a GPU (neither is here)")
                return 0
            raise ValueError("--runtime tensorrt: not supported yet")
        x = np.load(a.input) if a.input else None
        rep = check(a.weights, a.onnx, x=x, image=a.image, runtime=a.runtime, reference=a.reference,
                    tolerance=a.tolerance, dump=a.dump, ov_precision=a.openvino_precision, config=a.config)
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as e:
        print(f"evsam-check: {e}", file=sys.stderr)
        return 2
    if not a.json:
        print(f"{'module':72s} {'shape':>18s} {'max-abs':>10s} {'rel-L2':>10s}  verdict")
        for r in rep["modules"]:
            print(f"{r['name'][:72]:72s} {str(tuple(r['shape'])):>18s} {r['max_abs']:10.3g} {r['rel_l2']:10.3g}  "
                  f"{'ok' if r['ok'] else 'OUT'}{'' if r['mapped'] == 'scopes' else ' (by values)'}")
        print(f"{len(rep['modules'])} modules compared ({rep['mapping']}), {len(rep['unmapped'])} without an ONNX "
              f"tensor; first out of tolerance: {rep['first_failure'] or 'none'}")
        if rep["fp16_range_exceeded"]:
            print(f"first module outside fp16's range: {rep['fp16_range_exceeded']['name']}")
    else:
        print(json.dumps({k: rep[k] for k in ("first_failure", "mapping", "modules", "fp16_range_exceeded",
                                              "unmapped")}))
    return 1 if rep["first_failure"] else 0


if __name__ == "__main__":
    sys.exit(main())
