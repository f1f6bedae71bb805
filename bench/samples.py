"""The benchmarks' photos: found, ordered and preprocessed one way for every benchmark, so that two
benchmarks given the same folder measure the same images (scripts/fetch_samples.py fetches them).

Every fetched photo belongs to a fixed split, recorded in data/samples/manifest.json: "tuning" (the 20
photos the presets were tuned on) or "validation" (all others; measure claims on these).  A photo the
manifest does not list is "unlisted"."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
MISSING = f"NO SAMPLE PHOTOS under {SAMPLES}: run scripts/fetch_samples.py"
SPLITS = ("tuning", "validation", "unlisted")

_manifests: dict[str, tuple[int, dict[str, str]]] = {}  # manifest path -> (mtime_ns, file -> split)


def _splits(manifest: Path) -> dict[str, str] | None:
    """folder/name -> split for a manifest written by scripts/fetch_samples.py; None for any other file."""
    try:
        stamp = manifest.stat().st_mtime_ns
        if str(manifest) not in _manifests or _manifests[str(manifest)][0] != stamp:
            data = json.loads(manifest.read_text())
            if not isinstance(data, dict) or data.get("generated_by") != "scripts/fetch_samples.py":
                return None
            # a manifest from before the split existed listed only the 20 tuning photos
            table = {f["file"]: f.get("split", "tuning") for f in data.get("files", []) if "file" in f}
            _manifests[str(manifest)] = (stamp, table)
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    return _manifests[str(manifest)][1]


def split_of(path: str | Path) -> str:
    """'tuning' or 'validation' as the nearest fetch_samples manifest above `path` records it;
    'unlisted' for a photo no such manifest lists."""
    path = Path(os.path.abspath(path))
    for folder in path.parents:
        table = _splits(folder / "manifest.json")
        if table is not None:
            return table.get(path.relative_to(folder).as_posix(), "unlisted")
    return "unlisted"


def sample_paths(folder: str | Path = SAMPLES, limit: int = 0, split: str | None = None) -> list[Path]:
    """The image files under `folder` (recursively), sorted by path; only those of `split` ("tuning",
    "validation" or "unlisted"; None: all); the first `limit` when > 0."""
    from amx_core.images import discover_images

    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    paths = discover_images([folder], recursive=True) if Path(folder).is_dir() else []
    if split is not None:
        paths = [p for p in paths if split_of(p) == split]
    return paths[:limit] if limit > 0 else paths


def add_split_argument(parser: argparse.ArgumentParser, default: str = "all") -> None:
    """--split {tuning,validation,unlisted,all} on a benchmark's command line; read it with split_arg."""
    parser.add_argument(
        "--split",
        choices=[*SPLITS, "all"],
        default=default,
        help=f"which sample photos: the presets' tuning set, the held-out validation set, or all (default {default})",
    )


def split_arg(value: str | None) -> str | None:
    """The `split` for sample_paths from a --split value: 'all' (or None) means no filter."""
    return None if value in (None, "all") else value


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
