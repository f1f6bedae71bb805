"""The explorer's pure view functions, on hand-made circuits and rows (no Streamlit, no store)."""

from __future__ import annotations

import csv
import io
import json
import re

import networkx as nx
import pytest

from amx_core.circuit import Circuit, Edge, LogitLink, Node, make_cid
from explorer import views


def _circuit(kind: str, nodes: list[tuple[str, int, float, int]], edges: list[tuple[str, str, float]],
             logits=((("l2#0"), 3, "cat", 0.5),)) -> Circuit:
    return Circuit(image_id="img", kind=kind, model="m", config_hash="cfg", layers=("l0", "l1", "l2"),
                   nodes=[Node(*n) for n in nodes], edges=[Edge(*e) for e in edges],
                   logit_links=[LogitLink(*x) for x in logits])


ORIG = _circuit("original",
                [("l0", 1, 4.0, 0), ("l0", 2, 1.0, 1), ("l1", 5, 2.0, 0), ("l2", 0, 9.0, 0)],
                [("l0#1", "l1#5", 2.0), ("l0#2", "l1#5", -0.5), ("l1#5", "l2#0", 1.0)])
EXPL = _circuit("explanation",
                [("l0", 1, 3.0, 0), ("l1", 5, 1.0, 0), ("l1", 7, 2.0, 1), ("l2", 0, 1.0, 0)],
                [("l0#1", "l1#5", 1.0), ("l0#1", "l1#7", 0.3), ("l1#5", "l2#0", 0.2)])


def _by_id(spec: views.GraphSpec) -> dict[str, dict]:
    return {n["id"]: n for n in spec.nodes}


def test_layers_run_left_to_right_at_fixed_places_and_ranks_top_down():
    pos = views.circuit_positions([ORIG, EXPL])
    assert pos["l0#1"][0] < pos["l1#5"][0] < pos["l2#0"][0] < pos["class:3"][0]
    assert pos["l0#1"][0] == pos["l0#2"][0]
    assert pos["l0#1"][1] < pos["l0#2"][1]  # rank 0 above rank 1
    assert pos["l1#5"][1] == -pos["l1#7"][1]  # centred
    spec = views.circuit_graph(ORIG, other=EXPL, positions=pos)
    assert all(n["physics"] is False for n in spec.nodes)
    assert (_by_id(spec)["l0#1"]["x"], _by_id(spec)["l0#1"]["y"]) == pos["l0#1"]


def test_the_same_channel_sits_at_the_same_place_in_both_graphs():
    pos = views.circuit_positions([ORIG, EXPL])
    a = _by_id(views.circuit_graph(ORIG, other=EXPL, positions=pos))
    b = _by_id(views.circuit_graph(EXPL, other=ORIG, positions=pos))
    for cid in set(a) & set(b):
        assert (a[cid]["x"], a[cid]["y"]) == (b[cid]["x"], b[cid]["y"])


def test_node_size_follows_activation_and_edge_width_follows_weight():
    spec = views.circuit_graph(ORIG)
    n = _by_id(spec)
    assert n["l2#0"]["size"] > n["l0#1"]["size"] > n["l1#5"]["size"] > n["l0#2"]["size"]
    widths = {(e["from"], e["to"]): e for e in spec.edges}
    assert widths[("l0#1", "l1#5")]["width"] > widths[("l1#5", "l2#0")]["width"] > widths[("l0#2", "l1#5")]["width"]
    assert widths[("l0#2", "l1#5")]["dashes"] is True and widths[("l0#2", "l1#5")]["color"] == views.NEGATIVE
    assert "activation 4" in n["l0#1"]["title"] and "weight 2" in widths[("l0#1", "l1#5")]["title"]


def test_shared_channels_and_edges_are_highlighted_and_counted():
    spec = views.circuit_graph(ORIG, other=EXPL)
    n = _by_id(spec)
    assert {k for k, v in n.items() if v["color"] == views.SHARED} == {"l0#1", "l1#5", "l2#0"}
    shared_edges = {(e["from"], e["to"]) for e in spec.edges if e["color"] == views.SHARED}
    assert shared_edges == {("l0#1", "l1#5"), ("l1#5", "l2#0")}
    assert views.shared_parts(ORIG, EXPL) == {"nodes_a": 4, "nodes_b": 4, "shared_nodes": 3,
                                              "edges_a": 3, "edges_b": 3, "shared_edges": 2}
    alone = views.circuit_graph(ORIG)
    assert all(v["color"] != views.SHARED for v in alone.nodes)


def test_graph_counts_channels_plus_logit_classes():
    spec = views.circuit_graph(ORIG)
    assert len(spec.nodes) == views.graph_node_count(ORIG) == 5
    assert len(spec.edges) == 4  # three FLOW, one LOGIT
    assert _by_id(spec)["class:3"]["label"] == "cat"


def test_graph_html_is_self_contained_with_physics_off_and_a_drawn_marker():
    html = views.graph_html(views.circuit_graph(ORIG, other=EXPL), name="original")
    assert "https://" not in re.sub(r"//[^\n]*", "", html.split("<body>")[1])  # no CDN: works offline
    assert 'src="http' not in html and 'href="http' not in html
    assert "vis-network" in html  # the library is inlined
    options = json.loads(re.search(r"var options = (\{.*?\});", html, re.S).group(1))
    assert options["physics"]["enabled"] is False
    nodes = json.loads(re.search(r"nodes = new vis\.DataSet\((\[.*?\])\);", html).group(1))
    assert len(nodes) == 5 and {n["id"] for n in nodes} >= {"l0#1", "class:3"}
    assert {n["id"]: n["color"] for n in nodes}["l0#2"] == views.OWN  # pyvis drops colours of grouped nodes
    assert "data-drawn" in html and '"original"' in html


def test_graph_html_links_vis_network_from_the_served_folder_instead_of_inlining_it():
    spec = views.circuit_graph(ORIG, other=EXPL)
    inline = views.graph_html(spec, name="original")
    linked = views.graph_html(spec, name="original", assets="/amx/app/static/")
    head = linked.split("</head>")[0]
    assert f'<script src="/amx/app/static/{views.VIS_JS}"></script>' in head
    assert f'<link rel="stylesheet" href="/amx/app/static/{views.VIS_CSS}">' in head
    assert "Almende" in inline and "Almende" not in linked  # vis-network's licence header: inlined or not
    assert len(linked) < 30_000 < 600_000 < len(inline)
    assert "http" not in re.sub(r"//[^\n]*", "", linked)  # no CDN
    data = re.compile(r"(?:nodes|edges) = new vis\.DataSet\((\[.*?\])\);")
    assert data.findall(linked) == data.findall(inline) and len(data.findall(linked)) == 2
    assert linked.index("data-drawn") > linked.index("</head>") and '"original"' in linked


def test_served_vis_network_is_pyvis_own_copy():
    """explorer/static/ holds vis-network exactly as the pinned pyvis ships it (what in_line pages inlined)."""
    from pathlib import Path

    import pyvis

    lib = Path(pyvis.__file__).parent / "templates" / "lib" / "vis-9.1.2"
    assert (views.STATIC / views.VIS_JS).read_bytes() == (lib / "vis-network.min.js").read_bytes()
    assert (views.STATIC / views.VIS_CSS).read_bytes() == (lib / "vis-network.css").read_bytes()


def test_graph_html_escapes_labels_that_would_close_the_script():
    evil = _circuit("original", [("l0", 1, 1.0, 0), ("l2", 0, 1.0, 0)], [("l0#1", "l2#0", 1.0)],
                    logits=(("l2#0", 1, "</script><script>alert(1)</script>", 1.0),))
    html = views.graph_html(views.circuit_graph(evil))
    assert "</script><script>alert(1)" not in html
    nodes = json.loads(re.search(r"nodes = new vis\.DataSet\((\[.*?\])\);", html).group(1))
    assert "</script><script>alert(1)</script>" in {n["label"] for n in nodes}  # shown as text, unchanged


def test_circuit_from_rows_round_trips_through_graphml_and_json():
    summary = {"kind": "original", "model": "m", "config": "cfg", "layers": ["l0", "l1", "l2"],
               "metrics": json.dumps({"confidence": 0.9})}
    nodes = [{"cid": n.cid, "layer": n.layer, "channel": n.channel, "activation": n.activation, "rank": n.rank}
             for n in ORIG.nodes]
    edges = [{"src": e.src, "dst": e.dst, "weight": e.weight} for e in ORIG.edges]
    logits = [{"src": x.src, "class": x.class_name, "class_index": x.class_index, "weight": x.weight}
              for x in ORIG.logit_links]
    c = views.circuit_from_rows("img", "original", summary, nodes, edges, logits)
    assert c.to_dict() == {**ORIG.to_dict(), "metrics": {"confidence": 0.9}}
    g = nx.read_graphml(io.StringIO(views.circuit_graphml(c)))
    assert g.number_of_nodes() == 5 and g.number_of_edges() == 4
    assert g.edges["l0#1", "l1#5"]["weight"] == 2.0
    assert Circuit.from_json(views.circuit_json(c)).to_dict() == c.to_dict()
    assert views.circuit_from_rows("img", "original", None, [], [], []) is None


def test_edge_rows_graph_from_query_rows_and_pathways():
    rows = [{"src": "l0#1", "dst": "l1#5", "images": 4, "fraction": 1.0, "mean_weight": 0.3},
            {"src": "l1#5", "dst": "l2#0", "images": 2, "fraction": 0.5, "mean_weight": 0.9}]
    spec = views.edge_rows_graph(rows, layers=["l0", "l1", "l2"], shared=[("l0#1", "l1#5")])
    n = _by_id(spec)
    assert n["l0#1"]["x"] < n["l1#5"]["x"] < n["l2#0"]["x"]
    e = {(x["from"], x["to"]): x for x in spec.edges}
    assert e[("l0#1", "l1#5")]["width"] > e[("l1#5", "l2#0")]["width"]  # by fraction
    assert e[("l0#1", "l1#5")]["color"] == views.SHARED and n["l0#1"]["color"] == views.SHARED
    assert n["l2#0"]["color"] == views.OWN
    paths = views.edge_rows_graph([{"src": "a#1", "via": "b#2", "dst": "c#3", "images": 3}])
    assert {(x["from"], x["to"]) for x in paths.edges} == {("a#1", "b#2"), ("b#2", "c#3")}
    sized = views.edge_rows_graph(rows, node_sizes={"l0#1": 1.0, "l1#5": 0.25, "l2#0": 0.0})
    s = _by_id(sized)
    assert s["l0#1"]["size"] > s["l1#5"]["size"] > s["l2#0"]["size"]
    assert views.edge_rows_graph([]).nodes == []


def test_frequency_chart_keeps_top_channels_per_layer_in_layer_order():
    rows = [{"layer": "blocks.10", "cid": "blocks.10#1", "images": 1, "fraction": 0.2, "mean_activation": 1},
            {"layer": "blocks.2", "cid": "blocks.2#4", "images": 3, "fraction": 0.6, "mean_activation": 1},
            {"layer": "blocks.2", "cid": "blocks.2#9", "images": 5, "fraction": 1.0, "mean_activation": 1},
            {"layer": "blocks.2", "cid": "blocks.2#7", "images": 1, "fraction": 0.2, "mean_activation": 1}]
    chart = views.frequency_chart(rows, top=2)
    assert [r["channel"] for r in chart] == ["blocks.2#9", "blocks.2#4", "blocks.10#1"]


def test_compare_edges_labels_both_and_only():
    a = [{"src": "x", "dst": "y", "fraction": 0.9}, {"src": "x", "dst": "z", "fraction": 0.6}]
    b = [{"src": "x", "dst": "y", "fraction": 0.5}, {"src": "q", "dst": "z", "fraction": 0.7}]
    out = {(r["src"], r["dst"]): r for r in views.compare_edges(a, b)}
    assert out[("x", "y")]["status"] == "both" and out[("x", "y")]["difference"] == pytest.approx(0.4)
    assert out[("x", "z")]["status"] == "only A" and out[("q", "z")]["status"] == "only B"
    assert [r["src"] for r in views.compare_edges(a, b)][0] == "q"  # largest |difference| first


def test_tables_and_csv_show_any_value():
    rows = [{"a": 1, "b": b"\x00\x01", "c": [1, 2]}, {"a": 2, "d": {"k": "v"}}]
    t = views.table(rows, ["c", "a"])
    assert list(t) == ["c", "a", "b", "d"] and t["b"] == ["<2 bytes>", None] and t["c"][0] == "[1, 2]"
    back = list(csv.reader(io.StringIO(views.rows_csv(rows, ["a"]))))
    assert back[0] == ["a", "b", "c", "d"] and back[1][0] == "1" and back[2][3] == '{"k": "v"}'
    assert views.rows_are_edges([{"src": 1, "dst": 2}]) and not views.rows_are_edges([{"src": 1}])
    assert views.rows_are_edges([], ["src", "dst"])


@pytest.mark.parametrize("text, word", [
    ("CREATE (:Class {name: 'x'})", "CREATE"),
    ("match (n) detach delete n", "DETACH"),
    ("MATCH (n:Image) SET n.class = 'x'", "SET"),
    ("MERGE (k:Class {name: $x})", "MERGE"),
    ("MATCH (n) REMOVE n.path", "REMOVE"),
    ("DROP TABLE Act", "DROP"),
    ("LOAD CSV FROM 'file:///x' AS r RETURN r", "LOAD"),
    ("CALL apoc.periodic.iterate('x', 'y', {})", "CALL apoc.periodic.iterate"),
    ("MATCH (n) RETURN n // then\nCREATE (m)", "CREATE"),
])
def test_console_names_the_write(text, word):
    assert views.write_keyword(text) == word
    assert word.split()[0] in views.refusal(text) and "read-only" in views.refusal(text)


@pytest.mark.parametrize("text", [
    "MATCH (i:Image) RETURN i.class AS class, count(*) AS images",
    "MATCH (i:Image) WHERE i.path CONTAINS 'CREATE' RETURN i.id",  # inside a string: not a write
    "MATCH (i:Image) RETURN i.id // DELETE nothing\n",
    "MATCH (c:Circuit) WHERE c.kind = \"set\" RETURN c.offset AS `DELETE`",
    "CALL db.labels()",
])
def test_console_lets_reads_through(text):
    assert views.write_keyword(text) is None


def test_image_numbers_from_ingest_metrics_and_fallbacks():
    class Rec:
        class_name, class_index, predicted, predicted_index, confidence = "cheetah", 293, "leopard", 288, 0.5
        metrics = {"confidence_x": 0.91, "confidence_e": 0.47, "mask_area": 0.3, "robustness": 1.0,
                   "label_kept": True, "circuit_suff_top1": 0.0, "edge_jaccard": 0.3162, "predicted_e_name": "cheetah"}

    got = dict(views.image_numbers(Rec()))
    assert got["given class"] == "cheetah (293)" and got["predicted on x"] == "leopard (288)"
    assert got["confidence on x"] == "91.0%" and got["confidence on e"] == "47.0%"
    assert got["mask area"] == "30.0%" and got["robustness"] == "1.000" and got["label kept"] == "yes"
    assert got["circuit sufficiency (top-1)"] == "0.0%" and got["edge Jaccard x vs e"] == "0.316"
    Rec.metrics = {}
    bare = dict(views.image_numbers(Rec(), [{"kind": "explanation", "mask_area": 0.12, "confidence": 0.4,
                                              "metrics": json.dumps({"suff_top1": 1.0, "robustness": 0.5})}]))
    assert bare["mask area"] == "12.0%" and bare["confidence on e"] == "40.0%"
    assert bare["circuit sufficiency (top-1)"] == "100.0%" and bare["robustness"] == "0.500"
    assert bare["label kept"] == "—" and bare["confidence on x"] == "50.0%"


def test_picture_accepts_images_only():
    from tests.explorer.conftest import png

    assert views.picture(png((1, 2, 3))) is not None
    assert views.picture(b"\x89PNG\r\n\x1a\nnot really") is None and views.picture(b"") is None


def test_redact_and_fill_hint_never_show_a_password():
    assert views.redact("bolt://neo4j:s3cret@db:7687") == "bolt://db:7687"
    hint = views.fill_hint("bolt://neo4j:s3cret@db:7687")
    assert "s3cret" not in hint and "amx-ingest --class" in hint and "bolt://db:7687" in hint


def test_layer_order_uses_the_model_order_then_natural_order():
    assert views.layer_order(["bn1", "blocks.2.0", "bn2"], ["blocks.10#1", "bn2#4"]) == ["bn1", "blocks.2.0", "bn2",
                                                                                       "blocks.10"]
    assert views.layer_order(None, [make_cid("b.10", 1), make_cid("b.2", 3)]) == ["b.2", "b.10"]
