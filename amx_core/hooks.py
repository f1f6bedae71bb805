"""Module hooks that live only inside a `with` block (hooks are global state on a module).

Every hook the project registers goes through `hooked`, which removes them in `finally`, so an
exception inside the block never leaves a hook behind on the caller's model. `capture` (record
activations) and the readout's interventions are built on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch
from torch import nn

ForwardHook = Callable[[nn.Module, tuple, object], object]  # (module, inputs, output) -> new output or None
PreHook = Callable[[nn.Module, tuple], object]  # (module, inputs) -> new inputs or None


@contextmanager
def hooked(
    model: nn.Module,
    forward: Mapping[str, ForwardHook | Sequence[ForwardHook]] | None = None,
    pre: Mapping[str, PreHook | Sequence[PreHook]] | None = None,
) -> Iterator[None]:
    """Register forward hooks (`forward`) and forward pre-hooks (`pre`) on the named submodules of
    `model` for the duration of the block; the name "" is `model` itself. A value may be one hook or a
    sequence of hooks. Unknown names raise KeyError before anything is registered."""
    forward, pre = dict(forward or {}), dict(pre or {})
    modules = dict(model.named_modules())
    missing = [n for n in (*forward, *pre) if n not in modules]
    if missing:
        raise KeyError(f"model has no module named {missing[0]!r}")
    handles = []
    try:
        for table, register in ((forward, "register_forward_hook"), (pre, "register_forward_pre_hook")):
            for name, fns in table.items():
                for fn in (fns if isinstance(fns, Sequence) else (fns,)):
                    handles.append(getattr(modules[name], register)(fn))
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def capture(
    model: nn.Module, outputs: Sequence[str] = (), inputs: Sequence[str] = ()
) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of modules named in `outputs` and the first input of those in `inputs`.

    The yielded dict is filled on every forward pass inside the block (the latest pass wins);
    input captures are keyed `"<name>:in"`.
    """
    store: dict[str, torch.Tensor] = {}
    forward = {name: _save_output(store, name) for name in outputs}
    pre = {name: _save_input(store, f"{name}:in") for name in inputs}
    with hooked(model, forward=forward, pre=pre):
        yield store


def _save_output(store, key):
    def hook(_module, _inp, out):
        store[key] = out

    return hook


def _save_input(store, key):
    def hook(_module, inp):
        store[key] = inp[0]

    return hook


def hook_count(model: nn.Module) -> int:
    """Number of forward (pre-)hooks on the model's modules; tests use it to prove nothing leaks."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no parameter gradients inside the block; the caller's settings come back after."""
    was_training = model.training
    grads = [p.requires_grad for p in model.parameters()]
    try:
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        yield model
    finally:
        model.train(was_training)
        for p, g in zip(model.parameters(), grads, strict=True):
            p.requires_grad_(g)
