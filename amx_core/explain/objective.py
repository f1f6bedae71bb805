"""The paper's objective: each loss term as a pure function of tensors (one value per image, [B]), and
`objective_terms`, their weighted sum's terms from one classifier call, which the per-image explainer,
the amortised generator's training and its refinement all optimise."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import ExplainConfig
from ..models import Classifier, apply_mask
from .explanation import target_rank


def activation_distance(ref: torch.Tensor, act: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Distance between activations of x and e, normalised so layers of any scale count alike.

    mse: mean squared difference divided by the mean square of the reference (relative MSE).
    cosine: 1 - cosine similarity of the flattened activations.
    """
    r = ref.flatten(1)
    a = act.flatten(1)
    if kind == "mse":
        return (a - r).pow(2).mean(1) / (r.pow(2).mean(1) + 1e-8)
    if kind == "cosine":
        return 1 - F.cosine_similarity(a, r, dim=1, eps=1e-8)
    raise ValueError(f"unknown activation distance {kind!r}")


def kl_outputs(logits_x: torch.Tensor, logits_e: torch.Tensor) -> torch.Tensor:
    """KL(softmax f(x) || softmax f(e)) per image."""
    log_p = F.log_softmax(logits_x, dim=1)
    log_q = F.log_softmax(logits_e, dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(1)


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, target, reduction="none")


def evidence_hinge(logits: torch.Tensor, target: torch.Tensor, logits_x: torch.Tensor,
                   margin: float = 0.1) -> torch.Tensor:
    """The loss of `explanation.evidence_kept` for a target ranked r on x, per image: how far the target's
    log-probability falls below its value on x, and its logit below the r-th strongest other class
    (each a hinge with `margin`); zero once the criterion holds with the margin."""
    t = target.view(-1, 1)
    lp_e = F.log_softmax(logits, 1).gather(1, t)[:, 0]
    lp_x = F.log_softmax(logits_x, 1).gather(1, t)[:, 0]
    rank_x = target_rank(logits_x, target).clamp(max=logits.shape[1] - 1)
    others = logits.scatter(1, t, float("-inf"))
    rth = others.topk(int(rank_x.max()), dim=1).values.gather(1, (rank_x - 1).view(-1, 1))[:, 0]
    return F.relu(lp_x - lp_e + margin) + F.relu(rth - logits.gather(1, t)[:, 0] + margin)


def label_loss(logits: torch.Tensor, target: torch.Tensor, logits_x: torch.Tensor) -> torch.Tensor:
    """The label term per image: cross-entropy where the target is the original's top-1 (the paper's);
    `evidence_hinge` where the model ranks it lower on x (keep its rank and probability, not force it
    to the top)."""
    ce = cross_entropy(logits, target)
    first = target_rank(logits_x, target) == 1
    if bool(first.all()):
        return ce
    return torch.where(first, ce, evidence_hinge(logits, target, logits_x))


def area(mask: torch.Tensor) -> torch.Tensor:
    """L1 area: the mean mask value (fraction of kept pixels for a binary mask)."""
    return mask.flatten(1).abs().mean(1)


def binarization(mask: torch.Tensor) -> torch.Tensor:
    """mean |m - m^2|: zero exactly when every value is 0 or 1, largest at 0.5."""
    return (mask - mask * mask).flatten(1).abs().mean(1)


def total_variation(mask: torch.Tensor) -> torch.Tensor:
    """Anisotropic TV: mean absolute difference between horizontal and vertical neighbours."""
    dh = (mask[..., 1:, :] - mask[..., :-1, :]).abs().flatten(1).mean(1)
    dw = (mask[..., :, 1:] - mask[..., :, :-1]).abs().flatten(1).mean(1)
    return dh + dw


def area_hinge(mask: torch.Tensor, target: float | torch.Tensor) -> torch.Tensor:
    """Squared excess of the area over a target (a number, or one per image): pulls large masks down,
    leaves small ones alone."""
    return F.relu(area(mask) - target).pow(2)


def objective_terms(classifier: Classifier, acts: dict, pixels: torch.Tensor, mask: torch.Tensor, soft: torch.Tensor,
                    goals: torch.Tensor, backgrounds: torch.Tensor, ref: dict, logits_x: torch.Tensor,
                    target: torch.Tensor, cfg: ExplainConfig) -> dict[str, torch.Tensor]:
    """The paper's objective, one weighted term per image ([B] each), from one classifier call on the
    explanation e = m*x and on m*x + (1-m)*r for the given random backgrounds r ([nr*B,3,H,W]).

    `mask` is what the classifier sees (soft or straight-through binary); the priors act on `soft`.
    `acts` holds the tapped activations of that call, `ref` those of the reference pass on x.
    """
    b = pixels.shape[0]
    nr = backgrounds.shape[0] // b
    taps = classifier.spec.taps
    e = apply_mask(pixels, mask, classifier.baseline)
    e_rob = pixels.repeat(nr, 1, 1, 1) * mask.repeat(nr, 1, 1, 1) + (1 - mask.repeat(nr, 1, 1, 1)) * backgrounds
    logits = classifier(torch.cat([e, e_rob]))
    logits_e, logits_r = logits[:b], logits[b:]
    alpha = torch.tensor(cfg.layer_weights, device=pixels.device)
    act_terms = torch.stack([activation_distance(ref[t], acts[t][:b], cfg.activation_distance) for t in taps], 1)
    return {
        "activation": cfg.activation * (act_terms * alpha).sum(1) / alpha.sum(),
        "kl": cfg.kl * kl_outputs(logits_x, logits_e),
        "ce": cfg.ce * label_loss(logits_e, target, logits_x),
        "area": cfg.area * area(soft),
        "area_hinge": cfg.area_hinge * area_hinge(soft, goals),
        "binarization": cfg.binarization * binarization(soft),
        "tv": cfg.tv * total_variation(soft),
        "robustness": cfg.robustness * label_loss(logits_r, target.repeat(nr), logits_x.repeat(nr, 1)).view(nr, b).mean(0),
    }
