"""Generated image files for CLI and ingest tests: good photos-like pictures and every bad-file case."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image


def good_images(folder: Path, n: int, size: int = 80) -> list[Path]:
    """`n` distinct RGB pictures (a bright square on a gradient, at different places)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        a = np.zeros((size, size, 3), np.uint8)
        a[..., 0] = np.linspace(0, 200, size, dtype=np.uint8)[None, :]
        a[..., 2] = 40 + 20 * i
        o = 8 + 9 * i
        a[o : o + 24, o : o + 24] = (250, 240, 30)
        path = folder / f"img{i:02d}.png"
        Image.fromarray(a).save(path)
        paths.append(path)
    return paths


def bad_images(folder: Path) -> dict[str, Path]:
    """Each bad case once, named by the reason the loader should give."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = {}
    (cases.setdefault("zero bytes", folder / "empty.jpg")).write_bytes(b"")
    (cases.setdefault("not an image", folder / "text.jpg")).write_text("hello, I am not a JPEG\n" * 20)
    full = folder / "_full.jpg"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(full, quality=90)
    data = full.read_bytes()
    full.unlink()
    (cases.setdefault("truncated", folder / "truncated.jpg")).write_bytes(data[: len(data) // 2])
    Image.new("RGB", (1, 1)).save(cases.setdefault("too small", folder / "tiny.png"))
    Image.new("1", (12000, 12000)).save(cases.setdefault("decompression bomb", folder / "bomb.png"))
    loop = cases.setdefault("symlink loop", folder / "loop.png")
    os.symlink(loop.name, loop)
    return cases
