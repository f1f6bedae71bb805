"""A small seeded CNN wrapped as a `Classifier` with 1000 ImageNet outputs: fast stand-in for the real
model in CLI and ingest tests (64x64 inputs, five tapped ReLUs, a Linear head); and the hand-weighted
red-patch classifier whose decision depends on a known patch (explainer and amortised-masker tests)."""

from __future__ import annotations

import torch
from torch import nn

from amx_core.models import Classifier, ModelSpec

TINY_SPEC = ModelSpec(
    name="tiny_cnn",
    taps=("relu1", "relu2", "relu3", "relu4", "relu5"),
    head="fc",
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    resize=64,
    crop=64,
    family="test",
)


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.relu1 = nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()
        self.conv2, self.relu2 = nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU()
        self.conv3, self.relu3 = nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.ReLU()
        self.conv4, self.relu4 = nn.Conv2d(12, 12, 3, stride=2, padding=1), nn.ReLU()
        self.conv5, self.relu5 = nn.Conv2d(12, 16, 3, padding=1), nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 1000)

    def forward(self, x):
        x = self.relu1(self.conv1(x))
        x = self.relu2(self.conv2(x))
        x = self.relu3(self.conv3(x))
        x = self.relu4(self.conv4(x))
        x = self.relu5(self.conv5(x))
        return self.fc(self.pool(x).flatten(1))


def tiny_classifier(seed: int = 0) -> Classifier:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = TinyNet()
    return Classifier(TINY_SPEC, net)


RED_SIZE = 32  # the red-patch classifier's input side


class RedPatchNet(nn.Module):
    """Class 0 ("red thing") wins only when most of the red patch is visible; class 1 is a fixed bias.

    Input is normalised with mean = std = 0.5, so the grey baseline is 0 and a pure red pixel gives
    red - green = 2. Grey texture (equal channels) gives no evidence; the full patch gives a logit of 10
    against 8.5, so about 85% of the patch must be kept. Five tapped stages for activation matching.
    """

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 2, 1, bias=False)
        with torch.no_grad():
            self.c1.weight.zero_()
            self.c1.weight[0, 0], self.c1.weight[0, 1] = 1.0, -1.0  # red - green
            self.c1.weight[1, 1], self.c1.weight[1, 0] = 1.0, -1.0  # green - red
        self.a = nn.ReLU()
        self.b = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.c = nn.ReLU()
        self.d = nn.AvgPool2d(2)
        self.e = nn.ReLU()
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[80.0 * 4, 0.0], [0.0, 0.0]]))  # x4: the 2x2 pool averages
            self.fc.bias.copy_(torch.tensor([0.0, 8.5]))

    def forward(self, x):
        x = self.e(self.d(self.c(self.b(self.a(self.c1(x))))))
        return self.fc(x.sum((2, 3)) / (RED_SIZE * RED_SIZE))


def red_patch_classifier(name: str = "redpatch") -> Classifier:
    """RedPatchNet as a Classifier on RED_SIZE x RED_SIZE inputs (mean = std = 0.5, five taps)."""
    spec = ModelSpec(name, taps=("a", "b", "c", "d", "e"), head="fc", mean=(0.5,) * 3, std=(0.5,) * 3,
                     resize=RED_SIZE, crop=RED_SIZE)
    return Classifier(spec, RedPatchNet())
