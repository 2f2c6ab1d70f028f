#!/usr/bin/env python3
"""EfficientViT's ImageNet classifiers and Cityscapes / ADE20K segmenters: evsam beside upstream
PyTorch, in ONE run on the same machine and the same thread count (issue 16, part 5).

Rows: every architecture of upstream's two zoos (cls_model_zoo.py, seg_model_zoo.py), or --models;
each at its evaluation input size: classifiers at the zoo's smallest resolution (224; --cls-res R to
change it), Cityscapes segmenters at 1024 x 2048, ADE20K segmenters at 512 x 512 (a square image's
size). Reported: the median forward time of --repeat timed runs after one warm-up (`evsam bench`;
model(x) under torch.inference_mode()), evsam / PyTorch (the target: <= 0.8 at 2 threads), and each
side's peak resident memory (each side and row in its own process).

Weights: seeded random-weight checkpoints from upstream's own factories, written with
torch.save(model.state_dict()) as the official files were; speed does not depend on the values.
Takes about 15 minutes at 2 threads for all 18 models (the big Cityscapes ones take ~10 s a pass).

  venv/bin/python bench/compare_cls_seg.py --efficientvit-src DIR --sam-src DIR
      [--evsam build/bin/evsam] [--threads 2] [--repeat 3] [--models b1 cls-l2 seg-b1-cityscapes ...]
      [--cls-res 224] [--markdown OUT.md]
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

CLS = ["b0", "b1", "b2", "b3", "cls-l1", "cls-l2", "cls-l3"]
SEG = [f"seg-{v}-cityscapes" for v in ("b0", "b1", "b2", "b3", "l1", "l2")] + \
      [f"seg-{v}-ade20k" for v in ("b1", "b2", "b3", "l1", "l2")]


def zoo_name(m):
    return "efficientvit-" + (m[4:] if m.startswith("cls-") else m)


def build(m):
    if m in CLS:
        from efficientvit.cls_model_zoo import create_efficientvit_cls_model
        return create_efficientvit_cls_model(zoo_name(m), pretrained=False).eval()
    from efficientvit.seg_model_zoo import create_efficientvit_seg_model
    return create_efficientvit_seg_model(zoo_name(m), pretrained=False).eval()


def input_shape(m, cls_res):
    if m in CLS:
        return [1, 3, cls_res, cls_res]
    return [1, 3, 1024, 2048] if m.endswith("cityscapes") else [1, 3, 512, 512]


def prepare(m, work):
    import torch
    path = os.path.join(work, f"{m}.pt")
    if not os.path.exists(path):
        torch.manual_seed(0)
        torch.save(build(m).state_dict(), path)
    sd = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    return path, sum(t.numel() * 4 for t in sd.values()) / 2 ** 20


def worker(a):
    import json
    import torch
    torch.set_num_threads(a.threads)
    model = build(a.model)
    model.load_state_dict(torch.load(a.ckpt, map_location="cpu", mmap=True, weights_only=True))
    x = torch.randn(*input_shape(a.model, a.cls_res), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        t = median_time(lambda: model(x), a.repeat)
    print(json.dumps({"forward_s": t, "peak_rss_mb": peak_rss_mb(), "torch": torch.__version__}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    ap.add_argument("--evsam", default=os.path.join(HERE, "..", "build", "bin", "evsam"))
    ap.add_argument("--work", default="/tmp/evsam_bench_compare_cls_seg")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per row after one warm-up")
    ap.add_argument("--models", nargs="+", default=CLS + SEG, choices=CLS + SEG)
    ap.add_argument("--cls-res", type=int, default=224, help="classifiers' input resolution")
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--ckpt", help=argparse.SUPPRESS)
    a = ap.parse_args()
    upstream.setup(a.efficientvit_src, a.sam_src)
    if a.worker:
        return worker(a)
    os.makedirs(a.work, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    base = [sys.executable, os.path.abspath(__file__), "--efficientvit-src", a.efficientvit_src, "--sam-src",
            a.sam_src, "--threads", str(a.threads), "--repeat", str(a.repeat), "--cls-res", str(a.cls_res),
            "--worker"]
    rows = {}
    for m in a.models:
        ckpt, mb = prepare(m, a.work)
        res = ["--resolution", str(a.cls_res)] if m in CLS else []
        ev = run_json([a.evsam, "bench", "--weights", ckpt, "--model", m, "--threads", str(a.threads), "--repeat",
                       str(a.repeat), "--json"] + res, env)
        th = run_json(base + ["--model", m, "--ckpt", ckpt], env)
        rows[m] = (ev, th, mb)
        print(f"{m}: evsam {ev['forward_s']:.4f}s ({ev['peak_rss_mb']:.0f} MB)  torch {th['forward_s']:.4f}s "
              f"({th['peak_rss_mb']:.0f} MB)  ratio {ev['forward_s'] / th['forward_s']:.2f}", file=sys.stderr,
              flush=True)
    torch_version = next(iter(rows.values()))[1]["torch"]
    lines = [f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible; threads "
             f"{a.threads}; median of {a.repeat} timed runs after one warm-up; torch {torch_version}.", "",
             "| model | input | evsam s | PyTorch s | evsam / PyTorch | evsam peak MB | PyTorch peak MB | weights MB |",
             "| --- " * 8 + "|"]
    verdicts = []
    for m, (ev, th, mb) in rows.items():
        r = ev["forward_s"] / th["forward_s"]
        shape = "x".join(str(v) for v in input_shape(m, a.cls_res)[2:])
        lines.append(f"| {m} | {shape} | {ev['forward_s']:.4f} | {th['forward_s']:.4f} | {r:.2f} | "
                     f"{ev['peak_rss_mb']:.0f} | {th['peak_rss_mb']:.0f} | {mb:.0f} |")
        verdicts.append((f"{m} <= 0.8x PyTorch", r <= 0.8))
    finish_report(lines, verdicts, a.markdown)


if __name__ == "__main__":
    main()
