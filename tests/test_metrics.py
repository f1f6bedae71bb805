"""Explanation metrics on tiny classifiers whose answers are known: deletion/insertion AUC (RISE),
robustness over random backgrounds, connected regions and top-k masks."""

from __future__ import annotations

import itertools

import pytest
import torch

from amx_core.backgrounds import blurred
from amx_core.metrics import connected_regions, deletion_insertion_auc, robustness_rate, top_mask

H = W = 6
SIGMA = 1.0


def linear_predict(weights: torch.Tensor, bias: float):
    """Two classes: logit_0 = sum(w * x[channel 0]) - bias, logit_1 = 0. p(class 0) is monotone in the sum."""

    def predict(batch: torch.Tensor) -> torch.Tensor:
        s = (batch[:, 0] * weights).flatten(1).sum(1) - bias
        return torch.stack([s, torch.zeros_like(s)], 1)

    return predict


@pytest.fixture
def setup():
    g = torch.Generator().manual_seed(3)
    weights = torch.rand(H, W, generator=g) + 0.1
    image = torch.rand(3, H, W, generator=g) * 0.5 + 0.5
    predict = linear_predict(weights, bias=float((weights * image[0]).sum()) / 2)
    return weights, image, predict


def test_perfect_deletion_map_scores_best_and_reversed_worst(setup):
    weights, image, predict = setup
    # deleting to a zero baseline removes w*x from the logit: taking the largest first minimises
    # the probability at every step, so no ordering has a lower deletion AUC
    contribution = (weights * image[0])[None]
    best, _ = deletion_insertion_auc(predict, image, contribution, 0, steps=H * W, blur_sigma=SIGMA)
    worst, _ = deletion_insertion_auc(predict, image, -contribution, 0, steps=H * W, blur_sigma=SIGMA)
    assert best < worst
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        rand = torch.rand(1, H, W, generator=g)
        d, _ = deletion_insertion_auc(predict, image, rand, 0, steps=H * W, blur_sigma=SIGMA)
        assert best - 1e-9 <= d <= worst + 1e-9


def test_perfect_insertion_map_scores_best_and_reversed_worst(setup):
    weights, image, predict = setup
    # inserting pixel i into the blurred canvas adds w_i * (x_i - canvas_i) to the logit
    gain = (weights * (image[0] - blurred(image, SIGMA)[0]))[None]
    _, best = deletion_insertion_auc(predict, image, gain, 0, steps=H * W, blur_sigma=SIGMA)
    _, worst = deletion_insertion_auc(predict, image, -gain, 0, steps=H * W, blur_sigma=SIGMA)
    assert best > worst
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        _, ins = deletion_insertion_auc(predict, image, torch.rand(1, H, W, generator=g), 0, steps=H * W,
                                        blur_sigma=SIGMA)
        assert worst - 1e-9 <= ins <= best + 1e-9


def test_auc_is_the_trapezoid_of_the_probability_curve():
    # a classifier whose p(class 0) is the fraction of non-zero pixels: deleting k of 4 leaves (4-k)/4,
    # so the deletion curve is 1, 3/4, 1/2, 1/4, 0 and its trapezoid AUC is 1/2
    def predict(batch):
        frac = (batch[:, 0] != 0).float().flatten(1).mean(1).clamp(1e-6, 1 - 1e-6)
        return torch.stack([torch.log(frac), torch.log(1 - frac)], 1)

    image = torch.ones(3, 2, 2)
    d, _ = deletion_insertion_auc(predict, image, torch.rand(1, 2, 2), 0, steps=4, blur_sigma=0.1)
    assert d == pytest.approx(0.5, abs=1e-4)


def test_deletion_uses_the_given_baseline_colour():
    image = torch.full((3, 2, 2), 0.5)

    def predict(batch):  # class 0 wins while channel 0 stays at 0.5 everywhere
        s = -(batch[:, 0] - 0.5).abs().flatten(1).sum(1) * 100
        return torch.stack([s, torch.full_like(s, -20.0)], 1)

    grey = torch.full((3, 1, 1), 0.5)
    on_grey, _ = deletion_insertion_auc(predict, image, torch.rand(1, 2, 2), 0, steps=4, baseline=grey, blur_sigma=0.1)
    on_black, _ = deletion_insertion_auc(predict, image, torch.rand(1, 2, 2), 0, steps=4, blur_sigma=0.1)
    assert on_grey == pytest.approx(1.0, abs=1e-3)
    assert on_black < 0.3


def test_robustness_counts_backgrounds_that_keep_the_label():
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(12345))
    mask = torch.zeros(1, 8, 8)
    mask[:, 2:5, 2:5] = 1

    def inside_only(batch):  # decides on the masked pixels only -> every background keeps the label
        s = (batch[:, :, 2:5, 2:5] - image[:, 2:5, 2:5]).abs().flatten(1).sum(1)
        return torch.stack([1 - s, s], 1)

    def outside_too(batch):  # needs the exact pixels outside the mask -> no random background keeps it
        s = (batch - image).abs().flatten(1).sum(1)
        return torch.stack([1 - 100 * s, torch.zeros_like(s)], 1)

    kinds = ("noise", "flat", "blur", "shuffle")
    assert robustness_rate(inside_only, image, mask, 0, samples=8, kinds=kinds, seed=0, blur_sigma=1.0) == 1.0
    assert robustness_rate(outside_too, image, mask, 0, samples=8, kinds=kinds, seed=0, blur_sigma=1.0) == 0.0


# ---------------------------------------------------------------- connected regions and top masks

def test_connected_regions_are_four_connected_largest_first():
    m = torch.tensor([
        [1, 1, 0, 0, 0],
        [1, 1, 0, 0, 1],
        [0, 0, 1, 0, 1],  # (2,2) touches the first blob only diagonally: its own region
        [0, 0, 0, 0, 1],
        [1, 0, 0, 0, 0],
    ], dtype=torch.float32)[None]
    regions = connected_regions(m)
    assert [int(r.sum()) for r in regions] == [4, 3, 1, 1]
    assert torch.equal(sum(regions), m)  # a partition of the mask
    for a, b in itertools.combinations(regions, 2):
        assert float((a * b).sum()) == 0
    assert regions[0][0, :2, :2].sum() == 4
    assert regions[1][0, 1:4, 4].sum() == 3
    assert [int(r.sum()) for r in connected_regions(m, min_pixels=2)] == [4, 3]
    assert connected_regions(torch.zeros(1, 3, 3)) == []


def test_top_mask_keeps_the_highest_ranked_fraction():
    rank = torch.arange(16.0).view(1, 4, 4)
    m = top_mask(rank, 0.25)
    assert m.shape == rank.shape
    assert int(m.sum()) == 4
    assert m[0, 3].tolist() == [1, 1, 1, 1]  # values 12..15
    assert int(top_mask(rank, 0.0).sum()) == 1  # never empty
    assert int(top_mask(rank, 1.0).sum()) == 16
    assert int(top_mask(rank, 0.1).sum()) == 2  # round(1.6)
