#!/usr/bin/env python3
"""SAM's ViT-B/L/H image encoders and Expedit-SAM's hourglass: evsam beside upstream PyTorch, in ONE
run on the same machine and the same thread count (issue 15, part 6).

Rows (encoder only: a preprocessed (1,3,R,R) input to the (1,256,64,64) embedding):
  vit_b, vit_l, vit_h     segment_anything's ImageEncoderViT / `evsam bench` on the same checkpoint
  vit_h L,K               Expedit-SAM's HourglassImageEncoderViT clustering before block L into K tokens
                          per window (other knobs: upstream's class defaults) / `evsam bench
                          --hourglass-location L --hourglass-clusters K`; default settings are Expedit's
                          README table: (18,121) (14,100) (8,100) (8,81) (6,81)
  l0, xl1                 EfficientViT-SAM at 512 / 1024, for the paper's ratio
Reported per row: median encoder time of --repeat timed runs after one warm-up, evsam / PyTorch, the
peak resident memory of the process that ran it (each side and each row in its own process; PyTorch's
includes the random init that load_state_dict overwrites, evsam's includes the decoder it also times),
and the fp32 weight size. Then the paper's ratio (SAM-ViT-H encoder time over EfficientViT-SAM-L0's and
XL1's) with evsam on both sides and with PyTorch on both sides, and Expedit's speed-up over plain ViT-H
on each engine. Accuracy is not measured here (validation/check_hourglass.py does it against fp64).

Weights: seeded random-weight checkpoints written with torch.save(model.state_dict()) from upstream's
own factories (sam_model_registry, create_efficientvit_sam_model), as the official files were written;
speed does not depend on the values. Takes about 30 minutes at 2 threads with the defaults (ViT-H:
about a minute a pass on each side).

  venv/bin/python bench/compare_vit.py --efficientvit-src DIR --sam-src DIR --expedit-src DIR
      [--evsam build/bin/evsam] [--threads 2] [--repeat 3] [--repeat-big 1] [--models vit_b vit_l vit_h l0 xl1]
      [--settings 18,121 14,100 8,100 8,81 6,81] [--markdown OUT.md]
"""
import argparse
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "validation"))
sys.path.insert(0, HERE)
import upstream  # noqa: E402
from compare import finish_report, median_time, peak_rss_mb, run_json  # noqa: E402

SAM_VITS = ("vit_b", "vit_l", "vit_h")
EXPEDIT_SETTINGS = ["18,121", "14,100", "8,100", "8,81", "6,81"]  # Expedit-SAM README, ViT-H


def prepare(model_name, work):
    """Seeded random-weight checkpoint of upstream's model (once per model); returns (path, fp32 MB)."""
    import torch
    path = os.path.join(work, f"{model_name}.pt")
    if not os.path.exists(path):
        torch.manual_seed(0)
        if model_name in SAM_VITS:
            from segment_anything import sam_model_registry
            model = sam_model_registry[model_name](checkpoint=None)
        else:
            model = upstream.create_model(model_name)
        torch.save(model.state_dict(), path)
        del model
    sd = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    mb = sum(t.numel() * 4 for t in sd.values()) / 2 ** 20
    return path, mb


def worker(a):
    import json
    import torch
    torch.set_num_threads(a.threads)
    sd = torch.load(a.ckpt, map_location="cpu", mmap=True, weights_only=True)
    if a.model in SAM_VITS:
        from segment_anything import sam_model_registry
        sam = sam_model_registry[a.model](checkpoint=None).eval()
        sam.load_state_dict(sd)
        enc = sam.image_encoder
        if a.setting:
            L, K = (int(u) for u in a.setting.split(","))
            enc = upstream.hourglass_encoder(upstream.hourglass_module(a.expedit_src), enc, L, K)
            del sam
        R = 1024
    else:
        model = upstream.create_model(a.model)
        model.load_state_dict(sd)
        enc = model.image_encoder
        R = model.image_size[1]
    del sd
    x = torch.randn(1, 3, R, R, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        t = median_time(lambda: enc(x), a.repeat)
    print(json.dumps({"encoder_s": t, "peak_rss_mb": peak_rss_mb(), "torch": torch.__version__}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    upstream.add_expedit_arg(ap)
    ap.add_argument("--evsam", default=os.path.join(HERE, "..", "build", "bin", "evsam"))
    ap.add_argument("--work", default="/tmp/evsam_bench_compare_vit")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per row after one warm-up")
    ap.add_argument("--repeat-big", type=int, default=1, help="the same for vit_l and vit_h rows")
    ap.add_argument("--models", nargs="+", default=["vit_b", "vit_l", "vit_h", "l0", "xl1"],
                    choices=["vit_b", "vit_l", "vit_h", "l0", "l1", "l2", "xl0", "xl1"])
    ap.add_argument("--settings", nargs="*", default=EXPEDIT_SETTINGS, help="hourglass L,K pairs run on vit_h")
    ap.add_argument("--image", default=os.path.join(HERE, "..", "examples", "data", "chelsea.png"),
                    help="the image `evsam bench` decodes (its encoder time does not depend on it)")
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--ckpt", help=argparse.SUPPRESS)
    ap.add_argument("--setting", help=argparse.SUPPRESS)
    a = ap.parse_args()
    upstream.setup(a.efficientvit_src, a.sam_src)
    if a.worker:
        return worker(a)
    for s in a.settings:
        L, K = (int(u) for u in s.split(","))
        if round(K ** 0.5) ** 2 != K:
            sys.exit(f"error: --settings {s}: K must be a perfect square")
    if a.settings and "vit_h" in a.models:
        upstream.hourglass_module(a.expedit_src)  # fail now, not after ViT-B/L have run
    os.makedirs(a.work, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    base = [sys.executable, os.path.abspath(__file__), "--efficientvit-src", a.efficientvit_src, "--sam-src",
            a.sam_src, "--expedit-src", a.expedit_src or "", "--threads", str(a.threads), "--worker"]
    rows = {}  # (model, setting or None) -> (evsam json, torch json, weights MB)
    for m in a.models:
        ckpt, mb = prepare(m, a.work)
        rep = str(a.repeat_big if m in ("vit_l", "vit_h") else a.repeat)
        for s in [None] + (a.settings if m == "vit_h" else []):
            hg = [] if s is None else ["--hourglass-location", s.split(",")[0], "--hourglass-clusters", s.split(",")[1]]
            ev = run_json([a.evsam, "bench", "--weights", ckpt, "--image", a.image, "--threads", str(a.threads),
                           "--repeat", rep, "--json"] + hg, env)
            th = run_json(base + ["--repeat", rep, "--model", m, "--ckpt", ckpt] + (["--setting", s] if s else []), env)
            rows[(m, s)] = (ev, th, mb)
            print(f"{m} {s or 'plain'}: evsam {ev['encoder_s']:.3f}s ({ev['peak_rss_mb']:.0f} MB)  "
                  f"torch {th['encoder_s']:.3f}s ({th['peak_rss_mb']:.0f} MB)", file=sys.stderr, flush=True)

    torch_version = next(iter(rows.values()))[1]["torch"]
    lines = [f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible; "
             f"threads {a.threads}; median of {a.repeat} timed runs after one warm-up ({a.repeat_big} for vit_l and "
             f"vit_h); torch {torch_version}.", "",
             "| model | hourglass (L, K) | evsam encoder s | PyTorch s | evsam / PyTorch | evsam peak MB "
             "| PyTorch peak MB | weights MB | evsam peak / weights |", "| --- " * 9 + "|"]
    verdicts = []
    for (m, s), (ev, th, mb) in rows.items():
        r = ev["encoder_s"] / th["encoder_s"]
        lines.append(f"| {m} | {'(' + s.replace(',', ', ') + ')' if s else '-'} | {ev['encoder_s']:.3f} | "
                     f"{th['encoder_s']:.3f} | {r:.2f} | {ev['peak_rss_mb']:.0f} | {th['peak_rss_mb']:.0f} | "
                     f"{mb:.0f} | {ev['peak_rss_mb'] / mb:.2f} |")
        if m in SAM_VITS:
            verdicts.append((f"{m}{' ' + s if s else ''} encoder <= 0.8x PyTorch", r <= 0.8))
    if ("vit_h", None) in rows:
        ev, th, mb = rows[("vit_h", None)]
        verdicts.append(("vit_h peak RSS <= 1.3x its fp32 weights", ev["peak_rss_mb"] <= 1.3 * mb))
        ratios = [(o, rows[(o, None)]) for o in ("l0", "xl1") if (o, None) in rows]
        if ratios:
            lines += ["", "The paper's ratio, SAM-ViT-H encoder time over EfficientViT-SAM's (the paper's 48.9x "
                          "is TensorRT fp16 throughput on an A100):", ""]
            for o, (ev_o, th_o, _) in ratios:
                lines.append(f"- ViT-H / {o.upper()}: evsam {ev['encoder_s'] / ev_o['encoder_s']:.1f}x, "
                             f"PyTorch {th['encoder_s'] / th_o['encoder_s']:.1f}x")
        hgs = [(s, rows[("vit_h", s)]) for s in a.settings if ("vit_h", s) in rows]
        if hgs:
            lines += ["", "Expedit-SAM's speed-up over plain ViT-H (plain time / hourglass time, same engine):", ""]
            for s, (ev_s, th_s, _) in hgs:
                lines.append(f"- ({s.replace(',', ', ')}): evsam {ev['encoder_s'] / ev_s['encoder_s']:.2f}x, "
                             f"PyTorch {th['encoder_s'] / th_s['encoder_s']:.2f}x")
    finish_report(lines, verdicts, a.markdown)


if __name__ == "__main__":
    main()
