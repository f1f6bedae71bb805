"""Tables, chart rows, the numbers beside an image, and downloads, from query rows and circuits.

Pure functions (no Streamlit, no store), unit-tested on plain data in tests/explorer/test_tables.py:
the app shows their results with st.dataframe, st.bar_chart, st.metric and st.download_button.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from amx_core.circuit import Circuit

from .graphs import is_number, layer_order, natural_key

# --------------------------------------------------------------------------------------- image page


def _get(metrics: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if metrics.get(k) is not None:
            return metrics[k]
    return None


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}%" if is_number(v) else "—"


def _dec(v: Any) -> str:
    return f"{v:.3f}" if is_number(v) else "—"


def image_numbers(record: Any, summaries: Sequence[dict[str, Any]] = ()) -> list[tuple[str, str]]:
    """The numbers shown beside an image: labels, confidences on x and e, mask area, robustness, sufficiency."""
    m = dict(record.metrics or {})
    by_kind = {}
    for s in summaries:
        sm = s.get("metrics")
        if isinstance(sm, str):
            try:
                sm = json.loads(sm)
            except ValueError:
                sm = {}
        by_kind[s.get("kind")] = {**(sm or {}), "mask_area": s.get("mask_area"), "confidence": s.get("confidence")}
    expl, orig = by_kind.get("explanation", {}), by_kind.get("original", {})
    kept = _get(m, "label_kept", "kept_label")
    rank_x, rank_e = getattr(record, "target_rank", 1), getattr(record, "target_rank_e", 1)
    return [
        ("status", str(getattr(record, "status", "kept"))),
        ("class rank x → e", f"{ordinal(rank_x)} → {ordinal(rank_e)}"),
        ("given class", f"{record.class_name} ({record.class_index})"),
        ("predicted on x", f"{record.predicted} ({record.predicted_index})"),
        ("predicted on e", str(m.get("predicted_e_name") or "—")),
        ("confidence on x", _pct(_get(m, "confidence_x") if _get(m, "confidence_x") is not None
                                 else _get(orig, "confidence") if orig else record.confidence)),
        ("confidence on e", _pct(_get(m, "confidence_e") if _get(m, "confidence_e") is not None
                                 else _get(expl, "confidence"))),
        ("mask area", _pct(_get(m, "mask_area") if _get(m, "mask_area") is not None else _get(expl, "mask_area"))),
        ("robustness", _dec(_get(m, "robustness") if _get(m, "robustness") is not None else _get(expl, "robustness"))),
        ("label kept", "—" if kept is None else ("yes" if kept else "no")),
        ("circuit sufficiency (top-1)", _pct(_get(m, "circuit_suff_top1") if _get(m, "circuit_suff_top1") is not None
                                             else _get(expl, "suff_top1"))),
        ("edge Jaccard x vs e", _dec(_get(m, "edge_jaccard"))),
    ]


def picture(data: bytes | None) -> bytes | None:
    """The bytes when they are a decodable image, else None (the app then shows a placeholder)."""
    if not data:
        return None
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            im.verify()
        return bytes(data)
    except Exception:
        return None


STATUS_BADGES = {"not kept": "⚠ not kept", "not recognised": "⊘ not recognised"}  # "kept" needs no badge


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def image_label(row: dict[str, Any]) -> str:
    """Gallery and select-box label of a class_images row: file name, confidence, agreement, and a badge
    when the class is not the model's top-1 (its rank) or the explanation did not keep its evidence."""
    path = str(row.get("path") or row.get("image_id"))
    name = path.rsplit("/", 1)[-1]
    conf = row.get("confidence")
    mark = "" if row.get("agrees", True) else " ✗"
    rank = row.get("target_rank") or 1
    mark += f" · class {ordinal(int(rank))}" if rank != 1 else ""
    badge = STATUS_BADGES.get(row.get("status") or "kept")
    mark += f" · {badge}" if badge else ""
    return f"{name} · {100 * conf:.0f}%{mark}" if is_number(conf) else f"{name}{mark}"


def status_note(record: Any) -> str | None:
    """Why an image's explanation is not an explanation of its class, in words; None when it is."""
    status = getattr(record, "status", "kept")
    rank, p = getattr(record, "target_rank", 1), getattr(record, "target_confidence", None)
    seen = f"the model ranks {record.class_name} {ordinal(rank)} on this photo" + (
        f" (probability {100 * p:.1f}%)" if is_number(p) else "")
    if status == "not recognised":
        return (f"Not recognised: {seen}, so the mask explains nothing about the class; this image is left out "
                "of the class's shared and distinctive questions unless they are asked to include it.")
    if status == "not kept":
        want = ("stay the top-1" if getattr(record, "criterion", "top1") == "top1"
                else "keep its rank and probability")
        return f"Evidence not kept: {seen}, and on the explanation it does not {want}."
    return None


def status_counts(rows: Sequence[dict[str, Any]]) -> str:
    """class_status rows → one line: images by the class's rank on them, and by status."""
    bands, statuses = {}, {}
    for r in rows:
        bands[r["rank_band"]] = bands.get(r["rank_band"], 0) + int(r["images"])
        statuses[r["status"]] = statuses.get(r["status"], 0) + int(r["images"])
    rank = " / ".join(f"{bands.get(b, 0)} {b}" for b in ("1st", "2nd-5th", "lower"))
    status = " / ".join(f"{statuses.get(k, 0)} {k}" for k in ("kept", "not kept", "not recognised"))
    return f"class ranked by the model: {rank} · status: {status}"


def image_labels(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """image_id → `image_label` for class_images rows, in row order."""
    return {r["image_id"]: image_label(r) for r in rows}


# --------------------------------------------------------------------------------------- class pages


def frequency_chart(rows: Sequence[dict[str, Any]], *, top: int = 12) -> list[dict[str, Any]]:
    """channel_frequency rows → chart rows (layer, channel, fraction), the `top` channels of each layer."""
    out, per_layer = [], {}
    for r in rows:
        n = per_layer.get(r["layer"], 0)
        if n < top:
            out.append({"layer": r["layer"], "channel": r["cid"], "fraction": float(r["fraction"]),
                        "images": int(r["images"])})
            per_layer[r["layer"]] = n + 1
    order = layer_order(None, [r["channel"] for r in out])
    return sorted(out, key=lambda r: (order.index(r["layer"]), -r["fraction"], natural_key(r["channel"])))


def chart_columns(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, list[Any]]:
    """Chart rows as the columns a chart draws: key → values, in row order."""
    return {k: [r[k] for r in rows] for k in keys}


def channels_by_frequency(freq_rows: Sequence[dict[str, Any]]) -> list[str]:
    """The cids of channel_frequency rows, the most frequent first."""
    return [r["cid"] for r in sorted(freq_rows, key=lambda r: -r["fraction"])]


def edges_in_both(rows_a: Sequence[dict[str, Any]], rows_b: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
    """The (src, dst) pairs that both classes' edge rows hold."""
    return {(r["src"], r["dst"]) for r in rows_a} & {(r["src"], r["dst"]) for r in rows_b}


def compare_edges(rows_a: Sequence[dict[str, Any]], rows_b: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Edges of two classes' shared-edge rows, labelled `both`, `only A`, `only B`, A's most frequent first."""
    a = {(r["src"], r["dst"]): r for r in rows_a}
    b = {(r["src"], r["dst"]): r for r in rows_b}
    out = []
    for key in list(a) + [k for k in b if k not in a]:
        ra, rb = a.get(key, {}), b.get(key, {})
        status = "both" if key in a and key in b else ("only A" if key in a else "only B")
        fa, fb = ra.get("fraction", 0.0), rb.get("fraction", 0.0)
        out.append({"src": key[0], "dst": key[1], "status": status, "fraction_a": fa, "fraction_b": fb,
                    "difference": fa - fb})
    return sorted(out, key=lambda r: (-abs(r["difference"]), r["src"], r["dst"]))


# --------------------------------------------------------------------------------------- tables, exports


def cell(value: Any) -> Any:
    """A value a table can show: bytes as their size, lists and maps as JSON, numbers and text as they are."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str, sort_keys=True)
    return value


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> dict[str, list[Any]]:
    """Column-ordered table (column → values), header columns first, then any others the rows carry."""
    cols = list(columns or [])
    for r in rows:
        cols += [k for k in r if k not in cols]
    return {c: [cell(r.get(c)) for r in rows] for c in cols}


def rows_are_edges(rows: Sequence[dict[str, Any]], columns: Sequence[str] = ()) -> bool:
    names = set(columns) | (set(rows[0]) if rows else set())
    return {"src", "dst"} <= names


def rows_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    t = table(rows, columns)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(t))
    for i in range(len(rows)):
        w.writerow([t[c][i] for c in t])
    return buf.getvalue()


def circuit_graphml(circuit: Circuit) -> str:
    """The circuit as GraphML (networkx), class nodes included."""
    import networkx as nx

    return "\n".join(nx.generate_graphml(circuit.to_networkx())) + "\n"


def circuit_json(circuit: Circuit) -> str:
    return json.dumps(circuit.to_dict(), sort_keys=True, indent=1)


def export_stem(label: str, kind: str) -> str:
    """Download file name (no suffix) of a circuit: the image's file stem from its `image_label`, and the kind."""
    return f"{Path(label.split(' ')[0]).stem}_{kind}"
