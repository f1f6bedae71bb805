"""The paper's loss terms as pure functions of tensors; each returns one value per image ([B])."""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
