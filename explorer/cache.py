"""Streamlit caching around the store: one read-only connection per address at a time, query results by value.

What a reader sees, measured: `amx-ingest` can write an embedded store while the explorer holds it open
read-only (LadybugDB admits any number of read-only openers beside one writer; only a second writer is
refused by the file lock), but a read-only connection keeps reading the snapshot it opened: rows written
later show only on a connection opened after them. Neo4j answers every query from the latest committed data.

So the connection is not kept forever: `get_store` reopens it when it is older than `STORE_TTL` seconds,
and `refresh` (the sidebar's Refresh button) reopens it at once. Every opening is a new *generation*;
`st.cache_data` keys named-query results, pictures and image graphs on (address, generation, query,
parameters), so a new generation never answers from an older one's results. Within one generation results
are kept by value (at most `TTL` seconds, which only bounds memory). Data ingested meanwhile therefore shows
within `STORE_TTL` seconds, or at once after Refresh, on both backends. A connection that is replaced is
closed `RETIRE_S` seconds later (a query still running on it finishes first); an unreachable store is not
cached, so the next rerun tries again.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import streamlit as st

from amx_core.circuit import ImageRecord
from cypher import Store, list_queries, open_store

from . import data
from .views import graphs

STORE_TTL = 30.0  # seconds: a connection older than this is reopened on the next page run (new data show)
RETIRE_S = 120.0  # seconds a replaced connection stays open for the queries that still hold it
TTL = 300  # seconds a cached result may live within one generation (memory bound only)
clock = time.monotonic  # what STORE_TTL and RETIRE_S are measured with (tests move it)
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Opened:
    """One read-only connection to one address: `generation` is unique per opening in this process."""

    store: Store
    generation: int
    opened_at: float


_lock = threading.Lock()
_open: dict[str, Opened] = {}
_retired: list[tuple[Store, float]] = []  # (store, when it was replaced)
_generations = itertools.count(1)


def current(url: str) -> Opened:
    """The connection to `url` to use now: the held one while it is younger than STORE_TTL, else a new
    one (StoreError, and nothing held, when the store cannot be opened)."""
    with _lock:
        held = _open.get(url)
        if held is not None and clock() - held.opened_at < STORE_TTL:
            return held
    store = open_store(url, read_only=True)  # outside the lock: a slow server does not stall other sessions
    with _lock:
        held = _open.get(url)
        if held is not None and clock() - held.opened_at < STORE_TTL:  # another session was quicker
            _retired.append((store, clock()))
        else:
            if held is not None:
                _retired.append((held.store, clock()))
            held = _open[url] = Opened(store, next(_generations), clock())
        due = [s for s, at in _retired if clock() - at >= RETIRE_S]
        _retired[:] = [(s, at) for s, at in _retired if clock() - at < RETIRE_S]
    for s in due:
        _close(s)
    return held


def get_store(url: str) -> Store:
    """The read-only store at `url` as of now (see `current`)."""
    return current(url).store


def refresh(url: str | None = None) -> None:
    """Read the store again: the next call opens a new connection (all addresses when `url` is None), so
    data committed since show at once; cached results of older generations are dropped."""
    with _lock:
        for u in [url] if url is not None else list(_open):
            held = _open.pop(u, None)
            if held is not None:
                _retired.append((held.store, clock()))
    _run_query.clear()
    _get_image.clear()
    _image_graphs.clear()


clear = refresh  # the name the tests used before generations existed


def close_all() -> None:
    """Close every connection, held and replaced (tests; a server process just ends)."""
    with _lock:
        stores = [o.store for o in _open.values()] + [s for s, _ in _retired]
        _open.clear()
        _retired.clear()
    for s in stores:
        _close(s)
    refresh()


def _close(store: Store) -> None:
    try:
        store.close()
    except Exception:  # closing is tidying up; a failure there must not break a page
        _LOG.warning("closing a replaced store connection failed", exc_info=True)


def run_query(url: str, name: str, params: tuple[tuple[str, Any], ...] = ()) -> list[dict[str, Any]]:
    opened = current(url)
    return _run_query(url, opened.generation, name, params, opened.store)


def get_image(url: str, image_id: str) -> ImageRecord | None:
    opened = current(url)
    return _get_image(url, opened.generation, image_id, opened.store)


def image_graphs(url: str, image_id: str, assets: str | None = None) -> dict[str, Any]:
    """Both circuits of an image as vis-network pages on one layout (views.graphs.circuit_pages)."""
    return _image_graphs(url, current(url).generation, image_id, assets)


# `_store` (leading underscore) is not part of Streamlit's cache key: (url, generation) names it.
@st.cache_data(ttl=TTL, show_spinner=False, max_entries=2000)
def _run_query(url: str, generation: int, name: str, params: tuple[tuple[str, Any], ...],
               _store: Store) -> list[dict[str, Any]]:
    return _store.run(name, **dict(params))


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=2000)
def _get_image(url: str, generation: int, image_id: str, _store: Store) -> ImageRecord | None:
    return _store.get_image(image_id)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=200)
def _image_graphs(url: str, generation: int, image_id: str, assets: str | None) -> dict[str, Any]:
    return graphs.circuit_pages(data.image_circuits(runner(url), image_id), assets)


@st.cache_data(show_spinner=False)
def queries() -> list[dict[str, Any]]:
    return list_queries()


def runner(url: str):
    """A `run(name, **params)` bound to the cached query function (what explorer/data.py expects)."""

    def run(name: str, **params: Any) -> list[dict[str, Any]]:
        return run_query(url, name, tuple(sorted(params.items())))

    return run


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Once per server process, in the background: load what the pages draw with (pyvis and its page
    template, altair and its schema, pandas, networkx), so the first visit to a page does not wait for it."""
    thread = threading.Thread(target=_warm, name="amx-explorer-warm-up", daemon=True)
    thread.start()
    return thread


def _warm() -> None:
    try:
        graphs.graph_html(graphs.GraphSpec([{"id": "l#0", "label": "0", "x": 0, "y": 0}], []), assets="/")
        import altair as alt
        import networkx  # noqa: F401  (GraphML export)
        import pandas  # noqa: F401  (st.dataframe)

        alt.Chart(alt.Data(values=[{"a": 1.0}])).mark_bar().encode(x="a:Q").to_dict()  # loads the schema
    except Exception:  # only a head start: the pages import what they need anyway
        _LOG.warning("explorer warm-up failed", exc_info=True)
