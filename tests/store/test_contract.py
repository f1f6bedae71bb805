"""Contract suite: every named query, on both backends, equals the networkx reference."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from cypher import get_query, list_queries, open_store
from cypher.queries import QUERY_DIR, SCAN_DIR, scan_query

from .conftest import BACKENDS, empty_store
from .reference import Reference
from .synthetic import Shape, make_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLASSES = ["goldfinch", "tabby cat", "magpie"]
DATA = make_dataset(CLASSES, 6, seed=7)
REF = Reference(DATA)
IMAGES = [rec.id for rec, _ in DATA]
CIDS = ["blocks.0#1", "blocks.1#4", "blocks.2#7", "blocks.3#2", "blocks.1#99"]


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(request, tmp_path_factory):
    """One store per backend holding DATA with rebuilt aggregates, opened read-only for the queries."""
    url = empty_store(request.param, request, tmp_path_factory.mktemp("contract"))
    with open_store(url) as s:
        for rec, circuits in DATA:
            s.write_circuits(rec, circuits)
        for cls in CLASSES:
            s.rebuild_aggregates(cls)
    with open_store(url, read_only=True) as s:
        yield s


def cases():
    """(query name, params) pairs covering every query with several parameter sets."""
    yield "classes", {}
    yield "store_stats", {}
    for cls in CLASSES + ["no such class"]:
        yield "class_images", {"cls": cls}
        yield "class_status", {"cls": cls}
        for kind in ("original", "explanation"):
            for frac in (0.0, 0.5, 0.8):
                yield "shared_edges", {"cls": cls, "kind": kind, "min_fraction": frac, "limit": 1000}
                yield "frequent_pathways", {"cls": cls, "kind": kind, "min_fraction": frac, "limit": 1000}
            yield "shared_edges", {"cls": cls, "kind": kind, "min_fraction": 0.3, "include_unrecognised": True}
            yield "frequent_pathways", {"cls": cls, "kind": kind, "min_fraction": 0.3, "include_unrecognised": True}
            yield "channel_frequency", {"cls": cls, "kind": kind, "min_fraction": 0.3}
            yield "channel_frequency", {"cls": cls, "kind": kind, "include_unrecognised": True}
            for name in ("distinctive_edges", "distinctive_channels", "distinctive_pathways"):
                yield name, {"cls": cls, "kind": kind, "min_fraction": 0.3, "limit": 1000}
                yield name, {"cls": cls, "kind": kind, "min_fraction": 0.0, "prior": 1.0, "limit": 7}
                yield name, {"cls": cls, "kind": kind, "min_fraction": 0.2, "include_unrecognised": True}
            for cid in CIDS[:3]:
                yield "channel_pathways", {"cid": cid, "cls": cls, "kind": kind}
            yield "channel_pathways", {"cid": CIDS[1], "cls": cls, "kind": kind, "include_unrecognised": True}
    yield "shared_edges", {"cls": CLASSES[0], "limit": 3}
    yield "class_images", {"cls": CLASSES[1], "limit": 2}
    for a in CLASSES:
        for b in CLASSES:
            yield "compare_classes", {"cls_a": a, "cls_b": b, "min_fraction": 0.3, "max_fraction": 0.2}
            yield "compare_classes", {"cls_a": a, "cls_b": b, "min_fraction": 0.0, "max_fraction": 0.5,
                                      "include_unrecognised": True}
    yield "compare_classes", {"cls_a": CLASSES[0], "cls_b": "no such class"}
    for cid in CIDS:
        yield "channel_images", {"cid": cid, "kind": "original", "limit": 5}
        yield "channel_images", {"cid": cid}
        for kind in ("original", "explanation"):
            yield "channel_examples", {"cid": cid, "kind": kind}
            yield "channel_examples", {"cid": cid, "kind": kind, "limit": 3, "model": "synthetic_cnn"}
            yield "channel_classes", {"cid": cid, "kind": kind}
            yield "channel_classes", {"cid": cid, "kind": kind, "min_fraction": 0.4, "prior": 1.0, "limit": 2}
        yield "channel_examples", {"cid": cid, "cls": CLASSES[1], "limit": 100}
        yield "channel_examples", {"cid": cid, "model": "other model"}
    for img in IMAGES[::4] + ["0" * 64]:
        yield "image_summary", {"image_id": img}
        for kind in ("original", "explanation"):
            yield "image_circuit", {"image_id": img, "kind": kind}
            yield "image_nodes", {"image_id": img, "kind": kind}
            yield "image_logits", {"image_id": img, "kind": kind}
            yield "image_patches", {"image_id": img, "kind": kind}
            yield "similar_images", {"image_id": img, "kind": kind, "limit": 50}


def assert_rows(actual, expected, what):
    assert len(actual) == len(expected), f"{what}: {len(actual)} rows, reference {len(expected)}"
    for i, (got, want) in enumerate(zip(actual, expected, strict=True)):
        assert got.keys() == want.keys(), f"{what} row {i}: columns {list(got)} vs {list(want)}"
        for k, v in want.items():
            if isinstance(v, float):
                assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-12), f"{what} row {i} column {k}"
            else:
                assert got[k] == v and type(got[k]) is type(v), f"{what} row {i} column {k}: {got[k]!r} vs {v!r}"


def test_every_query_file_is_covered():
    covered = {name for name, _ in cases()}
    assert covered == {q["name"] for q in list_queries()}


def test_every_query_matches_the_networkx_reference(loaded):
    for name, params in cases():
        rows = loaded.run(name, **params)
        if name == "store_stats":
            expected = REF.store_stats(aggregates=REF.aggregates())
        else:
            expected = getattr(REF, name)(**params)
        assert_rows(rows, expected, f"{loaded.backend} {name}{params}")
        if rows:
            assert list(rows[0]) == list(get_query(name).columns), f"{name}: header columns differ from rows"


def test_nontrivial_answers(loaded):
    """Guard the reference itself: the synthetic data must make the class questions interesting."""
    shared = loaded.run("shared_edges", cls=CLASSES[0], min_fraction=0.5)
    assert 0 < len(shared) < len(loaded.run("shared_edges", cls=CLASSES[0], min_fraction=0.0, limit=10_000))
    assert loaded.run("compare_classes", cls_a=CLASSES[0], cls_b=CLASSES[1], min_fraction=0.3, max_fraction=0.2)
    assert loaded.run("frequent_pathways", cls=CLASSES[0], min_fraction=0.5)
    assert loaded.run("similar_images", image_id=IMAGES[0])[0]["similarity"] < 1.0
    examples = loaded.run("channel_examples", cid=CIDS[0], kind="original")
    assert 3 < len(examples) <= 16 and all(r["patch_jpeg"].startswith(b"\xff\xd8") for r in examples)
    assert len(loaded.run("channel_classes", cid=CIDS[0], kind="original")) > 1


def test_no_parallel_relationships(loaded):
    """The embedded engine miscounts parallel relationships in 2-hop patterns; the model has none."""
    for pattern in ("(a:Act)-[:FLOW]->(b:Act)", "(a:Circuit)-[:HAS]->(b:Act)", "(a:Image)-[:HAS_CIRCUIT]->(b:Circuit)"):
        pairs = [(r["a"], r["b"]) for r in loaded.run_cypher(f"MATCH {pattern} RETURN a.id AS a, b.id AS b")]
        assert pairs and len(pairs) == len(set(pairs)), pattern
    pairs = [(r["a"], r["b"]) for r in loaded.run_cypher("MATCH (a:Act)-[:LOGIT]->(b:Class) RETURN a.id AS a, b.name AS b")]
    assert pairs and len(pairs) == len(set(pairs))


def test_class_summaries_are_rebuilt_per_class(store_url):
    """The summaries reflect the circuits only after rebuild_aggregates; rebuilding replaces, never adds."""
    with open_store(store_url) as s:
        for rec, circuits in DATA[:6]:
            s.write_circuits(rec, circuits)
        assert s.run("shared_edges", cls=CLASSES[0]) == []
        n = s.rebuild_aggregates(CLASSES[0])
        assert s.rebuild_aggregates(CLASSES[0]) == n
        assert s.stats()["aggregates"] == n
        ref = Reference(DATA[:6])
        for name in ("shared_edges", "frequent_pathways", "channel_frequency"):
            assert_rows(s.run(name, cls=CLASSES[0], min_fraction=0.0, limit=1000),
                        getattr(ref, name)(CLASSES[0], min_fraction=0.0, limit=1000), name)


SUMMARISED = ("shared_edges", "frequent_pathways", "channel_frequency", "distinctive_edges", "distinctive_channels",
              "compare_classes")


def test_questions_from_the_summaries_equal_their_scanning_forms(loaded):
    """Each class question answered from the summaries gives the rows its scanning form (every circuit
    read) gives, for every parameter set of the contract, on both backends."""
    checked = set()
    for name, params in cases():
        if name in SUMMARISED:
            assert_rows(loaded.run(name, **params), loaded.run_query(scan_query(name), **params),
                        f"{loaded.backend} {name}{params} against its scan")
            checked.add(name)
    assert checked == set(SUMMARISED) == {p.stem for p in SCAN_DIR.glob("*.cypher")}


def test_unrecognised_images_stay_out_of_class_questions_unless_asked(loaded):
    """The synthetic data holds unrecognised images (every 5th of a class): they change the answers only
    when `include_unrecognised` is set, and the class's totals count them only then."""
    cls = CLASSES[0]
    unrecognised = [rec for rec, _ in DATA if rec.class_name == cls and not rec.recognised]
    assert len(unrecognised) == 1
    by_default = loaded.run("channel_frequency", cls=cls, kind="original")
    included = loaded.run("channel_frequency", cls=cls, kind="original", include_unrecognised=True)
    n = len([rec for rec, _ in DATA if rec.class_name == cls])
    assert {round(r["images"] / r["fraction"], 6) for r in by_default} == {n - 1}
    assert {round(r["images"] / r["fraction"], 6) for r in included} == {n}


def test_store_modules_do_not_import_torch():
    code = ("import sys, cypher, cypher.base, cypher.statements, cypher.queries, cypher.backends.neo4j, "
            "cypher.backends.ladybug; sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


@pytest.mark.parametrize("module", ["cypher.backends.neo4j", "cypher.backends.ladybug", "cypher.base"])
def test_each_store_module_imports_on_its_own(module):
    """No import circle: a backend (or the base) imported first, alone, loads cleanly."""
    assert subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT).returncode == 0


def test_importing_cypher_loads_no_database_driver():
    """`open_store` imports the backend it needs; `import cypher` alone stays light."""
    code = ("import sys, cypher; from cypher import Store, default_store_url, get_query, list_queries, open_store; "
            "sys.exit(any(m in sys.modules for m in ('neo4j', 'ladybug', 'pyarrow', 'cypher.backends')))")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_query_headers_parse_and_name_their_files():
    files = sorted(p.stem for p in QUERY_DIR.glob("*.cypher"))
    queries = list_queries()
    assert [q["name"] for q in queries] == files
    for q in queries:
        assert q["description"].endswith("?") and q["columns"], q["name"]
        for p in q["params"]:
            assert p["type"] in ("str", "int", "float", "bool") and p["help"], (q["name"], p)


def test_a_large_class_summary_keeps_the_edges_held_by_one_percent_of_its_images(store_url):
    """Above 100 images a class's edge summary leaves out the edges held by under 1% of its images, so its
    size does not grow with the images: at a support of 1% or more the answers equal the scan's; at 0 they
    lack exactly the edges held by fewer images (here: by one of 150)."""
    from cypher.summaries import EDGE_FLOOR

    data = make_dataset(["big"], 150, shape=Shape(layers=3, pool=40, keep_original=5, keep_explanation=4), seed=11)
    with open_store(store_url) as s:
        for rec, circuits in data:
            s.write_circuits(rec, circuits)
        s.rebuild_stale()
        floor = math.ceil(EDGE_FLOOR * 150)
        for kind in ("original", "explanation"):
            params = {"cls": "big", "kind": kind, "limit": 100_000}
            assert_rows(s.run("shared_edges", min_fraction=0.01, **params),
                        s.run_query(scan_query("shared_edges"), min_fraction=0.01, **params), "shared_edges at 1%")
            # the floor counts every image (30 of the 150 are unrecognised), so compare over all of them
            everything = s.run_query(scan_query("shared_edges"), min_fraction=0.0, include_unrecognised=True, **params)
            kept = s.run("shared_edges", min_fraction=0.0, include_unrecognised=True, **params)
            rare = [r for r in everything if r["images"] < floor]
            assert rare and len(kept) == len(everything) - len(rare)
            assert_rows(kept, [r for r in everything if r["images"] >= floor], "shared_edges at 0")
