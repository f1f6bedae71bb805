"""Verification by ablation: scoped output-editing hooks, sufficiency/necessity against random circuits,
curves, and edge weights that predict what ablating their source does."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from amx_core.hooks import hook_count
from amx_core.models import Classifier, ModelSpec
from amx_core.readout import PAPER_READOUT as PAPER
from amx_core.readout import read_circuit
from amx_core.readout.ablation import (
    ablated_logits,
    circuit_to_channels,
    clean_means,
    curve_metrics,
    dataset_reference,
    edge_effects,
    edge_fidelity,
    intervene,
    random_channels,
    sufficiency_curve,
    verify_circuit,
)
from tests.test_readout import tiny_classifier, tiny_pixels


class Seeded(nn.Module):
    """conv 3->8 -> relu (tap a) -> conv 8->8 -> relu (tap b) -> conv 8->8 -> relu (tap c) -> mean -> fc 4."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.c1, self.a = nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()
        self.c2, self.b = nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()
        self.c3, self.c = nn.Conv2d(8, 8, 1), nn.ReLU()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = self.c(self.c3(self.b(self.c2(self.a(self.c1(x))))))
        return self.fc(x.mean((2, 3)))


def seeded_classifier(seed: int = 0) -> Classifier:
    spec = ModelSpec("seeded", taps=("a", "b", "c"), head="fc", mean=(0, 0, 0), std=(1, 1, 1), resize=8, crop=8)
    return Classifier(spec, Seeded(seed))


def seeded_pixels(seed: int = 0) -> torch.Tensor:
    return torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- scoped hooks

def test_intervene_edits_and_removes_its_hooks_even_on_error():
    clf = tiny_classifier()
    x = tiny_pixels().unsqueeze(0)
    with intervene(clf.net, {"relu2": lambda out: out * 0}):
        assert torch.allclose(clf(x), torch.zeros(1, 2))
        assert hook_count(clf) == 1
    assert hook_count(clf) == 0
    with pytest.raises(RuntimeError), intervene(clf.net, {"relu1": lambda out: out}):
        raise RuntimeError("boom")
    assert hook_count(clf) == 0
    with pytest.raises(KeyError):
        with intervene(clf.net, {"nope": lambda out: out}):
            pass
    assert torch.allclose(clf(x), torch.tensor([[-2.5, 6.25]]))


# ---------------------------------------------------------------- hand-checked ablations on the tiny CNN

def test_ablated_logits_by_hand():
    clf = tiny_classifier()
    x = tiny_pixels()
    # relu1 = [0.5, 2.0]; relu2 = relu(W2 @ relu1); logits = WFC @ relu2
    keep_1 = {"relu1": [1]}  # relu1 -> [0, 2]: relu2 = [0, 1, 6]: logits [-4, 7]
    keep_0 = {"relu1": [0]}  # relu1 -> [0.5, 0]: relu2 = [0.5, 0.25, 0]: logits [1, 0.25]
    out = ablated_logits(clf, x, [keep_1, keep_0, {}], keep=True)
    assert torch.allclose(out, torch.tensor([[-4.0, 7.0], [1.0, 0.25], [-2.5, 6.25]]))
    nec = ablated_logits(clf, x, [keep_0], keep=False)  # ablate channel 0 = keep channel 1
    assert torch.allclose(nec, out[:1])
    # mean ablation with a given fill: channel 0 replaced by 1.0 -> relu1 [1, 2]: relu2 [0, 1.5, 4]
    fill = {"relu1": torch.tensor([1.0, 0.0])}
    got = ablated_logits(clf, x, [keep_1], keep=True, mode="mean", fill=fill)
    assert torch.allclose(got, torch.tensor([[-1.0, 5.5]]))
    assert hook_count(clf) == 0


def test_heaviest_edge_source_matters_most_tiny():
    """Edge weights predict ablation: relu1#1 -> relu2#2 (weight 6) against relu1#0 -> relu2#2 (weight 1)."""
    clf = tiny_classifier()
    circ = read_circuit(clf, tiny_pixels(), config=PAPER.with_(top_k=3, ingress="gradient"))
    w = {(e.src, e.dst): e.weight for e in circ.edges}
    assert w[("relu1#1", "relu2#2")] > w[("relu1#0", "relu2#2")]
    effects = edge_effects(clf, tiny_pixels(), circ)
    # zeroing relu1#1 drops relu2#2 from 5 to 0 (pre-activation -1); zeroing relu1#0 raises it to 6
    assert effects[("relu1#1", "relu2#2")] == pytest.approx(5.0)
    assert effects[("relu1#0", "relu2#2")] == pytest.approx(1.0)
    nec = ablated_logits(clf, tiny_pixels(), [{"relu1": [1]}, {"relu1": [0]}], keep=False)
    assert nec[0, 1] < nec[1, 1]  # the class logit falls further without the heavy edge's source


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seeded_cnn_ablation_follows_edge_weights(seed):
    """On a seeded CNN, for the strongest target node, ablating the source of its heaviest edge moves it
    more than ablating the source of its lightest edge; edge weights and effects rank alike."""
    clf = seeded_classifier(seed)
    x = seeded_pixels(seed)
    circ = read_circuit(clf, x, config=PAPER.with_(top_k=8, ingress="gradient"))
    effects = edge_effects(clf, x, circ)
    for dst_layer in ("b", "c"):
        top = max((n for n in circ.nodes if n.layer == dst_layer), key=lambda n: n.activation)
        incoming = sorted((e for e in circ.edges if e.dst == top.cid), key=lambda e: e.weight)
        heavy, light = incoming[-1], incoming[0]
        assert effects[(heavy.src, heavy.dst)] > effects[(light.src, light.dst)]
    fid = edge_fidelity(clf, x, circ)
    assert fid["edge_spearman_pair"] > 0.5


def test_verify_circuit_tiny():
    clf = tiny_classifier()
    circ = read_circuit(clf, tiny_pixels(), config=PAPER.with_(top_k=1, selection="flow"))
    assert circuit_to_channels(circ) == {"relu1": [1], "relu2": [2]}
    m = verify_circuit(clf, tiny_pixels(), circ, n_random=4, seed=0)
    json.dumps(m)
    assert all(isinstance(v, float) for v in m.values())
    # keep relu1#1 and relu2#2 only: relu2 = [0, 0, 6] -> logits [-6, 6]: class 1 holds, logit 6/6.25
    assert m["suff_top1"] == 1.0 and m["suff_logit_frac"] == pytest.approx(6 / 6.25)
    # ablate them: relu1 = [0.5, 0] -> relu2 = [0.5, 0.25, 0]: logits [1, 0.25]: class 1 lost
    assert m["nec_top1"] == 0.0 and m["nec_logit_drop"] == pytest.approx(1 - 0.25 / 6.25)
    # necessity of the circuit is larger than of random circuits of the same size
    assert m["nec_logit_drop"] >= m["nec_random_logit_drop"]
    assert m["suff_logit_frac"] >= m["suff_random_logit_frac"]


def test_random_channels_same_size_seeded():
    chans = {"a": [0, 1, 2], "b": [5]}
    widths = {"a": 8, "b": 8}
    r1 = random_channels(chans, widths, torch.Generator().manual_seed(7))
    r2 = random_channels(chans, widths, torch.Generator().manual_seed(7))
    assert r1 == r2 and {k: len(v) for k, v in r1.items()} == {"a": 3, "b": 1}
    assert all(0 <= c < 8 for v in r1.values() for c in v)


def test_sufficiency_curve_seeded_circuit_beats_random():
    clf = seeded_classifier(0)
    x = seeded_pixels(0)
    curve = sufficiency_curve(clf, x, ks=(1, 2, 4, 8), config=PAPER.with_(selection="flow", ingress="gradient"),
                              n_random=8, seed=0)
    assert curve["k"] == [1.0, 2.0, 4.0, 8.0]
    assert curve["circuit_top1"][-1] == 1.0 and curve["random_top1"][-1] == 1.0  # k = width keeps all
    assert curve["circuit_logit_frac"][-1] == pytest.approx(1.0)
    assert sum(curve["circuit_logit_frac"][:3]) > sum(curve["random_logit_frac"][:3])
    flat = curve_metrics(curve)
    assert flat["suffcurve_k8_circuit_top1"] == 1.0 and len(flat) == 16
    json.dumps(curve)


def test_mean_ablation_with_own_means_and_reference():
    clf = seeded_classifier(0)
    x = seeded_pixels(0)
    circ = read_circuit(clf, x, config=PAPER.with_(top_k=2))
    own = verify_circuit(clf, x, circ, mode="mean", n_random=2)
    ref = dataset_reference(clf, [seeded_pixels(s) for s in range(3)])
    assert set(ref) == {"a", "b", "c"} and ref["a"].shape == (8,)
    other = verify_circuit(clf, x, circ, mode="mean", reference=ref, n_random=2)
    assert own["ablation_zero"] == 0.0 and other.keys() == own.keys()
    logits, means = clean_means(clf, x)
    # ablating nothing (all channels kept) reproduces the clean logits in every mode
    full = {t: list(range(8)) for t in clf.spec.taps}
    assert torch.allclose(ablated_logits(clf, x, [full], mode="mean", fill=means)[0], logits, atol=1e-6)
    assert hook_count(clf) == 0


@pytest.mark.slow
def test_lite0_sufficiency_needs_many_channels_under_zero_ablation():
    from amx_core.models import load_classifier

    clf = load_classifier("efficientnet_lite0")
    x = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(0))
    curve = sufficiency_curve(clf, x, ks=(8, 2000), n_random=2)
    assert curve["circuit_top1"][-1] == 1.0 and curve["random_top1"][-1] == 1.0
    assert curve["circuit_logit_frac"][-1] == pytest.approx(1.0, abs=1e-4)
