"""The graph layer: schema per dialect, the named query library and the store with its two backends.

    from cypher import open_store, list_queries
    with open_store() as store:          # AMX_STORE or ~/.local/share/amx/store.lbug
        store.ensure_schema()
        store.write_circuits(image, circuits)
        rows = store.run("shared_edges", cls="goldfinch", min_fraction=0.6)

`open_store(url)` picks the backend from the address:

- `bolt://host:7687` or `neo4j://...` (and their `+s`/`+ssc` forms): a Neo4j server, through the
  official driver. User and password come from the URL or from `NEO4J_USER` (default `neo4j`) and
  `NEO4J_PASSWORD`; the database from `NEO4J_DATABASE` (default: the server's default).
- `ladybug://PATH` or a plain path: an embedded LadybugDB database file.
- nothing: the `AMX_STORE` environment variable if set, else the default embedded store
  `$XDG_DATA_HOME/amx/store.lbug` (`~/.local/share/amx/store.lbug`). Ingest and explorer both use it.

The backend module is imported only when a store of its kind is opened, so `import cypher` loads
neither database driver. Nothing here imports torch.
"""

from __future__ import annotations

import os
from pathlib import Path

from amx_core.errors import StoreError

from .base import Store
from .queries import get_query, list_queries

NEO4J_SCHEMES = ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")
LADYBUG_SCHEME = "ladybug://"

__all__ = ["Store", "default_store_url", "get_query", "list_queries", "open_store"]


def default_store_url() -> str:
    """`AMX_STORE`, else `$XDG_DATA_HOME/amx/store.lbug` (`~/.local/share/amx/store.lbug`)."""
    if os.environ.get("AMX_STORE"):
        return os.environ["AMX_STORE"]
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return str(base / "amx" / "store.lbug")


def open_store(url: str | os.PathLike | None = None, *, read_only: bool = False) -> Store:
    """Open the store at `url` (see the module doc); raises StoreError quickly when it cannot.

    The embedded file takes one writer process at a time; a read-only opener waits for none but cannot
    open while a writer holds it (LadybugDB's file lock)."""
    text = str(url) if url is not None else default_store_url()
    if text.startswith(NEO4J_SCHEMES):
        from .backends.neo4j import Neo4jStore

        return Neo4jStore.connect(text, read_only=read_only)
    if text.startswith(LADYBUG_SCHEME):
        text = text[len(LADYBUG_SCHEME):]
    elif "://" in text:
        raise StoreError(f"unknown store address scheme in {text.split('://')[0]}://...; "
                         "use bolt://, neo4j://, ladybug://PATH or a file path")
    from .backends.ladybug import LadybugStore

    return LadybugStore.open(Path(text).expanduser(), read_only=read_only)
