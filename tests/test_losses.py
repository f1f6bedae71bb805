"""Each loss term of the paper on small hand-made tensors, against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from amx_core.explain import objective


def t(rows) -> torch.Tensor:
    """A [1,1,H,W] mask from nested lists."""
    return torch.tensor(rows, dtype=torch.float32)[None, None]


# ---------------------------------------------------------------- activation matching

def test_relative_mse_is_mean_square_difference_over_reference_power():
    ref = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    act = torch.tensor([[1.0, 0.0, 3.0, 2.0]])
    # differences 0, -2, 0, -2 -> mean square 2; reference mean square (1+4+9+16)/4 = 7.5
    assert objective.activation_distance(ref, act, "mse").item() == pytest.approx(2 / 7.5)


def test_relative_mse_is_invariant_to_the_scale_of_a_layer():
    ref = torch.tensor([[1.0, -2.0, 0.5, 4.0]])
    act = torch.tensor([[0.0, -1.0, 0.5, 3.0]])
    small = objective.activation_distance(ref, act, "mse")
    big = objective.activation_distance(1000 * ref, 1000 * act, "mse")
    assert big.item() == pytest.approx(small.item(), rel=1e-5)


def test_activation_distance_is_per_image_and_zero_on_a_match():
    ref = torch.arange(16.0).view(2, 2, 2, 2)
    act = ref.clone()
    act[1] = 0  # second image: everything lost -> relative MSE exactly 1
    d = objective.activation_distance(ref, act, "mse")
    assert d.shape == (2,)
    assert d[0].item() == 0.0
    assert d[1].item() == pytest.approx(1.0)


def test_cosine_distance_by_hand():
    ref = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    act = torch.tensor([[0.0, 3.0], [2.0, 2.0]])
    # orthogonal -> 1; parallel -> 0
    assert objective.activation_distance(ref, act, "cosine").tolist() == pytest.approx([1.0, 0.0], abs=1e-6)


def test_unknown_distance_is_refused():
    with pytest.raises(ValueError, match="unknown activation distance"):
        objective.activation_distance(torch.ones(1, 2), torch.ones(1, 2), "l7")


# ---------------------------------------------------------------- output fidelity

def test_kl_by_hand_on_two_classes():
    # p = softmax(0, 0) = (1/2, 1/2); q = softmax(ln 3, 0) = (3/4, 1/4)
    lx = torch.tensor([[0.0, 0.0]])
    le = torch.tensor([[math.log(3.0), 0.0]])
    expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert objective.kl_outputs(lx, le).item() == pytest.approx(expected, rel=1e-6)
    assert objective.kl_outputs(lx, lx).item() == pytest.approx(0.0, abs=1e-7)


def test_kl_direction_is_p_of_x_against_q_of_e():
    lx = torch.tensor([[math.log(3.0), 0.0]])
    le = torch.tensor([[0.0, 0.0]])
    # KL((3/4,1/4) || (1/2,1/2)) = 3/4 ln(3/2) + 1/4 ln(1/2)
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert objective.kl_outputs(lx, le).item() == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_by_hand_per_image():
    logits = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
    target = torch.tensor([0, 1])
    assert objective.cross_entropy(logits, target).tolist() == pytest.approx([-math.log(0.75), math.log(2.0)])


# ---------------------------------------------------------------- mask priors

def test_area_is_the_fraction_of_kept_pixels():
    m = t([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0.5]])
    assert objective.area(m).item() == pytest.approx(3.5 / 16)


def test_binarization_is_zero_on_binary_and_a_quarter_at_one_half():
    assert objective.binarization(t([[0, 1], [1, 0]])).item() == 0.0
    assert objective.binarization(t([[0.5, 0.5], [0.5, 0.5]])).item() == pytest.approx(0.25)
    # 0.2 -> 0.16, 0.9 -> 0.09, 0 and 1 -> 0; mean over four
    assert objective.binarization(t([[0.2, 0.9], [0, 1]])).item() == pytest.approx((0.16 + 0.09) / 4)


def test_total_variation_by_hand():
    # a 4x4 mask with one vertical edge between columns 1 and 2
    m = t([[1, 1, 0, 0]] * 4)
    # vertical neighbours never differ (0 over 12 pairs); horizontal: 4 of 12 pairs differ by 1
    assert objective.total_variation(m).item() == pytest.approx(4 / 12)
    # a checkerboard: every one of the 24 neighbour pairs differs
    checker = t([[(r + c) % 2 for c in range(4)] for r in range(4)])
    assert objective.total_variation(checker).item() == pytest.approx(2.0)
    assert objective.total_variation(torch.ones(1, 1, 4, 4)).item() == 0.0


def test_total_variation_prefers_one_blob_to_scattered_pixels_of_the_same_area():
    blob = t([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    scattered = t([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    assert objective.area(blob).item() == objective.area(scattered).item()
    assert objective.total_variation(blob) < objective.total_variation(scattered)


def test_area_hinge_is_zero_below_target_and_squared_above():
    m = t([[1, 1], [0, 0]])  # area 0.5
    assert objective.area_hinge(m, 0.6).item() == 0.0
    assert objective.area_hinge(m, 0.3).item() == pytest.approx(0.2**2)


def test_losses_have_gradients_for_the_mask():
    m = torch.full((1, 1, 4, 4), 0.3, requires_grad=True)
    total = objective.area(m) + objective.binarization(m) + objective.total_variation(m)
    total.sum().backward()
    # d/dm of mean(m) + mean(m - m^2) at 0.3 = (1 + (1 - 0.6)) / 16; TV is flat here
    assert m.grad is not None
    assert m.grad.flatten().tolist() == pytest.approx([1.4 / 16] * 16)
