"""How much a method's answer for one photo moves with its seed, and what a binary mask looks like.

Stability: a method run with n seeds on one photo gives n binary masks and n rankings; the photo's figures
are the median over the n(n-1)/2 pairs of the masks' intersection over union and of the rankings'
Spearman correlation (average ranks for ties). A deterministic method scores 1 on both.

Shape: the number of 4-connected regions of a mask (regions smaller than 0.2% of the image, or 16
pixels, not counted: the rule of the explainer's per-region report) and its border share, the fraction
of the mask's pixels that lie in the image's outer frame one 28th of the side wide (8 pixels at 224;
the frame is 13.8% of the image, so a mask placed at random has a border share of about 0.14).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence

import torch

from amx_core.metrics import connected_regions


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> float:
    """Intersection over union of two binary masks (1.0 when both are empty)."""
    a, b = a.flatten() > 0.5, b.flatten() > 0.5
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n-1 of the flattened `values`, tied values sharing the mean of their ranks."""
    _, inverse, counts = torch.unique(values.flatten().double(), return_inverse=True, return_counts=True)
    end = counts.cumsum(0).double()
    return ((end - counts.double() + end - 1) / 2)[inverse]


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman correlation of two maps of the same size (1.0 when either is constant and they are equal)."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(ra.norm() * rb.norm())
    if den == 0:
        return 1.0 if torch.equal(a.flatten(), b.flatten()) else 0.0
    return float((ra * rb).sum()) / den


def pairwise_median(items: Sequence[torch.Tensor], score) -> float:
    """Median of `score` over every pair of `items` (1.0 for fewer than two)."""
    pairs = [score(x, y) for x, y in itertools.combinations(items, 2)]
    return statistics.median(pairs) if pairs else 1.0


def seed_stability(masks: Sequence[torch.Tensor], rankings: Sequence[torch.Tensor]) -> dict[str, float]:
    """One photo's stability over the seeds that gave `masks` and `rankings` (same order)."""
    return {"mask_iou": pairwise_median(masks, mask_iou), "rank_spearman": pairwise_median(rankings, spearman),
            "seeds": len(masks)}


def region_count(mask: torch.Tensor) -> int:
    """4-connected regions of a binary mask [1,H,W] of at least 0.2% of the image (and 16 pixels)."""
    return len(connected_regions(mask, min_pixels=max(16, int(0.002 * mask.numel()))))


def border_share(mask: torch.Tensor) -> float:
    """Fraction of the mask's pixels in the outer frame of the image, one 28th of the side wide."""
    m = mask.reshape(mask.shape[-2:]) > 0.5
    h, w = m.shape
    bh, bw = max(1, round(h / 28)), max(1, round(w / 28))
    inner = torch.zeros_like(m)
    inner[bh : h - bh, bw : w - bw] = True
    total = int(m.sum())
    return 0.0 if total == 0 else int((m & ~inner).sum()) / total


def mask_shape(mask: torch.Tensor) -> dict[str, float]:
    return {"regions": region_count(mask), "border_share": border_share(mask)}


__all__ = ["average_ranks", "border_share", "mask_iou", "mask_shape", "pairwise_median", "region_count",
           "seed_stability", "spearman"]
