"""The benchmarks' photos: found, ordered and preprocessed one way for every benchmark, so that two
benchmarks given the same folder measure the same images (scripts/fetch_samples.py fetches them)."""

from __future__ import annotations

from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
MISSING = f"NO SAMPLE PHOTOS under {SAMPLES}: run scripts/fetch_samples.py"


def sample_paths(folder: str | Path = SAMPLES, limit: int = 0) -> list[Path]:
    """The image files under `folder` (recursively), sorted by path; the first `limit` when > 0."""
    from amx_core.images import discover_images

    paths = discover_images([folder], recursive=True) if Path(folder).is_dir() else []
    return paths[:limit] if limit > 0 else paths


def load_photos(clf, paths: list[Path]) -> torch.Tensor:
    """[N,3,H,W] pixels in [0,1], each photo decoded by the project's loader and preprocessed by `clf`."""
    from amx_core.images import load_image

    return torch.stack([clf.preprocess(load_image(p)) for p in paths])


def photos_or_noise(clf, n: int, folder: str | Path = SAMPLES) -> tuple[torch.Tensor, str]:
    """`n` images for a speed benchmark: the sample photos (repeated to `n`), else seeded random pixels,
    with a line saying which."""
    paths = sample_paths(folder)
    if not paths:
        g = torch.Generator().manual_seed(0)
        return torch.rand(n, 3, clf.spec.crop, clf.spec.crop, generator=g), f"{n} random images ({MISSING})"
    paths = (paths * n)[:n]
    return load_photos(clf, paths), f"{len(set(paths))} photos from {folder}"
