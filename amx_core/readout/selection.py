"""Which channels of each tapped layer become circuit nodes.

Activations are the post-activation maps a_l[c, h, w] of the tapped modules.

* Channel score ("energy"): `mean` = spatial mean of |a|, or `square` = spatial mean of a^2. A node's
  `activation` is always the spatial mean of |a| (what a global pool would pass on).
* Node selection: `activation` (the paper's rule: top-k, or the smallest energy fraction, by score,
  each layer on its own), `attribution` (the same rule on activation x gradient of the target logit,
  summed over space: the channels that push this class up, not the loudest ones, which are the same
  generic channels on every image) or `flow` (backward from the target class: final-layer channels by the weight
  of their logit links, each earlier layer by the summed weight of its edges into the channels kept one
  layer up), so that flow keeps the channels that feed the class rather than the loudest ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

SELECTIONS = ("activation", "attribution", "flow")
ENERGIES = ("mean", "square")


def channel_scores(act: torch.Tensor, energy: str = "mean") -> torch.Tensor:
    """[C, H, W] (or [C]) activation -> [C] score."""
    a = act.reshape(act.shape[0], -1)
    return a.abs().mean(1) if energy == "mean" else a.pow(2).mean(1)


def select_channels(
    scores: torch.Tensor, *, top_k: int = 16, energy_fraction: float | None = None, max_per_layer: int = 128
) -> list[int]:
    """Channel indices, highest score first: the top k, or the smallest set whose scores hold
    `energy_fraction` of the layer's total (at most `max_per_layer`, at least one). Ties: lower index first."""
    t = scores.detach().double().cpu()
    s = t.tolist()
    order = sorted(range(len(s)), key=lambda i: (-s[i], i))
    if energy_fraction is None:
        return order[: min(top_k, len(order))]
    total = float(t.clamp_min(0).sum())
    kept, acc = [], 0.0
    for i in order:
        if len(kept) >= max_per_layer or (kept and acc >= energy_fraction * total - 1e-12):
            break
        kept.append(i)
        acc += max(s[i], 0.0)
    return kept


def select_nodes(
    selection: str,
    taps: Sequence[str],
    scores: Mapping[str, torch.Tensor],
    pick: Callable[[torch.Tensor], list[int]],
    target_rows: Callable[[], torch.Tensor],
    edge_rows: Callable[[int, Sequence[int]], torch.Tensor],
) -> dict[str, list[int]]:
    """Kept channels per tap, best first. `pick` turns a [C] score into channels (`select_channels` with
    the config's k). `activation`: `pick(scores[tap])` per tap. `flow`: the last tap by
    `target_rows()` ([1, C_last] logit-link weights into the target class), then each earlier tap i by
    `edge_rows(i, channels kept at tap i+1)` ([k, C_i] edge weights) summed over the kept targets.
    `attribution` is `activation` on attribution scores (the reader passes them as `scores`)."""
    if selection in ("activation", "attribution"):
        return {t: pick(scores[t]) for t in taps}
    chosen: dict[str, list[int]] = {}
    rows = target_rows()
    for i in range(len(taps) - 1, -1, -1):
        chosen[taps[i]] = pick(rows.sum(0))
        if i:
            rows = edge_rows(i - 1, chosen[taps[i]])
    return {t: chosen[t] for t in taps}


__all__ = ["SELECTIONS", "ENERGIES", "channel_scores", "select_channels", "select_nodes"]
