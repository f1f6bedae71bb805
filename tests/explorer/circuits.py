"""Two hand-made circuits of one image (original and explanation) that share some channels and edges,
for the explorer's pure view tests."""

from __future__ import annotations

from amx_core.circuit import Circuit, Edge, LogitLink, Node


def make_circuit(kind: str, nodes: list[tuple[str, int, float, int]], edges: list[tuple[str, str, float]],
                 logits=((("l2#0"), 3, "cat", 0.5),)) -> Circuit:
    return Circuit(image_id="img", kind=kind, model="m", config_hash="cfg", layers=("l0", "l1", "l2"),
                   nodes=[Node(*n) for n in nodes], edges=[Edge(*e) for e in edges],
                   logit_links=[LogitLink(*x) for x in logits])


ORIG = make_circuit("original",
                    [("l0", 1, 4.0, 0), ("l0", 2, 1.0, 1), ("l1", 5, 2.0, 0), ("l2", 0, 9.0, 0)],
                    [("l0#1", "l1#5", 2.0), ("l0#2", "l1#5", -0.5), ("l1#5", "l2#0", 1.0)])
EXPL = make_circuit("explanation",
                    [("l0", 1, 3.0, 0), ("l1", 5, 1.0, 0), ("l1", 7, 2.0, 1), ("l2", 0, 1.0, 0)],
                    [("l0#1", "l1#5", 1.0), ("l0#1", "l1#7", 0.3), ("l1#5", "l2#0", 0.2)])
