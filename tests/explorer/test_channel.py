"""The Channel page (the channel atlas) and the hover cards of circuit graph nodes."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from cypher import open_store
from explorer import data
from explorer.views import graphs

from .circuits import EXPL, ORIG

APP = str(Path(__file__).resolve().parents[2] / "explorer" / "app.py")


def _rows(url: str, name: str, **params):
    with open_store(url, read_only=True) as s:
        return s.run(name, **params)


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _busiest_channel(url: str) -> str:
    """The channel with the most stored examples (more than 16, so the page must cut at 16)."""
    counts = {}
    with open_store(url, read_only=True) as s:
        for r in s.run_cypher("MATCH (a:Act) WHERE a.kind = 'explanation' AND a.patch_jpeg IS NOT NULL "
                              "RETURN a.cid AS cid, count(*) AS n"):
            counts[r["cid"]] = r["n"]
    return max(sorted(counts), key=lambda c: counts[c])


def test_channel_page_shows_the_top_examples_classes_neighbours_and_class_images(seeded_url, app_env):
    app_env(seeded_url)
    cid = _busiest_channel(seeded_url)
    examples = _rows(seeded_url, "channel_examples", cid=cid, limit=16)
    assert 0 < len(examples) <= 16
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["page"] = "Channel"
    at.query_params["cid"] = cid
    at.query_params["cls"] = "tabby"
    _ok(at.run())
    assert at.text_input(key="ch_cid").value == cid and at.selectbox(key="ch_cls").value == "tabby"
    images = at.get("image")
    patches = [p for p in images if any(x.caption and "·" in x.caption for x in p.proto.imgs)]
    assert sum(len(p.proto.imgs) for p in patches) == len(examples)
    captions = [x.caption for p in patches for x in p.proto.imgs]
    assert sorted(captions) == sorted(f"{r['class']} · {r['peak']:.3g} (×{r['peak_ratio']:.2g})" for r in examples)
    classes = at.dataframe[0].value
    assert list(classes["class"]) == [r["class"] for r in _rows(seeded_url, "channel_classes", cid=cid, limit=50)]
    up, down = data.channel_neighbours(lambda n, **p: _rows(seeded_url, n, **p), cid, "tabby", "explanation")
    assert len(up) + len(down) > 0
    in_class = _rows(seeded_url, "channel_examples", cid=cid, cls="tabby", limit=6)
    headers = [h.value for h in at.subheader]
    assert "Images of tabby where it fires most" in headers
    assert in_class and sum(x.caption.startswith("peak ") for p in images for x in p.proto.imgs) == len(in_class)
    marked = sum(len(p.proto.imgs) for p in images) - len(examples) - len(in_class)  # photos with the peak marked
    assert marked + sum(c.value == "no picture stored" for c in at.caption) == len(in_class) and marked > 0
    assert at.query_params["cid"] in (cid, [cid])


def test_channel_page_without_a_channel_or_examples_says_so(ladybug_seeded, app_env):
    app_env(ladybug_seeded)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["page"] = "Channel"
    _ok(at.run())
    assert any("layer#channel" in i.value for i in at.info)
    _ok(at.text_input(key="ch_cid").set_value("blocks.9#999").run())
    assert any("No stored example" in c.value for c in at.caption)


def _nodes(html: str) -> list[dict]:
    return json.loads(re.search(r"nodes = new vis\.DataSet\((\[.*?\])\);", html).group(1))


def test_hover_cards_carry_this_images_patch_and_the_top_examples_and_a_click_opens_the_channel_page():
    patch = b"\xff\xd8\xff patch"
    c = graphs.circuit_graph(ORIG, other=EXPL, thumbnails={"l0#1": [b"\xff\xd8 a", b"\xff\xd8 b"]})
    card = {n["id"]: n.get("html_title") for n in c.nodes}["l0#1"]
    assert card.count("<img ") == 2 and base64.b64encode(b"\xff\xd8 a").decode() in card
    ORIG.patches = {"l0#1": patch}
    try:
        card = {n["id"]: n.get("html_title") for n in graphs.circuit_graph(ORIG).nodes}["l0#1"]
    finally:
        ORIG.patches = {}
    assert "here:" in card and base64.b64encode(patch).decode() in card and graphs.CLICK_HINT in card
    rows = [{"src": "l0#1", "dst": "l1#5", "images": 4, "fraction": 1.0, "mean_weight": 0.3}]
    spec = graphs.edge_rows_graph(rows, thumbnails={"l1#5": [patch]})
    cards = {n["id"]: n["html_title"] for n in spec.nodes}
    assert "<img " in cards["l1#5"] and "<img " not in cards["l0#1"]
    html = graphs.graph_html(spec, name="consensus", link={"cls": "tabby", "kind": "original"})
    assert "<img" not in html.split("nodes = new vis.DataSet(")[1].split("\n")[0]  # '<' escaped in the data
    assert {n["id"] for n in _nodes(html) if "html_title" in n} == {"l0#1", "l1#5"}
    assert "window.open(" in html and '{"cls": "tabby", "kind": "original"}' in html


def test_hover_card_text_is_escaped():
    card = graphs.hover_card("<script>alert(1)</script>\nsecond line")
    assert "<script>" not in card and "&lt;script&gt;" in card and "<br>second line" in card


def test_channel_page_shows_a_cached_feature_visualisation_beside_the_examples(ladybug_seeded, app_env, tmp_path,
                                                                               monkeypatch):
    from tests.store.synthetic import MODEL

    from .conftest import patch

    app_env(ladybug_seeded)
    cid = _busiest_channel(ladybug_seeded)
    layer, channel = cid.split("#")
    (tmp_path / MODEL / layer).mkdir(parents=True)
    (tmp_path / MODEL / layer / f"{channel}.png").write_bytes(patch((10, 200, 10)))
    monkeypatch.setenv("AMX_ATLAS_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["page"] = "Channel"
    at.query_params["cid"] = cid
    _ok(at.run())
    captions = [x.caption for p in at.get("image") for x in p.proto.imgs]
    assert f"feature visualisation of {cid} (amx-atlas)" in captions


def test_the_channel_link_of_a_graph_cannot_close_its_script():
    spec = graphs.edge_rows_graph([{"src": "l0#1", "dst": "l1#5", "fraction": 1.0}])
    html = graphs.graph_html(spec, link={"cls": "</script><script>alert(1)</script>"})
    assert "</script><script>alert(1)" not in html and "\\u003c/script>" in html
