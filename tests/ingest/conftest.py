from tests.store.conftest import backend, neo4j_url, store_url  # noqa: F401  (same two backends)
