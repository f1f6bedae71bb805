"""Forward hooks that live only inside a `with` block (hooks are global state on a module).

Every hook the project registers goes through `capture`, which removes them in `finally`, so an
exception inside the block never leaves a hook behind on the caller's model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def capture(
    model: nn.Module, outputs: Sequence[str] = (), inputs: Sequence[str] = ()
) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of modules named in `outputs` and the first input of those in `inputs`.

    The yielded dict is filled on every forward pass inside the block (the latest pass wins);
    input captures are keyed `"<name>:in"`.
    """
    modules = dict(model.named_modules())
    missing = [n for n in (*outputs, *inputs) if n not in modules]
    if missing:
        raise KeyError(f"model has no module named {missing[0]!r}")
    store: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name in outputs:
            handles.append(modules[name].register_forward_hook(_save_output(store, name)))
        for name in inputs:
            handles.append(modules[name].register_forward_pre_hook(_save_input(store, f"{name}:in")))
        yield store
    finally:
        for h in handles:
            h.remove()


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
