"""Circuit readout (paper §3, "Circuit discovery"): from one forward pass of an image (original) or of
its explanation e = m*x, keep the most energetic channels at each tapped layer as nodes, score edges
between successive tapped layers by |ingress weight| x source activation, and links from the final
features to class logits by |head weight| x feature activation.

Definitions used here (all activations are post-activation maps a_l[c, h, w] of the tapped modules):

* Channel score ("energy"): `mean` = spatial mean of |a|, or `square` = spatial mean of a^2.
  A node's `activation` is always the spatial mean of |a| (what a global pool would pass on).
* Node selection: `activation` (the paper: top-k / energy-fraction by score, each layer on its own) or
  `flow` (backward from the target class: final-layer channels by logit-link weight, each earlier layer
  by the summed weight of its edges into the channels kept one layer up).
* Ingress `weights`: the absolute, BN-folded weights of every path between two taps, composed.
  Computed once per model on an "abs surrogate" of the network (each conv -> its kernel-summed |W| as a
  1x1 conv, linears -> |W|, biases -> 0, BN -> x*|gamma|/sqrt(var+eps), activations, squeeze-excitation
  gates and fixed-size pools -> identity): a uniform one-hot map on source channel s is pushed from the
  source tap to the next tap and the response of channel t is M[t, s] (the sum over all paths of the
  products of |W| summed over kernel taps; depthwise convs act as diagonals, residual paths add).
  Each pair's matrix is scaled so its largest entry is 1. Edge weight = M[t, s] * activation(s).
  ResNet concretely: between `layer{i}` and `layer{i+1}` (and stem `relu` -> `layer1`, through the max
  pool) M = prod over the stage's blocks of (S + |c2||c1|), where S is |downsample conv*bn| in the
  stage's first block (the shortcut that consumes the source output) and the identity in the others,
  and |c2||c1| is the block's two 3x3 convs (BN-folded, kernels summed) composed. Using the next stage's
  first conv alone would misalign channels (its output channel t is not the stage output channel t);
  composing it with conv2 and adding the downsample shortcut gives a matrix indexed by the actual
  channels of both taps. Logit links: the same probe read at the logits, which for ResNet and
  EfficientNet (head input = pooled last tap) is exactly |W_head[c, s]| * activation(s).
* Ingress `gated` (the default): the same composition, but every activation on the path multiplies by
  this image's per-channel mean gain f(x)/x (ReLU: the fraction of positions where it is on; ReLU6 also
  counts saturation), recorded on the readout's own forward pass, call by call. Data-dependent like
  `gradient` at the cost of `weights`: rows for the kept targets come from one small forward and one
  backward of the 1x1 surrogate, batched over targets. Scaled by the same constant as `weights`.
* Ingress `gradient`: edge weight = sum_hw |d mean_hw(a_t) / d a_s[h, w] * a_s[h, w]|, from batched
  vector-Jacobian products on this image's own forward graph (data-dependent: ReLU gating, signs and
  spatial layout count). For a linear path it reduces to |W[t, s]| * activation(s). Logit links:
  sum_hw |d logit_c / d a_last[s, h, w] * a_last[s, h, w]|.

Choice of the default (bench/circuit_sufficiency.py, 7-20 sample photos, efficientnet_lite0): edge
weights were checked against intervention (zero one source channel, measure each target channel's mean):
Spearman rank correlation per layer pair, `weights` ~0.0, `gated` ~0.2, `gradient` ~0.3-0.45. `gradient`
is the most faithful but costs ~13 forward-pass equivalents per image (budget: 5); `gated` keeps the
1-forward cost and most of the data dependence, so it is the default; `gradient` is the opt-in for
analyses of individual edges.

Cost: `weights` and `gated` = 1 classifier forward per image (plus the per-model surrogate, cached;
`gated` adds 1x1-surrogate work that is small against a forward);
`gradient` = 1 forward + one backward call per kept target channel (per layer pair) and per linked
class, each through the segment between two taps only (about 3 s per image for efficientnet_lite0 on
2 CPU cores, against 0.05 s for one forward).
"""

from __future__ import annotations

import copy
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from .circuit import Circuit, Edge, LogitLink, Node, config_hash, make_cid
from .hooks import capture, frozen
from .models import Classifier, apply_mask

INGRESS_MODES = ("weights", "gated", "gradient")
SELECTIONS = ("activation", "flow")
ENERGIES = ("mean", "square")


@dataclass(frozen=True)
class ReadoutConfig:
    selection: str = "activation"  # "activation" (paper) | "flow" (backward from the class by edge weight)
    top_k: int = 16  # channels kept per tapped layer (capped at the layer's width)
    energy_fraction: float | None = None  # if set: smallest set holding this fraction of the layer's score
    max_per_layer: int = 128  # cap for energy_fraction mode
    energy: str = "mean"  # channel score: "mean" (mean |a|) | "square" (mean a^2)
    ingress: str = "gated"  # "weights" (composed |W| paths) | "gated" (the same, gated by this image's
    #                          activation gains; the default, see the module notes) | "gradient" (|grad x act|)
    n_classes: int = 1  # logit links to the top-n classes (the target class always included)
    edges_per_target: int | None = None  # keep only the heaviest incoming edges per node; None = all

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

    def with_(self, **changes) -> ReadoutConfig:
        return replace(self, **changes)


DEFAULT_READOUT = ReadoutConfig()


# ------------------------------------------------------------------ node selection

def channel_scores(act: torch.Tensor, energy: str = "mean") -> torch.Tensor:
    """[C, H, W] (or [C]) activation -> [C] score."""
    a = act.reshape(act.shape[0], -1)
    return a.abs().mean(1) if energy == "mean" else a.pow(2).mean(1)


def select_channels(
    scores: torch.Tensor, *, top_k: int = 16, energy_fraction: float | None = None, max_per_layer: int = 128
) -> list[int]:
    """Channel indices, highest score first: the top k, or the smallest set whose scores hold
    `energy_fraction` of the layer's total (at most `max_per_layer`, at least one). Ties: lower index first."""
    s = scores.detach().double().cpu()
    order = sorted(range(len(s)), key=lambda i: (-float(s[i]), i))
    if energy_fraction is None:
        return order[: min(top_k, len(order))]
    total = float(s.clamp_min(0).sum())
    kept, acc = [], 0.0
    for i in order:
        if len(kept) >= max_per_layer or (kept and acc >= energy_fraction * total - 1e-12):
            break
        kept.append(i)
        acc += max(float(s[i]), 0.0)
    return kept


# ------------------------------------------------------------------ composed |W| ingress

_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.GELU, nn.LeakyReLU,
                nn.ELU, nn.Tanh, nn.Mish, nn.PReLU, nn.Softplus)
_INGRESS_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _Stop(Exception):
    pass


def _is_act(m: nn.Module) -> bool:
    return isinstance(m, _ACTIVATIONS) or type(m).__module__.startswith("timm.layers.activations")


def _is_se(m: nn.Module) -> bool:
    name = type(m).__name__
    return "SqueezeExcit" in name or name in ("SEModule", "EffectiveSEModule")


_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)


class _Gain(nn.Module):
    """Stands in for an activation in the surrogate: identity, or (gated ingress) a per-channel gain,
    one vector per call in call order (a module used twice per forward, as in ResNet blocks, gets two)."""

    def __init__(self):
        super().__init__()
        self.gains: list[torch.Tensor] | None = None
        self.calls = 0

    def forward(self, x):
        if self.gains is None:
            return x
        g = self.gains[min(self.calls, len(self.gains) - 1)]
        self.calls += 1
        return x * g.to(x.dtype).view(1, -1, *([1] * (x.dim() - 2)))


def _linearise(root: nn.Module) -> None:
    for name, child in list(root.named_children()):
        if _is_act(child):
            setattr(root, name, _Gain())
        elif _is_se(child) or isinstance(child, _POOLS):
            setattr(root, name, nn.Identity())
        else:
            _linearise(child)


@torch.no_grad()
def abs_surrogate(net: nn.Module) -> nn.Module:
    """A copy of `net` for uniform 1x1 maps: convs as their kernel-summed |W| (1x1, stride 1, no padding),
    linears as |W|, no biases, BN as |gamma|/sigma scaling, activations as identity (or per-channel gains),
    squeeze-excitation gates and fixed-size pools as identity."""
    sur = copy.deepcopy(net).eval()
    _linearise(sur)
    for m in sur.modules():
        if isinstance(m, nn.Conv2d):
            # a uniform map sees the kernel's sum: collapse it to 1x1, stride 1, no padding
            m.weight = nn.Parameter(m.weight.abs().sum((2, 3), keepdim=True), requires_grad=False)
            m.kernel_size, m.stride, m.padding, m.dilation = (1, 1), (1, 1), (0, 0), (1, 1)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.Linear):
            m.weight.abs_()
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.running_mean is not None:
                m.running_mean.zero_()
            if m.affine:
                m.weight.abs_()
                m.bias.zero_()
    for p in sur.parameters():
        p.requires_grad_(False)
    return sur


class _Surrogate:
    """The abs surrogate of one classifier, its composed (ungated) matrices and their scales."""

    def __init__(self, classifier: Classifier):
        net, self.taps = classifier.net, classifier.spec.taps
        self.dev = next(net.parameters()).device
        size = classifier.spec.crop
        with frozen(classifier), torch.no_grad(), capture(net, outputs=self.taps) as real:
            classifier(torch.zeros(1, 3, size, size, device=self.dev))
            self.widths = {t: real[t].shape[1] for t in self.taps}
        self.net = abs_surrogate(net)
        self.modules = dict(self.net.named_modules())
        self.gain_names = [n for n, m in self.modules.items() if isinstance(m, _Gain)]
        self.lock = threading.Lock()  # gated_rows sets per-image gains on the shared surrogate
        self.mats, self.scales = [], []
        with torch.no_grad():
            for i, src in enumerate(self.taps):
                c = self.widths[src]
                m = self._run(i, torch.eye(c, device=self.dev).view(c, c, 1, 1)).T.contiguous().float()
                scale = float(m.max()) if i + 1 < len(self.taps) and float(m.max()) > 0 else 1.0
                self.mats.append(m / scale)
                self.scales.append(scale)

    def _run(self, i: int, probe: torch.Tensor) -> torch.Tensor:
        """Push `probe` [n, C_i, 1, 1] from tap i to tap i+1 (or the logits): [n, C_{i+1}]."""
        src = self.taps[i]
        dst = self.taps[i + 1] if i + 1 < len(self.taps) else None
        got = {}

        def put(_m, _i, _o):
            return probe

        def take(_m, _i, out):
            got["out"] = out
            raise _Stop

        for name in self.gain_names:
            self.modules[name].calls = 0
        handles = [self.modules[src].register_forward_hook(put)]
        if dst is not None:
            handles.append(self.modules[dst].register_forward_hook(take))
        try:
            got["out"] = self.net(torch.zeros(1, 3, 1, 1, device=self.dev))
        except _Stop:
            pass
        finally:
            for hd in handles:
                hd.remove()
        out = got["out"]
        return (out.mean((2, 3)) if out.dim() == 4 else out).reshape(probe.shape[0], -1)

    def gated_rows(self, i: int, targets: Sequence[int], gains: dict[str, list[torch.Tensor]]) -> torch.Tensor:
        """Rows M_gated[targets, :] of pair i (scaled like the ungated matrix): one small forward and one
        backward of the 1x1 surrogate, batched over the targets (the surrogate is linear in the probe)."""
        with self.lock:
            return self._gated_rows(i, targets, gains)

    def _gated_rows(self, i: int, targets: Sequence[int], gains: dict[str, list[torch.Tensor]]) -> torch.Tensor:
        k, c = len(targets), self.widths[self.taps[i]]
        for name in self.gain_names:
            self.modules[name].gains = gains.get(name)
        try:
            with torch.enable_grad():
                probe = torch.zeros(k, c, 1, 1, device=self.dev, requires_grad=True)
                out = self._run(i, probe)
                picked = out[torch.arange(k), torch.as_tensor(list(targets), device=self.dev)]
                (g,) = torch.autograd.grad(picked.sum(), probe)
        finally:
            for name in self.gain_names:
                self.modules[name].gains = None
        return g.reshape(k, c) / self.scales[i]


def _surrogate(classifier: Classifier) -> _Surrogate:
    sur = _INGRESS_CACHE.get(classifier)
    if sur is None:
        sur = _INGRESS_CACHE[classifier] = _Surrogate(classifier)
    return sur


def composed_ingress(classifier: Classifier) -> list[torch.Tensor]:
    """Per tap pair l -> l+1 a [C_{l+1}, C_l] matrix of composed |W| path weights (scaled so its largest
    entry is 1: weights-mode edges are comparable within a layer pair), then the [n_out, C_last] matrix
    from the last tap to the logits (unscaled: |W_head| where the head reads the pooled last tap).
    Cached per classifier object (its weights are assumed frozen)."""
    return _surrogate(classifier).mats


@contextmanager
def _record_gains(net: nn.Module, names: Sequence[str]) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Per call of each named activation module: its per-channel mean gain f(x)/x (0 where x = 0) on this
    pass. Scoped hooks (removed in `finally`); the pre-hook copies x because activations may be in-place."""
    modules = dict(net.named_modules())
    gains: dict[str, list[torch.Tensor]] = {n: [] for n in names if n in modules}
    pending: dict[str, torch.Tensor] = {}
    handles = []

    def pre(name):
        def hook(_m, inp):
            pending[name] = inp[0].detach().clone()
        return hook

    def post(name):
        def hook(_m, _inp, out):
            x = pending.pop(name)
            ratio = torch.where(x.abs() > 1e-12, out.detach() / torch.where(x == 0, torch.ones_like(x), x),
                                torch.zeros_like(x))
            gains[name].append(ratio[0].reshape(ratio.shape[1], -1).mean(1))
        return hook

    try:
        for name in gains:
            handles.append(modules[name].register_forward_pre_hook(pre(name)))
            handles.append(modules[name].register_forward_hook(post(name)))
        yield gains
    finally:
        for h in handles:
            h.remove()


# ------------------------------------------------------------------ the reader

class _Reader:
    """One forward pass of one image, with lazily computed edge weights (both ingress modes)."""

    def __init__(self, classifier: Classifier, x: torch.Tensor, config: ReadoutConfig, class_index: int | None):
        self.classifier, self.config = classifier, config
        self.taps = classifier.spec.taps
        self.grad = config.ingress == "gradient"
        self.backward_calls = 0  # one per vector-Jacobian product (gradient mode)
        self.forward_passes = 0
        self._rows: dict = {}
        x = x.unsqueeze(0) if x.dim() == 3 else x
        if x.shape[0] != 1:
            raise ValueError(f"read one image at a time, got a batch of {x.shape[0]}")
        self.gated = config.ingress == "gated"
        self.sur = None if self.grad else _surrogate(classifier)
        names = self.sur.gain_names if self.gated else ()
        with torch.set_grad_enabled(self.grad), capture(classifier.net, outputs=self.taps) as acts, \
                _record_gains(classifier.net, names) as gains:
            inp = x.detach().clone().requires_grad_(self.grad)
            self.logits = classifier(inp)[0]
            self.forward_passes += 1
            self.full = {t: acts[t] for t in self.taps}  # [1, C, H, W], on the autograd graph in gradient mode
            self.acts = {t: acts[t][0] for t in self.taps}
        self.gains = gains
        if not self.grad:
            self.logits = self.logits.detach()
        probs = torch.softmax(self.logits.detach(), 0)
        self.predicted = int(probs.argmax())
        self.confidence = float(probs[self.predicted])
        self.target = self.predicted if class_index is None else int(class_index)
        top = [int(i) for i in probs.topk(min(config.n_classes, len(probs))).indices]
        self.classes = [self.target] + [c for c in top if c != self.target][: config.n_classes - 1]
        self.act_mean = {t: self.acts[t].detach().abs().mean((1, 2)) for t in self.taps}
        self.scores = {t: channel_scores(self.acts[t].detach(), config.energy) for t in self.taps}

    def _vjp(self, outputs: torch.Tensor, src: str) -> torch.Tensor:
        """[n, C_src] = sum_hw |d outputs_i / d a_src * a_src|: one backward call per output, through the
        segment between `src` and the outputs only (a vmapped batch was slower on CPU)."""
        a = self.full[src]
        rows = []
        for i in range(outputs.shape[0]):
            (g,) = torch.autograd.grad(outputs[i], a, retain_graph=True)
            rows.append((g[0] * a.detach()[0]).abs().sum((1, 2)))
            self.backward_calls += 1
        return torch.stack(rows)

    def edge_rows(self, i: int, targets: Sequence[int]) -> torch.Tensor:
        """[len(targets), C_i]: weights of edges from every channel of tap i into `targets` of tap i+1."""
        key = (i, tuple(targets))
        if key not in self._rows:
            self._rows[key] = self._edge_rows(i, targets).detach()
        return self._rows[key]

    def _edge_rows(self, i: int, targets: Sequence[int]) -> torch.Tensor:
        src, dst = self.taps[i], self.taps[i + 1]
        t = torch.as_tensor(list(targets), dtype=torch.long, device=self.act_mean[src].device)
        if self.grad:
            return self._vjp(self.acts[dst][t].mean((1, 2)), src)
        if self.gated:
            return self.sur.gated_rows(i, targets, self.gains).to(t.device) * self.act_mean[src].unsqueeze(0)
        return self.sur.mats[i].to(t.device)[t] * self.act_mean[src].unsqueeze(0)

    def logit_rows(self, classes: Sequence[int]) -> torch.Tensor:
        last = self.taps[-1]
        c = torch.as_tensor(list(classes), dtype=torch.long, device=self.logits.device)
        if self.grad:
            return self._vjp(self.logits[c], last).detach()
        if self.gated:
            rows = self.sur.gated_rows(len(self.taps) - 1, classes, self.gains).to(c.device)
            return rows * self.act_mean[last].unsqueeze(0)
        return self.sur.mats[-1].to(c.device)[c] * self.act_mean[last].unsqueeze(0)

    def _pick(self, scores: torch.Tensor, top_k: int | None) -> list[int]:
        cfg = self.config
        if top_k is not None:
            return select_channels(scores, top_k=top_k)
        return select_channels(scores, top_k=cfg.top_k, energy_fraction=cfg.energy_fraction,
                               max_per_layer=cfg.max_per_layer)

    def select(self, top_k: int | None = None) -> dict[str, list[int]]:
        """Kept channels per tap, best first. `top_k` overrides the config (and its energy_fraction)."""
        if self.config.selection == "activation":
            return {t: self._pick(self.scores[t], top_k) for t in self.taps}
        chosen: dict[str, list[int]] = {}
        rows = self.logit_rows([self.target])
        for i in range(len(self.taps) - 1, -1, -1):
            chosen[self.taps[i]] = self._pick(rows.sum(0), top_k)
            if i:
                rows = self.edge_rows(i - 1, chosen[self.taps[i]])
        return {t: chosen[t] for t in self.taps}


def _class_names(n: int) -> list[str]:
    if n == 1000:
        from .models import imagenet_classes

        return imagenet_classes()
    return [str(i) for i in range(n)]


def circuit_channels(classifier: Classifier, pixels: torch.Tensor, mask: torch.Tensor | None = None, *,
                     config: ReadoutConfig = ReadoutConfig(), class_index: int | None = None,
                     ks: Sequence[int] | None = None) -> dict[str, list[int]] | list[dict[str, list[int]]]:
    """Only the node selection (no edges): kept channels per tap, or one selection per k in `ks` from a
    single forward pass. Used by the ablation checks."""
    x = pixels if mask is None else apply_mask(pixels, mask, classifier.baseline[0])
    with frozen(classifier):
        reader = _Reader(classifier, x, config, class_index)
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
    with frozen(classifier):
        r = _Reader(classifier, x, config, class_index)
        kept = r.select()
        nodes = [Node(t, c, float(r.act_mean[t][c]), rank) for t in taps for rank, c in enumerate(kept[t])]
        edges: list[Edge] = []
        for i in range(len(taps) - 1):
            src, dst = taps[i], taps[i + 1]
            rows = r.edge_rows(i, kept[dst]).detach().cpu()
            for ti, t in enumerate(kept[dst]):
                pairs = [(float(rows[ti, s]), s) for s in kept[src]]
                if config.edges_per_target is not None:
                    pairs = sorted(pairs, key=lambda p: (-p[0], p[1]))[: config.edges_per_target]
                edges += [Edge(make_cid(src, s), make_cid(dst, t), w) for w, s in pairs]
        names = _class_names(r.logits.shape[0])
        lrows = r.logit_rows(r.classes).detach().cpu()
        last = taps[-1]
        links = [LogitLink(make_cid(last, s), c, names[c], float(lrows[ci, s]))
                 for ci, c in enumerate(r.classes) for s in kept[last]]
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


def edge_jaccard(a: Circuit, b: Circuit) -> float:
    """|E_a ∩ E_b| / |E_a ∪ E_b| on (src, dst) pairs; 1.0 for two empty circuits."""
    ea, eb = {(e.src, e.dst) for e in a.edges}, {(e.src, e.dst) for e in b.edges}
    union = ea | eb
    return len(ea & eb) / len(union) if union else 1.0


def node_jaccard(a: Circuit, b: Circuit) -> float:
    na, nb = {n.cid for n in a.nodes}, {n.cid for n in b.nodes}
    union = na | nb
    return len(na & nb) / len(union) if union else 1.0


__all__ = [
    "ReadoutConfig", "DEFAULT_READOUT", "read_circuit", "circuit_channels", "channel_scores", "select_channels",
    "composed_ingress", "abs_surrogate", "edge_jaccard", "node_jaccard", "INGRESS_MODES", "SELECTIONS",
]
