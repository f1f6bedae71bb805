"""Amortised mode against the per-image explainer on held-out photos, same run (issue 6 §2, §3).

    nice -n 10 .venv/bin/python bench/amortised.py [--masker out/amortised/masker.pt] [--epochs 60]
        [--refine 3] [--limit N]

The sample photos are split in half by their sha256 (even first byte: training, odd: held out). The
masker is trained on the training half only (with random crops and flips), unless --masker names a file
that exists (its recorded training hashes must not include a held-out photo). Then, on each held-out
photo: the per-image preset (default), and the amortised path with 0 and --refine refinement steps.
Issue 6 §3 targets: amortised >= 10x fewer classifier passes per image than the per-image default,
label kept within 5 points of it, median area within 1.5x of it. `--rankings` measures only the minimal
sufficient area of the masker's ranking, of the class-activation map and of blends (no per-image explainer).
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

from amx_core.config import get_preset  # noqa: E402
from amx_core.explain import explain, explain_amortised, load_masker, teacher_masks_of, train_masker  # noqa: E402
from amx_core.images import file_sha256  # noqa: E402
from amx_core.models import load_classifier  # noqa: E402
from bench.explain_quality import overrides  # noqa: E402
from bench.samples import load_photos, sample_paths  # noqa: E402


def split(folder: Path) -> tuple[list[Path], list[Path]]:
    files = sample_paths(folder)
    train = [p for p in files if int(file_sha256(p)[:2], 16) % 2 == 0]
    held = [p for p in files if p not in train]
    return train, held


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default=str(ROOT / "data" / "samples"))
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--masker", default=str(ROOT / "out" / "amortised" / "masker.pt"))
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--refine", type=int, default=3, help="refinement steps for the refined amortised row")
    ap.add_argument("--limit", type=int, default=0, help="first N held-out photos; 0 = all")
    ap.add_argument("--skip", type=int, default=0,
                    help="start at this held-out photo (decide on --skip 16 --limit 16, report on the first 16)")
    ap.add_argument("--teacher", default=None,
                    help="train the masker on this per-image preset's masks of the training photos (distillation; "
                         "the masks are cached beside the masker file)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a field of the amortised mode's config only (repeatable), e.g. --set "
                         "gradcam_candidate=False")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="write per-image metrics here")
    ap.add_argument("--rankings", action="store_true",
                    help="only the minimal sufficient area (a full upward scan of the preset's ladder) of the "
                         "masker's ranking, of the class-activation map and of blends, per held-out photo: are the "
                         "rankings the limit, or the mask search?")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    train, held = split(Path(args.images))
    held = held[args.skip :]
    if args.limit:
        held = held[: args.limit]
    clf = load_classifier(args.model)
    cfg = get_preset(args.preset)
    amortised_cfg = cfg.with_(**overrides(args.set))
    mpath = Path(args.masker)
    if mpath.exists():
        masker = load_masker(mpath, model=args.model)
        print(f"masker: {mpath} (loaded)")
    else:
        t = time.perf_counter()
        photos = load_photos(clf, train)
        teacher = None
        if args.teacher:
            cache = mpath.with_name(f"teacher-{args.teacher}-{args.model}.pt")
            teacher = cached_teacher_masks(clf, train, photos, args.teacher, cache)
            print(f"teacher: the {args.teacher} preset's masks of the training photos, median area "
                  f"{teacher.flatten(1).mean(1).median():.3f} ({time.perf_counter() - t:.0f} s; {cache})")
            t = time.perf_counter()
        masker = train_masker(clf, photos, config=cfg, epochs=args.epochs, batch_size=args.batch_size,
                              teacher_masks=teacher)
        masker.image_hashes = tuple(file_sha256(p) for p in train)
        masker.info["files"] = [str(p) for p in train]
        masker.save(mpath)
        print(f"masker: trained on {len(train)} photos, {args.epochs} epochs, {time.perf_counter() - t:.0f} s;"
              f" saved {mpath}")
    held_hashes = {file_sha256(p) for p in held}
    leaked = held_hashes & set(masker.image_hashes)
    if leaked:
        print(f"refusing: the masker was trained on {len(leaked)} held-out photo(s)")
        return 2
    print(f"held out ({len(held)}): {', '.join(p.name for p in held)}")
    print(f"start area {masker.start_area:.3f}; training areas {masker.info.get('train_areas')}")

    if args.rankings:
        return ranking_areas(clf, masker, held, cfg)

    rows: dict[str, list[dict]] = {"per-image " + args.preset: [], "amortised": [],
                                   f"amortised+refine{args.refine}": [], "amortised, binary search": []}
    for p in held:
        x = load_photos(clf, [p])
        (ex,) = explain(clf, x, config=cfg)
        rows["per-image " + args.preset].append(ex.metrics | {"file": p.name})
        (ex,) = explain_amortised(clf, x, masker, config=amortised_cfg)
        rows["amortised"].append(ex.metrics | {"file": p.name})
        (ex,) = explain_amortised(clf, x, masker, config=amortised_cfg, refine_steps=args.refine)
        rows[f"amortised+refine{args.refine}"].append(ex.metrics | {"file": p.name})
        (ex,) = explain_amortised(clf, x, masker, config=amortised_cfg, search="binary")
        rows["amortised, binary search"].append(ex.metrics | {"file": p.name})
        print(p.name, " | ".join(f"{k}: area {v[-1]['mask_area']:.3f} kept {v[-1]['label_kept']} "
                                 f"passes {v[-1]['classifier_passes']}" for k, v in rows.items()), flush=True)

    def summary(ms):
        return {
            "passes": statistics.mean(m["classifier_passes"] for m in ms),
            "kept": 100 * sum(m["label_kept"] for m in ms) / len(ms),
            "area": statistics.median(m["mask_area"] for m in ms),
            "robust": statistics.median(m["robustness"] for m in ms),
            "seconds": statistics.mean(m["seconds"] for m in ms),
        }

    sums = {k: summary(v) for k, v in rows.items()}
    ref = sums["per-image " + args.preset]
    print(f"\n{len(held)} held-out photos, model {args.model}, preset {args.preset}, {args.threads} thread(s)\n")
    print("| mode | classifier passes / image | fewer passes | label kept % | median area | area ratio "
          "| median robustness | s / image |")
    print("|---|---|---|---|---|---|---|---|")
    for k, s in sums.items():
        print(f"| {k} | {s['passes']:.1f} | {ref['passes'] / s['passes']:.1f}x | {s['kept']:.0f} | {s['area']:.3f} "
              f"| {s['area'] / ref['area']:.2f} | {s['robust']:.2f} | {s['seconds']:.2f} |")
    print("\ntargets (amortised vs per-image): >= 10x fewer passes, label kept within 5 points, area within 1.5x")
    for k in list(sums)[1:]:
        s = sums[k]
        print(f"  {k}: passes {'met' if ref['passes'] / s['passes'] >= 10 else 'NOT met'}, "
              f"label kept {'met' if s['kept'] >= ref['kept'] - 5 else 'NOT met'}, "
              f"area {'met' if s['area'] <= 1.5 * ref['area'] else 'NOT met'}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    return 0


def cached_teacher_masks(clf, files: list[Path], photos: torch.Tensor, preset: str, cache: Path) -> torch.Tensor:
    """The `preset`'s masks of `files` (pixels `photos`), read from `cache` when it holds exactly these files
    (by sha256), else computed and written there (minutes: one explanation per photo)."""
    hashes = [file_sha256(p) for p in files]
    if cache.exists():
        saved = torch.load(cache)
        if isinstance(saved, dict) and saved.get("files") == hashes:
            return saved["masks"]
    masks = teacher_masks_of(clf, photos, preset)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"files": hashes, "masks": masks}, cache)
    return masks


def amortised_rankings(clf, masker, held: list[Path], cfg):
    """Per held-out photo: (path, pixels, reference logits, target (top-1), the amortised mode's rankings at
    the input size: "masker", "cam" (the class-activation map) and "blend" (the map's blend with Grad-CAM at
    the finer tap); None where the architecture has no class map or no finer tap)."""
    from amx_core.explain.amortised import _rank
    from amx_core.explain.explainer import at_input_size, blend, class_activation_map, finer_tap, grad_cam
    from amx_core.hooks import capture, frozen

    with frozen(clf), capture(clf.net, clf.spec.taps) as acts:
        for p in held:
            x = load_photos(clf, [p])
            with torch.no_grad():
                logits = clf(x)
                ref = {t: acts[t].clone() for t in clf.spec.taps}
            target = logits.argmax(1)
            cam = class_activation_map(clf, ref[clf.spec.taps[-1]], target)
            tap = finer_tap(clf, ref)
            fine = None if tap is None else at_input_size(grad_cam(clf, x, target, acts, tap), x)
            with torch.no_grad():
                ranks = {"masker": _rank(masker.net.eval(), x, cfg, cam),
                         "cam": None if cam is None else at_input_size(cam, x)}
                ranks["blend"] = None if cam is None or fine is None else blend([ranks["cam"], fine])
            yield p, x, logits, target, ranks


def ranking_areas(clf, masker, held: list[Path], cfg) -> int:
    """Per held-out photo, the smallest level of `cfg`'s ladder that keeps the label (an upward scan, no
    budget) on the masker's ranking, on the class-activation map's, on their blend and on the class map's
    blend with Grad-CAM at the finer tap (the amortised mode's third ranking); medians of each, of the
    smaller of the first two and of masker, map and the last."""
    from amx_core.explain.explainer import blend
    from amx_core.explain.selection import select_masks

    scan = cfg.with_(selection="scan", check_backgrounds=0)
    names = ("masker ranking", "class-activation map", "their blend", "map + Grad-CAM blend")
    areas = []
    for p, x, logits, target, r in amortised_rankings(clf, masker, held, cfg):
        with torch.no_grad():
            ranks = (r["masker"], r["cam"], None if r["cam"] is None else blend([r["masker"], r["cam"]]), r["blend"])
            found = [float("nan") if rank is None else
                     float(select_masks(clf, x, rank, target, scan, logits_x=logits)[0].mean()) for rank in ranks]
        areas.append(found)
        print(f"{p.name}: " + ", ".join(f"{n} {a:.3f}" for n, a in zip(names, found, strict=True)), flush=True)
    med = statistics.median
    print(f"\nminimal sufficient area, median over {len(held)} held-out photos: "
          + ", ".join(f"{n} {med(a[j] for a in areas):.3f}" for j, n in enumerate(names))
          + f", the smaller of the first two {med(min(a[:2]) for a in areas):.3f}, of masker, map and map + "
          f"Grad-CAM {med(min(a[0], a[1], a[3]) for a in areas):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
