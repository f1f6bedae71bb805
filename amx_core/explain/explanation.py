"""`Explanation`, one image's result, and the metrics every explainer records with it (per-image and
amortised alike, so their records have the same keys)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..models import apply_mask

# A target the model ranks below 5th on x, or gives less than 1% probability, is "not recognised": its
# explanation is computed and stored, but says little (status "class not recognised by the model").
RECOGNISED_RANK = 5
RECOGNISED_PROBABILITY = 0.01


def target_rank(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1-based rank of each image's target class among its logits ([B,C], [B] -> [B]): one plus the
    number of classes with a strictly larger logit."""
    return 1 + (logits > logits.gather(1, target.view(-1, 1))).sum(1)


def evidence_kept(logits_e: torch.Tensor, target: torch.Tensor, logits_x: torch.Tensor) -> torch.Tensor:
    """The criterion "the explanation keeps the evidence for the target c" ([B] bool), per image:

    - c is the top-1 on x: c is the top-1 on e (the paper's "label kept");
    - c is ranked r > 1 on x: on e, c is ranked r or better, and c's probability is at least its
      probability on x. The rest of the image is not needed for the model to rate c as it did.

    `logits_x` [B,C] (or [1,C], broadcast) are the original's logits."""
    logits_x = logits_x.expand(logits_e.shape[0], -1)
    p_x = torch.softmax(logits_x, 1).gather(1, target.view(-1, 1))[:, 0]
    return meets_criterion(logits_e, target, target_rank(logits_x, target), p_x)


def meets_criterion(logits_e: torch.Tensor, target: torch.Tensor, rank_x: torch.Tensor | int,
                    p_x: torch.Tensor | float) -> torch.Tensor:
    """`evidence_kept` from the target's rank and probability on x (numbers or [B] tensors)."""
    target = target.view(-1)
    rank_x = torch.as_tensor(rank_x, device=logits_e.device)
    p_x = torch.as_tensor(p_x, device=logits_e.device, dtype=logits_e.dtype)
    p_e = torch.softmax(logits_e, 1).gather(1, target.view(-1, 1))[:, 0]
    return (target_rank(logits_e, target) <= rank_x) & ((rank_x == 1) | (p_e >= p_x))


def target_status(rank_x: int, confidence_x: float, kept: bool) -> str:
    """One image's status: "kept", "not kept", or "not recognised" (the model ranks the target below
    RECOGNISED_RANK or gives it less than RECOGNISED_PROBABILITY on x, whatever the mask)."""
    if rank_x > RECOGNISED_RANK or confidence_x < RECOGNISED_PROBABILITY:
        return "not recognised"
    return "kept" if kept else "not kept"


@dataclass
class Explanation:
    """One image's result. `mask` is binary [1,H,W]; `explanation` is what the classifier saw:
    the kept pixels, and the classifier's baseline colour (zero after normalisation) elsewhere."""

    target: int
    pixels: torch.Tensor
    mask: torch.Tensor
    rank_map: torch.Tensor  # the winning candidate's ranking of pixels (the mask is its top): generator, occlusion, CAM, a blend
    baseline: torch.Tensor  # [3,1,1]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def explanation(self) -> torch.Tensor:
        return apply_mask(self.pixels, self.mask, self.baseline)

    def _repr_png_(self) -> bytes:
        """Jupyter shows an explanation as the paper's Fig. 1 row: original | 0/1 mask | explanation."""
        import tempfile
        from pathlib import Path

        from ..figures import write_explanation_figure

        m = self.metrics
        with tempfile.TemporaryDirectory() as folder:
            path = write_explanation_figure(
                Path(folder) / "figure.png", self.pixels, self.mask, self.explanation,
                title_original=f"original: class {m.get('predicted_x', self.target)} ({m.get('confidence_x', 0):.2f})",
                title_mask=f"0/1 mask: {float(self.mask.float().mean()):.1%} of pixels",
                title_explanation=f"explanation: class {m.get('predicted_e', '?')} ({m.get('confidence_e', 0):.2f})")
            return path.read_bytes()


def explanation_records(pixels, target, masks, rank, logits_x, logits_e, baseline, own: list[dict]) -> list[Explanation]:
    """One Explanation per image with the metrics every explainer reports (predictions and confidences on
    x and on e, label kept, area), plus each image's own entries in `own` (steps, passes, mask source)."""
    probs_x = torch.softmax(logits_x, 1)
    probs_e = torch.softmax(logits_e, 1)
    target = torch.as_tensor(target, device=logits_x.device).view(-1)
    ranks_x, ranks_e = target_rank(logits_x, target), target_rank(logits_e, target)
    kept = evidence_kept(logits_e, target, logits_x)
    out = []
    for i, extra in enumerate(own):
        t = int(target[i])
        rank_x = int(ranks_x[i])
        out.append(Explanation(
            target=t, pixels=pixels[i].detach(), mask=masks[i], rank_map=rank[i], baseline=baseline,
            metrics={
                "target": t,
                "predicted_x": int(probs_x[i].argmax()),
                "predicted_e": int(probs_e[i].argmax()),
                # the criterion of `evidence_kept`: top-1 kept, or for a target ranked r > 1 on x, rank
                # no worse and probability no lower on e
                "label_kept": bool(kept[i]),
                "criterion": "top1" if rank_x == 1 else "rank_and_probability",
                "rank_x": rank_x,
                "rank_e": int(ranks_e[i]),
                "status": target_status(rank_x, float(probs_x[i, t]), bool(kept[i])),
                "confidence_x": float(probs_x[i, t]),
                "top1_confidence_x": float(probs_x[i].max()),
                "confidence_e": float(probs_e[i, t]),
                "mask_area": float(masks[i].mean()),
            } | extra,
        ))
    return out
