"""Sufficiency curves of read-out circuits against random circuits of the same per-layer size, on the
sample photos with efficientnet_lite0; edge fidelity (do edge weights predict what ablating their source
does?) for each ingress mode; original-vs-explanation circuit overlap.

    .venv/bin/python bench/circuit_sufficiency.py                       # everything, explanations if available
    .venv/bin/python bench/circuit_sufficiency.py --explain off --limit 8 --ks 16,64,256
    .venv/bin/python bench/circuit_sufficiency.py --ks 64,128,256,512 --threads 1 --masks /tmp/masks.pt

`--masks FILE` keeps the explanations: computed and written on the first run, read on the next (when the
images, model and preset match), so runs before and after a readout change test the same masks.

The issue's target: at the smallest k where circuits keep top-1 on >= 80% of images, random circuits of
the same size keep it on <= 20%. k is channels per tapped layer, capped at each layer's width
(efficientnet_lite0 taps: 32, 144, 240, 672, 1280 channels). Ablation `zero` replaces ablated channels
by 0; `mean` by the per-channel mean over all sample photos (not the image's own mean, which would hand
the global-pool head the clean statistics of every ablated final channel).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amx_core.circuit import edge_jaccard, node_jaccard  # noqa: E402
from amx_core.models import load_classifier  # noqa: E402
from amx_core.readout import (  # noqa: E402
    ReadoutConfig,
    dataset_reference,
    edge_fidelity,
    read_circuit,
    sufficiency_curve,
)
from bench.samples import MISSING, add_split_argument, load_photos, sample_paths, split_arg  # noqa: E402


def parse_configs(text: str) -> list[tuple[str, ReadoutConfig]]:
    out = []
    for item in text.split(","):
        selection, ingress = item.split(":")
        out.append((item, ReadoutConfig(selection=selection, ingress=ingress)))
    return out


def load_explainer():
    try:
        from amx_core.explain import explain

        return explain
    except Exception as exc:  # absent or broken: run the original-image part only
        return exc


def summarise(curves: list[dict], ks: list[int]) -> dict:
    n = len(curves)
    circ = [sum(c["circuit_top1"][i] for c in curves) / n for i in range(len(ks))]
    rand = [sum(c["random_top1"][i] for c in curves) / n for i in range(len(ks))]
    frac = [sum(c["circuit_logit_frac"][i] for c in curves) / n for i in range(len(ks))]
    rfrac = [sum(c["random_logit_frac"][i] for c in curves) / n for i in range(len(ks))]
    k80 = next((i for i, v in enumerate(circ) if v >= 0.8), None)
    return {"n": n, "k": ks, "circuit_top1": circ, "random_top1": rand, "circuit_logit_frac": frac,
            "random_logit_frac": rfrac, "k80": None if k80 is None else ks[k80],
            "random_at_k80": None if k80 is None else rand[k80],
            "target_met": k80 is not None and rand[k80] <= 0.2}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--ks", default="4,8,16,32,64,128,256,512")
    ap.add_argument("--configs", default="activation:signed,flow:weights,flow:gated,flow:signed,flow:gradient",
                    help="selection:ingress pairs for the curves (with activation selection the ingress mode "
                    "changes edges only, not the nodes these curves test)")
    ap.add_argument("--modes", default="zero,mean")
    ap.add_argument("--n-random", type=int, default=5)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--explain", default="auto", choices=("auto", "off"))
    ap.add_argument("--preset", default="default")
    ap.add_argument("--fidelity", default="weights,gated,signed,gradient", help="ingress modes for the edge check")
    ap.add_argument("--json", default="", help="write all numbers here")
    ap.add_argument("--masks", default="", help="cache of the explanations (torch file): read if it exists "
                    "and matches the images and preset, else written; makes before/after runs comparable")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    add_split_argument(ap)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ks = [int(k) for k in args.ks.split(",")]
    configs = parse_configs(args.configs)
    modes = args.modes.split(",")

    paths = sample_paths(limit=args.limit, split=split_arg(args.split))
    if not paths:
        print(f"{MISSING}. Nothing measured.")
        return 1
    clf = load_classifier(args.model)
    images = list(load_photos(clf, paths))
    print(f"{args.model}, {len(images)} photos from data/samples, ks {ks}, {args.n_random} random draws, "
          f"torch threads {torch.get_num_threads()}")
    reference = dataset_reference(clf, images)
    record: dict = {"images": [str(p.relative_to(ROOT)) for p in paths], "ks": ks, "results": {}}

    # explanations (the explainer is imported only when asked for)
    masks, targets = [None] * len(images), [None] * len(images)
    explainer = load_explainer() if args.explain == "auto" else None
    cache = Path(args.masks) if args.masks else None
    key = {"images": record["images"], "preset": args.preset, "model": args.model}
    record["split"] = args.split
    cached = torch.load(cache) if cache is not None and cache.exists() and args.explain == "auto" else None
    if cached is not None and cached.get("key") == key:
        masks, targets = list(cached["masks"]), list(cached["targets"])
        areas = [float(m.float().mean()) for m in masks]
        print(f"explanations ({args.preset}) from {cache}: mask area mean {sum(areas) / len(areas):.3f}")
        record["mask_area"] = areas
    elif callable(explainer):
        t = time.perf_counter()
        for lo in range(0, len(images), 4):
            batch = torch.stack(images[lo: lo + 4])
            for j, ex in enumerate(explainer(clf, batch, config=args.preset, report=False)):
                masks[lo + j], targets[lo + j] = ex.mask, int(ex.target)
        secs = time.perf_counter() - t
        areas = [float(m.float().mean()) for m in masks]
        print(f"explanations ({args.preset}): {secs / len(images):.1f} s/image, mask area mean "
              f"{sum(areas) / len(areas):.3f}")
        record["mask_area"] = areas
        if cache is not None:
            torch.save({"key": key, "masks": masks, "targets": targets}, cache)
    elif args.explain == "auto":
        print(f"explainer not available ({explainer!r}): original-image circuits only")

    # edge fidelity per ingress mode (flow selection, k = 16)
    if args.fidelity:
        print("\nedge fidelity (flow selection, k=16): Spearman(edge weight, |effect of ablating the source "
              "on the target|)")
        for ingress in args.fidelity.split(","):
            cfg = ReadoutConfig(selection="flow", ingress=ingress)
            t = time.perf_counter()
            fids = [edge_fidelity(clf, x, read_circuit(clf, x, config=cfg)) for x in images]
            secs = (time.perf_counter() - t) / len(images)
            avg = {k: sum(f[k] for f in fids) / len(fids) for k in fids[0]}
            record["results"][f"fidelity/{ingress}"] = avg
            print(f"  {ingress:9} per-target {avg['edge_spearman_target']:+.3f}  per-pair "
                  f"{avg['edge_spearman_pair']:+.3f}  heaviest-edge-is-top-effect {avg['edge_top_hit']:.2f}"
                  f"  ({secs:.1f} s/image incl. the check)")

    # sufficiency curves
    kinds = [("original", None)]
    if any(m is not None for m in masks):
        kinds.append(("explanation", masks))
    for kind, kmasks in kinds:
        for name, cfg in configs:
            for mode in modes:
                ref = reference if mode == "mean" else None
                t = time.perf_counter()
                curves = []
                for i, x in enumerate(images):
                    if kind == "explanation" and kmasks[i] is None:
                        continue
                    m = None if kind == "original" else kmasks[i]
                    cls = None if kind == "original" else targets[i]
                    curves.append(sufficiency_curve(clf, x, m, ks=ks, config=cfg, mode=mode, reference=ref,
                                                    n_random=args.n_random, class_index=cls))
                s = summarise(curves, ks)
                s["seconds_per_image"] = (time.perf_counter() - t) / max(len(curves), 1)
                record["results"][f"{kind}/{name}/{mode}"] = s
                verdict = ("target MET" if s["target_met"] else "target not met") + (
                    f": k={s['k80']} keeps {s['circuit_top1'][ks.index(s['k80'])]:.0%}, random "
                    f"{s['random_at_k80']:.0%}" if s["k80"] else ": circuits never reach 80%")
                print(f"\n{kind:11} {name:18} ablation={mode:4} ({s['seconds_per_image']:.1f} s/image)  {verdict}")
                print("  k            " + " ".join(f"{k:>6}" for k in ks))
                print("  circuit top1 " + " ".join(f"{v:6.2f}" for v in s["circuit_top1"]))
                print("  random top1  " + " ".join(f"{v:6.2f}" for v in s["random_top1"]))
                print("  circuit frac " + " ".join(f"{v:6.2f}" for v in s["circuit_logit_frac"]))
                print("  random frac  " + " ".join(f"{v:6.2f}" for v in s["random_logit_frac"]))

    # overlap of original and explanation circuits
    if any(m is not None for m in masks):
        print("\noverlap original vs explanation circuits (k=16, same class):")
        for name, cfg in configs:
            ej, nj = [], []
            for x, m, cls in zip(images, masks, targets, strict=True):
                if m is None:
                    continue
                a = read_circuit(clf, x, config=cfg, class_index=cls)
                b = read_circuit(clf, x, m, config=cfg, class_index=cls)
                ej.append(edge_jaccard(a, b))
                nj.append(node_jaccard(a, b))
            record["results"][f"overlap/{name}"] = {"edge_jaccard": sum(ej) / len(ej), "node_jaccard": sum(nj) / len(nj)}
            print(f"  {name:18} edge Jaccard {sum(ej) / len(ej):.3f}  node Jaccard {sum(nj) / len(nj):.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
