"""The graph layer: schema per dialect, the named query library and the store with its two backends.

    from cypher import open_store, list_queries
    with open_store() as store:          # AMX_STORE or ~/.local/share/amx/store.lbug
        store.ensure_schema()
        store.write_circuits(image, circuits)
        rows = store.run("shared_edges", cls="goldfinch", min_fraction=0.6)
"""

from .queries import list_queries
from .store import Store, default_store_url, open_store

__all__ = ["Store", "default_store_url", "list_queries", "open_store"]
