"""What the pages fetch, as plain functions of a `run(query_name, **params) -> rows` callable.

No Streamlit here: the app passes its cached runner (explorer/cache.py), the tests pass a store's
`run`. Every value reaches the database as a parameter of a named query from `cypher/queries/`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from amx_core.circuit import KINDS, Circuit, circuit_from_rows

Run = Callable[..., list[dict[str, Any]]]


def load_circuit(run: Run, image_id: str, kind: str) -> Circuit | None:
    """One stored circuit of an image (None when the image has none of that kind)."""
    summaries = [s for s in run("image_summary", image_id=image_id) if s["kind"] == kind]
    nodes = run("image_nodes", image_id=image_id, kind=kind)
    if not summaries and not nodes:
        return None
    edges = run("image_circuit", image_id=image_id, kind=kind)
    logits = run("image_logits", image_id=image_id, kind=kind)
    peaks = {r["cid"]: r for r in run("image_patches", image_id=image_id, kind=kind)}  # the channel atlas
    nodes = [{**r, **{k: v for k, v in peaks.get(r["cid"], {}).items() if k != "patch_jpeg"}} for r in nodes]
    circuit = circuit_from_rows(image_id, kind, summaries[0] if summaries else None, nodes, edges, logits)
    if circuit is not None:
        circuit.patches = {cid: bytes(r["patch_jpeg"]) for cid, r in peaks.items() if r.get("patch_jpeg")}
    return circuit


def image_circuits(run: Run, image_id: str) -> dict[str, Circuit | None]:
    """Both stored circuits of an image, by kind (None for a kind it has not)."""
    return {kind: load_circuit(run, image_id, kind) for kind in KINDS}


def class_layers(run: Run, cls: str) -> list[str]:
    """The tapped layers (model order) of a class's circuits, from one of its images."""
    first = run("class_images", cls=cls, limit=1)
    if not first:
        return []
    for s in run("image_summary", image_id=first[0]["image_id"]):
        if s.get("layers"):
            return list(s["layers"])
    return []


def including_unrecognised(run: Run) -> Run:
    """`run` with `include_unrecognised=True` given to every query that takes it (the class questions)."""
    from cypher import get_query

    def scoped(name: str, **params: Any) -> Any:
        if any(p.name == "include_unrecognised" for p in get_query(name).params):
            params.setdefault("include_unrecognised", True)
        return run(name, **params)

    return scoped


def consensus_edges(run: Run, cls: str, kind: str, min_fraction: float, limit: int = 300) -> list[dict]:
    """A class's consensus circuit at a support level: the edges in at least `min_fraction` of its images
    (`shared_edges`, answered from the class summary, so its time does not grow with the class)."""
    return run("shared_edges", cls=cls, kind=kind, min_fraction=min_fraction, limit=limit)


def frequent_pathways(run: Run, cls: str, kind: str, min_fraction: float, limit: int = 100) -> list[dict]:
    """`frequent_pathways` rows at a support level, from one query per (class, kind) at support 0.

    The query orders rows by `images` first, so the rows at or above any support are a prefix of the
    rows at support 0: filtering its first `limit` rows gives exactly the query's answer at that support,
    and moving the support slider runs no new query (the query reads every two-hop path of the class)."""
    rows = run("frequent_pathways", cls=cls, kind=kind, min_fraction=0.0, limit=limit)
    return [r for r in rows if r["images"] >= min_fraction * round(r["images"] / r["fraction"])]


def channel_images(run: Run, cid: str, kind: str, cls: str | None = None, limit: int = 1000) -> list[dict]:
    """The images whose circuits keep a channel (`channel_images` rows), only those of `cls` when given."""
    rows = run("channel_images", cid=cid, kind=kind, limit=limit)
    return [r for r in rows if cls is None or r["class"] == cls]


def class_attribution_graph(run: Run, cls: str, kind: str, *, per_layer: int = 5, max_edges: int = 40,
                            min_fraction: float = 0.25) -> tuple[list[dict], dict[str, float]]:
    """A class's attribution graph in the spirit of Summit: the `per_layer` most distinctive channels of
    each layer (by smoothed log-odds against the rest of the store) and the strongest edges between them
    (support x mean weight), at most `max_edges`, so that it stays readable. Returns (edge rows, node
    sizes: each channel's support in the class)."""
    channels = run("distinctive_channels", cls=cls, kind=kind, min_fraction=min_fraction, limit=5000)
    chosen: dict[str, dict] = {}
    per: dict[str, int] = {}
    for r in channels:  # rows come best first
        if r["log_odds"] > 0 and per.get(r["layer"], 0) < per_layer:
            chosen[r["cid"]] = r
            per[r["layer"]] = per.get(r["layer"], 0) + 1
    edges = consensus_edges(run, cls, kind, min_fraction, limit=100_000)
    inside = [r for r in edges if r["src"] in chosen and r["dst"] in chosen]
    inside.sort(key=lambda r: (-r["fraction"] * r["mean_weight"], r["src"], r["dst"]))
    return inside[:max_edges], {cid: r["support"] for cid, r in chosen.items()}


def channel_thumbnails(run: Run, cids: Iterable[str], kind: str, n: int = 3) -> dict[str, list[bytes]]:
    """Each channel's `n` strongest example patches across the store (`channel_examples`), for hover cards."""
    out: dict[str, list[bytes]] = {}
    for cid in dict.fromkeys(c for c in cids if "#" in c):
        rows = run("channel_examples", cid=cid, kind=kind, limit=n)
        if rows:
            out[cid] = [bytes(r["patch_jpeg"]) for r in rows]
    return out


def channel_neighbours(run: Run, cid: str, cls: str, kind: str, limit: int = 10) -> tuple[list[dict], list[dict]]:
    """A channel's strongest upstream and downstream channels in a class's consensus (every edge the class's
    circuits hold, from the aggregate cache, else `shared_edges`): (edges into it, edges out of it), by
    share of the class's images x mean weight."""
    edges = consensus_edges(run, cls, kind, 0.0, limit=100_000)
    def strength(r: dict) -> float:
        return r["fraction"] * abs(r["mean_weight"])
    up = sorted((r for r in edges if r["dst"] == cid), key=lambda r: (-strength(r), r["src"]))[:limit]
    down = sorted((r for r in edges if r["src"] == cid), key=lambda r: (-strength(r), r["dst"]))[:limit]
    return up, down
