"""The explorer in a real browser: `amx-explore` on a seeded store, driven by headless Chromium.

Skips when /usr/bin/chromium or the playwright package is missing, unless AMX_REQUIRE_BROWSER=1 (then
it fails). Screenshots go to artifacts/explorer/ (git-ignored), with the server's log.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from cypher import open_store
from explorer.views.graphs import VIS_JS

from .browser import (
    ARTIFACTS,
    browser_missing,
    chromium_page,
    explorer_server,
    open_page,
    wait_for_graphs,
    wait_idle,
)
from .conftest import seed

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser_ready():
    reason = browser_missing()
    if reason:
        if os.environ.get("AMX_REQUIRE_BROWSER") == "1":
            pytest.fail(f"AMX_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module")
def served(browser_ready, tmp_path_factory):
    url = f"ladybug://{tmp_path_factory.mktemp('browser') / 'store.lbug'}"
    seed(url)
    with explorer_server(url) as base, chromium_page() as page:
        yield url, base, page


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_image_page_draws_both_circuits_with_every_node(served):
    url, base, page = served
    with open_store(url, read_only=True) as s:
        image_id = s.run("class_images", cls="goldfinch")[0]["image_id"]
        expected = {}
        for kind in ("original", "explanation"):
            nodes = s.run("image_nodes", image_id=image_id, kind=kind)
            edges = s.run("image_circuit", image_id=image_id, kind=kind)
            logits = s.run("image_logits", image_id=image_id, kind=kind)
            expected[kind] = (len(nodes) + len({r["class_index"] for r in logits}), len(edges) + len(logits))
    seconds = open_page(page, base, f"page=Image&cls=goldfinch&image={image_id}",
                        graphs={"original", "explanation"}, text="confidence on e")
    graphs = wait_for_graphs(page, {"original", "explanation"})
    for kind in ("original", "explanation"):
        g = graphs[kind]
        assert (g["nodes"], g["edges"]) == expected[kind], kind
        assert g["rendered"] == expected[kind][0] and g["canvas"] == 1
        # vis-network came from amx-explore's static folder, one cached copy for both graphs (not inlined)
        assert g["vis_src"] == f"{base}/app/static/{VIS_JS}", g["vis_src"]
    page.locator("iframe").first.scroll_into_view_if_needed()
    time.sleep(0.3)
    _shot(page, "image_page")
    (ARTIFACTS / "browser_timings.json").write_text(json.dumps({"image_page_s": round(seconds, 3)}))


def test_named_query_runs_in_the_browser(served):
    url, base, page = served
    open_page(page, base, "page=Queries", text="Named query")
    box = page.get_by_role("combobox", name="Named query")  # pick a query by typing into the select box
    box.click()
    page.keyboard.type("shared_edges")
    page.keyboard.press("Enter")
    page.get_by_text("Columns: src, dst, images, fraction, mean_weight").wait_for()
    wait_idle(page)  # a click while the form is still being redrawn is lost
    page.get_by_role("button", name="Run query").click()
    with open_store(url, read_only=True) as s:
        first_class = s.run("classes")[0]["class"]
        n = len(s.run("shared_edges", cls=first_class))
    page.get_by_text(f"{n} rows", exact=True).wait_for()
    wait_for_graphs(page, {"query"})
    _shot(page, "queries_page")


def test_console_write_is_refused_in_the_browser(served):
    url, base, page = served
    with open_store(url, read_only=True) as s:
        before = s.stats()
    open_page(page, base, "page=Queries", text="Cypher console")
    area = page.get_by_label("Cypher", exact=True)
    area.fill("MATCH (k:Class) DETACH DELETE k")
    area.press("Control+Enter")
    page.get_by_role("button", name="Run read-only").click()
    from explorer.console import Refused, check

    with pytest.raises(Refused) as refused:
        check("MATCH (k:Class) DETACH DELETE k")
    # st.error renders Markdown: the back-quoted `DETACH` shows as code, without its back-quotes
    page.get_by_text(str(refused.value).split(". The console")[0].replace("`", "")).wait_for()
    page.get_by_text("Refused").first.scroll_into_view_if_needed()
    _shot(page, "console_refusal")
    with open_store(url, read_only=True) as s:
        assert s.stats() == before


def test_class_attribution_graph_and_compare_page_draw_in_the_browser(served):
    url, base, page = served
    from explorer import data

    with open_store(url, read_only=True) as s:
        edges, _ = data.class_attribution_graph(s.run, "tabby", "explanation", min_fraction=0.5)
        apart = [s.run("compare_classes", cls_a=x, cls_b=y, kind="explanation", min_fraction=0.5, max_fraction=0.1)
                 for x, y in (("tabby", "cheetah"), ("cheetah", "tabby"))]
    open_page(page, base, "page=Class&cls=tabby&support=0.5&view=Distinctive", graphs={"attribution"},
              text="Distinctive channels")
    g = wait_for_graphs(page, {"attribution"})["attribution"]
    assert g["edges"] == len(edges) > 0 and g["nodes"] == len({c for e in edges for c in (e["src"], e["dst"])})
    assert g["rendered"] == g["nodes"] and g["canvas"] == 1
    _shot(page, "class_distinctive")
    names = {"separates_a", "separates_b", "class_a", "class_b"}
    open_page(page, base, "page=Compare&cls=tabby&b=cheetah&support=0.5", graphs=names, text="Difference")
    drawn = wait_for_graphs(page, names)
    for name, rows in zip(("separates_a", "separates_b"), apart, strict=True):
        assert drawn[name]["edges"] == len(rows) > 0, name
    page.get_by_text("What separates tabby from cheetah").scroll_into_view_if_needed()
    _shot(page, "compare_page")


NODE_POINT = """(id) => {
  const p = network.getPositions([id])[id];
  const d = network.canvasToDOM(p);
  const r = document.getElementById('mynetwork').getBoundingClientRect();
  return {x: r.left + d.x, y: r.top + d.y};
}"""


def test_a_class_page_node_shows_its_examples_on_hover_and_opens_its_channel_page(served):
    """The channel atlas in the browser: hovering a node of the class attribution graph shows its example
    thumbnails; clicking it opens the Channel page, which shows the channel's stored examples."""
    url, base, page = served
    from explorer import data

    with open_store(url, read_only=True) as s:
        edges, sizes = data.class_attribution_graph(s.run, "tabby", "explanation", min_fraction=0.5)
        cid = max(sorted(sizes), key=lambda c: sizes[c])
        examples = s.run("channel_examples", cid=cid, kind="explanation", limit=16)
    assert examples
    open_page(page, base, "page=Class&cls=tabby&support=0.5&view=Distinctive", graphs={"attribution"},
              text="Distinctive channels")
    wait_for_graphs(page, {"attribution"})
    frame_el = page.locator("iframe").first
    frame_el.scroll_into_view_if_needed()
    time.sleep(0.3)
    frame = next(f for f in page.frames if f is not page.main_frame and not f.is_detached()
                 and f.evaluate("() => document.body && document.body.getAttribute('data-graph')") == "attribution")
    box = frame_el.bounding_box()
    at = frame.evaluate(NODE_POINT, cid)
    x, y = box["x"] + at["x"], box["y"] + at["y"]
    page.mouse.move(x - 30, y - 30)
    page.mouse.move(x, y, steps=5)
    frame.locator("div.vis-tooltip img").first.wait_for(state="visible", timeout=10_000)
    assert frame.locator("div.vis-tooltip img").count() == min(3, len(examples))
    _shot(page, "class_node_hover_card")
    with page.context.expect_page() as opened:  # the graph's iframe opens the Channel page in a new tab
        page.mouse.click(x, y)
    channel = opened.value
    channel.wait_for_load_state("domcontentloaded")
    assert "page=Channel" in channel.url and f"cid={cid.replace('#', '%23')}" in channel.url
    assert "cls=tabby" in channel.url
    page, main = channel, page
    page.get_by_text(f"Top examples: where {cid} peaks highest in the store").wait_for()
    wait_idle(page)
    js = ("() => Array.from(document.querySelectorAll('p')).map(e => e.textContent)"
          ".filter(t => /^[\\w ]+ · [0-9.e+-]+ \\(×[0-9.e+-]+\\)$/.test(t))")
    page.wait_for_function(f"() => ({js})().length >= {len(examples)}", timeout=30_000)
    captions = page.evaluate(js)
    assert sorted(captions) == sorted(f"{r['class']} · {r['peak']:.3g} (×{r['peak_ratio']:.2g})" for r in examples)
    assert page.locator("[data-testid='stImage'] img").count() >= len(examples)
    _shot(page, "channel_page")
    page.close()
    assert main.url.startswith(base)  # the Class page stays open where it was
