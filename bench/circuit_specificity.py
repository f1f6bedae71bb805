"""Do circuits carry the class? Within-class against across-class similarity of circuits, and
leave-one-out nearest-class accuracy, for each readout mode, on every sample class with enough photos.

    .venv/bin/python bench/circuit_specificity.py                                   # default modes
    .venv/bin/python bench/circuit_specificity.py --modes "activation;selection=attribution,edge_share=0.6"
    .venv/bin/python bench/circuit_specificity.py --split validation --min-per-class 3

A mode is `NAME` or `NAME:field=value,field=value` (fields of ReadoutConfig); `;` separates modes.
Per mode and circuit kind (original, explanation) it prints:
- edge / node Jaccard within a class and across classes (mean over image pairs) and their ratio;
- leave-one-out nearest class (each image is given the class whose other images its circuit resembles
  most on average), with plain Jaccard and with a weighted Jaccard that discounts generic elements
  (each edge or node weighted by log(N/df) over the other images: an element every image holds weighs 0;
  the channel version is the similarity of the `similar_images` query);
- the same per layer pair (edges into each tapped layer), to show where the class lives;
- the overlap (Jaccard) of two classes' shared edge sets (edges held by >= 2/3 of a class's images);
- distinctive pathways: for each class, its 20 two-hop pathways with the highest log-odds against the
  other classes, and the share of other classes' images that hold them (the target is <= 10%).
Explanations are computed once per photo and preset and kept in `--masks` (default under out/bench/).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amx_core.models import load_classifier  # noqa: E402
from amx_core.readout import ReadoutConfig, read_circuit  # noqa: E402
from bench.samples import MISSING, SAMPLES, load_photos, sample_paths, split_of  # noqa: E402

DEFAULT_MODES = ("paper:selection=activation,ingress=signed;"
                 "flow:selection=flow,ingress=signed;"
                 "default")


def parse_modes(text: str) -> list[tuple[str, ReadoutConfig]]:
    out = []
    for item in filter(None, (s.strip() for s in text.split(";"))):
        name, _, body = item.partition(":")
        kw = {}
        for pair in filter(None, body.split(",")):
            key, _, raw = pair.partition("=")
            field_type = type(getattr(ReadoutConfig(), key))
            kw[key] = None if raw == "none" else (raw if field_type is str else (float(raw) if "." in raw else int(raw)))
        out.append((name, ReadoutConfig(**kw)))
    return out


def single_class_folders(root: Path) -> set[str] | None:
    """Folders whose photos are all of one ImageNet class (the manifest's imagenet_class), as one
    `amx-ingest --class` run would be given; None when there is no fetcher manifest."""
    try:
        folders = json.loads((root / "manifest.json").read_text())["folders"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {name for name, f in folders.items() if f.get("imagenet_class")}


def class_folders(root: Path, min_per_class: int, split: str, groups_rule: str = "single") -> dict[str, list[Path]]:
    """Class -> photos: one class per sample folder with >= `min_per_class` photos of `split`; with
    `groups_rule` "single", only folders of one ImageNet class (mixed folders such as "bird" hold several)."""
    keep = single_class_folders(root) if groups_rule == "single" else None
    groups: dict[str, list[Path]] = defaultdict(list)
    for p in sample_paths(root):
        if (split == "all" or split_of(p) == split) and (keep is None or p.parent.name in keep):
            groups[p.parent.name].append(p)
    return {c: ps for c, ps in sorted(groups.items()) if len(ps) >= min_per_class}


def explanations(clf, paths: list[Path], pixels: torch.Tensor, preset: str, cache: Path) -> list[torch.Tensor]:
    """Binary masks per photo (the top-1 class explained), cached by photo bytes, model and preset."""
    from amx_core.explain import explain

    key = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()[:16] + f"-{clf.spec.name}-{preset}"  # noqa: E731
    store = torch.load(cache) if cache.exists() else {}
    todo = [i for i, p in enumerate(paths) if key(p) not in store]
    if todo:
        print(f"explaining {len(todo)} photos with preset {preset} ...", file=sys.stderr)
        for i in todo:  # one at a time: a photo's mask does not depend on the others in this bench
            ex = explain(clf, pixels[i:i + 1], config=preset, report=False)[0]
            store[key(paths[i])] = ex.mask.cpu()
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save(store, cache)
    return [store[key(p)] for p in paths]


def jaccard(a: set, b: set) -> float:
    u = a | b
    return len(a & b) / len(u) if u else 1.0


def weighted_jaccard(a: set, b: set, w: dict) -> float:
    num = sum(w.get(e, 0.0) for e in a & b)
    den = sum(w.get(e, 0.0) for e in a | b)
    return num / den if den > 0 else 0.0


def idf(sets: list[set]) -> dict:
    n = len(sets)
    df = Counter(e for s in sets for e in s)
    return {e: math.log(n / d) for e, d in df.items()}


def within_across(sets: list[set], labels: list[str]) -> tuple[float, float]:
    within, across = [], []
    for i, j in combinations(range(len(sets)), 2):
        (within if labels[i] == labels[j] else across).append(jaccard(sets[i], sets[j]))
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
    return mean(within), mean(across)


def loo_accuracy(sets: list[set], labels: list[str], weighted: bool) -> float:
    """Each image gets the class whose other images its set resembles most on average."""
    hits = 0
    for i in range(len(sets)):
        others = [j for j in range(len(sets)) if j != i]
        w = idf([sets[j] for j in others]) if weighted else None
        score: dict[str, list[float]] = defaultdict(list)
        for j in others:
            s = weighted_jaccard(sets[i], sets[j], w) if weighted else jaccard(sets[i], sets[j])
            score[labels[j]].append(s)
        best = max(score, key=lambda c: (sum(score[c]) / len(score[c]), c))
        hits += best == labels[i]
    return hits / len(sets)


def pathways(circuit) -> set[tuple[str, str, str]]:
    into: dict[str, list[str]] = defaultdict(list)
    for e in circuit.edges:
        into[e.dst].append(e.src)
    return {(a, b, c) for e in circuit.edges for b, c in [(e.src, e.dst)] for a in into.get(b, [])}


def distinctive_share(paths: list[set], labels: list[str], top: int = 20, prior: float = 0.5) -> dict[str, float]:
    """Per class: its `top` pathways by log-odds (class images holding it vs other images, with a prior),
    and the mean share of OTHER classes' images that hold them."""
    out = {}
    for cls in sorted(set(labels)):
        inside = [p for p, lab in zip(paths, labels, strict=True) if lab == cls]
        outside = [p for p, lab in zip(paths, labels, strict=True) if lab != cls]
        cin = Counter(e for p in inside for e in p)
        cout = Counter(e for p in outside for e in p)

        n_in, n_out = len(inside), len(outside)

        def log_odds(e, cin=cin, cout=cout, n_in=n_in, n_out=n_out):
            a, b = cin[e] + prior, cout[e] + prior
            return math.log(a / (n_in - cin[e] + prior)) - math.log(b / (n_out - cout[e] + prior))

        best = sorted(cin, key=lambda e: (-log_odds(e), e))[:top]
        out[cls] = sum(cout[e] for e in best) / (len(best) * max(len(outside), 1)) if best else float("nan")
    return out


def shared_overlap(edge_sets: list[set], labels: list[str], fraction: float = 2 / 3) -> float:
    shared = {}
    for cls in set(labels):
        members = [s for s, lab in zip(edge_sets, labels, strict=True) if lab == cls]
        counts = Counter(e for s in members for e in s)
        shared[cls] = {e for e, n in counts.items() if n >= fraction * len(members)}
    pairs = [jaccard(shared[a], shared[b]) for a, b in combinations(sorted(shared), 2)]
    return sum(pairs) / len(pairs) if pairs else float("nan")


def evaluate(circuits: list, labels: list[str]) -> dict:
    edges = [{(e.src, e.dst) for e in c.edges} for c in circuits]
    nodes = [{n.cid for n in c.nodes} for c in circuits]
    ew, ea = within_across(edges, labels)
    nw, na = within_across(nodes, labels)
    res = {
        "edges": sum(len(s) for s in edges) / len(edges),
        "edge_within": ew, "edge_across": ea, "node_within": nw, "node_across": na,
        "loo_edges": loo_accuracy(edges, labels, weighted=False),
        "loo_edges_weighted": loo_accuracy(edges, labels, weighted=True),
        "loo_nodes_weighted": loo_accuracy(nodes, labels, weighted=True),
        "shared_overlap": shared_overlap(edges, labels),
        "distinctive_elsewhere": distinctive_share([pathways(c) for c in circuits], labels),
    }
    layers = circuits[0].layers
    per_layer = {}
    for dst in layers[1:]:
        sets = [{(s, d) for s, d in es if d.rpartition("#")[0] == dst} for es in edges]
        w, a = within_across(sets, labels)
        per_layer[dst] = {"within": w, "across": a, "loo": loo_accuracy(sets, labels, weighted=False),
                          "loo_weighted": loo_accuracy(sets, labels, weighted=True)}
    res["per_layer"] = per_layer
    deep = [{(s, d) for s, d in es if d.rpartition("#")[0] in layers[-2:]} for es in edges]
    w, a = within_across(deep, labels)
    res["deep_within"], res["deep_across"] = w, a
    res["deep_loo"] = loo_accuracy(deep, labels, weighted=False)
    return res


def ratio(w: float, a: float) -> float:
    return w / a if a > 0 else float("inf")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default=str(SAMPLES))
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--modes", default=DEFAULT_MODES)
    ap.add_argument("--kinds", default="original,explanation")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--min-per-class", type=int, default=3)
    ap.add_argument("--split", default="all", choices=("all", "tuning", "validation"))
    ap.add_argument("--groups", default="single", choices=("single", "all"),
                    help="single: only folders of one ImageNet class (the manifest's); all: every folder, "
                         "mixed ones (bird, dog, primate...) too")
    ap.add_argument("--masks", default=str(ROOT / "out" / "bench" / "specificity-masks.pt"))
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", default="", help="also write the full results here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    groups = class_folders(Path(args.images), args.min_per_class, args.split, args.groups)
    if len(groups) < 2:
        print(f"need >= 2 classes with >= {args.min_per_class} photos under {args.images} ({MISSING})")
        return 1
    paths = [p for ps in groups.values() for p in ps]
    labels = [p.parent.name for p in paths]
    clf = load_classifier(args.model)
    pixels = load_photos(clf, paths)
    kinds = args.kinds.split(",")
    masks = explanations(clf, paths, pixels, args.preset, Path(args.masks)) if "explanation" in kinds else []
    print(f"{len(paths)} photos: " + ", ".join(f"{c} {len(ps)}" for c, ps in groups.items())
          + f"; model {args.model}; explanations: preset {args.preset}; split {args.split}; groups {args.groups}")
    results = {}
    header = ("| mode | kind | edges | edge J within / across (ratio) | deep-2 J ratio | deep-2 LOO | LOO edges |"
              " LOO edges IDF | LOO channels IDF | node J within / across | shared-edge overlap | top-20 pathways elsewhere |"
              " readout passes |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name, cfg in parse_modes(args.modes):
        for kind in kinds:
            start = time.perf_counter()
            circuits = [read_circuit(clf, pixels[i], masks[i] if kind == "explanation" else None, config=cfg,
                                     kind=kind, image_id=paths[i].name) for i in range(len(paths))]
            passes = sum(c.metrics["readout_forward_passes"] + c.metrics.get("readout_backward_calls", 0)
                         for c in circuits) / len(circuits)
            r = evaluate(circuits, labels)
            r["seconds_per_circuit"] = (time.perf_counter() - start) / len(circuits)
            results[f"{name}/{kind}"] = r
            dist = r["distinctive_elsewhere"]
            print(f"| {name} | {kind} | {r['edges']:.0f} | {r['edge_within']:.3f} / {r['edge_across']:.3f} "
                  f"({ratio(r['edge_within'], r['edge_across']):.2f}) | {ratio(r['deep_within'], r['deep_across']):.2f} "
                  f"| {r['deep_loo']:.0%} | {r['loo_edges']:.0%} | {r['loo_edges_weighted']:.0%} | {r['loo_nodes_weighted']:.0%} "
                  f"| {r['node_within']:.3f} / {r['node_across']:.3f} | {r['shared_overlap']:.2f} "
                  f"| {max(dist.values()):.0%} max, {sum(dist.values()) / len(dist):.0%} mean | {passes:.1f} |")
    print("\nper layer pair (edges into the layer): within/across ratio, LOO, LOO weighted")
    for key, r in results.items():
        cells = [f"{dst}: {ratio(v['within'], v['across']):.1f}, "
                 f"{v['loo']:.0%}, {v['loo_weighted']:.0%}" for dst, v in r["per_layer"].items()]
        print(f"- {key}: " + "; ".join(cells))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
