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
    m = evsam.create_model(config=tiny("tiny_l", "config.json"), weights=tiny("tiny_l", "model.pt"))
    return list(m.trace(np.load(D + "input.npy")))


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
