"""evsam-check on a full-size encoder export, for every runtime and precision here, as one markdown
table (validation/README.md, issue 21): modules compared and how they were mapped, the first module
out of tolerance, the embedding's relative L2 against evsam, and the check's wall time beside one plain
ONNX Runtime run (session + run) and one evsam traced run (load + trace), its cost target's unit.

    PYTHONPATH=build/python venv/bin/python validation/check_onnx_ports.py --weights L0.pt --onnx l0_encoder.onnx
        [--decoder-onnx l0_decoder.onnx l0_decoder_single.onnx] [--image examples/data/chelsea.png] [--threads 2]

The export: bench/compare.py writes one (torch.onnx.export of model.image_encoder, opset 17) beside
its random-weight checkpoint; upstream's export_encoder.py writes the same graph under /image_encoder/.
"""
import argparse
import os
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--image", default=os.path.join(REPO, "examples", "data", "chelsea.png"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--decoder-onnx", nargs="*", help="decoder exports (upstream's export_decoder.py) to check too")
    a = ap.parse_args()
    import evsam
    import onnx  # noqa: F401  (imports are not timed, on either side)
    import openvino  # noqa: F401
    from evsam import check

    evsam.set_num_threads(a.threads)
    t0 = time.perf_counter()
    model = evsam.load(a.weights)
    x = model.preprocess(evsam.load_image(a.image))
    model.trace(x)
    t_evsam = time.perf_counter() - t0
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    t0 = time.perf_counter()
    sess = ort.InferenceSession(a.onnx, so, providers=["CPUExecutionProvider"])
    sess.run(None, {sess.get_inputs()[0].name: x})
    t_ort = time.perf_counter() - t0
    print(f"unit: one plain ONNX Runtime run {t_ort:.2f} s + one evsam traced run {t_evsam:.2f} s")
    print("| runtime | precision | evsam reference | tolerance | modules (mapping) | first out of tolerance | "
          "worst \\|diff\\| / max\\|ref\\| | embedding rel-L2 | check time | × unit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = [("onnxruntime", "f32", "strict", None), ("openvino", "f32", "strict", None),
            ("openvino", "bf16", "strict", None), ("openvino", "bf16", "fast", None),
            ("openvino", "bf16", "strict", "encoder-float"), ("openvino", "f16", "strict", None)]
    for runtime, prec, ref_prec, tol in rows:
        if ref_prec == "fast" and not evsam.cpu_has_bf16():
            continue
        t0 = time.perf_counter()
        rep = check.check(a.weights, a.onnx, x=x, runtime=runtime, ov_precision=prec, precision=ref_prec,
                          tolerance=tol)
        t = time.perf_counter() - t0
        print_row(rep, runtime, prec, ref_prec, t, t_ort + t_evsam)
    if a.decoder_onnx:
        emb = model.encode(x)
        for path in a.decoder_onnx:
            feeds = {"image_embeddings": emb, "point_coords": check.DEFAULT_POINT_COORDS,
                     "point_labels": check.DEFAULT_POINT_LABELS}
            t0 = time.perf_counter()
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            sess.run(None, feeds)
            t_ort = time.perf_counter() - t0
            t0 = time.perf_counter()
            model.trace_decoder(emb, check.DEFAULT_POINT_COORDS, check.DEFAULT_POINT_LABELS)
            t_ev = time.perf_counter() - t0
            print(f"\ndecoder {os.path.basename(path)}: unit {t_ort:.2f} s (ORT session + run) + {t_ev:.2f} s "
                  f"(evsam trace)")
            for runtime, prec in (("onnxruntime", "f32"), ("openvino", "f32"), ("openvino", "bf16")):
                t0 = time.perf_counter()
                rep = check.check(a.weights, path, x=emb, runtime=runtime, ov_precision=prec)
                t = time.perf_counter() - t0
                print_row(rep, runtime, prec, "strict", t, t_ort + t_ev)
                if rep["semantics"]:
                    print(f"semantics: {rep['semantics']}")


def print_row(rep, runtime, prec, ref_prec, t, unit):
    ms = rep["modules"]
    n_scope = sum(r["mapped"] == "scopes" for r in ms)
    worst = max(r["max_abs"] / r["max_abs_activation"] for r in ms if r["max_abs_activation"] > 0)
    print(f"| {runtime} | {prec if runtime == 'openvino' else 'fp32'} | {ref_prec} | {rep['tolerance']} | {len(ms)} "
          f"({n_scope} by scope, {len(ms) - n_scope} by values), {len(rep['unmapped'])} unmapped | "
          f"{rep['first_failure'] or 'none'} | {worst:.3g} | {ms[-1]['rel_l2']:.2e} | {t:.1f} s | {t / unit:.2f} |")


if __name__ == "__main__":
    main()
