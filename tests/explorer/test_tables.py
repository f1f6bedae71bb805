"""Tables, chart rows, image numbers and downloads (explorer/views/tables.py), and the row -> Circuit
conversion they export from (amx_core.circuit.circuit_from_rows), on hand-made rows."""

from __future__ import annotations

import csv
import io
import json

import networkx as nx
import pytest

from amx_core.circuit import Circuit, circuit_from_rows
from explorer.views import tables

from .circuits import ORIG


def test_circuit_from_rows_round_trips_through_graphml_and_json():
    summary = {"kind": "original", "model": "m", "config": "cfg", "layers": ["l0", "l1", "l2"],
               "metrics": json.dumps({"confidence": 0.9})}
    nodes = [{"cid": n.cid, "layer": n.layer, "channel": n.channel, "activation": n.activation, "rank": n.rank}
             for n in ORIG.nodes]
    edges = [{"src": e.src, "dst": e.dst, "weight": e.weight} for e in ORIG.edges]
    logits = [{"src": x.src, "class": x.class_name, "class_index": x.class_index, "weight": x.weight}
              for x in ORIG.logit_links]
    c = circuit_from_rows("img", "original", summary, nodes, edges, logits)
    assert c.to_dict() == {**ORIG.to_dict(), "metrics": {"confidence": 0.9}}
    g = nx.read_graphml(io.StringIO(tables.circuit_graphml(c)))
    assert g.number_of_nodes() == 5 and g.number_of_edges() == 4
    assert g.edges["l0#1", "l1#5"]["weight"] == 2.0
    assert Circuit.from_json(tables.circuit_json(c)).to_dict() == c.to_dict()
    assert circuit_from_rows("img", "original", None, [], [], []) is None


def test_frequency_chart_keeps_top_channels_per_layer_in_layer_order():
    rows = [{"layer": "blocks.10", "cid": "blocks.10#1", "images": 1, "fraction": 0.2, "mean_activation": 1},
            {"layer": "blocks.2", "cid": "blocks.2#4", "images": 3, "fraction": 0.6, "mean_activation": 1},
            {"layer": "blocks.2", "cid": "blocks.2#9", "images": 5, "fraction": 1.0, "mean_activation": 1},
            {"layer": "blocks.2", "cid": "blocks.2#7", "images": 1, "fraction": 0.2, "mean_activation": 1}]
    chart = tables.frequency_chart(rows, top=2)
    assert [r["channel"] for r in chart] == ["blocks.2#9", "blocks.2#4", "blocks.10#1"]


def test_compare_edges_labels_both_and_only():
    a = [{"src": "x", "dst": "y", "fraction": 0.9}, {"src": "x", "dst": "z", "fraction": 0.6}]
    b = [{"src": "x", "dst": "y", "fraction": 0.5}, {"src": "q", "dst": "z", "fraction": 0.7}]
    out = {(r["src"], r["dst"]): r for r in tables.compare_edges(a, b)}
    assert out[("x", "y")]["status"] == "both" and out[("x", "y")]["difference"] == pytest.approx(0.4)
    assert out[("x", "z")]["status"] == "only A" and out[("q", "z")]["status"] == "only B"
    assert [r["src"] for r in tables.compare_edges(a, b)][0] == "q"  # largest |difference| first


def test_tables_and_csv_show_any_value():
    rows = [{"a": 1, "b": b"\x00\x01", "c": [1, 2]}, {"a": 2, "d": {"k": "v"}}]
    t = tables.table(rows, ["c", "a"])
    assert list(t) == ["c", "a", "b", "d"] and t["b"] == ["<2 bytes>", None] and t["c"][0] == "[1, 2]"
    back = list(csv.reader(io.StringIO(tables.rows_csv(rows, ["a"]))))
    assert back[0] == ["a", "b", "c", "d"] and back[1][0] == "1" and back[2][3] == '{"k": "v"}'
    assert tables.rows_are_edges([{"src": 1, "dst": 2}]) and not tables.rows_are_edges([{"src": 1}])
    assert tables.rows_are_edges([], ["src", "dst"])


def test_image_numbers_from_ingest_metrics_and_fallbacks():
    class Rec:
        class_name, class_index, predicted, predicted_index, confidence = "cheetah", 293, "leopard", 288, 0.5
        metrics = {"confidence_x": 0.91, "confidence_e": 0.47, "mask_area": 0.3, "robustness": 1.0,
                   "label_kept": True, "circuit_suff_top1": 0.0, "edge_jaccard": 0.3162, "predicted_e_name": "cheetah"}

    got = dict(tables.image_numbers(Rec()))
    assert got["given class"] == "cheetah (293)" and got["predicted on x"] == "leopard (288)"
    assert got["confidence on x"] == "91.0%" and got["confidence on e"] == "47.0%"
    assert got["mask area"] == "30.0%" and got["robustness"] == "1.000" and got["label kept"] == "yes"
    assert got["circuit sufficiency (top-1)"] == "0.0%" and got["edge Jaccard x vs e"] == "0.316"
    Rec.metrics = {}
    bare = dict(tables.image_numbers(Rec(), [{"kind": "explanation", "mask_area": 0.12, "confidence": 0.4,
                                              "metrics": json.dumps({"suff_top1": 1.0, "robustness": 0.5})}]))
    assert bare["mask area"] == "12.0%" and bare["confidence on e"] == "40.0%"
    assert bare["circuit sufficiency (top-1)"] == "100.0%" and bare["robustness"] == "0.500"
    assert bare["label kept"] == "—" and bare["confidence on x"] == "50.0%"


def test_picture_accepts_images_only():
    from tests.explorer.conftest import png

    assert tables.picture(png((1, 2, 3))) is not None
    assert tables.picture(b"\x89PNG\r\n\x1a\nnot really") is None and tables.picture(b"") is None


def test_circuit_from_rows_without_a_summary_takes_layers_in_natural_order():
    nodes = [{"cid": f"{layer}#{ch}", "layer": layer, "channel": ch, "activation": 1.0, "rank": 0}
             for layer, ch in (("b.10", 1), ("b.2", 3), ("a", 0))]
    c = circuit_from_rows("img", "explanation", None, nodes, [], [])
    assert c.layers == ("a", "b.2", "b.10") and c.metrics == {} and c.model == ""


def test_page_helpers_labels_chart_columns_channels_shared_edges_and_file_names():
    rows = [{"image_id": "i1", "path": "/x/cat.jpg", "confidence": 0.91, "agrees": True},
            {"image_id": "i2", "path": "/x/dog.png", "confidence": 0.4, "agrees": False}]
    labels = tables.image_labels(rows)
    assert list(labels) == ["i1", "i2"] and labels["i1"] == "cat.jpg · 91%" and labels["i2"] == "dog.png · 40% ✗"
    assert tables.export_stem(labels["i2"], "original") == "dog_original"
    chart = [{"channel": "l0#1", "fraction": 0.5, "layer": "l0", "images": 2}]
    assert tables.chart_columns(chart, ("channel", "fraction")) == {"channel": ["l0#1"], "fraction": [0.5]}
    freq = [{"cid": "a#1", "fraction": 0.2}, {"cid": "a#2", "fraction": 0.9}, {"cid": "b#1", "fraction": 0.2}]
    assert tables.channels_by_frequency(freq) == ["a#2", "a#1", "b#1"]
    a = [{"src": "x", "dst": "y"}, {"src": "x", "dst": "z"}]
    assert tables.edges_in_both(a, [{"src": "x", "dst": "y"}, {"src": "q", "dst": "z"}]) == {("x", "y")}
