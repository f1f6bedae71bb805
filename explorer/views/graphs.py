"""Circuit graphs as vis-network pages: layout, node and edge styling, and the HTML that draws them.

Pure functions (no Streamlit, no store), unit-tested on plain data in tests/explorer/test_graphs.py.
Layers run left to right at fixed positions and physics is off, so large circuits stay fast and the same
channel sits at the same place in side-by-side graphs; node size follows activation (or frequency), edge
width follows |weight| (or support), hovering shows details, and what two circuits share is drawn in one
colour. Pages are built with pyvis and need no network: vis-network comes from explorer/static/.
"""

from __future__ import annotations

import functools
import html as html_lib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amx_core.circuit import Circuit, split_cid

SHARED = "#f28e2b"  # what both circuits (or both classes) hold
OWN = "#4e79a7"  # only in this circuit / class
CLASS = "#59a14f"  # class (logit) nodes
EDGE = "#9aa5b1"
NEGATIVE = "#e15759"
X_STEP = 260  # pixels between layers
Y_STEP = 34  # pixels between channels of one layer
GRAPH_HEIGHT = 560

_REMOTE_TAG = re.compile(r"<(link|script)\b[^>]*(?:href|src)=\"https?://[^\"]*\"[^>]*>(?:\s*</script>)?", re.S)
_DATA_LINES = ("nodes = new vis.DataSet(", "edges = new vis.DataSet(")
_EMPTY_HEADING = re.compile(r"<center>\s*<h1>\s*</h1>\s*</center>")


# --------------------------------------------------------------------------------------- layout


def is_number(v: Any) -> bool:
    """A finite int or float (not a bool): what can set a size or width, or be shown as a percentage."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def natural_key(text: str) -> list[Any]:
    """'blocks.10' after 'blocks.2': digits compare as numbers."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def layer_order(layers: Sequence[str] | None, cids: Iterable[str] = ()) -> list[str]:
    """The circuit's tapped layers in model order, then any other layer named by `cids` (natural order)."""
    out = list(dict.fromkeys(layers or ()))
    extra = {split_cid(c)[0] for c in cids} - set(out)
    return out + sorted(extra, key=natural_key)


def layered_positions(layers: Sequence[str], cids: Iterable[tuple[str, float]]) -> dict[str, tuple[float, float]]:
    """Fixed positions: x by layer index (left to right), y by order inside the layer, centred on 0.

    `cids` are (cid, order key) pairs; a smaller key sits higher. A cid appears once even when several
    circuits name it, so the same channel sits at the same place in side-by-side graphs."""
    best: dict[str, float] = {}
    for cid, key in cids:
        best[cid] = min(key, best.get(cid, math.inf))
    by_layer: dict[str, list[str]] = {}
    for cid in best:
        by_layer.setdefault(split_cid(cid)[0], []).append(cid)
    order = layer_order(layers, best)
    pos: dict[str, tuple[float, float]] = {}
    for li, layer in enumerate(order):
        members = sorted(by_layer.get(layer, []), key=lambda c: (best[c], split_cid(c)[1]))
        for k, cid in enumerate(members):
            pos[cid] = (li * X_STEP, (k - (len(members) - 1) / 2) * Y_STEP)
    return pos


def scale(value: float, top: float, lo: float, hi: float) -> float:
    """`value` in [0, top] mapped to [lo, hi] by square root (area-like); 0-safe."""
    if not top or not math.isfinite(value):
        return lo
    return lo + (hi - lo) * math.sqrt(min(1.0, abs(value) / top))


def circuit_positions(circuits: Sequence[Circuit]) -> dict[str, tuple[float, float]]:
    """One layout for several circuits of the same image, class nodes in a last column."""
    layers = layer_order([layer for c in circuits for layer in c.layers], [n.cid for c in circuits for n in c.nodes])
    pos = layered_positions(layers, [(n.cid, n.rank) for c in circuits for n in c.nodes])
    classes = sorted({(x.class_index, x.class_name) for c in circuits for x in c.logit_links})
    for k, (index, _) in enumerate(classes):
        pos[f"class:{index}"] = (len(layers) * X_STEP, (k - (len(classes) - 1) / 2) * Y_STEP * 2)
    return pos


# --------------------------------------------------------------------------------------- graphs


@dataclass(frozen=True)
class GraphSpec:
    """What a graph page draws: vis-network node and edge dicts (plain data, easy to test)."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]


def circuit_graph(circuit: Circuit, *, other: Circuit | None = None,
                  positions: dict[str, tuple[float, float]] | None = None,
                  thumbnails: dict[str, list[bytes]] | None = None) -> GraphSpec:
    """Nodes and edges of one circuit; those also in `other` are coloured SHARED. A channel's hover card
    (`html_title`) shows the patch that drove it on this image (`circuit.patches`) and its `thumbnails`."""
    pos = positions or circuit_positions([circuit] + ([other] if other else []))
    shared_nodes = {n.cid for n in other.nodes} if other else set()
    shared_edges = {(e.src, e.dst) for e in other.edges} if other else set()
    top_act = max((abs(n.activation) for n in circuit.nodes), default=0.0)
    top_w = max([abs(e.weight) for e in circuit.edges] + [abs(x.weight) for x in circuit.logit_links], default=0.0)
    nodes = []
    for n in circuit.nodes:
        shared = n.cid in shared_nodes
        x, y = pos[n.cid]
        nodes.append({
            "id": n.cid, "label": f"{n.channel}", "x": x, "y": y, "size": round(scale(n.activation, top_act, 6, 26), 3),
            "color": SHARED if shared else OWN, "shape": "dot", "physics": False,
            "title": (f"{n.cid}\nlayer {n.layer}, channel {n.channel}\nactivation {n.activation:.4g}\n"
                      f"rank {n.rank} in its layer" + ("\nalso in the other circuit" if shared else "")
                      + (f"\npeak {n.peak:.4g} ({n.peak_ratio:.3g} x its mean) at row {n.peak_row}, col {n.peak_col}"
                         f" of {n.grid_h}x{n.grid_w}" if n.grid_h > 0 else "")),
        })
        nodes[-1]["html_title"] = hover_card(nodes[-1]["title"], here=circuit.patches.get(n.cid),
                                             examples=(thumbnails or {}).get(n.cid, ()))
    for index, name in sorted({(x.class_index, x.class_name) for x in circuit.logit_links}):
        cid = f"class:{index}"
        x, y = pos[cid]
        nodes.append({"id": cid, "label": name, "x": x, "y": y, "size": 18, "color": CLASS, "shape": "box",
                      "physics": False, "title": f"class {name} (index {index})"})
    edges = []
    for e in circuit.edges:
        shared = (e.src, e.dst) in shared_edges
        edges.append(_edge(e.src, e.dst, e.weight, top_w, shared,
                           f"{e.src} → {e.dst}\nweight {e.weight:.4g}" + ("\nalso in the other circuit" if shared else "")))
    for link in circuit.logit_links:
        edges.append(_edge(link.src, f"class:{link.class_index}", link.weight, top_w, False,
                           f"{link.src} → logit {link.class_name}\nweight {link.weight:.4g}"))
    return GraphSpec(nodes, edges)


def _edge(src: str, dst: str, weight: float, top: float, shared: bool, title: str,
          hi: float = 7.0) -> dict[str, Any]:
    color = SHARED if shared else (NEGATIVE if weight < 0 else EDGE)
    return {"from": src, "to": dst, "width": round(scale(weight, top, 0.3, hi), 3), "color": color,
            "dashes": weight < 0, "title": title, "value_weight": weight, "arrows": "to"}


def edge_rows_graph(rows: Sequence[dict[str, Any]], *, layers: Sequence[str] | None = None,
                    weight_key: str | None = None, shared: Iterable[tuple[str, str]] = (),
                    node_sizes: dict[str, float] | None = None, via_key: str | None = None,
                    thumbnails: dict[str, list[bytes]] | None = None) -> GraphSpec:
    """A graph from query rows that are edges (src, dst[, via]): consensus circuits, query results.

    Edge width follows `weight_key` (default: `fraction`, else `images`, else `mean_weight`, else
    `weight`); node size follows `node_sizes` (e.g. channel frequency) or the node's degree."""
    rows = [r for r in rows if r.get("src") is not None and r.get("dst") is not None]
    if via_key is None and rows and "via" in rows[0]:
        via_key = "via"
    pairs: list[tuple[str, str, dict[str, Any]]] = []
    for r in rows:
        if via_key and r.get(via_key) is not None:
            pairs += [(str(r["src"]), str(r[via_key]), r), (str(r[via_key]), str(r["dst"]), r)]
        else:
            pairs.append((str(r["src"]), str(r["dst"]), r))
    if weight_key is None:
        weight_key = next((k for k in ("fraction", "images", "mean_weight", "weight")
                           if rows and isinstance(rows[0].get(k), (int, float))), None)
    cids = list(dict.fromkeys(c for s, d, _ in pairs for c in (s, d)))
    channel_cids = [c for c in cids if "#" in c]
    degree: dict[str, int] = {}
    for s, d, _ in pairs:
        degree[s] = degree.get(s, 0) + 1
        degree[d] = degree.get(d, 0) + 1
    sizes = node_sizes or {c: float(degree[c]) for c in cids}
    layers = layer_order(layers, channel_cids)
    pos = layered_positions(layers, [(c, -sizes.get(c, 0.0)) for c in channel_cids])
    others = [c for c in cids if c not in pos]
    for k, c in enumerate(others):
        pos[c] = (len(layers) * X_STEP, (k - (len(others) - 1) / 2) * Y_STEP * 2)
    top_size = 1.0 if node_sizes and all(0 <= v <= 1 for v in sizes.values()) else \
        max((abs(v) for v in sizes.values()), default=0.0)  # fractions are drawn on an absolute scale
    nodes = []
    for c in cids:
        x, y = pos[c]
        layer, channel = split_cid(c) if "#" in c else ("", c)
        nodes.append({"id": c, "label": str(channel), "x": x, "y": y, "shape": "dot", "physics": False,
                      "size": round(scale(sizes.get(c, 0.0), top_size, 4, 15), 3), "color": OWN,
                      "title": f"{c}" + (f"\nlayer {layer}" if layer else "") +
                               (f"\n{sizes[c]:.4g}" if c in sizes and node_sizes else f"\ndegree {degree[c]}")})
        if "#" in c:  # a channel: a hover card with its examples, a click opens its Channel page
            nodes[-1]["html_title"] = hover_card(nodes[-1]["title"], examples=(thumbnails or {}).get(c, ()))
    shared_set = set(shared)
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    top_w = 1.0 if weight_key == "fraction" else max(
        (abs(float(r[weight_key])) for _, _, r in pairs if weight_key and is_number(r.get(weight_key))), default=0.0)
    for s, d, r in pairs:
        if (s, d) in seen:
            continue
        w = float(r[weight_key]) if weight_key and is_number(r.get(weight_key)) else 1.0
        detail = "\n".join(f"{k} {_fmt(v)}" for k, v in r.items() if k not in ("src", "dst", via_key))
        seen[(s, d)] = _edge(s, d, w, top_w or 1.0, (s, d) in shared_set, f"{s} → {d}\n{detail}".rstrip(),
                             hi=4.0)
    for n in nodes:
        if shared_set and any(n["id"] in pair for pair in shared_set & set(seen)):
            n["color"] = SHARED
    return GraphSpec(nodes, list(seen.values()))


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


THUMB = 56  # pixels: a thumbnail in a hover card
CLICK_HINT = "click the node: its Channel page"


def thumbnail_tags(patches: Sequence[bytes], size: int = THUMB) -> str:
    """<img> tags with the JPEG patches inline (data: URLs), for a hover card."""
    import base64

    return "".join(f'<img src="data:image/jpeg;base64,{base64.b64encode(p).decode("ascii")}" width="{size}" '
                   f'height="{size}" style="margin:1px">' for p in patches if p)


def hover_card(title: str, *, here: bytes | None = None, examples: Sequence[bytes] = ()) -> str:
    """A node's hover card as HTML: its text (escaped), the patch that drove it on this image, its strongest
    examples across the store, and how to open its Channel page."""
    lines = [html_lib.escape(line) for line in title.split("\n")]
    out = f'<div style="font:12px sans-serif;max-width:260px">{"<br>".join(lines)}'
    if here:
        out += f'<div style="margin-top:4px">here:<br>{thumbnail_tags([here])}</div>'
    if examples:
        out += f'<div style="margin-top:4px">top examples in the store:<br>{thumbnail_tags(examples)}</div>'
    return out + f'<div style="margin-top:4px;color:#666">{CLICK_HINT}</div></div>'


VIS_OPTIONS = {
    "physics": {"enabled": False},
    "layout": {"improvedLayout": False},
    "edges": {"smooth": False, "arrows": {"to": {"enabled": True, "scaleFactor": 0.5}}},
    "nodes": {"font": {"size": 12}, "borderWidth": 1},
    "interaction": {"hover": True, "tooltipDelay": 80, "dragNodes": True, "navigationButtons": False},
}


STATIC = Path(__file__).resolve().parents[1] / "static"  # explorer/static/, served at /app/static by Streamlit
# vis-network 9.1.2 exactly as pyvis 0.3.2 ships it (pyvis/templates/lib/vis-9.1.2; Apache-2.0 or MIT)
VIS_JS = "vis-network-9.1.2.min.js"
VIS_CSS = "vis-network-9.1.2.css"


@functools.cache
def _static_text(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


@functools.cache
def _pyvis_templates(folder: str) -> Any:
    from jinja2 import Environment, FileSystemLoader

    return Environment(loader=FileSystemLoader(folder))


def _vis_tags(assets: str | None) -> str:
    """vis-network for a graph page: linked from `assets` (a URL folder serving explorer/static/), or inlined."""
    if assets is None:
        return f"<style>{_static_text(VIS_CSS)}</style>\n<script>{_static_text(VIS_JS)}</script>\n"
    base = html_lib.escape(assets.rstrip("/"), quote=True)
    return f'<link rel="stylesheet" href="{base}/{VIS_CSS}">\n<script src="{base}/{VIS_JS}"></script>\n'


def graph_html(spec: GraphSpec, *, height: int = GRAPH_HEIGHT, name: str = "graph",
               assets: str | None = None, link: dict[str, str] | None = None) -> str:
    """A vis-network page drawn by pyvis, with no network access needed.

    With `assets=None` the page is self-contained (vis-network inlined). With `assets` a URL folder that
    serves explorer/static/ (the app passes `/app/static`), the page links the library there instead, so
    the browser fetches and compiles it once for every graph and each page is a fraction of the size.
    When drawn, the page marks
    `<body data-drawn="NODES" data-edges="EDGES" data-graph="name">`, which the browser test and bench read.
    A node's `html_title` becomes its hover card (vis-network shows a string title as text, an element as
    HTML); clicking a channel node opens its Channel page (?page=Channel&cid=...&`link`) in a new tab (the graph's
    iframe may open pop-ups, not navigate the app's window)."""
    from pyvis.network import Network

    net = Network(height=f"{height}px", width="100%", directed=True, cdn_resources="remote")
    net.templateEnv = _pyvis_templates(net.template_dir)  # compile pyvis's page template once, not per graph
    for n in spec.nodes:
        n = dict(n)
        net.add_node(n.pop("id"), **n)
    for e in spec.edges:
        e = {k: v for k, v in e.items() if k != "value_weight"}
        net.add_edge(e.pop("from"), e.pop("to"), **e)
    net.set_options(json.dumps(VIS_OPTIONS))
    html = net.generate_html(notebook=False)
    # data from the store goes into a <script>: escape '<' so no label can close the script element
    html = "\n".join(line.replace("<", "\\u003c") if line.lstrip().startswith(_DATA_LINES) else line
                      for line in html.split("\n"))
    # pyvis links vis-network and bootstrap from CDNs: drop them (offline; the graph needs no bootstrap)
    html = _EMPTY_HEADING.sub("", _REMOTE_TAG.sub("", html))
    marker = (
        "drawGraph();\n"
        + _CARDS_JS.replace("__LINK__", json.dumps(link or {}).replace("<", "\\u003c"))  # no '</script>' in it
        +
        "              network.once('afterDrawing', function () {\n"
        f"                document.body.setAttribute('data-graph', {json.dumps(name)});\n"
        "                document.body.setAttribute('data-edges', String(edges.length));\n"
        "                document.body.setAttribute('data-drawn', String(nodes.length));\n"
        "              });\n"
        "              network.redraw();\n"
    )
    if "drawGraph();\n" not in html or "</head>" not in html:
        raise RuntimeError("pyvis page layout changed: drawGraph() call or </head> not found")
    head, tail = html.rsplit("drawGraph();\n", 1)
    html = head + marker + tail
    # the local vis-network goes at the end of the head, before the body's drawing script
    head, tail = html.split("</head>", 1)
    return head + _vis_tags(assets) + "</head>" + tail


_CARDS_JS = """
              var cards = [];
              nodes.get().forEach(function (n) {
                if (n.html_title) {
                  var card = document.createElement('div');
                  card.innerHTML = n.html_title;
                  cards.push({id: n.id, title: card});
                }
              });
              if (cards.length) { nodes.update(cards); }  // one update: one redraw
              network.on('click', function (p) {
                if (!p.nodes.length || String(p.nodes[0]).indexOf('#') < 0) { return; }
                var u = new URL(document.baseURI);
                var q = new URLSearchParams(__LINK__);
                q.set('page', 'Channel');
                q.set('cid', String(p.nodes[0]));
                u.search = '?' + q.toString();
                u.hash = '';
                document.body.setAttribute('data-clicked', String(p.nodes[0]));
                window.open(u.toString(), '_blank');
              });
"""


def channel_sizes(freq_rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """channel_frequency rows → node sizes for `edge_rows_graph` (the fraction of images keeping the channel)."""
    return {r["cid"]: float(r["fraction"]) for r in freq_rows}


def shared_parts(a: Circuit, b: Circuit) -> dict[str, int]:
    """How many channels and edges two circuits share (and how many each has): the counts behind
    the SHARED colour, which `edge_jaccard` / `node_jaccard` (amx_core.circuit) turn into ratios."""
    na, nb = {n.cid for n in a.nodes}, {n.cid for n in b.nodes}
    ea, eb = {(e.src, e.dst) for e in a.edges}, {(e.src, e.dst) for e in b.edges}
    return {"nodes_a": len(na), "nodes_b": len(nb), "shared_nodes": len(na & nb),
            "edges_a": len(ea), "edges_b": len(eb), "shared_edges": len(ea & eb)}


def circuit_pages(circuits: dict[str, Circuit | None], assets: str | None = None,
                  thumbnails: dict[str, dict[str, list[bytes]]] | None = None) -> dict[str, Any]:
    """An image's two circuits ({"original": …, "explanation": …}, either may be None) drawn on one layout,
    what they share highlighted: {kind: {"html", "nodes", "edges", "channels"} or None, "shared": counts
    from `shared_parts` or None}. `assets` as in `graph_html`."""
    present = [c for c in circuits.values() if c is not None]
    pos = circuit_positions(present) if present else {}
    out: dict[str, Any] = {"shared": None}
    for kind, other in (("original", "explanation"), ("explanation", "original")):
        c = circuits.get(kind)
        if c is None:
            out[kind] = None
            continue
        spec = circuit_graph(c, other=circuits.get(other), positions=pos, thumbnails=(thumbnails or {}).get(kind))
        out[kind] = {"html": graph_html(spec, name=kind, assets=assets), "nodes": len(spec.nodes),
                     "edges": len(spec.edges), "channels": len(c.nodes)}
    if circuits.get("original") is not None and circuits.get("explanation") is not None:
        out["shared"] = shared_parts(circuits["original"], circuits["explanation"])
    return out
