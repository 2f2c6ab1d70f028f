#!/usr/bin/env python3
"""End-to-end CPU speed of evsam beside upstream PyTorch, ONNX Runtime and OpenVINO, in ONE run on
the same machine, the same image and the same thread count.

For every variant (at its own encoder resolution):
  encoder_s   preprocessed (1,3,R,R) input -> (1,256,64,64) embedding
  decoder_s   one foreground point at the image centre, multimask -> 3 masks at the original size
              (evsam: Predictor::predict; PyTorch: EfficientViTSamPredictor.predict; ORT: SAM's
              SamOnnxModel export of prompt encoder + mask decoder + mask postprocessing)
  fast        evsam --precision fast (bf16 GEMMs: AMX tiles where the CPU has them, else AVX512_BF16): encoder
              time and error, beside OpenVINO's default; on an AMX CPU also with EVSAM_AMX=0 (AVX512_BF16)
  amg_s       (--amg, L0 only) SamAutomaticMaskGenerator with upstream defaults, 32x32 grid,
              image in -> records out (evsam everything vs EfficientViTSamAutomaticMaskGenerator)
  peak_rss_mb the peak resident memory of the process that ran the job (each side in its own process)
  err64       the encoder's error on the preprocessed image against upstream run in float64: max-abs
              and relative L2 of the embedding, for every side (PyTorch fp32, ORT, OpenVINO, evsam)
OpenVINO (PyPI) runs the same ONNX export of the encoder twice: INFERENCE_PRECISION_HINT=f32, and
its default for this CPU (bf16 where the CPU has AVX512_BF16 or AMX).
It also measures the machine's fp32 GEMM peak (PyTorch's MKL sgemm, 2048^3, same threads) and
reports the fraction of it the evsam encoder reaches on the encoder's MACs (direct-convolution
MACs, as `evsam info --model` counts them).

Weights are seeded random-weight checkpoints written with torch.save(model.state_dict()) from
upstream's own factory, exactly as the official files were written (speed does not depend on the
values). Use the PyPI torch wheel (MKL + oneDNN) as the baseline, not Debian's python3-torch:

  python -m venv venv && venv/bin/pip install torch torchvision onnxruntime openvino onnx pillow numpy
  venv/bin/python bench/compare.py --efficientvit-src DIR --sam-src DIR [--evsam build/bin/evsam]
      [--threads 2] [--repeat 5] [--ov-rounds 3] [--variants l0 l1 l2 xl0 xl1] [--amg] [--markdown OUT.md]
"""
import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "validation"))
import upstream  # noqa: E402

MACS = {"l0": 34.77e9, "l1": 48.98e9, "l2": 68.55e9, "xl0": 184.80e9, "xl1": 321.87e9}  # evsam info --model


def peak_rss_mb():
    """VmHWM: the peak RSS of this process image. (ru_maxrss survives exec on Linux, so a worker
    would report its parent's peak.)"""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def median_time(f, repeat):
    f()  # warm-up
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


# ---------------------------------------------------------------- workers (one process per side)
def worker_torch(a):
    import numpy as np
    import torch
    from PIL import Image
    from efficientvit.models.efficientvit.sam import (EfficientViTSamAutomaticMaskGenerator,
                                                      EfficientViTSamPredictor)
    torch.set_num_threads(a.threads)
    model = upstream.create_model(a.variant)
    model.load_state_dict(torch.load(a.ckpt, map_location="cpu"))
    image = np.array(Image.open(a.image).convert("RGB"))
    pred = EfficientViTSamPredictor(model)
    out = {}
    with torch.inference_mode():
        x = model.transform(image).unsqueeze(0)
        out["encoder_s"] = median_time(lambda: model.image_encoder(x), a.repeat)
        if a.ref_dir:  # the input every side embeds, upstream's fp32 and fp64 embeddings of it
            np.save(os.path.join(a.ref_dir, "input.npy"), x.numpy())
            np.save(os.path.join(a.ref_dir, "torch32.npy"), model.image_encoder(x).numpy())
            m64 = upstream.create_model(a.variant)
            m64.load_state_dict(torch.load(a.ckpt, map_location="cpu"))
            np.save(os.path.join(a.ref_dir, "torch64.npy"), m64.double().image_encoder(x.double()).numpy())
        pred.set_image(image)
        pt = np.array([[image.shape[1] / 2, image.shape[0] / 2]])
        out["decoder_s"] = median_time(lambda: pred.predict(pt, np.array([1]), multimask_output=True), a.repeat)
        if a.amg:
            gen = EfficientViTSamAutomaticMaskGenerator(model)
            n = []
            out["amg_s"] = median_time(lambda: n.append(len(gen.generate(image))), max(1, a.repeat // 2))
            out["amg_masks"] = n[-1]
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def worker_ort(a):
    import numpy as np
    import onnxruntime as ort
    from PIL import Image
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    enc = ort.InferenceSession(a.onnx_encoder, so, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(a.onnx_decoder, so, providers=["CPUExecutionProvider"])
    R = a.resolution
    x = np.random.default_rng(0).standard_normal((1, 3, R, R)).astype(np.float32)
    out = {"encoder_s": median_time(lambda: enc.run(None, {"x": x}), a.repeat)}
    emb = enc.run(None, {"x": x})[0]
    if a.ref_dir:
        np.save(os.path.join(a.ref_dir, "ort.npy"), enc.run(None, {"x": np.load(os.path.join(a.ref_dir, "input.npy"))})[0])
    image = Image.open(a.image)
    W, H = image.size
    s = 1024.0 / max(H, W)  # prompts in the 1024 frame, plus SAM's padding point (label -1)
    feeds = {"image_embeddings": emb,
             "point_coords": np.array([[[W / 2 * s, H / 2 * s], [0.0, 0.0]]], dtype=np.float32),
             "point_labels": np.array([[1, -1]], dtype=np.float32),
             "mask_input": np.zeros((1, 1, 256, 256), dtype=np.float32),
             "has_mask_input": np.zeros(1, dtype=np.float32),
             "orig_im_size": np.array([H, W], dtype=np.float32)}
    out["decoder_s"] = median_time(lambda: dec.run(None, feeds), a.repeat)
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def worker_ov(a):
    """OpenVINO on the encoder's ONNX export: --ov-precision f32 (INFERENCE_PRECISION_HINT) or default."""
    import numpy as np
    import openvino as ov
    core = ov.Core()
    cfg = {"INFERENCE_NUM_THREADS": a.threads, "PERFORMANCE_HINT": "LATENCY"}
    if a.ov_precision == "f32":
        cfg["INFERENCE_PRECISION_HINT"] = "f32"
    enc = core.compile_model(core.read_model(a.onnx_encoder), "CPU", cfg)
    req = enc.create_infer_request()
    R = a.resolution
    x = np.random.default_rng(0).standard_normal((1, 3, R, R)).astype(np.float32)
    out = {"encoder_s": median_time(lambda: req.infer({0: x}), a.repeat),
           "precision": re.sub(r"^<Type: '(.*)'>$", r"\1", str(enc.get_property("INFERENCE_PRECISION_HINT")))}
    if a.ref_dir:
        res = req.infer({0: np.load(os.path.join(a.ref_dir, "input.npy"))})
        np.save(os.path.join(a.ref_dir, f"ov_{a.ov_precision}.npy"), np.array(next(iter(res.values()))))
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def err64(ref_dir, name):
    """(max-abs, relative L2) of ref_dir/name.npy against ref_dir/torch64.npy."""
    import numpy as np
    ref = np.load(os.path.join(ref_dir, "torch64.npy"))
    d = np.load(os.path.join(ref_dir, name)).astype(np.float64).reshape(ref.shape) - ref
    return float(np.abs(d).max()), float(np.sqrt((d * d).sum() / (ref * ref).sum()))


def worker_gemm(a):
    import torch
    torch.set_num_threads(a.threads)
    n = 2048
    A, B = torch.randn(n, n), torch.randn(n, n)
    best = min(median_time(lambda: A @ B, 3) for _ in range(3))
    print(json.dumps({"gflops": 2 * n ** 3 / best / 1e9, "torch": torch.__version__}))


# ---------------------------------------------------------------- orchestration
def run_json(cmd, env=None, allow_fail=False):
    """The JSON object on the last stdout line of cmd; a failure exits, or with allow_fail returns
    {"error": <its last stderr line>}."""
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        if allow_fail:
            return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1]}
        sys.exit(f"error: {' '.join(cmd[:3])} ... failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def finish_report(lines, verdicts, markdown=None):
    """Appends the targets line (each verdict: (name, met)), prints the report, and writes it to
    markdown when given."""
    if verdicts:
        lines = lines + ["", "Targets: " + "; ".join(f"{n}: {'met' if ok else 'NOT met'}" for n, ok in verdicts)]
    text = "\n".join(lines) + "\n"
    print(text)
    if markdown:
        with open(markdown, "w") as f:
            f.write(text)


def prepare(a, variant, work):
    """Seeded random-weight checkpoint and the two ONNX exports, once per variant."""
    import torch
    from segment_anything.utils.onnx import SamOnnxModel
    ckpt = os.path.join(work, f"efficientvit_sam_{variant}.pt")
    enc_onnx = os.path.join(work, f"{variant}_encoder.onnx")
    dec_onnx = os.path.join(work, f"{variant}_decoder.onnx")
    if all(os.path.exists(p) for p in (ckpt, enc_onnx, dec_onnx)):
        return ckpt, enc_onnx, dec_onnx
    torch.manual_seed(0)
    model = upstream.create_model(variant)
    torch.save(model.state_dict(), ckpt)
    R = model.image_size[1]
    with torch.no_grad():
        torch.onnx.export(model.image_encoder, (torch.randn(1, 3, R, R),), enc_onnx, opset_version=17,
                          input_names=["x"], output_names=["embedding"], dynamo=False)
        model.image_encoder.img_size = 1024  # SamOnnxModel upscales masks to this frame (prompts live in it)
        onnx_model = SamOnnxModel(model, return_single_mask=False)
        dummy = {"image_embeddings": torch.randn(1, 256, 64, 64),
                 "point_coords": torch.randint(0, 1024, (1, 2, 2), dtype=torch.float),
                 "point_labels": torch.randint(0, 2, (1, 2), dtype=torch.float),
                 "mask_input": torch.randn(1, 1, 256, 256), "has_mask_input": torch.tensor([0.0]),
                 "orig_im_size": torch.tensor([480.0, 640.0])}
        torch.onnx.export(onnx_model, tuple(dummy.values()), dec_onnx, opset_version=17,
                          input_names=list(dummy.keys()), output_names=["masks", "iou_predictions", "low_res_masks"],
                          dynamic_axes={"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}},
                          dynamo=False)
    return ckpt, enc_onnx, dec_onnx


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    ap.add_argument("--evsam", default=os.path.join(HERE, "..", "build", "bin", "evsam"))
    ap.add_argument("--work", default="/tmp/evsam_bench_compare")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--ov-rounds", type=int, default=3,
                    help="rounds of evsam strict / fast and OpenVINO f32 / default, alternating: the OpenVINO "
                         "table gives each side's median over them")
    ap.add_argument("--variants", nargs="+", default=["l0", "l1", "l2", "xl0", "xl1"])
    ap.add_argument("--amg", action="store_true", help="also segment everything (32x32) on L0")
    ap.add_argument("--image", default=os.path.join(HERE, "..", "examples", "data", "chelsea.png"))
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--worker", choices=["torch", "ort", "ov", "gemm"], help=argparse.SUPPRESS)
    ap.add_argument("--ov-precision", choices=["f32", "default"], help=argparse.SUPPRESS)
    ap.add_argument("--ref-dir", help=argparse.SUPPRESS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--ckpt", help=argparse.SUPPRESS)
    ap.add_argument("--onnx-encoder", help=argparse.SUPPRESS)
    ap.add_argument("--onnx-decoder", help=argparse.SUPPRESS)
    ap.add_argument("--resolution", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    upstream.setup(a.efficientvit_src, a.sam_src)
    if a.worker:
        return {"torch": worker_torch, "ort": worker_ort, "ov": worker_ov, "gemm": worker_gemm}[a.worker](a)

    from PIL import Image
    os.makedirs(a.work, exist_ok=True)
    image = os.path.join(a.work, "image_640x480.png")  # the same 640x480 image for every side
    Image.open(a.image).convert("RGB").resize((640, 480), Image.BILINEAR).save(image)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    base = [sys.executable, os.path.abspath(__file__), "--efficientvit-src", a.efficientvit_src, "--sam-src",
            a.sam_src, "--threads", str(a.threads), "--repeat", str(a.repeat), "--image", image]
    gemm = run_json(base + ["--worker", "gemm"], env)
    with open("/proc/cpuinfo") as f:
        has_amx = " amx_bf16" in f.read()
    env_noamx = dict(env, EVSAM_AMX="0")
    rows = []
    for v in a.variants:
        ckpt, enc_onnx, dec_onnx = prepare(a, v, a.work)
        amg = a.amg and v == "l0"
        R = 512 if v.startswith("l") else 1024
        ev_cmd = [a.evsam, "bench", "--weights", ckpt, "--image", image, "--threads", str(a.threads),
                  "--repeat", str(a.repeat), "--json"]
        ev = run_json(ev_cmd + (["--amg"] if amg else []), env)
        # evsam --precision fast (bf16 GEMMs): only where the CPU has AVX512_BF16 (else evsam refuses)
        evf = run_json([a.evsam, "bench", "--weights", ckpt, "--image", image, "--threads", str(a.threads),
                        "--repeat", str(a.repeat), "--json", "--precision", "fast"], env, allow_fail=True)
        # ... and on AVX512_BF16 where fast runs on AMX by default
        evf2 = (run_json([a.evsam, "bench", "--weights", ckpt, "--image", image, "--threads", str(a.threads),
                          "--repeat", str(a.repeat), "--json", "--precision", "fast"], env_noamx, allow_fail=True)
                if has_amx else {})
        ref_dir = os.path.join(a.work, f"{v}_err64")
        os.makedirs(ref_dir, exist_ok=True)
        th = run_json(base + ["--worker", "torch", "--variant", v, "--ckpt", ckpt, "--ref-dir", ref_dir] +
                      (["--amg"] if amg else []), env)
        ox = run_json(base + ["--worker", "ort", "--onnx-encoder", enc_onnx, "--onnx-decoder", dec_onnx,
                              "--resolution", str(R), "--ref-dir", ref_dir], env)
        ov_cmd = base + ["--worker", "ov", "--onnx-encoder", enc_onnx, "--resolution", str(R)]
        ov = {p: run_json(ov_cmd + ["--ov-precision", p, "--ref-dir", ref_dir], env, allow_fail=True)
              for p in ("f32", "default")}
        # The OpenVINO table's four encoder times, over --ov-rounds rounds that alternate the sides, so
        # that the machine's drift (10 % over minutes on a shared host) falls on every side alike.
        rounds = {"strict": [ev["encoder_s"]], "fast": [evf.get("encoder_s")],
                  "f32": [ov["f32"].get("encoder_s")], "default": [ov["default"].get("encoder_s")]}
        for _ in range(a.ov_rounds - 1):
            rounds["strict"].append(run_json(ev_cmd, env)["encoder_s"])
            rounds["fast"].append(run_json(ev_cmd + ["--precision", "fast"], env, allow_fail=True).get("encoder_s"))
            for p in ("f32", "default"):
                rounds[p].append(run_json(ov_cmd + ["--ov-precision", p], env, allow_fail=True).get("encoder_s"))
        ev["ov_rounds"] = {k: statistics.median(x) for k, x in rounds.items() if None not in x}
        subprocess.run([a.evsam, "embed", "--weights", ckpt, "--input", os.path.join(ref_dir, "input.npy"), "--out",
                        os.path.join(ref_dir, "evsam.npy"), "--threads", str(a.threads)], check=True, env=env)
        if "encoder_s" in evf:
            subprocess.run([a.evsam, "embed", "--weights", ckpt, "--input", os.path.join(ref_dir, "input.npy"),
                            "--out", os.path.join(ref_dir, "evsam_fast.npy"), "--threads", str(a.threads),
                            "--precision", "fast"], check=True, env=env)
        if "encoder_s" in evf2:
            subprocess.run([a.evsam, "embed", "--weights", ckpt, "--input", os.path.join(ref_dir, "input.npy"),
                            "--out", os.path.join(ref_dir, "evsam_fast_avx512.npy"), "--threads", str(a.threads),
                            "--precision", "fast"], check=True, env=env_noamx)
        err = {k: err64(ref_dir, f) for k, f in (("torch", "torch32.npy"), ("ort", "ort.npy"), ("evsam", "evsam.npy"),
                                                   ("evsam_fast", "evsam_fast.npy"),
                                                   ("evsam_fast_avx512", "evsam_fast_avx512.npy"),
                                                   ("ov_f32", "ov_f32.npy"), ("ov_default", "ov_default.npy"))
               if os.path.exists(os.path.join(ref_dir, f))}
        evf["avx512"] = evf2
        rows.append((v, R, ev, th, ox, ov, err, evf))
        print(f"{v}: evsam {ev['encoder_s']:.3f}s  torch {th['encoder_s']:.3f}s  ort {ox['encoder_s']:.3f}s  "
              f"openvino f32 {ov['f32'].get('encoder_s', float('nan')):.3f}s default "
              f"{ov['default'].get('encoder_s', float('nan')):.3f}s", file=sys.stderr)

    import torch
    import onnxruntime
    try:
        import openvino
        ov_version = openvino.__version__
    except ImportError:
        ov_version = "not installed"
    lines = [f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible; "
             f"threads {a.threads}; median of {a.repeat} (the OpenVINO table: each side's median over "
             f"{a.ov_rounds} alternating rounds of that); image 640x480; "
             f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, openvino {ov_version}.",
             f"fp32 GEMM peak (torch sgemm 2048^3, {a.threads} threads): {gemm['gflops']:.1f} GFLOP/s.", "",
             "| model | res | encoder evsam s | torch s | ORT s | evsam/torch | evsam/ORT | % GEMM peak "
             "| decoder evsam s | torch s | ORT s | evsam/torch | peak MB evsam | torch | ORT |",
             "| --- " * 15 + "|"]
    verdicts = []
    for v, R, ev, th, ox, ov, err, evf in rows:
        r_t, r_o = ev["encoder_s"] / th["encoder_s"], ev["encoder_s"] / ox["encoder_s"]
        d_t = ev["decoder_s"] / th["decoder_s"]
        peak = 2 * MACS[v] / ev["encoder_s"] / 1e9 / gemm["gflops"]
        lines.append(f"| {v} | {R} | {ev['encoder_s']:.3f} | {th['encoder_s']:.3f} | {ox['encoder_s']:.3f} | "
                     f"{r_t:.2f} | {r_o:.2f} | {100 * peak:.0f} % | {ev['decoder_s'] * 1e3:.1f} ms | "
                     f"{th['decoder_s'] * 1e3:.1f} ms | {ox['decoder_s'] * 1e3:.1f} ms | {d_t:.2f} | "
                     f"{ev['peak_rss_mb']:.0f} | {th['peak_rss_mb']:.0f} | {ox['peak_rss_mb']:.0f} |")
        verdicts += [(f"{v} encoder <= 0.6x PyTorch", r_t <= 0.6), (f"{v} encoder <= 1.0x ORT", r_o <= 1.0),
                     (f"{v} decoder <= 0.5x PyTorch", d_t <= 0.5), (f"{v} >= 70 % of GEMM peak", peak >= 0.7),
                     (f"{v} peak memory below PyTorch's", ev["peak_rss_mb"] < th["peak_rss_mb"])]
    lines += ["", "Encoder beside OpenVINO (same ONNX export), and every side's embedding error against upstream in "
                  "float64 (max-abs / relative L2, preprocessed chelsea):", "",
              "| model | evsam strict s | evsam fast s | fast AVX512_BF16 s | OV f32 s | OV default s (precision) "
              "| strict/OV f32 | fast/OV default | err evsam strict | err evsam fast | err fast AVX512_BF16 "
              "| err torch fp32 | err ORT | err OV f32 | err OV default |", "| --- " * 15 + "|"]
    for v, R, ev, th, ox, ov, err, evf in rows:
        def t(o):
            return f"{o['encoder_s']:.3f}" if "encoder_s" in o else "failed"

        med = ev["ov_rounds"]

        def tr(k):
            return f"{med[k]:.3f}" if k in med else "failed"

        def e(k):
            return f"{err[k][0]:.2e} / {err[k][1]:.2e}" if k in err else "-"
        rf = med["strict"] / med["f32"] if "f32" in med else float("nan")
        rfd = med["fast"] / med["default"] if "default" in med and "fast" in med else float("nan")
        f2 = t(evf["avx512"]) if "encoder_s" in evf["avx512"] else ("-" if not has_amx else "refused")
        lines.append(f"| {v} | {tr('strict')} | {tr('fast') if 'encoder_s' in evf else 'refused'} | {f2} | "
                     f"{tr('f32')} | {tr('default')} ({ov['default'].get('precision', '?')}) | {rf:.2f} | "
                     f"{rfd:.2f} | {e('evsam')} | {e('evsam_fast')} | {e('evsam_fast_avx512')} | {e('torch')} | "
                     f"{e('ort')} | {e('ov_f32')} | {e('ov_default')} |")
        if "f32" in med:
            verdicts.append((f"{v} encoder strict <= 0.85x OpenVINO f32", rf <= 0.85))
        if rfd == rfd:
            verdicts.append((f"{v} encoder fast <= 0.85x OpenVINO default", rfd <= 0.85))
        if "evsam_fast" in err and "ov_default" in err:
            verdicts.append((f"{v} encoder fast rel-L2 vs fp64 <= OpenVINO default's",
                             err["evsam_fast"][1] <= err["ov_default"][1]))
        if "evsam" in err and "torch" in err:
            verdicts.append((f"{v} encoder rel-L2 vs fp64 <= 1.0x PyTorch fp32's", err["evsam"][1] <= err["torch"][1]))
            verdicts.append((f"{v} encoder max-abs vs fp64 <= 1.5x PyTorch fp32's", err["evsam"][0] <= 1.5 * err["torch"][0]))
    for v, R, ev, th, ox, ov, err, evf in rows:
        if "amg_s" in ev and "amg_s" in th:
            r = ev["amg_s"] / th["amg_s"]
            lines += ["", f"Segment everything, {v}, 32x32 grid, 640x480: evsam {ev['amg_s']:.2f} s "
                          f"({ev['amg_masks']} masks), PyTorch {th['amg_s']:.2f} s ({th['amg_masks']} masks): "
                          f"ratio {r:.2f}"]
            verdicts.append((f"{v} segment everything <= 0.5x PyTorch", r <= 0.5))
    finish_report(lines, verdicts, a.markdown)


if __name__ == "__main__":
    main()
