"""Explanation quality on the sample photos: label kept by the binary mask, mask area, robustness over
random backgrounds outside the mask, per preset.

    .venv/bin/python bench/explain_quality.py [--preset default,compact] [--limit N] [--batch-size 8]

Targets are the classifier's own top-1 on each photo (not the folder name). Issue 2 §6 targets with
efficientnet_lite0: default: label kept >= 95%, median area <= 10%, median robustness >= 90%;
most compact preset: median area <= 5% with the label kept on >= 90%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amx_bench.sufficiency import minimal_sufficient_area  # noqa: E402
from amx_core.config import PRESETS, get_preset  # noqa: E402
from amx_core.explain import explain  # noqa: E402
from amx_core.models import imagenet_classes, load_classifier  # noqa: E402
from bench.samples import load_photos, sample_paths  # noqa: E402


def overrides(pairs: list[str]) -> dict:
    """FIELD=VALUE strings -> config changes, each value parsed as a Python literal when it is one."""
    import ast

    out = {}
    for pair in pairs:
        field, _, value = pair.partition("=")
        try:
            out[field] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[field] = value
    return out


def gradcam_msa(clf, pixels, targets) -> list[float]:
    """Grad-CAM's minimal sufficient area per photo: the same-run baseline of issue 6's MSA target."""
    from amx_bench.methods import run_method

    return [minimal_sufficient_area(clf, x, run_method("gradcam", clf, x, t).saliency, t,
                                    baseline=clf.baseline).area for x, t in zip(pixels, targets, strict=True)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="default,compact", help=f"comma-separated, from {', '.join(PRESETS)}")
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--images", default=str(ROOT / "data" / "samples"))
    ap.add_argument("--limit", type=int, default=0, help="first N photos (sorted by path); 0 = all")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-image", action="store_true", help="print one row per image")
    ap.add_argument("--json", help="write every image's metrics here")
    ap.add_argument("--msa", action="store_true",
                    help="also the minimal sufficient area of each ranking (amx-bench's metric), Grad-CAM's beside it")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a config field for every preset (repeatable), e.g. --set steps=60")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = sample_paths(args.images, args.limit)
    if not paths:
        print(f"no photos under {args.images}: run scripts/fetch_samples.py", file=sys.stderr)
        return 1
    clf = load_classifier(args.model)
    names = imagenet_classes()
    pixels = load_photos(clf, paths)
    presets = [s.strip() for s in args.preset.split(",") if s.strip()]
    summary, dump = [], {}
    for name in presets:
        cfg = get_preset(name).with_(seed=args.seed, **overrides(args.set))
        rows = []
        t = time.perf_counter()
        for i in range(0, len(paths), args.batch_size):
            rows += explain(clf, pixels[i : i + args.batch_size], config=cfg)
        seconds = (time.perf_counter() - t) / len(paths)
        ms = [r.metrics for r in rows]
        if args.msa:
            for r in rows:
                r.metrics["msa"] = minimal_sufficient_area(clf, r.pixels, r.rank_map, r.target,
                                                           baseline=clf.baseline).area
        if args.per_image:
            for p, m in zip(paths, ms, strict=True):
                print(f"  {name:8s} {p.parent.name + '/' + p.name:48.48s} {names[m['target']][:18]:18s} "
                      f"kept={int(m['label_kept'])} area={m['mask_area']:.3f} rob={m['robustness']:.2f} "
                      f"p_x={m['confidence_x']:.2f} p_e={m['confidence_e']:.2f}"
                      + (f" msa={m['msa']:.3f}" if args.msa else ""))
        summary.append({
            "preset": name, "n": len(ms),
            "kept": sum(m["label_kept"] for m in ms) / len(ms),
            "median_area": statistics.median(m["mask_area"] for m in ms),
            "median_robustness": statistics.median(m["robustness"] for m in ms),
            "median_del": statistics.median(m["deletion_auc"] for m in ms),
            "median_ins": statistics.median(m["insertion_auc"] for m in ms),
            "passes": statistics.median(m["classifier_passes"] for m in ms),
            "seconds": seconds,
            "median_msa": statistics.median(m["msa"] for m in ms) if args.msa else None,
        })
        dump[name] = [{"path": str(p)} | {k: v for k, v in m.items()} for p, m in zip(paths, ms, strict=True)]
    print(f"overrides: {overrides(args.set) or 'none'}")
    print(f"explain quality: model {args.model}, {len(paths)} photos from {args.images}, seed {args.seed}, "
          f"batch {args.batch_size}, torch threads {torch.get_num_threads()}")
    head = (f"{'preset':8s} {'n':>3} {'label kept':>10} {'median area':>11} {'median robust':>13} "
            f"{'del AUC':>7} {'ins AUC':>7} {'passes/img':>10} {'s/img':>6}")
    print(head)
    print("-" * len(head))
    for s in summary:
        print(f"{s['preset']:8s} {s['n']:>3} {100 * s['kept']:>9.0f}% {100 * s['median_area']:>10.1f}% "
              f"{100 * s['median_robustness']:>12.0f}% {s['median_del']:>7.3f} {s['median_ins']:>7.3f} "
              f"{s['passes']:>10.0f} {s['seconds']:>6.1f}")
    if args.msa:
        gradcam = gradcam_msa(clf, pixels, [r["target"] for r in dump[presets[0]]])
        for s in summary:
            print(f"median minimal sufficient area: {s['preset']} {100 * s['median_msa']:.1f}%, "
                  f"Grad-CAM {100 * statistics.median(gradcam):.1f}% (same photos, same targets)")
    print("targets: default kept >= 95%, median area <= 10%, median robustness >= 90%; "
          "compact median area <= 5% with kept >= 90%")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "images": dump}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
