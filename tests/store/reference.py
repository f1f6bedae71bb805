"""networkx reference answers for every named query, computed from the circuits themselves.

Each method mirrors one `cypher/queries/*.cypher` file: same parameters, same columns, same order
(ties broken the same way), so a store's rows must equal these rows.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from statistics import fmean

import networkx as nx

from amx_core.circuit import Circuit, ImageRecord


def _flow(g: nx.DiGraph):
    return [(u, v, d["weight"]) for u, v, d in g.edges(data=True) if d["rel"] == "FLOW"]


def _top(rows: list[dict], key, limit: int | None) -> list[dict]:
    rows = sorted(rows, key=key)
    return rows if limit is None else rows[:limit]


class Reference:
    def __init__(self, data: list[tuple[ImageRecord, list[Circuit]]]) -> None:
        self.images = {rec.id: rec for rec, _ in data}
        self.circuits = {(c.image_id, c.kind): c for _, cs in data for c in cs}
        self.graphs = {key: c.to_networkx() for key, c in self.circuits.items()}
        self.class_index: dict[str, int] = {}
        for rec, cs in data:
            self.class_index.setdefault(rec.class_name, rec.class_index)
            for c in cs:
                for link in c.logit_links:
                    self.class_index.setdefault(link.class_name, link.class_index)

    def _counted(self, img: str, include_unrecognised: bool) -> bool:
        """Class questions count an image unless the model does not recognise its class (and not asked to)."""
        return include_unrecognised or self.images[img].recognised

    def _of(self, cls: str, kind: str, include_unrecognised: bool = False) -> list[nx.DiGraph]:
        return [g for (img, k), g in self.graphs.items()
                if k == kind and self.images[img].class_name == cls and self._counted(img, include_unrecognised)]

    def classes(self):
        groups = defaultdict(list)
        for rec in self.images.values():
            groups[rec.class_name].append(rec)
        rows = [{"class": k, "class_index": self.class_index[k], "images": len(v),
                 "agreeing": sum(r.agrees for r in v)} for k, v in groups.items()]
        return _top(rows, lambda r: (-r["images"], r["class"]), None)

    def class_images(self, cls, limit=1000):
        rows = [{"image_id": r.id, "path": r.path, "predicted": r.predicted, "confidence": r.confidence,
                 "agrees": r.agrees, "target_rank": r.target_rank, "status": r.status}
                for r in self.images.values() if r.class_name == cls]
        return _top(rows, lambda r: (-r["confidence"], r["image_id"]), limit)

    def class_status(self, cls):
        counts = Counter(("1st" if r.target_rank == 1 else "2nd-5th" if r.target_rank <= 5 else "lower", r.status)
                         for r in self.images.values() if r.class_name == cls)
        rows = [{"rank_band": band, "status": status, "images": n} for (band, status), n in counts.items()]
        return _top(rows, lambda r: (r["rank_band"], r["status"]), None)

    def image_summary(self, image_id):
        rows = [{"kind": c.kind, "model": c.model, "config": c.config_hash, "layers": list(c.layers),
                 "n_nodes": len(c.nodes), "n_edges": len(c.edges), "mask_area": c.metrics.get("mask_area"),
                 "confidence": c.metrics.get("confidence"), "metrics": json.dumps(c.metrics, sort_keys=True)}
                for (img, _), c in self.circuits.items() if img == image_id]
        return _top(rows, lambda r: r["kind"], None)

    def image_circuit(self, image_id, kind="explanation"):
        g = self.graphs.get((image_id, kind))
        if g is None:
            return []
        rows = [{"src": u, "dst": v, "src_layer": g.nodes[u]["layer"], "dst_layer": g.nodes[v]["layer"],
                 "weight": w} for u, v, w in _flow(g)]
        return _top(rows, lambda r: (-r["weight"], r["src"], r["dst"]), None)

    def image_nodes(self, image_id, kind="explanation"):
        g = self.graphs.get((image_id, kind))
        if g is None:
            return []
        rows = [{"cid": n, "layer": d["layer"], "channel": d["channel"], "activation": d["activation"],
                 "rank": d["rank"]} for n, d in g.nodes(data=True) if d["node_type"] == "channel"]
        return _top(rows, lambda r: (r["layer"], r["rank"], r["cid"]), None)

    def image_logits(self, image_id, kind="explanation"):
        g = self.graphs.get((image_id, kind))
        if g is None:
            return []
        rows = [{"src": u, "class": g.nodes[v]["class_name"], "class_index": g.nodes[v]["class_index"],
                 "weight": d["weight"]} for u, v, d in g.edges(data=True) if d["rel"] == "LOGIT"]
        return _top(rows, lambda r: (-r["weight"], r["src"], r["class"]), None)

    def _edge_counts(self, cls, kind, include_unrecognised=False):
        weights = defaultdict(list)
        for g in self._of(cls, kind, include_unrecognised):
            for u, v, w in _flow(g):
                weights[(u, v)].append(w)
        return weights

    def shared_edges(self, cls, kind="explanation", min_fraction=0.5, limit=100, include_unrecognised=False):
        total = len(self._of(cls, kind, include_unrecognised))
        rows = [{"src": u, "dst": v, "images": len(ws), "fraction": len(ws) / total, "mean_weight": fmean(ws)}
                for (u, v), ws in self._edge_counts(cls, kind, include_unrecognised).items()
                if len(ws) >= min_fraction * total]
        return _top(rows, lambda r: (-r["images"], -r["mean_weight"], r["src"], r["dst"]), limit)

    def channel_frequency(self, cls, kind="explanation", min_fraction=0.0, limit=500, include_unrecognised=False):
        graphs = self._of(cls, kind, include_unrecognised)
        acts = defaultdict(list)
        for g in graphs:
            for n, d in g.nodes(data=True):
                if d["node_type"] == "channel":
                    acts[(d["layer"], n)].append(d["activation"])
        rows = [{"layer": layer, "cid": cid, "images": len(a), "fraction": len(a) / len(graphs),
                 "mean_activation": fmean(a)} for (layer, cid), a in acts.items() if len(a) >= min_fraction * len(graphs)]
        return _top(rows, lambda r: (r["layer"], -r["images"], r["cid"]), limit)

    def compare_classes(self, cls_a, cls_b, kind="explanation", min_fraction=0.5, max_fraction=0.1, limit=100,
                        include_unrecognised=False):
        """Edges that cls_a holds (at least once) in at least min_fraction of its circuits, and that cls_b
        holds in at most max_fraction of its."""
        inc = include_unrecognised
        total_a, total_b = len(self._of(cls_a, kind, inc)), len(self._of(cls_b, kind, inc))
        if not total_a or not total_b:
            return []
        a, b = self._edge_counts(cls_a, kind, inc), self._edge_counts(cls_b, kind, inc)
        rows = []
        for key in a:
            n_a, n_b = len(a.get(key, [])), len(b.get(key, []))
            if n_a >= min_fraction * total_a and n_b <= max_fraction * total_b:
                rows.append({"src": key[0], "dst": key[1], "images_a": n_a, "images_b": n_b,
                             "fraction_a": n_a / total_a, "fraction_b": n_b / total_b,
                             "mean_weight_a": fmean(a[key]) if n_a else None})
        return _top(rows, lambda r: (-(r["fraction_a"] - r["fraction_b"]), -(r["mean_weight_a"] or 0.0),
                                     r["src"], r["dst"]), limit)

    def channel_images(self, cid, kind="explanation", limit=50):
        rows = []
        for (img, k), g in self.graphs.items():
            if k == kind and cid in g:
                rec = self.images[img]
                rows.append({"image_id": img, "class": rec.class_name, "path": rec.path,
                             "activation": g.nodes[cid]["activation"], "rank": g.nodes[cid]["rank"]})
        return _top(rows, lambda r: (-r["activation"], r["image_id"]), limit)

    def image_patches(self, image_id, kind="explanation"):
        c = self.circuits.get((image_id, kind))
        if c is None:
            return []
        rows = [{"cid": n.cid, "peak": n.peak, "peak_ratio": n.peak_ratio, "peak_row": n.peak_row,
                 "peak_col": n.peak_col, "grid_h": n.grid_h, "grid_w": n.grid_w, "patch_jpeg": c.patches.get(n.cid)}
                for n in c.nodes if n.grid_h > 0]
        return _top(rows, lambda r: r["cid"], None)

    def channel_examples(self, cid, model="", kind="explanation", cls="", limit=16):
        rows = []
        for (img, k), c in self.circuits.items():
            rec = self.images[img]
            if k != kind or (model and c.model != model) or (cls and rec.class_name != cls) or cid not in c.patches:
                continue
            n = next(n for n in c.nodes if n.cid == cid)
            rows.append({"image_id": img, "class": rec.class_name, "model": c.model, "peak": n.peak,
                         "activation": n.activation, "peak_ratio": n.peak_ratio, "peak_row": n.peak_row, "peak_col": n.peak_col,
                         "grid_h": n.grid_h, "grid_w": n.grid_w, "patch_jpeg": c.patches[cid]})
        return _top(rows, lambda r: (-r["peak"], -r["activation"], r["image_id"]), limit)

    def channel_classes(self, cid, kind="explanation", min_fraction=0.0, prior=0.5, limit=20):
        """Per class holding the channel: its support there against every other class's circuits of this
        kind, smoothed log-odds as in distinctive_channels; mean activation and mean recorded peak."""
        total = sum(1 for (_, k) in self.circuits if k == kind)
        per_class, held = Counter(), defaultdict(list)
        for (img, k), c in self.circuits.items():
            if k != kind:
                continue
            cls = self.images[img].class_name
            per_class[cls] += 1
            held[cls] += [n for n in c.nodes if n.cid == cid]
        n_all = sum(len(v) for v in held.values())
        rows = []
        for cls, nodes in held.items():
            if not nodes:
                continue
            n_in, total_in = len(nodes), per_class[cls]
            n_out, total_out = n_all - n_in, total - total_in
            if n_in < min_fraction * total_in:
                continue
            a, b, c, d = n_in + prior, total_in - n_in + prior, n_out + prior, total_out - n_out + prior
            log_odds = 2.302585092994046 * (math.log10(a / b) - math.log10(c / d))
            peaks = [n.peak for n in nodes if n.grid_h > 0]
            rows.append({"class": cls, "images": n_in, "images_elsewhere": n_out, "support": n_in / total_in,
                         "support_elsewhere": n_out / total_out if total_out else 0.0,
                         "lift": (a / (a + b)) / (c / (c + d)), "log_odds": log_odds,
                         "z": log_odds / math.sqrt(1 / a + 1 / b + 1 / c + 1 / d),
                         "mean_activation": fmean(n.activation for n in nodes),
                         "mean_peak": fmean(peaks) if peaks else None})
        return _top(rows, lambda r: (-round(r["log_odds"], 9), -r["images"], r["class"]), limit)

    def _paths(self, graphs, via=None):
        out = defaultdict(list)
        for g in graphs:
            flow = nx.DiGraph((u, v, {"weight": w}) for u, v, w in _flow(g))
            for b in flow.nodes if via is None else ([via] if via in flow else []):
                for a in flow.predecessors(b):
                    for d in flow.successors(b):
                        out[(a, b, d)].append(flow[a][b]["weight"] * flow[b][d]["weight"])
        return out

    def channel_pathways(self, cid, cls, kind="explanation", limit=50, include_unrecognised=False):
        graphs = self._of(cls, kind, include_unrecognised)
        rows = [{"src": a, "via": b, "dst": d, "images": len(ws), "fraction": len(ws) / len(graphs),
                 "mean_weight": fmean(ws)} for (a, b, d), ws in self._paths(graphs, via=cid).items()]
        return _top(rows, lambda r: (-r["images"], -r["mean_weight"], r["src"], r["dst"]), limit)

    def frequent_pathways(self, cls, kind="explanation", min_fraction=0.5, limit=100, include_unrecognised=False):
        graphs = self._of(cls, kind, include_unrecognised)
        rows = [{"src": a, "via": b, "dst": d, "images": len(ws), "fraction": len(ws) / len(graphs),
                 "mean_weight": fmean(ws)} for (a, b, d), ws in self._paths(graphs).items()
                if len(ws) >= min_fraction * len(graphs)]
        return _top(rows, lambda r: (-r["images"], -r["mean_weight"], r["src"], r["via"], r["dst"]), limit)

    def _distinctive(self, cls, kind, held, min_fraction, prior, limit, key_columns, extra, include_unrecognised):
        """The distinctive_* queries: `held(graph)` -> {key: value} per circuit; a key's support inside the
        class and in every other class's circuits of this kind, smoothed log-odds, z and lift."""
        inside = self._of(cls, kind, include_unrecognised)
        total = sum(1 for (img, k) in self.graphs if k == kind and self._counted(img, include_unrecognised))
        total_in, total_out = len(inside), total - len(inside)
        if not total_in:
            return []
        values, n_out = defaultdict(list), defaultdict(int)
        for g in inside:
            for key, v in held(g).items():
                values[key].append(v)
        for (img, k), g in self.graphs.items():
            if k == kind and self.images[img].class_name != cls and self._counted(img, include_unrecognised):
                for key in held(g):
                    n_out[key] += 1
        rows = []
        for key, vs in values.items():
            n_in, n_o = len(vs), n_out.get(key, 0)
            if n_in < min_fraction * total_in:
                continue
            a, b, c, d = n_in + prior, total_in - n_in + prior, n_o + prior, total_out - n_o + prior
            log_odds = 2.302585092994046 * (math.log10(a / b) - math.log10(c / d))
            rows.append({**dict(zip(key_columns, key, strict=True)), "images": n_in, "images_elsewhere": n_o,
                         "support": n_in / total_in, "support_elsewhere": n_o / total_out if total_out else 0.0,
                         "lift": (a / (a + b)) / (c / (c + d)), "log_odds": log_odds,
                         "z": log_odds / math.sqrt(1 / a + 1 / b + 1 / c + 1 / d), extra: fmean(vs)})
        # ties in log-odds (equal odds ratios from other counts) are compared at 9 decimals, as the queries do:
        # the backends' log10 may differ in the last bit
        return _top(rows, lambda r: (-round(r["log_odds"], 9), -r["images"], *(r[k] for k in key_columns if k != "layer")),
                    limit)

    def distinctive_edges(self, cls, kind="explanation", min_fraction=0.25, prior=0.5, limit=100,
                          include_unrecognised=False):
        return self._distinctive(cls, kind, lambda g: {(u, v): w for u, v, w in _flow(g)}, min_fraction, prior,
                                 limit, ("src", "dst"), "mean_weight", include_unrecognised)

    def distinctive_channels(self, cls, kind="explanation", min_fraction=0.25, prior=0.5, limit=100,
                             include_unrecognised=False):
        def held(g):
            return {(d["layer"], n): d["activation"] for n, d in g.nodes(data=True) if d["node_type"] == "channel"}
        return self._distinctive(cls, kind, held, min_fraction, prior, limit, ("layer", "cid"), "mean_activation",
                                 include_unrecognised)

    def distinctive_pathways(self, cls, kind="explanation", min_fraction=0.25, prior=0.5, limit=50,
                             include_unrecognised=False):
        def held(g):
            return {key: ws[0] for key, ws in self._paths([g]).items()}
        return self._distinctive(cls, kind, held, min_fraction, prior, limit, ("src", "mid", "dst"), "mean_weight",
                                 include_unrecognised)

    def similar_images(self, image_id, kind="explanation", limit=10):
        """IDF-weighted Jaccard of channel sets: a channel held by df of the n circuits weighs ln(n / df)."""
        held = {img: {(self.circuits[(img, k)].model, n.cid) for n in self.circuits[(img, k)].nodes}
                for (img, k) in self.circuits if k == kind}
        if image_id not in held:
            return []
        df = Counter(ch for chs in held.values() for ch in chs)
        w = {ch: 2.302585092994046 * math.log10(len(held) / d) for ch, d in df.items()}
        c0 = held[image_id]
        w0 = sum(w[ch] for ch in c0)
        rows = []
        for img, chs in held.items():
            if img == image_id or not chs & c0:
                continue
            shared = sum(w[ch] for ch in chs & c0)
            union = w0 + sum(w[ch] for ch in chs) - shared
            rows.append({"image_id": img, "class": self.images[img].class_name, "shared_channels": len(chs & c0),
                         "similarity": shared / union if union > 0 else 0.0})
        return _top(rows, lambda r: (-round(r["similarity"], 9), r["image_id"]), limit)

    def store_stats(self, aggregates: int):
        cs = list(self.circuits.values())
        channels = {(c.model, n.cid) for c in cs for n in c.nodes}
        return [{"classes": len(self.class_index), "images": len(self.images), "circuits": len(cs),
                 "acts": sum(len(c.nodes) for c in cs), "flow_edges": sum(len(c.edges) for c in cs),
                 "logit_links": sum(len(c.logit_links) for c in cs), "channels": len(channels),
                 "aggregates": aggregates}]

    def aggregates(self) -> int:
        """Edge summaries (CLASS_EDGE) after rebuilding every class: one per (class, kind, model, src, dst)."""
        return len({(self.images[c.image_id].class_name, c.kind, c.model, e.src, e.dst)
                    for c in self.circuits.values() for e in c.edges})
