"""Method-agnostic scores for amx-bench, and the count of classifier passes a method spends.

Every score takes a saliency map [H,W] (higher = more important) or a binary mask, the image [3,H,W] in
[0,1], the target class and the classifier's grey `baseline` ([1,3,1,1] or [3,1,1]), so that every
method is judged by the same code. Pixels are ranked by `amx_core.metrics.ranking` (stable: ties keep
the lower flat index first), the order deletion/insertion AUC uses too.

Minimal sufficient area: keep the top-ranked fraction `a` of the pixels and show the baseline grey in
the rest; the smallest `a` on `SUFFICIENCY_LADDER` whose top-1 class is the target. The ladder is 0.5%
to 10% in steps of 0.5%, then 11% to 100% in steps of 1% (110 levels). Every level is checked in
ascending order (no assumption that keeping more pixels keeps the label), so the answer is the first
level that keeps it; the last level is the whole image, which keeps the top-1 label by definition, so a
ranking always has an area.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from amx_core.hooks import hooked
from amx_core.metrics import Predict, top_mask
from amx_core.models import apply_mask

SUFFICIENCY_LADDER: tuple[float, ...] = tuple(
    [round(0.005 * k, 4) for k in range(1, 21)] + [round(0.01 * k, 4) for k in range(11, 101)]
)


@dataclass(frozen=True)
class Sufficiency:
    area: float  # the minimal sufficient area (fraction of pixels kept)
    mask: torch.Tensor  # the binary mask [1,H,W] at that area
    passes: int  # classifier images forwarded to find it


@torch.no_grad()
def minimal_sufficient_area(
    predict: Predict, image: torch.Tensor, saliency: torch.Tensor, target: int, *, baseline: torch.Tensor,
    ladder: Sequence[float] = SUFFICIENCY_LADDER, chunk: int = 16,
) -> Sufficiency:
    """The smallest ladder fraction of top-ranked pixels that keeps `target` as the top-1 class, the rest
    shown as `baseline`. Levels go in ascending order, `chunk` at a time; the scan stops at the first
    chunk that holds a level keeping the label. With no level keeping it, the area is 1.0 (whole image)."""
    levels = sorted(set(float(a) for a in ladder))
    grey = baseline.reshape(3, 1, 1)
    passes = 0
    for start in range(0, len(levels), chunk):
        part = levels[start : start + chunk]
        masks = torch.stack([top_mask(saliency, a, stable=True) for a in part])
        pred = predict(apply_mask(image, masks, grey)).argmax(1)
        passes += len(part)
        hits = (pred == target).nonzero()
        if hits.numel():
            i = int(hits[0])
            return Sufficiency(area=float(masks[i].mean()), mask=masks[i], passes=passes)
    full = torch.ones(1, *saliency.shape[-2:], device=saliency.device)
    return Sufficiency(area=1.0, mask=full, passes=passes)


@torch.no_grad()
def label_kept(predict: Predict, image: torch.Tensor, mask: torch.Tensor, target: int, *,
               baseline: torch.Tensor) -> bool:
    """Whether the image with only `mask` kept (the rest `baseline` grey) still has top-1 `target`."""
    e = apply_mask(image, mask, baseline.reshape(3, 1, 1))
    return bool(int(predict(e[None]).argmax(1)) == target)


# ---------------------------------------------------------------- counting classifier passes


@dataclass
class PassCount:
    forward: int = 0  # images forwarded (a batch of 32 counts 32)
    backward: int = 0  # images whose logits a gradient flowed back through


@contextmanager
def count_passes(model: nn.Module) -> Iterator[PassCount]:
    """Count images forwarded through `model` and backward passes through its output, inside the block.

    A forward hook on the model itself (`amx_core.hooks.hooked`, removed when the block ends); a backward
    pass is counted when a gradient reaches the output tensor (a tensor hook, registered only on outputs
    that require grad)."""
    count = PassCount()

    def on_backward(n: int):
        def hook(grad):
            count.backward += n
            return grad

        return hook

    def on_forward(_module, inputs, output):
        n = int(inputs[0].shape[0]) if inputs and torch.is_tensor(inputs[0]) and inputs[0].dim() else 1
        count.forward += n
        if torch.is_tensor(output) and output.requires_grad:
            output.register_hook(on_backward(n))

    with hooked(model, forward={"": on_forward}):
        yield count


__all__ = [
    "SUFFICIENCY_LADDER", "PassCount", "Sufficiency", "count_passes", "label_kept", "minimal_sufficient_area",
]
