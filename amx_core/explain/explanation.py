"""`Explanation`, one image's result, and the metrics every explainer records with it (per-image and
amortised alike, so their records have the same keys)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..models import apply_mask


@dataclass
class Explanation:
    """One image's result. `mask` is binary [1,H,W]; `explanation` is what the classifier saw:
    the kept pixels, and the classifier's baseline colour (zero after normalisation) elsewhere."""

    target: int
    pixels: torch.Tensor
    mask: torch.Tensor
    rank_map: torch.Tensor  # the generator's logits upsampled: a saliency ranking of pixels
    baseline: torch.Tensor  # [3,1,1]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def explanation(self) -> torch.Tensor:
        return apply_mask(self.pixels, self.mask, self.baseline)


def explanation_records(pixels, target, masks, rank, logits_x, logits_e, baseline, own: list[dict]) -> list[Explanation]:
    """One Explanation per image with the metrics every explainer reports (predictions and confidences on
    x and on e, label kept, area), plus each image's own entries in `own` (steps, passes, mask source)."""
    probs_x = torch.softmax(logits_x, 1)
    probs_e = torch.softmax(logits_e, 1)
    out = []
    for i, extra in enumerate(own):
        t = int(target[i])
        out.append(Explanation(
            target=t, pixels=pixels[i].detach(), mask=masks[i], rank_map=rank[i], baseline=baseline,
            metrics={
                "target": t,
                "predicted_x": int(probs_x[i].argmax()),
                "predicted_e": int(probs_e[i].argmax()),
                "label_kept": bool(int(probs_e[i].argmax()) == t),
                "confidence_x": float(probs_x[i, t]),
                "top1_confidence_x": float(probs_x[i].max()),
                "confidence_e": float(probs_e[i, t]),
                "mask_area": float(masks[i].mean()),
            } | extra,
        ))
    return out
