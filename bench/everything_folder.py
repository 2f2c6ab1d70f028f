#!/usr/bin/env python3
"""Dataset-scale segment-everything throughput (issue 17): `evsam everything --image DIR` over a
folder of N images (default 20), in three layouts measured in the same run:

  one process, --threads T (default 2)              : the model loaded once, T threads per image
  T processes side by side, --threads 1 --shard i/T : each loads the model, one thread each
  a loop of single-image runs (baseline)            : the model loaded again for every image

and prints images/s for each, plus folder mode's own per-image overhead (image decode, output write,
bookkeeping: everything but the generator, from the summary evsam prints) as a share of the per-image
time. The images are crops, flips and rescales of --image (default the bundled sample), so every one
differs. Weights: --weights CKPT, or --efficientvit-src/--sam-src to write a seeded random-weight
checkpoint of --variant with upstream's factory (as bench/compare.py does).

  /work/venv/bin/python bench/everything_folder.py --evsam build/bin/evsam --weights l0.pt [--images 20]
Needs Pillow (and torch for a random checkpoint).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def make_images(src, n, out):
    from PIL import Image, ImageOps
    im = Image.open(src).convert("RGB")
    W, H = im.size
    os.makedirs(out)
    for i in range(n):
        s = 0.55 + 0.45 * ((i * 7) % 10) / 9  # crop scale
        cw, ch = int(W * s), int(H * s)
        x0, y0 = (i * 37) % (W - cw + 1), (i * 53) % (H - ch + 1)
        c = im.crop((x0, y0, x0 + cw, y0 + ch))
        if i % 2:
            c = ImageOps.mirror(c)
        if i % 3 == 1:
            c = c.resize((int(cw * 0.8), int(ch * 0.8)), Image.BILINEAR)
        c.save(os.path.join(out, f"img{i:03d}.png"))


def timed(cmds, env):
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for c in cmds]
    outs = [p.communicate() for p in procs]
    wall = time.perf_counter() - t0
    for p, (o, e) in zip(procs, outs):
        if p.returncode != 0:
            sys.exit(f"failed: {' '.join(p.args)}\n{e}")
    return wall, [e for _, e in outs]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--evsam", default=os.path.join(REPO, "build", "bin", "evsam"))
    ap.add_argument("--weights", help="checkpoint (default: a random-weight --variant from upstream's factory)")
    ap.add_argument("--variant", default="l0")
    ap.add_argument("--efficientvit-src", default=os.environ.get("EFFICIENTVIT_SRC"))
    ap.add_argument("--sam-src", default=os.environ.get("SAM_SRC"))
    ap.add_argument("--image", default=os.path.join(REPO, "examples", "data", "chelsea.png"))
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--output-mode", default="coco_rle")
    ap.add_argument("--no-single", action="store_true", help="skip the single-image loop")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="evsam_folder_bench_")
    try:
        weights = a.weights
        if not weights:
            sys.path.insert(0, os.path.join(REPO, "validation"))
            import upstream
            import torch
            upstream.setup(a.efficientvit_src, a.sam_src)
            torch.manual_seed(0)
            weights = os.path.join(work, f"{a.variant}.pt")
            torch.save(upstream.create_model(a.variant).state_dict(), weights)
        images = os.path.join(work, "images")
        make_images(a.image, a.images, images)
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
        base = [a.evsam, "everything", "--weights", weights, "--output-mode", a.output_mode]

        one, errs = timed([base + ["--image", images, "--out", os.path.join(work, "one"), "--threads",
                                   str(a.threads)]], env)
        m = re.search(r"model load ([\d.]+) s; per image ([\d.]+) s \(decode ([\d.]+), generate ([\d.]+), "
                      r"write ([\d.]+); overhead ([\d.]+)%\)", errs[0])
        shards, _ = timed([base + ["--image", images, "--out", os.path.join(work, "shards"), "--threads", "1",
                                   "--shard", f"{i}/{a.threads}"] for i in range(a.threads)], env)
        rows = [(f"one process, {a.threads} threads", one), (f"{a.threads} shards side by side, 1 thread each", shards)]
        if not a.no_single:
            names = sorted(os.listdir(images))
            single = 0.0
            for n in names:
                w, _ = timed([base + ["--image", os.path.join(images, n), "--out",
                                      os.path.join(work, "single_" + n + ".json"), "--threads", str(a.threads)]], env)
                single += w
            rows.append((f"single-image runs in a loop, {a.threads} threads (model loaded per image)", single))
        print(f"evsam everything over {a.images} images ({os.path.basename(weights)}, --output-mode {a.output_mode}, "
              f"{os.cpu_count()} CPUs)\n")
        print("| layout | wall (s) | images/s |\n| --- | --- | --- |")
        for name, w in rows:
            print(f"| {name} | {w:.2f} | {a.images / w:.3f} |")
        if m:
            print(f"\nfolder mode, one process: model load {m[1]} s once; per image {m[2]} s = decode {m[3]} + "
                  f"generate {m[4]} + write {m[5]}; per-image overhead (all but the generator) {m[6]} % of the "
                  "per-image time")
        best = min(rows[:2], key=lambda r: r[1])
        print(f"\nfaster layout for big runs: {best[0]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
