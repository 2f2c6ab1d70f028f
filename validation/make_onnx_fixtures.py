"""ONNX fixtures for evsam-check (tests/data/onnx): the tiny_l image encoder exported as upstream's
applications/efficientvit_sam/deployment/onnx/export_encoder.py exports it (its EncoderOnnxModel,
torch.onnx.export with do_constant_folding, opset 17, input "input_image"), and three faulty copies,
each with the module its fault is in:
  conv_perturbed.onnx  one conv's weights scaled by 1.01 (image_encoder.backbone.stages.2.op_list.0)
  resize_bilinear.onnx the neck's bicubic upsampling switched to bilinear (image_encoder.neck.input_ops.1)
  fp16.onnx            the whole model in fp16 storage: every weight and every activation rounded to
                       fp16 (a Cast pair after each node), the numbers of a half-precision engine on a
                       runtime without fp16 kernels
and input.npy, the preprocessed portrait image of the predictor fixture.

    python validation/make_onnx_fixtures.py --efficientvit-src UP/efficientvit --sam-src UP/segment-anything
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import upstream  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "onnx"))
    args = ap.parse_args()
    upstream.setup(args.efficientvit_src, args.sam_src)
    import onnx
    from onnx import helper, numpy_helper

    import make_fixtures as mf

    sys.path.insert(0, os.path.join(args.efficientvit_src, "applications", "efficientvit_sam", "deployment", "onnx"))
    from export_encoder import EncoderOnnxModel  # upstream's wrapper: forward = self.image_encoder(input_image)

    tdir = os.path.join(REPO, "tests", "data", "tiny", "tiny_l")
    model = mf.build_tiny(mf.TINY_CONFIGS["tiny_l"])
    model.load_state_dict(torch.load(os.path.join(tdir, "model.pt"), map_location="cpu"))
    R = model.image_size[1]
    os.makedirs(args.out, exist_ok=True)
    clean = os.path.join(args.out, "tiny_l_encoder.onnx")
    with torch.no_grad():
        torch.onnx.export(EncoderOnnxModel(model), (torch.randn(1, 3, R, R),), clean, export_params=True,
                          opset_version=17, do_constant_folding=True, input_names=["input_image"],
                          output_names=["image_embeddings"], dynamic_axes={"input_image": {0: "batch_size"}},
                          dynamo=False)
    np.save(os.path.join(args.out, "input.npy"), np.load(os.path.join(tdir, "input.npy")).astype(np.float32))
    base = onnx.load(clean)
    faults = {}

    # 1. one conv's weights scaled by 1.01
    m = onnx.load(clean)
    inits = {i.name: i for i in m.graph.initializer}
    conv = next(n for n in m.graph.node if n.op_type == "Conv" and n.name.startswith(
        "/image_encoder/backbone/stages.2/op_list.0/") and n.input[1] in inits)
    w = numpy_helper.to_array(inits[conv.input[1]]) * np.float32(1.01)
    inits[conv.input[1]].CopyFrom(numpy_helper.from_array(w.astype(np.float32), conv.input[1]))
    onnx.save(m, os.path.join(args.out, "conv_perturbed.onnx"))
    faults["conv_perturbed.onnx"] = {"node": conv.name, "first_failure": "image_encoder.backbone.stages.2.op_list.0"}

    # 2. the neck's bicubic Resize switched to linear
    m = onnx.load(clean)
    rs = [n for n in m.graph.node if n.op_type == "Resize" and any(
        a.name == "mode" and a.s == b"cubic" for a in n.attribute)]
    rs = rs[0]
    for a in rs.attribute:
        if a.name == "mode":
            a.s = b"linear"
    onnx.save(m, os.path.join(args.out, "resize_bilinear.onnx"))
    scope = ".".join(rs.name.strip("/").split("/")[:-1])
    faults["resize_bilinear.onnx"] = {"node": rs.name, "scope": scope}

    # 3. fp16 storage: weights rounded to fp16, every float activation rounded through a Cast pair
    m = onnx.load(clean)
    elem = {v.name: v.type.tensor_type.elem_type for v in onnx.shape_inference.infer_shapes(m).graph.value_info}
    for init in m.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT:
            a = numpy_helper.to_array(init).astype(np.float16).astype(np.float32)
            init.CopyFrom(numpy_helper.from_array(a, init.name))
    nodes = []
    rename = {}
    for n in m.graph.node:
        for i, inp in enumerate(n.input):
            if inp in rename:
                n.input[i] = rename[inp]
        nodes.append(n)
        out = n.output[0]
        if elem.get(out, onnx.TensorProto.FLOAT if out in {o.name for o in m.graph.output} else 0) != onnx.TensorProto.FLOAT:
            continue
        h, f = out + "_fp16", out + "_fp16_back"
        nodes.append(helper.make_node("Cast", [out], [h], to=onnx.TensorProto.FLOAT16, name=n.name + "_to_fp16"))
        nodes.append(helper.make_node("Cast", [h], [f], to=onnx.TensorProto.FLOAT, name=n.name + "_from_fp16"))
        rename[out] = f
    for o in m.graph.output:
        if o.name in rename:
            nodes.append(helper.make_node("Identity", [rename[o.name]], [o.name + "_final"], name="final"))
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    for o in m.graph.output:
        if o.name in rename:
            o.name = o.name + "_final"
    onnx.save(m, os.path.join(args.out, "fp16.onnx"))
    faults["fp16.onnx"] = {"first_failure": "the first module"}
    with open(os.path.join(args.out, "faults.json"), "w") as f:
        json.dump({"model": "../tiny/tiny_l/model.pt", "config": "../tiny/tiny_l/config.json",
                   "exporter": "efficientvit applications/efficientvit_sam/deployment/onnx/export_encoder.py "
                               "EncoderOnnxModel, torch.onnx.export(dynamo=False, opset 17)",
                   "torch": torch.__version__, "onnx": onnx.__version__, "faults": faults}, f, indent=1)
    print(json.dumps(faults, indent=1))


if __name__ == "__main__":
    main()
