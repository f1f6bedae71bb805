"""Explainer cost per image: classifier passes, seconds and peak memory at batch 1, 4 and 8, as ratios
against one forward+backward pass of the classifier per image measured in the same run.

    .venv/bin/python bench/explain_speed.py [--preset default] [--batch-sizes 1,4,8] [--threads 2]

Each batch size runs in its own child process, so its peak RSS is its own. Images: data/samples/**
(scripts/fetch_samples.py); random pixels when there are none (said so). Issue 2 §6 budget for the
default preset: <= 200 classifier passes and <= 15 s per image at batch 8, peak memory <= 4 GB.
On a shared CPU, compare the ratio columns: the absolute seconds move with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def one(batch: int, preset: str, model: str, threads: int, report: bool, steps: int) -> dict:
    """Runs in a child: baseline pass cost, then one explain() call on `batch` images."""
    import torch

    from amx_core.config import get_preset
    from amx_core.explain import explain
    from amx_core.models import load_classifier
    from bench.samples import photos_or_noise

    torch.set_num_threads(threads)
    clf = load_classifier(model)
    x, source = photos_or_noise(clf, batch)
    # baseline: one forward+backward pass of the classifier per image, at this batch size
    xg = x.clone().requires_grad_(True)
    clf(xg).sum().backward()  # warm-up
    reps = 3
    t = time.perf_counter()
    for _ in range(reps):
        xg.grad = None
        clf(xg).sum().backward()
    pass_s = (time.perf_counter() - t) / reps / batch
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    cfg = get_preset(preset)
    res = explain(clf, x, config=cfg.with_(steps=steps) if steps else cfg, report=report)
    seconds = (time.perf_counter() - t) / batch
    m = res[0].metrics
    return {
        "batch": batch, "source": source, "pass_ms": 1000 * pass_s, "seconds": seconds,
        "passes": m["classifier_passes"], "report_passes": m.get("report_passes", 0), "steps": m["steps"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rss_after_load_mb": rss_before,
        "threads": torch.get_num_threads(),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="default")
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--batch-sizes", default="1,4,8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report", action="store_true", help="include the report passes (robustness, AUC, regions)")
    ap.add_argument("--steps", type=int, default=0, help="override the preset's steps (smoke runs); 0 = preset")
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(one(args.child, args.preset, args.model, args.threads, args.report, args.steps)))
        return 0

    rows = []
    for b in [int(s) for s in args.batch_sizes.split(",")]:
        cmd = [sys.executable, __file__, "--child", str(b), "--preset", args.preset, "--model", args.model,
               "--threads", str(args.threads), "--steps", str(args.steps)] + (["--report"] if args.report else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"explain speed: model {args.model}, preset {args.preset}, {rows[0]['source']}, "
          f"torch threads {rows[0]['threads']}, report {'on' if args.report else 'off'}")
    head = (f"{'batch':>5} {'steps':>5} {'passes/img':>10} {'pass ms/img':>11} {'s/img':>7} "
            f"{'s / 1 pass':>10} {'s / (passes x pass)':>19} {'peak RSS MB':>11}")
    print(head)
    print("-" * len(head))
    for r in rows:
        total = r["passes"] + (r["report_passes"] if args.report else 0)
        print(f"{r['batch']:>5} {r['steps']:>5} {total:>10} {r['pass_ms']:>11.1f} {r['seconds']:>7.2f} "
              f"{r['seconds'] / (r['pass_ms'] / 1000):>10.0f} {r['seconds'] / (total * r['pass_ms'] / 1000):>19.2f} "
              f"{r['peak_rss_mb']:>11.0f}")
    print("s / 1 pass: seconds per image in units of one fwd+bwd pass per image at that batch size (same run);\n"
          "s / (passes x pass): ~1 means the cost is the classifier passes, >1 the generator and bookkeeping.\n"
          "budget (issue 2 §6, default preset, batch 8): <= 200 passes, <= 15 s per image, peak <= 4096 MB.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
