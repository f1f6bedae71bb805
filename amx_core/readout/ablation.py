"""Verification of circuits by intervention: ablate channels at the tapped layers and watch the target
logit (and, for single edges, the target channel).

* Sufficiency: keep only the circuit's channels at every tapped layer, ablate all others.
* Necessity: ablate only the circuit's channels.
* Baseline: random circuits with the same number of channels per layer (seeded draws).
* Sufficiency curve: top-1 kept against k channels per layer, circuit against random.

Ablation replaces a channel's whole map by a constant: `zero`, or `mean` = that channel's spatial mean
on this image's clean pass (or a provided reference, e.g. a dataset mean). Caution: with the image's own
means, mean-ablating the last tap changes nothing a global-pool head can see, so `mean` without a
reference is a weak test at the last layer; `zero` and dataset-mean references are the strict ones.

All results are plain dicts of floats (and, for curves, lists of floats), ready for `Circuit.metrics`
and JSON. Output-editing hooks exist only inside `intervene` (built on `hooks.hooked`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from ..circuit import Circuit, split_cid
from ..hooks import capture, frozen, hooked
from ..models import Classifier, apply_mask
from .reader import DEFAULT_READOUT, ReadoutConfig, circuit_channels, read_circuit

ABLATION_MODES = ("zero", "mean")
Channels = Mapping[str, Sequence[int]]  # tapped layer -> channel indices


@contextmanager
def intervene(model: nn.Module, edits: Mapping[str, Callable[[torch.Tensor], torch.Tensor]]) -> Iterator[None]:
    """Inside the block, the output of each named module is replaced by `edits[name](output)`.
    The hooks go when the block ends, also when it raises; an unknown name raises KeyError first."""
    with hooked(model, forward={name: (lambda _m, _i, out, fn=fn: fn(out)) for name, fn in edits.items()}):
        yield


def circuit_to_channels(circuit: Circuit) -> dict[str, list[int]]:
    """Kept channels per layer of a Circuit, in rank order."""
    out: dict[str, list[int]] = {layer: [] for layer in circuit.layers}
    for n in sorted(circuit.nodes, key=lambda n: (n.layer, n.rank)):
        out.setdefault(n.layer, []).append(n.channel)
    return out


def random_channels(channels: Channels, widths: Mapping[str, int], generator: torch.Generator) -> dict[str, list[int]]:
    """Same number of channels per layer as `channels`, drawn uniformly without replacement."""
    return {layer: sorted(int(i) for i in torch.randperm(widths[layer], generator=generator)[: len(chs)])
            for layer, chs in channels.items()}


def _batch(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.unsqueeze(0) if pixels.dim() == 3 else pixels


def clean_means(classifier: Classifier, pixels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Logits [n] and per-layer channel spatial means [C] of one clean pass."""
    with frozen(classifier), torch.no_grad(), capture(classifier.net, outputs=classifier.spec.taps) as acts:
        logits = classifier(_batch(pixels))[0]
    return logits, {t: acts[t][0].mean((1, 2)) for t in classifier.spec.taps}


def ablated_logits(
    classifier: Classifier,
    pixels: torch.Tensor,
    variants: Sequence[Channels],
    *,
    keep: bool = True,
    mode: str = "zero",
    fill: Mapping[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Logits [len(variants), n] of one image under each variant, all in one batched pass.

    `keep=True`: only the listed channels survive at each listed layer (sufficiency);
    `keep=False`: the listed channels are ablated (necessity). Layers absent from a variant are left
    alone. `fill[layer]` is the [C] constant used by `mean` mode.
    """
    if mode not in ABLATION_MODES:
        raise ValueError(f"ablation mode must be one of {ABLATION_MODES}, got {mode!r}")
    if mode == "mean" and fill is None:
        raise ValueError("mean ablation needs per-layer fill values")
    x = _batch(pixels)
    b = len(variants)
    layers = sorted({layer for v in variants for layer in v})
    edits = {}
    for layer in layers:
        masks = []
        for v in variants:
            masks.append(v.get(layer))
        edits[layer] = _editor(masks, keep, None if fill is None else fill[layer])
    with frozen(classifier), torch.no_grad(), intervene(classifier.net, edits):
        return classifier(x.expand(b, *x.shape[1:]))


def _editor(chosen: list[Sequence[int] | None], keep: bool, fill: torch.Tensor | None):
    def edit(out: torch.Tensor) -> torch.Tensor:
        b, c = out.shape[:2]
        m = torch.zeros(b, c, device=out.device, dtype=out.dtype)  # 1 = survives
        for i, chs in enumerate(chosen):
            if chs is None:
                m[i] = 1.0
                continue
            idx = torch.as_tensor(list(chs), dtype=torch.long, device=out.device)
            if keep:
                m[i, idx] = 1.0
            else:
                m[i] = 1.0
                m[i, idx] = 0.0
        m = m.view(b, c, *([1] * (out.dim() - 2)))
        base = 0.0 if fill is None else fill.to(out.dtype).view(1, c, *([1] * (out.dim() - 2)))
        return out * m + (1 - m) * base

    return edit


def _fill(classifier, pixels, mode, reference):
    """Clean logits, the fill values for `mode`, and the tapped layers' widths: all from one clean pass."""
    logits, means = clean_means(classifier, pixels)
    widths = {t: int(m.shape[0]) for t, m in means.items()}
    if mode == "zero":
        return logits, None, widths
    return logits, (dict(reference) if reference is not None else means), widths


def _summary(logits: torch.Tensor, clean: torch.Tensor, target: int) -> tuple[list[float], list[float], list[float]]:
    top1 = (logits.argmax(1) == target).float()
    frac = logits[:, target] / clean[target] if float(clean[target]) != 0 else logits[:, target] * 0
    prob = torch.softmax(logits, 1)[:, target]
    return top1.tolist(), frac.tolist(), prob.tolist()


def _mean(xs: Sequence[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else float("nan")


def verify_circuit(
    classifier: Classifier,
    pixels: torch.Tensor,
    circuit: Circuit | Channels,
    *,
    mode: str = "zero",
    reference: Mapping[str, torch.Tensor] | None = None,
    n_random: int = 5,
    seed: int = 0,
    class_index: int | None = None,
) -> dict[str, float]:
    """Sufficiency and necessity of a circuit on `pixels` (the input it was read from), each against
    `n_random` random circuits of the same per-layer size. Two batched passes plus one clean pass.

    Keys: suff_top1, suff_logit_frac, suff_prob, suff_random_top1, suff_random_logit_frac,
    nec_top1, nec_logit_drop, nec_random_top1, nec_random_logit_drop (random_* are means over draws;
    logit_frac = ablated target logit / clean target logit; logit_drop = 1 - logit_frac).
    """
    chans = circuit_to_channels(circuit) if isinstance(circuit, Circuit) else {k: list(v) for k, v in circuit.items()}
    if class_index is None and isinstance(circuit, Circuit) and "target" in circuit.metrics:
        class_index = int(circuit.metrics["target"])
    clean, fill, widths = _fill(classifier, pixels, mode, reference)
    target = int(clean.argmax()) if class_index is None else int(class_index)
    gen = torch.Generator().manual_seed(seed)
    variants = [chans] + [random_channels(chans, widths, gen) for _ in range(n_random)]
    out: dict[str, float] = {"ablation_zero": float(mode == "zero"), "n_random": float(n_random)}
    for name, keep in (("suff", True), ("nec", False)):
        top1, frac, prob = _summary(ablated_logits(classifier, pixels, variants, keep=keep, mode=mode, fill=fill),
                                    clean, target)
        out[f"{name}_top1"] = top1[0]
        if keep:
            out[f"{name}_logit_frac"] = frac[0]
            out[f"{name}_prob"] = prob[0]
            out[f"{name}_random_logit_frac"] = _mean(frac[1:])
        else:
            out[f"{name}_logit_drop"] = 1.0 - frac[0]
            out[f"{name}_random_logit_drop"] = 1.0 - _mean(frac[1:])
        out[f"{name}_random_top1"] = _mean(top1[1:])
    return out


def sufficiency_curve(
    classifier: Classifier,
    pixels: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    ks: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
    config: ReadoutConfig = DEFAULT_READOUT,
    mode: str = "zero",
    reference: Mapping[str, torch.Tensor] | None = None,
    n_random: int = 5,
    seed: int = 0,
    class_index: int | None = None,
) -> dict[str, list[float]]:
    """Top-1 kept and logit fraction against k channels per tapped layer (capped at each layer's width),
    for the circuit read with `config` from pixels (or mask*pixels) and for `n_random` random circuits of
    the same per-layer size, evaluated on that same input. One readout plus one batched pass per k."""
    x = pixels if mask is None else apply_mask(pixels, mask, classifier.baseline[0])
    clean, fill, widths = _fill(classifier, x, mode, reference)
    target = int(clean.argmax()) if class_index is None else int(class_index)
    selections = circuit_channels(classifier, x, config=config, class_index=target, ks=ks)
    gen = torch.Generator().manual_seed(seed)
    curve: dict[str, list[float]] = {k: [] for k in (
        "k", "circuit_top1", "circuit_logit_frac", "random_top1", "random_logit_frac")}
    for k, chans in zip(ks, selections, strict=True):
        variants = [chans] + [random_channels(chans, widths, gen) for _ in range(n_random)]
        top1, frac, _ = _summary(ablated_logits(classifier, x, variants, keep=True, mode=mode, fill=fill),
                                 clean, target)
        curve["k"].append(float(k))
        curve["circuit_top1"].append(top1[0])
        curve["circuit_logit_frac"].append(frac[0])
        curve["random_top1"].append(_mean(top1[1:]))
        curve["random_logit_frac"].append(_mean(frac[1:]))
    return curve


def curve_metrics(curve: Mapping[str, Sequence[float]], prefix: str = "suffcurve") -> dict[str, float]:
    """Flatten a curve into scalar metrics: `<prefix>_k<k>_<series>`."""
    out = {}
    for i, k in enumerate(curve["k"]):
        for series in ("circuit_top1", "circuit_logit_frac", "random_top1", "random_logit_frac"):
            out[f"{prefix}_k{int(k)}_{series}"] = float(curve[series][i])
    return out


def edge_effects(classifier: Classifier, pixels: torch.Tensor, circuit: Circuit) -> dict[tuple[str, str], float]:
    """Measured effect of every circuit edge: zero-ablate the source channel alone at its tap and take
    |change of the target channel's spatial mean| at the next tap. One batched pass per layer pair."""
    taps = list(circuit.layers)
    by_src: dict[str, list[int]] = {}
    for e in circuit.edges:
        layer, ch = split_cid(e.src)
        by_src.setdefault(layer, [])
        if ch not in by_src[layer]:
            by_src[layer].append(ch)
    x = _batch(pixels)
    _, clean = clean_means(classifier, x)
    effects: dict[tuple[str, str], float] = {}
    for layer, sources in by_src.items():
        dst = taps[taps.index(layer) + 1]
        variants = [[s] for s in sources]
        with frozen(classifier), torch.no_grad(), capture(classifier.net, outputs=[dst]) as acts, \
                intervene(classifier.net, {layer: _editor(variants, False, None)}):
            classifier(x.expand(len(sources), *x.shape[1:]))
        delta = (acts[dst].mean((2, 3)) - clean[dst].unsqueeze(0)).abs()  # [n_sources, C_dst]
        for e in circuit.edges:
            sl, sc = split_cid(e.src)
            if sl == layer:
                effects[(e.src, e.dst)] = float(delta[sources.index(sc), split_cid(e.dst)[1]])
    return effects


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) < 2:
        return float("nan")
    ra = torch.tensor(a, dtype=torch.float64).argsort().argsort().double()
    rb = torch.tensor(b, dtype=torch.float64).argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(ra.norm() * rb.norm())
    return float((ra * rb).sum()) / den if den > 0 else float("nan")


def edge_fidelity(classifier: Classifier, pixels: torch.Tensor, circuit: Circuit) -> dict[str, float]:
    """How well edge weights predict intervention: Spearman rank correlation between each edge's weight
    and its measured effect (`edge_effects`), per target node (mean over targets) and over all edges of
    a layer pair (mean over pairs); plus the share of targets whose heaviest edge has the largest effect."""
    effects = edge_effects(classifier, pixels, circuit)
    by_dst: dict[str, list[tuple[float, float]]] = {}
    by_pair: dict[str, list[tuple[float, float]]] = {}
    for e in circuit.edges:
        eff = effects[(e.src, e.dst)]
        by_dst.setdefault(e.dst, []).append((e.weight, eff))
        by_pair.setdefault(split_cid(e.src)[0], []).append((e.weight, eff))
    per_target = [_spearman([w for w, _ in v], [f for _, f in v]) for v in by_dst.values()]
    per_pair = [_spearman([w for w, _ in v], [f for _, f in v]) for v in by_pair.values()]
    top_hit = [float(max(v)[1] >= max(f for _, f in v) - 1e-12) for v in by_dst.values()]
    per_target = [r for r in per_target if r == r]
    per_pair = [r for r in per_pair if r == r]
    return {"edge_spearman_target": _mean(per_target), "edge_spearman_pair": _mean(per_pair),
            "edge_top_hit": _mean(top_hit)}


def dataset_reference(classifier: Classifier, images: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-layer channel means over a set of images (each image's spatial mean, averaged): the
    reference for `mean` ablation that does not leak the image's own statistics."""
    total: dict[str, torch.Tensor] = {}
    for img in images:
        _, means = clean_means(classifier, img)
        for t, m in means.items():
            total[t] = total.get(t, 0) + m
    return {t: v / len(images) for t, v in total.items()}


def read_verified_circuits(classifier: Classifier, pixels: torch.Tensor, explanation: torch.Tensor, target: int, *,
                           image_id: str, config: ReadoutConfig = DEFAULT_READOUT,
                           n_random: int = 5) -> tuple[Circuit, Circuit]:
    """The original's and the explanation's circuits for `target`, each with its ablation checks in
    its metrics (what amx-explain and amx-ingest both record)."""
    circuits = []
    for kind, x in (("original", pixels), ("explanation", explanation)):
        c = read_circuit(classifier, x, config=config, image_id=image_id, kind=kind, class_index=target)
        c.metrics.update(verify_circuit(classifier, x, c, class_index=target, n_random=n_random))
        circuits.append(c)
    return circuits[0], circuits[1]


__all__ = [
    "ABLATION_MODES", "intervene", "circuit_to_channels", "random_channels", "clean_means", "ablated_logits",
    "verify_circuit", "sufficiency_curve", "curve_metrics", "edge_effects", "edge_fidelity", "dataset_reference",
    "read_verified_circuits",
]
