"""The AMX Circuits explorer (Streamlit). Start it with `amx-explore [--store URL]`.

This file only lays out: data comes from named queries through explorer/cache.py (cached) and
explorer/data.py, graphs from explorer/views/graphs.py, tables, numbers and downloads from
explorer/views/tables.py, the console's read-only guard from explorer/console.py. The store is opened
read-only, from `AMX_STORE` (set by amx-explore) or the default embedded store.
"""

from __future__ import annotations

import os
from typing import Any

import streamlit as st
import streamlit.components.v1 as components

from amx_core.errors import StoreError
from cypher import default_store_url
from explorer import cache, console, data
from explorer.address import fill_hint, missing_embedded, redact
from explorer.views import graphs, tables

PAGES = ("Image", "Class", "Channel", "Compare", "Queries", "Exports")
KINDS = ("explanation", "original")
GALLERY_PAGE = 12
CONSOLE_ROWS = 1000
CONSOLE_EXAMPLE = "MATCH (i:Image) RETURN i.class AS class, count(*) AS images ORDER BY images DESC"
VIEWS = ("Shared", "Distinctive")  # the Class page's two views
ATTRIBUTION_PER_LAYER = 5  # the class attribution graph: most distinctive channels drawn per layer ...
ATTRIBUTION_MAX_EDGES = 40  # ... and at most this many edges between them (a readable graph)
TABLE_ROWS = 100  # rows shown of a distinctive ranking
EXAMPLES = 16  # the Channel page's top examples
EXAMPLE_COLUMNS = 8
CLASS_EXAMPLES = 6  # the Channel page's images of the current class
HOVER_EXAMPLES = 3  # thumbnails in a graph node's hover card
HOVER_CHANNELS = 20  # graph nodes that get thumbnails (the largest first): one query each on a cold page


# ----------------------------------------------------------------------------------------- helpers


def _from_query_params() -> None:
    """Deep links seed the widgets once per session: ?page=Image&cls=...&image=...,
    ?page=Class&cls=...&support=0.3[&view=Distinctive], ?page=Compare&cls=A&b=B&support=0.5."""
    if st.session_state.get("_seeded"):
        return
    qp = st.query_params
    if qp.get("page") in PAGES:
        st.session_state["page"] = qp["page"]
    if qp.get("cls"):
        st.session_state["img_cls"] = st.session_state["cls_cls"] = st.session_state["cmp_a"] = qp["cls"]
        st.session_state["ch_cls"] = qp["cls"]
    if qp.get("cid"):
        st.session_state["ch_cid"] = qp["cid"]
    if qp.get("kind") in KINDS:
        st.session_state["ch_kind"] = st.session_state["cls_kind"] = qp["kind"]
    if qp.get("b"):
        st.session_state["cmp_b"] = qp["b"]
    if qp.get("view") in VIEWS:
        st.session_state["cls_view"] = qp["view"]
    try:
        support = float(qp.get("support", "nan"))
    except ValueError:
        support = float("nan")
    if 0.0 <= support <= 1.0:
        st.session_state["cls_support"] = st.session_state["cmp_support"] = round(support * 20) / 20
    if qp.get("image"):
        st.session_state["image_id"] = st.session_state["current_image"] = qp["image"]
    st.session_state["_seeded"] = True


def _table(rows: list[dict[str, Any]], columns: Any = None, *, key: str | None = None) -> None:
    if rows:
        st.dataframe(tables.table(rows, columns), hide_index=True, key=key)
    else:
        st.caption("No rows.")


def _embed(html: str, height: int) -> None:
    """A graph page in an iframe (st.iframe where this Streamlit has it)."""
    if hasattr(st, "iframe"):
        st.iframe(html, height=height)
    else:  # Streamlit < 1.50
        components.html(html, height=height)


def vis_assets() -> str | None:
    """Where the browser fetches vis-network: explorer/static/ as Streamlit serves it (`amx-explore` turns on
    server.enableStaticServing), so every graph page links one cached copy. None (inline the library in each
    graph page) where static serving is off, e.g. a plain `streamlit run explorer/app.py`."""
    if not st.get_option("server.enableStaticServing"):
        return None
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return "/" + "/".join(p for p in (base, "app", "static") if p)


def _graph(spec: graphs.GraphSpec, name: str, height: int = graphs.GRAPH_HEIGHT,
           link: dict[str, str] | None = None) -> None:
    if not spec.nodes:
        st.caption("Nothing to draw at this setting.")
        return
    _embed(graphs.graph_html(spec, height=height, name=name, assets=vis_assets(), link=link), height + 16)


def _thumbnails(run: Any, edges: list[dict[str, Any]], sizes: dict[str, float], kind: str) -> dict[str, list[bytes]]:
    """Hover-card thumbnails (the channel atlas's top examples) for the channels of an edge graph, the
    HOVER_CHANNELS largest; one cached `channel_examples` query per channel."""
    cids = list(dict.fromkeys(c for r in edges for c in (r.get("src"), r.get("dst")) if c and "#" in str(c)))
    cids.sort(key=lambda c: -sizes.get(c, 0.0))
    return data.channel_thumbnails(run, cids[:HOVER_CHANNELS], kind, HOVER_EXAMPLES)


def _class_select(classes: list[dict[str, Any]], label: str, key: str, default: int = 0) -> str:
    names = [c["class"] for c in classes]
    counts = {c["class"]: c["images"] for c in classes}
    if st.session_state.get(key) not in names:
        st.session_state[key] = names[min(default, len(names) - 1)]
    return st.selectbox(label, names, key=key, format_func=lambda c: f"{c} ({counts[c]} images)")


def _picture(data_: bytes, caption: str) -> None:
    pic = tables.picture(data_)
    if pic is None:
        st.caption(f"{caption}: no picture stored")
    else:
        st.image(pic, caption=caption, width=300)


def _select_image(image_id: str) -> None:
    st.session_state["image_id"] = st.session_state["current_image"] = image_id


def _keep_image(ids: list[str]) -> None:
    """The image chosen on another page (or by a deep link) stays chosen when it is in this class."""
    if st.session_state.get("image_id") not in ids:
        current = st.session_state.get("current_image")
        st.session_state["image_id"] = current if current in ids else ids[0]


# ----------------------------------------------------------------------------------------- pages


def image_page(url: str, run: Any, classes: list[dict[str, Any]]) -> None:
    st.header("Image")
    cls = _class_select(classes, "Class", "img_cls")
    images = run("class_images", cls=cls, limit=1000)
    if not images:
        st.info(f"Class {cls} has no images.")
        return
    labels = tables.image_labels(images)
    ids = list(labels)
    _keep_image(ids)

    with st.expander(f"Gallery ({len(ids)} images)", expanded=True):
        pages = max(1, -(-len(ids) // GALLERY_PAGE))
        page = st.number_input("Gallery page", 1, pages, 1, key="gallery_page") if pages > 1 else 1
        shown = ids[(page - 1) * GALLERY_PAGE: page * GALLERY_PAGE]
        cols = st.columns(6)
        for k, image_id in enumerate(shown):
            with cols[k % 6]:
                rec = cache.get_image(url, image_id)
                pic = tables.picture(rec.original_jpeg) if rec else None
                if pic is not None:
                    st.image(pic, width="stretch")
                st.button(labels[image_id], key=f"open_{image_id}", on_click=_select_image, args=(image_id,),
                          type="primary" if image_id == st.session_state["image_id"] else "secondary")

    image_id = st.selectbox("Image", ids, key="image_id", format_func=lambda i: labels[i])
    st.session_state["current_image"] = image_id
    st.query_params.update(page="Image", cls=cls, image=image_id)
    record = cache.get_image(url, image_id)
    if record is None:
        st.warning("This image is no longer in the store; press Refresh.")
        return
    st.caption(f"{record.path} · id {record.id[:16]}…")
    c1, c2, c3 = st.columns(3)
    with c1:
        _picture(record.original_jpeg, "original x")
    with c2:
        _picture(record.mask_png, "mask")
    with c3:
        _picture(record.explanation_jpeg, "explanation e = mask ⊙ x")
    numbers = tables.image_numbers(record, run("image_summary", image_id=image_id))
    cols = st.columns(6)
    for k, (label, value) in enumerate(numbers):
        cols[k % 6].metric(label, value)
    why = tables.status_note(record)
    if why:
        st.warning(why)

    drawn = cache.image_graphs(url, image_id, vis_assets())
    shared = drawn["shared"]
    if shared:
        st.markdown(f"**Shared by both circuits** (orange): {shared['shared_nodes']} of "
                    f"{shared['nodes_a']}/{shared['nodes_b']} channels, {shared['shared_edges']} of "
                    f"{shared['edges_a']}/{shared['edges_b']} edges. Node size: activation; edge width: |weight|; "
                    "dashed red: negative weight; green boxes: class logits.")
    left, right = st.columns(2)
    for col, kind, title in ((left, "original", "Circuit of the original x"),
                             (right, "explanation", "Circuit of the explanation e")):
        with col:
            st.subheader(title)
            g = drawn[kind]
            if g is None:
                st.caption(f"No {kind} circuit stored for this image.")
                continue
            st.caption(f"{g['channels']} channels, {g['edges']} edges and logit links")
            _embed(g["html"], graphs.GRAPH_HEIGHT + 16)


def class_page(url: str, run: Any, classes: list[dict[str, Any]]) -> None:
    st.header("Class")
    cls = _class_select(classes, "Class", "cls_cls")
    c1, c2, c3 = st.columns([1, 1, 2])
    kind = c1.radio("Circuit kind", KINDS, key="cls_kind", horizontal=True)
    view = c2.radio("Show", VIEWS, key="cls_view", horizontal=True,
                    help="Shared: what most of the class's images hold. Distinctive: what the class holds far "
                         "more often than the rest of the store.")
    support = c3.slider("Support: smallest fraction of the class's images", 0.0, 1.0, 0.5, 0.05, key="cls_support")
    st.caption(tables.status_counts(run("class_status", cls=cls)))
    if st.checkbox("Include images on which the model does not recognise the class", key="cls_unrecognised",
                   help="By default the class questions leave out images whose status is 'not recognised' "
                        "(the model ranks the class below 5th, or gives it under 1%): their masks explain "
                        "nothing about the class."):
        run = data.including_unrecognised(run)
    layers = data.class_layers(run, cls)
    if view == "Distinctive":
        _distinctive_view(run, cls, kind, support, layers, len(classes))
    else:
        _shared_view(run, cls, kind, support, layers)


def _shared_view(run: Any, cls: str, kind: str, support: float, layers: list[str]) -> None:
    edges = data.consensus_edges(run, cls, kind, support)
    freq = run("channel_frequency", cls=cls, kind=kind, min_fraction=0.0, limit=5000)
    st.subheader(f"Consensus circuit: edges in ≥ {support:.0%} of {cls}'s circuits")
    full = " — the display limit; raise the support to see the strongest" if len(edges) >= 300 else ""
    st.caption(f"{len(edges)} edges{full} (from `shared_edges`). Node size: how often the channel is kept; "
               "edge width: share of images holding the edge.")
    sizes = graphs.channel_sizes(freq)
    _graph(graphs.edge_rows_graph(edges, layers=layers, weight_key="fraction", node_sizes=sizes,
                                  thumbnails=_thumbnails(run, edges, sizes, kind)),
           name="consensus", link={"cls": cls, "kind": kind})
    with st.expander("Consensus edges as a table"):
        _table(edges, key="cls_edges")
    st.subheader("Shared two-hop pathways")
    paths_box = st.container()  # filled last: the slowest query here then runs while the browser already
    # draws everything below
    st.subheader("Channel frequency per layer")
    chart = tables.frequency_chart(freq)
    if chart:
        st.bar_chart(tables.chart_columns(chart, ("channel", "fraction", "layer")),
                     x="channel", y="fraction", color="layer", sort=False)
    cids = tables.channels_by_frequency(freq)
    if cids:
        _channel_images(run, cls, kind, cids, ("cls_channel", "cls_only", "cls_channel_images"))
    with paths_box:
        _table(data.frequent_pathways(run, cls, kind, support), key="cls_paths")


def _distinctive_view(run: Any, cls: str, kind: str, support: float, layers: list[str], n_classes: int) -> None:
    """What sets the class apart: its attribution graph, then its channels and edges ranked by log-odds.

    Two queries: `distinctive_channels` (the graph's nodes and the first table: one call, the second is
    answered from the cache) and `shared_edges` (the graph's edges, from the class summary), plus
    `distinctive_edges` (aggregates too) for the edge table; two-hop pathways only on request."""
    if n_classes < 2:
        st.info("The store holds one class: distinctive compares a class with the others; ingest another.")
    edges, sizes = data.class_attribution_graph(run, cls, kind, per_layer=ATTRIBUTION_PER_LAYER,
                                                max_edges=ATTRIBUTION_MAX_EDGES, min_fraction=support)
    st.subheader(f"Class attribution graph: what sets {cls} apart")
    drawn = {c for e in edges for c in (e["src"], e["dst"])}
    st.caption(f"The {ATTRIBUTION_PER_LAYER} most distinctive channels of each layer (kept in ≥ {support:.0%} of "
               f"{cls}'s circuits, more often than elsewhere, ranked by log-odds against the rest of the store: "
               f"{len(sizes)} chosen, {len(drawn)} with an edge drawn) and the strongest consensus edges between them ({len(edges)}, at most "
               f"{ATTRIBUTION_MAX_EDGES}: share of images × mean weight), left to right by layer. Node size: the "
               f"channel's support in {cls}; edge width: share of {cls}'s images holding the edge.")
    _graph(graphs.edge_rows_graph(edges, layers=layers, weight_key="fraction", node_sizes=sizes,
                                  thumbnails=_thumbnails(run, edges, sizes, kind)),
           name="attribution", link={"cls": cls, "kind": kind})
    channels = run("distinctive_channels", cls=cls, kind=kind, min_fraction=support, limit=5000)  # cached
    st.subheader("Distinctive channels")
    st.caption(f"Channels kept in ≥ {support:.0%} of {cls}'s circuits, the most distinctive first: support here "
               "and elsewhere, lift, log-odds ratio (prior 0.5) and its z-score"
               + (f"; the first {TABLE_ROWS} of {len(channels)}" if len(channels) > TABLE_ROWS else "") + ".")
    _table(channels[:TABLE_ROWS], key="cls_dist_channels")
    st.subheader("Distinctive edges")
    _table(run("distinctive_edges", cls=cls, kind=kind, min_fraction=support, limit=TABLE_ROWS), key="cls_dist_edges")
    if st.checkbox("Rank two-hop pathways too (slower: reads every two-hop path of the store)", key="cls_dist_paths"):
        _table(run("distinctive_pathways", cls=cls, kind=kind, min_fraction=support, limit=50),
               key="cls_dist_pathways")
    cids = [r["cid"] for r in channels[:TABLE_ROWS] if r["log_odds"] > 0]
    if cids:
        _channel_images(run, cls, kind, cids, ("cls_dist_channel", "cls_dist_only", "cls_dist_images"))


def _channel_images(run: Any, cls: str, kind: str, cids: list[str], keys: tuple[str, str, str]) -> None:
    """A channel chosen from `cids` and the images whose circuits keep it; `keys`: (select, checkbox, table)."""
    cid = st.selectbox("Images that use channel", cids, key=keys[0])
    only = st.checkbox(f"only {cls}", value=True, key=keys[1])
    _table(data.channel_images(run, cid, kind, cls if only else None), key=keys[2])


def channel_page(url: str, run: Any, classes: list[dict[str, Any]]) -> None:
    """One channel: what it responds to (its strongest example patches across the store), the classes for
    which it is distinctive, its strongest neighbours in a class's consensus, and the images of that class
    where it peaks highest, the peak marked. Opened by clicking a node of any circuit graph."""
    st.header("Channel")
    c1, c2 = st.columns([2, 1])
    cid = c1.text_input("Channel (layer#channel)", key="ch_cid",
                        help="Click a node in any circuit graph to open its channel here.").strip()
    kind = c2.radio("Circuit kind", KINDS, key="ch_kind", horizontal=True)
    if "#" not in cid:
        st.info("Name a channel as layer#channel, or click a node of a circuit graph (Image or Class page).")
        return
    examples = run("channel_examples", cid=cid, kind=kind, limit=EXAMPLES)
    distinct = run("channel_classes", cid=cid, kind=kind, limit=50)
    st.subheader(f"Top examples: where {cid} peaks highest in the store")
    if not examples:
        st.caption(f"No stored example of {cid} in {kind} circuits (no such channel, or stored without the atlas).")
    else:
        st.caption(f"The input patch around the channel's strongest position (its peak cell on the layer's grid, "
                   f"widened), in the {kind} circuits of {len({r['image_id'] for r in examples})} images; caption: "
                   "class · peak (× the channel's mean on that image).")
        cols = st.columns(EXAMPLE_COLUMNS)
        for k, r in enumerate(examples):
            with cols[k % EXAMPLE_COLUMNS]:
                st.image(r["patch_jpeg"], caption=f"{r['class']} · {r['peak']:.3g} (×{r['peak_ratio']:.2g})",
                         width="stretch")
        vis = _feature_visualisation(examples[0]["model"], cid)
        if vis is not None:
            st.image(vis, caption=f"feature visualisation of {cid} (amx-atlas)", width=160)
    st.subheader("Classes for which it is distinctive")
    st.caption("Share of each class's circuits that keep the channel, against every other class's; log-odds ratio "
               "(prior 0.5) and its z-score, most distinctive first.")
    _table(distinct, key="ch_classes")
    names = [c["class"] for c in classes]
    if not names:
        return
    if st.session_state.get("ch_cls") not in names:
        best = next((r["class"] for r in distinct if r["class"] in names), names[0])
        st.session_state["ch_cls"] = best
    cls = st.selectbox("Class", names, key="ch_cls")
    st.query_params.update(page="Channel", cid=cid, cls=cls, kind=kind)
    up, down = data.channel_neighbours(run, cid, cls, kind)
    st.subheader(f"Strongest neighbours in {cls}'s consensus")
    st.caption(f"Edges into and out of {cid} held by {cls}'s {kind} circuits: share of images × mean weight.")
    left, right = st.columns(2)
    with left:
        st.markdown("**Upstream** (into it)")
        _table(up, ("src", "images", "fraction", "mean_weight"), key="ch_up")
    with right:
        st.markdown("**Downstream** (out of it)")
        _table(down, ("dst", "images", "fraction", "mean_weight"), key="ch_down")
    st.subheader(f"Images of {cls} where it fires most")
    rows = run("channel_examples", cid=cid, kind=kind, cls=cls, limit=CLASS_EXAMPLES)
    if not rows:
        st.caption(f"No {cls} circuit keeps {cid}.")
        return
    st.caption("The photo with the channel's peak marked (the patch around its strongest cell), and the patch.")
    cols = st.columns(min(len(rows), 3) * 2)
    for k, r in enumerate(rows):
        rec = cache.get_image(url, r["image_id"])
        marked = _peak_picture(rec.original_jpeg if rec else b"", r)
        with cols[(2 * k) % len(cols)]:
            if marked:
                st.image(marked, caption=f"{(rec.path if rec else r['image_id']).rsplit('/', 1)[-1]}", width="stretch")
            else:
                st.caption("no picture stored")
        with cols[(2 * k + 1) % len(cols)]:
            st.image(r["patch_jpeg"], caption=f"peak {r['peak']:.3g}", width="stretch")


def _feature_visualisation(model: str, cid: str) -> bytes | None:
    """The channel's feature visualisation where `amx-atlas` cached one on this machine
    ($AMX_ATLAS_DIR or out/atlas, <model>/<layer>/<channel>.png), else None."""
    from pathlib import Path

    from amx_core.circuit import split_cid

    layer, channel = split_cid(cid)
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in model)
    path = Path(os.environ.get("AMX_ATLAS_DIR") or "out/atlas") / safe / layer / f"{channel}.png"
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


def _peak_picture(jpeg: bytes, row: dict[str, Any]) -> bytes | None:
    """The photo with the channel's peak box drawn and the rest dimmed (JPEG), or None without a picture."""
    import io

    from PIL import Image, ImageDraw

    from amx_core.circuit import peak_box

    if not jpeg:
        return None
    try:
        img = Image.open(io.BytesIO(jpeg)).convert("RGB")
    except Exception:
        return None
    box = peak_box(row["peak_row"], row["peak_col"], row["grid_h"], row["grid_w"], img.height, img.width)
    if box is None:
        return None
    top, left, bottom, right = box
    dim = Image.blend(img, Image.new("RGB", img.size, (0, 0, 0)), 0.55)
    dim.paste(img.crop((left, top, right, bottom)), (left, top))
    ImageDraw.Draw(dim).rectangle((left, top, right - 1, bottom - 1), outline=(255, 140, 0), width=2)
    buf = io.BytesIO()
    dim.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def compare_page(url: str, run: Any, classes: list[dict[str, Any]]) -> None:
    st.header("Compare two classes")
    if len(classes) < 2:
        st.info("The store holds one class; ingest another to compare.")
        return
    c1, c2, c3 = st.columns(3)
    with c1:
        a = _class_select(classes, "Class A", "cmp_a", 0)
    with c2:
        b = _class_select(classes, "Class B", "cmp_b", 1)
    kind = c3.radio("Circuit kind", KINDS, key="cmp_kind", horizontal=True)
    s1, s2 = st.columns(2)
    support = s1.slider("Support: smallest fraction of a class's images", 0.0, 1.0, 0.5, 0.05, key="cmp_support")
    max_fraction = s2.slider("Rare: at most this fraction of the other class", 0.0, 1.0, 0.1, 0.05, key="cmp_max")
    layers = data.class_layers(run, a) or data.class_layers(run, b)

    st.subheader(f"What separates {a} from {b}")
    st.caption(f"Edges held by ≥ {support:.0%} of one class's circuits and by ≤ {max_fraction:.0%} of the other's, "
               "the largest difference in support first. Edge width: support in the class that holds it.")
    d1, d2 = st.columns(2)
    for col, x, y, name in ((d1, a, b, "separates_a"), (d2, b, a, "separates_b")):
        rows = run("compare_classes", cls_a=x, cls_b=y, kind=kind, min_fraction=support, max_fraction=max_fraction)
        with col:
            st.markdown(f"**Frequent in {x}, rare in {y}** ({len(rows)} edges)")
            _table(rows, key="cmp_ab" if name == "separates_a" else "cmp_ba")
            _graph(graphs.edge_rows_graph(rows, layers=layers, weight_key="fraction_a"), name=name, height=360)

    st.subheader(f"What {a} and {b} share")
    rows_a = run("shared_edges", cls=a, kind=kind, min_fraction=support, limit=300)
    rows_b = run("shared_edges", cls=b, kind=kind, min_fraction=support, limit=300)
    both = tables.edges_in_both(rows_a, rows_b)
    st.caption(f"Edges in ≥ {support:.0%} of each class's circuits; orange: held by both classes ({len(both)}).")
    left, right = st.columns(2)
    for col, cls, rows, name in ((left, a, rows_a, "class_a"), (right, b, rows_b, "class_b")):
        with col:
            st.markdown(f"**{cls}: {len(rows)} edges**")
            _graph(graphs.edge_rows_graph(rows, layers=layers, weight_key="fraction", shared=both), name=name,
                   height=460)
    st.subheader("Difference")
    st.caption("Every edge either class holds at this support: held by both, or by one only.")
    _table(tables.compare_edges(rows_a, rows_b), key="cmp_diff")


def _param_input(p: dict[str, Any], classes: list[str], prefix: str) -> Any:
    key = f"{prefix}_{p['name']}"
    label = f"{p['name']} ({p['type']}) — {p['help']}"
    default = p.get("default")
    if p["name"] in ("cls", "cls_a", "cls_b") and classes:
        index = 1 if p["name"] == "cls_b" and len(classes) > 1 else 0
        return st.selectbox(label, classes, index=index, key=key)
    if p["name"] == "kind":
        return st.selectbox(label, KINDS, index=KINDS.index(default) if default in KINDS else 0, key=key)
    if p["type"] == "bool":
        return st.checkbox(label, value=bool(default), key=key)
    if p["type"] == "int":
        return int(st.number_input(label, value=int(default or 0), min_value=0, step=1, key=key))
    if p["type"] == "float":
        return float(st.number_input(label, value=float(default or 0.0), step=0.05, format="%.3f", key=key))
    if p["name"] == "image_id":
        default = default or st.session_state.get("current_image", "")
    return st.text_input(label, value=str(default or ""), key=key)


def _query_results(prefix: str, classes: list[str], run: Any):
    """The query form, and the rows of the last submitted query while it stays selected (None otherwise).

    Returns (query header, (name, values) last submitted, rows or None); a store error is shown here."""
    q, values, submitted = _query_form(prefix, classes)
    if submitted:
        st.session_state[f"{prefix}_last"] = (q["name"], values)
    last = st.session_state.get(f"{prefix}_last")
    if not last or last[0] != q["name"]:
        return q, last, None
    try:
        return q, last, run(last[0], **last[1])
    except StoreError as e:
        st.error(str(e))
        return q, last, None


def _query_form(prefix: str, classes: list[str]) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """A named query chosen from the library and its form, built from the query's header."""
    qs = {q["name"]: q for q in cache.queries()}
    name = st.selectbox("Named query", list(qs), key=f"{prefix}_name",
                        format_func=lambda n: f"{n} — {qs[n]['description']}")
    q = qs[name]
    st.caption(f"Columns: {', '.join(q['columns'])}")
    with st.form(f"{prefix}_form_{name}"):
        values = {p["name"]: _param_input(p, classes, f"{prefix}_{name}") for p in q["params"]}
        submitted = st.form_submit_button("Run query")
    return q, values, submitted


def queries_page(url: str, run: Any, classes: list[dict[str, Any]]) -> None:
    st.header("Named queries")
    names = [c["class"] for c in classes]
    q, last, rows = _query_results("q", names, run)
    if rows is not None:
        st.markdown(f"**{len(rows)} rows**")
        _table(rows, q["columns"], key="q_table")
        st.download_button("Download CSV", tables.rows_csv(rows, q["columns"]), file_name=f"{q['name']}.csv",
                           mime="text/csv", key="q_csv")
        if rows and tables.rows_are_edges(rows, q["columns"]):
            layers = data.class_layers(run, last[1]["cls"]) if last[1].get("cls") else None
            _graph(graphs.edge_rows_graph(rows, layers=layers), name="query")

    st.header("Cypher console (read-only)")
    st.caption(f"One reading statement (MATCH, OPTIONAL MATCH, WHERE, WITH, UNWIND, RETURN, ORDER BY, SKIP, LIMIT, "
               f"CALL of a schema listing), on a read-only connection of its own; at most {CONSOLE_ROWS} rows "
               f"and {console.TIMEOUT_S:g} s. Everything else is refused.")
    text = st.text_area("Cypher", value=CONSOLE_EXAMPLE, key="console", height=110)
    if st.button("Run read-only", key="console_run"):
        st.session_state["console_answer"] = (text, _console_answer(url, text))
    last = st.session_state.get("console_answer")
    if not last or last[0] != text:
        return
    answer = last[1]
    if isinstance(answer, str):
        st.error(answer)
        return
    rows = answer.rows
    st.markdown(f"**{len(rows)} rows**" + (f" (the first {CONSOLE_ROWS}; there are more)" if answer.truncated else ""))
    _table(rows, key="console_table")
    if rows and tables.rows_are_edges(rows):
        _graph(graphs.edge_rows_graph(rows), name="console")


def _console_answer(url: str, text: str) -> console.Answer | str:
    """The console statement's rows, or the one line that says why there are none. Run once per click
    (kept in the session, so other widgets' reruns do not run it again)."""
    try:
        return console.run(url, text, max_rows=CONSOLE_ROWS)
    except console.Refused as e:
        return str(e)
    except StoreError as e:
        return console.failure(e)


def exports_page(url: str, run: Any, classes: list[dict[str, Any]]) -> None:
    st.header("Exports")
    st.subheader("A circuit as GraphML or JSON")
    cls = _class_select(classes, "Class", "img_cls")
    images = run("class_images", cls=cls, limit=1000)
    if images:
        labels = tables.image_labels(images)
        ids = list(labels)
        _keep_image(ids)
        image_id = st.selectbox("Image", ids, key="image_id", format_func=lambda i: labels[i])
        kind = st.radio("Circuit kind", KINDS, key="x_kind", horizontal=True)
        circuit = data.load_circuit(run, image_id, kind)
        if circuit is None:
            st.caption(f"No {kind} circuit stored for this image.")
        else:
            stem = tables.export_stem(labels[image_id], kind)
            c1, c2 = st.columns(2)
            c1.download_button("Download GraphML", tables.circuit_graphml(circuit), file_name=f"{stem}.graphml",
                               mime="application/xml", key="x_graphml")
            c2.download_button("Download JSON", tables.circuit_json(circuit), file_name=f"{stem}.json",
                               mime="application/json", key="x_json")
            st.caption(f"{len(circuit.nodes)} channels, {len(circuit.edges)} edges, "
                       f"{len(circuit.logit_links)} logit links")
    st.subheader("Query results as CSV")
    q, _, rows = _query_results("x", [c["class"] for c in classes], run)
    if rows is not None:
        st.download_button(f"Download CSV ({len(rows)} rows)", tables.rows_csv(rows, q["columns"]),
                           file_name=f"{q['name']}.csv", mime="text/csv", key="x_csv")


# ----------------------------------------------------------------------------------------- main


def main() -> None:
    st.set_page_config(page_title="AMX Circuits explorer", layout="wide")
    url = os.environ.get("AMX_STORE") or default_store_url()
    cache.warm_up()
    _from_query_params()
    with st.sidebar:
        st.title("AMX Circuits")
        page = st.radio("Page", PAGES, key="page")
        st.caption(f"Store: `{redact(url)}` (read-only)")
    if missing_embedded(url):
        st.info(fill_hint(url))
        return
    try:
        stats = cache.run_query(url, "store_stats")[0]
    except StoreError as e:
        st.error(f"Cannot reach the store: {e}")
        return
    if not stats.get("images"):
        st.info(fill_hint(url))
        return
    with st.sidebar:
        st.caption(f"{stats['images']} images, {stats['classes']} classes, {stats['circuits']} circuits")
        if st.button("Refresh", help="Reopen the store and read it again: data ingested since show now "
                     f"(they also show by themselves within {cache.STORE_TTL:g} s)"):
            cache.refresh(url)
            st.rerun()
    if page not in ("Image", "Channel"):
        st.query_params.clear()
        st.query_params["page"] = page
    run = cache.runner(url)
    try:
        classes = [c for c in run("classes") if c["images"]]
        if page == "Image":
            image_page(url, run, classes)
        elif page == "Class":
            class_page(url, run, classes)
        elif page == "Channel":
            channel_page(url, run, classes)
        elif page == "Compare":
            compare_page(url, run, classes)
        elif page == "Queries":
            queries_page(url, run, classes)
        else:
            exports_page(url, run, classes)
    except StoreError as e:
        st.error(f"The store did not answer: {e}")


main()
