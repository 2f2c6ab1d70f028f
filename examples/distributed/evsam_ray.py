#!/usr/bin/env python3
"""Spread `evsam everything` or `evsam eval-sam` over a Ray cluster, one `--shard I/N` per task, and
merge what the shards wrote into what one unsharded run writes.

  everything: every task runs `evsam everything --image IMAGES --out OUT --shard I/N ...` into the
              same OUT folder (one <name>.json or <name>/ per image, written atomically; images already
              done are skipped, so a rerun resumes). The shards' failure lists are merged into
              OUT/failures.txt. OUT must be on a file system every node sees.
  eval-sam:   every task runs `evsam eval-sam ... --shard I/N --out SHARD.json`; the driver runs
              `evsam eval-sam --merge ...` over them, which gives the unsharded run's records (in its
              order) and its mIoU, bit for bit, in --out, and prints the summary.

Everything after `--` is handed to evsam as it is (weights, model, dataset flags, output mode ...).
Each task asks Ray for --cpus-per-task CPUs and runs evsam with --threads of the same number.

  python examples/distributed/evsam_ray.py everything --evsam build/bin/evsam --images DIR --out OUT \\
      --shards 8 [--address auto] -- --weights l0.pt --output-mode coco_rle
  python examples/distributed/evsam_ray.py eval-sam --evsam build/bin/evsam --out results.json \\
      --shards 8 -- --weights l0.pt --dataset coco --image-root val2017 --annotations instances.json \\
      --prompt box

Without --address, a local cluster starts on 127.0.0.1 (no dashboard, no usage report), with
--local-cpus CPUs. With --address, the program joins that cluster (`ray start --head` on one node,
`ray start --address HEAD:6379` on the others). Needs `pip install ray`.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile


def run_shard(cmd):
    """A task: one evsam process; its exit code and the last lines of stderr come back."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return {"cmd": cmd, "code": p.returncode, "stdout": p.stdout, "stderr": p.stderr[-4000:]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 usage="%(prog)s {everything,eval-sam} [options] -- [evsam flags]")
    ap.add_argument("command", choices=["everything", "eval-sam"])
    ap.add_argument("--evsam", default="evsam", help="the evsam binary, at the same path on every node")
    ap.add_argument("--images", help="everything: the folder (or .txt list) of images")
    ap.add_argument("--out", required=True, help="everything: the output folder; eval-sam: the merged results")
    ap.add_argument("--shards", type=int, required=True, help="how many --shard slices (tasks)")
    ap.add_argument("--cpus-per-task", type=int, default=1, help="Ray CPUs per task, and evsam --threads")
    ap.add_argument("--address", help="a running cluster (e.g. auto); default: start a local one on 127.0.0.1")
    ap.add_argument("--local-cpus", type=int, default=2, help="the local cluster's CPUs (default 2)")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    a = ap.parse_args(argv[:cut])
    extra = argv[cut + 1:]  # after "--": evsam's own flags
    if a.shards < 1:
        sys.exit("evsam_ray: --shards must be >= 1")
    if a.command == "everything" and not a.images:
        sys.exit("evsam_ray: everything needs --images")

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report leaves the machine
    if not a.address:
        # Ray (2.60 measured) replaces a node IP of 127.0.0.1 with the machine's outward address, and its
        # servers then listen there, unless cluster mode is off; a one-machine cluster needs none of it.
        # With this, every Ray server listens on 127.0.0.1 only (checked with `ss -ltn`).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray
    if a.address:
        ray.init(address=a.address, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address="local", num_cpus=a.local_cpus, _node_ip_address="127.0.0.1", include_dashboard=False,
                 log_to_driver=False)
    node_ip = ray.util.get_node_ip_address()
    print(f"evsam_ray: {a.shards} shards of {a.command} on the Ray cluster at node {node_ip}", file=sys.stderr)
    task = ray.remote(num_cpus=a.cpus_per_task)(run_shard)

    evsam = os.path.abspath(a.evsam) if os.path.exists(a.evsam) else a.evsam
    threads = ["--threads", str(a.cpus_per_task)]
    tmp = tempfile.mkdtemp(prefix="evsam_ray_") if a.command == "eval-sam" else None
    cmds = []
    for i in range(a.shards):
        shard = ["--shard", f"{i}/{a.shards}"]
        if a.command == "everything":
            cmds.append([evsam, "everything", "--image", os.path.abspath(a.images), "--out", os.path.abspath(a.out)]
                        + shard + threads + extra)
        else:
            cmds.append([evsam, "eval-sam"] + extra + shard + threads + ["--out", os.path.join(tmp, f"shard{i}.json")])
    results = ray.get([task.remote(c) for c in cmds])
    ray.shutdown()

    bad = [r for r in results if r["code"] != 0]
    if a.command == "everything":
        # the shards' failure lists (failures-I-of-N.txt) become failures.txt, sorted by path: one run's
        # order for a folder (evsam takes its files in name order), not for a .txt list
        lists = sorted(glob.glob(os.path.join(a.out, f"failures-*-of-{a.shards}.txt")))
        lines = []
        for p in lists:
            with open(p) as f:
                lines += f.read().splitlines()
            os.remove(p)
        target = os.path.join(a.out, "failures.txt")
        if lines:
            with open(target + ".tmp", "w") as f:
                f.write("".join(line + "\n" for line in sorted(lines)))
            os.replace(target + ".tmp", target)
        elif os.path.exists(target):
            os.remove(target)
        for r in results:
            sys.stderr.write(r["stderr"].splitlines()[-1] + "\n" if r["stderr"] else "")
        if bad:
            sys.exit(f"evsam_ray: {len(bad)} of {a.shards} shards failed ({len(lines)} images listed in {target})")
        return
    if bad:
        for r in bad:
            sys.stderr.write(" ".join(r["cmd"]) + "\n" + r["stderr"])
        sys.exit(f"evsam_ray: {len(bad)} of {a.shards} shards failed")
    merge = [evsam, "eval-sam", "--out", a.out, "--json"]
    for i in range(a.shards):
        merge += ["--merge", os.path.join(tmp, f"shard{i}.json")]
    p = subprocess.run(merge, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(p.stderr)
    if p.returncode != 0:
        sys.exit(p.returncode)
    sys.stdout.write(p.stdout)
    for i in range(a.shards):
        os.remove(os.path.join(tmp, f"shard{i}.json"))
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
