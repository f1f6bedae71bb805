"""Circuit readout: hand-computed edge and logit weights on tiny CNNs, node selection, round trips,
and well-formed circuits on ResNet-18 (random weights) and efficientnet_lite0."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from amx_core.circuit import Circuit, edge_jaccard, node_jaccard
from amx_core.hooks import hook_count, hooked
from amx_core.models import Classifier, ModelSpec
from amx_core.readout import (
    PAPER_READOUT as PAPER,
)
from amx_core.readout import (
    channel_scores,
    composed_ingress,
    read_circuit,
    select_channels,
)

# ---------------------------------------------------------------- a tiny hand-weighted CNN
#
# x (3 constant channels 0.5, 1.0, 0.25) -> conv1 1x1 W1 -> relu1 (tap) -> conv2 1x1 W2 -> relu2 (tap)
# -> global mean -> fc. By hand: relu1 = [0.5, 2.0]; conv2 = [-1.5, 1.25, 5] -> relu2 = [0, 1.25, 5];
# logits = [2*1.25 - 5, 1.25 + 5] = [-2.5, 6.25] -> class 1.

W1 = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]
W2 = [[1.0, -1.0], [0.5, 0.5], [-2.0, 3.0]]
WFC = [[1.0, 2.0, -1.0], [0.0, 1.0, 1.0]]


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 2, 1, bias=False)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(2, 3, 1, bias=False)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.conv1.weight.copy_(torch.tensor(W1).view(2, 3, 1, 1))
            self.conv2.weight.copy_(torch.tensor(W2).view(3, 2, 1, 1))
            self.fc.weight.copy_(torch.tensor(WFC))

    def forward(self, x):
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc(self.pool(x).flatten(1))


def tiny_classifier() -> Classifier:
    spec = ModelSpec("tiny", taps=("relu1", "relu2"), head="fc", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                     resize=4, crop=4)
    return Classifier(spec, Tiny())


def tiny_pixels() -> torch.Tensor:
    return torch.tensor([0.5, 1.0, 0.25]).view(3, 1, 1).expand(3, 4, 4).clone()


def weights(circuit: Circuit) -> dict[tuple[str, str], float]:
    return {(e.src, e.dst): e.weight for e in circuit.edges}


def test_tiny_nodes_and_logit_links_by_hand():
    c = read_circuit(tiny_classifier(), tiny_pixels(), config=PAPER.with_(top_k=3))
    assert c.layers == ("relu1", "relu2")
    assert [(n.cid, n.rank) for n in c.nodes] == [
        ("relu1#1", 0), ("relu1#0", 1), ("relu2#2", 0), ("relu2#1", 1), ("relu2#0", 2)]
    assert {n.cid: n.activation for n in c.nodes} == pytest.approx(
        {"relu1#0": 0.5, "relu1#1": 2.0, "relu2#0": 0.0, "relu2#1": 1.25, "relu2#2": 5.0})
    assert c.metrics["predicted"] == 1 and c.metrics["target"] == 1
    links = {(lk.src, lk.class_index): lk.weight for lk in c.logit_links}
    # |fc weight| x feature activation, for the predicted class
    assert links == pytest.approx({("relu2#2", 1): 5.0, ("relu2#1", 1): 1.25, ("relu2#0", 1): 0.0})


def test_tiny_edges_weights_mode_by_hand():
    c = read_circuit(tiny_classifier(), tiny_pixels(), config=PAPER.with_(top_k=3, ingress="weights"))
    # |W2| scaled so its largest entry is 1 (divide by 3), times the source activation
    expected = {(f"relu1#{s}", f"relu2#{t}"): abs(W2[t][s]) / 3.0 * [0.5, 2.0][s]
                for t in range(3) for s in range(2)}
    assert weights(c) == pytest.approx(expected)


def test_tiny_edges_gated_mode_by_hand():
    c = read_circuit(tiny_classifier(), tiny_pixels(), config=PAPER.with_(top_k=3, ingress="gated"))
    # weights-mode values, gated by relu2's gain on this image: channel 0 is off (gain 0), 1 and 2 on
    expected = {(f"relu1#{s}", f"relu2#{t}"): (abs(W2[t][s]) / 3.0 * [0.5, 2.0][s] if t else 0.0)
                for t in range(3) for s in range(2)}
    assert weights(c) == pytest.approx(expected)
    assert c.metrics["readout_forward_passes"] == 1 and c.metrics["readout_backward_calls"] == 0


def test_gated_gain_counts_partly_active_channels():
    """A ReLU on for half the positions passes half of a uniform probe."""
    clf = tiny_classifier()
    x = tiny_pixels()
    x[:, :, :2] = 0.0  # left half black: relu1 is 0 there, relu2 too
    gated = read_circuit(clf, x, config=PAPER.with_(top_k=3, ingress="gated"))
    plain = read_circuit(clf, x, config=PAPER.with_(top_k=3, ingress="weights"))
    # gain of relu2 channels 1 and 2 = 0.5 (on at half the positions; 0/0 counts as off)
    for (src, dst), w in weights(plain).items():
        expected = 0.0 if dst == "relu2#0" else 0.5 * w
        assert weights(gated)[(src, dst)] == pytest.approx(expected)


def test_tiny_edges_gradient_mode_by_hand():
    c = read_circuit(tiny_classifier(), tiny_pixels(), config=PAPER.with_(top_k=3, ingress="gradient"))
    # sum_hw |d mean(relu2_t) / d relu1_s[h,w] * relu1_s[h,w]| = |W2[t,s]| * mean(relu1_s) where relu2_t is
    # active, 0 where its ReLU is off (channel 0): the data-dependent part weights mode cannot see
    expected = {(f"relu1#{s}", f"relu2#{t}"): (abs(W2[t][s]) * [0.5, 2.0][s] if t else 0.0)
                for t in range(3) for s in range(2)}
    assert weights(c) == pytest.approx(expected)
    links = {(lk.src, lk.class_index): lk.weight for lk in c.logit_links}
    assert links == pytest.approx({("relu2#2", 1): 5.0, ("relu2#1", 1): 1.25, ("relu2#0", 1): 0.0})
    assert c.metrics["readout_forward_passes"] == 1


def test_flow_selection_follows_the_class():
    # flow: final layer by logit link (relu2#2: 5 > relu2#1: 1.25), then sources by edge weight into it
    cfg = PAPER.with_(top_k=1, selection="flow", ingress="gradient")
    c = read_circuit(tiny_classifier(), tiny_pixels(), config=cfg)
    assert sorted(n.cid for n in c.nodes) == ["relu1#1", "relu2#2"]
    assert weights(c) == pytest.approx({("relu1#1", "relu2#2"): 6.0})


def test_attribution_selection_keeps_the_channels_that_push_the_class_by_hand():
    # activation x gradient of the target logit, summed over space (16 positions, constant image).
    # class 0: logit0 = relu2_0 + 2 relu2_1 - relu2_2 -> relu2 attributions [0, 2.5, -5]; relu1 through the
    # active relu2 channels 1, 2: s=0: (2*0.5 + -1*-2) * 0.5 = 1.5, s=1: (2*0.5 + -1*3) * 2.0 = -4.
    # Activation selection keeps the loudest channels instead: relu1#1 and relu2#2.
    clf = tiny_classifier()
    attr = read_circuit(clf, tiny_pixels(), config=PAPER.with_(top_k=1, selection="attribution"), class_index=0)
    loud = read_circuit(clf, tiny_pixels(), config=PAPER.with_(top_k=1), class_index=0)
    assert sorted(n.cid for n in attr.nodes) == ["relu1#0", "relu2#1"]
    assert sorted(n.cid for n in loud.nodes) == ["relu1#1", "relu2#2"]
    assert {n.cid: n.activation for n in attr.nodes} == pytest.approx({"relu1#0": 0.5, "relu2#1": 1.25})
    assert attr.metrics["readout_forward_passes"] == 1 and attr.metrics["readout_backward_calls"] == 1
    # class 1 (the top-1): relu2 [0, 1.25, 5], relu1 s=0: (0.5 - 2) * 0.5 = -0.75, s=1: (0.5 + 3) * 2 = 7
    order = read_circuit(clf, tiny_pixels(), config=PAPER.with_(top_k=3, selection="attribution"))
    assert [n.cid for n in order.nodes] == ["relu1#1", "relu1#0", "relu2#2", "relu2#1", "relu2#0"]


def test_log_prob_attribution_weighs_evidence_against_the_other_classes_by_hand():
    # class 1's log-probability: d log p1 / d pooled relu2 = p0 (WFC[1] - WFC[0]) = p0 [-1, -1, 2], so relu2
    # scores [0, -1.25 p0, 10 p0]: relu2#1 (which feeds class 0 twice as much as class 1) drops to the end,
    # where the logit's attribution [0, 1.25, 5] ranks it second. relu1: p0 [-2.25, 11], the same order.
    clf = tiny_classifier()
    cfg = PAPER.with_(top_k=3, selection="attribution", attribute_to="log_prob")
    c = read_circuit(clf, tiny_pixels(), config=cfg)
    assert [n.cid for n in c.nodes] == ["relu1#1", "relu1#0", "relu2#2", "relu2#0", "relu2#1"]
    assert c.metrics["readout_backward_calls"] == 1
    with pytest.raises(ValueError, match="attribute_to"):
        PAPER.with_(attribute_to="probability")


def test_the_default_readout_is_attribution_with_sparse_edges():
    from amx_core.readout import DEFAULT_READOUT, ReadoutConfig

    assert DEFAULT_READOUT == ReadoutConfig() == PAPER.with_(selection="attribution", edge_share=0.8)
    clf = tiny_classifier()
    default = read_circuit(clf, tiny_pixels(), config=DEFAULT_READOUT.with_(top_k=3))
    every = read_circuit(clf, tiny_pixels(), config=DEFAULT_READOUT.with_(top_k=3, edge_share=None))
    assert {n.cid for n in default.nodes} == {n.cid for n in every.nodes}
    assert set(weights(default)) < set(weights(every))  # fewer edges, each one of the full set


@pytest.mark.parametrize(("share", "kept"), [(None, 6), (0.9, 4), (0.5, 2)])
def test_edge_share_keeps_the_fewest_heaviest_incoming_edges(share, kept):
    # signed edges into relu2#2: relu1#0 = 2/3 * 0.5 = 0.33, relu1#1 = 3/3 * 2.0 = 2.0 -> a 0.5 share keeps
    # only relu1#1; into relu2#1: 0.5/3 * 0.5, 0.5/3 * 2 -> relu1#1 alone holds 80%; relu2#0 is off: its
    # edges weigh 0 and none is kept
    c = read_circuit(tiny_classifier(), tiny_pixels(), config=PAPER.with_(top_k=3, edge_share=share))
    assert len(c.edges) == kept
    if share == 0.5:
        assert {(e.src, e.dst) for e in c.edges} == {("relu1#1", "relu2#2"), ("relu1#1", "relu2#1")}


def test_class_index_and_top_classes():
    cfg = PAPER.with_(top_k=3, n_classes=2)
    c = read_circuit(tiny_classifier(), tiny_pixels(), config=cfg, class_index=0)
    assert c.metrics["target"] == 0 and c.metrics["predicted"] == 1
    assert {lk.class_index for lk in c.logit_links} == {0, 1}
    link0 = {lk.src: lk.weight for lk in c.logit_links if lk.class_index == 0}
    assert link0 == pytest.approx({"relu2#0": 0.0, "relu2#1": 2.5, "relu2#2": 5.0})


def test_mask_makes_an_explanation_circuit():
    mask = torch.zeros(1, 4, 4)
    mask[:, :2] = 1.0  # half the pixels: every activation halves
    c = read_circuit(tiny_classifier(), tiny_pixels(), mask, config=PAPER.with_(top_k=3), image_id="img")
    assert c.kind == "explanation" and c.image_id == "img"
    assert {n.cid: n.activation for n in c.nodes}["relu2#2"] == pytest.approx(2.5)


def test_readout_leaves_the_model_as_it_was():
    clf = tiny_classifier()
    clf.train()
    for p in clf.parameters():
        p.requires_grad_(True)
    read_circuit(clf, tiny_pixels(), config=PAPER.with_(ingress="gradient"))
    assert clf.training and all(p.requires_grad for p in clf.parameters())
    assert hook_count(clf) == 0


# ---------------------------------------------------------------- signed composition, gradient as a scaling derivative

class Cancel(nn.Module):
    """tap a (2 ch) -> 1x1 conv [[1, 1], [1, -1]] -> ReLU (on: a0 > a1 > 0) -> 1x1 conv [[1, 1]] -> tap b.
    b = relu(2 * a0): a1 reaches b along two paths of opposite sign that cancel exactly."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 2, 1, bias=False)
        self.a = nn.ReLU()
        self.mid = nn.Conv2d(2, 2, 1, bias=False)
        self.act = nn.ReLU()
        self.out = nn.Conv2d(2, 1, 1, bias=False)
        self.b = nn.ReLU()
        self.fc = nn.Linear(1, 2, bias=False)
        with torch.no_grad():
            self.stem.weight.copy_(torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).view(2, 3, 1, 1))
            self.mid.weight.copy_(torch.tensor([[1.0, 1.0], [1.0, -1.0]]).view(2, 2, 1, 1))
            self.out.weight.copy_(torch.tensor([[1.0, 1.0]]).view(1, 2, 1, 1))
            self.fc.weight.copy_(torch.tensor([[1.0], [-1.0]]))

    def forward(self, x):
        x = self.b(self.out(self.act(self.mid(self.a(self.stem(x))))))
        return self.fc(x.mean((2, 3)))


def cancel_classifier() -> Classifier:
    spec = ModelSpec("cancel", taps=("a", "b"), head="fc", mean=(0, 0, 0), std=(1, 1, 1), resize=4, crop=4)
    return Classifier(spec, Cancel())


def test_signed_mode_lets_opposite_paths_cancel():
    clf = cancel_classifier()
    x = torch.ones(3, 4, 4)  # a = [2, 1]: both mid channels on
    signed = weights(read_circuit(clf, x, config=PAPER.with_(top_k=2, ingress="signed")))
    gated = weights(read_circuit(clf, x, config=PAPER.with_(top_k=2, ingress="gated")))
    # composed signed matrix [2, 0] (scaled by its largest |entry|, 2), times the activations [2, 1]
    assert signed == pytest.approx({("a#0", "b#0"): 2.0, ("a#1", "b#0"): 0.0})
    # composed |W| matrix [2, 2] / 2: a#1 looks as strong as a#0
    assert gated == pytest.approx({("a#0", "b#0"): 2.0, ("a#1", "b#0"): 1.0})
    # what ablation says: zeroing a1 leaves b unchanged; zeroing a0 takes b from 4 to 1 (mid = [1, -1]
    # switches its second channel off, so the first-order estimate 4 overshoots)
    from amx_core.readout.ablation import edge_effects

    circ = read_circuit(clf, x, config=PAPER.with_(top_k=2, ingress="signed"))
    eff = edge_effects(clf, x, circ)
    assert eff[("a#1", "b#0")] == pytest.approx(0.0) and eff[("a#0", "b#0")] == pytest.approx(3.0)
    grad = weights(read_circuit(clf, x, config=PAPER.with_(top_k=2, ingress="gradient")))
    assert grad == pytest.approx({("a#0", "b#0"): 4.0, ("a#1", "b#0"): 0.0})


def test_gradient_edge_is_the_derivative_of_scaling_the_source_channel():
    """gradient mode: |d mean(b_t) / d alpha| where alpha scales source channel s, checked against an
    explicit scalar on a seeded CNN with 3x3 kernels (signs of the gradient vary over positions)."""
    from tests.test_ablation import seeded_classifier, seeded_pixels

    clf = seeded_classifier(1)
    x = seeded_pixels(1)
    c = read_circuit(clf, x, config=PAPER.with_(top_k=3, ingress="gradient"))
    net = clf.net
    for e in [e for e in c.edges if e.src.startswith("a#")][:4]:
        s, t = int(e.src.rpartition("#")[2]), int(e.dst.rpartition("#")[2])
        alpha = torch.ones(1, requires_grad=True)

        def scale(_m, _i, out, s=s, alpha=alpha):
            f = torch.ones(out.shape[1])
            f[s] = 0.0
            return out * f.view(1, -1, 1, 1) + out[:, s: s + 1] * alpha * (1 - f).view(1, -1, 1, 1)

        store = {}
        with hooked(net, forward={"a": scale, "b": lambda _m, _i, out, store=store: store.update(b=out)}):
            clf(x[None])
        (g,) = torch.autograd.grad(store["b"][0, t].mean(), alpha)
        assert e.weight == pytest.approx(abs(float(g)), rel=1e-4, abs=1e-7)


class SkipOverTap(nn.Module):
    """tap a -> conv -> tap b -> conv, + a (a residual that spans tap b) -> tap c -> mean -> fc."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(5)
        self.stem = nn.Conv2d(3, 4, 1, bias=False)
        self.a = nn.ReLU()
        self.c1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.b = nn.ReLU()
        self.c2 = nn.Conv2d(4, 4, 1, bias=False)
        self.c = nn.ReLU()
        self.fc = nn.Linear(4, 3)
        with torch.no_grad():
            for m in (self.stem, self.c1, self.c2, self.fc):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.1)  # positive: every ReLU on

    def forward(self, x):
        a = self.a(self.stem(x))
        x = self.c(self.c2(self.b(self.c1(a))) + a)
        return self.fc(x.mean((2, 3)))


@pytest.mark.parametrize("selection", ["activation", "flow"])
def test_gated_modes_where_a_residual_spans_a_tap(selection):
    """The one-pass probe batches cannot shrink at tap b here (the skip carries a's rows past it): the
    surrogate notices once and keeps fixed rows; the values still equal the per-pair composition."""
    from amx_core.readout.surrogate import surrogate_for

    spec = ModelSpec("skip", taps=("a", "b", "c"), head="fc", mean=(0, 0, 0), std=(1, 1, 1), resize=6, crop=6)
    clf = Classifier(spec, SkipOverTap())
    x = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(0)) + 0.1
    assert surrogate_for(clf).exclusive is False
    plain = weights(read_circuit(clf, x, config=PAPER.with_(top_k=4, selection=selection, ingress="weights")))
    for ingress in ("gated", "signed"):  # all gains 1 and all weights positive: both equal weights mode
        got = read_circuit(clf, x, config=PAPER.with_(top_k=4, selection=selection, ingress=ingress))
        assert weights(got) == pytest.approx(plain, rel=1e-5)
    assert surrogate_for(cancel_classifier()).exclusive is True


def test_gated_readout_counts_its_surrogate_passes():
    clf = tiny_classifier()
    act = read_circuit(clf, tiny_pixels(), config=PAPER.with_(top_k=3, ingress="signed"))
    assert act.metrics["readout_surrogate_calls"] == 1  # one forward-mode pass, no backward
    flow = read_circuit(clf, tiny_pixels(), config=PAPER.with_(top_k=3, ingress="signed", selection="flow"))
    # one reverse-mode forward, then one backward per pair (logits, relu1 -> relu2), classes reused
    assert flow.metrics["readout_surrogate_calls"] == 3
    assert act.metrics["readout_forward_passes"] == flow.metrics["readout_forward_passes"] == 1
    assert weights(act) == pytest.approx(weights(read_circuit(clf, tiny_pixels(), config=PAPER.with_(
        top_k=3, ingress="gated"))))  # one conv between the taps: nothing to cancel


# ---------------------------------------------------------------- composed weights through BN, 3x3 and depthwise

class PathNet(nn.Module):
    """tap a -> conv 3x3 -> BN -> ReLU -> depthwise 3x3 -> tap b -> pool -> fc."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.stem = nn.Conv2d(3, 2, 1)
        self.a = nn.ReLU()
        self.conv = nn.Conv2d(2, 3, 3, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(3)
        self.act = nn.ReLU6()
        self.dw = nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False)
        self.b = nn.ReLU()
        self.fc = nn.Linear(3, 4)
        with torch.no_grad():
            for m in (self.stem, self.conv, self.dw, self.fc):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g))
            self.bn.weight.copy_(torch.tensor([1.0, -2.0, 0.5]))
            self.bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
            self.bn.running_mean.copy_(torch.tensor([0.3, -0.1, 0.2]))

    def forward(self, x):
        x = self.a(self.stem(x))
        x = self.b(self.dw(self.act(self.bn(self.conv(x)))))
        return self.fc(x.mean((2, 3)))


def test_composed_weights_fold_bn_and_treat_depthwise_as_diagonal():
    net = PathNet().eval()
    clf = Classifier(ModelSpec("path", taps=("a", "b"), head="fc", mean=(0, 0, 0), std=(1, 1, 1), resize=8, crop=8), net)
    m_ab, m_logit = composed_ingress(clf)
    scale = net.bn.weight.abs() / torch.sqrt(net.bn.running_var + net.bn.eps)
    by_hand = net.dw.weight.abs().sum((1, 2, 3)).view(3, 1) * scale.view(3, 1) * net.conv.weight.abs().sum((2, 3))
    assert torch.allclose(m_ab, by_hand / by_hand.max(), atol=1e-6)
    assert torch.allclose(m_logit, net.fc.weight.abs(), atol=1e-6)


# ---------------------------------------------------------------- node selection

def test_select_channels_top_k_and_energy_fraction():
    scores = torch.tensor([1.0, 5.0, 3.0, 0.0, 1.0])
    assert select_channels(scores, top_k=2) == [1, 2]
    assert select_channels(scores, top_k=9) == [1, 2, 0, 4, 3]
    assert select_channels(scores, energy_fraction=0.8) == [1, 2]  # 8 of 10
    assert select_channels(scores, energy_fraction=0.81) == [1, 2, 0]  # tie 0/4: lower index first
    assert select_channels(scores, energy_fraction=1.0, max_per_layer=3) == [1, 2, 0]
    assert select_channels(torch.zeros(3), energy_fraction=0.5) == [0]


def test_channel_scores_mean_and_square():
    act = torch.zeros(3, 2, 2)
    act[0] = torch.tensor([[1.0, 1.0], [1.0, 1.0]])  # mean 1, square 1
    act[1] = torch.tensor([[4.0, 0.0], [0.0, 0.0]])  # mean 1, square 4
    act[2] = torch.tensor([[-2.0, 0.0], [0.0, 0.0]])  # mean |a| 0.5, square 1
    assert channel_scores(act, "mean").tolist() == [1.0, 1.0, 0.5]
    assert channel_scores(act, "square").tolist() == [1.0, 4.0, 1.0]
    # a hand-made pattern picks different nodes under the two scores
    assert select_channels(channel_scores(act, "square"), top_k=1) == [1]
    assert select_channels(channel_scores(act, "mean"), top_k=2) == [0, 1]


def test_fraction_config_in_readout():
    cfg = PAPER.with_(energy_fraction=0.7)
    c = read_circuit(tiny_classifier(), tiny_pixels(), config=cfg)
    # relu1 scores [0.5, 2.0]: channel 1 holds 80%; relu2 [0, 1.25, 5]: channel 2 holds 80%
    assert sorted(n.cid for n in c.nodes) == ["relu1#1", "relu2#2"]
    assert c.metrics["energy_kept_l0"] == pytest.approx(0.8)


def test_config_validation():
    with pytest.raises(ValueError):
        PAPER.with_(ingress="magic")
    with pytest.raises(ValueError):
        PAPER.with_(energy_fraction=1.5)
    with pytest.raises(ValueError):
        PAPER.with_(edge_share=0.0)
    with pytest.raises(ValueError):
        PAPER.with_(selection="loudest")


# ---------------------------------------------------------------- round trips and overlaps

def test_circuit_round_trips_json_and_networkx():
    c = read_circuit(tiny_classifier(), tiny_pixels(), config=PAPER.with_(top_k=3, n_classes=2), image_id="abc")
    back = Circuit.from_json(c.to_json())
    assert back == c
    json.loads(c.to_json())  # plain JSON
    g = c.to_networkx()
    assert g.number_of_nodes() == len(c.nodes) + len({lk.class_index for lk in c.logit_links})
    assert g.number_of_edges() == len(c.edges) + len(c.logit_links)
    for e in c.edges:
        assert g.edges[e.src, e.dst]["weight"] == e.weight
    for n in c.nodes:
        assert g.nodes[n.cid]["activation"] == n.activation and g.nodes[n.cid]["rank"] == n.rank


def test_jaccard():
    a = read_circuit(tiny_classifier(), tiny_pixels(), config=PAPER.with_(top_k=2))
    b = read_circuit(tiny_classifier(), tiny_pixels(), config=PAPER.with_(top_k=1))
    assert edge_jaccard(a, a) == 1.0
    assert edge_jaccard(a, b) == pytest.approx(1 / 4)  # 1 edge of 2x2
    assert node_jaccard(a, b) == pytest.approx(2 / 4)


def test_circuit_figure(tmp_path):
    from amx_core.figures import write_circuit_figure

    a = read_circuit(tiny_classifier(), tiny_pixels(), config=PAPER.with_(top_k=3))
    mask = torch.zeros(1, 4, 4)
    mask[:, :2] = 1
    b = read_circuit(tiny_classifier(), tiny_pixels(), mask, config=PAPER.with_(top_k=3))
    path = write_circuit_figure(a, b, tmp_path / "fig" / "circuits.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert write_circuit_figure(a, None, tmp_path / "one.png").stat().st_size > 1000


# ---------------------------------------------------------------- real architectures

def _check_well_formed(c: Circuit, taps, widths, k):
    assert c.layers == tuple(taps)
    per_layer = {t: [n for n in c.nodes if n.layer == t] for t in taps}
    for t in taps:
        chans = [n.channel for n in per_layer[t]]
        assert len(chans) == min(k, widths[t]) and len(set(chans)) == len(chans)
        assert all(0 <= ch < widths[t] for ch in chans)
        assert [n.rank for n in per_layer[t]] == list(range(len(chans)))
        assert all(n.activation >= 0 and math.isfinite(n.activation) for n in per_layer[t])
    cids = {n.cid for n in c.nodes}
    assert len(c.edges) == sum(min(k, widths[a]) * min(k, widths[b]) for a, b in zip(taps, taps[1:], strict=False))
    for e in c.edges:
        assert e.src in cids and e.dst in cids and e.weight >= 0 and math.isfinite(e.weight)
        assert taps.index(e.src.rpartition("#")[0]) + 1 == taps.index(e.dst.rpartition("#")[0])
    assert c.logit_links and all(lk.src.startswith(taps[-1] + "#") for lk in c.logit_links)
    assert all(0 <= lk.class_index < 1000 for lk in c.logit_links)
    Circuit.from_json(c.to_json())


@pytest.mark.parametrize("ingress", ["weights", "gated", "gradient"])
def test_resnet18_random_weights_circuit(ingress):
    from amx_core.models import load_classifier

    torch.manual_seed(0)
    clf = load_classifier("resnet18", weights="random")
    pixels = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    c = read_circuit(clf, pixels, config=PAPER.with_(top_k=4, ingress=ingress, n_classes=3), image_id="r")
    widths = {"relu": 64, "layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}
    _check_well_formed(c, list(clf.spec.taps), widths, 4)
    assert len({lk.class_index for lk in c.logit_links}) == 3
    assert c.model == "resnet18" and hook_count(clf) == 0


def test_resnet18_weights_mode_is_the_documented_stage_composition():
    """layer1 -> layer2: prod over blocks of (shortcut + |conv2||conv1|), BN folded, kernels summed."""
    from amx_core.models import load_classifier

    torch.manual_seed(1)
    clf = load_classifier("resnet18", weights="random")
    net = clf.net.eval()
    with torch.no_grad():  # non-trivial BN statistics
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(-1.5, 1.5)

    def folded(conv, bn):
        s = (bn.weight.abs() / torch.sqrt(bn.running_var + bn.eps)).view(-1, 1)
        return conv.weight.abs().sum((2, 3)) * s

    b0, b1 = net.layer2[0], net.layer2[1]
    m0 = folded(b0.downsample[0], b0.downsample[1]) + folded(b0.conv2, b0.bn2) @ folded(b0.conv1, b0.bn1)
    m1 = torch.eye(128) + folded(b1.conv2, b1.bn2) @ folded(b1.conv1, b1.bn1)
    by_hand = m1 @ m0
    got = composed_ingress(clf)[2 - 1]  # pair layer1 -> layer2
    assert torch.allclose(got, by_hand / by_hand.max(), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("ingress", ["weights", "gated", "gradient"])
def test_efficientnet_lite0_circuit(ingress):
    from amx_core.models import load_classifier

    clf = load_classifier("efficientnet_lite0")
    pixels = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(0))
    cfg = PAPER.with_(top_k=8, ingress=ingress, selection="flow")
    c = read_circuit(clf, pixels, config=cfg)
    widths = {"bn1": 32, "blocks.2.0.bn1": 144, "blocks.3.0.bn1": 240, "blocks.5.0.bn1": 672, "bn2": 1280}
    _check_well_formed(c, list(clf.spec.taps), widths, 8)
    # the head reads the pooled last tap, so logit links are |W_head| x activation in both modes
    w = clf.net.classifier.weight
    act = {n.cid: n.activation for n in c.nodes}
    for lk in c.logit_links:
        ch = int(lk.src.rpartition("#")[2])
        assert lk.weight == pytest.approx(float(w[lk.class_index, ch].abs()) * act[lk.src], rel=1e-4, abs=1e-6)
