"""Hooks exist only inside their `with` block; the caller's model comes back unchanged."""

import pytest
import torch
from torch import nn

from amx_core.hooks import capture, frozen, hook_count


def _net():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(36, 2))


def test_capture_records_outputs_and_inputs_then_removes_hooks():
    net = _net()
    net(torch.rand(1, 3, 5, 5))
    with capture(net, ["1"], ["3"]) as acts:
        assert hook_count(net) == 2
        out = net(torch.ones(1, 3, 5, 5))
    assert hook_count(net) == 0
    assert acts["1"].shape == (1, 4, 3, 3) and float(acts["1"].detach().min()) >= 0
    assert acts["3:in"].shape == (1, 36)
    assert torch.allclose(net[3](acts["3:in"]), out)


def test_hooks_are_removed_when_the_block_raises():
    net = _net()
    with pytest.raises(RuntimeError, match="boom"), capture(net, ["0", "1"]):
        assert hook_count(net) == 2
        raise RuntimeError("boom")
    assert hook_count(net) == 0


def test_unknown_module_name_registers_nothing():
    net = _net()
    with pytest.raises(KeyError, match="nope"), capture(net, ["0", "nope"]):
        pass
    assert hook_count(net) == 0


def test_frozen_restores_training_flag_and_requires_grad_even_after_an_error():
    net = _net()
    net(torch.rand(1, 3, 5, 5))
    net.train()
    net[0].weight.requires_grad_(False)  # a mixed state must come back exactly
    before = [p.requires_grad for p in net.parameters()]
    with pytest.raises(ValueError), frozen(net):
        assert not net.training and not any(p.requires_grad for p in net.parameters())
        raise ValueError
    assert net.training
    assert [p.requires_grad for p in net.parameters()] == before
