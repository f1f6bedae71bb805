"""Explanation metrics, one implementation for the explainer and for every method amx-bench compares.

Pixel ranking lives here once: `ranking` orders the pixels of a saliency map (most salient first) and
`top_mask` keeps a top fraction of them; deletion/insertion AUC, the explainer's mask selection and
amx-bench's minimal sufficient area all rank pixels with them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .backgrounds import background_batch, blurred

Predict = Callable[[torch.Tensor], torch.Tensor]  # pixels [N,3,H,W] -> logits [N,C]


def ranking(saliency: torch.Tensor) -> torch.Tensor:
    """Flat pixel indices of a map [H,W] or [1,H,W], most salient first (stable: ties keep the lower index first)."""
    return torch.argsort(saliency.flatten(), descending=True, stable=True)


def top_mask(rank_map: torch.Tensor, fraction: float, *, stable: bool = False) -> torch.Tensor:
    """Binary mask [1,H,W] keeping the round(`fraction` * H*W) pixels (at least one) with the highest
    values of `rank_map` [H,W] or [1,H,W].

    Ties at the cut: with `stable`, the lower flat index is kept (the order of `ranking`, which amx-bench
    scores every method by); without, `torch.topk` decides (faster, no documented order among ties),
    which is what the explainer's mask selection has always used.
    """
    h, w = rank_map.shape[-2:]
    flat = rank_map.flatten()
    k = max(1, min(flat.numel(), round(fraction * flat.numel())))
    idx = ranking(flat)[:k] if stable else torch.topk(flat, k, sorted=False).indices
    mask = torch.zeros_like(flat)
    mask[idx] = 1.0
    return mask.view(1, h, w)


@torch.no_grad()
def target_probs(predict: Predict, batch: torch.Tensor, target: int, chunk: int = 32) -> torch.Tensor:
    out = []
    for i in range(0, batch.shape[0], chunk):
        out.append(torch.softmax(predict(batch[i : i + chunk]), 1)[:, target])
    return torch.cat(out)


@torch.no_grad()
def deletion_insertion_auc(
    predict: Predict, image: torch.Tensor, saliency: torch.Tensor, target: int, *, steps: int = 16,
    blur_sigma: float = 10.0, baseline: torch.Tensor | None = None,
) -> tuple[float, float]:
    """RISE protocol: delete the most salient pixels first (to `baseline`, black by default) or insert
    them into a blurred canvas.

    Returns (deletion AUC, insertion AUC) of the target's probability over the fraction of pixels
    changed, by the trapezoid rule over `steps` + 1 points. Lower deletion and higher insertion are better.
    """
    order = ranking(saliency)
    n = order.numel()
    canvas = blurred(image, blur_sigma)
    base = torch.zeros_like(image) if baseline is None else baseline.expand_as(image)
    deleted, inserted = [], []
    for s in range(steps + 1):
        keep = torch.zeros(n, device=image.device)
        keep[order[: round(n * s / steps)]] = 1.0
        keep = keep.view(1, *image.shape[-2:])
        deleted.append(image * (1 - keep) + base * keep)
        inserted.append(image * keep + canvas * (1 - keep))
    p_del = target_probs(predict, torch.stack(deleted), target)
    p_ins = target_probs(predict, torch.stack(inserted), target)
    return _trapezoid(p_del), _trapezoid(p_ins)


def _trapezoid(values: torch.Tensor) -> float:
    v = values.double()
    return float(((v[1:] + v[:-1]) / 2).mean())


@torch.no_grad()
def robustness_rate(
    predict: Predict, image: torch.Tensor, mask: torch.Tensor, target: int, *, samples: int, kinds: tuple[str, ...],
    seed: int, blur_sigma: float = 10.0, kept: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> float:
    """Fraction of `samples` random backgrounds outside the mask that keep the top-1 label (or meet
    `kept`, a test of a batch of logits, one bool per row)."""
    gen = torch.Generator().manual_seed(seed)
    kind_list = [kinds[i % len(kinds)] for i in range(samples)]
    bgs = background_batch(kind_list, image.expand(samples, *image.shape), [gen] * samples, blur_sigma=blur_sigma)
    batch = image * mask + bgs * (1 - mask)
    logits = torch.cat([predict(batch[i : i + 32]) for i in range(0, samples, 32)])
    ok = logits.argmax(1) == target if kept is None else kept(logits)
    return float(ok.float().mean())


def connected_regions(mask: torch.Tensor, min_pixels: int = 1) -> list[torch.Tensor]:
    """4-connected components of a binary mask [1,H,W], largest first, each as its own binary mask."""
    m = mask[0] > 0.5
    h, w = m.shape
    on = m.flatten().tolist()
    label = [0] * (h * w)
    regions: list[list[int]] = []
    for start in range(h * w):
        if not on[start] or label[start]:
            continue
        current = len(regions) + 1
        label[start] = current
        stack, members = [start], []
        while stack:
            p = stack.pop()
            members.append(p)
            r, c = divmod(p, w)
            for q, ok in ((p - w, r > 0), (p + w, r < h - 1), (p - 1, c > 0), (p + 1, c < w - 1)):
                if ok and on[q] and not label[q]:
                    label[q] = current
                    stack.append(q)
        regions.append(members)
    out = []
    for members in sorted(regions, key=len, reverse=True):
        if len(members) < min_pixels:
            continue
        region = torch.zeros(h * w, dtype=mask.dtype, device=mask.device)
        region[torch.tensor(members, device=mask.device)] = 1
        out.append(region.view(1, h, w))
    return out
