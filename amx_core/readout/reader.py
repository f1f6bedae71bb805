"""Reading one image's circuit: nodes (kept channels per tapped layer), edges between successive taps,
and links from the last tap to the class logits, all from one classifier forward pass.

Edge weight from source channel s at tap l to target channel t at tap l+1 depends on the ingress mode:

* `weights`, `gated`, `signed` (the default): |M[t, s]| x activation(s), M the composed path matrix of
  the classifier's linear surrogate, ungated or gated by this image's activation gains (see
  `readout.surrogate`). `signed` is the default: nearly as faithful to ablation as `gradient` at the
  cost of `gated` (a few surrogate passes per circuit, no extra classifier pass).
* `gradient`: |sum_hw d mean_hw(a_t) / d a_s[h, w] * a_s[h, w]| = |d mean(a_t) / d alpha_s|, alpha_s
  scaling source channel s (at 1): the first-order effect of ablating the channel, from vector-Jacobian
  products on this image's own forward graph (ReLU gating, signs and spatial layout count). For a
  linear path with a >= 0 it reduces to |W[t, s]| x activation(s). Logit links: |sum_hw d logit_c /
  d a_last[s, h, w] * a_last[s, h, w]|. One backward call per kept target channel and per linked class,
  each through the segment between two taps only: the most faithful mode and by far the slowest.

Logit links go to the target class (default: this pass's top-1) and to the other classes among this
pass's top `n_classes`, `n_classes` in all. Edge weights are computed lazily: only between kept channels,
plus, with flow selection, the full rows that the backward walk from the class needs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace

import torch

from ..circuit import Circuit, Edge, LogitLink, Node, config_hash, make_cid
from ..hooks import capture, frozen
from ..models import Classifier, apply_mask, imagenet_classes
from .selection import ENERGIES, SELECTIONS, channel_scores, select_channels, select_nodes
from .surrogate import ProbeGraph, record_gains, surrogate_for

INGRESS_MODES = ("weights", "gated", "signed", "gradient")
ATTRIBUTE_TO = ("logit", "log_prob")


@dataclass(frozen=True)
class ReadoutConfig:
    selection: str = "attribution"  # "attribution" (activation x gradient of the target logit: the channels
    #   that carry this class; the default, chosen by bench/circuit_specificity.py) | "activation" (the paper's
    #   most energetic channels, the same generic ones on most images) | "flow" (backward from the class)
    top_k: int = 16  # channels kept per tapped layer (capped at the layer's width)
    energy_fraction: float | None = None  # if set: smallest set holding this fraction of the layer's score
    max_per_layer: int = 128  # cap for energy_fraction mode
    energy: str = "mean"  # channel score: "mean" (mean |a|) | "square" (mean a^2)
    ingress: str = "signed"  # "weights" (composed |W| paths) | "gated" (the same, gated by this image's
    #   activation gains) | "signed" (gated, signed weights, |.| of the composed value; the default) |
    #   "gradient" (|d target / d scale of the source channel|)
    n_classes: int = 1  # logit links to the top-n classes (the target class always included)
    edges_per_target: int | None = None  # keep only the heaviest incoming edges per node; None = all
    edge_share: float | None = 0.8  # keep, per node, the fewest heaviest incoming edges holding this share
    #   of its incoming weight (so that edges, not only nodes, differ between images); None = all
    attribute_to: str = "logit"  # attribution selection's objective: "logit" (the target's logit) |
    #   "log_prob" (its log-probability: evidence for the target against the other classes)

    def __post_init__(self) -> None:
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {self.selection!r}")
        if self.ingress not in INGRESS_MODES:
            raise ValueError(f"ingress must be one of {INGRESS_MODES}, got {self.ingress!r}")
        if self.energy not in ENERGIES:
            raise ValueError(f"energy must be one of {ENERGIES}, got {self.energy!r}")
        if self.top_k < 1 or self.n_classes < 1 or self.max_per_layer < 1:
            raise ValueError("top_k, n_classes and max_per_layer must be >= 1")
        if self.energy_fraction is not None and not 0.0 < self.energy_fraction <= 1.0:
            raise ValueError(f"energy_fraction must be in (0, 1], got {self.energy_fraction}")
        if self.attribute_to not in ATTRIBUTE_TO:
            raise ValueError(f"attribute_to must be one of {ATTRIBUTE_TO}, got {self.attribute_to!r}")
        if self.edge_share is not None and not 0.0 < self.edge_share <= 1.0:
            raise ValueError(f"edge_share must be in (0, 1], got {self.edge_share}")

    def with_(self, **changes) -> ReadoutConfig:
        return replace(self, **changes)


DEFAULT_READOUT = ReadoutConfig()
# the paper's readout: the most energetic channels per layer, every edge between them
PAPER_READOUT = ReadoutConfig(selection="activation", edge_share=None)


class _Reader:
    """One forward pass of one image, with lazily computed edge weights (all ingress modes).

    Pairs are indexed 0 .. len(taps) - 1: pair i reads from tap i into tap i+1, the last pair from the
    last tap into the logits. `rows(i, targets)` gives [len(targets), C_i] edge weights; `prefetch`
    computes several pairs at once (gated: one backward call of the 1x1 surrogate for all of them)."""

    def __init__(self, classifier: Classifier, x: torch.Tensor, config: ReadoutConfig, class_index: int | None,
                 *, reserve: int | None = None):
        self.classifier, self.config = classifier, config
        self.taps = classifier.spec.taps
        self.last = len(self.taps) - 1  # index of the pair last tap -> logits
        self.grad = config.ingress == "gradient"
        attribute = config.selection == "attribution"
        self.gated = config.ingress in ("gated", "signed")  # both read rows from a probe graph
        self.backward_calls = 0  # classifier: one per vector-Jacobian product (gradient mode)
        self.forward_passes = 0  # classifier forward passes
        self.surrogate_calls = 0  # 1x1 surrogate: forward passes + backward calls (gated mode)
        self.reserve = reserve  # the largest top_k that select() will be asked for (sizes the probe graph)
        self._rows: dict = {}
        self._one: dict = {}  # gradient mode: (pair, target) -> row
        self._graph: ProbeGraph | None = None
        x = x.unsqueeze(0) if x.dim() == 3 else x
        if x.shape[0] != 1:
            raise ValueError(f"read one image at a time, got a batch of {x.shape[0]}")
        self.sur = None if self.grad else surrogate_for(classifier, signed=config.ingress == "signed")
        names = self.sur.needed_gains if self.gated else ()
        with torch.set_grad_enabled(self.grad or attribute), capture(classifier.net, outputs=self.taps) as acts, \
                record_gains(classifier.net, names) as gains:
            inp = x.detach().clone().requires_grad_(self.grad or attribute)
            self.logits = classifier(inp)[0]
            self.forward_passes += 1
            self.full = {t: acts[t] for t in self.taps}  # [1, C, H, W], on the autograd graph in gradient mode
            self.acts = {t: acts[t][0] for t in self.taps}
        self.gains = gains
        probs = torch.softmax(self.logits.detach(), 0)
        self.predicted = int(probs.argmax())
        self.confidence = float(probs[self.predicted])
        self.target = self.predicted if class_index is None else int(class_index)
        if attribute:
            self.attribution = self._attribution()
        if not self.grad:
            self.logits = self.logits.detach()
            self.acts = {t: a.detach() for t, a in self.acts.items()}
        top = [int(i) for i in probs.topk(min(config.n_classes, len(probs))).indices]
        self.classes = [self.target] + [c for c in top if c != self.target][: config.n_classes - 1]
        self.act_mean = {t: self.acts[t].detach().abs().mean((1, 2)) for t in self.taps}
        if attribute:
            self.scores = self.attribution
        elif config.energy == "mean":
            self.scores = self.act_mean
        else:
            self.scores = {t: channel_scores(self.acts[t].detach(), config.energy) for t in self.taps}

    def _attribution(self) -> dict[str, torch.Tensor]:
        """Per tap, [C] = sum_hw a * d objective / d a: each channel's first-order share of the target's
        logit or log-probability (`attribute_to`; activation x gradient). One backward call through the
        whole network for all taps."""
        outs = [self.full[t] for t in self.taps]
        objective = self.logits[self.target] if self.config.attribute_to == "logit" else \
            torch.log_softmax(self.logits, 0)[self.target]
        grads = torch.autograd.grad(objective, outs, retain_graph=self.grad)
        self.backward_calls += 1
        return {t: (g[0] * a.detach()[0]).flatten(1).sum(1) for t, g, a in zip(self.taps, grads, outs, strict=True)}

    def _vjp(self, outputs: torch.Tensor, src: str) -> torch.Tensor:
        """[n, C_src] = |sum_hw d outputs_i / d a_src * a_src| = |d outputs_i / d alpha_s| where alpha_s scales
        source channel s: the first-order effect of ablating the channel. One backward call per output,
        through the segment between `src` and the outputs only (a vmapped batch was slower on CPU)."""
        a = self.full[src]
        rows = []
        for i in range(outputs.shape[0]):
            (g,) = torch.autograd.grad(outputs[i], a, retain_graph=True)
            rows.append((g[0] * a.detach()[0]).flatten(1).sum(1).abs())
            self.backward_calls += 1
        return torch.stack(rows)

    def _probe_graph(self, need: dict[int, int]) -> ProbeGraph:
        """This image's gated probe graph: one surrogate forward with a probe block per pair, sized for
        every selection this reader may make; built again (larger) only if a request does not fit."""
        g = self._graph
        if g is not None and all(g.size(i) >= k for i, k in need.items()):
            return g
        cfg = self.config
        cap = self.reserve or (cfg.top_k if cfg.energy_fraction is None else cfg.max_per_layer)
        sizes = {i: min(cap, self.sur.widths[self.taps[i + 1]]) for i in range(self.last)}
        sizes[self.last] = len(self.classes)
        for i, k in need.items():
            sizes[i] = max(sizes[i], k, g.size(i) if g is not None else 0)
        self._graph = self.sur.probe_pass(sizes, self.gains)
        self.surrogate_calls += 1
        return self._graph

    def prefetch(self, requests: dict[int, Sequence[int]]) -> None:
        """Compute the rows of several pairs ({pair: targets}) at once."""
        todo = {i: list(t) for i, t in requests.items() if (i, tuple(t)) not in self._rows and len(t)}
        if not todo:
            return
        if not self.gated:
            for i, t in todo.items():
                self.rows(i, t)
            return
        graph = self._probe_graph({i: len(t) for i, t in todo.items()})
        got = graph.rows(todo)
        self.surrogate_calls += 1
        for i, t in todo.items():
            src = self.act_mean[self.taps[i]]
            self._rows[(i, tuple(t))] = got[i].to(src.device, src.dtype).detach().abs() * src.unsqueeze(0)

    def blocks(self, requests: dict[int, tuple[Sequence[int], Sequence[int]]]) -> dict[int, torch.Tensor]:
        """{pair i: (targets, sources)} -> {pair i: [len(targets), len(sources)]} edge weights between the
        given channels only. Gated modes with no full rows computed yet (activation selection): the
        columns of all pairs from one forward-mode surrogate pass, no backward."""
        out: dict[int, torch.Tensor] = {}
        missing: dict[int, tuple[list[int], list[int]]] = {}
        for i, (t, s) in requests.items():
            key = (i, tuple(t))
            if key in self._rows or not self.gated:
                out[i] = self.rows(i, t)[:, list(s)]
            else:
                missing[i] = (list(t), list(s))
        if missing:
            cols = self.sur.columns({i: s for i, (_, s) in missing.items()}, self.gains)
            self.surrogate_calls += 1
            for i, (t, s) in missing.items():
                src = self.act_mean[self.taps[i]]
                block = cols[i].to(src.device, src.dtype)[t] if t else src.new_zeros(0, len(s))
                out[i] = block.abs() * src[s].unsqueeze(0)
        return out

    def rows(self, i: int, targets: Sequence[int]) -> torch.Tensor:
        """[len(targets), C_i]: weights from every channel of tap i into `targets` of tap i+1 (channels),
        or, for i = len(taps) - 1, into the logits of `targets` (classes)."""
        key = (i, tuple(targets))
        if not key[1]:
            return self.act_mean[self.taps[i]].new_zeros(0, self.act_mean[self.taps[i]].shape[0])
        if key not in self._rows:
            if self.gated:
                self.prefetch({i: targets})
            else:
                self._rows[key] = self._direct_rows(i, targets).detach()
        return self._rows[key]

    def _direct_rows(self, i: int, targets: Sequence[int]) -> torch.Tensor:
        src = self.taps[i]
        t = torch.as_tensor(list(targets), dtype=torch.long, device=self.act_mean[src].device)
        if self.grad:  # one backward call per target, each kept for later requests (selections for several k)
            need = [x for x in dict.fromkeys(int(x) for x in targets) if (i, x) not in self._one]
            if need:
                n = torch.as_tensor(need, dtype=torch.long, device=t.device)
                out = self.logits[n] if i == self.last else self.acts[self.taps[i + 1]][n].mean((1, 2))
                for x, row in zip(need, self._vjp(out, src).detach(), strict=True):
                    self._one[(i, x)] = row
            return torch.stack([self._one[(i, int(x))] for x in targets])
        return self.sur.mats[i].to(t.device)[t] * self.act_mean[src].unsqueeze(0)

    def _pick(self, scores: torch.Tensor, top_k: int | None) -> list[int]:
        cfg = self.config
        if top_k is not None:
            return select_channels(scores, top_k=top_k)
        return select_channels(scores, top_k=cfg.top_k, energy_fraction=cfg.energy_fraction,
                               max_per_layer=cfg.max_per_layer)

    def select(self, top_k: int | None = None) -> dict[str, list[int]]:
        """Kept channels per tap, best first. `top_k` overrides the config (and its energy_fraction)."""
        return select_nodes(self.config.selection, self.taps, self.scores, lambda s: self._pick(s, top_k),
                            lambda: self.rows(self.last, [self.target]), self.rows)


def _frozen(classifier: Classifier):
    """`hooks.frozen`, or nothing where it would change nothing (a Classifier is built in eval mode with
    gradients off): its two walks over every module cost about a tenth of a forward pass."""
    if any(m.training for m in classifier.modules()) or any(p.requires_grad for p in classifier.parameters()):
        return frozen(classifier)
    return nullcontext(classifier)


def _sparse(pairs: list[tuple[float, int]], config: ReadoutConfig) -> list[tuple[float, int]]:
    """One node's incoming (weight, source) pairs, heaviest first, cut by `edges_per_target` and
    `edge_share` (the fewest pairs whose weights hold that share of the node's incoming total; an edge
    of weight 0 carries nothing and is never kept)."""
    if config.edges_per_target is None and config.edge_share is None:
        return pairs
    pairs = sorted(pairs, key=lambda p: (-p[0], p[1]))
    if config.edges_per_target is not None:
        pairs = pairs[: config.edges_per_target]
    if config.edge_share is not None:
        goal, acc, kept = config.edge_share * sum(w for w, _ in pairs if w > 0), 0.0, []
        for w, s in pairs:
            if w <= 0 or (kept and acc >= goal - 1e-12):
                break
            kept.append((w, s))
            acc += w
        pairs = kept
    return pairs


def _class_names(classifier: Classifier, n: int) -> list[str]:
    """The classifier's own class names (its labels; ImageNet's for a 1000-way head; else "class i")."""
    names = getattr(classifier, "classes", None)
    if names is not None and len(names) == n:
        return list(names)
    return imagenet_classes() if n == 1000 else [f"class {i}" for i in range(n)]


def _peaks(r: _Reader, tap: str, channels: Sequence[int]) -> dict[int, dict[str, float | int]]:
    """Where each kept channel peaks on this image (the channel atlas): the spatial maximum's value and
    position on the tap's grid, and the peak over the channel's spatial mean |a| (its typical level here)."""
    a = r.acts[tap].detach()
    if a.dim() != 3 or not len(channels):
        return {int(c): {} for c in channels}
    h, w = int(a.shape[1]), int(a.shape[2])
    idx = torch.as_tensor(list(channels), dtype=torch.long, device=a.device)
    values, where = a[idx].flatten(1).max(1)
    mean = r.act_mean[tap][idx]
    ratio = torch.where(mean > 0, values / mean.clamp_min(1e-12), torch.zeros_like(values))
    out = {}
    for c, v, pos, q in zip(channels, values.cpu().tolist(), where.cpu().tolist(), ratio.cpu().tolist(), strict=True):
        out[int(c)] = {"peak": float(v), "peak_ratio": float(q), "peak_row": pos // w, "peak_col": pos % w,
                       "grid_h": h, "grid_w": w}
    return out


def circuit_channels(classifier: Classifier, pixels: torch.Tensor, mask: torch.Tensor | None = None, *,
                     config: ReadoutConfig = ReadoutConfig(), class_index: int | None = None,
                     ks: Sequence[int] | None = None) -> dict[str, list[int]] | list[dict[str, list[int]]]:
    """Only the node selection (no edges): kept channels per tap, or one selection per k in `ks` from a
    single forward pass. Used by the ablation checks."""
    x = pixels if mask is None else apply_mask(pixels, mask, classifier.baseline[0])
    with _frozen(classifier):
        reader = _Reader(classifier, x, config, class_index, reserve=None if ks is None else max(ks))
        if ks is None:
            return reader.select()
        return [reader.select(int(k)) for k in ks]


def read_circuit(
    classifier: Classifier,
    pixels: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    config: ReadoutConfig = ReadoutConfig(),
    image_id: str = "",
    kind: str | None = None,
    class_index: int | None = None,
) -> Circuit:
    """Read the channel circuit of `pixels` [3,H,W] in [0,1], or of the explanation mask*pixels.

    `class_index` fixes the class whose logit links and flow selection are read (default: this pass's
    top-1). The classifier is left as it was (eval mode, grads off inside; restored after).
    """
    start = time.perf_counter()
    kind = kind or ("original" if mask is None else "explanation")
    x = pixels if mask is None else apply_mask(pixels, mask, classifier.baseline[0])
    taps = classifier.spec.taps
    with _frozen(classifier):
        r = _Reader(classifier, x, config, class_index)
        kept = r.select()
        last = taps[-1]
        blocks = r.blocks({**{i: (kept[taps[i + 1]], kept[taps[i]]) for i in range(len(taps) - 1)},
                           len(taps) - 1: (r.classes, kept[last])})
        means = {t: r.act_mean[t].detach().cpu().tolist() for t in taps}
        peaks = {t: _peaks(r, t, kept[t]) for t in taps}
        nodes = [Node(t, c, means[t][c], rank, **peaks[t][c]) for t in taps for rank, c in enumerate(kept[t])]
        edges: list[Edge] = []
        for i in range(len(taps) - 1):
            src, dst = taps[i], taps[i + 1]
            rows = blocks[i].detach().cpu().tolist()
            for ti, t in enumerate(kept[dst]):
                pairs = list(zip(rows[ti], kept[src], strict=True))
                pairs = _sparse(pairs, config)
                edges += [Edge(make_cid(src, s), make_cid(dst, t), w) for w, s in pairs]
        names = _class_names(classifier, r.logits.shape[0])
        lrows = blocks[len(taps) - 1].detach().cpu().tolist()
        links = [LogitLink(make_cid(last, s), c, names[c], lrows[ci][si])
                 for ci, c in enumerate(r.classes) for si, s in enumerate(kept[last])]
    seconds = time.perf_counter() - start
    metrics: dict[str, float | int | str] = {
        "predicted": r.predicted,
        "confidence": r.confidence,
        "target": r.target,
        "target_logit": float(r.logits[r.target].detach()),
        "n_nodes": len(nodes),
        "n_edges": len(edges),
        "edge_weight_sum": float(sum(e.weight for e in edges)),
        "ingress": config.ingress,
        "selection": config.selection,
        "readout_forward_passes": r.forward_passes,
        "readout_backward_calls": r.backward_calls,
        "readout_surrogate_calls": r.surrogate_calls,
        "readout_seconds": seconds,
    }
    for i, t in enumerate(taps):
        total = float(r.scores[t].sum())
        metrics[f"energy_kept_l{i}"] = float(r.scores[t][kept[t]].sum()) / total if total > 0 else 0.0
    return Circuit(
        image_id=image_id,
        kind=kind,
        model=classifier.spec.name,
        config_hash=config_hash(asdict(config)),
        layers=taps,
        nodes=nodes,
        edges=edges,
        logit_links=links,
        metrics=metrics,
    )


__all__ = ["ATTRIBUTE_TO", "INGRESS_MODES", "ReadoutConfig", "DEFAULT_READOUT", "PAPER_READOUT", "read_circuit",
           "circuit_channels"]
