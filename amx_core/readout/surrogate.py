"""The linear stand-in for a classifier that edge weights come from in the ingress modes `weights`,
`gated` and `signed`.

The surrogate is a copy of the network for uniform 1x1 maps: each conv becomes its kernel-summed weights
as a 1x1 map (a matmul; depthwise convs act as diagonals), linears keep W, biases become 0, batch norm
becomes x * gamma / sqrt(var + eps), activations become per-channel gains (identity when ungated), and
squeeze-excitation gates and fixed-size pools become identity; residual paths still add. A uniform
one-hot map on source channel s, pushed from one tap to the next, gives M[t, s]: the sum over all paths
of the products of the weights. Each tap pair's matrix is scaled so its largest |entry| is 1 (edges are
comparable within a pair); the last tap -> logits matrix is unscaled. Edge weight = |M[t, s]| x the
source's activation (spatial mean of |a|).

* `weights`: |W| and |gamma| everywhere, ungated: the absolute, BN-folded weights of every path between
  two taps, composed. Computed once per model (cached per classifier object).
* `gated`: the same, but every activation multiplies by this image's per-channel mean gain f(x)/x (ReLU:
  the fraction of positions where it is on; ReLU6 also counts saturation), recorded call by call on the
  readout's own forward pass (`record_gains`).
* `signed`: `gated` on a surrogate that keeps the signs (kernels summed with their signs, BN scale
  gamma / sigma, linears W), with |.| taken once, on the composed and gated value, so paths of opposite
  sign cancel as they do in the network; scaled by the largest |entry| of the ungated signed matrix. A
  mean-field linearisation of the image's own network: it estimates what the `gradient` mode measures
  at the cost of `gated`.

ResNet concretely: between `layer{i}` and `layer{i+1}` (and stem `relu` -> `layer1`, through the max
pool) M = prod over the stage's blocks of (S + |c2||c1|), S the downsample conv*bn in the stage's first
block (the shortcut that consumes the source) and the identity in the others, |c2||c1| the block's two
3x3 convs composed. The next stage's first conv alone would misalign channels (its output channel t is
not the stage's output channel t). Logit links are the same probe read at the logits; where the head
reads the pooled last tap (ResNet, EfficientNet) that is exactly |W_head[c, s]| x activation(s).

Gated matrices per image come from ONE surrogate forward with a probe block per tap pair: between taps
i and i+1 the batch holds block i only (each tap's output is replaced by the next block), so each block
runs through its own segment only. With the sources known (activation selection) the blocks are one-hot
rows of the kept sources and the forward gives the needed columns with no backward (`columns`); with
the targets chosen from the rows one layer up (flow selection) the blocks are zero probes and each
pair's rows come from one backward call of the kept graph (`probe_pass`). Where a residual connection
spans a tap (checked once per model) the blocks keep fixed rows of one batch instead: slower, same values.
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional as F

from ..hooks import capture, frozen, hooked
from ..models import Classifier

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


class ProbeGraph:
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


class Surrogate:
    """The surrogate (abs, or signed) of one classifier, its composed ungated matrices and their scales."""

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
        try:
            with hooked(self.net, forward={src: put} if dst is None else {src: put, dst: take}):
                got["out"] = self.net(torch.zeros(1, 3, 1, 1, device=self.dev))
        except _Stop:
            pass
        return _flat(got["out"], probe.shape[0])

    def _gains_after_first_tap(self) -> list[str]:
        """Activations whose gain can matter: those called after the first tap's output (earlier ones are
        cut off by the probe). Found by one traced surrogate forward."""
        seen: list[str] = []
        trace: dict[str, list] = {self.taps[0]: [lambda *_: seen.append("")]}  # the tap's marker runs first
        for name in self.gain_names:
            trace.setdefault(name, []).append(
                lambda *_, name=name: seen.append(name) if seen and seen[0] == "" else None)
        with hooked(self.net, forward=trace), torch.no_grad():
            self.net(torch.zeros(1, 3, 1, 1, device=self.dev))
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

    def probe_pass(self, sizes: dict[int, int], gains: dict[str, list[torch.Tensor]] | None) -> ProbeGraph:
        """Reverse mode: one forward of the surrogate with `sizes[i]` zero probe rows for pair i (i =
        len(taps) - 1: the logits), gated by `gains`; rows of the gated matrices come from its backward
        calls (`ProbeGraph.rows`), for targets chosen after the forward (flow selection)."""
        probes = {i: torch.zeros(k, self.widths[self.taps[i]], 1, 1, device=self.dev, requires_grad=True)
                  for i, k in sizes.items() if k > 0}
        with self._gated(gains), torch.enable_grad():
            outs = self._probe_pass(probes)
        return ProbeGraph(probes, outs, self.scales)

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
        try:
            with hooked(self.net, forward={self.taps[j]: hook(j) for j in sorted(needed)}):
                out = self.net(torch.zeros(1 if self.exclusive else start, 3, 1, 1, device=self.dev))
            outs[last] = _flat(out[offset[last]: offset[last] + sizes[last]], sizes[last])
        except _Stop:
            pass
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


def surrogate_for(classifier: Classifier, signed: bool = False) -> Surrogate:
    """The classifier's surrogate (abs, or signed), built on first use and cached per classifier object
    (its weights are assumed frozen)."""
    cached = _INGRESS_CACHE.setdefault(classifier, {})
    if signed not in cached:
        cached[signed] = Surrogate(classifier, signed)
    return cached[signed]


def composed_ingress(classifier: Classifier) -> list[torch.Tensor]:
    """Per tap pair l -> l+1 a [C_{l+1}, C_l] matrix of composed |W| path weights (scaled so its largest
    entry is 1: weights-mode edges are comparable within a layer pair), then the [n_out, C_last] matrix
    from the last tap to the logits (unscaled: |W_head| where the head reads the pooled last tap).
    Cached per classifier object (its weights are assumed frozen)."""
    return surrogate_for(classifier).mats


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
def record_gains(net: nn.Module, names: Sequence[str]) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Per call of each named activation module: its per-channel mean gain f(x)/x over positions (0 where
    x = 0) on this pass. Pre-hooks (through `hooked`, gone after the block) that read the input before an
    in-place activation overwrites it. Names that `net` does not have are skipped."""
    modules = dict(net.named_modules())
    gains: dict[str, list[torch.Tensor]] = {n: [] for n in names if n in modules}

    def pre(name):
        ratio = _ratio_fn(modules[name])

        def hook(_m, inp):
            x = inp[0].detach()
            r = ratio(x).nan_to_num_(0.0)[0].reshape(x.shape[1], -1)
            gains[name].append(r.sum(1) / r.shape[1])
        return hook

    with hooked(net, pre={name: pre(name) for name in gains}):
        yield gains


__all__ = ["Surrogate", "ProbeGraph", "abs_surrogate", "composed_ingress", "record_gains", "surrogate_for"]
