"""The bench's shared metrics on a hand-made classifier with known answers: minimal sufficient area,
label kept, deletion/insertion AUC ordering (perfect map best, reversed map worst), pass counting."""

import math

import pytest
import torch
from torch import nn

from amx_bench.sufficiency import SUFFICIENCY_LADDER, count_passes, label_kept, minimal_sufficient_area
from amx_core.hooks import hook_count
from amx_core.metrics import deletion_insertion_auc, ranking, robustness_rate, top_mask

SIZE = 16
N = SIZE * SIZE
THRESHOLD = 2.25  # class 1's constant logit
GREY = torch.full((3, 1, 1), 0.5)


def object_mask() -> torch.Tensor:
    m = torch.zeros(1, SIZE, SIZE)
    m[0, 4:8, 6:10] = 1.0  # 16 object pixels
    return m


class PatchNet(nn.Module):
    """Class 0's logit is the red excess over grey summed on a 4x4 object; class 1's is THRESHOLD.
    Each object pixel at red 1.0 adds 0.5, so class 0 is top-1 iff at least 5 object pixels are kept."""

    def __init__(self):
        super().__init__()
        self.register_buffer("obj", object_mask())

    def forward(self, x):
        s = ((x[:, 0:1] - 0.5) * self.obj).flatten(1).sum(1)
        return torch.stack([s, torch.full_like(s, THRESHOLD)], 1)


def photo() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    img = torch.rand(3, SIZE, SIZE, generator=g)  # the background does not matter to PatchNet
    obj = object_mask()[0].bool()
    img[0][obj] = 1.0
    return img


def perfect_map() -> torch.Tensor:
    return object_mask()[0] + 0.001 * torch.rand(SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def test_ladder_is_fine_ascending_and_ends_at_the_whole_image():
    assert SUFFICIENCY_LADDER[:3] == (0.005, 0.01, 0.015)
    assert SUFFICIENCY_LADDER[19:22] == (0.1, 0.11, 0.12)
    assert SUFFICIENCY_LADDER[-1] == 1.0 and len(SUFFICIENCY_LADDER) == 110
    assert list(SUFFICIENCY_LADDER) == sorted(SUFFICIENCY_LADDER)


def test_stable_top_mask_counts_and_breaks_ties_by_lower_index():
    sal = torch.zeros(4, 4)
    sal[3, 3] = 1.0
    m = top_mask(sal, 0.25, stable=True)  # 4 pixels: the salient one, then indices 0, 1, 2
    assert m.shape == (1, 4, 4) and int(m.sum()) == 4
    assert m[0, 3, 3] == 1 and m.flatten()[:3].tolist() == [1, 1, 1] and m.flatten()[3] == 0
    assert ranking(sal)[:2].tolist() == [15, 0]
    assert int(top_mask(sal, 0.0, stable=True).sum()) == 1  # at least one pixel


def test_minimal_sufficient_area_of_a_perfect_and_a_reversed_map_equals_the_hand_count():
    net, img = PatchNet(), photo()
    assert int(net(img[None]).argmax()) == 0
    best = minimal_sufficient_area(net, img, perfect_map(), 0, baseline=GREY)
    # 5 object pixels are needed; the ladder's first level with round(a * 256) >= 5 is 2% (5 pixels)
    assert best.area == pytest.approx(5 / N)
    assert int((best.mask * object_mask()).sum()) == 5
    assert best.passes == 16  # found in the first chunk of 16 levels
    worst = minimal_sufficient_area(net, img, -perfect_map(), 0, baseline=GREY)
    # object last: 240 background pixels + 5 object pixels; 95% keeps round(243.2) = 243, 96% keeps 246
    assert worst.area == pytest.approx(246 / N)
    assert worst.passes == 110  # levels 0.5% .. 96% are 106; the scan goes by whole chunks of 16 (14 last)


def test_minimal_sufficient_area_fills_with_the_given_baseline():
    net, img = PatchNet(), photo()
    # a red baseline makes every removed object pixel count fully: one kept pixel is enough
    red = torch.tensor([1.0, 0.5, 0.5]).view(3, 1, 1)
    assert minimal_sufficient_area(net, img, perfect_map(), 0, baseline=red).area == pytest.approx(1 / N)


def test_label_kept_is_exact_at_the_threshold():
    net, img = PatchNet(), photo()
    order = ranking(perfect_map())
    for k, expected in ((4, False), (5, True)):
        keep = torch.zeros(N)
        keep[order[:k]] = 1.0
        assert label_kept(net, img, keep.view(1, SIZE, SIZE), 0, baseline=GREY) is expected


def test_robustness_is_one_when_the_whole_object_is_kept():
    net, img = PatchNet(), photo()
    rate = robustness_rate(net, img, object_mask(), 0, samples=8, kinds=("noise", "flat", "blur", "shuffle"),
                           seed=0, blur_sigma=1.0)
    assert rate == 1.0


def _sigmoid(v):
    return 1 / (1 + math.exp(-v))


def test_deletion_and_insertion_rank_a_perfect_map_best_and_a_reversed_one_worst():
    net, img = PatchNet(), photo()
    kw = dict(steps=16, blur_sigma=1.0, baseline=GREY)
    perfect = deletion_insertion_auc(net, img, perfect_map(), 0, **kw)
    reversed_ = deletion_insertion_auc(net, img, -perfect_map(), 0, **kw)
    others = [deletion_insertion_auc(net, img, torch.rand(SIZE, SIZE, generator=torch.Generator().manual_seed(s)),
                                     0, **kw) for s in range(5)]
    # deletion: lower is better
    assert perfect[0] < min(o[0] for o in others) <= max(o[0] for o in others) < reversed_[0]
    # insertion: higher is better
    assert perfect[1] > max(o[1] for o in others) >= min(o[1] for o in others) > reversed_[1]
    # hand count: the first step (16 pixels) deletes the whole object, so p = sigmoid(-2.25) from then on
    p0, p1 = _sigmoid(8 - THRESHOLD), _sigmoid(-THRESHOLD)
    assert perfect[0] == pytest.approx(((p0 + p1) / 2 + 15 * p1) / 16, rel=1e-6)


def test_count_passes_counts_images_forward_and_backward_and_leaves_no_hook():
    net = PatchNet()
    x = torch.rand(5, 3, SIZE, SIZE, requires_grad=True)
    with count_passes(net) as c:
        with torch.no_grad():
            net(x[:3])
        net(x).sum().backward()
    assert (c.forward, c.backward) == (8, 5)
    assert hook_count(net) == 0
    with pytest.raises(RuntimeError), count_passes(net):
        raise RuntimeError("boom")
    assert hook_count(net) == 0
