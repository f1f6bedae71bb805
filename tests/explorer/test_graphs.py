"""Circuit graphs (explorer/views/graphs.py) on hand-made circuits and rows: layout, styling, HTML."""

from __future__ import annotations

import json
import re

from amx_core.circuit import make_cid
from explorer.views import graphs

from .circuits import EXPL, ORIG, make_circuit


def _by_id(spec: graphs.GraphSpec) -> dict[str, dict]:
    return {n["id"]: n for n in spec.nodes}


def test_layers_run_left_to_right_at_fixed_places_and_ranks_top_down():
    pos = graphs.circuit_positions([ORIG, EXPL])
    assert pos["l0#1"][0] < pos["l1#5"][0] < pos["l2#0"][0] < pos["class:3"][0]
    assert pos["l0#1"][0] == pos["l0#2"][0]
    assert pos["l0#1"][1] < pos["l0#2"][1]  # rank 0 above rank 1
    assert pos["l1#5"][1] == -pos["l1#7"][1]  # centred
    spec = graphs.circuit_graph(ORIG, other=EXPL, positions=pos)
    assert all(n["physics"] is False for n in spec.nodes)
    assert (_by_id(spec)["l0#1"]["x"], _by_id(spec)["l0#1"]["y"]) == pos["l0#1"]


def test_the_same_channel_sits_at_the_same_place_in_both_graphs():
    pos = graphs.circuit_positions([ORIG, EXPL])
    a = _by_id(graphs.circuit_graph(ORIG, other=EXPL, positions=pos))
    b = _by_id(graphs.circuit_graph(EXPL, other=ORIG, positions=pos))
    for cid in set(a) & set(b):
        assert (a[cid]["x"], a[cid]["y"]) == (b[cid]["x"], b[cid]["y"])


def test_node_size_follows_activation_and_edge_width_follows_weight():
    spec = graphs.circuit_graph(ORIG)
    n = _by_id(spec)
    assert n["l2#0"]["size"] > n["l0#1"]["size"] > n["l1#5"]["size"] > n["l0#2"]["size"]
    widths = {(e["from"], e["to"]): e for e in spec.edges}
    assert widths[("l0#1", "l1#5")]["width"] > widths[("l1#5", "l2#0")]["width"] > widths[("l0#2", "l1#5")]["width"]
    assert widths[("l0#2", "l1#5")]["dashes"] is True and widths[("l0#2", "l1#5")]["color"] == graphs.NEGATIVE
    assert "activation 4" in n["l0#1"]["title"] and "weight 2" in widths[("l0#1", "l1#5")]["title"]


def test_shared_channels_and_edges_are_highlighted_and_counted():
    spec = graphs.circuit_graph(ORIG, other=EXPL)
    n = _by_id(spec)
    assert {k for k, v in n.items() if v["color"] == graphs.SHARED} == {"l0#1", "l1#5", "l2#0"}
    shared_edges = {(e["from"], e["to"]) for e in spec.edges if e["color"] == graphs.SHARED}
    assert shared_edges == {("l0#1", "l1#5"), ("l1#5", "l2#0")}
    assert graphs.shared_parts(ORIG, EXPL) == {"nodes_a": 4, "nodes_b": 4, "shared_nodes": 3,
                                              "edges_a": 3, "edges_b": 3, "shared_edges": 2}
    alone = graphs.circuit_graph(ORIG)
    assert all(v["color"] != graphs.SHARED for v in alone.nodes)


def test_graph_counts_channels_plus_logit_classes():
    spec = graphs.circuit_graph(ORIG)
    assert len(spec.nodes) == len(ORIG.nodes) + len({x.class_index for x in ORIG.logit_links}) == 5
    assert len(spec.edges) == 4  # three FLOW, one LOGIT
    assert _by_id(spec)["class:3"]["label"] == "cat"


def test_graph_html_is_self_contained_with_physics_off_and_a_drawn_marker():
    html = graphs.graph_html(graphs.circuit_graph(ORIG, other=EXPL), name="original")
    assert "https://" not in re.sub(r"//[^\n]*", "", html.split("<body>")[1])  # no CDN: works offline
    assert 'src="http' not in html and 'href="http' not in html
    assert "vis-network" in html  # the library is inlined
    options = json.loads(re.search(r"var options = (\{.*?\});", html, re.S).group(1))
    assert options["physics"]["enabled"] is False
    nodes = json.loads(re.search(r"nodes = new vis\.DataSet\((\[.*?\])\);", html).group(1))
    assert len(nodes) == 5 and {n["id"] for n in nodes} >= {"l0#1", "class:3"}
    assert {n["id"]: n["color"] for n in nodes}["l0#2"] == graphs.OWN  # pyvis drops colours of grouped nodes
    assert "data-drawn" in html and '"original"' in html


def test_graph_html_links_vis_network_from_the_served_folder_instead_of_inlining_it():
    spec = graphs.circuit_graph(ORIG, other=EXPL)
    inline = graphs.graph_html(spec, name="original")
    linked = graphs.graph_html(spec, name="original", assets="/amx/app/static/")
    head = linked.split("</head>")[0]
    assert f'<script src="/amx/app/static/{graphs.VIS_JS}"></script>' in head
    assert f'<link rel="stylesheet" href="/amx/app/static/{graphs.VIS_CSS}">' in head
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
    assert (graphs.STATIC / graphs.VIS_JS).read_bytes() == (lib / "vis-network.min.js").read_bytes()
    assert (graphs.STATIC / graphs.VIS_CSS).read_bytes() == (lib / "vis-network.css").read_bytes()


def test_graph_html_escapes_labels_that_would_close_the_script():
    evil = make_circuit("original", [("l0", 1, 1.0, 0), ("l2", 0, 1.0, 0)], [("l0#1", "l2#0", 1.0)],
                    logits=(("l2#0", 1, "</script><script>alert(1)</script>", 1.0),))
    html = graphs.graph_html(graphs.circuit_graph(evil))
    assert "</script><script>alert(1)" not in html
    nodes = json.loads(re.search(r"nodes = new vis\.DataSet\((\[.*?\])\);", html).group(1))
    assert "</script><script>alert(1)</script>" in {n["label"] for n in nodes}  # shown as text, unchanged


def test_edge_rows_graph_from_query_rows_and_pathways():
    rows = [{"src": "l0#1", "dst": "l1#5", "images": 4, "fraction": 1.0, "mean_weight": 0.3},
            {"src": "l1#5", "dst": "l2#0", "images": 2, "fraction": 0.5, "mean_weight": 0.9}]
    spec = graphs.edge_rows_graph(rows, layers=["l0", "l1", "l2"], shared=[("l0#1", "l1#5")])
    n = _by_id(spec)
    assert n["l0#1"]["x"] < n["l1#5"]["x"] < n["l2#0"]["x"]
    e = {(x["from"], x["to"]): x for x in spec.edges}
    assert e[("l0#1", "l1#5")]["width"] > e[("l1#5", "l2#0")]["width"]  # by fraction
    assert e[("l0#1", "l1#5")]["color"] == graphs.SHARED and n["l0#1"]["color"] == graphs.SHARED
    assert n["l2#0"]["color"] == graphs.OWN
    paths = graphs.edge_rows_graph([{"src": "a#1", "via": "b#2", "dst": "c#3", "images": 3}])
    assert {(x["from"], x["to"]) for x in paths.edges} == {("a#1", "b#2"), ("b#2", "c#3")}
    sized = graphs.edge_rows_graph(rows, node_sizes={"l0#1": 1.0, "l1#5": 0.25, "l2#0": 0.0})
    s = _by_id(sized)
    assert s["l0#1"]["size"] > s["l1#5"]["size"] > s["l2#0"]["size"]
    assert graphs.edge_rows_graph([]).nodes == []


def test_layer_order_uses_the_model_order_then_natural_order():
    assert graphs.layer_order(["bn1", "blocks.2.0", "bn2"], ["blocks.10#1", "bn2#4"]) == ["bn1", "blocks.2.0", "bn2",
                                                                                       "blocks.10"]
    assert graphs.layer_order(None, [make_cid("b.10", 1), make_cid("b.2", 3)]) == ["b.2", "b.10"]
