"""Seeded synthetic circuits for the store's contract tests and bench/store_speed.py.

Each class prefers its own channels in every layer, so class-level questions (shared edges, frequent
pathways, class comparison) have non-trivial answers; edges between kept channels of successive layers
are kept with probability `edge_p`, so edge frequencies differ from channel frequencies.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace

from amx_core.circuit import Circuit, Edge, ImageRecord, LogitLink, Node, make_cid

MODEL = "synthetic_cnn"
CONFIG = "cfg000000001"


@dataclass(frozen=True)
class Shape:
    layers: int = 4
    pool: int = 10  # channels per layer to draw from
    keep_original: int = 6  # channels kept per layer, original circuit
    keep_explanation: int = 4  # channels kept per layer, explanation circuit
    edge_p: float = 0.7
    logits: int = 3  # logit links from the last layer
    atlas: bool = True  # peaks (every 7th node none) and fake patches on the nodes that have one


def image_id(tag: str) -> str:
    return hashlib.sha256(tag.encode()).hexdigest()


@functools.cache
def fake_patch(k: int) -> bytes:
    """A real 64x64 JPEG (one of 16 flat colours), standing in for an atlas patch (about its size, decodable)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), ((37 * k) % 256, (91 * k) % 256, (53 * k + 80) % 256)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _circuit(rng: random.Random, img: str, kind: str, cls_index: int, class_names: list[str],
             shape: Shape, keep: int, prefs: list[list[int]]) -> Circuit:
    layers = tuple(f"blocks.{i}" for i in range(shape.layers))
    kept: list[list[int]] = []
    for li in range(shape.layers):
        preferred = prefs[li]
        others = [c for c in range(shape.pool) if c not in preferred]
        n_pref = min(len(preferred), max(1, int(keep * 0.7)))
        chosen = rng.sample(preferred, n_pref) + rng.sample(others, min(len(others), keep - n_pref))
        kept.append(sorted(chosen))
    nodes = []
    for li, chans in enumerate(kept):
        acts = sorted(((rng.uniform(0.1, 5.0), c) for c in chans), reverse=True)
        nodes += [Node(layers[li], c, round(a, 6), rank) for rank, (a, c) in enumerate(acts)]
    patches = {}
    if shape.atlas:  # from an rng of their own, so the rest of the data is the same with or without them
        prng = random.Random(f"{img}/{kind}")
        peaked = []
        for i, n in enumerate(nodes):
            if i % 7 == 3:
                peaked.append(n)
                continue
            grid = 16 >> min(3, int(n.layer.rsplit(".", 1)[1]))
            peaked.append(replace(n, peak=round(n.activation * prng.uniform(1.0, 4.0), 6),
                                  peak_ratio=round(prng.uniform(1.0, 4.0), 6), peak_row=prng.randrange(grid),
                                  peak_col=prng.randrange(grid), grid_h=grid, grid_w=grid))
            patches[n.cid] = fake_patch(int(hashlib.sha256(f"{img}/{kind}/{n.cid}".encode()).hexdigest()[:4], 16) % 16)
        nodes = peaked
    edges = [Edge(make_cid(layers[li], a), make_cid(layers[li + 1], b), round(rng.uniform(-1.0, 2.0), 6))
             for li in range(shape.layers - 1) for a in kept[li] for b in kept[li + 1] if rng.random() < shape.edge_p]
    last = [make_cid(layers[-1], c) for c in kept[-1]]
    targets = sorted({cls_index, rng.randrange(len(class_names))})
    links = [LogitLink(src, t, class_names[t], round(rng.uniform(0.0, 1.0), 6))
             for src in last[:shape.logits] for t in targets]
    return Circuit(image_id=img, kind=kind, model=MODEL, config_hash=CONFIG, layers=layers, nodes=nodes,
                   edges=edges, logit_links=links, metrics={"mask_area": round(rng.uniform(0.05, 0.4), 4),
                                                            "confidence": round(rng.uniform(0.2, 1.0), 4)},
                   patches=patches)


def make_dataset(class_names: list[str], images_per_class: int, *, shape: Shape = Shape(), seed: int = 0,
                 path_prefix: str = "/photos") -> list[tuple[ImageRecord, list[Circuit]]]:
    """`images_per_class` images for each class, each with an original and an explanation circuit."""
    return list(iter_dataset(class_names, images_per_class, shape=shape, seed=seed, path_prefix=path_prefix))


def iter_dataset(class_names: list[str], images_per_class: int, *, shape: Shape = Shape(), seed: int = 0,
                 path_prefix: str = "/photos") -> Iterator[tuple[ImageRecord, list[Circuit]]]:
    """The same images as `make_dataset`, one at a time (a million edges need not sit in memory)."""
    rng = random.Random(seed)
    for ci, cls in enumerate(class_names):
        prefs = [rng.sample(range(shape.pool), max(2, shape.pool // 3)) for _ in range(shape.layers)]
        for k in range(images_per_class):
            img = image_id(f"{seed}/{cls}/{k}")
            predicted = ci if rng.random() < 0.8 else (ci + 1) % len(class_names)
            record = ImageRecord(
                id=img, path=f"{path_prefix}/{cls}/{k:04d}.jpg", class_name=cls, class_index=ci,
                predicted=class_names[predicted], predicted_index=predicted,
                confidence=round(rng.uniform(0.3, 1.0), 4), metrics={"kept_label": True},
                original_jpeg=b"\x89PNG\r\n\x1a\n" + img.encode(), mask_png=b"\x89PNG mask " + bytes([0, 255]),
                explanation_jpeg=b"",
                # every 5th image of a class: the model does not recognise the class (ranked below 5th)
                **({"target_rank": 9, "target_rank_e": 7, "target_confidence": 0.004, "target_confidence_e": 0.006,
                    "criterion": "rank_and_probability", "status": "not recognised"} if k % 5 == 4 else
                   {"target_rank": 1 + (k % 3 == 2), "target_rank_e": 1, "target_confidence": 0.6,
                    "target_confidence_e": 0.7, "criterion": "top1" if k % 3 != 2 else "rank_and_probability",
                    "status": "kept" if k % 7 != 6 else "not kept"}),
            )
            circuits = [_circuit(rng, img, "original", ci, class_names, shape, shape.keep_original, prefs),
                        _circuit(rng, img, "explanation", ci, class_names, shape, shape.keep_explanation, prefs)]
            yield record, circuits
