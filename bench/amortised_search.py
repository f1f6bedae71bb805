"""How the amortised mode should search its rankings: each ranking's verdict at every ladder level, then every
search strategy replayed on those verdicts, with passes counted as `select_sequential` counts them.

    nice -n 10 .venv/bin/python bench/amortised_search.py [--masker out/amortised/masker.pt]
        [--verdicts out/amortised/verdicts.json]

The held-out photos are `bench/amortised.py`'s (sha256 odd first byte), the first 32: 16-31 to decide on,
0-15 to report, as there. Per photo, for the masker's ranking, the class-activation map and the map's blend
with Grad-CAM at the finer tap: does the top-k mask keep the label on the grey baseline, at each level of the
default's ladder (one pass each; cached in --verdicts, recomputed when the photos or masker differ). Then
each strategy (which rankings, in which order, searched by bisection or by climbing first) gives a mask
level and a pass count per photo without another classifier pass: the median area and mean passes on each
half, beside the per-image default's median area (`--default-areas`, a bench/amortised.py --json file).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amx_core.config import get_preset  # noqa: E402
from amx_core.explain import load_masker  # noqa: E402
from amx_core.explain.selection import _kept, _ladder, search_ladder  # noqa: E402
from amx_core.images import file_sha256  # noqa: E402
from amx_core.metrics import top_mask  # noqa: E402
from amx_core.models import apply_mask, load_classifier  # noqa: E402
from bench.amortised import amortised_rankings, split  # noqa: E402

RANKINGS = ("masker", "cam", "blend")  # the masker's, the class map, the map's blend with Grad-CAM


def verdicts(clf, masker, held: list[Path], cfg) -> list[dict]:
    """Per photo: {"file", ranking: [kept at each ladder level]} (one classifier pass per level)."""
    ladder = _ladder(cfg)
    rows = []
    for p, x, logits, target, ranks in amortised_rankings(clf, masker, held, cfg):
        with torch.no_grad():
            row = {"file": p.name}
            for name, r in ranks.items():
                row[name] = [bool(_kept(clf(apply_mask(x, top_mask(r[0], a)[None], clf.baseline)), target,
                                        logits)[0]) for a in ladder]
        rows.append(row)
        print(p.name, {k: min([a for a, v in zip(ladder, row[k], strict=True) if v] + [1.0]) for k in ranks},
              flush=True)
    return rows


def replay(row: dict, plan: list[tuple[str, str]], top: int) -> tuple[int, int]:
    """Each (ranking, "bisect" | "climb") of `plan` in order, each below the best level so far, searched by
    `select_sequential`'s own `search_ladder` on the recorded verdicts: the final level and the passes
    counted as it counts them (one per probe; the first search reads the top level when it falls there
    unprobed)."""
    best, passes = None, 0
    for name, how in plan:
        levels = list(range(top + 1)) if best is None else [i for i in range(best)] + [top]
        if len(levels) == 1:
            continue
        probed = set()

        def holds(j: int, kept=row[name], levels=levels, probed=probed) -> bool:
            probed.add(j)
            return kept[levels[j]]

        j = search_ladder(len(levels) - 1, holds, gallop=how == "climb")
        passes += len(probed) + (best is None and j not in probed)
        best = levels[j] if best is None else min(best, levels[j])
    return best, passes


PLANS = {
    "masker, map (stop 27)": [("masker", "bisect"), ("cam", "bisect")],
    "masker, map, blend": [("masker", "bisect"), ("cam", "bisect"), ("blend", "bisect")],
    "masker, map, blend climbing (chosen)": [("masker", "bisect"), ("cam", "bisect"), ("blend", "climb")],
    "map, blend climbing, masker": [("cam", "bisect"), ("blend", "climb"), ("masker", "bisect")],
    "all three climbing": [("masker", "climb"), ("cam", "climb"), ("blend", "climb")],
    "map, blend, masker, all climbing": [("cam", "climb"), ("blend", "climb"), ("masker", "climb")],
    "map, blend, both climbing": [("cam", "climb"), ("blend", "climb")],
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default=str(ROOT / "data" / "samples"))
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--masker", default=str(ROOT / "out" / "amortised" / "masker.pt"))
    ap.add_argument("--verdicts", default=str(ROOT / "out" / "amortised" / "verdicts.json"))
    ap.add_argument("--default-areas", nargs="*", default=[],
                    help="bench/amortised.py --json files: the per-image default's areas, for the ratios")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    _, held = split(Path(args.images))
    held = held[:32]
    cfg = get_preset("default")
    key = {"files": [file_sha256(p) for p in held], "masker": file_sha256(Path(args.masker))}
    cache = Path(args.verdicts)
    saved = json.loads(cache.read_text()) if cache.exists() else {}
    if saved.get("key") != key:
        clf = load_classifier(args.model)
        masker = load_masker(args.masker, model=args.model)
        saved = {"key": key, "rows": verdicts(clf, masker, held, cfg)}
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(saved))
    rows = saved["rows"]
    ladder = _ladder(cfg)
    top = len(ladder) - 1
    default = {}
    for f in args.default_areas:
        for m in json.loads(Path(f).read_text())["per-image default"]:
            default[m["file"]] = m["mask_area"]
    halves = {"decision (16-31)": slice(16, 32), "report (0-15)": slice(0, 16), "all": slice(0, 32)}
    med = statistics.median
    for name, plan in PLANS.items():
        found = [replay(r, plan, top) for r in rows]
        cells = []
        for half, sl in halves.items():
            areas = [ladder[i] for i, _ in found[sl]]
            passes = [n + 1 + any(k == "blend" for k, _ in plan) for _, n in found[sl]]  # + x's pass, Grad-CAM's
            ref = [default.get(r["file"]) for r in rows[sl]]
            ratio = f" ({med(areas) / med(ref):.2f}x the default)" if None not in ref else ""
            cells.append(f"{half}: {med(areas):.3f}{ratio}, {statistics.mean(passes):.1f} passes")
        print(f"{name:40s} " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
