"""Finding where to tap a network, from one traced forward pass (no knowledge of the architecture).

Taps are the outputs of the network's stages after their activation: the forward pass is cut into stages
where the spatial size changes, and each stage's tap is the last module (the outermost, when several
return the same tensor) whose output is the output of an activation module. Five stages are kept where
the network has more (spread evenly, the last one always kept), all of them where it has fewer. The head
is the last `nn.Linear` called. A module that runs more than once per forward (a shared ReLU) cannot be
a tap: a capture would only see its last call.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .errors import AmxError
from .hooks import frozen, hooked

DEFAULT_TAPS = 5
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.GELU, nn.LeakyReLU, nn.ELU, nn.Mish, nn.PReLU,
                nn.Softplus, nn.SELU, nn.CELU, nn.Hardtanh, nn.Tanh)
_ACTIVATION_NAMES = ("relu", "silu", "swish", "gelu", "mish", "elu", "hardtanh")  # e.g. timm's own Swish


def is_activation(module: nn.Module) -> bool:
    """An elementwise nonlinearity (not a gate: sigmoid-like modules gate squeeze-excitation branches)."""
    if isinstance(module, _ACTIVATIONS):
        return True
    name = type(module).__name__.casefold()
    return not list(module.children()) and any(a in name for a in _ACTIVATION_NAMES) and "sigmoid" not in name


@dataclass(frozen=True)
class Call:
    name: str
    order: int  # completion order in the forward pass
    shape: tuple[int, ...]
    post_activation: bool  # its output is an activation's output, returned after that activation ran


@dataclass(frozen=True)
class Trace:
    calls: tuple[Call, ...]
    counts: dict[str, int]  # calls per module name
    linears: tuple[str, ...]  # nn.Linear modules called once, in call order
    output_shape: tuple[int, ...]


def trace(net: nn.Module, input_size: int) -> Trace:
    """One forward pass of a [1,3,S,S] zero image in eval mode (the model's mode, gradients and hooks are
    restored after), recording every named module's output."""
    modules = [(n, m) for n, m in net.named_modules() if n]
    try:
        device = next(net.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    records: list[tuple[str, object]] = []
    act_done: dict[int, int] = {}  # id(output tensor) -> completion order of the activation that returned it
    keep: list[object] = []  # outputs stay referenced during the pass, so no id is reused

    def hook(name: str, activation: bool):
        def fn(_m, _i, out):
            keep.append(out)
            if activation and isinstance(out, torch.Tensor):
                act_done.setdefault(id(out), len(records))
            records.append((name, out))
        return fn

    forward = {n: hook(n, is_activation(m)) for n, m in modules}
    with frozen(net), torch.no_grad(), hooked(net, forward=forward):
        try:
            out = net(torch.zeros(1, 3, input_size, input_size, device=device))
        except Exception as exc:  # the user's architecture: say what it was fed
            raise AmxError(f"the model failed on a 1x3x{input_size}x{input_size} input ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}); check --input-size") from None
    counts = Counter(n for n, _ in records)
    kinds = dict(modules)
    calls = []
    for order, (name, value) in enumerate(records):
        if not isinstance(value, torch.Tensor):
            continue
        done = act_done.get(id(value))
        calls.append(Call(name, order, tuple(value.shape), done is not None and order >= done))
    linears = tuple(n for n, _ in records if isinstance(kinds[n], nn.Linear) and counts[n] == 1)
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else ()
    return Trace(tuple(calls), dict(counts), linears, shape)


def stage_outputs(t: Trace) -> list[str]:
    """Per stage (a run of equal spatial size, 1x1 gates left out), its last post-activation module."""
    stages: list[tuple[tuple[int, int], str]] = []
    for c in t.calls:
        if len(c.shape) != 4 or c.shape[2] * c.shape[3] <= 1 or not c.post_activation or t.counts[c.name] != 1:
            continue
        size = (c.shape[2], c.shape[3])
        if stages and stages[-1][0] == size:
            stages[-1] = (size, c.name)  # later (or enclosing) module of the same stage
        else:
            stages.append((size, c.name))
    return [name for _, name in stages]


def spread(names: Sequence[str], k: int = DEFAULT_TAPS) -> tuple[str, ...]:
    """`k` of `names`, evenly spaced, first and last included (all of them when there are at most `k`)."""
    n = len(names)
    if n <= k:
        return tuple(names)
    picks = sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})
    return tuple(names[i] for i in picks)


def find_taps(net: nn.Module, input_size: int, k: int = DEFAULT_TAPS, *, traced: Trace | None = None,
              model: str = "the model") -> tuple[str, ...]:
    t = traced or trace(net, input_size)
    stages = stage_outputs(t)
    if not stages:
        raise AmxError(f"found no stage outputs after an activation module in {model} (activations called as "
                       f"functions cannot be tapped); name the layers with --taps a,b,c")
    return spread(stages, k)


def find_head(net: nn.Module, *, traced: Trace | None = None, input_size: int = 224) -> str:
    """The last nn.Linear called in a forward pass; "" when there is none (no class-activation map then)."""
    t = traced or trace(net, input_size)
    return t.linears[-1] if t.linears else ""


def check_taps(net: nn.Module, taps: Sequence[str], t: Trace, *, model: str = "the model") -> tuple[str, ...]:
    """User-given taps: each must be a module called once per forward with a [B,C,H,W] output."""
    known = dict(net.named_modules())
    if not taps:
        raise AmxError("--taps: give at least one layer name")
    shapes = {c.name: c.shape for c in t.calls}
    for name in taps:
        if name not in known or not name:
            import difflib

            close = difflib.get_close_matches(name, [n for n in known if n], n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise AmxError(f"--taps: {model} has no module named {name!r}{hint}")
        if t.counts.get(name, 0) != 1:
            raise AmxError(f"--taps: module {name!r} of {model} runs {t.counts.get(name, 0)} times per forward pass; "
                           f"a tap must run once")
        if len(shapes.get(name, ())) != 4:
            raise AmxError(f"--taps: module {name!r} of {model} outputs {shapes.get(name)}, not a [B,C,H,W] map")
    if len(set(taps)) != len(taps):
        raise AmxError("--taps: a layer is named twice")
    order = {c.name: c.order for c in t.calls}
    if [order[n] for n in taps] != sorted(order[n] for n in taps):
        raise AmxError(f"--taps: give the layers in the order the forward pass runs them ({', '.join(taps)})")
    return tuple(taps)


def check_head(net: nn.Module, head: str, *, model: str = "the model") -> str:
    if head not in dict(net.named_modules()) or not head:
        raise AmxError(f"--head: {model} has no module named {head!r}")
    return head


__all__ = ["DEFAULT_TAPS", "Trace", "trace", "stage_outputs", "spread", "find_taps", "find_head", "check_taps",
           "check_head", "is_activation"]
