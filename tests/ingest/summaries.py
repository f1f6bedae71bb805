"""The class summaries (CLASS_EDGE summaries) as stored, and as recomputed from the stored circuits: every check of
'summaries are never stale' compares the two."""

from __future__ import annotations

from cypher import open_store
from cypher.summaries import edge_floor

STORED = ("MATCH (k:Class)-[g:CLASS_EDGE]->(s:Channel) "
          "RETURN k.name AS class, g.kind AS kind, s.id AS src, s.model + '|' + g.dst AS dst, g.n AS n, g.n_all AS n_all, "
          "g.sum_w_all AS sum_w")
RECOMPUTED = ("MATCH (a:Act)-[f:FLOW]->(b:Act) "
              "RETURN a.class AS class, a.kind AS kind, a.model AS model, a.cid AS src, b.cid AS dst, "
              "sum(CASE WHEN a.recognised THEN 1 ELSE 0 END) AS n, count(*) AS n_all, sum(f.weight) AS sum_w")


def _key(rows, model_in_ids: bool):
    out = {}
    for r in rows:
        src, dst = (r["src"], r["dst"]) if model_in_ids else (f"{r['model']}|{r['src']}", f"{r['model']}|{r['dst']}")
        key = (r["class"], r["kind"], src, dst)
        assert key not in out, f"two edge summaries for {key}"
        out[key] = (int(r["n"]), int(r["n_all"]), round(float(r["sum_w"]), 6))
    return out


TOTALS = "MATCH (c:Circuit) RETURN c.class AS class, c.kind AS kind, count(*) AS n"


def _floored(recomputed: dict, totals: list[dict]) -> dict:
    """The recomputed edges a summary keeps: those held by at least EDGE_FLOOR of the class's images."""
    per_class: dict[str, int] = {}
    for r in totals:
        per_class[r["class"]] = max(per_class.get(r["class"], 0), int(r["n"]))
    need = {cls: edge_floor(n) for cls, n in per_class.items()}
    return {k: v for k, v in recomputed.items() if v[1] >= need.get(k[0], 1)}


def summaries(url: str) -> tuple[dict, dict]:
    """(stored edge summaries, the same recomputed from the circuits), keyed (class, kind, src, dst) -> (recognised
    images, all images, weight sum over all)."""
    with open_store(url, read_only=True) as s:
        return _key(s.run_cypher(STORED), True), _floored(_key(s.run_cypher(RECOMPUTED), False), s.run_cypher(TOTALS))


def assert_summaries_fresh(url: str) -> None:
    """Every class's summary equals a recomputation from its stored circuits (so no support fraction
    exceeds 1), and nothing is left marked stale."""
    stored, recomputed = summaries(url)
    if stored != recomputed:
        missing = sorted(set(recomputed) - set(stored))[:3]
        extra = sorted(set(stored) - set(recomputed))[:3]
        wrong = sorted(k for k in set(stored) & set(recomputed) if stored[k] != recomputed[k])[:3]
        raise AssertionError(f"stale summaries: missing {missing}, left over {extra}, "
                             f"wrong {[(k, stored[k], recomputed[k]) for k in wrong]}")
    with open_store(url, read_only=True) as s:
        assert s.stale_classes() == []
        for c in s.run("classes"):
            for kind in ("original", "explanation"):
                rows = s.run("shared_edges", cls=c["class"], kind=kind, min_fraction=0.0, limit=100_000,
                             include_unrecognised=True)
                assert all(r["fraction"] <= 1.0 for r in rows), (c["class"], kind)
