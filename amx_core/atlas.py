"""The channel atlas: what each circuit channel responds to.

At readout every kept channel records where it peaks on the image (`Node.peak*`, `grid_h`/`grid_w`).
`cut_patches` turns that position into the input patch that drove the channel: the peak's cell on the
layer's grid (input side / grid side, the layer's stride), widened to `cells` cells and at least
`min_side` pixels (a cheap stand-in for the receptive field, which grows faster than the stride), clipped
to the image and shifted inside it, then resized to `size` x `size` and encoded as JPEG. Ingest stores the
patch on the channel's Act node, so a channel's top examples are one query (`channel_examples`) over the
store and are as consistent as the circuits themselves.

`amx-atlas` (`feature_visualisation`, `main`) renders a feature visualisation per channel: regularised
activation maximisation with jitter in a decorrelated Fourier parameterisation (as in Lucid/Lucent),
cached per model under out/atlas/.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import torch

from .circuit import Circuit, Node, peak_box

PATCH_SIZE = 64  # side of a stored patch, pixels
PATCH_CELLS = 3.0  # patch side in cells of the layer's grid
PATCH_MIN_SIDE = 24  # smallest patch side in input pixels (early layers have 1-2 pixel cells)
PATCH_QUALITY = 80


def patch_box(node: Node, height: int, width: int, *, cells: float = PATCH_CELLS,
              min_side: int = PATCH_MIN_SIDE) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) in input pixels of the patch around the node's peak; None when the node
    has no recorded peak. A square of max(cells x cell size, min_side), inside the image."""
    return peak_box(node.peak_row, node.peak_col, node.grid_h, node.grid_w, height, width, cells=cells,
                    min_side=min_side)


def _uint8(pixels: torch.Tensor):
    """[3, H, W] in [0, 1] -> H x W x 3 uint8 numpy array."""
    x = pixels.detach().float().cpu()
    if x.dim() == 4:
        x = x[0]
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def cut_patches(circuit: Circuit, pixels: torch.Tensor, *, size: int = PATCH_SIZE, cells: float = PATCH_CELLS,
                min_side: int = PATCH_MIN_SIDE, quality: int = PATCH_QUALITY,
                nodes: Iterable[Node] | None = None) -> dict[str, bytes]:
    """cid -> `size` x `size` JPEG of the input patch around each node's peak (`pixels` [3, H, W] in [0, 1]:
    what the circuit's forward pass saw). Nodes without a recorded peak get none."""
    from PIL import Image

    arr = _uint8(pixels)
    height, width = arr.shape[:2]
    out: dict[str, bytes] = {}
    for n in circuit.nodes if nodes is None else nodes:
        box = patch_box(n, height, width, cells=cells, min_side=min_side)
        if box is None:
            continue
        top, left, bottom, right = box
        img = Image.fromarray(arr[top:bottom, left:right])
        if img.size != (size, size):
            img = img.resize((size, size), Image.BILINEAR)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=quality)
        out[n.cid] = buf.getvalue()
    return out


def add_patches(circuit: Circuit, pixels: torch.Tensor, **kwargs) -> Circuit:
    """Cut the circuit's patches from `pixels` and keep them on it (for the store); returns the circuit."""
    circuit.patches = cut_patches(circuit, pixels, **kwargs)
    return circuit


__all__ = ["PATCH_SIZE", "add_patches", "cut_patches", "patch_box"]
