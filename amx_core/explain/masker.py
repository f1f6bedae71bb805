"""A small U-Net mask generator, one independent copy per image, run as grouped convolutions.

Every image in a batch gets its own generator weights (the paper trains one per image); grouping
runs all of them in one convolution call. All copies start from the same seeded initialisation, so
an image's mask does not depend on which other images share its batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskUNet(nn.Module):
    """Encoder 112→56→28→14, decoder back to 56 with skips; returns mask logits [B, 1, R, R]."""

    def __init__(self, copies: int, width: int = 16, resolution: int = 56, free_grid: bool = False):
        super().__init__()
        self.copies = copies
        self.resolution = resolution
        # an optional free logit per output cell and image, added to the decoder's output: direct spatial
        # control (an Extremal-Perturbation-style mask parameter) next to the image-driven U-Net
        self.grid = nn.Parameter(torch.zeros(copies, 1, resolution, resolution)) if free_grid else None
        w = width

        def conv(cin, cout, k=3, stride=1):
            return nn.Conv2d(cin * copies, cout * copies, k, stride=stride, padding=k // 2, groups=copies)

        self.e1 = conv(3, w)
        self.e2 = conv(w, 2 * w, stride=2)
        self.e3 = conv(2 * w, 2 * w, stride=2)
        self.e4 = conv(2 * w, 4 * w, stride=2)
        self.d3 = conv(4 * w + 2 * w, 2 * w)
        self.d2 = conv(2 * w + 2 * w, w)
        self.out = conv(w, 1, k=1)

    @classmethod
    def seeded(cls, copies: int, *, width: int, resolution: int, seed: int, free_grid: bool = False,
               zero_out: bool = False) -> MaskUNet:
        """`copies` generators that all start from the weights a single seeded one would have. With
        `zero_out` the output layer starts at zero, so the first scores are the free grid's (the prior)
        whatever the seed; the hidden layers still start from the seeded draw."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            single = cls(1, width, resolution, free_grid)
        net = cls(copies, width, resolution, free_grid)
        with torch.no_grad():
            for (_, p_many), (_, p_one) in zip(net.named_parameters(), single.named_parameters(), strict=True):
                p_many.copy_(p_one.repeat((copies,) + (1,) * (p_one.dim() - 1)))
            net.out.bias.zero_()  # start every mask at 0.5
            if zero_out:
                net.out.weight.zero_()
        return net

    def _g(self, layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = layer(x.reshape(1, b * c, h, w))
        return y.reshape(b, -1, y.shape[-2], y.shape[-1])

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(pixels, 2) - 0.5
        e1 = F.relu(self._g(self.e1, x))
        e2 = F.relu(self._g(self.e2, e1))
        e3 = F.relu(self._g(self.e3, e2))
        e4 = F.relu(self._g(self.e4, e3))
        d3 = F.relu(self._g(self.d3, torch.cat([_up(e4, e3), e3], 1)))
        d2 = F.relu(self._g(self.d2, torch.cat([_up(d3, e2), e2], 1)))
        logits = self._g(self.out, d2)
        if logits.shape[-1] != self.resolution:
            logits = F.adaptive_avg_pool2d(logits, self.resolution)
        if self.grid is not None:
            logits = logits + self.grid
        return logits


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)
