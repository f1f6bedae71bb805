"""Pictures for one explanation: PNG bytes of the input, mask and explanation, and the paper's Fig. 1 top row."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def to_pil(pixels: torch.Tensor) -> Image.Image:
    """[3,H,W] or [1,H,W] in [0,1] -> 8-bit PIL image (exact: round to nearest)."""
    a = (pixels.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    if a.shape[0] == 1:
        return Image.fromarray(a[0], mode="L")
    return Image.fromarray(np.transpose(a, (1, 2, 0)), mode="RGB")


def png_bytes(pixels: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    to_pil(pixels).save(buf, format="PNG")
    return buf.getvalue()


def write_explanation_figure(path: Path, original: torch.Tensor, mask: torch.Tensor, explanation: torch.Tensor,
                             *, title_original: str, title_mask: str, title_explanation: str, dpi: int = 110) -> Path:
    """Original | 0/1 mask | explanation, with the numbers in the titles (paper Fig. 1, top row)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.5, 3.9))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    for ax, img, title in zip(
        axes, (original, mask, explanation), (title_original, title_mask, title_explanation), strict=True
    ):
        ax.imshow(to_pil(img), cmap="gray" if img.shape[0] == 1 else None, vmin=0, vmax=255)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def jpeg_bytes(pixels: torch.Tensor, quality: int = 88) -> bytes:
    """Compact bytes for photos stored with their circuits (a 224x224 JPEG is ~15 kB, a PNG ~100 kB)."""
    buf = io.BytesIO()
    to_pil(pixels).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
