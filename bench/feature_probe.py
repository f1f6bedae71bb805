"""Can a ranking learned from the training half of the photos beat the class-activation map on held-out
photos? A feasibility probe for the amortised mode (issue 14).

    .venv/bin/python bench/feature_probe.py [--skip 16 --limit 16] [--epochs 300] [--weight-decay 1e-4]

A linear head (a 1x1 convolution) over every tapped layer's features of the reference pass (each channel
standardised per image, pooled or upsampled to 14x14), plus a learned weight on the class-activation map,
is distilled from the default preset's masks of the training photos (the same loss as
`train_masker(teacher_masks=...)`; the masks are read from the cache that `bench/amortised.py --teacher
default` writes, or computed). On each held-out photo: the minimal sufficient area (an upward scan of the
default's ladder) of the head's ranking, of the class map's and of their blend.
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

from amx_core.config import get_preset  # noqa: E402
from amx_core.explain.amortised import _distillation_loss  # noqa: E402
from amx_core.explain.explainer import blend, class_activation_map  # noqa: E402
from amx_core.explain.selection import select_masks  # noqa: E402
from amx_core.hooks import capture, frozen  # noqa: E402
from amx_core.models import load_classifier  # noqa: E402
from bench.amortised import cached_teacher_masks, split  # noqa: E402
from bench.samples import load_photos  # noqa: E402

GRID = 14


def tap_features(clf, paths):
    """Per photo: the tapped features at GRID x GRID (channels standardised per image), the class map, the
    pixels and the logits."""
    feats, cams, xs, logits = [], [], [], []
    taps = clf.spec.taps
    with frozen(clf), capture(clf.net, taps) as acts, torch.no_grad():
        for p in paths:
            x = load_photos(clf, [p])
            lg = clf(x)
            parts = []
            for t in taps:
                a = acts[t]
                a = (F.adaptive_avg_pool2d(a, GRID) if a.shape[-1] >= GRID
                     else F.interpolate(a, size=(GRID, GRID), mode="bilinear", align_corners=False))
                flat = a.flatten(2)
                parts.append(((flat - flat.mean(2, keepdim=True)) / (flat.std(2, keepdim=True) + 1e-3)).view_as(a))
            feats.append(torch.cat(parts, 1))
            cams.append(class_activation_map(clf, acts[taps[-1]].clone(), lg.argmax(1)))
            xs.append(x)
            logits.append(lg)
    return torch.cat(feats), torch.cat(cams), torch.cat(xs), torch.cat(logits)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default=str(ROOT / "data" / "samples"))
    ap.add_argument("--teacher-cache", default=str(ROOT / "out" / "amortised" / "teacher-default-efficientnet_lite0.pt"))
    ap.add_argument("--skip", type=int, default=16)
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    clf = load_classifier("efficientnet_lite0")
    cfg = get_preset("default")
    train, held = split(Path(args.images))
    held = held[args.skip : args.skip + args.limit]
    teacher = cached_teacher_masks(clf, train, load_photos(clf, train), "default", Path(args.teacher_cache))
    f_train, c_train, _, _ = tap_features(clf, train)
    head = torch.nn.Conv2d(f_train.shape[1], 1, 1)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    cam_scale = torch.nn.Parameter(torch.tensor(1.0))
    opt = torch.optim.Adam([*head.parameters(), cam_scale], lr=1e-2, weight_decay=args.weight_decay)

    def scores(f, c):
        return head(f) + cam_scale * F.adaptive_avg_pool2d(c, GRID)

    for _ in range(args.epochs):  # full batch: 57 photos
        loss = _distillation_loss(scores(f_train, c_train), teacher, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"{len(train)} training photos, {f_train.shape[1]} features; final loss {float(loss.detach()):.3f}")
    scan = cfg.with_(selection="scan", check_backgrounds=0)
    f_held, c_held, x_held, l_held = tap_features(clf, held)
    rows = []
    with torch.no_grad():
        for i, p in enumerate(held):
            x, lg = x_held[i : i + 1], l_held[i : i + 1]
            size = x.shape[-2:]
            mine = F.interpolate(scores(f_held[i : i + 1], c_held[i : i + 1]), size=size, mode="bilinear",
                                 align_corners=False)
            cam = F.interpolate(c_held[i : i + 1], size=size, mode="bilinear", align_corners=False)
            rows.append([float(select_masks(clf, x, r, lg.argmax(1), scan, logits_x=lg)[0].mean())
                         for r in (mine, cam, blend([mine, cam]))])
            print(f"{p.name}: head {rows[-1][0]:.3f}, class map {rows[-1][1]:.3f}, blend {rows[-1][2]:.3f}", flush=True)
    med = [statistics.median(r[k] for r in rows) for k in range(3)]
    print(f"\nminimal sufficient area, median over {len(held)} held-out photos: head {med[0]:.3f}, class map "
          f"{med[1]:.3f}, blend {med[2]:.3f}, the smaller of head and map {statistics.median(min(r[:2]) for r in rows):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
