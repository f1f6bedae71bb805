"""Random backgrounds r for m*x + (1-m)*r (noise, flat colour, blur, shuffle): the explainer's robustness
term and mask check, and the robustness and deletion/insertion metrics, all draw them from here."""

from __future__ import annotations

import torch
import torchvision.transforms.functional as TF


def blurred(pixels: torch.Tensor, sigma: float) -> torch.Tensor:
    k = 2 * int(3 * sigma) + 1
    return TF.gaussian_blur(pixels, [k, k], [sigma, sigma])


def background(kind: str, image: torch.Tensor, gen: torch.Generator, *, blur_sigma: float = 10.0) -> torch.Tensor:
    """One background for one image [3, H, W]; randomness only from `gen` (deterministic per seed)."""
    c, h, w = image.shape
    if kind == "noise":
        return torch.rand((c, h, w), generator=gen).to(image)
    if kind == "flat":
        return torch.rand((c, 1, 1), generator=gen).to(image).expand(c, h, w).clone()
    if kind == "blur":
        return blurred(image, blur_sigma)
    if kind == "shuffle":
        p = 16 if h % 16 == 0 and w % 16 == 0 else 1
        tiles = image.reshape(c, h // p, p, w // p, p).permute(1, 3, 0, 2, 4).reshape(-1, c, p, p)
        tiles = tiles[torch.randperm(tiles.shape[0], generator=gen)]
        return tiles.reshape(h // p, w // p, c, p, p).permute(2, 0, 3, 1, 4).reshape(c, h, w)
    raise ValueError(f"unknown background kind {kind!r}")


def background_batch(
    kinds: list[str], images: torch.Tensor, gens: list[torch.Generator], *, blur_sigma: float = 10.0
) -> torch.Tensor:
    return torch.stack(
        [background(k, img, g, blur_sigma=blur_sigma) for k, img, g in zip(kinds, images, gens, strict=True)]
    )
