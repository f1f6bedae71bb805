"""explorer/data.py on a seeded store: the class attribution graph keeps only distinctive channels and
the strongest edges between them, within its limits."""

from __future__ import annotations

from cypher import open_store
from explorer import data

from .conftest import CLASSES


def test_class_attribution_graph_is_distinctive_channels_and_their_strongest_edges(ladybug_seeded):
    with open_store(ladybug_seeded, read_only=True) as s:
        for cls in CLASSES:
            edges, sizes = data.class_attribution_graph(s.run, cls, "explanation", per_layer=2, max_edges=5,
                                                        min_fraction=0.25)
            channels = s.run("distinctive_channels", cls=cls, kind="explanation", min_fraction=0.25, limit=5000)
            best: dict[str, list[dict]] = {}
            for r in channels:
                if r["log_odds"] > 0 and len(best.setdefault(r["layer"], [])) < 2:
                    best[r["layer"]].append(r)
            expected = {r["cid"]: r["support"] for rows in best.values() for r in rows}
            assert sizes == expected and sizes, cls
            assert 0 < len(edges) <= 5
            assert all(e["src"] in sizes and e["dst"] in sizes for e in edges)
            strength = [e["fraction"] * e["mean_weight"] for e in edges]
            assert strength == sorted(strength, reverse=True)
            shared = s.run("shared_edges", cls=cls, kind="explanation", min_fraction=0.25, limit=100_000)
            candidates = sorted((e["fraction"] * e["mean_weight"] for e in shared
                                 if e["src"] in sizes and e["dst"] in sizes), reverse=True)
            assert strength == candidates[: len(strength)]
