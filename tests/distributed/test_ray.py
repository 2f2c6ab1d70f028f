#!/usr/bin/env python3
"""examples/distributed/evsam_ray.py on a local Ray cluster with 2 workers, bound to 127.0.0.1 (no
dashboard, no usage report): the merged result equals one unsharded run, byte for byte.

  everything: a folder of 5 images (one broken) as 3 shards -> the same files as one
              `evsam everything --image DIR` run, and the same failures.txt;
  eval-sam:   the tiny LVIS set, point prompts with 2 clicks, as 2 shards -> the same --out file
              and the same mIoU line as one unsharded run.

Exit 5 (skipped) when `import ray` fails: Debian has no ray; .ci/distributed.sh installs it from
PyPI in a venv and runs this. EVSAM_BIN_DIR (default build/bin) names the evsam binary's folder.
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.environ.get("EVSAM_TEST_DATA", os.path.join(REPO, "tests", "data"))
EVSAM = os.path.join(os.environ.get("EVSAM_BIN_DIR", os.path.join(REPO, "build", "bin")), "evsam")
TINY = os.path.join(DATA, "tiny", "tiny_l")
MODEL = ["--weights", os.path.join(TINY, "model.pt"), "--config", os.path.join(TINY, "config.json")]
RAY = [sys.executable, os.path.join(REPO, "examples", "distributed", "evsam_ray.py")]


def tree(d):
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = fh.read()
    return out


def run(cmd, ok=True):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if ok and p.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)}\n{p.stderr}")
    return p


def main():
    try:
        import ray  # noqa: F401
    except ImportError:
        print("skipped: ray is not installed (pip install ray; .ci/distributed.sh)")
        sys.exit(5)
    if not os.access(EVSAM, os.X_OK):
        sys.exit(f"no evsam binary at {EVSAM}")
    tmp = tempfile.mkdtemp(prefix="evsam_ray_test_")
    try:
        images = os.path.join(tmp, "images")
        os.makedirs(images)
        for i, src in enumerate(["tiny_l/amg/image_a.png", "tiny_l/amg/image_c.png", "../eval_sam/images/000000000101.png",
                                 "../eval_sam/images/000000000103.png"]):
            shutil.copy(os.path.join(DATA, "tiny", src), os.path.join(images, f"img{i}.png"))
        with open(os.path.join(images, "img9.png"), "w") as f:
            f.write("not a png")
        amg = ["--points-per-side", "4", "--points-per-batch", "8", "--pred-iou-thresh", "0",
               "--stability-score-thresh", "0.5", "--output-mode", "coco_rle"] + MODEL
        whole, dist = os.path.join(tmp, "whole"), os.path.join(tmp, "dist")
        p = run([EVSAM, "everything", "--image", images, "--out", whole, "--threads", "2"] + amg, ok=False)
        assert p.returncode != 0 and "img9.png" in p.stderr, p.stderr
        p = run(RAY + ["everything", "--evsam", EVSAM, "--images", images, "--out", dist, "--shards", "3",
                       "--local-cpus", "2", "--"] + amg, ok=False)
        assert p.returncode != 0 and "1 of 3 shards failed" in p.stderr, p.stderr
        assert "on the Ray cluster at node 127.0.0.1" in p.stderr, p.stderr  # loopback only
        a, b = tree(whole), tree(dist)
        assert sorted(a) == sorted(b), (sorted(a), sorted(b))
        for k in a:
            assert a[k] == b[k], f"everything: {k} differs between the unsharded run and Ray's shards"
        print(f"everything: {len(a)} files identical ({', '.join(sorted(a))})")

        ev = ["--dataset", "lvis", "--image-root", os.path.join(DATA, "eval_sam"), "--annotations",
              os.path.join(DATA, "eval_sam", "lvis.json"), "--prompt", "point", "--num-click", "2"] + MODEL
        one, merged = os.path.join(tmp, "one.json"), os.path.join(tmp, "merged.json")
        p1 = run([EVSAM, "eval-sam", "--out", one, "--json", "--threads", "2"] + ev)
        p2 = run(RAY + ["eval-sam", "--evsam", EVSAM, "--out", merged, "--shards", "2", "--local-cpus", "2", "--"] + ev)
        with open(one, "rb") as f1, open(merged, "rb") as f2:
            assert f1.read() == f2.read(), "eval-sam: the merged shards differ from the unsharded run"
        last = lambda s: s.strip().splitlines()[-1]
        assert last(p1.stdout) == last(p2.stdout), (p1.stdout, p2.stdout)
        print("eval-sam: merged records and mIoU identical:", last(p2.stdout))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
