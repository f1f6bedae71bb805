"""The per-class summaries: what a class's images hold, counted once, so class questions need no scan.

Every class-level question the explorer asks by default (shared edges, distinctive edges and channels,
channel frequency, frequent pathways, class comparison) is answered from these, in time that depends on
the channels, not on how many images the class has (nor on how many other classes the store holds: each
summary hangs off its Class node, so a question reads only its own class's). They are rebuilt from the circuits by
`Store.rebuild_aggregates` (amx-ingest does it at the end of every run, for the classes the run marked
stale); the scanning forms of the same questions live in `cypher/queries/scan/`, for the tests and the
benchmark that check the two agree.

Per class and circuit kind:
- `AggTotal` {class, kind, n, n_all}: circuits counted;
- `CLASS_EDGE` (Class)->(Channel src) {kind, dst, n, sum_w, n_all, sum_w_all}: each edge's image count and
  weight sum, for the edges held by at least EDGE_FLOOR (1%) of the class's images (every edge of a class
  under 100 images). So a class question is exact at a support of 1% or more; below it, and in the
  "elsewhere" counts of the distinctive questions, an edge held by under 1% of a large class counts 0;
- `CLASS_CHANNEL` (Class)->(Channel) {kind, n, sum_a, n_all, sum_a_all}: each kept channel's count and
  activation sum;
- `CLASS_PATH` (Class)->(Channel src) {kind, scope, via, dst, n, sum_w}: the PATHWAYS_KEPT most frequent
  two-hop pathways src->via->dst among those held by at least EDGE_FLOOR of the images (ordered as
  `frequent_pathways` orders them, so any of its answers up to that many rows at a support of 1% or more
  is exact), for each scope. They are counted from the frequent edges only: a pathway held
  by T images needs both its edges held by T images, so counting the pathways of the edges held by at least
  T images finds every pathway held by T or more exactly; T starts high and halves until the top list is
  full (`top_paths`); the database counts them, through the frequent edges' channels only.
`n`/`sum_*` count only the images whose class the model recognises (ImageRecord.recognised), the default of
every class question; `n_all`/`sum_*_all` count every image (`include_unrecognised`). Pathways carry the
scope ("recognised" or "all") instead, since each scope has its own top list.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from .statements import Batch

SUMMARY_VERSION = 2  # bump when what a summary holds changes: summaries built before are rebuilt
EDGE_FLOOR = 0.01  # an edge summary is kept when at least this share of the class's images hold the edge
PATHWAYS_KEPT = 1000  # two-hop pathways kept per (class, kind, scope)
SCOPES = ("recognised", "all")

_RECOGNISED = "coalesce({v}.recognised, true)"  # images stored before statuses existed count as recognised

def _class_summary_delete(rel: str) -> str:
    """Delete one kind of the class's summary relationships."""
    return f"""
MATCH (k:Class)-[g:{rel}]->(:Channel)
WHERE k.name = $cls
DELETE g"""


def _class_summary_create(rel: str, props: tuple[str, ...]) -> Batch:
    """Create one kind of the class's summary relationships, Class -> the row's `channel`, with `props`."""
    ladybug = ", ".join(f"{k}: {k}" for k in props)
    neo4j = ", ".join(f"{k}: r.{k}" for k in props)
    return Batch(ladybug=f"""
LOAD FROM $rows
MATCH (k:Class {{name: $cls}})
MATCH (ch:Channel {{id: channel}})
CREATE (k)-[:{rel} {{{ladybug}}}]->(ch)""", neo4j=f"""
UNWIND $rows AS r
MATCH (k:Class {{name: $cls}})
MATCH (ch:Channel {{id: r.channel}})
CREATE (k)-[:{rel} {{{neo4j}}}]->(ch)""")


DELETE_EDGES, DELETE_CHANNELS, DELETE_PATHS = (_class_summary_delete(rel)
                                               for rel in ("CLASS_EDGE", "CLASS_CHANNEL", "CLASS_PATH"))

DELETE_TOTALS = """
MATCH (t:AggTotal)
WHERE t.class = $cls
DELETE t"""

COUNT_CIRCUITS = f"""
MATCH (c:Circuit)
WHERE c.class = $cls
RETURN c.kind AS kind, count(*) AS n_all, sum(CASE WHEN {_RECOGNISED.format(v="c")} THEN 1 ELSE 0 END) AS n"""

COUNT_EDGES = f"""
MATCH (a:Act)-[f:FLOW]->(b:Act)
WHERE a.class = $cls
WITH a.model AS model, a.kind AS kind, a.cid AS src, b.cid AS dst, {_RECOGNISED.format(v="a")} AS rec, f.weight AS w
WITH model, kind, src, dst, count(*) AS n_all, sum(w) AS sum_w_all,
     sum(CASE WHEN rec THEN 1 ELSE 0 END) AS n, sum(CASE WHEN rec THEN w ELSE 0.0 END) AS sum_w
WHERE n_all >= $min_n
RETURN model, kind, src, dst, n_all, sum_w_all, n, sum_w"""

COUNT_CHANNELS = f"""
MATCH (a:Act)
WHERE a.class = $cls
WITH a.model AS model, a.kind AS kind, a.cid AS cid, {_RECOGNISED.format(v="a")} AS rec, a.activation AS x
RETURN model, kind, cid, count(*) AS n_all, sum(x) AS sum_a_all,
       sum(CASE WHEN rec THEN 1 ELSE 0 END) AS n, sum(CASE WHEN rec THEN x ELSE 0.0 END) AS sum_a"""

# the two-hop pathways of a class through the given channels held by at least $t images (top_paths)
COUNT_PATHS = f"""
MATCH (x:Act)-[f:FLOW]->(y:Act)-[h:FLOW]->(z:Act)
WHERE x.class = $cls AND x.cid IN $cids AND y.cid IN $cids AND z.cid IN $cids
WITH x.model AS model, x.kind AS kind, x.cid AS src, y.cid AS via, z.cid AS dst,
     {_RECOGNISED.format(v="x")} AS rec, f.weight * h.weight AS w
WITH model, kind, src, via, dst, count(*) AS n_all, sum(w) AS sum_w_all,
     sum(CASE WHEN rec THEN 1 ELSE 0 END) AS n, sum(CASE WHEN rec THEN w ELSE 0.0 END) AS sum_w
WHERE n_all >= $t
RETURN model, kind, src, via, dst, n_all, sum_w_all, n, sum_w"""

CREATE_TOTALS = """
UNWIND $rows AS r
CREATE (:AggTotal {id: r.id, class: $cls, kind: r.kind, n: r.n, n_all: r.n_all})"""

CREATE_EDGES = _class_summary_create("CLASS_EDGE", ("kind", "dst", "n", "sum_w", "n_all", "sum_w_all"))
CREATE_CHANNELS = _class_summary_create("CLASS_CHANNEL", ("kind", "n", "sum_a", "n_all", "sum_a_all"))
CREATE_PATHS = _class_summary_create("CLASS_PATH", ("kind", "scope", "via", "dst", "n", "sum_w"))


def edge_floor(images: int) -> int:
    """The fewest images of a class of `images` that must hold an edge for its summary to keep it."""
    return max(1, math.ceil(EDGE_FLOOR * images))


def top_paths(ex: Callable[[Any, dict[str, Any]], list[dict[str, Any]]], cls: str, edges: list[dict[str, Any]],
              channel_key: Callable[[str, str], str], floor: int = 1) -> Iterator[dict[str, Any]]:
    """CLASS_PATH rows: per kind and scope, the PATHWAYS_KEPT most frequent pathways, ordered as
    `frequent_pathways` orders its answer (images, mean weight, then names). `edges` are COUNT_EDGES rows.

    A pathway held by T images has both its edges held by T images, so counting only the pathways through
    the channels of such edges finds every pathway held by T or more, exactly; once PATHWAYS_KEPT of them
    reach T the top list is exact. T starts at a quarter of the most frequent edge's count and halves, down
    to `floor` (`edges` hold only the edges held by `floor` images or more)."""
    threshold = max(floor, max((int(r["n_all"]) for r in edges), default=0) // 4)
    kinds = {r["kind"] for r in edges}
    while True:
        cids = sorted({c for r in edges if int(r["n_all"]) >= threshold for c in (r["src"], r["dst"])})
        rows = ex(COUNT_PATHS, {"cls": cls, "cids": cids, "t": threshold}) if cids else []
        found: dict[tuple[str, str], list[tuple]] = defaultdict(list)
        for r in rows:
            for scope, n, sum_w in (("recognised", int(r["n"]), float(r["sum_w"])),
                                    ("all", int(r["n_all"]), float(r["sum_w_all"]))):
                if n >= threshold:
                    found[r["kind"], scope].append((-n, -(sum_w / n), r["src"], r["via"], r["dst"], r["model"], sum_w))
        if threshold <= floor or all(len(found[k, s]) >= PATHWAYS_KEPT for k in kinds for s in SCOPES):
            break
        threshold = max(floor, threshold // 2)
    for (kind, scope), group in found.items():
        for neg_n, _, src, via, dst, model, sum_w in sorted(group, key=lambda t: t[:5])[:PATHWAYS_KEPT]:
            yield {"channel": channel_key(model, src), "kind": kind, "scope": scope, "via": via, "dst": dst,
                   "n": -neg_n, "sum_w": sum_w}


def rebuild(ex: Callable[[Any, dict[str, Any]], list[dict[str, Any]]], cls: str,
            channel_key: Callable[[str, str], str], chunks: Callable[[list], Iterator[list]]) -> int:
    """Replace the class's summaries by counts over its circuits, inside the caller's transaction; returns
    the number of CLASS_EDGE summaries written."""
    key = {"cls": cls}
    for text in (DELETE_EDGES, DELETE_CHANNELS, DELETE_PATHS, DELETE_TOTALS):
        ex(text, key)
    totals = [{"id": f"{cls}|{r['kind']}", "kind": r["kind"], "n": int(r["n"]), "n_all": int(r["n_all"])}
              for r in ex(COUNT_CIRCUITS, key)]
    if totals:  # none for a class left without images (an empty list parameter has no type on LadybugDB)
        ex(CREATE_TOTALS, {**key, "rows": totals})
    # edges held by under EDGE_FLOOR of the class's images are left out (all are kept below 100 images): a
    # class's edge summaries then number at most 1/EDGE_FLOOR times a circuit's edges, however many images
    # it has, where the distinct edges of thousands of images, most held once, would grow without end
    min_n = edge_floor(max((t["n_all"] for t in totals), default=0))
    counted = ex(COUNT_EDGES, {**key, "min_n": min_n})
    edges = [{"channel": channel_key(r["model"], r["src"]), "kind": r["kind"], "dst": r["dst"], "n": int(r["n"]),
              "sum_w": float(r["sum_w"]), "n_all": int(r["n_all"]), "sum_w_all": float(r["sum_w_all"])}
             for r in counted]
    channels = [{"channel": channel_key(r["model"], r["cid"]), "kind": r["kind"], "n": int(r["n"]),
                 "sum_a": float(r["sum_a"]), "n_all": int(r["n_all"]), "sum_a_all": float(r["sum_a_all"])}
                for r in ex(COUNT_CHANNELS, key)]
    paths = list(top_paths(ex, cls, counted, channel_key, min_n))
    for statement, rows in ((CREATE_EDGES, edges), (CREATE_CHANNELS, channels), (CREATE_PATHS, paths)):
        for chunk in chunks(rows):
            ex(statement, {**key, "rows": chunk})
    return len(edges)
