"""Every explorer page under Streamlit's AppTest, on a small seeded store (LadybugDB and Neo4j)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cypher import list_queries, open_store
from explorer import console, data
from explorer.views import graphs, tables

APP = str(Path(__file__).resolve().parents[2] / "explorer" / "app.py")
TIMEOUT = 60


def _app(page: str | None = None, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if page:
        at.query_params["page"] = page
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _graph_nodes(iframe) -> list[dict]:
    html = iframe.proto.srcdoc
    return json.loads(re.search(r"nodes = new vis\.DataSet\((\[.*?\])\);", html).group(1))


def _store_rows(url: str, name: str, **params):
    with open_store(url, read_only=True) as s:
        return s.run(name, **params)


def test_image_page_shows_pictures_numbers_and_both_circuits(seeded_url, app_env):
    app_env(seeded_url)
    images = _store_rows(seeded_url, "class_images", cls="tabby")
    image_id = images[1]["image_id"]
    at = _ok(_app("Image", cls="tabby", image=image_id))
    assert at.selectbox(key="img_cls").value == "tabby"
    assert at.selectbox(key="image_id").value == image_id
    assert len(at.selectbox(key="image_id").options) == len(images) == 4
    labels = {m.label: m.value for m in at.metric}
    assert labels["given class"] == "tabby (1)" and labels["robustness"] == "0.750"
    frames = at.get("iframe")
    assert len(frames) == 2
    for frame, kind in zip(frames, ("original", "explanation"), strict=True):
        nodes = _graph_nodes(frame)
        expected = _store_rows(seeded_url, "image_nodes", image_id=image_id, kind=kind)
        classes = {r["class_index"] for r in _store_rows(seeded_url, "image_logits", image_id=image_id, kind=kind)}
        assert len(nodes) == len(expected) + len(classes)
        assert {n["id"] for n in nodes} >= {r["cid"] for r in expected}
        assert f'"{kind}"' in frame.proto.srcdoc
    shared = {n["id"] for n in _graph_nodes(frames[0]) if n["color"] == graphs.SHARED}
    expl = {n["id"] for n in _graph_nodes(frames[1])}
    assert shared and shared <= expl
    assert any("Shared by both circuits" in m.value for m in at.markdown)


def test_gallery_opens_an_image(seeded_url, app_env):
    app_env(seeded_url)
    at = _ok(_app("Image"))
    cls = at.selectbox(key="img_cls").value
    images = _store_rows(seeded_url, "class_images", cls=cls)
    assert len([b for b in at.button if (b.key or "").startswith("open_")]) == len(images)
    assert at.selectbox(key="image_id").value == images[0]["image_id"]
    _ok(at.button(key=f"open_{images[2]['image_id']}").click().run())
    assert at.selectbox(key="image_id").value == images[2]["image_id"]
    assert at.query_params["image"] in (images[2]["image_id"], [images[2]["image_id"]])
    _ok(at.selectbox(key="img_cls").set_value("goldfinch").run())
    assert at.selectbox(key="image_id").value == _store_rows(seeded_url, "class_images", cls="goldfinch")[0]["image_id"]


def test_class_page_support_slider_consensus_frequency_and_channel_images(seeded_url, app_env):
    app_env(seeded_url)
    at = _ok(_app("Class"))
    at.selectbox(key="cls_cls").set_value("cheetah")
    _ok(at.slider(key="cls_support").set_value(0.25).run())
    loose = _graph_nodes(at.get("iframe")[0])
    expect = _store_rows(seeded_url, "shared_edges", cls="cheetah", kind="explanation", min_fraction=0.25, limit=300)
    assert len(loose) == len({c for r in expect for c in (r["src"], r["dst"])})
    paths = next(d.value for d in at.dataframe if "via" in d.value.columns)
    want = _store_rows(seeded_url, "frequent_pathways", cls="cheetah", kind="explanation", min_fraction=0.25)
    assert [tuple(r) for r in paths[["src", "via", "dst", "images"]].itertuples(index=False)] == \
        [(r["src"], r["via"], r["dst"], r["images"]) for r in want] and want
    _ok(at.slider(key="cls_support").set_value(1.0).run())
    frames = at.get("iframe")
    strict = _graph_nodes(frames[0]) if frames else []
    assert len(strict) < len(loose)
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    cid = at.selectbox(key="cls_channel").value
    table = at.dataframe[-1].value
    rows = [r for r in _store_rows(seeded_url, "channel_images", cid=cid, kind="explanation", limit=1000)
            if r["class"] == "cheetah"]
    assert len(table) == len(rows) > 0 and set(table["class"]) == {"cheetah"}


def test_class_page_counts_statuses_and_includes_unrecognised_images_only_on_request(seeded_url, app_env):
    """Issue 21: the Class page says how many images the model ranks the class 1st / 2nd-5th / lower on and
    their statuses; the cheetah image it does not recognise stays out of the graph until the box is ticked."""
    app_env(seeded_url)
    at = _ok(_app("Class"))
    at.selectbox(key="cls_cls").set_value("cheetah")
    _ok(at.slider(key="cls_support").set_value(0.25).run())
    status = _store_rows(seeded_url, "class_status", cls="cheetah")
    assert {(r["rank_band"], r["status"]) for r in status} >= {("lower", "not recognised")}
    assert tables.status_counts(status) in [c.value for c in at.caption]
    assert "1 not recognised" in tables.status_counts(status)

    def drawn(**scope):
        want = _store_rows(seeded_url, "shared_edges", cls="cheetah", kind="explanation", min_fraction=0.25,
                           limit=300, **scope)
        got = _graph_nodes(at.get("iframe")[0])
        assert len(got) == len({c for r in want for c in (r["src"], r["dst"])})
        return want

    without = drawn()
    _ok(at.checkbox(key="cls_unrecognised").check().run())
    assert drawn(include_unrecognised=True) != without


def test_image_page_says_why_an_image_is_not_recognised(seeded_url, app_env):
    app_env(seeded_url)
    images = _store_rows(seeded_url, "class_images", cls="cheetah")
    (odd,) = [r for r in images if r["status"] == "not recognised"]
    assert "class 12th · ⊘ not recognised" in tables.image_label(odd)
    at = _ok(_app("Image", cls="cheetah", image=odd["image_id"]))
    labels = {m.label: m.value for m in at.metric}
    assert (labels["status"], labels["class rank x → e"]) == ("not recognised", "12th → 9th")
    assert at.warning and at.warning[0].value.startswith("Not recognised: the model ranks cheetah 12th on this "
                                                         "photo (probability 0.4%)")
    other = next(r for r in images if r["status"] == "kept")
    at = _ok(_app("Image", cls="cheetah", image=other["image_id"]))
    assert not at.warning


def test_frequent_pathways_at_any_support_equal_the_query_at_that_support(seeded_url):
    """The Class page filters one support-0 answer per (class, kind) instead of querying per slider step."""
    def key(rows):
        return [(r["src"], r["via"], r["dst"], r["images"], r["fraction"], round(r["mean_weight"], 9))
                for r in rows]  # the engine's float sums may differ in the last bit between runs

    with open_store(seeded_url, read_only=True) as s:
        sizes = set()
        for cls in ("cheetah", "goldfinch"):
            for kind in ("original", "explanation"):
                for support in (0.0, 0.25, 0.3, 0.5, 0.75, 1.0):
                    for limit in (3, 100):
                        want = s.run("frequent_pathways", cls=cls, kind=kind, min_fraction=support, limit=limit)
                        assert key(data.frequent_pathways(s.run, cls, kind, support, limit)) == key(want)
                        sizes.add(len(want))
    assert 0 < len(sizes - {0, 3, 100})  # some supports cut the list short of the limit


@pytest.fixture
def static_serving():
    """set(enabled, base_url_path): the server options `amx-explore` sets, for AppTest (restored after)."""
    from streamlit import config

    names = ("server.enableStaticServing", "server.baseUrlPath")
    before = {n: config.get_option(n) for n in names}

    def _set(enabled: bool, base: str = "") -> None:
        config.set_option("server.enableStaticServing", enabled)
        config.set_option("server.baseUrlPath", base)

    yield _set
    for n, v in before.items():
        config.set_option(n, v)


@pytest.mark.parametrize("base, folder", [("", "/app/static"), ("amx/", "/amx/app/static")])
def test_graphs_link_the_served_vis_network_when_static_serving_is_on(ladybug_seeded, app_env, static_serving,
                                                                       base, folder):
    app_env(ladybug_seeded)
    static_serving(True, base)
    image_id = _store_rows(ladybug_seeded, "class_images", cls="cheetah")[0]["image_id"]
    pages = (_ok(_app("Image", cls="cheetah", image=image_id)), _ok(_app("Class", cls="cheetah", support="0.25")))
    for at in pages:
        frames = at.get("iframe")
        assert frames
        for frame in frames:
            html = frame.proto.srcdoc
            assert f'<script src="{folder}/{graphs.VIS_JS}"></script>' in html and "Almende" not in html
            assert _graph_nodes(frame)
    static_serving(False)
    at = _ok(_app("Image", cls="cheetah", image=image_id))
    assert all("Almende" in f.proto.srcdoc for f in at.get("iframe"))  # self-contained without static serving


def _graph_names(at: AppTest) -> list[str]:
    return [re.search(r"'data-graph', \"(\w+)\"", f.proto.srcdoc).group(1) for f in at.get("iframe")]


def test_compare_page_shows_what_separates_first_then_what_is_shared(seeded_url, app_env):
    app_env(seeded_url)
    at = _ok(_app("Compare"))
    at.selectbox(key="cmp_a").set_value("cheetah")
    at.selectbox(key="cmp_b").set_value("goldfinch")
    at.slider(key="cmp_max").set_value(0.25)
    _ok(at.slider(key="cmp_support").set_value(0.5).run())
    assert _graph_names(at) == ["separates_a", "separates_b", "class_a", "class_b"]
    headers = [h.value for h in at.subheader]
    assert headers.index("What separates cheetah from goldfinch") < headers.index("What cheetah and goldfinch share")
    # the first table: edges frequent in A and rare in B, the largest difference in support first
    first, second = at.dataframe[0].value, at.dataframe[1].value
    for table, a, b in ((first, "cheetah", "goldfinch"), (second, "goldfinch", "cheetah")):
        want = _store_rows(seeded_url, "compare_classes", cls_a=a, cls_b=b, kind="explanation", min_fraction=0.5,
                           max_fraction=0.25)
        assert want and [(r.src, r.dst) for r in table.itertuples()] == [(r["src"], r["dst"]) for r in want]
        assert (table["fraction_a"] >= 0.5).all() and (table["fraction_b"] <= 0.25).all()
        gaps = list(table["fraction_a"] - table["fraction_b"])
        assert min(gaps) >= 0.25 and gaps == sorted(gaps, reverse=True)
    separating = {n["id"] for n in _graph_nodes(at.get("iframe")[0])}
    assert separating == {c for r in first.itertuples() for c in (r.src, r.dst)}
    a = _store_rows(seeded_url, "shared_edges", cls="cheetah", kind="explanation", min_fraction=0.5, limit=300)
    b = _store_rows(seeded_url, "shared_edges", cls="goldfinch", kind="explanation", min_fraction=0.5, limit=300)
    diff = next(d.value for d in at.dataframe if "status" in d.value.columns)
    assert len(diff) == len({(r["src"], r["dst"]) for r in a + b})
    assert set(diff["status"]) <= {"both", "only A", "only B"}


def test_class_page_distinctive_view_ranks_by_log_odds_and_draws_the_attribution_graph(seeded_url, app_env):
    app_env(seeded_url)
    at = _ok(_app("Class", cls="tabby", support="0.5"))
    assert at.radio(key="cls_view").value == "Shared"
    _ok(at.radio(key="cls_view").set_value("Distinctive").run())
    assert _graph_names(at) == ["attribution"]
    channels = at.dataframe[0].value
    want = _store_rows(seeded_url, "distinctive_channels", cls="tabby", kind="explanation", min_fraction=0.5,
                       limit=5000)
    assert list(channels["cid"]) == [r["cid"] for r in want][:100] and len(channels) > 0
    odds = list(channels["log_odds"])
    assert odds == sorted(odds, reverse=True) and odds[0] > 0
    edges, sizes = data.class_attribution_graph(lambda n, **p: _store_rows(seeded_url, n, **p), "tabby",
                                                "explanation", per_layer=5, max_edges=40, min_fraction=0.5)
    drawn = _graph_nodes(at.get("iframe")[0])
    assert edges and {n["id"] for n in drawn} == {c for e in edges for c in (e["src"], e["dst"])}
    assert set(n["id"] for n in drawn) <= set(sizes)
    html = at.get("iframe")[0].proto.srcdoc
    shown = json.loads(re.search(r"edges = new vis\.DataSet\((\[.*?\])\);", html).group(1))
    assert len(shown) == len(edges) <= 40
    per_layer: dict[str, int] = {}
    for cid in sizes:
        per_layer[cid.split("#")[0]] = per_layer.get(cid.split("#")[0], 0) + 1
    assert max(per_layer.values()) <= 5
    edge_table = at.dataframe[1].value
    want_edges = _store_rows(seeded_url, "distinctive_edges", cls="tabby", kind="explanation", min_fraction=0.5,
                             limit=100)
    assert [(r.src, r.dst) for r in edge_table.itertuples()] == [(r["src"], r["dst"]) for r in want_edges]
    assert list(edge_table["log_odds"]) == sorted(edge_table["log_odds"], reverse=True)
    assert "via" not in str([d.value.columns for d in at.dataframe])  # pathways only on request
    _ok(at.checkbox(key="cls_dist_paths").check().run())
    paths = next(d.value for d in at.dataframe if "mid" in d.value.columns)
    want_paths = _store_rows(seeded_url, "distinctive_pathways", cls="tabby", kind="explanation", min_fraction=0.5,
                             limit=50)
    assert len(paths) == len(want_paths) > 0
    cid = at.selectbox(key="cls_dist_channel").value
    assert cid == channels["cid"][0]
    images = at.dataframe[-1].value
    assert set(images["class"]) == {"tabby"} and len(images) == want[0]["images"]


def test_class_page_deep_link_opens_the_distinctive_view(ladybug_seeded, app_env):
    app_env(ladybug_seeded)
    at = _ok(_app("Class", cls="cheetah", view="Distinctive"))
    assert at.radio(key="cls_view").value == "Distinctive" and _graph_names(at) == ["attribution"]


def _fill(at: AppTest, prefix: str, name: str, values: dict) -> None:
    for pname, value in values.items():
        key = f"{prefix}_{name}_{pname}"
        widget = next(w for w in list(at.text_input) + list(at.number_input) + list(at.selectbox) if w.key == key)
        widget.set_value(value)


@pytest.mark.parametrize("query", [q["name"] for q in list_queries()])
def test_queries_page_runs_every_named_query(query, ladybug_seeded, app_env):
    app_env(ladybug_seeded)
    image_id = _store_rows(ladybug_seeded, "class_images", cls="cheetah")[0]["image_id"]
    cid = _store_rows(ladybug_seeded, "image_nodes", image_id=image_id)[0]["cid"]
    params = {"image_id": image_id, "cid": cid, "cls": "cheetah", "cls_a": "cheetah", "cls_b": "tabby"}
    q = next(q for q in list_queries() if q["name"] == query)
    given = {p["name"]: params[p["name"]] for p in q["params"] if p["name"] in params}
    if any(p["name"] == "min_fraction" for p in q["params"]):
        given["min_fraction"] = 0.25
    at = _ok(_app("Queries"))
    at.selectbox(key="q_name").set_value(query).run()
    _fill(at, "q", query, given)
    _ok(next(b for b in at.button if b.label == "Run query").click().run())
    expected = _store_rows(ladybug_seeded, query, **given)
    assert any(m.value == f"**{len(expected)} rows**" for m in at.markdown)
    if expected:
        shown = at.dataframe[0].value
        assert list(shown.columns)[:len(q["columns"])] == q["columns"] and len(shown) == len(expected)
        assert bool(at.get("iframe")) == tables.rows_are_edges(expected, q["columns"])
    assert [d for d in at.get("download_button") if "CSV" in d.proto.label]


def test_queries_page_on_neo4j(neo4j_seeded, app_env):
    pytest.importorskip("neo4j")
    app_env(neo4j_seeded)
    at = _ok(_app("Queries"))
    at.selectbox(key="q_name").set_value("shared_edges").run()
    _fill(at, "q", "shared_edges", {"cls": "tabby", "min_fraction": 0.5})
    _ok(next(b for b in at.button if b.label == "Run query").click().run())
    expected = _store_rows(neo4j_seeded, "shared_edges", cls="tabby", min_fraction=0.5)
    assert len(at.dataframe[0].value) == len(expected) > 0
    assert at.get("iframe")


test_queries_page_on_neo4j = pytest.mark.neo4j(test_queries_page_on_neo4j)


def test_console_reads_and_refuses_writes(seeded_url, app_env):
    app_env(seeded_url)
    at = _ok(_app("Queries"))
    at.text_area(key="console").set_value("MATCH (a:Act)-[f:FLOW]->(b:Act) RETURN a.cid AS src, b.cid AS dst LIMIT 5")
    _ok(at.button(key="console_run").click().run())
    assert len(at.dataframe[-1].value) == 5 and list(at.dataframe[-1].value.columns) == ["src", "dst"]
    assert at.get("iframe")
    before = _store_rows(seeded_url, "store_stats")
    at.text_area(key="console").set_value("CREATE (:Class {name: 'intruder', `index`: 999})")
    at = at.button(key="console_run").click().run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("Refused: CREATE would change the data")
    assert _store_rows(seeded_url, "store_stats") == before
    at.text_area(key="console").set_value("MATCH (n) RETURN count(n) AS n; CALL threads=1")
    at = at.button(key="console_run").click().run()
    assert len(at.error) == 1 and "more than one statement" in at.error[0].value
    at.text_area(key="console").set_value("UNWIND range(1, 1500) AS x RETURN x")
    at = _ok(at.button(key="console_run").click().run())
    assert len(at.dataframe[-1].value) == 1000
    assert any(m.value == "**1000 rows** (the first 1000; there are more)" for m in at.markdown)
    _ok(at.button(key="console_run").click().run())  # named queries on the shared connection still answer
    _ok(at.selectbox(key="q_name").set_value("classes").run())
    _ok(next(b for b in at.button if b.label == "Run query").click().run())
    assert any(m.value == "**3 rows**" for m in at.markdown)


def test_console_write_that_slips_past_the_check_is_refused_by_the_store(seeded_url, app_env, monkeypatch):
    monkeypatch.setattr(console, "check", lambda text: text)  # only the store's read-only mode is left
    app_env(seeded_url)
    before = _store_rows(seeded_url, "store_stats")
    at = _app("Queries")
    at.text_area(key="console").set_value("MATCH (k:Class) WHERE k.name = 'cheetah' SET k.name = 'changed' RETURN k.name")
    at = at.button(key="console_run").click().run()
    assert not at.exception and len(at.error) == 1 and "Refused" in at.error[0].value
    assert _store_rows(seeded_url, "store_stats") == before
    assert _store_rows(seeded_url, "classes")[0]["class"] != "changed"


def test_exports_page_offers_graphml_json_and_csv(seeded_url, app_env):
    app_env(seeded_url)
    at = _ok(_app("Exports"))
    labels = [d.proto.label for d in at.get("download_button")]
    assert labels == ["Download GraphML", "Download JSON"]
    at.selectbox(key="x_name").set_value("classes").run()
    _ok(next(b for b in at.button if b.label == "Run query").click().run())
    assert [d.proto.label for d in at.get("download_button")][-1] == "Download CSV (3 rows)"


def test_empty_store_says_how_to_fill_it(tmp_path, app_env):
    url = f"ladybug://{tmp_path / 'empty.lbug'}"
    with open_store(url) as s:
        s.ensure_schema()
    app_env(url)
    at = _ok(_app("Class"))
    assert len(at.info) == 1 and "amx-ingest --class" in at.info[0].value


def test_missing_embedded_store_says_how_to_fill_it(tmp_path, app_env):
    app_env(str(tmp_path / "nothing-here.lbug"))
    at = _ok(_app())
    assert "amx-ingest --class" in at.info[0].value


@pytest.mark.parametrize("url", ["bolt://127.0.0.1:9", "bolt://neo4j:hunter2secret@127.0.0.1:9"])
def test_unreachable_store_is_one_clear_message(url, app_env, monkeypatch):
    monkeypatch.setenv("NEO4J_PASSWORD", "not-used-here")
    app_env(url)
    at = _app("Image")
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("Cannot reach the store")
    assert "hunter2secret" not in at.error[0].value and "hunter2secret" not in str(at.sidebar.caption.values)


def test_a_folder_instead_of_a_store_file_is_one_clear_message(tmp_path, app_env):
    app_env(str(tmp_path))
    at = _app("Image")
    assert not at.exception and len(at.error) == 1 and "folder" in at.error[0].value


def test_deep_links_seed_class_support_and_compare(ladybug_seeded, app_env):
    app_env(ladybug_seeded)
    at = _ok(_app("Class", cls="goldfinch", support="0.25"))
    assert at.selectbox(key="cls_cls").value == "goldfinch" and at.slider(key="cls_support").value == 0.25
    at = _ok(_app("Compare", cls="tabby", b="cheetah", support="1"))
    assert (at.selectbox(key="cmp_a").value, at.selectbox(key="cmp_b").value) == ("tabby", "cheetah")
    assert at.slider(key="cmp_support").value == 1.0
    at = _ok(_app("Class", support="not a number"))
    assert at.slider(key="cls_support").value == 0.5
