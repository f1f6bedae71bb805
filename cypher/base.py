"""The store interface and everything about it that does not depend on the backend.

`Store` holds the methods ingest and the explorer call; a backend (`cypher.backends`) supplies only a
transaction, its executor and `close`. `plan_write` turns one image's circuits into checked rows before
any I/O, so a bad circuit is refused with nothing written. This module imports no backend.

One image's circuits are one unit: `write_circuits` replaces all of them (and the image record) in one
transaction, so an interrupted ingest leaves either the old state or the new one, never half. The
per-class summaries (cypher/summaries.py) are rebuilt from the circuits; every write and delete marks the
classes it touches stale in its own transaction and every rebuild clears the mark in its own, so
`rebuild_stale` (run by amx-ingest at the end of every run, and by `delete_image`) finds and repairs
whatever an interrupted run left behind.
Read-only mode (the explorer) is enforced by the backend itself: Neo4j sessions in READ access mode, the
embedded file opened read-only. Only then is free-form Cypher (`run_cypher`) accepted, on a connection of
its own, and any write to the data fails with StoreError on both backends; reading or writing files is
the caller's to refuse (explorer/console.py, the guard of the console and `amx-query`).
"""

from __future__ import annotations

import abc
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from amx_core.circuit import Circuit, ImageRecord, split_cid
from amx_core.errors import StoreError

from . import statements as st
from . import summaries
from .queries import Query, get_query

SCHEMA_DIR = Path(__file__).with_name("schema")  # one `<backend>.cypher` file per dialect
BATCH_ROWS = 10_000  # rows per batched statement: large enough to amortise, small enough for one message
WRITE_MANY_IMAGES = 8  # images per transaction in `Store.write_many` (a backend may set its own)

Statement = str | st.Batch  # a plain statement, or one with a text per dialect
Exec = Callable[[Statement, dict[str, Any]], list[dict[str, Any]]]


def plain(value: Any) -> Any:
    """Decimal (LadybugDB's integer sums) to int/float, recursively through lists and dicts."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def schema_statements(backend: str) -> list[str]:
    """The statements of `schema/<backend>.cypher`, split at `;`, `//` comment lines dropped."""
    path = SCHEMA_DIR / f"{backend}.cypher"
    text = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith("//"))
    return [s.strip() for s in text.split(";") if s.strip()]


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """`rows` in slices of at most BATCH_ROWS; nothing for no rows."""
    for i in range(0, len(rows), BATCH_ROWS):
        yield rows[i:i + BATCH_ROWS]


def channel_key(model: str, cid: str) -> str:
    """Channel catalogue id: a cid is unique only inside one model, so the model is part of the key."""
    return f"{model}|{cid}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _peak_row(node: Any, patch: bytes | None) -> dict[str, Any]:
    """The channel atlas's Act properties: where the channel peaks and the input patch there; nulls for a
    node whose peak was not recorded (grid_h = 0) and for a missing patch."""
    known = getattr(node, "grid_h", 0) > 0
    row: dict[str, Any] = {"peak": _number(node.peak) if known else None,
                           "peak_ratio": _number(node.peak_ratio) if known else None}
    for k in ("peak_row", "peak_col", "grid_h", "grid_w"):
        row[k] = int(getattr(node, k)) if known else None
    row["patch_jpeg"] = bytes(patch) if patch else None
    return row


@dataclass
class WritePlan:
    """One image's rows, ready for the batched writes: pure data, built and checked before any I/O."""

    image: dict[str, Any]
    classes: list[dict[str, Any]] = field(default_factory=list)
    circuits: list[dict[str, Any]] = field(default_factory=list)
    acts: list[dict[str, Any]] = field(default_factory=list)
    flows: list[dict[str, Any]] = field(default_factory=list)
    logits: list[dict[str, Any]] = field(default_factory=list)
    channels: list[dict[str, Any]] = field(default_factory=list)

    def row_statements(self) -> Iterator[tuple[Statement, dict[str, Any]]]:
        """The batched creates: circuits, acts, their FLOW and LOGIT edges, the channel catalogue."""
        for statement, rows in ((st.CREATE_CIRCUITS, self.circuits), (st.CREATE_ACTS, self.acts),
                                (st.CREATE_FLOWS, self.flows), (st.CREATE_LOGITS, self.logits),
                                (st.MERGE_CHANNELS, self.channels)):
            for chunk in _chunks(rows):
                yield statement, {"rows": chunk}


def merge_plans(plans: list[WritePlan]) -> WritePlan:
    """Several images' rows as one plan for `Store.write_many` (its `image` is empty): the rows in order,
    classes and channels once each, the first occurrence kept (as `MERGE ... ON CREATE` would keep it
    writing the images one by one)."""
    out = WritePlan(image={})
    classes: dict[str, dict[str, Any]] = {}
    channels: dict[str, dict[str, Any]] = {}
    for p in plans:
        out.circuits += p.circuits
        out.acts += p.acts
        out.flows += p.flows
        out.logits += p.logits
        for row in p.classes:
            classes.setdefault(row["name"], row)
        for row in p.channels:
            channels.setdefault(row["id"], row)
    out.classes = list(classes.values())
    out.channels = list(channels.values())
    return out


def _image_groups(items: Iterable[tuple[ImageRecord, Iterable[Circuit]]],
                  size: int) -> Iterator[list[tuple[ImageRecord, Iterable[Circuit]]]]:
    """`items` in groups of at most `size`, in order; an image id seen again starts a new group, so a
    group never holds one image twice."""
    group: list[tuple[ImageRecord, Iterable[Circuit]]] = []
    ids: set[str] = set()
    for image, circuits in items:
        if len(group) >= size or image.id in ids:
            yield group
            group, ids = [], set()
        group.append((image, circuits))
        ids.add(image.id)
    if group:
        yield group


def plan_write(image: ImageRecord, circuits: Iterable[Circuit]) -> WritePlan:
    """Check one image's circuits and turn them into rows; errors name the image and the fault."""
    circuits = list(circuits)
    where = f"image {image.id} ({image.path})"
    if not image.id:
        raise StoreError(f"image record for {image.path!r} has an empty id")
    kinds = [c.kind for c in circuits]
    for kind in set(kinds):
        if kinds.count(kind) > 1:
            raise StoreError(f"{where}: more than one circuit of kind {kind!r}")
    classes = {image.class_name: image.class_index}
    plan = WritePlan(image={
        "id": image.id, "path": image.path, "class": image.class_name, "class_index": int(image.class_index),
        "predicted": image.predicted, "predicted_index": int(image.predicted_index),
        "confidence": float(image.confidence), "agrees": bool(image.agrees),
        "metrics": json.dumps(image.metrics, sort_keys=True, default=str),
        "original_jpeg": bytes(image.original_jpeg), "mask_png": bytes(image.mask_png),
        "explanation_jpeg": bytes(image.explanation_jpeg), "target_rank": int(image.target_rank),
        "target_rank_e": int(image.target_rank_e), "target_confidence": _number(image.target_confidence),
        "target_confidence_e": _number(image.target_confidence_e), "criterion": image.criterion,
        "status": image.status, "recognised": image.recognised,
    })
    channels: dict[str, dict[str, Any]] = {}
    for c in circuits:
        if c.image_id != image.id:
            raise StoreError(f"{where}: circuit {c.kind!r} belongs to image {c.image_id}")
        cids = [n.cid for n in c.nodes]
        if len(set(cids)) != len(cids):
            raise StoreError(f"{where}: circuit {c.kind!r} repeats a channel")
        known = set(cids)
        pairs = set()
        for e in c.edges:
            if e.src not in known or e.dst not in known:
                raise StoreError(f"{where}: circuit {c.kind!r} edge {e.src}->{e.dst} names a channel it does not keep")
            if (e.src, e.dst) in pairs:
                raise StoreError(f"{where}: circuit {c.kind!r} repeats edge {e.src}->{e.dst}")
            pairs.add((e.src, e.dst))
        links = set()
        for link in c.logit_links:
            if link.src not in known:
                raise StoreError(f"{where}: circuit {c.kind!r} logit link from {link.src} names a channel it does not keep")
            if (link.src, link.class_name) in links:
                raise StoreError(f"{where}: circuit {c.kind!r} repeats logit link {link.src}->{link.class_name}")
            links.add((link.src, link.class_name))
            classes.setdefault(link.class_name, link.class_index)
        common = {"image_id": image.id, "class": image.class_name, "kind": c.kind, "model": c.model,
                  "recognised": image.recognised}
        plan.circuits.append({
            "id": c.id, "image_id": image.id, "class": image.class_name, "kind": c.kind, "model": c.model,
            "config": c.config_hash, "layers": list(c.layers), "mask_area": _number(c.metrics.get("mask_area")),
            "confidence": _number(c.metrics.get("confidence")), "n_nodes": len(c.nodes), "n_edges": len(c.edges),
            "metrics": json.dumps(c.metrics, sort_keys=True, default=str), "recognised": image.recognised,
        })
        for n in c.nodes:
            plan.acts.append({**common, "id": c.act_id(n.cid), "circuit_id": c.id, "cid": n.cid, "layer": n.layer,
                              "channel": int(n.channel), "activation": float(n.activation), "rank": int(n.rank),
                              **_peak_row(n, c.patches.get(n.cid))})
            layer, channel = split_cid(n.cid)
            channels[channel_key(c.model, n.cid)] = {"id": channel_key(c.model, n.cid), "cid": n.cid,
                                                     "model": c.model, "layer": layer, "channel": channel}
        plan.flows.extend({"src": c.act_id(e.src), "dst": c.act_id(e.dst), "weight": float(e.weight)}
                          for e in c.edges)
        plan.logits.extend({"src": c.act_id(x.src), "class": x.class_name, "weight": float(x.weight)}
                           for x in c.logit_links)
    plan.classes = [{"name": k, "class_index": int(v)} for k, v in classes.items()]
    plan.channels = list(channels.values())
    return plan


class Store(abc.ABC):
    """What ingest and the explorer use; a backend supplies `_transaction` and `close`."""

    backend: str  # "neo4j" | "ladybug": also the name of its schema file
    read_only: bool
    write_many_images = WRITE_MANY_IMAGES  # `write_many`'s default images per transaction

    def __init__(self, *, read_only: bool) -> None:
        self.read_only = read_only

    # -- backend primitives -------------------------------------------------------------------
    @abc.abstractmethod
    def _transaction(self, work: Callable[[Exec], Any], *, write: bool, what: str) -> Any:
        """Run `work(execute)` in one transaction; commit on return, roll back on error.

        `execute` takes a plain statement or a `Batch` (sending the backend's own text). Backend errors
        become StoreError naming `what` was being done."""

    @abc.abstractmethod
    def close(self) -> None:
        ...

    # -- the interface -------------------------------------------------------------------------
    def _check_writable(self, action: str) -> None:
        if self.read_only:
            raise StoreError(f"{self} is open read-only; {action} refused")

    def ensure_schema(self) -> None:
        """Constraints and indexes (Neo4j) or typed tables (LadybugDB); safe to repeat."""
        self._check_writable("schema change")
        for text in schema_statements(self.backend):
            self._transaction(lambda ex, t=text: ex(t, {}), write=True, what="schema set-up")

    def write_circuits(self, image: ImageRecord, circuits: Iterable[Circuit]) -> str | None:
        """Replace the image and all its circuits whole, in one transaction; returns the class it was
        stored under before (None when new). The same transaction marks the class summaries it touches
        (the image's class, and the one it leaves) stale; `rebuild_stale` brings them back."""
        self._check_writable(f"writing image {image.id}")
        return self._write_group([(image, circuits)])[0]

    def has_circuit(self, image_id: str, model: str, config_hash: str) -> bool:
        """True when the image's circuits for this model and config are stored."""
        return self.stored_image(image_id, model, config_hash)[1]

    def stored_image(self, image_id: str, model: str, config_hash: str) -> tuple[str | None, bool]:
        """(the class the image is stored under or None, whether its circuits for this model and config
        are stored): ingest skips an image only when both match."""
        rows = self._read(st.IMAGE_STATE, {"image_id": image_id, "model": model, "config": config_hash})
        if not rows or rows[0]["class"] is None:
            return None, False
        return rows[0]["class"], rows[0]["n"] > 0

    def get_image(self, image_id: str) -> ImageRecord | None:
        rows = self._read(st.GET_IMAGE, {"image_id": image_id})
        if not rows:
            return None
        r = rows[0]
        return ImageRecord(
            id=r["id"], path=r["path"], class_name=r["class_name"], class_index=r["class_index"],
            predicted=r["predicted"], predicted_index=r["predicted_index"], confidence=r["confidence"],
            metrics=json.loads(r["metrics"] or "{}"), original_jpeg=r["original_jpeg"] or b"",
            mask_png=r["mask_png"] or b"", explanation_jpeg=r["explanation_jpeg"] or b"",
            # a store written before images had a status: the class counted as the top-1, kept
            target_rank=r["target_rank"] or 1, target_rank_e=r["target_rank_e"] or 1,
            target_confidence=r["target_confidence"], target_confidence_e=r["target_confidence_e"],
            criterion=r["criterion"] or "top1", status=r["status"] or "kept",
        )

    def delete_image(self, image_id: str) -> bool:
        """Remove the image, its circuits, acts and their edges, then rebuild the class summaries that are
        stale (its class's among them); False when it was not stored."""
        self._check_writable(f"deleting image {image_id}")
        key = {"image_id": image_id}

        def work(ex: Exec) -> bool:
            rows = ex(st.IMAGE_CLASS, key)
            if rows:
                ex(st.MARK_STALE, {"classes": [rows[0]["class"]]})
            for text in (st.DELETE_IMAGE_ACTS, st.DELETE_IMAGE_CIRCUITS, st.DELETE_IMAGE):
                ex(text, key)
            return bool(rows)

        found = self._transaction(work, write=True, what=f"deleting image {image_id}")
        self.rebuild_stale()
        return found

    def run(self, query_name: str, **params: Any) -> list[dict[str, Any]]:
        """Run a named query from `cypher/queries/`; rows are dicts of plain Python values."""
        return self.run_query(get_query(query_name), **params)

    def run_query(self, query: Query, **params: Any) -> list[dict[str, Any]]:
        """Run a parsed query (a named one, or a scanning form from `cypher.queries.scan_query`)."""
        return self._read(query.text, query.bind(params), what=f"query {query.name!r}")

    def run_cypher(self, text: str, *, max_rows: int | None = None, timeout_s: float | None = None,
                   **params: Any) -> list[dict[str, Any]]:
        """Free-form Cypher (the console and `amx-query --cypher`, after explorer/console.py's guard);
        accepted only on a store opened read-only. It runs on its own connection, never the one the
        named queries share: on Neo4j a session in READ access mode (the server refuses writes), on the
        embedded store a child process that opens the file read-only (a statement that crashes the engine
        ends only that child). At most `max_rows + 1` rows come back (one more than the cap tells the
        caller the answer was cut); after `timeout_s` seconds the statement is stopped with StoreError.
        Refusing file access (COPY, LOAD FROM, LOAD CSV) and settings is the guard's job."""
        if not self.read_only:
            raise StoreError("free-form Cypher runs only on a store opened read-only "
                             "(open_store(..., read_only=True)), so that it cannot change the data")
        if max_rows is not None and max_rows < 0:
            raise StoreError(f"max_rows must be >= 0, got {max_rows}")
        return self._run_free(text, params, max_rows=max_rows, timeout_s=timeout_s)

    @abc.abstractmethod
    def _run_free(self, text: str, params: dict[str, Any], *, max_rows: int | None,
                  timeout_s: float | None) -> list[dict[str, Any]]:
        """`run_cypher` on the backend's own isolated connection (see there)."""

    def rebuild_aggregates(self, class_name: str) -> int:
        """Recompute the class's summaries (cypher.summaries) from its circuits and clear its stale mark, in
        one transaction; returns the number of edge summaries (0 for a class that has no images left)."""
        self._check_writable(f"rebuilding aggregates of class {class_name!r}")

        def work(ex: Exec) -> int:
            # the mark first: holds its lock while the summaries are rewritten
            ex(st.MARK_BUILT, {"cls": class_name, "version": summaries.SUMMARY_VERSION})
            return summaries.rebuild(ex, class_name, channel_key, _chunks)

        return self._transaction(work, write=True, what=f"rebuilding aggregates of class {class_name!r}")

    def stale_classes(self) -> list[str]:
        """Classes whose summary may not match their circuits: marked stale by a write or delete that no
        rebuild has followed yet (a run interrupted in between), or never recorded (a store written
        before the marks existed)."""
        version = {"version": summaries.SUMMARY_VERSION}
        found = {r["class"] for text, params in ((st.STALE_CLASSES, version), (st.UNRECORDED_CLASSES, {}))
                 for r in self._read(text, params, what="finding stale class summaries")}
        return sorted(c for c in found if c is not None)

    def rebuild_stale(self) -> list[str]:
        """Rebuild every stale class summary (see `stale_classes`); returns the classes rebuilt."""
        self._check_writable("rebuilding class summaries")
        classes = self.stale_classes()
        for cls in classes:
            self.rebuild_aggregates(cls)
        return classes

    def stats(self) -> dict[str, int]:
        return self.run("store_stats")[0]

    def _read(self, text: str, params: dict[str, Any], what: str = "look-up") -> list[dict[str, Any]]:
        return self._transaction(lambda ex: ex(text, params), write=False, what=what)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- many images at once ---------------------------------------------------------------------
    def write_many(self, items: Iterable[tuple[ImageRecord, Iterable[Circuit]]], *,
                   images_per_transaction: int | None = None, writers: int = 1) -> list[str | None]:
        """`write_circuits` for many images, with fewer round trips: the images go in groups of up to
        `images_per_transaction` (default: the backend's `write_many_images`), each group in one transaction whose batched statements carry the rows
        of all its images (the same deletes, creates and stale marks as `write_circuits`, so the store
        ends exactly as after writing the images one by one, in order). Returns, per item in order, the
        class the image was stored under before (None when new).

        Each image is still whole or absent: a group commits or rolls back as one. A bad circuit is
        refused (StoreError) before its group's transaction starts; an error leaves the groups committed
        before it in place and nothing of its own group. `writers` > 1 writes groups in parallel
        transactions from as many threads (Neo4j: one session each; the embedded store admits one
        writer, so there they queue on its connection). An image that appears again waits for the
        group holding its earlier version to commit, so the later one wins as it would one by one."""
        self._check_writable("writing images")
        if images_per_transaction is None:
            images_per_transaction = self.write_many_images
        if images_per_transaction < 1 or writers < 1:
            raise StoreError(f"write_many needs images_per_transaction >= 1 and writers >= 1, "
                             f"got {images_per_transaction} and {writers}")
        groups = _image_groups(items, images_per_transaction)
        if writers == 1:
            return [before for group in groups for before in self._write_group(group)]
        return self._write_groups_parallel(groups, writers)

    def _write_group(self, group: list[tuple[ImageRecord, Iterable[Circuit]]]) -> list[str | None]:
        """One transaction for a group of distinct images (see `write_many`; `write_circuits` is a group
        of one): mark the classes touched stale, delete the images' old circuits, create the new ones."""
        plans = [plan_write(image, circuits) for image, circuits in group]
        ids = [p.image["id"] for p in plans]
        key = {"image_ids": ids}
        rows = merge_plans(plans)

        def work(ex: Exec) -> list[str | None]:
            before = {r["id"]: r["class"] for r in ex(st.IMAGES_CLASS, key)}
            ex(st.MARK_STALE, {"classes": sorted(({p.image["class"] for p in plans} | set(before.values())) - {None})})
            for text in (st.DELETE_IMAGES_ACTS, st.DELETE_IMAGES_CIRCUITS, st.DELETE_IMAGES):
                ex(text, key)
            ex(st.MERGE_CLASSES, {"rows": rows.classes})
            for p in plans:
                ex(st.CREATE_IMAGE, p.image)
            for statement, params in rows.row_statements():
                ex(statement, params)
            return [before.get(i) for i in ids]

        what = (f"writing image {ids[0]} ({group[0][0].path})" if len(ids) == 1 else
                f"writing images {ids[0]} .. {ids[-1]} ({len(ids)} in one transaction)")
        return self._transaction(work, write=True, what=what)

    def _write_groups_parallel(self, groups: Iterator[list[tuple[ImageRecord, Iterable[Circuit]]]],
                               writers: int) -> list[str | None]:
        from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

        results: list[Future] = []
        pending: dict[Future, set[str]] = {}  # in flight -> its image ids
        with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="amx-writer") as pool:
            try:
                for group in groups:
                    ids = {image.id for image, _ in group}
                    # at most 2 groups queued per writer (memory), and none that rewrites an image in flight
                    while pending and (len(pending) >= 2 * writers or any(ids & held for held in pending.values())):
                        done, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for f in done:
                            del pending[f]
                            f.result()  # an error stops the submitting
                    future = pool.submit(self._write_group, group)
                    pending[future] = ids
                    results.append(future)
            finally:
                wait(pending)
        return [before for f in results for before in f.result()]
