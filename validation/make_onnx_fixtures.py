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
    faults.update(export_decoder(args, model, tdir))
    with open(os.path.join(args.out, "faults.json"), "w") as f:
        json.dump({"model": "../tiny/tiny_l/model.pt", "config": "../tiny/tiny_l/config.json",
                   "exporter": "efficientvit applications/efficientvit_sam/deployment/onnx/export_encoder.py "
                               "EncoderOnnxModel, torch.onnx.export(dynamo=False, opset 17)",
                   "decoder_embedding": "../tiny/tiny_l/embedding.npy",
                   "torch": torch.__version__, "onnx": onnx.__version__, "faults": faults}, f, indent=1)
    print(json.dumps(faults, indent=1))


# Prompts of the decoder fixtures, in the 1024 frame: (B, N, 2) and (B, N). Set 0: a foreground and a
# background point and the padding point SamPredictor would add; set 1: a box's corners (labels 2, 3)
# and a foreground point; set 2: one point and two padding points.
DECODER_COORDS = [[[500.0, 400.0], [300.0, 600.0], [0.0, 0.0]],
                  [[200.0, 150.0], [800.0, 700.0], [450.0, 420.0]],
                  [[100.0, 900.0], [0.0, 0.0], [0.0, 0.0]]]
DECODER_LABELS = [[1.0, 0.0, -1.0], [2.0, 3.0, 1.0], [1.0, -1.0, -1.0]]


def export_decoder(args, model, tdir):
    """tiny_l's prompt encoder and mask decoder as upstream's export_decoder.py writes them (its
    DecoderOnnxModel, opset 17, point_coords / point_labels dynamic), with and without
    --return-single-mask; upstream's outputs in float64 on the fixture prompts (for the C++ test of
    DecoderOnnxModel); and one fault: a weight of the transformer's second layer scaled by 1.01."""
    import onnx
    from onnx import numpy_helper
    from export_decoder import DecoderOnnxModel  # upstream's wrapper

    emb = torch.from_numpy(np.load(os.path.join(tdir, "embedding.npy")).astype(np.float32))
    coords = torch.tensor(DECODER_COORDS, dtype=torch.float32)
    labels = torch.tensor(DECODER_LABELS, dtype=torch.float32)
    np.save(os.path.join(args.out, "decoder_coords.npy"), coords.numpy())
    np.save(os.path.join(args.out, "decoder_labels.npy"), labels.numpy())
    dynamic_axes = {"point_coords": {0: "batch_size", 1: "num_points"},
                    "point_labels": {0: "batch_size", 1: "num_points"}}
    # float64: _pe_encoding's grid is made in float32 (torch.ones(..., dtype=float32)); compute it in
    # the matrix's dtype instead, as validation/check_predictor.py does
    from segment_anything.modeling.prompt_encoder import PositionEmbeddingRandom
    if not getattr(PositionEmbeddingRandom, "_evsam_dtype_patch", False):
        orig = PositionEmbeddingRandom._pe_encoding
        PositionEmbeddingRandom._pe_encoding = lambda self, c: orig(self, c.to(self.positional_encoding_gaussian_matrix.dtype))
        PositionEmbeddingRandom._evsam_dtype_patch = True
    out = {}
    for single, name in ((False, "tiny_l_decoder.onnx"), (True, "tiny_l_decoder_single.onnx")):
        with torch.no_grad():
            torch.onnx.export(DecoderOnnxModel(model, return_single_mask=single), (emb, coords, labels),
                              os.path.join(args.out, name), export_params=True, opset_version=17,
                              do_constant_folding=True, input_names=["image_embeddings", "point_coords", "point_labels"],
                              output_names=["masks", "iou_predictions"], dynamic_axes=dynamic_axes, dynamo=False)
            m64 = DecoderOnnxModel(model.double(), return_single_mask=single)
            masks, iou = m64(emb.double(), coords.double(), labels.double())
            model.float()
        tag = "single" if single else "all"
        # every 4th row and column of the (B, C, 256, 256) logits: a 0.4 MB fixture instead of 6 MB
        np.save(os.path.join(args.out, f"decoder_{tag}_masks_fp64_s4.npy"), masks[:, :, ::4, ::4].contiguous().numpy())
        np.save(os.path.join(args.out, f"decoder_{tag}_iou_fp64.npy"), iou.numpy())
    # the fault: the second layer's token-to-image q_proj weight (a MatMul initializer after folding;
    # torch.onnx scopes the decoder's modules from mask_decoder's children: /transformer/layers.1/...)
    m = onnx.load(os.path.join(args.out, "tiny_l_decoder.onnx"))
    inits = {i.name: i for i in m.graph.initializer}
    node = next(n for n in m.graph.node if n.name.startswith(
        "/transformer/layers.1/cross_attn_token_to_image/q_proj/")
        and any(i in inits for i in n.input))
    w_name = next(i for i in node.input if i in inits)
    w = numpy_helper.to_array(inits[w_name]) * np.float32(1.01)
    inits[w_name].CopyFrom(numpy_helper.from_array(w.astype(np.float32), w_name))
    onnx.save(m, os.path.join(args.out, "decoder_linear_perturbed.onnx"))
    out["decoder_linear_perturbed.onnx"] = {"node": node.name,
                                            "first_failure": "mask_decoder.transformer.layers.1.queries"}
    return out


if __name__ == "__main__":
    main()
