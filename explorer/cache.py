"""Streamlit caching around the store: one read-only connection per address, query results by value.

`st.cache_resource` keeps the store open across reruns and sessions (an exception is not cached, so an
unreachable Neo4j is tried again on the next rerun); `st.cache_data` keeps named-query results, pictures
and image graphs for `TTL` seconds, keyed on (address, query, parameters). The sidebar's Refresh clears them.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import streamlit as st

from amx_core.circuit import ImageRecord
from cypher import Store, list_queries, open_store

from . import data
from .views import graphs

TTL = 300  # seconds; data ingested meanwhile shows after this or after Refresh
_LOG = logging.getLogger(__name__)


@st.cache_resource(show_spinner=False)
def get_store(url: str) -> Store:
    return open_store(url, read_only=True)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=2000)
def run_query(url: str, name: str, params: tuple[tuple[str, Any], ...] = ()) -> list[dict[str, Any]]:
    return get_store(url).run(name, **dict(params))


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=2000)
def get_image(url: str, image_id: str) -> ImageRecord | None:
    return get_store(url).get_image(image_id)


@st.cache_data(show_spinner=False)
def queries() -> list[dict[str, Any]]:
    return list_queries()


def runner(url: str):
    """A `run(name, **params)` bound to the cached query function (what explorer/data.py expects)."""

    def run(name: str, **params: Any) -> list[dict[str, Any]]:
        return run_query(url, name, tuple(sorted(params.items())))

    return run


def clear() -> None:
    run_query.clear()
    get_image.clear()
    image_graphs.clear()


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=200)
def image_graphs(url: str, image_id: str, assets: str | None = None) -> dict[str, Any]:
    """Both circuits of an image as vis-network pages on one layout (views.graphs.circuit_pages)."""
    return graphs.circuit_pages(data.image_circuits(runner(url), image_id), assets)


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
