"""Torch-free circuit data: what readout produces and what the graph store and explorer consume.

A circuit is a layered channel graph: nodes are (layer, channel) pairs kept at each tapped layer,
FLOW edges join channels of successive tapped layers, LOGIT links join final-layer channels to classes.
Channel identity (`cid`) is a plain string so class-level questions are a group-by on it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("original", "explanation")
STATUSES = ("kept", "not kept", "not recognised")  # an image's status for its given class


def make_cid(layer: str, channel: int) -> str:
    """Channel id inside one model: stable, readable, and unique per (layer, channel)."""
    return f"{layer}#{int(channel)}"


def split_cid(cid: str) -> tuple[str, int]:
    layer, _, channel = cid.rpartition("#")
    return layer, int(channel)


def config_hash(config: Any) -> str:
    """Short deterministic hash of a config (a dataclass or a mapping), for circuit ids."""
    data = asdict(config) if hasattr(config, "__dataclass_fields__") else dict(config)
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Node:
    layer: str
    channel: int
    activation: float
    rank: int  # 0 = most energetic channel of its layer
    # where the channel peaks on this image (the channel atlas): the spatial maximum's value and position on
    # the layer's grid (grid_h x grid_w), and the peak relative to the channel's spatial mean |a| on this
    # image; grid_h = 0 when not recorded (circuits read before the atlas existed)
    peak: float = 0.0
    peak_ratio: float = 0.0
    peak_row: int = -1
    peak_col: int = -1
    grid_h: int = 0
    grid_w: int = 0

    @property
    def cid(self) -> str:
        return make_cid(self.layer, self.channel)


@dataclass(frozen=True)
class Edge:
    src: str  # cid in the earlier layer
    dst: str  # cid in the next tapped layer
    weight: float


@dataclass(frozen=True)
class LogitLink:
    src: str  # cid of a final-feature channel
    class_index: int
    class_name: str
    weight: float


@dataclass
class Circuit:
    image_id: str
    kind: str  # "original" | "explanation"
    model: str
    config_hash: str
    layers: tuple[str, ...]
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    logit_links: list[LogitLink] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    # cid -> small JPEG of the input patch around the channel's peak (amx_core.atlas.cut_patches, at ingest);
    # stored on the Act nodes, never in the JSON/GraphML exports
    patches: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"circuit kind must be one of {KINDS}, got {self.kind!r}")
        self.layers = tuple(self.layers)

    def _repr_png_(self) -> bytes:
        """Jupyter shows a circuit as the paper's Fig. 1 bottom row (drawn by amx_core.figures, imported here
        only: this module stays torch-free)."""
        import tempfile
        from pathlib import Path

        from .figures import write_circuit_figure

        with tempfile.TemporaryDirectory() as folder:
            return write_circuit_figure(self, None, Path(folder) / "circuit.png").read_bytes()

    @property
    def id(self) -> str:
        return f"{self.image_id}|{self.model}|{self.config_hash}|{self.kind}"

    def act_id(self, cid: str) -> str:
        return f"{self.id}|{cid}"

    def to_networkx(self):
        """A DiGraph: channel nodes keyed by cid, class nodes keyed by `class:<index>`."""
        import networkx as nx

        g = nx.DiGraph(image_id=self.image_id, kind=self.kind, model=self.model, config_hash=self.config_hash)
        for n in self.nodes:
            g.add_node(n.cid, layer=n.layer, channel=n.channel, activation=n.activation, rank=n.rank,
                       node_type="channel")
        for e in self.edges:
            g.add_edge(e.src, e.dst, weight=e.weight, rel="FLOW")
        for link in self.logit_links:
            cls = f"class:{link.class_index}"
            g.add_node(cls, class_index=link.class_index, class_name=link.class_name, node_type="class")
            g.add_edge(link.src, cls, weight=link.weight, rel="LOGIT")
        return g

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "kind": self.kind,
            "model": self.model,
            "config_hash": self.config_hash,
            "layers": list(self.layers),
            "nodes": [asdict(n) for n in self.nodes],
            "edges": [asdict(e) for e in self.edges],
            "logit_links": [asdict(x) for x in self.logit_links],
            "metrics": self.metrics,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Circuit:
        return cls(
            image_id=d["image_id"],
            kind=d["kind"],
            model=d["model"],
            config_hash=d["config_hash"],
            layers=tuple(d["layers"]),
            nodes=[Node(**n) for n in d["nodes"]],
            edges=[Edge(**e) for e in d["edges"]],
            logit_links=[LogitLink(**x) for x in d["logit_links"]],
            metrics=dict(d.get("metrics", {})),
        )

    @classmethod
    def from_json(cls, text: str) -> Circuit:
        return cls.from_dict(json.loads(text))

    def write_graphml(self, path) -> None:
        import networkx as nx

        nx.write_graphml(self.to_networkx(), path)


@dataclass
class ImageRecord:
    """One ingested image: identity, labels, confidences and small pictures for the explorer.

    `id` is the sha256 of the file's bytes. Pictures are PNG/JPEG bytes so the explorer can show
    them from either backend, on any machine.
    """

    id: str
    path: str
    class_name: str  # the label the user gave the folder
    class_index: int
    predicted: str
    predicted_index: int
    confidence: float  # top-1 confidence on the original
    metrics: dict[str, Any] = field(default_factory=dict)
    original_jpeg: bytes = b""
    mask_png: bytes = b""
    explanation_jpeg: bytes = b""
    # the given class as the model sees it (amx_core.explain.explanation): its rank (1 = top-1) and
    # probability on the original x and on the explanation e, the criterion "kept" was judged by
    # ("top1", or "rank_and_probability" for a class ranked lower on x) and the image's status
    target_rank: int = 1
    target_rank_e: int = 1
    target_confidence: float | None = None
    target_confidence_e: float | None = None
    criterion: str = "top1"
    status: str = "kept"  # "kept" | "not kept" | "not recognised"

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"image {self.id}: status must be one of {STATUSES}, got {self.status!r}")

    @property
    def agrees(self) -> bool:
        return self.class_index == self.predicted_index

    @property
    def recognised(self) -> bool:
        """False when the model does not recognise the given class on this image (ranked too low): its
        circuits are kept out of the class's shared and distinctive questions unless asked for."""
        return self.status != "not recognised"


def edge_jaccard(a: Circuit, b: Circuit) -> float:
    """|E_a ∩ E_b| / |E_a ∪ E_b| on (src, dst) pairs; 1.0 for two empty circuits."""
    ea, eb = {(e.src, e.dst) for e in a.edges}, {(e.src, e.dst) for e in b.edges}
    union = ea | eb
    return len(ea & eb) / len(union) if union else 1.0


def node_jaccard(a: Circuit, b: Circuit) -> float:
    na, nb = {n.cid for n in a.nodes}, {n.cid for n in b.nodes}
    union = na | nb
    return len(na & nb) / len(union) if union else 1.0


def peak_box(row: int, col: int, grid_h: int, grid_w: int, height: int, width: int, *, cells: float = 3.0,
             min_side: int = 24) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) in input pixels of the square around a channel's peak cell (row, col) on its
    layer's grid: max(`cells` cells, `min_side` px) wide, shifted inside the image; None without a grid.
    The channel atlas's stand-in for the receptive field (amx_core.atlas cuts patches with it; the explorer
    marks it on the image)."""
    if grid_h <= 0 or grid_w <= 0 or row < 0 or col < 0 or height <= 0 or width <= 0:
        return None
    cell_h, cell_w = height / grid_h, width / grid_w
    cy, cx = (row + 0.5) * cell_h, (col + 0.5) * cell_w
    side = int(round(max(cells * max(cell_h, cell_w), min_side)))
    side = max(1, min(side, height, width))
    top, left = int(round(cy - side / 2)), int(round(cx - side / 2))
    top, left = min(max(top, 0), height - side), min(max(left, 0), width - side)
    return top, left, top + side, left + side


_PEAK_FIELDS = ("peak", "peak_ratio", "peak_row", "peak_col", "grid_h", "grid_w")


def circuit_from_rows(image_id: str, kind: str, summary: dict[str, Any] | None, nodes: list[dict[str, Any]],
                      edges: list[dict[str, Any]], logits: list[dict[str, Any]]) -> Circuit | None:
    """Rebuild a Circuit from the store's image_summary, image_nodes, image_circuit and image_logits rows.

    None when there is neither a summary nor a node. Without a summary's `layers`, the layers named by the
    nodes are taken in natural order ('b.2' before 'b.10')."""
    import re

    if summary is None and not nodes:
        return None
    summary = summary or {}
    metrics = summary.get("metrics")
    if isinstance(metrics, str):
        try:
            metrics = json.loads(metrics)
        except ValueError:
            metrics = {}
    layers = summary.get("layers") or sorted(
        {split_cid(r["cid"])[0] for r in nodes},
        key=lambda name: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)])
    return Circuit(
        image_id=image_id, kind=kind, model=summary.get("model") or "", config_hash=summary.get("config") or "",
        layers=tuple(layers),
        nodes=[Node(r["layer"], int(r["channel"]), float(r["activation"]), int(r["rank"]),
                    **{k: r[k] for k in _PEAK_FIELDS if r.get(k) is not None}) for r in nodes],
        edges=[Edge(r["src"], r["dst"], float(r["weight"])) for r in edges],
        logit_links=[LogitLink(r["src"], int(r["class_index"]), r["class"], float(r["weight"])) for r in logits],
        metrics=dict(metrics or {}),
    )
