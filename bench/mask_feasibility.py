"""How small can a binary mask be on this classifier before random backgrounds break the label?

An upper-bound probe for issue 2's targets, outside the explainer: per image, a free mask-logit grid
(no U-Net, no activation matching) starts from the 7x7 occlusion ranking and is optimised directly
for the cross-entropy of the label on the grey baseline and on random backgrounds (noise, flat, blur,
shuffle), at an area that shrinks to `--area`. The explainer's own ladder then picks the smallest
mask that keeps the label on grey only (`k=0`) and on grey + 4 random backgrounds (`k=4`); the
occlusion ranking alone is the same-run baseline.

    .venv/bin/python bench/mask_feasibility.py [--images 0,3,6,9,12,15|all] [--steps 60] [--area 0.08]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amx_core.backgrounds import background_batch  # noqa: E402
from amx_core.config import get_preset  # noqa: E402
from amx_core.explain.explainer import occlusion_prior  # noqa: E402
from amx_core.explain.selection import select_masks  # noqa: E402
from amx_core.metrics import robustness_rate  # noqa: E402
from amx_core.models import apply_mask, load_classifier  # noqa: E402
from bench.samples import MISSING, load_photos, sample_paths  # noqa: E402


def optimise_grid(clf, pixels, target, prior, *, steps, area, resolution, samples, lr):
    """Direct per-image optimisation of a mask-logit grid (detached quantile threshold, annealed)."""
    b = pixels.shape[0]
    cfg = get_preset("default")
    z = F.interpolate(prior, size=(resolution,) * 2, mode="area")
    z = ((z - z.mean((2, 3), keepdim=True)) / (z.std((2, 3), keepdim=True) + 1e-6)).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    gens = [torch.Generator().manual_seed(1) for _ in range(b)]
    kinds = cfg.background_kinds
    final_loss = float("nan")
    for step in range(steps):
        goal = 0.5 + (area - 0.5) * min(1.0, step / (0.6 * steps))
        tau = 0.5 * 0.1 ** (step / max(1, steps - 1))
        thr = torch.quantile(z.detach().flatten(1), 1 - goal, dim=1).view(b, 1, 1, 1)
        soft = torch.sigmoid(F.interpolate((z - thr) / tau, size=pixels.shape[-2:], mode="bilinear",
                                           align_corners=False))
        m = (soft > 0.5).to(soft) + soft - soft.detach() if step >= 0.75 * steps else soft
        batch = apply_mask(pixels, m, clf.baseline)
        if samples:
            bg = background_batch([kinds[(step * samples + j) % len(kinds)] for j in range(samples) for _ in range(b)],
                                  pixels.repeat(samples, 1, 1, 1), gens * samples)
            rep = m.repeat(samples, 1, 1, 1)
            batch = torch.cat([batch, pixels.repeat(samples, 1, 1, 1) * rep + (1 - rep) * bg])
        loss = F.cross_entropy(clf(batch), target.repeat(samples + 1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        final_loss = float(loss.detach())
    return F.interpolate(z.detach(), size=pixels.shape[-2:], mode="bilinear", align_corners=False), final_loss


def summarise(clf, pixels, target, rank, checks):
    cfg = get_preset("default").with_(check_backgrounds=checks, check_pass=checks)
    masks, _ = select_masks(clf, pixels, rank, target, cfg)
    areas = [float(m.mean()) for m in masks]
    robust = [robustness_rate(clf, pixels[i], masks[i], int(target[i]), samples=16, kinds=cfg.background_kinds,
                              seed=7919) for i in range(len(areas))]
    return statistics.median(areas), statistics.median(robust), areas


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default="0,3,6,9,12,15", help="indices into the sorted sample photos, or 'all'")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--area", type=float, default=0.08)
    ap.add_argument("--resolution", type=int, default=28)
    ap.add_argument("--samples", type=int, default=2, help="random backgrounds per image per step (0: grey only)")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = sample_paths()
    if not paths:
        print(MISSING, file=sys.stderr)
        return 1
    if args.images != "all":
        paths = [paths[int(i)] for i in args.images.split(",")]
    clf = load_classifier("efficientnet_lite0")
    pixels = load_photos(clf, paths)
    with torch.no_grad():
        target = clf(pixels).argmax(1)
    cfg = get_preset("default")
    prior = occlusion_prior(clf, pixels, target, cfg)
    occ_rank = F.interpolate(prior, size=pixels.shape[-2:], mode="bilinear", align_corners=False)
    rank, loss = optimise_grid(clf, pixels, target, prior, steps=args.steps, area=args.area,
                               resolution=args.resolution, samples=args.samples, lr=args.lr)
    print(f"{len(paths)} photos; direct optimisation: {args.steps} steps to area {args.area}, "
          f"final cross-entropy (grey + random backgrounds) {loss:.2f}")
    print(f"{'ranking':22s} {'checks':>6} {'median area':>11} {'median robust':>13}  areas")
    for name, r in (("occlusion 7x7", occ_rank), ("direct optimisation", rank)):
        for checks in (0, 4):
            med, rob, areas = summarise(clf, pixels, target, r, checks)
            print(f"{name:22s} {'grey' if checks == 0 else 'grey+4':>6} {100 * med:>10.1f}% {100 * rob:>12.0f}%  "
                  f"{[round(a, 2) for a in areas]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
