"""Pictures of explanations and circuits, in one place for the CLIs and ingest.

- Image bytes: `png_bytes` (exact, for masks), `jpeg_bytes` (compact, for photos stored with circuits).
- The explanation figure (the paper's Fig. 1, top row): original | 0/1 mask | explanation.
- The circuit figure (Fig. 1, bottom row): tapped layers as columns, channel nodes sized by activation,
  edges drawn with width and opacity by weight, logit links into a class column; the original image's
  circuit and the explanation's side by side.
Matplotlib figures use the Agg canvas directly (no pyplot): no screen and no global figure state.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .circuit import Circuit, split_cid


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


def jpeg_bytes(pixels: torch.Tensor, quality: int = 88) -> bytes:
    """Compact bytes for photos stored with their circuits (a 224x224 JPEG is ~15 kB, a PNG ~100 kB)."""
    buf = io.BytesIO()
    to_pil(pixels).save(buf, format="JPEG", quality=quality)
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


# ---------------------------------------------------------------- circuits


def _short(layer: str) -> str:
    return layer if len(layer) <= 16 else "…" + layer[-15:]


def draw_circuit(ax, circuit: Circuit, *, max_edges: int = 150, title: str | None = None) -> None:
    """Draw one circuit on a matplotlib Axes. Edge widths are scaled within each layer pair (weights of
    different pairs are not comparable); only the `max_edges` heaviest edges (by that scaled weight)."""
    from matplotlib.collections import LineCollection

    layers = list(circuit.layers)
    col = {layer: i for i, layer in enumerate(layers)}
    by_layer: dict[str, list] = {layer: [] for layer in layers}
    for n in circuit.nodes:
        by_layer.setdefault(n.layer, []).append(n)
    pos: dict[str, tuple[float, float]] = {}
    for layer, nodes in by_layer.items():
        nodes.sort(key=lambda n: n.rank)
        k = max(len(nodes), 1)
        for j, n in enumerate(nodes):
            pos[n.cid] = (col[layer], 1.0 - (j + 0.5) / k)
    classes = sorted({(link.class_index, link.class_name) for link in circuit.logit_links})
    for j, (ci, _name) in enumerate(classes):
        pos[f"class:{ci}"] = (len(layers), 1.0 - (j + 0.5) / max(len(classes), 1))

    # edges: scale within each layer pair, keep the heaviest overall
    pair_max: dict[str, float] = {}
    for e in circuit.edges:
        key = split_cid(e.src)[0]
        pair_max[key] = max(pair_max.get(key, 0.0), e.weight)
    link_max = max((link.weight for link in circuit.logit_links), default=0.0)
    scaled = [(e.weight / pair_max[split_cid(e.src)[0]] if pair_max[split_cid(e.src)[0]] > 0 else 0.0,
               e.src, e.dst) for e in circuit.edges]
    scaled += [(link.weight / link_max if link_max > 0 else 0.0, link.src, f"class:{link.class_index}")
               for link in circuit.logit_links]
    scaled.sort(key=lambda t: -t[0])
    shown = [t for t in scaled[:max_edges] if t[0] > 0 and t[1] in pos and t[2] in pos]
    if shown:
        segs = [(pos[s], pos[d]) for _, s, d in shown]
        widths = [0.3 + 2.7 * w for w, _, _ in shown]
        colors = [(0.12, 0.35, 0.7, 0.15 + 0.75 * w) for w, _, _ in shown]
        ax.add_collection(LineCollection(segs, linewidths=widths, colors=colors, zorder=1))

    # nodes: area by activation, scaled within each layer
    for nodes in by_layer.values():
        amax = max((n.activation for n in nodes), default=0.0)
        for n in nodes:
            x, y = pos[n.cid]
            size = 15 + 185 * (n.activation / amax if amax > 0 else 0.0)
            ax.scatter([x], [y], s=size, color=(0.9, 0.45, 0.1), edgecolors="black", linewidths=0.4, zorder=2)
            if len(nodes) <= 24:
                ax.annotate(str(n.channel), (x, y), xytext=(0, 7), textcoords="offset points", ha="center",
                            fontsize=5, color="0.3", zorder=3)
    for ci, name in classes:
        x, y = pos[f"class:{ci}"]
        ax.scatter([x], [y], s=160, marker="s", color=(0.2, 0.6, 0.3), edgecolors="black", zorder=2)
        ax.annotate(name, (x, y), xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)

    ax.set_xticks(range(len(layers) + (1 if classes else 0)))
    ax.set_xticklabels([_short(x) for x in layers] + (["class"] if classes else []), rotation=30,
                       ha="right", fontsize=7)
    ax.set_yticks([])
    ax.set_xlim(-0.5, len(layers) + (1.2 if classes else 0.5))
    ax.set_ylim(-0.05, 1.05)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if title is None:
        m = circuit.metrics
        conf = m.get("confidence")
        title = f"{circuit.kind}: {len(circuit.nodes)} nodes, {len(circuit.edges)} edges"
        if conf is not None:
            title += f", top-1 p={float(conf):.2f}"
    ax.set_title(title, fontsize=9)


def write_circuit_figure(original: Circuit, explanation: Circuit | None, path, *, max_edges: int = 150,
                         dpi: int = 120) -> Path:
    """Original and explanation circuits side by side (explanation may be None: one panel). Returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [c for c in (original, explanation) if c is not None]
    fig = Figure(figsize=(6.5 * len(panels), 4.8))  # no pyplot: no global backend or figure state
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, circ in zip(axes[0], panels, strict=True):
        draw_circuit(ax, circ, max_edges=max_edges)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
