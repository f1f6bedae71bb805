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
* Ingress `gated`: the same composition, but every activation on the path multiplies by this image's
  per-channel mean gain f(x)/x (ReLU: the fraction of positions where it is on; ReLU6 also counts
  saturation), recorded on the readout's own forward pass, call by call. Scaled like `weights`.
* Ingress `signed` (the default): `gated` on a surrogate that keeps the signs of the weights (conv
  kernels summed with their signs, BN scale gamma/sigma, linears W), with |.| taken once, on the composed
  and gated value: M[t, s] = |sum over paths of the signed, gated products|, so paths of opposite sign
  cancel as they do in the network; scaled by the largest |entry| of the ungated signed matrix. It is a
  mean-field linearisation of the image's own network (uniform maps, per-channel gains) and estimates
  what `gradient` measures at the cost of `gated`.
* Ingress `gradient`: edge weight = |sum_hw d mean_hw(a_t) / d a_s[h, w] * a_s[h, w]| = |d mean(a_t) /
  d alpha_s| where alpha_s scales source channel s (at 1): the first-order effect of ablating the
  channel, from vector-Jacobian products on this image's own forward graph (ReLU gating, signs and
  spatial layout count). For a linear path with a >= 0 it reduces to |W[t, s]| * activation(s). Logit
  links: |sum_hw d logit_c / d a_last[s, h, w] * a_last[s, h, w]|. (Until this version the sum ran over
  |...| per position; the signed sum predicts ablation better, see below, and is what the issue's
  |d target channel / d source channel| x activation means for a channel as a whole.)

How the gated modes are computed, per image: one classifier forward whose pre-hooks record the gains
(f(x)/x from the activation's input; activations before the first tap are skipped: a probe cuts them
off), then the 1x1 surrogate (convs as matmuls, BN as a scale) with a probe block at every tap pair in
ONE forward: between taps i and i+1 the batch holds block i only (each tap's output is replaced by the
next block), so each block runs through its own segment only. With activation selection the sources are
known, so the blocks are one-hot rows of the kept source channels and the forward gives the needed
columns of every pair's gated matrix with no backward (1 surrogate call). With flow selection the
targets are chosen from the rows one layer up, so the blocks are zero probes and each pair's rows come
from one backward call of that graph (1 forward + one backward per pair). Where a residual connection
spans a tap (checked once per model) the blocks keep fixed rows of one batch instead (slower, same values).

Choice of the default (bench/circuit_sufficiency.py --ks 64,128,256,512, 20 sample photos,
efficientnet_lite0, the same cached explanations for every mode). Edge fidelity: zero one source
channel, measure each target channel's mean; Spearman(edge weight, effect) per target / per layer pair,
flow selection, k=16: `weights` -0.19 / -0.03, `gated` +0.05 / +0.18, `signed` +0.58 / +0.64,
`gradient` +0.70 / +0.77 (with |.| per position, as before: +0.34 / +0.45). Sufficiency curves: with
activation selection (the default) the ingress mode does not change the nodes, so the curves are the
same for every mode; with flow selection `signed` is level with `gated` and `weights` (differences of
one or two images in 20; ahead at k=64 under zero ablation). `gradient` is the most faithful but costs
~25 forward passes per circuit, far over the budget of 5 per image; `signed` is nearly as faithful at
the cost of `gated`, so it is the default, and `gradient` the opt-in for analyses of single edges.

Cost (bench/readout_speed.py, efficientnet_lite0, 1 thread, CPU time over a plain forward of the same
image): `weights` ~1.3 forward-pass equivalents per circuit, `gated`/`signed` ~1.9-2.0 (activation
selection; ~2.2-2.3 with flow), so ~4.0 (flow ~4.5) per image for its two circuits (original and
explanation), against 6.3 / 12.7 for `gated` before the one-pass surrogate;
`gradient` = 1 forward + one backward call per kept target channel (per layer pair) and per linked
class, each through the segment between two taps only (~24 per circuit).
"""

from __future__ import annotations

import copy
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn
from torch.nn import functional as F

from .circuit import Circuit, Edge, LogitLink, Node, config_hash, make_cid
from .hooks import capture, frozen
from .models import Classifier, apply_mask

INGRESS_MODES = ("weights", "gated", "signed", "gradient")
SELECTIONS = ("activation", "flow")
ENERGIES = ("mean", "square")


@dataclass(frozen=True)
class ReadoutConfig:
    selection: str = "activation"  # "activation" (paper) | "flow" (backward from the class by edge weight)
    top_k: int = 16  # channels kept per tapped layer (capped at the layer's width)
    energy_fraction: float | None = None  # if set: smallest set holding this fraction of the layer's score
    max_per_layer: int = 128  # cap for energy_fraction mode
    energy: str = "mean"  # channel score: "mean" (mean |a|) | "square" (mean a^2)
    ingress: str = "signed"  # "weights" (composed |W| paths) | "gated" (the same, gated by this image's
    #   activation gains) | "signed" (gated, signed weights, |.| of the composed value; the default, see the
    #   module notes) | "gradient" (|d target / d scale of the source channel|)
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


class _AbsConv(nn.Module):
    """A conv as a uniform map sees it: the kernel-summed |W| as a (grouped) 1x1 map, no bias, stride 1.
    A plain matmul (or a per-channel product when depthwise): conv2d on 1x1 maps is ~100x slower on CPU."""

    def __init__(self, conv: nn.Conv2d, signed: bool = False):
        super().__init__()
        w = conv.weight.detach()
        w = (w if signed else w.abs()).sum((2, 3))  # [out, in / groups]
        g = conv.groups
        self.register_buffer("w", w.reshape(g, w.shape[0] // g, w.shape[1]).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        g, out_g, in_g = self.w.shape
        if g == 1 and x[0, 0].numel() == 1:  # 1x1 maps: one GEMM over the batch
            return F.linear(x.reshape(n, -1), self.w[0]).view(n, out_g, *x.shape[2:])
        x2 = x.reshape(n, g, in_g, -1)
        if in_g == 1:  # depthwise (with a channel multiplier out_g)
            y = x2 * self.w.view(1, g, out_g, 1)
        else:
            y = torch.einsum("goi,ngil->ngol", self.w, x2)
        return y.reshape(n, g * out_g, *x.shape[2:])


class _AbsBN(nn.Module):
    """An eval-mode batch norm as the surrogate sees it: x * |gamma| / sqrt(var + eps), no shift; then the
    module's own `drop` and `act` children when it has them (timm's BatchNormAct2d)."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm, signed: bool = False):
        super().__init__()
        scale = torch.rsqrt(bn.running_var.detach() + bn.eps)
        if bn.affine:
            scale = scale * (bn.weight.detach() if signed else bn.weight.detach().abs())
        self.register_buffer("scale", scale.clone())
        self.post = [n for n in ("drop", "act") if isinstance(getattr(bn, n, None), nn.Module)]
        for n in self.post:
            setattr(self, n, getattr(bn, n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.scale.view(1, -1, *([1] * (x.dim() - 2)))
        for n in self.post:
            x = getattr(self, n)(x)
        return x


def _plain_bn(m: nn.Module) -> bool:
    """Batch norms whose eval forward is exactly batch_norm (then drop, act for BatchNormAct2d)."""
    return (type(m) in (nn.BatchNorm1d, nn.BatchNorm2d) or type(m).__name__ == "BatchNormAct2d") and \
        m.running_var is not None


def _absify(root: nn.Module, signed: bool) -> None:
    for name, child in list(root.named_children()):
        if isinstance(child, nn.Conv2d):
            setattr(root, name, _AbsConv(child, signed))
        elif isinstance(child, nn.modules.batchnorm._BatchNorm) and _plain_bn(child):
            _absify(child, signed)
            setattr(root, name, _AbsBN(child, signed))
        else:
            _absify(child, signed)


@torch.no_grad()
def abs_surrogate(net: nn.Module, *, signed: bool = False) -> nn.Module:
    """A copy of `net` for uniform 1x1 maps: convs as their kernel-summed |W| (1x1, stride 1, no padding),
    linears as |W|, no biases, BN as |gamma|/sigma scaling, activations as identity (or per-channel gains),
    squeeze-excitation gates and fixed-size pools as identity."""
    sur = copy.deepcopy(net).eval()
    _linearise(sur)
    _absify(sur, signed)
    for m in sur.modules():
        if isinstance(m, nn.Linear):
            if not signed:
                m.weight.abs_()
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.running_mean is not None:
                m.running_mean.zero_()
            if m.affine:
                if not signed:
                    m.weight.abs_()
                m.bias.zero_()
    for p in sur.parameters():
        p.requires_grad_(False)
    return sur


class _ProbeGraph:
    """One forward of the 1x1 surrogate with a probe block at every requested tap (block i: `sizes[i]`
    rows of zeros at tap i, read at tap i+1 or at the logits for the last tap), gated by one image's
    gains. The surrogate is linear in the probes and row-wise, so the gradient of the picked outputs of
    block i with respect to its probe is rows of pair i's gated matrix; `rows` takes any number of pairs
    in one backward call and may be called again (the graph is kept)."""

    def __init__(self, probes: dict[int, torch.Tensor], outs: dict[int, torch.Tensor], scales: Sequence[float]):
        self.probes, self.outs, self.scales = probes, outs, scales
        self.backward_calls = 0

    def size(self, i: int) -> int:
        return self.probes[i].shape[0] if i in self.probes else 0

    def rows(self, requests: dict[int, Sequence[int]]) -> dict[int, torch.Tensor]:
        """{pair i: targets} -> {pair i: [len(targets), C_i]}: one backward call for all of them."""
        order = sorted(requests)
        picked = []
        for i in order:
            t = torch.as_tensor(list(requests[i]), dtype=torch.long, device=self.outs[i].device)
            picked.append(self.outs[i][torch.arange(len(t), device=t.device), t].sum())
        with torch.enable_grad():
            grads = torch.autograd.grad(torch.stack(picked).sum(), [self.probes[i] for i in order],
                                        retain_graph=True)
        self.backward_calls += 1
        return {i: g[: len(requests[i])].reshape(len(requests[i]), -1) / self.scales[i]
                for i, g in zip(order, grads, strict=True)}


class _Surrogate:
    """The abs surrogate of one classifier, its composed (ungated) matrices and their scales."""

    def __init__(self, classifier: Classifier, signed: bool = False):
        net, self.taps = classifier.net, classifier.spec.taps
        self.dev = next(net.parameters()).device
        size = classifier.spec.crop
        with frozen(classifier), torch.no_grad(), capture(net, outputs=self.taps) as real:
            classifier(torch.zeros(1, 3, size, size, device=self.dev))
            self.widths = {t: real[t].shape[1] for t in self.taps}
        self.signed = signed
        self.net = abs_surrogate(net, signed=signed)
        self.modules = dict(self.net.named_modules())
        self.gain_names = [n for n, m in self.modules.items() if isinstance(m, _Gain)]
        self.lock = threading.Lock()  # probe passes set per-image gains on the shared surrogate
        self.mats, self.scales = [], []
        with torch.no_grad():
            for i, src in enumerate(self.taps):
                c = self.widths[src]
                m = self._run(i, torch.eye(c, device=self.dev).view(c, c, 1, 1)).T.contiguous().float()
                top = float(m.abs().max())
                scale = top if i + 1 < len(self.taps) and top > 0 else 1.0
                self.mats.append(m / scale)
                self.scales.append(scale)
        self.needed_gains = self._gains_after_first_tap()
        self.exclusive = True
        self.exclusive = self._exclusive_is_exact()

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
        return _flat(got["out"], probe.shape[0])

    def _gains_after_first_tap(self) -> list[str]:
        """Activations whose gain can matter: those called after the first tap's output (earlier ones are
        cut off by the probe). Found by one traced surrogate forward."""
        seen: list[str] = []
        handles = [self.modules[self.taps[0]].register_forward_hook(lambda *_: seen.append(""))]
        for name in self.gain_names:
            handles.append(self.modules[name].register_forward_hook(
                lambda *_, name=name: seen.append(name) if seen and seen[0] == "" else None))
        try:
            with torch.no_grad():
                self.net(torch.zeros(1, 3, 1, 1, device=self.dev))
        finally:
            for hd in handles:
                hd.remove()
        after = set(seen[1:])
        return [n for n in self.gain_names if n in after]

    @contextmanager
    def _gated(self, gains: dict[str, list[torch.Tensor]] | None) -> Iterator[None]:
        """The surrogate gated by one image's gains (None: ungated) inside the block; shared, so locked."""
        with self.lock:
            for name in self.gain_names:
                self.modules[name].gains = None if gains is None else gains.get(name)
            try:
                yield
            finally:
                for name in self.gain_names:
                    self.modules[name].gains = None

    def probe_pass(self, sizes: dict[int, int], gains: dict[str, list[torch.Tensor]] | None) -> _ProbeGraph:
        """Reverse mode: one forward of the surrogate with `sizes[i]` zero probe rows for pair i (i =
        len(taps) - 1: the logits), gated by `gains`; rows of the gated matrices come from its backward
        calls (`_ProbeGraph.rows`), for targets chosen after the forward (flow selection)."""
        probes = {i: torch.zeros(k, self.widths[self.taps[i]], 1, 1, device=self.dev, requires_grad=True)
                  for i, k in sizes.items() if k > 0}
        with self._gated(gains), torch.enable_grad():
            outs = self._probe_pass(probes)
        return _ProbeGraph(probes, outs, self.scales)

    def columns(self, sources: dict[int, Sequence[int]], gains: dict[str, list[torch.Tensor]] | None
                ) -> dict[int, torch.Tensor]:
        """Forward mode: {pair i: source channels} -> {pair i: [C_{i+1} (or n_out), len(sources)]}, the
        columns of the gated matrices (scaled like the ungated ones), from one surrogate forward with
        one-hot probes and no backward (when the sources are known before the targets)."""
        probes = {}
        for i, chs in sources.items():
            if len(chs):
                c = self.widths[self.taps[i]]
                probes[i] = torch.eye(c, device=self.dev)[list(chs)].view(len(chs), c, 1, 1)
        with self._gated(gains), torch.no_grad():
            outs = self._probe_pass(probes)
        return {i: out.T / self.scales[i] for i, out in outs.items()}

    def _probe_pass(self, probes: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        """Push each probe block i [k_i, C_i, 1, 1] from tap i to tap i+1 (or the logits) in one forward
        of the surrogate: {i: [k_i, C_{i+1}]}. Where the architecture allows it (checked once per model),
        the batch between two taps holds only the block that runs there (each tap's output is replaced by
        the next probe), so each block pays for its own segment only; otherwise every block keeps fixed
        rows of one batch throughout."""
        order = sorted(probes)
        sizes = {i: probes[i].shape[0] for i in order}
        last = len(self.taps) - 1
        offset, start = {}, 0
        for i in order:
            offset[i], start = (0, 1) if self.exclusive else (start, start + sizes[i])
        outs: dict[int, torch.Tensor] = {}
        stop_at = None if last in probes else order[-1] + 1

        def hook(j):
            def fn(_m, _i, out):
                if j - 1 in probes:  # block j-1 ends here
                    lo = offset[j - 1]
                    outs[j - 1] = _flat(out[lo: lo + sizes[j - 1]], sizes[j - 1])
                    if j == stop_at:
                        raise _Stop
                if j in probes:  # block j starts here
                    if self.exclusive:
                        return probes[j].to(out.dtype)
                    lo = offset[j]
                    return torch.cat([out[:lo], probes[j].to(out.dtype), out[lo + sizes[j]:]])
                return out[:1] if self.exclusive else out
            return fn

        for name in self.gain_names:
            self.modules[name].calls = 0
        needed = {j for i in order for j in (i, i + 1) if j <= last}
        handles = [self.modules[self.taps[j]].register_forward_hook(hook(j)) for j in sorted(needed)]
        try:
            out = self.net(torch.zeros(1 if self.exclusive else start, 3, 1, 1, device=self.dev))
            outs[last] = _flat(out[offset[last]: offset[last] + sizes[last]], sizes[last])
        except _Stop:
            pass
        finally:
            for hd in handles:
                hd.remove()
        return outs

    def _exclusive_is_exact(self) -> bool:
        """Exclusive batches change the batch size at every tap: exact unless a residual connection spans
        a tap after the first (then shapes clash; before the first tap the batch is one row of zeros, which
        broadcasts harmlessly). Checked once per model against the per-pair matrices, with block sizes that
        cannot broadcast."""
        sizes = {i: i + 2 for i in range(len(self.taps))}
        try:
            graph = self.probe_pass(sizes, None)
            reqs = {i: [r % self.mats[i].shape[0] for r in range(k)] for i, k in sizes.items()}
            rows = graph.rows(reqs)
            srcs = {i: [r % self.mats[i].shape[1] for r in range(k)] for i, k in sizes.items()}
            cols = self.columns(srcs, None)
        except RuntimeError:
            return False
        return all(torch.allclose(rows[i].float(), self.mats[i][reqs[i]], rtol=1e-4, atol=1e-6) and
                   torch.allclose(cols[i].float(), self.mats[i][:, srcs[i]], rtol=1e-4, atol=1e-6) for i in rows)


def _flat(out: torch.Tensor, n: int) -> torch.Tensor:
    return (out.mean((2, 3)) if out.dim() == 4 else out).reshape(n, -1)


def _surrogate(classifier: Classifier, signed: bool = False) -> _Surrogate:
    cached = _INGRESS_CACHE.setdefault(classifier, {})
    if signed not in cached:
        cached[signed] = _Surrogate(classifier, signed)
    return cached[signed]


def composed_ingress(classifier: Classifier) -> list[torch.Tensor]:
    """Per tap pair l -> l+1 a [C_{l+1}, C_l] matrix of composed |W| path weights (scaled so its largest
    entry is 1: weights-mode edges are comparable within a layer pair), then the [n_out, C_last] matrix
    from the last tap to the logits (unscaled: |W_head| where the head reads the pooled last tap).
    Cached per classifier object (its weights are assumed frozen)."""
    return _surrogate(classifier).mats


def _ratio_fn(m: nn.Module):
    """x -> f(x) / x for the activation module m, without touching x (activations may be in-place).
    ReLU-like ones (f(0) = 0) leave 0/0 = nan at x = 0; the caller counts nan as off (gain 0)."""
    if isinstance(m, nn.ReLU):
        return lambda x: x.clamp(min=0).div_(x)
    if isinstance(m, nn.Hardtanh) and m.min_val <= 0 <= m.max_val:  # ReLU6 is a Hardtanh
        return lambda x: x.clamp(m.min_val, m.max_val).div_(x)

    def generic(x):
        y = m.forward(x.clone())  # .forward: no hooks (this runs inside one)
        return (y / x).masked_fill_(x.abs() <= 1e-12, float("nan"))

    return generic


@contextmanager
def _record_gains(net: nn.Module, names: Sequence[str]) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Per call of each named activation module: its per-channel mean gain f(x)/x over positions (0 where
    x = 0) on this pass. Scoped pre-hooks (removed in `finally`) that read the input before an in-place
    activation overwrites it."""
    modules = dict(net.named_modules())
    gains: dict[str, list[torch.Tensor]] = {n: [] for n in names if n in modules}
    handles = []

    def pre(name):
        ratio = _ratio_fn(modules[name])

        def hook(_m, inp):
            x = inp[0].detach()
            r = ratio(x).nan_to_num_(0.0)[0].reshape(x.shape[1], -1)
            gains[name].append(r.sum(1) / r.shape[1])
        return hook

    try:
        for name in gains:
            handles.append(modules[name].register_forward_pre_hook(pre(name)))
        yield gains
    finally:
        for h in handles:
            h.remove()


# ------------------------------------------------------------------ the reader

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
        self.gated = config.ingress in ("gated", "signed")  # both read rows from a probe graph
        self.backward_calls = 0  # classifier: one per vector-Jacobian product (gradient mode)
        self.forward_passes = 0  # classifier forward passes
        self.surrogate_calls = 0  # 1x1 surrogate: forward passes + backward calls (gated mode)
        self.reserve = reserve  # the largest top_k that select() will be asked for (sizes the probe graph)
        self._rows: dict = {}
        self._one: dict = {}  # gradient mode: (pair, target) -> row
        self._graph: _ProbeGraph | None = None
        x = x.unsqueeze(0) if x.dim() == 3 else x
        if x.shape[0] != 1:
            raise ValueError(f"read one image at a time, got a batch of {x.shape[0]}")
        self.sur = None if self.grad else _surrogate(classifier, signed=config.ingress == "signed")
        names = self.sur.needed_gains if self.gated else ()
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
        self.scores = self.act_mean if config.energy == "mean" else \
            {t: channel_scores(self.acts[t].detach(), config.energy) for t in self.taps}

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

    def _probe_graph(self, need: dict[int, int]) -> _ProbeGraph:
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

    def edge_rows(self, i: int, targets: Sequence[int]) -> torch.Tensor:
        return self.rows(i, targets)

    def logit_rows(self, classes: Sequence[int]) -> torch.Tensor:
        return self.rows(self.last, classes)

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


def _frozen(classifier: Classifier):
    """`hooks.frozen`, or nothing where it would change nothing (a Classifier is built in eval mode with
    gradients off): its two walks over every module cost about a tenth of a forward pass."""
    if any(m.training for m in classifier.modules()) or any(p.requires_grad for p in classifier.parameters()):
        return frozen(classifier)
    return nullcontext(classifier)


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
        nodes = [Node(t, c, means[t][c], rank) for t in taps for rank, c in enumerate(kept[t])]
        edges: list[Edge] = []
        for i in range(len(taps) - 1):
            src, dst = taps[i], taps[i + 1]
            rows = blocks[i].detach().cpu().tolist()
            for ti, t in enumerate(kept[dst]):
                pairs = list(zip(rows[ti], kept[src], strict=True))
                if config.edges_per_target is not None:
                    pairs = sorted(pairs, key=lambda p: (-p[0], p[1]))[: config.edges_per_target]
                edges += [Edge(make_cid(src, s), make_cid(dst, t), w) for w, s in pairs]
        names = _class_names(r.logits.shape[0])
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
