"""A small seeded CNN wrapped as a `Classifier` with 1000 ImageNet outputs: fast stand-in for the real
model in CLI and ingest tests (64x64 inputs, five tapped ReLUs, a Linear head)."""

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
