#!/usr/bin/env python3
"""GPU throughput of evsam's CUDA backend beside upstream PyTorch, in ONE run on the same GPU
(issue 8). For every variant at its own resolution and every batch size (default 1 and 16):

  evsam strict        evsam bench --backend cuda --precision strict --batch N   (fp32, TF32 off)
  evsam fast          evsam bench --backend cuda --precision fast --batch N     (TF32)
  torch eager fp32    upstream image encoder, TF32 off for matmul and cuDNN
  torch fp16 autocast the same under torch.autocast("cuda", torch.float16)
  torch.compile       torch.compile(encoder), fp32 TF32 off, where it compiles ("failed" otherwise)

as images/s (batch / median seconds per synchronised forward). Also the decoder: PyTorch's
prompts/s for batches of 64 single-point prompts through the prompt encoder and mask decoder
(evsam's decoder has no CUDA ops yet: reported as n/a). The table compares with the paper's
A100 TensorRT fp16 numbers at batch 16 and prints which targets of issue 8 are met.

Weights: seeded random-weight checkpoints written with torch.save(model.state_dict()) from
upstream's factory (speed does not depend on the values), shared with bench/compare.py's work dir.

  python3 bench/gpu_compare.py --efficientvit-src DIR --sam-src DIR [--evsam build/bin/evsam]
      [--variants l0 l1 l2 xl0 xl1] [--batches 1 16] [--repeat 20] [--markdown OUT.md]
  --device cpu runs the PyTorch side on the CPU and skips evsam's CUDA rows: a dry run of the
  script itself on a machine without a GPU (the numbers mean nothing).
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "validation"))
import upstream  # noqa: E402
from compare import finish_report, run_json  # noqa: E402  (bench/compare.py, same folder)

PAPER_A100_TRT_FP16 = {"l0": 762, "l1": 638, "l2": 538, "xl0": 278, "xl1": 182}  # images/s, batch 16


def sync(device):
    import torch
    if device == "cuda":
        torch.cuda.synchronize()


def images_per_s(f, batch, repeat, device):
    f()
    f()  # warm-up (cuDNN autotune, allocator)
    sync(device)
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        sync(device)
        ts.append(time.perf_counter() - t)
    return batch / statistics.median(ts)


def worker_torch(a):
    import torch
    torch.manual_seed(0)
    dev = a.device
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    model = upstream.create_model(a.variant)
    model.load_state_dict(torch.load(a.ckpt, map_location="cpu"))
    model = model.to(dev).eval()
    R = model.image_size[1]
    out = {"device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu", "torch": torch.__version__}
    enc = model.image_encoder
    with torch.inference_mode():
        for b in a.batches:
            x = torch.randn(b, 3, R, R, device=dev)
            out[f"eager_fp32_b{b}"] = images_per_s(lambda: enc(x), b, a.repeat, dev)
            if dev == "cuda":
                def fp16():
                    with torch.autocast("cuda", dtype=torch.float16):
                        enc(x)
                out[f"autocast_fp16_b{b}"] = images_per_s(fp16, b, a.repeat, dev)
        try:
            compiled = torch.compile(enc)
            for b in a.batches:
                x = torch.randn(b, 3, R, R, device=dev)
                out[f"compile_fp32_b{b}"] = images_per_s(lambda: compiled(x), b, a.repeat, dev)
        except Exception as e:  # noqa: BLE001 -- reported, not hidden
            out["compile_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        # decoder: 64 single-point prompts per call on a fixed embedding
        emb = torch.randn(1, 256, 64, 64, device=dev)
        pts = torch.rand(64, 1, 2, device=dev) * 1024
        lbl = torch.ones(64, 1, device=dev, dtype=torch.int)
        pe = model.prompt_encoder.get_dense_pe()

        def decode():
            sparse, dense = model.prompt_encoder(points=(pts, lbl), boxes=None, masks=None)
            model.mask_decoder(image_embeddings=emb, image_pe=pe, sparse_prompt_embeddings=sparse,
                               dense_prompt_embeddings=dense, multimask_output=True)
        out["decoder_prompts_per_s"] = images_per_s(decode, 64, a.repeat, dev)
    print(json.dumps(out))


def checkpoint(variant, work):
    import torch
    ckpt = os.path.join(work, f"efficientvit_sam_{variant}.pt")
    if not os.path.exists(ckpt):
        torch.manual_seed(0)
        torch.save(upstream.create_model(variant).state_dict(), ckpt)
    return ckpt


def fmt(v):
    return f"{v:.1f}" if isinstance(v, (int, float)) else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    upstream.add_args(ap)
    ap.add_argument("--evsam", default=os.path.join(HERE, "..", "build", "bin", "evsam"))
    ap.add_argument("--work", default="/tmp/evsam_bench_compare")
    ap.add_argument("--variants", nargs="+", default=["l0", "l1", "l2", "xl0", "xl1"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 16])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--ckpt", help=argparse.SUPPRESS)
    a = ap.parse_args()
    upstream.setup(a.efficientvit_src, a.sam_src)
    if a.worker:
        return worker_torch(a)

    os.makedirs(a.work, exist_ok=True)
    base = [sys.executable, os.path.abspath(__file__), "--efficientvit-src", a.efficientvit_src, "--sam-src",
            a.sam_src, "--repeat", str(a.repeat), "--device", a.device, "--batches"] + [str(b) for b in a.batches]
    rows = []
    for v in a.variants:
        ckpt = checkpoint(v, a.work)
        ev = {}
        for prec in ("strict", "fast"):
            for b in a.batches:
                if a.device != "cuda":
                    ev[f"{prec}_b{b}"] = None
                    continue
                r = run_json([a.evsam, "bench", "--weights", ckpt, "--backend", "cuda", "--precision", prec, "--batch",
                              str(b), "--repeat", str(a.repeat), "--json"], allow_fail=True)
                ev[f"{prec}_b{b}"] = r.get("images_per_s", r.get("error"))
        th = run_json(base + ["--worker", "--variant", v, "--ckpt", ckpt])
        rows.append((v, ev, th))
        print(f"{v}: {json.dumps(ev)} {json.dumps(th)}", file=sys.stderr)

    dev_name = rows[0][2]["device"] if rows else "?"
    hdr = ["model", "batch", "evsam strict", "evsam fast", "torch eager fp32", "torch fp16 autocast", "torch.compile fp32",
           "paper A100 TRT fp16"]
    lines = [f"GPU: {dev_name}; torch {rows[0][2]['torch'] if rows else '?'}; images/s, median of {a.repeat} "
             "synchronised forwards after 2 warm-ups; TF32 off for PyTorch fp32.", "",
             "| " + " | ".join(hdr) + " |", "| --- " * len(hdr) + "|"]
    verdicts = []
    for v, ev, th in rows:
        for b in a.batches:
            lines.append(f"| {v} | {b} | {fmt(ev[f'strict_b{b}'])} | {fmt(ev[f'fast_b{b}'])} | "
                         f"{fmt(th.get(f'eager_fp32_b{b}'))} | {fmt(th.get(f'autocast_fp16_b{b}'))} | "
                         f"{fmt(th.get(f'compile_fp32_b{b}'))} | {PAPER_A100_TRT_FP16[v] if b == 16 else ''} |")
        if 16 in a.batches:
            s, f = ev["strict_b16"], ev["fast_b16"]
            num = lambda x: isinstance(x, (int, float))  # noqa: E731
            verdicts.append((f"{v} strict >= torch eager fp32 (b16)", num(s) and s >= th["eager_fp32_b16"]))
            verdicts.append((f"{v} fast >= paper A100 TRT fp16 (b16)", num(f) and f >= PAPER_A100_TRT_FP16[v]))
            if "autocast_fp16_b16" in th:
                verdicts.append((f"{v} fast >= torch fp16 autocast (b16)", num(f) and f >= th["autocast_fp16_b16"]))
    lines += ["", "Decoder, 64 single-point prompts per call (prompts/s): " +
              ", ".join(f"{v} torch {th['decoder_prompts_per_s']:.0f}, evsam n/a (no CUDA decoder yet)"
                        for v, ev, th in rows)]
    if rows and "compile_error" in rows[0][2]:
        lines.append(f"torch.compile: {rows[0][2]['compile_error']}")
    finish_report(lines, verdicts, a.markdown)


if __name__ == "__main__":
    main()
