"""Hooks exist only inside their `with` block; the caller's model comes back unchanged.

Every public entry point that registers hooks (`capture`, `hooked`, `intervene`, `read_circuit`,
`verify_circuit`) leaves zero hooks behind, after success and after a hook or a forward pass raises.
"""

import pytest
import torch
from torch import nn

from amx_core.hooks import capture, frozen, hook_count, hooked
from amx_core.models import Classifier, ModelSpec
from amx_core.readout import PAPER_READOUT as PAPER
from amx_core.readout import read_circuit, verify_circuit
from amx_core.readout.ablation import intervene
from amx_core.readout.surrogate import surrogate_for


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


def test_hooked_rejects_an_unknown_name_before_registering_anything(monkeypatch):
    net = _net()
    registered = []
    for m in net.modules():  # any registration at all would be seen
        for kind in ("register_forward_hook", "register_forward_pre_hook"):
            monkeypatch.setattr(m, kind, lambda *a, kind=kind, **k: registered.append(kind))
    with pytest.raises(KeyError, match="nope"), hooked(net, forward={"0": lambda *_: None, "": lambda *_: None},
                                                      pre={"nope": lambda *_: None}):
        pass
    assert registered == [] and hook_count(net) == 0


def test_hooked_edits_outputs_and_inputs_with_several_hooks_per_module():
    net = _net()
    x = torch.rand(1, 3, 5, 5)
    plain = net(x)
    order = []
    forward = {"": lambda _m, _i, out: out * 2, "1": [lambda *_: order.append("a"), lambda *_: order.append("b")]}
    with hooked(net, forward=forward, pre={"3": lambda _m, inp: (inp[0] * 0,)}):
        assert hook_count(net) == 4
        got = net(x)
    assert hook_count(net) == 0 and order == ["a", "b"]
    assert torch.allclose(got, 2 * net[3].bias)
    assert torch.allclose(net(x), plain)


@pytest.mark.parametrize("where", ["forward", "pre", "block"])
def test_hooked_leaves_nothing_when_a_hook_or_the_block_raises(where):
    net = _net()

    def boom(*_):
        raise ValueError("boom")

    forward = {"1": boom if where == "forward" else (lambda *_: None), "0": lambda *_: None}
    pre = {"3": boom if where == "pre" else (lambda *_: None)}
    with pytest.raises(ValueError, match="boom"), hooked(net, forward=forward, pre=pre):
        net(torch.rand(1, 3, 5, 5))
        boom()
    assert hook_count(net) == 0


def test_capture_leaves_nothing_when_the_forward_raises():
    net = _net()
    with pytest.raises(RuntimeError), capture(net, ["0", "1"], ["3"]):
        net(torch.rand(1, 4, 5, 5))  # wrong channel count: the conv raises
    assert hook_count(net) == 0


@pytest.mark.parametrize("where", ["edit", "forward"])
def test_intervene_leaves_nothing_when_an_edit_or_the_forward_raises(where):
    net = _net()

    def edit(out):
        if where == "edit":
            raise ValueError("boom")
        return out

    with pytest.raises((ValueError, RuntimeError)), intervene(net, {"1": edit, "3": lambda out: out}):
        net(torch.rand(1, 3 if where == "edit" else 4, 5, 5))
    assert hook_count(net) == 0


# ---------------------------------------------------------------- the readout and its verification

class Boom(Exception):
    pass


class Fuse(nn.Module):
    """Identity that raises `Boom` once `Fuse.left` calls have passed (None: never). The budget is a class
    attribute, so the copy inside the readout's surrogate counts down with the classifier's own."""

    left: int | None = None

    def forward(self, x):
        if Fuse.left is not None:
            Fuse.left -= 1
            if Fuse.left < 0:
                raise Boom
        return x


class FuseNet(nn.Module):
    """stem -> tap a -> fuse -> conv 3x3 -> tap b -> mean -> fc."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.stem, self.a = nn.Conv2d(3, 4, 1), nn.ReLU()
        self.fuse = Fuse()
        self.conv, self.b = nn.Conv2d(4, 5, 3, padding=1), nn.ReLU()
        self.fc = nn.Linear(5, 3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g))

    def forward(self, x):
        x = self.b(self.conv(self.fuse(self.a(self.stem(x)))))
        return self.fc(x.mean((2, 3)))


def fuse_classifier() -> Classifier:
    spec = ModelSpec("fuse", taps=("a", "b"), head="fc", mean=(0, 0, 0), std=(1, 1, 1), resize=6, crop=6)
    return Classifier(spec, FuseNet())


@pytest.fixture
def fuse():
    Fuse.left = None
    yield
    Fuse.left = None


def _no_hooks(clf: Classifier, ingress: str) -> bool:
    """No hook on the classifier nor on its cached surrogate (the probes' put/take hooks, the gain trace)."""
    Fuse.left = None
    sur = () if ingress == "gradient" else (surrogate_for(clf, signed=ingress == "signed").net,)
    return hook_count(clf) == 0 and all(hook_count(s) == 0 for s in sur)


def _calls(run) -> int:
    """Forward calls through the fuse during `run()`."""
    Fuse.left = 10**9
    run()
    calls = 10**9 - Fuse.left
    Fuse.left = None
    return calls


@pytest.mark.parametrize("selection", ["activation", "flow"])
@pytest.mark.parametrize("ingress", ["weights", "signed", "gradient"])
def test_read_circuit_leaves_no_hooks_after_success_or_a_raise_at_any_pass(fuse, ingress, selection):
    """The forward raises at each pass in turn (the surrogate's construction and probe passes included);
    every time, the classifier and its surrogate keep no hook. Early stops inside probe passes too."""
    cfg = PAPER.with_(top_k=3, ingress=ingress, selection=selection)
    x = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(1))
    n = _calls(lambda: read_circuit(fuse_classifier(), x, config=cfg))
    assert n >= 1
    for left in range(n):
        clf = fuse_classifier()
        Fuse.left = left
        with pytest.raises(Boom):
            read_circuit(clf, x, config=cfg)
        assert _no_hooks(clf, ingress), left
        read_circuit(clf, x, config=cfg)  # and the next readout still works
        assert _no_hooks(clf, ingress)


def test_verify_circuit_leaves_no_hooks_after_success_or_a_raise_at_any_pass(fuse):
    x = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(1))
    clf = fuse_classifier()
    circuit = read_circuit(clf, x, config=PAPER.with_(top_k=2))
    n = _calls(lambda: verify_circuit(clf, x, circuit, n_random=2))
    assert n >= 3 and _no_hooks(clf, "signed")
    for mode in ("zero", "mean"):
        for left in range(n):
            Fuse.left = left
            with pytest.raises(Boom):
                verify_circuit(clf, x, circuit, mode=mode, n_random=2)
            assert _no_hooks(clf, "signed"), (mode, left)


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
