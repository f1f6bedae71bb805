"""Store fixtures: every backend test runs on embedded LadybugDB and on a real Neo4j 5.26.

Neo4j comes from `AMX_NEO4J_URI` (password in `NEO4J_PASSWORD`; e.g. scripts/neo4j_local.py), else
from testcontainers `Neo4jContainer("neo4j:5.26-community")` when a Docker engine answers, else the
Neo4j tests skip, or fail when `AMX_REQUIRE_NEO4J=1` (CI). The server's database is wiped before each
use: point `AMX_NEO4J_URI` only at a throwaway server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from cypher import Store, open_store
from cypher.backends.neo4j import split_credentials


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def neo4j_url() -> Iterator[str]:
    """A bolt:// URL (credentials from the environment or inside the URL) of a real Neo4j server."""
    if os.environ.get("AMX_NEO4J_URI"):
        yield os.environ["AMX_NEO4J_URI"]
        return
    if _docker_answers():
        from testcontainers.neo4j import Neo4jContainer

        with Neo4jContainer("neo4j:5.26-community") as container:
            url = container.get_connection_url()
            scheme, rest = url.split("://", 1)
            yield f"{scheme}://{container.username}:{container.password}@{rest}"
        return
    reason = "no Neo4j: set AMX_NEO4J_URI (scripts/neo4j_local.py start) or run a Docker engine"
    if os.environ.get("AMX_REQUIRE_NEO4J") == "1":
        pytest.fail(f"AMX_REQUIRE_NEO4J=1 but {reason}")
    pytest.skip(reason)


def wipe_neo4j(url: str) -> None:
    """Empty the server's database (data only; the schema stays), in batches so a big leftover fits."""
    import neo4j

    uri, user, password = split_credentials(url)
    with (neo4j.GraphDatabase.driver(uri, auth=(user, password)) as driver,
          driver.session(database=os.environ.get("NEO4J_DATABASE") or None) as session):
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS").consume()


BACKENDS = ["ladybug", pytest.param("neo4j", marks=pytest.mark.neo4j)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store_url(backend: str, request: pytest.FixtureRequest, tmp_path) -> str:
    """Address of an empty store with its schema in place."""
    return empty_store(backend, request, tmp_path)


def empty_store(backend: str, request: pytest.FixtureRequest, folder) -> str:
    """A wiped Neo4j or a new embedded file under `folder`, with the schema in place."""
    if backend == "neo4j":
        url = request.getfixturevalue("neo4j_url")
        wipe_neo4j(url)
    else:
        url = f"ladybug://{folder / 'store.lbug'}"
    with open_store(url) as s:
        s.ensure_schema()
    return url


@pytest.fixture
def open_(store_url: str) -> Iterator[Callable[..., Store]]:
    """open_(read_only=False) -> Store on the test's empty store; all are closed at teardown."""
    opened: list[Store] = []

    def _open(read_only: bool = False) -> Store:
        s = open_store(store_url, read_only=read_only)
        opened.append(s)
        return s

    yield _open
    for s in opened:
        s.close()
