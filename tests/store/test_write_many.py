"""`Store.write_many` on both backends: the store it leaves equals the one `write_circuits` leaves image by
image, and a failing group leaves every image whole (its old version or nothing)."""

from __future__ import annotations

import dataclasses

import pytest

from amx_core.circuit import Edge
from amx_core.errors import StoreError
from cypher import open_store
from cypher import statements as st
from cypher.base import _image_groups

from .conftest import empty_store
from .synthetic import make_dataset

DATA = make_dataset(["wren", "robin", "jay"], 3, seed=5)

# every node and edge the writes create, with every property that tells two stores apart
DUMP = {
    "images": """MATCH (i:Image)-[:OF_CLASS]->(k:Class)
        RETURN i.id AS id, i.path AS path, i.class AS class, i.class_index AS class_index, i.predicted AS predicted,
               i.predicted_index AS predicted_index, i.confidence AS confidence, i.agrees AS agrees,
               i.metrics AS metrics, i.original_jpeg AS original_jpeg, i.mask_png AS mask_png,
               i.explanation_jpeg AS explanation_jpeg, k.name AS of_class""",
    "classes": "MATCH (k:Class) RETURN k.name AS name, k.`index` AS idx",
    "circuits": """MATCH (i:Image)-[:HAS_CIRCUIT]->(c:Circuit)
        RETURN i.id AS image, c.id AS id, c.image_id AS image_id, c.class AS class, c.kind AS kind,
               c.model AS model, c.config AS config, c.layers AS layers, c.mask_area AS mask_area,
               c.confidence AS confidence, c.n_nodes AS n_nodes, c.n_edges AS n_edges, c.metrics AS metrics""",
    "acts": """MATCH (c:Circuit)-[:HAS]->(a:Act)
        RETURN c.id AS circuit, a.id AS id, a.circuit_id AS circuit_id, a.image_id AS image_id, a.class AS class,
               a.kind AS kind, a.model AS model, a.cid AS cid, a.layer AS layer, a.channel AS channel,
               a.activation AS activation, a.rank AS rank, a.peak AS peak, a.peak_ratio AS peak_ratio,
               a.peak_row AS peak_row, a.peak_col AS peak_col, a.grid_h AS grid_h, a.grid_w AS grid_w,
               a.patch_jpeg AS patch_jpeg""",
    "flows": "MATCH (a:Act)-[f:FLOW]->(b:Act) RETURN a.id AS src, b.id AS dst, f.weight AS weight",
    "logits": "MATCH (a:Act)-[g:LOGIT]->(k:Class) RETURN a.id AS src, k.name AS class, g.weight AS weight",
    "channels": """MATCH (ch:Channel)
        RETURN ch.id AS id, ch.cid AS cid, ch.model AS model, ch.layer AS layer, ch.channel AS channel""",
    "stale": "MATCH (s:AggState) RETURN s.class AS class, s.stale AS stale",
    "nodes": "MATCH (n) RETURN count(n) AS n",
    "edges": "MATCH ()-[r]->() RETURN count(r) AS n",
}


def dump(store) -> dict[str, list[tuple]]:
    """Every row of DUMP, each as a sorted list of tuples (lists inside made tuples)."""
    def row(r):
        return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(r.items()))
    return {name: sorted((row(r) for r in store._read(text, {})), key=repr) for name, text in DUMP.items()}


def rewritten(rec, circuits):
    """The image again, moved to another class with fewer edges, other weights and no logit links."""
    original, explanation = circuits
    smaller = dataclasses.replace(explanation, edges=[dataclasses.replace(e, weight=e.weight + 0.5)
                                                      for e in explanation.edges[:5]], logit_links=[])
    return dataclasses.replace(rec, class_name="jay", class_index=2, path="/moved.jpg"), [original, smaller]


# the first image comes back rewritten (a repeat inside what would be one group) and the fourth is first
# written, then rewritten by the same call: the later version must win, as it does one by one
ITEMS = DATA[:5] + [rewritten(*DATA[0])] + DATA[5:] + [rewritten(*DATA[3])]


@pytest.mark.parametrize("per_tx, writers", [(1, 1), (4, 1), (100, 1), (3, 2)])
def test_write_many_leaves_the_store_write_circuits_leaves(backend, request, tmp_path, per_tx, writers):
    url = empty_store(backend, request, tmp_path / "one")
    with open_store(url) as s:
        s.write_circuits(*DATA[1])  # already stored: write_many must replace it and say its class
        expected_before = [s.write_circuits(rec, cs) for rec, cs in ITEMS]
        expected = dump(s)
    assert len(expected["flows"]) == sum(len(c.edges) for _, cs in DATA[1:3] + DATA[4:] for c in cs) \
        + sum(len(c.edges) for _, cs in (rewritten(*DATA[0]), rewritten(*DATA[3])) for c in cs)

    url = empty_store(backend, request, tmp_path / "many")
    with open_store(url) as s:
        s.write_circuits(*DATA[1])
        before = s.write_many(ITEMS, images_per_transaction=per_tx, writers=writers)
        got = dump(s)
    assert before == expected_before
    assert before[1] == DATA[1][0].class_name and before[5] == DATA[0][0].class_name and before[0] is None
    for name in DUMP:
        assert got[name] == expected[name], name


def test_groups_never_hold_an_image_twice():
    a, b, c = (DATA[i] for i in range(3))
    sizes = [[rec.id for rec, _ in g] for g in _image_groups([a, b, a, c, b, b], 3)]
    assert sizes == [[a[0].id, b[0].id], [a[0].id, c[0].id, b[0].id], [b[0].id]]
    assert list(_image_groups([], 3)) == []


def test_a_bad_circuit_refuses_its_group_and_keeps_the_groups_before(backend, request, tmp_path):
    url = empty_store(backend, request, tmp_path)
    rec, (original, explanation) = DATA[2]
    bad = (rec, [original, dataclasses.replace(explanation, edges=explanation.edges + [Edge("nowhere#1", "x#2", 1.0)])])
    with open_store(url) as s:
        with pytest.raises(StoreError, match="does not keep"):
            s.write_many(DATA[:2] + [bad] + DATA[3:4], images_per_transaction=2)
        stored = {r["id"] for r in s._read("MATCH (i:Image) RETURN i.id AS id", {})}
        assert stored == {DATA[0][0].id, DATA[1][0].id}  # the first group whole, nothing of the second
        with open_store(tmp_path / "ref.lbug") as ref:
            ref.ensure_schema()
            for item in DATA[:2]:
                ref.write_circuits(*item)
            assert dump(s)["flows"] == dump(ref)["flows"]


@pytest.mark.parametrize("writers", [1, 2])
def test_a_failure_mid_transaction_leaves_the_old_images_whole(backend, request, tmp_path, monkeypatch, writers):
    """The engine fails after the group's deletes and FLOW creates: every image keeps its old version."""
    url = empty_store(backend, request, tmp_path)
    with open_store(url) as s:
        for item in DATA[:4]:
            s.write_circuits(*item)
        old = dump(s)
        transaction = s._transaction

        def failing(work, **kw):
            def wrapped(ex):
                def ex2(statement, params):
                    if statement is st.CREATE_LOGITS:
                        raise StoreError("injected failure")
                    return ex(statement, params)
                return work(ex2)
            return transaction(wrapped, **kw)

        monkeypatch.setattr(s, "_transaction", failing)
        with pytest.raises(StoreError, match="injected failure"):
            s.write_many([rewritten(*DATA[0]), DATA[1], rewritten(*DATA[3]), DATA[5]],
                         images_per_transaction=4, writers=writers)
        monkeypatch.undo()
        assert dump(s) == old


def test_write_many_checks_its_arguments_and_read_only(backend, request, tmp_path):
    url = empty_store(backend, request, tmp_path)
    with open_store(url) as s:
        with pytest.raises(StoreError, match="images_per_transaction"):
            s.write_many(DATA[:1], images_per_transaction=0)
        assert s.write_many([]) == []
    with open_store(url, read_only=True) as s, pytest.raises(StoreError, match="read-only"):
        s.write_many(DATA[:1])
