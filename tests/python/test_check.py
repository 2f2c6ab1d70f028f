# evsam-check (issue 21): the tiny_l encoder exported as upstream's export_encoder.py does, and three
# faulty copies (tests/data/onnx, validation/make_onnx_fixtures.py), on ONNX Runtime and OpenVINO:
# the clean export passes; each fault is caught first at the module it is in, and only there.
# Needs onnx and a runtime (PyPI): .ci/python_package.sh installs them; without them this file skips.
import json
import os

import numpy as np
import pytest

import evsam
from conftest import DATA, read_json, tiny

onnx = pytest.importorskip("onnx", reason="skipped: no onnx (pip install onnx onnxruntime openvino)")
from evsam import check  # noqa: E402

D = os.path.join(DATA, "onnx") + "/"
FAULTS = read_json(D + "faults.json")["faults"]
RUNTIMES = []
for rt, mod in (("onnxruntime", "onnxruntime"), ("openvino", "openvino")):
    try:
        __import__(mod)
        RUNTIMES.append(rt)
    except ImportError:
        pass
if not RUNTIMES:
    pytest.skip("skipped: no onnxruntime and no openvino", allow_module_level=True)


def run(name, runtime, **kw):
    return check.check(tiny("tiny_l", "model.pt"), D + name, x=np.load(D + "input.npy"), runtime=runtime,
                       config=tiny("tiny_l", "config.json"), **kw)


def trace_names():
    return list(run_trace())


def innermost_traced(scope, names):
    """The traced module the node is in: the longest trace name that is the scope or contains it."""
    inside = [n for n in names if scope == n or scope.startswith(n + ".")]
    return max(inside, key=len)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_clean_export_passes(runtime):
    rep = run("tiny_l_encoder.onnx", runtime)
    assert rep["first_failure"] is None and len(rep["modules"]) >= 70 and not rep["unmapped"]
    assert rep["mapping"] in ("scopes", "scopes+values") and all(r["ok"] for r in rep["modules"])
    assert sum(r["mapped"] == "scopes" for r in rep["modules"]) >= 0.9 * len(rep["modules"])


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("fault", ["conv_perturbed.onnx", "resize_bilinear.onnx", "fp16.onnx"])
def test_each_fault_is_caught_at_its_module(runtime, fault, tmp_path):
    names = trace_names()
    f = FAULTS[fault]
    want = names[0] if fault == "fp16.onnx" else \
        innermost_traced(".".join(f["node"].strip("/").split("/")[:-1]), names)
    rep = run(fault, runtime, dump=str(tmp_path))
    assert rep["first_failure"] == want, (rep["first_failure"], want)
    rows = rep["modules"]
    first = next(i for i, r in enumerate(rows) if not r["ok"])
    assert rows[first]["name"] == want and all(r["ok"] for r in rows[:first])  # nothing flagged before it
    dumped = sorted(os.listdir(tmp_path))
    assert dumped == sorted([want + ".evsam.npy", want + ".onnx.npy"])
    a, b = (np.load(tmp_path / d) for d in dumped)
    assert a.shape == b.shape


def test_command_line(capsys, tmp_path):
    args = ["--weights", tiny("tiny_l", "model.pt"), "--config", tiny("tiny_l", "config.json"),
            "--input", D + "input.npy", "--runtime", RUNTIMES[0], "--json"]
    assert check.main(args + ["--onnx", D + "tiny_l_encoder.onnx"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["first_failure"] is None and set(out) >= {"first_failure", "mapping", "modules"}
    assert set(out["modules"][0]) >= {"name", "shape", "max_abs", "rel_l2", "ok"}
    assert check.main(args + ["--onnx", D + "conv_perturbed.onnx"]) == 1
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["first_failure"].startswith(
        "image_encoder.backbone.stages.2.op_list.0")
    assert check.main(args + ["--onnx", str(tmp_path / "missing.onnx")]) == 2
    assert "missing.onnx" in capsys.readouterr().err
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07not a model at all")
    assert check.main(args + ["--onnx", str(tmp_path / "junk.onnx")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_only_the_needed_tensors_are_exposed_and_the_report_is_the_same(runtime):
    for name in ("tiny_l_encoder.onnx", "conv_perturbed.onnx"):
        needed, everything = run(name, runtime), run(name, runtime, expose="all")
        assert needed["first_failure"] == everything["first_failure"]
        assert [(r["name"], r["onnx"], r["mapped"]) for r in needed["modules"]] == \
            [(r["name"], r["onnx"], r["mapped"]) for r in everything["modules"]]
        assert [r["ok"] for r in needed["modules"]] == [r["ok"] for r in everything["modules"]]
        if runtime == "onnxruntime":  # the same kernels either way; OpenVINO fuses more when fewer tensors leave
            assert [r["max_abs"] for r in needed["modules"]] == [r["max_abs"] for r in everything["modules"]]
    graph = check.Graph(D + "tiny_l_encoder.onnx")
    wanted = check.expose_for(run_trace(), graph)
    assert wanted is not None and len(wanted) < len(graph.order) / 2  # most nodes stay inside the runtime


def run_trace():
    m = evsam.create_model(config=tiny("tiny_l", "config.json"), weights=tiny("tiny_l", "model.pt"))
    return m.trace(np.load(D + "input.npy"))


def run_decoder(name, runtime, **kw):
    return check.check(tiny("tiny_l", "model.pt"), D + name, x=np.load(tiny("tiny_l", "embedding.npy")),
                       runtime=runtime, config=tiny("tiny_l", "config.json"),
                       point_coords=np.load(D + "decoder_coords.npy"), point_labels=np.load(D + "decoder_labels.npy"),
                       **kw)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_decoder_export_passes_with_its_semantics(runtime):
    iou4 = np.load(D + "decoder_all_iou_fp64.npy")  # upstream's float64 IoU predictions of all four tokens
    for name, single in (("tiny_l_decoder.onnx", False), ("tiny_l_decoder_single.onnx", True)):
        rep = run_decoder(name, runtime)
        assert rep["kind"] == "decoder" and rep["first_failure"] is None and not rep["unmapped"], rep["unmapped"]
        rows = {r["name"]: r for r in rep["modules"]}
        assert rows["masks"]["shape"] == [3, 1 if single else 4, 256, 256] and rows["masks"]["onnx"] == "masks"
        assert rows["iou_predictions"]["onnx"] == "iou_predictions"
        for layer in ("mask_decoder.transformer.layers.0.queries", "mask_decoder.transformer.layers.1.keys",
                      "mask_decoder.transformer.hs", "mask_decoder.transformer.src", "mask_decoder.output_upscaling",
                      "mask_decoder.iou_prediction_head"):
            assert rows[layer]["mapped"] == "scopes", rows[layer]
        assert rows["mask_decoder.transformer.layers.0.queries"]["onnx"].startswith("/transformer/layers.0/norm3/")
        assert rows["mask_decoder.transformer.src"]["onnx"].startswith("/transformer/layers.1/norm4/")
        # without selection the IoU head's last node writes the graph output itself
        assert rows["mask_decoder.iou_prediction_head"]["onnx"] == (
            "/iou_prediction_head/layers.2/Gemm_output_0" if single else "iou_predictions")
        everything = run_decoder(name, runtime, expose="all")  # only the needed tensors exposed: the same mapping
        assert [(r["name"], r["onnx"], r["ok"]) for r in rep["modules"]] == \
            [(r["name"], r["onnx"], r["ok"]) for r in everything["modules"]]
        sem = rep["semantics"]
        assert sem["sam_predictor_multimask_tokens"] == [int(i) + 1 for i in np.argmax(iou4[:, 1:], 1)]
        if single:  # the export's token: argmax over all four, as upstream's select_masks
            assert sem["export_tokens"] == [int(i) for i in np.argmax(iou4, 1)]
            assert sem["differs_from_sam_predictor"] == [b for b in range(3) if sem["export_tokens"][b] not in
                                                         (0, sem["sam_predictor_multimask_tokens"][b])]
        else:
            assert sem["export_tokens"] is None


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_decoder_fault_is_caught_at_its_layer(runtime):
    rep = run_decoder("decoder_linear_perturbed.onnx", runtime)
    want = FAULTS["decoder_linear_perturbed.onnx"]["first_failure"]
    assert rep["first_failure"] == want
    rows = rep["modules"]
    first = next(i for i, r in enumerate(rows) if not r["ok"])
    assert rows[first]["name"] == want and all(r["ok"] for r in rows[:first])


def test_decoder_export_from_an_image_input(capsys):
    # a preprocessed (1, 3, R, R) input is encoded by evsam first; the default prompts (a point, a box)
    args = ["--weights", tiny("tiny_l", "model.pt"), "--config", tiny("tiny_l", "config.json"),
            "--input", D + "input.npy", "--runtime", RUNTIMES[0], "--json", "--onnx", D + "tiny_l_decoder_single.onnx"]
    assert check.main(args) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["kind"] == "decoder" and out["first_failure"] is None and len(out["semantics"]["export_tokens"]) == 2
    assert check.main(args[:-2] + ["--onnx", D + "tiny_l_decoder.onnx", "--point-coords", D + "decoder_coords.npy"]) == 2
    assert "go together" in capsys.readouterr().err


def test_fp16_inside_an_fp32_interface_is_reported_and_its_entry_passes():
    rep = run("fp16.onnx", RUNTIMES[0])
    assert rep["fp16_inside"] and rep["engine_precision"] == "fp32" and rep["tolerance"] == "encoder-float"
    assert rep["first_failure"] is not None  # the fault: an fp32 model cast by accident
    rep = run("fp16.onnx", RUNTIMES[0], tolerance="engine-fp16")  # as a deliberate fp16 engine: within fp16's entry
    assert rep["first_failure"] is None, rep["first_failure"]


@pytest.mark.skipif("openvino" not in RUNTIMES or not evsam.cpu_has_bf16(), reason="needs openvino and a bf16 CPU")
@pytest.mark.parametrize("precision", ["strict", "fast"])
def test_openvino_bf16_is_held_to_its_entry(precision):
    rep = run("tiny_l_encoder.onnx", "openvino", ov_precision="bf16", precision=precision)
    assert rep["engine_precision"] == "bf16" and rep["tolerance"] == "engine-bf16"
    assert rep["first_failure"] is None, rep["first_failure"]
    strict = run("tiny_l_encoder.onnx", "openvino", ov_precision="bf16", tolerance="encoder-float")
    assert strict["first_failure"] == strict["modules"][0]["name"]  # bf16 everywhere: the first module
    f16 = run("tiny_l_encoder.onnx", "openvino", ov_precision="f16")
    assert f16["engine_precision"] == "fp16" and f16["first_failure"] is None


def test_the_first_module_beyond_fp16s_range_is_named(monkeypatch):
    # a reference whose activations from one module on exceed 65504 (as an XL model's LayerNorm inputs
    # can): that module is named, with its largest |activation|, on the reference's side
    real = evsam.create_model

    class Scaled:
        def __init__(self, m):
            self.m = m

        def __getattr__(self, k):
            return getattr(self.m, k)

        def trace(self, x):
            t = self.m.trace(x)
            names = list(t)
            for n in names[3:]:
                t[n] = t[n] * np.float32(1e6)
            return t

    monkeypatch.setattr(evsam, "create_model", lambda *a, **kw: Scaled(real(*a, **kw)))
    rep = run("tiny_l_encoder.onnx", RUNTIMES[0])
    names = trace_names()
    big = rep["fp16_range_exceeded_reference"]
    assert big["name"] == names[3] and big["max_abs_activation"] > 65504
    row = next(r for r in rep["modules"] if r["name"] == names[3])
    assert row["max_abs_activation"] == big["max_abs_activation"]
    assert rep["fp16_range_exceeded"] is None  # the port itself stays in range


def test_a_segment_anything_decoder_export_is_refused_in_one_line(tmp_path, capsys):
    # SamOnnxModel (segment-anything's export) has other inputs and semantics: named, not misread
    from onnx import TensorProto, helper

    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in (
        ("image_embeddings", [1, 32, 64, 64]), ("point_coords", [1, 2, 2]), ("point_labels", [1, 2]),
        ("mask_input", [1, 1, 256, 256]), ("has_mask_input", [1]), ("orig_im_size", [2]))]
    out = helper.make_tensor_value_info("masks", TensorProto.FLOAT, [1, 32, 64, 64])
    g = helper.make_graph([helper.make_node("Identity", ["image_embeddings"], ["masks"])], "sam", ins, [out])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "sam.onnx"))
    args = ["--weights", tiny("tiny_l", "model.pt"), "--config", tiny("tiny_l", "config.json"), "--input",
            tiny("tiny_l", "embedding.npy"), "--runtime", RUNTIMES[0], "--onnx", str(tmp_path / "sam.onnx")]
    assert check.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SamOnnxModel" in err[0] and "mask_input" in err[0]


def test_tensorrt_without_a_gpu_skips_in_one_line(capsys):
    if check.tensorrt_available() is None:
        pytest.skip("TensorRT and a GPU are here: the skip path is not taken")
    args = ["--weights", tiny("tiny_l", "model.pt"), "--config", tiny("tiny_l", "config.json"),
            "--input", D + "input.npy", "--runtime", "tensorrt", "--onnx", D + "tiny_l_encoder.onnx"]
    assert check.main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("evsam-check: skipped: tensorrt needs")
